/*
 * alloc.c - random and balanced token allocation.
 *
 * Random: splitmix64 draws, rejecting INT64_MIN (the ring's reserved
 * minimum) and tokens already taken.
 *
 * Balanced (greedy + refinement).  The new node X is appended to a
 * tentative view of the ring (a copy of the snapshot's arrays, with X's
 * DC and rack interned like the builder would).  The score of a ring is
 *       cost = sum over nodes of own_eff(n)^2
 *            + 1/16 * sum over nodes of own_primary(n)^2
 * The sum of effective ownership over nodes is fixed (= replicas per
 * token), so minimising the sum of squares pulls every node towards the
 * mean.  The small primary term decides while the ring has no more nodes
 * than rf (then every node owns everything and only primaries differ),
 * which keeps early rings evenly cut for the nodes that come later.
 *   1. greedy: place X's tokens one at a time, each at the candidate with
 *      the lowest cost; candidates split every current range at 1/4, 1/2
 *      or 3/4 of its width (so a token can take a small or a large bite);
 *   2. refinement (2 rounds): take each of X's tokens out and put it back
 *      at the best candidate if that lowers the cost.  Greedy alone is
 *      myopic - once X is near its share, the forced remaining tokens
 *      bite the smallest ranges, starving one node - and this repairs it.
 * Scoring a candidate is incremental: with each range's replica list and
 * walk length cached for the ring without the candidate, only the walks
 * that pass the inserted position are recomputed (a walk that meets an X
 * token while X is already taken or rejected ends exactly as before).
 * Debug builds check the incremental score against a full recomputation.
 * Measured (tests/unit/ring/test_alloc.c): 16 vnodes, RF 3, nodes added
 * one by one to 12: max/min effective ownership <= 1.07 (random tokens:
 * up to 1.7); but the result depends on where the first node's evenly
 * spaced tokens sit (float sums break a symmetric ring's exact ties one
 * way or another): over 200 offsets, up to 1.11 at 4 nodes, 1.06 at 5.
 *
 * An empty ring gets num_tokens evenly spaced tokens
 * (i + 1/2) * 2^64 / num_tokens - 2^63.
 */
#include "ring/alloc.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "ring/murmur3.h"
#include "ring/ring_int.h"

uint64_t bs_ring_rng_next(uint64_t *state) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static int has_token(const bs_ring_snapshot *snap, int64_t t) {
    if (!snap) return 0;
    size_t n = snap->view.ntokens;
    size_t i = bs__ring_lower_bound(snap->view.tokens, n, t);
    return i < n && snap->view.tokens[i] == t;
}

