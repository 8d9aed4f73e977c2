/*
 * test_tokenmeta.c - builder, snapshots, O(log n) lookups against a
 * linear scan, refcounting across threads, topology counts, proximity.
 */
#include <check.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "ring/alloc.h"
#include "ring/murmur3.h"
#include "ring/tokenmeta.h"
#include "ring_test_util.h"

START_TEST(build_and_read_back) {
    tc_cluster c = {.n = 3};
    int64_t toks[3][2] = {{-100, 500}, {0, 1000}, {-5000, 200}};
    for (int i = 0; i < 3; i++) {
        tc_set_node(&c.nodes[i], i, i == 2, 0);
        c.nodes[i].tokens[0] = toks[i][1]; /* unsorted on purpose */
        c.nodes[i].tokens[1] = toks[i][0];
        c.nodes[i].ntokens = 2;
    }
    bs_ring_snapshot *s = tc_build(&c);
    ck_assert_uint_eq(bs_ring_snapshot_node_count(s), 3);
    ck_assert_uint_eq(bs_ring_snapshot_token_count(s), 6);
    const int64_t sorted[6] = {-5000, -100, 0, 200, 500, 1000};
    const uint32_t owners[6] = {2, 0, 1, 2, 0, 1};
    for (size_t i = 0; i < 6; i++) {
        int64_t t;
        uint32_t o;
        ck_assert_int_eq(bs_ring_snapshot_token_at(s, i, &t, &o), 0);
        ck_assert_int_eq(t, sorted[i]);
        ck_assert_uint_eq(o, owners[i]);
    }
    ck_assert_int_eq(bs_ring_snapshot_token_at(s, 6, NULL, NULL), BS_ERANGE);
    bs_ring_node_desc d;
    ck_assert_int_eq(bs_ring_snapshot_node(s, 1, &d), 0);
    ck_assert_str_eq(d.endpoint, "127.0.0.2");
    ck_assert_str_eq(d.dc, "dc0");
    ck_assert_uint_eq(d.ntokens, 2);
    ck_assert_int_eq(d.tokens[0], 0); /* sorted copy */
    ck_assert_int_eq(d.tokens[1], 1000);
    ck_assert_int_eq(bs_ring_snapshot_node(s, 3, &d), BS_ERANGE);
    uint32_t idx;
    bs_uuid id = tc_id(2);
    ck_assert_int_eq(bs_ring_snapshot_find_node(s, &id, &idx), 0);
    ck_assert_uint_eq(idx, 2);
    id = tc_id(9);
    ck_assert_int_eq(bs_ring_snapshot_find_node(s, &id, &idx), BS_ENOTFOUND);

    /* primary: (prev, t] ranges, wrap past the last token */
    struct { int64_t t; uint32_t owner; } q[] = {
        {-5000, 2}, {-4999, 0}, {-100, 0}, {-99, 1}, {0, 1}, {1, 2},
        {1000, 1}, {1001, 2}, {INT64_MAX, 2}, {INT64_MIN, 2}};
    for (size_t i = 0; i < sizeof q / sizeof q[0]; i++) {
        uint32_t o;
        ck_assert_int_eq(bs_ring_snapshot_primary(s, q[i].t, &o), 0);
        ck_assert_uint_eq(o, q[i].owner);
    }
    bs_ring_range r;
    ck_assert_int_eq(bs_ring_snapshot_vnode_range(s, 0, &r), 0);
    ck_assert_int_eq(r.start, 1000); /* the wrapping range */
    ck_assert_int_eq(r.end, -5000);
    ck_assert_int_eq(bs_ring_snapshot_vnode_range(s, 3, &r), 0);
    ck_assert_int_eq(r.start, 0);
    ck_assert_int_eq(r.end, 200);

    ck_assert_uint_eq(bs_ring_snapshot_dc_count(s), 2);
    ck_assert_uint_eq(bs_ring_snapshot_dc_nodes(s, "dc0"), 2);
    ck_assert_uint_eq(bs_ring_snapshot_dc_nodes(s, "dc1"), 1);
    ck_assert_uint_eq(bs_ring_snapshot_dc_nodes(s, "nope"), 0);
    ck_assert_uint_eq(bs_ring_snapshot_dc_racks(s, "dc0"), 1);

    bs_ring_range *pr;
    size_t npr;
    ck_assert_int_eq(bs_ring_primary_ranges(s, 2, &pr, &npr), 0);
    ck_assert_uint_eq(npr, 2);
    ck_assert_int_eq(pr[0].start, 1000);
    ck_assert_int_eq(pr[0].end, -5000);
    ck_assert_int_eq(pr[1].start, 0);
    ck_assert_int_eq(pr[1].end, 200);
    free(pr);
    bs_ring_snapshot_release(s);
}
END_TEST

