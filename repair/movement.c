/*
 * movement.c - range movement for bootstrap and decommission (see
 * movement.h for the protocol).
 *
 * Plan.  For keyspace k with strategy st, pending = (current, future)
 * sub-ranges with the nodes that gain them (ring/pending.h).  A
 * bootstrap keeps the sub-ranges this node gains; their source is a
 * current replica of the sub-range that is no replica in the future ring
 * (the one the new node replaces: consistent range movement), else - with
 * consistency off, or when none exists (more nodes than the replication
 * factor never happens, but EverywhereStrategy does) - any live current
 * replica.  A decommission keeps every pending sub-range (they all are
 * ranges this node replicates) and pushes it to each node gaining it.
 * One task per (table, sub-range, peer).
 *
 * A rebuild (a node of a new datacenter) has no future ring: its tasks
 * are the vnode ranges this node replicates in the current ring, each
 * pulled from the first live replica in the source datacenter.
 *
 * State.  r->mv (under r->mu) is the movement running or last run; the
 * session thread updates its counters between tasks, readers copy it.
 */
#include "repair/movement.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/error.h"
#include "common/json.h"
#include "common/log.h"
#include "repair/session_int.h"
#include "ring/pending.h"

#define LOG BS__REPAIR_LOG
#define SKIP 1 /* a sub-range with no copy left: nothing to stream */

typedef struct bs__movement_state {
    bs_movement_kind kind;
    const char *phase; /* static string */
    int running;
    bs_movement_report rep;
    int64_t started_ms;
    char peer[BS_REPAIR_ADDRLEN + 8]; /* the peer of the task in progress */
    char cf[256];
    /* tasks in progress, and the node's rx (pull) or tx (push) byte
     * counter when the stream phase began, so /streams counts chunks as
     * they land (at least the bytes of the tasks done) */
    int in_task, task_rx;
    uint64_t task_base;
} mv_state;

typedef struct task {
    char cf[256];
    int64_t s, e;
    bs_repair_peer peer; /* bootstrap, remove: the source; decommission:
                            the target */
    bs_repair_peer target; /* remove: where the source sends it */
    char peer_name[BS_REPAIR_ADDRLEN + 8];
    uint64_t bytes; /* what the source holds in the range (prepare) */
    int done;       /* arrived in an earlier run (opts.is_done) */
} task;

typedef struct plan {
    task *t;
    size_t n, cap;
    int repair_needed;
} plan;

static const char *kind_name(bs_movement_kind k) {
    switch (k) {
    case BS_MOVE_BOOTSTRAP: return "bootstrap";
    case BS_MOVE_DECOMMISSION: return "decommission";
    case BS_MOVE_REMOVE: return "removenode";
    case BS_MOVE_REBUILD: return "rebuild";
    }
    return "?";
}

static void set_phase(bs_repair *r, const char *phase) {
    pthread_mutex_lock(&r->mu);
    r->mv->phase = phase;
    pthread_mutex_unlock(&r->mu);
}

static int fail(bs_movement_report *rep, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(bs_movement_report *rep, int rc, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rep->error, sizeof rep->error, fmt, ap);
    va_end(ap);
    return rc;
}

static int add_task(plan *p, const char *cf, int64_t s, int64_t e,
                    const bs_repair_peer *peer, const bs_repair_peer *target) {
    if (p->n == p->cap) {
        size_t nc = p->cap ? 2 * p->cap : 64;
        task *nt = realloc(p->t, nc * sizeof *nt);
        if (!nt) return BS_ENOMEM;
        p->t = nt;
        p->cap = nc;
    }
    task *t = &p->t[p->n++];
    memset(t, 0, sizeof *t);
    snprintf(t->cf, sizeof t->cf, "%s", cf);
    t->s = s;
    t->e = e;
    t->peer = *peer;
    if (target) t->target = *target;
    snprintf(t->peer_name, sizeof t->peer_name, "%s:%u", peer->addr,
             peer->port);
    return 0;
}

static int same_host(const bs_ring_snapshot *a, uint32_t ia,
                     const bs_ring_snapshot *b, uint32_t ib) {
    bs_ring_node_desc x, y;
    return !bs_ring_snapshot_node(a, ia, &x) &&
           !bs_ring_snapshot_node(b, ib, &y) &&
           !memcmp(x.host_id.b, y.host_id.b, 16);
}

