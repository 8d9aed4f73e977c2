/*
 * test_hints.c - hinted handoff storage: counts per target, replay order
 * and deletion, failure keeps the hint, expiry after max_window, drop of a
 * departed target, persistence across reopening, disabled hints, and the
 * replay thread driven by alive(), and the pipelined replay with a
 * sender (a window of hints in flight per target, targets served at
 * once, a failed hint kept and sent again, nothing deleted unacked).
 */
#include <check.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
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

/* A fake network for the sender: keeps every hint sent in flight until
 * `release` are (or nothing new came for 500 ms), then answers them all
 * from its own thread; the hint whose payload is `fail` fails once. */
#define NET_MAX 1024
typedef struct net {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct {
        bs_hints_done_fn done;
        void *cookie;
        char p[16];
    } q[NET_MAX];
    int nq, release, max_out, sends, stop, failed_once;
    const char *fail;
    int fail_sends; /* sends of the `fail` payload */
    unsigned char seen[NET_MAX]; /* acknowledged, by payload number */
    pthread_t th;
} net;

static int net_send(void *ud, const bs_uuid *t, const void *p, size_t len,
                    bs_hints_done_fn done, void *cookie) {
    (void)t;
    net *n = ud;
    pthread_mutex_lock(&n->mu);
    ck_assert_int_lt(n->nq, NET_MAX);
    n->q[n->nq].done = done;
    n->q[n->nq].cookie = cookie;
    snprintf(n->q[n->nq].p, sizeof n->q[0].p, "%.*s", (int)len, (const char *)p);
    if (n->fail && !strcmp(n->q[n->nq].p, n->fail)) n->fail_sends++;
    n->nq++;
    n->sends++;
    if (n->nq > n->max_out) n->max_out = n->nq;
    pthread_cond_broadcast(&n->cv);
    pthread_mutex_unlock(&n->mu);
    return 0;
}

static void *net_main(void *arg) {
    net *n = arg;
    pthread_mutex_lock(&n->mu);
    while (!n->stop) {
        int before = n->sends;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 500000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        if (n->nq < n->release) pthread_cond_timedwait(&n->cv, &n->mu, &ts);
        if (!n->nq || (n->nq < n->release && n->sends != before)) continue;
        int k = n->nq;
        n->nq = 0;
        for (int i = 0; i < k; i++) {
            int st = 0;
            if (n->fail && !strcmp(n->q[i].p, n->fail) && !n->failed_once) {
                n->failed_once = 1;
                st = BS_ETIMEDOUT;
            } else {
                n->seen[atoi(n->q[i].p + 1) % NET_MAX] = 1;
            }
            pthread_mutex_unlock(&n->mu);
            n->q[i].done(n->q[i].cookie, st);
            pthread_mutex_lock(&n->mu);
        }
    }
    pthread_mutex_unlock(&n->mu);
    return NULL;
}

static int all_alive(void *ud, const bs_uuid *t) {
    (void)ud;
    (void)t;
    return 1;
}

static bs_hints *open_pipelined(bs_store *s, unsigned window) {
    bs_hints_opts o;
    bs_hints_opts_default(&o);
    o.clock = &g_clock;
    o.poll_ms = 20;
    o.throttle_bytes = 0;
    o.window = window;
    o.max_window_ms = 60 * 1000;
    bs_hints *h = NULL;
    ck_assert_int_eq(bs_hints_open(s, &o, &h), 0);
    return h;
}

static void wait_drained(bs_hints *h, int ntargets) {
    for (int i = 0; i < 3000; i++) {
        bs_hints_stats st;
        bs_hints_get_stats(h, &st);
        if (!st.pending) break;
        usleep(10000);
    }
    for (int t = 1; t <= ntargets; t++) {
        bs_uuid u = target(t);
        ck_assert_uint_eq(bs_hints_pending(h, &u), 0);
    }
}

START_TEST(pipelined_replay_fills_every_window_at_once) {
    bs_store *s = open_store();
    bs_hints *h = open_pipelined(s, 64);
    char p[16];
    for (int i = 0; i < 200; i++) {
        snprintf(p, sizeof p, "h%03d", i);
        add(h, 1 + i % 2, T0_US + i, p); /* 100 hints for each of two targets */
    }
    net n = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER,
             .release = 128};
    ck_assert_int_eq(pthread_create(&n.th, NULL, net_main, &n), 0);
    bs_hints_set_sender(h, net_send);
    ck_assert_int_eq(bs_hints_start(h, deliver, all_alive, &n), 0);
    wait_drained(h, 2);
    bs_hints_close(h);
    pthread_mutex_lock(&n.mu);
    n.stop = 1;
    pthread_cond_broadcast(&n.cv);
    pthread_mutex_unlock(&n.mu);
    pthread_join(n.th, NULL);
    /* both targets' windows (64 each) were in flight together: one hint
     * per round trip would never have more than one outstanding */
    ck_assert_int_eq(n.max_out, 128);
    ck_assert_int_eq(n.sends, 200); /* each once: deleted after its ack */
    for (int i = 0; i < 200; i++) ck_assert_int_eq(n.seen[i], 1);
    bs_store_close(s);
}
END_TEST

START_TEST(pipelined_replay_keeps_and_resends_a_failed_hint) {
    bs_store *s = open_store();
    bs_hints *h = open_pipelined(s, 16);
    char p[16];
    for (int i = 0; i < 100; i++) {
        snprintf(p, sizeof p, "h%03d", i);
        add(h, 1, T0_US + i, p);
    }
    net n = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER,
             .release = 16, .fail = "h050"};
    ck_assert_int_eq(pthread_create(&n.th, NULL, net_main, &n), 0);
    bs_hints_set_sender(h, net_send);
    ck_assert_int_eq(bs_hints_start(h, deliver, all_alive, &n), 0);
    wait_drained(h, 1);
    bs_hints_stats st;
    bs_hints_get_stats(h, &st);
    bs_hints_close(h);
    pthread_mutex_lock(&n.mu);
    n.stop = 1;
    pthread_cond_broadcast(&n.cv);
    pthread_mutex_unlock(&n.mu);
    pthread_join(n.th, NULL);
    ck_assert_int_eq(n.max_out, 16);
    ck_assert_int_eq(n.fail_sends, 2); /* failed, kept, sent again */
    ck_assert_int_eq(n.sends, 101);
    ck_assert_uint_eq(st.replayed, 100);
    ck_assert_uint_ge(st.delivery_failures, 1);
    for (int i = 0; i < 100; i++) ck_assert_int_eq(n.seen[i], 1);
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
    tcase_add_test(tc, pipelined_replay_fills_every_window_at_once);
    tcase_add_test(tc, pipelined_replay_keeps_and_resends_a_failed_hint);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? 1 : 0;
}
