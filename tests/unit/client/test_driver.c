/*
 * test_driver.c - libbasalt-client against a real basaltd (no mocks).
 *
 * Each test starts its own node (basaltd_fixture.h) and its own client:
 * discovery and the token map, simple statements and DDL, USE across the
 * pool, prepared statements with typed values, paging 1,000 rows by 100,
 * 200 concurrent async requests, batches, server errors with their codes
 * and fields, transparent re-prepare after a server restart, the client
 * timeout against a SIGSTOPped node, LZ4, refused connections, several
 * threads sharing one client, and token-aware routing keys.
 */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basaltd_fixture.h"
#include "client/basalt.h"
#include "ring/murmur3.h"

static bs_test_server srv;

/* expr (a client call that fills the local `err`) must return 0; on
 * failure the message says what the server or client reported */
#define CALL_OK(expr)                                                       \
    do {                                                                    \
        int rc_ = (expr);                                                   \
        ck_assert_msg(rc_ == 0, "%s: %s: %s", #expr,                       \
                      bs_client_strerror(rc_), err.message);                \
    } while (0)

static void srv_up(void) {
    memset(&srv, 0, sizeof srv);
    ck_assert_int_eq(tsrv_start(&srv), 0);
}

/* The node must exit 0 on SIGTERM with no sanitizer report. */
static void srv_down(void) {
    ck_assert_int_eq(tsrv_destroy(&srv), 0);
}

static bs_client *connect_opts(int lz4, int timeout_ms, const char *ks) {
    bs_client_config *cfg;
    ck_assert_int_eq(bs_client_config_new(&cfg), 0);
    ck_assert_int_eq(bs_client_config_add_contact_points(cfg, srv.hostport), 0);
    bs_client_config_set_compression(cfg, lz4);
    if (timeout_ms) bs_client_config_set_request_timeout(cfg, timeout_ms);
    if (ks) bs_client_config_set_keyspace(cfg, ks);
    bs_client *c = NULL;
    bs_client_error err;
    int rc = bs_client_connect(cfg, &c, &err);
    bs_client_config_free(cfg);
    ck_assert_msg(rc == 0, "connect: %s (%s)", bs_client_strerror(rc),
                  err.message);
    return c;
}

static bs_client *connect_default(void) {
    return connect_opts(0, 0, NULL);
}

/* Runs cql, asserts success, returns the result (caller frees). */
static bs_client_result *q_ok(bs_client *c, const char *cql) {
    bs_client_result *r = NULL;
    bs_client_error err;
    int rc = bs_client_query(c, cql, &r, &err);
    ck_assert_msg(rc == 0, "%s: %s: %s", cql, bs_client_strerror(rc),
                  err.message);
    ck_assert_ptr_nonnull(r);
    return r;
}

static void x_ok(bs_client *c, const char *cql) {
    bs_client_result_free(q_ok(c, cql));
}

static int64_t count_rows(bs_client *c, const char *cql) {
    bs_client_result *r = q_ok(c, cql);
    ck_assert_int_eq(bs_client_result_next_row(r), 1);
    int64_t n = -1;
    ck_assert_int_eq(bs_client_result_get_int64(r, 0, &n), 0);
    bs_client_result_free(r);
    return n;
}

static void make_ks(bs_client *c) {
    x_ok(c, "CREATE KEYSPACE ks WITH replication = {'class': "
            "'SimpleStrategy', 'replication_factor': 1}");
}

/* ------------------------------------------------------------------ */

START_TEST(test_connect_discovery) {
    srv_up();
    bs_client *c = connect_default();
    ck_assert_uint_eq(bs_client_host_count(c), 1);
    bs_client_host h;
    ck_assert_int_eq(bs_client_host_get(c, 0, &h), 0);
    ck_assert_str_eq(h.address, srv.addr);
    ck_assert_int_eq(h.port, srv.port);
    ck_assert_str_eq(h.dc, "dc1");
    ck_assert_str_eq(h.rack, "rack1");
    ck_assert_int_eq(h.up, 1);
    ck_assert_int_eq(h.is_control, 1);
    ck_assert_uint_eq(strlen(h.host_id), 36);
    ck_assert_uint_eq(h.ntokens, 16);
    ck_assert_int_eq(bs_client_host_get(c, 1, &h), BS_ERANGE);

    int64_t toks[16];
    size_t n = 0;
    ck_assert_int_eq(bs_client_host_tokens(c, 0, toks, 16, &n), 0);
    ck_assert_uint_eq(n, 16);
    for (size_t i = 1; i < n; i++)
        ck_assert(toks[i - 1] < toks[i]);
    size_t need = 0;
    ck_assert_int_eq(bs_client_host_tokens(c, 0, toks, 3, &need), BS_ERANGE);
    ck_assert_uint_eq(need, 16);

    /* the same tokens as system.local says */
    bs_client_result *r = q_ok(c, "SELECT tokens FROM system.local");
    ck_assert_int_eq(bs_client_result_next_row(r), 1);
    bs_buf b = BS_BUF_INIT;
    ck_assert_int_eq(bs_client_result_get_formatted(r, 0, 0, &b), 0);
    ck_assert_int_eq(bs_buf_append_u8(&b, 0), 0);
    for (size_t i = 0; i < n; i++) {
        char t[32];
        snprintf(t, sizeof t, "'%lld'", (long long)toks[i]);
        ck_assert_msg(strstr((char *)b.data, t), "token %s not in %s", t,
                      (char *)b.data);
    }
    bs_buf_free(&b);
    bs_client_result_free(r);

    /* system.peers is empty: one node owns the whole ring */
    char reps[4][64];
    size_t nr = 0;
    ck_assert_int_eq(bs_client_replicas(c, "system", 42, reps, 4, &nr), 0);
    ck_assert_uint_eq(nr, 1);
    ck_assert_str_eq(reps[0], srv.hostport);

    uint64_t v = bs_client_topology_version(c);
    ck_assert_uint_ge(v, 1);
    bs_client_error err;
    CALL_OK(bs_client_refresh_topology(c, &err));
    ck_assert_uint_gt(bs_client_topology_version(c), v);
    ck_assert_uint_eq(bs_client_host_count(c), 1);
    bs_client_close(c);
    srv_down();
}
END_TEST

