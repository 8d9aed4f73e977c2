/*
 * bench_stream.c - the receiving side of a streamed range: how fast the
 * chunks a source sends (repair/stream.c, the same 256 KiB checksummed
 * chunks, built here from a real store by bs_store_iterate_range) are
 * loaded into a fresh table, three ways, same data, same run:
 *
 *   batch      bs_stream_chunk_apply: each chunk checked, then one
 *              write batch of LWW merges (the path a node uses today)
 *   sst/chunk  each chunk checked, written to an SST file of merge
 *              operands and ingested (bs_store_ingest_raw): one file per
 *              chunk
 *   sst/range  every chunk of the range into one SST file, ingested once
 *              (what a receiver buffering a whole range on disk would do)
 *
 * Each method's time includes a flush of the table at the end, so every
 * method ends with its data in SST files (ingestion writes files; a batch
 * leaves it in the memtable and the WAL).  The methods run in ROUNDS
 * rounds whose order rotates, each on a fresh store, so load from
 * elsewhere hits all alike; a method's figure is its total bytes over its
 * total time.  Every target is checked to hold all the records.
 *
 *   bench_stream [-n rows] [-d dir]
 * No assertions on speed: a measurement, run by scripts/bench-stream.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/error.h"
#include "repair/stream.h"
#include "ring/murmur3.h"
#include "storage/store.h"

#define VALUE_SIZE 100
#define ROWS_PER_PART 10
#define CHUNK_BYTES (256 * 1024)
#define ROUNDS 3
#define NMETHODS 3

static const char *const g_names[NMETHODS] = {"batch", "sst/chunk", "sst/range"};

typedef struct chunks {
    bs_buf *c;
    size_t n, cap;
    bs_stream_chunk cur;
    uint64_t records, bytes;
} chunks;

static double now_s(void) { return (double)bs_clock_mono_ns() / 1e9; }

static int finish_chunk(chunks *cs) {
    if (!cs->cur.count) return 0;
    if (bs_stream_chunk_finish(&cs->cur)) return BS_ENOMEM;
    if (cs->n == cs->cap) {
        size_t nc = cs->cap ? cs->cap * 2 : 256;
        bs_buf *p = realloc(cs->c, nc * sizeof *p);
        if (!p) return BS_ENOMEM;
        cs->c = p;
        cs->cap = nc;
    }
    cs->c[cs->n++] = cs->cur.b; /* the buffer moves to the list */
    bs_stream_chunk_init(&cs->cur);
    return 0;
}

static int chunk_cb(void *ud, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl) {
    chunks *cs = ud;
    int rc = bs_stream_chunk_add(&cs->cur, k, kl, v, vl);
    cs->records++;
    cs->bytes += kl + vl;
    if (!rc && cs->cur.b.len >= CHUNK_BYTES) rc = finish_chunk(cs);
    return rc;
}

/* n rows into a source table, then its whole ring as chunks. */
static int make_chunks(const char *dir, uint64_t n, chunks *cs) {
    bs_store_opts so;
    bs_store_opts_default(&so);
    bs_store *s;
    bs_table *t;
    bs_batch *b;
    if (bs_store_open(dir, &so, &s) || bs_store_table_open(s, "bench.t", NULL, &t) ||
        bs_batch_new(s, &b))
        return -1;
    uint64_t seed = 88172645463325252ULL;
    char val[VALUE_SIZE];
    for (uint64_t i = 0; i < n; i++) {
        char pk[24], ck[16];
        snprintf(pk, sizeof pk, "part%010llu", (unsigned long long)(i / ROWS_PER_PART));
        snprintf(ck, sizeof ck, "r%06llu", (unsigned long long)(i % ROWS_PER_PART));
        for (int j = 0; j < VALUE_SIZE; j++) {
            seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
            val[j] = (char)('a' + seed % 26);
        }
        bs_rowkey r = {bs_ring_partition_token(pk, strlen(pk)), pk, strlen(pk), ck, strlen(ck), 0};
        if (i % 1000 == 0) bs_batch_clear(b);
        if (bs_batch_put_cell(b, t, &r, 1, NULL, 0, val, VALUE_SIZE, 1000 + (int64_t)i, 0))
            return -1;
        if ((i % 1000 == 999 || i == n - 1) && bs_store_write(s, b)) return -1;
    }
    bs_batch_free(b);
    memset(cs, 0, sizeof *cs);
    bs_stream_chunk_init(&cs->cur);
    int rc = bs_store_iterate_range(t, INT64_MIN, INT64_MAX, chunk_cb, cs);
    if (rc >= 0) rc = finish_chunk(cs);
    bs_stream_chunk_free(&cs->cur);
    bs_store_close(s);
    return rc < 0 ? rc : 0;
}

