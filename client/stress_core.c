/*
 * stress_core.c - basalt-stress's engine (see stress.h): workers,
 * open/closed-loop scheduling, histograms, reports.
 *
 * Histogram: value v (ns) falls in power p = floor(log2(v)) (v >= 128;
 * smaller values use p = 0 linearly) and sub-bucket s = the 7 bits after
 * the leading one, so every bucket spans at most 1/128 (< 0.8%) of its
 * values - the same idea as HdrHistogram with 2 significant digits.
 */
#include "client/stress.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/error.h"

/* ---- histogram ---------------------------------------------------------- */

void bs_hist_init(bs_hist *h) {
    memset(h, 0, sizeof *h);
    h->min_ns = UINT64_MAX;
}

static void bucket_of(uint64_t v, int *p, int *s) {
    if (v < BS_HIST_SUB) {
        *p = 0;
        *s = (int)v;
        return;
    }
    int lz = __builtin_clzll(v);
    int top = 63 - lz; /* position of the leading one, >= 7 */
    *p = top - 6;      /* 1.. */
    *s = (int)((v >> (top - 7)) & (BS_HIST_SUB - 1));
    if (*p >= BS_HIST_POW) {
        *p = BS_HIST_POW - 1;
        *s = BS_HIST_SUB - 1;
    }
}

static uint64_t bucket_upper(int p, int s) {
    if (p == 0) return (uint64_t)s;
    int top = p + 6;
    uint64_t base = 1ULL << top;
    uint64_t step = 1ULL << (top - 7);
    return base + (uint64_t)s * step + step - 1;
}

void bs_hist_record(bs_hist *h, uint64_t ns) {
    int p, s;
    bucket_of(ns, &p, &s);
    h->counts[p][s]++;
    h->total++;
    h->sum_ns += (double)ns;
    if (ns > h->max_ns) h->max_ns = ns;
    if (ns < h->min_ns) h->min_ns = ns;
}

void bs_hist_merge(bs_hist *into, const bs_hist *from) {
    for (int p = 0; p < BS_HIST_POW; p++)
        for (int s = 0; s < BS_HIST_SUB; s++)
            into->counts[p][s] += from->counts[p][s];
    into->total += from->total;
    into->sum_ns += from->sum_ns;
    if (from->max_ns > into->max_ns) into->max_ns = from->max_ns;
    if (from->min_ns < into->min_ns) into->min_ns = from->min_ns;
}

uint64_t bs_hist_percentile(const bs_hist *h, double pct) {
    if (!h->total) return 0;
    if (pct >= 100.0) return h->max_ns;
    uint64_t want = (uint64_t)ceil(pct / 100.0 * (double)h->total);
    if (want == 0) want = 1;
    uint64_t seen = 0;
    for (int p = 0; p < BS_HIST_POW; p++)
        for (int s = 0; s < BS_HIST_SUB; s++) {
            seen += h->counts[p][s];
            if (seen >= want) {
                uint64_t u = bucket_upper(p, s);
                return u > h->max_ns ? h->max_ns : u;
            }
        }
    return h->max_ns;
}

/* ---- engine ---------------------------------------------------------------
 */

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void sleep_until(int64_t t) {
    struct timespec ts = {t / 1000000000, t % 1000000000};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) != 0) {
    }
}

typedef struct worker {
    pthread_t th;
    int id;
    struct run *run;
    pthread_mutex_t lock; /* guards the histograms and counters below */
    bs_hist lat[2];       /* whole run */
    bs_hist interval;     /* since the last periodic report */
    uint64_t ok;
    uint64_t errors[BS_STRESS_MAX_ERRCLASSES];
} worker;

struct bs_stress_slot {
    struct run *run;
    int id;
    int kind;
    uint64_t seq;
    int64_t start, intended;
    int in_issue;  /* op_async of this slot is still running */
    int done_sync; /* ... and the operation already completed */
};

/* Set by bs_stress_interrupt (a signal handler): every run ends as if
 * its operations or its duration were used up. */
static atomic_int g_interrupted;

void bs_stress_interrupt(void) { atomic_store(&g_interrupted, 1); }

static int interrupted(void) { return atomic_load(&g_interrupted); }

typedef struct run {
    const bs_stress_opts *o;
    int64_t t0;
    int64_t end; /* duration mode: intended start limit */
    atomic_uint_fast64_t next;
    atomic_int stop;
    worker *w;
    /* asynchronous slots (o->op_async); alock guards what follows */
    pthread_mutex_t alock;
    pthread_cond_t acond;
    bs_stress_slot *slots;
    int *idle; /* stack of free slot ids (open loop) */
    int nidle;
    int inflight;  /* slots with an operation running */
    int exhausted; /* no operation is left to start */
    int ticking;   /* the caller's ticker paces the open loop */
    atomic_int finished;
} run;

