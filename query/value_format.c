/*
 * value_format.c - serialized values to text: cqlsh display form, CQL
 * literals and Cassandra's JSON.
 *
 * One recursive walker renders all three styles; each scalar case says
 * what each style prints.  The public functions validate the bytes first,
 * so the walker may trust lengths (it still reads elements through the
 * bounds-checked bs__value_read_elem).
 *
 * cqlsh reference points (pylib/cqlshlib/formatting.py, Cassandra 4.x):
 *   float/double  '%.*g' with precision 5 / 12 widened by the exponent
 *                 when -4 <= exponent < precision (format_floating_point_type)
 *   boolean       True / False
 *   timestamp     '%Y-%m-%d %H:%M:%S.%f%z' in UTC; raw ms outside years
 *                 1..9999 (the driver returns an int there)
 *   date          yyyy-mm-dd, else the signed day count
 *   time          hh:mm:ss.nnnnnnnnn
 *   inside collections text, ascii, inet and timestamps are quoted
 *                 ('' escaping), everything else bare
 *   duration      Duration.toString (1y2mo3d4h5m6s7ms8us9ns); cqlsh shows
 *                 nothing for a zero duration, we print 0s so that the
 *                 text parses back.
 */
#include <arpa/inet.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common/error.h"
#include "common/uuid.h"
#include "query/value.h"
#include "query/value_int.h"

enum { ST_DISPLAY, ST_CQL, ST_JSON };

static int put_quoted(bs_buf *out, const uint8_t *p, size_t n) {
    int rc = bs_buf_append_u8(out, '\'');
    size_t s = 0;
    for (size_t i = 0; !rc && i < n; i++) {
        if (p[i] == '\'') {
            rc = bs_buf_append(out, p + s, i + 1 - s);
            if (!rc) rc = bs_buf_append_u8(out, '\'');
            s = i + 1;
        }
    }
    if (!rc && n > s) rc = bs_buf_append(out, p + s, n - s);
    return rc ? rc : bs_buf_append_u8(out, '\'');
}

/* cqlsh's terminal escaping of backslashes and control characters. */
static int put_escaped(bs_buf *out, const uint8_t *p, size_t n) {
    int rc = 0;
    for (size_t i = 0; !rc && i < n; i++) {
        uint8_t c = p[i];
        if (c == '\\')
            rc = bs_buf_append_str(out, "\\\\");
        else if (c == '\n')
            rc = bs_buf_append_str(out, "\\n");
        else if (c == '\t')
            rc = bs_buf_append_str(out, "\\t");
        else if (c == '\r')
            rc = bs_buf_append_str(out, "\\r");
        else if (c < 0x20 || c == 0x7f)
            rc = bs_buf_appendf(out, "\\x%02x", c);
        else if (c == 0xc2 && i + 1 < n && p[i + 1] >= 0x80 &&
                 p[i + 1] <= 0xa0) {
            rc = bs_buf_appendf(out, "\\x%02x", p[i + 1]);
            i++;
        } else
            rc = bs_buf_append_u8(out, c);
    }
    return rc;
}

static int put_json_str(bs_buf *out, const uint8_t *p, size_t n) {
    int rc = bs_buf_append_u8(out, '"');
    for (size_t i = 0; !rc && i < n; i++) {
        uint8_t c = p[i];
        if (c == '"')
            rc = bs_buf_append_str(out, "\\\"");
        else if (c == '\\')
            rc = bs_buf_append_str(out, "\\\\");
        else if (c == '\n')
            rc = bs_buf_append_str(out, "\\n");
        else if (c == '\t')
            rc = bs_buf_append_str(out, "\\t");
        else if (c == '\r')
            rc = bs_buf_append_str(out, "\\r");
        else if (c == '\b')
            rc = bs_buf_append_str(out, "\\b");
        else if (c == '\f')
            rc = bs_buf_append_str(out, "\\f");
        else if (c < 0x20)
            rc = bs_buf_appendf(out, "\\u%04x", c);
        else
            rc = bs_buf_append_u8(out, c);
    }
    return rc ? rc : bs_buf_append_u8(out, '"');
}