/* The source of bootstrap sub-range (s, e]: a live current replica that
 * no longer replicates it in the future ring (consistent), else any live
 * current replica (then *loose is set).  0, SKIP (opts.allow_lost and no
 * live replica at all: a replacement of a node that held the only copy),
 * or BS_EUNAVAIL with the message in rep. */
static int choose_source(bs_repair *r, const bs_movement_opts *o,
                         const bs_ring_replica_map *mc,
                         const bs_ring_replica_map *mf, const char *ks,
                         int64_t s, int64_t e, bs_repair_peer *src,
                         int *loose, bs_movement_report *rep) {
    const bs_ring_snapshot *cur = bs_ring_replica_map_snapshot(mc);
    const bs_ring_snapshot *fut = bs_ring_replica_map_snapshot(mf);
    const uint32_t *cr, *fr;
    size_t cn = 0, fn = 0;
    if (bs_ring_replica_map_lookup(mc, e, &cr, &cn) || !cn)
        return fail(rep, BS_EUNAVAIL, "range (%" PRId64 ", %" PRId64
                    "] of %s has no replica in the current ring", s, e, ks);
    bs_ring_replica_map_lookup(mf, e, &fr, &fn);
    const char *down = NULL;
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < cn; i++) {
            int stays = 0;
            for (size_t j = 0; j < fn; j++) stays |= same_host(cur, cr[i], fut, fr[j]);
            if (pass == 0 && stays) continue;
            bs_ring_node_desc d;
            if (bs_ring_snapshot_node(cur, cr[i], &d)) continue;
            if (r->env.alive(r->env.ud, &d.host_id) != 1) {
                if (pass == 0) down = d.endpoint;
                continue;
            }
            if (r->env.endpoint(r->env.ud, &d, src)) continue;
            if (pass == 1) *loose = 1;
            return 0;
        }
        if (pass == 0 && down && o->consistent)
            return fail(rep, BS_EUNAVAIL,
                        "range (%" PRId64 ", %" PRId64 "] of keyspace %s must "
                        "come from %s, which gives it up, but that node is "
                        "down: start it again, or set consistent_range_"
                        "movement: false to stream from another replica (and "
                        "run repair afterwards)",
                        s, e, ks, down);
    }
    if (o->allow_lost) { /* a replacement: nobody else has it */
        BS_WARN(LOG, "range (%" PRId64 ", %" PRId64 "] of keyspace %s had no "
                "other replica than the dead node: its data is lost (raise the "
                "keyspace's replication factor)", s, e, ks);
        return SKIP;
    }
    return fail(rep, BS_EUNAVAIL, "range (%" PRId64 ", %" PRId64
                "] of keyspace %s: no live replica to stream it from", s, e, ks);
}

/* A removal's sub-range (s, e] gained by future node `gain`: the source
 * is a live current replica (the removed node is down), the target the
 * gaining node.  0, SKIP (no live replica: the data is lost, logged) or
 * BS_EUNAVAIL (the gaining node is down) with the message in rep. */
static int remove_task_peers(bs_repair *r, const bs_ring_replica_map *mc,
                             const bs_ring_replica_map *mf, uint32_t gain,
                             const char *ks, int64_t s, int64_t e,
                             bs_repair_peer *src, bs_repair_peer *dst,
                             bs_movement_report *rep) {
    const bs_ring_snapshot *cur = bs_ring_replica_map_snapshot(mc);
    const bs_ring_snapshot *fut = bs_ring_replica_map_snapshot(mf);
    bs_ring_node_desc g;
    if (bs_ring_snapshot_node(fut, gain, &g) ||
        r->env.alive(r->env.ud, &g.host_id) != 1 || r->env.endpoint(r->env.ud, &g, dst))
        return fail(rep, BS_EUNAVAIL, "node %s, the new owner of range (%" PRId64
                    ", %" PRId64 "] of keyspace %s, is down", g.endpoint, s, e, ks);
    const uint32_t *cr;
    size_t cn = 0;
    bs_ring_replica_map_lookup(mc, e, &cr, &cn);
    for (size_t i = 0; i < cn; i++) {
        bs_ring_node_desc d;
        if (bs_ring_snapshot_node(cur, cr[i], &d) ||
            !memcmp(d.host_id.b, g.host_id.b, 16) ||
            r->env.alive(r->env.ud, &d.host_id) != 1 || r->env.endpoint(r->env.ud, &d, src))
            continue;
        return 0;
    }
    BS_WARN(LOG, "range (%" PRId64 ", %" PRId64 "] of keyspace %s had no "
            "replica left but the removed node: its data is lost (raise the "
            "keyspace's replication factor)", s, e, ks);
    return SKIP;
}

