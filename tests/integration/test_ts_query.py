"""
test_ts_query.py - the differential test of the time-series endpoint: one
line-protocol data set (several measurements, tags, every field type
InfluxDB 1.6 accepts, out-of-order and duplicate timestamps, a bad line)
written to Basalt and to a real influxd 1.6, then InfluxQL queries whose
JSON answers must be identical (numbers compared after normalising their
formatting: 2 and 2.0 are the same number; floats equal to 1e-9 relative).

Also: the same queries with epoch=ns and through python3-influxdb's
query() and get_list_measurements().
"""
import csv
import io
import json
import math
import urllib.error
import urllib.parse
import urllib.request

import harness
import influx_ref

from influxdb import InfluxDBClient

T0 = 1700000000  # seconds

DATA = "\n".join(
    ["# the data set",
     ""] +
    ["cpu,host=h%d,region=%s usage=%s,cores=%di,ok=%s,note=\"n%d\" %d"
     % (i % 3, "eu" if i % 2 else "us", repr(0.5 + (i * 7 % 11)), i % 5,
        "true" if i % 4 else "false", i, T0 + (i * 37) % 600)   # out of order
     for i in range(60)] +
    ["cpu,host=h1,region=eu usage=99.5 %d" % (T0 + 37),       # duplicate: overwrites usage
     "mem,host=h0 free=100i,used=1.5 %d" % (T0 + 10),
     "mem,host=h1 free=200i,used=2.5 %d" % (T0 + 20),
     "mem,host=h0 free=150i %d" % (T0 + 70),
     "mem,host=h2 used=3.25 %d" % (T0 + 130),
     "disk,path=/a,dev=sda io=5i %d" % (T0 + 5),
     "disk,path=/b,dev=sdb io=7i %d" % (T0 + 65),
     "this is a bad line",
     "disk,path=/a,dev=sda io=9i %d" % (T0 + 125)]) + "\n"

W = "time >= %ds AND time < %ds" % (T0, T0 + 600)

