"""
test_replication.py - replicated reads and writes on 3 real basaltd nodes
(issue 7 "Must show"), with Debian's python3-cassandra driver.

Keyspace rf3 (SimpleStrategy, replication_factor 3) on three nodes that
gossip over one shared storage port (as test_cluster.py does).  Checked:

  * a QUORUM write lands on all three nodes: a CL=ONE read coordinated by
    each node (WhiteListRoundRobinPolicy: only that node) returns it;
  * with one node killed QUORUM reads and writes succeed and ALL fails
    with Unavailable (required 3, alive 2); with two killed QUORUM fails
    with Unavailable (required 2, alive 1);
  * with one node killed, 10,000 keys written at ONE/QUORUM; the
    coordinator restarts in between (hints survive it); the node comes
    back, hints replay, and every key is readable at CL=ONE from that
    node alone, with no repair run;
  * a paused (SIGSTOP) replica does not make QUORUM writes fail: each
    succeeds on the acks of the two others (a coordinator that required
    the paused one's ack would answer WriteTimeout, and the driver does
    not retry), and no write timeout is counted.  How fast they are
    answered is not asserted (that is a benchmark's job);
  * a prepared write at ALL waiting for that paused replica (in flight
    on the coordinator's CQL loop, not on a worker) ends in WriteTimeout
    2/3 SIMPLE, later QUORUM writes are answered before it, and its hint
    reaches the replica once it runs again;
  * (own cluster, hinted_handoff_enabled false) a stale replica is fixed
    by QUORUM reads coordinated by it: afterwards a CL=ONE read from it
    alone returns the new values.

Set-up fails (it does not skip: a broken gossip or coordinator must turn
this file and the ones that share the set-up - test_repair, test_batchlog,
test_truncate - red) when the nodes do not form a cluster (system.peers
of node 0 short of 2 rows after 60 s) or do not replicate (a write at ONE
through node 0 not readable at ONE on nodes 1 and 2 within 60 s).  The
deadlines are liveness bounds, not speed requirements.
"""

import os
import re
import signal
import socket
import unittest
import urllib.request

import harness
from harness import Node

from cassandra import ConsistencyLevel, Unavailable, WriteTimeout, ReadTimeout
from cassandra.cluster import Cluster, ExecutionProfile, EXEC_PROFILE_DEFAULT
from cassandra.concurrent import execute_concurrent_with_args
from cassandra.policies import WhiteListRoundRobinPolicy, FallthroughRetryPolicy
from cassandra.query import SimpleStatement

WRITE_TIMEOUT_MS = 2000


_shared_port = harness.shared_port


def _wait(cond, timeout, what, step=0.1):
    return harness.wait_for(cond, timeout, what, step)


def _session_for(node):
    """A session that only ever talks to `node`; no retries, so an error
    is the coordinator's own answer."""
    prof = ExecutionProfile(load_balancing_policy=WhiteListRoundRobinPolicy([node.host]),
                            retry_policy=FallthroughRetryPolicy(),
                            request_timeout=30)
    c = Cluster([node.host], port=node.port, protocol_version=4,
                execution_profiles={EXEC_PROFILE_DEFAULT: prof},
                connect_timeout=10, control_connection_timeout=10,
                max_schema_agreement_wait=0)
    return c, c.connect()