START_TEST(test_simple_and_ddl) {
    srv_up();
    bs_client *c = connect_default();
    bs_client_result *r =
        q_ok(c, "CREATE KEYSPACE ks WITH replication = {'class': "
                "'SimpleStrategy', 'replication_factor': 1}");
    ck_assert_int_eq(bs_client_result_kind(r), BS_CLIENT_RESULT_SCHEMA_CHANGE);
    ck_assert_str_eq(bs_client_result_change_type(r), "CREATED");
    ck_assert_str_eq(bs_client_result_change_target(r), "KEYSPACE");
    ck_assert_str_eq(bs_client_result_keyspace(r), "ks");
    bs_client_result_free(r);
    r = q_ok(c, "CREATE TABLE ks.t (k int PRIMARY KEY, v text)");
    ck_assert_str_eq(bs_client_result_change_target(r), "TABLE");
    ck_assert_str_eq(bs_client_result_change_name(r), "t");
    bs_client_result_free(r);

    /* simple statement with bound values */
    bs_client_stmt *s;
    ck_assert_int_eq(
        bs_client_stmt_new("INSERT INTO ks.t (k, v) VALUES (?, ?)", 2, &s), 0);
    bs_client_error err;
    for (int i = 0; i < 5; i++) {
        char v[16];
        snprintf(v, sizeof v, "v%d", i);
        ck_assert_int_eq(bs_client_stmt_bind_int32(s, 0, i), 0);
        ck_assert_int_eq(bs_client_stmt_bind_text(s, 1, v), 0);
        CALL_OK(bs_client_execute(c, s, &r, &err));
        ck_assert_int_eq(bs_client_result_kind(r), BS_CLIENT_RESULT_VOID);
        bs_client_result_free(r);
    }
    bs_client_stmt_free(s);

    r = q_ok(c, "SELECT k, v FROM ks.t WHERE k = 3");
    ck_assert_int_eq(bs_client_result_kind(r), BS_CLIENT_RESULT_ROWS);
    ck_assert_uint_eq(bs_client_result_column_count(r), 2);
    ck_assert_str_eq(bs_client_result_column_name(r, 0), "k");
    ck_assert_str_eq(bs_client_result_column_name(r, 1), "v");
    ck_assert_str_eq(bs_client_result_column_keyspace(r, 1), "ks");
    ck_assert_str_eq(bs_client_result_column_table(r, 1), "t");
    ck_assert_int_eq(bs_client_result_column_type(r, 0)->kind, BS_TYPE_INT);
    ck_assert_int_eq(bs_client_result_column_type(r, 1)->kind, BS_TYPE_VARCHAR);
    ck_assert_int_eq(bs_client_result_column_index(r, "v"), 1);
    ck_assert_int_eq(bs_client_result_column_index(r, "zz"), BS_ENOTFOUND);
    ck_assert_uint_eq(bs_client_result_row_count(r), 1);
    /* no current row yet */
    int32_t k;
    ck_assert_int_eq(bs_client_result_get_int32(r, 0, &k), BS_ERANGE);
    ck_assert_int_eq(bs_client_result_next_row(r), 1);
    ck_assert_int_eq(bs_client_result_get_int32(r, 0, &k), 0);
    ck_assert_int_eq(k, 3);
    const char *txt;
    size_t tl;
    ck_assert_int_eq(bs_client_result_get_text(r, 1, &txt, &tl), 0);
    ck_assert_uint_eq(tl, 2);
    ck_assert_int_eq(memcmp(txt, "v3", 2), 0);
    double d;
    ck_assert_int_eq(bs_client_result_get_double(r, 1, &d), BS_ETYPE);
    ck_assert_int_eq(bs_client_result_get_int32(r, 2, &k), BS_ERANGE);
    ck_assert_int_eq(bs_client_result_next_row(r), 0);
    bs_client_result_free(r);
    ck_assert_int_eq(count_rows(c, "SELECT count(*) FROM ks.t"), 5);

    /* USE: every pooled connection follows (run enough requests to use
     * them all) */
    r = q_ok(c, "USE ks");
    ck_assert_int_eq(bs_client_result_kind(r), BS_CLIENT_RESULT_SET_KEYSPACE);
    ck_assert_str_eq(bs_client_result_keyspace(r), "ks");
    bs_client_result_free(r);
    char ks[64];
    ck_assert_str_eq(bs_client_keyspace(c, ks, sizeof ks), "ks");
    for (int i = 0; i < 20; i++)
        ck_assert_int_eq(count_rows(c, "SELECT count(*) FROM t"), 5);

    x_ok(c, "DROP TABLE t");
    bs_client_close(c);
    srv_down();
}
END_TEST

START_TEST(test_prepared_typed) {
    srv_up();
    bs_client *c = connect_default();
    make_ks(c);
    x_ok(c, "CREATE TABLE ks.typed (id int, ck bigint, name text, score "
            "double, ok boolean, u uuid, ts timestamp, small smallint, "
            "PRIMARY KEY (id, ck))");
    bs_client_prepared *ins, *ins2, *sel;
    bs_client_error err;
    const char *iq = "INSERT INTO ks.typed (id, ck, name, score, ok, u, ts, "
                     "small) VALUES (?, ?, ?, ?, ?, ?, ?, ?)";
    CALL_OK(bs_client_prepare(c, iq, &ins, &err));
    ck_assert_uint_eq(bs_client_prepared_param_count(ins), 8);
    ck_assert_str_eq(bs_client_prepared_param_name(ins, 2), "name");
    ck_assert_int_eq(bs_client_prepared_param_type(ins, 1)->kind,
                     BS_TYPE_BIGINT);
    ck_assert_int_eq(bs_client_prepared_param_index(ins, "score"), 3);
    ck_assert_uint_eq(bs_client_prepared_column_count(ins), 0);
    ck_assert_str_eq(bs_client_prepared_query(ins), iq);
    /* the cache answers the same text with the same handle */
    CALL_OK(bs_client_prepare(c, iq, &ins2, &err));
    ck_assert_ptr_eq(ins, ins2);
    bs_client_prepared_free(ins2);

    uint8_t u[16];
    for (int i = 0; i < 16; i++)
        u[i] = (uint8_t)(0x10 + i);
    u[6] = 0x40; /* version 4 */
    u[8] = 0x80;
    bs_client_stmt *s;
    ck_assert_int_eq(bs_client_stmt_new_prepared(ins, &s), 0);
    bs_client_prepared_free(ins); /* the statement keeps a reference */
    ck_assert_int_eq(bs_client_stmt_bind_int32(s, 0, 7), 0);
    ck_assert_int_eq(bs_client_stmt_bind_int64(s, 1, 9000000000LL), 0);
    ck_assert_int_eq(bs_client_stmt_bind_text(s, 2, "seven"), 0);
    ck_assert_int_eq(bs_client_stmt_bind_double(s, 3, 2.5), 0);
    ck_assert_int_eq(bs_client_stmt_bind_bool(s, 4, 1), 0);
    ck_assert_int_eq(bs_client_stmt_bind_uuid(s, 5, u), 0);
    ck_assert_int_eq(bs_client_stmt_bind_int64(s, 6, 1600000000123LL), 0);
    /* type and range checks against the prepared metadata */
    ck_assert_int_eq(bs_client_stmt_bind_text(s, 7, "x"), BS_ETYPE);
    ck_assert_int_eq(bs_client_stmt_bind_int32(s, 7, 70000), BS_ERANGE);
    ck_assert_int_eq(bs_client_stmt_bind_int32(s, 8, 1), BS_ERANGE);
    ck_assert_int_eq(bs_client_stmt_bind_double(s, 0, 1.0), BS_ETYPE);
    ck_assert_int_eq(bs_client_stmt_bind_int32(s, 7, -12), 0);

    /* routing key = the serialized partition key (id int) */
    int64_t tok;
    ck_assert_int_eq(bs_client_stmt_routing_token(s, &tok), 0);
    uint8_t idb[4] = {0, 0, 0, 7};
    ck_assert_int_eq(tok, bs_ring_partition_token(idb, 4));

    bs_client_result *r;
    CALL_OK(bs_client_execute(c, s, &r, &err));
    ck_assert_str_eq(bs_client_result_host(r), srv.hostport);
    bs_client_result_free(r);
    bs_client_stmt_free(s);

    ck_assert_int_eq(bs_client_prepare(c,
                                       "SELECT ck, name, score, ok, u, "
                                       "ts, small FROM ks.typed WHERE id = ?",
                                       &sel, &err),
                     0);
    ck_assert_int_eq(bs_client_stmt_new_prepared(sel, &s), 0);
    ck_assert_int_eq(bs_client_stmt_bind_int32(s, 0, 7), 0);
    CALL_OK(bs_client_execute(c, s, &r, &err));
    ck_assert_int_eq(bs_client_result_next_row(r), 1);
    int64_t ck;
    ck_assert_int_eq(bs_client_result_get_int64(r, 0, &ck), 0);
    ck_assert_int_eq(ck, 9000000000LL);
    int32_t ck32;
    ck_assert_int_eq(bs_client_result_get_int32(r, 0, &ck32), BS_ERANGE);
    const char *txt;
    size_t tl;
    ck_assert_int_eq(bs_client_result_get_text(r, 1, &txt, &tl), 0);
    ck_assert_uint_eq(tl, 5);
    ck_assert_int_eq(memcmp(txt, "seven", 5), 0);
    double d;
    ck_assert_int_eq(bs_client_result_get_double(r, 2, &d), 0);
    ck_assert(d == 2.5);
    int ok;
    ck_assert_int_eq(bs_client_result_get_bool(r, 3, &ok), 0);
    ck_assert_int_eq(ok, 1);
    const uint8_t *ub;
    ck_assert_int_eq(bs_client_result_get_uuid(r, 4, &ub), 0);
    ck_assert_int_eq(memcmp(ub, u, 16), 0);
    int64_t ts;
    ck_assert_int_eq(bs_client_result_get_int64(r, 5, &ts), 0);
    ck_assert_int_eq(ts, 1600000000123LL);
    bs_buf b = BS_BUF_INIT;
    ck_assert_int_eq(bs_client_result_get_formatted(r, 5, 0, &b), 0);
    ck_assert_int_eq(bs_buf_append_u8(&b, 0), 0);
    ck_assert_str_eq((char *)b.data, "2020-09-13 12:26:40.123000+0000");
    b.len = 0;
    ck_assert_int_eq(bs_client_result_get_formatted(r, 4, 0, &b), 0);
    ck_assert_int_eq(bs_buf_append_u8(&b, 0), 0);
    ck_assert_str_eq((char *)b.data, "10111213-1415-4017-8019-1a1b1c1d1e1f");
    bs_buf_free(&b);
    int32_t small;
    ck_assert_int_eq(bs_client_result_get_int32(r, 6, &small), 0);
    ck_assert_int_eq(small, -12);
    ck_assert_int_eq(bs_client_result_next_row(r), 0);
    bs_client_result_free(r);

    /* a null value reads as null */
    x_ok(c, "INSERT INTO ks.typed (id, ck) VALUES (8, 1)");
    ck_assert_int_eq(bs_client_stmt_bind_int32(s, 0, 8), 0);
    CALL_OK(bs_client_execute(c, s, &r, &err));
    ck_assert_int_eq(bs_client_result_next_row(r), 1);
    ck_assert_int_eq(bs_client_result_is_null(r, 1), 1);
    ck_assert_int_eq(bs_client_result_get_text(r, 1, &txt, &tl), BS_ENOTFOUND);
    const uint8_t *raw;
    size_t rl;
    ck_assert_int_eq(bs_client_result_get_bytes(r, 1, &raw, &rl), 0);
    ck_assert_uint_eq(rl, BS_CLIENT_NULL);
    bs_client_result_free(r);
    bs_client_stmt_free(s);
    bs_client_prepared_free(sel);
    bs_client_close(c);
    srv_down();
}
END_TEST

