"""
test_jepsen_linear.py - the linearizability checker of the cas-register
workload (jepsen/linear.py) and the cas-register workload's checker
(jepsen/workloads.py) on synthetic histories; no cluster, no root.

Hand-written histories: linearizable ones pass; a stale read after an
acknowledged write, two CAS succeeding from the same old value, a read of
a value never written, an indeterminate write seen before it was invoked
are rejected, with the operation and the candidate states named; an
indeterminate write may take effect or not.  Randomized: histories of a
real sequential register (operations take effect at a random instant
inside their interval, some time out) always pass; the same histories
with one read corrupted (a value from the future, or a value overwritten
before the read began) always fail; on small histories the checker
agrees with a brute-force search over every order, corrupted or not.
"""
import itertools
import os
import random
import sys
import unittest

import harness

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "jepsen"))

import linear  # noqa: E402
import workloads  # noqa: E402


def hist(*ops):
    """(process, type, f, value[, extra dict]) -> runner-format history,
    time = position."""
    out = []
    for t, o in enumerate(ops):
        d = {"process": o[0], "type": o[1], "f": o[2], "value": o[3], "time": t}
        if len(o) > 4:
            d.update(o[4])
        out.append(d)
    return out


def check(h, **kw):
    by_key = linear.ops_from_history(h)
    assert len(by_key) <= 1, by_key.keys()
    ops = next(iter(by_key.values())) if by_key else []
    return linear.check(ops, **kw)


def inv(p, f, k=1, arg=None):
    return (p, "invoke", f, [k, arg, None])


def ok(p, f, k=1, arg=None, res=None):
    return (p, "ok", f, [k, arg, res])


def notapplied(p, f, k=1, arg=None, cur=None):
    return (p, "fail", f, [k, arg, cur], {"applied": False})


