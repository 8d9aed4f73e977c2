"""
test_cluster.py - a 3-node Basalt cluster of real basaltd processes.

Three nodes on their own loopback addresses (127.0.0.N, from the harness)
share one storage port (seeds are addresses; the port is the cluster's
storage_port), each with its own CQL port and data directory; node 1 is
the seed.  Checked with Debian's python3-cassandra driver and a raw
protocol-v4 connection that REGISTERs for events:

  * the driver sees 3 hosts, all up, and a token map holding every node's
    tokens (as each node reports them in its own system.local);
  * system.local / system.peers agree on one schema version everywhere;
  * DDL on node 1 is visible on nodes 2 and 3 within 2 s (queried
    directly with a WhiteListRoundRobinPolicy; the driver's own
    schema-agreement wait is disabled so it cannot hide the delay);
  * concurrent DDL on two nodes converges to one schema version;
  * kill -9 of a node: the others report it DOWN (log line + a
    STATUS_CHANGE DOWN event) within 10 s; restarted, it is UP again with
    the same host id and tokens;
  * a SIGSTOPped node is marked DOWN by phi and UP again after SIGCONT;
  * a node with another cluster_name is refused (log lines on both
    sides), never appears in system.peers, and (a new node that cannot
    learn the ring) never opens its CQL port; SIGTERM stops it cleanly;
  * garbage on the storage port is logged and rejected, node stays up.

Every process is cleaned up by the harness (also on failure).
"""

import os
import re
import signal
import socket
import struct
import threading
import unittest

import harness
from harness import Node

from cassandra.cluster import Cluster, ExecutionProfile, EXEC_PROFILE_DEFAULT
from cassandra.policies import WhiteListRoundRobinPolicy


_shared_port = harness.shared_port
_wait = harness.wait_for


class EventListener(object):
    """A raw CQL v4 connection REGISTERed for STATUS_CHANGE and
    TOPOLOGY_CHANGE; collects (type, change, address, port)."""

    def __init__(self, host, port):
        self.sock = socket.create_connection((host, port), 5)
        self.events = []
        self.lock = threading.Lock()
        self._send(0x01, self._strmap({"CQL_VERSION": "3.0.0"}))
        op, _ = self._read()
        assert op == 0x02, "expected READY, got opcode %d" % op
        self._send(0x0B, self._strlist(["STATUS_CHANGE", "TOPOLOGY_CHANGE"]))
        op, _ = self._read()
        assert op == 0x02, "expected READY after REGISTER, got %d" % op
        self.sock.settimeout(None)
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    @staticmethod
    def _str(s):
        b = s.encode()
        return struct.pack(">H", len(b)) + b

    def _strmap(self, m):
        return struct.pack(">H", len(m)) + b"".join(self._str(k) + self._str(v) for k, v in m.items())

    def _strlist(self, l):
        return struct.pack(">H", len(l)) + b"".join(self._str(x) for x in l)

    def _send(self, op, body):
        self.sock.sendall(struct.pack(">BBhBi", 4, 0, 0, op, len(body)) + body)

    def _recv(self, n):
        b = b""
        while len(b) < n:
            c = self.sock.recv(n - len(b))
            if not c:
                raise EOFError()
            b += c
        return b

    def _read(self):
        h = self._recv(9)
        _, _, _, op, ln = struct.unpack(">BBhBi", h)
        return op, self._recv(ln)

    def _run(self):
        try:
            while True:
                op, body = self._read()
                if op != 0x0C:
                    continue
                pos = 0

                def rstr():
                    nonlocal pos
                    n = struct.unpack(">H", body[pos:pos + 2])[0]
                    s = body[pos + 2:pos + 2 + n].decode()
                    pos += 2 + n
                    return s
                typ = rstr()
                if typ not in ("STATUS_CHANGE", "TOPOLOGY_CHANGE"):
                    continue
                change = rstr()
                alen = body[pos]
                addr = socket.inet_ntop(socket.AF_INET if alen == 4 else socket.AF_INET6,
                                        body[pos + 1:pos + 1 + alen])
                port = struct.unpack(">i", body[pos + 1 + alen:pos + 5 + alen])[0]
                with self.lock:
                    self.events.append((typ, change, addr, port))
        except (EOFError, OSError):
            pass

    def seen(self, typ, change, addr):
        with self.lock:
            return any(e[0] == typ and e[1] == change and e[2] == addr for e in self.events)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def session_for(node, **kw):
    """A driver session that only ever talks to `node`."""
    prof = ExecutionProfile(load_balancing_policy=WhiteListRoundRobinPolicy([node.host]),
                            request_timeout=20)
    c = Cluster([node.host], port=node.port, protocol_version=4,
                execution_profiles={EXEC_PROFILE_DEFAULT: prof},
                connect_timeout=10, control_connection_timeout=10, **kw)
    return c, c.connect()


