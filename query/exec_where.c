/*
 * exec_where.c - WHERE clause analysis: which relations the key can serve
 * (partition key =/IN, token ranges, a clustering =/IN prefix followed by
 * one slice) and which must filter rows (regular columns, partial keys).
 *
 * Bounds.  A clustering slice under an encoded = prefix P becomes storage
 * bounds.  Encoded clustering keys sort in clustering order, where a DESC
 * column's order is reversed, so for a DESC slice column "c > v" bounds
 * the END of the storage range and "c < v" its START.  Multi-column
 * slices (a, b) > (x, y) compare lexicographically in clustering order
 * when every column has the same direction (mixed directions are
 * rejected as not supported).
 */
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "query/exec_int.h"
#include "ring/murmur3.h"
#include "storage/keycodec.h"

static int col_index(const bs_table_schema *t, const char *name) {
    for (size_t i = 0; i < t->ncols; i++)
        if (!strcmp(t->cols[i].name, name)) return (int)i;
    return -1;
}

/* Values of the right-hand side of = or IN for column type ct. */
static int rhs_values(xctx *c, const bs_cql_relation *r, const bs_type *ct,
                      const char *name, xval **vals, size_t *n) {
    if (r->op == BS_CQL_OP_EQ) {
        *vals = bs_arena_calloc(c->a, sizeof **vals);
        *n = 1;
        if (bs__x_term(c, r->rhs, ct, name, &(*vals)[0])) return -1;
        if ((*vals)[0].unset)
            return XINVALID(c, "Invalid unset value for column %s", name);
        if ((*vals)[0].len == BS_VALUE_NULL)
            return XINVALID(c, "Invalid null value in condition for column %s",
                            name);
        return 0;
    }
    /* IN */
    if (r->in_list) {
        *vals = bs_arena_calloc(c->a, (r->nin + 1) * sizeof **vals);
        *n = 0;
        for (uint32_t i = 0; i < r->nin; i++) {
            xval v;
            if (bs__x_term(c, r->in[i], ct, name, &v)) return -1;
            if (v.len == BS_VALUE_NULL || v.unset)
                return XINVALID(
                    c, "Invalid null value in condition for column %s", name);
            /* dedupe, keep sorted by type order */
            size_t at = *n;
            int dup = 0;
            for (size_t j = 0; j < *n; j++) {
                int cmp = 0;
                bs_value_compare(ct, (*vals)[j].p, (*vals)[j].len, v.p, v.len,
                                 &cmp);
                if (cmp == 0) {
                    dup = 1;
                    break;
                }
                if (cmp > 0 && at == *n) at = j;
            }
            if (dup) continue;
            memmove(&(*vals)[at + 1], &(*vals)[at], (*n - at) * sizeof **vals);
            (*vals)[at] = v;
            (*n)++;
        }
        return 0;
    }
    /* IN ? : a list value */
    bs_type lt = {BS_TYPE_LIST, 0, 1, NULL, NULL, NULL, NULL};
    bs_type *pp[1] = {(bs_type *)ct};
    lt.params = pp;
    xval lv;
    if (bs__x_term(c, r->rhs, &lt, name, &lv)) return -1;
    if (lv.len == BS_VALUE_NULL || lv.unset)
        return XINVALID(c, "Invalid null value for IN restriction on %s", name);
    bs_value_iter it;
    if (bs_value_iter_init(&it, &lt, lv.p, lv.len))
        return XINVALID(c, "Invalid IN value for %s", name);
    *vals = bs_arena_calloc(c->a, (it.count + 1) * sizeof **vals);
    *n = 0;
    bs_value_elem e;
    while (bs_value_iter_next(&it, &e) == 0) {
        (*vals)[*n].p = e.p;
        (*vals)[*n].len = e.len;
        (*vals)[*n].unset = 0;
        (*n)++;
    }
    return 0;
}

