"""
slow_join_100k.py - a node joins a loaded cluster under write load (issue
18), run by scripts/bench-join (not part of ctest: it takes minutes).

2 nodes, keyspace RF=2, 100,000 keys written at QUORUM.  A client keeps
writing new keys at QUORUM (every acknowledged key noted) while node 3
joins (auto_bootstrap: its ranges stream from the nodes giving them up,
received through SST ingestion).  Afterwards every acknowledged key reads
back at QUORUM and at ALL, and each node's effective ownership is within
10 points of the mean (2/3 for RF=2 on 3 nodes; every node allocates its
16 tokens for RF 2: allocate_tokens_for_local_replication_factor).  Prints the load rate,
the write rate before and during the join, the join's duration and the
streaming rate from node 3's /streams, and the ownership.
"""
import time
import unittest

from cassandra import ConsistencyLevel
from cassandra.concurrent import execute_concurrent_with_args
from cassandra.query import SimpleStatement

import harness
from test_bootstrap import _Base, Writer, http, states

_wait = harness.wait_for
NKEYS = 100000


class Join100k(_Base):
    CLUSTER = "slow-join"

    def keys(self, s, cl):
        st = SimpleStatement("SELECT k, v FROM ks.kv", fetch_size=5000,
                             consistency_level=cl)
        return {r.k: r.v for r in s.execute(st, timeout=300)}

    def test_join_under_quorum_load(self):
        self.hosts = [harness._pick_host() for _ in range(3)]
        self.sp = harness.shared_port(self.hosts)
        # the token allocator balances for the replication factor in use
        tok = {"num-tokens": 16, "allocate-tokens-for-local-replication-factor": 2}
        n1, n2 = self.node(0, **tok), self.node(1, **tok)
        n1.start()
        n2.start()
        self.wait_normal(n1, 2)
        s = self.session(n1)
        s.execute("CREATE KEYSPACE ks WITH replication = "
                  "{'class': 'SimpleStrategy', 'replication_factor': 2}")
        s.execute("CREATE TABLE ks.kv (k int PRIMARY KEY, v int)")
        ps = s.prepare("INSERT INTO ks.kv (k, v) VALUES (?, ?)")
        ps.consistency_level = ConsistencyLevel.QUORUM
        todo = [(k, k * 7) for k in range(NKEYS)]
        t0 = time.monotonic()
        for _ in range(4):
            res = execute_concurrent_with_args(s, ps, todo, concurrency=64,
                                               raise_on_first_error=False)
            todo = [a for a, (ok, _) in zip(todo, res) if not ok]
            if not todo:
                break
        load_s = time.monotonic() - t0
        self.assertEqual(todo[:5], [], "%d keys not written" % len(todo))
        print("load: %d keys at QUORUM in %.1f s (%.0f/s, concurrency 64)"
              % (NKEYS, load_s, NKEYS / load_s))

        w = Writer(self.session(n2), 10000000)
        w.start()
        time.sleep(3)           # connected and warm
        b0 = len(w.acked)
        time.sleep(5)
        before = len(w.acked)
        rate_before = (before - b0) / 5.0
        n3 = self.node(2, **tok)
        j0 = time.monotonic()
        n3.start()
        self.wait_normal(n1, 3, timeout=600)
        join_s = time.monotonic() - j0
        during = len(w.acked) - before
        time.sleep(2)
        w.finish()
        sess = http(n3, "GET", "/streams")["streams"]["sessions"][0]
        print("join: %.1f s from start to NORMAL; streamed %d ranges, %d records, "
              "%.1f MB of %.1f MB in %.1f s (%.1f MB/s)"
              % (join_s, sess["ranges_done"], sess["rows"], sess["bytes"] / 1e6,
                 sess["bytes_total"] / 1e6, sess["elapsed_ms"] / 1e3,
                 sess["bytes"] / 1e6 / max(sess["elapsed_ms"] / 1e3, 1e-3)))
        print("client (1 thread, synchronous QUORUM writes): %.0f writes/s before, "
              "%.0f/s during the join; %d acknowledged during the join, %d errors"
              % (rate_before, during / join_s, during, w.errors))
        want = list(range(NKEYS)) + w.acked
        for cl in (ConsistencyLevel.QUORUM, ConsistencyLevel.ALL):
            got = self.keys(s, cl)
            missing = [k for k in want if got.get(k) != k * 7]
            self.assertEqual(missing[:20], [], "%d of %d acknowledged keys missing at %s"
                             % (len(missing), len(want), ConsistencyLevel.value_to_name[cl]))
            print("read back at %s: all %d acknowledged keys"
                  % (ConsistencyLevel.value_to_name[cl], len(want)))
        own = {x["address"]: x["owns"] for x in http(n1, "GET", "/status?keyspace=ks")["nodes"]}
        print("effective ownership (RF=2): %s"
              % ", ".join("%s %.1f%%" % (a, 100 * o) for a, o in sorted(own.items())))
        mean = sum(own.values()) / len(own)
        for a, o in own.items():
            self.assertLess(abs(o - mean), 0.10, "%s owns %.3f, mean %.3f" % (a, o, mean))


if __name__ == "__main__":
    harness.main()
