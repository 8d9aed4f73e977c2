/*
 * coord_counter.c - counter writes: a leader replica per increment, and
 * the replica side of COUNTER (verb BS_VERB_COUNTER).
 *
 * Storage layout: query/counter.h (a counter = one cell per shard, keyed
 * by the leading replica's host id, valued with the shard's total, timed
 * with the shard's logical clock; shards merge by the store's LWW).
 *
 * Algorithm (Cassandra's counter write path, with whole shards instead
 * of deltas on the wire):
 *   1. For each mutation of the request, the leader is this node when it
 *      is a natural replica of the partition, else the first live natural
 *      replica (closest first), to which the mutation is forwarded as a
 *      COUNTER request; that leader runs steps 2-4 and answers with their
 *      outcome.
 *   2. The leader checks that the consistency level can be met
 *      (Unavailable otherwise, before anything is applied: Unavailable
 *      means "not applied").
 *   3. Under a lock striped by partition key, for every increment of the
 *      mutation it reads its own shard of the cell from its local store,
 *      adds the delta and takes the next clock (max(clock + 1, wall
 *      clock)), then applies the resulting shard cells (and the
 *      mutation's tombstones, if any) to its store at once
 *      (bs_local_apply_now), and releases the lock.  Only the leader of a
 *      shard ever writes a new version of it, so the local read always
 *      sees the shard's latest version and increments of one shard are
 *      serialized.
 *   4. The new shards are then written like any mutation
 *      (bs__coord_write_ex, which counts this node's replica as done
 *      without applying them again) at the request's consistency level:
 *      replicas,
 *      hints, WriteTimeout as usual (write type COUNTER).  Replicas store
 *      a whole shard version, so a retried or replayed delivery (hint,
 *      repair) is idempotent.
 *
 * A timed-out increment may or may not have been applied (it was, on the
 * leader, as soon as step 3 ran); it is never retried by Basalt, and the
 * drivers do not retry WriteTimeouts of write type COUNTER.
 *
 * COUNTER payload: bs_wire_write_encode with `now` = the consistency
 * level, each increment encoded as a BS_MOP_CELL without element key
 * whose 8-byte value is the delta (a counter table's stored cells always
 * have one; the MUTATION decoder refuses BS_MOP_COUNTER_ADD itself).
 * Reply status: 0 applied at the level, BS_EUNAVAIL (Unavailable),
 * BS_ETIMEDOUT (WriteTimeout), BS_EOVERLOAD (too many COUNTER requests
 * being led here; nothing applied) or another error (the write failed).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "common/error.h"
#include "common/log.h"
#include "node/coord/coord_int.h"
#include "node/coord/wire.h"
#include "query/counter.h"
#include "query/proto.h"

#define LOG "coord"
#define NLOCKS 256

static pthread_mutex_t g_locks[NLOCKS];
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void locks_init(void) {
    for (size_t i = 0; i < NLOCKS; i++) pthread_mutex_init(&g_locks[i], NULL);
}

/* The lock of a partition (FNV-1a over table name and key). */
static pthread_mutex_t *part_lock(const bs_mutation *m) {
    uint64_t h = 1469598103934665603ULL;
    for (const char *p = m->cf; *p; p++) h = (h ^ (uint8_t)*p) * 1099511628211ULL;
    for (size_t i = 0; i < m->pk_len; i++) h = (h ^ m->pk[i]) * 1099511628211ULL;
    return &g_locks[h % NLOCKS];
}

/* This node's shard of op's cell: *clock INT64_MIN and *total 0 when it
 * has none.  0 or a store error. */
