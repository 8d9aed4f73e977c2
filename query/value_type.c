/*
 * value_type.c - CQL type names: descriptor -> text and text -> descriptor.
 *
 * Printing follows Cassandra's CQL3Type.toString(withFrozen): a frozen
 * collection/UDT is wrapped in frozen<> only when printed "with frozen",
 * which is the case at top level and for the elements of a non-frozen
 * (multi-cell) collection; inside a frozen type the nested types are
 * printed bare (they are implicitly frozen).  Tuples are always frozen
 * and print as frozen<tuple<...>> in the same positions, and their own
 * components bare.  Parameters are separated by ", ".
 *
 * Parsing is a small recursive-descent parser over
 *   type   := ident [ '<' type { ',' type } '>' ] | 'quoted.class' |
 *             ident '.' ident | "quoted ident"
 * with case-insensitive keywords and free whitespace.  `frozen_ctx`
 * carries "we are inside a frozen type", and the result is canonical
 * (see value.h).  Depth is bounded (64) so hostile input cannot blow the
 * stack.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/error.h"
#include "query/value.h"
#include "query/value_int.h"

static const struct {
    const char *name;
    bs_type_kind kind;
} k_scalars[] = {
    {"ascii", BS_TYPE_ASCII},       {"bigint", BS_TYPE_BIGINT},
    {"blob", BS_TYPE_BLOB},         {"boolean", BS_TYPE_BOOLEAN},
    {"counter", BS_TYPE_COUNTER},   {"decimal", BS_TYPE_DECIMAL},
    {"double", BS_TYPE_DOUBLE},     {"float", BS_TYPE_FLOAT},
    {"int", BS_TYPE_INT},           {"timestamp", BS_TYPE_TIMESTAMP},
    {"uuid", BS_TYPE_UUID},         {"text", BS_TYPE_VARCHAR},
    {"varchar", BS_TYPE_VARCHAR},   {"varint", BS_TYPE_VARINT},
    {"timeuuid", BS_TYPE_TIMEUUID}, {"inet", BS_TYPE_INET},
    {"date", BS_TYPE_DATE},         {"time", BS_TYPE_TIME},
    {"smallint", BS_TYPE_SMALLINT}, {"tinyint", BS_TYPE_TINYINT},
    {"duration", BS_TYPE_DURATION},
};

void bs__value_err(char *err, size_t errlen, const char *fmt, ...) {
    if (!err || !errlen) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static const char *scalar_name(unsigned kind) {
    for (size_t i = 0; i < sizeof k_scalars / sizeof k_scalars[0]; i++)
        if ((unsigned)k_scalars[i].kind == kind &&
            strcmp(k_scalars[i].name, "varchar") != 0)
            return k_scalars[i].name;
    return NULL;
}

int bs__value_ident_needs_quote(const char *s) {
    if (!s || !*s || !(*s >= 'a' && *s <= 'z')) return 1;
    for (const char *c = s; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
              *c == '_'))
            return 1;
    return 0;
}

static int put_ident(bs_buf *out, const char *s) {
    if (!bs__value_ident_needs_quote(s)) return bs_buf_append_str(out, s);
    int rc = bs_buf_append_u8(out, '"');
    for (const char *c = s ? s : ""; !rc && *c; c++) {
        if (*c == '"') rc = bs_buf_append_u8(out, '"');
        if (!rc) rc = bs_buf_append_u8(out, (uint8_t)*c);
    }
    return rc ? rc : bs_buf_append_u8(out, '"');
}

/* A user type's name: quoted also when, unquoted, it would read back as a
 * native or parameterized type ("varchar" -> the text type). */
static int put_type_ident(bs_buf *out, const char *s) {
    static const char *const k_param[] = {"frozen", "list", "set", "map",
                                          "tuple"};
    int clash = 0;
    for (size_t i = 0;
         s && !clash && i < sizeof k_scalars / sizeof k_scalars[0]; i++)
        clash = strcmp(s, k_scalars[i].name) == 0;
    for (size_t i = 0; s && !clash && i < sizeof k_param / sizeof k_param[0];
         i++)
        clash = strcmp(s, k_param[i]) == 0;
    if (!clash) return put_ident(out, s);
    int rc = bs_buf_append_u8(out, '"');
    if (!rc) rc = bs_buf_append_str(out, s);
    return rc ? rc : bs_buf_append_u8(out, '"');
}

