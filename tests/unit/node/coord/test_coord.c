/*
 * test_coord.c - the replicated coordinator in one process: three nodes
 * of the shared harness (tests/harness/nnode.h: each a bs_local with its
 * own store directory + a bs_msg on a free 127.0.0.1 port, over a static
 * ring with switchable alive flags and endpoints), each running a
 * bs_coord.  Keyspace "ks" has SimpleStrategy rf 3 and "ks1"
 * rf 1; both have table t (k text PRIMARY KEY, v text).
 *
 * Covers: QUORUM writes reach all replicas; Unavailable (required/alive)
 * with one and two nodes down; WriteTimeout (received/blockfor) from a
 * replica that is "alive" but never answers; blocking read repair of a
 * stale replica (values and deletions); hints for a down replica replayed
 * when it returns, surviving a coordinator restart; hints disabled; CL ANY
 * with only a hint; range scans that cross nodes, with paging cursors;
 * while node 2 joins (a future ring), writes of the ranges it gains also
 * reach it and wait for its ack too (blockFor + pending: Unavailable at
 * ONE when it is down), writes of other ranges do not.
 */
#include <check.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/error.h"
#include "node/coord/coord.h"
#include "query/proto.h"
#include "ring/murmur3.h"
#include "ring/pending.h"
#include "ring/strategy.h"
#include "ring/tokenmeta.h"
#include "tests/harness/nnode.h"

#define N 3

/* The coordinator of each node (the nodes themselves: g_c). */
typedef struct node {
    bs_coord *coord;
    bs_exec_backend be; /* the coordinator's */
} node;

static bs_nnode g_c;
static node g_n[N];
static int g_hints_enabled = 1;
static uint16_t g_vid;

static void set_alive(int i, int a) { bs_nnode_set_alive(&g_c, i, a); }

/* ---- cluster setup ------------------------------------------------------- */

static void start_coord(int i, uint32_t write_timeout_ms) {
    bs_coord_opts o;
    bs_coord_opts_default(&o);
    o.hints_enabled = g_hints_enabled;
    o.write_timeout_ms = write_timeout_ms;
    o.read_timeout_ms = 2000;
    o.hint_poll_ms = 100;
    o.hint_throttle_bytes = 0;
    o.range_page = 7; /* several pages per vnode range */
    bs_coord_membership mem;
    bs_nnode_membership(&g_c, &mem);
    ck_assert_int_eq(bs_coord_new(&o, g_c.node[i].local, g_c.node[i].msg, &mem, &g_n[i].coord), 0);
    bs_coord_backend(g_n[i].coord, &g_n[i].be);
}

/* The harness runs a coordinator on every node. */
static int svc_start(void *ud, int i) {
    (void)ud;
    start_coord(i, 2000);
    return 0;
}
static void svc_stop(void *ud, int i) {
    (void)ud;
    bs_coord_stop(g_n[i].coord);
}
static void svc_free(void *ud, int i) {
    (void)ud;
    bs_coord_free(g_n[i].coord);
    g_n[i].coord = NULL;
}

/* Node i goes down: coordinator and messaging stopped (store kept). */
static void node_down(int i) { bs_nnode_down(&g_c, i); }

/* ... and comes back on a new port. */
static void node_up(int i) { ck_assert_msg(bs_nnode_up(&g_c, i) == 0, "%s", g_c.err); }

static void setup(void) {
    memset(g_n, 0, sizeof g_n);
    bs_nnode_opts o;
    bs_nnode_opts_default(&o);
    o.n = N;
    o.cluster_name = "coord-test";
    o.dir_prefix = "/tmp/bs_coord_test_";
    ck_assert_msg(bs_nnode_start(&g_c, &o) == 0, "%s", g_c.err);
    ck_assert_msg(bs_nnode_create_table(&g_c, "ks", 3, 0x11) == 0, "%s", g_c.err);
    ck_assert_msg(bs_nnode_create_table(&g_c, "ks1", 1, 0x22) == 0, "%s", g_c.err);
    bs_nnode_service svc = {NULL, svc_start, svc_stop, svc_free};
    ck_assert_msg(bs_nnode_start_services(&g_c, &svc) == 0, "%s", g_c.err);
    int vid = bs_nnode_vcol(&g_c, "ks");
    ck_assert_int_ge(vid, 0);
    g_vid = (uint16_t)vid;
}

static void teardown(void) { bs_nnode_stop(&g_c); }

/* ---- helpers -------------------------------------------------------------- */

static bs_exec_err g_err;

/* k = v (v NULL: delete the row) with timestamp ts through node i. */
/* put_e through be.write_async (as a CQL loop does), waiting for the
 * completion when the write was deferred (counted in g_deferred). */
static int g_async;
static atomic_int g_deferred, g_moved;
typedef struct adone {
    sem_t sem;
    int rc;
    bs_exec_err err;
} adone;

static void on_adone(void *ud, int rc, const bs_exec_err *err) {
    adone *d = ud;
    d->rc = rc;
    d->err = *err;
    sem_post(&d->sem);
}

static int put_async(int i, const bs_mutation *m, uint16_t cl, bs_exec_err *err) {
    adone d;
    memset(&d, 0, sizeof d);
    sem_init(&d.sem, 0, 0);
    int rc = g_n[i].be.write_async(g_n[i].be.ud, m, 1, cl, err, on_adone, &d);
    if (rc == 1) {
        sem_wait(&d.sem);
        rc = d.rc;
        *err = d.err;
        atomic_fetch_add(&g_deferred, 1);
    }
    sem_destroy(&d.sem);
    return rc;
}

static int put_e(int i, const char *ks, const char *k, const char *v, int64_t ts, uint16_t cl,
                 bs_exec_err *err) {
    bs_mop ops[2];
    memset(ops, 0, sizeof ops);
    size_t nops;
    if (v) {
        ops[0].kind = BS_MOP_MARKER;
        ops[0].ts = ts;
        ops[1].kind = BS_MOP_CELL;
        ops[1].col = g_vid;
        ops[1].val = (const uint8_t *)v;
        ops[1].val_len = strlen(v);
        ops[1].ts = ts;
        nops = 2;
    } else {
        ops[0].kind = BS_MOP_ROW_DEL;
        ops[0].ts = ts;
        nops = 1;
    }
    bs_mutation m;
    memset(&m, 0, sizeof m);
    memset(m.table_id.b, !strcmp(ks, "ks") ? 0x11 : 0x22, 16);
    m.cf = !strcmp(ks, "ks") ? "ks.t" : "ks1.t";
    m.pk = (const uint8_t *)k;
    m.pk_len = strlen(k);
    m.token = bs_ring_partition_token(k, strlen(k));
    m.ops = ops;
    m.nops = nops;
    memset(err, 0, sizeof *err);
    if (g_async) return put_async(i, &m, cl, err);
    return g_n[i].be.write(g_n[i].be.ud, &m, 1, cl, 0, err);
}

