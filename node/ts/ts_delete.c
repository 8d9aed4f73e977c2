/*
 * ts_delete.c - InfluxQL DELETE and DROP SERIES.
 *
 *   DELETE [FROM m] [WHERE time and tag conditions]
 *   DROP SERIES [FROM m] [WHERE tag conditions]
 *
 * Without FROM, every measurement of the database.  How: one scan of
 * each measurement's table (as a SELECT does); for every partition
 * (series, time bucket) whose series matches the tag conditions and
 * whose bucket meets the time range, a partition tombstone when the
 * whole bucket is inside the range, else a range tombstone on `time`
 * covering the part inside.  A series left without any point (as far as
 * the scan saw) also loses its series index row, so SHOW SERIES / TAG
 * VALUES / MEASUREMENTS no longer list it, as in InfluxDB 1.6.  The
 * tombstones are written at QUORUM; they are ordinary Basalt deletes
 * (gc_grace, repair and hints apply).
 */
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "node/ts/ts_int.h"
#include "query/ts/influxql.h"
#include "ring/murmur3.h"
#include "storage/keycodec.h"

#define MAX_TAGS 256

typedef struct sstate {
    const char *key; /* series key */
    size_t kn;
    int remains; /* a point outside the deleted range */
} sstate;

typedef struct dctx {
    bs_ts *ts;
    const bs_iq_stmt *st;
    const bs_table_schema *t;
    const char *cf;
    bs_arena *a;
    regex_t *re;
    int64_t now_us;
    bs_mutation *m;
    size_t nm, mcap;
    sstate *ss;
    size_t nss, sscap;
    int oom;
} dctx;

static uint64_t rd64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v = v << 8 | p[i];
    return v;
}

static int tags_match(const dctx *c, const bs__ts_tag *tags, size_t nt) {
    for (size_t i = 0; i < c->st->nconds; i++) {
        const bs_iq_tagcond *k = &c->st->conds[i];
        const char *v = "";
        for (size_t j = 0; j < nt; j++)
            if (!strcmp(tags[j].k, k->key)) v = tags[j].v;
        int ok;
        switch (k->op) {
        case BS_IQ_EQ: ok = !strcmp(v, k->value); break;
        case BS_IQ_NE: ok = strcmp(v, k->value) != 0; break;
        case BS_IQ_RE: ok = regexec(&c->re[i], v, 0, NULL, 0) == 0; break;
        default: ok = regexec(&c->re[i], v, 0, NULL, 0) != 0; break;
        }
        if (!ok) return 0;
    }
    return 1;
}

static void *grow(dctx *c, void *v, size_t n, size_t *cap, size_t sz) {
    if (n < *cap) return v;
    size_t nc = *cap ? *cap * 2 : 64;
    void *nv = bs_arena_alloc(c->a, nc * sz);
    if (!nv) return NULL;
    if (n) memcpy(nv, v, n * sz);
    *cap = nc;
    return nv;
}

static int note_series(dctx *c, const uint8_t *key, size_t kn, int remains) {
    sstate *ss = grow(c, c->ss, c->nss, &c->sscap, sizeof *ss);
    if (!ss) return -1;
    c->ss = ss;
    ss[c->nss].key = bs_arena_memdup(c->a, key, kn ? kn : 1);
    ss[c->nss].kn = kn;
    ss[c->nss++].remains = remains;
    return ss[c->nss - 1].key ? 0 : -1;
}

/* The encoded clustering key of time t. */
static int time_ck(dctx *c, int64_t t, bs_bound *b) {
    uint8_t tb[8];
    for (int i = 0; i < 8; i++) tb[i] = (uint8_t)((uint64_t)t >> (56 - 8 * i));
    const bs_column *tc = &c->t->cols[c->t->npk];
    bs_buf ck = BS_BUF_INIT;
    int rc = bs_keycodec_encode(tc->type, tb, 8, tc->desc, &ck);
    b->kind = BS_BOUND_INCL;
    b->prefix = rc ? NULL : bs_arena_memdup(c->a, ck.data, ck.len);
    b->len = ck.len;
    bs_buf_free(&ck);
    return b->prefix ? 0 : -1;
}

