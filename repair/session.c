/*
 * session.c - the repair service: its threads and job queues, the replica
 * side of the REPAIR_* verbs (the protocol is described in session.h,
 * the payloads in session_wire.c), blocking round trips and the catalog
 * of tables.  The session driver is session_run.c.
 *
 * Threads.  The environment's handler (on the messaging thread) only
 * copies a request into a job queue.  Two queues: TREE / DIGESTS / STREAM
 * go to `workers` pool threads; SEND goes to one dedicated sender thread,
 * because it waits for the target's STREAM acknowledgements and must
 * never occupy the threads that apply them.  Blocking round trips
 * (session, sender) wait on a condition variable signalled by the answer
 * callback, which env->send guarantees to call exactly once.
 *
 * Every request gets exactly one env->reply: from its worker, from the
 * handler when it cannot be queued, or BS_ECLOSED when the service stops
 * with it still queued.
 *
 * The workers and the sender run at nice BS_REPAIR_NICE: streaming and
 * tree building are background work, and at nice 0 on a 2-core machine
 * they took a scheduler slice from the request loops they overlapped
 * (QUORUM read p99 4x during a join, docs/BENCHMARKS.md); a waking loop
 * now preempts them, and they still get most of an otherwise idle CPU.
 */
#include <errno.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/error.h"
#include "common/log.h"
#include "repair/session_int.h"

#define LOG BS__REPAIR_LOG
#define HISTORY_CF "system.repair_history"

/* ------------------------------------------------------------------ */
/* Blocking round trips (never on the messaging thread)                */
/* ------------------------------------------------------------------ */

/* The waiter gives up when the service stops (a peer that died with our
 * request in flight answers nothing until the request's deadline, which
 * can be minutes away); the answer may still come later, so the call
 * lives on the heap until both sides let go of it. */
typedef struct sync_call {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done, status;
    int refs; /* the waiter and the callback */
    uint8_t *payload;
    size_t len;
} sync_call;

static void sync_release(sync_call *c) {
    pthread_mutex_lock(&c->mu);
    int last = --c->refs == 0;
    pthread_mutex_unlock(&c->mu);
    if (!last) return;
    free(c->payload);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    free(c);
}

static void sync_cb(void *ud, int status, const uint8_t *p, size_t len) {
    sync_call *c = ud;
    uint8_t *copy = NULL;
    if (!status && len) {
        copy = malloc(len);
        if (copy)
            memcpy(copy, p, len);
        else
            status = BS_ENOMEM;
    }
    pthread_mutex_lock(&c->mu);
    c->status = status;
    c->payload = copy;
    c->len = copy ? len : 0;
    c->done = 1;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
    sync_release(c);
}

/* 1 when the failure detector says the ring member reached at `to` is
 * down (0 when it is up or unknown: the call's own timeout decides). */
static int peer_down(bs_repair *r, const bs_repair_peer *to) {
    bs_ring_snapshot *ring = r->env.ring(r->env.ud);
    if (!ring) return 0;
    int down = 0;
    uint32_t n = bs_ring_snapshot_node_count(ring);
    for (uint32_t i = 0; i < n; i++) {
        bs_ring_node_desc d;
        bs_repair_peer ep;
        if (bs_ring_snapshot_node(ring, i, &d) || r->env.endpoint(r->env.ud, &d, &ep) ||
            strcmp(ep.addr, to->addr) || ep.port != to->port)
            continue;
        down = r->env.alive(r->env.ud, &d.host_id) != 1;
        break;
    }
    bs_ring_snapshot_release(ring);
    return down;
}

int bs__repair_call(bs_repair *r, const bs_repair_peer *to, uint8_t verb,
                    const bs_buf *b, uint32_t tmo, uint8_t **out,
                    size_t *outlen) {
    return bs__repair_call_watched(r, to, verb, b, tmo, 0, out, outlen);
}

/* The two halves of a call: started (0, *out the call; or an error),
 * then waited for (the call is released).  A sender keeps one chunk in
 * flight while it reads the next. */
static int call_start(bs_repair *r, const bs_repair_peer *to, uint8_t verb, const bs_buf *b,
                      uint32_t tmo, sync_call **out) {
    sync_call *c = calloc(1, sizeof *c);
    *out = NULL;
    if (!c) return BS_ENOMEM;
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    c->refs = 2;
    int rc =
        r->env.send(r->env.ud, to, verb, b->data, b->len, tmo, sync_cb, c);
    if (rc) {
        c->refs = 1; /* the callback never runs */
        sync_release(c);
        return rc;
    }
    *out = c;
    return 0;
}

