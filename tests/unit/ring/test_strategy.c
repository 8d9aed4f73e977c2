/*
 * test_strategy.c - SimpleStrategy / NetworkTopologyStrategy placement,
 * replica maps, replicated ranges and effective ownership.
 *
 * Hand-built rings check exact replica lists (incl. NTS rack handling);
 * property tests run 300 random clusters (seeded) with both strategies
 * and 2,000+ looked-up tokens each against the brute-force placement in
 * ring_test_util.h.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "ring/strategy.h"
#include "ring_test_util.h"

/* A ring with one token per node at 10, 20, 30...; node i at (i+1)*10. */
static bs_ring_snapshot *line_ring(tc_cluster *c, int n, const int *dc,
                                   const int *rack) {
    c->n = n;
    for (int i = 0; i < n; i++) {
        tc_set_node(&c->nodes[i], i, dc[i], rack[i]);
        c->nodes[i].tokens[0] = (i + 1) * 10;
        c->nodes[i].ntokens = 1;
    }
    return tc_build(c);
}

static void expect(const bs_ring_replica_map *m, int64_t t, const uint32_t *want,
                   size_t nwant) {
    const uint32_t *r;
    size_t n;
    ck_assert_int_eq(bs_ring_replica_map_lookup(m, t, &r, &n), 0);
    ck_assert_uint_eq(n, nwant);
    for (size_t i = 0; i < n; i++) ck_assert_uint_eq(r[i], want[i]);
}

START_TEST(simple_walks_distinct_nodes) {
    tc_cluster c;
    c.n = 3;
    /* node 0 owns 10 and 20, node 1 owns 30, node 2 owns 40 */
    for (int i = 0; i < 3; i++) tc_set_node(&c.nodes[i], i, 0, 0);
    c.nodes[0].tokens[0] = 10;
    c.nodes[0].tokens[1] = 20;
    c.nodes[0].ntokens = 2;
    c.nodes[1].tokens[0] = 30;
    c.nodes[1].ntokens = 1;
    c.nodes[2].tokens[0] = 40;
    c.nodes[2].ntokens = 1;
    bs_ring_snapshot *s = tc_build(&c);
    bs_ring_strategy *st;
    ck_assert_int_eq(bs_ring_strategy_simple(2, &st), 0);
    bs_ring_replica_map *m;
    ck_assert_int_eq(bs_ring_replica_map_build(s, st, &m), 0);
    expect(m, 5, (uint32_t[]){0, 1}, 2);  /* 10(0), 20(0) skipped, 30(1) */
    expect(m, 15, (uint32_t[]){0, 1}, 2);
    expect(m, 25, (uint32_t[]){1, 2}, 2);
    expect(m, 40, (uint32_t[]){2, 0}, 2);
    expect(m, 41, (uint32_t[]){0, 1}, 2); /* wraps */
    ck_assert_int_eq(bs_ring_replica_map_is_replica(m, 25, 2), 1);
    ck_assert_int_eq(bs_ring_replica_map_is_replica(m, 25, 0), 0);
    /* rf above the node count: every node */
    bs_ring_strategy *st5;
    ck_assert_int_eq(bs_ring_strategy_simple(5, &st5), 0);
    uint32_t out[8];
    size_t n;
    ck_assert_int_eq(bs_ring_replicas(s, st5, 35, out, 8, &n), 0);
    ck_assert_uint_eq(n, 3);
    ck_assert_uint_eq(out[0], 2);
    ck_assert_uint_eq(out[1], 0);
    ck_assert_uint_eq(out[2], 1);
    ck_assert_int_eq(bs_ring_replicas(s, st5, 35, out, 2, &n), BS_ERANGE);
    ck_assert_uint_eq(n, 3);
    bs_ring_strategy_free(st5);
    ck_assert_int_eq(bs_ring_strategy_simple(0, &st5), BS_EINVAL);
    ck_assert_ptr_null(st5);
    /* effective ownership: widths of (40,10]=2^64-30, (10,20], ... */
    double own[3];
    bs_ring_replica_map_ownership(m, own);
    ck_assert_double_eq_tol(own[0] + own[1] + own[2], 2.0, 1e-12);
    ck_assert_double_eq_tol(own[0], 1.0, 1e-12); /* in every list but (20,30] */
    bs_ring_replica_map_release(m);
    bs_ring_strategy_free(st);
    bs_ring_snapshot_release(s);
}
END_TEST

