/*
 * test_pending.c - pending ranges for joining and leaving nodes, checked
 * against before/after replica-set differences computed by the brute
 * force placement of ring_test_util.h.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "ring/pending.h"
#include "ring_test_util.h"

START_TEST(join_hand_case) {
    /* nodes at 100, 200, 300 (SimpleStrategy rf 1); node 3 joins at 150 */
    tc_cluster c = {.n = 3};
    for (int i = 0; i < 3; i++) {
        tc_set_node(&c.nodes[i], i, 0, 0);
        c.nodes[i].tokens[0] = (i + 1) * 100;
        c.nodes[i].ntokens = 1;
    }
    bs_ring_snapshot *s = tc_build(&c);
    bs_ring_strategy *st;
    bs_ring_strategy_simple(1, &st);
    tc_node j;
    tc_set_node(&j, 3, 0, 0);
    j.tokens[0] = 150;
    j.ntokens = 1;
    bs_ring_node_desc d = tc_desc(&j);
    bs_ring_pending *p;
    ck_assert_int_eq(bs_ring_pending_for_join(s, &d, st, &p), 0);
    const uint32_t *nodes;
    size_t n;
    bs_ring_pending_endpoints(p, 120, &nodes, &n);
    ck_assert_uint_eq(n, 1);
    ck_assert_uint_eq(nodes[0], 3);
    bs_ring_node_desc back;
    bs_ring_snapshot_node(bs_ring_pending_snapshot(p), nodes[0], &back);
    ck_assert_int_eq(memcmp(back.host_id.b, j.id.b, 16), 0);
    bs_ring_pending_endpoints(p, 150, &nodes, &n);
    ck_assert_uint_eq(n, 1);
    bs_ring_pending_endpoints(p, 151, &nodes, &n);
    ck_assert_uint_eq(n, 0);
    bs_ring_pending_endpoints(p, 100, &nodes, &n);
    ck_assert_uint_eq(n, 0);
    bs_ring_pending_endpoints(p, 301, &nodes, &n); /* wrap */
    ck_assert_uint_eq(n, 0);
    ck_assert_uint_eq(bs_ring_pending_total(p), 1);
    ck_assert_uint_eq(bs_ring_pending_range_count(p), 4);
    bs_ring_range r;
    ck_assert_int_eq(bs_ring_pending_range_at(p, 1, &r, &nodes, &n), 0);
    ck_assert_int_eq(r.start, 100);
    ck_assert_int_eq(r.end, 150);
    ck_assert_uint_eq(n, 1);
    ck_assert_int_eq(bs_ring_pending_range_at(p, 4, &r, &nodes, &n),
                     BS_ERANGE);
    bs_ring_pending_free(p);

    /* the same node twice / unknown leaver */
    bs_ring_node_desc d0 = tc_desc(&c.nodes[0]);
    ck_assert_int_eq(bs_ring_pending_for_join(s, &d0, st, &p), BS_EEXIST);
    bs_uuid nobody = tc_id(77);
    ck_assert_int_eq(bs_ring_pending_for_leave(s, &nobody, st, &p),
                     BS_ENOTFOUND);

    /* leaving node 1 (200): rf 1, its range (100, 200] goes to node 2 */
    bs_uuid id1 = tc_id(1);
    ck_assert_int_eq(bs_ring_pending_for_leave(s, &id1, st, &p), 0);
    bs_ring_pending_endpoints(p, 180, &nodes, &n);
    ck_assert_uint_eq(n, 1);
    bs_ring_snapshot_node(bs_ring_pending_snapshot(p), nodes[0], &back);
    ck_assert_int_eq(memcmp(back.host_id.b, tc_id(2).b, 16), 0);
    bs_ring_pending_endpoints(p, 250, &nodes, &n);
    ck_assert_uint_eq(n, 0);
    ck_assert_uint_eq(bs_ring_pending_total(p), 1);
    bs_ring_pending_free(p);
    bs_ring_strategy_free(st);
    bs_ring_snapshot_release(s);
}
END_TEST

/* expected pending for token t: after-set minus before-set, in the
 * original numbering (future index -> original via fmap) */