static int put(int i, const char *ks, const char *k, const char *v, int64_t ts, uint16_t cl) {
    return put_e(i, ks, k, v, ts, cl, &g_err);
}

/* Reads k through backend be; fills out (NUL-terminated, "" = no row).
 * Returns the backend's rc. */
static int get_be_e(const bs_exec_backend *be, const char *ks, const char *k, uint16_t cl, char *out,
                    size_t cap, bs_exec_err *err) {
    bs_schema *s = be->schema_get(be->ud);
    const bs_table_schema *t = bs_schema_table(s, ks, "t");
    bs_slice sl;
    memset(&sl, 0, sizeof sl);
    bs_arena a;
    bs_arena_init(&a, 0);
    bs_partv *p = NULL;
    memset(err, 0, sizeof *err);
    int64_t tok = bs_ring_partition_token(k, strlen(k));
    int rc;
    if (g_async && be->read_async) { /* as a CQL loop reads */
        adone d;
        memset(&d, 0, sizeof d);
        sem_init(&d.sem, 0, 0);
        rc = be->read_async(be->ud, t, tok, k, strlen(k), &sl, cl, &a, &p, err, on_adone, &d);
        if (rc == 1) {
            sem_wait(&d.sem);
            rc = d.rc;
            *err = d.err;
            atomic_fetch_add(&g_deferred, 1);
        }
        sem_destroy(&d.sem);
        if (rc == 2) { /* it must block: as the executor moves it to a worker */
            atomic_fetch_add(&g_moved, 1);
            p = NULL;
            rc = be->read(be->ud, t, tok, k, strlen(k), &sl, cl, &a, &p, err);
        }
    } else {
        rc = be->read(be->ud, t, tok, k, strlen(k), &sl, cl, &a, &p, err);
    }
    out[0] = 0;
    if (!rc && p && p->nrows && p->rows[0].ncells)
        snprintf(out, cap, "%.*s", (int)p->rows[0].cells[0].val_len, (const char *)p->rows[0].cells[0].val);
    bs_arena_free(&a);
    bs_schema_release(s);
    return rc;
}

static int get_be(const bs_exec_backend *be, const char *ks, const char *k, uint16_t cl, char *out,
                  size_t cap) {
    return get_be_e(be, ks, k, cl, out, cap, &g_err);
}

/* Through node i's coordinator. */
static int get(int i, const char *k, uint16_t cl, char *out) {
    return get_be(&g_n[i].be, "ks", k, cl, out, 64);
}

/* Node i's own replica, no network. */
static void local_get(int i, const char *k, char *out) {
    ck_assert_int_eq(get_be(&g_c.node[i].lbe, "ks", k, BS_CL_ONE, out, 64), 0);
}

/* Waits (bounded) until node i's replica holds k = want. */
static int wait_local(int i, const char *k, const char *want) {
    char got[64];
    for (int tries = 0; tries < 300; tries++) {
        local_get(i, k, got);
        if (!strcmp(got, want)) return 1;
        usleep(10000);
    }
    return 0;
}

/* ---- tests ------------------------------------------------------------------ */


/* 1 when node `who` gains the partition of k (ks1, rf 1) in the change
 * set on g_c. */
static int gains(const char *k, int who) {
    bs_ring_strategy *st;
    bs_ring_pending *p;
    ck_assert_int_eq(bs_ring_strategy_simple(1, &st), 0);
    ck_assert_int_eq(bs_ring_pending_build(g_c.ring, g_c.future, st, &p), 0);
    const uint32_t *nodes;
    size_t n;
    bs_ring_pending_endpoints(p, bs_ring_partition_token(k, strlen(k)), &nodes, &n);
    int found = 0;
    for (size_t i = 0; i < n; i++) {
        bs_ring_node_desc d;
        ck_assert_int_eq(bs_ring_snapshot_node(bs_ring_pending_snapshot(p), nodes[i], &d), 0);
        found |= !memcmp(d.host_id.b, g_c.host[who].b, 16);
    }
    bs_ring_pending_free(p);
    bs_ring_strategy_free(st);
    return found;
}

static void local_get_ks1(int i, const char *k, char *out) {
    ck_assert_int_eq(get_be(&g_c.node[i].lbe, "ks1", k, BS_CL_ONE, out, 64), 0);
}

START_TEST(joining_node_receives_pending_range_writes) {
    ck_assert_int_eq(bs_nnode_set_change(&g_c, 2, 0), 0);
    int gained = 0, kept = 0;
    for (int i = 0; i < 60; i++) {
        char k[16], v[64];
        snprintf(k, sizeof k, "j%d", i);
        /* ONE: blockFor 1 + 1 pending when node 2 gains k; acknowledged
         * means both copies are applied */
        ck_assert_msg(put(0, "ks1", k, "x", 100, BS_CL_ONE) == 0, "%s", g_err.msg);
        local_get_ks1(2, k, v);
        if (gains(k, 2)) {
            ck_assert_msg(!strcmp(v, "x"), "node 2 lacks %s, a key it gains", k);
            gained++;
        } else {
            ck_assert_msg(!strcmp(v, ""), "node 2 holds %s, a key it does not gain", k);
            kept++;
        }
    }
    ck_assert_int_gt(gained, 0);
    ck_assert_int_gt(kept, 0);
    /* the pending replica counts: with it down a write at ONE of a range
     * it gains needs 2 live replicas and has 1 */
    node_down(2);
    for (int i = 0; i < 60; i++) {
        char k[16];
        snprintf(k, sizeof k, "j%d", i);
        if (!gains(k, 2)) continue;
        ck_assert_int_ne(put(0, "ks1", k, "y", 200, BS_CL_ONE), 0);
        ck_assert_int_eq(g_err.code, BS_PROTO_ERR_UNAVAILABLE);
        ck_assert_int_eq(g_err.required, 2);
        ck_assert_int_eq(g_err.alive, 1);
        break;
    }
    /* the change completes: node 2 is a natural replica, no pending */
    ck_assert_int_eq(bs_nnode_set_change(&g_c, -1, 0), 0);
}
END_TEST

static void quorum_write_lands_on_all_replicas_body(void) {
    ck_assert_int_eq(put(0, "ks", "a", "1", 100, BS_CL_QUORUM), 0);
    for (int i = 0; i < N; i++) ck_assert_msg(wait_local(i, "a", "1"), "node %d lacks the write", i);
    char v[64];
    ck_assert_int_eq(get(1, "a", BS_CL_ALL, v), 0);
    ck_assert_str_eq(v, "1");
    ck_assert_int_eq(get(2, "a", BS_CL_QUORUM, v), 0);
    ck_assert_str_eq(v, "1");
    bs_coord_stats st;
    bs_coord_get_stats(g_n[0].coord, &st);
    ck_assert_uint_eq(st.writes[BS_CL_QUORUM], 1);
    ck_assert_uint_eq(st.unavailables, 0);
    ck_assert_uint_ge(st.write_p99_us, st.write_p50_us);
    ck_assert_uint_gt(st.write_p50_us, 0);
    bs_coord_get_stats(g_n[1].coord, &st);
    ck_assert_uint_eq(st.reads[BS_CL_ALL], 1);
    ck_assert_uint_eq(st.read_repairs, 0);
}


