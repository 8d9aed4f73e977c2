/*
 * provider.c - the admin API provider of basaltd (see provider.h).
 *
 * Node list and gossip states come from a gossip snapshot (every known
 * endpoint, self first); a node's liveness is the failure detector's
 * verdict, its state comes from gossip STATUS (NORMAL/BOOT/LEAVING/...).
 * Effective ownership is computed per request from the current ring and
 * the keyspace's replication strategy (ring/strategy.h), so it matches
 * what the coordinator uses.
 */
#include "node/admin/provider.h"

#include "node/coord/placement.h"

#include <malloc.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/error.h"
#include "node/transport/server.h"
#include "repair/session.h"
#include "query/exec.h"
#include "query/proto.h"
#include "ring/strategy.h"
#include "storage/store.h"

static const char *adup(bs_arena *a, const char *s) {
    return s ? bs_arena_strndup(a, s, strlen(s)) : NULL;
}

static int p_local(void *ud, bs_arena *a, bs_admin_local *o) {
    bs_provider *p = ud;
    memset(o, 0, sizeof *o);
    o->cluster_name = p->cfg->cluster_name;
    o->partitioner = "org.apache.cassandra.dht.Murmur3Partitioner";
    o->snitch = "org.apache.cassandra.locator.GossipingPropertyFileSnitch";
    o->address = bs_config_broadcast_address(p->cfg);
    o->dc = p->cfg->dc;
    o->rack = p->cfg->rack;
    bs_local_host_id(p->node, &o->host_id);
    int64_t now = bs_clock_now_s(NULL);
    o->uptime_seconds = now - p->started_s;
    o->generation = p->started_s;
    o->load_bytes = bs_local_load_bytes(p->node);
    const int64_t *toks;
    size_t nt = bs_local_tokens(p->node, &toks);
    int64_t *copy = bs_arena_alloc(a, (nt + 1) * sizeof *copy);
    if (!copy) return BS_ENOMEM;
    memcpy(copy, toks, nt * sizeof *copy);
    o->tokens = copy;
    o->n_tokens = nt;
    bs_schema *s = bs_local_schema(p->node);
    bs_schema_version(s, &o->schema_version);
    bs_schema_release(s);
    o->gossip_active = p->cluster != NULL;
    o->native_transport_active = !p->drained;
    o->config = p->cfg;
    return 0;
}

static bs_admin_node_state state_of(const char *status) {
    if (!status) return BS_ADMIN_NORMAL;
    if (!strncmp(status, "BOOT", 4) || !strcmp(status, "JOINING")) return BS_ADMIN_JOINING;
    if (!strncmp(status, "LEAVING", 7) || !strncmp(status, "LEFT", 4))
        return BS_ADMIN_LEAVING;
    if (!strncmp(status, "MOVING", 6)) return BS_ADMIN_MOVING;
    return BS_ADMIN_NORMAL;
}

/* Parses "t1,t2,..." into arena memory. */
static size_t parse_tokens(bs_arena *a, const char *s, const int64_t **out) {
    size_t n = 0;
    for (const char *q = s; q && *q; q++)
        n += *q == ',';
    int64_t *t = bs_arena_alloc(a, (n + 2) * sizeof *t);
    size_t k = 0;
    const char *q = s;
    while (q && *q && t) {
        char *end;
        long long v = strtoll(q, &end, 10);
        if (end == q) break;
        t[k++] = v;
        q = *end == ',' ? end + 1 : end;
        if (!*end) break;
    }
    *out = t;
    return k;
}

