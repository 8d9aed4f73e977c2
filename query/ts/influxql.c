/*
 * influxql.c - InfluxQL tokenizer and recursive-descent parser (see
 * influxql.h for the grammar).
 *
 * Tokens: identifiers ([A-Za-z_][A-Za-z0-9_]*, or "double quoted" with
 * \" escapes), 'strings' (\' escapes), numbers (integer or decimal),
 * durations (digits followed by a unit: ns u µ ms s m h d w, repeated),
 * /regex/ (only where a regex may follow: after =~ and !~), and the
 * punctuation = != <> < <= > >= =~ !~ , ( ) ; * + - .
 * Keywords are identifiers compared without case.
 *
 * WHERE is folded while parsing: time comparisons narrow [tmin, tmax]
 * (strict bounds become inclusive by one nanosecond), tag comparisons
 * are collected; only AND joins them (OR is refused with a clear error).
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/error.h"
#include "query/ts/influxql.h"

const char *bs_iq_agg_name(bs_iq_agg a) {
    static const char *const n[] = {"",    "count", "sum",   "mean",   "median", "min",
                                     "max", "first", "last", "spread", "stddev", "percentile"};
    return (unsigned)a < sizeof n / sizeof n[0] ? n[a] : "";
}

/* ------------------------------------------------------------------ */
/* Tokens                                                               */
/* ------------------------------------------------------------------ */

typedef enum { T_EOF, T_IDENT, T_QIDENT, T_STRING, T_INT, T_NUM, T_DUR, T_REGEX, T_PUNCT } tkind;

typedef struct tok {
    tkind k;
    const char *p; /* source text */
    size_t n;
    const char *s; /* decoded text (identifiers, strings, regex) */
    size_t pos;
} tok;

typedef struct P {
    const char *q;
    size_t n, i;
    tok t;
    tkind last; /* the kind of the token before t */
    int regex_next;
    bs_arena *a;
    int64_t now;
    const char *err;
    int oom;
    int depth; /* parentheses and unary minus open (bounded: the stack) */
} P;

#define MAX_DEPTH 100

/* Enters one more level of nesting; -1 (with the error) past MAX_DEPTH. */
static int deeper(P *p) {
    if (++p->depth <= MAX_DEPTH) return 0;
    if (!p->err) p->err = "expression nested too deeply (more than 100 levels)";
    return -1;
}

static int fail(P *p, const char *expected) {
    if (p->err) return -1;
    char *m = bs_arena_alloc(p->a, 256 + p->t.n);
    if (!m) {
        p->oom = 1;
        return -1;
    }
    size_t line = 1, ch = 1, pos = p->t.pos;
    if (p->t.k == T_EOF) { /* InfluxDB: two past the last token's end */
        pos = p->n;
        while (pos > 0 && isspace((unsigned char)p->q[pos - 1])) pos--;
    }
    for (size_t i = 0; i < pos && i < p->n; i++) {
        if (p->q[i] == '\n') {
            line++;
            ch = 1;
        } else {
            ch++;
        }
    }
    /* after a word InfluxDB's scanner has read one byte past the end */
    if (p->t.k == T_EOF && p->last != T_INT && p->last != T_NUM && p->last != T_DUR) ch++;
    if (p->t.k == T_EOF)
        snprintf(m, 256, "found EOF, expected %s at line %zu, char %zu", expected, line, ch);
    else
        snprintf(m, 256 + p->t.n, "found %.*s, expected %s at line %zu, char %zu", (int)p->t.n,
                 p->t.p, expected, line, ch);
    p->err = m;
    return -1;
}

static int is_unit_start(const char *s, size_t n, size_t i) {
    if (i >= n) return 0;
    char c = s[i];
    if (c == 'n' && i + 1 < n && s[i + 1] == 's') return 1;
    if ((unsigned char)c == 0xC2 && i + 1 < n && (unsigned char)s[i + 1] == 0xB5) return 1; /* µ */
    return c == 'u' || c == 'm' || c == 's' || c == 'h' || c == 'd' || c == 'w';
}

static char *decode(P *p, const char *s, size_t n, char quote) {
    char *o = bs_arena_alloc(p->a, n + 1);
    if (!o) {
        p->oom = 1;
        return NULL;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\\' && i + 1 < n && (s[i + 1] == quote || s[i + 1] == '\\')) i++;
        o[k++] = s[i];
    }
    o[k] = 0;
    return o;
}