/* The tasks of keyspace k (see the top). */
static int plan_keyspace(bs_repair *r, const bs_movement_opts *o,
                         const bs_ring_snapshot *cur,
                         const bs__repair_ks_desc *k, plan *p,
                         bs_movement_report *rep) {
    bs_ring_pending *pend = NULL;
    bs_ring_replica_map *mc = NULL, *mf = NULL;
    int rc = bs_ring_pending_build(cur, o->future, k->strategy, &pend);
    if (!rc) rc = bs_ring_replica_map_build(cur, k->strategy, &mc);
    if (!rc) rc = bs_ring_replica_map_build(o->future, k->strategy, &mf);
    if (rc) {
        fail(rep, rc, "keyspace %s: cannot compute its pending ranges: %s",
             k->name, bs_strerror(rc));
        goto out;
    }
    uint32_t self_f = UINT32_MAX;
    bs_ring_snapshot_find_node(o->future, &r->env.self, &self_f);
    size_t nr = bs_ring_pending_range_count(pend);
    for (size_t i = 0; i < nr && !rc; i++) {
        bs_ring_range rg;
        const uint32_t *nodes;
        size_t n;
        bs_ring_pending_range_at(pend, i, &rg, &nodes, &n);
        for (size_t j = 0; j < n && !rc; j++) {
            bs_repair_peer peer, target;
            if (o->kind == BS_MOVE_BOOTSTRAP) {
                if (nodes[j] != self_f) continue;
                int loose = 0;
                rc = choose_source(r, o, mc, mf, k->name, rg.start, rg.end,
                                   &peer, &loose, rep);
                p->repair_needed |= loose;
            } else if (o->kind == BS_MOVE_REMOVE) {
                rc = remove_task_peers(r, mc, mf, nodes[j], k->name, rg.start,
                                       rg.end, &peer, &target, rep);
            } else {
                bs_ring_node_desc d;
                if (bs_ring_snapshot_node(o->future, nodes[j], &d)) continue;
                if (r->env.alive(r->env.ud, &d.host_id) != 1 ||
                    r->env.endpoint(r->env.ud, &d, &peer)) {
                    rc = fail(rep, BS_EUNAVAIL,
                              "node %s, the new owner of range (%" PRId64
                              ", %" PRId64 "] of keyspace %s, is down: start "
                              "it again before decommissioning",
                              d.endpoint, rg.start, rg.end, k->name);
                    break;
                }
            }
            if (rc == SKIP) {
                rc = 0;
                p->repair_needed = 1;
                continue;
            }
            for (size_t t = 0; t < k->ntables && !rc; t++)
                rc = add_task(p, k->tables[t].cf, rg.start, rg.end, &peer,
                              o->kind == BS_MOVE_REMOVE ? &target : NULL);
        }
    }
out:
    bs_ring_replica_map_release(mc);
    bs_ring_replica_map_release(mf);
    bs_ring_pending_free(pend);
    return rc;
}

/* ---- rebuild ---------------------------------------------------------- */

static int dc_is(const bs_ring_snapshot *ring, uint32_t i, const char *dc) {
    bs_ring_node_desc d;
    return !bs_ring_snapshot_node(ring, i, &d) && d.dc && !strcmp(d.dc, dc);
}

