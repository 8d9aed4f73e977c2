/*
 * ts_write.c - POST /write (InfluxDB 1.x) and /api/v2/write (2.x): line
 * protocol in, mutations through the executor backend out.
 *
 * A request, step by step:
 *   1. parameters: db (v2: bucket "db[/rp]"), precision, consistency;
 *      a database that does not exist is 404 as in InfluxDB
 *   2. parse the whole body (query/ts/lineproto.c); bad lines are
 *      collected, good points kept (InfluxDB's partial-write rule)
 *   3. per measurement: create the table or add the fields it lacks
 *      (ts_schema.c), then drop the points whose field type conflicts
 *      with the column (the first type seen wins, also inside a batch)
 *   4. group the points by partition (series key, time bucket): one
 *      bs_mutation per partition, one cell per field; a point repeated
 *      in the batch (same series and time) overwrites field by field,
 *      the later line winning; plus one series-index row per series;
 *      partitions and cells then sorted in the store's key order, which
 *      makes the memtable inserts cheap (store_order)
 *   5. backend write at the request's consistency (the coordinator sends
 *      each mutation to its partition's replicas, hints the down ones)
 *   6. answer as InfluxDB 1.6: 204; or 400 "partial write: ... dropped=N"
 *      (type conflicts, which take precedence) or "partial write:
 *      unable to parse ... dropped=0" (bad lines: the others are
 *      stored); 503/429 + Retry-After when replicas are unavailable or
 *      the node sheds load; 500 {"error":"timeout"} on a write timeout
 *
 * Memory: everything lives in the request's arena.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "node/ts/ts_int.h"
#include "ring/murmur3.h"
#include "storage/keycodec.h"

/* ------------------------------------------------------------------ */
/* A small open-addressing hash: 64-bit keys -> indexes                 */
/* ------------------------------------------------------------------ */

typedef struct hslot {
    uint64_t h;
    size_t v; /* index + 1; 0 = empty */
} hslot;

typedef struct htab {
    hslot *s;
    size_t mask;
} htab;

static int ht_init(htab *t, size_t n, bs_arena *a) {
    size_t cap = 16;
    while (cap < 2 * n) cap <<= 1;
    t->s = bs_arena_calloc(a, cap * sizeof *t->s);
    t->mask = cap - 1;
    return t->s ? 0 : BS_ENOMEM;
}

static uint64_t fnv(uint64_t h, const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ULL;
    return h;
}

static uint64_t mix64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    return x ^ (x >> 33);
}

/* ------------------------------------------------------------------ */
/* Value encodings (CQL native formats)                                 */
/* ------------------------------------------------------------------ */

static void be64(uint8_t *o, uint64_t v) {
    for (int i = 7; i >= 0; i--, v >>= 8) o[i] = (uint8_t)v;
}

/* The native value of field f in arena memory. */
static const uint8_t *encode_value(const bs_lp_field *f, bs_arena *a, size_t *len) {
    uint8_t *o;
    switch (f->type) {
    case BS_LP_FLOAT: {
        uint64_t bits;
        memcpy(&bits, &f->v.f, 8);
        if (!(o = bs_arena_alloc(a, 8))) return NULL;
        be64(o, bits);
        *len = 8;
        return o;
    }
    case BS_LP_INT:
        if (!(o = bs_arena_alloc(a, 8))) return NULL;
        be64(o, (uint64_t)f->v.i);
        *len = 8;
        return o;
    case BS_LP_UINT: { /* varint: minimal big-endian two's complement */
        uint8_t tmp[9];
        be64(tmp + 1, f->v.u);
        tmp[0] = 0;
        size_t s = 0;
        while (s < 8 && tmp[s] == 0 && !(tmp[s + 1] & 0x80)) s++;
        if (!(o = bs_arena_memdup(a, tmp + s, 9 - s))) return NULL;
        *len = 9 - s;
        return o;
    }
    case BS_LP_STRING:
        *len = f->v.s.n;
        return f->v.s.n ? (const uint8_t *)f->v.s.p : (const uint8_t *)"";
    case BS_LP_BOOL:
        if (!(o = bs_arena_alloc(a, 1))) return NULL;
        o[0] = f->v.b ? 1 : 0;
        *len = 1;
        return o;
    }
    return NULL;
}

