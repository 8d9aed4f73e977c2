/*
 * test_exec_counter.c - counter tables in the executor (query/
 * exec_counter.c and the counter parts of exec_write.c, exec_ddl.c and
 * exec_select.c) over the fake backend, whose counter_write leads every
 * increment as one replica would (exec_fake.c).
 *
 * Checked: Cassandra's refusals and messages (schema, statements,
 * batches, ), that increments reach the backend as counter
 * writes (never as plain writes), SELECT summing shards into bigint values
 * (null for an untouched counter, no row for an untouched row), counter
 * batches (text and protocol) with the same cell twice, prepared
 * increments with bound deltas, DELETE of a column and of a row and
 * increments after it.
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
    char q[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(q, sizeof q, fmt, ap);
    va_end(ap);
    const bs_xres *r = bs_xh_query(&H, q, NULL);
    ck_assert_msg(r->err == ERR_NONE, "%s: error 0x%04x: %s", q, (unsigned)r->err, r->msg);
    return r;
}

#define ROWS(expect, ...)                                                                          \
    do {                                                                                           \
        const bs_xres *r_ = ok(__VA_ARGS__);                                                       \
        ck_assert_int_eq(r_->kind, BS_PROTO_RESULT_ROWS);                                          \
        ck_assert_str_eq(r_->text, (expect));                                                      \
    } while (0)

static void invalid(const char *part, const char *q) {
    const bs_xres *r = bs_xh_query(&H, q, NULL);
    ck_assert_msg(r->opcode == BS_PROTO_OP_ERROR, "%s: expected an error", q);
    ck_assert_msg(r->err == BS_PROTO_ERR_INVALID, "%s: 0x%04x %s", q, (unsigned)r->err, r->msg);
    ck_assert_msg(strstr(r->msg, part) != NULL, "%s: message '%s' lacks '%s'", q, r->msg, part);
}

static void setup(void) {
    ck_assert_int_eq(bs_xh_init(&H), 0);
    ok("CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', "
       "'replication_factor': 1}");
    ok("USE ks");
    ok("CREATE TABLE c (k int, ck text, a counter, b counter, PRIMARY KEY (k, ck))");
    ok("CREATE TABLE t (k int PRIMARY KEY, v int)");
}

static void teardown(void) { bs_xh_destroy(&H); }

START_TEST(schema_rules) {
    invalid("Cannot mix counter and non counter columns in the same table",
            "CREATE TABLE bad (k int PRIMARY KEY, a counter, v int)");
    invalid("counter type is not supported for PRIMARY KEY column 'k'",
            "CREATE TABLE bad (k counter PRIMARY KEY, a counter)");
    invalid("Cannot set default_time_to_live on a table with counters",
            "CREATE TABLE bad (k int PRIMARY KEY, a counter) WITH default_time_to_live = 5");
    invalid("Cannot add a counter column (x) in a non counter column family",
            "ALTER TABLE t ADD x counter");
    invalid("Cannot add a non counter column (x) in a counter column family",
            "ALTER TABLE c ADD x int");
    ok("ALTER TABLE c ADD d counter");
    ok("CREATE TABLE only_counters (k int, s counter static, a counter, c int, "
       "PRIMARY KEY (k, c))");
    ROWS("k | int\nck | text\na | counter\nb | counter\nd | counter",
         "SELECT column_name, type FROM system_schema.columns WHERE keyspace_name = 'ks' "
         "AND table_name = 'c'");
}
END_TEST

START_TEST(statement_rules) {
    invalid("Cannot set the value of counter column a (counters can only be "
            "incremented/decremented, not set)",
            "UPDATE c SET a = 5 WHERE k = 1 AND ck = 'x'");
    invalid("INSERT statements are not allowed on counter tables, use UPDATE instead",
            "INSERT INTO c (k, ck, a) VALUES (1, 'x', 1)");
    invalid("Cannot provide custom timestamp for counter updates",
            "UPDATE c USING TIMESTAMP 3 SET a = a + 1 WHERE k = 1 AND ck = 'x'");
    invalid("Cannot provide custom TTL for counter updates",
            "UPDATE c USING TTL 3 SET a = a + 1 WHERE k = 1 AND ck = 'x'");
    invalid("Invalid operation (v = v + ?) for non counter column v",
            "UPDATE t SET v = v + 1 WHERE k = 1");
    invalid("for non list column a", "UPDATE c SET a = 1 + a WHERE k = 1 AND ck = 'x'");
    invalid("Cannot use selection function writeTime on counter column a",
            "SELECT writetime(a) FROM c WHERE k = 1");
    invalid("Cannot include a counter statement in a logged batch",
            "BEGIN BATCH UPDATE c SET a = a + 1 WHERE k = 1 AND ck = 'x' APPLY BATCH");
    invalid("Cannot include non-counter statement in a counter batch",
            "BEGIN COUNTER BATCH UPDATE t SET v = 1 WHERE k = 1 APPLY BATCH");
    invalid("Counter and non-counter mutations cannot exist in the same batch",
            "BEGIN UNLOGGED BATCH UPDATE c SET a = a + 1 WHERE k = 1 AND ck = 'x'; "
            "UPDATE t SET v = 1 WHERE k = 1 APPLY BATCH");
    invalid("Cannot provide custom timestamp for a BATCH containing counters",
            "BEGIN COUNTER BATCH USING TIMESTAMP 9 UPDATE c SET a = a + 1 WHERE k = 1 "
            "AND ck = 'x' APPLY BATCH");
    /* consistency ANY: integ_test_counters (the harness sends 0 as ONE) */
    const bs_fake_stats *st = bs_fake_stats_get(H.f);
    ck_assert_uint_eq(st->counter_writes, 0);
    ROWS("", "SELECT * FROM c");
}
END_TEST

