/*
 * exec_describe.c - server-side DESCRIBE, as Cassandra 4.0 answers it
 * (cqlsh 6 sends DESCRIBE to a server that reports 4.0 or later).
 *
 * The schema model of cql_describe.c is filled from the rows of this
 * node's system_schema.keyspaces / tables / columns (the virtual tables
 * of exec_system.c), exactly as basalt-shell fills it from the same rows
 * over the wire (client/shell_schema.c): values become CQL literals with
 * bs_value_format_cql of the column's type.  So the server's text and
 * the shell's client-side DESCRIBE are the same bytes.
 *
 * Result: Rows of varchar columns
 *   listings (KEYSPACES, TABLES, TYPES): keyspace_name, type, name
 *   the others: keyspace_name, type, name, create_statement
 * with type "keyspace" or "table"; a statement ends in ';' (no newline).
 * SCHEMA leaves out system keyspaces unless FULL.  CLUSTER answers
 * cluster, partitioner, snitch.  DESCRIBE of functions, aggregates,
 * indexes and views is refused by the parser (not supported); TYPES
 * lists none (the executor refuses user-defined types).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "query/cql_describe.h"
#include "query/exec_int.h"

/* ---- filling the model from system_schema rows ------------------------- */

typedef struct fill {
    const bs_table_schema *t;
    bs_describe *d;
    int which; /* 0 keyspaces, 1 tables, 2 columns */
    int rc;
} fill;

static const xval *col_val(const fill *f, const xrow *r, const char *name, const bs_type **type) {
    for (size_t i = 0; i < f->t->ncols; i++)
        if (!strcmp(f->t->cols[i].name, name)) {
            if (type) *type = f->t->cols[i].type;
            return r->vals[i].len == BS_VALUE_NULL ? NULL : &r->vals[i];
        }
    return NULL;
}

/* Text column as a C string in buf ("" when null). */
static void col_text(const fill *f, const xrow *r, const char *name, char *buf, size_t n) {
    const xval *v = col_val(f, r, name, NULL);
    snprintf(buf, n, "%.*s", v ? (int)v->len : 0, v ? (const char *)v->p : "");
}

/* Column as a NUL-terminated CQL literal in out; BS_ENOTFOUND when null. */
static int col_cql(const fill *f, const xrow *r, const char *name, bs_buf *out) {
    const bs_type *t;
    const xval *v = col_val(f, r, name, &t);
    if (!v) return BS_ENOTFOUND;
    bs_buf_reset(out);
    int rc = bs_value_format_cql(t, v->p, v->len, out);
    return rc ? rc : bs_buf_append_u8(out, 0);
}

static int fill_row(xctx *c, void *ud, const uint8_t *pk, size_t pklen, int64_t token, xrow *r) {
    (void)c, (void)pk, (void)pklen, (void)token;
    fill *f = ud;
    char ks[256], name[256];
    bs_buf v = BS_BUF_INIT;
    int rc = 0;
    col_text(f, r, "keyspace_name", ks, sizeof ks);
    if (f->which == 0) {
        const xval *dw = col_val(f, r, "durable_writes", NULL);
        int x = col_cql(f, r, "replication", &v);
        if (x == BS_ENOTFOUND) x = bs_buf_append_str(&v, "{}") || bs_buf_append_u8(&v, 0);
        if (!x) x = bs_describe_add_keyspace(f->d, ks, dw && dw->len == 1 ? dw->p[0] != 0 : 1,
                                             (const char *)v.data);
        rc = x == BS_EEXIST ? 0 : x;
    } else if (f->which == 1) {
        col_text(f, r, "table_name", name, sizeof name);
        rc = bs_describe_add_table(f->d, ks, name);
        if (rc == BS_EEXIST || rc == BS_ENOTFOUND) rc = 0;
        else
            for (size_t i = 0; bs_describe_table_opts[i] && !rc; i++) {
                int x = col_cql(f, r, bs_describe_table_opts[i], &v);
                if (x == BS_ENOTFOUND) continue;
                rc = x ? x
                       : bs_describe_add_table_option(f->d, ks, name, bs_describe_table_opts[i],
                                                      (const char *)v.data);
            }
    } else {
        char kind[32], order[16], type[1024];
        col_text(f, r, "table_name", name, sizeof name);
        char cname[256];
        col_text(f, r, "column_name", cname, sizeof cname);
        col_text(f, r, "kind", kind, sizeof kind);
        col_text(f, r, "clustering_order", order, sizeof order);
        col_text(f, r, "type", type, sizeof type);
        const xval *pv = col_val(f, r, "position", NULL);
        int pos = pv && pv->len == 4 ? (int32_t)bs_get_u32(pv->p) : 0;
        rc = bs_describe_add_column(f->d, ks, name, cname, kind, pos, order, type);
        if (rc == BS_ENOTFOUND) rc = 0;
    }
    bs_buf_free(&v);
    f->rc = rc;
    return rc ? 1 : 0;
}

