/*
 * placement.c - keyspace replication strategies (see placement.h).
 */
#include "node/coord/placement.h"

#include <stdlib.h>
#include <string.h>

#include "common/error.h"

static int parse_rf(const char *s, uint32_t *out) {
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s || *end || v < 0 || v > 1000) return BS_EINVAL;
    *out = (uint32_t)v;
    return 0;
}

int bs_node_strategy(const bs_keyspace_schema *ks, const bs_ring_snapshot *ring,
                     bs_ring_strategy **out) {
    const char *cls = ks->repl_class ? ks->repl_class : "";
    const char *rfs = NULL;
    for (size_t i = 0; i < ks->nrepl; i++)
        if (!strcmp(ks->repl_keys[i], "replication_factor"))
            rfs = ks->repl_values[i];
    uint32_t rf;
    if (strstr(cls, "SimpleStrategy")) {
        if (!rfs || parse_rf(rfs, &rf) || !rf) return BS_EINVAL;
        return bs_ring_strategy_simple(rf, out);
    }
    if (strstr(cls, "EverywhereStrategy"))
        return bs_ring_strategy_simple(bs_ring_snapshot_node_count(ring)
                                           ? bs_ring_snapshot_node_count(ring)
                                           : 1,
                                       out);
    if (!strstr(cls, "NetworkTopologyStrategy")) return BS_ENOTSUP;
    const char *dcs[64];
    uint32_t rfv[64];
    size_t n = 0;
    for (size_t i = 0; i < ks->nrepl && n < 64; i++) {
        if (!strcmp(ks->repl_keys[i], "replication_factor")) continue;
        if (parse_rf(ks->repl_values[i], &rfv[n])) return BS_EINVAL;
        dcs[n++] = ks->repl_keys[i];
    }
    if (rfs) { /* replication_factor: every DC of the ring not named */
        if (parse_rf(rfs, &rf)) return BS_EINVAL;
        uint32_t nn = bs_ring_snapshot_node_count(ring);
        for (uint32_t i = 0; i < nn && n < 64; i++) {
            bs_ring_node_desc d;
            if (bs_ring_snapshot_node(ring, i, &d)) continue;
            int seen = 0;
            for (size_t j = 0; j < n; j++)
                seen |= !strcmp(dcs[j], d.dc);
            if (!seen) {
                dcs[n] = d.dc;
                rfv[n++] = rf;
            }
        }
    }
    if (!n) return BS_EINVAL;
    return bs_ring_strategy_nts(dcs, rfv, n, out);
}