/* Values of a multi-column tuple term: (a, b) op (x, y) or op ?. */
static int tuple_values(xctx *c, const bs_table_schema *t,
                        const bs_cql_relation *r, const bs_cql_expr *e,
                        xval **vals) {
    *vals = bs_arena_calloc(c->a, (r->ncols + 1) * sizeof **vals);
    if (e->kind == BS_CQL_EXPR_TUPLE) {
        if (e->n != r->ncols)
            return XINVALID(c,
                            "Expected %u elements in value tuple, but got %u",
                            r->ncols, e->n);
        for (uint32_t i = 0; i < r->ncols; i++) {
            const bs_column *col = bs_table_column(t, r->cols[i]);
            if (bs__x_term(c, e->items[i], col->type, col->name, &(*vals)[i]))
                return -1;
            if ((*vals)[i].len == BS_VALUE_NULL)
                return XINVALID(c,
                                "Invalid null value in condition for column %s",
                                col->name);
        }
        return 0;
    }
    /* a bound tuple value */
    bs_type tt = {BS_TYPE_TUPLE, 0, (uint16_t)r->ncols, NULL, NULL, NULL, NULL};
    bs_type **ps = bs_arena_calloc(c->a, (r->ncols + 1) * sizeof *ps);
    for (uint32_t i = 0; i < r->ncols; i++)
        ps[i] = bs_table_column(t, r->cols[i])->type;
    tt.params = ps;
    xval tv;
    if (bs__x_term(c, e, &tt, "tuple", &tv)) return -1;
    if (tv.len == BS_VALUE_NULL)
        return XINVALID(c, "Invalid null value in tuple condition");
    bs_value_iter it;
    if (bs_value_iter_init(&it, &tt, tv.p, tv.len))
        return XINVALID(c, "Invalid tuple value");
    bs_value_elem el;
    for (uint32_t i = 0; i < r->ncols; i++) {
        if (bs_value_iter_next(&it, &el) || el.len == BS_VALUE_NULL)
            return XINVALID(c, "Invalid null value in tuple condition");
        (*vals)[i].p = el.p;
        (*vals)[i].len = el.len;
    }
    return 0;
}

static int token_value(xctx *c, const bs_cql_expr *e, int64_t *out) {
    xval v;
    if (bs__x_term(c, e, bs__x_bigint_type(), "partition key token", &v))
        return -1;
    if (v.len != 8) return XINVALID(c, "Invalid null value for token");
    *out = (int64_t)bs_get_u64(v.p);
    return 0;
}

/* Relations of a WHERE clause sorted by what serves them (bs__x_where). */
typedef struct wclass {
    const bs_cql_relation
        *ck_rel[XMAX_KEY * 4]; /* = / IN per clustering column */
    const bs_cql_relation *ck_lo[XMAX_KEY * 4], *ck_hi[XMAX_KEY * 4];
    const bs_cql_relation *multi, *multi_lo, *multi_hi; /* (a, b) relations */
    int pk_set[XMAX_KEY];
} wclass;

