/*
 * coord.c - the replicated coordinator's frame (see coord.h): options,
 * lifecycle, replica placement with a cache of replica maps, consistency
 * arithmetic, the request fan-out used by both paths, the replica-side
 * stage, hints glue and statistics.  The write path is in coord_write.c,
 * reads, read repair and range scans in coord_read.c.
 *
 * Placement cache.  A replica map (ring/strategy.h) precomputes the
 * replicas of every vnode for one (ring snapshot, strategy); building it
 * is O(vnodes * walk), so entries are kept per (ring pointer, future ring
 * pointer, replication signature) and shared by concurrent requests
 * (refcounted under cache_lock).  When membership hands out a new ring
 * pointer the old entries are unlinked and freed once their last user is
 * done.  The entry retains the snapshots, so a cached pointer can never be
 * reused by a different snapshot while it is cached.
 *
 * Consistency.  A level becomes a list of requirements "need N acks from
 * replicas of DC d (or of any DC)": ONE/TWO/THREE/ANY {any, 1/2/3/1},
 * QUORUM {any, sum(rf)/2+1}, ALL {any, natural replicas}, LOCAL_ONE
 * {local, 1}, LOCAL_QUORUM {local, rf(local)/2+1}, EACH_QUORUM {d,
 * rf(d)/2+1} for every DC holding replicas.  Writes add the pending
 * endpoints of each requirement's DC to its need (as Cassandra's
 * blockFor + pending).  Unavailable is decided before anything is sent by
 * counting live replicas per requirement.
 *
 * Fan-out.  A bs__fan holds one slot per peer request; response callbacks
 * (messaging thread) fill their slot under the fan's mutex and signal its
 * condition variable; the requesting thread (an executor worker) waits on
 * it with a monotonic deadline and a predicate.  The fan is refcounted
 * (the waiter + every outstanding send) because callbacks may arrive after
 * the waiter gave up.  A write slot may carry a hint: if that request
 * fails or times out, the callback hands the hint to the stage.
 *
 * Stage.  Replica-side handlers copy the request and queue it; a few
 * worker threads decode, touch the store and reply (bs_msg_reply is
 * thread-safe), so the messaging loop never waits on RocksDB.
 */
#include "node/coord/coord_int.h"
#include "node/coord/paxos_wire.h"
#include "node/local.h"
#include "node/coord/placement.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>

#include "common/error.h"
#include "common/log.h"
#include "common/sched.h"
#include "node/coord/wire.h"
#include "query/proto.h"

#define LOG "coord"

/* ---- histogram ------------------------------------------------------------ */

/* bucket = floor(8 * log2(us + 1)): 8 buckets per power of two. */
static size_t hist_bucket(uint64_t us) {
    double l = log2((double)us + 1.0) * 8.0;
    size_t b = (size_t)l;
    return b >= BS__HIST_N ? BS__HIST_N - 1 : b;
}

void bs__hist_add(bs__hist *h, uint64_t us) {
    atomic_fetch_add_explicit(&h->b[hist_bucket(us)], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->n, 1, memory_order_relaxed);
}

uint64_t bs__hist_pct(bs__hist *h, double pct) {
    uint64_t n = atomic_load_explicit(&h->n, memory_order_relaxed);
    if (!n) return 0;
    uint64_t want = (uint64_t)ceil((double)n * pct / 100.0), seen = 0;
    if (!want) want = 1;
    for (size_t i = 0; i < BS__HIST_N; i++) {
        seen += atomic_load_explicit(&h->b[i], memory_order_relaxed);
        if (seen >= want) return (uint64_t)(exp2((double)(i + 1) / 8.0) - 1.0);
    }
    return (uint64_t)(exp2((double)BS__HIST_N / 8.0));
}

/* ---- options -------------------------------------------------------------- */

void bs_coord_opts_default(bs_coord_opts *o) {
    memset(o, 0, sizeof *o);
    o->local_dc = "dc1";
    o->local_rack = "rack1";
    o->write_timeout_ms = 2000;
    o->read_timeout_ms = 5000;
    o->range_timeout_ms = 10000;
    o->speculative_retry = "99p";
    o->hints_enabled = 1;
    o->max_hint_window_ms = 3ull * 3600 * 1000;
    o->hint_throttle_bytes = 1024 * 1024;
    o->hint_poll_ms = 1000;
    o->stage_threads = 2;
    o->range_page = 128;
    o->inline_replica_writes = 1;
    o->inline_replica_reads = 1;
    o->range_ahead_max = 16;
    o->forward_writes = 1;
}

void bs_coord_opts_from_config(const bs_config *cfg, bs_coord_opts *o) {
    bs_coord_opts_default(o);
    o->local_dc = cfg->dc;
    o->local_rack = cfg->rack;
    o->write_timeout_ms = (uint32_t)cfg->write_request_timeout_ms;
    o->read_timeout_ms = (uint32_t)cfg->read_request_timeout_ms;
    o->range_timeout_ms = (uint32_t)cfg->range_request_timeout_ms;
    if (cfg->range_concurrency_max > 0) o->range_ahead_max = (uint32_t)cfg->range_concurrency_max;
    o->speculative_retry = cfg->speculative_retry;
    o->hints_enabled = cfg->hinted_handoff_enabled;
    o->max_hint_window_ms = cfg->max_hint_window_ms;
    o->hint_throttle_bytes = cfg->hinted_handoff_throttle_bytes;
    o->forward_writes = cfg->cross_dc_write_forwarding;
    o->hints_disabled_dcs = cfg->hinted_handoff_disabled_datacenters;
    /* in batch mode every write waits for an fsync: not on the loop */
    o->inline_replica_writes = cfg->commitlog_sync == BS_COMMITLOG_PERIODIC;
}

static int parse_spec(bs_coord *c, const char *s) {
    if (!s || !*s || !strcasecmp(s, "NONE")) {
        c->spec_mode = 0;
        return 0;
    }
    if (!strcasecmp(s, "ALWAYS")) {
        c->spec_mode = 1;
        return 0;
    }
    char *end;
    double v = strtod(s, &end);
    if (end == s || v < 0) return BS_EINVAL;
    if ((!strcasecmp(end, "p") || !strcasecmp(end, "percentile")) && v > 0 && v < 100) {
        c->spec_mode = 2;
        c->spec_pct = v;
        return 0;
    }
    if (!strcasecmp(end, "ms")) {
        c->spec_mode = 3;
        c->spec_ms = (uint32_t)v;
        return 0;
    }
    return BS_EINVAL;
}

/* Milliseconds after which a read sends to one more replica; -1 never. */
int64_t bs__spec_delay_ms(bs_coord *c) {
    switch (c->spec_mode) {
    case 1: return 0;
    case 2:
        if (atomic_load(&c->replica_read_lat.n) < 100) return 50;
        return (int64_t)(bs__hist_pct(&c->replica_read_lat, c->spec_pct) / 1000) + 1;
    case 3: return c->spec_ms;
    default: return -1;
    }
}

int64_t bs__coord_now_s(bs_coord *c) { return bs_clock_now_s(c->o.clock); }

/* ---- consistency ------------------------------------------------------------ */

const char *bs__cl_name(uint16_t cl) {
    static const char *n[] = {"ANY", "ONE", "TWO", "THREE", "QUORUM", "ALL", "LOCAL_QUORUM",
                              "EACH_QUORUM", "SERIAL", "LOCAL_SERIAL", "LOCAL_ONE"};
    return cl < sizeof n / sizeof n[0] ? n[cl] : "?";
}

