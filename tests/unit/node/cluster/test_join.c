/*
 * test_join.c - a new node's token choice: the wait rule of
 * node/cluster/join.c (bs__join_decide) and the placeholder tokens of
 * node/local.c (bs_local_needs_tokens / bs_local_set_tokens) that the
 * choice replaces, across a reopen; initial_token with and without
 * auto_bootstrap, and its check against the ring's tokens.
 */
#include <check.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "common/log.h"
#include "node/cluster/join.h"
#include "node/config.h"
#include "node/local.h"

/* ---- the wait rule --------------------------------------------------- */

/* the verdict for (elapsed, self is seed, other seeds, members, stable,
 * an earlier waiter) */
static bs__join_verdict D(int64_t elapsed, int seed, int others,
                          uint32_t members, int64_t stable, int earlier) {
    bs__join_view v = {elapsed, seed, others, members, stable, earlier};
    return bs__join_decide(&v);
}

START_TEST(only_seed_is_itself_goes_at_once) {
    ck_assert_int_eq(D(0, 1, 0, 0, 0, 0), BS_JOIN_GO);
    /* not even a seed and no seeds at all: nothing to wait for */
    ck_assert_int_eq(D(0, 0, 0, 0, 0, 0), BS_JOIN_GO);
}
END_TEST

START_TEST(ring_known_goes_after_settling) {
    ck_assert_int_eq(D(500, 0, 1, 2, 0, 0), BS_JOIN_WAIT);
    ck_assert_int_eq(D(5000, 0, 1, 2, BS_JOIN_SETTLE_MS - 1, 0), BS_JOIN_WAIT);
    ck_assert_int_eq(D(5000, 0, 1, 2, BS_JOIN_SETTLE_MS, 0), BS_JOIN_GO);
    /* a seed that hears a ring joins it like anyone else */
    ck_assert_int_eq(D(100, 1, 1, 1, BS_JOIN_SETTLE_MS, 0), BS_JOIN_GO);
}
END_TEST

START_TEST(earlier_waiter_goes_first) {
    ck_assert_int_eq(D(5000, 0, 1, 2, 5000, 1), BS_JOIN_WAIT);
    ck_assert_int_eq(D(5000, 1, 1, 0, 5000, 1), BS_JOIN_WAIT);
    /* but not forever */
    ck_assert_int_eq(D(BS_JOIN_MAX_WAIT_MS, 0, 1, 2, 0, 1), BS_JOIN_GO);
    ck_assert_int_eq(D(BS_JOIN_MAX_WAIT_MS, 1, 1, 0, 0, 1), BS_JOIN_GO);
}
END_TEST

START_TEST(no_ring_seed_founds_nonseed_fails) {
    ck_assert_int_eq(D(BS_JOIN_SEED_WAIT_MS - 1, 1, 1, 0, 9999, 0),
                     BS_JOIN_WAIT);
    ck_assert_int_eq(D(BS_JOIN_SEED_WAIT_MS, 1, 1, 0, 9999, 0), BS_JOIN_GO);
    ck_assert_int_eq(D(BS_JOIN_MAX_WAIT_MS - 1, 0, 1, 0, 9999, 0),
                     BS_JOIN_WAIT);
    ck_assert_int_eq(D(BS_JOIN_MAX_WAIT_MS, 0, 1, 0, 9999, 0), BS_JOIN_NO_SEED);
}
END_TEST

START_TEST(topology_change_in_progress_waits_then_refuses) {
    bs__join_view v = {5000, 0, 1, 2, 5000, 0, 1};
    ck_assert_int_eq(bs__join_decide(&v), BS_JOIN_WAIT);
    v.busy_ms = BS_JOIN_BUSY_MAX_MS - 1;
    ck_assert_int_eq(bs__join_decide(&v), BS_JOIN_WAIT);
    v.busy_ms = BS_JOIN_BUSY_MAX_MS;
    ck_assert_int_eq(bs__join_decide(&v), BS_JOIN_BUSY);
    /* the first node of a cluster has nobody to wait for */
    v.other_seeds = 0;
    ck_assert_int_eq(bs__join_decide(&v), BS_JOIN_GO);
}
END_TEST

/* ---- placeholder tokens in system.local ------------------------------- */

