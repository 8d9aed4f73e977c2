/*
 * ts_select.c - InfluxQL SELECT over a measurement's table.
 *
 * Plan: one scan of the measurement's table through the backend (every
 * partition = one series over one time bucket), as a visit (bs_visit):
 * rows come one at a time, and the partitions this node holds are read
 * in its store without building them (only the fields read are decoded,
 * the WHERE's time range is the slice's clustering bounds).  Partitions
 * whose bucket lies outside the WHERE time range, or whose series' tags
 * do not match the tag predicates, are skipped before their rows are
 * read (sel_part); an aggregate's scan reads the two halves of the ring
 * on two threads and merges them (visit_halves); each row inside the
 * time range feeds either
 *   - raw mode: a row (time, series, values) of its output series, or
 *   - aggregate mode: one accumulator per (output series, window, expr).
 * Output series are the GROUP BY tag combinations (one series when there
 * is no GROUP BY), sorted by their tags as InfluxDB sorts them; windows
 * are GROUP BY time() buckets aligned to the epoch plus the offset, or
 * one window for the whole range.  Then fill(), ORDER BY, LIMIT/OFFSET,
 * SLIMIT/SOFFSET, and InfluxDB 1.x's JSON (ts_json.c formats numbers
 * and times as Go does).
 *
 * InfluxDB's conventions kept: count of an empty window is 0 (fill(null)
 * leaves the others null); a query with exactly one selector (min, max,
 * first, last, percentile) and no GROUP BY time() reports the selected
 * point's time, every other aggregate the start of the range (0 when the
 * range is open); SELECT * lists fields and tags sorted by name; a tag
 * missing from a series compares as "".
 *
 * An aggregate's scan has the ranges other replicas hold aggregated
 * there ("Partial aggregates" below); the series-index path and raw
 * SELECTs read partitions.  Bounded: at most BS_TS_MAX_WINDOWS windows
 * per series, BS_TS_MAX_ROWS raw rows per query.
 */
#include <math.h>
#include <pthread.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <msgpack.h>

#include "common/error.h"
#include "common/mpcheck.h"
#include "node/ts/ts_int.h"
#include "query/ts/influxql.h"
#include "ring/murmur3.h"
#include "storage/keycodec.h"

#define BS_TS_MAX_WINDOWS 1000000
#define BS_TS_MAX_ROWS 10000000
#define MAX_TAGS 256

typedef struct val {
    int t; /* -1 null, else bs_lp_type */
    double f;
    int64_t i;
    uint64_t u;
    const char *s;
    size_t sn;
} val;

typedef struct acc {
    int64_t n;
    double fsum;
    int64_t isum;
    val min, max, first, last;
    int64_t tmin, tmax, tfirst, tlast;
    double *xs; /* median, stddev, percentile */
    int64_t *xt;
    val *xv;
    size_t nx, xcap;
} acc;

typedef struct win {
    int64_t start;
    acc *a; /* nexprs */
    int any;
} win;

typedef struct rawrow {
    int64_t t;
    const char *series;
    size_t sn;
    val *v; /* nfields */
} rawrow;

typedef struct group {
    const char *key; /* group key (tag values joined) */
    size_t kn;
    const char **tv; /* values of the group tags */
    rawrow *rows;
    size_t nrows, rcap;
    win *w;
    size_t nw, wcap;
    int64_t last_start; /* window lookup cache */
    size_t last_idx;
} group;

typedef struct sel {
    bs_ts *ts;
    const bs_iq_stmt *st;
    const bs_table_schema *t;
    bs_arena *a;
    int agg; /* aggregate mode */
    /* fields read: column ids and types */
    uint16_t *cols;
    int *ctype;
    size_t ncols;
    /* expression -> field index (or -1 for a tag in raw mode) */
    int *efield;
    const char **etag;
    /* output columns (raw mode) */
    const char **names;
    size_t nnames;
    /* WHERE: per comparison, the field index in vals (-1: a tag) and
     * its compiled regex; wrow: a field is compared (per row) */
    int *wfield;
    regex_t *wre;
    int *wre_ok;
    int wrow;
    size_t nout; /* cols[0..nout) are output fields; the rest are compared */
    /* grouping */
    const char **gtags;
    size_t ngtags;
    group *g;
    size_t ng, gcap;
    int64_t tmin, tmax;
    int64_t dmin, dmax; /* data time range seen */
    size_t rows;
    /* the partition being read (sel_part): its tags, group, series key */
    bs__ts_tag tags[MAX_TAGS];
    size_t nt;
    group *cur_g;
    const char *series;
    size_t sn;
    const uint8_t *want_pk; /* only this partition (index path) */
    size_t want_len;
    bs_buf ckb; /* clustering key decoding */
    const bs_buf *preq; /* the partial-visit request (aggregates), or NULL */
    const char *db;
    char err[512];
} sel;

/* ------------------------------------------------------------------ */
/* Decoding                                                             */
/* ------------------------------------------------------------------ */

static uint64_t rd64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v = v << 8 | p[i];
    return v;
}

static val decode(int type, const uint8_t *p, size_t n) {
    val v;
    memset(&v, 0, sizeof v);
    v.t = -1;
    switch (type) {
    case BS_LP_FLOAT:
        if (n == 8) {
            uint64_t b = rd64(p);
            memcpy(&v.f, &b, 8);
            v.t = BS_LP_FLOAT;
        }
        break;
    case BS_LP_INT:
        if (n == 8) {
            v.i = (int64_t)rd64(p);
            v.t = BS_LP_INT;
        }
        break;
    case BS_LP_UINT:
        if (n >= 1 && n <= 9 && !(p[0] & 0x80)) {
            uint64_t u = 0;
            for (size_t i = 0; i < n; i++) u = u << 8 | p[i];
            v.u = u;
            v.t = BS_LP_UINT;
        }
        break;
    case BS_LP_STRING:
        v.s = (const char *)p;
        v.sn = n;
        v.t = BS_LP_STRING;
        break;
    case BS_LP_BOOL:
        if (n == 1) {
            v.i = p[0] != 0;
            v.t = BS_LP_BOOL;
        }
        break;
    }
    return v;
}

static double num(const val *v) {
    return v->t == BS_LP_FLOAT ? v->f : v->t == BS_LP_INT ? (double)v->i : (double)v->u;
}

static int numeric(const val *v) {
    return v->t == BS_LP_FLOAT || v->t == BS_LP_INT || v->t == BS_LP_UINT;
}

/* <0, 0, >0 for numeric values of the same field type */
static int vcmp(const val *a, const val *b) {
    if (a->t == BS_LP_INT) return (a->i > b->i) - (a->i < b->i);
    if (a->t == BS_LP_UINT) return (a->u > b->u) - (a->u < b->u);
    return (a->f > b->f) - (a->f < b->f);
}

/* ------------------------------------------------------------------ */
/* Series keys and tags                                                 */
/* ------------------------------------------------------------------ */

/* Series keys and tags (bs__ts_series_tags, see ts_int.h). */
static size_t unesc_to(const char *s, size_t n, char *o) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\\' && i + 1 < n && (s[i + 1] == ',' || s[i + 1] == ' ' || s[i + 1] == '='))
            i++;
        o[k++] = s[i];
    }
    o[k] = 0;
    return k;
}

size_t bs__ts_series_tags(const char *key, size_t n, bs_arena *a, bs__ts_tag *tags, size_t cap) {
    size_t i = 0, nt = 0;
    while (i < n && !(key[i] == ',' && (i == 0 || key[i - 1] != '\\'))) i++;
    while (i < n && nt < cap) {
        size_t k0 = ++i;
        while (i < n && !(key[i] == '=' && key[i - 1] != '\\')) i++;
        size_t k1 = i, v0 = ++i;
        while (i < n && !(key[i] == ',' && key[i - 1] != '\\')) i++;
        if (k1 > n || v0 > n) break;
        char *k = bs_arena_alloc(a, k1 - k0 + 1), *v = bs_arena_alloc(a, i - v0 + 1);
        if (!k || !v) break;
        unesc_to(key + k0, k1 - k0, k);
        unesc_to(key + v0, i - v0, v);
        tags[nt].k = k;
        tags[nt++].v = v;
    }
    return nt;
}

static const char *tag_of(const bs__ts_tag *t, size_t n, const char *k) {
    for (size_t i = 0; i < n; i++)
        if (!strcmp(t[i].k, k)) return t[i].v;
    return "";
}

/* ------------------------------------------------------------------ */
/* Groups and windows                                                   */
/* ------------------------------------------------------------------ */

/* A zeroed group appended to s->g (grown in the arena), or NULL. */
static group *new_group(sel *s) {
    if (s->ng == s->gcap) {
        size_t nc = s->gcap ? s->gcap * 2 : 16;
        group *g = bs_arena_alloc(s->a, nc * sizeof *g);
        if (!g) return NULL;
        if (s->ng) memcpy(g, s->g, s->ng * sizeof *g);
        s->g = g;
        s->gcap = nc;
    }
    group *g = &s->g[s->ng++];
    memset(g, 0, sizeof *g);
    return g;
}

static group *find_group(sel *s, const bs__ts_tag *tags, size_t nt) {
    char kb[4096];
    size_t kn = 0;
    for (size_t i = 0; i < s->ngtags; i++) {
        const char *v = tag_of(tags, nt, s->gtags[i]);
        size_t l = strlen(v);
        if (kn + l + 1 >= sizeof kb) break;
        memcpy(kb + kn, v, l);
        kn += l;
        kb[kn++] = 0;
    }
    for (size_t i = 0; i < s->ng; i++)
        if (s->g[i].kn == kn && !memcmp(s->g[i].key, kb, kn)) return &s->g[i];
    group *g = new_group(s);
    if (!g) return NULL;
    g->key = bs_arena_memdup(s->a, kb, kn ? kn : 1);
    g->kn = kn;
    g->tv = bs_arena_alloc(s->a, (s->ngtags ? s->ngtags : 1) * sizeof *g->tv);
    if (!g->key || !g->tv) return NULL;
    for (size_t i = 0; i < s->ngtags; i++) {
        const char *v = tag_of(tags, nt, s->gtags[i]);
        g->tv[i] = bs_arena_strndup(s->a, v, strlen(v));
    }
    g->last_idx = (size_t)-1;
    return g;
}

