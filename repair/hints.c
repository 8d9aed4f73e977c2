/*
 * hints.c - hinted handoff storage and replay (see hints.h).
 *
 * Storage.  One store table, "system.hints" (gc_grace 0: a delivered
 * hint's tombstone may be purged by the next compaction, nothing older
 * can come back because hint rows are never rewritten).  A hint is one
 * row:
 *
 *   partition key  target host id (16 bytes); token = Murmur3 of it
 *   clustering     16 bytes:
 *                    OFFSET SIZE DESCRIPTION
 *                    0      8    created_us ^ 2^63, big-endian (so byte
 *                                order == time order, negatives included)
 *                    8      8    sequence number, big-endian (unique per
 *                                process; starts at the monotonic clock so
 *                                two runs do not collide either)
 *   column 16      the payload (cell timestamp = created_us, no TTL)
 *
 * Delivering or dropping a hint writes a row deletion with timestamp
 * created_us, which shadows exactly that row's cell.
 *
 * Counts.  `pending` is an in-memory array (target, count) rebuilt at
 * open by one scan of the table and kept in step by add/delete; it is
 * what bs_hints_pending() answers without touching the store.
 *
 * Replay.  Passes (thread or bs_hints_replay_now) are serialized by
 * pass_lock, so one hint is never delivered twice concurrently.  A pass
 * reads `page` rows at a time oldest first (resuming strictly after the
 * last row seen), drops the expired ones, delivers the others one by one
 * and deletes each as soon as it is acknowledged; the first failure ends
 * the pass.  The throttle sleeps len / throttle_bytes seconds after each
 * delivery (on a condition variable, so close() interrupts it).
 *
 * Pipelined replay (the thread, when a sender is set).  One round serves
 * every live target at once: each target has a window of `window` slots;
 * the thread reads as many rows as there are free slots (after the
 * target's cursor, the last row sent), sends them, and waits on `cond`
 * for answers, which the sender's done() writes into the slots under
 * `lock`.  An acknowledged slot's row is deleted (then the slot is free);
 * a failed one stops that target's sending for this round (its row and
 * every later one stay, and are sent again next round: at-least-once).
 * The throttle is a budget: bytes sent <= throttle_bytes per second since
 * the round began, plus a tenth of a second's worth.  The round returns
 * once nothing is in flight and every target is done or failed; on close
 * it stops sending and waits for the answers still due.
 */
#include "repair/hints.h"

#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "common/error.h"
#include "common/log.h"
#include "ring/murmur3.h"

#define COL_PAYLOAD 16
#define CK_LEN 16
#define LOG "hints"

typedef struct tcount {
    bs_uuid target;
    uint64_t n;
} tcount;

struct bs_hints {
    bs_store *store;
    bs_table *t;
    bs_hints_opts o;
    _Atomic uint64_t seq;

    pthread_mutex_t lock; /* counts, stats, stop flag */
    pthread_cond_t cond;
    tcount *counts;
    size_t ncounts, capcounts;
    bs_hints_stats st;

    pthread_mutex_t pass_lock;
    pthread_t thread;
    int started;
    int stopping;
    bs_hints_deliver_fn deliver;
    bs_hints_alive_fn alive;
    bs_hints_send_fn send;
    void *ud;
};

void bs_hints_opts_default(bs_hints_opts *o) {
    memset(o, 0, sizeof *o);
    o->enabled = 1;
    o->max_window_ms = 3ull * 3600 * 1000;
    o->throttle_bytes = 1024 * 1024;
    o->poll_ms = 1000;
    o->page = 128;
    o->window = 64;
    o->window_bytes = 1024 * 1024;
}

/* ---- counts (lock held) ---------------------------------------------- */

static tcount *find_count(bs_hints *h, const bs_uuid *t) {
    for (size_t i = 0; i < h->ncounts; i++)
        if (!memcmp(h->counts[i].target.b, t->b, 16)) return &h->counts[i];
    return NULL;
}