/* ------------------------------------------------------------------ */
/* The request                                                          */
/* ------------------------------------------------------------------ */

typedef struct part {
    bs_mutation m;
    size_t cap;
    size_t need; /* cells the request's points have for it (size_parts) */
} part;

typedef struct wctx {
    bs_ts *ts;
    bs_arena *a;
    const char *db;
    int64_t now_us;
    int64_t rp_ns; /* the retention policy's duration; 0 = infinite */
    /* outcome */
    size_t dropped;
    size_t rp_dropped; /* points older than the retention policy */
    char reason[512]; /* first type conflict */
    /* partitions */
    part *parts;
    size_t nparts, pcap;
    htab ptab;  /* (table, series, bucket) -> part */
    bs_buf kb;  /* scratch for encoded keys (freed by the caller) */
} wctx;

static int cmp_name(const void *x, const void *y) {
    const bs_lp_point *a = *(const bs_lp_point *const *)x, *b = *(const bs_lp_point *const *)y;
    size_t n = a->name.n < b->name.n ? a->name.n : b->name.n;
    int r = memcmp(a->name.p, b->name.p, n);
    if (r) return r;
    if (a->name.n != b->name.n) return a->name.n < b->name.n ? -1 : 1;
    return (a->line_no > b->line_no) - (a->line_no < b->line_no); /* stable */
}

