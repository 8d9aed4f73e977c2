/*
 * ts_schema.c - how InfluxDB's data model maps onto Basalt's schema, and
 * the schema changes writes and CREATE/DROP DATABASE make.
 *
 *   database     -> keyspace <db>, NetworkTopologyStrategy {<dc>: rf}
 *   measurement  -> table <db>.<measurement> (a name that is not a valid
 *                   table name becomes m_<16 hex digits of its hash>):
 *                     _series  text    partition key 1: the canonical
 *                                      series key "m,k1=v1,k2=v2" (escaped
 *                                      as in line protocol, tags sorted)
 *                     _bucket  bigint  partition key 2: time_ns / bucket_ns
 *                                      (floored), so a partition is one
 *                                      series over one bucket of time
 *                     time     bigint  clustering, DESC: nanoseconds
 *                     <field>  double | bigint | varint | text | boolean
 *                                      (float, integer, unsigned, string,
 *                                      boolean), added on first sight
 *   series index -> table <db>._series_index (_measurement text partition
 *                   key, _series text clustering): one row per series
 *
 * Every change goes through the backend's schema_apply, the path CQL DDL
 * takes, so it is persisted, merged with what peers changed, pushed to
 * the cluster and announced to drivers.  Changes made here are
 * serialized by ts->schema_mu and re-checked under it, so concurrent
 * writers of a new field add it once.  Across nodes, the database, its
 * tables and their field columns are "shared" schema objects (schema.h):
 * two nodes that create the same database or measurement, or add fields
 * to it, at the same moment derive the same creation stamp, table id and
 * column ids, and the schema merge keeps both sides' fields, so the points
 * either node wrote stay readable.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "node/ts/ts_int.h"
#include "ring/murmur3.h"

int bs__ts_col_lp_type(const bs_type *t) {
    switch (t->kind) {
    case BS_TYPE_DOUBLE: return BS_LP_FLOAT;
    case BS_TYPE_BIGINT: return BS_LP_INT;
    case BS_TYPE_VARINT: return BS_LP_UINT;
    case BS_TYPE_ASCII:
    case BS_TYPE_VARCHAR: return BS_LP_STRING;
    case BS_TYPE_BOOLEAN: return BS_LP_BOOL;
    default: return -1;
    }
}

static bs_type_kind lp_col_kind(bs_lp_type t) {
    switch (t) {
    case BS_LP_FLOAT: return BS_TYPE_DOUBLE;
    case BS_LP_INT: return BS_TYPE_BIGINT;
    case BS_LP_UINT: return BS_TYPE_VARINT;
    case BS_LP_STRING: return BS_TYPE_VARCHAR;
    case BS_LP_BOOL: return BS_TYPE_BOOLEAN;
    }
    return BS_TYPE_BLOB;
}

int bs__ts_valid_name(const char *name, size_t len) {
    if (len == 0 || len > 48 || name[0] == '_') return 0;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_'))
            return 0;
    }
    return 1;
}

void bs__ts_table_name(const char *name, size_t len, char *out) {
    int hashed_look = len == 18 && name[0] == 'm' && name[1] == '_';
    for (size_t i = 2; hashed_look && i < len; i++)
        hashed_look = (name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'f');
    if (bs__ts_valid_name(name, len) && !hashed_look) {
        memcpy(out, name, len);
        out[len] = 0;
        return;
    }
    uint64_t h = 14695981039346656037ULL;
    for (size_t i = 0; i < len; i++) h = (h ^ (unsigned char)name[i]) * 1099511628211ULL;
    snprintf(out, 49, "m_%016llx", (unsigned long long)h);
}

/* Publishes `next` (taken).  0 or -1 with msg. */
int bs__ts_apply(bs_ts *ts, bs_schema *next, const char *change, const char *target,
                 const char *ks, const char *name, char *msg, size_t msglen) {
    bs_proto_schema_change ev;
    memset(&ev, 0, sizeof ev);
    ev.change_type = bs_proto_cstr(change);
    ev.target = bs_proto_cstr(target);
    ev.keyspace = bs_proto_cstr(ks);
    ev.name = bs_proto_cstr(name ? name : "");
    bs_exec_err err;
    memset(&err, 0, sizeof err);
    if (ts->be.schema_apply(ts->be.ud, next, &ev, &err)) {
        snprintf(msg, msglen, "schema change failed: %s", err.msg);
        return BS_EIO;
    }
    return 0;
}

static int add_index_table(bs_ts *ts, bs_schema *s, const char *db, int64_t now, char *msg,
                           size_t msglen) {
    bs_type *text = bs_type_new(BS_TYPE_VARCHAR);
    if (!text) return BS_ENOMEM;
    bs_column_def defs[2] = {
        {BS_TS_COL_MEASUREMENT, text, BS_COL_PARTITION_KEY, 0, 0},
        {BS_TS_COL_SERIES, text, BS_COL_CLUSTERING, 0, 0},
    };
    bs_uuid id;
    bs_schema_shared_table_id(s, db, BS_TS_INDEX_TABLE, &id);
    int rc = bs_schema_create_table(s, db, BS_TS_INDEX_TABLE, &id, defs, 2, NULL, 0, now, msg,
                                    msglen);
    bs_type_free(text);
    (void)ts;
    return rc;
}

