/*
 * coord_paxos.c - the proposer side of lightweight transactions: Paxos
 * per partition, as Cassandra's (v1) protocol, over the PAXOS verb
 * (paxos_wire.h; the acceptors are in coord_paxos_replica.c).
 *
 * One compare-and-set (bs__coord_cas, on the executor's worker thread):
 *   1. Participants: the natural replicas of the partition (LOCAL_SERIAL:
 *      those of this node's dc); need = RF/2 + 1 of them (dc RF for
 *      LOCAL_SERIAL).  Fewer alive: Unavailable at the serial level.
 *   2. PREPARE with a fresh ballot (a timeuuid later than any this node
 *      made and than any promise seen refusing it).  A refusal means a
 *      competing proposer: sleep a random 0..min(100, 10*2^k) ms and
 *      start again with a higher ballot (contention).
 *   3. In-progress proposal: when a promise carries an accepted proposal
 *      newer than every commit the promises report - or the latest
 *      commit, which some promising replica has not applied yet - it is
 *      proposed again under our ballot and committed (QUORUM /
 *      LOCAL_QUORUM), then the round starts over: a value some replicas
 *      accepted is never lost, and the read of step 4 sees every commit.
 *   4. The partition slice: PREPARE carries the read (as Cassandra 4.1's
 *      Paxos v2) and every promise answers it; when a quorum of promises
 *      agree (same digest) that is the current partition, else it is
 *      read at QUORUM (LOCAL_QUORUM), repairing the replicas that differ.
 *      The condition is evaluated (the executor's check()).  False:
 *      done, the read is what the client sees.
 *   5. PROPOSE the update (op timestamps moved to the ballot's time);
 *      refused by every replica: back to 2 (nobody accepted it, so it can
 *      never be chosen); refused by some but accepted by others: a new
 *      round, which finds it in progress (then finishes it: applied) or
 *      not (the outcome is unknown - a later round may still complete
 *      it: WriteTimeout CAS, as Cassandra; never "not applied" for an
 *      update that may be); accepted by `need`: COMMIT to every replica
 *      (dead ones get a hint), waiting for the request's write consistency.
 * Everything must finish within write_timeout (read_timeout for SERIAL
 * reads): otherwise WriteTimeout with write_type CAS (received = the
 * answers of the phase that was waiting) or ReadTimeout.  A commit that
 * misses its consistency is WriteTimeout SIMPLE (the value is chosen and
 * later rounds complete it).
 *
 * A read at SERIAL / LOCAL_SERIAL (bs__paxos_read) runs steps 1-3, so a
 * proposal in progress is completed first, then reads at the quorum.
 *
 * Not done: Paxos v2's other savings (commit folded into the next
 * round); pending endpoints (bootstrap) do not take part.
 */
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/error.h"
#include "common/log.h"
#include "node/coord/coord_int.h"
#include "node/coord/paxos_wire.h"
#include "node/coord/wire.h"
#include "query/proto.h"

#define LOG "paxos"

typedef struct px {
    bs_coord *c;
    bs_schema *s;
    const bs_table_schema *t;
    bs__placement pl;
    int have_pl;
    size_t part[BS__MAX_TARGETS]; /* participants (indexes into pl.t) */
    size_t npart;
    int need;
    uint16_t serial_cl, quorum_cl;
    int is_read;
    int64_t token;
    const uint8_t *pk;
    size_t pk_len;
    int64_t deadline_ns;
    int64_t min_us; /* the next ballot is at least this */
    int attempts;
    bs_exec_err *err;
    /* the read that PREPARE carries (bs_wire_read_encode), and what the
     * promises answered when a quorum agreed on it */
    bs_buf rd;
    int have_cur;
    bs_partv *cur;
    /* our proposal was accepted by some replicas but refused by others:
     * the next round tells whether it is in progress (then completed:
     * applied) or not (unknown: WriteTimeout CAS) */
    int mine_pending, mine_done;
    bs_uuid mine;
} px;

static _Atomic int64_t g_ballot_us;

