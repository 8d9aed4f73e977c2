/*
 * coord.h - the replicated coordinator: an executor backend
 * (query/exec.h) that sends every write to all replicas of its partition
 * and answers at the requested consistency level, reads with digests,
 * repairs stale replicas before answering, keeps hints for replicas that
 * missed writes and replays them, and serves the replica side of those
 * requests for its peers.
 *
 * Room node/coord/ (this header is its door): the replicated request
 * paths.  It owns consistency-level arithmetic, the write path
 * (coord_write.c), the read path with digests and read repair
 * (coord_read.c), the batchlog, TRUNCATE, the replica-side stage, the
 * internode payload codecs (wire.h) and replica placement (placement.h).
 * It implements the executor's backend interface that query/exec.h
 * declares, and may call node/cluster/ (messaging, membership),
 * node/local.h, repair/ (hints), query/, ring/, storage/ and common/.
 *
 * Membership comes through bs_coord_membership (below), which basaltd
 * implements over gossip and the failure detector, and the unit tests
 * over a static ring with switchable alive flags.
 *
 * Internode verbs served (payloads in node/coord/wire.h):
 *   MUTATION (7)    write       -> status only (0 = applied)
 *   READ (8)        read        -> result (data or digest)
 *   HINT (9)        write       -> as MUTATION (a replayed hint)
 *   READ_RAW (12)   read        -> raw: every stored record of the
 *                                  partition's token, tombstones included
 *   REPAIR_RAW (13) raw         -> status only (records LWW-merged)
 *   RANGE_READ (14) scan        -> scanres
 *   COUNTER (26)    write       -> status only (the counter write led
 *                                  here, at the consistency in "now")
 *   PAXOS (22)      prepare / propose / commit of a lightweight
 *                   transaction (node/coord/paxos_wire.h, coord_paxos*.c)
 * Handlers run on a small worker pool ("stage"), never on the messaging
 * loop, so storage latency does not stall messaging.
 *
 * Lifecycle (basaltd and tests):
 *   bs_coord_new(...);             registers the verbs, starts hint replay
 *   bs_coord_backend(c, &be);      hand `be` to bs_exec_new
 *   ...
 *   bs_coord_stop(c);              unregisters verbs, stops replay+stage
 *   bs_msg_stop(msg);              fails what is still in flight
 *   bs_coord_free(c);
 * No backend call may be in flight at bs_coord_stop.
 */
#ifndef BS_NODE_COORD_H
#define BS_NODE_COORD_H

#include <stddef.h>
#include <stdint.h>

#include "common/clock.h"
#include "common/uuid.h"
#include "node/config.h"
#include "node/local.h"
#include "node/cluster/msg.h"
#include "query/exec.h"
#include "ring/tokenmeta.h"

/* Verbs added after BS_VERB_STREAM (wire protocol numbers). */
#define BS_VERB_READ_RAW 12
#define BS_VERB_REPAIR_RAW 13
#define BS_VERB_RANGE_READ 14
/* Batchlog of logged batches (node/coord/coord_batchlog.c). */
#define BS_VERB_BATCHLOG_STORE 28
#define BS_VERB_BATCHLOG_REMOVE 29
#define BS_VERB_TRUNCATE 30
/* Counter writes forwarded to a leader replica (node/coord/coord_counter.c). */
#define BS_VERB_COUNTER 26
/* Write forwarding to remote data centers (node/coord/fwd.h); 22 is
 * PAXOS (lwt), 26 COUNTER. */
#define BS_VERB_MUTATION_FWD 25
#define BS_VERB_MUTATION_ACK 27
/* A visit run on a replica, only its result sent back (bs_visit.partial). */
#define BS_VERB_PARTIAL 21

typedef struct bs_coord bs_coord;

/* The name of an internode verb ("MUTATION", "GOSSIP_SYN", ...; "VERB_<n>"
 * for an unknown number written into buf, which needs 16 bytes). */
const char *bs_coord_verb_label(uint8_t verb, char buf[16]);

/*
 * What the coordinator needs to know about the cluster.  Every callback
 * may be called from any thread, concurrently, and must not block.
 */
