/*
 * local.c - the local node (see local.h): store + schema + identity, and
 * the executor backend over them.
 *
 * Writes: every mutation of a request becomes one bs_batch (atomic across
 * partitions and tables of the request), applied with the store's
 * durability mode.  Reads and scans go straight to the store.  Consistency
 * levels are accepted and trivially met by the one replica (a cluster
 * coordinator replaces this backend).
 *
 * Schema changes: serialized by schema_lock; the new snapshot is
 * persisted first, then store tables are created/dropped, then the
 * snapshot is published (readers take it under a short rwlock).
 *
 * Cluster hooks (node/cluster/cluster.c): a local DDL's snapshot is merged with
 * the current one (bs_schema_merge) before it is published, so a schema
 * merged in from a peer between the executor's clone and its apply is not
 * lost; the schema listener then pushes it to peers.  A peer's schema is
 * merged the same way (bs_local_schema_merge) and announced to drivers as
 * SCHEMA_CHANGE events computed by diffing the two snapshots.  The peers
 * of system.peers come from a provider (gossip).  The gossip generation
 * is persisted in system.local (column 19).
 */
#include "node/local.h"

#include <errno.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/clock.h"
#include "common/error.h"
#include "common/log.h"
#include "ring/murmur3.h"
#include "storage/store.h"

#define COL_HOST_ID 16
#define COL_TOKENS 17
#define COL_CLUSTER 18
#define COL_GENERATION 19
#define COL_BOOTSTRAPPED 20 /* "NEEDS_BOOTSTRAP" while tokens are placeholders */
#define COL_PEERS 24 /* "addr:port,..." of the members last known (bs_local_save_peers) */
#define COL_SCHEMA 16

struct bs_local {
    const bs_config *cfg;
    bs_store *store;
    bs_table *t_schema;
    bs_table *t_local;
    pthread_rwlock_t lock;       /* guards `schema` pointer */
    pthread_mutex_t schema_lock; /* serializes schema changes */
    bs_schema *schema;
    bs_uuid host_id;
    int64_t *tokens;
    size_t ntokens;
    void (*sink)(void *ud, const bs_proto_event *ev);
    void *sink_ud;
    void (*schema_fn)(void *ud, const bs_schema *s);
    void *schema_ud;
    bs_local_peers_fn peers_fn;
    void *peers_ud;
    int restarted; /* an earlier generation was persisted */
    int needs_tokens; /* tokens are first-start placeholders (see local.h) */
    int bootstrapping; /* tokens chosen, bootstrap not completed */
};

static const char SCHEMA_PK[] = "schema";
static const char LOCAL_PK[] = "local";

/* ---- small store helpers ---------------------------------------------- */

static int put_system_cell(bs_local *n, bs_table *t, const char *pk,
                           uint16_t col, const void *v, size_t len) {
    bs_batch *b;
    int rc = bs_batch_new(n->store, &b);
    if (rc) return rc;
    bs_rowkey rk = {bs_ring_partition_token(pk, strlen(pk)), pk, strlen(pk), NULL, 0, 0};
    rc = bs_batch_put_cell(b, t, &rk, col, NULL, 0, v, len, bs_clock_now_us(NULL), 0);
    if (!rc) rc = bs_store_write(n->store, b);
    bs_batch_free(b);
    return rc;
}

/* Reads the row of a system partition; cells valid while `a` lives. */
static int get_system_row(bs_table *t, const char *pk,
                          bs_arena *a, bs_rowv **row) {
    bs_slice sl;
    memset(&sl, 0, sizeof sl);
    bs_partv *p = NULL;
    *row = NULL;
    int rc = bs_store_read(t, bs_ring_partition_token(pk, strlen(pk)), pk, strlen(pk), &sl, a, &p);
    if (rc) return rc;
    if (p && p->nrows) *row = &p->rows[0];
    return 0;
}

static const bs_cellv *find_cell(const bs_rowv *r, uint16_t col) {
    for (size_t i = 0; r && i < r->ncells; i++)
        if (r->cells[i].col == col && !r->cells[i].has_elem) return &r->cells[i];
    return NULL;
}

/* ---- identity ----------------------------------------------------------- */