static int add_count(bs_hints *h, const bs_uuid *t, int64_t delta) {
    tcount *c = find_count(h, t);
    if (!c) {
        if (delta <= 0) return 0;
        if (h->ncounts == h->capcounts) {
            size_t cap = h->capcounts ? h->capcounts * 2 : 8;
            tcount *nc = realloc(h->counts, cap * sizeof *nc);
            if (!nc) return BS_ENOMEM;
            h->counts = nc;
            h->capcounts = cap;
        }
        c = &h->counts[h->ncounts++];
        c->target = *t;
        c->n = 0;
    }
    if (delta < 0 && (uint64_t)-delta > c->n) delta = -(int64_t)c->n;
    c->n = (uint64_t)((int64_t)c->n + delta);
    h->st.pending = (uint64_t)((int64_t)h->st.pending + delta);
    if (c->n == 0) *c = h->counts[--h->ncounts];
    return 0;
}

/* ---- rows -------------------------------------------------------------- */

static int64_t token_of(const bs_uuid *t) { return bs_ring_partition_token(t->b, 16); }

static void make_ck(uint8_t ck[CK_LEN], int64_t created_us, uint64_t seq) {
    bs_put_u64(ck, (uint64_t)created_us ^ 0x8000000000000000ull);
    bs_put_u64(ck + 8, seq);
}

static int64_t ck_created(const uint8_t *ck) {
    return (int64_t)(bs_get_u64(ck) ^ 0x8000000000000000ull);
}

static int delete_row(bs_hints *h, const bs_uuid *target, const uint8_t *ck) {
    bs_batch *b;
    int rc = bs_batch_new(h->store, &b);
    if (rc) return rc;
    bs_rowkey rk = {token_of(target), target->b, 16, ck, CK_LEN, 0};
    rc = bs_batch_delete_row(b, h->t, &rk, ck_created(ck));
    if (!rc) rc = bs_store_write(h->store, b);
    bs_batch_free(b);
    if (!rc) {
        pthread_mutex_lock(&h->lock);
        add_count(h, target, -1);
        pthread_mutex_unlock(&h->lock);
    }
    return rc;
}

int bs_hints_add(bs_hints *h, const bs_uuid *target, int64_t created_us,
                 const void *payload, size_t len) {
    if (!h->o.enabled) return BS_ENOTSUP;
    if (!payload || !len) return BS_EINVAL;
    if (!created_us) created_us = bs_clock_now_us(h->o.clock);
    uint8_t ck[CK_LEN];
    make_ck(ck, created_us, atomic_fetch_add(&h->seq, 1));
    bs_batch *b;
    int rc = bs_batch_new(h->store, &b);
    if (rc) return rc;
    bs_rowkey rk = {token_of(target), target->b, 16, ck, CK_LEN, 0};
    rc = bs_batch_put_cell(b, h->t, &rk, COL_PAYLOAD, NULL, 0, payload, len, created_us, 0);
    if (!rc) rc = bs_store_write(h->store, b);
    bs_batch_free(b);
    if (rc) {
        BS_WARN(LOG, "cannot store a hint: %s", bs_store_errmsg());
        return rc;
    }
    pthread_mutex_lock(&h->lock);
    rc = add_count(h, target, 1);
    h->st.written++;
    pthread_mutex_unlock(&h->lock);
    return rc;
}

uint64_t bs_hints_pending(bs_hints *h, const bs_uuid *target) {
    pthread_mutex_lock(&h->lock);
    tcount *c = find_count(h, target);
    uint64_t n = c ? c->n : 0;
    pthread_mutex_unlock(&h->lock);
    return n;
}

void bs_hints_targets(bs_hints *h, bs_uuid *targets, uint64_t *counts,
                      size_t cap, size_t *n) {
    pthread_mutex_lock(&h->lock);
    for (size_t i = 0; i < h->ncounts && i < cap; i++) {
        if (targets) targets[i] = h->counts[i].target;
        if (counts) counts[i] = h->counts[i].n;
    }
    *n = h->ncounts;
    pthread_mutex_unlock(&h->lock);
}

void bs_hints_get_stats(bs_hints *h, bs_hints_stats *out) {
    pthread_mutex_lock(&h->lock);
    *out = h->st;
    pthread_mutex_unlock(&h->lock);
}

/* ---- passes ------------------------------------------------------------ */

