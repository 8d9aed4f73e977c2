/*
 * coord_read.c - the replicated read path (digests, speculative retry,
 * blocking read repair), range scans across nodes, and the replica side
 * of READ, READ_RAW, REPAIR_RAW and RANGE_READ.
 *
 * Single-partition read:
 *   1. Placement (natural replicas, local first, then by proximity) and
 *      requirements of the level; Unavailable when too few are alive.
 *   2. Contacts: walking the live replicas in that order, a replica is
 *      taken while it helps an unmet requirement.  The first gets a data
 *      request, the others digest requests; all use the same slice and
 *      the same now_s (TTL), so equal data gives equal digests.  The local
 *      replica is read on this thread.
 *   3. Wait until the requirements are met by successful answers and a
 *      data answer is in.  Speculative retry: if that has not happened
 *      after the configured delay (a percentile of observed replica read
 *      latency, a fixed time, or at once), one more live replica gets a
 *      request (data if no data answer has come, else digest).  Deadline:
 *      ReadTimeout with received/blockfor/data_present.
 *      Shortcut: when the partition has exactly one replica and it is
 *      this node (RF=1), it is read straight from the store: no payload,
 *      digest or fan-out (nothing to compare, nobody to retry on).
 *   4. All digests equal to the data answer's: answer it.  Otherwise
 *      blocking read repair: every replica that answered sends its raw
 *      records of the partition's token (bs_store_iterate_range over
 *      (token-1, token]: cells, markers and every kind of tombstone, so
 *      deletions are repaired too); the coordinator keeps per key the LWW
 *      winner (bs_store_lww_cmp) and sends that union to each of them
 *      (REPAIR_RAW -> bs_batch_put_raw, which LWW-merges and is
 *      idempotent), waits for their acks, then reads the data replica
 *      again and answers that.  If any of them fails to send its records
 *      or to ack the repair, the read is a ReadTimeout: answering a value
 *      held by fewer replicas than were read could let a later read go
 *      back in time.  Records of another partition sharing the
 *      64-bit token travel too: harmless, they are replicated by the same
 *      nodes and merging is idempotent.
 *
 * Range scan: the requested (start, end] is cut at vnode boundaries and
 * walked in token order.  At ONE / LOCAL_ONE each piece is read from one
 * live replica (the local one when it is a replica): the fast path.  At
 * every other level a piece has Unavailable checked like a single-
 * partition read and is read from enough replicas for the level, merged
 * by digest, with the differing partitions read-repaired before they are
 * answered (scan_piece_cl, "range scans at levels above ONE" below).
 * Remote pieces come back range_page partitions at a time, resuming
 * after the last partition.  At every level the first request of the
 * next pieces may already be in flight (the concurrency factor, "the
 * scan: pieces in token order, with read-ahead" below); answers are
 * still consumed piece by piece in token order.
 * The caller's cursor is handed to the piece that contains its token;
 * pieces before it are skipped.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/log.h"
#include "common/trace.h"
#include "node/coord/coord_int.h"
#include "node/coord/wire.h"
#include "query/proto.h"

#define LOG "coord"

static int is_local_ks(const bs_keyspace_schema *ks) {
    return !ks || ks->system || (ks->repl_class && strstr(ks->repl_class, "LocalStrategy"));
}

static int64_t prev_token(int64_t t) { return t == INT64_MIN ? INT64_MAX : t - 1; }

/* ---- raw records of one token ----------------------------------------- */

typedef struct recs {
    bs_wire_rec *r;
    size_t n, cap;
    bs_arena *a;
} recs;

static int recs_push(recs *v, const uint8_t *k, size_t kl, const uint8_t *val, size_t vl) {
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 16;
        bs_wire_rec *nr = realloc(v->r, cap * sizeof *nr);
        if (!nr) return BS_ENOMEM;
        v->r = nr;
        v->cap = cap;
    }
    bs_wire_rec *x = &v->r[v->n];
    x->key = bs_arena_memdup(v->a, k, kl ? kl : 1);
    x->val = bs_arena_memdup(v->a, vl ? val : (const uint8_t *)"", vl ? vl : 1);
    if (!x->key || !x->val) return BS_ENOMEM;
    x->klen = kl;
    x->vlen = vl;
    v->n++;
    return 0;
}

static int raw_cb(void *ud, const uint8_t *k, size_t kl, const uint8_t *val, size_t vl) {
    return recs_push(ud, k, kl, val, vl);
}

static int collect_raw(bs_table *t, int64_t token, recs *out) {
    return bs_store_iterate_range(t, prev_token(token), token, raw_cb, out);
}

static int rec_cmp(const void *a, const void *b) {
    const bs_wire_rec *x = a, *y = b;
    size_t n = x->klen < y->klen ? x->klen : y->klen;
    int c = memcmp(x->key, y->key, n);
    if (c) return c;
    return x->klen < y->klen ? -1 : x->klen > y->klen;
}

/* Sorts and keeps the LWW winner of each key. */
static void recs_resolve(recs *v) {
    if (!v->n) return;
    qsort(v->r, v->n, sizeof *v->r, rec_cmp);
    size_t o = 0;
    for (size_t i = 1; i < v->n; i++) {
        if (!rec_cmp(&v->r[o], &v->r[i])) {
            int e = 0;
            int w = bs_store_lww_cmp(v->r[i].key, v->r[i].klen, v->r[i].val, v->r[i].vlen,
                                     v->r[o].val, v->r[o].vlen, &e);
            if (!e && w > 0) v->r[o] = v->r[i];
        } else {
            v->r[++o] = v->r[i];
        }
    }
    v->n = o + 1;
}

static int apply_raw(bs_coord *c, bs_table *t, const bs_wire_rec *r, size_t n) {
    bs_batch *b;
    int rc = bs_batch_new(c->store, &b);
    for (size_t i = 0; !rc && i < n; i++) rc = bs_batch_put_raw(b, t, r[i].key, r[i].klen, r[i].val, r[i].vlen);
    if (!rc) rc = bs_store_write(c->store, b);
    if (b) bs_batch_free(b);
    return rc;
}

static int pred_all_done(bs__fan *f, void *ud) {
    (void)ud;
    for (size_t i = 0; i < f->n; i++)
        if (!f->calls[i].done) return 0;
    return 1;
}

/* Blocking read repair of one partition over targets tg[0..n). */
static int read_repair(bs_coord *c, bs_table *t, const bs_wire_read *rd, const bs__target *tg,
                       size_t n, int64_t deadline, bs_arena *a) {
    recs all = {NULL, 0, 0, a};
    bs_buf pay = BS_BUF_INIT;
    int rc = 0;
    bs__fan *f = bs__fan_new(c, n);
    if (!f || bs_wire_read_encode(rd, &pay)) {
        rc = BS_ENOMEM;
        goto out;
    }
    uint32_t tmo = (uint32_t)((deadline - bs_clock_mono_ns()) / 1000000);
    if (!tmo) tmo = 1;
    for (size_t i = 0; i < n; i++)
        if (!tg[i].local) bs__fan_send(f, i, &tg[i].peer, BS_VERB_READ_RAW, pay.data, pay.len, tmo);
    for (size_t i = 0; i < n; i++)
        if (tg[i].local) bs__fan_local(f, i, collect_raw(t, rd->token, &all));
    bs__fan_wait(f, pred_all_done, NULL, deadline);
    int *ok = calloc(n ? n : 1, sizeof *ok);
    if (!ok) {
        rc = BS_ENOMEM;
        goto out;
    }
    pthread_mutex_lock(&f->lock);
    for (size_t i = 0; i < n && !rc; i++) {
        bs__call *k = &f->calls[i];
        if (!k->done || k->status) continue;
        ok[i] = 1;
        if (tg[i].local) continue;
        const char *cf;
        bs_wire_rec *r;
        size_t nr;
        char e[128];
        if (bs_wire_raw_decode(k->resp, k->len, a, &cf, &r, &nr, e, sizeof e)) {
            ok[i] = 0;
            BS_WARN(LOG, "bad READ_RAW answer from %s: %s", tg[i].peer.addr, e);
            continue;
        }
        for (size_t j = 0; j < nr && !rc; j++) rc = recs_push(&all, r[j].key, r[j].klen, r[j].val, r[j].vlen);
    }
    pthread_mutex_unlock(&f->lock);
    bs__fan_release(f);
    f = NULL;
    /* Every replica that answered the read must take part: the answer
     * goes out only once the replicas it was read from hold it, so a
     * later read of any quorum sees it (monotonic reads).  Repairing a
     * subset could leave a value read from one replica on that replica
     * alone. */
    for (size_t i = 0; i < n && !rc; i++)
        if (!ok[i]) rc = BS_ETIMEDOUT;
    if (rc) {
        free(ok);
        goto out;
    }
    recs_resolve(&all);
    /* send the union back to everyone who answered */
    bs_buf_reset(&pay);
    if (bs_wire_raw_encode(rd->cf, all.r, all.n, &pay) || !(f = bs__fan_new(c, n))) {
        free(ok);
        rc = BS_ENOMEM;
        goto out;
    }
    tmo = (uint32_t)((deadline - bs_clock_mono_ns()) / 1000000);
    if (!tmo) tmo = 1;
    for (size_t i = 0; i < n; i++) {
        if (!ok[i]) bs__fan_local(f, i, BS_EUNAVAIL);
        else if (!tg[i].local) bs__fan_send(f, i, &tg[i].peer, BS_VERB_REPAIR_RAW, pay.data, pay.len, tmo);
    }
    for (size_t i = 0; i < n; i++)
        if (ok[i] && tg[i].local) bs__fan_local(f, i, apply_raw(c, t, all.r, all.n));
    bs__fan_wait(f, pred_all_done, NULL, deadline);
    pthread_mutex_lock(&f->lock);
    for (size_t i = 0; i < n && !rc; i++)
        if (ok[i] && (!f->calls[i].done || f->calls[i].status)) rc = BS_ETIMEDOUT;
    pthread_mutex_unlock(&f->lock);
    free(ok);
out:
    bs__fan_release(f);
    bs_buf_free(&pay);
    free(all.r);
    return rc;
}

/* ---- single-partition read -------------------------------------------- */

typedef struct contact {
    size_t slot;   /* placement slot */
    int data;      /* data (1) or digest (0) request */
} contact;

typedef struct rstate {
    const bs__placement *pl;
    const bs__req *req;
    size_t nreq;
    contact *ct;
    size_t nct;
    int received, blockfor, data_present;
    int numfailures; /* contacts of the unmet requirement that answered with an error */
} rstate;

static int read_met(bs__fan *f, void *ud) {
    rstate *r = ud;
    r->data_present = 0;
    for (size_t k = 0; k < r->nct; k++)
        if (r->ct[k].data && f->calls[k].done && !f->calls[k].status) r->data_present = 1;
    int met = 1;
    for (size_t q = 0; q < r->nreq; q++) {
        int got = 0, failed = 0;
        for (size_t k = 0; k < r->nct; k++) {
            if (!bs__req_match(&r->req[q], &r->pl->t[r->ct[k].slot]) || !f->calls[k].done) continue;
            if (!f->calls[k].status) got++;
            else if (bs__is_replica_failure(f->calls[k].status)) failed++;
        }
        if (got < r->req[q].need && met) {
            met = 0;
            r->received = got;
            r->blockfor = r->req[q].need;
            r->numfailures = failed;
        }
    }
    if (met) {
        r->numfailures = 0;
        r->received = r->blockfor = 0;
        for (size_t q = 0; q < r->nreq; q++) r->blockfor += r->req[q].need;
        r->received = r->blockfor;
    }
    return met && r->data_present;
}