static void check_pending(const tc_cluster *before, const tc_cluster *after,
                          const int *fmap, const bf_strategy *bst,
                          const bs_ring_pending *p, uint64_t *rng) {
    static bf_pair pb[TC_MAX_NODES * TC_MAX_VN], pa[TC_MAX_NODES * TC_MAX_VN];
    int nb = bf_pairs(before, pb), na = bf_pairs(after, pa);
    int nq = 1000 + 2 * (nb + na);
    for (int q = 0; q < nq; q++) {
        int64_t t;
        if (q < 2 * nb)
            t = (int64_t)((uint64_t)pb[q / 2].t + (q & 1));
        else if (q < 2 * (nb + na))
            t = (int64_t)((uint64_t)pa[(q - 2 * nb) / 2].t + (q & 1));
        else
            t = (int64_t)bs_ring_rng_next(rng);
        int b[32], a[32], prim;
        int bn = bf_replicas(before, pb, nb, bst, t, b, &prim);
        int an = bf_replicas(after, pa, na, bst, t, a, &prim);
        int want[32], wn = 0;
        for (int i = 0; i < an; i++) {
            int orig = fmap[a[i]];
            if (!bf_contains(b, bn, orig)) want[wn++] = orig;
        }
        const uint32_t *got;
        size_t gn;
        TC_CHECK(bs_ring_pending_endpoints(p, t, &got, &gn) == 0);
        TC_CHECK(gn == (size_t)wn);
        for (size_t i = 0; i < gn; i++) {
            TC_CHECK(got[i] < (uint32_t)after->n);
            TC_CHECK(bf_contains(want, wn, fmap[got[i]]));
        }
    }
    /* the enumeration agrees with lookups at each sub-range end */
    for (size_t i = 0; i < bs_ring_pending_range_count(p); i++) {
        bs_ring_range r;
        const uint32_t *e, *l;
        size_t en, ln;
        TC_CHECK(bs_ring_pending_range_at(p, i, &r, &e, &en) == 0);
        bs_ring_pending_endpoints(p, r.end, &l, &ln);
        TC_CHECK(ln == en && l == e);
    }
}

START_TEST(random_joins_and_leaves) {
    uint64_t rng = 0x9e4d;
    int joins = 0, leaves = 0, nonempty = 0;
    for (int round = 0; round < 200; round++) {
        tc_cluster c;
        bf_strategy simple, nts;
        tc_random(&rng, &c, &simple, &nts);
        const bf_strategy *bst = round % 2 ? &nts : &simple;
        bs_ring_snapshot *s = tc_build(&c);
        bs_ring_strategy *st = bf_make(bst);
        int fmap[TC_MAX_NODES + 1];
        bs_ring_pending *p;
        if (round % 4 < 2 || c.n == 1) { /* join */
            tc_cluster after = c;
            tc_node *j = &after.nodes[after.n];
            tc_set_node(j, c.n, (int)(bs_ring_rng_next(&rng) % 3),
                        (int)(bs_ring_rng_next(&rng) % 4));
            j->ntokens = 1 + bs_ring_rng_next(&rng) % 16;
            ck_assert_int_eq(bs_ring_tokens_random(s, &rng, j->ntokens,
                                                   j->tokens), 0);
            after.n++;
            for (int i = 0; i < after.n; i++) fmap[i] = i;
            bs_ring_node_desc d = tc_desc(j);
            ck_assert_int_eq(bs_ring_pending_for_join(s, &d, st, &p), 0);
            check_pending(&c, &after, fmap, bst, p, &rng);
            joins++;
        } else { /* leave */
            int k = (int)(bs_ring_rng_next(&rng) % (uint64_t)c.n);
            tc_cluster after = c;
            memmove(&after.nodes[k], &after.nodes[k + 1],
                    (size_t)(c.n - k - 1) * sizeof(tc_node));
            after.n--;
            for (int i = 0; i < after.n; i++) fmap[i] = i < k ? i : i + 1;
            ck_assert_int_eq(bs_ring_pending_for_leave(s, &c.nodes[k].id, st,
                                                       &p), 0);
            check_pending(&c, &after, fmap, bst, p, &rng);
            leaves++;
        }
        nonempty += bs_ring_pending_total(p) > 0;
        bs_ring_pending_free(p);
        bs_ring_strategy_free(st);
        bs_ring_snapshot_release(s);
    }
    ck_assert_int_gt(joins, 50);
    ck_assert_int_gt(leaves, 50);
    ck_assert_int_gt(nonempty, 100); /* the checks were not vacuous */
}
END_TEST

int main(void) {
    Suite *s = suite_create("ring_pending");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, join_hand_case);
    tcase_add_test(tc, random_joins_and_leaves);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
