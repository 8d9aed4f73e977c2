/*
 * bench_rawdb.c - the raw RocksDB floor for scripts/bench: single-threaded
 * put throughput and point-get throughput (1 and 2 threads) on a warm
 * table, with the same RocksDB options as the store's defaults
 * (tests/bench/bench_storage.c's "raw" side: LZ4, full bloom 10 bits/key,
 * 64 MiB LRU block cache, 64 MiB memtable, 2 background jobs, WAL on, no
 * fsync per write).
 *
 *   bench_rawdb [-n rows] [-g gets] [-d dir]
 *
 * Keys are 34 bytes laid out like the store's cell keys
 * (token(8) | len(2) | pk(10) | 0x40 | ck(7) | column suffix(6)), one row
 * per partition, so consecutive rows land at random places in the key
 * space exactly as Murmur3-token-prefixed rows do; values are 100 random
 * bytes.  Phases:
 *
 *   put   rocksdb_put of rows 0..n-1 in order, one call per row, one thread
 *   warm  every key read once (brings SST blocks into the block cache)
 *   get1  `gets` rocksdb_get of uniformly random existing keys, one thread
 *   get2  the same on 2 threads (gets/2 each), total ops over wall time
 *
 * Every get must find its key (a miss aborts the run).  Output is one
 * "name value" line per figure (ops/s), easy to parse from a script:
 *
 *   raw_put_ops 345678
 *   raw_get1_ops 301234
 *   raw_get2_ops 512345
 *
 * Not a test: timings are never asserted anywhere.
 */
#include <pthread.h>
#include <rocksdb/c.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"

#define VALUE_SIZE 100

static rocksdb_t *g_db;
static rocksdb_readoptions_t *g_ro;
static uint64_t g_n;

static double now_s(void) { return (double)bs_clock_mono_ns() / 1e9; }

static uint64_t xr(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* 34-byte key of row i: a Murmur3-like scrambled token, then the pk/ck bytes */
static size_t raw_key(uint64_t i, char *k) {
    char pk[16], ck[16];
    snprintf(pk, sizeof pk, "pk%08llu", (unsigned long long)(i % 100000000ull));
    snprintf(ck, sizeof ck, "ck%05llu", 0ull);
    uint64_t t = (i * 0x9E3779B97F4A7C15ull) ^ 0x8000000000000000ull;
    for (int b = 0; b < 8; b++) k[b] = (char)(t >> (56 - 8 * b));
    k[8] = 0;
    k[9] = 10;
    memcpy(k + 10, pk, 10);
    k[20] = 0x40;
    memcpy(k + 21, ck, 7);
    memcpy(k + 28, "\x02\x00\x01\x00\x00\x07", 6);
    return 34;
}

typedef struct getter {
    uint64_t seed, count, found;
} getter;

static void *get_thread(void *arg) {
    getter *g = arg;
    char k[40];
    for (uint64_t i = 0; i < g->count; i++) {
        size_t kl = raw_key(xr(&g->seed) % g_n, k), vl = 0;
        char *err = NULL;
        char *v = rocksdb_get(g_db, g_ro, k, kl, &vl, &err);
        if (err) {
            fprintf(stderr, "raw get: %s\n", err);
            free(err);
            exit(1);
        }
        if (v && vl == VALUE_SIZE) g->found++;
        rocksdb_free(v);
    }
    return NULL;
}

static double run_gets(int threads, uint64_t gets, uint64_t seed) {
    pthread_t th[2];
    getter g[2];
    double t0 = now_s();
    for (int i = 0; i < threads; i++) {
        g[i] = (getter){seed + 7919u * (uint64_t)(i + 1), gets / (uint64_t)threads, 0};
        if (pthread_create(&th[i], NULL, get_thread, &g[i])) return 0;
    }
    uint64_t found = 0, total = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(th[i], NULL);
        found += g[i].found;
        total += g[i].count;
    }
    double dt = now_s() - t0;
    if (found != total) {
        fprintf(stderr, "raw get: %llu of %llu keys missing\n", (unsigned long long)(total - found),
                (unsigned long long)total);
        exit(1);
    }
    return dt > 0 ? (double)total / dt : 0;
}