class TestHandWritten(unittest.TestCase):
    def test_sequential_ok(self):
        h = hist(inv(0, "read"), ok(0, "read", res=None),
                 inv(0, "insert", arg=1), ok(0, "insert", arg=1),
                 inv(1, "read"), ok(1, "read", res=1),
                 inv(1, "cas", arg=[1, 2]), ok(1, "cas", arg=[1, 2]),
                 inv(2, "update", arg=3), ok(2, "update", arg=3),
                 inv(0, "cas", arg=[2, 4]), notapplied(0, "cas", arg=[2, 4], cur=3),
                 inv(0, "insert", arg=5), notapplied(0, "insert", arg=5, cur=3),
                 inv(1, "read"), ok(1, "read", res=3))
        r = check(h)
        self.assertTrue(r["valid"], r)
        self.assertEqual(r["ops"], 8)

    def test_concurrent_ops_may_reorder(self):
        # the read overlaps both writes: it may see either, or the old value
        for seen in (0, 1, 2):
            h = hist(inv(0, "write", arg=0), ok(0, "write", arg=0),
                     inv(3, "read"),
                     inv(1, "write", arg=1), inv(2, "write", arg=2),
                     ok(1, "write", arg=1), ok(2, "write", arg=2),
                     ok(3, "read", res=seen))
            self.assertTrue(check(h)["valid"], seen)

    def test_stale_read_after_acknowledged_write(self):
        h = hist(inv(0, "write", arg=1), ok(0, "write", arg=1),
                 inv(0, "write", arg=2), ok(0, "write", arg=2),
                 inv(1, "read"), ok(1, "read", res=1))
        r = check(h)
        self.assertFalse(r["valid"])
        self.assertEqual(r["op"]["f"], "read")
        self.assertEqual(r["op"]["read"], 1)
        self.assertEqual(r["op"]["process"], 1)
        self.assertEqual(r["candidate_states"], [2])
        self.assertIn("read 1 by process 1", linear.explain(r))
        self.assertIn("could only hold 2", linear.explain(r))

    def test_two_cas_from_same_old_value(self):
        h = hist(inv(0, "write", arg=0), ok(0, "write", arg=0),
                 inv(1, "cas", arg=[0, 1]), inv(2, "cas", arg=[0, 2]),
                 ok(1, "cas", arg=[0, 1]), ok(2, "cas", arg=[0, 2]))
        r = check(h)
        self.assertFalse(r["valid"])
        self.assertEqual(r["op"]["f"], "cas")
        # one cas went first; the other then found 1 or 2, not 0
        self.assertTrue(set(r["candidate_states"]) <= {1, 2}, r)
        # with a write of 0 between them both may succeed
        h2 = hist(inv(0, "write", arg=0), ok(0, "write", arg=0),
                  inv(1, "cas", arg=[0, 1]), inv(2, "cas", arg=[0, 2]), inv(3, "write", arg=0),
                  ok(1, "cas", arg=[0, 1]), ok(2, "cas", arg=[0, 2]), ok(3, "write", arg=0))
        self.assertTrue(check(h2)["valid"])

    def test_read_of_value_never_written(self):
        h = hist(inv(0, "write", arg=1), ok(0, "write", arg=1),
                 inv(1, "read"), inv(0, "write", arg=2), ok(1, "read", res=7),
                 ok(0, "write", arg=2))
        r = check(h)
        self.assertFalse(r["valid"])
        self.assertEqual(r["op"]["read"], 7)
        self.assertEqual(sorted(r["candidate_states"]), [1, 2])

    def test_read_of_missing_row_after_insert(self):
        h = hist(inv(0, "insert", arg=1), ok(0, "insert", arg=1),
                 inv(1, "read"), ok(1, "read", res=None))
        self.assertFalse(check(h)["valid"])

    def test_indeterminate_write_taking_effect(self):
        # a timed-out write is seen later: it took effect
        h = hist(inv(0, "write", arg=0), ok(0, "write", arg=0),
                 inv(1, "write", arg=1), (1, "info", "write", [1, 1, None]),
                 inv(2, "read"), ok(2, "read", res=0),
                 inv(2, "read"), ok(2, "read", res=1),
                 inv(2, "read"), ok(2, "read", res=1))
        self.assertTrue(check(h)["valid"])
        # ... but only once: going back to 0 needs another write of 0
        h2 = h + hist(inv(2, "read"), ok(2, "read", res=0))
        for i, o in enumerate(h2):
            o["time"] = i
        r = check(h2)
        self.assertFalse(r["valid"])
        self.assertEqual(r["candidate_states"], [1])

    def test_indeterminate_write_never_taking_effect(self):
        h = hist(inv(0, "write", arg=0), ok(0, "write", arg=0),
                 inv(1, "write", arg=1), (1, "info", "write", [1, 1, None]),
                 inv(2, "read"), ok(2, "read", res=0),
                 inv(2, "cas", arg=[0, 3]), ok(2, "cas", arg=[0, 3]),
                 inv(2, "read"), ok(2, "read", res=3))
        self.assertTrue(check(h)["valid"])
        # an invocation with no completion at all is indeterminate too
        h3 = [o for o in h if not (o["process"] == 1 and o["type"] == "info")]
        self.assertTrue(check(h3)["valid"])

    def test_indeterminate_write_not_before_its_invocation(self):
        h = hist(inv(2, "read"), ok(2, "read", res=1),
                 inv(1, "write", arg=1), (1, "info", "write", [1, 1, None]))
        self.assertFalse(check(h)["valid"])

    def test_indeterminate_cas_only_from_its_old_value(self):
        h = hist(inv(0, "write", arg=0), ok(0, "write", arg=0),
                 inv(1, "cas", arg=[5, 1]), (1, "info", "cas", [1, [5, 1], None]),
                 inv(2, "read"), ok(2, "read", res=1))
        self.assertFalse(check(h)["valid"])
        h[2]["value"][1] = [0, 1]
        h[3]["value"][1] = [0, 1]
        self.assertTrue(check(h)["valid"])

    def test_failed_and_unknown_reads_are_ignored(self):
        h = hist(inv(0, "write", arg=1), ok(0, "write", arg=1),
                 inv(1, "read"), (1, "fail", "read", [1, None, None], {"error": "Unavailable"}),
                 inv(2, "read"), (2, "info", "read", [1, None, None]),
                 inv(3, "write", arg=9), (3, "fail", "write", [1, 9, None], {"error": "Unavailable"}))
        r = check(h)
        self.assertTrue(r["valid"])
        self.assertEqual(r["ops"], 1)

    def test_not_applied_cas_is_a_read(self):
        # the server said the condition was false while the value was 0
        h = hist(inv(0, "write", arg=0), ok(0, "write", arg=0),
                 inv(1, "cas", arg=[0, 1]), notapplied(1, "cas", arg=[0, 1], cur=0))
        self.assertFalse(check(h)["valid"])
        # ... and the current value it returned must be the register's
        h = hist(inv(0, "write", arg=0), ok(0, "write", arg=0),
                 inv(1, "cas", arg=[3, 1]), notapplied(1, "cas", arg=[3, 1], cur=4))
        self.assertFalse(check(h)["valid"])
        h[3]["value"][2] = 0
        self.assertTrue(check(h)["valid"])
        h[3]["value"][2] = linear.UNKNOWN
        self.assertTrue(check(h)["valid"])

    def test_insert_and_update_conditions(self):
        h = hist(inv(0, "update", arg=1), notapplied(0, "update", arg=1),
                 inv(0, "insert", arg=2), ok(0, "insert", arg=2),
                 inv(1, "insert", arg=3), notapplied(1, "insert", arg=3, cur=2),
                 inv(1, "update", arg=4), ok(1, "update", arg=4))
        self.assertTrue(check(h)["valid"])
        bad = hist(inv(0, "insert", arg=2), ok(0, "insert", arg=2),
                   inv(1, "update", arg=1), notapplied(1, "update", arg=1))
        self.assertFalse(check(bad)["valid"])
        bad = hist(inv(0, "insert", arg=2), ok(0, "insert", arg=2),
                   inv(1, "insert", arg=3), ok(1, "insert", arg=3))
        self.assertFalse(check(bad)["valid"])

    def test_gives_up_when_budget_exhausted(self):
        h = hist(inv(0, "write", arg=1), inv(1, "write", arg=2), inv(2, "read"),
                 ok(0, "write", arg=1), ok(1, "write", arg=2), ok(2, "read", res=1))
        r = check(h, max_steps=2)
        self.assertIsNone(r["valid"])
        self.assertIn("undecided", linear.explain(r))

    def test_keys_are_independent(self):
        h = hist(inv(0, "write", k=1, arg=1), ok(0, "write", k=1, arg=1),
                 inv(1, "write", k=2, arg=2), ok(1, "write", k=2, arg=2),
                 inv(0, "read", k=2), ok(0, "read", k=2, res=2),
                 inv(1, "read", k=1), ok(1, "read", k=1, res=1))
        by_key = linear.ops_from_history(h)
        self.assertEqual(sorted(by_key), [1, 2])
        for ops in by_key.values():
            self.assertTrue(linear.check(ops)["valid"])


