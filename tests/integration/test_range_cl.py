"""
test_range_cl.py - range reads (SELECT without a partition key, count(*),
paging over a table) at every consistency level, on 3 real basaltd nodes
with RF=3 and hinted handoff off (issue 23, finding 1), with Debian's
unmodified python3-cassandra driver.

  * test_1: a stale replica (node 2 down while rows were updated, inserted
    and deleted at QUORUM; no hints) is first shown stale by a CL=ONE scan
    coordinated by it; then a paged QUORUM scan coordinated by it (so it is
    one of the two replicas read) returns exactly the current rows - no
    old value, no missing row, no deleted row - and afterwards a CL=ONE
    scan of node 2 alone returns the same rows: the scan repaired it.
  * test_2: an RF=1 keyspace, so two token ranges in three are held by
    another node than the coordinator: a traced count(*) at ONE shows the
    concurrency factor doubling up to 16 (ranges requested ahead from the
    remote replicas) with events from the other nodes, and counts every
    row; paging through the table at ONE and LOCAL_ONE with fetch_size 7,
    through each node, returns every key exactly once, in token order,
    in pages of exactly 7 rows (the last one shorter).
  * test_4: one node down: a scan at ALL raises Unavailable (required 3,
    alive 2) and count(*) at QUORUM answers; two down: QUORUM raises
    Unavailable (required 2, alive 1) and ONE still answers.

The cluster set-up (and its "fails, does not skip" rule) is
test_replication.py's.
"""

import struct

from cassandra import ConsistencyLevel, Unavailable
from cassandra.metadata import Murmur3Token
from cassandra.query import SimpleStatement

import harness
from test_replication import _ReplicatedCluster


