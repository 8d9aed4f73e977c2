/*
 * keycodec.c - order-preserving key encoding of CQL values (keycodec.h).
 *
 * The encoding of one component, ascending (DESC = every byte XOR 0xFF):
 *
 *   TAG    PAYLOAD                       used for
 *   0x01   -                             null (tuple/UDT field, or explicit)
 *   0x02   -                             empty value (0 bytes), any type
 *   0x03   type-specific payload below   a non-empty value
 *
 * Payloads (the order of payloads of one type is Cassandra's order):
 *
 *   type                      payload
 *   boolean                   1 byte: 0x00 false, 0x01 true (any non-zero)
 *   tinyint/smallint/int/     the big-endian bytes with the sign bit
 *   bigint/counter/             flipped (signed order -> unsigned order)
 *   timestamp/time
 *   date                      the 4 bytes as is (Cassandra: unsigned)
 *   float/double              IEEE bits; NaN made 0x7fc00000 (quiet,
 *                               positive); negative: all bits inverted,
 *                               otherwise sign bit set.  So -inf < ... <
 *                               -0.0 < 0.0 < ... < +inf < NaN, which is
 *                               Java's Float.compare / Double.compare.
 *   uuid                      16 bytes: the msb permuted so that the
 *                               version nibble comes first, then for v1 the
 *                               timestamp (time_hi, time_mid, time_low),
 *                               for other versions the remaining msb bits
 *                               in order; then the lsb unsigned.  This is
 *                               UUIDType.compare (version, v1 time or msb
 *                               unsigned, then lsb unsigned).
 *   timeuuid                  8 bytes: msb reordered (time_hi|ver, time_mid,
 *                               time_low) with the top bit flipped (Cassandra
 *                               compares it as a signed long), then 8 lsb
 *                               bytes each XOR 0x80 (TimeUUIDType compares
 *                               them as signed bytes).
 *   ascii/text/blob/inet      the bytes with 0x00 escaped as 0x00 0xFF,
 *                               terminated by 0x00 0x01 (FoundationDB
 *                               tuple-layer style); unsigned byte order,
 *                               shorter first.  inet must be 4 or 16 bytes
 *                               (Cassandra compares inet as raw bytes).
 *   varint                    INT body (below) of the value
 *   decimal                   0x01 ~BODY (negative) | 0x02 (zero) |
 *                               0x03 BODY (positive), where BODY =
 *                               INT(E) DIGITS 0x00 for |value| = 0.D * 10^E,
 *                               D the decimal digits with no leading or
 *                               trailing zeros; DIGITS = one byte per pair
 *                               of digits, 1 + 10*d1 + d2 (1..100), an odd
 *                               last digit padded with 0.  Numeric order,
 *                               so 1.0 and 1.00 encode identically.
 *   list/set                  ELEMENT* 0x00, each element a component
 *                               (tag 0x02/0x03, never null): element-wise,
 *                               then shorter first (compareListOrSet)
 *   map                       (KEY VALUE)* 0x00, likewise (compareMaps)
 *   tuple/UDT                 one component per declared field, null
 *                               (0x01) for null and for missing trailing
 *                               fields: field-wise, nulls first
 *
 *   INT body of an integer x with minimal big-endian magnitude m of L bytes:
 *     x == 0          0x80
 *     x > 0, L < 127  0x80+L  m
 *     x > 0, L >= 127 0xFF    L (u32 BE)  m
 *     x < 0           the INT body of -x with every byte inverted
 *   Longer magnitudes sort after shorter ones (negatives reversed), equal
 *   lengths by magnitude bytes.  Decimal exponents use the same body.
 *
 * Invariants: every payload is self-delimiting, and no encoding of a type
 * is a proper prefix of another encoding of that type.  Hence inverting a
 * DESC component reverses its order and it still terminates (the decoder
 * inverts as it reads), and concatenations compare component-wise.
 * Decoding accepts only what encode produces (canonical forms: minimal
 * magnitudes, short INT headers where possible, no 0x00 pairs at the ends
 * of DIGITS, the one NaN, boolean 0/1, non-empty escaped strings, ...) so
 * that decode-then-encode reproduces the bytes; everything else is
 * BS_ECORRUPT.
 *
 * Recursion follows the type descriptor (from the schema, trusted), never
 * the input bytes, so hostile input cannot deepen it.
 */
#include "storage/keycodec.h"

#include <stdlib.h>
#include <string.h>

#include "common/error.h"

enum { TAG_NULL = 0x01, TAG_EMPTY = 0x02, TAG_VALUE = 0x03 };
enum { DEC_NEG = 0x01, DEC_ZERO = 0x02, DEC_POS = 0x03 };
#define INT_ZERO 0x80
#define INT_LONG 0xFF
#define INT_SHORT_MAX 126
#define END_MARK 0x00
#define ESC 0x00
#define ESC_ZERO 0xFF
#define ESC_END 0x01

/* Bound on decimal digits a decoder accepts: a 65535-byte magnitude has at
 * most 157,826 decimal digits. */
#define MAX_DECIMAL_DIGITS 158000
/* |E| of a decimal from valid input is below 2^31 + MAX_DECIMAL_DIGITS. */
#define MAX_DECIMAL_EXP ((int64_t)1 << 32)