static int read_shard(bs_coord *c, bs_table *t, const bs_mutation *m, const bs_mop *op,
                      int64_t *clock, int64_t *total) {
    *clock = INT64_MIN;
    *total = 0;
    bs_slice sl;
    memset(&sl, 0, sizeof sl);
    uint16_t id = op->col;
    sl.cols = &id;
    sl.ncols = 1;
    if (op->is_static) {
        sl.with_static = 1;
        sl.limit = 1;
    } else {
        sl.start.kind = BS_BOUND_INCL;
        sl.start.prefix = op->ck;
        sl.start.len = op->ck_len;
        sl.end = sl.start;
    }
    bs_arena a;
    bs_arena_init(&a, 0);
    bs_partv *p = NULL;
    int rc = bs_store_read(t, m->token, m->pk, m->pk_len, &sl, &a, &p);
    const bs_rowv *r = NULL;
    if (!rc && p) r = op->is_static ? p->static_row : (p->nrows ? &p->rows[0] : NULL);
    for (size_t i = 0; r && i < r->ncells; i++) {
        const bs_cellv *cv = &r->cells[i];
        if (cv->col == op->col && cv->has_elem && cv->elem_len == BS_COUNTER_SHARD_KEY_LEN &&
            !memcmp(cv->elem, c->self.b, 16) && cv->val_len == BS_COUNTER_SHARD_VAL_LEN) {
            *clock = cv->ts;
            *total = bs_counter_shard_decode(cv->val);
        }
    }
    bs_arena_free(&a);
    return rc;
}

static int same_cell(const bs_mop *a, const bs_mop *b) {
    return a->col == b->col && a->is_static == b->is_static && a->ck_len == b->ck_len &&
           (!a->ck_len || !memcmp(a->ck, b->ck, a->ck_len));
}

/* Step 3: in's increments as this node's new shards, into out (ops from
 * arena a), applied locally.  Lock of the partition held by the caller. */
static int lead_locked(bs_coord *c, bs_table *t, const bs_mutation *in, bs_arena *a,
                       bs_mutation *out) {
    *out = *in;
    out->ops = bs_arena_calloc(a, (in->nops + 1) * sizeof *out->ops);
    uint8_t *self = bs_arena_memdup(a, c->self.b, 16);
    if (!out->ops || !self) return BS_ENOMEM;
    int64_t now_us = c->lbe.now_us(c->lbe.ud);
    for (size_t k = 0; k < in->nops; k++) {
        const bs_mop *op = &in->ops[k];
        bs_mop *o = &out->ops[k];
        *o = *op;
        if (op->kind != BS_MOP_COUNTER_ADD) continue;
        if (op->val_len != 8) return BS_EINVAL;
        int64_t clock = INT64_MIN, total = 0;
        size_t j = k;
        while (j > 0 && !(out->ops[j - 1].kind == BS_MOP_CELL && same_cell(&out->ops[j - 1], op)))
            j--;
        if (j > 0) { /* the same counter earlier in this mutation */
            clock = out->ops[j - 1].ts;
            total = bs_counter_shard_decode(out->ops[j - 1].val);
        } else {
            int rc = read_shard(c, t, in, op, &clock, &total);
            if (rc) return rc;
        }
        uint8_t *v = bs_arena_alloc(a, BS_COUNTER_SHARD_VAL_LEN);
        if (!v) return BS_ENOMEM;
        bs_counter_shard_encode((int64_t)((uint64_t)total + bs_get_u64(op->val)), v);
        o->kind = BS_MOP_CELL;
        o->has_elem = 1;
        o->elem = self;
        o->elem_len = BS_COUNTER_SHARD_KEY_LEN;
        o->val = v;
        o->val_len = BS_COUNTER_SHARD_VAL_LEN;
        o->ts = bs_counter_next_clock(clock, now_us);
        o->ttl = 0;
    }
    return bs_local_apply_now(c->store, out, 1, bs__coord_now_s(c));
}