static uint64_t rnd64(void) {
    static _Thread_local uint64_t s;
    if (!s) s = (uint64_t)bs_clock_mono_ns() ^ ((uint64_t)(uintptr_t)&s << 17) ^ 0x9E3779B97F4A7C15ULL;
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
}

static void new_ballot(px *x, bs_uuid *b) {
    int64_t now = bs_clock_now_us(x->c->o.clock);
    int64_t last = atomic_load(&g_ballot_us), us;
    do {
        us = now > last ? now : last + 1;
        if (us < x->min_us) us = x->min_us;
    } while (!atomic_compare_exchange_weak(&g_ballot_us, &last, us));
    bs_uuid_v1_at(us, rnd64(), b);
}

/* A refusal showed promise b: our next ballots (this request's and the
 * node's later ones) come after it, so a coordinator whose clock runs
 * behind pays one refused round, not one per transaction. */
static void seen_promise(px *x, const bs_uuid *b) {
    int64_t us = bs_paxos_ballot_us(b) + 1;
    if (us > x->min_us) x->min_us = us;
    int64_t last = atomic_load(&g_ballot_us);
    while (us - 1 > last && !atomic_compare_exchange_weak(&g_ballot_us, &last, us - 1)) {
    }
}

static int fail_oom(px *x) {
    x->err->code = BS_PROTO_ERR_SERVER;
    snprintf(x->err->msg, sizeof x->err->msg, "out of memory");
    return -1;
}

static int timed_out(px *x, int received) {
    bs_exec_err *e = x->err;
    e->code = x->is_read ? BS_PROTO_ERR_READ_TIMEOUT : BS_PROTO_ERR_WRITE_TIMEOUT;
    e->cl = x->serial_cl;
    e->received = received;
    e->blockfor = x->need;
    e->data_present = 0;
    e->write_type = x->is_read ? NULL : "CAS";
    snprintf(e->msg, sizeof e->msg,
             "Operation timed out - received only %d responses (Paxos round at %s, %d required, "
             "%d attempts)",
             received, bs__cl_name(x->serial_cl), x->need, x->attempts);
    if (x->is_read) BS__INC(x->c->read_timeouts);
    else BS__INC(x->c->write_timeouts);
    return -1;
}

/* Contention: a random sleep that grows with the attempts; 1 when the
 * deadline leaves no time for another round. */
static int backoff(px *x) {
    if (x->npart == 1 && x->pl.t[x->part[0]].local) {
        /* RF 1 on this node: the rounds take microseconds, and a prepared
         * statement may run on a CQL loop thread (node/main.c inline_ok)
         * that must not sleep for long */
        if (bs_clock_mono_ns() >= x->deadline_ns) return 1;
        usleep((useconds_t)(rnd64() % 200));
        return 0;
    }
    int k = x->attempts < 4 ? x->attempts : 4;
    int64_t max_ms = 10LL << k;
    if (max_ms > 100) max_ms = 100;
    int64_t ms = (int64_t)(rnd64() % (uint64_t)(max_ms + 1));
    int64_t left = (x->deadline_ns - bs_clock_mono_ns()) / 1000000;
    if (left <= ms) return 1;
    if (ms) usleep((useconds_t)(ms * 1000));
    return 0;
}

static void px_done(px *x) {
    bs_buf_free(&x->rd);
    if (x->have_pl) bs__placement_done(x->c, &x->pl);
    if (x->s) bs_schema_release(x->s);
}