static int call_wait(bs_repair *r, const bs_repair_peer *to, sync_call *c, int watch,
                     uint8_t **out, size_t *outlen) {
    pthread_mutex_lock(&c->mu);
    int gone = 0;
    for (unsigned tick = 1; !c->done; tick++) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 200 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
        pthread_cond_timedwait(&c->cv, &c->mu, &ts);
        if (!c->done && bs__repair_stopping(r)) break;
        if (!c->done && watch && tick % 5 == 0) { /* once a second */
            pthread_mutex_unlock(&c->mu);
            gone = peer_down(r, to);
            pthread_mutex_lock(&c->mu);
            if (gone && !c->done) break;
            gone = 0;
        }
    }
    int rc = c->done ? c->status : gone ? BS_EUNAVAIL : BS_ECLOSED;
    if (!rc) {
        if (out) {
            *out = c->payload;
            *outlen = c->len;
            c->payload = NULL;
        }
    }
    pthread_mutex_unlock(&c->mu);
    sync_release(c);
    return rc;
}

int bs__repair_call_watched(bs_repair *r, const bs_repair_peer *to, uint8_t verb,
                            const bs_buf *b, uint32_t tmo, int watch,
                            uint8_t **out, size_t *outlen) {
    sync_call *c;
    int rc = call_start(r, to, verb, b, tmo, &c);
    return rc ? rc : call_wait(r, to, c, watch, out, outlen);
}

/* ------------------------------------------------------------------ */
/* Replica side                                                        */
/* ------------------------------------------------------------------ */

static int get_table(bs_repair *r, const char *cf, bs_table **t) {
    return bs_store_table_get(r->store, cf, t);
}

int bs__repair_do_tree(bs_repair *r, const char *cf, int64_t s, int64_t e,
                       unsigned depth, bs_merkle **out) {
    bs_table *t;
    int rc = get_table(r, cf, &t);
    return rc ? rc : bs_merkle_build(t, s, e, depth, out);
}

int bs__repair_do_size(bs_repair *r, const char *cf, const int64_t *s,
                       const int64_t *e, size_t n, uint64_t *bytes) {
    bs_table *t;
    int rc = get_table(r, cf, &t);
    *bytes = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        uint64_t b = 0;
        rc = bs_store_approx_size(t, s[i], e[i], &b);
        if (!rc && !b) { /* in memtables only, or empty: small, counted */
            bs_merkle *m = NULL;
            rc = bs_merkle_build(t, s[i], e[i], 0, &m);
            if (!rc) b = bs_merkle_bytes(m);
            bs_merkle_free(m);
        }
        *bytes += b;
    }
    return rc;
}

int bs__repair_do_digests(bs_repair *r, const char *cf, const int64_t *s,
                          const int64_t *e, size_t n, bs_buf *out) {
    bs_table *t;
    int rc = get_table(r, cf, &t);
    return rc ? rc : bs_stream_digests_build(t, s, e, n, out);
}

typedef struct sender {
    bs_repair *r;
    const char *cf;
    const bs_repair_peer *to;
    const bs_stream_digest *want;
    size_t nwant;
    int all; /* every record (range movement), not only `want` */
    uint64_t session; /* carried by every chunk; 0 none */
    bs_stream_chunk chunk;
    bs_buf msg;
    sync_call *inflight; /* the chunk sent before, not acknowledged yet */
    size_t inflight_len;
    uint64_t rows, bytes, chunks;
    int live;      /* its netstats row (live.c), -1 none */
} sender;

/* Paces the node's outbound streams together: a chunk of n bytes takes
 * n / rate seconds of the node's stream time, after the chunks already
 * sent by any of its senders; the sender sleeps until its chunk's time is
 * over.  Idle time builds no credit.  A new rate (basalt-admin
 * setstreamthroughput) starts the pacing over from now and ends the
 * sleeps in progress. */