START_TEST(test_paging) {
    srv_up();
    bs_client *c = connect_default();
    make_ks(c);
    x_ok(c, "CREATE TABLE ks.p (pk text, n int, PRIMARY KEY (pk, n))");
    bs_client_prepared *ins;
    bs_client_error err;
    ck_assert_int_eq(bs_client_prepare(c,
                                       "INSERT INTO ks.p (pk, n) VALUES "
                                       "('a', ?)",
                                       &ins, &err),
                     0);
    bs_client_stmt *s;
    ck_assert_int_eq(bs_client_stmt_new_prepared(ins, &s), 0);
    for (int i = 0; i < 1000; i++) {
        bs_client_result *r;
        ck_assert_int_eq(bs_client_stmt_bind_int32(s, 0, i), 0);
        CALL_OK(bs_client_execute(c, s, &r, &err));
        bs_client_result_free(r);
    }
    bs_client_stmt_free(s);
    bs_client_prepared_free(ins);

    bs_client_stmt *sel;
    ck_assert_int_eq(
        bs_client_stmt_new("SELECT n FROM ks.p WHERE pk = 'a'", 0, &sel), 0);
    ck_assert_int_eq(bs_client_stmt_set_page_size(sel, 100), 0);
    bs_client_result *page;
    CALL_OK(bs_client_execute(c, sel, &page, &err));
    int pages_with_rows = 0, requests = 1, expect = 0;
    for (;;) {
        size_t rows = bs_client_result_row_count(page);
        ck_assert_uint_le(rows, 100);
        if (rows) pages_with_rows++;
        while (bs_client_result_next_row(page)) {
            int32_t n;
            ck_assert_int_eq(bs_client_result_get_int32(page, 0, &n), 0);
            ck_assert_int_eq(n, expect);
            expect++;
        }
        if (!bs_client_result_has_more_pages(page)) break;
        const uint8_t *ps;
        size_t pl;
        bs_client_result_paging_state(page, &ps, &pl);
        ck_assert_uint_gt(pl, 0);
        bs_client_result *next;
        CALL_OK(bs_client_next_page(c, sel, page, &next, &err));
        bs_client_result_free(page);
        page = next;
        requests++;
        ck_assert_int_le(requests, 11);
    }
    bs_client_result *none = (bs_client_result *)1;
    ck_assert_int_eq(bs_client_next_page(c, sel, page, &none, &err),
                     BS_ENOTFOUND);
    ck_assert_ptr_null(none);
    bs_client_result_free(page);
    ck_assert_int_eq(expect, 1000);
    ck_assert_int_eq(pages_with_rows, 10);

    /* resuming from an explicit paging state gives the same rows */
    CALL_OK(bs_client_execute(c, sel, &page, &err));
    const uint8_t *ps;
    size_t pl;
    bs_client_result_paging_state(page, &ps, &pl);
    ck_assert_int_eq(bs_client_stmt_set_paging_state(sel, ps, pl), 0);
    bs_client_result_free(page);
    CALL_OK(bs_client_execute(c, sel, &page, &err));
    ck_assert_int_eq(bs_client_result_next_row(page), 1);
    int32_t n;
    ck_assert_int_eq(bs_client_result_get_int32(page, 0, &n), 0);
    ck_assert_int_eq(n, 100);
    bs_client_result_free(page);

    /* page size 0: everything at once */
    ck_assert_int_eq(bs_client_stmt_set_paging_state(sel, NULL, 0), 0);
    ck_assert_int_eq(bs_client_stmt_set_page_size(sel, 0), 0);
    CALL_OK(bs_client_execute(c, sel, &page, &err));
    ck_assert_uint_eq(bs_client_result_row_count(page), 1000);
    ck_assert_int_eq(bs_client_result_has_more_pages(page), 0);
    bs_client_result_free(page);
    bs_client_stmt_free(sel);
    bs_client_close(c);
    srv_down();
}
END_TEST

