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
  member      membership: one topology change an operator makes, on a
              node other than the seed, the kind drawn from the seed:
              - decommission: POST /decommission (it streams its ranges
                to their new owners, announces LEFT and exits 0); at heal
                its data directory is wiped and it joins again as a new
                node (new host id, tokens from the cluster's allocator:
                no --initial-token, see F7 in docs/JEPSEN.md), streaming
                its ranges back;
              - removenode: kill -9 the node, then POST /removenode?host=
                its host id through another live node (as `basalt-admin
                removenode` does) and wait until that node's /streams
                state is normal again (its ranges copied from the other
                replicas); at heal wiped and joined again as a new node;
              - replace: kill -9 the node, wipe its data directory and
                start it again with replace_address_first_boot = its own
                address (the namespaces fix each node's address): a new
                host id takes the dead node's tokens and streams its
                ranges while the ring keeps the dead host id, down, so no
                read reaches the replacement before it streamed.
              Every heal waits until the node is NORMAL (MEMBER_WAIT_S).
              A change the cluster refuses (409: another change in
              progress; a node still down after an earlier fault) is
              recorded with "refused" and the node is brought back as it
              was (a killed node restarts); a removal that failed is run
              again at heal ("removenode-again"), a replacement that
              exited is wiped and started again ("replace-retry").  The
              heals record "rejoined" / "replaced" with the new host id
              and the ranges and rows its bootstrap streamed.  Combined
              (`--nemesis member,partition,kill`), one fault is drawn per
              period and healed before the next: a change never runs
              during a partition, but may follow one before gossip has
              seen every node up again (then it may be refused).
  none        no faults

final_heal() is what the runner calls after the workload: heals the
network, resumes paused nodes, restarts killed ones, completes the
membership change in progress and restarts skewed ones with skew 0; it
then waits until every node reports NORMAL (recorded as "all-normal").
"""

import random
import shutil
import threading
import time

MIXED = ["partition", "isolate", "bridge", "ring", "kill", "pause", "skew"]
ALL = MIXED + ["linkdown", "member", "none"]
MEMBER_WAIT_S = 180   # a decommission, removal, join or replace must finish within this
MEMBER_CHANGES = ["decommission", "removenode", "replace"]


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
        self.left = set()      # decommissioned/removed by "member", re-added at heal
        self.removing = {}     # node -> (coordinator, host id): removal to finish at heal
        self.replacing = set() # replaced by "member": wait for NORMAL at heal
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
            kind = rng.choice(MEMBER_CHANGES)
            x = rng.choice([i for i in nodes if i != 1])
            if kind == "decommission":
                return self._decommission(x)
            if kind == "removenode":
                return self._removenode(x, rng.choice([i for i in nodes if i != x]))
            return self._replace(x)
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

    def _host_id(self, x):
        try:
            return (self.db.nodes[x].admin("/info") or {}).get("host_id")
        except Exception:
            return None

    def _streamed(self, x):
        """Ranges and rows node x's last bootstrap streamed (its /streams)."""
        try:
            st = self.db.nodes[x].admin("/streams") or {}
        except Exception:
            return None
        sess = (st.get("streams") or {}).get("sessions") or []
        return {k: sum(int(s.get(k) or 0) for s in sess) for k in ("ranges_done", "rows")}

    def _sees_down(self, c, x, timeout=30.0):
        """Waits until node c sees node x down; True when it does."""
        ip = self.db.nodes[x].ip
        deadline = time.time() + timeout
        while time.time() < deadline:
            ups = self.db.up_view(c)
            if ups is not None and ip not in ups:
                return True
            time.sleep(0.5)
        return False

    def _post_removenode(self, c, host):
        """POST /removenode through node c and wait until c's /streams state
        is no longer "removing".  None on success, else why it failed."""
        cn = self.db.nodes[c]
        try:
            cn.admin("/removenode?host=" + host, method="POST", timeout=10)
        except Exception as e:   # 409: another change; 404: not a member
            return "refused: %s" % e
        deadline = time.time() + MEMBER_WAIT_S
        state = "removing"
        while time.time() < deadline:
            try:
                st = cn.admin("/streams")
                state = st.get("state")
            except Exception as e:
                st, state = {}, "unknown (%s)" % e
            if state == "normal":
                return None
            if state == "removenode_failed":
                return "failed: %s" % (st.get("error") or st)
            time.sleep(0.5)
        return "not complete after %d s (state %s)" % (MEMBER_WAIT_S, state)

    def _removenode(self, x, c):
        """kill -9 node x and remove it through node c."""
        n = self.db.nodes[x]
        if not n.alive() or not self.db.nodes[c].alive():
            return {"removenode": x, "via": c, "skipped": "not running"}
        host = self._host_id(x)
        n.kill()
        if host is None:
            self.killed.add(x)
            return {"removenode": x, "via": c, "refused": "no host id from /info"}
        if not self._sees_down(c, x):
            self.killed.add(x)
            return {"removenode": x, "via": c, "host_id": host,
                    "refused": "node %d still saw it up after 30 s" % c}
        why = self._post_removenode(c, host)
        if why and why.startswith("refused"):
            # nothing started: the node is a member still, restarted at heal
            self.killed.add(x)
            return {"removenode": x, "via": c, "host_id": host, "refused": why}
        if why:
            # it started and failed (the node stays LEAVING): run again at heal
            self.removing[x] = (c, host)
            return {"removenode": x, "via": c, "host_id": host, "failed": why}
        self.left.add(x)
        return {"removed": x, "via": c, "host_id": host}

    def _replace(self, x):
        """kill -9 node x, wipe it and start it as its own replacement."""
        n = self.db.nodes[x]
        if not n.alive():
            return {"replace": x, "skipped": "not running"}
        old = self._host_id(x)
        n.kill()
        shutil.rmtree(n.data, ignore_errors=True)
        n.replace_first = n.join_new = True
        self.replacing.add(x)
        try:
            n.start(wait=True)
        except Exception as e:   # refused at start (exits): retried at heal
            return {"replace": x, "old_host_id": old, "refused": str(e)}
        return {"replaced": x, "old_host_id": old}

    def _wait_normal(self, x, what):
        n = self.db.nodes[x]
        deadline = time.time() + MEMBER_WAIT_S
        state = None
        while time.time() < deadline:
            if not n.alive():
                return "exited with %s" % (n.proc.returncode if n.proc else None)
            try:
                state = n.admin("/streams").get("state")
            except Exception:
                state = None
            if state == "normal":
                return None
            time.sleep(0.5)
        raise RuntimeError("node %d not NORMAL %d s after %s (state %s, see %s)"
                           % (x, MEMBER_WAIT_S, what, state, n.log))

    def _heal_replace(self, x):
        """Waits until the replacement is NORMAL; one that exited (refused,
        or its bootstrap failed) is wiped and started as the replacement
        again, until MEMBER_WAIT_S."""
        n = self.db.nodes[x]
        deadline = time.time() + MEMBER_WAIT_S
        while True:
            if not n.alive():
                shutil.rmtree(n.data, ignore_errors=True)
                n.replace_first = n.join_new = True
                try:
                    n.start(wait=True)
                except Exception as e:
                    self.record({"process": "nemesis", "type": "info", "f": "replace-retry",
                                 "value": {"node": x, "error": str(e)}})
                    if time.time() > deadline:
                        raise RuntimeError("node %d: the replacement did not start (see %s)"
                                           % (x, n.log))
                    time.sleep(2)
                    continue
            why = self._wait_normal(x, "its replacement started")
            if why is None:
                n.replace_first = n.join_new = False
                self.record({"process": "nemesis", "type": "info", "f": "replaced",
                             "value": {"node": x, "host_id": self._host_id(x),
                                       "streamed": self._streamed(x)}})
                return
            self.record({"process": "nemesis", "type": "info", "f": "replace-retry",
                         "value": {"node": x, "error": why}})
            if time.time() > deadline:
                raise RuntimeError("node %d: the replacement %s (see %s)" % (x, why, n.log))

    def _heal_remove(self, x, c, host):
        """Runs a removal that failed again (through c, or another live
        node) until it completes; the node then joins again as a new one."""
        deadline = time.time() + MEMBER_WAIT_S
        while True:
            if not self.db.nodes[c].alive():
                c = min(i for i in self.db.nodes if i != x and self.db.nodes[i].alive())
            why = self._post_removenode(c, host)
            self.record({"process": "nemesis", "type": "info", "f": "removenode-again",
                         "value": {"node": x, "via": c, "error": why}})
            if why is None:
                self.left.add(x)
                return
            if time.time() > deadline:
                raise RuntimeError("node %d: removenode through node %d: %s" % (x, c, why))
            time.sleep(2)

    def _rejoin(self, x):
        """A decommissioned node's directory cannot come back: wipe it and
        join as a new node; wait until it is NORMAL."""
        n = self.db.nodes[x]
        shutil.rmtree(n.data, ignore_errors=True)
        n.join_new = True
        n.start(wait=True)
        deadline = time.time() + MEMBER_WAIT_S
        state = None
        retries = 0
        while time.time() < deadline:
            if not n.alive():
                # a bootstrap fails when a source is convicted mid-stream;
                # the node exits 1 and, as the operator is told, is started
                # again (it keeps the ranges that arrived)
                if retries < 3 and "bootstrap failed" in _tail(n.log):
                    retries += 1
                    self.record({"process": "nemesis", "type": "info",
                                 "f": "rejoin-retry", "value": x})
                    n.start(wait=True)
                    continue
                raise RuntimeError("node %d exited while joining again (see %s)" % (x, n.log))
            try:
                state = n.admin("/streams").get("state")
            except Exception:
                state = None
            if state == "normal":
                n.join_new = False
                self.record({"process": "nemesis", "type": "info", "f": "rejoined",
                             "value": {"node": x, "host_id": self._host_id(x),
                                       "streamed": self._streamed(x)}})
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
        for v in sorted(self.replacing):
            self._heal_replace(v)
        self.replacing.clear()
        for v, (c, host) in sorted(self.removing.items()):
            self._heal_remove(v, c, host)
        self.removing.clear()
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
            # a membership heal in progress takes up to MEMBER_WAIT_S per
            # step: final_heal must not run beside it
            self.thread.join(timeout=3 * MEMBER_WAIT_S if "member" in self.names else 60)

    def final_heal(self):
        self._heal()
        for n in self.db.nodes.values():
            if n.skew_us:
                n.kill()
                n.skew_us = 0
                n.start(wait=True)
        self.record({"process": "nemesis", "type": "info", "f": "final-heal", "value": None})
        if "member" in self.names:
            self._wait_all_normal()

    def _wait_all_normal(self):
        """After a membership run every node must be NORMAL, and each must
        see all the others as NORMAL members (no LEAVING or JOINING left)."""
        deadline = time.time() + MEMBER_WAIT_S
        seen = {}
        while time.time() < deadline:
            seen = {}
            for i, n in sorted(self.db.nodes.items()):
                try:
                    st = n.admin("/status")
                    seen[i] = sorted("%s %s%s" % (d.get("address"), d.get("status"), d.get("state"))
                                     for d in st.get("nodes", []))
                    seen[i].append("self " + str(n.admin("/streams").get("state")))
                except Exception as e:
                    seen[i] = ["unreachable: %s" % e]
            ok = all(len(v) == len(self.db.nodes) + 1 and v[-1] == "self normal"
                     and all(e.endswith(" UN") for e in v[:-1]) for v in seen.values())
            if ok:
                self.record({"process": "nemesis", "type": "info", "f": "all-normal",
                             "value": True})
                return
            time.sleep(1)
        self.record({"process": "nemesis", "type": "info", "f": "all-normal",
                     "value": {str(k): v for k, v in seen.items()}})
        raise RuntimeError("not every node NORMAL %d s after the final heal: %s"
                           % (MEMBER_WAIT_S, seen))


def _tail(path, size=65536):
    """The last `size` bytes of a log file, as text ('' when unreadable)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            f.seek(max(0, f.tell() - size))
            return f.read().decode(errors="replace")
    except OSError:
        return ""


def make_rng(seed):
    return random.Random(seed)
