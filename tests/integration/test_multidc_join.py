"""
test_multidc_join.py - a new two-DC cluster forms with tokens the nodes
choose themselves (issue 22 / 18).

Four nodes, two per data center, one seed per DC (as multi-DC runbooks
advise), all started at the same moment with auto tokens.  Before the
fix both seeds found the ring empty at once, took the same evenly spaced
tokens, and every node then failed to build its ring ("cannot build the
ring: already exists"); a later node waited for a ring forever.  Now the
first node's evenly spaced tokens are turned by an offset from its host
id, and a token two members announce stays with the smaller host id.

Asserted: every node opens its CQL port, every node sees 4 members with
tokens in system.peers/local, no node logs "cannot build the ring", and a
write at EACH_QUORUM on NetworkTopologyStrategy {dc1: 2, dc2: 2} is
readable at LOCAL_QUORUM in both DCs.
"""
import unittest

import harness
from harness import Node

from cassandra import ConsistencyLevel as CL
from cassandra.cluster import Cluster
from cassandra.policies import WhiteListRoundRobinPolicy
from cassandra.query import SimpleStatement


class MultiDCJoin(unittest.TestCase):
    def setUp(self):
        hosts = [harness._pick_host() for _ in range(4)]
        sp = harness.shared_port(hosts)
        seeds = "%s,%s" % (hosts[0], hosts[2])
        self.nodes = [Node(host=h, extra={"storage-port": sp, "seeds": seeds,
                                          "num-tokens": 8,
                                          "dc": "dc1" if i < 2 else "dc2",
                                          "allocate-tokens-for-local-replication-factor": 2})
                      for i, h in enumerate(hosts)]
        self.clusters = []

    def tearDown(self):
        for c in self.clusters:
            c.shutdown()
        for n in self.nodes:
            try:
                n.stop()
            finally:
                n.cleanup()

    def session(self, n):
        c = Cluster([n.host], port=n.port, protocol_version=4,
                    load_balancing_policy=WhiteListRoundRobinPolicy([n.host]))
        self.clusters.append(c)
        return c.connect()

    def test_two_seeds_start_together(self):
        for n in self.nodes:
            n.start(wait=False)
        for n in self.nodes:
            n.wait_listening(timeout=120)
        sessions = [self.session(n) for n in self.nodes]
        harness.wait_for_ring(sessions, 4, timeout=90, what="two-DC cluster")
        for n in self.nodes:
            self.assertNotIn("cannot build the ring", n.log(), n.log_tail())
        s = sessions[0]
        s.execute("CREATE KEYSPACE k WITH replication = {'class': "
                  "'NetworkTopologyStrategy', 'dc1': 2, 'dc2': 2}")
        s.execute("CREATE TABLE k.t (k int PRIMARY KEY, v int)")
        for i in range(50):
            s.execute(SimpleStatement("INSERT INTO k.t (k, v) VALUES (%s, %s)",
                                      consistency_level=CL.EACH_QUORUM), (i, i))
        for s2 in (sessions[0], sessions[2]):
            for i in range(50):
                r = s2.execute(SimpleStatement("SELECT v FROM k.t WHERE k = %s",
                                               consistency_level=CL.LOCAL_QUORUM), (i,)).one()
                self.assertEqual(r.v, i)


if __name__ == "__main__":
    harness.main()
