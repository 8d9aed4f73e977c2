/*
 * value_literal.c - text to serialized values: parser literals
 * (bs_value_from_literal) and display/CSV text (bs_value_parse_text).
 *
 * Both end in bs__value_scalar_from_text, the one place that knows how a
 * scalar's text looks (Cassandra's AbstractType.fromString rules).  Its
 * error messages are Cassandra's MarshalException texts, so a user sees
 * what cqlsh against Cassandra would show.
 *
 * bs_value_parse_text reads the notation cqlsh prints:
 *   list [a, b]   set {a, b}   map {k: v}   tuple (a, b)   UDT {f: v}
 * where a scalar is 'quoted' ('' escapes a quote), or a bare token, or
 * null (tuple/UDT components only).  A bare token ends at whitespace or
 * one of , ] } ) and at ':' unless the scalar type is time, timestamp or
 * inet and the ':' is followed by more token characters (so
 * {10:00:00.000000000: 1} reads as a time key).  The parser recurses along
 * the type tree (whose depth the type parser caps), never along bytes.
 * Sets and maps go through the builders, so they come out sorted and
 * de-duplicated whatever the text order.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/error.h"
#include "common/utf8.h"
#include "common/uuid.h"
#include "query/value.h"
#include "query/value_int.h"

#define SHOW(n) ((int)((n) > 200 ? 200 : (n)))

static int hex_nibble(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int hex_decode(const char *s, size_t n, bs_buf *out) {
    if (n % 2) return BS_EINVAL;
    uint8_t *p = bs_buf_extend(out, n / 2);
    if (!p) return BS_ENOMEM;
    for (size_t i = 0; i < n; i += 2) {
        int a = hex_nibble(s[i]), b = hex_nibble(s[i + 1]);
        if (a < 0 || b < 0) {
            out->len -= n / 2;
            return BS_EINVAL;
        }
        p[i / 2] = (uint8_t)(a << 4 | b);
    }
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

static int parse_int_range(const char *s, size_t n, int64_t lo, int64_t hi,
                           int64_t *out) {
    size_t i = 0;
    int neg = 0;
    if (i < n && (s[i] == '-' || s[i] == '+')) neg = s[i++] == '-';
    if (i == n) return BS_EINVAL;
    uint64_t v = 0;
    for (; i < n; i++) {
        if (!isdigit((unsigned char)s[i])) return BS_EINVAL;
        if (v > (UINT64_MAX - 9) / 10) return BS_ERANGE;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (neg ? v > (uint64_t)INT64_MAX + 1 : v > (uint64_t)INT64_MAX)
        return BS_ERANGE;
    int64_t r = neg ? (int64_t)(0 - v) : (int64_t)v;
    if (r < lo || r > hi) return BS_ERANGE;
    *out = r;
    return 0;
}

static int is_raw_int(const char *s, size_t n) {
    size_t i = s && n && s[0] == '-';
    if (i == n) return 0;
    for (; i < n; i++)
        if (!isdigit((unsigned char)s[i])) return 0;
    return 1;
}

/* NUL-terminated copy in a small stack buffer or the heap. */
static char *cstr(const char *s, size_t n, char *small, size_t smalln) {
    char *d = n < smalln ? small : malloc(n + 1);
    if (!d) return NULL;
    if (n) memcpy(d, s, n);
    d[n] = 0;
    return d;
}

/* tinyint, smallint, int, bigint, counter: decimal digits in range. */
static int int_from_text(const bs_type *t, const char *s, size_t n, bs_buf *out,
                         char *err, size_t errlen) {
    int w = bs_type_fixed_size((bs_type_kind)t->kind);
    int64_t hi = w == 8 ? INT64_MAX : (int64_t)((1ULL << (8 * w - 1)) - 1);
    int64_t v;
    int rc = parse_int_range(s, n, -hi - 1, hi, &v);
    if (rc) {
        const char *jn = w == 1   ? "byte"
                         : w == 2 ? "short"
                         : w == 4 ? "int"
                                  : "long";
        bs__value_err(err, errlen, "Unable to make %s from '%.*s'", jn, SHOW(n),
                      s);
        return rc;
    }
    uint8_t *p = bs_buf_extend(out, (size_t)w);
    if (!p) return BS_ENOMEM;
    for (int i = w - 1; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v = (int64_t)((uint64_t)v >> 8);
    }
    return 0;
}

