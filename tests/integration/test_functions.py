"""
test_functions.py - Cassandra 4.0's native scalar functions in the
selection, functions beside aggregates and GROUP BY (issue 23, findings
4-6), through Debian's unmodified python3-cassandra driver: the values
arrive decoded by the driver (datetime, date, int, bytes), so each is
checked against an independently computed expectation.  Literal
arguments (blobAsText(0x6869), (timestamp)'...' type hints) too.

  fn (k int, tu timeuuid, ts timestamp, d date, b blob, t text, i int,
      dbl double, bi bigint): one row;
  g  (k int, c1 int, c2 int, v int, PRIMARY KEY (k, c1, c2)):
      2 partitions x 2 x 3 rows, v = k*100 + c1*10 + c2.
"""
import datetime
import uuid

import harness

from cassandra import InvalidRequest
from cassandra.util import Date

TU = uuid.UUID("50554d6e-29bb-11e5-b345-feff819cdc9f")
TU_MS = (TU.time - 0x01B21DD213814000) // 10000          # 1436832018805
TS = datetime.datetime(2015, 7, 16, 0, 0, 0)
TS_MS = 1437004800000


class FunctionsTest(harness.NodeTestCase):

    @classmethod
    def setUpClass(cls):
        super(FunctionsTest, cls).setUpClass()
        s = cls.session
        s.execute("CREATE TABLE fn (k int PRIMARY KEY, tu timeuuid, ts timestamp, d date, "
                  "b blob, t text, i int, dbl double, bi bigint)")
        s.execute("INSERT INTO fn (k, tu, ts, d, b, t, i, dbl, bi) VALUES "
                  "(1, %s, %s, '2015-07-16', 0x68656c6c6f, 'hello', 42, 3.75, 1234567890123)",
                  (TU, TS))
        s.execute("CREATE TABLE g (k int, c1 int, c2 int, v int, PRIMARY KEY (k, c1, c2))")
        ins = s.prepare("INSERT INTO g (k, c1, c2, v) VALUES (?, ?, ?, ?)")
        for k in (1, 2):
            for c1 in (1, 2):
                for c2 in (1, 2, 3):
                    s.execute(ins, (k, c1, c2, k * 100 + c1 * 10 + c2))

    def one(self, q):
        return self.session.execute(q).one()

    def test_time_functions(self):
        r = self.one("SELECT toTimestamp(tu), dateOf(tu), toUnixTimestamp(tu), "
                     "unixTimestampOf(tu), toDate(tu), toDate(ts), toUnixTimestamp(ts), "
                     "toTimestamp(d), toUnixTimestamp(d) FROM fn WHERE k = 1")
        tu_dt = datetime.datetime(1970, 1, 1) + datetime.timedelta(milliseconds=TU_MS)
        self.assertEqual(r[0], tu_dt)
        self.assertEqual(r[1], tu_dt)
        self.assertEqual(r[2], TU_MS)
        self.assertEqual(r[3], TU_MS)
        self.assertEqual(r[4], Date(datetime.date(2015, 7, 14)))
        self.assertEqual(r[5], Date(datetime.date(2015, 7, 16)))
        self.assertEqual(r[6], TS_MS)
        self.assertEqual(r[7], TS)
        self.assertEqual(r[8], TS_MS)
        r = self.one("SELECT minTimeuuid(ts), maxTimeuuid(ts) FROM fn WHERE k = 1")
        for u in r:
            self.assertEqual(u.version, 1)
            self.assertEqual((u.time - 0x01B21DD213814000) // 10000, TS_MS)
        self.assertLess(r[0].time, r[1].time)

    def test_current_functions(self):
        before = datetime.datetime.utcnow() - datetime.timedelta(seconds=5)
        r = self.one("SELECT currentTimestamp(), currentDate(), currentTime(), "
                     "currentTimeUUID(), toTimestamp(now()), uuid() FROM fn WHERE k = 1")
        after = datetime.datetime.utcnow() + datetime.timedelta(seconds=5)
        self.assertTrue(before <= r[0] <= after, r[0])
        self.assertIn(r[1].date(), (before.date(), after.date()))
        self.assertEqual(r[3].version, 1)
        self.assertTrue(before <= r[4] <= after, r[4])
        self.assertEqual(r[5].version, 4)

    def test_blob_functions(self):
        r = self.one("SELECT blobAsText(b), textAsBlob(t), intAsBlob(i), bigintAsBlob(bi), "
                     "blobAsInt(intAsBlob(i)), doubleAsBlob(dbl), blobAsDouble(doubleAsBlob(dbl)) "
                     "FROM fn WHERE k = 1")
        self.assertEqual(r[0], "hello")
        self.assertEqual(r[1], b"hello")
        self.assertEqual(r[2], b"\x00\x00\x00\x2a")
        self.assertEqual(r[3], (1234567890123).to_bytes(8, "big"))
        self.assertEqual(r[4], 42)
        self.assertEqual(r[5], bytes.fromhex("400e000000000000"))
        self.assertEqual(r[6], 3.75)
        with self.assertRaises(InvalidRequest):
            self.one("SELECT blobAsInt(b) FROM fn WHERE k = 1")

    def test_literal_arguments(self):
        rs = self.session.execute(
            "SELECT blobAsText(0x6869), textAsBlob('hi'), intAsBlob(7), blobAsBigint(0x0000000000000100), "
            "unixTimestampOf(50554d6e-29bb-11e5-b345-feff819cdc9f), "
            "toUnixTimestamp(minTimeuuid('2015-07-16 00:00:00+0000')), "
            "toUnixTimestamp((timestamp)'2015-07-16 00:00:00+0000'), "
            "blobAsText(textAsBlob('round')) FROM fn WHERE k = 1")
        r = rs.one()
        self.assertEqual(list(r), ["hi", b"hi", b"\x00\x00\x00\x07", 256, TU_MS, TS_MS, TS_MS, "round"])
        self.assertEqual(rs.column_names[0], "system.blobastext(0x6869)")
        # one value per row, as for any selector
        self.assertEqual(len(list(self.session.execute("SELECT blobAsText(0x6869) FROM g"))), 12)
        # an overloaded function needs a type hint, a literal of the wrong type is refused
        with self.assertRaisesRegex(InvalidRequest, "Ambiguous call to function system.totimestamp"):
            self.one("SELECT toTimestamp('2015-07-16') FROM fn WHERE k = 1")
        with self.assertRaises(InvalidRequest):
            self.one("SELECT blobAsText('not a blob') FROM fn WHERE k = 1")
        with self.assertRaises(InvalidRequest):
            self.one("SELECT intAsBlob(3000000000) FROM fn WHERE k = 1")

    def test_cast(self):
        r = self.one("SELECT cast(i as text), cast(i as double), cast(dbl as int), "
                     "cast(bi as text), cast(tu as timestamp), cast(ts as date) "
                     "FROM fn WHERE k = 1")
        self.assertEqual(list(r[:4]), ["42", 42.0, 3, "1234567890123"])
        self.assertEqual(r[4], datetime.datetime(1970, 1, 1) + datetime.timedelta(milliseconds=TU_MS))
        self.assertEqual(r[5], Date(datetime.date(2015, 7, 16)))

    def test_function_beside_aggregate(self):
        self.assertEqual(tuple(self.one("SELECT CAST(k AS text), count(*) FROM g WHERE k = 1")),
                         ("1", 6))
        self.assertEqual(tuple(self.one("SELECT k, toUnixTimestamp(ts), count(*) FROM fn")),
                         (1, TS_MS, 1))

    def test_group_by(self):
        rows = [tuple(r) for r in self.session.execute(
            "SELECT k, count(*), min(v), max(v), sum(v) FROM g GROUP BY k")]
        self.assertEqual(rows, [(1, 6, 111, 123, 702), (2, 6, 211, 223, 1302)])
        rows = [tuple(r) for r in self.session.execute(
            "SELECT k, c1, count(*), avg(v) FROM g WHERE k = 2 GROUP BY k, c1")]
        self.assertEqual(rows, [(2, 1, 3, 212), (2, 2, 3, 222)])
        rows = [tuple(r) for r in self.session.execute(
            "SELECT k, c1, c2 FROM g GROUP BY k, c1 LIMIT 3")]
        self.assertEqual(rows, [(1, 1, 1), (1, 2, 1), (2, 1, 1)])
        with self.assertRaises(InvalidRequest):
            self.session.execute("SELECT count(*) FROM g GROUP BY c1")


if __name__ == "__main__":
    harness.main()
