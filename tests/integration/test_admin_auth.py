#!/usr/bin/python3
"""test_admin_auth.py - issue 20: the admin API of a real basaltd wants
its token, refuses DNS-rebinding Host names and foreign Origins, and
basalt-admin finds the token; basaltd refuses secret files other users
could read or that are too short, naming the file.

The issue: the admin API answered POST /drain, /flush, /compact, /repair
and returned the configuration to any local client, checking neither
Host nor Origin.
"""
import json
import os
import socket
import subprocess
import tempfile
import unittest
import urllib.error
import urllib.request

import harness
from harness import Node


def _admin_bin():
    return os.environ.get("BASALT_ADMIN") or os.path.join(
        os.path.dirname(os.path.dirname(harness.BASALTD)), "client", "basalt-admin")


class AdminAuthTest(harness.NodeTestCase):
    keyspace = "ks"

    def req(self, method, path, headers=None):
        """(status, JSON body) of one request to the node's admin API."""
        n = self.node
        r = urllib.request.Request("http://%s:%d%s" % (n.host, n.admin_port, path),
                                   method=method, data=b"" if method == "POST" else None,
                                   headers=headers or {})
        try:
            with urllib.request.urlopen(r, timeout=60) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def test_token_file_is_private(self):
        st = os.stat(os.path.join(self.node.data_dir, "admin_token"))
        self.assertEqual(st.st_mode & 0o777, 0o600)
        self.assertGreaterEqual(len(self.node.admin_token()), 32)

    def test_requests_without_the_token_are_refused(self):
        self.session.execute("CREATE TABLE IF NOT EXISTS t (k int PRIMARY KEY, v text)")
        for method, path in (("GET", "/status"), ("GET", "/info"), ("GET", "/metrics"),
                             ("POST", "/flush"), ("POST", "/compact"), ("POST", "/drain"),
                             ("POST", "/repair?keyspace=ks")):
            st, body = self.req(method, path)
            self.assertEqual(st, 401, "%s %s" % (method, path))
            self.assertIn("admin token", body["error"])
            st, body = self.req(method, path, {"Authorization": "Bearer wrong-token-0123456789"})
            self.assertEqual(st, 401, "%s %s with a wrong token" % (method, path))
        # the drain above did not happen: the node still takes writes
        self.session.execute("INSERT INTO t (k, v) VALUES (1, 'still writable')")
        self.assertEqual(self.session.execute("SELECT v FROM t WHERE k = 1").one().v,
                         "still writable")
        # the configuration is not handed out either
        st, body = self.req("GET", "/info")
        self.assertNotIn("config", body)
        # with the token
        st, body = self.req("GET", "/info", self.node.admin_headers())
        self.assertEqual(st, 200)
        self.assertIn("cluster_name", body["config"])
        # /health needs none
        self.assertEqual(self.req("GET", "/health"), (200, {"status": "ok"}))

    def test_foreign_host_and_origin_are_refused(self):
        auth = self.node.admin_headers()
        own = "%s:%d" % (self.node.host, self.node.admin_port)
        # DNS rebinding: the page's own name arrives in Host
        for host in ("evil.example", "evil.example:%d" % self.node.admin_port,
                     "localhost.evil.example"):
            st, body = self.req("GET", "/status", dict(auth, Host=host))
            self.assertEqual(st, 403, host)
            self.assertIn("Host", body["error"])
            st, _ = self.req("POST", "/drain", dict(auth, Host=host))
            self.assertEqual(st, 403)
        self.assertEqual(self.req("GET", "/status", dict(auth, Host="localhost:7199"))[0], 200)
        # cross-site: a page's Origin
        for origin in ("http://evil.example", "null", "https://" + own):
            st, body = self.req("POST", "/drain", dict(auth, Origin=origin))
            self.assertEqual(st, 403, origin)
            self.assertIn("cross-origin", body["error"])
        self.assertEqual(self.req("GET", "/version", dict(auth, Origin="http://" + own))[0], 200)
        # the refusals are logged with the client's address
        harness.wait_for(lambda: "refused POST /drain from " in self.node.log(), 10,
                         "admin refusal logged")
        self.assertRegex(self.node.log(),
                         r"refused POST /drain from [0-9.]+:\d+: 403 cross-origin")

    def test_basalt_admin_with_and_without_the_token(self):
        n = self.node
        base = [_admin_bin(), "-h", n.host, "-p", str(n.admin_port)]
        env = dict(os.environ)
        env.pop("BASALT_ADMIN_TOKEN_FILE", None)
        with tempfile.TemporaryDirectory() as cwd:
            p = subprocess.run(base + ["status"], capture_output=True, text=True, timeout=60,
                               env=env, cwd=cwd)
            self.assertEqual(p.returncode, 1)
            self.assertIn("(HTTP 401): give the node's admin token", p.stderr)
        tf = os.path.join(n.data_dir, "admin_token")
        p = subprocess.run(base + ["--token-file", tf, "status"], capture_output=True,
                           text=True, timeout=60, env=env)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertRegex(p.stdout, r"UN\s+%s\s" % n.host.replace(".", r"\."))
        p = subprocess.run(base + ["info"], capture_output=True, text=True, timeout=60,
                           env=dict(env, BASALT_ADMIN_TOKEN_FILE=tf))
        self.assertEqual(p.returncode, 0, p.stderr)

    def raw_health(self, source, close=False):
        """A socket from source address `source` to the admin API that got
        200 for GET /health (kept open unless close)."""
        n = self.node
        s = socket.create_connection((n.host, n.admin_port), 30, source_address=(source, 0))
        s.sendall(("GET /health HTTP/1.1\r\nHost: %s:%d\r\n%s\r\n"
                   % (n.host, n.admin_port, "Connection: close\r\n" if close else "")).encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = s.recv(4096)
            self.assertTrue(chunk, "closed before a response: %r" % head)
            head += chunk
        self.assertTrue(head.startswith(b"HTTP/1.1 200 "), head)
        if close:
            s.close()
        return s

    def test_connections_per_source(self):
        """admin_max_connections_per_ip (16): the 17th connection from one
        source address is answered 429 and closed; another source is
        still served."""
        src = self.node.host
        held = []
        try:
            for _ in range(16):
                held.append(self.raw_health(src))
            extra = socket.create_connection((self.node.host, self.node.admin_port), 30,
                                             source_address=(src, 0))
            held.append(extra)
            data = b""
            while True:
                chunk = extra.recv(4096)
                if not chunk:
                    break
                data += chunk
            self.assertTrue(data.startswith(b"HTTP/1.1 429 "), data)
            body = json.loads(data.split(b"\r\n\r\n", 1)[1])
            self.assertIn("too many admin connections", body["error"])
            # a client on another loopback address gets answers
            other = harness._pick_host()
            self.raw_health(other, close=True)
            # and the 16 held connections still work
            for s in held[:16]:
                s.sendall(("GET /health HTTP/1.1\r\nHost: %s:%d\r\n\r\n"
                           % (self.node.host, self.node.admin_port)).encode())
                self.assertTrue(s.recv(4096).startswith(b"HTTP/1.1 200 "))
            harness.wait_for(lambda: "refused admin connection from %s:" % src in self.node.log(),
                             10, "per-source refusal logged")
            self.assertIn("16 connections from %s open (admin_max_connections_per_ip)" % src,
                          self.node.log())
        finally:
            for s in held:
                s.close()


class SecretFilesTest(unittest.TestCase):
    """basaltd refuses to start with a secret file other users could read,
    or one that is too short, and names the file."""

    def start_fails(self, key, content, mode):
        d = tempfile.mkdtemp(prefix="basalt-integ-%d-" % os.getpid())
        try:
            path = os.path.join(d, key)
            with open(path, "w") as f:
                f.write(content)
            os.chmod(path, mode)
            n = Node(extra={key: path})
            try:
                with self.assertRaises(RuntimeError) as cm:
                    n.start()
                self.assertIn(path, str(cm.exception))
                return str(cm.exception)
            finally:
                n.cleanup()
        finally:
            for f in os.listdir(d):
                os.unlink(os.path.join(d, f))
            os.rmdir(d)

    def test_cluster_secret_readable_by_others(self):
        err = self.start_fails("cluster_secret_file", "0123456789abcdef0123456789abcdef\n", 0o644)
        self.assertIn("readable or writable by other users (mode 644)", err)

    def test_cluster_secret_too_short(self):
        err = self.start_fails("cluster_secret_file", "short\n", 0o600)
        self.assertIn("too short", err)

    def test_admin_token_readable_by_group(self):
        err = self.start_fails("admin_token_file", "0123456789abcdef0123456789abcdef\n", 0o640)
        self.assertIn("mode 640", err)

    def test_missing_configured_secret(self):
        n = Node(extra={"cluster_secret_file": "/nonexistent/cluster_secret"})
        try:
            with self.assertRaises(RuntimeError) as cm:
                n.start()
            self.assertIn("/nonexistent/cluster_secret: no such file", str(cm.exception))
        finally:
            n.cleanup()


if __name__ == "__main__":
    harness.main()
