"""
test_multidc_rebuild.py - adding a datacenter with `basalt-admin rebuild`,
and DC-scoped repair (repair/movement.c BS_MOVE_REBUILD, node/topology.c,
repair/session_run.c), with real basaltd processes.

Adding a DC: nodes 1 and 2 form dc1; keyspace ks is
NetworkTopologyStrategy {dc1: 2} with 5,000 rows written at LOCAL_QUORUM.
Node 3 starts in dc2 with auto_bootstrap: false (a new DC, as in
Cassandra's runbook: it joins NORMAL with no data).  ALTER KEYSPACE makes
it {dc1: 2, dc2: 1}: reads coordinated by node 3 at LOCAL_ONE now miss
rows.  `basalt-admin rebuild dc9` fails naming the unknown DC;
`basalt-admin rebuild dc1` on node 3 streams every range it replicates
from dc1 (progress in /streams: operation rebuild, ranges, bytes of
bytes_total, which the sources counted beforehand), after
which LOCAL_ONE and LOCAL_QUORUM reads through node 3 return every row.

DC-scoped repair: `repair ks --dc dc1` (and `--local`) on node 1 only asks
dc1's replicas for trees: node 2's basalt_repair_requests_total{verb=
"tree"} in /metrics grows, node 3's does not move; `--dc dc2` from node 1
is refused (the node's own DC must take part), `--dc dc9` names the
unknown DC; `--dc dc1 --dc dc2 --dc-parallel` asks node 3 too.

Last, nodes 1 and 2 are killed: `rebuild dc1` on node 3 is refused with
"no node of datacenter 'dc1' is up".

dc3 under load (ThirdDatacenterUnderLoad): see its docstring.
"""
import json
import os
import re
import subprocess
import unittest
import urllib.error
import urllib.request

from cassandra import ConsistencyLevel
from cassandra.cluster import Cluster, ExecutionProfile, EXEC_PROFILE_DEFAULT
from cassandra.concurrent import execute_concurrent_with_args
from cassandra.policies import WhiteListRoundRobinPolicy
from cassandra.query import SimpleStatement

import harness
from harness import Node

_wait = harness.wait_for
NKEYS = 5000


def http(n, method, path):
    req = urllib.request.Request("http://%s:%d%s" % (n.host, n.admin_port, path),
                                 headers=n.admin_headers(), method=method,
                                 data=b"" if method == "POST" else None)
    with urllib.request.urlopen(req, timeout=120) as r:
        body = r.read().decode()
        return json.loads(body) if body.startswith(("{", "[")) else body


def states(n):
    doc = http(n, "GET", "/status")
    return {x["address"]: x["status"] + x["state"] for x in doc["nodes"]}


def tree_requests(n):
    """Repair TREE requests node n served (from /metrics)."""
    m = re.search(r'^basalt_repair_requests_total\{verb="tree"\} (\d+)$',
                  http(n, "GET", "/metrics"), re.M)
    assert m, "no basalt_repair_requests_total in /metrics of %s" % n.host
    return int(m.group(1))