/* Sleeps ms unless the handle is stopping; returns 1 when stopping. */
static int nap(bs_hints *h, uint64_t ms) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t ns = (uint64_t)ts.tv_nsec + (ms % 1000) * 1000000ull;
    ts.tv_sec += (time_t)(ms / 1000 + ns / 1000000000ull);
    ts.tv_nsec = (long)(ns % 1000000000ull);
    pthread_mutex_lock(&h->lock);
    while (!h->stopping) {
        if (pthread_cond_timedwait(&h->cond, &h->lock, &ts)) break;
    }
    int stop = h->stopping;
    pthread_mutex_unlock(&h->lock);
    return stop;
}

static int stopping(bs_hints *h) {
    pthread_mutex_lock(&h->lock);
    int s = h->stopping;
    pthread_mutex_unlock(&h->lock);
    return s;
}

/* deliver NULL: drop every hint (target left). */
static int pass(bs_hints *h, const bs_uuid *target, bs_hints_deliver_fn deliver,
                void *ud, uint64_t *delivered_out) {
    uint64_t delivered = 0, dropped = 0, expired = 0;
    int rc = 0;
    uint8_t after[CK_LEN];
    int has_after = 0;
    bs_arena a;
    bs_arena_init(&a, 0);
    pthread_mutex_lock(&h->pass_lock);
    for (;;) {
        bs_slice sl;
        memset(&sl, 0, sizeof sl);
        sl.limit = h->o.page ? h->o.page : 128;
        if (has_after) {
            sl.has_after = 1;
            sl.after_ck = after;
            sl.after_len = CK_LEN;
        }
        bs_partv *p = NULL;
        bs_arena_reset(&a);
        rc = bs_store_read(h->t, token_of(target), target->b, 16, &sl, &a, &p);
        if (rc || !p || !p->nrows) break;
        for (size_t i = 0; i < p->nrows && !rc; i++) {
            const bs_rowv *r = &p->rows[i];
            if (r->ck_len != CK_LEN) continue; /* not ours: leave it */
            memcpy(after, r->ck, CK_LEN);
            has_after = 1;
            const bs_cellv *c = NULL;
            for (size_t j = 0; j < r->ncells; j++)
                if (r->cells[j].col == COL_PAYLOAD && !r->cells[j].has_elem) c = &r->cells[j];
            int64_t age_ms = (bs_clock_now_us(h->o.clock) - ck_created(r->ck)) / 1000;
            if (!deliver) {
                if (!(rc = delete_row(h, target, r->ck))) dropped++;
            } else if (!c || (h->o.max_window_ms && age_ms > (int64_t)h->o.max_window_ms)) {
                if (!(rc = delete_row(h, target, r->ck))) expired++;
            } else {
                rc = deliver(ud, target, c->val, c->val_len);
                if (rc) {
                    pthread_mutex_lock(&h->lock);
                    h->st.delivery_failures++;
                    pthread_mutex_unlock(&h->lock);
                    break;
                }
                if ((rc = delete_row(h, target, r->ck))) break;
                delivered++;
                pthread_mutex_lock(&h->lock);
                h->st.replayed++;
                pthread_mutex_unlock(&h->lock);
                if (h->o.throttle_bytes) {
                    uint64_t ms = (uint64_t)c->val_len * 1000 / h->o.throttle_bytes;
                    if (ms && nap(h, ms)) rc = BS_ECLOSED;
                }
            }
        }
        if (rc || !p->limited || stopping(h)) break;
    }
    pthread_mutex_unlock(&h->pass_lock);
    bs_arena_free(&a);
    pthread_mutex_lock(&h->lock);
    h->st.dropped_expired += expired;
    h->st.dropped_left += dropped;
    pthread_mutex_unlock(&h->lock);
    if (expired || dropped)
        BS_INFO(LOG, "dropped %llu expired and %llu orphaned hints",
                (unsigned long long)expired, (unsigned long long)dropped);
    if (delivered_out) *delivered_out = deliver ? delivered : dropped;
    return rc;
}

int bs_hints_replay_now(bs_hints *h, const bs_uuid *target,
                        bs_hints_deliver_fn deliver, void *ud,
                        uint64_t *delivered) {
    if (!deliver) return BS_EINVAL;
    return pass(h, target, deliver, ud, delivered);
}

int bs_hints_drop(bs_hints *h, const bs_uuid *target, uint64_t *dropped) {
    return pass(h, target, NULL, NULL, dropped);
}

/* ---- pipelined replay ----------------------------------------------- */

enum { SL_FREE, SL_SENT, SL_ANSWERED };