static int64_t window_of(const sel *s, int64_t t) {
    if (!s->st->interval) return 0;
    int64_t iv = s->st->interval, off = s->st->offset % iv;
    int64_t x = t - off;
    int64_t q = x / iv;
    if (x % iv && x < 0) q--;
    return q * iv + off;
}

static win *get_window(sel *s, group *g, int64_t start) {
    if (g->last_idx != (size_t)-1 && g->last_start == start) return &g->w[g->last_idx];
    for (size_t i = g->nw; i-- > 0;) /* rows mostly arrive in time order */
        if (g->w[i].start == start) {
            g->last_start = start;
            g->last_idx = i;
            return &g->w[i];
        }
    if (g->nw >= BS_TS_MAX_WINDOWS) return NULL;
    if (g->nw == g->wcap) {
        size_t nc = g->wcap ? g->wcap * 2 : 16;
        win *w = bs_arena_alloc(s->a, nc * sizeof *w);
        if (!w) return NULL;
        if (g->nw) memcpy(w, g->w, g->nw * sizeof *w);
        g->w = w;
        g->wcap = nc;
    }
    win *w = &g->w[g->nw];
    w->start = start;
    w->any = 0;
    w->a = bs_arena_calloc(s->a, s->st->nexprs * sizeof *w->a);
    if (!w->a) return NULL;
    g->last_start = start;
    g->last_idx = g->nw++;
    return w;
}

static int need_values(bs_iq_agg a) {
    return a == BS_IQ_MEDIAN || a == BS_IQ_STDDEV || a == BS_IQ_PERCENTILE;
}

