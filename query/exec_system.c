/*
 * exec_system.c - virtual system tables, generated on each read from the
 * schema snapshot and the backend's view of the cluster:
 *
 *   system.local, system.peers, system.peers_v2
 *   system_schema.keyspaces, tables, columns, dropped_columns
 *   system_schema.types, functions, aggregates, indexes, views, triggers
 *     (always empty: Basalt has none of those)
 *
 * The columns are exactly those of Cassandra 4.0 (SchemaKeyspace.java,
 * SystemKeyspace.java; the definitions are in query/schema.c and
 * tests/integration/test_system_schema.py holds Cassandra's lists), so
 * drivers build their metadata and token maps from them unchanged:
 * gocql, for one, names 20 columns of system_schema.views even when it
 * is empty.  Every other system
 * table is stored like a user table.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "query/exec_int.h"

#define RELEASE_VERSION "4.0.11"

int bs__x_is_virtual(const char *ks, const char *table) {
    if (!strcmp(ks, "system_schema")) return 1;
    if (!strcmp(ks, "system"))
        return !strcmp(table, "local") || !strcmp(table, "peers") ||
               !strcmp(table, "peers_v2") || !strcmp(table, "size_estimates") ||
               !strcmp(table, "table_estimates");
    return 0;
}

typedef struct vrow {
    xctx *c;
    const bs_table_schema *t;
    xrow r;
} vrow;

static int vr_new(xctx *c, const bs_table_schema *t, vrow *v) {
    v->c = c;
    v->t = t;
    size_t n = t->ncols + 1;
    v->r.vals = bs_arena_alloc(c->a, n * sizeof *v->r.vals);
    v->r.wt = bs_arena_alloc(c->a, n * sizeof *v->r.wt);
    v->r.ttl = bs_arena_calloc(c->a, n * sizeof *v->r.ttl);
    if (!v->r.vals || !v->r.wt || !v->r.ttl)
        return bs__x_fail(c, BS_PROTO_ERR_SERVER, "out of memory");
    for (size_t i = 0; i < n; i++) {
        v->r.vals[i].p = NULL;
        v->r.vals[i].len = BS_VALUE_NULL;
        v->r.vals[i].unset = 0;
        v->r.wt[i] = INT64_MIN;
    }
    v->r.ck = NULL;
    v->r.ck_len = 0;
    v->r.is_static_only = 0;
    return 0;
}

static void vr_bytes(vrow *v, const char *col, const void *p, size_t len) {
    const bs_column *c = bs_table_column(v->t, col);
    if (!c) return;
    size_t i = (size_t)(c - v->t->cols);
    v->r.vals[i].p = bs_arena_memdup(v->c->a, p ? p : "", len ? len : 1);
    v->r.vals[i].len = len;
}

static void vr_text(vrow *v, const char *col, const char *s) {
    if (s) vr_bytes(v, col, s, strlen(s));
}

static void vr_int(vrow *v, const char *col, int32_t x) {
    uint8_t b[4];
    bs_put_u32(b, (uint32_t)x);
    vr_bytes(v, col, b, 4);
}

static void vr_bool(vrow *v, const char *col, int x) {
    uint8_t b = x ? 1 : 0;
    vr_bytes(v, col, &b, 1);
}

static void vr_double(vrow *v, const char *col, double d) {
    uint64_t u;
    memcpy(&u, &d, 8);
    uint8_t b[8];
    bs_put_u64(b, u);
    vr_bytes(v, col, b, 8);
}

static void vr_uuid(vrow *v, const char *col, const bs_uuid *u) {
    vr_bytes(v, col, u->b, 16);
}

static void vr_inet(vrow *v, const char *col, const char *addr) {
    if (!addr) return;
    uint8_t b[16];
    if (inet_pton(AF_INET, addr, b) == 1)
        vr_bytes(v, col, b, 4);
    else if (inet_pton(AF_INET6, addr, b) == 1)
        vr_bytes(v, col, b, 16);
}

/* A text->text map (frozen or not) from parallel arrays. */
static void vr_map(vrow *v, const char *col, size_t n, const char *const *k,
                   const char *const *val) {
    const bs_column *c = bs_table_column(v->t, col);
    if (!c) return;
    bs_value_elem ks[64], vs[64];
    if (n > 64) n = 64;
    for (size_t i = 0; i < n; i++) {
        ks[i].p = (const uint8_t *)k[i];
        ks[i].len = strlen(k[i]);
        vs[i].p = (const uint8_t *)val[i];
        vs[i].len = strlen(val[i]);
    }
    bs_buf b = BS_BUF_INIT;
    if (bs_value_build_map(c->type, ks, vs, n, &b) == 0)
        vr_bytes(v, col, b.data, b.len);
    bs_buf_free(&b);
}

