/*
 * value_num.c - arbitrary-precision helpers for varint and decimal, and
 * floating-point text forms.
 *
 * varint <-> decimal text uses schoolbook base conversion on 32-bit limbs
 * (most significant first): text -> binary multiplies by 10^9 and adds a
 * 9-digit chunk; binary -> text divides by 10^9 repeatedly.  Both are
 * O(n^2) in the number of limbs, so values are capped at BS__NUM_MAX
 * bytes (64 KiB, far above any sane number) and larger ones give
 * BS_ETOOBIG instead of burning CPU.
 *
 * Decimals compare by (sign, adjusted exponent, digit string) after
 * converting the unscaled varints to decimal digits, which makes 1.0,
 * 1.00 and 1 equal and needs no big multiplication.
 *
 * Floating point: "shortest round trip" tries increasing %g precisions
 * until strtod/strtof gives back the same bits; cqlsh's display format
 * and Java's toString are built on that.
 */
#include <ctype.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "query/value_int.h"

#define BS__NUM_MAX (64u * 1024u)

/* Magnitude of a two's complement number as limbs (MS first). */
static int to_limbs(const uint8_t *p, size_t n, uint32_t **out, size_t *nl,
                    int *neg) {
    *neg = n && (p[0] & 0x80);
    size_t nlimbs = (n + 3) / 4;
    uint32_t *l = calloc(nlimbs ? nlimbs : 1, sizeof *l);
    if (!l) return BS_ENOMEM;
    /* place bytes right-aligned */
    for (size_t i = 0; i < n; i++) {
        size_t bytepos = n - 1 - i; /* from the right */
        uint8_t b = p[i];
        if (*neg) b = (uint8_t)~b;
        l[nlimbs - 1 - bytepos / 4] |= (uint32_t)b << (8 * (bytepos % 4));
    }
    if (*neg) { /* ~x + 1 */
        for (size_t i = nlimbs; i-- > 0;) {
            if (++l[i] != 0) break;
        }
    }
    *out = l;
    *nl = nlimbs;
    return 0;
}

int bs__value_varint_to_dec(const uint8_t *p, size_t n, bs_buf *out) {
    if (n == 0) return BS_EINVAL;
    if (n > BS__NUM_MAX) return BS_ETOOBIG;
    uint32_t *l;
    size_t nl;
    int neg;
    int rc = to_limbs(p, n, &l, &nl, &neg);
    if (rc) return rc;
    /* chunks of 9 digits, least significant first */
    uint32_t *chunks = malloc((nl * 10 / 9 + 2) * sizeof *chunks);
    if (!chunks) {
        free(l);
        return BS_ENOMEM;
    }
    size_t nc = 0, start = 0;
    while (start < nl && l[start] == 0)
        start++;
    while (start < nl) {
        uint64_t rem = 0;
        for (size_t i = start; i < nl; i++) {
            uint64_t cur = (rem << 32) | l[i];
            l[i] = (uint32_t)(cur / 1000000000u);
            rem = cur % 1000000000u;
        }
        chunks[nc++] = (uint32_t)rem;
        while (start < nl && l[start] == 0)
            start++;
    }
    if (neg) rc = bs_buf_append_u8(out, '-');
    if (!rc && nc == 0) rc = bs_buf_append_u8(out, '0');
    for (size_t i = nc; !rc && i-- > 0;)
        rc = bs_buf_appendf(out, i == nc - 1 ? "%u" : "%09u", chunks[i]);
    free(chunks);
    free(l);
    return rc;
}

