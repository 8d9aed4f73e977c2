/*
 * ring_test_util.h - helpers shared by the ring/ tests (header-only,
 * static functions; each test program includes it once).
 *
 *  - tc_*: random clusters (seeded): DCs "dc0".., racks "r0".., nodes
 *    with host ids derived from their number, random vnode tokens.
 *  - brute_*: an independent, deliberately naive replica placement:
 *    collect (token, node) pairs from the node descriptions, sort them,
 *    find the start by a linear scan, and place replicas DC by DC with
 *    the older Cassandra formulation of NTS (a "skipped" list of nodes
 *    from already-seen racks, appended once every rack of the DC has been
 *    seen).  It yields the same SET as the library per DC (see
 *    ring/strategy.c); tests compare sets, and the primary.
 */
#ifndef RING_TEST_UTIL_H
#define RING_TEST_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ring/alloc.h"
#include "ring/strategy.h"
#include "ring/tokenmeta.h"

/* An assertion for hot loops: Check's ck_assert_* reports every passing
 * check to the parent process (a syscall each in fork mode), which would
 * dominate property tests with millions of checks. */
#define TC_CHECK(cond)                                                     \
    do {                                                                   \
        if (!(cond)) ck_abort_msg("%s:%d: %s", __FILE__, __LINE__, #cond); \
    } while (0)

#define TC_MAX_NODES 64
#define TC_MAX_VN 64

typedef struct tc_node {
    bs_uuid id;
    char ep[32], dc[16], rack[16];
    int64_t tokens[TC_MAX_VN];
    size_t ntokens;
} tc_node;

typedef struct tc_cluster {
    tc_node nodes[TC_MAX_NODES];
    int n;
} tc_cluster;

static inline bs_uuid tc_id(int i) {
    bs_uuid u;
    memset(&u, 0, sizeof u);
    u.b[0] = 0xb5;
    u.b[14] = (uint8_t)(i >> 8);
    u.b[15] = (uint8_t)i;
    return u;
}

static inline void tc_set_node(tc_node *n, int i, int dc, int rack) {
    n->id = tc_id(i);
    snprintf(n->ep, sizeof n->ep, "127.0.%d.%d", i / 250, i % 250 + 1);
    snprintf(n->dc, sizeof n->dc, "dc%d", dc);
    snprintf(n->rack, sizeof n->rack, "r%d", rack);
    n->ntokens = 0;
}

static inline bs_ring_node_desc tc_desc(const tc_node *n) {
    bs_ring_node_desc d = {n->id, n->ep, n->dc, n->rack, n->tokens,
                           n->ntokens};
    return d;
}

static inline bs_ring_snapshot *tc_build(const tc_cluster *c) {
    bs_ring_builder *b;
    if (bs_ring_builder_new(&b)) abort();
    for (int i = 0; i < c->n; i++) {
        bs_ring_node_desc d = tc_desc(&c->nodes[i]);
        if (bs_ring_builder_add_node(b, &d)) abort();
    }
    bs_ring_snapshot *s;
    if (bs_ring_builder_build(b, &s)) abort();
    bs_ring_builder_free(b);
    return s;
}

/* ---- brute force ------------------------------------------------------ */

typedef struct bf_pair {
    int64_t t;
    int node;
} bf_pair;

typedef struct bf_strategy {
    int simple;
    int rf;           /* simple */
    int ndcs;         /* nts */
    char dcs[4][16];
    int rfs[4];
} bf_strategy;

static inline int bf_cmp(const void *a, const void *b) {
    const bf_pair *x = a, *y = b;
    return (x->t > y->t) - (x->t < y->t);
}

/* all (token, node) pairs sorted by token; returns count */
static inline int bf_pairs(const tc_cluster *c, bf_pair *out) {
    int k = 0;
    for (int i = 0; i < c->n; i++)
        for (size_t j = 0; j < c->nodes[i].ntokens; j++)
            out[k++] = (bf_pair){c->nodes[i].tokens[j], i};
    qsort(out, (size_t)k, sizeof *out, bf_cmp);
    return k;
}

static inline int bf_contains(const int *a, int n, int v) {
    for (int i = 0; i < n; i++)
        if (a[i] == v) return 1;
    return 0;
}

/* node indices that own tokens in dc, and their distinct racks */
static inline void bf_dc_counts(const tc_cluster *c, const char *dc,
                                int *nodes, int *racks) {
    char seen[TC_MAX_NODES][16];
    int ns = 0;
    *nodes = 0;
    for (int i = 0; i < c->n; i++) {
        if (strcmp(c->nodes[i].dc, dc) || c->nodes[i].ntokens == 0) continue;
        (*nodes)++;
        int f = 0;
        for (int j = 0; j < ns; j++) f |= !strcmp(seen[j], c->nodes[i].rack);
        if (!f) strcpy(seen[ns++], c->nodes[i].rack);
    }
    *racks = ns;
}

/* Replicas of token t (cluster node indices, sorted ascending for set
 * comparison); *primary = first replica met.  pairs/np from bf_pairs().
 * Returns count. */
static inline int bf_replicas(const tc_cluster *c, const bf_pair *pairs,
                              int np, const bf_strategy *st, int64_t t,
                              int *out, int *primary) {
    int k = 0;
    *primary = -1;
    if (np == 0) return 0;
    int start = 0;
    while (start < np && pairs[start].t < t) start++;
    if (start == np) start = 0;
    if (st->simple) {
        int owning = 0;
        for (int i = 0; i < c->n; i++) owning += c->nodes[i].ntokens > 0;
        int want = st->rf < owning ? st->rf : owning;
        for (int s = 0; s < np && k < want; s++) {
            int node = pairs[(start + s) % np].node;
            if (!bf_contains(out, k, node)) out[k++] = node;
        }
    } else {
        for (int d = 0; d < st->ndcs; d++) {
            int dn, dr;
            bf_dc_counts(c, st->dcs[d], &dn, &dr);
            int want = st->rfs[d] < dn ? st->rfs[d] : dn;
            int got[TC_MAX_NODES], ng = 0, skipped[TC_MAX_NODES], nsk = 0;
            char racks[TC_MAX_NODES][16];
            int nr = 0;
            for (int s = 0; s < np && ng < want; s++) {
                int node = pairs[(start + s) % np].node;
                const tc_node *nd = &c->nodes[node];
                if (strcmp(nd->dc, st->dcs[d]) || bf_contains(got, ng, node))
                    continue;
                if (nr == dr) { /* every rack seen: take anything */
                    got[ng++] = node;
                    continue;
                }
                int seen = 0;
                for (int r = 0; r < nr; r++) seen |= !strcmp(racks[r], nd->rack);
                if (seen) {
                    if (!bf_contains(skipped, nsk, node)) skipped[nsk++] = node;
                    continue;
                }
                strcpy(racks[nr++], nd->rack);
                got[ng++] = node;
                if (nr == dr)
                    for (int q = 0; q < nsk && ng < want; q++) got[ng++] = skipped[q];
            }
            for (int q = 0; q < ng; q++) out[k++] = got[q];
        }
        /* the primary is the first replica met clockwise */
        for (int s = 0; s < np && *primary < 0; s++)
            if (bf_contains(out, k, pairs[(start + s) % np].node))
                *primary = pairs[(start + s) % np].node;
    }
    if (st->simple && k) *primary = out[0];
    /* sort for set comparison */
    for (int i = 1; i < k; i++)
        for (int j = i; j > 0 && out[j - 1] > out[j]; j--) {
            int x = out[j];
            out[j] = out[j - 1];
            out[j - 1] = x;
        }
    return k;
}

static inline bs_ring_strategy *bf_make(const bf_strategy *b) {
    bs_ring_strategy *st;
    if (b->simple) {
        if (bs_ring_strategy_simple((uint32_t)b->rf, &st)) abort();
    } else {
        const char *names[4];
        uint32_t rfs[4];
        for (int i = 0; i < b->ndcs; i++) {
            names[i] = b->dcs[i];
            rfs[i] = (uint32_t)b->rfs[i];
        }
        if (bs_ring_strategy_nts(names, rfs, (size_t)b->ndcs, &st)) abort();
    }
    return st;
}

/* Random topology: 1-3 DCs, 1-4 racks each, 1-12 nodes (each DC and
 * rack drawn at random), vnodes per node from {1, 4, 8, 16} with random
 * tokens; about 1 node in 20 has no tokens.  Also fills a random
 * SimpleStrategy (rf 1-5) and NTS (rf 0-5 per DC, sometimes naming a DC
 * with no nodes). */
static inline void tc_random(uint64_t *rng, tc_cluster *c, bf_strategy *simple,
                             bf_strategy *nts) {
    int ndcs = 1 + (int)(bs_ring_rng_next(rng) % 3);
    int racks[3];
    for (int d = 0; d < ndcs; d++) racks[d] = 1 + (int)(bs_ring_rng_next(rng) % 4);
    c->n = 1 + (int)(bs_ring_rng_next(rng) % 12);
    static const int vn[4] = {1, 4, 8, 16};
    size_t total = 0;
    for (int i = 0; i < c->n; i++) {
        int d = (int)(bs_ring_rng_next(rng) % (uint64_t)ndcs);
        tc_set_node(&c->nodes[i], i, d,
                    (int)(bs_ring_rng_next(rng) % (uint64_t)racks[d]));
        c->nodes[i].ntokens = (size_t)vn[bs_ring_rng_next(rng) % 4];
        if (c->n > 1 && bs_ring_rng_next(rng) % 20 == 0) c->nodes[i].ntokens = 0;
        total += c->nodes[i].ntokens;
    }
    int64_t all[TC_MAX_NODES * TC_MAX_VN];
    bs_ring_tokens_random(NULL, rng, total, all);
    size_t k = 0;
    for (int i = 0; i < c->n; i++)
        for (size_t j = 0; j < c->nodes[i].ntokens; j++)
            c->nodes[i].tokens[j] = all[k++];
    memset(simple, 0, sizeof *simple);
    simple->simple = 1;
    simple->rf = 1 + (int)(bs_ring_rng_next(rng) % 5);
    memset(nts, 0, sizeof *nts);
    nts->ndcs = ndcs;
    for (int d = 0; d < ndcs; d++) {
        snprintf(nts->dcs[d], sizeof nts->dcs[d], "dc%d", d);
        nts->rfs[d] = (int)(bs_ring_rng_next(rng) % 6);
    }
    if (bs_ring_rng_next(rng) % 4 == 0) {
        snprintf(nts->dcs[ndcs], sizeof nts->dcs[ndcs], "dcZ");
        nts->rfs[ndcs] = 2;
        nts->ndcs++;
    }
}

static inline int tc_in_range(const bs_ring_range *r, int64_t t) {
    if (r->start < r->end) return t > r->start && t <= r->end;
    return t > r->start || t <= r->end; /* wraps (or the whole ring) */
}

#endif