/* ------------------------------------------------------------------ */
/* Type checks                                                          */
/* ------------------------------------------------------------------ */

static int check_type(const bs_type *t) {
    if (!t) return BS_EINVAL;
    switch (t->kind) {
    case BS_TYPE_ASCII: case BS_TYPE_BIGINT: case BS_TYPE_BLOB:
    case BS_TYPE_BOOLEAN: case BS_TYPE_COUNTER: case BS_TYPE_DECIMAL:
    case BS_TYPE_DOUBLE: case BS_TYPE_FLOAT: case BS_TYPE_INT:
    case BS_TYPE_TIMESTAMP: case BS_TYPE_UUID: case BS_TYPE_VARCHAR:
    case BS_TYPE_VARINT: case BS_TYPE_TIMEUUID: case BS_TYPE_INET:
    case BS_TYPE_DATE: case BS_TYPE_TIME: case BS_TYPE_SMALLINT:
    case BS_TYPE_TINYINT:
        return 0;
    case BS_TYPE_LIST: case BS_TYPE_SET:
        return t->nparams == 1 && t->params && t->params[0] ? 0 : BS_EINVAL;
    case BS_TYPE_MAP:
        return t->nparams == 2 && t->params && t->params[0] && t->params[1]
                   ? 0 : BS_EINVAL;
    case BS_TYPE_TUPLE: case BS_TYPE_UDT:
        if (t->nparams && !t->params) return BS_EINVAL;
        for (unsigned i = 0; i < t->nparams; i++)
            if (!t->params[i]) return BS_EINVAL;
        return 0;
    case BS_TYPE_DURATION: case BS_TYPE_CUSTOM:
        return BS_ENOTSUP;
    default:
        return BS_EINVAL;
    }
}

/* ------------------------------------------------------------------ */
/* Big integers: two's complement <-> magnitude <-> decimal digits      */
/* ------------------------------------------------------------------ */

/* Minimal big-endian magnitude of a two's complement integer into `mag`
 * (reset first; empty for zero); *neg = sign. */
static int twos_to_mag(const uint8_t *v, size_t n, int *neg, bs_buf *mag) {
    bs_buf_reset(mag);
    *neg = n > 0 && (v[0] & 0x80);
    size_t i = 0;
    if (!*neg) {
        while (i < n && v[i] == 0) i++;
        return n - i ? bs_buf_append(mag, v + i, n - i) : 0;
    }
    uint8_t *p = bs_buf_extend(mag, n);
    if (!p) return BS_ENOMEM;
    unsigned carry = 1;
    for (size_t j = n; j-- > 0;) {
        unsigned x = (uint8_t)~v[j] + carry;
        p[j] = (uint8_t)x;
        carry = x >> 8;
    }
    while (i < n && p[i] == 0) i++;
    memmove(p, p + i, n - i);
    mag->len = n - i;
    return 0;
}

/* Appends the minimal two's complement form of (neg ? -m : m). */
static int mag_to_twos(int neg, const uint8_t *m, size_t l, bs_buf *out) {
    if (l == 0) return bs_buf_append_u8(out, 0);
    if (!neg) {
        if ((m[0] & 0x80) && bs_buf_append_u8(out, 0)) return BS_ENOMEM;
        return bs_buf_append(out, m, l);
    }
    /* 2^(8l) - m fits l bytes with the sign bit set iff m <= 2^(8l-1). */
    int ext = m[0] > 0x80;
    if (m[0] == 0x80)
        for (size_t i = 1; i < l && !ext; i++) ext = m[i] != 0;
    uint8_t *p = bs_buf_extend(out, l + (size_t)ext);
    if (!p) return BS_ENOMEM;
    if (ext) *p++ = 0xFF;
    unsigned carry = 1;
    for (size_t j = l; j-- > 0;) {
        unsigned x = (uint8_t)~m[j] + carry;
        p[j] = (uint8_t)x;
        carry = x >> 8;
    }
    return 0;
}

/* Decimal digits ('0'..'9', no leading zeros) of a non-zero magnitude,
 * into `dig` (reset first).  Schoolbook division by 10^9. */
static int mag_to_digits(const uint8_t *m, size_t l, bs_buf *dig) {
    bs_buf_reset(dig);
    size_t nw = (l + 3) / 4;
    uint32_t *w = malloc(nw * sizeof *w);
    uint32_t *ch = malloc((2 * nw + 1) * sizeof *ch);
    int rc = BS_ENOMEM;
    if (!w || !ch) goto out;
    size_t first = l % 4 ? l % 4 : 4, pos = 0;
    for (size_t i = 0; i < nw; i++) {
        size_t take = i == 0 ? first : 4;
        uint32_t x = 0;
        for (size_t k = 0; k < take; k++) x = (x << 8) | m[pos++];
        w[i] = x;
    }
    size_t start = 0, nc = 0;
    while (start < nw && w[start] == 0) start++;
    while (start < nw) {
        uint64_t rem = 0;
        for (size_t i = start; i < nw; i++) {
            uint64_t cur = (rem << 32) | w[i];
            w[i] = (uint32_t)(cur / 1000000000u);
            rem = cur % 1000000000u;
        }
        ch[nc++] = (uint32_t)rem;
        while (start < nw && w[start] == 0) start++;
    }
    uint8_t *p = bs_buf_extend(dig, nc * 9);
    if (!p) goto out;
    size_t n = 0;
    for (size_t c = nc; c-- > 0;) {
        char tmp[9];
        uint32_t x = ch[c];
        for (int k = 8; k >= 0; k--) { tmp[k] = (char)('0' + x % 10); x /= 10; }
        int k = 0;
        if (c == nc - 1)
            while (k < 8 && tmp[k] == '0') k++;
        for (; k < 9; k++) p[n++] = (uint8_t)tmp[k];
    }
    dig->len = n;
    rc = 0;
out:
    free(w);
    free(ch);
    return rc;
}

