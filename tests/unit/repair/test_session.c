/*
 * test_session.c - anti-entropy repair sessions (repair/session*.c) in
 * one process: three nodes of the shared harness (tests/harness/nnode.h:
 * each a bs_local with its own store + a bs_msg on a free 127.0.0.1 port,
 * over a static ring with switchable alive flags and endpoints), each
 * running a bs_repair wired by node/repair_env.c.  Keyspace "ks"
 * (SimpleStrategy rf 3) has table t; data are written straight into each
 * node's store so the replicas can be made to differ at will.
 *
 * Covers: an in-sync cluster compares every range and streams nothing;
 * a replica missing rows, holding older values and missing a tombstone
 * is repaired (all three trees equal, the newer value and the deletion
 * win on every node, streamed <= 3x differed), and a second run streams
 * nothing; the local node missing data is repaired too (it is a stream
 * target); a down replica makes its ranges fail without hanging;
 * --range restricts the ranges; unknown keyspace; a stopped service;
 * per-node checksums; an incomplete environment is refused;
 * malformed REPAIR_* requests are answered with BS_ECORRUPT.
 */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/error.h"
#include "node/repair_env.h"
#include "repair/merkle.h"
#include "repair/session.h"
#include "ring/murmur3.h"
#include "ring/strategy.h"
#include "ring/tokenmeta.h"
#include "storage/store.h"
#include "tests/harness/nnode.h"

/* the batches' "now" (seconds), fixed per test in setup */
static int64_t g_now_s;
#define NOW_S g_now_s

#define N 3
#define NKEYS 600

/* Table ks.t of each node (the nodes and their repair services: g_c). */
static bs_nnode g_c;
static bs_table *g_t[N];
static uint16_t g_vid;

static void setup(void) {
    g_now_s = (int64_t)time(NULL);
    bs_nnode_opts o;
    bs_nnode_opts_default(&o);
    o.n = N;
    o.cluster_name = "repair-test";
    o.dir_prefix = "/tmp/bs_repair_test_";
    ck_assert_msg(bs_nnode_start(&g_c, &o) == 0, "%s", g_c.err);
    ck_assert_msg(bs_nnode_create_table(&g_c, "ks", 3, 0x11) == 0, "%s",
                  g_c.err);
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(bs_store_table_get(bs_local_store(g_c.node[i].local),
                                            "ks.t", &g_t[i]),
                         0);
    bs_repair_opts ro;
    bs_repair_opts_default(&ro);
    ro.chunk_bytes = 1024;       /* several chunks per stream */
    ro.digest_batch_records = 4; /* several digest batches per range */
    ro.tree_timeout_ms = 1500;
    ro.send_timeout_ms = 20000;
    ck_assert_msg(bs_nnode_start_repair(&g_c, &ro) == 0, "%s", g_c.err);
    int vid = bs_nnode_vcol(&g_c, "ks");
    ck_assert_int_ge(vid, 0);
    g_vid = (uint16_t)vid;
}

static void teardown(void) {
    bs_nnode_stop(&g_c);
}

/* ---- helpers --------------------------------------------------------------
 */

static void key(int k, char *out) {
    snprintf(out, 16, "key%d", k);
}

/* k = v at ts on node i (v NULL: partition deletion). */
static void put(int i, int k, const char *v, int64_t ts) {
    char pk[16];
    key(k, pk);
    bs_store *s = bs_local_store(g_c.node[i].local);
    bs_batch *b;
    ck_assert_int_eq(bs_batch_new(s, &b), 0);
    /* one "now" for every replica, as the coordinator's: a tombstone's
     * local deletion time is part of the stored record */
    bs_batch_set_now(b, NOW_S);
    int64_t tok = bs_ring_partition_token(pk, strlen(pk));
    if (v) {
        bs_rowkey rk = {tok, pk, strlen(pk), NULL, 0, 0};
        ck_assert_int_eq(bs_batch_row_marker(b, g_t[i], &rk, ts, 0), 0);
        ck_assert_int_eq(bs_batch_put_cell(b, g_t[i], &rk, g_vid, NULL, 0, v,
                                           strlen(v), ts, 0),
                         0);
    } else {
        ck_assert_int_eq(
            bs_batch_delete_partition(b, g_t[i], tok, pk, strlen(pk), ts), 0);
    }
    ck_assert_int_eq(bs_store_write(s, b), 0);
    bs_batch_free(b);
}

