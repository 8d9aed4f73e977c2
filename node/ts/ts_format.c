/*
 * ts_format.c - the other shapes of a /query answer: CSV (Accept:
 * application/csv or text/csv) and chunked JSON (chunked=true), as
 * InfluxDB 1.6 writes them.
 *
 * Both start from the JSON members a statement produced (ts_query.c:
 * ",\"series\":[...]" or ",\"error\":\"...\"" or nothing), which this
 * file reads back with a small scanner: the text is our own, well-formed
 * JSON, but the scanner still stops at the end of the buffer whatever
 * it finds.
 *
 * CSV (InfluxDB 1.6's csv formatter):
 *   - a header "name,tags,<columns>" before the first series of a
 *     statement (and again when the columns change); a blank line
 *     between statements that have series;
 *   - a row per value row: name, the series tags as "k=v,k2=v2" (sorted,
 *     escaped as in line protocol, empty values left out), the values;
 *     null is empty, floats without exponent, times as integers (ns, or
 *     the epoch= unit);
 *   - statements without series, and statements that failed, print
 *     nothing (InfluxDB 1.6 leaves their errors out);
 *   - fields quoted as Go's encoding/csv does.
 * Chunked JSON: one {"results":[...]} line per chunk.  For SELECT, SHOW
 * SERIES and SHOW FIELD KEYS (statements influxd runs as queries) every
 * series is split into chunks of chunk_size rows, a chunk that its
 * series continues carries "partial":true on the series, and every line
 * but a statement's last carries "partial":true on the result; the other
 * SHOW statements give one line per series without "partial".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node/ts/ts_int.h"
#include "query/ts/influxql.h"

/* ------------------------------------------------------------------ */
/* A scanner for our own JSON                                           */
/* ------------------------------------------------------------------ */

typedef struct span {
    const char *p;
    size_t n;
} span;

static const char *ws(const char *p, const char *e) {
    while (p < e && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) p++;
    return p;
}

/* The end of the value starting at p (or e). */
static const char *skip(const char *p, const char *e) {
    p = ws(p, e);
    if (p >= e) return e;
    if (*p == '"') {
        for (p++; p < e && *p != '"'; p++)
            if (*p == '\\') p++;
        return p < e ? p + 1 : e;
    }
    if (*p == '[' || *p == '{') {
        int depth = 0;
        while (p < e) {
            if (*p == '"') {
                p = skip(p, e);
                continue;
            }
            if (*p == '[' || *p == '{') depth++;
            if (*p == ']' || *p == '}') {
                if (--depth == 0) return p + 1;
            }
            p++;
        }
        return e;
    }
    while (p < e && *p != ',' && *p != ']' && *p != '}' && *p != ' ') p++;
    return p;
}

/* Iterates the elements of the array (or members of the object) `v`:
 * *it starts at 0; each call sets *el (and *key for objects) and returns
 * 1, or 0 at the end. */
static int each(span v, size_t *it, span *key, span *el) {
    const char *e = v.p + v.n, *p = *it ? v.p + *it : ws(v.p, e) + 1;
    p = ws(p, e);
    if (p < e && *p == ',') p = ws(p + 1, e);
    if (p >= e || *p == ']' || *p == '}') return 0;
    if (key) {
        const char *k = skip(p, e);
        key->p = p;
        key->n = (size_t)(k - p);
        p = ws(k, e);
        if (p < e && *p == ':') p++;
        p = ws(p, e);
    }
    const char *q = skip(p, e);
    el->p = p;
    el->n = (size_t)(q - p);
    *it = (size_t)(q - v.p);
    return 1;
}

static int key_is(span k, const char *s) {
    size_t n = strlen(s);
    return k.n == n + 2 && !memcmp(k.p + 1, s, n);
}

