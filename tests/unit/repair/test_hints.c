/*
 * test_hints.c - hinted handoff storage: counts per target, replay order
 * and deletion, failure keeps the hint, expiry after max_window, drop of a
 * departed target, persistence across reopening, disabled hints, and the
 * replay thread driven by alive().
 */
#include <check.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "repair/hints.h"

#define T0_US 1700000000000000LL

static char g_dir[256];
static bs_clock g_clock;

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *f) {
    (void)sb;
    (void)flag;
    (void)f;
    return remove(p);
}

static bs_store *open_store(void) {
    bs_store_opts o;
    bs_store_opts_default(&o);
    o.clock = &g_clock;
    o.write_buffer_mb = 4;
    o.block_cache_mb = 8;
    bs_store *s = NULL;
    ck_assert_int_eq(bs_store_open(g_dir, &o, &s), 0);
    return s;
}

static void setup(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/bs_hints_test_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(g_dir));
    bs_clock_init_fixed(&g_clock, T0_US);
}

static void teardown(void) { nftw(g_dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS); }

static bs_uuid target(int i) {
    bs_uuid u;
    memset(u.b, 0, 16);
    u.b[15] = (uint8_t)i;
    u.b[0] = 0x40;
    return u;
}

static bs_hints *open_hints(bs_store *s, int enabled) {
    bs_hints_opts o;
    bs_hints_opts_default(&o);
    o.enabled = enabled;
    o.clock = &g_clock;
    o.throttle_bytes = 0;
    o.page = 3; /* several pages per pass */
    o.max_window_ms = 60 * 1000;
    bs_hints *h = NULL;
    ck_assert_int_eq(bs_hints_open(s, &o, &h), 0);
    return h;
}

/* A recording deliverer; fails from the `fail_at`-th call on (0 = never). */
typedef struct rec {
    char got[64][32];
    int n;
    int fail_at;
    bs_uuid last;
    pthread_mutex_t lock;
} rec;

static int deliver(void *ud, const bs_uuid *t, const void *p, size_t len) {
    rec *r = ud;
    pthread_mutex_lock(&r->lock);
    int rc = 0;
    if (r->fail_at && r->n + 1 >= r->fail_at) {
        rc = BS_ETIMEDOUT;
    } else if (r->n < 64) {
        snprintf(r->got[r->n], sizeof r->got[0], "%.*s", (int)len, (const char *)p);
        r->n++;
        r->last = *t;
    }
    pthread_mutex_unlock(&r->lock);
    return rc;
}

static void add(bs_hints *h, int t, int64_t at_us, const char *s) {
    bs_uuid u = target(t);
    ck_assert_int_eq(bs_hints_add(h, &u, at_us, s, strlen(s)), 0);
}

START_TEST(add_count_replay_in_order) {
    bs_store *s = open_store();
    bs_hints *h = open_hints(s, 1);
    /* created out of order: replay must be oldest first */
    add(h, 1, T0_US + 5, "m5");
    add(h, 1, T0_US + 1, "m1");
    add(h, 2, T0_US + 2, "other");
    add(h, 1, T0_US + 3, "m3");
    add(h, 1, T0_US + 4, "m4");
    add(h, 1, T0_US + 2, "m2");
    add(h, 1, T0_US + 6, "m6");
    add(h, 1, T0_US + 7, "m7");
    bs_uuid t1 = target(1), t2 = target(2), t3 = target(3);
    ck_assert_uint_eq(bs_hints_pending(h, &t1), 7);
    ck_assert_uint_eq(bs_hints_pending(h, &t2), 1);
    ck_assert_uint_eq(bs_hints_pending(h, &t3), 0);
    size_t n;
    bs_uuid ts[4];
    uint64_t cs[4];
    bs_hints_targets(h, ts, cs, 4, &n);
    ck_assert_uint_eq(n, 2);
    ck_assert_uint_eq(cs[0] + cs[1], 8);

    rec r = {.lock = PTHREAD_MUTEX_INITIALIZER};
    uint64_t d = 0;
    ck_assert_int_eq(bs_hints_replay_now(h, &t1, deliver, &r, &d), 0);
    ck_assert_uint_eq(d, 7);
    ck_assert_int_eq(r.n, 7);
    for (int i = 0; i < 7; i++) {
        char want[8];
        snprintf(want, sizeof want, "m%d", i + 1);
        ck_assert_str_eq(r.got[i], want);
    }
    ck_assert_uint_eq(bs_hints_pending(h, &t1), 0);
    ck_assert_uint_eq(bs_hints_pending(h, &t2), 1);
    /* a second pass finds nothing */
    ck_assert_int_eq(bs_hints_replay_now(h, &t1, deliver, &r, &d), 0);
    ck_assert_uint_eq(d, 0);
    ck_assert_int_eq(r.n, 7);
    bs_hints_stats st;
    bs_hints_get_stats(h, &st);
    ck_assert_uint_eq(st.written, 8);
    ck_assert_uint_eq(st.replayed, 7);
    ck_assert_uint_eq(st.pending, 1);
    bs_hints_close(h);
    bs_store_close(s);
}
END_TEST

