/*
 * lineproto.c - InfluxDB line protocol parser (see lineproto.h).
 *
 * Two passes per body, as InfluxDB 1.x reads it:
 *
 *   1. Split into lines.  A '\n' ends a line unless it is inside a quoted
 *      string field value; quotes only count after the first unescaped
 *      space (in the field section) and only in a value position (more
 *      '=' than ',' seen), and a backslash skips the byte after it.
 *   2. Each line, scanned left to right by three small state machines:
 *
 *        key     measurement [ "," tagkey "=" tagvalue ]*   up to a space
 *        fields  key "=" value [ "," key "=" value ]*       up to a space
 *                outside quotes
 *        time    optional [-]digits, then only spaces
 *
 *      "Escaped" always means "the previous byte is a backslash" (InfluxDB's
 *      rule, so "a\\ b" treats the space as escaped too).  Number syntax
 *      is checked while scanning (one '.', 'e' not first, 'i'/'u' last,
 *      no 'i'/'u' with '.' or 'e', at least one digit); then values are
 *      converted, with the range checks and the messages of Go's strconv.
 *
 * The error messages are InfluxDB's, word for word (the HTTP layer wraps
 * them as "unable to parse '<line>': <msg>").  Nothing here allocates
 * unless a name or value contains a backslash (unescaped copy), the tags
 * are unsorted (rebuilt series key), or the line has tags/fields (arrays).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "query/ts/lineproto.h"

#define MAX_KEY_LEN 65535

const char *bs_lp_type_name(bs_lp_type t) {
    switch (t) {
    case BS_LP_FLOAT: return "float";
    case BS_LP_INT: return "integer";
    case BS_LP_UINT: return "unsigned";
    case BS_LP_STRING: return "string";
    case BS_LP_BOOL: return "boolean";
    }
    return "?";
}

bs_lp_precision bs_lp_precision_v1(const char *s) {
    if (!s) return BS_LP_NS;
    if (!strcmp(s, "u")) return BS_LP_US;
    if (!strcmp(s, "ms")) return BS_LP_MS;
    if (!strcmp(s, "s")) return BS_LP_S;
    if (!strcmp(s, "m")) return BS_LP_M;
    if (!strcmp(s, "h")) return BS_LP_H;
    return BS_LP_NS;
}

int bs_lp_precision_v2(const char *s, bs_lp_precision *out) {
    if (!s || !*s || !strcmp(s, "ns")) *out = BS_LP_NS;
    else if (!strcmp(s, "us")) *out = BS_LP_US;
    else if (!strcmp(s, "ms")) *out = BS_LP_MS;
    else if (!strcmp(s, "s")) *out = BS_LP_S;
    else return BS_EINVAL;
    return 0;
}

int64_t bs_lp_precision_ns(bs_lp_precision p) {
    static const int64_t m[] = {1, 1000, 1000000, 1000000000LL, 60000000000LL,
                                3600000000000LL};
    return m[p];
}

/* ------------------------------------------------------------------ */
/* Small helpers                                                       */
/* ------------------------------------------------------------------ */

typedef struct ctx {
    const char *b;
    size_t n;
    bs_arena *a;
    const char *msg; /* error message when a step fails */
} ctx;

#define FAIL(c, m) ((c)->msg = (m), -1)

static int esc(const ctx *c, size_t i) { return i > 0 && c->b[i - 1] == '\\'; }

static size_t skip_ws(const char *b, size_t n, size_t i) {
    while (i < n && (b[i] == ' ' || b[i] == '\t' || b[i] == 0)) i++;
    return i;
}

/* Copies s without the backslash of "\x" for x in `set`; returns s itself
 * when it has no backslash.  `ok` = 0 on OOM. */
static bs_lp_str unescape(bs_arena *a, const char *s, size_t n, const char *set, int *ok) {
    bs_lp_str r = {s, n};
    if (!memchr(s, '\\', n)) return r;
    char *o = bs_arena_alloc(a, n ? n : 1);
    if (!o) {
        *ok = 0;
        return r;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\\' && i + 1 < n && s[i + 1] && strchr(set, s[i + 1])) {
            o[k++] = s[++i];
            continue;
        }
        o[k++] = s[i];
    }
    r.p = o;
    r.n = k;
    return r;
}

