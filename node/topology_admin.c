/*
 * topology_admin.c - cleanup and the admin routes of topology changes
 * (see topology.h).
 *
 * Cleanup: for each table of the non-system keyspaces (or the one
 * named), every vnode range of the current ring whose replicas (the
 * keyspace's strategy) do not include this node is deleted from the
 * store with range deletions (bs_store_delete_tokens), then the table is
 * flushed and compacted so the files shrink.  Refused while a node joins
 * or leaves: the ranges it gains or gives up are pending, and dropping
 * them then would lose data.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "node/coord/placement.h"
#include "node/topology.h"
#include "ring/strategy.h"
#include "storage/store.h"

typedef struct cleanup_res {
    uint64_t tables, ranges;
} cleanup_res;

/* Drops the vnode ranges of `ring` that `self` does not replicate from
 * every table of k. */
static int cleanup_keyspace(bs_local *node, const bs_ring_snapshot *ring,
                            uint32_t self, const bs_keyspace_schema *k,
                            cleanup_res *res) {
    bs_ring_strategy *st = NULL;
    bs_ring_replica_map *m = NULL;
    int rc = bs_node_strategy(k, ring, &st);
    if (!rc) rc = bs_ring_replica_map_build(ring, st, &m);
    size_t nt = bs_ring_snapshot_token_count(ring);
    for (size_t j = 0; j < k->ntables && !rc; j++) {
        char cf[200];
        bs_table_cf_name(k->tables[j], cf, sizeof cf);
        bs_table *tb;
        if (bs_store_table_get(bs_local_store(node), cf, &tb)) continue;
        for (size_t v = 0; v < nt && !rc; v++) {
            int64_t end, start;
            uint32_t owner;
            bs_ring_snapshot_token_at(ring, v, &end, &owner);
            bs_ring_snapshot_token_at(ring, v ? v - 1 : nt - 1, &start, &owner);
            if (bs_ring_replica_map_is_replica(m, end, self)) continue;
            rc = bs_store_delete_tokens(tb, start, end);
            res->ranges++;
        }
        if (!rc) rc = bs_store_flush(bs_local_store(node), tb);
        if (!rc) rc = bs_store_compact(tb);
        res->tables++;
    }
    bs_ring_replica_map_release(m);
    bs_ring_strategy_free(st);
    return rc;
}

static int run_cleanup(const bs_topology_opts *o, const char *ks, cleanup_res *res,
                       bs_admin_response *resp) {
    bs_ring_snapshot *fut = bs_cluster_future_ring(o->cluster);
    if (fut) {
        bs_ring_snapshot_release(fut);
        return bs_admin_error(resp, 409, "a node is joining or leaving: cleanup "
                              "would drop its pending ranges; run it afterwards");
    }
    bs_ring_snapshot *ring = bs_cluster_ring(o->cluster);
    bs_uuid self;
    bs_local_host_id(o->node, &self);
    uint32_t si;
    if (!ring || bs_ring_snapshot_find_node(ring, &self, &si)) {
        if (ring) bs_ring_snapshot_release(ring);
        return bs_admin_error(resp, 409, "this node is not a member of the ring");
    }
    bs_schema *s = bs_local_schema(o->node);
    int rc = 0, found = 0;
    for (size_t i = 0; s && i < bs_schema_nkeyspaces(s) && !rc; i++) {
        const bs_keyspace_schema *k = bs_schema_keyspace_at(s, i);
        if (k->system || (ks && strcmp(ks, k->name))) continue;
        found = 1;
        rc = cleanup_keyspace(o->node, ring, si, k, res);
    }
    if (s) bs_schema_release(s);
    bs_ring_snapshot_release(ring);
    if (ks && !found) return bs_admin_error(resp, 404, "unknown keyspace %s", ks);
    if (rc) return bs_admin_error(resp, 500, "cleanup failed: %s", bs_strerror(rc));
    return 0;
}