void bs__unavailable(bs_coord *c, bs_exec_err *err, uint16_t cl, int need, int alive) {
    BS__INC(c->unavailables);
    err->code = BS_PROTO_ERR_UNAVAILABLE;
    err->cl = cl;
    err->required = need;
    err->alive = alive;
    snprintf(err->msg, sizeof err->msg,
             "Cannot achieve consistency level %s (%d replicas required, %d alive)", bs__cl_name(cl),
             need, alive);
}

int bs__cl_reqs(bs_coord *c, uint16_t cl, const bs__placement *pl, int is_write,
                bs__req *out, size_t *n, bs_exec_err *err) {
    size_t k = 0;
    uint32_t rf = bs_ring_strategy_rf(pl->st);
    switch (cl) {
    case BS_CL_ANY:
    case BS_CL_ONE: out[k++] = (bs__req){NULL, 1}; break;
    case BS_CL_TWO: out[k++] = (bs__req){NULL, 2}; break;
    case BS_CL_THREE: out[k++] = (bs__req){NULL, 3}; break;
    case BS_CL_QUORUM: out[k++] = (bs__req){NULL, (int)(rf / 2 + 1)}; break;
    /* ALL waits for every replica the keyspace asks for (RF), not for the
     * replicas the current ring happens to list: with an incomplete ring
     * (a node that does not know every member yet) ALL is unavailable
     * rather than silently weaker. */
    case BS_CL_ALL: out[k++] = (bs__req){NULL, (int)rf}; break;
    case BS_CL_LOCAL_ONE: out[k++] = (bs__req){c->dc, 1}; break;
    case BS_CL_LOCAL_QUORUM:
        out[k++] = (bs__req){c->dc, (int)(bs_ring_strategy_dc_rf(pl->st, c->dc) / 2 + 1)};
        break;
    case BS_CL_EACH_QUORUM:
        if (bs_ring_strategy_is_simple(pl->st)) {
            out[k++] = (bs__req){NULL, (int)(rf / 2 + 1)};
            break;
        }
        for (size_t i = 0; i < pl->nnatural; i++) {
            const char *dc = pl->t[i].dc;
            int seen = 0;
            for (size_t j = 0; j < k; j++) seen |= out[j].dc && dc && !strcmp(out[j].dc, dc);
            if (seen || !dc || k == BS__MAX_REQS) continue;
            out[k++] = (bs__req){dc, (int)(bs_ring_strategy_dc_rf(pl->st, dc) / 2 + 1)};
        }
        break;
    default:
        err->code = BS_PROTO_ERR_INVALID;
        snprintf(err->msg, sizeof err->msg, "consistency level %s is not supported here",
                 bs__cl_name(cl));
        return -1;
    }
    if (!is_write && cl == BS_CL_ANY) {
        err->code = BS_PROTO_ERR_INVALID;
        snprintf(err->msg, sizeof err->msg, "ANY ConsistencyLevel is only supported for writes");
        return -1;
    }
    if (is_write)
        for (size_t j = 0; j < k; j++)
            for (size_t i = pl->nnatural; i < pl->n; i++)
                if (bs__req_match(&out[j], &pl->t[i])) out[j].need++;
    *n = k;
    return 0;
}

/* ---- placement ---------------------------------------------------------- */

struct bs__cache_ent {
    bs__cache_ent *next;
    int refs;   /* users + 1 while linked */
    const bs_ring_snapshot *ring, *future;
    char *sig;
    bs_ring_strategy *st;
    bs_ring_replica_map *map;
    bs_ring_pending *pend;
};

static void ent_unref(bs__cache_ent *e) {
    if (--e->refs) return;
    bs_ring_pending_free(e->pend);
    bs_ring_replica_map_release(e->map);
    bs_ring_strategy_free(e->st);
    bs_ring_snapshot_release(e->ring);
    if (e->future) bs_ring_snapshot_release(e->future);
    free(e->sig);
    free(e);
}

static int set_msg(bs_exec_err *err, int32_t code, const char *fmt, const char *a) {
    err->code = code;
    snprintf(err->msg, sizeof err->msg, fmt, a);
    return -1;
}

static void signature(const bs_keyspace_schema *ks, char *out, size_t cap) {
    size_t o = (size_t)snprintf(out, cap, "%s", ks->repl_class ? ks->repl_class : "");
    for (size_t i = 0; i < ks->nrepl && o < cap; i++)
        o += (size_t)snprintf(out + o, cap - o, ";%s=%s", ks->repl_keys[i], ks->repl_values[i]);
}


static int get_entry(bs_coord *c, const bs_keyspace_schema *ks, int with_pending,
                     bs__cache_ent **out, bs_exec_err *err) {
    bs_ring_snapshot *ring = c->mem.ring(c->mem.ud);
    if (!ring) return set_msg(err, BS_PROTO_ERR_SERVER, "%s", "the ring is not known yet");
    bs_ring_snapshot *future = with_pending && c->mem.future_ring ? c->mem.future_ring(c->mem.ud) : NULL;
    char sig[1024];
    signature(ks, sig, sizeof sig);
    pthread_mutex_lock(&c->cache_lock);
    /* unlink entries of older rings */
    for (bs__cache_ent **pp = &c->cache; *pp;) {
        bs__cache_ent *e = *pp;
        if (e->ring != ring) {
            *pp = e->next;
            ent_unref(e);
        } else {
            pp = &e->next;
        }
    }
    bs__cache_ent *e = c->cache;
    while (e && !(e->future == future && !strcmp(e->sig, sig))) e = e->next;
    int rc = 0;
    if (!e) {
        e = calloc(1, sizeof *e);
        if (!e || !(e->sig = strdup(sig))) {
            free(e);
            rc = BS_ENOMEM;
            goto out;
        }
        e->ring = bs_ring_snapshot_retain(ring);
        e->future = future ? bs_ring_snapshot_retain(future) : NULL;
        e->refs = 1;
        rc = bs_node_strategy(ks, ring, &e->st);
        if (!rc) rc = bs_ring_replica_map_build(ring, e->st, &e->map);
        if (!rc && future) rc = bs_ring_pending_build(ring, future, e->st, &e->pend);
        if (rc) {
            ent_unref(e);
            goto out;
        }
        e->next = c->cache;
        c->cache = e;
    }
    e->refs++;
    *out = e;
out:
    pthread_mutex_unlock(&c->cache_lock);
    bs_ring_snapshot_release(ring);
    if (future) bs_ring_snapshot_release(future);
    if (rc == BS_ENOMEM) return set_msg(err, BS_PROTO_ERR_SERVER, "%s", "out of memory");
    if (rc)
        return set_msg(err, BS_PROTO_ERR_CONFIG, "keyspace %s: unsupported or invalid replication",
                       ks->name);
    return 0;
}

/* Where to reach host: the membership's endpoint callback, or else the
 * ring's endpoint string. */