static int feed(sel *s, acc *c, bs_iq_agg agg, int64_t t, const val *v) {
    if (v->t < 0) return 0;
    c->n++;
    if (agg == BS_IQ_FIRST || agg == BS_IQ_LAST || agg == BS_IQ_COUNT) {
        if (c->n == 1 || t < c->tfirst) c->first = *v, c->tfirst = t;
        if (c->n == 1 || t > c->tlast) c->last = *v, c->tlast = t;
        return 0;
    }
    if (!numeric(v)) return 0;
    if (v->t == BS_LP_INT) c->isum += v->i;
    else if (v->t == BS_LP_UINT) c->isum += (int64_t)v->u;
    c->fsum += num(v);
    if (c->n == 1 || vcmp(v, &c->min) < 0 || (vcmp(v, &c->min) == 0 && t < c->tmin))
        c->min = *v, c->tmin = t;
    if (c->n == 1 || vcmp(v, &c->max) > 0 || (vcmp(v, &c->max) == 0 && t < c->tmax))
        c->max = *v, c->tmax = t;
    if (c->n == 1) c->first = *v, c->tfirst = t;
    if (need_values(agg)) {
        if (c->nx == c->xcap) {
            size_t nc = c->xcap ? c->xcap * 2 : 16;
            double *xs = bs_arena_alloc(s->a, nc * sizeof *xs);
            int64_t *xt = bs_arena_alloc(s->a, nc * sizeof *xt);
            val *xv = bs_arena_alloc(s->a, nc * sizeof *xv);
            if (!xs || !xt || !xv) return -1;
            if (c->nx) {
                memcpy(xs, c->xs, c->nx * sizeof *xs);
                memcpy(xt, c->xt, c->nx * sizeof *xt);
                memcpy(xv, c->xv, c->nx * sizeof *xv);
            }
            c->xs = xs;
            c->xt = xt;
            c->xv = xv;
            c->xcap = nc;
        }
        c->xs[c->nx] = num(v);
        c->xt[c->nx] = t;
        c->xv[c->nx++] = *v;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* The scan                                                             */
/* ------------------------------------------------------------------ */

static int ord(int c, bs_iq_op op) {
    switch (op) {
    case BS_IQ_EQ: return c == 0;
    case BS_IQ_NE: return c != 0;
    case BS_IQ_LT: return c < 0;
    case BS_IQ_LE: return c <= 0;
    case BS_IQ_GT: return c > 0;
    case BS_IQ_GE: return c >= 0;
    default: return 0;
    }
}

static int where_re(sel *s, const bs_iq_where *w, const char *v, size_t n) {
    char buf[512];
    char *z = n < sizeof buf ? buf : bs_arena_alloc(s->a, n + 1);
    if (!z || !s->wre_ok[w->id]) return 0;
    memcpy(z, v, n);
    z[n] = 0;
    int m = regexec(&s->wre[w->id], z, 0, NULL, 0) == 0;
    return w->op == BS_IQ_RE ? m : !m;
}

/* One comparison, InfluxDB's way: a tag compares as a string ("" when
 * the series lacks it); a field compares with a literal of its kind
 * (numbers with numbers, strings with strings, booleans with booleans),
 * anything else (or a null field) is false. */
static int eval_cmp(sel *s, const bs_iq_where *w, const bs__ts_tag *tags, size_t nt,
                    const val *vals) {
    int f = s->wfield[w->id];
    if (f < 0) {
        const char *v = tag_of(tags, nt, w->key);
        if (w->lit == BS_IQ_LIT_REGEX) return where_re(s, w, v, strlen(v));
        if (w->lit != BS_IQ_LIT_STRING || (w->op != BS_IQ_EQ && w->op != BS_IQ_NE)) return 0;
        return ord(strcmp(v, w->s), w->op);
    }
    const val *v = &vals[f];
    if (v->t < 0) return 0;
    if (v->t == BS_LP_STRING) {
        if (w->lit == BS_IQ_LIT_REGEX) return where_re(s, w, v->s, v->sn);
        if (w->lit != BS_IQ_LIT_STRING || (w->op != BS_IQ_EQ && w->op != BS_IQ_NE)) return 0;
        size_t ln = strlen(w->s), n = v->sn < ln ? v->sn : ln;
        int c = memcmp(v->s, w->s, n);
        return ord(c ? c : (v->sn > ln) - (v->sn < ln), w->op);
    }
    if (v->t == BS_LP_BOOL) {
        if (w->lit != BS_IQ_LIT_BOOL || (w->op != BS_IQ_EQ && w->op != BS_IQ_NE)) return 0;
        return ord((int)v->i != w->b, w->op);
    }
    if (w->lit != BS_IQ_LIT_NUMBER) return 0;
    if (v->t == BS_LP_INT && w->is_int) return ord((v->i > w->i) - (v->i < w->i), w->op);
    double x = num(v);
    return ord((x > w->num) - (x < w->num), w->op);
}

static int eval(sel *s, const bs_iq_where *w, const bs__ts_tag *tags, size_t nt,
                const val *vals) {
    if (!w) return 1;
    if (w->kind == BS_IQ_W_AND)
        return eval(s, w->l, tags, nt, vals) && eval(s, w->r, tags, nt, vals);
    if (w->kind == BS_IQ_W_OR)
        return eval(s, w->l, tags, nt, vals) || eval(s, w->r, tags, nt, vals);
    return eval_cmp(s, w, tags, nt, vals);
}

/* The partition pk (series, bucket) before its rows: 0 read them, 1
 * skip it (the bucket lies outside the range, the series' tags do not
 * match the WHERE, or it is not the one partition wanted), -1 error
 * (s->err).  Sets the partition's state (tags, group, series) the rows
 * use. */
static int sel_part(void *ud, int64_t token, const uint8_t *pk, size_t pk_len) {
    (void)token;
    sel *s = ud;
    s->cur_g = NULL;
    if (s->want_pk && (pk_len != s->want_len || memcmp(pk, s->want_pk, pk_len))) return 1;
    bs_ring_keypart kp[2];
    if (bs_ring_decompose_key(pk, pk_len, 2, kp) || kp[1].len != 8) return 1;
    int64_t bucket = (int64_t)rd64(kp[1].data), bw = s->ts->bucket_ns;
    int64_t b0, b1;
    if (__builtin_mul_overflow(bucket, bw, &b0)) return 1;
    if (__builtin_add_overflow(b0, bw - 1, &b1)) b1 = INT64_MAX;
    if (b1 < s->tmin || b0 > s->tmax) return 1; /* the whole bucket is outside */
    s->nt = bs__ts_series_tags((const char *)kp[0].data, kp[0].len, s->a, s->tags, MAX_TAGS);
    if (!s->wrow && !eval(s, s->st->where, s->tags, s->nt, NULL)) return 1;
    s->cur_g = find_group(s, s->tags, s->nt);
    s->series = NULL;
    s->sn = kp[0].len;
    if (s->cur_g && !s->agg) s->series = bs_arena_memdup(s->a, kp[0].data, kp[0].len ? kp[0].len : 1);
    if (!s->cur_g || (!s->agg && !s->series)) {
        snprintf(s->err, sizeof s->err, "out of memory");
        return -1;
    }
    return 0;
}

/* One raw row: appended to its output series.  0 or -1 (s->err). */
static int add_raw(sel *s, group *g, int64_t t, const val *vals) {
    if (++s->rows > BS_TS_MAX_ROWS) {
        snprintf(s->err, sizeof s->err, "the query would return more than %d rows", BS_TS_MAX_ROWS);
        return -1;
    }
    if (g->nrows == g->rcap) {
        size_t nc = g->rcap ? g->rcap * 2 : 64;
        rawrow *rr = bs_arena_alloc(s->a, nc * sizeof *rr);
        if (!rr) goto oom;
        if (g->nrows) memcpy(rr, g->rows, g->nrows * sizeof *rr);
        g->rows = rr;
        g->rcap = nc;
    }
    rawrow *rr = &g->rows[g->nrows++];
    rr->t = t;
    rr->series = s->series;
    rr->sn = s->sn;
    rr->v = bs_arena_memdup(s->a, vals, (s->ncols ? s->ncols : 1) * sizeof *vals);
    if (!rr->v) goto oom;
    return 0;
oom:
    snprintf(s->err, sizeof s->err, "out of memory");
    return -1;
}

/* One row of the partition sel_part accepted (borrowed): its time and
 * the fields read, then raw output or the window's accumulators.  0 or
 * -1 (s->err). */
static int sel_row(void *ud, const bs_rowv *row) {
    sel *s = ud;
    group *g = s->cur_g;
    if (!g) return 0;
    const bs_column *tc = &s->t->cols[s->t->npk];
    bs_rbuf rb;
    bs_rbuf_init(&rb, row->ck, row->ck_len);
    bs_buf_reset(&s->ckb);
    if (bs_keycodec_decode(tc->type, tc->desc, &rb, &s->ckb, NULL) || s->ckb.len != 8) return 0;
    int64_t t = (int64_t)rd64(s->ckb.data);
    if (t < s->tmin || t > s->tmax) return 0;
    val vals[256];
    int anyv = 0;
    for (size_t f = 0; f < s->ncols; f++) {
        vals[f].t = -1;
        for (size_t c = 0; c < row->ncells; c++)
            if (row->cells[c].col == s->cols[f] && !row->cells[c].has_elem) {
                vals[f] = decode(s->ctype[f], row->cells[c].val, row->cells[c].val_len);
                if (vals[f].t == BS_LP_STRING) {
                    vals[f].s = bs_arena_memdup(s->a, vals[f].s, vals[f].sn ? vals[f].sn : 1);
                    if (!vals[f].s) goto oom;
                }
                break;
            }
        anyv |= f < s->nout && vals[f].t >= 0;
    }
    if (!anyv) return 0; /* InfluxDB: a row without any selected field is not output */
    if (s->wrow && !eval(s, s->st->where, s->tags, s->nt, vals)) return 0;
    if (t < s->dmin) s->dmin = t;
    if (t > s->dmax) s->dmax = t;
    if (!s->agg) return add_raw(s, g, t, vals);
    win *w = get_window(s, g, window_of(s, t));
    if (!w) {
        snprintf(s->err, sizeof s->err, "too many GROUP BY time() windows (max %d)",
                 BS_TS_MAX_WINDOWS);
        return -1;
    }
    w->any = 1;
    for (size_t e = 0; e < s->st->nexprs; e++)
        if (feed(s, &w->a[e], s->st->exprs[e].agg, t, &vals[s->efield[e]])) goto oom;
    return 0;
oom:
    snprintf(s->err, sizeof s->err, "out of memory");
    return -1;
}

/* A whole partition (from a backend without visit, or a read). */
static int on_part(void *ud, const bs_partv *p) {
    int c = sel_part(ud, p->token, p->pk, p->pk_len);
    if (c) return c < 0 ? c : 0;
    for (size_t r = 0; r < p->nrows; r++)
        if ((c = sel_row(ud, &p->rows[r]))) return c;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Results                                                              */
/* ------------------------------------------------------------------ */

static void put_val(bs_buf *o, const val *v) {
    char b[64];
    switch (v->t) {
    case BS_LP_FLOAT:
        bs__ts_fmt_float(v->f, b, sizeof b);
        bs_buf_append_str(o, b);
        break;
    case BS_LP_INT: bs_buf_appendf(o, "%lld", (long long)v->i); break;
    case BS_LP_UINT: bs_buf_appendf(o, "%llu", (unsigned long long)v->u); break;
    case BS_LP_STRING: bs_http_json_str(o, v->s, v->sn); break;
    case BS_LP_BOOL: bs_buf_append_str(o, v->i ? "true" : "false"); break;
    default: bs_buf_append_str(o, "null");
    }
}

static int cmp_dbl(const void *x, const void *y) {
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

typedef struct pv {
    val v;
    int64_t t;
} pv;

static int cmp_pv(const void *x, const void *y) {
    const pv *a = x, *b = y;
    int c = vcmp(&a->v, &b->v);
    return c ? c : (a->t > b->t) - (a->t < b->t);
}

/* The value of expression e over accumulator c; *t = selected time. */
static val result(sel *s, const bs_iq_expr *e, acc *c, int64_t *t) {
    val r;
    memset(&r, 0, sizeof r);
    r.t = -1;
    *t = INT64_MIN;
    switch (e->agg) {
    case BS_IQ_COUNT:
        r.t = BS_LP_INT;
        r.i = c->n;
        return r;
    case BS_IQ_FIRST:
        if (c->n) r = c->first, *t = c->tfirst;
        return r;
    case BS_IQ_LAST:
        if (c->n) r = c->last, *t = c->tlast;
        return r;
    default: break;
    }
    if (!c->n || c->min.t < 0) return r;
    int ty = c->min.t;
    switch (e->agg) {
    case BS_IQ_SUM:
        if (ty == BS_LP_FLOAT) r.t = BS_LP_FLOAT, r.f = c->fsum;
        else r.t = BS_LP_INT, r.i = c->isum;
        break;
    case BS_IQ_MEAN: r.t = BS_LP_FLOAT, r.f = c->fsum / (double)c->n; break;
    case BS_IQ_MIN: r = c->min, *t = c->tmin; break;
    case BS_IQ_MAX: r = c->max, *t = c->tmax; break;
    case BS_IQ_SPREAD:
        r.t = ty;
        if (ty == BS_LP_FLOAT) r.f = c->max.f - c->min.f;
        else if (ty == BS_LP_INT) r.i = c->max.i - c->min.i;
        else r.u = c->max.u - c->min.u;
        break;
    case BS_IQ_MEDIAN: {
        qsort(c->xs, c->nx, sizeof *c->xs, cmp_dbl);
        r.t = BS_LP_FLOAT;
        r.f = c->nx % 2 ? c->xs[c->nx / 2] : (c->xs[c->nx / 2 - 1] + c->xs[c->nx / 2]) / 2;
        break;
    }
    case BS_IQ_STDDEV: {
        if (c->nx < 2) break;
        double mean = 0, var = 0;
        for (size_t i = 0; i < c->nx; i++) mean += c->xs[i];
        mean /= (double)c->nx;
        for (size_t i = 0; i < c->nx; i++) var += (c->xs[i] - mean) * (c->xs[i] - mean);
        r.t = BS_LP_FLOAT;
        r.f = sqrt(var / (double)(c->nx - 1));
        break;
    }
    case BS_IQ_PERCENTILE: {
        pv *v = bs_arena_alloc(s->a, c->nx * sizeof *v);
        if (!v) break;
        for (size_t i = 0; i < c->nx; i++) v[i].v = c->xv[i], v[i].t = c->xt[i];
        qsort(v, c->nx, sizeof *v, cmp_pv);
        long i = (long)floor((double)c->nx * e->arg / 100.0 + 0.5) - 1;
        if (i >= 0 && (size_t)i < c->nx) r = v[i].v, *t = v[i].t;
        break;
    }
    default: break;
    }
    return r;
}

/* The value of expression e after its arithmetic (InfluxDB applies it
 * after fill()). */
static val math_val(const bs_iq_expr *e, val v) {
    if (!e->nmath || v.t < 0) return v;
    bs_iq_value x = {v.t == BS_LP_INT, v.i, v.t == BS_LP_UINT ? (double)v.u : v.f};
    x = bs_iq_math_apply(e->math, e->nmath, x);
    val r = {.t = x.is_int ? BS_LP_INT : BS_LP_FLOAT, .i = x.i, .f = x.f};
    return r;
}

static int is_selector(bs_iq_agg a) {
    return a == BS_IQ_MIN || a == BS_IQ_MAX || a == BS_IQ_FIRST || a == BS_IQ_LAST ||
           a == BS_IQ_PERCENTILE;
}

static int cmp_group(const void *x, const void *y) {
    const group *a = x, *b = y;
    size_t n = a->kn < b->kn ? a->kn : b->kn;
    int r = memcmp(a->key, b->key, n);
    return r ? r : (a->kn > b->kn) - (a->kn < b->kn);
}

static int cmp_raw(const void *x, const void *y) {
    const rawrow *a = x, *b = y;
    if (a->t != b->t) return a->t < b->t ? -1 : 1;
    size_t n = a->sn < b->sn ? a->sn : b->sn;
    int r = memcmp(a->series, b->series, n);
    return r ? r : (a->sn > b->sn) - (a->sn < b->sn);
}

static void series_head(sel *s, const group *g, bs_buf *o, int *first) {
    bs_buf_append_str(o, *first ? ",\"series\":[{\"name\":" : ",{\"name\":");
    *first = 0;
    bs_http_json_str(o, s->st->from, strlen(s->st->from));
    if (s->ngtags) {
        bs_buf_append_str(o, ",\"tags\":{");
        for (size_t i = 0; i < s->ngtags; i++) {
            if (i) bs_buf_append_str(o, ",");
            bs_http_json_str(o, s->gtags[i], strlen(s->gtags[i]));
            bs_buf_append_str(o, ":");
            bs_http_json_str(o, g->tv[i], strlen(g->tv[i]));
        }
        bs_buf_append_str(o, "}");
    }
    bs_buf_append_str(o, ",\"columns\":[\"time\"");
}

/* ",\"name\"" of output column c: InfluxDB names a repeated column
 * name_1, name_2, ... */
static void column_name(bs_buf *o, const char *const *names, size_t c) {
    int dup = 0;
    for (size_t x = 0; x < c; x++) dup += !strcmp(names[x], names[c]);
    bs_buf_append_str(o, ",");
    if (dup) {
        char b[300];
        snprintf(b, sizeof b, "%.280s_%d", names[c], dup);
        bs_http_json_str(o, b, strlen(b));
    } else {
        bs_http_json_str(o, names[c], strlen(names[c]));
    }
}

/* Raw rows of one output series. */
static void emit_raw(sel *s, group *g, int64_t ediv, bs_buf *o, int *first) {
    if (g->nrows > 1) qsort(g->rows, g->nrows, sizeof *g->rows, cmp_raw);
    size_t from = (size_t)s->st->offset_rows, n = g->nrows;
    if (from >= n) return;
    size_t cnt = n - from;
    if (s->st->limit > 0 && (size_t)s->st->limit < cnt) cnt = (size_t)s->st->limit;
    series_head(s, g, o, first);
    for (size_t c = 0; c < s->nnames; c++)
        column_name(o, s->names, c);
    bs_buf_append_str(o, "],\"values\":[");
    bs__ts_tag tags[MAX_TAGS];
    for (size_t k = 0; k < cnt; k++) {
        size_t idx = s->st->desc ? n - 1 - from - k : from + k;
        rawrow *r = &g->rows[idx];
        char tb[64];
        bs__ts_fmt_time(r->t, ediv, tb, sizeof tb);
        bs_buf_appendf(o, "%s[%s", k ? "," : "", tb);
        size_t nt = 0;
        int parsed = 0;
        for (size_t c = 0; c < s->nnames; c++) {
            bs_buf_append_str(o, ",");
            if (s->efield[c] >= 0) {
                val v = r->v[s->efield[c]];
                if (c < s->st->nexprs) v = math_val(&s->st->exprs[c], v);
                put_val(o, &v);
                continue;
            }
            if (!parsed) {
                nt = bs__ts_series_tags(r->series, r->sn, s->a, tags, MAX_TAGS);
                parsed = 1;
            }
            const char *v = tag_of(tags, nt, s->etag[c]);
            if (*v)
                bs_http_json_str(o, v, strlen(v));
            else
                bs_buf_append_str(o, "null");
        }
        bs_buf_append_str(o, "]");
    }
    bs_buf_append_str(o, "]}");
}

static int cmp_win(const void *x, const void *y) {
    const win *a = x, *b = y;
    return (a->start > b->start) - (a->start < b->start);
}

/* Aggregated rows of one output series. */
static void emit_agg(sel *s, group *g, int64_t ediv, bs_buf *o, int *first) {
    const bs_iq_stmt *st = s->st;
    size_t ne = st->nexprs;
    if (g->nw > 1) qsort(g->w, g->nw, sizeof *g->w, cmp_win);
    /* the windows to output */
    int64_t w0, w1;
    size_t nwin;
    if (st->interval) {
        w0 = window_of(s, st->has_tmin ? s->tmin : s->dmin);
        w1 = window_of(s, st->has_tmax ? s->tmax : s->dmax);
        if (w1 < w0) return;
        uint64_t span = (uint64_t)(w1 - w0) / (uint64_t)st->interval + 1;
        nwin = span > BS_TS_MAX_WINDOWS ? BS_TS_MAX_WINDOWS : (size_t)span;
    } else {
        w0 = w1 = 0;
        nwin = 1;
    }
    val *grid = bs_arena_alloc(s->a, nwin * ne * sizeof *grid);
    int64_t *times = bs_arena_alloc(s->a, nwin * sizeof *times);
    int *has = bs_arena_calloc(s->a, nwin * sizeof *has);
    if (!grid || !times || !has) return;
    static acc empty;
    size_t wi = 0;
    int single_sel = !st->interval && ne == 1 && is_selector(st->exprs[0].agg);
    for (size_t k = 0; k < nwin; k++) {
        int64_t start = st->interval ? w0 + (int64_t)k * st->interval : 0;
        while (wi < g->nw && g->w[wi].start < start) wi++;
        win *w = (wi < g->nw && g->w[wi].start == start) ? &g->w[wi] : NULL;
        times[k] = st->interval ? start : (st->has_tmin ? s->tmin : 0);
        has[k] = w && w->any;
        for (size_t e = 0; e < ne; e++) {
            int64_t t;
            grid[k * ne + e] = result(s, &st->exprs[e], w ? &w->a[e] : &empty, &t);
            if (single_sel && t != INT64_MIN) times[k] = t;
        }
    }
    /* fill */
    for (size_t e = 0; e < ne; e++) {
        val prev = {.t = -1};
        for (size_t k = 0; k < nwin; k++) {
            val *v = &grid[k * ne + e];
            if (v->t >= 0) {
                prev = *v;
                continue;
            }
            if (st->fill == BS_IQ_FILL_PREVIOUS) *v = prev;
            else if (st->fill == BS_IQ_FILL_NUMBER) {
                v->t = BS_LP_FLOAT;
                v->f = st->fill_value;
                if (st->fill_value == floor(st->fill_value) && prev.t == BS_LP_INT)
                    v->t = BS_LP_INT, v->i = (int64_t)st->fill_value;
            } else if (st->fill == BS_IQ_FILL_LINEAR && prev.t >= 0 && numeric(&prev)) {
                size_t j = k + 1;
                while (j < nwin && grid[j * ne + e].t < 0) j++;
                size_t pk = k;
                while (pk > 0 && grid[(pk - 1) * ne + e].t < 0) pk--;
                if (j < nwin && pk > 0) {
                    val *a = &grid[(pk - 1) * ne + e], *b = &grid[j * ne + e];
                    double x = num(a) + (num(b) - num(a)) * (double)(k - (pk - 1)) /
                                            (double)(j - (pk - 1));
                    if (a->t == BS_LP_INT && b->t == BS_LP_INT) v->t = BS_LP_INT, v->i = (int64_t)x;
                    else v->t = BS_LP_FLOAT, v->f = x;
                }
            }
        }
    }
    for (size_t e = 0; e < ne; e++)
        if (st->exprs[e].nmath)
            for (size_t k = 0; k < nwin; k++)
                grid[k * ne + e] = math_val(&st->exprs[e], grid[k * ne + e]);
    /* rows kept: fill(none) drops windows without points */
    size_t *keep = bs_arena_alloc(s->a, nwin * sizeof *keep);
    if (!keep) return;
    size_t nk = 0;
    for (size_t k = 0; k < nwin; k++)
        if (st->fill != BS_IQ_FILL_NONE || has[k]) keep[nk++] = k;
    if (!st->interval && !has[0]) nk = 0; /* no points: no series */
    size_t from = (size_t)st->offset_rows;
    if (from >= nk) return;
    size_t cnt = nk - from;
    if (st->limit > 0 && (size_t)st->limit < cnt) cnt = (size_t)st->limit;
    series_head(s, g, o, first);
    const char **names = bs_arena_alloc(s->a, ne * sizeof *names);
    if (!names) return;
    for (size_t e = 0; e < ne; e++)
        names[e] = st->exprs[e].alias ? st->exprs[e].alias : bs_iq_agg_name(st->exprs[e].agg);
    for (size_t e = 0; e < ne; e++) column_name(o, names, e);
    bs_buf_append_str(o, "],\"values\":[");
    for (size_t i = 0; i < cnt; i++) {
        size_t k = keep[st->desc ? nk - 1 - from - i : from + i];
        char tb[64];
        bs__ts_fmt_time(times[k], ediv, tb, sizeof tb);
        bs_buf_appendf(o, "%s[%s", i ? "," : "", tb);
        for (size_t e = 0; e < ne; e++) {
            bs_buf_append_str(o, ",");
            put_val(o, &grid[k * ne + e]);
        }
        bs_buf_append_str(o, "]");
    }
    bs_buf_append_str(o, "]}");
}

/* ------------------------------------------------------------------ */
/* Entry                                                                */
/* ------------------------------------------------------------------ */

static int cmp_cstr(const void *x, const void *y) {
    return strcmp(*(const char *const *)x, *(const char *const *)y);
}

/* Tag keys of measurement m (from the series index), sorted. */
static size_t tag_keys(bs_ts *ts, const char *db, const char *m, bs_arena *a, const char ***out);

static const char *lp_type_name(int t) {
    return t < 0 ? "tag" : bs_lp_type_name((bs_lp_type)t);
}

static int is_tag(sel *s, const char *db, const char *key) {
    const char **tk = NULL;
    size_t n = tag_keys(s->ts, db, s->st->from, s->a, &tk);
    for (size_t i = 0; i < n; i++)
        if (!strcmp(tk[i], key)) return 1;
    return 0;
}

/* Arithmetic needs a number: the field's type (lp, -1 for a tag) for
 * expression e.  0, or -1 with InfluxDB's type error in s->err. */
static int check_math(sel *s, const bs_iq_expr *e, int lp) {
    if (!e->nmath || e->agg == BS_IQ_COUNT || e->agg == BS_IQ_MEAN || e->agg == BS_IQ_MEDIAN ||
        e->agg == BS_IQ_STDDEV || lp == BS_LP_FLOAT || lp == BS_LP_INT || lp == BS_LP_UINT)
        return 0;
    const bs_iq_math *m = &e->math[0];
    char var[160], k[48];
    if (e->agg)
        snprintf(var, sizeof var, "%s(%s::%s)", bs_iq_agg_name(e->agg), e->name, lp_type_name(lp));
    else
        snprintf(var, sizeof var, "%s::%s", e->name, lp_type_name(lp));
    if (m->is_int) snprintf(k, sizeof k, "%lld", (long long)m->ki);
    else snprintf(k, sizeof k, "%.3f", m->kf);
    const char *kt = m->is_int ? "integer" : "float";
    snprintf(s->err, sizeof s->err, "type error: %s %c %s: incompatible types: %s and %s",
             m->left ? k : var, m->op, m->left ? var : k, m->left ? kt : lp_type_name(lp),
             m->left ? lp_type_name(lp) : kt);
    return -1;
}

/* The columns and fields a SELECT reads and how it groups (into s).
 * 1: go on; 0: the answer has no series; -1: *emsg says why not. */
static int plan_select(sel *s, const char *db, const char **emsg) {
    bs_ts *ts = s->ts;
    const bs_iq_stmt *st = s->st;
    bs_arena *a = s->a;
    size_t nagg = 0;
    for (size_t e = 0; e < st->nexprs; e++) nagg += st->exprs[e].agg != BS_IQ_RAW;
    s->agg = nagg > 0;
    if (nagg && nagg != st->nexprs) {
        *emsg = "mixing aggregate and non-aggregate queries is not supported";
        return -1;
    }
    if (!s->agg && st->interval) {
        *emsg = "GROUP BY requires at least one aggregate function";
        return -1;
    }
    /* expressions -> fields read */
    size_t ne = st->nexprs;
    const char **tkeys = NULL;
    size_t ntk = 0;
    int star = 0;
    for (size_t e = 0; e < ne; e++) star |= !strcmp(st->exprs[e].name, "*");
    if (star && s->agg) {
        *emsg = "aggregate functions over * are not supported by Basalt yet; name the field";
        return -1;
    }
    for (size_t e = 0; e < ne && star; e++)
        if (st->exprs[e].nmath) {
            *emsg = "arithmetic next to * is not supported by Basalt yet; name the fields";
            return -1;
        }
    if (star || st->group_all) ntk = tag_keys(ts, db, st->from, a, &tkeys);
    size_t cap = s->t->ncols + ne + ntk + 1;
    s->cols = bs_arena_alloc(a, cap * sizeof *s->cols);
    s->ctype = bs_arena_alloc(a, cap * sizeof *s->ctype);
    s->efield = bs_arena_alloc(a, cap * sizeof *s->efield);
    s->etag = bs_arena_alloc(a, cap * sizeof *s->etag);
    s->names = bs_arena_alloc(a, cap * sizeof *s->names);
    if (!s->cols || !s->ctype || !s->efield || !s->etag || !s->names) {
        *emsg = "out of memory";
        return -1;
    }
    /* output columns: raw mode expands *; aggregate mode one per expr */
    const char **cn = bs_arena_alloc(a, cap * sizeof *cn);
    size_t ncn = 0;
    for (size_t e = 0; e < ne && cn; e++) {
        if (!strcmp(st->exprs[e].name, "*")) {
            for (size_t c = 0; c < s->t->ncols; c++)
                if (s->t->cols[c].kind == BS_COL_REGULAR) cn[ncn++] = s->t->cols[c].name;
            for (size_t k = 0; k < ntk; k++) { /* tags grouped by are not columns */
                int grouped = st->group_all;
                for (size_t g = 0; g < st->ngroup_tags && !grouped; g++)
                    grouped = !strcmp(st->group_tags[g], tkeys[k]);
                if (!grouped) cn[ncn++] = tkeys[k];
            }
        } else {
            cn[ncn++] = st->exprs[e].name;
        }
    }
    if (!cn) {
        *emsg = "out of memory";
        return -1;
    }
    if (star) qsort(cn, ncn, sizeof *cn, cmp_cstr);
    for (size_t c = 0; c < ncn; c++) {
        const bs_column *col = bs_table_column(s->t, cn[c]);
        int idx = -1;
        if (col && col->kind == BS_COL_REGULAR) {
            for (size_t f = 0; f < s->ncols; f++)
                if (s->cols[f] == col->id) idx = (int)f;
            if (idx < 0) {
                idx = (int)s->ncols;
                s->cols[s->ncols] = col->id;
                s->ctype[s->ncols++] = bs__ts_col_lp_type(col->type);
            }
        } else if (s->agg) {
            return 0; /* aggregate of a tag or unknown field: no series, as InfluxDB */
        }
        /* arithmetic on a tag is a type error; on an unknown key, null */
        if (!star && st->exprs[c].nmath && (idx >= 0 || is_tag(s, db, cn[c])) &&
            check_math(s, &st->exprs[c], idx >= 0 ? s->ctype[idx] : -1)) {
            *emsg = s->err;
            return -1;
        }
        s->efield[c] = idx;
        s->etag[c] = cn[c];
        s->names[c] = (s->agg || !st->exprs[c < ne ? c : 0].alias || star) ? cn[c]
                                                                         : st->exprs[c].alias;
    }
    s->nnames = ncn;
    if (s->ncols > 256) {
        *emsg = "too many fields selected (max 256)";
        return -1;
    }
    if (!s->ncols) return 0; /* only tags selected: InfluxDB returns nothing */
    /* grouping */
    if (st->group_all) {
        s->gtags = tkeys;
        s->ngtags = ntk;
    } else {
        s->gtags = st->group_tags;
        s->ngtags = st->ngroup_tags;
        const char **sorted =
            s->ngtags ? bs_arena_memdup(a, st->group_tags, s->ngtags * sizeof *sorted) : NULL;
        if (sorted) {
            qsort(sorted, s->ngtags, sizeof *sorted, cmp_cstr);
            s->gtags = sorted;
        }
    }
    return 1;
}

/* Resolves the WHERE's keys (a field of the table, else a tag), adds
 * the compared fields to the columns read, compiles the regexes.  0, or
 * -1 with *emsg; s->wre (nwhere entries) is to be freed by the caller. */
static int plan_where(sel *s, const bs_iq_where *w, const char **emsg) {
    if (!w) return 0;
    if (w->kind != BS_IQ_W_CMP) {
        if (plan_where(s, w->l, emsg)) return -1;
        return plan_where(s, w->r, emsg);
    }
    const bs_column *col = bs_table_column(s->t, w->key);
    int idx = -1;
    if (col && col->kind == BS_COL_REGULAR) {
        for (size_t f = 0; f < s->ncols; f++)
            if (s->cols[f] == col->id) idx = (int)f;
        if (idx < 0) {
            if (s->ncols >= 256) {
                *emsg = "too many fields selected (max 256)";
                return -1;
            }
            idx = (int)s->ncols;
            s->cols[s->ncols] = col->id;
            s->ctype[s->ncols++] = bs__ts_col_lp_type(col->type);
        }
        s->wrow = 1;
    }
    s->wfield[w->id] = idx;
    if (w->lit == BS_IQ_LIT_REGEX) {
        if (regcomp(&s->wre[w->id], w->s, REG_EXTENDED | REG_NOSUB)) {
            snprintf(s->err, sizeof s->err, "invalid regular expression /%s/", w->s);
            *emsg = s->err;
            return -1;
        }
        s->wre_ok[w->id] = 1;
    }
    return 0;
}

#define INDEX_PATH_MAX_READS 4096

/* An inclusive clustering bound at time t (arena bytes).  0 or -1. */
static int time_bound(sel *s, int64_t t, bs_bound *b) {
    uint8_t tb[8];
    for (int i = 0; i < 8; i++) tb[i] = (uint8_t)((uint64_t)t >> (56 - 8 * i));
    const bs_column *tc = &s->t->cols[s->t->npk];
    bs_buf ck = BS_BUF_INIT;
    int rc = bs_keycodec_encode(tc->type, tb, 8, tc->desc, &ck);
    b->kind = BS_BOUND_INCL;
    b->prefix = rc ? NULL : bs_arena_memdup(s->a, ck.data, ck.len);
    b->len = ck.len;
    bs_buf_free(&ck);
    return b->prefix ? 0 : -1;
}

/* The slice every partition is read with: the fields read, and the
 * WHERE's time range as clustering bounds (time is DESC or ASC).  0 or
 * -1 (out of memory). */
static int time_slice(sel *s, bs_slice *sl) {
    memset(sl, 0, sizeof *sl);
    sl->cols = s->cols;
    sl->ncols = s->ncols;
    bs_bound lo, hi;
    memset(&lo, 0, sizeof lo);
    memset(&hi, 0, sizeof hi);
    if (s->st->has_tmin && time_bound(s, s->st->tmin, &lo)) return -1;
    if (s->st->has_tmax && time_bound(s, s->st->tmax, &hi)) return -1;
    int desc = s->t->cols[s->t->npk].desc;
    sl->start = desc ? hi : lo;
    sl->end = desc ? lo : hi;
    return 0;
}

/* Reads partition pk (series, bucket) of the measurement with slice sl:
 * visited where the backend can (nothing built), else read whole.  0 or
 * -1 (s->err, or *err). */
static int read_one(sel *s, const uint8_t *pk, size_t pk_len, const bs_slice *sl,
                    bs_exec_err *err) {
    bs_ts *ts = s->ts;
    int64_t tok = bs_ring_partition_token(pk, pk_len);
    if (ts->be.visit && tok != INT64_MIN) {
        bs_scan sc;
        memset(&sc, 0, sizeof sc);
        sc.start_token = tok - 1;
        sc.end_token = tok;
        sc.slice = sl;
        bs_visit v = {sel_part, sel_row, s};
        s->want_pk = pk;
        s->want_len = pk_len;
        int rc = ts->be.visit(ts->be.ud, s->t, &sc, BS_CL_ONE, &v, err);
        s->want_pk = NULL;
        return rc < 0 ? -1 : 0;
    }
    bs_partv *pv = NULL;
    if (ts->be.read(ts->be.ud, s->t, tok, pk, pk_len, sl, BS_CL_ONE, s->a, &pv, err)) return -1;
    if (!pv || !pv->nrows) return 0;
    bs_partv p = *pv;
    p.pk = pk;
    p.pk_len = pk_len;
    return on_part(s, &p);
}

/* The series-index path: when the WHERE names tags only and bounds the
 * time, the series it matches come from the measurement's index
 * partition and their (series, bucket) partitions inside the range are
 * read one by one, instead of scanning the table.  1: done; 0: not
 * applicable (scan); -1: read error (s->err). */
static int index_path(sel *s, const bs_table_schema *ix) {
    const bs_iq_stmt *st = s->st;
    bs_ts *ts = s->ts;
    if (!st->where || s->wrow || !st->has_tmin || !st->has_tmax || !ix) return 0;
    int64_t b0 = st->tmin / ts->bucket_ns - (st->tmin % ts->bucket_ns < 0);
    int64_t b1 = st->tmax / ts->bucket_ns - (st->tmax % ts->bucket_ns < 0);
    if (b1 - b0 >= INDEX_PATH_MAX_READS) return 0;
    bs_partv *ip = NULL;
    bs_exec_err err;
    memset(&err, 0, sizeof err);
    bs_slice all, sl; /* the series' partitions: the fields read, the time range */
    memset(&all, 0, sizeof all);
    if (time_slice(s, &sl)) return 0;
    const char *m = st->from;
    size_t mn = strlen(m);
    if (ts->be.read(ts->be.ud, ix, bs_ring_partition_token(m, mn), m, mn, &all, BS_CL_ONE, s->a,
                    &ip, &err))
        goto fail;
    /* the matching series first: past INDEX_PATH_MAX_READS partitions
     * nothing is read here (the scan then reads every partition once) */
    const bs_type *ty = ix->cols[ix->npk].type;
    bs__ts_tag tags[MAX_TAGS];
    bs_buf key = BS_BUF_INIT, pk = BS_BUF_INIT;
    size_t nhit = 0, per = (size_t)(b1 - b0 + 1);
    bs_buf *hits = ip && ip->nrows ? bs_arena_alloc(s->a, ip->nrows * sizeof *hits) : NULL;
    int rc = ip && ip->nrows && !hits ? -1 : 0;
    for (size_t r = 0; ip && r < ip->nrows && !rc; r++) {
        bs_rbuf rb;
        bs_rbuf_init(&rb, ip->rows[r].ck, ip->rows[r].ck_len);
        bs_buf_reset(&key);
        if (bs_keycodec_decode(ty, 0, &rb, &key, NULL) || !key.data) continue;
        size_t nt = bs__ts_series_tags((const char *)key.data, key.len, s->a, tags, MAX_TAGS);
        if (!eval(s, st->where, tags, nt, NULL)) continue;
        if ((nhit + 1) * per > INDEX_PATH_MAX_READS) rc = 1; /* a scan is cheaper */
        hits[nhit].data = bs_arena_memdup(s->a, key.data, key.len ? key.len : 1);
        hits[nhit].len = key.len;
        if (!hits[nhit++].data) rc = -1;
    }
    for (size_t h = 0; h < nhit && !rc; h++) {
        for (int64_t b = b0; b <= b1 && !rc; b++) {
            uint8_t bb[8];
            for (int i = 0; i < 8; i++) bb[i] = (uint8_t)((uint64_t)b >> (56 - 8 * i));
            bs_ring_keypart kp[2] = {{hits[h].data, hits[h].len}, {bb, 8}};
            bs_buf_reset(&pk);
            rc = bs_ring_compose_key(kp, 2, &pk) ? -1 : read_one(s, pk.data, pk.len, &sl, &err);
        }
    }
    bs_buf_free(&key);
    bs_buf_free(&pk);
    if (rc > 0) return 0;
    if (!rc) return 1;
fail:
    if (!s->err[0]) snprintf(s->err, sizeof s->err, "%s", err.msg[0] ? err.msg : "read failed");
    return -1;
}

/* ------------------------------------------------------------------ */
/* Partial aggregates: run on the replicas, merged here                 */
/* ------------------------------------------------------------------ */

/* The ranges other replicas hold are aggregated by them (the coordinator
 * asks each replica once per scan: bs_visit.partial), and only their
 * groups, windows and accumulators come back, not the partitions.
 *   request: [db, statement text, now ns]: the replica parses and plans
 *            the same statement against its schema (partial_open);
 *   answer:  [dmin, dmax, ngtags, nexprs, [group...]]
 *            group  [key bin, [tag value...], [window...]]
 *            window [start, any, [acc...]]
 *            acc    [n, fsum, isum, tmin, tmax, tfirst, tlast, min, max,
 *                    first, last, values]
 *            val    nil | [type, f, i, u, bytes]
 *            values nil | [[x...], [t...], [val...]] (median, stddev,
 *                   percentile)
 * An answer the coordinator cannot use changes nothing and its ranges
 * are read whole (sel_merge answers -1). */

#define PARTIAL_MAX_DEPTH 12

static int partial_request(sel *s, const char *db, bs_buf *out) {
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, bs_buf_pack_write);
    msgpack_pack_array(&pk, 3);
    msgpack_pack_str_with_body(&pk, db, strlen(db));
    msgpack_pack_str_with_body(&pk, s->st->src, s->st->src_len);
    msgpack_pack_int64(&pk, s->st->now_ns);
    return out->len ? 0 : -1;
}

static void pack_val(msgpack_packer *pk, const val *v) {
    if (v->t < 0) {
        msgpack_pack_nil(pk);
        return;
    }
    msgpack_pack_array(pk, 5);
    msgpack_pack_int(pk, v->t);
    msgpack_pack_double(pk, v->f);
    msgpack_pack_int64(pk, v->i);
    msgpack_pack_uint64(pk, v->u);
    msgpack_pack_bin_with_body(pk, v->t == BS_LP_STRING && v->s ? v->s : "", v->t == BS_LP_STRING ? v->sn : 0);
}

static void pack_acc(msgpack_packer *pk, const acc *c, bs_iq_agg agg) {
    msgpack_pack_array(pk, 12);
    msgpack_pack_int64(pk, c->n);
    msgpack_pack_double(pk, c->fsum);
    msgpack_pack_int64(pk, c->isum);
    msgpack_pack_int64(pk, c->tmin);
    msgpack_pack_int64(pk, c->tmax);
    msgpack_pack_int64(pk, c->tfirst);
    msgpack_pack_int64(pk, c->tlast);
    const val *vs[4] = {&c->min, &c->max, &c->first, &c->last};
    for (int i = 0; i < 4; i++) pack_val(pk, c->n ? vs[i] : &(val){.t = -1});
    if (!need_values(agg) || !c->nx) {
        msgpack_pack_nil(pk);
        return;
    }
    msgpack_pack_array(pk, 3);
    msgpack_pack_array(pk, (uint32_t)c->nx);
    for (size_t i = 0; i < c->nx; i++) msgpack_pack_double(pk, c->xs[i]);
    msgpack_pack_array(pk, (uint32_t)c->nx);
    for (size_t i = 0; i < c->nx; i++) msgpack_pack_int64(pk, c->xt[i]);
    msgpack_pack_array(pk, (uint32_t)c->nx);
    for (size_t i = 0; i < c->nx; i++) pack_val(pk, &c->xv[i]);
}

static void pack_groups(const sel *s, bs_buf *out) {
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, bs_buf_pack_write);
    size_t ne = s->st->nexprs;
    msgpack_pack_array(&pk, 5);
    msgpack_pack_int64(&pk, s->dmin);
    msgpack_pack_int64(&pk, s->dmax);
    msgpack_pack_uint64(&pk, s->ngtags);
    msgpack_pack_uint64(&pk, ne);
    msgpack_pack_array(&pk, (uint32_t)s->ng);
    for (size_t i = 0; i < s->ng; i++) {
        const group *g = &s->g[i];
        msgpack_pack_array(&pk, 3);
        msgpack_pack_bin_with_body(&pk, g->key, g->kn);
        msgpack_pack_array(&pk, (uint32_t)s->ngtags);
        for (size_t k = 0; k < s->ngtags; k++)
            msgpack_pack_str_with_body(&pk, g->tv[k], strlen(g->tv[k]));
        msgpack_pack_array(&pk, (uint32_t)g->nw);
        for (size_t k = 0; k < g->nw; k++) {
            msgpack_pack_array(&pk, 3);
            msgpack_pack_int64(&pk, g->w[k].start);
            msgpack_pack_int(&pk, g->w[k].any);
            msgpack_pack_array(&pk, (uint32_t)ne);
            for (size_t e = 0; e < ne; e++) pack_acc(&pk, &g->w[k].a[e], s->st->exprs[e].agg);
        }
    }
}

static int pu_arr(const msgpack_object *o, uint32_t n, const msgpack_object **it) {
    if (o->type != MSGPACK_OBJECT_ARRAY || (n != UINT32_MAX && o->via.array.size != n)) return -1;
    *it = o->via.array.ptr;
    return 0;
}

static int pu_int(const msgpack_object *o, int64_t *v) {
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 <= INT64_MAX) *v = (int64_t)o->via.u64;
    else if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) *v = o->via.i64;
    else return -1;
    return 0;
}