static int to_cql(const bs_type *t, int with_frozen, int depth, bs_buf *out) {
    if (depth > 64) return BS_EINVAL;
    const char *sn = scalar_name(t->kind);
    if (sn) return bs_buf_append_str(out, sn);
    int rc = 0;
    switch (t->kind) {
    case BS_TYPE_CUSTOM: {
        rc = bs_buf_append_u8(out, '\'');
        for (const char *c = t->name ? t->name : ""; !rc && *c; c++) {
            if (*c == '\'') rc = bs_buf_append_u8(out, '\'');
            if (!rc) rc = bs_buf_append_u8(out, (uint8_t)*c);
        }
        return rc ? rc : bs_buf_append_u8(out, '\'');
    }
    case BS_TYPE_LIST:
    case BS_TYPE_SET:
    case BS_TYPE_MAP: {
        unsigned want = t->kind == BS_TYPE_MAP ? 2 : 1;
        if (t->nparams != want) return BS_EINVAL;
        int fz = t->frozen && with_frozen;
        if (fz) rc = bs_buf_append_str(out, "frozen<");
        if (!rc)
            rc = bs_buf_append_str(out, t->kind == BS_TYPE_LIST  ? "list<"
                                        : t->kind == BS_TYPE_SET ? "set<"
                                                                 : "map<");
        for (unsigned i = 0; !rc && i < want; i++) {
            if (i) rc = bs_buf_append_str(out, ", ");
            if (!rc) rc = to_cql(t->params[i], !t->frozen, depth + 1, out);
        }
        if (!rc) rc = bs_buf_append_u8(out, '>');
        if (!rc && fz) rc = bs_buf_append_u8(out, '>');
        return rc;
    }
    case BS_TYPE_TUPLE:
        if (t->nparams == 0) return BS_EINVAL;
        if (with_frozen) rc = bs_buf_append_str(out, "frozen<");
        if (!rc) rc = bs_buf_append_str(out, "tuple<");
        for (unsigned i = 0; !rc && i < t->nparams; i++) {
            if (i) rc = bs_buf_append_str(out, ", ");
            if (!rc) rc = to_cql(t->params[i], 0, depth + 1, out);
        }
        if (!rc) rc = bs_buf_append_u8(out, '>');
        if (!rc && with_frozen) rc = bs_buf_append_u8(out, '>');
        return rc;
    case BS_TYPE_UDT: {
        int fz = t->frozen && with_frozen;
        if (fz) rc = bs_buf_append_str(out, "frozen<");
        if (!rc) rc = put_type_ident(out, t->name);
        if (!rc && fz) rc = bs_buf_append_u8(out, '>');
        return rc;
    }
    default: return BS_EINVAL;
    }
}

int bs_value_type_to_cql(const bs_type *t, bs_buf *out) {
    if (!t || !out) return BS_EINVAL;
    return to_cql(t, 1, 0, out);
}

void bs__value_type_name(const bs_type *t, char *buf, size_t n) {
    bs_buf b = BS_BUF_INIT;
    if (n == 0) return;
    if (bs_value_type_to_cql(t, &b) == 0 && b.len) {
        size_t k = b.len < n - 1 ? b.len : n - 1;
        memcpy(buf, b.data, k);
        buf[k] = 0;
    } else {
        snprintf(buf, n, "type#%u", t ? t->kind : 0u);
    }
    bs_buf_free(&b);
}

/* ---------------------------------------------------------------- parse */

typedef struct {
    const char *s;
    size_t len, pos;
    char *err;
    size_t errlen;
} tparser;

static void skip_ws(tparser *p) {
    while (p->pos < p->len && isspace((unsigned char)p->s[p->pos]))
        p->pos++;
}

static int perr(tparser *p, const char *what) {
    size_t n = p->len - p->pos;
    if (n > 20) n = 20;
    if (p->pos >= p->len)
        bs__value_err(p->err, p->errlen, "%s at end of type name (offset %zu)",
                      what, p->pos);
    else
        bs__value_err(p->err, p->errlen, "%s at offset %zu near '%.*s'", what,
                      p->pos, (int)n, p->s + p->pos);
    return BS_ESYNTAX;
}

/* Reads an identifier: bare [A-Za-z0-9_]+ lower-cased, or "quoted" with ""
 * escapes kept verbatim.  *quoted tells which.  Returns malloc'd string. */