static void put_all(int k, const char *v, int64_t ts) {
    for (int i = 0; i < N; i++)
        put(i, k, v, ts);
}

/* v of k on node i's own store ("" = no live row). */
static void local_get(int i, int k, char *out) {
    char pk[16];
    key(k, pk);
    bs_slice sl;
    memset(&sl, 0, sizeof sl);
    bs_arena a;
    bs_arena_init(&a, 0);
    bs_partv *p = NULL;
    ck_assert_int_eq(bs_store_read(g_t[i],
                                   bs_ring_partition_token(pk, strlen(pk)), pk,
                                   strlen(pk), &sl, &a, &p),
                     0);
    out[0] = 0;
    if (p && p->nrows && p->rows[0].ncells)
        snprintf(out, 64, "%.*s", (int)p->rows[0].cells[0].val_len,
                 (const char *)p->rows[0].cells[0].val);
    bs_arena_free(&a);
}

static uint64_t root(int i) {
    bs_merkle *m;
    ck_assert_int_eq(bs_merkle_build(g_t[i], 0, 0, 0, &m), 0);
    uint64_t r = bs_merkle_root(m);
    bs_merkle_free(m);
    return r;
}

static void run(int i, const bs_repair_run_opts *o, bs_repair_report *rep) {
    bs_repair_run_opts dflt;
    memset(&dflt, 0, sizeof dflt);
    dflt.keyspace = "ks";
    ck_assert_int_eq(bs_repair_run(g_c.repair[i], o ? o : &dflt, rep), 0);
}

static void fill(void) {
    char v[32];
    for (int k = 0; k < NKEYS; k++) {
        snprintf(v, sizeof v, "value-%d", k);
        put_all(k, v, 1000 + k);
    }
}

/* ---- tests -----------------------------------------------------------------
 */

START_TEST(test_in_sync_streams_nothing) {
    fill();
    ck_assert(root(0) == root(1) && root(1) == root(2));
    bs_repair_report rep;
    run(0, NULL, &rep);
    ck_assert_uint_eq(rep.tables, 1);
    ck_assert_uint_eq(rep.ranges_compared,
                      N * 4); /* rf 3 on 3 nodes: every vnode range */
    ck_assert_uint_eq(rep.ranges_in_sync, rep.ranges_compared);
    ck_assert_uint_eq(rep.ranges_mismatched, 0);
    ck_assert_uint_eq(rep.ranges_failed, 0);
    ck_assert_uint_eq(rep.rows_streamed, 0);
    ck_assert_uint_eq(rep.bytes_differed, 0);
    ck_assert_uint_eq(rep.streams, 0);
    /* the report as JSON */
    bs_buf js = BS_BUF_INIT;
    ck_assert_int_eq(bs_repair_report_json(&rep, &js), 0);
    ck_assert_ptr_nonnull(memmem(js.data, js.len, "\"ranges_in_sync\":12", 19));
    ck_assert_ptr_nonnull(memmem(js.data, js.len, "\"error\":null}", 13));
    /* the history row: the same report, newest session first */
    bs_repair_report rep2;
    run(0, NULL, &rep2);
    bs_buf h = BS_BUF_INIT;
    ck_assert_int_eq(bs_repair_history(g_c.repair[0], 20, &h), 0);
    char sid1[37], sid2[37];
    bs_uuid_format(&rep.session, sid1);
    bs_uuid_format(&rep2.session, sid2);
    const uint8_t *p1 = memmem(h.data, h.len, sid1, 36);
    const uint8_t *p2 = memmem(h.data, h.len, sid2, 36);
    ck_assert_ptr_nonnull(p1);
    ck_assert_ptr_nonnull(p2);
    ck_assert(p2 < p1);
    ck_assert_ptr_nonnull(
        memmem(h.data, h.len, "{\"what\":\"ks.*\",\"report\":{", 25));
    bs_buf_reset(&h);
    ck_assert_int_eq(bs_repair_history(g_c.repair[0], 1, &h), 0);
    ck_assert_ptr_null(memmem(h.data, h.len, sid1, 36));
    bs_buf_reset(&h);
    ck_assert_int_eq(bs_repair_history(g_c.repair[1], 20, &h),
                     0); /* ran none */
    ck_assert_uint_eq(h.len, strlen("{\"sessions\":[]}"));
    ck_assert(!memcmp(h.data, "{\"sessions\":[]}", h.len));
    bs_buf_free(&h);
    bs_buf_free(&js);
}
END_TEST