int bs_ring_tokens_random(const bs_ring_snapshot *snap, uint64_t *rng,
                          size_t n, int64_t *out) {
    for (size_t i = 0; i < n; i++) {
        for (;;) {
            int64_t t = (int64_t)bs_ring_rng_next(rng);
            if (t == BS_RING_MIN_TOKEN || has_token(snap, t)) continue;
            int dup = 0;
            for (size_t j = 0; j < i && !dup; j++) dup = out[j] == t;
            if (dup) continue;
            out[i] = t;
            break;
        }
    }
    return 0;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Tentative ring with the new node appended. */
typedef struct tent {
    bs__ring_view v;
    int64_t *tokens;
    uint32_t *owner, *node_dc, *node_rack, *dc_nodes, *dc_racks;
    const char **dc_names;
    uint32_t x;           /* new node index */
    int rack_is_new;      /* X's rack has no owning node yet */
    double *own, *prim;   /* per node: scratch for candidates */
    uint32_t *reps;       /* replica scratch (plan total) */
    /* the current ring without a candidate ("base"), per range i: */
    uint32_t *base_reps;  /* ntokens x plan total */
    uint32_t *base_cnt, *base_span;
    double *base_own, *base_prim; /* per node */
    size_t *aff;          /* candidate_cost scratch: affected ranges */
    double *aff_w;
    size_t max_span;      /* longest base walk */
    size_t cap;           /* capacity of the token arrays */
} tent;

static void tent_free(tent *t) {
    free(t->tokens);
    free(t->owner);
    free(t->node_dc);
    free(t->node_rack);
    free(t->dc_nodes);
    free(t->dc_racks);
    free(t->dc_names);
    free(t->own);
    free(t->prim);
    free(t->reps);
    free(t->base_reps);
    free(t->base_cnt);
    free(t->base_span);
    free(t->base_own);
    free(t->base_prim);
    free(t->aff);
    free(t->aff_w);
}

static int tent_init(tent *t, const bs_ring_snapshot *s, const char *dc,
                     const char *rack, size_t extra) {
    memset(t, 0, sizeof *t);
    const bs__ring_view *sv = &s->view;
    uint32_t nn = sv->nnodes + 1, nd = sv->ndcs + 1;
    size_t nt = sv->ntokens + extra;
    t->tokens = malloc(nt * sizeof(int64_t));
    t->owner = malloc(nt * sizeof(uint32_t));
    t->node_dc = malloc(nn * sizeof(uint32_t));
    t->node_rack = malloc(nn * sizeof(uint32_t));
    t->dc_nodes = calloc(nd, sizeof(uint32_t));
    t->dc_racks = calloc(nd, sizeof(uint32_t));
    t->dc_names = calloc(nd, sizeof(char *));
    t->own = malloc(nn * sizeof(double));
    t->prim = malloc(nn * sizeof(double));
    t->base_own = malloc(nn * sizeof(double));
    t->base_prim = malloc(nn * sizeof(double));
    t->base_cnt = malloc(nt * sizeof(uint32_t));
    t->base_span = malloc(nt * sizeof(uint32_t));
    t->aff = malloc(nt * sizeof(size_t));
    t->aff_w = malloc(nt * sizeof(double));
    t->cap = nt;
    if (!t->tokens || !t->owner || !t->node_dc || !t->node_rack ||
        !t->dc_nodes || !t->dc_racks || !t->dc_names || !t->own ||
        !t->prim || !t->base_own || !t->base_prim || !t->base_cnt ||
        !t->base_span || !t->aff || !t->aff_w) {
        tent_free(t);
        return BS_ENOMEM;
    }
    memcpy(t->tokens, sv->tokens, sv->ntokens * sizeof(int64_t));
    memcpy(t->owner, sv->owner, sv->ntokens * sizeof(uint32_t));
    memcpy(t->node_dc, sv->node_dc, sv->nnodes * sizeof(uint32_t));
    memcpy(t->node_rack, sv->node_rack, sv->nnodes * sizeof(uint32_t));
    memcpy(t->dc_nodes, sv->dc_nodes, sv->ndcs * sizeof(uint32_t));
    memcpy(t->dc_racks, sv->dc_racks, sv->ndcs * sizeof(uint32_t));
    for (uint32_t d = 0; d < sv->ndcs; d++) t->dc_names[d] = s->dc_names[d];
    uint32_t ndcs = sv->ndcs, nracks = sv->nracks;
    uint32_t d = 0;
    while (d < ndcs && strcmp(t->dc_names[d], dc)) d++;
    if (d == ndcs) t->dc_names[ndcs++] = dc;
    uint32_t r = nracks;
    t->rack_is_new = 1;
    for (uint32_t i = 0; i < sv->nnodes; i++) {
        if (sv->node_dc[i] != d || strcmp(s->nodes[i].rack, rack)) continue;
        r = sv->node_rack[i];
        if (s->nodes[i].ntokens) t->rack_is_new = 0;
    }
    if (r == nracks) nracks++;
    t->x = sv->nnodes;
    t->node_dc[t->x] = d;
    t->node_rack[t->x] = r;
    t->v = (bs__ring_view){sv->ntokens, t->tokens,   t->owner,
                           nn,          t->node_dc,  t->node_rack,
                           ndcs,        nracks,      t->dc_nodes,
                           t->dc_racks};
    return 0;
}

/* X owns its first token: count it in its DC (and rack). */
static void tent_x_joins(tent *t) {
    uint32_t d = t->node_dc[t->x];
    t->dc_nodes[d]++;
    if (t->rack_is_new) t->dc_racks[d]++;
}

static void tent_insert(tent *t, size_t pos, int64_t tok) {
    size_t n = t->v.ntokens;
    memmove(t->tokens + pos + 1, t->tokens + pos, (n - pos) * sizeof(int64_t));
    memmove(t->owner + pos + 1, t->owner + pos, (n - pos) * sizeof(uint32_t));
    t->tokens[pos] = tok;
    t->owner[pos] = t->x;
    t->v.ntokens = n + 1;
}

static void tent_remove(tent *t, size_t pos) {
    size_t n = t->v.ntokens - 1;
    memmove(t->tokens + pos, t->tokens + pos + 1, (n - pos) * sizeof(int64_t));
    memmove(t->owner + pos, t->owner + pos + 1, (n - pos) * sizeof(uint32_t));
    t->v.ntokens = n;
}

static double width_at(const tent *t, size_t i) {
    size_t n = t->v.ntokens;
    return bs__ring_width(t->tokens[i == 0 ? n - 1 : i - 1], t->tokens[i]);
}

static double score(const tent *t, const double *own, const double *prim) {
    double c = 0, cp = 0;
    for (uint32_t i = 0; i < t->v.nnodes; i++) {
        c += own[i] * own[i];
        cp += prim[i] * prim[i];
    }
    return c + cp / 16.0;
}

/* Replicas, walk span and ownership of every range of the current ring. */
static void compute_base(tent *t, bs__ring_plan *p) {
    const bs__ring_view *v = &t->v;
    for (uint32_t i = 0; i < v->nnodes; i++) t->base_own[i] = t->base_prim[i] = 0;
    for (size_t i = 0; i < v->ntokens; i++) {
        double w = width_at(t, i);
        uint32_t *r = t->base_reps + i * p->total;
        size_t span;
        size_t k = bs__ring_calc(p, v, i, r, &span);
        t->base_cnt[i] = (uint32_t)k;
        t->base_span[i] = (uint32_t)span;
        if (i == 0 || span > t->max_span) t->max_span = span;
        for (size_t j = 0; j < k; j++) t->base_own[r[j]] += w;
        t->base_prim[v->owner[i]] += w;
    }
}

static double base_cost(const tent *t) {
    return score(t, t->base_own, t->base_prim);
}

#ifndef NDEBUG
/* Full recomputation of the cost of t's ring, to check candidate_cost. */
static double full_cost(tent *t, bs__ring_plan *p) {
    for (uint32_t i = 0; i < t->v.nnodes; i++) t->own[i] = t->prim[i] = 0;
    for (size_t i = 0; i < t->v.ntokens; i++) {
        double w = width_at(t, i);
        size_t k = bs__ring_calc(p, &t->v, i, t->reps, NULL);
        for (size_t j = 0; j < k; j++) t->own[t->reps[j]] += w;
        t->prim[t->owner[i]] += w;
    }
    return score(t, t->own, t->prim);
}
#endif

/* Cost of the ring with X's token cand inserted at position at (the base
 * is the ring without it).  The token sits between old positions split-1
 * and split; the walk of range i (old positions i .. i+span-1) meets it
 * iff it continues past split-1, i.e. 1 <= (split - i) mod n < span, or,
 * for i == split, when the walk went all the way round (span == n).
 * Only those ranges can change (a walk that meets an X token while X is
 * already taken, or rejected, ends exactly as before); the split range
 * also hands (prev, cand] to the new range. */
static double candidate_cost(tent *t, bs__ring_plan *p, size_t at,
                             int64_t cand) {
    size_t n = t->v.ntokens; /* without cand */
    uint32_t tot = p->total;
    memcpy(t->own, t->base_own, t->v.nnodes * sizeof(double));
    memcpy(t->prim, t->base_prim, t->v.nnodes * sizeof(double));
    size_t split = at == n ? 0 : at;
    double wnew = bs__ring_width(t->tokens[split == 0 ? n - 1 : split - 1],
                                 cand);
    for (uint32_t j = 0; j < t->base_cnt[split]; j++)
        t->own[t->base_reps[split * tot + j]] -= wnew;
    t->prim[t->owner[split]] -= wnew;
    t->prim[t->x] += wnew;
    size_t naff = 0;
    /* only ranges at most max_span - 1 steps before split can reach it */
    size_t reach = t->max_span < n ? t->max_span : n;
    for (size_t back = 0; back < reach; back++) {
        size_t i = (split + n - back) % n;
        size_t d = back;
        int hit = d == 0 ? t->base_span[i] >= n : d < t->base_span[i];
        if (!hit) continue;
        double w = width_at(t, i) - (i == split ? wnew : 0);
        const uint32_t *old = t->base_reps + i * tot;
        for (uint32_t j = 0; j < t->base_cnt[i]; j++) t->own[old[j]] -= w;
        t->aff[naff] = i;
        t->aff_w[naff++] = w;
    }
    tent_insert(t, at, cand);
    size_t k = bs__ring_calc(p, &t->v, at, t->reps, NULL);
    for (size_t j = 0; j < k; j++) t->own[t->reps[j]] += wnew;
    for (size_t q = 0; q < naff; q++) {
        size_t i = t->aff[q];
        k = bs__ring_calc(p, &t->v, i + (i >= at), t->reps, NULL);
        for (size_t j = 0; j < k; j++) t->own[t->reps[j]] += t->aff_w[q];
    }
    tent_remove(t, at);
    return score(t, t->own, t->prim);
}

static void evenly_spaced(size_t n, int64_t *out) {
    /* (i + 1/2) * 2^64 / n - 2^63, in unsigned arithmetic */
    uint64_t step = UINT64_MAX / n;
    for (size_t i = 0; i < n; i++) {
        uint64_t u = step / 2 + (uint64_t)i * step;
        out[i] = (int64_t)(u ^ 0x8000000000000000ULL); /* u - 2^63 */
    }
}

/* Best candidate position for one more token of X in t's current ring
 * (t's base must be up to date): every range split at 1/4, 1/2 and 3/4
 * of its width.  Returns 0 and sets tok, pos and cost, or BS_EINVAL when
 * no position is free. */
static int best_candidate(tent *t, bs__ring_plan *p, int64_t *tok,
                          size_t *pos, double *cost) {
    size_t n = t->v.ntokens;
    int found = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t a = t->tokens[i == 0 ? n - 1 : i - 1];
        uint64_t w = (uint64_t)t->tokens[i] - (uint64_t)a; /* 0: all */
        for (int q = 1; q <= 3; q++) {
            uint64_t off = w == 0 ? (uint64_t)q << 62 : w / 4 * (uint64_t)q;
            if (off == 0 || (w && off >= w)) continue;
            int64_t cand = (int64_t)((uint64_t)a + off);
            if (cand == BS_RING_MIN_TOKEN) continue;
            size_t at = bs__ring_lower_bound(t->tokens, n, cand);
            if (at < n && t->tokens[at] == cand) continue;
            double c = candidate_cost(t, p, at, cand);
#ifndef NDEBUG
            if (i == 0) { /* debug builds: incremental == full */
                tent_insert(t, at, cand);
                double f = full_cost(t, p);
                tent_remove(t, at);
                assert(fabs(f - c) < 1e-9);
            }
#endif
            if (!found || c < *cost) {
                *cost = c;
                *tok = cand;
                *pos = at;
                found = 1;
            }
        }
    }
    return found ? 0 : BS_EINVAL;
}

