/*
 * proto_resp.c - response messages (spec 4.2): encoding on the server,
 * decoding on the client; result metadata; the in-place Rows builder and
 * the row iterator.
 *
 * Bodies:
 *   ERROR          [int] code, [string] message, then by code:
 *                    0x1000 [consistency] cl, [int] required, [int] alive
 *                    0x1100 cl, [int] received, [int] blockfor, [string] write
 * type 0x1200 cl, received, blockfor, [byte] data present 0x1300 cl, received,
 * blockfor, [int] numfailures, [byte] data present 0x1400 [string] keyspace,
 * [string] function, [string list] arg types 0x1500 cl, received, blockfor,
 * [int] numfailures, [string] write type 0x2400 [string] keyspace, [string]
 * table ("" for a keyspace) 0x2500 [short bytes] unknown id READY empty
 *   AUTHENTICATE   [string] authenticator class
 *   SUPPORTED      [string multimap]
 *   RESULT         [int] kind, then
 *                    1 Void         nothing
 *                    2 Rows         <metadata> [int] row count, rows x cols x
 * [bytes] 3 Set_keyspace [string] 4 Prepared     [short bytes] id, <prepared
 * metadata>, <metadata> 5 Schema_change <change> EVENT          [string] type,
 * then TOPOLOGY_CHANGE / STATUS_CHANGE: [string] change, [inet]; SCHEMA_CHANGE:
 * <change> AUTH_CHALLENGE / AUTH_SUCCESS   [bytes] token
 *
 *   <metadata> = [int] flags, [int] ncols, [bytes] paging state (flag
 *                0x0002), unless flag 0x0004: ([string] ks, [string]
 *                table if flag 0x0001), ncols x (([string] ks, [string]
 *                table unless 0x0001), [string] name, [option] type)
 *   <prepared metadata> = [int] flags, [int] ncols, [int] pk count,
 *                pk count x [short], then the global spec / col specs
 *                as above (v3: no pk count and no indices)
 *   <change> = [string] CREATED|UPDATED|DROPPED, [string] target, then
 *              KEYSPACE: [string] ks; TABLE|TYPE: [string] ks, [string]
 *              name; FUNCTION|AGGREGATE: ks, name, [string list] args
 *
 * Decoding a Rows result walks every cell once to validate the lengths
 * (no copies), so the iterator over it cannot run off the body.  Counts
 * from the wire are checked against the bytes left before any loop or
 * allocation (a count of cells with zero columns costs no iterations).
 */
#include <string.h>

#include "common/error.h"
#include "query/proto_msg.h"

/* ------------------------------------------------------------------ */
/* Metadata                                                            */
/* ------------------------------------------------------------------ */