START_TEST(test_stale_replica_repaired) {
    fill();
    /* node 2 missed: 50 updates, 20 deletions and 10 new rows */
    char v[32];
    for (int k = 0; k < 100; k += 2) {
        snprintf(v, sizeof v, "new-%d", k);
        put(0, k, v, 5000 + k);
        put(1, k, v, 5000 + k);
    }
    for (int k = 1; k < 100; k += 5) {
        put(0, k, NULL, 6000);
        put(1, k, NULL, 6000);
    }
    for (int k = NKEYS; k < NKEYS + 10; k++) {
        put(0, k, "fresh", 7000);
        put(1, k, "fresh", 7000);
    }
    ck_assert(root(0) == root(1));
    ck_assert(root(0) != root(2));
    bs_repair_report rep;
    run(0, NULL, &rep);
    ck_assert_uint_eq(rep.ranges_failed, 0);
    ck_assert_uint_gt(rep.ranges_mismatched, 0);
    ck_assert_uint_eq(rep.ranges_compared,
                      rep.ranges_in_sync + rep.ranges_mismatched);
    /* 50 updates: old + new version of the cell and a row marker each
     * (2 * 2 * 50); 20 partition tombstones; 10 new rows (marker + cell) */
    ck_assert_uint_eq(rep.rows_differed, 200 + 20 + 20);
    ck_assert_uint_ge(rep.rows_streamed,
                      140); /* at least everything node 2 lacked */
    ck_assert_uint_le(rep.bytes_streamed, 3 * rep.bytes_differed);
    ck_assert(root(0) == root(2));
    ck_assert(root(1) == root(2));
    char got[64];
    for (int i = 0; i < N; i++) {
        local_get(i, 0, got);
        ck_assert_str_eq(got, "new-0");
        local_get(i, 1, got); /* deleted */
        ck_assert_str_eq(got, "");
        local_get(i, 3, got); /* untouched */
        ck_assert_str_eq(got, "value-3");
        local_get(i, NKEYS + 4, got);
        ck_assert_str_eq(got, "fresh");
    }
    uint64_t r = root(0);
    bs_repair_report again;
    run(1, NULL, &again);
    ck_assert_uint_eq(again.ranges_mismatched, 0);
    ck_assert_uint_eq(again.rows_streamed, 0);
    ck_assert(root(0) == r && root(1) == r && root(2) == r);
}
END_TEST

START_TEST(test_initiator_is_stale) {
    fill();
    for (int k = 0; k < 30; k++) {
        put(1, k, "newer", 9000);
        put(2, k, "newer", 9000);
    }
    put(2, 500, NULL, 9500); /* only node 2 saw this deletion */
    bs_repair_report rep;
    run(0, NULL, &rep);
    ck_assert_uint_eq(rep.ranges_failed, 0);
    ck_assert(root(0) == root(1) && root(1) == root(2));
    char got[64];
    for (int i = 0; i < N; i++) {
        local_get(i, 7, got);
        ck_assert_str_eq(got, "newer");
        local_get(i, 500, got);
        ck_assert_str_eq(got, "");
    }
}
END_TEST