int bs__ts_create_database(bs_ts *ts, const char *db, int rf, const bs__ts_rp *rp, char *msg,
                           size_t msglen) {
    if (!bs__ts_valid_name(db, strlen(db))) {
        snprintf(msg, msglen,
                 "database name \"%s\" is not supported: Basalt keyspace names are 1 to 48 "
                 "letters, digits or underscores, not starting with an underscore",
                 db);
        return BS_EINVAL;
    }
    pthread_mutex_lock(&ts->schema_mu);
    bs_schema *cur = ts->be.schema_get(ts->be.ud);
    int rc = 0;
    const bs_keyspace_schema *ks = bs_schema_keyspace(cur, db);
    if (ks && bs_schema_table(cur, db, BS_TS_INDEX_TABLE)) goto out; /* exists */
    bs_schema *next = bs_schema_clone(cur);
    if (!next) {
        rc = BS_ENOMEM;
        goto out;
    }
    int64_t now = ts->be.now_us(ts->be.ud);
    if (!ks) {
        char rfs[16];
        snprintf(rfs, sizeof rfs, "%d", rf > 0 ? rf : ts->rf);
        const char *keys[1] = {ts->dc}, *vals[1] = {rfs};
        rc = bs_schema_create_shared_keyspace(next, db, "NetworkTopologyStrategy", 1, keys, vals,
                                              now, msg, msglen);
    }
    if (!rc) rc = add_index_table(ts, next, db, now, msg, msglen);
    if (!rc && rp) rc = bs__ts_rp_store(next, db, rp, 1, now, msg, msglen);
    if (rc) {
        bs_schema_release(next);
        goto out;
    }
    rc = bs__ts_apply(ts, next, ks ? "CREATED" : "CREATED", ks ? "TABLE" : "KEYSPACE", db,
               ks ? BS_TS_INDEX_TABLE : NULL, msg, msglen);
out:
    bs_schema_release(cur);
    pthread_mutex_unlock(&ts->schema_mu);
    return rc;
}

int bs__ts_drop_database(bs_ts *ts, const char *db, char *msg, size_t msglen) {
    pthread_mutex_lock(&ts->schema_mu);
    bs_schema *cur = ts->be.schema_get(ts->be.ud);
    int rc = 0;
    const bs_keyspace_schema *ks = bs_schema_keyspace(cur, db);
    if (!ks || !bs_schema_table(cur, db, BS_TS_INDEX_TABLE)) goto out; /* InfluxDB: no error */
    bs_schema *next = bs_schema_clone(cur);
    if (!next) {
        rc = BS_ENOMEM;
        goto out;
    }
    rc = bs_schema_drop_keyspace(next, db, ts->be.now_us(ts->be.ud), msg, msglen);
    if (rc) {
        bs_schema_release(next);
        goto out;
    }
    rc = bs__ts_apply(ts, next, "DROPPED", "KEYSPACE", db, NULL, msg, msglen);
out:
    bs_schema_release(cur);
    pthread_mutex_unlock(&ts->schema_mu);
    return rc;
}

static int reserved(bs_lp_str k) {
    return (k.n == 4 && !memcmp(k.p, "time", 4)) || (k.n > 0 && k.p[0] == '_');
}

/* What the table lacks for these points: 0 = nothing. */
static int missing(const bs_table_schema *t, const bs_lp_point *const *pts, size_t n) {
    if (!t) return 1;
    char name[256];
    for (size_t i = 0; i < n; i++)
        for (size_t f = 0; f < pts[i]->nfields; f++) {
            bs_lp_str k = pts[i]->fields[f].key;
            if (i > 0 && f < pts[i - 1]->nfields) { /* the previous point's field: checked */
                bs_lp_str pk = pts[i - 1]->fields[f].key;
                if (pk.n == k.n && !memcmp(pk.p, k.p, k.n)) continue;
            }
            if (reserved(k) || k.n >= sizeof name) continue;
            memcpy(name, k.p, k.n);
            name[k.n] = 0;
            if (!bs_table_column(t, name)) return 1;
        }
    return 0;
}