/* The tombstone of one partition: all of it, or times [lo, hi]. */
static int add_tombstone(dctx *c, const bs_partv *p, int whole, int64_t lo, int64_t hi) {
    bs_mutation *m = grow(c, c->m, c->nm, &c->mcap, sizeof *m);
    bs_mop *op = bs_arena_alloc(c->a, sizeof *op);
    if (!m || !op) return -1;
    c->m = m;
    memset(op, 0, sizeof *op);
    op->ts = c->now_us;
    op->kind = whole ? BS_MOP_PART_DEL : BS_MOP_RANGE_DEL;
    const bs_column *tc = &c->t->cols[c->t->npk];
    /* clustering order: DESC puts the newest first */
    if (!whole && (time_ck(c, tc->desc ? hi : lo, &op->start) ||
                   time_ck(c, tc->desc ? lo : hi, &op->end)))
        return -1;
    bs_mutation *mu = &m[c->nm++];
    memset(mu, 0, sizeof *mu);
    mu->table_id = c->t->id;
    mu->cf = c->cf;
    mu->pk = bs_arena_memdup(c->a, p->pk, p->pk_len);
    mu->pk_len = p->pk_len;
    mu->token = bs_ring_partition_token(p->pk, p->pk_len);
    mu->ops = op;
    mu->nops = 1;
    return mu->pk ? 0 : -1;
}

static int on_part(void *ud, const bs_partv *p) {
    dctx *c = ud;
    bs_ring_keypart kp[2];
    if (bs_ring_decompose_key(p->pk, p->pk_len, 2, kp) || kp[1].len != 8) return 0;
    bs__ts_tag tags[MAX_TAGS];
    size_t nt = bs__ts_series_tags((const char *)kp[0].data, kp[0].len, c->a, tags, MAX_TAGS);
    if (!tags_match(c, tags, nt)) return 0;
    int64_t bucket = (int64_t)rd64(kp[1].data), bw = c->ts->bucket_ns, b0, b1;
    const bs_iq_stmt *st = c->st;
    if (__builtin_mul_overflow(bucket, bw, &b0)) return 0;
    if (__builtin_add_overflow(b0, bw - 1, &b1)) b1 = INT64_MAX;
    int remains = 0;
    if (b1 < st->tmin || b0 > st->tmax) {
        remains = p->nrows > 0;
    } else {
        int whole = b0 >= st->tmin && b1 <= st->tmax;
        const bs_column *tc = &c->t->cols[c->t->npk];
        for (size_t r = 0; r < p->nrows && !whole && !remains; r++) {
            bs_rbuf rb;
            bs_rbuf_init(&rb, p->rows[r].ck, p->rows[r].ck_len);
            bs_buf out = BS_BUF_INIT;
            if (!bs_keycodec_decode(tc->type, tc->desc, &rb, &out, NULL) && out.len == 8) {
                int64_t t = (int64_t)rd64(out.data);
                remains = t < st->tmin || t > st->tmax;
            }
            bs_buf_free(&out);
        }
        int64_t lo = b0 > st->tmin ? b0 : st->tmin, hi = b1 < st->tmax ? b1 : st->tmax;
        if (add_tombstone(c, p, whole, lo, hi)) goto oom;
    }
    if (note_series(c, kp[0].data, kp[0].len, remains)) goto oom;
    return 0;
oom:
    c->oom = 1;
    return -1;
}

static int cmp_ss(const void *x, const void *y) {
    const sstate *a = x, *b = y;
    size_t n = a->kn < b->kn ? a->kn : b->kn;
    int r = memcmp(a->key, b->key, n);
    if (r || a->kn != b->kn) return r ? r : (a->kn > b->kn) - (a->kn < b->kn);
    return b->remains - a->remains; /* a series that remains first */
}

/* Index row tombstones for the series of c->ss left without points. */
static int index_deletes(dctx *c, const bs_table_schema *ix, const char *ixcf, const char *m) {
    if (!c->nss) return 0;
    qsort(c->ss, c->nss, sizeof *c->ss, cmp_ss);
    bs_mop *ops = bs_arena_alloc(c->a, c->nss * sizeof *ops);
    if (!ops) return -1;
    size_t n = 0;
    const bs_column *sc = &ix->cols[ix->npk];
    for (size_t i = 0; i < c->nss; i++) {
        if (i && c->ss[i].kn == c->ss[i - 1].kn && !memcmp(c->ss[i].key, c->ss[i - 1].key, c->ss[i].kn))
            continue; /* the first of a key says whether it remains */
        if (c->ss[i].remains) continue;
        bs_buf ck = BS_BUF_INIT;
        if (bs_keycodec_encode(sc->type, (const uint8_t *)c->ss[i].key, (int32_t)c->ss[i].kn, 0,
                               &ck)) {
            bs_buf_free(&ck);
            return -1;
        }
        memset(&ops[n], 0, sizeof ops[n]);
        ops[n].kind = BS_MOP_ROW_DEL;
        ops[n].ts = c->now_us;
        ops[n].ck = bs_arena_memdup(c->a, ck.data, ck.len);
        ops[n].ck_len = ck.len;
        bs_buf_free(&ck);
        if (!ops[n++].ck) return -1;
    }
    if (!n) return 0;
    bs_mutation *mu = grow(c, c->m, c->nm, &c->mcap, sizeof *mu);
    if (!mu) return -1;
    c->m = mu;
    mu = &c->m[c->nm++];
    memset(mu, 0, sizeof *mu);
    mu->table_id = ix->id;
    mu->cf = ixcf;
    mu->pk = (const uint8_t *)m;
    mu->pk_len = strlen(m);
    mu->token = bs_ring_partition_token(m, mu->pk_len);
    mu->ops = ops;
    mu->nops = n;
    return 0;
}

