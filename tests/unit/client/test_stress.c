/*
 * test_stress.c - basalt-stress's engine without a network: histogram
 * precision, op counts and mixes, and the point of the open loop: with a
 * deliberately slow "server" (an op that stalls), latency measured from
 * the intended start times shows the stall, latency from actual starts
 * (closed loop) hides it.
 *
 * No assertion here depends on how fast the machine is: only lower bounds
 * that sleeping guarantees (a 300 ms stall lasts at least 300 ms; in the
 * open loop op 200+j cannot start before the stall ends, so its latency
 * from its intended start is at least 300 - 2j ms whatever the scheduler
 * does) and counts.  Upper bounds on latency or elapsed time, and
 * throughput, belong in benchmarks (scripts/bench), not here.
 */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "client/stress.h"

START_TEST(histogram_percentiles_within_one_percent) {
    bs_hist *h = malloc(sizeof *h);
    bs_hist_init(h);
    for (uint64_t v = 1; v <= 100000; v++)
        bs_hist_record(h, v * 1000); /* 1us..100ms */
    ck_assert_uint_eq(h->total, 100000);
    uint64_t p50 = bs_hist_percentile(h, 50), p99 = bs_hist_percentile(h, 99);
    ck_assert(p50 >= 50000000ULL * 99 / 100 && p50 <= 50000000ULL * 101 / 100);
    ck_assert(p99 >= 99000000ULL * 99 / 100 && p99 <= 99000000ULL * 101 / 100);
    ck_assert_uint_eq(bs_hist_percentile(h, 100), 100000000ULL);
    bs_hist *g = malloc(sizeof *g);
    bs_hist_init(g);
    bs_hist_record(g, 5);
    bs_hist_merge(h, g);
    ck_assert_uint_eq(h->total, 100001);
    ck_assert_uint_eq(h->min_ns, 5);
    bs_hist_init(g);
    ck_assert_uint_eq(bs_hist_percentile(g, 50), 0);
    free(g);
    free(h);
}
END_TEST

static atomic_int writes, reads;
static int count_op(void *ud, int worker, uint64_t seq, int kind) {
    (void)ud;
    (void)worker;
    (void)seq;
    if (kind == 0)
        atomic_fetch_add(&writes, 1);
    else
        atomic_fetch_add(&reads, 1);
    return seq % 100 == 7 ? 3 : 0; /* 1% errors of class 3 */
}

/* 40 000 ops at write=1,read=3 with count_op's / async_op's 1% errors */
static void check_mix(const bs_stress_result *r) {
    ck_assert_uint_eq(r->ops, 40000);
    ck_assert_int_eq(atomic_load(&writes), 10000);
    ck_assert_int_eq(atomic_load(&reads), 30000);
    ck_assert_uint_eq(r->errors[3], 400);
    ck_assert_uint_eq(r->ok, 39600);
    ck_assert_uint_eq(r->lat[0].total + r->lat[1].total, 39600);
}

START_TEST(counts_mix_and_errors) {
    atomic_store(&writes, 0);
    atomic_store(&reads, 0);
    bs_stress_opts o = {0};
    o.threads = 4;
    o.n = 40000;
    o.write_ratio = 1;
    o.read_ratio = 3;
    o.op = count_op;
    bs_stress_result *r = malloc(sizeof *r);
    ck_assert_int_eq(bs_stress_run(&o, r), 0);
    check_mix(r);
    free(r);
}
END_TEST

/* A "server" that answers in 1 ms except for one 300 ms stall at op 200. */
static int slow_op(void *ud, int worker, uint64_t seq, int kind) {
    (void)ud;
    (void)worker;
    (void)kind;
    struct timespec ts = {0, seq == 200 ? 300000000 : 1000000};
    nanosleep(&ts, NULL);
    return 0;
}

/* At least 80 samples of h are >= min_ns: the (total - 79)-th smallest
 * is, and bs_hist_percentile gives an upper bound of its bucket.  Ops
 * 200..299 of the open-loop runs below were all intended to start at
 * least 100 ms before the 300 ms stall ended; the margin covers the 10
 * of them that async_op fails (seq % 100 == 7, not in the histogram) and
 * a few that a completing slot may start out of order around op 200. */
static void assert_tail_at_least(const bs_hist *h, uint64_t min_ns) {
    ck_assert_uint_ge(h->total, 500);
    double pct = 100.0 * ((double)h->total - 79.5) / (double)h->total;
    ck_assert_uint_ge(bs_hist_percentile(h, pct), min_ns);
}

