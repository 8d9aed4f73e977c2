/*
 * test_gossip.c - gossip (node/cluster/gossip_state.c pure rules and codecs,
 * node/cluster/gossip.c gossiper) and the phi accrual failure detector.
 *
 * The live test runs three gossipers on 127.0.0.1..3 (free ports, 50 ms
 * rounds) in this process and polls their views; no duration is
 * asserted, only eventual states within a generous bound.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/error.h"
#include "common/log.h"
#include "node/cluster/gossip.h"

static bs_msg_peer P(const char *a, uint16_t port) {
    bs_msg_peer p;
    ck_assert_int_eq(bs_msg_peer_set(&p, a, port), 0);
    return p;
}

static void mk(bs_gossip_ep *e, const char *addr, int32_t gen, int32_t hb) {
    bs_msg_peer p = P(addr, 7000);
    bs_gossip_ep_init(e, &p);
    e->generation = gen;
    e->hb_version = hb;
}

/* ---- merge rules ----------------------------------------------------------
 */

START_TEST(merge_new_endpoint_takes_everything) {
    bs_gossip_ep l, r;
    bs_msg_peer p = P("10.0.0.1", 7000);
    bs_gossip_ep_init(&l, &p);
    mk(&r, "10.0.0.1", 1000, 5);
    bs_gossip_ep_set(&r, BS_GS_STATUS, "NORMAL", 2);
    bs_gossip_ep_set(&r, BS_GS_DC, "dc1", 3);
    int what;
    uint32_t ch;
    ck_assert_int_eq(bs_gossip_ep_merge(&l, &r, 1000, &what, &ch), 0);
    ck_assert(what & BS_GOSSIP_M_NEW);
    ck_assert(what & BS_GOSSIP_M_STATES);
    ck_assert_uint_eq(ch, (1u << BS_GS_STATUS) | (1u << BS_GS_DC));
    ck_assert_int_eq(l.generation, 1000);
    ck_assert_int_eq(l.hb_version, 5);
    ck_assert_str_eq(l.app[BS_GS_DC].value, "dc1");
    ck_assert_int_eq(bs_gossip_ep_max_version(&l), 5);
    bs_gossip_ep_clear(&l);
    bs_gossip_ep_clear(&r);
}
END_TEST

START_TEST(merge_same_generation_takes_newer_versions_only) {
    bs_gossip_ep l, r;
    mk(&l, "10.0.0.1", 1000, 10);
    bs_gossip_ep_set(&l, BS_GS_STATUS, "NORMAL", 2);
    bs_gossip_ep_set(&l, BS_GS_SCHEMA, "v1", 8);
    mk(&r, "10.0.0.1", 1000, 9);                      /* older heartbeat */
    bs_gossip_ep_set(&r, BS_GS_STATUS, "LEAVING", 1); /* older: ignored */
    bs_gossip_ep_set(&r, BS_GS_SCHEMA, "v2", 9);      /* newer: taken */
    bs_gossip_ep_set(&r, BS_GS_LOAD, "123", 7);       /* absent here: taken */
    int what;
    uint32_t ch;
    ck_assert_int_eq(bs_gossip_ep_merge(&l, &r, 1000, &what, &ch), 0);
    ck_assert_uint_eq(ch, (1u << BS_GS_SCHEMA) | (1u << BS_GS_LOAD));
    ck_assert_int_eq(l.hb_version, 10); /* max kept */
    ck_assert_str_eq(l.app[BS_GS_STATUS].value, "NORMAL");
    ck_assert_str_eq(l.app[BS_GS_SCHEMA].value, "v2");
    ck_assert_int_eq(l.app[BS_GS_SCHEMA].version, 9);
    ck_assert_str_eq(l.app[BS_GS_LOAD].value, "123");
    /* merging the same thing again changes nothing */
    ck_assert_int_eq(bs_gossip_ep_merge(&l, &r, 1000, &what, &ch), 0);
    ck_assert_uint_eq(ch, 0);
    ck_assert_int_eq(what, 0);
    /* heartbeat only */
    r.hb_version = 20;
    ck_assert_int_eq(bs_gossip_ep_merge(&l, &r, 1000, &what, &ch), 0);
    ck_assert_int_eq(what, BS_GOSSIP_M_HEARTBEAT);
    ck_assert_int_eq(l.hb_version, 20);
    bs_gossip_ep_clear(&l);
    bs_gossip_ep_clear(&r);
}
END_TEST

