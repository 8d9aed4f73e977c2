"""
test_disk_full.py - a real basaltd whose data directory fills up (issue 19,
finding 4: the connection was closed instead of an error; writes kept
failing after space was freed until a restart).

The test mounts its own 256 MiB tmpfs (we run as root; always unmounted
in tearDown, also on failure), starts a node with its data there, fills
the rest of the tmpfs with a file of its own leaving 20 MiB, and writes
8 KB rows over one raw CQL connection until a write fails.  Then:
- the failure is an ERROR frame (ServerError naming the storage failure,
  "No space left on device"), and the connection stays open;
- reads work, and every acknowledged row reads back;
- after the filler is removed, writes succeed again without a restart
  (RocksDB's own recovery; the test retries for up to 60 s, a bound, not
  an assertion on time) and the acknowledged rows are still there.
"""
import os
import socket
import struct
import subprocess
import tempfile
import time
import unittest

import harness
from harness import Node
from test_limits import (frame, startup_body, query_body, read_frame, error_of,
                         OP_STARTUP, OP_READY, OP_QUERY, OP_RESULT, OP_ERROR)

ERR_SERVER = 0x0000


class DiskFullTest(unittest.TestCase):
    def setUp(self):
        self.mnt = tempfile.mkdtemp(prefix="basalt-integ-%d-tmpfs-" % os.getpid())
        subprocess.check_call(["mount", "-t", "tmpfs", "-o", "size=512m", "tmpfs", self.mnt])
        self.node = None
        self.sock = None

    def tearDown(self):
        if self.sock:
            self.sock.close()
        if self.node:
            self.node.cleanup()
        subprocess.call(["umount", self.mnt])
        os.rmdir(self.mnt)

    def q(self, text, stream=2):
        self.sock.sendall(frame(stream, OP_QUERY, query_body(text)))
        st, op, body = read_frame(self.sock)
        self.assertEqual(st, stream)
        return op, body

    def test_writes_fail_cleanly_and_resume(self):
        self.node = Node(data_dir=os.path.join(self.mnt, "data"),
                         extra={"min-free-space": "64MiB"}).start()
        self.sock = socket.create_connection((self.node.host, self.node.port), 10)
        self.sock.settimeout(60)
        self.sock.sendall(frame(1, OP_STARTUP, startup_body()))
        self.assertEqual(read_frame(self.sock)[1], OP_READY)
        op, body = self.q("CREATE KEYSPACE k WITH replication = "
                          "{'class': 'SimpleStrategy', 'replication_factor': 1}")
        self.assertEqual(op, OP_RESULT, body)
        op, body = self.q("CREATE TABLE k.t (k int PRIMARY KEY, v text)")
        self.assertEqual(op, OP_RESULT, body)
        st = os.statvfs(self.mnt)
        filler = os.path.join(self.mnt, "filler")
        with open(filler, "wb") as f:
            f.write(b"\0" * (st.f_bavail * st.f_frsize - 84 * 2 ** 20))
        v = "x" * 8000
        acked = []
        err = None
        for i in range(20000):
            op, body = self.q("INSERT INTO k.t (k, v) VALUES (%d, '%s')" % (i, v))
            if op != OP_RESULT:
                self.assertEqual(op, OP_ERROR)
                err = error_of(body)
                break
            acked.append(i)
        self.assertIsNotNone(err, "20,000 rows of 8 KB fitted in 20 MiB?")
        print("%d rows acknowledged; then %r" % (len(acked), err))
        self.assertEqual(err[0], ERR_SERVER, err)
        self.assertIn("cannot write to its storage", err[1])
        self.assertIn("No space left on device", err[1])
        # the connection is open and reads work
        for k in (acked[0], acked[len(acked) // 2], acked[-1]):
            op, body = self.q("SELECT k FROM k.t WHERE k = %d" % k)
            self.assertEqual(op, OP_RESULT, body)
            self.assertEqual(body[-8:], struct.pack(">ii", 4, k))  # the row, its int key
        os.unlink(filler)
        resumed = False
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            op, body = self.q("INSERT INTO k.t (k, v) VALUES (100000, 'after')")
            if op == OP_RESULT:
                resumed = True
                break
            self.assertEqual(error_of(body)[0], ERR_SERVER)
            time.sleep(0.5)
        if not resumed:
            print(self.node.log_tail(8))
            subprocess.call("grep -iE \"error|recover|resum|space\" %s/data/data/LOG | tail -20" % self.mnt, shell=True)
        self.assertTrue(resumed, "writes did not resume after space was freed")
        self.assertTrue(self.node.alive())
        op, body = self.q("SELECT count(*) FROM k.t")
        self.assertEqual(op, OP_RESULT, body)
        count = int.from_bytes(body[-8:], "big")
        # every acknowledged row, the row written after recovery, and maybe
        # the failed one (a failed WAL flush leaves it in the memtable:
        # "may not have been applied")
        self.assertIn(count, (len(acked) + 1, len(acked) + 2))
        for k in acked[::97] + [acked[-1]]:
            op, body = self.q("SELECT k FROM k.t WHERE k = %d" % k)
            self.assertEqual(body[-8:], struct.pack(">ii", 4, k))


if __name__ == "__main__":
    harness.main()