typedef struct async_state {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done, ok, failed;
    pthread_t io;
    int wrong_thread;
} async_state;

static void on_async(bs_client_result *res, const bs_client_error *err,
                     void *ud) {
    async_state *st = ud;
    pthread_mutex_lock(&st->mu);
    if (res && err->code == 0 &&
        bs_client_result_kind(res) == BS_CLIENT_RESULT_VOID)
        st->ok++;
    else
        st->failed++;
    st->done++;
    pthread_cond_broadcast(&st->cv);
    pthread_mutex_unlock(&st->mu);
    bs_client_result_free(res);
}

/* End of an async test: frees what it made and stops the server. */
static void async_end(bs_client *c, bs_client_prepared *ins, async_state *st) {
    bs_client_prepared_free(ins);
    bs_client_close(c);
    pthread_mutex_destroy(&st->mu);
    pthread_cond_destroy(&st->cv);
    srv_down();
}

START_TEST(test_async_200) {
    srv_up();
    bs_client *c = connect_default();
    make_ks(c);
    x_ok(c, "CREATE TABLE ks.a (k int PRIMARY KEY, v int)");
    bs_client_prepared *ins;
    bs_client_error err;
    ck_assert_int_eq(bs_client_prepare(c,
                                       "INSERT INTO ks.a (k, v) VALUES (?, ?)",
                                       &ins, &err),
                     0);
    async_state st;
    memset(&st, 0, sizeof st);
    pthread_mutex_init(&st.mu, NULL);
    pthread_cond_init(&st.cv, NULL);
    for (int i = 0; i < 200; i++) {
        bs_client_stmt *s;
        ck_assert_int_eq(bs_client_stmt_new_prepared(ins, &s), 0);
        ck_assert_int_eq(bs_client_stmt_bind_int32(s, 0, i), 0);
        ck_assert_int_eq(bs_client_stmt_bind_int32(s, 1, i * 2), 0);
        ck_assert_int_eq(bs_client_execute_async(c, s, on_async, &st), 0);
        bs_client_stmt_free(s); /* copied by execute_async */
    }
    pthread_mutex_lock(&st.mu);
    while (st.done < 200)
        pthread_cond_wait(&st.cv, &st.mu);
    pthread_mutex_unlock(&st.mu);
    ck_assert_int_eq(st.ok, 200);
    ck_assert_int_eq(st.failed, 0);
    ck_assert_int_eq(count_rows(c, "SELECT count(*) FROM ks.a"), 200);
    ck_assert_int_eq(count_rows(c, "SELECT v FROM ks.a WHERE k = 123"), 246);
    async_end(c, ins, &st);
}
END_TEST

/* bs_client_set_ticker: a ticker that starts one INSERT per tick from the
 * I/O thread (the thread of the completion callbacks) and stops itself
 * after 50 ticks. */
typedef struct tick_state {
    bs_client *c;
    bs_client_prepared *ins;
    async_state *st;
    int ticks;
    pthread_t th;
    int other_thread;
} tick_state;

static int on_tick(void *ud) {
    tick_state *t = ud;
    if (t->ticks++ == 0) t->th = pthread_self();
    else if (!pthread_equal(t->th, pthread_self())) t->other_thread = 1;
    bs_client_stmt *s;
    ck_assert_int_eq(bs_client_stmt_new_prepared(t->ins, &s), 0);
    ck_assert_int_eq(bs_client_stmt_bind_int32(s, 0, t->ticks), 0);
    ck_assert_int_eq(bs_client_stmt_bind_int32(s, 1, t->ticks), 0);
    ck_assert_int_eq(bs_client_execute_async(t->c, s, on_async, t->st), 0);
    bs_client_stmt_free(s);
    return t->ticks == 50;
}

static void on_async_thread(bs_client_result *res, const bs_client_error *err, void *ud) {
    tick_state *t = ud;
    t->th = pthread_self();
    (void)err;
    bs_client_result_free(res);
    pthread_mutex_lock(&t->st->mu);
    t->st->done++;
    pthread_cond_broadcast(&t->st->cv);
    pthread_mutex_unlock(&t->st->mu);
}

START_TEST(test_ticker) {
    srv_up();
    bs_client *c = connect_default();
    make_ks(c);
    x_ok(c, "CREATE TABLE ks.t (k int PRIMARY KEY, v int)");
    bs_client_prepared *ins;
    bs_client_error err;
    CALL_OK(bs_client_prepare(c, "INSERT INTO ks.t (k, v) VALUES (?, ?)", &ins, &err));
    async_state st;
    memset(&st, 0, sizeof st);
    pthread_mutex_init(&st.mu, NULL);
    pthread_cond_init(&st.cv, NULL);
    tick_state t = {c, ins, &st, 0, 0, 0};
    ck_assert_int_eq(bs_client_set_ticker(c, 5, on_tick, &t), BS_EINVAL);
    ck_assert_int_eq(bs_client_set_ticker(c, 2000000, on_tick, &t), BS_EINVAL);
    /* the completion callbacks' thread, for comparison */
    tick_state cbt = {c, ins, &st, 0, 0, 0};
    bs_client_stmt *s;
    ck_assert_int_eq(bs_client_stmt_new_prepared(ins, &s), 0);
    ck_assert_int_eq(bs_client_stmt_bind_int32(s, 0, 0), 0);
    ck_assert_int_eq(bs_client_stmt_bind_int32(s, 1, 0), 0);
    ck_assert_int_eq(bs_client_execute_async(c, s, on_async_thread, &cbt), 0);
    bs_client_stmt_free(s);
    pthread_mutex_lock(&st.mu);
    while (st.done < 1)
        pthread_cond_wait(&st.cv, &st.mu);
    st.done = 0;
    pthread_mutex_unlock(&st.mu);

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ck_assert_int_eq(bs_client_set_ticker(c, 2000, on_tick, &t), 0);
    pthread_mutex_lock(&st.mu);
    while (st.done < 50)
        pthread_cond_wait(&st.cv, &st.mu);
    pthread_mutex_unlock(&st.mu);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ck_assert_int_eq(st.ok, 50);
    ck_assert_int_eq(st.failed, 0);
    ck_assert(pthread_equal(t.th, cbt.th)); /* the I/O thread */
    ck_assert_int_eq(t.other_thread, 0);
    /* 50 ticks 2 ms apart: the first at once, the last >= 98 ms later */
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    ck_assert_msg(ms >= 97.0, "50 ticks in %.1f ms", ms);
    /* it stopped itself: no tick after the 50th */
    usleep(20000);
    ck_assert_int_eq(t.ticks, 50);
    ck_assert_int_eq(count_rows(c, "SELECT count(*) FROM ks.t"), 51);
    async_end(c, ins, &st);
}
END_TEST

