"""
test_restart.py - what survives a restart.

  * SIGTERM (clean drain, exit 0) and a restart on the same data
    directory: schema (keyspaces, tables, key structure, options) and data
    are all there, including TTL'd cells and tombstones;
  * a prepared statement executed after the node restarted: the node no
    longer knows the id, answers Unprepared, and the driver re-prepares
    transparently (its log says so) and the query succeeds;
  * SIGKILL with commitlog_sync: batch: every write the driver saw
    acknowledged before the kill is there after the restart.
"""
import logging
import time
import unittest

import harness

from cassandra.concurrent import execute_concurrent_with_args
from cassandra.policies import ConstantReconnectionPolicy

KS = ("CREATE KEYSPACE %s WITH replication = "
      "{'class': 'SimpleStrategy', 'replication_factor': 1}")


def wait_serving(session, timeout=30):
    """Polls with a plain query until the session's pool is connected to
    the restarted node again (the driver reconnects on its own)."""
    from cassandra.cluster import NoHostAvailable
    deadline = time.monotonic() + timeout
    while True:
        try:
            session.execute("SELECT release_version FROM system.local")
            return
        except NoHostAvailable:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


class RestartBase(unittest.TestCase):
    """A fresh node per test (restarted by the test itself)."""
    node_extra = {}

    def setUp(self):
        self.node = harness.Node(extra=self.node_extra)
        self.node.start()
        self.clusters = []

    def tearDown(self):
        for c in self.clusters:
            c.shutdown()
        try:
            rc = self.node.stop()
        finally:
            self.node.cleanup()
        self.assertEqual(rc, 0, "basaltd exit code on SIGTERM")

    def connect(self, **kw):
        c = self.node.cluster(**kw)
        self.clusters.append(c)
        return c, c.connect()