static int load_identity(bs_local *n, char *err, size_t errlen) {
    bs_arena a;
    bs_arena_init(&a, 0);
    bs_rowv *row;
    int rc = get_system_row(n->t_local, LOCAL_PK, &a, &row);
    if (rc) {
        snprintf(err, errlen, "cannot read system.local: %s", bs_store_errmsg());
        bs_arena_free(&a);
        return rc;
    }
    const bs_cellv *hid = find_cell(row, COL_HOST_ID);
    const bs_cellv *tok = find_cell(row, COL_TOKENS);
    const bs_cellv *cn = find_cell(row, COL_CLUSTER);
    if (cn && (cn->val_len != strlen(n->cfg->cluster_name) ||
               memcmp(cn->val, n->cfg->cluster_name, cn->val_len))) {
        snprintf(err, errlen,
                 "data directory %s belongs to cluster '%.*s', not '%s': refusing to start",
                 n->cfg->data_directory, (int)cn->val_len, (const char *)cn->val,
                 n->cfg->cluster_name);
        bs_arena_free(&a);
        return BS_ECONFIG;
    }
    const bs_cellv *bst = find_cell(row, COL_BOOTSTRAPPED);
    if (bst && bst->val_len == 14 && memcmp(bst->val, "DECOMMISSIONED", 14) == 0) {
        snprintf(err, errlen,
                 "this node was decommissioned from cluster '%s' and cannot come back "
                 "under its old host id: empty data_directory %s to add it again as a "
                 "new node",
                 n->cfg->cluster_name, n->cfg->data_directory);
        bs_arena_free(&a);
        return BS_ECONFIG;
    }
    if (hid && hid->val_len == 16 && tok && tok->val_len && tok->val_len % 8 == 0) {
        memcpy(n->host_id.b, hid->val, 16);
        n->needs_tokens = bst && bst->val_len == 15 && memcmp(bst->val, "NEEDS_BOOTSTRAP", 15) == 0;
        n->bootstrapping = bst && bst->val_len == 11 && memcmp(bst->val, "IN_PROGRESS", 11) == 0;
        n->ntokens = tok->val_len / 8;
        n->tokens = calloc(n->ntokens, sizeof *n->tokens);
        if (!n->tokens) {
            bs_arena_free(&a);
            return BS_ENOMEM;
        }
        for (size_t i = 0; i < n->ntokens; i++)
            n->tokens[i] = (int64_t)bs_get_u64(tok->val + 8 * i);
        bs_arena_free(&a);
        return 0;
    }
    bs_arena_free(&a);
    /* first start: a host id and tokens */
    if (bs_uuid_v4(&n->host_id)) return BS_EIO;
    if (n->cfg->n_initial_tokens) {
        n->ntokens = n->cfg->n_initial_tokens;
        n->tokens = calloc(n->ntokens, sizeof *n->tokens);
        if (!n->tokens) return BS_ENOMEM;
        memcpy(n->tokens, n->cfg->initial_tokens, n->ntokens * sizeof *n->tokens);
    } else {
        n->ntokens = (size_t)n->cfg->num_tokens;
        n->tokens = calloc(n->ntokens, sizeof *n->tokens);
        if (!n->tokens) return BS_ENOMEM;
        for (size_t i = 0; i < n->ntokens; i++) {
            uint8_t r[8];
            int64_t t;
            int dup;
            do {
                if (RAND_bytes(r, 8) != 1) return BS_EIO;
                t = (int64_t)bs_get_u64(r);
                dup = t == INT64_MIN;
                for (size_t j = 0; j < i; j++) dup |= n->tokens[j] == t;
            } while (dup);
            n->tokens[i] = t;
        }
    }
    uint8_t *tb = malloc(n->ntokens * 8);
    if (!tb) return BS_ENOMEM;
    for (size_t i = 0; i < n->ntokens; i++) bs_put_u64(tb + 8 * i, (uint64_t)n->tokens[i]);
    rc = put_system_cell(n, n->t_local, LOCAL_PK, COL_HOST_ID, n->host_id.b, 16);
    if (!rc) rc = put_system_cell(n, n->t_local, LOCAL_PK, COL_TOKENS, tb, n->ntokens * 8);
    if (!rc) rc = put_system_cell(n, n->t_local, LOCAL_PK, COL_CLUSTER, n->cfg->cluster_name,
                                  strlen(n->cfg->cluster_name));
    /* random tokens are placeholders the cluster replaces with balanced
     * ones once it knows the ring.  initial_token is the operator's word
     * on the tokens, but with auto_bootstrap the node still joins (waits
     * for the ring, then JOINING and the bootstrap, like Cassandra); with
     * auto_bootstrap false it is NORMAL at once (a cluster created whole) */
    n->needs_tokens = !n->cfg->n_initial_tokens || n->cfg->auto_bootstrap;
    if (!rc && n->needs_tokens)
        rc = put_system_cell(n, n->t_local, LOCAL_PK, COL_BOOTSTRAPPED, "NEEDS_BOOTSTRAP", 15);
    free(tb);
    if (rc) snprintf(err, errlen, "cannot persist node identity: %s", bs_store_errmsg());
    return rc;
}

/* ---- schema -------------------------------------------------------------- */

/* Creates/updates store tables for every table of s; drops the tables of
 * `old` that s no longer has. */