static int p_nodes(void *ud, bs_arena *a, bs_admin_node **out, size_t *n) {
    bs_provider *p = ud;
    *out = NULL;
    *n = 0;
    if (!p->cluster) {
        bs_admin_node *nd = bs_arena_calloc(a, sizeof *nd);
        bs_admin_local l;
        if (!nd || p_local(ud, a, &l)) return BS_ENOMEM;
        nd->address = l.address;
        nd->dc = l.dc;
        nd->rack = l.rack;
        nd->status = BS_ADMIN_UP;
        nd->state = BS_ADMIN_NORMAL;
        nd->load_bytes = l.load_bytes;
        nd->host_id = l.host_id;
        nd->tokens = l.tokens;
        nd->n_tokens = l.n_tokens;
        nd->has_schema = true;
        nd->schema_version = l.schema_version;
        nd->is_local = true;
        *out = nd;
        *n = 1;
        return 0;
    }
    bs_gossip_view *v;
    size_t nv;
    int rc = bs_gossip_snapshot(bs_cluster_gossip(p->cluster), &v, &nv);
    if (rc) return rc;
    bs_admin_node *nd = bs_arena_calloc(a, (nv + 1) * sizeof *nd);
    if (!nd) {
        bs_gossip_views_free(v, nv);
        return BS_ENOMEM;
    }
    size_t k = 0;
    for (size_t i = 0; i < nv; i++) {
        const bs_gossip_ep *e = &v[i].st;
        if (!e->app[BS_GS_HOST_ID].value)
            continue; /* a seed not heard from yet */
        if (!v[i].is_self && e->app[BS_GS_STATUS].value &&
            !strcmp(e->app[BS_GS_STATUS].value, "LEFT"))
            continue; /* decommissioned: no longer part of the cluster */
        bs_uuid hid;
        if (!v[i].is_self &&
            !bs_uuid_parse(e->app[BS_GS_HOST_ID].value,
                           strlen(e->app[BS_GS_HOST_ID].value), &hid) &&
            bs_cluster_is_removed(p->cluster, &hid))
            continue; /* removed, back with its old host id: stays out */
        bs_admin_node *d = &nd[k++];
        d->address = adup(a, e->ep.addr);
        d->dc = adup(a, e->app[BS_GS_DC].value ? e->app[BS_GS_DC].value : "?");
        d->rack =
            adup(a, e->app[BS_GS_RACK].value ? e->app[BS_GS_RACK].value : "?");
        d->status = (v[i].is_self || v[i].alive) ? BS_ADMIN_UP : BS_ADMIN_DOWN;
        d->state = state_of(e->app[BS_GS_STATUS].value);
        d->load_bytes = e->app[BS_GS_LOAD].value
                            ? strtoll(e->app[BS_GS_LOAD].value, NULL, 10)
                            : -1;
        bs_uuid_parse(e->app[BS_GS_HOST_ID].value,
                      strlen(e->app[BS_GS_HOST_ID].value), &d->host_id);
        d->n_tokens = parse_tokens(a, e->app[BS_GS_TOKENS].value, &d->tokens);
        if (e->app[BS_GS_SCHEMA].value &&
            bs_uuid_parse(e->app[BS_GS_SCHEMA].value,
                          strlen(e->app[BS_GS_SCHEMA].value),
                          &d->schema_version) == 0)
            d->has_schema = true;
        d->release_version = adup(a, e->app[BS_GS_RELEASE_VERSION].value);
        d->is_local = v[i].is_self;
        if (d->is_local) d->load_bytes = bs_local_load_bytes(p->node);
    }
    bs_gossip_views_free(v, nv);
    *out = nd;
    *n = k;
    return 0;
}

