/*
 * bench_repair.c - anti-entropy repair time and bytes (issue 8).
 *
 *   bench_repair [rows] [divergence% ...]     defaults: 1000000  0 1 10
 *
 * Three in-process nodes (bs_local + bs_msg on 127.0.0.1 + bs_repair,
 * static ring, 16 vnodes each, keyspace rf 3) - the same wiring as
 * tests/unit/node/test_repair.c, so the figures are the repair's own
 * (Merkle builds, digests, streaming over loopback TCP with lz4), not the
 * write path's.  For each divergence d: every row (row marker + one
 * 16-byte text cell) is written to all three stores; then on node C a
 * fraction d of the rows is left with an older version (the others get
 * an update at a later timestamp), as if C had missed those updates.  A
 * repair session runs on node A; the report's figures and the wall time
 * are printed, then a second run (must stream nothing).  Memtables are
 * flushed before repair so bs_store_approx_size sees the data.
 */
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/error.h"
#include "node/repair.h"
#include "repair/merkle.h"
#include "ring/murmur3.h"
#include "ring/tokenmeta.h"
#include "storage/store.h"

#define N 3

typedef struct fake_mem {
    bs_ring_snapshot *ring;
    bs_uuid host[N];
    bs_msg_peer peer[N];
} fake_mem;

typedef struct node {
    char dir[128];
    bs_config cfg;
    bs_local *local;
    bs_msg *msg;
    bs_repair *rep;
    bs_table *t;
} node;

static fake_mem g_mem;
static node g_n[N];
static uint16_t g_vid;

static bs_ring_snapshot *m_ring(void *ud) {
    return bs_ring_snapshot_retain(((fake_mem *)ud)->ring);
}
static int m_alive(void *ud, const bs_uuid *h) {
    (void)ud;
    (void)h;
    return 1;
}
static int m_endpoint(void *ud, const bs_uuid *h, bs_msg_peer *out) {
    fake_mem *m = ud;
    for (int i = 0; i < N; i++)
        if (!memcmp(m->host[i].b, h->b, 16)) {
            *out = m->peer[i];
            return 0;
        }
    return BS_ENOTFOUND;
}

static int rm_cb(const char *p, const struct stat *sb, int flag,
                 struct FTW *f) {
    (void)sb;
    (void)flag;
    (void)f;
    return remove(p);
}

static void die(const char *what, int rc) {
    fprintf(stderr, "bench_repair: %s: %s\n", what, bs_strerror(rc));
    exit(1);
}

static bs_type k_text = {.kind = BS_TYPE_VARCHAR};

static void start(void) {
    bs_ring_builder *b;
    if (bs_ring_builder_new(&b)) die("ring", BS_ENOMEM);
    for (int i = 0; i < N; i++) {
        node *n = &g_n[i];
        memset(n, 0, sizeof *n);
        snprintf(n->dir, sizeof n->dir, "/tmp/bs_bench_repair_XXXXXX");
        if (!mkdtemp(n->dir)) die("mkdtemp", BS_EIO);
        bs_config_init(&n->cfg);
        char err[256];
        if (bs_config_set(&n->cfg, "data_directory", n->dir, err, sizeof err) ||
            bs_config_set(&n->cfg, "num_tokens", "16", err, sizeof err) ||
            bs_local_open(&n->cfg, &n->local, err, sizeof err)) {
            fprintf(stderr, "bench_repair: %s\n", err);
            exit(1);
        }
        bs_exec_backend be;
        bs_local_backend(n->local, &be);
        bs_schema *cur = be.schema_get(be.ud);
        bs_schema *s = bs_schema_clone(cur);
        bs_schema_release(cur);
        const char *k[] = {"replication_factor"}, *v3[] = {"3"};
        bs_column_def d[2] = {{"k", &k_text, BS_COL_PARTITION_KEY, 0, 0},
                              {"v", &k_text, BS_COL_REGULAR, -1, 0}};
        bs_uuid id;
        memset(id.b, 0x11, 16);
        bs_exec_err e;
        memset(&e, 0, sizeof e);
        if (bs_schema_create_keyspace(s, "ks", "SimpleStrategy", 1, k, v3, 1, 1,
                                      err, sizeof err) ||
            bs_schema_create_table(s, "ks", "t", &id, d, 2, NULL, 0, 1, err,
                                   sizeof err) ||
            be.schema_apply(be.ud, s, NULL, &e))
            die("schema", BS_EINVAL);
        s = be.schema_get(be.ud);
        g_vid = bs_table_column(bs_schema_table(s, "ks", "t"), "v")->id;
        bs_schema_release(s);
        if (bs_store_table_get(bs_local_store(n->local), "ks.t", &n->t))
            die("table", BS_ENOTFOUND);
        bs_local_host_id(n->local, &g_mem.host[i]);
        const int64_t *toks;
        size_t nt = bs_local_tokens(n->local, &toks);
        char ep[32];
        snprintf(ep, sizeof ep, "node%d", i);
        bs_ring_node_desc nd = {g_mem.host[i], ep, "dc1", "rack1", toks, nt};
        if (bs_ring_builder_add_node(b, &nd)) die("ring node", BS_EINVAL);
    }
    if (bs_ring_builder_build(b, &g_mem.ring)) die("ring build", BS_EINVAL);
    bs_ring_builder_free(b);
    bs_coord_membership mem = {&g_mem, m_ring, NULL, m_alive, m_endpoint};
    for (int i = 0; i < N; i++) {
        bs_msg_opts o;
        bs_msg_opts_default(&o);
        o.secret = (const uint8_t *)"unit-test cluster secret";
        o.secret_len = 24;
        o.cluster_name = "bench";
        bs_local_host_id(g_n[i].local, &o.host_id);
        o.listen_address = "127.0.0.1";
        int rc = bs_msg_start(&o, &g_n[i].msg);
        if (rc) die("msg", rc);
        bs_msg_local(g_n[i].msg, &g_mem.peer[i]);
    }
    for (int i = 0; i < N; i++) {
        int rc =
            bs_repair_new(NULL, g_n[i].local, g_n[i].msg, &mem, &g_n[i].rep);
        if (rc) die("repair", rc);
    }
}

static void stop(void) {
    for (int i = 0; i < N; i++)
        bs_repair_stop(g_n[i].rep);
    for (int i = 0; i < N; i++)
        bs_msg_stop(g_n[i].msg);
    for (int i = 0; i < N; i++) {
        bs_repair_free(g_n[i].rep);
        bs_local_close(g_n[i].local);
        bs_config_free(&g_n[i].cfg);
        nftw(g_n[i].dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    }
    bs_ring_snapshot_release(g_mem.ring);
}

/* rows [0, nrows) at ts; with `stale` != NULL only rows where stale[k]
 * == want are written. */
static void load(int i, long nrows, int64_t ts, const char *tag,
                 const uint8_t *stale, int want) {
    bs_store *s = bs_local_store(g_n[i].local);
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
        if (bs_batch_row_marker(b, g_n[i].t, &rk, ts, 0) ||
            bs_batch_put_cell(b, g_n[i].t, &rk, g_vid, NULL, 0, v, (size_t)vl,
                              ts, 0))
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
    int rc = bs_repair_run(g_n[0].rep, &o, rep);
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
