"""
test_types.py - schema metadata, every CQL type, nulls and prepared
statements through the unmodified python driver (protocol v4).

One node for the whole file.  Values are written both through prepared
statements (driver-side binary encoding) and as CQL literals in the
query text (server-side literal parsing), and read back compared exactly.
"""
import datetime
import decimal
import math
import random
import struct
import uuid

import harness

from cassandra.util import Date, Duration, OrderedMapSerializedKey, SortedSet, Time

ALL_TYPES = [
    ("a_ascii", "ascii"), ("a_text", "text"), ("a_varchar", "varchar"),
    ("a_blob", "blob"), ("a_bool", "boolean"), ("a_tiny", "tinyint"),
    ("a_small", "smallint"), ("a_int", "int"), ("a_big", "bigint"),
    ("a_varint", "varint"), ("a_float", "float"), ("a_double", "double"),
    ("a_dec", "decimal"), ("a_ts", "timestamp"), ("a_date", "date"),
    ("a_time", "time"), ("a_uuid", "uuid"), ("a_tuuid", "timeuuid"),
    ("a_inet4", "inet"), ("a_inet6", "inet"), ("a_dur", "duration"),
    ("a_list", "list<int>"), ("a_set", "set<text>"),
    ("a_map", "map<text, int>"),
    ("a_nested", "map<text, frozen<list<int>>>"),
    ("a_lset", "list<frozen<set<bigint>>>"),
    ("a_fmap", "frozen<map<int, frozen<set<text>>>>"),
    ("a_tuple", "tuple<int, text, double>"),
    ("a_tnest", "tuple<frozen<list<text>>, bigint>"),
]

BIG = 1 << 20  # 1 MiB


def sample_values(seed):
    rnd = random.Random(seed)
    blob = bytes(rnd.getrandbits(8) for _ in range(BIG)) if seed == 1 else b"\x00\xffab"
    return {
        "a_ascii": "plain ascii ~!@#$%^&*()",
        "a_text": "unicode: h\u00e9llo \u4e16\u754c \U0001F600 \U00010348 end",
        "a_varchar": "varchar \u00df",
        "a_blob": blob,
        "a_bool": seed % 2 == 1,
        "a_tiny": -128 if seed == 1 else 127,
        "a_small": -32768 if seed == 1 else 32767,
        "a_int": -2147483648 if seed == 1 else 2147483647,
        "a_big": -9223372036854775808 if seed == 1 else 9223372036854775807,
        "a_varint": -(10 ** 60 + 7) if seed == 1 else 2 ** 200 + 1,
        "a_float": 1.5 if seed == 1 else -393216.75,
        "a_double": float("nan") if seed == 1 else float("inf"),
        "a_dec": decimal.Decimal("-12345678901234567890.000000000123456789"),
        "a_ts": datetime.datetime(2024, 2, 29, 23, 59, 58, 123000),
        "a_date": Date(datetime.date(1969, 7, 20)),
        "a_time": Time(datetime.time(13, 14, 15, 123456)),
        "a_uuid": uuid.UUID("6ba7b810-9dad-41d1-80b4-00c04fd430c8"),
        "a_tuuid": uuid.UUID("e7b84d46-d8ec-11ee-8c90-0242ac120002"),
        "a_inet4": "192.168.1.254",
        "a_inet6": "2001:db8::ff00:42:8329",
        "a_dur": Duration(14, 3, 123456789) if seed != 1 else Duration(-1, -2, -3),
        "a_list": [3, 1, 2, 1, -5],
        "a_set": {"b", "a", "\u00e9", "z"},
        "a_map": {"one": 1, "two": 2, "\U0001F600": -1},
        "a_nested": {"x": [1, 2, 3], "y": []},
        "a_lset": [{1, 2}, {9223372036854775807}],
        "a_fmap": {2: {"b"}, 1: {"a", "c"}},
        "a_tuple": (7, "seven", 7.5),
        "a_tnest": (["p", "q"], -1),
    }


