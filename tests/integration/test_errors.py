"""
test_errors.py - the exception classes a python-driver user gets, and the
node's robustness against bad bytes on a raw socket.

Error classes: SyntaxException (message names line:column and the
token), InvalidRequest (unknown column, missing keyspace), AlreadyExists,
Unprepared (PreparedQueryNotFound, through the driver's own connection).

Robustness: garbage, a v5 header, a truncated frame, an oversized length
and a malformed body each get a PROTOCOL_ERROR frame or a closed
connection; the node keeps serving the driver afterwards.
"""
import re
import socket
import struct

import harness

from cassandra import AlreadyExists, ConsistencyLevel, InvalidRequest
from cassandra.protocol import (ExecuteMessage, PreparedQueryNotFound, QueryMessage,
                                SyntaxException)

ERROR, READY, STARTUP, OPTIONS, QUERY = 0x00, 0x02, 0x01, 0x05, 0x07
PROTOCOL_ERROR = 0x000A


def frame(opcode, body, version=4, stream=1, flags=0):
    return struct.pack(">BBhBi", version, flags, stream, opcode, len(body)) + body


def string_map(d):
    out = struct.pack(">H", len(d))
    for k, v in d.items():
        for s in (k, v):
            b = s.encode()
            out += struct.pack(">H", len(b)) + b
    return out


def long_string(s):
    b = s.encode()
    return struct.pack(">i", len(b)) + b


class RawConn(object):
    """A bare TCP connection speaking frames by hand."""

    def __init__(self, node):
        self.s = socket.create_connection((node.host, node.port), 5)
        self.s.settimeout(10)

    def send(self, data):
        self.s.sendall(data)

    def recv_exact(self, n):
        buf = b""
        while len(buf) < n:
            try:
                chunk = self.s.recv(n - len(buf))
            except ConnectionResetError:
                return None
            if not chunk:
                return None
            buf += chunk
        return buf

    def read_frame(self):
        """(version, stream, opcode, body) or None when the node closed."""
        h = self.recv_exact(9)
        if h is None:
            return None
        version, flags, stream, opcode, length = struct.unpack(">BBhBi", h)
        body = self.recv_exact(length) if length else b""
        if body is None:
            return None
        return version, stream, opcode, body

    def closed(self):
        """True when the node closed the connection (EOF/reset)."""
        try:
            return self.s.recv(1) == b""
        except (ConnectionResetError, socket.timeout):
            return False

    def close(self):
        self.s.close()


def error_of(body):
    code = struct.unpack(">i", body[:4])[0]
    n = struct.unpack(">H", body[4:6])[0]
    return code, body[6:6 + n].decode("utf-8", "replace")


