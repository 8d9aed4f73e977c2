/*
 * value.h - CQL values in their native protocol v4 serialized form.
 *
 * Every value handled here is the byte string a CQL driver sends or
 * receives for a column (native_protocol_v4.spec section 6): int is 4
 * bytes big-endian, varint two's complement big-endian, decimal an int32
 * scale followed by a varint, list/set [int n] + n * ([int len][bytes]),
 * map [int n] + n * (key, value), tuple/UDT a [int len][bytes] per
 * component (len -1 = null), duration three zig-zag vints, and so on.
 *
 * The module offers
 *   - type names as system_schema.columns.type prints them, and back;
 *   - strict validation of untrusted bytes;
 *   - comparison in Cassandra's order (AbstractType.compare semantics);
 *   - collection/tuple builders (sets and maps sorted and de-duplicated,
 *     as Cassandra serializes them) and iterators;
 *   - conversion of parser literals (query/literal.h) with Cassandra's
 *     rules and error messages;
 *   - formatting as cqlsh displays values, as CQL literals and as JSON,
 *     and parsing the display form back (COPY FROM).
 *
 * Null values: wherever a function accepts a (bytes, len) value, a len of
 * BS_VALUE_NULL means "null" (bytes are then ignored).  An empty value
 * (len 0) is a real value (the empty string, the empty blob).
 *
 * Nothing here keeps pointers to caller memory after returning, except
 * bs_value_iter, which borrows the bytes it iterates.
 */
#ifndef BS_QUERY_VALUE_H
#define BS_QUERY_VALUE_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/types.h"
#include "query/literal.h"

#define BS_VALUE_NULL ((size_t)-1)

/* ---------------------------------------------------------------- types */

/* Appends the CQL name of `t` to `out`, exactly as Cassandra 4.x writes
 * system_schema.columns.type: "text" for varchar, "frozen<...>" around a
 * frozen collection/UDT, tuples always "frozen<tuple<a, b>>" at top level
 * and in non-frozen collections, nested types inside a frozen type not
 * re-wrapped ("frozen<list<list<int>>>"), ", " between parameters, UDT
 * names without keyspace (double-quoted when not a plain lower-case
 * identifier), custom types as a quoted class name.  0, BS_ENOMEM, or
 * BS_EINVAL for a malformed descriptor (wrong param count). */
int bs_value_type_to_cql(const bs_type *t, bs_buf *out);

/* Parses a CQL type name ("map<text, frozen<list<int>>>", "varchar",
 * "frozen< tuple<int,text> >", "\"MyUdt\"", "ks.addr", "'com.x.Custom'").
 * Keywords are case-insensitive.  The result is canonical: tuples and
 * every type nested in a frozen type or in a collection have frozen = 1.
 * Unknown identifiers are UDT references (kind BS_TYPE_UDT, name and
 * optional keyspace set, no fields: the schema resolves them).  A
 * non-frozen collection/UDT inside a non-frozen collection is rejected as
 * Cassandra does.  On success *out is a new descriptor the caller frees
 * with bs_type_free.  On error returns BS_ESYNTAX (BS_ENOMEM) and, when
 * err != NULL, a message naming the position and the offending text. */
int bs_value_type_parse(const char *s, size_t len, bs_type **out, char *err,
                        size_t errlen);

/* ----------------------------------------------------------- validation */

/* Strictly checks that p[0..len) is a valid serialization of `t`:
 * fixed-width types have exactly their width (no empty values), varint
 * >= 1 byte, decimal >= 5 bytes, text valid UTF-8 (no overlongs or
 * surrogates), ascii < 0x80, inet 4 or 16 bytes, time in [0, 86400 s),
 * duration three vints fitting int32/int32/int64 with one sign,
 * collections well-formed recursively without nulls and without trailing
 * bytes, tuples/UDTs at most as many components as the type has (null
 * components allowed).  Set order is NOT required.  0 or BS_ECORRUPT
 * (BS_EINVAL for an unresolved UDT or custom type) with a message in err
 * when err != NULL. */
int bs_value_validate(const bs_type *t, const uint8_t *p, size_t len, char *err,
                      size_t errlen);

/* ----------------------------------------------------------- comparison */

