/*
 * gc.c - the compaction filter: TTL expiry and tombstone purge
 * (gc_grace_seconds) that never resurrects shadowed data.
 *
 * A factory creates one filter per (sub)compaction (max_subcompactions is
 * 1, so one filter sees its whole compaction in key order; filters of
 * different compactions run on different threads and share only the
 * read-only bs__gctab).  For each record it decides, in this order:
 *
 *   1. Shadowed -> remove.  The filter remembers the deletions it has met
 *      in the current partition: partition deletion (sorts first), range
 *      tombstones (sort before rows), the current row's deletion (sorts
 *      before the row's cells) and the current collection tombstone
 *      (before its elements).  A record with ts <= a covering deletion is
 *      garbage whatever else happens: dropping it is always safe because
 *      the deletion is either kept or (rule 4) purged only once nothing it
 *      shadows is left.
 *   2. Expired TTL cell -> rewritten as a tombstone with the same timestamp
 *      and local deletion time = expiry (Cassandra uses write time there;
 *      we purge gc_grace after expiry, which is later, so never earlier).
 *   3. Same-key tombstone (cell, element, row marker) with local deletion
 *      time < now - gc_grace -> remove.  RocksDB turns a removal above the
 *      bottommost level into a deletion marker, so older versions of the
 *      same key stay hidden.
 *   4. Cross-key tombstone (partition, range, row, collection) past
 *      gc_grace -> remove only if a look-ahead read of the current database
 *      over the keys it covers finds no record with ts <= its timestamp.
 *      Why a read and not just "full compaction": RocksDB does not pass
 *      merge results to the filter, so a covered cell that still had merge
 *      operands in this compaction would escape rule 1 and resurrect if the
 *      tombstone were purged on the strength of a full compaction alone.
 *      The read sees every level and the memtables, so the tombstone goes
 *      only when all it shadows is gone (usually: the compaction after the
 *      one that dropped the cells).  This makes the rule safe in any
 *      compaction, full or not.
 *
 * Records that do not decode are always kept (a read reports them).
 * RocksDB's C wrapper copies *new_value and does not free it: it points
 * into the filter's own buffer.
 */
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "storage/store_int.h"

#define MAX_RTS 256

typedef struct gc_rt {
    uint8_t *kbytes;
    bs__key k;
    int64_t ts;
} gc_rt;

typedef struct gcf {
    bs__gctab *tab;
    int64_t now;
    int64_t gc_before;
    bs_buf pp;          /* current partition prefix */
    int has_pp;
    int has_pdel;
    int64_t pdel;
    gc_rt rts[MAX_RTS];
    int nrts;
    bs_buf row;         /* current row: key bytes naming it */
    int has_row;
    int has_rowdel;
    int64_t rowdel;
    int ccol;
    int has_ct;
    int64_t ct;
    bs_buf out;         /* rewritten value */
    bs_buf lo, hi;      /* look-ahead bounds */
} gcf;

static void clear_rts(gcf *f) {
    for (int i = 0; i < f->nrts; i++) free(f->rts[i].kbytes);
    f->nrts = 0;
}

static void gcf_destroy(void *st) {
    gcf *f = st;
    clear_rts(f);
    bs_buf_free(&f->pp);
    bs_buf_free(&f->row);
    bs_buf_free(&f->out);
    bs_buf_free(&f->lo);
    bs_buf_free(&f->hi);
    free(f);
}

static const char *gcf_name(void *st) {
    (void)st;
    return "basalt.gc.v1";
}

static int same(const bs_buf *b, const char *k, size_t n) {
    return b->len == n && memcmp(b->data, k, n) == 0;
}

static int set_buf(bs_buf *b, const void *p, size_t n) {
    bs_buf_reset(b);
    return bs_buf_append(b, p, n);
}

/* Does the database hold any record in [lo, hi) with ts <= D (or one
 * that does not decode)?  Also answers 1 when it cannot tell. */
