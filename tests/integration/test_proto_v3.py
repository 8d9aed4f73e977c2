"""
test_proto_v3.py - native protocol v3 and version negotiation.

  * the python driver pinned to protocol v3 runs the whole type round
    trip of test_types.py (every type, nulls, prepared statements,
    routing; date/time/smallint/tinyint travel as v3 custom classes);
  * raw frames: v3 STARTUP/QUERY answered in v3 (0x83), a v3 PREPARED
    has no partition-key indices, an UNSET value or a custom payload in
    a v3 frame is a protocol error, a v4 frame on a v3 connection too;
  * v5, v6 and v2 get the PROTOCOL_ERROR "Invalid or unsupported protocol
    version (N); the lowest supported version is 3 and the greatest is 4"
    (v5/v6 in a v4 frame, which drivers then retry with; v2 in its own
    8-byte v2 header), and the python driver with no version pinned
    negotiates down to v4.
"""
import socket
import struct
import unittest

import harness
import test_types


class TypesV3Test(test_types.TypesTest):
    """test_types.TypesTest over protocol v3."""
    protocol_version = 3

    def test_08_prepared_bind_errors_and_unset(self):
        # v3 has no UNSET value: the driver refuses it before sending
        from cassandra.query import UNSET_VALUE
        s = self.session
        s.execute("CREATE TABLE pu (k int PRIMARY KEY, a int, b text)")
        ins = s.prepare("INSERT INTO pu (k, a, b) VALUES (?, ?, ?)")
        s.execute(ins, [1, 10, "ten"])
        with self.assertRaises(Exception):
            s.execute(ins, [1, UNSET_VALUE, "eleven"])
        self.assertEqual(s.execute("SELECT a, b FROM pu WHERE k = 1").one(),
                         (10, "ten"))

    def test_07_prepared_positional_named_routing(self):
        # v3 PREPARED has no partition-key indices: the driver finds the
        # key by matching marker names with the key columns, so only
        # markers named like them route (as against Cassandra in v3)
        s = self.session
        s.execute("CREATE TABLE pr (a int, b text, c int, v text, PRIMARY KEY ((a, b), c))")
        ins = s.prepare("INSERT INTO pr (a, b, c, v) VALUES (?, ?, ?, ?)")
        self.assertEqual(ins.routing_key_indexes, [0, 1])
        s.execute(ins, [1, "x", 1, "first"])
        ins2 = s.prepare("INSERT INTO pr (c, v, b, a) VALUES (:c, :v, :b, :a)")
        self.assertEqual(ins2.routing_key_indexes, [3, 2])
        s.execute(ins2, {"a": 1, "b": "x", "c": 3, "v": "third"})
        seln = s.prepare("SELECT v FROM pr WHERE b = :bb AND a = :aa AND c = :cc")
        self.assertIsNone(seln.routing_key_indexes)
        self.assertEqual(s.execute(seln, {"aa": 1, "bb": "x", "cc": 1}).one().v, "first")
        sel = s.prepare("SELECT c, v FROM pr WHERE a = ? AND b = ? AND c >= ?")
        self.assertEqual([m[2] for m in sel.result_metadata], ["c", "v"])
        self.assertEqual([(r.c, r.v) for r in s.execute(sel, [1, "x", 0])],
                         [(1, "first"), (3, "third")])

    def test_10_connection_is_v3(self):
        self.assertEqual(self.cluster.protocol_version, 3)
        # types that v3 lacks come back typed, not as blobs
        s = self.session
        s.execute("CREATE TABLE v3t (k int PRIMARY KEY, d date, t time, "
                  "s smallint, y tinyint, l list<frozen<set<smallint>>>)")
        s.execute("INSERT INTO v3t (k, d, t, s, y, l) VALUES (1, '2024-02-29', "
                  "'13:14:15.5', -3, 7, [{1, 2}])")
        for q in ("SELECT d, t, s, y, l FROM v3t WHERE k = 1",
                  s.prepare("SELECT d, t, s, y, l FROM v3t WHERE k = ?")):
            r = s.execute(q, [1] if not isinstance(q, str) else None).one()
            self.assertEqual(str(r.d), "2024-02-29")
            self.assertEqual(str(r.t), "13:14:15.500000000")
            self.assertEqual((r.s, r.y), (-3, 7))
            self.assertEqual([sorted(x) for x in r.l], [[1, 2]])


def strmap(d):
    b = struct.pack(">H", len(d))
    for k, v in d.items():
        b += struct.pack(">H", len(k)) + k.encode() + struct.pack(">H", len(v)) + v.encode()
    return b


def longstr(s):
    return struct.pack(">i", len(s)) + s.encode()


class Raw(object):
    def __init__(self, node):
        self.sock = socket.create_connection((node.host, node.port), 10)

    def close(self):
        self.sock.close()

    def send(self, version, op, body, stream=1, flags=0):
        self.sock.sendall(struct.pack(">BBhBi", version, flags, stream, op, len(body)) + body)

    def recv_exact(self, n):
        b = b""
        while len(b) < n:
            c = self.sock.recv(n - len(b))
            if not c:
                raise EOFError("connection closed after %d bytes" % len(b))
            b += c
        return b

    def read(self, header_len=9):
        h = self.recv_exact(header_len)
        if header_len == 8:
            ver, flags, stream, op, ln = struct.unpack(">BBbBi", h)
        else:
            ver, flags, stream, op, ln = struct.unpack(">BBhBi", h)
        return ver, op, self.recv_exact(ln)

    def startup(self, version):
        self.send(version, 0x01, strmap({"CQL_VERSION": "3.0.0"}))
        return self.read()