static int pu_dbl(const msgpack_object *o, double *v) {
    if (o->type != MSGPACK_OBJECT_FLOAT64 && o->type != MSGPACK_OBJECT_FLOAT32) return -1;
    *v = o->via.f64;
    return 0;
}

static int pu_val(sel *s, const msgpack_object *o, val *v) {
    memset(v, 0, sizeof *v);
    v->t = -1;
    if (o->type == MSGPACK_OBJECT_NIL) return 0;
    const msgpack_object *f;
    int64_t t, i;
    if (pu_arr(o, 5, &f) || pu_int(&f[0], &t) || t < BS_LP_FLOAT || t > BS_LP_BOOL ||
        pu_dbl(&f[1], &v->f) || pu_int(&f[2], &i) || f[3].type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
        f[4].type != MSGPACK_OBJECT_BIN)
        return -1;
    v->t = (int)t;
    v->i = i;
    v->u = f[3].via.u64;
    if (t == BS_LP_STRING) {
        v->sn = f[4].via.bin.size;
        v->s = bs_arena_memdup(s->a, v->sn ? f[4].via.bin.ptr : "", v->sn ? v->sn : 1);
        if (!v->s) return -1;
    }
    return 0;
}

static int pu_acc(sel *s, const msgpack_object *o, acc *c) {
    const msgpack_object *f, *xv;
    if (pu_arr(o, 12, &f) || pu_int(&f[0], &c->n) || c->n < 0 || pu_dbl(&f[1], &c->fsum) ||
        pu_int(&f[2], &c->isum) || pu_int(&f[3], &c->tmin) || pu_int(&f[4], &c->tmax) ||
        pu_int(&f[5], &c->tfirst) || pu_int(&f[6], &c->tlast) || pu_val(s, &f[7], &c->min) ||
        pu_val(s, &f[8], &c->max) || pu_val(s, &f[9], &c->first) || pu_val(s, &f[10], &c->last))
        return -1;
    if (f[11].type == MSGPACK_OBJECT_NIL) return 0;
    const msgpack_object *xs, *xt, *xx;
    if (pu_arr(&f[11], 3, &xv) || pu_arr(&xv[0], UINT32_MAX, &xs)) return -1;
    uint32_t n = xv[0].via.array.size;
    if (pu_arr(&xv[1], n, &xt) || pu_arr(&xv[2], n, &xx) || n > (uint64_t)c->n) return -1;
    c->xs = bs_arena_alloc(s->a, (n ? n : 1) * sizeof *c->xs);
    c->xt = bs_arena_alloc(s->a, (n ? n : 1) * sizeof *c->xt);
    c->xv = bs_arena_alloc(s->a, (n ? n : 1) * sizeof *c->xv);
    if (!c->xs || !c->xt || !c->xv) return -1;
    for (uint32_t i = 0; i < n; i++)
        if (pu_dbl(&xs[i], &c->xs[i]) || pu_int(&xt[i], &c->xt[i]) || pu_val(s, &xx[i], &c->xv[i]))
            return -1;
    c->nx = c->xcap = n;
    return 0;
}

