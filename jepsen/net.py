"""
net.py - the test network: one network namespace per node, a switch
namespace holding a Linux bridge, and a veth from the host namespace to the
bridge so that the client workers (threads of the runner, in the host
namespace) reach every node directly.

Layout for a run with subnet index S (1..250, claimed atomically by
`ip netns add bj<S>-sw`, so parallel runs never collide):

    host ns:  bj<S>h   198.18.S.254/24 ----+
    bj<S>-sw: br0 (bridge) <- ph, p1..pN --+  (veth peers)
    bj<S>-nI: eth0 198.18.S.I/24, lo        (I = 1..N)

Only the host-side veth name (bj<S>h) lives in the host namespace; every
other interface name is local to its namespace.  All traffic stays inside
198.18.0.0/15 (RFC 2544 benchmarking range).

Faults: a "grudge" {a: {b, c}} means node a drops packets to b and c.  It
is applied as `blackhole` routes in a's namespace (no iptables needed):
outgoing packets to a grudged peer vanish, like an iptables DROP on output.
Partitions are symmetric grudges.  Links can also be cut entirely
(`ip link set eth0 down`), which isolates a node from the clients too.

teardown() deletes every namespace of the run (which destroys the veths in
them) and the host-side veth; it is idempotent and never raises.
"""

import os
import signal
import subprocess
import time

PREFIX = "bj"
OWNER_DIR = "/tmp"   # bj-owner-<S>: pid of the runner that claimed subnet S


def _owner_file(s):
    return os.path.join(OWNER_DIR, "basalt-jepsen-owner-%d" % s)


