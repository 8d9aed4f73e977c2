/*
 * exec_write.c - INSERT, UPDATE, DELETE and BATCH as mutations.
 *
 * Each statement expands its WHERE (or VALUES) keys into partitions and
 * rows and emits, per partition, one bs_mutation of cell-level ops:
 *
 *   INSERT       row marker (ts, ttl) + one op per given column
 *   UPDATE       no marker; ops per assignment
 *   DELETE       row / range / partition tombstone, or per-column ops
 *   value null   cell tombstone (simple) / collection tombstone
 *   collection   overwrite = collection tombstone at ts-1, then elements
 *
 * Collections are multi-cell: a set element or map key is the element
 * key (keycodec-encoded, so elements come back in type order) with an
 * empty value / the map value; a list element's key is 16 bytes,
 * big-endian time ticks then a per-process sequence, so appends sort
 * after everything before them; prepends use 2^63 - ticks, sorting
 * before every append and before older prepends.  Setting or deleting a
 * list element by index reads the list first (as Cassandra does).
 *
 * Timestamps: USING TIMESTAMP, else the batch's / protocol default
 * timestamp, else the coordinator's clock.  TTL: USING TTL, else the
 * table's default_time_to_live.  Conditional statements (IF ...) are
 * built here too (xctx.cas_ok) and run as lightweight transactions by
 * exec_cas.c.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/log.h"
#include "common/trace.h"
#include "query/exec_int.h"

#define TTL_MAX 630720000

typedef struct mvec {
    bs_mutation *m;
    size_t cap_ops;
} mvec;

static int add_op(xctx *c, bs_mutation *m, size_t *cap, const bs_mop *op) {
    if (m->nops == *cap) {
        size_t nc = *cap ? *cap * 2 : 4; /* an INSERT: marker + a few cells */
        bs_mop *n = bs_arena_alloc(c->a, nc * sizeof *n);
        if (!n) return bs__x_fail(c, BS_PROTO_ERR_SERVER, "out of memory");
        if (m->nops) memcpy(n, m->ops, m->nops * sizeof *n);
        m->ops = n;
        *cap = nc;
    }
    m->ops[m->nops++] = *op;
    return 0;
}

/* One mutation per partition of the statement, appended to the batch's
 * vector; *out is it and *opcap its ops capacity. */
static int new_mutation(xctx *c, const bs_table_schema *t, const uint8_t *pk,
                        size_t pklen, int64_t token, bs__x_muts *mv,
                        bs_mutation **out, size_t **opcap) {
    if (mv->n == mv->cap) {
        size_t nc = mv->cap ? mv->cap * 2 : 4;
        bs_mutation *nm = bs_arena_calloc(c->a, nc * sizeof *nm);
        size_t *no = bs_arena_calloc(c->a, nc * sizeof *no);
        if (!nm || !no)
            return bs__x_fail(c, BS_PROTO_ERR_SERVER, "out of memory");
        if (mv->n) {
            memcpy(nm, mv->m, mv->n * sizeof *nm);
            memcpy(no, mv->opcaps, mv->n * sizeof *no);
        }
        mv->m = nm;
        mv->opcaps = no;
        mv->cap = nc;
    }
    bs_mutation *m = &mv->m[mv->n++];
    memset(m, 0, sizeof *m);
    m->table_id = t->id;
    char cf[200];
    bs_table_cf_name(t, cf, sizeof cf);
    m->cf = bs_arena_strndup(c->a, cf, strlen(cf));
    m->token = token;
    m->pk = pk;
    m->pk_len = pklen;
    *out = m;
    *opcap = &mv->opcaps[mv->n - 1];
    return 0;
}

/* Fresh list element keys: n keys, increasing. */
static int list_keys(xctx *c, int prepend, size_t n, uint8_t **keys) {
    uint8_t *k = bs_arena_alloc(c->a, n * 16 + 1);
    if (!k) return bs__x_fail(c, BS_PROTO_ERR_SERVER, "out of memory");
    uint64_t ticks[64];
    uint64_t *tk = n <= 64 ? ticks : bs_arena_alloc(c->a, n * sizeof *tk);
    for (size_t i = 0; i < n; i++) {
        bs_uuid u;
        bs_uuid_v1(NULL, &u);
        tk[i] = bs_uuid_v1_timestamp(&u);
    }
    for (size_t i = 0; i < n; i++) {
        uint64_t v =
            prepend ? (1ULL << 63) - tk[n - 1 - i] : (1ULL << 63) + tk[i];
        bs_put_u64(k + 16 * i, v);
        bs_put_u64(k + 16 * i + 8, tk[i] ^ 0x5bd1e995ULL);
    }
    *keys = k;
    return 0;
}

typedef struct wctx {
    const bs_table_schema *t;
    bs_mutation *m;
    size_t *opcap;
    const uint8_t *ck;
    size_t ck_len;
    int64_t ts;
    int32_t ttl;
} wctx;

static int cell_op(xctx *c, wctx *w, const bs_column *col, uint8_t kind,
                   const uint8_t *elem, size_t elen, int has_elem,
                   const uint8_t *val, size_t vlen, int64_t ts) {
    bs_mop op;
    memset(&op, 0, sizeof op);
    op.kind = kind;
    op.is_static = col->kind == BS_COL_STATIC;
    op.col = col->id;
    op.ck = w->ck;
    op.ck_len = w->ck_len;
    op.has_elem = (uint8_t)has_elem;
    op.elem = elem;
    op.elem_len = elen;
    op.val = val;
    op.val_len = vlen;
    op.ts = ts;
    op.ttl = kind == BS_MOP_CELL ? w->ttl : 0;
    return add_op(c, w->m, w->opcap, &op);
}