START_TEST(merge_generations) {
    bs_gossip_ep l, r;
    mk(&l, "10.0.0.1", 1000, 50);
    bs_gossip_ep_set(&l, BS_GS_STATUS, "NORMAL", 2);
    bs_gossip_ep_set(&l, BS_GS_LOAD, "9", 40);
    int what;
    uint32_t ch;
    /* older generation: ignored however high its versions */
    mk(&r, "10.0.0.1", 999, 500);
    bs_gossip_ep_set(&r, BS_GS_STATUS, "LEFT", 400);
    ck_assert_int_eq(bs_gossip_ep_merge(&l, &r, 2000, &what, &ch), 0);
    ck_assert_int_eq(what, BS_GOSSIP_M_IGNORED);
    ck_assert_str_eq(l.app[BS_GS_STATUS].value, "NORMAL");
    bs_gossip_ep_clear(&r);
    /* implausibly far future generation: ignored */
    mk(&r, "10.0.0.1", 2000 + BS_GOSSIP_MAX_GEN_AHEAD + 1, 1);
    ck_assert_int_eq(bs_gossip_ep_merge(&l, &r, 2000, &what, &ch), 0);
    ck_assert_int_eq(what, BS_GOSSIP_M_IGNORED);
    ck_assert_int_eq(l.generation, 1000);
    bs_gossip_ep_clear(&r);
    /* restart: newer generation replaces everything, even with low versions */
    mk(&r, "10.0.0.1", 1500, 3);
    bs_gossip_ep_set(&r, BS_GS_STATUS, "NORMAL", 1);
    ck_assert_int_eq(bs_gossip_ep_merge(&l, &r, 2000, &what, &ch), 0);
    ck_assert(what & BS_GOSSIP_M_RESTART);
    ck_assert_uint_eq(ch,
                      1u << BS_GS_LOAD); /* LOAD vanished; STATUS same value */
    ck_assert_int_eq(l.generation, 1500);
    ck_assert_int_eq(l.hb_version, 3);
    ck_assert_ptr_null(l.app[BS_GS_LOAD].value);
    ck_assert_int_eq(l.app[BS_GS_STATUS].version, 1);
    bs_gossip_ep_clear(&l);
    bs_gossip_ep_clear(&r);
}
END_TEST

START_TEST(delta_and_copy) {
    bs_gossip_ep s, d;
    mk(&s, "10.0.0.1", 7, 10);
    bs_gossip_ep_set(&s, BS_GS_STATUS, "NORMAL", 2);
    bs_gossip_ep_set(&s, BS_GS_SCHEMA, "x", 9);
    ck_assert_int_eq(bs_gossip_ep_delta(&s, 5, &d), 0);
    ck_assert_int_eq(d.generation, 7);
    ck_assert_int_eq(d.hb_version, 10);
    ck_assert_ptr_null(d.app[BS_GS_STATUS].value);
    ck_assert_str_eq(d.app[BS_GS_SCHEMA].value, "x");
    bs_gossip_ep_clear(&d);
    ck_assert_int_eq(bs_gossip_ep_copy(&d, &s), 0);
    ck_assert_str_eq(d.app[BS_GS_STATUS].value, "NORMAL");
    bs_gossip_ep_clear(&d);
    bs_gossip_ep_clear(&s);
    ck_assert_int_eq(bs_gossip_ep_set(&s, BS_GS_NSTATES, "x", 1), BS_EINVAL);
    ck_assert_str_eq(bs_gossip_app_name(BS_GS_SCHEMA), "SCHEMA");
}
END_TEST

/* ---- examine ------------------------------------------------------------- */

