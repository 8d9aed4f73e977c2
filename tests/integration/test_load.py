"""
test_load.py - the Load column of `basalt-admin status`, with real basaltd
processes: every node shows the same Load for a given node, and that Load
is its SST files' bytes (Cassandra's definition: live SSTables, not the
memtables or the commit log).

Two nodes, keyspace RF 2, ~3 MB of rows written through node 1:

1. before any flush the rows sit in the memtables and the WAL: node 2's
   Load as node 1 shows it (gossip, refreshed once a minute) must come to
   equal the Load node 2 shows for itself, and stay well under the data
   written.  (Before the fix, a node's own row counted its SST files and
   its peers' rows counted every file of their data directory, WAL
   included: node 2 showed a few KiB for itself, node 1 showed ~3 MB for
   it.)
2. after a flush on both nodes, both views of node 2 agree again and hold
   the rows: at least the bytes of values written; and `basalt-admin
   status` on node 2 prints that size on its own row.
"""
import json
import os
import subprocess
import unittest
import urllib.request

from cassandra.cluster import Cluster
from cassandra.policies import WhiteListRoundRobinPolicy

import harness
from harness import Node

ROWS = 1500
VALUE = 2048


def http(n, method, path):
    req = urllib.request.Request("http://%s:%d%s" % (n.host, n.admin_port, path),
                                 headers=n.admin_headers(), method=method)
    with urllib.request.urlopen(req, timeout=60) as r:
        body = r.read().decode()
    return json.loads(body) if body else None


def loads(n):
    """{address: load_bytes} as node n's /status reports them."""
    return {x["address"]: x["load_bytes"] for x in http(n, "GET", "/status")["nodes"]}


class Load(unittest.TestCase):

    def setUp(self):
        hosts = [harness._pick_host() for _ in range(2)]
        sp = harness.shared_port(hosts)
        self.nodes = [Node(host=h, extra={"storage-port": sp, "seeds": hosts[0],
                                          "cluster-name": "integ-load"})
                      for h in hosts]
        for n in self.nodes:
            n.start()
        def up(n):
            doc = http(n, "GET", "/status")["nodes"]
            return len(doc) == 2 and all(x["status"] == "U" and x["state"] == "N" and
                                         x["load_bytes"] is not None for x in doc)
        for n in self.nodes:
            harness.wait_for(lambda n=n: up(n), 60, "%s sees both nodes UN with a load"
                             % n.host)

    def tearDown(self):
        rcs = []
        for n in self.nodes:
            if n.alive():
                rcs.append((n.host, n.stop()))
            n.cleanup()
        self.assertEqual([rc for _, rc in rcs if rc != 0], [], rcs)

    def agree(self, what):
        """Waits (gossip refreshes LOAD once a minute) until node 1's row
        for node 2 equals node 2's own row; returns it."""
        n1, n2 = self.nodes
        seen = []

        def same():
            a, b = loads(n1)[n2.host], loads(n2)[n2.host]
            seen[:] = [a, b]
            return a == b
        try:
            harness.wait_for(same, 100, what, step=1)
        except AssertionError:
            self.fail("%s: node 1 shows %s bytes for node 2, node 2 shows %s"
                      % (what, seen[0], seen[1]))
        return seen[0]

    def test_every_node_shows_the_same_load(self):
        n1, n2 = self.nodes
        c = Cluster([n1.host], port=n1.port, protocol_version=4,
                    load_balancing_policy=WhiteListRoundRobinPolicy([n1.host]))
        try:
            s = c.connect()
            s.execute("CREATE KEYSPACE kl WITH replication = "
                      "{'class': 'SimpleStrategy', 'replication_factor': 2}")
            s.execute("CREATE TABLE kl.t (k int PRIMARY KEY, v blob)")
            ins = s.prepare("INSERT INTO kl.t (k, v) VALUES (?, ?)")
            ins.consistency_level = 4  # ALL: both replicas hold every row
            for k in range(ROWS):
                s.execute(ins, (k, os.urandom(VALUE)))
        finally:
            c.shutdown()
        written = ROWS * VALUE

        unflushed = self.agree("both nodes show one Load for node 2 (unflushed)")
        self.assertLess(unflushed, written // 2,
                        "node 2's Load counts data that is in no SST file yet")

        for n in self.nodes:
            http(n, "POST", "/flush")
        harness.wait_for(lambda: loads(n2)[n2.host] >= written, 30,
                         "node 2's own Load holds the flushed rows")
        flushed = self.agree("both nodes show one Load for node 2 (flushed)")
        self.assertGreaterEqual(flushed, written)

        admin = os.environ.get("BASALT_ADMIN") or os.path.join(
            os.path.dirname(os.path.dirname(harness.BASALTD)), "client", "basalt-admin")
        out = subprocess.run([admin, "-h", n2.host, "-p", str(n2.admin_port),
                              "--token-file", os.path.join(n2.data_dir, "admin_token"),
                              "status"],
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr)
        row = [l for l in out.stdout.splitlines() if (" %s " % n2.host) in l]
        self.assertEqual(len(row), 1, out.stdout)
        f = row[0].split()
        self.assertEqual(f[3], "MiB", row[0])   # UN  address  2.93  MiB  ...
        self.assertGreaterEqual(float(f[2]) * (1 << 20), written * 0.99, row[0])


if __name__ == "__main__":
    harness.main()
