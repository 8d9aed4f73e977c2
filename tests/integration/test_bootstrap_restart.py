"""
test_bootstrap_restart.py - a node restarted while the streams of its
bootstrap are in flight: the chunks its previous run asked for are
refused, not applied (stream session ids: repair/session.c), and the
resumed bootstrap completes with every key.

2 nodes, RF=2, 20,000 keys of 1 KB written at ALL, the sources throttled
to 32 KiB/s (stream_throughput_outbound), so a 256 KiB chunk is followed
by an 8 s pause and every range the joining node gains takes several
chunks.  Node 3 joins; as soon as its first chunk has landed it is killed
and started again at once.  Its source wakes up and sends the next chunk
of the old request to the new process: node 3 refuses it (log "stale
stream chunk ... refused", basalt_stream_stale_chunks_total in /metrics)
and the source stops that stream.  Node 3 is then killed again, the
sources restart unthrottled, node 3 resumes its bootstrap and becomes
NORMAL; every key reads back at ALL.
"""
import re
import time
import urllib.request

from cassandra import ConsistencyLevel
from cassandra.concurrent import execute_concurrent_with_args

import harness
from test_bootstrap import _Base, http

_wait = harness.wait_for
NKEYS = 20000


def stale_chunks(n):
    req = urllib.request.Request("http://%s:%d/metrics" % (n.host, n.admin_port),
                                 headers=n.admin_headers())
    with urllib.request.urlopen(req, timeout=30) as r:
        m = re.search(r"^basalt_stream_stale_chunks_total (\d+)$", r.read().decode(), re.M)
    return int(m.group(1)) if m else -1


class RestartMidBootstrap(_Base):
    CLUSTER = "integ-boot-restart"

    def test_stale_chunks_refused_after_restart(self):
        self.hosts = [harness._pick_host() for _ in range(3)]
        self.sp = harness.shared_port(self.hosts)
        slow = {"stream-throughput-outbound": "32KiB"}
        n1, n2 = self.node(0, **slow), self.node(1, **slow)
        n1.start()
        n2.start()
        self.wait_normal(n1, 2)
        s = self.session(n1)
        s.execute("CREATE KEYSPACE ks WITH replication = "
                  "{'class': 'SimpleStrategy', 'replication_factor': 2}")
        s.execute("CREATE TABLE ks.kb (k int PRIMARY KEY, v text)")
        ps = s.prepare("INSERT INTO ks.kb (k, v) VALUES (?, ?)")
        ps.consistency_level = ConsistencyLevel.ALL
        todo = [(k, "%07d" % k * 143) for k in range(NKEYS)]   # 1001 bytes
        for _ in range(4):
            res = execute_concurrent_with_args(s, ps, todo, concurrency=32,
                                               raise_on_first_error=False)
            todo = [a for a, (ok, _) in zip(todo, res) if not ok]
            if not todo:
                break
        self.assertEqual(todo[:5], [], "%d keys not written" % len(todo))

        n3 = self.node(2)
        n3.start()
        # The source sends its next chunk 8 s after the first.  If node 3's
        # restart takes longer than that (a loaded machine), the chunk meets
        # no process and the source gives the stream up instead: no stale
        # chunk to see, so the kill and restart are tried again (the
        # resumed bootstrap asks for new streams, which pause the same way)
        for attempt in range(1, 4):
            _wait(lambda: http(n3, "GET", "/streams")["streams"]["received_bytes"] > 0,
                  120, "node 3 received a chunk (attempt %d)" % attempt, step=0.02)
            n3.kill()
            n3.start()
            try:
                _wait(lambda: "stale stream chunk for ks.kb" in n3.log(), 40,
                      "node 3 refuses a chunk of its previous run")
                break
            except AssertionError:
                if attempt == 3:
                    raise
                print("attempt %d: no stale chunk reached the new process" % attempt)
        self.assertGreaterEqual(stale_chunks(n3), 1)
        _wait(lambda: any("it no longer waits for this stream" in n.log() for n in (n1, n2)),
              60, "the source stops the stale stream")

        # finish quickly: node 3 down, the sources unthrottled, node 3 resumes
        n3.kill()
        for n in (n1, n2):
            n.stop()
            n.extra.pop("stream-throughput-outbound")
            n.start()
        self.wait_normal(n1, 2)
        n3.start()
        self.wait_normal(n1, 3, timeout=180)
        s = self.session(n1)
        st = ConsistencyLevel.ALL
        got = {}
        from cassandra.query import SimpleStatement
        for r in s.execute(SimpleStatement("SELECT k, v FROM ks.kb", fetch_size=2000,
                                           consistency_level=st), timeout=120):
            got[r.k] = r.v
        missing = [k for k in range(NKEYS) if got.get(k) != "%07d" % k * 143]
        self.assertEqual(missing[:20], [], "%d of %d keys missing at ALL"
                         % (len(missing), NKEYS))


if __name__ == "__main__":
    harness.main()