class ClusterTest(unittest.TestCase):
    CLUSTER = "integ-cluster"

    @classmethod
    def setUpClass(cls):
        hosts = [harness._pick_host() for _ in range(3)]
        cls.sp = _shared_port(hosts)
        cls.nodes = []
        try:
            for h in hosts:
                n = Node(host=h, extra={"storage-port": cls.sp, "seeds": hosts[0],
                                        "cluster-name": cls.CLUSTER, "num-tokens": 8})
                cls.nodes.append(n)
            for n in cls.nodes:
                n.start()
            # every node knows the two others (gossip) before the tests
            for n in cls.nodes:
                _wait(lambda n=n: "joined the ring" in n.log() and
                      n.log().count("joined the ring") >= 2, 30,
                      "%s sees both peers" % n.host)
        except Exception:
            for n in cls.nodes:
                n.cleanup()
            raise
        cls.sessions = {}

    @classmethod
    def tearDownClass(cls):
        for c, _ in cls.sessions.values():
            c.shutdown()
        rcs = []
        try:
            for n in cls.nodes:
                if n.alive():
                    rcs.append((n.host, n.stop()))
        finally:
            for n in cls.nodes:
                n.cleanup()
        for h, rc in rcs:
            if rc != 0:
                raise AssertionError("basaltd %s exited with %r on SIGTERM" % (h, rc))

    def session(self, i):
        n = self.nodes[i]
        if i not in self.sessions:
            self.sessions[i] = session_for(n, max_schema_agreement_wait=0)
        return self.sessions[i][1]

    def drop_session(self, i):
        if i in self.sessions:
            self.sessions.pop(i)[0].shutdown()

    def local_row(self, i):
        return self.session(i).execute(
            "SELECT host_id, tokens, schema_version FROM system.local").one()

    def peers(self, i):
        return list(self.session(i).execute(
            "SELECT peer, host_id, tokens, schema_version FROM system.peers"))

    def versions(self):
        vs = set()
        for i in range(3):
            vs.add(self.local_row(i).schema_version)
            for p in self.peers(i):
                vs.add(p.schema_version)
        return vs

    # ------------------------------------------------------------------
    def test_1_driver_sees_three_hosts_and_token_map(self):
        for i in range(3):
            _wait(lambda i=i: len(self.peers(i)) == 2, 10, "2 peers on node %d" % i)
        c = Cluster([self.nodes[0].host], port=self.nodes[0].port, protocol_version=4,
                    connect_timeout=10, control_connection_timeout=10)
        try:
            c.connect()
            hosts = c.metadata.all_hosts()
            self.assertEqual(sorted(h.address for h in hosts),
                             sorted(n.host for n in self.nodes))
            by_addr = {h.address: h for h in hosts}
            for n in self.nodes:
                self.assertEqual(by_addr[n.host].endpoint.port, n.port)
            _wait(lambda: all(h.is_up for h in c.metadata.all_hosts()), 10, "all hosts up")
            owner = c.metadata.token_map.token_to_host_owner
            total = 0
            for i, n in enumerate(self.nodes):
                row = self.local_row(i)
                toks = set(int(t) for t in row.tokens)
                self.assertEqual(len(toks), 8)
                total += len(toks)
                mine = set(t.value for t, h in owner.items() if h.address == n.host)
                self.assertEqual(mine, toks, "token map of %s" % n.host)
                self.assertEqual(by_addr[n.host].host_id, row.host_id)
            self.assertEqual(len(owner), total)
        finally:
            c.shutdown()
        # every node's peers rows carry the others' host ids and tokens
        local = {n.host: self.local_row(i) for i, n in enumerate(self.nodes)}
        for i, n in enumerate(self.nodes):
            for p in self.peers(i):
                self.assertEqual(p.host_id, local[p.peer].host_id)
                self.assertEqual(set(p.tokens), set(local[p.peer].tokens))

    def test_2_schema_version_agrees(self):
        _wait(lambda: len(self.versions()) == 1, 10, "one schema version")

    def test_3_ddl_on_node1_visible_on_2_and_3(self):
        s1 = self.session(0)
        s1.execute("CREATE KEYSPACE prop WITH replication = "
                   "{'class': 'SimpleStrategy', 'replication_factor': 1}")
        s1.execute("CREATE TABLE prop.t (k int PRIMARY KEY, v text)")
        for i in (1, 2):
            s = self.session(i)
            _wait(lambda s=s: s.execute(
                "SELECT table_name FROM system_schema.tables WHERE keyspace_name = 'prop'"
            ).one() is not None, 30, "table on node %d" % (i + 1), step=0.02)
            # and usable there
            s.execute("INSERT INTO prop.t (k, v) VALUES (%d, 'x')" % i)
        _wait(lambda: len(self.versions()) == 1, 10, "one schema version after DDL")

    def test_4_concurrent_ddl_converges(self):
        s2, s3 = self.session(1), self.session(2)
        s2.execute("CREATE KEYSPACE IF NOT EXISTS conc WITH replication = "
                   "{'class': 'SimpleStrategy', 'replication_factor': 1}")
        _wait(lambda: s3.execute("SELECT keyspace_name FROM system_schema.keyspaces "
                                 "WHERE keyspace_name = 'conc'").one(), 5, "conc on node 3")
        threads = [threading.Thread(target=s2.execute,
                                    args=("CREATE TABLE conc.a (k int PRIMARY KEY)",)),
                   threading.Thread(target=s3.execute,
                                    args=("CREATE TABLE conc.b (k int PRIMARY KEY)",))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for i in range(3):
            s = self.session(i)
            _wait(lambda s=s: sorted(r.table_name for r in s.execute(
                "SELECT table_name FROM system_schema.tables WHERE keyspace_name = 'conc'"))
                == ["a", "b"], 10, "both tables on node %d" % (i + 1))
        _wait(lambda: len(self.versions()) == 1, 10, "one schema version")

    def test_5_kill_then_restart(self):
        victim = self.nodes[2]
        before = self.local_row(2)
        self.drop_session(2)
        ev = EventListener(self.nodes[0].host, self.nodes[0].port)
        try:
            victim.kill()
            _wait(lambda: ev.seen("STATUS_CHANGE", "DOWN", victim.host), 60,
                  "STATUS_CHANGE DOWN event")
            for n in self.nodes[:2]:
                _wait(lambda n=n: "%s:%d is now DOWN" % (victim.host, self.sp) in n.log(),
                      60, "%s logs the victim DOWN" % n.host)
            victim.start()
            _wait(lambda: ev.seen("STATUS_CHANGE", "UP", victim.host), 20,
                  "STATUS_CHANGE UP event")
        finally:
            ev.close()
        after = self.local_row(2)
        self.assertEqual(after.host_id, before.host_id)
        self.assertEqual(set(after.tokens), set(before.tokens))
        rows = {p.peer: p for p in self.peers(0)}
        self.assertEqual(rows[victim.host].host_id, before.host_id)
        self.assertEqual(set(rows[victim.host].tokens), set(before.tokens))
        self.assertIn("restarted", self.nodes[0].log())
        # the restarted node has its schema back and agrees
        _wait(lambda: len(self.versions()) == 1, 10, "one schema version after restart")

    def test_6_paused_node_down_then_up(self):
        victim = self.nodes[1]
        marker = "%s:%d is now DOWN" % (victim.host, self.sp)
        up = "%s:%d is now UP" % (victim.host, self.sp)
        n0 = self.nodes[0]
        downs0 = n0.log().count(marker)
        ups0 = n0.log().count(up)
        os.kill(victim.proc.pid, signal.SIGSTOP)
        try:
            _wait(lambda: n0.log().count(marker) > downs0, 40, "paused node marked DOWN")
            self.assertIn("phi", n0.log().split(marker)[-1].splitlines()[0])
        finally:
            os.kill(victim.proc.pid, signal.SIGCONT)
        _wait(lambda: n0.log().count(up) > ups0, 20, "resumed node marked UP")
        self.assertTrue(victim.alive())

    def test_7_other_cluster_refused(self):
        intruder = Node(extra={"storage-port": self.sp, "seeds": self.nodes[0].host,
                               "cluster-name": "someone-else"})
        try:
            # a new node learns the ring from its seed before it serves:
            # refused, it keeps waiting and never opens its CQL port
            intruder.start(wait=False)
            _wait(lambda: "refused our connection" in intruder.log(), 15,
                  "intruder told it is refused")
            _wait(lambda: "refused internode connection from %s:" % intruder.host
                  in self.nodes[0].log(), 5, "seed logs the refusal")
            self.assertIn("someone-else", self.nodes[0].log())
            # the refusal does not tell the intruder our name
            self.assertNotIn(self.CLUSTER, intruder.log())
            # a new node learns the ring before it serves: refused, it
            # keeps waiting and never opens its CQL port
            self.assertNotIn("balanced tokens", intruder.log())
            with self.assertRaises(OSError):
                socket.create_connection((intruder.host, intruder.port), 1).close()
            self.assertEqual(len(self.peers(0)), 2)
            self.assertTrue(all(p.peer != intruder.host for p in self.peers(0)))
            self.assertEqual(intruder.stop(), 0)
        finally:
            intruder.cleanup()

    def test_7b_node_without_the_secret_refused(self):
        """Issue 20: a node with the right cluster name but not the
        cluster's secret (it made its own in its data directory) cannot
        join; every node it tries logs the attempt with its address."""
        intruder = Node(extra={"storage-port": self.sp, "seeds": self.nodes[0].host,
                               "cluster-name": self.CLUSTER})
        intruder.extra["cluster_secret_file"] = ""   # the default: its own
        try:
            intruder.start(wait=False)
            _wait(lambda: os.path.exists(os.path.join(intruder.data_dir, "cluster_secret")),
                  15, "the intruder's own secret")
            _wait(lambda: "refused internode connection from %s:" % intruder.host
                  in self.nodes[0].log(), 15, "seed logs the refusal")
            self.assertRegex(self.nodes[0].log(),
                             r"refused internode connection from %s:\d+ .*cluster secret"
                             % re.escape(intruder.host))
            _wait(lambda: "does not prove that it knows the cluster secret" in intruder.log()
                  or "refused our connection" in intruder.log(), 15,
                  "intruder told it is refused")
            # it never learns the ring, so it never serves
            with self.assertRaises(OSError):
                socket.create_connection((intruder.host, intruder.port), 1).close()
            self.assertEqual(len(self.peers(0)), 2)
            self.assertTrue(all(p.peer != intruder.host for p in self.peers(0)))
            self.assertEqual(intruder.stop(), 0)
        finally:
            intruder.cleanup()

    def test_8_garbage_on_storage_port(self):
        n0 = self.nodes[0]
        for payload in (b"\x00\x00\x00\x10\x00\xc1garbagegarbage!", b"\x7f\xff\xff\xff\x00",
                        b"GET / HTTP/1.0\r\n\r\n", b"\x00\x00\x00\x09\x00\x81\xa1v"):
            s = socket.create_connection((n0.host, self.sp), 5)
            s.sendall(payload)
            s.settimeout(10)
            try:
                while s.recv(1024):
                    pass
            except OSError:
                pass
            s.close()
        _wait(lambda: n0.log().count("bad internode") >= 3, 5, "garbage logged")
        self.assertTrue(n0.alive())
        self.assertEqual(self.session(0).execute("SELECT key FROM system.local").one().key,
                         "local")
        _wait(lambda: len(self.versions()) == 1, 10, "cluster still agrees")


if __name__ == "__main__":
    harness.main()
