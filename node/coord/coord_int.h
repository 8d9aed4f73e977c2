/*
 * coord_int.h - internals shared by coord.c (lifecycle, placement,
 * consistency arithmetic, fan-out, stage, stats), coord_write.c and
 * coord_read.c.  Not for other modules.
 */
#ifndef BS_NODE_COORD_INT_H
#define BS_NODE_COORD_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "common/error.h"
#include "common/trace.h"
#include "node/coord/coord.h"
#include "repair/hints.h"
#include <string.h>

#include "ring/pending.h"
#include "ring/strategy.h"
#include "storage/store.h"

/* ---- latency histogram (log-linear buckets, lock-free) ------------------ */
#define BS__HIST_N 160
typedef struct bs__hist {
    _Atomic uint64_t b[BS__HIST_N];
    _Atomic uint64_t n;
} bs__hist;
void bs__hist_add(bs__hist *h, uint64_t us);
/* The value under which pct percent of samples fall (upper bucket bound);
 * 0 when empty. */
uint64_t bs__hist_pct(bs__hist *h, double pct);

/* ---- placement ------------------------------------------------------------ */

#define BS__MAX_TARGETS 64

typedef struct bs__target {
    bs_uuid host;
    const char *dc;     /* borrowed from the placement's snapshot */
    int local;          /* this node */
    int alive;
    int pending;        /* pending endpoint (writes only) */
    int has_peer;
    bs_msg_peer peer;
} bs__target;

/* The replicas of one token for one keyspace.  Holds references on the
 * snapshots the dc strings point into; release with bs__placement_done. */
typedef struct bs__placement {
    bs_ring_replica_map *map;  /* retained */
    bs_ring_pending *pend;     /* borrowed from the cache entry via map ref */
    const bs_ring_snapshot *future; /* retained or NULL */
    const bs_ring_strategy *st;     /* owned by the cache entry (kept alive
                                       by `entry` reference) */
    void *entry;               /* cache entry reference */
    size_t n;                  /* natural replicas first (proximity order:
                                  local, same rack, same dc, others), then
                                  pending ones */
    size_t nnatural;
    bs__target t[BS__MAX_TARGETS]; /* [0, n) set; last, so that filling a
                                      placement touches only its head */
} bs__placement;

/* Consistency requirement: `need` acks from replicas of `dc` (NULL: any). */
typedef struct bs__req {
    const char *dc;
    int need;
} bs__req;
#define BS__MAX_REQS 16

/* ---- fan-out of requests to peers ----------------------------------------- */

typedef struct bs__call {
    int done;          /* response or failure arrived */
    int status;        /* 0 ok, else the failure */
    uint8_t *resp;     /* malloc'd response payload (status 0) */
    size_t len;
    int64_t sent_ns;
    /* hint to store if this call fails (writes); malloc'd or NULL */
    uint8_t *hint;
    size_t hint_len;
    bs_uuid host;
    int replica_read;  /* record latency in the replica-read histogram */
    uint8_t verb;      /* for trace events */
    char peer[64];     /* its address, for trace events */
} bs__call;

typedef struct bs__fan bs__fan;
typedef void (*bs__fan_ready)(bs__fan *f, void *ud, int met);

struct bs__fan {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int refs;
    /* bs__fan_arm: decided by pred (or every call done), then ready */
    int (*pred)(bs__fan *f, void *ud);
    bs__fan_ready ready;
    void *ready_ud;
    bs_coord *c;
    struct bs_trace *trace; /* the caller's current trace (retained) or NULL */
    size_t n;
    bs__call calls[];
};

bs__fan *bs__fan_new(bs_coord *c, size_t n);
/* "READ", "MUTATION", ... for trace events. */
const char *bs__verb_name(uint8_t verb);
void bs__fan_release(bs__fan *f);
/* Sends call i (its hint/host fields set by the caller beforehand).  On a
 * send error the call is marked failed at once.  Returns the send rc. */
int bs__fan_send(bs__fan *f, size_t i, const bs_msg_peer *to, uint8_t verb,
                 const void *payload, size_t len, uint32_t timeout_ms);
/* Fills call i with status as a response would (first outcome only;
 * a failure queues the slot's hint).  Caller holds a reference on f. */