START_TEST(builder_rejects_bad_input) {
    bs_ring_builder *b;
    ck_assert_int_eq(bs_ring_builder_new(&b), 0);
    tc_node n;
    tc_set_node(&n, 1, 0, 0);
    n.tokens[0] = 10;
    n.ntokens = 1;
    bs_ring_node_desc d = tc_desc(&n);
    ck_assert_int_eq(bs_ring_builder_add_node(b, &d), 0);
    ck_assert_int_eq(bs_ring_builder_add_node(b, &d), BS_EEXIST);
    tc_node m;
    tc_set_node(&m, 2, 0, 0);
    m.tokens[0] = INT64_MIN;
    m.ntokens = 1;
    d = tc_desc(&m);
    ck_assert_int_eq(bs_ring_builder_add_node(b, &d), BS_EINVAL);
    d.dc = NULL;
    ck_assert_int_eq(bs_ring_builder_add_node(b, &d), BS_EINVAL);
    m.tokens[0] = 10; /* same token as node 1 */
    d = tc_desc(&m);
    ck_assert_int_eq(bs_ring_builder_add_node(b, &d), 0);
    bs_ring_snapshot *s = (bs_ring_snapshot *)0x1;
    ck_assert_int_eq(bs_ring_builder_build(b, &s), BS_EEXIST);
    ck_assert_ptr_null(s);
    bs_uuid id2 = tc_id(2), id7 = tc_id(7);
    ck_assert_int_eq(bs_ring_builder_remove_node(b, &id7), BS_ENOTFOUND);
    ck_assert_int_eq(bs_ring_builder_remove_node(b, &id2), 0);
    ck_assert_int_eq(bs_ring_builder_build(b, &s), 0);
    ck_assert_uint_eq(bs_ring_snapshot_node_count(s), 1);
    bs_ring_snapshot_release(s);
    bs_ring_builder_free(b);

    /* empty ring: lookups say so */
    ck_assert_int_eq(bs_ring_builder_new(&b), 0);
    ck_assert_int_eq(bs_ring_builder_build(b, &s), 0);
    uint32_t o;
    ck_assert_int_eq(bs_ring_snapshot_primary(s, 5, &o), BS_ENOTFOUND);
    bs_ring_snapshot_release(s);
    bs_ring_builder_free(b);
}
END_TEST