static int p_ownership(void *ud, const char *keyspace, bs_arena *a,
                       bs_admin_owner **out, size_t *n, const char **used) {
    bs_provider *p = ud;
    *out = NULL;
    *n = 0;
    *used = NULL;
    bs_schema *s = bs_local_schema(p->node);
    const bs_keyspace_schema *k = NULL;
    if (keyspace) {
        k = bs_schema_keyspace(s, keyspace);
        if (!k) {
            bs_schema_release(s);
            return BS_ENOTFOUND;
        }
    } else {
        for (size_t i = 0; i < bs_schema_nkeyspaces(s) && !k; i++) {
            const bs_keyspace_schema *c = bs_schema_keyspace_at(s, i);
            if (!c->system && strcmp(c->name, "system_auth")) k = c;
        }
    }
    bs_ring_snapshot *snap = p->cluster ? bs_cluster_ring(p->cluster) : NULL;
    bs_ring_strategy *st = NULL;
    if (!k || !snap || bs_node_strategy(k, snap, &st)) {
        if (snap) bs_ring_snapshot_release(snap);
        bs_schema_release(s);
        return 0;
    }
    *used = adup(a, k->name);
    bs_schema_release(s);
    bs_ring_replica_map *m = NULL;
    int rc = bs_ring_replica_map_build(snap, st, &m);
    bs_ring_strategy_free(st);
    if (rc) {
        bs_ring_snapshot_release(snap);
        return rc;
    }
    uint32_t nn = bs_ring_snapshot_node_count(snap);
    double *own = bs_arena_calloc(a, (nn + 1) * sizeof *own);
    bs_admin_owner *o = bs_arena_calloc(a, (nn + 1) * sizeof *o);
    if (!own || !o) rc = BS_ENOMEM;
    if (!rc) {
        bs_ring_replica_map_ownership(m, own);
        for (uint32_t i = 0; i < nn; i++) {
            bs_ring_node_desc d;
            if (bs_ring_snapshot_node(snap, i, &d)) continue;
            o[*n].host_id = d.host_id;
            o[*n].owns = own[i];
            (*n)++;
        }
        *out = o;
    }
    bs_ring_replica_map_release(m);
    bs_ring_snapshot_release(snap);
    return rc;
}

static int p_gossip(void *ud, bs_arena *a, bs_admin_endpoint **out, size_t *n) {
    bs_provider *p = ud;
    *out = NULL;
    *n = 0;
    if (!p->cluster) return 0;
    bs_gossip_view *v;
    size_t nv;
    int rc = bs_gossip_snapshot(bs_cluster_gossip(p->cluster), &v, &nv);
    if (rc) return rc;
    bs_admin_endpoint *e = bs_arena_calloc(a, (nv + 1) * sizeof *e);
    for (size_t i = 0; e && i < nv; i++) {
        const bs_gossip_ep *g = &v[i].st;
        e[i].address = adup(a, g->ep.addr);
        e[i].generation = g->generation;
        e[i].heartbeat = g->hb_version;
        e[i].alive = v[i].is_self || v[i].alive;
        bs_admin_app_state *st = bs_arena_calloc(a, BS_GS_NSTATES * sizeof *st);
        size_t k = 0;
        for (int j = 0; st && j < BS_GS_NSTATES; j++) {
            if (!g->app[j].value) continue;
            st[k].name = bs_gossip_app_name(j);
            st[k].version = g->app[j].version;
            st[k].value = adup(a, g->app[j].value);
            k++;
        }
        e[i].states = st;
        e[i].n_states = k;
    }
    bs_gossip_views_free(v, nv);
    if (!e) return BS_ENOMEM;
    *out = e;
    *n = nv;
    return 0;
}

static int maint(bs_provider *p, int compact, const char *ks, const char *table,
                 char *err, size_t errlen) {
    int rc = compact ? bs_local_compact_tables(p->node, ks, table)
                     : bs_local_flush_tables(p->node, ks, table);
    if (rc == BS_ENOTFOUND)
        snprintf(err, errlen, "unknown %s %s%s%s", table ? "table" : "keyspace",
                 ks ? ks : "", table ? "." : "", table ? table : "");
    else if (rc)
        snprintf(err, errlen, "%s failed: %s", compact ? "compaction" : "flush",
                 bs_strerror(rc));
    return rc;
}

static int p_flush(void *ud, const char *ks, const char *table, char *err,
                   size_t errlen) {
    return maint(ud, 0, ks, table, err, errlen);
}

static int p_compact(void *ud, const char *ks, const char *table, char *err,
                     size_t errlen) {
    return maint(ud, 1, ks, table, err, errlen);
}

static int p_drain(void *ud, char *err, size_t errlen) {
    bs_provider *p = ud;
    p->drained = 1;
    bs_coord_drain(p->coord); /* first, so nothing lands after the flush */
    int rc = bs_local_flush(p->node);
    if (rc) snprintf(err, errlen, "flush failed: %s", bs_strerror(rc));
    return rc;
}

