/*
 * store.c - opening the RocksDB instance, tables as column families,
 * mutation batches, durability, and maintenance (flush, compact, truncate,
 * sizes).  Reads live in read.c, the TTL/tombstone GC in gc.c.
 *
 * Ownership (RocksDB C API rules, see include/rocksdb/c.h):
 *   - each table CF gets its own rocksdb_options_t built by
 *     bs__table_cf_options(); the options take ownership of the merge
 *     operator and of the compaction filter factory, and the factory owns
 *     the table's bs__gctab.  We destroy our options object right after the
 *     CF is opened/created; RocksDB keeps its own references, so gctab lives
 *     until the CF is gone for good (DB close).
 *   - column family handles (also of dropped tables) are destroyed just
 *     before rocksdb_close; a dropped table's bs_table stays allocated
 *     (flag `dropped`) so stale handles held by callers never dangle.
 *
 * Durability:
 *   PERIODIC - writes with sync=0 (the WAL record reaches the OS at once, so
 *              a process crash loses nothing); the housekeeping thread
 *              (store_bg.c) calls rocksdb_flush_wal(sync=1) every
 *              periodic_sync_ms.
 *              The WAL is in manual-flush mode: bs_store_write flushes
 *              RocksDB's WAL buffer to the OS itself, unless the thread is
 *              inside a bs_store_defer scope, whose commit flushes once for
 *              all its writes (the CQL loop's pipelined requests).
 *   BATCH    - writes with sync=1; RocksDB's write thread groups concurrent
 *              writers and the group leader issues one fsync for all of them
 *              (group commit), so each ack follows an fsync of its record.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>

#include "common/error.h"
#include "common/log.h"
#include "storage/rocks_shim.h"
#include "storage/store_int.h"
#include "storage/keycodec.h"

static int wal_to_os(bs_store *s);

/* ------------------------------------------------------------------ */
/* Errors                                                              */
/* ------------------------------------------------------------------ */

static _Thread_local char g_errmsg[512];

const char *bs_store_errmsg(void) { return g_errmsg; }

int bs__seterr(int err, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_errmsg, sizeof g_errmsg, fmt, ap);
    va_end(ap);
    return err;
}

int bs__rocks_err(char *errptr, const char *what, const char *table) {
    bs__seterr(BS_EIO, "%s%s%s: %s", table ? "table " : "", table ? table : "", what,
               errptr ? errptr : "?");
    BS_WARN("storage", "%s", g_errmsg);
    rocksdb_free(errptr);
    return BS_EIO;
}

int bs__corrupt(const char *table, const void *key, size_t klen, const char *what) {
    char hex[160];
    bs__hex(key, klen, hex, sizeof hex);
    bs__seterr(BS_ECORRUPT, "table %s: %s at key 0x%s", table, what, hex);
    BS_ERROR("storage", "%s", g_errmsg);
    return BS_ECORRUPT;
}

/* ------------------------------------------------------------------ */
/* Options                                                             */
/* ------------------------------------------------------------------ */

void bs_store_opts_default(bs_store_opts *o) {
    memset(o, 0, sizeof *o);
    o->durability = BS_DURABILITY_PERIODIC;
    o->periodic_sync_ms = 10000;
    o->block_cache_mb = 64;
    o->write_buffer_mb = 64;
    o->create_if_missing = 1;
}

void bs_table_opts_default(bs_table_opts *o) {
    memset(o, 0, sizeof *o);
    o->gc_grace_seconds = 864000;
}

/* Prefix extractor: partition prefix + kind byte (token|P|pk|kind), so a
 * point read's probes for a partition deletion / range tombstones that do
 * not exist are answered by bloom filters (memtable and SST) instead of
 * real seeks.  Every iterator that crosses prefixes sets total_order_seek.
 * The C wrapper calls the destructor unconditionally. */
static char *pfx_transform(void *st, const char *key, size_t len, size_t *dst) {
    (void)st;
    size_t p = len >= 10 ? 11 + (size_t)bs_get_u16((const uint8_t *)key + 8) : len;
    *dst = p <= len ? p : len;
    return (char *)key;
}
static unsigned char pfx_in_domain(void *st, const char *key, size_t len) {
    (void)st;
    return len >= 11 && len >= 11 + (size_t)bs_get_u16((const uint8_t *)key + 8);
}
static unsigned char pfx_in_range(void *st, const char *key, size_t len) {
    (void)st;
    (void)key;
    (void)len;
    return 0;
}
static const char *pfx_name(void *st) {
    (void)st;
    return "basalt.partition_kind_prefix.v1";
}
static void pfx_destroy(void *st) { (void)st; }

static void set_common(bs_store *s, rocksdb_options_t *o) {
    rocksdb_options_set_prefix_extractor(
        o, rocksdb_slicetransform_create(NULL, pfx_destroy, pfx_transform, pfx_in_domain, pfx_in_range, pfx_name));
    /* A memtable's prefix bloom is allocated and zeroed when the memtable
     * is made, on the writing thread, at each memtable switch: at 5 % of
     * 64 MiB that was 3.2 MiB of page faults and memset, ~1.6 ms during
     * which no write went on.  2 % halves that; 1 % cost ~13 % of point
     * read throughput (a memtable holds ~500 k prefixes of 100-byte rows,
     * too many for 5 Mbit), 2 % did not (docs/BENCHMARKS.md). */
    rocksdb_options_set_memtable_prefix_bloom_size_ratio(o, 0.02);
    rocksdb_block_based_table_options_t *bb = rocksdb_block_based_options_create();
    rocksdb_block_based_options_set_block_cache(bb, s->cache);
    rocksdb_block_based_options_set_filter_policy(bb, rocksdb_filterpolicy_create_bloom_full(10));
    if (!s->opts.index_filter_outside_cache) {
        rocksdb_block_based_options_set_cache_index_and_filter_blocks(bb, 1);
        rocksdb_block_based_options_set_cache_index_and_filter_blocks_with_high_priority(bb, 1);
        rocksdb_block_based_options_set_pin_l0_filter_and_index_blocks_in_cache(bb, 1);
    }
    rocksdb_options_set_block_based_table_factory(o, bb);
    rocksdb_block_based_options_destroy(bb);
    /* No compression in L0 and L1 (RocksDB's tuning advice): that data is
     * rewritten soon, and while it lives, reads that miss the block cache
     * skip the decompression.  LZ4 from L2 down, where most data ends up. */
    int comp[7] = {rocksdb_no_compression, rocksdb_no_compression, rocksdb_lz4_compression,
                   rocksdb_lz4_compression, rocksdb_lz4_compression, rocksdb_lz4_compression,
                   rocksdb_lz4_compression};
    rocksdb_options_set_compression_per_level(o, comp, 7);
    rocksdb_options_set_write_buffer_size(o, s->opts.write_buffer_mb << 20);
    rocksdb_options_set_disable_auto_compactions(o, s->opts.disable_auto_compactions ? 1 : 0);
    /* One filter instance must see a whole partition in key order (gc.c). */
    rocksdb_options_set_max_subcompactions(o, 1);
}