/* Step 2: Unavailable unless enough replicas of pl are alive for cl. */
static int check_alive(bs_coord *c, const bs__placement *pl, uint16_t cl, bs_exec_err *err) {
    bs__req req[BS__MAX_REQS];
    size_t nreq = 0;
    if (bs__cl_reqs(c, cl, pl, 1, req, &nreq, err)) return -1;
    for (size_t r = 0; r < nreq; r++) {
        int alive = 0;
        for (size_t t = 0; t < pl->n; t++)
            alive += pl->t[t].alive && bs__req_match(&req[r], &pl->t[t]);
        if (alive < req[r].need) {
            bs__unavailable(c, err, cl, req[r].need, alive);
            return -1;
        }
    }
    return 0;
}

static void store_error(bs_exec_err *err, int rc, const char *cf) {
    err->code = rc == BS_EINVAL || rc == BS_ENOTFOUND ? BS_PROTO_ERR_INVALID : BS_PROTO_ERR_SERVER;
    snprintf(err->msg, sizeof err->msg, "counter write to %s failed on its leader: %s (%s)", cf,
             bs_strerror(rc), bs_store_errmsg());
}

/* Steps 2-3 for mutation m led by this node (placement pl). */
static int lead(bs_coord *c, const bs_mutation *m, const bs__placement *pl, uint16_t cl,
                bs_arena *a, bs_mutation *out, bs_exec_err *err) {
    if (check_alive(c, pl, cl, err)) return -1;
    bs_table *t;
    int rc = bs_store_table_get(c->store, m->cf, &t);
    if (rc) {
        store_error(err, rc, m->cf);
        return -1;
    }
    pthread_mutex_t *l = part_lock(m);
    pthread_mutex_lock(l);
    rc = lead_locked(c, t, m, a, out);
    pthread_mutex_unlock(l);
    if (rc) {
        store_error(err, rc, m->cf);
        return -1;
    }
    return 0;
}

/* ---- forwarding to a leader ---------------------------------------------- */

static int one_done(bs__fan *f, void *ud) {
    (void)ud;
    return f->calls[0].done;
}

/* Step 1 when this node is not a replica: m goes to the first live
 * natural replica of pl, which leads it. */
static int forward(bs_coord *c, const bs_mutation *m, const bs__placement *pl, uint16_t cl,
                   bs_exec_err *err) {
    const bs__target *to = NULL;
    for (size_t i = 0; i < pl->nnatural && !to; i++)
        if (pl->t[i].alive && pl->t[i].has_peer) to = &pl->t[i];
    if (!to) {
        bs__unavailable(c, err, cl, 1, 0);
        return -1;
    }
    bs_mutation fm = *m;
    bs_mop *ops = calloc(m->nops + 1, sizeof *ops);
    if (!ops) return -1;
    for (size_t k = 0; k < m->nops; k++) {
        ops[k] = m->ops[k];
        if (ops[k].kind == BS_MOP_COUNTER_ADD) {
            ops[k].kind = BS_MOP_CELL;
            ops[k].has_elem = 0;
            ops[k].elem = NULL;
            ops[k].elem_len = 0;
        }
    }
    fm.ops = ops;
    bs_buf pay = BS_BUF_INIT;
    int rc = bs_wire_write_encode(cl, &fm, 1, &pay);
    free(ops);
    bs__fan *f = rc ? NULL : bs__fan_new(c, 1);
    if (!f) {
        bs_buf_free(&pay);
        err->code = BS_PROTO_ERR_SERVER;
        snprintf(err->msg, sizeof err->msg, "out of memory");
        return -1;
    }
    /* the leader waits up to the write timeout for its replicas */
    uint32_t tmo = c->o.write_timeout_ms * 2;
    int64_t deadline = bs_clock_mono_ns() + (int64_t)tmo * 1000000;
    bs__fan_send(f, 0, &to->peer, BS_VERB_COUNTER, pay.data, pay.len, tmo);
    bs__fan_wait(f, one_done, NULL, deadline);
    pthread_mutex_lock(&f->lock);
    int st = f->calls[0].done ? f->calls[0].status : BS_ETIMEDOUT;
    pthread_mutex_unlock(&f->lock);
    bs__fan_release(f);
    bs_buf_free(&pay);
    if (!st) return 0;
    if (st == BS_EUNAVAIL) {
        bs__unavailable(c, err, cl, 1, 0);
        snprintf(err->msg, sizeof err->msg,
                 "Cannot achieve consistency level %s for a counter write (its leader replica "
                 "said too few replicas are alive)", bs__cl_name(cl));
        return -1;
    }
    if (st == BS_EOVERLOAD) { /* refused before anything was applied */
        err->code = BS_PROTO_ERR_OVERLOADED;
        snprintf(err->msg, sizeof err->msg,
                 "Overloaded: the counter's leader replica is leading too many forwarded counter "
                 "writes (not applied)");
        return -1;
    }
    if (st == BS_ETIMEDOUT || st == BS_ECLOSED) {
        BS__INC(c->write_timeouts);
        err->code = BS_PROTO_ERR_WRITE_TIMEOUT;
        err->cl = cl;
        err->received = 0;
        err->blockfor = 1;
        err->write_type = "COUNTER";
        snprintf(err->msg, sizeof err->msg,
                 "Operation timed out - the counter leader replica did not confirm the write at "
                 "%s (it may have been applied)", bs__cl_name(cl));
        return -1;
    }
    err->code = BS_PROTO_ERR_SERVER;
    snprintf(err->msg, sizeof err->msg, "counter write failed on its leader replica: %s",
             bs_strerror(st));
    return -1;
}

