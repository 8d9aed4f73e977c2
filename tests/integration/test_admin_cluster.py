"""
test_admin_cluster.py - scripts/cluster, the local cluster manager, with
real basaltd processes.

A 2-node cluster on its own loopback prefix (127.X.Y.1-2, derived from our
pid so parallel runs do not collide) and a private BASALT_CLUSTER_HOME:
create (config files, seeds, dc/rack), start (CQL ports open, each node
answers system.local with its own dc/rack/cluster name), idempotent
start/stop, status, pause/resume (SIGSTOP/SIGCONT: process state, and the
node serves again without a restart), kill (SIGKILL; a restart keeps the
host id), stop (SIGTERM drain: "stopped cleanly" in the log), logs,
list/switch, remove (processes gone, directory deleted), and clear errors
for bad input.

Only per-node facts are asserted: until gossip lands the nodes do not see
each other.  `cluster status` prints basalt-admin's view when the admin
API answers and the process table otherwise; both forms are accepted.
"""
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

import harness

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(TOP, "scripts", "cluster")


def _proc_state(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


def _wait_state(pid, states, timeout=5.0):
    """The process state once it is one of `states` (or the last seen
    after `timeout` s): a group stop reaches every thread asynchronously,
    so a busy process can still read 'R' right after kill(SIGSTOP)."""
    deadline = time.monotonic() + timeout
    st = _proc_state(pid)
    while st not in states and time.monotonic() < deadline:
        time.sleep(0.02)
        st = _proc_state(pid)
    return st


class ClusterScript(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.home = tempfile.mkdtemp(prefix="basalt-integ-%d-cl-" % os.getpid())
        x = 100 + os.getpid() % 150
        y = os.getpid() // 150 % 250 + 1
        cls.prefix = "127.%d.%d." % (x, y)
        cls.env = dict(os.environ, BASALTD=harness.BASALTD, BASALT_CLUSTER_HOME=cls.home)
        admin = os.environ.get("BASALT_ADMIN") or os.path.join(
            os.path.dirname(os.path.dirname(harness.BASALTD)), "client", "basalt-admin")
        cls.env["BASALT_ADMIN"] = admin
        cls.pids = set()

    @classmethod
    def tearDownClass(cls):
        subprocess.run([SCRIPT, "remove", "c1"], env=cls.env, capture_output=True)
        for pid in cls.pids:  # whatever survived
            try:
                os.kill(pid, signal.SIGCONT)
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        reports = []
        for root, _, files in os.walk(cls.home):
            for f in files:
                if f == "stdout.log":
                    with open(os.path.join(root, f), errors="replace") as fh:
                        t = fh.read()
                    if "ERROR: AddressSanitizer" in t or "runtime error:" in t or \
                       "ERROR: LeakSanitizer" in t:
                        reports.append(t[-4000:])
        shutil.rmtree(cls.home, ignore_errors=True)
        if reports:
            raise AssertionError("sanitizer report in basaltd output:\n" + "\n".join(reports))

    def cl(self, *args, code=0):
        p = subprocess.run([SCRIPT] + list(args), env=self.env, capture_output=True,
                           text=True, timeout=120)
        self.assertEqual(p.returncode, code, "cluster %s: exit %d\nstdout: %s\nstderr: %s"
                         % (" ".join(args), p.returncode, p.stdout, p.stderr))
        return p.stdout + p.stderr

    def read(self, *rel):
        with open(os.path.join(self.home, *rel), errors="replace") as f:
            return f.read()

    def pid(self, n):
        path = os.path.join(self.home, "c1", "node%d" % n, "basaltd.pid")
        if not os.path.exists(path):
            return None
        with open(path) as f:
            p = int(f.read())
        self.pids.add(p)
        return p

    def ps_state(self, n):
        out = self.cl("ps")
        for line in out.splitlines():
            f = line.split()
            if f and f[0] == "node%d" % n:
                return f[5]
        self.fail("node%d not in ps output:\n%s" % (n, out))

    def local_row(self, n):
        from cassandra.cluster import Cluster, ExecutionProfile, EXEC_PROFILE_DEFAULT
        from cassandra.policies import WhiteListRoundRobinPolicy
        addr = self.prefix + str(n)
        prof = ExecutionProfile(load_balancing_policy=WhiteListRoundRobinPolicy([addr]),
                                request_timeout=30)
        c = Cluster([addr], port=9042, protocol_version=4, connect_timeout=10,
                    execution_profiles={EXEC_PROFILE_DEFAULT: prof})
        try:
            s = c.connect()
            return s.execute("SELECT cluster_name, data_center, rack, host_id "
                             "FROM system.local").one()
        finally:
            c.shutdown()

    def test_lifecycle(self):
        p = self.prefix
        out = self.cl("create", "c1", "-n", "2", "-i", p)
        self.assertIn("created 'c1' (2 nodes: node1 node2; seeds %s1)" % p, out)
        y = self.read("c1", "node2", "basalt.yaml")
        for line in ("cluster_name: 'c1'", 'seeds: "%s1"' % p, "dc: dc1", "rack: rack2",
                     "listen_address: %s2" % p, "rpc_address: %s2" % p,
                     "admin_address: %s2" % p, "admin_port: 7199",
                     "data_directory: %s/c1/node2/data" % self.home,
                     "cluster_secret_file: %s/c1/cluster_secret" % self.home):
            self.assertIn(line + "\n", y)
        # one secret for the cluster, private to the user
        st = os.stat(os.path.join(self.home, "c1", "cluster_secret"))
        self.assertEqual(st.st_mode & 0o777, 0o600)
        self.assertGreaterEqual(st.st_size, 32)
        self.assertIn("* c1", self.cl("list"))
        self.assertIn("already exists", self.cl("create", "c1", "-n", "2", "-i", p, code=1))
        self.assertEqual(self.ps_state(1), "stopped")

        # start: both up, each one answering CQL with its own identity
        out = self.cl("start")
        self.assertIn("node1 up on %s1:9042" % p, out)
        self.assertIn("node2 up on %s2:9042" % p, out)
        pid1, pid2 = self.pid(1), self.pid(2)
        self.assertNotEqual(pid1, pid2)
        # each node leads a session of its own (no terminal's Ctrl-C
        # reaches it), and the pid file names basaltd itself
        for p_ in (pid1, pid2):
            self.assertEqual(os.getsid(p_), p_)
            with open("/proc/%d/cmdline" % p_, "rb") as f:
                self.assertEqual(os.path.basename(f.read().split(b"\0")[0]), b"basaltd")
        self.assertIn("node1 already running (pid %d)" % pid1, self.cl("start"))
        self.assertEqual(self.pid(1), pid1)
        for n, rack in ((1, "rack1"), (2, "rack2")):
            row = self.local_row(n)
            self.assertEqual((row.cluster_name, row.data_center, row.rack), ("c1", "dc1", rack))
        host2 = self.local_row(2).host_id
        out = self.cl("ps")
        self.assertRegex(out, r"node1\s+%s1\s+dc1\s+rack1\s+%d\s+running\s+listening"
                         % (re.escape(p), pid1))

        # status: basalt-admin's view (scripts/cluster passes the node's
        # admin token); both nodes up for each other (they share the
        # cluster secret)
        def both_up():
            out = self.cl("status")
            return ("Datacenter: dc1" in out and re.search(r"UN\s+%s1\s" % re.escape(p), out)
                    and re.search(r"UN\s+%s2\s" % re.escape(p), out))
        harness.wait_for(both_up, 30, "both nodes UN in cluster status", step=0.5)

        # pause / resume: the same process, serving again afterwards
        self.assertIn("node2 paused", self.cl("pause", "2"))
        self.assertIn(_wait_state(pid2, ("T", "t")), ("T", "t"))
        self.assertEqual(self.ps_state(2), "paused")
        out = self.cl("status")  # must not hang on the paused node
        self.assertIn("node2 resumed", self.cl("resume", "node2"))
        self.assertEqual(self.ps_state(2), "running")
        self.assertEqual(self.pid(2), pid2)
        self.assertEqual(self.local_row(2).host_id, host2)

        # kill -9, then restart with the same identity
        self.assertIn("node2 killed (SIGKILL)", self.cl("kill", "node2"))
        self.assertIn(_proc_state(pid2), (None, "Z"))
        self.assertEqual(self.ps_state(2), "stopped")
        self.assertEqual(self.ps_state(1), "running")
        self.assertIn("node2 is not running", self.cl("kill", "2"))
        self.cl("start", "2")
        self.assertNotEqual(self.pid(2), pid2)
        self.assertEqual(self.local_row(2).host_id, host2)

        # logs
        self.assertIn("Basalt starting: cluster 'c1'", self.cl("logs", "1"))

        # stop one (clean drain), idempotently; then remove everything
        self.assertIn("node1 stopped", self.cl("stop", "node1"))
        self.assertIn(_proc_state(pid1), (None, "Z"))
        self.assertIn("node1 is not running", self.cl("stop", "1"))
        log1 = self.read("c1", "node1", "logs", "system.log")
        self.assertIn("Basalt stopped cleanly", log1)
        pid2b = self.pid(2)
        self.assertIn("removed 'c1'", self.cl("remove"))
        self.assertIn(_proc_state(pid2b), (None, "Z"))
        self.assertFalse(os.path.exists(os.path.join(self.home, "c1")))
        self.assertNotIn("c1", self.cl("list"))

    def test_errors(self):
        self.assertIn("bad -n", self.cl("create", "e1", "-n", "x", code=1))
        self.assertIn("bad -i", self.cl("create", "e1", "-i", "10.0.0.", code=1))
        self.assertIn("bad cluster name", self.cl("create", "a/b", code=1))
        self.assertIn("unknown command", self.cl("frobnicate", code=2))
        self.cl("create", "e2", "-n", "2:1", "-i", self.prefix)
        try:
            y = self.read("e2", "node3", "basalt.yaml")
            self.assertIn("dc: dc2\n", y)
            self.assertIn('seeds: "%s1,%s3"\n' % (self.prefix, self.prefix), y)
            env = dict(self.env, BASALT_CLUSTER="e2")
            p = subprocess.run([SCRIPT, "kill", "node9"], env=env, capture_output=True, text=True)
            self.assertEqual(p.returncode, 1)
            self.assertIn("no node 'node9' in cluster e2", p.stderr)
            p = subprocess.run([SCRIPT, "pause", "1"], env=env, capture_output=True, text=True)
            self.assertEqual(p.returncode, 1)
            self.assertIn("node1 is not running", p.stderr)
            env["BASALTD"] = "/nonexistent/basaltd"
            p = subprocess.run([SCRIPT, "start", "1"], env=env, capture_output=True, text=True)
            self.assertEqual(p.returncode, 1)
            self.assertIn("basaltd not found at /nonexistent/basaltd", p.stderr)
        finally:
            self.cl("remove", "e2")


if __name__ == "__main__":
    harness.main()
