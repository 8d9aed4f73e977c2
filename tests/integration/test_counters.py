"""
test_counters.py - counter columns on 3 real basaltd nodes (RF=3), with
Debian's unmodified python3-cassandra driver (issue 25, counters).

Checked, in order:

  1. Cassandra's InvalidRequest messages: counter and regular columns in
     one table, a counter in the primary key, SET c = 5, INSERT into a
     counter table, USING TIMESTAMP / TTL on a counter update, counters in
     a logged batch, a regular statement in a counter batch, both in an
     unlogged batch; the schema (system_schema.columns says 'counter',
     the driver's DESCRIBE output declares the counters);
  2. increments and decrements from 6 threads through all three
     coordinators at QUORUM sum exactly: reads at QUORUM and ALL through
     every node equal the acknowledged sum (bounded by the timed-out
     increments, which may or may not have applied), and reads at ONE
     converge to it; a never-incremented row is absent;
  3. BEGIN COUNTER BATCH over two tables and partitions (and through a
     protocol batch); DELETE of a counter column and of a counter row;
  4. a replica killed while increments run through the two others, then
     restarted; after a repair all three replicas hold the same data
     (per-node checksums equal) and reads at ONE from each node alone and
     at ALL equal the acknowledged sum (within [acked, acked + timed
     out]);
  5. RF=1: increments through the two nodes that are not the replica are
     forwarded to it (the leader) and sum exactly;
  6. basalt-stress's counter mode (the C driver) sums exactly;
  7. with a replica paused, increments at ALL time out with write type
     COUNTER (never retried); once it resumes, every replica holds a value
     within [acked, acked + timed out].
"""

import os
import signal
import subprocess
import sys
import threading
import unittest

import harness
from cassandra import ConsistencyLevel, InvalidRequest, Unavailable, WriteTimeout, WriteType
from cassandra.query import BatchStatement, BatchType, SimpleStatement

from test_replication import _ReplicatedCluster, _wait

Q, ALL, ONE = ConsistencyLevel.QUORUM, ConsistencyLevel.ALL, ConsistencyLevel.ONE


def _admin_bin():
    return os.environ.get("BASALT_ADMIN") or os.path.join(
        os.path.dirname(os.path.dirname(harness.BASALTD)), "client", "basalt-admin")