# ---------------------------------------------------------------------------
# randomized: a real sequential register behind random overlapping timing
# ---------------------------------------------------------------------------
def generate(rng, nproc=5, nops=150, p_info=0.05, fresh_values=True, domain=5):
    """Runner-format history of a sequential register.  Each operation
    takes effect at a random instant inside [invoke, complete]; a timed-out
    one (info) takes effect or never does.  Returns (history, meta)
    where meta lists (op record) for the corruption helpers."""
    clock = [0.0] * nproc
    raw = []
    for _ in range(nops):
        p = rng.randrange(nproc)
        call = clock[p] + rng.random() * 2
        ret = call + rng.random() * 4
        clock[p] = ret + 0.01
        raw.append({"p": p, "call": call, "ret": ret, "lp": call + rng.random() * (ret - call),
                    "info": rng.random() < p_info, "takes_effect": rng.random() < 0.5})
    state, seen, nextv = None, [None], itertools.count(100)
    for r in sorted(raw, key=lambda r: r["lp"]):
        f = rng.choice(["read", "read", "write", "cas", "cas", "insert", "update"])
        new = next(nextv) if fresh_values else rng.randrange(domain)
        r["f"] = f
        effect = not r["info"] or r["takes_effect"]
        if f == "read":
            r["arg"], r["res"] = None, state
            continue
        if f == "cas":
            old = state if rng.random() < 0.5 else rng.choice(seen)
            r["arg"] = [old, new]
            r["applied"] = state == old
        elif f == "insert":
            r["arg"], r["applied"] = new, state is None
        elif f == "update":
            r["arg"], r["applied"] = new, state is not None
        else:
            r["arg"], r["applied"] = new, True
        r["res"] = state   # the current value a not-applied write returns
        if r["applied"] and effect:
            state = new
            seen.append(new)
        elif r["info"]:
            r["applied"] = None
    events = []
    for i, r in enumerate(raw):
        proc = r["p"] + 1000 * i if r["info"] else r["p"]
        events.append((r["call"], {"process": proc, "type": "invoke", "f": r["f"],
                                   "value": [7, r["arg"], None]}))
        if r["info"]:
            events.append((r["ret"], {"process": proc, "type": "info", "f": r["f"],
                                      "value": [7, r["arg"], None]}))
        elif r["f"] == "read":
            events.append((r["ret"], {"process": proc, "type": "ok", "f": "read",
                                      "value": [7, None, r["res"]]}))
        elif r["applied"]:
            events.append((r["ret"], {"process": proc, "type": "ok", "f": r["f"],
                                      "value": [7, r["arg"], None]}))
        else:
            events.append((r["ret"], {"process": proc, "type": "fail", "f": r["f"],
                                      "value": [7, r["arg"], r["res"]], "applied": False}))
        r["completion"] = events[-1][1]
    events.sort(key=lambda e: e[0])
    h = []
    for t, e in events:
        e["time"] = t
        h.append(e)
    return h, raw


