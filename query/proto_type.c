/*
 * proto_type.c - the [option] form of CQL types (spec 4.2.5.2) to and
 * from bs_type (common/types.h, whose kinds are the option ids).
 *
 *   <id [short]> then, by id:
 *     0x0000 custom   [string] class name
 *     0x0020 list     [option] element      0x0022 set  [option] element
 *     0x0021 map      [option] key, [option] value
 *     0x0030 UDT      [string] ks, [string] name, [short] n,
 *                     n x ([string] field name, [option] field type)
 *     0x0031 tuple    [short] n, n x [option]
 *     others          nothing
 *
 * v4 has no duration id (0x0015 arrives with v5): Cassandra sends it as
 * the custom class org.apache.cassandra.db.marshal.DurationType, and so
 * do we; decoding maps both forms back to BS_TYPE_DURATION.  v3 has no
 * ids for date, time, smallint and tinyint (they came with v4): for a v3
 * connection they are custom classes too (v3_class below), which
 * decoding also maps back.
 *
 * Decoded trees are built from an arena (no frees on the hot path of a
 * client decoding result metadata on every page).  Recursion depth is
 * capped so hostile nesting cannot exhaust the stack.
 */
#include <string.h>

#include "common/error.h"
#include "query/proto.h"

#define MAX_TYPE_DEPTH 64
#define MARSHAL "org.apache.cassandra.db.marshal."

/* The class name of a type that protocol v3 has no id for, else NULL. */
static const char *v3_class(uint16_t kind) {
    switch (kind) {
    case BS_TYPE_DATE: return MARSHAL "SimpleDateType";
    case BS_TYPE_TIME: return MARSHAL "TimeType";
    case BS_TYPE_SMALLINT: return MARSHAL "ShortType";
    case BS_TYPE_TINYINT: return MARSHAL "ByteType";
    default: return NULL;
    }
}

static int wr_type(bs_buf *b, const bs_type *t, int depth, uint8_t version) {
    if (!t || depth > MAX_TYPE_DEPTH) return BS_EINVAL;
    int rc;
    if (version == 3 && v3_class(t->kind)) {
        if ((rc = bs_proto_wr_short(b, BS_TYPE_CUSTOM))) return rc;
        return bs_proto_wr_cstring(b, v3_class(t->kind));
    }
    switch (t->kind) {
    case BS_TYPE_CUSTOM:
        if (!t->name) return BS_EINVAL;
        if ((rc = bs_proto_wr_short(b, BS_TYPE_CUSTOM))) return rc;
        return bs_proto_wr_cstring(b, t->name);
    case BS_TYPE_DURATION:
        if ((rc = bs_proto_wr_short(b, BS_TYPE_CUSTOM))) return rc;
        return bs_proto_wr_cstring(b, BS_PROTO_DURATION_CLASS);
    case BS_TYPE_LIST:
    case BS_TYPE_SET:
        if (t->nparams != 1) return BS_EINVAL;
        if ((rc = bs_proto_wr_short(b, t->kind))) return rc;
        return wr_type(b, t->params[0], depth + 1, version);
    case BS_TYPE_MAP:
        if (t->nparams != 2) return BS_EINVAL;
        if ((rc = bs_proto_wr_short(b, t->kind))) return rc;
        if ((rc = wr_type(b, t->params[0], depth + 1, version))) return rc;
        return wr_type(b, t->params[1], depth + 1, version);
    case BS_TYPE_UDT:
        if (!t->field_names && t->nparams) return BS_EINVAL;
        if ((rc = bs_proto_wr_short(b, t->kind))) return rc;
        if ((rc = bs_proto_wr_cstring(b, t->keyspace))) return rc;
        if ((rc = bs_proto_wr_cstring(b, t->name))) return rc;
        if ((rc = bs_proto_wr_short(b, t->nparams))) return rc;
        for (unsigned i = 0; i < t->nparams; i++) {
            if ((rc = bs_proto_wr_cstring(b, t->field_names[i]))) return rc;
            if ((rc = wr_type(b, t->params[i], depth + 1, version))) return rc;
        }
        return 0;
    case BS_TYPE_TUPLE:
        if ((rc = bs_proto_wr_short(b, t->kind))) return rc;
        if ((rc = bs_proto_wr_short(b, t->nparams))) return rc;
        for (unsigned i = 0; i < t->nparams; i++)
            if ((rc = wr_type(b, t->params[i], depth + 1, version))) return rc;
        return 0;
    case BS_TYPE_ASCII:
    case BS_TYPE_BIGINT:
    case BS_TYPE_BLOB:
    case BS_TYPE_BOOLEAN:
    case BS_TYPE_COUNTER:
    case BS_TYPE_DECIMAL:
    case BS_TYPE_DOUBLE:
    case BS_TYPE_FLOAT:
    case BS_TYPE_INT:
    case BS_TYPE_TIMESTAMP:
    case BS_TYPE_UUID:
    case BS_TYPE_VARCHAR:
    case BS_TYPE_VARINT:
    case BS_TYPE_TIMEUUID:
    case BS_TYPE_INET:
    case BS_TYPE_DATE:
    case BS_TYPE_TIME:
    case BS_TYPE_SMALLINT:
    case BS_TYPE_TINYINT: return bs_proto_wr_short(b, t->kind);
    default: return BS_EINVAL;
    }
}

int bs_proto_wr_type(bs_buf *b, const bs_type *t) {
    return wr_type(b, t, 0, BS_PROTO_VERSION);
}

int bs_proto_wr_type_v(bs_buf *b, const bs_type *t, uint8_t version) {
    return wr_type(b, t, 0, version ? version : BS_PROTO_VERSION);
}