static int h_cleanup(void *ud, const bs_admin_request *req, bs_admin_response *resp) {
    const bs_topology_opts *o = bs__topology_opts(ud);
    const char *ks = NULL;
    if (bs_admin_query_param(req, "keyspace", &ks) || (ks && !*ks)) ks = NULL;
    bs_local_flush(o->node);
    int64_t before = bs_local_load_bytes(o->node);
    cleanup_res res = {0, 0};
    run_cleanup(o, ks, &res, resp);
    if (resp->status != 200) return 0;
    int64_t after = bs_local_load_bytes(o->node);
    return bs_buf_appendf(&resp->body,
                          "{\"tables\":%" PRIu64 ",\"ranges_dropped\":%" PRIu64
                          ",\"bytes_before\":%" PRId64 ",\"bytes_after\":%" PRId64 "}",
                          res.tables, res.ranges, before, after)
               ? BS_ENOMEM
               : 0;
}

static int h_streams(void *ud, const bs_admin_request *req, bs_admin_response *resp) {
    (void)req;
    return bs_topology_json(ud, &resp->body);
}

static int h_decommission(void *ud, const bs_admin_request *req, bs_admin_response *resp) {
    (void)req;
    char err[256] = "";
    int rc = bs_topology_decommission(ud, err, sizeof err);
    if (rc == BS_EBUSY) return bs_admin_error(resp, 409, "decommission refused: %s", err);
    if (rc) return bs_admin_error(resp, 500, "cannot start: %s", bs_strerror(rc));
    resp->status = 202;
    return bs_buf_appendf(&resp->body, "{\"started\":true}") ? BS_ENOMEM : 0;
}

static int h_removenode(void *ud, const bs_admin_request *req, bs_admin_response *resp) {
    const char *h = NULL;
    bs_uuid host;
    if (bs_admin_query_param(req, "host", &h) || !h || bs_uuid_parse(h, strlen(h), &host))
        return bs_admin_error(resp, 400, "removenode needs host=<host id>");
    char err[256] = "";
    int rc = bs_topology_removenode(ud, &host, err, sizeof err);
    if (rc == BS_ENOTFOUND) return bs_admin_error(resp, 404, "removenode %s: %s", h, err);
    if (rc == BS_EBUSY) return bs_admin_error(resp, 409, "removenode refused: %s", err);
    if (rc) return bs_admin_error(resp, 500, "cannot start: %s", bs_strerror(rc));
    resp->status = 202;
    return bs_buf_appendf(&resp->body, "{\"started\":true}") ? BS_ENOMEM : 0;
}

static int h_rebuild(void *ud, const bs_admin_request *req, bs_admin_response *resp) {
    const char *dc = NULL, *ks = NULL;
    if (bs_admin_query_param(req, "source_dc", &dc) || !dc || !*dc)
        return bs_admin_error(resp, 400, "rebuild needs source_dc=<datacenter>");
    if (bs_admin_query_param(req, "keyspace", &ks) || (ks && !*ks)) ks = NULL;
    char err[512] = "";
    int rc = bs_topology_rebuild(ud, dc, ks, err, sizeof err);
    if (rc == BS_ENOTFOUND) return bs_admin_error(resp, 404, "rebuild: %s", err);
    if (rc == BS_EUNAVAIL) return bs_admin_error(resp, 503, "rebuild: %s", err);
    if (rc == BS_EBUSY) return bs_admin_error(resp, 409, "rebuild refused: %s", err);
    if (rc) return bs_admin_error(resp, 400, "rebuild: %s", err[0] ? err : bs_strerror(rc));
    resp->status = 202;
    return bs_buf_appendf(&resp->body, "{\"started\":true}") ? BS_ENOMEM : 0;
}

int bs_topology_install_routes(bs_topology *t, bs_admin *a) {
    int rc = bs_admin_route(a, "GET", "/streams", h_streams, t);
    if (!rc) rc = bs_admin_route(a, "POST", "/decommission", h_decommission, t);
    if (!rc) rc = bs_admin_route(a, "POST", "/removenode", h_removenode, t);
    if (!rc) rc = bs_admin_route(a, "POST", "/rebuild", h_rebuild, t);
    if (!rc) rc = bs_admin_route_blocking(a, "POST", "/cleanup", h_cleanup, t);
    return rc;
}
