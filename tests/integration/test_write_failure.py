"""
test_write_failure.py - a replica that cannot write makes the coordinator
answer WriteFailure (0x1500), not WriteTimeout (issue 19: "write errors
reach the client as WriteFailure").

Two real basaltd nodes, keyspace rf2 (replication_factor 2: both nodes
hold every row).  Node B keeps its data on a 256 MiB tmpfs the test mounts
(we run as root; always unmounted in tearDown) with min_free_space 64MiB.
Once the schema is everywhere the test fills the tmpfs, leaving 32 MiB:
node B's store refuses every write ("No space left on device", its
free-space guard), while node A writes normally.  Then, with
python3-cassandra (no retries, each session talks to one node only):

- writes at ALL coordinated by A: the first failure (B checks free space
  every 256 KiB written, so a few writes may still succeed) is the
  driver's WriteFailure with failures 1, received 1, required 2 - B
  answered A with its error; A did not wait for a timeout;
- the same at ALL coordinated by B (its own local write fails; the answer
  comes as soon as the level is out of reach, so A's ack may not have
  been counted: received 0 or 1);
- writes at ONE through A succeed (A's ack meets the level);
- reads at ALL through A still work (B reads fine with a full disk).
"""
import os
import subprocess
import tempfile
import unittest

import harness
from harness import Node

from cassandra import ConsistencyLevel, WriteFailure
from cassandra.cluster import Cluster, ExecutionProfile, EXEC_PROFILE_DEFAULT
from cassandra.policies import WhiteListRoundRobinPolicy, FallthroughRetryPolicy
from cassandra.query import SimpleStatement


def _session_for(node):
    prof = ExecutionProfile(load_balancing_policy=WhiteListRoundRobinPolicy([node.host]),
                            retry_policy=FallthroughRetryPolicy(), request_timeout=30)
    c = Cluster([node.host], port=node.port, protocol_version=4,
                execution_profiles={EXEC_PROFILE_DEFAULT: prof},
                connect_timeout=10, control_connection_timeout=10,
                max_schema_agreement_wait=0)
    return c, c.connect()


class WriteFailureTest(unittest.TestCase):
    def setUp(self):
        self.mnt = tempfile.mkdtemp(prefix="basalt-integ-%d-tmpfs-" % os.getpid())
        subprocess.check_call(["mount", "-t", "tmpfs", "-o", "size=256m", "tmpfs", self.mnt])
        self.nodes, self.clusters = [], []

    def tearDown(self):
        for c in self.clusters:
            c.shutdown()
        for n in self.nodes:
            n.cleanup()
        subprocess.call(["umount", self.mnt])
        os.rmdir(self.mnt)

    def start_pair(self):
        ha, hb = harness._pick_host(), harness._pick_host()
        sp = harness.shared_port([ha, hb])
        common = {"storage-port": sp, "seeds": ha, "cluster-name": "integ-wfail",
                  "num-tokens": 8, "write-request-timeout": "10000ms"}
        a = Node(host=ha, extra=dict(common))
        b = Node(host=hb, data_dir=os.path.join(self.mnt, "data"),
                 extra=dict(common, **{"min-free-space": "64MiB"}))
        self.nodes += [a, b]
        a.start()
        b.start()
        sess = []
        for n in (a, b):
            c, s = _session_for(n)
            self.clusters.append(c)
            sess.append(s)
        harness.wait_for_ring(sess, 2, 60, "2-node cluster")
        sess[0].execute("CREATE KEYSPACE rf2 WITH replication = "
                        "{'class': 'SimpleStrategy', 'replication_factor': 2}")
        sess[0].execute("CREATE TABLE rf2.t (k int PRIMARY KEY, v text)")
        harness.wait_for(lambda: sess[1].execute(
            "SELECT table_name FROM system_schema.tables WHERE keyspace_name = 'rf2'").one(),
                         30, "schema on node B")
        # both replicas take a write at ALL before the disk fills
        sess[0].execute(SimpleStatement("INSERT INTO rf2.t (k, v) VALUES (-1, 'before')",
                                        consistency_level=ConsistencyLevel.ALL))
        return a, b, sess

    def fill(self, leave):
        st = os.statvfs(self.mnt)
        with open(os.path.join(self.mnt, "filler"), "wb") as f:
            f.write(b"\0" * (st.f_bavail * st.f_frsize - leave))

    def first_failure(self, s, base):
        """Writes 8 KB rows at ALL through s until one fails; the error."""
        v = "x" * 8000
        ins = SimpleStatement("INSERT INTO rf2.t (k, v) VALUES (%s, %s)",
                              consistency_level=ConsistencyLevel.ALL)
        for i in range(200):  # 200 x 8 KB = 1.6 MB: past B's 256 KiB statvfs interval
            try:
                s.execute(ins, (base + i, v))
            except WriteFailure as e:
                return e
        self.fail("200 writes at ALL succeeded with node B's disk below min_free_space")

    def test_replica_disk_error_is_write_failure(self):
        a, b, sess = self.start_pair()
        self.fill(32 * 2 ** 20)
        e = self.first_failure(sess[0], 0)
        print("through A (B's disk full): %r" % (e,))
        self.assertEqual(e.consistency, ConsistencyLevel.ALL)
        self.assertEqual(e.failures, 1)
        self.assertEqual(e.received_responses, 1)
        self.assertEqual(e.required_responses, 2)
        self.assertIn("could not write to its storage", str(e))
        # coordinated by the failing node itself
        e = self.first_failure(sess[1], 1000)
        print("through B: %r" % (e,))
        # B's own failure decides at once: A's ack may or may not be in yet
        self.assertEqual((e.failures, e.required_responses), (1, 2))
        self.assertIn(e.received_responses, (0, 1))
        # ONE is met by A alone; reads at ALL work
        sess[0].execute(SimpleStatement("INSERT INTO rf2.t (k, v) VALUES (5000, 'one')",
                                        consistency_level=ConsistencyLevel.ONE))
        row = sess[0].execute(SimpleStatement("SELECT v FROM rf2.t WHERE k = -1",
                                              consistency_level=ConsistencyLevel.ALL)).one()
        self.assertEqual(row.v, "before")
        self.assertIn("No space left on device", b.log())
        self.assertTrue(a.alive() and b.alive())


if __name__ == "__main__":
    harness.main()
