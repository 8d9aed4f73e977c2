"""
test_prepared_meta.py - result metadata of prepared statements.

PREPARED carries the result metadata of a SELECT, and drivers (python,
gocql, Java 4.x) then EXECUTE with skip_metadata and decode the rows with
what PREPARE told them.  When the table changes in between, the server
must not let them decode with stale columns: it answers UNPREPARED, the
driver prepares again and gets the new columns.

  * raw v4 frames: PREPARED lists the SELECT's columns (none for an
    INSERT); EXECUTE with skip_metadata gets Rows flagged NO_METADATA
    (column count kept), without it full metadata; after an ALTER the
    skip_metadata EXECUTE is UNPREPARED (0x2500) with the id, the
    re-PREPARE gives the same id and the new columns, and EXECUTE works
    again;
  * the python driver (which never sets skip_metadata, so this checks
    that every Rows result without it carries the current columns and
    that the driver is not handed stale ones): a prepared SELECT *
    returns the new column after
    ALTER TABLE ADD, loses it after DROP, and follows a DROP TABLE +
    CREATE TABLE with other columns; a prepared SELECT of named columns
    keeps working across an unrelated ALTER.
"""
import socket
import struct

import harness


def strmap(d):
    b = struct.pack(">H", len(d))
    for k, v in d.items():
        b += struct.pack(">H", len(k)) + k.encode() + struct.pack(">H", len(v)) + v.encode()
    return b


class Raw(object):
    def __init__(self, node):
        self.sock = socket.create_connection((node.host, node.port), 10)
        self.send(0x01, strmap({"CQL_VERSION": "3.0.0"}))
        assert self.read()[0] == 0x02

    def close(self):
        self.sock.close()

    def send(self, op, body, stream=1):
        self.sock.sendall(struct.pack(">BBhBi", 4, 0, stream, op, len(body)) + body)

    def _exact(self, n):
        b = b""
        while len(b) < n:
            c = self.sock.recv(n - len(b))
            if not c:
                raise EOFError("closed")
            b += c
        return b

    def read(self):
        ver, flags, stream, op, ln = struct.unpack(">BBhBi", self._exact(9))
        assert ver == 0x84 and flags == 0, (ver, flags)
        return op, self._exact(ln)

    def prepare(self, q):
        self.send(0x09, struct.pack(">i", len(q)) + q.encode())
        op, body = self.read()
        assert op == 0x08, body
        kind, idlen = struct.unpack(">iH", body[:6])
        assert kind == 4
        pid = body[6:6 + idlen]
        rd = Reader(body, 6 + idlen)
        flags, ncols, npk = rd.int(), rd.int(), rd.int()
        for _ in range(npk):
            rd.short()
        rd.colspecs(flags, ncols)          # bind markers
        rflags, rncols = rd.int(), rd.int()
        rd.colspecs(rflags, rncols)        # result columns
        return pid, rd.meta()

    def execute(self, pid, values, skip):
        body = struct.pack(">H", len(pid)) + pid + struct.pack(">HB", 1, 0x01 | (0x02 if skip else 0))
        body += struct.pack(">H", len(values))
        for v in values:
            body += struct.pack(">ii", 4, v)
        self.send(0x0A, body)
        op, body = self.read()
        if op == 0x00:
            code, = struct.unpack(">i", body[:4])
            n, = struct.unpack(">H", body[4:6])
            rest = body[6 + n:]
            idn, = struct.unpack(">H", rest[:2])
            return ("error", code, rest[2:2 + idn])
        assert struct.unpack(">i", body[:4])[0] == 2
        rd = Reader(body, 4)
        flags, ncols = rd.int(), rd.int()
        names = rd.colspecs(flags, ncols)
        nrows = rd.int()
        rows = [[rd.bytes() for _ in range(ncols)] for _ in range(nrows)]
        return ("rows", flags, ncols, names, rows)


class Reader(object):
    def __init__(self, b, at):
        self.b, self.at, self.names = b, at, []

    def int(self):
        v, = struct.unpack(">i", self.b[self.at:self.at + 4])
        self.at += 4
        return v

    def short(self):
        v, = struct.unpack(">H", self.b[self.at:self.at + 2])
        self.at += 2
        return v

    def string(self):
        n = self.short()
        s = self.b[self.at:self.at + n].decode()
        self.at += n
        return s

    def bytes(self):
        n = self.int()
        if n < 0:
            return None
        v = self.b[self.at:self.at + n]
        self.at += n
        return v

    def option(self):
        t = self.short()
        if t == 0:
            return self.string()
        if t in (0x20, 0x22):
            return (t, self.option())
        if t == 0x21:
            return (t, self.option(), self.option())
        assert t < 0x20, t
        return t

    def colspecs(self, flags, ncols):
        self.names = []
        if flags & 0x0002:
            self.bytes()  # paging state
        if flags & 0x0004:
            return None
        if flags & 0x0001:
            self.string()
            self.string()
        for _ in range(ncols):
            if not flags & 0x0001:
                self.string()
                self.string()
            self.names.append((self.string(), self.option()))
        return self.names

    def meta(self):
        return list(self.names)