/* token(pk) op v: narrows w's token range. */
static int token_relation(xctx *c, const bs_table_schema *t,
                          const bs_cql_relation *r, int for_write, xwhere *w) {
    if (for_write)
        return XINVALID(c, "The token function cannot be used in WHERE "
                           "clauses for UPDATE and DELETE statements");
    if (r->ncols != t->npk)
        return XINVALID(c, "The token function arguments must be the "
                           "partition key columns in order");
    for (uint32_t k = 0; k < r->ncols; k++)
        if (strcmp(r->cols[k], t->cols[k].name))
            return XINVALID(c, "The token() function must be applied to all "
                               "partition key components or none of them");
    int64_t v = 0;
    if (r->op == BS_CQL_OP_IN || r->op == BS_CQL_OP_NEQ)
        return XINVALID(c, "%s is not supported on token",
                        r->op == BS_CQL_OP_IN ? "IN" : "!=");
    if (token_value(c, r->rhs, &v)) return -1;
    w->has_token = 1;
    switch (r->op) {
    case BS_CQL_OP_GT:
        if (v > w->tok_lo) w->tok_lo = v;
        break;
    case BS_CQL_OP_GTE:
        if (v == INT64_MIN) break;
        if (v - 1 > w->tok_lo) w->tok_lo = v - 1;
        break;
    case BS_CQL_OP_LT:
        if (v == INT64_MIN)
            w->tok_empty = 1;
        else if (v - 1 < w->tok_hi)
            w->tok_hi = v - 1;
        break;
    case BS_CQL_OP_LTE:
        if (v < w->tok_hi) w->tok_hi = v;
        break;
    case BS_CQL_OP_EQ:
        if (v != INT64_MIN && v - 1 > w->tok_lo) w->tok_lo = v - 1;
        if (v < w->tok_hi) w->tok_hi = v;
        break;
    default: break;
    }
    return 0;
}

/* (a, b) op ...: checks the columns and files the relation in wc. */
static int multi_relation(xctx *c, const bs_table_schema *t,
                          const bs_cql_relation *r, wclass *wc) {
    for (uint32_t k = 0; k < r->ncols; k++)
        if (!bs_table_column(t, r->cols[k]))
            return XINVALID(c, "Undefined column name %s", r->cols[k]);
    const bs_column *first = bs_table_column(t, r->cols[0]);
    for (uint32_t k = 0; k < r->ncols; k++) {
        const bs_column *col = bs_table_column(t, r->cols[k]);
        if (col->kind != BS_COL_CLUSTERING)
            return XINVALID(c,
                            "Multi-column relations can only be applied to "
                            "clustering columns but was applied to: %s",
                            col->name);
        if (col->position != first->position + (int)k)
            return XINVALID(c,
                            "Clustering columns must appear in the PRIMARY KEY "
                            "order in multi-column relations");
        if (col->desc != first->desc)
            return XINVALID(
                c, "Multi-column slice restrictions over columns of mixed "
                   "clustering order are not supported by Basalt");
    }
    if (r->op == BS_CQL_OP_EQ || r->op == BS_CQL_OP_IN)
        wc->multi = r;
    else if (r->op == BS_CQL_OP_GT || r->op == BS_CQL_OP_GTE)
        wc->multi_lo = r;
    else if (r->op == BS_CQL_OP_LT || r->op == BS_CQL_OP_LTE)
        wc->multi_hi = r;
    else
        return XINVALID(c, "Unsupported operator for multi-column relation");
    return 0;
}

/* A relation on a clustering column: 1 when filed in wc, 0 when the
 * operator is not one the key can serve, -1 on error. */
static int clustering_relation(xctx *c, const bs_column *col,
                               const bs_cql_relation *r, wclass *wc) {
    int k = col->position;
    if (r->op == BS_CQL_OP_EQ || r->op == BS_CQL_OP_IN) {
        if (wc->ck_rel[k] || wc->ck_lo[k] || wc->ck_hi[k])
            return XINVALID(c,
                            "%s cannot be restricted by more than one "
                            "relation if it includes an Equal",
                            col->name);
        wc->ck_rel[k] = r;
        return 1;
    }
    if (r->op == BS_CQL_OP_GT || r->op == BS_CQL_OP_GTE) {
        if (wc->ck_lo[k])
            return XINVALID(c,
                            "More than one restriction was found for "
                            "the start bound on %s",
                            col->name);
        wc->ck_lo[k] = r;
        return 1;
    }
    if (r->op == BS_CQL_OP_LT || r->op == BS_CQL_OP_LTE) {
        if (wc->ck_hi[k])
            return XINVALID(c,
                            "More than one restriction was found for "
                            "the end bound on %s",
                            col->name);
        wc->ck_hi[k] = r;
        return 1;
    }
    return 0;
}