static int covered_exists(gcf *f, int64_t D) {
    rocksdb_t *db = atomic_load(&f->tab->db);
    rocksdb_column_family_handle_t *cf = atomic_load(&f->tab->cf);
    if (!db || !cf) return 1;
    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
    rocksdb_readoptions_set_iterate_lower_bound(ro, (const char *)f->lo.data, f->lo.len);
    if (f->hi.len) rocksdb_readoptions_set_iterate_upper_bound(ro, (const char *)f->hi.data, f->hi.len);
    rocksdb_readoptions_set_fill_cache(ro, 0);
    rocksdb_readoptions_set_total_order_seek(ro, 1);
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(db, ro, cf);
    int found = 0;
    for (rocksdb_iter_seek(it, (const char *)f->lo.data, f->lo.len); rocksdb_iter_valid(it);
         rocksdb_iter_next(it)) {
        size_t kl, vl;
        const char *k = rocksdb_iter_key(it, &kl);
        const char *v = rocksdb_iter_value(it, &vl);
        bs__cell c;
        if (bs__cell_decode(k, kl, (const uint8_t *)v, vl, &c) || c.ts <= D) {
            found = 1;
            break;
        }
    }
    if (!found) {
        char *err = NULL;
        rocksdb_iter_get_error(it, &err);
        if (err) {
            rocksdb_free(err);
            found = 1;
        }
    }
    rocksdb_iter_destroy(it);
    rocksdb_readoptions_destroy(ro);
    return found;
}

/* Builds [lo, hi) = the keys a cross-key tombstone `k` covers (key bytes
 * kb).  0 or -1 on OOM. */
static int covered_range(gcf *f, const uint8_t *kb, const bs__key *k) {
    bs_buf *lo = &f->lo, *hi = &f->hi;
    bs_buf_reset(lo);
    bs_buf_reset(hi);
    size_t ppl = k->prefix_len;
    switch (k->kind) {
    case BS__K_PDEL: /* everything after the deletion in the partition */
        if (bs_buf_append(lo, kb, ppl) || bs_buf_append_u8(lo, BS__K_PDEL + 1)) return -1;
        if (bs_buf_append(hi, kb, ppl)) return -1;
        bs__key_succ(hi);
        return 0;
    case BS__K_RT: {
        if (bs_buf_append(lo, kb, ppl) || bs_buf_append_u8(lo, BS__K_ROW)) return -1;
        if (!(k->rt_flags & BS__RT_START_NONE)) {
            if (k->rt_start_len && bs_buf_append(lo, k->rt_start, k->rt_start_len)) return -1;
            if (!(k->rt_flags & BS__RT_START_INCL)) bs__key_succ(lo);
        }
        if (bs_buf_append(hi, kb, ppl) || bs_buf_append_u8(hi, BS__K_ROW)) return -1;
        if (!(k->rt_flags & BS__RT_END_NONE)) {
            if (k->rt_end_len && bs_buf_append(hi, k->rt_end, k->rt_end_len)) return -1;
            if (k->rt_flags & BS__RT_END_INCL) bs__key_succ(hi);
        } else {
            bs__key_succ(hi);
        }
        return 0;
    }
    case BS__K_ROW:
        if (k->slot == BS__S_ROWDEL) {
            if (bs_buf_append(lo, kb, k->row_prefix_len) || bs_buf_append_u8(lo, BS__S_MARKER)) return -1;
            if (bs_buf_append(hi, kb, k->row_prefix_len)) return -1;
            bs__key_succ(hi);
            return 0;
        }
        /* a collection tombstone in a row: */
        __attribute__((fallthrough));
    case BS__K_STATIC: {
        /* base = row prefix (row) or P|0x20 (static), then 0x02 col */
        size_t base = k->kind == BS__K_ROW ? k->row_prefix_len : ppl + 1;
        if (bs_buf_append(lo, kb, base) || bs_buf_append_u8(lo, BS__S_COL) ||
            bs_buf_append_u16(lo, k->col) || bs_buf_append_u8(lo, BS__C_ELEM))
            return -1;
        if (set_buf(hi, lo->data, lo->len)) return -1;
        bs__key_succ(hi);
        return 0;
    }
    }
    return -1;
}

