/*
 * coord_write.c - the replicated write path and the replica side of
 * MUTATION/HINT.
 *
 * Algorithm (one backend write call = n mutations, possibly of several
 * partitions and tables):
 *   1. For each mutation, the placement of its token (natural replicas +
 *      pending endpoints) and its consistency requirements (coord.c).
 *   2. Targets = the distinct hosts over all placements; each target gets
 *      ONE message holding every mutation it replicates, so a batch is
 *      applied atomically on each replica (one store batch there).
 *   3. Unavailable, before anything is sent, when for some mutation a
 *      requirement has fewer live replicas than it needs (ANY: when no
 *      replica is alive and hints are disabled).
 *   4. The local replica is applied on this thread; live remote ones get
 *      a MUTATION with the write timeout; dead ones get a hint at once.
 *      A remote request that fails or times out leaves a hint (through the
 *      fan slot, see coord.c) whether or not the level was met.
 *   5. Wait until every mutation meets every requirement (ANY: an ack or
 *      a hint), or everyone answered, or the deadline: WriteTimeout with
 *      the first unmet requirement's received/blockfor.  A replica whose
 *      store fails the write answers with its error; once the failures
 *      leave too few replicas to meet a requirement the answer is
 *      WriteFailure (received, blockfor, numfailures) at once.
 *   Shortcut: when the only target of every mutation is this node (RF=1
 *   on a partition it owns) and no batchlog is needed, steps 4-5 are one
 *   local apply - no payload, fan-out or wait; a failing local write is
 *   answered at once (Invalid when refused, else WriteTimeout 0/blockfor).
 *
 * Every replica applies with the coordinator's now_s (carried in the
 * payload) so TTL expiry is identical everywhere.
 *
 * Logged batches are applied atomically per replica (step 2), and a
 * logged batch over several partitions is first stored in the batchlog
 * of up to two other nodes (coord_batchlog.c), which replay it if this
 * coordinator dies before the batch is applied everywhere.
 *
 * Test hooks: built with BS_TEST_HOOKS (basaltd-testhooks, see
 * node/CMakeLists.txt), BASALT_TEST_CRASH_AFTER_BATCHLOG in the
 * environment makes the coordinator _exit(137) right after the batchlog
 * write.  basaltd itself is compiled without BS_TEST_HOOKS.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "common/log.h"
#include "common/trace.h"
#include "node/coord/coord_int.h"
#include "node/coord/fwd.h"
#include "node/coord/wire.h"
#include "query/proto.h"

#define LOG "coord"

/* pl last, its used head first: a write of many partitions (a
 * time-series request has ~1000) touches one page of each wmut. */
typedef struct wmut {
    bs__req req[BS__MAX_REQS];
    size_t nreq;
    size_t tix[BS__MAX_TARGETS]; /* placement slot -> global target index */
    bs__placement pl;
} wmut;

typedef struct wstate {
    size_t nm;
    wmut *mu;
    bs__target *tg; /* global targets */
    size_t ntg;
    int *hinted;    /* per global target: a hint stands in (ANY) */
    int any;
    /* first unmet requirement (filled by the predicate) */
    int received, blockfor, numfailures;
    int failed; /* a requirement cannot be met: replicas failed */
} wstate;

/* Lock held.  1 when every mutation meets every requirement, or when a
 * requirement can no longer be met because replicas answered with a
 * failure (w->failed set: the caller answers WriteFailure at once rather
 * than waiting for the deadline). */
static int write_met(bs__fan *f, void *ud) {
    wstate *w = ud;
    for (size_t i = 0; i < w->nm; i++) {
        wmut *u = &w->mu[i];
        for (size_t r = 0; r < u->nreq; r++) {
            int got = 0, failed = 0, open = 0;
            for (size_t s = 0; s < u->pl.n; s++) {
                size_t g = u->tix[s];
                const bs__call *k = &f->calls[g];
                if (!bs__req_match(&u->req[r], &u->pl.t[s])) continue;
                if ((k->done && !k->status) || (w->any && w->hinted[g])) got++;
                else if (!k->done) open++;
                else if (bs__is_replica_failure(k->status)) failed++;
            }
            if (got < u->req[r].need) {
                w->received = got;
                w->blockfor = u->req[r].need;
                w->numfailures = failed;
                if (failed && got + open < u->req[r].need) {
                    w->failed = 1;
                    return 1;
                }
                return 0;
            }
        }
    }
    return 1;
}