static int rm_cb(const char *p, const struct stat *sb, int flag,
                 struct FTW *f) {
    (void)sb;
    (void)flag;
    (void)f;
    return remove(p);
}

static char dir[64];

static void cfg_for(bs_config *c, const char *initial) {
    char err[256];
    bs_config_init(c);
    ck_assert_int_eq(bs_config_set(c, "data_directory", dir, err, sizeof err),
                     0);
    ck_assert_int_eq(bs_config_set(c, "num_tokens", "4", err, sizeof err), 0);
    if (initial)
        ck_assert_int_eq(
            bs_config_set(c, "initial_token", initial, err, sizeof err), 0);
}

static bs_local *open_node(const bs_config *c) {
    bs_local *n;
    char err[256];
    int rc = bs_local_open(c, &n, err, sizeof err);
    ck_assert_msg(rc == 0, "%s", err);
    return n;
}

static void setup(void) {
    snprintf(dir, sizeof dir, "/tmp/bs_test_join_%d", (int)getpid());
    nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static void teardown(void) {
    nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

START_TEST(first_start_has_placeholders_until_chosen) {
    bs_config c;
    cfg_for(&c, NULL);
    bs_local *n = open_node(&c);
    bs_uuid h1, h2;
    bs_local_host_id(n, &h1);
    const int64_t *t;
    ck_assert_int_eq(bs_local_tokens(n, &t), 4);
    ck_assert_int_eq(bs_local_needs_tokens(n), 1);
    bs_local_close(n);

    /* a crash before the choice: still placeholders, same host id */
    n = open_node(&c);
    ck_assert_int_eq(bs_local_needs_tokens(n), 1);
    bs_local_host_id(n, &h2);
    ck_assert_mem_eq(h1.b, h2.b, 16);
    const int64_t chosen[4] = {-9000000000000000000LL, -5, 7,
                               4000000000000000000LL};
    ck_assert_int_eq(bs_local_set_tokens(n, chosen, 0), BS_EINVAL);
    ck_assert_int_eq(bs_local_set_tokens(n, chosen, 4), 0);
    ck_assert_int_eq(bs_local_needs_tokens(n), 0);
    ck_assert_int_eq(bs_local_bootstrapping(n), 1);
    ck_assert_int_eq(bs_local_tokens(n, &t), 4);
    ck_assert_mem_eq(t, chosen, sizeof chosen);
    /* once chosen, never again */
    ck_assert_int_eq(bs_local_set_tokens(n, chosen, 4), BS_EINVAL);
    bs_local_close(n);

    /* a restart in the middle of the bootstrap resumes it */
    n = open_node(&c);
    ck_assert_int_eq(bs_local_needs_tokens(n), 0);
    ck_assert_int_eq(bs_local_bootstrapping(n), 1);
    ck_assert_int_eq(bs_local_tokens(n, &t), 4);
    ck_assert_mem_eq(t, chosen, sizeof chosen);
    bs_local_host_id(n, &h2);
    ck_assert_mem_eq(h1.b, h2.b, 16);
    ck_assert_int_eq(bs_local_set_bootstrapped(n), 0);
    ck_assert_int_eq(bs_local_bootstrapping(n), 0);
    bs_local_close(n);
    n = open_node(&c);
    ck_assert_int_eq(bs_local_bootstrapping(n), 0);
    /* decommissioned: the directory is refused */
    ck_assert_int_eq(bs_local_set_decommissioned(n), 0);
    bs_local_close(n);
    char err[512];
    ck_assert_int_eq(bs_local_open(&c, &n, err, sizeof err), BS_ECONFIG);
    ck_assert_ptr_nonnull(strstr(err, "was decommissioned"));
    bs_config_free(&c);
}
END_TEST

/* auto_bootstrap false: the tokens are final, the node NORMAL at once */
START_TEST(initial_token_without_bootstrap_is_final) {
    bs_config c;
    char err[256];
    cfg_for(&c, "-100,1,2,300");
    ck_assert_int_eq(bs_config_set(&c, "auto_bootstrap", "false", err,
                                   sizeof err), 0);
    bs_local *n = open_node(&c);
    ck_assert_int_eq(bs_local_needs_tokens(n), 0);
    ck_assert_int_eq(bs_local_bootstrapping(n), 0);
    const int64_t *t;
    ck_assert_int_eq(bs_local_tokens(n, &t), 4);
    ck_assert_int_eq(t[0], -100);
    ck_assert_int_eq(t[3], 300);
    const int64_t other[4] = {1, 2, 3, 4};
    ck_assert_int_eq(bs_local_set_tokens(n, other, 4), BS_EINVAL);
    bs_local_close(n);
    bs_config_free(&c);
}
END_TEST

/* auto_bootstrap (the default): the node still has to join - it stores
 * the operator's tokens, but the join (and then the bootstrap) is to come,
 * across a restart too */
START_TEST(initial_token_with_bootstrap_still_joins) {
    bs_config c;
    cfg_for(&c, "-100,1,2,300");
    bs_local *n = open_node(&c);
    ck_assert_int_eq(bs_local_needs_tokens(n), 1);
    ck_assert_int_eq(bs_local_bootstrapping(n), 0);
    const int64_t *t;
    ck_assert_int_eq(bs_local_tokens(n, &t), 4);
    ck_assert_int_eq(t[0], -100);
    bs_local_close(n);
    n = open_node(&c);
    ck_assert_int_eq(bs_local_needs_tokens(n), 1);
    const int64_t given[4] = {-100, 1, 2, 300};
    ck_assert_int_eq(bs_local_set_tokens(n, given, 4), 0);
    ck_assert_int_eq(bs_local_needs_tokens(n), 0);
    ck_assert_int_eq(bs_local_bootstrapping(n), 1);
    bs_local_close(n);
    bs_config_free(&c);
}
END_TEST

/* ---- initial_token against the ring ----------------------------------- */

static void add_node(bs_ring_builder *b, int id, const char *ep,
                     const int64_t *t, size_t n) {
    bs_ring_node_desc d;
    memset(&d, 0, sizeof d);
    d.host_id.b[15] = (uint8_t)id;
    d.endpoint = ep;
    d.dc = "dc1";
    d.rack = "r1";
    d.tokens = t;
    d.ntokens = n;
    ck_assert_int_eq(bs_ring_builder_add_node(b, &d), 0);
}

START_TEST(initial_token_taken_by_a_member_is_refused) {
    bs_ring_builder *b;
    bs_ring_snapshot *r;
    ck_assert_int_eq(bs_ring_builder_new(&b), 0);
    const int64_t a[2] = {-500, 1000}, bt[2] = {-20, 7000};
    add_node(b, 1, "127.0.0.1:7000", a, 2);
    add_node(b, 2, "127.0.0.2:7000", bt, 2);
    ck_assert_int_eq(bs_ring_builder_build(b, &r), 0);
    char err[512] = "";
    const int64_t free_ones[3] = {-501, -19, 7001};
    ck_assert_int_eq(bs__join_check_tokens(r, free_ones, 3, err, sizeof err), 0);
    /* above the last token and below the first (the wrap) are free too */
    const int64_t edges[2] = {INT64_MAX, INT64_MIN + 1};
    ck_assert_int_eq(bs__join_check_tokens(r, edges, 2, err, sizeof err), 0);
    const int64_t clash[3] = {5, 7000, -500};
    ck_assert_int_eq(bs__join_check_tokens(r, clash, 3, err, sizeof err),
                     BS_EEXIST);
    ck_assert_msg(strstr(err, "initial_token 7000 is already owned by node "
                              "127.0.0.2:7000"), "%s", err);
    /* an empty ring (or none known) owns nothing */
    ck_assert_int_eq(bs__join_check_tokens(NULL, clash, 3, err, sizeof err), 0);
    bs_ring_snapshot_release(r);
    bs_ring_builder_free(b);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("join");
    TCase *t = tcase_create("rule");
    tcase_add_test(t, only_seed_is_itself_goes_at_once);
    tcase_add_test(t, ring_known_goes_after_settling);
    tcase_add_test(t, earlier_waiter_goes_first);
    tcase_add_test(t, no_ring_seed_founds_nonseed_fails);
    tcase_add_test(t, topology_change_in_progress_waits_then_refuses);
    suite_add_tcase(s, t);
    t = tcase_create("local");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, first_start_has_placeholders_until_chosen);
    tcase_add_test(t, initial_token_without_bootstrap_is_final);
    tcase_add_test(t, initial_token_with_bootstrap_still_joins);
    tcase_add_test(t, initial_token_taken_by_a_member_is_refused);
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