START_TEST(failed_delivery_keeps_the_rest) {
    bs_store *s = open_store();
    bs_hints *h = open_hints(s, 1);
    for (int i = 0; i < 5; i++) {
        char v[8];
        snprintf(v, sizeof v, "h%d", i);
        add(h, 1, T0_US + i, v);
    }
    bs_uuid t1 = target(1);
    rec r = {.fail_at = 3, .lock = PTHREAD_MUTEX_INITIALIZER};
    uint64_t d;
    ck_assert_int_eq(bs_hints_replay_now(h, &t1, deliver, &r, &d), BS_ETIMEDOUT);
    ck_assert_uint_eq(d, 2);
    ck_assert_uint_eq(bs_hints_pending(h, &t1), 3);
    r.fail_at = 0;
    ck_assert_int_eq(bs_hints_replay_now(h, &t1, deliver, &r, &d), 0);
    ck_assert_uint_eq(d, 3);
    ck_assert_int_eq(r.n, 5);
    ck_assert_str_eq(r.got[2], "h2"); /* the failed one is retried first */
    ck_assert_str_eq(r.got[4], "h4");
    bs_hints_stats st;
    bs_hints_get_stats(h, &st);
    ck_assert_uint_eq(st.delivery_failures, 1);
    bs_hints_close(h);
    bs_store_close(s);
}
END_TEST

START_TEST(expired_hints_are_dropped) {
    bs_store *s = open_store();
    bs_hints *h = open_hints(s, 1);
    add(h, 1, T0_US - 120 * 1000000LL, "old"); /* 2 min > 60 s window */
    add(h, 1, T0_US - 10 * 1000000LL, "young");
    bs_uuid t1 = target(1);
    rec r = {.lock = PTHREAD_MUTEX_INITIALIZER};
    uint64_t d;
    ck_assert_int_eq(bs_hints_replay_now(h, &t1, deliver, &r, &d), 0);
    ck_assert_uint_eq(d, 1);
    ck_assert_int_eq(r.n, 1);
    ck_assert_str_eq(r.got[0], "young");
    bs_hints_stats st;
    bs_hints_get_stats(h, &st);
    ck_assert_uint_eq(st.dropped_expired, 1);
    ck_assert_uint_eq(bs_hints_pending(h, &t1), 0);
    bs_hints_close(h);
    bs_store_close(s);
}
END_TEST

START_TEST(hints_survive_reopen_and_drop) {
    bs_store *s = open_store();
    bs_hints *h = open_hints(s, 1);
    for (int i = 0; i < 10; i++) add(h, 1 + i % 2, T0_US + i, "x");
    bs_hints_close(h);
    bs_store_close(s);

    s = open_store();
    h = open_hints(s, 1);
    bs_uuid t1 = target(1), t2 = target(2);
    ck_assert_uint_eq(bs_hints_pending(h, &t1), 5);
    ck_assert_uint_eq(bs_hints_pending(h, &t2), 5);
    uint64_t dropped;
    ck_assert_int_eq(bs_hints_drop(h, &t2, &dropped), 0);
    ck_assert_uint_eq(dropped, 5);
    ck_assert_uint_eq(bs_hints_pending(h, &t2), 0);
    bs_hints_close(h);
    bs_store_close(s);

    s = open_store();
    h = open_hints(s, 1);
    ck_assert_uint_eq(bs_hints_pending(h, &t1), 5);
    ck_assert_uint_eq(bs_hints_pending(h, &t2), 0);
    bs_hints_close(h);
    bs_store_close(s);
}
END_TEST

START_TEST(disabled_hints_are_refused) {
    bs_store *s = open_store();
    bs_hints *h = open_hints(s, 0);
    bs_uuid t1 = target(1);
    ck_assert_int_eq(bs_hints_add(h, &t1, 0, "x", 1), BS_ENOTSUP);
    ck_assert_uint_eq(bs_hints_pending(h, &t1), 0);
    bs_hints_stats st;
    bs_hints_get_stats(h, &st);
    ck_assert_uint_eq(st.written, 0);
    bs_hints_close(h);
    bs_store_close(s);
}
END_TEST

/* The replay thread: alive() says target 1 is up, target 2 left, 3 down. */
static int alive(void *ud, const bs_uuid *t) {
    (void)ud;
    return t->b[15] == 1 ? 1 : t->b[15] == 2 ? -1 : 0;
}

START_TEST(replay_thread_follows_alive) {
    bs_store *s = open_store();
    bs_hints_opts o;
    bs_hints_opts_default(&o);
    o.clock = &g_clock;
    o.poll_ms = 20;
    o.throttle_bytes = 1 << 20;
    bs_hints *h = NULL;
    ck_assert_int_eq(bs_hints_open(s, &o, &h), 0);
    add(h, 1, T0_US, "a");
    add(h, 1, T0_US + 1, "b");
    add(h, 2, T0_US, "gone");
    add(h, 3, T0_US, "later");
    rec r = {.lock = PTHREAD_MUTEX_INITIALIZER};
    ck_assert_int_eq(bs_hints_start(h, deliver, alive, &r), 0);
    bs_uuid t1 = target(1), t2 = target(2), t3 = target(3);
    for (int i = 0; i < 500 && (bs_hints_pending(h, &t1) || bs_hints_pending(h, &t2)); i++)
        usleep(10000);
    ck_assert_uint_eq(bs_hints_pending(h, &t1), 0);
    ck_assert_uint_eq(bs_hints_pending(h, &t2), 0);
    ck_assert_uint_eq(bs_hints_pending(h, &t3), 1);
    bs_hints_close(h);
    ck_assert_int_eq(r.n, 2);
    ck_assert_str_eq(r.got[0], "a");
    ck_assert_str_eq(r.got[1], "b");
    ck_assert(!memcmp(r.last.b, t1.b, 16));
    bs_store_close(s);
}
END_TEST

int main(void) {
    Suite *s = suite_create("hints");
    TCase *tc = tcase_create("hints");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, add_count_replay_in_order);
    tcase_add_test(tc, failed_delivery_keeps_the_rest);
    tcase_add_test(tc, expired_hints_are_dropped);
    tcase_add_test(tc, hints_survive_reopen_and_drop);
    tcase_add_test(tc, disabled_hints_are_refused);
    tcase_add_test(tc, replay_thread_follows_alive);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? 1 : 0;
}
