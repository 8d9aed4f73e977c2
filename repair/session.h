/*
 * session.h - anti-entropy repair sessions and the replica side of their
 * verbs (Merkle trees, record digests, range streaming).
 *
 * A session (bs_repair_run) runs on the caller's thread and blocks:
 *   for each non-system keyspace (or the one named) and each of its
 *   tables (or the one named), for each vnode range this node replicates
 *   (intersected with opts.range when given):
 *     1. every replica must be alive, else the range is reported failed
 *        and the session goes on with the others;
 *     2. ask every replica for its Merkle tree of the range (TREE) at a
 *        depth from bs_store_approx_size; when the roots all agree the
 *        range is in sync; otherwise, when the largest replica's row count
 *        calls for a deeper tree, ask again at that depth (about one
 *        record per leaf);
 *     3. the leaves where any replica differs from the first become
 *        sub-ranges; every replica lists the digests of its records there
 *        (DIGESTS: key hash, record hash, size);
 *     4. each record version that not every replica holds "differs"; it
 *        is sent from one replica holding it to each replica lacking it
 *        (SEND asks the source to stream exactly those records to a
 *        target in checksummed chunks, one in flight at a time, STREAM);
 *        the target merges by LWW, so older versions lose and a replayed
 *        chunk changes nothing.
 *   The report counts ranges compared/in sync/mismatched/failed, records
 *   and bytes that differed, records and bytes streamed, and the duration;
 *   a row per session goes to the local table "system.repair_history".
 *
 * Verbs (wire numbers; payload layouts in session_wire.c):
 *   REPAIR_TREE (15)    tree of (cf, range, depth)     -> bs_merkle_encode
 *   REPAIR_DIGESTS (16) digests of (cf, ranges)        -> digest list
 *   REPAIR_SEND (17)    stream (cf, ranges, wanted) to a target
 *                                                      -> rows, bytes
 *   REPAIR_STREAM (18)  one chunk for cf               -> applied (status)
 *   REPAIR_SEND_ALL (19) stream every record of (cf, ranges) to a target
 *                       (bootstrap, decommission: movement.h)
 *                                                      -> rows, bytes
 *   REPAIR_SIZE (20)    what (cf, ranges) take on disk, estimated by
 *                       RocksDB from its files (no read; counted when
 *                       only in memtables)                -> bytes
 * Requests are handled on the service's worker threads (SEND on a thread
 * of its own while it streams), never on the messaging loop.
 *
 * Scheduled repair (opts.schedule_interval_ms): a thread of the service
 * runs a primary-range session over every non-system keyspace each
 * interval.
 *
 * Threads: bs_repair_run and bs_repair_checksum may be called from any
 * thread (one session at a time: a second gets BS_EBUSY).
 *
 * Layering: repair/ knows nothing of the network, the membership or the
 * schema.  It reaches peers, the ring, liveness and the catalog of tables
 * through bs_repair_env (below), which the node implements
 * (node/repair_env.c: over bs_msg, the membership and bs_local).
 */
#ifndef BS_REPAIR_SESSION_H
#define BS_REPAIR_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/uuid.h"
#include "ring/strategy.h"
#include "ring/tokenmeta.h"
#include "storage/store.h"

/* Internode verb numbers of the repair protocol (part of the wire
 * protocol; the node's messaging carries them). */
#define BS_VERB_REPAIR_TREE 15
#define BS_VERB_REPAIR_DIGESTS 16
#define BS_VERB_REPAIR_SEND 17
#define BS_VERB_REPAIR_STREAM 18
#define BS_VERB_REPAIR_SEND_ALL 19 /* range movement (movement.h) */
#define BS_VERB_REPAIR_SIZE 20     /* range movement's prepare */

typedef struct bs_repair bs_repair;

/* ------------------------------------------------------------------ */
/* The environment: what the node supplies                            */
/* ------------------------------------------------------------------ */

/* An internode endpoint: an IP address in text form and its port. */
#define BS_REPAIR_ADDRLEN 64
typedef struct bs_repair_peer {
    char addr[BS_REPAIR_ADDRLEN];
    uint16_t port;
} bs_repair_peer;

/* The answer to a request: status 0 and the peer's payload (borrowed for
 * the call), or a negative BS_E code (timeout, closed, the peer's error)
 * with payload NULL. */
typedef void (*bs_repair_answer_fn)(void *ud, int status, const uint8_t *p,
                                    size_t len);

/* A request of a repair verb as the service receives it.  payload is
 * borrowed for the handler call; the rest may be copied.  reply_to is
 * the environment's handle of the request: it must be passed to
 * env->reply exactly once (which frees it). */
typedef struct bs_repair_in {
    uint8_t verb;
    char from[BS_REPAIR_ADDRLEN]; /* the sender's address (for logs) */
    const uint8_t *payload;
    size_t len;
    void *reply_to;
} bs_repair_in;

