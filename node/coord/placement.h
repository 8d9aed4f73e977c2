/*
 * placement.h - a keyspace's replication strategy, built the one way the
 * coordinator, repair and the admin API's ownership figures all use.
 */
#ifndef BS_NODE_PLACEMENT_H
#define BS_NODE_PLACEMENT_H

#include "query/schema.h"
#include "ring/strategy.h"
#include "ring/tokenmeta.h"

/* The strategy of keyspace `ks` over `ring`: SimpleStrategy
 * (replication_factor), NetworkTopologyStrategy (dc: rf pairs; a
 * replication_factor option applies to every DC of the ring not named),
 * EverywhereStrategy (every node).  *out is freed with
 * bs_ring_strategy_free.  0, BS_EINVAL (bad options), BS_ENOTSUP
 * (LocalStrategy and unknown classes), BS_ENOMEM. */
int bs_node_strategy(const bs_keyspace_schema *ks, const bs_ring_snapshot *ring,
                     bs_ring_strategy **out);

#endif