def error_of(body):
    code, = struct.unpack(">i", body[:4])
    n, = struct.unpack(">H", body[4:6])
    return code, body[6:6 + n].decode()


def query_body(q, values=None, flags=0):
    b = longstr(q) + struct.pack(">H", 0x0001)
    if values is not None:
        flags |= 0x01
        b += struct.pack(">B", flags) + struct.pack(">H", len(values))
        for v in values:
            b += struct.pack(">i", v) if isinstance(v, int) else struct.pack(">i", len(v)) + v
    else:
        b += struct.pack(">B", flags)
    return b


class RawV3Test(harness.NodeTestCase):
    keyspace = "rawks"

    @classmethod
    def setUpClass(cls):
        super(RawV3Test, cls).setUpClass()
        cls.session.execute("CREATE TABLE t (k int PRIMARY KEY, v int)")

    def raw(self):
        r = Raw(self.node)
        self.addCleanup(r.close)
        return r

    def test_01_v3_frames(self):
        r = self.raw()
        ver, op, _ = r.startup(3)
        self.assertEqual((ver, op), (0x83, 0x02))
        r.send(3, 0x07, query_body("SELECT release_version FROM system.local"))
        ver, op, body = r.read()
        self.assertEqual((ver, op), (0x83, 0x08))
        self.assertEqual(struct.unpack(">i", body[:4])[0], 2)  # Rows
        # PREPARED in v3: [short bytes] id, then flags, ncols and NO pk count
        q = "INSERT INTO rawks.t (k, v) VALUES (?, ?)"
        r.send(3, 0x09, longstr(q))
        ver, op, body = r.read()
        self.assertEqual((ver, op), (0x83, 0x08))
        kind, idlen = struct.unpack(">iH", body[:6])
        self.assertEqual(kind, 4)
        at = 6 + idlen
        flags, ncols = struct.unpack(">ii", body[at:at + 8])
        self.assertEqual((flags, ncols), (1, 2))  # global spec, 2 markers
        # next comes the global keyspace name, not a pk count
        ln, = struct.unpack(">H", body[at + 8:at + 10])
        self.assertEqual(body[at + 10:at + 10 + ln], b"rawks")

    def test_02_v3_unset_is_protocol_error(self):
        r = self.raw()
        r.startup(3)
        r.send(3, 0x07, query_body("INSERT INTO rawks.t (k, v) VALUES (1, ?)",
                                   values=[-2]))
        ver, op, body = r.read()
        self.assertEqual((ver, op), (0x83, 0x00))
        code, msg = error_of(body)
        self.assertEqual(code, 0x000A)
        self.assertIn("Unset values are not supported", msg)

    def test_03_v3_custom_payload_is_protocol_error(self):
        r = self.raw()
        r.startup(3)
        r.send(3, 0x07, struct.pack(">H", 0) + query_body("SELECT * FROM rawks.t"),
               flags=0x04)
        ver, op, body = r.read()
        self.assertEqual((ver, op), (0x83, 0x00))
        self.assertIn("CUSTOM_PAYLOAD", error_of(body)[1])

    def test_04_mixed_versions_on_one_connection(self):
        r = self.raw()
        r.startup(3)
        r.send(4, 0x07, query_body("SELECT * FROM rawks.t"))
        ver, op, body = r.read()
        self.assertEqual(op, 0x00)
        code, msg = error_of(body)
        self.assertEqual(code, 0x000A)
        self.assertIn("Invalid message version. Got 4 but previous messages on "
                      "this connection had version 3", msg)

    def test_05_unsupported_versions(self):
        for v in (5, 6, 0x41):
            r = self.raw()
            ver, op, body = r.startup(v)
            self.assertEqual((ver, op), (0x84, 0x00), "version %d" % v)
            code, msg = error_of(body)
            self.assertEqual(code, 0x000A)
            self.assertEqual(msg, "Invalid or unsupported protocol version (%d); the lowest "
                             "supported version is 3 and the greatest is 4" % v)
        # v2: answered in a v2 frame (8-byte header) the client can read
        r = self.raw()
        r.sock.sendall(struct.pack(">BBbBi", 2, 0, 1, 0x01, 2) + b"\x00\x00")
        ver, op, body = r.read(header_len=8)
        self.assertEqual((ver, op), (0x82, 0x00))
        self.assertIn("lowest supported version is 3", error_of(body)[1])

    def test_06_driver_negotiates_down(self):
        from cassandra.cluster import Cluster
        c = Cluster([self.node.host], port=self.node.port, connect_timeout=10)
        try:
            s = c.connect()
            self.assertEqual(c.protocol_version, 4)
            self.assertEqual(s.execute("SELECT key FROM system.local").one()[0], "local")
        finally:
            c.shutdown()


if __name__ == "__main__":
    harness.main()