static int endpoint_of(bs_coord *c, const bs_uuid *host, const char *ring_ep, bs_msg_peer *out) {
    if (c->mem.endpoint) return c->mem.endpoint(c->mem.ud, host, out);
    if (ring_ep) return bs_msg_peer_parse(out, ring_ep);
    bs_ring_snapshot *r = c->mem.ring(c->mem.ud);
    int rc = BS_ENOTFOUND;
    uint32_t idx;
    bs_ring_node_desc d;
    if (r && !bs_ring_snapshot_find_node(r, host, &idx) && !bs_ring_snapshot_node(r, idx, &d))
        rc = bs_msg_peer_parse(out, d.endpoint);
    if (r) bs_ring_snapshot_release(r);
    return rc;
}

int bs__endpoint_of(bs_coord *c, const bs_uuid *host, bs_msg_peer *out) {
    return endpoint_of(c, host, NULL, out);
}

void bs__fill_target(bs_coord *c, bs__target *t, const bs_ring_node_desc *d, int pending) {
    memset(t, 0, sizeof *t);
    t->host = d->host_id;
    t->dc = d->dc;
    t->pending = pending;
    t->local = !memcmp(d->host_id.b, c->self.b, 16);
    t->alive = t->local ? 1 : c->mem.alive(c->mem.ud, &d->host_id) > 0;
    if (!t->local) t->has_peer = endpoint_of(c, &d->host_id, d->endpoint, &t->peer) == 0;
    if (!t->local && !t->has_peer) t->alive = 0;
}

int bs_coord_local_only(bs_coord *c) {
    if (!c) return 0;
    bs_ring_snapshot *r = c->mem.ring(c->mem.ud);
    if (!r) return 0;
    bs_ring_node_desc d;
    int only = bs_ring_snapshot_node_count(r) == 1 && !bs_ring_snapshot_node(r, 0, &d) &&
               !memcmp(d.host_id.b, c->self.b, 16);
    bs_ring_snapshot_release(r);
    if (only && c->mem.future_ring) { /* a node joining: its pending ranges need it */
        bs_ring_snapshot *fr = c->mem.future_ring(c->mem.ud);
        if (fr) {
            only = bs_ring_snapshot_node_count(fr) == 1;
            bs_ring_snapshot_release(fr);
        }
    }
    return only;
}

/* Targets of node indices idx[0..n) of snap: proximity order, local first. */
static size_t targets_of(bs_coord *c, const bs_ring_snapshot *snap, const uint32_t *nodes,
                         size_t n, bs__target *out) {
    uint32_t idx[BS__MAX_TARGETS];
    size_t k = 0;
    if (n > BS__MAX_TARGETS) n = BS__MAX_TARGETS;
    memcpy(idx, nodes, n * sizeof *idx);
    bs_ring_sort_by_proximity(snap, c->dc, c->rack, idx, n);
    for (size_t i = 0; i < n; i++) {
        bs_ring_node_desc d;
        if (bs_ring_snapshot_node(snap, idx[i], &d)) continue;
        bs__fill_target(c, &out[k++], &d, 0);
    }
    for (size_t i = 1; i < k; i++)
        if (out[i].local) {
            bs__target t = out[i];
            memmove(&out[1], &out[0], i * sizeof t);
            out[0] = t;
        }
    return k;
}

int bs__vnode_targets(bs_coord *c, const bs__placement *pl, size_t v, bs__target *out,
                      size_t *n) {
    const uint32_t *nodes;
    size_t nn;
    *n = 0;
    if (bs_ring_replica_map_vnode(pl->map, v, &nodes, &nn)) return BS_ERANGE;
    *n = targets_of(c, bs_ring_replica_map_snapshot(pl->map), nodes, nn, out);
    return 0;
}

int bs__placement_get(bs_coord *c, const bs_keyspace_schema *ks, int64_t token,
                      int with_pending, bs__placement *pl, bs_exec_err *err) {
    memset(pl, 0, offsetof(bs__placement, t)); /* t[] is only read below n (7 KB) */
    bs__cache_ent *e;
    if (get_entry(c, ks, with_pending, &e, err)) return -1;
    pl->entry = e;
    pl->map = e->map;
    pl->st = e->st;
    pl->pend = e->pend;
    const bs_ring_snapshot *snap = e->ring;
    const uint32_t *nodes;
    size_t n;
    if (bs_ring_replica_map_lookup(e->map, token, &nodes, &n)) {
        bs__placement_done(c, pl);
        return set_msg(err, BS_PROTO_ERR_SERVER, "%s", "the ring has no tokens");
    }
    /* the local replica first: it answers without a network hop */
    pl->n = targets_of(c, snap, nodes, n, pl->t);
    pl->nnatural = pl->n;
    if (e->pend) {
        const uint32_t *pn;
        size_t np;
        bs_ring_pending_endpoints(e->pend, token, &pn, &np);
        const bs_ring_snapshot *fs = bs_ring_pending_snapshot(e->pend);
        for (size_t i = 0; i < np && pl->n < BS__MAX_TARGETS; i++) {
            bs_ring_node_desc d;
            if (bs_ring_snapshot_node(fs, pn[i], &d)) continue;
            int dup = 0;
            for (size_t j = 0; j < pl->n; j++) dup |= !memcmp(pl->t[j].host.b, d.host_id.b, 16);
            if (!dup) bs__fill_target(c, &pl->t[pl->n++], &d, 1);
        }
    }
    return 0;
}

void bs__placement_done(bs_coord *c, bs__placement *pl) {
    if (!pl->entry) return;
    pthread_mutex_lock(&c->cache_lock);
    ent_unref(pl->entry);
    pthread_mutex_unlock(&c->cache_lock);
    pl->entry = NULL;
}

const bs_keyspace_schema *bs__keyspace_of(const bs_schema *s, const char *cf) {
    const char *dot = strchr(cf, '.');
    if (!dot || dot == cf || (size_t)(dot - cf) >= 200) return NULL;
    char ks[200];
    memcpy(ks, cf, (size_t)(dot - cf));
    ks[dot - cf] = 0;
    return bs_schema_keyspace(s, ks);
}

/* ---- fan-out -------------------------------------------------------------- */

bs__fan *bs__fan_new(bs_coord *c, size_t n) {
    bs__fan *f = calloc(1, sizeof *f + n * sizeof f->calls[0]);
    if (!f) return NULL;
    pthread_mutex_init(&f->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&f->cond, &ca);
    pthread_condattr_destroy(&ca);
    f->refs = 1;
    f->c = c;
    f->n = n;
    f->trace = bs_trace_current();
    bs_trace_retain(f->trace);
    return f;
}

const char *bs__verb_name(uint8_t verb) {
    switch (verb) {
    case BS_VERB_MUTATION: return "MUTATION";
    case BS_VERB_PARTIAL: return "PARTIAL";
    case BS_VERB_READ: return "READ";
    case BS_VERB_HINT: return "HINT";
    case BS_VERB_READ_RAW: return "READ_RAW";
    case BS_VERB_REPAIR_RAW: return "READ_REPAIR";
    case BS_VERB_RANGE_READ: return "RANGE_READ";
    case BS_VERB_BATCHLOG_STORE: return "BATCH_STORE";
    case BS_VERB_BATCHLOG_REMOVE: return "BATCH_REMOVE";
    case BS_VERB_TRUNCATE: return "TRUNCATE";
    case BS_VERB_COUNTER: return "COUNTER";
    case BS_VERB_MUTATION_FWD: return "MUTATION_FWD";
    case BS_VERB_MUTATION_ACK: return "MUTATION_ACK";
    case BS_VERB_PAXOS: return "PAXOS";
    default: return "REQUEST";
    }
}

