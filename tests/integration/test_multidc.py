"""
test_multidc.py - two data centers on loopback (issue 22): write
forwarding, cross-DC traffic counters, LOCAL_* levels with a DC gone,
hints per DC, DC-aware routing of python3-cassandra.

Six small basaltd nodes, three with `dc: dc1` and three with `dc: dc2`
(config flags), one keyspace with NetworkTopologyStrategy {dc1: 3,
dc2: 3}.  Node d1c (the third of dc1) runs with
cross_dc_write_forwarding false and hinted_handoff_disabled_datacenters
dc2: the old behaviour as a baseline, and the config key.  In order:

  1. forwarding (and, 1b, compression; 1c, LOCAL_QUORUM and LOCAL_ONE
     reads send no READ to dc2, QUORUM reads do): N LOCAL_QUORUM writes of a 2000-byte blob through d1a
     send at most 1.3 x 2000 bytes per write to dc2 (MUTATION +
     MUTATION_FWD frames in basalt_internode_cross_dc_sent_bytes_total),
     the same writes through d1c (no forwarding) at least 2.5 x; every
     dc2 node ends up holding every row (a LOCAL_ONE read coordinated by
     each dc2 node, which is a replica of everything, reads its own
     store), d1a counts 2 forward acks per write, and the dc2 nodes
     relayed 2 copies per write between them;
  2. routing: a python3-cassandra session with
     DCAwareRoundRobinPolicy(local_dc='dc2'), contact point in dc1, runs
     200 queries; basalt_cql_requests_total of the dc1 nodes does not
     move, the dc2 nodes' grows by at least 200;
  3. dc2 paused (SIGSTOP): LOCAL_QUORUM writes through d1a succeed and
     leave 3 hints each (whichever path: a forwarder that never answers
     plus its two relays that never ack, or replicas known down);
     disablehintsfordc dc2 (basalt-admin) stops hints, enablehintsfordc
     brings them back (the count after a later hinted batch is exactly
     3 per hinted write); d1c, with dc2 disabled by its config, stores
     none until enablehintsfordc; EACH_QUORUM writes and reads end in
     Unavailable once dc2 is seen down, LOCAL_QUORUM reads still
     succeed; after SIGCONT the hints replay: every dc2 node holds the
     hinted rows and none of the rows written while hints were off.

No timing is asserted; waits are liveness bounds.
"""

import os
import re
import signal
import subprocess
import unittest
import urllib.request

import harness
from harness import Node

from cassandra import ConsistencyLevel, Unavailable, WriteTimeout, ReadTimeout
from cassandra.cluster import Cluster, ExecutionProfile, EXEC_PROFILE_DEFAULT
from cassandra.policies import (WhiteListRoundRobinPolicy, FallthroughRetryPolicy,
                                DCAwareRoundRobinPolicy)
from cassandra.query import SimpleStatement

VALUE = 2000
N = 30
CL = ConsistencyLevel


def _admin_binary():
    p = os.environ.get("BASALT_ADMIN")
    if p:
        return p
    build = os.path.dirname(os.path.dirname(os.path.abspath(harness.BASALTD)))
    return os.path.join(build, "client", "basalt-admin")


def _session_for(node):
    prof = ExecutionProfile(load_balancing_policy=WhiteListRoundRobinPolicy([node.host]),
                            retry_policy=FallthroughRetryPolicy(), request_timeout=30)
    c = Cluster([node.host], port=node.port, protocol_version=4,
                execution_profiles={EXEC_PROFILE_DEFAULT: prof},
                connect_timeout=10, control_connection_timeout=10,
                max_schema_agreement_wait=0, idle_heartbeat_interval=0,
                schema_event_refresh_window=-1, topology_event_refresh_window=-1,
                status_event_refresh_window=-1)
    return c, c.connect()