static void next(P *p) {
    const char *q = p->q;
    size_t n = p->n, i = p->i;
    for (;;) {
        while (i < n && isspace((unsigned char)q[i])) i++;
        if (i + 1 < n && q[i] == '-' && q[i + 1] == '-') { /* comment */
            while (i < n && q[i] != '\n') i++;
            continue;
        }
        break;
    }
    tok t = {T_EOF, q + i, 0, NULL, i};
    if (i >= n) goto done;
    char c = q[i];
    if (p->regex_next && c == '/') {
        size_t j = i + 1;
        while (j < n && q[j] != '/') j += (q[j] == '\\' && j + 1 < n) ? 2 : 1;
        t.k = T_REGEX;
        t.n = (j < n ? j + 1 : n) - i;
        /* keep \/ as / ; other escapes belong to the regex */
        char *o = bs_arena_alloc(p->a, j - i + 1);
        if (!o) {
            p->oom = 1;
            goto done;
        }
        size_t k = 0;
        for (size_t x = i + 1; x < j; x++) {
            if (q[x] == '\\' && x + 1 < j && q[x + 1] == '/') x++;
            o[k++] = q[x];
        }
        o[k] = 0;
        t.s = o;
        if (j >= n) t.k = T_EOF; /* unterminated */
        goto done;
    }
    if (isalpha((unsigned char)c) || c == '_') {
        size_t j = i;
        while (j < n && (isalnum((unsigned char)q[j]) || q[j] == '_')) j++;
        t.k = T_IDENT;
        t.n = j - i;
        t.s = decode(p, q + i, j - i, 0);
        goto done;
    }
    if (c == '"' || c == '\'') {
        size_t j = i + 1;
        while (j < n && q[j] != c) j += (q[j] == '\\' && j + 1 < n) ? 2 : 1;
        if (j >= n) {
            t.k = T_PUNCT; /* unterminated: reported by the parser */
            t.n = n - i;
            goto done;
        }
        t.k = c == '"' ? T_QIDENT : T_STRING;
        t.n = j + 1 - i;
        t.s = decode(p, q + i + 1, j - i - 1, c);
        goto done;
    }
    if (isdigit((unsigned char)c) || (c == '.' && i + 1 < n && isdigit((unsigned char)q[i + 1]))) {
        size_t j = i;
        while (j < n && isdigit((unsigned char)q[j])) j++;
        if (is_unit_start(q, n, j)) { /* duration: (digits unit)+ */
            size_t k = i;
            while (k < n && isdigit((unsigned char)q[k])) {
                while (k < n && isdigit((unsigned char)q[k])) k++;
                if (!is_unit_start(q, n, k)) break;
                if (q[k] == 'n' || (q[k] == 'm' && k + 1 < n && q[k + 1] == 's'))
                    k += 2;
                else if ((unsigned char)q[k] == 0xC2)
                    k += 2;
                else
                    k++;
            }
            t.k = T_DUR;
            t.n = k - i;
            goto done;
        }
        t.k = T_INT;
        if (j < n && q[j] == '.') {
            j++;
            while (j < n && isdigit((unsigned char)q[j])) j++;
            t.k = T_NUM;
        }
        t.n = j - i;
        goto done;
    }
    t.k = T_PUNCT;
    t.n = 1;
    if (i + 1 < n) {
        char d = q[i + 1];
        if ((c == '!' && (d == '=' || d == '~')) || (c == '<' && (d == '=' || d == '>')) ||
            (c == '>' && d == '=') || (c == '=' && d == '~'))
            t.n = 2;
    }
done:
    p->i = t.pos + t.n;
    p->last = p->t.k;
    p->t = t;
    p->regex_next = 0;
}

static int punct(P *p, const char *s) {
    return p->t.k == T_PUNCT && p->t.n == strlen(s) && !memcmp(p->t.p, s, p->t.n);
}

static int kw(P *p, const char *k) {
    return p->t.k == T_IDENT && p->t.n == strlen(k) && !strncasecmp(p->t.p, k, p->t.n);
}

static int accept_kw(P *p, const char *k) {
    if (!kw(p, k)) return 0;
    next(p);
    return 1;
}

static int expect_kw(P *p, const char *k) {
    if (accept_kw(p, k)) return 0;
    char up[32];
    size_t i = 0;
    for (; k[i] && i + 1 < sizeof up; i++) up[i] = (char)toupper((unsigned char)k[i]);
    up[i] = 0;
    return fail(p, up);
}

static int expect_punct(P *p, const char *s) {
    if (punct(p, s)) {
        next(p);
        return 0;
    }
    return fail(p, s);
}

/* An identifier (bare or quoted); NULL after fail(). */
static const char *ident(P *p, const char *what) {
    if (p->t.k != T_IDENT && p->t.k != T_QIDENT) {
        fail(p, what);
        return NULL;
    }
    const char *s = p->t.s;
    next(p);
    return s;
}

/* ------------------------------------------------------------------ */
/* Times and durations                                                  */
/* ------------------------------------------------------------------ */

int bs_iq_parse_duration(const char *s, size_t n, int64_t *ns) {
    int64_t total = 0;
    size_t i = 0;
    if (n == 0) return BS_EINVAL;
    while (i < n) {
        if (!isdigit((unsigned char)s[i])) return BS_EINVAL;
        int64_t v = 0;
        while (i < n && isdigit((unsigned char)s[i])) {
            if (v > INT64_MAX / 10) return BS_EINVAL;
            v = v * 10 + (s[i++] - '0');
        }
        int64_t mult;
        if (i + 1 < n && s[i] == 'n' && s[i + 1] == 's') mult = 1, i += 2;
        else if (i + 1 < n && s[i] == 'm' && s[i + 1] == 's') mult = 1000000, i += 2;
        else if (i + 1 < n && (unsigned char)s[i] == 0xC2 && (unsigned char)s[i + 1] == 0xB5)
            mult = 1000, i += 2;
        else if (i < n && s[i] == 'u') mult = 1000, i++;
        else if (i < n && s[i] == 's') mult = 1000000000LL, i++;
        else if (i < n && s[i] == 'm') mult = 60000000000LL, i++;
        else if (i < n && s[i] == 'h') mult = 3600000000000LL, i++;
        else if (i < n && s[i] == 'd') mult = 86400000000000LL, i++;
        else if (i < n && s[i] == 'w') mult = 604800000000000LL, i++;
        else return BS_EINVAL;
        int64_t d;
        if (__builtin_mul_overflow(v, mult, &d) || __builtin_add_overflow(total, d, &total))
            return BS_EINVAL;
    }
    *ns = total;
    return 0;
}

static int digits(const char *s, size_t n, size_t *i, int count, int *out) {
    int v = 0;
    for (int k = 0; k < count; k++) {
        if (*i >= n || !isdigit((unsigned char)s[*i])) return -1;
        v = v * 10 + (s[(*i)++] - '0');
    }
    *out = v;
    return 0;
}

