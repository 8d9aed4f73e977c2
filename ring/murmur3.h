/*
 * murmur3.h - Cassandra's Murmur3Partitioner tokens and partition-key
 * composition.
 *
 * Tokens are signed 64-bit numbers ordered as such; the ring runs from
 * BS_RING_MIN_TOKEN (exclusive, never owned by a node) round to
 * BS_RING_MAX_TOKEN.  The hash is the first 64 bits of MurmurHash3_x64_128
 * (seed 0) exactly as org.apache.cassandra.utils.MurmurHash.hash3_x64_128
 * computes it, including its quirk: the 1..15 tail bytes are read as Java
 * (signed) bytes and therefore sign-extended, so keys whose tail holds a
 * byte >= 0x80 hash differently from the reference C MurmurHash3.  Drivers
 * compute the same token for token-aware routing, so this must match bit
 * for bit.
 */
#ifndef BS_RING_MURMUR3_H
#define BS_RING_MURMUR3_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

#define BS_RING_MIN_TOKEN INT64_MIN
#define BS_RING_MAX_TOKEN INT64_MAX

/* Cassandra-flavoured MurmurHash3_x64_128 of len bytes at key (key may be
 * NULL when len is 0) with the given seed; out[0] = h1, out[1] = h2 as
 * Java's long[] result would hold them (two's complement in uint64_t). */
void bs_ring_murmur3_x64_128(const void *key, size_t len, uint64_t seed,
                             uint64_t out[2]);

/* The Murmur3Partitioner token of a byte string: h1 as a signed number,
 * with INT64_MIN (which is reserved for the ring's minimum) mapped to
 * INT64_MAX.  The empty string hashes to 0. */
int64_t bs_ring_token(const void *key, size_t len);

/* The token of a serialized partition key, as Murmur3Partitioner.getToken
 * gives it: like bs_ring_token(), except that an empty key has the
 * minimum token BS_RING_MIN_TOKEN (Cassandra's special case). */
int64_t bs_ring_partition_token(const void *key, size_t len);

/* One component of a partition key (borrowed bytes). */
typedef struct bs_ring_keypart {
    const uint8_t *data; /* may be NULL when len == 0 */
    size_t len;
} bs_ring_keypart;

/* Serializes a partition key the way Cassandra hashes it and appends it
 * to out.  One component: its bytes unchanged.  Two or more (a composite
 * partition key, CompositeType): for each component
 *     u16 big-endian length | bytes | 0x00 end-of-component byte.
 * 0, BS_EINVAL (n == 0), BS_ETOOBIG (a component over 65535 bytes in a
 * composite key) or BS_ENOMEM; on error out keeps its old length. */
int bs_ring_compose_key(const bs_ring_keypart *parts, size_t n, bs_buf *out);

/* Splits a composite (n >= 2 components) serialized key, e.g. one read
 * from disk or the network: fills parts[0..n) with pointers into key.
 * 0, BS_ETRUNC (bytes end inside a component), BS_ECORRUPT (an end byte
 * other than 0, or bytes left over), BS_EINVAL (n < 2). */
int bs_ring_decompose_key(const uint8_t *key, size_t len, size_t n,
                          bs_ring_keypart *parts);

#endif