class MultiDC(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        hosts = [harness._pick_host() for _ in range(6)]
        sp = harness.shared_port(hosts)
        cls.nodes, cls.clusters, cls.sessions = [], [], {}
        try:
            for i, h in enumerate(hosts):
                extra = {"storage-port": sp, "seeds": "%s,%s" % (hosts[0], hosts[3]),
                         "cluster-name": "integ-mdc", "num-tokens": 4,
                         "dc": "dc1" if i < 3 else "dc2", "rack": "r1",
                         "write-request-timeout": "2000ms",
                         # a new, empty cluster: nothing to stream, and six
                         # nodes joining at once must not queue behind one
                         # another's bootstrap (one topology change at a time)
                         "auto-bootstrap": "false",
                         # fixed tokens, interleaved over the six nodes:
                         # nothing to choose, so no join waits on another
                         "initial-token": ",".join(
                             str(-2**63 + (j * 6 + i) * (2**64 // 24) + 1000)
                             for j in range(4))}
                if i == 2:
                    extra["cross-dc-write-forwarding"] = "false"
                    extra["hinted-handoff-disabled-datacenters"] = "dc2"
                cls.nodes.append(Node(host=h, extra=extra))
            for n in cls.nodes:
                n.start()
            harness.wait_for_ring([cls.s(i) for i in range(6)], 6, 120, "2 x 3 nodes")
            s = cls.s(0)
            s.execute("CREATE KEYSPACE mdc WITH replication = {'class': "
                      "'NetworkTopologyStrategy', 'dc1': 3, 'dc2': 3}")
            s.execute("CREATE TABLE mdc.t (k int PRIMARY KEY, v blob)")
            for i in range(6):
                harness.wait_for(lambda i=i: cls.s(i).execute(
                    "SELECT table_name FROM system_schema.tables WHERE keyspace_name='mdc'"
                ).one(), 30, "schema on node %d" % i)
        except BaseException:
            cls._teardown()
            raise

    @classmethod
    def _teardown(cls):
        for c in cls.clusters:
            try:
                c.shutdown()
            except Exception:
                pass
        for n in cls.nodes:
            n.cleanup()

    @classmethod
    def tearDownClass(cls):
        cls._teardown()

    @classmethod
    def s(cls, i):
        if i not in cls.sessions:
            c, s = _session_for(cls.nodes[i])
            cls.clusters.append(c)
            cls.sessions[i] = s
        return cls.sessions[i]

    # -- helpers ----------------------------------------------------------
    def metrics(self, i):
        return self.nodes[i].metrics()

    def xdc_write_bytes(self, i):
        m = self.metrics(i)
        return sum(m.get('basalt_internode_cross_dc_sent_bytes_total{verb="%s"}' % v, 0)
                   for v in ("MUTATION", "MUTATION_FWD"))

    def write(self, i, k, cl=CL.LOCAL_QUORUM, v=None):
        self.s(i).execute(SimpleStatement("INSERT INTO mdc.t (k, v) VALUES (%s, %s)",
                                          consistency_level=cl),
                          (k, v if v is not None else os.urandom(VALUE)))

    def read(self, i, k, cl=CL.LOCAL_QUORUM):
        return self.s(i).execute(SimpleStatement("SELECT v FROM mdc.t WHERE k = %s",
                                                 consistency_level=cl), (k,)).one()

    def has_all(self, i, keys):
        return all(self.read(i, k, CL.LOCAL_ONE) is not None for k in keys)

    def admin(self, i, *args):
        n = self.nodes[i]
        tf = os.path.join(n.data_dir, "admin_token")
        p = subprocess.run([_admin_binary(), "-h", n.host, "-p", str(n.admin_port),
                            "--token-file", tf] + list(args),
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, "basalt-admin %s: %s%s" % (args, p.stdout, p.stderr))
        return p.stdout

    def hints_written(self, i):
        return self.metrics(i).get("basalt_hints_written_total", 0)

    # -- 1. forwarding ----------------------------------------------------
    def test_1_forwarding(self):
        m0 = self.metrics(0)
        b0, c0 = self.xdc_write_bytes(0), self.xdc_write_bytes(2)
        relayed0 = sum(self.metrics(i).get("basalt_write_forwards_relayed_total", 0)
                       for i in (3, 4, 5))
        for k in range(N):
            self.write(0, k)
        for k in range(N, 2 * N):
            self.write(2, k)
        # LOCAL_QUORUM answers before the copies to dc2 are on the wire:
        # count the bytes once every row is in dc2 and the counters stop
        keys = list(range(2 * N))
        for i in (3, 4, 5):
            harness.wait_for(lambda i=i: self.has_all(i, keys), 60,
                             "every row on dc2 node %d" % i)
        last = [None]

        def settled():
            now = (self.xdc_write_bytes(0), self.xdc_write_bytes(2))
            same, last[0] = now == last[0], now
            return same
        harness.wait_for(settled, 30, "cross-DC byte counters settle", step=0.5)
        fwd = (last[0][0] - b0) / N
        plain = (last[0][1] - c0) / N
        print("cross-DC write bytes per %d-byte LOCAL_QUORUM write, RF dc1:3 dc2:3: "
              "forwarded %.0f (%.2fx), not forwarded %.0f (%.2fx)"
              % (VALUE, fwd, fwd / VALUE, plain, plain / VALUE))
        self.assertLessEqual(fwd, 1.3 * VALUE)
        self.assertGreaterEqual(fwd, VALUE)       # the copy did cross
        self.assertGreaterEqual(plain, 2.5 * VALUE)
        m1 = self.metrics(0)
        sent = m1["basalt_write_forwards_sent_total"] - m0["basalt_write_forwards_sent_total"]
        self.assertEqual(sent, N)

        def acks():
            m = self.metrics(0)
            return m["basalt_write_forward_acks_total"] - m0["basalt_write_forward_acks_total"]
        harness.wait_for(lambda: acks() >= 2 * N, 60, "2 relayed acks per forwarded write")
        self.assertEqual(acks(), 2 * N)
        relayed = sum(self.metrics(i)["basalt_write_forwards_relayed_total"]
                      for i in (3, 4, 5)) - relayed0
        self.assertEqual(relayed, 2 * N)
        self.assertEqual(self.metrics(0)["basalt_write_forward_expired_total"], 0)

    def test_1b_compression(self):
        """internode_compression dc (the default): a compressible write
        crosses to dc2 lz4-compressed."""
        m0 = self.metrics(0)
        b0 = self.xdc_write_bytes(0)
        for k in range(500, 500 + N):
            self.write(0, k, v=b"x" * VALUE)
        m1 = self.metrics(0)
        per = (self.xdc_write_bytes(0) - b0) / N
        frames = (m1["basalt_internode_compressed_frames_total"] -
                  m0["basalt_internode_compressed_frames_total"])
        raw = (m1["basalt_internode_compression_raw_bytes_total"] -
               m0["basalt_internode_compression_raw_bytes_total"])
        wire = (m1["basalt_internode_compression_wire_bytes_total"] -
                m0["basalt_internode_compression_wire_bytes_total"])
        print("compressible %d-byte writes: %.0f cross-DC bytes each; %d frames "
              "compressed, %d -> %d bytes" % (VALUE, per, frames, raw, wire))
        self.assertLess(per, VALUE / 4)
        self.assertGreaterEqual(frames, N)
        self.assertLess(wire, raw / 4)

    def test_1c_local_reads_stay_local(self):
        """LOCAL_QUORUM / LOCAL_ONE reads send nothing to dc2; QUORUM
        (4 of 6) has to, and the counter sees it."""
        def xdc_reads(i):
            m = self.metrics(i)
            return m.get('basalt_internode_cross_dc_sent_messages_total{verb="READ"}', 0)
        r0 = [xdc_reads(i) for i in (0, 1)]
        for k in range(N):
            self.assertIsNotNone(self.read(0, k, CL.LOCAL_QUORUM))
            self.assertIsNotNone(self.read(1, k, CL.LOCAL_ONE))
        self.assertEqual([xdc_reads(i) for i in (0, 1)], r0)
        for k in range(N):
            self.assertIsNotNone(self.read(0, k, CL.QUORUM))
        self.assertGreaterEqual(xdc_reads(0) - r0[0], N)

    # -- 2. DC-aware routing of the Python driver -------------------------
    def test_2_dcaware_routing(self):
        # the other sessions' control connections would query their nodes
        # on cluster events: closed for the count (reopened on demand)
        for c in self.clusters:
            c.shutdown()
        del self.clusters[:]
        self.sessions.clear()
        prof = ExecutionProfile(load_balancing_policy=DCAwareRoundRobinPolicy(local_dc="dc2"),
                                retry_policy=FallthroughRetryPolicy(), request_timeout=30)
        c = Cluster([self.nodes[0].host], port=self.nodes[0].port, protocol_version=4,
                    execution_profiles={EXEC_PROFILE_DEFAULT: prof},
                    connect_timeout=10, control_connection_timeout=10,
                    idle_heartbeat_interval=0, schema_event_refresh_window=-1,
                    topology_event_refresh_window=-1, status_event_refresh_window=-1)
        self.clusters.append(c)
        s = c.connect()
        # every pool is open before the counting starts
        harness.wait_for(lambda: len(s.get_pool_state()) >= 3, 30, "pools to the dc2 nodes")
        before = [self.metrics(i)["basalt_cql_requests_total"] for i in range(6)]
        for k in range(200):
            s.execute(SimpleStatement("SELECT v FROM mdc.t WHERE k = %s",
                                      consistency_level=CL.LOCAL_ONE), (k % N,))
        after = [self.metrics(i)["basalt_cql_requests_total"] for i in range(6)]
        delta = [a - b for a, b in zip(after, before)]
        print("CQL requests per node (dc1 x3, dc2 x3): %s" % delta)
        self.assertEqual(delta[:3], [0, 0, 0])
        self.assertGreaterEqual(sum(delta[3:]), 200)
        self.assertTrue(all(d > 0 for d in delta[3:]), delta)
        c.shutdown()

    # -- 3. dc2 gone: LOCAL_* go on, EACH_QUORUM fails, hints per DC ------
    def hinted_batches(self, i, first, disable):
        """Writes N keys with hints off for dc2 (turned off first when
        `disable`), turns them on and writes N more: exactly 3 hints per
        key of the second batch, none for the first."""
        h0 = self.hints_written(i)
        if disable:
            self.admin(i, "disablehintsfordc", "dc2")
        self.assertIn("dc2", self.admin(i, "gethintsfordc"))
        for k in range(first, first + N):
            self.write(i, k)
        self.admin(i, "enablehintsfordc", "dc2")
        self.assertIn("none", self.admin(i, "gethintsfordc"))
        for k in range(first + N, first + 2 * N):
            self.write(i, k)
        harness.wait_for(lambda: self.hints_written(i) - h0 >= 3 * N, 60,
                         "3 hints per write of the hinted batch on node %d" % i)
        self.assertEqual(self.hints_written(i) - h0, 3 * N)

    def test_3_dc2_down(self):
        for n in self.nodes[3:]:
            harness.pause(n.proc.pid)
        try:
            # at once: the forwarder may still be thought alive
            h0 = self.hints_written(0)
            for k in range(1000, 1000 + N):
                self.write(0, k)
            harness.wait_for(lambda: self.hints_written(0) - h0 >= 3 * N, 60,
                             "3 hints per write with dc2 paused")
            self.assertEqual(self.hints_written(0) - h0, 3 * N)
            print("replicas behind a forwarder hinted at expiry: %d"
                  % self.metrics(0)["basalt_write_forward_expired_total"])
            self.hinted_batches(0, 2000, disable=True)   # basalt-admin
            self.hinted_batches(2, 3000, disable=False)  # the config key

            def each_quorum_unavailable():
                try:
                    self.write(0, 9999, CL.EACH_QUORUM)
                except Unavailable:
                    return True
                except WriteTimeout:
                    return False    # dc2 not yet seen down
                self.fail("EACH_QUORUM write succeeded with dc2 paused")
            harness.wait_for(each_quorum_unavailable, 90, "EACH_QUORUM Unavailable")
            with self.assertRaises(Unavailable):
                self.read(0, 1000, CL.EACH_QUORUM)
            for k in range(1000, 1000 + N):
                self.assertIsNotNone(self.read(1, k))
                self.assertIsNotNone(self.read(0, k, CL.LOCAL_ONE))
        finally:
            for n in self.nodes[3:]:
                os.kill(n.proc.pid, signal.SIGCONT)
        hinted = (list(range(1000, 1000 + N)) + list(range(2000 + N, 2000 + 2 * N)) +
                  list(range(3000 + N, 3000 + 2 * N)))
        for i in (3, 4, 5):
            harness.wait_for(lambda i=i: self.has_all(i, hinted), 120,
                             "hinted rows replayed to dc2 node %d" % i)
            for k in list(range(2000, 2000 + N)) + list(range(3000, 3000 + N)):
                self.assertIsNone(self.read(i, k, CL.LOCAL_ONE),
                                  "key %d written while hints for dc2 were off" % k)


if __name__ == "__main__":
    harness.main()