/* float, double: Java's syntax, IEEE bits big-endian. */
static int float_from_text(const bs_type *t, const char *s, size_t n,
                           bs_buf *out, char *err, size_t errlen) {
    int isf = t->kind == BS_TYPE_FLOAT;
    if (!bs__value_fp_syntax_ok(s, n)) {
        bs__value_err(err, errlen, "Unable to make %s from '%.*s'",
                      isf ? "float" : "double", SHOW(n), s);
        return BS_EINVAL;
    }
    int rc;
    char small[128];
    char *c = cstr(s, n, small, sizeof small);
    if (!c) return BS_ENOMEM;
    if (isf) {
        float f = strtof(c, NULL);
        uint32_t u;
        memcpy(&u, &f, 4);
        rc = bs_buf_append_u32(out, u);
    } else {
        double d = strtod(c, NULL);
        uint64_t u;
        memcpy(&u, &d, 8);
        rc = bs_buf_append_u64(out, u);
    }
    if (c != small) free(c);
    return rc;
}

/* date: 'yyyy-mm-dd' or the raw unsigned day number. */
static int date_from_text(const bs_type *t, const char *s, size_t n,
                          bs_buf *out, char *err, size_t errlen) {
    (void)t;
    uint32_t d;
    int rc = bs_value_parse_date(s, n, &d);
    if (rc && is_raw_int(s, n))
        bs__value_err(err, errlen,
                      "Unable to make unsigned int (for date) from: '%.*s'",
                      SHOW(n), s);
    else if (rc == BS_ERANGE)
        bs__value_err(err, errlen,
                      "Input date %.*s is out of the supported range "
                      "[-5877641-06-23, 5881580-07-11]",
                      SHOW(n), s);
    else if (rc)
        bs__value_err(err, errlen,
                      "Unable to coerce '%.*s' to a formatted date (long)",
                      SHOW(n), s);
    return rc ? rc : bs_buf_append_u32(out, d);
}

/* time: 'hh:mm:ss[.fffffffff]' or nanoseconds. */
static int time_from_text(const bs_type *t, const char *s, size_t n,
                          bs_buf *out, char *err, size_t errlen) {
    (void)t;
    int64_t ns;
    int rc = bs_value_parse_time(s, n, &ns);
    if (rc && is_raw_int(s, n))
        bs__value_err(err, errlen,
                      "Unable to make long (for time) from: '%.*s'", SHOW(n),
                      s);
    else if (rc == BS_ERANGE)
        bs__value_err(err, errlen, "Time value out of bounds in '%.*s'",
                      SHOW(n), s);
    else if (rc)
        bs__value_err(err, errlen,
                      "Unable to coerce '%.*s' to a formatted time (long)",
                      SHOW(n), s);
    return rc ? rc : bs_buf_append_u64(out, (uint64_t)ns);
}

/* uuid, timeuuid (version 1 only). */
static int uuid_from_text(const bs_type *t, const char *s, size_t n,
                          bs_buf *out, char *err, size_t errlen) {
    bs_uuid u;
    if (bs_uuid_parse(s, n, &u)) {
        bs__value_err(err, errlen, "Unable to make UUID from '%.*s'", SHOW(n),
                      s);
        return BS_EINVAL;
    }
    if (t->kind == BS_TYPE_TIMEUUID && bs_uuid_version(&u) != 1) {
        bs__value_err(err, errlen, "Invalid version for TimeUUID type.");
        return BS_EINVAL;
    }
    return bs_buf_append(out, u.b, 16);
}

/* inet: an IPv4 or IPv6 address. */
static int inet_from_text(const bs_type *t, const char *s, size_t n,
                          bs_buf *out, char *err, size_t errlen) {
    (void)t;
    char small[64];
    uint8_t a[16];
    if (n >= sizeof small) goto bad_inet;
    cstr(s, n, small, sizeof small);
    if (inet_pton(AF_INET, small, a) == 1) return bs_buf_append(out, a, 4);
    if (inet_pton(AF_INET6, small, a) == 1) return bs_buf_append(out, a, 16);
bad_inet:
    bs__value_err(err, errlen, "Unable to make inet address from '%.*s'",
                  SHOW(n), s);
    return BS_EINVAL;
}

