"""
test_guardrails.py - write guardrails against careless or hostile
statements, with a real basaltd and the python driver (issue 19):

- finding 2: one text BATCH of 100,000 INSERTs (4 MiB) made the node's
  memory grow by hundreds of MB a second until it died.  Now a batch over
  several partitions above batch_size_fail_threshold is refused with
  InvalidRequest, and a long single-partition batch is applied with
  memory that grows with its length, not its square;
- finding 6: USING TIMESTAMP 9223372036854775807 made a cell impossible to
  delete, and a timestamp ten years ahead silently shadowed every later
  write and delete.  Both are refused with InvalidRequest.
"""
import time

import harness

from cassandra import InvalidRequest


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for %d" % pid)


def batch(n, nparts):
    return ("BEGIN UNLOGGED BATCH\n" +
            "".join("INSERT INTO t (k, c, v) VALUES (%d, %d, 'xxxxxxxxxxxxxxxxxxxxxx');\n"
                    % (i % nparts, i) for i in range(n)) +
            "APPLY BATCH")


class GuardrailTest(harness.NodeTestCase):
    def setUp(self):
        self.session.execute("DROP TABLE IF EXISTS t")
        self.session.execute("CREATE TABLE t (k int, c int, v text, PRIMARY KEY (k, c))")

    def test_huge_multi_partition_batch_is_refused(self):
        q = batch(100000, 100000)
        self.assertGreater(len(q), 4 << 20)
        with self.assertRaises(InvalidRequest) as cm:
            self.session.execute(q, timeout=60)
        self.assertIn("Batch too large", str(cm.exception))
        self.assertEqual(self.session.execute("SELECT count(*) FROM t").one()[0], 0)
        # the node is up and serving
        self.session.execute("INSERT INTO t (k, c, v) VALUES (1, 1, 'after')")
        self.assertEqual(self.session.execute("SELECT v FROM t WHERE k = 1").one().v, "after")

    def test_long_single_partition_batch_is_applied(self):
        before = rss_kb(self.node.proc.pid)
        self.session.execute(batch(100000, 1), timeout=120)
        grown = rss_kb(self.node.proc.pid) - before
        self.assertEqual(
            self.session.execute("SELECT count(*) FROM t WHERE k = 0", timeout=60).one()[0],
            100000)
        # 4.7 MB of statements; the quadratic version went past 10 GB
        self.assertLess(grown, 1 << 20, "RSS grew by %d KiB" % grown)

    def test_timestamps_no_later_write_could_beat_are_refused(self):
        with self.assertRaises(InvalidRequest) as cm:
            self.session.execute("INSERT INTO t (k, c, v) VALUES (1, 1, 'x') "
                                 "USING TIMESTAMP 9223372036854775807")
        self.assertIn("Invalid timestamp", str(cm.exception))
        ten_years = int((time.time() + 10 * 365 * 86400) * 1e6)
        with self.assertRaises(InvalidRequest) as cm:
            self.session.execute("INSERT INTO t (k, c, v) VALUES (1, 1, 'x') "
                                 "USING TIMESTAMP %d" % ten_years)
        self.assertIn("max_future_timestamp", str(cm.exception))
        # nothing was written, so a plain write and delete work as usual
        self.session.execute("INSERT INTO t (k, c, v) VALUES (1, 1, 'now')")
        self.session.execute("DELETE FROM t WHERE k = 1 AND c = 1")
        self.assertIsNone(self.session.execute("SELECT v FROM t WHERE k = 1").one())


if __name__ == "__main__":
    harness.main()
