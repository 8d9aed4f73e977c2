/*
 * test_movement.c - range movement (repair/movement.c) in one process:
 * three nodes of the shared harness (tests/harness/nnode.h) with a repair
 * service each; keyspace "ks" has SimpleStrategy rf 1, so every range has
 * one owner and a topology change moves whole ranges.
 *
 * Covers: bootstrap - node 2 joins (the ring lacks it, the future ring
 * has it) and pulls exactly the keys it gains from their current owners,
 * values intact; a second run skips every range the resume hook says
 * arrived; the source of a range being down fails the session with a
 * message that names the way out (consistent_range_movement); the
 * progress JSON.  Decommission - node 2 leaves and pushes every key it
 * owned to its new owner.  Stream sessions - chunks that name a session
 * id the target does not wait for (a request of its previous run) are
 * refused and stop the sender; a registered id (its chunks buffered in
 * SST files, ingested when the stream ends) and no id are accepted.
 * Rebuild - an unknown source datacenter is named.
 */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/error.h"
#include "repair/movement.h"
#include "repair/session.h"
#include "repair/session_int.h" /* stream session ids */
#include "ring/murmur3.h"
#include "ring/strategy.h"
#include "ring/tokenmeta.h"
#include "storage/store.h"
#include "tests/harness/nnode.h"

#define N 3
#define NKEYS 300

static bs_nnode g_c;
static bs_table *g_t[N];
static uint16_t g_vid;

static uint64_t g_throughput; /* repair's stream_throughput_bytes */

static void setup(void) {
    bs_nnode_opts o;
    bs_nnode_opts_default(&o);
    o.n = N;
    o.cluster_name = "movement-test";
    o.dir_prefix = "/tmp/bs_movement_test_";
    ck_assert_msg(bs_nnode_start(&g_c, &o) == 0, "%s", g_c.err);
    ck_assert_msg(bs_nnode_create_table(&g_c, "ks", 1, 0x11) == 0, "%s", g_c.err);
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(bs_store_table_get(bs_local_store(g_c.node[i].local), "ks.t", &g_t[i]),
                         0);
    bs_repair_opts ro;
    bs_repair_opts_default(&ro);
    ro.chunk_bytes = 2048; /* several chunks per range */
    ro.send_timeout_ms = 20000;
    ro.stream_throughput_bytes = g_throughput;
    ck_assert_msg(bs_nnode_start_repair(&g_c, &ro) == 0, "%s", g_c.err);
    int vid = bs_nnode_vcol(&g_c, "ks");
    ck_assert_int_ge(vid, 0);
    g_vid = (uint16_t)vid;
}

static void teardown(void) { bs_nnode_stop(&g_c); }

static void key(int k, char *out) { snprintf(out, 16, "key%d", k); }

static void put(int i, int k, const char *v) {
    char pk[16];
    key(k, pk);
    bs_store *s = bs_local_store(g_c.node[i].local);
    bs_batch *b;
    ck_assert_int_eq(bs_batch_new(s, &b), 0);
    int64_t tok = bs_ring_partition_token(pk, strlen(pk));
    bs_rowkey rk = {tok, pk, strlen(pk), NULL, 0, 0};
    ck_assert_int_eq(bs_batch_row_marker(b, g_t[i], &rk, 100, 0), 0);
    ck_assert_int_eq(bs_batch_put_cell(b, g_t[i], &rk, g_vid, NULL, 0, v, strlen(v), 100, 0), 0);
    ck_assert_int_eq(bs_store_write(s, b), 0);
    bs_batch_free(b);
}

static void local_get(int i, int k, char *out) {
    char pk[16];
    key(k, pk);
    bs_slice sl;
    memset(&sl, 0, sizeof sl);
    bs_arena a;
    bs_arena_init(&a, 0);
    bs_partv *p = NULL;
    ck_assert_int_eq(
        bs_store_read(g_t[i], bs_ring_partition_token(pk, strlen(pk)), pk, strlen(pk), &sl, &a, &p),
        0);
    out[0] = 0;
    if (p && p->nrows && p->rows[0].ncells)
        snprintf(out, 64, "%.*s", (int)p->rows[0].cells[0].val_len,
                 (const char *)p->rows[0].cells[0].val);
    bs_arena_free(&a);
}

