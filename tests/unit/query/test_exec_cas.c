/*
 * test_exec_cas.c - conditional statements (query/exec_cas.c) driven
 * through bs_exec_request over the fake backend with its single-node
 * compare-and-set (exec_fake.h bs_fake_backend_cas): condition
 * evaluation (IF [NOT] EXISTS, = != < <= > >= IN, map elements, nulls),
 * the [applied] result and the current values it carries when the
 * condition fails, conditional batches, and the statements refused.
 */
#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "exec_fake.h"

static bs_xh H;
#define ERR_NONE (-1)

static const bs_xres *ok(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static const bs_xres *ok(const char *fmt, ...) {
    char q[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(q, sizeof q, fmt, ap);
    va_end(ap);
    const bs_xres *r = bs_xh_query(&H, q, NULL);
    ck_assert_msg(r->err == ERR_NONE, "%s: error 0x%04x: %s", q, (unsigned)r->err, r->msg);
    return r;
}

/* A conditional statement: its result's column names and rows. */
#define CAS(names, rows, ...)                                                                 \
    do {                                                                                      \
        const bs_xres *r_ = ok(__VA_ARGS__);                                                  \
        ck_assert_int_eq(r_->kind, BS_PROTO_RESULT_ROWS);                                     \
        ck_assert_str_eq(r_->colnames, (names));                                              \
        ck_assert_str_eq(r_->text, (rows));                                                   \
    } while (0)

#define ROWS(expect, ...)                                                                     \
    do {                                                                                      \
        const bs_xres *r_ = ok(__VA_ARGS__);                                                  \
        ck_assert_str_eq(r_->text, (expect));                                                 \
    } while (0)

static void fails(int32_t code, const char *part, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fails(int32_t code, const char *part, const char *fmt, ...) {
    char q[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(q, sizeof q, fmt, ap);
    va_end(ap);
    const bs_xres *r = bs_xh_query(&H, q, NULL);
    ck_assert_msg(r->err == code, "%s: expected 0x%04x, got 0x%04x: %s", q, (unsigned)code,
                  (unsigned)r->err, r->msg);
    ck_assert_msg(strstr(r->msg, part) != NULL, "%s: message '%s' lacks '%s'", q, r->msg, part);
}

static void setup(void) {
    ck_assert_int_eq(bs_xh_init_cas(&H), 0);
    ok("CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', "
       "'replication_factor': 1}");
    ok("USE ks");
    ok("CREATE TABLE kv (k int PRIMARY KEY, v int, w text, m map<text, int>)");
    ok("CREATE TABLE kc (k int, c int, v int, s int static, PRIMARY KEY (k, c))");
}

static void teardown(void) { bs_xh_destroy(&H); }

START_TEST(insert_if_not_exists) {
    CAS("[applied]", "True", "INSERT INTO kv (k, v, w) VALUES (1, 10, 'a') IF NOT EXISTS");
    CAS("[applied],k,m,v,w", "False | 1 | null | 10 | a",
        "INSERT INTO kv (k, v, w) VALUES (1, 20, 'b') IF NOT EXISTS");
    ROWS("10 | a", "SELECT v, w FROM kv WHERE k = 1");
    ck_assert_uint_eq(bs_fake_stats_get(H.f)->cas, 2);
    ck_assert_uint_eq(bs_fake_stats_get(H.f)->last_serial_cl, BS_CL_SERIAL);
}
END_TEST

START_TEST(update_comparisons) {
    ok("INSERT INTO kv (k, v, w) VALUES (1, 5, 'x')");
    static const struct {
        const char *cond;
        const char *applied;
    } cases[] = {
        {"v = 5", "True"},          {"v = 4", "False"},         {"v != 4", "True"},
        {"v != 5", "False"},        {"v < 6", "True"},          {"v < 5", "False"},
        {"v <= 5", "True"},         {"v > 4", "True"},          {"v > 5", "False"},
        {"v >= 6", "False"},        {"v IN (1, 5)", "True"},    {"v IN (1, 2)", "False"},
        {"w = 'x' AND v = 5", "True"}, {"w = 'x' AND v = 6", "False"},
        {"w = null", "False"},      {"w != null", "True"},      {"v IN (null, 7)", "False"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const bs_xres *r = ok("UPDATE kv SET w = 'x' WHERE k = 1 IF %s", cases[i].cond);
        ck_assert_msg(!strncmp(r->text, cases[i].applied, strlen(cases[i].applied)), "%s: %s",
                      cases[i].cond, r->text);
    }
    /* failure: [applied] then the conditions' columns, in IF order */
    CAS("[applied],w,v", "False | x | 5", "UPDATE kv SET v = 1 WHERE k = 1 IF w = 'y' AND v = 5");
}
END_TEST

START_TEST(nulls_and_missing_rows) {
    /* a missing row reads as nulls: = null holds, != v holds */
    CAS("[applied]", "True", "UPDATE kv SET v = 1 WHERE k = 2 IF v = null");
    CAS("[applied]", "True", "UPDATE kv SET v = 2 WHERE k = 3 IF v != 7");
    CAS("[applied]", "False", "UPDATE kv SET v = 2 WHERE k = 4 IF v > 1");
    CAS("[applied]", "False", "UPDATE kv SET v = 2 WHERE k = 4 IF EXISTS");
    CAS("[applied]", "True", "UPDATE kv SET v = 2 WHERE k = 4 IF v IN (null, 3)");
    ROWS("1", "SELECT v FROM kv WHERE k = 2");
    ROWS("", "SELECT v FROM kv WHERE k = 5");
    fails(0x2200, "Invalid comparison with null", "UPDATE kv SET v = 2 WHERE k = 2 IF v > null");
}
END_TEST

START_TEST(map_element_conditions) {
    ok("INSERT INTO kv (k, m) VALUES (1, {'a': 1, 'b': 2})");
    CAS("[applied]", "True", "UPDATE kv SET v = 1 WHERE k = 1 IF m['a'] = 1");
    CAS("[applied],m", "False | {'a': 1, 'b': 2}", "UPDATE kv SET v = 1 WHERE k = 1 IF m['b'] > 2");
}
END_TEST

START_TEST(delete_conditions) {
    ok("INSERT INTO kv (k, v, w) VALUES (1, 1, 'd')");
    CAS("[applied],v", "False | 1", "DELETE FROM kv WHERE k = 1 IF v = 2");
    CAS("[applied]", "True", "DELETE w FROM kv WHERE k = 1 IF v = 1");
    ROWS("1 | null", "SELECT v, w FROM kv WHERE k = 1");
    CAS("[applied]", "True", "DELETE FROM kv WHERE k = 1 IF EXISTS");
    CAS("[applied]", "False", "DELETE FROM kv WHERE k = 1 IF EXISTS");
    ROWS("", "SELECT * FROM kv WHERE k = 1");
}
END_TEST

START_TEST(clustering_and_static) {
    ok("INSERT INTO kc (k, c, v, s) VALUES (1, 1, 1, 7)");
    CAS("[applied]", "True", "UPDATE kc SET v = 2 WHERE k = 1 AND c = 1 IF s = 7");
    CAS("[applied],k,c,s,v", "False | 1 | 1 | 7 | 2",
        "INSERT INTO kc (k, c, v) VALUES (1, 1, 3) IF NOT EXISTS");
    CAS("[applied]", "True", "INSERT INTO kc (k, c, v) VALUES (1, 2, 3) IF NOT EXISTS");
    CAS("[applied]", "True", "UPDATE kc SET s = 8 WHERE k = 1 IF s = 7");
    ROWS("1 | 8 | 2\n2 | 8 | 3", "SELECT c, s, v FROM kc WHERE k = 1");
}
END_TEST

START_TEST(conditional_batches) {
    ok("INSERT INTO kc (k, c, v) VALUES (2, 1, 1)");
    ok("INSERT INTO kc (k, c, v) VALUES (2, 2, 2)");
    CAS("[applied],k,c,v", "False | 2 | 1 | 1\nFalse | 2 | 2 | 2",
        "BEGIN BATCH UPDATE kc SET v = 10 WHERE k = 2 AND c = 1 IF v = 1; "
        "UPDATE kc SET v = 20 WHERE k = 2 AND c = 2 IF v = 9; APPLY BATCH");
    ROWS("1 | 1\n2 | 2", "SELECT c, v FROM kc WHERE k = 2");
    CAS("[applied]", "True",
        "BEGIN BATCH UPDATE kc SET v = 10 WHERE k = 2 AND c = 1 IF v = 1; "
        "UPDATE kc SET v = 20 WHERE k = 2 AND c = 2 IF v = 2; "
        "INSERT INTO kc (k, c, v) VALUES (2, 3, 30) IF NOT EXISTS; APPLY BATCH");
    ROWS("1 | 10\n2 | 20\n3 | 30", "SELECT c, v FROM kc WHERE k = 2");
    /* a protocol BATCH too */
    const char *b[] = {"UPDATE kc SET v = 11 WHERE k = 2 AND c = 1 IF v = 10",
                       "UPDATE kc SET v = 21 WHERE k = 2 AND c = 2"};
    const bs_xres *r = bs_xh_batch(&H, 0, b, 2, BS_CL_QUORUM);
    ck_assert_int_eq(r->err, ERR_NONE);
    ck_assert_str_eq(r->text, "True");
    ROWS("1 | 11\n2 | 21\n3 | 30", "SELECT c, v FROM kc WHERE k = 2");
    fails(0x2200, "cannot span multiple partitions",
          "BEGIN BATCH UPDATE kc SET v = 1 WHERE k = 2 AND c = 1 IF v = 11; "
          "UPDATE kc SET v = 1 WHERE k = 3 AND c = 1; APPLY BATCH");
    fails(0x2200, "cannot span multiple tables",
          "BEGIN BATCH UPDATE kc SET v = 1 WHERE k = 2 AND c = 1 IF v = 11; "
          "UPDATE kv SET v = 1 WHERE k = 2; APPLY BATCH");
}
END_TEST

START_TEST(refused_forms) {
    size_t w = bs_fake_stats_get(H.f)->writes;
    fails(0x2200, "PRIMARY KEY column 'k'", "UPDATE kv SET v = 1 WHERE k = 1 IF k = 1");
    fails(0x2200, "custom timestamp",
          "UPDATE kv USING TIMESTAMP 5 SET v = 1 WHERE k = 1 IF v = 1");
    fails(0x2200, "custom timestamp",
          "BEGIN BATCH USING TIMESTAMP 5 UPDATE kv SET v = 1 WHERE k = 1 IF v = 1; APPLY BATCH");
    fails(0x2200, "IN on the partition key", "UPDATE kv SET v = 1 WHERE k IN (1, 2) IF v = 1");
    fails(0x2200, "IN on the clustering key",
          "UPDATE kc SET v = 1 WHERE k = 1 AND c IN (1, 2) IF v = 1");
    fails(0x2200, "must restrict all PRIMARY KEY", "DELETE FROM kc WHERE k = 1 IF EXISTS");
    fails(0x2200, "Undefined column name nope", "UPDATE kv SET v = 1 WHERE k = 1 IF nope = 1");
    ok("CREATE TABLE ctr (k int PRIMARY KEY, n counter)");
    fails(0x2200, "not supported on counter tables",
          "UPDATE ctr SET n = n + 1 WHERE k = 1 IF n = 0");
    ck_assert_uint_eq(bs_fake_stats_get(H.f)->writes, w);
}
END_TEST

START_TEST(serial_consistency_and_errors) {
    bs_xq q;
    memset(&q, 0, sizeof q);
    q.cl = BS_CL_QUORUM;
    q.serial_cl = BS_CL_LOCAL_SERIAL;
    const bs_xres *r = bs_xh_query(&H, "INSERT INTO kv (k, v) VALUES (9, 9) IF NOT EXISTS", &q);
    ck_assert_int_eq(r->err, ERR_NONE);
    ck_assert_uint_eq(bs_fake_stats_get(H.f)->last_serial_cl, BS_CL_LOCAL_SERIAL);
    /* the backend's error reaches the client as it is */
    bs_exec_err e;
    memset(&e, 0, sizeof e);
    e.code = BS_PROTO_ERR_WRITE_TIMEOUT;
    e.cl = BS_CL_SERIAL;
    e.received = 1;
    e.blockfor = 2;
    e.write_type = "CAS";
    snprintf(e.msg, sizeof e.msg, "Operation timed out");
    bs_fake_fail(H.f, BS_FAKE_CAS, &e);
    r = bs_xh_query(&H, "UPDATE kv SET v = 1 WHERE k = 9 IF v = 9", NULL);
    ck_assert_int_eq(r->err, BS_PROTO_ERR_WRITE_TIMEOUT);
    ck_assert_int_eq(r->error.cl, BS_CL_SERIAL);
    ck_assert_int_eq(r->error.write_type.len, 3);
    ck_assert(!memcmp(r->error.write_type.p, "CAS", 3));
}
END_TEST

START_TEST(serial_reads) {
    ok("INSERT INTO kv (k, v) VALUES (1, 5)");
    bs_xq q;
    memset(&q, 0, sizeof q);
    q.cl = BS_CL_SERIAL;
    const bs_xres *r = bs_xh_query(&H, "SELECT v FROM kv WHERE k = 1", &q);
    ck_assert_int_eq(r->err, ERR_NONE);
    ck_assert_str_eq(r->text, "5");
    /* the backend gets the read at SERIAL (the coordinator runs Paxos) */
    ck_assert_uint_eq(bs_fake_stats_get(H.f)->last_cl, BS_CL_SERIAL);
    q.cl = BS_CL_LOCAL_SERIAL;
    r = bs_xh_query(&H, "SELECT v FROM kv", &q);
    ck_assert_int_eq(r->err, 0x2200);
    ck_assert(strstr(r->msg, "one partition at a time") != NULL);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("exec_cas");
    TCase *tc = tcase_create("cas");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, insert_if_not_exists);
    tcase_add_test(tc, update_comparisons);
    tcase_add_test(tc, nulls_and_missing_rows);
    tcase_add_test(tc, map_element_conditions);
    tcase_add_test(tc, delete_conditions);
    tcase_add_test(tc, clustering_and_static);
    tcase_add_test(tc, conditional_batches);
    tcase_add_test(tc, refused_forms);
    tcase_add_test(tc, serial_consistency_and_errors);
    tcase_add_test(tc, serial_reads);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    SRunner *r = srunner_create(suite());
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
