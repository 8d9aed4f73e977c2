#!/usr/bin/python3
"""test_http_auth.py - the HTTP port (http_port: InfluxDB API) with
PasswordAuthenticator + CassandraAuthorizer, and HTTPS on it
(http_encryption_options); issue 20.

One node runs with authentication, authorization and an initial
superuser; credentials_validity / permissions_validity are 0ms so a GRANT
is seen at once.  Checked, with urllib and Debian's unmodified
python3-influxdb:
  - /ping and /health need no credentials; /write and /query without
    credentials, with a wrong password, an unknown role or a malformed
    Authorization header get 401, WWW-Authenticate: Basic realm="basalt"
    and {"error":"authorization failed"};
  - HTTP Basic, the u/p query parameters and "Authorization: Token
    user:pass" all log in;
  - InfluxDBClient(username=, password=) creates a database, writes and
    queries as the superuser;
  - a role without MODIFY gets 403 on /write; after GRANT MODIFY ON
    KEYSPACE it writes; without SELECT it gets 403 on /query, after GRANT
    SELECT it reads; CREATE DATABASE needs CREATE on all keyspaces.
A second class starts a node with HTTPS on the HTTP port (a certificate
of scripts/gen-certs) plus authentication: InfluxDBClient(ssl=True,
verify_ssl=<CA>) works; plain HTTP to it gets a 400 telling to use HTTPS.
"""
import base64
import json
import os
import shutil
import subprocess
import tempfile
import unittest
import urllib.error
import urllib.parse
import urllib.request

import harness
from influxdb import InfluxDBClient
from influxdb.exceptions import InfluxDBClientError

SUPER, SUPER_PW = "root_admin", "Corr3ct-horse:battery"
GEN = os.path.join(harness.ROOT, "scripts", "gen-certs")


def superuser_file(tmp):
    su = os.path.join(tmp, "superuser")
    fd = os.open(su, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, ("%s:%s\n" % (SUPER, SUPER_PW)).encode())
    os.close(fd)
    return su


def auth_opts(su):
    return {"authenticator": "PasswordAuthenticator",
            "authorizer": "CassandraAuthorizer",
            "initial-superuser-file": su,
            "credentials-validity": "0ms",
            "permissions-validity": "0ms"}