START_TEST(test_batch) {
    srv_up();
    bs_client *c = connect_default();
    make_ks(c);
    x_ok(c, "CREATE TABLE ks.b (k int PRIMARY KEY, v text)");
    bs_client_stmt *b, *s;
    bs_client_error err;
    ck_assert_int_eq(bs_client_stmt_new_batch(BS_CLIENT_BATCH_LOGGED, &b), 0);
    bs_client_result *r = (bs_client_result *)1;
    ck_assert_int_eq(bs_client_execute(c, b, &r, &err), BS_EINVAL); /* empty */
    for (int i = 0; i < 3; i++) {
        char q[96];
        snprintf(q, sizeof q, "INSERT INTO ks.b (k, v) VALUES (%d, 'simple')",
                 i);
        ck_assert_int_eq(bs_client_stmt_new(q, 0, &s), 0);
        ck_assert_int_eq(bs_client_batch_add(b, s), 0);
        bs_client_stmt_free(s);
    }
    ck_assert_int_eq(
        bs_client_stmt_new("INSERT INTO ks.b (k, v) VALUES (?, ?)", 2, &s), 0);
    ck_assert_int_eq(bs_client_stmt_bind_int32(s, 0, 3), 0);
    ck_assert_int_eq(bs_client_stmt_bind_text(s, 1, "bound"), 0);
    ck_assert_int_eq(bs_client_batch_add(b, s), 0);
    bs_client_stmt_free(s);
    bs_client_prepared *p;
    ck_assert_int_eq(
        bs_client_prepare(c, "INSERT INTO ks.b (k, v) VALUES (?, ?)", &p, &err),
        0);
    ck_assert_int_eq(bs_client_stmt_new_prepared(p, &s), 0);
    ck_assert_int_eq(bs_client_stmt_bind_int32(s, 0, 4), 0);
    ck_assert_int_eq(bs_client_stmt_bind_text(s, 1, "prepared"), 0);
    ck_assert_int_eq(bs_client_batch_add(b, s), 0);
    ck_assert_int_eq(bs_client_batch_add(s, b), BS_EINVAL);
    ck_assert_int_eq(bs_client_batch_add(b, b), BS_EINVAL);
    /* later changes to s do not reach the batch */
    ck_assert_int_eq(bs_client_stmt_bind_int32(s, 0, 99), 0);
    bs_client_stmt_free(s);
    bs_client_prepared_free(p);
    ck_assert_int_eq(bs_client_stmt_bind_int32(b, 0, 1), BS_EINVAL);
    ck_assert_int_eq(bs_client_stmt_set_timestamp(b, 1000), 0);
    CALL_OK(bs_client_execute(c, b, &r, &err));
    ck_assert_int_eq(bs_client_result_kind(r), BS_CLIENT_RESULT_VOID);
    bs_client_result_free(r);
    bs_client_stmt_free(b);
    ck_assert_int_eq(count_rows(c, "SELECT count(*) FROM ks.b"), 5);
    ck_assert_int_eq(count_rows(c, "SELECT count(*) FROM ks.b WHERE k = 99"),
                     0);
    r = q_ok(c, "SELECT v, writetime(v) FROM ks.b WHERE k = 4");
    ck_assert_int_eq(bs_client_result_next_row(r), 1);
    const char *t;
    size_t tl;
    ck_assert_int_eq(bs_client_result_get_text(r, 0, &t, &tl), 0);
    ck_assert_int_eq(tl == 8 && !memcmp(t, "prepared", 8), 1);
    int64_t wt;
    ck_assert_int_eq(bs_client_result_get_int64(r, 1, &wt), 0);
    ck_assert_int_eq(wt, 1000);
    bs_client_result_free(r);
    bs_client_close(c);
    srv_down();
}
END_TEST

START_TEST(test_errors) {
    srv_up();
    bs_client *c = connect_default();
    bs_client_result *r = (bs_client_result *)1;
    bs_client_error err;
    int rc = bs_client_query(c, "SELEKT * FROM x", &r, &err);
    ck_assert_int_eq(rc, BS_CLIENT_ESERVER);
    ck_assert_ptr_null(r);
    ck_assert_int_eq(err.code, BS_CLIENT_ESERVER);
    ck_assert_int_eq(err.server_code, BS_PROTO_ERR_SYNTAX);
    ck_assert_str_eq(bs_client_error_class(err.server_code), "SyntaxException");
    ck_assert_uint_gt(strlen(err.message), 0);
    ck_assert_str_eq(err.host, srv.hostport);

    rc = bs_client_query(c, "SELECT * FROM nosuchks.t", &r, &err);
    ck_assert_int_eq(rc, BS_CLIENT_ESERVER);
    ck_assert_int_eq(err.server_code, BS_PROTO_ERR_INVALID);
    ck_assert_str_eq(bs_client_error_class(err.server_code), "InvalidRequest");

    make_ks(c);
    rc = bs_client_query(c,
                         "CREATE KEYSPACE ks WITH replication = {'class': "
                         "'SimpleStrategy', 'replication_factor': 1}",
                         &r, &err);
    ck_assert_int_eq(rc, BS_CLIENT_ESERVER);
    ck_assert_int_eq(err.server_code, BS_PROTO_ERR_ALREADY_EXISTS);
    ck_assert_str_eq(err.keyspace, "ks");
    ck_assert_str_eq(err.table, "");
    x_ok(c, "CREATE TABLE ks.t (k int PRIMARY KEY)");
    rc = bs_client_query(c, "CREATE TABLE ks.t (k int PRIMARY KEY)", &r, &err);
    ck_assert_int_eq(err.server_code, BS_PROTO_ERR_ALREADY_EXISTS);
    ck_assert_str_eq(err.keyspace, "ks");
    ck_assert_str_eq(err.table, "t");

    /* prepare errors come back the same way */
    bs_client_prepared *p = (bs_client_prepared *)1;
    rc = bs_client_prepare(c, "SELECT nope FROM ks.t", &p, &err);
    ck_assert_int_eq(rc, BS_CLIENT_ESERVER);
    ck_assert_int_eq(err.server_code, BS_PROTO_ERR_INVALID);
    ck_assert_ptr_null(p);

    /* a wrong bound value: the server validates it */
    bs_client_stmt *s;
    ck_assert_int_eq(
        bs_client_stmt_new("INSERT INTO ks.t (k) VALUES (?)", 1, &s), 0);
    ck_assert_int_eq(bs_client_stmt_bind_bytes(s, 0, "abc", 3), 0);
    rc = bs_client_execute(c, s, &r, &err);
    ck_assert_int_eq(rc, BS_CLIENT_ESERVER);
    ck_assert_int_eq(err.server_code, BS_PROTO_ERR_INVALID);
    bs_client_stmt_free(s);

    /* the client still works afterwards */
    ck_assert_int_eq(count_rows(c, "SELECT count(*) FROM ks.t"), 0);
    bs_client_close(c);
    srv_down();
}
END_TEST

