/*
 * exec_cas.c - conditional INSERT / UPDATE / DELETE and conditional
 * batches: lightweight transactions.
 *
 * The statements build their mutations as usual (exec_write.c, with
 * xctx.cas_ok), all stamped with one base timestamp; the backend's cas
 * (a Paxos round per partition, node/coord/coord_paxos.c) reads the rows
 * the conditions name at the serial quorum, calls check() below, and
 * when every condition holds commits the mutations with their
 * timestamps moved to the ballot's time.  Rules, as Cassandra's:
 *
 *   - one partition of one table (a batch over more is InvalidRequest),
 *     one row per statement (no IN on clustering columns, no range
 *     deletions), no USING TIMESTAMP;
 *   - IF NOT EXISTS: the row has no live cell nor marker; IF EXISTS: it
 *     has; IF c op v [AND ...]: ops = != < <= > >= IN, and m[k] = v on
 *     maps.  A missing row or cell reads as null: `c = null` holds, `c !=
 *     v` holds, orderings do not (ordering against a null literal is
 *     InvalidRequest).  No conditions on primary key columns.
 *   - the answer is a Rows result whose first column is [applied]
 *     (boolean).  Not applied: the current values follow - every column
 *     for IF [NOT] EXISTS, else the conditions' columns (a batch adds the
 *     primary key columns and gives one row per row read); when the row
 *     does not exist only [applied] is returned.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "query/exec_int.h"

enum { IFX_NONE = 0, IFX_EXISTS = 1, IFX_NOT_EXISTS = 2 };

typedef struct cstmt {
    const bs_cql_stmt *s;
    xval *binds;
    uint32_t nbinds;
    int ifx;
    const bs_cql_relation *conds;
    uint32_t nconds;
    int has_ck; /* names a row (else the static row / partition) */
    const uint8_t *ck;
    size_t ck_len;
} cstmt;

typedef struct cas {
    xctx *c;
    const bs_table_schema *t;
    cstmt *k;
    size_t n;
    int is_batch;
    int64_t now_s;
} cas;

int bs__x_is_conditional(const bs_cql_stmt *s) {
    switch (s->kind) {
    case BS_CQL_STMT_INSERT: return s->u.insert.if_not_exists;
    case BS_CQL_STMT_UPDATE: return s->u.update.if_exists || s->u.update.nconds;
    case BS_CQL_STMT_DELETE: return s->u.del.if_exists || s->u.del.nconds;
    default: return 0;
    }
}

static void describe(cstmt *k) {
    const bs_cql_stmt *s = k->s;
    if (s->kind == BS_CQL_STMT_INSERT) {
        k->ifx = s->u.insert.if_not_exists ? IFX_NOT_EXISTS : IFX_NONE;
    } else if (s->kind == BS_CQL_STMT_UPDATE) {
        k->ifx = s->u.update.if_exists ? IFX_EXISTS : IFX_NONE;
        k->conds = s->u.update.conds;
        k->nconds = s->u.update.nconds;
    } else {
        k->ifx = s->u.del.if_exists ? IFX_EXISTS : IFX_NONE;
        k->conds = s->u.del.conds;
        k->nconds = s->u.del.nconds;
    }
}

static int has_timestamp(const bs_cql_stmt *s) {
    return s->kind == BS_CQL_STMT_INSERT   ? s->u.insert.using.timestamp != NULL
           : s->kind == BS_CQL_STMT_UPDATE ? s->u.update.using.timestamp != NULL
           : s->kind == BS_CQL_STMT_DELETE ? s->u.del.using.timestamp != NULL
                                           : 0;
}

/* The row statement k writes, from its ops m[m0..mv->n). */
static int stmt_row(cas *x, cstmt *k, const bs__x_muts *mv, size_t m0) {
    const bs_table_schema *t = x->t;
    for (size_t i = m0; i < mv->n; i++) {
        const bs_mutation *m = &mv->m[i];
        for (size_t o = 0; o < m->nops; o++) {
            const bs_mop *op = &m->ops[o];
            if (op->kind == BS_MOP_RANGE_DEL || (op->kind == BS_MOP_PART_DEL && t->nck))
                return XINVALID(x->c, "DELETE statements must restrict all PRIMARY KEY columns "
                                      "with equality relations in order to use IF conditions");
            if (op->is_static) continue;
            const uint8_t *ck = op->kind == BS_MOP_PART_DEL ? NULL : op->ck;
            size_t cl = op->kind == BS_MOP_PART_DEL ? 0 : op->ck_len;
            if (k->has_ck && (k->ck_len != cl || (cl && memcmp(k->ck, ck, cl))))
                return XINVALID(x->c, "IN on the clustering key columns is not supported "
                                      "with conditional %s",
                                k->s->kind == BS_CQL_STMT_DELETE ? "deletions" : "updates");
            k->has_ck = 1;
            k->ck = ck;
            k->ck_len = cl;
        }
    }
    if (!t->nck) k->has_ck = 1; /* the partition is the row */
    return 0;
}