static void vr_tokens(vrow *v, const char *col, const int64_t *toks, size_t n) {
    const bs_column *c = bs_table_column(v->t, col);
    if (!c) return;
    bs_value_elem *es = bs_arena_calloc(v->c->a, (n + 1) * sizeof *es);
    for (size_t i = 0; i < n; i++) {
        char buf[24];
        int l = snprintf(buf, sizeof buf, "%lld", (long long)toks[i]);
        es[i].p = bs_arena_memdup(v->c->a, buf, (size_t)l);
        es[i].len = (size_t)l;
    }
    bs_buf b = BS_BUF_INIT;
    if (bs_value_build_set(c->type, es, n, &b) == 0)
        vr_bytes(v, col, b.data, b.len);
    bs_buf_free(&b);
}

static int emit(xctx *c, xrow_cb cb, void *ud, vrow *v) {
    /* the partition key is the first column's value */
    const uint8_t *pk = v->r.vals[0].p;
    size_t pklen = v->r.vals[0].len == BS_VALUE_NULL ? 0 : v->r.vals[0].len;
    return cb(c, ud, pk, pklen, 0, &v->r);
}

static int local_rows(xctx *c, const bs_table_schema *t, xrow_cb cb, void *ud,
                      int which) {
    bs_exec_node local, *peers = NULL;
    size_t npeers = 0;
    memset(&local, 0, sizeof local);
    if (c->x->be.nodes(c->x->be.ud, c->a, &local, &peers, &npeers))
        return bs__x_fail(c, BS_PROTO_ERR_SERVER, "cannot read node state");
    bs_uuid ver;
    bs_schema_version(c->schema, &ver);
    if (which == 0) {
        vrow v;
        if (vr_new(c, t, &v)) return -1;
        vr_text(&v, "key", "local");
        vr_text(&v, "bootstrapped", "COMPLETED");
        vr_inet(&v, "broadcast_address", local.address);
        vr_int(&v, "broadcast_port", local.storage_port);
        vr_text(&v, "cluster_name",
                c->x->be.cluster_name ? c->x->be.cluster_name : "Test Cluster");
        vr_text(&v, "cql_version", "3.4.5");
        vr_text(&v, "data_center", local.dc);
        vr_int(&v, "gossip_generation", (int32_t)(c->now_us / 1000000));
        vr_uuid(&v, "host_id", &local.host_id);
        vr_inet(&v, "listen_address", local.address);
        vr_int(&v, "listen_port", local.storage_port);
        vr_text(&v, "native_protocol_version", "4");
        vr_text(&v, "partitioner",
                "org.apache.cassandra.dht.Murmur3Partitioner");
        vr_text(&v, "rack", local.rack);
        vr_text(&v, "release_version", RELEASE_VERSION);
        vr_inet(&v, "rpc_address", local.rpc_address);
        vr_int(&v, "rpc_port", local.native_port);
        vr_uuid(&v, "schema_version", &ver);
        vr_tokens(&v, "tokens", local.tokens, local.ntokens);
        return emit(c, cb, ud, &v);
    }
    for (size_t i = 0; i < npeers; i++) {
        bs_exec_node *p = &peers[i];
        vrow v;
        if (vr_new(c, t, &v)) return -1;
        vr_inet(&v, "peer", p->address);
        vr_text(&v, "data_center", p->dc);
        vr_uuid(&v, "host_id", &p->host_id);
        vr_inet(&v, "preferred_ip", p->address);
        vr_text(&v, "rack", p->rack);
        vr_text(&v, "release_version",
                p->release_version ? p->release_version : RELEASE_VERSION);
        vr_uuid(&v, "schema_version", &p->schema_version);
        vr_tokens(&v, "tokens", p->tokens, p->ntokens);
        if (which == 1) {
            vr_inet(&v, "rpc_address", p->rpc_address);
        } else {
            vr_int(&v, "peer_port", p->storage_port);
            vr_inet(&v, "native_address", p->rpc_address);
            vr_int(&v, "native_port", p->native_port);
            vr_int(&v, "preferred_port", p->storage_port);
        }
        int rc = emit(c, cb, ud, &v);
        if (rc) return rc;
    }
    return 0;
}