rocksdb_options_t *bs__table_cf_options(bs_store *s, bs__gctab *gc) {
    rocksdb_options_t *o = rocksdb_options_create();
    set_common(s, o);
    rocksdb_options_set_merge_operator(o, bs__merge_operator_create());
    rocksdb_options_set_compaction_filter_factory(o, bs__gc_factory_create(gc));
    return o;
}

rocksdb_options_t *bs__table_sst_options(bs_store *s) {
    rocksdb_options_t *o = rocksdb_options_create();
    set_common(s, o);
    rocksdb_options_set_merge_operator(o, bs__merge_operator_create());
    return o;
}

static bs_table *table_new(bs_store *s, const char *name, bs__gctab **gc_out) {
    bs_table *t = calloc(1, sizeof *t);
    bs__gctab *gc = calloc(1, sizeof *gc);
    char *nm = strdup(name);
    if (!t || !gc || !nm) {
        free(t);
        free(gc);
        free(nm);
        return NULL;
    }
    t->store = s;
    t->name = nm;
    t->gc = gc;
    atomic_store(&gc->gc_grace_s, 864000);
    gc->clock = s->clock;
    snprintf(gc->name, sizeof gc->name, "%s", name);
    *gc_out = gc;
    return t;
}

static void table_free(bs_table *t) {
    if (!t) return;
    free(t->name);
    free(t);
}

/* ------------------------------------------------------------------ */
/* Open / close                                                        */
/* ------------------------------------------------------------------ */

/* ------------------------------------------------------------------ */
/* Write failures and recovery (issue 19 finding 4)                    */
/* ------------------------------------------------------------------ */

/* After a failed write: no WAL flush until a write succeeds again. */
static int write_failed(bs_store *s, char *errptr, const char *what) {
    /* logged once per episode (below), not once per refused write */
    int rc = bs__seterr(BS_EIO, "%s: %s", what, errptr ? errptr : "?");
    rocksdb_free(errptr);
    if (!atomic_exchange(&s->wal_failed, 1))
        BS_ERROR("storage", "writes are failing (%s); reads go on; writes resume by "
                 "themselves once the cause (e.g. a full disk) is gone",
                 bs_store_errmsg());
    return rc;
}

/*
 * While writes are failing: DB::Resume() at most once a second, before a
 * write.  RocksDB recovers by itself only from ENOSPC (its SstFileManager
 * polls for free space); after any other error (EIO, a read-only file
 * system) its background error stops every write until Resume() or a
 * restart.  Resume() fails harmlessly while the cause persists (logged
 * once); once it succeeds the next write goes through and write_ok logs
 * the recovery.
 */
static void maybe_resume(bs_store *s) {
    if (!atomic_load_explicit(&s->wal_failed, memory_order_relaxed)) return;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t now = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
    int64_t last = atomic_load(&s->resume_at);
    if (now - last < 1000000000 || !atomic_compare_exchange_strong(&s->resume_at, &last, now))
        return;
    char why[256];
    if (bs__rocks_resume(s->db, why, sizeof why) == 0) {
        BS_INFO("storage", "RocksDB resumed writes after its error");
        return;
    }
    if (!atomic_exchange(&s->resume_logged, 1))
        BS_WARN("storage", "RocksDB cannot resume writes yet (%s); retrying every second", why);
}

/* After a successful write. */
static void write_ok(bs_store *s) {
    if (atomic_load_explicit(&s->wal_failed, memory_order_relaxed) &&
        atomic_exchange(&s->wal_failed, 0)) {
        atomic_store(&s->resume_logged, 0);
        BS_INFO("storage", "writes resumed: the store has recovered from its write error");
    }
}

/*
 * The free-space guard: RocksDB 7.8 meeting ENOSPC in its WAL writer can
 * abort the process (an assertion in WritableFileWriter, kept in Debian's
 * build), so with min_free_bytes set a write is refused before the disk
 * is full.  statvfs runs every 256 KiB written, and at every write while
 * space is low, so writes resume as soon as space returns.  0 or BS_EIO.
 */
#define STATVFS_EVERY (256u * 1024u)
static int space_check(bs_store *s, size_t bytes) {
    uint64_t lim = s->opts.min_free_bytes;
    if (!lim) return 0;
    uint64_t n = atomic_fetch_add(&s->since_statvfs, bytes) + bytes;
    int low = atomic_load(&s->space_low);
    if (n >= STATVFS_EVERY || low) {
        atomic_store(&s->since_statvfs, 0);
        struct statvfs sv;
        if (statvfs(s->dir, &sv) == 0) {
            uint64_t avail = (uint64_t)sv.f_bavail * sv.f_frsize;
            int now_low = avail < lim;
            if (now_low != low && atomic_exchange(&s->space_low, now_low) != now_low) {
                if (now_low)
                    BS_ERROR("storage", "No space left on device: %s has %llu bytes free, less "
                             "than min_free_space (%llu): writes are refused, reads go on",
                             s->dir, (unsigned long long)avail, (unsigned long long)lim);
                else
                    BS_INFO("storage", "free space is back on %s (%llu bytes): writes resumed",
                            s->dir, (unsigned long long)avail);
            }
            low = now_low;
        }
    }
    if (!low) return 0;
    return bs__seterr(BS_EIO, "No space left on device: the data directory %s has less free "
                      "space than min_free_space (%llu bytes); write refused",
                      s->dir, (unsigned long long)lim);
}

/* rocksdb_flush_wal unless a write failed since the last good one. */
static int wal_flush(bs_store *s, int sync, const char *what) {
    if (atomic_load(&s->wal_failed))
        return bs__seterr(BS_EIO, "%s: skipped, the write-ahead log failed earlier and the "
                          "store has not recovered yet", what);
    char *err = NULL;
    rocksdb_flush_wal(s->db, (unsigned char)sync, &err);
    return err ? write_failed(s, err, what) : 0;
}

int bs_store_sync(bs_store *s) { return wal_flush(s, 1, "WAL sync"); }

