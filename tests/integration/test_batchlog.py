#!/usr/bin/python3
"""test_batchlog.py - logged batches are all or nothing across replicas.

3 real basaltd nodes, RF=3.  A logged batch over two partitions is first
stored in the batchlog of two other nodes; if the coordinator dies right
after that (fault injection: BASALT_TEST_CRASH_AFTER_BATCHLOG=1 in its
environment makes it exit before applying anything), the holders replay
the batch and both partitions appear on every replica.  That hook exists
only in basaltd-testhooks (CMake option BASALT_TEST_HOOKS=ON, set by
scripts/test), which node 0 runs for that test; without it the test
fails with that reason.  A batch that
completes normally leaves nothing to replay.
"""
import os
import time
import unittest

import harness
from cassandra import ConsistencyLevel
from cassandra.query import BatchStatement, BatchType, SimpleStatement
from test_replication import _ReplicatedCluster, _wait


class BatchlogTest(_ReplicatedCluster):
    CLUSTER = "integ-blog"

    def _batch(self, keys, value):
        b = BatchStatement(batch_type=BatchType.LOGGED, consistency_level=ConsistencyLevel.QUORUM)
        for k in keys:
            b.add(SimpleStatement("INSERT INTO rf3.t (k, v) VALUES (%s, %s)"), (k, value))
        return b

    def test_1_completed_batch_is_not_replayed(self):
        self.session(0).execute(self._batch([101, 202], "ok"))
        for i in range(3):
            self.assertEqual(self.local_value(i, 101), "ok")
            self.assertEqual(self.local_value(i, 202), "ok")
        # entries are removed after success: nothing is replayed once they
        # would be old enough (2 x write timeout)
        time.sleep(2 * 2.0 + 2.5)
        for n in self.nodes:
            self.assertNotIn("replayed a batch", n.log())

    def test_2_batch_replayed_after_coordinator_crash(self):
        n0 = self.nodes[0]
        hooked = harness.testhooks_binary()
        self.drop_session(0)
        self.assertEqual(n0.stop(), 0)
        n0.binary = hooked
        os.environ["BASALT_TEST_CRASH_AFTER_BATCHLOG"] = "1"
        try:
            n0.start()
        finally:
            del os.environ["BASALT_TEST_CRASH_AFTER_BATCHLOG"]
            n0.binary = None    # later starts run the plain basaltd
        n0.expect_exit(137)
        # node 0 must see both peers alive to pick them as holders
        _wait(lambda: len(list(self.session(0).execute("SELECT peer FROM system.peers"))) == 2,
              20, "peers on the restarted node")
        time.sleep(3)
        try:
            self.session(0).execute(self._batch([303, 404], "logged"))
        except Exception:
            pass  # the coordinator exits mid-request
        _wait(lambda: n0.proc.poll() is not None, 15, "the coordinator's exit")
        self.assertEqual(n0.proc.returncode, 137)
        self.assertIn("exiting after the batchlog write", n0.log())
        self.drop_session(0)
        # nothing was applied by the coordinator; the holders replay it
        for i in (1, 2):
            for k in (303, 404):
                _wait(lambda i=i, k=k: self.local_value(i, k) == "logged", 30,
                      "key %d on node %d" % (k, i))
        self.assertTrue(any("replayed a batch of 2 mutations" in self.nodes[i].log() for i in (1, 2)))
        # and the dead coordinator gets it too once back (hints or replay)
        n0.start()
        _wait(lambda: self.local_value(0, 303) == "logged" and self.local_value(0, 404) == "logged",
              40, "keys on the restarted coordinator")


if __name__ == "__main__":
    harness.main()