static int put_field_name(bs_buf *out, const char *name) {
    if (!bs__value_ident_needs_quote(name)) return bs_buf_append_str(out, name);
    int rc = bs_buf_append_u8(out, '"');
    for (const char *c = name; !rc && *c; c++) {
        if (*c == '"') rc = bs_buf_append_u8(out, '"');
        if (!rc) rc = bs_buf_append_u8(out, (uint8_t)*c);
    }
    return rc ? rc : bs_buf_append_u8(out, '"');
}

/* Runs fn on a scratch buffer, then appends it wrapped in quotes when
 * `q` (JSON: as a JSON string, else CQL '...'). */
static int wrap(bs_buf *out, const bs_buf *tmp, int q, int style) {
    if (!q) return bs_buf_append(out, tmp->data, tmp->len);
    if (style == ST_JSON) return put_json_str(out, tmp->data, tmp->len);
    return put_quoted(out, tmp->data, tmp->len);
}

static int fmt(const bs_type *t, const uint8_t *p, size_t n, int style,
               int flags, int nested, bs_buf *out, int depth);

static int fmt_composite(const bs_type *t, const uint8_t *p, size_t n,
                         int style, int flags, bs_buf *out, int depth) {
    int rc;
    int json = style == ST_JSON;
    size_t pos = 0;
    if (bs_type_is_collection(t)) {
        int map = t->kind == BS_TYPE_MAP;
        char open = (t->kind == BS_TYPE_LIST || (json && !map)) ? '[' : '{';
        rc = bs_buf_append_u8(out, (uint8_t)open);
        int32_t cnt = (int32_t)bs_get_u32(p);
        pos = 4;
        for (int32_t i = 0; !rc && i < cnt; i++) {
            const uint8_t *ep;
            size_t el;
            if (i) rc = bs_buf_append_str(out, ", ");
            if (!rc) rc = bs__value_read_elem(p, n, &pos, &ep, &el);
            if (rc) break;
            if (map && json) {
                bs_buf k = BS_BUF_INIT;
                rc = fmt(t->params[0], ep, el, style, flags, 1, &k, depth + 1);
                if (!rc) {
                    if (k.len && k.data[0] == '"')
                        rc = bs_buf_append(out, k.data, k.len);
                    else
                        rc = put_json_str(out, k.data, k.len);
                }
                bs_buf_free(&k);
            } else {
                rc = fmt(t->params[0], ep, el, style, flags, 1, out, depth + 1);
            }
            if (!rc && map) {
                rc = bs_buf_append_str(out, ": ");
                if (!rc) rc = bs__value_read_elem(p, n, &pos, &ep, &el);
                if (!rc)
                    rc = fmt(t->params[1], ep, el, style, flags, 1, out,
                             depth + 1);
            }
        }
        return rc ? rc : bs_buf_append_u8(out, open == '[' ? ']' : '}');
    }
    if (t->kind == BS_TYPE_TUPLE) {
        rc = bs_buf_append_u8(out, json ? '[' : '(');
        for (unsigned i = 0; !rc && pos < n; i++) {
            const uint8_t *ep;
            size_t el;
            if (i) rc = bs_buf_append_str(out, ", ");
            if (!rc) rc = bs__value_read_elem(p, n, &pos, &ep, &el);
            if (!rc && i >= t->nparams) rc = BS_ECORRUPT;
            if (!rc)
                rc = fmt(t->params[i], ep, el, style, flags, 1, out, depth + 1);
        }
        return rc ? rc : bs_buf_append_u8(out, json ? ']' : ')');
    }
    /* UDT */
    rc = bs_buf_append_u8(out, '{');
    unsigned i = 0;
    for (; !rc && (pos < n || (json && i < t->nparams)); i++) {
        const uint8_t *ep = NULL;
        size_t el = BS_VALUE_NULL;
        if (i >= t->nparams) return BS_ECORRUPT;
        if (i) rc = bs_buf_append_str(out, ", ");
        if (!rc && pos < n) rc = bs__value_read_elem(p, n, &pos, &ep, &el);
        const char *fname = t->field_names ? t->field_names[i] : "";
        if (!rc)
            rc = json ? put_json_str(out, (const uint8_t *)fname, strlen(fname))
                      : put_field_name(out, fname);
        if (!rc) rc = bs_buf_append_str(out, ": ");
        if (!rc)
            rc = fmt(t->params[i], ep, el, style, flags, 1, out, depth + 1);
    }
    return rc ? rc : bs_buf_append_u8(out, '}');
}

