/*
 * bench_storage.c - storage-layer throughput next to raw RocksDB, same
 * run, same data sizes, same RocksDB options where they apply (LZ4, full
 * bloom filters, 64 MiB block cache, 64 MiB memtable, WAL on, no fsync).
 *
 *   raw put    : rocksdb_put of one key/value per call
 *   store put  : one bs_batch with one cell per bs_store_write (a merge
 *                operand: blind LWW write)
 *   raw get    : rocksdb_get of a random existing key
 *   store get  : bs_store_read of one row by full primary key (partition
 *                deletion, range tombstones and the row resolved)
 *   raw slice  : seek + 100 x next
 *   store slice: bs_store_read of 100 rows of a partition
 *
 * Keys: partitions of 100 rows; raw keys have the length of the store's
 * cell keys; values are VALUE_SIZE random bytes.  Usage:
 *   bench_storage [-n rows] [-g gets] [-d dir]
 * Prints ops/s per test and the store/raw ratios.  No assertions: this is
 * a measurement, run by scripts/bench-storage.
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

static double now_s(void) { return (double)bs_clock_mono_ns() / 1e9; }

static uint64_t rng = 88172645463325252ull;
static uint64_t xr(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void pk_of(uint64_t part, char *pk) { snprintf(pk, 16, "pk%08llu", (unsigned long long)(part % 100000000ull)); }
static void ck_of(uint64_t row, char *ck) { snprintf(ck, 16, "ck%05llu", (unsigned long long)(row % 100000ull)); }
static int64_t tok_of(uint64_t part) { return (int64_t)(part * 0x9E3779B97F4A7C15ull); }

/* raw key: token(8) | len(2) | pk(10) | 0x40 | ck(7) | 0x02 col(2) 0x00 | len(2) = 33 bytes, as the store's */
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