static int is_system(const bs_keyspace_schema *ks) {
    return !ks || ks->system || (ks->repl_class && strstr(ks->repl_class, "LocalStrategy"));
}

/* WriteTimeout for a write of nm mutations (logged: a logged batch). */
static void write_timeout(bs_coord *c, bs_exec_err *err, uint16_t cl, int logged, size_t nm,
                          int received, int blockfor) {
    BS__INC(c->write_timeouts);
    err->code = BS_PROTO_ERR_WRITE_TIMEOUT;
    err->cl = cl;
    err->received = received;
    err->blockfor = blockfor;
    err->write_type = logged ? "BATCH" : nm > 1 ? "UNLOGGED_BATCH" : "SIMPLE";
}

/* WriteFailure: replicas answered the write with an error (disk full,
 * I/O error) and the level cannot be met any more.  A logged batch stays
 * in the batchlog, which replays it. */
static void write_failure(bs_exec_err *err, uint16_t cl, int logged, size_t nm,
                          const wstate *w) {
    err->code = BS_PROTO_ERR_WRITE_FAILURE;
    err->cl = cl;
    err->received = w->received;
    err->blockfor = w->blockfor;
    err->write_type = logged ? "BATCH" : nm > 1 ? "UNLOGGED_BATCH" : "SIMPLE";
    err->numfailures = w->numfailures;
    snprintf(err->msg, sizeof err->msg,
             "Operation failed - received %d responses and %d failures (%d required) at %s: "
             "%s replica%s could not write to its storage (disk full or I/O error; see that "
             "node's log)",
             w->received, w->numfailures, w->blockfor, bs__cl_name(cl),
             w->numfailures == 1 ? "a" : "some", w->numfailures == 1 ? "" : "s");
}

static int out_of_memory(bs_exec_err *err) {
    err->code = BS_PROTO_ERR_SERVER;
    snprintf(err->msg, sizeof err->msg, "out of memory");
    return -1;
}

/* Placement of every mutation, the distinct targets (w->tg, each
 * mutation's tix into them) and the requirements of the consistency
 * level; Unavailable when too few replicas are alive.  0 or -1 with err. */
static int write_plan(bs_coord *c, bs_schema *s, const bs_mutation *m, size_t nm, uint16_t cl,
                      wstate *w, bs_exec_err *err) {
    size_t ntargets = 0;
    for (size_t i = 0; i < nm; i++) {
        const bs_keyspace_schema *ks = bs__keyspace_of(s, m[i].cf);
        if (is_system(ks)) {
            err->code = BS_PROTO_ERR_INVALID;
            snprintf(err->msg, sizeof err->msg,
                     "a batch cannot mix node-local system tables with replicated tables (%s)", m[i].cf);
            return -1;
        }
        wmut *u = &w->mu[i];
        if (bs__placement_get(c, ks, m[i].token, 1, &u->pl, err) ||
            bs__cl_reqs(c, cl, &u->pl, 1, u->req, &u->nreq, err))
            return -1;
        ntargets += u->pl.n;
    }
    /* the distinct targets, at most every placement's (3 for one RF=3
     * write, not the 64 a placement can hold: a small allocation) */
    w->tg = calloc(ntargets ? ntargets : 1, sizeof *w->tg);
    w->hinted = calloc(ntargets ? ntargets : 1, sizeof *w->hinted);
    if (!w->tg || !w->hinted) return out_of_memory(err);
    for (size_t i = 0; i < nm; i++) {
        wmut *u = &w->mu[i];
        for (size_t t = 0; t < u->pl.n; t++) {
            size_t g = 0;
            while (g < w->ntg && memcmp(w->tg[g].host.b, u->pl.t[t].host.b, 16)) g++;
            if (g == w->ntg) w->tg[w->ntg++] = u->pl.t[t];
            u->tix[t] = g;
        }
        for (size_t r = 0; r < u->nreq; r++) {
            int alive = 0;
            for (size_t t = 0; t < u->pl.n; t++)
                alive += u->pl.t[t].alive && bs__req_match(&u->req[r], &u->pl.t[t]);
            if (w->any) {
                if (!alive && !c->o.hints_enabled) {
                    bs__unavailable(c, err, cl, 1, 0);
                    return -1;
                }
            } else if (alive < u->req[r].need) {
                bs__unavailable(c, err, cl, u->req[r].need, alive);
                return -1;
            }
        }
    }
    return 0;
}