START_TEST(examine_digests) {
    bs_gossip_ep a, b, c, e;
    mk(&a, "10.0.0.1", 100, 10); /* same gen: we are ahead of digest (5) */
    bs_gossip_ep_set(&a, BS_GS_SCHEMA, "s", 8);
    bs_gossip_ep_set(&a, BS_GS_STATUS, "NORMAL", 2);
    mk(&b, "10.0.0.2", 100, 10); /* same gen: digest ahead (20) */
    mk(&c, "10.0.0.3", 100, 10); /* digest has older gen */
    mk(&e, "10.0.0.5", 100, 10); /* not mentioned */
    bs_gossip_ep *local[] = {&a, &b, &c, &e};
    bs_gossip_digest d[] = {
        {P("10.0.0.1", 7000), 100, 5},  {P("10.0.0.2", 7000), 100, 20},
        {P("10.0.0.3", 7000), 90, 99},  {P("10.0.0.4", 7000), 50, 3},
        {P("10.0.0.2", 7001), 100, 10}, /* other port: unknown endpoint */
    };
    bs_gossip_digest *rq;
    bs_gossip_ep *dl;
    size_t nrq, ndl;
    ck_assert_int_eq(bs_gossip_examine(local, 4, d, 5, &rq, &nrq, &dl, &ndl),
                     0);
    ck_assert_uint_eq(nrq, 3);
    ck_assert_str_eq(rq[0].ep.addr, "10.0.0.2");
    ck_assert_int_eq(rq[0].max_version, 10); /* send me above 10 */
    ck_assert_str_eq(rq[1].ep.addr, "10.0.0.4");
    ck_assert_int_eq(rq[1].max_version, 0);
    ck_assert_uint_eq(rq[2].ep.port, 7001);
    ck_assert_uint_eq(ndl, 3);
    /* 10.0.0.1: only versions above 5 */
    ck_assert_str_eq(dl[0].ep.addr, "10.0.0.1");
    ck_assert_str_eq(dl[0].app[BS_GS_SCHEMA].value, "s");
    ck_assert_ptr_null(dl[0].app[BS_GS_STATUS].value);
    /* 10.0.0.3: everything, the sender has an older generation */
    ck_assert_str_eq(dl[1].ep.addr, "10.0.0.3");
    ck_assert_int_eq(dl[1].generation, 100);
    /* 10.0.0.5: not in the digests, sent whole */
    ck_assert_str_eq(dl[2].ep.addr, "10.0.0.5");
    free(rq);
    bs_gossip_free_eps(dl, ndl);
    bs_gossip_ep_clear(&a);
    bs_gossip_ep_clear(&b);
    bs_gossip_ep_clear(&c);
    bs_gossip_ep_clear(&e);
}
END_TEST

/* ---- codecs ----------------------------------------------------------------
 */

