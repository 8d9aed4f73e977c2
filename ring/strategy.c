/*
 * strategy.c - SimpleStrategy, NetworkTopologyStrategy, replica maps,
 * replicated ranges and effective ownership.
 *
 * Walk.  The replicas of the vnode ending at tokens[s] come from visiting
 * tokens[s], tokens[s+1], ... (wrapping) at most once each, and looking at
 * each token's owner:
 *   Simple: take the owner unless already taken, until
 *           min(rf, nodes owning tokens) are taken.
 *   NTS   : Cassandra 4.x calculateNaturalReplicas, one pass for all DCs.
 *           For each configured DC d with nodes:
 *             rf_left[d] = min(rf_d, nodes in d)
 *             repeats[d] = rf_d - racks in d   (rack repeats allowed)
 *           An owner in DC d with rf_left[d] > 0 that is not yet taken:
 *             - rack not seen yet      -> take it, mark rack seen;
 *             - rack seen, repeats > 0 -> take it, repeats--;
 *             - otherwise skip it.
 *           Stop when every DC has rf_left == 0.
 *   So racks are distinct while there are at least rf racks; with fewer
 *   racks than rf every rack still gets one replica and the remaining
 *   slots go to the first extra nodes met clockwise.  (Cassandra 2.x/3.0
 *   kept those extra nodes in a "skipped" list and appended them after
 *   the walk; 3.x+ accepts them in ring order within the budget above.
 *   Both pick the same set - the first node of every rack plus the first
 *   rf - racks other nodes met - and differ only in list order; we
 *   follow the current algorithm, so the primary/order matches 4.x.)
 *
 * Replica map layout: off[i]..off[i+1] indexes nodes[] for vnode i, so
 *   lookup(t) = vnode_of(t) (binary search) and one slice of nodes[].
 */
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "ring/ring_int.h"

struct bs_ring_strategy {
    int simple;
    uint32_t rf;     /* Simple */
    size_t ndcs;     /* NTS */
    char **dcs;
    uint32_t *rfs;
};

struct bs_ring_replica_map {
    atomic_uint refs;
    const bs_ring_snapshot *snap; /* retained */
    uint32_t *off;                /* ntokens + 1 */
    uint32_t *nodes;
};

/* ---- strategies ------------------------------------------------------- */

int bs_ring_strategy_simple(uint32_t rf, bs_ring_strategy **out) {
    *out = NULL;
    if (rf < 1) return BS_EINVAL;
    bs_ring_strategy *st = calloc(1, sizeof *st);
    if (!st) return BS_ENOMEM;
    st->simple = 1;
    st->rf = rf;
    *out = st;
    return 0;
}

int bs_ring_strategy_nts(const char *const *dcs, const uint32_t *rfs,
                         size_t n, bs_ring_strategy **out) {
    *out = NULL;
    if (n == 0 || !dcs || !rfs) return BS_EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (!dcs[i]) return BS_EINVAL;
        for (size_t j = 0; j < i; j++)
            if (!strcmp(dcs[i], dcs[j])) return BS_EINVAL;
    }
    bs_ring_strategy *st = calloc(1, sizeof *st);
    if (!st) return BS_ENOMEM;
    st->ndcs = n;
    st->dcs = calloc(n, sizeof(char *));
    st->rfs = malloc(n * sizeof(uint32_t));
    if (!st->dcs || !st->rfs) goto nomem;
    for (size_t i = 0; i < n; i++) {
        if (!(st->dcs[i] = strdup(dcs[i]))) goto nomem;
        st->rfs[i] = rfs[i];
        st->rf += rfs[i];
    }
    *out = st;
    return 0;
nomem:
    bs_ring_strategy_free(st);
    return BS_ENOMEM;
}

void bs_ring_strategy_free(bs_ring_strategy *st) {
    if (!st) return;
    for (size_t i = 0; i < st->ndcs; i++) free(st->dcs[i]);
    free(st->dcs);
    free(st->rfs);
    free(st);
}

int bs_ring_strategy_is_simple(const bs_ring_strategy *st) {
    return st->simple;
}

uint32_t bs_ring_strategy_rf(const bs_ring_strategy *st) { return st->rf; }

uint32_t bs_ring_strategy_dc_rf(const bs_ring_strategy *st, const char *dc) {
    if (st->simple) return st->rf;
    for (size_t i = 0; i < st->ndcs; i++)
        if (!strcmp(st->dcs[i], dc)) return st->rfs[i];
    return 0;
}

/* ---- plan & walk ------------------------------------------------------ */

