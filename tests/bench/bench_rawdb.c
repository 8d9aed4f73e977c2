/*
 * bench_rawdb.c - the raw RocksDB floor for scripts/bench: put throughput
 * measured the way basaltd writes (several writer threads, each writing
 * WriteBatches of many rows) and the old way (one thread, one unbatched
 * put per row), then point-get throughput on 1 and 2 threads, on a warm
 * table, with the same RocksDB options as the store's defaults
 * (tests/bench/bench_storage.c's "raw" side: LZ4 below L1, full bloom 10
 * bits/key, 64 MiB LRU block cache, 64 MiB memtable, 2 background jobs,
 * WAL on, no fsync per write - what basaltd does in its default periodic
 * durability mode).
 *
 *   bench_rawdb [-n rows] [-g gets] [-t writer threads] [-b batch] [-d dir]
 *
 * Why batches and threads: each basaltd I/O loop (one per core by
 * default) takes every request that arrived in one read pass and writes
 * their mutations as one WriteBatch (storage/store.c, defer scope), so
 * with 64 requests in flight a node issues WriteBatches of up to 64 rows
 * from up to `io_threads` threads.  A floor of one unbatched put per row
 * on one thread pays RocksDB's per-write cost (write-group join, WAL
 * record, memtable insert setup) per row and flatters any batching
 * server; `put_best` is the floor at its best.
 *
 * Keys are 34 bytes laid out like the store's cell keys
 * (token(8) | len(2) | pk(10) | 0x40 | ck(7) | column suffix(6)), one row
 * per partition, so consecutive rows land at random places in the key
 * space exactly as Murmur3-token-prefixed rows do; values are 100 random
 * (incompressible) bytes, a different value per row.  Phases, each on a
 * fresh database:
 *
 *   put      rows 0..n-1, one rocksdb_put per row, one thread (the old floor)
 *   putb1    rows 0..n-1 in WriteBatches of `batch` rows, one thread
 *   putb     the same from `threads` threads (thread i writes the batches
 *            i, i+threads, ...); the database this leaves is read below
 *   warm     every key read once (brings SST blocks into the block cache)
 *   get1     `gets` rocksdb_get of uniformly random existing keys, one thread
 *   get2     the same on 2 threads (gets/2 each), total ops over wall time
 *
 * Every get must find its key (a miss aborts the run).  Output is one
 * "name value" line per figure (ops/s), easy to parse from a script:
 *
 *   raw_put_ops 131234       one thread, unbatched (old floor)
 *   raw_putb1_ops 201234     one thread, batches
 *   raw_putb_ops 263456      `threads` threads, batches
 *   raw_put_threads 2
 *   raw_put_batch 64
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

/* Value of row i: 100 bytes from a generator seeded by i (incompressible,
 * reproducible, independent of the writing thread). */
static void raw_value(uint64_t i, char *val) {
    uint64_t vs = (i + 1) * 0xD1B54A32D192ED03ull;
    for (int b = 0; b < VALUE_SIZE; b += 8) {
        uint64_t r = xr(&vs);
        memcpy(val + b, &r, VALUE_SIZE - b < 8 ? (size_t)(VALUE_SIZE - b) : 8);
    }
}

typedef struct opened {
    rocksdb_options_t *o;
    rocksdb_block_based_table_options_t *bb;
    rocksdb_cache_t *cache;
    rocksdb_t *db;
} opened;

static int db_open(const char *dir, opened *d) {
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", dir, dir);
    if (system(cmd) != 0) return -1;
    d->o = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(d->o, 1);
    d->cache = rocksdb_cache_create_lru(64 << 20);
    d->bb = rocksdb_block_based_options_create();
    rocksdb_block_based_options_set_block_cache(d->bb, d->cache);
    rocksdb_block_based_options_set_filter_policy(d->bb, rocksdb_filterpolicy_create_bloom_full(10));
    rocksdb_options_set_block_based_table_factory(d->o, d->bb);
    /* as the store (storage/store.c): no compression in L0/L1, LZ4 below */
    int comp[7] = {rocksdb_no_compression, rocksdb_no_compression, rocksdb_lz4_compression,
                   rocksdb_lz4_compression, rocksdb_lz4_compression, rocksdb_lz4_compression,
                   rocksdb_lz4_compression};
    rocksdb_options_set_compression_per_level(d->o, comp, 7);
    rocksdb_options_set_write_buffer_size(d->o, 64 << 20);
    rocksdb_options_set_max_background_jobs(d->o, 2);
    char *err = NULL;
    d->db = rocksdb_open(d->o, dir, &err);
    if (err) {
        fprintf(stderr, "raw open: %s\n", err);
        free(err);
        return -1;
    }
    return 0;
}

