"""
test_drain.py - `basalt-admin drain` (POST /drain) stops a node taking
writes, as nodetool drain does (issue 19, finding 5: it flushed and went
on accepting CQL writes).

Three real basaltd processes, keyspace RF=3.  After node 3 is drained:
- a write sent to node 3 fails with Overloaded naming the drain (drivers
  answer Overloaded by trying the next host), TRUNCATE too;
- reads on node 3 still work and see the data written before;
- node 3 as a replica refuses writes: QUORUM writes through node 1 succeed
  (two replicas), ALL writes fail, and node 1 keeps a hint for node 3;
- after a restart node 3 takes writes again and the hints reach it.
"""
import json
import time
import unittest
import urllib.request

import harness
from harness import Node

from cassandra import ConsistencyLevel, WriteFailure, WriteTimeout
from cassandra.cluster import Cluster, ExecutionProfile, EXEC_PROFILE_DEFAULT, NoHostAvailable
from cassandra.policies import WhiteListRoundRobinPolicy, FallthroughRetryPolicy
from cassandra.protocol import OverloadedErrorMessage
from cassandra.query import SimpleStatement


def session_for(node):
    prof = ExecutionProfile(load_balancing_policy=WhiteListRoundRobinPolicy([node.host]),
                            retry_policy=FallthroughRetryPolicy(), request_timeout=30)
    c = Cluster([node.host], port=node.port, protocol_version=4,
                execution_profiles={EXEC_PROFILE_DEFAULT: prof},
                connect_timeout=10, control_connection_timeout=10,
                max_schema_agreement_wait=0)
    return c, c.connect()


def admin(node, method, path):
    req = urllib.request.Request("http://%s:%d%s" % (node.host, node.admin_port, path),
                                 method=method, data=b"" if method == "POST" else None,
                                 headers=node.admin_headers())
    with urllib.request.urlopen(req, timeout=60) as r:
        return r.status, json.loads(r.read() or b"null")


def stmt(q, cl):
    return SimpleStatement(q, consistency_level=cl)


class DrainTest(unittest.TestCase):
    def setUp(self):
        hosts = [harness._pick_host() for _ in range(3)]
        sp = harness.shared_port(hosts)
        self.nodes = [Node(host=h, extra={"storage-port": sp, "seeds": hosts[0],
                                           "cluster-name": "integ-drain", "num-tokens": 8,
                                           "write-request-timeout": "2000ms"})
                      for h in hosts]
        self.clusters = []
        for n in self.nodes:
            n.start()

    def tearDown(self):
        for c in self.clusters:
            c.shutdown()
        for n in self.nodes:
            n.cleanup()

    def session(self, i):
        c, s = session_for(self.nodes[i])
        self.clusters.append(c)
        return s

    def test_drain_refuses_writes_keeps_reads(self):
        s1 = self.session(0)
        harness.wait_for_ring([self.session(i) for i in range(3)], 3, 30,
                              "three nodes in system.peers")
        s1.execute("CREATE KEYSPACE d WITH replication = "
                   "{'class': 'SimpleStrategy', 'replication_factor': 3}")
        s1.execute("CREATE TABLE d.t (k int PRIMARY KEY, v text)")
        s3 = self.session(2)
        harness.wait_for(lambda: s3.execute(
            "SELECT table_name FROM system_schema.tables WHERE keyspace_name = 'd'").one(),
            30, "schema on node 3")
        s1.execute(stmt("INSERT INTO d.t (k, v) VALUES (1, 'before')", ConsistencyLevel.ALL))

        status, _ = admin(self.nodes[2], "POST", "/drain")
        self.assertEqual(status, 200)
        _, info = admin(self.nodes[2], "GET", "/info")
        self.assertFalse(info["native_transport_active"])

        # writes coordinated by the drained node are refused, clearly
        for q in ("INSERT INTO d.t (k, v) VALUES (2, 'after')", "TRUNCATE d.t"):
            with self.assertRaises((OverloadedErrorMessage, NoHostAvailable)) as cm:
                s3.execute(stmt(q, ConsistencyLevel.ONE))
            self.assertIn("drained", str(cm.exception))
        # reads go on
        row = s3.execute(stmt("SELECT v FROM d.t WHERE k = 1", ConsistencyLevel.ONE)).one()
        self.assertEqual(row.v, "before")

        # as a replica it refuses too: QUORUM through node 1 succeeds on the
        # other two, ALL cannot, and node 1 keeps hints for node 3
        s1.execute(stmt("INSERT INTO d.t (k, v) VALUES (3, 'quorum')", ConsistencyLevel.QUORUM))
        with self.assertRaises((WriteFailure, WriteTimeout)):
            s1.execute(stmt("INSERT INTO d.t (k, v) VALUES (4, 'all')", ConsistencyLevel.ALL))
        row = s3.execute(stmt("SELECT v FROM d.t WHERE k = 3", ConsistencyLevel.ONE)).one()
        self.assertIsNone(row, "the drained replica applied a write")
        _, hints = admin(self.nodes[0], "GET", "/hints")
        pending = {h["address"]: h["pending"] for h in hints["hints"]}
        self.assertGreaterEqual(pending.get(self.nodes[2].host, 0), 1, hints)

        # a restart ends the drain; the hints reach node 3
        self.assertEqual(self.nodes[2].stop(), 0)
        self.nodes[2].start()
        s3 = self.session(2)
        harness.wait_for(lambda: s3.execute(
            stmt("SELECT v FROM d.t WHERE k = 3", ConsistencyLevel.ONE)).one(),
            60, "the hinted write on node 3 after its restart")
        s3.execute(stmt("INSERT INTO d.t (k, v) VALUES (5, 'again')", ConsistencyLevel.ONE))


if __name__ == "__main__":
    harness.main()