START_TEST(quorum_write_lands_on_all_replicas) { quorum_write_lands_on_all_replicas_body(); }
END_TEST

/* the same through be.write_async */
START_TEST(quorum_write_lands_on_all_replicas_async) {
    g_async = 1;
    quorum_write_lands_on_all_replicas_body();
}
END_TEST

/* Concurrent CL=ALL writes: the replicas' stage workers apply the
 * MUTATIONs queued together in one commit and must answer only after it,
 * so every replica holds each value as soon as its write is acknowledged. */
static atomic_int g_bad;
static void *all_writer(void *arg) {
    int w = (int)(intptr_t)arg;
    bs_exec_err err;
    for (int k = 0; k < 150; k++) {
        char key[32], val[32], got[64];
        snprintf(key, sizeof key, "w%d-%d", w, k);
        snprintf(val, sizeof val, "v%d", k);
        if (put_e(0, "ks", key, val, 100, BS_CL_ALL, &err)) {
            atomic_fetch_add(&g_bad, 1);
            continue;
        }
        for (int i = 1; i < N; i++)
            if (get_be_e(&g_c.node[i].lbe, "ks", key, BS_CL_ONE, got, sizeof got, &err) || strcmp(got, val))
                atomic_fetch_add(&g_bad, 1);
    }
    return NULL;
}

START_TEST(concurrent_all_writes_visible_when_acked) {
    atomic_store(&g_bad, 0);
    pthread_t th[8];
    for (int w = 0; w < 8; w++) pthread_create(&th[w], NULL, all_writer, (void *)(intptr_t)w);
    for (int w = 0; w < 8; w++) pthread_join(th[w], NULL);
    int bad = atomic_load(&g_bad); /* acknowledged but not on a replica */
    ck_assert_int_eq(bad, 0);
    bs_coord_stats st;
    bs_coord_get_stats(g_n[1].coord, &st);
    ck_assert_uint_ge(st.replica_writes, 8 * 150);
}
END_TEST

static void one_down_quorum_ok_all_unavailable_body(void) {
    node_down(2);
    ck_assert_int_eq(put(0, "ks", "b", "1", 100, BS_CL_QUORUM), 0);
    char v[64];
    ck_assert_int_eq(get(1, "b", BS_CL_QUORUM, v), 0);
    ck_assert_str_eq(v, "1");
    ck_assert_int_ne(put(0, "ks", "b", "2", 200, BS_CL_ALL), 0);
    ck_assert_int_eq(g_err.code, BS_PROTO_ERR_UNAVAILABLE);
    ck_assert_int_eq(g_err.required, 3);
    ck_assert_int_eq(g_err.alive, 2);
    ck_assert_int_eq(g_err.cl, BS_CL_ALL);
    ck_assert_int_ne(get(0, "b", BS_CL_ALL, v), 0);
    ck_assert_int_eq(g_err.code, BS_PROTO_ERR_UNAVAILABLE);
    /* the down replica got a hint for the QUORUM write only */
    ck_assert_uint_eq(bs_coord_hints_pending(g_n[0].coord, &g_c.host[2]), 1);
    /* nothing was applied by the refused ALL write */
    char lv[64];
    local_get(0, "b", lv);
    ck_assert_str_eq(lv, "1");
}


START_TEST(one_down_quorum_ok_all_unavailable) { one_down_quorum_ok_all_unavailable_body(); }
END_TEST

/* the same through be.write_async */
START_TEST(one_down_quorum_ok_all_unavailable_async) {
    g_async = 1;
    one_down_quorum_ok_all_unavailable_body();
}
END_TEST

START_TEST(two_down_quorum_unavailable) {
    node_down(1);
    node_down(2);
    ck_assert_int_ne(put(0, "ks", "c", "1", 100, BS_CL_QUORUM), 0);
    ck_assert_int_eq(g_err.code, BS_PROTO_ERR_UNAVAILABLE);
    ck_assert_int_eq(g_err.required, 2);
    ck_assert_int_eq(g_err.alive, 1);
    char v[64];
    ck_assert_int_ne(get(0, "c", BS_CL_QUORUM, v), 0);
    ck_assert_int_eq(g_err.code, BS_PROTO_ERR_UNAVAILABLE);
    /* ONE still works */
    ck_assert_int_eq(put(0, "ks", "c", "1", 100, BS_CL_ONE), 0);
    ck_assert_int_eq(get(0, "c", BS_CL_ONE, v), 0);
    ck_assert_str_eq(v, "1");
    bs_coord_stats st;
    bs_coord_get_stats(g_n[0].coord, &st);
    ck_assert_uint_eq(st.unavailables, 2);
}
END_TEST

static void blackhole(void *ud, bs_msg *m, const bs_msg_in *in) {
    (void)ud;
    (void)m;
    (void)in; /* never answers */
}

static void silent_replica_gives_write_timeout_body(void) {
    /* node 2 is "alive" but swallows mutations */
    ck_assert_int_eq(bs_msg_register(g_c.node[2].msg, BS_VERB_MUTATION, blackhole, NULL), 0);
    ck_assert_int_eq(bs_msg_register(g_c.node[2].msg, BS_VERB_HINT, blackhole, NULL), 0);
    bs_coord_stop(g_n[0].coord);
    bs_coord_free(g_n[0].coord);
    start_coord(0, 300);
    ck_assert_int_ne(put(0, "ks", "d", "1", 100, BS_CL_ALL), 0);
    ck_assert_int_eq(g_err.code, BS_PROTO_ERR_WRITE_TIMEOUT);
    ck_assert_int_eq(g_err.received, 2);
    ck_assert_int_eq(g_err.blockfor, 3);
    ck_assert_str_eq(g_err.write_type, "SIMPLE");
    /* QUORUM does not wait for it */
    ck_assert_int_eq(put(0, "ks", "d", "2", 200, BS_CL_QUORUM), 0);
    /* both timed-out requests leave a hint for node 2 */
    for (int i = 0; i < 200 && bs_coord_hints_pending(g_n[0].coord, &g_c.host[2]) < 2; i++)
        usleep(10000);
    ck_assert_uint_eq(bs_coord_hints_pending(g_n[0].coord, &g_c.host[2]), 2);
    bs_coord_stats st;
    bs_coord_get_stats(g_n[0].coord, &st);
    ck_assert_uint_eq(st.write_timeouts, 1);
}


START_TEST(silent_replica_gives_write_timeout) { silent_replica_gives_write_timeout_body(); }
END_TEST

