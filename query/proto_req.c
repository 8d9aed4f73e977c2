/*
 * proto_req.c - request messages (spec 4.1): decoding on the server,
 * encoding on the client, and the flags-dependent body prelude.
 *
 * Bodies:
 *   STARTUP        [string map] (CQL_VERSION mandatory, COMPRESSION opt.)
 *   AUTH_RESPONSE  [bytes] token
 *   OPTIONS        empty
 *   QUERY          [long string] query, <params>
 *   PREPARE        [long string] query
 *   EXECUTE        [short bytes] id, <params>
 *   BATCH          [byte] type, [short] n, n x <stmt>, [consistency],
 *                  [byte] flags, [serial [consistency]] (0x10),
 *                  [timestamp [long]] (0x20)
 *                  <stmt> = [byte] kind, kind 0: [long string] /
 *                           kind 1: [short bytes], [short] n, n x [value]
 *   REGISTER       [string list] of event types
 *
 *   <params> = [consistency] [byte] flags
 *              0x01 [short] n, n x ([string] name if 0x40, [value])
 *              0x04 [int] page size    0x08 [bytes] paging state
 *              0x10 [consistency] serial    0x20 [long] timestamp
 *              (0x02 skip metadata has no bytes)
 *
 * Decoders are zero-copy (see proto_msg.h) and validate what Cassandra's
 * codecs validate at the protocol layer: value lengths, consistency
 * codes, batch type and statement kinds, page size 0, the reserved
 * INT64_MIN timestamp, known event names, the STARTUP CQL version and
 * compression.  Semantics (e.g. serial consistency being SERIAL or
 * LOCAL_SERIAL) are left to the executor, as in Cassandra.
 */
#include <string.h>

#include "common/error.h"
#include "query/proto_msg.h"

/* ------------------------------------------------------------------ */
/* Prelude                                                             */
/* ------------------------------------------------------------------ */

int bs_proto_prelude_decode(bs_proto_rd *r, bs_arena *a, uint8_t flags,
                            int response, bs_proto_prelude *out) {
    memset(out, 0, sizeof *out);
    int rc = 0;
    out->trace_request = !response && (flags & BS_PROTO_FLAG_TRACING);
    if (response && (flags & BS_PROTO_FLAG_TRACING))
        rc = bs_proto_rd_uuid(r, "tracing id", &out->tracing_id);
    if (!rc && response && (flags & BS_PROTO_FLAG_WARNING))
        rc = bs_proto_rd_string_list(r, a, "warnings", &out->warnings);
    if (!rc && (flags & BS_PROTO_FLAG_CUSTOM_PAYLOAD)) {
        rc =
            bs_proto_rd_bytes_map(r, a, "custom payload", &out->custom_payload);
        out->has_custom_payload = !rc;
    }
    return rc;
}

int bs_proto_prelude_encode(bs_buf *b, const bs_proto_prelude *pre,
                            int response, uint8_t *flags) {
    if (!pre) return 0;
    int rc = 0;
    if (!response && pre->trace_request) *flags |= BS_PROTO_FLAG_TRACING;
    if (response && pre->tracing_id) {
        *flags |= BS_PROTO_FLAG_TRACING;
        rc = bs_proto_wr_uuid(b, pre->tracing_id);
    }
    if (!rc && response && pre->warnings.n) {
        *flags |= BS_PROTO_FLAG_WARNING;
        rc = bs_proto_wr_string_list(b, &pre->warnings);
    }
    if (!rc && pre->has_custom_payload) {
        *flags |= BS_PROTO_FLAG_CUSTOM_PAYLOAD;
        rc = bs_proto_wr_bytes_map(b, &pre->custom_payload);
    }
    return rc;
}

/* ------------------------------------------------------------------ */
/* Decoding                                                            */
/* ------------------------------------------------------------------ */

/* "3.0.0", "3.4.5", "3.4", "3.4.5-SNAPSHOT": major >= 3. */
static int cql_version_ok(bs_proto_str v) {
    size_t i = 0;
    unsigned long major = 0;
    int parts = 0;
    while (parts < 3) {
        size_t s = i;
        unsigned long x = 0;
        while (i < v.len && v.p[i] >= '0' && v.p[i] <= '9' && i - s < 9)
            x = x * 10 + (unsigned long)(v.p[i++] - '0');
        if (i == s) return 0;
        if (parts == 0) major = x;
        parts++;
        if (i < v.len && v.p[i] == '.' && parts < 3) {
            i++;
            continue;
        }
        break;
    }
    if (parts < 2) return 0;
    if (i < v.len && v.p[i] != '-' && v.p[i] != '+') return 0;
    return major >= 3;
}