int bs_iq_parse_time(const char *s, size_t n, int64_t *ns) {
    size_t i = 0;
    int Y, M, D, h = 0, m = 0, sec = 0;
    int64_t frac = 0;
    if (digits(s, n, &i, 4, &Y) || i >= n || s[i++] != '-' || digits(s, n, &i, 2, &M) ||
        i >= n || s[i++] != '-' || digits(s, n, &i, 2, &D))
        return BS_EINVAL;
    int64_t zone = 0;
    if (i < n) {
        if (s[i] != 'T' && s[i] != ' ') return BS_EINVAL;
        i++;
        if (digits(s, n, &i, 2, &h) || i >= n || s[i++] != ':' || digits(s, n, &i, 2, &m) ||
            i >= n || s[i++] != ':' || digits(s, n, &i, 2, &sec))
            return BS_EINVAL;
        if (i < n && s[i] == '.') {
            i++;
            int nd = 0;
            while (i < n && isdigit((unsigned char)s[i])) {
                if (nd < 9) frac = frac * 10 + (s[i] - '0');
                nd++;
                i++;
            }
            if (nd == 0) return BS_EINVAL;
            for (; nd < 9; nd++) frac *= 10;
        }
        if (i < n && s[i] == 'Z') {
            i++;
        } else if (i < n && (s[i] == '+' || s[i] == '-')) {
            int sign = s[i++] == '-' ? -1 : 1, zh, zm;
            if (digits(s, n, &i, 2, &zh) || i >= n || s[i++] != ':' || digits(s, n, &i, 2, &zm))
                return BS_EINVAL;
            zone = sign * (zh * 3600 + zm * 60);
        } else if (i < n) {
            return BS_EINVAL;
        }
    }
    if (i != n || M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60)
        return BS_EINVAL;
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    tm.tm_year = Y - 1900;
    tm.tm_mon = M - 1;
    tm.tm_mday = D;
    tm.tm_hour = h;
    tm.tm_min = m;
    tm.tm_sec = sec;
    int64_t t = (int64_t)timegm(&tm) - zone;
    if (t > INT64_MAX / 1000000000LL - 1 || t < INT64_MIN / 1000000000LL + 1) return BS_EINVAL;
    *ns = t * 1000000000LL + frac;
    return 0;
}

/* A time term: now() | 'RFC3339' | integer | duration, +/- durations. */
static int time_expr(P *p, int64_t *out) {
    int64_t t;
    if (kw(p, "now")) {
        next(p);
        if (expect_punct(p, "(") || expect_punct(p, ")")) return -1;
        t = p->now;
    } else if (p->t.k == T_STRING) {
        if (bs_iq_parse_time(p->t.s, strlen(p->t.s), &t)) return fail(p, "a time");
        next(p);
    } else if (p->t.k == T_INT) {
        errno = 0;
        char buf[32];
        if (p->t.n >= sizeof buf) return fail(p, "a time");
        memcpy(buf, p->t.p, p->t.n);
        buf[p->t.n] = 0;
        long long v = strtoll(buf, NULL, 10);
        if (errno) return fail(p, "a time");
        t = v;
        next(p);
    } else if (p->t.k == T_DUR) {
        if (bs_iq_parse_duration(p->t.p, p->t.n, &t)) return fail(p, "a duration");
        next(p);
    } else {
        return fail(p, "now(), a time string, an integer or a duration");
    }
    while (punct(p, "+") || punct(p, "-")) {
        int minus = punct(p, "-");
        next(p);
        int64_t d;
        if (p->t.k != T_DUR || bs_iq_parse_duration(p->t.p, p->t.n, &d)) return fail(p, "duration");
        next(p);
        if (minus ? __builtin_sub_overflow(t, d, &t) : __builtin_add_overflow(t, d, &t))
            return fail(p, "a time in range");
    }
    *out = t;
    return 0;
}

/* ------------------------------------------------------------------ */
/* WHERE                                                                */
/* ------------------------------------------------------------------ */

static bs_iq_where *wnode(P *p, bs_iq_wkind k) {
    bs_iq_where *w = bs_arena_alloc(p->a, sizeof *w);
    if (!w) {
        p->oom = 1;
        return NULL;
    }
    memset(w, 0, sizeof *w);
    w->kind = k;
    return w;
}

/* A literal: 'string', [-]number, true/false.  0 or -1. */
static int literal(P *p, bs_iq_where *w) {
    int neg = punct(p, "-");
    if (neg) next(p);
    if (!neg && p->t.k == T_STRING) {
        w->lit = BS_IQ_LIT_STRING;
        w->s = p->t.s;
    } else if (!neg && (kw(p, "true") || kw(p, "false"))) {
        w->lit = BS_IQ_LIT_BOOL;
        w->b = kw(p, "true");
    } else if (p->t.k == T_INT || p->t.k == T_NUM) {
        char buf[64];
        if (p->t.n >= sizeof buf) return fail(p, "a number");
        memcpy(buf, p->t.p, p->t.n);
        buf[p->t.n] = 0;
        w->lit = BS_IQ_LIT_NUMBER;
        w->num = strtod(buf, NULL) * (neg ? -1 : 1);
        errno = 0;
        long long v = strtoll(buf, NULL, 10);
        w->is_int = p->t.k == T_INT && !errno;
        w->i = neg ? -v : v;
    } else {
        return fail(p, "identifier, string, number, bool");
    }
    next(p);
    return 0;
}

static const char *const cmp_ops[] = {"=", "!=", "<>", "<", "<=", ">", ">=", "=~", "!~"};
static const bs_iq_op cmp_codes[] = {BS_IQ_EQ, BS_IQ_NE, BS_IQ_NE, BS_IQ_LT, BS_IQ_LE,
                                     BS_IQ_GT, BS_IQ_GE, BS_IQ_RE, BS_IQ_NRE};

static int cmp_op(P *p) {
    for (int k = 0; k < 9; k++)
        if (punct(p, cmp_ops[k])) return k;
    return -1;
}