class Ledger:
    """Acknowledged and timed-out increments per key (thread-safe)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.acked = {}
        self.lost = {}  # key -> [sum of negative, sum of positive] timed-out deltas
        self.errors = []

    def ack(self, k, d):
        with self.lock:
            self.acked[k] = self.acked.get(k, 0) + d

    def timeout(self, k, d):
        with self.lock:
            lo, hi = self.lost.get(k, (0, 0))
            self.lost[k] = (lo + min(d, 0), hi + max(d, 0))

    def bounds(self, k):
        lo, hi = self.lost.get(k, (0, 0))
        a = self.acked.get(k, 0)
        return a + lo, a + hi


class CounterTest(_ReplicatedCluster):
    CLUSTER = "integ-counters"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        s = cls.session(0)
        s.execute("CREATE TABLE rf3.c (k int PRIMARY KEY, a counter, b counter)")
        s.execute("CREATE TABLE rf3.cc (k int, ck text, n counter, PRIMARY KEY (k, ck))")
        s.execute("CREATE KEYSPACE rf1 WITH replication = "
                  "{'class': 'SimpleStrategy', 'replication_factor': 1}")
        s.execute("CREATE TABLE rf1.c (k int PRIMARY KEY, a counter)")
        for i in range(3):
            _wait(lambda i=i: len(list(cls.session(i).execute(
                "SELECT table_name FROM system_schema.tables WHERE keyspace_name IN "
                "('rf3', 'rf1')"))) >= 4, 20, "counter tables on node %d" % i)

    # -- helpers ----------------------------------------------------------
    def q(self, i, cql, cl=Q, args=None):
        return self.session(i).execute(SimpleStatement(cql, consistency_level=cl), args)

    def value(self, i, k, cl, table="rf3.c", col="a"):
        r = self.q(i, "SELECT %s FROM %s WHERE k = %%s" % (col, table), cl, (k,)).one()
        return None if r is None else getattr(r, col)

    def invalid(self, i, cql, msg):
        with self.assertRaises(InvalidRequest) as cm:
            self.q(i, cql)
        self.assertIn(msg, str(cm.exception))

    def run_increments(self, nodes, keys, per_thread, ledger, table="rf3.c", stop=None):
        """Two threads per node in `nodes`, each doing per_thread updates
        (a += d, b -= d) at QUORUM on `keys` through its node alone."""
        def worker(i, tno):
            s = self.session(i)
            ps = s.prepare("UPDATE %s SET a = a + ? WHERE k = ?" % table)
            ps.consistency_level = Q
            for n in range(per_thread):
                if stop is not None and stop.is_set():
                    return
                k = keys[(n + tno) % len(keys)]
                d = (n % 7) - 2 if n % 3 else 5 + tno
                try:
                    s.execute(ps, (d, k))
                    ledger.ack(k, d)
                except WriteTimeout:
                    ledger.timeout(k, d)
                except Exception as e:  # any other answer fails the test
                    with ledger.lock:
                        ledger.errors.append(repr(e))
        ts = [threading.Thread(target=worker, args=(i, t))
              for i in nodes for t in range(2)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        self.assertEqual(ledger.errors, [])

    def assert_within(self, got, ledger, k, what):
        lo, hi = ledger.bounds(k)
        self.assertTrue(got is not None and lo <= got <= hi,
                        "%s: key %d read %r, acknowledged sum %d, bounds [%d, %d]"
                        % (what, k, got, ledger.acked.get(k, 0), lo, hi))

    # -- tests ------------------------------------------------------------
    def test_1_errors_and_schema(self):
        self.invalid(0, "CREATE TABLE rf3.bad1 (k int PRIMARY KEY, c counter, v int)",
                     "Cannot mix counter and non counter columns in the same table")
        self.invalid(0, "CREATE TABLE rf3.bad2 (k counter PRIMARY KEY, c counter)",
                     "counter type is not supported for PRIMARY KEY column 'k'")
        self.invalid(0, "CREATE TABLE rf3.bad3 (k int PRIMARY KEY, c counter) "
                        "WITH default_time_to_live = 10",
                     "Cannot set default_time_to_live on a table with counters")
        self.invalid(0, "UPDATE rf3.c SET a = 5 WHERE k = 1",
                     "Cannot set the value of counter column a (counters can only be "
                     "incremented/decremented, not set)")
        self.invalid(0, "INSERT INTO rf3.c (k, a) VALUES (1, 1)",
                     "INSERT statements are not allowed on counter tables, use UPDATE instead")
        self.invalid(0, "UPDATE rf3.c USING TIMESTAMP 5 SET a = a + 1 WHERE k = 1",
                     "Cannot provide custom timestamp for counter updates")
        self.invalid(0, "UPDATE rf3.c USING TTL 5 SET a = a + 1 WHERE k = 1",
                     "Cannot provide custom TTL for counter updates")
        self.invalid(0, "UPDATE rf3.t SET v = v + 1 WHERE k = 1", "for non counter column v")
        self.invalid(0, "BEGIN BATCH UPDATE rf3.c SET a = a + 1 WHERE k = 1; APPLY BATCH",
                     "Cannot include a counter statement in a logged batch")
        self.invalid(0, "BEGIN COUNTER BATCH INSERT INTO rf3.t (k, v) VALUES (1, 'x'); "
                        "APPLY BATCH",
                     "Cannot include non-counter statement in a counter batch")
        self.invalid(0, "BEGIN UNLOGGED BATCH UPDATE rf3.c SET a = a + 1 WHERE k = 1; "
                        "INSERT INTO rf3.t (k, v) VALUES (1, 'x'); APPLY BATCH",
                     "Counter and non-counter mutations cannot exist in the same batch")
        self.invalid(0, "BEGIN COUNTER BATCH USING TIMESTAMP 5 UPDATE rf3.c SET a = a + 1 "
                        "WHERE k = 1; APPLY BATCH",
                     "Cannot provide custom timestamp for a BATCH containing counters")
        self.invalid(0, "ALTER TABLE rf3.t ADD c counter",
                     "Cannot add a counter column (c) in a non counter column family")
        with self.assertRaises(InvalidRequest) as cm:
            self.q(0, "UPDATE rf3.c SET a = a + 1 WHERE k = 1", ConsistencyLevel.ANY)
        self.assertIn("Consistency level ANY is not yet supported for counter table c",
                      str(cm.exception))
        self.assertIsNone(self.value(0, 1, ALL), "a refused update left a counter")
        types = {r.column_name: r.type for r in self.q(
            0, "SELECT column_name, type FROM system_schema.columns WHERE keyspace_name = 'rf3' "
               "AND table_name = 'c'")}
        self.assertEqual(types, {"k": "int", "a": "counter", "b": "counter"})
        c, _ = self.sessions[0]
        c.refresh_table_metadata("rf3", "c")
        ddl = c.metadata.keyspaces["rf3"].tables["c"].export_as_string()
        self.assertIn("a counter", ddl)
        self.assertIn("b counter", ddl)
        desc = self.q(0, "DESCRIBE TABLE rf3.c").one()
        self.assertIn("a counter", desc.create_statement)

    def test_2_concurrent_increments_sum(self):
        ledger = Ledger()
        keys = [10, 11, 12, 13]
        self.run_increments([0, 1, 2], keys, 60, ledger)
        for k in keys:
            for i in range(3):
                for cl in (Q, ALL):
                    self.assert_within(self.value(i, k, cl), ledger, k,
                                       "node %d at %s" % (i, cl))
            if not ledger.lost.get(k):
                want = ledger.acked[k]
                for i in range(3):
                    _wait(lambda i=i, k=k: self.value(i, k, ONE) == want, 30,
                          "ONE read of key %d on node %d converges to %d" % (k, i, want))
        # a range scan (every partition, merged across replicas) sums the same
        for i in range(3):
            scanned = {r.k: r.a for r in self.q(i, "SELECT k, a FROM rf3.c", ALL)}
            for k in keys:
                self.assert_within(scanned.get(k), ledger, k, "scan at ALL on node %d" % i)
        # b was never touched: null; a never-incremented row is absent
        r = self.q(0, "SELECT a, b FROM rf3.c WHERE k = 10", ALL).one()
        self.assertIsNone(r.b)
        self.assertIsInstance(r.a, int)
        self.assertIsNone(self.q(1, "SELECT * FROM rf3.c WHERE k = 999", ALL).one())
        # decrements below zero and 64-bit values
        self.q(2, "UPDATE rf3.c SET a = a - 3, b = b + 4000000000 WHERE k = 20")
        self.q(1, "UPDATE rf3.c SET a = a - 4 WHERE k = 20")
        r = self.q(0, "SELECT a, b FROM rf3.c WHERE k = 20", ALL).one()
        self.assertEqual((r.a, r.b), (-7, 4000000000))

    def test_3_batch_and_delete(self):
        self.q(0, "BEGIN COUNTER BATCH "
                  "UPDATE rf3.c SET a = a + 1, b = b + 2 WHERE k = 30; "
                  "UPDATE rf3.c SET a = a + 10 WHERE k = 31; "
                  "UPDATE rf3.c SET a = a + 100 WHERE k = 30; "
                  "UPDATE rf3.cc SET n = n + 7 WHERE k = 30 AND ck = 'x'; "
                  "APPLY BATCH")
        s = self.session(1)
        b = BatchStatement(batch_type=BatchType.COUNTER, consistency_level=Q)
        ps = s.prepare("UPDATE rf3.cc SET n = n + ? WHERE k = ? AND ck = ?")
        b.add(ps, (5, 30, "x"))
        b.add(ps, (-1, 30, "y"))
        s.execute(b)
        r = self.q(2, "SELECT a, b FROM rf3.c WHERE k = 30", ALL).one()
        self.assertEqual((r.a, r.b), (101, 2))
        self.assertEqual(self.value(2, 31, ALL), 10)
        rows = {(x.ck, x.n) for x in self.q(0, "SELECT ck, n FROM rf3.cc WHERE k = 30", ALL)}
        self.assertEqual(rows, {("x", 12), ("y", -1)})
        # a logged protocol batch of counters is refused as in Cassandra
        lb = BatchStatement(batch_type=BatchType.LOGGED, consistency_level=Q)
        lb.add(ps, (1, 30, "x"))
        with self.assertRaises(InvalidRequest) as cm:
            s.execute(lb)
        self.assertIn("Cannot include a counter statement in a logged batch", str(cm.exception))
        # DELETE of one counter column, then of the row
        self.q(0, "DELETE b FROM rf3.c WHERE k = 30")
        r = self.q(1, "SELECT a, b FROM rf3.c WHERE k = 30", ALL).one()
        self.assertEqual((r.a, r.b), (101, None))
        self.q(0, "DELETE FROM rf3.c WHERE k = 30")
        for i in range(3):
            self.assertIsNone(self.q(i, "SELECT * FROM rf3.c WHERE k = 30", ALL).one())
        # a deleted counter counts again from zero (new shards, later clocks)
        self.q(2, "UPDATE rf3.c SET a = a + 3 WHERE k = 30")
        self.q(0, "UPDATE rf3.c SET a = a + 4 WHERE k = 30")
        r = self.q(1, "SELECT a, b FROM rf3.c WHERE k = 30", ALL).one()
        self.assertEqual((r.a, r.b), (7, None))
        self.q(1, "DELETE FROM rf3.cc WHERE k = 30 AND ck = 'x'")
        rows = {(x.ck, x.n) for x in self.q(2, "SELECT ck, n FROM rf3.cc WHERE k = 30", ALL)}
        self.assertEqual(rows, {("y", -1)})

    def test_4_replica_killed_during_increments(self):
        ledger = Ledger()
        keys = [40, 41, 42]
        stop = threading.Event()
        bg = threading.Thread(target=self.run_increments,
                              args=([0, 1], keys, 150, ledger, "rf3.c", stop))
        bg.start()
        try:
            # kill node 2 once increments are flowing (some acknowledged)
            _wait(lambda: sum(1 for _ in ledger.acked) == len(keys) or not bg.is_alive(), 60,
                  "first increments acknowledged")
            self.nodes[2].kill()
        finally:
            stop_at = threading.Timer(120, stop.set)  # a hung worker cannot hang the test
            stop_at.start()
            bg.join()
            stop_at.cancel()
        self.assertTrue(any(ledger.acked.values()))
        self.drop_session(2)
        self._converge("node 2 killed")
        # more increments with node 2 down
        self.run_increments([0, 1], keys, 30, ledger)
        self.restart(2)
        rc, out = self.admin(0, "repair", "rf3")
        self.assertEqual(rc, 0, out)
        _wait(self.in_sync, 60, "equal checksums of rf3.c after repair", step=0.5)
        sys.stderr.write("test_4: acknowledged %r, timed out (lo, hi) %r\n"
                         % (ledger.acked, ledger.lost))
        for k in keys:
            for i in range(3):
                self.assert_within(self.value(i, k, ONE), ledger, k, "ONE on node %d" % i)
            got = self.value(0, k, ALL)
            self.assert_within(got, ledger, k, "ALL")
            if not ledger.lost.get(k):
                self.assertEqual(got, ledger.acked[k])
            for i in range(3):  # every replica holds the same value
                self.assertEqual(self.value(i, k, ONE), got)

    def test_5_forwarded_to_the_leader(self):
        ledger = Ledger()
        keys = [50, 51, 52, 53, 54]
        self.run_increments([0, 1, 2], keys, 20, ledger, table="rf1.c")
        for k in keys:
            got = self.value(0, k, ONE, table="rf1.c")
            self.assert_within(got, ledger, k, "RF=1")
            if not ledger.lost.get(k):
                self.assertEqual(got, ledger.acked[k])

    def test_6_basalt_stress_counter_mode(self):
        """basalt-stress counter (the C driver's prepared increments): 300
        increments of 1 over 10 keys sum to 300 read at ALL."""
        stress = os.environ.get("BASALT_STRESS") or os.path.join(
            os.path.dirname(os.path.dirname(harness.BASALTD)), "client", "basalt-stress")
        hosts = self.nodes[0].host  # the driver learns the others from system.peers
        p = subprocess.run([stress, "counter", "n=300", "cl=QUORUM", "-pop", "uniform", "-dist",
                            "10", "-replication", "3", "-keyspace", "cs", "-node", hosts,
                            "-port", str(self.nodes[0].port), "-rate", "threads=8"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
        out = p.stdout.decode()
        self.assertEqual(p.returncode, 0, out)
        rows = list(self.q(1, "SELECT v FROM cs.counter1", ALL))
        self.assertLessEqual(len(rows), 10)
        if "timeout" not in out:
            self.assertEqual(sum(r.v for r in rows), 300, out)
        else:
            self.assertLessEqual(sum(r.v for r in rows), 300, out)

    def test_7_timed_out_increments_are_bounded(self):
        """A paused replica makes increments at ALL time out (write type
        COUNTER, not retried); each was applied by its leader, so once the
        replica is back the value lies in [acked, acked + timed out]; an
        increment answered Unavailable was not applied at all."""
        k = 70
        self.q(0, "UPDATE rf3.c SET a = a + 1000 WHERE k = %d" % k, ALL)
        ledger = Ledger()
        ledger.ack(k, 1000)
        pid = self.nodes[2].proc.pid
        os.kill(pid, signal.SIGSTOP)
        try:
            first = None
            for n in range(2):
                try:
                    self.q(0, "UPDATE rf3.c SET a = a + 7 WHERE k = %d" % k, ALL)
                    ledger.ack(k, 7)
                    outcome = "ok"
                except WriteTimeout as e:
                    self.assertEqual(e.write_type, WriteType.COUNTER, str(e))
                    ledger.timeout(k, 7)
                    outcome = "timeout"
                except Unavailable:
                    outcome = "unavailable"  # refused before anything was applied
                if first is None:
                    first = outcome
            self.q(1, "UPDATE rf3.c SET a = a + 1 WHERE k = %d" % k, Q)
            ledger.ack(k, 1)
        finally:
            os.kill(pid, signal.SIGCONT)
        self.assertEqual(first, "timeout", "a paused replica must time the first increment out")
        self._converge("node 2 resumed")
        got = self.value(0, k, ALL)
        sys.stderr.write("test_7: read %r, acknowledged %r, timed out %r\n"
                         % (got, ledger.acked, ledger.lost))
        self.assert_within(got, ledger, k, "ALL after the pause")
        for i in range(3):
            _wait(lambda i=i: self.value(i, k, ONE) == got, 30,
                  "node %d holds %r at ONE" % (i, got))

    # -- repair helpers ---------------------------------------------------------
    def admin(self, i, *args):
        n = self.nodes[i]
        p = subprocess.run([_admin_bin(), "-h", n.host, "-p", str(n.admin_port),
                            "--token-file", os.path.join(n.data_dir, "admin_token")] + list(args),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=150)
        return p.returncode, p.stdout.decode()

    def in_sync(self):
        import json
        import urllib.request
        n = self.nodes[0]
        req = urllib.request.Request("http://%s:%d/checksum?keyspace=rf3&table=c"
                                     % (n.host, n.admin_port), headers=n.admin_headers())
        with urllib.request.urlopen(req, timeout=60) as r:
            (t,) = json.loads(r.read().decode())["tables"]
        c = [x.get("checksum") for x in t["nodes"]]
        return len(c) == 3 and None not in c and len(set(c)) == 1


if __name__ == "__main__":
    harness.main()
