"""
test_jepsen_checkers.py - the Jepsen checkers and the nemesis schedule on
synthetic inputs (no cluster, no root needed): each checker must flag the
violation it exists for (lost and unexpected set elements, a stale
register read, a wrong final register value, a resurrected row, an
acknowledged time-series point missing, unknown, duplicated or changed) and
accept a clean history; the fault schedule must be a pure function of
the seed.
"""
import itertools
import os
import random
import sys
import unittest

import harness

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "jepsen"))

import nemesis  # noqa: E402
import workloads  # noqa: E402


def hist(*ops):
    out = []
    for t, (p, typ, f, v) in enumerate(ops):
        out.append({"process": p, "type": typ, "f": f, "value": v, "time": t})
    return out


class TestSetChecker(unittest.TestCase):
    def h(self):
        return hist((0, "invoke", "add", 1), (0, "ok", "add", 1),
                    (1, "invoke", "add", 2), (1, "info", "add", 2),
                    (2, "invoke", "add", 3), (2, "ok", "add", 3),
                    (3, "invoke", "add", 4), (3, "fail", "add", 4))

    def test_clean(self):
        r = workloads.SetWorkload().check(self.h(), {"reads": {"QUORUM": [1, 3], "ALL": [1, 2, 3]}})
        self.assertTrue(r["valid"])
        self.assertEqual(r["ALL"]["recovered_indeterminate"], 1)
        self.assertEqual(r["acknowledged"], 2)

    def test_lost_listed(self):
        r = workloads.SetWorkload().check(self.h(), {"reads": {"QUORUM": [1], "ALL": [1, 3]}})
        self.assertFalse(r["valid"])
        self.assertEqual(r["QUORUM"]["lost"], [3])
        self.assertEqual(r["ALL"]["lost"], [])

    def test_unexpected_listed(self):
        r = workloads.SetWorkload().check(self.h(), {"reads": {"QUORUM": [1, 3, 99], "ALL": [1, 3]}})
        self.assertFalse(r["valid"])
        self.assertEqual(r["QUORUM"]["unexpected"], [99])

    def test_failed_final_read_is_invalid(self):
        r = workloads.SetWorkload().check(self.h(), {"reads": {"QUORUM": [1, 3]},
                                                    "errors": {"ALL": "timeout"}})
        self.assertFalse(r["valid"])
        self.assertEqual(r["ALL"]["error"], "timeout")


