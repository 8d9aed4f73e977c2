/*
 * value_codec.c - validation, comparison, builders and iterators for
 * serialized CQL values.
 *
 * Byte layouts (native_protocol_v4.spec section 6; all integers BE):
 *
 *   type        layout
 *   ----------  ------------------------------------------------------
 *   tinyint     1 byte signed          smallint 2 bytes signed
 *   int         4 bytes signed         bigint/counter 8 bytes signed
 *   boolean     1 byte, 0 = false      float/double IEEE 754, 4/8 bytes
 *   timestamp   int64 ms since epoch   time int64 ns since midnight
 *   date        uint32 days, 2^31 = 1970-01-01
 *   uuid        16 bytes               inet 4 (IPv4) or 16 (IPv6) bytes
 *   varint      two's complement, >= 1 byte
 *   decimal     int32 scale | varint unscaled (value = unscaled*10^-scale)
 *   duration    vint months | vint days | vint nanos (zig-zag signed)
 *   list/set    int32 n | n * (int32 len | len bytes)
 *   map         int32 n | n * (key elem | value elem)
 *   tuple/UDT   per component: int32 len | len bytes (len -1 = null);
 *               trailing components may be missing
 *
 * A Cassandra vint stores the count of extra bytes as leading 1-bits of
 * the first byte (0xxxxxxx = 1 byte, 10xxxxxx + 1 byte, ..., 11111111 +
 * 8 bytes) with the value's remaining bits big-endian.
 *
 * Comparison mirrors the Cassandra AbstractType of each type (see
 * value.h for the list).  Recursion is bounded by the type's depth, which
 * the type parser caps; bytes never drive recursion on their own.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/utf8.h"
#include "query/value.h"
#include "query/value_int.h"

/* ------------------------------------------------------------ helpers */

size_t bs__value_get_uvint(const uint8_t *p, size_t len, uint64_t *out) {
    if (len == 0) return 0;
    uint8_t first = p[0];
    int extra = 0;
    while (extra < 8 && (first & (0x80 >> extra)))
        extra++;
    if ((size_t)extra + 1 > len) return 0;
    uint64_t v = extra == 8 ? 0 : (uint64_t)(first & (0xff >> (extra + 1)));
    for (int i = 1; i <= extra; i++)
        v = (v << 8) | p[i];
    *out = v;
    return (size_t)extra + 1;
}

int bs__value_put_uvint(bs_buf *b, uint64_t v) {
    /* bits needed */
    int bits = 64;
    while (bits > 1 && !(v >> (bits - 1)))
        bits--;
    if (v == 0) bits = 1;
    int extra = 0;
    while (extra < 8 && bits > 7 * (extra + 1))
        extra++;
    uint8_t t[9];
    if (extra == 8) {
        t[0] = 0xff;
        bs_put_u64(t + 1, v);
        return bs_buf_append(b, t, 9);
    }
    for (int i = extra; i >= 1; i--) {
        t[i] = (uint8_t)v;
        v >>= 8;
    }
    t[0] = (uint8_t)((0xff00 >> extra) & 0xff) | (uint8_t)v;
    return bs_buf_append(b, t, (size_t)extra + 1);
}

int bs__value_get_duration(const uint8_t *p, size_t len, int32_t *months,
                           int32_t *days, int64_t *nanos) {
    uint64_t u[3];
    size_t pos = 0;
    for (int i = 0; i < 3; i++) {
        size_t n = bs__value_get_uvint(p + pos, len - pos, &u[i]);
        if (!n) return BS_ECORRUPT;
        pos += n;
    }
    if (pos != len) return BS_ECORRUPT;
    int64_t m = bs__zz_dec(u[0]), d = bs__zz_dec(u[1]), ns = bs__zz_dec(u[2]);
    if (m < INT32_MIN || m > INT32_MAX || d < INT32_MIN || d > INT32_MAX)
        return BS_ECORRUPT;
    if ((m > 0 || d > 0 || ns > 0) && (m < 0 || d < 0 || ns < 0))
        return BS_ECORRUPT;
    *months = (int32_t)m;
    *days = (int32_t)d;
    *nanos = ns;
    return 0;
}