static const char *kind_name(bs_col_kind k) {
    switch (k) {
    case BS_COL_PARTITION_KEY: return "partition_key";
    case BS_COL_CLUSTERING: return "clustering";
    case BS_COL_STATIC: return "static";
    default: return "regular";
    }
}

static const bs_table_option *opt(const bs_table_schema *t, const char *n) {
    return bs_table_option_get(t, n);
}

static void vr_opt_map(vrow *v, const bs_table_schema *t, const char *name,
                       size_t n, const char *const *k, const char *const *val) {
    const bs_table_option *o = opt(t, name);
    if (o && !o->value) {
        vr_map(v, name, o->nentries, (const char *const *)o->keys,
               (const char *const *)o->values);
        return;
    }
    vr_map(v, name, n, k, val);
}

static int schema_rows(xctx *c, const bs_table_schema *t, xrow_cb cb,
                       void *ud) {
    const char *tn = t->name;
    size_t nks = bs_schema_nkeyspaces(c->schema);
    for (size_t i = 0; i < nks; i++) {
        const bs_keyspace_schema *k = bs_schema_keyspace_at(c->schema, i);
        if (!strcmp(tn, "keyspaces")) {
            vrow v;
            if (vr_new(c, t, &v)) return -1;
            vr_text(&v, "keyspace_name", k->name);
            vr_bool(&v, "durable_writes", k->durable_writes);
            const char *keys[65], *vals[65];
            size_t n = 0;
            keys[n] = "class";
            vals[n++] = k->repl_class;
            for (size_t j = 0; j < k->nrepl && n < 64; j++) {
                keys[n] = k->repl_keys[j];
                vals[n++] = k->repl_values[j];
            }
            vr_map(&v, "replication", n, keys, vals);
            int rc = emit(c, cb, ud, &v);
            if (rc) return rc;
            continue;
        }
        for (size_t j = 0; j < k->ntables; j++) {
            const bs_table_schema *tb = k->tables[j];
            if (!strcmp(tn, "tables")) {
                vrow v;
                if (vr_new(c, t, &v)) return -1;
                vr_text(&v, "keyspace_name", k->name);
                vr_text(&v, "table_name", tb->name);
                const bs_table_option *o;
                o = opt(tb, "bloom_filter_fp_chance");
                vr_double(&v, "bloom_filter_fp_chance",
                          o && o->value ? atof(o->value) : 0.01);
                const char *ck[] = {"keys", "rows_per_partition"},
                           *cv[] = {"ALL", "NONE"};
                vr_opt_map(&v, tb, "caching", 2, ck, cv);
                o = opt(tb, "comment");
                vr_text(&v, "comment", o && o->value ? o->value : "");
                const char *mk[] = {"class", "max_threshold", "min_threshold"};
                static const char stcs[] =
                    "org.apache.cassandra.db.compaction.SizeTieredCompactionStrategy";
                const char *mv[] = {stcs, "32", "4"};
                vr_opt_map(&v, tb, "compaction", 3, mk, mv);
                const char *zk[] = {"chunk_length_in_kb", "class"};
                const char *zv[] = {
                    "16", "org.apache.cassandra.io.compress.LZ4Compressor"};
                vr_opt_map(&v, tb, "compression", 2, zk, zv);
                vr_double(&v, "crc_check_chance", 1.0);
                vr_double(&v, "dclocal_read_repair_chance", 0.0);
                vr_int(&v, "default_time_to_live", (int32_t)tb->default_ttl);
                vr_map(&v, "extensions", 0, NULL, NULL);
                {
                    const bs_column *fc = bs_table_column(t, "flags");
                    bs_value_elem e = {(const uint8_t *)"compound", 8};
                    bs_buf b = BS_BUF_INIT;
                    if (fc && bs_value_build_set(fc->type, &e, 1, &b) == 0)
                        vr_bytes(&v, "flags", b.data, b.len);
                    bs_buf_free(&b);
                }
                vr_int(&v, "gc_grace_seconds", (int32_t)tb->gc_grace);
                vr_uuid(&v, "id", &tb->id);
                vr_int(&v, "max_index_interval", 2048);
                vr_int(&v, "memtable_flush_period_in_ms", 0);
                vr_int(&v, "min_index_interval", 128);
                vr_double(&v, "read_repair_chance", 0.0);
                o = opt(tb, "speculative_retry");
                vr_text(&v, "speculative_retry",
                        o && o->value ? o->value : "99p");
                vr_text(&v, "additional_write_policy", "99p");
                vr_bool(&v, "cdc", 0);
                vr_text(&v, "read_repair", "BLOCKING");
                int rc = emit(c, cb, ud, &v);
                if (rc) return rc;
            } else if (!strcmp(tn, "columns")) {
                for (size_t ci = 0; ci < tb->ncols; ci++) {
                    const bs_column *col = &tb->cols[ci];
                    vrow v;
                    if (vr_new(c, t, &v)) return -1;
                    vr_text(&v, "keyspace_name", k->name);
                    vr_text(&v, "table_name", tb->name);
                    vr_text(&v, "column_name", col->name);
                    vr_text(&v, "clustering_order",
                            col->kind == BS_COL_CLUSTERING
                                ? (col->desc ? "desc" : "asc")
                                : "none");
                    vr_bytes(&v, "column_name_bytes", col->name,
                             strlen(col->name));
                    vr_text(&v, "kind", kind_name(col->kind));
                    vr_int(&v, "position", col->position);
                    bs_buf tb2 = BS_BUF_INIT;
                    bs_value_type_to_cql(col->type, &tb2);
                    vr_bytes(&v, "type", tb2.data, tb2.len);
                    bs_buf_free(&tb2);
                    int rc = emit(c, cb, ud, &v);
                    if (rc) return rc;
                }
            } else if (!strcmp(tn, "dropped_columns")) {
                for (size_t di = 0; di < tb->ndropped; di++) {
                    vrow v;
                    if (vr_new(c, t, &v)) return -1;
                    vr_text(&v, "keyspace_name", k->name);
                    vr_text(&v, "table_name", tb->name);
                    vr_text(&v, "column_name", tb->dropped[di].name);
                    uint8_t b[8];
                    bs_put_u64(
                        b, (uint64_t)(tb->dropped[di].dropped_time_us / 1000));
                    vr_bytes(&v, "dropped_time", b, 8);
                    vr_text(&v, "kind", "regular");
                    bs_buf tb2 = BS_BUF_INIT;
                    bs_value_type_to_cql(tb->dropped[di].type, &tb2);
                    vr_bytes(&v, "type", tb2.data, tb2.len);
                    bs_buf_free(&tb2);
                    int rc = emit(c, cb, ud, &v);
                    if (rc) return rc;
                }
            }
        }
    }
    return 0;
}

