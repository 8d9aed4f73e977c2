"""
test_overload.py - a real basaltd under basalt-stress's open loop at ten
times the rate it sustains (issue 19, "Overload").

1. closed loop (32 in flight) for a fixed count: the sustainable rate R;
2. open loop at 10 R for 2 R*10 operations (two seconds of the target) with 1,024 operations in flight
   and 4 KiB values, while /proc/PID/status is sampled: the node stays up
   and its peak VmRSS stays under the budget this test configures
   (native_transport_max_request_data_in_flight 8MiB; RSS budget 1 GiB:
   64 MiB memtable + 64 MiB block cache + the in-flight budget + the
   per-connection queues, with a wide margin); clients get answers,
   Overloaded or timeouts, never a dead node;
3. after the load drops, an open loop for 10 s at a rate the storage
   sustains: 0.9 x the ok rate the node kept through the overload, or,
   with OVERLOAD_BASELINE_N >= 100,000 (a sustained baseline), that
   baseline rate itself; its ok op/s per second and the first second at
   >= 90 % of the target are printed;
4. then a closed-loop run of 10 s (the same shape as
   the baseline) completes every operation without an error; its
   per-second throughput is printed against two references, with the
   second in which it first reached 90 % of each: the baseline (a burst
   into an empty memtable, never flushed: not sustainable) and the rate
   the node kept up during the overload (the storage-bound rate, flushes
   and compactions included).  The issue asks for full throughput within
   10 s; no time is asserted: the figures go to docs/BENCHMARKS.md.
"""
import json
import os
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.request

import harness
from harness import Node