/* The LRU block cache.  RocksDB's default sharding (capacity / 512 KiB
 * shards, at most 64) gives a 64 MiB cache 1 MiB shards, and an entry
 * larger than its shard is evicted as soon as it is released: the index
 * block of a 64 MiB SST (~1.4 MiB) was then read from the file again by
 * every new iterator (a one-partition time-series read spent a third of
 * its time in that pread).  Shards of at least 16 MiB keep such blocks. */
static rocksdb_cache_t *block_cache(size_t mb) {
    int bits = 0;
    while (bits < 6 && (mb >> (bits + 1)) >= 16) bits++;
    rocksdb_lru_cache_options_t *lo = rocksdb_lru_cache_options_create();
    rocksdb_lru_cache_options_set_capacity(lo, mb << 20);
    rocksdb_lru_cache_options_set_num_shard_bits(lo, bits);
    rocksdb_cache_t *c = rocksdb_cache_create_lru_opts(lo);
    rocksdb_lru_cache_options_destroy(lo);
    return c;
}

/* Fills s->opts (defaults for zero fields), the mutexes and the RocksDB
 * database and write options. */
static void store_options(bs_store *s, const bs_store_opts *opts) {
    if (opts) s->opts = *opts;
    else bs_store_opts_default(&s->opts);
    if (s->opts.periodic_sync_ms == 0) s->opts.periodic_sync_ms = 10000;
    if (s->opts.block_cache_mb == 0) s->opts.block_cache_mb = 64;
    if (s->opts.write_buffer_mb == 0) s->opts.write_buffer_mb = 64;
    s->clock = s->opts.clock;
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->sync_mu, NULL);
    pthread_mutex_init(&s->commit_mu, NULL);
    pthread_cond_init(&s->sync_cv, NULL);
    s->cache = block_cache(s->opts.block_cache_mb);
    s->dbopts = rocksdb_options_create();
    set_common(s, s->dbopts);
    rocksdb_options_set_create_if_missing(s->dbopts, s->opts.create_if_missing ? 1 : 0);
    rocksdb_options_set_create_missing_column_families(s->dbopts, 1);
    rocksdb_options_set_max_background_jobs(s->dbopts, 2);
    /* RocksDB's own LOG: INFO (flushes, compactions, stalls).  Debian's
     * library defaults to DEBUG, which writes a line for every WAL flush -
     * one per request pass, ~20 MB per 12 s of writes and CPU on the hot
     * path.  Size-bounded and rotated, so a long-lived node's data
     * directory does not fill with logs. */
    rocksdb_options_set_info_log_level(s->dbopts, 1 /* INFO_LEVEL */);
    s->wopts = rocksdb_writeoptions_create();
#ifndef BS_BREAK_BATCH_FSYNC
    rocksdb_writeoptions_set_sync(s->wopts, s->opts.durability == BS_DURABILITY_BATCH);
#else
    /* Only in a build configured with -DBASALT_BREAK_BATCH_FSYNC=ON (never
     * the default): batch mode acknowledges without the fsync, so
     * tests/powerloss can show that it catches a missing fsync. */
    rocksdb_writeoptions_set_sync(s->wopts, 0);
    if (s->opts.durability == BS_DURABILITY_BATCH)
        BS_WARN("storage", "BROKEN BUILD (BASALT_BREAK_BATCH_FSYNC): batch mode does not fsync");
#endif
    s->manual_wal = s->opts.durability == BS_DURABILITY_PERIODIC;
    rocksdb_options_set_manual_wal_flush(s->dbopts, s->manual_wal);
}

/* Which header record kinds (BS__HDR_*) table t may hold, from the hint
 * keys in the default column family; an unreadable hint counts as set. */
static void load_header_hints(bs_store *s, bs_table *t, rocksdb_readoptions_t *hro) {
    char *err = NULL;
    for (int bit = 1; bit <= BS__HDR_STATIC; bit <<= 1) {
        char hk[256];
        size_t hkl = bs__hdr_key(t->name, bit, hk, sizeof hk), hvl = 0;
        char *hv = rocksdb_get_cf(s->db, hro, s->default_cf, hk, hkl, &hvl, &err);
        if (err) { /* unreadable hint: assume such records exist */
            bs__rocks_err(err, "read header hint", t->name);
            err = NULL;
            hv = NULL;
            atomic_fetch_or(&t->hdr, bit);
        }
        if (hv) {
            atomic_fetch_or(&t->hdr, bit);
            atomic_fetch_or(&t->hdr_logged, bit);
            rocksdb_free(hv);
        }
    }
}

/* RocksDB's WARN and above, into Basalt's log. */
static void rocks_log(int level, const char *msg) {
    /* said of every ingested SST file (SstFileWriter files carry none) */
    if (strstr(msg, "opened without unique ID to verify")) return;
    if (level >= 3) BS_ERROR("rocksdb", "%s", msg);
    else BS_WARN("rocksdb", "%s", msg);
}

int bs_store_open(const char *dir, const bs_store_opts *opts, bs_store **out) {
    *out = NULL;
    bs_store *s = calloc(1, sizeof *s);
    if (!s) return BS_ENOMEM;
    store_options(s, opts);
    snprintf(s->dir, sizeof s->dir, "%s", dir);
    bs__ingest_cleanup(dir);
    /* RocksDB's LOG through a writer that survives a failing disk (see
     * rocks_shim.cc: the default one aborts the process) */
    bs__rocks_set_logger(s->dbopts, dir, 1 /* INFO */, rocks_log);
    atomic_store(&s->since_statvfs, UINT64_MAX / 2); /* check at the first write */

    /* Existing column families. */
    char *err = NULL;
    size_t ncf = 0;
    char **names = rocksdb_list_column_families(s->dbopts, dir, &ncf, &err);
    if (err) { /* no database yet; the (empty) list is allocated anyway */
        rocksdb_free(err);
        err = NULL;
        if (names) rocksdb_list_column_families_destroy(names, ncf);
        names = NULL;
        ncf = 0;
    }
    size_t n = 1 + ncf;
    const char **cfn = calloc(n, sizeof *cfn);
    const rocksdb_options_t **cfo = calloc(n, sizeof *cfo);
    rocksdb_column_family_handle_t **cfh = calloc(n, sizeof *cfh);
    bs_table **tabs = calloc(n, sizeof *tabs);
    int rc = 0;
    size_t k = 0;
    if (!cfn || !cfo || !cfh || !tabs) {
        rc = BS_ENOMEM;
        goto out;
    }
    cfn[k] = "default";
    cfo[k++] = s->dbopts;
    for (size_t i = 0; i < ncf; i++) {
        if (strcmp(names[i], "default") == 0) continue;
        bs__gctab *gc;
        bs_table *t = table_new(s, names[i], &gc);
        if (!t) {
            rc = BS_ENOMEM;
            goto out;
        }
        tabs[k] = t;
        cfn[k] = t->name;
        cfo[k++] = bs__table_cf_options(s, gc); /* gc now owned by the factory */
    }
    s->db = rocksdb_open_column_families(s->dbopts, dir, (int)k, cfn, cfo, cfh, &err);
    if (err) {
        rc = bs__rocks_err(err, "open", NULL);
        s->db = NULL;
        goto out;
    }
    s->default_cf = cfh[0];
    rocksdb_readoptions_t *hro = rocksdb_readoptions_create();
    for (size_t i = 1; i < k; i++) {
        bs_table *t = tabs[i];
        t->cf = cfh[i];
        load_header_hints(s, t, hro);
        t->next = s->tables;
        s->tables = t;
        tabs[i] = NULL;
    }
    rocksdb_readoptions_destroy(hro);
    if (bs__keeper_start(s) != 0) {
        rc = bs__seterr(BS_ENOMEM, "cannot start the store's housekeeping thread");
        goto out;
    }
out:
    for (size_t i = 1; i < k; i++) {
        if (cfo && cfo[i]) rocksdb_options_destroy((rocksdb_options_t *)cfo[i]);
        if (tabs && tabs[i]) table_free(tabs[i]);
    }
    if (names) rocksdb_list_column_families_destroy(names, ncf);
    free(cfn);
    free(cfo);
    free(cfh);
    free(tabs);
    if (rc) {
        bs_store_close(s);
        return rc;
    }
    *out = s;
    return 0;
}