/* A cursor over the records of chunks [i, end) (bs_store_raw_iter). */
typedef struct cursor {
    const chunks *cs;
    size_t i, end;
    size_t pos; /* in chunk i; 0: not started */
} cursor;

static int next_rec(void *ud, const uint8_t **k, size_t *kl, const uint8_t **v, size_t *vl) {
    cursor *c = ud;
    for (;;) {
        if (c->i >= c->end) return 0;
        const bs_buf *b = &c->cs->c[c->i];
        if (!c->pos) {
            if (bs_stream_chunk_walk(b->data, b->len, NULL, NULL)) return BS_ECORRUPT;
            c->pos = 8;
        }
        if (c->pos >= b->len - 8) { /* the checksum trailer: next chunk */
            c->i++;
            c->pos = 0;
            continue;
        }
        uint32_t a = bs_get_u32(b->data + c->pos);
        *k = b->data + c->pos + 4;
        *kl = a;
        uint32_t d = bs_get_u32(b->data + c->pos + 4 + a);
        *v = b->data + c->pos + 8 + a;
        *vl = d;
        c->pos += 8 + (size_t)a + d;
        return 1;
    }
}

static int count_cb(void *ud, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl) {
    (void)k, (void)kl, (void)v, (void)vl;
    (*(uint64_t *)ud)++;
    return 0;
}

/* Loads every chunk into a fresh store in dir with method m; its time. */
static double run(int m, const char *dir, const chunks *cs, uint64_t *got) {
    bs_store_opts so;
    bs_store_opts_default(&so);
    bs_store *s;
    bs_table *t;
    if (bs_store_open(dir, &so, &s) || bs_store_table_open(s, "bench.t", NULL, &t)) return -1;
    double t0 = now_s();
    int rc = 0;
    if (m == 0) {
        for (size_t i = 0; i < cs->n && !rc; i++)
            rc = bs_stream_chunk_apply(s, t, cs->c[i].data, cs->c[i].len, NULL, NULL);
    } else if (m == 1) {
        for (size_t i = 0; i < cs->n && !rc; i++) {
            cursor c = {cs, i, i + 1, 0};
            rc = bs_store_ingest_raw(t, next_rec, &c, NULL, NULL);
        }
    } else {
        cursor c = {cs, 0, cs->n, 0};
        rc = bs_store_ingest_raw(t, next_rec, &c, NULL, NULL);
    }
    if (!rc) rc = bs_store_flush(s, t);
    double dt = now_s() - t0;
    if (rc) fprintf(stderr, "%s: %s (%s)\n", g_names[m], bs_strerror(rc), bs_store_errmsg());
    *got = 0;
    if (!rc && bs_store_iterate_range(t, INT64_MIN, INT64_MAX, count_cb, got) < 0) rc = -1;
    bs_store_close(s);
    return rc ? -1 : dt;
}

int main(int argc, char **argv) {
    uint64_t n = 1000000;
    const char *base = "/tmp";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "-n")) n = strtoull(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "-d")) base = argv[i + 1];
    }
    char root[4096], dir[4200];
    snprintf(root, sizeof root, "%s/bench_stream_XXXXXX", base);
    if (!mkdtemp(root)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(dir, sizeof dir, "%s/src", root);
    chunks cs;
    if (make_chunks(dir, n, &cs)) {
        fprintf(stderr, "source: %s\n", bs_store_errmsg());
        return 1;
    }
    printf("range: %llu rows, %llu records, %.1f MB in %zu chunks of <= %d KiB\n",
           (unsigned long long)n, (unsigned long long)cs.records, cs.bytes / 1e6, cs.n,
           CHUNK_BYTES / 1024);
    double tot[NMETHODS] = {0};
    for (int r = 0; r < ROUNDS; r++)
        for (int k = 0; k < NMETHODS; k++) {
            int m = (k + r) % NMETHODS;
            uint64_t got = 0;
            snprintf(dir, sizeof dir, "%s/dst%d-%d", root, r, m);
            double dt = run(m, dir, &cs, &got);
            if (dt < 0 || got != cs.records) {
                fprintf(stderr, "%s: failed (%llu of %llu records)\n", g_names[m],
                        (unsigned long long)got, (unsigned long long)cs.records);
                return 1;
            }
            tot[m] += dt;
            printf("  round %d %-9s %7.1f MB/s\n", r + 1, g_names[m], cs.bytes / 1e6 / dt);
        }
    for (int m = 0; m < NMETHODS; m++)
        printf("%-9s %7.1f MB/s  (%.2fx batch)\n", g_names[m], ROUNDS * cs.bytes / 1e6 / tot[m],
               tot[0] / tot[m]);
    char cmd[4300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    return system(cmd) ? 1 : 0;
}