void bs_provider_fill(bs_provider *p, bs_admin_provider *o) {
    memset(o, 0, sizeof *o);
    o->ud = p;
    o->local = p_local;
    o->nodes = p_nodes;
    o->ownership = p_ownership;
    o->gossip = p_gossip;
    o->flush = p_flush;
    o->compact = p_compact;
    o->drain = p_drain;
}

/* GET /hints: pending hints per known node (from the coordinator). */
static int r_hints(void *ud, const bs_admin_request *req,
                   bs_admin_response *resp) {
    bs_provider *p = ud;
    bs_admin_node *nodes = NULL;
    size_t n = 0;
    int rc = p_nodes(p, req->arena, &nodes, &n);
    if (rc) return rc;
    bs_coord_stats st;
    memset(&st, 0, sizeof st);
    if (p->coord) bs_coord_get_stats(p->coord, &st);
    bs_admin_json w;
    bs_admin_json_init(&w, &resp->body);
    bs_admin_json_obj(&w);
    bs_admin_json_key(&w, "hints");
    bs_admin_json_arr(&w);
    for (size_t i = 0; i < n; i++) {
        if (nodes[i].is_local) continue;
        bs_admin_json_obj(&w);
        bs_admin_json_key(&w, "host_id");
        bs_admin_json_uuid(&w, &nodes[i].host_id);
        bs_admin_json_key(&w, "address");
        bs_admin_json_str(&w, nodes[i].address);
        bs_admin_json_key(&w, "up");
        bs_admin_json_bool(&w, nodes[i].status == BS_ADMIN_UP);
        bs_admin_json_key(&w, "pending");
        bs_admin_json_int(&w, p->coord ? (int64_t)bs_coord_hints_pending(
                                             p->coord, &nodes[i].host_id)
                                       : 0);
        bs_admin_json_end(&w);
    }
    bs_admin_json_end(&w);
    bs_admin_json_key(&w, "written");
    bs_admin_json_int(&w, (int64_t)st.hints_written);
    bs_admin_json_key(&w, "replayed");
    bs_admin_json_int(&w, (int64_t)st.hints_replayed);
    bs_admin_json_key(&w, "dropped");
    bs_admin_json_int(&w, (int64_t)st.hints_dropped);
    bs_admin_json_end(&w);
    return bs_admin_json_finish(&w);
}

/* GET /metrics: Prometheus text exposition format 0.0.4. */
static void metric(bs_buf *b, const char *name, const char *type,
                   const char *help, uint64_t v) {
    bs_buf_appendf(b, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", name, help, name,
                   type, name, (unsigned long long)v);
}

/* Where the node's memory is: RocksDB's own accounting, then malloc's
 * (glibc mallinfo2, all arenas: bytes handed out and bytes free inside
 * the heap; RSS above in-use + free is code, stacks and untouched pages). */
static void metrics_memory(bs_buf *b, bs_store *st) {
    bs_store_mem m;
    bs_store_mem_get(st, &m);
    metric(b, "basalt_storage_memtable_bytes", "gauge",
           "Active and unflushed memtables (rocksdb.cur-size-all-mem-tables)", m.mem_tables_cur);
    metric(b, "basalt_storage_memtable_all_bytes", "gauge",
           "All memtables incl. flushed ones kept for history (rocksdb.size-all-mem-tables)",
           m.mem_tables_all);
    metric(b, "basalt_storage_block_cache_bytes", "gauge",
           "Block cache in use (rocksdb.block-cache-usage)", m.block_cache);
    metric(b, "basalt_storage_block_cache_pinned_bytes", "gauge",
           "Block cache pinned by readers (rocksdb.block-cache-pinned-usage)", m.block_cache_pinned);
    metric(b, "basalt_storage_block_cache_capacity_bytes", "gauge",
           "Block cache limit (block_cache_size)", m.block_cache_capacity);
    metric(b, "basalt_storage_table_readers_bytes", "gauge",
           "SST index/filter memory outside the block cache (rocksdb.estimate-table-readers-mem)",
           m.table_readers);
    struct mallinfo2 mi = mallinfo2();
    metric(b, "basalt_malloc_in_use_bytes", "gauge",
           "Heap bytes allocated and not freed (mallinfo2 uordblks + hblkhd)",
           (uint64_t)(mi.uordblks + mi.hblkhd));
    metric(b, "basalt_malloc_free_bytes", "gauge",
           "Heap bytes free but kept by malloc (mallinfo2 fordblks)", (uint64_t)mi.fordblks);
    metric(b, "basalt_malloc_arena_bytes", "gauge",
           "Heap bytes obtained by malloc from the system, mmap included (arena + hblkhd)",
           (uint64_t)(mi.arena + mi.hblkhd));
}

