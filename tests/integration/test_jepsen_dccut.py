"""
test_jepsen_dccut.py - the dc-cutoff scenario of jepsen/dccut.py, reduced
for the quick suite: 2 DCs x 2 nodes on the emulated WAN (jepsen/wan.py,
5 ms one-way delay +- 1 ms), NetworkTopologyStrategy {dc1: 2, dc2: 2},
dc2 cut off for 15 s under load from two LOCAL_QUORUM clients and one
EACH_QUORUM client in dc1; after the heal, at most 30 s of hint delivery,
then `basalt-admin repair jepsen` on node 1 (which replicates every range).

Asserts on the run's results.json and history: every LOCAL_QUORUM write
and read in dc1 succeeded (through the cut); no EACH_QUORUM write invoked
during the cut was acknowledged and some failed (Unavailable or timeout),
while EACH_QUORUM writes did succeed before the cut; after the heal, hints
and the repair leave equal per-node checksums on
all four nodes and every acknowledged write in the final read of each DC.

Fails (does not skip) when not root or nft / ip netns are unusable.
"""
import json
import os
import re
import subprocess
import sys
import unittest

import harness
from test_jepsen_quick import netns_unusable_reason

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUN = os.path.join(ROOT, "jepsen", "run")
STORE = os.environ.get("JEPSEN_STORE", os.path.join(ROOT, "jepsen", "store"))


class TestJepsenDcCut(unittest.TestCase):
    def setUp(self):
        why = netns_unusable_reason()
        if why:
            self.fail("cannot run the dc-cutoff scenario: " + why)

    def test_dc_cutoff_reduced(self):
        argv = [RUN, "dc-cutoff", "--dcs", "2,2", "--pre", "5", "--cut", "15", "--post", "5",
                "--seed", "5", "--delay", "5", "--jitter", "1", "--concurrency", "2",
                "--delay-between", "0.03", "--hint-timeout", "30", "--repair-nodes", "one",
                "--basaltd", harness.BASALTD, "--store", STORE]
        admin = os.environ.get("BASALT_ADMIN")
        if admin:
            argv += ["--basalt-admin", admin]
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=170)
        sys.stderr.write(p.stdout)
        m = re.search(r"store=(\S+)", p.stdout)
        self.assertTrue(m, "runner printed no store directory:\n" + p.stdout)
        d = m.group(1)
        self.assertTrue(os.path.exists(os.path.join(d, "results.json")),
                        "no results.json in %s:\n%s" % (d, p.stdout[-3000:]))
        with open(os.path.join(d, "results.json")) as f:
            res = json.load(f)
        with open(os.path.join(d, "history.jsonl")) as f:
            hist = [json.loads(line) for line in f]
        self.assertRegex(p.stdout, r"measured RTT client -> dc2")
        nem = [op["f"] for op in hist if op["process"] == "nemesis"]
        self.assertEqual(nem[:2], ["cut", "heal"])
        # dc1 never noticed
        lq = res["local_quorum"]
        self.assertGreater(lq["ok"], 100, lq)
        self.assertEqual((lq["fail"], lq["info"]), (0, 0), res["local_quorum_not_ok"])
        reads = sum(1 for op in hist if op.get("f") == "read" and op["type"] == "ok")
        self.assertGreater(reads, 50)
        # EACH_QUORUM needs dc2: none acknowledged during the cut, some refused
        each = res["each_quorum"]
        self.assertEqual(res["each_quorum_ok_during_cut"], [])
        self.assertEqual(res["each_quorum_other_errors_during_cut"], [])
        self.assertGreater(each["cut"].get("fail", 0) + each["cut"].get("info", 0), 0, each)
        self.assertGreater(each["before"].get("ok", 0), 0, each)
        # converged, nothing acknowledged lost in either DC
        self.assertTrue(res["repair_ok"])
        self.assertTrue(res["convergence"])
        self.assertEqual(sorted(res["lost"]), ["dc1", "dc2"])
        self.assertEqual(res["lost"], {"dc1": [], "dc2": []})
        acked = sum(res["acknowledged_writes"].values())
        for dc, n in res["final_reads"].items():
            self.assertGreaterEqual(n, acked, dc)
        self.assertTrue(res["valid"])
        self.assertEqual(p.returncode, 0)


if __name__ == "__main__":
    harness.main()