static int kind_of(const bs_stress_opts *o, uint64_t seq) {
    int wr = o->write_ratio > 0 ? o->write_ratio : 0;
    int rd = o->read_ratio > 0 ? o->read_ratio : 0;
    if (wr + rd == 0) wr = 1;
    return (int)(seq % (uint64_t)(wr + rd)) < wr ? 0 : 1;
}

static void record(worker *w, int kind, int cls, int64_t lat) {
    if (lat < 0) lat = 0;
    pthread_mutex_lock(&w->lock);
    if (cls == 0) {
        w->ok++;
        bs_hist_record(&w->lat[kind], (uint64_t)lat);
        bs_hist_record(&w->interval, (uint64_t)lat);
    } else {
        if (cls < 0 || cls >= BS_STRESS_MAX_ERRCLASSES)
            cls = BS_STRESS_MAX_ERRCLASSES - 1;
        w->errors[cls]++;
    }
    pthread_mutex_unlock(&w->lock);
}

static void *work(void *arg) {
    worker *w = arg;
    run *r = w->run;
    const bs_stress_opts *o = r->o;
    while (!atomic_load(&r->stop) && !interrupted()) {
        uint64_t seq = atomic_fetch_add(&r->next, 1);
        if (o->n && seq >= o->n) break;
        int64_t intended = 0;
        if (o->rate > 0) {
            intended = r->t0 + (int64_t)((double)seq * 1e9 / o->rate);
            if (!o->n && intended >= r->end) break;
            if (now_ns() < intended) sleep_until(intended);
        } else if (!o->n && now_ns() >= r->end) {
            break;
        }
        int kind = kind_of(o, seq);
        int64_t start = now_ns();
        int cls = o->op(o->ud, w->id, seq, kind);
        int64_t done = now_ns();
        record(w, kind, cls, done - (o->rate > 0 ? intended : start));
    }
    return NULL;
}

/* ---- asynchronous slots ---------------------------------------------------
 */

/* The next operation to start, under alock: 1 (taken), 0 (open loop: not
 * due before `now`) or -1 (none left). */
static int take_seq(run *r, int64_t now, uint64_t *seq, int64_t *intended) {
    const bs_stress_opts *o = r->o;
    if (r->exhausted) return -1;
    uint64_t s = atomic_load(&r->next);
    int64_t it = 0;
    if ((o->n && s >= o->n) || interrupted()) {
        r->exhausted = 1;
    } else if (o->rate > 0) {
        it = r->t0 + (int64_t)((double)s * 1e9 / o->rate);
        if (!o->n && it >= r->end) r->exhausted = 1;
        if (!r->exhausted && it > now) return 0;
    } else if (!o->n && now >= r->end) {
        r->exhausted = 1;
    }
    if (r->exhausted) {
        pthread_cond_broadcast(&r->acond);
        return -1;
    }
    atomic_store(&r->next, s + 1);
    *seq = s;
    *intended = it;
    return 1;
}

/* Slot sl has nothing to run now (under alock). */
static void slot_park(run *r, bs_stress_slot *sl) {
    if (!r->exhausted) r->idle[r->nidle++] = sl->id;
    if (--r->inflight == 0 && r->exhausted) pthread_cond_broadcast(&r->acond);
}

/* Runs operations on sl, starting with seq, for as long as they complete
 * synchronously and more are due; an asynchronous completion continues
 * in bs_stress_done. */
static void slot_go(run *r, bs_stress_slot *sl, uint64_t seq,
                    int64_t intended) {
    const bs_stress_opts *o = r->o;
    for (;;) {
        pthread_mutex_lock(&r->alock);
        sl->seq = seq;
        sl->intended = intended;
        sl->kind = kind_of(o, seq);
        sl->start = now_ns();
        sl->in_issue = 1;
        sl->done_sync = 0;
        pthread_mutex_unlock(&r->alock);
        o->op_async(o->ud, sl->id, seq, sl->kind, sl);
        pthread_mutex_lock(&r->alock);
        sl->in_issue = 0;
        int t = sl->done_sync ? take_seq(r, now_ns(), &seq, &intended) : 2;
        if (t == 0 || t == -1) slot_park(r, sl);
        pthread_mutex_unlock(&r->alock);
        if (t != 1) return;
    }
}