static int sync_tables(bs_local *n, const bs_schema *old, const bs_schema *s) {
    size_t nks = bs_schema_nkeyspaces(s);
    for (size_t i = 0; i < nks; i++) {
        const bs_keyspace_schema *k = bs_schema_keyspace_at(s, i);
        if (k->system) continue;
        for (size_t j = 0; j < k->ntables; j++) {
            const bs_table_schema *t = k->tables[j];
            char cf[200];
            bs_table_cf_name(t, cf, sizeof cf);
            bs_table_opts o;
            bs_table_opts_default(&o);
            o.gc_grace_seconds = (int32_t)t->gc_grace;
            /* a time-series database's series index (node/ts): one row
             * per series, written again with every batch that carries
             * the series; unbounded, a row in the memtable piled up a
             * merge per batch and a query's read of the index merged
             * them all (100 per row after 500k points: 20 ms) */
            if (!strcmp(t->name, "_series_index")) o.max_successive_merges = 8;
            bs_table *h;
            const bs_table_schema *ot = old ? bs_schema_table(old, t->keyspace, t->name) : NULL;
            if (ot && memcmp(ot->id.b, t->id.b, 16)) {
                /* same name, new table: the old data must not show through */
                bs_store_table_drop(n->store, cf);
            }
            int rc = bs_store_table_open(n->store, cf, &o, &h);
            if (rc) return rc;
        }
    }
    if (!old) return 0;
    nks = bs_schema_nkeyspaces(old);
    for (size_t i = 0; i < nks; i++) {
        const bs_keyspace_schema *k = bs_schema_keyspace_at(old, i);
        if (k->system) continue;
        for (size_t j = 0; j < k->ntables; j++) {
            const bs_table_schema *t = k->tables[j];
            if (bs_schema_table(s, t->keyspace, t->name)) continue;
            char cf[200];
            bs_table_cf_name(t, cf, sizeof cf);
            int rc = bs_store_table_drop(n->store, cf);
            if (rc && rc != BS_ENOTFOUND) return rc;
        }
    }
    return 0;
}

static int load_schema(bs_local *n, char *err, size_t errlen) {
    bs_arena a;
    bs_arena_init(&a, 0);
    bs_rowv *row;
    int rc = get_system_row(n->t_schema, SCHEMA_PK, &a, &row);
    if (rc) {
        snprintf(err, errlen, "cannot read system.schema: %s", bs_store_errmsg());
        bs_arena_free(&a);
        return rc;
    }
    const bs_cellv *c = find_cell(row, COL_SCHEMA);
    bs_schema *s = NULL;
    if (c) {
        rc = bs_schema_decode(c->val, c->val_len, &s, err, errlen);
        if (rc) {
            bs_arena_free(&a);
            return rc;
        }
    } else {
        s = bs_schema_new();
        if (!s) {
            bs_arena_free(&a);
            return BS_ENOMEM;
        }
    }
    bs_arena_free(&a);
    rc = sync_tables(n, NULL, s);
    if (rc) {
        snprintf(err, errlen, "cannot open tables: %s", bs_store_errmsg());
        bs_schema_release(s);
        return rc;
    }
    n->schema = s;
    return 0;
}

/* ---- backend callbacks ------------------------------------------------- */

static bs_schema *be_schema_get(void *ud) {
    bs_local *n = ud;
    pthread_rwlock_rdlock(&n->lock);
    bs_schema *s = bs_schema_retain(n->schema);
    pthread_rwlock_unlock(&n->lock);
    return s;
}

static void set_err(bs_exec_err *e, int32_t code, const char *fmt, const char *a) {
    e->code = code;
    snprintf(e->msg, sizeof e->msg, fmt, a);
}

static int be_schema_apply(void *ud, bs_schema *next,
                           const bs_proto_schema_change *ev, bs_exec_err *err) {
    bs_local *n = ud;
    pthread_mutex_lock(&n->schema_lock);
    {
        /* keep what peers merged in since the executor cloned */
        pthread_rwlock_rdlock(&n->lock);
        bs_schema *cur = bs_schema_retain(n->schema);
        pthread_rwlock_unlock(&n->lock);
        bs_schema *merged = NULL;
        int mrc = bs_schema_merge(cur, next, &merged);
        bs_schema_release(cur);
        if (mrc) {
            pthread_mutex_unlock(&n->schema_lock);
            bs_schema_release(next);
            set_err(err, BS_PROTO_ERR_SERVER, "schema change failed: %s", bs_strerror(mrc));
            return -1;
        }
        bs_schema_release(next);
        next = merged;
    }
    bs_buf b = BS_BUF_INIT;
    int rc = bs_schema_encode(next, &b);
    if (!rc) rc = put_system_cell(n, n->t_schema, SCHEMA_PK, COL_SCHEMA, b.data, b.len);
    bs_buf_free(&b);
    if (!rc) {
        pthread_rwlock_rdlock(&n->lock);
        bs_schema *old = bs_schema_retain(n->schema);
        pthread_rwlock_unlock(&n->lock);
        rc = sync_tables(n, old, next);
        bs_schema_release(old);
    }
    if (rc) {
        pthread_mutex_unlock(&n->schema_lock);
        bs_schema_release(next);
        set_err(err, BS_PROTO_ERR_SERVER, "schema change failed: %s", bs_store_errmsg());
        return -1;
    }
    pthread_rwlock_wrlock(&n->lock);
    bs_schema *old = n->schema;
    n->schema = next;
    pthread_rwlock_unlock(&n->lock);
    bs_schema_release(old);
    bs_schema *pushed = bs_schema_retain(next);
    pthread_mutex_unlock(&n->schema_lock);
    if (n->sink && ev) {
        bs_proto_event e;
        memset(&e, 0, sizeof e);
        e.type = bs_proto_cstr("SCHEMA_CHANGE");
        e.schema = *ev;
        n->sink(n->sink_ud, &e);
    }
    if (n->schema_fn) n->schema_fn(n->schema_ud, pushed);
    bs_schema_release(pushed);
    return 0;
}