START_TEST(test_unprepared_after_restart) {
    srv_up();
    bs_client *c = connect_default();
    make_ks(c);
    x_ok(c, "CREATE TABLE ks.r (k int PRIMARY KEY, v int)");
    bs_client_prepared *ins, *sel;
    bs_client_error err;
    ck_assert_int_eq(bs_client_prepare(c,
                                       "INSERT INTO ks.r (k, v) VALUES (?, ?)",
                                       &ins, &err),
                     0);
    ck_assert_int_eq(
        bs_client_prepare(c, "SELECT v FROM ks.r WHERE k = ?", &sel, &err), 0);
    /* restart: the node forgets its prepared statements */
    ck_assert_int_eq(tsrv_stop(&srv), 0);
    ck_assert_int_eq(tsrv_start(&srv), 0);

    bs_client_stmt *s;
    bs_client_result *r = NULL;
    ck_assert_int_eq(bs_client_stmt_new_prepared(ins, &s), 0);
    ck_assert_int_eq(bs_client_stmt_bind_int32(s, 0, 1), 0);
    ck_assert_int_eq(bs_client_stmt_bind_int32(s, 1, 11), 0);
    /* the insert is not idempotent: it must still work (a fresh
     * connection, then UNPREPARED -> PREPARE -> EXECUTE) */
    int rc = bs_client_execute(c, s, &r, &err);
    ck_assert_msg(rc == 0, "execute after restart: %s (%s)",
                  bs_client_strerror(rc), err.message);
    bs_client_result_free(r);
    bs_client_stmt_free(s);

    ck_assert_int_eq(bs_client_stmt_new_prepared(sel, &s), 0);
    ck_assert_int_eq(bs_client_stmt_bind_int32(s, 0, 1), 0);
    CALL_OK(bs_client_execute(c, s, &r, &err));
    ck_assert_int_eq(bs_client_result_next_row(r), 1);
    int32_t v;
    ck_assert_int_eq(bs_client_result_get_int32(r, 0, &v), 0);
    ck_assert_int_eq(v, 11);
    bs_client_result_free(r);
    bs_client_stmt_free(s);

    /* prepared statements inside a batch are re-prepared too */
    ck_assert_int_eq(tsrv_stop(&srv), 0);
    ck_assert_int_eq(tsrv_start(&srv), 0);
    bs_client_stmt *b;
    ck_assert_int_eq(bs_client_stmt_new_batch(BS_CLIENT_BATCH_UNLOGGED, &b), 0);
    ck_assert_int_eq(bs_client_stmt_new_prepared(ins, &s), 0);
    ck_assert_int_eq(bs_client_stmt_bind_int32(s, 0, 2), 0);
    ck_assert_int_eq(bs_client_stmt_bind_int32(s, 1, 22), 0);
    ck_assert_int_eq(bs_client_batch_add(b, s), 0);
    bs_client_stmt_free(s);
    rc = bs_client_execute(c, b, &r, &err);
    ck_assert_msg(rc == 0, "batch after restart: %s (%s)",
                  bs_client_strerror(rc), err.message);
    bs_client_result_free(r);
    bs_client_stmt_free(b);
    ck_assert_int_eq(count_rows(c, "SELECT v FROM ks.r WHERE k = 2"), 22);

    bs_client_prepared_free(ins);
    bs_client_prepared_free(sel);
    bs_client_close(c);
    srv_down();
}
END_TEST

START_TEST(test_timeout_stopped_server) {
    srv_up();
    bs_client *c = connect_opts(0, 800, NULL);
    x_ok(c, "SELECT release_version FROM system.local");
    ck_assert_int_eq(tsrv_pause(&srv), 0);
    bs_client_result *r = NULL;
    bs_client_error err;
    double t0 = tsrv_now();
    int rc = bs_client_query(c, "SELECT * FROM system.local", &r, &err);
    double el = tsrv_now() - t0;
    ck_assert_int_eq(rc, BS_CLIENT_ETIMEOUT);
    ck_assert_int_eq(err.code, BS_CLIENT_ETIMEOUT);
    ck_assert_ptr_null(r);
    /* it waited the configured 800 ms (a timeout that never fired would
     * hang here until Check's own timeout fails the test: no upper bound
     * on the clock is asserted) */
    ck_assert_msg(el >= 0.7, "timed out after %.3f s", el);

    /* a statement's own timeout overrides the default: a longer one makes
     * the call wait past the default's 800 ms */
    bs_client_stmt *s;
    ck_assert_int_eq(bs_client_stmt_new("SELECT * FROM system.local", 0, &s),
                     0);
    ck_assert_int_eq(bs_client_stmt_set_timeout(s, 2000), 0);
    t0 = tsrv_now();
    ck_assert_int_eq(bs_client_execute(c, s, &r, &err), BS_CLIENT_ETIMEOUT);
    el = tsrv_now() - t0;
    ck_assert_msg(el >= 1.9, "timed out after %.3f s", el);
    bs_client_stmt_free(s);

    /* resumed: late answers are dropped, new requests work */
    ck_assert_int_eq(kill(srv.pid, SIGCONT), 0);
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(count_rows(c, "SELECT count(*) FROM system.local"), 1);
    bs_client_close(c);
    srv_down();
}
END_TEST

START_TEST(test_lz4) {
    srv_up();
    bs_client *c = connect_opts(1, 0, NULL);
    make_ks(c);
    x_ok(c, "CREATE TABLE ks.z (k int PRIMARY KEY, v text)");
    /* large, compressible values both ways */
    size_t n = 200000;
    char *big = malloc(n + 1);
    ck_assert_ptr_nonnull(big);
    for (size_t i = 0; i < n; i++)
        big[i] = (char)('a' + (i / 7) % 26);
    big[n] = '\0';
    bs_client_stmt *s;
    bs_client_error err;
    bs_client_result *r;
    ck_assert_int_eq(
        bs_client_stmt_new("INSERT INTO ks.z (k, v) VALUES (?, ?)", 2, &s), 0);
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(bs_client_stmt_bind_int32(s, 0, i), 0);
        big[0] = (char)('A' + i);
        ck_assert_int_eq(bs_client_stmt_bind_text(s, 1, big), 0);
        CALL_OK(bs_client_execute(c, s, &r, &err));
        bs_client_result_free(r);
    }
    bs_client_stmt_free(s);
    r = q_ok(c, "SELECT k, v FROM ks.z");
    ck_assert_uint_eq(bs_client_result_row_count(r), 5);
    int seen = 0;
    while (bs_client_result_next_row(r)) {
        int32_t k;
        const char *t;
        size_t tl;
        ck_assert_int_eq(bs_client_result_get_int32(r, 0, &k), 0);
        ck_assert_int_eq(bs_client_result_get_text(r, 1, &t, &tl), 0);
        ck_assert_uint_eq(tl, n);
        big[0] = (char)('A' + k);
        ck_assert_int_eq(memcmp(t, big, n), 0);
        seen |= 1 << k;
    }
    ck_assert_int_eq(seen, 0x1f);
    bs_client_result_free(r);
    free(big);
    ck_assert_uint_eq(bs_client_host_count(c), 1);
    bs_client_close(c);
    srv_down();
}
END_TEST