int bs__value_scalar_from_text(const bs_type *t, const char *s, size_t n,
                               bs_buf *out, char *err, size_t errlen) {
    int rc;
    if (t->kind != BS_TYPE_VARCHAR && t->kind != BS_TYPE_ASCII) trim(&s, &n);
    switch (t->kind) {
    case BS_TYPE_VARCHAR:
        if (!bs_utf8_valid(s, n)) {
            bs__value_err(err, errlen, "Invalid UTF-8 bytes in string");
            return BS_EINVAL;
        }
        return bs_buf_append(out, s, n);
    case BS_TYPE_ASCII:
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)s[i] >= 0x80) {
                bs__value_err(err, errlen,
                              "Invalid ASCII character in string literal");
                return BS_EINVAL;
            }
        return bs_buf_append(out, s, n);
    case BS_TYPE_BLOB:
        if (n < 2 || s[0] != '0' || (s[1] != 'x' && s[1] != 'X') ||
            (rc = hex_decode(s + 2, n - 2, out)) == BS_EINVAL) {
            bs__value_err(err, errlen, "cannot parse '%.*s' as hex bytes",
                          SHOW(n), s);
            return BS_EINVAL;
        }
        return rc;
    case BS_TYPE_BOOLEAN:
        if (n == 4 && strncasecmp(s, "true", 4) == 0)
            return bs_buf_append_u8(out, 1);
        if (n == 5 && strncasecmp(s, "false", 5) == 0)
            return bs_buf_append_u8(out, 0);
        bs__value_err(err, errlen, "Unable to make boolean from '%.*s'",
                      SHOW(n), s);
        return BS_EINVAL;
    case BS_TYPE_TINYINT:
    case BS_TYPE_SMALLINT:
    case BS_TYPE_INT:
    case BS_TYPE_BIGINT:
    case BS_TYPE_COUNTER: return int_from_text(t, s, n, out, err, errlen);
    case BS_TYPE_VARINT:
        rc = bs__value_dec_to_varint(s, n, out);
        if (rc == BS_EINVAL || rc == BS_ETOOBIG)
            bs__value_err(err, errlen, "unable to make int from '%.*s'",
                          SHOW(n), s);
        return rc;
    case BS_TYPE_DECIMAL:
        rc = bs__value_parse_decimal(s, n, out);
        if (rc == BS_EINVAL || rc == BS_ERANGE || rc == BS_ETOOBIG)
            bs__value_err(err, errlen, "unable to make BigDecimal from '%.*s'",
                          SHOW(n), s);
        return rc;
    case BS_TYPE_FLOAT:
    case BS_TYPE_DOUBLE: return float_from_text(t, s, n, out, err, errlen);
    case BS_TYPE_TIMESTAMP: {
        int64_t ms;
        rc = bs_value_parse_timestamp(s, n, &ms);
        if (rc) {
            bs__value_err(err, errlen,
                          "Unable to coerce '%.*s' to a formatted date (long)",
                          SHOW(n), s);
            return rc;
        }
        return bs_buf_append_u64(out, (uint64_t)ms);
    }
    case BS_TYPE_DATE: return date_from_text(t, s, n, out, err, errlen);
    case BS_TYPE_TIME: return time_from_text(t, s, n, out, err, errlen);
    case BS_TYPE_UUID:
    case BS_TYPE_TIMEUUID: return uuid_from_text(t, s, n, out, err, errlen);
    case BS_TYPE_INET: return inet_from_text(t, s, n, out, err, errlen);
    case BS_TYPE_DURATION: {
        int32_t m, d;
        int64_t ns;
        if (bs_value_parse_duration(s, n, &m, &d, &ns)) {
            bs__value_err(err, errlen, "Unable to convert '%.*s' to a duration",
                          SHOW(n), s);
            return BS_EINVAL;
        }
        return bs__value_put_duration(out, m, d, ns);
    }
    default: {
        char tn[96];
        bs__value_type_name(t, tn, sizeof tn);
        bs__value_err(err, errlen, "%s is not a scalar type", tn);
        return BS_ETYPE;
    }
    }
}

/* ------------------------------------------------------------ literals */