/* Reads locally: the partition (into a) and its digest. */
static int local_read(bs_table *t, const bs_wire_read *rd, bs_arena *a, bs_partv **part,
                      uint8_t dg[16]) {
    int rc = bs_store_read(t, rd->token, rd->pk, rd->pk_len, &rd->slice, a, part);
    if (!rc) bs_wire_digest(*part, dg);
    return rc;
}

static void read_timeout(bs_coord *c, bs_exec_err *err, uint16_t cl, int received, int blockfor,
                         int data_present) {
    BS__INC(c->read_timeouts);
    err->code = BS_PROTO_ERR_READ_TIMEOUT;
    err->cl = cl;
    err->received = received;
    err->blockfor = blockfor;
    err->data_present = (uint8_t)(data_present ? 1 : 0);
    snprintf(err->msg, sizeof err->msg,
             "Operation timed out - received only %d responses (%d required) at %s", received, blockfor,
             bs__cl_name(cl));
}

/* Sends contact k of r (remote) through f. */
static void send_contact(bs__fan *f, size_t k, const rstate *r, const bs_buf *dpay,
                         const bs_buf *gpay, int64_t deadline) {
    const bs__target *tg = &r->pl->t[r->ct[k].slot];
    const bs_buf *p = r->ct[k].data ? dpay : gpay;
    f->calls[k].replica_read = 1;
    uint32_t tmo = (uint32_t)((deadline - bs_clock_mono_ns()) / 1000000);
    bs__fan_send(f, k, &tg->peer, BS_VERB_READ, p->data, p->len, tmo ? tmo : 1);
}

/* One coordinated single-partition read: what bs__coord_read's steps
 * share. */
typedef struct rctx {
    bs_coord *c;
    uint16_t cl;
    bs_arena *a;
    bs_exec_err *err;
    int64_t t0, deadline;
    char cf[200];
    bs_table *t; /* the local table, once looked up */
    bs__placement pl;
    bs__req req[BS__MAX_REQS];
    size_t nreq;
    contact ct[BS__MAX_TARGETS];
    bs_wire_read rd;
    bs_buf dpay, gpay; /* data and digest requests */
    bs__fan *f;
    rstate r;
    bs_partv *lpart; /* the local answer, when this node was contacted */
    uint8_t ldg[16];
    int lk; /* its contact index, or -1 */
} rctx;

static int read_oom(rctx *x) {
    x->err->code = BS_PROTO_ERR_SERVER;
    snprintf(x->err->msg, sizeof x->err->msg, "out of memory");
    return -1;
}

/* Unavailable when a requirement has too few live replicas; then the
 * replicas to contact, the first for data and the others for digests,
 * until every requirement can be met.  0 or -1 with err. */
static int read_contacts(rctx *x) {
    for (size_t q = 0; q < x->nreq; q++) {
        int alive = 0;
        for (size_t i = 0; i < x->pl.n; i++)
            alive += x->pl.t[i].alive && bs__req_match(&x->req[q], &x->pl.t[i]);
        if (alive < x->req[q].need) {
            bs__unavailable(x->c, x->err, x->cl, x->req[q].need, alive);
            return -1;
        }
    }
    size_t nct = 0;
    int got[BS__MAX_REQS] = {0};
    for (size_t i = 0; i < x->pl.n; i++) {
        if (!x->pl.t[i].alive) continue;
        int helps = 0, unmet = 0;
        for (size_t q = 0; q < x->nreq; q++) {
            if (got[q] < x->req[q].need && bs__req_match(&x->req[q], &x->pl.t[i])) helps = 1;
            if (got[q] < x->req[q].need) unmet = 1;
        }
        if (!unmet) break;
        if (!helps) continue;
        for (size_t q = 0; q < x->nreq; q++) got[q] += bs__req_match(&x->req[q], &x->pl.t[i]);
        x->ct[nct].slot = i;
        x->ct[nct].data = nct == 0;
        nct++;
    }
    x->r = (rstate){&x->pl, x->req, x->nreq, x->ct, nct, 0, 0, 0};
    return 0;
}

/* The only replica is this node (RF=1): no digest to compare, no replica
 * to retry on, so no payloads, digest or fan-out.  0 or -1 with err. */
static int read_local_only(rctx *x, bs_partv **out) {
    int lrc = BS_ENOTFOUND;
    if (!bs_store_table_get(x->c->store, x->cf, &x->t))
        lrc = bs_store_read(x->t, x->rd.token, x->rd.pk, x->rd.pk_len, &x->rd.slice, x->a, out);
    if (!lrc) return 0;
    BS_WARN(LOG, "local read of %s failed: %s", x->cf, bs_store_errmsg());
    int need = 0;
    for (size_t q = 0; q < x->nreq; q++) need += x->req[q].need;
    read_timeout(x->c, x->err, x->cl, 0, need, 0);
    return -1;
}

/* Sends the remote contacts their requests and reads locally when this
 * node is a contact.  0 or -1 with err. */
static int read_start(rctx *x) {
    if (bs_wire_read_encode(&x->rd, &x->dpay)) return read_oom(x);
    x->rd.digest_only = 1;
    if (bs_wire_read_encode(&x->rd, &x->gpay)) return read_oom(x);
    x->rd.digest_only = 0;
    x->f = bs__fan_new(x->c, x->pl.n); /* room for speculative contacts */
    if (!x->f) return read_oom(x);
    for (size_t k = 0; k < x->r.nct; k++)
        if (!x->pl.t[x->ct[k].slot].local)
            send_contact(x->f, k, &x->r, &x->dpay, &x->gpay, x->deadline);
    for (size_t k = 0; k < x->r.nct; k++)
        if (x->pl.t[x->ct[k].slot].local) {
            int lrc = BS_ENOTFOUND;
            if (!bs_store_table_get(x->c->store, x->cf, &x->t))
                lrc = local_read(x->t, &x->rd, x->a, &x->lpart, x->ldg);
            if (lrc) BS_WARN(LOG, "local read of %s failed: %s", x->cf, bs_store_errmsg());
            else x->lk = (int)k;
            bs__fan_local(x->f, k, lrc);
        }
    return 0;
}

/* Waits for the consistency level, with one speculative retry to a
 * replica not yet contacted when the answers are late.  1 when met. */
static int read_wait(rctx *x) {
    bs__fan *f = x->f;
    int64_t spec = bs__spec_delay_ms(x->c);
    if (spec >= 0 && x->r.nct < x->pl.n) {
        int64_t at = x->t0 + spec * 1000000;
        int met = bs__fan_wait(f, read_met, &x->r, at < x->deadline ? at : x->deadline);
        if (!met && bs_clock_mono_ns() < x->deadline) {
            size_t extra = SIZE_MAX;
            for (size_t i = 0; i < x->pl.n && extra == SIZE_MAX; i++) {
                int used = 0;
                for (size_t k = 0; k < x->r.nct; k++) used |= x->ct[k].slot == i;
                int helps = 0; /* LOCAL_*: never a replica of another DC */
                for (size_t q = 0; q < x->nreq; q++) helps |= bs__req_match(&x->req[q], &x->pl.t[i]);
                if (!used && helps && x->pl.t[i].alive && !x->pl.t[i].local) extra = i;
            }
            if (extra != SIZE_MAX) {
                pthread_mutex_lock(&f->lock);
                (void)read_met(f, &x->r); /* refreshes data_present */
                x->ct[x->r.nct].slot = extra;
                x->ct[x->r.nct].data = !x->r.data_present;
                x->r.nct++;
                pthread_mutex_unlock(&f->lock);
                BS__INC(x->c->spec_retries);
                send_contact(f, x->r.nct - 1, &x->r, &x->dpay, &x->gpay, x->deadline);
            }
        }
    }
    return bs__fan_wait(f, read_met, &x->r, x->deadline);
}

/* The data answer (*part, its digest dg, its contact *dk), whether any
 * digest that came in differs, and the replicas that answered (the
 * repair set rt, *nrt).  0, or -1 with err for an undecodable answer. */
static int read_compare(rctx *x, bs_partv **part, uint8_t dg[16], size_t *dk, int *mismatch,
                        bs__target *rt, size_t *nrt) {
    bs__fan *f = x->f;
    int rc = 0;
    *dk = SIZE_MAX;
    *mismatch = 0;
    *nrt = 0;
    pthread_mutex_lock(&f->lock);
    for (size_t k = 0; k < x->r.nct && *dk == SIZE_MAX; k++)
        if (x->ct[k].data && f->calls[k].done && !f->calls[k].status) *dk = k;
    if ((int)*dk == x->lk) {
        *part = x->lpart;
        memcpy(dg, x->ldg, 16);
    } else {
        char e[128];
        if (bs_wire_result_decode(f->calls[*dk].resp, f->calls[*dk].len, x->a, dg, part, e,
                                  sizeof e)) {
            x->err->code = BS_PROTO_ERR_SERVER;
            snprintf(x->err->msg, sizeof x->err->msg, "bad read answer from a replica: %s", e);
            rc = -1;
            goto unlock;
        }
    }
    for (size_t k = 0; k < x->r.nct; k++) {
        if (k == *dk || !f->calls[k].done || f->calls[k].status) continue;
        uint8_t od[16];
        if ((int)k == x->lk) {
            memcpy(od, x->ldg, 16);
        } else {
            bs_partv *ign;
            char e[128];
            if (bs_wire_result_decode(f->calls[k].resp, f->calls[k].len, x->a, od, &ign, e, sizeof e))
                memset(od, 0, 16);
        }
        if (memcmp(od, dg, 16)) *mismatch = 1;
    }
    for (size_t k = 0; k < x->r.nct; k++)
        if (f->calls[k].done && !f->calls[k].status) rt[(*nrt)++] = x->pl.t[x->ct[k].slot];
unlock:
    pthread_mutex_unlock(&f->lock);
    return rc;
}

/* After a repair: the data replica dt read again.  0 or -1 with err. */
static int read_again(rctx *x, const bs__target *dt, bs_partv **out) {
    uint8_t dg[16];
    if (dt->local) {
        if (!local_read(x->t, &x->rd, x->a, out, dg)) return 0;
        x->err->code = BS_PROTO_ERR_SERVER;
        snprintf(x->err->msg, sizeof x->err->msg, "read failed: %s", bs_store_errmsg());
        return -1;
    }
    bs__fan *f2 = bs__fan_new(x->c, 1);
    if (!f2) return read_oom(x);
    uint32_t tmo = (uint32_t)((x->deadline - bs_clock_mono_ns()) / 1000000);
    bs__fan_send(f2, 0, &dt->peer, BS_VERB_READ, x->dpay.data, x->dpay.len, tmo ? tmo : 1);
    bs__fan_wait(f2, pred_all_done, NULL, x->deadline);
    pthread_mutex_lock(&f2->lock);
    char e[128];
    int ok = f2->calls[0].done && !f2->calls[0].status &&
             !bs_wire_result_decode(f2->calls[0].resp, f2->calls[0].len, x->a, dg, out, e, sizeof e) &&
             *out;
    pthread_mutex_unlock(&f2->lock);
    bs__fan_release(f2);
    if (ok) return 0;
    read_timeout(x->c, x->err, x->cl, 0, 1, 0);
    return -1;
}

/* The answers differ: blocking read repair of every replica that
 * answered, then the data replica read again.  0 or -1 with err. */