START_TEST(test_connect_failures) {
    srv_up();
    bs_client_config *cfg;
    bs_client *c = (bs_client *)1;
    bs_client_error err;
    /* nothing listens on the storage port's neighbour on this address */
    ck_assert_int_eq(bs_client_config_new(&cfg), 0);
    char hp[64];
    snprintf(hp, sizeof hp, "%s:%d", srv.addr, srv.other_ports[0]);
    ck_assert_int_eq(bs_client_config_add_contact_points(cfg, hp), 0);
    ck_assert_int_eq(bs_client_connect(cfg, &c, &err), BS_CLIENT_ECONNREFUSED);
    ck_assert_ptr_null(c);
    ck_assert_int_eq(err.code, BS_CLIENT_ECONNREFUSED);
    bs_client_config_free(cfg);

    /* no contact points */
    ck_assert_int_eq(bs_client_config_new(&cfg), 0);
    ck_assert_int_eq(bs_client_connect(cfg, &c, &err), BS_EINVAL);
    /* a dead one first, then the live one: the second is used */
    ck_assert_int_eq(bs_client_config_add_contact_points(cfg, hp), 0);
    ck_assert_int_eq(bs_client_config_add_contact_points(cfg, srv.hostport), 0);
    CALL_OK(bs_client_connect(cfg, &c, &err));
    ck_assert_uint_eq(bs_client_host_count(c), 1);
    bs_client_close(c);
    bs_client_config_free(cfg);

    /* a keyspace that does not exist */
    ck_assert_int_eq(bs_client_config_new(&cfg), 0);
    ck_assert_int_eq(bs_client_config_add_contact_points(cfg, srv.hostport), 0);
    ck_assert_int_eq(bs_client_config_set_keyspace(cfg, "nosuch"), 0);
    ck_assert_int_eq(bs_client_connect(cfg, &c, &err), BS_CLIENT_ESERVER);
    ck_assert_int_eq(err.server_code, BS_PROTO_ERR_INVALID);
    bs_client_config_free(cfg);

    /* the node goes away: no host available, then it comes back */
    c = connect_opts(0, 2000, NULL);
    ck_assert_int_eq(tsrv_stop(&srv), 0);
    bs_client_result *r = NULL;
    int rc = bs_client_query(c, "SELECT * FROM system.local", &r, &err);
    ck_assert_int_eq(rc, BS_CLIENT_ENOHOST);
    ck_assert_ptr_null(r);
    ck_assert_int_eq(tsrv_start(&srv), 0);
    ck_assert_int_eq(count_rows(c, "SELECT count(*) FROM system.local"), 1);
    bs_client_close(c);
    srv_down();
}
END_TEST

START_TEST(test_keyspace_config_and_routing) {
    srv_up();
    bs_client *c = connect_default();
    make_ks(c);
    x_ok(c,
         "CREATE TABLE ks.c (a int, b text, c int, PRIMARY KEY ((a, b), c))");
    bs_client_close(c);
    c = connect_opts(0, 0, "ks"); /* USE on every connection */
    char ks[64];
    ck_assert_str_eq(bs_client_keyspace(c, ks, sizeof ks), "ks");
    bs_client_prepared *p;
    bs_client_error err;
    ck_assert_int_eq(bs_client_prepare(c,
                                       "INSERT INTO c (a, b, c) VALUES "
                                       "(?, ?, ?)",
                                       &p, &err),
                     0);
    bs_client_stmt *s;
    ck_assert_int_eq(bs_client_stmt_new_prepared(p, &s), 0);
    ck_assert_int_eq(bs_client_stmt_bind_int32(s, 0, 5), 0);
    int64_t tok;
    /* part of the composite key is still unset */
    ck_assert_int_eq(bs_client_stmt_routing_token(s, &tok), BS_ENOTFOUND);
    ck_assert_int_eq(bs_client_stmt_bind_text(s, 1, "xy"), 0);
    ck_assert_int_eq(bs_client_stmt_bind_int32(s, 2, 1), 0);
    ck_assert_int_eq(bs_client_stmt_routing_token(s, &tok), 0);
    /* CompositeType framing: u16 len | bytes | 0 for each component */
    uint8_t key[] = {0, 4, 0, 0, 0, 5, 0, 0, 2, 'x', 'y', 0};
    ck_assert_int_eq(tok, bs_ring_partition_token(key, sizeof key));
    /* and the server agrees: token(a, b) of the stored row */
    bs_client_result *r;
    CALL_OK(bs_client_execute(c, s, &r, &err));
    bs_client_result_free(r);
    bs_client_stmt_free(s);
    bs_client_prepared_free(p);
    r = q_ok(c, "SELECT token(a, b) FROM c");
    ck_assert_int_eq(bs_client_result_next_row(r), 1);
    int64_t st;
    ck_assert_int_eq(bs_client_result_get_int64(r, 0, &st), 0);
    ck_assert_int_eq(st, tok);
    bs_client_result_free(r);
    char reps[2][64];
    size_t nr;
    ck_assert_int_eq(bs_client_replicas(c, "ks", tok, reps, 2, &nr), 0);
    ck_assert_uint_eq(nr, 1);
    ck_assert_str_eq(reps[0], srv.hostport);
    bs_client_close(c);
    srv_down();
}
END_TEST

typedef struct thr_arg {
    bs_client *c;
    int id;
    int ok;
} thr_arg;

static void *thr_main(void *p) {
    thr_arg *a = p;
    for (int i = 0; i < 50; i++) {
        char q[96];
        snprintf(q, sizeof q, "INSERT INTO ks.m (t, i) VALUES (%d, %d)", a->id,
                 i);
        bs_client_result *r = NULL;
        if (bs_client_query(a->c, q, &r, NULL) == 0) a->ok++;
        bs_client_result_free(r);
    }
    return NULL;
}

START_TEST(test_threads_share_client) {
    srv_up();
    bs_client *c = connect_default();
    make_ks(c);
    x_ok(c, "CREATE TABLE ks.m (t int, i int, PRIMARY KEY (t, i))");
    pthread_t th[4];
    thr_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i].c = c;
        args[i].id = i;
        args[i].ok = 0;
        ck_assert_int_eq(pthread_create(&th[i], NULL, thr_main, &args[i]), 0);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(args[i].ok, 50);
    ck_assert_int_eq(count_rows(c, "SELECT count(*) FROM ks.m"), 200);
    /* consistency default can change at runtime */
    ck_assert_int_eq(bs_client_set_consistency(c, BS_CL_QUORUM), 0);
    ck_assert_int_eq(bs_client_consistency(c), BS_CL_QUORUM);
    ck_assert_int_eq(bs_client_set_consistency(c, 0x77), BS_EINVAL);
    ck_assert_int_eq(count_rows(c, "SELECT count(*) FROM ks.m WHERE t = 2"),
                     50);
    bs_client_close(c);
    srv_down();
}
END_TEST

typedef struct close_state {
    atomic_int calls, closed;
} close_state;

static void on_close_cb(bs_client_result *res, const bs_client_error *err,
                        void *ud) {
    close_state *st = ud;
    atomic_fetch_add(&st->calls, 1);
    if (err->code == BS_CLIENT_ECLOSED) atomic_fetch_add(&st->closed, 1);
    bs_client_result_free(res);
}

START_TEST(test_close_completes_pending) {
    srv_up();
    bs_client *c = connect_opts(0, 30000, NULL);
    close_state st;
    atomic_init(&st.calls, 0);
    atomic_init(&st.closed, 0);
    ck_assert_int_eq(tsrv_pause(&srv), 0); /* nothing will answer */
    bs_client_stmt *s;
    ck_assert_int_eq(bs_client_stmt_new("SELECT * FROM system.local", 0, &s),
                     0);
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(bs_client_execute_async(c, s, on_close_cb, &st), 0);
    bs_client_stmt_free(s);
    bs_client_close(c);
    /* every callback ran exactly once, before close returned */
    ck_assert_int_eq(atomic_load(&st.calls), 10);
    ck_assert_int_eq(atomic_load(&st.closed), 10);
    kill(srv.pid, SIGCONT);
    srv_down();
}
END_TEST