START_TEST(nts_spreads_racks_then_repeats) {
    tc_cluster c;
    /* dc0: nodes 0..5 with racks a a b a b c at tokens 10..60;
     * dc1: node 6 at 70 */
    int dc[7] = {0, 0, 0, 0, 0, 0, 1}, rack[7] = {0, 0, 1, 0, 1, 2, 0};
    bs_ring_snapshot *s = line_ring(&c, 7, dc, rack);
    const char *names[2] = {"dc0", "dc1"};
    bs_ring_strategy *st;
    bs_ring_replica_map *m;

    /* rf 3 with 3 racks: distinct racks, skipping rack repeats */
    ck_assert_int_eq(bs_ring_strategy_nts(names, (uint32_t[]){3, 1}, 2, &st), 0);
    ck_assert_uint_eq(bs_ring_strategy_rf(st), 4);
    ck_assert_uint_eq(bs_ring_strategy_dc_rf(st, "dc1"), 1);
    ck_assert_int_eq(bs_ring_replica_map_build(s, st, &m), 0);
    expect(m, 10, (uint32_t[]){0, 2, 5, 6}, 4); /* r0 r1 r2 + dc1 */
    expect(m, 35, (uint32_t[]){3, 4, 5, 6}, 4); /* a b c, dc1 */
    expect(m, 45, (uint32_t[]){4, 5, 6, 0}, 4); /* b c, dc1, a (wrap) */
    bs_ring_replica_map_release(m);
    bs_ring_strategy_free(st);

    /* rf 5 with 3 racks: 2 rack repeats allowed, taken in ring order */
    ck_assert_int_eq(bs_ring_strategy_nts(names, (uint32_t[]){5, 0}, 2, &st), 0);
    ck_assert_int_eq(bs_ring_replica_map_build(s, st, &m), 0);
    /* from 10: 0(a) 1(a, repeat 1) 2(b) 3(a, repeat 2) 4(b: no budget)
     * 5(c) */
    expect(m, 10, (uint32_t[]){0, 1, 2, 3, 5}, 5);
    /* from 40: 3(a) 4(b) 5(c) 0(a, rep) 1(a, rep) */
    expect(m, 40, (uint32_t[]){3, 4, 5, 0, 1}, 5);
    bs_ring_replica_map_release(m);
    bs_ring_strategy_free(st);

    /* rf above the DC size: all 6 nodes of dc0 */
    ck_assert_int_eq(bs_ring_strategy_nts(names, (uint32_t[]){9, 0}, 2, &st), 0);
    ck_assert_int_eq(bs_ring_replica_map_build(s, st, &m), 0);
    expect(m, 55, (uint32_t[]){5, 0, 1, 2, 3, 4}, 6);
    bs_ring_replica_map_release(m);
    bs_ring_strategy_free(st);

    /* a DC unknown to the ring contributes nothing */
    const char *n2[2] = {"dc1", "elsewhere"};
    ck_assert_int_eq(bs_ring_strategy_nts(n2, (uint32_t[]){2, 3}, 2, &st), 0);
    ck_assert_int_eq(bs_ring_replica_map_build(s, st, &m), 0);
    expect(m, 1, (uint32_t[]){6}, 1);
    bs_ring_replica_map_release(m);
    bs_ring_strategy_free(st);

    const char *dup[2] = {"dc0", "dc0"};
    ck_assert_int_eq(bs_ring_strategy_nts(dup, (uint32_t[]){1, 1}, 2, &st),
                     BS_EINVAL);
    ck_assert_int_eq(bs_ring_strategy_nts(names, (uint32_t[]){1, 1}, 0, &st),
                     BS_EINVAL);
    bs_ring_snapshot_release(s);
}
END_TEST

START_TEST(map_keeps_snapshot_alive) {
    tc_cluster c;
    int dc[3] = {0, 0, 0}, rack[3] = {0, 1, 2};
    bs_ring_snapshot *s = line_ring(&c, 3, dc, rack);
    bs_ring_strategy *st;
    bs_ring_strategy_simple(2, &st);
    bs_ring_replica_map *m;
    ck_assert_int_eq(bs_ring_replica_map_build(s, st, &m), 0);
    bs_ring_strategy_free(st);
    bs_ring_snapshot_release(s); /* the map still holds one */
    bs_ring_replica_map *m2 = bs_ring_replica_map_retain(m);
    bs_ring_replica_map_release(m);
    expect(m2, 25, (uint32_t[]){2, 0}, 2);
    const bs_ring_snapshot *ms = bs_ring_replica_map_snapshot(m2);
    ck_assert_uint_eq(bs_ring_snapshot_node_count(ms), 3);
    bs_ring_replica_map_release(m2);
}
END_TEST

/* ---- properties over random clusters ---------------------------------- */