class ErrorsTest(harness.NodeTestCase):

    @classmethod
    def setUpClass(cls):
        super(ErrorsTest, cls).setUpClass()
        cls.session.execute("CREATE TABLE t (k int PRIMARY KEY, v text)")
        cls.session.execute("INSERT INTO t (k, v) VALUES (1, 'one')")

    def still_serves(self):
        self.assertEqual(self.session.execute("SELECT v FROM t WHERE k = 1").one().v, "one")
        self.assertTrue(self.node.alive())

    # ------------------------------------------------------------ classes
    def test_syntax_error(self):
        with self.assertRaises(SyntaxException) as cm:
            self.session.execute("SELEC * FROM t")
        msg = str(cm.exception)
        self.assertRegex(msg, r"line 1:0\b")
        self.assertIn("SELEC", msg)
        with self.assertRaises(SyntaxException) as cm:
            self.session.execute("SELECT *\nFROM t\nWHERE k = = 1")
        msg = str(cm.exception)
        self.assertRegex(msg, r"line 3:\d+")
        col = int(re.search(r"line 3:(\d+)", msg).group(1))
        self.assertEqual(col, 10)  # the second '='
        self.assertIn("=", msg)
        with self.assertRaises(SyntaxException) as cm:
            self.session.prepare("INSERT INTO t (k, v) VALUES (?, ?")
        self.assertIn("<EOF>", str(cm.exception))
        with self.assertRaises(SyntaxException) as cm:
            self.session.execute("SELECT * FROM t WHERE v = 'unterminated")
        self.assertRegex(str(cm.exception), r"line 1:\d+")
        self.still_serves()

    def test_invalid_request(self):
        s = self.session
        with self.assertRaises(InvalidRequest) as cm:
            s.execute("SELECT nope FROM t")
        self.assertIn("nope", str(cm.exception))
        with self.assertRaises(InvalidRequest) as cm:
            s.execute("INSERT INTO t (k, nope) VALUES (1, 2)")
        self.assertIn("nope", str(cm.exception))
        with self.assertRaises(InvalidRequest):
            s.execute("INSERT INTO t (k, v) VALUES ('text', 'v')")  # type mismatch
        with self.assertRaises(InvalidRequest):
            s.execute("SELECT * FROM t WHERE v = 'x'")              # needs filtering
        with self.assertRaises(InvalidRequest):
            s.execute("UPDATE t SET v = 'x' WHERE v = 'y'")          # no key
        with self.assertRaises(InvalidRequest) as cm:
            s.execute("SELECT * FROM missing_table")
        self.assertIn("missing_table", str(cm.exception))
        with self.assertRaises(InvalidRequest):
            s.prepare("SELECT nope FROM t WHERE k = ?")
        self.still_serves()

    def test_missing_keyspace(self):
        with self.assertRaises(InvalidRequest) as cm:
            self.session.execute("SELECT * FROM nokeyspace.t")
        self.assertRegex(str(cm.exception), r"Keyspace '?nokeyspace'? does not exist")
        with self.assertRaises(InvalidRequest) as cm:
            self.session.execute("CREATE TABLE nokeyspace.t (k int PRIMARY KEY)")
        self.assertIn("nokeyspace", str(cm.exception))
        with self.assertRaises(InvalidRequest) as cm:
            self.session.execute("USE nokeyspace")
        self.assertRegex(str(cm.exception), r"Keyspace '?nokeyspace'? does not exist")
        # a session without keyspace and an unqualified table
        s2 = self.cluster.connect()
        try:
            with self.assertRaises(InvalidRequest) as cm:
                s2.execute("SELECT * FROM t")
            self.assertIn("No keyspace has been specified", str(cm.exception))
        finally:
            s2.shutdown()

    def test_already_exists(self):
        with self.assertRaises(AlreadyExists) as cm:
            self.session.execute("CREATE TABLE t (k int PRIMARY KEY)")
        self.assertEqual((cm.exception.keyspace, cm.exception.table), ("ks", "t"))
        with self.assertRaises(AlreadyExists) as cm:
            self.session.execute("CREATE KEYSPACE ks WITH replication = "
                                 "{'class': 'SimpleStrategy', 'replication_factor': 1}")
        self.assertEqual(cm.exception.keyspace, "ks")

    def test_unprepared_id(self):
        """An EXECUTE of an id the node never prepared, sent on one of the
        driver's own connections, gives Unprepared carrying that id."""
        host = list(self.cluster.metadata.all_hosts())[0]
        pool = self.session._pools[host]
        conn, _ = pool.borrow_connection(timeout=5)
        try:
            bogus = b"\x13" * 16
            msg = ExecuteMessage(query_id=bogus, query_params=[],
                                 consistency_level=ConsistencyLevel.ONE)
            # fail_on_error=False: with True the driver defuncts the
            # connection after any error
            ok, resp = conn.wait_for_response(msg, timeout=10, fail_on_error=False)
            self.assertFalse(ok)
            self.assertIsInstance(resp, PreparedQueryNotFound)
            self.assertEqual(resp.info, bogus)
            # the same connection still answers
            ok, rs = conn.wait_for_response(QueryMessage("SELECT v FROM ks.t WHERE k = 1",
                                                         ConsistencyLevel.ONE),
                                            timeout=10, fail_on_error=False)
            self.assertTrue(ok, rs)
            self.assertEqual(rs.parsed_rows[0][0], "one")
        finally:
            pool.return_connection(conn)
        self.still_serves()

    # ------------------------------------------------------------ robustness
    def _expect_protocol_error_or_close(self, c):
        f = c.read_frame()
        if f is None:
            return "closed"
        version, stream, opcode, body = f
        self.assertEqual(opcode, ERROR)
        code, msg = error_of(body)
        self.assertEqual(code, PROTOCOL_ERROR, msg)
        return msg

    def test_raw_garbage(self):
        c = RawConn(self.node)
        try:
            c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" + bytes(range(256)))
            self._expect_protocol_error_or_close(c)
        finally:
            c.close()
        self.still_serves()

    def test_raw_v5_header(self):
        c = RawConn(self.node)
        try:
            c.send(frame(STARTUP, string_map({"CQL_VERSION": "3.0.0"}), version=5))
            msg = self._expect_protocol_error_or_close(c)
            self.assertNotEqual(msg, "closed", "v5 must be answered so drivers fall back")
            self.assertIn("protocol version", msg.lower())
        finally:
            c.close()
        # the driver negotiating on its own settles on v4
        from cassandra.cluster import Cluster
        cl = Cluster([self.node.host], port=self.node.port)
        try:
            s = cl.connect()
            self.assertEqual(cl.protocol_version, 4)
            self.assertEqual(s.execute("SELECT v FROM ks.t WHERE k = 1").one().v, "one")
        finally:
            cl.shutdown()
        self.still_serves()

    def test_raw_truncated_frame(self):
        c = RawConn(self.node)
        try:
            c.send(frame(STARTUP, string_map({"CQL_VERSION": "3.0.0"})))
            f = c.read_frame()
            self.assertEqual(f[2], READY)
            body = long_string("SELECT v FROM ks.t WHERE k = 1") + struct.pack(">HB", 1, 0)
            full = frame(QUERY, body, stream=7)
            c.send(full[:len(full) - 5])
            c.s.shutdown(socket.SHUT_WR)
            # no answer for the half frame: EOF (or a protocol error)
            self._expect_protocol_error_or_close(c)
        finally:
            c.close()
        # a header cut short
        c = RawConn(self.node)
        try:
            c.send(b"\x04\x00\x00")
            c.s.shutdown(socket.SHUT_WR)
            self.assertIsNone(c.read_frame())
        finally:
            c.close()
        self.still_serves()

    def test_raw_bad_frames(self):
        # valid startup, then a QUERY whose [long string] runs past the body
        c = RawConn(self.node)
        try:
            c.send(frame(STARTUP, string_map({"CQL_VERSION": "3.0.0"})))
            self.assertEqual(c.read_frame()[2], READY)
            c.send(frame(QUERY, struct.pack(">i", 1000) + b"SELECT", stream=3))
            self._expect_protocol_error_or_close(c)
        finally:
            c.close()
        # a length over the frame size limit (16 MiB default)
        c = RawConn(self.node)
        try:
            c.send(struct.pack(">BBhBi", 4, 0, 1, OPTIONS, 256 << 20))
            self._expect_protocol_error_or_close(c)
        finally:
            c.close()
        # an unknown opcode and a request before STARTUP
        c = RawConn(self.node)
        try:
            c.send(frame(0x7F, b"", stream=2))
            self._expect_protocol_error_or_close(c)
        finally:
            c.close()
        c = RawConn(self.node)
        try:
            c.send(frame(QUERY, long_string("SELECT * FROM ks.t") + struct.pack(">HB", 1, 0)))
            f = c.read_frame()
            if f is not None:
                self.assertEqual(f[2], ERROR)
        finally:
            c.close()
        # a response-direction frame (version byte 0x84) from the client
        c = RawConn(self.node)
        try:
            c.send(frame(OPTIONS, b"", version=0x84))
            self._expect_protocol_error_or_close(c)
        finally:
            c.close()
        # many connections opened and dropped mid-frame
        for i in range(50):
            c = RawConn(self.node)
            c.send(frame(QUERY, b"\x00\x00\x01\x00" + b"x" * i)[:9 + i // 2])
            c.close()
        self.still_serves()

    def test_raw_options_supported(self):
        c = RawConn(self.node)
        try:
            c.send(frame(OPTIONS, b"", stream=9))
            version, stream, opcode, body = c.read_frame()
            self.assertEqual((version, stream, opcode), (0x84, 9, 0x06))  # SUPPORTED
            self.assertIn(b"CQL_VERSION", body)
            self.assertIn(b"lz4", body)
        finally:
            c.close()

    def test_lz4_compression(self):
        from cassandra.cluster import Cluster
        cl = Cluster([self.node.host], port=self.node.port, protocol_version=4,
                     compression="lz4")
        try:
            s = cl.connect("ks")
            s.execute("INSERT INTO t (k, v) VALUES (2, %s)", ["z" * 100000])
            self.assertEqual(s.execute("SELECT v FROM t WHERE k = 2").one().v, "z" * 100000)
        finally:
            cl.shutdown()


if __name__ == "__main__":
    harness.main()