def norm(v):
    """Driver result value -> plain python for exact comparison."""
    if isinstance(v, (SortedSet, set, frozenset)):
        return ("set", sorted((norm(x) for x in v), key=repr))
    if isinstance(v, (OrderedMapSerializedKey, dict)):
        return ("map", sorted(((norm(k), norm(x)) for k, x in v.items()), key=repr))
    if isinstance(v, (list, tuple)):
        return type(v).__name__, [norm(x) for x in v]
    if isinstance(v, float) and math.isnan(v):
        return "NaN"
    if isinstance(v, Date):
        return ("date", v.days_from_epoch)
    if isinstance(v, datetime.date) and not isinstance(v, datetime.datetime):
        return ("date", (v - datetime.date(1970, 1, 1)).days)
    if isinstance(v, Time):
        return ("time", v.nanosecond_time)
    if isinstance(v, datetime.time):
        return ("time", Time(v).nanosecond_time)
    return v


class TypesTest(harness.NodeTestCase):

    # ------------------------------------------------------------------
    def test_01_metadata(self):
        s = self.session
        s.execute("CREATE TABLE meta (a int, b text, c timestamp, d bigint, "
                  "s1 text static, v1 map<text, frozen<list<int>>>, v2 blob, "
                  "PRIMARY KEY ((a, b), c, d)) WITH CLUSTERING ORDER BY (c DESC, d ASC) "
                  "AND default_time_to_live = 3600 AND gc_grace_seconds = 77 "
                  "AND comment = 'hello'")
        self.cluster.refresh_schema_metadata()
        ks = self.cluster.metadata.keyspaces["ks"]
        self.assertEqual(ks.replication_strategy.name, "SimpleStrategy")
        self.assertEqual(ks.replication_strategy.replication_factor, 1)
        t = ks.tables["meta"]
        self.assertEqual([c.name for c in t.partition_key], ["a", "b"])
        self.assertEqual([c.name for c in t.clustering_key], ["c", "d"])
        self.assertEqual([c.is_reversed for c in t.clustering_key], [True, False])
        types = {n: c.cql_type for n, c in t.columns.items()}
        self.assertEqual(types, {"a": "int", "b": "text", "c": "timestamp",
                                 "d": "bigint", "s1": "text",
                                 "v1": "map<text, frozen<list<int>>>",
                                 "v2": "blob"})
        self.assertTrue(t.columns["s1"].is_static)
        self.assertFalse(t.columns["v2"].is_static)
        # key columns first in schema order, then regular columns by name
        self.assertEqual(list(t.columns)[:4], ["a", "b", "c", "d"])
        self.assertEqual(t.options["default_time_to_live"], 3600)
        self.assertEqual(t.options["gc_grace_seconds"], 77)
        self.assertEqual(t.options["comment"], "hello")
        cql = t.export_as_string()
        self.assertIn("PRIMARY KEY ((a, b), c, d)", cql)
        self.assertIn("CLUSTERING ORDER BY (c DESC, d ASC)", cql)
        # the token map is built from system.local tokens
        tm = self.cluster.metadata.token_map
        self.assertIsNotNone(tm)
        self.assertEqual(len(tm.ring), 16)
        host = list(self.cluster.metadata.all_hosts())[0]
        self.assertEqual(host.datacenter, "dc1")
        self.assertEqual(host.rack, "rack1")
        self.assertTrue(host.release_version.startswith("4."))
        self.assertEqual(self.cluster.metadata.partitioner,
                         "org.apache.cassandra.dht.Murmur3Partitioner")

    def test_02_metadata_keyspaces_and_drop(self):
        s = self.session
        s.execute("CREATE KEYSPACE other WITH replication = "
                  "{'class': 'NetworkTopologyStrategy', 'dc1': 1} AND durable_writes = false")
        s.execute("CREATE TABLE other.simple (k text PRIMARY KEY, v int)")
        self.cluster.refresh_schema_metadata()
        md = self.cluster.metadata.keyspaces
        self.assertIn("other", md)
        self.assertIn("system", md)
        self.assertIn("system_schema", md)
        self.assertEqual(md["other"].replication_strategy.name, "NetworkTopologyStrategy")
        self.assertFalse(md["other"].durable_writes)
        self.assertEqual([c.name for c in md["other"].tables["simple"].partition_key], ["k"])
        self.assertEqual(md["other"].tables["simple"].clustering_key, [])
        s.execute("DROP KEYSPACE other")
        self.cluster.refresh_schema_metadata()
        self.assertNotIn("other", self.cluster.metadata.keyspaces)

    # ------------------------------------------------------------------
    def _create_all_types(self, name):
        cols = ", ".join("%s %s" % c for c in ALL_TYPES)
        self.session.execute("CREATE TABLE %s (k int PRIMARY KEY, %s)" % (name, cols))

    def _check_row(self, row, vals):
        for n, _ in ALL_TYPES:
            got = getattr(row, n)
            if n == "a_double" and isinstance(vals[n], float) and math.isnan(vals[n]):
                self.assertTrue(math.isnan(got), n)
                continue
            self.assertEqual(norm(got), norm(vals[n]), n)

    def test_03_all_types_prepared(self):
        self._create_all_types("allp")
        s = self.session
        names = [n for n, _ in ALL_TYPES]
        ins = s.prepare("INSERT INTO allp (k, %s) VALUES (?, %s)"
                        % (", ".join(names), ", ".join("?" * len(names))))
        sel = s.prepare("SELECT * FROM allp WHERE k = ?")
        for seed in (1, 2):
            vals = sample_values(seed)
            s.execute(ins, [seed] + [vals[n] for n in names])
            rows = list(s.execute(sel, [seed]))
            self.assertEqual(len(rows), 1)
            self._check_row(rows[0], vals)
        # the 1 MiB blob exactly, and its size via the server
        row = s.execute(sel, [1]).one()
        self.assertEqual(len(row.a_blob), BIG)
        self.assertEqual(row.a_blob, sample_values(1)["a_blob"])
        self.assertEqual(row.a_text.encode("utf-8"),
                         sample_values(1)["a_text"].encode("utf-8"))
        # inf / -inf round trip
        s.execute("INSERT INTO allp (k, a_double, a_float) VALUES (3, -Infinity, NaN)")
        r = s.execute("SELECT a_double, a_float FROM allp WHERE k = 3").one()
        self.assertEqual(r.a_double, float("-inf"))
        self.assertTrue(math.isnan(r.a_float))

    def test_04_all_types_literals(self):
        """Non-prepared statement: the driver renders values as CQL
        literals in the text, so the server's literal parser does the work."""
        self._create_all_types("alll")
        s = self.session
        # the driver renders python tuples as list literals, which CQL
        # (like Cassandra) rejects for tuple columns: tuples are written
        # as tuple literals by hand below
        names = [n for n, _ in ALL_TYPES
                 if n not in ("a_double", "a_tuple", "a_tnest")]
        vals = sample_values(2)
        vals["a_blob"] = bytes(range(256)) * 40
        s.execute("INSERT INTO alll (k, %s) VALUES (%%s, %s)"
                  % (", ".join(names), ", ".join(["%s"] * len(names))),
                  [9] + [vals[n] for n in names])
        s.execute("UPDATE alll SET a_double = Infinity, a_tuple = (7, 'seven', 7.5), "
                  "a_tnest = (['p', 'q'], -1) WHERE k = 9")
        row = s.execute("SELECT * FROM alll WHERE k = 9").one()
        self._check_row(row, vals)
        # literal forms the driver never sends
        s.execute("INSERT INTO alll (k, a_ts, a_date, a_time, a_dur, a_inet6, a_blob, a_varint, a_dec)"
                  " VALUES (10, '2011-02-03 04:05:06.789+0000', '2011-02-03', '08:12:54.123456789',"
                  " 1y2mo3w4d5h6m7s8ms9us10ns, '::1', 0xCAFE, -123456789012345678901234567890, 1.5e-3)")
        r = s.execute("SELECT a_ts, a_date, a_time, a_dur, a_inet6, a_blob, a_varint, a_dec FROM alll WHERE k = 10").one()
        self.assertEqual(r.a_ts, datetime.datetime(2011, 2, 3, 4, 5, 6, 789000))
        self.assertEqual(r.a_date, Date(datetime.date(2011, 2, 3)))
        self.assertEqual(r.a_time.nanosecond_time, ((8 * 60 + 12) * 60 + 54) * 10 ** 9 + 123456789)
        self.assertEqual(r.a_dur, Duration(14, 25,
                                           ((5 * 60 + 6) * 60 + 7) * 10 ** 9 + 8 * 10 ** 6 + 9000 + 10))
        self.assertEqual(r.a_inet6, "::1")
        self.assertEqual(r.a_blob, b"\xca\xfe")
        self.assertEqual(r.a_varint, -123456789012345678901234567890)
        self.assertEqual(r.a_dec, decimal.Decimal("0.0015"))

    def test_05_nulls(self):
        self._create_all_types("alln")
        s = self.session
        names = [n for n, _ in ALL_TYPES]
        s.execute("INSERT INTO alln (k) VALUES (1)")
        row = s.execute("SELECT * FROM alln WHERE k = 1").one()
        for n in names:
            self.assertIsNone(getattr(row, n), n)
        # explicit nulls overwrite values: prepared and literal
        ins = s.prepare("INSERT INTO alln (k, %s) VALUES (?, %s)"
                        % (", ".join(names), ", ".join("?" * len(names))))
        vals = sample_values(2)
        s.execute(ins, [2] + [vals[n] for n in names])
        s.execute(ins, [2] + [None] * len(names))
        row = s.execute("SELECT * FROM alln WHERE k = 2").one()
        for n in names:
            self.assertIsNone(getattr(row, n), n)
        s.execute(ins, [3] + [vals[n] for n in names])
        s.execute("INSERT INTO alln (k, %s) VALUES (3, %s)"
                  % (", ".join(names), ", ".join(["null"] * len(names))))
        row = s.execute("SELECT * FROM alln WHERE k = 3").one()
        for n in names:
            self.assertIsNone(getattr(row, n), n)
        # the row still exists (row marker from INSERT)
        self.assertEqual(s.execute("SELECT count(*) FROM alln").one()[0], 3)

    def test_06_frozen_collections_in_primary_key(self):
        s = self.session
        s.execute("CREATE TABLE fk (k frozen<list<int>>, c frozen<map<text, int>>, "
                  "d frozen<set<text>>, t tuple<int, text>, v text, PRIMARY KEY ((k, t), c, d))")
        ins = s.prepare("INSERT INTO fk (k, t, c, d, v) VALUES (?, ?, ?, ?, ?)")
        s.execute(ins, [[1, 2], (1, "a"), {"b": 2, "a": 1}, {"x"}, "v1"])
        s.execute(ins, [[1, 2], (1, "a"), {"a": 1}, {"y", "x"}, "v2"])
        s.execute(ins, [[1, 2], (1, "a"), {"a": 0}, set(), "v3"])
        s.execute(ins, [[2], (1, "a"), {"a": 1}, {"x"}, "other"])
        rows = list(s.execute("SELECT c, d, v FROM fk WHERE k = [1, 2] AND t = (1, 'a')"))
        # clustering order of frozen maps: element-wise
        self.assertEqual([r.v for r in rows], ["v3", "v2", "v1"])
        self.assertEqual(norm(rows[2].c), norm({"a": 1, "b": 2}))
        self.assertEqual(norm(rows[1].d), norm({"x", "y"}))
        r = s.execute(s.prepare("SELECT v FROM fk WHERE k = ? AND t = ? AND c = ? AND d = ?"),
                      [[1, 2], (1, "a"), {"a": 1}, {"x", "y"}]).one()
        self.assertEqual(r.v, "v2")
        self.assertEqual(s.execute("SELECT v FROM fk WHERE k = [2] AND t = (1, 'a')").one().v, "other")

    # ------------------------------------------------------------------
    def test_07_prepared_positional_named_routing(self):
        s = self.session
        s.execute("CREATE TABLE pr (a int, b text, c int, v text, PRIMARY KEY ((a, b), c))")
        ins = s.prepare("INSERT INTO pr (a, b, c, v) VALUES (?, ?, ?, ?)")
        self.assertEqual(ins.routing_key_indexes, [0, 1])
        s.execute(ins, [1, "x", 1, "first"])
        s.execute(ins, {"a": 1, "b": "x", "c": 2, "v": "second"})
        ins2 = s.prepare("INSERT INTO pr (c, v, b, a) VALUES (:c, :v, :b, :a)")
        self.assertEqual(ins2.routing_key_indexes, [3, 2])
        s.execute(ins2, {"a": 1, "b": "x", "c": 3, "v": "third"})
        sel = s.prepare("SELECT c, v FROM pr WHERE a = ? AND b = ? AND c >= ?")
        self.assertEqual(sel.routing_key_indexes, [0, 1])
        self.assertEqual([(r.c, r.v) for r in s.execute(sel, [1, "x", 2])],
                         [(2, "second"), (3, "third")])
        seln = s.prepare("SELECT v FROM pr WHERE b = :bb AND a = :aa AND c = :cc")
        self.assertEqual(seln.routing_key_indexes, [1, 0])
        self.assertEqual(s.execute(seln, {"aa": 1, "bb": "x", "cc": 1}).one().v, "first")
        # PREPARE announces the result columns (the driver then executes
        # with skip_metadata and decodes rows with them)
        self.assertEqual([m[2] for m in sel.result_metadata], ["c", "v"])
        self.assertFalse(ins.result_metadata)
        self.assertEqual(s.execute(sel, [1, "x", 0]).column_names, ["c", "v"])
        # routing key = composite of the pk components; its token is the
        # server's token()
        bound = ins.bind([1, "x", 9, "r"])
        rk = bound.routing_key
        exp = b"".join(struct.pack(">H", len(p)) + p + b"\x00"
                       for p in (struct.pack(">i", 1), b"x"))
        self.assertEqual(rk, exp)
        tm = self.cluster.metadata.token_map
        drv_token = tm.token_class.from_key(rk).value
        srv_token = s.execute("SELECT token(a, b) FROM pr WHERE a = 1 AND b = 'x' LIMIT 1").one()[0]
        self.assertEqual(drv_token, srv_token)
        # single-column key routing and token
        s.execute("CREATE TABLE pr1 (k text PRIMARY KEY, v int)")
        p1 = s.prepare("INSERT INTO pr1 (k, v) VALUES (?, ?)")
        self.assertEqual(p1.bind(["123", 1]).routing_key, b"123")
        s.execute(p1, ["123", 1])
        self.assertEqual(s.execute("SELECT token(k) FROM pr1 WHERE k = '123'").one()[0],
                         -7468325962851647638)
        # the driver sends bound statements to the replica it computed
        rs = s.execute(p1.bind(["123", 2]))
        self.assertEqual(rs.response_future._current_host.address, self.node.host)

    def test_08_prepared_bind_errors_and_unset(self):
        from cassandra import InvalidRequest
        s = self.session
        s.execute("CREATE TABLE pu (k int PRIMARY KEY, a int, b text)")
        ins = s.prepare("INSERT INTO pu (k, a, b) VALUES (?, ?, ?)")
        s.execute(ins, [1, 10, "ten"])
        from cassandra.query import UNSET_VALUE
        s.execute(ins, [1, UNSET_VALUE, "eleven"])
        r = s.execute("SELECT a, b FROM pu WHERE k = 1").one()
        self.assertEqual((r.a, r.b), (10, "eleven"))
        # a bogus binary value for an int column (5 bytes): InvalidRequest,
        # nothing written
        bad = ins.bind([2, 1, "x"])
        bad.values[1] = b"\x00\x00\x00\x00\x01"
        with self.assertRaises(InvalidRequest) as cm:
            s.execute(bad)
        self.assertIn("a", str(cm.exception))
        self.assertIsNone(s.execute("SELECT a FROM pu WHERE k = 2").one())
    def test_09_term_functions(self):
        from cassandra import InvalidRequest
        s = self.session
        s.execute("CREATE TABLE fn (k int PRIMARY KEY, t text, b blob, i int, "
                  "tu timeuuid, u uuid, ts timestamp, d date)")
        s.execute("INSERT INTO fn (k, t, b, i, tu, u, ts, d) VALUES (1, blobAsText(0x68c3a9), "
                  "textAsBlob('h\u00e9'), blobAsInt(0x00000102), now(), uuid(), "
                  "toTimestamp(now()), currentDate())")
        r = s.execute("SELECT * FROM fn WHERE k = 1").one()
        self.assertEqual((r.t, r.b, r.i), ("h\u00e9", b"h\xc3\xa9", 258))
        self.assertEqual(r.tu.version, 1)
        self.assertEqual(r.u.version, 4)
        self.assertLess(abs((r.ts - datetime.datetime.utcnow()).total_seconds()), 600)
        # a conversion's result type must be the receiver's type
        for bad in ("INSERT INTO fn (k, t) VALUES (2, bigintAsBlob(-1))",
                    "INSERT INTO fn (k, t) VALUES (2, blobAsInt(0x00000001))",
                    "INSERT INTO fn (k, b) VALUES (2, blobAsBigint(0x01))",
                    "INSERT INTO fn (k, i) VALUES (2, now())"):
            with self.assertRaises(InvalidRequest, msg=bad):
                s.execute(bad)
        self.assertIsNone(s.execute("SELECT * FROM fn WHERE k = 2").one())


if __name__ == "__main__":
    harness.main()
