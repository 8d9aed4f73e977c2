/*
 * driver_result.c - results of executed statements and their typed
 * getters.
 *
 * A result owns the (decompressed) RESULT frame body and an arena; the
 * response is decoded zero-copy with bs_proto_response_decode, which
 * validates every cell of a Rows result, so iteration afterwards cannot
 * fail.  Column names and the schema-change strings are NUL-terminated
 * copies in the arena so the getters can hand out C strings.
 *
 * The row cursor re-reads cells from the body with bs_proto_rows_iter;
 * the current row's cells are kept in `cells` (ncols entries borrowing
 * the body).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "client/driver_int.h"
#include "query/value.h"

struct bs_client_result {
    uint8_t *body;
    bs_arena arena;
    bs_proto_response resp;
    char host[80];
    int kind;
    /* rows */
    size_t ncols;
    char **names, **kss, **tables;
    bs_proto_rows_iter it;
    bs_proto_val *cells;
    int has_row;
    /* strings */
    char *ks, *change, *target, *name;
    char **warnings;
    size_t nwarnings;
    int has_trace;
    uint8_t trace_id[16];
};

static char *adup(bs_arena *a, bs_proto_str s) {
    return bs_arena_strndup(a, s.p ? s.p : "", s.p ? s.len : 0);
}

int bs__result_new(uint8_t *body, size_t body_len, uint8_t flags,
                   const char *host, bs_client_result **out, char *msg,
                   size_t msglen) {
    bs_client_result *r = calloc(1, sizeof *r);
    if (!r) {
        free(body);
        return BS_ENOMEM;
    }
    r->body = body;
    bs_arena_init(&r->arena, 0);
    bs__strlcpy(r->host, sizeof r->host, host, host ? strlen(host) : 0);
    bs_proto_frame f;
    memset(&f, 0, sizeof f);
    f.h.version = BS_PROTO_VERSION;
    f.h.response = 1;
    f.h.flags = flags;
    f.h.opcode = BS_PROTO_OP_RESULT;
    f.body = body;
    f.body_len = body_len;
    bs_proto_rd rd;
    int rc = bs_proto_response_decode(&f, &r->arena, &r->resp, &rd);
    if (rc) {
        if (msg) bs__strlcpy(msg, msglen, rd.msg, strlen(rd.msg));
        bs_client_result_free(r);
        return rc == BS_ENOMEM ? BS_ENOMEM : BS_CLIENT_EPROTO;
    }
    bs_arena *a = &r->arena;
    const bs_proto_result *res = &r->resp.u.result;
    r->kind = res->kind;
    const char *e = "";
    r->ks = r->change = r->target = r->name = (char *)e;
    if (r->resp.prelude.tracing_id) {
        r->has_trace = 1;
        memcpy(r->trace_id, r->resp.prelude.tracing_id, 16);
    }
    size_t nw = r->resp.prelude.warnings.n;
    if (nw) {
        r->warnings = bs_arena_alloc(a, nw * sizeof *r->warnings);
        if (!r->warnings) goto oom;
        for (size_t i = 0; i < nw; i++)
            if (!(r->warnings[i] = adup(a, r->resp.prelude.warnings.items[i])))
                goto oom;
        r->nwarnings = nw;
    }
    if (res->kind == BS_PROTO_RESULT_ROWS) {
        const bs_proto_meta *m = &res->u.rows.meta;
        r->ncols = m->ncols;
        size_t n = r->ncols ? r->ncols : 1;
        r->cells = bs_arena_calloc(a, n * sizeof *r->cells);
        r->names = bs_arena_calloc(a, n * sizeof *r->names);
        r->kss = bs_arena_calloc(a, n * sizeof *r->kss);
        r->tables = bs_arena_calloc(a, n * sizeof *r->tables);
        if (!r->cells || !r->names || !r->kss || !r->tables) goto oom;
        if (m->cols) {
            for (size_t i = 0; i < r->ncols; i++) {
                r->names[i] = adup(a, m->cols[i].name);
                r->kss[i] = adup(a, m->cols[i].keyspace);
                r->tables[i] = adup(a, m->cols[i].table);
                if (!r->names[i] || !r->kss[i] || !r->tables[i]) goto oom;
            }
        }
        bs_proto_rows_iter_init(&r->it, &res->u.rows);
    } else if (res->kind == BS_PROTO_RESULT_SET_KEYSPACE) {
        if (!(r->ks = adup(a, res->u.keyspace))) goto oom;
    } else if (res->kind == BS_PROTO_RESULT_SCHEMA_CHANGE) {
        const bs_proto_schema_change *sc = &res->u.schema_change;
        if (!(r->ks = adup(a, sc->keyspace)) ||
            !(r->change = adup(a, sc->change_type)) ||
            !(r->target = adup(a, sc->target)) ||
            !(r->name = adup(a, sc->name)))
            goto oom;
    }
    *out = r;
    return 0;
oom:
    bs_client_result_free(r);
    return BS_ENOMEM;
}

const bs_proto_response *bs__result_resp(const bs_client_result *r) {
    return &r->resp;
}