/* 1 when a local write error means the mutation itself is bad (a client
 * error), not that the replica failed. */
static int refused_by_store(int lrc) {
    return lrc == BS_EINVAL || lrc == BS_ERANGE || lrc == BS_ENOTFOUND;
}

/* RF=1 and this node holds every partition: apply here, no payload,
 * fan-out or batchlog (there is nobody to wait for).  0 or -1 with err. */
static int write_local_only(bs_coord *c, const wstate *w, const bs_mutation *m, size_t nm,
                            uint16_t cl, int logged, bs_exec_err *err) {
    int lrc = bs__apply_local(c, m, nm, bs__coord_now_s(c));
    if (!lrc) return 0;
    if (lrc != BS_EIO) /* the store logs its I/O failures once */
        BS_WARN(LOG, "local write failed: %s (%s)", bs_strerror(lrc), bs_store_errmsg());
    if (refused_by_store(lrc)) {
        err->code = BS_PROTO_ERR_INVALID;
        snprintf(err->msg, sizeof err->msg, "write refused: %s", bs_store_errmsg());
        return -1;
    }
    if (lrc == BS_EIO) {
        /* The store failed the batch (disk full, I/O error): say so
         * plainly rather than as a timeout (issue 19 finding 4).  When
         * only the WAL flush failed the batch is in the memtable but not
         * durable, hence "may".  RocksDB resumes writes by itself once
         * space is back (its SstFileManager polls for free space). */
        err->code = BS_PROTO_ERR_SERVER;
        snprintf(err->msg, sizeof err->msg,
                 "Server error: this node cannot write to its storage (%s); the write may "
                 "not have been applied; reads still work", bs_store_errmsg());
        return -1;
    }
    write_timeout(c, err, cl, logged, nm, 0, w->mu[0].nreq ? w->mu[0].req[0].need : 1);
    snprintf(err->msg, sizeof err->msg, "Operation failed - the local write failed (%s) at %s",
             bs_strerror(lrc), bs__cl_name(cl));
    return -1;
}

/* The mutations of m that target g replicates, into sub; their count. */
static size_t for_target(const wstate *w, const bs_mutation *m, size_t g, bs_mutation *sub) {
    size_t ns = 0;
    for (size_t i = 0; i < w->nm; i++)
        for (size_t t = 0; t < w->mu[i].pl.n; t++)
            if (w->mu[i].tix[t] == g) {
                sub[ns++] = m[i];
                break;
            }
    return ns;
}

/* ---- forwarding to remote data centers (coord_fwd.c) ------------------- */

/* 1 when targets a and b replicate the same mutations of the write. */
static int same_mutations(const wstate *w, size_t a, size_t b) {
    for (size_t i = 0; i < w->nm; i++) {
        int ha = 0, hb = 0;
        for (size_t t = 0; t < w->mu[i].pl.n; t++) {
            ha |= w->mu[i].tix[t] == a;
            hb |= w->mu[i].tix[t] == b;
        }
        if (ha != hb) return 0;
    }
    return 1;
}

/* A target reached through a forwarder: alive, in another DC. */
static int forwardable(const bs_coord *c, const bs__target *t) {
    return !t->local && t->alive && t->has_peer && t->dc && strcmp(t->dc, c->dc) != 0;
}

/* Groups the live targets of each remote DC (that replicate the same
 * mutations): via[g] = the group's forwarder, chosen at random, for
 * every member; SIZE_MAX for targets sent to directly (this DC, dead,
 * or alone in their group). */
