/*
 * ts_rp.c - InfluxDB retention policies of a time-series database.
 *
 * Where they live: in the schema, so they reach every node with the
 * schema changes and cost nothing to look up on a write.  The database's
 * series index table (db._series_index) carries them in its
 * `extensions` table option, under the key "influx_retention_policies":
 *
 *     name duration_ns shard_ns replicaN default;name ...
 *
 * (name %-escaped: '%', ' ', ';' and control bytes as %XX), in creation
 * order, which is SHOW RETENTION POLICIES's order.  A database without
 * the key has InfluxDB's implicit default: autogen, infinite, 168h
 * shards, replicaN 1, default.
 *
 * What a policy does in Basalt (docs/TIMESERIES.md): every policy of a
 * database writes into the same tables; the duration becomes the TTL of
 * the points written into the policy, counted from the point's own time
 * (so a point expires when it leaves the policy's window, as InfluxDB
 * drops old shards), and a point already outside the window is refused
 * ("points beyond retention policy").  replicaN and the shard duration
 * are kept and shown, but the keyspace's replication decides the copies.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "node/ts/ts_int.h"
#include "query/ts/influxql.h"

#define RP_KEY "influx_retention_policies"
#define HOUR_NS 3600000000000LL
#define DAY_NS (24 * HOUR_NS)

/* InfluxDB 1.6's shard group duration for a policy duration. */
static int64_t shard_for(int64_t d) {
    if (d == 0 || d >= 180 * DAY_NS) return 7 * DAY_NS;
    if (d >= 2 * DAY_NS) return DAY_NS;
    return HOUR_NS;
}

static void default_rp(bs__ts_rp *r, const char *name, int64_t d, int64_t shard, int rn) {
    memset(r, 0, sizeof *r);
    snprintf(r->name, sizeof r->name, "%s", name ? name : "autogen");
    r->duration = d;
    r->shard = shard ? (shard < HOUR_NS ? HOUR_NS : shard) : shard_for(d);
    r->replica = rn > 0 ? rn : 1;
    r->is_default = 1;
}

static int unhex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* Parses one "name d shard rn def" entry [p, e).  0 or -1. */
static int parse_entry(const char *p, const char *e, bs__ts_rp *r) {
    memset(r, 0, sizeof *r);
    size_t k = 0;
    while (p < e && *p != ' ') {
        int c = (unsigned char)*p++;
        if (c == '%') {
            if (e - p < 2 || unhex(p[0]) < 0 || unhex(p[1]) < 0) return -1;
            c = unhex(p[0]) * 16 + unhex(p[1]);
            p += 2;
        }
        if (k + 1 >= sizeof r->name) return -1;
        r->name[k++] = (char)c;
    }
    char tmp[128];
    size_t n = (size_t)(e - p);
    if (n >= sizeof tmp || k == 0) return -1;
    memcpy(tmp, p, n);
    tmp[n] = 0;
    long long d, s;
    int rn, def;
    if (sscanf(tmp, " %lld %lld %d %d", &d, &s, &rn, &def) != 4 || d < 0 || s <= 0) return -1;
    r->duration = d;
    r->shard = s;
    r->replica = rn;
    r->is_default = def != 0;
    return 0;
}

int bs__ts_rps(const bs_schema *s, const char *db, bs__ts_rp *out, int cap) {
    const bs_table_schema *t = bs_schema_table(s, db, BS_TS_INDEX_TABLE);
    if (!t) return -1;
    const bs_table_option *o = bs_table_option_get(t, "extensions");
    const char *v = NULL;
    for (size_t i = 0; o && i < o->nentries; i++)
        if (!strcmp(o->keys[i], RP_KEY)) v = o->values[i];
    if (!v) {
        if (cap > 0) default_rp(&out[0], NULL, 0, 0, 1);
        return cap > 0 ? 1 : 0;
    }
    int n = 0;
    while (*v && n < cap) {
        const char *e = strchr(v, ';');
        if (!e) e = v + strlen(v);
        if (e > v && !parse_entry(v, e, &out[n])) n++;
        v = *e ? e + 1 : e;
    }
    return n;
}

int bs__ts_rp_find(const bs_schema *s, const char *db, const char *rp, bs__ts_rp *out) {
    bs__ts_rp v[BS_TS_MAX_RPS];
    int n = bs__ts_rps(s, db, v, BS_TS_MAX_RPS);
    for (int i = 0; i < n; i++)
        if (rp && *rp ? !strcmp(v[i].name, rp) : v[i].is_default) {
            *out = v[i];
            return 0;
        }
    return -1;
}