/* Adds the elements of a serialized collection value as cells. */
static int add_elements(xctx *c, wctx *w, const bs_column *col, const xval *v,
                        int prepend) {
    const bs_type *t = col->type;
    bs_value_iter it;
    if (bs_value_iter_init(&it, t, v->p, v->len))
        return XINVALID(c, "Invalid collection value for %s", col->name);
    bs_value_elem e, ev;
    if (t->kind == BS_TYPE_LIST) {
        size_t n = it.count;
        uint8_t *keys = NULL;
        if (n && list_keys(c, prepend, n, &keys)) return -1;
        for (size_t i = 0; bs_value_iter_next(&it, &e) == 0; i++) {
            if (i >= n) break;
            if (cell_op(c, w, col, BS_MOP_CELL, keys + 16 * i, 16, 1, e.p,
                        e.len, w->ts))
                return -1;
        }
        return 0;
    }
    while (bs_value_iter_next(&it, &e) == 0) {
        xval ek = {e.p, e.len, 0};
        const uint8_t *key;
        size_t klen;
        if (bs__x_elem_key(c, t->params[0], &ek, &key, &klen)) return -1;
        if (t->kind == BS_TYPE_MAP) {
            if (bs_value_iter_next(&it, &ev))
                return XINVALID(c, "Invalid map value for %s", col->name);
            if (cell_op(c, w, col, BS_MOP_CELL, key, klen, 1, ev.p, ev.len,
                        w->ts))
                return -1;
        } else {
            if (cell_op(c, w, col, BS_MOP_CELL, key, klen, 1,
                        (const uint8_t *)"", 0, w->ts))
                return -1;
        }
    }
    return 0;
}

/* col = value (INSERT value or UPDATE SET). */
static int set_column(xctx *c, wctx *w, const bs_column *col, const xval *v) {
    if (v->unset) return 0;
    if (bs_type_is_multicell(col->type)) {
        if (cell_op(c, w, col, BS_MOP_COLL_DEL, NULL, 0, 0, NULL, 0, w->ts - 1))
            return -1;
        if (v->len == BS_VALUE_NULL) return 0;
        return add_elements(c, w, col, v, 0);
    }
    if (v->len == BS_VALUE_NULL)
        return cell_op(c, w, col, BS_MOP_CELL_DEL, NULL, 0, 0, NULL, 0, w->ts);
    return cell_op(c, w, col, BS_MOP_CELL, NULL, 0, 0, v->p, v->len, w->ts);
}

/* Reads the current list cells of col in the row (for index ops). */
static int read_list(xctx *c, wctx *w, const bs_column *col, bs_cellv **cells,
                     size_t *n) {
    bs_slice sl;
    memset(&sl, 0, sizeof sl);
    uint16_t id = col->id;
    sl.cols = &id;
    sl.ncols = 1;
    if (col->kind == BS_COL_STATIC) {
        sl.with_static = 1;
        sl.limit = 1;
    } else {
        sl.start.kind = BS_BOUND_INCL;
        sl.start.prefix = w->ck;
        sl.start.len = w->ck_len;
        sl.end = sl.start;
    }
    bs_partv *p = NULL;
    bs_exec_err err;
    memset(&err, 0, sizeof err);
    /* a read before the write: not on a loop (its second run would
     * write outside the loop's pass) */
    if (bs__x_must_block(c)) return -1;
    if (c->x->be.read(c->x->be.ud, w->t, w->m->token, w->m->pk, w->m->pk_len,
                      &sl, BS_CL_QUORUM == c->cl ? c->cl : c->cl, c->a, &p,
                      &err)) {
        c->failed = 1;
        c->err = err;
        return -1;
    }
    *cells = NULL;
    *n = 0;
    const bs_rowv *r = NULL;
    if (col->kind == BS_COL_STATIC)
        r = p ? p->static_row : NULL;
    else if (p && p->nrows)
        r = &p->rows[0];
    if (!r) return 0;
    *cells = r->cells;
    *n = r->ncells;
    return 0;
}

static int list_index(xctx *c, wctx *w, const bs_column *col,
                      const bs_cql_expr *idx_e, const bs_cellv **out) {
    xval iv;
    if (bs__x_term(c, idx_e, bs__x_int_type(), col->name, &iv)) return -1;
    if (iv.len != 4) return XINVALID(c, "Invalid null value for list index");
    int32_t idx = (int32_t)bs_get_u32(iv.p);
    bs_cellv *cells;
    size_t n;
    if (read_list(c, w, col, &cells, &n)) return -1;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (cells[i].col != col->id || !cells[i].has_elem) continue;
        if (k == (size_t)idx && idx >= 0) {
            *out = &cells[i];
            return 0;
        }
        k++;
    }
    return XINVALID(c, "List index %d out of bound, list has size %zu", idx, k);
}

/* c = c + n / c = c - n on a counter: an increment op (exec_counter.c). */
static int counter_add(xctx *c, wctx *w, const bs_column *col,
                       const bs_cql_assign *as, int negate) {
    xval v;
    if (bs__x_term(c, as->value, col->type, col->name, &v)) return -1;
    if (v.unset) return 0;
    if (v.len == BS_VALUE_NULL)
        return XINVALID(c, "Invalid null value for counter increment");
    if (v.len != 8)
        return XINVALID(c, "Invalid counter increment for %s", col->name);
    uint64_t d = bs_get_u64(v.p);
    if (negate) d = 0 - d; /* two's complement, as Cassandra's long */
    uint8_t *p = bs_arena_alloc(c->a, 8);
    if (!p) return bs__x_fail(c, BS_PROTO_ERR_SERVER, "out of memory");
    bs_put_u64(p, d);
    return cell_op(c, w, col, BS_MOP_COUNTER_ADD, NULL, 0, 0, p, 8, w->ts);
}

