"""
test_describe.py - server-side DESCRIBE (issue 23, finding 2): what
cqlsh 6 sends to a server of version 4.0 or later, answered as Cassandra
4.0 does (rows of keyspace_name, type, name[, create_statement]).

A keyspace of 10 tables using every schema feature Basalt has (inline and
composite partition keys, several clustering columns in mixed order,
static columns, every native type, collections, frozen and nested
collections, tuples, quoted and reserved identifiers, table options with
quotes in them) is described by the server through python3-cassandra and
by basalt-shell's client-side DESCRIBE; the texts must be equal, for the
keyspace and for each table.  The server's statements must also run back:
the keyspace dropped and recreated from them describes the same.
"""
import os
import subprocess

import harness

from cassandra import InvalidRequest
from cassandra.protocol import SyntaxException

KS = "desc_ks"
TABLES = [
    "CREATE TABLE t01 (k int PRIMARY KEY, v text)",
    "CREATE TABLE t02 (a int, b text, c timestamp, v double, PRIMARY KEY ((a, b), c)) "
    "WITH CLUSTERING ORDER BY (c DESC)",
    "CREATE TABLE t03 (k int, c1 int, c2 text, c3 uuid, s int static, s2 text static, v blob, "
    "PRIMARY KEY (k, c1, c2, c3)) WITH CLUSTERING ORDER BY (c1 ASC, c2 DESC, c3 ASC)",
    "CREATE TABLE t04 (k int PRIMARY KEY, a ascii, b bigint, bl blob, bo boolean, d date, "
    "dec decimal, dbl double, du duration, f float, i inet, n int, si smallint, t text, "
    "tm time, ts timestamp, tu timeuuid, ti tinyint, u uuid, vc varchar, vi varint)",
    "CREATE TABLE t05 (k int PRIMARY KEY, l list<int>, s set<text>, m map<text, int>)",
    "CREATE TABLE t06 (k int PRIMARY KEY, fl frozen<list<int>>, "
    "nm map<text, frozen<list<int>>>, tp tuple<int, text>, fs frozen<set<frozen<map<int, text>>>>)",
    "CREATE TABLE t07 (k int, c int, v text, PRIMARY KEY (k, c)) WITH default_time_to_live = 3600 "
    "AND comment = 'it''s a comment' AND gc_grace_seconds = 86400",
    "CREATE TABLE t08 (\"MixedCase\" int PRIMARY KEY, \"select\" text, \"with space\" int)",
    "CREATE TABLE t09 (k blob, c timeuuid, PRIMARY KEY (k, c)) WITH CLUSTERING ORDER BY (c DESC)",
    "CREATE TABLE \"T10\" (k1 int, k2 int, k3 text, c int, PRIMARY KEY ((k1, k2, k3), c))",
]