static void forward_groups(bs_coord *c, const wstate *w, size_t *via) {
    for (size_t g = 0; g < w->ntg; g++) via[g] = SIZE_MAX;
    if (!c->o.forward_writes) return;
    size_t grp[BS_FWD_MAX + 1];
    for (size_t g = 0; g < w->ntg; g++) {
        if (via[g] != SIZE_MAX || !forwardable(c, &w->tg[g])) continue;
        size_t k = 0;
        grp[k++] = g;
        for (size_t h = g + 1; h < w->ntg && k <= BS_FWD_MAX; h++)
            if (via[h] == SIZE_MAX && forwardable(c, &w->tg[h]) &&
                !strcmp(w->tg[h].dc, w->tg[g].dc) && same_mutations(w, g, h))
                grp[k++] = h;
        if (k < 2) continue;
        size_t fw = grp[(size_t)random() % k];
        for (size_t i = 0; i < k; i++) via[grp[i]] = fw;
    }
}

/* Arms call g to store payload as its hint if it fails. */
static void arm_hint(bs_coord *c, bs__fan *f, size_t g, const bs__target *tg, const bs_buf *pay) {
    f->calls[g].host = tg->host;
    if (!bs__hints_for(c, tg->dc)) return;
    f->calls[g].hint = malloc(pay->len);
    if (f->calls[g].hint) {
        memcpy(f->calls[g].hint, pay->data, pay->len);
        f->calls[g].hint_len = pay->len;
    }
}

/* Sends the write (pay) to forwarder fw as a MUTATION_FWD listing the
 * other members of its group; 0, or -1 when nothing was registered (the
 * caller then sends to every member directly). */
static int forward_send(bs_coord *c, bs__fan *f, const wstate *w, const size_t *via, size_t fw,
                        const bs_buf *pay, int64_t deadline) {
    bs_fwd_env *e = calloc(1, sizeof *e);
    size_t slots[BS_FWD_MAX];
    if (!e) return -1;
    bs_msg_local(c->msg, &e->coord);
    for (size_t g = 0; g < w->ntg && e->n < BS_FWD_MAX; g++) {
        if (g == fw || via[g] != fw) continue;
        arm_hint(c, f, g, &w->tg[g], pay);
        f->calls[g].verb = BS_VERB_MUTATION_FWD;
        f->calls[g].sent_ns = bs_clock_mono_ns();
        snprintf(f->calls[g].peer, sizeof f->calls[g].peer, "%s", w->tg[g].peer.addr);
        e->t[e->n].host = w->tg[g].host;
        e->t[e->n].peer = w->tg[g].peer;
        slots[e->n++] = g;
    }
    e->write = pay->data;
    e->write_len = pay->len;
    bs_buf env = BS_BUF_INIT;
    int rc = -1;
    if (!bs_fwd_encode(e, &env) && (e->id = bs__fwd_register(c, f, slots, e->n, deadline))) {
        /* the id is known only now: patch it in (offset 1, fwd.h) */
        bs_put_u64(env.data + 1, e->id);
        arm_hint(c, f, fw, &w->tg[fw], pay);
        bs__fan_send(f, fw, &w->tg[fw].peer, BS_VERB_MUTATION_FWD, env.data, env.len,
                     c->o.write_timeout_ms);
        BS__INC(c->fwd_sent);
        rc = 0;
    } else {
        for (size_t i = 0; i < e->n; i++) { /* disarm: sent directly instead */
            free(f->calls[slots[i]].hint);
            f->calls[slots[i]].hint = NULL;
        }
    }
    bs_buf_free(&env);
    free(e);
    return rc;
}

/* Sends every remote target its mutations (MUTATION; one MUTATION_FWD
 * per remote DC, see forward_groups), or stores a hint for a target that
 * is down; returns the local target's index, or SIZE_MAX when this node
 * is not a replica. */
