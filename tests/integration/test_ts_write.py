"""
test_ts_write.py - the time-series endpoint's writes (docs/TIMESERIES.md)
on one node, with Debian's unmodified clients and InfluxDB 1.6 as the
reference:

  - python3-influxdb: ping, create_database, get_list_database,
    write_points with tags and every field type; the points are read
    back through CQL (the same tables basalt-shell sees);
  - the `influx` CLI: CREATE DATABASE, INSERT, SHOW, SELECT ... GROUP BY time;
  - curl posting a gzip body; 413 over http_max_body_size;
  - v1 and v2 parameters (precision, bucket), 404 for an unknown database;
  - a duplicate point overwrites field by field;
  - SHOW DATABASES / MEASUREMENTS / SERIES / TAG KEYS / TAG VALUES /
    FIELD KEYS after those writes: the same JSON as influxd's;
  - partial writes: the same bodies (bad lines, type conflicts inside a
    batch and against stored fields, comments, escapes) posted to Basalt
    and to a real influxd 1.6 get the same status and error text, and
    the same points are stored;
  - hostile queries (a million nested parentheses or unary minuses, a
    deeply nested or exploding regex, in SELECT and DELETE) get a 400 with
    the reason, and the node keeps answering.
"""
import gzip
import os
import subprocess
import tempfile
import urllib.parse

import harness
import influx_ref

from influxdb import InfluxDBClient


def cql_points(session, db, m):
    """{(series, time_ns): {field: value}} of a measurement, via CQL."""
    out = {}
    rs = session.execute('SELECT * FROM %s."%s"' % (db, m))
    names = rs.column_names
    for row in rs:
        d = dict(zip(names, row))
        key = (d.pop("_series"), d.pop("time"))
        d.pop("_bucket")
        out[key] = {k: v for k, v in d.items() if v is not None}
    return out


