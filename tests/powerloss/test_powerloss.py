"""
test_powerloss.py - batch durability survives a power loss, not only a
process crash.

A SIGKILL keeps the OS page cache, so a node that never fsyncs still finds
its writes after a restart; only a power loss (or a kernel crash) shows
whether an acknowledged write was on disk.  This test simulates one:

  1. basaltd runs with commitlog_sync: batch under powerloss_preload.c
     (LD_PRELOAD), which journals the length of every file of the data
     directory at each fsync/fdatasync, directory fsyncs, creations and
     renames;
  2. clients write rows with random (incompressible) values, 64 in flight,
     and record every acknowledgement; the node is SIGKILLed while writes
     are still in flight;
  3. powerloss_cut.py cuts the data directory back to what the journal
     says was durable: every file truncated to its last synced length,
     files and renames whose directory was never fsynced undone;
  4. basaltd restarts on the cut directory (no preload) and every
     acknowledged row must be there with its value.

With -DBASALT_BREAK_BATCH_FSYNC=ON (batch mode without its fsync; a test
switch that shipped builds do not have) step 4 fails: the cut removes the
WAL records that were acknowledged but never synced.  The test also
asserts that the cut really removed unsynced bytes (the node's info log at
least), so a preload that journals nothing cannot make it pass.

A second test runs commitlog_sync: periodic (period 200 ms): after the
rows are acknowledged it waits until the journal shows the node's own
background sync covering the WAL's length at that moment, then kills,
cuts and checks that those rows survived - the periodic mode's promise,
with no sync called from outside (unlike the storage unit test).

Needs BS_POWERLOSS_LIB (set by ctest) or the library beside basaltd's
build tree; a missing library is a failure, not a skip.
"""
import json
import os
import random
import sys
import threading
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))

import harness  # noqa: E402
import powerloss_cut  # noqa: E402

ROWS = 3000          # acknowledged rows wanted before the kill
INFLIGHT = 64


def preload_lib():
    p = os.environ.get("BS_POWERLOSS_LIB")
    if not p and harness.BASALTD:
        build = os.path.dirname(os.path.dirname(os.path.abspath(harness.BASALTD)))
        p = os.path.join(build, "tests", "powerloss", "libbs_powerloss.so")
    return p


class PreloadNode(harness.Node):
    """A node whose basaltd runs under the power-loss preload."""
    preload = None

    def argv(self):
        a = harness.Node.argv(self)
        if not self.preload:
            return a
        return ["/usr/bin/env", "LD_PRELOAD=" + self.preload,
                "BS_POWERLOSS_ROOT=" + self.data_dir,
                "BS_POWERLOSS_JOURNAL=" + self.journal] + a


CHILD = r"""
import os, sys
root = sys.argv[1]
def put(name, data, sync):
    fd = os.open(os.path.join(root, name), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.write(fd, data)
    if sync:
        os.fsync(fd)
    return fd
def dsync():
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    os.fsync(fd)
    os.close(fd)
fd = put("a", b"0123456789", True)     # 10 bytes synced ...
os.write(fd, b"abcde")                 # ... 5 more not
os.close(fd)
os.close(put("c", b"old", True))
dsync()                                # a and c are durable names
os.close(put("d", b"kept", True))
os.close(put("e.tmp", b"E", True))
os.rename(os.path.join(root, "e.tmp"), os.path.join(root, "e"))
os.close(put("f", b"xy", False))
dsync()                                # d, e (renamed), f: durable names
fd = os.open(os.path.join(root, "f"), os.O_WRONLY | os.O_APPEND)
os.write(fd, b"zz")
os.fdatasync(fd)                       # f: 4 bytes synced (xy came with them)
os.write(fd, b"lost")
os.close(fd)
os.close(put("b", b"never", True))     # data synced, name never
os.close(put("c.tmp", b"new", True))
os.rename(os.path.join(root, "c.tmp"), os.path.join(root, "c"))   # no dir sync after
"""