struct wtgt;
typedef struct slot {
    bs_hints *h;
    uint8_t ck[CK_LEN];
    size_t len;
    int state; /* SL_*; SENT -> ANSWERED under h->lock (done) */
    int status;
} slot;

typedef struct wtgt {
    bs_uuid id;
    uint8_t after[CK_LEN];
    int has_after, eof, failed;
    unsigned inflight;
    uint64_t bytes, delivered, expired;
    slot *slots;
} wtgt;

typedef struct wround {
    bs_hints *h;
    unsigned win;
    int64_t t0_ns;
    uint64_t sent_bytes;
    bs_arena a;
} wround;

static void on_done(void *cookie, int status) {
    slot *s = cookie;
    bs_hints *h = s->h;
    pthread_mutex_lock(&h->lock);
    s->status = status;
    s->state = SL_ANSWERED;
    pthread_cond_broadcast(&h->cond);
    pthread_mutex_unlock(&h->lock);
}

static int throttled(const wround *w) {
    uint64_t tb = w->h->o.throttle_bytes;
    if (!tb) return 0;
    uint64_t ms = (uint64_t)((bs_clock_mono_ns() - w->t0_ns) / 1000000);
    return w->sent_bytes > tb * ms / 1000 + tb / 10;
}

/* Sends one row of t (slot free): 0, or the target failed. */
static int send_row(wround *w, wtgt *t, const bs_rowv *r, const bs_cellv *c) {
    bs_hints *h = w->h;
    slot *s = NULL;
    for (unsigned i = 0; i < w->win && !s; i++)
        if (t->slots[i].state == SL_FREE) s = &t->slots[i];
    assert(s); /* rows read <= free slots */
    s->h = h;
    memcpy(s->ck, r->ck, CK_LEN);
    s->len = c->val_len;
    pthread_mutex_lock(&h->lock);
    s->state = SL_SENT; /* before send: done may run before it returns */
    pthread_mutex_unlock(&h->lock);
    int rc = h->send(h->ud, &t->id, c->val, c->val_len, on_done, s);
    if (rc) {
        pthread_mutex_lock(&h->lock);
        s->state = SL_FREE;
        h->st.delivery_failures++;
        pthread_mutex_unlock(&h->lock);
        t->failed = 1;
        return rc;
    }
    t->inflight++;
    t->bytes += c->val_len;
    w->sent_bytes += c->val_len;
    return 0;
}

/* Reads and sends rows of t while its window has room. */
static void refill(wround *w, wtgt *t) {
    bs_hints *h = w->h;
    uint64_t wb = h->o.window_bytes;
    while (!t->eof && !t->failed && t->inflight < w->win &&
           (!wb || t->bytes < wb) && !throttled(w)) {
        bs_slice sl;
        memset(&sl, 0, sizeof sl);
        sl.limit = w->win - t->inflight;
        if (t->has_after) {
            sl.has_after = 1;
            sl.after_ck = t->after;
            sl.after_len = CK_LEN;
        }
        bs_partv *p = NULL;
        bs_arena_reset(&w->a);
        if (bs_store_read(h->t, token_of(&t->id), t->id.b, 16, &sl, &w->a, &p)) {
            t->failed = 1;
            return;
        }
        if (!p || !p->nrows) {
            t->eof = 1;
            return;
        }
        for (size_t i = 0; i < p->nrows && !t->failed; i++) {
            const bs_rowv *r = &p->rows[i];
            if (r->ck_len != CK_LEN) continue;
            memcpy(t->after, r->ck, CK_LEN);
            t->has_after = 1;
            const bs_cellv *c = NULL;
            for (size_t j = 0; j < r->ncells; j++)
                if (r->cells[j].col == COL_PAYLOAD && !r->cells[j].has_elem) c = &r->cells[j];
            int64_t age_ms = (bs_clock_now_us(h->o.clock) - ck_created(r->ck)) / 1000;
            if (!c || (h->o.max_window_ms && age_ms > (int64_t)h->o.max_window_ms)) {
                if (delete_row(h, &t->id, r->ck)) t->failed = 1;
                else t->expired++;
            } else {
                send_row(w, t, r, c);
            }
        }
        if (!p->limited) t->eof = 1;
    }
}