static const char *fmt(ctx *c, const char *f, const char *s, size_t n) {
    size_t cap = 2 * n + strlen(f) + 32;
    char *o = bs_arena_alloc(c->a, cap);
    if (!o) return "out of memory";
    snprintf(o, cap, f, (int)n, s, (int)n, s);
    return o;
}

/* ------------------------------------------------------------------ */
/* Key: measurement and tags                                           */
/* ------------------------------------------------------------------ */

typedef struct rawtag {
    size_t k0, k1, v0, v1; /* raw key [k0,k1), raw value [v0,v1) */
} rawtag;

static int cmp_raw(const ctx *c, const rawtag *x, const rawtag *y) {
    size_t lx = x->k1 - x->k0, ly = y->k1 - y->k0;
    int r = memcmp(c->b + x->k0, c->b + y->k0, lx < ly ? lx : ly);
    return r ? r : (lx > ly) - (lx < ly);
}

/* Scans the key from 0; *end = position of the space before the fields,
 * tags into *tags (arena). */
static int scan_key(ctx *c, size_t *end, rawtag **tags, size_t *ntags, size_t *mend) {
    const char *b = c->b;
    size_t n = c->n, i = 0;
    if (i >= n || b[i] == ',') return FAIL(c, "missing measurement");
    int state;
    for (;;) {
        i++;
        if (i >= n) return FAIL(c, "missing fields");
        if (esc(c, i)) continue;
        if (b[i] == ',') {
            state = 1;
            break;
        }
        if (b[i] == ' ') {
            state = 0;
            break;
        }
    }
    *mend = i;
    *ntags = 0;
    *tags = NULL;
    if (state == 0) {
        *end = i;
        return 0;
    }
    size_t cap = 0;
    i++; /* first tag key */
    for (;;) {
        if (*ntags == cap) {
            size_t nc = cap ? cap * 2 : 8;
            rawtag *t = bs_arena_alloc(c->a, nc * sizeof *t);
            if (!t) return FAIL(c, "out of memory");
            if (cap) memcpy(t, *tags, cap * sizeof *t);
            *tags = t;
            cap = nc;
        }
        rawtag *t = &(*tags)[(*ntags)++];
        t->k0 = i;
        if (i >= n || b[i] == ' ' || b[i] == ',' || b[i] == '=') return FAIL(c, "missing tag key");
        for (;;) {
            i++;
            if (i >= n || ((b[i] == ' ' || b[i] == ',') && !esc(c, i)))
                return FAIL(c, "missing tag value");
            if (b[i] == '=' && !esc(c, i)) break;
        }
        t->k1 = i;
        i++;
        t->v0 = i;
        if (i >= n || b[i] == ',' || b[i] == ' ') return FAIL(c, "missing tag value");
        for (;;) {
            i++;
            if (i >= n) return FAIL(c, "missing fields");
            if (b[i] == '=' && !esc(c, i)) return FAIL(c, "invalid tag format");
            if ((b[i] == ',' || b[i] == ' ') && !esc(c, i)) break;
        }
        t->v1 = i;
        if (b[i] == ' ') break;
        i++;
    }
    *end = i;
    return 0;
}

/* Insertion sort by raw key (tag counts are small); 1 if it was sorted. */
static int sort_tags(const ctx *c, rawtag *t, size_t n) {
    int sorted = 1;
    for (size_t i = 1; i < n; i++) {
        rawtag x = t[i];
        size_t j = i;
        while (j > 0 && cmp_raw(c, &x, &t[j - 1]) < 0) {
            t[j] = t[j - 1];
            j--;
            sorted = 0;
        }
        t[j] = x;
    }
    return sorted;
}

/* ------------------------------------------------------------------ */
/* Fields                                                              */
/* ------------------------------------------------------------------ */

static int is_num(char ch) { return (ch >= '0' && ch <= '9') || ch == '.'; }

/* Syntax of a number starting at i (InfluxDB's scanNumber); *end after
 * it.  Range checks happen at conversion. */
