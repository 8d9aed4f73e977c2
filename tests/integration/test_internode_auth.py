#!/usr/bin/python3
"""test_internode_auth.py - issue 20's attack on the internode port fails.

The issue: a script on another loopback address connected to port 7000
of every node of a default 3-node cluster, sent a handshake with the
right cluster name, then the TRUNCATE verb: the table went from 200 rows
to 0 and nothing was logged.  Nodes now prove a cluster secret (an HMAC
challenge-response, node/cluster/msg.h) before any verb is accepted.

Here the same script, speaking the internode protocol by hand (length-
framed msgpack, msg.h's frame table), tries every way in on each node:
  1. the old handshake (protocol 1) with the right cluster name, then
     TRUNCATE - the issue's script;
  2. the new handshake with the right name, then TRUNCATE at once
     (skipping the proof);
  3. the new handshake, a made-up proof, then TRUNCATE;
  4. TRUNCATE as the very first frame;
  5. a wrong cluster name (the answer must not tell the real one).
Afterwards the table still has its 200 rows on every node, every node
logged the refusals with the attacker's address, and no answer carried
the cluster name.  The nodes themselves (which share the harness's
secret) still replicate.
"""
import os
import socket
import struct
import unittest

import harness
from cassandra import ConsistencyLevel
from cassandra.query import SimpleStatement
from test_replication import _ReplicatedCluster, _wait

VERB_HANDSHAKE = 0
VERB_TRUNCATE = 30          # node/coord/coord.h
KIND_REQUEST = 0
ROWS = 200


# -- a minimal msgpack, enough for the internode envelope and handshake --
def _pack(v):
    if isinstance(v, bool):
        return b"\xc3" if v else b"\xc2"
    if isinstance(v, int):
        assert 0 <= v < 2 ** 32
        if v < 128:
            return bytes([v])
        return b"\xce" + struct.pack(">I", v)
    if isinstance(v, str):
        b = v.encode()
        assert len(b) < 256
        return (bytes([0xa0 | len(b)]) if len(b) < 32 else b"\xd9" + bytes([len(b)])) + b
    if isinstance(v, bytes):
        assert len(v) < 65536
        return (b"\xc4" + bytes([len(v)]) if len(v) < 256
                else b"\xc5" + struct.pack(">H", len(v))) + v
    if isinstance(v, dict):
        assert len(v) < 16
        return bytes([0x80 | len(v)]) + b"".join(_pack(k) + _pack(x) for k, x in v.items())
    raise TypeError(v)


def _unpack(b, i=0):
    """(value, next offset); maps, str, bin, ints, bools, nil."""
    t = b[i]
    if t < 0x80:
        return t, i + 1
    if 0x80 <= t <= 0x8f or t == 0xde:
        n, i = (t & 15, i + 1) if t != 0xde else (struct.unpack(">H", b[i + 1:i + 3])[0], i + 3)
        d = {}
        for _ in range(n):
            k, i = _unpack(b, i)
            d[k], i = _unpack(b, i)
        return d, i
    if 0xa0 <= t <= 0xbf:
        n = t & 31
        return b[i + 1:i + 1 + n].decode(), i + 1 + n
    if t in (0xd9, 0xc4):
        n = b[i + 1]
        s = b[i + 2:i + 2 + n]
        return (s.decode() if t == 0xd9 else bytes(s)), i + 2 + n
    if t in (0xda, 0xc5):
        n = struct.unpack(">H", b[i + 1:i + 3])[0]
        s = b[i + 3:i + 3 + n]
        return (s.decode() if t == 0xda else bytes(s)), i + 3 + n
    if t in (0xc2, 0xc3):
        return t == 0xc3, i + 1
    if t == 0xc0:
        return None, i + 1
    sizes = {0xcc: ">B", 0xcd: ">H", 0xce: ">I", 0xcf: ">Q",
             0xd0: ">b", 0xd1: ">h", 0xd2: ">i", 0xd3: ">q"}
    if t in sizes:
        f = sizes[t]
        n = struct.calcsize(f)
        return struct.unpack(f, b[i + 1:i + 1 + n])[0], i + 1 + n
    if t >= 0xe0:
        return t - 256, i + 1
    raise ValueError("msgpack type 0x%02x" % t)


def _frame(verb, kind, mid, payload):
    body = _pack({"v": verb, "i": mid, "d": 0, "k": kind, "p": payload})
    return struct.pack(">I", 1 + len(body)) + b"\x00" + body


class _Conn(object):
    """One attacker connection from `src` to a node's storage port."""

    def __init__(self, src, node, port):
        self.s = socket.socket()
        self.s.bind((src, 0))
        self.s.settimeout(10)
        self.s.connect((node.host, port))
        self.buf = b""
        self.raw = b""          # every byte the node sent us

    def send(self, verb, mid, payload):
        self.s.sendall(_frame(verb, KIND_REQUEST, mid, payload))

    def read_frame(self):
        """The next frame's envelope as a dict, None when the node closed."""
        while True:
            if len(self.buf) >= 4:
                n = struct.unpack(">I", self.buf[:4])[0]
                if len(self.buf) >= 4 + n:
                    fr, self.buf = self.buf[:4 + n], self.buf[4 + n:]
                    assert fr[4] == 0, "compressed handshake answer"
                    return _unpack(fr, 5)[0]
            try:
                b = self.s.recv(65536)
            except ConnectionResetError:
                return None
            if not b:
                return None
            self.buf += b
            self.raw += b

    def closed_by_node(self):
        """True when the node closes the connection (reads until EOF)."""
        try:
            while True:
                b = self.s.recv(65536)
                if not b:
                    return True
                self.raw += b
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False

    def close(self):
        self.s.close()