void bs_client_result_free(bs_client_result *r) {
    if (!r) return;
    bs_arena_free(&r->arena);
    free(r->body);
    free(r);
}

int bs_client_result_kind(const bs_client_result *r) {
    return r ? r->kind : 0;
}

const char *bs_client_result_host(const bs_client_result *r) {
    return r ? r->host : "";
}

int bs_client_result_tracing_id(const bs_client_result *r, uint8_t out[16]) {
    if (!r || !r->has_trace) return BS_ENOTFOUND;
    memcpy(out, r->trace_id, 16);
    return 0;
}

size_t bs_client_result_warning_count(const bs_client_result *r) {
    return r ? r->nwarnings : 0;
}

const char *bs_client_result_warning(const bs_client_result *r, size_t i) {
    return r && i < r->nwarnings ? r->warnings[i] : NULL;
}

const char *bs_client_result_keyspace(const bs_client_result *r) {
    return r ? r->ks : "";
}
const char *bs_client_result_change_type(const bs_client_result *r) {
    return r ? r->change : "";
}
const char *bs_client_result_change_target(const bs_client_result *r) {
    return r ? r->target : "";
}
const char *bs_client_result_change_name(const bs_client_result *r) {
    return r ? r->name : "";
}

size_t bs_client_result_column_count(const bs_client_result *r) {
    return r ? r->ncols : 0;
}

const char *bs_client_result_column_name(const bs_client_result *r, size_t i) {
    return r && i < r->ncols ? r->names[i] ? r->names[i] : "" : NULL;
}

const char *bs_client_result_column_keyspace(const bs_client_result *r,
                                             size_t i) {
    return r && i < r->ncols ? r->kss[i] ? r->kss[i] : "" : NULL;
}

const char *bs_client_result_column_table(const bs_client_result *r, size_t i) {
    return r && i < r->ncols ? r->tables[i] ? r->tables[i] : "" : NULL;
}

const bs_type *bs_client_result_column_type(const bs_client_result *r,
                                            size_t i) {
    if (!r || i >= r->ncols) return NULL;
    const bs_proto_meta *m = &r->resp.u.result.u.rows.meta;
    return m->cols ? m->cols[i].type : NULL;
}

int bs_client_result_column_index(const bs_client_result *r, const char *name) {
    if (!r || !name) return BS_EINVAL;
    for (size_t i = 0; i < r->ncols; i++)
        if (r->names[i] && !strcmp(r->names[i], name)) return (int)i;
    return BS_ENOTFOUND;
}

size_t bs_client_result_row_count(const bs_client_result *r) {
    if (!r || r->kind != BS_PROTO_RESULT_ROWS) return 0;
    int32_t n = r->resp.u.result.u.rows.nrows;
    return n > 0 ? (size_t)n : 0;
}

int bs_client_result_next_row(bs_client_result *r) {
    if (!r || r->kind != BS_PROTO_RESULT_ROWS) return 0;
    int rc = bs_proto_rows_next(&r->it, r->cells);
    r->has_row = rc == 1;
    return rc == 1 ? 1 : 0;
}

void bs_client_result_rewind(bs_client_result *r) {
    if (!r || r->kind != BS_PROTO_RESULT_ROWS) return;
    bs_proto_rows_iter_init(&r->it, &r->resp.u.result.u.rows);
    r->has_row = 0;
}

/* The cell and its type, or BS_ERANGE. */
static int cell(const bs_client_result *r, size_t col, const bs_proto_val **v,
                const bs_type **t) {
    if (!r || !r->has_row || col >= r->ncols) return BS_ERANGE;
    *v = &r->cells[col];
    *t = bs_client_result_column_type(r, col);
    return 0;
}

int bs_client_result_get_bytes(const bs_client_result *r, size_t col,
                               const uint8_t **p, size_t *len) {
    const bs_proto_val *v;
    const bs_type *t;
    int rc = cell(r, col, &v, &t);
    if (rc) return rc;
    if (v->len < 0) {
        *p = NULL;
        *len = BS_CLIENT_NULL;
    } else {
        *p = v->p;
        *len = (size_t)v->len;
    }
    return 0;
}

int bs_client_result_is_null(const bs_client_result *r, size_t col) {
    const bs_proto_val *v;
    const bs_type *t;
    if (cell(r, col, &v, &t)) return 1;
    return v->len < 0;
}

int bs_client_result_get_bool(const bs_client_result *r, size_t col, int *out) {
    const bs_proto_val *v;
    const bs_type *t;
    int rc = cell(r, col, &v, &t);
    if (rc) return rc;
    if (t && t->kind != BS_TYPE_BOOLEAN) return BS_ETYPE;
    if (v->len < 0) return BS_ENOTFOUND;
    if (v->len != 1) return BS_ECORRUPT;
    *out = v->p[0] != 0;
    return 0;
}