static size_t write_send(bs_coord *c, bs__fan *f, wstate *w, const bs_mutation *m,
                         bs_mutation *sub, bs_buf *pay, int64_t now_s, int64_t deadline) {
    size_t local_g = SIZE_MAX;
    size_t via[BS__MAX_TARGETS * 4];
    size_t *vp = w->ntg <= sizeof via / sizeof via[0] ? via : NULL;
    if (vp) forward_groups(c, w, vp);
    for (size_t g = 0; vp && g < w->ntg; g++) { /* one message per remote DC first */
        if (vp[g] != g) continue;
        size_t ns = for_target(w, m, g, sub);
        bs_buf_reset(pay);
        if (!bs_wire_write_encode(now_s, sub, ns, pay) && !forward_send(c, f, w, vp, g, pay, deadline))
            continue;
        for (size_t h = 0; h < w->ntg; h++) /* could not: each member directly */
            if (vp[h] == g) vp[h] = SIZE_MAX;
    }
    for (size_t g = 0; g < w->ntg; g++) {
        size_t ns = for_target(w, m, g, sub);
        bs__target *tg = &w->tg[g];
        if (tg->local) {
            local_g = g; /* applied after the sends, to overlap with them */
            continue;
        }
        if (vp && vp[g] != SIZE_MAX) continue; /* went through its DC's forwarder */
        bs_buf_reset(pay);
        if (bs_wire_write_encode(now_s, sub, ns, pay)) {
            bs__fan_local(f, g, BS_ENOMEM);
            continue;
        }
        if (!tg->alive) {
            if (bs__hints_for(c, tg->dc)) {
                bs__hint_store(c, &tg->host, pay->data, pay->len);
                w->hinted[g] = 1;
            }
            bs__fan_local(f, g, BS_EUNAVAIL);
            continue;
        }
        arm_hint(c, f, g, tg, pay);
        bs__fan_send(f, g, &tg->peer, BS_VERB_MUTATION, pay->data, pay->len, c->o.write_timeout_ms);
    }
    return local_g;
}

int bs__coord_write(void *ud, const bs_mutation *m, size_t nm, uint16_t cl, int logged,
                    bs_exec_err *err) {
    return bs__coord_write_ex(ud, m, nm, cl, logged, 0, err);
}

/* A write whose fan-out is under way: what deciding its outcome needs. */
typedef struct wop {
    bs_coord *c;
    bs_schema *s;
    wstate w;
    bs__fan *f;
    uint16_t cl;
    int logged;
    int64_t t0, deadline;
    bs__blog_ref bref;
    int have_blog;
    /* bs__coord_write_async */
    void (*done)(void *dud, int rc, const bs_exec_err *err);
    void *dud;
} wop;

static void wop_free(wop *o) {
    bs_coord *c = o->c;
    for (size_t i = 0; o->w.mu && i < o->w.nm; i++) bs__placement_done(c, &o->w.mu[i].pl);
    bs__fan_release(o->f);
    free(o->w.mu);
    free(o->w.tg);
    free(o->w.hinted);
    bs_schema_release(o->s);
    bs__hist_add(&c->write_lat, (uint64_t)(bs_clock_mono_ns() - o->t0) / 1000);
    free(o);
}

/* The outcome of a fan-out once decided (met: the level was met).  0, or
 * -1 with err. */
static int write_outcome(wop *o, int met, bs_exec_err *err) {
    const wstate *w = &o->w;
    if (w->failed || (!met && w->numfailures)) {
        write_failure(err, o->cl, o->logged, w->nm, w);
        return -1;
    }
    if (met) {
        if (o->have_blog) bs__batchlog_remove(o->c, &o->bref);
        return 0;
    }
    write_timeout(o->c, err, o->cl, o->logged, w->nm, w->received, w->blockfor);
    snprintf(err->msg, sizeof err->msg,
             "Operation timed out - received only %d responses (%d required) at %s", w->received,
             w->blockfor, bs__cl_name(o->cl));
    return -1;
}

/* Everything of a write up to waiting for replies: admission, plan,
 * batchlog, sends, the local replica.  Returns 0 (done) or -1 (err) when
 * the outcome is known, with *out NULL; or 1 with *out, whose fan's
 * calls are all sent. */