/* ---- the backend entry point ---------------------------------------------- */

/* The counter write of nm mutations; may_forward 0 on a leader serving a
 * COUNTER request (a ring change meanwhile answers Unavailable rather
 * than forwarding again). */
static int counter_write(bs_coord *c, const bs_mutation *m, size_t nm, uint16_t cl,
                         int may_forward, bs_exec_err *err) {
    if (atomic_load(&c->drained)) return bs__drained_error(c, err);
    pthread_once(&g_once, locks_init);
    bs_schema *s = c->lbe.schema_get(c->lbe.ud);
    bs_arena a;
    bs_arena_init(&a, 0);
    bs_mutation *led = calloc(nm + 1, sizeof *led);
    size_t nled = 0;
    int rc = led ? 0 : -1;
    if (!led) {
        err->code = BS_PROTO_ERR_SERVER;
        snprintf(err->msg, sizeof err->msg, "out of memory");
    }
    for (size_t i = 0; i < nm && !rc; i++) {
        const bs_keyspace_schema *ks = bs__keyspace_of(s, m[i].cf);
        bs__placement pl;
        if (!ks || bs__placement_get(c, ks, m[i].token, 1, &pl, err)) {
            if (!ks) {
                err->code = BS_PROTO_ERR_INVALID;
                snprintf(err->msg, sizeof err->msg, "unconfigured table %s", m[i].cf);
            }
            rc = -1;
            break;
        }
        int local = 0;
        for (size_t k = 0; k < pl.nnatural; k++) local |= pl.t[k].local;
        if (local) rc = lead(c, &m[i], &pl, cl, &a, &led[nled++], err);
        else if (may_forward) rc = forward(c, &m[i], &pl, cl, err);
        else {
            bs__unavailable(c, err, cl, 1, 0);
            snprintf(err->msg, sizeof err->msg,
                     "this node is no longer a replica of the counter's partition");
            rc = -1;
        }
        bs__placement_done(c, &pl);
    }
    /* step 4: replicate the new shards */
    if (!rc && nled) rc = bs__coord_write_ex(c, led, nled, cl, 0, 1, err);
    if (rc && (err->code == BS_PROTO_ERR_WRITE_TIMEOUT || err->code == BS_PROTO_ERR_WRITE_FAILURE))
        err->write_type = "COUNTER";
    free(led);
    bs_arena_free(&a);
    bs_schema_release(s);
    return rc;
}

int bs__coord_counter_write(void *ud, const bs_mutation *m, size_t nm, uint16_t cl,
                            bs_exec_err *err) {
    return counter_write(ud, m, nm, cl, 1, err);
}

