"""
test_membership_cycle.py - every kind of topology change, one after
another, while a client writes (issue 18's combined scenario), with real
basaltd processes.

3 nodes (16 tokens each, joined one after another), keyspace RF=3.  A
client writes distinct keys at QUORUM, 64 in flight, from the start to
the end, noting every key the cluster acknowledged, and does not stop
before 100,000 were.  Meanwhile:
  1. node 4 joins (bootstrap: streams the ranges it gains); cleanup on
     nodes 1-3, which each gave a quarter of the data to node 4, shrinks
     them (bytes before/after printed);
  2. node 1 decommissions (streams its ranges away, exits 0);
  3. node 5 joins (so that QUORUM stays possible with the next two
     changes: RF=3 needs two live replicas of three);
  4. node 2 is killed and removed (basalt-admin removenode through node 3:
     the surviving replicas restream its ranges);
  5. node 3 is killed and node 6 replaces it (replace_address_first_boot:
     node 3's tokens, its data streamed from the survivors; not NORMAL
     before that).
Afterwards every acknowledged key reads back at QUORUM and at ALL from
node 6.  Then node 7 joins (with RF=3 on 3 nodes everyone owns
everything, so balance needs a fourth): every key reads back again, and
each node owns 1/4 +/- 10% (relative) of the ring, as effective ownership
of the RF=3 keyspace over 3 (the allocator's measure).  The writer's
acknowledged and failed writes are printed as it goes.
"""
import threading
import time
import unittest

from cassandra import ConsistencyLevel
from cassandra.concurrent import execute_concurrent_with_args
from cassandra.query import SimpleStatement

import harness
from test_bootstrap import _Base, admin, http, states
from test_join import owns

_wait = harness.wait_for
TARGET = 100000


class PipelinedWriter(threading.Thread):
    """Writes keys 0, 1, 2, ... at QUORUM, 64 at a time, until stopped and
    at least `target` keys are acknowledged; `acked` holds every key the
    cluster acknowledged (a failed key is not retried: it may or may not
    exist, and is not checked)."""

    def __init__(self, session, target):
        super().__init__(daemon=True)
        self.s, self.target = session, target
        self.acked, self.errors, self.k = [], 0, 0
        self.stop_ev = threading.Event()
        self.ps = session.prepare("INSERT INTO ks.kv (k, v) VALUES (?, ?)")
        self.ps.consistency_level = ConsistencyLevel.QUORUM
        self.first_error = None

    def run(self):
        while not (self.stop_ev.is_set() and len(self.acked) >= self.target):
            args = [(k, k * 7) for k in range(self.k, self.k + 512)]
            self.k += 512
            res = execute_concurrent_with_args(self.s, self.ps, args, concurrency=64,
                                               raise_on_first_error=False)
            for (k, _), (ok, r) in zip(args, res):
                if ok:
                    self.acked.append(k)
                else:
                    self.errors += 1
                    if self.first_error is None:
                        self.first_error = repr(r)
            if self.errors and len(self.acked) == 0 and self.errors > 50000:
                return      # the cluster never answers: the test fails below

    def finish(self, timeout=600):
        self.stop_ev.set()
        self.join(timeout)