START_TEST(open_loop_reports_from_intended_start) {
    bs_stress_result *closed = malloc(sizeof *closed),
                     *open = malloc(sizeof *open);
    bs_stress_opts o = {0};
    o.threads = 1;
    o.n = 600;
    o.op = slow_op;
    ck_assert_int_eq(bs_stress_run(&o, closed), 0);
    o.rate = 500; /* one op every 2 ms: the 300 ms stall delays ~150 intended
                     starts */
    ck_assert_int_eq(bs_stress_run(&o, open), 0);
    ck_assert_uint_eq(closed->ops, 600);
    ck_assert_uint_eq(open->ops, 600);
    /* closed loop: the stalled op itself is seen */
    ck_assert_uint_ge(closed->all.max_ns, 300000000ULL);
    /* open loop: every op queued behind the stall counts its wait: ops
     * 200..299 were all intended to start before the stall ended, at
     * least 100 ms before it did */
    assert_tail_at_least(&open->all, 100000000ULL);
    ck_assert_uint_gt(bs_hist_percentile(&open->all, 90), 50000000ULL);
    free(closed);
    free(open);
}
END_TEST

/* Duration mode: the run returns (the test's timeout bounds it), did not
 * stop before its duration, and reports exactly the operations performed. */
START_TEST(duration_mode_stops) {
    atomic_store(&writes, 0);
    atomic_store(&reads, 0);
    bs_stress_opts o = {0};
    o.threads = 2;
    o.duration_s = 0.3;
    o.op = count_op;
    bs_stress_result *r = malloc(sizeof *r);
    ck_assert_int_eq(bs_stress_run(&o, r), 0);
    ck_assert_uint_gt(r->ops, 0);
    ck_assert_uint_eq(r->ops, (uint64_t)(atomic_load(&writes) + atomic_load(&reads)));
    ck_assert(r->elapsed_s >= 0.3);
    bs_stress_opts bad = {0};
    ck_assert_int_ne(bs_stress_run(&bad, r), 0);
    free(r);
}
END_TEST

/* ---- asynchronous slots --------------------------------------------- */

/* A fake asynchronous server: one thread answers requests in FIFO order,
 * each `lat_ns` after it was sent; request 200 takes 300 ms and holds up
 * everything behind it (a stalled node). */
typedef struct pending {
    struct pending *next;
    bs_stress_slot *tok;
    int64_t ready;
    int cls;
} pending;

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pending *head, *tail;
    int stop;
    int64_t lat_ns;
    int stall_at_200;
    atomic_int inflight, max_inflight, sync_done;
} FS = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static int64_t mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Which thread started an operation: 0 = the engine's own, 1 = the
 * test's ticker, 2 = the fake server (a completion starting the next). */
static _Thread_local int tl_role;
static atomic_int started_by[3];

static void *fake_server(void *arg) {
    (void)arg;
    tl_role = 2;
    pthread_mutex_lock(&FS.mu);
    for (;;) {
        while (!FS.head && !FS.stop)
            pthread_cond_wait(&FS.cv, &FS.mu);
        if (!FS.head) break;
        pending *p = FS.head;
        FS.head = p->next;
        if (!FS.head) FS.tail = NULL;
        pthread_mutex_unlock(&FS.mu);
        int64_t now = mono_ns();
        if (p->ready > now) {
            struct timespec ts = {(p->ready - now) / 1000000000,
                                  (p->ready - now) % 1000000000};
            nanosleep(&ts, NULL);
        }
        atomic_fetch_sub(&FS.inflight, 1);
        bs_stress_done(p->tok, p->cls); /* may queue the slot's next op */
        free(p);
        pthread_mutex_lock(&FS.mu);
    }
    pthread_mutex_unlock(&FS.mu);
    return NULL;
}

static void async_op(void *ud, int slot, uint64_t seq, int kind,
                     bs_stress_slot *tok) {
    (void)ud;
    (void)slot;
    atomic_fetch_add(&started_by[tl_role], 1);
    if (kind == 0)
        atomic_fetch_add(&writes, 1);
    else
        atomic_fetch_add(&reads, 1);
    int cls = seq % 100 == 7 ? 3 : 0;
    int n = atomic_fetch_add(&FS.inflight, 1) + 1;
    int m = atomic_load(&FS.max_inflight);
    while (n > m && !atomic_compare_exchange_weak(&FS.max_inflight, &m, n)) {
    }
    if (FS.lat_ns == 0 && seq % 3 == 0) { /* completes inside the call */
        atomic_fetch_sub(&FS.inflight, 1);
        atomic_fetch_add(&FS.sync_done, 1);
        bs_stress_done(tok, cls);
        return;
    }
    pending *p = calloc(1, sizeof *p);
    p->tok = tok;
    p->cls = cls;
    p->ready = mono_ns() + (FS.stall_at_200 && seq == 200 ? 300000000
                                                           : FS.lat_ns);
    pthread_mutex_lock(&FS.mu);
    if (FS.tail)
        FS.tail->next = p;
    else
        FS.head = p;
    FS.tail = p;
    pthread_cond_signal(&FS.cv);
    pthread_mutex_unlock(&FS.mu);
}