/* Conditions name regular or static columns that exist. */
static int check_conds(cas *x, const cstmt *k) {
    for (uint32_t i = 0; i < k->nconds; i++) {
        const bs_cql_relation *r = &k->conds[i];
        const bs_column *col = bs_table_column(x->t, r->column);
        if (!col) return XINVALID(x->c, "Undefined column name %s", r->column);
        if (col->kind == BS_COL_PARTITION_KEY || col->kind == BS_COL_CLUSTERING)
            return XINVALID(x->c, "PRIMARY KEY column '%s' cannot have IF conditions",
                            col->name);
        if (r->lhs == BS_CQL_LHS_FIELD)
            return XINVALID(x->c, "Conditions on user-defined type fields are not supported "
                                  "by Basalt");
        if (r->lhs == BS_CQL_LHS_ELEM && col->type->kind != BS_TYPE_MAP)
            return XINVALID(x->c, "Element conditions are only supported on map columns "
                                  "(%s) by Basalt",
                            col->name);
    }
    return 0;
}

/* ---- reading the current row ------------------------------------------- */

static const bs_rowv *find_row(const bs_partv *p, const cstmt *k) {
    if (!p || !k->has_ck) return NULL;
    for (size_t i = 0; i < p->nrows; i++)
        if (p->rows[i].ck_len == k->ck_len &&
            (!k->ck_len || !memcmp(p->rows[i].ck, k->ck, k->ck_len)))
            return &p->rows[i];
    return NULL;
}

/* Values of every column of row r (NULL: only the static row) of p. */
static int make_row(cas *x, const bs_partv *p, const bs_rowv *r, xrow *out) {
    xctx *c = x->c;
    const bs_table_schema *t = x->t;
    size_t n = t->ncols + 1;
    out->vals = bs_arena_alloc(c->a, n * sizeof *out->vals);
    out->wt = bs_arena_alloc(c->a, n * sizeof *out->wt);
    out->ttl = bs_arena_calloc(c->a, n * sizeof *out->ttl);
    if (!out->vals || !out->wt || !out->ttl)
        return bs__x_fail(c, BS_PROTO_ERR_SERVER, "out of memory");
    for (size_t i = 0; i < n; i++) {
        out->vals[i] = (xval){NULL, BS_VALUE_NULL, 0};
        out->wt[i] = INT64_MIN;
    }
    if (!p) return 0;
    if (bs__x_split_partition_key(c, t, p->pk, p->pk_len, out->vals)) return -1;
    if (r && t->nck && bs__x_split_clustering(c, t, r->ck, r->ck_len, out->vals + t->npk))
        return -1;
    if (p->static_row && bs__x_assemble_cells(c, t, x->now_s, p->static_row, out)) return -1;
    if (r && bs__x_assemble_cells(c, t, x->now_s, r, out)) return -1;
    return 0;
}

/* ---- conditions -------------------------------------------------------- */

static int cmp_holds(uint8_t op, int cmp) {
    switch (op) {
    case BS_CQL_OP_EQ: return cmp == 0;
    case BS_CQL_OP_NEQ: return cmp != 0;
    case BS_CQL_OP_LT: return cmp < 0;
    case BS_CQL_OP_LTE: return cmp <= 0;
    case BS_CQL_OP_GT: return cmp > 0;
    case BS_CQL_OP_GTE: return cmp >= 0;
    default: return 0;
    }
}

static const char *op_name(uint8_t op) {
    static const char *n[] = {"=", "!=", "<", "<=", ">", ">="};
    int i = (int)op - (int)BS_CQL_OP_EQ;
    return i >= 0 && i < 6 ? n[i] : "?";
}