/* ---- system.size_estimates / table_estimates -------------------------------
 *
 * One row per table of a non-system keyspace and per primary range of
 * this node: (previous token of the ring, own token], the ring's tokens
 * gathered from system.local/peers' node list.  The counts come from the
 * backend's bounded sample (be.estimate).  table_estimates has the same
 * rows with range_type 'primary' and again as 'local_primary' (one data
 * center: the same ranges). */

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* The ring's tokens, sorted (arena memory). */
static int ring_tokens(xctx *c, bs_exec_node *local, int64_t **out, size_t *n) {
    bs_exec_node *peers = NULL;
    size_t np = 0;
    memset(local, 0, sizeof *local);
    if (c->x->be.nodes(c->x->be.ud, c->a, local, &peers, &np))
        return bs__x_fail(c, BS_PROTO_ERR_SERVER, "cannot read node state");
    size_t total = local->ntokens;
    for (size_t i = 0; i < np; i++) total += peers[i].ntokens;
    int64_t *v = bs_arena_alloc(c->a, (total + 1) * sizeof *v);
    if (!v) return bs__x_fail(c, BS_PROTO_ERR_SERVER, "out of memory");
    size_t k = 0;
    for (size_t i = 0; i < local->ntokens; i++) v[k++] = local->tokens[i];
    for (size_t i = 0; i < np; i++)
        for (size_t j = 0; j < peers[i].ntokens; j++) v[k++] = peers[i].tokens[j];
    qsort(v, k, sizeof *v, cmp_i64);
    *out = v;
    *n = k;
    return 0;
}

