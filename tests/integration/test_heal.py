#!/usr/bin/env python3
"""A network cut between two nodes, then heal (issue 22, findings W1/W2 of
docs/JEPSEN.md's multi-DC section).

Two nodes, keyspace RF=2.  Every internode packet to or from node 2 is
dropped (an nftables rule on the input hook: the sender sees no error,
exactly a lossy network; root and nft are required, as for the Jepsen
suite's namespaces) while node 1 takes N writes at CL=ONE, which become
hints for node 2.  Both nodes must convict each other, and after the heal
see each other UP again (gossip resets the connections it convicted, so
the first packets after the heal go out on fresh ones instead of waiting
for a stalled connection's retransmission back-off), and node 1's hints
must all reach node 2: with node 1 stopped, node 2 alone answers every
key.  The time from the heal to UP and the hint replay rate are printed,
not asserted.
"""
import atexit
import os
import subprocess
import time
import unittest
import urllib.request

import harness
from harness import Node

from cassandra import ConsistencyLevel
from cassandra.cluster import Cluster, ExecutionProfile, EXEC_PROFILE_DEFAULT
from cassandra.concurrent import execute_concurrent_with_args
from cassandra.policies import WhiteListRoundRobinPolicy
from cassandra.query import SimpleStatement

N_KEYS = 3000
# the cut lasts at least this long (and until both convict); HEAL_CUT_S
# overrides it for manual comparisons (a longer cut lets a stalled
# connection's back-off grow further)
CUT_S = float(os.environ.get("HEAL_CUT_S", "25"))


def _session_for(node):
    prof = ExecutionProfile(load_balancing_policy=WhiteListRoundRobinPolicy([node.host]),
                            request_timeout=30)
    c = Cluster([node.host], port=node.port, protocol_version=4,
                execution_profiles={EXEC_PROFILE_DEFAULT: prof},
                connect_timeout=10, control_connection_timeout=10,
                max_schema_agreement_wait=0)
    return c, c.connect()


class Cut(object):
    """Drops every TCP packet to or from host on storage port sp."""

    def __init__(self, host, sp):
        self.table = "bs_heal_%d" % os.getpid()
        self.host, self.sp = host, sp
        self.on = False
        atexit.register(self.heal)

    def _nft(self, *args):
        subprocess.run(["nft"] + list(args), check=True, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)

    def cut(self):
        self._nft("add", "table", "inet", self.table)
        self.on = True
        self._nft("add", "chain", "inet", self.table, "in",
                  "{ type filter hook input priority 0; policy accept; }")
        for a in ("saddr", "daddr"):
            for p in ("sport", "dport"):
                self._nft("add", "rule", "inet", self.table, "in", "ip", a, self.host,
                          "tcp", p, str(self.sp), "drop")

    def heal(self):
        if self.on:
            self.on = False
            self._nft("delete", "table", "inet", self.table)


def _pending_hints(node):
    req = urllib.request.Request("http://%s:%d/metrics" % (node.host, node.admin_port),
                                 headers=node.admin_headers())
    with urllib.request.urlopen(req, timeout=10) as r:
        for line in r.read().decode().splitlines():
            if line.startswith("basalt_hints_pending "):
                return float(line.split()[1])
    raise AssertionError("no basalt_hints_pending in /metrics")


class HealTest(unittest.TestCase):

    def test_cut_heal_up_and_hints(self):
        hosts = [harness._pick_host() for _ in range(2)]
        sp = harness.shared_port(hosts)
        nodes = [Node(host=h, extra={"storage-port": sp, "seeds": hosts[0],
                                     "cluster-name": "integ-heal", "num-tokens": 8})
                 for h in hosts]
        sessions = []
        cut = Cut(hosts[1], sp)
        try:
            for n in nodes:
                n.start()
            a, v = nodes
            sa = _session_for(a)
            sessions.append(sa[0])
            sv = _session_for(v)
            sessions.append(sv[0])
            harness.wait_for_ring([sa[1], sv[1]], 2, what="two nodes")
            sa[1].execute("CREATE KEYSPACE heal WITH replication = "
                          "{'class': 'SimpleStrategy', 'replication_factor': 2}")
            sa[1].execute("CREATE TABLE heal.t (k int PRIMARY KEY, v text)")
            harness.wait_for(lambda: sv[1].execute(
                "SELECT table_name FROM system_schema.tables WHERE keyspace_name = 'heal' "
                "AND table_name = 't'").one(), 30, "node 2 has the table")

            down_a = "%s:%d is now DOWN" % (v.host, sp)
            down_v = "%s:%d is now DOWN" % (a.host, sp)
            up_a = "%s:%d is now UP" % (v.host, sp)
            up_v = "%s:%d is now UP" % (a.host, sp)
            ups = (a.log().count(up_a), v.log().count(up_v))
            downs = (a.log().count(down_a), v.log().count(down_v))
            cut.cut()
            t_cut = time.monotonic()
            ins = sa[1].prepare("INSERT INTO heal.t (k, v) VALUES (?, ?)")
            ins.consistency_level = ConsistencyLevel.ONE
            res = execute_concurrent_with_args(
                sa[1], ins, [(k, "v%d" % k) for k in range(N_KEYS)], concurrency=64,
                raise_on_first_error=True)
            self.assertTrue(all(ok for ok, _ in res))
            harness.wait_for(lambda: a.log().count(down_a) > downs[0], 90,
                             "node 1 convicts node 2", step=0.2)
            harness.wait_for(lambda: v.log().count(down_v) > downs[1], 90,
                             "node 2 convicts node 1", step=0.2)
            t_conv = time.monotonic() - t_cut
            while time.monotonic() - t_cut < CUT_S:
                time.sleep(0.2)
            cut.heal()
            t_heal = time.monotonic()
            print("cut %.1f s (both convicted after %.1f s), healed" %
                  (t_heal - t_cut, t_conv), flush=True)
            harness.wait_for(lambda: a.log().count(up_a) > ups[0], 180,
                             "node 1 sees node 2 UP", step=0.1)
            t_up_a = time.monotonic() - t_heal
            harness.wait_for(lambda: v.log().count(up_v) > ups[1], 180,
                             "node 2 sees node 1 UP", step=0.1)
            t_up_v = time.monotonic() - t_heal
            print("UP again after the heal: node 1 sees node 2 after %.1f s, "
                  "node 2 sees node 1 after %.1f s" % (t_up_a, t_up_v), flush=True)

            pend0 = _pending_hints(a)
            t0 = time.monotonic()
            harness.wait_for(lambda: _pending_hints(a) == 0, 180,
                             "node 1's hints delivered", step=0.1)
            dt = time.monotonic() - t0
            print("hints: %d pending when node 2 was UP at node 1, drained in %.2f s "
                  "(%.0f hints/s)" % (pend0, dt, pend0 / dt if dt > 0 else 0.0), flush=True)

            # node 2 alone has every key
            sa[0].shutdown()
            sessions.remove(sa[0])
            self.assertEqual(a.stop(), 0)
            rows = sv[1].execute(SimpleStatement(
                "SELECT k, v FROM heal.t", consistency_level=ConsistencyLevel.ONE,
                fetch_size=1000))
            got = {r.k: r.v for r in rows}
            self.assertEqual(len(got), N_KEYS)
            self.assertEqual(got, {k: "v%d" % k for k in range(N_KEYS)})
        finally:
            cut.heal()
            for c in sessions:
                c.shutdown()
            for n in nodes:
                n.cleanup()


if __name__ == "__main__":
    harness.main()