typedef void (*bs_repair_serve_fn)(void *ud, const bs_repair_in *in);

/* The tables a session may visit, filled by env->catalog with the two
 * functions below (the catalog copies the names). */
typedef struct bs_repair_catalog bs_repair_catalog;
/* Appends a keyspace.  st is its replication strategy over the ring
 * catalog() was given (taken: freed with the catalog), or NULL with
 * st_rc saying why it cannot be built.  system: a system keyspace
 * (never repaired unless named).  0 or BS_ENOMEM (st freed). */
int bs_repair_catalog_add_keyspace(bs_repair_catalog *c, const char *name,
                                   int system, bs_ring_strategy *st, int st_rc);
/* Appends a table (`name`, stored in column family `cf` of env->store) to
 * the last keyspace added.  0, BS_EINVAL (no keyspace yet), BS_ENOMEM. */
int bs_repair_catalog_add_table(bs_repair_catalog *c, const char *name,
                                const char *cf);

/* Every function is called from the service's threads (never from the
 * messaging loop) unless it says otherwise; ud is passed back. */
typedef struct bs_repair_env {
    void *ud;
    bs_store *store; /* this node's store (borrowed) */
    bs_uuid self;    /* this node's host id */
    /* The current ring, retained for the caller; NULL before there is one. */
    bs_ring_snapshot *(*ring)(void *ud);
    /* Failure detector verdict on a host: 1 up, anything else down. */
    int (*alive)(void *ud, const bs_uuid *host);
    /* Where to reach ring member `node`: 0, or a negative code (unknown). */
    int (*endpoint)(void *ud, const bs_ring_node_desc *node,
                    bs_repair_peer *out);
    /* Fills c with every keyspace and its tables; the strategies are
     * built over `ring` (NULL: none wanted, pass st NULL, st_rc 0).
     * 0 or an error. */
    int (*catalog)(void *ud, const bs_ring_snapshot *ring,
                   bs_repair_catalog *c);
    /* Sends a request of `verb` (payload copied) to `to`; 0 when queued,
     * and then cb runs exactly once (on any thread) with the answer or an
     * error, at the latest timeout_ms later; otherwise an error and cb is
     * not called. */
    int (*send)(void *ud, const bs_repair_peer *to, uint8_t verb, const void *p,
                size_t len, uint32_t timeout_ms, bs_repair_answer_fn cb,
                void *cbud);
    /* Installs h as the handler of requests of `verb` (h NULL: removes
     * it; requests then get an error from the environment).  h runs on
     * the environment's thread and must not block.  0 or an error. */
    int (*serve)(void *ud, uint8_t verb, bs_repair_serve_fn h, void *hud);
    /* Answers a request (status 0 and payload, copied; or a negative
     * BS_E code) and frees its reply_to.  Any thread. */
    void (*reply)(void *ud, void *reply_to, int status, const void *p,
                  size_t len);
    /* Optional: called by bs_repair_free, last (frees ud). */
    void (*release)(void *ud);
} bs_repair_env;

/* ------------------------------------------------------------------ */
/* The service                                                         */
/* ------------------------------------------------------------------ */

typedef struct bs_repair_opts {
    uint32_t workers;         /* replica-side worker threads; 2 */
    uint32_t tree_timeout_ms; /* TREE / DIGESTS answers; 120000 */
    uint32_t send_timeout_ms; /* a whole SEND; 600000 */
    size_t chunk_bytes;       /* stream chunk target size; 256 KiB */
    /* records per digest list / wanted set (mismatching leaves are
     * synced in groups of about this many records); 200000 (~4 MB) */
    uint64_t digest_batch_records;
    /* Scheduled repair: every interval, a primary-range session over every
     * non-system keyspace (so with every node scheduled, each range is
     * repaired once per interval; keep it under gc_grace_seconds).  0 =
     * off (default).  A manual session in progress defers it by one
     * interval. */
    uint64_t schedule_interval_ms;
    /* Outbound streaming rate in bytes per second (chunks sent by SEND
     * and SEND_ALL: repair, bootstrap, decommission); 0 = unthrottled. */
    uint64_t stream_throughput_bytes;
    /* A range this node pulls (bootstrap, rebuild) is written to SST
     * files as its chunks land and ingested into the table once complete
     * (rocksdb_ingest_external_file), instead of a write batch per chunk
     * (scripts/bench-stream: ~5x faster).  1 (default) or 0. */
    int stream_ingest_sst;
} bs_repair_opts;

void bs_repair_opts_default(bs_repair_opts *o);

/* Starts the service over `env` (copied; everything it points to must
 * outlive the service).  Registers the verbs.  On success the service
 * owns env (bs_repair_free calls env->release); on failure the caller
 * still does.  0, BS_EINVAL, BS_ENOMEM. */
