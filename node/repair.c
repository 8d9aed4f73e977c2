/*
 * repair.c - anti-entropy repair: the session driver and the replica side
 * of the REPAIR_* verbs (the protocol is described in repair.h).
 *
 * Request payloads (all integers big-endian):
 *   OFFSET  SIZE    DESCRIPTION
 *   0       2       L: length of the column family name ("ks.table")
 *   2       L       the name
 *   2+L     4       N: number of token ranges
 *   6+L     16*N    ranges: i64 start (exclusive), i64 end (inclusive)
 *   ...             verb-specific tail:
 *                     TREE     u8 depth (N must be 1)
 *                     DIGESTS  nothing
 *                     SEND     u16 A, A bytes of target address, u16 port,
 *                              then the wanted digest list (stream.h)
 *                     STREAM   a chunk (stream.h; N is 0)
 * SEND response: u64 rows, u64 bytes, u64 chunks.  Every request is
 * validated against its length; a bad one is answered BS_ECORRUPT.
 *
 * Threads.  The messaging loop only copies a request into a job queue.
 * Two queues: TREE / DIGESTS / STREAM go to `workers` pool threads; SEND
 * goes to one dedicated sender thread, because it waits for the target's
 * STREAM acknowledgements and must never occupy the threads that apply
 * them.  Blocking round trips (session, sender) wait on a condition
 * variable signalled by the response callback, which bs_msg guarantees
 * to call exactly once.
 *
 * Session invariants: a range is only compared when every replica is
 * alive and answered; a failing replica makes the range "failed" and the
 * session moves on.  Streaming only ever adds record versions to a
 * replica (merged by LWW), so a partially streamed range is safe and a
 * later session finishes it (resume = run again; only what still differs
 * moves).
 */
#include "node/repair.h"
#include "node/coord/placement.h"

#include "node/admin/admin.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/error.h"
#include "common/log.h"
#include "query/schema.h"
#include "repair/merkle.h"
#include "repair/stream.h"
#include "ring/strategy.h"
#include "storage/store.h"

#define LOG "repair"
#define HISTORY_CF "system.repair_history"

typedef struct job {
    struct job *next;
    bs_msg_in in;
    uint8_t *payload;
} job;

typedef struct queue {
    job *head, *tail;
} queue;

struct bs_repair {
    bs_repair_opts o;
    bs_local *local;
    bs_store *store;
    bs_msg *msg;
    bs_coord_membership mem;
    bs_uuid self;
    bs_table *history;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    queue q_work, q_send;
    int stopping, stopped;
    pthread_t *threads;
    struct worker_arg *args;
    uint32_t nthreads;
    pthread_t sched; /* scheduled repair (schedule_interval_ms > 0) */
    int has_sched;
    atomic_int session_running;
    /* hosts that failed earlier in the running session (session thread) */
    bs_uuid failed[32];
    size_t nfailed;
};

/* ------------------------------------------------------------------ */
/* Payloads                                                            */
/* ------------------------------------------------------------------ */

typedef struct req {
    char cf[256];
    uint32_t nranges;
    int64_t *starts, *ends; /* malloc'd */
    bs_rbuf tail;
    /* verb-specific, filled by req_parse */
    uint8_t depth;       /* TREE */
    bs_msg_peer to;      /* SEND */
    const uint8_t *body; /* SEND: wanted digests; STREAM: the chunk */
    size_t body_len;
} req;

static int req_encode(bs_buf *b, const char *cf, const int64_t *s,
                      const int64_t *e, uint32_t n) {
    size_t l = strlen(cf);
    if (l > 255) return BS_EINVAL;
    if (bs_buf_append_u16(b, (uint16_t)l) || bs_buf_append(b, cf, l) ||
        bs_buf_append_u32(b, n))
        return BS_ENOMEM;
    for (uint32_t i = 0; i < n; i++)
        if (bs_buf_append_u64(b, (uint64_t)s[i]) ||
            bs_buf_append_u64(b, (uint64_t)e[i]))
            return BS_ENOMEM;
    return 0;
}

static void req_free(req *q) {
    free(q->starts);
    free(q->ends);
    q->starts = q->ends = NULL;
}

static int req_decode(const uint8_t *p, size_t len, req *q) {
    memset(q, 0, sizeof *q);
    bs_rbuf r;
    bs_rbuf_init(&r, p, len);
    uint16_t l;
    const uint8_t *name;
    if (bs_rbuf_u16(&r, &l) || l == 0 || l > 255 ||
        bs_rbuf_bytes(&r, l, &name) || memchr(name, 0, l))
        return BS_ECORRUPT;
    memcpy(q->cf, name, l);
    q->cf[l] = 0;
    if (bs_rbuf_u32(&r, &q->nranges) || q->nranges > bs_rbuf_left(&r) / 16)
        return BS_ECORRUPT;
    if (q->nranges) {
        q->starts = malloc(q->nranges * sizeof *q->starts);
        q->ends = malloc(q->nranges * sizeof *q->ends);
        if (!q->starts || !q->ends) {
            req_free(q);
            return BS_ENOMEM;
        }
        for (uint32_t i = 0; i < q->nranges; i++) {
            uint64_t a, b;
            bs_rbuf_u64(&r, &a);
            bs_rbuf_u64(&r, &b);
            q->starts[i] = (int64_t)a;
            q->ends[i] = (int64_t)b;
        }
    }
    bs_rbuf_init(&q->tail, r.p + r.pos, bs_rbuf_left(&r));
    return 0;
}

/* ------------------------------------------------------------------ */
/* Blocking round trips (never on the messaging loop)                  */
/* ------------------------------------------------------------------ */

typedef struct sync_call {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done, status;
    uint8_t *payload;
    size_t len;
} sync_call;

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
}

/* Sends and waits; on success *out (malloc'd, may be NULL when empty) is
 * the caller's. */