static int px_init(px *x, bs_coord *c, const bs_table_schema *t, int64_t token, const void *pk,
                   size_t pk_len, uint16_t serial_cl, int is_read, bs_exec_err *err) {
    memset(x, 0, sizeof *x);
    x->c = c;
    x->t = t;
    x->token = token;
    x->pk = pk;
    x->pk_len = pk_len;
    x->serial_cl = serial_cl;
    x->is_read = is_read;
    x->err = err;
    int local = serial_cl == BS_CL_LOCAL_SERIAL;
    x->quorum_cl = local ? BS_CL_LOCAL_QUORUM : BS_CL_QUORUM;
    uint32_t ms = is_read ? c->o.read_timeout_ms : c->o.write_timeout_ms;
    x->deadline_ns = bs_clock_mono_ns() + (int64_t)ms * 1000000;
    x->s = c->lbe.schema_get(c->lbe.ud);
    const bs_keyspace_schema *ks = x->s ? bs_schema_keyspace(x->s, t->keyspace) : NULL;
    if (!ks || ks->system || (ks->repl_class && strstr(ks->repl_class, "LocalStrategy"))) {
        err->code = BS_PROTO_ERR_INVALID;
        snprintf(err->msg, sizeof err->msg,
                 "Lightweight transactions and SERIAL reads are not supported on keyspace %s",
                 t->keyspace);
        return -1;
    }
    if (bs__placement_get(c, ks, token, 0, &x->pl, err)) return -1;
    x->have_pl = 1;
    uint32_t rf = local ? bs_ring_strategy_dc_rf(x->pl.st, c->dc) : bs_ring_strategy_rf(x->pl.st);
    x->need = (int)(rf / 2 + 1);
    int alive = 0;
    for (size_t i = 0; i < x->pl.nnatural; i++) {
        const bs__target *tg = &x->pl.t[i];
        if (local && (!tg->dc || strcmp(tg->dc, c->dc))) continue;
        x->part[x->npart++] = i;
        alive += tg->alive || tg->local;
    }
    if (alive < x->need) {
        bs__unavailable(c, err, serial_cl, x->need, alive);
        return -1;
    }
    return 0;
}

/* ---- one phase ------------------------------------------------------------ */

/* Sends pay to the targets pl.t[idx[i]] (the local one answered on this
 * thread).  hint: a write payload stored as a hint for targets that are
 * down or fail (COMMIT).  NULL on OOM. */
static bs__fan *px_send(px *x, const size_t *idx, size_t n, const bs_buf *pay,
                        const uint8_t *hint, size_t hint_len) {
    bs__fan *f = bs__fan_new(x->c, n);
    if (!f) return NULL;
    int64_t left_ms = (x->deadline_ns - bs_clock_mono_ns()) / 1000000;
    uint32_t tmo = left_ms < 1 ? 1 : (uint32_t)left_ms;
    size_t local = n;
    for (size_t i = 0; i < n; i++) {
        const bs__target *tg = &x->pl.t[idx[i]];
        if (tg->local) {
            local = i;
            continue;
        }
        if (!tg->alive || !tg->has_peer) {
            if (hint) bs__hint_store(x->c, &tg->host, hint, hint_len);
            bs__fan_local(f, i, BS_EUNAVAIL);
            continue;
        }
        if (hint) {
            f->calls[i].hint = malloc(hint_len);
            if (f->calls[i].hint) {
                memcpy(f->calls[i].hint, hint, hint_len);
                f->calls[i].hint_len = hint_len;
                f->calls[i].host = tg->host;
            }
        }
        bs__fan_send(f, i, &tg->peer, BS_VERB_PAXOS, pay->data, pay->len, tmo);
    }
    if (local < n) {
        bs_buf out = BS_BUF_INIT;
        int rc = bs__paxos_handle(x->c, pay->data, pay->len, &out);
        if (!rc) {
            f->calls[local].resp = malloc(out.len ? out.len : 1);
            if (f->calls[local].resp) {
                memcpy(f->calls[local].resp, out.data, out.len);
                f->calls[local].len = out.len;
            } else {
                rc = BS_ENOMEM;
            }
        }
        bs_buf_free(&out);
        bs__fan_local(f, local, rc);
    }
    return f;
}

typedef struct vote {
    const px *x;
    int wait_all; /* PROPOSE: a refusal does not end the wait */
    int nok, nrej, open;
} vote;

/* Lock held: a quorum of ok answers, or a refusal (PREPARE; byte 1 of an
 * answer is its ok flag, paxos_wire.h).  A refused PROPOSE waits for
 * every answer: whether anyone accepted decides between a retry and an
 * unknown outcome. */
