"""
test_ts_cluster.py - the time-series endpoint on 3 nodes, RF=3:

  - a database created through node 1 (CREATE DATABASE ... WITH
    REPLICATION 3) reaches every node; points written through node 1 at
    consistency=all are read back, all of them, through node 3's /query;
  - a database with REPLICATION 1, so each node holds a third of the
    partitions: aggregates (count, sum, max GROUP BY a tag, mean GROUP BY
    time() for one series) through each node equal the values computed
    from the points written (the pieces a node holds are aggregated in
    its store, the others by their replica, which sends back only its
    partial aggregates: no partition is read for the scans);
  - a node killed (SIGKILL) during ingestion at consistency=quorum through
    the two other nodes: once it is back, every acknowledged point is
    returned by a query through it (hinted handoff brings the points it
    missed; the check polls until then, bounded by a deadline);
  - the three nodes each create the same database at the same moment,
    then each writes the first points of the same new measurements, with
    a field of its own, at the same moment: the schema converges on one
    database and one table per measurement holding every field, and every
    acknowledged point is returned through every node.
"""
import threading
import time
import unittest

import harness
import influx_ref
from harness import Node

T0 = 1700000000


def wait(cond, timeout, what):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = cond()
            if last:
                return last
        except Exception as e:  # a node not ready yet
            last = e
        time.sleep(0.2)
    raise AssertionError("%s not reached within %ds (last: %r)" % (what, timeout, last))


class TsClusterTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        hosts = [harness._pick_host() for _ in range(3)]
        sp = harness.shared_port(hosts)
        cls.nodes = []
        try:
            for h in hosts:
                cls.nodes.append(Node(host=h, extra={"storage-port": sp, "seeds": hosts[0],
                                                     "cluster-name": "integ-ts", "num-tokens": 8}))
            for n in cls.nodes:
                n.start()
            for n in cls.nodes:
                wait(lambda n=n: n.log().count("joined the ring") >= 2, 30,
                     "%s sees both peers" % n.host)
        except BaseException:
            for n in cls.nodes:
                n.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            for n in cls.nodes:
                if n.alive():
                    n.stop()
        finally:
            for n in cls.nodes:
                n.cleanup()

    def url(self, i):
        return "http://%s:%d" % (self.nodes[i].host, self.nodes[i].http_port)

    def count(self, i, db, m):
        st, res, _ = influx_ref.query(self.url(i), "SELECT count(v) FROM %s" % m, db=db)
        assert st == 200, res
        series = res["results"][0].get("series")
        return series[0]["values"][0][1] if series else 0

    def write(self, i, db, lines, cl):
        return influx_ref.http(self.url(i), "POST", "/write",
                               {"db": db, "precision": "s", "consistency": cl},
                               "".join(lines).encode())

    def create(self, db, m, rf=3):
        st, res, _ = influx_ref.query(self.url(0), "CREATE DATABASE %s WITH REPLICATION %d"
                                      % (db, rf))
        self.assertEqual(st, 200)
        self.assertNotIn("error", res["results"][0])
        for i in (1, 2):
            wait(lambda i=i: [db] in influx_ref.query(self.url(i), "SHOW DATABASES")[1]
                 ["results"][0]["series"][0].get("values", []),
                 30, "database %s on node %d" % (db, i + 1))
        # the measurement and its field exist before other nodes take writes;
        # replicas learn the new table by schema push, so the first write
        # at ALL may time out until they have it
        wait(lambda: self.write(0, db, ["%s,host=init v=0 %d\n" % (m, T0 - 1)], "all")[0] == 204,
             30, "first write of %s at consistency=all" % m)
        for i in (1, 2):
            wait(lambda i=i: "[\"v\",\"float\"]" in
                 str(influx_ref.query(self.url(i), "SHOW FIELD KEYS FROM %s" % m, db=db)[1]
                     ).replace("'", "\"").replace(" ", ""),
                 30, "schema of %s on node %d" % (m, i + 1))

    def test_write_node1_read_node3(self):
        self.create("c1", "m")
        lines = ["m,host=h%d v=%d %d\n" % (i % 20, i, T0 + i) for i in range(1000)]
        st, body, _ = self.write(0, "c1", lines, "all")
        self.assertEqual(st, 204, body)
        self.assertEqual(self.count(2, "c1", "m"), 1001)
        st, res, _ = influx_ref.query(self.url(2), "SELECT sum(v) FROM m WHERE host = 'h3'",
                                      db="c1")
        self.assertEqual(res["results"][0]["series"][0]["values"][0][1],
                         sum(i for i in range(1000) if i % 20 == 3))

    def test_rf1_aggregates_through_every_node(self):
        self.create("c3", "r", rf=1)
        pts = [("h%d" % (i % 20), (i * 7) % 101, T0 + i) for i in range(2000)]
        st, body, _ = self.write(0, "c3", ["r,host=%s v=%d %d\n" % p for p in pts], "all")
        self.assertEqual(st, 204, body)
        pts.append(("init", 0, T0 - 1))  # create()'s point
        hosts = sorted({h for h, _, _ in pts})
        maxes = []
        for h in hosts:
            mx = max(v for hh, v, _ in pts if hh == h)
            maxes.append([min(t for hh, v, t in pts if hh == h and v == mx), mx])
        win = {}
        for h, v, t in pts:
            if h == "h3" and T0 <= t < T0 + 500:
                win.setdefault((t - T0) // 100, []).append(v)
        def counters():
            return [(m.get("basalt_replica_reads_total", 0),
                     m.get("basalt_replica_partial_visits_total", 0),
                     m.get("basalt_coordinator_partial_visits_total", 0),
                     m.get("basalt_coordinator_partial_visits_failed_total", 0))
                    for m in (n.metrics() for n in self.nodes)]
        for i in range(3):
            def q(s, i=i):
                return influx_ref.query(self.url(i), s, db="c3", epoch="s")[1]["results"][0]
            before = counters()
            res = q("SELECT count(v), sum(v) FROM r")
            self.assertEqual(res["series"][0]["values"],
                             [[0, len(pts), sum(v for _, v, _ in pts)]], "node %d" % (i + 1))
            res = q("SELECT max(v) FROM r GROUP BY host")
            got = [(x["tags"]["host"], x["values"][0]) for x in res["series"]]
            self.assertEqual(got, list(zip(hosts, maxes)), "node %d" % (i + 1))
            vs = sorted(v for _, v, _ in pts)
            mean = sum(vs) / len(vs)
            res = q("SELECT median(v), percentile(v, 90), stddev(v), spread(v) FROM r")
            got = res["series"][0]["values"][0][1:]
            want = [(vs[len(vs) // 2 - 1] + vs[len(vs) // 2]) / 2,
                    vs[int(len(vs) * 90 / 100.0 + 0.5) - 1],
                    (sum((x - mean) ** 2 for x in vs) / (len(vs) - 1)) ** 0.5,
                    vs[-1] - vs[0]]
            for g, w in zip(got, want):
                self.assertAlmostEqual(g, w, 9, "node %d: %r != %r" % (i + 1, got, want))
            # the other nodes aggregated their ranges and sent only that:
            # no partition was read for node i, and nothing failed over
            after = counters()
            for j in range(3):
                if j == i:
                    self.assertGreaterEqual(after[j][2] - before[j][2], 6, "node %d" % (i + 1))
                    self.assertEqual(after[j][3], before[j][3], "node %d" % (i + 1))
                else:
                    self.assertEqual(after[j][0], before[j][0], "reads on node %d" % (j + 1))
                    self.assertGreaterEqual(after[j][1] - before[j][1], 3,
                                            "partials on node %d" % (j + 1))
            res = q("SELECT mean(v) FROM r WHERE host = 'h3' AND time >= %ds AND time < %ds "
                    "GROUP BY time(100s)" % (T0, T0 + 500))
            self.assertEqual(res["series"][0]["values"],
                             [[T0 + 100 * k, sum(win[k]) / len(win[k])] for k in range(5)],
                             "node %d" % (i + 1))

    def test_kill_during_quorum_ingestion(self):
        self.create("c2", "k")
        acked, stop = [], threading.Event()

        def writer():
            b = 0
            while not stop.is_set():
                lines = ["k,host=w%d v=%d %d\n" % (i % 7, b * 100 + i, T0 + b * 100 + i)
                         for i in range(100)]
                node = 0 if b % 2 == 0 else 2
                try:
                    st, _, _ = self.write(node, "c2", lines, "quorum")
                except OSError:
                    st = None
                if st == 204:
                    acked.append(b)
                b += 1

        t = threading.Thread(target=writer)
        t.start()
        try:
            wait(lambda: len(acked) >= 5, 60, "writes before the kill")
            self.nodes[1].kill()
            n_at_kill = len(acked)
            wait(lambda: len(acked) >= n_at_kill + 10, 60, "quorum writes with a node down")
            self.nodes[1].start()
            wait(lambda: len(acked) >= n_at_kill + 20, 60, "writes after the restart")
        finally:
            stop.set()
            t.join(60)
        want = 1 + 100 * len(acked)
        # every acknowledged point, through the restarted node (hints replay)
        got = wait(lambda: self.count(1, "c2", "k") >= want and self.count(1, "c2", "k"), 120,
                   "%d acknowledged points through node 2" % want)
        self.assertGreaterEqual(got, want)
        st, res, _ = influx_ref.query(self.url(1), "SELECT v FROM k WHERE host = 'w3'",
                                      db="c2", epoch="s")
        times = {row[0] for row in res["results"][0]["series"][0]["values"]}
        for b in acked:
            for i in range(100):
                if i % 7 == 3:
                    self.assertIn(T0 + b * 100 + i, times)

    def converges(self, get, want, timeout, what):
        seen = []

        def check():
            seen[:] = [get()]
            return seen[0] == want
        try:
            wait(check, timeout, what)
        except AssertionError as e:
            raise AssertionError("%s: got %r, want %r" % (e, seen, want))

    def test_concurrent_creation_through_every_node(self):
        n = len(self.nodes)
        bar = threading.Barrier(n)
        errors, rounds, per = [], 4, 40

        def create(i):
            bar.wait(10)
            st, res, _ = influx_ref.query(self.url(i), "CREATE DATABASE race WITH REPLICATION 3")
            if st != 200 or "error" in res["results"][0]:
                errors.append((i, st, res))

        def first_writes(i, m):
            lines = ["%s,host=n%d f%d=%d,s=%d %d\n" % (m, i, i, k, k, T0 + k) for k in range(per)]
            bar.wait(10)
            # a replica that has not learnt the new table yet fails the
            # write: retried until a quorum acknowledges it
            deadline = time.monotonic() + 60
            while True:
                st, body, _ = self.write(i, "race", lines, "quorum")
                if st == 204:
                    return
                if time.monotonic() > deadline:
                    errors.append((i, m, st, body))
                    return
                time.sleep(0.2)

        def all_at_once(fn, *args):
            ts = [threading.Thread(target=fn, args=(i,) + args) for i in range(n)]
            for t in ts:
                t.start()
            for t in ts:
                t.join(90)

        all_at_once(create)
        self.assertEqual(errors, [])
        for r in range(rounds):
            all_at_once(first_writes, "m%d" % r)
        self.assertEqual(errors, [])

        want_fields = [["f%d" % i, "float"] for i in range(n)] + [["s", "float"]]
        for j in range(n):
            def q(s, j=j):
                st, res, _ = influx_ref.query(self.url(j), s, db="race", epoch="s")
                self.assertEqual(st, 200, res)
                return res["results"][0]
            for r in range(rounds):
                m = "m%d" % r
                self.converges(lambda: q("SHOW FIELD KEYS FROM %s" % m).get("series", [{}])[0]
                               .get("values"), want_fields, 30,
                               "every field of %s on node %d" % (m, j + 1))
                # every acknowledged point of every writer, through node j
                cols = ", ".join("count(f%d)" % i for i in range(n))
                self.converges(lambda: q("SELECT %s, count(s) FROM %s" % (cols, m))
                               .get("series", [{}])[0].get("values"),
                               [[0] + [per] * n + [per * n]], 60,
                               "all points of %s through node %d" % (m, j + 1))
                res = q("SHOW SERIES FROM %s" % m)
                self.assertEqual(res["series"][0]["values"],
                                 [["%s,host=n%d" % (m, i)] for i in range(n)], "node %d" % (j + 1))


if __name__ == "__main__":
    harness.main()