QUERIES = [
    "SELECT * FROM cpu",
    "SELECT usage FROM cpu",
    "SELECT usage, cores FROM cpu WHERE host = 'h1'",
    "SELECT * FROM cpu WHERE host != 'h1' AND region = 'eu'",
    "SELECT usage FROM cpu WHERE host =~ /h[12]/",
    "SELECT usage FROM cpu WHERE host !~ /h[12]/",
    "SELECT usage FROM cpu WHERE time >= %ds AND time <= %ds" % (T0 + 100, T0 + 200),
    "SELECT usage FROM cpu WHERE time > %ds AND time < %ds" % (T0 + 100, T0 + 200),
    "SELECT usage FROM cpu ORDER BY time DESC LIMIT 5",
    "SELECT usage FROM cpu LIMIT 3 OFFSET 2",
    "SELECT count(usage) FROM cpu",
    "SELECT count(note) FROM cpu",
    "SELECT sum(usage), mean(usage) FROM cpu",
    "SELECT sum(cores) FROM cpu",
    "SELECT min(usage) FROM cpu",
    "SELECT max(usage) FROM cpu",
    "SELECT max(cores) FROM cpu",
    "SELECT min(usage), max(usage) FROM cpu",
    "SELECT first(note) FROM cpu",
    "SELECT last(usage) FROM cpu",
    "SELECT spread(usage), spread(cores) FROM cpu",
    "SELECT median(usage) FROM cpu",
    "SELECT stddev(usage) FROM cpu",
    "SELECT percentile(usage, 90) FROM cpu",
    "SELECT mean(usage) FROM cpu GROUP BY host",
    "SELECT max(usage) FROM cpu GROUP BY host, region",
    "SELECT count(usage) FROM cpu GROUP BY *",
    "SELECT mean(usage) FROM cpu WHERE %s GROUP BY time(1m)" % W,
    "SELECT count(usage) FROM cpu WHERE %s GROUP BY time(2m)" % W,
    "SELECT mean(usage) FROM cpu WHERE %s GROUP BY time(1m, 15s) fill(none)" % W,
    "SELECT mean(usage) FROM cpu WHERE host = 'h0' AND %s GROUP BY time(10s) fill(none)" % W,
    "SELECT max(usage) FROM cpu WHERE %s GROUP BY time(1m), host" % W,
    "SELECT mean(free) FROM mem WHERE %s GROUP BY time(1m) fill(previous)" % W,
    "SELECT mean(free) FROM mem WHERE %s GROUP BY time(1m) fill(linear)" % W,
    "SELECT mean(used) FROM mem WHERE %s GROUP BY time(1m) fill(0)" % W,
    "SELECT mean(used) FROM mem WHERE %s GROUP BY time(1m) fill(null)" % W,
    "SELECT count(free) FROM mem WHERE %s GROUP BY time(1m) ORDER BY time DESC" % W,
    "SELECT * FROM mem",
    "SELECT * FROM mem GROUP BY host",
    "SELECT free FROM mem GROUP BY * SLIMIT 1 SOFFSET 1",
    "SELECT sum(io) FROM disk GROUP BY path",
    "SELECT io FROM disk WHERE dev = 'sda'",
    "SELECT io FROM nosuch",
    "SELECT max(usage) AS peak FROM cpu",
    "SHOW MEASUREMENTS",
    "SHOW TAG VALUES FROM cpu WITH KEY = host",
    "SHOW FIELD KEYS FROM cpu",
    "SHOW SERIES FROM disk",
    # OR, parentheses, field conditions (InfluxDB's typing: a literal of the
    # wrong kind, or a null field, matches nothing), literals first
    "SELECT usage FROM cpu WHERE host='h1' OR host='h2'",
    "SELECT usage FROM cpu WHERE (host='h1' OR time > 1700000500s)",
    "SELECT usage FROM cpu WHERE usage > 5 AND (host = 'h0' OR region='eu')",
    'SELECT count(usage) FROM cpu WHERE cores >= 3',
    "SELECT usage FROM cpu WHERE note = 'n5'",
    'SELECT usage,note FROM cpu WHERE note =~ /n1[0-2]/',
    'SELECT usage FROM cpu WHERE ok = true',
    'SELECT free,used FROM mem WHERE used != 2.5',
    'SELECT free FROM mem WHERE used > 1',
    'SELECT usage FROM cpu WHERE cores = 2.0',
    'SELECT usage FROM cpu WHERE host = 5',
    "SELECT usage FROM cpu WHERE usage > '5'",
    "SELECT usage FROM cpu WHERE host > 'h1'",
    'SELECT usage FROM cpu WHERE usage > -1 AND usage < 1',
    "SELECT usage FROM cpu WHERE ok = 'true'",
    "SELECT usage FROM cpu WHERE nosuch = 'x'",
    "SELECT usage FROM cpu WHERE nosuch != 'x'",
    "SELECT * FROM cpu WHERE time > 1700000500s OR host='h1'",
    'SELECT usage FROM cpu WHERE usage = 2.5 OR usage = 99.5',
    'SELECT usage FROM cpu WHERE 5 < usage',
    'SELECT mean(usage) FROM cpu WHERE usage < 50 GROUP BY host',
    "SELECT max(usage) FROM cpu WHERE region = 'eu' OR cores = 4 GROUP BY region",
    'SELECT count(note) FROM cpu WHERE note !~ /n[0-3]/',
    'SELECT * FROM mem WHERE free < 160 OR used >= 3',
    'SELECT usage FROM cpu WHERE ok = false AND host =~ /h[01]/',
    "SELECT sum(io) FROM disk WHERE io > 5 OR path = '/a'",
    "SELECT usage FROM cpu WHERE (host = 'h0' AND cores > 2) OR (host = 'h2' AND cores < 2)",
    'SELECT mean(usage) FROM cpu WHERE time >= 1700000000s AND time < 1700000600s AND usage > 3 GROUP BY time(2m)',
    "SELECT usage FROM cpu WHERE note > 'n5'",
    'SELECT usage FROM cpu WHERE cores != 1 AND cores <> 2',
    # tags and a bounded time range: read through the series index
    "SELECT count(usage) FROM cpu WHERE (host = 'h0' OR host = 'h2') AND %s GROUP BY host" % W,
    "SELECT usage FROM cpu WHERE region =~ /u/ AND host != 'h1' AND %s" % W,
    # bounds equal to point times (i = 4 and i = 7 of host h1): both kept
    "SELECT usage FROM cpu WHERE host = 'h1' AND time >= %ds AND time <= %ds" % (T0 + 148, T0 + 259),
    "SELECT usage FROM cpu WHERE host = 'h1' AND time > %ds AND time < %ds" % (T0 + 148, T0 + 259),
    # arithmetic with numbers (Grafana's math()): integer stays integer but
    # for '/', division and modulo by zero give 0, fill() comes first, a
    # repeated column name gets _1
    "SELECT usage * 2 FROM cpu WHERE host = 'h1'",
    "SELECT mean(usage) / 100 FROM cpu",
    "SELECT max(cores) * 2, min(usage) + 1 FROM cpu",
    "SELECT cores / 2 FROM cpu WHERE host = 'h0'",
    "SELECT cores % 3, -cores FROM cpu WHERE host = 'h2'",
    "SELECT (usage + 1) * 2 AS u FROM cpu WHERE host = 'h0'",
    "SELECT 10 - usage, usage FROM cpu WHERE region = 'eu'",
    "SELECT 2 * 3 + cores - 0.5 FROM cpu WHERE host = 'h1'",
    "SELECT count(usage) / 2 FROM cpu GROUP BY host",
    "SELECT mean(free) * 2 FROM mem WHERE %s GROUP BY time(1m) fill(5)" % W,
    "SELECT mean(free) * 2 FROM mem WHERE %s GROUP BY time(1m) fill(linear)" % W,
    "SELECT max(usage) * 2 FROM cpu GROUP BY host",
    "SELECT used / 0, free % 0 FROM mem",
    "SELECT percentile(usage, 90) - 1 FROM cpu",
    "SELECT usage, usage FROM cpu WHERE host = 'h1'",
    "SELECT note * 2 FROM cpu",
    "SELECT host * 2 FROM cpu",
    "SELECT usage, nosuch * 2 FROM cpu WHERE host = 'h1'",
    "SELECT nosuch * 2 FROM cpu",
]