/* Write forwarding to remote data centers (node/coord/coord_fwd.c). */
static void metrics_fwd(bs_buf *b, const bs_coord_stats *st) {
    metric(b, "basalt_write_forwards_sent_total", "counter",
           "Writes sent to a remote data center as one MUTATION_FWD to a forwarder", st->fwd_sent);
    metric(b, "basalt_write_forwards_relayed_total", "counter",
           "Write copies this node passed on to the other replicas of its data center",
           st->fwd_relayed);
    metric(b, "basalt_write_forward_acks_total", "counter",
           "MUTATION_ACKs received from replicas reached through a forwarder", st->fwd_acked);
    metric(b, "basalt_write_forward_expired_total", "counter",
           "Replicas reached through a forwarder that did not ack in time (hinted)",
           st->fwd_expired);
}

/* Internode traffic with peers in other data centers, by verb. */
static void metrics_compression(bs_buf *b, bs_msg *m) {
    bs_msg_stats st;
    bs_msg_get_stats(m, &st);
    metric(b, "basalt_internode_compressed_frames_total", "counter",
           "Internode frames sent lz4-compressed (internode_compression)", st.compressed);
    metric(b, "basalt_internode_compression_raw_bytes_total", "counter",
           "Bytes of the compressed internode frames before compression", st.compress_raw_bytes);
    metric(b, "basalt_internode_compression_wire_bytes_total", "counter",
           "Bytes of the compressed internode frames as sent", st.compress_wire_bytes);
}

static void metrics_xdc(bs_buf *b, bs_msg *m) {
    static bs_msg_xdc x; /* 1 KiB: off the stack; admin requests run one at a time */
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    static const struct {
        const char *name, *help;
        size_t off;
    } k[] = {
        {"basalt_internode_cross_dc_sent_messages_total",
         "Internode messages queued to peers in another data center", offsetof(bs_msg_xdc, sent_msgs)},
        {"basalt_internode_cross_dc_sent_bytes_total",
         "Internode bytes (whole frames) queued to peers in another data center",
         offsetof(bs_msg_xdc, sent_bytes)},
        {"basalt_internode_cross_dc_received_messages_total",
         "Internode messages received from peers in another data center",
         offsetof(bs_msg_xdc, recv_msgs)},
        {"basalt_internode_cross_dc_received_bytes_total",
         "Internode bytes (whole frames) received from peers in another data center",
         offsetof(bs_msg_xdc, recv_bytes)},
    };
    pthread_mutex_lock(&mu);
    bs_msg_get_xdc(m, &x);
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
        const uint64_t *v = (const uint64_t *)((const char *)&x + k[i].off);
        bs_buf_appendf(b, "# HELP %s %s\n# TYPE %s counter\n", k[i].name, k[i].help, k[i].name);
        for (int verb = 1; verb < BS_VERB_MAX; verb++) {
            char tmp[16];
            if (v[verb])
                bs_buf_appendf(b, "%s{verb=\"%s\"} %llu\n", k[i].name,
                               bs_coord_verb_label((uint8_t)verb, tmp), (unsigned long long)v[verb]);
        }
    }
    pthread_mutex_unlock(&mu);
}