static int get_table(bs_local *n, const char *cf, bs_table **t, bs_exec_err *err) {
    if (bs_store_table_get(n->store, cf, t)) {
        set_err(err, BS_PROTO_ERR_INVALID, "unconfigured table %s", cf);
        return -1;
    }
    return 0;
}

static int apply_batch(bs_store *s, const bs_mutation *m, size_t nm, int64_t now_s, int now);

int bs_local_apply(bs_store *s, const bs_mutation *m, size_t nm, int64_t now_s) {
    return apply_batch(s, m, nm, now_s, 0);
}

int bs_local_apply_now(bs_store *s, const bs_mutation *m, size_t nm, int64_t now_s) {
    return apply_batch(s, m, nm, now_s, 1);
}

static int apply_batch(bs_store *s, const bs_mutation *m, size_t nm, int64_t now_s, int now) {
    bs_batch *b;
    int rc = bs_batch_new(s, &b);
    if (rc) return rc;
    if (now_s > 0) bs_batch_set_now(b, now_s);
    for (size_t i = 0; i < nm && !rc; i++) {
        bs_table *t;
        if ((rc = bs_store_table_get(s, m[i].cf, &t))) break;
        for (size_t j = 0; j < m[i].nops && !rc; j++) {
            const bs_mop *op = &m[i].ops[j];
            bs_rowkey rk = {m[i].token, m[i].pk, m[i].pk_len, op->ck, op->ck_len, op->is_static};
            const void *elem = op->has_elem ? (op->elem ? op->elem : (const uint8_t *)"") : NULL;
            switch (op->kind) {
            case BS_MOP_CELL:
                rc = bs_batch_put_cell(b, t, &rk, op->col, elem, op->elem_len,
                                       op->val ? op->val : (const uint8_t *)"", op->val_len, op->ts, op->ttl);
                break;
            case BS_MOP_CELL_DEL:
                rc = bs_batch_delete_cell(b, t, &rk, op->col, elem, op->elem_len, op->ts);
                break;
            case BS_MOP_COLL_DEL: rc = bs_batch_delete_collection(b, t, &rk, op->col, op->ts); break;
            case BS_MOP_MARKER: rc = bs_batch_row_marker(b, t, &rk, op->ts, op->ttl); break;
            case BS_MOP_ROW_DEL: rc = bs_batch_delete_row(b, t, &rk, op->ts); break;
            case BS_MOP_RANGE_DEL:
                rc = bs_batch_delete_range(b, t, m[i].token, m[i].pk, m[i].pk_len, &op->start, &op->end, op->ts);
                break;
            case BS_MOP_PART_DEL:
                rc = bs_batch_delete_partition(b, t, m[i].token, m[i].pk, m[i].pk_len, op->ts);
                break;
            default: rc = BS_EINVAL;
            }
        }
    }
    if (!rc) rc = now ? bs_store_write(s, b) : bs_store_write_grouped(s, b);
    bs_batch_free(b);
    return rc;
}

static int be_write(void *ud, const bs_mutation *m, size_t nm, uint16_t cl,
                    int logged, bs_exec_err *err) {
    (void)cl;
    (void)logged; /* one local batch is atomic already */
    bs_local *n = ud;
    bs_table *t;
    for (size_t i = 0; i < nm; i++)
        if (get_table(n, m[i].cf, &t, err)) return -1;
    int rc = bs_local_apply(n->store, m, nm, 0);
    if (rc) {
        set_err(err, rc == BS_EINVAL || rc == BS_ERANGE ? BS_PROTO_ERR_INVALID : BS_PROTO_ERR_SERVER,
                "write failed: %s", rc == BS_ENOMEM ? "out of memory" : bs_store_errmsg());
        return -1;
    }
    return 0;
}

static int be_read(void *ud, const bs_table_schema *ts, int64_t token,
                   const void *pk, size_t pk_len, const bs_slice *sl,
                   uint16_t cl, bs_arena *a, bs_partv **out, bs_exec_err *err) {
    (void)cl;
    bs_local *n = ud;
    char cf[200];
    bs_table_cf_name(ts, cf, sizeof cf);
    bs_table *t;
    if (get_table(n, cf, &t, err)) return -1;
    int rc = bs_store_read(t, token, pk, pk_len, sl, a, out);
    if (rc) {
        set_err(err, BS_PROTO_ERR_SERVER, "read failed: %s", bs_store_errmsg());
        return -1;
    }
    return 0;
}

static int be_scan(void *ud, const bs_table_schema *ts, const bs_scan *sc,
                   uint16_t cl, bs_part_cb cb, void *cbud, bs_exec_err *err) {
    (void)cl;
    bs_local *n = ud;
    char cf[200];
    bs_table_cf_name(ts, cf, sizeof cf);
    bs_table *t;
    if (get_table(n, cf, &t, err)) return -1;
    int rc = bs_store_scan(t, sc, cb, cbud);
    if (rc) {
        set_err(err, BS_PROTO_ERR_SERVER, "scan failed: %s", bs_store_errmsg());
        return -1;
    }
    return 0;
}