int bs__ring_plan_init(bs__ring_plan *p, const bs_ring_strategy *st,
                       const bs__ring_view *v, const char *const *dc_names) {
    memset(p, 0, sizeof *p);
    p->simple = st->simple;
    p->ndcs = v->ndcs;
    p->nracks = v->nracks;
    uint32_t owning = 0;
    for (uint32_t d = 0; d < v->ndcs; d++) owning += v->dc_nodes[d];
    if (st->simple) {
        p->rf = st->rf < owning ? st->rf : owning;
        p->total = p->rf;
        return 0;
    }
    size_t nd = v->ndcs ? v->ndcs : 1;
    p->dc_rf = calloc(nd, sizeof(uint32_t));
    p->rf_left = calloc(nd, sizeof(uint32_t));
    p->repeats = calloc(nd, sizeof(int32_t));
    p->rack_seen = calloc(v->nracks ? v->nracks : 1, 1);
    if (!p->dc_rf || !p->rf_left || !p->repeats || !p->rack_seen) {
        bs__ring_plan_free(p);
        return BS_ENOMEM;
    }
    for (uint32_t d = 0; d < v->ndcs; d++) {
        for (size_t i = 0; i < st->ndcs; i++)
            if (!strcmp(st->dcs[i], dc_names[d])) p->dc_rf[d] = st->rfs[i];
        uint32_t k = p->dc_rf[d] < v->dc_nodes[d] ? p->dc_rf[d]
                                                  : v->dc_nodes[d];
        p->total += k;
    }
    return 0;
}

void bs__ring_plan_free(bs__ring_plan *p) {
    free(p->dc_rf);
    free(p->rf_left);
    free(p->repeats);
    free(p->rack_seen);
    memset(p, 0, sizeof *p);
}

static int taken(const uint32_t *out, size_t k, uint32_t node) {
    for (size_t i = 0; i < k; i++)
        if (out[i] == node) return 1;
    return 0;
}

size_t bs__ring_calc(bs__ring_plan *p, const bs__ring_view *v, size_t start,
                     uint32_t *out, size_t *walked) {
    size_t n = v->ntokens, k = 0, steps = 0;
    if (n == 0 || p->total == 0) {
        if (walked) *walked = 0;
        return 0;
    }
    size_t i = start;
    if (p->simple) {
        while (k < p->rf && steps < n) {
            uint32_t node = v->owner[i];
            if (!taken(out, k, node)) out[k++] = node;
            steps++;
            if (++i == n) i = 0;
        }
        if (walked) *walked = steps;
        return k;
    }
    uint32_t to_fill = 0;
    for (uint32_t d = 0; d < p->ndcs; d++) {
        uint32_t rf = p->dc_rf[d];
        if (rf == 0 || v->dc_nodes[d] == 0) {
            p->rf_left[d] = 0;
            continue;
        }
        p->rf_left[d] = rf < v->dc_nodes[d] ? rf : v->dc_nodes[d];
        p->repeats[d] = (int32_t)rf - (int32_t)v->dc_racks[d];
        to_fill++;
    }
    memset(p->rack_seen, 0, p->nracks);
    while (to_fill > 0 && steps < n) {
        uint32_t node = v->owner[i];
        uint32_t d = v->node_dc[node];
        steps++;
        if (++i == n) i = 0;
        if (p->rf_left[d] == 0 || taken(out, k, node)) continue;
        uint32_t r = v->node_rack[node];
        if (!p->rack_seen[r]) {
            p->rack_seen[r] = 1;
        } else if (p->repeats[d] > 0) {
            p->repeats[d]--;
        } else {
            continue;
        }
        out[k++] = node;
        if (--p->rf_left[d] == 0) to_fill--;
    }
    if (walked) *walked = steps;
    return k;
}

static const char *const *snap_dc_names(const bs_ring_snapshot *s) {
    return (const char *const *)s->dc_names;
}

int bs_ring_replicas(const bs_ring_snapshot *snap, const bs_ring_strategy *st,
                     int64_t token, uint32_t *out, size_t cap, size_t *n) {
    *n = 0;
    size_t vn;
    int rc = bs_ring_snapshot_vnode_of(snap, token, &vn);
    if (rc) return rc;
    bs__ring_plan p;
    if ((rc = bs__ring_plan_init(&p, st, &snap->view, snap_dc_names(snap))))
        return rc;
    if (cap < p.total) {
        *n = p.total;
        bs__ring_plan_free(&p);
        return BS_ERANGE;
    }
    *n = bs__ring_calc(&p, &snap->view, vn, out, NULL);
    bs__ring_plan_free(&p);
    return 0;
}

/* ---- replica map ------------------------------------------------------ */

