"""
harness.py - start real basaltd processes for the integration tests.

Every test file imports this module and calls `harness.main()` instead of
`unittest.main()`.  The path of the basaltd binary comes from the
BASALTD environment variable or `--basaltd PATH` on the command line
(CMake passes $<TARGET_FILE:basaltd>).

A Node is one basaltd on its own loopback address (127.0.0.N) with free
ports and a temporary data directory.  Whatever happens - a failing
assertion, an exception, Ctrl-C, SIGTERM from ctest, or the test process
dying outright - the node processes are killed and their directories
removed:

  * every Node is registered in _LIVE; atexit and handlers for
    SIGTERM/SIGINT/SIGHUP kill all of them and remove their directories;
  * each child gets PR_SET_PDEATHSIG(SIGKILL), so the kernel kills it
    even when this process is SIGKILLed and no Python code runs;
  * Node is a context manager and tests call stop()/cleanup() in
    tearDown/tearDownClass;
  * directories are named basalt-integ-<pid>-*: a later run removes those
    whose owning process no longer exists (a SIGKILLed run).

When basaltd is a sanitizer build, a report in a node's output fails
the run (checked as each node is cleaned up).

Nothing here sleeps to "let things settle": start() polls until the CQL
port accepts a connection (bounded by a deadline) and stop() waits for
the process to exit.
"""

import atexit
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

BASALTD = os.environ.get("BASALTD", "")

_LIVE = []          # nodes whose process may be running or dir exists
_SAN_REPORTS = []   # sanitizer reports found in node output (fail the run)
_next_host = [0]    # per-process counter of 127.0.0.N addresses

PR_SET_PDEATHSIG = 1


