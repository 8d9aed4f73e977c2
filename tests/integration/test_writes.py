"""
test_writes.py - batches, TTL, write timestamps, every kind of delete,
collection updates and the DDL statements, through the python driver.
"""
import time

import harness

from cassandra import AlreadyExists, InvalidRequest
from cassandra.protocol import SyntaxException
from cassandra.query import BatchStatement, BatchType, SimpleStatement


class WritesTest(harness.NodeTestCase):

    def q(self, cql, params=None):
        return list(self.session.execute(cql, params))

    # ------------------------------------------------------------ batches
    def test_batches(self):
        s = self.session
        s.execute("CREATE TABLE b (k int, c int, v text, PRIMARY KEY (k, c))")
        ins = s.prepare("INSERT INTO b (k, c, v) VALUES (?, ?, ?)")
        for bt in (BatchType.LOGGED, BatchType.UNLOGGED):
            b = BatchStatement(batch_type=bt)
            base = 0 if bt == BatchType.LOGGED else 100
            b.add(ins, (base + 1, 1, "p1"))
            b.add(ins, (base + 2, 1, "p2"))
            b.add(SimpleStatement("INSERT INTO b (k, c, v) VALUES (%s, %s, %s)"),
                  (base + 1, 2, "s1"))
            b.add("UPDATE b SET v = 'u' WHERE k = %d AND c = 3" % (base + 3))
            b.add(s.prepare("DELETE FROM b WHERE k = ? AND c = ?"), (base + 2, 1))
            s.execute(b)
            got = sorted((r.k, r.c, r.v) for r in self.q(
                "SELECT * FROM b WHERE k IN (%d, %d, %d)" % (base + 1, base + 2, base + 3)))
            # the DELETE in the same batch shares the batch timestamp and a
            # tombstone wins a timestamp tie: (base+2, 1) is gone
            self.assertEqual(got, [(base + 1, 1, "p1"), (base + 1, 2, "s1"),
                                   (base + 3, 3, "u")])
        # text batches
        s.execute("BEGIN BATCH "
                  "INSERT INTO b (k, c, v) VALUES (200, 1, 'a'); "
                  "INSERT INTO b (k, c, v) VALUES (201, 1, 'b'); "
                  "UPDATE b SET v = 'c' WHERE k = 200 AND c = 2; "
                  "APPLY BATCH")
        s.execute("BEGIN UNLOGGED BATCH USING TIMESTAMP 1000 "
                  "INSERT INTO b (k, c, v) VALUES (202, 1, 'x') "
                  "INSERT INTO b (k, c, v) VALUES (202, 2, 'y') "
                  "APPLY BATCH")
        self.assertEqual(sorted((r.k, r.c, r.v) for r in self.q(
            "SELECT * FROM b WHERE k IN (200, 201, 202)")),
            [(200, 1, "a"), (200, 2, "c"), (201, 1, "b"), (202, 1, "x"), (202, 2, "y")])
        self.assertEqual(self.q("SELECT writetime(v) FROM b WHERE k = 202 AND c = 2")[0][0], 1000)
        # prepared text batch with markers
        pb = s.prepare("BEGIN BATCH INSERT INTO b (k, c, v) VALUES (?, 1, ?); "
                       "INSERT INTO b (k, c, v) VALUES (?, 2, ?); APPLY BATCH")
        s.execute(pb, [300, "q1", 300, "q2"])
        self.assertEqual([r.v for r in self.q("SELECT v FROM b WHERE k = 300")], ["q1", "q2"])
        # prepared text batch over two tables: each marker typed by its
        # own statement's table
        s.execute("CREATE TABLE b2 (name text PRIMARY KEY, n bigint)")
        pb2 = s.prepare("BEGIN UNLOGGED BATCH INSERT INTO b (k, c, v) VALUES (?, ?, ?); "
                        "INSERT INTO b2 (name, n) VALUES (?, ?) APPLY BATCH")
        self.assertEqual([c.type.typename for c in pb2.column_metadata],
                         ["int", "int", "varchar", "varchar", "bigint"])
        s.execute(pb2, [301, 1, "x", "key", 2 ** 40])
        self.assertEqual(self.q("SELECT v FROM b WHERE k = 301")[0].v, "x")
        self.assertEqual(self.q("SELECT n FROM b2 WHERE name = 'key'")[0].n, 2 ** 40)
        with self.assertRaises(InvalidRequest):
            s.prepare("BEGIN BATCH INSERT INTO b (k, c, v) VALUES (?, ?, ?); "
                      "INSERT INTO b2 (name, nope) VALUES (?, ?) APPLY BATCH")
        # a SELECT is not allowed in a batch (a syntax error, as in Cassandra)
        with self.assertRaises(SyntaxException):
            s.execute("BEGIN BATCH SELECT * FROM b; APPLY BATCH")
        # a failing child fails the whole batch and writes nothing
        b = BatchStatement()
        b.add(ins, (400, 1, "never"))
        b.add("INSERT INTO b (k, c, nope) VALUES (400, 2, 'x')")
        with self.assertRaises(InvalidRequest):
            s.execute(b)
        self.assertEqual(self.q("SELECT * FROM b WHERE k = 400"), [])

    # ------------------------------------------------------------ TTL, timestamps
    def test_ttl_and_default_ttl(self):
        s = self.session
        s.execute("CREATE TABLE t1 (k int PRIMARY KEY, a int, b int)")
        s.execute("CREATE TABLE t2 (k int PRIMARY KEY, a int) WITH default_time_to_live = 2")
        s.execute("INSERT INTO t1 (k, a, b) VALUES (1, 1, 1) USING TTL 2")
        s.execute("INSERT INTO t1 (k, a) VALUES (2, 2)")
        s.execute("UPDATE t1 USING TTL 2 SET b = 22 WHERE k = 2")
        s.execute("INSERT INTO t2 (k, a) VALUES (1, 1)")
        s.execute("INSERT INTO t2 (k, a) VALUES (2, 2) USING TTL 0")   # 0: never expires
        ttl = s.prepare("INSERT INTO t2 (k, a) VALUES (?, ?) USING TTL ?")
        s.execute(ttl, [3, 3, 100])
        self.assertEqual(self.q("SELECT a, b FROM t1 WHERE k = 1")[0], (1, 1))
        self.assertEqual(self.q("SELECT a, b FROM t1 WHERE k = 2")[0], (2, 22))
        self.assertEqual(sorted(r.k for r in self.q("SELECT k FROM t2")), [1, 2, 3])
        t = self.q("SELECT ttl(a) FROM t2 WHERE k = 1")[0][0]
        self.assertIn(t, (1, 2))
        self.assertIsNone(self.q("SELECT ttl(a) FROM t2 WHERE k = 2")[0][0])
        time.sleep(3.1)  # past the 2 s TTLs
        self.assertEqual(self.q("SELECT * FROM t1 WHERE k = 1"), [])   # row marker expired too
        self.assertEqual(self.q("SELECT a, b FROM t1 WHERE k = 2")[0], (2, None))
        self.assertEqual(sorted(r.k for r in self.q("SELECT k FROM t2")), [2, 3])
        self.assertEqual(self.q("SELECT count(*) FROM t1")[0][0], 1)

    def test_timestamps_lww(self):
        s = self.session
        s.execute("CREATE TABLE lww (k int PRIMARY KEY, v text)")
        s.execute("INSERT INTO lww (k, v) VALUES (1, 'new') USING TIMESTAMP 2000")
        s.execute("INSERT INTO lww (k, v) VALUES (1, 'old') USING TIMESTAMP 1000")
        self.assertEqual(self.q("SELECT v FROM lww WHERE k = 1")[0].v, "new")
        s.execute("DELETE FROM lww USING TIMESTAMP 1500 WHERE k = 1")
        self.assertEqual(self.q("SELECT v FROM lww WHERE k = 1")[0].v, "new")
        s.execute("UPDATE lww USING TIMESTAMP 3000 SET v = 'newer' WHERE k = 1")
        self.assertEqual(self.q("SELECT v, writetime(v) FROM lww WHERE k = 1")[0], ("newer", 3000))
        s.execute("DELETE FROM lww USING TIMESTAMP 3000 WHERE k = 1")  # tie: tombstone wins
        self.assertEqual(self.q("SELECT v FROM lww WHERE k = 1"), [])
        # the protocol-level default timestamp (driver client timestamps)
        st = SimpleStatement("INSERT INTO lww (k, v) VALUES (2, 'client')")
        s.execute(st)
        wt = self.q("SELECT writetime(v) FROM lww WHERE k = 2")[0][0]
        self.assertGreater(wt, int((time.time() - 600) * 1e6))
        self.assertLess(wt, int((time.time() + 600) * 1e6))

    # ------------------------------------------------------------ deletes
    def test_deletes(self):
        s = self.session
        s.execute("CREATE TABLE d (k int, c int, a int, b int, st int static, "
                  "m map<text, int>, st2 set<int>, l list<text>, PRIMARY KEY (k, c))")
        ins = s.prepare("INSERT INTO d (k, c, a, b, m, st2, l) VALUES (?, ?, ?, ?, ?, ?, ?)")
        for k in range(5):
            s.execute("UPDATE d SET st = %s WHERE k = %s", (k, k))
            for c in range(10):
                s.execute(ins, (k, c, c, c, {"x": 1, "y": 2}, {1, 2, 3}, ["p", "q", "r"]))

        def cs(k):
            return [r.c for r in self.q("SELECT c FROM d WHERE k = %d" % k)]
        # cell
        s.execute("DELETE a FROM d WHERE k = 0 AND c = 1")
        r = self.q("SELECT a, b FROM d WHERE k = 0 AND c = 1")[0]
        self.assertEqual((r.a, r.b), (None, 1))
        # row
        s.execute("DELETE FROM d WHERE k = 0 AND c = 2")
        self.assertEqual(cs(0), [0, 1, 3, 4, 5, 6, 7, 8, 9])
        # range (clustering slices)
        s.execute("DELETE FROM d WHERE k = 0 AND c >= 5 AND c < 8")
        self.assertEqual(cs(0), [0, 1, 3, 4, 8, 9])
        s.execute("DELETE FROM d WHERE k = 0 AND c > 8")
        self.assertEqual(cs(0), [0, 1, 3, 4, 8])
        # IN on clustering
        s.execute("DELETE FROM d WHERE k = 0 AND c IN (0, 3)")
        self.assertEqual(cs(0), [1, 4, 8])
        # partition (also removes the static column)
        s.execute("DELETE FROM d WHERE k = 1")
        self.assertEqual(self.q("SELECT * FROM d WHERE k = 1"), [])
        # partitions by IN
        s.execute("DELETE FROM d WHERE k IN (2, 3)")
        self.assertEqual(sorted(r.k for r in self.q("SELECT DISTINCT k FROM d")), [0, 4])
        # collection elements
        s.execute("DELETE m['x'] FROM d WHERE k = 4 AND c = 0")
        s.execute("UPDATE d SET st2 = st2 - {2} WHERE k = 4 AND c = 0")
        s.execute("DELETE l[1] FROM d WHERE k = 4 AND c = 0")
        r = self.q("SELECT m, st2, l FROM d WHERE k = 4 AND c = 0")[0]
        self.assertEqual(dict(r.m), {"y": 2})
        self.assertEqual(set(r.st2), {1, 3})
        self.assertEqual(list(r.l), ["p", "r"])
        # whole collections (deleted, and set to null)
        s.execute("DELETE m, l FROM d WHERE k = 4 AND c = 1")
        s.execute("UPDATE d SET st2 = null WHERE k = 4 AND c = 1")
        r = self.q("SELECT m, st2, l, a FROM d WHERE k = 4 AND c = 1")[0]
        self.assertEqual((r.m, r.st2, r.l, r.a), (None, None, None, 1))
        # static column: gone for every row of the partition, rows stay
        self.assertEqual({r.st for r in self.q("SELECT st FROM d WHERE k = 4")}, {4})
        s.execute("DELETE st FROM d WHERE k = 4")
        rows = self.q("SELECT c, st FROM d WHERE k = 4")
        self.assertEqual(len(rows), 10)
        self.assertTrue(all(r.st is None for r in rows))
        # prepared delete with markers
        pd = s.prepare("DELETE b FROM d WHERE k = ? AND c = ?")
        s.execute(pd, [4, 9])
        self.assertIsNone(self.q("SELECT b FROM d WHERE k = 4 AND c = 9")[0].b)
        # a delete of a column the table lacks
        with self.assertRaises(InvalidRequest):
            s.execute("DELETE nope FROM d WHERE k = 4 AND c = 9")

    # ------------------------------------------------------------ collections
    def test_collection_updates(self):
        s = self.session
        s.execute("CREATE TABLE cu (k int PRIMARY KEY, l list<int>, s set<text>, "
                  "m map<int, text>)")
        s.execute("INSERT INTO cu (k, l, s, m) VALUES (1, [1, 2, 3], {'a'}, {1: 'one'})")
        s.execute("UPDATE cu SET l = l + [4, 5] WHERE k = 1")
        s.execute("UPDATE cu SET l = [0] + l WHERE k = 1")
        s.execute("UPDATE cu SET l = [-2, -1] + l WHERE k = 1")
        self.assertEqual(self.q("SELECT l FROM cu WHERE k = 1")[0].l, [-2, -1, 0, 1, 2, 3, 4, 5])
        s.execute("UPDATE cu SET l = l - [2, 4, 99] WHERE k = 1")
        self.assertEqual(self.q("SELECT l FROM cu WHERE k = 1")[0].l, [-2, -1, 0, 1, 3, 5])
        s.execute("UPDATE cu SET l[2] = 100 WHERE k = 1")
        self.assertEqual(self.q("SELECT l FROM cu WHERE k = 1")[0].l, [-2, -1, 100, 1, 3, 5])
        with self.assertRaises(InvalidRequest):
            s.execute("UPDATE cu SET l[50] = 1 WHERE k = 1")
        s.execute("UPDATE cu SET s = s + {'c', 'b'} WHERE k = 1")
        s.execute("UPDATE cu SET s = s - {'a'} WHERE k = 1")
        self.assertEqual(set(self.q("SELECT s FROM cu WHERE k = 1")[0].s), {"b", "c"})
        s.execute("UPDATE cu SET m[2] = 'two', m[1] = 'uno' WHERE k = 1")
        s.execute("UPDATE cu SET m = m + {3: 'three'} WHERE k = 1")
        s.execute("UPDATE cu SET m = m - {2} WHERE k = 1")
        self.assertEqual(dict(self.q("SELECT m FROM cu WHERE k = 1")[0].m), {1: "uno", 3: "three"})
        # prepared collection updates
        pa = s.prepare("UPDATE cu SET l = l + ?, s = s + ?, m[?] = ? WHERE k = ?")
        s.execute(pa, [[7], {"z"}, 9, "nine", 1])
        r = self.q("SELECT l, s, m FROM cu WHERE k = 1")[0]
        self.assertEqual(r.l, [-2, -1, 100, 1, 3, 5, 7])
        self.assertEqual(set(r.s), {"b", "c", "z"})
        self.assertEqual(dict(r.m), {1: "uno", 3: "three", 9: "nine"})
        # overwrite replaces the whole collection
        s.execute("UPDATE cu SET l = [42], s = {}, m = {5: 'five'} WHERE k = 1")
        r = self.q("SELECT l, s, m FROM cu WHERE k = 1")[0]
        self.assertEqual((r.l, r.s, dict(r.m)), ([42], None, {5: "five"}))
        # append to a missing row creates it
        s.execute("UPDATE cu SET l = l + [1] WHERE k = 2")
        self.assertEqual(self.q("SELECT l FROM cu WHERE k = 2")[0].l, [1])

    # ------------------------------------------------------------ DDL
    def test_ddl(self):
        s = self.session
        s.execute("CREATE TABLE ddl (k int PRIMARY KEY, a int)")
        s.execute("INSERT INTO ddl (k, a) VALUES (1, 1)")
        with self.assertRaises(AlreadyExists) as cm:
            s.execute("CREATE TABLE ddl (k int PRIMARY KEY)")
        self.assertEqual((cm.exception.keyspace, cm.exception.table), ("ks", "ddl"))
        s.execute("CREATE TABLE IF NOT EXISTS ddl (k int PRIMARY KEY)")
        s.execute("ALTER TABLE ddl ADD b text")
        s.execute("ALTER TABLE ddl ADD (c list<int>, d int)")
        s.execute("INSERT INTO ddl (k, b, c) VALUES (2, 'bee', [1])")
        self.assertEqual(sorted(tuple(r) for r in self.q("SELECT k, a, b, c, d FROM ddl")),
                         [(1, 1, None, None, None), (2, None, "bee", [1], None)])
        self.cluster.refresh_table_metadata("ks", "ddl")
        self.assertEqual(set(self.cluster.metadata.keyspaces["ks"].tables["ddl"].columns),
                         {"k", "a", "b", "c", "d"})
        s.execute("ALTER TABLE ddl DROP a")
        with self.assertRaises(InvalidRequest):
            s.execute("SELECT a FROM ddl")
        self.assertEqual(sorted(tuple(r) for r in self.q("SELECT * FROM ddl")),
                         [(1, None, None, None), (2, "bee", [1], None)])
        with self.assertRaises(InvalidRequest):
            s.execute("ALTER TABLE ddl DROP k")
        with self.assertRaises(InvalidRequest):
            s.execute("ALTER TABLE ddl ADD b int")
        s.execute("ALTER TABLE ddl WITH default_time_to_live = 100 AND comment = 'c'")
        self.cluster.refresh_table_metadata("ks", "ddl")
        opts = self.cluster.metadata.keyspaces["ks"].tables["ddl"].options
        self.assertEqual((opts["default_time_to_live"], opts["comment"]), (100, "c"))
        # TRUNCATE
        s.execute("TRUNCATE ddl")
        self.assertEqual(self.q("SELECT * FROM ddl"), [])
        s.execute("INSERT INTO ddl (k, b) VALUES (3, 'after')")
        self.assertEqual([r.k for r in self.q("SELECT k FROM ddl")], [3])
        s.execute("TRUNCATE TABLE ks.ddl")
        self.assertEqual(self.q("SELECT * FROM ddl"), [])
        # DROP TABLE, IF EXISTS
        s.execute("DROP TABLE ddl")
        with self.assertRaises(InvalidRequest):
            s.execute("SELECT * FROM ddl")
        with self.assertRaises(InvalidRequest):
            s.execute("DROP TABLE ddl")
        s.execute("DROP TABLE IF EXISTS ddl")
        # re-created table starts empty
        s.execute("CREATE TABLE ddl (k int PRIMARY KEY, a int)")
        self.assertEqual(self.q("SELECT * FROM ddl"), [])

    def test_keyspaces_and_use(self):
        s = self.session
        s.execute("CREATE KEYSPACE k2 WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}")
        with self.assertRaises(AlreadyExists) as cm:
            s.execute("CREATE KEYSPACE k2 WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}")
        self.assertEqual(cm.exception.keyspace, "k2")
        s.execute("CREATE KEYSPACE IF NOT EXISTS k2 WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}")
        s.execute("ALTER KEYSPACE k2 WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 2}")
        self.cluster.refresh_keyspace_metadata("k2")
        self.assertEqual(self.cluster.metadata.keyspaces["k2"].replication_strategy.replication_factor, 2)
        # USE switches the session keyspace (a second session, so this
        # class's session keeps ks)
        s2 = self.cluster.connect()
        try:
            s2.execute("USE k2")
            s2.execute("CREATE TABLE u (k int PRIMARY KEY, v int)")
            s2.execute("INSERT INTO u (k, v) VALUES (1, 10)")
            self.assertEqual(s2.execute("SELECT v FROM u WHERE k = 1").one().v, 10)
            self.assertEqual(s.execute("SELECT v FROM k2.u WHERE k = 1").one().v, 10)
            s2.execute('USE "ks"')
            with self.assertRaises(InvalidRequest):
                s2.execute("SELECT v FROM u WHERE k = 1")
        finally:
            s2.shutdown()
        with self.assertRaises(InvalidRequest):
            s.execute("USE nokeyspace")
        s.execute("DROP KEYSPACE k2")
        with self.assertRaises(InvalidRequest) as cm:
            s.execute("SELECT * FROM k2.u")
        self.assertIn("does not exist", str(cm.exception))
        with self.assertRaises(InvalidRequest):
            s.execute("DROP KEYSPACE k2")
        s.execute("DROP KEYSPACE IF EXISTS k2")
        # re-created keyspace has no tables left over
        s.execute("CREATE KEYSPACE k2 WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}")
        with self.assertRaises(InvalidRequest):
            s.execute("SELECT * FROM k2.u")
        s.execute("DROP KEYSPACE k2")


if __name__ == "__main__":
    harness.main()