int bs_proto_startup_decode(bs_proto_rd *r, bs_arena *a,
                            bs_proto_startup *out) {
    memset(out, 0, sizeof *out);
    int rc = bs_proto_rd_string_map(r, a, "STARTUP options", &out->options);
    if (rc) return rc;
    int have_cql = 0;
    for (unsigned i = 0; i < out->options.n; i++) {
        bs_proto_strpair *kv = &out->options.items[i];
        if (bs_proto_str_eq(kv->key, "CQL_VERSION")) {
            out->cql_version = kv->val;
            have_cql = 1;
        } else if (bs_proto_str_eq(kv->key, "COMPRESSION")) {
            if (bs_proto_str_ieq(kv->val, "lz4"))
                out->compression = BS_PROTO_COMP_LZ4;
            else if (bs_proto_str_ieq(kv->val, "snappy"))
                return bs_proto_rd_fail(r, BS_EPROTO,
                                        "This server does not support snappy "
                                        "compression (use lz4)");
            else
                return bs_proto_rd_fail(
                    r, BS_EPROTO, "Unknown compression algorithm: %.*s",
                    (int)(kv->val.len > 64 ? 64 : kv->val.len), kv->val.p);
        }
    }
    if (!have_cql)
        return bs_proto_rd_fail(r, BS_EPROTO,
                                "Missing value CQL_VERSION in STARTUP message");
    if (!cql_version_ok(out->cql_version))
        return bs_proto_rd_fail(
            r, BS_EPROTO,
            "CQL version %.*s is not supported by the binary protocol "
            "(supported version are >= 3.0.0)",
            (int)(out->cql_version.len > 64 ? 64 : out->cql_version.len),
            out->cql_version.p);
    return 0;
}

static int rd_values(bs_proto_rd *r, bs_arena *a, uint16_t n, int named,
                     bs_proto_val **vals, bs_proto_str **names) {
    *vals = NULL;
    if (names) *names = NULL;
    if (n == 0) return 0;
    if ((size_t)n * (named ? 6u : 4u) > bs_proto_rd_left(r))
        return bs_proto_rd_fail(
            r, BS_ETRUNC,
            "truncated values at offset %zu: %u values cannot fit in %zu bytes",
            r->pos, n, bs_proto_rd_left(r));
    bs_proto_val *v = bs_arena_alloc(a, n * sizeof *v);
    bs_proto_str *nm = named ? bs_arena_alloc(a, n * sizeof *nm) : NULL;
    if (!v || (named && !nm))
        return bs_proto_rd_fail(r, BS_ENOMEM, "out of memory decoding values");
    for (unsigned i = 0; i < n; i++) {
        int rc;
        if (named && (rc = bs_proto_rd_string(r, "value name", &nm[i])))
            return rc;
        if ((rc = bs_proto_rd_value(r, "bound value", &v[i]))) return rc;
    }
    *vals = v;
    if (names) *names = nm;
    return 0;
}

void bs_proto_params_init(bs_proto_params *p) {
    memset(p, 0, sizeof *p);
    p->consistency = BS_CL_ONE;
    p->page_size = -1;
    p->paging_state.len = BS_PROTO_NULL;
    p->serial_consistency = BS_CL_SERIAL;
    p->timestamp = INT64_MIN;
}