/* The node (index into g_c) owning key k in ring r (rf 1). */
static int owner(const bs_ring_snapshot *r, int k) {
    char pk[16];
    key(k, pk);
    bs_ring_strategy *st;
    bs_ring_replica_map *m;
    ck_assert_int_eq(bs_ring_strategy_simple(1, &st), 0);
    ck_assert_int_eq(bs_ring_replica_map_build(r, st, &m), 0);
    const uint32_t *nodes;
    size_t n;
    ck_assert_int_eq(bs_ring_replica_map_lookup(m, bs_ring_partition_token(pk, strlen(pk)), &nodes, &n), 0);
    ck_assert_uint_eq(n, 1);
    bs_ring_node_desc d;
    ck_assert_int_eq(bs_ring_snapshot_node(r, nodes[0], &d), 0);
    int who = -1;
    for (int i = 0; i < N; i++)
        if (!memcmp(d.host_id.b, g_c.host[i].b, 16)) who = i;
    bs_ring_replica_map_release(m);
    bs_ring_strategy_free(st);
    return who;
}

static int always_done(void *ud, const char *cf, int64_t s, int64_t e) {
    (void)cf;
    (void)s;
    (void)e;
    (*(int *)ud)++;
    return 1;
}

START_TEST(bootstrap_pulls_exactly_the_gained_ranges) {
    ck_assert_int_eq(bs_nnode_set_change(&g_c, 2, 0), 0);
    for (int k = 0; k < NKEYS; k++) { /* each key on its current owner */
        char v[16];
        snprintf(v, sizeof v, "v%d", k);
        put(owner(g_c.ring, k), k, v);
    }
    bs_movement_opts o = {BS_MOVE_BOOTSTRAP, g_c.future, 1, NULL, NULL, NULL};
    bs_movement_report rep;
    ck_assert_msg(bs_repair_move(g_c.repair[2], &o, &rep) == 0, "%s", rep.error);
    ck_assert_uint_gt(rep.ranges_total, 0);
    ck_assert_uint_eq(rep.ranges_done, rep.ranges_total);
    ck_assert_int_eq(rep.repair_needed, 0);
    int gained = 0;
    for (int k = 0; k < NKEYS; k++) {
        char v[64], want[16];
        local_get(2, k, v);
        snprintf(want, sizeof want, "v%d", k);
        if (owner(g_c.future, k) == 2) {
            ck_assert_msg(!strcmp(v, want), "key %d: node 2 has '%s'", k, v);
            gained++;
        } else {
            ck_assert_msg(!strcmp(v, ""), "key %d streamed to node 2, not its range", k);
        }
    }
    /* something moved (how much depends on the random tokens of the
     * three nodes: 8 % of the keys in one CI run, so no fixed share) */
    ck_assert_int_gt(gained, 0);
    ck_assert_uint_gt(rep.rows, 0);
    /* prepare asked the sources: exactly what then arrived */
    ck_assert_uint_eq(rep.bytes_total, rep.bytes);
    bs_buf j = BS_BUF_INIT;
    ck_assert_int_eq(bs_repair_streams_json(g_c.repair[2], &j), 0);
    ck_assert_int_eq(bs_buf_append_u8(&j, 0), 0);
    ck_assert_ptr_nonnull(strstr((const char *)j.data, "\"phase\":\"complete\""));
    bs_buf_free(&j);
    /* resumed: every range already there is skipped */
    int asked = 0;
    bs_movement_opts o2 = {BS_MOVE_BOOTSTRAP, g_c.future, 1, always_done, NULL, &asked};
    ck_assert_int_eq(bs_repair_move(g_c.repair[2], &o2, &rep), 0);
    ck_assert_uint_eq(rep.ranges_done, 0);
    ck_assert_uint_eq(rep.ranges_skipped, rep.ranges_total);
    ck_assert_int_eq(asked, (int)rep.ranges_total);
}
END_TEST

START_TEST(bootstrap_source_down_fails_clearly) {
    ck_assert_int_eq(bs_nnode_set_change(&g_c, 2, 0), 0);
    /* the current owner of a key node 2 gains (tokens are random) */
    int src = -1;
    for (int k = 0; k < NKEYS && src < 0; k++)
        if (owner(g_c.future, k) == 2) src = owner(g_c.ring, k);
    ck_assert_int_ge(src, 0);
    bs_nnode_set_alive(&g_c, src, 0);
    bs_movement_opts o = {BS_MOVE_BOOTSTRAP, g_c.future, 1, NULL, NULL, NULL};
    bs_movement_report rep;
    ck_assert_int_eq(bs_repair_move(g_c.repair[2], &o, &rep), BS_EUNAVAIL);
    ck_assert_msg(strstr(rep.error, "consistent_range_movement") != NULL, "%s", rep.error);
    ck_assert_uint_eq(rep.ranges_done, 0);
}
END_TEST

static void setup_slow(void) {
    g_throughput = 2048; /* a chunk a second: the streams take seconds */
    setup();
}

static void teardown_slow(void) {
    teardown();
    g_throughput = 0;
}

typedef struct move_arg {
    bs_repair *r;
    bs_movement_opts o;
    bs_movement_report rep;
    int rc;
    atomic_int done;
} move_arg;

