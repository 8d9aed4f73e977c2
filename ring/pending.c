/*
 * pending.c - pending ranges (see pending.h for the semantics).
 *
 * Algorithm: build the replica maps of the current and the future ring;
 * take the sorted union B of both rings' tokens.  Between two consecutive
 * boundaries neither ring has a token, so each sub-range (B[j-1], B[j]]
 * has one replica set per ring: the one of token B[j].  The pending set
 * of the sub-range is the future replicas whose host id is not among the
 * current replicas.  Cost O(|B| * rf) plus the two maps.
 *
 * Layout: ends[j] = B[j]; pending nodes of sub-range j are
 * nodes[off[j] .. off[j+1]) (future-snapshot indices).  Lookup is
 * lower_bound(ends, t), wrapping to 0 past the last boundary - the same
 * rule as vnode lookup, which is what makes (B[last], B[0]] the wrapping
 * sub-range.
 */
#include "ring/pending.h"

#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "ring/ring_int.h"

struct bs_ring_pending {
    const bs_ring_snapshot *future; /* retained */
    size_t n;
    int64_t *ends;
    uint32_t *off; /* n + 1 */
    uint32_t *nodes;
};

void bs_ring_pending_free(bs_ring_pending *p) {
    if (!p) return;
    bs_ring_snapshot_release(p->future);
    free(p->ends);
    free(p->off);
    free(p->nodes);
    free(p);
}

static int in_set(const uint32_t *s, size_t n, uint32_t v) {
    for (size_t i = 0; i < n; i++)
        if (s[i] == v) return 1;
    return 0;
}

int bs_ring_pending_build(const bs_ring_snapshot *current,
                          const bs_ring_snapshot *future,
                          const bs_ring_strategy *st, bs_ring_pending **out) {
    *out = NULL;
    bs_ring_replica_map *mc = NULL, *mf = NULL;
    int64_t *cur_ids = NULL;
    bs_ring_pending *p = calloc(1, sizeof *p);
    int rc = BS_ENOMEM;
    if (!p) return rc;
    p->future = bs_ring_snapshot_retain(future);
    if ((rc = bs_ring_replica_map_build(current, st, &mc)) ||
        (rc = bs_ring_replica_map_build(future, st, &mf)))
        goto fail;
    rc = BS_ENOMEM;
    const bs__ring_view *cv = &current->view, *fv = &future->view;
    /* future index -> current index (or -1) */
    uint32_t fnn = fv->nnodes;
    cur_ids = malloc((fnn ? fnn : 1) * sizeof(int64_t));
    if (!cur_ids) goto fail;
    for (uint32_t i = 0; i < fnn; i++) {
        uint32_t ci;
        cur_ids[i] = bs_ring_snapshot_find_node(current,
                                                &future->nodes[i].host_id,
                                                &ci) == 0
                         ? (int64_t)ci
                         : -1;
    }
    size_t cap = cv->ntokens + fv->ntokens;
    p->ends = malloc((cap ? cap : 1) * sizeof(int64_t));
    p->off = malloc((cap + 1) * sizeof(uint32_t));
    if (!p->ends || !p->off) goto fail;
    /* merge the two sorted token arrays, dropping duplicates */
    size_t i = 0, j = 0, n = 0;
    while (i < cv->ntokens || j < fv->ntokens) {
        int64_t t;
        if (j == fv->ntokens ||
            (i < cv->ntokens && cv->tokens[i] <= fv->tokens[j]))
            t = cv->tokens[i];
        else
            t = fv->tokens[j];
        if (i < cv->ntokens && cv->tokens[i] == t) i++;
        if (j < fv->ntokens && fv->tokens[j] == t) j++;
        p->ends[n++] = t;
    }
    p->n = n;
    /* at most one pending set per sub-range, each at most the future
     * map's largest replica list */
    size_t maxr = 0;
    for (size_t k = 0; k < fv->ntokens; k++) {
        const uint32_t *r;
        size_t rn;
        bs_ring_replica_map_vnode(mf, k, &r, &rn);
        if (rn > maxr) maxr = rn;
    }
    p->nodes = malloc((n * maxr + 1) * sizeof(uint32_t));
    if (!p->nodes) goto fail;
    uint32_t pos = 0;
    for (size_t k = 0; k < n; k++) {
        p->off[k] = pos;
        const uint32_t *fr, *cr = NULL;
        size_t fn = 0, cn = 0;
        if (bs_ring_replica_map_lookup(mf, p->ends[k], &fr, &fn)) continue;
        if (bs_ring_replica_map_lookup(mc, p->ends[k], &cr, &cn)) cn = 0;
        for (size_t q = 0; q < fn; q++) {
            int64_t ci = cur_ids[fr[q]];
            if (ci < 0 || !in_set(cr, cn, (uint32_t)ci))
                p->nodes[pos++] = fr[q];
        }
    }
    p->off[n] = pos;
    free(cur_ids);
    bs_ring_replica_map_release(mc);
    bs_ring_replica_map_release(mf);
    *out = p;
    return 0;
fail:
    free(cur_ids);
    bs_ring_replica_map_release(mc);
    bs_ring_replica_map_release(mf);
    bs_ring_pending_free(p);
    return rc;
}