static int read_repair_and_again(rctx *x, size_t dk, const bs__target *rt, size_t nrt,
                                 bs_partv **out) {
    BS__INC(x->c->read_repairs);
    if (!x->t && bs_store_table_get(x->c->store, x->cf, &x->t)) x->t = NULL;
    if (!x->t) {
        x->err->code = BS_PROTO_ERR_INVALID;
        snprintf(x->err->msg, sizeof x->err->msg, "unconfigured table %s", x->cf);
        return -1;
    }
    if (read_repair(x->c, x->t, &x->rd, rt, nrt, x->deadline, x->a)) {
        read_timeout(x->c, x->err, x->cl, 0, x->r.blockfor, 1);
        return -1;
    }
    return read_again(x, &x->pl.t[x->ct[dk].slot], out);
}

/* The level was not met: ReadTimeout, or ReadFailure when replicas
 * answered with an error.  -1. */
static int read_unmet(rctx *x) {
    read_timeout(x->c, x->err, x->cl, x->r.received, x->r.blockfor, x->r.data_present);
    if (x->r.numfailures) {
        x->err->code = BS_PROTO_ERR_READ_FAILURE;
        x->err->numfailures = x->r.numfailures;
        snprintf(x->err->msg, sizeof x->err->msg,
                 "Operation failed - received %d responses and %d failures (%d required) at "
                 "%s: a replica could not read its storage (see that node's log)",
                 x->r.received, x->r.numfailures, x->r.blockfor, bs__cl_name(x->cl));
    }
    return -1;
}

static int read_settle(rctx *x, int repair, bs_partv **out);

/* Steps of a read once placed: contacts, the RF=1 shortcut, requests,
 * the wait, the comparison and, on a mismatch, the repair. */
static int read_placed(rctx *x, bs_partv **out) {
    if (bs__cl_reqs(x->c, x->cl, &x->pl, 0, x->req, &x->nreq, x->err) || read_contacts(x))
        return -1;
    if (x->r.nct == 1 && x->pl.n == 1 && x->pl.t[x->ct[0].slot].local) return read_local_only(x, out);
    if (read_start(x)) return -1;
    if (!read_wait(x)) return read_unmet(x);
    return read_settle(x, 1, out);
}

/* Once the level is met: the data answer when every digest agrees; else
 * (repair set) the blocking repair and the data replica read again, or
 * (not set) 2.  0 with *out, or -1 with err. */
static int read_settle(rctx *x, int repair, bs_partv **out) {
    bs_partv *part = NULL;
    uint8_t dg[16];
    size_t dk, nrt;
    int mismatch;
    bs__target rt[BS__MAX_TARGETS];
    if (read_compare(x, &part, dg, &dk, &mismatch, rt, &nrt)) return -1;
    if (!mismatch) {
        BS_CQLTRACE("Read %zu rows at %s: %zu replicas answered, digests match", part ? part->nrows : 0,
                    bs__cl_name(x->cl), nrt);
        *out = part;
        return 0;
    }
    if (!repair) return 2;
    BS_CQLTRACE("Digest mismatch: repairing the partition on the %zu replicas that answered", nrt);
    int rc = read_repair_and_again(x, dk, rt, nrt, out);
    if (!rc) BS_CQLTRACE("Read repair of %zu replicas done; partition read again", nrt);
    return rc;
}

/* A zeroed x set up for one read of (token, pk) started at t0. */
static void rctx_init(rctx *x, bs_coord *c, const bs_table_schema *ts, int64_t token,
                      const void *pk, size_t pk_len, const bs_slice *sl, uint16_t cl, bs_arena *a,
                      bs_exec_err *err, int64_t t0) {
    x->c = c;
    x->cl = cl;
    x->a = a;
    x->err = err;
    x->t0 = t0;
    x->deadline = t0 + (int64_t)c->o.read_timeout_ms * 1000000;
    x->lk = -1;
    bs_buf_init(&x->dpay);
    bs_buf_init(&x->gpay);
    bs_table_cf_name(ts, x->cf, sizeof x->cf);
    x->rd.table_id = ts->id;
    x->rd.cf = x->cf;
    x->rd.token = token;
    x->rd.pk = pk;
    x->rd.pk_len = pk_len;
    if (sl) x->rd.slice = *sl;
    if (!x->rd.slice.now_s) x->rd.slice.now_s = bs__coord_now_s(c);
}

int bs__coord_read(void *ud, const bs_table_schema *ts, int64_t token, const void *pk,
                   size_t pk_len, const bs_slice *sl, uint16_t cl, bs_arena *a, bs_partv **out,
                   bs_exec_err *err) {
    bs_coord *c = ud;
    if (cl == BS_CL_SERIAL || cl == BS_CL_LOCAL_SERIAL)
        return bs__paxos_read(c, ts, token, pk, pk_len, sl, cl, a, out, err);
    int64_t t0 = bs_clock_mono_ns();
    if (cl < BS_COORD_NCL) BS__INC(c->reads[cl]);
    bs_schema *s = c->lbe.schema_get(c->lbe.ud);
    const bs_keyspace_schema *ks = bs_schema_keyspace(s, ts->keyspace);
    if (bs__is_traces_ks(ks)) {
        bs_schema_release(s);
        return bs__trace_read(c, ts, token, pk, pk_len, sl, a, out, err);
    }
    if (is_local_ks(ks)) {
        bs_schema_release(s);
        return c->lbe.read(c->lbe.ud, ts, token, pk, pk_len, sl, cl, a, out, err);
    }
    rctx *x = calloc(1, sizeof *x);
    int rc = -1;
    if (!x) {
        err->code = BS_PROTO_ERR_SERVER;
        snprintf(err->msg, sizeof err->msg, "out of memory");
        goto done;
    }
    rctx_init(x, c, ts, token, pk, pk_len, sl, cl, a, err, t0);
    BS_CQLTRACE("Executing single-partition query on %s", x->cf);
    if (bs__placement_get(c, ks, token, 0, &x->pl, err)) goto done;
    rc = read_placed(x, out);
    if (rc) BS_CQLTRACE("Read failed: %s", err->msg);
    bs__placement_done(c, &x->pl);
done:
    if (x) {
        bs__fan_release(x->f);
        bs_buf_free(&x->dpay);
        bs_buf_free(&x->gpay);
        free(x);
    }
    bs_schema_release(s);
    bs__hist_add(&c->read_lat, (uint64_t)(bs_clock_mono_ns() - t0) / 1000);
    return rc;
}

/* ---- asynchronous single-partition reads -------------------------------
 *
 * bs__coord_read_async takes the steps above on the caller's thread up
 * to the sends and the local replica's read; the fan then decides the
 * read (bs__fan_arm) on the thread of the answer that settles it.  The
 * speculative retry of a read still waiting after its delay is sent by
 * the timer thread (spec_main).  A digest mismatch is not repaired here,
 * since repairing blocks: the read answers 2 and its caller reads again
 * through bs__coord_read, which repairs.
 */

typedef struct aread {
    rctx x; /* x.err is &err, x.a the caller's arena */
    bs_exec_err err;
    bs_schema *s;
    bs_partv **out;
    void (*done)(void *dud, int rc, const bs_exec_err *err);
    void *dud;
    int64_t spec_at;
    int spec_open; /* a speculative retry may still come (fan lock) */
    /* under the timer's lock: references (the fan's ready, the timer's
     * list or its thread), whether ready ran, the list */
    int refs, finished, linked;
    struct aread *prev, *next;
} aread;

struct bs__spec {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    aread *head, *tail;
    int stop;
    pthread_t thread;
    int live;
};

static void aread_free(aread *ar) {
    bs_coord *c = ar->x.c;
    bs__placement_done(c, &ar->x.pl);
    bs__fan_release(ar->x.f);
    bs_buf_free(&ar->x.dpay);
    bs_buf_free(&ar->x.gpay);
    bs_schema_release(ar->s);
    free(ar);
}

static void aread_unref(aread *ar) {
    struct bs__spec *sp = ar->x.c->spec;
    pthread_mutex_lock(&sp->lock);
    int last = --ar->refs == 0;
    pthread_mutex_unlock(&sp->lock);
    if (last) aread_free(ar);
}

/* Timer's lock held. */
static void spec_unlink(struct bs__spec *sp, aread *ar) {
    if (ar->prev) ar->prev->next = ar->next;
    else sp->head = ar->next;
    if (ar->next) ar->next->prev = ar->prev;
    else sp->tail = ar->prev;
    ar->prev = ar->next = NULL;
    ar->linked = 0;
}

/* Fan lock held: the read's pred.  Met (1); waiting (0); or -1 when every
 * contact answered without meeting the level and no retry may come. */
static int aread_met(bs__fan *f, void *ud) {
    aread *ar = ud;
    if (read_met(f, &ar->x.r)) return 1;
    if (ar->spec_open) return 0;
    for (size_t k = 0; k < ar->x.r.nct; k++)
        if (!f->calls[k].done) return 0;
    return -1;
}

/* The speculative retry of a read still waiting: one more live replica
 * gets a request (data if no data answer has come); then no more. */
static void spec_fire(aread *ar) {
    rctx *x = &ar->x;
    bs__fan *f = x->f;
    size_t k = SIZE_MAX;
    pthread_mutex_lock(&f->lock);
    if (ar->spec_open && !read_met(f, &x->r)) { /* read_met refreshes data_present */
        for (size_t i = 0; i < x->pl.n && k == SIZE_MAX; i++) {
            int used = 0, helps = 0;
            for (size_t j = 0; j < x->r.nct; j++) used |= x->ct[j].slot == i;
            for (size_t q = 0; q < x->nreq; q++) helps |= bs__req_match(&x->req[q], &x->pl.t[i]);
            if (!used && helps && x->pl.t[i].alive && !x->pl.t[i].local) k = i;
        }
        if (k != SIZE_MAX) {
            x->ct[x->r.nct].slot = k;
            x->ct[x->r.nct].data = !x->r.data_present;
            k = x->r.nct++;
        }
    }
    ar->spec_open = 0;
    pthread_mutex_unlock(&f->lock);
    if (k != SIZE_MAX) {
        BS__INC(x->c->spec_retries);
        send_contact(f, k, &x->r, &x->dpay, &x->gpay, x->deadline);
    }
    bs__fan_poke(f); /* a failed send, or no retry: the read may be decided */
}

/* The outcome of a decided read (met: the level was): 0 with *out, -1
 * with err, or 2 (the answers differ: read again with repair). */
/* A digest mismatch (2) is read again through bs__coord_read, which
 * counts the read and its latency: not counted here too. */
static int aread_outcome(aread *ar, int met) {
    int rc = met ? read_settle(&ar->x, 0, ar->out) : read_unmet(&ar->x);
    if (rc == 2 && ar->x.cl < BS_COORD_NCL)
        atomic_fetch_sub_explicit(&ar->x.c->reads[ar->x.cl], 1, memory_order_relaxed);
    return rc;
}

/* The fan's ready (the thread whose answer decided the read). */
static void aread_ready(bs__fan *f, void *ud, int met) {
    (void)f;
    aread *ar = ud;
    bs_coord *c = ar->x.c;
    int rc = aread_outcome(ar, met);
    if (rc != 2) bs__hist_add(&c->read_lat, (uint64_t)(bs_clock_mono_ns() - ar->x.t0) / 1000);
    struct bs__spec *sp = c->spec;
    pthread_mutex_lock(&sp->lock);
    ar->finished = 1;
    if (ar->linked) {
        spec_unlink(sp, ar);
        ar->refs--;
    }
    pthread_mutex_unlock(&sp->lock);
    ar->done(ar->dud, rc, &ar->err);
    aread_unref(ar);
}