static void *move_thread(void *ud) {
    move_arg *a = ud;
    a->rc = bs_repair_move(a->r, &a->o, &a->rep);
    atomic_store(&a->done, 1);
    return NULL;
}

/* Node 2 joins: every key, with a 500-byte value of c (in big), on its
 * owner; the bootstrap runs on a thread, into *a. */
static pthread_t start_big_bootstrap(char big[501], char c, move_arg *a) {
    ck_assert_int_eq(bs_nnode_set_change(&g_c, 2, 0), 0);
    memset(big, c, 500);
    big[500] = 0;
    for (int k = 0; k < NKEYS; k++) put(owner(g_c.ring, k), k, big);
    memset(a, 0, sizeof *a);
    a->r = g_c.repair[2];
    a->o = (bs_movement_opts){BS_MOVE_BOOTSTRAP, g_c.future, 1, NULL, NULL, NULL};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, move_thread, a), 0);
    return th;
}

/* A source the failure detector convicts while it streams fails the
 * bootstrap at once with a message naming it, instead of the stream
 * going on (or the call waiting for its whole timeout): the source here
 * is alive and still sending, only the verdict changes. */
START_TEST(bootstrap_source_convicted_mid_stream_fails) {
    char big[501];
    move_arg a;
    pthread_t th = start_big_bootstrap(big, 'x', &a);
    /* wait for the first range to start streaming */
    for (int i = 0; i < 200; i++) {
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
        bs_buf b = BS_BUF_INIT;
        ck_assert_int_eq(bs_repair_streams_json(g_c.repair[2], &b), 0);
        ck_assert_int_eq(bs_buf_append_u8(&b, 0), 0);
        int streaming = strstr((const char *)b.data, "\"phase\": \"stream\"") != NULL ||
                        strstr((const char *)b.data, "\"phase\":\"stream\"") != NULL;
        bs_buf_free(&b);
        if (streaming) break;
    }
    for (int i = 0; i < 2; i++) bs_nnode_set_alive(&g_c, i, 0);
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    for (int i = 0; i < 2; i++) bs_nnode_set_alive(&g_c, i, 1);
    ck_assert_int_eq(a.rc, BS_EUNAVAIL);
    ck_assert_msg(strstr(a.rep.error, "that node is down") != NULL, "%s", a.rep.error);
    ck_assert_uint_lt(a.rep.ranges_done, a.rep.ranges_total);
}
END_TEST

/* The stream rate changes at run time (basalt-admin setstreamthroughput):
 * a bootstrap whose sources stream at 1 byte a second - days for one
 * chunk - is held there, and finishes once the sources are set to
 * unthrottled, with every gained key on the new node. */
START_TEST(stream_rate_changed_while_streaming) {
    for (int i = 0; i < N; i++) {
        bs_repair_set_stream_throughput(g_c.repair[i], 1);
        ck_assert_uint_eq(bs_repair_stream_throughput(g_c.repair[i]), 1);
    }
    char big[501];
    move_arg a;
    pthread_t th = start_big_bootstrap(big, 'y', &a);
    /* the first chunks arrive, then the throttle holds the rest */
    for (int i = 0; i < 400 && !atomic_load(&g_c.repair[2]->rx_bytes); i++) {
        struct timespec ts = {0, 25 * 1000000L};
        nanosleep(&ts, NULL);
    }
    ck_assert_uint_gt(atomic_load(&g_c.repair[2]->rx_bytes), 0);
    struct timespec hold = {1, 0};
    nanosleep(&hold, NULL);
    ck_assert_int_eq(atomic_load(&a.done), 0);
    for (int i = 0; i < N; i++) bs_repair_set_stream_throughput(g_c.repair[i], 0);
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    ck_assert_msg(a.rc == 0, "%s", a.rep.error);
    ck_assert_uint_eq(a.rep.ranges_done, a.rep.ranges_total);
    int gained = 0;
    for (int k = 0; k < NKEYS; k++) {
        if (owner(g_c.future, k) != 2) continue;
        char v[64]; /* local_get keeps the first 63 bytes */
        local_get(2, k, v);
        ck_assert_msg(strlen(v) == 63 && !strncmp(v, big, 63), "key %d missing on node 2", k);
        gained++;
    }
    ck_assert_int_gt(gained, 0);
}
END_TEST