START_TEST(codecs_round_trip_and_reject_garbage) {
    bs_gossip_digest d[2] = {{P("10.0.0.1", 7000), 100, 5},
                             {P("::1", 7001), 7, 0}};
    bs_buf b = BS_BUF_INIT;
    ck_assert_int_eq(bs_gossip_syn_encode("Test Cluster", d, 2, &b), 0);
    char cl[64];
    bs_gossip_digest *dd;
    size_t n;
    ck_assert_int_eq(
        bs_gossip_syn_decode(b.data, b.len, cl, sizeof cl, &dd, &n), 0);
    ck_assert_str_eq(cl, "Test Cluster");
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(dd[1].ep.addr, "::1");
    ck_assert_int_eq(dd[0].max_version, 5);
    free(dd);
    for (size_t cut = 0; cut < b.len; cut++)
        ck_assert_int_ne(
            bs_gossip_syn_decode(b.data, cut, cl, sizeof cl, &dd, &n), 0);
    /* cluster name longer than the caller's buffer */
    ck_assert_int_ne(bs_gossip_syn_decode(b.data, b.len, cl, 4, &dd, &n), 0);
    bs_buf_free(&b);

    bs_gossip_ep e[2];
    mk(&e[0], "10.0.0.1", 100, 10);
    bs_gossip_ep_set(&e[0], BS_GS_TOKENS, "1,2,-3", 4);
    bs_gossip_ep_set(&e[0], BS_GS_HOST_ID, "abc", 5);
    mk(&e[1], "10.0.0.2", 101, 1);
    ck_assert_int_eq(bs_gossip_ack_encode(e, 2, d, 1, &b), 0);
    bs_gossip_ep *ee;
    bs_gossip_digest *rr;
    size_t ne, nr;
    ck_assert_int_eq(bs_gossip_ack_decode(b.data, b.len, &ee, &ne, &rr, &nr),
                     0);
    ck_assert_uint_eq(ne, 2);
    ck_assert_uint_eq(nr, 1);
    ck_assert_str_eq(ee[0].app[BS_GS_TOKENS].value, "1,2,-3");
    ck_assert_int_eq(ee[0].app[BS_GS_HOST_ID].version, 5);
    ck_assert_int_eq(ee[1].generation, 101);
    bs_gossip_free_eps(ee, ne);
    free(rr);
    for (size_t cut = 0; cut < b.len; cut++)
        ck_assert_int_ne(bs_gossip_ack_decode(b.data, cut, &ee, &ne, &rr, &nr),
                         0);
    /* flip every byte once: decode either fails or yields a valid state */
    for (size_t i = 0; i < b.len; i++) {
        b.data[i] ^= 0x5a;
        if (bs_gossip_ack_decode(b.data, b.len, &ee, &ne, &rr, &nr) == 0) {
            bs_gossip_free_eps(ee, ne);
            free(rr);
        }
        b.data[i] ^= 0x5a;
    }
    bs_buf_free(&b);
    bs_gossip_ep_clear(&e[0]);
    bs_gossip_ep_clear(&e[1]);
    /* an address that is not an IP */
    uint8_t bad[] = {0x82, 0xa1, 'c', 0xa1, 'x',  0xa1, 'd',  0x91, 0x94,
                     0xa3, 'b',  'a', 'd',  0xcd, 0x1b, 0x58, 0x01, 0x01};
    ck_assert_int_eq(
        bs_gossip_syn_decode(bad, sizeof bad, cl, sizeof cl, &dd, &n),
        BS_ECORRUPT);
}
END_TEST

/* ---- phi -------------------------------------------------------------------
 */

START_TEST(phi_accrual) {
    const int64_t S = 1000000000LL;
    bs_fd_window w;
    bs_fd_init(&w);
    ck_assert(bs_fd_phi(&w, 5 * S) == 0.0);
    bs_fd_report(&w, 10 * S, 2 * S, 2 * S); /* first: initial 2 s sample */
    ck_assert(fabs(bs_fd_mean(&w) - 2.0 * S) < 1);
    for (int i = 1; i <= 99; i++)
        bs_fd_report(&w, (10 + i) * S, 2 * S, 2 * S);
    /* 100 samples: one of 2 s, 99 of 1 s */
    ck_assert(fabs(bs_fd_mean(&w) - 1.01 * S) < 1e3);
    int64_t last = 109 * S;
    double phi1 = bs_fd_phi(&w, last + S);
    ck_assert(fabs(phi1 - (1.0 / 1.01) / log(10.0)) < 1e-6);
    /* phi grows linearly with silence: threshold 8 is crossed after
     * 8 * ln(10) * mean = 18.6 s */
    ck_assert(bs_fd_phi(&w, last + 18 * S) < 8.0);
    ck_assert(bs_fd_phi(&w, last + 19 * S) > 8.0);
    /* the window slides: 100 more 1 s samples push the 2 s one out */
    for (int i = 1; i <= 100; i++)
        bs_fd_report(&w, last + i * S, 2 * S, 2 * S);
    ck_assert(fabs(bs_fd_mean(&w) - 1.0 * S) < 1e3);
    /* a long pause is not sampled as an interval */
    last += 100 * S;
    bs_fd_report(&w, last + 60 * S, 2 * S, 2 * S);
    ck_assert(fabs(bs_fd_mean(&w) - 1.0 * S) < 1e3);
    ck_assert(bs_fd_phi(&w, last + 60 * S) == 0.0);
}
END_TEST

/* ---- live gossipers -------------------------------------------------------
 */

typedef struct node {
    bs_msg *m;
    bs_gossip *g;
} node;

