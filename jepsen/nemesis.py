"""
nemesis.py - the faults, on a schedule drawn from the run's seed.

The nemesis thread alternates: `interval` seconds quiet, then one fault
for `interval` seconds, then heals it; it stops after the run's time.
Every start and heal is an op in the history (process "nemesis", f =
"start"/"stop", value = what was done), so a finding can be replayed: the
same --seed gives the same sequence of faults and targets.

Faults (names accepted by --nemesis, comma-separated; "mixed" = all the
ones marked *):
  partition*  random halves (2|3 of 5): symmetric blackhole routes
  isolate*    one node cut from every other node (clients still reach it)
  bridge*     two halves that both still see one bridge node
  ring*       majorities ring: nodes in a random circle, each sees itself
              and its neighbour on each side (3 of 5, a majority); no two
              nodes see the same majority
  kill*       kill -9 one or two nodes; restarted at heal
  pause*      SIGSTOP one node; SIGCONT at heal
  skew*       restart one node with clock_skew_us = +-(100 ms .. 5 s);
              the skew stays until the final heal restarts it at 0
  linkdown    `ip link set eth0 down` on one node (cuts clients too)
  member      membership: one node other than the seed decommissions
              (POST /decommission: it streams its ranges to their new
              owners, announces LEFT and exits 0); at heal its data
              directory is wiped and it joins again as a new node (new
              host id, the same tokens), streaming its ranges back, and
              the heal waits until it is NORMAL
  none        no faults

final_heal() is what the runner calls after the workload: heals the
network, resumes paused nodes, restarts killed ones and restarts skewed
ones with skew 0.
"""

import random
import shutil
import threading
import time

MIXED = ["partition", "isolate", "bridge", "ring", "kill", "pause", "skew"]
ALL = MIXED + ["linkdown", "member", "none"]
MEMBER_WAIT_S = 180   # a decommission or a join must finish within this


def parse(spec):
    names = []
    for s in spec.split(","):
        s = s.strip()
        if s == "mixed":
            names.extend(MIXED)
        elif s in ALL:
            names.append(s)
        else:
            raise ValueError("unknown nemesis %r (known: %s, mixed)" % (s, ", ".join(ALL)))
    return names


def _complete(a, b):
    """Symmetric grudge separating node sets a and b."""
    g = {}
    for x in a:
        g.setdefault(x, set()).update(b)
    for y in b:
        g.setdefault(y, set()).update(a)
    return g