static const char *kind_name(bs_lit_kind k) {
    switch (k) {
    case BS_LIT_STRING: return "STRING";
    case BS_LIT_INTEGER: return "INTEGER";
    case BS_LIT_FLOAT: return "FLOAT";
    case BS_LIT_UUID: return "UUID";
    case BS_LIT_HEX: return "HEX";
    case BS_LIT_BOOL: return "BOOLEAN";
    case BS_LIT_DURATION: return "DURATION";
    default: return "NULL";
    }
}

static int accepts(unsigned type, bs_lit_kind k) {
    switch (type) {
    case BS_TYPE_ASCII:
    case BS_TYPE_VARCHAR:
    case BS_TYPE_INET: return k == BS_LIT_STRING;
    case BS_TYPE_TINYINT:
    case BS_TYPE_SMALLINT:
    case BS_TYPE_INT:
    case BS_TYPE_BIGINT:
    case BS_TYPE_COUNTER:
    case BS_TYPE_VARINT: return k == BS_LIT_INTEGER;
    case BS_TYPE_FLOAT:
    case BS_TYPE_DOUBLE:
    case BS_TYPE_DECIMAL: return k == BS_LIT_INTEGER || k == BS_LIT_FLOAT;
    case BS_TYPE_BLOB: return k == BS_LIT_HEX;
    case BS_TYPE_BOOLEAN: return k == BS_LIT_BOOL;
    case BS_TYPE_TIMESTAMP:
    case BS_TYPE_DATE:
    case BS_TYPE_TIME: return k == BS_LIT_STRING || k == BS_LIT_INTEGER;
    case BS_TYPE_UUID:
    case BS_TYPE_TIMEUUID: return k == BS_LIT_STRING || k == BS_LIT_UUID;
    case BS_TYPE_DURATION: return k == BS_LIT_DURATION || k == BS_LIT_STRING;
    default: return 0;
    }
}

int bs_value_from_literal(const bs_type *t, const bs_literal *lit,
                          const char *colname, bs_buf *out, char *err,
                          size_t errlen) {
    if (!t || !lit || !out || (!lit->text && lit->len)) return BS_EINVAL;
    const char *name = colname ? colname : "value";
    char tn[96];
    bs__value_type_name(t, tn, sizeof tn);
    if (lit->kind == BS_LIT_NULL) {
        bs__value_err(err, errlen, "Invalid null literal for \"%s\" of type %s",
                      name, tn);
        return BS_ETYPE;
    }
    if (!accepts(t->kind, lit->kind)) {
        bs__value_err(err, errlen,
                      "Invalid %s constant (%.*s) for \"%s\" of "
                      "type %s",
                      kind_name(lit->kind), SHOW(lit->len), lit->text, name,
                      tn);
        return BS_ETYPE;
    }
    size_t mark = out->len;
    int rc;
    if (t->kind == BS_TYPE_BLOB) {
        rc = hex_decode(lit->text, lit->len, out);
        if (rc == BS_EINVAL)
            bs__value_err(err, errlen, "cannot parse '0x%.*s' as hex bytes",
                          SHOW(lit->len), lit->text);
    } else if (lit->kind == BS_LIT_FLOAT &&
               (t->kind == BS_TYPE_FLOAT || t->kind == BS_TYPE_DOUBLE) &&
               !bs__value_fp_syntax_ok(lit->text, lit->len)) {
        bs__value_err(err, errlen, "Unable to make %s from '%.*s'",
                      t->kind == BS_TYPE_FLOAT ? "float" : "double",
                      SHOW(lit->len), lit->text);
        rc = BS_EINVAL;
    } else {
        rc = bs__value_scalar_from_text(t, lit->text, lit->len, out, err,
                                        errlen);
    }
    if (rc) out->len = mark;
    return rc;
}

/* ---------------------------------------------------------- parse_text */

typedef struct {
    const char *s;
    size_t n, pos;
    char *err;
    size_t errlen;
} tp;

static void ws(tp *p) {
    while (p->pos < p->n && isspace((unsigned char)p->s[p->pos]))
        p->pos++;
}

static int fail(tp *p, const char *what) {
    size_t k = p->n - p->pos;
    if (k > 20) k = 20;
    bs__value_err(p->err, p->errlen, "%s at offset %zu near '%.*s'", what,
                  p->pos, (int)k, p->s + p->pos);
    return BS_EINVAL;
}