/* c = c + v / c = v + c on a collection. */
static int assign_add(xctx *c, wctx *w, const bs_column *col,
                      const bs_cql_assign *as) {
    const bs_type *t = col->type;
    if (t->kind == BS_TYPE_COUNTER && as->kind == BS_CQL_ASSIGN_ADD)
        return counter_add(c, w, col, as, 0);
    if (!bs_type_is_multicell(t)) {
        if (t->kind == BS_TYPE_COUNTER)
            return XINVALID(
                c, "Invalid operation (%s = ? + %s) for non list column %s",
                col->name, col->name, col->name);
        return XINVALID(
            c, "Invalid operation (%s = %s + ?) for non counter column %s",
            col->name, col->name, col->name);
    }
    if (as->kind == BS_CQL_ASSIGN_PREPEND && t->kind != BS_TYPE_LIST)
        return XINVALID(
            c, "Invalid operation (%s = ? + %s) for non list column %s",
            col->name, col->name, col->name);
    xval v;
    if (bs__x_term(c, as->value, t, col->name, &v)) return -1;
    if (v.unset) return 0;
    if (v.len == BS_VALUE_NULL) return 0;
    return add_elements(c, w, col, &v, as->kind == BS_CQL_ASSIGN_PREPEND);
}

/* Deletes the elements keyed by the members of v (a set value of type
 * st whose elements are keys of type kt). */
static int delete_keys(xctx *c, wctx *w, const bs_column *col,
                       const bs_type *st, const bs_type *kt, const xval *v) {
    bs_value_iter it;
    bs_value_elem e;
    if (bs_value_iter_init(&it, st, v->p, v->len))
        return XINVALID(c, "%s",
                        col->type->kind == BS_TYPE_MAP
                            ? "Invalid set value"
                            : "Invalid collection value");
    while (bs_value_iter_next(&it, &e) == 0) {
        xval ek = {e.p, e.len, 0};
        const uint8_t *key;
        size_t klen;
        if (bs__x_elem_key(c, kt, &ek, &key, &klen)) return -1;
        if (cell_op(c, w, col, BS_MOP_CELL_DEL, key, klen, 1, NULL, 0, w->ts))
            return -1;
    }
    return 0;
}

/* l = l - [values]: removes every element equal to one of the values
 * (reads the list first, as Cassandra does). */
static int list_remove(xctx *c, wctx *w, const bs_column *col, const xval *v) {
    const bs_type *t = col->type;
    bs_value_iter it;
    bs_value_elem e;
    if (bs_value_iter_init(&it, t, v->p, v->len))
        return XINVALID(c, "Invalid collection value");
    bs_cellv *cells;
    size_t n;
    if (read_list(c, w, col, &cells, &n)) return -1;
    bs_value_elem rm[256];
    size_t nrm = 0;
    while (nrm < 256 && bs_value_iter_next(&it, &e) == 0)
        rm[nrm++] = e;
    for (size_t i = 0; i < n; i++) {
        if (cells[i].col != col->id || !cells[i].has_elem) continue;
        for (size_t j = 0; j < nrm; j++) {
            int cmp = 1;
            bs_value_compare(t->params[0], cells[i].val, cells[i].val_len,
                             rm[j].p, rm[j].len, &cmp);
            if (cmp == 0) {
                if (cell_op(c, w, col, BS_MOP_CELL_DEL, cells[i].elem,
                            cells[i].elem_len, 1, NULL, 0, w->ts))
                    return -1;
                break;
            }
        }
    }
    return 0;
}

/* c = c - v on a collection (map: v is a set of keys). */
static int assign_sub(xctx *c, wctx *w, const bs_column *col,
                      const bs_cql_assign *as) {
    const bs_type *t = col->type;
    if (t->kind == BS_TYPE_COUNTER) return counter_add(c, w, col, as, 1);
    if (!bs_type_is_multicell(t))
        return XINVALID(
            c, "Invalid operation (%s = %s - ?) for non counter column %s",
            col->name, col->name, col->name);
    if (t->kind == BS_TYPE_MAP) {
        /* m = m - {keys}: a set of keys */
        bs_type st = {BS_TYPE_SET, 1, 1, NULL, NULL, NULL, NULL};
        bs_type *pp[1] = {t->params[0]};
        st.params = pp;
        xval v;
        if (bs__x_term(c, as->value, &st, col->name, &v)) return -1;
        if (v.unset || v.len == BS_VALUE_NULL) return 0;
        return delete_keys(c, w, col, &st, t->params[0], &v);
    }
    xval v;
    if (bs__x_term(c, as->value, t, col->name, &v)) return -1;
    if (v.unset || v.len == BS_VALUE_NULL) return 0;
    if (t->kind == BS_TYPE_SET)
        return delete_keys(c, w, col, t, t->params[0], &v);
    return list_remove(c, w, col, &v);
}

/* m[k] = v / l[i] = v. */
static int assign_elem(xctx *c, wctx *w, const bs_column *col,
                       const bs_cql_assign *as) {
    const bs_type *t = col->type;
    if (!bs_type_is_multicell(t) || t->kind == BS_TYPE_SET)
        return XINVALID(
            c, "Invalid operation (%s[?] = ?) for non map/list column %s",
            col->name, col->name);
    if (t->kind == BS_TYPE_MAP) {
        xval k, v;
        if (bs__x_term(c, as->key, t->params[0], col->name, &k)) return -1;
        if (k.len == BS_VALUE_NULL || k.unset)
            return XINVALID(c, "Invalid null map key for %s", col->name);
        if (bs__x_term(c, as->value, t->params[1], col->name, &v)) return -1;
        if (v.unset) return 0;
        const uint8_t *key;
        size_t klen;
        if (bs__x_elem_key(c, t->params[0], &k, &key, &klen)) return -1;
        if (v.len == BS_VALUE_NULL)
            return cell_op(c, w, col, BS_MOP_CELL_DEL, key, klen, 1, NULL, 0,
                           w->ts);
        return cell_op(c, w, col, BS_MOP_CELL, key, klen, 1, v.p, v.len, w->ts);
    }
    const bs_cellv *cell;
    if (list_index(c, w, col, as->key, &cell)) return -1;
    xval v;
    if (bs__x_term(c, as->value, t->params[0], col->name, &v)) return -1;
    if (v.unset) return 0;
    if (v.len == BS_VALUE_NULL)
        return cell_op(c, w, col, BS_MOP_CELL_DEL, cell->elem, cell->elem_len,
                       1, NULL, 0, w->ts);
    return cell_op(c, w, col, BS_MOP_CELL, cell->elem, cell->elem_len, 1, v.p,
                   v.len, w->ts);
}