/* Minimal big-endian magnitude of a decimal digit string (nd >= 1) into
 * `mag` (reset first). */
static int digits_to_mag(const uint8_t *d, size_t nd, bs_buf *mag) {
    static const uint32_t pow10[10] = {1, 10, 100, 1000, 10000, 100000,
                                       1000000, 10000000, 100000000,
                                       1000000000};
    bs_buf_reset(mag);
    size_t cap = nd / 9 + 2, n = 0;
    uint32_t *limb = malloc(cap * sizeof *limb); /* little-endian */
    if (!limb) return BS_ENOMEM;
    size_t pos = 0;
    while (pos < nd) {
        size_t take = pos == 0 ? (nd % 9 ? nd % 9 : 9) : 9;
        uint32_t chunk = 0;
        for (size_t k = 0; k < take; k++) chunk = chunk * 10 + (uint32_t)(d[pos + k] - '0');
        pos += take;
        uint64_t carry = chunk;
        for (size_t i = 0; i < n; i++) {
            uint64_t cur = (uint64_t)limb[i] * pow10[take] + carry;
            limb[i] = (uint32_t)cur;
            carry = cur >> 32;
        }
        if (carry) limb[n++] = (uint32_t)carry;
    }
    int rc = 0;
    uint8_t *p = bs_buf_extend(mag, n * 4);
    if (!p && n) { rc = BS_ENOMEM; goto out; }
    for (size_t i = 0; i < n; i++) bs_put_u32(p + 4 * i, limb[n - 1 - i]);
    size_t z = 0;
    while (z < n * 4 && p[z] == 0) z++;
    memmove(p, p + z, n * 4 - z);
    mag->len = n * 4 - z;
out:
    free(limb);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Encoding                                                             */
/* ------------------------------------------------------------------ */

/* Scratch buffers for number conversion, allocated lazily, freed by the
 * top-level call. */
typedef struct enc_ctx {
    bs_buf a, b;
} enc_ctx;

static int put_escaped(bs_buf *out, const uint8_t *v, size_t n) {
    size_t zeros = 0;
    for (size_t i = 0; i < n; i++) zeros += v[i] == 0;
    uint8_t *p = bs_buf_extend(out, n + zeros + 2);
    if (!p) return BS_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        *p++ = v[i];
        if (v[i] == ESC) *p++ = ESC_ZERO;
    }
    p[0] = ESC;
    p[1] = ESC_END;
    return 0;
}

/* INT body of (neg ? -m : m), m minimal big-endian of l bytes. */
static int put_int_body(bs_buf *out, int neg, const uint8_t *m, size_t l) {
    if (l == 0) return bs_buf_append_u8(out, INT_ZERO);
    size_t start = out->len;
    int rc;
    if (l <= INT_SHORT_MAX) {
        rc = bs_buf_append_u8(out, (uint8_t)(0x80 + l));
    } else {
        if (l > UINT32_MAX) return BS_ETOOBIG;
        rc = bs_buf_append_u8(out, INT_LONG);
        if (!rc) rc = bs_buf_append_u32(out, (uint32_t)l);
    }
    if (!rc) rc = bs_buf_append(out, m, l);
    if (rc) { out->len = start; return rc; }
    if (neg)
        for (size_t i = start; i < out->len; i++) out->data[i] ^= 0xFF;
    return 0;
}

static int put_int64_body(bs_buf *out, int64_t x) {
    uint64_t u = x < 0 ? (uint64_t)0 - (uint64_t)x : (uint64_t)x;
    uint8_t m[8];
    size_t l = 0;
    for (int i = 7; i >= 0; i--) {
        uint8_t b = (uint8_t)(u >> (8 * i));
        if (b || l) m[l++] = b;
    }
    return put_int_body(out, x < 0, m, l);
}

static int enc_varint(enc_ctx *c, const uint8_t *v, size_t n, bs_buf *out) {
    int neg;
    int rc = twos_to_mag(v, n, &neg, &c->a);
    if (rc) return rc;
    return put_int_body(out, neg, c->a.data, c->a.len);
}