void bs__fan_complete(bs__fan *f, size_t i, int status);
void bs__fan_retain(bs__fan *f);
/* Marks call i done locally (the local replica) with status. */
void bs__fan_local(bs__fan *f, size_t i, int status);
/* Waits (lock taken inside) until pred(f, ud) is true, or every call is
 * done, or the monotonic deadline passes.  Returns pred's final value. */
int bs__fan_wait(bs__fan *f, int (*pred)(bs__fan *f, void *ud), void *ud,
                 int64_t deadline_ns);

/* The asynchronous bs__fan_wait, for callers that must not block (a CQL
 * loop).  Once every call was sent (or marked local): when pred(f, ud)
 * holds or every call is done already, returns 0 with *met = pred's
 * value.  Otherwise returns 1: ready(f, ud, met) runs exactly once,
 * on the thread whose outcome decided it (the messaging thread, the
 * forward expiry), after f's lock is released.  The caller's reference
 * on f passes to ready.  The deadline is the calls' own timeouts.  An
 * armed pred may also answer -1: decided, not met, though calls are
 * still out (a read whose contacts all answered and that has no
 * speculative retry left). */
int bs__fan_arm(bs__fan *f, int (*pred)(bs__fan *f, void *ud), bs__fan_ready ready, void *ud,
                int *met);
/* Decides an armed fan again (its pred's inputs changed outside a
 * call's outcome); runs ready when decided, as a call's outcome would. */
void bs__fan_poke(bs__fan *f);

/* ---- batchlog (coord_batchlog.c) ------------------------------------------ */

/* Where a logged batch's batchlog entry went, to remove it afterwards. */
typedef struct bs__blog_ref {
    uint8_t id[16];
    size_t n;                 /* remote holders */
    bs_msg_peer peers[2];
    int local;                /* stored on this node (no live peer) */
} bs__blog_ref;

/* Opens system.batchlog and starts the replay thread. */
int bs__batchlog_start(bs_coord *c);
void bs__batchlog_stop(bs_coord *c);
/* Stores the batch on up to two other live nodes (this node when there
 * is none) and waits for them.  0, or -1 with a WriteTimeout (write type
 * BATCH_LOG) in err. */
int bs__batchlog_write(bs_coord *c, const bs_mutation *m, size_t nm, int64_t now_s,
                       int64_t deadline_ns, bs__blog_ref *ref, bs_exec_err *err);
/* Forgets the entry everywhere (one-way messages). */
void bs__batchlog_remove(bs_coord *c, const bs__blog_ref *ref);
/* Endpoint of a host (membership callback or ring endpoint). */
int bs__endpoint_of(bs_coord *c, const bs_uuid *host, bs_msg_peer *out);

/* ---- the coordinator ----------------------------------------------------- */

typedef struct bs__job {
    struct bs__job *next;
    void (*fn)(bs_coord *c, struct bs__job *j);
    bs_msg_in in;      /* copy; payload points to `data` */
    uint8_t *data;
    size_t len;
    bs_uuid host;      /* hint jobs */
    int status;        /* a batched MUTATION's outcome, answered after the commit */
    int fwd_ack;       /* a relayed MUTATION_FWD: acknowledge to fwd_coord */
    uint64_t fwd_id;
    bs_msg_peer fwd_coord;
    struct bs_trace *trace; /* this replica's part of a traced request, or NULL */
} bs__job;

/* ---- lightweight transactions (coord_paxos.c, coord_paxos_replica.c) ---- */

/* Opens system.paxos (the acceptor state). */
int bs__paxos_open(bs_coord *c);
/* Acceptor: answers one PAXOS request (paxos_wire.h) into out.  0 or an
 * error (BS_ECORRUPT for a bad request, a store error). */
int bs__paxos_handle(bs_coord *c, const void *p, size_t len, bs_buf *out);
void bs__job_paxos(bs_coord *c, struct bs__job *j);
/* Backend cas (query/exec.h). */
int bs__coord_cas(void *ud, const bs_exec_cas *q, bs_arena *a, bs_partv **cur,
                  int *applied, bs_exec_err *err);
/* A read at SERIAL / LOCAL_SERIAL: a Paxos round that completes any
 * proposal in progress, then the read at QUORUM / LOCAL_QUORUM.  As the
 * backend read; ReadTimeout when the round does not finish in time. */
