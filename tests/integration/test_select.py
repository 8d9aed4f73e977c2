"""
test_select.py - paging and the SELECT variants through the python driver.

Data sets:
  wide  (k int, c int, v int): one partition of 10,000 rows, c = 0..9999,
        v = c * 3 (paged with fetch_size 100 in clustering order);
  many  (k int, c int, v int): 1,000 partitions x 10 rows (full scan);
  s     (k int, c1 int, c2 int, v int, r text): 4 partitions x 5 x 5 rows
        for slices, IN, ORDER BY, LIMITs, filtering, aggregates.
"""
import json

import harness

from cassandra import InvalidRequest
from cassandra.concurrent import execute_concurrent_with_args
from cassandra.query import BatchStatement, BatchType, SimpleStatement

ROWS = 10000


class SelectTest(harness.NodeTestCase):

    @classmethod
    def setUpClass(cls):
        super(SelectTest, cls).setUpClass()
        s = cls.session
        s.execute("CREATE TABLE wide (k int, c int, v int, PRIMARY KEY (k, c))")
        s.execute("CREATE TABLE many (k int, c int, v int, PRIMARY KEY (k, c))")
        s.execute("CREATE TABLE s (k int, c1 int, c2 int, v int, r text, st int static, "
                  "PRIMARY KEY (k, c1, c2))")
        ins = s.prepare("INSERT INTO wide (k, c, v) VALUES (1, ?, ?)")
        for start in range(0, ROWS, 250):
            b = BatchStatement(batch_type=BatchType.UNLOGGED)
            for c in range(start, start + 250):
                b.add(ins, (c, c * 3))
            s.execute(b)
        insm = s.prepare("INSERT INTO many (k, c, v) VALUES (?, ?, ?)")
        args = [(k, c, k * 100 + c) for k in range(1000) for c in range(10)]
        res = execute_concurrent_with_args(s, insm, args, concurrency=64,
                                           raise_on_first_error=True)
        assert all(ok for ok, _ in res)
        inss = s.prepare("INSERT INTO s (k, c1, c2, v, r) VALUES (?, ?, ?, ?, ?)")
        for k in range(4):
            s.execute("INSERT INTO s (k, st) VALUES (%s, %s)", (k, k * 1000))
            for c1 in range(5):
                for c2 in range(5):
                    s.execute(inss, (k, c1, c2, k * 100 + c1 * 10 + c2,
                                     "even" if (c1 + c2) % 2 == 0 else "odd"))

    def rows(self, q, params=None, **kw):
        return list(self.session.execute(SimpleStatement(q, **kw), params))

    # --------------------------------------------------------- paging
    def _pages(self, stmt, params=None):
        rs = self.session.execute(stmt, params)
        pages = []
        while True:
            pages.append(list(rs.current_rows))
            if not rs.has_more_pages:
                break
            rs.fetch_next_page()
        return pages

    def test_page_one_partition(self):
        pages = self._pages(SimpleStatement("SELECT c, v FROM wide WHERE k = 1",
                                            fetch_size=100))
        if pages and not pages[-1]:
            pages.pop()  # a trailing empty page is allowed
        self.assertEqual(len(pages), ROWS // 100)
        self.assertTrue(all(len(p) == 100 for p in pages))
        cs = [r.c for p in pages for r in p]
        self.assertEqual(cs, list(range(ROWS)))
        self.assertTrue(all(r.v == r.c * 3 for p in pages for r in p))
        # prepared, reversed, odd page size
        st = self.session.prepare("SELECT c FROM wide WHERE k = ? ORDER BY c DESC")
        st.fetch_size = 333
        pages = self._pages(st, [1])
        if pages and not pages[-1]:
            pages.pop()
        self.assertEqual(len(pages), (ROWS + 332) // 333)
        self.assertEqual([r.c for p in pages for r in p], list(range(ROWS - 1, -1, -1)))
        # a slice with a LIMIT across pages
        st = SimpleStatement("SELECT c FROM wide WHERE k = 1 AND c >= 5000 LIMIT 250",
                             fetch_size=100)
        self.assertEqual([r.c for r in self.session.execute(st)], list(range(5000, 5250)))

    def test_page_full_scan(self):
        pages = self._pages(SimpleStatement("SELECT k, c, v, token(k) FROM many",
                                            fetch_size=100))
        if pages and not pages[-1]:
            pages.pop()
        seen = [(r.k, r.c) for p in pages for r in p]
        self.assertEqual(len(seen), 10000)
        self.assertEqual(len(set(seen)), 10000)
        self.assertEqual(set(seen), {(k, c) for k in range(1000) for c in range(10)})
        self.assertTrue(all(len(p) == 100 for p in pages))
        # token order, clustering order within a partition
        flat = [(r[3], r.c) for p in pages for r in p]
        self.assertEqual(flat, sorted(flat))
        self.assertTrue(all(r.v == r.k * 100 + r.c for p in pages for r in p))

    def test_count_over_pages(self):
        self.assertEqual(self.session.execute(
            SimpleStatement("SELECT count(*) FROM many", fetch_size=100)).one()[0], 10000)
        self.assertEqual(self.session.execute(
            SimpleStatement("SELECT count(*) FROM wide WHERE k = 1", fetch_size=100)).one()[0], ROWS)

    # --------------------------------------------------------- key restrictions
    def test_in_partition_and_clustering(self):
        r = self.rows("SELECT k, c1, c2 FROM s WHERE k IN (3, 1, 1) AND c1 = 2 AND c2 IN (4, 0)")
        self.assertEqual([(x.k, x.c1, x.c2) for x in r], [(1, 2, 0), (1, 2, 4), (3, 2, 0), (3, 2, 4)])
        r = self.rows("SELECT v FROM s WHERE k = 2 AND c1 IN (1, 3)")
        self.assertEqual([x.v for x in r], [210, 211, 212, 213, 214, 230, 231, 232, 233, 234])
        st = self.session.prepare("SELECT k, v FROM s WHERE k IN ? AND c1 = 0 AND c2 = 0")
        self.assertEqual(sorted((x.k, x.v) for x in self.session.execute(st, [[0, 2]])),
                         [(0, 0), (2, 200)])

    def test_slices(self):
        def cs(where):
            return [(x.c1, x.c2) for x in self.rows("SELECT c1, c2 FROM s WHERE k = 1 AND " + where)]
        self.assertEqual(cs("c1 < 1"), [(0, i) for i in range(5)])
        self.assertEqual(cs("c1 <= 0"), [(0, i) for i in range(5)])
        self.assertEqual(cs("c1 > 3"), [(4, i) for i in range(5)])
        self.assertEqual(cs("c1 >= 4"), [(4, i) for i in range(5)])
        self.assertEqual(cs("c1 > 1 AND c1 < 3"), [(2, i) for i in range(5)])
        self.assertEqual(cs("c1 = 2 AND c2 > 1 AND c2 <= 3"), [(2, 2), (2, 3)])
        self.assertEqual(cs("(c1, c2) > (3, 3)"), [(3, 4)] + [(4, i) for i in range(5)])
        self.assertEqual(cs("(c1, c2) >= (1, 3) AND (c1, c2) < (2, 1)"),
                         [(1, 3), (1, 4), (2, 0)])
        self.assertEqual(cs("(c1, c2) = (2, 2)"), [(2, 2)])
        self.assertEqual(cs("c1 > 10"), [])

    def test_order_limit_per_partition_distinct(self):
        r = self.rows("SELECT c1, c2 FROM s WHERE k = 0 ORDER BY c1 DESC, c2 DESC LIMIT 3")
        self.assertEqual([(x.c1, x.c2) for x in r], [(4, 4), (4, 3), (4, 2)])
        r = self.rows("SELECT c1, c2 FROM s WHERE k = 0 AND c1 = 1 ORDER BY c1 DESC")
        self.assertEqual([x.c2 for x in r], [4, 3, 2, 1, 0])
        with self.assertRaises(InvalidRequest):
            self.rows("SELECT * FROM s WHERE k = 0 ORDER BY c2 DESC")
        r = self.rows("SELECT k, c1, c2 FROM s PER PARTITION LIMIT 2")
        self.assertEqual(len(r), 8)
        self.assertEqual(sorted({x.k for x in r}), [0, 1, 2, 3])
        self.assertTrue(all((x.c1, x.c2) in ((0, 0), (0, 1)) for x in r))
        r = self.rows("SELECT k FROM s PER PARTITION LIMIT 1 LIMIT 3")
        self.assertEqual(len(r), 3)
        r = self.rows("SELECT DISTINCT k, st FROM s")
        self.assertEqual(sorted((x.k, x.st) for x in r), [(k, k * 1000) for k in range(4)])
        self.assertEqual(self.rows("SELECT count(*) FROM s LIMIT 5")[0][0], 100)
        self.assertEqual(len(self.rows("SELECT * FROM s LIMIT 7")), 7)

    def test_order_by_across_in_partitions(self):
        # rows of several partitions sorted together by the clustering
        # columns (post-query ordering), unpaged or LIMIT within a page
        r = self.rows("SELECT k, c1, c2 FROM s WHERE k IN (2, 0) AND c1 = 1 "
                      "ORDER BY c1 DESC, c2 DESC", fetch_size=None)
        self.assertEqual([tuple(x) for x in r],
                         [(k, 1, c2) for c2 in range(4, -1, -1) for k in (0, 2)])
        r = self.rows("SELECT k, c1, c2 FROM s WHERE k IN (0, 2) AND c1 IN (1, 3) AND c2 = 4 "
                      "ORDER BY c1 ASC LIMIT 3", fetch_size=100)
        self.assertEqual([tuple(x) for x in r], [(0, 1, 4), (2, 1, 4), (0, 3, 4)])
        # Cassandra's rule: no paging with post-query ordering
        with self.assertRaises(InvalidRequest) as cm:
            self.rows("SELECT * FROM s WHERE k IN (0, 2) ORDER BY c1 DESC", fetch_size=100)
        self.assertIn("Cannot page queries with both ORDER BY and a IN", str(cm.exception))

    def test_token_ranges(self):
        toks = sorted(x[0] for x in self.rows("SELECT DISTINCT token(k) FROM many"))
        self.assertEqual(len(toks), 1000)
        mid = toks[500]
        lo = self.rows("SELECT DISTINCT k FROM many WHERE token(k) <= %s" % mid)
        hi = self.rows("SELECT DISTINCT k FROM many WHERE token(k) > %s" % mid)
        self.assertEqual(len(lo), 501)
        self.assertEqual(len(hi), 499)
        self.assertEqual({x.k for x in lo} | {x.k for x in hi}, set(range(1000)))
        r = self.rows("SELECT DISTINCT token(k) FROM many WHERE token(k) > %s AND token(k) < %s"
                      % (toks[10], toks[20]))
        self.assertEqual([x[0] for x in r], toks[11:20])
        # paging within a token range, prepared
        st = self.session.prepare("SELECT k, c FROM many WHERE token(k) > ? AND token(k) <= ?")
        st.fetch_size = 7
        rs = list(self.session.execute(st, [toks[99], toks[199]]))
        self.assertEqual(len(rs), 1000)

    def test_allow_filtering(self):
        with self.assertRaises(InvalidRequest) as cm:
            self.rows("SELECT * FROM s WHERE v = 111")
        self.assertIn("ALLOW FILTERING", str(cm.exception))
        r = self.rows("SELECT k, c1, c2 FROM s WHERE v = 111 ALLOW FILTERING")
        self.assertEqual([(x.k, x.c1, x.c2) for x in r], [(1, 1, 1)])
        r = self.rows("SELECT v FROM s WHERE k = 2 AND r = 'odd' AND v > 230 ALLOW FILTERING")
        self.assertEqual([x.v for x in r], [232, 234, 241, 243])
        r = self.rows("SELECT count(*) FROM s WHERE r = 'even' ALLOW FILTERING")
        self.assertEqual(r[0][0], 4 * 13)
        # filtering pages too
        st = SimpleStatement("SELECT v FROM many WHERE v < 5000 AND c = 3 ALLOW FILTERING",
                             fetch_size=10)
        self.assertEqual(sorted(x.v for x in self.session.execute(st)),
                         [k * 100 + 3 for k in range(50)])

    def test_aggregates(self):
        r = self.rows("SELECT count(*), count(v), min(v), max(v), sum(v), avg(v) "
                      "FROM s WHERE k = 1")[0]
        vals = [100 + c1 * 10 + c2 for c1 in range(5) for c2 in range(5)]
        self.assertEqual(tuple(r), (25, 25, min(vals), max(vals), sum(vals),
                                    sum(vals) // len(vals)))
        r = self.rows("SELECT min(r), max(r) FROM s WHERE k = 1 AND c1 = 0")[0]
        self.assertEqual(tuple(r), ("even", "odd"))
        r = self.rows("SELECT count(*) AS n, sum(c) AS sc FROM many WHERE k IN (1, 2)")[0]
        self.assertEqual((r.n, r.sc), (20, 2 * 45))
        r = self.rows("SELECT count(*) FROM s WHERE k = 99")[0]
        self.assertEqual(r[0], 0)
        r = self.rows("SELECT max(v) FROM s WHERE k = 99")[0]
        self.assertIsNone(r[0])

    def test_writetime_ttl(self):
        s = self.session
        s.execute("CREATE TABLE wt (k int PRIMARY KEY, a int, b int)")
        s.execute("INSERT INTO wt (k, a) VALUES (1, 1) USING TIMESTAMP 1234567")
        s.execute("UPDATE wt USING TTL 5000 AND TIMESTAMP 7654321 SET b = 2 WHERE k = 1")
        r = s.execute("SELECT writetime(a), writetime(b), ttl(a), ttl(b) FROM wt WHERE k = 1").one()
        self.assertEqual(r[0], 1234567)
        self.assertEqual(r[1], 7654321)
        self.assertIsNone(r[2])
        self.assertTrue(4990 <= r[3] <= 5000, r[3])
        st = s.prepare("SELECT writetime(a) AS w FROM wt WHERE k = ?")
        self.assertEqual(s.execute(st, [1]).one().w, 1234567)

    def test_select_json(self):
        r = self.rows("SELECT JSON k, c1, c2, r FROM s WHERE k = 3 AND c1 = 4 AND c2 = 1")
        self.assertEqual(len(r), 1)
        self.assertEqual(json.loads(r[0][0]), {"k": 3, "c1": 4, "c2": 1, "r": "odd"})
        s = self.session
        s.execute("CREATE TABLE js (k text PRIMARY KEY, m map<text, int>, l list<double>, b blob)")
        s.execute("INSERT INTO js (k, m, l, b) VALUES ('a\"b', {'x': 1}, [1.5], 0x0102)")
        doc = json.loads(s.execute("SELECT JSON * FROM js").one()[0])
        self.assertEqual(doc, {"k": 'a"b', "m": {"x": 1}, "l": [1.5], "b": "0x0102"})

    def test_select_aliases_and_functions(self):
        r = self.rows("SELECT k AS kk, v AS vv FROM s WHERE k = 0 AND c1 = 0 AND c2 = 1")[0]
        self.assertEqual((r.kk, r.vv), (0, 1))
        r = self.rows("SELECT token(k), k FROM many WHERE k = 5")
        self.assertEqual(len(r), 10)
        self.assertEqual(len({x[0] for x in r}), 1)


if __name__ == "__main__":
    harness.main()
