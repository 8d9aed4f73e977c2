/*
 * test_keycodec.c - unit tests for storage/keycodec.c.
 *
 * The central check: for random values of every key type (with edge
 * values mixed in), sign(memcmp(enc(a), enc(b))) must equal the sign of
 * an ORACLE comparator written here from Cassandra's AbstractType
 * compare implementations (Int32Type, IntegerType.compareIntegers,
 * DecimalType via BigDecimal.compareTo, UUIDType, TimeUUIDType, ...),
 * working on the native-serialized values directly, by a different code
 * path than the encoder (no escaping, no permutations: byte-wise and
 * numeric comparisons as Cassandra does them).  DESC must give the
 * inverse sign.  Also: decode(encode(v)) compares equal to v and
 * re-encodes to the same bytes, multi-component keys with mixed ASC/DESC
 * compare lexicographically, prefix bounds select exactly the keys with
 * that prefix, and random corruption gives BS_ECORRUPT or a canonical
 * decode, never a crash (run this under ASan/UBSan).
 *
 * Documented deviation checked here too: a tuple's missing trailing field
 * equals an explicit null (Cassandra 4 also says so, but additionally
 * treats a trailing empty field as equal to a missing one, which is not a
 * total order; we keep empty > null).
 */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/buf.h"
#include "common/error.h"
#include "common/types.h"
#include "storage/keycodec.h"

/* ------------------------------------------------------------------ */
/* Random numbers and type construction                                 */
/* ------------------------------------------------------------------ */

typedef struct rng {
    uint64_t s;
} rng;

static uint64_t rnd(rng *r) {
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return r->s * 0x2545F4914F6CDD1DULL;
}
static uint32_t rn(rng *r, uint32_t n) { return (uint32_t)(rnd(r) % n); }

static bs_type *mk(bs_type_kind k) {
    bs_type *t = bs_type_new(k);
    ck_assert_ptr_nonnull(t);
    return t;
}
static bs_type *mk_coll(bs_type_kind k, bs_type *a, bs_type *b) {
    bs_type *t = bs_type_new_coll(k, a, b);
    ck_assert_ptr_nonnull(t);
    t->frozen = 1;
    return t;
}
static bs_type *mk_tuple(bs_type_kind k, int n, bs_type **f) {
    bs_type *t = mk(k);
    t->frozen = 1;
    static const char *names[] = {"a", "b", "c", "d"};
    for (int i = 0; i < n; i++)
        ck_assert_int_eq(bs_type_add_param(t, f[i], k == BS_TYPE_UDT ? names[i] : NULL), 0);
    return t;
}

static const bs_type_kind scalar_kinds[] = {
    BS_TYPE_ASCII, BS_TYPE_BIGINT, BS_TYPE_BLOB, BS_TYPE_BOOLEAN,
    BS_TYPE_COUNTER, BS_TYPE_DECIMAL, BS_TYPE_DOUBLE, BS_TYPE_FLOAT,
    BS_TYPE_INT, BS_TYPE_TIMESTAMP, BS_TYPE_UUID, BS_TYPE_VARCHAR,
    BS_TYPE_VARINT, BS_TYPE_TIMEUUID, BS_TYPE_INET, BS_TYPE_DATE,
    BS_TYPE_TIME, BS_TYPE_SMALLINT, BS_TYPE_TINYINT};
#define NSCALAR ((int)(sizeof scalar_kinds / sizeof scalar_kinds[0]))
#define NCOMPOSITE 10