static bs_type *arena_type(bs_arena *a, uint16_t kind, uint16_t nparams,
                           int named) {
    bs_type *t = bs_arena_calloc(a, sizeof *t);
    if (!t) return NULL;
    t->kind = kind;
    t->nparams = nparams;
    if (nparams) {
        t->params = bs_arena_calloc(a, nparams * sizeof *t->params);
        if (!t->params) return NULL;
        if (named) {
            t->field_names =
                bs_arena_calloc(a, nparams * sizeof *t->field_names);
            if (!t->field_names) return NULL;
        }
    }
    return t;
}

static int rd_name(bs_proto_rd *r, bs_arena *a, const char *what, char **out) {
    bs_proto_str s;
    int rc = bs_proto_rd_string(r, what, &s);
    if (rc) return rc;
    *out = bs_arena_strndup(a, s.p, s.len);
    return *out ? 0
                : bs_proto_rd_fail(r, BS_ENOMEM, "out of memory decoding %s",
                                   what);
}

static int rd_type(bs_proto_rd *r, bs_arena *a, const char *what, int depth,
                   bs_type **out) {
    uint16_t id;
    size_t at = r->pos;
    int rc = bs_proto_rd_short(r, what, &id);
    if (rc) return rc;
    if (depth > MAX_TYPE_DEPTH)
        return bs_proto_rd_fail(
            r, BS_EPROTO, "type of %s nested deeper than %d at offset %zu",
            what, MAX_TYPE_DEPTH, at);
    bs_type *t = NULL;
    uint16_t n;
    switch (id) {
    case BS_TYPE_CUSTOM: {
        char *cls;
        if ((rc = rd_name(r, a, what, &cls))) return rc;
        static const uint16_t v3k[] = {BS_TYPE_DATE, BS_TYPE_TIME,
                                       BS_TYPE_SMALLINT, BS_TYPE_TINYINT};
        for (size_t i = 0; i < sizeof v3k / sizeof *v3k && !t; i++)
            if (!strcmp(cls, v3_class(v3k[i]))) t = arena_type(a, v3k[i], 0, 0);
        if (t) {
            /* a v3 custom class for a v4 type */
        } else if (!strcmp(cls, BS_PROTO_DURATION_CLASS)) {
            t = arena_type(a, BS_TYPE_DURATION, 0, 0);
        } else {
            t = arena_type(a, BS_TYPE_CUSTOM, 0, 0);
            if (t) t->name = cls;
        }
        break;
    }
    case 0x000A: /* "text" in protocol v1/v2; drivers still know it */
        t = arena_type(a, BS_TYPE_VARCHAR, 0, 0);
        break;
    case BS_TYPE_ASCII:
    case BS_TYPE_BIGINT:
    case BS_TYPE_BLOB:
    case BS_TYPE_BOOLEAN:
    case BS_TYPE_COUNTER:
    case BS_TYPE_DECIMAL:
    case BS_TYPE_DOUBLE:
    case BS_TYPE_FLOAT:
    case BS_TYPE_INT:
    case BS_TYPE_TIMESTAMP:
    case BS_TYPE_UUID:
    case BS_TYPE_VARCHAR:
    case BS_TYPE_VARINT:
    case BS_TYPE_TIMEUUID:
    case BS_TYPE_INET:
    case BS_TYPE_DATE:
    case BS_TYPE_TIME:
    case BS_TYPE_SMALLINT:
    case BS_TYPE_TINYINT:
    case BS_TYPE_DURATION: t = arena_type(a, id, 0, 0); break;
    case BS_TYPE_LIST:
    case BS_TYPE_SET:
    case BS_TYPE_MAP:
        n = id == BS_TYPE_MAP ? 2 : 1;
        if (!(t = arena_type(a, id, n, 0))) break;
        for (unsigned i = 0; i < n; i++)
            if ((rc = rd_type(r, a, what, depth + 1, &t->params[i]))) return rc;
        break;
    case BS_TYPE_UDT: {
        char *ks, *name;
        if ((rc = rd_name(r, a, what, &ks)) ||
            (rc = rd_name(r, a, what, &name)) ||
            (rc = bs_proto_rd_short(r, what, &n)))
            return rc;
        if ((size_t)n * 4 > bs_proto_rd_left(r))
            return bs_proto_rd_fail(
                r, BS_ETRUNC, "truncated %s: UDT with %u fields at offset %zu",
                what, n, r->pos);
        if (!(t = arena_type(a, id, n, 1))) break;
        t->keyspace = ks;
        t->name = name;
        for (unsigned i = 0; i < n; i++) {
            if ((rc = rd_name(r, a, what, &t->field_names[i]))) return rc;
            if ((rc = rd_type(r, a, what, depth + 1, &t->params[i]))) return rc;
        }
        break;
    }
    case BS_TYPE_TUPLE:
        if ((rc = bs_proto_rd_short(r, what, &n))) return rc;
        if ((size_t)n * 2 > bs_proto_rd_left(r))
            return bs_proto_rd_fail(
                r, BS_ETRUNC, "truncated %s: tuple with %u types at offset %zu",
                what, n, r->pos);
        if (!(t = arena_type(a, id, n, 0))) break;
        for (unsigned i = 0; i < n; i++)
            if ((rc = rd_type(r, a, what, depth + 1, &t->params[i]))) return rc;
        break;
    default:
        return bs_proto_rd_fail(
            r, BS_EPROTO, "unknown type option id 0x%04x in %s at offset %zu",
            id, what, at);
    }
    if (!t)
        return bs_proto_rd_fail(r, BS_ENOMEM, "out of memory decoding %s",
                                what);
    *out = t;
    return 0;
}

int bs_proto_rd_type(bs_proto_rd *r, bs_arena *a, const char *what,
                     bs_type **out) {
    return rd_type(r, a, what ? what : "type", 0, out);
}