void bs_store_close(bs_store *s) {
    if (!s) return;
    bs__keeper_stop(s);
    if (s->db) {
        wal_flush(s, 1, "WAL sync at close");
    }
    for (bs_table *t = s->tables; t; t = t->next) {
        if (t->cf) rocksdb_column_family_handle_destroy(t->cf);
        t->cf = NULL;
    }
    if (s->default_cf) rocksdb_column_family_handle_destroy(s->default_cf);
    if (s->db) rocksdb_close(s->db);
    for (bs_table *t = s->tables, *nx; t; t = nx) {
        nx = t->next;
        table_free(t);
    }
    if (s->dbopts) rocksdb_options_destroy(s->dbopts);
    if (s->wopts) rocksdb_writeoptions_destroy(s->wopts);
    if (s->cache) rocksdb_cache_destroy(s->cache);
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->sync_mu);
    pthread_mutex_destroy(&s->commit_mu);
    pthread_cond_destroy(&s->sync_cv);
    free(s);
}

/* ------------------------------------------------------------------ */
/* Tables                                                              */
/* ------------------------------------------------------------------ */

static bs_table *find_live(bs_store *s, const char *name) {
    for (bs_table *t = s->tables; t; t = t->next)
        if (!atomic_load(&t->dropped) && strcmp(t->name, name) == 0) return t;
    return NULL;
}

static int check_table_opts(const bs_table_opts *o) {
    if (o && o->gc_grace_seconds < 0) return bs__seterr(BS_EINVAL, "gc_grace_seconds < 0");
    return 0;
}

/* Applies o->max_successive_merges to t's column family (a mutable
 * RocksDB option; memtables made from now on) when it changes.  0 or a
 * store error. */
static int set_merges(bs_store *s, bs_table *t, const bs_table_opts *o) {
    uint32_t v = o ? o->max_successive_merges : 0;
    if (atomic_exchange(&t->max_merges, v) == v) return 0;
    char val[16];
    snprintf(val, sizeof val, "%u", v);
    const char *k[1] = {"max_successive_merges"}, *vv[1] = {val};
    char *err = NULL;
    rocksdb_set_options_cf(s->db, t->cf, 1, k, vv, &err);
    return err ? bs__rocks_err(err, "set options", t->name) : 0;
}

int bs_store_table_open(bs_store *s, const char *name, const bs_table_opts *o, bs_table **out) {
    *out = NULL;
    size_t nl = name ? strlen(name) : 0;
    if (nl == 0 || nl > 200) return bs__seterr(BS_EINVAL, "table name must be 1..200 bytes");
    if (strcmp(name, "default") == 0) return bs__seterr(BS_EINVAL, "table name 'default' is reserved");
    int rc = check_table_opts(o);
    if (rc) return rc;
    pthread_mutex_lock(&s->mu);
    bs_table *t = find_live(s, name);
    if (!t) {
        bs__gctab *gc;
        t = table_new(s, name, &gc);
        if (!t) {
            pthread_mutex_unlock(&s->mu);
            return BS_ENOMEM;
        }
        if (o) atomic_store(&gc->gc_grace_s, o->gc_grace_seconds);
        rocksdb_options_t *co = bs__table_cf_options(s, gc);
        /* at creation: a memtable keeps the options it was made with, so
         * set_merges below reaches only the memtables after a flush */
        if (o && o->max_successive_merges) {
            rocksdb_options_set_max_successive_merges(co, o->max_successive_merges);
            atomic_store(&t->max_merges, o->max_successive_merges);
        }
        char *err = NULL;
        t->cf = rocksdb_create_column_family(s->db, co, name, &err);
        rocksdb_options_destroy(co);
        if (err) {
            table_free(t);
            pthread_mutex_unlock(&s->mu);
            return bs__rocks_err(err, "create column family", name);
        }
        atomic_store(&gc->cf, t->cf);
        atomic_store(&gc->db, s->db);
        t->next = s->tables;
        s->tables = t;
    } else if (o) {
        atomic_store(&t->gc->gc_grace_s, o->gc_grace_seconds);
    }
    rc = o ? set_merges(s, t, o) : 0;
    pthread_mutex_unlock(&s->mu);
    *out = t;
    return rc;
}

int bs_store_table_get(bs_store *s, const char *name, bs_table **out) {
    pthread_mutex_lock(&s->mu);
    bs_table *t = find_live(s, name);
    pthread_mutex_unlock(&s->mu);
    *out = t;
    return t ? 0 : bs__seterr(BS_ENOTFOUND, "no table %s", name);
}

int bs_table_set_opts(bs_table *t, const bs_table_opts *o) {
    int rc = check_table_opts(o);
    if (rc) return rc;
    if (atomic_load(&t->dropped)) return bs__seterr(BS_ENOTFOUND, "table %s was dropped", t->name);
    atomic_store(&t->gc->gc_grace_s, o->gc_grace_seconds);
    return set_merges(t->store, t, o);
}

