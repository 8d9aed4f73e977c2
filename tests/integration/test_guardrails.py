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

SizeLimitTest (its own node, limits set low): max_mutation_size,
column_value_size_fail_threshold, collection_size_fail_threshold and
items_per_collection_fail_threshold each refuse a write just over them
with InvalidRequest naming the key (and apply one just under), through
a text statement, a prepared one and a single-partition batch.
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


class SizeLimitTest(harness.NodeTestCase):
    node_extra = {"max-mutation-size": "64KiB",
                  "column-value-size-fail-threshold": "16KiB",
                  "collection-size-fail-threshold": "8KiB",
                  "items-per-collection-fail-threshold": 50}

    def setUp(self):
        self.session.execute("DROP TABLE IF EXISTS s")
        self.session.execute("CREATE TABLE s (k int, c int, v text, l list<int>, "
                             "m map<int, text>, f frozen<list<int>>, PRIMARY KEY (k, c))")

    def refused(self, stmt, params, key):
        with self.assertRaises(InvalidRequest) as cm:
            self.session.execute(stmt, params)
        self.assertIn(key, str(cm.exception))
        return str(cm.exception)

    def test_value_size(self):
        ins = "INSERT INTO s (k, c, v) VALUES (%s, %s, %s)"
        self.session.execute(ins, (1, 1, "x" * (16 * 1024)))
        msg = self.refused(ins, (1, 2, "x" * (16 * 1024 + 1)), "column_value_size_fail_threshold")
        self.assertIn("column v", msg)
        p = self.session.prepare("INSERT INTO s (k, c, v) VALUES (?, ?, ?)")
        self.refused(p, (1, 3, "y" * 20000), "column_value_size_fail_threshold")
        self.assertEqual(self.session.execute("SELECT count(*) FROM s").one()[0], 1)

    def test_mutation_size(self):
        # five 15 KB values in one partition: 75 KB > 64 KiB, each value under 16 KiB
        stmts = "".join("INSERT INTO s (k, c, v) VALUES (7, %d, '%s');\n" % (i, "z" * 15000)
                        for i in range(5))
        self.refused("BEGIN BATCH\n" + stmts + "APPLY BATCH", None, "max_mutation_size")
        self.assertEqual(self.session.execute("SELECT count(*) FROM s WHERE k = 7").one()[0], 0)
        # four fit (60 KB)
        stmts = "".join("INSERT INTO s (k, c, v) VALUES (7, %d, '%s');\n" % (i, "z" * 15000)
                        for i in range(4))
        self.session.execute("BEGIN BATCH\n" + stmts + "APPLY BATCH")
        self.assertEqual(self.session.execute("SELECT count(*) FROM s WHERE k = 7").one()[0], 4)

    def test_collection_items_and_size(self):
        ins = "INSERT INTO s (k, c, l) VALUES (%s, %s, %s)"
        self.session.execute(ins, (2, 1, list(range(50))))
        msg = self.refused(ins, (2, 2, list(range(51))), "items_per_collection_fail_threshold")
        self.assertIn("Collection l", msg)
        self.refused("UPDATE s SET m = %s WHERE k = 2 AND c = 3",
                     ({i: "w" * 300 for i in range(30)},), "collection_size_fail_threshold")
        self.session.execute("UPDATE s SET m = %s WHERE k = 2 AND c = 3",
                             ({i: "w" * 300 for i in range(20)},))
        # a frozen collection is one value: only the value limit applies
        self.session.execute("INSERT INTO s (k, c, f) VALUES (2, 4, %s)", (list(range(200)),))
        rows = {r.c for r in self.session.execute("SELECT c FROM s WHERE k = 2")}
        self.assertEqual(rows, {1, 3, 4})


if __name__ == "__main__":
    harness.main()