static void throttle(sender *sd, size_t n) {
    bs_repair *r = sd->r;
    uint64_t rate = atomic_load(&r->stream_rate);
    if (!rate) return;
    int64_t now = bs_clock_mono_ns();
    pthread_mutex_lock(&r->mu);
    if (r->pace_rate != rate || r->pace_next_ns < now) {
        r->pace_rate = rate;
        r->pace_next_ns = now;
    }
    r->pace_next_ns += (int64_t)((double)n / (double)rate * 1e9);
    int64_t due = r->pace_next_ns;
    pthread_mutex_unlock(&r->mu);
    /* in steps, so that a stopping service or a new rate does not wait */
    for (int64_t d = due - now; d > 0 && !bs__repair_stopping(r) &&
                                atomic_load(&r->stream_rate) == rate;
         d = due - bs_clock_mono_ns()) {
        int64_t step = d < 100000000 ? d : 100000000;
        struct timespec ts = {step / 1000000000, step % 1000000000};
        nanosleep(&ts, NULL);
    }
}

void bs_repair_set_stream_throughput(bs_repair *r, uint64_t bytes_per_s) {
    atomic_store(&r->stream_rate, bytes_per_s);
}

uint64_t bs_repair_stream_throughput(bs_repair *r) {
    return atomic_load(&r->stream_rate);
}

/* Waits for the chunk in flight (if any) to be applied by the target. */
static int wait_inflight(sender *sd) {
    if (!sd->inflight) return 0;
    int rc = call_wait(sd->r, sd->to, sd->inflight, 0, NULL, NULL);
    sd->inflight = NULL;
    if (rc) return rc;
    sd->chunks++;
    atomic_fetch_add(&sd->r->tx_bytes, sd->inflight_len);
    return 0;
}

static int send_chunk(sender *sd) {
    if (!sd->chunk.count) return 0;
    int rc = bs_stream_chunk_finish(&sd->chunk);
    bs_buf_reset(&sd->msg);
    if (!rc) rc = bs__repair_req_encode(&sd->msg, sd->cf, NULL, NULL, 0);
    if (!rc && sd->session &&
        (bs_buf_append(&sd->msg, BS__STREAM_SESSION_MAGIC, 4) ||
         bs_buf_append_u64(&sd->msg, sd->session)))
        rc = BS_ENOMEM;
    if (!rc && bs_buf_append(&sd->msg, sd->chunk.b.data, sd->chunk.b.len))
        rc = BS_ENOMEM;
    /* one chunk in flight, in order (the target may be writing an SST
     * file): the one before must be applied before this one goes; this
     * one is in flight while the next is read */
    if (!rc) rc = wait_inflight(sd);
    if (!rc)
        rc = call_start(sd->r, sd->to, BS_VERB_REPAIR_STREAM, &sd->msg,
                        sd->r->o.tree_timeout_ms, &sd->inflight);
    if (!rc) {
        sd->inflight_len = sd->chunk.b.len;
        bs__repair_live_set(sd->r, sd->live, sd->rows, sd->bytes);
        throttle(sd, sd->inflight_len);
    }
    bs_stream_chunk_reset(&sd->chunk);
    return rc;
}

static int send_cb(void *ud, const uint8_t *key, size_t klen,
                   const uint8_t *val, size_t vlen) {
    sender *sd = ud;
    if (!sd->all) { /* a repair: only the records the target lacks */
        bs_stream_digest d;
        bs_stream_digest_of(key, klen, val, vlen, &d);
        if (!bs_stream_digest_find(sd->want, sd->nwant, d.key_hash, d.rec_hash)) return 0;
    }
    int rc = bs_stream_chunk_add(&sd->chunk, key, klen, val, vlen);
    if (rc) return rc;
    sd->rows++;
    sd->bytes += klen + vlen;
    if (sd->chunk.b.len >= sd->r->o.chunk_bytes) return send_chunk(sd);
    return 0;
}

int bs__repair_do_send(bs_repair *r, const char *cf, const int64_t *s,
                       const int64_t *e, size_t n, const bs_repair_peer *to,
                       const bs_stream_digest *want, size_t nwant,
                       uint64_t session, uint64_t res[3]) {
    bs_table *t;
    int rc = get_table(r, cf, &t);
    if (rc) return rc;
    sender sd;
    memset(&sd, 0, sizeof sd);
    sd.r = r;
    sd.session = session;
    sd.cf = cf;
    sd.to = to;
    sd.want = want;
    sd.nwant = nwant;
    sd.all = want == NULL;
    sd.live = bs__repair_live_out(r, to, cf, s, e, n);
    bs_stream_chunk_init(&sd.chunk);
    for (size_t i = 0; i < n && !rc; i++) {
        rc = bs_store_iterate_range(t, s[i], e[i], send_cb, &sd);
        if (rc > 0) rc = 0;
    }
    if (!rc) rc = send_chunk(&sd);
    int wrc = wait_inflight(&sd); /* also after a failure: releases it */
    if (!rc) rc = wrc;
    bs__repair_live_close(r, sd.live);
    bs_stream_chunk_free(&sd.chunk);
    bs_buf_free(&sd.msg);
    res[0] = sd.rows;
    res[1] = sd.bytes;
    res[2] = sd.chunks;
    return rc;
}