/* ---- leader side of a forwarded write: COUNTER ----------------------------------
 *
 * A COUNTER request waits for its replicas (up to the write timeout), so
 * it does not run on the stage, whose few threads the other replica verbs
 * need, nor inside the stage's group-commit scope (whose replies wait for
 * its end): the stage hands it to a thread of its own, at most
 * MAX_LEADING at once (beyond: BS_EOVERLOAD, nothing applied). */

#define MAX_LEADING 64

static atomic_int g_leading;

typedef struct lead_job {
    bs_coord *c;
    bs_msg_in in; /* payload points to data */
    uint8_t *data;
    size_t len;
} lead_job;

/* Decodes and leads one COUNTER request; its reply status. */
static int serve_counter(bs_coord *c, const bs_msg_in *in, const uint8_t *data, size_t len) {
    bs_arena a;
    bs_arena_init(&a, 0);
    char e[160];
    int64_t cl;
    bs_mutation *m;
    size_t n;
    int st = bs_wire_write_decode(data, len, &a, &cl, &m, &n, e, sizeof e);
    if (!st && cl > UINT16_MAX) {
        st = BS_EINVAL;
        snprintf(e, sizeof e, "bad consistency %lld", (long long)cl);
    }
    if (st) {
        BS_WARN(LOG, "bad COUNTER from %s: %s", in->from.addr, e);
    } else {
        for (size_t i = 0; i < n; i++)
            for (size_t k = 0; k < m[i].nops; k++)
                if (m[i].ops[k].kind == BS_MOP_CELL && !m[i].ops[k].has_elem)
                    m[i].ops[k].kind = BS_MOP_COUNTER_ADD;
        bs_exec_err err;
        memset(&err, 0, sizeof err);
        if (counter_write(c, m, n, (uint16_t)cl, 0, &err)) {
            st = err.code == BS_PROTO_ERR_UNAVAILABLE     ? BS_EUNAVAIL
                 : err.code == BS_PROTO_ERR_WRITE_TIMEOUT ? BS_ETIMEDOUT
                 : err.code == BS_PROTO_ERR_INVALID       ? BS_EINVAL
                                                          : BS_EIO;
            BS_DEBUG(LOG, "COUNTER from %s failed: %s", in->from.addr, err.msg);
        }
    }
    bs_arena_free(&a);
    return st;
}

static void *lead_main(void *arg) {
    lead_job *lj = arg;
    prctl(PR_SET_NAME, "bs-counter", 0, 0, 0);
    int st = serve_counter(lj->c, &lj->in, lj->data, lj->len);
    bs_msg_reply(lj->c->msg, &lj->in, st, NULL, 0);
    free(lj->data);
    free(lj);
    atomic_fetch_sub(&g_leading, 1);
    return NULL;
}

void bs__job_counter(bs_coord *c, bs__job *j) {
    if (atomic_fetch_add(&g_leading, 1) >= MAX_LEADING) {
        atomic_fetch_sub(&g_leading, 1);
        bs__job_reply(c, j, BS_EOVERLOAD, NULL, 0);
        return;
    }
    lead_job *lj = malloc(sizeof *lj);
    pthread_attr_t at;
    pthread_t th;
    if (lj) {
        *lj = (lead_job){c, j->in, j->data, j->len};
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        int rc = pthread_create(&th, &at, lead_main, lj);
        pthread_attr_destroy(&at);
        if (!rc) {
            j->data = NULL; /* the thread owns it now */
            return;
        }
        free(lj);
    }
    /* no thread: lead it here */
    bs__job_reply(c, j, serve_counter(c, &j->in, j->data, j->len), NULL, 0);
    atomic_fetch_sub(&g_leading, 1);
}

void bs__counter_stop(bs_coord *c) {
    (void)c;
    /* each ends within about twice the write timeout (its replicas' wait) */
    while (atomic_load(&g_leading) > 0) usleep(10000);
}
