/*
 * stream.h - range streaming building blocks: checksummed chunks of raw
 * store records, their LWW application on the receiving replica, and
 * record digests (what a replica holds in a sub-range, without values).
 *
 * Used by the repair session (repair/session*.c), and meant for bootstrap
 * and decommission later: a sender walks bs_store_iterate_range, fills chunks
 * up to a size, sends each and waits for the acknowledgement before the
 * next (flow control: one chunk in flight per stream); a receiver applies
 * a chunk atomically with bs_batch_put_raw, so a chunk applied twice (a
 * resumed stream) changes nothing.  The message layer lz4-compresses
 * large payloads.
 *
 * Chunk layout (all integers big-endian):
 *   OFFSET  SIZE  DESCRIPTION
 *   0       4     magic "BSC1"
 *   4       4     record count N
 *   8       ...   N records: u32 klen, key, u32 vlen, value
 *   end-8   8     xxHash64 (seed 0) of every byte before it
 *
 * Digest list layout: a sequence of 20-byte entries
 *   0  8  xxHash3 of the key       8  8  bs_merkle_record_digest
 *   16 4  key length + value length
 * in the replica's key order.
 */
#ifndef BS_REPAIR_STREAM_H
#define BS_REPAIR_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "storage/store.h"

#define BS_STREAM_DIGEST_LEN 20

/* A chunk being written: init, add records, finish, send (b.data, b.len). */
typedef struct bs_stream_chunk {
    bs_buf b;
    uint32_t count;
} bs_stream_chunk;

void bs_stream_chunk_init(bs_stream_chunk *c);
/* Empties it for the next chunk (keeps the memory). */
void bs_stream_chunk_reset(bs_stream_chunk *c);
void bs_stream_chunk_free(bs_stream_chunk *c);
/* 0, BS_ENOMEM or BS_ETOOBIG (key/value over 4 GiB). */
int bs_stream_chunk_add(bs_stream_chunk *c, const void *key, size_t klen,
                        const void *val, size_t vlen);
/* Appends the checksum; after this only reset/free. */
int bs_stream_chunk_finish(bs_stream_chunk *c);

/* Checks a chunk (magic, checksum, every record inside the buffer,
 * nothing after the last) and calls cb for each record (bs_raw_cb
 * convention: > 0 stops, < 0 is returned).  0 or BS_ECORRUPT.  Pure: the
 * fuzz target's entry point. */
int bs_stream_chunk_walk(const void *p, size_t len, bs_raw_cb cb, void *ud);
/* The same for a chunk bs_stream_chunk_walk already accepted, without
 * the checksum pass (the bytes are those checked; a receiver checks a
 * chunk once when it parses the request, then walks it to apply it). */
int bs_stream_chunk_each(const void *p, size_t len, bs_raw_cb cb, void *ud);

/* Checks a received chunk (magic, bounds, checksum; BS_ECORRUPT) and
 * applies every record to table t in one atomic batch (BS_ECORRUPT also
 * for a record the store refuses).  rows and bytes (may be NULL) receive
 * the record count and key+value bytes. */
int bs_stream_chunk_apply(bs_store *s, bs_table *t, const void *p, size_t len,
                          uint64_t *rows, uint64_t *bytes);

/* One digest entry. */
typedef struct bs_stream_digest {
    uint64_t key_hash;
    uint64_t rec_hash;
    uint32_t size;
} bs_stream_digest;

void bs_stream_digest_of(const void *key, size_t klen, const void *val,
                         size_t vlen, bs_stream_digest *out);
int bs_stream_digest_append(bs_buf *b, const bs_stream_digest *d);
/* Parses a digest list (BS_ECORRUPT unless len is a multiple of 20).
 * *out malloc'd (caller frees; NULL when *n == 0). */
int bs_stream_digests_parse(const void *p, size_t len, bs_stream_digest **out,
                            size_t *n);
/* Sorts by (key_hash, rec_hash) for bs_stream_digest_find. */
void bs_stream_digests_sort(bs_stream_digest *d, size_t n);
/* 1 when (key_hash, rec_hash) is in the sorted array. */
int bs_stream_digest_find(const bs_stream_digest *d, size_t n,
                          uint64_t key_hash, uint64_t rec_hash);

/* Appends the digests of every record of t in the ranges (each (s, e])
 * to out, from one iteration per range.  0 or the store's error. */
int bs_stream_digests_build(bs_table *t, const int64_t *starts,
                            const int64_t *ends, size_t nranges, bs_buf *out);

#endif
