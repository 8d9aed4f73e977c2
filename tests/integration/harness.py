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

Every basaltd is judged when it ends (stop(), kill(), cleanup(), or a
restart with start()):

  * a node stopped with SIGTERM must exit 0, a node killed with kill()
    must have died of SIGKILL, and a node that exits by itself is a
    failure unless the test said so first (expect_exit(rc), e.g. a
    fault-injection crash); cleanup() stops a running node with SIGTERM
    (not SIGKILL) so a sanitizer build gets to run its leak check;
  * its stdout/stderr and log file are scanned for sanitizer reports
    ("ERROR: AddressSanitizer", "LeakSanitizer", "runtime error:",
    "ThreadSanitizer").
Any finding makes main() exit 1 with the node's address, exit status
and the report, whatever the unittest result was.

Skips are failures: main() exits 1 when any test was skipped, unless its
id (or its class's / module's) is listed with a reason in
tests/skip-allowlist.txt (see docs/TESTING.md).  A missing prerequisite
(tmux, a binary, root for network namespaces) is installed by
scripts/install-deps or built by CMake, so its absence is a failure.

Test-only binaries: testhooks_binary() is basaltd-testhooks (basaltd
built with the BS_TEST_HOOKS fault-injection hooks; CMake option
BASALT_TEST_HOOKS=ON, which scripts/test sets).  A test that needs it
fails, with that reason, when it was not built.

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
_BAD_EXITS = []     # nodes that exited in a way nobody asked for (fail the run)
SAN_MARKS = ("ERROR: AddressSanitizer", "LeakSanitizer", "runtime error:",
             "WARNING: ThreadSanitizer")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SKIP_ALLOWLIST = os.environ.get("BASALT_SKIP_ALLOWLIST") or os.path.join(
    ROOT, "tests", "skip-allowlist.txt")
_next_host = [0]    # per-process counter of 127.0.0.N addresses

PR_SET_PDEATHSIG = 1


def _pdeathsig():
    """preexec_fn: the child dies with SIGKILL when its parent dies."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except OSError:
        pass


# Every port handed out by this process: the kernel may give a port
# released a moment ago to the next bind, so two of a node's ports (or a
# cluster's shared storage_port and a node's admin_port) once came out
# equal, and basaltd refused to start.
_GIVEN = set()


def _free_port(host):
    return _free_ports(host, 1)[0]


def _free_ports(host, n):
    """n free ports on host, distinct and never handed out before by this
    process (all bound at once, then released)."""
    socks, out = [], []
    try:
        while len(out) < n:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            socks.append(s)
            s.bind((host, 0))
            p = s.getsockname()[1]
            if p not in _GIVEN:
                _GIVEN.add(p)
                out.append(p)
        return out
    finally:
        for s in socks:
            s.close()


def write_retrying(session, ps, rows, tries=4):
    """Executes prepared ps for every argument tuple of rows, 32 at a
    time, retrying the ones that failed (a timed-out write; the writes
    must be idempotent) up to tries rounds; returns those never written."""
    from cassandra.concurrent import execute_concurrent_with_args
    todo = list(rows)
    for _ in range(tries):
        res = execute_concurrent_with_args(session, ps, todo, concurrency=32,
                                           raise_on_first_error=False)
        todo = [a for a, (ok, _) in zip(todo, res) if not ok]
        if not todo:
            break
    return todo


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


def ring_formed(sessions, n_nodes):
    """True when every session's node lists the n_nodes - 1 others in
    system.peers with their tokens.  A node that joined last is UP at the
    others a moment before its tokens reach them; until then they count
    one replica fewer, so a test must not start on node 0's view alone."""
    for s in sessions:
        rows = s.execute("SELECT peer, tokens FROM system.peers")
        if sum(1 for r in rows if r.tokens) < n_nodes - 1:
            return False
    return True


def wait_for_ring(sessions, n_nodes, timeout=60, what="cluster"):
    """Waits until ring_formed(sessions, n_nodes)."""
    return wait_for(lambda: ring_formed(sessions, n_nodes), timeout,
                    "%s: every node sees %d peers with tokens" % (what, n_nodes - 1))


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


