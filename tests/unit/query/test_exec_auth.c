/*
 * test_exec_auth.c - query/exec_auth.c over the in-memory fake backend:
 * AUTH_RESPONSE (SASL PLAIN against system_auth.roles, the initial
 * superuser), the role statements, GRANT / REVOKE / LIST PERMISSIONS and
 * the permission checks, with both validity periods 0 (every check reads
 * system_auth) and a small KDF iteration count to keep it quick.
 */
#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "exec_fake.h"

static bs_xh H;

/* Sends AUTH_RESPONSE with token tok[0..n) on a fresh session; returns
 * the answer's opcode, the error message in msg. */
static uint8_t login_tok(const char *tok, size_t n, char *msg, size_t cap) {
    bs_exec_session_destroy(&H.sess);
    bs_exec_session_init(&H.sess);
    bs_proto_request req;
    memset(&req, 0, sizeof req);
    req.opcode = BS_PROTO_OP_AUTH_RESPONSE;
    req.version = 4;
    req.u.auth_response = bs_proto_bytes(tok, n);
    bs_arena a;
    bs_arena_init(&a, 0);
    bs_buf out = BS_BUF_INIT;
    ck_assert_int_eq(bs_exec_request(H.x, &H.sess, &req, 7, BS_PROTO_COMP_NONE, &a, &out), 0);
    ck_assert_uint_ge(out.len, 9);
    uint8_t op = out.data[4];
    msg[0] = 0;
    if (op == BS_PROTO_OP_ERROR) {
        bs_proto_rd rd;
        bs_proto_rd_init(&rd, out.data + 9, out.len - 9);
        bs_proto_error e;
        ck_assert_int_eq(bs_proto_error_decode(&rd, &a, &e), 0);
        snprintf(msg, cap, "%04x %.*s", (unsigned)e.code, (int)e.message.len, e.message.p);
    }
    bs_buf_free(&out);
    bs_arena_free(&a);
    return op;
}

static uint8_t login(const char *user, const char *pw, char *msg, size_t cap) {
    char tok[256];
    size_t ul = strlen(user), pl = strlen(pw);
    tok[0] = 0;
    memcpy(tok + 1, user, ul);
    tok[1 + ul] = 0;
    memcpy(tok + 2 + ul, pw, pl);
    return login_tok(tok, ul + pl + 2, msg, cap);
}

static void login_ok(const char *user, const char *pw) {
    char msg[600];
    ck_assert_msg(login(user, pw, msg, sizeof msg) == BS_PROTO_OP_AUTH_SUCCESS, "%s: %s", user,
                  msg);
}