class MembershipCycle(_Base):
    CLUSTER = "integ-member-cycle"

    def node(self, i, **extra):
        extra.setdefault("num-tokens", 16)
        return super().node(i, **extra)

    def progress(self, w, what):
        print("%6.1f s  %-40s acknowledged %d, errors %d"
              % (time.time() - self.t0, what, len(w.acked), w.errors), flush=True)

    def cleanup(self, n):
        out = http(n, "POST", "/cleanup")
        print("cleanup %s: %d ranges dropped, %d -> %d bytes"
              % (n.host, out["ranges_dropped"], out["bytes_before"], out["bytes_after"]),
              flush=True)
        return out

    def test_join_decommission_removenode_replace_while_writing(self):
        self.hosts = [harness._pick_host() for _ in range(7)]
        self.sp = harness.shared_port(self.hosts)
        n1, n2, n3 = self.node(0), self.node(1), self.node(2)
        for n in (n1, n2, n3):
            n.start()
            self.wait_normal(n1, len([x for x in (n1, n2, n3) if x.alive()]))
        s = self.session(n1)
        s.execute("CREATE KEYSPACE ks WITH replication = "
                  "{'class': 'SimpleStrategy', 'replication_factor': 3}")
        s.execute("CREATE KEYSPACE k1 WITH replication = "
                  "{'class': 'SimpleStrategy', 'replication_factor': 1}")
        s.execute("CREATE TABLE ks.kv (k int PRIMARY KEY, v int)")
        # the writer's driver knows every node and follows the ring's changes
        w = PipelinedWriter(self.session(n3), TARGET)
        self.t0 = time.time()
        w.start()
        _wait(lambda: len(w.acked) >= 5000, 120, "5,000 keys written")
        self.progress(w, "three nodes")

        # 1. node 4 joins; nodes 1-3 each gave it a share, cleanup drops it
        n4 = self.node(3)
        n4.start()
        for n in (n1, n2, n3, n4):
            self.wait_normal(n, 4)
        self.progress(w, "node 4 joined")
        for n in (n1, n2, n3):
            out = self.cleanup(n)
            self.assertGreater(out["ranges_dropped"], 0)
            self.assertLess(out["bytes_after"], out["bytes_before"])

        # 2. node 1 decommissions
        n1.expect_exit(0)
        rc, out = admin(n1, "decommission")
        self.assertEqual(rc, 0, out)
        self.assertIn("decommission complete", out)
        _wait(lambda: not n1.alive(), 60, "node 1 exits")
        self.assertEqual(n1.proc.returncode, 0, n1.log_tail())
        for n in (n2, n3, n4):
            self.wait_normal(n, 3)
        self.progress(w, "node 1 decommissioned")

        # 3. node 5 joins (seed: node 1 is gone, so node 2)
        n5 = self.node(4, seeds=n2.host)
        n5.start()
        for n in (n2, n3, n4, n5):     # node 3 must know it, it removes next
            self.wait_normal(n, 4)
        self.progress(w, "node 5 joined")

        # 4. node 2 dies and is removed through node 3
        hid2 = [x["host_id"] for x in http(n3, "GET", "/status")["nodes"]
                if x["address"] == n2.host][0]
        n2.kill()
        self.wait_down(n3, n2.host)
        rc, out = admin(n3, "removenode", hid2)
        self.assertEqual(rc, 0, "%s\nnode 3 sees %r" % (out, states(n3)))
        self.assertIn("removenode complete", out)
        _wait(lambda: n2.host not in states(n4) and n2.host not in states(n5), 60,
              "nodes 4 and 5 forget node 2")
        for n in (n3, n4, n5):         # node 4 must know, it seeds node 6
            self.wait_normal(n, 3)
        self.progress(w, "node 2 removed")

        # 5. node 3 dies; node 6 replaces it
        toks3 = http(n3, "GET", "/info?tokens=1")["token_list"]
        n3.kill()
        self.wait_down(n4, n3.host)
        n6 = self.node(5, seeds=n4.host,
                       **{"replace-address-first-boot": n3.host})
        n6.start()
        _wait(lambda: states(n4).get(n6.host) == "UN" and n3.host not in states(n4),
              180, "node 6 replaces node 3 (%r)" % (states(n4),))
        self.wait_normal(n6, 3)
        self.assertEqual(sorted(http(n6, "GET", "/info?tokens=1")["token_list"]),
                         sorted(toks3))
        self.progress(w, "node 6 replaced node 3")

        w.finish()
        self.assertFalse(w.is_alive(), "the writer did not finish")
        self.progress(w, "writer stopped")
        print("first write error: %s" % w.first_error)
        self.assertGreaterEqual(len(w.acked), TARGET)
        want = w.acked
        self.read_back(self.session(n6), want)

        # 6. node 7 joins the three that are left: the balanced allocator
        # places its tokens against the ring the changes left behind
        n7 = self.node(6, seeds=n4.host)
        n7.start()
        for n in (n4, n5, n6, n7):
            self.wait_normal(n, 4)
        self.progress(w, "node 7 joined")
        self.read_back(self.session(n7), want)

        # every node owns 1/N +/- 10% (relative) of the ring, counted as
        # effective ownership of the RF=3 keyspace divided by 3: the
        # allocator balances for allocate_tokens_for_local_replication_factor
        # (3); RF=1 ownership is printed, not held to it (the tokens of the
        # removed nodes' successors were not chosen for RF=1)
        for ks in ("ks", "k1"):
            got = owns(n4, ks)
            print("%s ownership: %s" % (ks, ", ".join(
                "%s %.1f%%" % (a, 100 * o) for a, o in sorted(got.items()))))
        got = owns(n4, "ks")
        self.assertEqual(sorted(got), sorted([n4.host, n5.host, n6.host, n7.host]))
        for a, o in got.items():
            self.assertLessEqual(abs(o / 3 - 1 / 4), 0.1 / 4,
                                 "%s owns %.4f of ks, want 3/4 +/- 10%% (%r)"
                                 % (a, o, got))

    def read_back(self, s, want):
        for cl in (ConsistencyLevel.QUORUM, ConsistencyLevel.ALL):
            st = SimpleStatement("SELECT k, v FROM ks.kv", fetch_size=5000,
                                 consistency_level=cl)
            got = {r.k: r.v for r in s.execute(st, timeout=300)}
            missing = [k for k in want if got.get(k) != k * 7]
            print("read back at %s: %d rows, %d of %d acknowledged keys missing"
                  % (ConsistencyLevel.value_to_name[cl], len(got), len(missing),
                     len(want)), flush=True)
            self.assertEqual(missing[:20], [], "%d acknowledged keys missing at %s"
                             % (len(missing), ConsistencyLevel.value_to_name[cl]))


if __name__ == "__main__":
    harness.main()
