#!/usr/bin/python3
"""test_truncate.py - TRUNCATE empties every replica, and refuses with
Unavailable while a node is down (as Cassandra does)."""

import harness
from cassandra import ConsistencyLevel, Unavailable
from cassandra.protocol import TruncateError
from cassandra.query import SimpleStatement
from test_replication import _ReplicatedCluster, _wait


class TruncateTest(_ReplicatedCluster):
    CLUSTER = "integ-trunc"

    def test_truncate_everywhere_and_unavailable_when_down(self):
        s0 = self.session(0)
        for k in range(20):
            s0.execute(SimpleStatement("INSERT INTO rf3.t (k, v) VALUES (%s, 'x')",
                                       consistency_level=ConsistencyLevel.ALL), (k,))
        for i in range(3):
            self.assertEqual(self.local_value(i, 7), "x")
        s0.execute("TRUNCATE rf3.t")
        for i in range(3):
            for k in (0, 7, 19):
                self.assertIsNone(self.local_value(i, k), "key %d still on node %d" % (k, i))
        # with a node down the truncate is refused and nothing is lost
        s0.execute(SimpleStatement("INSERT INTO rf3.t (k, v) VALUES (1, 'kept')",
                                   consistency_level=ConsistencyLevel.ALL))
        self.drop_session(2)
        self.nodes[2].kill()
        _wait(lambda: not any(h.is_up for h in self.sessions[0][0].metadata.all_hosts()
                              if h.address == self.nodes[2].host), 20, "node 3 seen down")
        # until the failure detector marks it down the truncate fails on it
        # (TruncateError); then it is refused up front (Unavailable).  The
        # predicate only records what happened (harness.wait_for treats an
        # exception as "not yet", so an assertion in it would be swallowed).
        outcomes = []

        def refused():
            try:
                s0.execute("TRUNCATE rf3.t")
            except Unavailable:
                outcomes.append("Unavailable")
                return True
            except TruncateError:
                outcomes.append("TruncateError")
                return False
            outcomes.append("succeeded")
            return True     # stop waiting: judged below
        _wait(refused, 30, "TRUNCATE refused with Unavailable")
        self.assertNotIn("succeeded", outcomes, "TRUNCATE succeeded with a node down")
        self.assertEqual(outcomes[-1], "Unavailable")
        self.assertEqual(self.local_value(0, 1), "kept")
        self.nodes[2].start()


if __name__ == "__main__":
    harness.main()