const char *bs_coord_verb_label(uint8_t verb, char buf[16]) {
    static const char *const other[] = {"HANDSHAKE", "ECHO", "GOSSIP_SYN", "GOSSIP_ACK",
                                        "GOSSIP_ACK2", "SCHEMA_PUSH", "SCHEMA_PULL"};
    if (verb < sizeof other / sizeof other[0]) return other[verb];
    switch (verb) {
    case BS_VERB_MERKLE: return "MERKLE";
    case BS_VERB_STREAM: return "STREAM";
    case 15: return "REPAIR_TREE"; /* repair/session.h */
    case 16: return "REPAIR_DIGESTS";
    case 17: return "REPAIR_SEND";
    case 18: return "REPAIR_STREAM";
    case 19: return "REPAIR_SEND_ALL";
    case 20: return "REPAIR_SIZE";
    default: break;
    }
    const char *n = bs__verb_name(verb);
    if (strcmp(n, "REQUEST") != 0) return n;
    snprintf(buf, 16, "VERB_%u", (unsigned)verb);
    return buf;
}

static void fan_free(bs__fan *f) {
    for (size_t i = 0; i < f->n; i++) {
        free(f->calls[i].resp);
        free(f->calls[i].hint);
    }
    bs_trace_release(f->trace);
    pthread_cond_destroy(&f->cond);
    pthread_mutex_destroy(&f->lock);
    free(f);
}

void bs__fan_release(bs__fan *f) {
    if (!f) return;
    pthread_mutex_lock(&f->lock);
    int last = --f->refs == 0;
    pthread_mutex_unlock(&f->lock);
    if (last) fan_free(f);
}

typedef struct fan_ud {
    bs__fan *f;
    size_t i;
} fan_ud;

/* Lock held.  When an armed fan is decided now: disarms it and returns
 * its ready (to run after the unlock) with *met its outcome; else NULL. */
static bs__fan_ready fan_decided(bs__fan *f, int *met) {
    if (!f->ready) return NULL;
    int p = f->pred(f, f->ready_ud), all = 1;
    for (size_t i = 0; i < f->n && all && !p; i++) all = f->calls[i].done;
    if (!p && !all) return NULL;
    *met = p > 0;
    bs__fan_ready r = f->ready;
    f->ready = NULL;
    return r;
}

int bs__fan_arm(bs__fan *f, int (*pred)(bs__fan *f, void *ud), bs__fan_ready ready, void *ud,
                int *met) {
    pthread_mutex_lock(&f->lock);
    f->pred = pred;
    f->ready = ready;
    f->ready_ud = ud;
    int now = fan_decided(f, met) != NULL;
    pthread_mutex_unlock(&f->lock);
    return !now;
}

/* Fills call i with its outcome (first outcome only: a late forward ack
 * after the expiry is dropped), queues its hint when it failed, wakes the
 * waiter or runs an armed fan's ready.  The caller holds a reference on f. */
static void fan_fill(bs__fan *f, size_t i, int status, const uint8_t *payload, size_t len) {
    bs__call *k = &f->calls[i];
    uint8_t *copy = NULL;
    if (!status && len) {
        copy = malloc(len);
        if (copy) memcpy(copy, payload, len);
        else status = BS_ENOMEM;
    }
    uint8_t *hint = NULL;
    size_t hint_len = 0;
    bs_uuid host;
    pthread_mutex_lock(&f->lock);
    if (k->done) {
        pthread_mutex_unlock(&f->lock);
        free(copy);
        return;
    }
    k->done = 1;
    k->status = status;
    k->resp = copy;
    k->len = copy ? len : 0;
    if (status && k->hint) {
        hint = k->hint;
        hint_len = k->hint_len;
        host = k->host;
        k->hint = NULL;
    }
    if (!status && k->replica_read)
        bs__hist_add(&f->c->replica_read_lat, (uint64_t)(bs_clock_mono_ns() - k->sent_ns) / 1000);
    if (f->trace) {
        bs_trace_thread_name("Messaging");
        if (!status)
            bs_trace_event(f->trace, "%s response received from /%s", bs__verb_name(k->verb), k->peer);
        else
            bs_trace_event(f->trace, "%s to /%s failed: %s", bs__verb_name(k->verb), k->peer,
                           bs_strerror(status));
        if (hint) bs_trace_event(f->trace, "Hint stored for /%s", k->peer);
    }
    int met = 0;
    bs__fan_ready ready = fan_decided(f, &met);
    pthread_mutex_unlock(&f->lock);
    /* after the unlock (our reference keeps f): the woken waiter does not
     * find the lock still held and sleep on it once more */
    pthread_cond_broadcast(&f->cond);
    if (hint) bs__hint_queue(f->c, &host, hint, hint_len);
    if (ready) ready(f, f->ready_ud, met);
}

static void fan_cb(void *ud, int status, const uint8_t *payload, size_t len) {
    fan_ud *u = ud;
    bs__fan *f = u->f;
    size_t i = u->i;
    free(u);
    fan_fill(f, i, status, payload, len);
    bs__fan_release(f);
}

void bs__fan_complete(bs__fan *f, size_t i, int status) { fan_fill(f, i, status, NULL, 0); }

void bs__fan_retain(bs__fan *f) {
    pthread_mutex_lock(&f->lock);
    f->refs++;
    pthread_mutex_unlock(&f->lock);
}

int bs__fan_send(bs__fan *f, size_t i, const bs_msg_peer *to, uint8_t verb,
                 const void *payload, size_t len, uint32_t timeout_ms) {
    fan_ud *u = malloc(sizeof *u);
    int rc = BS_ENOMEM;
    if (u) {
        u->f = f;
        u->i = i;
        pthread_mutex_lock(&f->lock);
        f->refs++;
        f->calls[i].sent_ns = bs_clock_mono_ns();
        f->calls[i].verb = verb;
        snprintf(f->calls[i].peer, sizeof f->calls[i].peer, "%s", to->addr);
        pthread_mutex_unlock(&f->lock);
        if (f->trace) bs_trace_event(f->trace, "Sending %s message to /%s", bs__verb_name(verb), to->addr);
        rc = bs_msg_send_traced(f->c->msg, to, verb, payload, len, timeout_ms,
                                f->trace ? bs_trace_id(f->trace) : NULL, fan_cb, u);
        if (rc) {
            free(u);
            pthread_mutex_lock(&f->lock);
            f->refs--;
            pthread_mutex_unlock(&f->lock);
        }
    }
    if (rc) {
        uint8_t *hint = NULL;
        size_t hl = 0;
        pthread_mutex_lock(&f->lock);
        f->calls[i].done = 1;
        f->calls[i].status = rc;
        hint = f->calls[i].hint;
        hl = f->calls[i].hint_len;
        f->calls[i].hint = NULL;
        pthread_mutex_unlock(&f->lock);
        if (hint) {
            bs_trace_event(f->trace, "Hint stored for /%s", to->addr);
            bs__hint_queue(f->c, &f->calls[i].host, hint, hl);
        }
    }
    return rc;
}

void bs__fan_poke(bs__fan *f) {
    pthread_mutex_lock(&f->lock);
    int met = 0;
    bs__fan_ready ready = fan_decided(f, &met);
    pthread_mutex_unlock(&f->lock);
    if (ready) ready(f, f->ready_ud, met);
}