static int at(tp *p, char c) {
    ws(p);
    return p->pos < p->n && p->s[p->pos] == c;
}

static int expect(tp *p, char c) {
    if (at(p, c)) {
        p->pos++;
        return 0;
    }
    char m[32];
    snprintf(m, sizeof m, "expected '%c'", c);
    return fail(p, m);
}

static int is_delim(char c) {
    return c == ',' || c == ']' || c == '}' || c == ')' ||
           isspace((unsigned char)c);
}

/* Reads a quoted string ('' = ') into b. */
static int read_quoted(tp *p, bs_buf *b) {
    p->pos++; /* opening quote */
    for (;;) {
        if (p->pos >= p->n) return fail(p, "unterminated quoted string");
        char c = p->s[p->pos++];
        if (c == '\'') {
            if (p->pos < p->n && p->s[p->pos] == '\'')
                p->pos++;
            else
                return 0;
        }
        int rc = bs_buf_append_u8(b, (uint8_t)c);
        if (rc) return rc;
    }
}

/* Bare token [start, end). */
static void bare_token(tp *p, const bs_type *t, size_t *start, size_t *end) {
    int colon_ok = t->kind == BS_TYPE_TIME || t->kind == BS_TYPE_TIMESTAMP ||
                   t->kind == BS_TYPE_INET;
    *start = p->pos;
    while (p->pos < p->n) {
        char c = p->s[p->pos];
        if (is_delim(c)) break;
        if (c == ':') {
            /* "k: v" separator unless a time/timestamp/inet continues */
            char nx = p->pos + 1 < p->n ? p->s[p->pos + 1] : 0;
            if (!colon_ok || nx == 0 || is_delim(nx)) break;
        }
        p->pos++;
    }
    *end = p->pos;
}

static int parse_elem(tp *p, const bs_type *t, bs_buf *out, int *is_null,
                      int depth);

/* Elements of list/set/map/tuple parsed into a scratch buffer. */
typedef struct {
    bs_buf data;
    size_t *off, *len;
    size_t n, cap;
} elems;

static int elems_push(elems *e, size_t off, size_t len) {
    if (e->n == e->cap) {
        size_t nc = e->cap ? e->cap * 2 : 8;
        size_t *a = realloc(e->off, nc * sizeof *a);
        if (!a) return BS_ENOMEM;
        e->off = a;
        size_t *b = realloc(e->len, nc * sizeof *b);
        if (!b) return BS_ENOMEM;
        e->len = b;
        e->cap = nc;
    }
    e->off[e->n] = off;
    e->len[e->n++] = len;
    return 0;
}

static void elems_free(elems *e) {
    bs_buf_free(&e->data);
    free(e->off);
    free(e->len);
}

static bs_value_elem *elems_view(elems *e, size_t from, size_t step) {
    size_t cnt = e->n ? (e->n - from + step - 1) / step : 0;
    bs_value_elem *v = calloc(cnt ? cnt : 1, sizeof *v);
    if (!v) return NULL;
    for (size_t i = 0, j = from; j < e->n; i++, j += step) {
        v[i].len = e->len[j];
        v[i].p = e->len[j] == BS_VALUE_NULL ? NULL
                 : e->data.data             ? e->data.data + e->off[j]
                                            : (const uint8_t *)"";
    }
    return v;
}

static int parse_one_into(tp *p, const bs_type *t, elems *e, int null_ok,
                          int depth) {
    size_t off = e->data.len;
    int is_null = 0;
    int rc = parse_elem(p, t, &e->data, &is_null, depth + 1);
    if (rc) return rc;
    if (is_null && !null_ok)
        return fail(p, "null is not supported inside collections");
    return elems_push(e, off, is_null ? BS_VALUE_NULL : e->data.len - off);
}

