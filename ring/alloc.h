/*
 * alloc.h - choosing vnode tokens for a new node: random, or balanced
 * (in the spirit of Cassandra's allocate_tokens_for_local_replication_
 * factor: look at the existing ring and the keyspace's replication and
 * pick tokens that keep effective ownership even).
 */
#ifndef BS_RING_ALLOC_H
#define BS_RING_ALLOC_H

#include <stddef.h>
#include <stdint.h>

#include "ring/strategy.h"
#include "ring/tokenmeta.h"

/* splitmix64: a small seeded PRNG (deterministic in tests).  *state is
 * any 64-bit seed and is advanced. */
uint64_t bs_ring_rng_next(uint64_t *state);

/* n distinct random tokens, none equal to BS_RING_MIN_TOKEN nor to a
 * token of snap (snap may be NULL).  0 or BS_ENOMEM. */
int bs_ring_tokens_random(const bs_ring_snapshot *snap, uint64_t *rng,
                          size_t n, int64_t *out);

/* num_tokens tokens for a new node in (dc, rack), chosen greedily so that
 * effective ownership under st stays as even as possible (see alloc.c).
 * snap may be NULL or empty: the first node gets evenly spaced tokens.
 * Deterministic for a given input.  Tokens are returned ascending.
 * 0, BS_EINVAL (num_tokens == 0, NULL dc/rack), BS_ENOMEM. */
int bs_ring_tokens_balanced(const bs_ring_snapshot *snap,
                            const bs_ring_strategy *st, const char *dc,
                            const char *rack, size_t num_tokens,
                            int64_t *out);

#endif