static int voted(bs__fan *f, void *ud) {
    vote *v = ud;
    v->nok = v->nrej = v->open = 0;
    for (size_t i = 0; i < f->n; i++) {
        const bs__call *k = &f->calls[i];
        if (!k->done) v->open++;
        if (!k->done || k->status || k->len < 2) continue;
        if (k->resp[1]) v->nok++;
        else v->nrej++;
    }
    return v->nok >= v->x->need || (v->nrej > 0 && (!v->wait_all || !v->open));
}

/* PREPARE or PROPOSE to the participants: rs[i] / got[i] per participant
 * (arena copies), counts in *v.  0 or -1 (OOM, in err). */
static int px_phase(px *x, const bs_paxos_req *r, bs_arena *a, bs_paxos_resp *rs, int *got,
                    vote *v) {
    v->wait_all = r->phase == BS_PAXOS_PROPOSE;
    bs_buf pay = BS_BUF_INIT;
    if (bs_paxos_req_encode(r, &pay)) {
        bs_buf_free(&pay);
        return fail_oom(x);
    }
    bs__fan *f = px_send(x, x->part, x->npart, &pay, NULL, 0);
    bs_buf_free(&pay);
    if (!f) return fail_oom(x);
    v->x = x;
    bs__fan_wait(f, voted, v, x->deadline_ns);
    pthread_mutex_lock(&f->lock);
    voted(f, v);
    for (size_t i = 0; i < f->n; i++) {
        const bs__call *k = &f->calls[i];
        got[i] = 0;
        if (!k->done || k->status || !k->resp) continue;
        uint8_t *copy = bs_arena_memdup(a, k->resp, k->len);
        if (copy && !bs_paxos_resp_decode(copy, k->len, &rs[i])) got[i] = 1;
    }
    pthread_mutex_unlock(&f->lock);
    bs__fan_release(f);
    return 0;
}

/* PROPOSE: 1 accepted by a quorum, 0 refused by every replica that
 * answered and accepted by none (contention: safe to retry), -2 refused
 * by some and accepted by others (a later round may still complete it:
 * err not set), -1 timeout or error (err set). */
static int px_propose(px *x, const bs_uuid *ballot, const uint8_t *upd, size_t ulen, bs_arena *a) {
    bs_paxos_req r = {BS_PAXOS_PROPOSE, *ballot, x->t->id, x->token, x->pk, x->pk_len, upd, ulen};
    bs_paxos_resp rs[BS__MAX_TARGETS];
    int got[BS__MAX_TARGETS];
    vote v;
    if (px_phase(x, &r, a, rs, got, &v)) return -1;
    if (v.nok >= x->need) return 1;
    if (v.nrej && v.nok && !v.open) return -2;
    if (v.nrej && !v.nok && !v.open) {
        for (size_t i = 0; i < x->npart; i++)
            if (got[i] && !rs[i].ok) {
                seen_promise(x, &rs[i].promised);
            }
        return 0;
    }
    return timed_out(x, v.nok);
}

typedef struct cwait {
    const px *x;
    bs__req req[BS__MAX_REQS];
    size_t nreq;
    int got, need;
} cwait;

static int committed(bs__fan *f, void *ud) {
    cwait *w = ud;
    for (size_t r = 0; r < w->nreq; r++) {
        int got = 0;
        for (size_t i = 0; i < f->n; i++)
            if (f->calls[i].done && !f->calls[i].status &&
                bs__req_match(&w->req[r], &w->x->pl.t[i]))
                got++;
        w->got = got;
        w->need = w->req[r].need;
        if (got < w->req[r].need) return 0;
    }
    return 1;
}