/* Type number i: scalars first, then collections/tuples/UDTs. */
static bs_type *type_by_index(int i) {
    if (i < NSCALAR) return mk(scalar_kinds[i]);
    bs_type *f[4];
    switch (i - NSCALAR) {
    case 0: return mk_coll(BS_TYPE_LIST, mk(BS_TYPE_INT), NULL);
    case 1: return mk_coll(BS_TYPE_SET, mk(BS_TYPE_VARCHAR), NULL);
    case 2: return mk_coll(BS_TYPE_MAP, mk(BS_TYPE_INT), mk(BS_TYPE_VARCHAR));
    case 3: return mk_coll(BS_TYPE_LIST, mk(BS_TYPE_DOUBLE), NULL);
    case 4: return mk_coll(BS_TYPE_MAP, mk(BS_TYPE_VARINT), mk(BS_TYPE_DECIMAL));
    case 5:
        f[0] = mk(BS_TYPE_INT); f[1] = mk(BS_TYPE_VARCHAR); f[2] = mk(BS_TYPE_DOUBLE);
        return mk_tuple(BS_TYPE_TUPLE, 3, f);
    case 6:
        f[0] = mk(BS_TYPE_INT); f[1] = mk(BS_TYPE_VARCHAR); f[2] = mk(BS_TYPE_BOOLEAN);
        f[3] = mk(BS_TYPE_TIMEUUID);
        return mk_tuple(BS_TYPE_UDT, 4, f);
    case 7:
        f[0] = mk(BS_TYPE_INT); f[1] = mk(BS_TYPE_VARCHAR);
        return mk_coll(BS_TYPE_LIST, mk_tuple(BS_TYPE_TUPLE, 2, f), NULL);
    case 8:
        return mk_coll(BS_TYPE_MAP, mk(BS_TYPE_VARCHAR),
                       mk_coll(BS_TYPE_LIST, mk(BS_TYPE_INT), NULL));
    case 9:
        f[0] = mk_coll(BS_TYPE_SET, mk(BS_TYPE_BIGINT), NULL); f[1] = mk(BS_TYPE_UUID);
        return mk_tuple(BS_TYPE_TUPLE, 2, f);
    }
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Value generators (native serialized form)                            */
/* ------------------------------------------------------------------ */

static void put_be(bs_buf *b, uint64_t v, int w) {
    for (int i = w - 1; i >= 0; i--) ck_assert_int_eq(bs_buf_append_u8(b, (uint8_t)(v >> (8 * i))), 0);
}

static void gen_int(rng *r, bs_buf *b, int w) {
    uint64_t mask = w == 8 ? ~0ULL : ((1ULL << (8 * w)) - 1);
    uint64_t min = 1ULL << (8 * w - 1), max = min - 1;
    uint64_t v;
    switch (rn(r, 4)) {
    case 0: {
        const uint64_t e[] = {min, max, 0, mask, 1, min + 1, max - 1};
        v = e[rn(r, 7)];
        break;
    }
    case 1: v = (uint64_t)((int64_t)rn(r, 7) - 3); break;
    default: v = rnd(r);
    }
    put_be(b, v & mask, w);
}

/* Two's complement of x, sign-extended to at least its minimal length
 * plus `pad` bytes. */
static void put_twos(bs_buf *b, int64_t x, int pad) {
    int n = 8;
    while (n > 1) {
        int8_t top = (int8_t)((uint64_t)x >> (8 * (n - 1)));
        int8_t next = (int8_t)((uint64_t)x >> (8 * (n - 2)));
        if ((top == 0 && next >= 0) || (top == -1 && next < 0)) n--;
        else break;
    }
    for (int i = 0; i < pad; i++) ck_assert_int_eq(bs_buf_append_u8(b, x < 0 ? 0xFF : 0x00), 0);
    put_be(b, (uint64_t)x, n);
}

static void gen_varint(rng *r, bs_buf *b) {
    switch (rn(r, 5)) {
    case 0: case 1:
        put_twos(b, (int64_t)rn(r, 601) - 300, rn(r, 3) == 0 ? (int)rn(r, 4) : 0);
        break;
    case 2: { /* random bytes, 1..20 */
        int n = 1 + (int)rn(r, 20);
        for (int i = 0; i < n; i++) ck_assert_int_eq(bs_buf_append_u8(b, (uint8_t)rnd(r)), 0);
        break;
    }
    case 3: { /* edges: 0x80 00.., 0x7F FF.., 0xFF.., 0x00.. */
        int n = 1 + (int)rn(r, 20);
        static const uint8_t h[4] = {0x80, 0x7F, 0xFF, 0x00}, t[4] = {0x00, 0xFF, 0xFF, 0x00};
        int k = (int)rn(r, 4);
        ck_assert_int_eq(bs_buf_append_u8(b, h[k]), 0);
        for (int i = 1; i < n; i++) ck_assert_int_eq(bs_buf_append_u8(b, t[k]), 0);
        break;
    }
    default:
        put_twos(b, (int64_t)rnd(r), rn(r, 2) ? (int)rn(r, 12) : 0);
    }
}

static void gen_decimal(rng *r, bs_buf *b) {
    static const int32_t scales[] = {0, 1, 2, 3, -1, -2, 10, INT32_MAX, INT32_MIN,
                                     INT32_MAX - 1, INT32_MIN + 1, 5};
    int32_t s = rn(r, 3) ? (int32_t)rn(r, 7) - 3 : scales[rn(r, 12)];
    switch (rn(r, 4)) {
    case 0: case 1: { /* small value, then an equal value with more zeros */
        int64_t u = (int64_t)rn(r, 2001) - 1000;
        int k = (int)rn(r, 5);
        while (k > 0 && s <= INT32_MAX - k) { u *= 10; s++; k--; }
        put_be(b, (uint32_t)s, 4);
        put_twos(b, u, rn(r, 4) == 0 ? 1 : 0);
        break;
    }
    case 2:
        put_be(b, (uint32_t)s, 4);
        gen_varint(r, b);
        break;
    default:
        put_be(b, (uint32_t)s, 4);
        put_twos(b, 0, (int)rn(r, 2));
    }
}

static void gen_bytes(rng *r, bs_buf *b) {
    static const uint8_t alpha[] = {0x00, 0x01, 'a', 'b', 0x7F, 0x80, 0xFE, 0xFF};
    if (rn(r, 10) == 0) {
        int n = 100 + (int)rn(r, 300);
        for (int i = 0; i < n; i++)
            ck_assert_int_eq(bs_buf_append_u8(b, i < 50 ? alpha[i % 8] : (uint8_t)rnd(r)), 0);
        return;
    }
    int n = 1 + (int)rn(r, 6);
    for (int i = 0; i < n; i++) ck_assert_int_eq(bs_buf_append_u8(b, alpha[rn(r, 8)]), 0);
}

static uint64_t pool64(rng *r, uint64_t salt) {
    /* one of 5 fixed values, so equal and near-equal uuids occur */
    rng q = {0x9E3779B97F4A7C15ULL * (rn(r, 5) + 1) + salt};
    return rnd(&q);
}

static void gen_float_bits(rng *r, bs_buf *b, int dbl) {
    static const uint32_t fe[] = {0, 0x80000000u, 0x7f800000u, 0xff800000u, 0x7fc00000u,
                                  0xffc00000u, 0x7f800001u, 0xffffffffu, 1, 0x80000001u,
                                  0x7f7fffffu, 0xff7fffffu, 0x3f800000u, 0xbf800000u};
    static const uint64_t de[] = {0, 0x8000000000000000ULL, 0x7ff0000000000000ULL,
                                  0xfff0000000000000ULL, 0x7ff8000000000000ULL,
                                  0xfff8000000000000ULL, 0x7ff0000000000001ULL,
                                  0xffffffffffffffffULL, 1, 0x8000000000000001ULL,
                                  0x7fefffffffffffffULL, 0xffefffffffffffffULL,
                                  0x3ff0000000000000ULL, 0xbff0000000000000ULL};
    int mode = (int)rn(r, 3);
    if (dbl) {
        uint64_t v;
        if (mode == 0) v = de[rn(r, 14)];
        else if (mode == 1) { double d = ((int)rn(r, 13) - 6) * 0.5; memcpy(&v, &d, 8); }
        else v = rnd(r);
        put_be(b, v, 8);
    } else {
        uint32_t v;
        if (mode == 0) v = fe[rn(r, 14)];
        else if (mode == 1) { float f = ((int)rn(r, 13) - 6) * 0.5f; memcpy(&v, &f, 4); }
        else v = (uint32_t)rnd(r);
        put_be(b, v, 4);
    }
}

/* Appends a random value of type t; returns its length (0: empty). */
static int32_t gen(rng *r, const bs_type *t, bs_buf *b, int empty_pct) {
    size_t at = b->len;
    if ((int)rn(r, 100) < empty_pct) return 0;
    switch (t->kind) {
    case BS_TYPE_BOOLEAN: {
        static const uint8_t v[] = {0, 1, 1, 0, 0x05, 0xFF};
        ck_assert_int_eq(bs_buf_append_u8(b, v[rn(r, 6)]), 0);
        break;
    }
    case BS_TYPE_TINYINT: gen_int(r, b, 1); break;
    case BS_TYPE_SMALLINT: gen_int(r, b, 2); break;
    case BS_TYPE_INT: gen_int(r, b, 4); break;
    case BS_TYPE_BIGINT: case BS_TYPE_COUNTER: case BS_TYPE_TIMESTAMP:
    case BS_TYPE_TIME:
        gen_int(r, b, 8); break;
    case BS_TYPE_DATE: {
        static const uint32_t e[] = {0, 1, 0x7FFFFFFFu, 0x80000000u, 0x80000001u, 0xFFFFFFFFu};
        uint32_t v = rn(r, 2) ? e[rn(r, 6)] : (rn(r, 2) ? 0x80000000u + rn(r, 5) - 2 : (uint32_t)rnd(r));
        put_be(b, v, 4);
        break;
    }
    case BS_TYPE_FLOAT: gen_float_bits(r, b, 0); break;
    case BS_TYPE_DOUBLE: gen_float_bits(r, b, 1); break;
    case BS_TYPE_UUID: case BS_TYPE_TIMEUUID: {
        uint64_t msb = rn(r, 2) ? pool64(r, 1) : rnd(r);
        uint64_t lsb = rn(r, 2) ? pool64(r, 2) : rnd(r);
        static const uint64_t vers[] = {1, 4, 0, 15, 2, 8};
        uint64_t ver = t->kind == BS_TYPE_TIMEUUID && rn(r, 10) ? 1 : vers[rn(r, 6)];
        msb = (msb & ~0xF000ULL) | (ver << 12);
        if (rn(r, 4) == 0) { /* signed-vs-unsigned lsb edge bytes */
            static const uint8_t eb[] = {0x00, 0x7F, 0x80, 0xFF};
            lsb = 0;
            for (int i = 0; i < 8; i++) lsb = (lsb << 8) | eb[rn(r, 4)];
        }
        put_be(b, msb, 8);
        put_be(b, lsb, 8);
        break;
    }
    case BS_TYPE_INET: {
        static const uint8_t eb[] = {0x00, 0x01, 0x7F, 0x80, 0xFF};
        int n = rn(r, 2) ? 4 : 16;
        for (int i = 0; i < n; i++) ck_assert_int_eq(bs_buf_append_u8(b, eb[rn(r, 5)]), 0);
        break;
    }
    case BS_TYPE_ASCII: case BS_TYPE_VARCHAR: case BS_TYPE_BLOB:
        gen_bytes(r, b); break;
    case BS_TYPE_VARINT: gen_varint(r, b); break;
    case BS_TYPE_DECIMAL: gen_decimal(r, b); break;
    case BS_TYPE_LIST: case BS_TYPE_SET: case BS_TYPE_MAP: {
        uint32_t n = rn(r, 4);
        put_be(b, n, 4);
        for (uint32_t i = 0; i < n; i++)
            for (unsigned k = 0; k < (t->kind == BS_TYPE_MAP ? 2u : 1u); k++) {
                size_t lp = b->len;
                put_be(b, 0, 4);
                int32_t l = gen(r, t->params[k], b, 3);
                bs_put_u32(b->data + lp, (uint32_t)l);
            }
        break;
    }
    case BS_TYPE_TUPLE: case BS_TYPE_UDT: {
        unsigned nf = t->nparams;
        if (rn(r, 5) == 0) nf = rn(r, nf + 1); /* missing trailing fields */
        for (unsigned i = 0; i < nf; i++) {
            if (rn(r, 100) < 15) { put_be(b, rn(r, 4) ? 0xFFFFFFFFu : 0xFFFFFFFEu, 4); continue; }
            size_t lp = b->len;
            put_be(b, 0, 4);
            int32_t l = gen(r, t->params[i], b, 5);
            bs_put_u32(b->data + lp, (uint32_t)l);
        }
        break;
    }
    default: ck_abort_msg("no generator for kind %d", t->kind);
    }
    return (int32_t)(b->len - at);
}

/* ------------------------------------------------------------------ */
/* The oracle: Cassandra's comparison on native-serialized values       */
/* ------------------------------------------------------------------ */

static int sgn(long long x) { return (x > 0) - (x < 0); }

static int cmp_unsigned_bytes(const uint8_t *a, size_t an, const uint8_t *b, size_t bn) {
    size_t m = an < bn ? an : bn;
    for (size_t i = 0; i < m; i++)
        if (a[i] != b[i]) return a[i] < b[i] ? -1 : 1;
    return sgn((long long)an - (long long)bn);
}

static int64_t be_signed(const uint8_t *p, size_t n) {
    uint64_t v = (p[0] & 0x80) ? ~0ULL : 0;
    for (size_t i = 0; i < n; i++) v = (v << 8) | p[i];
    return (int64_t)v;
}

/* Java Float.compare / Double.compare */
static int java_cmp(double a, double b) {
    int na = isnan(a), nb = isnan(b);
    if (na || nb) return na - nb;
    if (a < b) return -1;
    if (a > b) return 1;
    return sgn((long long)(!signbit(a)) - (long long)(!signbit(b)));
}

/* IntegerType.compareIntegers, transcribed in spirit */
static size_t vi_msb_index(const uint8_t *v, size_t n) {
    size_t i = 0;
    for (; i + 1 < n; i++) {
        int8_t b0 = (int8_t)v[i], b1 = (int8_t)v[i + 1];
        if (b0 != 0 && b0 != -1) break;
        if (b0 == 0 && b1 != 0) { if (b1 > 0) i++; break; }
        if (b0 == -1 && b1 != -1) { if (b1 < 0) i++; break; }
    }
    return i;
}
static int cmp_varint(const uint8_t *a, size_t an, const uint8_t *b, size_t bn) {
    size_t ai = vi_msb_index(a, an), bi = vi_msb_index(b, bn);
    long long ad = (long long)(an - ai), bd = (long long)(bn - bi);
    int8_t am = (int8_t)a[ai], bm = (int8_t)b[bi];
    if (ad != bd) {
        if (am < 0) return bm < 0 ? sgn(bd - ad) : -1;
        if (bm < 0) return 1;
        return sgn(ad - bd);
    }
    if (am != bm) return am < bm ? -1 : 1;
    for (ai++, bi++; ai < an; ai++, bi++)
        if (a[ai] != b[bi]) return a[ai] < b[bi] ? -1 : 1;
    return 0;
}

/* A decimal as sign, adjusted exponent (#digits of |unscaled| - scale) and
 * significant digits without trailing zeros: repeated division by 10. */
typedef struct dparts {
    int sign;
    int64_t adj;
    char *dig;
    size_t nd;
} dparts;

static void dec_parts(const uint8_t *v, size_t n, dparts *d) {
    int32_t scale = (int32_t)bs_get_u32(v);
    size_t m = n - 4;
    uint8_t *mag = malloc(m);
    ck_assert_ptr_nonnull(mag);
    memcpy(mag, v + 4, m);
    d->sign = 1;
    if (mag[0] & 0x80) { /* 0 - x, bytewise with borrow */
        d->sign = -1;
        int borrow = 0;
        for (size_t i = m; i-- > 0;) {
            int x = 0 - mag[i] - borrow;
            borrow = x < 0;
            mag[i] = (uint8_t)(x + (borrow ? 256 : 0));
        }
    }
    d->dig = malloc(m * 3 + 2);
    ck_assert_ptr_nonnull(d->dig);
    size_t nd = 0;
    for (;;) {
        int nz = 0;
        for (size_t i = 0; i < m; i++) nz |= mag[i];
        if (!nz) break;
        unsigned rem = 0;
        for (size_t i = 0; i < m; i++) {
            unsigned cur = rem * 256 + mag[i];
            mag[i] = (uint8_t)(cur / 10);
            rem = cur % 10;
        }
        d->dig[nd++] = (char)('0' + rem);
    }
    free(mag);
    if (nd == 0) { d->sign = 0; d->nd = 0; d->adj = 0; return; }
    for (size_t i = 0; i < nd / 2; i++) {
        char c = d->dig[i]; d->dig[i] = d->dig[nd - 1 - i]; d->dig[nd - 1 - i] = c;
    }
    d->adj = (int64_t)nd - scale;
    while (d->dig[nd - 1] == '0') nd--;
    d->nd = nd;
}

static int cmp_decimal(const uint8_t *a, size_t an, const uint8_t *b, size_t bn) {
    dparts x, y;
    dec_parts(a, an, &x);
    dec_parts(b, bn, &y);
    int c;
    if (x.sign != y.sign) c = x.sign < y.sign ? -1 : 1;
    else if (x.sign == 0) c = 0;
    else {
        if (x.adj != y.adj) c = x.adj < y.adj ? -1 : 1;
        else c = cmp_unsigned_bytes((uint8_t *)x.dig, x.nd, (uint8_t *)y.dig, y.nd);
        c *= x.sign;
    }
    free(x.dig);
    free(y.dig);
    return c;
}

/* UUIDType: version, then v1 timestamp bytes, then 16 bytes unsigned */
static int cmp_uuid(const uint8_t *a, const uint8_t *b) {
    int va = a[6] >> 4, vb = b[6] >> 4;
    if (va != vb) return sgn(va - vb);
    if (va == 1) {
        static const int order[] = {6, 7, 4, 5, 0, 1, 2, 3};
        for (int k = 0; k < 8; k++) {
            int i = order[k];
            int x = k == 0 ? (a[i] & 0xF) : a[i], y = k == 0 ? (b[i] & 0xF) : b[i];
            if (x != y) return sgn(x - y);
        }
    }
    return cmp_unsigned_bytes(a, 16, b, 16);
}

/* TimeUUIDType: reordered msb as a signed long (byte 6 signed, then 7, 4,
 * 5, 0..3 unsigned), then the lsb as 8 signed bytes */
static int cmp_timeuuid(const uint8_t *a, const uint8_t *b) {
    static const int order[] = {6, 7, 4, 5, 0, 1, 2, 3};
    for (int k = 0; k < 8; k++) {
        int i = order[k];
        int x = k == 0 ? (int8_t)a[i] : a[i], y = k == 0 ? (int8_t)b[i] : b[i];
        if (x != y) return sgn(x - y);
    }
    for (int i = 8; i < 16; i++)
        if (a[i] != b[i]) return sgn((int8_t)a[i] - (int8_t)b[i]);
    return 0;
}

static int cmp_native(const bs_type *t, const uint8_t *a, int32_t al,
                      const uint8_t *b, int32_t bl);

static int32_t rd_len(const uint8_t **p) {
    int32_t l = (int32_t)bs_get_u32(*p);
    *p += 4;
    return l;
}

static int cmp_coll(const bs_type *t, const uint8_t *a, const uint8_t *b) {
    int32_t na = rd_len(&a), nb = rd_len(&b);
    int per = t->kind == BS_TYPE_MAP ? 2 : 1;
    for (int32_t i = 0; i < (na < nb ? na : nb); i++)
        for (int k = 0; k < per; k++) {
            int32_t la = rd_len(&a), lb = rd_len(&b);
            int c = cmp_native(t->params[k], a, la, b, lb);
            a += la;
            b += lb;
            if (c) return c;
        }
    return sgn((long long)na - nb);
}

static int cmp_tuple(const bs_type *t, const uint8_t *a, int32_t al,
                     const uint8_t *b, int32_t bl) {
    const uint8_t *ae = a + al, *be = b + bl;
    unsigned i = 0;
    for (; a < ae && b < be; i++) {
        int32_t la = rd_len(&a), lb = rd_len(&b);
        if (la < 0 || lb < 0) {
            if (la < 0 && lb < 0) continue;
            return la < 0 ? -1 : 1;
        }
        int c = cmp_native(t->params[i], a, la, b, lb);
        a += la;
        b += lb;
        if (c) return c;
    }
    /* trailing fields: any non-null one makes its side greater */
    for (; a < ae;) { int32_t l = rd_len(&a); if (l >= 0) return 1; }
    for (; b < be;) { int32_t l = rd_len(&b); if (l >= 0) return -1; }
    return 0;
}

static int cmp_native(const bs_type *t, const uint8_t *a, int32_t al,
                      const uint8_t *b, int32_t bl) {
    if (al <= 0 || bl <= 0) /* null < empty < anything (null: tuples only) */
        return sgn((long long)(al < 0 ? -1 : al > 0) - (bl < 0 ? -1 : bl > 0));
    switch (t->kind) {
    case BS_TYPE_BOOLEAN: return sgn((a[0] != 0) - (b[0] != 0));
    case BS_TYPE_TINYINT: case BS_TYPE_SMALLINT: case BS_TYPE_INT:
    case BS_TYPE_BIGINT: case BS_TYPE_COUNTER: case BS_TYPE_TIMESTAMP:
    case BS_TYPE_TIME: {
        int64_t x = be_signed(a, (size_t)al), y = be_signed(b, (size_t)bl);
        return (x > y) - (x < y);
    }
    case BS_TYPE_DATE: {
        uint32_t x = bs_get_u32(a), y = bs_get_u32(b);
        return (x > y) - (x < y);
    }
    case BS_TYPE_FLOAT: {
        uint32_t x = bs_get_u32(a), y = bs_get_u32(b);
        float f, g;
        memcpy(&f, &x, 4);
        memcpy(&g, &y, 4);
        return java_cmp(f, g);
    }
    case BS_TYPE_DOUBLE: {
        uint64_t x = bs_get_u64(a), y = bs_get_u64(b);
        double f, g;
        memcpy(&f, &x, 8);
        memcpy(&g, &y, 8);
        return java_cmp(f, g);
    }
    case BS_TYPE_UUID: return cmp_uuid(a, b);
    case BS_TYPE_TIMEUUID: return cmp_timeuuid(a, b);
    case BS_TYPE_ASCII: case BS_TYPE_VARCHAR: case BS_TYPE_BLOB: case BS_TYPE_INET:
        return cmp_unsigned_bytes(a, (size_t)al, b, (size_t)bl);
    case BS_TYPE_VARINT: return cmp_varint(a, (size_t)al, b, (size_t)bl);
    case BS_TYPE_DECIMAL: return cmp_decimal(a, (size_t)al, b, (size_t)bl);
    case BS_TYPE_LIST: case BS_TYPE_SET: case BS_TYPE_MAP: return cmp_coll(t, a, b);
    case BS_TYPE_TUPLE: case BS_TYPE_UDT: return cmp_tuple(t, a, al, b, bl);
    }
    ck_abort_msg("oracle: kind %d", t->kind);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Helpers                                                              */
/* ------------------------------------------------------------------ */

typedef struct blob {
    uint8_t *p;
    size_t n;
} blob;

static int cmp_blob(const blob *a, const blob *b) {
    return cmp_unsigned_bytes(a->p, a->n, b->p, b->n);
}

static blob take(bs_buf *b) {
    blob r;
    r.n = b->len;
    r.p = malloc(b->len ? b->len : 1);
    ck_assert_ptr_nonnull(r.p);
    if (b->len) memcpy(r.p, b->data, b->len);
    bs_buf_reset(b);
    return r;
}

static blob enc1(const bs_type *t, const uint8_t *v, int32_t l, int desc) {
    bs_buf b = BS_BUF_INIT;
    int rc = bs_keycodec_encode(t, v, l, desc, &b);
    ck_assert_msg(rc == 0, "encode kind %d len %d: %s", t->kind, l, bs_strerror(rc));
    blob r = take(&b);
    bs_buf_free(&b);
    return r;
}

/* Decodes `e` completely, checks the value equals v by the oracle and
 * re-encodes to the same bytes. */
static void check_roundtrip(const bs_type *t, const uint8_t *v, int32_t l,
                            const blob *e, int desc) {
    bs_rbuf r;
    bs_rbuf_init(&r, e->p, e->n);
    bs_buf out = BS_BUF_INIT;
    int32_t dl = 99;
    ck_assert_int_eq(bs_keycodec_decode(t, desc, &r, &out, &dl), 0);
    ck_assert_uint_eq(bs_rbuf_left(&r), 0);
    ck_assert_int_eq(dl < 0 ? -1 : (int32_t)out.len, dl);
    ck_assert_int_eq(cmp_native(t, v, l, out.data, dl), 0);
    blob again = enc1(t, out.data, dl, desc);
    ck_assert_int_eq(cmp_blob(&again, e), 0);
    free(again.p);
    /* skip consumes the same bytes */
    bs_rbuf_init(&r, e->p, e->n);
    ck_assert_int_eq(bs_keycodec_skip(t, desc, &r), 0);
    ck_assert_uint_eq(bs_rbuf_left(&r), 0);
    bs_buf_free(&out);
}

/* ------------------------------------------------------------------ */
/* Order, per type                                                      */
/* ------------------------------------------------------------------ */

#define NVALS 2000
#define NALL 250 /* all pairs among the first NALL values */

static int cmp_idx_enc(const void *x, const void *y, void *ctx) {
    blob *e = ctx;
    return cmp_blob(&e[*(const int *)x], &e[*(const int *)y]);
}

START_TEST(order_matches_cassandra_for_every_type) {
    bs_type *t = type_by_index(_i);
    rng r = {0x1234567ULL + (uint64_t)_i * 7919};
    bs_buf vb = BS_BUF_INIT;
    blob *v = calloc(NVALS, sizeof *v), *ea = calloc(NVALS, sizeof *ea),
         *ed = calloc(NVALS, sizeof *ed);
    int32_t *vl = calloc(NVALS, sizeof *vl);
    for (int i = 0; i < NVALS; i++) {
        vl[i] = gen(&r, t, &vb, 4);
        v[i] = take(&vb);
        ea[i] = enc1(t, v[i].p, vl[i], 0);
        ed[i] = enc1(t, v[i].p, vl[i], 1);
        ck_assert_uint_eq(ea[i].n, ed[i].n);
        for (size_t k = 0; k < ea[i].n; k++) ck_assert_uint_eq(ea[i].p[k] ^ 0xFF, ed[i].p[k]);
        check_roundtrip(t, v[i].p, vl[i], &ea[i], 0);
        check_roundtrip(t, v[i].p, vl[i], &ed[i], 1);
    }
    long counts[3] = {0, 0, 0};
    for (int i = 0; i < NALL; i++)
        for (int j = 0; j < NALL; j++) {
            int o = cmp_native(t, v[i].p, vl[i], v[j].p, vl[j]);
            int ca = sgn(cmp_blob(&ea[i], &ea[j])), cd = sgn(cmp_blob(&ed[i], &ed[j]));
            ck_assert_msg(ca == o, "type %d: values %d,%d oracle %d asc %d", _i, i, j, o, ca);
            ck_assert_int_eq(cd, -o);
            counts[o + 1]++;
        }
    for (int k = 0; k < NVALS * 10; k++) {
        int i = (int)rn(&r, NVALS), j = (int)rn(&r, NVALS);
        int o = cmp_native(t, v[i].p, vl[i], v[j].p, vl[j]);
        ck_assert_int_eq(sgn(cmp_blob(&ea[i], &ea[j])), o);
        ck_assert_int_eq(sgn(cmp_blob(&ed[i], &ed[j])), -o);
        counts[o + 1]++;
    }
    /* sorted by encoding, neighbours are in oracle order */
    int *idx = malloc(NVALS * sizeof *idx);
    for (int i = 0; i < NVALS; i++) idx[i] = i;
    qsort_r(idx, NVALS, sizeof *idx, cmp_idx_enc, ea);
    for (int i = 1; i < NVALS; i++) {
        int a = idx[i - 1], b = idx[i];
        int o = cmp_native(t, v[a].p, vl[a], v[b].p, vl[b]);
        ck_assert_int_eq(o, sgn(cmp_blob(&ea[a], &ea[b])));
    }
    /* the three outcomes were all exercised, including equal values */
    ck_assert_int_gt(counts[0], 0);
    ck_assert_int_gt(counts[1], NALL);
    ck_assert_int_gt(counts[2], 0);
    for (int i = 0; i < NVALS; i++) { free(v[i].p); free(ea[i].p); free(ed[i].p); }
    free(v); free(ea); free(ed); free(vl); free(idx);
    bs_buf_free(&vb);
    bs_type_free(t);
}
END_TEST

/* ------------------------------------------------------------------ */
/* The decimal oracle itself against exact arithmetic                   */
/* ------------------------------------------------------------------ */

static void put_dec(bs_buf *b, int32_t scale, int64_t u, int pad) {
    put_be(b, (uint32_t)scale, 4);
    put_twos(b, u, pad);
}

START_TEST(decimal_oracle_and_encoder_agree_with_exact_arithmetic) {
    rng r = {42};
    bs_type *t = mk(BS_TYPE_DECIMAL);
    bs_buf a = BS_BUF_INIT, b = BS_BUF_INIT;
    int eq = 0;
    for (int k = 0; k < 20000; k++) {
        int64_t ua = (int64_t)rn(&r, 2000001) - 1000000, ub = (int64_t)rn(&r, 2000001) - 1000000;
        if (rn(&r, 2)) ub = ua * 10;
        if (rn(&r, 4) == 0) ua = (int64_t)rn(&r, 21) - 10;
        int32_t sa = (int32_t)rn(&r, 21) - 10, sb = rn(&r, 2) ? sa + 1 : (int32_t)rn(&r, 21) - 10;
        bs_buf_reset(&a);
        bs_buf_reset(&b);
        put_dec(&a, sa, ua, (int)rn(&r, 2));
        put_dec(&b, sb, ub, (int)rn(&r, 2));
        int smax = sa > sb ? sa : sb;
        __int128 x = ua, y = ub;
        for (int i = sa; i < smax; i++) x *= 10;
        for (int i = sb; i < smax; i++) y *= 10;
        int exact = (x > y) - (x < y);
        eq += exact == 0;
        ck_assert_int_eq(cmp_native(t, a.data, (int32_t)a.len, b.data, (int32_t)b.len), exact);
        blob ea = enc1(t, a.data, (int32_t)a.len, 0), eb = enc1(t, b.data, (int32_t)b.len, 0);
        ck_assert_int_eq(sgn(cmp_blob(&ea, &eb)), exact);
        free(ea.p);
        free(eb.p);
    }
    ck_assert_int_gt(eq, 100);
    bs_buf_free(&a);
    bs_buf_free(&b);
    bs_type_free(t);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Known encodings and documented decisions                             */
/* ------------------------------------------------------------------ */

static blob encb(bs_type_kind k, const void *v, int32_t l, int desc) {
    bs_type *t = mk(k);
    blob b = enc1(t, v, l, desc);
    bs_type_free(t);
    return b;
}

static void expect_bytes(const blob *b, const uint8_t *want, size_t n) {
    ck_assert_uint_eq(b->n, n);
    ck_assert_int_eq(memcmp(b->p, want, n), 0);
}

START_TEST(known_encodings) {
    blob b;
    b = encb(BS_TYPE_INT, "\x00\x00\x00\x01", 4, 0);
    expect_bytes(&b, (const uint8_t *)"\x03\x80\x00\x00\x01", 5); free(b.p);
    b = encb(BS_TYPE_INT, "\xff\xff\xff\xff", 4, 0);
    expect_bytes(&b, (const uint8_t *)"\x03\x7f\xff\xff\xff", 5); free(b.p);
    b = encb(BS_TYPE_INT, "\x00\x00\x00\x01", 4, 1);
    expect_bytes(&b, (const uint8_t *)"\xfc\x7f\xff\xff\xfe", 5); free(b.p);
    b = encb(BS_TYPE_VARCHAR, "a\0b", 3, 0);
    expect_bytes(&b, (const uint8_t *)"\x03" "a\x00\xff" "b\x00\x01", 7); free(b.p);
    b = encb(BS_TYPE_VARCHAR, "", 0, 0);
    expect_bytes(&b, (const uint8_t *)"\x02", 1); free(b.p);
    b = encb(BS_TYPE_BLOB, NULL, -1, 0);
    expect_bytes(&b, (const uint8_t *)"\x01", 1); free(b.p);
    b = encb(BS_TYPE_VARINT, "\x00", 1, 0);
    expect_bytes(&b, (const uint8_t *)"\x03\x80", 2); free(b.p);
    b = encb(BS_TYPE_VARINT, "\x00\x00\x01", 3, 0);
    expect_bytes(&b, (const uint8_t *)"\x03\x81\x01", 3); free(b.p);
    b = encb(BS_TYPE_VARINT, "\xff", 1, 0); /* -1 */
    expect_bytes(&b, (const uint8_t *)"\x03\x7e\xfe", 3); free(b.p);
    /* decimal 1.5 = 15e-1: 0.15 * 10^1 -> POS, INT(1), pair 15 -> 16, end */
    b = encb(BS_TYPE_DECIMAL, "\x00\x00\x00\x01\x0f", 5, 0);
    expect_bytes(&b, (const uint8_t *)"\x03\x03\x81\x01\x10\x00", 6); free(b.p);
    b = encb(BS_TYPE_BOOLEAN, "\x05", 1, 0);
    expect_bytes(&b, (const uint8_t *)"\x03\x01", 2); free(b.p);
    b = encb(BS_TYPE_DATE, "\x80\x00\x00\x00", 4, 0);
    expect_bytes(&b, (const uint8_t *)"\x03\x80\x00\x00\x00", 5); free(b.p);
}
END_TEST

/* decode(encode(x)) bytes for a scalar */
static blob canon(bs_type_kind k, const void *v, int32_t l) {
    bs_type *t = mk(k);
    blob e = enc1(t, v, l, 0);
    bs_rbuf r;
    bs_rbuf_init(&r, e.p, e.n);
    bs_buf out = BS_BUF_INIT;
    int32_t dl;
    ck_assert_int_eq(bs_keycodec_decode(t, 0, &r, &out, &dl), 0);
    free(e.p);
    blob d = take(&out);
    bs_buf_free(&out);
    bs_type_free(t);
    return d;
}

START_TEST(canonicalization_of_equal_values) {
    /* decimal: 1 == 1.0 == 1.00 == 100e-2; decodes as unscaled 1, scale 0 */
    blob e1 = encb(BS_TYPE_DECIMAL, "\x00\x00\x00\x00\x01", 5, 0);
    blob e2 = encb(BS_TYPE_DECIMAL, "\x00\x00\x00\x01\x0a", 5, 0);
    blob e3 = encb(BS_TYPE_DECIMAL, "\x00\x00\x00\x02\x00\x64", 6, 0);
    ck_assert_int_eq(cmp_blob(&e1, &e2), 0);
    ck_assert_int_eq(cmp_blob(&e1, &e3), 0);
    free(e1.p); free(e2.p); free(e3.p);
    blob d = canon(BS_TYPE_DECIMAL, "\x00\x00\x00\x02\x00\x64", 6);
    expect_bytes(&d, (const uint8_t *)"\x00\x00\x00\x00\x01", 5); free(d.p);
    /* -12.300 -> -123e-1 */
    d = canon(BS_TYPE_DECIMAL, "\x00\x00\x00\x03\xcf\xf4", 6); /* -12300 */
    expect_bytes(&d, (const uint8_t *)"\x00\x00\x00\x01\x85", 5); free(d.p);
    /* zero with any scale is 0 */
    d = canon(BS_TYPE_DECIMAL, "\x00\x00\x00\x07\x00\x00", 6);
    expect_bytes(&d, (const uint8_t *)"\x00\x00\x00\x00\x00", 5); free(d.p);
    /* 1000 * 10^(2^31): trailing zeros cannot all move into the scale */
    d = canon(BS_TYPE_DECIMAL, "\x80\x00\x00\x00\x03\xe8", 6);
    expect_bytes(&d, (const uint8_t *)"\x80\x00\x00\x00\x03\xe8", 6); free(d.p);
    d = canon(BS_TYPE_DECIMAL, "\x7f\xff\xff\xff\x00\x03\xe8", 7);
    expect_bytes(&d, (const uint8_t *)"\x7f\xff\xff\xfc\x01", 5); free(d.p);
    /* varint: non-minimal forms decode minimal */
    d = canon(BS_TYPE_VARINT, "\xff\xff\x80", 3);
    expect_bytes(&d, (const uint8_t *)"\x80", 1); free(d.p);
    d = canon(BS_TYPE_VARINT, "\x00\x00\x80", 3);
    expect_bytes(&d, (const uint8_t *)"\x00\x80", 2); free(d.p);
    d = canon(BS_TYPE_VARINT, "\xff\x7f", 2);
    expect_bytes(&d, (const uint8_t *)"\xff\x7f", 2); free(d.p);
    /* booleans and NaNs */
    d = canon(BS_TYPE_BOOLEAN, "\x7f", 1);
    expect_bytes(&d, (const uint8_t *)"\x01", 1); free(d.p);
    d = canon(BS_TYPE_FLOAT, "\xff\x80\x00\x01", 4);
    expect_bytes(&d, (const uint8_t *)"\x7f\xc0\x00\x00", 4); free(d.p);
    d = canon(BS_TYPE_DOUBLE, "\x7f\xf0\x00\x00\x00\x00\x00\x01", 8);
    expect_bytes(&d, (const uint8_t *)"\x7f\xf8\x00\x00\x00\x00\x00\x00", 8); free(d.p);
    /* -0.0 stays distinct from 0.0 and sorts before it */
    blob m0 = encb(BS_TYPE_DOUBLE, "\x80\x00\x00\x00\x00\x00\x00\x00", 8, 0);
    blob p0 = encb(BS_TYPE_DOUBLE, "\x00\x00\x00\x00\x00\x00\x00\x00", 8, 0);
    blob inf = encb(BS_TYPE_DOUBLE, "\x7f\xf0\x00\x00\x00\x00\x00\x00", 8, 0);
    blob nan = encb(BS_TYPE_DOUBLE, "\xff\xf8\x00\x00\x00\x00\x00\x07", 8, 0);
    ck_assert_int_lt(cmp_blob(&m0, &p0), 0);
    ck_assert_int_lt(cmp_blob(&inf, &nan), 0);
    free(m0.p); free(p0.p); free(inf.p); free(nan.p);
}
END_TEST

START_TEST(tuple_missing_trailing_fields_are_nulls) {
    bs_type *f[2] = {mk(BS_TYPE_INT), mk(BS_TYPE_VARCHAR)};
    bs_type *t = mk_tuple(BS_TYPE_TUPLE, 2, f);
    const uint8_t one[] = {0, 0, 0, 4, 0, 0, 0, 1};
    const uint8_t one_null[] = {0, 0, 0, 4, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff};
    const uint8_t one_empty[] = {0, 0, 0, 4, 0, 0, 0, 1, 0, 0, 0, 0};
    blob a = enc1(t, one, 8, 0), b = enc1(t, one_null, 12, 0), c = enc1(t, one_empty, 12, 0);
    ck_assert_int_eq(cmp_blob(&a, &b), 0);
    ck_assert_int_lt(cmp_blob(&b, &c), 0);
    /* decode makes the null explicit */
    bs_rbuf r;
    bs_rbuf_init(&r, a.p, a.n);
    bs_buf out = BS_BUF_INIT;
    ck_assert_int_eq(bs_keycodec_decode(t, 0, &r, &out, NULL), 0);
    ck_assert_uint_eq(out.len, 12);
    ck_assert_int_eq(memcmp(out.data, one_null, 12), 0);
    /* more fields than declared, or a short field, is invalid */
    const uint8_t extra[] = {0, 0, 0, 4, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0};
    bs_buf e = BS_BUF_INIT;
    ck_assert_int_eq(bs_keycodec_encode(t, extra, 16, 0, &e), BS_EINVAL);
    ck_assert_int_eq(bs_keycodec_encode(t, one, 7, 0, &e), BS_EINVAL);
    ck_assert_uint_eq(e.len, 0);
    free(a.p); free(b.p); free(c.p);
    bs_buf_free(&out);
    bs_buf_free(&e);
    bs_type_free(t);
}
END_TEST

START_TEST(invalid_and_unsupported_inputs) {
    bs_buf b = BS_BUF_INIT;
    bs_type *t;
    ck_assert_int_eq(bs_buf_append(&b, "zz", 2), 0);
    t = mk(BS_TYPE_DURATION);
    ck_assert_int_eq(bs_keycodec_encode(t, (const uint8_t *)"\x02\x02\x02", 3, 0, &b), BS_ENOTSUP);
    ck_assert_int_eq(bs_keycodec_encode(t, NULL, 0, 0, &b), BS_ENOTSUP);
    bs_type_free(t);
    t = mk(BS_TYPE_CUSTOM);
    ck_assert_int_eq(bs_keycodec_encode(t, (const uint8_t *)"x", 1, 0, &b), BS_ENOTSUP);
    bs_type_free(t);
    t = mk(BS_TYPE_INT);
    ck_assert_int_eq(bs_keycodec_encode(t, (const uint8_t *)"\0\0\0", 3, 0, &b), BS_EINVAL);
    bs_type_free(t);
    t = mk(BS_TYPE_INET);
    ck_assert_int_eq(bs_keycodec_encode(t, (const uint8_t *)"\1\2\3\4\5", 5, 0, &b), BS_EINVAL);
    bs_type_free(t);
    t = mk(BS_TYPE_DECIMAL);
    ck_assert_int_eq(bs_keycodec_encode(t, (const uint8_t *)"\0\0\0\1", 4, 0, &b), BS_EINVAL);
    bs_type_free(t);
    t = mk_coll(BS_TYPE_LIST, mk(BS_TYPE_INT), NULL);
    const uint8_t nullelem[] = {0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff};
    ck_assert_int_eq(bs_keycodec_encode(t, nullelem, 8, 0, &b), BS_EINVAL);
    const uint8_t shortlist[] = {0, 0, 0, 2, 0, 0, 0, 4, 0, 0, 0, 1};
    ck_assert_int_eq(bs_keycodec_encode(t, shortlist, 12, 0, &b), BS_EINVAL);
    const uint8_t badelem[] = {0, 0, 0, 1, 0, 0, 0, 2, 0, 1};
    ck_assert_int_eq(bs_keycodec_encode(t, badelem, 10, 0, &b), BS_EINVAL);
    bs_type_free(t);
    t = mk(BS_TYPE_LIST); /* no element type */
    ck_assert_int_eq(bs_keycodec_encode(t, shortlist, 12, 0, &b), BS_EINVAL);
    bs_type_free(t);
    /* nothing was appended by the failures */
    ck_assert_uint_eq(b.len, 2);
    /* too-large decimal */
    t = mk(BS_TYPE_DECIMAL);
    size_t n = 4 + BS_KEYCODEC_MAX_DECIMAL_BYTES + 1;
    uint8_t *big = calloc(1, n);
    big[4] = 1;
    ck_assert_int_eq(bs_keycodec_encode(t, big, (int32_t)n, 0, &b), BS_ETOOBIG);
    free(big);
    bs_type_free(t);
    bs_buf_free(&b);
}
END_TEST

START_TEST(large_numbers_round_trip_and_order) {
    rng r = {7};
    bs_type *vt = mk(BS_TYPE_VARINT), *dt = mk(BS_TYPE_DECIMAL);
    bs_buf v = BS_BUF_INIT;
    /* varints around the 126/127-byte short/long header boundary */
    blob e[8];
    blob vals[8];
    int32_t vl[8];
    static const int sizes[8] = {125, 126, 127, 128, 300, 126, 127, 2000};
    for (int i = 0; i < 8; i++) {
        ck_assert_int_eq(bs_buf_append_u8(&v, i < 5 ? 0x7f : 0x80), 0);
        for (int k = 1; k < sizes[i]; k++) ck_assert_int_eq(bs_buf_append_u8(&v, (uint8_t)rnd(&r)), 0);
        vl[i] = (int32_t)v.len;
        vals[i] = take(&v);
        e[i] = enc1(vt, vals[i].p, vl[i], 0);
        check_roundtrip(vt, vals[i].p, vl[i], &e[i], 0);
    }
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < 8; j++)
            ck_assert_int_eq(sgn(cmp_blob(&e[i], &e[j])),
                             cmp_native(vt, vals[i].p, vl[i], vals[j].p, vl[j]));
    ck_assert_uint_eq(e[2].p[1], 0xFF); /* long form header */
    ck_assert_uint_eq(e[6].p[1], 0x00); /* negative long form */
    /* a 2000-byte decimal, and the same value times 10 with scale + 1 */
    for (int i = 0; i < 8; i++) { free(e[i].p); free(vals[i].p); }
    put_be(&v, 3, 4);
    ck_assert_int_eq(bs_buf_append_u8(&v, 0x12), 0);
    for (int k = 1; k < 2000; k++) ck_assert_int_eq(bs_buf_append_u8(&v, (uint8_t)rnd(&r)), 0);
    blob d1 = take(&v);
    blob ed1 = enc1(dt, d1.p, (int32_t)d1.n, 1);
    check_roundtrip(dt, d1.p, (int32_t)d1.n, &ed1, 1);
    blob ed2 = enc1(dt, d1.p, (int32_t)d1.n - 1, 1); /* ~ /256: smaller */
    ck_assert_int_lt(cmp_blob(&ed1, &ed2), 0); /* DESC: the larger sorts first */
    free(d1.p); free(ed1.p); free(ed2.p);
    bs_buf_free(&v);
    bs_type_free(vt);
    bs_type_free(dt);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Multi-component keys                                                 */
/* ------------------------------------------------------------------ */

#define NCOMP 6

typedef struct key {
    int n;
    bs_keycodec_value v[NCOMP];
    blob store[NCOMP];
    blob enc;
} key;

static bs_type *g_kt[NCOMP];
static const uint8_t g_kdesc[NCOMP] = {0, 1, 0, 1, 1, 0};

static void key_types(void) {
    bs_type *f[2] = {mk(BS_TYPE_INT), mk(BS_TYPE_VARCHAR)};
    g_kt[0] = mk(BS_TYPE_TINYINT);
    g_kt[1] = mk(BS_TYPE_VARCHAR);
    g_kt[2] = mk_tuple(BS_TYPE_TUPLE, 2, f);
    g_kt[3] = mk(BS_TYPE_DOUBLE);
    g_kt[4] = mk(BS_TYPE_VARINT);
    g_kt[5] = mk(BS_TYPE_DECIMAL);
}
static void key_types_free(void) {
    for (int i = 0; i < NCOMP; i++) bs_type_free(g_kt[i]);
}

/* Small domains so that keys share prefixes often. */
static void gen_key(rng *r, key *k, int n) {
    bs_buf b = BS_BUF_INIT;
    k->n = n;
    for (int i = 0; i < n; i++) {
        int32_t l;
        if (i == 0) { l = 1; ck_assert_int_eq(bs_buf_append_u8(&b, (uint8_t)(rn(r, 3) + 0x7f)), 0); }
        else if (i == 1 && rn(r, 3)) {
            static const char *s[] = {"", "a", "a\0", "a\1", "b"};
            int j = (int)rn(r, 5);
            l = j == 0 ? 0 : (j == 1 || j == 4 ? 1 : 2);
            ck_assert_int_eq(bs_buf_append(&b, s[j], (size_t)l), 0);
        } else l = gen(r, g_kt[i], &b, 5);
        k->v[i].len = l;
        k->store[i] = take(&b);
        k->v[i].data = k->store[i].p;
    }
    ck_assert_int_eq(bs_keycodec_encode_prefix(g_kt, g_kdesc, (size_t)n, k->v, &b), 0);
    k->enc = take(&b);
    bs_buf_free(&b);
}
static void key_free(key *k) {
    for (int i = 0; i < k->n; i++) free(k->store[i].p);
    free(k->enc.p);
}

/* Component-wise oracle; a shorter equal prefix sorts first. */
static int cmp_key(const key *a, const key *b, int upto) {
    int m = a->n < b->n ? a->n : b->n;
    if (upto < m) m = upto;
    for (int i = 0; i < m; i++) {
        int c = cmp_native(g_kt[i], a->v[i].data, a->v[i].len, b->v[i].data, b->v[i].len);
        if (c) return g_kdesc[i] ? -c : c;
    }
    int an = a->n < upto ? a->n : upto, bn = b->n < upto ? b->n : upto;
    return sgn(an - bn);
}

START_TEST(multi_component_keys_compare_lexicographically) {
    key_types();
    rng r = {99};
    enum { N = 600 };
    key *k = calloc(N, sizeof *k);
    for (int i = 0; i < N; i++) gen_key(&r, &k[i], (int)rn(&r, NCOMP + 1));
    long counts[3] = {0, 0, 0};
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) {
            int o = cmp_key(&k[i], &k[j], NCOMP);
            ck_assert_msg(sgn(cmp_blob(&k[i].enc, &k[j].enc)) == o, "keys %d %d", i, j);
            counts[o + 1]++;
        }
    ck_assert_int_gt(counts[0], 0);
    ck_assert_int_gt(counts[1], N);
    ck_assert_int_gt(counts[2], 0);
    /* prefix property and decode of whole keys / prefixes */
    bs_arena a;
    bs_arena_init(&a, 0);
    for (int i = 0; i < N; i++) {
        bs_buf p = BS_BUF_INIT;
        for (int m = 0; m <= k[i].n; m++) {
            bs_buf_reset(&p);
            ck_assert_int_eq(bs_keycodec_encode_prefix(g_kt, g_kdesc, (size_t)m, k[i].v, &p), 0);
            ck_assert_uint_le(p.len, k[i].enc.n);
            ck_assert_int_eq(memcmp(p.data ? (void *)p.data : (void *)"", k[i].enc.p, p.len), 0);
        }
        bs_keycodec_value out[NCOMP];
        size_t nd = 99;
        bs_rbuf rd;
        bs_rbuf_init(&rd, k[i].enc.p, k[i].enc.n);
        ck_assert_int_eq(bs_keycodec_decode_prefix(g_kt, g_kdesc, NCOMP, &rd, &a, out, &nd), 0);
        ck_assert_uint_eq(nd, (size_t)k[i].n);
        ck_assert_uint_eq(bs_rbuf_left(&rd), 0);
        for (int c = 0; c < k[i].n; c++)
            ck_assert_int_eq(cmp_native(g_kt[c], out[c].data, out[c].len, k[i].v[c].data, k[i].v[c].len), 0);
        bs_buf_reset(&p);
        ck_assert_int_eq(bs_keycodec_encode_prefix(g_kt, g_kdesc, nd, out, &p), 0);
        ck_assert_uint_eq(p.len, k[i].enc.n);
        if (p.len) ck_assert_int_eq(memcmp(p.data, k[i].enc.p, p.len), 0);
        /* decoding only 2 components leaves the rest in the reader */
        if (k[i].n > 2) {
            bs_rbuf_init(&rd, k[i].enc.p, k[i].enc.n);
            ck_assert_int_eq(bs_keycodec_decode_prefix(g_kt, g_kdesc, 2, &rd, &a, out, &nd), 0);
            ck_assert_uint_eq(nd, 2);
            ck_assert_uint_gt(bs_rbuf_left(&rd), 0);
            ck_assert_int_eq(bs_keycodec_skip(g_kt[2], g_kdesc[2], &rd), 0);
        }
        bs_buf_free(&p);
        bs_arena_reset(&a);
    }
    bs_arena_free(&a);
    for (int i = 0; i < N; i++) key_free(&k[i]);
    free(k);
    key_types_free();
}
END_TEST

/* For keys K (full length) and prefixes P: P <= K < succ(P) exactly when
 * K starts with P component-wise; and the four bound kinds. */
START_TEST(prefix_bounds_select_exactly_the_prefixed_keys) {
    key_types();
    rng r = {5};
    enum { N = 400, NP = 150 };
    key *k = calloc(N, sizeof *k), *p = calloc(NP, sizeof *p);
    for (int i = 0; i < N; i++) gen_key(&r, &k[i], NCOMP);
    for (int i = 0; i < NP; i++) {
        /* most prefixes are taken from real keys so that they match */
        if (rn(&r, 4)) {
            const key *src = &k[rn(&r, N)];
            int m = (int)rn(&r, NCOMP + 1);
            bs_buf b = BS_BUF_INIT;
            p[i].n = m;
            for (int c = 0; c < m; c++) {
                ck_assert_int_eq(bs_buf_append(&b, src->v[c].data ? (void *)src->v[c].data : (void *)"", src->v[c].len > 0 ? (size_t)src->v[c].len : 0), 0);
                p[i].v[c].len = src->v[c].len;
                p[i].store[c] = take(&b);
                p[i].v[c].data = p[i].store[c].p;
            }
            ck_assert_int_eq(bs_keycodec_encode_prefix(g_kt, g_kdesc, (size_t)m, p[i].v, &b), 0);
            p[i].enc = take(&b);
            bs_buf_free(&b);
        } else {
            gen_key(&r, &p[i], (int)rn(&r, NCOMP + 1));
        }
    }
    long inside = 0;
    for (int j = 0; j < NP; j++) {
        bs_buf lo = BS_BUF_INIT, hi = BS_BUF_INIT;
        ck_assert_int_eq(bs_buf_append(&lo, p[j].enc.p, p[j].enc.n), 0);
        ck_assert_int_eq(bs_buf_append(&hi, p[j].enc.p, p[j].enc.n), 0);
        int unbounded = bs_keycodec_bound(&hi, BS_KEYCODEC_END_INCL) == BS_ERANGE;
        ck_assert_int_eq(unbounded, p[j].enc.n == 0);
        blob blo = {lo.data, lo.len}, bhi = {hi.data, hi.len};
        for (int i = 0; i < N; i++) {
            /* K has all NCOMP components, so this is 0 exactly when its
             * first n(P) components equal P's */
            int has = cmp_key(&k[i], &p[j], p[j].n) == 0;
            int in = cmp_blob(&k[i].enc, &blo) >= 0 && (unbounded || cmp_blob(&k[i].enc, &bhi) < 0);
            ck_assert_msg(in == has, "key %d prefix %d", i, j);
            inside += in;
            /* START_EXCL: strictly after every key with P; END_EXCL: before P */
            int o = cmp_key(&k[i], &p[j], p[j].n);
            if (!unbounded) ck_assert_int_eq(cmp_blob(&k[i].enc, &bhi) >= 0, o > 0);
            ck_assert_int_eq(cmp_blob(&k[i].enc, &blo) < 0, o < 0);
        }
        bs_buf_free(&lo);
        bs_buf_free(&hi);
    }
    ck_assert_int_gt(inside, NP); /* the prefixes did select keys */
    for (int i = 0; i < N; i++) key_free(&k[i]);
    for (int i = 0; i < NP; i++) key_free(&p[i]);
    free(k);
    free(p);
    key_types_free();
}
END_TEST

START_TEST(successor_and_bounds_edges) {
    bs_buf b = BS_BUF_INIT;
    ck_assert_int_eq(bs_keycodec_prefix_successor(&b), BS_ERANGE);
    ck_assert_int_eq(bs_buf_append(&b, "\x01\xff\xff", 3), 0);
    ck_assert_int_eq(bs_keycodec_prefix_successor(&b), 0);
    ck_assert_uint_eq(b.len, 1);
    ck_assert_uint_eq(b.data[0], 0x02);
    bs_buf_reset(&b);
    ck_assert_int_eq(bs_buf_append(&b, "\xff\xff", 2), 0);
    ck_assert_int_eq(bs_keycodec_bound(&b, BS_KEYCODEC_START_EXCL), BS_ERANGE);
    ck_assert_uint_eq(b.len, 2);
    ck_assert_int_eq(bs_keycodec_bound(&b, BS_KEYCODEC_START_INCL), 0);
    ck_assert_int_eq(bs_keycodec_bound(&b, BS_KEYCODEC_END_EXCL), 0);
    ck_assert_uint_eq(b.len, 2);
    ck_assert_int_eq(bs_keycodec_bound(&b, (bs_keycodec_bound_kind)9), BS_EINVAL);
    /* tokens */
    uint8_t t1[8], t2[8], t3[8];
    bs_keycodec_put_token(t1, INT64_MIN);
    bs_keycodec_put_token(t2, -1);
    bs_keycodec_put_token(t3, INT64_MAX);
    ck_assert_int_lt(memcmp(t1, t2, 8), 0);
    ck_assert_int_lt(memcmp(t2, t3, 8), 0);
    ck_assert_int_eq(bs_keycodec_get_token(t2), -1);
    ck_assert_int_eq(bs_keycodec_get_token(t1), INT64_MIN);
    bs_buf_free(&b);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Corruption                                                           */
/* ------------------------------------------------------------------ */

static bs_type *g_all[NSCALAR + NCOMPOSITE];

START_TEST(corrupted_encodings_fail_cleanly) {
    rng r = {0xC0FFEE};
    enum { NT = NSCALAR + NCOMPOSITE, NTYPES = 5 };
    for (int i = 0; i < NT; i++) g_all[i] = type_by_index(i);
    bs_buf v = BS_BUF_INIT, e = BS_BUF_INIT, out = BS_BUF_INIT;
    bs_arena a;
    bs_arena_init(&a, 0);
    long ok = 0, corrupt = 0;
    for (int iter = 0; iter < 30000; iter++) {
        bs_type *ts[NTYPES];
        uint8_t desc[NTYPES];
        bs_keycodec_value vals[NTYPES];
        blob st[NTYPES];
        bs_buf_reset(&e);
        for (int c = 0; c < NTYPES; c++) {
            ts[c] = g_all[rn(&r, NT)];
            desc[c] = (uint8_t)rn(&r, 2);
            vals[c].len = gen(&r, ts[c], &v, 5);
            st[c] = take(&v);
            vals[c].data = st[c].p;
        }
        ck_assert_int_eq(bs_keycodec_encode_prefix(ts, desc, NTYPES, vals, &e), 0);
        for (int c = 0; c < NTYPES; c++) free(st[c].p);
        /* mutate: flip bytes, truncate, insert, delete */
        int muts = 1 + (int)rn(&r, 3);
        for (int m = 0; m < muts && e.len; m++) {
            size_t pos = rn(&r, (uint32_t)e.len);
            switch (rn(&r, 5)) {
            case 0: e.data[pos] ^= (uint8_t)(1u << rn(&r, 8)); break;
            case 1: e.data[pos] = (uint8_t)rnd(&r); break;
            case 2: e.len = pos; break;
            case 3:
                ck_assert_int_eq(bs_buf_append_u8(&e, 0), 0);
                memmove(e.data + pos + 1, e.data + pos, e.len - pos - 1);
                e.data[pos] = (uint8_t)rnd(&r);
                break;
            default:
                memmove(e.data + pos, e.data + pos + 1, e.len - pos - 1);
                e.len--;
            }
        }
        /* exact-size copy so ASan catches any over-read */
        uint8_t *copy = malloc(e.len ? e.len : 1);
        if (e.len) memcpy(copy, e.data, e.len);
        bs_rbuf rd;
        bs_rbuf_init(&rd, copy, e.len);
        size_t nd = 0;
        int rc = bs_keycodec_decode_prefix(ts, desc, NTYPES, &rd, &a, vals, &nd);
        ck_assert_msg(rc == 0 || rc == BS_ECORRUPT, "rc %d", rc);
        if (rc == 0) {
            ok++;
            /* canonical: re-encoding reproduces the consumed bytes */
            bs_buf_reset(&out);
            ck_assert_int_eq(bs_keycodec_encode_prefix(ts, desc, nd, vals, &out), 0);
            ck_assert_uint_eq(out.len, rd.pos);
            if (out.len) ck_assert_int_eq(memcmp(out.data, copy, out.len), 0);
        } else {
            ck_assert_uint_eq(rd.pos, 0);
            corrupt++;
        }
        free(copy);
        bs_arena_reset(&a);
    }
    ck_assert_int_gt(corrupt, 1000);
    ck_assert_int_gt(ok, 100);
    bs_arena_free(&a);
    bs_buf_free(&v);
    bs_buf_free(&e);
    bs_buf_free(&out);
    for (int i = 0; i < NT; i++) bs_type_free(g_all[i]);
}
END_TEST

START_TEST(noncanonical_encodings_are_rejected) {
    struct { bs_type_kind k; const char *b; size_t n; } cases[] = {
        {BS_TYPE_VARCHAR, "\x03\x00\x01", 3},               /* empty as value */
        {BS_TYPE_VARCHAR, "\x03" "a\x00\x02", 4},           /* bad escape */
        {BS_TYPE_VARCHAR, "\x03" "abc", 4},                 /* unterminated */
        {BS_TYPE_VARCHAR, "\x04", 1},                       /* bad tag */
        {BS_TYPE_BOOLEAN, "\x03\x02", 2},
        {BS_TYPE_VARINT, "\x03\x81\x00", 3},                /* leading zero */
        {BS_TYPE_VARINT, "\x03\x7f", 2},                    /* negative len 0 */
        {BS_TYPE_VARINT, "\x03\xff\x00\x00\x00\x05\x01\x02\x03\x04\x05", 11}, /* long form, short len */
        {BS_TYPE_VARINT, "\x03\x85\x01", 3},                /* truncated */
        {BS_TYPE_DECIMAL, "\x03\x03\x81\x01\x0d\x01\x00", 7}, /* "1200": trailing zero */
        {BS_TYPE_DECIMAL, "\x03\x03\x81\x01\x01\x00", 6},   /* leading 00 pair */
        {BS_TYPE_DECIMAL, "\x03\x03\x81\x01\x00", 5},       /* no digits */
        {BS_TYPE_DECIMAL, "\x03\x03\x81\x01\x66\x00", 6},   /* pair > 99 */
        {BS_TYPE_DECIMAL, "\x03\x04", 2},                   /* bad class */
        {BS_TYPE_FLOAT, "\x03\xff\xc0\x00\x01", 5},         /* non-canonical NaN */
        {BS_TYPE_INET, "\x03\x01\x02\x03\x00\x01", 6},      /* 3-byte inet */
        {BS_TYPE_INT, "\x03\x80\x00\x00", 4},               /* truncated */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bs_type *t = mk(cases[i].k);
        bs_rbuf r;
        bs_rbuf_init(&r, cases[i].b, cases[i].n);
        bs_buf out = BS_BUF_INIT;
        ck_assert_msg(bs_keycodec_decode(t, 0, &r, &out, NULL) == BS_ECORRUPT, "case %zu", i);
        ck_assert_uint_eq(r.pos, 0);
        ck_assert_uint_eq(out.len, 0);
        bs_buf_free(&out);
        bs_type_free(t);
    }
    /* a null element inside a list */
    bs_type *t = mk_coll(BS_TYPE_LIST, mk(BS_TYPE_INT), NULL);
    bs_rbuf r;
    bs_rbuf_init(&r, "\x03\x01\x00", 3);
    ck_assert_int_eq(bs_keycodec_decode(t, 0, &r, NULL, NULL), BS_ECORRUPT);
    bs_type_free(t);
    /* a value tag on a zero-field tuple */
    t = mk(BS_TYPE_TUPLE);
    bs_rbuf_init(&r, "\x03", 1);
    ck_assert_int_eq(bs_keycodec_decode(t, 0, &r, NULL, NULL), BS_ECORRUPT);
    bs_type_free(t);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("keycodec");
    TCase *tc = tcase_create("order");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, order_matches_cassandra_for_every_type, 0, NSCALAR + NCOMPOSITE);
    tcase_add_test(tc, decimal_oracle_and_encoder_agree_with_exact_arithmetic);
    suite_add_tcase(s, tc);
    tc = tcase_create("decisions");
    tcase_add_test(tc, known_encodings);
    tcase_add_test(tc, canonicalization_of_equal_values);
    tcase_add_test(tc, tuple_missing_trailing_fields_are_nulls);
    tcase_add_test(tc, invalid_and_unsupported_inputs);
    tcase_add_test(tc, large_numbers_round_trip_and_order);
    suite_add_tcase(s, tc);
    tc = tcase_create("keys");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, multi_component_keys_compare_lexicographically);
    tcase_add_test(tc, prefix_bounds_select_exactly_the_prefixed_keys);
    tcase_add_test(tc, successor_and_bounds_edges);
    suite_add_tcase(s, tc);
    tc = tcase_create("corruption");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, corrupted_encodings_fail_cleanly);
    tcase_add_test(tc, noncanonical_encodings_are_rejected);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