/* The CQL server's connections, requests, bytes and errors. */
static void metrics_cql(bs_buf *b, bs_server *srv) {
    bs_server_stats ss;
    bs_server_stats_get(srv, &ss);
    metric(b, "basalt_cql_connections", "gauge", "Open CQL connections",
           ss.connections_open);
    metric(b, "basalt_cql_connections_total", "counter",
           "CQL connections accepted", ss.connections_total);
    metric(b, "basalt_cql_requests_total", "counter", "CQL frames received",
           ss.requests_total);
    metric(b, "basalt_cql_requests_on_loop_total", "counter",
           "CQL requests started on an event loop instead of a worker thread",
           ss.requests_inline);
    metric(b, "basalt_cql_requests_in_flight", "gauge",
           "CQL requests queued for a worker, running on one, or waiting for replicas",
           ss.requests_in_flight);
    metric(b, "basalt_cql_requests_deferred_total", "counter",
           "Requests started on a loop and answered when replicas replied",
           ss.requests_deferred);
    metric(b, "basalt_cql_requests_moved_total", "counter",
           "Requests started on a loop and moved to a worker thread (they had to block)",
           ss.requests_moved);
    metric(b, "basalt_cql_bytes_in_total", "counter", "CQL bytes received",
           ss.bytes_in);
    metric(b, "basalt_cql_bytes_out_total", "counter", "CQL bytes sent",
           ss.bytes_out);
    bs_buf_appendf(
        b, "# HELP basalt_cql_errors_total ERROR responses by code\n"
           "# TYPE basalt_cql_errors_total counter\n");
    for (int i = 0; i < BS_SERVER_NERRCODES; i++)
        if (ss.errors[i])
            bs_buf_appendf(
                b, "basalt_cql_errors_total{code=\"0x%04x\"} %llu\n",
                (unsigned)ss.errcodes[i], (unsigned long long)ss.errors[i]);
}

/* Requests served per repair verb (repair, streaming). */
static void metrics_repair(bs_buf *b, struct bs_repair *r) {
    if (!r) return;
    bs_repair_stats rs;
    bs_repair_get_stats(r, &rs);
    bs_buf_appendf(b, "# HELP basalt_repair_requests_total Repair and "
                      "streaming requests served as a replica, by verb\n"
                      "# TYPE basalt_repair_requests_total counter\n");
    const char *vn[] = {"tree", "digests", "send", "stream", "send_all"};
    uint64_t vv[] = {rs.tree, rs.digests, rs.send, rs.stream, rs.send_all};
    for (int i = 0; i < 5; i++)
        bs_buf_appendf(b, "basalt_repair_requests_total{verb=\"%s\"} %llu\n",
                       vn[i], (unsigned long long)vv[i]);
    metric(b, "basalt_stream_stale_chunks_total", "counter",
           "Stream chunks refused: their session was requested before a restart "
           "or given up", rs.stale_chunks);
}