static int do_assign(xctx *c, wctx *w, const bs_cql_assign *as) {
    const bs_column *col = bs_table_column(w->t, as->column);
    if (!col) return XINVALID(c, "Undefined column name %s", as->column);
    if (col->kind == BS_COL_PARTITION_KEY || col->kind == BS_COL_CLUSTERING)
        return XINVALID(c, "PRIMARY KEY part %s found in SET part", col->name);
    if (col->type->kind == BS_TYPE_COUNTER &&
        (as->kind == BS_CQL_ASSIGN_SET || as->kind == BS_CQL_ASSIGN_SET_ELEM))
        return XINVALID(c, "Cannot set the value of counter column %s (counters can only be "
                           "incremented/decremented, not set)", col->name);
    switch (as->kind) {
    case BS_CQL_ASSIGN_SET: {
        xval v;
        if (bs__x_term(c, as->value, col->type, col->name, &v)) return -1;
        return set_column(c, w, col, &v);
    }
    case BS_CQL_ASSIGN_ADD:
    case BS_CQL_ASSIGN_PREPEND: return assign_add(c, w, col, as);
    case BS_CQL_ASSIGN_SUB: return assign_sub(c, w, col, as);
    case BS_CQL_ASSIGN_SET_ELEM: return assign_elem(c, w, col, as);
    case BS_CQL_ASSIGN_SET_FIELD:
        return XINVALID(c, "User-defined types are not supported by Basalt");
    }
    return XINVALID(c, "unsupported assignment");
}

static int do_deletion(xctx *c, wctx *w, const bs_cql_deletion *d) {
    const bs_column *col = bs_table_column(w->t, d->column);
    if (!col) return XINVALID(c, "Undefined column name %s", d->column);
    if (col->kind == BS_COL_PARTITION_KEY || col->kind == BS_COL_CLUSTERING)
        return XINVALID(c,
                        "Invalid identifier %s for deletion (should not be a "
                        "PRIMARY KEY part)",
                        col->name);
    if (d->field)
        return XINVALID(c, "User-defined types are not supported by Basalt");
    const bs_type *t = col->type;
    if (!d->key) {
        /* a counter's shards are its elements (query/counter.h) */
        if (bs_type_is_multicell(t) || t->kind == BS_TYPE_COUNTER)
            return cell_op(c, w, col, BS_MOP_COLL_DEL, NULL, 0, 0, NULL, 0,
                           w->ts);
        return cell_op(c, w, col, BS_MOP_CELL_DEL, NULL, 0, 0, NULL, 0, w->ts);
    }
    if (!bs_type_is_multicell(t))
        return XINVALID(
            c, "Invalid deletion operation for non collection column %s",
            col->name);
    if (t->kind == BS_TYPE_LIST) {
        const bs_cellv *cell;
        if (list_index(c, w, col, d->key, &cell)) return -1;
        return cell_op(c, w, col, BS_MOP_CELL_DEL, cell->elem, cell->elem_len,
                       1, NULL, 0, w->ts);
    }
    xval k;
    if (bs__x_term(c, d->key, t->params[0], col->name, &k)) return -1;
    if (k.len == BS_VALUE_NULL || k.unset)
        return XINVALID(c, "Invalid null value for %s element", col->name);
    const uint8_t *key;
    size_t klen;
    if (bs__x_elem_key(c, t->params[0], &k, &key, &klen)) return -1;
    return cell_op(c, w, col, BS_MOP_CELL_DEL, key, klen, 1, NULL, 0, w->ts);
}

static int using_ts_ttl(xctx *c, const bs_cql_using *u,
                        const bs_table_schema *t, int64_t batch_ts, int64_t *ts,
                        int32_t *ttl) {
    *ts = batch_ts != INT64_MIN
              ? batch_ts
              : (c->default_ts != INT64_MIN ? c->default_ts : c->now_us);
    *ttl = (int32_t)t->default_ttl;
    if (u->timestamp) {
        int64_t v;
        if (bs__x_int_term(c, u->timestamp, "timestamp", INT64_MIN + 1,
                           INT64_MAX, &v))
            return -1;
        if (v != INT64_MIN) *ts = v;
    }
    if (u->ttl) {
        int64_t v;
        if (bs__x_int_term(c, u->ttl, "ttl", 0, TTL_MAX, &v)) return -1;
        if (v != INT64_MIN) *ttl = (int32_t)v;
    }
    return 0;
}

static int reject_conditions(xctx *c, int ifx, uint32_t nconds) {
    if ((ifx || nconds) && !c->cas_ok)
        return XINVALID(c, "Conditional updates (lightweight transactions, IF "
                           "...) are not supported by Basalt");
    return 0;
}

static int is_static_only_assign(const bs_table_schema *t,
                                 const bs_cql_update *u) {
    for (uint32_t i = 0; i < u->nassign; i++) {
        const bs_column *col = bs_table_column(t, u->assign[i].column);
        if (!col || col->kind != BS_COL_STATIC) return 0;
    }
    return u->nassign > 0;
}

/* The mutation vector one statement appends to (bs__x_modification). */
typedef struct mstmt {
    const bs_table_schema *t;
    bs__x_muts *mv;
    int64_t ts;
    int32_t ttl;
} mstmt;

