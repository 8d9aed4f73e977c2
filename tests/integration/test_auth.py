#!/usr/bin/python3
"""test_auth.py - PasswordAuthenticator, CassandraAuthorizer and roles
(issue 20), driven with Debian's unmodified python3-cassandra.

One node runs with authenticator: PasswordAuthenticator, authorizer:
CassandraAuthorizer and an initial superuser from a private file
(initial_superuser_file); credentials_validity / permissions_validity are
0ms so a GRANT is seen at once without relying on cache invalidation.
The tests check what a Cassandra user would:
  - PlainTextAuthProvider with the right password connects; a wrong
    password fails with AuthenticationFailed; no credentials fail;
  - a role without SELECT gets Unauthorized with Cassandra's message,
    GRANT lets it read, REVOKE takes it away again; MODIFY likewise;
  - LIST ROLES / LIST USERS / LIST PERMISSIONS answer the rows cqlsh shows;
  - ALTER ROLE changes a password (the old one stops working), DROP ROLE
    removes the login; a non-superuser cannot create roles;
  - system_auth.roles is readable by a superuser and keeps salted hashes,
    never the password;
  - basalt-shell -u USER with $BASALT_PASSWORD logs in, and fails with a
    wrong password.
A second class starts a node with the default AllowAllAuthenticator and
checks that everything still connects without credentials and that role
statements are refused for the anonymous user.
"""
import os
import subprocess
import tempfile
import unittest

import harness
from cassandra import AuthenticationFailed, Unauthorized, InvalidRequest
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import NoHostAvailable

SHELL = os.environ.get("BASALT_SHELL", "")
SUPER, SUPER_PW = "root_admin", "Corr3ct-horse:battery"


def _auth_errors(exc):
    """The per-host errors of a NoHostAvailable."""
    return list(exc.errors.values())


