/*
 * exec_fake.c - the in-memory executor backend and harness (see
 * exec_fake.h).
 *
 * Layout: tables (by table id) -> partitions sorted by (token, pk length,
 * pk bytes) -> rows sorted by clustering bytes (memcmp, shorter first,
 * which keycodec makes the CQL order) -> cells sorted by (column, element
 * bytes).  Every write keeps the arrays sorted by insertion, so reads are
 * plain walks.  Nothing is ever purged: tombstones stay, which is what a
 * read right after a delete must see anyway.
 *
 * Bounds, as storage/read.c computes its window from a clustering
 * prefix p (a row's clustering bytes ck, "ck ^ p" = ck starts with p):
 *   start INCL p   ck >= p            start EXCL p   ck > p and not ck ^ p
 *   end   INCL p   ck <= p or ck ^ p  end   EXCL p   ck < p
 * Range tombstones use the same test for the rows they cover.
 */
#include "exec_fake.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "query/value.h"

/* ---- the model ----------------------------------------------------------- */

typedef struct fcell {
    uint16_t col;
    uint8_t has_elem, tomb;
    uint8_t *elem;
    size_t elem_len;
    uint8_t *val;
    size_t val_len;
    int64_t ts;
    int32_t ttl;
    int64_t exp; /* epoch seconds, 0 none */
} fcell;

typedef struct fcolldel {
    uint16_t col;
    int64_t ts;
} fcolldel;

typedef struct frow {
    uint8_t *ck;
    size_t ck_len;
    int64_t mk_ts; /* INT64_MIN: no marker */
    int32_t mk_ttl;
    int64_t mk_exp;
    int64_t del_ts; /* INT64_MIN: no row deletion */
    fcell *cells;
    size_t ncells;
    fcolldel *cd;
    size_t ncd;
} frow;

typedef struct frt {
    bs_bound start, end; /* prefixes owned */
    int64_t ts;
} frt;

typedef struct fpart {
    int64_t token;
    uint8_t *pk;
    size_t pk_len;
    int64_t del_ts;
    frow srow; /* the static row (ck unused) */
    frow *rows;
    size_t nrows;
    frt *rts;
    size_t nrts;
} fpart;

typedef struct ftable {
    bs_uuid id;
    fpart *parts;
    size_t nparts;
} ftable;

struct bs_fake_be {
    bs_schema *schema;
    ftable *tables;
    size_t ntables;
    int64_t now_us;
    bs_fake_stats st;
    int fail_ops;
    bs_exec_err fail_err;
};

static void *xrealloc(void *p, size_t n) {
    void *q = realloc(p, n ? n : 1);
    if (!q) abort(); /* a test helper: OOM ends the test */
    return q;
}

static uint8_t *dup_bytes(const void *p, size_t n) {
    uint8_t *q = xrealloc(NULL, n);
    if (n) memcpy(q, p, n);
    return q;
}

/* memcmp order, a shorter string before its extensions */
static int bcmp_len(const uint8_t *a, size_t al, const uint8_t *b, size_t bl) {
    size_t n = al < bl ? al : bl;
    int c = n ? memcmp(a, b, n) : 0;
    if (c) return c;
    return al < bl ? -1 : al > bl;
}

static int starts_with(const uint8_t *ck, size_t cl, const void *p, size_t pl) {
    return cl >= pl && (pl == 0 || memcmp(ck, p, pl) == 0);
}

static int after_start(const uint8_t *ck, size_t cl, const bs_bound *b) {
    if (b->kind == BS_BOUND_NONE) return 1;
    int c = bcmp_len(ck, cl, b->prefix, b->len);
    if (b->kind == BS_BOUND_INCL) return c >= 0;
    return c > 0 && !starts_with(ck, cl, b->prefix, b->len);
}

static int before_end(const uint8_t *ck, size_t cl, const bs_bound *b) {
    if (b->kind == BS_BOUND_NONE) return 1;
    int c = bcmp_len(ck, cl, b->prefix, b->len);
    if (b->kind == BS_BOUND_INCL)
        return c <= 0 || starts_with(ck, cl, b->prefix, b->len);
    return c < 0;
}

static int in_bounds(const uint8_t *ck, size_t cl, const bs_bound *s,
                     const bs_bound *e) {
    return after_start(ck, cl, s) && before_end(ck, cl, e);
}

static int part_cmp(int64_t tok, const uint8_t *pk, size_t pl, const fpart *p) {
    if (tok != p->token) return tok < p->token ? -1 : 1;
    if (pl != p->pk_len) return pl < p->pk_len ? -1 : 1;
    return pl ? memcmp(pk, p->pk, pl) : 0;
}

static void row_init(frow *r) {
    memset(r, 0, sizeof *r);
    r->mk_ts = INT64_MIN;
    r->del_ts = INT64_MIN;
}