def _ip(*args, check=True):
    r = subprocess.run(["ip"] + list(args), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
    if check and r.returncode != 0:
        raise RuntimeError("ip %s: %s" % (" ".join(args), r.stderr.strip()))
    return r


def available():
    """(True, "") when namespaces can be created here, else (False, why)."""
    import os
    if os.geteuid() != 0:
        return False, "needs root (ip netns)"
    try:
        r = _ip("netns", "list", check=False)
    except FileNotFoundError:
        return False, "iproute2 ('ip') not installed"
    if r.returncode != 0:
        return False, "ip netns unusable: " + r.stderr.strip()
    return True, ""


def _alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def _young(ns, seconds=60):
    """True if namespace ns was created less than `seconds` ago (its
    /run/netns bind-mount point is made at `ip netns add`)."""
    try:
        return time.time() - os.stat(os.path.join("/run/netns", ns)).st_mtime < seconds
    except OSError:
        return False


def cleanup_stale():
    """Removes the namespaces of earlier runs whose runner process is gone
    (a runner that was SIGKILLed cannot clean up): kills what still runs
    in them, deletes them and the host-side veth.  Returns the subnets
    cleaned.  Runs whose owner is alive are left alone."""
    r = _ip("netns", "list", check=False)
    names = [ln.split()[0] for ln in r.stdout.splitlines() if ln.split()]
    subnets = set()
    for nm in names:
        if nm.startswith(PREFIX) and "-" in nm:
            try:
                subnets.add(int(nm[len(PREFIX):nm.index("-")]))
            except ValueError:
                pass
    done = []
    for s in sorted(subnets):
        try:
            with open(_owner_file(s)) as f:
                pid = int(f.read().strip() or 0)
        except (OSError, ValueError):
            pid = 0
        if pid and _alive(pid):
            continue
        if not pid and _young("%s%d-sw" % (PREFIX, s)):
            # another runner has just claimed this subnet (its namespace
            # exists, its owner file comes right after): not stale
            continue
        mine = [nm for nm in names if nm.startswith("%s%d-" % (PREFIX, s))]
        for nm in mine:
            for p in _ip("netns", "pids", nm, check=False).stdout.split():
                try:
                    os.kill(int(p), signal.SIGKILL)
                except (ValueError, OSError):
                    pass
        _ip("link", "del", "%s%dh" % (PREFIX, s), check=False)
        for nm in mine:
            _ip("netns", "del", nm, check=False)
        try:
            os.unlink(_owner_file(s))
        except OSError:
            pass
        done.append(s)
    return done


def claim_subnet(hint):
    """Claims a free subnet index S (198.18.S.0/24) by creating namespace
    bj<S>-sw (atomic: `ip netns add` fails if it exists) and writes the
    owner file; returns S.  wan.py claims its subnet the same way, so
    cleanup_stale() covers both test beds."""
    start = (hint % 250) + 1
    for k in range(250):
        s = (start - 1 + k) % 250 + 1
        if _ip("netns", "add", "%s%d-sw" % (PREFIX, s), check=False).returncode == 0:
            with open(_owner_file(s), "w") as f:
                f.write(str(os.getpid()))
            return s
    raise RuntimeError("no free 198.18.S.0/24 subnet (stale bj*-sw namespaces?)")


class Net(object):
    def __init__(self, n_nodes, hint=0):
        self.n = n_nodes
        self.subnet = None
        self._hint = hint
        self.grudges = {}   # node index -> set of node indices it drops
        self.down_links = set()

    # names ---------------------------------------------------------------
    def sw(self):
        return "%s%d-sw" % (PREFIX, self.subnet)

    def ns(self, i):
        return "%s%d-n%d" % (PREFIX, self.subnet, i)

    def ip(self, i):
        return "198.18.%d.%d" % (self.subnet, i)

    def host_ip(self):
        return "198.18.%d.254" % self.subnet

    def host_if(self):
        return "%s%dh" % (PREFIX, self.subnet)

    # set-up --------------------------------------------------------------
    def setup(self):
        """Claims a subnet and builds the namespaces; on failure tears down
        whatever was built and re-raises."""
        self.subnet = claim_subnet(self._hint)
        try:
            sw = self.sw()
            _ip("-n", sw, "link", "add", "br0", "type", "bridge")
            _ip("-n", sw, "link", "set", "lo", "up")
            _ip("-n", sw, "link", "set", "br0", "up")
            for i in range(1, self.n + 1):
                ns = self.ns(i)
                _ip("netns", "add", ns)
                _ip("-n", sw, "link", "add", "p%d" % i, "type", "veth",
                    "peer", "name", "eth0", "netns", ns)
                _ip("-n", sw, "link", "set", "p%d" % i, "master", "br0")
                _ip("-n", sw, "link", "set", "p%d" % i, "up")
                _ip("-n", ns, "link", "set", "lo", "up")
                _ip("-n", ns, "addr", "add", self.ip(i) + "/24", "dev", "eth0")
                _ip("-n", ns, "link", "set", "eth0", "up")
            _ip("link", "add", self.host_if(), "type", "veth", "peer", "name",
                "ph", "netns", sw)
            _ip("-n", sw, "link", "set", "ph", "master", "br0")
            _ip("-n", sw, "link", "set", "ph", "up")
            _ip("addr", "add", self.host_ip() + "/24", "dev", self.host_if())
            _ip("link", "set", self.host_if(), "up")
        except BaseException:
            self.teardown()
            raise

    def teardown(self):
        if self.subnet is None:
            return
        try:
            _ip("link", "del", self.host_if(), check=False)
            for i in range(1, self.n + 1):
                _ip("netns", "del", self.ns(i), check=False)
            _ip("netns", "del", self.sw(), check=False)
            os.unlink(_owner_file(self.subnet))
        except Exception:
            pass
        self.subnet = None

    def exec_prefix(self, i):
        """argv prefix that runs a command inside node i's namespace."""
        return ["ip", "netns", "exec", self.ns(i)]

    # faults --------------------------------------------------------------
    def set_grudge(self, grudge):
        """Replaces the current grudge by `grudge` (node -> set of nodes)."""
        self.heal_partition()
        for a, drops in grudge.items():
            for b in drops:
                _ip("-n", self.ns(a), "route", "add", "blackhole",
                    self.ip(b) + "/32")
        self.grudges = {a: set(d) for a, d in grudge.items() if d}

    def heal_partition(self):
        for a, drops in self.grudges.items():
            for b in drops:
                _ip("-n", self.ns(a), "route", "del", "blackhole",
                    self.ip(b) + "/32", check=False)
        self.grudges = {}

    def link_down(self, i):
        _ip("-n", self.ns(i), "link", "set", "eth0", "down")
        self.down_links.add(i)

    def link_up(self, i):
        _ip("-n", self.ns(i), "link", "set", "eth0", "up", check=False)
        self.down_links.discard(i)

    def gate_clients(self, i, on):
        """Blackholes (on) or restores (off) node i's route to the clients."""
        if on:
            _ip("-n", self.ns(i), "route", "add", "blackhole", self.host_ip() + "/32")
        else:
            _ip("-n", self.ns(i), "route", "del", "blackhole", self.host_ip() + "/32",
                check=False)

    def heal(self):
        self.heal_partition()
        for i in list(self.down_links):
            self.link_up(i)