/* The answer into h (a copy of s without groups).  0 or -1. */
static int pu_groups(sel *h, const msgpack_object *root) {
    const msgpack_object *f, *gs;
    int64_t ngt, ne;
    if (pu_arr(root, 5, &f) || pu_int(&f[0], &h->dmin) || pu_int(&f[1], &h->dmax) ||
        pu_int(&f[2], &ngt) || pu_int(&f[3], &ne) || (size_t)ngt != h->ngtags ||
        (size_t)ne != h->st->nexprs || pu_arr(&f[4], UINT32_MAX, &gs))
        return -1;
    for (uint32_t i = 0; i < f[4].via.array.size; i++) {
        const msgpack_object *gf, *tv, *ws;
        if (pu_arr(&gs[i], 3, &gf) || gf[0].type != MSGPACK_OBJECT_BIN ||
            pu_arr(&gf[1], (uint32_t)h->ngtags, &tv) || pu_arr(&gf[2], UINT32_MAX, &ws) ||
            gf[2].via.array.size > BS_TS_MAX_WINDOWS)
            return -1;
        group *g = new_group(h);
        if (!g) return -1;
        g->kn = gf[0].via.bin.size;
        g->key = bs_arena_memdup(h->a, g->kn ? gf[0].via.bin.ptr : "", g->kn ? g->kn : 1);
        g->tv = bs_arena_alloc(h->a, (h->ngtags ? h->ngtags : 1) * sizeof *g->tv);
        g->last_idx = (size_t)-1;
        if (!g->key || !g->tv) return -1;
        for (size_t k = 0; k < h->ngtags; k++) {
            size_t n = tv[k].type == MSGPACK_OBJECT_STR ? tv[k].via.str.size : 0;
            if (tv[k].type != MSGPACK_OBJECT_STR || (n && memchr(tv[k].via.str.ptr, 0, n)) ||
                !(g->tv[k] = bs_arena_strndup(h->a, n ? tv[k].via.str.ptr : "", n)))
                return -1;
        }
        for (uint32_t k = 0; k < gf[2].via.array.size; k++) {
            const msgpack_object *wf, *as;
            int64_t start, any;
            if (pu_arr(&ws[k], 3, &wf) || pu_int(&wf[0], &start) || pu_int(&wf[1], &any) ||
                pu_arr(&wf[2], (uint32_t)ne, &as))
                return -1;
            win *w = get_window(h, g, start);
            if (!w) return -1;
            w->any |= any != 0;
            for (int64_t e = 0; e < ne; e++)
                if (w->a[e].n || pu_acc(h, &as[e], &w->a[e])) return -1; /* a window twice */
        }
    }
    return 0;
}