void bs__fan_local(bs__fan *f, size_t i, int status) {
    pthread_mutex_lock(&f->lock);
    f->calls[i].done = 1;
    f->calls[i].status = status;
    free(f->calls[i].hint);
    f->calls[i].hint = NULL;
    pthread_cond_broadcast(&f->cond);
    int met = 0;
    bs__fan_ready ready = fan_decided(f, &met);
    pthread_mutex_unlock(&f->lock);
    if (ready) ready(f, f->ready_ud, met);
}

int bs__fan_wait(bs__fan *f, int (*pred)(bs__fan *f, void *ud), void *ud,
                 int64_t deadline_ns) {
    struct timespec ts = {(time_t)(deadline_ns / 1000000000), (long)(deadline_ns % 1000000000)};
    pthread_mutex_lock(&f->lock);
    int ok;
    for (;;) {
        ok = pred(f, ud);
        if (ok) break;
        int all = 1;
        for (size_t i = 0; i < f->n && all; i++) all = f->calls[i].done;
        if (all) break;
        if (bs_clock_mono_ns() >= deadline_ns) break;
        pthread_cond_timedwait(&f->cond, &f->lock, &ts);
    }
    pthread_mutex_unlock(&f->lock);
    return ok;
}

/* ---- local apply ---------------------------------------------------------- */

int bs__apply_local(bs_coord *c, const bs_mutation *m, size_t nm, int64_t now_s) {
    for (size_t i = 0; i < nm && bs_trace_current(); i++) BS_CQLTRACE("Adding to %s memtable", m[i].cf);
    return bs_local_apply(c->store, m, nm, now_s);
}

/* ---- stage ------------------------------------------------------------------ */

#define STAGE_BATCH 64

static void job_free(bs__job *j) {
    free(j->data);
    free(j);
}

/* Stage worker.  It takes every job queued (up to STAGE_BATCH) at once:
 * the MUTATIONs among them are applied in one store defer scope - one
 * RocksDB write and one WAL write for the lot - and answered after its
 * commit (a failed commit answers them with its error).  Jobs of one
 * batch arrived together and are concurrent for their senders, so a read
 * among them need not see a write of the same batch; a sender that waits
 * for its write's answer always does. */
static void *worker_main(void *arg) {
    bs_coord *c = arg;
    prctl(PR_SET_NAME, "bs-stage", 0, 0, 0); /* shown by top -H, perf */
    (void)bs_sched_request_thread(); /* common/sched.h */
    for (;;) {
        pthread_mutex_lock(&c->qlock);
        while (!c->qhead && !c->qstop) pthread_cond_wait(&c->qcond, &c->qlock);
        bs__job *batch = c->qhead, *last = batch;
        for (int k = 1; last && last->next && k < STAGE_BATCH; k++) last = last->next;
        if (last) {
            c->qhead = last->next;
            if (!c->qhead) c->qtail = NULL;
            last->next = NULL;
        }
        pthread_mutex_unlock(&c->qlock);
        if (!batch) return NULL; /* stopping and drained */
        if (!batch->next) {
            bs__job_trace_begin(c, batch);
            batch->fn(c, batch);
            bs__job_trace_end(c, batch);
            job_free(batch);
            continue;
        }
        bs_store_defer_begin(c->store);
        for (bs__job *j = batch; j; j = j->next) {
            bs__job_trace_begin(c, j);
            if (j->fn == bs__job_mutation) {
                j->status = bs__mutation_apply(c, j);
                bs_trace_set_current(NULL); /* its trace ends with its answer */
            } else {
                j->fn(c, j); /* a direct write applies what is queued first */
                bs__job_trace_end(c, j);
            }
        }
        int crc = bs_store_defer_commit();
        if (crc && crc != BS_EIO) BS_WARN(LOG, "replica writes not applied: %s", bs_store_errmsg());
        for (bs__job *j = batch, *nx; j; j = nx) {
            nx = j->next;
            if (j->fn == bs__job_mutation) bs__job_write_reply(c, j, crc ? crc : j->status);
            bs__job_trace_end(c, j);
            job_free(j);
        }
    }
}

/* Queues the jobs j..last (linked); 0, or BS_ECLOSED when the stage is
 * stopped (none taken). */
static int enqueue(bs_coord *c, bs__job *j, bs__job *last) {
    pthread_mutex_lock(&c->qlock);
    if (c->qstop) {
        pthread_mutex_unlock(&c->qlock);
        return BS_ECLOSED;
    }
    last->next = NULL;
    if (c->qtail) c->qtail->next = j;
    else c->qhead = j;
    c->qtail = last;
    pthread_cond_signal(&c->qcond);
    pthread_mutex_unlock(&c->qlock);
    return 0;
}

/* Messaging thread, end of a batch (a socket read, or commands): the
 * replica writes applied inline are committed and answered, the stage
 * gets the other requests. */
static void on_batch_end(void *ud) {
    bs_coord *c = ud;
    if (c->rdefer) {
        c->rdefer = 0;
        int crc = bs_store_defer_commit();
        if (crc) BS_WARN(LOG, "replica writes not applied: %s", bs_store_errmsg());
        bs__job *d = c->dhead;
        c->dhead = c->dtail = NULL;
        for (bs__job *nx; d; d = nx) {
            nx = d->next;
            bs_msg_reply(c->msg, &d->in, crc ? crc : d->status, NULL, 0);
            job_free(d);
        }
    }
    bs__job *j = c->rhead, *last = c->rtail;
    c->rhead = c->rtail = NULL;
    if (!j || !enqueue(c, j, last)) return;
    for (bs__job *nx; j; j = nx) { /* stopped */
        nx = j->next;
        bs_msg_reply(c->msg, &j->in, BS_ECLOSED, NULL, 0);
        job_free(j);
    }
}

typedef struct verb_ent {
    uint8_t verb;
    void (*fn)(bs_coord *c, bs__job *j);
    int writes; /* refused once the node is drained */
} verb_ent;

static const verb_ent k_verbs[] = {
    {BS_VERB_MUTATION, bs__job_mutation, 1},
    {BS_VERB_HINT, bs__job_mutation, 1},
    {BS_VERB_MUTATION_FWD, bs__job_mutation, 1},
    {BS_VERB_READ, bs__job_read, 0},
    {BS_VERB_READ_RAW, bs__job_read_raw, 0},
    {BS_VERB_REPAIR_RAW, bs__job_repair_raw, 1},
    {BS_VERB_RANGE_READ, bs__job_range, 0},
    {BS_VERB_PARTIAL, bs__job_partial, 0},
    {BS_VERB_BATCHLOG_STORE, bs__job_batchlog_store, 1},
    {BS_VERB_BATCHLOG_REMOVE, bs__job_batchlog_remove, 1},
    {BS_VERB_TRUNCATE, bs__job_truncate, 1},
    {BS_VERB_COUNTER, bs__job_counter, 1},
    {BS_VERB_PAXOS, bs__job_paxos, 1},
};

void bs_coord_set_partial(bs_coord *c, const bs_coord_partial *p) {
    bs_coord_partial *h = malloc(sizeof *h);
    if (!h) return; /* without it, partial visits are read whole */
    *h = *p;
    free(atomic_exchange(&c->partial, h));
}