class PreparedMetaTest(harness.NodeTestCase):
    keyspace = "pm"

    def raw(self):
        r = Raw(self.node)
        self.addCleanup(r.close)
        return r

    def test_01_raw_skip_metadata_and_unprepared(self):
        s = self.session
        s.execute("CREATE TABLE r1 (k int PRIMARY KEY, a int, b text)")
        s.execute("INSERT INTO r1 (k, a, b) VALUES (1, 10, 'x')")
        r = self.raw()
        _, ins_meta = r.prepare("INSERT INTO pm.r1 (k, a) VALUES (?, ?)")
        self.assertEqual(ins_meta, [])
        pid, meta = r.prepare("SELECT * FROM pm.r1 WHERE k = ?")
        self.assertEqual(meta, [("k", 0x09), ("a", 0x09), ("b", 0x0D)])
        res = r.execute(pid, [1], skip=True)
        self.assertEqual(res[0], "rows")
        self.assertTrue(res[1] & 0x0004, "NO_METADATA flag")
        self.assertEqual(res[2], 3)
        self.assertIsNone(res[3])
        self.assertEqual(res[4], [[struct.pack(">i", 1), struct.pack(">i", 10), b"x"]])
        res = r.execute(pid, [1], skip=False)
        self.assertFalse(res[1] & 0x0004)
        self.assertEqual([n for n, _ in res[3]], ["k", "a", "b"])
        # the table changes: skipping metadata would decode stale columns
        s.execute("ALTER TABLE r1 ADD c bigint")
        res = r.execute(pid, [1], skip=True)
        self.assertEqual(res, ("error", 0x2500, pid))
        # without skip_metadata the rows carry the fresh columns anyway
        res = r.execute(pid, [1], skip=False)
        self.assertEqual([n for n, _ in res[3]], ["k", "a", "b", "c"])
        # re-PREPARE: same id, new columns; skipping works again
        pid2, meta2 = r.prepare("SELECT * FROM pm.r1 WHERE k = ?")
        self.assertEqual(pid2, pid)
        self.assertEqual(meta2[-1], ("c", 0x02))
        res = r.execute(pid, [1], skip=True)
        self.assertEqual((res[0], res[2]), ("rows", 4))
        self.assertEqual(res[4][0][3], None)

    def test_02_driver_alter_add_and_drop(self):
        s = self.session
        s.execute("CREATE TABLE d1 (k int PRIMARY KEY, a int)")
        s.execute("INSERT INTO d1 (k, a) VALUES (1, 10)")
        sel = s.prepare("SELECT * FROM d1 WHERE k = ?")
        self.assertEqual(s.execute(sel, [1]).one()._asdict(), {"k": 1, "a": 10})
        s.execute("ALTER TABLE d1 ADD c text")
        s.execute("UPDATE d1 SET c = 'new' WHERE k = 1")
        row = s.execute(sel, [1]).one()
        self.assertEqual(row._asdict(), {"k": 1, "a": 10, "c": "new"})
        s.execute("ALTER TABLE d1 DROP a")
        self.assertEqual(s.execute(sel, [1]).one()._asdict(), {"k": 1, "c": "new"})

    def test_03_driver_drop_and_recreate(self):
        s = self.session
        s.execute("CREATE TABLE d2 (k int PRIMARY KEY, a int)")
        s.execute("INSERT INTO d2 (k, a) VALUES (1, 10)")
        sel = s.prepare("SELECT * FROM d2 WHERE k = ?")
        self.assertEqual(s.execute(sel, [1]).one().a, 10)
        s.execute("DROP TABLE d2")
        s.execute("CREATE TABLE d2 (k int PRIMARY KEY, z text, y double)")
        s.execute("INSERT INTO d2 (k, z, y) VALUES (1, 'zz', 2.5)")
        self.assertEqual(s.execute(sel, [1]).one()._asdict(),
                         {"k": 1, "y": 2.5, "z": "zz"})

    def test_04_named_columns_survive_unrelated_alter(self):
        s = self.session
        s.execute("CREATE TABLE d3 (k int PRIMARY KEY, a int)")
        s.execute("INSERT INTO d3 (k, a) VALUES (1, 10)")
        sel = s.prepare("SELECT a FROM d3 WHERE k = ?")
        s.execute("ALTER TABLE d3 ADD other int")
        self.assertEqual(list(s.execute(sel, [1])), [(10,)])
        self.assertEqual([m[2] for m in sel.result_metadata], ["a"])


if __name__ == "__main__":
    harness.main()
