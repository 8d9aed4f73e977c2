/*
 * keycodec.h - order-preserving, self-delimiting encoding of CQL values
 * for storage keys (partition-key components, clustering prefixes,
 * collection element keys).
 *
 * Input values are in their CQL native-protocol serialized form
 * (native_protocol_v4.spec section 6).  For any two values a, b of one
 * type, memcmp order (shorter-is-smaller) of their encodings equals the
 * order in which Apache Cassandra's AbstractType.compare puts a and b;
 * with `desc` set, every byte of the component is inverted (XOR 0xFF) so
 * the order is reversed.  Each component is self-delimiting and no
 * encoding is a proper prefix of another of the same type and direction,
 * so a sequence of components (a clustering prefix) is just their
 * concatenation: it compares component by component, and the encoding of
 * (a) is a byte prefix of the encoding of (a, b).
 *
 * Every component starts with one tag byte: 0x01 null (tuple/UDT fields
 * only, or a top-level null passed explicitly), 0x02 empty value (0 bytes;
 * sorts before every non-empty value, as in Cassandra), 0x03 a value.
 * Inverted (DESC) tags are 0xFE/0xFD/0xFC, so 0x00 and 0xFF never begin a
 * component in either direction: a store may put 0x00/0xFF sentinel bytes
 * right after a clustering prefix (e.g. a static-row marker sorting before
 * every clustering row).  The byte layouts are documented in keycodec.c.
 *
 * Canonicalization: encode normalizes values that Cassandra compares as
 * equal although their bytes differ, so equal values get equal keys:
 * decimal (1.0 == 1.00: trailing zeros stripped), varint (non-minimal
 * two's complement), boolean (any non-zero byte is true), float/double
 * (every NaN is one NaN), tuple/UDT (missing trailing fields are nulls).
 * Decode returns the canonical native bytes (equal by Cassandra compare,
 * not necessarily byte-identical to what was encoded); for every other
 * type decode returns the exact bytes.  Decode accepts only canonical
 * encodings, so for every successful decode re-encoding gives back the
 * consumed bytes exactly (one value, one key).
 *
 * Deviation from Cassandra, on purpose: TupleType.compare (4.x) treats a
 * missing trailing field as equal to a null one AND to an empty one,
 * while null < empty when both are present; that is not a total order,
 * so here missing == null < empty everywhere.  Older Cassandra (fewer
 * fields sorts first) differs the same way.
 *
 * Not done here: UTF-8/ASCII validation of text (the query layer
 * validates), sorting/deduplicating frozen set and map elements (the
 * query layer must serialize sets and maps in their element order, as
 * Cassandra does; encode keeps the given order, which is also the order
 * Cassandra compares in).  duration (not allowed in keys by Cassandra)
 * and custom types give BS_ENOTSUP.
 */
#ifndef BS_STORAGE_KEYCODEC_H
#define BS_STORAGE_KEYCODEC_H

#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "common/buf.h"
#include "common/types.h"

/* Largest decimal unscaled value (bytes) encode accepts; BS_ETOOBIG
 * above.  Cassandra itself caps a key component at 65535 bytes.  The
 * bound keeps the quadratic binary<->decimal conversion cheap. */
#define BS_KEYCODEC_MAX_DECIMAL_BYTES 65535

/* One native-serialized value: `len` bytes at `data`; len 0 is the empty
 * value, len -1 is null (data ignored). */
typedef struct bs_keycodec_value {
    const uint8_t *data;
    int32_t len;
} bs_keycodec_value;

/*
 * Appends the encoding of one value to `out`.
 *   t     type of the value (frozen flag ignored: collections are encoded
 *         from their whole serialized form)
 *   v     native-serialized value, `len` bytes; len < 0 encodes null
 *         (sorts first), len 0 the empty value
 *   desc  non-zero: descending (bytes inverted)
 *   out   appended to; unchanged on error
 * Returns 0; BS_EINVAL for a value that is malformed for its type (wrong
 * fixed width, bad collection/tuple framing, null collection element,
 * trailing bytes) or a malformed type descriptor; BS_ENOTSUP for
 * duration/custom; BS_ETOOBIG for a decimal over
 * BS_KEYCODEC_MAX_DECIMAL_BYTES; BS_ENOMEM.
 */