static int merge_half(sel *s, const sel *h);

/* bs_visit.merge: 0 merged, -1 unusable (nothing changed), -2 failed
 * while merging (s->err). */
static int sel_merge(void *ud, const uint8_t *p, size_t len) {
    sel *s = ud;
    if (bs_mpcheck(p, len, PARTIAL_MAX_DEPTH)) return -1;
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    if (msgpack_unpack_next(&u, (const char *)p, len, &off) != MSGPACK_UNPACK_SUCCESS ||
        off != len) {
        msgpack_unpacked_destroy(&u);
        return -1;
    }
    sel h = *s;
    h.g = NULL;
    h.ng = h.gcap = 0;
    int rc = pu_groups(&h, &u.data);
    msgpack_unpacked_destroy(&u);
    if (rc) return -1;
    return merge_half(s, &h) ? -2 : 0;
}

/* ---- the replica's side (bs_coord_partial) ---- */

typedef struct pctx {
    bs_arena a;
    sel s;
    bs_schema *sc;
    regex_t *re;
    size_t nre;
} pctx;

static void pctx_free(pctx *c) {
    if (!c) return;
    for (size_t i = 0; c->re && i < c->nre; i++)
        if (c->s.wre_ok[i]) regfree(&c->re[i]);
    free(c->re);
    if (c->sc) bs_schema_release(c->sc);
    bs_buf_free(&c->s.ckb);
    bs_arena_free(&c->a);
    free(c);
}

