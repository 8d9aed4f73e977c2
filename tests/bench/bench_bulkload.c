/*
 * bench_bulkload.c - the raw RocksDB bulk load that scripts/bench-join-load
 * compares streaming with: n rows of a `value`-byte value each loaded into
 * a fresh database on the disk under test, the fastest straightforward
 * way (WriteBatches of `batch` puts, WAL off, one thread, then a flush
 * that waits for the memtables to reach SST files), with the store's
 * RocksDB options (storage/store.c: LZ4 below L1, full bloom 10 bits/key,
 * 64 MiB memtable, 2 background jobs).  The clock runs from the open to
 * the end of the flush; compactions the flush triggers may still run.
 *
 *   bench_bulkload [-n rows] [-v value bytes] [-b batch] [-d dir]
 *
 * Rows are shaped like basalt-stress's (table standard1: an 8-byte
 * partition key, an int clustering column, one blob column v), one cell
 * key per row laid out like the store's
 * (token(8) | len(2) | pk(8) | 0x40 | ck(4) | column suffix(6)), so the
 * rows arrive in random key order as Murmur3-token-prefixed rows do;
 * values are random (incompressible) bytes, a different value per row.
 * The database is removed afterwards.  Output, one "name value" a line:
 *
 *   bulk_rows 2000000
 *   bulk_bytes 2116000000      keys + values
 *   bulk_seconds 9.81          open .. flushed
 *   bulk_mbps 215.7            bulk_bytes / bulk_seconds / 1e6
 *
 * Not a test: timings are never asserted anywhere.
 */
#include <rocksdb/c.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"

#define KEY_LEN 29

static double now_s(void) { return (double)bs_clock_mono_ns() / 1e9; }

static uint64_t xr(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* The 29-byte cell key of row i (see the comment at the top). */
static void bulk_key(uint64_t i, uint8_t *k) {
    uint64_t t = (i * 0x9E3779B97F4A7C15ull) ^ 0x8000000000000000ull;
    for (int b = 0; b < 8; b++) k[b] = (uint8_t)(t >> (56 - 8 * b));
    k[8] = 0;
    k[9] = 8;
    for (int b = 0; b < 8; b++) k[10 + b] = (uint8_t)(i >> (56 - 8 * b));
    k[18] = 0x40;
    memset(k + 19, 0, 4);
    memcpy(k + 23, "\x02\x00\x01\x00\x00\x07", 6);
}

static int die(const char *what, char *err) {
    fprintf(stderr, "bulkload: %s: %s\n", what, err);
    free(err);
    return 1;
}

int main(int argc, char **argv) {
    uint64_t n = 1000000, batch = 1000;
    int vsize = 1024;
    const char *dir = "/tmp/bs_bench_bulkload";
    int c;
    while ((c = getopt(argc, argv, "n:v:b:d:")) != -1) {
        switch (c) {
        case 'n': n = strtoull(optarg, NULL, 10); break;
        case 'v': vsize = atoi(optarg); break;
        case 'b': batch = strtoull(optarg, NULL, 10); break;
        case 'd': dir = optarg; break;
        default:
            fprintf(stderr, "usage: %s [-n rows] [-v value bytes] [-b batch] [-d dir]\n", argv[0]);
            return 2;
        }
    }
    if (n == 0) n = 1;
    if (batch < 1) batch = 1;
    if (vsize < 1 || vsize > (1 << 20)) {
        fprintf(stderr, "bulkload: -v must be 1..1048576\n");
        return 2;
    }
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", dir, dir);
    if (system(cmd) != 0) return 1;

    uint8_t *val = malloc((size_t)vsize + 8);
    if (!val) return 1;
    double t0 = now_s();
    rocksdb_options_t *o = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(o, 1);
    rocksdb_cache_t *cache = rocksdb_cache_create_lru(64 << 20);
    rocksdb_block_based_table_options_t *bb = rocksdb_block_based_options_create();
    rocksdb_block_based_options_set_block_cache(bb, cache);
    rocksdb_block_based_options_set_filter_policy(bb, rocksdb_filterpolicy_create_bloom_full(10));
    rocksdb_options_set_block_based_table_factory(o, bb);
    int comp[7] = {rocksdb_no_compression, rocksdb_no_compression, rocksdb_lz4_compression,
                   rocksdb_lz4_compression, rocksdb_lz4_compression, rocksdb_lz4_compression,
                   rocksdb_lz4_compression};
    rocksdb_options_set_compression_per_level(o, comp, 7);
    rocksdb_options_set_write_buffer_size(o, 64 << 20);
    rocksdb_options_set_max_background_jobs(o, 2);
    char *err = NULL;
    rocksdb_t *db = rocksdb_open(o, dir, &err);
    if (err) return die("open", err);
    rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
    rocksdb_writeoptions_disable_WAL(wo, 1);
    rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
    uint8_t k[KEY_LEN];
    uint64_t vs = 0xD1B54A32D192ED03ull;
    for (uint64_t lo = 0; lo < n; lo += batch) {
        uint64_t hi = lo + batch < n ? lo + batch : n;
        rocksdb_writebatch_clear(wb);
        for (uint64_t i = lo; i < hi; i++) {
            for (int b = 0; b < vsize; b += 8) {
                uint64_t r = xr(&vs);
                memcpy(val + b, &r, 8);
            }
            bulk_key(i, k);
            rocksdb_writebatch_put(wb, (const char *)k, KEY_LEN, (const char *)val,
                                   (size_t)vsize);
        }
        rocksdb_write(db, wo, wb, &err);
        if (err) return die("write", err);
    }
    rocksdb_flushoptions_t *fo = rocksdb_flushoptions_create();
    rocksdb_flushoptions_set_wait(fo, 1);
    rocksdb_flush(db, fo, &err);
    if (err) return die("flush", err);
    double dt = now_s() - t0;
    uint64_t bytes = n * (uint64_t)(KEY_LEN + vsize);
    printf("bulk_rows %llu\nbulk_bytes %llu\nbulk_seconds %.3f\nbulk_mbps %.1f\n",
           (unsigned long long)n, (unsigned long long)bytes, dt,
           dt > 0 ? (double)bytes / dt / 1e6 : 0);

    rocksdb_flushoptions_destroy(fo);
    rocksdb_writebatch_destroy(wb);
    rocksdb_writeoptions_destroy(wo);
    rocksdb_close(db);
    rocksdb_options_destroy(o);
    rocksdb_block_based_options_destroy(bb);
    rocksdb_cache_destroy(cache);
    free(val);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "bulkload: could not remove %s\n", dir);
    return 0;
}
