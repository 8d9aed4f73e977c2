"""
test_bootstrap_source_down.py - the node a joining node streams from dies
in the middle of the bootstrap (issue 18's failure path), with real
basaltd processes.

2 nodes, RF=2, 20,000 keys written at ALL, the sources throttled to
64 KiB/s (stream_throughput_outbound) so the join takes a while.  A client
keeps writing new keys at QUORUM.  Node 3 joins; once it has received
some bytes, node 1 (a source: it gives ranges up to node 3) is killed.
The join fails with a clear message naming the range and the source, the
process exits 1, and node 3 never becomes NORMAL: node 2 still sees two
NORMAL nodes.  Node 1 comes back; node 3, started again, completes its
bootstrap and becomes NORMAL; every key written
at ALL and every write acknowledged at QUORUM reads back at ALL.
"""
import re

import harness
from test_bootstrap import NKEYS, _Base, Writer, http, states

_wait = harness.wait_for


class SourceDiesMidBootstrap(_Base):
    CLUSTER = "integ-boot-srcdown"

    def test_join_fails_clearly_and_the_retry_succeeds(self):
        self.hosts = [harness._pick_host() for _ in range(3)]
        self.sp = harness.shared_port(self.hosts)
        slow = {"stream-throughput-outbound": "64KiB"}
        n1, n2 = self.node(0, **slow), self.node(1, **slow)
        n1.start()
        n2.start()
        self.wait_normal(n1, 2)
        s = self.session(n1)
        self.load(s)
        w = Writer(self.session(n2), 1000000)
        w.start()

        n3 = self.node(2)
        n3.start()
        n3.expect_exit(1)
        _wait(lambda: http(n3, "GET", "/streams")["streams"]["received_bytes"] > 0, 120,
              "node 3 received a chunk", step=0.05)
        n1.kill()
        _wait(lambda: not n3.alive(), 180, "node 3's bootstrap fails")
        log = n3.log()
        self.assertEqual(n3.proc.returncode, 1, log[-3000:])
        m = re.search(r"bootstrap failed: (.*)", log)
        self.assertIsNotNone(m, log[-3000:])
        print("node 3: %s" % m.group(0))
        self.assertIn("start it again to retry", log)
        self.assertIn(n1.host, m.group(1))
        self.assertIn("that node is down", m.group(1))
        self.assertNotIn("bootstrap complete", log)
        # node 3 never served: it is not NORMAL anywhere
        self.assertNotEqual(states(n2).get(n3.host), "UN", states(n2))
        self.wait_normal(n2, 1)

        # node 1 back, the sources unthrottled; node 3 started again resumes
        for n in (n1, n2):
            if n.alive():
                n.stop()
            n.extra.pop("stream-throughput-outbound")
            n.start()
        self.wait_normal(n1, 2)
        n3.start()
        self.wait_normal(n1, 3, timeout=180)
        self.wait_normal(n3, 3)
        # (a resume that skips the ranges already received is
        # test_bootstrap.py's: here the kill may come before any range of
        # node 3's was complete, so there may be nothing to skip)
        w.finish()
        print("writer: %d acknowledged, %d errors" % (len(w.acked), w.errors))
        self.assertGreater(len(w.acked), 0)
        self.assert_all(self.session(n3), list(range(NKEYS)) + w.acked)


if __name__ == "__main__":
    harness.main()