/* COMMIT to every replica, waiting for consistency cl.  0 or -1 (err). */
static int px_commit(px *x, const bs_uuid *ballot, const uint8_t *upd, size_t ulen, uint16_t cl) {
    cwait w;
    memset(&w, 0, sizeof w);
    w.x = x;
    if (bs__cl_reqs(x->c, cl == BS_CL_ANY ? BS_CL_ONE : cl, &x->pl, 1, w.req, &w.nreq, x->err))
        return -1;
    bs_paxos_req r = {BS_PAXOS_COMMIT, *ballot, x->t->id, x->token, x->pk, x->pk_len, upd, ulen};
    bs_buf pay = BS_BUF_INIT;
    if (bs_paxos_req_encode(&r, &pay)) {
        bs_buf_free(&pay);
        return fail_oom(x);
    }
    size_t idx[BS__MAX_TARGETS];
    for (size_t i = 0; i < x->pl.n; i++) idx[i] = i;
    /* commits may take the full write timeout even late in the round */
    int64_t saved = x->deadline_ns, dl = bs_clock_mono_ns() +
                                         (int64_t)x->c->o.write_timeout_ms * 1000000;
    x->deadline_ns = dl;
    bs__fan *f = px_send(x, idx, x->pl.n, &pay, upd, ulen);
    bs_buf_free(&pay);
    x->deadline_ns = saved;
    if (!f) return fail_oom(x);
    int ok = bs__fan_wait(f, committed, &w, dl);
    bs__fan_release(f);
    if (ok) return 0;
    BS__INC(x->c->write_timeouts);
    x->err->code = BS_PROTO_ERR_WRITE_TIMEOUT;
    x->err->cl = cl;
    x->err->received = w.got;
    x->err->blockfor = w.need;
    x->err->write_type = "SIMPLE";
    snprintf(x->err->msg, sizeof x->err->msg,
             "Operation timed out - received only %d responses (Paxos commit)", w.got);
    return -1;
}

/* ---- the round ------------------------------------------------------------- */

/* The proposal to finish before anything else, or -1: the newest
 * accepted one when no promise reports it committed (in progress), or
 * when it is the latest commit but some promise's replica has not
 * committed it yet (a commit that reached fewer replicas than a quorum
 * read needs, e.g. at consistency ONE: sent again, as Cassandra does). */
static int in_progress(const px *x, const bs_paxos_resp *rs, const int *got) {
    bs_uuid latest;
    memset(&latest, 0, sizeof latest);
    for (size_t i = 0; i < x->npart; i++)
        if (got[i] && rs[i].has_commit && bs_paxos_ballot_cmp(&rs[i].commit, &latest) > 0)
            latest = rs[i].commit;
    int best = -1;
    for (size_t i = 0; i < x->npart; i++) {
        if (!got[i] || !rs[i].ok || !rs[i].has_accepted || !rs[i].update_len) continue;
        if (best < 0 || bs_paxos_ballot_cmp(&rs[i].accepted, &rs[best].accepted) > 0)
            best = (int)i;
    }
    if (best < 0) return -1;
    int cmp = bs_paxos_ballot_cmp(&rs[best].accepted, &latest);
    if (cmp > 0) return best;
    if (cmp < 0) return -1;
    for (size_t i = 0; i < x->npart; i++)
        if (got[i] && rs[i].ok && (!rs[i].has_commit || bs_paxos_ballot_cmp(&rs[i].commit, &latest) < 0))
            return best;
    return -1;
}

/* Paxos v2's read in the prepare round: when at least a quorum of
 * promises answered the read and all with the same digest, their answer
 * is the partition as of the promise (x->cur); otherwise the caller reads
 * at the quorum (which repairs the replicas that differ). */
static void promised_read(px *x, const bs_paxos_resp *rs, const int *got, bs_arena *a) {
    x->have_cur = 0;
    if (!x->rd.len) return;
    int n = 0, first = -1;
    for (size_t i = 0; i < x->npart; i++) {
        if (!got[i] || !rs[i].ok) continue;
        if (!rs[i].has_read) return;
        if (first >= 0 && memcmp(rs[i].digest, rs[first].digest, 16)) return;
        if (first < 0) first = (int)i;
        n++;
    }
    if (n < x->need) return;
    char e[128];
    uint8_t dg[16];
    bs_partv *p = NULL;
    if (bs_wire_result_decode(rs[first].data, rs[first].data_len, a, dg, &p, e, sizeof e)) return;
    x->cur = p;
    x->have_cur = 1;
}

