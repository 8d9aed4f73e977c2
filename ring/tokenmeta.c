/*
 * tokenmeta.c - ring builder and immutable, refcounted snapshots.
 *
 * Builder: a growable array of owned node copies (host id, endpoint, dc,
 * rack, tokens).  Build: gathers every (token, node) pair, sorts by token
 * (qsort), rejects duplicates, and interns DC names (dc id = order of
 * first appearance among token-owning nodes) and (dc, rack) pairs (global
 * rack id).  Nodes without tokens get dc/rack ids too (so proximity
 * sorting works for them) but are not counted in dc_nodes/dc_racks.
 *
 * Invariants of a snapshot (checked by tests; never mutated after build):
 *   - tokens[] strictly ascending, none equal to INT64_MIN;
 *   - owner[i] < nnodes and tokens[i] is in nodes[owner[i]].tokens;
 *   - sum of nodes[].ntokens == ntokens.
 * Lookups: vnode_of(t) = lower_bound(tokens, t), wrapping to 0 past the
 * end: a binary search, O(log n).
 *
 * Sharing: refs is a C11 atomic; retain is a relaxed increment, release
 * an acq_rel decrement, and the thread that takes it to 0 frees (the
 * usual pattern: the acquire side orders the free after other threads'
 * last reads).
 */
#include "ring/ring_int.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "ring/murmur3.h"

struct bs_ring_builder {
    bs__ring_node *nodes;
    uint32_t n, cap;
};

double bs__ring_width(int64_t a, int64_t b) {
    if (a == b) return 1.0;
    return (double)((uint64_t)b - (uint64_t)a) / 18446744073709551616.0;
}

double bs_ring_range_width(const bs_ring_range *r) {
    return bs__ring_width(r->start, r->end);
}

