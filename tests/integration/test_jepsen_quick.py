"""
test_jepsen_quick.py - the quick Jepsen suite, part 1: set and register
workloads under mixed faults against a real 5-node cluster in network
namespaces (jepsen/run; see docs/JEPSEN.md).

Each scenario runs the runner as a subprocess with a fixed seed (the fault
schedule is reproducible) and asserts on its results.json / history:
the checker's verdict, lost = 0, unexpected = 0, no stale, impossible
or non-monotonic register reads, the final register values at QUORUM and
ALL, convergence, and that faults really happened and
operations really were acknowledged (a run that did nothing cannot pass).

Fails (with the reason; it does not skip) when not root or `ip netns` is
unusable: CI runs as root and scripts/install-deps installs iproute2.
"""
import json
import os
import re
import subprocess
import sys
import unittest

import harness

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUN = os.path.join(ROOT, "jepsen", "run")
STORE = os.environ.get("JEPSEN_STORE", os.path.join(ROOT, "jepsen", "store"))


def netns_unusable_reason():
    if os.geteuid() != 0:
        return "jepsen needs root for ip netns (CI runs as root)"
    try:
        r = subprocess.run(["ip", "netns", "list"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    except FileNotFoundError:
        return "iproute2 ('ip') not installed"
    if r.returncode != 0:
        return "ip netns unusable here: " + r.stderr.strip()
    return None


def run_jepsen(args, timeout):
    """Runs jepsen/run; returns (exit status, run dir, results, history)."""
    p = subprocess.run([RUN, "--basaltd", harness.BASALTD, "--store", STORE] + args,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       timeout=timeout)
    sys.stderr.write(p.stdout)
    m = re.search(r"store=(\S+)", p.stdout)
    assert m, "runner printed no store directory:\n" + p.stdout
    d = m.group(1)
    res = None
    if os.path.exists(os.path.join(d, "results.json")):
        with open(os.path.join(d, "results.json")) as f:
            res = json.load(f)
    with open(os.path.join(d, "history.jsonl")) as f:
        hist = [json.loads(line) for line in f]
    return p.returncode, d, res, hist


class JepsenCase(unittest.TestCase):
    def setUp(self):
        why = netns_unusable_reason()
        if why:
            self.fail("cannot run the Jepsen suite: " + why)

    def assertHistoryWellFormed(self, hist):
        self.assertTrue(hist)
        for op in hist:
            for k in ("process", "type", "f", "time"):
                self.assertIn(k, op)
            self.assertIn(op["type"], ("invoke", "ok", "fail", "info"))
        # every client completion follows an invoke of the same process
        open_ = {}
        for op in hist:
            if op["process"] == "nemesis":
                continue
            if op["type"] == "invoke":
                self.assertNotIn(op["process"], open_)
                open_[op["process"]] = op
            else:
                inv = open_.pop(op["process"])
                self.assertEqual(inv["f"], op["f"])
                self.assertGreaterEqual(op["time"], inv["time"])

    def faults(self, hist):
        return [op["value"]["fault"] for op in hist
                if op["process"] == "nemesis" and op["f"] == "start"]


class TestJepsenQuick(JepsenCase):
    def test_set_mixed(self):
        rc, d, res, hist = run_jepsen(["--workload", "set", "--nemesis", "mixed",
                                       "--time", "25", "--interval", "5", "--seed", "11"], 160)
        self.assertHistoryWellFormed(hist)
        self.assertIsNotNone(res, "no results.json in " + d)
        self.assertGreaterEqual(len(self.faults(hist)), 1)
        acked = sum(1 for op in hist if op["f"] == "add" and op["type"] == "ok")
        self.assertGreater(acked, 100)
        for cl in ("QUORUM", "ALL"):
            self.assertEqual(res[cl]["lost"], [], cl)
            self.assertEqual(res[cl]["unexpected"], [], cl)
            self.assertGreaterEqual(res[cl]["read"], acked)
        self.assertTrue(res["convergence"])
        self.assertTrue(res["valid"], json.dumps(res)[:2000])
        self.assertEqual(rc, 0)

    def test_register_partition_kill_skew(self):
        rc, d, res, hist = run_jepsen(["--workload", "register", "--nemesis",
                                       "partition,kill,skew", "--time", "25",
                                       "--interval", "5", "--seed", "12"], 160)
        self.assertHistoryWellFormed(hist)
        self.assertIsNotNone(res, "no results.json in " + d)
        self.assertGreaterEqual(len(self.faults(hist)), 1)
        self.assertGreater(res["acknowledged_writes"], 100)
        reads = sum(1 for op in hist if op["f"] == "read" and op["type"] == "ok")
        self.assertGreater(reads, 100)
        self.assertEqual(res["stale_reads"], 0, res["stale"])
        self.assertEqual(res["impossible_reads"], 0, res["impossible"])
        self.assertEqual(res["nonmonotonic_reads"], 0, res["nonmonotonic"])
        self.assertEqual(res["final_wrong"], [])
        for cl in ("QUORUM", "ALL"):
            self.assertEqual(res[cl]["wrong"], 0, cl)
        self.assertTrue(res["convergence"])
        self.assertTrue(res["valid"], json.dumps(res)[:2000])
        self.assertEqual(rc, 0)


if __name__ == "__main__":
    harness.main()