static int load_model(xctx *c, bs_describe **out) {
    static const char *const tabs[] = {"keyspaces", "tables", "columns"};
    if (bs_describe_new(out)) return bs__x_fail(c, BS_PROTO_ERR_SERVER, "out of memory");
    for (int i = 0; i < 3; i++) {
        const bs_table_schema *t = bs_schema_table(c->schema, "system_schema", tabs[i]);
        if (!t) return bs__x_fail(c, BS_PROTO_ERR_SERVER, "no system_schema.%s", tabs[i]);
        fill f = {t, *out, i, 0};
        if (bs__x_virtual_rows(c, t, fill_row, &f) < 0 || c->failed) return -1;
        if (f.rc)
            return bs__x_fail(c, BS_PROTO_ERR_SERVER, "DESCRIBE: %s", bs_strerror(f.rc));
    }
    return 0;
}

/* ---- the answer ----------------------------------------------------------- */

typedef struct drows {
    xctx *c;
    bs_proto_rows_builder rb;
    size_t frame_start;
    int ncols;
} drows;

static int rows_begin(xctx *c, drows *o, int ncols) {
    static const char *const names[] = {"keyspace_name", "type", "name", "create_statement"};
    static bs_type vt = {BS_TYPE_VARCHAR, 0, 0, NULL, NULL, NULL, NULL};
    bs_proto_meta meta;
    memset(&meta, 0, sizeof meta);
    meta.paging_state.len = BS_PROTO_NULL;
    meta.version = c->version;
    meta.ncols = (uint32_t)ncols;
    meta.cols = bs_arena_calloc(c->a, 4 * sizeof *meta.cols);
    if (!meta.cols) return bs__x_fail(c, BS_PROTO_ERR_SERVER, "out of memory");
    for (int i = 0; i < ncols; i++) {
        meta.cols[i].keyspace = bs_proto_cstr("system");
        meta.cols[i].table = bs_proto_cstr("describe");
        meta.cols[i].name = bs_proto_cstr(names[i]);
        meta.cols[i].type = &vt;
    }
    o->c = c;
    o->ncols = ncols;
    if (bs_proto_frame_begin(c->out, 1, 0, c->stream, BS_PROTO_OP_RESULT, &o->frame_start) ||
        bs_proto_rows_begin(&o->rb, c->out, &meta))
        return bs__x_fail(c, BS_PROTO_ERR_SERVER, "out of memory");
    return 0;
}

static int text_cell(drows *o, const char *s, size_t n) {
    return bs_proto_rows_cell(&o->rb, s, (int32_t)n);
}

/* One row; stmt: the CQL (its trailing newline dropped) or NULL. */
static int row(drows *o, const char *ks, const char *type, const char *name, const bs_buf *stmt) {
    int rc = text_cell(o, ks, strlen(ks)) || text_cell(o, type, strlen(type)) ||
             text_cell(o, name, strlen(name));
    if (!rc && o->ncols == 4) {
        size_t n = stmt->len;
        while (n && stmt->data[n - 1] == '\n') n--;
        rc = text_cell(o, (const char *)stmt->data, n);
    }
    return rc ? bs__x_fail(o->c, BS_PROTO_ERR_SERVER, "out of memory") : 0;
}

static int rows_end(drows *o) {
    int rc = bs_proto_rows_finish(&o->rb);
    if (!rc) rc = bs_proto_frame_end(o->c->out, o->frame_start, o->c->comp);
    return rc ? bs__x_fail(o->c, BS_PROTO_ERR_SERVER, "cannot build the result") : 0;
}