class TsWriteTest(harness.NodeTestCase):
    keyspace = None
    node_extra = {"http-max-body-size": "64KiB"}

    @property
    def url(self):
        return "http://%s:%d" % (self.node.host, self.node.http_port)

    def client(self, db=None):
        return InfluxDBClient(host=self.node.host, port=self.node.http_port, database=db)

    def test_python_client(self):
        c = self.client("metrics")
        rtt, version = c.ping(), None
        self.assertEqual(rtt, "1.6.7~basalt")
        c.create_database("metrics")
        self.assertIn({"name": "metrics"}, c.get_list_database())
        pts = [{"measurement": "cpu", "tags": {"host": "a", "region": "eu"},
                "time": 1700000000000000000 + i,
                "fields": {"usage": 0.5 + i, "n": i, "ok": i % 2 == 0, "note": "p%d" % i}}
               for i in range(50)]
        self.assertTrue(c.write_points(pts, time_precision="n"))
        got = cql_points(self.session, "metrics", "cpu")
        self.assertEqual(len(got), 50)
        self.assertEqual(got[("cpu,host=a,region=eu", 1700000000000000007)],
                         {"usage": 7.5, "n": 7, "ok": False, "note": "p7"})

    def test_precision_v2_404_gzip_413(self):
        influx_ref.query(self.url, "CREATE DATABASE p")
        st, body, _ = influx_ref.http(self.url, "POST", "/write", {"db": "nope"}, b"m v=1")
        self.assertEqual((st, body), (404, {"error": 'database not found: "nope"'}))
        st, _, _ = influx_ref.http(self.url, "POST", "/write", {"db": "p", "precision": "s"},
                                   b"m v=1 1700000000\n")
        self.assertEqual(st, 204)
        st, _, _ = influx_ref.http(self.url, "POST", "/api/v2/write",
                                   {"bucket": "p/autogen", "org": "x", "precision": "ms"},
                                   b"m v=2 1700000000001\n")
        self.assertEqual(st, 204)
        st, body, _ = influx_ref.http(self.url, "POST", "/api/v2/write",
                                      {"bucket": "p", "precision": "h"}, b"m v=1\n")
        self.assertEqual(st, 400)
        got = cql_points(self.session, "p", "m")
        self.assertEqual(got, {("m", 1700000000000000000): {"v": 1.0},
                               ("m", 1700000000001000000): {"v": 2.0}})
        # curl with a gzip body, 2000 points
        lines = "".join("g,host=h%d v=%di %d\n" % (i % 10, i, 1000 + i) for i in range(2000))
        with tempfile.NamedTemporaryFile(suffix=".gz", delete=False) as f:
            f.write(gzip.compress(lines.encode()))
            path = f.name
        try:
            out = subprocess.run(
                ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-XPOST",
                 "-H", "Content-Encoding: gzip", "--data-binary", "@" + path,
                 self.url + "/write?db=p&precision=n"], capture_output=True, text=True,
                timeout=60)
        finally:
            os.unlink(path)
        self.assertEqual(out.stdout, "204")
        self.assertEqual(len(cql_points(self.session, "p", "g")), 2000)
        # 64 KiB limit (inflated size counts)
        big = ("b v=1 %d\n" % 1).encode() * 10000
        st, body, _ = influx_ref.http(self.url, "POST", "/write", {"db": "p"},
                                      gzip.compress(big), {"Content-Encoding": "gzip"})
        self.assertEqual((st, body), (413, {"error": "Request Entity Too Large"}))

    def test_influx_cli(self):
        """Debian's unmodified `influx` CLI (influxdb-client): CREATE
        DATABASE, INSERT, SHOW, SELECT, SELECT ... GROUP BY time()."""
        def cli(*args):
            return subprocess.run(["influx", "-host", self.node.host,
                                   "-port", str(self.node.http_port)] + list(args),
                                  capture_output=True, text=True, timeout=60)
        self.assertEqual(cli("-execute", "CREATE DATABASE cli").returncode, 0)
        r = cli("-database", "cli", "-execute", "INSERT cpu,host=a,dc=x usage=1.5,n=2i 1700000000000000000")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = cli("-database", "cli", "-execute",
                "SHOW MEASUREMENTS; SHOW TAG VALUES WITH KEY = host; SHOW FIELD KEYS")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.split(),
                         "name: measurements name ---- cpu "
                         "name: cpu key value --- ----- host a "
                         "name: cpu fieldKey fieldType -------- --------- n integer usage float".split())
        self.assertEqual(cql_points(self.session, "cli", "cpu"),
                         {("cpu,dc=x,host=a", 1700000000000000000): {"usage": 1.5, "n": 2}})
        r = cli("-database", "cli", "-execute",
                "INSERT cpu,host=b,dc=x usage=2.5,n=4i 1700000010000000000")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = cli("-database", "cli", "-execute", "SELECT * FROM cpu")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.split(),
                         "name: cpu time dc host n usage ---- -- ---- - ----- "
                         "1700000000000000000 x a 2 1.5 1700000010000000000 x b 4 2.5".split())
        r = cli("-database", "cli", "-execute",
                "SELECT mean(usage) FROM cpu WHERE time >= 1700000000s AND time < 1700000020s "
                "GROUP BY time(10s)")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.split(),
                         "name: cpu time mean ---- ---- "
                         "1700000000000000000 1.5 1700000010000000000 2.5".split())

    def test_duplicate_point_overwrites_field_by_field(self):
        influx_ref.query(self.url, "CREATE DATABASE dup")
        for body in (b"d,t=1 a=1,b=1 5\n", b"d,t=1 b=2,c=2 5\nd,t=1 c=3 5\n"):
            st, _, _ = influx_ref.http(self.url, "POST", "/write", {"db": "dup"}, body)
            self.assertEqual(st, 204)
        self.assertEqual(cql_points(self.session, "dup", "d"),
                         {("d,t=1", 5): {"a": 1.0, "b": 2.0, "c": 3.0}})


def esc(s, chars):
    return "".join("\\" + c if c in chars else c for c in s)