int bs_repair_check_source_dc(bs_repair *r, const char *dc, char *err,
                              size_t errlen) {
    char tmp[8];
    if (!err) err = tmp, errlen = sizeof tmp;
    bs_ring_snapshot *ring = r->env.ring(r->env.ud);
    if (!ring) {
        snprintf(err, errlen, "the ring is not known yet");
        return BS_EUNAVAIL;
    }
    uint32_t n = bs_ring_snapshot_node_count(ring), members = 0, up = 0;
    char known[256] = "";
    for (uint32_t i = 0; i < n; i++) {
        bs_ring_node_desc d;
        if (bs_ring_snapshot_node(ring, i, &d) || !d.dc) continue;
        if (!strcmp(d.dc, dc)) {
            members++;
            up += !memcmp(d.host_id.b, r->env.self.b, 16) ||
                  r->env.alive(r->env.ud, &d.host_id) == 1;
        } else if (!strstr(known, d.dc) && strlen(known) + strlen(d.dc) + 3 < sizeof known) {
            if (known[0]) strcat(known, ", ");
            strcat(known, d.dc);
        }
    }
    bs_ring_snapshot_release(ring);
    if (!members) {
        snprintf(err, errlen, "unknown datacenter '%s' (the ring's other "
                 "datacenters: %s)", dc, known[0] ? known : "none");
        return BS_ENOTFOUND;
    }
    if (!up) {
        snprintf(err, errlen, "no node of datacenter '%s' is up (%u members, "
                 "all down)", dc, members);
        return BS_EUNAVAIL;
    }
    return 0;
}

/* The tasks of a rebuild for keyspace k: each vnode range this node
 * replicates in `cur`, from the first live replica in o->source_dc.  A
 * range with no replica there (SimpleStrategy, a keyspace not replicated
 * in that DC) is left out with a warning, unless the keyspace was named;
 * a range whose replicas there are all down fails the rebuild. */
static int plan_rebuild_keyspace(bs_repair *r, const bs_movement_opts *o,
                                 const bs_ring_snapshot *cur,
                                 const bs__repair_ks_desc *k, plan *p,
                                 bs_movement_report *rep) {
    bs_ring_replica_map *m = NULL;
    bs_ring_range *rg = NULL;
    size_t nr = 0;
    uint32_t self;
    int rc = bs_ring_snapshot_find_node(cur, &r->env.self, &self);
    if (rc) return fail(rep, BS_EINVAL, "this node is not a member of the ring");
    rc = bs_ring_replica_map_build(cur, k->strategy, &m);
    if (!rc) rc = bs_ring_replica_map_ranges(m, self, &rg, &nr);
    if (rc) {
        bs_ring_replica_map_release(m);
        return fail(rep, rc, "keyspace %s: cannot place its replicas: %s",
                    k->name, bs_strerror(rc));
    }
    size_t nodc = 0; /* ranges with no replica in the source DC */
    for (size_t i = 0; i < nr && !rc; i++) {
        const uint32_t *nodes;
        size_t nn = 0, in_dc = 0;
        bs_repair_peer src;
        int found = 0;
        bs_ring_replica_map_lookup(m, rg[i].end, &nodes, &nn);
        for (size_t j = 0; j < nn && !found; j++) {
            bs_ring_node_desc d;
            if (nodes[j] == self || !dc_is(cur, nodes[j], o->source_dc) ||
                bs_ring_snapshot_node(cur, nodes[j], &d))
                continue;
            in_dc++;
            found = r->env.alive(r->env.ud, &d.host_id) == 1 &&
                    !r->env.endpoint(r->env.ud, &d, &src);
        }
        if (!in_dc && o->keyspace) {
            rc = fail(rep, BS_EUNAVAIL, "range (%" PRId64 ", %" PRId64 "] of "
                      "keyspace %s has no replica in datacenter %s",
                      rg[i].start, rg[i].end, k->name, o->source_dc);
        } else if (!in_dc) { /* e.g. SimpleStrategy, or no RF there */
            nodc++;
            continue;
        } else if (!found)
            rc = fail(rep, BS_EUNAVAIL, "range (%" PRId64 ", %" PRId64 "] of "
                      "keyspace %s: no live replica in datacenter %s",
                      rg[i].start, rg[i].end, k->name, o->source_dc);
        for (size_t t = 0; t < k->ntables && !rc; t++)
            rc = add_task(p, k->tables[t].cf, rg[i].start, rg[i].end, &src, NULL);
    }
    if (nodc) {
        BS_WARN(LOG, "rebuild: %zu of %zu ranges of keyspace %s have no replica "
                "in datacenter %s and are not streamed (run repair on this "
                "node for them)", nodc, nr, k->name, o->source_dc);
        p->repair_needed = 1;
    }
    free(rg);
    bs_ring_replica_map_release(m);
    return rc;
}

