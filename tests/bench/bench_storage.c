/*
 * bench_storage.c - storage-layer throughput next to raw RocksDB, same
 * run, same data, same RocksDB options where they apply (LZ4, full bloom
 * filters 10 bits/key, 64 MiB block cache, 64 MiB memtable, 2 background
 * jobs, WAL on, no fsync).  The store adds what only it has: its prefix
 * extractor (partition|kind) with a memtable prefix bloom, the LWW merge
 * operator and the GC compaction filter.
 *
 *   raw put     : rocksdb_put of one key/value per call
 *   store put   : one bs_batch with one cell per bs_store_write (a merge
 *                 operand: blind LWW write)
 *   raw get     : rocksdb_get of a random existing key
 *   store get   : bs_store_read of one row by full primary key, static
 *                 row asked for as the CQL executor does (partition
 *                 deletion, range tombstones, static row and the row
 *                 resolved, checksums verified), table "bench.t": no
 *                 deletions or static rows ever, so its header hint is
 *                 clear
 *   store get/d : the same on table "bench.d": the same rows plus a
 *                 partition deletion (older than every cell, so it shadows
 *                 nothing) in every 10th partition, so every read probes
 *                 for partition deletions and range tombstones
 *   raw slice   : seek + 100 x next
 *   store slice : bs_store_read of the 100 rows of a partition (bench.t)
 *
 * Fairness on a shared machine: both databases are open at once and the
 * work is interleaved - puts in chunks of 10 000 alternating raw/store,
 * gets and slices in 10 rounds whose order rotates - so a burst of load
 * from elsewhere hits both sides alike.  Each side's figure is its total
 * operations over its total time; the ratio line also gives the median of
 * the per-round ratios.
 *
 * Keys: partitions of 100 rows; raw keys have the length of the store's
 * cell keys; values are VALUE_SIZE random bytes.  Usage:
 *   bench_storage [-n rows] [-g gets] [-d dir]
 * No assertions: this is a measurement, run by scripts/bench-storage.
 */
#include <rocksdb/c.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/arena.h"
#include "common/clock.h"
#include "storage/store.h"

#define VALUE_SIZE 100
#define ROWS_PER_PART 100
#define PUT_CHUNK 10000
#define ROUNDS 10

static double now_s(void) { return (double)bs_clock_mono_ns() / 1e9; }