def written(r):
    if r["f"] == "cas":
        return r["arg"][1]
    return r["arg"]


def corrupt_future(rng, raw):
    """Makes an ok read return the value of a write invoked after the read
    completed (fresh values: only that write ever wrote it)."""
    reads = [r for r in raw if r["f"] == "read" and not r["info"]]
    writes = [r for r in raw if r["f"] != "read"]
    rng.shuffle(reads)
    for rd in reads:
        later = [w for w in writes if w["call"] > rd["ret"]]
        if later:
            rd["completion"]["value"][2] = written(rng.choice(later))
            return rd
    return None


def corrupt_stale(rng, raw):
    """Makes an ok read return the value of an applied write w that an
    applied write w2 overwrote, where w completed before w2 was invoked
    and w2 completed before the read was invoked."""
    done = [r for r in raw if r["f"] != "read" and not r["info"] and r["applied"]]
    reads = [r for r in raw if r["f"] == "read" and not r["info"]]
    rng.shuffle(reads)
    for rd in reads:
        for w in done:
            for w2 in done:
                if w["ret"] < w2["call"] and w2["ret"] < rd["call"] and \
                        rd["completion"]["value"][2] != written(w):
                    rd["completion"]["value"][2] = written(w)
                    return rd
    return None


def brute_force(ops):
    """Linearizable?  Tries every order (small histories only)."""
    done = [o for o in ops if o.ret is not None]

    def go(state, left):
        if not any(o.ret is not None for o in left):
            return True
        bound = min(o.ret for o in left if o.ret is not None)
        for o in left:
            if o.call > bound:
                continue
            ns = linear.step(state, o)
            if ns is not linear.INVALID and go(ns, [x for x in left if x is not o]):
                return True
        return False
    return go(None, list(ops)) if done else True


class TestRandomized(unittest.TestCase):
    def test_real_register_histories_pass_and_corrupted_fail(self):
        rng = random.Random(2025)
        caught = {"future": 0, "stale": 0}
        for i in range(60):
            h, raw = generate(rng, nproc=5, nops=150, p_info=0.05)
            ops = linear.ops_from_history(h)[7]
            r = linear.check(ops)
            self.assertTrue(r["valid"], (i, linear.explain(r)))
            for name, fn in (("future", corrupt_future), ("stale", corrupt_stale)):
                h2, raw2 = generate(random.Random(i), nproc=5, nops=150, p_info=0.05)
                rd = fn(rng, raw2)
                if rd is None:
                    continue
                r2 = linear.check(linear.ops_from_history(h2)[7])
                self.assertFalse(r2["valid"], (i, name))
                caught[name] += 1
        self.assertGreater(caught["future"], 40)
        self.assertGreater(caught["stale"], 20)

    def test_long_history_of_five_clients(self):
        # ~ one key of a 120 s run: 2000 ops, 5 clients, some timeouts,
        # a small value domain (as the workload uses)
        h, raw = generate(random.Random(7), nproc=5, nops=2000, p_info=0.02,
                          fresh_values=False)
        r = linear.check(linear.ops_from_history(h)[7])
        self.assertTrue(r["valid"], linear.explain(r))

    def test_agrees_with_brute_force(self):
        rng = random.Random(99)
        verdicts = {True: 0, False: 0}
        for i in range(400):
            h, raw = generate(rng, nproc=3, nops=7, p_info=0.15, fresh_values=False, domain=3)
            reads = [r for r in raw if r["f"] == "read" and not r["info"]]
            if reads and rng.random() < 0.7:
                rng.choice(reads)["completion"]["value"][2] = rng.choice([None, 0, 1, 2])
            ops = linear.ops_from_history(h).get(7, [])
            want = brute_force(ops)
            got = linear.check(ops)["valid"]
            self.assertEqual(got, want, (i, h))
            verdicts[want] += 1
        self.assertGreater(verdicts[True], 50)
        self.assertGreater(verdicts[False], 50)