class HttpAuth(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="basalt-httpauth-test-")
        cls.node = harness.Node(extra=auth_opts(superuser_file(cls.tmp)))
        try:
            cls.node.start()
            cls.su = cls.client(SUPER, SUPER_PW)
            cls.su.create_database("metrics")
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.node.cleanup()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def client(cls, user, pw, db=None):
        return InfluxDBClient(host=cls.node.host, port=cls.node.http_port, username=user,
                              password=pw, database=db)

    def cql(self, stmt):
        """Runs a CQL role statement as the superuser (python3-cassandra)."""
        from cassandra.auth import PlainTextAuthProvider
        c = self.node.cluster(auth_provider=PlainTextAuthProvider(SUPER, SUPER_PW))
        try:
            c.connect().execute(stmt)
        finally:
            c.shutdown()

    def request(self, path, params=None, body=None, headers=None):
        """(status, headers, body text) of one request."""
        url = "http://%s:%d%s" % (self.node.host, self.node.http_port, path)
        if params:
            url += "?" + urllib.parse.urlencode(params)
        req = urllib.request.Request(url, data=body, headers=headers or {},
                                     method="POST" if body is not None else "GET")
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, r.headers, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read().decode()

    def assert_401(self, r):
        status, headers, body = r
        self.assertEqual(status, 401, body)
        self.assertEqual(headers.get("WWW-Authenticate"), 'Basic realm="basalt"')
        self.assertEqual(json.loads(body), {"error": "authorization failed"})

    @staticmethod
    def basic(user, pw):
        return {"Authorization": "Basic " + base64.b64encode(
            ("%s:%s" % (user, pw)).encode()).decode()}

    def test_ping_and_health_are_open(self):
        self.assertEqual(self.request("/ping")[0], 204)
        self.assertEqual(self.request("/health")[0], 200)

    def test_no_credentials(self):
        self.assert_401(self.request("/query", {"q": "SHOW DATABASES"}))
        self.assert_401(self.request("/write", {"db": "metrics"}, b"cpu v=1"))
        self.assert_401(self.request("/nothing-here"))

    def test_wrong_credentials(self):
        q = {"q": "SHOW DATABASES"}
        self.assert_401(self.request("/query", q, headers=self.basic(SUPER, "wrong")))
        self.assert_401(self.request("/query", q, headers=self.basic("nobody", "x")))
        self.assert_401(self.request("/query", dict(q, u=SUPER, p="wrong")))
        self.assert_401(self.request("/query", dict(q, u=SUPER)))  # no p
        self.assert_401(self.request("/query", q, headers={"Authorization": "Basic !!!"}))
        self.assert_401(self.request("/query", q, headers={"Authorization": "Bearer x"}))
        with self.assertRaises(InfluxDBClientError) as cm:
            self.client(SUPER, "wrong").get_list_database()
        self.assertEqual(cm.exception.code, 401)

    def test_three_ways_to_log_in(self):
        q = {"q": "SHOW DATABASES"}
        for r in (self.request("/query", q, headers=self.basic(SUPER, SUPER_PW)),
                  self.request("/query", dict(q, u=SUPER, p=SUPER_PW)),
                  self.request("/query", q,
                               headers={"Authorization": "Token %s:%s" % (SUPER, SUPER_PW)})):
            self.assertEqual(r[0], 200, r[2])
            self.assertIn("metrics", r[2])
        st, _, body = self.request("/write", {"db": "metrics", "u": SUPER, "p": SUPER_PW},
                                   b"params,host=a v=7 1000000000")
        self.assertEqual(st, 204, body)
        st, _, body = self.request("/query", {"db": "metrics", "q": "SELECT v FROM params",
                                              "u": SUPER, "p": SUPER_PW})
        self.assertEqual(json.loads(body)["results"][0]["series"][0]["values"],
                         [["1970-01-01T00:00:01Z", 7]])

    def test_influxdb_client_superuser(self):
        c = self.client(SUPER, SUPER_PW, "metrics")
        self.assertTrue(c.write_points([{"measurement": "cpu", "tags": {"host": "h1"},
                                         "time": 2000000000, "fields": {"load": 0.5}}]))
        pts = list(c.query("SELECT load FROM cpu").get_points())
        self.assertEqual(pts, [{"time": "1970-01-01T00:00:02Z", "load": 0.5}])

    @staticmethod
    def error_of(exc):
        """The "error" of an InfluxDBClientError's JSON body."""
        return json.loads(exc.content)["error"]

    def test_modify_and_select_need_grants(self):
        self.cql("CREATE ROLE IF NOT EXISTS w2 WITH PASSWORD = 'pw2' AND LOGIN = true")
        w = self.client("w2", "pw2", "metrics")
        pt = [{"measurement": "mem", "time": 3000000000, "fields": {"used": 3}}]
        with self.assertRaises(InfluxDBClientError) as cm:
            w.write_points(pt)
        self.assertEqual(cm.exception.code, 403)
        self.assertEqual(self.error_of(cm.exception),
                         "User w2 has no MODIFY permission on <keyspace metrics> or any of "
                         "its parents")
        self.cql("GRANT MODIFY ON KEYSPACE metrics TO w2")
        self.assertTrue(w.write_points(pt))
        with self.assertRaises(InfluxDBClientError) as cm:
            w.query("SELECT used FROM mem")
        self.assertEqual(cm.exception.code, 403)
        self.assertIn("has no SELECT permission", self.error_of(cm.exception))
        self.cql("GRANT SELECT ON KEYSPACE metrics TO w2")
        self.assertEqual(list(w.query("SELECT used FROM mem").get_points()),
                         [{"time": "1970-01-01T00:00:03Z", "used": 3}])
        with self.assertRaises(InfluxDBClientError) as cm:
            w.create_database("other")
        self.assertEqual(cm.exception.code, 403)
        self.assertIn("has no CREATE permission on <all keyspaces>", self.error_of(cm.exception))
        with self.assertRaises(InfluxDBClientError) as cm:
            w.drop_database("metrics")
        self.assertEqual(cm.exception.code, 403)


class HttpsAuth(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="basalt-httpstls-test-")
        host = harness._pick_host()
        subprocess.check_call([GEN, cls.tmp, "%s=%s" % (host, host)],
                              stdout=subprocess.DEVNULL)
        extra = auth_opts(superuser_file(cls.tmp))
        extra.update({"http_encryption_options.enabled": "true",
                      "http_encryption_options.certfile": os.path.join(cls.tmp, host + ".pem"),
                      "http_encryption_options.keyfile": os.path.join(cls.tmp, host + ".key")})
        cls.node = harness.Node(host=host, extra=extra)
        try:
            cls.node.start()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.node.cleanup()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_influxdb_client_over_https(self):
        c = InfluxDBClient(host=self.node.host, port=self.node.http_port, username=SUPER,
                           password=SUPER_PW, database="secure", ssl=True,
                           verify_ssl=os.path.join(self.tmp, "ca.pem"))
        c.create_database("secure")
        big = "x" * 100000   # several TLS records each way
        self.assertTrue(c.write_points([{"measurement": "m", "time": 1000000000,
                                         "fields": {"s": big}}]))
        self.assertEqual(list(c.query("SELECT s FROM m").get_points()),
                         [{"time": "1970-01-01T00:00:01Z", "s": big}])
        bad = InfluxDBClient(host=self.node.host, port=self.node.http_port, username=SUPER,
                             password="nope", ssl=True,
                             verify_ssl=os.path.join(self.tmp, "ca.pem"))
        with self.assertRaises(InfluxDBClientError) as cm:
            bad.get_list_database()
        self.assertEqual(cm.exception.code, 401)

    def test_plain_http_is_refused(self):
        url = "http://%s:%d/ping" % (self.node.host, self.node.http_port)
        with self.assertRaises(urllib.error.HTTPError) as cm:
            urllib.request.urlopen(url, timeout=30)
        self.assertEqual(cm.exception.code, 400)
        self.assertIn(b"requires HTTPS", cm.exception.read())


if __name__ == "__main__":
    harness.main()