/* Takes the answered slots of t: deletes acknowledged rows. */
static void reap(wround *w, wtgt *t) {
    bs_hints *h = w->h;
    for (unsigned i = 0; i < w->win; i++) {
        slot *s = &t->slots[i];
        pthread_mutex_lock(&h->lock);
        int st = s->state, status = s->status;
        pthread_mutex_unlock(&h->lock);
        if (st != SL_ANSWERED) continue;
        if (status == 0 && delete_row(h, &t->id, s->ck) == 0) {
            t->delivered++;
            pthread_mutex_lock(&h->lock);
            h->st.replayed++;
            pthread_mutex_unlock(&h->lock);
        } else {
            if (status) {
                pthread_mutex_lock(&h->lock);
                h->st.delivery_failures++;
                pthread_mutex_unlock(&h->lock);
            }
            t->failed = 1;
        }
        t->inflight--;
        t->bytes -= s->len;
        s->state = SL_FREE; /* only this thread touches non-SENT slots */
    }
}

/* Whether any slot of the round is answered (lock held). */
static int any_answered(const wround *w, const wtgt *ts, size_t n) {
    for (size_t i = 0; i < n; i++)
        for (unsigned j = 0; j < w->win; j++)
            if (ts[i].slots[j].state == SL_ANSWERED) return 1;
    return 0;
}

/* Waits up to 20 ms for an answer (or close). */
static void await_answer(wround *w, const wtgt *ts, size_t n) {
    bs_hints *h = w->h;
    struct timespec ts_;
    clock_gettime(CLOCK_REALTIME, &ts_);
    ts_.tv_nsec += 20000000;
    if (ts_.tv_nsec >= 1000000000) {
        ts_.tv_sec++;
        ts_.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&h->lock);
    while (!h->stopping && !any_answered(w, ts, n))
        if (pthread_cond_timedwait(&h->cond, &h->lock, &ts_)) break;
    pthread_mutex_unlock(&h->lock);
}

static void log_round(bs_hints *h, const wtgt *t) {
    char id[37];
    bs_uuid_format(&t->id, id);
    if (t->delivered)
        BS_INFO(LOG, "replayed %llu hints to %s", (unsigned long long)t->delivered, id);
    if (t->failed) BS_DEBUG(LOG, "hint replay to %s stopped by a failure", id);
    if (t->expired) {
        pthread_mutex_lock(&h->lock);
        h->st.dropped_expired += t->expired;
        pthread_mutex_unlock(&h->lock);
        BS_INFO(LOG, "dropped %llu expired hints", (unsigned long long)t->expired);
    }
}

/* One pipelined round over the live targets ids[0..n). */
static void replay_round(bs_hints *h, const bs_uuid *ids, size_t n) {
    wround w = {.h = h, .win = h->o.window ? h->o.window : 1};
    wtgt *ts = calloc(n, sizeof *ts);
    slot *slots = calloc(n * w.win, sizeof *slots);
    if (!ts || !slots) {
        free(ts);
        free(slots);
        return;
    }
    bs_arena_init(&w.a, 0);
    for (size_t i = 0; i < n; i++) {
        ts[i].id = ids[i];
        ts[i].slots = slots + i * w.win;
    }
    pthread_mutex_lock(&h->pass_lock);
    w.t0_ns = bs_clock_mono_ns();
    for (;;) {
        int stop = stopping(h), busy = 0;
        for (size_t i = 0; i < n; i++) {
            if (!stop) refill(&w, &ts[i]);
            if (ts[i].inflight || (!stop && !ts[i].eof && !ts[i].failed)) busy = 1;
        }
        if (!busy) break;
        await_answer(&w, ts, n);
        for (size_t i = 0; i < n; i++) reap(&w, &ts[i]);
    }
    pthread_mutex_unlock(&h->pass_lock);
    for (size_t i = 0; i < n; i++) log_round(h, &ts[i]);
    bs_arena_free(&w.a);
    free(slots);
    free(ts);
}

/* The pipelined form of replay_main's pass over the targets. */
static void replay_targets(bs_hints *h, const bs_uuid *ts, size_t n) {
    bs_uuid *live = calloc(n, sizeof *live);
    size_t nl = 0;
    if (!live) return;
    for (size_t i = 0; i < n && !stopping(h); i++) {
        int al = h->alive(h->ud, &ts[i]);
        if (al > 0) live[nl++] = ts[i];
        else if (al < 0) pass(h, &ts[i], NULL, NULL, NULL);
    }
    if (nl && !stopping(h)) replay_round(h, live, nl);
    free(live);
}

