"""
test_wan.py - the emulated WAN of jepsen/wan.py on its own (no basaltd):
two DCs of two network namespaces each behind a router namespace whose
nftables redirect inter-DC TCP to the delay proxy (jepsen/wanproxy.py).

Checks, with TCP echo servers in the node namespaces:
  - inter-DC round trips (connect + echo) take at least twice the
    configured one-way delay, in both directions and from the clients'
    host namespace (which sits in dc1); intra-DC connections never go
    through the proxy (its connection log); the RTTs are printed;
  - a cut DC is unreachable from the other DC while its nodes still reach
    each other; heal restores the path (with its delay); a delay change on
    the running proxy applies;
  - jitter never reorders bytes (a 200 kB echo comes back identical);
  - the tbf bandwidth limit: 1 MB takes at least (size - burst) / rate;
  - teardown, and net.cleanup_stale() for a run whose owner died, remove
    every namespace and the proxy process.

Lower bounds only: a loaded machine makes things slower, never faster.
Fails (does not skip) when not root or nft/ip netns are unusable.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

import harness

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "jepsen"))
import net as netmod   # noqa: E402
import wan             # noqa: E402


def netns_list():
    r = subprocess.run(["ip", "netns", "list"], stdout=subprocess.PIPE, text=True)
    return [ln.split()[0] for ln in r.stdout.splitlines() if ln.split()]


class WanCase(unittest.TestCase):
    def setUp(self):
        ok, why = wan.available()
        if not ok:
            self.fail("cannot build the emulated WAN: " + why)
        self.dir = tempfile.mkdtemp(prefix="basalt-wan-")
        self.w = None

    def tearDown(self):
        if self.w is not None:
            self.w.teardown()
        shutil.rmtree(self.dir, ignore_errors=True)

    def bed(self, dcs=(2, 2), **kw):
        self.w = wan.WanNet(list(dcs), self.dir, hint=os.getpid(), **kw)
        self.w.setup()
        for i in range(1, self.w.n + 1):
            wan.start_echo(self.w, i)
        return self.w

    def rtt(self, dst, src=None, n=3, **kw):
        ms, err = wan.echo_rtt(self.w, dst, src_i=src, n=n, **kw)
        self.assertIsNone(err, "echo %s -> node %d" % (src or "host", dst))
        self.assertEqual(len(ms), n)
        print("rtt %-6s -> n%d (%s): %s ms" % ("host" if src is None else "n%d" % src, dst,
                                               self.w.dc_name(dst),
                                               " ".join("%.1f" % x for x in ms)), flush=True)
        return ms


class TestWan(WanCase):
    def test_delay_cut_heal(self):
        w = self.bed(delay_ms=40)
        # intra-DC: switched, never proxied
        self.rtt(2, src=1)
        self.rtt(4, src=3)
        self.rtt(1)                    # the clients are in dc1
        dsts = {d for _, d in w.proxied_connections()}
        for i in (1, 2, 4):
            self.assertNotIn("%s:9999" % w.ip(i), dsts)
        # inter-DC, both directions and from the clients
        for src, dst in ((1, 3), (4, 2), (None, 4)):
            for ms in self.rtt(dst, src=src):
                self.assertGreaterEqual(ms, 80.0)
        dsts = {d for _, d in w.proxied_connections()}
        for i in (2, 3, 4):
            self.assertIn("%s:9999" % w.ip(i), dsts)

        w.cut(2)
        for src, dst in ((1, 3), (None, 4), (3, 1)):
            ms, err = wan.echo_rtt(w, dst, src_i=src, n=1, timeout=2)
            self.assertEqual(ms, [], "reached node %d across a cut" % dst)
            self.assertIsNotNone(err)
        self.rtt(4, src=3)             # dc2 still talks to itself
        self.rtt(2, src=1)             # and dc1 to itself

        w.heal()
        for ms in self.rtt(3, src=1):
            self.assertGreaterEqual(ms, 80.0)
        w.set_delay(100)
        deadline = time.time() + 30
        while True:    # the proxy applies the new delay once it has the SIGHUP
            ms = self.rtt(3, src=2, n=1)
            if ms[0] >= 200.0 or time.time() > deadline:
                break
            time.sleep(0.2)
        for ms in self.rtt(3, src=2):
            self.assertGreaterEqual(ms, 200.0)

    def test_jitter_keeps_order(self):
        self.bed(dcs=(1, 1), delay_ms=20, jitter_ms=15)
        for ms in self.rtt(2, src=1, n=2, size=200000):
            self.assertGreaterEqual(ms, 2 * (20 - 15))
        self.rtt(1, src=2, n=10, size=64)

    def test_bandwidth(self):
        self.bed(dcs=(1, 1), rate="4mbit")
        size = 1 << 20
        t = time.monotonic()
        self.rtt(2, src=1, n=1, size=size, timeout=30)
        took = time.monotonic() - t
        print("1 MiB echo over 4mbit links: %.2f s (%.2f Mbit/s each way)"
              % (took, size * 8 / took / 1e6), flush=True)
        # 4 Mbit/s = 500 kB/s; tbf lets a 32 kB burst through at once
        self.assertGreaterEqual(took, (size - 32 * 1024) / 500e3)

    def test_teardown_and_stale_cleanup(self):
        w = self.bed(dcs=(1, 1), delay_ms=5)
        s = w.subnet
        proxy = w.proxy
        mine = [nm for nm in netns_list() if nm.startswith("bj%d-" % s)]
        self.assertEqual(len(mine), 3)
        # the runner dies without teardown: its owner pid is gone
        dead = subprocess.Popen(["true"])
        dead.wait()
        with open(netmod._owner_file(s), "w") as f:
            f.write(str(dead.pid))
        self.assertIn(s, netmod.cleanup_stale())
        self.assertEqual([nm for nm in netns_list() if nm.startswith("bj%d-" % s)], [])
        proxy.wait(timeout=10)         # killed by the cleanup, with the echo servers
        for p in w.procs:
            p.wait(timeout=10)
        w.procs = []
        self.assertFalse(os.path.exists("/sys/class/net/bj%dh" % s))
        # and a normal teardown of a fresh bed leaves nothing either
        w.subnet = None
        w = self.bed(dcs=(1, 2))
        s = w.subnet
        proxy = w.proxy
        w.teardown()
        self.assertIsNotNone(proxy.poll())
        self.assertEqual([nm for nm in netns_list() if nm.startswith("bj%d-" % s)], [])
        self.assertFalse(os.path.exists(netmod._owner_file(s)))


if __name__ == "__main__":
    harness.main()