static const bs_xres *run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static const bs_xres *run(const char *fmt, ...) {
    char q[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(q, sizeof q, fmt, ap);
    va_end(ap);
    return bs_xh_query(&H, q, NULL);
}

#define OK(...)                                                                                \
    do {                                                                                       \
        const bs_xres *r_ = run(__VA_ARGS__);                                                  \
        ck_assert_msg(r_->err == -1, "error 0x%04x: %s", (unsigned)r_->err, r_->msg);        \
    } while (0)
#define FAILS(code, part, ...)                                                                 \
    do {                                                                                       \
        const bs_xres *r_ = run(__VA_ARGS__);                                                  \
        ck_assert_msg(r_->err == (code), "expected 0x%04x, got 0x%04x: %s", (unsigned)(code), \
                      (unsigned)r_->err, r_->msg);                                             \
        ck_assert_msg(strstr(r_->msg, part), "'%s' lacks '%s'", r_->msg, part);               \
    } while (0)
#define ROWS(expect, ...)                                                                      \
    do {                                                                                       \
        const bs_xres *r_ = run(__VA_ARGS__);                                                  \
        ck_assert_msg(r_->err == -1, "error 0x%04x: %s", (unsigned)r_->err, r_->msg);        \
        ck_assert_str_eq(r_->text, (expect));                                                  \
    } while (0)

static void setup_with(int authorize) {
    ck_assert_int_eq(bs_xh_init(&H), 0);
    bs_exec_auth_opts o = {1, authorize, 0, 0, "root", "root-pw", 1000};
    ck_assert_int_eq(bs_exec_set_auth(H.x, &o), 0);
    char err[256];
    ck_assert_msg(bs_exec_auth_schema(H.x, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(bs_exec_auth_schema(H.x, err, sizeof err), 0); /* idempotent */
}
static void setup(void) {
    setup_with(1);
}
static void teardown(void) {
    bs_xh_destroy(&H);
}

START_TEST(login_and_initial_superuser) {
    char msg[600];
    ck_assert_int_eq(login("root", "wrong", msg, sizeof msg), BS_PROTO_OP_ERROR);
    ck_assert_str_eq(msg, "0100 Provided username root and/or password are incorrect");
    ck_assert_int_eq(login("nobody", "x", msg, sizeof msg), BS_PROTO_OP_ERROR);
    ck_assert_ptr_nonnull(strstr(msg, "Provided username nobody"));
    ck_assert_int_eq(login_tok("\0root", 5, msg, sizeof msg), BS_PROTO_OP_ERROR);
    ck_assert_ptr_nonnull(strstr(msg, "0100 Authentication failed"));
    login_ok("root", "root-pw");
    ROWS("root | True | True | ALL", "LIST ROLES");
    /* the stored hash is PBKDF2, never the password */
    const bs_xres *r = run("SELECT salted_hash FROM system_auth.roles WHERE role = 'root'");
    ck_assert_int_eq(r->nrows, 1);
    ck_assert_ptr_nonnull(strstr(r->text, "pbkdf2-sha256$1000$"));
    ck_assert_ptr_null(strstr(r->text, "root-pw"));
    /* an anonymous session may do nothing */
    bs_exec_session_destroy(&H.sess);
    bs_exec_session_init(&H.sess);
    FAILS(BS_PROTO_ERR_UNAUTHORIZED, "logged in", "SELECT * FROM system_auth.roles");
}
END_TEST

START_TEST(roles_lifecycle) {
    login_ok("root", "root-pw");
    OK("CREATE ROLE alice WITH PASSWORD = 'a' AND LOGIN = true");
    OK("CREATE ROLE IF NOT EXISTS alice WITH PASSWORD = 'other'");
    FAILS(BS_PROTO_ERR_INVALID, "alice already exists", "CREATE ROLE alice");
    OK("CREATE ROLE quiet WITH PASSWORD = 'q'"); /* LOGIN defaults to false */
    ROWS("alice | False | True | ALL\nquiet | False | False | ALL\nroot | True | True | ALL",
         "LIST ROLES");
    ROWS("alice | False | ALL\nroot | True | ALL", "LIST USERS");
    char msg[600];
    ck_assert_int_eq(login("quiet", "q", msg, sizeof msg), BS_PROTO_OP_ERROR);
    ck_assert_str_eq(msg, "0100 quiet is not permitted to log in");
    login_ok("alice", "a");
    /* again: from the login memo; a wrong password or another role's
     * password still fails after it */
    login_ok("alice", "a");
    ck_assert_int_eq(login("alice", "b", msg, sizeof msg), BS_PROTO_OP_ERROR);
    ck_assert_int_eq(login("alice", "root-pw", msg, sizeof msg), BS_PROTO_OP_ERROR);
    ck_assert_int_eq(login("quiet", "q", msg, sizeof msg), BS_PROTO_OP_ERROR);
    login_ok("alice", "a");
    /* alice: only her own password */
    OK("ALTER ROLE alice WITH PASSWORD = 'a2'");
    FAILS(BS_PROTO_ERR_UNAUTHORIZED, "your own superuser status",
          "ALTER ROLE alice WITH SUPERUSER = true");
    FAILS(BS_PROTO_ERR_UNAUTHORIZED, "has no CREATE permission on <all roles>",
          "CREATE ROLE x WITH LOGIN = true");
    FAILS(BS_PROTO_ERR_UNAUTHORIZED, "not authorized to view roles granted to root",
          "LIST ROLES OF root");
    ROWS("alice | False | True | ALL", "LIST ROLES");
    ck_assert_int_eq(login("alice", "a", msg, sizeof msg), BS_PROTO_OP_ERROR);
    login_ok("alice", "a2");
    login_ok("root", "root-pw");
    FAILS(BS_PROTO_ERR_INVALID, "Cannot DROP primary role", "DROP ROLE root");
    OK("DROP ROLE alice");
    FAILS(BS_PROTO_ERR_INVALID, "alice doesn't exist", "DROP ROLE alice");
    OK("DROP ROLE IF EXISTS alice");
    FAILS(BS_PROTO_ERR_INVALID, "alice doesn't exist", "ALTER ROLE alice WITH LOGIN = true");
    ck_assert_int_eq(login("alice", "a2", msg, sizeof msg), BS_PROTO_OP_ERROR);
}
END_TEST

START_TEST(grant_revoke_and_checks) {
    login_ok("root", "root-pw");
    OK("CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', "
       "'replication_factor': 1}");
    OK("CREATE TABLE ks.t (k int PRIMARY KEY, v text)");
    OK("CREATE TABLE ks.u (k int PRIMARY KEY)");
    OK("INSERT INTO ks.t (k, v) VALUES (1, 'x')");
    OK("CREATE ROLE bob WITH PASSWORD = 'b' AND LOGIN = true");
    FAILS(BS_PROTO_ERR_INVALID, "Resource <table ks.nope> doesn't exist",
          "GRANT SELECT ON ks.nope TO bob");
    FAILS(BS_PROTO_ERR_INVALID, "Role ghost doesn't exist", "GRANT SELECT ON ks.t TO ghost");
    FAILS(BS_PROTO_ERR_INVALID, "does not support", "GRANT CREATE ON ks.t TO bob");
    OK("GRANT SELECT ON ks.t TO bob");
    OK("GRANT MODIFY ON KEYSPACE ks TO bob");
    ROWS("bob | bob | <keyspace ks> | MODIFY\nbob | bob | <table ks.t> | SELECT",
         "LIST ALL PERMISSIONS OF bob");
    ROWS("bob | bob | <table ks.t> | SELECT", "LIST SELECT ON ks.t OF bob");
    login_ok("bob", "b");
    ROWS("1 | x", "SELECT * FROM ks.t");
    FAILS(BS_PROTO_ERR_UNAUTHORIZED,
          "User bob has no SELECT permission on <table ks.u> or any of its parents",
          "SELECT * FROM ks.u");
    OK("INSERT INTO ks.u (k) VALUES (1)"); /* MODIFY on the keyspace */
    FAILS(BS_PROTO_ERR_UNAUTHORIZED, "has no DROP permission on <table ks.t>", "DROP TABLE ks.t");
    FAILS(BS_PROTO_ERR_UNAUTHORIZED, "has no CREATE permission on <keyspace ks>",
          "CREATE TABLE ks.v (k int PRIMARY KEY)");
    FAILS(BS_PROTO_ERR_UNAUTHORIZED, "has no AUTHORIZE permission",
          "GRANT SELECT ON ks.u TO bob");
    ROWS("", "SELECT key FROM system.local WHERE key = 'nothing'"); /* system: readable */
    FAILS(BS_PROTO_ERR_UNAUTHORIZED, "not authorized to view everyone's",
          "LIST ALL PERMISSIONS");
    /* the checks see a REVOKE at once (validity 0) */
    login_ok("root", "root-pw");
    OK("REVOKE SELECT ON ks.t FROM bob");
    FAILS(BS_PROTO_ERR_UNAUTHORIZED, "system_auth keyspace is not user-modifiable",
          "DROP TABLE system_auth.roles");
    OK("ALTER KEYSPACE system_auth WITH replication = {'class': 'SimpleStrategy', "
       "'replication_factor': 3}");
    login_ok("bob", "b");
    FAILS(BS_PROTO_ERR_UNAUTHORIZED, "no SELECT permission on <table ks.t>", "SELECT * FROM ks.t");
    /* a protocol batch child is checked too */
    const char *kids[] = {"INSERT INTO ks.u (k) VALUES (2)", "DELETE FROM ks.t WHERE k = 1"};
    const bs_xres *r = bs_xh_batch(&H, 1, kids, 2, 1);
    ck_assert_int_eq(r->err, -1);
    login_ok("root", "root-pw");
    OK("REVOKE MODIFY ON KEYSPACE ks FROM bob");
    login_ok("bob", "b");
    r = bs_xh_batch(&H, 1, kids, 2, 1);
    ck_assert_int_eq(r->err, BS_PROTO_ERR_UNAUTHORIZED);
}
END_TEST

START_TEST(allow_all_authorizer) {
    teardown();
    setup_with(0);
    login_ok("root", "root-pw");
    OK("CREATE ROLE carol WITH PASSWORD = 'c' AND LOGIN = true");
    FAILS(BS_PROTO_ERR_INVALID, "not supported by AllowAllAuthorizer",
          "GRANT SELECT ON ALL KEYSPACES TO carol");
    login_ok("carol", "c");
    OK("CREATE KEYSPACE k2 WITH replication = {'class': 'SimpleStrategy', "
       "'replication_factor': 1}");
    FAILS(BS_PROTO_ERR_UNAUTHORIZED, "Only superusers can create a role with superuser",
          "CREATE ROLE d WITH SUPERUSER = true");
}
END_TEST

int main(void) {
    Suite *s = suite_create("exec_auth");
    TCase *tc = tcase_create("auth");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, login_and_initial_superuser);
    tcase_add_test(tc, roles_lifecycle);
    tcase_add_test(tc, grant_revoke_and_checks);
    tcase_add_test(tc, allow_all_authorizer);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