static int build_plan(bs_repair *r, const bs_movement_opts *o,
                      const bs_ring_snapshot *cur, plan *p,
                      bs_movement_report *rep) {
    bs_repair_catalog c;
    int rc = bs__repair_catalog_get(r, cur, &c);
    if (rc) {
        bs__repair_catalog_free(&c);
        return fail(rep, rc, "cannot list the keyspaces: %s", bs_strerror(rc));
    }
    for (size_t i = 0; i < c.nks && !rc; i++) {
        const bs__repair_ks_desc *k = &c.ks[i];
        if (k->system || !k->ntables) continue;
        if (o->keyspace && strcmp(o->keyspace, k->name)) continue;
        if (!k->strategy) {
            BS_WARN(LOG, "keyspace %s not moved: its replication cannot be "
                    "computed (%s)", k->name, bs_strerror(k->strategy_rc));
            continue;
        }
        rc = o->kind == BS_MOVE_REBUILD ? plan_rebuild_keyspace(r, o, cur, k, p, rep)
                                        : plan_keyspace(r, o, cur, k, p, rep);
    }
    bs__repair_catalog_free(&c);
    return rc;
}

/* 1 when peer is this node's own endpoint. */
static int is_self(bs_repair *r, const bs_repair_peer *peer) {
    bs_ring_snapshot *ring = r->env.ring(r->env.ud);
    uint32_t i;
    bs_ring_node_desc d;
    bs_repair_peer me;
    int yes = ring && !bs_ring_snapshot_find_node(ring, &r->env.self, &i) &&
              !bs_ring_snapshot_node(ring, i, &d) && !r->env.endpoint(r->env.ud, &d, &me) &&
              !strcmp(me.addr, peer->addr) && me.port == peer->port;
    if (ring) bs_ring_snapshot_release(ring);
    return yes;
}

/* Runs one task: 0 or an error (message in rep). */
static int run_task(bs_repair *r, const bs_movement_opts *o, const task *t,
                    const bs_repair_peer *self, uint64_t res[3],
                    bs_movement_report *rep) {
    int rc;
    if (o->kind == BS_MOVE_REMOVE && is_self(r, &t->peer)) {
        rc = bs__repair_do_send(r, t->cf, &t->s, &t->e, 1, &t->target, NULL, 0, 0,
                                res);
    } else if (o->kind == BS_MOVE_DECOMMISSION) {
        rc = bs__repair_do_send(r, t->cf, &t->s, &t->e, 1, &t->peer, NULL, 0, 0,
                                res);
    } else {
        bs_buf b = BS_BUF_INIT;
        uint8_t *ans = NULL;
        size_t alen = 0;
        /* to this node: chunks carry a session id that only this request
         * accepts, so a stream requested before a restart cannot land */
        uint64_t sess = o->kind == BS_MOVE_REMOVE ? 0 : bs__repair_rx_begin(r, t->cf);
        rc = bs__repair_req_encode(&b, t->cf, &t->s, &t->e, 1);
        if (!rc)
            rc = bs__repair_req_encode_target(
                &b, o->kind == BS_MOVE_REMOVE ? &t->target : self);
        if (!rc && sess && bs_buf_append_u64(&b, sess)) rc = BS_ENOMEM;
        if (!rc)
            rc = bs__repair_call_watched(r, &t->peer, BS_VERB_REPAIR_SEND_ALL, &b,
                                         r->o.send_timeout_ms, 1, &ans, &alen);
        if (sess) { /* ingests what arrived (stream_ingest_sst) */
            int irc = bs__repair_rx_end(r, sess, rc == 0);
            if (!rc) rc = irc;
        }
        if (!rc && alen >= 24) {
            bs_rbuf rb;
            bs_rbuf_init(&rb, ans, alen);
            for (int i = 0; i < 3; i++) bs_rbuf_u64(&rb, &res[i]);
        }
        free(ans);
        bs_buf_free(&b);
    }
    if (rc)
        fail(rep, rc, "streaming %s range (%" PRId64 ", %" PRId64 "] %s %s "
             "failed: %s%s", t->cf, t->s, t->e,
             o->kind == BS_MOVE_DECOMMISSION ? "to" : "from", t->peer_name,
             bs_strerror(rc),
             rc == BS_EUNAVAIL ? " (the failure detector says that node is down)" : "");
    return rc;
}

/* 1 when task t's source is this node (decommission, or a removal's
 * range this node sends itself). */
static int pushes(bs_repair *r, const bs_movement_opts *o, const task *t) {
    return o->kind == BS_MOVE_DECOMMISSION ||
           (o->kind == BS_MOVE_REMOVE && is_self(r, &t->peer));
}