int bs__ts_ensure_table(bs_ts *ts, const char *db, const char *m, const bs_lp_point *const *pts,
                        size_t n, bs_schema **s_out, char *msg, size_t msglen) {
    bs_schema *cur = ts->be.schema_get(ts->be.ud);
    if (!missing(bs_schema_table(cur, db, m), pts, n)) {
        *s_out = cur;
        return 0;
    }
    bs_schema_release(cur);
    pthread_mutex_lock(&ts->schema_mu);
    cur = ts->be.schema_get(ts->be.ud);
    const bs_table_schema *t = bs_schema_table(cur, db, m);
    if (!missing(t, pts, n)) { /* another writer added it meanwhile */
        pthread_mutex_unlock(&ts->schema_mu);
        *s_out = cur;
        return 0;
    }
    int rc = 0;
    bs_schema *next = bs_schema_clone(cur);
    if (!next) {
        rc = BS_ENOMEM;
        goto fail;
    }
    int64_t now = ts->be.now_us(ts->be.ud);
    int created = !t;
    if (!t) {
        bs_type *text = bs_type_new(BS_TYPE_VARCHAR), *big = bs_type_new(BS_TYPE_BIGINT);
        if (!text || !big) {
            bs_type_free(text);
            bs_type_free(big);
            rc = BS_ENOMEM;
            goto fail;
        }
        bs_column_def defs[3] = {
            {BS_TS_COL_SERIES, text, BS_COL_PARTITION_KEY, 0, 0},
            {BS_TS_COL_BUCKET, big, BS_COL_PARTITION_KEY, 1, 0},
            {BS_TS_COL_TIME, big, BS_COL_CLUSTERING, 0, 1},
        };
        bs_uuid id;
        bs_schema_shared_table_id(next, db, m, &id);
        rc = bs_schema_create_table(next, db, m, &id, defs, 3, NULL, 0, now, msg, msglen);
        bs_type_free(text);
        bs_type_free(big);
        if (rc) goto fail;
    }
    const bs_table_schema *nt = bs_schema_table(next, db, m);
    char name[256];
    for (size_t i = 0; i < n && !rc; i++)
        for (size_t f = 0; f < pts[i]->nfields && !rc; f++) {
            const bs_lp_field *fd = &pts[i]->fields[f];
            if (reserved(fd->key) || fd->key.n >= sizeof name) continue;
            memcpy(name, fd->key.p, fd->key.n);
            name[fd->key.n] = 0;
            if (bs_table_column(nt, name)) continue;
            bs_type *ty = bs_type_new(lp_col_kind(fd->type));
            if (!ty) {
                rc = BS_ENOMEM;
                break;
            }
            rc = bs_schema_add_shared_column(next, db, m, name, ty, now, msg, msglen);
            bs_type_free(ty);
            nt = bs_schema_table(next, db, m);
        }
    if (rc) goto fail;
    rc = bs__ts_apply(ts, next, created ? "CREATED" : "UPDATED", "TABLE", db, m, msg, msglen);
    next = NULL;
    if (rc) goto fail;
    bs_schema_release(cur);
    pthread_mutex_unlock(&ts->schema_mu);
    *s_out = ts->be.schema_get(ts->be.ud);
    return 0;
fail:
    if (next) bs_schema_release(next);
    bs_schema_release(cur);
    pthread_mutex_unlock(&ts->schema_mu);
    if (rc == BS_ENOMEM) snprintf(msg, msglen, "out of memory");
    return rc;
}

int bs__ts_drop_measurement(bs_ts *ts, const char *db, const char *m, char *msg, size_t msglen) {
    char tn[64];
    bs__ts_table_name(m, strlen(m), tn);
    /* the index rows first: a measurement listed without a table would
     * be visible to SHOW; a table without index rows is not */
    bs_schema *cur = ts->be.schema_get(ts->be.ud);
    const bs_table_schema *ix = bs_schema_table(cur, db, BS_TS_INDEX_TABLE);
    if (!ix) {
        bs_schema_release(cur);
        snprintf(msg, msglen, "database not found: %s", db);
        return BS_ENOTFOUND;
    }
    char cf[160];
    bs_table_cf_name(ix, cf, sizeof cf);
    bs_mop op;
    memset(&op, 0, sizeof op);
    op.kind = BS_MOP_PART_DEL;
    op.ts = ts->be.now_us(ts->be.ud);
    bs_mutation mu;
    memset(&mu, 0, sizeof mu);
    mu.table_id = ix->id;
    mu.cf = cf;
    mu.pk = (const uint8_t *)m;
    mu.pk_len = strlen(m);
    mu.token = bs_ring_partition_token(m, mu.pk_len);
    mu.ops = &op;
    mu.nops = 1;
    bs_exec_err err;
    memset(&err, 0, sizeof err);
    int rc = ts->be.write(ts->be.ud, &mu, 1, BS_CL_QUORUM, 0, &err);
    bs_schema_release(cur);
    if (rc) {
        snprintf(msg, msglen, "%s", err.msg[0] ? err.msg : "drop failed");
        return BS_EIO;
    }
    pthread_mutex_lock(&ts->schema_mu);
    cur = ts->be.schema_get(ts->be.ud);
    rc = 0;
    if (bs_schema_table(cur, db, tn)) {
        bs_schema *next = bs_schema_clone(cur);
        if (!next) {
            rc = BS_ENOMEM;
        } else if ((rc = bs_schema_drop_table(next, db, tn, ts->be.now_us(ts->be.ud), msg,
                                              msglen))) {
            bs_schema_release(next);
        } else {
            rc = bs__ts_apply(ts, next, "DROPPED", "TABLE", db, tn, msg, msglen);
        }
    }
    bs_schema_release(cur);
    pthread_mutex_unlock(&ts->schema_mu);
    return rc;
}