static int same_str(bs_proto_str a, bs_proto_str b) {
    return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

static int global_spec(const bs_proto_colspec *cols, uint32_t n) {
    if (n == 0) return 0;
    for (uint32_t i = 1; i < n; i++)
        if (!same_str(cols[i].keyspace, cols[0].keyspace) ||
            !same_str(cols[i].table, cols[0].table))
            return 0;
    return 1;
}

static int wr_colspecs(bs_buf *b, const bs_proto_colspec *cols, uint32_t n,
                       int global, uint8_t version) {
    int rc = 0;
    if (n && !cols) return BS_EINVAL;
    if (global) {
        rc = bs_proto_wr_str(b, cols[0].keyspace);
        if (!rc) rc = bs_proto_wr_str(b, cols[0].table);
    }
    for (uint32_t i = 0; !rc && i < n; i++) {
        if (!global) {
            rc = bs_proto_wr_str(b, cols[i].keyspace);
            if (!rc) rc = bs_proto_wr_str(b, cols[i].table);
        }
        if (!rc) rc = bs_proto_wr_str(b, cols[i].name);
        if (!rc) rc = bs_proto_wr_type_v(b, cols[i].type, version);
    }
    return rc;
}

static int rd_colspecs(bs_proto_rd *r, bs_arena *a, uint32_t n, int global,
                       bs_proto_colspec **out) {
    bs_proto_str ks = {"", 0}, table = {"", 0};
    int rc;
    *out = NULL;
    if (global && ((rc = bs_proto_rd_string(r, "keyspace", &ks)) ||
                   (rc = bs_proto_rd_string(r, "table", &table))))
        return rc;
    /* each spec needs at least a [string] name and a [short] type id */
    if ((uint64_t)n * 4 > bs_proto_rd_left(r))
        return bs_proto_rd_fail(r, BS_ETRUNC,
                                "truncated metadata at offset %zu: %u columns "
                                "cannot fit in %zu bytes",
                                r->pos, n, bs_proto_rd_left(r));
    if (n == 0) return 0;
    bs_proto_colspec *c = bs_arena_alloc(a, (size_t)n * sizeof *c);
    if (!c)
        return bs_proto_rd_fail(r, BS_ENOMEM,
                                "out of memory decoding metadata");
    for (uint32_t i = 0; i < n; i++) {
        bs_type *t;
        if (global) {
            c[i].keyspace = ks;
            c[i].table = table;
        } else if ((rc = bs_proto_rd_string(r, "column keyspace",
                                            &c[i].keyspace)) ||
                   (rc = bs_proto_rd_string(r, "column table", &c[i].table))) {
            return rc;
        }
        if ((rc = bs_proto_rd_string(r, "column name", &c[i].name))) return rc;
        if ((rc = bs_proto_rd_type(r, a, "column type", &t))) return rc;
        c[i].type = t;
    }
    *out = c;
    return 0;
}

static int rd_count(bs_proto_rd *r, const char *what, uint32_t *out) {
    int32_t v;
    size_t at = r->pos;
    int rc = bs_proto_rd_int(r, what, &v);
    if (rc) return rc;
    if (v < 0)
        return bs_proto_rd_fail(r, BS_EPROTO, "negative %s %d at offset %zu",
                                what, (int)v, at);
    *out = (uint32_t)v;
    return 0;
}

int bs_proto_meta_encode(bs_buf *b, const bs_proto_meta *m) {
    uint32_t flags = m->flags & BS_PROTO_RF_NO_METADATA;
    int nometa = flags != 0;
    int global = !nometa && global_spec(m->cols, m->ncols);
    if (global) flags |= BS_PROTO_RF_GLOBAL_TABLES_SPEC;
    if (m->paging_state.len >= 0) flags |= BS_PROTO_RF_HAS_MORE_PAGES;
    if (m->ncols > INT32_MAX) return BS_ERANGE;
    int rc = bs_proto_wr_int(b, (int32_t)flags);
    if (!rc) rc = bs_proto_wr_int(b, (int32_t)m->ncols);
    if (!rc && m->paging_state.len >= 0)
        rc = bs_proto_wr_value(b, m->paging_state);
    if (!rc && !nometa)
        rc = wr_colspecs(b, m->cols, m->ncols, global, m->version);
    return rc;
}

int bs_proto_meta_decode(bs_proto_rd *r, bs_arena *a, bs_proto_meta *out) {
    memset(out, 0, sizeof *out);
    out->paging_state.len = BS_PROTO_NULL;
    int32_t flags;
    int rc = bs_proto_rd_int(r, "metadata flags", &flags);
    if (!rc) rc = rd_count(r, "column count", &out->ncols);
    if (rc) return rc;
    out->flags = (uint32_t)flags;
    if ((out->flags & BS_PROTO_RF_HAS_MORE_PAGES) &&
        (rc = bs_proto_rd_bytes(r, "paging state", &out->paging_state)))
        return rc;
    if (out->flags & BS_PROTO_RF_NO_METADATA) return 0;
    return rd_colspecs(r, a, out->ncols,
                       (out->flags & BS_PROTO_RF_GLOBAL_TABLES_SPEC) != 0,
                       &out->cols);
}

int bs_proto_prepared_meta_encode(bs_buf *b, const bs_proto_prepared_meta *m) {
    int global = global_spec(m->cols, m->ncols);
    if (m->ncols > INT32_MAX || m->npk > INT32_MAX) return BS_ERANGE;
    if (m->npk && !m->pk_indices) return BS_EINVAL;
    int rc = bs_proto_wr_int(b, global ? BS_PROTO_RF_GLOBAL_TABLES_SPEC : 0);
    if (!rc) rc = bs_proto_wr_int(b, (int32_t)m->ncols);
    int with_pk = m->version == 0 || m->version >= 4;
    if (!rc && with_pk) rc = bs_proto_wr_int(b, (int32_t)m->npk);
    for (uint32_t i = 0; !rc && with_pk && i < m->npk; i++)
        rc = bs_proto_wr_short(b, m->pk_indices[i]);
    if (!rc) rc = wr_colspecs(b, m->cols, m->ncols, global, m->version);
    return rc;
}

int bs_proto_prepared_meta_decode(bs_proto_rd *r, bs_arena *a,
                                  bs_proto_prepared_meta *out) {
    memset(out, 0, sizeof *out);
    int32_t flags;
    int rc = bs_proto_rd_int(r, "prepared metadata flags", &flags);
    if (!rc) rc = rd_count(r, "bind marker count", &out->ncols);
    if (!rc) rc = rd_count(r, "partition key index count", &out->npk);
    if (rc) return rc;
    out->flags = (uint32_t)flags;
    if ((uint64_t)out->npk * 2 > bs_proto_rd_left(r))
        return bs_proto_rd_fail(r, BS_ETRUNC,
                                "truncated partition key indices at offset %zu",
                                r->pos);
    if (out->npk) {
        out->pk_indices =
            bs_arena_alloc(a, (size_t)out->npk * sizeof *out->pk_indices);
        if (!out->pk_indices)
            return bs_proto_rd_fail(r, BS_ENOMEM, "out of memory");
        for (uint32_t i = 0; i < out->npk; i++)
            if ((rc = bs_proto_rd_short(r, "partition key index",
                                        &out->pk_indices[i])))
                return rc;
    }
    return rd_colspecs(r, a, out->ncols,
                       (out->flags & BS_PROTO_RF_GLOBAL_TABLES_SPEC) != 0,
                       &out->cols);
}

/* ------------------------------------------------------------------ */
/* ERROR                                                               */
/* ------------------------------------------------------------------ */

int bs_proto_error_encode(bs_buf *b, const bs_proto_error *m) {
    int rc = bs_proto_wr_int(b, m->code);
    if (!rc) rc = bs_proto_wr_str(b, m->message);
    if (rc) return rc;
    switch (m->code) {
    case BS_PROTO_ERR_UNAVAILABLE:
        if (!(rc = bs_proto_wr_short(b, m->cl)) &&
            !(rc = bs_proto_wr_int(b, m->required)))
            rc = bs_proto_wr_int(b, m->alive);
        return rc;
    case BS_PROTO_ERR_WRITE_TIMEOUT:
    case BS_PROTO_ERR_READ_TIMEOUT:
    case BS_PROTO_ERR_READ_FAILURE:
    case BS_PROTO_ERR_WRITE_FAILURE:
        if ((rc = bs_proto_wr_short(b, m->cl)) ||
            (rc = bs_proto_wr_int(b, m->received)) ||
            (rc = bs_proto_wr_int(b, m->blockfor)))
            return rc;
        if ((m->code == BS_PROTO_ERR_READ_FAILURE ||
             m->code == BS_PROTO_ERR_WRITE_FAILURE) &&
            (rc = bs_proto_wr_int(b, m->numfailures)))
            return rc;
        if (m->code == BS_PROTO_ERR_READ_TIMEOUT ||
            m->code == BS_PROTO_ERR_READ_FAILURE)
            return bs_proto_wr_byte(b, m->data_present ? 1 : 0);
        return bs_proto_wr_str(b, m->write_type);
    case BS_PROTO_ERR_FUNCTION_FAILURE:
        if (!(rc = bs_proto_wr_str(b, m->keyspace)) &&
            !(rc = bs_proto_wr_str(b, m->name)))
            rc = bs_proto_wr_string_list(b, &m->arg_types);
        return rc;
    case BS_PROTO_ERR_ALREADY_EXISTS:
        if (!(rc = bs_proto_wr_str(b, m->keyspace)))
            rc = bs_proto_wr_str(b, m->name);
        return rc;
    case BS_PROTO_ERR_UNPREPARED:
        return bs_proto_wr_short_bytes(
            b, m->unprepared_id.p,
            m->unprepared_id.len > 0 ? (size_t)m->unprepared_id.len : 0);
    default: return 0;
    }
}

int bs_proto_error_decode(bs_proto_rd *r, bs_arena *a, bs_proto_error *out) {
    memset(out, 0, sizeof *out);
    int rc = bs_proto_rd_int(r, "error code", &out->code);
    if (!rc) rc = bs_proto_rd_string(r, "error message", &out->message);
    if (rc) return rc;
    switch (out->code) {
    case BS_PROTO_ERR_UNAVAILABLE:
        if (!(rc = bs_proto_rd_consistency(r, "consistency", &out->cl)) &&
            !(rc = bs_proto_rd_int(r, "required", &out->required)))
            rc = bs_proto_rd_int(r, "alive", &out->alive);
        return rc;
    case BS_PROTO_ERR_WRITE_TIMEOUT:
    case BS_PROTO_ERR_READ_TIMEOUT:
    case BS_PROTO_ERR_READ_FAILURE:
    case BS_PROTO_ERR_WRITE_FAILURE:
        if ((rc = bs_proto_rd_consistency(r, "consistency", &out->cl)) ||
            (rc = bs_proto_rd_int(r, "received", &out->received)) ||
            (rc = bs_proto_rd_int(r, "blockfor", &out->blockfor)))
            return rc;
        if ((out->code == BS_PROTO_ERR_READ_FAILURE ||
             out->code == BS_PROTO_ERR_WRITE_FAILURE) &&
            (rc = bs_proto_rd_int(r, "failure count", &out->numfailures)))
            return rc;
        if (out->code == BS_PROTO_ERR_READ_TIMEOUT ||
            out->code == BS_PROTO_ERR_READ_FAILURE)
            return bs_proto_rd_byte(r, "data present", &out->data_present);
        return bs_proto_rd_string(r, "write type", &out->write_type);
    case BS_PROTO_ERR_FUNCTION_FAILURE:
        if (!(rc =
                  bs_proto_rd_string(r, "function keyspace", &out->keyspace)) &&
            !(rc = bs_proto_rd_string(r, "function name", &out->name)))
            rc = bs_proto_rd_string_list(r, a, "function argument types",
                                         &out->arg_types);
        return rc;
    case BS_PROTO_ERR_ALREADY_EXISTS:
        if (!(rc = bs_proto_rd_string(r, "keyspace", &out->keyspace)))
            rc = bs_proto_rd_string(r, "table", &out->name);
        return rc;
    case BS_PROTO_ERR_UNPREPARED:
        return bs_proto_rd_short_bytes(r, "unprepared id", &out->unprepared_id);
    default: return 0;
    }
}

/* ------------------------------------------------------------------ */
/* Schema change, events                                               */
/* ------------------------------------------------------------------ */

enum { TGT_KEYSPACE, TGT_NAMED, TGT_FUNCTION, TGT_BAD };

static int target_kind(bs_proto_str t) {
    if (bs_proto_str_eq(t, "KEYSPACE")) return TGT_KEYSPACE;
    if (bs_proto_str_eq(t, "TABLE") || bs_proto_str_eq(t, "TYPE"))
        return TGT_NAMED;
    if (bs_proto_str_eq(t, "FUNCTION") || bs_proto_str_eq(t, "AGGREGATE"))
        return TGT_FUNCTION;
    return TGT_BAD;
}

int bs_proto_schema_change_encode(bs_buf *b, const bs_proto_schema_change *m) {
    int k = target_kind(m->target);
    if (k == TGT_BAD) return BS_EINVAL;
    int rc = bs_proto_wr_str(b, m->change_type);
    if (!rc) rc = bs_proto_wr_str(b, m->target);
    if (!rc) rc = bs_proto_wr_str(b, m->keyspace);
    if (!rc && k != TGT_KEYSPACE) rc = bs_proto_wr_str(b, m->name);
    if (!rc && k == TGT_FUNCTION)
        rc = bs_proto_wr_string_list(b, &m->arg_types);
    return rc;
}

int bs_proto_schema_change_decode(bs_proto_rd *r, bs_arena *a,
                                  bs_proto_schema_change *out) {
    memset(out, 0, sizeof *out);
    size_t at;
    int rc = bs_proto_rd_string(r, "schema change type", &out->change_type);
    if (rc) return rc;
    at = r->pos;
    if ((rc = bs_proto_rd_string(r, "schema change target", &out->target)))
        return rc;
    int k = target_kind(out->target);
    if (k == TGT_BAD)
        return bs_proto_rd_fail(
            r, BS_EPROTO, "unknown schema change target '%.*s' at offset %zu",
            (int)(out->target.len > 32 ? 32 : out->target.len), out->target.p,
            at);
    if ((rc = bs_proto_rd_string(r, "keyspace", &out->keyspace))) return rc;
    if (k != TGT_KEYSPACE && (rc = bs_proto_rd_string(r, "name", &out->name)))
        return rc;
    if (k == TGT_FUNCTION)
        rc = bs_proto_rd_string_list(r, a, "argument types", &out->arg_types);
    return rc;
}

int bs_proto_event_encode(bs_buf *b, const bs_proto_event *m) {
    int rc = bs_proto_wr_str(b, m->type);
    if (rc) return rc;
    if (bs_proto_str_eq(m->type, "TOPOLOGY_CHANGE") ||
        bs_proto_str_eq(m->type, "STATUS_CHANGE")) {
        rc = bs_proto_wr_str(b, m->change);
        return rc ? rc : bs_proto_wr_inet(b, &m->addr);
    }
    if (bs_proto_str_eq(m->type, "SCHEMA_CHANGE"))
        return bs_proto_schema_change_encode(b, &m->schema);
    return BS_EINVAL;
}

int bs_proto_event_decode(bs_proto_rd *r, bs_arena *a, bs_proto_event *out) {
    memset(out, 0, sizeof *out);
    size_t at = r->pos;
    int rc = bs_proto_rd_string(r, "event type", &out->type);
    if (rc) return rc;
    if (bs_proto_str_eq(out->type, "TOPOLOGY_CHANGE") ||
        bs_proto_str_eq(out->type, "STATUS_CHANGE")) {
        rc = bs_proto_rd_string(r, "event change", &out->change);
        return rc ? rc : bs_proto_rd_inet(r, "event address", &out->addr);
    }
    if (bs_proto_str_eq(out->type, "SCHEMA_CHANGE"))
        return bs_proto_schema_change_decode(r, a, &out->schema);
    return bs_proto_rd_fail(
        r, BS_EPROTO, "unknown event type '%.*s' at offset %zu",
        (int)(out->type.len > 32 ? 32 : out->type.len), out->type.p, at);
}

/* ------------------------------------------------------------------ */
/* RESULT                                                              */
/* ------------------------------------------------------------------ */

int bs_proto_result_encode(bs_buf *b, const bs_proto_result *m) {
    int rc = bs_proto_wr_int(b, m->kind);
    if (rc) return rc;
    switch (m->kind) {
    case BS_PROTO_RESULT_VOID: return 0;
    case BS_PROTO_RESULT_ROWS: {
        const bs_proto_rows *rows = &m->u.rows;
        if (rows->nrows < 0 || (rows->content_len && !rows->content))
            return BS_EINVAL;
        if ((rc = bs_proto_meta_encode(b, &rows->meta))) return rc;
        if ((rc = bs_proto_wr_int(b, rows->nrows))) return rc;
        return rows->content_len
                   ? bs_buf_append(b, rows->content, rows->content_len)
                   : 0;
    }
    case BS_PROTO_RESULT_SET_KEYSPACE: return bs_proto_wr_str(b, m->u.keyspace);
    case BS_PROTO_RESULT_PREPARED: {
        const bs_proto_prepared *p = &m->u.prepared;
        if (p->id.len <= 0) return BS_EINVAL;
        if ((rc = bs_proto_wr_short_bytes(b, p->id.p, (size_t)p->id.len)))
            return rc;
        if ((rc = bs_proto_prepared_meta_encode(b, &p->bind))) return rc;
        return bs_proto_meta_encode(b, &p->result);
    }
    case BS_PROTO_RESULT_SCHEMA_CHANGE:
        return bs_proto_schema_change_encode(b, &m->u.schema_change);
    default: return BS_EINVAL;
    }
}

static int rows_decode(bs_proto_rd *r, bs_arena *a, bs_proto_rows *out) {
    int rc = bs_proto_meta_decode(r, a, &out->meta);
    if (rc) return rc;
    uint32_t n = 0;
    if ((rc = rd_count(r, "row count", &n))) return rc;
    out->nrows = (int32_t)n;
    uint64_t cells = (uint64_t)n * out->meta.ncols;
    if (cells * 4 > bs_proto_rd_left(r))
        return bs_proto_rd_fail(r, BS_ETRUNC,
                                "truncated rows at offset %zu: %u rows x %u "
                                "columns cannot fit in %zu bytes",
                                r->pos, n, out->meta.ncols,
                                bs_proto_rd_left(r));
    size_t start = r->pos;
    for (uint64_t i = 0; i < cells; i++) {
        bs_proto_val v;
        if ((rc = bs_proto_rd_bytes(r, "row cell", &v))) return rc;
    }
    out->content = r->p + start;
    out->content_len = r->pos - start;
    return 0;
}

int bs_proto_result_decode(bs_proto_rd *r, bs_arena *a, bs_proto_result *out) {
    memset(out, 0, sizeof *out);
    size_t at = r->pos;
    int rc = bs_proto_rd_int(r, "result kind", &out->kind);
    if (rc) return rc;
    switch (out->kind) {
    case BS_PROTO_RESULT_VOID: return 0;
    case BS_PROTO_RESULT_ROWS: return rows_decode(r, a, &out->u.rows);
    case BS_PROTO_RESULT_SET_KEYSPACE:
        return bs_proto_rd_string(r, "keyspace", &out->u.keyspace);
    case BS_PROTO_RESULT_PREPARED:
        if ((rc = bs_proto_rd_short_bytes(r, "prepared id",
                                          &out->u.prepared.id)) ||
            (rc = bs_proto_prepared_meta_decode(r, a, &out->u.prepared.bind)))
            return rc;
        return bs_proto_meta_decode(r, a, &out->u.prepared.result);
    case BS_PROTO_RESULT_SCHEMA_CHANGE:
        return bs_proto_schema_change_decode(r, a, &out->u.schema_change);
    default:
        return bs_proto_rd_fail(r, BS_EPROTO,
                                "unknown result kind %d at offset %zu",
                                (int)out->kind, at);
    }
}

/* ------------------------------------------------------------------ */
/* Whole responses                                                     */
/* ------------------------------------------------------------------ */

int bs_proto_response_decode(const bs_proto_frame *f, bs_arena *a,
                             bs_proto_response *out, bs_proto_rd *r) {
    bs_proto_rd_init(r, f->body, f->body_len);
    memset(out, 0, sizeof *out);
    out->opcode = f->h.opcode;
    out->stream = f->h.stream;
    if (!f->h.response)
        return bs_proto_rd_fail(
            r, BS_EPROTO, "a request frame where a response was expected");
    int rc = bs_proto_prelude_decode(r, a, f->h.flags, 1, &out->prelude);
    if (rc) return rc;
    switch (f->h.opcode) {
    case BS_PROTO_OP_ERROR: return bs_proto_error_decode(r, a, &out->u.error);
    case BS_PROTO_OP_READY: return 0;
    case BS_PROTO_OP_AUTHENTICATE:
        return bs_proto_rd_string(r, "authenticator", &out->u.authenticator);
    case BS_PROTO_OP_SUPPORTED:
        return bs_proto_rd_string_multimap(r, a, "supported options",
                                           &out->u.supported);
    case BS_PROTO_OP_RESULT:
        return bs_proto_result_decode(r, a, &out->u.result);
    case BS_PROTO_OP_EVENT: return bs_proto_event_decode(r, a, &out->u.event);
    case BS_PROTO_OP_AUTH_CHALLENGE:
    case BS_PROTO_OP_AUTH_SUCCESS:
        return bs_proto_rd_bytes(r, "authentication token", &out->u.auth_token);
    default:
        return bs_proto_rd_fail(r, BS_EPROTO,
                                "opcode 0x%02x (%s) is not a response",
                                f->h.opcode, bs_proto_opcode_name(f->h.opcode));
    }
}

int bs_proto_response_encode(bs_buf *b, int16_t stream,
                             const bs_proto_response *resp,
                             bs_proto_compression compress) {
    if (!bs_proto_opcode_valid(resp->opcode, 1)) return BS_EINVAL;
    size_t start, mark = b->len;
    uint8_t flags = 0;
    int rc = bs_proto_frame_begin(b, 1, 0, stream, resp->opcode, &start);
    if (!rc) rc = bs_proto_prelude_encode(b, &resp->prelude, 1, &flags);
    if (!rc) {
        switch (resp->opcode) {
        case BS_PROTO_OP_ERROR:
            rc = bs_proto_error_encode(b, &resp->u.error);
            break;
        case BS_PROTO_OP_READY: break;
        case BS_PROTO_OP_AUTHENTICATE:
            rc = bs_proto_wr_str(b, resp->u.authenticator);
            break;
        case BS_PROTO_OP_SUPPORTED:
            rc = bs_proto_wr_string_multimap(b, &resp->u.supported);
            break;
        case BS_PROTO_OP_RESULT:
            rc = bs_proto_result_encode(b, &resp->u.result);
            break;
        case BS_PROTO_OP_EVENT:
            rc = bs_proto_event_encode(b, &resp->u.event);
            break;
        case BS_PROTO_OP_AUTH_CHALLENGE:
        case BS_PROTO_OP_AUTH_SUCCESS:
            rc = bs_proto_wr_value(b, resp->u.auth_token);
            break;
        default: rc = BS_EINVAL;
        }
    }
    if (!rc) {
        b->data[start + 1] = flags;
        rc = bs_proto_frame_end(b, start, compress);
    }
    if (rc) b->len = mark;
    return rc;
}

int bs_proto_error_frame(bs_buf *b, int16_t stream, int32_t code,
                         const char *msg, bs_proto_compression compress) {
    bs_proto_response resp;
    memset(&resp, 0, sizeof resp);
    resp.opcode = BS_PROTO_OP_ERROR;
    resp.u.error.code = code;
    resp.u.error.message = bs_proto_cstr(msg ? msg : "");
    if (resp.u.error.message.len > UINT16_MAX)
        resp.u.error.message.len = UINT16_MAX;
    return bs_proto_response_encode(b, stream, &resp, compress);
}

/* ------------------------------------------------------------------ */
/* Rows builder                                                        */
/* ------------------------------------------------------------------ */

int bs_proto_rows_begin(bs_proto_rows_builder *rb, bs_buf *out,
                        const bs_proto_meta *meta) {
    memset(rb, 0, sizeof *rb);
    rb->paging_state.len = BS_PROTO_NULL;
    rb->out = out;
    rb->start = out->len;
    rb->ncols = meta->ncols;
    bs_proto_meta m = *meta;
    m.paging_state.len = BS_PROTO_NULL;
    m.paging_state.p = NULL;
    int rc = bs_proto_wr_int(out, BS_PROTO_RESULT_ROWS);
    if (!rc) rc = bs_proto_meta_encode(out, &m);
    if (!rc) {
        rb->flags = bs_get_u32(out->data + rb->start + 4);
        rb->state_off = rb->start + 12;
        rb->count_off = out->len;
        rc = bs_proto_wr_int(out, 0);
    }
    if (!rc && meta->ncols == 0) rc = BS_EINVAL;
    if (rc) {
        out->len = rb->start;
        rb->err = rc;
    }
    return rc;
}

static int rows_cell_done(bs_proto_rows_builder *rb) {
    if (++rb->col == rb->ncols) {
        rb->col = 0;
        if (rb->nrows == INT32_MAX) return rb->err = BS_ERANGE;
        rb->nrows++;
    }
    return 0;
}

int bs_proto_rows_cell(bs_proto_rows_builder *rb, const void *p, int32_t len) {
    if (rb->err) return rb->err;
    if (!rb->out) return BS_EINVAL;
    bs_proto_val v = {(const uint8_t *)p, len < 0 ? BS_PROTO_NULL : len};
    int rc = bs_proto_wr_value(rb->out, v);
    if (rc) return rb->err = rc;
    return rows_cell_done(rb);
}

int bs_proto_rows_cell_reserve(bs_proto_rows_builder *rb, size_t len,
                               uint8_t **dst) {
    if (rb->err) return rb->err;
    if (!rb->out) return BS_EINVAL;
    if (len > INT32_MAX) return rb->err = BS_ERANGE;
    uint8_t *p = bs_buf_extend(rb->out, 4 + len);
    if (!p) return rb->err = BS_ENOMEM;
    bs_put_u32(p, (uint32_t)len);
    *dst = p + 4;
    return rows_cell_done(rb);
}

void bs_proto_rows_set_paging_state(bs_proto_rows_builder *rb, const void *p,
                                    size_t len) {
    if (len > INT32_MAX) {
        rb->err = BS_ERANGE;
        return;
    }
    rb->paging_state.p = p;
    rb->paging_state.len = (int32_t)len;
}

int bs_proto_rows_finish(bs_proto_rows_builder *rb) {
    if (rb->err) return rb->err;
    if (!rb->out) return BS_EINVAL;
    if (rb->col != 0) return rb->err = BS_EINVAL;
    bs_buf *out = rb->out;
    bs_put_u32(out->data + rb->count_off, (uint32_t)rb->nrows);
    if (rb->paging_state.len >= 0) {
        size_t k = 4 + (size_t)rb->paging_state.len;
        size_t old = out->len;
        if (!bs_buf_extend(out, k)) return rb->err = BS_ENOMEM;
        memmove(out->data + rb->state_off + k, out->data + rb->state_off,
                old - rb->state_off);
        bs_put_u32(out->data + rb->state_off, (uint32_t)rb->paging_state.len);
        if (rb->paging_state.len)
            memcpy(out->data + rb->state_off + 4, rb->paging_state.p,
                   (size_t)rb->paging_state.len);
        rb->flags |= BS_PROTO_RF_HAS_MORE_PAGES;
        bs_put_u32(out->data + rb->start + 4, rb->flags);
    }
    rb->out = NULL;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Rows iterator                                                       */
/* ------------------------------------------------------------------ */

void bs_proto_rows_iter_init(bs_proto_rows_iter *it,
                             const bs_proto_rows *rows) {
    bs_proto_rd_init(&it->rd, rows->content, rows->content_len);
    it->ncols = rows->meta.ncols;
    it->left = rows->nrows;
}

int bs_proto_rows_next(bs_proto_rows_iter *it, bs_proto_val *cells) {
    if (it->left <= 0) return 0;
    for (uint32_t i = 0; i < it->ncols; i++) {
        int rc = bs_proto_rd_bytes(&it->rd, "row cell", &cells[i]);
        if (rc) return rc;
    }
    it->left--;
    return 1;
}