static void report(const char *what, double ops, double secs) {
    printf("%-12s %10.0f ops/s  (%.0f ops in %.2f s)\n", what, ops / secs, ops, secs);
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
    uint64_t nslices = gets / 20 ? gets / 20 : 1;
    char rawdir[512], stdir[512];
    snprintf(rawdir, sizeof rawdir, "%s/raw", dir);
    snprintf(stdir, sizeof stdir, "%s/store", dir);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", dir, dir);
    if (system(cmd) != 0) return 1;
    char *vals = malloc(n * VALUE_SIZE);
    for (uint64_t i = 0; i < n * VALUE_SIZE; i++) vals[i] = (char)xr();
    printf("rows %llu, value %d bytes, %d rows/partition, %llu gets, %llu slices\n",
           (unsigned long long)n, VALUE_SIZE, ROWS_PER_PART, (unsigned long long)gets,
           (unsigned long long)nslices);

    /* ---------------- raw RocksDB ---------------- */
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
    rocksdb_t *db = rocksdb_open(o, rawdir, &err);
    if (err) {
        fprintf(stderr, "raw open: %s\n", err);
        return 1;
    }
    rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
    char k[64];
    double t0 = now_s();
    for (uint64_t i = 0; i < n; i++) {
        size_t kl = raw_key(i, k);
        rocksdb_put(db, wo, k, kl, vals + i * VALUE_SIZE, VALUE_SIZE, &err);
        if (err) return 1;
    }
    double raw_put = n / (now_s() - t0);
    report("raw put", (double)n, now_s() - t0);
    rng = 12345;
    t0 = now_s();
    uint64_t found = 0;
    for (uint64_t i = 0; i < gets; i++) {
        size_t kl = raw_key(xr() % n, k), vl;
        char *v = rocksdb_get(db, ro, k, kl, &vl, &err);
        found += v != NULL;
        rocksdb_free(v);
    }
    double raw_get = gets / (now_s() - t0);
    report("raw get", (double)gets, now_s() - t0);
    t0 = now_s();
    uint64_t seen = 0;
    rocksdb_iterator_t *it = rocksdb_create_iterator(db, ro);
    for (uint64_t i = 0; i < nslices; i++) {
        size_t kl = raw_key((xr() % (n / ROWS_PER_PART)) * ROWS_PER_PART, k);
        rocksdb_iter_seek(it, k, kl);
        for (int j = 0; j < ROWS_PER_PART && rocksdb_iter_valid(it); j++, rocksdb_iter_next(it)) seen++;
    }
    rocksdb_iter_destroy(it);
    double raw_slice = seen / (now_s() - t0);
    report("raw slice", (double)seen, now_s() - t0);
    rocksdb_writeoptions_destroy(wo);
    rocksdb_readoptions_destroy(ro);
    rocksdb_close(db);
    rocksdb_options_destroy(o);
    rocksdb_block_based_options_destroy(bb);
    rocksdb_cache_destroy(cache);
    if (found != gets) fprintf(stderr, "raw: only %llu of %llu gets found\n", (unsigned long long)found, (unsigned long long)gets);

    /* ---------------- store ---------------- */
    bs_store_opts so;
    bs_store_opts_default(&so);
    bs_store *s;
    if (bs_store_open(stdir, &so, &s)) {
        fprintf(stderr, "store open: %s\n", bs_store_errmsg());
        return 1;
    }
    bs_table *t;
    if (bs_store_table_open(s, "bench.t", NULL, &t)) return 1;
    bs_batch *b;
    bs_batch_new(s, &b);
    t0 = now_s();
    for (uint64_t i = 0; i < n; i++) {
        char pk[16], ck[16];
        uint64_t part = i / ROWS_PER_PART;
        pk_of(part, pk);
        ck_of(i % ROWS_PER_PART, ck);
        bs_rowkey r = {tok_of(part), pk, 10, ck, 7, 0};
        bs_batch_clear(b);
        if (bs_batch_put_cell(b, t, &r, 1, NULL, 0, vals + i * VALUE_SIZE, VALUE_SIZE, 1000 + (int64_t)i, 0) ||
            bs_store_write(s, b)) {
            fprintf(stderr, "store put: %s\n", bs_store_errmsg());
            return 1;
        }
    }
    double st_put = n / (now_s() - t0);
    report("store put", (double)n, now_s() - t0);
    bs_batch_free(b);
    bs_arena a;
    bs_arena_init(&a, 0);
    rng = 12345;
    found = 0;
    t0 = now_s();
    for (uint64_t i = 0; i < gets; i++) {
        uint64_t id = xr() % n, part = id / ROWS_PER_PART;
        char pk[16], ck[16];
        pk_of(part, pk);
        ck_of(id % ROWS_PER_PART, ck);
        bs_slice sl;
        memset(&sl, 0, sizeof sl);
        sl.start.kind = sl.end.kind = BS_BOUND_INCL;
        sl.start.prefix = sl.end.prefix = ck;
        sl.start.len = sl.end.len = 7;
        bs_partv *p;
        if (bs_store_read(t, tok_of(part), pk, 10, &sl, &a, &p)) return 1;
        found += p->nrows == 1;
        bs_arena_reset(&a);
    }
    double st_get = gets / (now_s() - t0);
    report("store get", (double)gets, now_s() - t0);
    if (found != gets) fprintf(stderr, "store: only %llu of %llu gets found\n", (unsigned long long)found, (unsigned long long)gets);
    t0 = now_s();
    seen = 0;
    for (uint64_t i = 0; i < nslices; i++) {
        uint64_t part = xr() % (n / ROWS_PER_PART);
        char pk[16];
        pk_of(part, pk);
        bs_slice sl;
        memset(&sl, 0, sizeof sl);
        sl.limit = ROWS_PER_PART;
        bs_partv *p;
        if (bs_store_read(t, tok_of(part), pk, 10, &sl, &a, &p)) return 1;
        seen += p->nrows;
        bs_arena_reset(&a);
    }
    double st_slice = seen / (now_s() - t0);
    report("store slice", (double)seen, now_s() - t0);
    bs_arena_free(&a);
    bs_store_close(s);
    free(vals);

    printf("ratio put   store/raw = %.2f\n", st_put / raw_put);
    printf("ratio get   store/raw = %.2f\n", st_get / raw_get);
    printf("ratio slice store/raw = %.2f (rows/s)\n", st_slice / raw_slice);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) return 1;
    return 0;
}