/* A single-column relation: served by the key (filed in w / wc) or
 * filtered. */
static int column_relation(xctx *c, const bs_table_schema *t,
                           const bs_cql_relation *r, int for_write, xwhere *w,
                           wclass *wc) {
    const bs_column *col = bs_table_column(t, r->column);
    if (!col) return XINVALID(c, "Undefined column name %s", r->column);
    if (r->lhs != BS_CQL_LHS_COLUMN) {
        w->filters[w->nfilters++] = r;
        w->needs_filtering = 1;
        return 0;
    }
    if (col->kind == BS_COL_PARTITION_KEY &&
        (r->op == BS_CQL_OP_EQ || r->op == BS_CQL_OP_IN)) {
        int k = col->position;
        if (wc->pk_set[k])
            return XINVALID(c,
                            "%s cannot be restricted by more than one "
                            "relation if it includes an Equal",
                            col->name);
        wc->pk_set[k] = 1;
        return rhs_values(c, r, col->type, col->name, &w->pkv[k], &w->npkv[k]);
    }
    if (col->kind == BS_COL_CLUSTERING) {
        int rc = clustering_relation(c, col, r, wc);
        if (rc) return rc < 0 ? -1 : 0;
    }
    if (for_write) {
        if (col->kind == BS_COL_PARTITION_KEY || col->kind == BS_COL_CLUSTERING)
            return XINVALID(c, "Invalid operator %s for PRIMARY KEY part %s",
                            "in", col->name);
        return XINVALID(c, "Non PRIMARY KEY columns found in where clause: %s ",
                        col->name);
    }
    w->filters[w->nfilters++] = r;
    w->needs_filtering = 1;
    return 0;
}

/* Partition key: complete (served by the key), partial (filtered) or
 * absent. */
static int pk_finish(xctx *c, const bs_table_schema *t,
                     const bs_cql_relation *rels, uint32_t n, int for_write,
                     const wclass *wc, xwhere *w) {
    size_t npk_set = 0;
    for (size_t k = 0; k < t->npk; k++)
        npk_set += wc->pk_set[k];
    w->pk_full = npk_set == t->npk;
    if (npk_set && !w->pk_full) {
        if (for_write) {
            for (size_t k = 0; k < t->npk; k++)
                if (!wc->pk_set[k])
                    return XINVALID(c,
                                    "Some partition key parts are missing: %s",
                                    t->cols[k].name);
        }
        /* partial partition key: filter on those relations */
        for (uint32_t i = 0; i < n; i++) {
            const bs_cql_relation *r = &rels[i];
            if (r->lhs == BS_CQL_LHS_COLUMN) {
                const bs_column *col = bs_table_column(t, r->column);
                if (col && col->kind == BS_COL_PARTITION_KEY)
                    w->filters[w->nfilters++] = r;
            }
        }
        w->needs_filtering = 1;
    }
    if (w->pk_full && w->has_token)
        return XINVALID(c,
                        "Columns \"%s\" cannot be restricted by both a normal "
                        "relation and a token relation",
                        t->cols[0].name);
    return 0;
}

/* The = / IN prefix of the clustering columns; *k = its length. */
static int ck_eq_prefix(xctx *c, const bs_table_schema *t, const wclass *wc,
                        xwhere *w, size_t *kp) {
    size_t k = 0;
    const bs_cql_relation *multi = wc->multi;
    if (multi) {
        if (bs_table_column(t, multi->cols[0])->position != 0)
            return XINVALID(c, "Clustering columns must appear in the PRIMARY "
                               "KEY order in multi-column relations");
        if (multi->op != BS_CQL_OP_EQ)
            return XINVALID(
                c, "Multi-column IN restrictions are not supported by Basalt");
        xval *vals;
        if (tuple_values(c, t, multi, multi->rhs, &vals)) return -1;
        for (uint32_t j = 0; j < multi->ncols; j++) {
            w->ckv[j] = &vals[j];
            w->nckv[j] = 1;
        }
        k = multi->ncols;
    }
    for (; k < t->nck && wc->ck_rel[k]; k++) {
        const bs_column *col = &t->cols[t->npk + k];
        if (rhs_values(c, wc->ck_rel[k], col->type, col->name, &w->ckv[k],
                       &w->nckv[k]))
            return -1;
    }
    *kp = k;
    return 0;
}