class RestartTest(RestartBase):

    def test_clean_restart_keeps_schema_and_data(self):
        cl, s = self.connect()
        s.execute(KS % "rs")
        s.execute("CREATE TABLE rs.t (a int, b text, c int, v text, st int static, "
                  "PRIMARY KEY ((a, b), c)) WITH CLUSTERING ORDER BY (c DESC) "
                  "AND default_time_to_live = 0 AND comment = 'kept'")
        s.execute("CREATE TABLE rs.gone (k int PRIMARY KEY)")
        s.execute("DROP TABLE rs.gone")
        ins = s.prepare("INSERT INTO rs.t (a, b, c, v) VALUES (?, ?, ?, ?)")
        for a in range(20):
            for c in range(10):
                s.execute(ins, (a, "p%d" % a, c, "v%d.%d" % (a, c)))
        s.execute("UPDATE rs.t SET st = 7 WHERE a = 0 AND b = 'p0'")
        s.execute("DELETE FROM rs.t WHERE a = 1 AND b = 'p1'")
        s.execute("DELETE FROM rs.t WHERE a = 2 AND b = 'p2' AND c < 5")
        s.execute("INSERT INTO rs.t (a, b, c, v) VALUES (3, 'p3', 100, 'ttl') USING TTL 100000")
        s.execute("ALTER TABLE rs.t ADD extra list<int>")
        s.execute("UPDATE rs.t SET extra = [1, 2] WHERE a = 4 AND b = 'p4' AND c = 0")
        cl.shutdown()
        self.clusters.remove(cl)

        self.assertEqual(self.node.stop(), 0)
        self.assertIn("stopped cleanly", self.node.log())
        self.node.start()

        cl, s = self.connect()
        ks = cl.metadata.keyspaces["rs"]
        self.assertNotIn("gone", ks.tables)
        t = ks.tables["t"]
        self.assertEqual([c.name for c in t.partition_key], ["a", "b"])
        self.assertEqual([c.name for c in t.clustering_key], ["c"])
        self.assertTrue(t.clustering_key[0].is_reversed)
        self.assertTrue(t.columns["st"].is_static)
        self.assertEqual(t.columns["extra"].cql_type, "list<int>")
        self.assertEqual(t.options["comment"], "kept")
        rows = list(s.execute("SELECT a, b, c, v, st, extra FROM rs.t"))
        self.assertEqual(len(rows), 20 * 10 - 10 - 5 + 1)
        by = {(r.a, r.c): r for r in rows}
        self.assertEqual(by[(5, 3)].v, "v5.3")
        self.assertNotIn((1, 0), by)
        self.assertNotIn((2, 4), by)
        self.assertIn((2, 5), by)
        self.assertEqual(by[(0, 9)].st, 7)
        self.assertEqual(by[(4, 0)].extra, [1, 2])
        self.assertEqual(by[(3, 100)].v, "ttl")
        ttl = s.execute("SELECT ttl(v) FROM rs.t WHERE a = 3 AND b = 'p3' AND c = 100").one()[0]
        self.assertTrue(0 < ttl <= 100000)
        # clustering order DESC is still applied
        self.assertEqual([r.c for r in s.execute("SELECT c FROM rs.t WHERE a = 6 AND b = 'p6'")],
                         list(range(9, -1, -1)))
        # writes keep working
        s.execute("INSERT INTO rs.t (a, b, c, v) VALUES (99, 'x', 1, 'after')")
        self.assertEqual(s.execute("SELECT v FROM rs.t WHERE a = 99 AND b = 'x'").one().v, "after")

    def test_reprepare_after_restart(self):
        cl = self.node.cluster(reconnection_policy=ConstantReconnectionPolicy(0.2),
                               reprepare_on_up=False)
        self.clusters.append(cl)
        s = cl.connect()
        s.execute(KS % "rp")
        s.execute("CREATE TABLE rp.t (k int PRIMARY KEY, v text)")
        s.execute("INSERT INTO rp.t (k, v) VALUES (1, 'one')")
        sel = s.prepare("SELECT v FROM rp.t WHERE k = ?")
        self.assertEqual(s.execute(sel, [1]).one().v, "one")

        self.assertEqual(self.node.stop(), 0)
        self.node.start()
        wait_serving(s)
        with self.assertLogs("cassandra.cluster", level="DEBUG") as logs:
            self.assertEqual(s.execute(sel, [1]).one().v, "one")
        self.assertTrue(any("Re-preparing unrecognized prepared statement" in m
                            for m in logs.output), logs.output)
        # the re-prepared id is known now: no second re-prepare
        with self.assertLogs("cassandra.cluster", level="DEBUG") as logs:
            self.assertEqual(s.execute(sel, [1]).one().v, "one")
            logging.getLogger("cassandra.cluster").debug("marker")
        self.assertFalse(any("Re-preparing" in m for m in logs.output), logs.output)


class CrashTest(RestartBase):
    node_extra = {"commitlog-sync": "batch", "commitlog-sync-batch-window": "1ms"}

    def test_sigkill_batch_mode_keeps_acked_writes(self):
        cl, s = self.connect()
        s.execute(KS % "cr")
        s.execute("CREATE TABLE cr.t (k int, c int, v text, PRIMARY KEY (k, c))")
        ins = s.prepare("INSERT INTO cr.t (k, c, v) VALUES (?, ?, ?)")
        args = [(k, c, "v%d" % (k * 100 + c)) for k in range(50) for c in range(40)]
        res = execute_concurrent_with_args(s, ins, args, concurrency=32,
                                           raise_on_first_error=True)
        self.assertTrue(all(ok for ok, _ in res))
        s.execute("DELETE FROM cr.t WHERE k = 0")
        s.execute("UPDATE cr.t SET v = 'last' WHERE k = 1 AND c = 0")
        cl.shutdown()
        self.clusters.remove(cl)

        self.node.kill()   # SIGKILL: no drain, no flush
        self.assertEqual(self.node.proc.returncode, -9)
        self.node.start()

        cl, s = self.connect()
        rows = list(s.execute("SELECT k, c, v FROM cr.t"))
        got = {(r.k, r.c): r.v for r in rows}
        exp = {(k, c): "v%d" % (k * 100 + c) for k in range(1, 50) for c in range(40)}
        exp[(1, 0)] = "last"
        self.assertEqual(got, exp)


if __name__ == "__main__":
    harness.main()