class _ReplicatedCluster(unittest.TestCase):
    CLUSTER = "integ-repl"
    EXTRA = {}

    @classmethod
    def setUpClass(cls):
        hosts = [harness._pick_host() for _ in range(3)]
        cls.sp = _shared_port(hosts)
        cls.nodes = []
        cls.sessions = {}
        try:
            for h in hosts:
                extra = {"storage-port": cls.sp, "seeds": hosts[0],
                         "cluster-name": cls.CLUSTER, "num-tokens": 8,
                         "write-request-timeout": "%dms" % WRITE_TIMEOUT_MS}
                extra.update(cls.EXTRA)
                cls.nodes.append(Node(host=h, extra=extra))
            for n in cls.nodes:
                n.start()
            cls._require_cluster()
        except BaseException:
            cls._teardown_nodes(check=False)
            raise

    @classmethod
    def _require_cluster(cls):
        s0 = cls.session(0)
        peers = []

        def formed():
            peers[:] = [r.peer for r in s0.execute("SELECT peer FROM system.peers")]
            return harness.ring_formed([cls.session(i) for i in range(len(cls.nodes))],
                                       len(cls.nodes))
        try:
            _wait(formed, 60, "3-node cluster")
        except AssertionError:
            raise AssertionError("the 3 nodes did not form a cluster: system.peers on "
                                 "node 0 lists %r after 60 s (gossip/membership broken?)"
                                 % (peers,))
        s0.execute("CREATE KEYSPACE IF NOT EXISTS rf3 WITH replication = "
                   "{'class': 'SimpleStrategy', 'replication_factor': 3}")
        s0.execute("CREATE TABLE IF NOT EXISTS rf3.t (k int PRIMARY KEY, v text)")
        for i in range(3):
            _wait(lambda i=i: cls.session(i).execute(
                "SELECT table_name FROM system_schema.tables WHERE keyspace_name = 'rf3'").one(),
                  10, "schema on node %d" % i)
        s0.execute(SimpleStatement("INSERT INTO rf3.t (k, v) VALUES (-1, 'probe')",
                                   consistency_level=ConsistencyLevel.ONE))
        seen = {}

        def replicated():
            for i in (1, 2):
                seen[i] = cls.local_value(i, -1)
            return all(seen[i] == "probe" for i in (1, 2))
        try:
            _wait(replicated, 60, "probe replicated")
        except AssertionError as e:
            raise AssertionError("a write at ONE through node 0 did not reach the other "
                                 "replicas within 60 s (CL=ONE reads on nodes 1, 2 gave %r; "
                                 "the coordinator does not replicate): %s" % (seen, e))

    @classmethod
    def session(cls, i):
        if i not in cls.sessions:
            cls.sessions[i] = _session_for(cls.nodes[i])
        return cls.sessions[i][1]

    @classmethod
    def drop_session(cls, i):
        if i in cls.sessions:
            cls.sessions.pop(i)[0].shutdown()

    @classmethod
    def local_value(cls, i, k, cl=ConsistencyLevel.ONE):
        """v of key k read at `cl` through node i (None: no row)."""
        r = cls.session(i).execute(SimpleStatement("SELECT v FROM rf3.t WHERE k = %s",
                                                   consistency_level=cl), (k,)).one()
        return r.v if r else None

    @classmethod
    def _teardown_nodes(cls, check=True):
        for c, _ in cls.sessions.values():
            try:
                c.shutdown()
            except Exception:
                pass
        cls.sessions = {}
        rcs = []
        try:
            for n in cls.nodes:
                if n.alive():
                    try:
                        os.kill(n.proc.pid, signal.SIGCONT)
                    except OSError:
                        pass
                    rcs.append((n.host, n.stop()))
        finally:
            for n in cls.nodes:
                n.cleanup()
        if check:
            for h, rc in rcs:
                if rc != 0:
                    raise AssertionError("basaltd %s exited with %r on SIGTERM" % (h, rc))

    @classmethod
    def tearDownClass(cls):
        cls._teardown_nodes()

    # -- helpers ----------------------------------------------------------
    def write(self, i, k, v, cl):
        self.session(i).execute(SimpleStatement("INSERT INTO rf3.t (k, v) VALUES (%s, %s)",
                                                consistency_level=cl), (k, v))

    def _seen_alive(self, j, want):
        """True when a write at ALL through node j sees `want` live
        replicas (success when want == 3)."""
        try:
            self.write(j, -2, "x", ConsistencyLevel.ALL)
            return want == 3
        except Unavailable as e:
            return e.alive_replicas == want
        except Exception:
            return False

    def _converge(self, what):
        """Waits until every running node's failure detector agrees with
        which processes run."""
        live = [j for j in range(3) if self.nodes[j].alive()]
        for j in live:
            _wait(lambda j=j: self._seen_alive(j, len(live)), 60,
                  "node %d sees %d live replicas (%s)" % (j, len(live), what), step=0.5)

    def kill(self, i):
        self.drop_session(i)
        self.nodes[i].kill()
        self._converge("node %d killed" % i)

    def restart(self, i):
        self.drop_session(i)
        self.nodes[i].start()
        self._converge("node %d restarted" % i)

    def metric(self, i, name):
        """A sample of node i's GET /metrics (None: absent)."""
        n = self.nodes[i]
        req = urllib.request.Request("http://%s:%d/metrics" % (n.host, n.admin_port),
                                     headers=n.admin_headers())
        with urllib.request.urlopen(req, timeout=10) as r:
            for line in r.read().decode().splitlines():
                if line.startswith(name + " "):
                    return float(line.split()[1])
        return None



