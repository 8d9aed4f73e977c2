"""
test_jepsen_checkers.py - the Jepsen checkers and the nemesis schedule on
synthetic inputs (no cluster, no root needed): each checker must flag the
violation it exists for (lost and unexpected set elements, a stale
register read, a wrong final register value, a resurrected row) and
accept a clean history; the fault schedule must be a pure function of
the seed.
"""
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

    def test_stale_read(self):
        h = hist((0, "invoke", "write", [1, 10, None]), (0, "ok", "write", [1, 10, 100]),
                 (0, "invoke", "write", [1, 11, None]), (0, "ok", "write", [1, 11, 200]),
                 (1, "invoke", "read", [1, None, None]), (1, "ok", "read", [1, 10, 100]))
        r = self.wl().check(h, {"reads": {"ALL": [[1, 11, 200]]}})
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
        r = self.wl().check(h, {"reads": {"ALL": [[1, 11, 200]]}})
        self.assertTrue(r["valid"], r)

    def test_final_must_be_highest_timestamp(self):
        h = hist((0, "invoke", "write", [1, 10, None]), (0, "ok", "write", [1, 10, 300]),
                 (1, "invoke", "write", [1, 11, None]), (1, "ok", "write", [1, 11, 200]))
        # LWW: the write acknowledged last (11) has the lower timestamp and loses
        self.assertTrue(self.wl().check(h, {"reads": {"ALL": [[1, 10, 300]]}})["valid"])
        r = self.wl().check(h, {"reads": {"ALL": [[1, 11, 200]]}})
        self.assertFalse(r["valid"])
        self.assertEqual(r["final_wrong"][0]["highest_acknowledged"], [300, 10])

    def test_final_unknown_value(self):
        h = hist((0, "invoke", "write", [1, 10, None]), (0, "ok", "write", [1, 10, 300]))
        r = self.wl().check(h, {"reads": {"ALL": [[1, 77, 900]]}})
        self.assertFalse(r["valid"])
        r = self.wl().check(h, {"reads": {"ALL": []}})
        self.assertFalse(r["valid"])


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


if __name__ == "__main__":
    harness.main()
