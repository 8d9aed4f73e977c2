/*
 * value_int.h - helpers shared by the value*.c files (not public).
 *
 * Names are bs__value_*; nothing outside query/value*.c may use them.
 */
#ifndef BS_QUERY_VALUE_INT_H
#define BS_QUERY_VALUE_INT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/types.h"

/* Writes a formatted message into err (when err && errlen). */
void bs__value_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- value_codec.c */
/* Cassandra vint (leading 1-bits of the first byte = extra bytes, value
 * big-endian), unsigned.  Returns bytes consumed (1..9) or 0 if short. */
size_t bs__value_get_uvint(const uint8_t *p, size_t len, uint64_t *out);
int bs__value_put_uvint(bs_buf *b, uint64_t v);
/* Zig-zag signed vint. */
static inline uint64_t bs__zz_enc(int64_t v) {
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}
static inline int64_t bs__zz_dec(uint64_t v) {
    return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}
/* Decodes a duration; 0 or BS_ECORRUPT. */
int bs__value_get_duration(const uint8_t *p, size_t len, int32_t *months,
                           int32_t *days, int64_t *nanos);
int bs__value_put_duration(bs_buf *b, int32_t months, int32_t days,
                           int64_t nanos);
/* Reads a [int len][bytes] element; len BS_VALUE_NULL for negative -1.
 * 0 or BS_ECORRUPT (truncated / len < -1). */
int bs__value_read_elem(const uint8_t *p, size_t len, size_t *pos,
                        const uint8_t **ep, size_t *elen);
int bs__value_put_elem(bs_buf *b, const uint8_t *p, size_t len);

/* ---- value_num.c */
/* Two's complement big-endian bytes -> decimal text ("-123"). */
int bs__value_varint_to_dec(const uint8_t *p, size_t n, bs_buf *out);
/* Decimal digits (optional leading '-' or '+', at least one digit, only
 * digits after) -> minimal two's complement bytes.  0 or BS_EINVAL. */
int bs__value_dec_to_varint(const char *s, size_t n, bs_buf *out);
/* Parses a decimal number text (BigDecimal syntax: [-+]digits[.digits]
 * [e[-+]digits], also ".5" and "5.") into scale + varint; 0, BS_EINVAL
 * or BS_ERANGE (scale outside int32). */
int bs__value_parse_decimal(const char *s, size_t n, bs_buf *out);
/* Appends the decimal value (scale + varint) as Java BigDecimal.toString
 * (identical to Python's str(Decimal)). */
int bs__value_decimal_to_text(const uint8_t *p, size_t n, bs_buf *out);
/* Compares two varints / decimals numerically. */
int bs__value_varint_cmp(const uint8_t *a, size_t an, const uint8_t *b,
                         size_t bn);
int bs__value_decimal_cmp(const uint8_t *a, size_t an, const uint8_t *b,
                          size_t bn, int *cmp);
/* Appends a float/double: mode 0 cqlsh display with `prec` significant
 * digits, mode 1 shortest round trip (%g style), mode 2 Java
 * Float/Double.toString.  is_float selects the float round trip. */
int bs__value_fmt_fp(double v, int is_float, int mode, int prec, bs_buf *out);
/* Strict float syntax check: [-+]digits[.digits][e[-+]digits] or
 * NaN / [-+]Infinity.  1 if ok. */
int bs__value_fp_syntax_ok(const char *s, size_t n);

/* ---- value_time.c */
int64_t bs__value_days_from_civil(int64_t y, unsigned m, unsigned d);
void bs__value_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d);
int bs__value_fmt_timestamp(int64_t ms, int style, bs_buf *out);
int bs__value_fmt_date(uint32_t d, int exact, bs_buf *out);
int bs__value_fmt_time(int64_t ns, bs_buf *out);
int bs__value_fmt_duration(int32_t months, int32_t days, int64_t nanos,
                           bs_buf *out);
enum { BS__TS_CQLSH = 0, BS__TS_JSON = 1, BS__TS_ISO = 2 };

/* ---- value_literal.c */
/* Converts the text of one scalar (already unquoted) to the serialized
 * form of scalar type t.  For blobs the text must start with 0x. */
int bs__value_scalar_from_text(const bs_type *t, const char *s, size_t n,
                               bs_buf *out, char *err, size_t errlen);

/* ---- value_type.c */
/* The CQL name into a fixed buffer (truncated), for messages. */
void bs__value_type_name(const bs_type *t, char *buf, size_t n);
/* 1 if an identifier needs double quotes in CQL. */
int bs__value_ident_needs_quote(const char *s);

#endif
