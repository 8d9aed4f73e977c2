"""
test_seed_restart.py - a restarted node knows the members of its last run
before it serves clients (issue 19, seen in the soak: a restarted seed
opened the CQL port before the others had reconnected to it, and QUORUM
requests through it got Unavailable for about a second).

Three nodes, node 1 the only seed.  Every node saves the addresses of the
other members (system.local); a restart contacts them at once and waits,
up to 10 s, until gossip knows each of them again.

  * node 1 restarted while nodes 2 and 3 run: the first CQL session
    opened after the port accepts already lists both peers with tokens
    in system.peers, and a QUORUM write and read through node 1 succeed
    at once; its log says no member of the last run is missing;
  * nodes 2 and 3 killed, then node 1 restarted: nobody can tell it about
    them, so it waits no longer than its bound, serves clients, and its
    log counts both members of the last run as not heard from.  (With
    only node 3 dead, node 2 tells node 1 node 3's state: both count as
    heard from, and the ring is whole.)
"""
import re
import unittest

import harness
from harness import Node

from cassandra import ConsistencyLevel
from cassandra.cluster import Cluster
from cassandra.policies import WhiteListRoundRobinPolicy
from cassandra.query import SimpleStatement


def session_for(node):
    c = Cluster([node.host], port=node.port, protocol_version=4,
                load_balancing_policy=WhiteListRoundRobinPolicy([node.host]),
                connect_timeout=10, control_connection_timeout=10)
    return c, c.connect()


class SeedRestartTest(unittest.TestCase):
    def setUp(self):
        hosts = [harness._pick_host() for _ in range(3)]
        sp = harness.shared_port(hosts)
        self.nodes = [Node(host=h, extra={"storage-port": sp, "seeds": hosts[0],
                                          "num-tokens": 8})
                      for h in hosts]
        self.clusters = []
        try:
            for n in self.nodes:
                n.start()
            sessions = []
            for n in self.nodes:
                c, s = session_for(n)
                self.clusters.append(c)
                sessions.append(s)
            harness.wait_for_ring(sessions, 3, what="seed restart cluster")
            sessions[0].execute(
                "CREATE KEYSPACE ks WITH replication = "
                "{'class': 'SimpleStrategy', 'replication_factor': 3}")
            sessions[0].execute("CREATE TABLE ks.t (k int PRIMARY KEY, v int)")
            # every node saved the other two (on its ring rebuilds)
            for n in self.nodes:
                harness.wait_for(lambda n=n: n.alive(), 5, "node up")
        except Exception:
            self.tearDown()
            raise

    def tearDown(self):
        for c in self.clusters:
            c.shutdown()
        self.clusters = []
        for n in self.nodes:
            try:
                n.stop()
            finally:
                n.cleanup()

    def settled_line(self, node):
        m = re.findall(r"gossip settled: (\d+) nodes known, (\d+) up; (\d+) of the (\d+) "
                       r"members of the last run not heard from", node.log())
        self.assertTrue(m, "no 'gossip settled' line:\n%s" % node.log_tail())
        return tuple(int(x) for x in m[-1])

    def test_restarted_seed_knows_its_peers_before_serving(self):
        seed = self.nodes[0]
        self.assertEqual(seed.stop(), 0)
        seed.start()
        c, s = session_for(seed)
        self.clusters.append(c)
        peers = [r for r in s.execute("SELECT peer, tokens FROM system.peers") if r.tokens]
        self.assertEqual(len(peers), 2, "system.peers right after the restart: %r" % peers)
        known, up, unmet, saved = self.settled_line(seed)
        self.assertEqual((known, saved, unmet), (3, 2, 0))
        w = SimpleStatement("INSERT INTO ks.t (k, v) VALUES (1, 1)",
                            consistency_level=ConsistencyLevel.QUORUM)
        s.execute(w)
        r = s.execute(SimpleStatement("SELECT v FROM ks.t WHERE k = 1",
                                      consistency_level=ConsistencyLevel.QUORUM)).one()
        self.assertEqual(r.v, 1)

    def test_dead_members_do_not_hold_the_restart(self):
        seed = self.nodes[0]
        self.nodes[1].kill()
        self.nodes[2].kill()
        self.assertEqual(seed.stop(), 0)
        seed.start(timeout=60)
        c, s = session_for(seed)
        self.clusters.append(c)
        known, up, unmet, saved = self.settled_line(seed)
        self.assertEqual(saved, 2)
        self.assertEqual((known, unmet), (1, 2), "nodes 2 and 3 are dead: nobody can tell of them")
        r = s.execute(SimpleStatement("SELECT release_version FROM system.local")).one()
        self.assertTrue(r.release_version)


if __name__ == "__main__":
    harness.main()
