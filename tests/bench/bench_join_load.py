"""
bench_join_load.py - a node joining a loaded 3-node cluster (issue 18),
run by scripts/bench-join-load; not a test (no timing is asserted).

  1. Three basaltd on 127.0.N.1-3 (N from our pid), 16 tokens each
     (allocated for RF 3), data directories under -d DIR.
  2. basalt-stress writes ROWS rows of VALUE bytes at QUORUM into its
     keyspace basalt_stress (RF 3, table standard1: one row a partition),
     ROWS = gb * 1e9 / VALUE; every node flushes, then we wait until no
     node has compaction work pending.
  3. QUORUM reads of the loaded keys (uniform, closed loop, THREADS in
     flight; another key sequence in each phase: -seed) against nodes 1-3 for READ_S seconds: p99 before the join.
  4. Node 4 starts (auto_bootstrap, seed node 1); the same read load
     runs from its start until every node sees it NORMAL (basalt-stress
     is stopped with SIGINT, which ends its run with a report): p99
     during the join.  The join's duration is start -> NORMAL; the
     streamed bytes, records and streaming time come from node 4's
     /streams session once it is NORMAL.
  5. bench_bulkload loads the same number of rows of the same value size
     into a fresh RocksDB directory under DIR (WriteBatches of 1000,
     WAL off, then a waited flush): the raw floor.
  6. Prints the figures and the goals (streaming >= 0.5x raw, p99 during
     <= 3x before).  Exit status 1 only on a real failure (a node died, a
     stress run failed or had errors, the join failed), never on a goal.

Nodes and basalt-stress processes are killed and their directories
removed at exit, on failure and on SIGINT/SIGTERM (tests/integration/
harness.py: atexit, signal handlers, PR_SET_PDEATHSIG).
"""
import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import harness  # noqa: E402

KS = "basalt_stress"
_STRESS = []        # running basalt-stress processes (killed at exit)


