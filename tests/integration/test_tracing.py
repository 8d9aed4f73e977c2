"""
test_tracing.py - CQL tracing (issue 23) on 3 real basaltd nodes with
RF=3, driven by Debian's unmodified python3-cassandra.

  * test_1: execute(..., trace=True) at QUORUM: the response carries a
    tracing id, and get_query_trace() - whose reads of system_traces the
    driver sends to any node, at CL ONE - returns a session with a
    duration, the coordinator, the request and parameters, and events
    from at least 2 nodes (the coordinator's "Parsing ..." and "Sending
    READ message to /X", a replica's "READ message received from /Y" and
    "Read 1 live rows ..."); a traced write has replica events
    ("Adding to rf3.t memtable"); a traced read after a replica missed a
    write (hints off) records "Digest mismatch" and the read repair.
  * test_2: basalt-admin settraceprobability 1.0 on node 0: untraced
    requests coordinated by node 0 leave sessions in system_traces (with a
    duration, and the statement as parameters['query']); gettraceprobability prints
    it; settraceprobability 0 stops it; a bad value exits 1 with the reason.
  * test_3: basalt-shell -e "TRACING ON; SELECT ...": the rows, then
    "Tracing session: <id>" and cqlsh's table (activity | timestamp |
    source | source_elapsed | client) from the request to "Request
    complete", with events of at least 2 nodes; TRACING OFF stops it.
"""

import os
import subprocess
import time

from cassandra import ConsistencyLevel
from cassandra.cluster import Cluster, ExecutionProfile, EXEC_PROFILE_DEFAULT
from cassandra.policies import RoundRobinPolicy
from cassandra.query import SimpleStatement

import harness
from test_replication import _ReplicatedCluster


def admin_bin():
    return os.environ.get("BASALT_ADMIN") or os.path.join(
        os.path.dirname(os.path.dirname(harness.BASALTD)), "client", "basalt-admin")