/* the same through be.write_async */
START_TEST(silent_replica_gives_write_timeout_async) {
    g_async = 1;
    silent_replica_gives_write_timeout_body();
    /* the ALL write cannot be decided before node 2 answers: it was left
     * in flight and completed by the messaging thread */
    ck_assert_int_ge(atomic_load(&g_deferred), 1);
}
END_TEST

/* A replica whose store fails: answers every request with BS_EIO. */
static void fail_eio(void *ud, bs_msg *m, const bs_msg_in *in) {
    (void)ud;
    bs_msg_reply(m, in, BS_EIO, NULL, 0);
}

static void failing_replica_gives_write_and_read_failure_body(void) {
    ck_assert_int_eq(put(0, "ks", "f", "1", 100, BS_CL_ALL), 0);
    ck_assert_int_eq(bs_msg_register(g_c.node[2].msg, BS_VERB_MUTATION, fail_eio, NULL), 0);
    ck_assert_int_eq(bs_msg_register(g_c.node[2].msg, BS_VERB_READ, fail_eio, NULL), 0);
    /* ALL cannot be met once node 2 failed: WriteFailure at once */
    ck_assert_int_ne(put(0, "ks", "f", "2", 200, BS_CL_ALL), 0);
    ck_assert_int_eq(g_err.code, BS_PROTO_ERR_WRITE_FAILURE);
    ck_assert_int_eq(g_err.numfailures, 1);
    ck_assert_int_eq(g_err.blockfor, 3);
    ck_assert_int_le(g_err.received, 2);
    ck_assert_str_eq(g_err.write_type, "SIMPLE");
    /* QUORUM is met by the two others */
    ck_assert_int_eq(put(0, "ks", "f", "3", 300, BS_CL_QUORUM), 0);
    bs_coord_stats st;
    bs_coord_get_stats(g_n[0].coord, &st);
    ck_assert_uint_eq(st.write_timeouts, 0);
    /* a read at ALL that node 2 fails: ReadFailure */
    char out[64];
    ck_assert_int_ne(get(0, "f", BS_CL_ALL, out), 0);
    ck_assert_int_eq(g_err.code, BS_PROTO_ERR_READ_FAILURE);
    ck_assert_int_eq(g_err.numfailures, 1);
    ck_assert_int_eq(g_err.blockfor, 3);
    ck_assert_int_eq(g_err.received, 2);
}


START_TEST(failing_replica_gives_write_and_read_failure) { failing_replica_gives_write_and_read_failure_body(); }
END_TEST

/* the same through be.write_async */
START_TEST(failing_replica_gives_write_and_read_failure_async) {
    g_async = 1;
    failing_replica_gives_write_and_read_failure_body();
}
END_TEST

static void read_repair_fixes_stale_replica_body(void) {
    ck_assert_int_eq(put(0, "ks", "e", "old", 100, BS_CL_ALL), 0);
    ck_assert_int_eq(put(0, "ks", "f", "old", 100, BS_CL_ALL), 0);
    /* node 2 misses a newer value and a deletion (no hints) */
    bs_coord_stop(g_n[0].coord);
    bs_coord_free(g_n[0].coord);
    g_hints_enabled = 0;
    start_coord(0, 2000);
    set_alive(2, 0);
    ck_assert_int_eq(put(0, "ks", "e", "new", 200, BS_CL_QUORUM), 0);
    ck_assert_int_eq(put(0, "ks", "f", NULL, 200, BS_CL_QUORUM), 0);
    set_alive(2, 1);
    char v[64];
    local_get(2, "e", v);
    ck_assert_str_eq(v, "old");
    /* a QUORUM read coordinated by the stale node: its local data and a
     * fresh digest disagree -> repair, answer the new value */
    ck_assert_int_eq(get(2, "e", BS_CL_QUORUM, v), 0);
    ck_assert_str_eq(v, "new");
    local_get(2, "e", v);
    ck_assert_str_eq(v, "new");
    ck_assert_int_eq(get(2, "f", BS_CL_QUORUM, v), 0);
    ck_assert_str_eq(v, "");
    local_get(2, "f", v);
    ck_assert_str_eq(v, ""); /* the tombstone was repaired too */
    bs_coord_stats st;
    bs_coord_get_stats(g_n[2].coord, &st);
    ck_assert_uint_eq(st.read_repairs, 2);
    /* consistent now: no further repair */
    ck_assert_int_eq(get(2, "e", BS_CL_ALL, v), 0);
    bs_coord_get_stats(g_n[2].coord, &st);
    ck_assert_uint_eq(st.read_repairs, 2);
    /* each read counted once, also when it went on as a blocking read */
    ck_assert_uint_eq(st.reads[BS_CL_QUORUM], 2);
    ck_assert_uint_eq(st.reads[BS_CL_ALL], 1);
    g_hints_enabled = 1;
}

START_TEST(read_repair_fixes_stale_replica) { read_repair_fixes_stale_replica_body(); }
END_TEST

/* the same through be.read_async: the differing answers make each of
 * the two repairing reads answer 2 (read again, blocking), the
 * consistent ones are answered asynchronously */
START_TEST(read_repair_fixes_stale_replica_async) {
    g_async = 1;
    read_repair_fixes_stale_replica_body();
    ck_assert_int_eq(atomic_load(&g_moved), 2);
    ck_assert_int_ge(atomic_load(&g_deferred), 1);
}
END_TEST

/* A replica that swallows READs: asynchronous QUORUM reads through node
 * 0 are met by a speculative retry where it was a contact; at ALL the
 * read ends in ReadTimeout (2 of 3) once its request expires. */
START_TEST(silent_reader_async_spec_retry_and_timeout) {
    g_async = 1;
    char k[16], v[64];
    for (int i = 0; i < 20; i++) {
        snprintf(k, sizeof k, "s%d", i);
        ck_assert_int_eq(put(0, "ks", k, k, 100, BS_CL_ALL), 0);
    }
    ck_assert_int_eq(bs_msg_register(g_c.node[2].msg, BS_VERB_READ, blackhole, NULL), 0);
    for (int i = 0; i < 20; i++) {
        snprintf(k, sizeof k, "s%d", i);
        ck_assert_int_eq(get(0, k, BS_CL_QUORUM, v), 0);
        ck_assert_str_eq(v, k);
    }
    bs_coord_stats st;
    bs_coord_get_stats(g_n[0].coord, &st);
    ck_assert_uint_ge(st.speculative_retries, 1);
    ck_assert_int_eq(atomic_load(&g_moved), 0);
    ck_assert_int_ne(get(0, "s0", BS_CL_ALL, v), 0);
    ck_assert_int_eq(g_err.code, BS_PROTO_ERR_READ_TIMEOUT);
    ck_assert_int_eq(g_err.received, 2);
    ck_assert_int_eq(g_err.blockfor, 3);
    ck_assert_int_eq(g_err.data_present, 1);
}
END_TEST