class TestCutModel(unittest.TestCase):
    """The preload and the cut on a small program with known syncs."""

    def test_cut_keeps_exactly_what_was_synced(self):
        import shutil
        import subprocess
        import tempfile
        lib = preload_lib()
        self.assertTrue(lib and os.path.exists(lib), "preload library not built: %r" % lib)
        base = tempfile.mkdtemp(prefix="bs-powerloss-")
        try:
            root = os.path.join(base, "root")
            os.mkdir(root)
            journal = os.path.join(base, "journal")
            env = dict(os.environ, LD_PRELOAD=lib, BS_POWERLOSS_ROOT=root,
                       BS_POWERLOSS_JOURNAL=journal)
            subprocess.run([sys.executable, "-c", CHILD, root], env=env, check=True)
            self.assertEqual(sorted(os.listdir(root)), ["a", "b", "c", "d", "e", "f"])
            rep = powerloss_cut.cut(root, journal)

            def content(n):
                with open(os.path.join(root, n), "rb") as f:
                    return f.read()
            self.assertEqual(sorted(os.listdir(root)), ["a", "c", "d", "e", "f"], rep)
            self.assertEqual(content("a"), b"0123456789")
            self.assertEqual(content("c"), b"old")      # the rename was undone
            self.assertEqual(content("d"), b"kept")
            self.assertEqual(content("e"), b"E")
            self.assertEqual(content("f"), b"xyzz")
            self.assertEqual(rep["renames_undone"], [[os.path.join(root, "c"),
                                                      os.path.join(root, "c.tmp")]])
        finally:
            shutil.rmtree(base, ignore_errors=True)