int bs__value_dec_to_varint(const char *s, size_t n, bs_buf *out) {
    size_t i = 0;
    int neg = 0;
    if (i < n && (s[i] == '-' || s[i] == '+')) neg = s[i++] == '-';
    if (i >= n) return BS_EINVAL;
    for (size_t j = i; j < n; j++)
        if (!isdigit((unsigned char)s[j])) return BS_EINVAL;
    while (i + 1 < n && s[i] == '0')
        i++; /* leading zeros */
    size_t nd = n - i;
    if (nd / 2 > BS__NUM_MAX) return BS_ETOOBIG;
    size_t cap = nd / 9 + 2;
    uint32_t *l = calloc(cap, sizeof *l); /* little-endian limbs */
    if (!l) return BS_ENOMEM;
    size_t nl = 1;
    size_t first = nd % 9 ? nd % 9 : 9;
    for (size_t pos = i; pos < n;) {
        size_t take = pos == i ? first : 9;
        uint32_t chunk = 0, mul = 1;
        for (size_t k = 0; k < take; k++) {
            chunk = chunk * 10 + (uint32_t)(s[pos + k] - '0');
            mul *= 10;
        }
        pos += take;
        uint64_t carry = chunk;
        for (size_t k = 0; k < nl; k++) {
            uint64_t cur = (uint64_t)l[k] * mul + carry;
            l[k] = (uint32_t)cur;
            carry = cur >> 32;
        }
        if (carry) l[nl++] = (uint32_t)carry;
    }
    /* to big-endian bytes with a sign bit of room */
    size_t nb = nl * 4 + 1;
    uint8_t *b = malloc(nb);
    if (!b) {
        free(l);
        return BS_ENOMEM;
    }
    b[0] = 0;
    for (size_t k = 0; k < nl; k++)
        bs_put_u32(b + 1 + 4 * (nl - 1 - k), l[k]);
    free(l);
    if (neg) { /* two's complement negate */
        for (size_t k = 0; k < nb; k++)
            b[k] = (uint8_t)~b[k];
        for (size_t k = nb; k-- > 0;)
            if (++b[k] != 0) break;
    }
    /* minimal: drop a leading byte while the next keeps the sign */
    size_t st = 0;
    while (st + 1 < nb && ((b[st] == 0 && !(b[st + 1] & 0x80)) ||
                           (b[st] == 0xff && (b[st + 1] & 0x80))))
        st++;
    int rc = bs_buf_append(out, b + st, nb - st);
    free(b);
    return rc;
}

int bs__value_parse_decimal(const char *s, size_t n, bs_buf *out) {
    size_t i = 0;
    bs_buf digits = BS_BUF_INIT;
    int rc = 0;
    if (i < n && (s[i] == '-' || s[i] == '+')) {
        if (s[i] == '-') rc = bs_buf_append_u8(&digits, '-');
        i++;
    }
    size_t nint = 0, nfrac = 0;
    while (!rc && i < n && isdigit((unsigned char)s[i])) {
        rc = bs_buf_append_u8(&digits, (uint8_t)s[i++]);
        nint++;
    }
    if (!rc && i < n && s[i] == '.') {
        i++;
        while (!rc && i < n && isdigit((unsigned char)s[i])) {
            rc = bs_buf_append_u8(&digits, (uint8_t)s[i++]);
            nfrac++;
        }
    }
    int64_t exp = 0;
    if (!rc && nint + nfrac == 0) rc = BS_EINVAL;
    if (!rc && i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        int eneg = 0;
        if (i < n && (s[i] == '-' || s[i] == '+')) eneg = s[i++] == '-';
        size_t ed = 0;
        while (i < n && isdigit((unsigned char)s[i])) {
            if (exp < 100000000000LL) exp = exp * 10 + (s[i] - '0');
            i++;
            ed++;
        }
        if (!ed) rc = BS_EINVAL;
        if (eneg) exp = -exp;
    }
    if (!rc && i != n) rc = BS_EINVAL;
    int64_t scale = (int64_t)nfrac - exp;
    if (!rc && (scale < INT32_MIN || scale > INT32_MAX)) rc = BS_ERANGE;
    if (!rc) {
        size_t mark = out->len;
        rc = bs_buf_append_u32(out, (uint32_t)(int32_t)scale);
        if (!rc)
            rc = bs__value_dec_to_varint((const char *)digits.data, digits.len,
                                         out);
        if (rc) out->len = mark;
    }
    bs_buf_free(&digits);
    return rc;
}