static int is_system_ks(const char *ks) {
    return !strcmp(ks, "system") || !strncmp(ks, "system_", 7);
}

/* The keyspace row and (with_tables) one row per table. */
static int keyspace_rows(drows *o, const bs_describe *d, const char *ks, int with_tables) {
    bs_buf b = BS_BUF_INIT;
    int rc = bs_describe_keyspace_cql(d, ks, 0, &b);
    if (!rc) rc = row(o, ks, "keyspace", ks, &b);
    for (size_t i = 0; !rc && with_tables && i < bs_describe_ntables(d, ks); i++) {
        const char *t = bs_describe_table(d, ks, i);
        bs_buf_reset(&b);
        rc = bs_describe_table_cql(d, ks, t, &b);
        if (!rc) rc = row(o, ks, "table", t, &b);
    }
    bs_buf_free(&b);
    return rc > 0 ? bs__x_fail(o->c, BS_PROTO_ERR_SERVER, "out of memory") : rc;
}

static int table_row(drows *o, const bs_describe *d, const char *ks, const char *t) {
    bs_buf b = BS_BUF_INIT;
    int rc = bs_describe_table_cql(d, ks, t, &b);
    if (!rc) rc = row(o, ks, "table", t, &b);
    bs_buf_free(&b);
    return rc;
}

static int cluster_rows(xctx *c) {
    static const char *const names[] = {"cluster", "partitioner", "snitch"};
    static bs_type vt = {BS_TYPE_VARCHAR, 0, 0, NULL, NULL, NULL, NULL};
    char cluster[256] = "";
    if (c->x->be.cluster_name) snprintf(cluster, sizeof cluster, "%s", c->x->be.cluster_name);
    bs_proto_meta meta;
    memset(&meta, 0, sizeof meta);
    meta.paging_state.len = BS_PROTO_NULL;
    meta.version = c->version;
    meta.ncols = 3;
    meta.cols = bs_arena_calloc(c->a, 3 * sizeof *meta.cols);
    if (!meta.cols) return bs__x_fail(c, BS_PROTO_ERR_SERVER, "out of memory");
    for (int i = 0; i < 3; i++) {
        meta.cols[i].keyspace = bs_proto_cstr("system");
        meta.cols[i].table = bs_proto_cstr("describe");
        meta.cols[i].name = bs_proto_cstr(names[i]);
        meta.cols[i].type = &vt;
    }
    drows o = {c, {0}, 0, 3};
    if (bs_proto_frame_begin(c->out, 1, 0, c->stream, BS_PROTO_OP_RESULT, &o.frame_start) ||
        bs_proto_rows_begin(&o.rb, c->out, &meta))
        return bs__x_fail(c, BS_PROTO_ERR_SERVER, "out of memory");
    const char *p = "org.apache.cassandra.dht.Murmur3Partitioner";
    const char *sn = "org.apache.cassandra.locator.GossipingPropertyFileSnitch";
    if (text_cell(&o, cluster, strlen(cluster)) || text_cell(&o, p, strlen(p)) ||
        text_cell(&o, sn, strlen(sn)))
        return bs__x_fail(c, BS_PROTO_ERR_SERVER, "out of memory");
    return rows_end(&o);
}