class AuthNode(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="basalt-auth-test-")
        su = os.path.join(cls.tmp, "superuser")
        fd = os.open(su, os.O_WRONLY | os.O_CREAT, 0o600)
        os.write(fd, ("%s:%s\n" % (SUPER, SUPER_PW)).encode())
        os.close(fd)
        cls.node = harness.Node(extra={
            "authenticator": "PasswordAuthenticator",
            "authorizer": "CassandraAuthorizer",
            "initial-superuser-file": su,
            "credentials-validity": "0ms",
            "permissions-validity": "0ms"})
        cls.clusters = []
        try:
            cls.node.start()
            cls.admin = cls.connect(SUPER, SUPER_PW)
            cls.admin.execute("CREATE KEYSPACE IF NOT EXISTS ks WITH replication = "
                              "{'class': 'SimpleStrategy', 'replication_factor': 1}")
            cls.admin.execute("CREATE TABLE IF NOT EXISTS ks.t (k int PRIMARY KEY, v text)")
            cls.admin.execute("INSERT INTO ks.t (k, v) VALUES (1, 'one')")
        except BaseException:
            cls.shutdown()
            raise

    @classmethod
    def connect(cls, user, password):
        prov = PlainTextAuthProvider(user, password) if user else None
        c = cls.node.cluster(auth_provider=prov)
        cls.clusters.append(c)
        return c.connect()

    @classmethod
    def shutdown(cls):
        for c in cls.clusters:
            c.shutdown()
        cls.clusters = []
        try:
            rc = cls.node.stop() if cls.node.alive() else 0
        finally:
            cls.node.cleanup()
        if rc != 0:
            raise AssertionError("basaltd exited with %r on SIGTERM" % rc)

    @classmethod
    def tearDownClass(cls):
        cls.shutdown()

    def expect_login_failure(self, user, password):
        with self.assertRaises(NoHostAvailable) as cm:
            self.connect(user, password)
        errs = _auth_errors(cm.exception)
        self.assertEqual(len(errs), 1, errs)
        self.assertIsInstance(errs[0], AuthenticationFailed)
        return str(errs[0])

    # -- authentication --------------------------------------------------
    def test_superuser_connects(self):
        rows = list(self.admin.execute("SELECT k, v FROM ks.t WHERE k = 1"))
        self.assertEqual([(r.k, r.v) for r in rows], [(1, "one")])

    def test_wrong_password_fails(self):
        msg = self.expect_login_failure(SUPER, "wrong")
        self.assertIn("Provided username %s and/or password are incorrect" % SUPER, msg)

    def test_unknown_user_fails(self):
        msg = self.expect_login_failure("nobody", "x")
        self.assertIn("Provided username nobody and/or password are incorrect", msg)

    def test_no_credentials_fails(self):
        with self.assertRaises(NoHostAvailable) as cm:
            self.connect(None, None)
        errs = _auth_errors(cm.exception)
        self.assertIsInstance(errs[0], AuthenticationFailed)
        self.assertIn("requires authentication", str(errs[0]))

    def test_role_without_login_cannot_connect(self):
        self.admin.execute("CREATE ROLE IF NOT EXISTS nologin WITH PASSWORD = 'p1' "
                           "AND LOGIN = false")
        msg = self.expect_login_failure("nologin", "p1")
        self.assertIn("nologin is not permitted to log in", msg)

    # -- authorization ---------------------------------------------------
    def test_grant_and_revoke_select(self):
        self.admin.execute("CREATE ROLE reader WITH PASSWORD = 'r-pw' AND LOGIN = true")
        s = self.connect("reader", "r-pw")
        with self.assertRaises(Unauthorized) as cm:
            s.execute("SELECT * FROM ks.t")
        self.assertIn("User reader has no SELECT permission on <table ks.t> or any of "
                      "its parents", str(cm.exception))
        self.admin.execute("GRANT SELECT ON TABLE ks.t TO reader")
        self.assertEqual([r.v for r in s.execute("SELECT v FROM ks.t WHERE k = 1")], ["one"])
        # SELECT does not give MODIFY
        with self.assertRaises(Unauthorized) as cm:
            s.execute("INSERT INTO ks.t (k, v) VALUES (2, 'two')")
        self.assertIn("has no MODIFY permission on <table ks.t>", str(cm.exception))
        self.admin.execute("REVOKE SELECT ON ks.t FROM reader")
        with self.assertRaises(Unauthorized):
            s.execute("SELECT * FROM ks.t")
        # a grant on the keyspace covers its tables
        self.admin.execute("GRANT ALL PERMISSIONS ON KEYSPACE ks TO reader")
        s.execute("INSERT INTO ks.t (k, v) VALUES (3, 'three')")
        self.assertEqual([r.v for r in s.execute("SELECT v FROM ks.t WHERE k = 3")], ["three"])
        # but not other keyspaces, nor creating keyspaces
        with self.assertRaises(Unauthorized) as cm:
            s.execute("CREATE KEYSPACE other WITH replication = "
                      "{'class': 'SimpleStrategy', 'replication_factor': 1}")
        self.assertIn("has no CREATE permission on <all keyspaces>", str(cm.exception))
        self.admin.execute("REVOKE ALL ON KEYSPACE ks FROM reader")
        with self.assertRaises(Unauthorized):
            s.execute("SELECT * FROM ks.t")

    def test_list_roles_and_permissions(self):
        self.admin.execute("CREATE ROLE IF NOT EXISTS lister WITH PASSWORD = 'l' "
                           "AND LOGIN = true AND SUPERUSER = false")
        self.admin.execute("GRANT MODIFY ON ks.t TO lister")
        self.admin.execute("GRANT SELECT ON ALL KEYSPACES TO lister")
        roles = {r.role: (r.super, r.login) for r in self.admin.execute("LIST ROLES")}
        self.assertEqual(roles[SUPER], (True, True))
        self.assertEqual(roles["lister"], (False, True))
        users = {r.name: r.super for r in self.admin.execute("LIST USERS")}
        self.assertEqual(users[SUPER], True)
        perms = [(r.role, r.username, r.resource, r.permission)
                 for r in self.admin.execute("LIST ALL PERMISSIONS OF lister")]
        self.assertEqual(perms, [("lister", "lister", "<all keyspaces>", "SELECT"),
                                 ("lister", "lister", "<table ks.t>", "MODIFY")])
        # ON a resource lists that resource and its parents; NORECURSIVE only it
        on_t = [(r.resource, r.permission)
                for r in self.admin.execute("LIST ALL ON ks.t OF lister")]
        self.assertEqual(on_t, [("<all keyspaces>", "SELECT"), ("<table ks.t>", "MODIFY")])
        norec = [(r.resource, r.permission)
                 for r in self.admin.execute("LIST ALL ON ks.t OF lister NORECURSIVE")]
        self.assertEqual(norec, [("<table ks.t>", "MODIFY")])
        # a non-superuser sees only itself
        s = self.connect("lister", "l")
        self.assertEqual([r.role for r in s.execute("LIST ROLES")], ["lister"])
        with self.assertRaises(Unauthorized):
            s.execute("LIST ALL PERMISSIONS")
        with self.assertRaises(Unauthorized):
            s.execute("CREATE ROLE sneaky WITH PASSWORD = 'x' AND LOGIN = true")

    def test_alter_and_drop_role(self):
        self.admin.execute("CREATE USER IF NOT EXISTS changer WITH PASSWORD 'old' NOSUPERUSER")
        self.connect("changer", "old")
        self.admin.execute("ALTER ROLE changer WITH PASSWORD = 'new'")
        self.expect_login_failure("changer", "old")
        s = self.connect("changer", "new")
        # a role may change its own password, but not its superuser status
        s.execute("ALTER USER changer WITH PASSWORD 'newer'")
        self.connect("changer", "newer")
        with self.assertRaises(Unauthorized):
            s.execute("ALTER ROLE changer WITH SUPERUSER = true")
        with self.assertRaises(InvalidRequest) as cm:
            self.admin.execute("CREATE ROLE changer")
        self.assertIn("changer already exists", str(cm.exception))
        self.admin.execute("DROP ROLE changer")
        self.expect_login_failure("changer", "newer")
        self.admin.execute("DROP ROLE IF EXISTS changer")
        with self.assertRaises(InvalidRequest):
            self.admin.execute("DROP ROLE changer")

    def test_system_auth_keeps_hashes(self):
        self.admin.execute("CREATE ROLE IF NOT EXISTS hashed WITH PASSWORD = 'plain-pw' "
                           "AND LOGIN = true")
        row = self.admin.execute("SELECT role, can_login, is_superuser, salted_hash FROM "
                                 "system_auth.roles WHERE role = 'hashed'").one()
        self.assertEqual((row.can_login, row.is_superuser), (True, False))
        self.assertTrue(row.salted_hash.startswith("pbkdf2-sha256$"), row.salted_hash)
        self.assertNotIn("plain-pw", row.salted_hash)
        ks = self.admin.execute("SELECT replication FROM system_schema.keyspaces WHERE "
                                "keyspace_name = 'system_auth'").one()
        self.assertEqual(ks.replication["replication_factor"], "1")
        with self.assertRaises(Unauthorized):
            self.admin.execute("DROP KEYSPACE system_auth")

    # -- basalt-shell ----------------------------------------------------
    def shell(self, args, password):
        env = dict(os.environ)
        env["BASALT_PASSWORD"] = password
        return subprocess.run([SHELL] + args + [self.node.host, str(self.node.port)],
                              env=env, stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=60)

    def test_shell_with_user(self):
        self.assertTrue(SHELL, "BASALT_SHELL not set")
        p = self.shell(["-u", SUPER, "-e", "SELECT v FROM ks.t WHERE k = 1"], SUPER_PW)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(" one", p.stdout)
        p = self.shell(["-u", SUPER, "-e", "SELECT v FROM ks.t"], "bad")
        self.assertEqual(p.returncode, 1)
        self.assertIn("Provided username %s and/or password are incorrect" % SUPER, p.stderr)
        p = self.shell(["-e", "SELECT v FROM ks.t"], "")
        self.assertEqual(p.returncode, 1)
        self.assertIn("requires authentication", p.stderr)