START_TEST(test_down_replica_fails_ranges) {
    fill();
    put(0, 5, "x", 99999);
    bs_nnode_set_alive(&g_c, 2, 0);
    bs_repair_report rep;
    run(0, NULL, &rep);
    ck_assert_uint_eq(rep.ranges_failed, N * 4);
    ck_assert_uint_eq(rep.ranges_compared, 0);
    ck_assert_uint_eq(rep.rows_streamed, 0);
    ck_assert_ptr_nonnull(strstr(rep.first_error, "unavailable"));
    /* a replica whose address is unknown is not skipped: its ranges fail */
    bs_nnode_set_alive(&g_c, 2, 1);
    bs_nnode_set_noaddr(&g_c, 2, 1);
    run(0, NULL, &rep);
    ck_assert_uint_eq(rep.ranges_failed, N * 4);
    ck_assert_uint_eq(rep.ranges_compared, 0);
    ck_assert_ptr_nonnull(strstr(rep.first_error, "endpoint"));
    bs_nnode_set_noaddr(&g_c, 2, 0);
    /* alive per the detector, but its messaging is gone: trees time out or
     * fail, the session still ends and reports every range failed */
    bs_nnode_set_alive(&g_c, 2, 1);
    bs_repair_stop(g_c.repair[2]);
    bs_nnode_msg_stop(&g_c, 2);
    run(0, NULL, &rep);
    ck_assert_uint_eq(rep.ranges_failed, N * 4);
    ck_assert_uint_eq(rep.ranges_compared, 0);
    /* nodes 0 and 1 were not repaired with each other either (same ranges) */
    ck_assert(root(0) != root(1));
}
END_TEST

START_TEST(test_range_and_errors) {
    fill();
    bs_repair_run_opts o;
    memset(&o, 0, sizeof o);
    o.keyspace = "ks";
    o.has_range = 1;
    o.range_start = 0;
    o.range_end = INT64_MAX / 2;
    bs_repair_report rep;
    run(0, &o, &rep);
    ck_assert_uint_gt(rep.ranges_compared, 0);
    ck_assert_uint_lt(rep.ranges_compared, N * 4);
    ck_assert_uint_eq(rep.ranges_in_sync, rep.ranges_compared);
    /* a key outside the range differs: not repaired by a range-limited run */
    int64_t t = bs_ring_partition_token("key7", 4);
    int inside = t > 0 && t <= INT64_MAX / 2;
    put(2, 7, "outlier", 123456);
    run(0, &o, &rep);
    ck_assert_uint_eq(rep.ranges_mismatched > 0, inside);
    ck_assert_uint_eq(root(0) == root(2), inside);

    o.keyspace = "nope";
    ck_assert_int_eq(bs_repair_run(g_c.repair[0], &o, &rep), BS_ENOTFOUND);
    o.keyspace = "ks";
    o.table = "nope";
    ck_assert_int_eq(bs_repair_run(g_c.repair[0], &o, &rep), BS_ENOTFOUND);
    o.keyspace = NULL;
    ck_assert_int_eq(bs_repair_run(g_c.repair[0], &o, &rep), BS_EINVAL);
    /* primary ranges only: each node repairs its own 4 vnode ranges, and
     * the three sessions together cover the ring once */
    memset(&o, 0, sizeof o);
    o.keyspace = "ks";
    o.primary_only = 1;
    uint64_t total = 0;
    for (int i = 0; i < N; i++) {
        run(i, &o, &rep);
        ck_assert_uint_eq(rep.ranges_compared + rep.ranges_failed, 4);
        total += rep.ranges_compared;
    }
    ck_assert_uint_eq(total, N * 4);
    ck_assert(root(0) == root(2)); /* key7's range was among them */
    /* a stopped service runs no session */
    o.keyspace = "ks";
    o.table = NULL;
    bs_repair_stop(g_c.repair[0]);
    ck_assert_int_eq(bs_repair_run(g_c.repair[0], &o, &rep), BS_ECLOSED);
}
END_TEST

START_TEST(test_checksum) {
    fill();
    bs_buf b = BS_BUF_INIT;
    ck_assert_int_eq(bs_repair_checksum(g_c.repair[1], "ks", "t", &b), 0);
    char want[40];
    snprintf(want, sizeof want, "\"checksum\":\"%016llx\"",
             (unsigned long long)root(0));
    /* the same checksum three times (once per node) */
    int count = 0;
    for (const uint8_t *p = b.data;
         (p = memmem(p, b.len - (size_t)(p - b.data), want, strlen(want))); p++)
        count++;
    ck_assert_int_eq(count, 3);
    ck_assert_ptr_nonnull(
        memmem(b.data, b.len, "\"rows\":1200", 11)); /* marker + cell */
    bs_buf_reset(&b);
    bs_nnode_set_alive(&g_c, 0, 0);
    ck_assert_int_eq(bs_repair_checksum(g_c.repair[1], NULL, NULL, &b), 0);
    ck_assert_ptr_nonnull(
        memmem(b.data, b.len, "\"error\":\"unavailable\"", 21));
    bs_buf_reset(&b);
    ck_assert_int_eq(bs_repair_checksum(g_c.repair[1], "nope", NULL, &b),
                     BS_ENOTFOUND);
    bs_buf_free(&b);
}
END_TEST