STRESS = os.environ.get("BASALT_STRESS", "")
RSS_BUDGET_KIB = 1024 * 1024
# The baseline's size: 20,000 writes (80 MB) fit in the memtables, a burst
# rate; OVERLOAD_BASELINE_N=200000 (800 MB: flushes and compactions
# included) measures the sustained rate instead (docs/BENCHMARKS.md).
BASELINE_N = int(os.environ.get("OVERLOAD_BASELINE_N", "20000"))
# OVERLOAD_SUSTAINED_S=60 replaces the baseline by a closed loop of that
# many seconds, long enough for flushes and compactions to reach a steady
# state: its ok rate (the node sheds with Overloaded whenever L0 runs
# ahead of compaction) is the rate the node sustains, the 10x target and
# the rate of the open loop after the overload (docs/BENCHMARKS.md)
SUSTAINED_S = int(os.environ.get("OVERLOAD_SUSTAINED_S", "0"))


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class OverloadTest(unittest.TestCase):
    def setUp(self):
        self.assertTrue(STRESS and os.access(STRESS, os.X_OK),
                        "BASALT_STRESS must name basalt-stress (CMake sets it)")
        self.node = Node(extra={"native-transport-max-request-data-in-flight": "8MiB"}).start()
        self.tmp = tempfile.mkdtemp(prefix="basalt-overload-")

    def tearDown(self):
        # after ~3 GB of writes the SIGTERM drain flushes two memtables
        # while compaction is behind: on a loaded machine that took more
        # than the harness's default 30 s, so this stop waits longer (its
        # duration is printed, not asserted)
        t0 = time.monotonic()
        try:
            if self.node.alive():
                rc = self.node.stop(timeout=180)
                print("SIGTERM to exit: %.1f s, status %r" % (time.monotonic() - t0, rc))
        finally:
            self.node.cleanup()
        subprocess.call(["rm", "-rf", self.tmp])

    def stress(self, name, *args, timeout=240, interval=60):
        out = os.path.join(self.tmp, name + ".json")
        argv = [STRESS, "write"] + list(args) + [
            "-node", self.node.host, "-port", str(self.node.port), "-json", out,
            "-log", "interval=%d" % interval]
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=timeout)
        text = p.stdout.decode(errors="replace")
        self.assertTrue(os.path.exists(out), "basalt-stress %s wrote no report:\n%s" % (name, text))
        with open(out) as f:
            r = json.load(f)
        print("%s: ops %d ok %d rate %.0f/s errors %s" % (name, r["ops"], r["ok"],
                                                          r["op_rate"], r["errors"]))
        # the periodic lines: time_s ops op/s p50 p90 p99 p99.9 max errors
        r["per_interval"] = []
        for line in text.splitlines():
            f = line.split()
            if len(f) == 9 and f[0].replace(".", "", 1).isdigit():
                r["per_interval"].append((float(f[0]), float(f[2])))
        return r

    def metric(self, name):
        req = urllib.request.Request("http://%s:%d/metrics" % (
            self.node.host, self.node.admin_port), headers=self.node.admin_headers())
        body = urllib.request.urlopen(req, timeout=10).read().decode()
        for line in body.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        self.fail("no %s in /metrics" % name)

    def test_open_loop_at_ten_times_the_sustainable_rate(self):
        pid = self.node.proc.pid
        if SUSTAINED_S:
            base = self.stress("baseline", "duration=%ds" % SUSTAINED_S, "-rate", "threads=32",
                               "-col", "size=4096", "-connections", "4",
                               timeout=SUSTAINED_S + 240, interval=10)
            self.assertEqual(set(base["errors"]) - {"overloaded"}, set(), base)
            base["op_rate"] = base["ok"] / max(base["elapsed_s"], 1e-3)
            print("sustained: %d ok in %.1f s = %.0f/s (the baseline)"
                  % (base["ok"], base["elapsed_s"], base["op_rate"]))
        else:
            base = self.stress("baseline", "n=%d" % BASELINE_N, "-rate", "threads=32",
                               "-col", "size=4096", "-connections", "4")
            self.assertEqual(base["ok"], BASELINE_N, base)
        target = max(1000, int(base["op_rate"] * 10))
        peak = [rss_kib(pid)]
        stop = threading.Event()

        def sample():
            while not stop.wait(0.1):
                if self.node.proc.poll() is not None:
                    return
                peak[0] = max(peak[0], rss_kib(pid))
        t = threading.Thread(target=sample)
        t.start()
        try:
            over = self.stress("overload", "n=%d" % (target * 2), "-rate", "fixed=%d/s" % target,
                               "-rate", "threads=1024", "-col", "size=4096",
                               "-connections", "8")
        finally:
            stop.set()
            t.join()
        print("target %d/s, peak VmRSS %d KiB (budget %d KiB)" % (target, peak[0],
                                                                 RSS_BUDGET_KIB))
        self.assertTrue(self.node.alive(), "the node died under overload")
        self.assertLess(peak[0], RSS_BUDGET_KIB)
        self.assertGreater(over["ops"], 0)
        over_ok = over["ok"] / max(over["elapsed_s"], 1e-3)
        # the load drops to what the storage may sustain (90 % of the rate
        # the node kept through the overload, flushes and compactions
        # included), as an open loop: how soon is all of it served?
        # Printed, not asserted (that rate depends on how much compaction
        # debt the overload left; above the sustained rate the node sheds)
        # With a sustained baseline (OVERLOAD_BASELINE_N of 100,000 or more:
        # flushes and compactions included) the target is that rate itself:
        # "full throughput" in the words.
        if SUSTAINED_S:
            steady, what = max(1000, int(base["op_rate"])), "1.0 x the sustained rate"
        elif BASELINE_N >= 100000:
            steady, what = max(1000, int(base["op_rate"])), "1.0 x the baseline"
        else:
            steady, what = max(1000, int(0.9 * over_ok)), "0.9 x the rate kept"
        calm = self.stress("after_sustainable", "n=%d" % (steady * 10), "-rate",
                           "fixed=%d/s" % steady, "-rate", "threads=64", "-col", "size=4096",
                           "-connections", "4", interval=1)
        cper = calm["per_interval"]
        first = next((t for t, rate in cper if rate >= 0.9 * steady), None)
        print("after the overload, an open loop at %d/s (%s): ok op/s per "
              "second: %s; first second at >= 90%%: %s; errors %s" % (
                  steady, what, " ".join("%.0f" % rate for _, rate in cper),
                  "%.0f s" % first if first is not None else "none within 10 s",
                  calm["errors"]))
        # the shedding ends once compaction has worked off the L0 files:
        # waited for (how long depends on the machine: on a CI box busy
        # with other tests it took longer than the 10 s run below, which
        # then got Overloaded only); a node that never recovers fails here
        t0 = time.time()
        while self.metric("basalt_storage_write_shedding") and time.time() - t0 < 240:
            time.sleep(0.5)
        self.assertEqual(self.metric("basalt_storage_write_shedding"), 0,
                         "the node still sheds writes 240 s after the load dropped")
        print("writes shed until %.1f s after the open loop ended" % (time.time() - t0))
        # then as fast as it answers (a second overload of the storage)
        after = self.stress("after", "duration=10s", "-rate", "threads=32", "-col",
                            "size=4096", "-connections", "4", interval=1)
        # once L0 grows again the node sheds client writes with
        # Overloaded (storage/store_bg.c, write admission): the only error
        # allowed; it started from a node accepting writes
        self.assertGreater(after["ok"], 0, after)
        self.assertEqual(set(after["errors"]) - {"overloaded"}, set(), after)
        self.assertGreater(self.metric("basalt_storage_write_shed_episodes_total"), 0,
                           "10x overload never made the node shed writes")
        per = after["per_interval"]
        self.assertGreater(len(per), 0, "no per-second lines from basalt-stress")
        print("after the overload, op/s per second: %s" % (
            " ".join("%.0f" % rate for _, rate in per)))
        for name, ref in (("the baseline", base["op_rate"]),
                          ("the rate kept during the overload", over_ok)):
            first = next((t for t, rate in per if rate >= 0.9 * ref), None)
            print("against %s (%.0f/s): first second at >= 90%%: %s; whole run %.2fx" % (
                name, ref, "%.0f s" % first if first is not None else "none within 10 s",
                after["op_rate"] / ref))


if __name__ == "__main__":
    harness.main()