START_TEST(lookup_matches_linear_scan) {
    uint64_t rng = 17;
    for (int round = 0; round < 50; round++) {
        tc_cluster c;
        c.n = 1 + (int)(bs_ring_rng_next(&rng) % 12);
        for (int i = 0; i < c.n; i++) {
            tc_set_node(&c.nodes[i], i, 0, 0);
            c.nodes[i].ntokens = 1 + bs_ring_rng_next(&rng) % 32;
        }
        /* distinct tokens: draw them all at once */
        size_t total = 0;
        for (int i = 0; i < c.n; i++) total += c.nodes[i].ntokens;
        int64_t all[12 * 32];
        bs_ring_tokens_random(NULL, &rng, total, all);
        size_t k = 0;
        for (int i = 0; i < c.n; i++)
            for (size_t j = 0; j < c.nodes[i].ntokens; j++)
                c.nodes[i].tokens[j] = all[k++];
        bs_ring_snapshot *s = tc_build(&c);
        ck_assert_uint_eq(bs_ring_snapshot_token_count(s), total);
        /* invariant: strictly ascending */
        int64_t prev = INT64_MIN;
        for (size_t i = 0; i < total; i++) {
            int64_t t;
            bs_ring_snapshot_token_at(s, i, &t, NULL);
            ck_assert(i == 0 || t > prev);
            prev = t;
        }
        for (int q = 0; q < 2000; q++) {
            int64_t t;
            if (q < (int)total * 3) { /* exact tokens and neighbours */
                t = (int64_t)((uint64_t)all[q / 3] + (uint64_t)(q % 3) - 1);
                if (t == INT64_MIN) t++;
            } else {
                t = (int64_t)bs_ring_rng_next(&rng);
            }
            /* linear scan: smallest token >= t, else the smallest */
            int best = -1, min = -1;
            for (size_t i = 0; i < total; i++) {
                if (min < 0 || all[i] < all[min]) min = (int)i;
                if (all[i] >= t && (best < 0 || all[i] < all[best]))
                    best = (int)i;
            }
            if (best < 0) best = min;
            size_t acc = 0;
            int owner = -1;
            for (int i = 0; i < c.n && owner < 0; i++) {
                if ((size_t)best < acc + c.nodes[i].ntokens) owner = i;
                acc += c.nodes[i].ntokens;
            }
            uint32_t o;
            ck_assert_int_eq(bs_ring_snapshot_primary(s, t, &o), 0);
            ck_assert_uint_eq(o, (uint32_t)owner);
        }
        double own[12], sum = 0;
        bs_ring_primary_ownership(s, own);
        for (int i = 0; i < c.n; i++) sum += own[i];
        ck_assert_double_eq_tol(sum, 1.0, 1e-9);
        bs_ring_snapshot_release(s);
    }
}
END_TEST

START_TEST(builder_from_and_remove) {
    tc_cluster c = {.n = 4};
    for (int i = 0; i < 4; i++) {
        tc_set_node(&c.nodes[i], i, 0, i % 2);
        c.nodes[i].tokens[0] = i * 100 + 1;
        c.nodes[i].ntokens = 1;
    }
    bs_ring_snapshot *s1 = tc_build(&c);
    bs_ring_builder *b;
    ck_assert_int_eq(bs_ring_builder_from(s1, &b), 0);
    bs_uuid id1 = tc_id(1);
    ck_assert_int_eq(bs_ring_builder_remove_node(b, &id1), 0);
    bs_ring_snapshot *s2;
    ck_assert_int_eq(bs_ring_builder_build(b, &s2), 0);
    bs_ring_builder_free(b);
    /* the old snapshot is untouched */
    ck_assert_uint_eq(bs_ring_snapshot_node_count(s1), 4);
    ck_assert_uint_eq(bs_ring_snapshot_node_count(s2), 3);
    uint32_t o;
    bs_ring_snapshot_primary(s1, 101, &o);
    ck_assert_uint_eq(o, 1);
    bs_ring_snapshot_primary(s2, 101, &o); /* now node 2's (201), index 1 */
    bs_ring_node_desc d;
    bs_ring_snapshot_node(s2, o, &d);
    ck_assert_int_eq(memcmp(d.host_id.b, tc_id(2).b, 16), 0);
    bs_ring_snapshot_release(s1);
    bs_ring_snapshot_release(s2);
}
END_TEST

/* several threads share one snapshot; the last release (whichever thread)
 * frees it - ASan/TSan builds see any use after free */
