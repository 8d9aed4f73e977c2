/*
 * bench_repair.c - anti-entropy repair time and bytes (issue 8).
 *
 *   bench_repair [rows] [divergence% ...]     defaults: 1000000  0 1 10
 *
 * Three in-process nodes of the shared harness (tests/harness/nnode.h:
 * bs_local + bs_msg on 127.0.0.1, static ring, 16 vnodes each) running a
 * bs_repair each, keyspace rf 3 - the same wiring as
 * tests/unit/repair/test_session.c, so the figures are the repair's own
 * (Merkle builds, digests, streaming over loopback TCP with lz4), not the
 * write path's.  For each divergence d: every row (row marker + one
 * 16-byte text cell) is written to all three stores; then on node C a
 * fraction d of the rows is left with an older version (the others get
 * an update at a later timestamp), as if C had missed those updates.  A
 * repair session runs on node A; the report's figures and the wall time
 * are printed, then a second run (must stream nothing).  Memtables are
 * flushed before repair so bs_store_approx_size sees the data.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/error.h"
#include "repair/merkle.h"
#include "repair/session.h"
#include "ring/murmur3.h"
#include "ring/tokenmeta.h"
#include "storage/store.h"
#include "tests/harness/nnode.h"

#define N 3

/* Table ks.t of each node (the nodes and their repair services: g_c). */
static bs_nnode g_c;
static bs_table *g_t[N];
static uint16_t g_vid;

static void die(const char *what, int rc) {
    fprintf(stderr, "bench_repair: %s: %s (%s)\n", what, bs_strerror(rc),
            g_c.err);
    exit(1);
}

static void start(void) {
    bs_nnode_opts o;
    bs_nnode_opts_default(&o);
    o.n = N;
    o.num_tokens = 16;
    o.cluster_name = "bench";
    o.dir_prefix = "/tmp/bs_bench_repair_";
    o.reconnect_max_ms = 4000;
    int rc = bs_nnode_start(&g_c, &o);
    if (!rc) rc = bs_nnode_create_table(&g_c, "ks", 3, 0x11);
    if (rc) die("start", rc);
    int vid = bs_nnode_vcol(&g_c, "ks");
    if (vid < 0) die("column v", BS_ENOTFOUND);
    g_vid = (uint16_t)vid;
    for (int i = 0; i < N; i++)
        if (bs_store_table_get(bs_local_store(g_c.node[i].local), "ks.t",
                               &g_t[i]))
            die("table", BS_ENOTFOUND);
    if ((rc = bs_nnode_start_repair(&g_c, NULL))) die("repair", rc);
}

static void stop(void) {
    bs_nnode_stop(&g_c);
}

/* rows [0, nrows) at ts; with `stale` != NULL only rows where stale[k]
 * == want are written. */
static void load(int i, long nrows, int64_t ts, const char *tag,
                 const uint8_t *stale, int want) {
    bs_store *s = bs_local_store(g_c.node[i].local);
    bs_batch *b;
    if (bs_batch_new(s, &b)) die("batch", BS_ENOMEM);
    for (long k = 0; k < nrows; k++) {
        if (stale && stale[k] != want) continue;
        char pk[24], v[24];
        int pl = snprintf(pk, sizeof pk, "key%ld", k);
        int vl = snprintf(v, sizeof v, "%s-%010ld", tag, k);
        bs_rowkey rk = {bs_ring_partition_token(pk, (size_t)pl),
                        pk,
                        (size_t)pl,
                        NULL,
                        0,
                        0};
        if (bs_batch_row_marker(b, g_t[i], &rk, ts, 0) ||
            bs_batch_put_cell(b, g_t[i], &rk, g_vid, NULL, 0, v, (size_t)vl, ts,
                              0))
            die("put", BS_EINVAL);
        if (bs_batch_count(b) >= 2000) {
            int rc = bs_store_write(s, b);
            if (rc) die("write", rc);
            bs_batch_clear(b);
        }
    }
    int rc = bs_store_write(s, b);
    if (rc) die("write", rc);
    bs_batch_free(b);
    bs_store_flush(s, NULL);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void run(const char *label, bs_repair_report *rep, double *secs) {
    bs_repair_run_opts o;
    memset(&o, 0, sizeof o);
    o.keyspace = "ks";
    double t0 = now_s();
    int rc = bs_repair_run(g_c.repair[0], &o, rep);
    *secs = now_s() - t0;
    if (rc) die(label, rc);
}

int main(int argc, char **argv) {
    long nrows = argc > 1 ? atol(argv[1]) : 1000000;
    double divs_dflt[] = {0, 1, 10};
    int ndiv = argc > 2 ? argc - 2 : 3;
    bs_log_set_level(BS_LOG_WARN);
    printf("| rows | divergence | ranges mismatched / compared | records "
           "differed | bytes differed | "
           "records streamed | bytes streamed | repair time | 2nd run streamed "
           "| 2nd run time |\n");
    printf("|---|---|---|---|---|---|---|---|---|---|\n");
    for (int d = 0; d < ndiv; d++) {
        double div = argc > 2 ? atof(argv[2 + d]) : divs_dflt[d];
        start();
        uint8_t *stale = calloc((size_t)nrows, 1);
        uint64_t x = 88172645463325252ull;
        for (long k = 0; k < nrows; k++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            stale[k] = (double)(x % 1000000) < div * 10000.0;
        }
        for (int i = 0; i < N; i++)
            load(i, nrows, 1000, "orig", NULL, 0);
        /* A and B get the update of the stale rows; C misses it */
        for (int i = 0; i < 2; i++)
            load(i, nrows, 2000, "updt", stale, 1);
        bs_repair_report r1, r2;
        double s1, s2;
        run("repair", &r1, &s1);
        run("second repair", &r2, &s2);
        char p1[32];
        snprintf(p1, sizeof p1, "%g%%", div);
        printf("| %ld | %s | %llu / %llu | %llu | %llu | %llu | %llu | %.2f s "
               "| %llu | %.2f s |\n",
               nrows, p1, (unsigned long long)r1.ranges_mismatched,
               (unsigned long long)r1.ranges_compared,
               (unsigned long long)r1.rows_differed,
               (unsigned long long)r1.bytes_differed,
               (unsigned long long)r1.rows_streamed,
               (unsigned long long)r1.bytes_streamed, s1,
               (unsigned long long)r2.rows_streamed, s2);
        fflush(stdout);
        free(stale);
        stop();
    }
    return 0;
}