/* ---- malformed requests ----------------------------------------------------
 */

/* Scheduled repair: a service with an interval repairs its primary ranges
 * by itself (polled through the history it writes; bounded wait). */
START_TEST(test_scheduled_repair) {
    fill();
    put(2, 11, "stale-fix", 777777); /* only node 2 has this version */
    bs_coord_membership mem;
    bs_nnode_membership(&g_c, &mem);
    bs_repair_opts ro;
    bs_repair_opts_default(&ro);
    ro.schedule_interval_ms = 50;
    ro.tree_timeout_ms = 1500;
    /* node 0's service replaced by a scheduled one */
    bs_repair_stop(g_c.repair[0]);
    bs_repair_free(g_c.repair[0]);
    g_c.repair[0] = NULL;
    ck_assert_int_eq(bs_node_repair_new(&ro, g_c.node[0].local, g_c.node[0].msg,
                                        &mem, &g_c.repair[0]),
                     0);
    int sessions = 0;
    bs_buf h = BS_BUF_INIT;
    for (int tries = 0; tries < 500 && sessions < 2; tries++) {
        usleep(20000);
        bs_buf_reset(&h);
        ck_assert_int_eq(bs_repair_history(g_c.repair[0], 10, &h), 0);
        sessions = 0;
        for (const uint8_t *p = h.data;
             p && (p = memmem(p, h.len - (size_t)(p - h.data), "\"what\":", 7));
             p++)
            sessions++;
    }
    ck_assert_int_ge(sessions, 2);
    /* primary ranges of node 0 only: 4 vnode ranges per session */
    ck_assert_ptr_nonnull(memmem(h.data, h.len, "\"ranges_compared\":4,", 20));
    bs_buf_free(&h);
    bs_repair_stop(g_c.repair[0]); /* joins the scheduler */
    /* key 11 is fixed on node 0 iff its range is one of node 0's */
    char got[64];
    local_get(0, 11, got);
    const uint32_t *nodes;
    size_t nn;
    bs_ring_replica_map *map;
    bs_ring_strategy *st;
    ck_assert_int_eq(bs_ring_strategy_simple(3, &st), 0);
    ck_assert_int_eq(bs_ring_replica_map_build(g_c.ring, st, &map), 0);
    bs_ring_strategy_free(st);
    ck_assert_int_eq(bs_ring_replica_map_lookup(
                         map, bs_ring_partition_token("key11", 5), &nodes, &nn),
                     0);
    uint32_t self;
    ck_assert_int_eq(bs_ring_snapshot_find_node(g_c.ring, &g_c.host[0], &self),
                     0);
    ck_assert_str_eq(got, nodes[0] == self ? "stale-fix" : "value-11");
    bs_ring_replica_map_release(map);
}
END_TEST

/* The service checks its environment; when it refuses one the caller
 * still owns it (released here once: ASan sees a leak or a double free). */
START_TEST(test_env_checked) {
    bs_repair *r = NULL;
    ck_assert_int_eq(bs_repair_new(NULL, NULL, &r), BS_EINVAL);
    bs_coord_membership mem;
    bs_nnode_membership(&g_c, &mem);
    bs_repair_env env;
    ck_assert_int_eq(
        bs_node_repair_env(g_c.node[0].local, g_c.node[0].msg, &mem, &env), 0);
    ck_assert(!memcmp(env.self.b, g_c.host[0].b, 16));
    bs_repair_env partial = env;
    partial.catalog = NULL;
    ck_assert_int_eq(bs_repair_new(NULL, &partial, &r), BS_EINVAL);
    partial = env;
    partial.serve = NULL;
    ck_assert_int_eq(bs_repair_new(NULL, &partial, &r), BS_EINVAL);
    ck_assert_ptr_null(r);
    env.release(env.ud);
    mem.alive = NULL;
    ck_assert_int_eq(
        bs_node_repair_env(g_c.node[0].local, g_c.node[0].msg, &mem, &env),
        BS_EINVAL);
}
END_TEST