static int be_visit(void *ud, const bs_table_schema *ts, const bs_scan *sc, uint16_t cl,
                    const bs_visit *v, bs_exec_err *err) {
    (void)cl;
    bs_local *n = ud;
    char cf[200];
    bs_table_cf_name(ts, cf, sizeof cf);
    bs_table *t;
    if (get_table(n, cf, &t, err)) return -1;
    int rc = bs_store_visit(t, sc, v);
    if (rc < 0) {
        set_err(err, BS_PROTO_ERR_SERVER, "scan failed: %s", bs_store_errmsg());
        return -1;
    }
    return 0;
}

static int be_truncate(void *ud, const bs_table_schema *ts, bs_exec_err *err) {
    bs_local *n = ud;
    char cf[200];
    bs_table_cf_name(ts, cf, sizeof cf);
    bs_table *t;
    if (get_table(n, cf, &t, err)) return -1;
    if (bs_store_truncate(t)) {
        set_err(err, BS_PROTO_ERR_TRUNCATE, "truncate failed: %s", bs_store_errmsg());
        return -1;
    }
    return 0;
}

static int be_nodes(void *ud, bs_arena *a, bs_exec_node *local,
                    bs_exec_node **peers, size_t *npeers) {
    bs_local *n = ud;
    memset(local, 0, sizeof *local);
    local->address = bs_config_broadcast_address(n->cfg);
    local->rpc_address = bs_config_broadcast_rpc_address(n->cfg);
    local->native_port = n->cfg->native_transport_port;
    local->storage_port = n->cfg->storage_port;
    local->dc = n->cfg->dc;
    local->rack = n->cfg->rack;
    local->host_id = n->host_id;
    local->tokens = n->tokens;
    local->ntokens = n->ntokens;
    local->up = 1;
    *peers = NULL;
    *npeers = 0;
    if (n->peers_fn) return n->peers_fn(n->peers_ud, a, peers, npeers);
    return 0;
}

/* Size estimate of a token range: the range's records are walked in
 * token order up to a budget; when the budget ends first, the partitions
 * seen are scaled by the share of the range's tokens walked (Murmur3
 * spreads partitions evenly over tokens). */
#define EST_BUDGET 4096

typedef struct est {
    int64_t lo;
    size_t seen;
    int64_t parts, bytes, last_tok;
    bs_buf prev; /* partition prefix of the last record */
} est;

static int est_cb(void *ud, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl) {
    (void)v;
    est *e = ud;
    if (e->seen++ >= EST_BUDGET) return 1;
    if (kl < 10) return 0;
    size_t ppl = 10 + ((size_t)k[8] << 8 | k[9]);
    if (ppl > kl) return 0;
    if (e->prev.len != ppl || memcmp(e->prev.data, k, ppl)) {
        bs_buf_reset(&e->prev);
        if (bs_buf_append(&e->prev, k, ppl)) return BS_ENOMEM;
        e->parts++;
        if (bs_store_key_token(k, kl, &e->last_tok)) return 0;
    }
    e->bytes += (int64_t)(kl + vl);
    return 0;
}

static int be_estimate(void *ud, const bs_table_schema *ts, int64_t start, int64_t end,
                       int64_t *partitions, int64_t *mean_size) {
    bs_local *n = ud;
    char cf[200];
    bs_table_cf_name(ts, cf, sizeof cf);
    bs_table *t;
    *partitions = *mean_size = 0;
    if (bs_store_table_get(n->store, cf, &t)) return 0; /* no data yet */
    est e = {start, 0, 0, 0, start, BS_BUF_INIT};
    int rc = bs_store_iterate_range(t, start, end, est_cb, &e);
    bs_buf_free(&e.prev);
    if (rc < 0) return rc;
    if (!e.parts) return 0;
    *mean_size = e.bytes / e.parts;
    *partitions = e.parts;
    if (e.seen > EST_BUDGET) {
        double span = (double)(uint64_t)(end - start);
        double done = (double)(uint64_t)(e.last_tok - start);
        if (span > 0 && done > 0) *partitions = (int64_t)((double)e.parts * span / done);
    }
    return 0;
}

static int64_t be_now_us(void *ud) {
    (void)ud;
    return bs_clock_now_us(NULL);
}

void bs_local_backend(bs_local *n, bs_exec_backend *be) {
    memset(be, 0, sizeof *be);
    be->ud = n;
    be->schema_get = be_schema_get;
    be->schema_apply = be_schema_apply;
    be->write = be_write;
    be->read = be_read;
    be->scan = be_scan;
    be->visit = be_visit;
    be->truncate = be_truncate;
    be->nodes = be_nodes;
    be->estimate = be_estimate;
    be->now_us = be_now_us;
    be->cluster_name = n->cfg->cluster_name;
}

/* ---- lifecycle ------------------------------------------------------------ */

static int mkdirs(const char *path) {
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(buf, 0755) && errno != EEXIST) return -errno;
        *p = '/';
    }
    if (mkdir(buf, 0755) && errno != EEXIST) return -errno;
    return 0;
}