int bs__paxos_read(bs_coord *c, const bs_table_schema *t, int64_t token, const void *pk,
                   size_t pk_len, const bs_slice *sl, uint16_t cl, bs_arena *a,
                   bs_partv **out, bs_exec_err *err);

/* Holder side of the batchlog verbs (coord_batchlog.c). */
void bs__job_batchlog_store(bs_coord *c, bs__job *j);
void bs__job_batchlog_remove(bs_coord *c, bs__job *j);
/* TRUNCATE on every node (coord_truncate.c). */
int bs__coord_truncate(void *ud, const bs_table_schema *t, bs_exec_err *err);
void bs__job_truncate(bs_coord *c, bs__job *j);

typedef struct bs__cache_ent bs__cache_ent;

/* ---- write forwarding (coord_fwd.c) ---------------------------------------- */
struct bs__fwd;
struct bs__spec;
/* Registry + sweeper thread + MUTATION_ACK handler.  0 or an error. */
int bs__fwd_start(bs_coord *c);
/* Fails (and hints) what is still registered; stops the sweeper. */
void bs__fwd_stop(bs_coord *c);
void bs__fwd_free(bs_coord *c);
/* Registers the fan slots (their host and hint already set) that a
 * forwarder relays to; their acks may come until deadline_ns.  Returns
 * the forward id, 0 when it could not (send directly then). */
uint64_t bs__fwd_register(bs_coord *c, bs__fan *f, const size_t *slots, size_t n,
                          int64_t deadline_ns);
/* Replica side of MUTATION_FWD: decodes the envelope, relays it (a
 * request from the coordinator) or marks the job for an ack (relayed to
 * us); *write is the write payload inside j->data.  0 or BS_ECORRUPT. */
int bs__fwd_relay(bs_coord *c, bs__job *j, const uint8_t **write, size_t *wlen);
/* One-way MUTATION_ACK of job j (fwd_ack set) to its coordinator. */
void bs__fwd_ack_send(bs_coord *c, const bs__job *j, int status);
/* A replica write's answer: the reply, plus the ack of a relayed one. */
void bs__job_write_reply(bs_coord *c, bs__job *j, int status);

/* Fills err for a write refused because the node is drained; returns -1. */
int bs__drained_error(bs_coord *c, bs_exec_err *err);

struct bs_coord {
    bs_coord_opts o;
    char dc[128], rack[128];
    int spec_mode;        /* 0 none, 1 always, 2 percentile, 3 fixed ms */
    double spec_pct;
    uint32_t spec_ms;
    bs_local *local;
    bs_store *store;
    atomic_int drained; /* bs_coord_drain: no more writes */
    bs_uuid self;
    bs_msg *msg;
    bs_coord_membership mem;
    bs_hints *hints;
    /* read-held by every user of `hints`, write-held while bs_coord_stop
     * closes it and opens it again for shutdown hints (a write callback
     * on the messaging thread may store a hint at that moment) */
    pthread_rwlock_t hints_lock;
    struct bs__batchlog *blog; /* node/coord/coord_batchlog.c */
    bs_table *paxos_t;         /* system.paxos (coord_paxos_replica.c) */
    bs_exec_backend lbe;  /* the local node's backend (delegation) */

    pthread_mutex_t cache_lock;
    bs__cache_ent *cache;

    pthread_mutex_t qlock;
    pthread_cond_t qcond;
    bs__job *qhead, *qtail;
    int qstop;
    /* messaging thread only: jobs of the socket read being handled, queued
     * for the stage at the read's end (one wake-up per read) */
    bs__job *rhead, *rtail;
    /* messaging thread only: replica writes applied inline in this read's
     * store defer scope (rdefer), answered after its commit */
    bs__job *dhead, *dtail;
    int rdefer;
    pthread_t *workers;
    size_t nworkers;
    int stopped;