/* time <op> <time expr>: narrows s->tmin/tmax. */
static int time_cond(P *p, bs_iq_stmt *s, int op) {
    int64_t t;
    if (time_expr(p, &t)) return -1;
    switch (op) {
    case 0: /* = */
        if (!s->has_tmin || t > s->tmin) s->tmin = t;
        if (!s->has_tmax || t < s->tmax) s->tmax = t;
        s->has_tmin = s->has_tmax = 1;
        break;
    case 3: t = t == INT64_MIN ? t : t - 1; /* < */
        /* fall through */
    case 4:
        if (!s->has_tmax || t < s->tmax) s->tmax = t;
        s->has_tmax = 1;
        break;
    case 5: t = t == INT64_MAX ? t : t + 1; /* > */
        /* fall through */
    case 6:
        if (!s->has_tmin || t > s->tmin) s->tmin = t;
        s->has_tmin = 1;
        break;
    default: return fail(p, "a time comparison (=, <, <=, >, >=)");
    }
    return 0;
}

static int cond_or(P *p, bs_iq_stmt *s, bs_iq_where **out);

/* One comparison or a parenthesised condition; *out NULL for a time
 * comparison (it only narrows the time range). */
/* The C library compiles a regex recursively and expands {n,m}
 * repetitions: a pattern too long, nested too deeply or repeated inside a
 * repetition would exhaust the stack or memory.  1 (with the error) for
 * such a pattern. */
static int regex_too_complex(P *p, const char *re) {
    size_t n = strlen(re);
    int depth = 0, max = 0;
    double rep = 1;
    for (size_t i = 0; i < n; i++) {
        char c = re[i];
        if (c == '\\') {
            i++;
        } else if (c == '[') { /* a bracket expression: to its ']' */
            size_t j = i + 1;
            if (j < n && re[j] == '^') j++;
            if (j < n && re[j] == ']') j++;
            while (j < n && re[j] != ']') j++;
            i = j;
        } else if (c == '(') {
            if (++depth > max) max = depth;
        } else if (c == ')') {
            depth -= depth > 0;
        } else if (c == '{') { /* {n}, {n,}, {n,m}: the larger bound */
            double b = 0, x = 0;
            size_t j = i + 1;
            for (; j < n && (isdigit((unsigned char)re[j]) || re[j] == ','); j++)
                if (re[j] == ',') x = 0;
                else if ((x = x * 10 + (re[j] - '0')) > b) b = x;
            if (b > 1) rep *= b;
            i = j - 1;
        }
    }
    /* copies the compiler may make: the pattern times every bound */
    const char *why = n > 65536 ? "longer than 65536 bytes"
                    : max > MAX_DEPTH ? "nested more than 100 levels deep"
                    : rep * (double)n > 1e6 ? "its {n,m} repetitions expand it past 1000000 bytes"
                                            : NULL;
    if (!why) return 0;
    if (!p->err) {
        char *m = bs_arena_alloc(p->a, 128);
        if (m) snprintf(m, 128, "regular expression too complex: %s", why);
        p->err = m ? m : "regular expression too complex";
    }
    return 1;
}

static int cond_term(P *p, bs_iq_stmt *s, bs_iq_where **out) {
    *out = NULL;
    if (punct(p, "(")) {
        next(p);
        if (deeper(p) || cond_or(p, s, out)) return -1;
        p->depth--;
        return expect_punct(p, ")");
    }
    bs_iq_where *w = wnode(p, BS_IQ_W_CMP);
    if (!w) return -1;
    int swapped = 0;
    if (p->t.k != T_IDENT && p->t.k != T_QIDENT) { /* literal op key */
        if (p->t.k == T_DUR || kw(p, "now")) return fail(p, "identifier");
        if (literal(p, w)) return -1;
        swapped = 1;
    }
    int op;
    const char *name;
    if (swapped) {
        op = cmp_op(p);
        if (op < 0 || op >= 7) return fail(p, "=, !=, <>, <, <=, >, >=");
        next(p);
        if (!(name = ident(p, "identifier"))) return -1;
        static const int mirror[] = {0, 1, 2, 5, 6, 3, 4};
        op = mirror[op];
    } else {
        name = p->t.s;
        next(p);
        op = cmp_op(p);
        if (op < 0) return fail(p, "=, !=, <>, <, <=, >, >=, =~ or !~");
        if (!strcasecmp(name, "time") && op <= 6) {
            next(p);
            return time_cond(p, s, op);
        }
        if (op >= 7) p->regex_next = 1;
        next(p);
        if (op >= 7) {
            if (p->t.k != T_REGEX) return fail(p, "regex");
            if (regex_too_complex(p, p->t.s)) return -1;
            w->lit = BS_IQ_LIT_REGEX;
            w->s = p->t.s;
            next(p);
        } else if (literal(p, w)) {
            return -1;
        }
    }
    if (!strcasecmp(name, "time")) return fail(p, "a time comparison (=, <, <=, >, >=)");
    w->key = name;
    w->op = cmp_codes[op];
    w->id = s->nwhere++;
    *out = w;
    return 0;
}

/* l AND/OR r, where a side that was a time comparison drops out. */
static bs_iq_where *join(P *p, bs_iq_wkind k, bs_iq_where *l, bs_iq_where *r) {
    if (!l || !r) return l ? l : r;
    bs_iq_where *w = wnode(p, k);
    if (w) {
        w->l = l;
        w->r = r;
    }
    return w;
}

static int cond_and(P *p, bs_iq_stmt *s, bs_iq_where **out) {
    if (cond_term(p, s, out)) return -1;
    while (kw(p, "and")) {
        next(p);
        bs_iq_where *r;
        if (cond_term(p, s, &r)) return -1;
        *out = join(p, BS_IQ_W_AND, *out, r);
        if (p->oom) return -1;
    }
    return 0;
}