/* An incoming stream this node asked for (session_int.h). */
typedef struct bs__rx_slot {
    uint64_t id;
    char cf[256];
    pthread_mutex_t mu; /* held while a chunk is added */
    bs_store_sst *sst;  /* stream_ingest_sst: what arrived so far */
    int failed;         /* an add failed: rx_end reports it */
} rx_slot;

uint64_t bs__repair_rx_begin(bs_repair *r, const char *cf) {
    bs_uuid u;
    bs_uuid_v4(&u);
    uint64_t id;
    memcpy(&id, u.b, 8);
    id |= 1;
    rx_slot *sl = calloc(1, sizeof *sl);
    if (!sl) return 0;
    sl->id = id;
    snprintf(sl->cf, sizeof sl->cf, "%s", cf);
    pthread_mutex_init(&sl->mu, NULL);
    bs_table *t;
    if (r->o.stream_ingest_sst && !get_table(r, cf, &t) && bs_store_sst_new(t, &sl->sst))
        sl->sst = NULL; /* out of memory: batches then */
    pthread_mutex_lock(&r->mu);
    int ok = r->nrx_sess < sizeof r->rx_sess / sizeof r->rx_sess[0];
    if (ok) r->rx_sess[r->nrx_sess++] = sl;
    pthread_mutex_unlock(&r->mu);
    if (ok) return id;
    bs_store_sst_free(sl->sst);
    pthread_mutex_destroy(&sl->mu);
    free(sl);
    return 0;
}

int bs__repair_rx_end(bs_repair *r, uint64_t id, int commit) {
    rx_slot *sl = NULL;
    pthread_mutex_lock(&r->mu);
    for (size_t i = 0; i < r->nrx_sess && !sl; i++)
        if (r->rx_sess[i]->id == id) {
            sl = r->rx_sess[i];
            r->rx_sess[i] = r->rx_sess[--r->nrx_sess];
        }
    pthread_mutex_unlock(&r->mu);
    bs__repair_live_in_end(r, id);
    if (!sl) return 0;
    pthread_mutex_lock(&sl->mu); /* a chunk being added finishes first */
    pthread_mutex_unlock(&sl->mu);
    int rc = 0;
    if (commit && sl->failed) rc = sl->failed;
    else if (commit && sl->sst && (rc = bs_store_sst_ingest(sl->sst)))
        BS_WARN(LOG, "cannot ingest the stream of %s: %s (%s)", sl->cf, bs_strerror(rc),
                bs_store_errmsg());
    bs_store_sst_free(sl->sst);
    pthread_mutex_destroy(&sl->mu);
    free(sl);
    return rc;
}

typedef struct sst_add_ctx {
    bs_store_sst *w;
    uint64_t rows, bytes;
} sst_add_ctx;

static int sst_add_cb(void *ud, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl) {
    sst_add_ctx *c = ud;
    int rc = bs_store_sst_add(c->w, k, kl, v, vl);
    c->rows++;
    c->bytes += kl + vl;
    return rc;
}

/* A chunk of session id (0: none): applied with a batch, or added to the
 * session's SST files.  0, BS_ECANCELED (no such session: stale) or an
 * error. */