/* A new mutation of partition pk in ms; *w set up to add ops to it. */
static int stmt_mutation(xctx *c, mstmt *ms, const uint8_t *pk, size_t pklen,
                         int64_t token, wctx *w) {
    bs_mutation *m = NULL;
    size_t *opcap = NULL;
    if (new_mutation(c, ms->t, pk, pklen, token, ms->mv, &m, &opcap))
        return -1;
    wctx wc = {ms->t, m, opcap, NULL, 0, ms->ts, ms->ttl};
    *w = wc;
    return 0;
}

/* INSERT's column list and values: vals/given per table column. */
static int insert_values(xctx *c, const bs_table_schema *t,
                         const bs_cql_insert *ins, xval *vals, int *given) {
    for (uint32_t i = 0; i < ins->ncols; i++) {
        const bs_column *col = bs_table_column(t, ins->cols[i]);
        if (!col) return XINVALID(c, "Undefined column name %s", ins->cols[i]);
        size_t ci = (size_t)(col - t->cols);
        if (given[ci])
            return XINVALID(c, "The column names contains duplicates");
        given[ci] = 1;
        if (bs__x_term(c, ins->values[i], col->type, col->name, &vals[ci]))
            return -1;
    }
    for (size_t k = 0; k < t->npk; k++) {
        if (!given[k])
            return XINVALID(c, "Some partition key parts are missing: %s",
                            t->cols[k].name);
        if (vals[k].unset || vals[k].len == BS_VALUE_NULL)
            return XINVALID(c, "Invalid null value in condition for column %s",
                            t->cols[k].name);
    }
    return 0;
}

/* INSERT: one mutation with a row marker (unless only static columns
 * are written without a clustering key) and a cell per given column. */
static int do_insert(xctx *c, mstmt *ms, const bs_cql_insert *ins,
                     int64_t batch_ts) {
    const bs_table_schema *t = ms->t;
    if (reject_conditions(c, ins->if_not_exists, 0)) return -1;
    if (ins->json)
        return XINVALID(c, "INSERT JSON is not supported by Basalt yet");
    if (bs__x_is_counter_table(t))
        return XINVALID(c, "INSERT statements are not allowed on counter tables, use UPDATE "
                           "instead");
    if (using_ts_ttl(c, &ins->using, t, batch_ts, &ms->ts, &ms->ttl)) return -1;
    xval *vals = bs_arena_calloc(c->a, (t->ncols + 1) * sizeof *vals);
    int *given = bs_arena_calloc(c->a, (t->ncols + 1) * sizeof *given);
    if (insert_values(c, t, ins, vals, given)) return -1;
    int static_only = 1;
    for (size_t i = t->npk + t->nck; i < t->ncols; i++)
        if (given[i] && t->cols[i].kind != BS_COL_STATIC) static_only = 0;
    int have_ck = 1;
    for (size_t k = t->npk; k < t->npk + t->nck; k++)
        have_ck &= given[k];
    if (!have_ck && !(static_only && t->nck)) {
        for (size_t k = t->npk; k < t->npk + t->nck; k++)
            if (!given[k])
                return XINVALID(c, "Some clustering keys are missing: %s",
                                t->cols[k].name);
    }
    const uint8_t *pk;
    size_t pklen;
    int64_t token;
    if (bs__x_partition_key(c, t, vals, &pk, &pklen, &token)) return -1;
    wctx w;
    if (stmt_mutation(c, ms, pk, pklen, token, &w)) return -1;
    if (have_ck && t->nck) {
        if (bs__x_clustering(c, t, vals + t->npk, t->nck, &w.ck, &w.ck_len))
            return -1;
    }
    if (have_ck) {
        bs_mop op;
        memset(&op, 0, sizeof op);
        op.kind = BS_MOP_MARKER;
        op.ck = w.ck;
        op.ck_len = w.ck_len;
        op.ts = ms->ts;
        op.ttl = ms->ttl;
        if (add_op(c, w.m, w.opcap, &op)) return -1;
    }
    for (size_t i = t->npk + t->nck; i < t->ncols; i++)
        if (given[i] && set_column(c, &w, &t->cols[i], &vals[i])) return -1;
    return 0;
}

/* UPDATE / column DELETE: does the WHERE name whole rows (or only the
 * partition, for static columns)?  *static_only set. */
static int check_row_keys(xctx *c, const bs_table_schema *t,
                          const bs_cql_stmt *s, const xwhere *wh,
                          int *static_only) {
    int full_ck = wh->ck_eq == t->nck && !wh->has_lo && !wh->has_hi;
    int is_delete = s->kind == BS_CQL_STMT_DELETE;
    *static_only =
        s->kind == BS_CQL_STMT_UPDATE && is_static_only_assign(t, &s->u.update);
    if (is_delete && s->u.del.ncols) {
        *static_only = 1;
        for (uint32_t i = 0; i < s->u.del.ncols; i++) {
            const bs_column *col = bs_table_column(t, s->u.del.cols[i].column);
            if (!col || col->kind != BS_COL_STATIC) *static_only = 0;
        }
    }
    if (is_delete && !s->u.del.ncols) return 0;
    if (full_ck ||
        (*static_only && wh->ck_eq == 0 && !wh->has_lo && !wh->has_hi))
        return 0;
    if (wh->has_lo || wh->has_hi)
        return XINVALID(c,
                        "Slice restrictions are not supported on the "
                        "clustering columns in %s statements",
                        is_delete ? "DELETE" : "UPDATE");
    for (size_t k = wh->ck_eq; k < t->nck; k++)
        return XINVALID(c, "Some clustering keys are missing: %s",
                        t->cols[t->npk + k].name);
    return 0;
}

/* DELETE FROM ... (no column list): a partition, row or range
 * tombstone per clustering prefix. */
