"""
test_repair.py - Merkle-tree anti-entropy repair on 3 real basaltd nodes
(issue 8 "Must show", scaled down to fit 3 minutes on 2 cores: 4,000 rows,
then 400 updates and 100 deletes instead of 100,000 / 5,000 / 1,000).

Keyspace rf3 (SimpleStrategy, replication_factor 3) on three nodes with
hinted handoff disabled on all of them.  In order:

  1. every row written at QUORUM; once the nodes agree (per-node checksums
     from GET /checksum equal), a repair of the in-sync cluster compares
     every range and streams nothing;
  2. node C is killed; 400 updates and 100 deletes are written at ONE
     through node A (no hints are kept); C restarts; the checksums now
     differ; `basalt-admin repair rf3` run on A reports mismatched ranges,
     no failed range, and streamed bytes <= 3x the bytes that differed;
     afterwards all three checksums are identical, `basalt-admin checksum`
     says "consistent", CL=ONE reads routed to each node alone agree on
     every key, and deleted rows stay deleted;
  3. running the repair again streams nothing and changes no checksum;
     a repair limited with --range compares fewer ranges, one with --pr
     (pr=1) only the node's 8 primary ranges; the sessions are
     in GET /repair/history, newest first;
  4. with node B down a repair reports failed ranges (every range has B as
     a replica) instead of hanging, and basalt-admin exits 1.
"""

import json
import os
import subprocess
import time
import unittest
import urllib.request

import harness
from cassandra import ConsistencyLevel
from cassandra.concurrent import execute_concurrent_with_args
from cassandra.query import SimpleStatement

from test_replication import _ReplicatedCluster, _wait

# CI runs the scaled-down sizes; BASALT_REPAIR_FULL=1 runs the issue's
# full sizes (100,000 rows, 5,000 updates, 1,000 deletes) by hand.
if os.environ.get("BASALT_REPAIR_FULL"):
    NROWS, NUPD, NDEL = 100000, 5000, 1000
else:
    NROWS, NUPD, NDEL = 4000, 400, 100


def _admin_bin():
    return os.environ.get("BASALT_ADMIN") or os.path.join(
        os.path.dirname(os.path.dirname(harness.BASALTD)), "client", "basalt-admin")