int bs_ring_replica_map_build(const bs_ring_snapshot *snap,
                              const bs_ring_strategy *st,
                              bs_ring_replica_map **out) {
    *out = NULL;
    const bs__ring_view *v = &snap->view;
    bs__ring_plan p;
    int rc = bs__ring_plan_init(&p, st, v, snap_dc_names(snap));
    if (rc) return rc;
    bs_ring_replica_map *m = calloc(1, sizeof *m);
    if (m) {
        m->off = malloc((v->ntokens + 1) * sizeof(uint32_t));
        m->nodes = malloc((v->ntokens * p.total + 1) * sizeof(uint32_t));
    }
    if (!m || !m->off || !m->nodes) {
        if (m) {
            free(m->off);
            free(m->nodes);
        }
        free(m);
        bs__ring_plan_free(&p);
        return BS_ENOMEM;
    }
    atomic_init(&m->refs, 1);
    uint32_t pos = 0;
    for (size_t i = 0; i < v->ntokens; i++) {
        m->off[i] = pos;
        pos += (uint32_t)bs__ring_calc(&p, v, i, m->nodes + pos, NULL);
    }
    m->off[v->ntokens] = pos;
    bs__ring_plan_free(&p);
    m->snap = bs_ring_snapshot_retain(snap);
    *out = m;
    return 0;
}

bs_ring_replica_map *bs_ring_replica_map_retain(const bs_ring_replica_map *m) {
    bs_ring_replica_map *mm = (bs_ring_replica_map *)m;
    atomic_fetch_add_explicit(&mm->refs, 1, memory_order_relaxed);
    return mm;
}

void bs_ring_replica_map_release(const bs_ring_replica_map *m) {
    if (!m) return;
    bs_ring_replica_map *mm = (bs_ring_replica_map *)m;
    if (atomic_fetch_sub_explicit(&mm->refs, 1, memory_order_acq_rel) != 1)
        return;
    bs_ring_snapshot_release(mm->snap);
    free(mm->off);
    free(mm->nodes);
    free(mm);
}

const bs_ring_snapshot *bs_ring_replica_map_snapshot(
    const bs_ring_replica_map *m) {
    return m->snap;
}

int bs_ring_replica_map_vnode(const bs_ring_replica_map *m, size_t i,
                              const uint32_t **nodes, size_t *n) {
    if (i >= m->snap->view.ntokens) return BS_ERANGE;
    *nodes = m->nodes + m->off[i];
    *n = m->off[i + 1] - m->off[i];
    return 0;
}

int bs_ring_replica_map_lookup(const bs_ring_replica_map *m, int64_t token,
                               const uint32_t **nodes, size_t *n) {
    size_t nt = m->snap->view.ntokens;
    if (nt == 0) {
        *nodes = NULL;
        *n = 0;
        return BS_ENOTFOUND;
    }
    size_t i = bs__ring_lower_bound(m->snap->view.tokens, nt, token);
    if (i == nt) i = 0;
    *nodes = m->nodes + m->off[i];
    *n = m->off[i + 1] - m->off[i];
    return 0;
}

int bs_ring_replica_map_is_replica(const bs_ring_replica_map *m,
                                   int64_t token, uint32_t node) {
    const uint32_t *r;
    size_t n;
    if (bs_ring_replica_map_lookup(m, token, &r, &n)) return 0;
    return taken(r, n, node);
}

int bs_ring_replica_map_ranges(const bs_ring_replica_map *m, uint32_t node,
                               bs_ring_range **out, size_t *n) {
    *out = NULL;
    *n = 0;
    const bs_ring_snapshot *s = m->snap;
    if (node >= s->view.nnodes) return BS_ERANGE;
    size_t nt = s->view.ntokens, cnt = 0;
    for (size_t i = 0; i < nt; i++)
        cnt += taken(m->nodes + m->off[i], m->off[i + 1] - m->off[i], node);
    if (cnt == 0) return 0;
    bs_ring_range *r = malloc(cnt * sizeof *r);
    if (!r) return BS_ENOMEM;
    size_t k = 0;
    for (size_t i = 0; i < nt; i++)
        if (taken(m->nodes + m->off[i], m->off[i + 1] - m->off[i], node))
            bs_ring_snapshot_vnode_range(s, i, &r[k++]);
    *out = r;
    *n = k;
    return 0;
}

void bs_ring_replica_map_ownership(const bs_ring_replica_map *m, double *out) {
    const bs__ring_view *v = &m->snap->view;
    for (uint32_t i = 0; i < v->nnodes; i++) out[i] = 0;
    size_t nt = v->ntokens;
    for (size_t i = 0; i < nt; i++) {
        double w = bs__ring_width(v->tokens[i == 0 ? nt - 1 : i - 1],
                                  v->tokens[i]);
        for (uint32_t j = m->off[i]; j < m->off[i + 1]; j++)
            out[m->nodes[j]] += w;
    }
}