static int scan_number(ctx *c, size_t i, size_t *end) {
    const char *b = c->b;
    size_t n = c->n, start = i;
    int is_int = 0, is_uint = 0, decimal = 0, sci = 0;
    if (i < n && b[i] == '-') {
        i++;
        if (i == n) return FAIL(c, "invalid number");
    }
    for (; i < n; i++) {
        char ch = b[i];
        if (ch == ',' || ch == ' ') break;
        if ((ch == 'i' || ch == 'u') && i > start && !(is_int || is_uint)) {
            if (ch == 'i')
                is_int = 1;
            else
                is_uint = 1;
            continue;
        }
        if (ch == '.') {
            if (decimal) return FAIL(c, "invalid number");
            decimal = 1;
        }
        if (i > start && (ch == 'e' || ch == 'E')) {
            sci = 1;
            continue;
        }
        if ((ch == '+' || ch == '-') && (b[i - 1] == 'e' || b[i - 1] == 'E')) continue;
        if (i + 2 < n && (ch == 'N' || ch == 'n')) return FAIL(c, "invalid number");
        if (!is_num(ch)) return FAIL(c, "invalid number");
    }
    *end = i;
    if ((is_int || is_uint) && (decimal || sci)) return FAIL(c, "invalid number");
    size_t digits = i - start;
    if (is_int || is_uint) digits--;
    if (decimal) digits--;
    if (b[start] == '-') digits--;
    if (digits == 0) return FAIL(c, "invalid number");
    if ((is_int || is_uint) && b[i - 1] != (is_int ? 'i' : 'u')) return FAIL(c, "invalid number");
    if (is_uint && b[start] == '-') return FAIL(c, "invalid number");
    return 0;
}

static int scan_bool(ctx *c, size_t i, size_t *end) {
    const char *b = c->b;
    size_t n = c->n, start = i;
    if (i < n && b[i] != 't' && b[i] != 'f' && b[i] != 'T' && b[i] != 'F')
        return FAIL(c, "invalid boolean");
    i++;
    while (i < n && b[i] != ',' && b[i] != ' ') i++;
    *end = i;
    size_t l = i - start;
    if (l == 1) return 0;
    const char *s = b + start;
    static const char *const ok[] = {"true", "True", "TRUE", "false", "False", "FALSE"};
    for (size_t k = 0; k < 6; k++)
        if (strlen(ok[k]) == l && !memcmp(s, ok[k], l)) return 0;
    return FAIL(c, "invalid boolean");
}

/* The field section from `pos`; [*f0, *f1) is its extent. */
static int scan_fields(ctx *c, size_t pos, size_t *f0, size_t *f1) {
    const char *b = c->b;
    size_t n = c->n, start = skip_ws(b, n, pos), i = start;
    int quoted = 0;
    size_t equals = 0, commas = 0;
    *f0 = start;
    while (i < n) {
        if (b[i] == '\\' && i + 1 < n) {
            i += 2;
            continue;
        }
        if (b[i] == '"' && equals > commas) {
            quoted = !quoted;
            i++;
            continue;
        }
        if (b[i] == '=' && !quoted) {
            equals++;
            if (i >= 2 && b[i - 1] == ' ' && b[i - 2] != '\\') return FAIL(c, "missing field key");
            if (i >= 2 && b[i - 1] == ',' && b[i - 2] != '\\') return FAIL(c, "missing field key");
            if (i + 1 >= n) return FAIL(c, "missing field value");
            char nx = b[i + 1];
            if (nx == ',' || nx == ' ') return FAIL(c, "missing field value");
            if (is_num(nx) || nx == '-' || nx == 'N' || nx == 'n') {
                if (scan_number(c, i + 1, &i)) return -1;
                continue;
            }
            if (nx != '"') {
                if (scan_bool(c, i + 1, &i)) return -1;
                continue;
            }
        }
        if (b[i] == ',' && !quoted) commas++;
        if (b[i] == ' ' && !quoted) break;
        i++;
    }
    *f1 = i;
    if (quoted) return FAIL(c, "unbalanced quotes");
    if (equals == 0 || commas != equals - 1) return FAIL(c, "invalid field format");
    if (i == start) return FAIL(c, "missing fields");
    return 0;
}

/* A float of at most 15 digits and no exponent ("-12.345"): exact as
 * mantissa / 10^k (both exact in a double, k <= 15), so one division
 * rounds it correctly, as strtod would.  0 when v is not of that form. */