/* One condition on row values; *ok whether it holds. */
static int eval_cond(cas *x, const bs_cql_relation *r, const xval *row, int *ok) {
    xctx *c = x->c;
    const bs_column *col = bs_table_column(x->t, r->column);
    *ok = 0;
    const xval *v = &row[col - x->t->cols];
    int vnull = v->len == BS_VALUE_NULL;
    if (r->lhs == BS_CQL_LHS_ELEM) return bs__x_filter(c, x->t, r, row, ok);
    if (r->op == BS_CQL_OP_IN) { /* a null element matches a null cell */
        if (!r->in && r->rhs) return bs__x_filter(c, x->t, r, row, ok); /* IN ? */
        for (uint32_t i = 0; i < r->nin && !*ok; i++) {
            xval w;
            if (bs__x_term(c, r->in[i], col->type, col->name, &w)) return -1;
            int wnull = w.len == BS_VALUE_NULL || w.unset;
            int cmp = 1;
            if (wnull || vnull) *ok = wnull && vnull;
            else if (!bs_value_compare(col->type, v->p, v->len, w.p, w.len, &cmp))
                *ok = cmp == 0;
        }
        return 0;
    }
    if ((int)r->op - (int)BS_CQL_OP_EQ < 0 || (int)r->op - (int)BS_CQL_OP_EQ > 5)
        return XINVALID(c, "Unsupported operator in IF condition on %s", col->name);
    xval want;
    if (bs__x_term(c, r->rhs, col->type, col->name, &want)) return -1;
    int wnull = want.len == BS_VALUE_NULL || want.unset;
    if (wnull && r->op != BS_CQL_OP_EQ && r->op != BS_CQL_OP_NEQ)
        return XINVALID(c, "Invalid comparison with null for operator \"%s\"", op_name(r->op));
    if (wnull || vnull) {
        int same = wnull && vnull;
        *ok = r->op == BS_CQL_OP_EQ ? same : r->op == BS_CQL_OP_NEQ ? !same : 0;
        return 0;
    }
    int cmp = 0;
    if (bs_value_compare(col->type, v->p, v->len, want.p, want.len, &cmp))
        return XINVALID(c, "Cannot compare values of column %s", col->name);
    *ok = cmp_holds(r->op, cmp);
    return 0;
}

/* Whether statement k's conditions hold on partition p. */
static int stmt_holds(cas *x, const cstmt *k, const bs_partv *p, int *ok) {
    const bs_rowv *r = find_row(p, k);
    int exists = k->has_ck ? r != NULL : (p && p->static_row);
    if (k->ifx == IFX_EXISTS || k->ifx == IFX_NOT_EXISTS) {
        *ok = k->ifx == IFX_EXISTS ? exists : !exists;
        return 0;
    }
    xrow row;
    if (make_row(x, p, r, &row)) return -1;
    *ok = 1;
    x->c->binds = k->binds;
    x->c->nbinds = k->nbinds;
    for (uint32_t i = 0; i < k->nconds && *ok; i++)
        if (eval_cond(x, &k->conds[i], row.vals, ok)) return -1;
    return 0;
}

/* bs_exec_cas.check */
static int cas_check(void *ud, const bs_partv *p) {
    cas *x = ud;
    for (size_t i = 0; i < x->n; i++) {
        int ok;
        if (stmt_holds(x, &x->k[i], p, &ok)) return -1;
        if (!ok) return 0;
    }
    return 1;
}

/* ---- the answer -------------------------------------------------------- */

static bs_type g_bool = {BS_TYPE_BOOLEAN, 0, 0, NULL, NULL, NULL, NULL};

/* Column indexes shown when not applied (in *cols, count *n). */
static int shown_columns(cas *x, int **cols, size_t *n) {
    const bs_table_schema *t = x->t;
    int *v = bs_arena_calloc(x->c->a, (t->ncols + 1) * sizeof *v);
    char *seen = bs_arena_calloc(x->c->a, t->ncols + 1);
    if (!v || !seen) return bs__x_fail(x->c, BS_PROTO_ERR_SERVER, "out of memory");
    int wild = 0;
    for (size_t i = 0; i < x->n; i++) wild |= x->k[i].ifx != IFX_NONE;
    size_t m = 0;
    for (size_t ci = 0; ci < t->ncols; ci++)
        if (wild || (x->is_batch && ci < t->npk + t->nck)) {
            v[m++] = (int)ci;
            seen[ci] = 1;
        }
    for (size_t i = 0; !wild && i < x->n; i++)
        for (uint32_t j = 0; j < x->k[i].nconds; j++) {
            size_t ci = (size_t)(bs_table_column(t, x->k[i].conds[j].column) - t->cols);
            if (!seen[ci]) {
                seen[ci] = 1;
                v[m++] = (int)ci;
            }
        }
    *cols = v;
    *n = m;
    return 0;
}