typedef struct bs_coord_membership {
    void *ud;
    /* The current ring, retained for the caller (who releases it); NULL
     * before the ring exists (then only system keyspaces are served).
     * Nodes are identified by host id; their dc/rack come from the ring. */
    bs_ring_snapshot *(*ring)(void *ud);
    /* Optional (NULL): the ring as it will be once the topology change in
     * progress completes (bootstrap/leave), retained; NULL when none.
     * Writes also go to its extra replicas ("pending endpoints"). */
    bs_ring_snapshot *(*future_ring)(void *ud);
    /* Failure detector verdict: 1 up, 0 down. */
    int (*alive)(void *ud, const bs_uuid *host);
    /* Optional (NULL: parse the ring's "addr:port" endpoint strings, as
     * bs_cluster_ring() writes them).  Where to send to host: 0, or
     * BS_ENOTFOUND (unknown). */
    int (*endpoint)(void *ud, const bs_uuid *host, bs_msg_peer *out);
} bs_coord_membership;

typedef struct bs_coord_opts {
    const char *local_dc;        /* copied; "dc1" */
    const char *local_rack;      /* copied; "rack1" */
    uint32_t write_timeout_ms;   /* 2000 */
    uint32_t read_timeout_ms;    /* 5000 */
    uint32_t range_timeout_ms;   /* 10000 */
    /* "NONE", "ALWAYS", "<P>p" (percentile of replica read latency, e.g.
     * "99p"; 50 ms until 100 samples exist) or "<N>ms".  Copied. */
    const char *speculative_retry;
    int hints_enabled;           /* 1 */
    uint64_t max_hint_window_ms; /* 3 h */
    uint64_t hint_throttle_bytes;/* per second, 1 MiB; 0 = unthrottled */
    uint32_t hint_poll_ms;       /* 1000 */
    uint32_t stage_threads;      /* replica-side workers; 2 */
    uint32_t range_page;         /* partitions per RANGE_READ answer; 128 */
    /* 1: a replica applies MUTATION/HINT on the messaging thread, the
     * messages of one socket read as one RocksDB write (no hand-off to the
     * stage and back); 0: on the stage.  Default 1; from a config: 1 in
     * periodic commitlog mode, 0 in batch mode (a write waits for fsync) */
    int inline_replica_writes;
    /* 1 (default): a replica answers READ (one partition, a page of rows
     * at most) on the messaging thread; 0: on the stage */
    int inline_replica_reads;
    uint32_t range_ahead_max;    /* largest range-scan concurrency factor; 16 */
    /* 1 (default): one MUTATION_FWD per remote DC (node/coord/fwd.h) */
    int forward_writes;
    /* comma-separated DCs whose replicas get no hints; copied; NULL none */
    const char *hints_disabled_dcs;
    bs_clock *clock;             /* borrowed; NULL = process clock */
} bs_coord_opts;

void bs_coord_opts_default(bs_coord_opts *o);
/* Defaults, then the matching keys of cfg (dc, rack, timeouts,
 * speculative_retry, hinted_handoff_*, max_hint_window).  Strings are
 * borrowed from cfg until bs_coord_new copies them. */
void bs_coord_opts_from_config(const bs_config *cfg, bs_coord_opts *o);

/* A coordinator for node `local` talking through `msg` (both borrowed;
 * they must outlive it).  Opens the hint store (table system.hints of the
 * local store), registers the verbs above on msg and starts the hint
 * replay thread.  0, BS_EINVAL (bad speculative_retry, missing
 * callbacks), BS_ENOMEM, or a store error. */
int bs_coord_new(const bs_coord_opts *o, bs_local *local, bs_msg *msg,
                 const bs_coord_membership *mem, bs_coord **out);
/* See the lifecycle above.  Both idempotent; NULL is a no-op. */
void bs_coord_stop(bs_coord *c);
void bs_coord_free(bs_coord *c);

/* Fills an executor backend served by the coordinator (ud = c).
 * schema_get/schema_apply/nodes/now_us delegate to the local node;
 * truncate empties the table on every node (coord_truncate.c). */
void bs_coord_backend(bs_coord *c, bs_exec_backend *be);

/* 1 when this node is the only node of the ring (a single-node cluster):
 * every replica of every token is local, so no request waits for
 * another node (basaltd then runs prepared statements on the CQL
 * server's loop threads, see node/transport/server.h inline_ok).  0 otherwise or
 * while the ring is not known.  Cheap: one ring snapshot retain/release. */