void bs_stress_done(bs_stress_slot *sl, int cls) {
    run *r = sl->run;
    int64_t done = now_ns();
    pthread_mutex_lock(&r->alock);
    int kind = sl->kind;
    int64_t from = r->o->rate > 0 ? sl->intended : sl->start;
    pthread_mutex_unlock(&r->alock);
    record(&r->w[0], kind, cls, done - from);
    pthread_mutex_lock(&r->alock);
    if (sl->in_issue) { /* slot_go goes on */
        sl->done_sync = 1;
        pthread_mutex_unlock(&r->alock);
        return;
    }
    uint64_t seq;
    int64_t it;
    /* paced by the ticker, only ticks start operations: what is due
     * between two ticks goes out in one burst at the next (its wait
     * counted from its intended start) instead of a few at every answer */
    int t = r->ticking ? 0 : take_seq(r, done, &seq, &it);
    if (t != 1) slot_park(r, sl);
    pthread_mutex_unlock(&r->alock);
    if (t == 1) slot_go(r, sl, seq, it);
}

/* Starts the operations due by now on free slots (under alock, which it
 * drops around each start). */
static void start_due(run *r) {
    int64_t now = now_ns();
    while (r->nidle > 0) {
        uint64_t seq;
        int64_t it;
        if (take_seq(r, now, &seq, &it) != 1) break;
        bs_stress_slot *sl = &r->slots[r->idle[--r->nidle]];
        r->inflight++;
        pthread_mutex_unlock(&r->alock);
        slot_go(r, sl, seq, it);
        pthread_mutex_lock(&r->alock);
    }
}

static int64_t tick_ns(const bs_stress_opts *o) {
    return o->tick_us > 0 ? (int64_t)(o->tick_us * 1000) : 200000;
}

/* One tick of the caller's ticker (o->ticker); non-zero once nothing is
 * left to start, which ends the ticker. */
static int on_tick(void *arg) {
    run *r = arg;
    pthread_mutex_lock(&r->alock);
    start_due(r);
    int done = r->exhausted;
    if (done) {
        r->ticking = 0;
        pthread_cond_broadcast(&r->acond);
    }
    pthread_mutex_unlock(&r->alock);
    return done;
}