int bs__coord_read_async(void *ud, const bs_table_schema *ts, int64_t token, const void *pk,
                         size_t pk_len, const bs_slice *sl, uint16_t cl, bs_arena *a,
                         bs_partv **out, bs_exec_err *err,
                         void (*done)(void *dud, int rc, const bs_exec_err *err), void *dud) {
    bs_coord *c = ud;
    if (cl == BS_CL_SERIAL || cl == BS_CL_LOCAL_SERIAL || !c->spec) return 2; /* Paxos */
    bs_schema *s = c->lbe.schema_get(c->lbe.ud);
    const bs_keyspace_schema *ks = bs_schema_keyspace(s, ts->keyspace);
    if (bs__is_traces_ks(ks) || is_local_ks(ks)) {
        bs_schema_release(s);
        if (!is_local_ks(ks)) return 2;
        return c->lbe.read(c->lbe.ud, ts, token, pk, pk_len, sl, cl, a, out, err);
    }
    int64_t t0 = bs_clock_mono_ns();
    if (cl < BS_COORD_NCL) BS__INC(c->reads[cl]);
    aread *ar = calloc(1, sizeof *ar);
    if (!ar) {
        bs_schema_release(s);
        err->code = BS_PROTO_ERR_SERVER;
        snprintf(err->msg, sizeof err->msg, "out of memory");
        return -1;
    }
    rctx *x = &ar->x;
    ar->s = s;
    ar->out = out;
    ar->done = done;
    ar->dud = dud;
    rctx_init(x, c, ts, token, pk, pk_len, sl, cl, a, &ar->err, t0);
    int rc = -1;
    if (bs__placement_get(c, ks, token, 0, &x->pl, x->err)) goto now;
    if (bs__cl_reqs(c, cl, &x->pl, 0, x->req, &x->nreq, x->err) || read_contacts(x)) goto now;
    if (x->r.nct == 1 && x->pl.n == 1 && x->pl.t[x->ct[0].slot].local) {
        rc = read_local_only(x, out);
        goto now;
    }
    if (read_start(x)) goto now;
    int64_t spec = bs__spec_delay_ms(c);
    ar->spec_open = spec >= 0 && x->r.nct < x->pl.n;
    ar->spec_at = t0 + spec * 1000000;
    if (ar->spec_open && spec == 0) spec_fire(ar); /* ALWAYS: at once */
    int timed = ar->spec_open; /* read before arming: ready may free ar */
    ar->refs = timed ? 2 : 1;
    int met;
    if (!bs__fan_arm(x->f, aread_met, aread_ready, ar, &met)) {
        rc = aread_outcome(ar, met); /* decided already: ready will not run */
        goto now;
    }
    if (!timed) return 1; /* ar is ready's now */
    struct bs__spec *sp = c->spec;
    pthread_mutex_lock(&sp->lock);
    int last = 0, stopped = sp->stop && !ar->finished;
    if (ar->finished || sp->stop) {
        last = --ar->refs == 0;
    } else { /* by time from the tail: delays change slowly */
        aread *p = sp->tail;
        while (p && p->spec_at > ar->spec_at) p = p->prev;
        ar->prev = p;
        ar->next = p ? p->next : sp->head;
        if (ar->next) ar->next->prev = ar;
        else sp->tail = ar;
        if (p) p->next = ar;
        else sp->head = ar;
        ar->linked = 1;
        if (!p) pthread_cond_signal(&sp->cond);
    }
    if (stopped) ar->refs++; /* ours, for the poke below */
    pthread_mutex_unlock(&sp->lock);
    if (stopped) { /* no timer any more: decided without the retry */
        pthread_mutex_lock(&x->f->lock);
        ar->spec_open = 0;
        pthread_mutex_unlock(&x->f->lock);
        bs__fan_poke(x->f);
        aread_unref(ar);
    }
    if (last) aread_free(ar);
    return 1;
now:
    if (rc) *err = ar->err;
    if (rc != 2) bs__hist_add(&c->read_lat, (uint64_t)(bs_clock_mono_ns() - t0) / 1000);
    aread_free(ar);
    return rc;
}

static void *spec_main(void *arg) {
    bs_coord *c = arg;
    struct bs__spec *sp = c->spec;
    pthread_mutex_lock(&sp->lock);
    while (!sp->stop) {
        aread *ar = sp->head;
        if (!ar) {
            pthread_cond_wait(&sp->cond, &sp->lock);
            continue;
        }
        if (ar->spec_at > bs_clock_mono_ns()) {
            struct timespec ts = {(time_t)(ar->spec_at / 1000000000),
                                  (long)(ar->spec_at % 1000000000)};
            pthread_cond_timedwait(&sp->cond, &sp->lock, &ts);
            continue;
        }
        spec_unlink(sp, ar); /* its list reference is ours now */
        pthread_mutex_unlock(&sp->lock);
        spec_fire(ar);
        aread_unref(ar);
        pthread_mutex_lock(&sp->lock);
    }
    pthread_mutex_unlock(&sp->lock);
    return NULL;
}

int bs__spec_start(bs_coord *c) {
    struct bs__spec *sp = calloc(1, sizeof *sp);
    if (!sp) return BS_ENOMEM;
    pthread_mutex_init(&sp->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&sp->cond, &ca);
    pthread_condattr_destroy(&ca);
    c->spec = sp; /* before the thread, which reads it */
    if (pthread_create(&sp->thread, NULL, spec_main, c)) return BS_ENOMEM; /* freed by bs_coord_free */
    sp->live = 1;
    return 0;
}

/* After the CQL server stopped (no read starts any more).  Reads still
 * waiting for their retry are decided without it; the structure stays
 * (their ready takes its lock) until bs_coord_free. */
void bs__spec_stop(bs_coord *c) {
    struct bs__spec *sp = c->spec;
    if (!sp || !sp->live) return;
    pthread_mutex_lock(&sp->lock);
    sp->stop = 1;
    pthread_cond_signal(&sp->cond);
    pthread_mutex_unlock(&sp->lock);
    pthread_join(sp->thread, NULL);
    sp->live = 0;
    for (;;) {
        pthread_mutex_lock(&sp->lock);
        aread *ar = sp->head;
        if (ar) spec_unlink(sp, ar);
        pthread_mutex_unlock(&sp->lock);
        if (!ar) break;
        pthread_mutex_lock(&ar->x.f->lock);
        ar->spec_open = 0;
        pthread_mutex_unlock(&ar->x.f->lock);
        bs__fan_poke(ar->x.f);
        aread_unref(ar);
    }
}

void bs__spec_free(bs_coord *c) {
    struct bs__spec *sp = c->spec;
    if (!sp) return;
    pthread_mutex_destroy(&sp->lock);
    pthread_cond_destroy(&sp->cond);
    free(sp);
    c->spec = NULL;
}

/* ---- range scans ------------------------------------------------------- */

typedef struct fwd {
    bs_part_cb cb;
    void *ud;
    int stopped;
    size_t n; /* partitions forwarded */
} fwd;

static int fwd_cb(void *ud, const bs_partv *p) {
    fwd *w = ud;
    w->n++;
    int r = w->cb(w->ud, p);
    if (r > 0) w->stopped = 1;
    return r;
}

/* ---- range scans at levels above ONE ------------------------------------
 *
 * One vnode piece, read from nct contacts (enough live replicas for the
 * level, chosen as for a single-partition read) in rounds:
 *   1. Every contact gets the same RANGE_READ (same cursor, slice and
 *      now_s, range_page partitions); the local one is read on this thread
 *      into the same encoding.  All must answer before range_timeout_ms,
 *      else ReadTimeout (received = answers, blockfor = nct).
 *   2. Boundary: a contact that filled its page (more) may hold partitions
 *      after its last one that others already sent; only partitions up to
 *      the smallest such last key are complete everywhere this round.
 *   3. Merge in key order (token, pk length, pk bytes: the store's order).
 *      A partition all contacts returned with equal digests is forwarded;
 *      once one differs (or is missing somewhere) nothing more is forwarded
 *      this round and every differing partition is read-repaired on all
 *      contacts (read_repair: raw records, LWW union with tombstones,
 *      REPAIR_RAW, acks).  A repair that fails is a ReadTimeout.
 *   4. The next round resumes after the last partition forwarded (the same
 *      cursor when none was): after a repair the same partitions are read
 *      again and now agree, so what goes out is what the repaired contacts
 *      hold.  More than BS__SCAN_REPAIRS rounds in a row that repaired
 *      and could answer nothing (writes racing the scan keep the first
 *      partition differing) are a ReadTimeout.
 */

#define BS__SCAN_REPAIRS 4

static int range_page(bs_table *t, const bs_wire_scan *ws, bs_buf *out);

static int part_key_cmp(const bs_partv *a, const bs_partv *b) {
    if (a->token != b->token) return a->token < b->token ? -1 : 1;
    if (a->pk_len != b->pk_len) return a->pk_len < b->pk_len ? -1 : 1;
    return a->pk_len ? memcmp(a->pk, b->pk, a->pk_len) : 0;
}

/* One contact's page of a round. */
typedef struct cpage {
    bs_partv **parts;
    size_t np, pos;
    int more;
} cpage;

typedef struct scanround {
    bs_coord *c;
    const bs__target *ct; /* contacts */
    size_t nct;
    bs_table *t;
    uint16_t cl;
    bs_exec_err *err;
    /* the first round's requests to the remote contacts, already sent by
     * the read-ahead (calls indexed like ct), or NULL; round_fetch takes it */
    bs__fan *pre;
} scanround;

/* Step 1: fetch a page from every contact into pg[] (arena memory).
 * 0 or -1 with err. */
static int round_fetch(scanround *r, const bs_wire_scan *ws, bs_arena *a, cpage *pg) {
    bs_buf pay = BS_BUF_INIT, loc = BS_BUF_INIT;
    bs__fan *f = r->pre;
    int sent = f != NULL;
    r->pre = NULL;
    if (!f) f = bs__fan_new(r->c, r->nct);
    if (!f || (!sent && bs_wire_scan_encode(ws, &pay))) {
        bs__fan_release(f);
        bs_buf_free(&pay);
        r->err->code = BS_PROTO_ERR_SERVER;
        snprintf(r->err->msg, sizeof r->err->msg, "out of memory");
        return -1;
    }
    int64_t deadline = bs_clock_mono_ns() + (int64_t)r->c->o.range_timeout_ms * 1000000;
    size_t lk = SIZE_MAX;
    for (size_t k = 0; k < r->nct && !sent; k++)
        if (!r->ct[k].local)
            bs__fan_send(f, k, &r->ct[k].peer, BS_VERB_RANGE_READ, pay.data, pay.len, r->c->o.range_timeout_ms);
    for (size_t k = 0; k < r->nct; k++)
        if (r->ct[k].local) {
            int lrc = r->t ? range_page(r->t, ws, &loc) : BS_ENOTFOUND;
            if (lrc) BS_WARN(LOG, "local range read of %s failed: %s", ws->read.cf, bs_store_errmsg());
            else lk = k;
            bs__fan_local(f, k, lrc);
        }
    bs__fan_wait(f, pred_all_done, NULL, deadline);
    int received = 0;
    pthread_mutex_lock(&f->lock);
    for (size_t k = 0; k < r->nct; k++) {
        char e[128];
        const void *p = k == lk ? (const void *)loc.data : f->calls[k].resp;
        size_t len = k == lk ? loc.len : f->calls[k].len;
        memset(&pg[k], 0, sizeof pg[k]);
        if (k != lk && (!f->calls[k].done || f->calls[k].status)) continue;
        if (bs_wire_scanres_decode(p, len, a, &pg[k].more, &pg[k].parts, &pg[k].np, e, sizeof e)) {
            BS_WARN(LOG, "bad RANGE_READ answer from %s: %s", r->ct[k].peer.addr, e);
            continue;
        }
        received++;
    }
    pthread_mutex_unlock(&f->lock);
    bs__fan_release(f);
    bs_buf_free(&pay);
    bs_buf_free(&loc);
    if (received == (int)r->nct) return 0;
    read_timeout(r->c, r->err, r->cl, received, (int)r->nct, received > 0);
    return -1;
}