START_TEST(read_repair_must_reach_every_replica_it_read) {
    ck_assert_int_eq(put(0, "ks", "h", "old", 100, BS_CL_ALL), 0);
    /* a newer value on node 0 only (no hints): an unacknowledged write */
    bs_coord_stop(g_n[0].coord);
    bs_coord_free(g_n[0].coord);
    g_hints_enabled = 0;
    start_coord(0, 2000);
    set_alive(1, 0);
    set_alive(2, 0);
    ck_assert_int_eq(put(0, "ks", "h", "new", 200, BS_CL_ONE), 0);
    set_alive(1, 1);
    set_alive(2, 1);
    /* the other replicas answer digests but never the repair's READ_RAW */
    ck_assert_int_eq(bs_msg_register(g_c.node[1].msg, BS_VERB_READ_RAW, blackhole, NULL), 0);
    ck_assert_int_eq(bs_msg_register(g_c.node[2].msg, BS_VERB_READ_RAW, blackhole, NULL), 0);
    /* a QUORUM read through node 0 sees "new" (local) and "old": it may
     * answer "new" only once a quorum holds it, or a later QUORUM read of
     * nodes 1 and 2 would go back to "old" */
    char v[64];
    ck_assert_int_ne(get(0, "h", BS_CL_QUORUM, v), 0);
    ck_assert_int_eq(g_err.code, BS_PROTO_ERR_READ_TIMEOUT);
    local_get(1, "h", v);
    ck_assert_str_eq(v, "old");
    g_hints_enabled = 1;
}
END_TEST

START_TEST(hints_replayed_when_replica_returns) {
    node_down(2);
    char k[16], want[16];
    for (int i = 0; i < 20; i++) {
        snprintf(k, sizeof k, "h%d", i);
        snprintf(want, sizeof want, "v%d", i);
        ck_assert_int_eq(put(i % 2, "ks", k, want, 100 + i, BS_CL_QUORUM), 0);
    }
    uint64_t p0 = bs_coord_hints_pending(g_n[0].coord, &g_c.host[2]);
    uint64_t p1 = bs_coord_hints_pending(g_n[1].coord, &g_c.host[2]);
    ck_assert_uint_eq(p0, 10);
    ck_assert_uint_eq(p1, 10);
    node_up(2);
    /* the replay threads (100 ms poll) deliver everything */
    for (int i = 0; i < 500 && (bs_coord_hints_pending(g_n[0].coord, &g_c.host[2]) ||
                                bs_coord_hints_pending(g_n[1].coord, &g_c.host[2]));
         i++)
        usleep(10000);
    ck_assert_uint_eq(bs_coord_hints_pending(g_n[0].coord, &g_c.host[2]), 0);
    ck_assert_uint_eq(bs_coord_hints_pending(g_n[1].coord, &g_c.host[2]), 0);
    for (int i = 0; i < 20; i++) {
        char v[64];
        snprintf(k, sizeof k, "h%d", i);
        snprintf(want, sizeof want, "v%d", i);
        local_get(2, k, v);
        ck_assert_str_eq(v, want);
    }
    bs_coord_stats st;
    bs_coord_get_stats(g_n[0].coord, &st);
    ck_assert_uint_eq(st.hints_replayed, 10);
}
END_TEST

START_TEST(hints_survive_coordinator_restart) {
    node_down(2);
    for (int i = 0; i < 5; i++) {
        char k[16];
        snprintf(k, sizeof k, "r%d", i);
        ck_assert_int_eq(put(0, "ks", k, "x", 100, BS_CL_QUORUM), 0);
    }
    ck_assert_uint_eq(bs_coord_hints_pending(g_n[0].coord, &g_c.host[2]), 5);
    /* node 0 restarts completely (store closed and reopened) */
    set_alive(0, 0);
    ck_assert_msg(bs_nnode_restart(&g_c, 0) == 0, "%s", g_c.err);
    set_alive(0, 1);
    ck_assert_uint_eq(bs_coord_hints_pending(g_n[0].coord, &g_c.host[2]), 5);
    node_up(2);
    uint64_t d = 0;
    /* replay now on this thread (the replay thread may race: both are fine) */
    bs_coord_hints_replay(g_n[0].coord, &g_c.host[2], &d);
    for (int i = 0; i < 300 && bs_coord_hints_pending(g_n[0].coord, &g_c.host[2]); i++) usleep(10000);
    ck_assert_uint_eq(bs_coord_hints_pending(g_n[0].coord, &g_c.host[2]), 0);
    char v[64];
    local_get(2, "r4", v);
    ck_assert_str_eq(v, "x");
}
END_TEST

START_TEST(hints_disabled_writes_none) {
    bs_coord_stop(g_n[0].coord);
    bs_coord_free(g_n[0].coord);
    g_hints_enabled = 0;
    start_coord(0, 2000);
    node_down(2);
    ck_assert_int_eq(put(0, "ks", "n", "1", 100, BS_CL_QUORUM), 0);
    ck_assert_uint_eq(bs_coord_hints_pending(g_n[0].coord, &g_c.host[2]), 0);
    bs_coord_stats st;
    bs_coord_get_stats(g_n[0].coord, &st);
    ck_assert_uint_eq(st.hints_written, 0);
    g_hints_enabled = 1;
}
END_TEST

/* Hints per data center (disablehintsfordc): the list's edits, then no
 * hint for a down replica of a disabled DC (every node here is in dc1)
 * and hints again once it is enabled. */
START_TEST(hints_disabled_for_dc) {
    bs_coord *c = g_n[0].coord;
    char l[256];
    ck_assert_int_eq(bs_coord_hints_dc_set(c, "", 0), BS_EINVAL);
    ck_assert_int_eq(bs_coord_hints_dc_set(c, "a,b", 0), BS_EINVAL);
    ck_assert_int_eq(bs_coord_hints_dc_set(c, "dc2", 0), 0);
    ck_assert_int_eq(bs_coord_hints_dc_set(c, "dc1", 0), 0);
    ck_assert_int_eq(bs_coord_hints_dc_set(c, "dc1", 0), 0); /* once */
    ck_assert_int_eq(bs_coord_hints_dc_set(c, "dc", 0), 0);  /* not a prefix match */
    bs_coord_hints_dc_list(c, l, sizeof l);
    ck_assert_str_eq(l, "dc2,dc1,dc");
    ck_assert_int_eq(bs_coord_hints_dc_set(c, "dc2", 1), 0);
    ck_assert_int_eq(bs_coord_hints_dc_set(c, "dc", 1), 0);
    bs_coord_hints_dc_list(c, l, sizeof l);
    ck_assert_str_eq(l, "dc1");
    node_down(2);
    ck_assert_int_eq(put(0, "ks", "d1", "1", 100, BS_CL_QUORUM), 0);
    ck_assert_uint_eq(bs_coord_hints_pending(c, &g_c.host[2]), 0);
    ck_assert_int_eq(bs_coord_hints_dc_set(c, "dc1", 1), 0);
    bs_coord_hints_dc_list(c, l, sizeof l);
    ck_assert_str_eq(l, "");
    ck_assert_int_eq(put(0, "ks", "d2", "1", 100, BS_CL_QUORUM), 0);
    ck_assert_uint_eq(bs_coord_hints_pending(c, &g_c.host[2]), 1);
}
END_TEST