static void db_close(const char *dir, opened *d) {
    rocksdb_close(d->db);
    rocksdb_options_destroy(d->o);
    rocksdb_block_based_options_destroy(d->bb);
    rocksdb_cache_destroy(d->cache);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "raw: could not remove %s\n", dir);
}

typedef struct putter {
    rocksdb_t *db;
    uint64_t n, batch, first, stride; /* batches first, first+stride, ... */
    int failed;
} putter;

static void *put_thread(void *arg) {
    putter *p = arg;
    rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
    rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
    char k[40], val[VALUE_SIZE + 8];
    uint64_t nb = (p->n + p->batch - 1) / p->batch;
    for (uint64_t bi = p->first; bi < nb && !p->failed; bi += p->stride) {
        uint64_t lo = bi * p->batch, hi = lo + p->batch < p->n ? lo + p->batch : p->n;
        char *err = NULL;
        if (p->batch == 1) {
            raw_value(lo, val);
            rocksdb_put(p->db, wo, k, raw_key(lo, k), val, VALUE_SIZE, &err);
        } else {
            rocksdb_writebatch_clear(wb);
            for (uint64_t i = lo; i < hi; i++) {
                raw_value(i, val);
                rocksdb_writebatch_put(wb, k, raw_key(i, k), val, VALUE_SIZE);
            }
            rocksdb_write(p->db, wo, wb, &err);
        }
        if (err) {
            fprintf(stderr, "raw put: %s\n", err);
            free(err);
            p->failed = 1;
        }
    }
    rocksdb_writebatch_destroy(wb);
    rocksdb_writeoptions_destroy(wo);
    return NULL;
}

/* Writes rows 0..n-1 in batches of `batch` from `threads` threads; ops/s. */
static double run_puts(rocksdb_t *db, uint64_t n, uint64_t batch, int threads) {
    pthread_t th[16];
    putter p[16];
    double t0 = now_s();
    for (int i = 0; i < threads; i++) {
        p[i] = (putter){db, n, batch, (uint64_t)i, (uint64_t)threads, 0};
        if (pthread_create(&th[i], NULL, put_thread, &p[i])) exit(1);
    }
    int failed = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(th[i], NULL);
        failed |= p[i].failed;
    }
    double dt = now_s() - t0;
    if (failed) exit(1);
    return dt > 0 ? (double)n / dt : 0;
}

int main(int argc, char **argv) {
    uint64_t n = 1000000, gets = 500000, batch = 64;
    int threads = 2;
    const char *dir = "/tmp/bs_bench_rawdb";
    int c;
    while ((c = getopt(argc, argv, "n:g:t:b:d:")) != -1) {
        switch (c) {
        case 'n': n = strtoull(optarg, NULL, 10); break;
        case 'g': gets = strtoull(optarg, NULL, 10); break;
        case 't': threads = atoi(optarg); break;
        case 'b': batch = strtoull(optarg, NULL, 10); break;
        case 'd': dir = optarg; break;
        default:
            fprintf(stderr, "usage: %s [-n rows] [-g gets] [-t writer threads] [-b batch] [-d dir]\n",
                    argv[0]);
            return 2;
        }
    }
    if (n == 0) n = 1;
    if (gets < 2) gets = 2;
    if (threads < 1) threads = 1;
    if (threads > 16) threads = 16;
    if (batch < 1) batch = 1;
    g_n = n;

    /* the old floor, then batches on one thread, each on a fresh database */
    opened d;
    if (db_open(dir, &d)) return 1;
    printf("raw_put_ops %.0f\n", run_puts(d.db, n, 1, 1));
    fflush(stdout);
    db_close(dir, &d);
    if (db_open(dir, &d)) return 1;
    printf("raw_putb1_ops %.0f\n", run_puts(d.db, n, batch, 1));
    fflush(stdout);
    db_close(dir, &d);
    /* as basaltd writes; this database is the one read below */
    if (db_open(dir, &d)) return 1;
    printf("raw_putb_ops %.0f\nraw_put_threads %d\nraw_put_batch %llu\n",
           run_puts(d.db, n, batch, threads), threads, (unsigned long long)batch);
    fflush(stdout);
    g_db = d.db;
    g_ro = rocksdb_readoptions_create();

    /* warm: every key once (not timed) */
    char k[40];
    for (uint64_t i = 0; i < n; i++) {
        size_t kl = raw_key(i, k), vl = 0;
        char *err = NULL;
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

    rocksdb_readoptions_destroy(g_ro);
    db_close(dir, &d);
    return 0;
}