typedef struct answer {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done, status;
} answer;

static void on_answer(void *ud, int status, const uint8_t *p, size_t len) {
    (void)p;
    (void)len;
    answer *a = ud;
    pthread_mutex_lock(&a->mu);
    a->status = status;
    a->done = 1;
    pthread_cond_signal(&a->cv);
    pthread_mutex_unlock(&a->mu);
}

static int ask(uint8_t verb, const void *p, size_t len) {
    answer a;
    memset(&a, 0, sizeof a);
    pthread_mutex_init(&a.mu, NULL);
    pthread_cond_init(&a.cv, NULL);
    ck_assert_int_eq(bs_msg_send(g_c.node[0].msg, &g_c.peer[1], verb, p, len,
                                 5000, on_answer, &a),
                     0);
    pthread_mutex_lock(&a.mu);
    while (!a.done)
        pthread_cond_wait(&a.cv, &a.mu);
    pthread_mutex_unlock(&a.mu);
    pthread_mutex_destroy(&a.mu);
    pthread_cond_destroy(&a.cv);
    return a.status;
}

START_TEST(test_malformed_requests) {
    const uint8_t empty[1] = {0};
    ck_assert_int_eq(ask(BS_VERB_REPAIR_TREE, empty, 0), BS_ECORRUPT);
    /* name length 4 "ks.t", then a range count far beyond the bytes */
    const uint8_t huge[] = {0, 4, 'k', 's', '.', 't', 0xff, 0xff, 0xff, 0xff};
    ck_assert_int_eq(ask(BS_VERB_REPAIR_DIGESTS, huge, sizeof huge),
                     BS_ECORRUPT);
    /* one range, depth 200 */
    uint8_t tree[6 + 4 + 16 + 1] = {0, 4, 'k', 's', '.', 't', 0, 0, 0, 1};
    tree[sizeof tree - 1] = 200;
    ck_assert_int_eq(ask(BS_VERB_REPAIR_TREE, tree, sizeof tree), BS_ECORRUPT);
    /* depth 3 is fine; unknown table */
    tree[sizeof tree - 1] = 3;
    ck_assert_int_eq(ask(BS_VERB_REPAIR_TREE, tree, sizeof tree), 0);
    tree[2] = 'x';
    ck_assert_int_eq(ask(BS_VERB_REPAIR_TREE, tree, sizeof tree), BS_ENOTFOUND);
    /* a stream chunk with a bad checksum */
    uint8_t chunk[6 + 4 + 16] = {0, 4, 'k', 's', '.', 't', 0,
                                 0, 0, 0,   'B', 'S', 'C', '1'};
    ck_assert_int_eq(ask(BS_VERB_REPAIR_STREAM, chunk, sizeof chunk),
                     BS_ECORRUPT);
    /* SEND with a truncated target address */
    const uint8_t send[] = {0, 4, 'k', 's', '.', 't', 0, 0, 0, 0, 0, 9, '1'};
    ck_assert_int_eq(ask(BS_VERB_REPAIR_SEND, send, sizeof send), BS_ECORRUPT);
}
END_TEST

int main(void) {
    Suite *s = suite_create("repair");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_in_sync_streams_nothing);
    tcase_add_test(tc, test_env_checked);
    tcase_add_test(tc, test_stale_replica_repaired);
    tcase_add_test(tc, test_initiator_is_stale);
    tcase_add_test(tc, test_down_replica_fails_ranges);
    tcase_add_test(tc, test_range_and_errors);
    tcase_add_test(tc, test_checksum);
    tcase_add_test(tc, test_malformed_requests);
    tcase_add_test(tc, test_scheduled_repair);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int nf = srunner_ntests_failed(r);
    srunner_free(r);
    return nf ? 1 : 0;
}
