/*
 * provider.h - the admin API's view of a running basaltd: fills a
 * bs_admin_provider (node/admin/admin.h) from the local node, the cluster
 * (gossip + ring) and the configuration.
 */
#ifndef BS_NODE_PROVIDER_H
#define BS_NODE_PROVIDER_H

#include "node/admin/admin.h"
#include "node/cluster/cluster.h"
#include "node/config.h"
#include "node/coord/coord.h"
#include "node/local.h"

typedef struct bs_provider {
    const bs_config *cfg;
    bs_local *node;
    bs_cluster *cluster;      /* may be NULL (single node, no gossip) */
    bs_coord *coord;          /* may be NULL: no /hints */
    struct bs_server *server; /* may be NULL: no CQL server counters */
    struct bs_exec *exec;     /* may be NULL: no prepared-statement gauges */
    struct bs_repair *repair; /* may be NULL: no repair request counters */
    int64_t started_s;        /* wall clock at start */
    volatile int drained;     /* set by drain */
} bs_provider;

/* Fills p (whose fields the caller set) into out; p must outlive the
 * admin server. */
void bs_provider_fill(bs_provider *p, bs_admin_provider *out);

/* Routes beyond the built-ins: GET /metrics (Prometheus text format:
 * coordinator counters per consistency level, timeouts, unavailables,
 * hints, read repairs, latency quantiles; CQL server connections,
 * requests, bytes and errors by code; load) and GET /hints (pending hints per
 * target node: {"hints": [{"host_id", "address", "pending"}], "written",
 * "replayed", "dropped"}). */
int bs_provider_install_routes(bs_provider *p, bs_admin *a);

#endif