class RangeReadLevelsTest(_ReplicatedCluster):
    CLUSTER = "integ-range-cl"
    EXTRA = {"hinted-handoff-enabled": "false"}

    def scan(self, i, cl, fetch_size=50):
        rows = self.session(i).execute(SimpleStatement(
            "SELECT k, v FROM rf3.s", consistency_level=cl, fetch_size=fetch_size))
        return {r.k: r.v for r in rows}

    def count(self, i, cl):
        return self.session(i).execute(SimpleStatement(
            "SELECT count(*) FROM rf3.s", consistency_level=cl)).one()[0]

    def put(self, i, k, v, cl):
        self.session(i).execute(SimpleStatement(
            "INSERT INTO rf3.s (k, v) VALUES (%s, %s)", consistency_level=cl), (k, v))

    def test_1_quorum_scan_never_stale_and_repairs(self):
        s0 = self.session(0)
        s0.execute("CREATE TABLE IF NOT EXISTS rf3.s (k int PRIMARY KEY, v text)")
        for i in range(3):
            harness.wait_for(lambda i=i: self.session(i).execute(
                "SELECT table_name FROM system_schema.tables WHERE keyspace_name = 'rf3' "
                "AND table_name = 's'").one(), 10, "table s on node %d" % i)
        for k in range(400):
            self.put(0, k, "old%d" % k, ConsistencyLevel.ALL)
        self.kill(2)
        want = {k: "old%d" % k for k in range(400)}
        for k in range(0, 300):            # updated
            self.put(0, k, "new%d" % k, ConsistencyLevel.QUORUM)
            want[k] = "new%d" % k
        for k in range(300, 350):          # deleted
            s0.execute(SimpleStatement("DELETE FROM rf3.s WHERE k = %s",
                                       consistency_level=ConsistencyLevel.QUORUM), (k,))
            del want[k]
        for k in range(1000, 1100):        # inserted
            self.put(0, k, "ins%d" % k, ConsistencyLevel.QUORUM)
            want[k] = "ins%d" % k
        self.restart(2)
        stale = self.scan(2, ConsistencyLevel.ONE)
        self.assertEqual(len(stale), 400, "node 2 is not stale: hints or repair ran")
        self.assertEqual(stale[0], "old0")
        got = self.scan(2, ConsistencyLevel.QUORUM)
        self.assertEqual(len(got), len(want))
        self.assertEqual(got, want)
        self.assertEqual(self.count(2, ConsistencyLevel.QUORUM), len(want))
        # the QUORUM scan repaired node 2's copy
        self.assertEqual(self.scan(2, ConsistencyLevel.ONE, fetch_size=5000), want)
        # ALL reads every replica and agrees
        self.assertEqual(self.scan(1, ConsistencyLevel.ALL, fetch_size=77), want)

    def test_2_one_rf1_concurrency_and_paging(self):
        s0 = self.session(0)
        s0.execute("CREATE KEYSPACE IF NOT EXISTS rf1 WITH replication = "
                   "{'class': 'SimpleStrategy', 'replication_factor': 1}")
        s0.execute("CREATE TABLE IF NOT EXISTS rf1.sp (k int PRIMARY KEY, v text)")
        for i in range(3):
            harness.wait_for(lambda i=i: self.session(i).execute(
                "SELECT table_name FROM system_schema.tables WHERE keyspace_name = 'rf1' "
                "AND table_name = 'sp'").one(), 10, "table rf1.sp on node %d" % i)
        n = 150  # 24 token ranges (8 tokens a node): about 6 rows each, all short
        ins = s0.prepare("INSERT INTO rf1.sp (k, v) VALUES (?, ?)")
        ins.consistency_level = ConsistencyLevel.ONE
        for k in range(n):
            s0.execute(ins, (k, "v%d" % k))
        hosts = {nd.host for nd in self.nodes}

        rs = s0.execute(SimpleStatement("SELECT count(*) FROM rf1.sp",
                                        consistency_level=ConsistencyLevel.ONE), trace=True)
        self.assertEqual(rs.one()[0], n)
        tr = rs.get_query_trace(max_wait_sec=20)
        acts = [e.description for e in tr.events]
        self.assertIn("Executing a range scan of rf1.sp at ONE", acts)
        for f in (2, 4, 8, 16):
            self.assertIn("Range scan concurrency factor now %d" % f, acts)
        # the ranges of the other two nodes were read there
        others = {str(e.source) for e in tr.events} - {self.nodes[0].host}
        self.assertTrue(others and others <= hosts - {self.nodes[0].host}, (others, acts))

        def token(k):
            return Murmur3Token.from_key(struct.pack(">i", k)).value

        for i in range(3):
            for cl in (ConsistencyLevel.ONE, ConsistencyLevel.LOCAL_ONE):
                res = self.session(i).execute(SimpleStatement(
                    "SELECT k FROM rf1.sp", consistency_level=cl, fetch_size=7))
                pages = [list(res.current_rows)]
                while res.has_more_pages:
                    res.fetch_next_page()
                    pages.append(list(res.current_rows))
                keys = [r.k for p in pages for r in p]
                what = "node %d at %s" % (i, ConsistencyLevel.value_to_name[cl])
                self.assertEqual(sorted(keys), list(range(n)), what)  # each once
                toks = [token(k) for k in keys]
                self.assertEqual(toks, sorted(toks), what)
                self.assertEqual([len(p) for p in pages[:-1]], [7] * (len(pages) - 1), what)
                self.assertLessEqual(len(pages[-1]), 7, what)
                self.assertEqual(len(pages), (n + 6) // 7, what)
        # count(*) through the other coordinators too
        for i in (1, 2):
            self.assertEqual(self.session(i).execute(SimpleStatement(
                "SELECT count(*) FROM rf1.sp", consistency_level=ConsistencyLevel.ONE)).one()[0],
                n, "node %d" % i)

    def test_4_unavailable(self):
        self.session(0).execute("CREATE TABLE IF NOT EXISTS rf3.s (k int PRIMARY KEY, v text)")
        self.put(0, 5000, "x", ConsistencyLevel.ALL)
        self.kill(2)
        try:
            with self.assertRaises(Unavailable) as cm:
                self.scan(0, ConsistencyLevel.ALL)
            self.assertEqual(cm.exception.required_replicas, 3)
            self.assertEqual(cm.exception.alive_replicas, 2)
            with self.assertRaises(Unavailable):
                self.count(1, ConsistencyLevel.ALL)
            self.assertGreaterEqual(self.count(0, ConsistencyLevel.QUORUM), 1)
            self.kill(1)
            with self.assertRaises(Unavailable) as cm:
                self.count(0, ConsistencyLevel.QUORUM)
            self.assertEqual(cm.exception.required_replicas, 2)
            self.assertEqual(cm.exception.alive_replicas, 1)
            self.assertGreaterEqual(self.count(0, ConsistencyLevel.ONE), 1)
        finally:
            for i in (1, 2):
                if not self.nodes[i].alive():
                    self.nodes[i].start()
            self._converge("nodes restarted")

    def test_3_size_estimates(self):
        s0 = self.session(0)
        s0.execute("CREATE TABLE IF NOT EXISTS rf3.est (k int PRIMARY KEY, v text)")
        ins = s0.prepare("INSERT INTO rf3.est (k, v) VALUES (?, ?)")
        ins.consistency_level = ConsistencyLevel.ALL
        for k in range(3000):
            s0.execute(ins, (k, "v%d" % k))
        total, ranges = 0, []
        for i in range(3):
            rows = list(self.session(i).execute(
                "SELECT range_start, range_end, partitions_count, mean_partition_size "
                "FROM system.size_estimates WHERE keyspace_name = 'rf3' AND table_name = 'est'"))
            self.assertEqual(len(rows), 8, "node %d" % i)
            for r in rows:
                # a small vnode range may hold none of the 3,000 keys
                if r.partitions_count:
                    self.assertGreater(r.mean_partition_size, 0, (i, rows))
                else:
                    self.assertEqual(r.mean_partition_size, 0, (i, rows))
                total += r.partitions_count
                ranges.append((int(r.range_start), int(r.range_end)))
            te = list(self.session(i).execute(
                "SELECT range_type, partitions_count FROM system.table_estimates "
                "WHERE keyspace_name = 'rf3' AND table_name = 'est'"))
            self.assertEqual(sorted(set(r.range_type for r in te)), ["local_primary", "primary"])
            self.assertEqual(sum(r.partitions_count for r in te if r.range_type == "primary"),
                             sum(r.partitions_count for r in rows))
        self.assertEqual(total, 3000)
        # the 24 ranges tile the ring: each end is exactly one range's start
        self.assertEqual(sorted(e for _, e in ranges), sorted(st for st, _ in ranges))


if __name__ == "__main__":
    harness.main()
