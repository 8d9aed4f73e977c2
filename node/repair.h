/*
 * repair.h - anti-entropy repair sessions and the replica side of their
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
 * Verbs (wire numbers; payload layouts in repair.c):
 *   REPAIR_TREE (15)    tree of (cf, range, depth)     -> bs_merkle_encode
 *   REPAIR_DIGESTS (16) digests of (cf, ranges)        -> digest list
 *   REPAIR_SEND (17)    stream (cf, ranges, wanted) to a target
 *                                                      -> rows, bytes
 *   REPAIR_STREAM (18)  one chunk for cf               -> applied (status)
 * Requests are handled on the service's worker threads (SEND on a thread
 * of its own while it streams), never on the messaging loop.
 *
 * Scheduled repair (opts.schedule_interval_ms): a thread of the service
 * runs a primary-range session over every non-system keyspace each
 * interval.
 *
 * Threads: bs_repair_run and bs_repair_checksum may be called from any
 * thread (one session at a time: a second gets BS_EBUSY).
 */
#ifndef BS_NODE_REPAIR_H
#define BS_NODE_REPAIR_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "node/coord/coord.h"
#include "node/local.h"
#include "node/cluster/msg.h"

#define BS_VERB_REPAIR_TREE 15
#define BS_VERB_REPAIR_DIGESTS 16
#define BS_VERB_REPAIR_SEND 17
#define BS_VERB_REPAIR_STREAM 18

typedef struct bs_repair bs_repair;

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
} bs_repair_opts;

void bs_repair_opts_default(bs_repair_opts *o);

/* Starts the service for node `local` over `msg` (both borrowed; they
 * must outlive it); mem gives the ring and the failure detector (copied;
 * its ud must outlive the service).  Registers the verbs.  0, BS_EINVAL,
 * BS_ENOMEM. */
int bs_repair_new(const bs_repair_opts *o, bs_local *local, bs_msg *msg,
                  const bs_coord_membership *mem, bs_repair **out);
/* Unregisters the verbs, answers queued requests BS_ECLOSED and joins the
 * threads; a session in progress ends after its current range with
 * BS_ECLOSED.  Idempotent; NULL is a no-op.  Call before bs_msg_stop (and
 * before stopping whatever runs sessions, e.g. the admin server). */
void bs_repair_stop(bs_repair *r);
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
/* The report as a JSON object (appended to out). */
int bs_repair_report_json(const bs_repair_report *rep, bs_buf *out);

/* The last `limit` sessions (newest first) from this node's
 * system.repair_history, appended to out as JSON {"sessions":[{"what":
 * "ks.table" asked for, "report": the session's report object}]}.
 * 0 or a store error. */
int bs_repair_history(bs_repair *r, uint32_t limit, bs_buf *out);

/* Validates a REPAIR_* request payload of `verb` as its handler would
 * (layouts in repair.c) without doing the work.  0, BS_ECORRUPT, or
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