def log(msg):
    print("[%s] %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


def http(n, method, path, timeout=600):
    req = urllib.request.Request("http://%s:%d%s" % (n.host, n.admin_port, path),
                                 headers=n.admin_headers(), method=method,
                                 data=b"" if method == "POST" else None)
    with urllib.request.urlopen(req, timeout=timeout) as r:
        body = r.read().decode()
    return json.loads(body) if path != "/metrics" else body


def normal_count(n):
    return sum(1 for x in http(n, "GET", "/status")["nodes"]
               if x["status"] + x["state"] == "UN")


def check_alive(nodes):
    for n in nodes:
        if not n.alive():
            raise SystemExit("FAILED: basaltd %s died:\n%s" % (n.host, n.log_tail(30)))


def metric(n, name):
    text = http(n, "GET", "/metrics")
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and (line[len(name)] in " {"):
            total += float(line.rsplit(None, 1)[1])
    return total


class Stress(object):
    """One basalt-stress run in the background; result() waits for it and
    returns its JSON report (raises on a failed run)."""

    def __init__(self, binary, args, name, workdir):
        self.name = name
        self.json = os.path.join(workdir, name + ".json")
        self.out = os.path.join(workdir, name + ".log")
        with open(self.out, "wb") as f:
            self.proc = subprocess.Popen([binary] + args + ["-json", self.json],
                                         stdout=f, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL,
                                         preexec_fn=harness._pdeathsig)
        _STRESS.append(self.proc)

    def interrupt(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)

    def result(self, timeout=None):
        rc = self.proc.wait(timeout)
        _STRESS.remove(self.proc)
        if rc != 0 or not os.path.exists(self.json):
            with open(self.out, errors="replace") as f:
                tail = "".join(f.readlines()[-20:])
            raise SystemExit("FAILED: basalt-stress %s exited with %d:\n%s"
                             % (self.name, rc, tail))
        with open(self.json) as f:
            return json.load(f)


def _kill_stress():
    # also called from the signal handler, which may have interrupted
    # Stress.result()'s wait on the same Popen: that wait holds the Popen's
    # non-reentrant lock, so a wait here without a timeout never returns
    for p in list(_STRESS):
        if p.poll() is None:
            p.kill()
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                pass


def timeline(path):
    """The p99 (ms) of each interval line of a basalt-stress log."""
    out = []
    with open(path, errors="replace") as f:
        for line in f:
            w = line.split()
            if len(w) == 9 and re.match(r"^\d+\.\d$", w[0]):
                out.append(w[5])
    return out


def errors(doc):
    return sum(doc["errors"].values())


def fmt_errors(doc):
    e = doc["errors"]
    return "%d" % errors(doc) + (" (%s)" % ", ".join("%s %d" % kv for kv in sorted(e.items()))
                                 if e else "")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--basaltd", required=True)
    ap.add_argument("--stress", required=True, help="basalt-stress binary")
    ap.add_argument("--bulkload", required=True, help="bench_bulkload binary")
    ap.add_argument("--gb", type=float, default=2.0, help="data loaded, 1e9 bytes of values")
    ap.add_argument("--value-size", type=int, default=1024)
    ap.add_argument("-d", "--dir", default=tempfile.gettempdir(),
                    help="where the data directories go (removed at exit)")
    ap.add_argument("--read-seconds", type=float, default=20)
    ap.add_argument("--read-threads", type=int, default=16,
                    help="reads in flight (closed loop: as fast as they complete)")
    ap.add_argument("--read-rate", type=int, default=0,
                    help="reads/s: an open loop at this rate instead (latency from "
                    "intended start), at most --read-threads in flight")
    ap.add_argument("--load-threads", type=int, default=64)
    ap.add_argument("--stream-throughput", default="0",
                    help="stream_throughput_outbound of every node (default 0: "
                    "unthrottled, to measure the streaming path; the shipped default "
                    "24MiB caps a join near 25 MB/s, ranges streaming one at a time)")
    ap.add_argument("--ring-delay", default="2s")
    a = ap.parse_args()

    harness.BASALTD = os.path.abspath(a.basaltd)
    os.makedirs(a.dir, exist_ok=True)
    work = tempfile.mkdtemp(prefix="basalt-integ-%d-bench-" % os.getpid(), dir=a.dir)
    tempfile.tempdir = a.dir          # harness.Node puts its directories here
    harness._sweep_stale_dirs()       # of earlier runs that were SIGKILLed
    import atexit
    atexit.register(shutil.rmtree, work, True)
    atexit.register(_kill_stress)     # runs before harness's node cleanup

    def on_signal(signum, frame):     # harness's handler skips atexit
        _kill_stress()
        shutil.rmtree(work, True)
        for p in harness._SECRET:
            shutil.rmtree(os.path.dirname(p), True)
        harness._on_signal(signum, frame)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_signal)

    rows = int(a.gb * 1e9 / a.value_size)
    # 3 full copies, node 4's ~3/4, the raw load's copy, ~15% overhead
    need = rows * (a.value_size + 100) * 4.75 * 1.15
    st = os.statvfs(a.dir)
    if st.f_bavail * st.f_frsize < need:
        raise SystemExit("FAILED: %s has %.1f GB free, the run needs about %.1f GB"
                         % (a.dir, st.f_bavail * st.f_frsize / 1e9, need / 1e9))
    net = 100 + os.getpid() % 150
    hosts = ["127.0.%d.%d" % (net, i) for i in range(1, 5)]
    sp = harness.shared_port(hosts)
    cql = harness.shared_port(hosts)
    extra = {"storage-port": sp, "seeds": hosts[0], "cluster-name": "bench-join-load",
             "ring-delay": a.ring_delay, "num-tokens": 16,
             "allocate-tokens-for-local-replication-factor": 3}
    extra["stream-throughput-outbound"] = a.stream_throughput
    nodes = []
    for h in hosts:
        n = harness.Node(host=h, extra=dict(extra))
        n.port = cql
        nodes.append(n)
    serving = nodes[:3]
    log("machine: %d cores, load %s; nodes %s, CQL port %d, data under %s"
        % (os.cpu_count(), open("/proc/loadavg").read().split()[:3], ", ".join(hosts),
           cql, a.dir))

    for n in serving:
        n.start()
        harness.wait_for(lambda: normal_count(nodes[0]) >= serving.index(n) + 1, 120,
                         "%s NORMAL" % n.host)
    harness.wait_for(lambda: all(normal_count(n) == 3 for n in serving), 60,
                     "3 nodes NORMAL everywhere")
    common = ["-node", ",".join(n.host for n in serving), "-port", str(cql),
              "-replication", "3", "-col", "size=%d" % a.value_size]

    # -- load --------------------------------------------------------------
    log("loading %d rows of %d bytes (%.2f GB) at QUORUM, %d in flight"
        % (rows, a.value_size, rows * a.value_size / 1e9, a.load_threads))
    t0 = time.monotonic()
    st = Stress(a.stress, ["write", "n=%d" % rows, "cl=QUORUM", "-rate",
                           "threads=%d" % a.load_threads, "-log", "interval=10"] + common,
                "load", work)
    load = st.result()
    load_s = time.monotonic() - t0
    check_alive(serving)
    log("loaded in %.1f s (%.0f rows/s, %.1f MB/s of values), errors %s"
        % (load_s, rows / load_s, rows * a.value_size / load_s / 1e6, fmt_errors(load)))
    t0 = time.monotonic()
    for n in serving:
        http(n, "POST", "/flush?keyspace=" + KS)
    harness.wait_for(lambda: all(metric(n, "basalt_storage_pending_compaction_bytes") == 0
                                 for n in serving), 3600, "compactions done", step=1)
    settle_s = time.monotonic() - t0
    load_bytes = {n.host: x["load_bytes"] for n in serving
                  for x in http(n, "GET", "/status")["nodes"] if x["address"] == n.host}
    log("flushed, no compaction pending after %.1f s; on disk: %s"
        % (settle_s, ", ".join("%s %.0f MB" % (h, b / 1e6) for h, b in sorted(load_bytes.items()))))

    rate = (["fixed=%d/s" % a.read_rate] if a.read_rate > 0 else []) + \
        ["threads=%d" % a.read_threads]
    read = ["read", "cl=QUORUM", "-pop", "uniform", "-dist", str(rows), "-rate"] + rate + \
        ["-log", "interval=5"] + common
    loop = ("open loop, %d/s, at most %d in flight" % (a.read_rate, a.read_threads)
            if a.read_rate > 0 else "closed loop, %d in flight" % a.read_threads)

    # -- reads before the join -----------------------------------------------
    log("QUORUM reads before the join: %.0f s, %s" % (a.read_seconds, loop))
    before = Stress(a.stress, read + ["duration=%gs" % a.read_seconds, "-seed", "2"], "before", work).result()
    check_alive(serving)

    # -- the join under the same reads ------------------------------------
    log("node 4 (%s) joins; the same reads run until it is NORMAL" % hosts[3])
    during_st = Stress(a.stress, read + ["duration=24h", "-seed", "3", "-log", "interval=1"],
                       "during", work)
    time.sleep(1.0)         # connected, warm
    j0 = time.monotonic()
    nodes[3].start(timeout=120)
    phases = {}             # phase of node 4's session -> first seen (s after start)

    def joined():
        try:
            for x in http(nodes[3], "GET", "/streams", timeout=5)["streams"]["sessions"]:
                phases.setdefault(x["phase"], time.monotonic() - j0)
        except Exception:
            pass            # not answering yet
        check_alive(nodes)
        return all(normal_count(n) == 4 for n in nodes)
    try:
        harness.wait_for(joined, 24 * 3600, "node 4 NORMAL everywhere", step=0.2)
    finally:
        join_s = time.monotonic() - j0
        during_st.interrupt()
    during = during_st.result(timeout=120)
    check_alive(nodes)
    streams = http(nodes[3], "GET", "/streams")["streams"]
    sess = streams["sessions"][0] if streams.get("sessions") else None
    if not sess:
        raise SystemExit("FAILED: node 4 reports no stream session: %r" % streams)
    log("joined in %.1f s: %s" % (join_s, json.dumps(sess)))

    # -- the raw floor -----------------------------------------------------------
    log("raw RocksDB bulk load of %d rows of %d bytes under %s" % (rows, a.value_size, work))
    out = subprocess.run([a.bulkload, "-n", str(rows), "-v", str(a.value_size),
                          "-d", os.path.join(work, "bulkload")],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False,
                         preexec_fn=harness._pdeathsig)
    text = out.stdout.decode(errors="replace")
    if out.returncode != 0:
        raise SystemExit("FAILED: bench_bulkload exited with %d:\n%s" % (out.returncode, text))
    bulk = {k: float(v) for k, v in re.findall(r"^(bulk_\w+) (\S+)$", text, re.M)}
    check_alive(nodes)

    # -- report ------------------------------------------------------------
    stream_s = sess["elapsed_ms"] / 1e3
    stream_mbps = sess["bytes"] / 1e6 / max(stream_s, 1e-3)
    join_mbps = sess["bytes"] / 1e6 / max(join_s, 1e-3)
    ratio = stream_mbps / bulk["bulk_mbps"] if bulk["bulk_mbps"] else 0
    p99b = before["latency"]["read"]["p99_ms"]
    p99d = during["latency"]["read"]["p99_ms"]
    pratio = p99d / p99b if p99b else 0
    print()
    print("=== bench-join-load: node 4 joins 3 nodes (RF 3, 16 tokens each) ===")
    print("data            : %d rows x %d B values = %.2f GB of values; %s on disk"
          % (rows, a.value_size, rows * a.value_size / 1e9,
             ", ".join("%.0f MB" % (b / 1e6) for _, b in sorted(load_bytes.items()))))
    print("load            : %.1f s at QUORUM (%.0f rows/s, %.1f MB/s), then flush + "
          "compactions %.1f s; errors %s"
          % (load_s, rows / load_s, rows * a.value_size / load_s / 1e6, settle_s,
             fmt_errors(load)))
    print("join            : %.1f s from start to NORMAL (ring_delay %s); stream_throughput_"
          "outbound %s" % (join_s, a.ring_delay, a.stream_throughput))
    print("streamed        : %.1f MB, %d records, %d ranges in %.1f s = %.1f MB/s "
          "(%.1f MB/s over the whole join)"
          % (sess["bytes"] / 1e6, sess["rows"], sess["ranges_done"], stream_s, stream_mbps,
             join_mbps))
    if "stream" in phases:
        print("phases (node 4) : %s (seen first at s after its start; prepare sizes "
              "every range from its source's RocksDB estimate, no read)"
              % ", ".join("%s %.1f" % kv for kv in sorted(phases.items(), key=lambda kv: kv[1])))
    print("raw bulk load   : %.1f MB (keys + values) in %.2f s = %.1f MB/s (batches of "
          "1000, WAL off, flushed)" % (bulk["bulk_bytes"] / 1e6, bulk["bulk_seconds"],
                                       bulk["bulk_mbps"]))
    print("streaming / raw : %.2fx (goal >= 0.5x) %s"
          % (ratio, "met" if ratio >= 0.5 else "NOT met"))
    print("QUORUM read p99 : %.2f ms before (%.0f reads/s), %.2f ms during the join "
          "(%.0f reads/s, %.1f s); %s"
          % (p99b, before["op_rate"], p99d, during["op_rate"], during["elapsed_s"], loop))
    print("during / before : %.2fx (goal <= 3x) %s"
          % (pratio, "met" if pratio <= 3 else "NOT met"))
    print("read p50/p99.9  : before %.2f / %.2f ms, during %.2f / %.2f ms"
          % (before["latency"]["read"]["p50_ms"], before["latency"]["read"]["p999_ms"],
             during["latency"]["read"]["p50_ms"], during["latency"]["read"]["p999_ms"]))
    print("during, per s   : read p99 ms in each second of the join (node 4 started at "
          "about 1 s): %s" % " ".join(timeline(during_st.out)))
    print("machine load    : %s (1/5/15 min load average at the end)"
          % " ".join(open("/proc/loadavg").read().split()[:3]))
    print("errors          : load %s, reads before %s, reads during %s"
          % (fmt_errors(load), fmt_errors(before), fmt_errors(during)))
    failed = errors(load) + errors(before) + errors(during)
    harness._cleanup_all()
    if harness._BAD_EXITS:
        print("FAILED: basaltd processes that ended badly:\n%s" % "\n".join(harness._BAD_EXITS))
        return 1
    if failed:
        print("FAILED: %d stress errors" % failed)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
