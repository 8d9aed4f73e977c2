"""
test_jepsen_loss.py - the quick Jepsen suite, part 2: proof that the set
checker catches lost writes and the convergence check catches a diverged
replica (and that repair heals it).

test_wiped_replica_is_reported: RF=1, no faults during the run, then the
test-only --wipe 2 kills node 2, deletes its data directory and restarts it
with the same tokens (no repair, no hints can help: RF=1).  The checker
must fail (exit status 1) and list the lost elements: all acknowledged,
nonempty, whole partitions (elem % 16) gone at both QUORUM and ALL, and
every other acknowledged element still present.

test_convergence_catches_wiped_replica: RF=3, --wipe 2 and --no-repair:
the per-replica convergence check (before any read repair) reports node
2's partitions as different from their other replicas.
test_repair_heals_wiped_replica: the same with the anti-entropy repair
step (admin POST /repair on every node): rows are streamed back and every
replica agrees at the first convergence check.
"""
import json
import os

import harness
from test_jepsen_quick import JepsenCase, run_jepsen

NPART = 16


class TestJepsenLoss(JepsenCase):
    def test_wiped_replica_is_reported(self):
        rc, d, res, hist = run_jepsen(["--workload", "set", "--nemesis", "none",
                                       "--time", "8", "--seed", "21", "--rf", "1",
                                       "--wipe", "2", "--settle", "3",
                                       "--converge-timeout", "5"], 150)
        self.assertIsNotNone(res, "no results.json in " + d)
        self.assertEqual(rc, 1)
        self.assertFalse(res["valid"])
        acked = {op["value"] for op in hist if op["f"] == "add" and op["type"] == "ok"}
        self.assertGreater(len(acked), 100)
        for cl in ("QUORUM", "ALL"):
            lost = set(res[cl]["lost"])
            self.assertGreater(len(lost), 0, cl)
            self.assertEqual(res[cl]["lost_count"], len(lost))
            self.assertLessEqual(lost, acked)
            parts = {e % NPART for e in lost}
            # whole partitions vanished with their only replica
            self.assertEqual(lost, {e for e in acked if e % NPART in parts})
            self.assertLess(len(parts), NPART)
            self.assertEqual(res[cl]["read"], len(acked - lost))
        with open(os.path.join(d, "summary.txt")) as f:
            txt = f.read()
        self.assertIn("RESULT    INVALID", txt)
        self.assertIn("LOST", txt)
        self.assertIn(str(min(res["ALL"]["lost"])), txt)
        wipes = [op for op in hist if op["f"] == "wipe"]
        self.assertEqual(len(wipes), 1)
        self.assertEqual(wipes[0]["value"]["node"], 2)

    def test_convergence_catches_wiped_replica(self):
        # RF=3: QUORUM/ALL reads repair the wiped replica (nothing lost),
        # but the per-replica convergence check, which runs first, must
        # see node 2's partitions differ from their other replicas.
        rc, d, res, hist = run_jepsen(["--workload", "set", "--nemesis", "none",
                                       "--time", "6", "--seed", "23", "--wipe", "2",
                                       "--no-repair", "--settle", "2",
                                       "--converge-timeout", "3"], 150)
        self.assertIsNotNone(res, "no results.json in " + d)
        self.assertEqual(rc, 1)
        self.assertFalse(res["valid"])
        self.assertFalse(res["convergence"])
        for cl in ("QUORUM", "ALL"):
            self.assertEqual(res[cl]["lost"], [], cl)
        with open(os.path.join(d, "final.json")) as f:
            conv = json.load(f)["convergence"]
        self.assertEqual(conv["mode"], "per-replica")
        self.assertTrue(conv["differences"])
        reps = conv["replicas"]
        for diff in conv["differences"]:
            self.assertIn(2, (diff["node"], diff["vs_node"]))
            self.assertIn(2, reps[str(diff["partition"])])
            # node 2 is the side without the rows
            if diff["node"] == 2:
                self.assertTrue(diff["missing"])
            else:
                self.assertTrue(diff["extra"])

    def test_repair_heals_wiped_replica(self):
        # the same fault with the anti-entropy repair step: node 2 gets its
        # rows back by streaming and every replica agrees before any read
        rc, d, res, hist = run_jepsen(["--workload", "set", "--nemesis", "none",
                                       "--time", "6", "--seed", "24", "--wipe", "2",
                                       "--settle", "2", "--converge-timeout", "3"], 150)
        self.assertIsNotNone(res, "no results.json in " + d)
        with open(os.path.join(d, "final.json")) as f:
            fin = json.load(f)
        for node, v in fin["repair"]["nodes"].items():
            self.assertNotEqual(v.get("http_status"), 404,
                                "node %s answered 404 to POST /repair" % node)
        self.assertEqual(set(res["repair"].values()), {"ok"}, res["repair"])
        streamed = sum(v.get("rows_streamed", 0) for v in fin["repair"]["nodes"].values())
        self.assertGreater(streamed, 0)
        self.assertTrue(res["convergence"], fin["convergence"]["differences"][:3])
        self.assertEqual(fin["convergence"]["attempts"], 1)
        self.assertTrue(res["valid"])
        self.assertEqual(rc, 0)


if __name__ == "__main__":
    harness.main()