/* Step 2: the last key every contact has answered for, or NULL (all
 * complete). */
static const bs_partv *round_boundary(const cpage *pg, size_t nct) {
    const bs_partv *b = NULL;
    for (size_t k = 0; k < nct; k++)
        if (pg[k].more && pg[k].np) {
            const bs_partv *l = pg[k].parts[pg[k].np - 1];
            if (!b || part_key_cmp(l, b) < 0) b = l;
        }
    return b;
}

/* Read repair of one partition on every contact.  0 or -1 with err. */
static int round_repair(scanround *r, const bs_wire_scan *ws, const bs_partv *p, bs_arena *a) {
    BS__INC(r->c->read_repairs);
    if (!r->t) {
        r->err->code = BS_PROTO_ERR_INVALID;
        snprintf(r->err->msg, sizeof r->err->msg, "unconfigured table %s", ws->read.cf);
        return -1;
    }
    bs_wire_read rd = ws->read;
    rd.token = p->token;
    rd.pk = p->pk;
    rd.pk_len = p->pk_len;
    rd.digest_only = 0;
    int64_t deadline = bs_clock_mono_ns() + (int64_t)r->c->o.read_timeout_ms * 1000000;
    if (!read_repair(r->c, r->t, &rd, r->ct, r->nct, deadline, a)) return 0;
    read_timeout(r->c, r->err, r->cl, 0, (int)r->nct, 1);
    return -1;
}

/* Sets ws's cursor after partition p (a copy in *own, freed by caller). */
static int cursor_after(bs_wire_scan *ws, const bs_partv *p, uint8_t **own) {
    uint8_t *k = malloc(p->pk_len ? p->pk_len : 1);
    if (!k) return BS_ENOMEM;
    memcpy(k, p->pk, p->pk_len);
    free(*own);
    *own = k;
    ws->has_cursor = 1;
    ws->cursor_token = p->token;
    ws->cursor_pk = k;
    ws->cursor_pk_len = p->pk_len;
    ws->has_cursor_ck = 0;
    ws->cursor_ck = NULL;
    ws->cursor_ck_len = 0;
    return 0;
}

/* Step 3 for one round: forwards agreed partitions up to the boundary
 * until the first disagreement, then repairs the disagreeing ones.
 * *last: the last partition forwarded (or NULL); *repaired: how many
 * were repaired.  0 or -1 with err. */
static int round_merge(scanround *r, const bs_wire_scan *ws, cpage *pg, const bs_partv *bound,
                       fwd *w, bs_arena *a, const bs_partv **last, int *repaired) {
    *last = NULL;
    *repaired = 0;
    int differ = 0;
    for (;;) {
        const bs_partv *min = NULL;
        for (size_t k = 0; k < r->nct; k++)
            if (pg[k].pos < pg[k].np && (!min || part_key_cmp(pg[k].parts[pg[k].pos], min) < 0))
                min = pg[k].parts[pg[k].pos];
        if (!min || (bound && part_key_cmp(min, bound) > 0)) break;
        uint8_t d0[16], d[16];
        size_t have = 0;
        int same = 1;
        for (size_t k = 0; k < r->nct; k++) {
            if (pg[k].pos >= pg[k].np || part_key_cmp(pg[k].parts[pg[k].pos], min)) continue;
            bs_wire_digest(pg[k].parts[pg[k].pos], have ? d : d0);
            if (have && memcmp(d, d0, 16)) same = 0;
            have++;
        }
        if (have != r->nct) same = 0;
        if (same && !differ) {
            int cr = fwd_cb(w, min);
            if (cr < 0) {
                r->err->code = BS_PROTO_ERR_SERVER;
                snprintf(r->err->msg, sizeof r->err->msg, "range read failed: %s", bs_strerror(cr));
                return -1;
            }
            *last = min;
        } else if (!same) {
            differ = 1;
            if (round_repair(r, ws, min, a)) return -1;
            (*repaired)++;
        }
        for (size_t k = 0; k < r->nct; k++)
            if (pg[k].pos < pg[k].np && !part_key_cmp(pg[k].parts[pg[k].pos], min)) pg[k].pos++;
        if (w->stopped) break;
    }
    return 0;
}

/* Scans (lo, hi] on contacts ct[0..nct) at level cl (see above). */
/* The first RANGE_READ of piece (lo, hi] (sc's slice must carry now_s,
 * so every round and the read-ahead send equal requests). */
static void piece_ws(bs_coord *c, const char *cf, const bs_table_schema *ts, const bs_scan *sc,
                     int64_t lo, int64_t hi, int with_cursor, bs_wire_scan *ws) {
    memset(ws, 0, sizeof *ws);
    ws->read.table_id = ts->id;
    ws->read.cf = cf;
    if (sc->slice) ws->read.slice = *sc->slice;
    if (!ws->read.slice.now_s) ws->read.slice.now_s = bs__coord_now_s(c);
    ws->start = lo;
    ws->end = hi;
    ws->max_parts = c->o.range_page ? c->o.range_page : 1;
    if (with_cursor) {
        ws->has_cursor = 1;
        ws->cursor_token = sc->cursor_token;
        ws->cursor_pk = sc->cursor_pk;
        ws->cursor_pk_len = sc->cursor_pk_len;
        ws->has_cursor_ck = sc->has_cursor_ck;
        ws->cursor_ck = sc->cursor_ck;
        ws->cursor_ck_len = sc->cursor_ck_len;
    }
}

static int scan_piece_cl(scanround *r, const char *cf, const bs_table_schema *ts, const bs_scan *sc,
                         int64_t lo, int64_t hi, int with_cursor, fwd *w) {
    bs_wire_scan ws;
    piece_ws(r->c, cf, ts, sc, lo, hi, with_cursor, &ws);
    cpage *pg = calloc(r->nct, sizeof *pg);
    uint8_t *own = NULL;
    bs_arena a;
    bs_arena_init(&a, 0);
    int rc = pg ? 0 : BS_ENOMEM, repairs = 0;
    while (!rc && !w->stopped) {
        bs_arena_reset(&a);
        if (round_fetch(r, &ws, &a, pg)) {
            rc = -1;
            break;
        }
        const bs_partv *bound = round_boundary(pg, r->nct), *last;
        int repaired;
        if ((rc = round_merge(r, &ws, pg, bound, w, &a, &last, &repaired))) break;
        if (w->stopped) break;
        /* rounds that repaired and could answer nothing: the same page
         * keeps differing (writes racing the scan) */
        repairs = repaired && !last ? repairs + 1 : 0;
        if (repairs > BS__SCAN_REPAIRS) {
            read_timeout(r->c, r->err, r->cl, 0, (int)r->nct, 1);
            rc = -1;
            break;
        }
        if (!repaired && !bound) break; /* the piece is done */
        if (repaired && !last) continue;  /* same cursor, repaired data */
        if ((rc = cursor_after(&ws, repaired ? last : bound, &own))) break;
    }
    bs__fan_release(r->pre); /* not taken (out of memory) */
    r->pre = NULL;
    free(own);
    free(pg);
    bs_arena_free(&a);
    if (rc == BS_ENOMEM) {
        r->err->code = BS_PROTO_ERR_SERVER;
        snprintf(r->err->msg, sizeof r->err->msg, "out of memory");
    }
    return rc ? -1 : 0;
}

/* The contacts of one vnode for requirements req: walking the live
 * replicas in proximity order, each taken while it helps an unmet
 * requirement.  0, or -1 with Unavailable in err. */
static int scan_contacts(bs_coord *c, const bs__target *tg, size_t n, const bs__req *req,
                         size_t nreq, uint16_t cl, bs__target *out, size_t *nct, bs_exec_err *err) {
    for (size_t q = 0; q < nreq; q++) {
        int alive = 0;
        for (size_t i = 0; i < n; i++) alive += tg[i].alive && bs__req_match(&req[q], &tg[i]);
        if (alive < req[q].need) {
            bs__unavailable(c, err, cl, req[q].need, alive);
            return -1;
        }
    }
    int got[BS__MAX_REQS] = {0};
    *nct = 0;
    for (size_t i = 0; i < n; i++) {
        if (!tg[i].alive) continue;
        int helps = 0, unmet = 0;
        for (size_t q = 0; q < nreq; q++) {
            if (got[q] < req[q].need && bs__req_match(&req[q], &tg[i])) helps = 1;
            if (got[q] < req[q].need) unmet = 1;
        }
        if (!unmet) break;
        if (!helps) continue;
        for (size_t q = 0; q < nreq; q++) got[q] += bs__req_match(&req[q], &tg[i]);
        out[(*nct)++] = tg[i];
    }
    return 0;
}

/* ---- the scan: pieces in token order, with read-ahead ---------------------
 *
 * Concurrency factor (as Cassandra's range reads): a piece's first
 * RANGE_READ to its remote contacts may already have been sent while
 * earlier pieces were read, at every level: at ONE / LOCAL_ONE the piece's
 * one replica when it is remote, above ONE its remote contacts.  The
 * factor k (pieces in the read-ahead window, the one being read included;
 * a piece read from this node's own store takes a place in the window but
 * sends nothing) starts at 1 and doubles, up to range_concurrency_max (at
 * most BS__SCAN_AHEAD_MAX), each time a piece ends without filling the
 * caller's page and with fewer than range_page partitions: sparse ranges
 * (or a small table) then cost one round trip per k pieces, not per
 * piece.  The answers are still consumed piece by piece in token order,
 * so rows go out in token order and a paging cursor resumes exactly
 * where the caller's page ended.  A request sent ahead for a piece the
 * scan never reaches (the caller's page filled) is dropped.  Every
 * request of one scan carries the same now_s, so read-ahead answers and
 * later rounds compare by digest exactly as before.
 */

#define BS__SCAN_AHEAD_MAX 16

typedef struct ahead_ent {
    int64_t lo, hi;
    bs__fan *f; /* NULL: nothing sent (a local piece) */
    size_t nct;
    bs_uuid host[BS__MAX_TARGETS];
} ahead_ent;

typedef struct scanctx {
    bs_coord *c;
    const bs_table_schema *ts;
    const char *cf;
    const bs_scan *sc; /* with now_s set */
    uint16_t cl;
    bs__placement *pl;
    const bs_ring_snapshot *snap;
    bs__req req[BS__MAX_REQS];
    size_t nreq;
    int need;
    bs_exec_err *err;
    ahead_ent q[BS__SCAN_AHEAD_MAX];
    size_t qh, qn; /* queue head and length */
    int k;         /* concurrency factor */
    const bs_visit *visit; /* a visit: local pieces are visited in the store */
    struct pplan *pp;      /* remote pieces asked as partial visits, or NULL */
} scanctx;