/* One bound of a single-column slice: *v (arena) from relation r. */
static int slice_bound(xctx *c, const bs_column *col, const bs_cql_relation *r,
                       xval **v) {
    *v = bs_arena_calloc(c->a, sizeof **v);
    if (bs__x_term(c, r->rhs, col->type, col->name, *v)) return -1;
    if ((*v)->len == BS_VALUE_NULL)
        return XINVALID(c, "Invalid null value in condition for column %s",
                        col->name);
    return 0;
}

/* The slice after the = prefix (column k); *kp moves past a
 * single-column slice. */
static int ck_slice(xctx *c, const bs_table_schema *t, const wclass *wc,
                    xwhere *w, size_t *kp) {
    size_t k = *kp;
    const bs_cql_relation *multi_lo = wc->multi_lo, *multi_hi = wc->multi_hi;
    if (multi_lo || multi_hi) {
        const bs_cql_relation *mr = multi_lo ? multi_lo : multi_hi;
        if (bs_table_column(t, mr->cols[0])->position != (int)k)
            return XINVALID(c, "Clustering columns must appear in the PRIMARY "
                               "KEY order in multi-column relations");
        if (multi_lo) {
            if (tuple_values(c, t, multi_lo, multi_lo->rhs, &w->lo)) return -1;
            w->nlo = multi_lo->ncols;
            w->has_lo = 1;
            w->lo_incl = multi_lo->op == BS_CQL_OP_GTE;
        }
        if (multi_hi) {
            if (tuple_values(c, t, multi_hi, multi_hi->rhs, &w->hi)) return -1;
            w->nhi = multi_hi->ncols;
            w->has_hi = 1;
            w->hi_incl = multi_hi->op == BS_CQL_OP_LTE;
        }
    } else if (k < t->nck && (wc->ck_lo[k] || wc->ck_hi[k])) {
        const bs_column *col = &t->cols[t->npk + k];
        if (wc->ck_lo[k]) {
            if (slice_bound(c, col, wc->ck_lo[k], &w->lo)) return -1;
            w->nlo = 1;
            w->has_lo = 1;
            w->lo_incl = wc->ck_lo[k]->op == BS_CQL_OP_GTE;
        }
        if (wc->ck_hi[k]) {
            if (slice_bound(c, col, wc->ck_hi[k], &w->hi)) return -1;
            w->nhi = 1;
            w->has_hi = 1;
            w->hi_incl = wc->ck_hi[k]->op == BS_CQL_OP_LTE;
        }
        *kp = k + 1;
    }
    return 0;
}

/* Clustering: = prefix, then one slice; what follows a gap filters. */
static int ck_finish(xctx *c, const bs_table_schema *t, int for_write,
                     const wclass *wc, xwhere *w) {
    size_t k = 0;
    if (ck_eq_prefix(c, t, wc, w, &k)) return -1;
    w->ck_eq = k;
    if (ck_slice(c, t, wc, w, &k)) return -1;
    /* any clustering restriction left after a gap needs filtering */
    for (size_t j = k; j < t->nck; j++) {
        if (wc->ck_rel[j] || wc->ck_lo[j] || wc->ck_hi[j]) {
            if (for_write)
                return XINVALID(
                    c,
                    "PRIMARY KEY column \"%s\" cannot be restricted as "
                    "preceding column \"%s\" is not restricted",
                    t->cols[t->npk + j].name,
                    t->cols[t->npk + (j ? j - 1 : 0)].name);
            if (wc->ck_rel[j]) w->filters[w->nfilters++] = wc->ck_rel[j];
            if (wc->ck_lo[j]) w->filters[w->nfilters++] = wc->ck_lo[j];
            if (wc->ck_hi[j]) w->filters[w->nfilters++] = wc->ck_hi[j];
            w->needs_filtering = 1;
        }
    }
    return 0;
}