/* The bytes task t's source holds in its range, as RocksDB estimates
 * them from its files (REPAIR_SIZE: no read; a Merkle tree here read
 * the whole range once more before streaming it): 0 or an error. */
static int task_size(bs_repair *r, const bs_movement_opts *o, task *t) {
    if (pushes(r, o, t)) return bs__repair_do_size(r, t->cf, &t->s, &t->e, 1, &t->bytes);
    bs_buf b = BS_BUF_INIT;
    uint8_t *ans = NULL;
    size_t alen = 0;
    int rc = bs__repair_req_encode(&b, t->cf, &t->s, &t->e, 1);
    if (!rc)
        rc = bs__repair_call(r, &t->peer, BS_VERB_REPAIR_SIZE, &b, r->o.tree_timeout_ms, &ans,
                             &alen);
    if (!rc) {
        bs_rbuf rb;
        bs_rbuf_init(&rb, ans, alen);
        if (bs_rbuf_u64(&rb, &t->bytes) || bs_rbuf_left(&rb)) rc = BS_ECORRUPT;
    }
    free(ans);
    bs_buf_free(&b);
    return rc;
}

/* Prepare: the size of every task not done yet into bytes_total (0 when
 * a source cannot say: progress is then by ranges only). */
static void size_all(bs_repair *r, const bs_movement_opts *o, plan *p) {
    uint64_t total = 0;
    for (size_t i = 0; i < p->n; i++)
        p->t[i].done = o->is_done && o->is_done(o->ud, p->t[i].cf, p->t[i].s, p->t[i].e);
    for (size_t i = 0; i < p->n && !bs__repair_stopping(r); i++) {
        task *t = &p->t[i];
        if (t->done) continue;
        int rc = task_size(r, o, t);
        if (rc) {
            BS_INFO(LOG, "%s cannot size %s (%" PRId64 ", %" PRId64 "]: %s; "
                    "progress is counted in ranges", t->peer_name, t->cf, t->s,
                    t->e, bs_strerror(rc));
            total = 0;
            break;
        }
        total += t->bytes;
    }
    pthread_mutex_lock(&r->mu);
    r->mv->rep.bytes_total = total;
    pthread_mutex_unlock(&r->mu);
}

/* (table, range) tasks in flight at once: a join's ranges come from
 * several sources, and one task at a time left all but one idle (a 2 GB
 * join streamed at 0.38x a raw bulk load, docs/BENCHMARKS.md) */
#define STREAM_PARALLEL 3

typedef struct stream_ctx {
    bs_repair *r;
    const bs_movement_opts *o;
    const plan *p;
    const bs_repair_peer *self;
    bs_movement_report *rep;
    pthread_mutex_t mu; /* next, rc, rep's error, mark_done */
    size_t next;
    int rc;
} stream_ctx;

static void *stream_worker(void *ud) {
    stream_ctx *c = ud;
    bs_repair *r = c->r;
    for (;;) {
        pthread_mutex_lock(&c->mu);
        if (c->rc || c->next == c->p->n) {
            pthread_mutex_unlock(&c->mu);
            return NULL;
        }
        const task *t = &c->p->t[c->next++];
        pthread_mutex_unlock(&c->mu);
        int rc = 0;
        if (bs__repair_stopping(r)) rc = BS_ECLOSED;
        if (!rc && t->done) {
            pthread_mutex_lock(&r->mu);
            r->mv->rep.ranges_skipped++;
            pthread_mutex_unlock(&r->mu);
            continue;
        }
        bs_movement_report one;
        memset(&one, 0, sizeof one);
        uint64_t res[3] = {0, 0, 0};
        if (!rc) {
            pthread_mutex_lock(&r->mu);
            snprintf(r->mv->peer, sizeof r->mv->peer, "%s", t->peer_name);
            snprintf(r->mv->cf, sizeof r->mv->cf, "%s", t->cf);
            r->mv->in_task++;
            pthread_mutex_unlock(&r->mu);
            rc = run_task(r, c->o, t, c->self, res, &one);
            pthread_mutex_lock(&r->mu);
            r->mv->in_task--;
            pthread_mutex_unlock(&r->mu);
        }
        pthread_mutex_lock(&c->mu);
        if (!rc && c->o->mark_done) {
            rc = c->o->mark_done(c->o->ud, t->cf, t->s, t->e);
            if (rc) fail(&one, rc, "cannot record progress: %s", bs_strerror(rc));
        }
        if (rc && !c->rc) {
            c->rc = rc;
            if (rc == BS_ECLOSED && !one.error[0])
                fail(&one, rc, "the node is stopping");
            memcpy(c->rep->error, one.error, sizeof c->rep->error);
        }
        pthread_mutex_unlock(&c->mu);
        if (rc) return NULL;
        pthread_mutex_lock(&r->mu);
        r->mv->rep.ranges_done++;
        r->mv->rep.rows += res[0];
        r->mv->rep.bytes += res[1];
        pthread_mutex_unlock(&r->mu);
    }
}