class TestRegisterChecker(unittest.TestCase):
    def wl(self):
        return workloads.RegisterWorkload(lambda i: 0)

    def fin(self, *rows):
        return {"reads": {"QUORUM": list(rows), "ALL": list(rows)}}

    def test_stale_read(self):
        h = hist((0, "invoke", "write", [1, 10, None]), (0, "ok", "write", [1, 10, 100]),
                 (0, "invoke", "write", [1, 11, None]), (0, "ok", "write", [1, 11, 200]),
                 (1, "invoke", "read", [1, None, None]), (1, "ok", "read", [1, 10, 100]))
        r = self.wl().check(h, self.fin([1, 11, 200]))
        self.assertFalse(r["valid"])
        self.assertEqual(r["stale_reads"], 1)
        self.assertEqual(r["stale"][0]["expected_at_least"], [200, 11])

    def test_concurrent_read_may_see_old(self):
        # the read was invoked before the newer write completed: not stale
        h = hist((0, "invoke", "write", [1, 10, None]), (0, "ok", "write", [1, 10, 100]),
                 (0, "invoke", "write", [1, 11, None]),
                 (1, "invoke", "read", [1, None, None]),
                 (0, "ok", "write", [1, 11, 200]),
                 (1, "ok", "read", [1, 10, 100]))
        r = self.wl().check(h, self.fin([1, 11, 200]))
        self.assertTrue(r["valid"], r)

    def test_read_value_must_match_its_timestamp(self):
        # the timestamp is right but the value is not the one written with it
        h = hist((0, "invoke", "write", [1, 10, None]), (0, "ok", "write", [1, 10, 100]),
                 (1, "invoke", "read", [1, None, None]), (1, "ok", "read", [1, 99, 100]))
        r = self.wl().check(h, self.fin([1, 10, 100]))
        self.assertFalse(r["valid"])
        self.assertEqual(r["impossible_reads"], 1)

    def test_read_of_failed_or_future_write(self):
        h = hist((0, "invoke", "write", [1, 10, None]), (0, "fail", "write", [1, 10, 100]),
                 (1, "invoke", "read", [1, None, None]), (1, "ok", "read", [1, 10, 100]))
        self.assertEqual(self.wl().check(h, self.fin())["impossible_reads"], 1)
        h = hist((1, "invoke", "read", [1, None, None]), (1, "ok", "read", [1, 10, 100]),
                 (0, "invoke", "write", [1, 10, None]), (0, "info", "write", [1, 10, 100]))
        r = self.wl().check(h, self.fin([1, 10, 100]))
        self.assertEqual(r["impossible_reads"], 1)
        self.assertIn("after the read completed", r["impossible"][0]["why"])

    def test_indeterminate_write_may_be_read_then_must_stay(self):
        h = hist((0, "invoke", "write", [1, 10, None]), (0, "ok", "write", [1, 10, 100]),
                 (2, "invoke", "write", [1, 12, None]), (2, "info", "write", [1, 12, 300]),
                 (1, "invoke", "read", [1, None, None]), (1, "ok", "read", [1, 12, 300]),
                 (3, "invoke", "read", [1, None, None]), (3, "ok", "read", [1, 10, 100]))
        r = self.wl().check(h, self.fin([1, 12, 300]))
        self.assertFalse(r["valid"])
        self.assertEqual(r["nonmonotonic_reads"], 1)
        self.assertEqual(r["nonmonotonic"][0]["expected_at_least"], [300, 12])
        # concurrent reads may disagree
        h2 = h[:6] + [{"process": 3, "type": "invoke", "f": "read", "value": [1, None, None],
                       "time": 4.5}] + [dict(h[7], time=8)]
        h2.sort(key=lambda o: o["time"])
        self.assertTrue(self.wl().check(h2, self.fin([1, 12, 300]))["valid"])

    def test_skewed_write_can_be_read_while_higher_one_is_unfinished_for_the_reader(self):
        # w' (ts 200) is acknowledged while the read is running, then w
        # (ts 100) is written: the read may sample one replica before w'
        # and another after w, so returning w is legal (not linearizable
        # as a max-register, but what LWW quorum reads can do)
        h = hist((2, "invoke", "read", [1, None, None]),
                 (0, "invoke", "write", [1, 11, None]), (0, "ok", "write", [1, 11, 200]),
                 (1, "invoke", "write", [1, 10, None]), (1, "ok", "write", [1, 10, 100]),
                 (2, "ok", "read", [1, 10, 100]))
        self.assertTrue(self.wl().check(h, self.fin([1, 11, 200]))["valid"])

    def test_final_must_be_highest_version(self):
        h = hist((0, "invoke", "write", [1, 10, None]), (0, "ok", "write", [1, 10, 300]),
                 (1, "invoke", "write", [1, 11, None]), (1, "ok", "write", [1, 11, 200]))
        # LWW: the write acknowledged last (11) has the lower timestamp and loses
        self.assertTrue(self.wl().check(h, self.fin([1, 10, 300]))["valid"])
        r = self.wl().check(h, self.fin([1, 11, 200]))
        self.assertFalse(r["valid"])
        self.assertEqual(r["final_wrong"][0]["expected_at_least"], [300, 10])
        # checked at QUORUM too, not only at ALL
        r = self.wl().check(h, {"reads": {"QUORUM": [[1, 11, 200]], "ALL": [[1, 10, 300]]}})
        self.assertFalse(r["valid"])
        self.assertEqual([b["cl"] for b in r["final_wrong"]], ["QUORUM"])
        # a timestamp tie goes to the greater value
        h = hist((0, "invoke", "write", [1, 10, None]), (0, "ok", "write", [1, 10, 300]),
                 (1, "invoke", "write", [1, 11, None]), (1, "ok", "write", [1, 11, 300]))
        self.assertTrue(self.wl().check(h, self.fin([1, 11, 300]))["valid"])
        self.assertFalse(self.wl().check(h, self.fin([1, 10, 300]))["valid"])

    def test_final_must_not_go_below_a_read(self):
        h = hist((2, "invoke", "write", [1, 12, None]), (2, "info", "write", [1, 12, 300]),
                 (1, "invoke", "read", [1, None, None]), (1, "ok", "read", [1, 12, 300]))
        self.assertTrue(self.wl().check(h, self.fin([1, 12, 300]))["valid"])
        r = self.wl().check(h, self.fin())
        self.assertFalse(r["valid"])
        self.assertEqual(r["final_wrong"][0]["rule"], "R3")

    def test_final_unknown_value(self):
        h = hist((0, "invoke", "write", [1, 10, None]), (0, "ok", "write", [1, 10, 300]))
        r = self.wl().check(h, self.fin([1, 77, 900]))
        self.assertFalse(r["valid"])
        r = self.wl().check(h, self.fin())
        self.assertFalse(r["valid"])
        r = self.wl().check(h, {"reads": {"ALL": [[1, 10, 300]]}, "errors": {"QUORUM": "timeout"}})
        self.assertFalse(r["valid"])
        self.assertEqual(r["QUORUM"]["error"], "timeout")