int bs__value_decimal_to_text(const uint8_t *p, size_t n, bs_buf *out) {
    if (n < 5) return BS_EINVAL;
    int64_t scale = (int32_t)bs_get_u32(p);
    bs_buf d = BS_BUF_INIT;
    int rc = bs__value_varint_to_dec(p + 4, n - 4, &d);
    if (rc) {
        bs_buf_free(&d);
        return rc;
    }
    const char *c = (const char *)d.data;
    size_t len = d.len;
    if (c[0] == '-') {
        rc = bs_buf_append_u8(out, '-');
        c++;
        len--;
    }
    int64_t adjusted = -scale + (int64_t)len - 1;
    if (!rc && scale >= 0 && adjusted >= -6) {
        if (scale == 0) {
            rc = bs_buf_append(out, c, len);
        } else if ((int64_t)len > scale) {
            rc = bs_buf_append(out, c, len - (size_t)scale);
            if (!rc) rc = bs_buf_append_u8(out, '.');
            if (!rc)
                rc = bs_buf_append(out, c + len - (size_t)scale, (size_t)scale);
        } else {
            rc = bs_buf_append_str(out, "0.");
            for (int64_t k = 0; !rc && k < scale - (int64_t)len; k++)
                rc = bs_buf_append_u8(out, '0');
            if (!rc) rc = bs_buf_append(out, c, len);
        }
    } else if (!rc) {
        rc = bs_buf_append(out, c, 1);
        if (!rc && len > 1) {
            rc = bs_buf_append_u8(out, '.');
            if (!rc) rc = bs_buf_append(out, c + 1, len - 1);
        }
        if (!rc)
            rc = bs_buf_appendf(out, "E%s%lld", adjusted >= 0 ? "+" : "",
                                (long long)adjusted);
    }
    bs_buf_free(&d);
    return rc;
}

int bs__value_varint_cmp(const uint8_t *a, size_t an, const uint8_t *b,
                         size_t bn) {
    int na = (a[0] & 0x80) != 0, nb = (b[0] & 0x80) != 0;
    if (na != nb) return na ? -1 : 1;
    uint8_t ext = na ? 0xff : 0x00;
    /* strip redundant sign-extension bytes */
    while (an > 1 && a[0] == ext && ((a[1] & 0x80) != 0) == na) {
        a++;
        an--;
    }
    while (bn > 1 && b[0] == ext && ((b[1] & 0x80) != 0) == nb) {
        b++;
        bn--;
    }
    if (an != bn) return (an > bn) == !na ? 1 : -1;
    int c = memcmp(a, b, an);
    return (c > 0) - (c < 0);
}

int bs__value_decimal_cmp(const uint8_t *a, size_t an, const uint8_t *b,
                          size_t bn, int *cmp) {
    if (an < 5 || bn < 5) return BS_ECORRUPT;
    bs_buf da = BS_BUF_INIT, db = BS_BUF_INIT;
    int rc = bs__value_varint_to_dec(a + 4, an - 4, &da);
    if (!rc) rc = bs__value_varint_to_dec(b + 4, bn - 4, &db);
    if (rc) goto done;
    {
        const char *x = (const char *)da.data, *y = (const char *)db.data;
        size_t xl = da.len, yl = db.len;
        int xs = x[0] == '-' ? -1 : (x[0] == '0' ? 0 : 1);
        int ys = y[0] == '-' ? -1 : (y[0] == '0' ? 0 : 1);
        if (xs != ys) {
            *cmp = xs < ys ? -1 : 1;
            goto done;
        }
        if (xs == 0) {
            *cmp = 0;
            goto done;
        }
        if (xs < 0) {
            x++;
            xl--;
            y++;
            yl--;
        }
        int64_t ea = (int64_t)xl - (int32_t)bs_get_u32(a);
        int64_t eb = (int64_t)yl - (int32_t)bs_get_u32(b);
        int mag;
        if (ea != eb) {
            mag = ea > eb ? 1 : -1;
        } else {
            size_t m = xl > yl ? xl : yl;
            mag = 0;
            for (size_t i = 0; i < m && !mag; i++) {
                char cx = i < xl ? x[i] : '0', cy = i < yl ? y[i] : '0';
                mag = (cx > cy) - (cx < cy);
            }
        }
        *cmp = xs < 0 ? -mag : mag;
    }
done:
    bs_buf_free(&da);
    bs_buf_free(&db);
    return rc == BS_ETOOBIG ? BS_ECORRUPT : rc;
}

/* -------------------------------------------------------------- floats */

static int roundtrips(const char *txt, double v, int is_float) {
    if (is_float) {
        float f = strtof(txt, NULL), g = (float)v;
        return memcmp(&f, &g, sizeof f) == 0;
    }
    double d = strtod(txt, NULL);
    return memcmp(&d, &v, sizeof d) == 0;
}