static void row_free(frow *r) {
    for (size_t i = 0; i < r->ncells; i++) {
        free(r->cells[i].elem);
        free(r->cells[i].val);
    }
    free(r->cells);
    free(r->cd);
    free(r->ck);
}

static void part_free(fpart *p) {
    for (size_t i = 0; i < p->nrows; i++)
        row_free(&p->rows[i]);
    free(p->rows);
    row_free(&p->srow);
    for (size_t i = 0; i < p->nrts; i++) {
        free((void *)p->rts[i].start.prefix);
        free((void *)p->rts[i].end.prefix);
    }
    free(p->rts);
    free(p->pk);
}

static void table_clear(ftable *t) {
    for (size_t i = 0; i < t->nparts; i++)
        part_free(&t->parts[i]);
    free(t->parts);
    t->parts = NULL;
    t->nparts = 0;
}

static ftable *find_table(bs_fake_be *f, const bs_uuid *id, int create) {
    for (size_t i = 0; i < f->ntables; i++)
        if (!memcmp(f->tables[i].id.b, id->b, 16)) return &f->tables[i];
    if (!create) return NULL;
    f->tables = xrealloc(f->tables, (f->ntables + 1) * sizeof *f->tables);
    ftable *t = &f->tables[f->ntables++];
    memset(t, 0, sizeof *t);
    t->id = *id;
    return t;
}