static int stream_all(bs_repair *r, const bs_movement_opts *o, const plan *p,
                      const bs_repair_peer *self, bs_movement_report *rep) {
    stream_ctx c = {r, o, p, self, rep, PTHREAD_MUTEX_INITIALIZER, 0, 0};
    int task_rx = o->kind != BS_MOVE_DECOMMISSION;
    pthread_mutex_lock(&r->mu);
    r->mv->task_rx = task_rx;
    r->mv->task_base = task_rx ? atomic_load(&r->rx_bytes) : atomic_load(&r->tx_bytes);
    pthread_mutex_unlock(&r->mu);
    pthread_t th[STREAM_PARALLEL];
    int nth = 0;
    for (; nth < STREAM_PARALLEL && (size_t)nth < p->n; nth++)
        if (pthread_create(&th[nth], NULL, stream_worker, &c)) break;
    if (nth == 0 && p->n) stream_worker(&c); /* no thread: this one */
    for (int i = 0; i < nth; i++) pthread_join(th[i], NULL);
    pthread_mutex_destroy(&c.mu);
    return c.rc;
}

static int self_peer(bs_repair *r, const bs_ring_snapshot *ring,
                     bs_repair_peer *out, bs_movement_report *rep) {
    uint32_t i;
    bs_ring_node_desc d;
    if (bs_ring_snapshot_find_node(ring, &r->env.self, &i) ||
        bs_ring_snapshot_node(ring, i, &d) ||
        r->env.endpoint(r->env.ud, &d, out))
        return fail(rep, BS_EINVAL, "this node is not in the ring");
    return 0;
}

static int begin(bs_repair *r, const bs_movement_opts *o,
                 bs_movement_report *rep) {
    pthread_mutex_lock(&r->mu);
    if (r->mv && r->mv->running) {
        pthread_mutex_unlock(&r->mu);
        return fail(rep, BS_EBUSY, "another range movement is running");
    }
    if (!r->mv) r->mv = calloc(1, sizeof *r->mv);
    if (!r->mv) {
        pthread_mutex_unlock(&r->mu);
        return fail(rep, BS_ENOMEM, "out of memory");
    }
    memset(r->mv, 0, sizeof *r->mv);
    r->mv->kind = o->kind;
    r->mv->phase = "prepare";
    r->mv->running = 1;
    r->mv->started_ms = bs_clock_mono_ns() / 1000000;
    pthread_mutex_unlock(&r->mu);
    return 0;
}