static int enc_decimal(enc_ctx *c, const uint8_t *v, size_t n, bs_buf *out) {
    if (n < 5) return BS_EINVAL;
    if (n - 4 > BS_KEYCODEC_MAX_DECIMAL_BYTES) return BS_ETOOBIG;
    int32_t scale = (int32_t)bs_get_u32(v);
    int neg;
    int rc = twos_to_mag(v + 4, n - 4, &neg, &c->a);
    if (rc) return rc;
    if (c->a.len == 0) return bs_buf_append_u8(out, DEC_ZERO);
    if ((rc = mag_to_digits(c->a.data, c->a.len, &c->b))) return rc;
    size_t nd0 = c->b.len, nd = nd0;
    while (nd > 1 && c->b.data[nd - 1] == '0') nd--;
    int64_t e = (int64_t)nd0 - scale;
    if ((rc = bs_buf_append_u8(out, neg ? DEC_NEG : DEC_POS))) return rc;
    size_t body = out->len;
    if ((rc = put_int64_body(out, e))) return rc;
    uint8_t *p = bs_buf_extend(out, (nd + 1) / 2 + 1);
    if (!p) return BS_ENOMEM;
    const uint8_t *d = c->b.data;
    for (size_t i = 0; i < nd; i += 2) {
        unsigned d1 = (unsigned)(d[i] - '0');
        unsigned d2 = i + 1 < nd ? (unsigned)(d[i + 1] - '0') : 0u;
        *p++ = (uint8_t)(1 + 10 * d1 + d2);
    }
    *p = END_MARK;
    if (neg)
        for (size_t i = body; i < out->len; i++) out->data[i] ^= 0xFF;
    return 0;
}

static uint64_t permute_uuid_msb(uint64_t msb) {
    uint64_t ver = (msb >> 12) & 0xF;
    if (ver == 1) /* time_hi|ver, time_mid, time_low */
        return (msb << 48) | ((msb << 16) & 0xFFFF00000000ULL) | (msb >> 32);
    return (ver << 60) | ((msb >> 16) << 12) | (msb & 0xFFF);
}

static uint64_t unpermute_uuid_msb(uint64_t x) {
    uint64_t ver = x >> 60;
    if (ver == 1)
        return (x << 32) | ((x >> 16) & 0xFFFF0000ULL) | (x >> 48);
    return (((x >> 12) & 0xFFFFFFFFFFFFULL) << 16) | (ver << 12) | (x & 0xFFF);
}

static int enc_value(enc_ctx *c, const bs_type *t, const uint8_t *v,
                     int32_t len, bs_buf *out);

/* Reads a protocol [int]-prefixed element; *len < 0 means null. */
static int read_elem(bs_rbuf *r, const uint8_t **p, int32_t *len) {
    uint32_t u;
    if (bs_rbuf_u32(r, &u)) return BS_EINVAL;
    *len = (int32_t)u;
    *p = NULL;
    if (*len < 0) return 0;
    return bs_rbuf_bytes(r, (size_t)*len, p) ? BS_EINVAL : 0;
}

static int enc_collection(enc_ctx *c, const bs_type *t, const uint8_t *v,
                          size_t n, bs_buf *out) {
    bs_rbuf r;
    bs_rbuf_init(&r, v, n);
    uint32_t cnt;
    if (bs_rbuf_u32(&r, &cnt) || (int32_t)cnt < 0) return BS_EINVAL;
    unsigned per = t->kind == BS_TYPE_MAP ? 2 : 1;
    for (uint32_t i = 0; i < cnt; i++) {
        for (unsigned k = 0; k < per; k++) {
            const uint8_t *p;
            int32_t l;
            int rc = read_elem(&r, &p, &l);
            if (rc) return rc;
            if (l < 0) return BS_EINVAL; /* no nulls in collections */
            if ((rc = enc_value(c, t->params[k], p, l, out))) return rc;
        }
    }
    if (bs_rbuf_left(&r)) return BS_EINVAL;
    return bs_buf_append_u8(out, END_MARK);
}

static int enc_tuple(enc_ctx *c, const bs_type *t, const uint8_t *v,
                     size_t n, bs_buf *out) {
    bs_rbuf r;
    bs_rbuf_init(&r, v, n);
    for (unsigned i = 0; i < t->nparams; i++) {
        const uint8_t *p = NULL;
        int32_t l = -1; /* a missing trailing field is null */
        int rc;
        if (bs_rbuf_left(&r) && (rc = read_elem(&r, &p, &l))) return rc;
        if ((rc = enc_value(c, t->params[i], p, l, out))) return rc;
    }
    return bs_rbuf_left(&r) ? BS_EINVAL : 0;
}

static int enc_fixed(const uint8_t *v, size_t n, size_t want, int flip,
                     bs_buf *out) {
    if (n != want) return BS_EINVAL;
    uint8_t *p = bs_buf_extend(out, n);
    if (!p) return BS_ENOMEM;
    memcpy(p, v, n);
    if (flip) p[0] ^= 0x80;
    return 0;
}