int bs_local_open(const bs_config *cfg, bs_local **out, char *err,
                  size_t errlen) {
    *out = NULL;
    bs_local *n = calloc(1, sizeof *n);
    if (!n) return BS_ENOMEM;
    n->cfg = cfg;
    pthread_rwlock_init(&n->lock, NULL);
    pthread_mutex_init(&n->schema_lock, NULL);
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/data", cfg->data_directory);
    int rc = mkdirs(dir);
    if (rc) {
        snprintf(err, errlen, "cannot create data directory %s: %s", dir, bs_strerror(rc));
        bs_local_close(n);
        return rc;
    }
    bs_store_opts so;
    bs_store_opts_default(&so);
    so.durability = cfg->commitlog_sync == BS_COMMITLOG_BATCH ? BS_DURABILITY_BATCH : BS_DURABILITY_PERIODIC;
    so.periodic_sync_ms = (uint32_t)cfg->commitlog_sync_period_ms;
    so.min_free_bytes = cfg->min_free_space_bytes;
    so.index_filter_outside_cache = !cfg->storage_cache_index_and_filter_blocks;
    if (cfg->storage_block_cache_size_bytes) so.block_cache_mb = (size_t)(cfg->storage_block_cache_size_bytes >> 20);
    if (cfg->storage_memtable_size_bytes) so.write_buffer_mb = (size_t)(cfg->storage_memtable_size_bytes >> 20);
    rc = bs_store_open(dir, &so, &n->store);
    if (rc) {
        snprintf(err, errlen, "cannot open the store in %s: %s", dir, bs_store_errmsg());
        bs_local_close(n);
        return rc;
    }
    bs_table *tr_s, *tr_e; /* CQL tracing (query/exec_trace.c) */
    if ((rc = bs_store_table_open(n->store, "system.schema", NULL, &n->t_schema)) ||
        (rc = bs_store_table_open(n->store, "system.local", NULL, &n->t_local)) ||
        (rc = bs_store_table_open(n->store, "system_traces.sessions", NULL, &tr_s)) ||
        (rc = bs_store_table_open(n->store, "system_traces.events", NULL, &tr_e))) {
        snprintf(err, errlen, "cannot open system tables: %s", bs_store_errmsg());
        bs_local_close(n);
        return rc;
    }
    if ((rc = load_identity(n, err, errlen)) || (rc = load_schema(n, err, errlen))) {
        bs_local_close(n);
        return rc;
    }
    *out = n;
    return 0;
}

void bs_local_close(bs_local *n) {
    if (!n) return;
    if (n->store) {
        bs_store_flush(n->store, NULL);
        bs_store_close(n->store);
    }
    bs_schema_release(n->schema);
    free(n->tokens);
    pthread_rwlock_destroy(&n->lock);
    pthread_mutex_destroy(&n->schema_lock);
    free(n);
}

void bs_local_set_event_sink(bs_local *n,
                             void (*fn)(void *ud, const bs_proto_event *ev),
                             void *ud) {
    n->sink = fn;
    n->sink_ud = ud;
}

int bs_local_flush(bs_local *n) { return bs_store_flush(n->store, NULL); }

void bs_local_host_id(const bs_local *n, bs_uuid *out) { *out = n->host_id; }

int bs_local_needs_tokens(const bs_local *n) { return n->needs_tokens; }

int bs_local_set_tokens(bs_local *n, const int64_t *tokens, size_t ntokens) {
    if (!n->needs_tokens || !ntokens) return BS_EINVAL;
    int64_t *t = calloc(ntokens, sizeof *t);
    uint8_t *tb = malloc(ntokens * 8);
    if (!t || !tb) {
        free(t);
        free(tb);
        return BS_ENOMEM;
    }
    memcpy(t, tokens, ntokens * sizeof *t);
    for (size_t i = 0; i < ntokens; i++) bs_put_u64(tb + 8 * i, (uint64_t)tokens[i]);
    /* tokens first, then the marker: a crash in between keeps the marker
     * and the next start chooses again */
    int rc = put_system_cell(n, n->t_local, LOCAL_PK, COL_TOKENS, tb, ntokens * 8);
    if (!rc) rc = put_system_cell(n, n->t_local, LOCAL_PK, COL_BOOTSTRAPPED, "IN_PROGRESS", 11);
    free(tb);
    if (rc) {
        free(t);
        return rc;
    }
    free(n->tokens);
    n->tokens = t;
    n->ntokens = ntokens;
    n->needs_tokens = 0;
    n->bootstrapping = 1;
    return 0;
}

int bs_local_bootstrapping(const bs_local *n) { return n->bootstrapping; }

int bs_local_set_decommissioned(bs_local *n) {
    int rc = put_system_cell(n, n->t_local, LOCAL_PK, COL_BOOTSTRAPPED, "DECOMMISSIONED", 14);
    return rc ? rc : bs_store_sync(n->store);
}

int bs_local_set_bootstrapped(bs_local *n) {
    if (!n->bootstrapping) return 0;
    int rc = put_system_cell(n, n->t_local, LOCAL_PK, COL_BOOTSTRAPPED, "COMPLETED", 9);
    if (!rc) rc = bs_store_sync(n->store);
    if (!rc) n->bootstrapping = 0;
    return rc;
}

size_t bs_local_tokens(const bs_local *n, const int64_t **tokens) {
    *tokens = n->tokens;
    return n->ntokens;
}

/* ---- cluster hooks ----------------------------------------------------- */

