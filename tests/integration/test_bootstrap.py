"""
test_bootstrap.py - nodes join and leave while the cluster serves
(node/topology.c, repair/movement.c, pending-range writes in the
coordinator), with real basaltd processes.

Membership: 2 nodes, keyspace RF=2, 20,000 keys written at ALL.  While a
client keeps writing new keys at QUORUM (every acknowledged key noted):
  * node 3 joins: JOINING while it streams the ranges it gains (visible in
    /streams), then NORMAL.  Every acknowledged key reads back at ALL.
  * cleanup on node 1 drops the ranges it gave to node 3: fewer bytes on
    disk afterwards, every key still there at ALL.
  * node 2 decommissions (basalt-admin decommission): it streams its ranges
    to their new owners, announces LEFT and exits 0; every key still reads
    back at ALL from the two nodes left, which see 2 NORMAL nodes.
  * a decommissioned data directory refuses to start again.
  * node 3 is killed and node 4 replaces it (replace_address_first_boot):
    it takes node 3's tokens, streams its ranges from node 1, becomes
    NORMAL while node 3 leaves the ring, and every key reads back at ALL.

Refused and failed joins: 2 nodes RF=2 with keys, node 3 joining with a
slow stream (stream_throughput_outbound 16KiB): a 4th node started then is
refused with a clear message (one topology change at a time); node 3
killed in the middle of its bootstrap; the sources' throttle read back
and lifted at run time (basalt-admin get/setstreamthroughput, bad values
refused); node 3 started again resumes (ranges
already received are skipped, logged) and becomes NORMAL with all the
data: with node 1 killed, a range scan at ONE through node 2 still returns
all 20,000 keys - the ranges node 3 shares with node 1 can only come from
node 3's streamed copy.  Node 1, dead, is then removed with basalt-admin
removenode through node 2 (a malformed host id is refused): the ranges
node 1 shared with node 2 are copied to node 3, and every key reads back
at ALL from the two nodes left.
"""
import json
import os
import re
import subprocess
import threading
import time
import unittest
import urllib.error
import urllib.request

from cassandra import ConsistencyLevel
from cassandra.query import SimpleStatement

import harness
from harness import Node

_wait = harness.wait_for
NKEYS = 20000


def http(n, method, path):
    req = urllib.request.Request("http://%s:%d%s" % (n.host, n.admin_port, path),
                                 headers=n.admin_headers(), method=method,
                                 data=b"" if method == "POST" else None)
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.loads(r.read().decode())


def states(n):
    """{address: status+state} as node n reports them ("UN", "UJ", ...)."""
    doc = http(n, "GET", "/status")
    return {x["address"]: x["status"] + x["state"] for x in doc["nodes"]}