def norm(x):
    """Numbers compared as numbers (2 == 2.0; floats to 1e-9 relative)."""
    if isinstance(x, bool) or x is None or isinstance(x, str):
        return x
    if isinstance(x, (int, float)):
        return ("num", round(float(x), 9 - int(math.floor(math.log10(abs(x)))) if x else 0))
    if isinstance(x, list):
        return [norm(v) for v in x]
    if isinstance(x, dict):
        return {k: norm(v) for k, v in x.items()}
    return x


# several statements in one request (CSV: a blank line between them)
MULTI = [
    "SELECT * FROM cpu LIMIT 3; SELECT count(usage) FROM cpu GROUP BY host, region; "
    "SHOW SERIES FROM disk; SELECT * FROM nosuch; SHOW MEASUREMENTS",
    "SHOW FIELD KEYS; SHOW TAG KEYS; SHOW TAG VALUES WITH KEY = host; SHOW SERIES",
    "SELECT free FROM mem LIMIT 1; SELECT used FROM mem LIMIT 1; SELECT note FROM cpu LIMIT 2",
    "SHOW RETENTION POLICIES ON nosuch; SHOW MEASUREMENTS",   # CSV leaves errors out
    "SELECT * FROM",                                         # a parse error as CSV
]

# (query parameters, headers) of the answer shapes compared
SHAPES = [({}, {"Accept": "application/csv"}),
          ({"epoch": "ms"}, {"Accept": "text/csv"}),
          ({"chunked": "true", "chunk_size": "2"}, {}),
          ({"chunked": "true"}, {}),
          ({"chunked": "true", "chunk_size": "1", "epoch": "s"}, {})]


