/*
 * strategy.h - replication strategies and replica maps.
 *
 * SimpleStrategy(rf): the replicas of a token are the owners of the next
 * rf distinct nodes clockwise from it (primary first), ignoring DCs.
 * NetworkTopologyStrategy({dc: rf}): per DC, rf distinct nodes of that
 * DC, spread over distinct racks while there are racks left, as Apache
 * Cassandra's NetworkTopologyStrategy.calculateNaturalReplicas does (see
 * strategy.c).  Either way a DC (or the cluster) with fewer nodes than
 * rf gives all of its nodes.
 *
 * A replica map precomputes the replica list of every vnode range of a
 * snapshot for one strategy, so a lookup is a binary search plus an
 * array read.  It holds a reference on its snapshot and is itself
 * immutable and refcounted, so loops can share it like the snapshot.
 */
#ifndef BS_RING_STRATEGY_H
#define BS_RING_STRATEGY_H

#include <stddef.h>
#include <stdint.h>

#include "ring/tokenmeta.h"

typedef struct bs_ring_strategy bs_ring_strategy;
typedef struct bs_ring_replica_map bs_ring_replica_map;

/* SimpleStrategy.  0, BS_EINVAL (rf < 1) or BS_ENOMEM. */
int bs_ring_strategy_simple(uint32_t rf, bs_ring_strategy **out);
/* NetworkTopologyStrategy with n (dc name, rf) pairs (names copied; an rf
 * of 0 is allowed and means no replicas there).  0, BS_EINVAL (n == 0,
 * NULL name, duplicate DC), BS_ENOMEM. */
int bs_ring_strategy_nts(const char *const *dcs, const uint32_t *rfs,
                         size_t n, bs_ring_strategy **out);
void bs_ring_strategy_free(bs_ring_strategy *st);
/* 1 for SimpleStrategy, 0 for NTS. */
int bs_ring_strategy_is_simple(const bs_ring_strategy *st);
/* Configured total rf (Simple: rf; NTS: sum over DCs). */
uint32_t bs_ring_strategy_rf(const bs_ring_strategy *st);
/* NTS: rf configured for dc (0 when absent); Simple: its rf. */
uint32_t bs_ring_strategy_dc_rf(const bs_ring_strategy *st, const char *dc);

/* Replicas of token computed by walking the ring (no cache): writes up
 * to cap node indices (primary first) and the count to *n.  O(walk).
 * 0, BS_ENOTFOUND (empty ring), BS_ERANGE (cap too small; *n has the
 * size needed), BS_ENOMEM. */
int bs_ring_replicas(const bs_ring_snapshot *snap, const bs_ring_strategy *st,
                     int64_t token, uint32_t *out, size_t cap, size_t *n);

/* Precomputes replicas for each vnode of snap (the map retains snap).
 * The strategy is not referenced after this returns.  0 or BS_ENOMEM. */
int bs_ring_replica_map_build(const bs_ring_snapshot *snap,
                              const bs_ring_strategy *st,
                              bs_ring_replica_map **out);
bs_ring_replica_map *bs_ring_replica_map_retain(const bs_ring_replica_map *m);
void bs_ring_replica_map_release(const bs_ring_replica_map *m);
/* The snapshot the map was built from (borrowed, valid with the map). */
const bs_ring_snapshot *bs_ring_replica_map_snapshot(
    const bs_ring_replica_map *m);
/* Replicas of token, primary first: *nodes points into the map (valid
 * while the caller holds it).  O(log n).  0 or BS_ENOTFOUND (empty). */
int bs_ring_replica_map_lookup(const bs_ring_replica_map *m, int64_t token,
                               const uint32_t **nodes, size_t *n);
/* Replicas of vnode i (the range ending at the i-th token). 0/BS_ERANGE */
int bs_ring_replica_map_vnode(const bs_ring_replica_map *m, size_t i,
                              const uint32_t **nodes, size_t *n);
/* 1 when node is among the replicas of token, else 0. */
int bs_ring_replica_map_is_replica(const bs_ring_replica_map *m,
                                   int64_t token, uint32_t node);

/* The vnode ranges node replicates (as any replica), in token order;
 * *out is malloc'd (caller frees; NULL when *n == 0).
 * 0, BS_ERANGE (no such node), BS_ENOMEM. */
int bs_ring_replica_map_ranges(const bs_ring_replica_map *m, uint32_t node,
                               bs_ring_range **out, size_t *n);
/* Effective ownership: out[node] = fraction of the ring the node holds a
 * replica of (nodetool status "Owns (effective)").  Over all nodes it
 * sums to the number of replicas per token (rf when enough nodes).
 * out has node_count entries. */
void bs_ring_replica_map_ownership(const bs_ring_replica_map *m, double *out);

#endif