void bs_coord_drain(bs_coord *c) {
    if (c && !atomic_exchange(&c->drained, 1))
        BS_INFO(LOG, "drained: refusing writes from clients and replica writes from peers");
}

int bs_coord_drained(const bs_coord *c) {
    return c ? atomic_load(&((bs_coord *)c)->drained) : 0;
}

int bs__drained_error(bs_coord *c, bs_exec_err *err) {
    (void)c;
    err->code = BS_PROTO_ERR_OVERLOADED;
    snprintf(err->msg, sizeof err->msg,
             "this node is drained (basalt-admin drain) and accepts no writes until it is "
             "restarted; send the request to another node");
    return -1;
}

/* Messaging thread: a MUTATION (or HINT) applied right here, inside the
 * store defer scope of the socket read it came in (one RocksDB write for
 * all of them, committed by on_batch_end, which answers them). */
static void defer_apply(bs_coord *c, bs__job *j) {
    if (!c->rdefer) {
        bs_store_defer_begin(c->store);
        c->rdefer = 1;
    }
    j->status = bs__mutation_apply(c, j);
    j->next = NULL;
    if (c->dtail) c->dtail->next = j;
    else c->dhead = j;
    c->dtail = j;
}

/* A replica write applied from the received frame (no copy). */
static void apply_inline(bs_coord *c, bs__job *j, const bs_msg_in *in) {
    j->in = *in;
    j->data = (uint8_t *)in->payload; /* borrowed for the apply */
    j->len = in->len;
    defer_apply(c, j);
    j->in.payload = NULL;
    j->in.len = 0;
    j->data = NULL;
    j->len = 0;
}

/* Messaging thread: copy the request and hand it to the stage (at the
 * read's end), or apply a replica write inline (apply_inline). */
static void on_request(void *ud, bs_msg *m, const bs_msg_in *in) {
    bs_coord *c = ud;
    bs__job *j = calloc(1, sizeof *j);
    if (!j) {
        bs_msg_reply(m, in, BS_EOVERLOAD, NULL, 0);
        return;
    }
    int writes = 0;
    for (size_t i = 0; i < sizeof k_verbs / sizeof k_verbs[0]; i++)
        if (k_verbs[i].verb == in->verb) {
            j->fn = k_verbs[i].fn;
            writes = k_verbs[i].writes;
        }
    if (!j->fn || (writes && atomic_load(&c->drained))) {
        bs_msg_reply(m, in, j->fn ? BS_ECLOSED : BS_ENOTSUP, NULL, 0);
        free(j);
        return;
    }
    /* a traced request takes the stage, which records its events (a
     * store write the messaging thread should not wait for) */
    if (j->fn == bs__job_mutation && c->o.inline_replica_writes && !in->has_trace &&
        in->verb != BS_VERB_MUTATION_FWD) {
        apply_inline(c, j, in);
        return;
    }
    if (j->fn == bs__job_read && c->o.inline_replica_reads && !in->has_trace) {
        /* one partition, at most a page of rows: read and answered here */
        j->in = *in;
        j->data = (uint8_t *)in->payload;
        j->len = in->len;
        bs__job_read(c, j);
        free(j);
        return;
    }
    uint8_t *data = in->len ? malloc(in->len) : NULL;
    if (in->len && !data) {
        free(j);
        bs_msg_reply(m, in, BS_EOVERLOAD, NULL, 0);
        return;
    }
    if (in->len) memcpy(data, in->payload, in->len);
    j->in = *in;
    j->in.payload = data;
    j->data = data;
    j->len = in->len;
    j->next = NULL; /* queued at the read's end (on_batch_end) */
    if (c->rtail) c->rtail->next = j;
    else c->rhead = j;
    c->rtail = j;
}

/* ---- hints glue ---------------------------------------------------------- */

int bs__hints_for(bs_coord *c, const char *dc) {
    if (!c->o.hints_enabled) return 0;
    if (!atomic_load_explicit(&c->hdc_any, memory_order_relaxed) || !dc) return 1;
    char key[160];
    if (snprintf(key, sizeof key, ",%s,", dc) >= (int)sizeof key) return 1;
    pthread_mutex_lock(&c->hdc_lock);
    int off = strstr(c->hdc, key) != NULL;
    pthread_mutex_unlock(&c->hdc_lock);
    return !off;
}

int bs_coord_hints_dc_set(bs_coord *c, const char *dc, int enabled) {
    size_t n = dc ? strlen(dc) : 0;
    if (!n || n > 128 || strchr(dc, ',')) return BS_EINVAL;
    char key[160];
    snprintf(key, sizeof key, ",%s,", dc);
    int rc = 0;
    pthread_mutex_lock(&c->hdc_lock);
    char *at = strstr(c->hdc, key);
    if (enabled && at) {
        memmove(at, at + n + 1, strlen(at + n + 1) + 1); /* drop ",dc" */
        if (!strcmp(c->hdc, ",")) c->hdc[0] = 0;
    } else if (!enabled && !at) {
        size_t len = strlen(c->hdc);
        if (len + n + 2 + (len == 0) >= sizeof c->hdc) rc = BS_ENOMEM;
        else snprintf(c->hdc + len, sizeof c->hdc - len, "%s%s,", len ? "" : ",", dc);
    }
    atomic_store(&c->hdc_any, c->hdc[0] != 0);
    pthread_mutex_unlock(&c->hdc_lock);
    if (!rc)
        BS_INFO(LOG, "hinted handoff %s for data center %s", enabled ? "enabled" : "disabled", dc);
    return rc;
}

void bs_coord_hints_dc_list(bs_coord *c, char *out, size_t cap) {
    pthread_mutex_lock(&c->hdc_lock);
    size_t len = strlen(c->hdc);
    if (len >= 2) snprintf(out, cap, "%.*s", (int)(len - 2), c->hdc + 1);
    else if (cap) out[0] = 0;
    pthread_mutex_unlock(&c->hdc_lock);
}

/* hinted_handoff_disabled_datacenters ("a,b" or "a, b"). */
static int hints_dc_config(bs_coord *c, const char *list) {
    for (const char *p = list; p && *p;) {
        while (*p == ' ' || *p == ',') p++;
        size_t n = strcspn(p, ",");
        while (n && p[n - 1] == ' ') n--;
        if (n) {
            char dc[160];
            if (n >= sizeof dc) return BS_EINVAL;
            memcpy(dc, p, n);
            dc[n] = 0;
            int rc = bs_coord_hints_dc_set(c, dc, 0);
            if (rc) return rc;
        }
        p += n;
        while (*p && *p != ',') p++;
    }
    return 0;
}

void bs__hint_store(bs_coord *c, const bs_uuid *host, const void *payload, size_t len) {
    if (!c->o.hints_enabled) return;
    pthread_rwlock_rdlock(&c->hints_lock);
    int rc = c->hints ? bs_hints_add(c->hints, host, 0, payload, len) : 0;
    pthread_rwlock_unlock(&c->hints_lock);
    if (rc) {
        char id[37];
        bs_uuid_format(host, id);
        BS_WARN(LOG, "hint for %s not stored: %s", id, bs_strerror(rc));
    }
}

static void job_hint(bs_coord *c, bs__job *j) { bs__hint_store(c, &j->host, j->data, j->len); }