/* A key of ks1 (rf 1) whose only replica is node `want`. */
static void key_on(int want, char *k, size_t cap) {
    for (int i = 0;; i++) {
        snprintf(k, cap, "any%d", i);
        uint32_t owner;
        ck_assert_int_eq(bs_ring_snapshot_primary(g_c.ring, bs_ring_partition_token(k, strlen(k)), &owner), 0);
        bs_ring_node_desc d;
        bs_ring_snapshot_node(g_c.ring, owner, &d);
        if (!memcmp(d.host_id.b, g_c.host[want].b, 16)) return;
    }
}

START_TEST(any_succeeds_with_a_hint_alone) {
    char k[32];
    key_on(2, k, sizeof k);
    node_down(2);
    ck_assert_int_ne(put(0, "ks1", k, "1", 100, BS_CL_ONE), 0);
    ck_assert_int_eq(g_err.code, BS_PROTO_ERR_UNAVAILABLE);
    ck_assert_int_eq(put(0, "ks1", k, "1", 100, BS_CL_ANY), 0);
    ck_assert_uint_eq(bs_coord_hints_pending(g_n[0].coord, &g_c.host[2]), 1);
}
END_TEST

/* RF=1: reading through the key's only replica takes the local shortcut
 * (coord_read.c), through the others a remote READ; same answers, also
 * for a missing key.  A 3-node ring is not local-only. */
START_TEST(rf1_reads_through_owner_and_others) {
    ck_assert_int_eq(bs_coord_local_only(g_n[0].coord), 0);
    for (int owner = 0; owner < 3; owner++) {
        char k[32], v[16];
        key_on(owner, k, sizeof k);
        snprintf(v, sizeof v, "v%d", owner);
        ck_assert_int_eq(put((owner + 1) % 3, "ks1", k, v, 100 + owner, BS_CL_ONE), 0);
        for (int i = 0; i < 3; i++) {
            char got[64];
            ck_assert_int_eq(get_be(&g_n[i].be, "ks1", k, BS_CL_ONE, got, sizeof got), 0);
            ck_assert_str_eq(got, v);
            ck_assert_int_eq(get_be(&g_n[i].be, "ks1", k, BS_CL_QUORUM, got, sizeof got), 0);
            ck_assert_str_eq(got, v);
        }
        ck_assert_int_eq(put(owner, "ks1", k, NULL, 200 + owner, BS_CL_ONE), 0);
        char got[64];
        ck_assert_int_eq(get_be(&g_n[owner].be, "ks1", k, BS_CL_ONE, got, sizeof got), 0);
        ck_assert_str_eq(got, "");
    }
    /* the owner down: Unavailable from the others, not a stale answer */
    char k[32], got[64];
    key_on(1, k, sizeof k);
    node_down(1);
    ck_assert_int_ne(get_be(&g_n[0].be, "ks1", k, BS_CL_ONE, got, sizeof got), 0);
    ck_assert_int_eq(g_err.code, BS_PROTO_ERR_UNAVAILABLE);
}
END_TEST

typedef struct seen {
    int count[200];
    int n;
    int stop_after;
    int64_t last_token;
    char last_pk[32];
    size_t last_pk_len;
    int order_ok;
} seen;

static int scan_cb(void *ud, const bs_partv *p) {
    seen *s = ud;
    if (s->n && p->token < s->last_token) s->order_ok = 0;
    /* "sNNN"; pk is not NUL-terminated: parse exactly its bytes */
    char kb[16] = {0};
    memcpy(kb, p->pk, p->pk_len < sizeof kb - 1 ? p->pk_len : sizeof kb - 1);
    int i = atoi(kb + 1);
    if (i >= 0 && i < 200) s->count[i]++;
    s->n++;
    s->last_token = p->token;
    memcpy(s->last_pk, p->pk, p->pk_len);
    s->last_pk_len = p->pk_len;
    return s->stop_after && s->n >= s->stop_after ? 1 : 0;
}

START_TEST(range_scan_across_nodes_with_paging) {
    for (int i = 0; i < 60; i++) {
        char k[16];
        snprintf(k, sizeof k, "s%03d", i);
        /* ALL: a scan at ONE may read any replica, so every replica must
         * hold the key (a write at ONE reaches the others asynchronously) */
        ck_assert_int_eq(put(i % 3, "ks1", k, "v", 100, BS_CL_ALL), 0);
    }
    bs_schema *s = g_n[0].be.schema_get(g_n[0].be.ud);
    const bs_table_schema *t = bs_schema_table(s, "ks1", "t");
    /* whole ring from node 0: every key once, in token order */
    seen all;
    memset(&all, 0, sizeof all);
    all.order_ok = 1;
    bs_scan sc;
    memset(&sc, 0, sizeof sc);
    sc.start_token = sc.end_token = INT64_MIN;
    memset(&g_err, 0, sizeof g_err);
    ck_assert_int_eq(g_n[0].be.scan(g_n[0].be.ud, t, &sc, BS_CL_ONE, scan_cb, &all, &g_err), 0);
    ck_assert_int_eq(all.n, 60);
    ck_assert(all.order_ok);
    for (int i = 0; i < 60; i++) ck_assert_int_eq(all.count[i], 1);
    /* pages of 11 resumed with a cursor, through node 1 */
    seen pg;
    memset(&pg, 0, sizeof pg);
    pg.order_ok = 1;
    int pages = 0;
    for (;;) {
        int before = pg.n;
        pg.stop_after = pg.n + 11;
        memset(&sc, 0, sizeof sc);
        sc.start_token = sc.end_token = INT64_MIN;
        char cpk[32];
        if (pages) {
            memcpy(cpk, pg.last_pk, pg.last_pk_len);
            sc.has_cursor = 1;
            sc.cursor_token = pg.last_token;
            sc.cursor_pk = cpk;
            sc.cursor_pk_len = pg.last_pk_len;
        }
        ck_assert_int_eq(g_n[1].be.scan(g_n[1].be.ud, t, &sc, BS_CL_ONE, scan_cb, &pg, &g_err), 0);
        pages++;
        if (pg.n == before || pg.n - before < 11) break;
        ck_assert_int_lt(pages, 20);
    }
    ck_assert_int_eq(pg.n, 60);
    for (int i = 0; i < 60; i++) ck_assert_int_eq(pg.count[i], 1);
    ck_assert(pg.order_ok);
    bs_schema_release(s);
    /* a range with its only replica down is Unavailable */
    node_down(2);
    seen none;
    memset(&none, 0, sizeof none);
    s = g_n[0].be.schema_get(g_n[0].be.ud);
    t = bs_schema_table(s, "ks1", "t");
    memset(&sc, 0, sizeof sc);
    sc.start_token = sc.end_token = INT64_MIN;
    ck_assert_int_ne(g_n[0].be.scan(g_n[0].be.ud, t, &sc, BS_CL_ONE, scan_cb, &none, &g_err), 0);
    ck_assert_int_eq(g_err.code, BS_PROTO_ERR_UNAVAILABLE);
    bs_schema_release(s);
}
END_TEST

