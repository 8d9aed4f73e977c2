"""
test_jepsen_member.py - the quick Jepsen suite, membership: the set
workload while the "member" nemesis (jepsen/nemesis.py) decommissions a
node (it streams its ranges away, leaves, exits 0) and then wipes it and
joins it again as a new node (streaming its ranges back) on a real 5-node
cluster, RF=3.  No acknowledged add is lost or unexpected at QUORUM and
ALL, the replicas converge, and the nemesis really decommissioned and
re-added a node (a run that did nothing cannot pass).
"""
import json

import harness
from test_jepsen_quick import JepsenCase, run_jepsen


class TestJepsenMember(JepsenCase):
    def test_set_member(self):
        rc, d, res, hist = run_jepsen(["--workload", "set", "--nemesis", "member",
                                       "--time", "25", "--interval", "5", "--seed", "31"], 300)
        self.assertHistoryWellFormed(hist)
        self.assertIsNotNone(res, "no results.json in " + d)
        left = [op["value"]["detail"] for op in hist
                if op["process"] == "nemesis" and op["f"] == "start"]
        self.assertTrue(any("decommissioned" in (x or {}) for x in left), left)
        self.assertTrue(any(op["process"] == "nemesis" and op["f"] == "rejoined"
                            for op in hist))
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
