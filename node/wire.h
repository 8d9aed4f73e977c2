/*
 * wire.h - internode payloads of the replicated read/write path:
 * mutations (MUTATION, HINT), partition reads (READ request) and their
 * results (READ response), as msgpack.
 *
 * Decoders take untrusted bytes: they run common/mpcheck first, check
 * every type and bound, and allocate everything from the caller's arena
 * (decoded pointers borrow the arena, never the input), so a decoded
 * value outlives the message buffer.
 *
 *   mutation = [1, table_id bin16, cf str, token int, pk bin, [op...]]
 *   op       = [kind, flags(static|has_elem), col, ck bin, elem bin,
 *               val bin, ts, ttl, start, end]
 *   bound    = [kind, prefix bin]
 *   read     = [1, table_id bin16, cf str, token, pk bin, slice, now_s,
 *               digest_only bool]
 *   slice    = [start, end, [col...] | nil, with_static, reversed,
 *               limit, after bin | nil]
 *   result   = [1, digest bin16, part | nil]
 *   part     = [token, pk bin, static_row | nil, [row...], limited]
 *   row      = [ck bin, has_marker, marker_ts, marker_ttl,
 *               marker_expiry, [cell...]]
 *   cell     = [col, elem bin | nil, val bin, ts, ttl, expiry]
 */
#ifndef BS_NODE_WIRE_H
#define BS_NODE_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "common/buf.h"
#include "common/rowdata.h"
#include "query/mutation.h"

/* Appends n mutations as one msgpack array.  0 or BS_ENOMEM. */
int bs_wire_mutations_encode(const bs_mutation *m, size_t n, bs_buf *out);
/* Decodes them into arena memory.  0, BS_ECORRUPT (message in err). */
int bs_wire_mutations_decode(const void *p, size_t len, bs_arena *a,
                             bs_mutation **out, size_t *n, char *err,
                             size_t errlen);

typedef struct bs_wire_read {
    bs_uuid table_id;
    const char *cf;
    int64_t token;
    const uint8_t *pk;
    size_t pk_len;
    bs_slice slice;   /* cols/after/bounds point into the arena */
    int digest_only;
} bs_wire_read;

int bs_wire_read_encode(const bs_wire_read *r, bs_buf *out);
int bs_wire_read_decode(const void *p, size_t len, bs_arena *a,
                        bs_wire_read *out, char *err, size_t errlen);

/* A digest of a read result: XXH3-128 over every row, cell, timestamp
 * and TTL, so replicas agree exactly when their answers are equal. */
void bs_wire_digest(const bs_partv *p, uint8_t out[16]);

/* p may be NULL (absent partition).  With digest_only the part is left
 * out and only the digest is sent. */
int bs_wire_result_encode(const bs_partv *p, int digest_only, bs_buf *out);
int bs_wire_result_decode(const void *p, size_t len, bs_arena *a,
                          uint8_t digest[16], bs_partv **part, char *err,
                          size_t errlen);

#endif