static int parse_coll(tp *p, const bs_type *t, bs_buf *out, int depth) {
    char open = t->kind == BS_TYPE_LIST    ? '['
                : t->kind == BS_TYPE_TUPLE ? '('
                                           : '{';
    char close = open == '[' ? ']' : open == '(' ? ')' : '}';
    int rc = expect(p, open);
    if (rc) return rc;
    elems e = {BS_BUF_INIT, NULL, NULL, 0, 0};
    unsigned comp = 0;
    if (!at(p, close)) {
        for (;;) {
            if (t->kind == BS_TYPE_TUPLE) {
                if (comp >= t->nparams) {
                    rc = fail(p, "too many tuple components");
                    break;
                }
                rc = parse_one_into(p, t->params[comp++], &e, 1, depth);
            } else {
                rc = parse_one_into(p, t->params[0], &e, 0, depth);
                if (!rc && t->kind == BS_TYPE_MAP) {
                    rc = expect(p, ':');
                    if (!rc) rc = parse_one_into(p, t->params[1], &e, 0, depth);
                }
            }
            if (rc) break;
            if (at(p, ',')) {
                p->pos++;
                continue;
            }
            break;
        }
    }
    if (!rc) rc = expect(p, close);
    if (!rc) {
        bs_value_elem *v = elems_view(&e, 0, t->kind == BS_TYPE_MAP ? 2 : 1);
        bs_value_elem *vv =
            t->kind == BS_TYPE_MAP ? elems_view(&e, 1, 2) : NULL;
        if (!v || (t->kind == BS_TYPE_MAP && !vv))
            rc = BS_ENOMEM;
        else if (t->kind == BS_TYPE_LIST)
            rc = bs_value_build_list(v, e.n, out);
        else if (t->kind == BS_TYPE_SET)
            rc = bs_value_build_set(t, v, e.n, out);
        else if (t->kind == BS_TYPE_MAP)
            rc = bs_value_build_map(t, v, vv, e.n / 2, out);
        else
            rc = bs_value_build_tuple(v, e.n, out);
        free(v);
        free(vv);
        if (rc && rc != BS_ENOMEM) rc = fail(p, "cannot build collection");
    }
    elems_free(&e);
    return rc;
}

static int read_field_name(tp *p, bs_buf *name) {
    ws(p);
    if (p->pos < p->n && p->s[p->pos] == '"') {
        p->pos++;
        for (;;) {
            if (p->pos >= p->n) return fail(p, "unterminated field name");
            char c = p->s[p->pos++];
            if (c == '"') {
                if (p->pos < p->n && p->s[p->pos] == '"')
                    p->pos++;
                else
                    break;
            }
            int rc = bs_buf_append_u8(name, (uint8_t)c);
            if (rc) return rc;
        }
    } else {
        while (p->pos < p->n &&
               (isalnum((unsigned char)p->s[p->pos]) || p->s[p->pos] == '_')) {
            int rc = bs_buf_append_u8(
                name, (uint8_t)tolower((unsigned char)p->s[p->pos]));
            if (rc) return rc;
            p->pos++;
        }
        if (!name->len) return fail(p, "expected a field name");
    }
    return 0;
}

static int parse_udt(tp *p, const bs_type *t, bs_buf *out, int depth) {
    if (t->nparams == 0 || !t->field_names)
        return fail(p, "user type has no resolved fields");
    int rc = expect(p, '{');
    if (rc) return rc;
    bs_buf *vals = calloc(t->nparams, sizeof *vals);
    int *set = calloc(t->nparams, sizeof *set);
    int *isnull = calloc(t->nparams, sizeof *isnull);
    bs_buf name = BS_BUF_INIT;
    int maxf = -1;
    if (!vals || !set || !isnull) rc = BS_ENOMEM;
    if (!rc && !at(p, '}')) {
        for (;;) {
            bs_buf_reset(&name);
            rc = read_field_name(p, &name);
            if (rc) break;
            unsigned f;
            for (f = 0; f < t->nparams; f++)
                if (strlen(t->field_names[f]) == name.len &&
                    memcmp(t->field_names[f], name.data, name.len) == 0)
                    break;
            if (f == t->nparams) {
                rc = fail(p, "unknown field");
                break;
            }
            if (set[f]) {
                rc = fail(p, "duplicate field");
                break;
            }
            if ((rc = expect(p, ':'))) break;
            rc = parse_elem(p, t->params[f], &vals[f], &isnull[f], depth + 1);
            if (rc) break;
            set[f] = 1;
            if ((int)f > maxf) maxf = (int)f;
            if (at(p, ',')) {
                p->pos++;
                continue;
            }
            break;
        }
    }
    if (!rc) rc = expect(p, '}');
    for (int f = 0; !rc && f <= maxf; f++) {
        if (!set[f] || isnull[f])
            rc = bs__value_put_elem(out, NULL, BS_VALUE_NULL);
        else
            rc = bs__value_put_elem(out, vals[f].data, vals[f].len);
    }
    for (unsigned f = 0; vals && f < t->nparams; f++)
        bs_buf_free(&vals[f]);
    free(vals);
    free(set);
    free(isnull);
    bs_buf_free(&name);
    return rc;
}

