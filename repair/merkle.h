/*
 * merkle.h - Merkle trees over one token range of one table (anti-entropy
 * repair, per-node table checksums).
 *
 * A tree splits the range (start, end] into 2^depth leaves of (almost)
 * equal token width; leaf i holds the records whose token falls in its
 * sub-range.  A leaf hash chains the digests of its records in the order
 * they were added (the store's key order, identical on every replica);
 * a record digest is xxHash3 over the stored key and the stored value, so
 * anything that differs - value, timestamp, TTL, tombstone - changes it.
 * An empty leaf hashes to 0; an inner node is 0 when both children are 0,
 * else xxHash3 of the two child hashes.  Two replicas compare trees built
 * independently at the same depth (the initiator picks it).
 *
 * Threads: a tree is a plain value; one thread at a time.
 */
#ifndef BS_REPAIR_MERKLE_H
#define BS_REPAIR_MERKLE_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "storage/store.h"

#define BS_MERKLE_MAX_DEPTH 16

typedef struct bs_merkle bs_merkle;

/* A token range (start, end]; start == end is the whole ring. */
typedef struct bs_merkle_range {
    int64_t start;
    int64_t end;
} bs_merkle_range;

/* An empty tree for (start, end] with 2^depth leaves.  0, BS_EINVAL
 * (depth > BS_MERKLE_MAX_DEPTH) or BS_ENOMEM.  Free with bs_merkle_free. */
int bs_merkle_new(int64_t start_excl, int64_t end_incl, unsigned depth,
                  bs_merkle **out);
void bs_merkle_free(bs_merkle *m);

/* The digest of one stored record (key and value bytes as stored). */
uint64_t bs_merkle_record_digest(const void *key, size_t klen, const void *val,
                                 size_t vlen);

/* Adds one record (token = its token).  Records of one leaf must come in
 * the same order on every replica (the store's key order).  Invalidates
 * inner hashes until bs_merkle_finish.  0 or BS_ERANGE (token outside
 * the range). */
int bs_merkle_add(bs_merkle *m, int64_t token, const void *key, size_t klen,
                  const void *val, size_t vlen);
/* Computes the inner nodes.  Idempotent. */
void bs_merkle_finish(bs_merkle *m);

/* Builds the tree of table t over (start, end] from one store iteration
 * (one RocksDB snapshot), finished.  Blocking: call it off event loops.
 * 0, BS_EINVAL, BS_ENOMEM, or the store's error (BS_ECORRUPT...). */
int bs_merkle_build(bs_table *t, int64_t start_excl, int64_t end_incl,
                    unsigned depth, bs_merkle **out);

/* A depth suited to `rows` records (about one record per leaf), capped
 * at BS_MERKLE_MAX_DEPTH. */
unsigned bs_merkle_depth_for(uint64_t rows);

unsigned bs_merkle_depth(const bs_merkle *m);
size_t bs_merkle_leaf_count(const bs_merkle *m);
void bs_merkle_get_range(const bs_merkle *m, bs_merkle_range *out);
/* Root hash (after finish); 0 for an empty range. */
uint64_t bs_merkle_root(const bs_merkle *m);
uint64_t bs_merkle_leaf_hash(const bs_merkle *m, size_t i);
/* Records / key+value bytes added. */
uint64_t bs_merkle_rows(const bs_merkle *m);
uint64_t bs_merkle_bytes(const bs_merkle *m);
/* The sub-range (start, end] of leaf i.  0 or BS_ERANGE. */
int bs_merkle_leaf_range(const bs_merkle *m, size_t i, bs_merkle_range *out);
/* The leaf holding token.  0 or BS_ERANGE (outside the range). */
int bs_merkle_leaf_of(const bs_merkle *m, int64_t token, size_t *leaf);

/* Compares two finished trees of the same range and depth (BS_EINVAL
 * otherwise), descending only into differing subtrees.  *leaves
 * (malloc'd, caller frees; NULL when *n == 0) lists the differing leaf
 * indices ascending. */
int bs_merkle_diff(const bs_merkle *a, const bs_merkle *b, size_t **leaves,
                   size_t *n);
/* Leaf indices (ascending) -> token ranges, adjacent leaves merged.
 * *out malloc'd (caller frees; NULL when *n == 0).  0, BS_ERANGE, BS_ENOMEM. */
int bs_merkle_leaves_to_ranges(const bs_merkle *m, const size_t *leaves,
                               size_t nleaves, bs_merkle_range **out,
                               size_t *n);

/*
 * Serialized form (what a replica sends back):
 *   OFFSET  SIZE    DESCRIPTION
 *   0       1       format version (1)
 *   1       1       depth d (0..BS_MERKLE_MAX_DEPTH)
 *   2       8       start token (big-endian, two's complement)
 *   10      8       end token
 *   18      8       rows
 *   26      8       bytes
 *   34      8*2^d   leaf hashes, big-endian
 * Decoding checks the version, depth and exact length (BS_ECORRUPT) and
 * returns a finished tree.
 */
int bs_merkle_encode(const bs_merkle *m, bs_buf *out);
int bs_merkle_decode(const void *p, size_t len, bs_merkle **out);

#endif
