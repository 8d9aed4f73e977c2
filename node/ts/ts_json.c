/*
 * ts_json.c - number and time formatting exactly as InfluxDB's JSON
 * answers print them (Go's encoding/json and time.RFC3339Nano).
 *
 *   floats: the shortest decimal that reads back as the same double;
 *           fixed notation when 1e-6 <= |x| < 1e21, otherwise Go's 'e'
 *           form with the exponent's leading zeros removed ("1e-07" ->
 *           "1e-7", "1e+21")
 *   times:  "2006-01-02T15:04:05.999999999Z" with trailing zeros of the
 *           fraction (and a bare '.') removed; or an integer in the unit
 *           the `epoch` parameter names (ns u/us ms s m h)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "node/ts/ts_int.h"

int bs__ts_fmt_float(double f, char *out, size_t cap) {
    if (isnan(f) || isinf(f)) return snprintf(out, cap, "null");
    if (f == 0) return snprintf(out, cap, signbit(f) ? "-0" : "0");
    /* the fewest significant digits that read back as f: 17 always do,
     * and if p digits do, so do p + 1 (the finer decimal grid holds the
     * coarser one, so its nearest point is no farther from f; f's
     * rounding interval is symmetric unless f is a power of two, which
     * is searched digit by digit), so after short values (1-4 digits,
     * tried in turn) the count is found by bisection */
    char e[40];
    int p, lo = 5, hi = 17, ex2;
    int pow2 = fabs(frexp(f, &ex2)) == 0.5;
    for (p = 1; p <= (pow2 ? 17 : 4); p++) {
        snprintf(e, sizeof e, "%.*e", p - 1, f);
        if (strtod(e, NULL) == f) break;
    }
    if (p > 4 && !pow2) {
        while (lo < hi) {
            int mid = (lo + hi) / 2;
            snprintf(e, sizeof e, "%.*e", mid - 1, f);
            if (strtod(e, NULL) == f) hi = mid;
            else lo = mid + 1;
        }
        snprintf(e, sizeof e, "%.*e", lo - 1, f);
    }
    /* e = [-]d[.ddd]e[+-]XX */
    const char *s = e;
    int neg = *s == '-';
    if (neg) s++;
    char dig[24];
    size_t nd = 0;
    for (; *s && *s != 'e'; s++)
        if (*s != '.') dig[nd++] = *s;
    while (nd > 1 && dig[nd - 1] == '0') nd--;
    int ex = atoi(s + 1);
    double a = fabs(f);
    size_t k = 0;
    char o[400];
    if (neg) o[k++] = '-';
    if (a < 1e-6 || a >= 1e21) {
        o[k++] = dig[0];
        if (nd > 1) {
            o[k++] = '.';
            memcpy(o + k, dig + 1, nd - 1);
            k += nd - 1;
        }
        k += (size_t)snprintf(o + k, sizeof o - k, "e%c%d", ex < 0 ? '-' : '+', ex < 0 ? -ex : ex);
    } else if (ex < 0) {
        o[k++] = '0';
        o[k++] = '.';
        for (int z = 0; z < -ex - 1; z++) o[k++] = '0';
        memcpy(o + k, dig, nd);
        k += nd;
    } else {
        for (int i = 0; i <= ex; i++) o[k++] = (size_t)i < nd ? dig[i] : '0';
        if ((size_t)ex + 1 < nd) {
            o[k++] = '.';
            memcpy(o + k, dig + ex + 1, nd - (size_t)ex - 1);
            k += nd - (size_t)ex - 1;
        }
    }
    o[k] = 0;
    return snprintf(out, cap, "%s", o);
}

int bs__ts_fmt_time(int64_t ns, int64_t epoch_div, char *out, size_t cap) {
    if (epoch_div > 0) {
        int64_t q = ns / epoch_div;
        if (ns % epoch_div && ns < 0) q--;
        return snprintf(out, cap, "%lld", (long long)q);
    }
    int64_t sec = ns / 1000000000LL, frac = ns % 1000000000LL;
    if (frac < 0) {
        frac += 1000000000LL;
        sec--;
    }
    time_t t = (time_t)sec;
    struct tm tm;
    gmtime_r(&t, &tm);
    char base[64];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!frac) return snprintf(out, cap, "\"%sZ\"", base);
    char fr[16];
    snprintf(fr, sizeof fr, "%09lld", (long long)frac);
    size_t n = 9;
    while (n > 0 && fr[n - 1] == '0') n--;
    fr[n] = 0;
    return snprintf(out, cap, "\"%s.%sZ\"", base, fr);
}

int64_t bs__ts_epoch_div(const char *epoch) {
    if (!epoch || !*epoch) return 0;
    if (!strcmp(epoch, "ns") || !strcmp(epoch, "n")) return 1;
    if (!strcmp(epoch, "u") || !strcmp(epoch, "us") || !strcmp(epoch, "µ")) return 1000;
    if (!strcmp(epoch, "ms")) return 1000000;
    if (!strcmp(epoch, "s")) return 1000000000LL;
    if (!strcmp(epoch, "m")) return 60000000000LL;
    if (!strcmp(epoch, "h")) return 3600000000000LL;
    return 1;
}