def pause(pid, timeout=10.0):
    """SIGSTOP, then waits until every thread of the process is stopped
    (the signal takes effect asynchronously: a thread could otherwise
    still answer a request sent right after os.kill returned)."""
    os.kill(pid, signal.SIGSTOP)

    def stopped():
        for t in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/stat" % (pid, t)) as f:
                if f.read().rsplit(")", 1)[1].split()[0] not in ("T", "t"):
                    return False
        return True
    wait_for(stopped, timeout, "process %d stopped" % pid, step=0.005)


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

    def __init__(self, host=None, extra=None, data_dir=None, binary=None):
        if not BASALTD:
            raise RuntimeError("BASALTD not set (pass --basaltd PATH)")
        self.binary = binary    # None: BASALTD (may be changed between starts)
        self.host = host or _pick_host()
        (self.port, self.storage_port, self.http_port,
         self.admin_port) = _free_ports(self.host, 4)
        self.owns_dir = data_dir is None
        self.base = tempfile.mkdtemp(prefix="basalt-integ-%d-" % os.getpid())
        self.data_dir = data_dir or os.path.join(self.base, "data")
        self.log_path = os.path.join(self.base, "basaltd.log")
        self.extra = dict(extra or {})
        self.proc = None
        self.starts = 0
        self._how = None        # how the current process was ended by us
        self._judged = True     # its end was checked (or there is none)
        self._expect = ()       # exit codes allowed when it ends by itself
        _LIVE.append(self)

    def admin_token(self):
        """The admin API token (basaltd creates data_dir/admin_token)."""
        with open(self.extra.get("admin_token_file")
                  or os.path.join(self.data_dir, "admin_token")) as f:
            return f.read().strip()

    def admin_headers(self):
        """Headers an admin API request needs (the bearer token)."""
        return {"Authorization": "Bearer " + self.admin_token()}

    def metrics(self):
        """The node's /metrics as {'name{labels}': value}."""
        import re
        import urllib.request
        req = urllib.request.Request("http://%s:%d/metrics" % (self.host, self.admin_port),
                                     headers=self.admin_headers())
        text = urllib.request.urlopen(req, timeout=30).read().decode()
        out = {}
        for line in text.splitlines():
            m = re.match(r'^([a-z_]+)(\{[^}]*\})? ([0-9.e+-]+)$', line)
            if m:
                out[m.group(1) + (m.group(2) or "")] = float(m.group(3))
        return out

    # -- process control ------------------------------------------------
    def argv(self):
        a = [self.binary or BASALTD,
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

    def start(self, timeout=30.0, wait=True):
        """Starts the process and waits until the CQL port accepts
        (wait=False: returns at once; call wait_listening).  Start from
        the main thread: PDEATHSIG kills the node when the thread that
        started it ends."""
        assert self.proc is None or self.proc.poll() is not None
        self._judge()
        self.log_offset = (os.path.getsize(self.log_path)
                           if os.path.exists(self.log_path) else 0)
        out = open(os.path.join(self.base, "stdio.log"), "ab")
        self.proc = subprocess.Popen(self.argv(), stdout=out,
                                     stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL,
                                     preexec_fn=_pdeathsig, close_fds=True)
        out.close()
        self.starts += 1
        self._how, self._judged, self._expect = None, False, ()
        return self.wait_listening(timeout) if wait else self

    def wait_listening(self, timeout=30.0):
        """Waits until the started process's CQL port accepts."""
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                self._judged = True     # reported right here
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
            rc = self.proc.returncode if self.proc else None
            self._judge()
            return rc
        self._how = "stop"
        try:
            os.kill(self.proc.pid, signal.SIGCONT)   # in case it is paused
        except OSError:
            pass
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            self._judge()
            raise RuntimeError("basaltd ignored SIGTERM for %.0fs" % timeout)
        self._judge()
        return rc

    def kill(self):
        """SIGKILL: a crash, nothing flushed."""
        if self.proc is not None and self.proc.poll() is None:
            self._how = "kill"
            self.proc.kill()
            self.proc.wait()
        self._judge()

    def expect_exit(self, *codes):
        """The current process may end by itself with one of `codes` (a
        fault-injection crash) without failing the run."""
        self._expect = codes

    def _judge(self):
        """Records (once per process) an end nobody asked for: SIGTERM
        answered with a non-zero status, or an exit by itself with a code
        not given to expect_exit()."""
        p = self.proc
        if p is None or self._judged or p.poll() is None:
            return
        self._judged = True
        rc = p.returncode
        if self._how == "kill":
            ok = rc == -signal.SIGKILL
            want = "killed by SIGKILL"
        elif self._how == "stop":
            ok = rc == 0
            want = "exit 0 on SIGTERM"
        else:
            ok = rc in self._expect
            want = ("an exit with %s" % (self._expect,) if self._expect
                    else "no exit before the test stopped it")
        if not ok:
            _BAD_EXITS.append("basaltd %s (%s, start %d) ended with status %r; "
                              "expected %s. Output:\n%s"
                              % (self.host, self.binary or BASALTD, self.starts, rc,
                                 want, self.log_tail(30)))

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def sanitizer_report(self):
        """The ASan/UBSan/LSan/TSan report in the node's stdout/stderr or
        log file, or ''."""
        for name in ("stdio.log", os.path.basename(self.log_path)):
            try:
                with open(os.path.join(self.base, name), "rb") as f:
                    text = f.read().decode("utf-8", "replace")
            except OSError:
                continue
            for mark in SAN_MARKS:
                i = text.find(mark)
                if i >= 0:
                    return "%s: %s" % (name, text[max(0, i - 200):i + 4000])
        return ""

    def cleanup(self, graceful=True):
        """Ends the process (SIGTERM when graceful, so leak checks run;
        SIGKILL otherwise or when it does not stop), judges its end, scans
        its output for sanitizer reports and removes its directory."""
        if graceful and self.alive():
            try:
                self.stop()
            except RuntimeError:
                pass            # judged (non-zero) by stop()
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


def _cleanup_all(graceful=True):
    for n in list(_LIVE):
        try:
            n.cleanup(graceful)
        except Exception:
            pass


def _on_signal(signum, frame):
    _cleanup_all(graceful=False)
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
    Subclasses may set node_extra (config flags), keyspace and
    protocol_version (4 by default)."""

    node_extra = {}
    keyspace = "ks"
    protocol_version = 4

    @classmethod
    def setUpClass(cls):
        cls.node = Node(extra=cls.node_extra)
        try:
            cls.node.start()
            cls.cluster = cls.node.cluster(protocol_version=cls.protocol_version)
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


def testhooks_binary():
    """basaltd-testhooks: $BASALTD_TESTHOOKS, else beside BASALTD.  Raises
    AssertionError (the test fails, it does not skip) when absent."""
    p = os.environ.get("BASALTD_TESTHOOKS") or os.path.join(
        os.path.dirname(os.path.abspath(BASALTD)), "basaltd-testhooks")
    if not os.access(p, os.X_OK):
        raise AssertionError(
            "%s not built: this test needs basaltd with fault-injection hooks; "
            "configure with -DBASALT_TEST_HOOKS=ON (scripts/test does)" % p)
    return p


def load_skip_allowlist(path=SKIP_ALLOWLIST):
    """{test id prefix: reason} from the allow-list: one entry a line,
    '<id> <reason>', '#' comments; an entry without a reason is an error."""
    out = {}
    try:
        f = open(path)
    except FileNotFoundError:
        return out
    with f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            parts = line.split(None, 1)
            if len(parts) < 2 or not parts[1].strip():
                raise SystemExit("%s:%d: entry %r has no reason" % (path, n, parts[0]))
            out[parts[0]] = parts[1].strip()
    return out


def skip_allowed(test_id, allow):
    """The allow-list reason covering test_id (module.Class.method, or
    module.Class for a class-level skip), or None."""
    for pat, why in allow.items():
        if test_id == pat or test_id.startswith(pat + "."):
            return why
    return None


def _skip_id(test, module):
    """module.Class.method for a skipped test; module.Class for a skip
    raised in setUpClass (unittest reports 'setUpClass (mod.Class)')."""
    tid = test.id()
    if " (" in tid and tid.endswith(")"):
        tid = tid[tid.index(" (") + 2:-1]
    if tid.startswith("__main__."):
        tid = module + tid[len("__main__"):]
    return tid


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
    allow = load_skip_allowlist()
    prog = unittest.main(argv=argv, verbosity=2, exit=False)
    _cleanup_all()
    failed = not prog.result.wasSuccessful()
    module = os.path.splitext(os.path.basename(sys.argv[0]))[0]
    for test, reason in prog.result.skipped:
        tid = _skip_id(test, module)
        why = skip_allowed(tid, allow)
        if why:
            sys.stderr.write("harness: allowed skip: %s: %s (allow-list: %s)\n" % (tid, reason, why))
        else:
            sys.stderr.write("harness: SKIP IS A FAILURE: %s: %s (not in %s)\n"
                             % (tid, reason, os.path.relpath(SKIP_ALLOWLIST, ROOT)))
            failed = True
    if _BAD_EXITS:
        sys.stderr.write("\nbasaltd processes that ended badly:\n%s\n" % "\n".join(_BAD_EXITS))
        failed = True
    if _SAN_REPORTS:
        sys.stderr.write("\nbasaltd sanitizer reports:\n%s\n" % "\n".join(_SAN_REPORTS))
        failed = True
    sys.exit(1 if failed else 0)