int bs_proto_params_decode(bs_proto_rd *r, bs_arena *a, bs_proto_params *out) {
    bs_proto_params_init(out);
    int rc = bs_proto_rd_consistency(r, "consistency", &out->consistency);
    if (!rc) rc = bs_proto_rd_byte(r, "query flags", &out->flags);
    if (rc) return rc;
    uint8_t f = out->flags;
    if (f & BS_PROTO_QF_VALUES) {
        if ((rc = bs_proto_rd_short(r, "value count", &out->nvalues)))
            return rc;
        if ((rc = rd_values(r, a, out->nvalues,
                            (f & BS_PROTO_QF_NAMES_FOR_VALUES) != 0,
                            &out->values, &out->names)))
            return rc;
    }
    if (f & BS_PROTO_QF_PAGE_SIZE) {
        size_t at = r->pos;
        if ((rc = bs_proto_rd_int(r, "page size", &out->page_size))) return rc;
        if (out->page_size == 0)
            return bs_proto_rd_fail(
                r, BS_EPROTO, "The page size cannot be 0 (offset %zu)", at);
        if (out->page_size < 0) out->page_size = -1;
    }
    if ((f & BS_PROTO_QF_PAGING_STATE) &&
        (rc = bs_proto_rd_bytes(r, "paging state", &out->paging_state)))
        return rc;
    if ((f & BS_PROTO_QF_SERIAL_CONSISTENCY) &&
        (rc = bs_proto_rd_consistency(r, "serial consistency",
                                      &out->serial_consistency)))
        return rc;
    if (f & BS_PROTO_QF_DEFAULT_TIMESTAMP) {
        size_t at = r->pos;
        if ((rc = bs_proto_rd_long(r, "default timestamp", &out->timestamp)))
            return rc;
        if (out->timestamp == INT64_MIN)
            return bs_proto_rd_fail(
                r, BS_EPROTO,
                "Out of bound timestamp at offset %zu, must be in "
                "[%lld, %lld]",
                at, (long long)INT64_MIN + 1, (long long)INT64_MAX);
    }
    return 0;
}

int bs_proto_query_decode(bs_proto_rd *r, bs_arena *a, bs_proto_query *out) {
    int rc = bs_proto_rd_long_string(r, "query string", &out->query);
    return rc ? rc : bs_proto_params_decode(r, a, &out->params);
}

int bs_proto_prepare_decode(bs_proto_rd *r, bs_proto_prepare *out) {
    return bs_proto_rd_long_string(r, "query string", &out->query);
}

int bs_proto_execute_decode(bs_proto_rd *r, bs_arena *a,
                            bs_proto_execute *out) {
    size_t at = r->pos;
    int rc = bs_proto_rd_short_bytes(r, "prepared id", &out->id);
    if (rc) return rc;
    if (out->id.len == 0)
        return bs_proto_rd_fail(
            r, BS_EPROTO, "empty prepared statement id at offset %zu", at);
    return bs_proto_params_decode(r, a, &out->params);
}

int bs_proto_batch_decode(bs_proto_rd *r, bs_arena *a, bs_proto_batch *out) {
    memset(out, 0, sizeof *out);
    out->serial_consistency = BS_CL_SERIAL;
    out->timestamp = INT64_MIN;
    size_t at = r->pos;
    int rc = bs_proto_rd_byte(r, "batch type", &out->type);
    if (rc) return rc;
    if (out->type > BS_PROTO_BATCH_COUNTER)
        return bs_proto_rd_fail(
            r, BS_EPROTO, "Invalid batch type %u at offset %zu", out->type, at);
    if ((rc = bs_proto_rd_short(r, "batch statement count", &out->nstmts)))
        return rc;
    /* each statement is at least kind(1) + [short bytes](2) + count(2) */
    if ((size_t)out->nstmts * 5 > bs_proto_rd_left(r))
        return bs_proto_rd_fail(r, BS_ETRUNC,
                                "truncated batch at offset %zu: %u statements "
                                "cannot fit in %zu bytes",
                                r->pos, out->nstmts, bs_proto_rd_left(r));
    if (out->nstmts) {
        out->stmts = bs_arena_calloc(a, out->nstmts * sizeof *out->stmts);
        if (!out->stmts)
            return bs_proto_rd_fail(r, BS_ENOMEM,
                                    "out of memory decoding batch");
    }
    for (unsigned i = 0; i < out->nstmts; i++) {
        bs_proto_batch_stmt *s = &out->stmts[i];
        at = r->pos;
        if ((rc = bs_proto_rd_byte(r, "batch statement kind", &s->kind)))
            return rc;
        if (s->kind == 0)
            rc = bs_proto_rd_long_string(r, "batch query string", &s->query);
        else if (s->kind == 1)
            rc = bs_proto_rd_short_bytes(r, "batch prepared id", &s->id);
        else
            return bs_proto_rd_fail(r, BS_EPROTO,
                                    "Invalid query kind in BATCH messages. "
                                    "Must be 0 or 1 but got %u "
                                    "(statement %u at offset %zu)",
                                    s->kind, i, at);
        if (rc) return rc;
        if ((rc = bs_proto_rd_short(r, "batch value count", &s->nvalues)))
            return rc;
        if ((rc = rd_values(r, a, s->nvalues, 0, &s->values, NULL))) return rc;
    }
    if ((rc = bs_proto_rd_consistency(r, "batch consistency",
                                      &out->consistency)))
        return rc;
    at = r->pos;
    if ((rc = bs_proto_rd_byte(r, "batch flags", &out->flags))) return rc;
    if (out->flags & BS_PROTO_QF_NAMES_FOR_VALUES)
        return bs_proto_rd_fail(r, BS_EPROTO,
                                "Names for values are not supported in BATCH "
                                "(flag 0x40 at offset %zu; "
                                "see CASSANDRA-10246)",
                                at);
    if ((out->flags & BS_PROTO_QF_SERIAL_CONSISTENCY) &&
        (rc = bs_proto_rd_consistency(r, "batch serial consistency",
                                      &out->serial_consistency)))
        return rc;
    if (out->flags & BS_PROTO_QF_DEFAULT_TIMESTAMP) {
        at = r->pos;
        if ((rc = bs_proto_rd_long(r, "batch timestamp", &out->timestamp)))
            return rc;
        if (out->timestamp == INT64_MIN)
            return bs_proto_rd_fail(r, BS_EPROTO,
                                    "Out of bound timestamp at offset %zu", at);
    }
    return 0;
}