static int alive_count(node *n, const char *schema_want, int *schema_ok) {
    bs_gossip_view *v;
    size_t k;
    ck_assert_int_eq(bs_gossip_snapshot(n->g, &v, &k), 0);
    int alive = 0, ok = 0;
    for (size_t i = 0; i < k; i++) {
        alive += v[i].alive;
        if (schema_want && v[i].st.app[BS_GS_SCHEMA].value &&
            strcmp(v[i].st.app[BS_GS_SCHEMA].value, schema_want) == 0)
            ok++;
    }
    if (schema_ok) *schema_ok = ok;
    bs_gossip_views_free(v, k);
    return alive;
}

static int evs[8];
/* CHANGE events naming TOKENS and STATUS together, or only one of them */
static int tok_st_both, tok_st_one;
static void listener(void *ud, bs_gossip_event ev, const bs_gossip_ep *ep,
                     uint32_t ch) {
    (void)ud;
    (void)ep;
    __atomic_fetch_add(&evs[ev], 1, __ATOMIC_SEQ_CST);
    uint32_t ts = ch & (1u << BS_GS_TOKENS | 1u << BS_GS_STATUS);
    if (ev == BS_GOSSIP_EV_CHANGE && ts)
        __atomic_fetch_add(ts == (1u << BS_GS_TOKENS | 1u << BS_GS_STATUS) ? &tok_st_both
                                                                           : &tok_st_one,
                           1, __ATOMIC_SEQ_CST);
}

static void start_node(node *n, const char *addr, uint16_t port,
                       const bs_msg_peer *seed, int32_t gen) {
    bs_msg_opts o;
    bs_msg_opts_default(&o);
    o.secret = (const uint8_t *)"unit-test cluster secret";
    o.secret_len = 24;
    o.cluster_name = "G";
    o.listen_address = addr;
    o.port = port;
    o.reconnect_min_ms = 20;
    o.reconnect_max_ms = 100;
    bs_uuid_v4(&o.host_id);
    ck_assert_int_eq(bs_msg_start(&o, &n->m), 0);
    bs_gossip_opts go;
    memset(&go, 0, sizeof go);
    go.msg = n->m;
    go.cluster_name = "G";
    go.seeds = seed;
    go.nseeds = seed ? 1 : 0;
    go.generation = gen;
    go.interval_ms = 50;
    go.phi_threshold = 8;
    go.listener = listener;
    const char *vals[BS_GS_NSTATES] = {0};
    vals[BS_GS_STATUS] = "NORMAL";
    vals[BS_GS_DC] = "dc1";
    vals[BS_GS_SCHEMA] = "s0";
    ck_assert_int_eq(bs_gossip_start(&go, vals, &n->g), 0);
}

static void stop_node(node *n) {
    bs_gossip_stop(n->g);
    bs_msg_stop(n->m);
}

