"""
test_removed_hosts.py - a node removed with removenode never comes back
under its old host id, even after every node that saw it leave restarted
(node/cluster/cluster.c: <data_directory>/removed_hosts).

3 nodes; node 3 is killed and removed through node 1 (basalt-admin
removenode).  Nodes 1 and 2 are both stopped and started again: gossip
forgot node 3's LEFT state, only the file remembers it.  Node 3 is then
started on its old data directory (same host id, NORMAL with its old
tokens): nodes 1 and 2 log that it was removed and stays out, and their
ring (basalt-admin status) never lists it as a member.
"""
import unittest

import harness
from test_bootstrap import _Base, admin, http, states

_wait = harness.wait_for


class RemovedStaysOut(_Base):
    CLUSTER = "integ-removed"

    def test_removed_host_refused_after_restart(self):
        self.hosts = [harness._pick_host() for _ in range(3)]
        self.sp = harness.shared_port(self.hosts)
        n1, n2, n3 = self.node(0), self.node(1), self.node(2)
        for n in (n1, n2, n3):
            n.start()
            self.wait_normal(n1, [n1, n2, n3].index(n) + 1)
        hid3 = [x["host_id"] for x in http(n1, "GET", "/status")["nodes"]
                if x["address"] == n3.host][0]
        n3.kill()
        self.wait_down(n1, n3.host)
        rc, out = admin(n1, "removenode", hid3)
        print(out)
        self.assertEqual(rc, 0, out)
        _wait(lambda: n3.host not in states(n1) and n3.host not in states(n2), 60,
              "nodes 1 and 2 forget node 3")
        for n in (n1, n2):
            with open("%s/removed_hosts" % n.data_dir) as f:
                self.assertIn(hid3, f.read())

        # every node that saw node 3 leave restarts: gossip forgets LEFT
        n1.stop()
        n2.stop()
        n1.start()
        n2.start()
        self.wait_normal(n1, 2)
        self.assertIn("removed host ids loaded", n1.log())

        # node 3 comes back with its old host id: it stays out
        n3.start()
        for n in (n1, n2):
            _wait(lambda: "(host %s) was removed from the ring: it stays out" % hid3
                  in n.log(), 60, "%s refuses node 3" % n.host)
        for n in (n1, n2):
            st = states(n)
            self.assertNotEqual(st.get(n3.host, "")[1:], "N", st)
            self.assertEqual(sum(1 for v in st.values() if v[1:] == "N"), 2, st)


if __name__ == "__main__":
    harness.main()
