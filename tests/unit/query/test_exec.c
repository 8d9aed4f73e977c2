/*
 * test_exec.c - the CQL executor (query/exec*.c) driven through
 * bs_exec_request over the in-memory fake backend (exec_fake.h).
 *
 * Every case starts from a fresh fake with keyspace ks in use, sends CQL
 * as a driver would (QUERY / PREPARE / EXECUTE / BATCH frames' decoded
 * form), decodes the response frame and asserts on what a client sees:
 * rows rendered as cqlsh renders values ("a | b" per row, rows joined by
 * newlines), error codes and messages (Cassandra's codes: 0x2000 syntax,
 * 0x2200 invalid, 0x2400 already exists, ...), paging states and what the
 * backend was asked to do (mutation counts, logged flag, consistency).
 */
#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exec_fake.h"

static bs_xh H;

#define ERR_NONE (-1)

/* Runs a statement that must succeed; returns its result. */
static const bs_xres *ok(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
static const bs_xres *ok(const char *fmt, ...) {
    char q[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(q, sizeof q, fmt, ap);
    va_end(ap);
    const bs_xres *r = bs_xh_query(&H, q, NULL);
    ck_assert_msg(r->err == ERR_NONE, "%s: error 0x%04x: %s", q,
                  (unsigned)r->err, r->msg);
    return r;
}

/* Runs a SELECT and compares its rendered rows. */
#define ROWS(expect, ...)                                                      \
    do {                                                                       \
        const bs_xres *r_ = ok(__VA_ARGS__);                                   \
        ck_assert_int_eq(r_->kind, BS_PROTO_RESULT_ROWS);                      \
        ck_assert_str_eq(r_->text, (expect));                                  \
    } while (0)

/* Runs a statement that must fail with `code` and a message containing
 * `part`. */
static void fails(int32_t code, const char *part, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fails(int32_t code, const char *part, const char *fmt, ...) {
    char q[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(q, sizeof q, fmt, ap);
    va_end(ap);
    const bs_xres *r = bs_xh_query(&H, q, NULL);
    ck_assert_msg(r->opcode == BS_PROTO_OP_ERROR,
                  "%s: expected error 0x%04x, got success", q, (unsigned)code);
    ck_assert_msg(r->err == code, "%s: expected 0x%04x, got 0x%04x: %s", q,
                  (unsigned)code, (unsigned)r->err, r->msg);
    ck_assert_msg(strstr(r->msg, part) != NULL, "%s: message '%s' lacks '%s'",
                  q, r->msg, part);
}

static void setup(void) {
    ck_assert_int_eq(bs_xh_init(&H), 0);
    ok("CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', "
       "'replication_factor': 1}");
    const bs_xres *r = ok("USE ks");
    ck_assert_int_eq(r->kind, BS_PROTO_RESULT_SET_KEYSPACE);
}

static void teardown(void) {
    bs_xh_destroy(&H);
}

/* A table with a clustering column: t(k int, c int, v text). */
static void make_kcv(void) {
    ok("CREATE TABLE t (k int, c int, v text, PRIMARY KEY (k, c))");
}

/* Five rows over two partitions. */
static void fill_kcv(void) {
    make_kcv();
    for (int c = 1; c <= 3; c++)
        ok("INSERT INTO t (k, c, v) VALUES (1, %d, 'a%d')", c, c);
    for (int c = 1; c <= 2; c++)
        ok("INSERT INTO t (k, c, v) VALUES (2, %d, 'b%d')", c, c);
}

/* ---- INSERT / UPDATE / DELETE / SELECT ---------------------------------- */

START_TEST(insert_then_select) {
    ok("CREATE TABLE kv (k int PRIMARY KEY, v text, n bigint)");
    const bs_xres *r = ok("INSERT INTO kv (k, v, n) VALUES (1, 'one', 10)");
    ck_assert_int_eq(r->kind, BS_PROTO_RESULT_VOID);
    r = ok("SELECT * FROM kv WHERE k = 1");
    ck_assert_int_eq(r->nrows, 1);
    ck_assert_uint_eq(r->ncols, 3);
    ck_assert_str_eq(r->colnames, "k,n,v"); /* pk first, then by name */
    ck_assert_str_eq(r->text, "1 | 10 | one");
    ROWS("one | 1", "SELECT v, k FROM kv WHERE k = 1");
    ROWS("", "SELECT * FROM kv WHERE k = 2");
}
END_TEST

START_TEST(insert_is_an_upsert) {
    ok("CREATE TABLE kv (k int PRIMARY KEY, v text, w text)");
    ok("INSERT INTO kv (k, v, w) VALUES (1, 'a', 'x')");
    ok("INSERT INTO kv (k, v) VALUES (1, 'b')");
    ROWS("1 | b | x", "SELECT * FROM kv");
    ok("UPDATE kv SET w = 'y' WHERE k = 1");
    ROWS("1 | b | y", "SELECT * FROM kv");
    ok("UPDATE kv SET v = 'new' WHERE k = 5");
    ROWS("5 | new | null", "SELECT * FROM kv WHERE k = 5");
}
END_TEST

START_TEST(update_row_has_no_marker) {
    /* A row made by UPDATE lives only through its cells; one made by
     * INSERT survives with every regular column null (row marker). */
    ok("CREATE TABLE kv (k int PRIMARY KEY, v text)");
    ok("UPDATE kv SET v = 'u' WHERE k = 1");
    ok("INSERT INTO kv (k, v) VALUES (2, 'i')");
    ok("DELETE v FROM kv WHERE k = 1");
    ok("DELETE v FROM kv WHERE k = 2");
    ROWS("2 | null", "SELECT * FROM kv");
}
END_TEST

START_TEST(insert_null_deletes_the_cell) {
    ok("CREATE TABLE kv (k int PRIMARY KEY, v text, w int)");
    ok("INSERT INTO kv (k, v, w) VALUES (1, 'a', 3)");
    ok("INSERT INTO kv (k, v) VALUES (1, null)");
    ROWS("1 | null | 3", "SELECT * FROM kv");
    ok("UPDATE kv SET w = null WHERE k = 1");
    ROWS("1 | null | null", "SELECT * FROM kv");
}
END_TEST

START_TEST(delete_row_and_partition) {
    fill_kcv();
    ok("DELETE FROM t WHERE k = 1 AND c = 2");
    ROWS("1 | 1 | a1\n1 | 3 | a3", "SELECT * FROM t WHERE k = 1");
    ok("DELETE FROM t WHERE k = 1");
    ROWS("", "SELECT * FROM t WHERE k = 1");
    ROWS("2 | 1 | b1\n2 | 2 | b2", "SELECT * FROM t");
    /* a write after the deletion is visible again */
    ok("INSERT INTO t (k, c, v) VALUES (1, 9, 'z')");
    ROWS("1 | 9 | z", "SELECT * FROM t WHERE k = 1");
}
END_TEST

START_TEST(delete_range_of_rows) {
    make_kcv();
    for (int c = 1; c <= 6; c++)
        ok("INSERT INTO t (k, c, v) VALUES (1, %d, 'x')", c);
    ok("DELETE FROM t WHERE k = 1 AND c > 1 AND c <= 3");
    ROWS("1\n4\n5\n6", "SELECT c FROM t WHERE k = 1");
    ok("DELETE FROM t WHERE k = 1 AND c >= 5");
    ROWS("1\n4", "SELECT c FROM t WHERE k = 1");
    /* a column delete needs the whole primary key */
    fails(0x2200, "Slice restrictions",
          "DELETE v FROM t WHERE k = 1 AND c > 1");
}
END_TEST

START_TEST(delete_single_column) {
    fill_kcv();
    ok("DELETE v FROM t WHERE k = 2 AND c = 1");
    ROWS("2 | 1 | null\n2 | 2 | b2", "SELECT * FROM t WHERE k = 2");
}
END_TEST

START_TEST(static_columns) {
    ok("CREATE TABLE st (k int, c int, s text STATIC, v int, PRIMARY KEY (k, "
       "c))");
    ok("INSERT INTO st (k, c, s, v) VALUES (1, 1, 'one', 10)");
    ok("INSERT INTO st (k, c, v) VALUES (1, 2, 20)");
    ROWS("1 | 1 | one | 10\n1 | 2 | one | 20", "SELECT * FROM st WHERE k = 1");
    ok("UPDATE st SET s = 'uno' WHERE k = 1");
    ROWS("uno\nuno", "SELECT s FROM st WHERE k = 1");
    /* a partition with only a static row shows one row of nulls */
    ok("UPDATE st SET s = 'lonely' WHERE k = 2");
    ROWS("2 | null | lonely | null", "SELECT * FROM st WHERE k = 2");
    /* a static column cannot be restricted with the clustering key in an UPDATE
     * of v only */
    fails(0x2200, "clustering", "UPDATE st SET v = 1 WHERE k = 1");
}
END_TEST

START_TEST(set_add_and_remove) {
    ok("CREATE TABLE c (k int PRIMARY KEY, s set<text>)");
    ok("INSERT INTO c (k, s) VALUES (1, {'b', 'a'})");
    ROWS("{'a', 'b'}", "SELECT s FROM c WHERE k = 1");
    ok("UPDATE c SET s = s + {'c', 'a'} WHERE k = 1");
    ROWS("{'a', 'b', 'c'}", "SELECT s FROM c WHERE k = 1");
    ok("UPDATE c SET s = s - {'b'} WHERE k = 1");
    ROWS("{'a', 'c'}", "SELECT s FROM c WHERE k = 1");
    ok("UPDATE c SET s = {'z'} WHERE k = 1"); /* overwrite */
    ROWS("{'z'}", "SELECT s FROM c WHERE k = 1");
    ok("UPDATE c SET s = s - {'z'} WHERE k = 1");
    ROWS("null", "SELECT s FROM c WHERE k = 1");
}
END_TEST

START_TEST(list_append_prepend_index) {
    ok("CREATE TABLE c (k int PRIMARY KEY, l list<int>)");
    ok("INSERT INTO c (k, l) VALUES (1, [2, 3])");
    ok("UPDATE c SET l = l + [4] WHERE k = 1");
    ok("UPDATE c SET l = [1] + l WHERE k = 1");
    ROWS("[1, 2, 3, 4]", "SELECT l FROM c WHERE k = 1");
    ok("UPDATE c SET l[1] = 20 WHERE k = 1");
    ROWS("[1, 20, 3, 4]", "SELECT l FROM c WHERE k = 1");
    ok("DELETE l[0] FROM c WHERE k = 1");
    ROWS("[20, 3, 4]", "SELECT l FROM c WHERE k = 1");
    ok("UPDATE c SET l = l - [3] WHERE k = 1");
    ROWS("[20, 4]", "SELECT l FROM c WHERE k = 1");
    fails(0x2200, "out of bound", "UPDATE c SET l[7] = 1 WHERE k = 1");
}
END_TEST

START_TEST(map_put_and_remove) {
    ok("CREATE TABLE c (k int PRIMARY KEY, m map<text, int>)");
    ok("INSERT INTO c (k, m) VALUES (1, {'a': 1, 'b': 2})");
    ok("UPDATE c SET m['c'] = 3 WHERE k = 1");
    ok("UPDATE c SET m = m + {'a': 10} WHERE k = 1");
    ROWS("{'a': 10, 'b': 2, 'c': 3}", "SELECT m FROM c WHERE k = 1");
    ok("DELETE m['b'] FROM c WHERE k = 1");
    ok("UPDATE c SET m = m - {'c'} WHERE k = 1");
    ROWS("{'a': 10}", "SELECT m FROM c WHERE k = 1");
    ok("DELETE m FROM c WHERE k = 1");
    ROWS("null", "SELECT m FROM c WHERE k = 1");
}
END_TEST

START_TEST(ttl_expires_and_is_reported) {
    ok("CREATE TABLE kv (k int PRIMARY KEY, v text, w text)");
    ok("INSERT INTO kv (k, v) VALUES (1, 'short') USING TTL 10");
    ok("UPDATE kv USING TTL 100 SET w = 'long' WHERE k = 1");
    ROWS("10 | 100", "SELECT ttl(v), ttl(w) FROM kv WHERE k = 1");
    bs_fake_advance(H.f, 4);
    ROWS("6 | 96", "SELECT ttl(v), ttl(w) FROM kv WHERE k = 1");
    bs_fake_advance(H.f, 7);
    /* v and the INSERT's row marker expired; w keeps the row */
    ROWS("1 | null | long", "SELECT * FROM kv WHERE k = 1");
    bs_fake_advance(H.f, 100);
    ROWS("", "SELECT * FROM kv WHERE k = 1");
    fails(0x2200, "TTL", "INSERT INTO kv (k, v) VALUES (2, 'x') USING TTL -1");
}
END_TEST

START_TEST(default_time_to_live) {
    ok("CREATE TABLE kv (k int PRIMARY KEY, v text) WITH default_time_to_live "
       "= 50");
    ok("INSERT INTO kv (k, v) VALUES (1, 'a')");
    ROWS("50", "SELECT ttl(v) FROM kv WHERE k = 1");
    bs_fake_advance(H.f, 51);
    ROWS("", "SELECT * FROM kv");
}
END_TEST

START_TEST(using_timestamp_last_write_wins) {
    ok("CREATE TABLE kv (k int PRIMARY KEY, v text)");
    ok("INSERT INTO kv (k, v) VALUES (1, 'new') USING TIMESTAMP 2000");
    ok("INSERT INTO kv (k, v) VALUES (1, 'old') USING TIMESTAMP 1000");
    ROWS("new | 2000", "SELECT v, writetime(v) FROM kv WHERE k = 1");
    /* a deletion older than the cell does not shadow it */
    ok("DELETE FROM kv USING TIMESTAMP 1500 WHERE k = 1");
    ROWS("new", "SELECT v FROM kv WHERE k = 1");
    ok("DELETE FROM kv USING TIMESTAMP 2000 WHERE k = 1"); /* tie: tombstone
                                                              wins */
    ROWS("", "SELECT v FROM kv WHERE k = 1");
}
END_TEST

START_TEST(protocol_default_timestamp) {
    ok("CREATE TABLE kv (k int PRIMARY KEY, v text)");
    bs_xq q = {0};
    q.timestamp = 777;
    const bs_xres *r =
        bs_xh_query(&H, "INSERT INTO kv (k, v) VALUES (1, 'a')", &q);
    ck_assert_int_eq(r->err, ERR_NONE);
    ROWS("777", "SELECT writetime(v) FROM kv WHERE k = 1");
    /* without one, the backend's clock */
    char want[32];
    snprintf(want, sizeof want, "%lld", (long long)bs_fake_now(H.f));
    ok("INSERT INTO kv (k, v) VALUES (2, 'b')");
    ROWS(want, "SELECT writetime(v) FROM kv WHERE k = 2");
}
END_TEST

START_TEST(lightweight_transactions_refused) {
    ok("CREATE TABLE kv (k int PRIMARY KEY, v text)");
    size_t w = bs_fake_stats_get(H.f)->writes;
    fails(0x2200, "not supported",
          "INSERT INTO kv (k, v) VALUES (1, 'a') IF NOT EXISTS");
    fails(0x2200, "not supported",
          "UPDATE kv SET v = 'b' WHERE k = 1 IF v = 'a'");
    fails(0x2200, "not supported", "DELETE FROM kv WHERE k = 1 IF EXISTS");
    ck_assert_uint_eq(bs_fake_stats_get(H.f)->writes, w);
}
END_TEST

/* ---- WHERE --------------------------------------------------------------- */

START_TEST(in_on_partition_and_clustering) {
    fill_kcv();
    ROWS("1 | 2 | a2\n2 | 2 | b2",
         "SELECT * FROM t WHERE k IN (1, 2) AND c = 2");
    ROWS("1 | 1\n1 | 3", "SELECT k, c FROM t WHERE k = 1 AND c IN (3, 1)");
    ROWS("", "SELECT * FROM t WHERE k IN (7, 8)");
}
END_TEST

START_TEST(clustering_slices) {
    make_kcv();
    for (int c = 1; c <= 5; c++)
        ok("INSERT INTO t (k, c, v) VALUES (1, %d, 'x')", c);
    ROWS("3\n4\n5", "SELECT c FROM t WHERE k = 1 AND c > 2");
    ROWS("2\n3\n4\n5", "SELECT c FROM t WHERE k = 1 AND c >= 2");
    ROWS("1\n2", "SELECT c FROM t WHERE k = 1 AND c < 3");
    ROWS("2\n3", "SELECT c FROM t WHERE k = 1 AND c >= 2 AND c <= 3");
    ROWS("", "SELECT c FROM t WHERE k = 1 AND c > 3 AND c < 4");
}
END_TEST

START_TEST(multi_column_clustering_prefix) {
    ok("CREATE TABLE t2 (k int, a int, b int, v int, PRIMARY KEY (k, a, b))");
    for (int a = 1; a <= 2; a++)
        for (int b = 1; b <= 3; b++)
            ok("INSERT INTO t2 (k, a, b, v) VALUES (0, %d, %d, %d)", a, b,
               a * 10 + b);
    ROWS("21\n22\n23", "SELECT v FROM t2 WHERE k = 0 AND a = 2");
    ROWS("12\n13", "SELECT v FROM t2 WHERE k = 0 AND a = 1 AND b > 1");
    /* skipping a clustering column is filtering (Cassandra 3.0+) */
    fails(0x2200, "ALLOW FILTERING", "SELECT v FROM t2 WHERE k = 0 AND b = 1");
    ROWS("11\n21", "SELECT v FROM t2 WHERE k = 0 AND b = 1 ALLOW FILTERING");
    /* ...but an UPDATE needs every clustering column */
    fails(0x2200, "Some clustering keys are missing: b",
          "UPDATE t2 SET v = 1 WHERE k = 0 AND a = 1");
}
END_TEST

START_TEST(filtering_needs_allow_filtering) {
    fill_kcv();
    fails(0x2200, "ALLOW FILTERING", "SELECT * FROM t WHERE v = 'a1'");
    fails(0x2200, "ALLOW FILTERING", "SELECT * FROM t WHERE c = 1");
    ROWS("1 | 1 | a1", "SELECT * FROM t WHERE v = 'a1' ALLOW FILTERING");
    ROWS("1 | 1 | a1\n2 | 1 | b1",
         "SELECT * FROM t WHERE c = 1 ALLOW FILTERING");
}
END_TEST

START_TEST(token_restrictions) {
    ok("CREATE TABLE kv (k int PRIMARY KEY, v int)");
    for (int k = 0; k < 10; k++)
        ok("INSERT INTO kv (k, v) VALUES (%d, %d)", k, k);
    /* every row comes back once over two complementary token ranges */
    const bs_xres *r = ok("SELECT k FROM kv WHERE token(k) <= 0");
    int32_t lo = r->nrows;
    r = ok("SELECT k FROM kv WHERE token(k) > 0");
    ck_assert_int_eq(lo + r->nrows, 10);
    /* the first row of a full scan has the smallest token; > it skips it */
    r = ok("SELECT token(k) FROM kv LIMIT 1");
    char first[32];
    snprintf(first, sizeof first, "%s", r->text);
    r = ok("SELECT token(k) FROM kv WHERE token(k) > %s", first);
    ck_assert_int_eq(r->nrows, 9);
    ck_assert_ptr_null(strstr(r->text, first));
    r = ok("SELECT token(k) FROM kv WHERE token(k) >= %s AND token(k) <= %s",
           first, first);
    ck_assert_str_eq(r->text, first);
    fails(0x2200, "", "SELECT k FROM kv WHERE token(v) > 0");
    /* token() of the partition key matches the Murmur3 partitioner */
    ROWS("-4069959284402364209", "SELECT token(k) FROM kv WHERE k = 1");
}
END_TEST

START_TEST(order_by) {
    fill_kcv();
    ROWS("3\n2\n1", "SELECT c FROM t WHERE k = 1 ORDER BY c DESC");
    ROWS("1\n2\n3", "SELECT c FROM t WHERE k = 1 ORDER BY c ASC");
    ROWS("3\n2", "SELECT c FROM t WHERE k = 1 ORDER BY c DESC LIMIT 2");
    fails(0x2200, "ORDER BY", "SELECT c FROM t ORDER BY c DESC");
    fails(0x2200,
          "Order by is currently only supported on the clustered columns",
          "SELECT c FROM t WHERE k = 1 ORDER BY v");
}
END_TEST

START_TEST(clustering_order_desc_table) {
    ok("CREATE TABLE d (k int, c int, PRIMARY KEY (k, c)) WITH CLUSTERING "
       "ORDER BY (c DESC)");
    for (int c = 1; c <= 3; c++)
        ok("INSERT INTO d (k, c) VALUES (0, %d)", c);
    ROWS("3\n2\n1", "SELECT c FROM d WHERE k = 0");
    ROWS("1\n2\n3", "SELECT c FROM d WHERE k = 0 ORDER BY c ASC");
    ROWS("2\n1", "SELECT c FROM d WHERE k = 0 AND c < 3");
}
END_TEST

START_TEST(limit_and_per_partition_limit) {
    fill_kcv();
    ROWS("1 | 1\n1 | 2", "SELECT k, c FROM t WHERE k = 1 LIMIT 2");
    const bs_xres *r = ok("SELECT k, c FROM t LIMIT 4");
    ck_assert_int_eq(r->nrows, 4);
    r = ok("SELECT k, c FROM t PER PARTITION LIMIT 1");
    ck_assert_int_eq(r->nrows, 2);
    ck_assert_ptr_nonnull(strstr(r->text, "1 | 1"));
    ck_assert_ptr_nonnull(strstr(r->text, "2 | 1"));
    r = ok("SELECT k, c FROM t PER PARTITION LIMIT 2 LIMIT 3");
    ck_assert_int_eq(r->nrows, 3);
    fails(0x2200, "LIMIT must be", "SELECT * FROM t LIMIT 0");
}
END_TEST

START_TEST(select_distinct_and_count) {
    fill_kcv();
    const bs_xres *r = ok("SELECT DISTINCT k FROM t");
    ck_assert_int_eq(r->nrows, 2);
    ROWS("5", "SELECT count(*) FROM t");
    ROWS("3", "SELECT count(*) FROM t WHERE k = 1");
    ROWS("1 | 3", "SELECT min(c), max(c) FROM t WHERE k = 1");
}
END_TEST

/* ---- native scalar functions, functions beside aggregates, GROUP BY ---- */

/* One row whose values the functions convert; expected values computed
 * independently (timeuuid 50554d6e-29bb-11e5-... is 1436832018805 ms,
 * 2015-07-14 00:00:18.805 UTC; 2015-07-16 is 1437004800000 ms). */
static void make_fn_row(void) {
    ok("CREATE TABLE f (k int PRIMARY KEY, tu timeuuid, ts timestamp, d date, b blob, "
       "t text, i int, dbl double, bi bigint)");
    ok("INSERT INTO f (k, tu, ts, d, b, t, i, dbl, bi) VALUES (1, "
       "50554d6e-29bb-11e5-b345-feff819cdc9f, '2015-07-16 00:00:00+0000', '2015-07-16', "
       "0x68656c6c6f, 'hello', 42, 3.75, 1234567890123)");
}

START_TEST(time_functions) {
    make_fn_row();
    ROWS("1436832018805 | 1436832018805 | 1437004800000 | 1437004800000",
         "SELECT toUnixTimestamp(tu), unixTimestampOf(tu), toUnixTimestamp(ts), "
         "toUnixTimestamp(d) FROM f WHERE k = 1");
    ROWS("2015-07-14 00:00:18.805000+0000 | 2015-07-14 00:00:18.805000+0000 | "
         "2015-07-16 00:00:00.000000+0000",
         "SELECT toTimestamp(tu), dateOf(tu), toTimestamp(d) FROM f WHERE k = 1");
    ROWS("2015-07-14 | 2015-07-16 | 2015-07-16",
         "SELECT toDate(tu), toDate(ts), toDate(d) FROM f WHERE k = 1");
    /* minTimeuuid/maxTimeuuid of ts bracket a timeuuid of that ms */
    const bs_xres *r = ok("SELECT toUnixTimestamp(minTimeuuid(ts)), "
                          "toUnixTimestamp(maxTimeuuid(ts)) FROM f WHERE k = 1");
    ck_assert_str_eq(r->text, "1437004800000 | 1437004800000");
    r = ok("SELECT toTimestamp(now()), currentTimestamp(), currentDate(), currentTime(), "
           "currentTimeUUID() FROM f WHERE k = 1");
    ck_assert_int_eq(r->nrows, 1);
    ck_assert_str_eq(r->colnames, "system.totimestamp(system.now()),system.currenttimestamp(),"
                                  "system.currentdate(),system.currenttime(),"
                                  "system.currenttimeuuid()");
    fails(0x2200, "cannot be passed", "SELECT toDate(i) FROM f WHERE k = 1");
    fails(0x2200, "cannot be passed", "SELECT dateOf(ts) FROM f WHERE k = 1");
    fails(0x2200, "1 required", "SELECT toDate(ts, d) FROM f WHERE k = 1");
}
END_TEST

START_TEST(blob_conversion_functions) {
    make_fn_row();
    ROWS("hello | 0x68656c6c6f | 0x0000002a | 0x0000011f71fb04cb",
         "SELECT blobAsText(b), textAsBlob(t), intAsBlob(i), bigintAsBlob(bi) FROM f WHERE k = 1");
    ROWS("42 | 1234567890123", "SELECT blobAsInt(intAsBlob(i)), "
         "blobAsBigint(bigintAsBlob(bi)) FROM f WHERE k = 1");
    fails(0x2200, "not a valid binary", "SELECT blobAsInt(b) FROM f WHERE k = 1");
    fails(0x2200, "cannot be passed", "SELECT intAsBlob(t) FROM f WHERE k = 1");
    fails(0x2200, "cannot be passed", "SELECT blobAsText(t) FROM f WHERE k = 1");
}
END_TEST

START_TEST(cast_function) {
    make_fn_row();
    /* the harness renders a double without a trailing .0 */
    ROWS("42 | 42 | 3 | 3.75 | 42", "SELECT cast(i as text), cast(i as double), "
         "cast(dbl as int), cast(dbl as text), cast(i as bigint) FROM f WHERE k = 1");
    ROWS("2015-07-14 00:00:18.805000+0000 | 2015-07-14",
         "SELECT cast(tu as timestamp), cast(tu as date) FROM f WHERE k = 1");
    const bs_xres *r = ok("SELECT cast(i as bigint) FROM f WHERE k = 1");
    ck_assert_str_eq(r->colnames, "cast(i as bigint)");
    fails(0x2200, "cannot be cast", "SELECT cast(t as int) FROM f WHERE k = 1");
}
END_TEST

/* finding 5: a scalar function beside an aggregate is evaluated on the
 * first row, not null */
START_TEST(functions_beside_aggregates) {
    fill_kcv();
    ROWS("1 | 3", "SELECT CAST(k AS text), count(*) FROM t WHERE k = 1");
    ROWS("a1 | 0x6131 | 3 | 3", "SELECT v, textAsBlob(v), max(c), count(*) FROM t WHERE k = 1");
    ROWS("1 | 5", "SELECT k, count(*) FROM t WHERE k IN (1, 2)");
}
END_TEST

START_TEST(group_by) {
    ok("CREATE TABLE g (k int, c1 int, c2 int, v int, PRIMARY KEY (k, c1, c2))");
    for (int k = 1; k <= 2; k++)
        for (int c1 = 1; c1 <= 2; c1++)
            for (int c2 = 1; c2 <= 3; c2++)
                ok("INSERT INTO g (k, c1, c2, v) VALUES (%d, %d, %d, %d)", k, c1, c2, k * 100 + c1 * 10 + c2);
    ROWS("1 | 6 | 111 | 123\n2 | 6 | 211 | 223",
         "SELECT k, count(*), min(v), max(v) FROM g GROUP BY k");
    ROWS("1 | 1 | 3 | 336\n1 | 2 | 3 | 366",
         "SELECT k, c1, count(*), sum(v) FROM g WHERE k = 1 GROUP BY k, c1");
    ROWS("1 | 1 | 3\n1 | 2 | 3\n2 | 1 | 3\n2 | 2 | 3",
         "SELECT k, c1, count(*) FROM g GROUP BY k, c1");
    ROWS("1 | 1 | 3\n1 | 2 | 3\n2 | 1 | 3",
         "SELECT k, c1, count(*) FROM g GROUP BY k, c1 LIMIT 3");
    /* without aggregates: the first row of each group */
    ROWS("1 | 1 | 1\n2 | 1 | 1", "SELECT k, c1, c2 FROM g GROUP BY k");
    ROWS("", "SELECT k, count(*) FROM g WHERE k = 9 GROUP BY k");
    fails(0x2200, "declared order", "SELECT count(*) FROM g GROUP BY k, c2");
    fails(0x2200, "declared order", "SELECT count(*) FROM g GROUP BY c1");
    fails(0x2200, "Undefined column", "SELECT count(*) FROM g GROUP BY nope");
}
END_TEST

/* Pages through `cql` with page_size; returns the concatenated rows and
 * the number of pages in *npages. */
static void page_all(const char *cql, int32_t page_size, char *all, size_t alen,
                     int *npages) {
    bs_xq q = {0};
    q.page_size = page_size;
    all[0] = 0;
    *npages = 0;
    bs_xres prev;
    for (;;) {
        const bs_xres *r = bs_xh_query(&H, cql, &q);
        ck_assert_msg(r->err == ERR_NONE, "%s: %s", cql, r->msg);
        ck_assert_int_le(r->nrows, page_size);
        (*npages)++;
        ck_assert_int_lt(*npages, 100);
        if (r->nrows) {
            if (all[0]) strncat(all, "\n", alen - strlen(all) - 1);
            strncat(all, r->text, alen - strlen(all) - 1);
        }
        if (r->paging_state.len < 0) break;
        prev = *r;
        q.resume = &prev;
    }
}

START_TEST(paging_full_scan) {
    fill_kcv();
    char full[1024], paged[1024];
    snprintf(full, sizeof full, "%s", ok("SELECT * FROM t")->text);
    int pages;
    page_all("SELECT * FROM t", 2, paged, sizeof paged, &pages);
    ck_assert_str_eq(paged, full);
    ck_assert_int_ge(pages, 3);
    page_all("SELECT * FROM t", 1, paged, sizeof paged, &pages);
    ck_assert_str_eq(paged, full);
    ck_assert_int_ge(pages, 5);
}
END_TEST

START_TEST(paging_within_partition) {
    make_kcv();
    for (int c = 1; c <= 7; c++)
        ok("INSERT INTO t (k, c, v) VALUES (1, %d, 'x')", c);
    char paged[1024];
    int pages;
    page_all("SELECT c FROM t WHERE k = 1", 3, paged, sizeof paged, &pages);
    ck_assert_str_eq(paged, "1\n2\n3\n4\n5\n6\n7");
    ck_assert_int_ge(pages, 3);
    page_all("SELECT c FROM t WHERE k = 1 ORDER BY c DESC", 3, paged,
             sizeof paged, &pages);
    ck_assert_str_eq(paged, "7\n6\n5\n4\n3\n2\n1");
}
END_TEST

START_TEST(paging_respects_limit) {
    fill_kcv();
    char paged[1024];
    int pages;
    page_all("SELECT k, c FROM t LIMIT 3", 2, paged, sizeof paged, &pages);
    ck_assert_str_eq(paged, ok("SELECT k, c FROM t LIMIT 3")->text);
    ck_assert_int_eq(pages, 2);
    page_all("SELECT c FROM t WHERE k IN (1, 2)", 2, paged, sizeof paged,
             &pages);
    ck_assert_str_eq(paged, "1\n2\n3\n1\n2");
}
END_TEST

START_TEST(paging_state_garbage_is_an_error) {
    fill_kcv();
    bs_xres fake;
    memset(&fake, 0, sizeof fake);
    static const uint8_t junk[] = {0xde, 0xad, 0xbe, 0xef, 1, 2, 3};
    fake.paging_state = bs_proto_bytes(junk, sizeof junk);
    bs_xq q = {0};
    q.page_size = 2;
    q.resume = &fake;
    const bs_xres *r = bs_xh_query(&H, "SELECT * FROM t", &q);
    ck_assert_int_eq(r->opcode, BS_PROTO_OP_ERROR);
    ck_assert_int_eq(r->err, 0x000A); /* PROTOCOL_ERROR, as Cassandra */
}
END_TEST

/* ---- BATCH --------------------------------------------------------------- */

START_TEST(logged_batch_two_tables) {
    make_kcv();
    ok("CREATE TABLE kv (k int PRIMARY KEY, v text)");
    size_t w = bs_fake_stats_get(H.f)->writes;
    const char *st[] = {"INSERT INTO t (k, c, v) VALUES (1, 1, 'x')",
                        "INSERT INTO kv (k, v) VALUES (5, 'y')",
                        "UPDATE t SET v = 'z' WHERE k = 2 AND c = 2"};
    const bs_xres *r = bs_xh_batch(&H, 0, st, 3, BS_CL_QUORUM);
    ck_assert_msg(r->err == ERR_NONE, "%s", r->msg);
    ck_assert_int_eq(r->kind, BS_PROTO_RESULT_VOID);
    const bs_fake_stats *s = bs_fake_stats_get(H.f);
    ck_assert_uint_eq(s->writes, w + 1); /* one backend write for the batch */
    ck_assert_int_eq(s->last_logged, 1);
    ck_assert_uint_eq(s->last_cl, BS_CL_QUORUM);
    ck_assert_uint_eq(s->distinct_tables_last_write, 2);
    ROWS("1 | 1 | x\n2 | 2 | z", "SELECT * FROM t");
    ROWS("5 | y", "SELECT * FROM kv");
}
END_TEST

START_TEST(unlogged_batch_and_timestamps) {
    make_kcv();
    const char *st[] = {"INSERT INTO t (k, c, v) VALUES (1, 1, 'x')",
                        "INSERT INTO t (k, c, v) VALUES (1, 2, 'y')"};
    const bs_xres *r = bs_xh_batch(&H, 1, st, 2, 0);
    ck_assert_msg(r->err == ERR_NONE, "%s", r->msg);
    ck_assert_int_eq(bs_fake_stats_get(H.f)->last_logged, 0);
    ROWS("x\ny", "SELECT v FROM t WHERE k = 1");
    /* BEGIN BATCH in CQL text, with a batch timestamp */
    ok("BEGIN BATCH USING TIMESTAMP 42 INSERT INTO t (k, c, v) VALUES (3, 1, "
       "'p'); "
       "UPDATE t SET v = 'q' WHERE k = 3 AND c = 2; APPLY BATCH");
    ROWS("42\n42", "SELECT writetime(v) FROM t WHERE k = 3");
    fails(0x2200, "Timestamp must be set either on BATCH",
          "BEGIN BATCH USING TIMESTAMP 1 INSERT INTO t (k, c, v) VALUES (4, 1, "
          "'p') "
          "USING TIMESTAMP 2; APPLY BATCH");
}
END_TEST

START_TEST(batch_with_bad_statement_writes_nothing) {
    make_kcv();
    size_t w = bs_fake_stats_get(H.f)->writes;
    const char *st[] = {"INSERT INTO t (k, c, v) VALUES (1, 1, 'x')",
                        "INSERT INTO t (k, c, nope) VALUES (1, 2, 'y')"};
    const bs_xres *r = bs_xh_batch(&H, 0, st, 2, 0);
    ck_assert_int_eq(r->err, 0x2200);
    ck_assert_ptr_nonnull(strstr(r->msg, "nope"));
    ck_assert_uint_eq(bs_fake_stats_get(H.f)->writes, w);
    ROWS("", "SELECT * FROM t");
    const char *sel[] = {"SELECT * FROM t"};
    r = bs_xh_batch(&H, 0, sel, 1, 0);
    ck_assert_int_eq(r->opcode, BS_PROTO_OP_ERROR);
}
END_TEST

/* ---- DDL ----------------------------------------------------------------- */

START_TEST(create_keyspace_twice) {
    const bs_xres *r =
        bs_xh_query(&H,
                    "CREATE KEYSPACE ks WITH replication = {'class': "
                    "'SimpleStrategy', 'replication_factor': 1}",
                    NULL);
    ck_assert_int_eq(r->err, 0x2400);
    ck_assert_int_eq((int)r->error.keyspace.len, 2);
    ck_assert_int_eq(memcmp(r->error.keyspace.p, "ks", 2), 0);
    ck_assert_int_eq((int)r->error.name.len, 0);
    ok("CREATE KEYSPACE IF NOT EXISTS ks WITH replication = {'class': "
       "'SimpleStrategy', "
       "'replication_factor': 1}");
    fails(0x2300, "replication",
          "CREATE KEYSPACE k2 WITH replication = {'class': 'NoSuchStrategy'}");
}
END_TEST

START_TEST(create_table_twice) {
    make_kcv();
    const bs_xres *r =
        bs_xh_query(&H, "CREATE TABLE t (k int PRIMARY KEY)", NULL);
    ck_assert_int_eq(r->err, 0x2400);
    ck_assert_int_eq((int)r->error.name.len, 1);
    ck_assert_int_eq(r->error.name.p[0], 't');
    ok("CREATE TABLE IF NOT EXISTS t (k int PRIMARY KEY)");
    /* the original definition stays */
    ROWS("", "SELECT k, c, v FROM t");
}
END_TEST

START_TEST(schema_change_results) {
    const bs_xres *r = ok("CREATE TABLE kv (k int PRIMARY KEY, v int)");
    ck_assert_int_eq(r->kind, BS_PROTO_RESULT_SCHEMA_CHANGE);
    const bs_proto_schema_change *sc = &r->result.u.schema_change;
    ck_assert(bs_proto_str_eq(sc->change_type, "CREATED"));
    ck_assert(bs_proto_str_eq(sc->target, "TABLE"));
    ck_assert(bs_proto_str_eq(sc->keyspace, "ks"));
    ck_assert(bs_proto_str_eq(sc->name, "kv"));
    r = ok("ALTER TABLE kv ADD w text");
    ck_assert(
        bs_proto_str_eq(r->result.u.schema_change.change_type, "UPDATED"));
    r = ok("DROP TABLE kv");
    ck_assert(
        bs_proto_str_eq(r->result.u.schema_change.change_type, "DROPPED"));
    ck_assert_uint_eq(bs_fake_stats_get(H.f)->schema_applies,
                      4); /* + CREATE KEYSPACE */
}
END_TEST

START_TEST(alter_table_add_and_drop_column) {
    ok("CREATE TABLE kv (k int PRIMARY KEY, v int)");
    ok("INSERT INTO kv (k, v) VALUES (1, 1)");
    ok("ALTER TABLE kv ADD w text");
    ROWS("1 | 1 | null", "SELECT k, v, w FROM kv");
    ok("UPDATE kv SET w = 'x' WHERE k = 1");
    ok("ALTER TABLE kv DROP v");
    const bs_xres *r = ok("SELECT * FROM kv");
    ck_assert_str_eq(r->colnames, "k,w");
    ck_assert_str_eq(r->text, "1 | x");
    fails(0x2200, "Undefined column name v", "SELECT v FROM kv");
    /* re-adding a dropped column does not bring back its old cells */
    ok("ALTER TABLE kv ADD v int");
    ROWS("1 | null", "SELECT k, v FROM kv");
    fails(0x2200, "", "ALTER TABLE kv ADD w int");
    fails(0x2200, "", "ALTER TABLE kv DROP k");
}
END_TEST

START_TEST(drop_table_and_keyspace) {
    fill_kcv();
    ok("DROP TABLE t");
    fails(0x2200, "t", "SELECT * FROM t");
    fails(0x2200, "", "DROP TABLE t");
    ok("DROP TABLE IF EXISTS t");
    /* a new table of the same name starts empty */
    make_kcv();
    ROWS("", "SELECT * FROM t");
    ok("DROP KEYSPACE ks");
    fails(0x2200, "ks", "SELECT * FROM ks.t");
    fails(0x2200, "ks", "USE ks");
    fails(0x2200, "", "DROP KEYSPACE ks");
    ok("DROP KEYSPACE IF EXISTS ks");
}
END_TEST

START_TEST(truncate_table) {
    fill_kcv();
    const bs_xres *r = ok("TRUNCATE t");
    ck_assert_int_eq(r->kind, BS_PROTO_RESULT_VOID);
    ck_assert_uint_eq(bs_fake_stats_get(H.f)->truncates, 1);
    ROWS("", "SELECT * FROM t");
    fails(0x2200, "", "TRUNCATE nosuch");
}
END_TEST

START_TEST(create_table_errors) {
    fails(0x2200, "", "CREATE TABLE bad (k int, v int)"); /* no primary key */
    fails(0x2200, "", "CREATE TABLE bad (k int PRIMARY KEY, k text)");
    fails(0x2200, "", "CREATE TABLE bad (k int PRIMARY KEY, s int STATIC)");
    fails(0x2200, "", "CREATE TABLE bad (k list<int> PRIMARY KEY)");
    fails(0x2200, "Keyspace 'nosuch' doesn't exist",
          "CREATE TABLE nosuch.bad (k int PRIMARY KEY)");
    fails(0x2000, "", "CREATE TABLE bad (k int PRIMARY KEY");
}
END_TEST

START_TEST(system_keyspaces_are_read_only) {
    fails(0x2200, "", "DROP KEYSPACE system");
    fails(0x2100, "", "INSERT INTO system.local (key) VALUES ('x')");
}
END_TEST

/* ---- errors -------------------------------------------------------------- */

START_TEST(unknown_names) {
    make_kcv();
    fails(0x2200, "nosuch", "SELECT * FROM nosuch.t");
    fails(0x2200, "unconfigured table", "SELECT * FROM nope");
    fails(0x2200, "Undefined column name zz", "SELECT zz FROM t WHERE k = 1");
    fails(0x2200, "zz", "INSERT INTO t (k, c, zz) VALUES (1, 1, 1)");
    fails(0x2200, "zz", "UPDATE t SET zz = 1 WHERE k = 1 AND c = 1");
    fails(0x2200, "zz", "SELECT * FROM t WHERE zz = 1 ALLOW FILTERING");
}
END_TEST

START_TEST(no_keyspace_in_session) {
    bs_xh_destroy(&H);
    ck_assert_int_eq(bs_xh_init(&H), 0);
    fails(0x2200, "No keyspace has been specified", "SELECT * FROM t");
    fails(0x2200, "", "USE nosuch");
}
END_TEST

START_TEST(type_mismatch) {
    make_kcv();
    fails(0x2200, "", "INSERT INTO t (k, c, v) VALUES ('one', 1, 'a')");
    fails(0x2200, "", "INSERT INTO t (k, c, v) VALUES (1, 1, 5)");
    fails(0x2200, "", "SELECT * FROM t WHERE k = 'x'");
    fails(0x2200, "",
          "INSERT INTO t (k, c, v) VALUES (1, 1)"); /* counts differ */
}
END_TEST

START_TEST(missing_key_parts) {
    make_kcv();
    fails(0x2200, "Some partition key parts are missing: k",
          "INSERT INTO t (c, v) VALUES (1, 'a')");
    fails(0x2200, "Some clustering keys are missing: c",
          "INSERT INTO t (k, v) VALUES (1, 'a')");
    fails(0x2200, "Some partition key parts are missing",
          "UPDATE t SET v = 'a' WHERE c = 1");
    fails(0x2200, "Some clustering keys are missing: c",
          "UPDATE t SET v = 'a' WHERE k = 1");
    fails(0x2200, "PRIMARY KEY part c found in SET part",
          "UPDATE t SET c = 2 WHERE k = 1 AND c = 1");
    ck_assert_uint_eq(bs_fake_stats_get(H.f)->writes, 0);
}
END_TEST

START_TEST(syntax_errors) {
    fails(0x2000, "", "SELEKT * FROM t");
    fails(0x2000, "", "SELECT * FROM");
    fails(0x2000, "", "INSERT INTO t (k) VALUES (1");
    fails(0x2000, "", "%s", "");
}
END_TEST

START_TEST(backend_write_timeout_propagates) {
    ok("CREATE TABLE kv (k int PRIMARY KEY, v int)");
    bs_exec_err e;
    memset(&e, 0, sizeof e);
    e.code = BS_PROTO_ERR_WRITE_TIMEOUT;
    snprintf(e.msg, sizeof e.msg,
             "Operation timed out - received only 1 responses.");
    e.cl = BS_CL_QUORUM;
    e.received = 1;
    e.blockfor = 2;
    e.write_type = "SIMPLE";
    bs_fake_fail(H.f, BS_FAKE_WRITE, &e);
    bs_xq q = {0};
    q.cl = BS_CL_QUORUM;
    const bs_xres *r =
        bs_xh_query(&H, "INSERT INTO kv (k, v) VALUES (1, 1)", &q);
    ck_assert_int_eq(r->err, 0x1100);
    ck_assert_int_eq(r->error.received, 1);
    ck_assert_int_eq(r->error.blockfor, 2);
    ck_assert_uint_eq(r->error.cl, BS_CL_QUORUM);
    ck_assert(bs_proto_str_eq(r->error.write_type, "SIMPLE"));
    ck_assert_ptr_nonnull(strstr(r->msg, "timed out"));
    ROWS("", "SELECT * FROM kv"); /* the fake dropped the write */
}
END_TEST

START_TEST(backend_read_errors_propagate) {
    fill_kcv();
    bs_exec_err e;
    memset(&e, 0, sizeof e);
    e.code = BS_PROTO_ERR_UNAVAILABLE;
    snprintf(e.msg, sizeof e.msg, "Cannot achieve consistency level ALL");
    e.cl = BS_CL_ALL;
    e.required = 3;
    e.alive = 1;
    bs_fake_fail(H.f, BS_FAKE_READ, &e);
    const bs_xres *r = bs_xh_query(&H, "SELECT * FROM t WHERE k = 1", NULL);
    ck_assert_int_eq(r->err, 0x1000);
    ck_assert_int_eq(r->error.required, 3);
    ck_assert_int_eq(r->error.alive, 1);
    e.code = BS_PROTO_ERR_READ_TIMEOUT;
    e.received = 0;
    e.blockfor = 1;
    e.data_present = 0;
    bs_fake_fail(H.f, BS_FAKE_SCAN, &e);
    r = bs_xh_query(&H, "SELECT * FROM t", NULL);
    ck_assert_int_eq(r->err, 0x1200);
    ck_assert_int_eq(r->error.blockfor, 1);
    /* and the next read works again */
    ROWS("3", "SELECT count(*) FROM t WHERE k = 1");
}
END_TEST

START_TEST(consistency_reaches_backend) {
    fill_kcv();
    bs_xq q = {0};
    q.cl = BS_CL_LOCAL_QUORUM;
    const bs_xres *r = bs_xh_query(&H, "SELECT * FROM t WHERE k = 1", &q);
    ck_assert_int_eq(r->err, ERR_NONE);
    ck_assert_uint_eq(bs_fake_stats_get(H.f)->last_cl, BS_CL_LOCAL_QUORUM);
    q.cl = BS_CL_TWO;
    r = bs_xh_query(&H, "INSERT INTO t (k, c, v) VALUES (9, 9, 'n')", &q);
    ck_assert_int_eq(r->err, ERR_NONE);
    ck_assert_uint_eq(bs_fake_stats_get(H.f)->last_cl, BS_CL_TWO);
}
END_TEST

/* ---- prepared statements ------------------------------------------------- */

/* Prepares cql; its id into id (64 bytes), the id's length returned. */
static size_t prep(const char *cql, uint8_t *id) {
    const bs_xres *r = bs_xh_prepare(&H, cql);
    ck_assert_msg(r->kind == BS_PROTO_RESULT_PREPARED, "%s: %s", cql, r->msg);
    size_t n = (size_t)r->result.u.prepared.id.len;
    ck_assert_uint_le(n, 64);
    memcpy(id, r->result.u.prepared.id.p, n);
    return n;
}

START_TEST(prepared_cache_evicts_least_recently_used) {
    make_kcv();
    bs_exec_limits lim;
    bs_exec_limits_default(&lim);
    lim.prepared_cache_bytes = 32 * 1024;
    bs_exec_set_limits(H.x, &lim);
    uint8_t hot[64], cold[64], id[64];
    size_t hl = prep("SELECT v FROM t WHERE k = ? LIMIT 1", hot);
    size_t cl = prep("SELECT v FROM t WHERE k = ? LIMIT 2", cold);
    uint8_t k[4] = {0, 0, 0, 7};
    bs_proto_val v = bs_proto_bytes(k, 4);
    bs_xq q = {0};
    q.values = &v;
    q.nvalues = 1;
    char cql[128];
    for (int i = 0; i < 200; i++) {
        snprintf(cql, sizeof cql, "SELECT v FROM t WHERE k = ? LIMIT %d", i + 10);
        prep(cql, id);
        /* the hot one is used all along: never the least recently used */
        ck_assert_int_eq(bs_xh_execute(&H, hot, hl, &q)->err, ERR_NONE);
    }
    bs_exec_stats st;
    bs_exec_stats_get(H.x, &st);
    ck_assert_uint_le(st.prepared_bytes, lim.prepared_cache_bytes);
    ck_assert_uint_lt(st.prepared, 202);
    ck_assert_uint_eq(st.prepared + st.evicted, 202);
    ck_assert_int_eq(bs_xh_execute(&H, hot, hl, &q)->err, ERR_NONE);
    /* the cold one was dropped: UNPREPARED (the driver prepares again) */
    ck_assert_int_eq(bs_xh_execute(&H, cold, cl, &q)->err, 0x2500);
    ck_assert_uint_eq(prep("SELECT v FROM t WHERE k = ? LIMIT 2", id), cl);
    ck_assert_int_eq(memcmp(id, cold, cl), 0);
    ck_assert_int_eq(bs_xh_execute(&H, cold, cl, &q)->err, ERR_NONE);
    bs_exec_stats_get(H.x, &st);
    ck_assert_uint_le(st.prepared_bytes, lim.prepared_cache_bytes);
}
END_TEST

START_TEST(prepare_and_execute) {
    make_kcv();
    const bs_xres *r =
        bs_xh_prepare(&H, "INSERT INTO t (k, c, v) VALUES (?, ?, ?)");
    ck_assert_int_eq(r->kind, BS_PROTO_RESULT_PREPARED);
    ck_assert_uint_eq(r->result.u.prepared.bind.ncols, 3);
    ck_assert_uint_eq(r->result.u.prepared.bind.npk, 1);
    uint8_t id[64];
    size_t idlen = (size_t)r->result.u.prepared.id.len;
    ck_assert_uint_le(idlen, sizeof id);
    memcpy(id, r->result.u.prepared.id.p, idlen);
    uint8_t k[4] = {0, 0, 0, 7}, c[4] = {0, 0, 0, 1};
    bs_proto_val vals[3] = {bs_proto_bytes(k, 4), bs_proto_bytes(c, 4),
                            bs_proto_bytes("hey", 3)};
    bs_xq q = {0};
    q.values = vals;
    q.nvalues = 3;
    r = bs_xh_execute(&H, id, idlen, &q);
    ck_assert_msg(r->err == ERR_NONE, "%s", r->msg);
    ROWS("7 | 1 | hey", "SELECT * FROM t");
    /* unset leaves the column alone, null deletes it */
    vals[2].len = BS_PROTO_UNSET;
    ck_assert_int_eq(bs_xh_execute(&H, id, idlen, &q)->err, ERR_NONE);
    ROWS("hey", "SELECT v FROM t WHERE k = 7 AND c = 1");
    vals[2].len = BS_PROTO_NULL;
    ck_assert_int_eq(bs_xh_execute(&H, id, idlen, &q)->err, ERR_NONE);
    ROWS("null", "SELECT v FROM t WHERE k = 7 AND c = 1");
    /* wrong value count and wrong value size */
    q.nvalues = 2;
    ck_assert_int_eq(bs_xh_execute(&H, id, idlen, &q)->err, 0x2200);
    q.nvalues = 3;
    vals[0].len = 3;
    ck_assert_int_eq(bs_xh_execute(&H, id, idlen, &q)->err, 0x2200);
}
END_TEST

START_TEST(execute_unknown_id_is_unprepared) {
    static const uint8_t id[16] = {1, 2, 3};
    const bs_xres *r = bs_xh_execute(&H, id, sizeof id, NULL);
    ck_assert_int_eq(r->err, 0x2500);
    ck_assert_int_eq(r->error.unprepared_id.len, 16);
    ck_assert_int_eq(memcmp(r->error.unprepared_id.p, id, 16), 0);
}
END_TEST

START_TEST(bind_markers_in_query) {
    fill_kcv();
    uint8_t k[4] = {0, 0, 0, 2};
    bs_proto_val vals[1] = {bs_proto_bytes(k, 4)};
    bs_xq q = {0};
    q.values = vals;
    q.nvalues = 1;
    const bs_xres *r = bs_xh_query(&H, "SELECT c FROM t WHERE k = ?", &q);
    ck_assert_int_eq(r->err, ERR_NONE);
    ck_assert_str_eq(r->text, "1\n2");
    q.nvalues = 0;
    r = bs_xh_query(&H, "SELECT c FROM t WHERE k = ?", &q);
    ck_assert_int_eq(r->err, 0x2200);
}
END_TEST

/* ---- system tables ------------------------------------------------------- */

START_TEST(system_local_from_backend) {
    ROWS("Fake Cluster | datacenter1 | rack1",
         "SELECT cluster_name, data_center, rack FROM system.local");
    ROWS("", "SELECT * FROM system.peers");
    const bs_xres *r = ok("SELECT keyspace_name FROM system_schema.keyspaces");
    ck_assert_ptr_nonnull(strstr(r->text, "ks"));
    r = ok("SELECT table_name FROM system_schema.tables WHERE keyspace_name = "
           "'ks'");
    ck_assert_int_eq(r->nrows, 0);
    make_kcv();
    ROWS("t", "SELECT table_name FROM system_schema.tables WHERE keyspace_name "
              "= 'ks'");
}
END_TEST

/* ---- write guardrails (issue 19, finding 6 and finding 2) ----------------- */

START_TEST(timestamps_too_far_ahead_are_refused) {
    make_kcv();
    int64_t now = bs_fake_now(H.f);
    fails(0x2200, "Invalid timestamp",
          "INSERT INTO t (k, c, v) VALUES (1, 1, 'max') USING TIMESTAMP "
          "9223372036854775807");
    fails(0x2200, "in the future",
          "INSERT INTO t (k, c, v) VALUES (1, 1, 'ahead') USING TIMESTAMP %lld",
          (long long)(now + 2LL * 86400 * 1000000));
    fails(0x2200, "in the future",
          "BEGIN BATCH USING TIMESTAMP %lld INSERT INTO t (k, c, v) VALUES "
          "(1, 1, 'b'); APPLY BATCH",
          (long long)(now + 10LL * 86400 * 1000000));
    fails(0x2200, "in the future",
          "DELETE FROM t USING TIMESTAMP %lld WHERE k = 1",
          (long long)(now + 3LL * 86400 * 1000000));
    /* the driver's client-side timestamp is held to the same rule */
    bs_xq q = {0};
    q.timestamp = now + 5LL * 86400 * 1000000;
    const bs_xres *r =
        bs_xh_query(&H, "INSERT INTO t (k, c, v) VALUES (1, 2, 'c')", &q);
    ck_assert_int_eq(r->err, 0x2200);
    ck_assert_ptr_nonnull(strstr(r->msg, "max_future_timestamp"));
    ROWS("", "SELECT * FROM t");
    /* within the window, and in the past, writes go through */
    ok("INSERT INTO t (k, c, v) VALUES (1, 1, 'soon') USING TIMESTAMP %lld",
       (long long)(now + 3600LL * 1000000));
    ok("INSERT INTO t (k, c, v) VALUES (1, 2, 'old') USING TIMESTAMP 1");
    ROWS("1 | 1 | soon\n1 | 2 | old", "SELECT * FROM t");
    /* 0 switches the window off; the largest timestamp stays refused */
    bs_exec_limits l;
    bs_exec_limits_default(&l);
    l.max_future_timestamp_us = 0;
    bs_exec_set_limits(H.x, &l);
    ok("INSERT INTO t (k, c, v) VALUES (2, 1, 'far') USING TIMESTAMP %lld",
       (long long)(now + 30LL * 86400 * 1000000));
    fails(0x2200, "Invalid timestamp",
          "INSERT INTO t (k, c, v) VALUES (2, 1, 'max') USING TIMESTAMP "
          "9223372036854775807");
}
END_TEST

/* A text BATCH of n INSERTs: into partition k = i % nparts. */
static char *big_batch(int n, int nparts) {
    size_t cap = (size_t)n * 80 + 64;
    char *q = malloc(cap);
    ck_assert_ptr_nonnull(q);
    size_t len = (size_t)snprintf(q, cap, "BEGIN UNLOGGED BATCH\n");
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(q + len, cap - len,
                                "INSERT INTO t (k, c, v) VALUES (%d, %d, "
                                "'xxxxxxxxxxxxxxxx');\n",
                                i % nparts, i);
    snprintf(q + len, cap - len, "APPLY BATCH");
    return q;
}

START_TEST(batch_size_thresholds) {
    make_kcv();
    /* 2000 rows over 10 partitions: about 60 KiB, over the 50 KiB fail
     * threshold */
    char *q = big_batch(2000, 10);
    const bs_xres *r = bs_xh_query(&H, q, NULL);
    ck_assert_int_eq(r->err, 0x2200);
    ck_assert_ptr_nonnull(strstr(r->msg, "Batch too large"));
    ck_assert_uint_eq(bs_fake_stats_get(H.f)->writes, 0);
    free(q);
    /* the same rows in one partition are not limited (as in Cassandra) */
    q = big_batch(2000, 1);
    r = bs_xh_query(&H, q, NULL);
    ck_assert_int_eq(r->err, ERR_NONE);
    free(q);
    r = ok("SELECT count(*) FROM t");
    ck_assert_str_eq(r->text, "2000");
    /* a small multi-partition batch passes */
    q = big_batch(20, 10);
    ck_assert_int_eq(bs_xh_query(&H, q, NULL)->err, ERR_NONE);
    free(q);
    /* 0 = no limit */
    bs_exec_limits l;
    bs_exec_limits_default(&l);
    l.batch_size_fail_bytes = 0;
    bs_exec_set_limits(H.x, &l);
    q = big_batch(2000, 10);
    ck_assert_int_eq(bs_xh_query(&H, q, NULL)->err, ERR_NONE);
    free(q);
}
END_TEST

/* Issue 19, finding 2: each statement of a batch copied a table as long
 * as the batch so far, so memory grew with the square of its length (a
 * 100,000-INSERT batch took the node down).  5,000 statements must stay
 * within a few MiB of arena (they took ~330 MiB). */
START_TEST(batch_memory_is_linear) {
    make_kcv();
    char *q = big_batch(5000, 1);
    const bs_xres *r = bs_xh_query(&H, q, NULL);
    ck_assert_int_eq(r->err, ERR_NONE);
    ck_assert_msg(H.a.total < 32u << 20, "a 5000-statement batch used %zu bytes",
                  H.a.total);
    free(q);
    r = ok("SELECT count(*) FROM t");
    ck_assert_str_eq(r->text, "5000");
}
END_TEST

/* ---- one nesting limit (issue 19, finding 1) ------------------------------ */

static const char *const k_scalars[] = {"int",  "text",   "bigint", "blob",
                                        "uuid", "double", "boolean"};

/* Appends a random column type of exactly `depth` levels (frozen inside
 * collections, as CQL requires) to b. */
static void gen_type(bs_buf *b, int depth, unsigned *seed) {
    if (depth <= 1) {
        bs_buf_append_str(b, k_scalars[rand_r(seed) % 7]);
        return;
    }
    switch (rand_r(seed) % 4) {
    case 0:
        bs_buf_append_str(b, "frozen<list<");
        gen_type(b, depth - 1, seed);
        bs_buf_append_str(b, ">>");
        break;
    case 1:
        bs_buf_append_str(b, "frozen<set<");
        gen_type(b, depth - 1, seed);
        bs_buf_append_str(b, ">>");
        break;
    case 2:
        bs_buf_append_str(b, "frozen<map<int, ");
        gen_type(b, depth - 1, seed);
        bs_buf_append_str(b, ">>");
        break;
    default:
        bs_buf_append_str(b, "tuple<text, ");
        gen_type(b, depth - 1, seed);
        bs_buf_append_str(b, ">");
        break;
    }
}

/* Random column types of 1 to 18 levels: CREATE TABLE accepts exactly
 * those within BS_TYPE_MAX_DEPTH, and every accepted schema survives
 * encode -> decode (what a restart and a schema push do) unchanged.  A
 * CREATE TABLE the parser took but the schema codec refused bricked the
 * node at its next start. */
START_TEST(accepted_types_persist) {
    unsigned seed = 1919;
    bs_exec_backend be;
    bs_fake_backend(H.f, &be);
    for (int i = 0; i < 200; i++) {
        int depth = 1 + (int)(rand_r(&seed) % (BS_TYPE_MAX_DEPTH + 2));
        bs_buf ty = BS_BUF_INIT, q = BS_BUF_INIT;
        gen_type(&ty, depth, &seed);
        bs_buf_append_str(&q, i % 2 ? "CREATE TABLE " : "CREATE TABLE ");
        char name[32];
        snprintf(name, sizeof name, "p%d (k int PRIMARY KEY, v ", i);
        bs_buf_append_str(&q, name);
        bs_buf_append(&q, ty.data, ty.len);
        bs_buf_append_str(&q, ")");
        bs_buf_append(&q, "", 1);
        const bs_xres *r = bs_xh_query(&H, (const char *)q.data, NULL);
        if (depth <= BS_TYPE_MAX_DEPTH) {
            ck_assert_msg(r->err == ERR_NONE, "depth %d refused: %s: %s", depth,
                          (const char *)q.data, r->msg);
        } else {
            ck_assert_msg(r->err == 0x2200, "depth %d accepted: %s", depth,
                          (const char *)q.data);
            ck_assert_ptr_nonnull(strstr(r->msg, "nested too deeply"));
        }
        bs_buf_free(&ty);
        bs_buf_free(&q);
    }
    /* what was accepted round-trips through the schema codec */
    bs_schema *s = be.schema_get(be.ud);
    bs_buf e1 = BS_BUF_INIT, e2 = BS_BUF_INIT;
    ck_assert_int_eq(bs_schema_encode(s, &e1), 0);
    bs_schema *d = NULL;
    char err[256];
    ck_assert_msg(bs_schema_decode(e1.data, e1.len, &d, err, sizeof err) == 0,
                  "decode: %s", err);
    ck_assert_int_eq(bs_schema_encode(d, &e2), 0);
    ck_assert_uint_eq(e1.len, e2.len);
    ck_assert_int_eq(memcmp(e1.data, e2.data, e1.len), 0);
    bs_schema_release(d);
    bs_schema_release(s);
    bs_buf_free(&e1);
    bs_buf_free(&e2);
}
END_TEST

static TCase *tc(const char *name) {
    TCase *t = tcase_create(name);
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_set_timeout(t, 60);
    return t;
}

int main(void) {
    Suite *s = suite_create("exec");
    TCase *w = tc("writes");
    tcase_add_test(w, timestamps_too_far_ahead_are_refused);
    tcase_add_test(w, insert_then_select);
    tcase_add_test(w, insert_is_an_upsert);
    tcase_add_test(w, update_row_has_no_marker);
    tcase_add_test(w, insert_null_deletes_the_cell);
    tcase_add_test(w, delete_row_and_partition);
    tcase_add_test(w, delete_range_of_rows);
    tcase_add_test(w, delete_single_column);
    tcase_add_test(w, static_columns);
    tcase_add_test(w, set_add_and_remove);
    tcase_add_test(w, list_append_prepend_index);
    tcase_add_test(w, map_put_and_remove);
    tcase_add_test(w, ttl_expires_and_is_reported);
    tcase_add_test(w, default_time_to_live);
    tcase_add_test(w, using_timestamp_last_write_wins);
    tcase_add_test(w, protocol_default_timestamp);
    tcase_add_test(w, lightweight_transactions_refused);
    suite_add_tcase(s, w);
    TCase *q = tc("select");
    tcase_add_test(q, in_on_partition_and_clustering);
    tcase_add_test(q, clustering_slices);
    tcase_add_test(q, multi_column_clustering_prefix);
    tcase_add_test(q, filtering_needs_allow_filtering);
    tcase_add_test(q, token_restrictions);
    tcase_add_test(q, order_by);
    tcase_add_test(q, clustering_order_desc_table);
    tcase_add_test(q, limit_and_per_partition_limit);
    tcase_add_test(q, select_distinct_and_count);
    tcase_add_test(q, paging_full_scan);
    tcase_add_test(q, paging_within_partition);
    tcase_add_test(q, paging_respects_limit);
    tcase_add_test(q, paging_state_garbage_is_an_error);
    suite_add_tcase(s, q);
    TCase *b = tc("batch");
    tcase_add_test(b, batch_size_thresholds);
    tcase_add_test(b, batch_memory_is_linear);
    tcase_add_test(b, logged_batch_two_tables);
    tcase_add_test(b, unlogged_batch_and_timestamps);
    tcase_add_test(b, batch_with_bad_statement_writes_nothing);
    suite_add_tcase(s, b);
    TCase *d = tc("ddl");
    tcase_add_test(d, accepted_types_persist);
    tcase_add_test(d, create_keyspace_twice);
    tcase_add_test(d, create_table_twice);
    tcase_add_test(d, schema_change_results);
    tcase_add_test(d, alter_table_add_and_drop_column);
    tcase_add_test(d, drop_table_and_keyspace);
    tcase_add_test(d, truncate_table);
    tcase_add_test(d, create_table_errors);
    tcase_add_test(d, system_keyspaces_are_read_only);
    suite_add_tcase(s, d);
    TCase *e = tc("errors");
    tcase_add_test(e, unknown_names);
    tcase_add_test(e, no_keyspace_in_session);
    tcase_add_test(e, type_mismatch);
    tcase_add_test(e, missing_key_parts);
    tcase_add_test(e, syntax_errors);
    tcase_add_test(e, backend_write_timeout_propagates);
    tcase_add_test(e, backend_read_errors_propagate);
    tcase_add_test(e, consistency_reaches_backend);
    tcase_add_test(e, time_functions);
    tcase_add_test(e, blob_conversion_functions);
    tcase_add_test(e, cast_function);
    tcase_add_test(e, functions_beside_aggregates);
    tcase_add_test(e, group_by);
    suite_add_tcase(s, e);
    TCase *p = tc("prepared");
    tcase_add_test(p, prepare_and_execute);
    tcase_add_test(p, prepared_cache_evicts_least_recently_used);
    tcase_add_test(p, execute_unknown_id_is_unprepared);
    tcase_add_test(p, bind_markers_in_query);
    tcase_add_test(p, system_local_from_backend);
    suite_add_tcase(s, p);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