static int delete_rows(xctx *c, wctx *w, const xwhere *wh, const uint8_t **cks,
                       const size_t *cklens, size_t nck) {
    const bs_table_schema *t = w->t;
    int full_ck = wh->ck_eq == t->nck && !wh->has_lo && !wh->has_hi;
    bs_mop op;
    memset(&op, 0, sizeof op);
    op.ts = w->ts;
    if (wh->ck_eq == 0 && !wh->has_lo && !wh->has_hi) {
        op.kind = BS_MOP_PART_DEL;
        return add_op(c, w->m, w->opcap, &op);
    }
    for (size_t r = 0; r < nck; r++) {
        if (full_ck) {
            op.kind = BS_MOP_ROW_DEL;
            op.ck = cks[r];
            op.ck_len = cklens[r];
        } else {
            op.kind = BS_MOP_RANGE_DEL;
            if (bs__x_ck_bounds(c, t, wh, cks[r], cklens[r], &op.start,
                                &op.end))
                return -1;
        }
        if (add_op(c, w->m, w->opcap, &op)) return -1;
    }
    return 0;
}

/* The WHERE, USING and IF parts of an UPDATE or DELETE. */
static int update_delete_head(xctx *c, mstmt *ms, const bs_cql_stmt *s,
                              int64_t batch_ts, xwhere *wh) {
    const bs_table_schema *t = ms->t;
    const bs_cql_relation *where;
    uint32_t nwhere;
    const bs_cql_using *u;
    if (s->kind == BS_CQL_STMT_UPDATE) {
        if (reject_conditions(c, s->u.update.if_exists, s->u.update.nconds))
            return -1;
        where = s->u.update.where;
        nwhere = s->u.update.nwhere;
        u = &s->u.update.using;
    } else {
        if (reject_conditions(c, s->u.del.if_exists, s->u.del.nconds))
            return -1;
        where = s->u.del.where;
        nwhere = s->u.del.nwhere;
        u = &s->u.del.using;
        if (u->ttl)
            return XINVALID(c, "TTL is not allowed in DELETE statements");
    }
    if (bs__x_is_counter_table(t)) {
        if (u->timestamp)
            return XINVALID(c, "Cannot provide custom timestamp for counter updates");
        if (u->ttl) return XINVALID(c, "Cannot provide custom TTL for counter updates");
    }
    if (using_ts_ttl(c, u, t, batch_ts, &ms->ts, &ms->ttl)) return -1;
    if (bs__x_where(c, t, where, nwhere, 1, wh)) return -1;
    if (!wh->pk_full) {
        for (size_t k = 0; k < t->npk; k++)
            if (!wh->npkv[k])
                return XINVALID(c, "Some partition key parts are missing: %s",
                                t->cols[k].name);
    }
    return 0;
}

/* UPDATE and DELETE: per partition of the WHERE, per row, the
 * assignments / deletions. */
static int do_update_delete(xctx *c, mstmt *ms, const bs_cql_stmt *s,
                            int64_t batch_ts) {
    const bs_table_schema *t = ms->t;
    xwhere wh;
    if (update_delete_head(c, ms, s, batch_ts, &wh)) return -1;
    const uint8_t **pks;
    size_t *pklens, npk;
    int64_t *tokens;
    if (bs__x_partition_keys(c, t, &wh, &pks, &pklens, &tokens, &npk))
        return -1;
    int is_delete = s->kind == BS_CQL_STMT_DELETE;
    int static_only;
    if (check_row_keys(c, t, s, &wh, &static_only)) return -1;
    const uint8_t **cks = NULL;
    size_t *cklens = NULL, nck = 0;
    if (!(static_only && wh.ck_eq == 0)) {
        if (bs__x_ck_prefixes(c, t, &wh, &cks, &cklens, &nck)) return -1;
    }
    for (size_t p = 0; p < npk; p++) {
        wctx w;
        if (stmt_mutation(c, ms, pks[p], pklens[p], tokens[p], &w)) return -1;
        if (is_delete && !s->u.del.ncols) {
            if (delete_rows(c, &w, &wh, cks, cklens, nck)) return -1;
            continue;
        }
        size_t rows = (static_only && wh.ck_eq == 0) ? 1 : nck;
        for (size_t r = 0; r < rows; r++) {
            w.ck = cks ? cks[r] : NULL;
            w.ck_len = cks ? cklens[r] : 0;
            if (is_delete) {
                for (uint32_t i = 0; i < s->u.del.ncols; i++)
                    if (do_deletion(c, &w, &s->u.del.cols[i])) return -1;
            } else {
                for (uint32_t i = 0; i < s->u.update.nassign; i++)
                    if (do_assign(c, &w, &s->u.update.assign[i])) return -1;
            }
        }
    }
    return 0;
}

int bs__x_modification(xctx *c, const bs_cql_stmt *s, int64_t batch_ts,
                       bs__x_muts *mv) {
    const bs_table_schema *t;
    const bs_cql_qname *q = s->kind == BS_CQL_STMT_INSERT   ? &s->u.insert.table
                            : s->kind == BS_CQL_STMT_UPDATE ? &s->u.update.table
                                                            : &s->u.del.table;
    if (bs__x_table(c, q, &t)) return -1;
    const bs_keyspace_schema *ks = bs_schema_keyspace(c->schema, t->keyspace);
    if (ks && ks->system)
        return bs__x_fail(c, BS_PROTO_ERR_UNAUTHORIZED,
                          "%s keyspace is not user-modifiable.", t->keyspace);
    mstmt ms = {t, mv, 0, 0};
    int rc = s->kind == BS_CQL_STMT_INSERT
                 ? do_insert(c, &ms, &s->u.insert, batch_ts)
                 : do_update_delete(c, &ms, s, batch_ts);
    return rc ? -1 : 0;
}

/* ---- guardrails and the backend write -------------------------------- */