/* The piece that starts at pos: vnode *v, end *sub (<= hi).  0 or -1. */
static int piece_at(scanctx *x, int64_t pos, int64_t hi, size_t *v, int64_t *sub) {
    int64_t tok;
    uint32_t owner;
    if (bs_ring_snapshot_vnode_of(x->snap, pos + 1, v) ||
        bs_ring_snapshot_token_at(x->snap, *v, &tok, &owner)) {
        x->err->code = BS_PROTO_ERR_SERVER;
        snprintf(x->err->msg, sizeof x->err->msg, "the ring has no tokens");
        return -1;
    }
    int64_t e = tok >= pos + 1 ? tok : INT64_MAX;
    *sub = e < hi ? e : hi;
    return 0;
}

/* The replica a piece of vnode v is read from at ONE / LOCAL_ONE (need
 * 1): the first live one in proximity order (this node when it is one)
 * that matches the level's requirement.  0, or -1 when none is alive. */
static int one_pick(scanctx *x, size_t v, bs__target *out) {
    bs__target tg[BS__MAX_TARGETS];
    size_t n = 0;
    bs__vnode_targets(x->c, x->pl, v, tg, &n);
    for (size_t i = 0; i < n; i++)
        if (tg[i].alive && (!x->nreq || bs__req_match(&x->req[0], &tg[i]))) {
            *out = tg[i];
            return 0;
        }
    return -1;
}

/* The contacts of vnode v's pieces at the scan's level.  0 or -1 with
 * *err (Unavailable). */
static int piece_contacts(scanctx *x, size_t v, bs__target *ct, size_t *nct, bs_exec_err *err) {
    if (x->need <= 1) {
        *nct = 1;
        if (!one_pick(x, v, ct)) return 0;
        bs__unavailable(x->c, err, x->cl, 1, 0);
        return -1;
    }
    bs__target tg[BS__MAX_TARGETS];
    size_t n = 0;
    bs__vnode_targets(x->c, x->pl, v, tg, &n);
    return scan_contacts(x->c, tg, n, x->req, x->nreq, x->cl, ct, nct, err);
}

static void ahead_drop_all(scanctx *x) {
    for (; x->qn; x->qn--, x->qh = (x->qh + 1) % BS__SCAN_AHEAD_MAX)
        bs__fan_release(x->q[x->qh].f);
}

/* Sends the first round of piece (lo, hi] to its remote contacts ct
 * (none when ct is this node alone: the entry only holds its place). */
static void ahead_send(scanctx *x, int64_t lo, int64_t hi, const bs__target *ct, size_t nct) {
    size_t remote = 0;
    for (size_t k = 0; k < nct; k++) remote += !ct[k].local;
    bs__fan *f = NULL;
    if (remote) {
        bs_wire_scan ws;
        piece_ws(x->c, x->cf, x->ts, x->sc, lo, hi, 0, &ws);
        bs_buf pay = BS_BUF_INIT;
        f = bs__fan_new(x->c, nct);
        if (!f || bs_wire_scan_encode(&ws, &pay)) {
            bs__fan_release(f);
            bs_buf_free(&pay);
            return; /* the piece is read normally */
        }
        for (size_t k = 0; k < nct; k++)
            if (!ct[k].local)
                bs__fan_send(f, k, &ct[k].peer, BS_VERB_RANGE_READ, pay.data, pay.len,
                             x->c->o.range_timeout_ms);
        bs_buf_free(&pay);
    }
    ahead_ent *e = &x->q[(x->qh + x->qn) % BS__SCAN_AHEAD_MAX];
    e->lo = lo;
    e->hi = hi;
    e->f = f;
    e->nct = nct;
    for (size_t k = 0; k < nct; k++) e->host[k] = ct[k].host;
    x->qn++;
}

/* Read-ahead: the first rounds of the pieces after (pos, sub] in (.., hi],
 * until k pieces (this one included) are in flight. */
static void ahead_fill(scanctx *x, int64_t sub, int64_t hi) {
    int64_t pos = x->qn ? x->q[(x->qh + x->qn - 1) % BS__SCAN_AHEAD_MAX].hi : sub;
    bs_exec_err ignore;
    bs_exec_err *keep = x->err;
    x->err = &ignore;
    while ((int)x->qn + 1 < x->k && pos < hi) {
        size_t v;
        int64_t end;
        if (piece_at(x, pos, hi, &v, &end)) break;
        bs__target ct[BS__MAX_TARGETS];
        size_t nct = 0;
        if (piece_contacts(x, v, ct, &nct, &ignore)) break;
        ahead_send(x, pos, end, ct, nct);
        pos = end;
    }
    x->err = keep;
}

/* Takes the queue's head entry when it is piece (lo, hi] for contacts
 * ct; returns its requests (NULL: nothing was sent or nothing queued). */
static bs__fan *ahead_take(scanctx *x, int64_t lo, int64_t hi, const bs__target *ct, size_t nct) {
    if (!x->qn) return NULL;
    ahead_ent *e = &x->q[x->qh];
    int same = e->lo == lo && e->hi == hi && e->nct == nct;
    for (size_t k = 0; same && k < nct; k++) same = !memcmp(e->host[k].b, ct[k].host.b, 16);
    if (!same) { /* the ring or liveness changed: start again */
        ahead_drop_all(x);
        return NULL;
    }
    x->qh = (x->qh + 1) % BS__SCAN_AHEAD_MAX;
    x->qn--;
    return e->f;
}

/* After a piece that forwarded w->n - before partitions: a short piece
 * (fewer than range_page, the caller's page not full) doubles k. */
static void factor_grow(scanctx *x, const fwd *w, size_t before) {
    int max = x->c->o.range_ahead_max < BS__SCAN_AHEAD_MAX ? (int)x->c->o.range_ahead_max
                                                             : BS__SCAN_AHEAD_MAX;
    if (!w->stopped && w->n - before < x->c->o.range_page && x->k < max) {
        x->k = x->k * 2 < max ? x->k * 2 : max; /* read more pieces at once */
        BS_CQLTRACE("Range scan concurrency factor now %d", x->k);
    }
}

/* One piece at a level above ONE.  0 or -1 with err. */
static int scan_one_cl(scanctx *x, scanround *sr, size_t v, int64_t pos, int64_t sub, int64_t hi,
                       int with_cursor, fwd *w) {
    bs__target ct[BS__MAX_TARGETS];
    size_t nct = 0;
    if (piece_contacts(x, v, ct, &nct, x->err)) return -1;
    sr->ct = ct;
    sr->nct = nct;
    sr->pre = with_cursor ? NULL : ahead_take(x, pos, sub, ct, nct);
    size_t before = w->n;
    ahead_fill(x, sub, hi);
    if (scan_piece_cl(sr, x->cf, x->ts, x->sc, pos, sub, with_cursor, w)) return -1;
    factor_grow(x, w, before);
    return 0;
}

/* ---- pieces at ONE / LOCAL_ONE --------------------------------------- */

/* Reads (lo, hi] from this node's store.  0 or -1 with err. */
static int scan_piece_local(scanctx *x, bs_table *t, int64_t lo, int64_t hi, int with_cursor,
                            fwd *w) {
    bs_scan p;
    memset(&p, 0, sizeof p);
    p.start_token = lo;
    p.end_token = hi;
    p.slice = x->sc->slice;
    if (with_cursor) {
        const bs_scan *sc = x->sc;
        p.has_cursor = 1;
        p.cursor_token = sc->cursor_token;
        p.cursor_pk = sc->cursor_pk;
        p.cursor_pk_len = sc->cursor_pk_len;
        p.has_cursor_ck = sc->has_cursor_ck;
        p.cursor_ck = sc->cursor_ck;
        p.cursor_ck_len = sc->cursor_ck_len;
    }
    int rc = t ? bs_store_scan(t, &p, fwd_cb, w) : BS_ENOTFOUND;
    if (rc < 0 && !w->stopped) {
        x->err->code = rc == BS_ENOTFOUND ? BS_PROTO_ERR_INVALID : BS_PROTO_ERR_SERVER;
        snprintf(x->err->msg, sizeof x->err->msg, "scan failed: %s", bs_store_errmsg());
        return -1;
    }
    return 0;
}

/* A visit's piece (lo, hi] of this node's store, row by row (nothing
 * is materialised).  0 or -1 with err. */
static int visit_piece_local(scanctx *x, bs_table *t, int64_t lo, int64_t hi, fwd *w) {
    bs_scan p;
    memset(&p, 0, sizeof p);
    p.start_token = lo;
    p.end_token = hi;
    p.slice = x->sc->slice;
    int rc = t ? bs_store_visit(t, &p, x->visit) : BS_ENOTFOUND;
    if (rc > 0) w->stopped = 1;
    if (rc < 0) {
        x->err->code = rc == BS_ENOTFOUND ? BS_PROTO_ERR_INVALID : BS_PROTO_ERR_SERVER;
        snprintf(x->err->msg, sizeof x->err->msg, "scan failed: %s", bs_store_errmsg());
        return -1;
    }
    return 0;
}

/* Waits for the RANGE_READ answer of f (call 0; f is released) and
 * forwards its partitions (decoded into a).  *last: the last partition
 * of the page (NULL if empty); *more: the replica has more.  0 or a
 * BS_E code (BS_ETIMEDOUT, BS_ECORRUPT, or the callback's). */
static int piece_page(scanctx *x, bs__fan *f, bs_arena *a, fwd *w, const bs_partv **last,
                      int *more) {
    int64_t deadline = bs_clock_mono_ns() + (int64_t)x->c->o.range_timeout_ms * 1000000;
    bs__fan_wait(f, pred_all_done, NULL, deadline);
    bs_partv **parts = NULL;
    size_t np = 0;
    int rc = 0;
    char e[128];
    *more = 0;
    *last = NULL;
    pthread_mutex_lock(&f->lock);
    if (!f->calls[0].done || f->calls[0].status) rc = BS_ETIMEDOUT;
    else if (bs_wire_scanres_decode(f->calls[0].resp, f->calls[0].len, a, more, &parts, &np, e,
                                    sizeof e))
        rc = BS_ECORRUPT;
    pthread_mutex_unlock(&f->lock);
    bs__fan_release(f);
    for (size_t i = 0; !rc && i < np && !w->stopped; i++) {
        int r = fwd_cb(w, parts[i]);
        if (r < 0) rc = r;
    }
    if (np) *last = parts[np - 1];
    return rc;
}

/* Reads (lo, hi] from remote replica tg, range_page partitions a request,
 * each resuming after the previous page's last partition.  pre: the first
 * request, already sent by the read-ahead (taken over), or NULL.  0 or -1
 * with err. */