static int r_metrics(void *ud, const bs_admin_request *req,
                     bs_admin_response *resp) {
    (void)req;
    bs_provider *p = ud;
    bs_buf *b = &resp->body;
    resp->content_type = "text/plain; version=0.0.4";
    if (p->coord) {
        bs_coord_stats st;
        bs_coord_get_stats(p->coord, &st);
        bs_buf_appendf(b, "# HELP basalt_coordinator_writes_total Writes "
                          "coordinated, by consistency level\n"
                          "# TYPE basalt_coordinator_writes_total counter\n");
        for (int i = 0; i < BS_COORD_NCL; i++)
            if (bs_proto_consistency_name((uint16_t)i))
                bs_buf_appendf(
                    b, "basalt_coordinator_writes_total{cl=\"%s\"} %llu\n",
                    bs_proto_consistency_name((uint16_t)i),
                    (unsigned long long)st.writes[i]);
        bs_buf_appendf(b, "# HELP basalt_coordinator_reads_total Reads "
                          "coordinated, by consistency level\n"
                          "# TYPE basalt_coordinator_reads_total counter\n");
        for (int i = 0; i < BS_COORD_NCL; i++)
            if (bs_proto_consistency_name((uint16_t)i))
                bs_buf_appendf(
                    b, "basalt_coordinator_reads_total{cl=\"%s\"} %llu\n",
                    bs_proto_consistency_name((uint16_t)i),
                    (unsigned long long)st.reads[i]);
        metric(b, "basalt_coordinator_range_reads_total", "counter",
               "Token-range reads coordinated", st.range_reads);
        metric(b, "basalt_coordinator_unavailables_total", "counter",
               "Requests refused with Unavailable", st.unavailables);
        metric(b, "basalt_coordinator_write_timeouts_total", "counter",
               "Writes answered WriteTimeout", st.write_timeouts);
        metric(b, "basalt_coordinator_read_timeouts_total", "counter",
               "Reads answered ReadTimeout", st.read_timeouts);
        metric(b, "basalt_coordinator_writes_shed_total", "counter",
               "Client writes answered Overloaded while compaction was behind "
               "(BS_STORE_SHED_L0 L0 files)", st.writes_shed);
        metric(b, "basalt_hints_written_total", "counter",
               "Hints stored for replicas that missed a write",
               st.hints_written);
        metric(b, "basalt_hints_replayed_total", "counter", "Hints delivered",
               st.hints_replayed);
        metric(b, "basalt_hints_dropped_total", "counter",
               "Hints dropped (window passed or target left)",
               st.hints_dropped);
        metric(b, "basalt_hints_pending", "gauge", "Hints waiting for delivery",
               st.hints_pending);
        metric(b, "basalt_read_repairs_total", "counter",
               "Digest mismatches repaired before answering", st.read_repairs);
        metric(b, "basalt_speculative_retries_total", "counter",
               "Reads retried on another replica", st.speculative_retries);
        metric(b, "basalt_replica_writes_total", "counter",
               "Mutations applied for other coordinators", st.replica_writes);
        metric(b, "basalt_replica_reads_total", "counter",
               "Reads served for other coordinators", st.replica_reads);
        metric(b, "basalt_coordinator_partial_visits_total", "counter",
               "Aggregations asked of other replicas (only their results come back)",
               st.partial_sent);
        metric(b, "basalt_coordinator_partial_visits_failed_total", "counter",
               "Aggregations asked of other replicas that failed (their ranges read whole)",
               st.partial_failed);
        metric(b, "basalt_replica_partial_visits_total", "counter",
               "Aggregations run for other coordinators", st.partial_served);
        metrics_fwd(b, &st);
        bs_buf_appendf(b,
                       "# HELP basalt_coordinator_latency_seconds Coordinator "
                       "latency quantiles\n"
                       "# TYPE basalt_coordinator_latency_seconds summary\n"
                       "basalt_coordinator_latency_seconds{op=\"write\","
                       "quantile=\"0.5\"} %.6f\n"
                       "basalt_coordinator_latency_seconds{op=\"write\","
                       "quantile=\"0.99\"} %.6f\n"
                       "basalt_coordinator_latency_seconds{op=\"read\","
                       "quantile=\"0.5\"} %.6f\n"
                       "basalt_coordinator_latency_seconds{op=\"read\","
                       "quantile=\"0.99\"} %.6f\n",
                       st.write_p50_us / 1e6, st.write_p99_us / 1e6,
                       st.read_p50_us / 1e6, st.read_p99_us / 1e6);
    }
    if (p->cluster) {
        metrics_xdc(b, bs_cluster_msg(p->cluster));
        metrics_compression(b, bs_cluster_msg(p->cluster));
    }
    if (p->server) metrics_cql(b, p->server);
    if (p->exec) {
        bs_exec_stats es;
        bs_exec_stats_get(p->exec, &es);
        metric(b, "basalt_prepared_statements", "gauge",
               "Prepared statements in the cache", es.prepared);
        metric(b, "basalt_prepared_statements_bytes", "gauge",
               "Memory of the cached prepared statements "
               "(limit: prepared_statements_cache_size)", es.prepared_bytes);
        metric(b, "basalt_prepared_statements_evicted_total", "counter",
               "Prepared statements dropped for room (executing one answers "
               "Unprepared)", es.evicted);
    }
    metrics_repair(b, p->repair);
    metric(b, "basalt_load_bytes", "gauge",
           "Bytes on disk of every table (SST files)",
           (uint64_t)bs_local_load_bytes(p->node));
    bs_store_bg bg;
    bs_store_bg_state(bs_local_store(p->node), &bg);
    metric(b, "basalt_storage_background_behind", "gauge",
           "1 while flushes/compactions are behind and run at normal priority, "
           "0 while they use idle CPU only", (uint64_t)bg.behind);
    uint64_t shed_l0 = 0;
    bs_store_shedding(bs_local_store(p->node), &shed_l0);
    metric(b, "basalt_storage_write_shedding", "gauge",
           "L0 file count while client writes are shed (compaction behind), else 0",
           shed_l0);
    metric(b, "basalt_storage_write_shed_episodes_total", "counter",
           "Times write shedding started", bs_store_shed_episodes(bs_local_store(p->node)));
    metric(b, "basalt_storage_background_switches_total", "counter",
           "Changes between behind and caught up", bg.switches);
    metric(b, "basalt_storage_background_idle_allowed", "gauge",
           "1 if flushes/compactions may run on idle CPU (SCHED_IDLE can be left again)",
           (uint64_t)bg.idle_allowed);
    metric(b, "basalt_storage_flushes_running", "gauge", "Memtable flushes running now",
           (uint64_t)bg.flushes_running);
    metric(b, "basalt_storage_compactions_running", "gauge", "Compactions running now",
           (uint64_t)bg.compactions_running);
    metric(b, "basalt_storage_flushes_pending", "gauge",
           "Tables with a memtable waiting for its flush", (uint64_t)bg.flushes_pending);
    metric(b, "basalt_storage_compactions_pending", "gauge",
           "Tables whose files call for a compaction", (uint64_t)bg.compactions_pending);
    metric(b, "basalt_storage_pending_compaction_bytes", "gauge",
           "Estimated bytes the pending compactions would rewrite",
           bg.pending_compaction_bytes);
    metrics_memory(b, bs_local_store(p->node));
    return 0;
}