static void vr_bigint(vrow *v, const char *col, int64_t x) {
    uint8_t b[8];
    bs_put_u64(b, (uint64_t)x);
    vr_bytes(v, col, b, 8);
}

static int estimate_rows(xctx *c, const bs_table_schema *t, xrow_cb cb, void *ud) {
    int typed = !strcmp(t->name, "table_estimates");
    if (!c->x->be.estimate) return 0;
    bs_exec_node local;
    int64_t *ring = NULL;
    size_t nring = 0;
    if (ring_tokens(c, &local, &ring, &nring)) return -1;
    size_t nks = bs_schema_nkeyspaces(c->schema);
    for (size_t i = 0; i < nks; i++) {
        const bs_keyspace_schema *k = bs_schema_keyspace_at(c->schema, i);
        if (k->system) continue;
        for (size_t j = 0; j < k->ntables; j++) {
            const bs_table_schema *tb = k->tables[j];
            for (size_t r = 0; r < local.ntokens; r++) {
                int64_t end = local.tokens[r], start = end;
                for (size_t q = 0; q < nring; q++)
                    if (ring[q] == end) start = ring[q ? q - 1 : nring - 1];
                int64_t parts, mean;
                if (c->x->be.estimate(c->x->be.ud, tb, start, end, &parts, &mean))
                    return bs__x_fail(c, BS_PROTO_ERR_SERVER, "cannot estimate %s.%s", k->name,
                                      tb->name);
                char s[24], e[24];
                snprintf(s, sizeof s, "%lld", (long long)start);
                snprintf(e, sizeof e, "%lld", (long long)end);
                for (int rt = 0; rt < (typed ? 2 : 1); rt++) {
                    vrow v;
                    if (vr_new(c, t, &v)) return -1;
                    vr_text(&v, "keyspace_name", k->name);
                    vr_text(&v, "table_name", tb->name);
                    if (typed) vr_text(&v, "range_type", rt ? "local_primary" : "primary");
                    vr_text(&v, "range_start", s);
                    vr_text(&v, "range_end", e);
                    vr_bigint(&v, "mean_partition_size", mean);
                    vr_bigint(&v, "partitions_count", parts);
                    int rc = emit(c, cb, ud, &v);
                    if (rc) return rc;
                }
            }
        }
    }
    return 0;
}

int bs__x_virtual_rows(xctx *c, const bs_table_schema *t, xrow_cb cb,
                       void *ud) {
    if (!strcmp(t->keyspace, "system") &&
        (!strcmp(t->name, "size_estimates") || !strcmp(t->name, "table_estimates")))
        return estimate_rows(c, t, cb, ud);
    if (!strcmp(t->keyspace, "system")) {
        int which = !strcmp(t->name, "local")   ? 0
                    : !strcmp(t->name, "peers") ? 1
                                                : 2;
        return local_rows(c, t, cb, ud, which);
    }
    if (!strcmp(t->name, "keyspaces") || !strcmp(t->name, "tables") ||
        !strcmp(t->name, "columns") || !strcmp(t->name, "dropped_columns"))
        return schema_rows(c, t, cb, ud);
    return 0; /* types, functions, aggregates, indexes, views, triggers */
}
