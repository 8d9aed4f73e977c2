"""
wan.py - an emulated multi-datacenter network: each DC's nodes in network
namespaces of their own on a subnet of their own, joined by a router
namespace that adds TCP-level one-way delay, jitter and a bandwidth limit
to traffic between DCs, and can cut a DC off and heal it.

This kernel has no netem qdisc, so the delay is done in user space:

    host ns (runner, clients)  bj<S>h 198.18.S.61/26 (on dc1's segment)
          |
    bj<S>-sw  ROUTER: br1 198.18.S.62/26    br2 198.18.S.126/26   br3 .190/26
          |           p1..p3 (dc1 nodes)     p4..p6 (dc2 nodes)    ...
          |   nftables: TCP from one DC's /26 to another DC's /26
          |             -> redirect to wanproxy.py (delay +- jitter, order kept)
          |             set @cut: a cut DC's packets dropped (prerouting, output)
          |   tc tbf on br<d>: bandwidth of everything the router sends into DC d
    bj<S>-n<i>: eth0 198.18.S.(64*(d-1)+k)/26, route 198.18.S.0/24 via the router

DC d (1..3) owns 198.18.S.(64*(d-1))/26: node k of the DC is .64*(d-1)+k,
the router is .64*(d-1)+62; the host (the clients) is .61 on dc1's segment,
so the clients are "in dc1": dc1 is near, the other DCs are across the WAN.
Nodes are numbered 1..N across DCs in order (dc1 first), the same index
space db.py uses, and node i's namespace is bj<S>-n<i> as in net.py.

Inside a DC the nodes share a Linux bridge (br<d>, in the router namespace):
intra-DC traffic is switched, never routed, so it is neither delayed nor
shaped (bridge netfilter is switched off in the router namespace).  Only
TCP crosses the proxy; other protocols are routed without delay (basaltd
speaks only TCP).  The proxy connects onward from the router's own address
in the destination DC, so a node sees a remote DC's connections coming
from 198.18.S.(64*(d-1)+62), not from the remote node (basaltd identifies
peers by their handshake, not by source address).

The subnet S is claimed like net.py's (`ip netns add bj<S>-sw`, owner file
/tmp/basalt-jepsen-owner-<S>), so net.cleanup_stale() and
jepsen/cleanup.py remove a SIGKILLed run's namespaces and kill the proxy
left in them.  teardown() kills the proxy and deletes every namespace and
the host veth; it is idempotent and never raises.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import net as netmod   # noqa: E402
from net import PREFIX, _ip, _owner_file   # noqa: E402

PROXY_PORT = 15000
MAX_DCS = 3
MAX_PER_DC = 60
PY = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable


def _run(argv, inp=None, check=True):
    r = subprocess.run(argv, input=inp, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True)
    if check and r.returncode != 0:
        raise RuntimeError("%s: %s" % (" ".join(argv), r.stderr.strip()))
    return r


def available():
    ok, why = netmod.available()
    if not ok:
        return ok, why
    for tool, pkg in (("nft", "nftables"), ("tc", "iproute2")):
        if not any(os.access(os.path.join(d, tool), os.X_OK)
                   for d in ("/usr/sbin", "/sbin", "/usr/bin", "/bin")):
            return False, "%s not installed (Debian package %s; scripts/install-deps)" % (tool, pkg)
    return True, ""


class WanNet(object):
    """dcs: node count per DC, e.g. [3, 3].  delay_ms / jitter_ms: one-way
    delay between DCs (each direction); rate: tbf rate per DC link
    ("100mbit") or None for unlimited.  workdir holds the proxy's config
    and log."""

    def __init__(self, dcs, workdir, delay_ms=0.0, jitter_ms=0.0, rate=None, hint=0, seed=0):
        if not 1 <= len(dcs) <= MAX_DCS or not all(1 <= n <= MAX_PER_DC for n in dcs):
            raise ValueError("1..%d DCs of 1..%d nodes" % (MAX_DCS, MAX_PER_DC))
        self.dcs = list(dcs)
        self.n = sum(dcs)
        self.workdir = workdir
        self.delay_ms = float(delay_ms)
        self.jitter_ms = float(jitter_ms)
        self.rate = rate
        self.seed = seed
        self._hint = hint
        self.subnet = None
        self.proxy = None
        self.cut_dcs = set()
        self.down_links = set()
        self.grudges = {}
        self.procs = []     # helpers in the namespaces (echo servers): killed at teardown
        # global node index -> (dc, k)
        self._where = {}
        i = 0
        for d, cnt in enumerate(self.dcs, 1):
            for k in range(1, cnt + 1):
                i += 1
                self._where[i] = (d, k)

    # names and addresses -----------------------------------------------
    def sw(self):
        return "%s%d-sw" % (PREFIX, self.subnet)

    router = sw

    def ns(self, i):
        return "%s%d-n%d" % (PREFIX, self.subnet, i)

    def dc_of(self, i):
        return self._where[i][0]

    def dc_name(self, i):
        return "dc%d" % self.dc_of(i)

    def nodes_in(self, d):
        return [i for i, (dd, _) in sorted(self._where.items()) if dd == d]

    def ip(self, i):
        d, k = self._where[i]
        return "198.18.%d.%d" % (self.subnet, 64 * (d - 1) + k)

    def dc_cidr(self, d):
        return "198.18.%d.%d/26" % (self.subnet, 64 * (d - 1))

    def router_ip(self, d):
        return "198.18.%d.%d" % (self.subnet, 64 * (d - 1) + 62)

    def host_ip(self):
        return "198.18.%d.61" % self.subnet

    def host_if(self):
        return "%s%dh" % (PREFIX, self.subnet)

    def seeds(self):
        """One seed per DC: the first node of each."""
        return ",".join(self.ip(self.nodes_in(d)[0]) for d in range(1, len(self.dcs) + 1))

    def node_args(self, i):
        return ["--dc", self.dc_name(i), "--rack", "rack1"]

    def exec_prefix(self, i):
        return ["ip", "netns", "exec", self.ns(i)]

    def router_prefix(self):
        return ["ip", "netns", "exec", self.sw()]

    def _conf_path(self):
        return os.path.join(self.workdir, "wanproxy.json")

    def _stats_path(self):
        return os.path.join(self.workdir, "wanproxy.stats")

    def delivered_bytes(self, timeout=10.0):
        """{dc number: payload bytes the proxy has delivered into that DC}
        since it started (asks it with SIGUSR1)."""
        path = self._stats_path()
        try:
            with open(path) as f:
                old = json.load(f)["seq"]
        except (OSError, ValueError, KeyError):
            old = 0
        self.proxy.send_signal(signal.SIGUSR1)
        deadline = time.time() + timeout
        while True:
            try:
                with open(path) as f:
                    st = json.load(f)
                if st["seq"] > old:
                    break
            except (OSError, ValueError, KeyError):
                pass
            if time.time() > deadline:
                raise RuntimeError("wanproxy wrote no stats in %.0f s" % timeout)
            time.sleep(0.02)
        out = {d: 0 for d in range(1, len(self.dcs) + 1)}
        for ip, n in st["delivered_bytes"].items():
            last = int(ip.rsplit(".", 1)[1])
            out[last // 64 + 1] = out.get(last // 64 + 1, 0) + n
        return out

    def proxy_log(self):
        return os.path.join(self.workdir, "wanproxy.log")

    # set-up --------------------------------------------------------------
    def setup(self):
        """Claims a subnet, builds namespaces, router, nft rules, shaping and
        starts the proxy; on failure tears down whatever was built."""
        os.makedirs(self.workdir, exist_ok=True)
        self.subnet = netmod.claim_subnet(self._hint)
        try:
            self._build_router()
            for i in sorted(self._where):
                self._build_node(i)
            self._build_host()
            self._load_nft()
            self._shape()
            self._start_proxy()
        except BaseException:
            self.teardown()
            raise

    def _build_router(self):
        rt = self.sw()
        _ip("-n", rt, "link", "set", "lo", "up")
        _run(self.router_prefix() + ["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"])
        # intra-DC frames must stay on the bridge, away from the ip hooks
        for k in ("bridge-nf-call-iptables", "bridge-nf-call-ip6tables",
                  "bridge-nf-call-arptables"):
            _run(self.router_prefix() + ["sysctl", "-q", "-w", "net.bridge.%s=0" % k],
                 check=False)
        for d in range(1, len(self.dcs) + 1):
            br = "br%d" % d
            _ip("-n", rt, "link", "add", br, "type", "bridge")
            _ip("-n", rt, "addr", "add", self.router_ip(d) + "/26", "dev", br)
            _ip("-n", rt, "link", "set", br, "up")

    def _build_node(self, i):
        rt, ns = self.sw(), self.ns(i)
        d = self.dc_of(i)
        _ip("netns", "add", ns)
        _ip("-n", rt, "link", "add", "p%d" % i, "type", "veth", "peer", "name", "eth0",
            "netns", ns)
        _ip("-n", rt, "link", "set", "p%d" % i, "master", "br%d" % d)
        _ip("-n", rt, "link", "set", "p%d" % i, "up")
        _ip("-n", ns, "link", "set", "lo", "up")
        _ip("-n", ns, "addr", "add", self.ip(i) + "/26", "dev", "eth0")
        _ip("-n", ns, "link", "set", "eth0", "up")
        _ip("-n", ns, "route", "add", "198.18.%d.0/24" % self.subnet, "via", self.router_ip(d))

    def _build_host(self):
        _ip("link", "add", self.host_if(), "type", "veth", "peer", "name", "ph",
            "netns", self.sw())
        _ip("-n", self.sw(), "link", "set", "ph", "master", "br1")
        _ip("-n", self.sw(), "link", "set", "ph", "up")
        _ip("addr", "add", self.host_ip() + "/26", "dev", self.host_if())
        _ip("link", "set", self.host_if(), "up")
        _ip("route", "add", "198.18.%d.0/24" % self.subnet, "via", self.router_ip(1))

    def nft_rules(self):
        redirect = []
        for d in range(1, len(self.dcs) + 1):
            c = self.dc_cidr(d)
            redirect.append("ip saddr %s ip daddr != %s ip daddr 198.18.%d.0/24 "
                            "meta l4proto tcp redirect to :%d"
                            % (c, c, self.subnet, PROXY_PORT))
        return """table ip wan {
  set cut { type ipv4_addr; flags interval; }
  chain raw_pre { type filter hook prerouting priority raw; policy accept;
    ip saddr @cut drop
    ip daddr @cut drop
  }
  chain raw_out { type filter hook output priority raw; policy accept;
    ip daddr @cut drop
  }
  chain nat_pre { type nat hook prerouting priority dstnat; policy accept;
    %s
  }
}
""" % "\n    ".join(redirect)

    def _load_nft(self):
        _run(self.router_prefix() + ["nft", "-f", "-"], inp=self.nft_rules())

    def _shape(self):
        if not self.rate:
            return
        for d in range(1, len(self.dcs) + 1):
            _run(self.router_prefix() + ["tc", "qdisc", "replace", "dev", "br%d" % d, "root",
                                         "tbf", "rate", str(self.rate), "burst", "32kb",
                                         "limit", "4mb"])

    def _write_conf(self):
        tmp = self._conf_path() + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"delay_ms": self.delay_ms, "jitter_ms": self.jitter_ms}, f)
        os.rename(tmp, self._conf_path())

    def _start_proxy(self):
        import db as dbmod
        self._write_conf()
        ready = os.path.join(self.workdir, "wanproxy.ready")
        try:
            os.unlink(ready)
        except OSError:
            pass
        log = open(self.proxy_log(), "a")
        self.proxy = dbmod.spawn(self.router_prefix() + [
            PY, os.path.join(HERE, "wanproxy.py"), "--port", str(PROXY_PORT),
            "--config", self._conf_path(), "--seed", str(self.seed), "--ready-file", ready,
            "--stats", self._stats_path()],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            preexec_fn=dbmod._pdeathsig, start_new_session=True)
        log.close()
        deadline = time.time() + 20
        while not os.path.exists(ready):
            if self.proxy.poll() is not None:
                raise RuntimeError("wanproxy exited with %s (see %s)"
                                   % (self.proxy.returncode, self.proxy_log()))
            if time.time() > deadline:
                raise RuntimeError("wanproxy not ready after 20 s (see %s)" % self.proxy_log())
            time.sleep(0.05)

    # run-time control ------------------------------------------------------
    def set_delay(self, delay_ms, jitter_ms=None):
        """Changes the one-way delay (and jitter) of the running proxy; new
        chunks get it, queued ones keep theirs."""
        self.delay_ms = float(delay_ms)
        if jitter_ms is not None:
            self.jitter_ms = float(jitter_ms)
        self._write_conf()
        if self.proxy is not None and self.proxy.poll() is None:
            self.proxy.send_signal(signal.SIGHUP)

    def cut(self, d):
        """Cuts DC d off from every other DC (and from the clients unless d
        is 1): its packets are dropped at the router, both ways.  Inside
        the DC the nodes still see each other."""
        if d in self.cut_dcs:
            return
        _run(self.router_prefix() + ["nft", "add", "element", "ip", "wan", "cut",
                                     "{ %s }" % self.dc_cidr(d)])
        self.cut_dcs.add(d)

    def heal_dc(self, d):
        if d not in self.cut_dcs:
            return
        _run(self.router_prefix() + ["nft", "delete", "element", "ip", "wan", "cut",
                                     "{ %s }" % self.dc_cidr(d)], check=False)
        self.cut_dcs.discard(d)

    def heal(self):
        for d in list(self.cut_dcs):
            self.heal_dc(d)
        for i in list(self.down_links):
            self.link_up(i)

    def link_down(self, i):
        _ip("-n", self.ns(i), "link", "set", "eth0", "down")
        self.down_links.add(i)

    def link_up(self, i):
        _ip("-n", self.ns(i), "link", "set", "eth0", "up", check=False)
        self.down_links.discard(i)

    def gate_clients(self, i, on):
        if on:
            _ip("-n", self.ns(i), "route", "add", "blackhole", self.host_ip() + "/32")
        else:
            _ip("-n", self.ns(i), "route", "del", "blackhole", self.host_ip() + "/32",
                check=False)

    def proxied_connections(self):
        """(src, dst) of every connection the proxy has accepted so far."""
        out = []
        try:
            with open(self.proxy_log()) as f:
                for ln in f:
                    p = ln.split()
                    if len(p) == 4 and p[0] == "conn" and p[2] == "->":
                        out.append((p[1], p[3]))
        except OSError:
            pass
        return out

    # teardown ----------------------------------------------------------------
    def teardown(self):
        if self.subnet is None:
            return
        try:
            if self.proxy is not None and self.proxy.poll() is None:
                self.proxy.kill()
                try:
                    self.proxy.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    pass
            self.proxy = None
            for p in self.procs:
                if p.poll() is None:
                    p.kill()
                p.wait(timeout=10)
                if p.stdout:
                    p.stdout.close()
            self.procs = []
            # anything else still running in the namespaces (echo servers of
            # a test, nodes the caller did not kill)
            for nm in [self.sw()] + [self.ns(i) for i in self._where]:
                for p in _ip("netns", "pids", nm, check=False).stdout.split():
                    try:
                        os.kill(int(p), signal.SIGKILL)
                    except (ValueError, OSError):
                        pass
            _ip("route", "del", "198.18.%d.0/24" % self.subnet, check=False)
            _ip("link", "del", self.host_if(), check=False)
            for i in self._where:
                _ip("netns", "del", self.ns(i), check=False)
            _ip("netns", "del", self.sw(), check=False)
            os.unlink(_owner_file(self.subnet))
        except Exception:
            pass
        self.subnet = None


# measuring the path ------------------------------------------------------------

ECHO_SERVER = r"""
import socket, sys, threading
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(64)
print("ready", flush=True)
def serve(c):
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    while True:
        b = c.recv(65536)
        if not b:
            break
        c.sendall(b)
    c.close()
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"""


def start_echo(wan, i, port=9999):
    """A TCP echo server on node i's address (in its namespace); returns
    the Popen (the caller kills it; teardown kills it too)."""
    import db as dbmod
    p = dbmod.spawn(wan.exec_prefix(i) + [PY, "-c", ECHO_SERVER, wan.ip(i), str(port)],
                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                    stdin=subprocess.DEVNULL, preexec_fn=dbmod._pdeathsig, text=True)
    wan.procs.append(p)
    if p.stdout.readline().strip() != "ready":
        raise RuntimeError("echo server on node %d did not start" % i)
    p.stdout.close()
    return p


ECHO_CLIENT = r"""
import socket, sys, time, json
ip, port, n, size, to = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
out = []
try:
    for _ in range(n):
        t = time.monotonic()
        c = socket.create_connection((ip, port), timeout=to)
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        msg = bytes((k * 7 + k // 251) & 255 for k in range(size))
        c.sendall(msg)
        got = bytearray()
        while len(got) < size:
            b = c.recv(65536)
            if not b:
                raise OSError("closed after %d of %d bytes" % (len(got), size))
            got += b
        out.append((time.monotonic() - t) * 1000.0)
        if bytes(got) != msg:
            raise ValueError("echo differs from what was sent (reordered or corrupted)")
        c.close()
    print(json.dumps({"rtt_ms": out}))
except Exception as e:
    print(json.dumps({"rtt_ms": out, "error": "%s: %s" % (type(e).__name__, e)}))
"""


def echo_rtt(wan, dst_i, src_i=None, n=5, size=64, port=9999, timeout=3.0):
    """Connect + send `size` bytes + read them back, n times, from node
    src_i's namespace (None: the host, i.e. the clients in dc1) to the echo
    server on node dst_i.  Returns (list of ms, error or None)."""
    argv = [PY, "-c", ECHO_CLIENT, wan.ip(dst_i), str(port), str(n), str(size), str(timeout)]
    if src_i is not None:
        argv = wan.exec_prefix(src_i) + argv
    r = _run(argv, check=False)
    try:
        res = json.loads(r.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return [], "echo client: %s" % (r.stderr.strip()[-300:] or "no output")
    return res["rtt_ms"], res.get("error")


def cql_rtt(ip, n=5, timeout=3.0):
    """Round trips to a basaltd's CQL port from the host: connect, send a
    protocol v4 OPTIONS frame, read the SUPPORTED reply.  List of ms."""
    out = []
    for _ in range(n):
        t = time.monotonic()
        c = socket.create_connection((ip, 9042), timeout=timeout)
        try:
            c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            c.sendall(bytes([0x04, 0, 0, 1, 0x05, 0, 0, 0, 0]))
            hdr = b""
            while len(hdr) < 9:
                b = c.recv(9 - len(hdr))
                if not b:
                    raise OSError("connection closed")
                hdr += b
            body = int.from_bytes(hdr[5:9], "big")
            while body > 0:
                b = c.recv(min(body, 65536))
                if not b:
                    raise OSError("connection closed")
                body -= len(b)
        finally:
            c.close()
        out.append((time.monotonic() - t) * 1000.0)
    return out


def median(xs):
    s = sorted(xs)
    return s[len(s) // 2] if s else None
