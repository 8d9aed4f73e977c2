"""
test_jepsen_delete.py - the quick Jepsen suite, part 3: the
delete/resurrection workload under kill -9, SIGSTOP and an isolated node.
Deleted rows never come back (during the run at QUORUM; after heal, hint
delivery, repair, flush and compaction at QUORUM and ALL), and rows
inserted and never deleted are all there.
"""
import json

import harness
from test_jepsen_quick import JepsenCase, run_jepsen


class TestJepsenDelete(JepsenCase):
    def test_delete_kill_pause_isolate(self):
        rc, d, res, hist = run_jepsen(["--workload", "delete", "--nemesis",
                                       "kill,pause,isolate", "--time", "25",
                                       "--interval", "5", "--seed", "22"], 160)
        self.assertHistoryWellFormed(hist)
        self.assertIsNotNone(res, "no results.json in " + d)
        self.assertGreaterEqual(len(self.faults(hist)), 1)
        self.assertGreater(res["deleted"], 100)
        reads = sum(1 for op in hist if op["f"] == "read" and op["type"] == "ok")
        self.assertGreater(reads, 50)
        self.assertEqual(res["resurrected_during_run"], [])
        for cl in ("QUORUM", "ALL"):
            self.assertEqual(res[cl]["resurrected"], [], cl)
            self.assertEqual(res[cl]["lost"], [], cl)
        self.assertTrue(res["valid"], json.dumps(res)[:2000])
        self.assertEqual(rc, 0)



if __name__ == "__main__":
    harness.main()