/* One measurement: scan, tombstones, index rows.  0 or -1 with msg. */
static int delete_in(dctx *c, const bs_schema *s, const char *db, const char *m, char *msg,
                     size_t msglen) {
    char tn[64], cf[160], ixcf[160];
    bs__ts_table_name(m, strlen(m), tn);
    const bs_table_schema *t = bs_schema_table(s, db, tn);
    const bs_table_schema *ix = bs_schema_table(s, db, BS_TS_INDEX_TABLE);
    if (!ix) {
        snprintf(msg, msglen, "database not found: %s", db);
        return -1;
    }
    c->nm = 0;
    c->nss = 0;
    if (t && t->npk == 2 && t->nck == 1) {
        c->t = t;
        bs_table_cf_name(t, cf, sizeof cf);
        c->cf = cf;
        bs_scan scan;
        memset(&scan, 0, sizeof scan);
        scan.start_token = INT64_MIN;
        scan.end_token = INT64_MIN;
        bs_exec_err err;
        memset(&err, 0, sizeof err);
        if (c->ts->be.scan(c->ts->be.ud, t, &scan, BS_CL_ONE, on_part, c, &err)) {
            snprintf(msg, msglen, "%s",
                     c->oom ? "out of memory" : err.msg[0] ? err.msg : "read failed");
            return -1;
        }
    }
    bs_table_cf_name(ix, ixcf, sizeof ixcf);
    if (index_deletes(c, ix, ixcf, m)) {
        snprintf(msg, msglen, "out of memory");
        return -1;
    }
    if (!c->nm) return 0;
    bs_exec_err err;
    memset(&err, 0, sizeof err);
    if (c->ts->be.write(c->ts->be.ud, c->m, c->nm, BS_CL_QUORUM, 0, &err)) {
        snprintf(msg, msglen, "%s", err.msg[0] ? err.msg : "delete failed");
        return -1;
    }
    return 0;
}

int bs__ts_delete(bs_ts *ts, const bs_iq_stmt *st, const char *db, bs_arena *a, char *msg,
                  size_t msglen) {
    if (st->where && !st->conds_ok) {
        snprintf(msg, msglen, "%s", "only AND-ed tag conditions (=, !=, =~, !~) and time ranges "
                                    "are supported in the WHERE of DELETE and DROP SERIES");
        return -1;
    }
    if (st->kind == BS_IQ_DROP_SERIES && (st->has_tmin || st->has_tmax)) {
        snprintf(msg, msglen, "DROP SERIES doesn't support time in WHERE clause");
        return -1;
    }
    const char **ms = NULL, *one[1] = {st->from};
    size_t nm = 0;
    if (st->from) {
        ms = one;
        nm = 1;
    } else if (bs__ts_measurements(ts, db, a, &ms, &nm, msg, msglen)) {
        return -1;
    }
    dctx c;
    memset(&c, 0, sizeof c);
    c.ts = ts;
    c.st = st;
    c.a = a;
    c.now_us = ts->be.now_us(ts->be.ud);
    c.re = calloc(st->nconds ? st->nconds : 1, sizeof *c.re);
    if (!c.re) {
        snprintf(msg, msglen, "out of memory");
        return -1;
    }
    size_t nre = 0;
    int rc = 0;
    for (size_t i = 0; i < st->nconds && !rc; i++) {
        if (st->conds[i].op != BS_IQ_RE && st->conds[i].op != BS_IQ_NRE) continue;
        if (regcomp(&c.re[i], st->conds[i].value, REG_EXTENDED | REG_NOSUB)) {
            snprintf(msg, msglen, "invalid regular expression /%s/", st->conds[i].value);
            rc = -1;
            break;
        }
        nre = i + 1;
    }
    bs_schema *s = ts->be.schema_get(ts->be.ud);
    for (size_t i = 0; i < nm && !rc; i++) rc = delete_in(&c, s, db, ms[i], msg, msglen);
    bs_schema_release(s);
    for (size_t i = 0; i < nre; i++)
        if (st->conds[i].op == BS_IQ_RE || st->conds[i].op == BS_IQ_NRE) regfree(&c.re[i]);
    free(c.re);
    return rc;
}