static int describe(xctx *c, const bs_cql_describe *q, const bs_describe *d) {
    drows o;
    const char *cur = NULL;
    int has_cur = 0;
    if (q->what != BS_CQL_DESC_SCHEMA && q->what != BS_CQL_DESC_KEYSPACES &&
        q->what != BS_CQL_DESC_CLUSTER) {
        /* the session's keyspace (NULL when none: not an error here) */
        const char *k;
        pthread_mutex_lock(&c->sess->lock);
        has_cur = c->sess->keyspace[0] != 0;
        k = has_cur ? bs_arena_strndup(c->a, c->sess->keyspace, strlen(c->sess->keyspace)) : NULL;
        pthread_mutex_unlock(&c->sess->lock);
        cur = k;
    }
    switch ((bs_cql_desc_kind)q->what) {
    case BS_CQL_DESC_CLUSTER: return cluster_rows(c);
    case BS_CQL_DESC_KEYSPACES:
        if (rows_begin(c, &o, 3)) return -1;
        for (size_t i = 0; i < bs_describe_nkeyspaces(d); i++) {
            const char *k = bs_describe_keyspace(d, i);
            if (row(&o, k, "keyspace", k, NULL)) return -1;
        }
        return rows_end(&o);
    case BS_CQL_DESC_TABLES:
        if (rows_begin(c, &o, 3)) return -1;
        for (size_t i = 0; i < bs_describe_nkeyspaces(d); i++) {
            const char *k = bs_describe_keyspace(d, i);
            if (cur && strcmp(k, cur)) continue;
            for (size_t j = 0; j < bs_describe_ntables(d, k); j++)
                if (row(&o, k, "table", bs_describe_table(d, k, j), NULL)) return -1;
        }
        return rows_end(&o);
    case BS_CQL_DESC_TYPES: /* Basalt has no user-defined types, functions or aggregates */
    case BS_CQL_DESC_FUNCTIONS:
    case BS_CQL_DESC_AGGREGATES:
        if (rows_begin(c, &o, 3)) return -1;
        return rows_end(&o);
    case BS_CQL_DESC_TYPE:
    case BS_CQL_DESC_FUNCTION:
    case BS_CQL_DESC_AGGREGATE: {
        const char *k = q->name.ks ? q->name.ks : cur;
        if (!k) return XINVALID(c, "No keyspace specified and no current keyspace");
        if (!bs_schema_keyspace(c->schema, k)) return XINVALID(c, "'%s' not found in keyspaces", k);
        return XINVALID(c, "User defined %s '%s' not found in '%s'",
                        q->what == BS_CQL_DESC_TYPE       ? "type"
                        : q->what == BS_CQL_DESC_FUNCTION ? "function"
                                                          : "aggregate",
                        q->name.name, k);
    }
    case BS_CQL_DESC_SCHEMA:
        if (rows_begin(c, &o, 4)) return -1;
        for (size_t i = 0; i < bs_describe_nkeyspaces(d); i++) {
            const char *k = bs_describe_keyspace(d, i);
            if (!q->full && is_system_ks(k)) continue;
            if (keyspace_rows(&o, d, k, 1)) return -1;
        }
        return rows_end(&o);
    case BS_CQL_DESC_KEYSPACE:
    case BS_CQL_DESC_NAME: {
        int is_ks = q->what == BS_CQL_DESC_KEYSPACE;
        const char *k = q->name.name;
        if (q->what == BS_CQL_DESC_NAME && !q->name.ks)
            for (size_t i = 0; i < bs_describe_nkeyspaces(d); i++)
                if (!strcmp(bs_describe_keyspace(d, i), q->name.name)) is_ks = 1;
        if (is_ks) {
            if (!k) k = cur;
            if (!k) return XINVALID(c, "No keyspace specified and no current keyspace");
            if (!bs_describe_ntables(d, k) && !bs_schema_keyspace(c->schema, k))
                return XINVALID(c, "'%s' not found in keyspaces", k);
            if (rows_begin(c, &o, 4) || keyspace_rows(&o, d, k, !q->only)) return -1;
            return rows_end(&o);
        }
    } /* fall through: a table */
    /* FALLTHROUGH */
    case BS_CQL_DESC_TABLE: {
        const char *k = q->name.ks ? q->name.ks : cur;
        if (!k) return XINVALID(c, "No keyspace specified and no current keyspace");
        if (!bs_describe_ncolumns(d, k, q->name.name))
            return XINVALID(c, "'%s' not found in keyspace '%s'", q->name.name, k);
        if (rows_begin(c, &o, 4) || table_row(&o, d, k, q->name.name)) return -1;
        return rows_end(&o);
    }
    }
    return XINVALID(c, "unknown DESCRIBE");
}

int bs__x_describe(xctx *c, const bs_cql_stmt *stmt) {
    bs_describe *d = NULL;
    int rc = load_model(c, &d);
    if (!rc) rc = describe(c, &stmt->u.describe, d);
    bs_describe_free(d);
    return rc;
}
