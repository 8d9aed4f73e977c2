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

test_wiped_replica_is_reported: RF=1 (CREATE DATABASE ... WITH
REPLICATION 1), no faults, then the test-only --wipe 2 deletes node 2's
data: the run must fail (exit status 1) and every view must list the
lost points: acknowledged ones, whole series (one series is one
partition per day, all on node 2), every other acknowledged point still
there.

Fails (with the reason; it does not skip) when not root or `ip netns` is
unusable: CI runs as root.
"""
import json
import os

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

    def test_wiped_replica_is_reported(self):
        rc, d, res, hist = run_jepsen(["--workload", "ingest", "--nemesis", "none",
                                       "--time", "8", "--seed", "21", "--rf", "1",
                                       "--wipe", "2", "--settle", "3",
                                       "--converge-timeout", "5"], 150)
        self.assertIsNotNone(res, "no results.json in " + d)
        self.assertEqual(rc, 1)
        self.assertFalse(res["valid"])
        series, acked = {}, set()
        for op in hist:
            if op["f"] == "write" and op["type"] == "ok":
                for i, s, t in op["value"]["points"]:
                    acked.add(i)
                    series[i] = s
        self.assertEqual(res["points"]["acknowledged"], len(acked))
        for v in ["QUORUM", "ALL"] + ["HTTP@n%d" % i for i in range(1, 6)]:
            lost = set(res[v]["lost"])
            self.assertGreater(len(lost), 0, v)
            self.assertEqual(res[v]["lost_count"], len(lost))
            self.assertLessEqual(lost, acked)
            gone = {series[i] for i in lost}
            self.assertEqual(lost, {i for i in acked if series[i] in gone}, v)
            self.assertLess(len(gone), len(set(series.values())), v)
            self.assertEqual(res[v]["read"], len(acked - lost), v)
            self.assertEqual(res[v]["unexpected_count"], 0, v)
        with open(os.path.join(d, "summary.txt")) as f:
            txt = f.read()
        self.assertIn("RESULT    INVALID", txt)
        self.assertIn("LOST", txt)


if __name__ == "__main__":
    harness.main()