size_t bs__ring_lower_bound(const int64_t *tokens, size_t n, int64_t t) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (tokens[mid] < t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* ---- builder ---------------------------------------------------------- */

static void node_clear(bs__ring_node *n) {
    free(n->endpoint);
    free(n->dc);
    free(n->rack);
    free(n->tokens);
    memset(n, 0, sizeof *n);
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int node_copy(bs__ring_node *dst, const bs_ring_node_desc *src) {
    memset(dst, 0, sizeof *dst);
    dst->host_id = src->host_id;
    dst->endpoint = strdup(src->endpoint);
    dst->dc = strdup(src->dc);
    dst->rack = strdup(src->rack);
    if (src->ntokens) {
        dst->tokens = malloc(src->ntokens * sizeof(int64_t));
        if (dst->tokens) {
            memcpy(dst->tokens, src->tokens, src->ntokens * sizeof(int64_t));
            qsort(dst->tokens, src->ntokens, sizeof(int64_t), cmp_i64);
        }
    }
    dst->ntokens = src->ntokens;
    if (!dst->endpoint || !dst->dc || !dst->rack ||
        (src->ntokens && !dst->tokens)) {
        node_clear(dst);
        return BS_ENOMEM;
    }
    return 0;
}

int bs_ring_builder_new(bs_ring_builder **out) {
    *out = calloc(1, sizeof(bs_ring_builder));
    return *out ? 0 : BS_ENOMEM;
}

void bs_ring_builder_free(bs_ring_builder *b) {
    if (!b) return;
    for (uint32_t i = 0; i < b->n; i++) node_clear(&b->nodes[i]);
    free(b->nodes);
    free(b);
}

static int builder_push(bs_ring_builder *b, const bs_ring_node_desc *n) {
    if (b->n == b->cap) {
        uint32_t cap = b->cap ? b->cap * 2 : 8;
        bs__ring_node *p = realloc(b->nodes, cap * sizeof *p);
        if (!p) return BS_ENOMEM;
        b->nodes = p;
        b->cap = cap;
    }
    int rc = node_copy(&b->nodes[b->n], n);
    if (rc == 0) b->n++;
    return rc;
}

int bs_ring_builder_from(const bs_ring_snapshot *snap, bs_ring_builder **out) {
    int rc = bs_ring_builder_new(out);
    if (rc) return rc;
    for (uint32_t i = 0; i < snap->view.nnodes; i++) {
        bs_ring_node_desc d;
        bs_ring_snapshot_node(snap, i, &d);
        if ((rc = builder_push(*out, &d))) {
            bs_ring_builder_free(*out);
            *out = NULL;
            return rc;
        }
    }
    return 0;
}

static int builder_find(const bs_ring_builder *b, const bs_uuid *id) {
    for (uint32_t i = 0; i < b->n; i++)
        if (memcmp(b->nodes[i].host_id.b, id->b, 16) == 0) return (int)i;
    return -1;
}

int bs_ring_builder_add_node(bs_ring_builder *b, const bs_ring_node_desc *n) {
    if (!b || !n || !n->endpoint || !n->dc || !n->rack ||
        (n->ntokens && !n->tokens))
        return BS_EINVAL;
    for (size_t i = 0; i < n->ntokens; i++)
        if (n->tokens[i] == BS_RING_MIN_TOKEN) return BS_EINVAL;
    if (builder_find(b, &n->host_id) >= 0) return BS_EEXIST;
    return builder_push(b, n);
}

int bs_ring_builder_remove_node(bs_ring_builder *b, const bs_uuid *host_id) {
    int i = builder_find(b, host_id);
    if (i < 0) return BS_ENOTFOUND;
    node_clear(&b->nodes[i]);
    memmove(&b->nodes[i], &b->nodes[i + 1],
            (b->n - (uint32_t)i - 1) * sizeof(bs__ring_node));
    b->n--;
    return 0;
}

/* ---- build ------------------------------------------------------------ */

typedef struct tok_pair {
    int64_t t;
    uint32_t node;
} tok_pair;

static int cmp_pair(const void *a, const void *b) {
    const tok_pair *x = a, *y = b;
    if (x->t != y->t) return (x->t > y->t) - (x->t < y->t);
    return (x->node > y->node) - (x->node < y->node);
}

static void snapshot_free(bs_ring_snapshot *s) {
    if (!s) return;
    if (s->nodes)
        for (uint32_t i = 0; i < s->view.nnodes; i++) node_clear(&s->nodes[i]);
    free(s->nodes);
    free(s->node_dc);
    free(s->node_rack);
    free(s->dc_names);
    free(s->dc_nodes);
    free(s->dc_racks);
    free(s->tokens);
    free(s->owner);
    free(s);
}

/* Interns DCs and racks.  Owning nodes first so dc ids of the ring do not
 * depend on token-less members. */
static int intern_topology(bs_ring_snapshot *s) {
    uint32_t nn = s->view.nnodes;
    s->node_dc = calloc(nn ? nn : 1, sizeof(uint32_t));
    s->node_rack = calloc(nn ? nn : 1, sizeof(uint32_t));
    s->dc_names = calloc(nn ? nn : 1, sizeof(char *));
    s->dc_nodes = calloc(nn ? nn : 1, sizeof(uint32_t));
    s->dc_racks = calloc(nn ? nn : 1, sizeof(uint32_t));
    uint32_t *rack_first = calloc(nn ? nn : 1, sizeof(uint32_t));
    if (!s->node_dc || !s->node_rack || !s->dc_names || !s->dc_nodes ||
        !s->dc_racks || !rack_first) {
        free(rack_first);
        return BS_ENOMEM;
    }
    uint32_t ndcs = 0, nracks = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (uint32_t i = 0; i < nn; i++) {
            const bs__ring_node *n = &s->nodes[i];
            int owning = n->ntokens > 0;
            if (owning != (pass == 0)) continue;
            uint32_t d = 0;
            while (d < ndcs && strcmp(s->dc_names[d], n->dc) != 0) d++;
            if (d == ndcs) s->dc_names[ndcs++] = n->dc;
            s->node_dc[i] = d;
            /* rack id: the first node (in interning order) with the same
             * dc and rack names */
            uint32_t r = 0;
            while (r < nracks) {
                const bs__ring_node *f = &s->nodes[rack_first[r]];
                if (s->node_dc[rack_first[r]] == d && !strcmp(f->rack, n->rack))
                    break;
                r++;
            }
            if (r == nracks) {
                rack_first[nracks++] = i;
                if (owning) s->dc_racks[d]++;
            }
            s->node_rack[i] = r;
            if (owning) s->dc_nodes[d]++;
        }
    }
    free(rack_first);
    s->view.ndcs = ndcs;
    s->view.nracks = nracks;
    return 0;
}

#ifndef NDEBUG
/* Debug builds: the snapshot invariants listed at the top of the file. */
static void check_invariants(const bs_ring_snapshot *s) {
    size_t sum = 0;
    for (uint32_t i = 0; i < s->view.nnodes; i++) sum += s->nodes[i].ntokens;
    assert(sum == s->view.ntokens);
    for (size_t i = 0; i < s->view.ntokens; i++) {
        assert(s->tokens[i] != INT64_MIN);
        assert(i == 0 || s->tokens[i - 1] < s->tokens[i]);
        const bs__ring_node *n = &s->nodes[s->owner[i]];
        size_t k = bs__ring_lower_bound(n->tokens, n->ntokens, s->tokens[i]);
        assert(k < n->ntokens && n->tokens[k] == s->tokens[i]);
        (void)k;
    }
    (void)sum;
}
#endif

int bs_ring_builder_build(const bs_ring_builder *b, bs_ring_snapshot **out) {
    *out = NULL;
    bs_ring_snapshot *s = calloc(1, sizeof *s);
    if (!s) return BS_ENOMEM;
    atomic_init(&s->refs, 1);
    s->view.nnodes = b->n;
    s->nodes = calloc(b->n ? b->n : 1, sizeof(bs__ring_node));
    if (!s->nodes) goto nomem;
    size_t nt = 0;
    for (uint32_t i = 0; i < b->n; i++) {
        bs_ring_node_desc d = {b->nodes[i].host_id, b->nodes[i].endpoint,
                               b->nodes[i].dc,      b->nodes[i].rack,
                               b->nodes[i].tokens,  b->nodes[i].ntokens};
        if (node_copy(&s->nodes[i], &d)) {
            s->view.nnodes = i; /* free only the copies made */
            goto nomem;
        }
        nt += d.ntokens;
    }
    if (intern_topology(s)) goto nomem;

    tok_pair *pairs = malloc((nt ? nt : 1) * sizeof *pairs);
    s->tokens = malloc((nt ? nt : 1) * sizeof(int64_t));
    s->owner = malloc((nt ? nt : 1) * sizeof(uint32_t));
    if (!pairs || !s->tokens || !s->owner) {
        free(pairs);
        goto nomem;
    }
    size_t k = 0;
    for (uint32_t i = 0; i < b->n; i++)
        for (size_t j = 0; j < s->nodes[i].ntokens; j++)
            pairs[k++] = (tok_pair){s->nodes[i].tokens[j], i};
    qsort(pairs, nt, sizeof *pairs, cmp_pair);
    for (size_t i = 0; i < nt; i++) {
        if (i > 0 && pairs[i].t == pairs[i - 1].t) {
            free(pairs);
            snapshot_free(s);
            return BS_EEXIST;
        }
        s->tokens[i] = pairs[i].t;
        s->owner[i] = pairs[i].node;
    }
    free(pairs);
    s->view.ntokens = nt;
    s->view.tokens = s->tokens;
    s->view.owner = s->owner;
    s->view.node_dc = s->node_dc;
    s->view.node_rack = s->node_rack;
    s->view.dc_nodes = s->dc_nodes;
    s->view.dc_racks = s->dc_racks;
#ifndef NDEBUG
    check_invariants(s);
#endif
    *out = s;
    return 0;
nomem:
    snapshot_free(s);
    return BS_ENOMEM;
}

/* ---- snapshot --------------------------------------------------------- */

bs_ring_snapshot *bs_ring_snapshot_retain(const bs_ring_snapshot *snap) {
    bs_ring_snapshot *s = (bs_ring_snapshot *)snap;
    atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
    return s;
}

void bs_ring_snapshot_release(const bs_ring_snapshot *snap) {
    if (!snap) return;
    bs_ring_snapshot *s = (bs_ring_snapshot *)snap;
    if (atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) == 1)
        snapshot_free(s);
}