/* Decodes the JSON string s (quotes included) into o. */
static void unquote(span s, bs_buf *o) {
    const char *p = s.p + 1, *e = s.p + s.n - 1;
    while (p < e) {
        if (*p != '\\' || p + 1 >= e) {
            bs_buf_append(o, p++, 1);
            continue;
        }
        char c = p[1];
        p += 2;
        const char *map = "\"\"\\\\//b\bf\fn\nr\rt\t";
        const char *m = c ? strchr(map, c) : NULL;
        if (c == 'u' && e - p >= 4) {
            unsigned u = (unsigned)strtoul((char[5]){p[0], p[1], p[2], p[3], 0}, NULL, 16);
            p += 4;
            if (u >= 0xD800 && u < 0xDC00 && e - p >= 6 && p[0] == '\\' && p[1] == 'u') {
                unsigned lo = (unsigned)strtoul((char[5]){p[2], p[3], p[4], p[5], 0}, NULL, 16);
                p += 6;
                u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
            }
            uint8_t b[4];
            size_t n = u < 0x80 ? 1 : u < 0x800 ? 2 : u < 0x10000 ? 3 : 4;
            static const uint8_t lead[5] = {0, 0, 0xC0, 0xE0, 0xF0};
            for (size_t k = n - 1; k > 0; k--, u >>= 6) b[k] = (uint8_t)(0x80 | (u & 63));
            b[0] = (uint8_t)(lead[n] | u);
            bs_buf_append(o, b, n);
        } else if (m && (size_t)(m - map) % 2 == 0) {
            bs_buf_append(o, m + 1, 1);
        } else {
            bs_buf_append(o, &c, 1);
        }
    }
}

/* ------------------------------------------------------------------ */
/* CSV                                                                  */
/* ------------------------------------------------------------------ */

/* A number of JSON text s as Go's FormatFloat(v, 'f', -1) (no exponent). */
static void plain_number(span s, bs_buf *o) {
    const char *x = memchr(s.p, 'e', s.n);
    if (!x) x = memchr(s.p, 'E', s.n);
    if (!x) {
        bs_buf_append(o, s.p, s.n);
        return;
    }
    char digits[64];
    size_t nd = 0;
    int neg = 0, point = -1;
    for (const char *p = s.p; p < x; p++) {
        if (*p == '-') neg = 1;
        else if (*p == '.') point = (int)nd;
        else if (nd < sizeof digits) digits[nd++] = *p;
    }
    if (point < 0) point = (int)nd;
    point += atoi(x + 1); /* the decimal point's position after the shift */
    if (neg) bs_buf_append_str(o, "-");
    if (point <= 0) {
        bs_buf_append_str(o, "0.");
        for (int i = 0; i < -point; i++) bs_buf_append_str(o, "0");
        bs_buf_append(o, digits, nd);
    } else if ((size_t)point >= nd) {
        bs_buf_append(o, digits, nd);
        for (size_t i = nd; i < (size_t)point; i++) bs_buf_append_str(o, "0");
    } else {
        bs_buf_append(o, digits, (size_t)point);
        bs_buf_append_str(o, ".");
        bs_buf_append(o, digits + point, nd - (size_t)point);
    }
}

/* One CSV field, quoted as Go's encoding/csv does. */
static void csv_field(const char *s, size_t n, bs_buf *o) {
    int q = n > 0 && (s[0] == ' ' || s[0] == '\t' || s[0] == '\n' || s[0] == '\r' ||
                      s[0] == '\v' || s[0] == '\f' || (n == 2 && s[0] == '\\' && s[1] == '.'));
    for (size_t i = 0; i < n && !q; i++)
        q = s[i] == ',' || s[i] == '"' || s[i] == '\r' || s[i] == '\n';
    if (!q) {
        bs_buf_append(o, s, n);
        return;
    }
    bs_buf_append_str(o, "\"");
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"') bs_buf_append_str(o, "\"");
        bs_buf_append(o, &s[i], 1);
    }
    bs_buf_append_str(o, "\"");
}

static void csv_value(span v, bs_buf *o) {
    if (!v.n || (v.n == 4 && !memcmp(v.p, "null", 4))) return;
    if (v.p[0] == '"') {
        bs_buf t = BS_BUF_INIT;
        unquote(v, &t);
        csv_field(t.data ? (const char *)t.data : "", t.len, o);
        bs_buf_free(&t);
    } else if (v.p[0] == 't' || v.p[0] == 'f') {
        bs_buf_append(o, v.p, v.n);
    } else {
        plain_number(v, o);
    }
}