class ReplicationTest(_ReplicatedCluster):

    def test_1_quorum_write_lands_on_all_three(self):
        self.write(0, 1, "one", ConsistencyLevel.QUORUM)
        for i in range(3):
            _wait(lambda i=i: self.local_value(i, 1) == "one", 5, "value on node %d" % i)

    def test_2_one_killed_then_two_killed(self):
        self.kill(2)
        try:
            self.write(0, 2, "two", ConsistencyLevel.QUORUM)
            self.assertEqual(self.local_value(1, 2, ConsistencyLevel.QUORUM), "two")
            with self.assertRaises(Unavailable) as cm:
                self.write(0, 2, "all", ConsistencyLevel.ALL)
            self.assertEqual(cm.exception.required_replicas, 3)
            self.assertEqual(cm.exception.alive_replicas, 2)
            self.kill(1)
            with self.assertRaises(Unavailable) as cm:
                self.write(0, 2, "q", ConsistencyLevel.QUORUM)
            self.assertEqual(cm.exception.required_replicas, 2)
            self.assertEqual(cm.exception.alive_replicas, 1)
            with self.assertRaises(Unavailable):
                self.local_value(0, 2, ConsistencyLevel.QUORUM)
        finally:
            for i in (1, 2):
                if not self.nodes[i].alive():
                    self.nodes[i].start()
            self._converge("nodes restarted")

    def test_3_hints_replay_10000_keys(self):
        n_keys = 10000
        self.kill(2)
        ins = self.session(0).prepare("INSERT INTO rf3.t (k, v) VALUES (?, ?)")
        args = [(1000 + k, "h%d" % k) for k in range(n_keys)]
        for cl, part in ((ConsistencyLevel.ONE, args[:n_keys // 2]),
                         (ConsistencyLevel.QUORUM, args[n_keys // 2:])):
            ins.consistency_level = cl
            res = execute_concurrent_with_args(self.session(0), ins, part, concurrency=64,
                                               raise_on_first_error=True)
            self.assertTrue(all(ok for ok, _ in res))
        # the coordinator restarts while its hints wait (they must survive)
        self.drop_session(0)
        self.assertEqual(self.nodes[0].stop(), 0)
        self.nodes[0].start()
        _wait(lambda: self.write(0, -4, "z", ConsistencyLevel.QUORUM) is None, 30,
              "node 0 back")
        self.restart(2)
        want = {1000 + k: "h%d" % k for k in range(n_keys)}

        def replayed():
            rows = self.session(2).execute(SimpleStatement(
                "SELECT k, v FROM rf3.t", consistency_level=ConsistencyLevel.ONE,
                fetch_size=2000))
            got = {r.k: r.v for r in rows if r.k >= 1000}
            return got == want
        _wait(replayed, 180, "all %d keys on node 2 at CL=ONE" % n_keys, step=2)
        for k in (1000, 1000 + n_keys // 2, 1000 + n_keys - 1):
            self.assertEqual(self.local_value(2, k), want[k])

    def test_4_paused_node_does_not_fail_quorum_writes(self):
        n2 = self.nodes[2]
        timeouts0 = self.metric(0, "basalt_coordinator_write_timeouts_total")
        self.assertIsNotNone(timeouts0, "no basalt_coordinator_write_timeouts_total")
        harness.pause(n2.proc.pid)
        try:
            for k in range(20):
                # raises WriteTimeout if the coordinator waits for node 2
                self.write(0, 50000 + k, "p", ConsistencyLevel.QUORUM)
            for i in (0, 1):
                self.assertEqual(self.local_value(i, 50019), "p")
            self.assertEqual(self.metric(0, "basalt_coordinator_write_timeouts_total"),
                             timeouts0)
        finally:
            os.kill(n2.proc.pid, signal.SIGCONT)
        _wait(lambda: self.write(0, -5, "w", ConsistencyLevel.ALL) is None, 60,
              "paused node writable again")

    def test_4b_prepared_write_waiting_on_a_paused_replica(self):
        """A prepared write is started on the CQL loop and answered when
        its replicas have (node/main.c h_handle_inline): at ALL with node
        2 paused it ends in WriteTimeout (received 2, required 3, SIMPLE)
        after the write timeout, while prepared QUORUM writes sent after
        it on the same session are answered first; its hint reaches node
        2 once it runs again."""
        n2 = self.nodes[2]
        s = self.session(0)
        ins = s.prepare("INSERT INTO rf3.t (k, v) VALUES (?, ?)")
        ins_all = s.prepare("INSERT INTO rf3.t (k, v) VALUES (?, ?)")
        ins_all.consistency_level = ConsistencyLevel.ALL
        ins.consistency_level = ConsistencyLevel.QUORUM
        harness.pause(n2.proc.pid)
        try:
            f_all = s.execute_async(ins_all, (60000, "all"))
            ended = []
            f_all.add_callbacks(ended.append, ended.append)
            for k in range(20):
                s.execute(ins, (60001 + k, "q"))
            # the ALL write still waits for node 2's ack
            self.assertEqual(ended, [], "the ALL write was answered before the "
                             "QUORUM writes sent after it")
            with self.assertRaises(WriteTimeout) as cm:
                f_all.result()
            e = cm.exception
            self.assertEqual((e.received_responses, e.required_responses), (2, 3))
            self.assertEqual(e.write_type, 0)  # SIMPLE
            for i in (0, 1):
                self.assertEqual(self.local_value(i, 60000), "all")
                self.assertEqual(self.local_value(i, 60020), "q")
        finally:
            os.kill(n2.proc.pid, signal.SIGCONT)
        _wait(lambda: self.local_value(2, 60000) == "all", 60,
              "the timed-out write's hint replayed to node 2")

    def test_4c_prepared_reads_on_the_loop(self):
        """A prepared single-partition SELECT is started on the CQL loop
        and answered there once its replicas have (query/exec.c
        bs__x_read): the values are right, the requests count as
        deferred and none moves to a worker.  With node 1 paused, QUORUM
        reads still answer (a speculative retry replaces node 1 where
        it was a contact), reads sent after an ALL read are answered
        before it, and the ALL read ends in ReadTimeout (2 of 3).
        Statements that must block (IN over two partitions, a range
        scan) move to a worker and answer the same rows."""
        s = self.session(0)
        for k in range(80000, 80020):
            self.write(0, k, "r%d" % k, ConsistencyLevel.ALL)
        sel = s.prepare("SELECT v FROM rf3.t WHERE k = ?")
        sel.consistency_level = ConsistencyLevel.QUORUM
        d0 = self.metric(0, "basalt_cql_requests_deferred_total")
        m0 = self.metric(0, "basalt_cql_requests_moved_total")
        l0 = self.metric(0, "basalt_cql_requests_on_loop_total")
        for k in range(80000, 80020):
            self.assertEqual(s.execute(sel, (k,)).one().v, "r%d" % k)
        self.assertIsNone(s.execute(sel, (89999,)).one())
        # all started on the loop, none moved; left in flight unless the
        # remote answer was in before the local read was done
        self.assertGreaterEqual(self.metric(0, "basalt_cql_requests_on_loop_total") - l0, 21)
        self.assertGreaterEqual(self.metric(0, "basalt_cql_requests_deferred_total") - d0, 1)
        self.assertEqual(self.metric(0, "basalt_cql_requests_moved_total"), m0)
        # statements a loop must not wait for: on a worker, same rows
        sel_in = s.prepare("SELECT k, v FROM rf3.t WHERE k IN (?, ?)")
        sel_in.consistency_level = ConsistencyLevel.QUORUM
        rows = sorted((r.k, r.v) for r in s.execute(sel_in, (80001, 80002)))
        self.assertEqual(rows, [(80001, "r80001"), (80002, "r80002")])
        scan = s.prepare("SELECT k FROM rf3.t WHERE token(k) >= ? LIMIT 3")
        scan.consistency_level = ConsistencyLevel.QUORUM
        self.assertEqual(len(list(s.execute(scan, (-2**63,)))), 3)
        self.assertEqual(self.metric(0, "basalt_cql_requests_moved_total") - m0, 2)
        sel_all = s.prepare("SELECT v FROM rf3.t WHERE k = ?")
        sel_all.consistency_level = ConsistencyLevel.ALL
        n1 = self.nodes[1]
        spec0 = self.metric(0, "basalt_speculative_retries_total")
        harness.pause(n1.proc.pid)
        try:
            f_all = s.execute_async(sel_all, (80000,))
            ended = []
            f_all.add_callbacks(ended.append, ended.append)
            for k in range(80000, 80020):
                self.assertEqual(s.execute(sel, (k,)).one().v, "r%d" % k)
            self.assertEqual(ended, [], "the ALL read was answered before the "
                             "QUORUM reads sent after it")
            with self.assertRaises(ReadTimeout) as cm:
                f_all.result()
            e = cm.exception
            self.assertEqual((e.received_responses, e.required_responses), (2, 3))
            self.assertGreater(self.metric(0, "basalt_speculative_retries_total"), spec0)
        finally:
            os.kill(n1.proc.pid, signal.SIGCONT)
        _wait(lambda: self.write(0, -6, "w", ConsistencyLevel.ALL) is None, 60,
              "paused node writable again")

    def test_5_metrics(self):
        """GET /metrics: Prometheus text with the coordinator's, the
        replica's and the storage's figures."""
        for k in range(5):
            self.write(1, 70000 + k, "m", ConsistencyLevel.QUORUM)
        n = self.nodes[1]
        req = urllib.request.Request("http://%s:%d/metrics" % (n.host, n.admin_port),
                                     headers=n.admin_headers())
        with urllib.request.urlopen(req, timeout=10) as r:
            self.assertTrue(r.headers["Content-Type"].startswith("text/plain"))
            text = r.read().decode()
        vals = {}
        for line in text.splitlines():
            if line.startswith("# HELP ") or line.startswith("# TYPE "):
                continue
            m = re.fullmatch(r'([a-z_]+(?:\{[a-z]+="[^"]*"(?:,[a-z]+="[^"]*")*\})?) '
                             r'([0-9.e+-]+)', line)
            self.assertIsNotNone(m, "not a sample line: %r" % line)
            vals[m.group(1)] = float(m.group(2))
        self.assertGreaterEqual(vals['basalt_coordinator_writes_total{cl="QUORUM"}'], 5)
        self.assertGreater(vals["basalt_replica_writes_total"], 0)  # node 0's writes
        self.assertGreaterEqual(vals["basalt_cql_requests_total"], 5)
        # the gauge of requests with a worker or waiting for replicas (its
        # value: test_server resumed_and_moved_requests)
        self.assertIn("basalt_cql_requests_in_flight", vals)
        self.assertIn("basalt_hints_pending", vals)
        # flushes/compactions: caught up on an idle node; SCHED_IDLE usable
        # by root (CAP_SYS_NICE), maybe not by another user
        self.assertEqual(vals["basalt_storage_background_behind"], 0)
        if os.geteuid() == 0:
            self.assertEqual(vals["basalt_storage_background_idle_allowed"], 1)
        # what runs and waits (scripts/bench waits for 0 before a timed run)
        for k in ("flushes_running", "compactions_running", "flushes_pending",
                  "compactions_pending", "pending_compaction_bytes"):
            self.assertGreaterEqual(vals["basalt_storage_" + k], 0)


class StaleReplicaTest(_ReplicatedCluster):
    CLUSTER = "integ-repl-stale"
    EXTRA = {"hinted-handoff-enabled": "false"}

    def test_stale_replica_fixed_by_quorum_reads(self):
        keys = list(range(100, 300))
        for k in keys:
            self.write(0, k, "old", ConsistencyLevel.ALL)
        self.kill(2)
        for k in keys:
            self.write(0, k, "new", ConsistencyLevel.QUORUM)
        self.restart(2)
        # no hints: node 2 is stale
        self.assertEqual(self.local_value(2, keys[0]), "old")
        # QUORUM reads coordinated by the stale node repair it; prepared
        # ones (half) are started on the loop, find the digests differ
        # and move to a worker, which repairs
        sel = self.session(2).prepare("SELECT v FROM rf3.t WHERE k = ?")
        sel.consistency_level = ConsistencyLevel.QUORUM
        m0 = self.metric(2, "basalt_cql_requests_moved_total")
        for k in keys[:100]:
            self.assertEqual(self.session(2).execute(sel, (k,)).one().v, "new")
        self.assertGreater(self.metric(2, "basalt_cql_requests_moved_total"), m0)
        for k in keys[100:]:
            self.assertEqual(self.local_value(2, k, ConsistencyLevel.QUORUM), "new")
        for k in keys:
            self.assertEqual(self.local_value(2, k, ConsistencyLevel.ONE), "new")


if __name__ == "__main__":
    harness.main()
