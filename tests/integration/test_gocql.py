"""
test_gocql.py - Debian's unmodified gocql (golang-github-gocql-gocql-dev,
1.3.2) with its default settings against a 3-node Basalt cluster.

The checks are in gocql/main.go (built here with GOPATH=/usr/share/gocode
GO111MODULE=off and a GOCACHE under the build directory, so nothing is
fetched from the network): every type over protocol v4 and v3, a
prepared SELECT * across ALTER TABLE (gocql executes with skip_metadata
and decodes with the metadata of PREPARE), paging, batches, every
consistency level, KeyspaceMetadata and its refresh by schema events, a
node killed and restarted.  This file runs the cluster (three nodes
sharing one CQL port on their own 127.0.0.N, RF 3 keyspace) and serves
the program's "KILL i" / "START i" requests; each ends in "OK" only once
the other nodes have seen the node DOWN (or UP again).

GOCACHE: $BASALT_GOCACHE (CMake points it into the build directory, see
gocql.cmake), else a temporary directory.
"""
import os
import shutil
import subprocess
import tempfile
import unittest

import harness
from harness import Node

HERE = os.path.dirname(os.path.abspath(__file__))


class GocqlTest(unittest.TestCase):
    CLUSTER = "gocql"

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="basalt-gocql-")
        cls.nodes = []
        # build first: a broken Go setup fails before any node starts
        cache = os.environ.get("BASALT_GOCACHE") or os.path.join(cls.tmp, "gocache")
        env = dict(os.environ, GOPATH="/usr/share/gocode", GO111MODULE="off",
                   GOCACHE=cache, HOME=os.environ.get("HOME") or cls.tmp)
        cls.prog = os.path.join(cls.tmp, "gocql_check")
        go = shutil.which("go") or "/usr/lib/go/bin/go"
        subprocess.run([go, "build", "-o", cls.prog, "."], cwd=os.path.join(HERE, "gocql"),
                       env=env, check=True, timeout=300)
        hosts = [harness._pick_host() for _ in range(3)]
        cls.hosts = hosts
        cls.sp = harness.shared_port(hosts)
        cls.cql = harness.shared_port(hosts)
        try:
            for h in hosts:
                n = Node(host=h, extra={"storage-port": cls.sp, "seeds": hosts[0],
                                        "cluster-name": cls.CLUSTER, "num-tokens": 8,
                                        "native-transport-port": cls.cql})
                n.port = cls.cql
                cls.nodes.append(n)
            for n in cls.nodes:
                n.start()
            for n in cls.nodes:
                harness.wait_for(lambda n=n: n.log().count("joined the ring") >= 2, 30,
                                 "%s sees both peers" % n.host)
        except Exception:
            cls.cleanup_nodes()
            raise

    @classmethod
    def cleanup_nodes(cls):
        for n in cls.nodes:
            n.cleanup()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def tearDownClass(cls):
        cls.cleanup_nodes()

    def _seen(self, i, state):
        v = self.nodes[i]
        mark = "%s:%d is now %s" % (v.host, self.sp, state)
        for j, n in enumerate(self.nodes):
            if j != i:
                harness.wait_for(lambda n=n: mark in n.log(), 30,
                                 "%s logs %s %s" % (n.host, v.host, state))

    def _serve(self, line):
        cmd, _, arg = line.partition(" ")
        i = int(arg) - 1
        if cmd == "KILL":
            self.nodes[i].kill()
            self._seen(i, "DOWN")
        elif cmd == "START":
            self.nodes[i].start()
            self._seen(i, "UP")
        else:
            raise AssertionError("unknown request %r" % line)

    def test_gocql_defaults(self):
        env = dict(os.environ, BASALT_HOSTS=",".join(self.hosts),
                   BASALT_PORT=str(self.cql))
        p = subprocess.Popen([self.prog], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, env=env, text=True, bufsize=1)
        out = []
        try:
            for line in p.stdout:
                line = line.rstrip("\n")
                out.append(line)
                if line.startswith("KILL ") or line.startswith("START "):
                    self._serve(line)
                    p.stdin.write("OK\n")
                    p.stdin.flush()
            rc = p.wait(timeout=60)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
            p.stdin.close()
            p.stdout.close()
        text = "\n".join(out)
        self.assertEqual(rc, 0, "gocql program failed:\n" + text)
        self.assertEqual(out[-1], "PASS", text)


if __name__ == "__main__":
    harness.main()