static int fast_float(const char *v, size_t n, double *out) {
    static const double p10[16] = {1e0, 1e1, 1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                   1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};
    size_t i = 0, digits = 0, frac = 0;
    int neg = 0, dot = 0;
    uint64_t m = 0;
    if (i < n && v[i] == '-') {
        neg = 1;
        i++;
    }
    for (; i < n; i++) {
        char ch = v[i];
        if (ch >= '0' && ch <= '9') {
            if (++digits > 15) return 0;
            m = m * 10 + (uint64_t)(ch - '0');
            frac += (size_t)dot;
        } else if (ch == '.' && !dot) {
            dot = 1;
        } else {
            return 0;
        }
    }
    if (!digits) return 0;
    double d = (double)m / p10[frac];
    *out = neg ? -d : d;
    return 1;
}

/* Converts one raw value; the syntax was checked by scan_fields. */
static int convert(ctx *c, const char *v, size_t n, bs_lp_field *f) {
    char tmp[64];
    char *s = tmp;
    if (n == 0) return FAIL(c, "missing field value");
    if (v[0] == '"') {
        f->type = BS_LP_STRING;
        int ok = 1;
        f->v.s = unescape(c->a, v + 1, n >= 2 ? n - 2 : 0, "\"\\", &ok);
        return ok ? 0 : FAIL(c, "out of memory");
    }
    if (v[0] == 't' || v[0] == 'T' || v[0] == 'f' || v[0] == 'F') {
        f->type = BS_LP_BOOL;
        f->v.b = v[0] == 't' || v[0] == 'T';
        return 0;
    }
    char last = v[n - 1];
    if (last != 'i' && last != 'u' && fast_float(v, n, &f->v.f)) {
        f->type = BS_LP_FLOAT;
        return 0;
    }
    size_t dn = (last == 'i' || last == 'u') ? n - 1 : n;
    if (dn + 1 > sizeof tmp) {
        s = bs_arena_alloc(c->a, dn + 1);
        if (!s) return FAIL(c, "out of memory");
    }
    memcpy(s, v, dn);
    s[dn] = 0;
    char *e;
    errno = 0;
    if (last == 'i') {
        f->type = BS_LP_INT;
        f->v.i = strtoll(s, &e, 10);
        if (errno == ERANGE)
            return FAIL(c, fmt(c, "unable to parse integer %.*s: strconv.ParseInt: parsing \"%.*s\": value out of range", s, dn));
    } else if (last == 'u') {
        f->type = BS_LP_UINT;
        f->v.u = strtoull(s, &e, 10);
        if (errno == ERANGE)
            return FAIL(c, fmt(c, "unable to parse unsigned %.*s: strconv.ParseUint: parsing \"%.*s\": value out of range", s, dn));
    } else {
        f->type = BS_LP_FLOAT;
        f->v.f = strtod(s, &e);
        if ((errno == ERANGE && isinf(f->v.f)) || *e) return FAIL(c, "invalid float");
    }
    return 0;
}

