/*
 * test_coord_paxos.c - lightweight transactions through the replicated
 * coordinator (node/coord/coord_paxos.c, coord_paxos_replica.c) on three
 * in-process nodes of the shared harness (tests/harness/nnode.h),
 * keyspace "ks" RF 3, table t (k text PRIMARY KEY, v text).
 *
 * Covers: a compare-and-set applies once and its commit reaches every
 * replica; a proposal accepted by a quorum but never committed is
 * completed by the next round (a SERIAL read sees it); acceptor rules
 * (a lower ballot is refused after a higher promise); Unavailable at
 * SERIAL with two replicas down; WriteTimeout with write_type CAS when
 * the other replicas never answer PAXOS.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "node/coord/coord.h"
#include "node/coord/coord_int.h"
#include "node/coord/paxos_wire.h"
#include "node/coord/wire.h"
#include "query/proto.h"
#include "ring/murmur3.h"
#include "tests/harness/nnode.h"

#define N 3

static bs_nnode g_c;
static bs_coord *g_coord[N];
static bs_exec_backend g_be[N];
static uint16_t g_vid;
static uint32_t g_wtimeout = 2000;

static int svc_start(void *ud, int i) {
    (void)ud;
    bs_coord_opts o;
    bs_coord_opts_default(&o);
    o.write_timeout_ms = g_wtimeout;
    o.read_timeout_ms = g_wtimeout;
    bs_coord_membership mem;
    bs_nnode_membership(&g_c, &mem);
    int rc = bs_coord_new(&o, g_c.node[i].local, g_c.node[i].msg, &mem, &g_coord[i]);
    if (!rc) bs_coord_backend(g_coord[i], &g_be[i]);
    return rc;
}
static void svc_stop(void *ud, int i) {
    (void)ud;
    bs_coord_stop(g_coord[i]);
}
static void svc_free(void *ud, int i) {
    (void)ud;
    bs_coord_free(g_coord[i]);
    g_coord[i] = NULL;
}

static void start(uint32_t wtimeout) {
    g_wtimeout = wtimeout;
    bs_nnode_opts o;
    bs_nnode_opts_default(&o);
    o.n = N;
    o.cluster_name = "paxos-test";
    o.dir_prefix = "/tmp/bs_paxos_test_";
    ck_assert_msg(bs_nnode_start(&g_c, &o) == 0, "%s", g_c.err);
    ck_assert_msg(bs_nnode_create_table(&g_c, "ks", 3, 0x11) == 0, "%s", g_c.err);
    bs_nnode_service svc = {NULL, svc_start, svc_stop, svc_free};
    ck_assert_msg(bs_nnode_start_services(&g_c, &svc) == 0, "%s", g_c.err);
    int vid = bs_nnode_vcol(&g_c, "ks");
    ck_assert_int_ge(vid, 0);
    g_vid = (uint16_t)vid;
}

static void setup(void) { start(2000); }
static void teardown(void) { bs_nnode_stop(&g_c); }

/* k = v at ts (one mutation; ops and m in the caller's storage). */
static void mutation(const char *k, const char *v, int64_t ts, bs_mop ops[2], bs_mutation *m) {
    memset(ops, 0, 2 * sizeof *ops);
    ops[0].kind = BS_MOP_MARKER;
    ops[0].ts = ts;
    ops[1].kind = BS_MOP_CELL;
    ops[1].col = g_vid;
    ops[1].val = (const uint8_t *)v;
    ops[1].val_len = strlen(v);
    ops[1].ts = ts;
    memset(m, 0, sizeof *m);
    memset(m->table_id.b, 0x11, 16);
    m->cf = "ks.t";
    m->pk = (const uint8_t *)k;
    m->pk_len = strlen(k);
    m->token = bs_ring_partition_token(k, strlen(k));
    m->ops = ops;
    m->nops = 2;
}

static int absent(void *ud, const bs_partv *p) {
    (void)ud;
    return !(p && p->nrows);
}

/* INSERT k = v IF NOT EXISTS through node i; *applied. */
static int cas_insert(int i, const char *k, const char *v, int *applied, bs_exec_err *err) {
    bs_schema *s = g_be[i].schema_get(g_be[i].ud);
    const bs_table_schema *t = bs_schema_table(s, "ks", "t");
    bs_mop ops[2];
    bs_mutation m;
    mutation(k, v, 1000, ops, &m);
    bs_slice sl;
    memset(&sl, 0, sizeof sl);
    bs_exec_cas q = {t, m.token, m.pk, m.pk_len, &sl, &m, 1, 1000,
                     BS_CL_SERIAL, BS_CL_QUORUM, absent, NULL};
    bs_arena a;
    bs_arena_init(&a, 0);
    bs_partv *cur = NULL;
    memset(err, 0, sizeof *err);
    int rc = g_be[i].cas(g_be[i].ud, &q, &a, &cur, applied, err);
    bs_arena_free(&a);
    bs_schema_release(s);
    return rc;
}