static void *replay_main(void *arg) {
    bs_hints *h = arg;
    while (!nap(h, h->o.poll_ms ? h->o.poll_ms : 1000)) {
        size_t n;
        bs_hints_targets(h, NULL, NULL, 0, &n);
        if (!n) continue;
        bs_uuid *ts = calloc(n, sizeof *ts);
        if (!ts) continue;
        bs_hints_targets(h, ts, NULL, n, &n);
        if (h->send) {
            replay_targets(h, ts, n);
            free(ts);
            continue;
        }
        for (size_t i = 0; i < n && !stopping(h); i++) {
            int al = h->alive(h->ud, &ts[i]);
            if (al > 0) {
                uint64_t d = 0;
                int rc = pass(h, &ts[i], h->deliver, h->ud, &d);
                char id[37];
                bs_uuid_format(&ts[i], id);
                if (d) BS_INFO(LOG, "replayed %llu hints to %s", (unsigned long long)d, id);
                if (rc && rc != BS_ECLOSED)
                    BS_DEBUG(LOG, "hint replay to %s stopped: %s", id, bs_strerror(rc));
            } else if (al < 0) {
                pass(h, &ts[i], NULL, NULL, NULL);
            }
        }
        free(ts);
    }
    return NULL;
}

/* ---- lifecycle --------------------------------------------------------- */

static int count_cb(void *ud, const bs_partv *p) {
    bs_hints *h = ud;
    if (p->pk_len != 16 || !p->nrows) return 0;
    bs_uuid t;
    memcpy(t.b, p->pk, 16);
    return add_count(h, &t, (int64_t)p->nrows);
}

int bs_hints_open(bs_store *store, const bs_hints_opts *opts, bs_hints **out) {
    *out = NULL;
    bs_hints *h = calloc(1, sizeof *h);
    if (!h) return BS_ENOMEM;
    if (opts) h->o = *opts;
    else bs_hints_opts_default(&h->o);
    h->store = store;
    atomic_init(&h->seq, (uint64_t)bs_clock_mono_ns());
    pthread_mutex_init(&h->lock, NULL);
    pthread_mutex_init(&h->pass_lock, NULL);
    pthread_cond_init(&h->cond, NULL);
    bs_table_opts to;
    bs_table_opts_default(&to);
    to.gc_grace_seconds = 0;
    int rc = bs_store_table_open(store, "system.hints", &to, &h->t);
    if (!rc) {
        bs_slice sl;
        memset(&sl, 0, sizeof sl);
        sl.cols = (const uint16_t[]){0}; /* no cells needed: rows only */
        sl.ncols = 0;
        bs_scan sc;
        memset(&sc, 0, sizeof sc);
        sc.start_token = sc.end_token = INT64_MIN; /* whole ring */
        sc.slice = &sl;
        rc = bs_store_scan(h->t, &sc, count_cb, h);
    }
    if (rc) {
        bs_hints_close(h);
        return rc;
    }
    *out = h;
    return 0;
}

int bs_hints_start(bs_hints *h, bs_hints_deliver_fn deliver,
                   bs_hints_alive_fn alive, void *ud) {
    if (h->started) return BS_EEXIST;
    if (!deliver || !alive) return BS_EINVAL;
    h->deliver = deliver;
    h->alive = alive;
    h->ud = ud;
    if (pthread_create(&h->thread, NULL, replay_main, h)) return BS_ENOMEM;
    h->started = 1;
    return 0;
}

void bs_hints_set_sender(bs_hints *h, bs_hints_send_fn send) {
    h->send = send;
}

void bs_hints_close(bs_hints *h) {
    if (!h) return;
    pthread_mutex_lock(&h->lock);
    h->stopping = 1;
    pthread_cond_broadcast(&h->cond);
    pthread_mutex_unlock(&h->lock);
    if (h->started) pthread_join(h->thread, NULL);
    free(h->counts);
    pthread_cond_destroy(&h->cond);
    pthread_mutex_destroy(&h->pass_lock);
    pthread_mutex_destroy(&h->lock);
    free(h);
}