static int64_t floordiv(int64_t a, int64_t b) {
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

/* The partition of (t, series, bucket); created on first use. */
static part *get_part(wctx *w, const bs_table_schema *t, const char *cf, bs_lp_str series,
                      int64_t bucket, size_t nops) {
    uint64_t h = fnv(14695981039346656037ULL, &t->id, sizeof t->id);
    h = fnv(h, series.p, series.n);
    h = mix64(h ^ (uint64_t)bucket);
    for (size_t i = h & w->ptab.mask;; i = (i + 1) & w->ptab.mask) {
        hslot *s = &w->ptab.s[i];
        if (!s->v) {
            if (w->nparts == w->pcap) return NULL; /* sized beforehand */
            part *p = &w->parts[w->nparts];
            memset(p, 0, sizeof *p);
            uint8_t bb[8];
            be64(bb, (uint64_t)bucket);
            bs_ring_keypart kp[2] = {{(const uint8_t *)series.p, series.n}, {bb, 8}};
            bs_buf *k = &w->kb;
            bs_buf_reset(k);
            if (bs_ring_compose_key(kp, t->npk == 2 ? 2 : 1, k)) return NULL;
            p->m.pk = bs_arena_memdup(w->a, k->data, k->len);
            p->m.pk_len = k->len;
            p->m.token = bs_ring_partition_token(k->data, k->len);
            p->m.table_id = t->id;
            p->m.cf = cf;
            p->cap = nops;
            p->m.ops = nops ? bs_arena_alloc(w->a, nops * sizeof *p->m.ops) : NULL;
            if (!p->m.pk || (nops && !p->m.ops)) return NULL;
            s->h = h;
            s->v = ++w->nparts;
            return p;
        }
        if (s->h == h) {
            part *p = &w->parts[s->v - 1];
            /* same hash: confirm it is the same partition */
            uint8_t bb[8];
            be64(bb, (uint64_t)bucket);
            if (!memcmp(&p->m.table_id, &t->id, sizeof t->id) && p->m.pk_len == series.n + 8 + 6 &&
                !memcmp(p->m.pk + 2, series.p, series.n) &&
                !memcmp(p->m.pk + 2 + series.n + 3, bb, 8)) {
                if (p->m.nops + nops > p->cap) { /* grow */
                    size_t nc = (p->cap + nops) * 2;
                    bs_mop *o = bs_arena_alloc(w->a, nc * sizeof *o);
                    if (!o) return NULL;
                    if (p->m.nops) memcpy(o, p->m.ops, p->m.nops * sizeof *o);
                    p->m.ops = o;
                    p->cap = nc;
                }
                return p;
            }
        }
    }
}

/* Creates the partitions of n points with room for all their cells, so
 * that add_point fills them without growing (a request of 5000 points
 * in 1000 series grew each one three times). */
static int size_parts(wctx *w, const bs_table_schema *t, const char *cf, bs_lp_point **pts,
                      size_t n) {
    size_t first = w->nparts;
    for (size_t i = 0; i < n; i++) {
        int64_t bucket = floordiv(pts[i]->time_ns, w->ts->bucket_ns);
        part *p = get_part(w, t, cf, pts[i]->series_key, bucket, 0);
        if (!p) return BS_ENOMEM;
        p->need += pts[i]->nfields;
    }
    for (size_t k = first; k < w->nparts; k++) {
        part *p = &w->parts[k];
        if (p->need <= p->cap) continue;
        bs_mop *o = bs_arena_alloc(w->a, p->need * sizeof *o);
        if (!o) return BS_ENOMEM;
        if (p->m.nops) memcpy(o, p->m.ops, p->m.nops * sizeof *o);
        p->m.ops = o;
        p->cap = p->need;
    }
    return 0;
}

/* Appends the point's cells to its partition, in line order (store_order
 * drops the earlier ones of a repeated time and column). */
static int add_point(wctx *w, const bs_table_schema *t, const char *cf, const bs_lp_point *pt,
                     const uint16_t *cols, int32_t ttl) {
    int64_t bucket = floordiv(pt->time_ns, w->ts->bucket_ns);
    part *p = get_part(w, t, cf, pt->series_key, bucket, pt->nfields);
    if (!p) return BS_ENOMEM;
    uint8_t tb[8];
    be64(tb, (uint64_t)pt->time_ns);
    bs_buf *ck = &w->kb;
    bs_buf_reset(ck);
    const bs_column *tc = &t->cols[t->npk];
    if (bs_keycodec_encode(tc->type, tb, 8, tc->desc, ck)) return BS_ENOMEM;
    const uint8_t *ckp = bs_arena_memdup(w->a, ck->data, ck->len);
    size_t ckl = ck->len;
    if (!ckp) return BS_ENOMEM;
    for (size_t f = 0; f < pt->nfields; f++) {
        size_t vl;
        const uint8_t *v = encode_value(&pt->fields[f], w->a, &vl);
        if (!v) return BS_ENOMEM;
        bs_mop *op = &p->m.ops[p->m.nops++];
        memset(op, 0, sizeof *op);
        op->kind = BS_MOP_CELL;
        op->col = cols[f];
        op->ck = ckp;
        op->ck_len = ckl;
        op->val = v;
        op->val_len = vl;
        op->ts = w->now_us;
        op->ttl = ttl;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Store order                                                          */
/* ------------------------------------------------------------------ */

/* Partitions by (token, key) and cells by (clustering key, column): the
 * order of the store's keys (token first, then the partition key, the
 * row, the column), so the memtable inserts of one request walk its
 * skip list forward from the previous insert instead of searching it
 * from the top for every cell.  A cell repeated in the request (same
 * partition, time and column) is kept once: the one of the later line,
 * as add_point appended them in line order. */
static int cmp_part(const void *x, const void *y) {
    const bs_mutation *a = &((const part *)x)->m, *b = &((const part *)y)->m;
    if (a->token != b->token) return a->token < b->token ? -1 : 1;
    size_t n = a->pk_len < b->pk_len ? a->pk_len : b->pk_len;
    int r = memcmp(a->pk, b->pk, n);
    if (r) return r;
    return (a->pk_len > b->pk_len) - (a->pk_len < b->pk_len);
}

/* (clustering key, column) of two ops; 0 = the same cell. */
static int cmp_cell(const bs_mop *a, const bs_mop *b) {
    size_t n = a->ck_len < b->ck_len ? a->ck_len : b->ck_len;
    int r = memcmp(a->ck, b->ck, n);
    if (r) return r;
    if (a->ck_len != b->ck_len) return a->ck_len < b->ck_len ? -1 : 1;
    return (a->col > b->col) - (a->col < b->col);
}

/* Op pointers into one array: by cell, then by position (line order). */
static int cmp_opp(const void *x, const void *y) {
    const bs_mop *a = *(const bs_mop *const *)x, *b = *(const bs_mop *const *)y;
    int r = cmp_cell(a, b);
    return r ? r : (a > b) - (a < b);
}

static int store_order(wctx *w) {
    size_t most = 0;
    for (size_t i = 0; i < w->nparts; i++)
        if (w->parts[i].m.nops > most) most = w->parts[i].m.nops;
    const bs_mop **ix = malloc(most * sizeof *ix);
    bs_mop *tmp = malloc(most * sizeof *tmp);
    if (most && (!ix || !tmp)) {
        free(ix);
        free(tmp);
        return BS_ENOMEM;
    }
    for (size_t i = 0; i < w->nparts; i++) {
        bs_mutation *m = &w->parts[i].m;
        if (m->nops < 2) continue;
        for (size_t k = 0; k < m->nops; k++) ix[k] = &m->ops[k];
        qsort(ix, m->nops, sizeof *ix, cmp_opp);
        size_t n = 0;
        for (size_t k = 0; k < m->nops; k++) {
            if (k + 1 < m->nops && !cmp_cell(ix[k], ix[k + 1])) continue; /* a later line's */
            tmp[n++] = *ix[k];
        }
        memcpy(m->ops, tmp, n * sizeof *tmp);
        m->nops = n;
    }
    free(ix);
    free(tmp);
    if (w->nparts > 1) qsort(w->parts, w->nparts, sizeof *w->parts, cmp_part);
    return 0;
}

/* The TTL (s) of a point under the request's retention policy: the time
 * left until the point leaves the policy's window (0: none); -1 when it
 * already has. */
static int32_t point_ttl(const wctx *w, int64_t t) {
    if (!w->rp_ns) return 0;
    int64_t end, left;
    if (__builtin_add_overflow(t, w->rp_ns, &end)) return 0;
    if (__builtin_sub_overflow(end, w->now_us * 1000, &left)) return left > 0 ? 630720000 : -1;
    if (left <= 0) return -1;
    int64_t s = (left + 999999999) / 1000000000;
    return s > 630720000 ? 630720000 : (int32_t)s;
}

#define NCACHE 64

/* One measurement: schema, type checks, cells, index rows. */
static int write_measurement(wctx *w, bs_lp_point **pts, size_t n, char *msg, size_t msglen) {
    char m[64];
    bs__ts_table_name(pts[0]->name.p, pts[0]->name.n, m);
    bs_lp_str mn = pts[0]->name;
    if (mn.n > 200) mn.n = 200;
    bs_schema *s = NULL;
    int rc = bs__ts_ensure_table(w->ts, w->db, m, (const bs_lp_point *const *)pts, n, &s, msg,
                                 msglen);
    if (rc) return rc;
    const bs_table_schema *t = bs_schema_table(s, w->db, m);
    const bs_table_schema *ix = bs_schema_table(s, w->db, BS_TS_INDEX_TABLE);
    if (!t || !ix || t->npk != 2 || t->nck != 1) {
        snprintf(msg, msglen, "table %s.%s is not a time-series table", w->db, m);
        bs_schema_release(s);
        return BS_EINVAL;
    }
    char cfbuf[160], ixbuf[160];
    bs_table_cf_name(t, cfbuf, sizeof cfbuf);
    bs_table_cf_name(ix, ixbuf, sizeof ixbuf);
    char *cf = bs_arena_strndup(w->a, cfbuf, strlen(cfbuf));
    char *ixcf = bs_arena_strndup(w->a, ixbuf, strlen(ixbuf));
    /* index rows: one mutation for the measurement's index partition */
    part *ip = NULL;
    htab seen;
    if (!cf || !ixcf || ht_init(&seen, n, w->a)) rc = BS_ENOMEM;
    if (!rc) rc = size_parts(w, t, cf, pts, n);
    char name[256];
    /* field position -> the column its key named last (points of a batch
     * mostly list the same fields in the same order) */
    bs_lp_str ckey[NCACHE];
    const bs_column *ccol[NCACHE];
    memset(ckey, 0, sizeof ckey);
    for (size_t i = 0; i < n && !rc; i++) {
        bs_lp_point *pt = pts[i];
        uint16_t *cols = bs_arena_alloc(w->a, (pt->nfields ? pt->nfields : 1) * sizeof *cols);
        if (!cols) {
            rc = BS_ENOMEM;
            break;
        }
        int bad = 0;
        for (size_t f = 0; f < pt->nfields && !bad; f++) {
            bs_lp_str k = pt->fields[f].key;
            const bs_column *c = NULL;
            if (f < NCACHE && ckey[f].p && ckey[f].n == k.n && !memcmp(ckey[f].p, k.p, k.n)) {
                c = ccol[f]; /* the same field as the previous point's */
            } else if (k.n < sizeof name) {
                memcpy(name, k.p, k.n);
                name[k.n] = 0;
                c = bs_table_column(t, name);
                if (f < NCACHE) {
                    ckey[f] = k;
                    ccol[f] = c;
                }
            }
            if (!c || c->kind != BS_COL_REGULAR) { /* time, _series, ... */
                if (!w->reason[0])
                    snprintf(w->reason, sizeof w->reason,
                             "invalid field name: input field \"%.*s\" on measurement \"%.*s\" "
                             "is invalid",
                             (int)(k.n > 100 ? 100 : k.n), k.p, (int)mn.n, mn.p);
                bad = 1;
            } else if (bs__ts_col_lp_type(c->type) != (int)pt->fields[f].type) {
                if (!w->reason[0]) {
                    int ct = bs__ts_col_lp_type(c->type);
                    snprintf(w->reason, sizeof w->reason,
                             "field type conflict: input field \"%.*s\" on measurement "
                             "\"%.*s\" is type %s, already exists as type %s",
                             (int)k.n, k.p, (int)mn.n, mn.p, bs_lp_type_name(pt->fields[f].type),
                             ct < 0 ? "unknown" : bs_lp_type_name((bs_lp_type)ct));
                }
                bad = 1;
            } else {
                cols[f] = c->id;
            }
        }
        if (bad) {
            w->dropped++;
            continue;
        }
        int32_t ttl = point_ttl(w, pt->time_ns);
        if (ttl < 0) {
            w->rp_dropped++;
            continue;
        }
        rc = add_point(w, t, cf, pt, cols, ttl);
        if (rc) break;
        /* series index row, once per series in this request */
        uint64_t h = fnv(14695981039346656037ULL, pt->series_key.p, pt->series_key.n);
        size_t slot = h & seen.mask;
        int dup = 0;
        for (;; slot = (slot + 1) & seen.mask) {
            hslot *sl = &seen.s[slot];
            if (!sl->v) break;
            if (sl->h == h) {
                bs_lp_point *o = pts[sl->v - 1];
                if (o->series_key.n == pt->series_key.n &&
                    !memcmp(o->series_key.p, pt->series_key.p, pt->series_key.n)) {
                    dup = 1;
                    break;
                }
            }
        }
        if (dup) continue;
        seen.s[slot].h = h;
        seen.s[slot].v = i + 1;
        if (!ip) {
            if (w->nparts == w->pcap) {
                rc = BS_ENOMEM;
                break;
            }
            ip = &w->parts[w->nparts++];
            memset(ip, 0, sizeof *ip);
            ip->m.table_id = ix->id;
            ip->m.cf = ixcf;
            ip->m.pk = (const uint8_t *)pt->name.p;
            ip->m.pk_len = pt->name.n;
            ip->m.token = bs_ring_partition_token(pt->name.p, pt->name.n);
            ip->cap = n;
            ip->m.ops = bs_arena_alloc(w->a, n * sizeof *ip->m.ops);
            if (!ip->m.ops) {
                rc = BS_ENOMEM;
                break;
            }
        }
        bs_buf *ck = &w->kb;
        bs_buf_reset(ck);
        const bs_column *sc = &ix->cols[ix->npk];
        if (bs_keycodec_encode(sc->type, (const uint8_t *)pt->series_key.p,
                               (int32_t)pt->series_key.n, 0, ck)) {
            rc = BS_ENOMEM;
            break;
        }
        bs_mop *op = &ip->m.ops[ip->m.nops++];
        memset(op, 0, sizeof *op);
        op->kind = BS_MOP_MARKER;
        op->ck = bs_arena_memdup(w->a, ck->data, ck->len);
        op->ck_len = ck->len;
        op->ts = w->now_us;
        if (!op->ck) rc = BS_ENOMEM;
    }
    bs_schema_release(s);
    if (rc == BS_ENOMEM) snprintf(msg, msglen, "out of memory");
    return rc;
}

static int parse_cl(const char *s, uint16_t *cl) {
    if (!s || !*s || !strcmp(s, "one")) *cl = BS_CL_ONE;
    else if (!strcmp(s, "any")) *cl = BS_CL_ANY;
    else if (!strcmp(s, "quorum")) *cl = BS_CL_QUORUM;
    else if (!strcmp(s, "all")) *cl = BS_CL_ALL;
    else return BS_EINVAL;
    return 0;
}

static const char *param(const bs_http_request *req, const char *name) {
    const char *v = NULL;
    if (bs_http_form_get(req->query, strlen(req->query), name, req->arena, &v)) return NULL;
    return v;
}

/* The database a request names (v2: bucket "db" or "db/rp"). */
static const char *database(const bs_http_request *req, int v2) {
    if (!v2) return param(req, "db");
    const char *b = param(req, "bucket");
    if (!b) return NULL;
    const char *slash = strchr(b, '/');
    return slash ? bs_arena_strndup(req->arena, b, (size_t)(slash - b)) : b;
}

/* The retention policy a request names (NULL: the database's default). */
static const char *policy(const bs_http_request *req, int v2) {
    if (!v2) return param(req, "rp");
    const char *b = param(req, "bucket"), *slash = b ? strchr(b, '/') : NULL;
    return slash ? slash + 1 : NULL;
}

/* 1 when db exists; *rp_ns: the duration of its retention policy rp (0:
 * infinite); *rp_missing when there is no such policy. */
static int db_exists(bs_ts *ts, const char *db, const char *rp, int64_t *rp_ns, int *rp_missing) {
    bs_schema *s = ts->be.schema_get(ts->be.ud);
    int ok = bs_schema_table(s, db, BS_TS_INDEX_TABLE) != NULL;
    bs__ts_rp r;
    *rp_missing = ok && bs__ts_rp_find(s, db, rp, &r);
    *rp_ns = ok && !*rp_missing ? r.duration : 0;
    bs_schema_release(s);
    return ok;
}

/* Steps 2-6 of a request (see the top of the file). */
static void write_body(wctx *w, const bs_http_request *req, bs_http_response *resp,
                       bs_lp_precision prec, uint16_t cl) {
    bs_ts *ts = w->ts;
    bs_lp_result r;
    if (bs_lp_parse((const char *)req->body, req->body_len, prec, w->now_us * 1000, req->arena, &r)) {
        bs_http_error(resp, 500, "out of memory");
        return;
    }
    char *perr = r.nerrors ? bs_lp_errors_text(&r, req->arena) : NULL;
    if (r.nerrors && !perr) {
        bs_http_error(resp, 500, "out of memory");
        return;
    }
    if (r.npoints == 0) {
        if (perr)
            bs_http_error(resp, 400, "%s", perr);
        else
            resp->status = 204;
        return;
    }
    /* group by measurement */
    bs_lp_point **pts = bs_arena_alloc(req->arena, r.npoints * sizeof *pts);
    w->pcap = 2 * r.npoints + 1;
    w->parts = bs_arena_alloc(req->arena, w->pcap * sizeof *w->parts);
    if (!pts || !w->parts || ht_init(&w->ptab, r.npoints, req->arena)) {
        bs_http_error(resp, 500, "out of memory");
        return;
    }
    for (size_t i = 0; i < r.npoints; i++) pts[i] = &r.points[i];
    if (r.npoints > 1) qsort(pts, r.npoints, sizeof *pts, cmp_name);
    char msg[512] = "";
    for (size_t i = 0; i < r.npoints;) {
        size_t j = i + 1;
        while (j < r.npoints && pts[j]->name.n == pts[i]->name.n &&
               !memcmp(pts[j]->name.p, pts[i]->name.p, pts[i]->name.n))
            j++;
        int rc = write_measurement(w, pts + i, j - i, msg, sizeof msg);
        if (rc) {
            bs_http_error(resp, rc == BS_ENOMEM ? 500 : 400, "%s", msg);
            return;
        }
        i = j;
    }
    if (w->nparts) {
        bs_mutation *muts = bs_arena_alloc(req->arena, w->nparts * sizeof *muts);
        if (!muts || store_order(w)) {
            bs_http_error(resp, 500, "out of memory");
            return;
        }
        size_t nm = 0;
        for (size_t i = 0; i < w->nparts; i++)
            if (w->parts[i].m.nops) muts[nm++] = w->parts[i].m; /* not: all points dropped */
        bs_exec_err err;
        memset(&err, 0, sizeof err);
        if (nm && ts->be.write(ts->be.ud, muts, nm, cl, 0, &err)) {
            switch (err.code) {
            case BS_PROTO_ERR_UNAVAILABLE:
                bs_http_error(resp, 503, "%s", err.msg);
                snprintf(resp->headers, sizeof resp->headers, "Retry-After: 1\r\n");
                break;
            case BS_PROTO_ERR_OVERLOADED:
                bs_http_error(resp, 429, "%s", err.msg);
                snprintf(resp->headers, sizeof resp->headers, "Retry-After: 1\r\n");
                break;
            case BS_PROTO_ERR_WRITE_TIMEOUT: bs_http_error(resp, 500, "timeout"); break;
            default: bs_http_error(resp, 500, "%s", err.msg[0] ? err.msg : "write failed");
            }
            return;
        }
    }
    if (w->dropped) {
        bs_http_error(resp, 400, "partial write: %s dropped=%zu", w->reason, w->dropped);
    } else if (w->rp_dropped) {
        bs_http_error(resp, 400, "partial write: points beyond retention policy dropped=%zu",
                      w->rp_dropped);
    } else if (perr) {
        bs_http_error(resp, 400, "partial write: %s dropped=0", perr);
    } else {
        resp->status = 204;
    }
}

void bs__ts_write(bs_ts *ts, const bs_http_request *req, bs_http_response *resp, int v2,
                  const char *user) {
    if (strcmp(req->method, "POST")) {
        bs_http_error(resp, 405, "method not allowed");
        snprintf(resp->headers, sizeof resp->headers, "Allow: POST\r\n");
        return;
    }
    const char *db = database(req, v2);
    if (!db || !*db) {
        bs_http_error(resp, 400, v2 ? "bucket is required" : "database is required");
        return;
    }
    if (bs__ts_authorize(ts, user, BS_CQL_PERM_MODIFY, db, resp)) return;
    bs_lp_precision prec = BS_LP_NS;
    const char *ps = param(req, "precision");
    if (v2) {
        if (bs_lp_precision_v2(ps, &prec)) {
            bs_http_error(resp, 400, "invalid precision \"%s\": use ns, us, ms or s", ps);
            return;
        }
    } else {
        prec = bs_lp_precision_v1(ps);
    }
    uint16_t cl;
    if (parse_cl(param(req, "consistency"), &cl)) {
        bs_http_error(resp, 400, "invalid consistency level");
        return;
    }
    int64_t rp_ns = 0;
    int rp_missing = 0;
    const char *rp = policy(req, v2);
    if (!ts->have_be || !db_exists(ts, db, rp, &rp_ns, &rp_missing)) {
        bs_http_error(resp, 404, "database not found: \"%s\"", db);
        return;
    }
    if (rp_missing) {
        if (rp && *rp)
            bs_http_error(resp, 500, "retention policy not found: %s", rp);
        else
            bs_http_error(resp, 500, "default retention policy not set for: %s", db);
        return;
    }
    wctx w;
    memset(&w, 0, sizeof w);
    w.rp_ns = rp_ns;
    w.ts = ts;
    w.a = req->arena;
    w.db = db;
    w.now_us = ts->be.now_us(ts->be.ud);
    write_body(&w, req, resp, prec, cl);
    bs_buf_free(&w.kb);
}
