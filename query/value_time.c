/*
 * value_time.c - timestamp, date, time and duration text forms.
 *
 * Civil-date arithmetic uses the proleptic Gregorian calendar (days from
 * civil and back, H. Hinnant's era algorithm) on int64 so every uint32
 * date (years -5877641 .. 5881580) and every int64 timestamp converts
 * without overflow.
 *
 * Accepted text (Cassandra's TimestampSerializer / SimpleDateSerializer /
 * TimeSerializer / Duration.from):
 *   timestamp  -?digits (ms)  |  [+-]Y-M-D [(T| )h:m[:s[.f{1,9}]]] [zone]
 *              zone = Z | UTC | GMT | [+-]hh[[:]mm]; none = UTC
 *              fractions beyond milliseconds are truncated
 *   date       -?digits (raw uint32)  |  [+-]Y-M-D
 *   time       -?digits (ns)  |  h:m:s[.f{1,9}]   (f right-padded)
 *   duration   [-] (digits unit)+   unit y mo w d h m s ms us µs ns
 *              [-] P[nY][nM][nD][T[nH][nM][nS]]  |  [-] PnW
 *              [-] Pyyyy-mm-ddThh:mm:ss
 * Printing: see value.h (cqlsh, JSON and CQL-literal styles).
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/error.h"
#include "query/value.h"
#include "query/value_int.h"

#define NS_PER_DAY (86400LL * 1000000000LL)
#define MS_PER_DAY 86400000LL

int64_t bs__value_days_from_civil(int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void bs__value_civil_from_days(int64_t z, int64_t *y, unsigned *m,
                               unsigned *d) {
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t yy = yoe + era * 400;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
    *m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
    *y = yy + (*m <= 2);
}

static int days_in_month(int64_t y, unsigned m) {
    static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) return 29;
    return dm[m - 1];
}

/* Reads 1..maxd digits as an unsigned number. */
static int digits(const char *s, size_t n, size_t *i, int maxd, int64_t *v) {
    int k = 0;
    *v = 0;
    while (*i < n && isdigit((unsigned char)s[*i]) && k < maxd) {
        *v = *v * 10 + (s[*i] - '0');
        (*i)++;
        k++;
    }
    return k;
}

static int all_int(const char *s, size_t n) {
    size_t i = 0;
    if (i < n && s[i] == '-') i++;
    if (i == n) return 0;
    for (; i < n; i++)
        if (!isdigit((unsigned char)s[i])) return 0;
    return 1;
}