static int cond_or(P *p, bs_iq_stmt *s, bs_iq_where **out) {
    if (cond_and(p, s, out)) return -1;
    while (kw(p, "or")) {
        next(p);
        bs_iq_where *r;
        if (cond_and(p, s, &r)) return -1;
        *out = join(p, BS_IQ_W_OR, *out, r);
        if (p->oom) return -1;
    }
    return 0;
}

/* s->conds from an AND of tag-like comparisons (string = != or regex);
 * 0 when w has another shape (s->conds_ok stays 0). */
static int flatten(P *p, bs_iq_stmt *s, const bs_iq_where *w) {
    if (!w) return 1;
    if (w->kind == BS_IQ_W_AND) return flatten(p, s, w->l) && flatten(p, s, w->r);
    if (w->kind != BS_IQ_W_CMP) return 0;
    int str = w->lit == BS_IQ_LIT_STRING && (w->op == BS_IQ_EQ || w->op == BS_IQ_NE);
    int re = w->lit == BS_IQ_LIT_REGEX;
    if (!str && !re) return 0;
    bs_iq_tagcond *c = bs_arena_alloc(p->a, (s->nconds + 1) * sizeof *c);
    if (!c) {
        p->oom = 1;
        return 0;
    }
    if (s->nconds) memcpy(c, s->conds, s->nconds * sizeof *c);
    c[s->nconds].key = w->key;
    c[s->nconds].op = w->op;
    c[s->nconds].value = w->s;
    s->conds = c;
    s->nconds++;
    return 1;
}

/* WHERE <cond>: s->where, s->conds, the time range. */
static int where_clause(P *p, bs_iq_stmt *s) {
    if (cond_or(p, s, &s->where)) return -1;
    s->conds_ok = flatten(p, s, s->where);
    if (!s->conds_ok) {
        s->conds = NULL;
        s->nconds = 0;
    }
    return p->oom ? -1 : 0;
}

/* ------------------------------------------------------------------ */
/* SELECT                                                               */
/* ------------------------------------------------------------------ */

static const char *const aggs[] = {"",    "count", "sum",   "mean",   "median", "min",
                                   "max", "first", "last", "spread", "stddev", "percentile"};

static int select_var(P *p, bs_iq_expr *e) {
    if (punct(p, "*")) {
        e->name = "*";
        next(p);
    } else if (p->t.k == T_IDENT && p->i < p->n) {
        int agg = 0;
        size_t save_i = p->i;
        tok save_t = p->t;
        for (int k = 1; k < 12; k++)
            if (kw(p, aggs[k])) agg = k;
        next(p);
        if (agg && punct(p, "(")) {
            next(p);
            e->agg = (bs_iq_agg)agg;
            if (punct(p, "*")) {
                e->name = "*";
                next(p);
            } else {
                e->name = ident(p, "field key");
                if (!e->name) return -1;
            }
            if (agg == BS_IQ_PERCENTILE) {
                if (expect_punct(p, ",")) return -1;
                if (p->t.k != T_INT && p->t.k != T_NUM) return fail(p, "number");
                char buf[64];
                snprintf(buf, sizeof buf, "%.*s", (int)p->t.n, p->t.p);
                e->arg = strtod(buf, NULL);
                next(p);
            }
            if (expect_punct(p, ")")) return -1;
        } else if (punct(p, "(")) {
            return fail(p, "a supported function (count sum mean median min max first last "
                           "spread stddev percentile)");
        } else {
            p->i = save_i;
            p->t = save_t;
            e->name = save_t.s;
            next(p);
            if (punct(p, "::")) return fail(p, "no type cast");
        }
    } else {
        e->name = ident(p, "field key, function or *");
        if (!e->name) return -1;
    }
    return 0;
}

/* An arithmetic operand: a constant, or (var) the expression's field or
 * function with the steps that apply to it so far. */
typedef struct mterm {
    int var;
    int is_int;
    int64_t ki;
    double kf;
    bs_iq_math *steps;
    size_t nsteps, cap;
} mterm;

static int64_t wrap_op(char op, int64_t a, int64_t b) {
    uint64_t x = (uint64_t)a, y = (uint64_t)b;
    switch (op) {
    case '+': return (int64_t)(x + y);
    case '-': return (int64_t)(x - y);
    case '*': return (int64_t)(x * y);
    default: return b == 0 || b == -1 ? 0 : a % b; /* '%' */
    }
}

/* k1 op k2 for two constants, as bs_iq_math_apply would. */
static void fold(char op, mterm *a, const mterm *b) {
    if (a->is_int && b->is_int && op != '/') {
        a->ki = wrap_op(op, a->ki, b->ki);
        return;
    }
    double x = a->is_int ? (double)a->ki : a->kf, y = b->is_int ? (double)b->ki : b->kf;
    a->is_int = 0;
    a->kf = op == '+' ? x + y : op == '-' ? x - y : op == '*' ? x * y
          : y == 0 ? 0 : op == '/' ? x / y : fmod(x, y);
}

static int math_step(P *p, char op, mterm *a, const mterm *b, int left) {
    if (a->nsteps == a->cap) {
        size_t nc = a->cap ? a->cap * 2 : 4;
        bs_iq_math *st = bs_arena_alloc(p->a, nc * sizeof *st);
        if (!st) {
            p->oom = 1;
            return -1;
        }
        if (a->nsteps) memcpy(st, a->steps, a->nsteps * sizeof *st);
        a->steps = st;
        a->cap = nc;
    }
    a->steps[a->nsteps++] = (bs_iq_math){op, left, b->is_int, b->ki, b->kf};
    return 0;
}

/* a = a op b: folds constants, or adds a step to the side holding the
 * variable.  Two variables are refused. */
