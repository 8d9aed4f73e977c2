"""
test_jepsen_ingest.py - the quick Jepsen suite: the ingest workload
(InfluxDB line protocol POSTed with consistency=quorum to a random node's
/write, docs/TIMESERIES.md) against a real 5-node cluster in network
namespaces (jepsen/run; docs/JEPSEN.md).

ingest under partitions and kills (20 s, seed 61): after heal and repair,
the table read through CQL at QUORUM and ALL and `SELECT * FROM jep`
through every node's InfluxDB endpoint must each return every
acknowledged point with its series, time and fields, no point never
attempted, none twice, none of a refused batch; and the run must really
have done something: faults injected, batches acknowledged.

Fails (with the reason; it does not skip) when not root or `ip netns` is
unusable: CI runs as root.
"""
import json

import harness
from test_jepsen_quick import JepsenCase, run_jepsen


class TestJepsenIngest(JepsenCase):
    def test_ingest_partition_kill(self):
        rc, d, res, hist = run_jepsen(["--workload", "ingest", "--nemesis", "partition,kill",
                                       "--time", "20", "--interval", "4", "--seed", "61"], 170)
        self.assertHistoryWellFormed(hist)
        self.assertIsNotNone(res, "no results.json in " + d)
        self.assertGreaterEqual(len(self.faults(hist)), 1)
        pts = res["points"]
        self.assertGreater(res["batches"]["ok"], 100, res["batches"])
        self.assertGreater(pts["acknowledged"], 1000, pts)
        views = ["QUORUM", "ALL"] + ["HTTP@n%d" % i for i in range(1, 6)]
        for v in views:
            self.assertIn(v, res)
            self.assertNotIn("error", res[v], v)
            self.assertEqual(res[v]["lost_count"], 0, json.dumps(res[v])[:2000])
            self.assertEqual(res[v]["unexpected_count"], 0, v)
            self.assertEqual(res[v]["duplicates"], 0, v)
            self.assertEqual(res[v]["wrong_count"], 0, v)
            self.assertEqual(res[v]["failed_but_present"], 0, v)
            # every acknowledged point, plus the indeterminate ones that landed
            self.assertEqual(res[v]["read"],
                             pts["acknowledged"] + res[v]["indeterminate_present"], v)
        self.assertTrue(res["convergence"])
        self.assertTrue(res["valid"], json.dumps(res)[:2000])
        self.assertEqual(rc, 0)


if __name__ == "__main__":
    harness.main()