int bs_coord_local_only(bs_coord *c);

/* Drain (basalt-admin drain): from now on this node takes no writes.
 * Writes it would coordinate (INSERT/UPDATE/DELETE/BATCH, TRUNCATE)
 * fail with Overloaded "... is drained ...", which drivers answer by
 * trying the next host; writes sent to it as a replica (MUTATION, HINT,
 * read-repair and batchlog writes, TRUNCATE) are answered BS_ECLOSED, so
 * their coordinators count a failed replica and keep a hint.  Reads go on.
 * Not undone until the process restarts, as in Cassandra.  Any thread;
 * idempotent.  Writes already past the check finish normally. */
void bs_coord_drain(bs_coord *c);
int bs_coord_drained(const bs_coord *c);

/* Hinted handoff per data center (basalt-admin disablehintsfordc /
 * enablehintsfordc): enabled 0 stops storing hints for dc's replicas,
 * 1 resumes.  Hints already stored are kept and replayed.  0, or
 * BS_EINVAL (empty or too long name, ',' in it) / BS_ENOMEM (list full). */
int bs_coord_hints_dc_set(bs_coord *c, const char *dc, int enabled);
/* The DCs with hints disabled, comma-separated, into out (cap bytes,
 * NUL-terminated; "" none). */
void bs_coord_hints_dc_list(bs_coord *c, char *out, size_t cap);

/* Hints waiting for a target (basalt-admin). */
uint64_t bs_coord_hints_pending(bs_coord *c, const bs_uuid *target);
/* One replay pass for target now, on the caller's thread (tests/admin).
 * 0 when everything was delivered; *delivered may be NULL. */
int bs_coord_hints_replay(bs_coord *c, const bs_uuid *target,
                          uint64_t *delivered);

/* Counters since start (monotonic) and latency percentiles of this
 * coordinator's requests (microseconds, 0 when no sample). */
#define BS_COORD_NCL 11 /* consistency codes 0..10 (proto.h) */
typedef struct bs_coord_stats {
    uint64_t writes[BS_COORD_NCL];
    uint64_t reads[BS_COORD_NCL];
    uint64_t range_reads;
    uint64_t unavailables;
    uint64_t write_timeouts;
    uint64_t writes_shed;        /* Overloaded: compaction behind */
    uint64_t read_timeouts;
    uint64_t hints_written;
    uint64_t hints_replayed;
    uint64_t hints_dropped;
    uint64_t hints_pending;
    uint64_t read_repairs;       /* digest mismatches repaired */
    uint64_t speculative_retries;
    uint64_t replica_writes;     /* MUTATION/HINT applied for peers */
    uint64_t replica_reads;      /* READ/READ_RAW/RANGE_READ served */
    uint64_t partial_sent;       /* partial visits asked of other replicas */
    uint64_t partial_served;     /* partial visits run for other coordinators */
    uint64_t partial_failed;     /* partial visits that failed: ranges read whole */
    uint64_t fwd_sent;           /* MUTATION_FWD sent to a remote DC's forwarder */
    uint64_t fwd_relayed;        /* copies passed on as a forwarder */
    uint64_t fwd_acked;          /* MUTATION_ACKs received from relayed replicas */
    uint64_t fwd_expired;        /* relayed replicas that never acked (hinted) */
    uint64_t write_p50_us, write_p99_us;
    uint64_t read_p50_us, read_p99_us;
} bs_coord_stats;

void bs_coord_get_stats(bs_coord *c, bs_coord_stats *out);

/* The replica side of partial visits (bs_visit.partial; the time-series
 * endpoint's aggregates): open turns a request into the visit to run
 * over this node's data of table *t (cf name) with slice *sl; the
 * coordinator visits each requested range of its store with it, then
 * close encodes the result into out (ok: every range was visited) and
 * frees ctx.  open: 0, or -1 with msg (the coordinator then reads the
 * ranges whole). */
typedef struct bs_coord_partial {
    int (*open)(void *ud, const uint8_t *req, size_t len, void **ctx, bs_visit *v,
                bs_slice *sl, char *cf, size_t cflen, char *msg, size_t msglen);
    int (*close)(void *ud, void *ctx, int ok, bs_buf *out);
    void *ud;
} bs_coord_partial;
void bs_coord_set_partial(bs_coord *c, const bs_coord_partial *p);

#endif
