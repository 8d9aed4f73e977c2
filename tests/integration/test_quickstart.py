"""
test_quickstart.py - ./scripts/quickstart driven in a terminal the way a
new user drives it (issue #26: Ctrl-C in the shell stopped the cluster).

A private tmux server (test_shell.Tmux) runs `./scripts/quickstart` in a
pane.  Quickstart starts a 3-node cluster through scripts/cluster and
opens basalt-shell on node 1.  The test types half a statement, presses
Ctrl-C (the terminal sends SIGINT to its whole foreground process group),
then runs a SELECT: it must answer, and all three basaltd processes must
still run, each in its own session, none of them having logged
"signal 2".  Leaving the shell and closing the terminal (killing the tmux
server hangs up the pane) leave them running too; `./scripts/quickstart
stop` then stops all three with a clean drain.

Isolation from other clusters on the machine: a private
BASALT_CLUSTER_HOME (a temporary directory), a loopback prefix of its own
(127.X.Y.1-3, X in 20..99 and Y derived from our pid: the harness uses
127.0.0.N, test_admin_cluster 127.100-249.Y., scripts/bench 127.0.X.),
and BASALT_NO_BUILD=1 with the binaries of this build (quickstart would
otherwise run install-deps and rebuild <repo>/build).  Cleanup always
runs `quickstart remove` and then SIGKILLs any node still alive; it is
registered with the harness, so SIGTERM from ctest runs it too.  The nodes
are detached from us on purpose (no PDEATHSIG can follow them through
setsid), so a run killed outright leaves them to the harness's sweep of
stale directories (it kills the basaltd named by their pid files).

tmux missing is a failure, not a skip: scripts/install-deps installs it.

  python3 tests/integration/test_quickstart.py --basaltd build/node/basaltd
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from test_shell import Tmux  # noqa: E402

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
QUICKSTART = os.path.join(TOP, "scripts", "quickstart")
CLUSTER = os.path.join(TOP, "scripts", "cluster")
NODES = 3


def _client_bin(name, env):
    p = os.environ.get(env)
    if p:
        return os.path.abspath(p)
    return os.path.join(os.path.dirname(os.path.dirname(harness.BASALTD)), "client", name)


def _proc_state(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


def _is_basaltd(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            argv0 = f.read().split(b"\0")[0]
    except OSError:
        return False
    return os.path.basename(argv0) == b"basaltd"


class _QuickstartCluster(object):
    """The cluster quickstart makes under a private home; cleanup() is
    safe to call at any time and more than once (harness._LIVE calls it
    on SIGTERM/SIGINT/exit)."""

    def __init__(self, home, env):
        self.home = home
        self.env = env
        self.pids = set()

    def node_dir(self, i):
        return os.path.join(self.home, "quickstart", "node%d" % i)

    def pid(self, i):
        """The pid in node i's pid file, or None."""
        try:
            with open(os.path.join(self.node_dir(i), "basaltd.pid")) as f:
                p = int(f.read())
        except (OSError, ValueError):
            return None
        self.pids.add(p)
        return p

    def log(self, i):
        try:
            with open(os.path.join(self.node_dir(i), "logs", "system.log"),
                      errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def cleanup(self):
        for i in range(1, NODES + 1):
            self.pid(i)
        if os.path.exists(os.path.join(self.home, "quickstart")):
            try:
                subprocess.run([QUICKSTART, "remove"], env=self.env, timeout=120,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            except subprocess.TimeoutExpired:
                pass
        for p in self.pids:  # whatever survived the remove
            if _proc_state(p) not in (None, "Z") and _is_basaltd(p):
                try:
                    os.kill(p, signal.SIGCONT)
                    os.kill(p, signal.SIGKILL)
                except OSError:
                    pass
        shutil.rmtree(self.home, ignore_errors=True)
        if self in harness._LIVE:
            harness._LIVE.remove(self)


class QuickstartTest(unittest.TestCase):

    def setUp(self):
        if not shutil.which("tmux"):
            self.fail("tmux is not installed (scripts/install-deps installs it)")
        shell = _client_bin("basalt-shell", "BASALT_SHELL")
        admin = _client_bin("basalt-admin", "BASALT_ADMIN")
        for b in (shell, admin):
            self.assertTrue(os.access(b, os.X_OK), "%s not built" % b)
        pid = os.getpid()
        self.prefix = "127.%d.%d." % (20 + pid % 80, pid // 80 % 250 + 1)
        self.home = tempfile.mkdtemp(prefix="basalt-integ-%d-qs-" % pid)
        self.env = dict(os.environ, BASALT_CLUSTER_HOME=self.home,
                        BASALT_IP_PREFIX=self.prefix, BASALT_NO_BUILD="1",
                        BASALTD=harness.BASALTD, BASALT_ADMIN=admin,
                        BASALT_SHELL=shell)
        self.qs = _QuickstartCluster(self.home, self.env)
        harness._LIVE.append(self.qs)
        self.tm = None

    def tearDown(self):
        try:
            if self.tm:
                self.tm.kill()
        finally:
            self.qs.cleanup()

    def cluster_ps(self):
        p = subprocess.run([CLUSTER, "ps"], env=dict(self.env, BASALT_CLUSTER="quickstart"),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout)
        return p.stdout

    def assert_all_running(self, pids, when):
        """The same three basaltd processes, alive, each leading its own
        session, none told to drain by a signal; `cluster ps` agrees."""
        for i in range(1, NODES + 1):
            p = pids[i]
            self.assertEqual(self.qs.pid(i), p, "node%d's pid file changed %s" % (i, when))
            st = _proc_state(p)
            self.assertNotIn(st, (None, "Z"), "node%d (pid %d) is gone %s; its log ends:\n%s"
                             % (i, p, when, self.qs.log(i)[-2000:]))
            self.assertTrue(_is_basaltd(p), "pid %d is not basaltd" % p)
            self.assertEqual(os.getsid(p), p, "node%d is not in a session of its own" % i)
            self.assertNotRegex(self.qs.log(i), r"signal \d+: draining",
                                "node%d was signalled %s" % (i, when))
        out = self.cluster_ps()
        for i in range(1, NODES + 1):
            self.assertRegex(out, r"(?m)^node%d\s+%s%d\s+\S+\s+\S+\s+%d\s+running\s+listening$"
                             % (i, re.escape(self.prefix), i, pids[i]),
                             "cluster ps %s" % when)

    def test_ctrl_c_in_the_shell_keeps_the_cluster(self):
        self.tm = tm = Tmux(["env", "BASALT_CLUSTER_HOME=" + self.home,
                             "BASALT_IP_PREFIX=" + self.prefix, "BASALT_NO_BUILD=1",
                             "BASALTD=" + self.env["BASALTD"],
                             "BASALT_ADMIN=" + self.env["BASALT_ADMIN"],
                             "BASALT_SHELL=" + self.env["BASALT_SHELL"], QUICKSTART],
                            self.home)
        # quickstart: three nodes up, basalt-admin status, then the prompt
        s = tm.wait_for(r"^basalt> |\[shell exited", timeout=120)
        self.assertRegex(s, r"(?m)^basalt> ", "quickstart did not reach the prompt")
        for i in range(1, NODES + 1):
            self.assertIn("cluster: node%d up on %s%d:9042" % (i, self.prefix, i), s)
        pids = {i: self.qs.pid(i) for i in range(1, NODES + 1)}
        self.assertNotIn(None, pids.values())
        self.assertEqual(len(set(pids.values())), NODES)

        # half a statement over two lines, then Ctrl-C: the shell drops it
        tm.line("SELECT cluster_name, data_center")
        tm.wait_for(r"^   \.\.\. ")
        tm.type("FROM system.lo")
        tm.key("C-c")
        tm.wait_for(r"^basalt> ", count=2)

        # the next statement is answered, by the cluster quickstart made
        tm.line("SELECT cluster_name, data_center FROM system.local;")
        s = tm.wait_for(r"^\(1 rows\)|NoHostAvailable|Error|\[shell exited", timeout=60)
        self.assertRegex(s, r"(?m)^\(1 rows\)", "the SELECT after Ctrl-C failed")
        self.assertRegex(s, r"(?m)^ +quickstart \| +dc1\s*$")
        self.assert_all_running(pids, "after Ctrl-C in the shell")

        # leaving the shell leaves the cluster running, and so does closing
        # the terminal (the pane's session is hung up)
        tm.wait_for(r"^basalt> ", count=3)
        tm.line("EXIT")
        tm.wait_for(r"quickstart: the cluster keeps running")
        tm.wait_for(r"\[shell exited 0\]")
        tm.kill()
        self.tm = None
        self.assert_all_running(pids, "after the terminal closed")

        # stopping stays explicit: quickstart stop drains all three
        p = subprocess.run([QUICKSTART, "stop"], env=self.env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stdout)
        for i in range(1, NODES + 1):
            self.assertIn("cluster: node%d stopped" % i, p.stdout)
            self.assertIn(_proc_state(pids[i]), (None, "Z"))
            self.assertIn("Basalt stopped cleanly", self.qs.log(i))
        self.assertEqual(len(re.findall(r"(?m)\sstopped\s+-$", self.cluster_ps())), NODES)


if __name__ == "__main__":
    harness.main()