static void esc_tag(const uint8_t *s, size_t n, bs_buf *o) {
    for (size_t i = 0; i < n; i++) {
        if (s[i] == ',' || s[i] == ' ' || s[i] == '=') bs_buf_append_str(o, "\\");
        bs_buf_append(o, &s[i], 1);
    }
}

typedef struct kv {
    bs_buf k, v;
} kv;

static int cmp_kv(const void *x, const void *y) {
    const kv *a = x, *b = y;
    size_t n = a->k.len < b->k.len ? a->k.len : b->k.len;
    int r = n ? memcmp(a->k.data, b->k.data, n) : 0;
    return r ? r : (a->k.len > b->k.len) - (a->k.len < b->k.len);
}

/* The tags object as "k=v,k2=v2" (InfluxDB's tag hash key). */
static void tag_key(span tags, bs_buf *o) {
    kv t[64];
    size_t n = 0, it = 0;
    span k, v;
    while (n < 64 && each(tags, &it, &k, &v)) {
        bs_buf_init(&t[n].k);
        bs_buf_init(&t[n].v);
        unquote(k, &t[n].k);
        if (v.n && v.p[0] == '"') unquote(v, &t[n].v);
        n++;
    }
    if (n > 1) qsort(t, n, sizeof *t, cmp_kv);
    int first = 1;
    for (size_t i = 0; i < n; i++) {
        if (t[i].v.len) {
            if (!first) bs_buf_append_str(o, ",");
            esc_tag(t[i].k.data, t[i].k.len, o);
            bs_buf_append_str(o, "=");
            esc_tag(t[i].v.data, t[i].v.len, o);
            first = 0;
        }
        bs_buf_free(&t[i].k);
        bs_buf_free(&t[i].v);
    }
}

/* The member `name` of a statement's members r (",\"series\":[...]"
 * and/or ",\"error\":..."), or n = 0. */
static span member(const char *r, size_t len, const char *name) {
    span k, v, none = {NULL, 0};
    const char *p = r, *e = r + len;
    while (p < e) {
        p = ws(p, e);
        if (p < e && *p == ',') p++;
        if (p >= e) break;
        const char *ke = skip(p, e);
        k.p = p;
        k.n = (size_t)(ke - p);
        p = ws(ke, e);
        if (p < e && *p == ':') p++;
        const char *ve = skip(p, e);
        v.p = ws(p, e);
        v.n = (size_t)(ve - v.p);
        p = ve;
        if (key_is(k, name)) return v;
    }
    return none;
}

static span series_of(const char *r, size_t len) { return member(r, len, "series"); }

int bs__ts_failed(const char *r, size_t len) { return member(r, len, "error").n > 0; }

void bs__ts_csv_statement(bs__ts_csv *c, const char *r, size_t len, bs_buf *o) {
    span series = series_of(r, len), s;
    size_t it = 0;
    int first = 1;
    while (series.n && each(series, &it, NULL, &s)) {
        span name = {NULL, 0}, tags = {NULL, 0}, cols = {NULL, 0}, vals = {NULL, 0}, k, v;
        size_t mi = 0;
        while (each(s, &mi, &k, &v)) {
            if (key_is(k, "name")) name = v;
            else if (key_is(k, "tags")) tags = v;
            else if (key_is(k, "columns")) cols = v;
            else if (key_is(k, "values")) vals = v;
        }
        if (first && c->any) bs_buf_append_str(o, "\n");
        if (first || cols.n != c->cols.len || memcmp(cols.p, c->cols.data, cols.n)) {
            c->cols.len = 0;
            bs_buf_append(&c->cols, cols.p, cols.n);
            bs_buf_append_str(o, "name,tags");
            size_t ci = 0;
            span col;
            while (cols.n && each(cols, &ci, NULL, &col)) {
                bs_buf_append_str(o, ",");
                csv_value(col, o);
            }
            bs_buf_append_str(o, "\n");
        }
        first = 0;
        c->any = 1;
        bs_buf head = BS_BUF_INIT;
        if (name.n) csv_value(name, &head);
        bs_buf_append_str(&head, ",");
        if (tags.n) {
            bs_buf tk = BS_BUF_INIT;
            tag_key(tags, &tk);
            csv_field(tk.data ? (const char *)tk.data : "", tk.len, &head);
            bs_buf_free(&tk);
        }
        size_t ri = 0;
        span row;
        while (vals.n && each(vals, &ri, NULL, &row)) {
            bs_buf_append(o, head.data, head.len);
            size_t vi = 0;
            span val;
            while (each(row, &vi, NULL, &val)) {
                bs_buf_append_str(o, ",");
                csv_value(val, o);
            }
            bs_buf_append_str(o, "\n");
        }
        bs_buf_free(&head);
    }
}