/* The rows of p the statements name (NULL entry: the static row only). */
static size_t shown_rows(cas *x, const bs_partv *p, const bs_rowv **out) {
    size_t m = 0;
    if (!p) return 0;
    for (size_t i = 0; i < p->nrows; i++)
        for (size_t j = 0; j < x->n; j++)
            if (find_row(p, &x->k[j]) == &p->rows[i]) {
                out[m++] = &p->rows[i];
                break;
            }
    int static_stmt = 0;
    for (size_t j = 0; j < x->n; j++) static_stmt |= !x->k[j].has_ck;
    if (!m && static_stmt && p->static_row) out[m++] = NULL;
    return x->is_batch || m <= 1 ? m : 1;
}

static int cas_result(cas *x, const bs_partv *p, int applied) {
    xctx *c = x->c;
    const bs_table_schema *t = x->t;
    int *cols = NULL;
    size_t ncols = 0, nrows = 0;
    const bs_rowv **rows = bs_arena_calloc(c->a, ((p ? p->nrows : 0) + 2) * sizeof *rows);
    if (!rows) return bs__x_fail(c, BS_PROTO_ERR_SERVER, "out of memory");
    if (!applied && (nrows = shown_rows(x, p, rows)) && shown_columns(x, &cols, &ncols))
        return -1;
    bs_proto_meta meta;
    memset(&meta, 0, sizeof meta);
    meta.paging_state.len = BS_PROTO_NULL;
    meta.version = c->version;
    meta.ncols = (uint32_t)(ncols + 1);
    meta.cols = bs_arena_calloc(c->a, (ncols + 1) * sizeof *meta.cols);
    if (!meta.cols) return bs__x_fail(c, BS_PROTO_ERR_SERVER, "out of memory");
    for (size_t i = 0; i <= ncols; i++) {
        meta.cols[i].keyspace = bs_proto_cstr(t->keyspace);
        meta.cols[i].table = bs_proto_cstr(t->name);
        meta.cols[i].name = bs_proto_cstr(i ? t->cols[cols[i - 1]].name : "[applied]");
        meta.cols[i].type = i ? t->cols[cols[i - 1]].type : &g_bool;
    }
    size_t fs;
    bs_proto_rows_builder rb;
    int rc = bs_proto_frame_begin(c->out, 1, 0, c->stream, BS_PROTO_OP_RESULT, &fs);
    if (!rc) rc = bs_proto_rows_begin(&rb, c->out, &meta);
    uint8_t flag = applied ? 1 : 0;
    for (size_t r = 0; !rc && r < (nrows ? nrows : 1); r++) {
        rc = bs_proto_rows_cell(&rb, &flag, 1);
        if (!nrows) break;
        xrow row;
        if (make_row(x, p, rows[r], &row)) return -1;
        for (size_t i = 0; !rc && i < ncols; i++) {
            const xval *v = &row.vals[cols[i]];
            rc = bs_proto_rows_cell(&rb, v->p, v->len == BS_VALUE_NULL ? -1 : (int32_t)v->len);
        }
    }
    if (!rc) rc = bs_proto_rows_finish(&rb);
    if (!rc) rc = bs_proto_frame_end(c->out, fs, c->comp);
    if (rc)
        return bs__x_fail(c, BS_PROTO_ERR_SERVER, "cannot build the result: %s", bs_strerror(rc));
    return 0;
}

/* ---- the transaction ----------------------------------------------------- */