static pthread_t fake_start(int64_t lat_ns, int stall) {
    FS.stop = 0;
    FS.lat_ns = lat_ns;
    FS.stall_at_200 = stall;
    atomic_store(&FS.inflight, 0);
    atomic_store(&FS.max_inflight, 0);
    atomic_store(&FS.sync_done, 0);
    pthread_t th;
    pthread_create(&th, NULL, fake_server, NULL);
    return th;
}

static void fake_stop(pthread_t th) {
    pthread_mutex_lock(&FS.mu);
    FS.stop = 1;
    pthread_cond_signal(&FS.cv);
    pthread_mutex_unlock(&FS.mu);
    pthread_join(th, NULL);
}

START_TEST(async_counts_mix_errors_and_slots) {
    atomic_store(&writes, 0);
    atomic_store(&reads, 0);
    pthread_t th = fake_start(0, 0);
    bs_stress_opts o = {0};
    o.threads = 8; /* slots */
    o.n = 40000;
    o.write_ratio = 1;
    o.read_ratio = 3;
    o.op_async = async_op;
    bs_stress_result *r = malloc(sizeof *r);
    ck_assert_int_eq(bs_stress_run(&o, r), 0);
    fake_stop(th);
    check_mix(r);
    /* never more than `threads` operations in flight, and the pipeline
     * was actually used; synchronous completions do not recurse forever */
    ck_assert_int_le(atomic_load(&FS.max_inflight), 8);
    ck_assert_int_ge(atomic_load(&FS.max_inflight), 2);
    ck_assert_int_ge(atomic_load(&FS.sync_done), 10000);
    ck_assert_int_eq(atomic_load(&FS.inflight), 0);
    free(r);
}
END_TEST

START_TEST(async_open_loop_reports_from_intended_start) {
    bs_stress_result *closed = malloc(sizeof *closed),
                     *open = malloc(sizeof *open);
    bs_stress_opts o = {0};
    o.threads = 4;
    o.n = 600;
    o.op_async = async_op;
    pthread_t th = fake_start(1000000, 1);
    ck_assert_int_eq(bs_stress_run(&o, closed), 0);
    fake_stop(th);
    o.rate = 500; /* one op every 2 ms: the 300 ms stall holds ~150 back */
    th = fake_start(1000000, 1);
    ck_assert_int_eq(bs_stress_run(&o, open), 0);
    fake_stop(th);
    ck_assert_uint_eq(closed->ops, 600);
    ck_assert_uint_eq(open->ops, 600);
    /* closed loop: the stalled op itself is seen */
    ck_assert_uint_ge(closed->all.max_ns, 300000000ULL);
    /* open loop: every op that should have started during the stall
     * counts its wait */
    assert_tail_at_least(&open->all, 100000000ULL);
    ck_assert_uint_gt(bs_hist_percentile(&open->all, 90), 50000000ULL);
    /* and the rate was honoured: 600 ops at 500/s take >= 1.2 s */
    ck_assert(open->elapsed_s >= 1.19);
    free(closed);
    free(open);
}
END_TEST

START_TEST(async_duration_mode_stops) {
    atomic_store(&writes, 0);
    atomic_store(&reads, 0);
    pthread_t th = fake_start(200000, 0);
    bs_stress_opts o = {0};
    o.threads = 16;
    o.duration_s = 0.3;
    o.op_async = async_op;
    bs_stress_result *r = malloc(sizeof *r);
    ck_assert_int_eq(bs_stress_run(&o, r), 0);
    fake_stop(th);
    /* every operation started was completed and counted */
    ck_assert_uint_gt(r->ops, 0);
    ck_assert_uint_eq(r->ops, (uint64_t)(atomic_load(&writes) + atomic_load(&reads)));
    ck_assert(r->elapsed_s >= 0.3);
    ck_assert_int_eq(atomic_load(&FS.inflight), 0);
    free(r);
}
END_TEST

/* A caller's ticker (bs_stress_opts.ticker): a thread of the test calls
 * fn every tick until it returns non-zero. */
static struct {
    int (*fn)(void *);
    void *arg;
    int64_t tick_ns;
    atomic_int calls;
    int refuse;
} TK;