static unsigned char gcf_filter(void *st, int level, const char *key, size_t klen,
                                const char *val, size_t vlen, char **new_value,
                                size_t *new_len, unsigned char *changed) {
    (void)level;
    gcf *f = st;
    bs__key k;
    bs__cell c;
    const uint8_t *kb = (const uint8_t *)key;
    if (bs__key_parse(kb, klen, &k)) return 0;
    if (bs__cell_decode(key, klen, (const uint8_t *)val, vlen, &c)) return 0;

    /* Context. */
    if (!f->has_pp || !same(&f->pp, key, k.prefix_len)) {
        if (set_buf(&f->pp, key, k.prefix_len)) return 0;
        f->has_pp = 1;
        f->has_pdel = 0;
        clear_rts(f);
        f->has_row = 0;
    }
    if (k.kind == BS__K_ROW || k.kind == BS__K_STATIC) {
        size_t rl = k.kind == BS__K_ROW ? k.row_prefix_len : k.prefix_len + 1;
        if (!f->has_row || !same(&f->row, key, rl)) {
            if (set_buf(&f->row, key, rl)) return 0;
            f->has_row = 1;
            f->has_rowdel = 0;
            f->ccol = -1;
            f->has_ct = 0;
        }
        if (k.slot == BS__S_COL && k.col != f->ccol) {
            f->ccol = k.col;
            f->has_ct = 0;
        }
    }

    /* 1. Shadowed by a deletion met earlier in key order. */
    if (k.kind != BS__K_PDEL) {
        int64_t D = INT64_MIN;
        int has = 0;
        if (f->has_pdel) {
            D = f->pdel;
            has = 1;
        }
        if (k.kind == BS__K_ROW) {
            for (int i = 0; i < f->nrts; i++)
                if ((!has || f->rts[i].ts > D) && bs__rt_covers(&f->rts[i].k, k.ck, k.ck_len)) {
                    D = f->rts[i].ts;
                    has = 1;
                }
            if (k.slot != BS__S_ROWDEL && f->has_rowdel && (!has || f->rowdel > D)) {
                D = f->rowdel;
                has = 1;
            }
        }
        if ((k.kind == BS__K_ROW || k.kind == BS__K_STATIC) && k.slot == BS__S_COL &&
            k.csub == BS__C_ELEM && f->has_ct && (!has || f->ct > D)) {
            D = f->ct;
            has = 1;
        }
        if (has && c.ts <= D) return 1;
    }

    /* 2. Expired TTL -> tombstone. */
    if ((c.flags & BS__CELL_EXP) && (int64_t)c.ldt <= f->now) {
        bs_buf_reset(&f->out);
        if (bs__cell_encode(&f->out, key, klen, BS__CELL_TOMB, c.ts, 0, c.ldt, NULL, 0)) return 0;
        c.flags = BS__CELL_TOMB;
        c.ttl = 0;
        c.val_len = 0;
        *new_value = (char *)f->out.data;
        *new_len = f->out.len;
        *changed = 1;
    }
    if (!(c.flags & BS__CELL_TOMB)) return 0;

    /* Remember cross-key deletions. */
    int cross = 0;
    if (k.kind == BS__K_PDEL) {
        cross = 1;
        f->has_pdel = 1;
        f->pdel = c.ts;
    } else if (k.kind == BS__K_RT) {
        cross = 1;
        if (f->nrts < MAX_RTS) {
            gc_rt *r = &f->rts[f->nrts];
            r->kbytes = malloc(klen);
            if (r->kbytes) {
                memcpy(r->kbytes, key, klen);
                bs__key_parse(r->kbytes, klen, &r->k);
                r->ts = c.ts;
                f->nrts++;
            }
        }
    } else if (k.slot == BS__S_ROWDEL) {
        cross = 1;
        f->has_rowdel = 1;
        f->rowdel = c.ts;
    } else if (k.slot == BS__S_COL && k.csub == BS__C_CTOMB) {
        cross = 1;
        f->has_ct = 1;
        f->ct = c.ts;
    }

    /* 3./4. Purge. */
    if ((int64_t)c.ldt >= f->gc_before) return 0;
    if (!cross) return 1;
    if (covered_range(f, kb, &k)) return 0;
    return covered_exists(f, c.ts) ? 0 : 1;
}

static rocksdb_compactionfilter_t *factory_create(void *st, rocksdb_compactionfiltercontext_t *ctx) {
    (void)ctx;
    bs__gctab *tab = st;
    gcf *f = calloc(1, sizeof *f);
    if (!f) return NULL;
    f->tab = tab;
    f->now = bs_clock_now_s(tab->clock);
    f->gc_before = f->now - atomic_load(&tab->gc_grace_s);
    bs_buf_init(&f->pp);
    bs_buf_init(&f->row);
    bs_buf_init(&f->out);
    bs_buf_init(&f->lo);
    bs_buf_init(&f->hi);
    rocksdb_compactionfilter_t *cf = rocksdb_compactionfilter_create(f, gcf_destroy, gcf_filter, gcf_name);
    rocksdb_compactionfilter_set_ignore_snapshots(cf, 1);
    return cf;
}

static void factory_destroy(void *st) { free(st); }

static const char *factory_name(void *st) {
    (void)st;
    return "basalt.gc.factory.v1";
}

rocksdb_compactionfilterfactory_t *bs__gc_factory_create(bs__gctab *gc) {
    return rocksdb_compactionfilterfactory_create(gc, factory_destroy, factory_create, factory_name);
}