int bs__x_where(xctx *c, const bs_table_schema *t, const bs_cql_relation *rels,
                uint32_t n, int for_write, xwhere *w) {
    memset(w, 0, sizeof *w);
    w->tok_lo = INT64_MIN;
    w->tok_hi = INT64_MAX;
    w->filters = bs_arena_calloc(c->a, (n + 1) * sizeof *w->filters);
    wclass wc;
    memset(&wc, 0, sizeof wc);
    if (t->npk > XMAX_KEY || t->nck > XMAX_KEY * 4)
        return XINVALID(c, "too many key columns");
    for (uint32_t i = 0; i < n; i++) {
        const bs_cql_relation *r = &rels[i];
        int rc = r->lhs == BS_CQL_LHS_TOKEN
                     ? token_relation(c, t, r, for_write, w)
                 : r->lhs == BS_CQL_LHS_MULTI
                     ? multi_relation(c, t, r, &wc)
                     : column_relation(c, t, r, for_write, w, &wc);
        if (rc) return -1;
    }
    if (pk_finish(c, t, rels, n, for_write, &wc, w)) return -1;
    return ck_finish(c, t, for_write, &wc, w);
}

int bs__x_partition_keys(xctx *c, const bs_table_schema *t, const xwhere *w,
                         const uint8_t ***keys, size_t **lens, int64_t **tokens,
                         size_t *n) {
    size_t total = 1;
    for (size_t k = 0; k < t->npk; k++) {
        total *= w->npkv[k];
        if (total > 10000)
            return XINVALID(
                c,
                "IN restrictions produce too many partition keys (max 10000)");
    }
    *keys = bs_arena_calloc(c->a, (total + 1) * sizeof **keys);
    *lens = bs_arena_calloc(c->a, (total + 1) * sizeof **lens);
    *tokens = bs_arena_calloc(c->a, (total + 1) * sizeof **tokens);
    *n = 0;
    size_t idx[XMAX_KEY] = {0};
    xval cur[XMAX_KEY];
    for (size_t i = 0; i < total; i++) {
        for (size_t k = 0; k < t->npk; k++)
            cur[k] = w->pkv[k][idx[k]];
        const uint8_t *key;
        size_t len;
        int64_t tok;
        if (bs__x_partition_key(c, t, cur, &key, &len, &tok)) return -1;
        (*keys)[*n] = key;
        (*lens)[*n] = len;
        (*tokens)[*n] = tok;
        (*n)++;
        for (size_t k = t->npk; k-- > 0;) {
            if (++idx[k] < w->npkv[k]) break;
            idx[k] = 0;
        }
    }
    return 0;
}