class TracingTest(_ReplicatedCluster):
    CLUSTER = "integ-tracing"
    EXTRA = {"hinted-handoff-enabled": "false"}

    @classmethod
    def all_nodes_session(cls):
        """A session over every node, round-robin: the driver's trace reads
        land on any node, not only on the coordinator."""
        if not hasattr(cls, "_rr"):
            prof = ExecutionProfile(load_balancing_policy=RoundRobinPolicy(), request_timeout=30)
            c = Cluster([n.host for n in cls.nodes], port=cls.nodes[0].port, protocol_version=4,
                        execution_profiles={EXEC_PROFILE_DEFAULT: prof}, connect_timeout=10,
                        max_schema_agreement_wait=0)
            cls._rr = (c, c.connect())
            cls.sessions["rr"] = cls._rr
        return cls._rr[1]

    def trace_of(self, session, q, cl, args=None):
        rs = session.execute(SimpleStatement(q, consistency_level=cl), args, trace=True)
        self.assertIsNotNone(rs.response_future._query_traces,
                             "the response has no tracing id")
        return rs, rs.get_query_trace(max_wait_sec=20)

    def test_1_trace_per_request(self):
        s0 = self.session(0)
        s0.execute(SimpleStatement("INSERT INTO rf3.t (k, v) VALUES (7, 'seven')",
                                   consistency_level=ConsistencyLevel.ALL))
        # a read through node 0 at QUORUM, traces read back through any node
        rs, tr = self.trace_of(self.session(0), "SELECT v FROM rf3.t WHERE k = 7",
                               ConsistencyLevel.QUORUM)
        self.assertEqual(rs.one().v, "seven")
        self.assertIsNotNone(tr.duration)
        self.assertGreater(tr.duration.total_seconds(), 0)
        self.assertEqual(str(tr.coordinator), self.nodes[0].host)
        self.assertEqual(tr.request_type, "Execute CQL3 query")
        self.assertEqual(tr.parameters.get("consistency_level"), "QUORUM")
        self.assertEqual(tr.parameters.get("query"), "SELECT v FROM rf3.t WHERE k = 7")
        self.assertIsNotNone(tr.started_at)
        sources = {str(e.source) for e in tr.events}
        acts = [e.description for e in tr.events]
        self.assertGreaterEqual(len(sources), 2, "events from one node only: %r" % acts)
        self.assertTrue(sources <= {n.host for n in self.nodes}, sources)
        self.assertIn("Parsing SELECT v FROM rf3.t WHERE k = 7", acts)
        self.assertTrue(any(a.startswith("Sending READ message to /") for a in acts), acts)
        self.assertTrue(any(a.startswith("READ message received from /%s" % self.nodes[0].host)
                            for a in acts), acts)
        self.assertTrue(any(a.startswith("Read 1 live rows") for a in acts), acts)
        for e in tr.events:
            self.assertIsNotNone(e.source_elapsed)
            self.assertIsNotNone(e.thread_name)

        # the same trace read through each node gives the same events
        for i in range(3):
            n = len(self.session(i).execute(SimpleStatement(
                "SELECT * FROM system_traces.events WHERE session_id = %s",
                consistency_level=ConsistencyLevel.ONE), (tr.trace_id,)).current_rows)
            self.assertEqual(n, len(tr.events), "node %d sees %d events" % (i, n))

        # the driver's own session (round-robin over all nodes) traces too
        rr = self.all_nodes_session()
        for k in range(3):
            _, tw = self.trace_of(rr, "INSERT INTO rf3.t (k, v) VALUES (%s, 'x')",
                                  ConsistencyLevel.QUORUM, (100 + k,))
            acts = [e.description for e in tw.events]
            self.assertTrue(any(a == "Adding to rf3.t memtable" for a in acts), acts)
            self.assertGreaterEqual(len({str(e.source) for e in tw.events}), 2, acts)

        # a QUORUM scan of a small table: every token range comes back
        # short, so the concurrency factor grows (ranges requested ahead)
        _, ts = self.trace_of(self.session(0), "SELECT count(*) FROM rf3.t",
                              ConsistencyLevel.QUORUM)
        acts = [e.description for e in ts.events]
        self.assertIn("Executing a range scan of rf3.t at QUORUM", acts)
        self.assertIn("Range scan concurrency factor now 2", acts)
        self.assertIn("Range scan concurrency factor now 16", acts)
        self.assertEqual(self.session(1).execute(SimpleStatement(
            "SELECT count(*) FROM rf3.t", consistency_level=ConsistencyLevel.QUORUM)).one()[0],
            self.session(1).execute(SimpleStatement(
                "SELECT count(*) FROM rf3.t", consistency_level=ConsistencyLevel.ALL)).one()[0])

        # a stale replica: node 2 misses an update (hints are off)
        self.kill(2)
        s0.execute(SimpleStatement("UPDATE rf3.t SET v = 'new' WHERE k = 7",
                                   consistency_level=ConsistencyLevel.QUORUM))
        self.restart(2)
        _, tr = self.trace_of(self.session(2), "SELECT v FROM rf3.t WHERE k = 7",
                              ConsistencyLevel.ALL)
        acts = [e.description for e in tr.events]
        self.assertTrue(any(a.startswith("Digest mismatch") for a in acts), acts)
        self.assertTrue(any(a.startswith("Read repair: applying") for a in acts), acts)

    def test_2_probabilistic(self):
        n0 = self.nodes[0]
        token = os.path.join(n0.data_dir, "admin_token")
        base = [admin_bin(), "-h", n0.host, "-p", str(n0.admin_port), "--token-file", token]

        def adm(*args, code=0):
            p = subprocess.run(base + list(args), capture_output=True, text=True, timeout=60)
            self.assertEqual(p.returncode, code, p.stdout + p.stderr)
            return p.stdout + p.stderr

        self.assertIn("Current trace probability: 0", adm("gettraceprobability"))
        out = adm("settraceprobability", "2", code=1)
        self.assertIn("between 0 and 1", out)
        adm("settraceprobability", "1.0")
        self.assertIn("Current trace probability: 1", adm("gettraceprobability"))
        s0 = self.session(0)
        marker = "prob%d" % int(time.time() * 1000)
        q = "SELECT v FROM rf3.t WHERE k = 12345 AND v = '%s' ALLOW FILTERING" % marker
        for _ in range(3):
            rs = s0.execute(SimpleStatement(q, consistency_level=ConsistencyLevel.QUORUM))
            # probabilistic tracing does not tell the client
            self.assertIsNone(rs.response_future._query_traces)
        adm("settraceprobability", "0")
        self.assertIn("Current trace probability: 0", adm("gettraceprobability"))
        # node 0's own sessions (a scan of a node-local table)
        rows = [r for r in s0.execute("SELECT session_id, parameters, duration, coordinator "
                                      "FROM system_traces.sessions")
                if (r.parameters or {}).get("query") == q]
        self.assertEqual(len(rows), 3, rows)
        for r in rows:
            self.assertIsNotNone(r.duration)
            self.assertEqual(str(r.coordinator), n0.host)
        # with probability 0 again nothing more is recorded
        s0.execute(SimpleStatement(q, consistency_level=ConsistencyLevel.QUORUM))
        rows = [r for r in s0.execute("SELECT parameters FROM system_traces.sessions")
                if (r.parameters or {}).get("query") == q]
        self.assertEqual(len(rows), 3)

    def test_3_shell_tracing_on(self):
        n0 = self.nodes[0]
        shell = os.environ.get("BASALT_SHELL") or os.path.join(
            os.path.dirname(os.path.dirname(harness.BASALTD)), "client", "basalt-shell")
        self.session(0).execute(SimpleStatement("INSERT INTO rf3.t (k, v) VALUES (77, 'sh')",
                                                consistency_level=ConsistencyLevel.ALL))
        p = subprocess.run([shell, "--host", n0.host, "--port", str(n0.port), "-e",
                            "TRACING; TRACING ON; CONSISTENCY QUORUM; "
                            "SELECT v FROM rf3.t WHERE k = 77; TRACING OFF; "
                            "SELECT v FROM rf3.t WHERE k = 77;"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        out = p.stdout
        self.assertIn("Tracing is currently disabled. Use TRACING ON to enable.", out)
        self.assertIn("Now Tracing is enabled", out)
        self.assertIn("Disabled Tracing.", out)
        self.assertEqual(out.count("Tracing session: "), 1, out)
        lines = out[out.index("Tracing session: "):].splitlines()
        header = [c.strip() for c in lines[2].split("|")]
        self.assertEqual(header, ["activity", "timestamp", "source", "source_elapsed", "client"])
        rows = []
        for ln in lines[4:]:
            if not ln.strip():
                break
            rows.append([c.strip() for c in ln.split("|")])
        self.assertEqual(rows[0][0], "Execute CQL3 query")
        self.assertEqual(rows[0][2], n0.host)
        self.assertEqual(rows[-1][0], "Request complete")
        self.assertGreater(int(rows[-1][3]), 0)
        self.assertTrue(any(r[0].startswith("Parsing SELECT v FROM rf3.t WHERE k = 77 [")
                            for r in rows), out)
        self.assertGreaterEqual(len({r[2] for r in rows[1:-1]}), 2, out)
        for r in rows:
            self.assertEqual(len(r), 5, r)
            self.assertRegex(r[1], r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$")
        # the statements' own results are printed too, twice
        self.assertEqual(out.count(" sh\n"), 2, out)


if __name__ == "__main__":
    harness.main()