typedef struct retry_state {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done;
    int code[2];
    int attempts[2];
} retry_state;

typedef struct retry_slot {
    retry_state *st;
    int i;
} retry_slot;

static void on_retry_cb(bs_client_result *res, const bs_client_error *err,
                        void *ud) {
    retry_slot *sl = ud;
    pthread_mutex_lock(&sl->st->mu);
    sl->st->code[sl->i] = err->code;
    sl->st->attempts[sl->i] = err->attempts;
    sl->st->done++;
    pthread_cond_broadcast(&sl->st->cv);
    pthread_mutex_unlock(&sl->st->mu);
    bs_client_result_free(res);
}

START_TEST(test_retry_idempotent_on_connection_loss) {
    srv_up();
    bs_client_config *cfg;
    ck_assert_int_eq(bs_client_config_new(&cfg), 0);
    ck_assert_int_eq(bs_client_config_add_contact_points(cfg, srv.hostport), 0);
    /* a long backoff (8..16 s with jitter) leaves the node time to come
     * back before the retry: a restarted basaltd waits for gossip to
     * settle (>= 3 s) before it serves CQL again */
    ck_assert_int_eq(bs_client_config_set_retry(cfg, 3, 16000, 16000), 0);
    ck_assert_int_eq(bs_client_config_set_request_timeout(cfg, 45000), 0);
    bs_client *c;
    bs_client_error err;
    CALL_OK(bs_client_connect(cfg, &c, &err));
    bs_client_config_free(cfg);
    make_ks(c);
    x_ok(c, "CREATE TABLE ks.t (k int PRIMARY KEY, v int)");
    x_ok(c, "INSERT INTO ks.t (k, v) VALUES (1, 1)");

    retry_state st;
    memset(&st, 0, sizeof st);
    pthread_mutex_init(&st.mu, NULL);
    pthread_cond_init(&st.cv, NULL);
    retry_slot sl[2] = {{&st, 0}, {&st, 1}};
    ck_assert_int_eq(tsrv_pause(&srv), 0);
    bs_client_stmt *rd, *wr;
    ck_assert_int_eq(
        bs_client_stmt_new("SELECT v FROM ks.t WHERE k = 1", 0, &rd), 0);
    ck_assert_int_eq(
        bs_client_stmt_new("INSERT INTO ks.t (k, v) VALUES (2, 2)", 0, &wr), 0);
    ck_assert_int_eq(bs_client_execute_async(c, rd, on_retry_cb, &sl[0]), 0);
    ck_assert_int_eq(bs_client_execute_async(c, wr, on_retry_cb, &sl[1]), 0);
    bs_client_stmt_free(rd);
    bs_client_stmt_free(wr);
    usleep(300000); /* both are sent, no answer */
    /* the node dies with both requests in flight, then restarts */
    kill(srv.pid, SIGKILL);
    waitpid(srv.pid, NULL, 0);
    srv.pid = 0;
    ck_assert_int_eq(tsrv_start(&srv), 0);
    pthread_mutex_lock(&st.mu);
    while (st.done < 2)
        pthread_cond_wait(&st.cv, &st.mu);
    pthread_mutex_unlock(&st.mu);
    /* the read (idempotent) was retried and succeeded; the write was not
     * retried */
    ck_assert_int_eq(st.code[0], 0);
    ck_assert_int_eq(st.attempts[0], 2);
    ck_assert_int_eq(st.code[1], BS_CLIENT_ECONNLOST);
    ck_assert_int_eq(st.attempts[1], 1);
    bs_client_close(c);
    pthread_mutex_destroy(&st.mu);
    pthread_cond_destroy(&st.cv);
    srv_down();
}
END_TEST

/* PasswordAuthenticator: the driver answers AUTHENTICATE with SASL PLAIN
 * (also after negotiating lz4); no or wrong credentials fail the
 * connect with the server's reason. */
START_TEST(test_credentials) {
    memset(&srv, 0, sizeof srv);
    srv.extra[0] = "--authenticator";
    srv.extra[1] = "PasswordAuthenticator";
    setenv("BASALT_INITIAL_SUPERUSER", "boss:b0ss-pw", 1);
    ck_assert_int_eq(tsrv_start(&srv), 0);
    static const struct {
        const char *user, *pw;
        int lz4;
        const char *why; /* NULL: connects */
    } cases[] = {
        {NULL, NULL, 0, "server requires authentication"},
        {"boss", "wrong", 0, "Provided username boss and/or password are incorrect"},
        {"boss", "b0ss-pw", 0, NULL},
        {"boss", "b0ss-pw", 1, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        bs_client_config *cfg;
        ck_assert_int_eq(bs_client_config_new(&cfg), 0);
        ck_assert_int_eq(bs_client_config_add_contact_points(cfg, srv.hostport), 0);
        bs_client_config_set_compression(cfg, cases[i].lz4);
        bs_client_config_set_connect_timeout(cfg, 3000);
        if (cases[i].user)
            ck_assert_int_eq(bs_client_config_set_credentials(cfg, cases[i].user, cases[i].pw),
                             0);
        bs_client *c = NULL;
        bs_client_error err;
        int rc = bs_client_connect(cfg, &c, &err);
        bs_client_config_free(cfg);
        if (cases[i].why) {
            ck_assert_msg(rc != 0, "case %zu connected", i);
            ck_assert_msg(strstr(err.message, cases[i].why), "case %zu: %s", i, err.message);
            continue;
        }
        ck_assert_msg(rc == 0, "case %zu: %s", i, err.message);
        bs_client_result_free(q_ok(c, "LIST ROLES"));
        bs_client_close(c);
    }
    /* half a pair is refused by the config */
    bs_client_config *cfg;
    ck_assert_int_eq(bs_client_config_new(&cfg), 0);
    ck_assert_int_eq(bs_client_config_set_credentials(cfg, "boss", NULL), BS_EINVAL);
    ck_assert_int_eq(bs_client_config_set_credentials(cfg, "", "x"), BS_EINVAL);
    bs_client_config_free(cfg);
    unsetenv("BASALT_INITIAL_SUPERUSER");
    srv_down();
}
END_TEST

int main(void) {
    Suite *s = suite_create("client_driver");
    TCase *tc = tcase_create("driver");
    tcase_set_timeout(tc, 90);
    tcase_add_test(tc, test_connect_discovery);
    tcase_add_test(tc, test_simple_and_ddl);
    tcase_add_test(tc, test_prepared_typed);
    tcase_add_test(tc, test_paging);
    tcase_add_test(tc, test_async_200);
    tcase_add_test(tc, test_batch);
    tcase_add_test(tc, test_ticker);
    tcase_add_test(tc, test_errors);
    tcase_add_test(tc, test_unprepared_after_restart);
    tcase_add_test(tc, test_timeout_stopped_server);
    tcase_add_test(tc, test_lz4);
    tcase_add_test(tc, test_credentials);
    tcase_add_test(tc, test_connect_failures);
    tcase_add_test(tc, test_keyspace_config_and_routing);
    tcase_add_test(tc, test_threads_share_client);
    tcase_add_test(tc, test_close_completes_pending);
    tcase_add_test(tc, test_retry_idempotent_on_connection_loss);
    tcase_add_unchecked_fixture(tc, tsrv_suite_setup, tsrv_suite_teardown);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
