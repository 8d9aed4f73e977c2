"""
test_jepsen_norepair.py - the quick Jepsen suite, part 4: runs with
`--no-repair`, so after the heal nothing but hinted handoff (and the
blocking read repair of QUORUM reads during the run) may bring replicas
together before the checks.

  * set under partition/isolate/pause: every acknowledged insert at QUORUM
    and ALL, and - before any final read - every replica of every
    partition holds the same rows (hints delivered everything the
    partitioned or frozen replicas missed);
  * register under partition/ring/pause: no stale, impossible or
    non-monotonic read during the run, the final value of every key right
    at QUORUM and ALL, replicas converged.

No kills here: a coordinator killed right after acknowledging a write can
take the hint for a third replica that had not answered yet with it, and
then only read repair or anti-entropy repair bring that replica up to date
(docs/JEPSEN.md, finding F2; Cassandra behaves the same).  The history and
results must also show that the repair step really did not run.

Needs root and `ip netns` (test_jepsen_quick.JepsenCase decides what happens without).
"""
import json

import harness
from test_jepsen_quick import JepsenCase, run_jepsen


class TestJepsenNoRepair(JepsenCase):
    def assertNoRepair(self, res, hist):
        self.assertNotIn("repair", res)
        self.assertFalse([op for op in hist if op["process"] == "nemesis"
                          and op["f"] == "repair"])

    def test_set_partition_isolate_pause_no_repair(self):
        rc, d, res, hist = run_jepsen(["--workload", "set", "--nemesis",
                                       "partition,isolate,pause", "--time", "25",
                                       "--interval", "5", "--seed", "41", "--no-repair"], 170)
        self.assertHistoryWellFormed(hist)
        self.assertIsNotNone(res, "no results.json in " + d)
        self.assertNoRepair(res, hist)
        self.assertGreaterEqual(len(self.faults(hist)), 1)
        acked = sum(1 for op in hist if op["f"] == "add" and op["type"] == "ok")
        self.assertGreater(acked, 100)
        for cl in ("QUORUM", "ALL"):
            self.assertEqual(res[cl]["lost"], [], cl)
            self.assertEqual(res[cl]["unexpected"], [], cl)
        self.assertTrue(res["convergence"], "replicas differ without repair: see " + d)
        self.assertTrue(res["valid"], json.dumps(res)[:2000])
        self.assertEqual(rc, 0)

    def test_register_partition_ring_pause_no_repair(self):
        rc, d, res, hist = run_jepsen(["--workload", "register", "--nemesis",
                                       "partition,ring,pause", "--time", "25",
                                       "--interval", "5", "--seed", "42", "--no-repair"], 170)
        self.assertHistoryWellFormed(hist)
        self.assertIsNotNone(res, "no results.json in " + d)
        self.assertNoRepair(res, hist)
        self.assertGreaterEqual(len(self.faults(hist)), 1)
        self.assertGreater(res["acknowledged_writes"], 100)
        self.assertGreater(res["reads"], 100)
        self.assertEqual(res["stale_reads"], 0, res["stale"])
        self.assertEqual(res["impossible_reads"], 0, res["impossible"])
        self.assertEqual(res["nonmonotonic_reads"], 0, res["nonmonotonic"])
        self.assertEqual(res["final_wrong"], [])
        for cl in ("QUORUM", "ALL"):
            self.assertEqual(res[cl]["wrong"], 0, cl)
            self.assertEqual(res[cl]["keys"], 8, cl)
        self.assertTrue(res["convergence"], "replicas differ without repair: see " + d)
        self.assertTrue(res["valid"], json.dumps(res)[:2000])
        self.assertEqual(rc, 0)


if __name__ == "__main__":
    harness.main()