/* Shortest %.{p}e digits: fills mantissa digits (no dot) and exponent. */
static void shortest_digits(double v, int is_float, char *digits, int *exp10) {
    char tmp[64];
    int maxp = is_float ? 9 : 17;
    for (int p = 1; p <= maxp; p++) {
        snprintf(tmp, sizeof tmp, "%.*e", p - 1, v);
        if (roundtrips(tmp, v, is_float) || p == maxp) break;
    }
    /* tmp: [-]d[.ddd]e[+-]xx */
    const char *c = tmp;
    if (*c == '-') c++;
    size_t k = 0;
    for (; *c && *c != 'e'; c++)
        if (*c != '.') digits[k++] = *c;
    digits[k] = 0;
    while (k > 1 && digits[k - 1] == '0')
        digits[--k] = 0;
    *exp10 = atoi(c + 1);
}

int bs__value_fmt_fp(double v, int is_float, int mode, int prec, bs_buf *out) {
    if (isnan(v)) return bs_buf_append_str(out, "NaN");
    if (isinf(v))
        return bs_buf_append_str(out, v > 0 ? "Infinity" : "-Infinity");
    char tmp[64];
    if (mode == 0) {
        int exponent = fabs(v) > DBL_EPSILON ? (int)log10(fabs(v)) : INT32_MIN;
        if (exponent >= -4 && exponent < prec) prec = prec + exponent + 1;
        snprintf(tmp, sizeof tmp, "%.*g", prec, v);
        return bs_buf_append_str(out, tmp);
    }
    if (mode == 1) {
        int maxp = is_float ? 9 : 17;
        for (int p = 1; p <= maxp; p++) {
            snprintf(tmp, sizeof tmp, "%.*g", p, v);
            if (roundtrips(tmp, v, is_float)) break;
        }
        return bs_buf_append_str(out, tmp);
    }
    /* Java toString */
    char d[32];
    int e;
    shortest_digits(v, is_float, d, &e);
    int rc = signbit(v) ? bs_buf_append_u8(out, '-') : 0;
    size_t nd = strlen(d);
    double a = fabs(v);
    if (rc) return rc;
    if (a == 0 || (a >= 1e-3 && a < 1e7)) {
        if (a == 0) return bs_buf_append_str(out, "0.0");
        if (e >= 0) {
            for (int i = 0; i <= e; i++)
                if ((rc = bs_buf_append_u8(out, (size_t)i < nd ? (uint8_t)d[i]
                                                               : '0')))
                    return rc;
            rc = bs_buf_append_u8(out, '.');
            if (!rc)
                rc = (size_t)e + 1 < nd
                         ? bs_buf_append(out, d + e + 1, nd - (size_t)e - 1)
                         : bs_buf_append_u8(out, '0');
            return rc;
        }
        rc = bs_buf_append_str(out, "0.");
        for (int i = 0; !rc && i < -e - 1; i++)
            rc = bs_buf_append_u8(out, '0');
        return rc ? rc : bs_buf_append(out, d, nd);
    }
    rc = bs_buf_append_u8(out, (uint8_t)d[0]);
    if (!rc) rc = bs_buf_append_u8(out, '.');
    if (!rc)
        rc = nd > 1 ? bs_buf_append(out, d + 1, nd - 1)
                    : bs_buf_append_u8(out, '0');
    if (!rc) rc = bs_buf_appendf(out, "E%d", e);
    return rc;
}

int bs__value_fp_syntax_ok(const char *s, size_t n) {
    size_t i = 0;
    if (i < n && (s[i] == '-' || s[i] == '+')) i++;
    if (n - i == 3 && memcmp(s + i, "NaN", 3) == 0 && i == 0) return 1;
    if (n - i == 8 && memcmp(s + i, "Infinity", 8) == 0) return 1;
    size_t nd = 0;
    while (i < n && isdigit((unsigned char)s[i])) {
        i++;
        nd++;
    }
    if (i < n && s[i] == '.') {
        i++;
        while (i < n && isdigit((unsigned char)s[i])) {
            i++;
            nd++;
        }
    }
    if (!nd) return 0;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '-' || s[i] == '+')) i++;
        size_t ed = 0;
        while (i < n && isdigit((unsigned char)s[i])) {
            i++;
            ed++;
        }
        if (!ed) return 0;
    }
    return i == n;
}