int bs_proto_register_decode(bs_proto_rd *r, bs_arena *a,
                             bs_proto_register *out) {
    out->mask = 0;
    int rc = bs_proto_rd_string_list(r, a, "event types", &out->events);
    if (rc) return rc;
    for (unsigned i = 0; i < out->events.n; i++) {
        bs_proto_str e = out->events.items[i];
        if (bs_proto_str_ieq(e, "TOPOLOGY_CHANGE"))
            out->mask |= BS_PROTO_EV_TOPOLOGY_CHANGE;
        else if (bs_proto_str_ieq(e, "STATUS_CHANGE"))
            out->mask |= BS_PROTO_EV_STATUS_CHANGE;
        else if (bs_proto_str_ieq(e, "SCHEMA_CHANGE"))
            out->mask |= BS_PROTO_EV_SCHEMA_CHANGE;
        else
            return bs_proto_rd_fail(r, BS_EPROTO,
                                    "Invalid value '%.*s' for event type",
                                    (int)(e.len > 64 ? 64 : e.len), e.p);
    }
    return 0;
}

static int request_body_decode(const bs_proto_frame *f, bs_arena *a,
                               bs_proto_request *out, bs_proto_rd *r);

/* v3 has no UNSET value (length -2 is v4's): refused like Cassandra. */
static int unset_in(const bs_proto_val *v, size_t n, bs_proto_rd *r) {
    for (size_t i = 0; i < n; i++)
        if (v[i].len == BS_PROTO_UNSET)
            return bs_proto_rd_fail(r, BS_EPROTO,
                                    "Unset values are not supported by native "
                                    "protocol version 3 (value %zu)",
                                    i);
    return 0;
}

static int no_unset_v3(const bs_proto_request *q, bs_proto_rd *r) {
    switch (q->opcode) {
    case BS_PROTO_OP_QUERY:
        return unset_in(q->u.query.params.values, q->u.query.params.nvalues, r);
    case BS_PROTO_OP_EXECUTE:
        return unset_in(q->u.execute.params.values, q->u.execute.params.nvalues,
                        r);
    case BS_PROTO_OP_BATCH:
        for (uint16_t i = 0; i < q->u.batch.nstmts; i++)
            if (unset_in(q->u.batch.stmts[i].values,
                         q->u.batch.stmts[i].nvalues, r))
                return r->err;
        return 0;
    default: return 0;
    }
}

int bs_proto_request_decode(const bs_proto_frame *f, bs_arena *a,
                            bs_proto_request *out, bs_proto_rd *r) {
    bs_proto_rd_init(r, f->body, f->body_len);
    memset(out, 0, sizeof *out);
    out->opcode = f->h.opcode;
    out->version = f->h.version;
    if (f->h.response)
        return bs_proto_rd_fail(
            r, BS_EPROTO, "a response frame where a request was expected");
    if (f->h.version < 4 && (f->h.flags & BS_PROTO_FLAG_CUSTOM_PAYLOAD))
        return bs_proto_rd_fail(r, BS_EPROTO,
                                "Received frame with CUSTOM_PAYLOAD flag for "
                                "native protocol version < 4");
    int rc = bs_proto_prelude_decode(r, a, f->h.flags, 0, &out->prelude);
    if (rc) return rc;
    rc = request_body_decode(f, a, out, r);
    if (!rc && f->h.version < 4) rc = no_unset_v3(out, r);
    return rc;
}

