/*
 * bench_ring.c - ring micro-benchmarks (run by scripts/bench-ring).
 *
 *   1. replica lookups per second through a replica map (binary search +
 *      array read) on a 12-node, 16-vnode ring (balanced tokens):
 *      SimpleStrategy RF=3 and NTS with 2 DCs x 6 nodes (3 racks each),
 *      {dc1: 3, dc2: 3};
 *   2. the same without the map (walking the ring per lookup), to show
 *      what the map saves;
 *   3. Murmur3 tokens per second for 16-byte keys.
 * Usage: bench_ring [iterations_millions]   (default 4)
 * Output: one "name: value unit" line per figure.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ring/alloc.h"
#include "ring/murmur3.h"
#include "ring/strategy.h"
#include "ring/tokenmeta.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static bs_ring_snapshot *make_ring(const bs_ring_strategy *st, int two_dcs) {
    bs_ring_builder *b;
    bs_ring_snapshot *s = NULL;
    if (bs_ring_builder_new(&b)) exit(1);
    for (int i = 0; i < 12; i++) {
        char ep[32], dc[8], rack[8];
        snprintf(ep, sizeof ep, "10.0.0.%d:7000", i + 1);
        snprintf(dc, sizeof dc, "dc%d", two_dcs ? 1 + i % 2 : 1);
        snprintf(rack, sizeof rack, "r%d", two_dcs ? (i / 2) % 3 : 0);
        int64_t toks[16];
        if (bs_ring_tokens_balanced(s, st, dc, rack, 16, toks)) exit(1);
        bs_ring_node_desc d = {{{0}}, ep, dc, rack, toks, 16};
        d.host_id.b[15] = (uint8_t)(i + 1);
        if (bs_ring_builder_add_node(b, &d)) exit(1);
        bs_ring_snapshot_release(s);
        if (bs_ring_builder_build(b, &s)) exit(1);
    }
    bs_ring_builder_free(b);
    return s;
}

static void bench_lookups(const char *name, const bs_ring_strategy *st,
                          int two_dcs, long iters, const int64_t *toks,
                          long ntoks) {
    bs_ring_snapshot *s = make_ring(st, two_dcs);
    bs_ring_replica_map *m;
    if (bs_ring_replica_map_build(s, st, &m)) exit(1);
    uint64_t sink = 0;
    double t0 = now_s();
    for (long i = 0; i < iters; i++) {
        const uint32_t *r;
        size_t n;
        bs_ring_replica_map_lookup(m, toks[i % ntoks], &r, &n);
        sink += r[n - 1];
    }
    double dt = now_s() - t0;
    printf("replica lookups/s (map, %s): %.1f M\n", name, iters / dt / 1e6);
    long walk_iters = iters / 8;
    uint32_t out[16];
    t0 = now_s();
    for (long i = 0; i < walk_iters; i++) {
        size_t n;
        bs_ring_replicas(s, st, toks[i % ntoks], out, 16, &n);
        sink += out[0];
    }
    dt = now_s() - t0;
    printf("replica lookups/s (walk, no map, %s): %.2f M\n", name,
           walk_iters / dt / 1e6);
    if (sink == 42) printf(" ");
    bs_ring_replica_map_release(m);
    bs_ring_snapshot_release(s);
}

int main(int argc, char **argv) {
    long millions = argc > 1 ? atol(argv[1]) : 4;
    if (millions < 1) millions = 1;
    long iters = millions * 1000000L, ntoks = 1 << 16;
    int64_t *toks = malloc((size_t)ntoks * sizeof(int64_t));
    uint64_t rng = 1;
    for (long i = 0; i < ntoks; i++) toks[i] = (int64_t)bs_ring_rng_next(&rng);

    bs_ring_strategy *simple, *nts;
    bs_ring_strategy_simple(3, &simple);
    const char *dcs[2] = {"dc1", "dc2"};
    bs_ring_strategy_nts(dcs, (uint32_t[]){3, 3}, 2, &nts);
    printf("ring: 12 nodes x 16 vnodes, balanced tokens\n");
    bench_lookups("SimpleStrategy RF=3", simple, 0, iters, toks, ntoks);
    bench_lookups("NTS 2 DCs x RF 3", nts, 1, iters, toks, ntoks);

    /* Murmur3 of 16-byte keys */
    uint8_t keys[256][16];
    for (int i = 0; i < 256; i++)
        for (int j = 0; j < 16; j++) keys[i][j] = (uint8_t)bs_ring_rng_next(&rng);
    int64_t acc = 0;
    double t0 = now_s();
    for (long i = 0; i < iters; i++) {
        keys[i & 255][0] ^= (uint8_t)i;
        acc += bs_ring_token(keys[i & 255], 16);
    }
    double dt = now_s() - t0;
    printf("murmur3 tokens/s (16-byte keys): %.1f M (%.1f ns each)\n",
           iters / dt / 1e6, dt / iters * 1e9);
    if (acc == 42) printf(" ");
    bs_ring_strategy_free(simple);
    bs_ring_strategy_free(nts);
    free(toks);
    return 0;
}