static int write_start(bs_coord *c, const bs_mutation *m, size_t nm, uint16_t cl, int logged,
                       int applied_here, wop **out, bs_exec_err *err) {
    *out = NULL;
    int64_t t0 = bs_clock_mono_ns();
    if (cl < BS_COORD_NCL) BS__INC(c->writes[cl]);
    if (!nm) return 0;
    if (atomic_load(&c->drained)) return bs__drained_error(c, err);
    bs_schema *s = c->lbe.schema_get(c->lbe.ud);
    int nsys = 0;
    for (size_t i = 0; i < nm; i++) nsys += is_system(bs__keyspace_of(s, m[i].cf));
    if (nsys == (int)nm) { /* node-local tables: no replication */
        bs_schema_release(s);
        return c->lbe.write(c->lbe.ud, m, nm, cl, logged, err) ? -1 : 0;
    }
    uint64_t l0;
    if (bs_store_shedding(c->store, &l0)) { /* store_bg.c: write admission */
        bs_schema_release(s);
        BS__INC(c->writes_shed);
        err->code = BS_PROTO_ERR_OVERLOADED;
        snprintf(err->msg, sizeof err->msg,
                 "storage is behind on compaction (%" PRIu64 " L0 files): write refused to keep "
                 "the backlog bounded; retry with backoff", l0);
        return -1;
    }
    wop *o = calloc(1, sizeof *o);
    bs_mutation *sub = NULL;
    bs_buf pay = BS_BUF_INIT;
    int rc = -1;
    if (!o) {
        bs_schema_release(s);
        return out_of_memory(err);
    }
    o->c = c;
    o->s = s;
    o->cl = cl;
    o->logged = logged;
    o->t0 = t0;
    wstate *w = &o->w;
    w->nm = nm;
    w->any = cl == BS_CL_ANY;
    w->mu = calloc(nm, sizeof *w->mu);
    if (!w->mu) {
        out_of_memory(err);
        goto out;
    }
    BS_CQLTRACE("Determining replicas for %zu mutation%s at %s", nm, nm == 1 ? "" : "s",
                bs__cl_name(cl));
    if (write_plan(c, s, m, nm, cl, w, err)) goto out;
    if (w->ntg == 1 && w->tg[0].local && !(logged && nm > 1)) {
        rc = applied_here ? 0 : write_local_only(c, w, m, nm, cl, logged, err);
        goto out;
    }
    sub = calloc(nm, sizeof *sub);
    o->f = bs__fan_new(c, w->ntg);
    if (!sub || !o->f) {
        out_of_memory(err);
        goto out;
    }
    int64_t now_s = bs__coord_now_s(c);
    o->deadline = t0 + (int64_t)c->o.write_timeout_ms * 1000000;
    /* a logged batch over several partitions goes through the batchlog */
    if (logged && nm > 1 && c->blog) {
        if (bs__batchlog_write(c, m, nm, now_s, o->deadline, &o->bref, err)) {
            BS__INC(c->write_timeouts);
            err->cl = cl;
            goto out;
        }
        o->have_blog = 1;
#ifdef BS_TEST_HOOKS
        /* fault injection, compiled into basaltd-testhooks only (CMake
         * option BASALT_TEST_HOOKS); the shipped basaltd has no such switch */
        if (getenv("BASALT_TEST_CRASH_AFTER_BATCHLOG")) {
            BS_WARN(LOG, "BASALT_TEST_CRASH_AFTER_BATCHLOG: exiting after the batchlog write");
            _exit(137);
        }
#endif
    }
    int local_rc = 0;
    size_t local_g = write_send(c, o->f, w, m, sub, &pay, now_s, o->deadline);
    if (local_g != SIZE_MAX) {
        size_t ns = for_target(w, m, local_g, sub);
        /* on a CQL loop's inline pass this joins the pass's group
         * commit; a failed commit turns the answer of a write left in
         * flight into SERVER_ERROR (node/transport/server.c conn_flush),
         * and its answer is only ever sent after that commit */
        if (!applied_here) local_rc = bs__apply_local(c, sub, ns, now_s);
        if (local_rc && local_rc != BS_EIO)
            BS_WARN(LOG, "local write failed: %s (%s)", bs_strerror(local_rc), bs_store_errmsg());
        if (refused_by_store(local_rc)) {
            /* the local replica refused the mutation itself: a client
             * error (the remote replicas refuse it as well) */
            err->code = BS_PROTO_ERR_INVALID;
            snprintf(err->msg, sizeof err->msg, "write refused: %s", bs_store_errmsg());
            bs__fan_local(o->f, local_g, local_rc);
            goto out;
        }
    }
    /* after refused_by_store: an armed fan's ready must not run yet */
    if (local_g != SIZE_MAX) bs__fan_local(o->f, local_g, local_rc);
    free(sub);
    bs_buf_free(&pay);
    *out = o;
    return 1;
out:
    free(sub);
    bs_buf_free(&pay);
    wop_free(o);
    return rc;
}