class SimStore(object):
    """A simulated leaderless LWW store: 3 replicas, each message delayed
    at random (sometimes dropped), client timestamps with per-client
    skew, writes acknowledged by `w_acks` replicas, reads from `r_n`
    replicas sampled at different instants, blocking read repair of the
    replicas read (unless repair=False).  Produces a Jepsen history of
    the register workload (times are event-queue steps)."""

    def __init__(self, seed, w_acks=2, r_n=2, repair=True, clients=5, ops=40):
        self.rng = random.Random(seed)
        self.w_acks, self.r_n, self.repair = w_acks, r_n, repair
        self.clients, self.ops = clients, ops

    def run(self):
        import heapq
        rng = self.rng
        reps = [dict() for _ in range(3)]
        q, seq, h = [], [0], []
        now = [0.0]

        def at(t, fn):
            seq[0] += 1
            heapq.heappush(q, (t, seq[0], fn))

        def apply(r, k, x):
            if k not in reps[r] or x > reps[r][k]:
                reps[r][k] = x

        def delay():
            return rng.expovariate(1.0) if rng.random() > 0.1 else 1e9   # 10 % lost

        vals = itertools.count(1)
        skew = [rng.choice([0, 0, -3.0, 3.0]) for _ in range(self.clients)]
        proc = list(range(self.clients))
        left = [self.ops // self.clients] * self.clients

        def rec(c, typ, f, v):
            h.append({"process": proc[c], "type": typ, "f": f, "value": v, "time": now[0]})

        def next_op(c):
            if left[c] == 0:
                return
            left[c] -= 1
            k = rng.randrange(2)
            if rng.random() < 0.5:
                v = next(vals)
                rec(c, "invoke", "write", [k, v, None])
                if rng.random() < 0.05:
                    at(now[0] + 0.1, lambda: (rec(c, "fail", "write", [k, v, None]), next_op(c)))
                    return
                ts = int((now[0] + skew[c]) * 1000)
                st = {"acks": 0, "done": False}

                def arrive(r):
                    apply(r, k, (ts, v))
                    at(now[0] + delay(), lambda: ack())

                def ack():
                    st["acks"] += 1
                    if st["acks"] == self.w_acks and not st["done"]:
                        st["done"] = True
                        rec(c, "ok", "write", [k, v, ts])
                        next_op(c)

                def timeout():
                    if not st["done"]:
                        st["done"] = True
                        rec(c, "info", "write", [k, v, ts])
                        proc[c] += self.clients
                        next_op(c)
                for r in range(3):
                    at(now[0] + delay(), lambda r=r: arrive(r))
                at(now[0] + 5.0, timeout)
            else:
                rec(c, "invoke", "read", [k, None, None])
                targets = rng.sample(range(3), 3)
                st = {"got": {}, "done": False}

                def sample(r):
                    x = reps[r].get(k)
                    at(now[0] + delay(), lambda: answer(r, x))

                def answer(r, x):
                    if st["done"] or len(st["got"]) >= self.r_n:
                        return
                    st["got"][r] = x
                    if len(st["got"]) == self.r_n:
                        xs = [y for y in st["got"].values() if y is not None]
                        best = max(xs) if xs else None
                        if self.repair and best is not None and len(set(st["got"].values())) > 1:
                            pend = {"n": len(st["got"])}
                            for rr in st["got"]:
                                def rep(rr=rr):
                                    apply(rr, k, best)
                                    pend["n"] -= 1
                                    if pend["n"] == 0:
                                        finish(best)
                                at(now[0] + rng.expovariate(1.0), rep)
                        else:
                            finish(best)

                def finish(best):
                    if st["done"]:
                        return
                    st["done"] = True
                    rec(c, "ok", "read", [k, best[1], best[0]] if best else [k, None, None])
                    next_op(c)

                def rtimeout():
                    if not st["done"]:
                        st["done"] = True
                        rec(c, "fail", "read", [k, None, None])
                        next_op(c)
                for r in targets:
                    at(now[0] + delay(), lambda r=r: sample(r))
                at(now[0] + 5.0, rtimeout)

        for c in range(self.clients):
            at(rng.random(), lambda c=c: next_op(c))
        while q:
            t, _, fn = heapq.heappop(q)
            if t > 1e8:
                break
            now[0] = t
            fn()
        # heal: every replica gets every write (hints), then final reads
        final = {}
        for r in reps:
            for k, x in r.items():
                final[k] = max(final.get(k, x), x)
        rows = sorted([k, x[1], x[0]] for k, x in final.items())
        return h, {"reads": {"QUORUM": rows, "ALL": rows}}


class TestRegisterCheckerOnSimulatedStore(unittest.TestCase):
    """The checker must accept every history of a correct quorum LWW store
    (no false alarms, whatever the delays, losses and skews) and must
    catch stores that break a quorum rule."""

    def verdicts(self, **kw):
        wl_ = workloads.RegisterWorkload(lambda i: 0)
        wl_.NKEYS = 2
        out = {"valid": 0, "stale": 0, "nonmono": 0, "impossible": 0, "reads": 0}
        for seed in range(1000):
            h, fin = SimStore(seed, **kw).run()
            r = wl_.check(h, fin)
            out["valid"] += r["valid"]
            out["stale"] += r["stale_reads"] > 0
            out["nonmono"] += r["nonmonotonic_reads"] > 0
            out["impossible"] += r["impossible_reads"] > 0
            out["reads"] += r["reads"]
        return out

    def test_correct_store_always_valid(self):
        v = self.verdicts()
        self.assertEqual(v["valid"], 1000, v)
        self.assertGreater(v["reads"], 10000)

    def test_write_acked_by_one_replica_is_caught(self):
        v = self.verdicts(w_acks=1)
        self.assertGreater(v["stale"], 50, v)
        self.assertEqual(v["impossible"], 0, v)

    def test_read_from_one_replica_is_caught(self):
        v = self.verdicts(r_n=1)
        self.assertGreater(v["stale"], 200, v)

    def test_no_read_repair_is_caught(self):
        v = self.verdicts(repair=False)
        self.assertGreater(v["nonmono"], 10, v)
        self.assertEqual(v["stale"], 0, v)


class TestDeleteChecker(unittest.TestCase):
    def h(self, read_present):
        return hist((0, "invoke", "insert", 5), (0, "ok", "insert", 5),
                    (0, "invoke", "insert", 6), (0, "ok", "insert", 6),
                    (0, "invoke", "delete", 5), (0, "ok", "delete", 5),
                    (1, "invoke", "read", 5), (1, "ok", "read", [5, read_present]))

    def test_clean(self):
        r = workloads.DeleteWorkload().check(self.h(False), {"reads": {"QUORUM": [6], "ALL": [6]}})
        self.assertTrue(r["valid"], r)

    def test_resurrection_during_run(self):
        r = workloads.DeleteWorkload().check(self.h(True), {"reads": {"QUORUM": [6], "ALL": [6]}})
        self.assertFalse(r["valid"])
        self.assertEqual(r["resurrected_during_run"][0]["key"], 5)

    def test_resurrection_and_loss_after_heal(self):
        r = workloads.DeleteWorkload().check(self.h(False), {"reads": {"QUORUM": [5, 6], "ALL": [5]}})
        self.assertFalse(r["valid"])
        self.assertEqual(r["QUORUM"]["resurrected"], [5])
        self.assertEqual(r["ALL"]["lost"], [6])


class FakeNet(object):
    def __init__(self):
        self.log = []

    def set_grudge(self, g):
        self.log.append(("grudge", sorted((k, sorted(v)) for k, v in g.items())))

    def link_down(self, i):
        self.log.append(("down", i))

    def heal(self):
        self.log.append(("heal",))


class FakeNode(object):
    def __init__(self, i, log):
        self.i, self.log, self.skew_us, self.paused = i, log, 0, False

    def kill(self):
        self.log.append(("kill", self.i))

    def start(self, wait=True):
        self.log.append(("start", self.i, self.skew_us))

    def pause(self):
        self.log.append(("pause", self.i))

    def resume(self):
        pass


class FakeDB(object):
    def __init__(self, log):
        self.nodes = {i: FakeNode(i, log) for i in range(1, 6)}


class TestNemesisSchedule(unittest.TestCase):
    def schedule(self, seed):
        net = FakeNet()
        nem = nemesis.Nemesis(nemesis.parse("mixed,linkdown"), net, FakeDB(net.log),
                              random.Random(seed), lambda op: None)
        out = []
        for _ in range(30):
            name = nem.rng.choice(nem.names)
            out.append((name, repr(nem._start(name))))
            nem._heal()
        return out, net.log

    def test_same_seed_same_faults(self):
        a, b = self.schedule(7), self.schedule(7)
        self.assertEqual(a, b)
        self.assertNotEqual(a, self.schedule(8))
        kinds = {n for n, _ in a[0]}
        self.assertGreaterEqual(len(kinds), 5)

    def test_partitions_are_symmetric_and_ring_has_majorities(self):
        net = FakeNet()
        nem = nemesis.Nemesis(["ring"], net, FakeDB(net.log), random.Random(1), lambda op: None)
        d = nem._start("ring")
        drops = {int(k): set(v) for k, v in d["drops"].items()}
        for a, bs in drops.items():
            for b in bs:
                self.assertIn(a, drops[b])
            self.assertEqual(len(bs), 2)   # each node sees 3 of 5 (itself + 2)
        views = {frozenset(set(range(1, 6)) - drops[a]) for a in drops}
        self.assertEqual(len(views), 5)

    def test_unknown_nemesis_rejected(self):
        with self.assertRaises(ValueError):
            nemesis.parse("partition,teleport")



class MemberNode(object):
    """A node for the "member" nemesis: admin answers from `routes`
    ((method, path prefix) -> value, callable or exception to raise), else
    a host id, a NORMAL /streams and the /status of the fake cluster."""
    def __init__(self, db, i, tmp):
        self.db, self.i, self.ip = db, i, "10.0.0.%d" % i
        self.data = os.path.join(tmp, "n%d" % i, "data")
        os.makedirs(self.data)
        self.up, self.proc, self.skew_us, self.paused = True, None, 0, False
        self.replace_first = self.join_new = False
        self.fail_starts = 0
        self.routes = {}

    def alive(self):
        return self.up

    def kill(self):
        self.db.log.append(("kill", self.i))
        self.up = False

    def start(self, wait=True):
        self.db.log.append(("start", self.i, self.replace_first, self.join_new,
                            os.path.exists(self.data)))
        if self.fail_starts:
            self.fail_starts -= 1
            raise RuntimeError("node %d exited with 1" % self.i)
        os.makedirs(self.data, exist_ok=True)
        self.up = True

    def resume(self):
        pass

    def admin(self, path, method="GET", timeout=3.0):
        if not self.up:
            raise OSError("connection refused")
        for (m, p), v in self.routes.items():
            if m == method and path.startswith(p):
                if isinstance(v, Exception):
                    raise v
                return v() if callable(v) else v
        if path == "/info":
            return {"host_id": "host-%d" % self.i}
        if path == "/streams":
            return {"state": "normal", "streams": {"sessions": [{"ranges_done": 3, "rows": 9}]}}
        if path == "/status":
            return {"nodes": [{"address": n.ip, "status": "U" if n.up else "D", "state": "N"}
                              for n in self.db.nodes.values()]}
        raise AssertionError("unexpected admin call %s %s" % (method, path))


class MemberDB(object):
    def __init__(self, tmp):
        self.log = []
        self.nodes = {i: MemberNode(self, i, tmp) for i in range(1, 6)}

    def up_view(self, c):
        if not self.nodes[c].up:
            return None
        return {n.ip for n in self.nodes.values() if n.up}


class TestMemberNemesisRefusals(unittest.TestCase):
    """A topology change the cluster refuses or fails is recorded, the
    node comes back, and the final heal sees every node NORMAL."""
    def setUp(self):
        import tempfile
        self.tmp = tempfile.mkdtemp(prefix="jepsen-member-")
        self.db = MemberDB(self.tmp)
        self.ops = []
        self.nem = nemesis.Nemesis(["member", "kill"], FakeNet(), self.db,
                                   random.Random(1), self.ops.append)

    def tearDown(self):
        import shutil
        shutil.rmtree(self.tmp, ignore_errors=True)

    def fs(self, f):
        return [op["value"] for op in self.ops if op["f"] == f]

    def test_removenode_refused_409_restarts_the_node_as_it_was(self):
        import urllib.error
        self.db.nodes[2].routes[("POST", "/removenode")] = urllib.error.HTTPError(
            "http://x/removenode", 409, "another topology change is in progress", None, None)
        d = self.nem._removenode(3, 2)
        self.assertIn("refused", d)
        self.assertIn("409", d["refused"])
        self.assertEqual(self.nem.killed, {3})
        self.assertFalse(self.nem.left)
        self.nem._heal()
        # restarted with its data, not as a new node
        self.assertEqual(self.db.log[-1], ("start", 3, False, False, True))
        self.nem.final_heal()
        self.assertEqual(self.fs("all-normal"), [True])

    def test_removal_that_failed_runs_again_at_heal_then_the_node_rejoins(self):
        states = iter(["removenode_failed", "normal"])
        posts = []
        c = self.db.nodes[4]
        c.routes[("POST", "/removenode")] = lambda: posts.append(1) or {"started": True}
        c.routes[("GET", "/streams")] = lambda: {"state": next(states), "error": "stream failed"}
        d = self.nem._removenode(5, 4)
        self.assertIn("failed", d)
        self.assertEqual(self.nem.removing, {5: (4, "host-5")})
        self.nem._heal()
        self.assertEqual(len(posts), 2)
        self.assertEqual([v["error"] for v in self.fs("removenode-again")], [None])
        # wiped, joined again without --initial-token, NORMAL
        self.assertEqual(self.db.log[-1], ("start", 5, False, True, False))
        self.assertEqual([v["node"] for v in self.fs("rejoined")], [5])
        self.assertFalse(self.db.nodes[5].join_new)

    def test_replacement_that_exits_is_started_again_at_heal(self):
        n = self.db.nodes[3]
        n.fail_starts = 1
        d = self.nem._replace(3)
        self.assertIn("refused", d)
        self.assertEqual(d["old_host_id"], "host-3")
        self.assertEqual(self.db.log[:2], [("kill", 3), ("start", 3, True, True, False)])
        self.nem._heal()
        self.assertEqual(self.db.log[-1], ("start", 3, True, True, False))
        self.assertEqual([v["node"] for v in self.fs("replaced")], [3])
        self.assertEqual(self.fs("replaced")[0]["streamed"], {"ranges_done": 3, "rows": 9})
        self.assertFalse(n.replace_first or n.join_new)

    def test_final_heal_fails_when_a_node_stays_joining(self):
        self.db.nodes[2].routes[("GET", "/streams")] = {"state": "bootstrapping"}
        saved = nemesis.MEMBER_WAIT_S
        nemesis.MEMBER_WAIT_S = 2
        try:
            with self.assertRaises(RuntimeError):
                self.nem.final_heal()
        finally:
            nemesis.MEMBER_WAIT_S = saved
        self.assertIn("self bootstrapping", self.fs("all-normal")[0]["2"])


class TestCounterChecker(unittest.TestCase):
    """Increments of key 0: +2 ok, +3 info (may or may not apply), +5 fail
    (not applied), +1 ok; reads in between."""

    def h(self, r1, r2):
        return hist((0, "invoke", "add", [0, 2]), (0, "ok", "add", [0, 2]),
                    (9, "invoke", "read", [0, None]), (9, "ok", "read", [0, r1]),
                    (1, "invoke", "add", [0, 3]), (1, "info", "add", [0, 3]),
                    (2, "invoke", "add", [0, 5]), (2, "fail", "add", [0, 5]),
                    (3, "invoke", "add", [0, 1]), (3, "ok", "add", [0, 1]),
                    (9, "invoke", "read", [0, None]), (9, "ok", "read", [0, r2]))

    def test_clean(self):
        for r2, final in ((3, 3), (6, 6), (3, 6)):
            r = workloads.CounterWorkload().check(
                self.h(2, r2), {"reads": {"QUORUM": [[0, final]], "ALL": [[0, final]]}})
            self.assertTrue(r["valid"], r)
            self.assertEqual(r["QUORUM"]["acknowledged_sum"], 3)
            self.assertEqual(r["QUORUM"]["indeterminate_sum"], 3)

    def test_lost_increment_in_a_read(self):
        r = workloads.CounterWorkload().check(self.h(2, 2), {"reads": {"QUORUM": [[0, 3]],
                                                                      "ALL": [[0, 3]]}})
        self.assertFalse(r["valid"])
        self.assertEqual(r["bad"][0]["at_least"], 3)

    def test_read_above_what_was_invoked_or_of_a_failed_increment(self):
        r = workloads.CounterWorkload().check(self.h(4, 3), {"reads": {"QUORUM": [[0, 3]],
                                                                      "ALL": [[0, 3]]}})
        self.assertFalse(r["valid"])
        self.assertEqual(r["bad"][0]["at_most"], 2)
        r = workloads.CounterWorkload().check(self.h(2, 11), {"reads": {"QUORUM": [[0, 6]],
                                                                       "ALL": [[0, 6]]}})
        self.assertFalse(r["valid"])  # 11 counts the failed +5

    def test_read_going_back_is_caught(self):
        h = self.h(2, 6) + hist((8, "invoke", "read", [0, None]), (8, "ok", "read", [0, 3]))
        for i, op in enumerate(h):
            op["time"] = i
        r = workloads.CounterWorkload().check(h, {"reads": {"QUORUM": [[0, 6]], "ALL": [[0, 6]]}})
        self.assertFalse(r["valid"])
        self.assertIn("read", r["bad"][0]["because"])

    def test_final_out_of_bounds(self):
        for final in (2, 7, 11):
            r = workloads.CounterWorkload().check(
                self.h(2, 3), {"reads": {"QUORUM": [[0, 3]], "ALL": [[0, final]]}})
            self.assertFalse(r["valid"], final)
            self.assertEqual(r["ALL"]["wrong"], 1)
            self.assertEqual(r["QUORUM"]["wrong"], 0)


class TestIngestChecker(unittest.TestCase):
    """Points 1-2 acknowledged (one batch), 3 indeterminate, 4 failed
    (refused: nothing written), 0 the setup point."""
    def h(self):
        b1 = {"node": 1, "points": [[1, "c=0,s=0", 1001000], [2, "c=0,s=1", 1002000]]}
        b2 = {"node": 2, "points": [[3, "c=1,s=2", 1003000]]}
        b3 = {"node": 3, "points": [[4, "c=2,s=0", 1004000]]}
        b0 = {"node": 1, "points": [[0, "c=setup,s=0", 1000000]]}
        return hist(("setup", "invoke", "write", b0), ("setup", "ok", "write", b0),
                    (0, "invoke", "write", b1), (1, "invoke", "write", b2),
                    (0, "ok", "write", b1), (1, "info", "write", b2),
                    (2, "invoke", "write", b3), (2, "fail", "write", b3))

    # rows: [series, time, v, b]; b = the first id of the point's batch
    P0, P1, P2 = ["c=setup,s=0", 1000000, 0, 0], ["c=0,s=0", 1001000, 1, 1], ["c=0,s=1", 1002000, 2, 1]
    P3, P4 = ["c=1,s=2", 1003000, 3, 3], ["c=2,s=0", 1004000, 4, 4]

    def fin(self, rows, http=None):
        return {"reads": {"QUORUM": rows, "ALL": rows},
                "http": {"1": http if http is not None else rows, "2": rows}}

    def check(self, fin):
        return workloads.IngestWorkload().check(self.h(), fin)

    def test_clean_indeterminate_absent_or_present(self):
        for rows in ([self.P0, self.P1, self.P2], [self.P0, self.P1, self.P2, self.P3]):
            r = self.check(self.fin(rows))
            self.assertTrue(r["valid"], r)
            self.assertEqual(r["points"], {"attempted": 5, "acknowledged": 3,
                                           "indeterminate": 1, "failed": 1})
            present = len(rows) == 4
            for v in ("QUORUM", "ALL", "HTTP@n1", "HTTP@n2"):
                self.assertEqual(r[v]["indeterminate_present"], int(present))
                self.assertEqual(r[v]["indeterminate_absent"], int(not present))
                self.assertEqual(r[v]["lost_count"], 0)

    def test_missing_acknowledged_point(self):
        r = self.check(self.fin([self.P0, self.P1, self.P2], http=[self.P0, self.P1, self.P3]))
        self.assertFalse(r["valid"])
        self.assertEqual(r["HTTP@n1"]["lost"], [2])
        self.assertEqual(r["HTTP@n2"]["lost"], [])
        self.assertEqual(r["QUORUM"]["lost_count"], 0)

    def test_unknown_point(self):
        r = self.check(self.fin([self.P0, self.P1, self.P2, ["c=0,s=0", 1099000, 99, 99]]))
        self.assertFalse(r["valid"])
        self.assertEqual(r["ALL"]["unexpected_count"], 1)
        self.assertEqual(r["ALL"]["unexpected"][0][2], 99)

    def test_wrong_field_value_or_series(self):
        for bad in (["c=0,s=1", 1002000, 2, 2], ["c=0,s=2", 1002000, 2, 1],
                    ["c=0,s=1", 1002001, 2, 1]):
            r = self.check(self.fin([self.P0, self.P1, bad]))
            self.assertFalse(r["valid"], bad)
            self.assertEqual(r["QUORUM"]["wrong_count"], 1)
            self.assertEqual(r["QUORUM"]["wrong"][0]["id"], 2)

    def test_duplicate_point(self):
        r = self.check(self.fin([self.P0, self.P1, self.P2, ["c=0,s=3", 1002000, 2, 1]]))
        self.assertFalse(r["valid"])
        self.assertEqual(r["QUORUM"]["duplicates"], 1)

    def test_refused_batch_present(self):
        r = self.check(self.fin([self.P0, self.P1, self.P2, self.P4]))
        self.assertFalse(r["valid"])
        self.assertEqual(r["ALL"]["failed_but_present"], 1)

    def test_failed_final_query_is_invalid(self):
        f = self.fin([self.P0, self.P1, self.P2])
        del f["http"]["2"]
        f["http_errors"] = {"2": "timeout"}
        r = self.check(f)
        self.assertFalse(r["valid"])
        self.assertEqual(r["HTTP@n2"]["error"], "timeout")
        f = self.fin([self.P0, self.P1, self.P2])
        del f["http"]
        self.assertFalse(self.check(f)["valid"])

    def test_answers_classified(self):
        c = workloads.IngestWorkload.classify
        self.assertEqual(c(204, "")[0], "ok")
        for st, txt in ((503, '{"error":"Cannot achieve consistency level QUORUM"}'),
                        (429, '{"error":"overloaded"}'), (404, '{"error":"database not found"}'),
                        (400, '{"error":"unable to parse \'x\': missing fields"}')):
            self.assertEqual(c(st, txt)[0], "fail", st)
        for st, txt in ((500, '{"error":"timeout"}'),
                        (400, '{"error":"partial write: unable to parse ... dropped=0"}'),
                        (502, "")):
            self.assertEqual(c(st, txt)[0], "info", st)

if __name__ == "__main__":
    harness.main()