def raw_query(base, q, params, headers):
    """(status, content type, body text) of POST /query."""
    p = dict(params, q=q, db="diff")
    req = urllib.request.Request(base + "/query?" + urllib.parse.urlencode(p), method="POST",
                                 headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.headers.get("Content-Type"), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), e.read().decode()


def norm_text(ctype, body):
    """The body with its numbers normalised (see norm): chunked JSON line
    by line, CSV field by field; everything else kept byte for byte."""
    if ctype == "text/csv":
        out = []
        for row in csv.reader(io.StringIO(body)):
            out.append([norm(float(f)) if f and f.replace(".", "", 1).lstrip("-").isdigit()
                        and "." in f else f for f in row])
        return out, body.count("\n"), body.count("\n\n")
    return [norm(json.loads(line)) for line in body.split("\n") if line], body.endswith("\n")


class TsQueryDifferentialTest(harness.NodeTestCase):
    keyspace = None

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.ref = influx_ref.RefInflux().start()
        cls.basalt = "http://%s:%d" % (cls.node.host, cls.node.http_port)
        for base in (cls.basalt, cls.ref.url):
            st, _, _ = influx_ref.query(base, "CREATE DATABASE diff")
            assert st == 200
            st, body, _ = influx_ref.http(base, "POST", "/write", {"db": "diff", "precision": "s"},
                                          DATA.encode())
            assert st == 400 and "partial write" in body["error"], (base, st, body)

    @classmethod
    def tearDownClass(cls):
        cls.ref.stop()
        super().tearDownClass()

    def test_queries_identical(self):
        self.assertGreaterEqual(len(QUERIES), 30)
        for q in QUERIES:
            for extra in ({}, {"epoch": "ns"}):
                want = influx_ref.query(self.ref.url, q, db="diff", **extra)
                got = influx_ref.query(self.basalt, q, db="diff", **extra)
                self.assertEqual(got[0], want[0], q)
                self.assertEqual(norm(got[1]), norm(want[1]), "%s %s" % (q, extra))

    def test_csv_and_chunked_identical(self):
        """CSV (Accept: application/csv, text/csv) and chunked=true
        answers: the same bytes as influxd 1.6's, numbers normalised."""
        n = 0
        for q in QUERIES + MULTI:
            for params, headers in SHAPES:
                if "nosuch" in q and "RETENTION" in q and "chunked" in params:
                    continue  # influxd 1.6 numbers "not executed" wrongly (TIMESERIES.md)
                want = raw_query(self.ref.url, q, params, headers)
                got = raw_query(self.basalt, q, params, headers)
                what = "%s %s %s" % (q, params, headers)
                self.assertEqual(got[:2], want[:2], what)
                self.assertEqual(norm_text(got[1], got[2]), norm_text(want[1], want[2]), what)
                n += 1
        self.assertGreater(n, 200)

    def test_python_client_chunked(self):
        c = InfluxDBClient(host=self.node.host, port=self.node.http_port, database="diff")
        chunks = list(c.query("SELECT usage FROM cpu", chunked=True, chunk_size=7))
        self.assertEqual(len(chunks), 9)  # 60 rows by 7
        self.assertEqual(sum(len(list(rs.get_points())) for rs in chunks), 60)

    def test_python_client_reads(self):
        c = InfluxDBClient(host=self.node.host, port=self.node.http_port, database="diff")
        self.assertEqual(c.get_list_measurements(),
                         [{"name": "cpu"}, {"name": "disk"}, {"name": "mem"}])
        rs = c.query("SELECT mean(usage) FROM cpu GROUP BY host")
        got = {k[1]["host"]: list(v)[0]["mean"] for k, v in rs.items()}
        ref = InfluxDBClient(host=self.ref.host, port=self.ref.port, database="diff")
        want = {k[1]["host"]: list(v)[0]["mean"]
                for k, v in ref.query("SELECT mean(usage) FROM cpu GROUP BY host").items()}
        self.assertEqual(set(got), {"h0", "h1", "h2"})
        for h in got:
            self.assertAlmostEqual(got[h], want[h], places=9)


if __name__ == "__main__":
    harness.main()