void bs__hint_queue(bs_coord *c, const bs_uuid *host, uint8_t *payload, size_t len) {
    bs__job *j = calloc(1, sizeof *j);
    if (!j) {
        free(payload);
        return;
    }
    j->fn = job_hint;
    j->host = *host;
    j->data = payload;
    j->len = len;
    if (enqueue(c, j, j)) { /* stage stopped (shutdown): store it right here */
        bs__hint_store(c, host, payload, len);
        free(payload);
        free(j);
    }
}

static int pred_one_done(bs__fan *f, void *ud) {
    (void)ud;
    return f->calls[0].done;
}

/* bs_hints_deliver_fn: one HINT round trip, bounded by the write timeout. */
static int hint_deliver(void *ud, const bs_uuid *target, const void *payload, size_t len) {
    bs_coord *c = ud;
    bs_msg_peer peer;
    if (endpoint_of(c, target, NULL, &peer)) return BS_ENOTFOUND;
    bs__fan *f = bs__fan_new(c, 1);
    if (!f) return BS_ENOMEM;
    int rc = bs__fan_send(f, 0, &peer, BS_VERB_HINT, payload, len, c->o.write_timeout_ms);
    if (!rc) {
        bs__fan_wait(f, pred_one_done, NULL,
                     bs_clock_mono_ns() + (int64_t)c->o.write_timeout_ms * 1000000 + 50000000);
        pthread_mutex_lock(&f->lock);
        rc = f->calls[0].done ? f->calls[0].status : BS_ETIMEDOUT;
        pthread_mutex_unlock(&f->lock);
    }
    bs__fan_release(f);
    return rc;
}

/* bs_hints_send_fn: the replay thread's pipelined delivery, one HINT
 * request whose answer (or timeout) goes straight to done. */
typedef struct hint_send_ud {
    bs_hints_done_fn done;
    void *cookie;
} hint_send_ud;

static void hint_sent_cb(void *ud, int status, const uint8_t *payload, size_t len) {
    (void)payload;
    (void)len;
    hint_send_ud *u = ud;
    u->done(u->cookie, status);
    free(u);
}

static int hint_send(void *ud, const bs_uuid *target, const void *payload, size_t len,
                     bs_hints_done_fn done, void *cookie) {
    bs_coord *c = ud;
    bs_msg_peer peer;
    if (endpoint_of(c, target, NULL, &peer)) return BS_ENOTFOUND;
    hint_send_ud *u = malloc(sizeof *u);
    if (!u) return BS_ENOMEM;
    u->done = done;
    u->cookie = cookie;
    int rc = bs_msg_send(c->msg, &peer, BS_VERB_HINT, payload, len, c->o.write_timeout_ms,
                         hint_sent_cb, u);
    if (rc) free(u);
    return rc;
}

/* bs_hints_alive_fn: up, down, or gone from the ring. */
static int hint_alive(void *ud, const bs_uuid *target) {
    bs_coord *c = ud;
    bs_ring_snapshot *r = c->mem.ring(c->mem.ud);
    if (!r) return 0;
    uint32_t idx;
    int member = bs_ring_snapshot_find_node(r, target, &idx) == 0;
    bs_ring_snapshot_release(r);
    if (!member) return -1;
    return c->mem.alive(c->mem.ud, target) > 0 ? 1 : 0;
}

uint64_t bs_coord_hints_pending(bs_coord *c, const bs_uuid *target) {
    pthread_rwlock_rdlock(&c->hints_lock);
    uint64_t n = c->hints ? bs_hints_pending(c->hints, target) : 0;
    pthread_rwlock_unlock(&c->hints_lock);
    return n;
}

int bs_coord_hints_replay(bs_coord *c, const bs_uuid *target, uint64_t *delivered) {
    pthread_rwlock_rdlock(&c->hints_lock);
    int rc = c->hints ? bs_hints_replay_now(c->hints, target, hint_deliver, c, delivered)
                      : BS_ENOTSUP;
    pthread_rwlock_unlock(&c->hints_lock);
    return rc;
}

/* ---- backend delegation -------------------------------------------------- */

static bs_schema *d_schema_get(void *ud) {
    bs_coord *c = ud;
    return c->lbe.schema_get(c->lbe.ud);
}
static int d_schema_apply(void *ud, bs_schema *next, const bs_proto_schema_change *ev,
                          bs_exec_err *err) {
    bs_coord *c = ud;
    return c->lbe.schema_apply(c->lbe.ud, next, ev, err);
}
static int d_nodes(void *ud, bs_arena *a, bs_exec_node *local, bs_exec_node **peers,
                   size_t *npeers) {
    bs_coord *c = ud;
    return c->lbe.nodes(c->lbe.ud, a, local, peers, npeers);
}
static int d_estimate(void *ud, const bs_table_schema *t, int64_t start, int64_t end,
                      int64_t *partitions, int64_t *mean_size) {
    bs_coord *c = ud;
    return c->lbe.estimate(c->lbe.ud, t, start, end, partitions, mean_size);
}
static int64_t d_now_us(void *ud) {
    bs_coord *c = ud;
    return c->lbe.now_us(c->lbe.ud);
}

void bs_coord_backend(bs_coord *c, bs_exec_backend *be) {
    *be = c->lbe;
    be->ud = c;
    be->schema_get = d_schema_get;
    be->schema_apply = d_schema_apply;
    be->write = bs__coord_write;
    be->write_async = bs__coord_write_async;
    be->read = bs__coord_read;
    be->read_async = bs__coord_read_async;
    be->scan = bs__coord_scan;
    be->visit = bs__coord_visit;
    be->truncate = bs__coord_truncate;
    be->counter_write = bs__coord_counter_write;
    be->cas = bs__coord_cas;
    be->nodes = d_nodes;
    be->now_us = d_now_us;
    if (c->lbe.estimate) be->estimate = d_estimate;
}

/* ---- lifecycle -------------------------------------------------------------- */