/* Starts due operations on free slots; waits for the end of the run. */
static void *sched(void *arg) {
    run *r = arg;
    const bs_stress_opts *o = r->o;
    pthread_mutex_lock(&r->alock);
    for (int i = o->threads - 1; i >= 0; i--)
        r->idle[r->nidle++] = i;
    if (o->rate > 0 && o->ticker) {
        r->ticking = 1;
        pthread_mutex_unlock(&r->alock);
        int rc = o->ticker(o->ud, (double)tick_ns(o) / 1000, on_tick, r);
        pthread_mutex_lock(&r->alock);
        if (rc == 0) { /* paced by the ticker until exhausted */
            while (r->ticking)
                pthread_cond_wait(&r->acond, &r->alock);
        }
        r->ticking = 0;
    }
    for (;;) {
        start_due(r);
        if (r->exhausted) break;
        /* Open loop: wake for the next intended start, but at most once
         * a tick (ops due meanwhile start together, each one's lateness
         * counted from its own intended time); busy slots start due ops
         * themselves as they complete. */
        int64_t now = now_ns();
        int64_t tick = tick_ns(o);
        int64_t next = now + 1000000;
        if (o->rate > 0) {
            int64_t it = r->t0 + (int64_t)((double)atomic_load(&r->next) *
                                           1e9 / o->rate);
            if (it < next) next = it;
            if (next < now + tick) next = now + tick;
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t rt = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec +
                     (next - now);
        ts.tv_sec = rt / 1000000000;
        ts.tv_nsec = rt % 1000000000;
        pthread_cond_timedwait(&r->acond, &r->alock, &ts);
    }
    while (r->inflight > 0)
        pthread_cond_wait(&r->acond, &r->alock);
    atomic_store(&r->finished, 1);
    pthread_mutex_unlock(&r->alock);
    return NULL;
}

/* Sleeps until the report time `next` or the end of the run; 1 when
 * the run has finished. */
static int wait_report(run *r, int64_t next) {
    const bs_stress_opts *o = r->o;
    while (now_ns() < next) {
        struct timespec ts = {0, 50000000};
        nanosleep(&ts, NULL);
        uint64_t seq = atomic_load(&r->next);
        if (o->op_async) {
            if (atomic_load(&r->finished)) return 1;
            continue;
        }
        if (o->n && seq >= o->n + (uint64_t)o->threads) return 1;
        if (!o->n && now_ns() >= r->end + 50000000) return 1;
        if (interrupted()) return 1;
    }
    return 0;
}

/* Prints a line of interval statistics every report_every_s seconds
 * until the run finishes (nw workers' histograms). */
static void report_loop(run *r, int nw) {
    const bs_stress_opts *o = r->o;
    fprintf(o->out, "%8s %10s %10s %9s %9s %9s %9s %9s %8s\n", "time_s", "ops",
            "op/s", "p50_ms", "p90_ms", "p99_ms", "p99.9_ms", "max_ms",
            "errors");
    int64_t last = r->t0;
    uint64_t total_ops = 0;
    bs_hist *iv = malloc(sizeof *iv);
    for (;;) {
        int finished =
            wait_report(r, last + (int64_t)(o->report_every_s * 1e9));
        if (!iv) break;
        bs_hist_init(iv);
        uint64_t errs = 0;
        for (int i = 0; i < nw; i++) {
            worker *w = &r->w[i];
            pthread_mutex_lock(&w->lock);
            bs_hist_merge(iv, &w->interval);
            bs_hist_init(&w->interval);
            for (int k = 0; k < BS_STRESS_MAX_ERRCLASSES; k++)
                errs += w->errors[k];
            pthread_mutex_unlock(&w->lock);
        }
        int64_t t = now_ns();
        total_ops += iv->total;
        double dt = (double)(t - last) / 1e9;
        fprintf(
            o->out, "%8.1f %10llu %10.0f %9.3f %9.3f %9.3f %9.3f %9.3f %8llu\n",
            (double)(t - r->t0) / 1e9, (unsigned long long)total_ops,
            dt > 0 ? (double)iv->total / dt : 0,
            bs_hist_percentile(iv, 50) / 1e6, bs_hist_percentile(iv, 90) / 1e6,
            bs_hist_percentile(iv, 99) / 1e6,
            bs_hist_percentile(iv, 99.9) / 1e6, iv->max_ns / 1e6,
            (unsigned long long)errs);
        fflush(o->out);
        last = t;
        if (finished) break;
    }
    free(iv);
}

/* Sums the nw workers' counts and histograms into *res (after they
 * stopped) and destroys their locks. */
static void merge_results(run *r, int nw, bs_stress_result *res) {
    res->elapsed_s = (double)(now_ns() - r->t0) / 1e9;
    bs_hist_init(&res->lat[0]);
    bs_hist_init(&res->lat[1]);
    bs_hist_init(&res->all);
    for (int i = 0; i < nw; i++) {
        worker *w = &r->w[i];
        bs_hist_merge(&res->lat[0], &w->lat[0]);
        bs_hist_merge(&res->lat[1], &w->lat[1]);
        res->ok += w->ok;
        for (int k = 0; k < BS_STRESS_MAX_ERRCLASSES; k++)
            res->errors[k] += w->errors[k];
        pthread_mutex_destroy(&w->lock);
    }
    bs_hist_merge(&res->all, &res->lat[0]);
    bs_hist_merge(&res->all, &res->lat[1]);
    res->ops = res->ok;
    for (int k = 0; k < BS_STRESS_MAX_ERRCLASSES; k++)
        res->ops += res->errors[k];
}

int bs_stress_run(const bs_stress_opts *o, bs_stress_result *res) {
    if ((!o->op && !o->op_async) || o->threads < 1 ||
        (!o->n && o->duration_s <= 0))
        return BS_EINVAL;
    memset(res, 0, sizeof *res);
    run r;
    memset(&r, 0, sizeof r);
    r.o = o;
    /* worker threads each keep their histograms; slots share one set */
    int nw = o->op_async ? 1 : o->threads;
    r.w = calloc((size_t)nw, sizeof *r.w);
    if (o->op_async) {
        r.slots = calloc((size_t)o->threads, sizeof *r.slots);
        r.idle = calloc((size_t)o->threads, sizeof *r.idle);
    }
    if (!r.w || (o->op_async && (!r.slots || !r.idle))) {
        free(r.w);
        free(r.slots);
        free(r.idle);
        return BS_ENOMEM;
    }
    atomic_init(&r.next, 0);
    atomic_init(&r.stop, 0);
    atomic_init(&r.finished, 0);
    pthread_mutex_init(&r.alock, NULL);
    pthread_cond_init(&r.acond, NULL);
    for (int i = 0; o->op_async && i < o->threads; i++) {
        r.slots[i].run = &r;
        r.slots[i].id = i;
    }
    r.t0 = now_ns();
    r.end = r.t0 + (int64_t)(o->duration_s * 1e9);
    for (int i = 0; i < nw; i++) {
        worker *w = &r.w[i];
        w->id = i;
        w->run = &r;
        pthread_mutex_init(&w->lock, NULL);
        bs_hist_init(&w->lat[0]);
        bs_hist_init(&w->lat[1]);
        bs_hist_init(&w->interval);
    }
    pthread_t sched_th;
    if (o->op_async)
        pthread_create(&sched_th, NULL, sched, &r);
    else
        for (int i = 0; i < nw; i++)
            pthread_create(&r.w[i].th, NULL, work, &r.w[i]);
    /* periodic reports from this thread */
    if (o->report_every_s > 0 && o->out) report_loop(&r, nw);
    if (o->op_async)
        pthread_join(sched_th, NULL);
    else
        for (int i = 0; i < nw; i++)
            pthread_join(r.w[i].th, NULL);
    merge_results(&r, nw, res);
    free(r.w);
    free(r.slots);
    free(r.idle);
    pthread_mutex_destroy(&r.alock);
    pthread_cond_destroy(&r.acond);
    return 0;
}

static void lat_line(FILE *f, const char *name, const bs_hist *h) {
    if (!h->total) return;
    fprintf(f,
            "%-6s latency ms: mean %.3f  p50 %.3f  p90 %.3f  p99 %.3f  p99.9 "
            "%.3f  max %.3f\n",
            name, h->sum_ns / (double)h->total / 1e6,
            bs_hist_percentile(h, 50) / 1e6, bs_hist_percentile(h, 90) / 1e6,
            bs_hist_percentile(h, 99) / 1e6, bs_hist_percentile(h, 99.9) / 1e6,
            h->max_ns / 1e6);
}

static void lat_json(FILE *f, const char *name, const bs_hist *h, int comma) {
    fprintf(f,
            "    \"%s\": {\"count\": %llu, \"mean_ms\": %.4f, \"p50_ms\": "
            "%.4f, \"p90_ms\": %.4f, "
            "\"p99_ms\": %.4f, \"p999_ms\": %.4f, \"max_ms\": %.4f}%s\n",
            name, (unsigned long long)h->total,
            h->total ? h->sum_ns / (double)h->total / 1e6 : 0,
            bs_hist_percentile(h, 50) / 1e6, bs_hist_percentile(h, 90) / 1e6,
            bs_hist_percentile(h, 99) / 1e6, bs_hist_percentile(h, 99.9) / 1e6,
            h->max_ns / 1e6, comma ? "," : "");
}

void bs_stress_report(const bs_stress_opts *o, const bs_stress_result *r,
                      FILE *text, FILE *json) {
    double tput = r->elapsed_s > 0 ? (double)r->ops / r->elapsed_s : 0;
    if (text) {
        fprintf(text, "\nResults:\n");
        fprintf(
            text,
            "op rate          : %.0f op/s (%llu ops in %.2f s, %s loop%s)\n",
            tput, (unsigned long long)r->ops, r->elapsed_s,
            o->rate > 0 ? "open" : "closed",
            o->rate > 0 ? ", latency from intended start" : "");
        lat_line(text, "all", &r->all);
        lat_line(text, "write", &r->lat[0]);
        lat_line(text, "read", &r->lat[1]);
        uint64_t errs = r->ops - r->ok;
        fprintf(text, "errors           : %llu\n", (unsigned long long)errs);
        for (int k = 1; k < BS_STRESS_MAX_ERRCLASSES; k++)
            if (r->errors[k])
                fprintf(text, "  %-14s : %llu\n",
                        o->errclass_name ? o->errclass_name(k) : "error",
                        (unsigned long long)r->errors[k]);
    }
    if (json) {
        fprintf(json,
                "{\n  \"ops\": %llu,\n  \"ok\": %llu,\n  \"elapsed_s\": "
                "%.3f,\n  \"op_rate\": %.1f,\n"
                "  \"mode\": \"%s\",\n  \"threads\": %d,\n  \"target_rate\": "
                "%.1f,\n  \"latency\": {\n",
                (unsigned long long)r->ops, (unsigned long long)r->ok,
                r->elapsed_s, tput, o->rate > 0 ? "open" : "closed", o->threads,
                o->rate);
        lat_json(json, "all", &r->all, 1);
        lat_json(json, "write", &r->lat[0], 1);
        lat_json(json, "read", &r->lat[1], 0);
        fprintf(json, "  },\n  \"errors\": {");
        int first = 1;
        for (int k = 1; k < BS_STRESS_MAX_ERRCLASSES; k++)
            if (r->errors[k]) {
                fprintf(json, "%s\"%s\": %llu", first ? "" : ", ",
                        o->errclass_name ? o->errclass_name(k) : "error",
                        (unsigned long long)r->errors[k]);
                first = 0;
            }
        fprintf(json, "}\n}\n");
    }
}