int bs_repair_move(bs_repair *r, const bs_movement_opts *o,
                   bs_movement_report *rep) {
    memset(rep, 0, sizeof *rep);
    if (!o->future && o->kind != BS_MOVE_REBUILD)
        return fail(rep, BS_EINVAL, "no future ring");
    if (o->kind == BS_MOVE_REBUILD &&
        (!o->source_dc || !o->source_dc[0]))
        return fail(rep, BS_EINVAL, "rebuild needs a source datacenter");
    int rc = begin(r, o, rep);
    if (rc) return rc;
    int64_t t0 = bs_clock_mono_ns();
    plan p = {0};
    bs_repair_peer self;
    memset(&self, 0, sizeof self);
    bs_ring_snapshot *cur = r->env.ring(r->env.ud);
    if (!cur)
        rc = fail(rep, BS_EUNAVAIL, "the ring is not known yet");
    else if (o->kind == BS_MOVE_BOOTSTRAP)
        rc = self_peer(r, o->future, &self, rep);
    else if (o->kind == BS_MOVE_REBUILD) {
        char err[300];
        rc = bs_repair_check_source_dc(r, o->source_dc, err, sizeof err);
        if (rc)
            fail(rep, rc, "%s", err);
        else
            rc = self_peer(r, cur, &self, rep);
    }
    if (!rc && bs_ring_snapshot_node_count(cur)) rc = build_plan(r, o, cur, &p, rep);
    if (cur) bs_ring_snapshot_release(cur);
    pthread_mutex_lock(&r->mu);
    r->mv->rep.ranges_total = p.n;
    r->mv->rep.repair_needed = p.repair_needed;
    pthread_mutex_unlock(&r->mu);
    if (!rc) {
        BS_INFO(LOG, "%s: %zu (table, range) streams planned%s",
                kind_name(o->kind), p.n, p.repair_needed ? " (some from replicas that keep their "
                                       "copy: run repair afterwards)"
                                     : "");
        size_all(r, o, &p);
        set_phase(r, "stream");
        rc = stream_all(r, o, &p, &self, rep);
    }
    free(p.t);
    pthread_mutex_lock(&r->mu);
    mv_state *m = r->mv;
    m->phase = rc ? "failed" : "complete";
    m->running = 0;
    m->in_task = 0;
    m->rep.duration_ms = (bs_clock_mono_ns() - t0) / 1000000;
    snprintf(m->rep.error, sizeof m->rep.error, "%s", rep->error);
    bs_movement_report e = m->rep;
    pthread_mutex_unlock(&r->mu);
    *rep = e;
    return rc;
}

int bs_repair_streams_json(bs_repair *r, bs_buf *out) {
    mv_state m;
    int have = 0;
    pthread_mutex_lock(&r->mu);
    if (r->mv) {
        m = *r->mv;
        have = 1;
    }
    pthread_mutex_unlock(&r->mu);
    int rc = 0;
    rc |= bs_buf_appendf(out, "{\"sessions\":[");
    if (have) {
        int64_t ms = m.running ? bs_clock_mono_ns() / 1000000 - m.started_ms
                               : m.rep.duration_ms;
        /* the chunks of the task in progress count as they land */
        if (m.in_task) {
            uint64_t now = m.task_rx ? atomic_load(&r->rx_bytes) : atomic_load(&r->tx_bytes);
            if (now > m.task_base && now - m.task_base > m.rep.bytes)
                m.rep.bytes = now - m.task_base;
        }
        rc |= bs_buf_appendf(
            out,
            "{\"operation\":\"%s\",\"phase\":\"%s\",\"running\":%s,"
            "\"ranges_total\":%" PRIu64 ",\"ranges_done\":%" PRIu64
            ",\"ranges_skipped\":%" PRIu64 ",\"rows\":%" PRIu64
            ",\"bytes\":%" PRIu64 ",\"bytes_total\":%" PRIu64 ",\"elapsed_ms\":%" PRId64
            ",\"bytes_per_s\":%" PRIu64 ",\"repair_needed\":%s,\"peer\":",
            kind_name(m.kind),
            m.phase, m.running ? "true" : "false", m.rep.ranges_total,
            m.rep.ranges_done, m.rep.ranges_skipped, m.rep.rows, m.rep.bytes,
            m.rep.bytes_total, ms, ms > 0 ? m.rep.bytes * 1000 / (uint64_t)ms : 0,
            m.rep.repair_needed ? "true" : "false");
        rc |= bs_json_quote(out, m.peer, strlen(m.peer));
        rc |= bs_buf_appendf(out, ",\"table\":");
        rc |= bs_json_quote(out, m.cf, strlen(m.cf));
        rc |= bs_buf_appendf(out, ",\"error\":");
        rc |= bs_json_quote(out, m.rep.error, strlen(m.rep.error));
        rc |= bs_buf_appendf(out, "}");
    }
    rc |= bs_buf_appendf(out, "],\"streams\":");
    rc |= bs__repair_live_json(r, out);
    rc |= bs_buf_appendf(
        out,
        ",\"received_bytes\":%" PRIu64 ",\"received_rows\":%" PRIu64
        ",\"sent_bytes\":%" PRIu64 "}",
        (uint64_t)atomic_load(&r->rx_bytes), (uint64_t)atomic_load(&r->rx_rows),
        (uint64_t)atomic_load(&r->tx_bytes));
    return rc ? BS_ENOMEM : 0;
}