static int combine(P *p, char op, mterm *a, mterm *b) {
    if (a->var && b->var)
        return fail(p, "a number (arithmetic between two fields or functions is not supported "
                       "by Basalt yet)");
    if (!a->var && !b->var) {
        fold(op, a, b);
        return 0;
    }
    if (a->var) return math_step(p, op, a, b, 0);
    if (math_step(p, op, b, a, 1)) return -1;
    *a = *b;
    return 0;
}

static int m_sum(P *p, bs_iq_expr *e, mterm *out);

static int m_unary(P *p, bs_iq_expr *e, mterm *out) {
    memset(out, 0, sizeof *out);
    if (punct(p, "-")) {
        next(p);
        if (deeper(p) || m_unary(p, e, out)) return -1;
        p->depth--;
        mterm neg = {0, 1, -1, 0, NULL, 0, 0};
        return combine(p, '*', out, &neg);
    }
    if (punct(p, "(")) {
        next(p);
        if (deeper(p) || m_sum(p, e, out)) return -1;
        p->depth--;
        return expect_punct(p, ")");
    }
    if (p->t.k == T_INT || p->t.k == T_NUM) {
        char buf[64];
        snprintf(buf, sizeof buf, "%.*s", (int)(p->t.n < 63 ? p->t.n : 63), p->t.p);
        out->is_int = p->t.k == T_INT;
        if (out->is_int) out->ki = strtoll(buf, NULL, 10);
        else out->kf = strtod(buf, NULL);
        next(p);
        return 0;
    }
    if (e->name) return fail(p, "a number (arithmetic between two fields or functions is not "
                                "supported by Basalt yet)");
    out->var = 1;
    return select_var(p, e);
}

static int m_product(P *p, bs_iq_expr *e, mterm *out) {
    if (m_unary(p, e, out)) return -1;
    while (punct(p, "*") || punct(p, "/") || punct(p, "%")) {
        char op = p->t.p[0];
        next(p);
        mterm r;
        if (m_unary(p, e, &r) || combine(p, op, out, &r)) return -1;
    }
    return 0;
}

static int m_sum(P *p, bs_iq_expr *e, mterm *out) {
    if (m_product(p, e, out)) return -1;
    while (punct(p, "+") || punct(p, "-")) {
        char op = p->t.p[0];
        next(p);
        mterm r;
        if (m_product(p, e, &r) || combine(p, op, out, &r)) return -1;
    }
    return 0;
}

static int select_expr(P *p, bs_iq_expr *e) {
    memset(e, 0, sizeof *e);
    if (punct(p, "*")) { /* every field and tag: no arithmetic */
        if (select_var(p, e)) return -1;
    } else {
        mterm m;
        if (m_sum(p, e, &m)) return -1;
        if (!m.var) {
            if (!p->err) p->err = "field must contain at least one variable";
            return -1;
        }
        if (m.nsteps && !strcmp(e->name, "*"))
            return fail(p, "a field or function of a field (arithmetic over * is not supported)");
        e->math = m.steps;
        e->nmath = m.nsteps;
    }
    if (accept_kw(p, "as")) {
        e->alias = ident(p, "alias");
        if (!e->alias) return -1;
    }
    return 0;
}

bs_iq_value bs_iq_math_apply(const bs_iq_math *m, size_t n, bs_iq_value v) {
    for (size_t i = 0; i < n; i++) {
        const bs_iq_math *s = &m[i];
        if (v.is_int && s->is_int && s->op != '/') {
            v.i = s->left ? wrap_op(s->op, s->ki, v.i) : wrap_op(s->op, v.i, s->ki);
            continue;
        }
        double x = v.is_int ? (double)v.i : v.f, k = s->is_int ? (double)s->ki : s->kf;
        double a = s->left ? k : x, b = s->left ? x : k;
        v.is_int = 0;
        v.f = s->op == '+' ? a + b : s->op == '-' ? a - b : s->op == '*' ? a * b
            : b == 0 ? 0 : s->op == '/' ? a / b : fmod(a, b);
    }
    return v;
}

static int int_arg(P *p, int64_t *out) {
    if (p->t.k != T_INT) return fail(p, "integer");
    char buf[32];
    snprintf(buf, sizeof buf, "%.*s", (int)(p->t.n < 31 ? p->t.n : 31), p->t.p);
    *out = strtoll(buf, NULL, 10);
    next(p);
    return 0;
}

/* FROM's source: m, rp.m or db.rp.m (the database part is ignored: the
 * request's db applies). */
static int from_ref(P *p, bs_iq_stmt *s) {
    const char *part[3];
    size_t n = 0;
    for (;;) {
        part[n] = ident(p, "identifier");
        if (!part[n++]) return -1;
        if (!punct(p, ".") || n == 3) break;
        next(p);
    }
    s->from = part[n - 1];
    s->rp = n > 1 ? part[n - 2] : NULL;
    return 0;
}