void bs__ts_csv_error(bs_buf *body) {
    span obj = {body->data ? (const char *)body->data : "{}", body->data ? body->len : 2}, k, v;
    size_t it = 0;
    bs_buf msg = BS_BUF_INIT, o = BS_BUF_INIT;
    while (each(obj, &it, &k, &v))
        if (key_is(k, "error") && v.n && v.p[0] == '"') unquote(v, &msg);
    bs_buf_append_str(&o, "error\n");
    csv_field(msg.data ? (const char *)msg.data : "", msg.len, &o);
    bs_buf_append_str(&o, "\n");
    bs_buf_free(&msg);
    bs_buf_free(body);
    *body = o;
}

/* ------------------------------------------------------------------ */
/* Chunked JSON                                                         */
/* ------------------------------------------------------------------ */

static int splits(int kind) {
    return kind == BS_IQ_SELECT || kind == BS_IQ_SHOW_SERIES || kind == BS_IQ_SHOW_FIELD_KEYS;
}

static void chunk_line(size_t id, span s, span rows, int spartial, int rpartial, int with_rows,
                       bs_buf *o) {
    bs_buf_appendf(o, "{\"results\":[{\"statement_id\":%zu,\"series\":[{", id);
    size_t mi = 0;
    span k, v;
    int f = 1;
    while (each(s, &mi, &k, &v)) {
        if (!f) bs_buf_append_str(o, ",");
        f = 0;
        bs_buf_append(o, k.p, k.n);
        bs_buf_append_str(o, ":");
        if (key_is(k, "values") && with_rows) {
            bs_buf_append_str(o, "[");
            bs_buf_append(o, rows.p, rows.n);
            bs_buf_append_str(o, "]");
        } else {
            bs_buf_append(o, v.p, v.n);
        }
    }
    bs_buf_append_str(o, spartial ? ",\"partial\":true}]" : "}]");
    bs_buf_append_str(o, rpartial ? ",\"partial\":true}]}\n" : "}]}\n");
}

void bs__ts_chunk_statement(int kind, size_t id, const char *r, size_t len, size_t chunk,
                            bs_buf *o) {
    span series = series_of(r, len), s, k, v;
    if (!series.n) {
        bs_buf_appendf(o, "{\"results\":[{\"statement_id\":%zu", id);
        bs_buf_append(o, r, len);
        bs_buf_append_str(o, "}]}\n");
        return;
    }
    /* how many series, to know the statement's last line */
    size_t it = 0, ns = 0, si = 0;
    while (each(series, &it, NULL, &s)) ns++;
    it = 0;
    while (each(series, &it, NULL, &s)) {
        si++;
        span vals = {NULL, 0};
        size_t mi = 0;
        while (each(s, &mi, &k, &v))
            if (key_is(k, "values")) vals = v;
        if (!splits(kind) || !vals.n) {
            chunk_line(id, s, vals, 0, splits(kind) && si < ns, 0, o);
            continue;
        }
        size_t nrows = 0, ri = 0;
        span row;
        while (each(vals, &ri, NULL, &row)) nrows++;
        ri = 0;
        for (size_t done = 0; done < nrows;) {
            size_t take = nrows - done < chunk ? nrows - done : chunk, n = 0;
            const char *start = NULL, *end = NULL;
            while (n < take && each(vals, &ri, NULL, &row)) {
                if (!start) start = row.p;
                end = row.p + row.n;
                n++;
            }
            done += n;
            span rows = {start, (size_t)(end - start)};
            int more = done < nrows;
            chunk_line(id, s, rows, more, more || si < ns, 1, o);
            if (!n) break;
        }
    }
}