/* Range scans above ONE (issue 23, finding 1). */
#define QK 900

typedef struct qseen {
    int count[QK];
    int n, bad_value, stop_after;
    int64_t last_token;
    char last_pk[32];
    size_t last_pk_len;
} qseen;

static int qscan_cb(void *ud, const bs_partv *p) {
    qseen *s = ud;
    char kb[16] = {0};
    memcpy(kb, p->pk, p->pk_len < sizeof kb - 1 ? p->pk_len : sizeof kb - 1);
    int i = atoi(kb + 1);
    if (i >= 0 && i < QK) s->count[i]++;
    if (!p->nrows || !p->rows[0].ncells || p->rows[0].cells[0].val_len != 3 ||
        memcmp(p->rows[0].cells[0].val, "new", 3))
        s->bad_value++;
    s->n++;
    s->last_token = p->token;
    memcpy(s->last_pk, p->pk, p->pk_len);
    s->last_pk_len = p->pk_len;
    return s->stop_after && s->n >= s->stop_after ? 1 : 0;
}

/* Pages of `page` partitions through node i at cl, each resumed after
 * the last partition; 0 or the backend's rc. */
static int qscan_paged(int i, uint16_t cl, int page, qseen *q) {
    bs_schema *s = g_n[i].be.schema_get(g_n[i].be.ud);
    const bs_table_schema *t = bs_schema_table(s, "ks", "t");
    int rc = 0;
    for (int pages = 0; pages < 1000; pages++) {
        int before = q->n;
        q->stop_after = page ? q->n + page : 0;
        bs_scan sc;
        memset(&sc, 0, sizeof sc);
        sc.start_token = sc.end_token = INT64_MIN;
        char cpk[32];
        if (pages) {
            memcpy(cpk, q->last_pk, q->last_pk_len);
            sc.has_cursor = 1;
            sc.cursor_token = q->last_token;
            sc.cursor_pk = cpk;
            sc.cursor_pk_len = q->last_pk_len;
        }
        memset(&g_err, 0, sizeof g_err);
        rc = g_n[i].be.scan(g_n[i].be.ud, t, &sc, cl, qscan_cb, q, &g_err);
        if (rc || !page || q->n - before < page) break;
    }
    bs_schema_release(s);
    return rc;
}

/* Partial visits (bs_visit.partial): a visit at ONE from node 0 over
 * ks1 (rf 1): nodes 1 and 2 count their partitions themselves and send
 * only the count back; node 0 counts its own.  The total is every key
 * once, and no partition is read remotely.  An answer the visitor cannot
 * merge, or a replica without a handler, has its ranges read whole. */
typedef struct pcount {
    int parts;      /* partitions the visitor saw itself */
    int merged;     /* counts merged from replicas */
    int refuse;     /* merge answers -1 */
} pcount;

static int pc_part(void *ud, int64_t token, const uint8_t *pk, size_t pk_len) {
    (void)token, (void)pk, (void)pk_len;
    ((pcount *)ud)->parts++;
    return 1; /* skip its rows */
}

static int pc_row(void *ud, const bs_rowv *row) {
    (void)ud, (void)row;
    return 0;
}

static int pc_merge(void *ud, const uint8_t *p, size_t n) {
    pcount *c = ud;
    if (c->refuse || n != 4) return -1;
    c->merged += (int)bs_get_u32(p);
    return 0;
}

static int pc_open(void *ud, const uint8_t *req, size_t len, void **ctx, bs_visit *v, bs_slice *sl,
                   char *cf, size_t cflen, char *msg, size_t msglen) {
    (void)ud;
    if (len != 5 || memcmp(req, "count", 5)) {
        snprintf(msg, msglen, "unknown request");
        return -1;
    }
    pcount *c = calloc(1, sizeof *c);
    *ctx = c;
    memset(v, 0, sizeof *v);
    v->part = pc_part;
    v->row = pc_row;
    v->ud = c;
    memset(sl, 0, sizeof *sl);
    snprintf(cf, cflen, "ks1.t");
    return 0;
}

static int pc_close(void *ud, void *ctx, int ok, bs_buf *out) {
    (void)ud;
    pcount *c = ctx;
    uint8_t b[4];
    bs_put_u32(b, (uint32_t)c->parts);
    int rc = ok ? bs_buf_append(out, b, 4) : 0;
    free(c);
    return rc;
}

static void partial_visit(pcount *c) {
    bs_schema *s = g_n[0].be.schema_get(g_n[0].be.ud);
    const bs_table_schema *t = bs_schema_table(s, "ks1", "t");
    bs_scan sc;
    memset(&sc, 0, sizeof sc);
    sc.start_token = sc.end_token = INT64_MIN;
    bs_visit v = {pc_part, pc_row, c, (const uint8_t *)"count", 5, pc_merge};
    memset(&g_err, 0, sizeof g_err);
    ck_assert_int_eq(g_n[0].be.visit(g_n[0].be.ud, t, &sc, BS_CL_ONE, &v, &g_err), 0);
    bs_schema_release(s);
}

