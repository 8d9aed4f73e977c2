"""
test_ts_retention.py - retention policies, DELETE and DROP SERIES of the
time-series endpoint, each statement sent to Basalt and to a real influxd
1.6 (influx_ref.py), whose answers must be the same JSON.

Also what Basalt does with a policy: the points written into it get a
TTL (read back through CQL), points already outside its window are
refused with InfluxDB's "points beyond retention policy".
"""
import time

import harness
import influx_ref

DAY = 86400

# points over three days (so over several one-day partitions per series)
DATA = "\n".join(
    ["cpu,host=a,region=eu v=%d %d" % (i, 100 + i * 7200) for i in range(40)] +
    ["cpu,host=b,region=us v=%d %d" % (i, 50 + i * 9000) for i in range(30)] +
    ["cpu,host=c,region=eu v=%d %d" % (i, 3 * DAY + i) for i in range(5)] +
    ["mem,host=a free=%di %d" % (i, 1000 + i * 3600) for i in range(30)] +
    ["mem,host=z free=1i %d" % (2 * DAY)]) + "\n"

POLICY_STEPS = [
    "CREATE DATABASE rp1 WITH DURATION 3d REPLICATION 1 NAME ten",
    "SHOW RETENTION POLICIES ON rp1",
    "CREATE RETENTION POLICY short ON rp1 DURATION 2h REPLICATION 1",
    "CREATE RETENTION POLICY tiny ON rp1 DURATION 30m REPLICATION 1",
    "CREATE RETENTION POLICY long ON rp1 DURATION 100d REPLICATION 1 SHARD DURATION 3h DEFAULT",
    "CREATE RETENTION POLICY short ON rp1 DURATION 3h REPLICATION 1",
    "CREATE RETENTION POLICY short ON rp1 DURATION 2h REPLICATION 1",
    "CREATE RETENTION POLICY bad ON rp1 DURATION 2h REPLICATION 1 SHARD DURATION 3h",
    "CREATE RETENTION POLICY forever ON rp1 DURATION INF REPLICATION 1",
    "CREATE RETENTION POLICY x ON nosuch DURATION 2h REPLICATION 1",
    "SHOW RETENTION POLICIES ON rp1",
    "ALTER RETENTION POLICY short ON rp1 DURATION 5h",
    "ALTER RETENTION POLICY nope ON rp1 DURATION 5h",
    "ALTER RETENTION POLICY short ON rp1 DEFAULT",
    "SHOW RETENTION POLICIES ON rp1",
    "DROP RETENTION POLICY nope ON rp1",
    "DROP RETENTION POLICY ten ON rp1",
    "SHOW RETENTION POLICIES ON rp1",
    "SHOW RETENTION POLICIES ON nosuch",
    "CREATE RETENTION POLICY short ON rp1 DURATION 2h",
]

# (not SHOW TAG VALUES: influxd 1.6 keeps listing the tag values of a
# series that a DELETE removed; Basalt lists those of the series left)
READS = ["SELECT * FROM cpu", "SELECT * FROM mem", "SHOW SERIES", "SHOW MEASUREMENTS",
         "SELECT count(v) FROM cpu GROUP BY host"]

DELETE_STEPS = [
    "DELETE FROM cpu WHERE time < %ds" % (DAY + 100),         # whole and partial partitions
    "DELETE FROM cpu WHERE host = 'a' AND time >= %ds AND time <= %ds" % (DAY + 7300, 2 * DAY),
    "DELETE FROM cpu WHERE region =~ /u/ AND time > %ds" % (2 * DAY),
    "DELETE WHERE time <= %ds" % (DAY + 20000),               # every measurement
    "DELETE FROM mem WHERE host = 'z'",                      # the whole series
    "DROP SERIES FROM cpu WHERE host = 'c'",
    "DROP SERIES FROM cpu WHERE time < 1s",
    "DELETE FROM nosuch WHERE time < 1s",
    "DROP SERIES FROM cpu",
    "DELETE",
]


class TsRetentionTest(harness.NodeTestCase):
    maxDiff = None
    keyspace = None

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.ref = influx_ref.RefInflux().start()
        cls.basalt = "http://%s:%d" % (cls.node.host, cls.node.http_port)

    @classmethod
    def tearDownClass(cls):
        cls.ref.stop()
        super().tearDownClass()

    def both(self, q, db=None):
        want = influx_ref.query(self.ref.url, q, db=db)
        got = influx_ref.query(self.basalt, q, db=db)
        self.assertEqual(got[0], want[0], q)
        self.assertEqual(got[1], want[1], q)
        return got

    def write_both(self, params, body):
        want = influx_ref.http(self.ref.url, "POST", "/write", params, body.encode())
        got = influx_ref.http(self.basalt, "POST", "/write", params, body.encode())
        self.assertEqual(got[0], want[0], (params, body))
        self.assertEqual(got[1], want[1], (params, body))
        return got

    def test_policies(self):
        for q in POLICY_STEPS:
            self.both(q)

    def test_writes_into_a_policy(self):
        self.both("CREATE DATABASE rp2")
        self.both("CREATE RETENTION POLICY short ON rp2 DURATION 2h REPLICATION 1")
        st, body, _ = self.write_both({"db": "rp2", "rp": "nope"}, "cpu v=1")
        self.assertEqual((st, body), (500, {"error": "retention policy not found: nope"}))
        now = int(time.time())
        st, body, _ = self.write_both({"db": "rp2", "rp": "short", "precision": "s"},
                                      "cpu,host=old v=1 %d\ncpu,host=new v=2 %d" % (now - 3 * 3600, now))
        self.assertEqual(st, 400)
        self.assertEqual(body["error"], "partial write: points beyond retention policy dropped=1")
        self.both("SELECT * FROM short.cpu", db="rp2")
        # the kept point expires 2 h after its own time: a TTL through CQL
        rows = list(self.session.execute("SELECT time, v, ttl(v) FROM rp2.cpu"))
        self.assertEqual(len(rows), 1)
        self.assertEqual(rows[0].v, 2.0)
        self.assertTrue(3600 < rows[0].ttl_v <= 7200, rows[0])
        # a write into the default policy (autogen, infinite) has no TTL
        self.write_both({"db": "rp2", "precision": "s"}, "cpu,host=x v=3 %d" % now)
        rows = list(self.session.execute("SELECT v, ttl(v) FROM rp2.cpu"))
        self.assertEqual(sorted((r.v, r.ttl_v) for r in rows)[1], (3.0, None))
        # the v2 API names the policy in the bucket
        st, _, _ = influx_ref.http(self.basalt, "POST", "/api/v2/write",
                                   {"bucket": "rp2/nope", "org": "o"}, b"cpu v=1")
        self.assertEqual(st, 500)

    def test_delete_and_drop_series(self):
        self.both("CREATE DATABASE del")
        self.write_both({"db": "del", "precision": "s"}, DATA)
        for q in READS:
            self.both(q, db="del")
        for step in DELETE_STEPS:
            self.both(step, db="del")
            for q in READS:
                self.both(q, db="del")


if __name__ == "__main__":
    harness.main()