/* The option value for v[0..n). */
static int encode(const bs__ts_rp *v, int n, bs_buf *o) {
    for (int i = 0; i < n; i++) {
        if (i) bs_buf_append_str(o, ";");
        for (const unsigned char *c = (const unsigned char *)v[i].name; *c; c++) {
            if (*c == '%' || *c == ' ' || *c == ';' || *c < 0x20 || *c == 0x7f)
                bs_buf_appendf(o, "%%%02X", *c);
            else
                bs_buf_append(o, c, 1);
        }
        bs_buf_appendf(o, " %lld %lld %d %d", (long long)v[i].duration, (long long)v[i].shard,
                       v[i].replica, v[i].is_default);
    }
    return bs_buf_append(o, "", 1); /* NUL */
}

/* Publishes the policies v[0..n) of db (in `next`, a clone of the
 * current schema).  Keeps the table's other extensions. */
int bs__ts_rp_store(bs_schema *next, const char *db, const bs__ts_rp *v, int n, int64_t now,
                    char *msg, size_t msglen) {
    const bs_table_schema *t = bs_schema_table(next, db, BS_TS_INDEX_TABLE);
    if (!t) {
        snprintf(msg, msglen, "database not found: %s", db);
        return BS_ENOTFOUND;
    }
    bs_buf val = BS_BUF_INIT;
    if (encode(v, n, &val)) {
        bs_buf_free(&val);
        return BS_ENOMEM;
    }
    const bs_table_option *old = bs_table_option_get(t, "extensions");
    size_t on = old ? old->nentries : 0, k = 0;
    char **keys = calloc(on + 1, sizeof *keys), **vals = calloc(on + 1, sizeof *vals);
    int rc = BS_ENOMEM;
    if (keys && vals) {
        for (size_t i = 0; i < on; i++)
            if (strcmp(old->keys[i], RP_KEY)) {
                keys[k] = old->keys[i];
                vals[k++] = old->values[i];
            }
        keys[k] = (char *)RP_KEY;
        vals[k++] = (char *)val.data;
        bs_table_option opt;
        memset(&opt, 0, sizeof opt);
        opt.name = (char *)"extensions";
        opt.nentries = k;
        opt.keys = keys;
        opt.values = vals;
        rc = bs_schema_set_table_options(next, db, BS_TS_INDEX_TABLE, &opt, 1, now, msg, msglen);
    }
    free(keys);
    free(vals);
    bs_buf_free(&val);
    return rc;
}

void bs__ts_rp_initial(const bs_iq_stmt *st, bs__ts_rp *out) {
    default_rp(out, st->rp, st->duration, st->shard_duration, st->replication);
}

int bs__ts_rp_check(const bs__ts_rp *r, char *msg, size_t msglen) {
    if (r->duration != 0 && r->duration < HOUR_NS) {
        snprintf(msg, msglen, "retention policy duration must be at least 1h0m0s");
        return BS_EINVAL;
    }
    if (r->duration != 0 && r->duration < r->shard) {
        snprintf(msg, msglen, "retention policy duration must be greater than the shard duration");
        return BS_EINVAL;
    }
    return 0;
}

/* CREATE / ALTER / DROP RETENTION POLICY on v[0..*n) (edited in place). */
static int edit(const bs_iq_stmt *st, bs__ts_rp *v, int *n, char *msg, size_t msglen) {
    int at = -1;
    for (int i = 0; i < *n; i++)
        if (!strcmp(v[i].name, st->rp)) at = i;
    bs__ts_rp r;
    switch (st->kind) {
    case BS_IQ_DROP_RP:
        if (at < 0) return 1; /* InfluxDB: no error, nothing to do */
        memmove(&v[at], &v[at + 1], (size_t)(*n - at - 1) * sizeof *v);
        (*n)--;
        return 0;
    case BS_IQ_CREATE_RP:
        default_rp(&r, st->rp, st->duration, st->has_shard ? st->shard_duration : 0,
                   st->replication);
        r.is_default = st->rp_default;
        if (strlen(st->rp) >= sizeof r.name) {
            snprintf(msg, msglen, "retention policy name is too long");
            return -1;
        }
        if (bs__ts_rp_check(&r, msg, msglen)) return -1;
        if (at >= 0) {
            if (v[at].duration == r.duration && v[at].shard == r.shard &&
                v[at].replica == r.replica && (!r.is_default || v[at].is_default))
                return 1;
            snprintf(msg, msglen, "retention policy already exists");
            return -1;
        }
        if (*n >= BS_TS_MAX_RPS) {
            snprintf(msg, msglen, "too many retention policies (max %d)", BS_TS_MAX_RPS);
            return -1;
        }
        at = (*n)++;
        v[at] = r;
        break;
    default: /* ALTER */
        if (at < 0) {
            snprintf(msg, msglen, "retention policy not found: %s", st->rp);
            return -1;
        }
        r = v[at];
        if (st->has_duration) r.duration = st->duration;
        if (st->has_shard) r.shard = st->shard_duration ? st->shard_duration : shard_for(r.duration);
        if (r.shard < HOUR_NS) r.shard = HOUR_NS;
        if (st->has_replication) r.replica = st->replication;
        r.is_default |= st->rp_default;
        if (bs__ts_rp_check(&r, msg, msglen)) return -1;
        v[at] = r;
        if (!st->rp_default) return 0;
        break;
    }
    if (v[at].is_default)
        for (int i = 0; i < *n; i++) v[i].is_default = i == at;
    return 0;
}