START_TEST(partial_visits_merge_or_fall_back) {
    for (int i = 0; i < 60; i++) {
        char k[16];
        snprintf(k, sizeof k, "s%03d", i);
        ck_assert_int_eq(put(i % 3, "ks1", k, "v", 100, BS_CL_ALL), 0);
    }
    bs_coord_partial h = {pc_open, pc_close, NULL};
    bs_coord_set_partial(g_n[1].coord, &h);
    bs_coord_set_partial(g_n[2].coord, &h);
    bs_coord_stats st0, st1, st2, a0, a1, a2;
    bs_coord_get_stats(g_n[0].coord, &st0);
    bs_coord_get_stats(g_n[1].coord, &st1);
    bs_coord_get_stats(g_n[2].coord, &st2);
    pcount c = {0, 0, 0};
    partial_visit(&c);
    bs_coord_get_stats(g_n[0].coord, &a0);
    bs_coord_get_stats(g_n[1].coord, &a1);
    bs_coord_get_stats(g_n[2].coord, &a2);
    ck_assert_int_eq(c.parts + c.merged, 60);
    ck_assert_int_gt(c.merged, 0);
    ck_assert_int_gt(c.parts, 0); /* node 0's own ranges */
    ck_assert_uint_eq(a0.partial_sent - st0.partial_sent, 2);
    ck_assert_uint_eq(a0.partial_failed, st0.partial_failed);
    ck_assert_uint_eq(a1.partial_served - st1.partial_served, 1);
    ck_assert_uint_eq(a2.partial_served - st2.partial_served, 1);
    ck_assert_uint_eq(a1.replica_reads, st1.replica_reads); /* nothing read whole */
    ck_assert_uint_eq(a2.replica_reads, st2.replica_reads);

    /* answers the visitor refuses: both replicas' ranges are read whole */
    pcount r = {0, 0, 1};
    partial_visit(&r);
    ck_assert_int_eq(r.parts, 60);
    ck_assert_int_eq(r.merged, 0);
    bs_coord_get_stats(g_n[0].coord, &st0);
    ck_assert_uint_eq(st0.partial_failed - a0.partial_failed, 2);
    bs_coord_get_stats(g_n[1].coord, &st1);
    ck_assert_uint_gt(st1.replica_reads, a1.replica_reads);

    /* a request the handler does not know: refused there, read whole */
    bs_coord_get_stats(g_n[0].coord, &a0);
    bs_schema *s = g_n[0].be.schema_get(g_n[0].be.ud);
    const bs_table_schema *t = bs_schema_table(s, "ks1", "t");
    bs_scan sc;
    memset(&sc, 0, sizeof sc);
    sc.start_token = sc.end_token = INT64_MIN;
    pcount u = {0, 0, 0};
    bs_visit v = {pc_part, pc_row, &u, (const uint8_t *)"other", 5, pc_merge};
    ck_assert_int_eq(g_n[0].be.visit(g_n[0].be.ud, t, &sc, BS_CL_ONE, &v, &g_err), 0);
    bs_schema_release(s);
    ck_assert_int_eq(u.parts, 60);
    bs_coord_get_stats(g_n[0].coord, &st0);
    ck_assert_uint_eq(st0.partial_failed - a0.partial_failed, 2);
}
END_TEST

START_TEST(range_scan_quorum_repairs_stale_replica) {
    char k[16], v[64];
    for (int i = 0; i < QK; i++) {
        snprintf(k, sizeof k, "q%03d", i);
        ck_assert_int_eq(put(0, "ks", k, "old", 100, BS_CL_ALL), 0);
    }
    /* node 2 misses updates, deletions and inserts (no hints) */
    bs_coord_stop(g_n[0].coord);
    bs_coord_free(g_n[0].coord);
    g_hints_enabled = 0;
    start_coord(0, 2000);
    set_alive(2, 0);
    for (int i = 0; i < QK; i++) {
        snprintf(k, sizeof k, "q%03d", i);
        ck_assert_int_eq(put(0, "ks", k, i % 10 == 9 ? NULL : "new", 200, BS_CL_QUORUM), 0);
    }
    set_alive(2, 1);
    local_get(2, "q000", v);
    ck_assert_str_eq(v, "old");
    /* node 1 seen down: ALL is Unavailable (3 required, 2 alive) */
    set_alive(1, 0);
    qseen *q = calloc(1, sizeof *q);
    ck_assert_int_ne(qscan_paged(2, BS_CL_ALL, 0, q), 0);
    ck_assert_int_eq(g_err.code, BS_PROTO_ERR_UNAVAILABLE);
    ck_assert_int_eq(g_err.required, 3);
    ck_assert_int_eq(g_err.alive, 2);
    ck_assert_int_eq(q->n, 0);
    set_alive(1, 1);
    /* QUORUM through the stale node, paged (7 partitions per replica
     * page, pages of 50 for the caller): every live key once with its
     * new value, no deleted one */
    memset(q, 0, sizeof *q);
    ck_assert_int_eq(qscan_paged(2, BS_CL_QUORUM, 50, q), 0);
    ck_assert_int_eq(q->bad_value, 0);
    for (int i = 0; i < QK; i++) ck_assert_int_eq(q->count[i], i % 10 == 9 ? 0 : 1);
    /* the scan repaired node 2: values, deletions */
    for (int i = 0; i < QK; i++) {
        snprintf(k, sizeof k, "q%03d", i);
        local_get(2, k, v);
        ck_assert_str_eq(v, i % 10 == 9 ? "" : "new");
    }
    bs_coord_stats st;
    bs_coord_get_stats(g_n[2].coord, &st);
    ck_assert_uint_ge(st.read_repairs, QK);
    /* consistent now: an ALL scan repairs nothing */
    uint64_t before = st.read_repairs;
    memset(q, 0, sizeof *q);
    ck_assert_int_eq(qscan_paged(1, BS_CL_ALL, 0, q), 0);
    ck_assert_int_eq(q->n, QK - QK / 10);
    bs_coord_get_stats(g_n[1].coord, &st);
    bs_coord_stats st2;
    bs_coord_get_stats(g_n[2].coord, &st2);
    ck_assert_uint_eq(st2.read_repairs, before);
    ck_assert_uint_eq(st.read_repairs, 0);
    free(q);
    g_hints_enabled = 1;
}
END_TEST

int main(void) {
    Suite *s = suite_create("coord");
    TCase *tc = tcase_create("coord");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, quorum_write_lands_on_all_replicas);
    tcase_add_test(tc, quorum_write_lands_on_all_replicas_async);
    tcase_add_test(tc, joining_node_receives_pending_range_writes);
    tcase_add_test(tc, concurrent_all_writes_visible_when_acked);
    tcase_add_test(tc, one_down_quorum_ok_all_unavailable);
    tcase_add_test(tc, one_down_quorum_ok_all_unavailable_async);
    tcase_add_test(tc, two_down_quorum_unavailable);
    tcase_add_test(tc, silent_replica_gives_write_timeout);
    tcase_add_test(tc, silent_replica_gives_write_timeout_async);
    tcase_add_test(tc, failing_replica_gives_write_and_read_failure);
    tcase_add_test(tc, failing_replica_gives_write_and_read_failure_async);
    tcase_add_test(tc, read_repair_fixes_stale_replica);
    tcase_add_test(tc, read_repair_fixes_stale_replica_async);
    tcase_add_test(tc, silent_reader_async_spec_retry_and_timeout);
    tcase_add_test(tc, read_repair_must_reach_every_replica_it_read);
    tcase_add_test(tc, hints_replayed_when_replica_returns);
    tcase_add_test(tc, hints_survive_coordinator_restart);
    tcase_add_test(tc, hints_disabled_writes_none);
    tcase_add_test(tc, hints_disabled_for_dc);
    tcase_add_test(tc, any_succeeds_with_a_hint_alone);
    tcase_add_test(tc, range_scan_across_nodes_with_paging);
    tcase_add_test(tc, partial_visits_merge_or_fall_back);
    tcase_add_test(tc, range_scan_quorum_repairs_stale_replica);
    tcase_add_test(tc, rf1_reads_through_owner_and_others);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? 1 : 0;
}