def _pdeathsig():
    """preexec_fn: the child dies with SIGKILL when its parent dies."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except OSError:
        pass


def _free_port(host):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind((host, 0))
        return s.getsockname()[1]
    finally:
        s.close()


def shared_port(hosts):
    """A port free on every host (a cluster's storage_port)."""
    for _ in range(200):
        p = _free_port(hosts[0])
        ok = True
        for h in hosts[1:]:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                s.bind((h, p))
            except OSError:
                ok = False
            finally:
                s.close()
        if ok:
            return p
    raise RuntimeError("no common free port")


def wait_for(cond, timeout, what, step=0.05):
    """cond()'s first truthy value within timeout s; exceptions count as
    not yet (a node restarting, a driver reconnecting)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = cond()
            if last:
                return last
        except Exception as e:
            last = e
        time.sleep(step)
    raise AssertionError("%s not reached within %.0fs (last: %r)" % (what, timeout, last))


_SECRET = []        # [path] of this test process's cluster secret file


def cluster_secret_file():
    """The cluster secret every Node of this test process shares (nodes
    refuse internode connections from a node without it): one file,
    created on first use, private (0600), removed at exit."""
    if not _SECRET:
        d = tempfile.mkdtemp(prefix="basalt-integ-%d-" % os.getpid())
        path = os.path.join(d, "cluster_secret")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, os.urandom(32).hex().encode() + b"\n")
        os.close(fd)
        _SECRET.append(path)
        atexit.register(shutil.rmtree, d, True)
    return _SECRET[0]


def _pick_host():
    """A loopback address not shared with other test processes running in
    parallel: derived from our pid, then a counter for further nodes."""
    base = 2 + (os.getpid() * 7) % 200
    n = base + _next_host[0]
    _next_host[0] += 1
    return "127.0.0.%d" % (n % 250 + 2)


class Node(object):
    """One basaltd process.  extra: dict of config key -> value flags."""

    def __init__(self, host=None, extra=None, data_dir=None):
        if not BASALTD:
            raise RuntimeError("BASALTD not set (pass --basaltd PATH)")
        self.host = host or _pick_host()
        self.port = _free_port(self.host)
        self.storage_port = _free_port(self.host)
        self.http_port = _free_port(self.host)
        self.admin_port = _free_port(self.host)
        self.owns_dir = data_dir is None
        self.base = tempfile.mkdtemp(prefix="basalt-integ-%d-" % os.getpid())
        self.data_dir = data_dir or os.path.join(self.base, "data")
        self.log_path = os.path.join(self.base, "basaltd.log")
        self.extra = dict(extra or {})
        self.proc = None
        self.starts = 0
        _LIVE.append(self)

    def admin_token(self):
        """The admin API token (basaltd creates data_dir/admin_token)."""
        with open(self.extra.get("admin_token_file")
                  or os.path.join(self.data_dir, "admin_token")) as f:
            return f.read().strip()

    def admin_headers(self):
        """Headers an admin API request needs (the bearer token)."""
        return {"Authorization": "Bearer " + self.admin_token()}

    # -- process control ------------------------------------------------
    def argv(self):
        a = [BASALTD,
             "--cluster-name", "integ",
             "--data-directory", self.data_dir,
             "--listen-address", self.host,
             "--rpc-address", self.host,
             "--seeds", self.host,
             "--native-transport-port", str(self.port),
             "--storage-port", str(self.storage_port),
             "--http-port", str(self.http_port),
             "--admin-address", self.host,
             "--admin-port", str(self.admin_port),
             "--io-threads", "2",
             "--log-file", self.log_path]
        if "cluster_secret_file" not in self.extra:
            a += ["--cluster-secret-file", cluster_secret_file()]
        for k, v in self.extra.items():
            a += ["--" + k, str(v)]
        return a

    def start(self, timeout=30.0):
        """Starts the process and waits until the CQL port accepts."""
        assert self.proc is None or self.proc.poll() is not None
        self.log_offset = (os.path.getsize(self.log_path)
                           if os.path.exists(self.log_path) else 0)
        out = open(os.path.join(self.base, "stdio.log"), "ab")
        self.proc = subprocess.Popen(self.argv(), stdout=out,
                                     stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL,
                                     preexec_fn=_pdeathsig, close_fds=True)
        out.close()
        self.starts += 1
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("basaltd exited with %d at start:\n%s"
                                   % (self.proc.returncode, self.log_tail()))
            try:
                socket.create_connection((self.host, self.port), 0.5).close()
                return self
            except OSError:
                if time.monotonic() > deadline:
                    self.kill()
                    raise RuntimeError("basaltd did not listen within %.0fs:\n%s"
                                       % (timeout, self.log_tail()))
                time.sleep(0.05)

    def stop(self, timeout=30.0):
        """SIGTERM (clean drain); returns the exit code.  SIGKILL if the
        node does not exit within `timeout` (and then raises)."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError("basaltd ignored SIGTERM for %.0fs" % timeout)

    def kill(self):
        """SIGKILL: a crash, nothing flushed."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def sanitizer_report(self):
        """The ASan/UBSan/LSan report in the node's output, or ''."""
        try:
            with open(os.path.join(self.base, "stdio.log"), "rb") as f:
                text = f.read().decode("utf-8", "replace")
        except OSError:
            return ""
        for mark in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                     "runtime error:", "WARNING: ThreadSanitizer"):
            i = text.find(mark)
            if i >= 0:
                return text[max(0, i - 200):i + 4000]
        return ""

    def cleanup(self):
        self.kill()
        rep = self.sanitizer_report()
        if rep:
            _SAN_REPORTS.append("%s (%s):\n%s" % (self.host, self.base, rep))
        shutil.rmtree(self.base, ignore_errors=True)
        if self in _LIVE:
            _LIVE.remove(self)

    def log(self, since_start=True):
        try:
            with open(self.log_path, "rb") as f:
                if since_start:
                    f.seek(getattr(self, "log_offset", 0))
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_tail(self, n=40):
        text = self.log(since_start=False)
        try:
            with open(os.path.join(self.base, "stdio.log"), "rb") as f:
                text += f.read().decode("utf-8", "replace")
        except OSError:
            pass
        return "\n".join(text.splitlines()[-n:])

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.cleanup()
        return False

    # -- driver ---------------------------------------------------------
    def cluster(self, **kw):
        """A python-driver Cluster for this node (protocol v4, token-aware
        routing restricted to this node's DC)."""
        from cassandra.cluster import Cluster, ExecutionProfile, EXEC_PROFILE_DEFAULT
        from cassandra.policies import (TokenAwarePolicy, DCAwareRoundRobinPolicy,
                                        RetryPolicy)
        prof = ExecutionProfile(
            load_balancing_policy=TokenAwarePolicy(
                DCAwareRoundRobinPolicy(local_dc="dc1")),
            retry_policy=RetryPolicy(),
            request_timeout=kw.pop("request_timeout", 30))
        kw.setdefault("protocol_version", 4)
        kw.setdefault("connect_timeout", 10)
        kw.setdefault("control_connection_timeout", 10)
        return Cluster([self.host], port=self.port,
                       execution_profiles={EXEC_PROFILE_DEFAULT: prof}, **kw)