const char *bs_table_name(const bs_table *t) { return t->name; }

int bs_store_table_drop(bs_store *s, const char *name) {
    pthread_mutex_lock(&s->mu);
    bs_table *t = find_live(s, name);
    if (!t) {
        pthread_mutex_unlock(&s->mu);
        return bs__seterr(BS_ENOTFOUND, "no table %s", name);
    }
    char *err = NULL;
    rocksdb_drop_column_family(s->db, t->cf, &err);
    if (err) {
        pthread_mutex_unlock(&s->mu);
        return bs__rocks_err(err, "drop column family", name);
    }
    atomic_store(&t->dropped, 1);
    pthread_mutex_unlock(&s->mu);
    /* The data are gone; the hint goes too (if this fails or we crash
     * first, a new table of that name only pays for needless probes). */
    for (int bit = 1; bit <= BS__HDR_STATIC; bit <<= 1) {
        char hk[256];
        size_t hkl = bs__hdr_key(name, bit, hk, sizeof hk);
        rocksdb_delete_cf(s->db, s->wopts, s->default_cf, hk, hkl, &err);
        if (err) bs__rocks_err(err, "delete header hint", name);
        err = NULL;
    }
    return 0;
}

int bs_store_table_list(bs_store *s, int (*cb)(void *ud, const char *name), void *ud) {
    pthread_mutex_lock(&s->mu);
    int rc = 0;
    for (bs_table *t = s->tables; t && !rc; t = t->next)
        if (!atomic_load(&t->dropped)) rc = cb(ud, t->name);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static int live_check(bs_table *t) {
    if (atomic_load(&t->dropped)) return bs__seterr(BS_ENOTFOUND, "table %s was dropped", t->name);
    return 0;
}

int bs_store_truncate(bs_table *t) {
    int rc = live_check(t);
    if (rc) return rc;
    bs_store *s = t->store;
    static const char lo[1] = {0};
    static const char hi[8] = {'\xff', '\xff', '\xff', '\xff', '\xff', '\xff', '\xff', '\xff'};
    rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
    /* [00, ff*8) holds every token but INT64_MAX; keys of that token (a
     * prefix ff*8 that no finite bound can close) are deleted one by one. */
    rocksdb_writebatch_delete_range_cf(wb, t->cf, lo, 0, hi, sizeof hi);
    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
    rocksdb_readoptions_set_total_order_seek(ro, 1);
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(s->db, ro, t->cf);
    for (rocksdb_iter_seek(it, hi, sizeof hi); rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t kl;
        const char *k = rocksdb_iter_key(it, &kl);
        rocksdb_writebatch_delete_cf(wb, t->cf, k, kl);
    }
    char *err = NULL;
    rocksdb_iter_get_error(it, &err);
    rocksdb_iter_destroy(it);
    rocksdb_readoptions_destroy(ro);
    int iter_err = err != NULL;
    if (!err) rocksdb_write(s->db, s->wopts, wb, &err);
    rocksdb_writebatch_destroy(wb);
    if (err && iter_err) return bs__rocks_err(err, "truncate", t->name);
    if (err) return write_failed(s, err, "truncate");
    write_ok(s);
    return s->manual_wal ? wal_to_os(s) : 0;
}

/* Adds to wb the deletion of every key whose token is in [lo, hi]
 * (lo <= hi).  hi == INT64_MAX: a prefix ff*8 no finite bound closes, so
 * those keys are deleted one by one (as truncate does). */
static int delete_token_span(bs_table *t, rocksdb_writebatch_t *wb, int64_t lo, int64_t hi) {
    uint8_t a[8], b[8];
    bs_keycodec_put_token(a, lo);
    if (hi < INT64_MAX) {
        bs_keycodec_put_token(b, hi + 1);
        rocksdb_writebatch_delete_range_cf(wb, t->cf, (const char *)a, 8, (const char *)b, 8);
        return 0;
    }
    memset(b, 0xff, 8);
    rocksdb_writebatch_delete_range_cf(wb, t->cf, (const char *)a, 8, (const char *)b, 8);
    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
    rocksdb_readoptions_set_total_order_seek(ro, 1);
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(t->store->db, ro, t->cf);
    for (rocksdb_iter_seek(it, (const char *)b, 8); rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t kl;
        const char *k = rocksdb_iter_key(it, &kl);
        rocksdb_writebatch_delete_cf(wb, t->cf, k, kl);
    }
    char *err = NULL;
    rocksdb_iter_get_error(it, &err);
    rocksdb_iter_destroy(it);
    rocksdb_readoptions_destroy(ro);
    return err ? bs__rocks_err(err, "cleanup", t->name) : 0;
}

int bs_store_delete_tokens(bs_table *t, int64_t start_excl, int64_t end_incl) {
    int rc = live_check(t);
    if (rc) return rc;
    bs_store *s = t->store;
    rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
    if (start_excl < end_incl) {
        rc = delete_token_span(t, wb, start_excl + 1, end_incl);
    } else { /* wraps (or the whole ring): (start, max] and [min, end] */
        if (start_excl < INT64_MAX) rc = delete_token_span(t, wb, start_excl + 1, INT64_MAX);
        if (!rc) rc = delete_token_span(t, wb, INT64_MIN, end_incl);
    }
    char *err = NULL;
    if (!rc) rocksdb_write(s->db, s->wopts, wb, &err);
    rocksdb_writebatch_destroy(wb);
    if (rc) return rc;
    if (err) return write_failed(s, err, "cleanup");
    write_ok(s);
    return s->manual_wal ? wal_to_os(s) : 0;
}

/* ------------------------------------------------------------------ */
/* Batches                                                             */
/* ------------------------------------------------------------------ */

int bs_batch_new(bs_store *s, bs_batch **out) {
    bs_batch *b = calloc(1, sizeof *b);
    if (!b) return BS_ENOMEM;
    b->store = s;
    b->wb = rocksdb_writebatch_create();
    b->now_s = bs_clock_now_s(s->clock);
    bs_buf_init(&b->key);
    bs_buf_init(&b->val);
    *out = b;
    return 0;
}

void bs_batch_free(bs_batch *b) {
    if (!b) return;
    rocksdb_writebatch_destroy(b->wb);
    bs_buf_free(&b->key);
    bs_buf_free(&b->val);
    free(b->hdr_tabs);
    free(b);
}

void bs_batch_set_now(bs_batch *b, int64_t now_s) { b->now_s = now_s; }

void bs_batch_clear(bs_batch *b) {
    rocksdb_writebatch_clear(b->wb);
    b->poisoned = 0;
    b->nhdr = 0;
}

size_t bs_batch_count(const bs_batch *b) {
    return (size_t)rocksdb_writebatch_count(b->wb);
}

static int poison(bs_batch *b, int rc) {
    b->poisoned = 1;
    return rc;
}

static int batch_begin(bs_batch *b, bs_table *t) {
    if (b->poisoned) return BS_EPOISONED;
    if (!t || t->store != b->store) return poison(b, bs__seterr(BS_EINVAL, "table of another store"));
    int rc = live_check(t);
    if (rc) return poison(b, rc);
    bs_buf_reset(&b->key);
    bs_buf_reset(&b->val);
    return 0;
}

/* Encodes the cell for the key in b->key and adds the merge operand. */
static int batch_cell(bs_batch *b, bs_table *t, uint8_t flags, int64_t ts, int32_t ttl,
                      const void *val, size_t vlen) {
    uint32_t ldt = BS__NO_LDT;
    if (ttl < 0 || ttl > BS__MAX_TTL) return poison(b, bs__seterr(BS_ERANGE, "ttl %d out of range", (int)ttl));
    if (flags & BS__CELL_TOMB) {
        if (b->now_s < 0 || b->now_s >= (int64_t)BS__NO_LDT) return poison(b, bs__seterr(BS_ERANGE, "now out of range"));
        ldt = (uint32_t)b->now_s;
        ttl = 0;
    } else if (ttl > 0) {
        int64_t exp = b->now_s + ttl;
        if (b->now_s < 0 || exp >= (int64_t)BS__NO_LDT) return poison(b, bs__seterr(BS_ERANGE, "expiry time out of range"));
        flags |= BS__CELL_EXP;
        ldt = (uint32_t)exp;
    }
    if (vlen > (1u << 30)) return poison(b, bs__seterr(BS_ETOOBIG, "value of %zu bytes", vlen));
    if (bs__cell_encode(&b->val, b->key.data, b->key.len, flags, ts, ttl, ldt, val, vlen))
        return poison(b, BS_ENOMEM);
    rocksdb_writebatch_merge_cf(b->wb, t->cf, (const char *)b->key.data, b->key.len,
                                (const char *)b->val.data, b->val.len);
    return 0;
}

size_t bs__hdr_key(const char *table, int bit, char *buf, size_t bufsz) {
    int n = snprintf(buf, bufsz, "basalt/hdr/%c/%s", bit == BS__HDR_PDEL ? 'p' : bit == BS__HDR_RT ? 'r' : 's', table);
    return n < 0 ? 0 : (size_t)n < bufsz ? (size_t)n : bufsz - 1;
}

/* The batch is about to receive a record of header kind `bit` for t:
 * raise the table's hint bit now (before the write, see store_int.h) and,
 * until a batch carrying it has been written, add its persisted key to
 * this batch (once per table and bit). */
static int hdr_note(bs_batch *b, bs_table *t, int bit) {
    if (!(atomic_load(&t->hdr) & bit)) atomic_fetch_or(&t->hdr, bit);
    if (atomic_load(&t->hdr_logged) & bit) return 0;
    for (size_t i = 0; i < b->nhdr; i++)
        if (b->hdr_tabs[i].t == t && b->hdr_tabs[i].bit == bit) return 0;
    if (b->nhdr == b->cap_hdr) {
        size_t nc = b->cap_hdr ? b->cap_hdr * 2 : 4;
        struct bs__hdr_ent *np = realloc(b->hdr_tabs, nc * sizeof *np);
        if (!np) return poison(b, BS_ENOMEM);
        b->hdr_tabs = np;
        b->cap_hdr = nc;
    }
    b->hdr_tabs[b->nhdr].t = t;
    b->hdr_tabs[b->nhdr++].bit = bit;
    char hk[256];
    size_t hkl = bs__hdr_key(t->name, bit, hk, sizeof hk);
    rocksdb_writebatch_put_cf(b->wb, b->store->default_cf, hk, hkl, "1", 1);
    return 0;
}

static int row_check(bs_batch *b, const bs_rowkey *row) {
    if (!row || (row->pk_len && !row->pk) || (!row->is_static && row->ck_len && !row->ck))
        return poison(b, bs__seterr(BS_EINVAL, "bad row key"));
    return 0;
}

int bs_batch_put_cell(bs_batch *b, bs_table *t, const bs_rowkey *row, uint16_t col,
                      const void *elem, size_t elem_len, const void *val, size_t val_len,
                      int64_t ts, int32_t ttl) {
    int rc = batch_begin(b, t);
    if (!rc) rc = row_check(b, row);
    if (rc) return rc;
    rc = bs__key_slot(&b->key, row, BS__S_COL, col, elem ? BS__C_ELEM : BS__C_SIMPLE, elem, elem_len);
    if (rc) return poison(b, rc);
    if (row->is_static && (rc = hdr_note(b, t, BS__HDR_STATIC))) return rc;
    return batch_cell(b, t, 0, ts, ttl, val, val_len);
}

int bs_batch_delete_cell(bs_batch *b, bs_table *t, const bs_rowkey *row, uint16_t col,
                         const void *elem, size_t elem_len, int64_t ts) {
    int rc = batch_begin(b, t);
    if (!rc) rc = row_check(b, row);
    if (rc) return rc;
    rc = bs__key_slot(&b->key, row, BS__S_COL, col, elem ? BS__C_ELEM : BS__C_SIMPLE, elem, elem_len);
    if (rc) return poison(b, rc);
    if (row->is_static && (rc = hdr_note(b, t, BS__HDR_STATIC))) return rc;
    return batch_cell(b, t, BS__CELL_TOMB, ts, 0, NULL, 0);
}

int bs_batch_delete_collection(bs_batch *b, bs_table *t, const bs_rowkey *row, uint16_t col,
                               int64_t ts) {
    int rc = batch_begin(b, t);
    if (!rc) rc = row_check(b, row);
    if (rc) return rc;
    rc = bs__key_slot(&b->key, row, BS__S_COL, col, BS__C_CTOMB, NULL, 0);
    if (rc) return poison(b, rc);
    if (row->is_static && (rc = hdr_note(b, t, BS__HDR_STATIC))) return rc;
    return batch_cell(b, t, BS__CELL_TOMB, ts, 0, NULL, 0);
}

int bs_batch_row_marker(bs_batch *b, bs_table *t, const bs_rowkey *row, int64_t ts, int32_t ttl) {
    int rc = batch_begin(b, t);
    if (!rc) rc = row_check(b, row);
    if (rc) return rc;
    rc = bs__key_slot(&b->key, row, BS__S_MARKER, 0, 0, NULL, 0);
    if (rc) return poison(b, rc);
    return batch_cell(b, t, 0, ts, ttl, NULL, 0);
}

int bs_batch_delete_row(bs_batch *b, bs_table *t, const bs_rowkey *row, int64_t ts) {
    int rc = batch_begin(b, t);
    if (!rc) rc = row_check(b, row);
    if (rc) return rc;
    rc = bs__key_slot(&b->key, row, BS__S_ROWDEL, 0, 0, NULL, 0);
    if (rc) return poison(b, rc);
    return batch_cell(b, t, BS__CELL_TOMB, ts, 0, NULL, 0);
}

int bs_batch_delete_range(bs_batch *b, bs_table *t, int64_t token, const void *pk, size_t pk_len,
                          const bs_bound *start, const bs_bound *end, int64_t ts) {
    int rc = batch_begin(b, t);
    if (rc) return rc;
    if (!start || !end || (pk_len && !pk)) return poison(b, bs__seterr(BS_EINVAL, "bad range"));
    rc = bs__key_rt(&b->key, token, pk, pk_len, start, end);
    if (rc) return poison(b, rc);
    if ((rc = hdr_note(b, t, BS__HDR_RT))) return rc;
    return batch_cell(b, t, BS__CELL_TOMB, ts, 0, NULL, 0);
}

int bs_batch_delete_partition(bs_batch *b, bs_table *t, int64_t token, const void *pk,
                              size_t pk_len, int64_t ts) {
    int rc = batch_begin(b, t);
    if (rc) return rc;
    if (pk_len && !pk) return poison(b, bs__seterr(BS_EINVAL, "bad partition key"));
    rc = bs__key_part_prefix(&b->key, token, pk, pk_len);
    if (!rc && bs_buf_append_u8(&b->key, BS__K_PDEL)) rc = BS_ENOMEM;
    if (rc) return poison(b, rc);
    if ((rc = hdr_note(b, t, BS__HDR_PDEL))) return rc;
    return batch_cell(b, t, BS__CELL_TOMB, ts, 0, NULL, 0);
}

int bs_batch_put_raw(bs_batch *b, bs_table *t, const void *key, size_t klen, const void *val,
                     size_t vlen) {
    int rc = batch_begin(b, t);
    if (rc) return rc;
    bs__key pk;
    bs__cell c;
    if (!key || !val || bs__key_parse(key, klen, &pk)) return poison(b, bs__corrupt(t->name, key, key ? klen : 0, "raw record with a bad key"));
    if (bs__cell_decode(key, klen, val, vlen, &c)) return poison(b, bs__corrupt(t->name, key, klen, "raw record with a bad value"));
    if (pk.kind == BS__K_PDEL && (rc = hdr_note(b, t, BS__HDR_PDEL))) return rc;
    if (pk.kind == BS__K_RT && (rc = hdr_note(b, t, BS__HDR_RT))) return rc;
    if (pk.kind == BS__K_STATIC && (rc = hdr_note(b, t, BS__HDR_STATIC))) return rc;
    rocksdb_writebatch_merge_cf(b->wb, t->cf, key, klen, val, vlen);
    return 0;
}

/*
 * The thread's open defer scope: its store; t_rep, the scope's batches
 * not yet written, concatenated in RocksDB's WriteBatch representation
 * (12-byte header: fixed64 sequence, fixed32 count; then the records),
 * with t_rep_count records; t_defer_dirty, a write of the scope waits for
 * its WAL flush.  Writing all of a burst's batches as one batch keeps the
 * CQL loops from meeting in RocksDB's write queue once per request (two
 * loops writing concurrently cost ~6 us more per write on 2 cores).
 */
static _Thread_local bs_store *t_defer;
static _Thread_local int t_defer_dirty;
static _Thread_local bs_buf t_rep;
static _Thread_local uint32_t t_rep_count;

#define WB_HDR 12

void bs_store_defer_begin(bs_store *s) {
    if (!s->manual_wal || t_defer == s) return;
    if (t_defer) bs_store_defer_commit();
    t_defer = s;
}

static int wal_to_os(bs_store *s) { return wal_flush(s, 0, "WAL write"); }

/* Writes the scope's pending batches as one. */
static int rep_write(bs_store *s) {
    if (!t_rep.len) return 0;
    uint8_t *c = t_rep.data + 8; /* fixed32 little-endian */
    c[0] = (uint8_t)t_rep_count;
    c[1] = (uint8_t)(t_rep_count >> 8);
    c[2] = (uint8_t)(t_rep_count >> 16);
    c[3] = (uint8_t)(t_rep_count >> 24);
    int rc = space_check(s, t_rep.len);
    if (rc) {
        bs_buf_free(&t_rep);
        t_rep_count = 0;
        return rc;
    }
    maybe_resume(s);
    rocksdb_writebatch_t *wb = rocksdb_writebatch_create_from((const char *)t_rep.data, t_rep.len);
    bs_buf_free(&t_rep);
    t_rep_count = 0;
    char *err = NULL;
    /* One scope's write at a time: a second loop thread sleeps here
     * instead of joining RocksDB's write group, whose followers spin with
     * sched_yield (at half load that spinning cost ~3 us per write and
     * showed in p99; at full load the queue is ~5 % faster) */
    pthread_mutex_lock(&s->commit_mu);
    rocksdb_write(s->db, s->wopts, wb, &err);
    pthread_mutex_unlock(&s->commit_mu);
    rocksdb_writebatch_destroy(wb);
    if (err) return write_failed(s, err, "write");
    write_ok(s);
    t_defer_dirty = 1;
    return 0;
}

int bs_store_defer_commit(void) {
    bs_store *s = t_defer;
    t_defer = NULL;
    if (!s) return 0;
    int rc = rep_write(s);
    if (!rc && t_defer_dirty) rc = wal_to_os(s);
    t_defer_dirty = 0;
    bs_buf_free(&t_rep);
    t_rep_count = 0;
    return rc;
}

/* Appends b's records to the scope's pending batch: 0, or -1 when b must
 * be written directly (it carries header hints, whose flags may only be
 * set once they are written, or memory ran out). */
static int rep_append(bs_batch *b) {
    if (b->nhdr) return -1;
    size_t n;
    const char *rep = rocksdb_writebatch_data(b->wb, &n);
    if (n <= WB_HDR) return 0;
    if (!t_rep.len) {
        static const uint8_t hdr[WB_HDR];
        if (bs_buf_append(&t_rep, hdr, WB_HDR)) return -1;
    }
    if (bs_buf_append(&t_rep, rep + WB_HDR, n - WB_HDR)) return -1;
    t_rep_count += (uint32_t)rocksdb_writebatch_count(b->wb);
    return 0;
}

static int write_now(bs_store *s, bs_batch *b);

int bs_store_write_grouped(bs_store *s, bs_batch *b) {
    if (b->poisoned) return bs__seterr(BS_EPOISONED, "batch failed earlier");
    if (b->store != s) return bs__seterr(BS_EINVAL, "batch of another store");
    if (t_defer == s && rep_append(b) == 0) return 0;
    return write_now(s, b);
}

int bs_store_write(bs_store *s, bs_batch *b) {
    if (b->poisoned) return bs__seterr(BS_EPOISONED, "batch failed earlier");
    if (b->store != s) return bs__seterr(BS_EINVAL, "batch of another store");
    return write_now(s, b);
}

/* Applies b now: after what the thread's scope has queued (order kept),
 * its WAL record flushed now or, in a scope, by the commit. */
static int write_now(bs_store *s, bs_batch *b) {
    if (t_defer == s) {
        int rc = rep_write(s);
        if (rc) return rc;
    }
    size_t wbn = 0;
    rocksdb_writebatch_data(b->wb, &wbn);
    int src = space_check(s, wbn);
    if (src) return src;
    maybe_resume(s);
    char *err = NULL;
    rocksdb_write(s->db, s->wopts, b->wb, &err);
    if (err) return write_failed(s, err, "write");
    write_ok(s);
    if (s->manual_wal) {
        int rc = 0;
        if (t_defer == s)
            t_defer_dirty = 1;
        else
            rc = wal_to_os(s);
        if (rc) return rc;
    }
    for (size_t i = 0; i < b->nhdr; i++) atomic_fetch_or(&b->hdr_tabs[i].t->hdr_logged, b->hdr_tabs[i].bit);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Maintenance                                                         */
/* ------------------------------------------------------------------ */

int bs_store_flush(bs_store *s, bs_table *t) {
    rocksdb_flushoptions_t *fo = rocksdb_flushoptions_create();
    rocksdb_flushoptions_set_wait(fo, 1);
    int rc = 0;
    if (t) {
        rc = live_check(t);
        if (!rc) {
            char *err = NULL;
            rocksdb_flush_cf(s->db, fo, t->cf, &err);
            if (err) rc = bs__rocks_err(err, "flush", t->name);
        }
    } else {
        pthread_mutex_lock(&s->mu);
        for (bs_table *x = s->tables; x && !rc; x = x->next) {
            if (atomic_load(&x->dropped)) continue;
            char *err = NULL;
            rocksdb_flush_cf(s->db, fo, x->cf, &err);
            if (err) rc = bs__rocks_err(err, "flush", x->name);
        }
        pthread_mutex_unlock(&s->mu);
    }
    rocksdb_flushoptions_destroy(fo);
    return rc;
}

int bs_store_compact(bs_table *t) {
    int rc = live_check(t);
    if (rc) return rc;
    rocksdb_compactoptions_t *co = rocksdb_compactoptions_create();
    rocksdb_compactoptions_set_exclusive_manual_compaction(co, 1);
    rocksdb_compactoptions_set_bottommost_level_compaction(co, 2 /* kForce */);
    rocksdb_compact_range_cf_opt(t->store->db, t->cf, co, NULL, 0, NULL, 0);
    rocksdb_compactoptions_destroy(co);
    return 0;
}

int bs_store_key_token(const void *key, size_t klen, int64_t *out) {
    if (!key || klen < 8) return bs__seterr(BS_ECORRUPT, "key of %zu bytes has no token", klen);
    *out = bs__token_dec(bs_get_u64(key));
    return 0;
}

int bs_store_approx_size(bs_table *t, int64_t start_excl, int64_t end_incl, uint64_t *out) {
    int rc = live_check(t);
    if (rc) return rc;
    *out = 0;
    /* Up to two segments [lo, hi] of tokens, as in read.c. */
    int64_t lo[2], hi[2];
    int n = 0;
    if (start_excl < end_incl) {
        lo[n] = start_excl + 1;
        hi[n++] = end_incl;
    } else {
        if (start_excl < INT64_MAX) {
            lo[n] = start_excl + 1;
            hi[n++] = INT64_MAX;
        }
        lo[n] = INT64_MIN;
        hi[n++] = end_incl;
    }
    char sk[2][8], ek[2][9];
    const char *sp[2], *ep[2];
    size_t sl[2], el[2];
    for (int i = 0; i < n; i++) {
        bs_put_u64((uint8_t *)sk[i], bs__token_enc(lo[i]));
        sp[i] = sk[i];
        sl[i] = 8;
        if (hi[i] == INT64_MAX) {
            memset(ek[i], 0xFF, 9);
            el[i] = 9;
        } else {
            bs_put_u64((uint8_t *)ek[i], bs__token_enc(hi[i] + 1));
            el[i] = 8;
        }
        ep[i] = ek[i];
    }
    uint64_t sizes[2] = {0, 0};
    char *err = NULL;
    rocksdb_approximate_sizes_cf(t->store->db, t->cf, n, sp, sl, ep, el, sizes, &err);
    if (err) return bs__rocks_err(err, "approximate sizes", t->name);
    *out = sizes[0] + sizes[1];
    return 0;
}

/* ------------------------------------------------------------------ */
/* Test hooks                                                          */
/* ------------------------------------------------------------------ */

int bs__raw_put(bs_table *t, const void *key, size_t klen, const void *val, size_t vlen) {
    char *err = NULL;
    atomic_fetch_or(&t->hdr, BS__HDR_ALL); /* raw bytes may be anything: read them all */
    rocksdb_put_cf(t->store->db, t->store->wopts, t->cf, key, klen, val, vlen, &err);
    if (err) return bs__rocks_err(err, "raw put", t->name);
    return t->store->manual_wal ? wal_to_os(t->store) : 0;
}

int bs__raw_count(bs_table *t, uint64_t *out) {
    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
    rocksdb_readoptions_set_total_order_seek(ro, 1);
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(t->store->db, ro, t->cf);
    uint64_t n = 0;
    for (rocksdb_iter_seek_to_first(it); rocksdb_iter_valid(it); rocksdb_iter_next(it)) n++;
    char *err = NULL;
    rocksdb_iter_get_error(it, &err);
    rocksdb_iter_destroy(it);
    rocksdb_readoptions_destroy(ro);
    *out = n;
    return err ? bs__rocks_err(err, "raw count", t->name) : 0;
}