static int enc_payload(enc_ctx *c, const bs_type *t, const uint8_t *v,
                       size_t n, bs_buf *out) {
    uint8_t *p;
    switch (t->kind) {
    case BS_TYPE_BOOLEAN:
        if (n != 1) return BS_EINVAL;
        return bs_buf_append_u8(out, v[0] != 0);
    case BS_TYPE_TINYINT: return enc_fixed(v, n, 1, 1, out);
    case BS_TYPE_SMALLINT: return enc_fixed(v, n, 2, 1, out);
    case BS_TYPE_INT: return enc_fixed(v, n, 4, 1, out);
    case BS_TYPE_BIGINT: case BS_TYPE_COUNTER: case BS_TYPE_TIMESTAMP:
    case BS_TYPE_TIME:
        return enc_fixed(v, n, 8, 1, out);
    case BS_TYPE_DATE: return enc_fixed(v, n, 4, 0, out);
    case BS_TYPE_FLOAT: {
        if (n != 4) return BS_EINVAL;
        uint32_t b = bs_get_u32(v);
        if ((b & 0x7FFFFFFFu) > 0x7F800000u) b = 0x7FC00000u;
        b = (b & 0x80000000u) ? ~b : b | 0x80000000u;
        return bs_buf_append_u32(out, b);
    }
    case BS_TYPE_DOUBLE: {
        if (n != 8) return BS_EINVAL;
        uint64_t b = bs_get_u64(v);
        if ((b & 0x7FFFFFFFFFFFFFFFULL) > 0x7FF0000000000000ULL)
            b = 0x7FF8000000000000ULL;
        b = (b & 0x8000000000000000ULL) ? ~b : b | 0x8000000000000000ULL;
        return bs_buf_append_u64(out, b);
    }
    case BS_TYPE_UUID:
        if (n != 16) return BS_EINVAL;
        if (!(p = bs_buf_extend(out, 16))) return BS_ENOMEM;
        bs_put_u64(p, permute_uuid_msb(bs_get_u64(v)));
        memcpy(p + 8, v + 8, 8);
        return 0;
    case BS_TYPE_TIMEUUID: {
        if (n != 16) return BS_EINVAL;
        if (!(p = bs_buf_extend(out, 16))) return BS_ENOMEM;
        uint64_t msb = bs_get_u64(v);
        uint64_t re = (msb << 48) | ((msb << 16) & 0xFFFF00000000ULL) | (msb >> 32);
        bs_put_u64(p, re ^ 0x8000000000000000ULL);
        for (int i = 8; i < 16; i++) p[i] = v[i] ^ 0x80;
        return 0;
    }
    case BS_TYPE_INET:
        if (n != 4 && n != 16) return BS_EINVAL;
        return put_escaped(out, v, n);
    case BS_TYPE_ASCII: case BS_TYPE_VARCHAR: case BS_TYPE_BLOB:
        return put_escaped(out, v, n);
    case BS_TYPE_VARINT: return enc_varint(c, v, n, out);
    case BS_TYPE_DECIMAL: return enc_decimal(c, v, n, out);
    case BS_TYPE_LIST: case BS_TYPE_SET: case BS_TYPE_MAP:
        return enc_collection(c, t, v, n, out);
    case BS_TYPE_TUPLE: case BS_TYPE_UDT:
        return enc_tuple(c, t, v, n, out);
    default:
        return BS_EINVAL; /* unreachable after check_type */
    }
}

static int enc_value(enc_ctx *c, const bs_type *t, const uint8_t *v,
                     int32_t len, bs_buf *out) {
    int rc = check_type(t);
    if (rc) return rc;
    if (len < 0) return bs_buf_append_u8(out, TAG_NULL);
    if (len == 0) return bs_buf_append_u8(out, TAG_EMPTY);
    if (!v) return BS_EINVAL;
    if ((rc = bs_buf_append_u8(out, TAG_VALUE))) return rc;
    return enc_payload(c, t, v, (size_t)len, out);
}

int bs_keycodec_encode(const bs_type *t, const uint8_t *v, int32_t len,
                       int desc, bs_buf *out) {
    enc_ctx c = {BS_BUF_INIT, BS_BUF_INIT};
    size_t start = out->len;
    int rc = enc_value(&c, t, v, len, out);
    bs_buf_free(&c.a);
    bs_buf_free(&c.b);
    if (rc) {
        out->len = start;
        return rc;
    }
    if (desc)
        for (size_t i = start; i < out->len; i++) out->data[i] ^= 0xFF;
    return 0;
}