/* Builds every statement's mutations (all stamped base) into mv. */
static int build(cas *x, const bs__x_cas_stmt *ks, int64_t base, bs__x_muts *mv) {
    xctx *c = x->c;
    for (size_t i = 0; i < x->n; i++) {
        cstmt *k = &x->k[i];
        k->s = ks[i].s;
        k->binds = ks[i].binds;
        k->nbinds = ks[i].nbinds;
        describe(k);
        if (has_timestamp(k->s))
            return XINVALID(c, "Cannot provide custom timestamp for conditional updates");
        c->binds = k->binds;
        c->nbinds = k->nbinds;
        c->stmt = k->s;
        const bs_cql_qname *qn = k->s->kind == BS_CQL_STMT_INSERT   ? &k->s->u.insert.table
                                 : k->s->kind == BS_CQL_STMT_UPDATE ? &k->s->u.update.table
                                                                    : &k->s->u.del.table;
        const bs_table_schema *ct;
        if (bs__x_table(c, qn, &ct)) return -1;
        if (bs__x_is_counter_table(ct))
            return XINVALID(c, "Conditional updates are not supported on counter tables");
        size_t m0 = mv->n;
        c->cas_ok = 1;
        int rc = bs__x_modification(c, k->s, base, mv);
        c->cas_ok = 0;
        if (rc) return -1;
        if (mv->n == m0) continue; /* e.g. all values unset */
        const bs_table_schema *t = bs_schema_table_by_id(c->schema, &mv->m[m0].table_id);
        if (!t) return XINVALID(c, "Unknown table");
        if (x->t && x->t != t)
            return XINVALID(c, "Batch with conditions cannot span multiple tables");
        x->t = t;
        if (stmt_row(x, k, mv, m0) || check_conds(x, k)) return -1;
    }
    if (!mv->n) return XINVALID(c, "A conditional update must write something");
    for (size_t i = 1; i < mv->n; i++)
        if (mv->m[i].pk_len != mv->m[0].pk_len || memcmp(mv->m[i].pk, mv->m[0].pk, mv->m[0].pk_len))
            return XINVALID(c, x->is_batch ? "Batch with conditions cannot span multiple partitions"
                                           : "IN on the partition key is not supported with "
                                             "conditional updates");
    return 0;
}

/* The slice the conditions read: the rows the statements name, and the
 * static row. */
static void cas_slice(const cas *x, bs_slice *sl) {
    memset(sl, 0, sizeof *sl);
    sl->with_static = 1;
    sl->now_s = x->now_s;
    if (!x->t->nck) return;
    const cstmt *lo = NULL, *hi = NULL;
    for (size_t i = 0; i < x->n; i++) {
        const cstmt *k = &x->k[i];
        if (!k->has_ck) continue;
        size_t l = lo ? (lo->ck_len < k->ck_len ? lo->ck_len : k->ck_len) : 0;
        if (!lo || memcmp(k->ck, lo->ck, l) < 0 || (!memcmp(k->ck, lo->ck, l) && k->ck_len < lo->ck_len))
            lo = k;
        l = hi ? (hi->ck_len < k->ck_len ? hi->ck_len : k->ck_len) : 0;
        if (!hi || memcmp(k->ck, hi->ck, l) > 0 || (!memcmp(k->ck, hi->ck, l) && k->ck_len > hi->ck_len))
            hi = k;
    }
    if (!lo) {
        sl->limit = 1;
        return;
    }
    sl->start = (bs_bound){BS_BOUND_INCL, lo->ck, lo->ck_len};
    sl->end = (bs_bound){BS_BOUND_INCL, hi->ck, hi->ck_len};
}

int bs__x_cas(xctx *c, const bs__x_cas_stmt *ks, size_t n, int is_batch, int64_t batch_ts) {
    if (!c->x->be.cas)
        return XINVALID(c, "Conditional updates (lightweight transactions) are not supported "
                           "by this node");
    if (batch_ts != INT64_MIN)
        return XINVALID(c, "Cannot provide custom timestamp for conditional BATCH");
    cas x;
    memset(&x, 0, sizeof x);
    x.c = c;
    x.n = n;
    x.is_batch = is_batch;
    x.now_s = c->now_us / 1000000;
    x.k = bs_arena_calloc(c->a, (n + 1) * sizeof *x.k);
    if (!x.k) return bs__x_fail(c, BS_PROTO_ERR_SERVER, "out of memory");
    int64_t base = c->now_us;
    bs__x_muts mv;
    memset(&mv, 0, sizeof mv);
    xval *binds = c->binds;
    uint32_t nbinds = c->nbinds;
    if (build(&x, ks, base, &mv)) return -1;
    bs_slice sl;
    cas_slice(&x, &sl);
    bs_exec_cas q = {x.t, mv.m[0].token, mv.m[0].pk, mv.m[0].pk_len, &sl, mv.m, mv.n, base,
                     c->serial_cl, c->cl, cas_check, &x};
    bs_exec_err err;
    memset(&err, 0, sizeof err);
    bs_partv *cur = NULL;
    int applied = 0;
    int rc = c->x->be.cas(c->x->be.ud, &q, c->a, &cur, &applied, &err);
    c->binds = binds;
    c->nbinds = nbinds;
    if (rc) {
        if (c->failed) return -1;
        c->failed = 1;
        c->err = err;
        return -1;
    }
    return cas_result(&x, cur, applied);
}