class Nemesis(object):
    def __init__(self, names, net, db, rng, record, interval=8.0):
        self.names = names
        self.net = net
        self.db = db
        self.rng = rng
        self.record = record   # record(dict) appends to the history
        self.interval = interval
        self.stop_ev = threading.Event()
        self.thread = None
        self.active = None
        self.killed = set()
        self.left = set()      # decommissioned by "member", re-added at heal
        self.error = None

    # faults --------------------------------------------------------------
    def _start(self, name):
        nodes = sorted(self.db.nodes)
        rng = self.rng
        if name == "none":
            return None
        if name == "partition":
            sh = nodes[:]
            rng.shuffle(sh)
            a, b = sorted(sh[:len(sh) // 2]), sorted(sh[len(sh) // 2:])
            self.net.set_grudge(_complete(a, b))
            return {"halves": [a, b]}
        if name == "isolate":
            x = rng.choice(nodes)
            rest = [n for n in nodes if n != x]
            self.net.set_grudge(_complete([x], rest))
            return {"isolated": x}
        if name == "bridge":
            sh = nodes[:]
            rng.shuffle(sh)
            mid = len(sh) // 2
            br, a, b = sh[mid], sorted(sh[:mid]), sorted(sh[mid + 1:])
            self.net.set_grudge(_complete(a, b))
            return {"bridge": br, "halves": [a, b]}
        if name == "ring":
            sh = nodes[:]
            rng.shuffle(sh)
            n = len(sh)
            see = n // 2   # 2 for 5 nodes: one neighbour on each side
            g = {}
            for i, x in enumerate(sh):
                vis = {sh[(i + d) % n] for d in range(-(see // 2), see // 2 + 1)}
                g[x] = set(sh) - vis
            # make it symmetric
            for x in list(g):
                for y in g[x]:
                    g.setdefault(y, set()).add(x)
            self.net.set_grudge(g)
            return {"order": sh, "drops": {str(k): sorted(v) for k, v in g.items()}}
        if name == "kill":
            k = rng.choice([1, 2])
            victims = sorted(rng.sample(nodes, k))
            for v in victims:
                self.db.nodes[v].kill()
                self.killed.add(v)
            return {"killed": victims}
        if name == "pause":
            x = rng.choice(nodes)
            self.db.nodes[x].pause()
            return {"paused": x}
        if name == "skew":
            x = rng.choice(nodes)
            us = rng.choice([-1, 1]) * rng.randint(100000, 5000000)
            n = self.db.nodes[x]
            n.kill()
            n.skew_us = us
            n.start(wait=True)
            return {"node": x, "clock_skew_us": us}
        if name == "member":
            return self._decommission(rng.choice([i for i in nodes if i != 1]))
        if name == "linkdown":
            x = rng.choice(nodes)
            self.net.link_down(x)
            return {"link_down": x}
        raise ValueError(name)

    def _decommission(self, x):
        n = self.db.nodes[x]
        if not n.alive():
            return {"decommission": x, "skipped": "not running"}
        try:
            n.admin("/decommission", method="POST", timeout=10)
        except Exception as e:   # refused (409: another change) or unreachable
            return {"decommission": x, "refused": str(e)}
        deadline = time.time() + MEMBER_WAIT_S
        while n.alive() and time.time() < deadline:
            time.sleep(0.5)
        if n.alive():
            raise RuntimeError("node %d did not finish its decommission in %d s (see %s)"
                               % (x, MEMBER_WAIT_S, n.log))
        rc = n.proc.returncode
        n.proc = None
        self.left.add(x)
        if rc != 0:
            raise RuntimeError("node %d exited %s after its decommission (see %s)" % (x, rc, n.log))
        return {"decommissioned": x}

    def _rejoin(self, x):
        """A decommissioned node's directory cannot come back: wipe it and
        join as a new node; wait until it is NORMAL."""
        n = self.db.nodes[x]
        shutil.rmtree(n.data, ignore_errors=True)
        n.start(wait=True)
        deadline = time.time() + MEMBER_WAIT_S
        state = None
        while time.time() < deadline:
            if not n.alive():
                raise RuntimeError("node %d exited while joining again (see %s)" % (x, n.log))
            try:
                state = n.admin("/streams").get("state")
            except Exception:
                state = None
            if state == "normal":
                self.record({"process": "nemesis", "type": "info", "f": "rejoined",
                             "value": x})
                return
            time.sleep(0.5)
        raise RuntimeError("node %d not NORMAL %d s after joining again (state %s)"
                           % (x, MEMBER_WAIT_S, state))

    def _heal(self):
        self.net.heal()
        for n in self.db.nodes.values():
            n.resume()
        for v in sorted(self.killed):
            self.db.nodes[v].start(wait=True)
        self.killed.clear()
        for v in sorted(self.left):
            self._rejoin(v)
        self.left.clear()

    # schedule ------------------------------------------------------------
    def _run(self, until):
        try:
            while not self.stop_ev.wait(self.interval) and time.time() < until:
                name = self.rng.choice(self.names)
                v = self._start(name)
                self.record({"process": "nemesis", "type": "info", "f": "start",
                             "value": {"fault": name, "detail": v}})
                self.stop_ev.wait(min(self.interval, max(0.0, until - time.time())))
                self._heal()
                self.record({"process": "nemesis", "type": "info", "f": "stop", "value": name})
        except Exception as e:   # report, the runner fails the test
            self.error = "%s: %s" % (type(e).__name__, e)
            self.record({"process": "nemesis", "type": "info", "f": "error", "value": self.error})

    def start(self, duration):
        until = time.time() + duration
        self.thread = threading.Thread(target=self._run, args=(until,), daemon=True)
        self.thread.start()

    def stop(self):
        self.stop_ev.set()
        if self.thread:
            self.thread.join(timeout=60)

    def final_heal(self):
        self._heal()
        for n in self.db.nodes.values():
            if n.skew_us:
                n.kill()
                n.skew_us = 0
                n.start(wait=True)
        self.record({"process": "nemesis", "type": "info", "f": "final-heal", "value": None})


def make_rng(seed):
    return random.Random(seed)