static int read_ident(tparser *p, char **out, int *quoted) {
    skip_ws(p);
    *out = NULL;
    *quoted = 0;
    bs_buf b = BS_BUF_INIT;
    int rc = 0;
    if (p->pos < p->len && p->s[p->pos] == '"') {
        *quoted = 1;
        p->pos++;
        for (;;) {
            if (p->pos >= p->len) {
                bs_buf_free(&b);
                return perr(p, "unterminated quoted name");
            }
            char c = p->s[p->pos++];
            if (c == '"') {
                if (p->pos < p->len && p->s[p->pos] == '"')
                    p->pos++;
                else
                    break;
            }
            if (c == 0) {
                bs_buf_free(&b);
                return perr(p, "NUL in quoted name");
            }
            if ((rc = bs_buf_append_u8(&b, (uint8_t)c))) break;
        }
        if (!rc && b.len == 0) {
            bs_buf_free(&b);
            return perr(p, "empty quoted name");
        }
    } else {
        while (p->pos < p->len) {
            char c = p->s[p->pos];
            if (!(isalnum((unsigned char)c) || c == '_')) break;
            if ((rc = bs_buf_append_u8(&b, (uint8_t)tolower((unsigned char)c))))
                break;
            p->pos++;
        }
        if (!rc && b.len == 0) {
            bs_buf_free(&b);
            return perr(p, "expected a type name");
        }
    }
    if (!rc) rc = bs_buf_append_u8(&b, 0);
    if (rc) {
        bs_buf_free(&b);
        return rc;
    }
    *out = (char *)bs_buf_steal(&b, NULL);
    return 0;
}

static int expect(tparser *p, char c) {
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == c) {
        p->pos++;
        return 0;
    }
    char msg[32];
    snprintf(msg, sizeof msg, "expected '%c'", c);
    return perr(p, msg);
}

static int peek(tparser *p, char c) {
    skip_ws(p);
    return p->pos < p->len && p->s[p->pos] == c;
}

static int parse_type(tparser *p, int frozen_ctx, int in_coll, int depth,
                      bs_type **out);

static int parse_params(tparser *p, bs_type *t, int frozen_ctx, int n_exact,
                        int depth) {
    int rc = expect(p, '<');
    if (rc) return rc;
    for (;;) {
        bs_type *e = NULL;
        rc = parse_type(p, frozen_ctx, t->kind != BS_TYPE_TUPLE, depth + 1, &e);
        if (rc) return rc;
        if ((rc = bs_type_add_param(t, e, NULL))) return rc;
        if (peek(p, ',')) {
            p->pos++;
            continue;
        }
        break;
    }
    if (n_exact && t->nparams != n_exact) {
        char msg[64];
        snprintf(msg, sizeof msg, "expected %d type parameter%s", n_exact,
                 n_exact > 1 ? "s" : "");
        return perr(p, msg);
    }
    return expect(p, '>');
}

/* A custom type: a quoted Java class name ('' escapes a quote). */
static int parse_custom(tparser *p, bs_type **out) {
    bs_buf b = BS_BUF_INIT;
    p->pos++;
    int rc = 0;
    for (;;) {
        if (p->pos >= p->len) {
            bs_buf_free(&b);
            return perr(p, "unterminated class name");
        }
        char c = p->s[p->pos++];
        if (c == '\'') {
            if (p->pos < p->len && p->s[p->pos] == '\'')
                p->pos++;
            else
                break;
        }
        if (c == 0 || (rc = bs_buf_append_u8(&b, (uint8_t)c))) {
            bs_buf_free(&b);
            return c == 0 ? perr(p, "NUL in class name") : rc;
        }
    }
    bs_type *t = bs_type_new(BS_TYPE_CUSTOM);
    if (!t || bs_buf_append_u8(&b, 0)) {
        bs_type_free(t);
        bs_buf_free(&b);
        return BS_ENOMEM;
    }
    t->name = (char *)bs_buf_steal(&b, NULL);
    *out = t;
    return 0;
}

/* frozen<...> after the word frozen; start: where the type began. */
static int parse_frozen(tparser *p, int depth, size_t start, bs_type **out) {
    p->pos++;
    bs_type *inner = NULL;
    int rc = parse_type(p, 1, 0, depth + 1, &inner);
    if (rc) return rc;
    if (!(bs_type_is_collection(inner) || inner->kind == BS_TYPE_UDT ||
          inner->kind == BS_TYPE_TUPLE)) {
        bs_type_free(inner);
        p->pos = start;
        return perr(p, "frozen<> is only allowed on collections, tuples "
                       "and user types");
    }
    if ((rc = expect(p, '>'))) {
        bs_type_free(inner);
        return rc;
    }
    *out = inner;
    return 0;
}

