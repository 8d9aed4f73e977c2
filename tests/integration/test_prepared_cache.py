"""
test_prepared_cache.py - the prepared-statement cache is bounded (issue 19:
no client can grow a node without limit), and statements it dropped keep
working because the driver prepares them again.

One basaltd with prepared_statements_cache_size 64KiB; python3-cassandra
prepares 600 distinct statements (each a SELECT with its own LIMIT) and
executes each once.  Then:
- /metrics: the cache holds at most 64 KiB plus the entry just prepared
  (basalt_prepared_statements_bytes), far fewer than 600 statements, and
  counts the evicted ones (basalt_prepared_statements_evicted_total);
- executing the first 100 again (long evicted) returns the right rows: the
  node answers Unprepared (0x2500, counted in basalt_cql_errors_total) and
  the driver re-prepares and retries by itself;
- 600 statements were prepared, so without the bound they would all be
  cached (the test asserts fewer than 600 are).
"""
import unittest
import urllib.request

import harness
from harness import Node

from cassandra.cluster import Cluster

CACHE = 64 * 1024
N = 600


class PreparedCacheTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.node = Node(extra={"prepared-statements-cache-size": "64KiB",
                                "storage-block-cache-size": "16MiB",
                                "storage-memtable-size": "8MiB"}).start()
        cls.cluster = Cluster([cls.node.host], port=cls.node.port, protocol_version=4,
                              connect_timeout=10, control_connection_timeout=10)
        cls.s = cls.cluster.connect()

    @classmethod
    def tearDownClass(cls):
        cls.cluster.shutdown()
        cls.node.cleanup()

    def metrics(self):
        n = self.node
        req = urllib.request.Request("http://%s:%d/metrics" % (n.host, n.admin_port),
                                     headers=n.admin_headers())
        out = {}
        with urllib.request.urlopen(req, timeout=10) as r:
            for line in r.read().decode().splitlines():
                if line and not line.startswith("#"):
                    name, val = line.rsplit(" ", 1)
                    out[name] = float(val)
        return out

    def test_bounded_and_reprepared(self):
        s = self.s
        s.execute("CREATE KEYSPACE pc WITH replication = "
                  "{'class': 'SimpleStrategy', 'replication_factor': 1}")
        s.execute("CREATE TABLE pc.t (k int, c int, v text, PRIMARY KEY (k, c))")
        for c in range(5):
            s.execute("INSERT INTO pc.t (k, c, v) VALUES (1, %s, %s)", (c, "v%d" % c))
        stmts = []
        for i in range(N):
            p = s.prepare("SELECT c, v FROM pc.t WHERE k = ? LIMIT %d" % (i + 1))
            stmts.append(p)
            rows = list(s.execute(p, (1,)))
            self.assertEqual(len(rows), min(i + 1, 5))
        m = self.metrics()
        print("after %d prepared: %d cached, %d bytes, %d evicted" % (
            N, m["basalt_prepared_statements"], m["basalt_prepared_statements_bytes"],
            m["basalt_prepared_statements_evicted_total"]))
        self.assertLessEqual(m["basalt_prepared_statements_bytes"], CACHE + 16 * 1024)
        self.assertLess(m["basalt_prepared_statements"], N)
        self.assertGreater(m["basalt_prepared_statements_evicted_total"], 0)
        self.assertEqual(m["basalt_prepared_statements"] +
                         m["basalt_prepared_statements_evicted_total"], N)
        unprep0 = m.get('basalt_cql_errors_total{code="0x2500"}', 0)
        # the oldest ones were evicted: the driver re-prepares them
        for i in range(100):
            rows = list(s.execute(stmts[i], (1,)))
            self.assertEqual([(r.c, r.v) for r in rows],
                             [(c, "v%d" % c) for c in range(min(i + 1, 5))])
        m = self.metrics()
        unprep = m.get('basalt_cql_errors_total{code="0x2500"}', 0) - unprep0
        print("re-executing 100 evicted statements: %d Unprepared answers" % unprep)
        self.assertGreaterEqual(unprep, 100)
        self.assertLessEqual(m["basalt_prepared_statements_bytes"], CACHE + 16 * 1024)
        self.assertTrue(self.node.alive())

    def test_memory_metrics(self):
        """/metrics reports RocksDB's and malloc's memory; the storage
        bounds are the configured ones."""
        s = self.s
        s.execute("CREATE KEYSPACE IF NOT EXISTS mm WITH replication = "
                  "{'class': 'SimpleStrategy', 'replication_factor': 1}")
        s.execute("CREATE TABLE IF NOT EXISTS mm.t (k int PRIMARY KEY, v text)")
        m0 = self.metrics()
        p = s.prepare("INSERT INTO mm.t (k, v) VALUES (?, ?)")
        for k in range(500):
            s.execute(p, (k, "x" * 2000))
        m = self.metrics()
        print("memory: memtables %d, block cache %d of %d, table readers %d, "
              "malloc in use %d, free %d" % (
                  m["basalt_storage_memtable_bytes"], m["basalt_storage_block_cache_bytes"],
                  m["basalt_storage_block_cache_capacity_bytes"],
                  m["basalt_storage_table_readers_bytes"], m["basalt_malloc_in_use_bytes"],
                  m["basalt_malloc_free_bytes"]))
        self.assertEqual(m["basalt_storage_block_cache_capacity_bytes"], 16 << 20)
        self.assertGreaterEqual(m["basalt_storage_memtable_bytes"],
                                m0["basalt_storage_memtable_bytes"] + 500 * 2000)
        self.assertLess(m["basalt_storage_memtable_bytes"], 2 * (8 << 20) * 8)
        self.assertGreaterEqual(m["basalt_storage_memtable_all_bytes"],
                                m["basalt_storage_memtable_bytes"])
        self.assertGreater(m["basalt_malloc_in_use_bytes"],
                           m["basalt_storage_memtable_bytes"])


if __name__ == "__main__":
    harness.main()