int bs__value_put_duration(bs_buf *b, int32_t months, int32_t days,
                           int64_t nanos) {
    int rc = bs__value_put_uvint(b, bs__zz_enc(months));
    if (!rc) rc = bs__value_put_uvint(b, bs__zz_enc(days));
    if (!rc) rc = bs__value_put_uvint(b, bs__zz_enc(nanos));
    return rc;
}

int bs__value_read_elem(const uint8_t *p, size_t len, size_t *pos,
                        const uint8_t **ep, size_t *elen) {
    if (len - *pos < 4) return BS_ECORRUPT;
    int32_t n = (int32_t)bs_get_u32(p + *pos);
    *pos += 4;
    if (n < 0) {
        if (n != -1) return BS_ECORRUPT;
        *ep = NULL;
        *elen = BS_VALUE_NULL;
        return 0;
    }
    if (len - *pos < (size_t)n) return BS_ECORRUPT;
    *ep = p + *pos;
    *elen = (size_t)n;
    *pos += (size_t)n;
    return 0;
}

int bs__value_put_elem(bs_buf *b, const uint8_t *p, size_t len) {
    if (len == BS_VALUE_NULL) return bs_buf_append_u32(b, 0xffffffffu);
    if (len > INT32_MAX) return BS_ETOOBIG;
    int rc = bs_buf_append_u32(b, (uint32_t)len);
    return rc ? rc : bs_buf_append(b, p, len);
}

/* ----------------------------------------------------------- validate */

static int vfail(char *err, size_t errlen, const bs_type *t, const char *why) {
    char tn[96];
    bs__value_type_name(t, tn, sizeof tn);
    bs__value_err(err, errlen, "invalid %s value: %s", tn, why);
    return BS_ECORRUPT;
}

static int validate(const bs_type *t, const uint8_t *p, size_t len, char *err,
                    size_t errlen, int depth) {
    if (depth > BS_TYPE_MAX_DEPTH) return vfail(err, errlen, t, "nested too deeply");
    int fixed = bs_type_fixed_size((bs_type_kind)t->kind);
    if (fixed > 0) {
        if (len != (size_t)fixed) {
            char why[64];
            snprintf(why, sizeof why, "expected %d bytes, got %zu", fixed, len);
            return vfail(err, errlen, t, why);
        }
        if (t->kind == BS_TYPE_TIME) {
            int64_t ns = (int64_t)bs_get_u64(p);
            if (ns < 0 || ns >= 86400LL * 1000000000LL)
                return vfail(err, errlen, t, "nanoseconds out of range");
        }
        if (t->kind == BS_TYPE_TIMEUUID && (p[6] >> 4) != 1)
            return vfail(err, errlen, t, "not a version 1 UUID");
        return 0;
    }
    switch (t->kind) {
    case BS_TYPE_BLOB: return 0;
    case BS_TYPE_VARCHAR:
        if (!bs_utf8_valid(p, len))
            return vfail(err, errlen, t, "invalid UTF-8");
        return 0;
    case BS_TYPE_ASCII:
        for (size_t i = 0; i < len; i++)
            if (p[i] >= 0x80) return vfail(err, errlen, t, "non-ASCII byte");
        return 0;
    case BS_TYPE_VARINT:
        if (len == 0) return vfail(err, errlen, t, "empty varint");
        return 0;
    case BS_TYPE_DECIMAL:
        if (len < 5) return vfail(err, errlen, t, "shorter than 5 bytes");
        return 0;
    case BS_TYPE_INET:
        if (len != 4 && len != 16)
            return vfail(err, errlen, t, "address is not 4 or 16 bytes");
        return 0;
    case BS_TYPE_DURATION: {
        int32_t m, d;
        int64_t ns;
        if (bs__value_get_duration(p, len, &m, &d, &ns))
            return vfail(err, errlen, t, "malformed duration");
        return 0;
    }
    case BS_TYPE_LIST:
    case BS_TYPE_SET:
    case BS_TYPE_MAP: {
        unsigned per = t->kind == BS_TYPE_MAP ? 2 : 1;
        if (t->nparams != per) return vfail(err, errlen, t, "bad descriptor");
        if (len < 4) return vfail(err, errlen, t, "missing element count");
        int32_t n = (int32_t)bs_get_u32(p);
        if (n < 0) return vfail(err, errlen, t, "negative element count");
        size_t pos = 4;
        for (int32_t i = 0; i < n; i++) {
            for (unsigned j = 0; j < per; j++) {
                const uint8_t *ep;
                size_t el;
                if (bs__value_read_elem(p, len, &pos, &ep, &el))
                    return vfail(err, errlen, t, "truncated element");
                if (el == BS_VALUE_NULL)
                    return vfail(err, errlen, t,
                                 "null is not supported inside collections");
                int rc = validate(t->params[j], ep, el, err, errlen, depth + 1);
                if (rc) return rc;
            }
        }
        if (pos != len) return vfail(err, errlen, t, "trailing bytes");
        return 0;
    }
    case BS_TYPE_TUPLE:
    case BS_TYPE_UDT: {
        if (t->nparams == 0) {
            bs__value_err(err, errlen, "type %s has no resolved fields",
                          t->name ? t->name : "tuple");
            return BS_EINVAL;
        }
        size_t pos = 0;
        unsigned i = 0;
        while (pos < len) {
            if (i >= t->nparams)
                return vfail(err, errlen, t, "more components than the type");
            const uint8_t *ep;
            size_t el;
            if (bs__value_read_elem(p, len, &pos, &ep, &el))
                return vfail(err, errlen, t, "truncated component");
            if (el != BS_VALUE_NULL) {
                int rc = validate(t->params[i], ep, el, err, errlen, depth + 1);
                if (rc) return rc;
            }
            i++;
        }
        return 0;
    }
    default:
        bs__value_err(err, errlen, "cannot validate values of type kind %u",
                      t->kind);
        return BS_EINVAL;
    }
}