    /* stats */
    _Atomic uint64_t writes[BS_COORD_NCL], reads[BS_COORD_NCL];
    _Atomic uint64_t range_reads, unavailables, write_timeouts, read_timeouts;
    _Atomic uint64_t read_repairs, spec_retries, replica_writes, replica_reads;
    _Atomic uint64_t hints_written_here;
    _Atomic uint64_t writes_shed; /* Overloaded: storage behind (store_bg.c) */
    struct bs__fwd *fwd;  /* coord_fwd.c */
    struct bs__spec *spec; /* coord_read.c: asynchronous reads' speculative retries */
    /* DCs whose replicas get no hints: ",dc1,dc2," ("" none) under hdc_lock;
     * hdc_any is 1 when the list is not empty (no lock on the fast path) */
    pthread_mutex_t hdc_lock;
    char hdc[1024];
    atomic_int hdc_any;
    _Atomic uint64_t fwd_sent, fwd_relayed, fwd_acked, fwd_expired;
    _Atomic uint64_t partial_sent, partial_served, partial_failed;
    /* the partial-visit handler, set once (bs_coord_set_partial), or NULL */
    _Atomic(bs_coord_partial *) partial;
    bs__hist write_lat, read_lat, replica_read_lat;
};

#define BS__INC(x) atomic_fetch_add_explicit(&(x), 1, memory_order_relaxed)

int64_t bs__coord_now_s(bs_coord *c);

/* Placement of token for keyspace ks.  0, or an error already described
 * in err (Unavailable-free: just "no ring"/"bad replication"). */
int bs__placement_get(bs_coord *c, const bs_keyspace_schema *ks, int64_t token,
                      int with_pending, bs__placement *pl, bs_exec_err *err);
void bs__placement_done(bs_coord *c, bs__placement *pl);
/* Target for ring node d (alive/local/peer filled in). */
void bs__fill_target(bs_coord *c, bs__target *t, const bs_ring_node_desc *d, int pending);

/* ---- tracing (coord_trace.c) ------------------------------------------------
 * A replica's part of a traced request: the stage starts a trace for a job
 * whose message carries a trace id (bs__job_trace_begin), the handler
 * answers with bs__job_reply, which records "Enqueuing response" and
 * writes the replica's events to its system_traces.events before the
 * answer leaves; bs__job_trace_end writes what is left (no-op once
 * written) and drops the trace. */
struct bs__job;
void bs__job_trace_begin(bs_coord *c, struct bs__job *j);
void bs__job_trace_end(bs_coord *c, struct bs__job *j);
void bs__job_reply(bs_coord *c, struct bs__job *j, int status, const void *p, size_t len);
/* A read of a system_traces table: the partition as the union of every
 * live node's rows (each node stores its own events).  As backend read. */
int bs__trace_read(bs_coord *c, const bs_table_schema *ts, int64_t token, const void *pk,
                   size_t pk_len, const bs_slice *sl, bs_arena *a, bs_partv **out,
                   bs_exec_err *err);
int bs__is_traces_ks(const bs_keyspace_schema *ks);
/* The replicas of vnode v of pl's ring (same order rules as a placement:
 * local first, then proximity).  *n <= BS__MAX_TARGETS. */
int bs__vnode_targets(bs_coord *c, const bs__placement *pl, size_t v,
                      bs__target *out, size_t *n);
/* Speculative retry delay in ms (-1 = never). */
int64_t bs__spec_delay_ms(bs_coord *c);

/* Requirements of consistency cl over placement pl.  Writes add the
 * pending replicas of each requirement's dc to its need.  0, or -1 with
 * err (invalid consistency). */
int bs__cl_reqs(bs_coord *c, uint16_t cl, const bs__placement *pl,
                int is_write, bs__req *out, size_t *n, bs_exec_err *err);
/* 1 when target t counts for requirement r. */
static inline int bs__req_match(const bs__req *r, const bs__target *t) {
    return !r->dc || (t->dc && !strcmp(r->dc, t->dc));
}
const char *bs__cl_name(uint16_t cl);
/* 1 when a call's status is a replica's explicit failure (its store
 * refused or failed the request) rather than silence: a timeout, a
 * replica known down (hinted), a closed connection, a full queue.  Only
 * explicit failures make WriteFailure/ReadFailure (Cassandra counts the
 * replicas that answered with a failure the same way). */
static inline int bs__is_replica_failure(int status) {
    return status && status != BS_ETIMEDOUT && status != BS_EUNAVAIL && status != BS_ECLOSED &&
           status != BS_EOVERLOAD && status != BS_ENOTSUP;
}
void bs__unavailable(bs_coord *c, bs_exec_err *err, uint16_t cl, int need,
                     int alive);