/* The read PREPARE carries: slice sl of the partition (TTLs judged at
 * the coordinator's now, so the replicas' digests agree).  0 or -1 (OOM). */
static int px_set_read(px *x, const bs_slice *sl) {
    bs_wire_read rd;
    memset(&rd, 0, sizeof rd);
    rd.table_id = x->t->id;
    char cf[200];
    bs_table_cf_name(x->t, cf, sizeof cf);
    rd.cf = cf;
    rd.token = x->token;
    rd.pk = x->pk;
    rd.pk_len = x->pk_len;
    rd.slice = *sl;
    if (!rd.slice.now_s) rd.slice.now_s = bs__coord_now_s(x->c);
    if (bs_wire_read_encode(&rd, &x->rd)) return fail_oom(x);
    return 0;
}

/* Steps 2-3: a ballot promised by a quorum with nothing left in
 * progress.  0, or -1 with err. */
static int px_prepare(px *x, bs_arena *a, bs_uuid *ballot) {
    for (;; x->attempts++) {
        if (x->attempts && backoff(x)) return timed_out(x, 0);
        new_ballot(x, ballot);
        bs_paxos_req r = {BS_PAXOS_PREPARE, *ballot, x->t->id, x->token, x->pk, x->pk_len,
                          NULL, 0, x->rd.data, x->rd.len};
        bs_paxos_resp rs[BS__MAX_TARGETS];
        int got[BS__MAX_TARGETS];
        vote v;
        if (px_phase(x, &r, a, rs, got, &v)) return -1;
        if (v.nok < x->need && !v.nrej) return timed_out(x, v.nok);
        if (v.nok < x->need) {
            for (size_t i = 0; i < x->npart; i++)
                if (got[i] && !rs[i].ok) {
                    seen_promise(x, &rs[i].promised);
                }
            continue;
        }
        int ip = in_progress(x, rs, got);
        if (ip < 0) {
            if (x->mine_pending) return timed_out(x, v.nok); /* unknown outcome */
            promised_read(x, rs, got, a);
            return 0;
        }
        int own = x->mine_pending && !bs_paxos_ballot_cmp(&rs[ip].accepted, &x->mine);
        int pr = px_propose(x, ballot, rs[ip].update, rs[ip].update_len, a);
        if (pr == -1) return -1;
        if (pr <= 0) continue; /* refused (maybe partly): the next round decides */
        if (px_commit(x, ballot, rs[ip].update, rs[ip].update_len, x->quorum_cl)) return -1;
        if (own) { /* our own proposal, finished by this round */
            x->mine_done = 1;
            return 0;
        }
    }
}

/* The update with its timestamps moved to the ballot's time, encoded as a
 * write payload.  0 or -1 (OOM). */
static int restamp(px *x, const bs_exec_cas *q, const bs_uuid *ballot, bs_arena *a,
                   bs_buf *out) {
    int64_t delta = bs_paxos_ballot_us(ballot) - q->base_ts;
    bs_mutation *m = bs_arena_alloc(a, (q->nm ? q->nm : 1) * sizeof *m);
    if (!m) return fail_oom(x);
    for (size_t i = 0; i < q->nm; i++) {
        m[i] = q->m[i];
        bs_mop *ops = bs_arena_alloc(a, (m[i].nops ? m[i].nops : 1) * sizeof *ops);
        if (!ops) return fail_oom(x);
        for (size_t k = 0; k < m[i].nops; k++) {
            ops[k] = q->m[i].ops[k];
            ops[k].ts += delta;
        }
        m[i].ops = ops;
    }
    if (bs_wire_write_encode(bs__coord_now_s(x->c), m, q->nm, out)) return fail_oom(x);
    return 0;
}