int bs_keycodec_encode_prefix(bs_type *const *types, const uint8_t *desc,
                              size_t n, const bs_keycodec_value *vals,
                              bs_buf *out) {
    size_t start = out->len;
    for (size_t i = 0; i < n; i++) {
        int rc = bs_keycodec_encode(types[i], vals[i].data, vals[i].len,
                                    desc ? desc[i] : 0, out);
        if (rc) {
            out->len = start;
            return rc;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Decoding                                                             */
/* ------------------------------------------------------------------ */

/* A reader over encoded bytes that XORs each byte with `mask` (0xFF while
 * inside an inverted DESC component or a negative number body). */
typedef struct krd {
    const uint8_t *p;
    size_t len, pos;
    uint8_t mask;
} krd;

static int rd_u8(krd *r, uint8_t *b) {
    if (r->pos >= r->len) return BS_ECORRUPT;
    *b = r->p[r->pos++] ^ r->mask;
    return 0;
}

static int rd_peek(const krd *r, uint8_t *b) {
    if (r->pos >= r->len) return BS_ECORRUPT;
    *b = r->p[r->pos] ^ r->mask;
    return 0;
}

/* Copies n decoded bytes to dst (if non-NULL). */
static int rd_bytes(krd *r, size_t n, uint8_t *dst) {
    if (r->len - r->pos < n) return BS_ECORRUPT;
    if (dst)
        for (size_t i = 0; i < n; i++) dst[i] = r->p[r->pos + i] ^ r->mask;
    r->pos += n;
    return 0;
}

typedef struct dec_ctx {
    bs_buf a, b;
} dec_ctx;

/* Appends n bytes of room to out (or NULL when out is NULL). */
static int room(bs_buf *out, size_t n, uint8_t **p) {
    *p = NULL;
    if (!out) return 0;
    *p = bs_buf_extend(out, n);
    return *p || !n ? 0 : BS_ENOMEM;
}

/* Reads an INT body; the magnitude (minimal, checked) goes to `mag`. */
static int rd_int_body(krd *r, int *neg, bs_buf *mag) {
    uint8_t h;
    int rc;
    if ((rc = rd_u8(r, &h))) return rc;
    bs_buf_reset(mag);
    if (h == INT_ZERO) { *neg = 0; return 0; }
    *neg = h < INT_ZERO;
    uint8_t save = r->mask;
    if (*neg) { r->mask ^= 0xFF; h ^= 0xFF; }
    size_t l;
    if (h == INT_LONG) {
        uint8_t lb[4];
        if ((rc = rd_bytes(r, 4, lb))) goto out;
        l = bs_get_u32(lb);
        rc = BS_ECORRUPT;
        if (l <= INT_SHORT_MAX) goto out;
    } else {
        l = (size_t)(h - 0x80);
    }
    rc = BS_ECORRUPT;
    if (l == 0 || r->len - r->pos < l) goto out;
    uint8_t *p = bs_buf_extend(mag, l);
    if (!p) { rc = BS_ENOMEM; goto out; }
    rd_bytes(r, l, p);
    rc = p[0] == 0 ? BS_ECORRUPT : 0;
out:
    r->mask = save;
    return rc;
}

static int dec_varint(dec_ctx *c, krd *r, bs_buf *out) {
    int neg, rc = rd_int_body(r, &neg, &c->a);
    if (rc) return rc;
    if (!out) return 0;
    return mag_to_twos(neg, c->a.data, c->a.len, out);
}

static int dec_decimal(dec_ctx *c, krd *r, bs_buf *out) {
    uint8_t cls;
    int rc = rd_u8(r, &cls);
    if (rc) return rc;
    uint8_t *p;
    if (cls == DEC_ZERO) {
        if ((rc = room(out, 5, &p))) return rc;
        if (p) memset(p, 0, 5);
        return 0;
    }
    if (cls != DEC_NEG && cls != DEC_POS) return BS_ECORRUPT;
    int neg = cls == DEC_NEG;
    uint8_t save = r->mask;
    if (neg) r->mask ^= 0xFF;
    int eneg;
    if ((rc = rd_int_body(r, &eneg, &c->a))) goto out;
    rc = BS_ECORRUPT;
    if (c->a.len > 8) goto out;
    uint64_t eu = 0;
    for (size_t i = 0; i < c->a.len; i++) eu = (eu << 8) | c->a.data[i];
    if (eu > (uint64_t)MAX_DECIMAL_EXP) goto out;
    int64_t e = eneg ? -(int64_t)eu : (int64_t)eu;
    /* digit pairs */
    bs_buf_reset(&c->b);
    for (;;) {
        uint8_t b;
        if ((rc = rd_u8(r, &b))) goto out;
        rc = BS_ECORRUPT;
        if (b == END_MARK) break;
        if (b > 100) goto out;
        if (c->b.len + 2 > MAX_DECIMAL_DIGITS) goto out;
        unsigned pair = b - 1u;
        if (c->b.len == 0 && pair / 10 == 0) goto out; /* leading zero */
        uint8_t *d = bs_buf_extend(&c->b, 2);
        if (!d) { rc = BS_ENOMEM; goto out; }
        d[0] = (uint8_t)('0' + pair / 10);
        d[1] = (uint8_t)('0' + pair % 10);
    }
    rc = BS_ECORRUPT;
    if (c->b.len == 0) goto out;
    if (c->b.data[c->b.len - 1] == '0') c->b.len--; /* padding */
    if (c->b.data[c->b.len - 1] == '0') goto out;   /* trailing zero */
    int64_t cs = (int64_t)c->b.len - e;
    if (cs > INT32_MAX) goto out;
    if (cs < INT32_MIN) {
        /* the original had trailing zeros that cannot all be dropped
         * without the scale leaving int32: keep just enough */
        int64_t pad = (int64_t)INT32_MIN - cs;
        if (pad > MAX_DECIMAL_DIGITS - (int64_t)c->b.len) goto out;
        uint8_t *d = bs_buf_extend(&c->b, (size_t)pad);
        if (!d) { rc = BS_ENOMEM; goto out; }
        memset(d, '0', (size_t)pad);
        cs = INT32_MIN;
    }
    rc = 0;
    if (!out) goto out;
    if ((rc = digits_to_mag(c->b.data, c->b.len, &c->a))) goto out;
    size_t start = out->len;
    if ((rc = bs_buf_append_u32(out, (uint32_t)(int32_t)cs))) goto out;
    if ((rc = mag_to_twos(neg, c->a.data, c->a.len, out))) goto out;
    if (out->len - start - 4 > BS_KEYCODEC_MAX_DECIMAL_BYTES) {
        out->len = start;
        rc = BS_ECORRUPT;
    }
out:
    r->mask = save;
    return rc;
}

static int dec_escaped(krd *r, bs_buf *out, size_t *n) {
    const uint8_t esc_raw = ESC ^ r->mask;
    *n = 0;
    for (;;) {
        /* copy the run up to the next escape byte in one go */
        size_t left = r->len - r->pos;
        if (left == 0) return BS_ECORRUPT;
        const uint8_t *s = r->p + r->pos;
        const uint8_t *z = memchr(s, esc_raw, left);
        if (!z) return BS_ECORRUPT;
        size_t run = (size_t)(z - s);
        if (run && out) {
            uint8_t *d = bs_buf_extend(out, run);
            if (!d) return BS_ENOMEM;
            for (size_t i = 0; i < run; i++) d[i] = s[i] ^ r->mask;
        }
        *n += run;
        r->pos += run + 1;
        uint8_t b;
        int rc = rd_u8(r, &b);
        if (rc) return rc;
        if (b == ESC_END) return *n ? 0 : BS_ECORRUPT;
        if (b != ESC_ZERO) return BS_ECORRUPT;
        if (out && bs_buf_append_u8(out, 0)) return BS_ENOMEM;
        ++*n;
    }
}

static int dec_value(dec_ctx *c, const bs_type *t, krd *r, bs_buf *out,
                     int32_t *len);

/* Decodes an element into out as [int len][bytes]. */
static int dec_framed(dec_ctx *c, const bs_type *t, krd *r, bs_buf *out,
                      int allow_null) {
    size_t at = out ? out->len : 0;
    uint8_t *p;
    int rc = room(out, 4, &p);
    if (rc) return rc;
    int32_t l;
    if ((rc = dec_value(c, t, r, out, &l))) return rc;
    if (l < 0 && !allow_null) return BS_ECORRUPT;
    if (out) bs_put_u32(out->data + at, (uint32_t)l);
    return 0;
}

static int dec_collection(dec_ctx *c, const bs_type *t, krd *r,
                          bs_buf *out) {
    size_t at = out ? out->len : 0;
    uint8_t *p;
    int rc = room(out, 4, &p);
    if (rc) return rc;
    unsigned per = t->kind == BS_TYPE_MAP ? 2 : 1;
    uint32_t cnt = 0;
    for (;;) {
        uint8_t b;
        if ((rc = rd_peek(r, &b))) return rc;
        if (b == END_MARK) { r->pos++; break; }
        if (cnt == INT32_MAX) return BS_ECORRUPT;
        for (unsigned k = 0; k < per; k++)
            if ((rc = dec_framed(c, t->params[k], r, out, 0))) return rc;
        cnt++;
    }
    if (out) bs_put_u32(out->data + at, cnt);
    return 0;
}

static int dec_payload(dec_ctx *c, const bs_type *t, krd *r, bs_buf *out) {
    uint8_t tmp[16];
    int rc;
    size_t n;
    switch (t->kind) {
    case BS_TYPE_BOOLEAN: {
        uint8_t b;
        if ((rc = rd_u8(r, &b))) return rc;
        if (b > 1) return BS_ECORRUPT;
        return out ? bs_buf_append_u8(out, b) : 0;
    }
    case BS_TYPE_TINYINT: n = 1; goto fixed_flip;
    case BS_TYPE_SMALLINT: n = 2; goto fixed_flip;
    case BS_TYPE_INT: n = 4; goto fixed_flip;
    case BS_TYPE_BIGINT: case BS_TYPE_COUNTER: case BS_TYPE_TIMESTAMP:
    case BS_TYPE_TIME:
        n = 8;
    fixed_flip:
        if ((rc = rd_bytes(r, n, tmp))) return rc;
        tmp[0] ^= 0x80;
        return out ? bs_buf_append(out, tmp, n) : 0;
    case BS_TYPE_DATE:
        if ((rc = rd_bytes(r, 4, tmp))) return rc;
        return out ? bs_buf_append(out, tmp, 4) : 0;
    case BS_TYPE_FLOAT: {
        if ((rc = rd_bytes(r, 4, tmp))) return rc;
        uint32_t b = bs_get_u32(tmp);
        b = (b & 0x80000000u) ? b & 0x7FFFFFFFu : ~b;
        if ((b & 0x7FFFFFFFu) > 0x7F800000u && b != 0x7FC00000u)
            return BS_ECORRUPT;
        return out ? bs_buf_append_u32(out, b) : 0;
    }
    case BS_TYPE_DOUBLE: {
        if ((rc = rd_bytes(r, 8, tmp))) return rc;
        uint64_t b = bs_get_u64(tmp);
        b = (b & 0x8000000000000000ULL) ? b & 0x7FFFFFFFFFFFFFFFULL : ~b;
        if ((b & 0x7FFFFFFFFFFFFFFFULL) > 0x7FF0000000000000ULL &&
            b != 0x7FF8000000000000ULL)
            return BS_ECORRUPT;
        return out ? bs_buf_append_u64(out, b) : 0;
    }
    case BS_TYPE_UUID:
        if ((rc = rd_bytes(r, 16, tmp))) return rc;
        bs_put_u64(tmp, unpermute_uuid_msb(bs_get_u64(tmp)));
        return out ? bs_buf_append(out, tmp, 16) : 0;
    case BS_TYPE_TIMEUUID: {
        if ((rc = rd_bytes(r, 16, tmp))) return rc;
        uint64_t x = bs_get_u64(tmp) ^ 0x8000000000000000ULL;
        bs_put_u64(tmp, (x << 32) | ((x >> 16) & 0xFFFF0000ULL) | (x >> 48));
        for (int i = 8; i < 16; i++) tmp[i] ^= 0x80;
        return out ? bs_buf_append(out, tmp, 16) : 0;
    }
    case BS_TYPE_INET: {
        size_t at = out ? out->len : 0;
        if ((rc = dec_escaped(r, out, &n))) return rc;
        if (n != 4 && n != 16) {
            if (out) out->len = at;
            return BS_ECORRUPT;
        }
        return 0;
    }
    case BS_TYPE_ASCII: case BS_TYPE_VARCHAR: case BS_TYPE_BLOB:
        return dec_escaped(r, out, &n);
    case BS_TYPE_VARINT: return dec_varint(c, r, out);
    case BS_TYPE_DECIMAL: return dec_decimal(c, r, out);
    case BS_TYPE_LIST: case BS_TYPE_SET: case BS_TYPE_MAP:
        return dec_collection(c, t, r, out);
    case BS_TYPE_TUPLE: case BS_TYPE_UDT:
        for (unsigned i = 0; i < t->nparams; i++)
            if ((rc = dec_framed(c, t->params[i], r, out, 1))) return rc;
        return 0;
    default:
        return BS_EINVAL;
    }
}

static int dec_value(dec_ctx *c, const bs_type *t, krd *r, bs_buf *out,
                     int32_t *len) {
    int rc = check_type(t);
    if (rc) return rc;
    uint8_t tag;
    if ((rc = rd_u8(r, &tag))) return rc;
    if (tag == TAG_NULL) { *len = -1; return 0; }
    if (tag == TAG_EMPTY) { *len = 0; return 0; }
    if (tag != TAG_VALUE) return BS_ECORRUPT;
    size_t at = out ? out->len : 0;
    size_t p0 = r->pos;
    if ((rc = dec_payload(c, t, r, out))) return rc;
    /* Without `out` the native length is unknown; any non-empty payload
     * decodes to a non-empty value, so report 1. */
    size_t n = out ? out->len - at : (r->pos > p0);
    /* A value tag always carries a non-empty value (a zero-field tuple
     * can only be the empty value); INT32_MAX bounds a native [bytes]. */
    if (n == 0 || n > INT32_MAX) {
        if (out) out->len = at;
        return BS_ECORRUPT;
    }
    *len = (int32_t)n;
    return 0;
}

int bs_keycodec_decode(const bs_type *t, int desc, bs_rbuf *r, bs_buf *out,
                       int32_t *len_out) {
    krd k = {r->p, r->len, r->pos, desc ? 0xFF : 0x00};
    dec_ctx c = {BS_BUF_INIT, BS_BUF_INIT};
    size_t start = out ? out->len : 0;
    int32_t l = 0;
    int rc = dec_value(&c, t, &k, out, &l);
    bs_buf_free(&c.a);
    bs_buf_free(&c.b);
    if (rc) {
        if (out) out->len = start;
        return rc;
    }
    r->pos = k.pos;
    if (len_out) *len_out = l;
    return 0;
}

int bs_keycodec_skip(const bs_type *t, int desc, bs_rbuf *r) {
    return bs_keycodec_decode(t, desc, r, NULL, NULL);
}

int bs_keycodec_decode_prefix(bs_type *const *types, const uint8_t *desc,
                              size_t n, bs_rbuf *r, bs_arena *a,
                              bs_keycodec_value *vals, size_t *ndecoded) {
    bs_buf scratch = BS_BUF_INIT;
    size_t pos0 = r->pos, i;
    int rc = 0;
    size_t *off = n ? malloc(n * sizeof *off) : NULL;
    if (n && !off) return BS_ENOMEM;
    for (i = 0; i < n && bs_rbuf_left(r); i++) {
        off[i] = scratch.len;
        if ((rc = bs_keycodec_decode(types[i], desc ? desc[i] : 0, r, &scratch,
                                     &vals[i].len)))
            goto fail;
    }
    uint8_t *base = NULL;
    if (scratch.len && !(base = bs_arena_memdup(a, scratch.data, scratch.len))) {
        rc = BS_ENOMEM;
        goto fail;
    }
    for (size_t k = 0; k < i; k++)
        vals[k].data = vals[k].len > 0 ? base + off[k] : NULL;
    *ndecoded = i;
    free(off);
    bs_buf_free(&scratch);
    return 0;
fail:
    r->pos = pos0;
    free(off);
    bs_buf_free(&scratch);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Bounds                                                               */
/* ------------------------------------------------------------------ */

int bs_keycodec_prefix_successor(bs_buf *key) {
    size_t n = key->len;
    while (n > 0 && key->data[n - 1] == 0xFF) n--;
    if (n == 0) return BS_ERANGE;
    key->data[n - 1]++;
    key->len = n;
    return 0;
}

int bs_keycodec_bound(bs_buf *key, bs_keycodec_bound_kind kind) {
    switch (kind) {
    case BS_KEYCODEC_START_INCL: case BS_KEYCODEC_END_EXCL: return 0;
    case BS_KEYCODEC_START_EXCL: case BS_KEYCODEC_END_INCL:
        return bs_keycodec_prefix_successor(key);
    default: return BS_EINVAL;
    }
}