START_TEST(increments_sum) {
    const bs_fake_stats *st = bs_fake_stats_get(H.f);
    size_t w0 = st->writes;
    ok("UPDATE c SET a = a + 1 WHERE k = 1 AND ck = 'x'");
    ok("UPDATE c SET a = a + 10, b = b - 3 WHERE k = 1 AND ck = 'x'");
    ok("UPDATE c SET a = a - 20 WHERE k = 1 AND ck = 'x'");
    ok("UPDATE c SET a = a + 5 WHERE k IN (1, 2) AND ck = 'y'");
    ck_assert_uint_eq(st->counter_writes, 4);
    ck_assert_uint_eq(st->writes, w0); /* never as plain writes */
    ROWS("1 | x | -9 | -3\n1 | y | 5 | null\n2 | y | 5 | null", "SELECT * FROM c WHERE k IN (1, 2)");
    ROWS("", "SELECT * FROM c WHERE k = 3");
    ROWS("1 | x | -9\n1 | y | 5\n2 | y | 5", "SELECT k, ck, a FROM c");
    ROWS("1 | y | 5\n2 | y | 5", "SELECT k, ck, a FROM c WHERE a > 0 ALLOW FILTERING");
    ROWS("1 | x", "SELECT k, ck FROM c WHERE b = -3 ALLOW FILTERING");
    ROWS("1", "SELECT sum(a) FROM c");
    ROWS("3", "SELECT count(a) FROM c");
    ok("UPDATE c SET a = a + 9223372036854775807 WHERE k = 2 AND ck = 'z'");
    ROWS("9223372036854775807", "SELECT a FROM c WHERE k = 2 AND ck = 'z'");
    ok("UPDATE c SET a = a + 1 WHERE k = 2 AND ck = 'z'"); /* wraps like a Java long */
    ROWS("-9223372036854775808", "SELECT a FROM c WHERE k = 2 AND ck = 'z'");
}
END_TEST