/* ascii / text: bare, quoted (CQL or inside a collection) or a JSON
 * string; optionally with control characters escaped. */
static int fmt_text(const uint8_t *p, size_t n, int style, int flags,
                    int nested, bs_buf *out) {
    if (style == ST_JSON) return put_json_str(out, p, n);
    if (style == ST_CQL || nested) {
        if (flags & BS_VALUE_FMT_ESCAPE) {
            bs_buf tmp = BS_BUF_INIT;
            int rc = put_escaped(&tmp, p, n);
            if (!rc) rc = put_quoted(out, tmp.data, tmp.len);
            bs_buf_free(&tmp);
            return rc;
        }
        return put_quoted(out, p, n);
    }
    if (flags & BS_VALUE_FMT_ESCAPE) return put_escaped(out, p, n);
    return bs_buf_append(out, p, n);
}

/* float / double (isf): cqlsh precision, exact, or JSON (NaN and
 * Infinity as strings). */
static int fmt_float(const uint8_t *p, int isf, int style, int exact,
                     bs_buf *out) {
    int json = style == ST_JSON;
    double v;
    if (isf) {
        uint32_t u = bs_get_u32(p);
        float f;
        memcpy(&f, &u, 4);
        v = f;
    } else {
        uint64_t u = bs_get_u64(p);
        memcpy(&v, &u, 8);
    }
    int special = isnan(v) || isinf(v);
    bs_buf tmp = BS_BUF_INIT;
    int rc = bs__value_fmt_fp(v, isf,
                              json    ? 2
                              : exact ? 1
                                      : 0,
                              isf ? 5 : 12, &tmp);
    if (!rc) rc = wrap(out, &tmp, json && special, style);
    bs_buf_free(&tmp);
    return rc;
}