int bs__x_ck_prefixes(xctx *c, const bs_table_schema *t, const xwhere *w,
                      const uint8_t ***keys, size_t **lens, size_t *n) {
    size_t total = 1;
    for (size_t k = 0; k < w->ck_eq; k++) {
        total *= w->nckv[k];
        if (total > 10000)
            return XINVALID(
                c,
                "IN restrictions produce too many clustering keys (max 10000)");
    }
    *keys = bs_arena_calloc(c->a, (total + 1) * sizeof **keys);
    *lens = bs_arena_calloc(c->a, (total + 1) * sizeof **lens);
    *n = 0;
    if (total == 0) return 0;
    size_t idx[XMAX_KEY * 4] = {0};
    xval cur[XMAX_KEY * 4];
    for (size_t i = 0; i < total; i++) {
        for (size_t k = 0; k < w->ck_eq; k++)
            cur[k] = w->ckv[k][idx[k]];
        if (bs__x_clustering(c, t, cur, w->ck_eq, &(*keys)[*n], &(*lens)[*n]))
            return -1;
        (*n)++;
        for (size_t k = w->ck_eq; k-- > 0;) {
            if (++idx[k] < w->nckv[k]) break;
            idx[k] = 0;
        }
    }
    /* storage order: sort the encoded prefixes bytewise */
    for (size_t i = 1; i < *n; i++) {
        for (size_t j = i; j > 0; j--) {
            size_t la = (*lens)[j - 1], lb = (*lens)[j];
            int cmp = memcmp((*keys)[j - 1], (*keys)[j], la < lb ? la : lb);
            if (cmp < 0 || (cmp == 0 && la <= lb)) break;
            const uint8_t *tk = (*keys)[j - 1];
            (*keys)[j - 1] = (*keys)[j];
            (*keys)[j] = tk;
            (*lens)[j - 1] = lb;
            (*lens)[j] = la;
        }
    }
    return 0;
}

/* prefix + encoding of the slice values */
static int bound_key(xctx *c, const bs_table_schema *t, const xwhere *w,
                     const uint8_t *prefix, size_t plen, const xval *v,
                     size_t nv, const uint8_t **out, size_t *olen) {
    bs_buf b = BS_BUF_INIT;
    if (bs_buf_append(&b, prefix, plen))
        return bs__x_fail(c, BS_PROTO_ERR_SERVER, "out of memory");
    for (size_t i = 0; i < nv; i++) {
        const bs_column *col = &t->cols[t->npk + w->ck_eq + i];
        int rc = bs_keycodec_encode(col->type, v[i].p, (int32_t)v[i].len,
                                    col->desc, &b);
        if (rc) {
            bs_buf_free(&b);
            return XINVALID(c, "Invalid value for %s", col->name);
        }
    }
    *out = bs_arena_memdup(c->a, b.data ? b.data : (uint8_t *)"", b.len);
    *olen = b.len;
    bs_buf_free(&b);
    return 0;
}

int bs__x_ck_bounds(xctx *c, const bs_table_schema *t, const xwhere *w,
                    const uint8_t *prefix, size_t plen, bs_bound *start,
                    bs_bound *end) {
    start->kind = plen ? BS_BOUND_INCL : BS_BOUND_NONE;
    start->prefix = prefix;
    start->len = plen;
    *end = *start;
    if (!w->has_lo && !w->has_hi) return 0;
    int desc = t->cols[t->npk + w->ck_eq].desc;
    const uint8_t *k;
    size_t kl;
    if (w->has_lo) {
        if (bound_key(c, t, w, prefix, plen, w->lo, w->nlo, &k, &kl)) return -1;
        bs_bound *b = desc ? end : start;
        b->kind = w->lo_incl ? BS_BOUND_INCL : BS_BOUND_EXCL;
        b->prefix = k;
        b->len = kl;
    }
    if (w->has_hi) {
        if (bound_key(c, t, w, prefix, plen, w->hi, w->nhi, &k, &kl)) return -1;
        bs_bound *b = desc ? start : end;
        b->kind = w->hi_incl ? BS_BOUND_INCL : BS_BOUND_EXCL;
        b->prefix = k;
        b->len = kl;
    }
    return 0;
}

/* ---- filtering ------------------------------------------------------- */