int bs_coord_new(const bs_coord_opts *o, bs_local *local, bs_msg *msg,
                 const bs_coord_membership *mem, bs_coord **out) {
    *out = NULL;
    if (!o || !local || !msg || !mem || !mem->ring || !mem->alive) return BS_EINVAL;
    bs_coord *c = calloc(1, sizeof *c);
    if (!c) return BS_ENOMEM;
    c->o = *o;
    snprintf(c->dc, sizeof c->dc, "%s", o->local_dc ? o->local_dc : "dc1");
    snprintf(c->rack, sizeof c->rack, "%s", o->local_rack ? o->local_rack : "rack1");
    c->o.local_dc = c->dc;
    c->o.local_rack = c->rack;
    c->o.speculative_retry = NULL;
    if (!c->o.range_page) c->o.range_page = 128;
    if (!c->o.write_timeout_ms) c->o.write_timeout_ms = 2000;
    if (!c->o.read_timeout_ms) c->o.read_timeout_ms = 5000;
    if (!c->o.range_timeout_ms) c->o.range_timeout_ms = 10000;
    c->local = local;
    c->store = bs_local_store(local);
    bs_local_host_id(local, &c->self);
    bs_local_backend(local, &c->lbe);
    c->msg = msg;
    c->mem = *mem;
    pthread_mutex_init(&c->cache_lock, NULL);
    pthread_mutex_init(&c->hdc_lock, NULL);
    pthread_mutex_init(&c->qlock, NULL);
    pthread_rwlock_init(&c->hints_lock, NULL);
    pthread_cond_init(&c->qcond, NULL);
    c->o.hints_disabled_dcs = NULL;
    int rc = parse_spec(c, o->speculative_retry);
    if (!rc && hints_dc_config(c, o->hints_disabled_dcs)) {
        BS_ERROR(LOG, "bad hinted_handoff_disabled_datacenters '%s'", o->hints_disabled_dcs);
        rc = BS_EINVAL;
    }
    if (rc) {
        BS_ERROR(LOG, "bad speculative_retry '%s'", o->speculative_retry);
        c->stopped = 1;
        bs_coord_free(c);
        return rc;
    }
    bs_hints_opts ho;
    bs_hints_opts_default(&ho);
    ho.enabled = o->hints_enabled;
    ho.max_window_ms = o->max_hint_window_ms;
    ho.throttle_bytes = o->hint_throttle_bytes;
    if (o->hint_poll_ms) ho.poll_ms = o->hint_poll_ms;
    ho.clock = o->clock;
    rc = bs_hints_open(c->store, &ho, &c->hints);
    if (!rc) rc = bs__paxos_open(c);
    if (!rc) {
        c->nworkers = o->stage_threads ? o->stage_threads : 2;
        c->workers = calloc(c->nworkers, sizeof *c->workers);
        if (!c->workers) rc = BS_ENOMEM;
        for (size_t i = 0; !rc && i < c->nworkers; i++)
            if (pthread_create(&c->workers[i], NULL, worker_main, c)) {
                c->nworkers = i;
                rc = BS_ENOMEM;
            }
    }
    for (size_t i = 0; !rc && i < sizeof k_verbs / sizeof k_verbs[0]; i++)
        rc = bs_msg_register(msg, k_verbs[i].verb, on_request, c);
    if (!rc) bs_msg_set_batch_end(msg, on_batch_end, c);
    if (!rc) bs_hints_set_sender(c->hints, hint_send);
    if (!rc) rc = bs_hints_start(c->hints, hint_deliver, hint_alive, c);
    if (!rc) rc = bs__batchlog_start(c);
    if (!rc) rc = bs__fwd_start(c);
    if (!rc) rc = bs__spec_start(c);
    if (rc) {
        bs_coord_stop(c);
        bs_coord_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

static void noop(void *ud) { (void)ud; }

void bs_coord_stop(bs_coord *c) {
    if (!c || c->stopped) return;
    c->stopped = 1;
    for (size_t i = 0; i < sizeof k_verbs / sizeof k_verbs[0]; i++)
        bs_msg_register(c->msg, k_verbs[i].verb, NULL, NULL);
    bs_msg_set_batch_end(c->msg, NULL, NULL);
    /* a handler that was running on the loop thread has returned after
     * this round trip */
    bs_msg_call_sync(c->msg, noop, NULL);
    bs__fwd_stop(c); /* hints of writes still waiting for relayed acks */
    bs__spec_stop(c); /* reads waiting for a speculative retry decide without it */
    pthread_mutex_lock(&c->qlock);
    c->qstop = 1;
    pthread_cond_broadcast(&c->qcond);
    pthread_mutex_unlock(&c->qlock);
    for (size_t i = 0; i < c->nworkers; i++) pthread_join(c->workers[i], NULL);
    c->nworkers = 0;
    /* after the stage: a queued hint job (job_hint) reads c->hints.  Taken
     * out under the lock (no user left once it is held), closed outside
     * it: closing waits for a replay in progress, whose replies come
     * through the messaging thread, which may want the read lock */
    pthread_rwlock_wrlock(&c->hints_lock);
    bs_hints *old = c->hints;
    c->hints = NULL;
    pthread_rwlock_unlock(&c->hints_lock);
    bs_hints_close(old); /* stops replay; reopened below for shutdown hints */
    bs__counter_stop(c); /* forwarded counter writes being led */
    bs__batchlog_stop(c); /* no holder job can run any more */
    /* callbacks that fail after this (bs_msg_stop) store hints inline */
    bs_hints_opts ho;
    bs_hints_opts_default(&ho);
    ho.enabled = c->o.hints_enabled;
    ho.max_window_ms = c->o.max_hint_window_ms;
    ho.clock = c->o.clock;
    bs_hints *h = NULL;
    if (bs_hints_open(c->store, &ho, &h)) h = NULL;
    pthread_rwlock_wrlock(&c->hints_lock);
    c->hints = h;
    pthread_rwlock_unlock(&c->hints_lock);
}

void bs_coord_free(bs_coord *c) {
    if (!c) return;
    if (!c->stopped) bs_coord_stop(c);
    bs_hints_close(c->hints);
    bs__fwd_free(c);
    bs__spec_free(c);
    free(atomic_load(&c->partial));
    free(c->workers);
    for (bs__cache_ent *e = c->cache, *nx; e; e = nx) {
        nx = e->next;
        ent_unref(e);
    }
    for (bs__job *j = c->qhead, *nx; j; j = nx) {
        nx = j->next;
        free(j->data);
        free(j);
    }
    pthread_mutex_destroy(&c->cache_lock);
    pthread_mutex_destroy(&c->hdc_lock);
    pthread_mutex_destroy(&c->qlock);
    pthread_rwlock_destroy(&c->hints_lock);
    pthread_cond_destroy(&c->qcond);
    free(c);
}

void bs_coord_get_stats(bs_coord *c, bs_coord_stats *out) {
    memset(out, 0, sizeof *out);
    for (int i = 0; i < BS_COORD_NCL; i++) {
        out->writes[i] = atomic_load(&c->writes[i]);
        out->reads[i] = atomic_load(&c->reads[i]);
    }
    out->range_reads = atomic_load(&c->range_reads);
    out->unavailables = atomic_load(&c->unavailables);
    out->write_timeouts = atomic_load(&c->write_timeouts);
    out->writes_shed = atomic_load(&c->writes_shed);
    out->read_timeouts = atomic_load(&c->read_timeouts);
    out->read_repairs = atomic_load(&c->read_repairs);
    out->speculative_retries = atomic_load(&c->spec_retries);
    out->replica_writes = atomic_load(&c->replica_writes);
    out->replica_reads = atomic_load(&c->replica_reads);
    out->partial_sent = atomic_load(&c->partial_sent);
    out->partial_served = atomic_load(&c->partial_served);
    out->partial_failed = atomic_load(&c->partial_failed);
    out->fwd_sent = atomic_load(&c->fwd_sent);
    out->fwd_relayed = atomic_load(&c->fwd_relayed);
    out->fwd_acked = atomic_load(&c->fwd_acked);
    out->fwd_expired = atomic_load(&c->fwd_expired);
    pthread_rwlock_rdlock(&c->hints_lock);
    if (c->hints) {
        bs_hints_stats hs;
        bs_hints_get_stats(c->hints, &hs);
        out->hints_written = hs.written;
        out->hints_replayed = hs.replayed;
        out->hints_dropped = hs.dropped_expired + hs.dropped_left;
        out->hints_pending = hs.pending;
    }
    pthread_rwlock_unlock(&c->hints_lock);
    out->write_p50_us = bs__hist_pct(&c->write_lat, 50);
    out->write_p99_us = bs__hist_pct(&c->write_lat, 99);
    out->read_p50_us = bs__hist_pct(&c->read_lat, 50);
    out->read_p99_us = bs__hist_pct(&c->read_lat, 99);
}