static int valid_serial(bs_exec_err *err, uint16_t serial, uint16_t cl) {
    if (serial != BS_CL_SERIAL && serial != BS_CL_LOCAL_SERIAL) {
        err->code = BS_PROTO_ERR_INVALID;
        snprintf(err->msg, sizeof err->msg,
                 "Invalid serial consistency level %s: must be SERIAL or LOCAL_SERIAL",
                 bs__cl_name(serial));
        return -1;
    }
    if (cl == BS_CL_SERIAL || cl == BS_CL_LOCAL_SERIAL) {
        err->code = BS_PROTO_ERR_INVALID;
        snprintf(err->msg, sizeof err->msg,
                 "Invalid consistency level %s for the commit of a conditional update: use "
                 "the serial consistency for the Paxos round and a write level (QUORUM, "
                 "LOCAL_QUORUM, ...) for the commit",
                 bs__cl_name(cl));
        return -1;
    }
    return 0;
}

int bs__coord_cas(void *ud, const bs_exec_cas *q, bs_arena *a, bs_partv **cur, int *applied,
                  bs_exec_err *err) {
    bs_coord *c = ud;
    *applied = 0;
    *cur = NULL;
    if (bs_coord_drained(c)) return bs__drained_error(c, err);
    if (valid_serial(err, q->serial_cl, q->cl)) return -1;
    uint64_t l0;
    if (bs_store_shedding(c->store, &l0)) { /* write admission, as coord_write.c */
        BS__INC(c->writes_shed);
        err->code = BS_PROTO_ERR_OVERLOADED;
        snprintf(err->msg, sizeof err->msg,
                 "storage is behind on compaction (%" PRIu64 " L0 files): write refused to keep "
                 "the backlog bounded; retry with backoff", l0);
        return -1;
    }
    if (q->cl < BS_COORD_NCL) BS__INC(c->writes[q->cl]);
    int64_t t0 = bs_clock_mono_ns();
    px x;
    int rc = -1;
    if (px_init(&x, c, q->t, q->token, q->pk, q->pk_len, q->serial_cl, 0, err)) goto out;
    if (px_set_read(&x, q->slice)) goto out;
    for (;;) {
        bs_uuid ballot;
        if (px_prepare(&x, a, &ballot)) break;
        if (x.mine_done) {
            *applied = 1;
            rc = 0;
            break;
        }
        bs_partv *p = x.cur;
        if (!x.have_cur &&
            bs__coord_read(c, q->t, q->token, q->pk, q->pk_len, q->slice, x.quorum_cl, a, &p, err))
            break;
        *cur = p;
        int ok = q->check(q->cud, p);
        if (ok <= 0) {
            rc = ok < 0 ? -1 : 0;
            break;
        }
        bs_buf upd = BS_BUF_INIT;
        if (restamp(&x, q, &ballot, a, &upd)) {
            bs_buf_free(&upd);
            break;
        }
        int pr = px_propose(&x, &ballot, upd.data, upd.len, a);
        if (pr > 0 && !px_commit(&x, &ballot, upd.data, upd.len, q->cl)) {
            *applied = 1;
            rc = 0;
        }
        bs_buf_free(&upd);
        if (pr == -2) {
            x.mine_pending = 1;
            x.mine = ballot;
        } else if (pr != 0) {
            break;
        }
        x.attempts++; /* refused: a competing proposer; re-read and re-check */
        if (backoff(&x)) {
            timed_out(&x, 0);
            break;
        }
    }
out:
    px_done(&x);
    bs__hist_add(&c->write_lat, (uint64_t)(bs_clock_mono_ns() - t0) / 1000);
    return rc;
}

int bs__paxos_read(bs_coord *c, const bs_table_schema *t, int64_t token, const void *pk,
                   size_t pk_len, const bs_slice *sl, uint16_t cl, bs_arena *a, bs_partv **out,
                   bs_exec_err *err) {
    px x;
    bs_uuid ballot;
    int rc = px_init(&x, c, t, token, pk, pk_len, cl, 1, err);
    if (!rc) rc = px_set_read(&x, sl);
    if (!rc) rc = px_prepare(&x, a, &ballot);
    uint16_t qcl = x.quorum_cl;
    int have = x.have_cur;
    *out = x.cur;
    px_done(&x);
    if (rc) return -1;
    if (have) return 0;
    return bs__coord_read(c, t, token, pk, pk_len, sl, qcl, a, out, err);
}