static int parse_select(P *p, bs_iq_stmt *s) {
    s->kind = BS_IQ_SELECT;
    size_t cap = 0;
    do {
        if (s->nexprs == cap) {
            size_t nc = cap ? cap * 2 : 4;
            bs_iq_expr *e = bs_arena_alloc(p->a, nc * sizeof *e);
            if (!e) {
                p->oom = 1;
                return -1;
            }
            if (cap) memcpy(e, s->exprs, s->nexprs * sizeof *e);
            s->exprs = e;
            cap = nc;
        }
        if (select_expr(p, &s->exprs[s->nexprs++])) return -1;
    } while (punct(p, ",") && (next(p), 1));
    if (expect_kw(p, "from")) return -1;
    if (from_ref(p, s)) return -1;
    if (accept_kw(p, "where") && where_clause(p, s)) return -1;
    if (accept_kw(p, "group")) {
        if (expect_kw(p, "by")) return -1;
        do {
            if (punct(p, "*")) {
                s->group_all = 1;
                next(p);
            } else if (kw(p, "time")) {
                next(p);
                if (expect_punct(p, "(")) return -1;
                if (p->t.k != T_DUR || bs_iq_parse_duration(p->t.p, p->t.n, &s->interval) ||
                    s->interval <= 0)
                    return fail(p, "duration");
                next(p);
                if (punct(p, ",")) {
                    next(p);
                    int neg = punct(p, "-");
                    if (neg) next(p);
                    if (p->t.k != T_DUR || bs_iq_parse_duration(p->t.p, p->t.n, &s->offset))
                        return fail(p, "duration");
                    if (neg) s->offset = -s->offset;
                    next(p);
                }
                if (expect_punct(p, ")")) return -1;
            } else {
                const char *t = ident(p, "time(), a tag key or *");
                if (!t) return -1;
                const char **g = bs_arena_alloc(p->a, (s->ngroup_tags + 1) * sizeof *g);
                if (!g) {
                    p->oom = 1;
                    return -1;
                }
                if (s->ngroup_tags) memcpy(g, s->group_tags, s->ngroup_tags * sizeof *g);
                g[s->ngroup_tags++] = t;
                s->group_tags = g;
            }
        } while (punct(p, ",") && (next(p), 1));
    }
    if (accept_kw(p, "fill")) {
        if (expect_punct(p, "(")) return -1;
        if (accept_kw(p, "none")) s->fill = BS_IQ_FILL_NONE;
        else if (accept_kw(p, "null")) s->fill = BS_IQ_FILL_NULL;
        else if (accept_kw(p, "previous")) s->fill = BS_IQ_FILL_PREVIOUS;
        else if (accept_kw(p, "linear")) s->fill = BS_IQ_FILL_LINEAR;
        else {
            int neg = punct(p, "-");
            if (neg) next(p);
            if (p->t.k != T_INT && p->t.k != T_NUM) return fail(p, "none, null, previous, linear or a number");
            char buf[64];
            snprintf(buf, sizeof buf, "%.*s", (int)(p->t.n < 63 ? p->t.n : 63), p->t.p);
            s->fill = BS_IQ_FILL_NUMBER;
            s->fill_value = neg ? -strtod(buf, NULL) : strtod(buf, NULL);
            next(p);
        }
        if (expect_punct(p, ")")) return -1;
    }
    if (accept_kw(p, "order")) {
        if (expect_kw(p, "by") || expect_kw(p, "time")) return -1;
        if (accept_kw(p, "desc")) s->desc = 1;
        else accept_kw(p, "asc");
    }
    for (;;) {
        if (accept_kw(p, "limit")) {
            if (int_arg(p, &s->limit)) return -1;
        } else if (accept_kw(p, "offset")) {
            if (int_arg(p, &s->offset_rows)) return -1;
        } else if (accept_kw(p, "slimit")) {
            if (int_arg(p, &s->slimit)) return -1;
        } else if (accept_kw(p, "soffset")) {
            if (int_arg(p, &s->soffset)) return -1;
        } else if (kw(p, "tz")) {
            return fail(p, "end of statement (tz() is not supported by Basalt yet)");
        } else {
            break;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Other statements                                                     */
/* ------------------------------------------------------------------ */

static int opt_from(P *p, bs_iq_stmt *s) {
    if (!accept_kw(p, "from")) return 0;
    return from_ref(p, s);
}

/* DELETE / DROP SERIES: FROM m, WHERE cond, or both (one is needed). */
static int parse_delete(P *p, bs_iq_stmt *s, bs_iq_kind kind) {
    s->kind = kind;
    if (!kw(p, "from") && !kw(p, "where")) return fail(p, "FROM, WHERE");
    if (opt_from(p, s)) return -1;
    if (accept_kw(p, "where") && where_clause(p, s)) return -1;
    return 0;
}

/* A retention policy duration: a duration literal or INF (0). */
static int rp_duration(P *p, int64_t *out) {
    if (kw(p, "inf")) {
        *out = 0;
        next(p);
        return 0;
    }
    if (p->t.k != T_DUR || bs_iq_parse_duration(p->t.p, p->t.n, out)) return fail(p, "duration");
    next(p);
    return 0;
}

/* The options of CREATE/ALTER RETENTION POLICY and CREATE DATABASE
 * ... WITH (name: NAME allowed).  Returns how many were given. */
static int rp_options(P *p, bs_iq_stmt *s, int name) {
    int n = 0;
    for (;; n++) {
        if (accept_kw(p, "duration")) {
            if (rp_duration(p, &s->duration)) return -1;
            s->has_duration = 1;
        } else if (accept_kw(p, "replication")) {
            int64_t r;
            if (int_arg(p, &r)) return -1;
            if (r < 1 || r > 16) return fail(p, "a replication factor 1..16");
            s->replication = (int)r;
            s->has_replication = 1;
        } else if (accept_kw(p, "shard")) {
            if (expect_kw(p, "duration") || rp_duration(p, &s->shard_duration)) return -1;
            s->has_shard = 1;
        } else if (name && accept_kw(p, "name")) {
            if (!(s->rp = ident(p, "name"))) return -1;
        } else if (!name && accept_kw(p, "default")) {
            s->rp_default = 1;
        } else {
            return n;
        }
    }
}

/* RETENTION POLICY rp ON db [options], after CREATE/ALTER/DROP. */
static int parse_rp(P *p, bs_iq_stmt *s, bs_iq_kind kind) {
    s->kind = kind;
    if (expect_kw(p, "policy")) return -1;
    if (!(s->rp = ident(p, "identifier")) || expect_kw(p, "on") ||
        !(s->name = ident(p, "identifier")))
        return -1;
    if (kind == BS_IQ_DROP_RP) return 0;
    int n = rp_options(p, s, 0);
    if (n < 0) return -1;
    if (kind == BS_IQ_CREATE_RP && !s->has_duration) return fail(p, "DURATION");
    if (kind == BS_IQ_CREATE_RP && !s->has_replication) return fail(p, "REPLICATION");
    if (kind == BS_IQ_ALTER_RP && n == 0) return fail(p, "DURATION, REPLICATION, SHARD, DEFAULT");
    return 0;
}

static int parse_show(P *p, bs_iq_stmt *s) {
    if (accept_kw(p, "databases")) {
        s->kind = BS_IQ_SHOW_DATABASES;
    } else if (accept_kw(p, "measurements")) {
        s->kind = BS_IQ_SHOW_MEASUREMENTS;
    } else if (accept_kw(p, "series")) {
        s->kind = BS_IQ_SHOW_SERIES;
        if (opt_from(p, s)) return -1;
    } else if (accept_kw(p, "field")) {
        s->kind = BS_IQ_SHOW_FIELD_KEYS;
        if (expect_kw(p, "keys") || opt_from(p, s)) return -1;
    } else if (accept_kw(p, "tag")) {
        if (accept_kw(p, "keys")) {
            s->kind = BS_IQ_SHOW_TAG_KEYS;
            if (opt_from(p, s)) return -1;
        } else if (accept_kw(p, "values")) {
            s->kind = BS_IQ_SHOW_TAG_VALUES;
            if (opt_from(p, s) || expect_kw(p, "with") || expect_kw(p, "key") ||
                expect_punct(p, "="))
                return -1;
            s->key = ident(p, "tag key");
            if (!s->key) return -1;
        } else {
            return fail(p, "KEYS, VALUES");
        }
    } else if (accept_kw(p, "retention")) {
        s->kind = BS_IQ_SHOW_RETENTION_POLICIES;
        if (expect_kw(p, "policies")) return -1;
        if (accept_kw(p, "on")) {
            s->name = ident(p, "database");
            if (!s->name) return -1;
        }
    } else {
        return fail(p, "DATABASES, FIELD, MEASUREMENTS, RETENTION, SERIES, TAG");
    }
    return 0;
}

static int parse_stmt(P *p, bs_iq_stmt *s) {
    memset(s, 0, sizeof *s);
    s->tmin = INT64_MIN;
    s->tmax = INT64_MAX;
    if (accept_kw(p, "select")) return parse_select(p, s);
    if (accept_kw(p, "show")) return parse_show(p, s);
    if (accept_kw(p, "delete")) return parse_delete(p, s, BS_IQ_DELETE);
    if (accept_kw(p, "create")) {
        if (accept_kw(p, "retention")) return parse_rp(p, s, BS_IQ_CREATE_RP);
        if (expect_kw(p, "database")) return -1;
        s->kind = BS_IQ_CREATE_DATABASE;
        s->name = ident(p, "identifier");
        if (!s->name) return -1;
        if (accept_kw(p, "with") && rp_options(p, s, 1) < 0) return -1;
        return 0;
    }
    if (accept_kw(p, "alter")) {
        if (expect_kw(p, "retention")) return -1;
        return parse_rp(p, s, BS_IQ_ALTER_RP);
    }
    if (accept_kw(p, "drop")) {
        if (accept_kw(p, "database")) {
            s->kind = BS_IQ_DROP_DATABASE;
        } else if (accept_kw(p, "measurement")) {
            s->kind = BS_IQ_DROP_MEASUREMENT;
        } else if (accept_kw(p, "series")) {
            return parse_delete(p, s, BS_IQ_DROP_SERIES);
        } else if (accept_kw(p, "retention")) {
            return parse_rp(p, s, BS_IQ_DROP_RP);
        } else {
            return fail(p, "DATABASE, MEASUREMENT, RETENTION, SERIES");
        }
        s->name = ident(p, "identifier");
        if (s->kind == BS_IQ_DROP_MEASUREMENT) s->from = s->name;
        return s->name ? 0 : -1;
    }
    return fail(p, "SELECT, DELETE, SHOW, CREATE, DROP, EXPLAIN, GRANT, REVOKE, ALTER, SET, KILL");
}

int bs_iq_parse(const char *q, size_t len, int64_t now_ns, bs_arena *a, bs_iq_stmt **out,
                size_t *n, const char **err) {
    P p;
    memset(&p, 0, sizeof p);
    p.q = q;
    p.n = len;
    p.a = a;
    p.now = now_ns;
    *out = NULL;
    *n = 0;
    size_t cap = 0;
    next(&p);
    for (;;) {
        while (punct(&p, ";")) next(&p);
        if (p.t.k == T_EOF) break;
        if (*n == cap) {
            size_t nc = cap ? cap * 2 : 4;
            bs_iq_stmt *s = bs_arena_alloc(a, nc * sizeof *s);
            if (!s) return BS_ENOMEM;
            if (cap) memcpy(s, *out, *n * sizeof *s);
            *out = s;
            cap = nc;
        }
        size_t start = p.t.pos;
        if (parse_stmt(&p, &(*out)[*n])) break;
        (*out)[*n].src = q + start;
        (*out)[*n].src_len = (p.t.pos > len ? len : p.t.pos) - start;
        (*out)[*n].now_ns = now_ns;
        (*n)++;
        if (p.t.k != T_EOF && !punct(&p, ";")) {
            fail(&p, ";");
            break;
        }
    }
    if (p.oom) return BS_ENOMEM;
    if (p.err) {
        *err = p.err;
        return BS_ESYNTAX;
    }
    if (*n == 0) {
        *err = "found EOF, expected SELECT, DELETE, SHOW, CREATE, DROP, EXPLAIN, GRANT, REVOKE, "
               "ALTER, SET, KILL at line 1, char 1";
        return BS_ESYNTAX;
    }
    return 0;
}
