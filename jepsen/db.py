"""
db.py - the basaltd processes of a run, one per network namespace.

Node i runs `ip netns exec bj<S>-n<i> basaltd --listen-address 198.18.S.i
--rpc-address 198.18.S.i --admin-address 198.18.S.i --seeds 198.18.S.1 ...`
with its data directory and log file in the run's store directory.  Every
port is the default (9042 CQL, 7000 internode, 8086 HTTP, 7199 admin):
each node has its own namespace, so nothing collides.

Processes are started with PR_SET_PDEATHSIG(SIGKILL) (`ip netns exec`
execs basaltd, so the pid we hold is basaltd's and the death signal
survives the exec): if the runner dies, so do the nodes.  The signal is
tied to the forking thread, so all forks happen on one long-lived
spawner thread (_Spawner).  kill_all() is
called from the runner's finally block and from its signal handlers.
Each node runs in a session of its own (start_new_session): Ctrl-C in
the terminal reaches the runner only, whose teardown then kills the
nodes; they never start a drain of their own in the middle of it.

Restart gate (off by default; --restart-gate turns it on): while a node
restarts, the clients' address is blackholed in its namespace and the
runner waits until the node itself lists every node and sees the running
ones Up, like an operator waiting for `nodetool status` before routing
traffic.  Without it a freshly restarted basaltd accepts CQL requests
before gossip has told it the ring (finding F1 in docs/JEPSEN.md, fixed
in basaltd by 85ef340: it now waits for gossip to settle), so the gate
is only needed against older binaries.

Tokens: node i gets 8 tokens drawn from random.Random(seed, i) via
--initial-token (and --auto-bootstrap false on its first start: the
cluster is created whole, as Cassandra operators do), so a run is
reproducible from its seed down to partition ownership - until the
"member" nemesis wipes a node: it joins again with tokens from the
cluster's allocator (a replacement: the dead node's).

State per node: proc (Popen or None), paused (SIGSTOPped), skew_us (the
clock_skew_us it was started with; the clock-skew nemesis restarts a node
with a new value), replace_first (started with replace_address_first_boot
= its own address until the "member" nemesis saw the replacement NORMAL),
join_new (started without --initial-token: a node the "member" nemesis
wiped joins like a new node and streams; the tokens it then persists win
over --initial-token on later restarts).
"""

import ctypes
import json
import os
import queue
import signal
import socket
import subprocess
import threading
import time
import urllib.request

PR_SET_PDEATHSIG = 1


def _pdeathsig():
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except OSError:
        pass


class _Spawner(object):
    """PR_SET_PDEATHSIG fires when the *thread* that forked the child
    exits, not the process.  Nodes are restarted from the nemesis thread,
    which ends before the run does, so every Popen goes through this one
    thread that lives as long as the runner."""
    def __init__(self):
        self.q = queue.Queue()
        t = threading.Thread(target=self._loop, name="spawner", daemon=True)
        t.start()

    def _loop(self):
        while True:
            fn, box, ev = self.q.get()
            try:
                box.append((True, fn()))
            except BaseException as e:
                box.append((False, e))
            ev.set()

    def call(self, fn):
        box, ev = [], threading.Event()
        self.q.put((fn, box, ev))
        ev.wait()
        ok, v = box[0]
        if not ok:
            raise v
        return v


_SPAWNER = [None]
_SPAWNER_LOCK = threading.Lock()


def spawn(*args, **kw):
    with _SPAWNER_LOCK:
        if _SPAWNER[0] is None:
            _SPAWNER[0] = _Spawner()
    return _SPAWNER[0].call(lambda: subprocess.Popen(*args, **kw))