class RepairTest(_ReplicatedCluster):
    CLUSTER = "integ-repair"
    EXTRA = {"hinted-handoff-enabled": "false"}

    # -- helpers ----------------------------------------------------------
    def http(self, i, method, path, timeout=150):
        n = self.nodes[i]
        req = urllib.request.Request("http://%s:%d%s" % (n.host, n.admin_port, path),
                                     method=method, data=b"" if method == "POST" else None,
                                     headers=n.admin_headers())
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return json.loads(r.read().decode())

    def checksums(self, i=0):
        """{host: checksum} of rf3.t as node i collects them."""
        doc = self.http(i, "GET", "/checksum?keyspace=rf3&table=t")
        (t,) = doc["tables"]
        self.assertEqual((t["keyspace"], t["table"]), ("rf3", "t"))
        return {n["address"]: n.get("checksum") for n in t["nodes"]}

    def admin(self, i, *args):
        n = self.nodes[i]
        p = subprocess.run([_admin_bin(), "-h", n.host, "-p", str(n.admin_port),
                            "--token-file", os.path.join(n.data_dir, "admin_token")] + list(args),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=150)
        return p.returncode, p.stdout.decode()

    def write_many(self, i, stmt, params, cl):
        s = self.session(i)
        ps = s.prepare(stmt)
        ps.consistency_level = cl
        for ok, res in execute_concurrent_with_args(s, ps, params, concurrency=32,
                                                    raise_on_first_error=False):
            if not ok:
                raise res

    def read_all(self, i):
        s = self.session(i)
        ps = s.prepare("SELECT v FROM rf3.t WHERE k = ?")
        ps.consistency_level = ConsistencyLevel.ONE
        out = {}
        res = execute_concurrent_with_args(s, ps, [(k,) for k in range(NROWS)], concurrency=32)
        for k, (ok, rows) in enumerate(res):
            self.assertTrue(ok, rows)
            r = rows.one()
            out[k] = r.v if r else None
        return out

    def in_sync(self):
        c = self.checksums()
        return len(c) == 3 and None not in c.values() and len(set(c.values())) == 1

    # -- tests ------------------------------------------------------------
    def test_1_in_sync_cluster_streams_nothing(self):
        self.write_many(0, "INSERT INTO rf3.t (k, v) VALUES (?, ?)",
                        [(k, "v%d" % k) for k in range(NROWS)], ConsistencyLevel.QUORUM)
        _wait(self.in_sync, 30, "equal checksums after QUORUM writes", step=0.5)
        rep = self.http(0, "POST", "/repair?keyspace=rf3")
        self.assertGreater(rep["ranges_compared"], 0)
        self.assertEqual(rep["ranges_failed"], 0, rep)
        self.assertEqual(rep["ranges_mismatched"], 0, rep)
        self.assertEqual(rep["ranges_in_sync"], rep["ranges_compared"])
        self.assertEqual(rep["rows_streamed"], 0)
        self.assertEqual(rep["bytes_streamed"], 0)
        self.assertEqual(rep["rows_differed"], 0)

    def test_2_repair_after_missed_writes(self):
        self.kill(2)
        self.write_many(0, "UPDATE rf3.t SET v = ? WHERE k = ?",
                        [("new%d" % k, k) for k in range(0, NUPD * 5, 5)], ConsistencyLevel.ONE)
        deleted = list(range(1, NDEL * 7, 7))
        self.write_many(0, "DELETE FROM rf3.t WHERE k = ?", [(k,) for k in deleted],
                        ConsistencyLevel.ONE)
        self.restart(2)
        _wait(lambda: len(set(self.checksums().values())) == 2, 30,
              "A and B agree, C differs", step=0.5)
        before = self.checksums()
        self.assertNotEqual(before[self.nodes[2].host], before[self.nodes[0].host])

        rc, out = self.admin(0, "repair", "rf3")
        self.assertEqual(rc, 0, out)
        self.assertIn("Streamed:", out)
        rep = self.http(0, "POST", "/repair?keyspace=rf3&table=t")  # already repaired
        self.assertEqual(rep["rows_streamed"], 0, rep)

        after = self.checksums()
        self.assertEqual(len(set(after.values())), 1, after)
        self.assertEqual(after[self.nodes[0].host], before[self.nodes[0].host])
        rc, out = self.admin(1, "checksum", "rf3")
        self.assertEqual(rc, 0, out)
        self.assertIn("consistent", out)

        views = [self.read_all(i) for i in range(3)]
        self.assertEqual(views[0], views[1])
        self.assertEqual(views[0], views[2])
        for k in deleted:
            self.assertIsNone(views[2][k], k)
        for k in range(0, NUPD * 5, 5):
            if k not in deleted:
                self.assertEqual(views[2][k], "new%d" % k)

    def test_3_report_bounds_and_idempotence(self):
        # make C stale again, smaller: 50 updates; check the report figures
        self.kill(2)
        self.write_many(0, "UPDATE rf3.t SET v = ? WHERE k = ?",
                        [("again%d" % k, k) for k in range(2, 500, 10)], ConsistencyLevel.ONE)
        self.restart(2)
        rep = self.http(0, "POST", "/repair?keyspace=rf3")
        self.assertEqual(rep["ranges_failed"], 0, rep)
        self.assertGreater(rep["ranges_mismatched"], 0, rep)
        self.assertGreaterEqual(rep["rows_differed"], 50, rep)
        self.assertGreater(rep["bytes_streamed"], 0, rep)
        self.assertLessEqual(rep["bytes_streamed"], 3 * rep["bytes_differed"], rep)
        sums = self.checksums()
        self.assertEqual(len(set(sums.values())), 1, sums)
        again = self.http(0, "POST", "/repair?keyspace=rf3")
        self.assertEqual(again["ranges_mismatched"], 0, again)
        self.assertEqual(again["rows_streamed"], 0, again)
        self.assertEqual(self.checksums(), sums)
        part = self.http(0, "POST", "/repair?keyspace=rf3&range=0:4611686018427387904")
        self.assertGreater(part["ranges_compared"], 0)
        self.assertLess(part["ranges_compared"], again["ranges_compared"])
        self.assertEqual(part["rows_streamed"], 0)
        # primary ranges only: 8 vnodes per node, the three cover the ring
        pr = [self.http(i, "POST", "/repair?keyspace=rf3&pr=1") for i in range(3)]
        self.assertEqual([p["ranges_compared"] for p in pr], [8, 8, 8])
        self.assertEqual(sum(p["rows_streamed"] for p in pr), 0)
        rc, out = self.admin(0, "repair", "rf3", "--pr")
        self.assertEqual(rc, 0, out)
        self.assertIn("Ranges compared:   8 (8 in sync", out)
        hist = self.http(0, "GET", "/repair/history?limit=4")["sessions"][2:]
        self.assertEqual([h["report"]["session"] for h in hist],
                         [part["session"], again["session"]])
        self.assertEqual(hist[0]["what"], "rf3.*")

    def test_4_replica_down_fails_ranges(self):
        self.kill(1)
        try:
            rc, out = self.admin(0, "repair", "rf3", "t")
            self.assertEqual(rc, 1, out)
            rep = self.http(0, "POST", "/repair?keyspace=rf3")
            self.assertGreater(rep["ranges_failed"], 0, rep)
            self.assertEqual(rep["ranges_compared"], 0, rep)
            self.assertIn("unavailable", rep["error"])
        finally:
            self.restart(1)

    def test_5_bad_requests(self):
        with self.assertRaises(urllib.error.HTTPError) as cm:
            self.http(0, "POST", "/repair?keyspace=nope")
        self.assertEqual(cm.exception.code, 404)
        with self.assertRaises(urllib.error.HTTPError) as cm:
            self.http(0, "POST", "/repair?keyspace=rf3&range=12")
        self.assertEqual(cm.exception.code, 400)


if __name__ == "__main__":
    harness.main()