/* GET /hintsfordc, POST /disablehintsfordc?dc=DC, POST /enablehintsfordc?dc=DC:
 * {"disabled": [DC...]} (after the change). */
static int r_hintsfordc(void *ud, const bs_admin_request *req, bs_admin_response *resp) {
    bs_provider *p = ud;
    if (!p->coord) return bs_admin_error(resp, 503, "this node has no coordinator");
    if (strcmp(req->method, "GET") != 0) {
        const char *dc = NULL;
        if (bs_admin_query_param(req, "dc", &dc) || !dc || !*dc)
            return bs_admin_error(resp, 400, "missing ?dc=NAME (a data center)");
        int enable = strstr(req->path, "/enable") == req->path;
        if (bs_coord_hints_dc_set(p->coord, dc, enable))
            return bs_admin_error(resp, 400, "bad data center name '%s' (empty, too long, a "
                                             "comma, or too many disabled)", dc);
    }
    char list[1024];
    bs_coord_hints_dc_list(p->coord, list, sizeof list);
    bs_admin_json w;
    bs_admin_json_init(&w, &resp->body);
    bs_admin_json_obj(&w);
    bs_admin_json_key(&w, "disabled");
    bs_admin_json_arr(&w);
    for (char *q = list, *tok; (tok = strsep(&q, ","));)
        if (*tok) bs_admin_json_str(&w, tok);
    bs_admin_json_end(&w);
    bs_admin_json_end(&w);
    return bs_admin_json_finish(&w);
}

int bs_provider_install_routes(bs_provider *p, bs_admin *a) {
    int rc = bs_admin_route_blocking(a, "GET", "/hints", r_hints, p);
    if (!rc) rc = bs_admin_route(a, "GET", "/hintsfordc", r_hintsfordc, p);
    if (!rc) rc = bs_admin_route(a, "POST", "/disablehintsfordc", r_hintsfordc, p);
    if (!rc) rc = bs_admin_route(a, "POST", "/enablehintsfordc", r_hintsfordc, p);
    if (!rc) rc = bs_admin_route_blocking(a, "GET", "/metrics", r_metrics, p);
    return rc;
}