class Node(object):
    def __init__(self, db, i):
        self.db = db
        self.i = i
        self.ip = db.net.ip(i)
        self.data = os.path.join(db.dir, "n%d" % i, "data")
        self.log = os.path.join(db.dir, "n%d" % i, "basaltd.log")
        self.proc = None
        self.paused = False
        self.skew_us = 0
        self.replace_first = False  # start as the replacement of itself
        self.join_new = False       # start without --initial-token (see argv)
        self.starts = 0
        self.ready_waits = []   # seconds each gated restart waited (None: gave up)

    def argv(self):
        a = self.db.net.exec_prefix(self.i) + [
            self.db.basaltd,
            "--cluster-name", "jepsen",
            "--listen-address", self.ip, "--rpc-address", self.ip,
            "--admin-address", self.ip, "--seeds", self.db.seeds(),
            "--data-directory", self.data, "--log-file", self.log,
            "--io-threads", "1", "--num-tokens", "8",
        ]
        # the cluster is created whole from initial tokens: like Cassandra
        # operators do, the first start sets auto_bootstrap false (nothing
        # to stream yet, and the nodes need not take turns joining); later
        # starts find their tokens in the data directory.  A node joining
        # again with an empty data directory ("member" nemesis) gets no
        # initial_token: the cluster's allocator or the replaced node gives
        # it its tokens, and it bootstraps
        if not self.join_new:
            a += ["--initial-token", ",".join(str(t) for t in self.db.tokens(self.i))]
            if self.starts == 0:
                a += ["--auto-bootstrap", "false"]
        a += [
            "--write-request-timeout", "2000ms",
            "--read-request-timeout", "2000ms",
            "--range-request-timeout", "4000ms",
            "--clock-skew-us", str(self.skew_us),
            "--cluster-secret-file", self.db.secret_file(),
        ]
        if self.replace_first:   # the "member" nemesis' replace (nemesis.py)
            a += ["--replace-address-first-boot", self.ip]
        # a multi-DC test bed (wan.py) names each node's dc and rack
        if hasattr(self.db.net, "node_args"):
            a += self.db.net.node_args(self.i)
        return a + list(self.db.extra_args)

    def start(self, wait=True, timeout=30.0):
        gated = self.db.restart_gate and self.starts > 0
        if gated:
            self.db.net.gate_clients(self.i, True)
        try:
            self._start(wait, timeout)
            if gated:
                self.wait_ring_ready(timeout)
        finally:
            if gated:
                self.db.net.gate_clients(self.i, False)

    def wait_ring_ready(self, timeout):
        """Readiness gate after a restart: polls this node's own admin
        /status from inside its namespace (clients are blackholed) until it
        lists every node and sees every running, unpaused node Up."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            if not self.alive():
                raise RuntimeError("node %d exited during restart (see %s)" % (self.i, self.log))
            r = subprocess.run(self.db.net.exec_prefix(self.i) + [
                "curl", "-s", "-m", "1", "http://%s:7199/status" % self.ip],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            try:
                st = json.loads(r.stdout)
                seen = {nd.get("address"): nd.get("status") for nd in st.get("nodes", [])}
            except (ValueError, AttributeError):
                seen = {}
            want = [n for n in self.db.nodes.values()
                    if n is not self and n.alive() and not n.paused]
            if len(seen) >= len(self.db.nodes) and all(seen.get(n.ip) == "U" for n in want):
                self.ready_waits.append(round(time.time() - deadline + timeout, 2))
                return
            time.sleep(0.2)
        self.ready_waits.append(None)

    def _start(self, wait, timeout):
        os.makedirs(self.data, exist_ok=True)
        with open(self.log, "a") as f:
            f.write("=== jepsen: start #%d skew_us=%d at %.3f\n"
                    % (self.starts + 1, self.skew_us, time.time()))
        out = open(self.log + ".stdout", "a")
        self.proc = spawn(self.argv(), stdout=out, stderr=subprocess.STDOUT,
                          stdin=subprocess.DEVNULL, preexec_fn=_pdeathsig,
                          start_new_session=True)
        out.close()
        self.paused = False
        self.starts += 1
        if wait and not (self.db.restart_gate and self.starts > 1):
            self.wait_cql(timeout)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def wait_cql(self, timeout=30.0):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if not self.alive():
                raise RuntimeError("node %d exited with %s (see %s)"
                                   % (self.i, self.proc.returncode if self.proc else None, self.log))
            try:
                socket.create_connection((self.ip, 9042), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("node %d: CQL port not up after %.0fs" % (self.i, timeout))

    def kill(self):
        """kill -9 and reap."""
        if self.proc is None:
            return
        try:
            if self.paused:
                os.kill(self.proc.pid, signal.SIGCONT)
            self.proc.send_signal(signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        self.proc = None
        self.paused = False

    def pause(self):
        if self.alive() and not self.paused:
            self.proc.send_signal(signal.SIGSTOP)
            self.paused = True

    def resume(self):
        if self.alive() and self.paused:
            self.proc.send_signal(signal.SIGCONT)
        self.paused = False

    def admin(self, path, method="GET", timeout=3.0):
        with open(os.path.join(self.data, "admin_token")) as f:
            token = f.read().strip()
        req = urllib.request.Request("http://%s:7199%s" % (self.ip, path), method=method,
                                     data=b"" if method == "POST" else None,
                                     headers={"Authorization": "Bearer " + token})
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return json.loads(r.read().decode() or "null")


class DB(object):
    def __init__(self, net, basaltd, run_dir, extra_args=(), restart_gate=False, seed=0):
        self.seed = seed
        self.net = net
        self.restart_gate = restart_gate
        self.basaltd = basaltd
        self.dir = run_dir
        self.extra_args = list(extra_args)
        self.nodes = {i: Node(self, i) for i in range(1, net.n + 1)}

    def secret_file(self):
        """The cluster secret all nodes of the run share (outside the data
        directories, so a wiped node still has it); created once, 0600."""
        path = os.path.join(self.dir, "cluster_secret")
        if not os.path.exists(path):
            os.makedirs(self.dir, exist_ok=True)
            fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.write(fd, os.urandom(32).hex().encode() + b"\n")
            os.close(fd)
            os.rename(path + ".tmp", path)
        return path

    def seeds(self):
        """Node 1, or one node per DC on a multi-DC test bed (wan.py)."""
        if hasattr(self.net, "seeds"):
            return self.net.seeds()
        return self.net.ip(1)

    def tokens(self, i):
        """Node i's 8 vnode tokens, derived from the run's seed, so that which
        node owns which partition (and so what a wipe loses) is the same on
        every run with that seed."""
        import random
        rng = random.Random(self.seed * 1000003 + i)
        return sorted(rng.randrange(-(2 ** 63) + 1, 2 ** 63) for _ in range(8))

    def start_all(self):
        # the seed first; then the others one by one so that token
        # allocation sees the earlier members
        for i in sorted(self.nodes):
            self.nodes[i].start(wait=True)

    def kill_all(self):
        for n in self.nodes.values():
            try:
                n.kill()
            except Exception:
                pass

    def up_view(self, i):
        """Addresses node i sees as Up (admin /status), or None."""
        try:
            st = self.nodes[i].admin("/status")
        except Exception:
            return None
        ups = set()
        for dc in (st.get("datacenters") or [st]) if isinstance(st, dict) else []:
            for nd in dc.get("nodes", []):
                if nd.get("status") == "U":
                    ups.add(nd.get("address"))
        return ups

    def wait_all_up(self, timeout=60.0):
        """Waits until every node sees every node Up; returns True on success."""
        want = {n.ip for n in self.nodes.values()}
        deadline = time.time() + timeout
        while time.time() < deadline:
            if all((self.up_view(i) or set()) >= want for i in self.nodes):
                return True
            time.sleep(0.5)
        return False

    def pending_hints(self):
        """Total hints pending over all nodes, or None when unknown."""
        total = 0
        for n in self.nodes.values():
            try:
                h = n.admin("/hints")
            except Exception:
                return None
            for e in (h or {}).get("hints", []):
                total += int(e.get("pending") or 0)
        return total