class TestCasRegisterWorkloadChecker(unittest.TestCase):
    def h(self):
        return hist(inv(0, "insert", k=0, arg=1), ok(0, "insert", k=0, arg=1),
                    inv(1, "insert", k=1, arg=2), ok(1, "insert", k=1, arg=2),
                    inv(0, "cas", k=0, arg=[1, 3]), ok(0, "cas", k=0, arg=[1, 3]),
                    inv(1, "cas", k=1, arg=[4, 0]), notapplied(1, "cas", k=1, arg=[4, 0], cur=2),
                    inv(2, "write", k=1, arg=4), (2, "info", "write", [1, 4, None]),
                    ("final", "invoke", "read", [0, None, None]),
                    ("final", "ok", "read", [0, None, 3]),
                    ("final", "invoke", "read", [1, None, None]),
                    ("final", "fail", "read", [1, None, None], {"error": "ReadTimeout"}),
                    ("final", "invoke", "read", [1, None, None]),
                    ("final", "ok", "read", [1, None, 4]))

    def fin(self, vals):
        return {"reads": {"QUORUM": vals, "ALL": vals}}

    def test_clean(self):
        r = workloads.CasRegisterWorkload().check(self.h(), self.fin([[0, 3], [1, 4]]))
        self.assertTrue(r["valid"], r)
        self.assertEqual(r["linearizable_keys"], 2)
        self.assertEqual(r["ops"]["cas:not-applied"], 1)
        self.assertEqual(r["final_serial_reads"], 2)

    def test_nonlinearizable_key_named(self):
        h = self.h()
        h[-1]["value"][2] = 0     # nobody wrote 0 to key 1 (that cas was not applied)
        r = workloads.CasRegisterWorkload().check(h, self.fin([[0, 3], [1, 0]]))
        self.assertFalse(r["valid"])
        self.assertEqual(len(r["nonlinearizable"]), 1)
        bad = r["nonlinearizable"][0]
        self.assertEqual(bad["key"], 1)
        self.assertEqual(bad["op"]["process"], "final")
        # the timed-out write of 4 took effect or not
        self.assertEqual(bad["candidate_states"], [2, 4])
        self.assertIn("could only hold 2 or 4", bad["explanation"])

    def test_final_quorum_must_match_serial(self):
        r = workloads.CasRegisterWorkload().check(self.h(), {"reads": {"QUORUM": [[0, 3], [1, 2]],
                                                                       "ALL": [[0, 3], [1, 4]]}})
        self.assertFalse(r["valid"])
        self.assertEqual(r["final_mismatch"], [{"key": 1, "serial": 4, "QUORUM": 2}])

    def test_missing_final_read_is_invalid(self):
        h = self.h()[:-2]
        r = workloads.CasRegisterWorkload().check(h, self.fin([[0, 3], [1, 4]]))
        self.assertFalse(r["valid"])
        self.assertEqual(r["final_serial_missing"], [1])

    def test_nothing_acknowledged_is_invalid(self):
        h = hist(inv(0, "cas", arg=[1, 2]),
                 (0, "fail", "cas", [1, [1, 2], None], {"error": "InvalidRequest: not supported"}))
        r = workloads.CasRegisterWorkload().check(h, self.fin([]))
        self.assertFalse(r["valid"])
        self.assertIn("no operation", r["error"])

    def test_keys_rotate(self):
        w = workloads.CasRegisterWorkload()
        rng = random.Random(1)
        keys = {w.op({}, rng)[1][0] for _ in range(50)}
        self.assertEqual(keys, {0, 1, 2})
        w.t0 -= w.PERIOD       # one period later: fresh keys
        keys = {w.op({}, rng)[1][0] for _ in range(50)}
        self.assertEqual(keys, {3, 4, 5})
        self.assertEqual([v[0] for f, v in w.final_ops()], [0, 1, 2, 3, 4, 5])


if __name__ == "__main__":
    harness.main()