static void check_cluster(const tc_cluster *c, const bf_strategy *bst,
                          uint64_t *rng) {
    bs_ring_snapshot *s = tc_build(c);
    bs_ring_strategy *st = bf_make(bst);
    bs_ring_replica_map *m;
    TC_CHECK(bs_ring_replica_map_build(s, st, &m) == 0);
    static bf_pair pairs[TC_MAX_NODES * TC_MAX_VN];
    int np = bf_pairs(c, pairs);

    /* expected counts per DC */
    int want_total = 0;
    int dc_nodes[4] = {0}, dc_racks[4] = {0}, dc_want[4] = {0};
    if (bst->simple) {
        int owning = 0;
        for (int i = 0; i < c->n; i++) owning += c->nodes[i].ntokens > 0;
        want_total = bst->rf < owning ? bst->rf : owning;
    } else {
        for (int d = 0; d < bst->ndcs; d++) {
            bf_dc_counts(c, bst->dcs[d], &dc_nodes[d], &dc_racks[d]);
            dc_want[d] = bst->rfs[d] < dc_nodes[d] ? bst->rfs[d] : dc_nodes[d];
            want_total += dc_want[d];
        }
    }
    bs_ring_range *ranges[TC_MAX_NODES];
    size_t nranges[TC_MAX_NODES];
    for (int i = 0; i < c->n; i++)
        TC_CHECK(bs_ring_replica_map_ranges(m, (uint32_t)i, &ranges[i],
                                            &nranges[i]) == 0);

    int nq = 2000 + np * 2;
    for (int q = 0; q < nq; q++) {
        int64_t t = q < np * 2 ? (int64_t)((uint64_t)pairs[q / 2].t + (q & 1))
                               : (int64_t)bs_ring_rng_next(rng);
        const uint32_t *r;
        size_t n;
        if (np == 0) {
            TC_CHECK(bs_ring_replica_map_lookup(m, t, &r, &n) == BS_ENOTFOUND);
            continue;
        }
        TC_CHECK(bs_ring_replica_map_lookup(m, t, &r, &n) == 0);
        TC_CHECK((n) == ((size_t)want_total));
        /* the uncached walk gives the same list */
        uint32_t walk[32];
        size_t wn;
        TC_CHECK(bs_ring_replicas(s, st, t, walk, 32, &wn) == 0);
        TC_CHECK((wn) == (n));
        for (size_t i = 0; i < n; i++) TC_CHECK((walk[i]) == (r[i]));
        /* distinct */
        for (size_t i = 0; i < n; i++)
            for (size_t j = i + 1; j < n; j++) TC_CHECK((r[i]) != (r[j]));
        /* same set and primary as brute force */
        int bf[32], prim;
        int bn = bf_replicas(c, pairs, np, bst, t, bf, &prim);
        TC_CHECK((bn) == ((int)n));
        int sorted[32];
        for (size_t i = 0; i < n; i++) sorted[i] = (int)r[i];
        for (size_t i = 1; i < n; i++)
            for (size_t j = i; j > 0 && sorted[j - 1] > sorted[j]; j--) {
                int x = sorted[j];
                sorted[j] = sorted[j - 1];
                sorted[j - 1] = x;
            }
        for (int i = 0; i < bn; i++) TC_CHECK((sorted[i]) == (bf[i]));
        if (n) TC_CHECK(((int)r[0]) == (prim));
        /* per DC: count and rack spread */
        if (!bst->simple) {
            for (int d = 0; d < bst->ndcs; d++) {
                int cnt = 0, nr = 0;
                const char *racks[32];
                for (size_t i = 0; i < n; i++) {
                    const tc_node *nd = &c->nodes[r[i]];
                    if (strcmp(nd->dc, bst->dcs[d])) continue;
                    cnt++;
                    int seen = 0;
                    for (int k = 0; k < nr; k++) seen |= !strcmp(racks[k], nd->rack);
                    if (!seen) racks[nr++] = nd->rack;
                }
                TC_CHECK((cnt) == (dc_want[d]));
                int want_racks = bst->rfs[d] < dc_racks[d] ? bst->rfs[d]
                                                           : dc_racks[d];
                TC_CHECK((nr) == (want_racks));
            }
        }
        /* ranges of each node agree with membership */
        for (int i = 0; i < c->n; i++) {
            int in = 0;
            for (size_t k = 0; k < nranges[i] && !in; k++)
                in = tc_in_range(&ranges[i][k], t);
            int member = 0;
            for (size_t k = 0; k < n; k++) member |= r[k] == (uint32_t)i;
            TC_CHECK((in) == (member));
        }
    }
    /* effective ownership sums to replicas per token, each <= 1 */
    double own[TC_MAX_NODES], sum = 0;
    bs_ring_replica_map_ownership(m, own);
    for (int i = 0; i < c->n; i++) {
        TC_CHECK(own[i] <= 1.0 + 1e-9);
        double w = 0;
        for (size_t k = 0; k < nranges[i]; k++) w += bs_ring_range_width(&ranges[i][k]);
        ck_assert_double_eq_tol(own[i], w, 1e-9);
        sum += own[i];
        free(ranges[i]);
    }
    if (np) ck_assert_double_eq_tol(sum, (double)want_total, 1e-9);
    bs_ring_replica_map_release(m);
    bs_ring_strategy_free(st);
    bs_ring_snapshot_release(s);
}

START_TEST(random_clusters_properties) {
    uint64_t rng = 0xc105e5;
    for (int i = 0; i < 300; i++) {
        tc_cluster c;
        bf_strategy simple, nts;
        tc_random(&rng, &c, &simple, &nts);
        check_cluster(&c, &simple, &rng);
        check_cluster(&c, &nts, &rng);
    }
}
END_TEST

int main(void) {
    Suite *s = suite_create("ring_strategy");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, simple_walks_distinct_nodes);
    tcase_add_test(tc, nts_spreads_racks_then_repeats);
    tcase_add_test(tc, map_keeps_snapshot_alive);
    tcase_add_test(tc, random_clusters_properties);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