class ReplicatedAuth(unittest.TestCase):
    """Three nodes with PasswordAuthenticator share system_auth: the
    keyspace each node created at start merges into one, ALTER KEYSPACE
    raises its replication factor, a role created through node 0 logs in
    through every node, and still does with node 0 stopped."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="basalt-auth-test-")
        su = os.path.join(cls.tmp, "superuser")
        fd = os.open(su, os.O_WRONLY | os.O_CREAT, 0o600)
        os.write(fd, ("%s:%s\n" % (SUPER, SUPER_PW)).encode())
        os.close(fd)
        hosts = [harness._pick_host() for _ in range(3)]
        sp = harness.shared_port(hosts)
        cls.nodes, cls.clusters = [], []
        try:
            for h in hosts:
                cls.nodes.append(harness.Node(host=h, extra={
                    "storage-port": sp, "seeds": hosts[0], "cluster-name": "integ-auth",
                    "num-tokens": 8, "authenticator": "PasswordAuthenticator",
                    "authorizer": "CassandraAuthorizer", "initial-superuser-file": su}))
            for n in cls.nodes:
                n.start()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        for c in cls.clusters:
            c.shutdown()
        bad = []
        for n in cls.nodes:
            try:
                if n.alive() and n.stop() != 0:
                    bad.append(n.host)
            finally:
                n.cleanup()
        if bad:
            raise AssertionError("basaltd exited badly on SIGTERM: %r" % bad)

    def session(self, i, user, password):
        from cassandra.cluster import ExecutionProfile, EXEC_PROFILE_DEFAULT, Cluster
        from cassandra.policies import WhiteListRoundRobinPolicy
        n = self.nodes[i]
        prof = ExecutionProfile(load_balancing_policy=WhiteListRoundRobinPolicy([n.host]),
                                request_timeout=30)
        c = Cluster([n.host], port=n.port, protocol_version=4,
                    auth_provider=PlainTextAuthProvider(user, password),
                    execution_profiles={EXEC_PROFILE_DEFAULT: prof}, connect_timeout=10)
        self.clusters.append(c)
        return c.connect()

    def test_system_auth_replicated(self):
        s0 = self.session(0, SUPER, SUPER_PW)
        harness.wait_for_ring([self.session(i, SUPER, SUPER_PW) for i in range(3)], 3,
                              60, "3-node cluster")
        s0.execute("ALTER KEYSPACE system_auth WITH replication = "
                   "{'class': 'SimpleStrategy', 'replication_factor': 3}")
        s0.execute("CREATE ROLE everywhere WITH PASSWORD = 'e-pw' AND LOGIN = true")

        def rf3_on(i):
            s = self.session(i, SUPER, SUPER_PW)
            r = s.execute("SELECT replication FROM system_schema.keyspaces WHERE "
                          "keyspace_name = 'system_auth'").one()
            return r.replication.get("replication_factor") == "3"
        for i in (1, 2):
            harness.wait_for(lambda: rf3_on(i), 60, "system_auth RF 3 on node %d" % i)
        # as in Cassandra: after raising the RF, repair system_auth so the
        # new replicas get the rows written before (node 0 replicates
        # every range at RF 3 on 3 nodes)
        n0 = self.nodes[0]
        admin = os.environ.get("BASALT_ADMIN") or os.path.join(
            os.path.dirname(os.path.dirname(harness.BASALTD)), "client", "basalt-admin")
        p = subprocess.run([admin, "-h", n0.host, "-p", str(n0.admin_port), "--token-file",
                            os.path.join(n0.data_dir, "admin_token"), "repair", "system_auth"],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        # the QUORUM write reached at least two replicas; every node finds
        # the role (a read at ONE from whichever replica it asks)
        for i in (0, 1, 2):
            harness.wait_for(lambda: self.session(i, "everywhere", "e-pw"), 60,
                             "login of the new role through node %d" % i)
        self.assertEqual(self.nodes[0].stop(), 0)
        for i in (1, 2):
            s = self.session(i, "everywhere", "e-pw")
            with self.assertRaises(Unauthorized):
                s.execute("SELECT role FROM system_auth.roles")
            s = self.session(i, SUPER, SUPER_PW)
            rows = s.execute("SELECT role, can_login FROM system_auth.roles WHERE role = "
                             "'everywhere'").one()
            self.assertEqual((rows.role, rows.can_login), ("everywhere", True))

    def test_wrong_password_everywhere(self):
        for i in (1, 2):
            with self.assertRaises(NoHostAvailable) as cm:
                self.session(i, SUPER, "nope")
            self.assertIsInstance(_auth_errors(cm.exception)[0], AuthenticationFailed)


class AllowAllNode(harness.NodeTestCase):
    """The defaults: no credentials needed, role statements refused."""

    def test_connects_anonymously(self):
        self.session.execute("CREATE TABLE IF NOT EXISTS t (k int PRIMARY KEY)")
        self.session.execute("INSERT INTO t (k) VALUES (1)")
        self.assertEqual(len(list(self.session.execute("SELECT * FROM t"))), 1)

    def test_role_statements_need_a_login(self):
        with self.assertRaises(Unauthorized) as cm:
            self.session.execute("CREATE ROLE r WITH PASSWORD = 'x'")
        self.assertIn("You have to be logged in and not anonymous", str(cm.exception))


if __name__ == "__main__":
    harness.main()