int bs_value_validate(const bs_type *t, const uint8_t *p, size_t len, char *err,
                      size_t errlen) {
    if (!t || (!p && len)) return BS_EINVAL;
    if (len == BS_VALUE_NULL) return BS_EINVAL;
    return validate(t, p, len, err, errlen, 0);
}

/* ------------------------------------------------------------ compare */

static int bytes_cmp(const uint8_t *a, size_t an, const uint8_t *b, size_t bn) {
    size_t m = an < bn ? an : bn;
    int c = m ? memcmp(a, b, m) : 0;
    if (c) return c < 0 ? -1 : 1;
    return (an > bn) - (an < bn);
}

static int64_t get_be_signed(const uint8_t *p, size_t n) {
    uint64_t v = (p[0] & 0x80) ? UINT64_MAX : 0;
    for (size_t i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return (int64_t)v;
}

/* Java Float.compare / Double.compare. */
static int fp_cmp(double a, double b) {
    int an = isnan(a), bn = isnan(b);
    if (an || bn) return an - bn;
    if (a < b) return -1;
    if (a > b) return 1;
    int as = signbit(a) != 0, bs = signbit(b) != 0;
    return bs - as; /* -0.0 < 0.0 */
}

static uint64_t reorder_ts(const uint8_t *p) {
    uint64_t msb = bs_get_u64(p);
    return (msb << 48) | ((msb << 16) & 0xFFFF00000000ULL) | (msb >> 32);
}

static int uuid_cmp(const uint8_t *a, const uint8_t *b, int timeuuid) {
    if (!timeuuid) {
        int va = a[6] >> 4, vb = b[6] >> 4;
        if (va != vb) return va < vb ? -1 : 1;
        if (va == 1) {
            uint64_t ra = reorder_ts(a), rb = reorder_ts(b);
            if (ra != rb) return ra < rb ? -1 : 1;
        } else {
            int c = memcmp(a, b, 8);
            if (c) return c < 0 ? -1 : 1;
        }
        int c = memcmp(a + 8, b + 8, 8);
        return (c > 0) - (c < 0);
    }
    uint64_t ra = reorder_ts(a), rb = reorder_ts(b);
    /* Cassandra compares these as signed longs */
    if ((int64_t)ra != (int64_t)rb) return (int64_t)ra < (int64_t)rb ? -1 : 1;
    for (int i = 8; i < 16; i++) {
        int8_t x = (int8_t)a[i], y = (int8_t)b[i];
        if (x != y) return x < y ? -1 : 1;
    }
    return 0;
}

static int compare(const bs_type *t, const uint8_t *a, size_t an,
                   const uint8_t *b, size_t bn, int *cmp, int depth);

static int cmp_elems(const bs_type *t, const uint8_t *a, size_t an,
                     const uint8_t *b, size_t bn, int *cmp, int depth) {
    if (t->kind == BS_TYPE_LIST || t->kind == BS_TYPE_SET ||
        t->kind == BS_TYPE_MAP) {
        unsigned per = t->kind == BS_TYPE_MAP ? 2 : 1;
        if (an < 4 || bn < 4) return BS_ECORRUPT;
        int32_t na = (int32_t)bs_get_u32(a), nb = (int32_t)bs_get_u32(b);
        if (na < 0 || nb < 0) return BS_ECORRUPT;
        size_t pa = 4, pb = 4;
        int32_t m = na < nb ? na : nb;
        for (int32_t i = 0; i < m; i++) {
            for (unsigned j = 0; j < per; j++) {
                const uint8_t *ea, *eb;
                size_t la, lb;
                if (bs__value_read_elem(a, an, &pa, &ea, &la) ||
                    bs__value_read_elem(b, bn, &pb, &eb, &lb))
                    return BS_ECORRUPT;
                int rc = compare(t->params[j], ea, la, eb, lb, cmp, depth + 1);
                if (rc) return rc;
                if (*cmp) return 0;
            }
        }
        *cmp = (na > nb) - (na < nb);
        return 0;
    }
    /* tuple / UDT */
    size_t pa = 0, pb = 0;
    unsigned i = 0;
    while (pa < an && pb < bn) {
        if (i >= t->nparams) return BS_ECORRUPT;
        const uint8_t *ea, *eb;
        size_t la, lb;
        if (bs__value_read_elem(a, an, &pa, &ea, &la) ||
            bs__value_read_elem(b, bn, &pb, &eb, &lb))
            return BS_ECORRUPT;
        int rc = compare(t->params[i], ea, la, eb, lb, cmp, depth + 1);
        if (rc) return rc;
        if (*cmp) return 0;
        i++;
    }
    *cmp = (pa < an) - (pb < bn);
    return 0;
}

static int compare(const bs_type *t, const uint8_t *a, size_t an,
                   const uint8_t *b, size_t bn, int *cmp, int depth) {
    if (depth > BS_TYPE_MAX_DEPTH) return BS_ECORRUPT;
    int anull = an == BS_VALUE_NULL, bnull = bn == BS_VALUE_NULL;
    if (anull || bnull) {
        *cmp = bnull - anull;
        return 0;
    }
    if (an == 0 || bn == 0) {
        *cmp = (an != 0) - (bn != 0);
        return 0;
    }
    int fixed = bs_type_fixed_size((bs_type_kind)t->kind);
    if (fixed > 0 && (an != (size_t)fixed || bn != (size_t)fixed))
        return BS_ECORRUPT;
    switch (t->kind) {
    case BS_TYPE_TINYINT:
    case BS_TYPE_SMALLINT:
    case BS_TYPE_INT:
    case BS_TYPE_BIGINT:
    case BS_TYPE_COUNTER:
    case BS_TYPE_TIMESTAMP:
    case BS_TYPE_TIME: {
        int64_t x = get_be_signed(a, an), y = get_be_signed(b, bn);
        *cmp = (x > y) - (x < y);
        return 0;
    }
    case BS_TYPE_BOOLEAN: *cmp = (a[0] != 0) - (b[0] != 0); return 0;
    case BS_TYPE_FLOAT: {
        float x, y;
        uint32_t ux = bs_get_u32(a), uy = bs_get_u32(b);
        memcpy(&x, &ux, 4);
        memcpy(&y, &uy, 4);
        *cmp = fp_cmp(x, y);
        return 0;
    }
    case BS_TYPE_DOUBLE: {
        double x, y;
        uint64_t ux = bs_get_u64(a), uy = bs_get_u64(b);
        memcpy(&x, &ux, 8);
        memcpy(&y, &uy, 8);
        *cmp = fp_cmp(x, y);
        return 0;
    }
    case BS_TYPE_DATE:
    case BS_TYPE_ASCII:
    case BS_TYPE_VARCHAR:
    case BS_TYPE_BLOB:
    case BS_TYPE_INET:
    case BS_TYPE_CUSTOM: *cmp = bytes_cmp(a, an, b, bn); return 0;
    case BS_TYPE_DURATION: {
        /* by (months, days, nanos): Cassandra compares bytes, but durations
         * cannot be keys there, and decoded order makes non-minimal vint
         * encodings of one value equal */
        int32_t m1, d1, m2, d2;
        int64_t n1, n2;
        if (bs__value_get_duration(a, an, &m1, &d1, &n1) ||
            bs__value_get_duration(b, bn, &m2, &d2, &n2))
            return BS_ECORRUPT;
        *cmp = m1 != m2   ? (m1 > m2) - (m1 < m2)
               : d1 != d2 ? (d1 > d2) - (d1 < d2)
                          : (n1 > n2) - (n1 < n2);
        return 0;
    }
    case BS_TYPE_UUID:
    case BS_TYPE_TIMEUUID:
        *cmp = uuid_cmp(a, b, t->kind == BS_TYPE_TIMEUUID);
        return 0;
    case BS_TYPE_VARINT: *cmp = bs__value_varint_cmp(a, an, b, bn); return 0;
    case BS_TYPE_DECIMAL: return bs__value_decimal_cmp(a, an, b, bn, cmp);
    case BS_TYPE_LIST:
    case BS_TYPE_SET:
    case BS_TYPE_MAP:
    case BS_TYPE_TUPLE:
    case BS_TYPE_UDT: return cmp_elems(t, a, an, b, bn, cmp, depth);
    default: return BS_EINVAL;
    }
}

int bs_value_compare(const bs_type *t, const uint8_t *a, size_t alen,
                     const uint8_t *b, size_t blen, int *cmp) {
    if (!t || !cmp) return BS_EINVAL;
    *cmp = 0;
    int rc = compare(t, a, alen, b, blen, cmp, 0);
    if (*cmp) *cmp = *cmp < 0 ? -1 : 1;
    return rc;
}

/* ----------------------------------------------------------- builders */

int bs_value_build_list(const bs_value_elem *elems, size_t n, bs_buf *out) {
    if (n > INT32_MAX) return BS_ETOOBIG;
    size_t mark = out->len;
    int rc = bs_buf_append_u32(out, (uint32_t)n);
    for (size_t i = 0; !rc && i < n; i++) {
        if (elems[i].len == BS_VALUE_NULL)
            rc = BS_EINVAL;
        else
            rc = bs__value_put_elem(out, elems[i].p, elems[i].len);
    }
    if (rc) out->len = mark;
    return rc;
}

int bs_value_build_tuple(const bs_value_elem *elems, size_t n, bs_buf *out) {
    size_t mark = out->len;
    int rc = 0;
    for (size_t i = 0; !rc && i < n; i++)
        rc = bs__value_put_elem(out, elems[i].p, elems[i].len);
    if (rc) out->len = mark;
    return rc;
}

/* Stable merge sort of indexes by the type's comparator (no qsort_r
 * context portability issues, and stability gives "last key wins"). */
static int sort_idx(const bs_type *t, const bs_value_elem *e, size_t *idx,
                    size_t *tmp, size_t n) {
    if (n < 2) return 0;
    size_t h = n / 2;
    int rc = sort_idx(t, e, idx, tmp, h);
    if (!rc) rc = sort_idx(t, e, idx + h, tmp, n - h);
    if (rc) return rc;
    size_t i = 0, j = h, k = 0;
    while (i < h && j < n) {
        int c;
        rc = bs_value_compare(t, e[idx[i]].p, e[idx[i]].len, e[idx[j]].p,
                              e[idx[j]].len, &c);
        if (rc) return rc;
        tmp[k++] = c <= 0 ? idx[i++] : idx[j++];
    }
    while (i < h)
        tmp[k++] = idx[i++];
    while (j < n)
        tmp[k++] = idx[j++];
    memcpy(idx, tmp, n * sizeof *idx);
    return 0;
}

static int build_sorted(const bs_type *kt, const bs_type *vt,
                        const bs_value_elem *keys, const bs_value_elem *vals,
                        size_t n, bs_buf *out) {
    if (n > INT32_MAX) return BS_ETOOBIG;
    for (size_t i = 0; i < n; i++) {
        if (keys[i].len == BS_VALUE_NULL) return BS_EINVAL;
        if (validate(kt, keys[i].p, keys[i].len, NULL, 0, 0))
            return BS_ECORRUPT;
        if (vals && vals[i].len == BS_VALUE_NULL) return BS_EINVAL;
        if (vals && validate(vt, vals[i].p, vals[i].len, NULL, 0, 0))
            return BS_ECORRUPT;
    }
    size_t *idx = malloc((n ? n : 1) * 2 * sizeof *idx);
    if (!idx) return BS_ENOMEM;
    for (size_t i = 0; i < n; i++)
        idx[i] = i;
    int rc = sort_idx(kt, keys, idx, idx + n, n);
    size_t mark = out->len;
    uint32_t count = 0;
    if (!rc) rc = bs_buf_append_u32(out, 0);
    for (size_t i = 0; !rc && i < n; i++) {
        /* among equal keys keep the last given (highest index; the stable
         * sort puts it last in its run) */
        if (i + 1 < n) {
            int c;
            rc = bs_value_compare(kt, keys[idx[i]].p, keys[idx[i]].len,
                                  keys[idx[i + 1]].p, keys[idx[i + 1]].len, &c);
            if (rc) break;
            if (c == 0) continue;
        }
        rc = bs__value_put_elem(out, keys[idx[i]].p, keys[idx[i]].len);
        if (!rc && vals)
            rc = bs__value_put_elem(out, vals[idx[i]].p, vals[idx[i]].len);
        count++;
    }
    if (!rc)
        bs_put_u32(out->data + mark, count);
    else
        out->len = mark;
    free(idx);
    return rc;
}

int bs_value_build_set(const bs_type *set_type, const bs_value_elem *elems,
                       size_t n, bs_buf *out) {
    if (!set_type || set_type->nparams < 1) return BS_EINVAL;
    return build_sorted(set_type->params[0], NULL, elems, NULL, n, out);
}

int bs_value_build_map(const bs_type *map_type, const bs_value_elem *keys,
                       const bs_value_elem *vals, size_t n, bs_buf *out) {
    if (!map_type || map_type->kind != BS_TYPE_MAP || map_type->nparams != 2)
        return BS_EINVAL;
    return build_sorted(map_type->params[0], map_type->params[1], keys, vals, n,
                        out);
}

/* ---------------------------------------------------------- iterators */

int bs_value_iter_init(bs_value_iter *it, const bs_type *t, const uint8_t *p,
                       size_t len) {
    memset(it, 0, sizeof *it);
    it->p = p;
    it->len = len;
    if (t->kind == BS_TYPE_TUPLE || t->kind == BS_TYPE_UDT) {
        it->tuple = 1;
        return 0;
    }
    if (!bs_type_is_collection(t)) return BS_EINVAL;
    if (len < 4) return BS_ECORRUPT;
    int32_t n = (int32_t)bs_get_u32(p);
    if (n < 0) return BS_ECORRUPT;
    it->count = (uint32_t)n;
    if (t->kind == BS_TYPE_MAP) {
        if ((uint64_t)it->count * 2 > UINT32_MAX) return BS_ECORRUPT;
    }
    it->pos = 4;
    it->tuple = t->kind == BS_TYPE_MAP ? -1 : 0; /* -1: map, 2 per entry */
    return 0;
}

int bs_value_iter_next(bs_value_iter *it, bs_value_elem *e) {
    if (it->tuple == 1) {
        if (it->pos >= it->len) return BS_ENOTFOUND;
    } else {
        uint64_t total = it->tuple == -1 ? (uint64_t)it->count * 2 : it->count;
        if (it->index >= total) return BS_ENOTFOUND;
    }
    if (bs__value_read_elem(it->p, it->len, &it->pos, &e->p, &e->len))
        return BS_ECORRUPT;
    it->index++;
    return 0;
}