int bs_ring_pending_for_join(const bs_ring_snapshot *current,
                             const bs_ring_node_desc *joining,
                             const bs_ring_strategy *st,
                             bs_ring_pending **out) {
    *out = NULL;
    bs_ring_builder *b;
    bs_ring_snapshot *fut = NULL;
    int rc = bs_ring_builder_from(current, &b);
    if (rc) return rc;
    if ((rc = bs_ring_builder_add_node(b, joining)) == 0 &&
        (rc = bs_ring_builder_build(b, &fut)) == 0) {
        rc = bs_ring_pending_build(current, fut, st, out);
        bs_ring_snapshot_release(fut);
    }
    bs_ring_builder_free(b);
    return rc;
}

int bs_ring_pending_for_leave(const bs_ring_snapshot *current,
                              const bs_uuid *leaving,
                              const bs_ring_strategy *st,
                              bs_ring_pending **out) {
    *out = NULL;
    bs_ring_builder *b;
    bs_ring_snapshot *fut = NULL;
    int rc = bs_ring_builder_from(current, &b);
    if (rc) return rc;
    if ((rc = bs_ring_builder_remove_node(b, leaving)) == 0 &&
        (rc = bs_ring_builder_build(b, &fut)) == 0) {
        rc = bs_ring_pending_build(current, fut, st, out);
        bs_ring_snapshot_release(fut);
    }
    bs_ring_builder_free(b);
    return rc;
}

const bs_ring_snapshot *bs_ring_pending_snapshot(const bs_ring_pending *p) {
    return p->future;
}

int bs_ring_pending_endpoints(const bs_ring_pending *p, int64_t token,
                              const uint32_t **nodes, size_t *n) {
    *nodes = NULL;
    *n = 0;
    if (p->n == 0) return 0;
    size_t i = bs__ring_lower_bound(p->ends, p->n, token);
    if (i == p->n) i = 0;
    *nodes = p->nodes + p->off[i];
    *n = p->off[i + 1] - p->off[i];
    return 0;
}

size_t bs_ring_pending_range_count(const bs_ring_pending *p) { return p->n; }

int bs_ring_pending_range_at(const bs_ring_pending *p, size_t i,
                             bs_ring_range *range, const uint32_t **nodes,
                             size_t *n) {
    if (i >= p->n) return BS_ERANGE;
    range->start = p->ends[i == 0 ? p->n - 1 : i - 1];
    range->end = p->ends[i];
    *nodes = p->nodes + p->off[i];
    *n = p->off[i + 1] - p->off[i];
    return 0;
}

size_t bs_ring_pending_total(const bs_ring_pending *p) {
    return p->n ? p->off[p->n] : 0;
}