def admin(n, *args):
    """basalt-admin against node n: (exit status, output)."""
    exe = os.environ.get("BASALT_ADMIN") or os.path.join(
        os.path.dirname(os.path.dirname(harness.BASALTD)), "client", "basalt-admin")
    p = subprocess.run([exe, "-h", n.host, "-p", str(n.admin_port), "--token-file",
                        os.path.join(n.data_dir, "admin_token")] + list(args),
                       timeout=180, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    return p.returncode, p.stdout.decode()


def normal_count(n):
    return sum(1 for s in states(n).values() if s == "UN")


class Writer(threading.Thread):
    """Writes keys first, first+1, ... at QUORUM until stopped; `acked`
    holds every key the cluster acknowledged."""

    def __init__(self, session, first):
        super().__init__(daemon=True)
        self.s, self.k, self.acked, self.errors = session, first, [], 0
        self.stop_ev = threading.Event()
        self.ps = session.prepare("INSERT INTO ks.kv (k, v) VALUES (?, ?)")
        self.ps.consistency_level = ConsistencyLevel.QUORUM

    def run(self):
        while not self.stop_ev.is_set():
            try:
                self.s.execute(self.ps, (self.k, self.k * 7))
                self.acked.append(self.k)
            except Exception:
                self.errors += 1
            self.k += 1

    def finish(self):
        self.stop_ev.set()
        self.join(60)


class _Base(unittest.TestCase):
    CLUSTER = "integ-boot"

    def setUp(self):
        self.nodes = []
        self.clusters = []

    def tearDown(self):
        for c in self.clusters:
            c.shutdown()
        for n in self.nodes:
            n.cleanup()

    def node(self, i, **extra):
        e = {"storage-port": self.sp, "seeds": self.hosts[0],
             "cluster-name": self.CLUSTER, "ring-delay": "2s",
             "num-tokens": 8}
        e.update(extra)
        n = Node(host=self.hosts[i], extra=e)
        self.nodes.append(n)
        return n

    def session(self, n):
        c = n.cluster()
        self.clusters.append(c)
        return c.connect()

    def load(self, s):
        s.execute("CREATE KEYSPACE ks WITH replication = "
                  "{'class': 'SimpleStrategy', 'replication_factor': 2}")
        s.execute("CREATE TABLE ks.kv (k int PRIMARY KEY, v int)")
        ps = s.prepare("INSERT INTO ks.kv (k, v) VALUES (?, ?)")
        ps.consistency_level = ConsistencyLevel.ALL
        todo = harness.write_retrying(s, ps, [(k, k * 7) for k in range(NKEYS)])
        self.assertEqual(todo[:5], [], "%d keys not written at ALL" % len(todo))

    def keys(self, s, cl):
        st = SimpleStatement("SELECT k, v FROM ks.kv", fetch_size=5000,
                             consistency_level=cl)
        got = {}
        for r in s.execute(st, timeout=120):
            got[r.k] = r.v
        return got

    def assert_all(self, s, want, cl=ConsistencyLevel.ALL):
        got = self.keys(s, cl)
        missing = [k for k in want if got.get(k) != k * 7]
        self.assertEqual(missing[:20], [], "%d of %d keys missing or wrong at %s"
                         % (len(missing), len(want), cl))

    def wait_normal(self, n, k, timeout=120):
        # the view goes into the failure message once the wait failed (a
        # node just started may not answer on its admin port yet)
        try:
            _wait(lambda: normal_count(n) == k, timeout,
                  "%s sees %d normal nodes" % (n.host, k))
        except AssertionError as e:
            raise AssertionError("%s; its view now: %r" % (e, states(n)))

    def wait_down(self, n, host):
        _wait(lambda: states(n).get(host, "")[:1] == "D", 30,
              "%s sees %s down" % (n.host, host))

    def only_from_streamed_copies(self, n1, n2, want):
        """Kills n1 and reads everything at ONE through n2: the ranges n1
        shared with the new node come from the new node's copy."""
        n1.kill()
        self.wait_down(n2, n1.host)
        s2 = self.session(n2)
        self.assert_all(s2, want, ConsistencyLevel.ONE)


class JoinCleanupDecommission(_Base):
    CLUSTER = "integ-boot-cycle"

    def test_join_cleanup_decommission_while_writing(self):
        self.hosts = [harness._pick_host() for _ in range(4)]
        self.sp = harness.shared_port(self.hosts)
        n1, n2 = self.node(0), self.node(1)
        n1.start()
        n2.start()
        self.wait_normal(n1, 2)
        s = self.session(n1)
        self.load(s)

        # node 3 joins while a client writes
        w = Writer(self.session(n2), 1000000)
        w.start()
        n3 = self.node(2)
        n3.start()
        _wait(lambda: states(n1).get(n3.host) in ("UJ", "UN"), 60, "node 3 seen")
        self.wait_normal(n1, 3)
        self.wait_normal(n3, 3)
        doc = http(n3, "GET", "/streams")
        print("node 3 streams: %s" % json.dumps(doc))
        sess = doc["streams"]["sessions"]
        self.assertEqual(sess[0]["operation"], "bootstrap")
        self.assertEqual(sess[0]["phase"], "complete")
        self.assertGreater(sess[0]["ranges_done"], 0)
        self.assertEqual(sess[0]["ranges_done"], sess[0]["ranges_total"])
        self.assertGreater(sess[0]["rows"], 0)
        time.sleep(1)
        w.finish()
        print("writer: %d acknowledged during the join, %d errors"
              % (len(w.acked), w.errors))
        self.assertGreater(len(w.acked), 0)
        want = list(range(NKEYS)) + w.acked
        self.assert_all(s, want)

        # cleanup on node 1: it gave ranges to node 3
        out = http(n1, "POST", "/cleanup")
        print("cleanup node 1: %r" % out)
        self.assertGreater(out["ranges_dropped"], 0)
        self.assertLess(out["bytes_after"], out["bytes_before"])
        self.assert_all(s, want)

        # node 2 decommissions with basalt-admin; it exits 0 when done
        n2.expect_exit(0)
        rc, out = admin(n2, "decommission")
        print(out)
        self.assertEqual(rc, 0, out)
        self.assertIn("decommission complete", out)
        _wait(lambda: not n2.alive(), 30, "node 2 exits")
        self.assertEqual(n2.proc.returncode, 0, n2.log_tail())
        self.wait_normal(n1, 2)
        self.assertNotIn(n2.host, states(n1))
        self.assert_all(s, want)

        # its data directory cannot come back under the old host id
        with self.assertRaises(RuntimeError) as cm:
            n2.start(timeout=20)
        self.assertIn("was decommissioned", str(cm.exception))

        # node 3 dies; node 4 replaces it (replace_address_first_boot): it
        # takes node 3's tokens and streams its ranges from node 1, so ALL
        # (nodes 1 and 4) finds every key again
        toks3 = http(n3, "GET", "/info?tokens=1")["token_list"]
        n3.kill()
        self.wait_down(n1, n3.host)
        n4 = self.node(3, **{"replace-address-first-boot": n3.host})
        n4.start()
        _wait(lambda: states(n1).get(n4.host) == "UN" and n3.host not in states(n1),
              120, "node 4 replaces node 3 (%r)" % states(n1))
        self.assertEqual(sorted(http(n4, "GET", "/info?tokens=1")["token_list"]),
                         sorted(toks3))
        self.assertIn("replacing dead node %s" % n3.host, n4.log())
        self.assert_all(s, want)


class RefusedAndResumed(_Base):
    CLUSTER = "integ-boot-resume"

    def check_netstats(self, joining, sources):
        """While joining streams (throttled): every running stream is a row
        of netstats, on the receiving node and on the sending one."""
        def rows(n, direction):
            return [x for x in http(n, "GET", "/streams")["streams"]["streams"]
                    if x["direction"] == direction and x["bytes"] > 0]
        _wait(lambda: rows(joining, "receiving"), 60, "a receiving stream with bytes")
        got = rows(joining, "receiving")
        print("node 3 receiving: %s" % json.dumps(got))
        for x in got:
            self.assertIn(x["peer"], [s.host for s in sources])
            self.assertGreater(x["rows"], 0)
            self.assertTrue(x["table"])
        sending = []
        _wait(lambda: sending.extend(x for s in sources for x in rows(s, "sending")) or sending,
              60, "a source lists its sending stream")
        print("sources sending: %s" % json.dumps(sending))
        for x in sending:
            self.assertEqual(x["peer"].rsplit(":", 1)[0], joining.host)
            self.assertGreaterEqual(x["ranges"], 1)
        rc, out = admin(joining, "netstats")
        self.assertEqual(rc, 0, out)
        self.assertRegex(out, r"receiving from (%s)  \S+" %
                         "|".join(re.escape(s.host) for s in sources))
        rc, out = admin(sources[0], "netstats")
        rc2, out2 = admin(sources[1], "netstats")
        self.assertRegex(out + out2, r"sending to %s:\d+  \S+  1 range" % re.escape(joining.host))

    def lift_throttle(self, *nodes):
        """The sources' 16 KiB/s read back and lifted at run time
        (basalt-admin setstreamthroughput), without a restart."""
        for n in nodes:
            rc, out = admin(n, "getstreamthroughput", "-m")
            self.assertEqual((rc, out.strip()), (0, "Current stream throughput: 0.015625 MiB/s"))
            rc, out = admin(n, "getstreamthroughput")
            self.assertEqual((rc, out.strip()), (0, "Current stream throughput: 0.131072 Mb/s"))
            rc, out = admin(n, "setstreamthroughput", "12xB")
            self.assertEqual(rc, 1, out)
            self.assertIn("bad stream throughput '12xB'", out)
            with self.assertRaises(urllib.error.HTTPError) as cm:
                http(n, "POST", "/streamthroughput?bytes=-1")
            self.assertEqual(cm.exception.code, 400)
            rc, out = admin(n, "setstreamthroughput", "-m", "200")
            self.assertEqual(rc, 0, out)
            self.assertEqual(http(n, "GET", "/streamthroughput"),
                             {"stream_throughput_bytes": 200 << 20})
            rc, out = admin(n, "setstreamthroughput", "0")
            self.assertEqual(rc, 0, out)
            rc, out = admin(n, "getstreamthroughput")
            self.assertEqual((rc, out.strip()), (0, "Current stream throughput: unthrottled"))

    def test_second_join_refused_and_restart_resumes(self):
        self.hosts = [harness._pick_host() for _ in range(4)]
        self.sp = harness.shared_port(self.hosts)
        slow = {"stream-throughput-outbound": "16KiB"}
        n1, n2 = self.node(0, **slow), self.node(1, **slow)
        n1.start()
        n2.start()
        self.wait_normal(n1, 2)
        s = self.session(n1)
        self.load(s)
        n3 = self.node(2)
        n3.start()
        _wait(lambda: (http(n3, "GET", "/streams")["streams"]["sessions"] or
                       [{}])[0].get("ranges_done", 0) > 0, 90,
              "node 3 streamed a range")
        self.check_netstats(n3, (n1, n2))
        # a second join while node 3 streams is refused
        n4 = self.node(3)
        with self.assertRaises(RuntimeError) as cm:
            n4.start(timeout=60)
        self.assertIn("another topology change is in progress", str(cm.exception))
        # node 3 killed in the middle, started again: it resumes
        n3.kill()
        self.assertEqual(states(n1).get(n3.host, "")[1:], "J")
        self.lift_throttle(n1, n2)
        n3.start()
        self.wait_normal(n1, 3)
        log = n3.log()
        m = re.search(r"resuming the bootstrap: (\d+) \(table, range\) streams", log)
        self.assertIsNotNone(m, log[-3000:])
        self.assertGreater(int(m.group(1)), 0)
        self.assertRegex(log, r"bootstrap streamed \d+ ranges \([1-9]\d* skipped")
        self.only_from_streamed_copies(n1, n2, list(range(NKEYS)))

        # node 1 stays dead: removenode through node 2 copies the ranges
        # it shared with node 2 to node 3 (from node 2), after which ALL
        # (now nodes 2 and 3) finds every key
        hid = [x["host_id"] for x in http(n2, "GET", "/status")["nodes"]
               if x["address"] == n1.host][0]
        rc, out = admin(n2, "removenode", n3.host)
        self.assertEqual(rc, 1, out)
        # node 2 learns through gossip that node 3 finished its bootstrap
        # (node 1 saw it first): until then it refuses a second change
        _wait(lambda: states(n2).get(n3.host) == "UN", 60,
              "node 2 sees node 3 NORMAL (%r)" % (states(n2),))
        rc, out = admin(n2, "removenode", hid)
        print(out)
        self.assertEqual(rc, 0, "%s\nnode 2 sees %r" % (out, states(n2)))
        self.assertIn("removenode complete", out)
        _wait(lambda: n1.host not in states(n3), 30, "node 3 forgets node 1")
        self.wait_normal(n2, 2)
        self.assert_all(self.session(n3), list(range(NKEYS)))


if __name__ == "__main__":
    harness.main()