/* Plans the request's statement as the coordinator did.  0 or -1 (msg). */
static int partial_plan(bs_ts *ts, pctx *c, const msgpack_object *f, char *msg, size_t msglen) {
    char db[64];
    if (f[0].type != MSGPACK_OBJECT_STR || f[0].via.str.size >= sizeof db ||
        f[1].type != MSGPACK_OBJECT_STR || f[2].type > MSGPACK_OBJECT_NEGATIVE_INTEGER ||
        f[2].type < MSGPACK_OBJECT_POSITIVE_INTEGER) {
        snprintf(msg, msglen, "malformed request");
        return -1;
    }
    memcpy(db, f[0].via.str.ptr, f[0].via.str.size);
    db[f[0].via.str.size] = 0;
    int64_t now = f[2].type == MSGPACK_OBJECT_NEGATIVE_INTEGER ? f[2].via.i64 : (int64_t)f[2].via.u64;
    bs_iq_stmt *st;
    size_t n;
    const char *err = NULL;
    if (bs_iq_parse(f[1].via.str.ptr, f[1].via.str.size, now, &c->a, &st, &n, &err) || n != 1 ||
        st->kind != BS_IQ_SELECT) {
        snprintf(msg, msglen, "not one SELECT: %s", err ? err : "");
        return -1;
    }
    sel *s = &c->s;
    s->ts = ts;
    s->st = st;
    s->a = &c->a;
    s->tmin = st->tmin;
    s->tmax = st->tmax;
    s->dmin = INT64_MAX;
    s->dmax = INT64_MIN;
    char tn[64];
    bs__ts_table_name(st->from, strlen(st->from), tn);
    c->sc = ts->be.schema_get(ts->be.ud);
    s->t = bs_schema_table(c->sc, db, tn);
    const char *emsg = "no such measurement here";
    if (!s->t || s->t->npk != 2 || s->t->nck != 1 || plan_select(s, db, &emsg) <= 0 || !s->agg) {
        snprintf(msg, msglen, "%s", emsg ? emsg : "not an aggregate");
        return -1;
    }
    s->nout = s->ncols;
    size_t nw = st->nwhere > 0 ? (size_t)st->nwhere : 1;
    s->wfield = bs_arena_alloc(&c->a, nw * sizeof *s->wfield);
    s->wre_ok = bs_arena_calloc(&c->a, nw * sizeof *s->wre_ok);
    c->re = calloc(nw, sizeof *c->re);
    if (!s->wfield || !s->wre_ok || !c->re) {
        snprintf(msg, msglen, "out of memory");
        return -1;
    }
    s->wre = c->re;
    c->nre = (size_t)st->nwhere;
    if (plan_where(s, st->where, &emsg)) {
        snprintf(msg, msglen, "%s", emsg);
        return -1;
    }
    return 0;
}

int bs_ts_partial_open(void *ud, const uint8_t *req, size_t len, void **ctx, bs_visit *v,
                       bs_slice *sl, char *cf, size_t cflen, char *msg, size_t msglen) {
    bs_ts *ts = ud;
    *ctx = NULL;
    pctx *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(msg, msglen, "out of memory");
        return -1;
    }
    bs_arena_init(&c->a, 0);
    c->s.ckb = (bs_buf)BS_BUF_INIT;
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    const msgpack_object *f;
    int rc = -1;
    if (!ts->have_be || bs_mpcheck(req, len, PARTIAL_MAX_DEPTH) ||
        msgpack_unpack_next(&u, (const char *)req, len, &off) != MSGPACK_UNPACK_SUCCESS ||
        off != len || pu_arr(&u.data, 3, &f))
        snprintf(msg, msglen, "malformed request");
    else if (!partial_plan(ts, c, f, msg, msglen) && !time_slice(&c->s, sl))
        rc = 0;
    msgpack_unpacked_destroy(&u);
    if (rc) {
        pctx_free(c);
        return -1;
    }
    bs_table_cf_name(c->s.t, cf, cflen);
    memset(v, 0, sizeof *v);
    v->part = sel_part;
    v->row = sel_row;
    v->ud = &c->s;
    *ctx = c;
    return 0;
}

