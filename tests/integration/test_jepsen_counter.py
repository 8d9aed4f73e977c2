"""
test_jepsen_counter.py - the quick Jepsen suite, part 4: the counter
workload (QUORUM increments and reads, RF=3, 5 nodes) under partitions,
kill -9 and SIGSTOP.  Every read during the run lies between the
increments acknowledged before it (and the reads completed before it)
and the increments invoked before it completed that did not fail; after
heal the values at QUORUM and ALL lie within [acknowledged,
acknowledged + indeterminate] (timed-out increments may or may not have
applied; nobody retries them), and the replicas converge.
"""
import json

import harness
from test_jepsen_quick import JepsenCase, run_jepsen


class TestJepsenCounter(JepsenCase):
    def test_counter_partition_kill_pause(self):
        rc, d, res, hist = run_jepsen(["--workload", "counter", "--nemesis",
                                       "partition,kill,pause", "--time", "25",
                                       "--interval", "5", "--seed", "31"], 160)
        self.assertHistoryWellFormed(hist)
        self.assertIsNotNone(res, "no results.json in " + d)
        self.assertGreaterEqual(len(self.faults(hist)), 1)
        self.assertGreater(res["acknowledged"], 100)
        self.assertGreater(res["reads"], 50)
        self.assertEqual(res["bad"], [])
        for cl in ("QUORUM", "ALL"):
            self.assertEqual(res[cl]["wrong"], 0, json.dumps(res["final_wrong"])[:2000])
            self.assertGreaterEqual(res[cl]["sum"], res[cl]["acknowledged_sum"])
        self.assertTrue(res["convergence"])
        self.assertTrue(res["valid"], json.dumps(res)[:2000])
        self.assertEqual(rc, 0)


if __name__ == "__main__":
    harness.main()