static int scan_piece_remote(scanctx *x, const bs__target *tg, int64_t lo, int64_t hi,
                             int with_cursor, bs__fan *pre, fwd *w) {
    bs_coord *c = x->c;
    bs_wire_scan ws;
    piece_ws(c, x->cf, x->ts, x->sc, lo, hi, with_cursor, &ws);
    bs_arena a;
    bs_arena_init(&a, 0);
    bs_buf pay = BS_BUF_INIT;
    uint8_t *own = NULL;
    int rc = 0;
    for (;;) {
        bs__fan *f = pre;
        pre = NULL;
        if (!f) {
            bs_buf_reset(&pay);
            f = bs__fan_new(c, 1);
            if (!f || bs_wire_scan_encode(&ws, &pay)) {
                bs__fan_release(f);
                rc = BS_ENOMEM;
                break;
            }
            bs__fan_send(f, 0, &tg->peer, BS_VERB_RANGE_READ, pay.data, pay.len,
                         c->o.range_timeout_ms);
        }
        bs_arena_reset(&a);
        const bs_partv *last;
        int more;
        rc = piece_page(x, f, &a, w, &last, &more);
        if (rc || w->stopped || !more || !last) break;
        if ((rc = cursor_after(&ws, last, &own))) break; /* resume after it */
    }
    free(own);
    bs_buf_free(&pay);
    bs_arena_free(&a);
    if (rc == BS_ETIMEDOUT || rc == BS_ECORRUPT) {
        BS__INC(c->read_timeouts);
        x->err->code = BS_PROTO_ERR_READ_TIMEOUT;
        x->err->received = 0;
        x->err->blockfor = 1;
        snprintf(x->err->msg, sizeof x->err->msg, "range read from %s failed", tg->peer.addr);
        return -1;
    }
    if (rc < 0 && !w->stopped) {
        x->err->code = BS_PROTO_ERR_SERVER;
        snprintf(x->err->msg, sizeof x->err->msg, "range read failed: %s", bs_strerror(rc));
        return -1;
    }
    return 0;
}

/* ---- partial visits ------------------------------------------------------
 *
 * A visit at ONE that can be run on the replicas (bs_visit.partial): the
 * remote pieces are grouped by the replica chosen for each, and each
 * replica is sent one PARTIAL request naming its pieces, before the walk
 * starts, so the replicas visit their pieces while this node visits its
 * own.  The walk skips the pieces asked (pp_asked); their answers are
 * merged after it.  A replica that fails (timeout, error, an answer the
 * visitor cannot merge) has its pieces read whole, as without partial
 * visits. */

typedef struct ppeer {
    bs__target tg;
    int64_t *lo, *hi;
    size_t n, cap;
} ppeer;

typedef struct pplan {
    ppeer *p;
    size_t np;
    bs__fan *f;
    int64_t *alo, *ahi; /* every piece asked, in walk order */
    size_t na, acap, next;
} pplan;

static int pp_push(int64_t **lo, int64_t **hi, size_t *n, size_t *cap, int64_t a, int64_t b) {
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 16;
        int64_t *nl = realloc(*lo, nc * sizeof *nl);
        if (!nl) return -1;
        *lo = nl;
        int64_t *nh = realloc(*hi, nc * sizeof *nh);
        if (!nh) return -1;
        *hi = nh;
        *cap = nc;
    }
    (*lo)[*n] = a;
    (*hi)[(*n)++] = b;
    return 0;
}

/* The walk reaches piece (lo, hi]: 1 if it was asked of its replica. */
static int pp_asked(pplan *pp, int64_t lo, int64_t hi) {
    while (pp->next < pp->na && pp->ahi[pp->next] <= lo) pp->next++;
    return pp->next < pp->na && pp->alo[pp->next] == lo && pp->ahi[pp->next] == hi;
}

static void pp_free(pplan *pp) {
    if (!pp) return;
    for (size_t i = 0; i < pp->np; i++) {
        free(pp->p[i].lo);
        free(pp->p[i].hi);
    }
    free(pp->p);
    free(pp->alo);
    free(pp->ahi);
    bs__fan_release(pp->f);
    free(pp);
}

/* Groups the remote pieces of the segments by replica and sends each
 * replica its request.  NULL when there is nothing to ask (or no
 * memory): the walk then reads every remote piece whole. */
static pplan *pp_start(scanctx *x, const int64_t *lo, const int64_t *hi, int nseg) {
    pplan *pp = calloc(1, sizeof *pp);
    if (!pp) return NULL;
    bs_exec_err ignore;
    bs_exec_err *keep = x->err;
    x->err = &ignore;
    int bad = 0;
    for (int g = 0; g < nseg && !bad; g++) {
        for (int64_t pos = lo[g]; pos < hi[g] && !bad;) {
            size_t v, n;
            int64_t sub;
            bs__target tg;
            if (piece_at(x, pos, hi[g], &v, &sub)) break;
            if (!piece_contacts(x, v, &tg, &n, &ignore) && !tg.local && tg.has_peer) {
                size_t i = 0;
                while (i < pp->np && memcmp(pp->p[i].tg.host.b, tg.host.b, 16)) i++;
                if (i == pp->np) {
                    ppeer *np = realloc(pp->p, (pp->np + 1) * sizeof *np);
                    if (!np) {
                        bad = 1;
                        break;
                    }
                    pp->p = np;
                    memset(&np[pp->np], 0, sizeof *np);
                    np[pp->np++].tg = tg;
                }
                ppeer *pe = &pp->p[i];
                bad = pe->n == 4096 || pp_push(&pe->lo, &pe->hi, &pe->n, &pe->cap, pos, sub) ||
                      pp_push(&pp->alo, &pp->ahi, &pp->na, &pp->acap, pos, sub);
            }
            pos = sub;
        }
    }
    x->err = keep;
    if (bad || !pp->np || !(pp->f = bs__fan_new(x->c, pp->np))) {
        pp_free(pp);
        return NULL;
    }
    for (size_t i = 0; i < pp->np; i++) {
        ppeer *pe = &pp->p[i];
        bs_wire_partial wp = {x->cf, pe->lo, pe->hi, pe->n, x->visit->partial,
                              x->visit->partial_len};
        bs_buf pay = BS_BUF_INIT;
        if (bs_wire_partial_encode(&wp, &pay))
            bs__fan_complete(pp->f, i, BS_ENOMEM);
        else
            bs__fan_send(pp->f, i, &pe->tg.peer, BS_VERB_PARTIAL, pay.data, pay.len,
                         x->c->o.range_timeout_ms);
        BS__INC(x->c->partial_sent);
        bs_buf_free(&pay);
    }
    return pp;
}

static int scan_segment(scanctx *x, bs_table *t, scanround *sr, int64_t lo, int64_t hi, fwd *w,
                        int *cursor_pending);

/* After the walk: merges each replica's answer; the pieces of a replica
 * that failed are read whole.  0 or -1 with err. */
static int pp_finish(scanctx *x, bs_table *t, scanround *sr, fwd *w) {
    pplan *pp = x->pp;
    int64_t deadline = bs_clock_mono_ns() + (int64_t)x->c->o.range_timeout_ms * 1000000;
    bs__fan_wait(pp->f, pred_all_done, NULL, deadline);
    x->pp = NULL; /* the fallback reads pieces whole */
    for (size_t i = 0; i < pp->np && !w->stopped; i++) {
        pthread_mutex_lock(&pp->f->lock);
        int ok = pp->f->calls[i].done && !pp->f->calls[i].status;
        const uint8_t *resp = pp->f->calls[i].resp;
        size_t len = pp->f->calls[i].len;
        pthread_mutex_unlock(&pp->f->lock);
        int m = ok ? x->visit->merge(x->visit->ud, resp, len) : -1;
        if (m < -1) {
            x->err->code = BS_PROTO_ERR_SERVER;
            snprintf(x->err->msg, sizeof x->err->msg, "merging the result of %s failed",
                     pp->p[i].tg.peer.addr);
            return -1;
        }
        if (!m) continue;
        BS__INC(x->c->partial_failed);
        BS_DEBUG(LOG, "partial visit of %s by %s failed: reading its %zu pieces whole", x->cf,
                 pp->p[i].tg.peer.addr, pp->p[i].n);
        for (size_t k = 0; k < pp->p[i].n && !w->stopped; k++) {
            int cp = 0;
            if (scan_segment(x, t, sr, pp->p[i].lo[k], pp->p[i].hi[k], w, &cp)) return -1;
            ahead_drop_all(x);
        }
    }
    return 0;
}

/* One piece at ONE / LOCAL_ONE: one live replica, remote ones with
 * read-ahead.  0 or -1 with err. */
static int scan_one(scanctx *x, bs_table *t, size_t v, int64_t pos, int64_t sub, int64_t hi,
                    int with_cursor, fwd *w) {
    if (x->pp && pp_asked(x->pp, pos, sub)) return 0; /* its replica visits it */
    bs__target tg;
    size_t n;
    if (piece_contacts(x, v, &tg, &n, x->err)) return -1;
    bs__fan *pre = with_cursor ? NULL : ahead_take(x, pos, sub, &tg, 1);
    size_t before = w->n;
    ahead_fill(x, sub, hi);
    int rc;
    if (tg.local) {
        bs__fan_release(pre); /* NULL: nothing is sent for a local piece */
        rc = x->visit ? visit_piece_local(x, t, pos, sub, w)
                      : scan_piece_local(x, t, pos, sub, with_cursor, w);
    } else {
        rc = scan_piece_remote(x, &tg, pos, sub, with_cursor, pre, w);
    }
    if (rc) return -1;
    if (!x->pp) factor_grow(x, w, before); /* read-ahead: not with partial visits */
    return 0;
}

/* Walks the pieces of segment (lo, hi] in token order. */
static int scan_segment(scanctx *x, bs_table *t, scanround *sr, int64_t lo, int64_t hi, fwd *w,
                        int *cursor_pending) {
    const bs_scan *sc = x->sc;
    int64_t pos = lo;
    while (pos < hi && !w->stopped) {
        size_t v;
        int64_t sub;
        if (piece_at(x, pos, hi, &v, &sub)) return -1;
        int with_cursor = 0;
        if (*cursor_pending) {
            if (!(sc->cursor_token > pos && sc->cursor_token <= sub)) {
                pos = sub;
                continue;
            }
            with_cursor = 1;
            *cursor_pending = 0;
        }
        int rc = x->need > 1 ? scan_one_cl(x, sr, v, pos, sub, hi, with_cursor, w)
                             : scan_one(x, t, v, pos, sub, hi, with_cursor, w);
        if (rc) return -1;
        pos = sub;
    }
    return 0;
}

/* A visit's partitions that come from other replicas (or from the
 * paths above ONE), fed to it row by row. */
static int visit_part_cb(void *ud, const bs_partv *p) {
    const bs_visit *v = ud;
    int c = v->part(v->ud, p->token, p->pk, p->pk_len);
    if (c) return c < 0 ? c : 0;
    for (size_t i = 0; i < p->nrows; i++) {
        if (!p->rows[i].ncells) continue;
        if ((c = v->row(v->ud, &p->rows[i]))) return c;
    }
    return 0;
}