static int fmt(const bs_type *t, const uint8_t *p, size_t n, int style,
               int flags, int nested, bs_buf *out, int depth) {
    if (depth > 64) return BS_ECORRUPT;
    if (n == BS_VALUE_NULL) return bs_buf_append_str(out, "null");
    int json = style == ST_JSON, cql = style == ST_CQL;
    int exact = cql || (flags & BS_VALUE_FMT_EXACT);
    int rc = 0;
    bs_buf tmp = BS_BUF_INIT;
    switch (t->kind) {
    case BS_TYPE_ASCII:
    case BS_TYPE_VARCHAR: return fmt_text(p, n, style, flags, nested, out);
    case BS_TYPE_BLOB:
        rc = bs_buf_append_str(&tmp, "0x");
        for (size_t i = 0; !rc && i < n; i++)
            rc = bs_buf_appendf(&tmp, "%02x", p[i]);
        if (!rc) rc = wrap(out, &tmp, json, style);
        break;
    case BS_TYPE_BOOLEAN:
        return bs_buf_append_str(out, style == ST_DISPLAY
                                          ? (p[0] ? "True" : "False")
                                          : (p[0] ? "true" : "false"));
    case BS_TYPE_TINYINT: return bs_buf_appendf(out, "%d", (int)(int8_t)p[0]);
    case BS_TYPE_SMALLINT:
        return bs_buf_appendf(out, "%d", (int)(int16_t)bs_get_u16(p));
    case BS_TYPE_INT:
        return bs_buf_appendf(out, "%d", (int)(int32_t)bs_get_u32(p));
    case BS_TYPE_BIGINT:
    case BS_TYPE_COUNTER:
        return bs_buf_appendf(out, "%lld", (long long)(int64_t)bs_get_u64(p));
    case BS_TYPE_VARINT: return bs__value_varint_to_dec(p, n, out);
    case BS_TYPE_DECIMAL: return bs__value_decimal_to_text(p, n, out);
    case BS_TYPE_FLOAT:
    case BS_TYPE_DOUBLE:
        return fmt_float(p, t->kind == BS_TYPE_FLOAT, style, exact, out);
    case BS_TYPE_TIMESTAMP: {
        int64_t ms = (int64_t)bs_get_u64(p);
        rc = bs__value_fmt_timestamp(ms,
                                     json  ? BS__TS_JSON
                                     : cql ? BS__TS_ISO
                                           : BS__TS_CQLSH,
                                     &tmp);
        int isnum = !rc && !memchr(tmp.data, ':', tmp.len);
        if (!rc)
            rc = wrap(out, &tmp, json || ((cql || nested) && !isnum), style);
        break;
    }
    case BS_TYPE_DATE: {
        rc = bs__value_fmt_date(bs_get_u32(p), exact || json, &tmp);
        int isnum = !rc && !memchr(tmp.data + 1, '-', tmp.len - 1);
        if (!rc) rc = wrap(out, &tmp, json || (cql && !isnum), style);
        break;
    }
    case BS_TYPE_TIME:
        rc = bs__value_fmt_time((int64_t)bs_get_u64(p), &tmp);
        if (!rc) rc = wrap(out, &tmp, json || cql, style);
        break;
    case BS_TYPE_UUID:
    case BS_TYPE_TIMEUUID: {
        char s[BS_UUID_STRLEN + 1];
        bs_uuid u;
        memcpy(u.b, p, 16);
        bs_uuid_format(&u, s);
        rc = bs_buf_append_str(&tmp, s);
        if (!rc) rc = wrap(out, &tmp, json, style);
        break;
    }
    case BS_TYPE_INET: {
        char s[INET6_ADDRSTRLEN];
        if (!inet_ntop(n == 4 ? AF_INET : AF_INET6, p, s, sizeof s))
            return BS_ECORRUPT;
        rc = bs_buf_append_str(&tmp, s);
        if (!rc) rc = wrap(out, &tmp, json || cql || nested, style);
        break;
    }
    case BS_TYPE_DURATION: {
        int32_t m, d;
        int64_t ns;
        rc = bs__value_get_duration(p, n, &m, &d, &ns);
        if (!rc) rc = bs__value_fmt_duration(m, d, ns, &tmp);
        if (!rc) rc = wrap(out, &tmp, json, style);
        break;
    }
    case BS_TYPE_LIST:
    case BS_TYPE_SET:
    case BS_TYPE_MAP:
    case BS_TYPE_TUPLE:
    case BS_TYPE_UDT: return fmt_composite(t, p, n, style, flags, out, depth);
    default: return BS_EINVAL;
    }
    bs_buf_free(&tmp);
    return rc;
}

static int run(const bs_type *t, const uint8_t *p, size_t len, int style,
               int flags, bs_buf *out) {
    if (!t || !out) return BS_EINVAL;
    if (len == BS_VALUE_NULL) return bs_buf_append_str(out, "null");
    int rc = bs_value_validate(t, p, len, NULL, 0);
    if (rc) return rc;
    size_t mark = out->len;
    rc = fmt(t, p, len, style, flags, 0, out, 0);
    if (rc) out->len = mark;
    return rc;
}

int bs_value_format(const bs_type *t, const uint8_t *p, size_t len, int flags,
                    bs_buf *out) {
    return run(t, p, len, ST_DISPLAY, flags, out);
}

int bs_value_format_cql(const bs_type *t, const uint8_t *p, size_t len,
                        bs_buf *out) {
    return run(t, p, len, ST_CQL, BS_VALUE_FMT_EXACT, out);
}

int bs_value_format_json(const bs_type *t, const uint8_t *p, size_t len,
                         bs_buf *out) {
    return run(t, p, len, ST_JSON, BS_VALUE_FMT_EXACT, out);
}