static void *ticker_main(void *arg) {
    (void)arg;
    tl_role = 1;
    for (;;) {
        atomic_fetch_add(&TK.calls, 1);
        if (TK.fn(TK.arg)) break;
        struct timespec ts = {0, TK.tick_ns};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

static pthread_t ticker_th;
static int test_ticker(void *ud, double tick_us, int (*fn)(void *), void *arg) {
    (void)ud;
    if (TK.refuse) return -1;
    TK.fn = fn;
    TK.arg = arg;
    TK.tick_ns = (int64_t)(tick_us * 1000);
    pthread_create(&ticker_th, NULL, ticker_main, NULL);
    return 0;
}

/* The open loop paced by the caller's ticker: same semantics (latency from
 * intended starts through a stall, the rate honoured), every operation
 * started by the ticker, none by a completion or an engine thread (what
 * falls due between ticks goes out together at the next); the ticker is
 * released when the run ends.  A caller that refuses leaves the
 * pacing to the engine. */
START_TEST(async_open_loop_on_callers_ticker) {
    bs_stress_result *r = malloc(sizeof *r);
    bs_stress_opts o = {0};
    o.threads = 4;
    o.n = 600;
    o.rate = 500;
    o.tick_us = 300;
    o.op_async = async_op;
    o.ticker = test_ticker;
    memset(&TK, 0, sizeof TK);
    for (int i = 0; i < 3; i++) atomic_store(&started_by[i], 0);
    pthread_t th = fake_start(1000000, 1);
    ck_assert_int_eq(bs_stress_run(&o, r), 0);
    pthread_join(ticker_th, NULL); /* it stopped by itself */
    fake_stop(th);
    ck_assert_uint_eq(r->ops, 600);
    ck_assert_uint_gt(bs_hist_percentile(&r->all, 90), 50000000ULL);
    ck_assert(r->elapsed_s >= 1.19);
    ck_assert_int_eq(atomic_load(&started_by[0]), 0);
    ck_assert_int_eq(atomic_load(&started_by[1]), 600);
    ck_assert_int_eq(atomic_load(&started_by[2]), 0);
    ck_assert_int_gt(atomic_load(&TK.calls), 0);
    /* refused: the engine paces */
    memset(&TK, 0, sizeof TK);
    TK.refuse = 1;
    for (int i = 0; i < 3; i++) atomic_store(&started_by[i], 0);
    th = fake_start(1000000, 0);
    ck_assert_int_eq(bs_stress_run(&o, r), 0);
    fake_stop(th);
    ck_assert_uint_eq(r->ops, 600);
    ck_assert_int_gt(atomic_load(&started_by[0]), 0);
    ck_assert_int_eq(atomic_load(&started_by[1]), 0);
    free(r);
}
END_TEST

/* bs_stress_interrupt (basalt-stress's SIGINT/SIGTERM) ends an hour-long
 * run, worker threads and asynchronous slots alike: it returns (the
 * test's timeout bounds it) with every started operation completed and
 * counted.  The flag is process-wide and stays set: check runs each test
 * in its own process, and these are registered last. */
static void *interrupt_later(void *arg) {
    (void)arg;
    struct timespec ts = {0, 200000000};
    nanosleep(&ts, NULL);
    bs_stress_interrupt();
    return NULL;
}

static void run_interrupted(int async) {
    atomic_store(&writes, 0);
    atomic_store(&reads, 0);
    pthread_t th = async ? fake_start(200000, 0) : (pthread_t)0, irq;
    bs_stress_opts o = {0};
    o.threads = async ? 16 : 2;
    o.duration_s = 3600;
    if (async)
        o.op_async = async_op;
    else
        o.op = count_op;
    pthread_create(&irq, NULL, interrupt_later, NULL);
    bs_stress_result *r = malloc(sizeof *r);
    ck_assert_int_eq(bs_stress_run(&o, r), 0);
    pthread_join(irq, NULL);
    if (async) fake_stop(th);
    ck_assert_uint_gt(r->ops, 0);
    ck_assert_uint_eq(r->ops, (uint64_t)(atomic_load(&writes) + atomic_load(&reads)));
    if (async) ck_assert_int_eq(atomic_load(&FS.inflight), 0);
    free(r);
}

START_TEST(interrupt_ends_a_long_run) { run_interrupted(0); }
END_TEST

START_TEST(async_interrupt_ends_a_long_run) { run_interrupted(1); }
END_TEST

int main(void) {
    Suite *s = suite_create("stress");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, histogram_percentiles_within_one_percent);
    tcase_add_test(tc, counts_mix_and_errors);
    tcase_add_test(tc, open_loop_reports_from_intended_start);
    tcase_add_test(tc, duration_mode_stops);
    tcase_add_test(tc, async_counts_mix_errors_and_slots);
    tcase_add_test(tc, async_open_loop_reports_from_intended_start);
    tcase_add_test(tc, async_duration_mode_stops);
    tcase_add_test(tc, async_open_loop_on_callers_ticker);
    /* last: the flag stays set (in the test's process) */
    tcase_add_test(tc, interrupt_ends_a_long_run);
    tcase_add_test(tc, async_interrupt_ends_a_long_run);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