/* Applies mutations to the local store with now_s for TTLs (one atomic
 * batch).  0 or a store error. */
int bs__apply_local(bs_coord *c, const bs_mutation *m, size_t n,
                    int64_t now_s);
/* 1 when replicas of dc get hints (hinted handoff on, dc not listed in
 * hinted_handoff_disabled_datacenters / disablehintsfordc). */
int bs__hints_for(bs_coord *c, const char *dc);
/* Stores a hint (payload = write payload) for host, counting it. */
void bs__hint_store(bs_coord *c, const bs_uuid *host, const void *payload,
                    size_t len);
/* Queues a hint to be stored by the stage (callable on the loop thread);
 * takes ownership of payload (malloc'd). */
void bs__hint_queue(bs_coord *c, const bs_uuid *host, uint8_t *payload,
                    size_t len);

/* The keyspace of a table ("ks.table"), from schema s, or NULL. */
const bs_keyspace_schema *bs__keyspace_of(const bs_schema *s, const char *cf);

/* Stage: job handlers (coord_write.c / coord_read.c). */
void bs__job_mutation(bs_coord *c, bs__job *j);
/* A MUTATION/HINT job's decode and local apply (through
 * bs_store_write_grouped: queued in a defer scope); its reply status. */
int bs__mutation_apply(bs_coord *c, bs__job *j);
void bs__job_read(bs_coord *c, bs__job *j);
void bs__job_read_raw(bs_coord *c, bs__job *j);
void bs__job_repair_raw(bs_coord *c, bs__job *j);
void bs__job_range(bs_coord *c, bs__job *j);
void bs__job_partial(bs_coord *c, bs__job *j);
/* Counter writes (coord_counter.c): the backend's counter_write, and the
 * leader side of a forwarded one. */
int bs__coord_counter_write(void *ud, const bs_mutation *m, size_t n, uint16_t cl,
                            bs_exec_err *err);
void bs__job_counter(bs_coord *c, bs__job *j);
/* Waits until no forwarded counter write is being led (bs_coord_stop,
 * after the stage stopped: none can start any more). */
void bs__counter_stop(bs_coord *c);

/* Backend entry points. */
int bs__coord_write(void *ud, const bs_mutation *m, size_t n, uint16_t cl,
                    int logged, bs_exec_err *err);
/* The same; applied_here: the mutations are already applied to this
 * node's store (a counter leader's shards), so its replica counts as
 * acknowledged without applying them again. */
int bs__coord_write_ex(bs_coord *c, const bs_mutation *m, size_t n, uint16_t cl, int logged,
                       int applied_here, bs_exec_err *err);
/* bs_exec_backend.write_async (query/exec.h). */
int bs__coord_write_async(void *ud, const bs_mutation *m, size_t n, uint16_t cl,
                          bs_exec_err *err,
                          void (*done)(void *dud, int rc, const bs_exec_err *err), void *dud);
int bs__coord_read(void *ud, const bs_table_schema *t, int64_t token,
                   const void *pk, size_t pk_len, const bs_slice *sl,
                   uint16_t cl, bs_arena *a, bs_partv **out, bs_exec_err *err);
/* bs_exec_backend.read_async (query/exec.h). */
int bs__coord_read_async(void *ud, const bs_table_schema *t, int64_t token, const void *pk,
                         size_t pk_len, const bs_slice *sl, uint16_t cl, bs_arena *a,
                         bs_partv **out, bs_exec_err *err,
                         void (*done)(void *dud, int rc, const bs_exec_err *err), void *dud);
/* The speculative-retry timer of asynchronous reads (coord_read.c). */
int bs__spec_start(bs_coord *c);
void bs__spec_stop(bs_coord *c);
void bs__spec_free(bs_coord *c);
int bs__coord_scan(void *ud, const bs_table_schema *t, const bs_scan *sc,
                   uint16_t cl, bs_part_cb cb, void *cbud, bs_exec_err *err);
/* The same row by row (bs_exec_backend.visit): pieces this node holds
 * are visited in its store at ONE; the rest as the scan reads them. */
int bs__coord_visit(void *ud, const bs_table_schema *t, const bs_scan *sc, uint16_t cl,
                    const bs_visit *v, bs_exec_err *err);

#endif