#define WAIT(cond)                                                             \
    do {                                                                       \
        int ok_ = 0;                                                           \
        for (int i_ = 0; i_ < 1500 && !ok_; i_++) {                            \
            ok_ = (cond);                                                      \
            if (!ok_) usleep(10000);                                           \
        }                                                                      \
        ck_assert_msg(ok_, "condition never held: %s", #cond);                 \
    } while (0)

START_TEST(three_gossipers_converge_detect_down_and_up) {
    node n[3];
    memset(n, 0, sizeof n);
    start_node(&n[0], "127.0.0.1", 0, NULL, 100);
    bs_msg_peer seed;
    bs_msg_local(n[0].m, &seed);
    /* node 0 is the seed and knows nobody: it waits to be contacted */
    start_node(&n[1], "127.0.0.2", 0, &seed, 100);
    start_node(&n[2], "127.0.0.3", 0, &seed, 100);
    for (int i = 0; i < 3; i++)
        WAIT(alive_count(&n[i], NULL, NULL) == 3);
    /* a state change spreads */
    ck_assert_int_eq(bs_gossip_set_local(n[2].g, BS_GS_SCHEMA, "s1"), 0);
    int ok;
    for (int i = 0; i < 3; i++)
        WAIT((alive_count(&n[i], "s1", &ok), ok == 1));
    /* states set together arrive together: one CHANGE naming both on
     * node 2 itself and on each peer, never one without the other */
    const int apps[2] = {BS_GS_TOKENS, BS_GS_STATUS};
    const char *vals[2] = {"1,2,3", "JOINING"};
    ck_assert_int_eq(bs_gossip_set_locals(n[2].g, 2, apps, vals), 0);
    WAIT(__atomic_load_n(&tok_st_both, __ATOMIC_SEQ_CST) == 3);
    ck_assert_int_eq(__atomic_load_n(&tok_st_one, __ATOMIC_SEQ_CST), 0);
    const char *bad[2] = {"1", NULL};
    ck_assert_int_eq(bs_gossip_set_locals(n[2].g, 2, apps, bad), BS_EINVAL);
    /* node 2 stops: both others mark it down */
    bs_msg_peer p2;
    bs_msg_local(n[2].m, &p2);
    stop_node(&n[2]);
    WAIT(bs_gossip_is_alive(n[0].g, &p2) == 0);
    WAIT(bs_gossip_is_alive(n[1].g, &p2) == 0);
    /* listeners are called after the state lock is released, so an event
     * may trail the state the snapshot shows by a moment */
    WAIT(__atomic_load_n(&evs[BS_GOSSIP_EV_DEAD], __ATOMIC_SEQ_CST) >= 2);
    /* it comes back on the same endpoint with a new generation: UP again */
    int ups = __atomic_load_n(&evs[BS_GOSSIP_EV_ALIVE], __ATOMIC_SEQ_CST);
    start_node(&n[2], "127.0.0.3", p2.port, &seed, 101);
    WAIT(bs_gossip_is_alive(n[0].g, &p2) == 1);
    WAIT(bs_gossip_is_alive(n[1].g, &p2) == 1);
    WAIT(__atomic_load_n(&evs[BS_GOSSIP_EV_ALIVE], __ATOMIC_SEQ_CST) >=
         ups + 2);
    WAIT(__atomic_load_n(&evs[BS_GOSSIP_EV_RESTART], __ATOMIC_SEQ_CST) >= 2);
    /* restarted node knows everyone again */
    WAIT(alive_count(&n[2], NULL, NULL) == 3);
    for (int i = 0; i < 3; i++)
        stop_node(&n[i]);
}
END_TEST

/* A paused peer (no heartbeats, socket still open) is convicted by phi. */
static void pause_fn(void *ud) {
    (void)ud;
    usleep(3000 * 1000);
}

START_TEST(silent_peer_is_convicted_by_phi) {
    node n[2];
    memset(n, 0, sizeof n);
    start_node(&n[0], "127.0.0.1", 0, NULL, 100);
    bs_msg_peer seed, p1;
    bs_msg_local(n[0].m, &seed);
    start_node(&n[1], "127.0.0.2", 0, &seed, 100);
    bs_msg_local(n[1].m, &p1);
    WAIT(alive_count(&n[0], NULL, NULL) == 2);
    WAIT(alive_count(&n[1], NULL, NULL) == 2);
    /* block node 1's messaging thread for 3 s (60 rounds; with a mean
     * interval of at most 100 ms phi passes 8 after 1.9 s), as SIGSTOP
     * would */
    ck_assert_int_eq(bs_msg_call(n[1].m, pause_fn, NULL), 0);
    WAIT(bs_gossip_is_alive(n[0].g, &p1) == 0);
    /* and back up once it runs again */
    WAIT(bs_gossip_is_alive(n[0].g, &p1) == 1);
    stop_node(&n[1]);
    stop_node(&n[0]);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("gossip");
    TCase *t = tcase_create("rules");
    tcase_add_test(t, merge_new_endpoint_takes_everything);
    tcase_add_test(t, merge_same_generation_takes_newer_versions_only);
    tcase_add_test(t, merge_generations);
    tcase_add_test(t, delta_and_copy);
    tcase_add_test(t, examine_digests);
    tcase_add_test(t, codecs_round_trip_and_reject_garbage);
    tcase_add_test(t, phi_accrual);
    suite_add_tcase(s, t);
    t = tcase_create("live");
    tcase_set_timeout(t, 90);
    tcase_add_test(t, three_gossipers_converge_detect_down_and_up);
    tcase_add_test(t, silent_peer_is_convicted_by_phi);
    suite_add_tcase(s, t);
    return s;
}

int main(void) {
    bs_log_set_level(BS_LOG_ERROR);
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