/* bs__coord_scan and bs__coord_visit (visit != NULL: cb/cbud unused). */
static int coord_scan(bs_coord *c, const bs_table_schema *ts, const bs_scan *sc0, uint16_t cl,
                      bs_part_cb cb, void *cbud, const bs_visit *visit, bs_exec_err *err) {
    BS__INC(c->range_reads);
    bs_schema *s = c->lbe.schema_get(c->lbe.ud);
    const bs_keyspace_schema *ks = bs_schema_keyspace(s, ts->keyspace);
    if (visit) {
        cb = visit_part_cb;
        cbud = (void *)visit;
    }
    if (is_local_ks(ks)) {
        bs_schema_release(s);
        if (visit && c->lbe.visit) return c->lbe.visit(c->lbe.ud, ts, sc0, cl, visit, err);
        return c->lbe.scan(c->lbe.ud, ts, sc0, cl, cb, cbud, err);
    }
    /* one now_s for the whole scan (TTLs; equal requests give equal digests) */
    bs_scan scv = *sc0;
    bs_slice slv;
    memset(&slv, 0, sizeof slv);
    if (sc0->slice) slv = *sc0->slice;
    if (!slv.now_s) slv.now_s = bs__coord_now_s(c);
    scv.slice = &slv;
    char cf[200];
    bs_table_cf_name(ts, cf, sizeof cf);
    BS_CQLTRACE("Executing a range scan of %s at %s", cf, bs__cl_name(cl));
    bs_table *t = NULL;
    if (bs_store_table_get(c->store, cf, &t)) t = NULL;
    bs__placement pl;
    if (bs__placement_get(c, ks, scv.start_token, 0, &pl, err)) {
        bs_schema_release(s);
        return -1;
    }
    scanctx *x = calloc(1, sizeof *x);
    int rc = -1;
    if (!x) {
        err->code = BS_PROTO_ERR_SERVER;
        snprintf(err->msg, sizeof err->msg, "out of memory");
        goto done;
    }
    *x = (scanctx){.c = c, .ts = ts, .cf = cf, .sc = &scv, .cl = cl, .pl = &pl,
                   .snap = bs_ring_replica_map_snapshot(pl.map), .err = err, .k = 1,
                   .visit = visit};
    if (bs__cl_reqs(c, cl, &pl, 0, x->req, &x->nreq, err)) goto done;
    for (size_t q = 0; q < x->nreq; q++) x->need += x->req[q].need;
    int64_t lo[2] = {scv.start_token, INT64_MIN}, hi[2] = {scv.end_token, scv.end_token};
    int nseg = 1;
    if (scv.start_token >= scv.end_token) { /* wraps (or the whole ring when equal) */
        hi[0] = INT64_MAX;
        nseg = 2;
    }
    fwd w = {cb, cbud, 0, 0};
    int cursor_pending = scv.has_cursor;
    scanround sr = {c, NULL, 0, t, cl, err, NULL};
    rc = 0;
    pplan *pp = NULL;
    if (visit && visit->merge && x->need == 1 && !cursor_pending)
        pp = x->pp = pp_start(x, lo, hi, nseg);
    for (int g = 0; g < nseg && !rc && !w.stopped; g++) {
        rc = scan_segment(x, t, &sr, lo[g], hi[g], &w, &cursor_pending);
        ahead_drop_all(x); /* pieces of a segment only */
    }
    if (pp && !rc) rc = pp_finish(x, t, &sr, &w);
    pp_free(pp);
done:
    if (x) ahead_drop_all(x);
    free(x);
    bs__placement_done(c, &pl);
    bs_schema_release(s);
    return rc < 0 ? -1 : 0;
}

int bs__coord_scan(void *ud, const bs_table_schema *ts, const bs_scan *sc0, uint16_t cl,
                   bs_part_cb cb, void *cbud, bs_exec_err *err) {
    return coord_scan(ud, ts, sc0, cl, cb, cbud, NULL, err);
}

int bs__coord_visit(void *ud, const bs_table_schema *ts, const bs_scan *sc0, uint16_t cl,
                    const bs_visit *v, bs_exec_err *err) {
    if (sc0->has_cursor) {
        err->code = BS_PROTO_ERR_SERVER;
        snprintf(err->msg, sizeof err->msg, "a visit has no cursor");
        return -1;
    }
    return coord_scan(ud, ts, sc0, cl, NULL, NULL, v, err);
}

/* ---- replica side -------------------------------------------------------- */

static bs_table *job_table(bs_coord *c, const char *cf) {
    bs_table *t;
    return bs_store_table_get(c->store, cf, &t) ? NULL : t;
}

void bs__job_read(bs_coord *c, bs__job *j) {
    bs_arena a;
    bs_arena_init(&a, 0);
    char e[128];
    bs_wire_read rd;
    bs_buf out = BS_BUF_INIT;
    bs_table *t;
    bs_partv *p = NULL;
    int rc = bs_wire_read_decode(j->data, j->len, &a, &rd, e, sizeof e);
    if (rc) BS_WARN(LOG, "bad READ from %s: %s", j->in.from.addr, e);
    else if (!(t = job_table(c, rd.cf))) rc = BS_ENOTFOUND;
    else if (!(rc = bs_store_read(t, rd.token, rd.pk, rd.pk_len, &rd.slice, &a, &p))) {
        size_t ncells = 0;
        for (size_t i = 0; p && i < p->nrows; i++) ncells += p->rows[i].ncells;
        BS_CQLTRACE("Read %zu live rows (%zu live cells) of %s%s", p ? p->nrows : 0, ncells, rd.cf,
                 rd.digest_only ? ", answering a digest" : "");
        rc = bs_wire_result_encode(p, rd.digest_only, &out);
    }
    if (!rc) BS__INC(c->replica_reads);
    bs__job_reply(c, j, rc, out.data, out.len);
    bs_buf_free(&out);
    bs_arena_free(&a);
}

void bs__job_read_raw(bs_coord *c, bs__job *j) {
    bs_arena a;
    bs_arena_init(&a, 0);
    char e[128];
    bs_wire_read rd;
    bs_buf out = BS_BUF_INIT;
    bs_table *t;
    recs v = {NULL, 0, 0, &a};
    int rc = bs_wire_read_decode(j->data, j->len, &a, &rd, e, sizeof e);
    if (rc) BS_WARN(LOG, "bad READ_RAW from %s: %s", j->in.from.addr, e);
    else if (!(t = job_table(c, rd.cf))) rc = BS_ENOTFOUND;
    else if (!(rc = collect_raw(t, rd.token, &v))) {
        BS_CQLTRACE("Read %zu stored records (tombstones included) of %s for read repair", v.n, rd.cf);
        rc = bs_wire_raw_encode(rd.cf, v.r, v.n, &out);
    }
    if (!rc) BS__INC(c->replica_reads);
    bs__job_reply(c, j, rc, out.data, out.len);
    free(v.r);
    bs_buf_free(&out);
    bs_arena_free(&a);
}

void bs__job_repair_raw(bs_coord *c, bs__job *j) {
    bs_arena a;
    bs_arena_init(&a, 0);
    char e[128];
    const char *cf;
    bs_wire_rec *r;
    size_t n;
    bs_table *t;
    int rc = bs_wire_raw_decode(j->data, j->len, &a, &cf, &r, &n, e, sizeof e);
    if (rc) BS_WARN(LOG, "bad REPAIR_RAW from %s: %s", j->in.from.addr, e);
    else if (!(t = job_table(c, cf))) rc = BS_ENOTFOUND;
    else {
        BS_CQLTRACE("Read repair: applying %zu records to %s", n, cf);
        rc = apply_raw(c, t, r, n);
    }
    if (rc && rc != BS_ECORRUPT) BS_WARN(LOG, "read repair write failed: %s", bs_store_errmsg());
    if (!rc) BS__INC(c->replica_writes);
    bs__job_reply(c, j, rc, NULL, 0);
    bs_arena_free(&a);
}

typedef struct rangeacc {
    bs_buf *parts;
    size_t n, cap, max;
    int more;
} rangeacc;

static int range_cb(void *ud, const bs_partv *p) {
    rangeacc *r = ud;
    if (r->n == r->max) {
        r->more = 1;
        return 1;
    }
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 16;
        bs_buf *np = realloc(r->parts, cap * sizeof *np);
        if (!np) return BS_ENOMEM;
        r->parts = np;
        r->cap = cap;
    }
    bs_buf_init(&r->parts[r->n]);
    int rc = bs_wire_result_encode(p, 0, &r->parts[r->n]);
    r->n++;
    return rc;
}

/* A partial visit: the handler's visit over each requested range of
 * this node's store, its result as the answer. */
void bs__job_partial(bs_coord *c, bs__job *j) {
    bs_arena a;
    bs_arena_init(&a, 0);
    char e[256], cf[200];
    bs_wire_partial wp;
    bs_buf out = BS_BUF_INIT;
    bs_table *t = NULL;
    void *ctx = NULL;
    bs_visit v;
    bs_slice sl;
    memset(&v, 0, sizeof v);
    memset(&sl, 0, sizeof sl);
    const bs_coord_partial *ph = atomic_load(&c->partial);
    int rc = bs_wire_partial_decode(j->data, j->len, &a, &wp, e, sizeof e), opened = 0;
    if (rc) BS_WARN(LOG, "bad PARTIAL from %s: %s", j->in.from.addr, e);
    else if (!ph) rc = BS_ENOTSUP;
    else if (ph->open(ph->ud, wp.req, wp.req_len, &ctx, &v, &sl, cf, sizeof cf, e, sizeof e)) {
        BS_DEBUG(LOG, "PARTIAL from %s not run: %s", j->in.from.addr, e);
        rc = BS_EINVAL;
    } else {
        opened = 1;
        if (strcmp(cf, wp.cf) || !(t = job_table(c, cf))) rc = BS_ENOTFOUND;
    }
    for (size_t i = 0; !rc && i < wp.nranges; i++) {
        bs_scan sc;
        memset(&sc, 0, sizeof sc);
        sc.start_token = wp.lo[i];
        sc.end_token = wp.hi[i];
        sc.slice = &sl;
        int r = bs_store_visit(t, &sc, &v);
        if (r < 0) rc = r;
        if (r > 0) break; /* the visitor stopped */
    }
    if (opened && ph->close(ph->ud, ctx, !rc, &out) && !rc) rc = BS_ENOMEM;
    if (!rc) BS__INC(c->partial_served);
    bs__job_reply(c, j, rc, out.data, out.len);
    bs_buf_free(&out);
    bs_arena_free(&a);
}

void bs__job_range(bs_coord *c, bs__job *j) {
    bs_arena a;
    bs_arena_init(&a, 0);
    char e[128];
    bs_wire_scan ws;
    bs_buf out = BS_BUF_INIT;
    bs_table *t;
    int rc = bs_wire_scan_decode(j->data, j->len, &a, &ws, e, sizeof e);
    if (rc) BS_WARN(LOG, "bad RANGE_READ from %s: %s", j->in.from.addr, e);
    else if (!(t = job_table(c, ws.read.cf))) rc = BS_ENOTFOUND;
    else {
        rc = range_page(t, &ws, &out);
        BS_CQLTRACE("Scanned a page of %s (%zu bytes of live partitions)", ws.read.cf, out.len);
    }
    if (!rc) BS__INC(c->replica_reads);
    bs__job_reply(c, j, rc, out.data, out.len);
    bs_buf_free(&out);
    bs_arena_free(&a);
}

/* Up to ws->max_parts partitions of ws's range from t, encoded as a
 * RANGE_READ answer into out.  0 or a BS_E code. */
static int range_page(bs_table *t, const bs_wire_scan *ws, bs_buf *out) {
    rangeacc acc = {NULL, 0, 0, 0, 0};
    bs_scan sc;
    {
        memset(&sc, 0, sizeof sc);
        sc.start_token = ws->start;
        sc.end_token = ws->end;
        sc.slice = &ws->read.slice;
        sc.has_cursor = ws->has_cursor;
        sc.cursor_token = ws->cursor_token;
        sc.cursor_pk = ws->cursor_pk;
        sc.cursor_pk_len = ws->cursor_pk_len;
        sc.has_cursor_ck = ws->has_cursor_ck;
        sc.cursor_ck = ws->cursor_ck;
        sc.cursor_ck_len = ws->cursor_ck_len;
    }
    acc.max = ws->max_parts;
    int rc = bs_store_scan(t, &sc, range_cb, &acc);
    if (!rc) rc = bs_wire_scanres_encode(acc.more, acc.parts, acc.n, out);
    for (size_t i = 0; i < acc.n; i++) bs_buf_free(&acc.parts[i]);
    free(acc.parts);
    return rc;
}