uint32_t bs_ring_snapshot_node_count(const bs_ring_snapshot *snap) {
    return snap->view.nnodes;
}

size_t bs_ring_snapshot_token_count(const bs_ring_snapshot *snap) {
    return snap->view.ntokens;
}

int bs_ring_snapshot_node(const bs_ring_snapshot *snap, uint32_t idx,
                          bs_ring_node_desc *out) {
    if (idx >= snap->view.nnodes) return BS_ERANGE;
    const bs__ring_node *n = &snap->nodes[idx];
    out->host_id = n->host_id;
    out->endpoint = n->endpoint;
    out->dc = n->dc;
    out->rack = n->rack;
    out->tokens = n->tokens;
    out->ntokens = n->ntokens;
    return 0;
}

int bs_ring_snapshot_find_node(const bs_ring_snapshot *snap,
                               const bs_uuid *host_id, uint32_t *idx) {
    for (uint32_t i = 0; i < snap->view.nnodes; i++)
        if (memcmp(snap->nodes[i].host_id.b, host_id->b, 16) == 0) {
            *idx = i;
            return 0;
        }
    return BS_ENOTFOUND;
}

int bs_ring_snapshot_token_at(const bs_ring_snapshot *snap, size_t i,
                              int64_t *token, uint32_t *owner) {
    if (i >= snap->view.ntokens) return BS_ERANGE;
    if (token) *token = snap->tokens[i];
    if (owner) *owner = snap->owner[i];
    return 0;
}