int bs_keycodec_encode(const bs_type *t, const uint8_t *v, int32_t len,
                       int desc, bs_buf *out);

/*
 * Decodes one component at the reader's position and advances past it.
 *   t, desc  as given to encode
 *   r        reader over the encoded key (borrowed)
 *   out      the canonical native bytes are appended (nothing for null or
 *            empty); may be NULL to only validate/skip
 *   len_out  set to the value length, 0 for empty, -1 for null (with
 *            out == NULL: 1 for any non-empty value); may be NULL
 * Returns 0; BS_ECORRUPT for a malformed, truncated or non-canonical
 * encoding (the reader and `out` are then left unchanged); BS_ENOTSUP /
 * BS_EINVAL for an unsupported / malformed type; BS_ENOMEM.  Never reads
 * outside the reader's bytes.
 */
int bs_keycodec_decode(const bs_type *t, int desc, bs_rbuf *r, bs_buf *out,
                       int32_t *len_out);

/* Advances the reader past one component (validating it like decode). */
int bs_keycodec_skip(const bs_type *t, int desc, bs_rbuf *r);

/*
 * Encodes a clustering prefix (or a whole composite key): vals[i] of
 * types[i], descending where desc[i] != 0 (desc may be NULL: all ASC),
 * appended to `out` (unchanged on error).  Same errors as encode.
 */
int bs_keycodec_encode_prefix(bs_type *const *types, const uint8_t *desc,
                              size_t n, const bs_keycodec_value *vals,
                              bs_buf *out);

/*
 * Decodes up to `n` components of types[0..n) from `r`, stopping early
 * (without error) only when the reader is exhausted at a component
 * boundary; *ndecoded says how many were decoded.  Decoded bytes are
 * copied into arena `a` (vals[i].data lives as long as the arena; NULL
 * for null/empty values), so they outlive the encoded key.  Bytes after
 * the n-th component are left unread in `r`.  On error the reader is left
 * unchanged; returns as bs_keycodec_decode.
 */
int bs_keycodec_decode_prefix(bs_type *const *types, const uint8_t *desc,
                              size_t n, bs_rbuf *r, bs_arena *a,
                              bs_keycodec_value *vals, size_t *ndecoded);

/*
 * Replaces `key` by the smallest byte string that is greater than every
 * string having `key` as a prefix (trailing 0xFF bytes dropped, then the
 * last byte incremented).  BS_ERANGE (key unchanged) when there is none:
 * the key is empty or all 0xFF, i.e. the range is unbounded above.
 */
int bs_keycodec_prefix_successor(bs_buf *key);

/* Slice bounds on a prefix P (a clustering prefix, possibly preceded by
 * the token and partition key), in stored (post-DESC-inversion) order. */
typedef enum {
    BS_KEYCODEC_START_INCL, /* keys >= P: start at P              */
    BS_KEYCODEC_START_EXCL, /* keys after every key prefixed by P */
    BS_KEYCODEC_END_INCL,   /* up to and including keys with P    */
    BS_KEYCODEC_END_EXCL    /* keys before P                      */
} bs_keycodec_bound_kind;

/*
 * Turns `key` (holding P) in place into a byte bound: for START_* kinds an
 * inclusive lower bound, for END_* kinds an exclusive upper bound (the
 * convention of RocksDB's iterate_lower_bound / iterate_upper_bound):
 *   START_INCL -> P            START_EXCL -> successor(P)
 *   END_INCL   -> successor(P) END_EXCL   -> P
 * BS_ERANGE when the successor does not exist (unbounded); BS_EINVAL for
 * an unknown kind.
 */
int bs_keycodec_bound(bs_buf *key, bs_keycodec_bound_kind kind);

/* The 8-byte key prefix of a Murmur3 token: memcmp order == signed order. */
static inline void bs_keycodec_put_token(uint8_t out[8], int64_t token) {
    bs_put_u64(out, (uint64_t)token ^ 0x8000000000000000ULL);
}
static inline int64_t bs_keycodec_get_token(const uint8_t in[8]) {
    return (int64_t)(bs_get_u64(in) ^ 0x8000000000000000ULL);
}

#endif