static int rx_chunk(bs_repair *r, uint64_t id, bs_table *t, const uint8_t *p, size_t len,
                    uint64_t *rows, uint64_t *bytes) {
    rx_slot *sl = NULL;
    if (id) {
        pthread_mutex_lock(&r->mu);
        for (size_t i = 0; i < r->nrx_sess && !sl; i++)
            if (r->rx_sess[i]->id == id) sl = r->rx_sess[i];
        if (sl) pthread_mutex_lock(&sl->mu);
        pthread_mutex_unlock(&r->mu);
        if (!sl) return BS_ECANCELED;
    }
    int rc;
    if (sl && sl->sst && !sl->failed) {
        sst_add_ctx c = {sl->sst, 0, 0};
        /* the request's parse checked the whole chunk (checksum and every
         * record) before anything is added */
        rc = bs_stream_chunk_each(p, len, sst_add_cb, &c);
        if (rc == BS_ENOTSUP) /* a kind that needs a batch: the whole chunk */
            rc = bs_stream_chunk_apply(r->store, t, p, len, rows, bytes);
        else if (!rc)
            *rows = c.rows, *bytes = c.bytes;
        if (rc && rc != BS_ECORRUPT) sl->failed = rc;
    } else {
        rc = bs_stream_chunk_apply(r->store, t, p, len, rows, bytes);
    }
    if (sl) pthread_mutex_unlock(&sl->mu);
    return rc;
}

static void reply(bs_repair *r, bs__repair_job *j, int status, const void *p,
                  size_t len) {
    r->env.reply(r->env.ud, j->in.reply_to, status, p, len);
    j->in.reply_to = NULL;
}

static void handle_job(bs_repair *r, bs__repair_job *j) {
    bs__repair_req q;
    bs_buf out = BS_BUF_INIT;
    int rc = bs__repair_req_parse(j->in.verb, j->in.payload, j->in.len, &q);
    if (rc) {
        BS_WARN(LOG, "bad repair request (verb %u, %zu bytes) from %s: %s",
                j->in.verb, j->in.len, j->in.from, bs_strerror(rc));
        reply(r, j, rc, NULL, 0);
        return;
    }
    if (j->in.verb >= BS_VERB_REPAIR_TREE && j->in.verb <= BS_VERB_REPAIR_SEND_ALL)
        atomic_fetch_add(&r->served[j->in.verb - BS_VERB_REPAIR_TREE], 1);
    switch (j->in.verb) {
    case BS_VERB_REPAIR_TREE: {
        bs_merkle *m = NULL;
        if (!(rc = bs__repair_do_tree(r, q.cf, q.starts[0], q.ends[0], q.depth,
                                      &m)))
            rc = bs_merkle_encode(m, &out);
        bs_merkle_free(m);
        break;
    }
    case BS_VERB_REPAIR_SIZE: {
        uint64_t bytes = 0;
        rc = bs__repair_do_size(r, q.cf, q.starts, q.ends, q.nranges, &bytes);
        if (!rc && bs_buf_append_u64(&out, bytes)) rc = BS_ENOMEM;
        break;
    }
    case BS_VERB_REPAIR_DIGESTS:
        rc = bs__repair_do_digests(r, q.cf, q.starts, q.ends, q.nranges, &out);
        break;
    case BS_VERB_REPAIR_SEND: {
        bs_stream_digest *want = NULL;
        size_t nwant = 0;
        uint64_t res[3] = {0, 0, 0};
        rc = bs_stream_digests_parse(q.body, q.body_len, &want, &nwant);
        if (!rc) {
            bs_stream_digests_sort(want, nwant);
            rc = bs__repair_do_send(r, q.cf, q.starts, q.ends, q.nranges, &q.to,
                                    want, nwant, 0, res);
        }
        free(want);
        for (int i = 0; i < 3 && !rc; i++)
            if (bs_buf_append_u64(&out, res[i])) rc = BS_ENOMEM;
        break;
    }
    case BS_VERB_REPAIR_SEND_ALL: {
        uint64_t res[3] = {0, 0, 0};
        rc = bs__repair_do_send(r, q.cf, q.starts, q.ends, q.nranges, &q.to,
                                NULL, 0, q.session, res);
        if (rc == BS_ECANCELED)
            BS_INFO(LOG, "%s refused a chunk of %s: it no longer waits for "
                    "this stream (restarted, or gave up): stopped", q.to.addr, q.cf);
        for (int i = 0; i < 3 && !rc; i++)
            if (bs_buf_append_u64(&out, res[i])) rc = BS_ENOMEM;
        break;
    }
    case BS_VERB_REPAIR_STREAM: {
        bs_table *t;
        uint64_t rows = 0, bytes = 0;
        if (!(rc = get_table(r, q.cf, &t)))
            rc = rx_chunk(r, q.session, t, q.body, q.body_len, &rows, &bytes);
        if (rc == BS_ECANCELED) {
            atomic_fetch_add(&r->stale_chunks, 1);
            BS_WARN(LOG, "stale stream chunk for %s from %s refused (session "
                    "%016llx is not one this node waits for: a request of an "
                    "earlier run)", q.cf, j->in.from, (unsigned long long)q.session);
        }
        if (!rc) {
            atomic_fetch_add(&r->rx_bytes, bytes);
            atomic_fetch_add(&r->rx_rows, rows);
            bs__repair_live_in(r, j->in.from, q.cf, q.session, rows, bytes);
        }
        if (rc == BS_ECORRUPT)
            BS_WARN(LOG, "corrupt stream chunk for %s from %s", q.cf,
                    j->in.from);
        break;
    }
    default: rc = BS_ENOTSUP;
    }
    bs__repair_req_free(&q);
    if (rc)
        reply(r, j, rc, NULL, 0);
    else
        reply(r, j, 0, out.data, out.len);
    bs_buf_free(&out);
}