int bs_local_next_generation(bs_local *n, int64_t now_s, int32_t *gen) {
    bs_arena a;
    bs_arena_init(&a, 0);
    bs_rowv *row;
    int64_t last = 0;
    int rc = get_system_row(n->t_local, LOCAL_PK, &a, &row);
    if (!rc) {
        const bs_cellv *c = find_cell(row, COL_GENERATION);
        if (c && c->val_len == 4) last = (int32_t)bs_get_u32(c->val);
    }
    bs_arena_free(&a);
    if (rc) return rc;
    n->restarted = last > 0;
    int64_t g = now_s > last ? now_s : last + 1;
    if (g <= 0 || g > INT32_MAX) g = last + 1 > 0 && last + 1 <= INT32_MAX ? last + 1 : 1;
    uint8_t b[4];
    bs_put_u32(b, (uint32_t)g);
    rc = put_system_cell(n, n->t_local, LOCAL_PK, COL_GENERATION, b, 4);
    if (rc) return rc;
    *gen = (int32_t)g;
    return 0;
}

void bs_local_set_schema_listener(bs_local *n,
                                  void (*fn)(void *ud, const bs_schema *s),
                                  void *ud) {
    n->schema_fn = fn;
    n->schema_ud = ud;
}

void bs_local_set_peers_provider(bs_local *n, bs_local_peers_fn fn, void *ud) {
    n->peers_fn = fn;
    n->peers_ud = ud;
}

bs_schema *bs_local_schema(bs_local *n) { return be_schema_get(n); }

int bs_local_restarted(const bs_local *n) { return n->restarted; }

char *bs_local_saved_peers(bs_local *n) {
    bs_arena a;
    bs_arena_init(&a, 0);
    bs_rowv *row;
    char *out = NULL;
    if (get_system_row(n->t_local, LOCAL_PK, &a, &row) == 0) {
        const bs_cellv *c = find_cell(row, COL_PEERS);
        if (c && c->val_len && (out = malloc(c->val_len + 1))) {
            memcpy(out, c->val, c->val_len);
            out[c->val_len] = 0;
        }
    }
    bs_arena_free(&a);
    return out;
}

int bs_local_save_peers(bs_local *n, const char *list) {
    return put_system_cell(n, n->t_local, LOCAL_PK, COL_PEERS, list, strlen(list));
}

static void emit_change(bs_local *n, const char *change, const char *target,
                        const char *ks, const char *name) {
    if (!n->sink) return;
    bs_proto_event e;
    memset(&e, 0, sizeof e);
    e.type = bs_proto_cstr("SCHEMA_CHANGE");
    e.schema.change_type = bs_proto_cstr(change);
    e.schema.target = bs_proto_cstr(target);
    e.schema.keyspace = bs_proto_cstr(ks);
    if (name) e.schema.name = bs_proto_cstr(name);
    n->sink(n->sink_ud, &e);
}

/* SCHEMA_CHANGE events for what differs between two snapshots. */
static void diff_events(bs_local *n, const bs_schema *old, const bs_schema *s) {
    for (size_t i = 0; i < bs_schema_nkeyspaces(old); i++) {
        const bs_keyspace_schema *k = bs_schema_keyspace_at(old, i);
        if (!k->system && !bs_schema_keyspace(s, k->name))
            emit_change(n, "DROPPED", "KEYSPACE", k->name, NULL);
    }
    for (size_t i = 0; i < bs_schema_nkeyspaces(s); i++) {
        const bs_keyspace_schema *k = bs_schema_keyspace_at(s, i);
        if (k->system) continue;
        const bs_keyspace_schema *ok = bs_schema_keyspace(old, k->name);
        if (ok && ok->created_us != k->created_us) {
            emit_change(n, "DROPPED", "KEYSPACE", k->name, NULL);
            ok = NULL;
        }
        if (!ok) emit_change(n, "CREATED", "KEYSPACE", k->name, NULL);
        else if (ok->ts_us != k->ts_us) emit_change(n, "UPDATED", "KEYSPACE", k->name, NULL);
        for (size_t j = 0; ok && j < ok->ntables; j++)
            if (!bs_schema_table(s, k->name, ok->tables[j]->name))
                emit_change(n, "DROPPED", "TABLE", k->name, ok->tables[j]->name);
        for (size_t j = 0; j < k->ntables; j++) {
            const bs_table_schema *t = k->tables[j];
            const bs_table_schema *ot = ok ? bs_schema_table(old, k->name, t->name) : NULL;
            if (ot && memcmp(ot->id.b, t->id.b, 16) != 0) {
                emit_change(n, "DROPPED", "TABLE", k->name, t->name);
                ot = NULL;
            }
            if (!ot) emit_change(n, "CREATED", "TABLE", k->name, t->name);
            else if (ot->ts_us != t->ts_us) emit_change(n, "UPDATED", "TABLE", k->name, t->name);
        }
    }
}