def fnv1a(s):
    h = 14695981039346656037
    for b in s.encode():
        h = ((h ^ b) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return h


# Bodies posted in order to both servers (database "ref", fresh on each).
BODIES = [
    b"cpu,host=a v=1 1\ncpu,host=b v=2 2\n",
    b"# comment\n\n   \ncpu,host=a v=3 3\nbad line\ncpu,host=a v= 4\ncpu,host=c v=5 5\n",
    b"cpu,host=a v=1i 6\ncpu,host=a v=7 7\n",
    b"mem,host=a free=1i 1\nmem,host=a free=2.5 2\nmem,host=b free=3i 3\n",
    b"mem,host=a free=4i 4,x=1\n",
    b"c\\ m\\,x,t\\=k=v\\ 1 s=\"q\\\"uo\\\\te\",b=TRUE 9\n",
    b"cpu,z=1,a=2 v=8 8\ncpu,a=2,z=1 w=9i 8\n",
    b"disk v=1 9223372036854775807\ndisk v=2 10\n",
    b"",
    b"only bad\nalso = bad\n",
]


class TsHostileQueryTest(harness.NodeTestCase):
    keyspace = None

    @property
    def url(self):
        return "http://%s:%d" % (self.node.host, self.node.http_port)

    def test_hostile_queries_answered(self):
        """Queries built to exhaust a recursive parser or the regex compiler
        get a 400 with the reason; the node keeps serving."""
        influx_ref.query(self.url, "CREATE DATABASE hq")
        st, _, _ = influx_ref.http(self.url, "POST", "/write", {"db": "hq"}, b"m,h=a v=1 1\n")
        self.assertEqual(st, 204)
        n = 1000000
        cases = [
            ("SELECT v FROM m WHERE " + "(" * n + "h = 'a'" + ")" * n, "nested too deeply"),
            ("SELECT " + "- " * n + "v FROM m", "nested too deeply"),
            ("SELECT v FROM m WHERE h =~ /" + "(" * n + "a" + ")" * n + "/", "too complex"),
            ("SELECT v FROM m WHERE h =~ /(a{30000}){30000}/", "too complex"),
            ("DELETE FROM m WHERE h =~ /" + "(" * n + "/", "too complex"),
        ]
        for q, why in cases:
            st, res, _ = influx_ref.http(self.url, "POST", "/query", None,
                                         urllib.parse.urlencode({"q": q, "db": "hq"}).encode(),
                                         {"Content-Type": "application/x-www-form-urlencoded"})
            self.assertEqual(st, 400, q[:60])
            self.assertIn(why, res["error"], q[:60])
        st, res, _ = influx_ref.query(self.url, "SELECT v * 2 FROM m WHERE h =~ /^(a|b)$/",
                                      db="hq", epoch="ns")
        self.assertEqual(res["results"][0]["series"][0]["values"], [[1, 2]])


class TsPartialWriteReferenceTest(harness.NodeTestCase):
    keyspace = None

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.ref = influx_ref.RefInflux().start()

    @classmethod
    def tearDownClass(cls):
        cls.ref.stop()
        super().tearDownClass()

    def test_same_answers_and_same_points(self):
        basalt = "http://%s:%d" % (self.node.host, self.node.http_port)
        for base in (basalt, self.ref.url):
            st, _, _ = influx_ref.query(base, "CREATE DATABASE ref")
            self.assertEqual(st, 200)
        for body in BODIES:
            want = influx_ref.http(self.ref.url, "POST", "/write", {"db": "ref"}, body)
            got = influx_ref.http(basalt, "POST", "/write", {"db": "ref"}, body)
            self.assertEqual(got[:2], want[:2], body)
        # the stored points, measurement by measurement
        for m in ("cpu", "mem", "disk", "c m,x"):
            st, res, _ = influx_ref.query(self.ref.url, 'SELECT * FROM "%s" GROUP BY *' % m,
                                          db="ref", epoch="ns")
            want = {}
            for s in res["results"][0].get("series", []):
                tags = ",".join("%s=%s" % (esc(k, ", ="), esc(v, ", ="))
                                for k, v in sorted(s.get("tags", {}).items()) if v)
                key = esc(m, ", ") + ("," + tags if tags else "")
                for row in s["values"]:
                    fields = {c: v for c, v in zip(s["columns"][1:], row[1:]) if v is not None}
                    if fields:
                        want[(key, row[0])] = fields
            table = m if m.isidentifier() else "m_%016x" % fnv1a(m)
            got = cql_points(self.session, "ref", table)
            self.assertEqual(got, want, m)
        # the SHOW statements over the same data give the same JSON
        for q in ("SHOW DATABASES", "SHOW MEASUREMENTS", "SHOW SERIES", "SHOW SERIES FROM cpu",
                  "SHOW TAG KEYS", "SHOW TAG KEYS FROM mem", "SHOW TAG VALUES WITH KEY = host",
                  'SHOW TAG VALUES FROM cpu WITH KEY = "host"', "SHOW FIELD KEYS",
                  "SHOW FIELD KEYS FROM mem", "SHOW MEASUREMENTS; SHOW TAG KEYS FROM disk",
                  "SHOW FIELD KEYS FROM nosuch", "SELEC x"):
            want = influx_ref.query(self.ref.url, q, db="ref")
            got = influx_ref.query(basalt, q, db="ref")
            if q == "SHOW DATABASES":  # influxd also lists its _internal database
                for s in want[1]["results"][0]["series"]:
                    s["values"] = [v for v in s["values"] if v != ["_internal"]]
            if q == "SELEC x":  # same status and shape; the parsers' wording differs
                self.assertEqual((got[0], list(got[1])), (want[0], list(want[1])))
                self.assertTrue(got[1]["error"].startswith("error parsing query: found SELEC"))
                continue
            self.assertEqual(got[:2], want[:2], q)


if __name__ == "__main__":
    harness.main()