class TestPowerLoss(unittest.TestCase):
    def setUp(self):
        lib = preload_lib()
        self.assertTrue(lib and os.path.exists(lib),
                        "power-loss preload library not built: %r (build target bs_powerloss)" % lib)
        self.lib = lib
        self.clusters = []
        self.node = None

    def make_node(self, extra):
        # the admin token lives outside the data directory, made here:
        # basaltd creates a missing one with link(), which the journal
        # does not model (and the test is about the data, not the token)
        extra = dict(extra)
        tok = os.path.join(tempfile.mkdtemp(prefix="basalt-integ-%d-" % os.getpid()),
                           "admin_token")
        fd = os.open(tok, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, os.urandom(16).hex().encode() + b"\n")
        os.close(fd)
        extra.setdefault("admin_token_file", tok)
        self.node = PreloadNode(extra=extra)
        self.node.preload = self.lib
        self.node.journal = os.path.join(self.node.base, "powerloss.journal")
        return self.node

    def tearDown(self):
        for c in self.clusters:
            c.shutdown()
        if self.node is not None:
            self.node.cleanup()

    def write_until_killed(self, session):
        """Writes rows with random values, INFLIGHT at a time; SIGKILLs the
        node once ROWS are acknowledged while more are in flight.  Returns
        {key: value} of every acknowledged row."""
        prep = session.prepare("INSERT INTO pl.t (k, v) VALUES (?, ?)")
        rng = random.Random(7)
        acked, lock = {}, threading.Lock()
        sem = threading.Semaphore(INFLIGHT)
        state = {"failed": 0, "stop": False}
        done = threading.Event()

        def ok(_, k, v):
            with lock:
                acked[k] = v
                if len(acked) >= ROWS:
                    done.set()
            sem.release()

        def err(_exc):
            with lock:
                state["failed"] += 1
            sem.release()

        k = 0
        killed = False
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if done.is_set() and not killed:
                self.node.kill()          # SIGKILL with writes in flight
                killed = True
            if killed and state["failed"] > 0:
                break
            if not sem.acquire(timeout=5):
                if killed:
                    break
                continue
            v = rng.randbytes(100)
            try:
                f = session.execute_async(prep, (k, v))
            except Exception:
                sem.release()
                if killed:
                    break
                raise
            f.add_callbacks(ok, err, callback_args=(k, v))
            k += 1
        self.assertTrue(killed, "fewer than %d rows acknowledged in 120 s" % ROWS)
        time.sleep(1)   # answers already in the socket buffers still count
        with lock:
            return dict(acked), k

    def test_batch_mode_acked_writes_survive_power_loss(self):
        self.make_node({"commitlog-sync": "batch", "commitlog-sync-batch-window": "1ms"})
        self.node.start()
        c = self.node.cluster(request_timeout=10)
        self.clusters.append(c)
        s = c.connect()
        s.execute("CREATE KEYSPACE pl WITH replication = "
                  "{'class': 'SimpleStrategy', 'replication_factor': 1}")
        s.execute("CREATE TABLE pl.t (k int PRIMARY KEY, v blob)")
        acked, sent = self.write_until_killed(s)
        c.shutdown()
        self.clusters.remove(c)
        self.assertGreaterEqual(len(acked), ROWS)
        sys.stderr.write("acknowledged %d of %d sent before the SIGKILL\n" % (len(acked), sent))

        rep = powerloss_cut.cut(self.node.data_dir, self.node.journal)
        sys.stderr.write("cut: %s\n" % json.dumps(
            {"bytes_dropped": rep["bytes_dropped"], "truncated": rep["truncated"],
             "removed": rep["removed"], "renames_undone": rep["renames_undone"]}, indent=1))
        # the cut must have thrown something away (at least the info log,
        # which is never synced), or the journal recorded nothing
        self.assertGreater(rep["bytes_dropped"], 0, rep)
        self.assertTrue(any(p.endswith("/LOG") for p in rep["truncated"]), rep)

        self.assertAllThere(acked)

    def assertAllThere(self, acked):
        """Restarts the node on its cut directory (no preload) and checks
        every acknowledged row and its value."""
        self.node.preload = None
        self.node.start()
        c = self.node.cluster(request_timeout=30)
        self.clusters.append(c)
        s = c.connect()
        from cassandra import InvalidRequest
        try:
            prep = s.prepare("SELECT v FROM pl.t WHERE k = ?")
        except InvalidRequest as e:
            self.fail("after the power-loss cut the table is gone (%s): all %d acknowledged "
                      "rows lost, and the acknowledged CREATE KEYSPACE/TABLE too" % (e, len(acked)))
        missing, wrong = [], []
        for k, v in sorted(acked.items()):
            rows = list(s.execute(prep, (k,)))
            if not rows:
                missing.append(k)
            elif bytes(rows[0].v) != v:
                wrong.append(k)
        self.assertEqual((len(missing), len(wrong)), (0, 0),
                         "after the power-loss cut: %d of %d acknowledged rows missing "
                         "(first %s), %d with a wrong value"
                         % (len(missing), len(acked), missing[:10], len(wrong)))

    def test_periodic_mode_keeps_what_its_sync_covered(self):
        """commitlog_sync: periodic acknowledges before the fsync and syncs
        the WAL every commitlog_sync_period in the background.  Rows
        acknowledged before a background sync that the journal shows
        covering them must survive the power loss (what that mode
        promises); nothing calls sync but the node itself."""
        import glob
        from cassandra.concurrent import execute_concurrent_with_args
        self.make_node({"commitlog-sync": "periodic", "commitlog-sync-period": "200ms"})
        self.node.start()
        c = self.node.cluster(request_timeout=10)
        self.clusters.append(c)
        s = c.connect()
        s.execute("CREATE KEYSPACE pl WITH replication = "
                  "{'class': 'SimpleStrategy', 'replication_factor': 1}")
        s.execute("CREATE TABLE pl.t (k int PRIMARY KEY, v blob)")
        rng = random.Random(8)
        rows = [(k, rng.randbytes(100)) for k in range(2000)]
        res = execute_concurrent_with_args(s, s.prepare("INSERT INTO pl.t (k, v) VALUES (?, ?)"),
                                           rows, concurrency=INFLIGHT, raise_on_first_error=True)
        self.assertTrue(all(ok for ok, _ in res))
        acked = dict(rows)
        # the WAL now holds every acknowledged row (in the page cache)
        wals = glob.glob(os.path.join(self.node.data_dir, "*", "*.log"))
        self.assertTrue(wals, "no RocksDB WAL under %s" % self.node.data_dir)
        wal = max(wals, key=os.path.getmtime)
        size = os.path.getsize(wal)

        def synced():
            with open(self.node.journal) as f:
                for ln in f:
                    r = ln.rstrip("\n").split("\t")
                    if r[0] == "S" and r[2] == wal and int(r[1]) >= size:
                        return True
            return False
        harness.wait_for(synced, 60, "a background sync of the WAL covering %d bytes" % size)
        c.shutdown()
        self.clusters.remove(c)
        self.node.kill()
        rep = powerloss_cut.cut(self.node.data_dir, self.node.journal)
        sys.stderr.write("periodic: cut dropped %d bytes (%s)\n"
                         % (rep["bytes_dropped"], sorted(rep["truncated"])))
        self.assertGreater(rep["bytes_dropped"], 0, rep)
        self.assertAllThere(acked)


if __name__ == "__main__":
    harness.main()