static int plan_for(tent *t, const bs_ring_strategy *st, bs__ring_plan *p) {
    int rc = bs__ring_plan_init(p, st, &t->v, t->dc_names);
    if (rc) return rc;
    free(t->reps);
    free(t->base_reps);
    t->reps = malloc((p->total + 1) * sizeof(uint32_t));
    t->base_reps = malloc((t->cap * p->total + 1) * sizeof(uint32_t));
    if (!t->reps || !t->base_reps) {
        bs__ring_plan_free(p);
        return BS_ENOMEM;
    }
    return 0;
}

#define REFINE_ROUNDS 2

int bs_ring_tokens_balanced(const bs_ring_snapshot *snap,
                            const bs_ring_strategy *st, const char *dc,
                            const char *rack, size_t num_tokens,
                            int64_t *out) {
    if (num_tokens == 0 || !dc || !rack || !st) return BS_EINVAL;
    if (!snap || snap->view.ntokens == 0) {
        evenly_spaced(num_tokens, out);
        return 0;
    }
    tent t;
    int rc = tent_init(&t, snap, dc, rack, num_tokens);
    if (rc) return rc;
    tent_x_joins(&t);
    bs__ring_plan p;
    if ((rc = plan_for(&t, st, &p))) {
        tent_free(&t);
        return rc;
    }
    /* greedy placement */
    for (size_t k = 0; k < num_tokens && rc == 0; k++) {
        int64_t tok;
        size_t pos;
        double c;
        compute_base(&t, &p);
        if ((rc = best_candidate(&t, &p, &tok, &pos, &c))) break;
        tent_insert(&t, pos, tok);
        out[k] = tok;
    }
    /* refinement: take each token out and put it back where it helps
     * most (possibly the same place); never makes the cost worse */
    for (int round = 0; round < REFINE_ROUNDS && rc == 0; round++) {
        for (size_t k = 0; k < num_tokens; k++) {
            compute_base(&t, &p);
            double before = base_cost(&t);
            size_t at = bs__ring_lower_bound(t.tokens, t.v.ntokens, out[k]);
            tent_remove(&t, at);
            compute_base(&t, &p);
            int64_t tok;
            size_t pos;
            double c;
            if (best_candidate(&t, &p, &tok, &pos, &c) == 0 && c < before) {
                tent_insert(&t, pos, tok);
                out[k] = tok;
            } else {
                tent_insert(&t, at, out[k]);
            }
        }
    }
    bs__ring_plan_free(&p);
    tent_free(&t);
    if (rc == 0) qsort(out, num_tokens, sizeof(int64_t), cmp_i64);
    return rc;
}
