"""
test_jepsen_lwt.py - the quick Jepsen suite, part 3: the cas-register
workload (lightweight transactions: SERIAL reads, INSERT IF NOT EXISTS,
UPDATE IF EXISTS, UPDATE IF v = ?) against a real 5-node cluster in
network namespaces (jepsen/run; docs/JEPSEN.md).

cas-register under partitions and kills (20 s, seed 51): every key's
history must be linearizable (jepsen/linear.py), the final QUORUM and ALL
reads must equal the final SERIAL reads, and the run must really have
done something: faults injected, conditional writes applied and refused,
SERIAL reads answered.

Fails (with the reason; it does not skip) when not root or `ip netns` is
unusable: CI runs as root.
"""
import json

import harness
from test_jepsen_quick import JepsenCase, run_jepsen


class TestJepsenLwt(JepsenCase):
    def test_cas_register_partition_kill(self):
        rc, d, res, hist = run_jepsen(["--workload", "cas-register", "--nemesis", "partition,kill",
                                       "--time", "20", "--interval", "4", "--seed", "51"], 170)
        self.assertHistoryWellFormed(hist)
        self.assertIsNotNone(res, "no results.json in " + d)
        self.assertGreaterEqual(len(self.faults(hist)), 1)
        ops = res["ops"]
        self.assertGreater(ops.get("read:ok", 0), 20, ops)
        self.assertGreater(ops.get("cas:ok", 0), 5, ops)
        self.assertGreater(ops.get("cas:not-applied", 0), 5, ops)
        self.assertGreater(ops.get("insert:ok", 0) + ops.get("update:ok", 0), 2, ops)
        self.assertGreaterEqual(res["keys"], 3)
        self.assertEqual(res["nonlinearizable"], [], json.dumps(res["nonlinearizable"])[:3000])
        self.assertEqual(res["undecided"], [])
        self.assertEqual(res["linearizable_keys"], res["keys"])
        self.assertEqual(res["final_mismatch"], [])
        self.assertEqual(res["final_serial_missing"], [])
        self.assertTrue(res["convergence"])
        self.assertTrue(res["valid"], json.dumps(res)[:2000])
        self.assertEqual(rc, 0)


if __name__ == "__main__":
    harness.main()
