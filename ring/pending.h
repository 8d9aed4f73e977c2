/*
 * pending.h - pending ranges during a topology change.
 *
 * While nodes bootstrap (join with chosen tokens) or leave (decommission,
 * removenode), writes must reach both the current replicas and the
 * replicas the ring will have once the change completes; otherwise data
 * written during the streaming would be missing afterwards.  Given the
 * current ring and the future ring (current minus leaving nodes plus
 * joining nodes, all at once, as Cassandra's PendingRangeCalculator
 * builds its "all left + bootstrapping" metadata), the pending endpoints
 * of a token are
 *     replicas_future(token) \ replicas_current(token)
 * matched by host id.  The coordinator writes to the natural replicas
 * from the current map plus these, and counts them extra (blockFor +
 * pending, as Cassandra does).
 *
 * Nodes are reported as indices into the FUTURE snapshot (a joining node
 * is only there); bs_ring_pending_snapshot() resolves them.
 */
#ifndef BS_RING_PENDING_H
#define BS_RING_PENDING_H

#include <stddef.h>
#include <stdint.h>

#include "ring/strategy.h"
#include "ring/tokenmeta.h"

typedef struct bs_ring_pending bs_ring_pending;

/* Builds the pending table for st from the current and future rings
 * (retains future; does not keep current or st).  0 or BS_ENOMEM.  Both
 * rings empty, or identical, give a table with no pending endpoints. */
int bs_ring_pending_build(const bs_ring_snapshot *current,
                          const bs_ring_snapshot *future,
                          const bs_ring_strategy *st, bs_ring_pending **out);
/* Convenience: future = current + one joining node (its desc, with its
 * tokens).  0, BS_EEXIST, BS_EINVAL, BS_ENOMEM. */
int bs_ring_pending_for_join(const bs_ring_snapshot *current,
                             const bs_ring_node_desc *joining,
                             const bs_ring_strategy *st,
                             bs_ring_pending **out);
/* Convenience: future = current without the leaving node.
 * 0, BS_ENOTFOUND, BS_ENOMEM. */
int bs_ring_pending_for_leave(const bs_ring_snapshot *current,
                              const bs_uuid *leaving,
                              const bs_ring_strategy *st,
                              bs_ring_pending **out);
void bs_ring_pending_free(bs_ring_pending *p);

/* The future ring the node indices refer to (borrowed). */
const bs_ring_snapshot *bs_ring_pending_snapshot(const bs_ring_pending *p);
/* Pending endpoints for token ("pending endpoints for token T"): *nodes
 * points into p (valid until bs_ring_pending_free); *n may be 0.
 * O(log ranges).  Always 0. */
int bs_ring_pending_endpoints(const bs_ring_pending *p, int64_t token,
                              const uint32_t **nodes, size_t *n);
/* Number of sub-ranges in the table (the union of both rings' vnode
 * boundaries), and the i-th one with its pending endpoints (possibly
 * none): for enumerating what must be streamed.  0 or BS_ERANGE. */
size_t bs_ring_pending_range_count(const bs_ring_pending *p);
int bs_ring_pending_range_at(const bs_ring_pending *p, size_t i,
                             bs_ring_range *range, const uint32_t **nodes,
                             size_t *n);
/* Total number of (range, endpoint) pending pairs. */
size_t bs_ring_pending_total(const bs_ring_pending *p);

#endif
