/*
 * counter.h - how a counter column is stored: as shards.
 *
 * A counter column of a row is a set of cells, one per shard, stored the
 * way collection elements are:
 *
 *   element key  16 bytes: the host id of the replica that leads the shard
 *   value        8 bytes big-endian signed: the shard's running total
 *   timestamp    the shard's logical clock (strictly increasing per shard;
 *                bs_counter_next_clock keeps it at least the leader's
 *                wall clock in microseconds, so it also orders against
 *                row and partition tombstones)
 *
 * Only the shard's leader ever computes a new version of its shard
 * (under a per-key lock, from its own local copy); everybody else only
 * stores copies.  Two versions of a shard merge by the store's ordinary
 * last-write-wins rule on the cell - highest clock wins - so the merge
 * is commutative, associative and idempotent, and hints, read repair,
 * anti-entropy repair and compaction all reconcile counters without
 * knowing about them.  The counter's value is the sum of its live
 * shards (two's-complement wrap on overflow, as Cassandra's long).
 */
#ifndef BS_QUERY_COUNTER_H
#define BS_QUERY_COUNTER_H

#include <stddef.h>
#include <stdint.h>

#include "common/rowdata.h"

#define BS_COUNTER_SHARD_KEY_LEN 16 /* a host id */
#define BS_COUNTER_SHARD_VAL_LEN 8

/* The value of counter column col from a row's cells (sorted by column,
 * as the store returns them): the sum of its shard cells.  *max_ts (may
 * be NULL) gets the highest shard clock.  Returns the number of shards
 * found (0: the counter is null), or -1 when a shard cell is malformed
 * (not 16 + 8 bytes). */
int bs_counter_value(const bs_cellv *cells, size_t n, uint16_t col, int64_t *sum,
                     int64_t *max_ts);

/* The clock of a shard's next version: max(prev + 1, now_us).  prev is
 * INT64_MIN when the shard does not exist yet. */
int64_t bs_counter_next_clock(int64_t prev, int64_t now_us);

/* The 8 value bytes of a shard total, and back. */
void bs_counter_shard_encode(int64_t total, uint8_t out[BS_COUNTER_SHARD_VAL_LEN]);
int64_t bs_counter_shard_decode(const uint8_t in[BS_COUNTER_SHARD_VAL_LEN]);

#endif