/* Binary search; *at = insertion point when absent. */
static fpart *find_part(ftable *t, int64_t tok, const uint8_t *pk, size_t pl,
                        size_t *at) {
    size_t lo = 0, hi = t->nparts;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = part_cmp(tok, pk, pl, &t->parts[mid]);
        if (!c) return &t->parts[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    if (at) *at = lo;
    return NULL;
}

static fpart *get_part(ftable *t, const bs_mutation *m) {
    size_t at;
    fpart *p = find_part(t, m->token, m->pk, m->pk_len, &at);
    if (p) return p;
    t->parts = xrealloc(t->parts, (t->nparts + 1) * sizeof *t->parts);
    memmove(&t->parts[at + 1], &t->parts[at],
            (t->nparts - at) * sizeof *t->parts);
    t->nparts++;
    p = &t->parts[at];
    memset(p, 0, sizeof *p);
    p->token = m->token;
    p->pk = dup_bytes(m->pk, m->pk_len);
    p->pk_len = m->pk_len;
    p->del_ts = INT64_MIN;
    row_init(&p->srow);
    return p;
}

static frow *get_row(fpart *p, const bs_mop *op) {
    if (op->is_static) return &p->srow;
    size_t lo = 0, hi = p->nrows;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c =
            bcmp_len(op->ck, op->ck_len, p->rows[mid].ck, p->rows[mid].ck_len);
        if (!c) return &p->rows[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    p->rows = xrealloc(p->rows, (p->nrows + 1) * sizeof *p->rows);
    memmove(&p->rows[lo + 1], &p->rows[lo], (p->nrows - lo) * sizeof *p->rows);
    p->nrows++;
    frow *r = &p->rows[lo];
    row_init(r);
    r->ck = dup_bytes(op->ck, op->ck_len);
    r->ck_len = op->ck_len;
    return r;
}

static int cell_key_cmp(uint16_t col, const uint8_t *e, size_t el,
                        const fcell *c) {
    if (col != c->col) return col < c->col ? -1 : 1;
    return bcmp_len(e, el, c->elem, c->elem_len);
}

/* 1 when the new cell n wins over the old o (storage's LWW rules). */
static int lww_wins(const fcell *n, const fcell *o) {
    if (n->ts != o->ts) return n->ts > o->ts;
    if (n->tomb != o->tomb) return n->tomb;
    int c = bcmp_len(n->val, n->val_len, o->val, o->val_len);
    if (c) return c > 0;
    return n->ttl > o->ttl;
}

static void put_cell(frow *r, const fcell *n) {
    size_t lo = 0, hi = r->ncells;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = cell_key_cmp(n->col, n->elem, n->elem_len, &r->cells[mid]);
        if (!c) {
            fcell *o = &r->cells[mid];
            if (lww_wins(n, o)) {
                free(o->elem);
                free(o->val);
                *o = *n;
            } else {
                free(n->elem);
                free(n->val);
            }
            return;
        }
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    r->cells = xrealloc(r->cells, (r->ncells + 1) * sizeof *r->cells);
    memmove(&r->cells[lo + 1], &r->cells[lo],
            (r->ncells - lo) * sizeof *r->cells);
    r->ncells++;
    r->cells[lo] = *n;
}

static void coll_del(frow *r, uint16_t col, int64_t ts) {
    for (size_t i = 0; i < r->ncd; i++)
        if (r->cd[i].col == col) {
            if (ts > r->cd[i].ts) r->cd[i].ts = ts;
            return;
        }
    r->cd = xrealloc(r->cd, (r->ncd + 1) * sizeof *r->cd);
    r->cd[r->ncd].col = col;
    r->cd[r->ncd].ts = ts;
    r->ncd++;
}

static int64_t max64(int64_t a, int64_t b) {
    return a > b ? a : b;
}

static bs_bound copy_bound(const bs_bound *b) {
    bs_bound c = *b;
    c.prefix = b->kind == BS_BOUND_NONE ? NULL : dup_bytes(b->prefix, b->len);
    if (b->kind == BS_BOUND_NONE) c.len = 0;
    return c;
}

static void apply_op(bs_fake_be *f, fpart *p, const bs_mop *op) {
    int64_t now_s = f->now_us / 1000000;
    switch (op->kind) {
    case BS_MOP_CELL:
    case BS_MOP_CELL_DEL: {
        fcell c;
        memset(&c, 0, sizeof c);
        c.col = op->col;
        c.has_elem = op->has_elem;
        c.elem = dup_bytes(op->elem, op->has_elem ? op->elem_len : 0);
        c.elem_len = op->has_elem ? op->elem_len : 0;
        c.tomb = op->kind == BS_MOP_CELL_DEL;
        c.val = dup_bytes(op->val, c.tomb ? 0 : op->val_len);
        c.val_len = c.tomb ? 0 : op->val_len;
        c.ts = op->ts;
        c.ttl = c.tomb ? 0 : op->ttl;
        c.exp = c.ttl ? now_s + c.ttl : 0;
        put_cell(get_row(p, op), &c);
        break;
    }
    case BS_MOP_COLL_DEL: coll_del(get_row(p, op), op->col, op->ts); break;
    case BS_MOP_MARKER: {
        frow *r = get_row(p, op);
        if (op->ts >= r->mk_ts) {
            r->mk_ts = op->ts;
            r->mk_ttl = op->ttl;
            r->mk_exp = op->ttl ? now_s + op->ttl : 0;
        }
        break;
    }
    case BS_MOP_ROW_DEL: {
        frow *r = get_row(p, op);
        r->del_ts = max64(r->del_ts, op->ts);
        break;
    }
    case BS_MOP_RANGE_DEL:
        p->rts = xrealloc(p->rts, (p->nrts + 1) * sizeof *p->rts);
        p->rts[p->nrts].start = copy_bound(&op->start);
        p->rts[p->nrts].end = copy_bound(&op->end);
        p->rts[p->nrts].ts = op->ts;
        p->nrts++;
        break;
    case BS_MOP_PART_DEL: p->del_ts = max64(p->del_ts, op->ts); break;
    default: break;
    }
}

/* ---- reads --------------------------------------------------------------- */

static int col_selected(const bs_slice *sl, uint16_t col) {
    if (!sl->cols) return 1;
    for (size_t i = 0; i < sl->ncols; i++)
        if (sl->cols[i] == col) return 1;
    return 0;
}

/* Resolves row r (deletion d above it) at now_s; 1 when the row is live,
 * and then *out holds its selected live cells (arena memory). */
static int resolve_row(const frow *r, int is_static, int64_t d,
                       const bs_slice *sl, int64_t now_s, bs_arena *a,
                       bs_rowv *out) {
    d = max64(d, r->del_ts);
    memset(out, 0, sizeof *out);
    int live = 0;
    if (!is_static && r->mk_ts != INT64_MIN && r->mk_ts > d &&
        (!r->mk_exp || r->mk_exp > now_s)) {
        live = 1;
        out->has_marker = 1;
        out->marker_ts = r->mk_ts;
        out->marker_ttl = r->mk_ttl;
        out->marker_expiry_s = r->mk_exp;
    }
    out->cells =
        bs_arena_alloc(a, (r->ncells ? r->ncells : 1) * sizeof *out->cells);
    for (size_t i = 0; i < r->ncells; i++) {
        const fcell *c = &r->cells[i];
        int64_t cd = d;
        for (size_t j = 0; j < r->ncd; j++)
            if (r->cd[j].col == c->col) cd = max64(cd, r->cd[j].ts);
        if (c->tomb || c->ts <= cd || (c->exp && c->exp <= now_s)) continue;
        live = 1;
        if (!col_selected(sl, c->col)) continue;
        bs_cellv *v = &out->cells[out->ncells++];
        memset(v, 0, sizeof *v);
        v->col = c->col;
        v->has_elem = c->has_elem;
        v->elem = bs_arena_memdup(a, c->elem, c->elem_len);
        v->elem_len = c->elem_len;
        v->val = bs_arena_memdup(a, c->val, c->val_len);
        v->val_len = c->val_len;
        v->ts = c->ts;
        v->ttl = c->ttl;
        v->expiry_s = c->exp;
    }
    if (!is_static) {
        out->ck = bs_arena_memdup(a, r->ck, r->ck_len);
        out->ck_len = r->ck_len;
    }
    return live;
}

static int64_t row_deletion(const fpart *p, const frow *r) {
    int64_t d = p->del_ts;
    for (size_t i = 0; i < p->nrts; i++)
        if (in_bounds(r->ck, r->ck_len, &p->rts[i].start, &p->rts[i].end))
            d = max64(d, p->rts[i].ts);
    return d;
}

static int row_in_window(const frow *r, const bs_slice *sl) {
    if (!in_bounds(r->ck, r->ck_len, &sl->start, &sl->end)) return 0;
    if (!sl->has_after) return 1;
    int c = bcmp_len(r->ck, r->ck_len, sl->after_ck, sl->after_len);
    return sl->reversed ? c < 0 : c > 0;
}

static bs_partv *read_part(bs_fake_be *f, const fpart *p, int64_t tok,
                           const void *pk, size_t pl, const bs_slice *sl,
                           bs_arena *a) {
    static const bs_slice all;
    if (!sl) sl = &all;
    int64_t now_s = sl->now_s ? sl->now_s : f->now_us / 1000000;
    bs_partv *pv = bs_arena_calloc(a, sizeof *pv);
    pv->token = tok;
    pv->pk = bs_arena_memdup(a, pk, pl);
    pv->pk_len = pl;
    if (!p) return pv;
    if (sl->with_static) {
        bs_rowv sr;
        if (resolve_row(&p->srow, 1, p->del_ts, sl, now_s, a, &sr)) {
            pv->static_row = bs_arena_alloc(a, sizeof sr);
            *pv->static_row = sr;
        }
    }
    pv->rows = bs_arena_alloc(a, (p->nrows ? p->nrows : 1) * sizeof *pv->rows);
    for (size_t k = 0; k < p->nrows; k++) {
        const frow *r = &p->rows[sl->reversed ? p->nrows - 1 - k : k];
        if (!row_in_window(r, sl)) continue;
        bs_rowv rv;
        if (!resolve_row(r, 0, row_deletion(p, r), sl, now_s, a, &rv)) continue;
        if (sl->limit && pv->nrows >= sl->limit) {
            pv->limited = 1;
            break;
        }
        pv->rows[pv->nrows++] = rv;
    }
    return pv;
}

/* ---- backend callbacks -----------------------------------------------------
 */

static bs_schema *be_schema_get(void *ud) {
    bs_fake_be *f = ud;
    return bs_schema_retain(f->schema);
}

static int be_schema_apply(void *ud, bs_schema *next,
                           const bs_proto_schema_change *ev, bs_exec_err *err) {
    (void)ev;
    (void)err;
    bs_fake_be *f = ud;
    f->st.schema_applies++;
    bs_schema_release(f->schema);
    f->schema = next;
    return 0;
}

static int take_failure(bs_fake_be *f, int op, bs_exec_err *err) {
    if (!(f->fail_ops & op)) return 0;
    *err = f->fail_err;
    f->fail_ops = 0;
    return 1;
}

static int be_write(void *ud, const bs_mutation *m, size_t n, uint16_t cl,
                    int logged, bs_exec_err *err) {
    bs_fake_be *f = ud;
    f->st.writes++;
    f->st.last_nmut = n;
    f->st.last_logged = logged;
    f->st.last_cl = cl;
    size_t distinct = 0;
    for (size_t i = 0; i < n; i++) {
        size_t j = 0;
        while (j < i && memcmp(m[j].table_id.b, m[i].table_id.b, 16))
            j++;
        if (j == i) distinct++;
    }
    f->st.distinct_tables_last_write = distinct;
    if (take_failure(f, BS_FAKE_WRITE, err)) return -1;
    for (size_t i = 0; i < n; i++) {
        ftable *t = find_table(f, &m[i].table_id, 1);
        fpart *p = get_part(t, &m[i]);
        for (size_t j = 0; j < m[i].nops; j++)
            apply_op(f, p, &m[i].ops[j]);
    }
    return 0;
}

/* Counter writes as one leader replica would do them (node/coord/
 * coord_counter.c): each increment becomes this fake node's shard of the
 * cell (host id FAKE_HOST), its total read back first (a shard older than
 * a deletion counts as absent) and its clock moved past the old one. */
static const uint8_t FAKE_HOST[16] = {0xfa, 0x4e, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};

static void shard_of(fpart *p, const bs_mop *op, int64_t *clock, int64_t *total) {
    frow *r = get_row(p, op);
    int64_t d = max64(row_deletion(p, r), r->del_ts);
    for (size_t i = 0; i < r->ncd; i++)
        if (r->cd[i].col == op->col) d = max64(d, r->cd[i].ts);
    *clock = INT64_MIN;
    *total = 0;
    for (size_t i = 0; i < r->ncells; i++) {
        const fcell *c = &r->cells[i];
        if (c->col == op->col && c->elem_len == 16 && !memcmp(c->elem, FAKE_HOST, 16) &&
            !c->tomb && c->ts > d && c->val_len == 8) {
            *clock = c->ts;
            *total = (int64_t)bs_get_u64(c->val);
        }
    }
}

static int be_counter_write(void *ud, const bs_mutation *m, size_t n, uint16_t cl,
                            bs_exec_err *err) {
    bs_fake_be *f = ud;
    f->st.counter_writes++;
    f->st.last_cl = cl;
    if (take_failure(f, BS_FAKE_WRITE, err)) return -1;
    for (size_t i = 0; i < n; i++) {
        ftable *t = find_table(f, &m[i].table_id, 1);
        fpart *p = get_part(t, &m[i]);
        for (size_t j = 0; j < m[i].nops; j++) {
            bs_mop op = m[i].ops[j];
            uint8_t v[8]; /* lives until apply_op copied it */
            if (op.kind == BS_MOP_COUNTER_ADD) {
                int64_t clock, total;
                shard_of(p, &op, &clock, &total);
                bs_put_u64(v, (uint64_t)total + bs_get_u64(op.val));
                op.kind = BS_MOP_CELL;
                op.has_elem = 1;
                op.elem = FAKE_HOST;
                op.elem_len = 16;
                op.val = v;
                op.val_len = 8;
                op.ts = clock == INT64_MIN || clock < f->now_us ? f->now_us++ : clock + 1;
                op.ttl = 0;
            }
            apply_op(f, p, &op);
        }
    }
    return 0;
}

static int be_read(void *ud, const bs_table_schema *ts, int64_t token,
                   const void *pk, size_t pk_len, const bs_slice *sl,
                   uint16_t cl, bs_arena *a, bs_partv **out, bs_exec_err *err) {
    bs_fake_be *f = ud;
    f->st.reads++;
    f->st.last_cl = cl;
    if (take_failure(f, BS_FAKE_READ, err)) return -1;
    ftable *t = find_table(f, &ts->id, 0);
    const fpart *p = t ? find_part(t, token, pk, pk_len, NULL) : NULL;
    *out = read_part(f, p, token, pk, pk_len, sl, a);
    return 0;
}

/* (start, end] as one or two inclusive segments, as storage/read.c. */
static int segments(int64_t start, int64_t end, int64_t lo[2], int64_t hi[2]) {
    int n = 0;
    if (start < end) {
        lo[0] = start + 1;
        hi[0] = end;
        return 1;
    }
    if (start < INT64_MAX) {
        lo[n] = start + 1;
        hi[n++] = INT64_MAX;
    }
    lo[n] = INT64_MIN;
    hi[n++] = end;
    return n;
}

static int be_scan(void *ud, const bs_table_schema *ts, const bs_scan *sc,
                   uint16_t cl, bs_part_cb cb, void *cbud, bs_exec_err *err) {
    bs_fake_be *f = ud;
    f->st.scans++;
    f->st.last_cl = cl;
    if (take_failure(f, BS_FAKE_SCAN, err)) return -1;
    ftable *t = find_table(f, &ts->id, 0);
    if (!t) return 0;
    int64_t lo[2], hi[2];
    int nseg = segments(sc->start_token, sc->end_token, lo, hi), first = 0;
    if (sc->has_cursor) {
        while (first < nseg && !(sc->cursor_token >= lo[first] &&
                                 sc->cursor_token <= hi[first]))
            first++;
    }
    bs_arena a;
    bs_arena_init(&a, 0);
    int rc = 0, stop = 0;
    for (int s = first; s < nseg && !stop; s++) {
        for (size_t i = 0; i < t->nparts && !stop; i++) {
            const fpart *p = &t->parts[i];
            if (p->token < lo[s] || p->token > hi[s]) continue;
            bs_slice sl = sc->slice ? *sc->slice : (bs_slice){0};
            if (s == first && sc->has_cursor) {
                int c = part_cmp(sc->cursor_token, sc->cursor_pk,
                                 sc->cursor_pk_len, p);
                if (c > 0) continue;
                if (c == 0) {
                    if (!sc->has_cursor_ck) continue;
                    sl.has_after = 1;
                    sl.after_ck = sc->cursor_ck;
                    sl.after_len = sc->cursor_ck_len;
                }
            }
            bs_partv *pv = read_part(f, p, p->token, p->pk, p->pk_len, &sl, &a);
            if (pv->nrows || pv->static_row) {
                int c = cb(cbud, pv);
                if (c > 0)
                    stop = 1;
                else if (c < 0) {
                    rc = c;
                    stop = 1;
                }
            }
            bs_arena_reset(&a);
        }
    }
    bs_arena_free(&a);
    if (rc) {
        err->code = BS_PROTO_ERR_SERVER;
        snprintf(err->msg, sizeof err->msg, "scan callback failed: %d", rc);
        return -1;
    }
    return 0;
}

static int be_truncate(void *ud, const bs_table_schema *ts, bs_exec_err *err) {
    (void)err;
    bs_fake_be *f = ud;
    f->st.truncates++;
    ftable *t = find_table(f, &ts->id, 0);
    if (t) table_clear(t);
    return 0;
}

static const int64_t fake_tokens[] = {INT64_MIN / 2, 0, INT64_MAX / 2};

static int be_nodes(void *ud, bs_arena *a, bs_exec_node *local,
                    bs_exec_node **peers, size_t *npeers) {
    (void)ud;
    (void)a;
    memset(local, 0, sizeof *local);
    local->address = "127.0.0.1";
    local->rpc_address = "127.0.0.1";
    local->native_port = 9042;
    local->storage_port = 7000;
    local->dc = "datacenter1";
    local->rack = "rack1";
    local->release_version = "4.0.0";
    local->tokens = fake_tokens;
    local->ntokens = 3;
    local->up = 1;
    *peers = NULL;
    *npeers = 0;
    return 0;
}

/* Advances by 1 µs per call, as a real clock moves between requests, so
 * that a write after a delete is newer than it. */
static int64_t be_now_us(void *ud) {
    return ((bs_fake_be *)ud)->now_us++;
}

bs_fake_be *bs_fake_new(void) {
    bs_fake_be *f = calloc(1, sizeof *f);
    if (!f) return NULL;
    f->schema = bs_schema_new();
    if (!f->schema) {
        free(f);
        return NULL;
    }
    f->now_us = INT64_C(1700000000) * 1000000;
    return f;
}

void bs_fake_free(bs_fake_be *f) {
    if (!f) return;
    for (size_t i = 0; i < f->ntables; i++)
        table_clear(&f->tables[i]);
    free(f->tables);
    bs_schema_release(f->schema);
    free(f);
}

void bs_fake_backend(bs_fake_be *f, bs_exec_backend *be) {
    memset(be, 0, sizeof *be);
    be->ud = f;
    be->schema_get = be_schema_get;
    be->schema_apply = be_schema_apply;
    be->write = be_write;
    be->counter_write = be_counter_write;
    be->read = be_read;
    be->scan = be_scan;
    be->truncate = be_truncate;
    be->nodes = be_nodes;
    be->now_us = be_now_us;
    be->cluster_name = "Fake Cluster";
}

void bs_fake_set_now(bs_fake_be *f, int64_t now_us) {
    f->now_us = now_us;
}
void bs_fake_advance(bs_fake_be *f, int64_t seconds) {
    f->now_us += seconds * 1000000;
}
int64_t bs_fake_now(const bs_fake_be *f) {
    return f->now_us;
}
const bs_fake_stats *bs_fake_stats_get(const bs_fake_be *f) {
    return &f->st;
}

void bs_fake_fail(bs_fake_be *f, int ops, const bs_exec_err *e) {
    f->fail_ops = ops;
    f->fail_err = *e;
}

/* ---- harness ------------------------------------------------------------- */

/* Compare-and-set on one node: read the slice, check, write the update
 * with its timestamps moved to a fresh "ballot" time (the fake's clock). */
static int be_cas(void *ud, const bs_exec_cas *q, bs_arena *a, bs_partv **cur,
                  int *applied, bs_exec_err *err) {
    bs_fake_be *f = ud;
    f->st.cas++;
    f->st.last_serial_cl = q->serial_cl;
    *applied = 0;
    if (take_failure(f, BS_FAKE_CAS, err)) return -1;
    if (be_read(ud, q->t, q->token, q->pk, q->pk_len, q->slice, BS_CL_QUORUM, a,
                cur, err))
        return -1;
    int ok = q->check(q->cud, *cur);
    if (ok <= 0) return ok;
    int64_t delta = be_now_us(f) - q->base_ts;
    bs_mutation *m = bs_arena_alloc(a, q->nm * sizeof *m);
    for (size_t i = 0; i < q->nm; i++) {
        m[i] = q->m[i];
        bs_mop *ops = bs_arena_alloc(a, (m[i].nops + 1) * sizeof *ops);
        for (size_t k = 0; k < m[i].nops; k++) {
            ops[k] = q->m[i].ops[k];
            ops[k].ts += delta;
        }
        m[i].ops = ops;
    }
    if (be_write(ud, m, q->nm, q->cl, 0, err)) return -1;
    *applied = 1;
    return 0;
}

void bs_fake_backend_cas(bs_fake_be *f, bs_exec_backend *be) {
    bs_fake_backend(f, be);
    be->cas = be_cas;
}

static int xh_init(bs_xh *h, int with_cas) {
    memset(h, 0, sizeof *h);
    h->f = bs_fake_new();
    if (!h->f) return BS_ENOMEM;
    bs_exec_backend be;
    if (with_cas) bs_fake_backend_cas(h->f, &be);
    else bs_fake_backend(h->f, &be);
    h->x = bs_exec_new(&be);
    if (!h->x) {
        bs_fake_free(h->f);
        return BS_ENOMEM;
    }
    bs_exec_session_init(&h->sess);
    bs_arena_init(&h->a, 0);
    bs_buf_init(&h->out);
    bs_buf_init(&h->text);
    bs_buf_init(&h->names);
    return 0;
}

int bs_xh_init(bs_xh *h) { return xh_init(h, 0); }
int bs_xh_init_cas(bs_xh *h) { return xh_init(h, 1); }

void bs_xh_destroy(bs_xh *h) {
    bs_exec_session_destroy(&h->sess);
    bs_exec_free(h->x);
    bs_fake_free(h->f);
    bs_arena_free(&h->a);
    bs_buf_free(&h->out);
    bs_buf_free(&h->text);
    bs_buf_free(&h->names);
    free(h->state);
}

static void add_str(bs_buf *b, const char *s) {
    if (bs_buf_append(b, s, strlen(s))) abort();
}

static void render_rows(bs_xh *h, const bs_proto_rows *rows) {
    bs_proto_rows_iter it;
    bs_proto_rows_iter_init(&it, rows);
    uint32_t nc = rows->meta.ncols;
    bs_proto_val *cells = bs_arena_alloc(&h->a, (nc ? nc : 1) * sizeof *cells);
    for (uint32_t i = 0; rows->meta.cols && i < nc; i++) {
        if (i) add_str(&h->names, ",");
        if (bs_buf_append(&h->names, rows->meta.cols[i].name.p,
                          rows->meta.cols[i].name.len))
            abort();
    }
    int first = 1;
    while (bs_proto_rows_next(&it, cells) == 1) {
        if (!first) add_str(&h->text, "\n");
        first = 0;
        for (uint32_t i = 0; i < nc; i++) {
            if (i) add_str(&h->text, " | ");
            if (cells[i].len < 0)
                add_str(&h->text, "null");
            else if (!rows->meta.cols)
                add_str(&h->text, "?");
            else if (bs_value_format(rows->meta.cols[i].type, cells[i].p,
                                     (size_t)cells[i].len, 0, &h->text))
                add_str(&h->text, "<bad value>");
        }
    }
}

/* Decodes h->out into h->r. */
static const bs_xres *decode(bs_xh *h) {
    bs_xres *r = &h->r;
    memset(r, 0, sizeof *r);
    r->err = -1;
    r->paging_state.len = BS_PROTO_NULL;
    bs_buf_reset(&h->text);
    bs_buf_reset(&h->names);
    bs_proto_header_opts ho = {0, 1};
    bs_proto_frame fr;
    char em[256];
    if (bs_proto_header_parse(h->out.data, h->out.len, &ho, &fr.h, em,
                              sizeof em) ||
        h->out.len != BS_PROTO_HEADER_LEN + fr.h.length) {
        r->err = -2;
        snprintf(r->msg, sizeof r->msg, "bad response frame");
        return r;
    }
    fr.body = h->out.data + BS_PROTO_HEADER_LEN;
    fr.body_len = fr.h.length;
    bs_proto_response resp;
    bs_proto_rd rd;
    if (bs_proto_response_decode(&fr, &h->a, &resp, &rd)) {
        r->err = -2;
        snprintf(r->msg, sizeof r->msg, "undecodable response");
        return r;
    }
    r->opcode = resp.opcode;
    if (resp.opcode == BS_PROTO_OP_ERROR) {
        r->error = resp.u.error;
        r->err = resp.u.error.code;
        snprintf(r->msg, sizeof r->msg, "%.*s", (int)resp.u.error.message.len,
                 resp.u.error.message.p);
    } else if (resp.opcode == BS_PROTO_OP_RESULT) {
        r->result = resp.u.result;
        r->kind = resp.u.result.kind;
        if (r->kind == BS_PROTO_RESULT_ROWS) {
            const bs_proto_rows *rows = &resp.u.result.u.rows;
            r->nrows = rows->nrows;
            r->ncols = rows->meta.ncols;
            render_rows(h, rows);
            if (rows->meta.paging_state.len >= 0) {
                free(h->state);
                h->state = dup_bytes(rows->meta.paging_state.p,
                                     (size_t)rows->meta.paging_state.len);
                r->paging_state = bs_proto_bytes(
                    h->state, (size_t)rows->meta.paging_state.len);
            }
        }
    }
    if (bs_buf_append(&h->text, "", 1) || bs_buf_append(&h->names, "", 1))
        abort();
    r->text = (const char *)h->text.data;
    r->colnames = (const char *)h->names.data;
    return r;
}

static const bs_xres *run(bs_xh *h, const bs_proto_request *req) {
    bs_buf_reset(&h->out);
    if (bs_exec_request(h->x, &h->sess, req, 7, BS_PROTO_COMP_NONE, &h->a,
                        &h->out)) {
        memset(&h->r, 0, sizeof h->r);
        h->r.err = -3;
        snprintf(h->r.msg, sizeof h->r.msg, "bs_exec_request failed");
        return &h->r;
    }
    return decode(h);
}

static void set_params(bs_xh *h, bs_proto_params *p, const bs_xq *q) {
    bs_proto_params_init(p);
    if (!q) return;
    if (q->cl) p->consistency = q->cl;
    if (q->page_size) {
        p->flags |= BS_PROTO_QF_PAGE_SIZE;
        p->page_size = q->page_size;
    }
    if (q->resume && q->resume->paging_state.len >= 0) {
        p->flags |= BS_PROTO_QF_PAGING_STATE;
        p->paging_state =
            bs_proto_bytes(bs_arena_memdup(&h->a, q->resume->paging_state.p,
                                           (size_t)q->resume->paging_state.len),
                           (size_t)q->resume->paging_state.len);
    }
    if (q->serial_cl) {
        p->flags |= BS_PROTO_QF_SERIAL_CONSISTENCY;
        p->serial_consistency = q->serial_cl;
    }
    if (q->timestamp) {
        p->flags |= BS_PROTO_QF_DEFAULT_TIMESTAMP;
        p->timestamp = q->timestamp;
    }
    if (q->nvalues) {
        p->flags |= BS_PROTO_QF_VALUES;
        p->nvalues = q->nvalues;
        p->values = (bs_proto_val *)q->values;
    }
}

const bs_xres *bs_xh_query(bs_xh *h, const char *cql, const bs_xq *q) {
    bs_arena_reset(&h->a);
    bs_proto_request req;
    memset(&req, 0, sizeof req);
    req.opcode = BS_PROTO_OP_QUERY;
    size_t n = strlen(cql);
    req.u.query.query.p = bs_arena_memdup(&h->a, cql, n);
    req.u.query.query.len = n;
    set_params(h, &req.u.query.params, q);
    return run(h, &req);
}

const bs_xres *bs_xh_q(bs_xh *h, const char *fmt, ...) {
    char buf[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return bs_xh_query(h, buf, NULL);
}

const bs_xres *bs_xh_prepare(bs_xh *h, const char *cql) {
    bs_arena_reset(&h->a);
    bs_proto_request req;
    memset(&req, 0, sizeof req);
    req.opcode = BS_PROTO_OP_PREPARE;
    size_t n = strlen(cql);
    req.u.prepare.query.p = bs_arena_memdup(&h->a, cql, n);
    req.u.prepare.query.len = n;
    return run(h, &req);
}

const bs_xres *bs_xh_execute(bs_xh *h, const uint8_t *id, size_t idlen,
                             const bs_xq *q) {
    bs_arena_reset(&h->a);
    bs_proto_request req;
    memset(&req, 0, sizeof req);
    req.opcode = BS_PROTO_OP_EXECUTE;
    req.u.execute.id = bs_proto_bytes(bs_arena_memdup(&h->a, id, idlen), idlen);
    set_params(h, &req.u.execute.params, q);
    return run(h, &req);
}

const bs_xres *bs_xh_batch(bs_xh *h, uint8_t type, const char *const *stmts,
                           size_t n, uint16_t cl) {
    bs_arena_reset(&h->a);
    bs_proto_request req;
    memset(&req, 0, sizeof req);
    req.opcode = BS_PROTO_OP_BATCH;
    bs_proto_batch *b = &req.u.batch;
    b->type = type;
    b->nstmts = (uint16_t)n;
    b->stmts = bs_arena_calloc(&h->a, (n ? n : 1) * sizeof *b->stmts);
    for (size_t i = 0; i < n; i++) {
        b->stmts[i].kind = 0;
        b->stmts[i].query.p =
            bs_arena_strndup(&h->a, stmts[i], strlen(stmts[i]));
        b->stmts[i].query.len = strlen(stmts[i]);
    }
    b->consistency = cl ? cl : BS_CL_ONE;
    b->serial_consistency = BS_CL_SERIAL;
    b->timestamp = INT64_MIN;
    return run(h, &req);
}