/* Refuses timestamps no later write could beat (see bs_exec_limits). */
static int check_timestamps(xctx *c, const bs__x_muts *mv) {
    int64_t max = c->x->lim.max_future_timestamp_us;
    for (size_t i = 0; i < mv->n; i++)
        for (size_t k = 0; k < mv->m[i].nops; k++) {
            int64_t ts = mv->m[i].ops[k].ts;
            if (ts == INT64_MAX)
                return XINVALID(c, "Invalid timestamp %lld: no later write or "
                                   "delete could ever replace it",
                                (long long)ts);
            if (max > 0 && ts > c->now_us && ts - c->now_us > max)
                return XINVALID(
                    c,
                    "Timestamp %lld is %lld s in the future (more than "
                    "max_future_timestamp, %lld s): it would shadow every "
                    "later write and delete",
                    (long long)ts, (long long)((ts - c->now_us) / 1000000),
                    (long long)(max / 1000000));
        }
    return 0;
}

/* Bytes of keys and values mv writes, and whether it spans more than one
 * partition. */
static uint64_t batch_bytes(const bs__x_muts *mv, int *multi) {
    uint64_t b = 0;
    *multi = 0;
    for (size_t i = 0; i < mv->n; i++) {
        const bs_mutation *m = &mv->m[i];
        if (m->pk_len != mv->m[0].pk_len || strcmp(m->cf, mv->m[0].cf) ||
            memcmp(m->pk, mv->m[0].pk, m->pk_len))
            *multi = 1;
        b += m->pk_len;
        for (size_t k = 0; k < m->nops; k++)
            b += m->ops[k].ck_len + m->ops[k].elem_len + m->ops[k].val_len +
                 sizeof m->ops[k].ts;
    }
    return b;
}

/* The name of column id of m's table ("?" when unknown). */
static const char *col_name(xctx *c, const bs_mutation *m, uint16_t id) {
    const bs_table_schema *t = bs_schema_table_by_id(c->schema, &m->table_id);
    const bs_column *col = t ? bs_table_column_by_id(t, id) : NULL;
    return col ? col->name : "?";
}

/* Value and collection limits of one mutation's cells.  A collection's
 * elements are consecutive ops of one row and column with an element
 * key; a frozen collection is one value. */
static int check_cells(xctx *c, const bs_mutation *m) {
    const bs_exec_limits *l = &c->x->lim;
    uint64_t items = 0, cbytes = 0;
    for (size_t k = 0; k < m->nops; k++) {
        const bs_mop *o = &m->ops[k];
        if (o->kind != BS_MOP_CELL) continue;
        if (l->max_value_bytes && o->val_len > l->max_value_bytes)
            return XINVALID(c, "Value of column %s in %s is %zu bytes, more than "
                               "column_value_size_fail_threshold (%llu bytes)",
                            col_name(c, m, o->col), m->cf, o->val_len,
                            (unsigned long long)l->max_value_bytes);
        if (!o->has_elem) continue;
        const bs_mop *p = k ? &m->ops[k - 1] : NULL;
        int same = p && p->kind == BS_MOP_CELL && p->has_elem && p->col == o->col &&
                   p->is_static == o->is_static && p->ck_len == o->ck_len &&
                   (!o->ck_len || !memcmp(p->ck, o->ck, o->ck_len));
        if (!same) items = cbytes = 0;
        items++;
        cbytes += o->elem_len + o->val_len;
        if (l->max_collection_items && items > l->max_collection_items)
            return XINVALID(c, "Collection %s in %s has more than %llu items "
                               "(items_per_collection_fail_threshold)",
                            col_name(c, m, o->col), m->cf,
                            (unsigned long long)l->max_collection_items);
        if (l->max_collection_bytes && cbytes > l->max_collection_bytes)
            return XINVALID(c, "Collection %s in %s is more than %llu bytes "
                               "(collection_size_fail_threshold)",
                            col_name(c, m, o->col), m->cf,
                            (unsigned long long)l->max_collection_bytes);
    }
    return 0;
}

/* Cassandra's max_mutation_size (the writes to one partition of a
 * statement or batch; a batch's statements on one partition are
 * consecutive) and the value and collection guardrails. */
static int check_mutation_sizes(xctx *c, const bs__x_muts *mv) {
    const bs_exec_limits *l = &c->x->lim;
    uint64_t b = 0;
    for (size_t i = 0; i < mv->n; i++) {
        const bs_mutation *m = &mv->m[i];
        const bs_mutation *p = i ? &mv->m[i - 1] : NULL;
        if (!p || p->pk_len != m->pk_len || strcmp(p->cf, m->cf) ||
            memcmp(p->pk, m->pk, m->pk_len))
            b = 0;
        b += m->pk_len;
        for (size_t k = 0; k < m->nops; k++)
            b += m->ops[k].ck_len + m->ops[k].elem_len + m->ops[k].val_len +
                 sizeof m->ops[k].ts;
        if (l->max_mutation_bytes && b > l->max_mutation_bytes)
            return XINVALID(c, "Rejected an oversized mutation (%llu bytes) for "
                               "a partition of %s: more than max_mutation_size "
                               "(%llu bytes)",
                            (unsigned long long)b, m->cf,
                            (unsigned long long)l->max_mutation_bytes);
        if (check_cells(c, m)) return -1;
    }
    return 0;
}

/* Cassandra's batch size guardrails (batches over one partition only). */
static int check_batch_size(xctx *c, const bs__x_muts *mv) {
    const bs_exec_limits *l = &c->x->lim;
    if (mv->n < 2 || (!l->batch_size_warn_bytes && !l->batch_size_fail_bytes))
        return 0;
    int multi;
    uint64_t b = batch_bytes(mv, &multi);
    if (!multi) return 0;
    if (l->batch_size_fail_bytes && b > l->batch_size_fail_bytes)
        return XINVALID(c,
                        "Batch too large: %llu bytes over several partitions, "
                        "more than batch_size_fail_threshold (%llu bytes)",
                        (unsigned long long)b,
                        (unsigned long long)l->batch_size_fail_bytes);
    if (l->batch_size_warn_bytes && b > l->batch_size_warn_bytes) {
        int64_t last = atomic_load(&c->x->batch_warned_us);
        if (c->now_us - last > 10 * 1000000 &&
            atomic_compare_exchange_strong(&c->x->batch_warned_us, &last,
                                           c->now_us))
            BS_WARN("exec",
                    "Batch for %s of %llu bytes over several partitions "
                    "exceeds batch_size_warn_threshold (%llu bytes)",
                    mv->m[0].cf, (unsigned long long)b,
                    (unsigned long long)l->batch_size_warn_bytes);
    }
    return 0;
}