def admin(n, *args):
    exe = os.environ.get("BASALT_ADMIN") or os.path.join(
        os.path.dirname(os.path.dirname(harness.BASALTD)), "client", "basalt-admin")
    p = subprocess.run([exe, "-h", n.host, "-p", str(n.admin_port), "--token-file",
                        os.path.join(n.data_dir, "admin_token")] + list(args),
                       timeout=180, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    return p.returncode, p.stdout.decode()


class _DCBase(unittest.TestCase):

    def setUp(self):
        self.nodes, self.clusters = [], []

    def tearDown(self):
        for c in self.clusters:
            c.shutdown()
        for n in self.nodes:
            n.cleanup()

    def node(self, i, dc, **extra):
        e = {"storage-port": self.sp, "seeds": self.hosts[0], "dc": dc,
             "cluster-name": self.CLUSTER, "ring-delay": "2s", "num-tokens": 8}
        e.update(extra)
        n = Node(host=self.hosts[i], extra=e)
        self.nodes.append(n)
        return n

    def session_on(self, n):
        """A session whose only coordinator is node n."""
        prof = ExecutionProfile(load_balancing_policy=WhiteListRoundRobinPolicy([n.host]),
                                request_timeout=60)
        c = Cluster([n.host], port=n.port, protocol_version=4, connect_timeout=10,
                    control_connection_timeout=10,
                    execution_profiles={EXEC_PROFILE_DEFAULT: prof})
        self.clusters.append(c)
        return c.connect()

    def rows(self, s, cl):
        st = SimpleStatement("SELECT k, v FROM ks.kv", fetch_size=2000,
                             consistency_level=cl)
        return {r.k: r.v for r in s.execute(st, timeout=120)}

    def assert_every_row(self, s, cl):
        got = self.rows(s, cl)
        missing = [k for k in range(NKEYS) if got.get(k) != k * 3]
        self.assertEqual(missing[:20], [], "%d of %d rows missing at %s"
                         % (len(missing), NKEYS, cl))

    def wait_normal(self, n, k):
        _wait(lambda: sum(1 for v in states(n).values() if v == "UN") == k, 120,
              "%s sees %d normal nodes" % (n.host, k))

    def load(self, s):
        s.execute("CREATE KEYSPACE ks WITH replication = "
                  "{'class': 'NetworkTopologyStrategy', 'dc1': 2}")
        s.execute("CREATE TABLE ks.kv (k int PRIMARY KEY, v int)")
        ps = s.prepare("INSERT INTO ks.kv (k, v) VALUES (?, ?)")
        ps.consistency_level = ConsistencyLevel.LOCAL_QUORUM
        todo = harness.write_retrying(s, ps, [(k, k * 3) for k in range(NKEYS)])
        self.assertEqual(todo[:5], [], "%d rows not written" % len(todo))


class AddDatacenter(_DCBase):
    CLUSTER = "integ-multidc"

    def test_add_dc_rebuild_and_dc_repair(self):
        self.hosts = [harness._pick_host() for _ in range(3)]
        self.sp = harness.shared_port(self.hosts)
        n1, n2 = self.node(0, "dc1"), self.node(1, "dc1")
        n1.start()
        n2.start()
        self.wait_normal(n1, 2)
        s1 = self.session_on(n1)
        self.load(s1)

        # a new DC: no bootstrap, it joins NORMAL and empty
        n3 = self.node(2, "dc2", **{"auto-bootstrap": "false"})
        n3.start()
        self.wait_normal(n1, 3)
        self.wait_normal(n3, 3)
        s1.execute("ALTER KEYSPACE ks WITH replication = "
                   "{'class': 'NetworkTopologyStrategy', 'dc1': 2, 'dc2': 1}")
        s3 = self.session_on(n3)
        _wait(lambda: "dc2" in dict(s3.execute(
            "SELECT replication FROM system_schema.keyspaces "
            "WHERE keyspace_name = 'ks'").one().replication), 60,
              "node 3 has the new replication")
        before = len(self.rows(s3, ConsistencyLevel.LOCAL_ONE))
        print("rows at LOCAL_ONE in dc2 before the rebuild: %d" % before)
        self.assertLess(before, NKEYS)

        rc, out = admin(n3, "rebuild", "dc9")
        self.assertNotEqual(rc, 0, out)
        self.assertIn("unknown datacenter 'dc9'", out)

        rc, out = admin(n3, "rebuild", "dc1")
        print(out)
        self.assertEqual(rc, 0, out)
        self.assertIn("rebuild complete", out)
        sess = http(n3, "GET", "/streams")["streams"]["sessions"][0]
        print("node 3 streams: %s" % json.dumps(sess))
        self.assertEqual(sess["operation"], "rebuild")
        self.assertGreater(sess["ranges_done"], 0)
        self.assertEqual(sess["ranges_done"], sess["ranges_total"])
        self.assertGreater(sess["bytes"], 0)
        # the prepare phase sized every range at its source: progress in
        # bytes ends at exactly what arrived (nothing was written meanwhile)
        self.assertEqual(sess["bytes_total"], sess["bytes"])
        self.assertRegex(out, r"rebuild complete \[#{20}\] 100%.* MiB of [0-9.]+ MiB")
        self.assert_every_row(s3, ConsistencyLevel.LOCAL_ONE)
        self.assert_every_row(s3, ConsistencyLevel.LOCAL_QUORUM)

        # repair restricted to dc1: node 3 is never asked for a tree
        t2, t3 = tree_requests(n2), tree_requests(n3)
        for flags in (["--dc", "dc1"], ["--local"]):
            rc, out = admin(n1, "repair", "ks", *flags)
            print(out)
            self.assertEqual(rc, 0, out)
            self.assertRegex(out, r"Ranges compared:\s+[1-9]")
            self.assertGreater(tree_requests(n2), t2, flags)
            t2 = tree_requests(n2)
            self.assertEqual(tree_requests(n3), t3, flags)
        rc, out = admin(n1, "repair", "ks", "--dc", "dc2")
        self.assertNotEqual(rc, 0, out)
        self.assertIn("must include this node's own (dc1)", out)
        rc, out = admin(n1, "repair", "ks", "--dc", "dc9")
        self.assertNotEqual(rc, 0, out)
        self.assertIn("unknown datacenter 'dc9'", out)
        self.assertEqual(tree_requests(n3), t3)
        # both DCs, in parallel: node 3 takes part
        rc, out = admin(n1, "repair", "ks", "--dc", "dc1", "--dc", "dc2",
                        "--dc-parallel")
        print(out)
        self.assertEqual(rc, 0, out)
        self.assertGreater(tree_requests(n3), t3)

        # no live source: a clear refusal
        n1.kill()
        n2.kill()
        _wait(lambda: states(n3).get(n1.host, "")[:1] == "D" and
              states(n3).get(n2.host, "")[:1] == "D", 60, "node 3 sees dc1 down")
        rc, out = admin(n3, "rebuild", "dc1")
        self.assertNotEqual(rc, 0, out)
        self.assertIn("no node of datacenter 'dc1' is up", out)


class ThirdDatacenterUnderLoad(_DCBase):
    """dc3 added with rebuild while dc1 serves traffic: dc1 (nodes 1, 2)
    and dc2 (node 3), ks {dc1: 2, dc2: 1} with 5,000 rows.  A client
    coordinated by dc1 (DCAwareRoundRobinPolicy, local_dc dc1) writes new
    rows at LOCAL_QUORUM and reads at LOCAL_QUORUM the whole time.  Node 4
    starts in dc3 (auto_bootstrap false), ALTER KEYSPACE adds {dc3: 1},
    and once every node has that schema `rebuild dc1` on node 4 streams
    its ranges while the writes go on.  Then LOCAL_QUORUM reads through
    node 4 return every row: the 5,000 and every write dc1 acknowledged;
    dc1's client saw no failed request."""
    CLUSTER = "integ-multidc-dc3"

    def test_dc3_rebuild_while_dc1_serves(self):
        import threading
        from cassandra.policies import DCAwareRoundRobinPolicy
        self.hosts = [harness._pick_host() for _ in range(4)]
        self.sp = harness.shared_port(self.hosts)
        # dc1 streams slowly (256 KiB/s), so the rebuild takes seconds
        slow = {"stream-throughput-outbound": "256KiB"}
        n1, n2 = self.node(0, "dc1", **slow), self.node(1, "dc1", **slow)
        n3 = self.node(2, "dc2")
        for n in (n1, n2, n3):
            n.start()
        self.wait_normal(n1, 3)
        s1 = self.session_on(n1)
        s1.execute("CREATE KEYSPACE ks WITH replication = "
                   "{'class': 'NetworkTopologyStrategy', 'dc1': 2, 'dc2': 1}")
        s1.execute("CREATE TABLE ks.kv (k int PRIMARY KEY, v int)")
        ps = s1.prepare("INSERT INTO ks.kv (k, v) VALUES (?, ?)")
        ps.consistency_level = ConsistencyLevel.LOCAL_QUORUM
        res = execute_concurrent_with_args(s1, ps, [(k, k * 3) for k in range(NKEYS)],
                                           concurrency=32, raise_on_first_error=True)
        self.assertTrue(all(ok for ok, _ in res))

        prof = ExecutionProfile(load_balancing_policy=DCAwareRoundRobinPolicy(
            local_dc="dc1"), request_timeout=30)
        c = Cluster([n1.host], port=n1.port, protocol_version=4,
                    execution_profiles={EXEC_PROFILE_DEFAULT: prof})
        self.clusters.append(c)
        sw = c.connect()
        wps = sw.prepare("INSERT INTO ks.kv (k, v) VALUES (?, ?)")
        wps.consistency_level = ConsistencyLevel.LOCAL_QUORUM
        rps = sw.prepare("SELECT v FROM ks.kv WHERE k = ?")
        rps.consistency_level = ConsistencyLevel.LOCAL_QUORUM
        acked, failed, reads = [], [], [0]
        stop = threading.Event()

        def traffic():
            k = NKEYS
            while not stop.is_set():
                try:
                    sw.execute(wps, (k, k * 3))
                    acked.append(k)
                    row = sw.execute(rps, (k - NKEYS // 2,)).one()
                    if row is None or row.v != (k - NKEYS // 2) * 3:
                        failed.append(("read", k - NKEYS // 2, row))
                    reads[0] += 1
                except Exception as e:  # noted; the test fails on any
                    failed.append(("error", k, repr(e)))
                k += 1

        th = threading.Thread(target=traffic, daemon=True)
        th.start()
        try:
            _wait(lambda: len(acked) > 200, 60, "dc1 traffic flows")
            n4 = self.node(3, "dc3", **{"auto-bootstrap": "false"})
            n4.start()
            for n in (n1, n2, n3, n4):
                self.wait_normal(n, 4)
            s1.execute("ALTER KEYSPACE ks WITH replication = {'class': "
                       "'NetworkTopologyStrategy', 'dc1': 2, 'dc2': 1, 'dc3': 1}")
            for n in (n1, n2, n3, n4):
                sn = self.session_on(n)
                _wait(lambda sn=sn: "dc3" in dict(sn.execute(
                    "SELECT replication FROM system_schema.keyspaces "
                    "WHERE keyspace_name = 'ks'").one().replication), 60,
                    "%s has the new replication" % n.host)
            at_start = len(acked)
            rc, out = admin(n4, "rebuild", "dc1")
            print(out)
            self.assertEqual(rc, 0, out)
            self.assertIn("rebuild complete", out)
            during = len(acked) - at_start
            _wait(lambda: len(acked) > at_start + during + 200, 60,
                  "writes after the rebuild")
            print("dc1 traffic: %d writes acknowledged (%d during the rebuild), "
                  "%d reads" % (len(acked), during, reads[0]))
            self.assertGreater(during, 0)
        finally:
            stop.set()
            th.join(60)
        self.assertEqual(failed[:10], [], "%d failed requests in dc1" % len(failed))
        s4 = self.session_on(n4)
        want = {k: k * 3 for k in list(range(NKEYS)) + acked}
        got = self.rows(s4, ConsistencyLevel.LOCAL_QUORUM)
        missing = [k for k, v in want.items() if got.get(k) != v]
        print("LOCAL_QUORUM in dc3: %d rows, %d of %d missing"
              % (len(got), len(missing), len(want)))
        self.assertEqual(missing[:20], [], "%d of %d rows missing in dc3"
                         % (len(missing), len(want)))


if __name__ == "__main__":
    harness.main()