class InternodeAuthTest(_ReplicatedCluster):
    CLUSTER = "integ-auth-4711"

    def rows_on(self, i):
        return self.session(i).execute(SimpleStatement(
            "SELECT count(*) FROM rf3.t", consistency_level=ConsistencyLevel.ONE)).one()[0]

    def test_truncate_injection_fails(self):
        s0 = self.session(0)
        s0.execute(SimpleStatement("DELETE FROM rf3.t WHERE k = -1",   # the harness's probe
                                   consistency_level=ConsistencyLevel.ALL))
        for k in range(ROWS):
            s0.execute(SimpleStatement("INSERT INTO rf3.t (k, v) VALUES (%s, 'x')",
                                       consistency_level=ConsistencyLevel.ALL), (k,))
        for i in range(3):
            self.assertEqual(self.rows_on(i), ROWS)

        # the attacker: another loopback address, no secret
        used = {n.host for n in self.nodes}
        src = harness._pick_host()
        while src in used:
            src = harness._pick_host()
        name = self.CLUSTER
        answers = []

        def hello(proto, cluster=name):
            h = {"c": cluster, "pv": proto, "h": os.urandom(16), "a": src, "o": 7000}
            if proto == 1:
                h.update({"ok": True, "why": ""})
            else:
                h["n"] = os.urandom(32)
            return _pack(h)

        for n in self.nodes:
            # 1. the script: old handshake, right name, TRUNCATE
            c = _Conn(src, n, self.sp)
            c.send(VERB_HANDSHAKE, 0, hello(1))
            env = c.read_frame()
            if env is not None:
                answers.append(_unpack(env["p"])[0])
            try:
                c.send(VERB_TRUNCATE, 1, b"rf3.t")
            except OSError:
                pass                                # already closed
            self.assertTrue(c.closed_by_node(), "node %s kept the old-protocol peer" % n.host)
            raw = [c.raw]
            c.close()
            # 2. new handshake, right name, TRUNCATE without the proof
            c = _Conn(src, n, self.sp)
            c.send(VERB_HANDSHAKE, 0, hello(2))
            env = c.read_frame()
            self.assertIsNotNone(env, "no challenge from %s" % n.host)
            ch = _unpack(env["p"])[0]
            self.assertTrue(ch["ok"])
            self.assertEqual(len(ch["n"]), 32)      # the node's nonce
            self.assertEqual(len(ch["pf"]), 32)     # and its own proof
            self.assertNotIn("c", ch)               # never our name
            try:
                c.send(VERB_TRUNCATE, 1, b"rf3.t")
            except OSError:
                pass
            self.assertTrue(c.closed_by_node(), "node %s took a verb before the proof" % n.host)
            raw.append(c.raw)
            c.close()
            # 3. new handshake, a made-up proof, TRUNCATE
            c = _Conn(src, n, self.sp)
            c.send(VERB_HANDSHAKE, 0, hello(2))
            self.assertIsNotNone(c.read_frame())
            c.send(VERB_HANDSHAKE, 1, _pack({"pf": os.urandom(32)}))
            env = c.read_frame()
            verdict = _unpack(env["p"])[0] if env else {"ok": False}
            answers.append(verdict)
            self.assertFalse(verdict["ok"])
            try:
                c.send(VERB_TRUNCATE, 2, b"rf3.t")
            except OSError:
                pass                                # already closed
            self.assertTrue(c.closed_by_node())
            raw.append(c.raw)
            c.close()
            # 4. TRUNCATE as the first frame
            c = _Conn(src, n, self.sp)
            c.send(VERB_TRUNCATE, 1, b"rf3.t")
            self.assertTrue(c.closed_by_node())
            raw.append(c.raw)
            c.close()
            # 5. a guessed cluster name
            c = _Conn(src, n, self.sp)
            c.send(VERB_HANDSHAKE, 0, hello(2, cluster="Test Cluster"))
            env = c.read_frame()
            self.assertIsNotNone(env)
            ans = _unpack(env["p"])[0]
            answers.append(ans)
            self.assertFalse(ans["ok"])
            self.assertTrue(c.closed_by_node())
            raw.append(c.raw)
            c.close()
            for r in raw:
                self.assertNotIn(name.encode(), r, "an answer of %s names the cluster" % n.host)

        # every node logged the refusals, with the attacker's address
        for n in self.nodes:
            _wait(lambda n=n: n.log().count("refused internode connection from %s:" % src) >= 5,
                  20, "5 refusals from %s logged by %s" % (src, n.host))
            self.assertIn("wrong cluster secret", n.log())
        for a in answers:
            self.assertNotIn(name, repr(a))

        # nothing was truncated, and the cluster itself still works
        for i in range(3):
            self.assertEqual(self.rows_on(i), ROWS, "node %d lost rows" % i)
        s0.execute(SimpleStatement("INSERT INTO rf3.t (k, v) VALUES (%s, 'after')",
                                   consistency_level=ConsistencyLevel.ALL), (ROWS,))
        for i in range(3):
            self.assertEqual(self.local_value(i, ROWS), "after")


if __name__ == "__main__":
    harness.main()
