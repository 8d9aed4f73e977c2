"""
test_jepsen_member.py - the quick Jepsen suite, membership: the set
workload while the "member" nemesis (jepsen/nemesis.py) replaces a node
on a real 5-node cluster, RF=3: seed 28 draws "replace" first - node 4
is killed with -9, its data directory wiped, and it starts again with
replace_address_first_boot = its own address, so a new host id takes its
tokens and streams its ranges (the decommission, removenode and
rejoin paths run in the 120 s runs of docs/JEPSEN.md and in
tests/integration/test_bootstrap.py).  No acknowledged add is lost or
unexpected at QUORUM and ALL, the replicas converge, the nemesis really
replaced the node (a run that did nothing cannot pass), the replacement
streamed the dead node's ranges, and every node ends NORMAL.
"""
import json

import harness
from test_jepsen_quick import JepsenCase, run_jepsen


class TestJepsenMember(JepsenCase):
    def test_set_member(self):
        rc, d, res, hist = run_jepsen(["--workload", "set", "--nemesis", "member",
                                       "--time", "25", "--interval", "5", "--seed", "28"], 300)
        self.assertHistoryWellFormed(hist)
        self.assertIsNotNone(res, "no results.json in " + d)
        starts = [op["value"]["detail"] for op in hist
                  if op["process"] == "nemesis" and op["f"] == "start"]
        self.assertTrue(any("replaced" in (x or {}) for x in starts), starts)
        old = [x["old_host_id"] for x in starts if "replaced" in (x or {})]
        done = [op["value"] for op in hist
                if op["process"] == "nemesis" and op["f"] == "replaced"]
        self.assertTrue(done, "no replacement became NORMAL")
        self.assertNotIn(done[0]["host_id"], old)
        # it bootstrapped: the dead node's ranges were streamed to it
        self.assertGreater(done[0]["streamed"]["ranges_done"], 0, done[0])
        self.assertTrue(any(op["process"] == "nemesis" and op["f"] == "all-normal"
                            and op["value"] is True for op in hist))
        acked = sum(1 for op in hist if op["f"] == "add" and op["type"] == "ok")
        self.assertGreater(acked, 100)
        for cl in ("QUORUM", "ALL"):
            self.assertEqual(res[cl]["lost"], [], cl)
            self.assertEqual(res[cl]["unexpected"], [], cl)
            self.assertGreaterEqual(res[cl]["read"], acked)
        self.assertTrue(res["convergence"])
        self.assertTrue(res["valid"], json.dumps(res)[:2000])
        self.assertEqual(rc, 0)


if __name__ == "__main__":
    harness.main()