int bs__ts_rp_ddl(bs_ts *ts, const bs_iq_stmt *st, char *msg, size_t msglen) {
    pthread_mutex_lock(&ts->schema_mu);
    bs_schema *cur = ts->be.schema_get(ts->be.ud);
    bs__ts_rp v[BS_TS_MAX_RPS];
    int n = bs__ts_rps(cur, st->name, v, BS_TS_MAX_RPS), rc = 0;
    if (n < 0) {
        snprintf(msg, msglen, "database not found: %s", st->name);
        rc = BS_ENOTFOUND;
        goto out;
    }
    int e = edit(st, v, &n, msg, msglen);
    if (e) {
        rc = e < 0 ? BS_EINVAL : 0;
        goto out;
    }
    bs_schema *next = bs_schema_clone(cur);
    if (!next) {
        rc = BS_ENOMEM;
        snprintf(msg, msglen, "out of memory");
        goto out;
    }
    rc = bs__ts_rp_store(next, st->name, v, n, ts->be.now_us(ts->be.ud), msg, msglen);
    if (rc)
        bs_schema_release(next);
    else
        rc = bs__ts_apply(ts, next, "UPDATED", "TABLE", st->name, BS_TS_INDEX_TABLE, msg, msglen);
out:
    bs_schema_release(cur);
    pthread_mutex_unlock(&ts->schema_mu);
    return rc;
}

/* Go's time.Duration.String() for the durations policies have. */
static void fmt_dur(int64_t d, char *o, size_t cap) {
    if (d == 0) {
        snprintf(o, cap, "0s");
        return;
    }
    int64_t h = d / HOUR_NS, m = d / 60000000000LL % 60, ns = d % 60000000000LL;
    char sec[40];
    snprintf(sec, sizeof sec, "%lld.%09lld", (long long)(ns / 1000000000),
             (long long)(ns % 1000000000));
    size_t l = strlen(sec);
    while (sec[l - 1] == '0') sec[--l] = 0;
    if (sec[l - 1] == '.') sec[--l] = 0;
    if (h)
        snprintf(o, cap, "%lldh%lldm%ss", (long long)h, (long long)m, sec);
    else if (m)
        snprintf(o, cap, "%lldm%ss", (long long)m, sec);
    else
        snprintf(o, cap, "%ss", sec);
}

void bs__ts_show_rps(bs_ts *ts, const char *db, bs_buf *o) {
    bs_schema *sc = ts->be.schema_get(ts->be.ud);
    bs__ts_rp v[BS_TS_MAX_RPS];
    int n = db ? bs__ts_rps(sc, db, v, BS_TS_MAX_RPS) : -1;
    bs_schema_release(sc);
    if (n < 0) {
        char msg[300];
        snprintf(msg, sizeof msg, "database not found: %s", db ? db : "");
        bs_buf_append_str(o, ",\"error\":");
        bs_http_json_str(o, msg, strlen(msg));
        return;
    }
    bs_buf_append_str(o, ",\"series\":[{\"columns\":[\"name\",\"duration\",\"shardGroupDuration\","
                         "\"replicaN\",\"default\"]");
    for (int i = 0; i < n; i++) {
        char d[64], s[64];
        fmt_dur(v[i].duration, d, sizeof d);
        fmt_dur(v[i].shard, s, sizeof s);
        bs_buf_append_str(o, i ? ",[" : ",\"values\":[[");
        bs_http_json_str(o, v[i].name, strlen(v[i].name));
        bs_buf_appendf(o, ",\"%s\",\"%s\",%d,%s]", d, s, v[i].replica,
                       v[i].is_default ? "true" : "false");
    }
    bs_buf_append_str(o, n ? "]}]" : "}]");
}