/* list<...>, set<...>, map<...,...>, tuple<...> of kind k. */
static int parse_collection(tparser *p, bs_type_kind k, int frozen_ctx,
                            int in_coll, int depth, size_t start,
                            bs_type **out) {
    bs_type *t = bs_type_new(k);
    if (!t) return BS_ENOMEM;
    t->frozen = (uint8_t)(frozen_ctx || k == BS_TYPE_TUPLE);
    if (k != BS_TYPE_TUPLE && in_coll && !frozen_ctx) {
        bs_type_free(t);
        p->pos = start;
        return perr(p, "non-frozen collections are not allowed inside "
                       "collections");
    }
    int rc = parse_params(p, t, t->frozen,
                          k == BS_TYPE_MAP     ? 2
                          : k == BS_TYPE_TUPLE ? 0
                                               : 1,
                          depth);
    if (rc) {
        bs_type_free(t);
        return rc;
    }
    if (k == BS_TYPE_SET || k == BS_TYPE_MAP) {
        const bs_type *key = t->params[0];
        if (key->kind == BS_TYPE_DURATION) {
            bs_type_free(t);
            p->pos = start;
            return perr(p, "durations are not allowed inside sets or as "
                           "map keys");
        }
    }
    *out = t;
    return 0;
}

/* A user type named id (owned, consumed), optionally ks.name. */
static int parse_udt(tparser *p, char *id, int frozen_ctx, int in_coll,
                     size_t start, bs_type **out) {
    int rc;
    bs_type *t = bs_type_new(BS_TYPE_UDT);
    if (!t) {
        free(id);
        return BS_ENOMEM;
    }
    if (peek(p, '.')) {
        p->pos++;
        char *id2 = NULL;
        int q2 = 0;
        if ((rc = read_ident(p, &id2, &q2))) {
            free(id);
            bs_type_free(t);
            return rc;
        }
        t->keyspace = id;
        t->name = id2;
    } else {
        t->name = id;
    }
    if (peek(p, '<')) {
        bs_type_free(t);
        return perr(p, "unknown parameterized type");
    }
    if (in_coll && !frozen_ctx) {
        bs_type_free(t);
        p->pos = start;
        return perr(p, "non-frozen user types are not allowed inside "
                       "collections");
    }
    t->frozen = (uint8_t)frozen_ctx;
    *out = t;
    return 0;
}

static int parse_type(tparser *p, int frozen_ctx, int in_coll, int depth,
                      bs_type **out) {
    *out = NULL;
    if (depth > 64) return perr(p, "type nested too deeply");
    skip_ws(p);
    size_t start = p->pos;
    if (p->pos < p->len && p->s[p->pos] == '\'') return parse_custom(p, out);
    char *id = NULL;
    int quoted = 0;
    int rc = read_ident(p, &id, &quoted);
    if (rc) return rc;
    if (!quoted && strcmp(id, "frozen") == 0 && peek(p, '<')) {
        free(id);
        return parse_frozen(p, depth, start, out);
    }
    if (!quoted && (strcmp(id, "list") == 0 || strcmp(id, "set") == 0 ||
                    strcmp(id, "map") == 0 || strcmp(id, "tuple") == 0)) {
        bs_type_kind k = id[0] == 'l'   ? BS_TYPE_LIST
                         : id[0] == 's' ? BS_TYPE_SET
                         : id[0] == 'm' ? BS_TYPE_MAP
                                        : BS_TYPE_TUPLE;
        free(id);
        return parse_collection(p, k, frozen_ctx, in_coll, depth, start, out);
    }
    if (!quoted) {
        for (size_t i = 0; i < sizeof k_scalars / sizeof k_scalars[0]; i++) {
            if (strcmp(id, k_scalars[i].name) == 0) {
                free(id);
                bs_type *t = bs_type_new(k_scalars[i].kind);
                if (!t) return BS_ENOMEM;
                if (in_coll && t->kind == BS_TYPE_COUNTER) {
                    bs_type_free(t);
                    p->pos = start;
                    return perr(p, "counters are not allowed inside "
                                   "collections");
                }
                *out = t;
                return 0;
            }
        }
    }
    return parse_udt(p, id, frozen_ctx, in_coll, start, out);
}

int bs_value_type_parse(const char *s, size_t len, bs_type **out, char *err,
                        size_t errlen) {
    if (!out) return BS_EINVAL;
    *out = NULL;
    if (!s) return BS_EINVAL;
    tparser p = {s, len, 0, err, errlen};
    bs_type *t = NULL;
    int rc = parse_type(&p, 0, 0, 0, &t);
    if (rc) {
        if (rc == BS_ENOMEM) bs__value_err(err, errlen, "out of memory");
        bs_type_free(t);
        return rc;
    }
    skip_ws(&p);
    if (p.pos != p.len) {
        bs_type_free(t);
        return perr(&p, "unexpected text after type");
    }
    if (bs_type_depth(t, BS_TYPE_MAX_DEPTH + 1) > BS_TYPE_MAX_DEPTH) {
        bs_type_free(t);
        return perr(&p, "type nested too deeply");
    }
    *out = t;
    return 0;
}