/* What a deferred write's completion needs to answer (request arena). */
typedef struct xdefer {
    bs_buf *out;
    int16_t stream;
    bs_proto_compression comp;
    uint8_t version;
    uint16_t cl;
    const char *write_type;
    void (*done)(void *dud, int again);
    void *dud;
} xdefer;

/* The backend's completion (another thread): the response, then the
 * caller's done. */
static void deferred_done(void *ud, int rc, const bs_exec_err *err) {
    xdefer *q = ud;
    xctx c;
    memset(&c, 0, sizeof c);
    c.out = q->out;
    c.stream = q->stream;
    c.comp = q->comp;
    c.version = q->version;
    c.cl = q->cl;
    if (rc) {
        c.failed = 1;
        c.err = *err;
        if (!c.err.write_type) c.err.write_type = q->write_type;
        (void)bs__x_error_frame(&c);
    } else {
        (void)bs__x_void_result(&c);
    }
    q->done(q->dud, 0); /* an empty out: the caller answers SERVER_ERROR */
}

/* The write through be.write_async: in flight (c->deferred), or done. */
static int write_deferred(xctx *c, const bs__x_muts *mv, const char *write_type) {
    xdefer *q = bs_arena_alloc(c->a, sizeof *q);
    if (!q) return bs__x_fail(c, BS_PROTO_ERR_SERVER, "out of memory");
    *q = (xdefer){c->out, c->stream, c->comp, c->version, c->cl, write_type, c->adone, c->adud};
    bs_exec_err err;
    memset(&err, 0, sizeof err);
    int rc = c->x->be.write_async(c->x->be.ud, mv->m, mv->n, c->cl, &err, deferred_done, q);
    if (rc == 1) {
        c->deferred = 1;
        return 0;
    }
    if (rc) {
        c->failed = 1;
        c->err = err;
        if (!c->err.write_type) c->err.write_type = write_type;
        return -1;
    }
    return 0;
}

int bs__x_apply(xctx *c, const bs__x_muts *mv, int logged,
                const char *write_type) {
    if (!mv->n) return 0;
    if (check_timestamps(c, mv) || check_batch_size(c, mv) ||
        check_mutation_sizes(c, mv))
        return -1;
    if (bs__x_counter_muts(mv)) return bs__x_counter_apply(c, mv);
    bs_exec_err err;
    memset(&err, 0, sizeof err);
    if (c->adone && !logged && c->x->be.write_async && !bs_trace_current())
        return write_deferred(c, mv, write_type);
    if (c->x->be.write(c->x->be.ud, mv->m, mv->n, c->cl, logged, &err)) {
        c->failed = 1;
        c->err = err;
        if (!c->err.write_type) c->err.write_type = write_type;
        return -1;
    }
    return 0;
}

int bs__x_write(xctx *c, const bs_cql_stmt *s) {
    bs__x_muts mv;
    memset(&mv, 0, sizeof mv);
    int logged = 0;
    if (s->kind == BS_CQL_STMT_BATCH) {
        const bs_cql_batch *b = &s->u.batch;
        if (bs__x_batch_counter_check(c, b->kind, b->using.timestamp != NULL, b->stmts,
                                      b->nstmts))
            return -1;
        logged = b->kind == BS_CQL_BATCH_LOGGED;
        int64_t bts = INT64_MIN;
        if (b->using.timestamp) {
            if (bs__x_int_term(c, b->using.timestamp, "timestamp",
                               INT64_MIN + 1, INT64_MAX, &bts))
                return -1;
        }
        int conditional = 0;
        for (uint32_t i = 0; i < b->nstmts; i++)
            conditional |= bs__x_is_conditional(b->stmts[i]);
        if (conditional) {
            bs__x_cas_stmt *ks =
                bs_arena_calloc(c->a, (b->nstmts + 1) * sizeof *ks);
            if (!ks) return bs__x_fail(c, BS_PROTO_ERR_SERVER, "out of memory");
            for (uint32_t i = 0; i < b->nstmts; i++)
                ks[i] = (bs__x_cas_stmt){b->stmts[i], c->binds, c->nbinds};
            return bs__x_cas(c, ks, b->nstmts, 1, bts);
        }
        for (uint32_t i = 0; i < b->nstmts; i++) {
            const bs_cql_stmt *k = b->stmts[i];
            if (k->kind == BS_CQL_STMT_INSERT
                    ? k->u.insert.using.timestamp != NULL
                : k->kind == BS_CQL_STMT_UPDATE
                    ? k->u.update.using.timestamp != NULL
                    : k->u.del.using.timestamp != NULL) {
                if (bts != INT64_MIN)
                    return XINVALID(c, "Timestamp must be set either on BATCH "
                                       "or individual statements");
            }
            if (bs__x_modification(c, k, bts, &mv)) return -1;
        }
    } else {
        if (bs__x_is_conditional(s)) {
            bs__x_cas_stmt k = {s, c->binds, c->nbinds};
            return bs__x_cas(c, &k, 1, 0, INT64_MIN);
        }
        if (bs__x_modification(c, s, INT64_MIN, &mv)) return -1;
    }
    if (bs__x_apply(c, &mv, logged,
                    s->kind == BS_CQL_STMT_BATCH ? "BATCH" : "SIMPLE"))
        return -1;
    return c->deferred ? 0 : bs__x_void_result(c);
}
