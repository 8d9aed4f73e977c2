/*
 * ring_int.h - ring/ internals shared by tokenmeta.c, strategy.c,
 * alloc.c and pending.c (and white-box tests).  Not a public API.
 *
 * A bs__ring_view is the part of a snapshot the placement algorithms
 * read: the sorted token array with each token's owner, and each node's
 * interned DC and rack ids.  Rack ids are global over (dc, rack) pairs,
 * so two DCs that both have a rack "r1" get different ids.  dc_nodes /
 * dc_racks count only nodes that own tokens (Cassandra's topology holds
 * only ring members).  The balanced allocator builds views of tentative
 * rings without making snapshots.
 */
#ifndef BS_RING_INT_H
#define BS_RING_INT_H

#include <stdatomic.h>

#include "ring/strategy.h"
#include "ring/tokenmeta.h"

typedef struct bs__ring_view {
    size_t ntokens;
    const int64_t *tokens; /* ascending, distinct */
    const uint32_t *owner; /* node index of tokens[i] */
    uint32_t nnodes;
    const uint32_t *node_dc;   /* dc id of each node */
    const uint32_t *node_rack; /* global rack id of each node */
    uint32_t ndcs, nracks;
    const uint32_t *dc_nodes; /* per dc id: nodes owning tokens */
    const uint32_t *dc_racks; /* per dc id: racks with such nodes */
} bs__ring_view;

typedef struct bs__ring_node {
    bs_uuid host_id;
    char *endpoint, *dc, *rack;
    int64_t *tokens; /* sorted */
    size_t ntokens;
} bs__ring_node;

struct bs_ring_snapshot {
    atomic_uint refs;
    bs__ring_node *nodes;
    uint32_t *node_dc, *node_rack;
    char **dc_names;     /* ndcs, borrowed from nodes[] */
    uint32_t *dc_nodes, *dc_racks;
    int64_t *tokens;
    uint32_t *owner;
    bs__ring_view view;
};

/* A strategy resolved against one view: per-DC replication factors by
 * dc id (NTS) or the single rf (Simple). */
typedef struct bs__ring_plan {
    int simple;
    uint32_t rf;       /* Simple: min(rf, nodes owning tokens) */
    uint32_t ndcs;
    uint32_t *dc_rf;   /* NTS: configured rf per dc id (0 = none) */
    uint32_t total;    /* upper bound on replicas per token */
    /* scratch for NTS walks */
    uint32_t *rf_left;
    int32_t *repeats; /* may go negative: rf - racks */
    uint8_t *rack_seen;
    uint32_t nracks;
} bs__ring_plan;

/* 0 or BS_ENOMEM.  Free with bs__ring_plan_free. */
int bs__ring_plan_init(bs__ring_plan *p, const bs_ring_strategy *st,
                       const bs__ring_view *v, const char *const *dc_names);
void bs__ring_plan_free(bs__ring_plan *p);
/* The replicas of vnode `start` (the range ending at tokens[start]),
 * walking clockwise from it: writes up to p->total node indices to out
 * (primary first) and returns how many.  *walked (may be NULL) gets the
 * number of tokens visited. */
size_t bs__ring_calc(bs__ring_plan *p, const bs__ring_view *v, size_t start,
                     uint32_t *out, size_t *walked);
/* First index with tokens[i] >= t, or v->ntokens. */
size_t bs__ring_lower_bound(const int64_t *tokens, size_t n, int64_t t);
/* Width of (a, b] as a fraction of the ring; n_tokens == 1 gives 1. */
double bs__ring_width(int64_t a, int64_t b);

#endif
