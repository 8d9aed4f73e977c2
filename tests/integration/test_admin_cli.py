"""
test_admin_cli.py - basalt-admin, the nodetool-like tool, end to end.

It runs against test_admin_fakesrv: the real admin REST server (node/admin/admin.c)
with the unit tests' fake provider, a known three-node, two-DC cluster
(tests/unit/node/admin/test_admin_fake.h), so every line of output can be
checked.  Covers: status/ring/info/gossipinfo/describecluster/version
output, keyspace arguments, flush/compact/drain reaching the provider,
error messages and exit codes (connection refused, HTTP errors, a paused
server with a timeout, a port that does not speak HTTP, usage errors).

Binaries: BASALT_ADMIN and BASALT_ADMIN_FAKESRV (set by tests/integration/CMakeLists.txt), or
next to basaltd's build tree (build/client/basalt-admin,
build/tests/integration/test_admin_fakesrv).
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import unittest

import harness

H1 = "11111111-1111-4111-8111-111111111111"
H2 = "22222222-2222-4222-8222-222222222222"
H3 = "33333333-3333-4333-8333-333333333333"
SCHEMA = "aaaaaaaa-0000-1000-8000-00000000000a"


def _binary(env, *rel):
    p = os.environ.get(env)
    if p:
        return p
    build = os.path.dirname(os.path.dirname(os.path.abspath(harness.BASALTD)))
    return os.path.join(build, *rel)


class AdminCli(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.admin = _binary("BASALT_ADMIN", "client", "basalt-admin")
        fakesrv = _binary("BASALT_ADMIN_FAKESRV", "tests", "integration",
                          "test_admin_fakesrv")
        for b in (cls.admin, fakesrv):
            if not os.access(b, os.X_OK):
                raise AssertionError("%s not built (build the basalt-admin and "
                                     "test_admin_fakesrv targets)" % b)
        # the fake server wants a token, like basaltd; the tests pass it
        # in a private file (--token-file), as an operator would
        cls.tmp = tempfile.mkdtemp(prefix="basalt-integ-%d-" % os.getpid())
        cls.token = "fake-token-" + os.urandom(8).hex()
        cls.token_file = os.path.join(cls.tmp, "admin_token")
        fd = os.open(cls.token_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, (cls.token + "\n").encode())
        os.close(fd)
        cls.srv = subprocess.Popen([fakesrv, "127.0.0.1", cls.token], stdout=subprocess.PIPE,
                                   preexec_fn=harness._pdeathsig)
        line = cls.srv.stdout.readline().decode()
        assert line.startswith("PORT "), line
        cls.port = int(line.split()[1])

    @classmethod
    def tearDownClass(cls):
        cls.srv.send_signal(signal.SIGCONT)
        cls.srv.send_signal(signal.SIGTERM)
        shutil.rmtree(cls.tmp, ignore_errors=True)
        assert cls.srv.wait(30) == 0

    def run_admin(self, *args, port=None, code=0, token_file=True, env=None, cwd=None):
        tf = ["--token-file", self.token_file] if token_file is True else []
        p = subprocess.run([self.admin, "-h", "127.0.0.1", "-p",
                            str(port or self.port)] + tf + list(args),
                           capture_output=True, text=True, timeout=60,
                           env=dict(os.environ, **(env or {})), cwd=cwd)
        self.assertEqual(p.returncode, code,
                         "basalt-admin %s: exit %d\nstdout: %s\nstderr: %s"
                         % (" ".join(args), p.returncode, p.stdout, p.stderr))
        return p.stdout, p.stderr

    def counters(self):
        import urllib.request
        req = urllib.request.Request("http://127.0.0.1:%d/fake/counters" % self.port,
                                     headers={"Authorization": "Bearer " + self.token})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())

    def test_status(self):
        out, _ = self.run_admin("status")
        lines = out.splitlines()
        self.assertEqual(lines[0], "Datacenter: dc1")
        self.assertEqual(lines[1], "=" * len("Datacenter: dc1"))
        self.assertEqual(lines[2], "Status=Up/Down")
        self.assertEqual(lines[3], "|/ State=Normal/Leaving/Joining/Moving")
        self.assertEqual(lines[4].split(None, 4)[:4], ["--", "Address", "Load", "Tokens"])
        self.assertIn("Owns (effective)", lines[4])
        self.assertEqual(lines[5].split(), ["UN", "127.0.0.1", "1.5", "KiB", "2", "50.0%", H1, "rack1"])
        self.assertEqual(lines[6].split(), ["DN", "127.0.0.2", "123", "bytes", "2", "25.0%", H2, "rack2"])
        self.assertEqual(lines[8], "Datacenter: dc2")
        self.assertEqual(lines[-1].split(), ["UJ", "127.0.0.10", "?", "1", "25.0%", H3, "rack1"])
        # columns line up: every row's host id starts where the header's does
        col = lines[4].index("Host ID")
        self.assertEqual(lines[5].index(H1), col)
        self.assertEqual(lines[6].index(H2), col)

    def test_status_keyspace(self):
        out, _ = self.run_admin("status", "ks2")
        self.assertIn("100.0%", out)
        self.assertIn("0.0%", out)
        _, err = self.run_admin("status", "nope", code=1)
        self.assertEqual(err.strip(), "basalt-admin: unknown keyspace 'nope' (HTTP 404)")

    def test_ring(self):
        out, _ = self.run_admin("ring")
        lines = [l for l in out.splitlines() if l.strip()]
        self.assertEqual(lines[0], "Datacenter: dc1")
        self.assertEqual(lines[2].split(), ["Address", "Rack", "Status", "State", "Load", "Owns", "Token"])
        self.assertEqual(lines[3].split(), ["200"])  # the wrap-around token
        toks = [l.split()[-1] for l in lines[4:8]]
        self.assertEqual(toks, ["-9223372036854775807", "-100", "50", "200"])
        self.assertIn("Joining", out)

    def test_info(self):
        out, _ = self.run_admin("info")
        kv = dict((k.strip(), v.strip()) for k, v in
                  (l.split(":", 1) for l in out.splitlines()))
        self.assertEqual(kv["ID"], H1)
        self.assertEqual(kv["Load"], "1.5 KiB")
        self.assertEqual(kv["Generation No"], "1700000000")
        self.assertEqual(kv["Uptime (seconds)"], "42")
        self.assertEqual(kv["Data Center"], "dc1")
        self.assertEqual(kv["Schema Version"], SCHEMA)
        out, _ = self.run_admin("info", "-T", "--config")
        self.assertIn("Token                  : -100\nToken                  : 200\n", out)
        self.assertIn("Effective configuration:", out)
        self.assertIn("cluster_name: ", out)

    def test_gossipinfo_describecluster_version(self):
        out, _ = self.run_admin("gossipinfo")
        self.assertTrue(out.startswith("/127.0.0.1\n  generation:1700000000\n  heartbeat:1234\n"
                                       "  STATUS:14:NORMAL,-100\n"), out)
        self.assertIn("/127.0.0.2\n  generation:1700000001\n", out)
        out, _ = self.run_admin("describecluster")
        self.assertIn("\tName: Fake Cluster\n", out)
        self.assertIn("\t\t%s: [127.0.0.1, 127.0.0.10]\n" % SCHEMA, out)
        self.assertIn("\t\tUNREACHABLE: [127.0.0.2]\n", out)
        out, _ = self.run_admin("version")
        self.assertEqual(out, "ReleaseVersion: 4.0.11\nBasalt: 0.1.0 (build test-build)\n")

    def test_actions(self):
        before = self.counters()
        out, _ = self.run_admin("flush", "ks", "t1", "t2")
        self.assertEqual(out, "")
        c = self.counters()
        self.assertEqual(c["flushes"], before["flushes"] + 2)  # one call per table
        self.assertEqual((c["last_keyspace"], c["last_table"]), ("ks", "t2"))
        self.run_admin("compact", "my ks")
        c = self.counters()
        self.assertEqual(c["compacts"], before["compacts"] + 1)
        self.assertEqual((c["last_keyspace"], c["last_table"]), ("my ks", "(all)"))
        self.run_admin("flush")
        self.assertEqual(self.counters()["last_keyspace"], "(all)")
        _, err = self.run_admin("compact", "missing", code=1)
        self.assertEqual(err.strip(), "basalt-admin: unknown keyspace 'missing' (HTTP 404)")
        self.run_admin("drain")
        self.assertEqual(self.counters()["drains"], before["drains"] + 1)

    def test_token_sources(self):
        """Issue 20: the token comes from --token-file, $BASALT_ADMIN_TOKEN_FILE
        or ./data/admin_token; without it the node's 401 is explained."""
        env = {"BASALT_ADMIN_TOKEN_FILE": ""}
        _, err = self.run_admin("version", token_file=False, env=env, cwd=self.tmp, code=1)
        self.assertIn("missing admin token", err)
        self.assertIn("(HTTP 401): give the node's admin token with --token-file", err)
        # from the environment
        out, _ = self.run_admin("version", token_file=False,
                                env={"BASALT_ADMIN_TOKEN_FILE": self.token_file})
        self.assertIn("4.0.11", out)
        # from ./data/admin_token (basaltd's default data directory)
        cwd = os.path.join(self.tmp, "node")
        os.makedirs(os.path.join(cwd, "data"), exist_ok=True)
        shutil.copy(self.token_file, os.path.join(cwd, "data", "admin_token"))
        out, _ = self.run_admin("version", token_file=False, env=env, cwd=cwd)
        self.assertIn("4.0.11", out)
        # a wrong token says where it came from
        bad = os.path.join(self.tmp, "bad_token")
        with open(bad, "w") as f:
            f.write("not-the-token\n")
        _, err = self.run_admin("--token-file", bad, "version", token_file=False, code=1)
        self.assertEqual(err.strip(), "basalt-admin: wrong admin token (HTTP 401): the token "
                                      "from --token-file is not this node's")
        # a missing named file is an error of its own
        _, err = self.run_admin("--token-file", bad + "x", "version", token_file=False, code=1)
        self.assertIn("no such file", err)
        # nothing changed on the node meanwhile
        before = self.counters()
        self.run_admin("drain", token_file=False, env=env, cwd=self.tmp, code=1)
        self.assertEqual(self.counters()["drains"], before["drains"])

    def test_connection_refused(self):
        port = harness._free_port("127.0.0.1")
        _, err = self.run_admin("status", port=port, code=1)
        self.assertEqual(err.strip(), "basalt-admin: cannot connect to 127.0.0.1:%d: "
                                      "Connection refused" % port)

    def test_paused_server_times_out(self):
        harness.pause(self.srv.pid)
        try:
            _, err = self.run_admin("-t", "1", "status", code=1)
        finally:
            self.srv.send_signal(signal.SIGCONT)
        self.assertIn("no answer from 127.0.0.1:%d within 1 s" % self.port, err)
        self.run_admin("status")  # and serves again

    def test_not_http(self):
        ls = socket.socket()
        ls.bind(("127.0.0.1", 0))
        ls.listen(1)

        def answer():
            c, _ = ls.accept()
            c.recv(4096)
            c.sendall(b"\x00\x01garbage, not HTTP\r\n\r\n")
            c.close()
        t = threading.Thread(target=answer)
        t.start()
        _, err = self.run_admin("status", port=ls.getsockname()[1], code=1)
        t.join()
        ls.close()
        self.assertIn("did not answer HTTP (is this the admin port?)", err)

    def test_usage_errors(self):
        for args in (["bogus"], ["status", "a", "b"], ["drain", "x"], ["info", "-x"], []):
            _, err = self.run_admin(*args, code=2)
            self.assertTrue(err.strip(), args)
        p = subprocess.run([self.admin, "-p", "99999", "status"], capture_output=True, text=True)
        self.assertEqual(p.returncode, 2)
        self.assertIn("bad port", p.stderr)
        p = subprocess.run([self.admin, "--help"], capture_output=True, text=True)
        self.assertEqual(p.returncode, 0)
        self.assertIn("describecluster", p.stdout)


if __name__ == "__main__":
    harness.main()