static uint64_t xr(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void pk_of(uint64_t part, char *pk) { snprintf(pk, 16, "pk%08llu", (unsigned long long)(part % 100000000ull)); }
static void ck_of(uint64_t row, char *ck) { snprintf(ck, 16, "ck%05llu", (unsigned long long)(row % 100000ull)); }
static int64_t tok_of(uint64_t part) { return (int64_t)(part * 0x9E3779B97F4A7C15ull); }

/* raw key: token(8) | len(2) | pk(10) | 0x40 | ck(7) | 0x02 col(2) 0x00 | len(2) = 34 bytes, as the store's */
static size_t raw_key(uint64_t i, char *k) {
    uint64_t part = i / ROWS_PER_PART;
    char pk[16], ck[16];
    pk_of(part, pk);
    ck_of(i % ROWS_PER_PART, ck);
    uint64_t t = (uint64_t)tok_of(part) ^ 0x8000000000000000ull;
    for (int b = 0; b < 8; b++) k[b] = (char)(t >> (56 - 8 * b));
    k[8] = 0;
    k[9] = 10;
    memcpy(k + 10, pk, 10);
    k[20] = 0x40;
    memcpy(k + 21, ck, 7);
    memcpy(k + 28, "\x02\x00\x01\x00\x00\x07", 6);
    return 34;
}

typedef struct side {
    const char *name;
    double secs;
    double ops;
    double round_rate[ROUNDS];
} side;

static void side_add(side *s, int round, double ops, double secs) {
    s->secs += secs;
    s->ops += ops;
    if (round >= 0) s->round_rate[round] = secs > 0 ? ops / secs : 0;
}

static double rate(const side *s) { return s->secs > 0 ? s->ops / s->secs : 0; }

static void report(const side *s) {
    printf("%-13s %10.0f ops/s  (%.0f ops in %.2f s)\n", s->name, rate(s), s->ops, s->secs);
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void ratio(const char *what, const side *st, const side *raw, int rounds) {
    double r[ROUNDS];
    for (int i = 0; i < rounds; i++) r[i] = raw->round_rate[i] > 0 ? st->round_rate[i] / raw->round_rate[i] : 0;
    qsort(r, (size_t)rounds, sizeof r[0], cmp_d);
    double med = rounds % 2 ? r[rounds / 2] : (r[rounds / 2 - 1] + r[rounds / 2]) / 2;
    printf("ratio %-14s store/raw = %.2f (median of rounds %.2f)\n", what, rate(st) / rate(raw), med);
}

/* ---- the three workloads, one call = one chunk/round on one side ---- */

static rocksdb_t *g_db;
static rocksdb_writeoptions_t *g_wo;
static rocksdb_readoptions_t *g_ro;
static bs_store *g_s;
static char *g_vals;
static uint64_t g_n;

static int raw_puts(uint64_t from, uint64_t to) {
    char k[64], *err = NULL;
    for (uint64_t i = from; i < to; i++) {
        size_t kl = raw_key(i, k);
        rocksdb_put(g_db, g_wo, k, kl, g_vals + i * VALUE_SIZE, VALUE_SIZE, &err);
        if (err) {
            fprintf(stderr, "raw put: %s\n", err);
            return -1;
        }
    }
    return 0;
}

static int store_puts(bs_table *t, bs_batch *b, uint64_t from, uint64_t to, int with_pdel) {
    for (uint64_t i = from; i < to; i++) {
        char pk[16], ck[16];
        uint64_t part = i / ROWS_PER_PART;
        pk_of(part, pk);
        ck_of(i % ROWS_PER_PART, ck);
        bs_rowkey r = {tok_of(part), pk, 10, ck, 7, 0};
        bs_batch_clear(b);
        if (bs_batch_put_cell(b, t, &r, 1, NULL, 0, g_vals + i * VALUE_SIZE, VALUE_SIZE, 1000 + (int64_t)i, 0) ||
            (with_pdel && i % (10 * ROWS_PER_PART) == 0 && bs_batch_delete_partition(b, t, r.token, pk, 10, 1)) ||
            bs_store_write(g_s, b)) {
            fprintf(stderr, "store put: %s\n", bs_store_errmsg());
            return -1;
        }
    }
    return 0;
}

static uint64_t raw_gets(uint64_t seed, uint64_t count) {
    char k[64], *err = NULL;
    uint64_t found = 0;
    for (uint64_t i = 0; i < count; i++) {
        size_t kl = raw_key(xr(&seed) % g_n, k), vl;
        char *v = rocksdb_get(g_db, g_ro, k, kl, &vl, &err);
        found += v != NULL;
        rocksdb_free(v);
    }
    return found;
}

static uint64_t store_gets(bs_table *t, bs_arena *a, uint64_t seed, uint64_t count) {
    uint64_t found = 0;
    for (uint64_t i = 0; i < count; i++) {
        uint64_t id = xr(&seed) % g_n, part = id / ROWS_PER_PART;
        char pk[16], ck[16];
        pk_of(part, pk);
        ck_of(id % ROWS_PER_PART, ck);
        bs_slice sl;
        memset(&sl, 0, sizeof sl);
        sl.start.kind = sl.end.kind = BS_BOUND_INCL;
        sl.start.prefix = sl.end.prefix = ck;
        sl.start.len = sl.end.len = 7;
        sl.with_static = 1; /* as query/exec_select.c always asks */
        bs_partv *p;
        if (bs_store_read(t, tok_of(part), pk, 10, &sl, a, &p)) {
            fprintf(stderr, "store get: %s\n", bs_store_errmsg());
            exit(1);
        }
        found += p->nrows == 1;
        bs_arena_reset(a);
    }
    return found;
}

static uint64_t raw_slices(uint64_t seed, uint64_t count) {
    char k[64];
    uint64_t seen = 0;
    rocksdb_iterator_t *it = rocksdb_create_iterator(g_db, g_ro);
    for (uint64_t i = 0; i < count; i++) {
        size_t kl = raw_key((xr(&seed) % (g_n / ROWS_PER_PART)) * ROWS_PER_PART, k);
        rocksdb_iter_seek(it, k, kl);
        for (int j = 0; j < ROWS_PER_PART && rocksdb_iter_valid(it); j++, rocksdb_iter_next(it)) seen++;
    }
    rocksdb_iter_destroy(it);
    return seen;
}

static uint64_t store_slices(bs_table *t, bs_arena *a, uint64_t seed, uint64_t count) {
    uint64_t seen = 0;
    for (uint64_t i = 0; i < count; i++) {
        uint64_t part = xr(&seed) % (g_n / ROWS_PER_PART);
        char pk[16];
        pk_of(part, pk);
        bs_slice sl;
        memset(&sl, 0, sizeof sl);
        sl.limit = ROWS_PER_PART;
        bs_partv *p;
        if (bs_store_read(t, tok_of(part), pk, 10, &sl, a, &p)) {
            fprintf(stderr, "store slice: %s\n", bs_store_errmsg());
            exit(1);
        }
        seen += p->nrows;
        bs_arena_reset(a);
    }
    return seen;
}

int main(int argc, char **argv) {
    uint64_t n = 200000, gets = 100000;
    const char *dir = "/tmp/bs_bench_storage";
    int c;
    while ((c = getopt(argc, argv, "n:g:d:")) != -1) {
        if (c == 'n') n = strtoull(optarg, NULL, 10);
        else if (c == 'g') gets = strtoull(optarg, NULL, 10);
        else if (c == 'd') dir = optarg;
        else {
            fprintf(stderr, "usage: %s [-n rows] [-g gets] [-d dir]\n", argv[0]);
            return 2;
        }
    }
    n = (n / ROWS_PER_PART) * ROWS_PER_PART;
    if (n == 0) n = ROWS_PER_PART;
    g_n = n;
    if (gets < ROUNDS) gets = ROUNDS;
    uint64_t nslices = gets / 20 >= ROUNDS ? gets / 20 : ROUNDS;
    char rawdir[512], stdir[512];
    snprintf(rawdir, sizeof rawdir, "%s/raw", dir);
    snprintf(stdir, sizeof stdir, "%s/store", dir);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", dir, dir);
    if (system(cmd) != 0) return 1;
    g_vals = malloc(n * VALUE_SIZE);
    uint64_t vs = 88172645463325252ull;
    for (uint64_t i = 0; i < n * VALUE_SIZE; i++) g_vals[i] = (char)xr(&vs);
    printf("rows %llu, value %d bytes, %d rows/partition, %llu gets, %llu slices, %d rounds\n",
           (unsigned long long)n, VALUE_SIZE, ROWS_PER_PART, (unsigned long long)gets,
           (unsigned long long)nslices, ROUNDS);

    /* raw RocksDB */
    rocksdb_options_t *o = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(o, 1);
    rocksdb_cache_t *cache = rocksdb_cache_create_lru(64 << 20);
    rocksdb_block_based_table_options_t *bb = rocksdb_block_based_options_create();
    rocksdb_block_based_options_set_block_cache(bb, cache);
    rocksdb_block_based_options_set_filter_policy(bb, rocksdb_filterpolicy_create_bloom_full(10));
    rocksdb_options_set_block_based_table_factory(o, bb);
    rocksdb_options_set_compression(o, rocksdb_lz4_compression);
    rocksdb_options_set_write_buffer_size(o, 64 << 20);
    rocksdb_options_set_max_background_jobs(o, 2);
    char *err = NULL;
    g_db = rocksdb_open(o, rawdir, &err);
    if (err) {
        fprintf(stderr, "raw open: %s\n", err);
        return 1;
    }
    g_wo = rocksdb_writeoptions_create();
    g_ro = rocksdb_readoptions_create();

    /* store */
    bs_store_opts so;
    bs_store_opts_default(&so);
    if (bs_store_open(stdir, &so, &g_s)) {
        fprintf(stderr, "store open: %s\n", bs_store_errmsg());
        return 1;
    }
    bs_table *t, *td;
    if (bs_store_table_open(g_s, "bench.t", NULL, &t) || bs_store_table_open(g_s, "bench.d", NULL, &td)) return 1;
    bs_batch *b;
    if (bs_batch_new(g_s, &b)) return 1;

    /* puts, alternating chunks */
    side rp = {"raw put", 0, 0, {0}}, sp = {"store put", 0, 0, {0}};
    for (uint64_t from = 0, k = 0; from < n; from += PUT_CHUNK, k++) {
        uint64_t to = from + PUT_CHUNK < n ? from + PUT_CHUNK : n;
        for (int w = 0; w < 2; w++) {
            int raw = (w == 0) == (k % 2 == 0);
            double t0 = now_s();
            if (raw ? raw_puts(from, to) : store_puts(t, b, from, to, 0)) return 1;
            side_add(raw ? &rp : &sp, -1, (double)(to - from), now_s() - t0);
        }
    }
    /* bench.d: the same rows and some partition deletions (untimed) */
    if (store_puts(td, b, 0, n, 1)) return 1;
    bs_batch_free(b);
    report(&rp);
    report(&sp);

    /* gets and slices, in rotating rounds */
    bs_arena a;
    bs_arena_init(&a, 0);
    side rg = {"raw get", 0, 0, {0}}, sg = {"store get", 0, 0, {0}}, dg = {"store get/d", 0, 0, {0}};
    side rs = {"raw slice", 0, 0, {0}}, ss = {"store slice", 0, 0, {0}};
    uint64_t missing = 0;
    for (int r = 0; r < ROUNDS; r++) {
        uint64_t seed = 12345 + (uint64_t)r * 7919, cnt = gets / ROUNDS;
        for (int w = 0; w < 3; w++) {
            int which = (w + r) % 3;
            double t0 = now_s();
            uint64_t f = which == 0 ? raw_gets(seed, cnt) : store_gets(which == 1 ? t : td, &a, seed, cnt);
            side_add(which == 0 ? &rg : which == 1 ? &sg : &dg, r, (double)cnt, now_s() - t0);
            missing += cnt - f;
        }
    }
    for (int r = 0; r < ROUNDS; r++) {
        uint64_t seed = 777 + (uint64_t)r * 104729, cnt = nslices / ROUNDS;
        for (int w = 0; w < 2; w++) {
            int raw = (w == 0) == (r % 2 == 0);
            double t0 = now_s();
            uint64_t rows = raw ? raw_slices(seed, cnt) : store_slices(t, &a, seed, cnt);
            side_add(raw ? &rs : &ss, r, (double)rows, now_s() - t0);
        }
    }
    report(&rg);
    report(&sg);
    report(&dg);
    report(&rs);
    report(&ss);
    if (missing) fprintf(stderr, "%llu gets found nothing\n", (unsigned long long)missing);
    if (rs.ops != ss.ops) fprintf(stderr, "slices differ: raw %.0f rows, store %.0f rows\n", rs.ops, ss.ops);

    printf("ratio put            store/raw = %.2f\n", rate(&sp) / rate(&rp));
    ratio("get", &sg, &rg, ROUNDS);
    ratio("get/d", &dg, &rg, ROUNDS);
    ratio("slice (rows/s)", &ss, &rs, ROUNDS);

    bs_arena_free(&a);
    bs_store_close(g_s);
    rocksdb_writeoptions_destroy(g_wo);
    rocksdb_readoptions_destroy(g_ro);
    rocksdb_close(g_db);
    rocksdb_options_destroy(o);
    rocksdb_block_based_options_destroy(bb);
    rocksdb_cache_destroy(cache);
    free(g_vals);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) return 1;
    return 0;
}