int bs_local_schema_merge(bs_local *n, const void *data, size_t len,
                          int *changed, char *err, size_t errlen) {
    if (changed) *changed = 0;
    bs_schema *in = NULL;
    int rc = bs_schema_decode(data, len, &in, err, errlen);
    if (rc) return rc;
    pthread_mutex_lock(&n->schema_lock);
    pthread_rwlock_rdlock(&n->lock);
    bs_schema *cur = bs_schema_retain(n->schema);
    pthread_rwlock_unlock(&n->lock);
    bs_schema *next = NULL;
    rc = bs_schema_merge(cur, in, &next);
    bs_schema_release(in);
    bs_uuid v1, v2;
    if (!rc) {
        bs_schema_version(cur, &v1);
        bs_schema_version(next, &v2);
    }
    if (rc || memcmp(v1.b, v2.b, 16) == 0) {
        pthread_mutex_unlock(&n->schema_lock);
        bs_schema_release(cur);
        bs_schema_release(next);
        if (rc) snprintf(err, errlen, "schema merge: %s", bs_strerror(rc));
        return rc;
    }
    bs_buf b = BS_BUF_INIT;
    rc = bs_schema_encode(next, &b);
    if (!rc) rc = put_system_cell(n, n->t_schema, SCHEMA_PK, COL_SCHEMA, b.data, b.len);
    bs_buf_free(&b);
    if (!rc) rc = sync_tables(n, cur, next);
    if (rc) {
        pthread_mutex_unlock(&n->schema_lock);
        bs_schema_release(cur);
        bs_schema_release(next);
        snprintf(err, errlen, "cannot apply a peer's schema: %s", bs_store_errmsg());
        return rc;
    }
    pthread_rwlock_wrlock(&n->lock);
    bs_schema *old = n->schema;
    n->schema = next;
    pthread_rwlock_unlock(&n->lock);
    bs_schema_release(old);
    /* ours for the events: once the lock is released, the next change may
     * replace n->schema and drop its reference to next */
    bs_schema *now = bs_schema_retain(next);
    pthread_mutex_unlock(&n->schema_lock);
    diff_events(n, cur, now);
    bs_schema_release(now);
    bs_schema_release(cur);
    if (changed) *changed = 1;
    return 0;
}

bs_store *bs_local_store(bs_local *n) { return n->store; }

/* ---- maintenance (admin API) ------------------------------------------- */

typedef struct load_ctx {
    char **names;
    size_t n, cap;
} load_ctx;

/* Collects table names (the list callback holds the store's lock, so
 * sizes are read after it returns). */
static int add_name(void *ud, const char *name) {
    load_ctx *lc = ud;
    if (lc->n == lc->cap) {
        size_t nc = lc->cap ? lc->cap * 2 : 16;
        char **nn = realloc(lc->names, nc * sizeof *nn);
        if (!nn) return BS_ENOMEM;
        lc->names = nn;
        lc->cap = nc;
    }
    size_t len = strlen(name) + 1;
    lc->names[lc->n] = malloc(len);
    if (!lc->names[lc->n]) return BS_ENOMEM;
    memcpy(lc->names[lc->n++], name, len);
    return 0;
}

int64_t bs_local_load_bytes(bs_local *n) {
    load_ctx lc = {NULL, 0, 0};
    bs_store_table_list(n->store, add_name, &lc);
    int64_t total = 0;
    for (size_t i = 0; i < lc.n; i++) {
        bs_table *t;
        uint64_t sz = 0;
        if (bs_store_table_get(n->store, lc.names[i], &t) == 0 &&
            bs_store_approx_size(t, INT64_MIN, INT64_MIN, &sz) == 0)
            total += (int64_t)sz;
        free(lc.names[i]);
    }
    free(lc.names);
    return total;
}

/* Applies fn to the store tables selected by ks/table. */
static int for_tables(bs_local *n, const char *ks, const char *table,
                      int (*fn)(bs_local *, bs_table *)) {
    bs_schema *s = be_schema_get(n);
    int rc = 0, found = 0;
    size_t nks = bs_schema_nkeyspaces(s);
    for (size_t i = 0; i < nks && !rc; i++) {
        const bs_keyspace_schema *k = bs_schema_keyspace_at(s, i);
        if (ks && strcmp(k->name, ks)) continue;
        if (ks) found = 1;
        for (size_t j = 0; j < k->ntables && !rc; j++) {
            const bs_table_schema *t = k->tables[j];
            if (table && strcmp(t->name, table)) continue;
            char cf[200];
            bs_table_cf_name(t, cf, sizeof cf);
            bs_table *h;
            if (bs_store_table_get(n->store, cf, &h)) continue; /* virtual/system */
            found = 2;
            rc = fn(n, h);
        }
    }
    bs_schema_release(s);
    if (!rc && ks && !found) return BS_ENOTFOUND;
    if (!rc && table && found != 2) return BS_ENOTFOUND;
    return rc;
}

static int flush_one(bs_local *n, bs_table *t) { return bs_store_flush(n->store, t); }
static int compact_one(bs_local *n, bs_table *t) {
    (void)n;
    return bs_store_compact(t);
}

int bs_local_flush_tables(bs_local *n, const char *ks, const char *table) {
    if (!ks) return bs_store_flush(n->store, NULL);
    return for_tables(n, ks, table, flush_one);
}

int bs_local_compact_tables(bs_local *n, const char *ks, const char *table) {
    return for_tables(n, ks, table, compact_one);
}