/* Splits the field section into fields (later duplicates replace). */
static int split_fields(ctx *c, size_t f0, size_t f1, bs_lp_point *pt) {
    const char *b = c->b;
    size_t cap = 0, nf = 0;
    bs_lp_field *fs = NULL;
    size_t i = f0;
    while (i < f1) {
        size_t k0 = i;
        while (i < f1 && !(b[i] == '=' && !(i > k0 && b[i - 1] == '\\'))) i++;
        if (i >= f1) return FAIL(c, "invalid field format"); /* a key without '=' */
        if (i == k0) return FAIL(c, "missing field key");    /* "m \0=1": blanks skipped */
        size_t k1 = i++;
        size_t v0 = i;
        int quoted = 0;
        while (i < f1) {
            if (b[i] == '\\' && i + 1 < f1 && (b[i + 1] == '"' || b[i + 1] == '\\')) {
                i += 2;
                continue;
            }
            if (b[i] == '"') quoted = !quoted;
            else if (b[i] == ',' && !quoted) break;
            i++;
        }
        size_t v1 = i < f1 ? i : f1;
        i = v1 + 1;
        int ok = 1;
        bs_lp_str key = unescape(c->a, b + k0, k1 - k0, ",\" =", &ok);
        if (!ok) return FAIL(c, "out of memory");
        if (MAX_KEY_LEN < pt->series_key.n + 4 + (k1 - k0)) {
            char *m = bs_arena_alloc(c->a, 80);
            if (!m) return FAIL(c, "out of memory");
            snprintf(m, 80, "max key length exceeded: %zu > %d", pt->series_key.n + 4 + (k1 - k0),
                     MAX_KEY_LEN);
            return FAIL(c, m);
        }
        bs_lp_field f;
        memset(&f, 0, sizeof f);
        f.key = key;
        if (convert(c, b + v0, v1 - v0, &f)) return -1;
        size_t j = 0;
        while (j < nf && !(fs[j].key.n == key.n && !memcmp(fs[j].key.p, key.p, key.n))) j++;
        if (j < nf) {
            fs[j] = f;
            continue;
        }
        if (nf == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            bs_lp_field *nfs = bs_arena_alloc(c->a, ncap * sizeof *nfs);
            if (!nfs) return FAIL(c, "out of memory");
            if (nf) memcpy(nfs, fs, nf * sizeof *fs);
            fs = nfs;
            cap = ncap;
        }
        fs[nf++] = f;
    }
    pt->fields = fs;
    pt->nfields = nf;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Time                                                                */
/* ------------------------------------------------------------------ */

#define MIN_NANO (INT64_MIN + 2)
#define MAX_NANO (INT64_MAX - 1)

static int scan_time(ctx *c, size_t pos, bs_lp_precision prec, int64_t now, int64_t *out) {
    const char *b = c->b;
    size_t n = c->n, start = skip_ws(b, n, pos), i = start;
    for (; i < n; i++) {
        if (b[i] == '\n' || b[i] == ' ') break;
        if (i == start && b[i] == '-') continue;
        if (b[i] < '0' || b[i] > '9') return FAIL(c, "bad timestamp");
    }
    int64_t mult = bs_lp_precision_ns(prec);
    if (i == start) {
        int64_t t = now - now % mult;
        if (now < 0 && now % mult) t -= mult;
        *out = t;
        return 0;
    }
    char tmp[32];
    size_t tn = i - start;
    if (tn >= sizeof tmp || (tn == 1 && b[start] == '-')) {
        const char *why = tn >= sizeof tmp || b[start] != '-' ? "value out of range" : "invalid syntax";
        char *m = bs_arena_alloc(c->a, tn + 80);
        if (!m) return FAIL(c, "out of memory");
        snprintf(m, tn + 80, "strconv.ParseInt: parsing \"%.*s\": %s", (int)tn, b + start, why);
        return FAIL(c, m);
    }
    memcpy(tmp, b + start, tn);
    tmp[tn] = 0;
    errno = 0;
    long long v = strtoll(tmp, NULL, 10);
    if (errno == ERANGE) {
        char *m = bs_arena_alloc(c->a, tn + 80);
        if (!m) return FAIL(c, "out of memory");
        snprintf(m, tn + 80, "strconv.ParseInt: parsing \"%s\": value out of range", tmp);
        return FAIL(c, m);
    }
    int64_t t;
    if (__builtin_mul_overflow((int64_t)v, mult, &t) || t < MIN_NANO || t > MAX_NANO)
        return FAIL(c, "time outside range -9223372036854775806 - 9223372036854775806");
    for (; i < n; i++)
        if (b[i] != ' ') return FAIL(c, "point is invalid");
    *out = t;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Lines                                                               */
/* ------------------------------------------------------------------ */

static size_t put_esc(char *o, bs_lp_str s, const char *set) {
    size_t k = 0;
    for (size_t i = 0; i < s.n; i++) {
        if (s.p[i] && strchr(set, s.p[i])) o[k++] = '\\';
        o[k++] = s.p[i];
    }
    return k;
}

/* The series key rebuilt from the unescaped parts with the minimal
 * escapes, so one series has one key however its line escaped it
 * ("t=\\=x" and "t==x" are the same tag value). */
static int canonical_key(bs_arena *a, bs_lp_point *pt) {
    size_t cap = 2 * pt->name.n + 1;
    for (size_t i = 0; i < pt->ntags; i++) cap += 2 * (pt->tags[i].key.n + pt->tags[i].value.n) + 2;
    char *o = bs_arena_alloc(a, cap);
    if (!o) return BS_ENOMEM;
    size_t k = put_esc(o, pt->name, ", ");
    for (size_t i = 0; i < pt->ntags; i++) {
        o[k++] = ',';
        k += put_esc(o + k, pt->tags[i].key, ", =");
        o[k++] = '=';
        k += put_esc(o + k, pt->tags[i].value, ", =");
    }
    pt->series_key.p = o;
    pt->series_key.n = k;
    return 0;
}

int bs_lp_parse_line(const char *line, size_t len, bs_lp_precision prec, int64_t now_ns,
                     bs_arena *a, bs_lp_point *pt, const char **msg) {
    ctx c = {line, len, a, NULL};
    memset(pt, 0, sizeof *pt);
    size_t kend, mend, ntags;
    rawtag *tags;
    int rc = BS_ESYNTAX;
    if (scan_key(&c, &kend, &tags, &ntags, &mend)) goto err;
    if (ntags > 1) {
        int sorted = sort_tags(&c, tags, ntags);
        for (size_t i = 0; i + 1 < ntags; i++)
            if (!cmp_raw(&c, &tags[i], &tags[i + 1])) {
                c.msg = "duplicate tags";
                goto err;
            }
        if (!sorted) { /* rebuild "m,k=v,..." from the sorted raw tags */
            char *k = bs_arena_alloc(a, kend);
            if (!k) goto oom;
            memcpy(k, line, mend);
            size_t o = mend;
            for (size_t i = 0; i < ntags; i++) {
                k[o++] = ',';
                memcpy(k + o, line + tags[i].k0, tags[i].v1 - tags[i].k0);
                o += tags[i].v1 - tags[i].k0;
            }
            pt->series_key.p = k;
            pt->series_key.n = o;
        }
    }
    if (!pt->series_key.p) {
        pt->series_key.p = line;
        pt->series_key.n = kend;
    }
    if (kend > MAX_KEY_LEN) {
        char *m = bs_arena_alloc(a, 80);
        if (!m) goto oom;
        snprintf(m, 80, "max key length exceeded: %zu > %d", kend, MAX_KEY_LEN);
        c.msg = m;
        goto err;
    }
    int ok = 1;
    pt->name = unescape(a, line, mend, ",\" =", &ok);
    if (ntags) {
        pt->tags = bs_arena_alloc(a, ntags * sizeof *pt->tags);
        if (!pt->tags) goto oom;
        for (size_t i = 0; i < ntags; i++) {
            pt->tags[i].key = unescape(a, line + tags[i].k0, tags[i].k1 - tags[i].k0, ", =", &ok);
            pt->tags[i].value = unescape(a, line + tags[i].v0, tags[i].v1 - tags[i].v0, ", =", &ok);
        }
        pt->ntags = ntags;
    }
    if (!ok) goto oom;
    int canon = memchr(pt->series_key.p, '\\', pt->series_key.n) != NULL;
    for (size_t i = 0; i < ntags && !canon; i++) canon = line[tags[i].v0] == '=';
    if (canon && canonical_key(a, pt)) goto oom;
    size_t f0, f1;
    if (scan_fields(&c, kend, &f0, &f1)) goto err;
    if (scan_time(&c, f1, prec, now_ns, &pt->time_ns)) goto err;
    if (split_fields(&c, f0, f1, pt)) goto err;
    return 0;
oom:
    c.msg = "out of memory";
    rc = BS_ENOMEM;
err:
    if (c.msg && !strcmp(c.msg, "out of memory")) rc = BS_ENOMEM;
    *msg = c.msg;
    return rc;
}

/* End of the line starting at i (InfluxDB's scanLine). */
static size_t line_end(const char *b, size_t n, size_t i) {
    int quoted = 0, fields = 0;
    size_t equals = 0, commas = 0;
    while (i < n) {
        if (b[i] == '\\') {
            i += 2;
            continue;
        }
        if (b[i] == ' ') fields = 1;
        if (fields) {
            if (!quoted && b[i] == '=') {
                i++;
                equals++;
                continue;
            } else if (!quoted && b[i] == ',') {
                i++;
                commas++;
                continue;
            } else if (b[i] == '"' && equals > commas) {
                i++;
                quoted = !quoted;
                continue;
            }
        }
        if (b[i] == '\n' && !quoted) break;
        i++;
    }
    return i < n ? i : n;
}

int bs_lp_parse(const char *buf, size_t len, bs_lp_precision prec, int64_t now_ns, bs_arena *a,
                bs_lp_result *out) {
    memset(out, 0, sizeof *out);
    size_t pcap = 0, ecap = 0, pos = 0, line_no = 1;
    while (pos < len) {
        size_t end = line_end(buf, len, pos);
        size_t this_line = line_no;
        for (size_t i = pos; i < end; i++) line_no += buf[i] == '\n';
        line_no += end < len; /* the terminating newline */
        size_t s = skip_ws(buf, end, pos);
        pos = end + 1;
        if (s >= end || buf[s] == '#') continue;
        bs_lp_point pt;
        const char *msg = NULL;
        int rc = bs_lp_parse_line(buf + s, end - s, prec, now_ns, a, &pt, &msg);
        if (rc == BS_ENOMEM) return rc;
        if (rc == 0) {
            if (out->npoints == pcap) {
                size_t nc = pcap ? pcap * 2 : 64;
                bs_lp_point *np = bs_arena_alloc(a, nc * sizeof *np);
                if (!np) return BS_ENOMEM;
                if (pcap) memcpy(np, out->points, out->npoints * sizeof *np);
                out->points = np;
                pcap = nc;
            }
            pt.line_no = this_line;
            out->points[out->npoints++] = pt;
        } else {
            if (out->nerrors == ecap) {
                size_t nc = ecap ? ecap * 2 : 8;
                bs_lp_error *ne = bs_arena_alloc(a, nc * sizeof *ne);
                if (!ne) return BS_ENOMEM;
                if (ecap) memcpy(ne, out->errors, out->nerrors * sizeof *ne);
                out->errors = ne;
                ecap = nc;
            }
            bs_lp_error *e = &out->errors[out->nerrors++];
            e->line_no = this_line;
            e->line.p = buf + s;
            e->line.n = end - s;
            e->msg = msg;
        }
    }
    return 0;
}

char *bs_lp_errors_text(const bs_lp_result *r, bs_arena *a) {
    size_t cap = 1;
    for (size_t i = 0; i < r->nerrors; i++)
        cap += r->errors[i].line.n + strlen(r->errors[i].msg) + 24;
    char *o = bs_arena_alloc(a, cap);
    if (!o) return NULL;
    size_t k = 0;
    o[0] = 0;
    for (size_t i = 0; i < r->nerrors; i++) {
        const bs_lp_error *e = &r->errors[i];
        k += (size_t)snprintf(o + k, cap - k, "%sunable to parse '%.*s': %s", i ? "\n" : "",
                              (int)e->line.n, e->line.p, e->msg);
    }
    return o;
}

/* ------------------------------------------------------------------ */
/* Writing                                                             */
/* ------------------------------------------------------------------ */

static int put_escaped(bs_buf *b, bs_lp_str s, const char *set) {
    for (size_t i = 0; i < s.n; i++) {
        if (strchr(set, s.p[i]) && s.p[i] && bs_buf_append_u8(b, '\\')) return BS_ENOMEM;
        if (bs_buf_append_u8(b, (uint8_t)s.p[i])) return BS_ENOMEM;
    }
    return 0;
}

int bs_lp_append_point(bs_buf *b, const bs_lp_point *pt) {
    int rc = put_escaped(b, pt->name, ", ");
    for (size_t i = 0; i < pt->ntags && !rc; i++) {
        rc = bs_buf_append_u8(b, ',');
        if (!rc) rc = put_escaped(b, pt->tags[i].key, ", =");
        if (!rc) rc = bs_buf_append_u8(b, '=');
        if (!rc) rc = put_escaped(b, pt->tags[i].value, ", =");
    }
    for (size_t i = 0; i < pt->nfields && !rc; i++) {
        const bs_lp_field *f = &pt->fields[i];
        rc = bs_buf_append_u8(b, i ? ',' : ' ');
        if (!rc) rc = put_escaped(b, f->key, ", =");
        if (rc) break;
        switch (f->type) {
        case BS_LP_FLOAT: rc = bs_buf_appendf(b, "=%.17g", f->v.f); break;
        case BS_LP_INT: rc = bs_buf_appendf(b, "=%lldi", (long long)f->v.i); break;
        case BS_LP_UINT: rc = bs_buf_appendf(b, "=%lluu", (unsigned long long)f->v.u); break;
        case BS_LP_BOOL: rc = bs_buf_append_str(b, f->v.b ? "=true" : "=false"); break;
        case BS_LP_STRING:
            rc = bs_buf_append_str(b, "=\"");
            if (!rc) rc = put_escaped(b, f->v.s, "\"\\");
            if (!rc) rc = bs_buf_append_u8(b, '"');
            break;
        }
    }
    if (!rc) rc = bs_buf_appendf(b, " %lld\n", (long long)pt->time_ns);
    return rc ? BS_ENOMEM : 0;
}