START_TEST(batches) {
    ok("BEGIN COUNTER BATCH "
       "UPDATE c SET a = a + 1 WHERE k = 1 AND ck = 'x'; "
       "UPDATE c SET a = a + 2 WHERE k = 1 AND ck = 'x'; "
       "UPDATE c SET b = b + 7 WHERE k = 2 AND ck = 'x'; "
       "APPLY BATCH");
    ROWS("1 | x | 3 | null\n2 | x | null | 7", "SELECT * FROM c");
    const char *st[] = {"UPDATE c SET a = a + 100 WHERE k = 1 AND ck = 'x'",
                        "UPDATE c SET b = b - 1 WHERE k = 1 AND ck = 'x'"};
    const bs_xres *r = bs_xh_batch(&H, 2, st, 2, BS_CL_QUORUM);
    ck_assert_int_eq(r->err, ERR_NONE);
    ck_assert_uint_eq(bs_fake_stats_get(H.f)->last_cl, BS_CL_QUORUM);
    r = bs_xh_batch(&H, 0, st, 2, BS_CL_QUORUM);
    ck_assert_int_eq(r->err, BS_PROTO_ERR_INVALID);
    ck_assert_str_eq(r->msg, "Cannot include a counter statement in a logged batch");
    ROWS("103 | -1", "SELECT a, b FROM c WHERE k = 1 AND ck = 'x'");
}
END_TEST

START_TEST(prepared_increments) {
    const bs_xres *r = bs_xh_prepare(&H, "UPDATE c SET a = a + ? WHERE k = ? AND ck = ?");
    ck_assert_int_eq(r->err, ERR_NONE);
    uint8_t id[64];
    size_t idl = (size_t)r->result.u.prepared.id.len;
    ck_assert_uint_le(idl, sizeof id);
    memcpy(id, r->result.u.prepared.id.p, idl);
    uint8_t d[8] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe}; /* -2 */
    uint8_t k[4] = {0, 0, 0, 4};
    bs_proto_val v[3] = {bs_proto_bytes(d, 8), bs_proto_bytes(k, 4),
                         bs_proto_bytes((const uint8_t *)"p", 1)};
    bs_xq q = {0};
    q.values = v;
    q.nvalues = 3;
    for (int i = 0; i < 3; i++) ck_assert_int_eq(bs_xh_execute(&H, id, idl, &q)->err, ERR_NONE);
    ROWS("-6", "SELECT a FROM c WHERE k = 4 AND ck = 'p'");
    v[0].len = BS_PROTO_NULL;
    r = bs_xh_execute(&H, id, idl, &q);
    ck_assert_int_eq(r->err, BS_PROTO_ERR_INVALID);
    ck_assert_str_eq(r->msg, "Invalid null value for counter increment");
    v[0].len = BS_PROTO_UNSET; /* unset: nothing to do */
    ck_assert_int_eq(bs_xh_execute(&H, id, idl, &q)->err, ERR_NONE);
    ROWS("-6", "SELECT a FROM c WHERE k = 4 AND ck = 'p'");
}
END_TEST

START_TEST(deletes) {
    ok("UPDATE c SET a = a + 4, b = b + 5 WHERE k = 1 AND ck = 'x'");
    ok("DELETE b FROM c WHERE k = 1 AND ck = 'x'");
    ROWS("4 | null", "SELECT a, b FROM c WHERE k = 1 AND ck = 'x'");
    bs_fake_advance(H.f, 1);
    ok("DELETE FROM c WHERE k = 1 AND ck = 'x'");
    ROWS("", "SELECT * FROM c");
    bs_fake_advance(H.f, 1);
    ok("UPDATE c SET a = a + 2 WHERE k = 1 AND ck = 'x'");
    ROWS("2 | null", "SELECT a, b FROM c WHERE k = 1 AND ck = 'x'");
}
END_TEST

int main(void) {
    Suite *s = suite_create("query_exec_counter");
    TCase *tc = tcase_create("counter");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, schema_rules);
    tcase_add_test(tc, statement_rules);
    tcase_add_test(tc, increments_sum);
    tcase_add_test(tc, batches);
    tcase_add_test(tc, prepared_increments);
    tcase_add_test(tc, deletes);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf == 0 ? 0 : 1;
}