int bs__coord_write_ex(bs_coord *c, const bs_mutation *m, size_t nm, uint16_t cl, int logged,
                       int applied_here, bs_exec_err *err) {
    wop *o;
    int rc = write_start(c, m, nm, cl, logged, applied_here, &o, err);
    if (rc != 1) return rc;
    int met = bs__fan_wait(o->f, write_met, &o->w, o->deadline);
    rc = write_outcome(o, met, err);
    wop_free(o);
    return rc;
}

static int wop_met(bs__fan *f, void *ud) { return write_met(f, &((wop *)ud)->w); }

/* The fan's ready (the messaging thread): answers the caller. */
static void write_ready(bs__fan *f, void *ud, int met) {
    (void)f;
    wop *o = ud;
    bs_exec_err err;
    memset(&err, 0, sizeof err);
    int rc = write_outcome(o, met, &err);
    void (*done)(void *, int, const bs_exec_err *) = o->done;
    void *dud = o->dud;
    wop_free(o);
    done(dud, rc, &err);
}

int bs__coord_write_async(void *ud, const bs_mutation *m, size_t nm, uint16_t cl,
                          bs_exec_err *err,
                          void (*done)(void *dud, int rc, const bs_exec_err *err), void *dud) {
    wop *o;
    int rc = write_start(ud, m, nm, cl, 0, 0, &o, err);
    if (rc != 1) return rc;
    o->done = done;
    o->dud = dud;
    int met;
    if (bs__fan_arm(o->f, wop_met, write_ready, o, &met)) return 1;
    rc = write_outcome(o, met, err);
    wop_free(o);
    return rc;
}

/* ---- replica side: MUTATION and HINT ----------------------------------- */

int bs__mutation_apply(bs_coord *c, bs__job *j) {
    bs_arena a;
    bs_arena_init(&a, 0);
    char e[160];
    int64_t now_s;
    bs_mutation *m;
    size_t n;
    const uint8_t *w = j->data;
    size_t wlen = j->len;
    if (j->in.verb == BS_VERB_MUTATION_FWD) { /* relay first: overlaps with our apply */
        int frc = bs__fwd_relay(c, j, &w, &wlen);
        if (frc) {
            bs_arena_free(&a);
            return frc;
        }
    }
    int rc = bs_wire_write_decode(w, wlen, &a, &now_s, &m, &n, e, sizeof e);
    if (rc) {
        BS_WARN(LOG, "bad %s from %s: %s", bs__verb_name(j->in.verb), j->in.from.addr, e);
    } else {
        rc = bs__apply_local(c, m, n, now_s);
        if (rc && rc != BS_EIO) BS_WARN(LOG, "replica write failed: %s", bs_store_errmsg());
        else BS__INC(c->replica_writes);
    }
    bs_arena_free(&a);
    return rc;
}

void bs__job_write_reply(bs_coord *c, bs__job *j, int status) {
    if (j->fwd_ack) bs__fwd_ack_send(c, j, status);
    bs__job_reply(c, j, status, NULL, 0);
}

void bs__job_mutation(bs_coord *c, bs__job *j) {
    bs__job_write_reply(c, j, bs__mutation_apply(c, j));
}