/* Reads k through backend be at cl into out ("" = no row). */
static int get(const bs_exec_backend *be, const char *k, uint16_t cl, char *out,
               bs_exec_err *err) {
    bs_schema *s = be->schema_get(be->ud);
    const bs_table_schema *t = bs_schema_table(s, "ks", "t");
    bs_slice sl;
    memset(&sl, 0, sizeof sl);
    bs_arena a;
    bs_arena_init(&a, 0);
    bs_partv *p = NULL;
    memset(err, 0, sizeof *err);
    int rc = be->read(be->ud, t, bs_ring_partition_token(k, strlen(k)), k, strlen(k), &sl, cl,
                      &a, &p, err);
    out[0] = 0;
    if (!rc && p && p->nrows && p->rows[0].ncells)
        snprintf(out, 64, "%.*s", (int)p->rows[0].cells[0].val_len,
                 (const char *)p->rows[0].cells[0].val);
    bs_arena_free(&a);
    bs_schema_release(s);
    return rc;
}

/* Sends phase (ballot at us) for k = v straight to node i's acceptor;
 * its decoded answer in *out (ok flag returned). */
static int acceptor(int i, uint8_t phase, int64_t us, const char *k, const char *v) {
    bs_paxos_req r;
    memset(&r, 0, sizeof r);
    r.phase = phase;
    bs_uuid_v1_at(us, 77, &r.ballot);
    memset(r.table_id.b, 0x11, 16);
    r.pk = (const uint8_t *)k;
    r.pk_len = strlen(k);
    r.token = bs_ring_partition_token(k, strlen(k));
    bs_buf upd = BS_BUF_INIT, req = BS_BUF_INIT, resp = BS_BUF_INIT;
    if (phase != BS_PAXOS_PREPARE) {
        bs_mop ops[2];
        bs_mutation m;
        mutation(k, v, us, ops, &m);
        ck_assert_int_eq(bs_wire_write_encode(1700000000, &m, 1, &upd), 0);
        r.update = upd.data;
        r.update_len = upd.len;
    }
    ck_assert_int_eq(bs_paxos_req_encode(&r, &req), 0);
    ck_assert_int_eq(bs__paxos_handle(g_coord[i], req.data, req.len, &resp), 0);
    bs_paxos_resp o;
    ck_assert_int_eq(bs_paxos_resp_decode(resp.data, resp.len, &o), 0);
    int ok = o.ok;
    bs_buf_free(&upd);
    bs_buf_free(&req);
    bs_buf_free(&resp);
    return ok;
}

START_TEST(cas_applies_once_and_commits_everywhere) {
    bs_exec_err err;
    int applied = -1;
    ck_assert_int_eq(cas_insert(0, "a", "first", &applied, &err), 0);
    ck_assert_int_eq(applied, 1);
    ck_assert_int_eq(cas_insert(1, "a", "second", &applied, &err), 0);
    ck_assert_int_eq(applied, 0);
    char got[64];
    for (int i = 0; i < N; i++) {
        /* every replica's own store (the commit goes to all three) */
        int tries = 0;
        do {
            ck_assert_int_eq(get(&g_c.node[i].lbe, "a", BS_CL_ONE, got, &err), 0);
        } while (strcmp(got, "first") && ++tries < 300 && !usleep(10000));
        ck_assert_str_eq(got, "first");
    }
    ck_assert_int_eq(get(&g_be[2], "a", BS_CL_SERIAL, got, &err), 0);
    ck_assert_str_eq(got, "first");
}
END_TEST

START_TEST(accepted_proposal_is_completed_by_next_round) {
    /* a proposer accepted by nodes 1 and 2 died before its commit */
    int64_t us = bs_clock_now_us(NULL) + 1000000; /* ahead of anything */
    for (int i = 1; i < N; i++) {
        ck_assert(acceptor(i, BS_PAXOS_PREPARE, us, "b", NULL));
        ck_assert(acceptor(i, BS_PAXOS_PROPOSE, us, "b", "orphan"));
    }
    bs_exec_err err;
    char got[64];
    ck_assert_int_eq(get(&g_c.node[1].lbe, "b", BS_CL_ONE, got, &err), 0);
    ck_assert_str_eq(got, ""); /* not committed anywhere */
    /* a SERIAL read finishes it first */
    ck_assert_int_eq(get(&g_be[0], "b", BS_CL_SERIAL, got, &err), 0);
    ck_assert_str_eq(got, "orphan");
    /* and a conditional insert now sees the row */
    int applied = -1;
    ck_assert_int_eq(cas_insert(0, "b", "late", &applied, &err), 0);
    ck_assert_int_eq(applied, 0);
}
END_TEST