class DescribeTest(harness.NodeTestCase):
    keyspace = None

    @classmethod
    def setUpClass(cls):
        super(DescribeTest, cls).setUpClass()
        cls.create_schema()

    @classmethod
    def create_schema(cls):
        s = cls.session
        s.execute("CREATE KEYSPACE %s WITH replication = "
                  "{'class': 'SimpleStrategy', 'replication_factor': 1}" % KS)
        s.set_keyspace(KS)
        for t in TABLES:
            s.execute(t)

    def shell(self, cmd):
        argv = [os.environ["BASALT_SHELL"], "--host", self.node.host,
                "--port", str(self.node.port), "-e", cmd]
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        return p.stdout.decode()

    def server(self, cmd):
        return list(self.session.execute(cmd))

    @staticmethod
    def as_shell_prints(stmts):
        """The layout of basalt-shell's (and cqlsh's) DESCRIBE output."""
        return "\n" + "".join(s + "\n\n" for s in stmts)

    def test_keyspace_equals_shell(self):
        rows = self.server("DESCRIBE KEYSPACE %s" % KS)
        self.assertEqual(len(rows), 11)
        self.assertEqual([(r.keyspace_name, r.type) for r in rows[:2]],
                         [(KS, "keyspace"), (KS, "table")])
        self.assertEqual(sorted(r.name for r in rows[1:]),
                         sorted(["T10"] + ["t%02d" % i for i in range(1, 10)]))
        got = self.as_shell_prints([r.create_statement for r in rows])
        self.assertEqual(got, self.shell("DESCRIBE KEYSPACE %s" % KS))

    def test_each_table_equals_shell(self):
        for r in self.server("DESCRIBE TABLES"):
            if r.keyspace_name != KS:
                continue
            q = '%s."%s"' % (KS, r.name) if r.name != r.name.lower() else "%s.%s" % (KS, r.name)
            rows = self.server("DESCRIBE TABLE " + q)
            self.assertEqual(len(rows), 1)
            self.assertEqual(self.as_shell_prints([rows[0].create_statement]),
                             self.shell("DESCRIBE TABLE " + q), r.name)

    def test_schema_listing_and_errors(self):
        names = [r.name for r in self.server("DESCRIBE KEYSPACES")]
        self.assertIn(KS, names)
        self.assertIn("system", names)
        schema = self.server("DESCRIBE SCHEMA")
        self.assertNotIn("system", [r.keyspace_name for r in schema])
        self.assertIn(KS, [r.keyspace_name for r in schema])
        full = self.server("DESCRIBE FULL SCHEMA")
        self.assertIn("system_schema", [r.keyspace_name for r in full])
        only = self.server("DESCRIBE ONLY KEYSPACE %s" % KS)
        self.assertEqual(len(only), 1)
        self.assertEqual(self.server("DESCRIBE %s.t01" % KS)[0].type, "table")
        cl = self.server("DESCRIBE CLUSTER")[0]
        self.assertTrue(cl.partitioner.endswith("Murmur3Partitioner"))
        with self.assertRaises(InvalidRequest):
            self.server("DESCRIBE TABLE %s.nope" % KS)
        with self.assertRaises(InvalidRequest):
            self.server("DESCRIBE KEYSPACE nope")

    def test_types_functions_aggregates_equal_shell(self):
        # none exist in Basalt: empty listings (cqlsh prints nothing for
        # them, nor does basalt-shell), and an element is not found with
        # Cassandra 4.0's message, which cqlsh prints alone
        for what in ("TYPES", "FUNCTIONS", "AGGREGATES"):
            rs = self.session.execute("DESCRIBE " + what)
            self.assertEqual(list(rs), [], what)
            self.assertEqual(rs.column_names, ["keyspace_name", "type", "name"], what)
            self.assertEqual(self.shell("USE %s; DESCRIBE %s" % (KS, what)), "", what)
        for what, word in (("TYPE", "type"), ("FUNCTION", "function"),
                           ("AGGREGATE", "aggregate")):
            msg = "User defined %s 'x' not found in '%s'" % (word, KS)
            with self.assertRaisesRegex(InvalidRequest, msg):
                self.server("DESCRIBE %s %s.x" % (what, KS))
            p = subprocess.run([os.environ["BASALT_SHELL"], "--host", self.node.host,
                                "--port", str(self.node.port), "-e",
                                "DESCRIBE %s %s.x" % (what, KS)],
                               capture_output=True, text=True, timeout=60)
            self.assertEqual(p.stdout, "")
            self.assertEqual(p.stderr.strip(), msg)
        with self.assertRaisesRegex(InvalidRequest, "'nope' not found in keyspaces"):
            self.server("DESCRIBE TYPE nope.x")
        with self.assertRaises((InvalidRequest, SyntaxException)):
            self.server("DESCRIBE INDEX %s.i" % KS)

    def test_zz_statements_run_back(self):
        before = [r.create_statement for r in self.server("DESCRIBE KEYSPACE %s" % KS)]
        self.session.execute("DROP KEYSPACE %s" % KS)
        for st in before:
            self.session.execute(st)
        after = [r.create_statement for r in self.server("DESCRIBE KEYSPACE %s" % KS)]
        self.assertEqual(before, after)


if __name__ == "__main__":
    harness.main()