int bs_ts_partial_close(void *ud, void *ctx, int ok, bs_buf *out) {
    (void)ud;
    pctx *c = ctx;
    int rc = 0;
    if (ok) {
        pack_groups(&c->s, out);
        rc = out->len ? 0 : -1;
    }
    pctx_free(c);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Two halves of the ring at once (aggregates)                          */
/* ------------------------------------------------------------------ */

/* An aggregate scan reads (MIN, 0] on the calling thread and (0, MIN] on
 * a second one, each half into groups of its own (the second half's in
 * its own arena), then merges the second half into the first.  The
 * serial scan visits the same two halves in the same order, and the
 * merge keeps its choices on ties (first/last/min/max keep the first
 * half's point when times or values are equal), so only the float sums'
 * rounding may differ from a serial scan. */
typedef struct half {
    sel s;
    bs_arena a;
    bs_scan scan;
    bs_exec_err err;
    int rc;
} half;

static void *half_run(void *ud) {
    half *h = ud;
    bs_visit v = {sel_part, sel_row, &h->s, NULL, 0, NULL};
    if (h->s.preq) {
        v.partial = h->s.preq->data;
        v.partial_len = h->s.preq->len;
        v.merge = sel_merge;
    }
    h->rc = h->s.ts->be.visit(h->s.ts->be.ud, h->s.t, &h->scan, BS_CL_ONE, &v, &h->err) < 0;
    return NULL;
}

/* Accumulator x (second half) into d.  0 or -1 (out of memory). */
static int acc_merge(sel *s, acc *d, const acc *x, bs_iq_agg agg) {
    if (!x->n) return 0;
    if (!d->n) {
        *d = *x; /* the value arrays stay in the half's arena until the end */
        return 0;
    }
    if (x->tfirst < d->tfirst) d->first = x->first, d->tfirst = x->tfirst;
    if (x->tlast > d->tlast) d->last = x->last, d->tlast = x->tlast;
    d->isum += x->isum;
    d->fsum += x->fsum;
    int c = vcmp(&x->min, &d->min);
    if (c < 0 || (c == 0 && x->tmin < d->tmin)) d->min = x->min, d->tmin = x->tmin;
    c = vcmp(&x->max, &d->max);
    if (c > 0 || (c == 0 && x->tmax < d->tmax)) d->max = x->max, d->tmax = x->tmax;
    d->n += x->n;
    if (!need_values(agg) || !x->nx) return 0;
    size_t n = d->nx + x->nx;
    double *xs = bs_arena_alloc(s->a, n * sizeof *xs);
    int64_t *xt = bs_arena_alloc(s->a, n * sizeof *xt);
    val *xv = bs_arena_alloc(s->a, n * sizeof *xv);
    if (!xs || !xt || !xv) return -1;
    if (d->nx) {
        memcpy(xs, d->xs, d->nx * sizeof *xs);
        memcpy(xt, d->xt, d->nx * sizeof *xt);
        memcpy(xv, d->xv, d->nx * sizeof *xv);
    }
    memcpy(xs + d->nx, x->xs, x->nx * sizeof *xs);
    memcpy(xt + d->nx, x->xt, x->nx * sizeof *xt);
    memcpy(xv + d->nx, x->xv, x->nx * sizeof *xv);
    d->xs = xs, d->xt = xt, d->xv = xv;
    d->nx = d->xcap = n;
    return 0;
}

/* Group x of the second half: s's group with the same key (added when
 * missing), or NULL (out of memory). */
static group *group_like(sel *s, const group *x) {
    for (size_t i = 0; i < s->ng; i++)
        if (s->g[i].kn == x->kn && !memcmp(s->g[i].key, x->key, x->kn)) return &s->g[i];
    group *g = new_group(s);
    if (!g) return NULL;
    g->key = x->key; /* the half's arena outlives the answer */
    g->kn = x->kn;
    g->tv = x->tv;
    g->last_idx = (size_t)-1;
    return g;
}

/* Merges half h into s.  0 or -1 (s->err). */
static int merge_half(sel *s, const sel *h) {
    if (h->dmin < s->dmin) s->dmin = h->dmin;
    if (h->dmax > s->dmax) s->dmax = h->dmax;
    for (size_t i = 0; i < h->ng; i++) {
        const group *x = &h->g[i];
        group *g = group_like(s, x);
        if (!g) goto oom;
        for (size_t k = 0; k < x->nw; k++) {
            win *w = get_window(s, g, x->w[k].start);
            if (!w) {
                snprintf(s->err, sizeof s->err, "too many GROUP BY time() windows (max %d)",
                         BS_TS_MAX_WINDOWS);
                return -1;
            }
            w->any |= x->w[k].any;
            for (size_t e = 0; e < s->st->nexprs; e++)
                if (acc_merge(s, &w->a[e], &x->w[k].a[e], s->st->exprs[e].agg)) goto oom;
        }
    }
    return 0;
oom:
    snprintf(s->err, sizeof s->err, "out of memory");
    return -1;
}

/* The whole-ring visit of an aggregate, in two halves at once when
 * there are two CPUs.  h: the second half (its arena freed by the
 * caller after the answer is written).  0 or -1 (s->err or *err). */
static int visit_halves(sel *s, const bs_slice *sl, half *h, bs_exec_err *err) {
    bs_ts *ts = s->ts;
    bs_scan scan;
    memset(&scan, 0, sizeof scan);
    scan.start_token = INT64_MIN;
    scan.end_token = INT64_MIN;
    scan.slice = sl;
    bs_visit v = {sel_part, sel_row, s, NULL, 0, NULL};
    if (s->preq) {
        v.partial = s->preq->data;
        v.partial_len = s->preq->len;
        v.merge = sel_merge;
    }
    pthread_t th;
    if (!s->agg || sysconf(_SC_NPROCESSORS_ONLN) < 2)
        return ts->be.visit(ts->be.ud, s->t, &scan, BS_CL_ONE, &v, err) < 0 ? -1 : 0;
    h->s = *s;
    h->s.a = &h->a;
    h->s.g = NULL;
    h->s.ng = h->s.gcap = 0;
    h->s.ckb = (bs_buf)BS_BUF_INIT;
    h->s.err[0] = 0;
    h->scan = scan;
    h->scan.start_token = 0;
    memset(&h->err, 0, sizeof h->err);
    if (pthread_create(&th, NULL, half_run, h))
        return ts->be.visit(ts->be.ud, s->t, &scan, BS_CL_ONE, &v, err) < 0 ? -1 : 0;
    scan.end_token = 0;
    int rc = ts->be.visit(ts->be.ud, s->t, &scan, BS_CL_ONE, &v, err) < 0 ? -1 : 0;
    pthread_join(th, NULL);
    bs_buf_free(&h->s.ckb);
    if (!rc && h->rc) {
        snprintf(s->err, sizeof s->err, "%s",
                 h->s.err[0] ? h->s.err : h->err.msg[0] ? h->err.msg : "read failed");
        return -1;
    }
    return rc ? rc : merge_half(s, &h->s);
}

/* Reads the measurement (index path or scan) and writes the series
 * (JSON) to o; on a read failure *emsg says why. */
static void scan_and_emit(sel *s, const bs_table_schema *ix, int64_t ediv, bs_buf *o,
                          const char **emsg) {
    bs_ts *ts = s->ts;
    const bs_iq_stmt *st = s->st;
    bs_slice sl;
    bs_scan scan;
    memset(&scan, 0, sizeof scan);
    scan.start_token = INT64_MIN;
    scan.end_token = INT64_MIN;
    scan.slice = &sl;
    bs_exec_err err;
    memset(&err, 0, sizeof err);
    half h;
    bs_arena_init(&h.a, 0);
    int ipath = time_slice(s, &sl) ? -1 : index_path(s, ix);
    bs_buf preq = BS_BUF_INIT; /* aggregates: the other replicas' ranges aggregated there */
    if (!ipath && s->agg && !partial_request(s, s->db, &preq)) s->preq = &preq;
    if (ipath < 0 ||
        (!ipath && (ts->be.visit ? visit_halves(s, &sl, &h, &err)
                                 : ts->be.scan(ts->be.ud, s->t, &scan, BS_CL_ONE, on_part, s,
                                               &err)))) {
        if (!s->err[0]) snprintf(s->err, sizeof s->err, "%s", err.msg[0] ? err.msg : "read failed");
        *emsg = s->err;
        bs_arena_free(&h.a);
        bs_buf_free(&preq);
        return;
    }
    bs_buf_free(&preq);
    s->preq = NULL;
    if (s->ng > 1) qsort(s->g, s->ng, sizeof *s->g, cmp_group);
    int first = 1;
    size_t g0 = (size_t)st->soffset, gn = s->ng;
    if (st->slimit > 0 && g0 + (size_t)st->slimit < gn) gn = g0 + (size_t)st->slimit;
    for (size_t i = g0; i < gn; i++) {
        if (s->agg)
            emit_agg(s, &s->g[i], ediv, o, &first);
        else
            emit_raw(s, &s->g[i], ediv, o, &first);
    }
    if (!first) bs_buf_append_str(o, "]");
    bs_arena_free(&h.a);
}

void bs__ts_select(bs_ts *ts, const bs_iq_stmt *st, const char *db, int64_t ediv, bs_arena *a,
                   bs_buf *o) {
    sel s;
    memset(&s, 0, sizeof s);
    s.ts = ts;
    s.st = st;
    s.db = db;
    s.a = a;
    s.tmin = st->tmin;
    s.tmax = st->tmax;
    s.dmin = INT64_MAX;
    s.dmax = INT64_MIN;
    char tn[64];
    bs__ts_table_name(st->from, strlen(st->from), tn);
    bs_schema *sc = ts->be.schema_get(ts->be.ud);
    const char *emsg = NULL;
    regex_t *re = NULL;
    size_t nre = 0;
    if (!bs_schema_table(sc, db, BS_TS_INDEX_TABLE)) {
        snprintf(s.err, sizeof s.err, "database not found: %s", db);
        emsg = s.err;
        goto out;
    }
    bs__ts_rp rp;
    if (st->rp && bs__ts_rp_find(sc, db, st->rp, &rp)) goto out; /* no such policy: no series */
    s.t = bs_schema_table(sc, db, tn);
    if (!s.t || s.t->npk != 2 || s.t->nck != 1) goto out; /* no such measurement: no series */
    int rc = plan_select(&s, db, &emsg);
    if (rc <= 0) goto out;
    s.nout = s.ncols;
    size_t nw = st->nwhere > 0 ? (size_t)st->nwhere : 1;
    s.wfield = bs_arena_alloc(a, nw * sizeof *s.wfield);
    s.wre_ok = bs_arena_alloc(a, nw * sizeof *s.wre_ok);
    re = calloc(nw, sizeof *re);
    if (!s.wfield || !s.wre_ok || !re) {
        emsg = "out of memory";
        goto out;
    }
    memset(s.wre_ok, 0, nw * sizeof *s.wre_ok);
    s.wre = re;
    nre = (size_t)st->nwhere;
    if (plan_where(&s, st->where, &emsg)) goto out;
    scan_and_emit(&s, bs_schema_table(sc, db, BS_TS_INDEX_TABLE), ediv, o, &emsg);
out:
    if (re) {
        for (size_t i = 0; i < nre; i++)
            if (s.wre_ok[i]) regfree(&re[i]);
        free(re);
    }
    bs_schema_release(sc);
    bs_buf_free(&s.ckb);
    if (emsg) {
        bs_buf_append_str(o, ",\"error\":");
        bs_http_json_str(o, emsg, strlen(emsg));
    }
}

/* ------------------------------------------------------------------ */
/* Tag keys of a measurement (for SELECT * and GROUP BY *)              */
/* ------------------------------------------------------------------ */

typedef struct tkctx {
    bs_arena *a;
    const bs_type *ty;
    const char *m;
    const char **v;
    size_t n, cap;
} tkctx;

static int on_tk_part(void *ud, const bs_partv *p) {
    tkctx *c = ud;
    if (strlen(c->m) != p->pk_len || memcmp(c->m, p->pk, p->pk_len)) return 0;
    bs__ts_tag tags[MAX_TAGS];
    for (size_t r = 0; r < p->nrows; r++) {
        bs_rbuf rb;
        bs_rbuf_init(&rb, p->rows[r].ck, p->rows[r].ck_len);
        bs_buf out = BS_BUF_INIT;
        if (bs_keycodec_decode(c->ty, 0, &rb, &out, NULL)) {
            bs_buf_free(&out);
            continue;
        }
        size_t nt = bs__ts_series_tags((const char *)out.data, out.len, c->a, tags, MAX_TAGS);
        bs_buf_free(&out);
        for (size_t t = 0; t < nt; t++) {
            size_t k = 0;
            while (k < c->n && strcmp(c->v[k], tags[t].k)) k++;
            if (k < c->n) continue;
            if (c->n == c->cap) {
                size_t nc = c->cap ? c->cap * 2 : 16;
                const char **nv = bs_arena_alloc(c->a, nc * sizeof *nv);
                if (!nv) return -1;
                if (c->n) memcpy(nv, c->v, c->n * sizeof *nv);
                c->v = nv;
                c->cap = nc;
            }
            c->v[c->n++] = tags[t].k;
        }
    }
    return 0;
}

static size_t tag_keys(bs_ts *ts, const char *db, const char *m, bs_arena *a, const char ***out) {
    *out = NULL;
    bs_schema *s = ts->be.schema_get(ts->be.ud);
    const bs_table_schema *t = bs_schema_table(s, db, BS_TS_INDEX_TABLE);
    tkctx c = {a, t ? t->cols[t->npk].type : NULL, m, NULL, 0, 0};
    if (t) {
        bs_scan sc;
        memset(&sc, 0, sizeof sc);
        sc.start_token = INT64_MIN;
        sc.end_token = INT64_MIN;
        bs_exec_err err;
        memset(&err, 0, sizeof err);
        ts->be.scan(ts->be.ud, t, &sc, BS_CL_ONE, on_tk_part, &c, &err);
    }
    bs_schema_release(s);
    if (c.n) qsort(c.v, c.n, sizeof *c.v, cmp_cstr);
    *out = c.v;
    return c.n;
}
