"""
test_replace_same_address.py - a dead node replaced by a new one on the
SAME address (replace_address_first_boot = its own address, as Cassandra
allows; the Jepsen namespaces fix each node's address, so that is how the
Jepsen "member" nemesis replaces a node).

3 nodes on loopback 127.0.0.N, RF 2, 20,000 keys written at ALL.  Node 3
is killed, its data directory emptied, and it starts again with
replace_address_first_boot = its own address and a slow stream
(stream_throughput_outbound 16KiB on the sources), while a client keeps
writing at QUORUM:
  * while it streams (JOINING), every key reads back at ONE through nodes
    1 and 2: no read goes to the replacement, which has not streamed yet
    (the ring keeps the dead host id at its tokens, and that host id is
    down);
  * killed with -9 in the middle of its bootstrap and started again
    (data kept), it names the dead host id again (replacing_host) and
    the reads at ONE still find every key;
  * it takes the dead node's tokens under a new host id, becomes NORMAL,
    and the old host id is in nobody's view any more;
  * every key loaded and every write acknowledged during the replace
    reads back at ALL, and - with node 1 killed - at ONE through node 2,
    for the ranges node 1 shared with node 3 only node 3's streamed copy
    has them.
"""
import shutil

from cassandra import ConsistencyLevel

import harness
from test_bootstrap import NKEYS, Writer, _Base, _wait, http, states


def host_ids(n):
    """{address: host id} as node n reports them."""
    return {x["address"]: x["host_id"] for x in http(n, "GET", "/status")["nodes"]}


class ReplaceSameAddress(_Base):
    CLUSTER = "integ-replace-same"

    def read_while_joining(self, n, coords, want):
        """Reads every key at ONE through each of coords while n is still
        JOINING; how many full reads were made."""
        reads = 0
        for coord in coords:
            if states(coords[0]).get(n.host, "")[1:] != "J":
                break
            self.assert_all(self.session(coord), want, ConsistencyLevel.ONE)
            reads += 1
        return reads

    def test_replace_dead_node_on_its_own_address(self):
        self.hosts = [harness._pick_host() for _ in range(3)]
        self.sp = harness.shared_port(self.hosts)
        slow = {"stream-throughput-outbound": "16KiB"}
        n1, n2, n3 = self.node(0, **slow), self.node(1, **slow), self.node(2)
        for n in (n1, n2, n3):
            n.start()
        self.wait_normal(n1, 3)
        s = self.session(n1)
        self.load(s)
        want = set(range(NKEYS))
        old_id = host_ids(n1)[n3.host]
        toks3 = sorted(http(n3, "GET", "/info?tokens=1")["token_list"])

        n3.kill()
        self.wait_down(n1, n3.host)
        self.wait_down(n2, n3.host)
        shutil.rmtree(n3.data_dir)
        n3.extra["replace-address-first-boot"] = n3.host
        w = Writer(self.session(n2), 1000000)
        w.start()
        n3.start()
        # the replacement streams (slowly): JOINING under a new host id
        _wait(lambda: states(n1).get(n3.host, "")[1:] == "J", 60,
              "node 3 JOINING as the replacement (%r)" % states(n1))
        new_id = host_ids(n1)[n3.host]
        self.assertNotEqual(new_id.lower(), old_id.lower())
        # reads at ONE through nodes 1 and 2 while it streams: the ranges
        # node 3 replicates come from the other replica only
        self.assertGreater(self.read_while_joining(n3, (n1, n2), want), 0,
                           "node 3 finished streaming before any read")
        # killed in the middle of its bootstrap and started again (data
        # kept): it still stands in for the dead host id, not beside it
        n3.kill()
        self.wait_down(n1, n3.host)
        n3.start()
        self.assertIn("still replacing host %s" % old_id.lower(), n3.log().lower())
        _wait(lambda: states(n1).get(n3.host, "")[1:] == "J", 60,
              "node 3 JOINING again after its restart (%r)" % states(n1))
        self.assertEqual(host_ids(n1)[n3.host], new_id)
        self.read_while_joining(n3, (n2, n1), want)
        _wait(lambda: all(states(n).get(n3.host) == "UN" for n in (n1, n2, n3)), 300,
              "node 3 NORMAL everywhere (%r)" % states(n1))
        w.finish()
        self.assertGreater(len(w.acked), 0)

        self.assertEqual(sorted(http(n3, "GET", "/info?tokens=1")["token_list"]), toks3)
        self.assertIn("at our own address", n3.log(since_start=False))
        for n in (n1, n2, n3):
            ids = {h.lower() for h in host_ids(n).values()}
            self.assertNotIn(old_id.lower(), ids, n.host)
            self.assertIn(new_id.lower(), ids, n.host)
        want |= set(w.acked)
        self.assert_all(s, want)
        self.only_from_streamed_copies(n1, n2, want)


if __name__ == "__main__":
    harness.main()