static int call(bs_repair *r, const bs_msg_peer *to, uint8_t verb,
                const bs_buf *b, uint32_t tmo, uint8_t **out, size_t *outlen) {
    sync_call c;
    memset(&c, 0, sizeof c);
    pthread_mutex_init(&c.mu, NULL);
    pthread_cond_init(&c.cv, NULL);
    int rc = bs_msg_send(r->msg, to, verb, b->data, b->len, tmo, sync_cb, &c);
    if (!rc) {
        pthread_mutex_lock(&c.mu);
        while (!c.done)
            pthread_cond_wait(&c.cv, &c.mu);
        pthread_mutex_unlock(&c.mu);
        rc = c.status;
    }
    pthread_mutex_destroy(&c.mu);
    pthread_cond_destroy(&c.cv);
    if (rc) {
        free(c.payload);
        return rc;
    }
    if (out) {
        *out = c.payload;
        *outlen = c.len;
    } else {
        free(c.payload);
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Replica side                                                        */
/* ------------------------------------------------------------------ */

static int get_table(bs_repair *r, const char *cf, bs_table **t) {
    return bs_store_table_get(r->store, cf, t);
}

static int do_tree(bs_repair *r, const char *cf, int64_t s, int64_t e,
                   unsigned depth, bs_merkle **out) {
    bs_table *t;
    int rc = get_table(r, cf, &t);
    return rc ? rc : bs_merkle_build(t, s, e, depth, out);
}

static int do_digests(bs_repair *r, const char *cf, const int64_t *s,
                      const int64_t *e, size_t n, bs_buf *out) {
    bs_table *t;
    int rc = get_table(r, cf, &t);
    return rc ? rc : bs_stream_digests_build(t, s, e, n, out);
}

typedef struct sender {
    bs_repair *r;
    const char *cf;
    const bs_msg_peer *to;
    const bs_stream_digest *want;
    size_t nwant;
    bs_stream_chunk chunk;
    bs_buf msg;
    uint64_t rows, bytes, chunks;
} sender;

static int send_chunk(sender *sd) {
    if (!sd->chunk.count) return 0;
    int rc = bs_stream_chunk_finish(&sd->chunk);
    bs_buf_reset(&sd->msg);
    if (!rc) rc = req_encode(&sd->msg, sd->cf, NULL, NULL, 0);
    if (!rc && bs_buf_append(&sd->msg, sd->chunk.b.data, sd->chunk.b.len))
        rc = BS_ENOMEM;
    /* one chunk in flight: wait for the target to have applied it */
    if (!rc)
        rc = call(sd->r, sd->to, BS_VERB_REPAIR_STREAM, &sd->msg,
                  sd->r->o.tree_timeout_ms, NULL, NULL);
    if (!rc) sd->chunks++;
    bs_stream_chunk_reset(&sd->chunk);
    return rc;
}

static int send_cb(void *ud, const uint8_t *key, size_t klen,
                   const uint8_t *val, size_t vlen) {
    sender *sd = ud;
    bs_stream_digest d;
    bs_stream_digest_of(key, klen, val, vlen, &d);
    if (!bs_stream_digest_find(sd->want, sd->nwant, d.key_hash, d.rec_hash))
        return 0;
    int rc = bs_stream_chunk_add(&sd->chunk, key, klen, val, vlen);
    if (rc) return rc;
    sd->rows++;
    sd->bytes += klen + vlen;
    if (sd->chunk.b.len >= sd->r->o.chunk_bytes) return send_chunk(sd);
    return 0;
}

/* Streams the wanted records of the ranges to `to`.  want must be sorted. */
static int do_send(bs_repair *r, const char *cf, const int64_t *s,
                   const int64_t *e, size_t n, const bs_msg_peer *to,
                   const bs_stream_digest *want, size_t nwant,
                   uint64_t res[3]) {
    bs_table *t;
    int rc = get_table(r, cf, &t);
    if (rc) return rc;
    sender sd;
    memset(&sd, 0, sizeof sd);
    sd.r = r;
    sd.cf = cf;
    sd.to = to;
    sd.want = want;
    sd.nwant = nwant;
    bs_stream_chunk_init(&sd.chunk);
    for (size_t i = 0; i < n && !rc; i++) {
        rc = bs_store_iterate_range(t, s[i], e[i], send_cb, &sd);
        if (rc > 0) rc = 0;
    }
    if (!rc) rc = send_chunk(&sd);
    bs_stream_chunk_free(&sd.chunk);
    bs_buf_free(&sd.msg);
    res[0] = sd.rows;
    res[1] = sd.bytes;
    res[2] = sd.chunks;
    return rc;
}

/* Decodes and validates a request of `verb` completely.  0 (then
 * req_free), BS_ECORRUPT, BS_EINVAL (not a repair verb) or BS_ENOMEM. */
static int req_parse(uint8_t verb, const uint8_t *p, size_t len, req *q) {
    int rc = req_decode(p, len, q);
    if (rc) return rc;
    switch (verb) {
    case BS_VERB_REPAIR_TREE:
        if (q->nranges != 1 || bs_rbuf_u8(&q->tail, &q->depth) ||
            q->depth > BS_MERKLE_MAX_DEPTH || bs_rbuf_left(&q->tail))
            rc = BS_ECORRUPT;
        break;
    case BS_VERB_REPAIR_DIGESTS:
        if (bs_rbuf_left(&q->tail)) rc = BS_ECORRUPT;
        break;
    case BS_VERB_REPAIR_SEND: {
        uint16_t al, port;
        const uint8_t *a;
        char addr[BS_MSG_ADDRLEN];
        if (bs_rbuf_u16(&q->tail, &al) || al == 0 || al >= sizeof addr ||
            bs_rbuf_bytes(&q->tail, al, &a) || memchr(a, 0, al) ||
            bs_rbuf_u16(&q->tail, &port) || port == 0) {
            rc = BS_ECORRUPT;
            break;
        }
        memcpy(addr, a, al);
        addr[al] = 0;
        q->body = q->tail.p + q->tail.pos;
        q->body_len = bs_rbuf_left(&q->tail);
        if (bs_msg_peer_set(&q->to, addr, port) ||
            q->body_len % BS_STREAM_DIGEST_LEN)
            rc = BS_ECORRUPT;
        break;
    }
    case BS_VERB_REPAIR_STREAM:
        q->body = q->tail.p + q->tail.pos;
        q->body_len = bs_rbuf_left(&q->tail);
        if (q->nranges ||
            bs_stream_chunk_walk(q->body, q->body_len, NULL, NULL))
            rc = BS_ECORRUPT;
        break;
    default: rc = BS_EINVAL;
    }
    if (rc) req_free(q);
    return rc;
}

int bs_repair_request_check(uint8_t verb, const void *p, size_t len) {
    req q;
    int rc = req_parse(verb, p, len, &q);
    if (!rc) req_free(&q);
    return rc;
}

static void handle_job(bs_repair *r, job *j) {
    req q;
    bs_buf out = BS_BUF_INIT;
    int rc = req_parse(j->in.verb, j->in.payload, j->in.len, &q);
    if (rc) {
        BS_WARN(LOG, "bad repair request (verb %u, %zu bytes) from %s: %s",
                j->in.verb, j->in.len, j->in.from.addr, bs_strerror(rc));
        bs_msg_reply(r->msg, &j->in, rc, NULL, 0);
        return;
    }
    switch (j->in.verb) {
    case BS_VERB_REPAIR_TREE: {
        bs_merkle *m = NULL;
        if (!(rc = do_tree(r, q.cf, q.starts[0], q.ends[0], q.depth, &m)))
            rc = bs_merkle_encode(m, &out);
        bs_merkle_free(m);
        break;
    }
    case BS_VERB_REPAIR_DIGESTS:
        rc = do_digests(r, q.cf, q.starts, q.ends, q.nranges, &out);
        break;
    case BS_VERB_REPAIR_SEND: {
        bs_stream_digest *want = NULL;
        size_t nwant = 0;
        uint64_t res[3] = {0, 0, 0};
        rc = bs_stream_digests_parse(q.body, q.body_len, &want, &nwant);
        if (!rc) {
            bs_stream_digests_sort(want, nwant);
            rc = do_send(r, q.cf, q.starts, q.ends, q.nranges, &q.to, want,
                         nwant, res);
        }
        free(want);
        for (int i = 0; i < 3 && !rc; i++)
            if (bs_buf_append_u64(&out, res[i])) rc = BS_ENOMEM;
        break;
    }
    case BS_VERB_REPAIR_STREAM: {
        bs_table *t;
        if (!(rc = get_table(r, q.cf, &t)))
            rc = bs_stream_chunk_apply(r->store, t, q.body, q.body_len, NULL,
                                       NULL);
        if (rc == BS_ECORRUPT)
            BS_WARN(LOG, "corrupt stream chunk for %s from %s", q.cf,
                    j->in.from.addr);
        break;
    }
    default: rc = BS_ENOTSUP;
    }
    req_free(&q);
    if (rc)
        bs_msg_reply(r->msg, &j->in, rc, NULL, 0);
    else
        bs_msg_reply(r->msg, &j->in, 0, out.data, out.len);
    bs_buf_free(&out);
}

static void on_request(void *ud, bs_msg *m, const bs_msg_in *in) {
    bs_repair *r = ud;
    job *j = calloc(1, sizeof *j);
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
        bs_msg_reply(m, in, BS_ENOMEM, NULL, 0);
        return;
    }
    j->in = *in;
    j->in.payload = j->payload;
    pthread_mutex_lock(&r->mu);
    if (r->stopping) {
        pthread_mutex_unlock(&r->mu);
        bs_msg_reply(m, in, BS_ECLOSED, NULL, 0);
        free(j->payload);
        free(j);
        return;
    }
    queue *q = in->verb == BS_VERB_REPAIR_SEND ? &r->q_send : &r->q_work;
    if (q->tail)
        q->tail->next = j;
    else
        q->head = j;
    q->tail = j;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

typedef struct worker_arg {
    bs_repair *r;
    int sender; /* serves q_send instead of q_work */
} worker_arg;

static void *worker(void *arg) {
    worker_arg *wa = arg;
    bs_repair *r = wa->r;
    queue *q = wa->sender ? &r->q_send : &r->q_work;
    pthread_mutex_lock(&r->mu);
    for (;;) {
        while (!q->head && !r->stopping)
            pthread_cond_wait(&r->cv, &r->mu);
        job *j = q->head;
        if (!j) break; /* stopping and drained */
        q->head = j->next;
        if (!q->head) q->tail = NULL;
        int stopping = r->stopping;
        pthread_mutex_unlock(&r->mu);
        if (stopping)
            bs_msg_reply(r->msg, &j->in, BS_ECLOSED, NULL, 0);
        else
            handle_job(r, j);
        free(j->payload);
        free(j);
        pthread_mutex_lock(&r->mu);
    }
    pthread_mutex_unlock(&r->mu);
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
}

static const uint8_t k_verbs[] = {BS_VERB_REPAIR_TREE, BS_VERB_REPAIR_DIGESTS,
                                  BS_VERB_REPAIR_SEND, BS_VERB_REPAIR_STREAM};

int bs_repair_new(const bs_repair_opts *o, bs_local *local, bs_msg *msg,
                  const bs_coord_membership *mem, bs_repair **out) {
    if (!local || !msg || !mem || !mem->ring || !mem->alive || !out)
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
    r->local = local;
    r->store = bs_local_store(local);
    r->msg = msg;
    r->mem = *mem;
    bs_local_host_id(local, &r->self);
    atomic_init(&r->session_running, 0);
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
    if (!r->threads || !r->args) {
        bs_repair_free(r);
        return BS_ENOMEM;
    }
    for (uint32_t i = 0; i < n; i++) {
        r->args[i].r = r;
        r->args[i].sender = i == 0;
        if (pthread_create(&r->threads[i], NULL, worker, &r->args[i])) {
            bs_repair_stop(r);
            bs_repair_free(r);
            return BS_ENOMEM;
        }
        r->nthreads++;
    }
    for (size_t i = 0; i < sizeof k_verbs; i++)
        bs_msg_register(msg, k_verbs[i], on_request, r);
    if (r->o.schedule_interval_ms) {
        if (pthread_create(&r->sched, NULL, scheduler, r)) {
            bs_repair_stop(r);
            bs_repair_free(r);
            return BS_ENOMEM;
        }
        r->has_sched = 1;
    }
    *out = r;
    return 0;
}

void bs_repair_stop(bs_repair *r) {
    if (!r || r->stopped) return;
    for (size_t i = 0; i < sizeof k_verbs; i++)
        bs_msg_register(r->msg, k_verbs[i], NULL, NULL);
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
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    free(r);
}

/* ------------------------------------------------------------------ */
/* Session                                                             */
/* ------------------------------------------------------------------ */

static int parse_endpoint(const char *ep, bs_msg_peer *out) {
    const char *colon = ep ? strrchr(ep, ':') : NULL;
    if (!colon || colon == ep || (size_t)(colon - ep) >= BS_MSG_ADDRLEN)
        return BS_EINVAL;
    char addr[BS_MSG_ADDRLEN];
    memcpy(addr, ep, (size_t)(colon - ep));
    addr[colon - ep] = 0;
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port <= 0 || port > 65535) return BS_EINVAL;
    return bs_msg_peer_set(out, addr, (uint16_t)port);
}

typedef struct replica {
    bs_uuid host;
    int local;
    bs_msg_peer peer;
    char addr[BS_MSG_ADDRLEN];
} replica;

static int replica_of(bs_repair *r, const bs_ring_snapshot *snap, uint32_t idx,
                      replica *out) {
    bs_ring_node_desc d;
    int rc = bs_ring_snapshot_node(snap, idx, &d);
    if (rc) return rc;
    memset(out, 0, sizeof *out);
    out->host = d.host_id;
    out->local = !memcmp(d.host_id.b, r->self.b, 16);
    if (r->mem.endpoint)
        rc = r->mem.endpoint(r->mem.ud, &d.host_id, &out->peer);
    else
        rc = parse_endpoint(d.endpoint, &out->peer);
    if (rc && !out->local) return rc;
    snprintf(out->addr, sizeof out->addr, "%s",
             out->local && rc ? "local" : out->peer.addr);
    return 0;
}


/* Non-wrapping pieces (lo, hi] of a ring range (token INT64_MIN is never
 * owned, so it is left out). */
static int pieces(int64_t s, int64_t e, int64_t lo[2], int64_t hi[2]) {
    int n = 0;
    if (s < e) {
        lo[n] = s;
        hi[n++] = e;
    } else {
        if (s < INT64_MAX) {
            lo[n] = s;
            hi[n++] = INT64_MAX;
        }
        if (e > INT64_MIN) {
            lo[n] = INT64_MIN;
            hi[n++] = e;
        }
    }
    return n;
}

/* (s, e] ∩ (a, b] as up to 4 ranges. */
static int intersect(int64_t s, int64_t e, int64_t a, int64_t b,
                     bs_merkle_range out[4]) {
    int64_t l1[2], h1[2], l2[2], h2[2];
    int n1 = pieces(s, e, l1, h1), n2 = pieces(a, b, l2, h2), k = 0;
    for (int i = 0; i < n1; i++)
        for (int j = 0; j < n2; j++) {
            int64_t lo = l1[i] > l2[j] ? l1[i] : l2[j];
            int64_t hi = h1[i] < h2[j] ? h1[i] : h2[j];
            if (lo < hi) out[k++] = (bs_merkle_range){lo, hi};
        }
    return k;
}

static int failed_before(const bs_repair *r, const bs_uuid *h) {
    for (size_t i = 0; i < r->nfailed; i++)
        if (!memcmp(r->failed[i].b, h->b, 16)) return 1;
    return 0;
}

/* A replica that did not answer is not asked again in this session: its
 * other ranges fail at once instead of waiting for a timeout each. */
static void mark_failed(bs_repair *r, const bs_uuid *h) {
    if (!failed_before(r, h) &&
        r->nfailed < sizeof r->failed / sizeof r->failed[0])
        r->failed[r->nfailed++] = *h;
}

static void fail_range(bs_repair_report *rep, const char *cf,
                       const bs_merkle_range *rg, const char *fmt,
                       const char *who, int rc) {
    rep->ranges_failed++;
    char msg[256];
    snprintf(msg, sizeof msg, fmt, who, bs_strerror(rc));
    BS_WARN(LOG, "%s (%lld, %lld]: %s", cf, (long long)rg->start,
            (long long)rg->end, msg);
    if (!rep->first_error[0]) {
        char full[600];
        snprintf(full, sizeof full, "%s (%lld,%lld]: %s", cf,
                 (long long)rg->start, (long long)rg->end, msg);
        snprintf(rep->first_error, sizeof rep->first_error, "%.255s", full);
    }
}

static int fetch_tree(bs_repair *r, const replica *rp, const char *cf,
                      const bs_merkle_range *rg, unsigned depth,
                      bs_merkle **out) {
    if (rp->local) return do_tree(r, cf, rg->start, rg->end, depth, out);
    bs_buf b = BS_BUF_INIT;
    int rc = req_encode(&b, cf, &rg->start, &rg->end, 1);
    if (!rc && bs_buf_append_u8(&b, (uint8_t)depth)) rc = BS_ENOMEM;
    uint8_t *p = NULL;
    size_t len = 0;
    if (!rc)
        rc = call(r, &rp->peer, BS_VERB_REPAIR_TREE, &b, r->o.tree_timeout_ms,
                  &p, &len);
    bs_buf_free(&b);
    if (!rc) {
        rc = bs_merkle_decode(p, len, out);
        if (!rc) {
            bs_merkle_range got;
            bs_merkle_get_range(*out, &got);
            if (got.start != rg->start || got.end != rg->end ||
                bs_merkle_depth(*out) != depth) {
                bs_merkle_free(*out);
                rc = BS_EPROTO;
            }
        }
    }
    free(p);
    return rc;
}

static int fetch_digests(bs_repair *r, const replica *rp, const char *cf,
                         const int64_t *s, const int64_t *e, size_t n,
                         bs_stream_digest **out, size_t *nout) {
    bs_buf b = BS_BUF_INIT;
    int rc;
    if (rp->local) {
        rc = do_digests(r, cf, s, e, n, &b);
        if (!rc) rc = bs_stream_digests_parse(b.data, b.len, out, nout);
        bs_buf_free(&b);
        return rc;
    }
    rc = req_encode(&b, cf, s, e, (uint32_t)n);
    uint8_t *p = NULL;
    size_t len = 0;
    if (!rc)
        rc = call(r, &rp->peer, BS_VERB_REPAIR_DIGESTS, &b,
                  r->o.tree_timeout_ms, &p, &len);
    bs_buf_free(&b);
    if (!rc) rc = bs_stream_digests_parse(p, len, out, nout);
    free(p);
    return rc;
}

static int run_send(bs_repair *r, const replica *src, const replica *dst,
                    const char *cf, const int64_t *s, const int64_t *e,
                    size_t n, bs_stream_digest *want, size_t nwant,
                    uint64_t res[3]) {
    bs_stream_digests_sort(want, nwant);
    if (src->local)
        return do_send(r, cf, s, e, n, &dst->peer, want, nwant, res);
    bs_buf b = BS_BUF_INIT;
    const bs_msg_peer *to = &dst->peer;
    int rc = req_encode(&b, cf, s, e, (uint32_t)n);
    size_t al = strlen(to->addr);
    if (!rc &&
        (bs_buf_append_u16(&b, (uint16_t)al) ||
         bs_buf_append(&b, to->addr, al) || bs_buf_append_u16(&b, to->port)))
        rc = BS_ENOMEM;
    for (size_t i = 0; i < nwant && !rc; i++)
        rc = bs_stream_digest_append(&b, &want[i]);
    uint8_t *p = NULL;
    size_t len = 0;
    if (!rc)
        rc = call(r, &src->peer, BS_VERB_REPAIR_SEND, &b, r->o.send_timeout_ms,
                  &p, &len);
    bs_buf_free(&b);
    if (!rc) {
        if (len != 24)
            rc = BS_EPROTO;
        else
            for (int i = 0; i < 3; i++)
                res[i] = bs_get_u64(p + 8 * i);
    }
    free(p);
    return rc;
}

/* One version of one record and which replicas hold it. */
typedef struct version {
    uint64_t key_hash, rec_hash;
    uint32_t size;
    uint32_t holders; /* bit i: replica i */
} version;

static int vcmp(const void *a, const void *b) {
    const version *x = a, *y = b;
    if (x->key_hash != y->key_hash) return x->key_hash < y->key_hash ? -1 : 1;
    if (x->rec_hash != y->rec_hash) return x->rec_hash < y->rec_hash ? -1 : 1;
    return 0;
}

#define MAX_REPLICAS 32

/* Steps 3 and 4 of repair.h for the differing sub-ranges of one range. */
static int sync_range(bs_repair *r, const char *cf, const replica *reps,
                      size_t nrep, const bs_merkle_range *sub, size_t nsub,
                      bs_repair_report *rep) {
    int64_t *s = malloc(nsub * sizeof *s), *e = malloc(nsub * sizeof *e);
    version *v = NULL;
    size_t nv = 0;
    int rc = (s && e) ? 0 : BS_ENOMEM;
    for (size_t i = 0; i < nsub && !rc; i++) {
        s[i] = sub[i].start;
        e[i] = sub[i].end;
    }
    for (size_t i = 0; i < nrep && !rc; i++) {
        bs_stream_digest *d = NULL;
        size_t nd = 0;
        rc = fetch_digests(r, &reps[i], cf, s, e, nsub, &d, &nd);
        if (rc) {
            fail_range(rep, cf, &sub[0], "digests from %s: %s", reps[i].addr,
                       rc);
            rc = 1;
            break;
        }
        version *nvv = nd ? realloc(v, (nv + nd) * sizeof *v) : v;
        if (nd && !nvv)
            rc = BS_ENOMEM;
        else
            v = nvv;
        for (size_t k = 0; k < nd && !rc; k++)
            v[nv++] =
                (version){d[k].key_hash, d[k].rec_hash, d[k].size, 1u << i};
        free(d);
    }
    if (!rc && nv) {
        /* merge equal versions: holders = union */
        qsort(v, nv, sizeof *v, vcmp);
        size_t k = 0;
        for (size_t i = 0; i < nv; i++) {
            if (k && !vcmp(&v[k - 1], &v[i]))
                v[k - 1].holders |= v[i].holders;
            else
                v[k++] = v[i];
        }
        nv = k;
        uint32_t all = nrep >= 32 ? 0xffffffffu : (1u << nrep) - 1;
        /* Per (source, target) the wanted digests.  Pass 0 moves the
         * versions a majority holds, pass 1 the others: a stale replica's
         * old versions are usually overwritten by pass 0, and its source
         * walk in pass 1 then no longer finds (and sends) them. */
        for (int pass = 0; pass < 2 && !rc; pass++)
            for (size_t src = 0; src < nrep && !rc; src++)
                for (size_t dst = 0; dst < nrep && !rc; dst++) {
                    if (src == dst) continue;
                    bs_stream_digest *want = NULL;
                    size_t nw = 0, cap = 0;
                    for (size_t i = 0; i < nv && !rc; i++) {
                        /* dst lacks it and src is its first holder */
                        if (v[i].holders & (1u << dst)) continue;
                        if ((uint32_t)__builtin_ctz(v[i].holders) != src)
                            continue;
                        int majority =
                            2 * (size_t)__builtin_popcount(v[i].holders) > nrep;
                        if (majority != (pass == 0)) continue;
                        if (nw == cap) {
                            cap = cap ? cap * 2 : 64;
                            bs_stream_digest *p =
                                realloc(want, cap * sizeof *p);
                            if (!p) {
                                rc = BS_ENOMEM;
                                break;
                            }
                            want = p;
                        }
                        want[nw++] = (bs_stream_digest){
                            v[i].key_hash, v[i].rec_hash, v[i].size};
                    }
                    if (!rc && nw) {
                        uint64_t res[3] = {0, 0, 0};
                        int src_rc = run_send(r, &reps[src], &reps[dst], cf, s,
                                              e, nsub, want, nw, res);
                        rep->streams++;
                        rep->rows_streamed += res[0];
                        rep->bytes_streamed += res[1];
                        if (src_rc) {
                            char who[2 * BS_MSG_ADDRLEN + 8];
                            snprintf(who, sizeof who, "%s -> %s",
                                     reps[src].addr, reps[dst].addr);
                            fail_range(rep, cf, &sub[0], "stream %s: %s", who,
                                       src_rc);
                            rc = 1;
                        }
                    }
                    free(want);
                }
        for (size_t i = 0; i < nv; i++)
            if (v[i].holders != all) {
                rep->rows_differed++;
                rep->bytes_differed += v[i].size;
            }
    }
    free(v);
    free(s);
    free(e);
    return rc;
}

/* Repairs one range of one table among its replicas. */
static int repair_range(bs_repair *r, const char *cf, bs_table *lt,
                        const bs_merkle_range *rg, const replica *reps,
                        size_t nrep, bs_repair_report *rep) {
    for (size_t i = 0; i < nrep; i++)
        if (!reps[i].local && (r->mem.alive(r->mem.ud, &reps[i].host) != 1 ||
                               failed_before(r, &reps[i].host))) {
            fail_range(rep, cf, rg, "replica %s: %s", reps[i].addr,
                       BS_EUNAVAIL);
            return 0;
        }
    uint64_t approx = 0;
    bs_store_approx_size(lt, rg->start, rg->end, &approx);
    unsigned depth = bs_merkle_depth_for(approx / 64);
    bs_merkle *trees[MAX_REPLICAS] = {0};
    int rc = 0;
    for (int round = 0; round < 2; round++) {
        for (size_t i = 0; i < nrep; i++) {
            bs_merkle_free(trees[i]);
            trees[i] = NULL;
        }
        uint64_t maxrows = 0;
        for (size_t i = 0; i < nrep && !rc; i++) {
            rc = fetch_tree(r, &reps[i], cf, rg, depth, &trees[i]);
            if (rc) {
                fail_range(rep, cf, rg, "tree from %s: %s", reps[i].addr, rc);
                if (rc == BS_ETIMEDOUT || rc == BS_EOVERLOAD ||
                    rc == BS_ECLOSED)
                    mark_failed(r, &reps[i].host);
                rc = 1; /* counted */
            } else if (bs_merkle_rows(trees[i]) > maxrows)
                maxrows = bs_merkle_rows(trees[i]);
        }
        if (rc) break;
        int same = 1;
        for (size_t i = 1; i < nrep; i++)
            same &= bs_merkle_root(trees[i]) == bs_merkle_root(trees[0]);
        unsigned want = bs_merkle_depth_for(maxrows);
        if (same || want <= depth || round == 1) break;
        depth = want; /* too coarse for the data: ask again, deeper */
    }
    if (rc) goto out;
    rep->ranges_compared++;
    /* leaves where any replica differs from the first */
    size_t nl = bs_merkle_leaf_count(trees[0]);
    uint8_t *diff = calloc(nl, 1);
    if (!diff) {
        rc = BS_ENOMEM;
        goto out;
    }
    size_t ndiff = 0;
    for (size_t i = 1; i < nrep && !rc; i++) {
        size_t *lv, n;
        rc = bs_merkle_diff(trees[0], trees[i], &lv, &n);
        for (size_t k = 0; k < n && !rc; k++)
            if (!diff[lv[k]]) {
                diff[lv[k]] = 1;
                ndiff++;
            }
        if (!rc) free(lv);
    }
    if (!rc && !ndiff) {
        rep->ranges_in_sync++;
    } else if (!rc) {
        rep->ranges_mismatched++;
        rep->leaves_mismatched += ndiff;
        size_t *lv = malloc(ndiff * sizeof *lv), k = 0;
        bs_merkle_range *sub = NULL;
        size_t nsub = 0;
        if (!lv) rc = BS_ENOMEM;
        for (size_t i = 0; i < nl && lv; i++)
            if (diff[i]) lv[k++] = i;
        /* Digest lists and wanted sets stay bounded (messages have a size
         * limit): the mismatching leaves go in groups of about
         * digest_batch_records records. */
        uint64_t maxrows = 0;
        for (size_t i = 0; i < nrep; i++)
            if (bs_merkle_rows(trees[i]) > maxrows)
                maxrows = bs_merkle_rows(trees[i]);
        uint64_t per_leaf = maxrows / nl + 1;
        size_t group = (size_t)(r->o.digest_batch_records / per_leaf);
        if (!group) group = 1;
        BS_INFO(LOG, "%s (%lld, %lld]: %zu of %zu leaves differ (depth %u)", cf,
                (long long)rg->start, (long long)rg->end, ndiff, nl,
                bs_merkle_depth(trees[0]));
        for (size_t g = 0; !rc && g < ndiff; g += group) {
            size_t cnt = ndiff - g < group ? ndiff - g : group;
            rc = bs_merkle_leaves_to_ranges(trees[0], lv + g, cnt, &sub, &nsub);
            if (!rc) rc = sync_range(r, cf, reps, nrep, sub, nsub, rep);
            free(sub);
            sub = NULL;
            if (rc > 0) { /* the range failed and is counted; go on */
                rc = 0;
                break;
            }
        }
        free(lv);
    }
    free(diff);
out:
    for (size_t i = 0; i < nrep; i++)
        bs_merkle_free(trees[i]);
    if (rc < 0) fail_range(rep, cf, rg, "%s%s", "", rc);
    return 0;
}

static int stopping(bs_repair *r) {
    pthread_mutex_lock(&r->mu);
    int s = r->stopping;
    pthread_mutex_unlock(&r->mu);
    return s;
}

static int repair_table(bs_repair *r, const bs_table_schema *ts,
                        const bs_ring_replica_map *map, uint32_t self_idx,
                        const bs_repair_run_opts *o, bs_repair_report *rep) {
    char cf[256];
    bs_table_cf_name(ts, cf, sizeof cf);
    bs_table *lt;
    int rc = bs_store_table_get(r->store, cf, &lt);
    if (rc) return rc;
    rep->tables++;
    bs_ring_range *ranges = NULL;
    size_t nr = 0;
    rc = bs_ring_replica_map_ranges(map, self_idx, &ranges, &nr);
    if (rc) return rc;
    const bs_ring_snapshot *snap = bs_ring_replica_map_snapshot(map);
    for (size_t i = 0; i < nr && !rc; i++) {
        const uint32_t *nodes;
        size_t nn;
        if (bs_ring_replica_map_lookup(map, ranges[i].end, &nodes, &nn))
            continue;
        if (o->primary_only && (!nn || nodes[0] != self_idx)) continue;
        if (nn > MAX_REPLICAS) nn = MAX_REPLICAS;
        replica reps[MAX_REPLICAS];
        size_t nrep = 0;
        int unknown = 0;
        for (size_t k = 0; k < nn; k++) {
            if (!replica_of(r, snap, nodes[k], &reps[nrep]))
                nrep++;
            else
                unknown = 1;
        }
        if (nrep + unknown < 2) continue; /* nothing to compare with */
        bs_merkle_range parts[4];
        int np = 1;
        parts[0] = (bs_merkle_range){ranges[i].start, ranges[i].end};
        if (o->has_range)
            np = intersect(ranges[i].start, ranges[i].end, o->range_start,
                           o->range_end, parts);
        for (int p = 0; p < np; p++) {
            if (unknown) /* a replica we cannot address: never skip it */
                fail_range(rep, cf, &parts[p], "replica %s: %s", "endpoint",
                           BS_ENOTFOUND);
            else
                rc = repair_range(r, cf, lt, &parts[p], reps, nrep, rep);
        }
        if (!rc && stopping(r)) rc = BS_ECLOSED;
    }
    free(ranges);
    return rc;
}

static void write_history(bs_repair *r, const bs_repair_run_opts *o,
                          const bs_repair_report *rep) {
    if (!r->history) return;
    bs_buf js = BS_BUF_INIT;
    if (bs_repair_report_json(rep, &js)) {
        bs_buf_free(&js);
        return;
    }
    /* partition "history", clustering = started_ms (8 bytes BE) + session id;
     * column 16: the keyspace/table asked for, column 17: the report JSON */
    uint8_t ck[24];
    bs_put_u64(ck, (uint64_t)rep->started_ms);
    memcpy(ck + 8, rep->session.b, 16);
    bs_rowkey rk = {0, "history", 7, ck, sizeof ck, 0};
    char what[600];
    snprintf(what, sizeof what, "%s.%s", o->keyspace ? o->keyspace : "*",
             o->table ? o->table : "*");
    int64_t ts = bs_clock_now_us(NULL);
    bs_batch *b;
    if (!bs_batch_new(r->store, &b)) {
        int rc = bs_batch_row_marker(b, r->history, &rk, ts, 0);
        if (!rc)
            rc = bs_batch_put_cell(b, r->history, &rk, 16, NULL, 0, what,
                                   strlen(what), ts, 0);
        if (!rc)
            rc = bs_batch_put_cell(b, r->history, &rk, 17, NULL, 0, js.data,
                                   js.len, ts, 0);
        if (!rc) rc = bs_store_write(r->store, b);
        if (rc)
            BS_WARN(LOG, "cannot write repair history: %s", bs_strerror(rc));
        bs_batch_free(b);
    }
    bs_buf_free(&js);
}

int bs_repair_history(bs_repair *r, uint32_t limit, bs_buf *out) {
    bs_slice sl;
    memset(&sl, 0, sizeof sl);
    sl.reversed = 1; /* clustering = start time: newest first */
    sl.limit = limit;
    bs_arena a;
    bs_arena_init(&a, 0);
    bs_partv *p = NULL;
    int rc = r->history
                 ? bs_store_read(r->history, 0, "history", 7, &sl, &a, &p)
                 : 0;
    if (!rc) rc = bs_buf_append_str(out, "{\"sessions\":[");
    for (size_t i = 0; !rc && p && i < p->nrows; i++) {
        const bs_rowv *row = &p->rows[i];
        const bs_cellv *what = NULL, *js = NULL;
        for (size_t c = 0; c < row->ncells; c++) {
            if (row->cells[c].col == 16) what = &row->cells[c];
            if (row->cells[c].col == 17) js = &row->cells[c];
        }
        if (i) rc = bs_buf_append_str(out, ",");
        if (!rc) rc = bs_buf_append_str(out, "{\"what\":");
        if (!rc)
            rc = what ? bs_admin_json_quote(out, (const char *)what->val,
                                            what->val_len)
                      : bs_buf_append_str(out, "null");
        if (!rc) rc = bs_buf_append_str(out, ",\"report\":");
        /* our own JSON object; anything else (damage) goes out as a string */
        int obj = js && js->val_len >= 2 && js->val[0] == '{' &&
                  js->val[js->val_len - 1] == '}';
        for (size_t k = 0; obj && k < js->val_len; k++)
            if (js->val[k] < 0x20) obj = 0;
        if (!rc)
            rc = obj  ? bs_buf_append(out, js->val, js->val_len)
                 : js ? bs_admin_json_quote(out, (const char *)js->val,
                                            js->val_len)
                      : bs_buf_append_str(out, "null");
        if (!rc) rc = bs_buf_append_str(out, "}");
    }
    if (!rc) rc = bs_buf_append_str(out, "]}");
    bs_arena_free(&a);
    return rc;
}

int bs_repair_run(bs_repair *r, const bs_repair_run_opts *o,
                  bs_repair_report *rep) {
    memset(rep, 0, sizeof *rep);
    if (o->table && !o->keyspace) return BS_EINVAL;
    int expect = 0;
    if (!atomic_compare_exchange_strong(&r->session_running, &expect, 1))
        return BS_EBUSY;
    bs_uuid_v4(&rep->session);
    r->nfailed = 0;
    rep->started_ms = bs_clock_now_us(NULL) / 1000;
    bs_schema *sc = bs_local_schema(r->local);
    bs_ring_snapshot *snap = r->mem.ring(r->mem.ud);
    int rc = 0;
    uint32_t self_idx;
    if (!snap || bs_ring_snapshot_find_node(snap, &r->self, &self_idx))
        rc = BS_EUNAVAIL;
    if (!rc && stopping(r)) rc = BS_ECLOSED;
    if (!rc && o->keyspace) {
        const bs_keyspace_schema *ks = bs_schema_keyspace(sc, o->keyspace);
        if (!ks || (o->table && !bs_schema_table(sc, o->keyspace, o->table)))
            rc = BS_ENOTFOUND;
    }
    char sid[37];
    bs_uuid_format(&rep->session, sid);
    if (!rc)
        BS_INFO(LOG, "repair session %s starting (keyspace %s, table %s)", sid,
                o->keyspace ? o->keyspace : "*", o->table ? o->table : "*");
    for (size_t k = 0; !rc && k < bs_schema_nkeyspaces(sc); k++) {
        const bs_keyspace_schema *ks = bs_schema_keyspace_at(sc, k);
        if (o->keyspace ? strcmp(ks->name, o->keyspace) : ks->system) continue;
        bs_ring_strategy *st = NULL;
        bs_ring_replica_map *map = NULL;
        int krc = bs_node_strategy(ks, snap, &st);
        if (!krc) krc = bs_ring_replica_map_build(snap, st, &map);
        bs_ring_strategy_free(st);
        if (krc) {
            BS_WARN(LOG, "keyspace %s: cannot place replicas: %s", ks->name,
                    bs_strerror(krc));
            continue;
        }
        for (size_t t = 0; t < ks->ntables && !rc; t++) {
            if (o->table && strcmp(ks->tables[t]->name, o->table)) continue;
            int trc = repair_table(r, ks->tables[t], map, self_idx, o, rep);
            if (trc == BS_ECLOSED)
                rc = trc; /* shutting down: stop here */
            else if (trc)
                BS_WARN(LOG, "table %s.%s: %s", ks->name, ks->tables[t]->name,
                        bs_strerror(trc));
        }
        bs_ring_replica_map_release(map);
    }
    if (snap) bs_ring_snapshot_release(snap);
    bs_schema_release(sc);
    rep->duration_ms = bs_clock_now_us(NULL) / 1000 - rep->started_ms;
    if (!rc) {
        BS_INFO(
            LOG,
            "repair session %s done in %lld ms: %llu ranges compared, %llu "
            "mismatched, %llu failed, "
            "%llu rows / %llu bytes differed, %llu rows / %llu bytes streamed",
            sid, (long long)rep->duration_ms,
            (unsigned long long)rep->ranges_compared,
            (unsigned long long)rep->ranges_mismatched,
            (unsigned long long)rep->ranges_failed,
            (unsigned long long)rep->rows_differed,
            (unsigned long long)rep->bytes_differed,
            (unsigned long long)rep->rows_streamed,
            (unsigned long long)rep->bytes_streamed);
        write_history(r, o, rep);
    }
    atomic_store(&r->session_running, 0);
    return rc;
}

int bs_repair_report_json(const bs_repair_report *rep, bs_buf *out) {
    char sid[37];
    bs_uuid_format(&rep->session, sid);
    int rc = bs_buf_appendf(out,
                            "{\"session\":\"%s\",\"started_ms\":%lld,"
                            "\"duration_ms\":%lld,\"tables\":%llu,"
                            "\"ranges_compared\":%llu,\"ranges_in_sync\":%llu,"
                            "\"ranges_mismatched\":%llu,"
                            "\"ranges_failed\":%llu,\"leaves_mismatched\":%llu,"
                            "\"rows_differed\":%llu,"
                            "\"bytes_differed\":%llu,\"rows_streamed\":%llu,"
                            "\"bytes_streamed\":%llu,\"streams\":%llu,"
                            "\"error\":",
                            sid, (long long)rep->started_ms,
                            (long long)rep->duration_ms,
                            (unsigned long long)rep->tables,
                            (unsigned long long)rep->ranges_compared,
                            (unsigned long long)rep->ranges_in_sync,
                            (unsigned long long)rep->ranges_mismatched,
                            (unsigned long long)rep->ranges_failed,
                            (unsigned long long)rep->leaves_mismatched,
                            (unsigned long long)rep->rows_differed,
                            (unsigned long long)rep->bytes_differed,
                            (unsigned long long)rep->rows_streamed,
                            (unsigned long long)rep->bytes_streamed,
                            (unsigned long long)rep->streams);
    if (rc) return rc;
    rc = rep->first_error[0] ? bs_admin_json_quote(out, rep->first_error,
                                                   strlen(rep->first_error))
                             : bs_buf_append_str(out, "null");
    return rc ? rc : bs_buf_append_str(out, "}");
}

/* ------------------------------------------------------------------ */
/* Per-node checksums                                                  */
/* ------------------------------------------------------------------ */

static int checksum_table(bs_repair *r, const bs_table_schema *ts,
                          const bs_ring_snapshot *snap, bs_admin_json *w) {
    char cf[256];
    bs_table_cf_name(ts, cf, sizeof cf);
    bs_admin_json_obj(w);
    bs_admin_json_key(w, "keyspace");
    bs_admin_json_str(w, ts->keyspace);
    bs_admin_json_key(w, "table");
    bs_admin_json_str(w, ts->name);
    bs_admin_json_key(w, "nodes");
    bs_admin_json_arr(w);
    uint32_t nn = bs_ring_snapshot_node_count(snap);
    for (uint32_t i = 0; i < nn; i++) {
        replica rp;
        if (replica_of(r, snap, i, &rp)) continue;
        bs_admin_json_obj(w);
        bs_admin_json_key(w, "address");
        bs_admin_json_str(w, rp.addr);
        bs_admin_json_key(w, "host_id");
        bs_admin_json_uuid(w, &rp.host);
        bs_merkle *m = NULL;
        bs_merkle_range whole = {0, 0};
        int rc = (!rp.local && r->mem.alive(r->mem.ud, &rp.host) != 1)
                     ? BS_EUNAVAIL
                     : fetch_tree(r, &rp, cf, &whole, 0, &m);
        if (rc) {
            bs_admin_json_key(w, "error");
            bs_admin_json_str(w, bs_strerror(rc));
        } else {
            char hex[17];
            snprintf(hex, sizeof hex, "%016llx",
                     (unsigned long long)bs_merkle_root(m));
            bs_admin_json_key(w, "checksum");
            bs_admin_json_str(w, hex);
            bs_admin_json_key(w, "rows");
            bs_admin_json_int(w, (int64_t)bs_merkle_rows(m));
            bs_admin_json_key(w, "bytes");
            bs_admin_json_int(w, (int64_t)bs_merkle_bytes(m));
        }
        bs_merkle_free(m);
        bs_admin_json_end(w);
    }
    bs_admin_json_end(w);
    bs_admin_json_end(w);
    return 0;
}

int bs_repair_checksum(bs_repair *r, const char *keyspace, const char *table,
                       bs_buf *out) {
    if (table && !keyspace) return BS_EINVAL;
    bs_schema *sc = bs_local_schema(r->local);
    bs_ring_snapshot *snap = r->mem.ring(r->mem.ud);
    int rc = snap ? 0 : BS_EUNAVAIL;
    if (!rc && keyspace &&
        (!bs_schema_keyspace(sc, keyspace) ||
         (table && !bs_schema_table(sc, keyspace, table))))
        rc = BS_ENOTFOUND;
    if (!rc) {
        bs_admin_json w;
        bs_admin_json_init(&w, out);
        bs_admin_json_obj(&w);
        bs_admin_json_key(&w, "tables");
        bs_admin_json_arr(&w);
        for (size_t k = 0; k < bs_schema_nkeyspaces(sc); k++) {
            const bs_keyspace_schema *ks = bs_schema_keyspace_at(sc, k);
            if (keyspace ? strcmp(ks->name, keyspace) : ks->system) continue;
            for (size_t t = 0; t < ks->ntables; t++)
                if (!table || !strcmp(ks->tables[t]->name, table))
                    checksum_table(r, ks->tables[t], snap, &w);
        }
        bs_admin_json_end(&w);
        bs_admin_json_end(&w);
        rc = bs_admin_json_finish(&w);
    }
    if (snap) bs_ring_snapshot_release(snap);
    bs_schema_release(sc);
    return rc;
}
