/*
 * tokenmeta.h - token metadata: the nodes of a cluster, their vnode
 * tokens, and immutable, refcounted ring snapshots.
 *
 * A snapshot is built once by a builder and never changes afterwards, so
 * any number of threads (event loops) may read it at the same time with
 * no lock; each holder takes a reference (retain) and drops it (release),
 * the last release frees it.  A topology change builds a new snapshot
 * (bs_ring_builder_from() copies an old one) and publishes it; readers
 * keep using the old one until they release it.
 *
 * Nodes are numbered 0..nodes-1 in the order they were added (a removal
 * shifts the ones after it down), and every per-node array of the ring
 * API is indexed by that number.  The host id is the stable identity
 * across snapshots.
 *
 * Tokens follow murmur3.h: signed 64-bit, the ring wraps.  A vnode token
 * t_i owns the range (t_{i-1}, t_i] (start exclusive, end inclusive); the
 * first token also owns everything above the last token (wrap).
 */
#ifndef BS_RING_TOKENMETA_H
#define BS_RING_TOKENMETA_H

#include <stddef.h>
#include <stdint.h>

#include "common/uuid.h"

typedef struct bs_ring_snapshot bs_ring_snapshot;
typedef struct bs_ring_builder bs_ring_builder;

/* A node as given to the builder, or as read back from a snapshot.  Read
 * back, every pointer is owned by the snapshot and valid while the caller
 * holds a reference to it; tokens are then sorted ascending. */
typedef struct bs_ring_node_desc {
    bs_uuid host_id;
    const char *endpoint; /* "10.0.0.1:7000" or whatever the caller uses */
    const char *dc;
    const char *rack;
    const int64_t *tokens;
    size_t ntokens;
} bs_ring_node_desc;

/* A token range (start, end]: start exclusive, end inclusive.  When
 * start >= end it wraps past the maximum token; start == end is the
 * whole ring (a ring with one token). */
typedef struct bs_ring_range {
    int64_t start;
    int64_t end;
} bs_ring_range;

/* Fraction of the ring (0..1] a range covers. */
double bs_ring_range_width(const bs_ring_range *r);

/* ---- builder ---------------------------------------------------------- */

/* An empty builder.  0 or BS_ENOMEM. */
int bs_ring_builder_new(bs_ring_builder **out);
/* A builder holding a copy of snap's nodes (same order).  0/BS_ENOMEM. */
int bs_ring_builder_from(const bs_ring_snapshot *snap, bs_ring_builder **out);
void bs_ring_builder_free(bs_ring_builder *b);
/* Copies the node (strings and tokens are copied).  0, BS_EEXIST (host
 * id already present), BS_EINVAL (NULL endpoint/dc/rack, or a token equal
 * to BS_RING_MIN_TOKEN, which no node may own), BS_ENOMEM.  A node with 0
 * tokens is a member that owns nothing. */
int bs_ring_builder_add_node(bs_ring_builder *b, const bs_ring_node_desc *n);
/* 0 or BS_ENOTFOUND. */
int bs_ring_builder_remove_node(bs_ring_builder *b, const bs_uuid *host_id);
/* Builds a snapshot with refcount 1 (the caller's).  The builder stays
 * usable.  0, BS_EEXIST (two nodes, or one node twice, hold the same
 * token) or BS_ENOMEM. */
int bs_ring_builder_build(const bs_ring_builder *b, bs_ring_snapshot **out);

/* ---- snapshot --------------------------------------------------------- */

/* Both are thread-safe (atomic refcount).  retain returns snap. */
bs_ring_snapshot *bs_ring_snapshot_retain(const bs_ring_snapshot *snap);
void bs_ring_snapshot_release(const bs_ring_snapshot *snap);

uint32_t bs_ring_snapshot_node_count(const bs_ring_snapshot *snap);
size_t bs_ring_snapshot_token_count(const bs_ring_snapshot *snap);
/* Node idx, pointers borrowed from the snapshot.  0 or BS_ERANGE. */
int bs_ring_snapshot_node(const bs_ring_snapshot *snap, uint32_t idx,
                          bs_ring_node_desc *out);
/* Index of the node with this host id; 0 or BS_ENOTFOUND. */
int bs_ring_snapshot_find_node(const bs_ring_snapshot *snap,
                               const bs_uuid *host_id, uint32_t *idx);
/* The i-th smallest token and its owner.  0 or BS_ERANGE. */
int bs_ring_snapshot_token_at(const bs_ring_snapshot *snap, size_t i,
                              int64_t *token, uint32_t *owner);
/* Index (into the sorted tokens) of the vnode whose range holds token:
 * the first token >= token, or 0 when token is above the last (wrap).
 * O(log n).  0 or BS_ENOTFOUND (no tokens at all). */
int bs_ring_snapshot_vnode_of(const bs_ring_snapshot *snap, int64_t token,
                              size_t *vnode);
/* The primary owner of a token (the node of its vnode).  O(log n).
 * 0 or BS_ENOTFOUND (empty ring). */
int bs_ring_snapshot_primary(const bs_ring_snapshot *snap, int64_t token,
                             uint32_t *node);
/* The range (start, end] of vnode i.  0 or BS_ERANGE. */
int bs_ring_snapshot_vnode_range(const bs_ring_snapshot *snap, size_t i,
                                 bs_ring_range *out);
/* Number of distinct DCs / racks among nodes that own tokens. */
uint32_t bs_ring_snapshot_dc_count(const bs_ring_snapshot *snap);
/* Nodes owning tokens in DC `dc` (0 when unknown). */
uint32_t bs_ring_snapshot_dc_nodes(const bs_ring_snapshot *snap,
                                   const char *dc);
/* Distinct racks among the nodes owning tokens in DC `dc`. */
uint32_t bs_ring_snapshot_dc_racks(const bs_ring_snapshot *snap,
                                   const char *dc);

/* Primary ownership: out[node] = fraction of the ring whose primary is
 * the node (sums to 1 over nodes when the ring has tokens).  out has
 * node_count entries. */
void bs_ring_primary_ownership(const bs_ring_snapshot *snap, double *out);
/* The vnode ranges node idx is primary for, in token order; *out is
 * malloc'd (caller frees; NULL when *n == 0).  0, BS_ERANGE, BS_ENOMEM. */
int bs_ring_primary_ranges(const bs_ring_snapshot *snap, uint32_t idx,
                           bs_ring_range **out, size_t *n);

/* Orders node indices by proximity to (local_dc, local_rack): same DC and
 * rack first, then same DC, then other DCs; stable otherwise (so a
 * replica list keeps its ring order inside each group).  Indices out of
 * range sort last. */
void bs_ring_sort_by_proximity(const bs_ring_snapshot *snap,
                               const char *local_dc, const char *local_rack,
                               uint32_t *nodes, size_t n);

#endif