static int cmp_ok(bs_cql_op op, int cmp) {
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

int bs__x_filter(xctx *c, const bs_table_schema *t, const bs_cql_relation *r,
                 const xval *row, int *ok) {
    *ok = 0;
    if (r->lhs == BS_CQL_LHS_TOKEN || r->lhs == BS_CQL_LHS_MULTI) {
        *ok = 1;
        return 0;
    }
    int ci = col_index(t, r->column);
    if (ci < 0) return XINVALID(c, "Undefined column name %s", r->column);
    const bs_column *col = &t->cols[ci];
    const xval *v = &row[ci];
    if (r->lhs == BS_CQL_LHS_ELEM) {
        if (col->type->kind != BS_TYPE_MAP)
            return XINVALID(c,
                            "Element filtering is only supported on maps (%s)",
                            col->name);
        xval key, want;
        if (bs__x_term(c, r->key, col->type->params[0], col->name, &key))
            return -1;
        if (bs__x_term(c, r->rhs, col->type->params[1], col->name, &want))
            return -1;
        if (v->len == BS_VALUE_NULL) return 0;
        bs_value_iter it;
        if (bs_value_iter_init(&it, col->type, v->p, v->len)) return 0;
        bs_value_elem ke, ve;
        while (bs_value_iter_next(&it, &ke) == 0 &&
               bs_value_iter_next(&it, &ve) == 0) {
            int cmp = 1;
            bs_value_compare(col->type->params[0], ke.p, ke.len, key.p, key.len,
                             &cmp);
            if (cmp == 0) {
                bs_value_compare(col->type->params[1], ve.p, ve.len, want.p,
                                 want.len, &cmp);
                *ok = cmp_ok(r->op, cmp);
                return 0;
            }
        }
        return 0;
    }
    if (r->op == BS_CQL_OP_CONTAINS || r->op == BS_CQL_OP_CONTAINS_KEY) {
        if (!bs_type_is_collection(col->type))
            return XINVALID(c,
                            "Cannot use CONTAINS on non-collection column %s",
                            col->name);
        int key = r->op == BS_CQL_OP_CONTAINS_KEY;
        if (key && col->type->kind != BS_TYPE_MAP)
            return XINVALID(c, "Cannot use CONTAINS KEY on non-map column %s",
                            col->name);
        const bs_type *et = col->type->kind == BS_TYPE_MAP
                                ? col->type->params[key ? 0 : 1]
                                : col->type->params[0];
        xval want;
        if (bs__x_term(c, r->rhs, et, col->name, &want)) return -1;
        if (v->len == BS_VALUE_NULL) return 0;
        bs_value_iter it;
        if (bs_value_iter_init(&it, col->type, v->p, v->len)) return 0;
        bs_value_elem e;
        uint32_t i = 0;
        while (bs_value_iter_next(&it, &e) == 0) {
            int is_key = col->type->kind == BS_TYPE_MAP ? (i % 2 == 0) : 0;
            i++;
            if (col->type->kind == BS_TYPE_MAP && is_key != key) continue;
            int cmp = 1;
            bs_value_compare(et, e.p, e.len, want.p, want.len, &cmp);
            if (cmp == 0) {
                *ok = 1;
                return 0;
            }
        }
        return 0;
    }
    if (r->op == BS_CQL_OP_IN) {
        xval *vals;
        size_t n;
        if (rhs_values(c, r, col->type, col->name, &vals, &n)) return -1;
        if (v->len == BS_VALUE_NULL) return 0;
        for (size_t i = 0; i < n; i++) {
            int cmp = 1;
            bs_value_compare(col->type, v->p, v->len, vals[i].p, vals[i].len,
                             &cmp);
            if (cmp == 0) {
                *ok = 1;
                return 0;
            }
        }
        return 0;
    }
    if (r->op == BS_CQL_OP_LIKE)
        return XINVALID(c, "LIKE restrictions are not supported by Basalt");
    xval want;
    if (bs__x_term(c, r->rhs, col->type, col->name, &want)) return -1;
    if (want.len == BS_VALUE_NULL || want.unset)
        return XINVALID(c, "Unsupported null value for column %s", col->name);
    if (v->len == BS_VALUE_NULL) return 0;
    int cmp = 0;
    if (bs_value_compare(col->type, v->p, v->len, want.p, want.len, &cmp))
        return 0;
    *ok = cmp_ok(r->op, cmp);
    return 0;
}