START_TEST(acceptor_refuses_lower_ballots) {
    int64_t us = bs_clock_now_us(NULL);
    ck_assert(acceptor(0, BS_PAXOS_PREPARE, us + 10, "c", NULL));
    ck_assert(!acceptor(0, BS_PAXOS_PREPARE, us + 5, "c", NULL));
    ck_assert(!acceptor(0, BS_PAXOS_PREPARE, us + 10, "c", NULL)); /* equal: no */
    /* a greater ballot in the same microsecond is refused too: the
     * committed cells would get equal timestamps */
    {
        bs_paxos_req r;
        memset(&r, 0, sizeof r);
        r.phase = BS_PAXOS_PREPARE;
        bs_uuid_v1_at(us + 10, 0xFFFFFFFFFFFFULL, &r.ballot);
        memset(r.table_id.b, 0x11, 16);
        r.pk = (const uint8_t *)"c";
        r.pk_len = 1;
        r.token = bs_ring_partition_token("c", 1);
        bs_uuid lo;
        bs_uuid_v1_at(us + 10, 77, &lo);
        ck_assert_int_gt(bs_paxos_ballot_cmp(&r.ballot, &lo), 0);
        bs_buf req = BS_BUF_INIT, resp = BS_BUF_INIT;
        ck_assert_int_eq(bs_paxos_req_encode(&r, &req), 0);
        ck_assert_int_eq(bs__paxos_handle(g_coord[0], req.data, req.len, &resp), 0);
        bs_paxos_resp o;
        ck_assert_int_eq(bs_paxos_resp_decode(resp.data, resp.len, &o), 0);
        ck_assert(!o.ok);
        bs_buf_free(&req);
        bs_buf_free(&resp);
    }
    ck_assert(!acceptor(0, BS_PAXOS_PROPOSE, us + 5, "c", "x"));
    ck_assert(acceptor(0, BS_PAXOS_PROPOSE, us + 10, "c", "x"));
    ck_assert(acceptor(0, BS_PAXOS_PREPARE, us + 11, "c", NULL));
    ck_assert(!acceptor(0, BS_PAXOS_PROPOSE, us + 10, "c", "y"));
}
END_TEST

START_TEST(two_down_is_unavailable_at_serial) {
    bs_nnode_set_alive(&g_c, 1, 0);
    bs_nnode_set_alive(&g_c, 2, 0);
    bs_exec_err err;
    int applied = -1;
    ck_assert_int_ne(cas_insert(0, "d", "x", &applied, &err), 0);
    ck_assert_int_eq(err.code, BS_PROTO_ERR_UNAVAILABLE);
    ck_assert_int_eq(err.cl, BS_CL_SERIAL);
    ck_assert_int_eq(err.required, 2);
    ck_assert_int_eq(err.alive, 1);
    ck_assert_int_eq(applied, 0);
    char got[64];
    ck_assert_int_ne(get(&g_be[0], "d", BS_CL_SERIAL, got, &err), 0);
    ck_assert_int_eq(err.code, BS_PROTO_ERR_UNAVAILABLE);
    /* one down is fine */
    bs_nnode_set_alive(&g_c, 2, 1);
    ck_assert_int_eq(cas_insert(0, "d", "x", &applied, &err), 0);
    ck_assert_int_eq(applied, 1);
}
END_TEST

static void blackhole(void *ud, bs_msg *m, const bs_msg_in *in) {
    (void)ud;
    (void)m;
    (void)in;
}

START_TEST(silent_acceptors_give_cas_write_timeout) {
    bs_nnode_stop(&g_c);
    start(300);
    for (int i = 1; i < N; i++)
        ck_assert_int_eq(bs_msg_register(g_c.node[i].msg, BS_VERB_PAXOS, blackhole, NULL), 0);
    bs_exec_err err;
    int applied = -1;
    ck_assert_int_ne(cas_insert(0, "e", "x", &applied, &err), 0);
    ck_assert_int_eq(err.code, BS_PROTO_ERR_WRITE_TIMEOUT);
    ck_assert_str_eq(err.write_type, "CAS");
    ck_assert_int_eq(err.cl, BS_CL_SERIAL);
    ck_assert_int_eq(err.received, 1);
    ck_assert_int_eq(err.blockfor, 2);
    ck_assert_int_eq(applied, 0);
}
END_TEST

int main(void) {
    Suite *s = suite_create("coord_paxos");
    TCase *tc = tcase_create("paxos");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, cas_applies_once_and_commits_everywhere);
    tcase_add_test(tc, accepted_proposal_is_completed_by_next_round);
    tcase_add_test(tc, acceptor_refuses_lower_ballots);
    tcase_add_test(tc, two_down_is_unavailable_at_serial);
    tcase_add_test(tc, silent_acceptors_give_cas_write_timeout);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