/* Compares two serialized values of type `t` in Cassandra's order and
 * stores <0, 0 or >0 in *cmp.  Nulls (BS_VALUE_NULL) and empty values
 * sort first.  ints/bigint/timestamp/time signed; date unsigned;
 * text/ascii/blob/inet unsigned bytewise (shorter prefix first); duration
 * by (months, days, nanos) (Cassandra compares its bytes, but durations
 * are never keys there; decoding makes re-encodings of a value equal);
 * boolean false < true; float/double as Java Float.compare (-0.0 < 0.0,
 * NaN greatest, all NaNs equal); varint and decimal by numeric value
 * (1.0 == 1.00); uuid as UUIDType (version, then v1 time, then unsigned
 * bytes); timeuuid as TimeUUIDType (time, then signed bytes); frozen
 * list/set/map/tuple/UDT element-wise, then by size.  0 or BS_ECORRUPT
 * when a value is not a valid serialization. */
int bs_value_compare(const bs_type *t, const uint8_t *a, size_t alen,
                     const uint8_t *b, size_t blen, int *cmp);

/* ---------------------------------------------------------- collections */

/* One element handed to a builder or returned by an iterator.  len is
 * BS_VALUE_NULL for a null tuple/UDT component. */
typedef struct bs_value_elem {
    const uint8_t *p;
    size_t len;
} bs_value_elem;

/* Serializes list<elem> from n elements (in order); appends to out.
 * Null elements are rejected (BS_EINVAL), as Cassandra rejects them. */
int bs_value_build_list(const bs_value_elem *elems, size_t n, bs_buf *out);
/* Serializes set<t->params[0]>: elements sorted by the element comparator,
 * duplicates dropped.  Elements must be valid values (BS_ECORRUPT). */
int bs_value_build_set(const bs_type *set_type, const bs_value_elem *elems,
                       size_t n, bs_buf *out);
/* Serializes map<k, v>: entries sorted by key; for duplicate keys the
 * last one given wins (as in a CQL map literal). */
int bs_value_build_map(const bs_type *map_type, const bs_value_elem *keys,
                       const bs_value_elem *vals, size_t n, bs_buf *out);
/* Serializes a tuple or UDT value from n components (nulls allowed). */
int bs_value_build_tuple(const bs_value_elem *elems, size_t n, bs_buf *out);

/* Iterates over a serialized list/set/map/tuple/UDT.  Maps yield key,
 * value, key, value...  Borrows p, which must outlive the iterator. */
typedef struct bs_value_iter {
    const uint8_t *p;
    size_t len, pos;
    uint32_t count; /* elements (maps: entries) announced; tuples: 0 */
    uint32_t index; /* elements yielded so far */
    int tuple;      /* 1 tuple/UDT (no count prefix), -1 map, 0 list/set */
} bs_value_iter;

/* 0, or BS_EINVAL when `t` is not a collection/tuple/UDT, BS_ECORRUPT
 * when the count prefix is missing or negative. */
int bs_value_iter_init(bs_value_iter *it, const bs_type *t, const uint8_t *p,
                       size_t len);
/* 0 and the next element in *e; BS_ENOTFOUND after the last one;
 * BS_ECORRUPT on truncated bytes. */
int bs_value_iter_next(bs_value_iter *it, bs_value_elem *e);

/* ------------------------------------------------------------- literals */

/* Converts a parser literal to the serialized value of the scalar type
 * `t`, appending to out.  `colname` (may be NULL) names the receiver in
 * messages.  Kind/type mismatches give BS_ETYPE and
 *   Invalid FLOAT constant (3.5) for "x" of type int
 * values that do not parse or are out of range give BS_EINVAL/BS_ERANGE
 * with Cassandra's marshal messages ("Unable to make int from
 * '2147483648'").  Accepted kinds per type follow Cassandra's
 * Constants.Literal: text/ascii/inet STRING; integer types INTEGER;
 * float/double/decimal INTEGER or FLOAT; blob HEX; boolean BOOLEAN;
 * timestamp/date/time STRING or INTEGER; uuid/timeuuid STRING or UUID;
 * duration DURATION or STRING.  A null literal and collection/tuple/UDT
 * targets are BS_ETYPE (nulls and collection literals are the
 * executor's job).  Timestamps without a zone are taken as UTC. */