int bs_ring_snapshot_vnode_of(const bs_ring_snapshot *snap, int64_t token,
                              size_t *vnode) {
    size_t n = snap->view.ntokens;
    if (n == 0) return BS_ENOTFOUND;
    size_t i = bs__ring_lower_bound(snap->tokens, n, token);
    *vnode = i == n ? 0 : i;
    return 0;
}

int bs_ring_snapshot_primary(const bs_ring_snapshot *snap, int64_t token,
                             uint32_t *node) {
    size_t i;
    int rc = bs_ring_snapshot_vnode_of(snap, token, &i);
    if (rc) return rc;
    *node = snap->owner[i];
    return 0;
}

int bs_ring_snapshot_vnode_range(const bs_ring_snapshot *snap, size_t i,
                                 bs_ring_range *out) {
    size_t n = snap->view.ntokens;
    if (i >= n) return BS_ERANGE;
    out->start = snap->tokens[i == 0 ? n - 1 : i - 1];
    out->end = snap->tokens[i];
    return 0;
}

uint32_t bs_ring_snapshot_dc_count(const bs_ring_snapshot *snap) {
    uint32_t c = 0;
    for (uint32_t d = 0; d < snap->view.ndcs; d++) c += snap->dc_nodes[d] > 0;
    return c;
}

static int dc_id(const bs_ring_snapshot *snap, const char *dc) {
    for (uint32_t d = 0; d < snap->view.ndcs; d++)
        if (!strcmp(snap->dc_names[d], dc)) return (int)d;
    return -1;
}

uint32_t bs_ring_snapshot_dc_nodes(const bs_ring_snapshot *snap,
                                   const char *dc) {
    int d = dc_id(snap, dc);
    return d < 0 ? 0 : snap->dc_nodes[d];
}

uint32_t bs_ring_snapshot_dc_racks(const bs_ring_snapshot *snap,
                                   const char *dc) {
    int d = dc_id(snap, dc);
    return d < 0 ? 0 : snap->dc_racks[d];
}

void bs_ring_primary_ownership(const bs_ring_snapshot *snap, double *out) {
    for (uint32_t i = 0; i < snap->view.nnodes; i++) out[i] = 0;
    size_t n = snap->view.ntokens;
    for (size_t i = 0; i < n; i++)
        out[snap->owner[i]] +=
            bs__ring_width(snap->tokens[i == 0 ? n - 1 : i - 1],
                           snap->tokens[i]);
}

int bs_ring_primary_ranges(const bs_ring_snapshot *snap, uint32_t idx,
                           bs_ring_range **out, size_t *n) {
    *out = NULL;
    *n = 0;
    if (idx >= snap->view.nnodes) return BS_ERANGE;
    size_t cnt = snap->nodes[idx].ntokens;
    if (cnt == 0) return 0;
    bs_ring_range *r = malloc(cnt * sizeof *r);
    if (!r) return BS_ENOMEM;
    size_t k = 0;
    for (size_t i = 0; i < snap->view.ntokens; i++)
        if (snap->owner[i] == idx) bs_ring_snapshot_vnode_range(snap, i, &r[k++]);
    *out = r;
    *n = k;
    return 0;
}

void bs_ring_sort_by_proximity(const bs_ring_snapshot *snap,
                               const char *local_dc, const char *local_rack,
                               uint32_t *nodes, size_t n) {
    /* rank: 0 same dc+rack, 1 same dc, 2 other dc, 3 unknown index */
    int ldc = local_dc ? dc_id(snap, local_dc) : -1;
    for (size_t i = 1; i < n; i++) { /* stable insertion sort: n is small */
        uint32_t v = nodes[i];
        size_t j = i;
#define RANK(x)                                                              \
    ((x) >= snap->view.nnodes                       ? 3                      \
     : (ldc < 0 || snap->node_dc[x] != (uint32_t)ldc) ? 2                    \
     : (local_rack && !strcmp(snap->nodes[x].rack, local_rack)) ? 0 : 1)
        int rv = RANK(v);
        while (j > 0 && RANK(nodes[j - 1]) > rv) {
            nodes[j] = nodes[j - 1];
            j--;
        }
        nodes[j] = v;
#undef RANK
    }
}
