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
    bs_slice slice; /* cols/after/bounds point into the arena */
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

/* ---- coordinator payloads (node/coord*.c) -------------------------------
 *
 *   write   = [1, now_s, mutations bin]        MUTATION and HINT requests;
 *             mutations bin = bs_wire_mutations_encode bytes; now_s is the
 *             coordinator's clock (seconds) that replicas apply TTLs with
 *   raw     = [1, cf str, [[key bin, val bin]...]]   READ_RAW responses and
 *             REPAIR_RAW requests: store records (bs_store_iterate_range)
 *   scan    = [1, read bin, start, end, cursor | nil, max_parts]
 *             read bin = bs_wire_read_encode bytes (table, cf, slice,
 *             now; token/pk unused); cursor = [token, pk bin, ck bin | nil]
 *   scanres = [1, more bool, [result bin...]]  each result bin as
 *             bs_wire_result_encode(part, 0)
 */

/* Encodes a write; 0 or BS_ENOMEM. */
int bs_wire_write_encode(int64_t now_s, const bs_mutation *m, size_t n,
                         bs_buf *out);
/* Decodes a write into arena memory.  0, BS_ECORRUPT (message in err),
 * BS_ENOMEM. */
int bs_wire_write_decode(const void *p, size_t len, bs_arena *a, int64_t *now_s,
                         bs_mutation **out, size_t *n, char *err,
                         size_t errlen);

/* One raw store record; pointers borrowed (encode) or in the arena
 * (decode). */
typedef struct bs_wire_rec {
    const uint8_t *key;
    size_t klen;
    const uint8_t *val;
    size_t vlen;
} bs_wire_rec;

int bs_wire_raw_encode(const char *cf, const bs_wire_rec *r, size_t n,
                       bs_buf *out);
int bs_wire_raw_decode(const void *p, size_t len, bs_arena *a, const char **cf,
                       bs_wire_rec **out, size_t *n, char *err, size_t errlen);

/* A range read: one bs_scan of table `read.cf` with read.slice applied to
 * every partition, at most max_parts partitions per answer. */
typedef struct bs_wire_scan {
    bs_wire_read read; /* table_id, cf, slice (now_s included) */
    int64_t start;     /* exclusive */
    int64_t end;       /* inclusive */
    int has_cursor;
    int64_t cursor_token;
    const uint8_t *cursor_pk;
    size_t cursor_pk_len;
    int has_cursor_ck;
    const uint8_t *cursor_ck;
    size_t cursor_ck_len;
    uint32_t max_parts; /* >= 1 */
} bs_wire_scan;

/* A partial visit (BS_VERB_PARTIAL): the visitor's request run over
 * ranges (lo, hi] of table cf on the replica; the answer is the bytes its
 * handler encodes. */
typedef struct bs_wire_partial {
    const char *cf;
    const int64_t *lo, *hi;
    size_t nranges; /* 1..4096 */
    const uint8_t *req;
    size_t req_len;
} bs_wire_partial;

int bs_wire_partial_encode(const bs_wire_partial *p, bs_buf *out);
int bs_wire_partial_decode(const void *p, size_t len, bs_arena *a, bs_wire_partial *out,
                           char *err, size_t errlen);

int bs_wire_scan_encode(const bs_wire_scan *s, bs_buf *out);
int bs_wire_scan_decode(const void *p, size_t len, bs_arena *a,
                        bs_wire_scan *out, char *err, size_t errlen);
/* parts: n buffers each holding one bs_wire_result_encode(part, 0). */
int bs_wire_scanres_encode(int more, const bs_buf *parts, size_t n,
                           bs_buf *out);
/* *parts: n partitions in arena memory (never NULL entries). */
int bs_wire_scanres_decode(const void *p, size_t len, bs_arena *a, int *more,
                           bs_partv ***parts, size_t *n, char *err,
                           size_t errlen);

#endif