int bs_value_from_literal(const bs_type *t, const bs_literal *lit,
                          const char *colname, bs_buf *out, char *err,
                          size_t errlen);

/* Parses a duration literal (1h30m, -5s, P1Y2M, P2W, P0001-02-03T04:05:06)
 * into its components.  0 or BS_EINVAL. */
int bs_value_parse_duration(const char *s, size_t len, int32_t *months,
                            int32_t *days, int64_t *nanos);
/* Timestamp text ('2020-01-01', '2020-01-01 10:00', '...T10:00:00.123Z',
 * '+0000'/'-08:00' zones, or integer ms) to ms since the epoch. */
int bs_value_parse_timestamp(const char *s, size_t len, int64_t *ms);
/* Date text 'yyyy-mm-dd' (or a raw unsigned integer) to the wire uint32
 * (2^31 = 1970-01-01).  BS_ERANGE when outside the uint32 range. */
int bs_value_parse_date(const char *s, size_t len, uint32_t *days);
/* Time text 'hh:mm:ss[.fffffffff]' (or integer ns) to ns since midnight. */
int bs_value_parse_time(const char *s, size_t len, int64_t *nanos);

/* ----------------------------------------------------------- formatting */

/* Flags for bs_value_format. */
enum {
    /* Floats in shortest round-trip form instead of cqlsh's default
     * precision (5 significant digits for float, 12 for double), dates
     * outside years 1..9999 as the raw uint32 rather than signed days.
     * Use for COPY TO: parse_text then restores the exact value. */
    BS_VALUE_FMT_EXACT = 1,
    /* Escape backslashes and control characters in text as cqlsh shows
     * them on a terminal (\n, \x01).  Not reversible by parse_text. */
    BS_VALUE_FMT_ESCAPE = 2
};

/* Appends the value as cqlsh displays it: text as-is (quoted, '' escaped,
 * inside collections), numbers, True/False, timestamps
 * "2020-01-01 10:00:00.000000+0000", dates "2020-01-01", times
 * "10:00:00.123456789", blobs "0xcafe", durations "1h30m" (zero: "0s"),
 * lists [1, 2], sets {1, 2}, maps {'a': 1}, tuples (1, 'a'), UDTs
 * {f: 1}, null as "null".  Validates first: BS_ECORRUPT on bad bytes. */
int bs_value_format(const bs_type *t, const uint8_t *p, size_t len, int flags,
                    bs_buf *out);
/* Appends a CQL literal that the CQL parser reads back as the same value
 * (strings and date/time/timestamp/inet quoted, floats exact, blobs 0x..,
 * uuids bare, durations bare, collections/tuples/UDTs in CQL syntax). */
int bs_value_format_cql(const bs_type *t, const uint8_t *p, size_t len,
                        bs_buf *out);
/* Appends the value as Cassandra's toJson() renders it: numbers bare,
 * NaN/Infinity and text-like values as JSON strings, timestamps
 * "yyyy-mm-dd hh:mm:ss.SSSZ", blobs "0x..", lists/sets/tuples as arrays,
 * maps and UDTs as objects (non-string keys quoted). */
int bs_value_format_json(const bs_type *t, const uint8_t *p, size_t len,
                         bs_buf *out);

/* Flags for bs_value_parse_text. */
enum {
    /* The top-level value is in CQL literal syntax too (text must be
     * quoted), as bs_value_format_cql writes it. */
    BS_VALUE_PARSE_CQL = 1
};

/* Parses text as written by bs_value_format (either flag) or
 * bs_value_format_cql back into a serialized value, appended to out.
 * Inside collections/tuples/UDTs scalars may be quoted ('..', '' escapes)
 * or bare, and "null" is a null component.  A top-level text/ascii value
 * is taken verbatim unless BS_VALUE_PARSE_CQL.  Whitespace around
 * non-text values is ignored.  0, or BS_EINVAL/BS_ERANGE with a message
 * (which names the offset for structural errors). */
int bs_value_parse_text(const bs_type *t, const char *s, size_t len, int flags,
                        bs_buf *out, char *err, size_t errlen);

#endif