int main(int argc, char **argv) {
    uint64_t n = 1000000, gets = 500000;
    const char *dir = "/tmp/bs_bench_rawdb";
    int c;
    while ((c = getopt(argc, argv, "n:g:d:")) != -1) {
        switch (c) {
        case 'n': n = strtoull(optarg, NULL, 10); break;
        case 'g': gets = strtoull(optarg, NULL, 10); break;
        case 'd': dir = optarg; break;
        default: fprintf(stderr, "usage: %s [-n rows] [-g gets] [-d dir]\n", argv[0]); return 2;
        }
    }
    if (n == 0) n = 1;
    if (gets < 2) gets = 2;
    g_n = n;
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", dir, dir);
    if (system(cmd) != 0) return 1;

    rocksdb_options_t *o = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(o, 1);
    rocksdb_cache_t *cache = rocksdb_cache_create_lru(64 << 20);
    rocksdb_block_based_table_options_t *bb = rocksdb_block_based_options_create();
    rocksdb_block_based_options_set_block_cache(bb, cache);
    rocksdb_block_based_options_set_filter_policy(bb, rocksdb_filterpolicy_create_bloom_full(10));
    rocksdb_options_set_block_based_table_factory(o, bb);
    /* as the store (storage/store.c): no compression in L0/L1, LZ4 below */
    int comp[7] = {rocksdb_no_compression, rocksdb_no_compression, rocksdb_lz4_compression,
                   rocksdb_lz4_compression, rocksdb_lz4_compression, rocksdb_lz4_compression,
                   rocksdb_lz4_compression};
    rocksdb_options_set_compression_per_level(o, comp, 7);
    rocksdb_options_set_write_buffer_size(o, 64 << 20);
    rocksdb_options_set_max_background_jobs(o, 2);
    char *err = NULL;
    g_db = rocksdb_open(o, dir, &err);
    if (err) {
        fprintf(stderr, "raw open: %s\n", err);
        return 1;
    }
    rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
    g_ro = rocksdb_readoptions_create();

    char *val = malloc(VALUE_SIZE);
    if (!val) return 1;
    uint64_t vs = 88172645463325252ull;
    char k[40];
    double t0 = now_s();
    for (uint64_t i = 0; i < n; i++) {
        for (int b = 0; b < VALUE_SIZE; b += 8) {
            uint64_t r = xr(&vs);
            memcpy(val + b, &r, VALUE_SIZE - b < 8 ? (size_t)(VALUE_SIZE - b) : 8);
        }
        size_t kl = raw_key(i, k);
        rocksdb_put(g_db, wo, k, kl, val, VALUE_SIZE, &err);
        if (err) {
            fprintf(stderr, "raw put: %s\n", err);
            return 1;
        }
    }
    double put_s = now_s() - t0;
    printf("raw_put_ops %.0f\n", put_s > 0 ? (double)n / put_s : 0);
    fflush(stdout);

    /* warm: every key once (not timed) */
    for (uint64_t i = 0; i < n; i++) {
        size_t kl = raw_key(i, k), vl = 0;
        char *v = rocksdb_get(g_db, g_ro, k, kl, &vl, &err);
        if (err || !v) {
            fprintf(stderr, "raw warm: key %llu missing\n", (unsigned long long)i);
            return 1;
        }
        rocksdb_free(v);
    }
    printf("raw_get1_ops %.0f\n", run_gets(1, gets, 0x2545F4914F6CDD1Dull));
    fflush(stdout);
    printf("raw_get2_ops %.0f\n", run_gets(2, gets, 0x9E3779B97F4A7C15ull));

    free(val);
    rocksdb_writeoptions_destroy(wo);
    rocksdb_readoptions_destroy(g_ro);
    rocksdb_close(g_db);
    rocksdb_options_destroy(o);
    rocksdb_block_based_options_destroy(bb);
    rocksdb_cache_destroy(cache);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : 1;
}
