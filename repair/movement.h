/*
 * movement.h - range movement for topology changes: the data of the
 * ranges that change hands when a node joins (bootstrap: the new node
 * pulls each range it gains from the replica giving it up) or leaves
 * (decommission: the leaving node pushes each range it gives up to its
 * new owner).
 *
 * Both run on the caller's thread over the repair service (session.h)
 * and its environment, and block until every range moved or one failed:
 *   prepare  the pending ranges of every non-system keyspace between the
 *            current ring (env->ring) and opts.future, with the
 *            keyspace's strategy (ring/pending.h); for each sub-range and
 *            each table, one task (cf, range, source, target);
 *   stream   task after task: bootstrap asks the source to stream every
 *            record of the range to this node (REPAIR_SEND_ALL: the
 *            source's sender thread sends checksummed chunks, one in
 *            flight, each acknowledged once applied here); decommission
 *            sends them itself.  The sender is throttled to
 *            opts.stream_throughput_bytes of the repair service.  After a
 *            task, opts.mark_done records it, and opts.is_done lets a
 *            restarted bootstrap skip it (chunks are merged by LWW, so a
 *            range streamed twice changes nothing);
 *            A removal (removenode of a dead node) is orchestrated by
 *            this node: for each range a node gains, a live replica
 *            other than the dead one is asked to send it there;
 *   complete (or failed: the first error stops the session; it is
 *            poisoned, run it again to retry).
 * Consistent range movement (opts.consistent): a bootstrap range comes
 * from the replica the new node replaces, and the session fails with a
 * message naming it when that replica is down.  Without it another live
 * replica serves, and the report says repair is needed.
 *
 * Prepare also asks each task's source how many bytes its range holds
 * (a depth-0 Merkle tree: the records' exact key + value bytes, what the
 * stream will send), so progress is also bytes done of bytes_total.
 * Progress (phase, ranges, bytes, the peer in use) is visible while it
 * runs through bs_repair_streams_json.  One movement at a time per
 * service (BS_EBUSY).
 */
#ifndef BS_REPAIR_MOVEMENT_H
#define BS_REPAIR_MOVEMENT_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "repair/session.h"
#include "ring/tokenmeta.h"

typedef enum bs_movement_kind {
    BS_MOVE_BOOTSTRAP = 1,    /* this node joins: pull what it gains */
    BS_MOVE_DECOMMISSION = 2, /* this node leaves: push what it gives up */
    BS_MOVE_REMOVE = 3,       /* a dead node is removed: each range it had
                                 goes from a live replica to its new owner
                                 (this node asks the sources) */
    BS_MOVE_REBUILD = 4       /* this node (of a new datacenter) pulls every
                                 range it replicates in the current ring
                                 from a live replica in opts.source_dc */
} bs_movement_kind;

typedef struct bs_movement_opts {
    bs_movement_kind kind;
    /* The ring once the change completed (borrowed for the call):
     * bootstrap, the current ring plus this node; decommission, the
     * current ring without it. */
    const bs_ring_snapshot *future;
    int consistent; /* consistent range movement (bootstrap) */
    /* Optional resume hooks (ud passed back): 1 when (cf, s, e] already
     * arrived in an earlier run; record that it has.  Called on the
     * caller's thread. */
    int (*is_done)(void *ud, const char *cf, int64_t s, int64_t e);
    int (*mark_done)(void *ud, const char *cf, int64_t s, int64_t e);
    void *ud;
    /* Bootstrap of a replacement: a range whose only replica was the
     * dead node is skipped with a warning (its data is lost) instead of
     * failing the session.  A removal always does so. */
    int allow_lost;
    /* Rebuild: the datacenter to stream from (future is then NULL: the
     * ranges are those this node replicates in the current ring), and
     * optionally one keyspace (NULL: every non-system keyspace this node
     * replicates).  A keyspace with no replica in source_dc fails the
     * rebuild with a message naming it. */
    const char *source_dc;
    const char *keyspace;
} bs_movement_opts;

typedef struct bs_movement_report {
    uint64_t ranges_total;   /* (table, sub-range, peer) tasks */
    uint64_t ranges_done;    /* streamed in this run */
    uint64_t ranges_skipped; /* done in an earlier run */
    uint64_t rows, bytes;    /* streamed in this run */
    /* what the ranges to stream in this run hold, as their sources
     * counted it in the prepare phase (the bytes a stream sends); 0 when
     * unknown (a source could not say) */
    uint64_t bytes_total;
    int repair_needed;       /* a range came from another replica */
    int64_t duration_ms;
    char error[512]; /* the failure, "" on success */
} bs_movement_report;

/* Runs a movement (see the top).  0 when every range moved; BS_EBUSY
 * another movement runs; BS_EUNAVAIL a source or target is down (the
 * message names it); BS_ECLOSED the service stopped; or the error of
 * the task that failed.  rep->error explains any failure. */
int bs_repair_move(bs_repair *r, const bs_movement_opts *o,
                   bs_movement_report *rep);

/* Checks that datacenter `dc` is a rebuild source: 0; BS_ENOTFOUND no
 * ring member is in it; BS_EUNAVAIL none of its members is up; or
 * BS_EUNAVAIL no ring yet.  err (may be NULL) receives the message. */
int bs_repair_check_source_dc(bs_repair *r, const char *dc, char *err,
                              size_t errlen);

/* Appends {"sessions":[...], "streams":[...], "received_bytes",
 * "received_rows", "sent_bytes"}: the movement running or last run on
 * this node, every stream running on it now (sending or receiving:
 * peer, table, rows, bytes, rate; live.c) and the node's stream
 * counters.  0 or BS_ENOMEM. */
int bs_repair_streams_json(bs_repair *r, bs_buf *out);

#endif