void bs_repair_get_stats(bs_repair *r, bs_repair_stats *out) {
    out->tree = atomic_load(&r->served[0]);
    out->digests = atomic_load(&r->served[1]);
    out->send = atomic_load(&r->served[2]);
    out->stream = atomic_load(&r->served[3]);
    out->send_all = atomic_load(&r->served[4]);
    out->stale_chunks = atomic_load(&r->stale_chunks);
}

static void job_free(bs__repair_job *j) {
    free(j->payload);
    free(j);
}

/* The environment's handler: queue a copy (messaging thread). */
static void on_request(void *ud, const bs_repair_in *in) {
    bs_repair *r = ud;
    bs__repair_job *j = calloc(1, sizeof *j);
    if (j && in->len) {
        j->payload = malloc(in->len);
        if (!j->payload) {
            free(j);
            j = NULL;
        } else {
            memcpy(j->payload, in->payload, in->len);
        }
    }
    if (!j) {
        r->env.reply(r->env.ud, in->reply_to, BS_ENOMEM, NULL, 0);
        return;
    }
    j->in = *in;
    j->in.payload = j->payload;
    pthread_mutex_lock(&r->mu);
    if (r->stopping) {
        pthread_mutex_unlock(&r->mu);
        reply(r, j, BS_ECLOSED, NULL, 0);
        job_free(j);
        return;
    }
    bs__repair_queue *q = in->verb == BS_VERB_REPAIR_SEND ||
                                  in->verb == BS_VERB_REPAIR_SEND_ALL
                              ? &r->q_send
                              : &r->q_work;
    if (q->tail)
        q->tail->next = j;
    else
        q->head = j;
    q->tail = j;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

typedef struct bs__repair_worker_arg {
    bs_repair *r;
    int sender; /* serves q_send instead of q_work */
} worker_arg;

#define BS_REPAIR_NICE 10

static void *worker(void *arg) {
    worker_arg *wa = arg;
    bs_repair *r = wa->r;
    /* this thread only (Linux: a thread id is a PRIO_PROCESS target);
     * best effort */
    (void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), BS_REPAIR_NICE);
    bs__repair_queue *q = wa->sender ? &r->q_send : &r->q_work;
    pthread_mutex_lock(&r->mu);
    for (;;) {
        while (!q->head && !r->stopping)
            pthread_cond_wait(&r->cv, &r->mu);
        bs__repair_job *j = q->head;
        if (!j) break; /* stopping and drained */
        q->head = j->next;
        if (!q->head) q->tail = NULL;
        int stopping = r->stopping;
        pthread_mutex_unlock(&r->mu);
        if (stopping)
            reply(r, j, BS_ECLOSED, NULL, 0);
        else
            handle_job(r, j);
        job_free(j);
        pthread_mutex_lock(&r->mu);
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

int bs__repair_stopping(bs_repair *r) {
    pthread_mutex_lock(&r->mu);
    int s = r->stopping;
    pthread_mutex_unlock(&r->mu);
    return s;
}

/* ------------------------------------------------------------------ */
/* Catalog                                                             */
/* ------------------------------------------------------------------ */

static void *grow(void *p, size_t *cap, size_t n, size_t size) {
    if (n < *cap) return p;
    size_t nc = *cap ? *cap * 2 : 8;
    void *q = realloc(p, nc * size);
    if (q) *cap = nc;
    return q;
}

int bs_repair_catalog_add_keyspace(bs_repair_catalog *c, const char *name,
                                   int system, bs_ring_strategy *st,
                                   int st_rc) {
    bs__repair_ks_desc *ks = grow(c->ks, &c->cap, c->nks, sizeof *c->ks);
    char *nm = ks ? strdup(name) : NULL;
    if (!nm) {
        if (ks) c->ks = ks;
        bs_ring_strategy_free(st);
        return BS_ENOMEM;
    }
    c->ks = ks;
    bs__repair_ks_desc *k = &c->ks[c->nks++];
    memset(k, 0, sizeof *k);
    k->name = nm;
    k->system = system;
    k->strategy = st;
    k->strategy_rc = st ? 0 : st_rc;
    return 0;
}

int bs_repair_catalog_add_table(bs_repair_catalog *c, const char *name,
                                const char *cf) {
    if (!c->nks) return BS_EINVAL;
    bs__repair_ks_desc *k = &c->ks[c->nks - 1];
    bs__repair_table_desc *t =
        grow(k->tables, &k->cap, k->ntables, sizeof *k->tables);
    if (!t) return BS_ENOMEM;
    k->tables = t;
    char *nm = strdup(name), *cfn = strdup(cf);
    if (!nm || !cfn) {
        free(nm);
        free(cfn);
        return BS_ENOMEM;
    }
    k->tables[k->ntables++] = (bs__repair_table_desc){nm, cfn};
    return 0;
}

void bs__repair_catalog_free(bs_repair_catalog *c) {
    for (size_t i = 0; i < c->nks; i++) {
        bs__repair_ks_desc *k = &c->ks[i];
        for (size_t t = 0; t < k->ntables; t++) {
            free(k->tables[t].name);
            free(k->tables[t].cf);
        }
        free(k->tables);
        free(k->name);
        bs_ring_strategy_free(k->strategy);
    }
    free(c->ks);
    memset(c, 0, sizeof *c);
}

int bs__repair_catalog_get(bs_repair *r, const bs_ring_snapshot *ring,
                           bs_repair_catalog *c) {
    memset(c, 0, sizeof *c);
    return r->env.catalog(r->env.ud, ring, c);
}

const bs__repair_ks_desc *bs__repair_catalog_ks(const bs_repair_catalog *c,
                                                const char *name) {
    for (size_t i = 0; i < c->nks; i++)
        if (!strcmp(c->ks[i].name, name)) return &c->ks[i];
    return NULL;
}

const bs__repair_table_desc *
bs__repair_catalog_table(const bs__repair_ks_desc *ks, const char *name) {
    for (size_t i = 0; ks && i < ks->ntables; i++)
        if (!strcmp(ks->tables[i].name, name)) return &ks->tables[i];
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Lifecycle                                                           */
/* ------------------------------------------------------------------ */

/* Scheduled repair: sleeps schedule_interval_ms (woken early only by
 * stop), then runs a primary-range session over every non-system
 * keyspace; a session already running (BS_EBUSY) just waits for the next
 * interval. */
static void *scheduler(void *arg) {
    bs_repair *r = arg;
    pthread_mutex_lock(&r->mu);
    while (!r->stopping) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        uint64_t ns = (uint64_t)until.tv_nsec +
                      (r->o.schedule_interval_ms % 1000) * 1000000u;
        until.tv_sec +=
            (time_t)(r->o.schedule_interval_ms / 1000 + ns / 1000000000u);
        until.tv_nsec = (long)(ns % 1000000000u);
        int w = 0;
        while (!r->stopping && w != ETIMEDOUT)
            w = pthread_cond_timedwait(&r->cv, &r->mu, &until);
        if (r->stopping) break;
        pthread_mutex_unlock(&r->mu);
        bs_repair_run_opts o;
        memset(&o, 0, sizeof o);
        o.primary_only = 1;
        bs_repair_report rep;
        int rc = bs_repair_run(r, &o, &rep);
        if (rc && rc != BS_ECLOSED)
            BS_WARN(LOG, "scheduled repair did not run: %s", bs_strerror(rc));
        else if (!rc && rep.ranges_failed)
            BS_WARN(LOG, "scheduled repair: %llu ranges failed (%s)",
                    (unsigned long long)rep.ranges_failed, rep.first_error);
        pthread_mutex_lock(&r->mu);
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

void bs_repair_opts_default(bs_repair_opts *o) {
    o->workers = 2;
    o->tree_timeout_ms = 120000;
    o->send_timeout_ms = 600000;
    o->chunk_bytes = 256 * 1024;
    o->digest_batch_records = 200000;
    o->schedule_interval_ms = 0;
    o->stream_throughput_bytes = 0;
    o->stream_ingest_sst = 1;
}

static const uint8_t k_verbs[] = {BS_VERB_REPAIR_TREE, BS_VERB_REPAIR_DIGESTS,
                                  BS_VERB_REPAIR_SEND, BS_VERB_REPAIR_STREAM,
                                  BS_VERB_REPAIR_SEND_ALL, BS_VERB_REPAIR_SIZE};

/* Frees a service that failed to start: the caller keeps the env. */
static int fail_new(bs_repair *r, int rc) {
    bs_repair_stop(r);
    r->env.release = NULL;
    bs_repair_free(r);
    return rc;
}

int bs_repair_new(const bs_repair_opts *o, const bs_repair_env *env,
                  bs_repair **out) {
    if (!env || !env->store || !env->ring || !env->alive || !env->endpoint ||
        !env->catalog || !env->send || !env->serve || !env->reply || !out)
        return BS_EINVAL;
    bs_repair *r = calloc(1, sizeof *r);
    if (!r) return BS_ENOMEM;
    if (o)
        r->o = *o;
    else
        bs_repair_opts_default(&r->o);
    if (!r->o.workers) r->o.workers = 1;
    if (!r->o.chunk_bytes) r->o.chunk_bytes = 256 * 1024;
    if (!r->o.tree_timeout_ms) r->o.tree_timeout_ms = 120000;
    if (!r->o.send_timeout_ms) r->o.send_timeout_ms = 600000;
    if (!r->o.digest_batch_records) r->o.digest_batch_records = 200000;
    r->env = *env;
    r->store = env->store;
    atomic_init(&r->session_running, 0);
    atomic_init(&r->stream_rate, r->o.stream_throughput_bytes);
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    int rc = bs_store_table_open(r->store, HISTORY_CF, NULL, &r->history);
    if (rc) {
        BS_WARN(LOG, "cannot open %s: %s (history not kept)", HISTORY_CF,
                bs_strerror(rc));
        r->history = NULL;
    }
    uint32_t n = r->o.workers + 1;
    r->threads = calloc(n, sizeof *r->threads);
    r->args = calloc(n, sizeof *r->args);
    if (!r->threads || !r->args) return fail_new(r, BS_ENOMEM);
    for (uint32_t i = 0; i < n; i++) {
        r->args[i].r = r;
        r->args[i].sender = i == 0;
        if (pthread_create(&r->threads[i], NULL, worker, &r->args[i]))
            return fail_new(r, BS_ENOMEM);
        r->nthreads++;
    }
    for (size_t i = 0; i < sizeof k_verbs; i++)
        if ((rc = r->env.serve(r->env.ud, k_verbs[i], on_request, r)))
            return fail_new(r, rc);
    if (r->o.schedule_interval_ms) {
        if (pthread_create(&r->sched, NULL, scheduler, r))
            return fail_new(r, BS_ENOMEM);
        r->has_sched = 1;
    }
    *out = r;
    return 0;
}

void bs_repair_stop(bs_repair *r) {
    if (!r || r->stopped) return;
    for (size_t i = 0; i < sizeof k_verbs; i++)
        r->env.serve(r->env.ud, k_verbs[i], NULL, NULL);
    pthread_mutex_lock(&r->mu);
    r->stopping = 1;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    for (uint32_t i = 0; i < r->nthreads; i++)
        pthread_join(r->threads[i], NULL);
    r->nthreads = 0;
    if (r->has_sched) pthread_join(r->sched, NULL);
    r->has_sched = 0;
    r->stopped = 1;
}

void bs_repair_free(bs_repair *r) {
    if (!r) return;
    bs_repair_stop(r);
    free(r->threads);
    free(r->args);
    free(r->mv);
    for (size_t i = 0; i < r->nrx_sess; i++) { /* a stream never ended */
        bs_store_sst_free(r->rx_sess[i]->sst);
        pthread_mutex_destroy(&r->rx_sess[i]->mu);
        free(r->rx_sess[i]);
    }
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    void (*release)(void *) = r->env.release;
    void *ud = r->env.ud;
    free(r);
    if (release) release(ud);
}