int bs_repair_new(const bs_repair_opts *o, const bs_repair_env *env,
                  bs_repair **out);
/* Unregisters the verbs, answers queued requests BS_ECLOSED and joins the
 * threads; a session in progress ends after its current range with
 * BS_ECLOSED.  Idempotent; NULL is a no-op.  Call before the messaging
 * stops (and before stopping whatever runs sessions, e.g. the admin
 * server). */
void bs_repair_stop(bs_repair *r);
/* Stops if needed, frees, then releases the environment.  NULL: no-op. */
void bs_repair_free(bs_repair *r);

typedef struct bs_repair_run_opts {
    const char *keyspace; /* NULL: every non-system keyspace */
    const char *table;    /* NULL: every table (needs keyspace) */
    int full;             /* accepted; every repair is a full repair */
    int primary_only;     /* only ranges this node is the primary replica
                             of (nodetool -pr): run on every node, each
                             range is repaired once */
    int has_range;        /* restrict to (range_start, range_end] */
    int64_t range_start, range_end;
    /* Only replicas in these datacenters take part (ndcs 0: all); this
     * node's own DC must be one of them (else BS_EINVAL) and each must
     * have a ring member (else BS_ENOTFOUND); the message goes to the
     * report's first_error. */
    const char *const *dcs;
    size_t ndcs;
    int local_dc_only; /* dcs = this node's own DC (nodetool --in-local-dc) */
    /* Trees of replicas in different DCs are built at the same time;
     * within a DC one after another (default: every replica in turn). */
    int dc_parallel;
} bs_repair_run_opts;

typedef struct bs_repair_report {
    bs_uuid session;
    int64_t started_ms, duration_ms;
    uint64_t tables;
    uint64_t ranges_compared; /* ranges whose trees were compared */
    uint64_t ranges_in_sync;
    uint64_t ranges_mismatched;
    uint64_t ranges_failed; /* a replica down or an error */
    uint64_t leaves_mismatched;
    uint64_t rows_differed, bytes_differed; /* distinct record versions */
    uint64_t rows_streamed, bytes_streamed; /* records received by targets */
    uint64_t streams;                       /* SEND operations */
    char first_error[256];                  /* "" when no range failed */
} bs_repair_report;

/* Runs a session (see the top).  0 when it ran (failed ranges are in the
 * report, not an error); BS_ENOTFOUND unknown keyspace/table; BS_EBUSY
 * another session runs; BS_EUNAVAIL no ring yet; BS_ECLOSED the service
 * was stopped (before or during the session: it stops after the range in
 * progress). */
int bs_repair_run(bs_repair *r, const bs_repair_run_opts *o,
                  bs_repair_report *rep);
/* Requests of each repair verb this node served (as a replica), since
 * start: what /metrics shows. */
typedef struct bs_repair_stats {
    uint64_t tree, digests, send, stream, send_all;
    uint64_t stale_chunks; /* STREAM chunks of a session no longer
                              waited for, refused */
} bs_repair_stats;
void bs_repair_get_stats(bs_repair *r, bs_repair_stats *out);

/* The outbound stream rate in bytes per second (0 = unthrottled): starts
 * at opts.stream_throughput_bytes; a new rate applies to streams already
 * running from their next chunk (nodetool setstreamthroughput).  Not
 * persisted.  Any thread. */
void bs_repair_set_stream_throughput(bs_repair *r, uint64_t bytes_per_s);
uint64_t bs_repair_stream_throughput(bs_repair *r);

/* The report as a JSON object (appended to out). */
int bs_repair_report_json(const bs_repair_report *rep, bs_buf *out);

/* The last `limit` sessions (newest first) from this node's
 * system.repair_history, appended to out as JSON {"sessions":[{"what":
 * "ks.table" asked for, "report": the session's report object}]}.
 * 0 or a store error. */
int bs_repair_history(bs_repair *r, uint32_t limit, bs_buf *out);

/* Validates a REPAIR_* request payload of `verb` as its handler would
 * (layouts in session_wire.c) without doing the work.  0, BS_ECORRUPT, or
 * BS_EINVAL for a verb that is not a repair verb.  Pure (fuzzed). */
int bs_repair_request_check(uint8_t verb, const void *p, size_t len);

/* Per-node checksums: for each table (keyspace/table may be NULL as in
 * run), each ring member is asked (TREE over the whole ring, depth 0) for
 * the hash of every record it stores, and the result is appended to out
 * as JSON {"tables":[{"keyspace","table","nodes":[{"address","host_id",
 * "checksum" (16 hex digits) or "error","rows","bytes"}]}]}. */
int bs_repair_checksum(bs_repair *r, const char *keyspace, const char *table,
                       bs_buf *out);

#endif