START_TEST(decommission_pushes_every_owned_key) {
    ck_assert_int_eq(bs_nnode_set_change(&g_c, 2, 1), 0);
    for (int k = 0; k < NKEYS; k++)
        if (owner(g_c.ring, k) == 2) put(2, k, "mine");
    bs_movement_opts o = {BS_MOVE_DECOMMISSION, g_c.future, 1, NULL, NULL, NULL};
    bs_movement_report rep;
    ck_assert_msg(bs_repair_move(g_c.repair[2], &o, &rep) == 0, "%s", rep.error);
    int moved = 0;
    for (int k = 0; k < NKEYS; k++) {
        if (owner(g_c.ring, k) != 2) continue;
        int to = owner(g_c.future, k);
        ck_assert_int_ne(to, 2);
        char v[64];
        local_get(to, k, v);
        ck_assert_msg(!strcmp(v, "mine"), "key %d missing on its new owner %d", k, to);
        moved++;
    }
    ck_assert_int_gt(moved, 0);
    ck_assert_uint_eq(rep.rows, 2 * (uint64_t)moved); /* marker + cell */
    ck_assert_uint_gt(rep.bytes, 0);
    ck_assert_uint_eq(rep.bytes_total, rep.bytes);
}
END_TEST

/* Node 0 streams every key it holds to node 2 with session id sess. */
static int stream_0_to_2(uint64_t sess, uint64_t res[3]) {
    bs_repair_peer to;
    memset(&to, 0, sizeof to);
    snprintf(to.addr, sizeof to.addr, "%s", g_c.peer[2].addr);
    to.port = g_c.peer[2].port;
    int64_t s = INT64_MIN, e = INT64_MAX;
    return bs__repair_do_send(g_c.repair[0], "ks.t", &s, &e, 1, &to, NULL, 0, sess, res);
}

START_TEST(stale_stream_session_refused) {
    for (int k = 0; k < 50; k++) put(0, k, "old-run");
    uint64_t res[3] = {0, 0, 0};
    bs_repair_stats st;
    /* an id node 2 never asked for (or asked for before a restart) */
    ck_assert_int_eq(stream_0_to_2(0x1234567890abcdefULL, res), BS_ECANCELED);
    char v[64];
    for (int k = 0; k < 50; k++) {
        local_get(2, k, v);
        ck_assert_msg(!strcmp(v, ""), "key %d landed from a stale session", k);
    }
    bs_repair_get_stats(g_c.repair[2], &st);
    ck_assert_uint_eq(st.stale_chunks, 1); /* the first chunk stopped it */
    /* the id of a request node 2 is waiting for */
    uint64_t id = bs__repair_rx_begin(g_c.repair[2], "ks.t");
    ck_assert_uint_ne(id, 0);
    ck_assert_int_eq(stream_0_to_2(id, res), 0);
    ck_assert_uint_eq(res[0], 100); /* marker + cell per key */
    /* stream_ingest_sst (the default): in SST files until the end */
    local_get(2, 7, v);
    ck_assert_str_eq(v, "");
    ck_assert_int_eq(bs__repair_rx_end(g_c.repair[2], id, 1), 0);
    local_get(2, 7, v);
    ck_assert_str_eq(v, "old-run");
    /* once ended, the same id is refused again */
    ck_assert_int_eq(stream_0_to_2(id, res), BS_ECANCELED);
    /* no id (repair, decommission pushes): accepted */
    ck_assert_int_eq(stream_0_to_2(0, res), 0);
    bs_repair_get_stats(g_c.repair[2], &st);
    ck_assert_uint_eq(st.stale_chunks, 2);
}
END_TEST

START_TEST(rebuild_unknown_dc_named) {
    char err[300];
    ck_assert_int_eq(bs_repair_check_source_dc(g_c.repair[2], "dc9", err, sizeof err),
                     BS_ENOTFOUND);
    ck_assert_msg(strstr(err, "unknown datacenter 'dc9'") != NULL, "%s", err);
    bs_movement_opts o;
    memset(&o, 0, sizeof o);
    o.kind = BS_MOVE_REBUILD;
    o.source_dc = "dc9";
    bs_movement_report rep;
    ck_assert_int_eq(bs_repair_move(g_c.repair[2], &o, &rep), BS_ENOTFOUND);
    ck_assert_msg(strstr(rep.error, "unknown datacenter 'dc9'") != NULL, "%s", rep.error);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("movement");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, bootstrap_pulls_exactly_the_gained_ranges);
    tcase_add_test(tc, bootstrap_source_down_fails_clearly);
    tcase_add_test(tc, decommission_pushes_every_owned_key);
    tcase_add_test(tc, stale_stream_session_refused);
    tcase_add_test(tc, rebuild_unknown_dc_named);
    suite_add_tcase(s, tc);
    TCase *slow = tcase_create("slow");
    tcase_set_timeout(slow, 60);
    tcase_add_checked_fixture(slow, setup_slow, teardown_slow);
    tcase_add_test(slow, bootstrap_source_convicted_mid_stream_fails);
    tcase_add_test(slow, stream_rate_changed_while_streaming);
    suite_add_tcase(s, slow);
    return s;
}

int main(void) {
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