static int request_body_decode(const bs_proto_frame *f, bs_arena *a,
                               bs_proto_request *out, bs_proto_rd *r) {
    switch (f->h.opcode) {
    case BS_PROTO_OP_STARTUP:
        return bs_proto_startup_decode(r, a, &out->u.startup);
    case BS_PROTO_OP_AUTH_RESPONSE:
        return bs_proto_rd_bytes(r, "authentication token",
                                 &out->u.auth_response);
    case BS_PROTO_OP_OPTIONS: return 0;
    case BS_PROTO_OP_QUERY: return bs_proto_query_decode(r, a, &out->u.query);
    case BS_PROTO_OP_PREPARE:
        return bs_proto_prepare_decode(r, &out->u.prepare);
    case BS_PROTO_OP_EXECUTE:
        return bs_proto_execute_decode(r, a, &out->u.execute);
    case BS_PROTO_OP_BATCH: return bs_proto_batch_decode(r, a, &out->u.batch);
    case BS_PROTO_OP_REGISTER:
        return bs_proto_register_decode(r, a, &out->u.reg);
    default:
        return bs_proto_rd_fail(r, BS_EPROTO,
                                "opcode 0x%02x (%s) is not a request",
                                f->h.opcode, bs_proto_opcode_name(f->h.opcode));
    }
}

/* ------------------------------------------------------------------ */
/* Encoding                                                            */
/* ------------------------------------------------------------------ */

int bs_proto_startup_encode(bs_buf *b, const bs_proto_startup *m) {
    return bs_proto_wr_string_map(b, &m->options);
}

int bs_proto_params_encode(bs_buf *b, const bs_proto_params *p) {
    uint8_t f =
        p->flags & (BS_PROTO_QF_SKIP_METADATA | BS_PROTO_QF_SERIAL_CONSISTENCY |
                    BS_PROTO_QF_VALUES);
    if (p->nvalues) f |= BS_PROTO_QF_VALUES;
    if ((f & BS_PROTO_QF_VALUES) && p->names) f |= BS_PROTO_QF_NAMES_FOR_VALUES;
    if (p->page_size > 0) f |= BS_PROTO_QF_PAGE_SIZE;
    if (p->paging_state.len >= 0) f |= BS_PROTO_QF_PAGING_STATE;
    if (p->timestamp != INT64_MIN) f |= BS_PROTO_QF_DEFAULT_TIMESTAMP;
    if (p->nvalues && !p->values) return BS_EINVAL;
    int rc = bs_proto_wr_short(b, p->consistency);
    if (!rc) rc = bs_proto_wr_byte(b, f);
    if (!rc && (f & BS_PROTO_QF_VALUES)) {
        rc = bs_proto_wr_short(b, p->nvalues);
        for (unsigned i = 0; !rc && i < p->nvalues; i++) {
            if (p->names) rc = bs_proto_wr_str(b, p->names[i]);
            if (!rc) rc = bs_proto_wr_value(b, p->values[i]);
        }
    }
    if (!rc && (f & BS_PROTO_QF_PAGE_SIZE))
        rc = bs_proto_wr_int(b, p->page_size);
    if (!rc && (f & BS_PROTO_QF_PAGING_STATE))
        rc = bs_proto_wr_value(b, p->paging_state);
    if (!rc && (f & BS_PROTO_QF_SERIAL_CONSISTENCY))
        rc = bs_proto_wr_short(b, p->serial_consistency);
    if (!rc && (f & BS_PROTO_QF_DEFAULT_TIMESTAMP))
        rc = bs_proto_wr_long(b, p->timestamp);
    return rc;
}

int bs_proto_query_encode(bs_buf *b, const bs_proto_query *m) {
    int rc = bs_proto_wr_long_string(b, m->query.p, m->query.len);
    return rc ? rc : bs_proto_params_encode(b, &m->params);
}

int bs_proto_prepare_encode(bs_buf *b, const bs_proto_prepare *m) {
    return bs_proto_wr_long_string(b, m->query.p, m->query.len);
}