int bs_client_result_get_int64(const bs_client_result *r, size_t col,
                               int64_t *out) {
    const bs_proto_val *v;
    const bs_type *t;
    int rc = cell(r, col, &v, &t);
    if (rc) return rc;
    if (!t) return BS_ETYPE;
    if (v->len < 0) return BS_ENOTFOUND;
    const uint8_t *p = v->p;
    int32_t n = v->len;
    switch (t->kind) {
    case BS_TYPE_TINYINT:
        if (n != 1) return BS_ECORRUPT;
        *out = (int8_t)p[0];
        return 0;
    case BS_TYPE_SMALLINT:
        if (n != 2) return BS_ECORRUPT;
        *out = (int16_t)bs_get_u16(p);
        return 0;
    case BS_TYPE_INT:
        if (n != 4) return BS_ECORRUPT;
        *out = (int32_t)bs_get_u32(p);
        return 0;
    case BS_TYPE_DATE:
        if (n != 4) return BS_ECORRUPT;
        *out = bs_get_u32(p);
        return 0;
    case BS_TYPE_BIGINT:
    case BS_TYPE_COUNTER:
    case BS_TYPE_TIMESTAMP:
    case BS_TYPE_TIME:
        if (n != 8) return BS_ECORRUPT;
        *out = (int64_t)bs_get_u64(p);
        return 0;
    case BS_TYPE_VARINT: {
        if (n < 1) return BS_ECORRUPT;
        if (n > 8) return BS_ERANGE;
        uint64_t u = (p[0] & 0x80) ? UINT64_MAX : 0;
        for (int32_t i = 0; i < n; i++)
            u = (u << 8) | p[i];
        *out = (int64_t)u;
        return 0;
    }
    default: return BS_ETYPE;
    }
}

int bs_client_result_get_int32(const bs_client_result *r, size_t col,
                               int32_t *out) {
    int64_t v;
    int rc = bs_client_result_get_int64(r, col, &v);
    if (rc) return rc;
    if (v < INT32_MIN || v > INT32_MAX) return BS_ERANGE;
    *out = (int32_t)v;
    return 0;
}

int bs_client_result_get_double(const bs_client_result *r, size_t col,
                                double *out) {
    const bs_proto_val *v;
    const bs_type *t;
    int rc = cell(r, col, &v, &t);
    if (rc) return rc;
    if (!t) return BS_ETYPE;
    if (v->len < 0) return BS_ENOTFOUND;
    if (t->kind == BS_TYPE_DOUBLE) {
        if (v->len != 8) return BS_ECORRUPT;
        uint64_t u = bs_get_u64(v->p);
        memcpy(out, &u, 8);
        return 0;
    }
    if (t->kind == BS_TYPE_FLOAT) {
        if (v->len != 4) return BS_ECORRUPT;
        uint32_t u = bs_get_u32(v->p);
        float f;
        memcpy(&f, &u, 4);
        *out = f;
        return 0;
    }
    int64_t i;
    rc = bs_client_result_get_int64(r, col, &i);
    if (rc) return rc;
    *out = (double)i;
    return 0;
}

int bs_client_result_get_text(const bs_client_result *r, size_t col,
                              const char **p, size_t *len) {
    const bs_proto_val *v;
    const bs_type *t;
    int rc = cell(r, col, &v, &t);
    if (rc) return rc;
    if (t && t->kind != BS_TYPE_VARCHAR && t->kind != BS_TYPE_ASCII)
        return BS_ETYPE;
    if (v->len < 0) return BS_ENOTFOUND;
    *p = v->len ? (const char *)v->p : "";
    *len = (size_t)v->len;
    return 0;
}

int bs_client_result_get_uuid(const bs_client_result *r, size_t col,
                              const uint8_t **out) {
    const bs_proto_val *v;
    const bs_type *t;
    int rc = cell(r, col, &v, &t);
    if (rc) return rc;
    if (t && t->kind != BS_TYPE_UUID && t->kind != BS_TYPE_TIMEUUID)
        return BS_ETYPE;
    if (v->len < 0) return BS_ENOTFOUND;
    if (v->len != 16) return BS_ECORRUPT;
    *out = v->p;
    return 0;
}

int bs_client_result_get_formatted(const bs_client_result *r, size_t col,
                                   int flags, bs_buf *out) {
    const bs_proto_val *v;
    const bs_type *t;
    int rc = cell(r, col, &v, &t);
    if (rc) return rc;
    if (v->len < 0) return bs_buf_append_str(out, "null");
    if (!t) return BS_ETYPE;
    return bs_value_format(t, v->p, (size_t)v->len, flags, out);
}

int bs_client_result_has_more_pages(const bs_client_result *r) {
    if (!r || r->kind != BS_PROTO_RESULT_ROWS) return 0;
    return r->resp.u.result.u.rows.meta.paging_state.len >= 0;
}

void bs_client_result_paging_state(const bs_client_result *r, const uint8_t **p,
                                   size_t *len) {
    *p = NULL;
    *len = 0;
    if (!bs_client_result_has_more_pages(r)) return;
    const bs_proto_val *ps = &r->resp.u.result.u.rows.meta.paging_state;
    *p = ps->p;
    *len = (size_t)ps->len;
}