def _cleanup_all():
    for n in list(_LIVE):
        try:
            n.cleanup()
        except Exception:
            pass


def _on_signal(signum, frame):
    _cleanup_all()
    os._exit(128 + signum)


def _kill_detached_nodes(top):
    """SIGKILLs the basaltd processes named by basaltd.pid files under
    `top`: nodes started through scripts/cluster run in their own session,
    out of reach of PDEATHSIG.  A pid is only killed while its command is
    still basaltd (pid reuse)."""
    for root, _, files in os.walk(top):
        if "basaltd.pid" not in files:
            continue
        try:
            with open(os.path.join(root, "basaltd.pid")) as f:
                pid = int(f.read())
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                argv0 = f.read().split(b"\0")[0]
            if os.path.basename(argv0) == b"basaltd":
                os.kill(pid, signal.SIGCONT)
                os.kill(pid, signal.SIGKILL)
        except (OSError, ValueError):
            pass


def _sweep_stale_dirs():
    """Removes the directories of earlier test processes that died by
    SIGKILL (their nodes died with them through PDEATHSIG, except those
    scripts/cluster detached: they are killed here)."""
    tmp = tempfile.gettempdir()
    for name in os.listdir(tmp):
        parts = name.split("-")
        if len(parts) < 4 or parts[:2] != ["basalt", "integ"] or not parts[2].isdigit():
            continue
        pid = int(parts[2])
        try:
            os.kill(pid, 0)
            continue            # owner still running
        except ProcessLookupError:
            _kill_detached_nodes(os.path.join(tmp, name))
            shutil.rmtree(os.path.join(tmp, name), ignore_errors=True)
        except PermissionError:
            continue


_sweep_stale_dirs()
atexit.register(_cleanup_all)
for _s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    signal.signal(_s, _on_signal)


class NodeTestCase(unittest.TestCase):
    """One node (and one driver session) shared by the tests of a class.
    Subclasses may set node_extra (config flags) and keyspace."""

    node_extra = {}
    keyspace = "ks"

    @classmethod
    def setUpClass(cls):
        cls.node = Node(extra=cls.node_extra)
        try:
            cls.node.start()
            cls.cluster = cls.node.cluster()
            cls.session = cls.cluster.connect()
            if cls.keyspace:
                cls.session.execute(
                    "CREATE KEYSPACE IF NOT EXISTS %s WITH replication = "
                    "{'class': 'SimpleStrategy', 'replication_factor': 1}"
                    % cls.keyspace)
                cls.session.set_keyspace(cls.keyspace)
        except Exception:
            cls.node.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        # a clean SIGTERM drain ends every file (and lets a sanitizer
        # build report leaks); it must exit 0
        try:
            cls.cluster.shutdown()
            rc = cls.node.stop()
        finally:
            cls.node.cleanup()
        if rc != 0:
            raise AssertionError("basaltd exited with %r on SIGTERM" % rc)


def main():
    global BASALTD
    argv = list(sys.argv)
    if "--basaltd" in argv:
        i = argv.index("--basaltd")
        BASALTD = os.path.abspath(argv[i + 1])
        del argv[i:i + 2]
    if not BASALTD or not os.access(BASALTD, os.X_OK):
        sys.stderr.write("basaltd binary not found: pass --basaltd PATH "
                         "or set BASALTD\n")
        sys.exit(2)
    import logging
    logging.basicConfig(level=logging.ERROR)
    # the driver logs every server error it passes on (expected ones too)
    logging.getLogger("cassandra").setLevel(logging.CRITICAL)
    prog = unittest.main(argv=argv, verbosity=2, exit=False)
    _cleanup_all()
    if _SAN_REPORTS:
        sys.stderr.write("\nbasaltd sanitizer reports:\n%s\n" % "\n".join(_SAN_REPORTS))
        sys.exit(1)
    sys.exit(0 if prog.result.wasSuccessful() else 1)