static int parse_elem(tp *p, const bs_type *t, bs_buf *out, int *is_null,
                      int depth) {
    *is_null = 0;
    if (depth > BS_TYPE_MAX_DEPTH) return fail(p, "nested too deeply");
    ws(p);
    if (p->pos + 4 <= p->n && strncasecmp(p->s + p->pos, "null", 4) == 0 &&
        (p->pos + 4 == p->n || is_delim(p->s[p->pos + 4]) ||
         p->s[p->pos + 4] == ':')) {
        p->pos += 4;
        *is_null = 1;
        return 0;
    }
    switch (t->kind) {
    case BS_TYPE_LIST:
    case BS_TYPE_SET:
    case BS_TYPE_MAP:
    case BS_TYPE_TUPLE: return parse_coll(p, t, out, depth);
    case BS_TYPE_UDT: return parse_udt(p, t, out, depth);
    default: break;
    }
    size_t mark = out->len;
    int rc;
    char msg[256] = "";
    if (p->pos < p->n && p->s[p->pos] == '\'') {
        bs_buf q = BS_BUF_INIT;
        size_t start = p->pos;
        rc = read_quoted(p, &q);
        if (!rc) {
            rc = bs__value_scalar_from_text(t, (const char *)q.data, q.len, out,
                                            msg, sizeof msg);
            if (rc && rc != BS_ENOMEM) {
                p->pos = start;
                bs__value_err(p->err, p->errlen, "%s (at offset %zu)", msg,
                              start);
            }
        }
        bs_buf_free(&q);
    } else {
        size_t a, b;
        bare_token(p, t, &a, &b);
        if (a == b) return fail(p, "expected a value");
        rc = bs__value_scalar_from_text(t, p->s + a, b - a, out, msg,
                                        sizeof msg);
        if (rc && rc != BS_ENOMEM)
            bs__value_err(p->err, p->errlen, "%s (at offset %zu)", msg, a);
    }
    if (rc) out->len = mark;
    return rc;
}

int bs_value_parse_text(const bs_type *t, const char *s, size_t len, int flags,
                        bs_buf *out, char *err, size_t errlen) {
    if (!t || !out || (!s && len)) return BS_EINVAL;
    size_t mark = out->len;
    int rc;
    int composite = bs_type_is_collection(t) || t->kind == BS_TYPE_TUPLE ||
                    t->kind == BS_TYPE_UDT;
    if (!composite && !(flags & BS_VALUE_PARSE_CQL)) {
        if (t->kind != BS_TYPE_VARCHAR && t->kind != BS_TYPE_ASCII) {
            trim(&s, &len);
            if (len >= 2 && s[0] == '\'' && s[len - 1] == '\'') {
                tp p = {s, len, 0, err, errlen};
                bs_buf q = BS_BUF_INIT;
                rc = read_quoted(&p, &q);
                if (!rc && p.pos != len)
                    rc = fail(&p, "text after quoted value");
                if (!rc)
                    rc = bs__value_scalar_from_text(t, (const char *)q.data,
                                                    q.len, out, err, errlen);
                bs_buf_free(&q);
                if (rc) out->len = mark;
                return rc;
            }
        }
        rc = bs__value_scalar_from_text(t, s ? s : "", len, out, err, errlen);
        if (rc) out->len = mark;
        return rc;
    }
    tp p = {s ? s : "", len, 0, err, errlen};
    int is_null = 0;
    rc = parse_elem(&p, t, out, &is_null, 0);
    if (!rc && is_null) rc = fail(&p, "null is not a value here");
    if (!rc) {
        ws(&p);
        if (p.pos != p.n) rc = fail(&p, "unexpected text after value");
    }
    if (rc) out->len = mark;
    return rc;
}
