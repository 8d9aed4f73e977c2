#!/usr/bin/python3
"""test_tls.py - TLS on the CQL port and between nodes (issue 20).

Certificates are made by scripts/gen-certs in a temporary directory: a
test CA, one certificate per node address (IP subjectAltName), a client
certificate, and a "rogue" certificate signed by another CA.

CQL (client_encryption_options), with Debian's unmodified python3-cassandra:
  * TLS required: a driver with an ssl_context that verifies the CA
    writes and reads; a plaintext driver is refused with a protocol error
    that says TLS is required; a driver that trusts another CA refuses
    the node's certificate;
  * optional: true: TLS and plaintext drivers both work on the same port;
  * require_client_auth: a TLS driver without a client certificate is
    refused (and the node logs it with the client's address); with the
    client certificate it works; with the rogue certificate it is refused;
    basalt-shell (options and BASALT_SSL_* variables) and basalt-stress
    work with the client certificate; the shell is refused without it,
    when it trusts another CA, and in plaintext;
  * with PasswordAuthenticator too: PlainTextAuthProvider over TLS logs
    in, a wrong password is refused.

Admin API (admin_encryption_options): basalt-admin --ssl-ca (and
BASALT_SSL_CA) works, plain HTTP is answered 400 naming the setting,
another CA is refused; over HTTPS the token and Origin checks still apply
(https:// origins).

Internode (server_encryption_options.internode_encryption: all), 3 nodes:
  * a write at ALL through node 0 is read at ALL through nodes 1 and 2;
  * the storage port speaks TLS (a handshake with a node certificate
    succeeds) and a plaintext connection to it is refused and logged;
  * a fourth node whose certificate is not signed by the cluster CA (it
    has the cluster secret) cannot join: every node it reaches logs the
    refused TLS handshake with its address, and it never appears in
    system.peers.
"""
import os
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import unittest

import harness
from harness import Node

from cassandra import ConsistencyLevel
from cassandra.cluster import NoHostAvailable
from cassandra.query import SimpleStatement

ROOT = harness.ROOT
GEN = os.path.join(ROOT, "scripts", "gen-certs")

_CERTS = {}
# every address of this file, picked up front: one gen-certs run signs them
# all with one CA (3 one-node classes, 3 cluster nodes and the rogue one,
# 2 nodes in two data centres)
HOSTS = [harness._pick_host() for _ in range(9)]


def certs():
    """The certificate directory, made once per process by gen-certs with
    a certificate per address of HOSTS (files named by the address)."""
    if "dir" not in _CERTS:
        d = tempfile.mkdtemp(prefix="basalt-integ-%d-certs-" % os.getpid())
        _CERTS["dir"] = d
        subprocess.check_call([GEN, d] + ["%s=%s" % (h, h) for h in HOSTS],
                              stdout=subprocess.DEVNULL)
    return _CERTS["dir"]


def tearDownModule():
    if "dir" in _CERTS:
        shutil.rmtree(_CERTS["dir"], ignore_errors=True)


def pem(name):
    return os.path.join(_CERTS["dir"], name)