int bs_proto_execute_encode(bs_buf *b, const bs_proto_execute *m) {
    if (m->id.len <= 0) return BS_EINVAL;
    int rc = bs_proto_wr_short_bytes(b, m->id.p, (size_t)m->id.len);
    return rc ? rc : bs_proto_params_encode(b, &m->params);
}

int bs_proto_batch_encode(bs_buf *b, const bs_proto_batch *m) {
    uint8_t f = m->flags & BS_PROTO_QF_SERIAL_CONSISTENCY;
    if (m->timestamp != INT64_MIN) f |= BS_PROTO_QF_DEFAULT_TIMESTAMP;
    int rc = bs_proto_wr_byte(b, m->type);
    if (!rc) rc = bs_proto_wr_short(b, m->nstmts);
    for (unsigned i = 0; !rc && i < m->nstmts; i++) {
        const bs_proto_batch_stmt *s = &m->stmts[i];
        if (s->kind > 1 || (s->nvalues && !s->values)) return BS_EINVAL;
        rc = bs_proto_wr_byte(b, s->kind);
        if (!rc)
            rc = s->kind == 0
                     ? bs_proto_wr_long_string(b, s->query.p, s->query.len)
                     : bs_proto_wr_short_bytes(
                           b, s->id.p, s->id.len > 0 ? (size_t)s->id.len : 0);
        if (!rc) rc = bs_proto_wr_short(b, s->nvalues);
        for (unsigned j = 0; !rc && j < s->nvalues; j++)
            rc = bs_proto_wr_value(b, s->values[j]);
    }
    if (!rc) rc = bs_proto_wr_short(b, m->consistency);
    if (!rc) rc = bs_proto_wr_byte(b, f);
    if (!rc && (f & BS_PROTO_QF_SERIAL_CONSISTENCY))
        rc = bs_proto_wr_short(b, m->serial_consistency);
    if (!rc && (f & BS_PROTO_QF_DEFAULT_TIMESTAMP))
        rc = bs_proto_wr_long(b, m->timestamp);
    return rc;
}

int bs_proto_register_encode(bs_buf *b, const bs_proto_register *m) {
    if (m->events.n) return bs_proto_wr_string_list(b, &m->events);
    /* derive the list from the mask */
    bs_proto_str names[3];
    bs_proto_strlist l = {0, names};
    if (m->mask & BS_PROTO_EV_TOPOLOGY_CHANGE)
        names[l.n++] = bs_proto_cstr("TOPOLOGY_CHANGE");
    if (m->mask & BS_PROTO_EV_STATUS_CHANGE)
        names[l.n++] = bs_proto_cstr("STATUS_CHANGE");
    if (m->mask & BS_PROTO_EV_SCHEMA_CHANGE)
        names[l.n++] = bs_proto_cstr("SCHEMA_CHANGE");
    return bs_proto_wr_string_list(b, &l);
}

int bs_proto_request_encode(bs_buf *b, int16_t stream,
                            const bs_proto_request *req,
                            bs_proto_compression compress) {
    if (!bs_proto_opcode_valid(req->opcode, 0)) return BS_EINVAL;
    size_t start, mark = b->len;
    uint8_t flags = 0;
    int rc = bs_proto_frame_begin(b, 0, 0, stream, req->opcode, &start);
    if (!rc) rc = bs_proto_prelude_encode(b, &req->prelude, 0, &flags);
    if (!rc) {
        switch (req->opcode) {
        case BS_PROTO_OP_STARTUP:
            rc = bs_proto_startup_encode(b, &req->u.startup);
            compress = BS_PROTO_COMP_NONE; /* STARTUP is never compressed */
            break;
        case BS_PROTO_OP_AUTH_RESPONSE:
            rc = bs_proto_wr_value(b, req->u.auth_response);
            break;
        case BS_PROTO_OP_OPTIONS: compress = BS_PROTO_COMP_NONE; break;
        case BS_PROTO_OP_QUERY:
            rc = bs_proto_query_encode(b, &req->u.query);
            break;
        case BS_PROTO_OP_PREPARE:
            rc = bs_proto_prepare_encode(b, &req->u.prepare);
            break;
        case BS_PROTO_OP_EXECUTE:
            rc = bs_proto_execute_encode(b, &req->u.execute);
            break;
        case BS_PROTO_OP_BATCH:
            rc = bs_proto_batch_encode(b, &req->u.batch);
            break;
        case BS_PROTO_OP_REGISTER:
            rc = bs_proto_register_encode(b, &req->u.reg);
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