typedef struct share_arg {
    const bs_ring_snapshot *s;
    int64_t sum;
} share_arg;

static void *share_thread(void *p) {
    share_arg *a = p;
    for (int i = 0; i < 20000; i++) {
        bs_ring_snapshot *mine = bs_ring_snapshot_retain(a->s);
        uint32_t o;
        bs_ring_snapshot_primary(mine, (int64_t)i * 7919 * 1000003, &o);
        a->sum += o;
        bs_ring_snapshot_release(mine);
    }
    bs_ring_snapshot_release(a->s); /* the reference handed to us */
    return NULL;
}

START_TEST(snapshot_shared_across_threads) {
    tc_cluster c = {.n = 5};
    uint64_t rng = 5;
    int64_t all[5 * 16];
    bs_ring_tokens_random(NULL, &rng, 80, all);
    for (int i = 0; i < 5; i++) {
        tc_set_node(&c.nodes[i], i, 0, 0);
        memcpy(c.nodes[i].tokens, all + i * 16, 16 * sizeof(int64_t));
        c.nodes[i].ntokens = 16;
    }
    bs_ring_snapshot *s = tc_build(&c);
    pthread_t th[4];
    share_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i].s = bs_ring_snapshot_retain(s);
        args[i].sum = 0;
        pthread_create(&th[i], NULL, share_thread, &args[i]);
    }
    bs_ring_snapshot_release(s); /* ours goes first */
    for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
    for (int i = 1; i < 4; i++) ck_assert_int_eq(args[i].sum, args[0].sum);
}
END_TEST

START_TEST(proximity_order) {
    tc_cluster c = {.n = 6};
    int dcs[6] = {1, 0, 0, 1, 0, 2}, racks[6] = {0, 1, 0, 0, 0, 0};
    for (int i = 0; i < 6; i++) {
        tc_set_node(&c.nodes[i], i, dcs[i], racks[i]);
        c.nodes[i].tokens[0] = i + 1;
        c.nodes[i].ntokens = 1;
    }
    bs_ring_snapshot *s = tc_build(&c);
    uint32_t v[7] = {0, 1, 2, 3, 4, 5, 99};
    bs_ring_sort_by_proximity(s, "dc0", "r0", v, 7);
    const uint32_t want[7] = {2, 4, 1, 0, 3, 5, 99};
    for (int i = 0; i < 7; i++) ck_assert_uint_eq(v[i], want[i]);
    /* unknown local DC: nothing is local, order kept */
    uint32_t w[3] = {5, 0, 2};
    bs_ring_sort_by_proximity(s, "dcX", "r0", w, 3);
    ck_assert_uint_eq(w[0], 5);
    ck_assert_uint_eq(w[1], 0);
    ck_assert_uint_eq(w[2], 2);
    bs_ring_snapshot_release(s);
}
END_TEST

START_TEST(range_width) {
    bs_ring_range r = {0, 0};
    ck_assert_double_eq(bs_ring_range_width(&r), 1.0);
    r = (bs_ring_range){INT64_MIN, 0};
    ck_assert_double_eq_tol(bs_ring_range_width(&r), 0.5, 1e-15);
    r = (bs_ring_range){0, INT64_MIN}; /* wraps */
    ck_assert_double_eq_tol(bs_ring_range_width(&r), 0.5, 1e-15);
    r = (bs_ring_range){100, -100};
    ck_assert_double_eq_tol(bs_ring_range_width(&r), 1.0, 1e-15);
}
END_TEST

int main(void) {
    Suite *s = suite_create("ring_tokenmeta");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, build_and_read_back);
    tcase_add_test(tc, builder_rejects_bad_input);
    tcase_add_test(tc, lookup_matches_linear_scan);
    tcase_add_test(tc, builder_from_and_remove);
    tcase_add_test(tc, snapshot_shared_across_threads);
    tcase_add_test(tc, proximity_order);
    tcase_add_test(tc, range_width);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