static int parse_i64(const char *s, size_t n, int64_t *out) {
    if (!all_int(s, n) || n > 24) return BS_EINVAL;
    int neg = s[0] == '-';
    uint64_t v = 0;
    for (size_t i = neg; i < n; i++) {
        if (v > (UINT64_MAX - 9) / 10) return BS_ERANGE;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (neg ? v > (uint64_t)INT64_MAX + 1 : v > (uint64_t)INT64_MAX)
        return BS_ERANGE;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

/* [+-]Y-M-D at s[*i..]; days since epoch. */
static int parse_ymd(const char *s, size_t n, size_t *i, int64_t *days) {
    int neg = 0;
    if (*i < n && (s[*i] == '-' || s[*i] == '+')) neg = s[(*i)++] == '-';
    int64_t y, m, d;
    if (!digits(s, n, i, 9, &y)) return BS_EINVAL;
    if (*i >= n || s[*i] != '-') return BS_EINVAL;
    (*i)++;
    if (!digits(s, n, i, 2, &m) || *i >= n || s[*i] != '-') return BS_EINVAL;
    (*i)++;
    if (!digits(s, n, i, 2, &d)) return BS_EINVAL;
    if (neg) y = -y;
    if (m < 1 || m > 12 || d < 1 || d > days_in_month(y, (unsigned)m))
        return BS_EINVAL;
    *days = bs__value_days_from_civil(y, (unsigned)m, (unsigned)d);
    return 0;
}

/* h:m[:s[.f]] -> ns since midnight. need_sec: seconds mandatory. */
static int parse_hms(const char *s, size_t n, size_t *i, int need_sec,
                     int64_t *ns) {
    int64_t h, m, sec = 0, frac = 0;
    if (!digits(s, n, i, 2, &h) || *i >= n || s[*i] != ':') return BS_EINVAL;
    (*i)++;
    if (!digits(s, n, i, 2, &m)) return BS_EINVAL;
    if (*i < n && s[*i] == ':') {
        (*i)++;
        if (!digits(s, n, i, 2, &sec)) return BS_EINVAL;
        if (*i < n && s[*i] == '.') {
            (*i)++;
            int k = digits(s, n, i, 9, &frac);
            if (!k) return BS_EINVAL;
            for (; k < 9; k++)
                frac *= 10;
            while (*i < n && isdigit((unsigned char)s[*i]))
                (*i)++;
        }
    } else if (need_sec) {
        return BS_EINVAL;
    }
    if (h > 23 || m > 59 || sec > 59) return BS_ERANGE;
    *ns = ((h * 60 + m) * 60 + sec) * 1000000000LL + frac;
    return 0;
}

static void trim(const char **s, size_t *n) {
    while (*n && isspace((unsigned char)**s)) {
        (*s)++;
        (*n)--;
    }
    while (*n && isspace((unsigned char)(*s)[*n - 1]))
        (*n)--;
}

int bs_value_parse_timestamp(const char *s, size_t n, int64_t *ms) {
    trim(&s, &n);
    if (all_int(s, n)) return parse_i64(s, n, ms);
    size_t i = 0;
    int64_t days, tod = 0, off_min = 0;
    if (parse_ymd(s, n, &i, &days)) return BS_EINVAL;
    if (i < n && (s[i] == 'T' || s[i] == ' ') && i + 1 < n &&
        isdigit((unsigned char)s[i + 1])) {
        i++;
        int rc = parse_hms(s, n, &i, 0, &tod);
        if (rc) return BS_EINVAL;
    }
    while (i < n && s[i] == ' ')
        i++;
    if (i < n) {
        if ((s[i] == 'Z' || s[i] == 'z') && i + 1 == n) {
            i++;
        } else if (n - i == 3 && (strncasecmp(s + i, "UTC", 3) == 0 ||
                                  strncasecmp(s + i, "GMT", 3) == 0)) {
            i += 3;
        } else if (s[i] == '+' || s[i] == '-') {
            int neg = s[i++] == '-';
            int64_t hh, mm = 0;
            if (digits(s, n, &i, 2, &hh) != 2) return BS_EINVAL;
            if (i < n && s[i] == ':') i++;
            if (i < n && digits(s, n, &i, 2, &mm) != 2) return BS_EINVAL;
            if (hh > 18 || mm > 59) return BS_EINVAL;
            off_min = (neg ? -1 : 1) * (hh * 60 + mm);
        }
    }
    if (i != n) return BS_EINVAL;
    int64_t r;
    if (__builtin_mul_overflow(days, MS_PER_DAY, &r) ||
        __builtin_add_overflow(r, tod / 1000000, &r) ||
        __builtin_sub_overflow(r, off_min * 60000, &r))
        return BS_ERANGE;
    *ms = r;
    return 0;
}

int bs_value_parse_date(const char *s, size_t n, uint32_t *out) {
    trim(&s, &n);
    if (all_int(s, n)) {
        int64_t v;
        int rc = parse_i64(s, n, &v);
        if (rc) return BS_ERANGE;
        if (v < 0 || v > (int64_t)UINT32_MAX) return BS_ERANGE;
        *out = (uint32_t)v;
        return 0;
    }
    size_t i = 0;
    int64_t days;
    if (parse_ymd(s, n, &i, &days) || i != n) return BS_EINVAL;
    days += (int64_t)1 << 31;
    if (days < 0 || days > (int64_t)UINT32_MAX) return BS_ERANGE;
    *out = (uint32_t)days;
    return 0;
}

int bs_value_parse_time(const char *s, size_t n, int64_t *nanos) {
    trim(&s, &n);
    if (all_int(s, n)) {
        int64_t v;
        int rc = parse_i64(s, n, &v);
        if (rc) return BS_ERANGE;
        if (v < 0 || v >= NS_PER_DAY) return BS_ERANGE;
        *nanos = v;
        return 0;
    }
    size_t i = 0;
    int rc = parse_hms(s, n, &i, 1, nanos);
    if (rc) return rc;
    return i == n ? 0 : BS_EINVAL;
}

/* ------------------------------------------------------------ duration */

typedef struct {
    int64_t months, days, nanos;
    int sign; /* -1 for a negative duration: components accumulate down, so
               * INT64_MIN nanoseconds are reachable */
} dur;

#define dur_add(acc, v, mul) dur_add_(d, acc, v, mul)
static int dur_add_(const dur *d, int64_t *acc, int64_t v, int64_t mul) {
    int64_t t;
    if (__builtin_mul_overflow(v, mul * d->sign, &t) ||
        __builtin_add_overflow(*acc, t, acc))
        return BS_ERANGE;
    return 0;
}

static int parse_standard(const char *s, size_t n, dur *d) {
    size_t i = 0;
    if (i == n) return BS_EINVAL;
    while (i < n) {
        int64_t v = 0;
        size_t st = i;
        while (i < n && isdigit((unsigned char)s[i])) {
            int dg = s[i++] - '0';
            if (v > (INT64_MAX - dg) / 10) return BS_ERANGE;
            v = v * 10 + dg;
        }
        if (i == st) return BS_EINVAL;
        size_t us = i;
        while (i < n && !isdigit((unsigned char)s[i]))
            i++;
        size_t ul = i - us;
        const char *u = s + us;
        int rc;
#define U(str) (ul == sizeof(str) - 1 && strncasecmp(u, str, ul) == 0)
        if (U("y"))
            rc = dur_add(&d->months, v, 12);
        else if (U("mo"))
            rc = dur_add(&d->months, v, 1);
        else if (U("w"))
            rc = dur_add(&d->days, v, 7);
        else if (U("d"))
            rc = dur_add(&d->days, v, 1);
        else if (U("h"))
            rc = dur_add(&d->nanos, v, 3600LL * 1000000000LL);
        else if (U("m"))
            rc = dur_add(&d->nanos, v, 60LL * 1000000000LL);
        else if (U("s"))
            rc = dur_add(&d->nanos, v, 1000000000LL);
        else if (U("ms"))
            rc = dur_add(&d->nanos, v, 1000000LL);
        else if (U("us") || U("\xc2\xb5s") || U("\xc2\xb5S"))
            rc = dur_add(&d->nanos, v, 1000LL);
        else if (U("ns"))
            rc = dur_add(&d->nanos, v, 1);
        else
            return BS_EINVAL;
#undef U
        if (rc) return rc;
    }
    return 0;
}

static int parse_iso(const char *s, size_t n, dur *d) {
    size_t i = 1; /* after P */
    /* week form */
    if (n >= 3 && s[n - 1] == 'W') {
        int64_t w;
        i = 1;
        int k = digits(s, n, &i, 18, &w);
        if (!k || i != n - 1) return BS_EINVAL;
        return dur_add(&d->days, w, 7);
    }
    if (memchr(s, '-', n)) { /* alternative form */
        int64_t y, mo, dd, h, mi, se;
        if (n != 20) return BS_EINVAL;
        i = 1;
        if (digits(s, n, &i, 4, &y) != 4 || s[i++] != '-' ||
            digits(s, n, &i, 2, &mo) != 2 || s[i++] != '-' ||
            digits(s, n, &i, 2, &dd) != 2 || s[i++] != 'T' ||
            digits(s, n, &i, 2, &h) != 2 || s[i++] != ':' ||
            digits(s, n, &i, 2, &mi) != 2 || s[i++] != ':' ||
            digits(s, n, &i, 2, &se) != 2 || i != n)
            return BS_EINVAL;
        d->months = d->sign * (y * 12 + mo);
        d->days = d->sign * dd;
        d->nanos = d->sign * (((h * 60 + mi) * 60 + se) * 1000000000LL);
        return 0;
    }
    static const char date_units[] = "YMD", time_units[] = "HMS";
    int in_time = 0, next = 0;
    while (i < n) {
        if (s[i] == 'T' && !in_time) {
            in_time = 1;
            next = 0;
            i++;
            continue;
        }
        int64_t v;
        if (!digits(s, n, &i, 18, &v) || i >= n) return BS_EINVAL;
        const char *units = in_time ? time_units : date_units;
        const char *p = strchr(units + next, s[i]);
        if (!p || !s[i]) return BS_EINVAL;
        next = (int)(p - units) + 1;
        int rc;
        if (!in_time) {
            rc = s[i] == 'Y'   ? dur_add(&d->months, v, 12)
                 : s[i] == 'M' ? dur_add(&d->months, v, 1)
                               : dur_add(&d->days, v, 1);
        } else {
            rc = dur_add(&d->nanos, v,
                         s[i] == 'H'   ? 3600LL * 1000000000LL
                         : s[i] == 'M' ? 60LL * 1000000000LL
                                       : 1000000000LL);
        }
        if (rc) return rc;
        i++;
    }
    return 0;
}

int bs_value_parse_duration(const char *s, size_t n, int32_t *months,
                            int32_t *days, int64_t *nanos) {
    trim(&s, &n);
    int neg = 0;
    if (n && s[0] == '-') {
        neg = 1;
        s++;
        n--;
    }
    dur d = {0, 0, 0, neg ? -1 : 1};
    int rc = n && s[0] == 'P' ? parse_iso(s, n, &d) : parse_standard(s, n, &d);
    if (rc) return BS_EINVAL;
    if (d.months > INT32_MAX || d.days > INT32_MAX || d.months < INT32_MIN ||
        d.days < INT32_MIN)
        return BS_EINVAL;
    *months = (int32_t)d.months;
    *days = (int32_t)d.days;
    *nanos = d.nanos;
    return 0;
}

/* ------------------------------------------------------------ printing */

int bs__value_fmt_timestamp(int64_t ms, int style, bs_buf *out) {
    int64_t days = ms / MS_PER_DAY, rem = ms % MS_PER_DAY;
    if (rem < 0) {
        rem += MS_PER_DAY;
        days--;
    }
    int64_t y;
    unsigned m, d;
    bs__value_civil_from_days(days, &y, &m, &d);
    int hh = (int)(rem / 3600000), mi = (int)(rem / 60000 % 60),
        ss = (int)(rem / 1000 % 60), mss = (int)(rem % 1000);
    if (style != BS__TS_JSON && (y < 1 || y > 9999))
        return bs_buf_appendf(out, "%lld", (long long)ms);
    switch (style) {
    case BS__TS_CQLSH:
        return bs_buf_appendf(out,
                              "%04lld-%02u-%02u %02d:%02d:%02d.%03d000+0000",
                              (long long)y, m, d, hh, mi, ss, mss);
    case BS__TS_JSON:
        return bs_buf_appendf(out, "%04lld-%02u-%02u %02d:%02d:%02d.%03dZ",
                              (long long)y, m, d, hh, mi, ss, mss);
    default:
        return bs_buf_appendf(out, "%04lld-%02u-%02uT%02d:%02d:%02d.%03dZ",
                              (long long)y, m, d, hh, mi, ss, mss);
    }
}

int bs__value_fmt_date(uint32_t v, int exact, bs_buf *out) {
    int64_t days = (int64_t)v - ((int64_t)1 << 31);
    int64_t y;
    unsigned m, d;
    bs__value_civil_from_days(days, &y, &m, &d);
    if (y < 1 || y > 9999) {
        if (exact) return bs_buf_appendf(out, "%u", v);
        return bs_buf_appendf(out, "%lld", (long long)days);
    }
    return bs_buf_appendf(out, "%04lld-%02u-%02u", (long long)y, m, d);
}

int bs__value_fmt_time(int64_t ns, bs_buf *out) {
    int64_t s = ns / 1000000000LL;
    return bs_buf_appendf(out, "%02lld:%02lld:%02lld.%09lld",
                          (long long)(s / 3600), (long long)(s / 60 % 60),
                          (long long)(s % 60), (long long)(ns % 1000000000LL));
}

static uint64_t put_unit(bs_buf *out, uint64_t v, uint64_t div, const char *u,
                         int *rc) {
    if (v == 0 || v < div) return v;
    if (!*rc)
        *rc = bs_buf_appendf(out, "%llu%s", (unsigned long long)(v / div), u);
    return v % div;
}

int bs__value_fmt_duration(int32_t months, int32_t days, int64_t nanos,
                           bs_buf *out) {
    int rc = 0;
    if (months == 0 && days == 0 && nanos == 0)
        return bs_buf_append_str(out, "0s");
    if (months < 0 || days < 0 || nanos < 0) rc = bs_buf_append_u8(out, '-');
    uint64_t am = months < 0 ? (uint64_t)(-(int64_t)months) : (uint64_t)months;
    uint64_t ad = days < 0 ? (uint64_t)(-(int64_t)days) : (uint64_t)days;
    uint64_t an = nanos < 0 ? 0 - (uint64_t)nanos : (uint64_t)nanos;
    uint64_t r = put_unit(out, am, 12, "y", &rc);
    put_unit(out, r, 1, "mo", &rc);
    put_unit(out, ad, 1, "d", &rc);
    if (an) {
        r = put_unit(out, an, 3600000000000ULL, "h", &rc);
        r = put_unit(out, r, 60000000000ULL, "m", &rc);
        r = put_unit(out, r, 1000000000ULL, "s", &rc);
        r = put_unit(out, r, 1000000ULL, "ms", &rc);
        r = put_unit(out, r, 1000ULL, "us", &rc);
        put_unit(out, r, 1, "ns", &rc);
    }
    return rc;
}