def client_ctx(ca="ca.pem", cert=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(pem(ca))
    ctx.check_hostname = False          # the CA check is what is tested
    ctx.verify_mode = ssl.CERT_REQUIRED
    if cert:
        ctx.load_cert_chain(pem(cert + ".pem"), pem(cert + ".key"))
    return ctx


def client_opts(host, **kw):
    d = {"client_encryption_options.enabled": "true",
         "client_encryption_options.certfile": pem(host + ".pem"),
         "client_encryption_options.keyfile": pem(host + ".key")}
    d.update(kw)
    return d


def connect(node, ctx):
    c = node.cluster(ssl_context=ctx) if ctx else node.cluster()
    try:
        return c, c.connect()
    except BaseException:
        c.shutdown()
        raise


def roundtrip(test, session, k):
    session.execute("CREATE KEYSPACE IF NOT EXISTS tls WITH replication = "
                    "{'class': 'SimpleStrategy', 'replication_factor': 1}")
    session.execute("CREATE TABLE IF NOT EXISTS tls.t (k int PRIMARY KEY, v text)")
    big = "x" * 200000              # many TLS records
    session.execute("INSERT INTO tls.t (k, v) VALUES (%s, %s)", (k, big))
    test.assertEqual(session.execute("SELECT v FROM tls.t WHERE k = %s", (k,)).one().v, big)


def refused(test, node, ctx):
    """Connecting fails; returns the error text."""
    with test.assertRaises(NoHostAvailable) as cm:
        c, s = connect(node, ctx)
        c.shutdown()
    return str(cm.exception)


class _OneNode(unittest.TestCase):
    EXTRA = {}
    HOST = 0

    @classmethod
    def setUpClass(cls):
        cls.host = HOSTS[cls.HOST]
        certs()
        cls.node = Node(host=cls.host, extra=client_opts(cls.host, **cls.EXTRA))
        try:
            cls.node.start()
        except BaseException:
            cls.node.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            rc = cls.node.stop()
        finally:
            cls.node.cleanup()
        if rc != 0:
            raise AssertionError("basaltd exited with %r on SIGTERM" % rc)


class ClientTLSRequiredTest(_OneNode):
    """Also HTTPS on the admin API (admin_encryption_options)."""

    @classmethod
    def setUpClass(cls):
        h = HOSTS[cls.HOST]
        certs()
        cls.EXTRA = {"admin_encryption_options.enabled": "true",
                     "admin_encryption_options.certfile": pem(h + ".pem"),
                     "admin_encryption_options.keyfile": pem(h + ".key")}
        super().setUpClass()

    def admin(self, args, env=None):
        exe = os.environ.get("BASALT_ADMIN")
        self.assertTrue(exe, "BASALT_ADMIN not set (ctest sets it)")
        e = {k: v for k, v in os.environ.items() if not k.startswith("BASALT_SSL")}
        e.update(env or {})
        tok = os.path.join(self.node.data_dir, "admin_token")
        return subprocess.run([exe, "-h", self.host, "-p", str(self.node.admin_port),
                               "--token-file", tok] + args,
                              capture_output=True, text=True, timeout=60, env=e)

    def test_admin_over_https(self):
        # the admin API opens after the CQL port the harness waits for
        harness.wait_for(lambda: socket.create_connection(
            (self.host, self.node.admin_port), 1).close() or True, 30, "admin port open")
        r = self.admin(["--ssl-ca", pem("ca.pem"), "status"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(self.host, r.stdout)
        r = self.admin(["info"], {"BASALT_SSL_CA": pem("ca.pem")})
        self.assertEqual(r.returncode, 0, r.stderr)
        # plain HTTP is answered 400 saying why; another CA is refused
        r = self.admin(["status"])
        self.assertEqual(r.returncode, 1)
        self.assertIn("requires HTTPS", r.stderr)
        r = self.admin(["--ssl-ca", pem("rogue-ca.pem"), "status"])
        self.assertEqual(r.returncode, 1)
        self.assertIn("certificate verify failed", r.stderr)
        # any HTTPS client: the token and the Origin check still apply
        import urllib.request
        import urllib.error
        ctx = client_ctx()
        base = "https://%s:%d" % (self.host, self.node.admin_port)
        with urllib.request.urlopen(base + "/health", context=ctx, timeout=10) as f:
            self.assertEqual(f.status, 200)
        with self.assertRaises(urllib.error.HTTPError) as cm:
            urllib.request.urlopen(base + "/status", context=ctx, timeout=10)
        self.assertEqual(cm.exception.code, 401)
        req = urllib.request.Request(base + "/status", headers=dict(
            self.node.admin_headers(), Origin="https://evil.example"))
        with self.assertRaises(urllib.error.HTTPError) as cm:
            urllib.request.urlopen(req, context=ctx, timeout=10)
        self.assertEqual(cm.exception.code, 403)
        req = urllib.request.Request(base + "/status", headers=dict(
            self.node.admin_headers(), Origin="https://%s:%d" % (self.host, self.node.admin_port)))
        with urllib.request.urlopen(req, context=ctx, timeout=10) as f:
            self.assertEqual(f.status, 200)

    def test_tls_driver_reads_and_writes(self):
        c, s = connect(self.node, client_ctx())
        try:
            roundtrip(self, s, 1)
            self.assertEqual(s.execute("SELECT release_version FROM system.local").one()[0],
                             "4.0.11")
        finally:
            c.shutdown()

    def test_plaintext_refused(self):
        msg = refused(self, self.node, None)
        self.assertIn("requires TLS", msg)
        harness.wait_for(lambda: "requires TLS on its CQL port" in self.node.log(), 10,
                         "plaintext refusal logged")

    def test_untrusted_server_certificate_refused(self):
        # a client that trusts only another CA must not accept the node
        refused(self, self.node, client_ctx(ca="rogue-ca.pem"))


class ClientTLSOptionalTest(_OneNode):
    HOST = 1
    EXTRA = {"client_encryption_options.optional": "true"}

    def test_tls_and_plaintext_both_work(self):
        for k, ctx in ((1, client_ctx()), (2, None)):
            c, s = connect(self.node, ctx)
            try:
                roundtrip(self, s, k)
            finally:
                c.shutdown()


def _closed_by_peer(s, timeout):
    """True once the peer closes s (EOF or reset) within timeout seconds."""
    s.settimeout(timeout)
    try:
        while True:
            if not s.recv(4096):
                return True
    except (ConnectionResetError, BrokenPipeError, ssl.SSLError):
        return True
    except socket.timeout:
        return False


class ClientTLSStartupTimeoutTest(_OneNode):
    """native_transport_startup_timeout: a stalled TLS handshake, and a
    finished one followed by no STARTUP, get the connection closed."""
    HOST = 1
    EXTRA = {"native_transport_startup_timeout": "1000ms"}

    def test_stalled_handshake_and_no_startup_closed(self):
        n = self.node
        stalled = socket.create_connection((n.host, n.port), 10)
        # a TLS record header announcing 80 bytes of handshake, then 4 of them
        stalled.sendall(b"\x16\x03\x01\x00\x50\x01\x00\x00\x4c")
        tls = client_ctx().wrap_socket(socket.create_connection((n.host, n.port), 10))
        try:
            self.assertTrue(_closed_by_peer(stalled, 60), "a stalled handshake was kept")
            self.assertTrue(_closed_by_peer(tls, 60), "a TLS connection without STARTUP was kept")
        finally:
            stalled.close()
            tls.close()
        log = n.log()
        self.assertIn("no STARTUP within 1000 ms (TLS handshake not completed", log)
        self.assertIn("no STARTUP within 1000 ms (no STARTUP frame", log)
        # a driver (which sends STARTUP at once) still works
        c, s = connect(n, client_ctx())
        try:
            self.assertEqual(s.execute("SELECT release_version FROM system.local").one()[0],
                             "4.0.11")
        finally:
            c.shutdown()


class ClientTLSWithPasswordTest(_OneNode):
    """TLS and PasswordAuthenticator together: the password crosses the
    network inside TLS."""
    HOST = 1

    @classmethod
    def setUpClass(cls):
        certs()
        su = pem("superuser")
        fd = os.open(su, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.write(fd, b"tls_admin:s3cret-over-tls\n")
        os.close(fd)
        cls.EXTRA = {"authenticator": "PasswordAuthenticator",
                     "initial-superuser-file": su}
        super().setUpClass()

    def test_login_over_tls(self):
        from cassandra.auth import PlainTextAuthProvider
        c = self.node.cluster(ssl_context=client_ctx(),
                              auth_provider=PlainTextAuthProvider("tls_admin", "s3cret-over-tls"))
        try:
            roundtrip(self, c.connect(), 4)
        finally:
            c.shutdown()
        c = self.node.cluster(ssl_context=client_ctx(),
                              auth_provider=PlainTextAuthProvider("tls_admin", "wrong"))
        try:
            with self.assertRaises(NoHostAvailable) as cm:
                c.connect()
            self.assertIn("Authentication", str(cm.exception))
        finally:
            c.shutdown()


class ClientAuthTest(_OneNode):
    HOST = 2
    EXTRA = {"client_encryption_options.require_client_auth": "true",
             "client_encryption_options.cafile": None}   # set in setUpClass

    @classmethod
    def setUpClass(cls):
        cls.EXTRA = dict(cls.EXTRA)
        cls.EXTRA["client_encryption_options.cafile"] = os.path.join(
            certs(), "ca.pem")
        super().setUpClass()

    def test_client_without_certificate_refused(self):
        refused(self, self.node, client_ctx())
        harness.wait_for(lambda: re.search(r"connection \d+ from [0-9.]+:\d+: TLS handshake "
                                           r"failed: .*certificate", self.node.log()),
                         10, "refusal logged with the client's address")

    def test_client_with_rogue_certificate_refused(self):
        refused(self, self.node, client_ctx(cert="rogue"))

    def run_tool(self, env_name, args, env=None):
        exe = os.environ.get(env_name)
        self.assertTrue(exe, "%s not set (ctest sets it)" % env_name)
        e = dict(os.environ)
        for k in list(e):
            if k.startswith("BASALT_SSL"):
                del e[k]
        e.update(env or {})
        return subprocess.run([exe] + args, capture_output=True, text=True, timeout=120, env=e)

    def test_shell_over_tls(self):
        host = ["--host", self.host, "--port", str(self.node.port)]
        ok = self.run_tool("BASALT_SHELL", host + [
            "--ssl-ca", pem("ca.pem"), "--ssl-cert", pem("client.pem"),
            "--ssl-key", pem("client.key"), "-e",
            "CREATE KEYSPACE IF NOT EXISTS sh WITH replication = {'class': 'SimpleStrategy', "
            "'replication_factor': 1}; CREATE TABLE IF NOT EXISTS sh.t (k int PRIMARY KEY, "
            "v text); INSERT INTO sh.t (k, v) VALUES (7, 'over tls'); "
            "SELECT v FROM sh.t WHERE k = 7;"])
        self.assertEqual(ok.returncode, 0, ok.stderr)
        self.assertIn("over tls", ok.stdout)
        # the same files from the environment
        env = self.run_tool("BASALT_SHELL", host + ["-e", "SELECT v FROM sh.t WHERE k = 7;"],
                            {"BASALT_SSL_CA": pem("ca.pem"), "BASALT_SSL_CERT": pem("client.pem"),
                             "BASALT_SSL_KEY": pem("client.key")})
        self.assertEqual(env.returncode, 0, env.stderr)
        self.assertIn("over tls", env.stdout)
        # without a client certificate, or trusting another CA: refused
        nocert = self.run_tool("BASALT_SHELL", host + ["--ssl-ca", pem("ca.pem"), "-e",
                                                       "SELECT v FROM sh.t WHERE k = 7;"])
        self.assertEqual(nocert.returncode, 1)
        self.assertIn("TLS", nocert.stderr)
        wrongca = self.run_tool("BASALT_SHELL", host + [
            "--ssl-ca", pem("rogue-ca.pem"), "--ssl-cert", pem("client.pem"),
            "--ssl-key", pem("client.key"), "-e", "SELECT v FROM sh.t WHERE k = 7;"])
        self.assertEqual(wrongca.returncode, 1)
        self.assertIn("certificate verify failed", wrongca.stderr)
        plain = self.run_tool("BASALT_SHELL", host + ["-e", "SELECT v FROM sh.t WHERE k = 7;"])
        self.assertEqual(plain.returncode, 1)
        self.assertIn("requires TLS", plain.stderr)

    def test_stress_over_tls(self):
        r = self.run_tool("BASALT_STRESS", [
            "write", "n=2000", "-rate", "threads=8", "-node", self.host,
            "-port", str(self.node.port), "-ssl-ca", pem("ca.pem"),
            "-ssl-cert", pem("client.pem"), "-ssl-key", pem("client.key")])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"errors\s*: 0")
        self.assertIn("2000 ops", r.stdout)

    def test_client_with_certificate_works(self):
        c, s = connect(self.node, client_ctx(cert="client"))
        try:
            roundtrip(self, s, 3)
        finally:
            c.shutdown()


class InternodeTLSTest(unittest.TestCase):
    """3 nodes with internode_encryption: all (the harness's shared
    cluster secret on top)."""

    @classmethod
    def setUpClass(cls):
        hosts = HOSTS[3:6]
        cls.rogue_host = HOSTS[6]
        certs()
        cls.sp = harness.shared_port(hosts + [cls.rogue_host])
        cls.nodes = []
        cls.clusters = []
        try:
            for h in hosts:
                cls.nodes.append(Node(host=h, extra=cls.internode(h, h, hosts[0])))
            for n in cls.nodes:
                n.start()
            s0 = cls.session(0)
            harness.wait_for_ring([cls.session(i) for i in range(3)], 3, 60,
                                  "3-node cluster over internode TLS")
            s0.execute("CREATE KEYSPACE IF NOT EXISTS rf3 WITH replication = "
                       "{'class': 'SimpleStrategy', 'replication_factor': 3}")
            s0.execute("CREATE TABLE IF NOT EXISTS rf3.t (k int PRIMARY KEY, v text)")
            for i in (1, 2):
                harness.wait_for(lambda i=i: cls.session(i).execute(
                    "SELECT table_name FROM system_schema.tables "
                    "WHERE keyspace_name = 'rf3'").one(), 30, "schema on node %d" % i)
        except BaseException:
            cls.teardown_all()
            raise

    @classmethod
    def internode(cls, host, certname, seed):
        return {"storage-port": cls.sp, "seeds": seed, "cluster-name": "integ-tls",
                "num-tokens": 8,
                "server_encryption_options.internode_encryption": "all",
                "server_encryption_options.certfile": pem(certname + ".pem"),
                "server_encryption_options.keyfile": pem(certname + ".key"),
                "server_encryption_options.cafile": pem("ca.pem")}

    @classmethod
    def session(cls, i):
        while len(cls.clusters) <= i:
            cls.clusters.append(None)
        if cls.clusters[i] is None:
            from cassandra.cluster import ExecutionProfile, EXEC_PROFILE_DEFAULT, Cluster
            from cassandra.policies import WhiteListRoundRobinPolicy, FallthroughRetryPolicy
            n = cls.nodes[i]
            prof = ExecutionProfile(load_balancing_policy=WhiteListRoundRobinPolicy([n.host]),
                                    retry_policy=FallthroughRetryPolicy(), request_timeout=30)
            c = Cluster([n.host], port=n.port, protocol_version=4,
                        execution_profiles={EXEC_PROFILE_DEFAULT: prof},
                        connect_timeout=10, control_connection_timeout=10,
                        max_schema_agreement_wait=0)
            cls.clusters[i] = (c, c.connect())
        return cls.clusters[i][1]

    @classmethod
    def teardown_all(cls):
        for c in cls.clusters:
            if c:
                try:
                    c[0].shutdown()
                except Exception:
                    pass
        rcs = []
        try:
            for n in cls.nodes:
                if n.alive():
                    rcs.append((n.host, n.stop()))
        finally:
            for n in cls.nodes:
                n.cleanup()
        return rcs

    @classmethod
    def tearDownClass(cls):
        for h, rc in cls.teardown_all():
            if rc != 0:
                raise AssertionError("basaltd %s exited with %r on SIGTERM" % (h, rc))

    def test_replication_at_all(self):
        stmt = SimpleStatement("INSERT INTO rf3.t (k, v) VALUES (%s, %s)",
                               consistency_level=ConsistencyLevel.ALL)
        for k in range(50):
            self.session(0).execute(stmt, (k, "v%d" % k))
        for i in (1, 2):
            q = SimpleStatement("SELECT k, v FROM rf3.t WHERE k = %s",
                                consistency_level=ConsistencyLevel.ALL)
            for k in range(50):
                self.assertEqual(self.session(i).execute(q, (k,)).one().v, "v%d" % k)
        # no node refused another (the rogue test's refusals name its own
        # address)
        mine = {n.host for n in self.nodes}
        for n in self.nodes:
            for m in re.finditer(r"refused internode connection from ([0-9.]+):", n.log()):
                self.assertNotIn(m.group(1), mine, "%s refused a cluster node" % n.host)

    def test_storage_port_speaks_tls_only(self):
        n = self.nodes[1]
        # a TLS client with a certificate of the cluster CA gets through
        # the handshake (the cluster secret is the next step, not tried)
        ctx = client_ctx(cert=self.nodes[2].host)
        with socket.create_connection((n.host, self.sp), 10) as raw:
            with ctx.wrap_socket(raw) as t:
                self.assertTrue(t.version().startswith("TLS"))
                self.assertIn(n.host, str(t.getpeercert()["subjectAltName"]))
        # plaintext (what a node with internode_encryption: none sends)
        with socket.create_connection((n.host, self.sp), 10) as raw:
            raw.sendall(b"\x00\x00\x00\x05\x00\x80\x80\x80\x80")
            raw.settimeout(10)
            self.assertEqual(raw.recv(100), b"")
        harness.wait_for(lambda: "plaintext, but server_encryption_options requires TLS"
                         in n.log(), 10, "plaintext refusal logged")

    def test_node_with_foreign_certificate_cannot_join(self):
        rogue = Node(host=self.rogue_host,
                     extra=self.internode(self.rogue_host, "rogue", self.nodes[0].host))
        try:
            rogue.start(wait=False)
            pat = re.compile(r"refused internode connection from %s:\d+: TLS handshake "
                             r"failed: certificate verify failed"
                             % re.escape(self.rogue_host))
            harness.wait_for(lambda: pat.search(self.nodes[0].log()), 60,
                             "node 0 logs the foreign node's refused handshake")
            peers = [r.peer for r in self.session(0).execute("SELECT peer FROM system.peers")]
            self.assertNotIn(self.rogue_host, [str(p) for p in peers])
            self.assertTrue(rogue.alive())
        finally:
            rogue.kill()
            rogue.cleanup()


class InternodeDcTest(InternodeTLSTest):
    """internode_encryption: dc with a node in each of two data centres
    (their connections are encrypted: different DCs): a write at ALL
    through one is read at ALL through the other."""

    @classmethod
    def setUpClass(cls):
        hosts = HOSTS[7:9]
        certs()
        cls.sp = harness.shared_port(hosts)
        cls.nodes = []
        cls.clusters = []
        try:
            for h, dc in zip(hosts, ("dc1", "dc2")):
                extra = cls.internode(h, h, hosts[0])
                extra["server_encryption_options.internode_encryption"] = "dc"
                extra["dc"] = dc
                cls.nodes.append(Node(host=h, extra=extra))
            for n in cls.nodes:
                n.start()
            s0 = cls.session(0)
            harness.wait_for_ring([cls.session(i) for i in range(2)], 2, 60,
                                  "2-DC cluster over internode TLS")
            s0.execute("CREATE KEYSPACE IF NOT EXISTS nts WITH replication = "
                       "{'class': 'NetworkTopologyStrategy', 'dc1': 1, 'dc2': 1}")
            s0.execute("CREATE TABLE IF NOT EXISTS nts.t (k int PRIMARY KEY, v text)")
            harness.wait_for(lambda: cls.session(1).execute(
                "SELECT table_name FROM system_schema.tables "
                "WHERE keyspace_name = 'nts'").one(), 30, "schema on node 1")
        except BaseException:
            cls.teardown_all()
            raise

    def test_replication_at_all(self):
        stmt = SimpleStatement("INSERT INTO nts.t (k, v) VALUES (%s, %s)",
                               consistency_level=ConsistencyLevel.ALL)
        q = SimpleStatement("SELECT v FROM nts.t WHERE k = %s",
                            consistency_level=ConsistencyLevel.ALL)
        for k in range(20):
            self.session(0).execute(stmt, (k, "d%d" % k))
        for k in range(20):
            self.assertEqual(self.session(1).execute(q, (k,)).one().v, "d%d" % k)

    # the other tests of the base class are for the 3-node cluster
    test_storage_port_speaks_tls_only = None
    test_node_with_foreign_certificate_cannot_join = None


if __name__ == "__main__":
    harness.main()
