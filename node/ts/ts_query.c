/*
 * ts_query.c - GET|POST /query: InfluxQL (query/ts/influxql.c) in,
 * InfluxDB 1.x JSON out.
 *
 * Built (docs/TIMESERIES.md): CREATE DATABASE [WITH REPLICATION n],
 * DROP DATABASE, DROP MEASUREMENT, SHOW DATABASES, SHOW MEASUREMENTS,
 * SHOW FIELD KEYS, SHOW TAG KEYS, SHOW TAG VALUES WITH KEY = k,
 * SHOW SERIES, SHOW RETENTION POLICIES; SELECT (ts_select.c), with
 * `epoch` for integer times.
 *
 * Request: `q` (and `db`) from the URL or an application/x-www-form-
 * urlencoded body; statements separated by ';'.  A parse error is 400
 * {"error":"error parsing query: ..."}; otherwise 200
 * {"results":[{"statement_id":i,...}]} where a statement that fails
 * carries "error" and the others still run, as in InfluxDB.
 *
 * The SHOW statements about series read the database's series index
 * (table _series_index: partition = measurement, rows = series keys)
 * with a scan through the backend; field keys come from the schema.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "node/ts/ts_int.h"
#include "query/ts/influxql.h"
#include "ring/murmur3.h"
#include "storage/keycodec.h"

/* ------------------------------------------------------------------ */
/* The series index                                                     */
/* ------------------------------------------------------------------ */

typedef struct sref {
    const char *m; /* measurement */
    size_t mn;
    const char *key; /* series key */
    size_t kn;
} sref;

typedef struct icx {
    bs_arena *a;
    const bs_type *ty;
    const char *only; /* measurement filter or NULL */
    sref *v;
    size_t n, cap;
    int oom;
} icx;

static int on_index_part(void *ud, const bs_partv *p) {
    icx *c = ud;
    if (c->only && (strlen(c->only) != p->pk_len || memcmp(c->only, p->pk, p->pk_len))) return 0;
    char *m = bs_arena_memdup(c->a, p->pk, p->pk_len);
    if (!m) goto oom;
    for (size_t r = 0; r < p->nrows; r++) {
        bs_rbuf rb;
        bs_rbuf_init(&rb, p->rows[r].ck, p->rows[r].ck_len);
        bs_buf out = BS_BUF_INIT;
        if (bs_keycodec_decode(c->ty, 0, &rb, &out, NULL)) {
            bs_buf_free(&out);
            continue;
        }
        if (c->n == c->cap) {
            size_t nc = c->cap ? c->cap * 2 : 64;
            sref *v = bs_arena_alloc(c->a, nc * sizeof *v);
            if (!v) {
                bs_buf_free(&out);
                goto oom;
            }
            if (c->n) memcpy(v, c->v, c->n * sizeof *v);
            c->v = v;
            c->cap = nc;
        }
        sref *s = &c->v[c->n++];
        s->m = m;
        s->mn = p->pk_len;
        s->key = bs_arena_memdup(c->a, out.data ? (const char *)out.data : "", out.len);
        s->kn = out.len;
        bs_buf_free(&out);
        if (!s->key) goto oom;
    }
    return 0;
oom:
    c->oom = 1;
    return -1;
}

static int cmp_sref(const void *x, const void *y) {
    const sref *a = x, *b = y;
    size_t n = a->kn < b->kn ? a->kn : b->kn;
    int r = memcmp(a->key, b->key, n);
    return r ? r : (a->kn > b->kn) - (a->kn < b->kn);
}

/* Every (measurement, series) of db (of measurement `only` if set),
 * sorted by series key.  0 or -1 with msg. */
static int read_index(bs_ts *ts, const char *db, const char *only, bs_arena *a, sref **out,
                      size_t *n, char *msg, size_t msglen) {
    bs_schema *s = ts->be.schema_get(ts->be.ud);
    const bs_table_schema *t = bs_schema_table(s, db, BS_TS_INDEX_TABLE);
    if (!t) {
        bs_schema_release(s);
        snprintf(msg, msglen, "database not found: %s", db);
        return -1;
    }
    icx c = {a, t->cols[t->npk].type, only, NULL, 0, 0, 0};
    bs_scan sc;
    memset(&sc, 0, sizeof sc);
    sc.start_token = INT64_MIN;
    sc.end_token = INT64_MIN;
    bs_exec_err err;
    memset(&err, 0, sizeof err);
    int rc = ts->be.scan(ts->be.ud, t, &sc, BS_CL_ONE, on_index_part, &c, &err);
    bs_schema_release(s);
    if (c.oom) {
        snprintf(msg, msglen, "out of memory");
        return -1;
    }
    if (rc) {
        snprintf(msg, msglen, "%s", err.msg[0] ? err.msg : "reading the series index failed");
        return -1;
    }
    if (c.n) qsort(c.v, c.n, sizeof *c.v, cmp_sref);
    *out = c.v;
    *n = c.n;
    return 0;
}


/* ------------------------------------------------------------------ */
/* Output helpers                                                       */
/* ------------------------------------------------------------------ */

static void jstr(bs_buf *o, const char *s, size_t n) { bs_http_json_str(o, s, n); }

static void result_error(bs_buf *o, const char *msg) {
    bs_buf_append_str(o, ",\"error\":");
    jstr(o, msg, strlen(msg));
}

typedef struct strset {
    const char **v;
    size_t n, cap;
} strset;

static int cmp_str(const void *x, const void *y) {
    return strcmp(*(const char *const *)x, *(const char *const *)y);
}

static void set_add(strset *s, const char *v, bs_arena *a) {
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->v[i], v)) return;
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 16;
        const char **nv = bs_arena_alloc(a, nc * sizeof *nv);
        if (!nv) return;
        if (s->n) memcpy(nv, s->v, s->n * sizeof *nv);
        s->v = nv;
        s->cap = nc;
    }
    s->v[s->n++] = v;
}

/* Runs f(measurement group [i, j)) over index entries grouped by
 * measurement, in name order. */
static int cmp_sref_m(const void *x, const void *y) {
    const sref *a = x, *b = y;
    size_t n = a->mn < b->mn ? a->mn : b->mn;
    int r = memcmp(a->m, b->m, n);
    if (r || a->mn != b->mn) return r ? r : (a->mn > b->mn) - (a->mn < b->mn);
    return cmp_sref(x, y);
}

/* ------------------------------------------------------------------ */
/* Statements                                                           */
/* ------------------------------------------------------------------ */

static void show_databases(bs_ts *ts, bs_buf *o) {
    bs_schema *s = ts->be.schema_get(ts->be.ud);
    bs_buf_append_str(o, ",\"series\":[{\"name\":\"databases\",\"columns\":[\"name\"]");
    int first = 1;
    for (size_t i = 0; i < bs_schema_nkeyspaces(s); i++) {
        const bs_keyspace_schema *ks = bs_schema_keyspace_at(s, i);
        if (!bs_schema_table(s, ks->name, BS_TS_INDEX_TABLE)) continue;
        bs_buf_append_str(o, first ? ",\"values\":[[" : ",[");
        jstr(o, ks->name, strlen(ks->name));
        bs_buf_append_str(o, "]");
        first = 0;
    }
    if (!first) bs_buf_append_str(o, "]");
    bs_buf_append_str(o, "}]");
    bs_schema_release(s);
}

static void show_field_keys(bs_ts *ts, const char *db, const char *from, bs_arena *a, bs_buf *o) {
    sref *v;
    size_t n;
    char msg[600];
    if (read_index(ts, db, from, a, &v, &n, msg, sizeof msg)) {
        result_error(o, msg);
        return;
    }
    if (n > 1) qsort(v, n, sizeof *v, cmp_sref_m);
    bs_schema *s = ts->be.schema_get(ts->be.ud);
    int any = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && v[j].mn == v[i].mn && !memcmp(v[j].m, v[i].m, v[i].mn)) j++;
        char tn[64];
        bs__ts_table_name(v[i].m, v[i].mn, tn);
        const bs_table_schema *t = bs_schema_table(s, db, tn);
        if (t) {
            bs_buf_append_str(o, any ? ",{\"name\":" : ",\"series\":[{\"name\":");
            jstr(o, v[i].m, v[i].mn);
            bs_buf_append_str(o, ",\"columns\":[\"fieldKey\",\"fieldType\"],\"values\":[");
            int f = 0;
            /* regular columns are sorted by name in the schema */
            for (size_t c = 0; c < t->ncols; c++) {
                if (t->cols[c].kind != BS_COL_REGULAR) continue;
                int ty = bs__ts_col_lp_type(t->cols[c].type);
                bs_buf_append_str(o, f ? ",[" : "[");
                jstr(o, t->cols[c].name, strlen(t->cols[c].name));
                bs_buf_appendf(o, ",\"%s\"]", ty < 0 ? "unknown" : bs_lp_type_name((bs_lp_type)ty));
                f = 1;
            }
            bs_buf_append_str(o, "]}");
            any = 1;
        }
        i = j;
    }
    if (any) bs_buf_append_str(o, "]");
    bs_schema_release(s);
}

static void show_measurements(bs_ts *ts, const char *db, bs_arena *a, bs_buf *o) {
    sref *v;
    size_t n;
    char msg[600];
    if (read_index(ts, db, NULL, a, &v, &n, msg, sizeof msg)) {
        result_error(o, msg);
        return;
    }
    if (n > 1) qsort(v, n, sizeof *v, cmp_sref_m);
    int any = 0;
    for (size_t i = 0; i < n; i++) {
        if (i && v[i].mn == v[i - 1].mn && !memcmp(v[i].m, v[i - 1].m, v[i].mn)) continue;
        bs_buf_append_str(o, any ? ",[" : ",\"series\":[{\"name\":\"measurements\",\"columns\":[\"name\"],\"values\":[[");
        jstr(o, v[i].m, v[i].mn);
        bs_buf_append_str(o, "]");
        any = 1;
    }
    if (any) bs_buf_append_str(o, "]}]");
}

static void show_series(bs_ts *ts, const char *db, const char *from, bs_arena *a, bs_buf *o) {
    sref *v;
    size_t n;
    char msg[600];
    if (read_index(ts, db, from, a, &v, &n, msg, sizeof msg)) {
        result_error(o, msg);
        return;
    }
    if (!n) return;
    bs_buf_append_str(o, ",\"series\":[{\"columns\":[\"key\"],\"values\":[");
    for (size_t i = 0; i < n; i++) {
        bs_buf_append_str(o, i ? ",[" : "[");
        jstr(o, v[i].key, v[i].kn);
        bs_buf_append_str(o, "]");
    }
    bs_buf_append_str(o, "]}]");
}

/* SHOW TAG KEYS (key == NULL) and SHOW TAG VALUES WITH KEY = key. */
static void show_tags(bs_ts *ts, const char *db, const char *from, const char *key, bs_arena *a,
                      bs_buf *o) {
    sref *v;
    size_t n;
    char msg[600];
    if (read_index(ts, db, from, a, &v, &n, msg, sizeof msg)) {
        result_error(o, msg);
        return;
    }
    if (n > 1) qsort(v, n, sizeof *v, cmp_sref_m);
    int any = 0;
    bs__ts_tag tags[256];
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && v[j].mn == v[i].mn && !memcmp(v[j].m, v[i].m, v[i].mn)) j++;
        strset set = {0};
        for (size_t k = i; k < j; k++) {
            size_t nt = bs__ts_series_tags(v[k].key, v[k].kn, a, tags, 256);
            for (size_t t = 0; t < nt; t++) {
                if (!key)
                    set_add(&set, tags[t].k, a);
                else if (!strcmp(tags[t].k, key))
                    set_add(&set, tags[t].v, a);
            }
        }
        if (set.n) {
            qsort(set.v, set.n, sizeof *set.v, cmp_str);
            bs_buf_append_str(o, any ? ",{\"name\":" : ",\"series\":[{\"name\":");
            jstr(o, v[i].m, v[i].mn);
            bs_buf_append_str(o, key ? ",\"columns\":[\"key\",\"value\"],\"values\":["
                                     : ",\"columns\":[\"tagKey\"],\"values\":[");
            for (size_t k = 0; k < set.n; k++) {
                bs_buf_append_str(o, k ? ",[" : "[");
                if (key) {
                    jstr(o, key, strlen(key));
                    bs_buf_append_str(o, ",");
                }
                jstr(o, set.v[k], strlen(set.v[k]));
                bs_buf_append_str(o, "]");
            }
            bs_buf_append_str(o, "]}");
            any = 1;
        }
        i = j;
    }
    if (any) bs_buf_append_str(o, "]");
}

int bs__ts_measurements(bs_ts *ts, const char *db, bs_arena *a, const char ***out, size_t *n,
                        char *msg, size_t msglen) {
    sref *v;
    size_t nv;
    if (read_index(ts, db, NULL, a, &v, &nv, msg, msglen)) return -1;
    if (nv > 1) qsort(v, nv, sizeof *v, cmp_sref_m);
    const char **ms = bs_arena_alloc(a, (nv ? nv : 1) * sizeof *ms);
    if (!ms) {
        snprintf(msg, msglen, "out of memory");
        return -1;
    }
    size_t k = 0;
    for (size_t i = 0; i < nv; i++) {
        if (i && v[i].mn == v[i - 1].mn && !memcmp(v[i].m, v[i - 1].m, v[i].mn)) continue;
        if (!(ms[k++] = bs_arena_strndup(a, v[i].m, v[i].mn))) {
            snprintf(msg, msglen, "out of memory");
            return -1;
        }
    }
    *out = ms;
    *n = k;
    return 0;
}

static void create_database(bs_ts *ts, const bs_iq_stmt *s, bs_buf *o) {
    char msg[600];
    bs__ts_rp rp;
    int with = s->has_duration || s->has_shard || s->has_replication || s->rp;
    if (with) {
        bs__ts_rp_initial(s, &rp);
        if (bs__ts_rp_check(&rp, msg, sizeof msg)) {
            result_error(o, msg);
            return;
        }
    }
    if (bs__ts_create_database(ts, s->name, s->replication, with ? &rp : NULL, msg, sizeof msg))
        result_error(o, msg);
}

static void drop_measurement(bs_ts *ts, const char *db, const char *m, bs_buf *o) {
    char msg[600];
    if (bs__ts_drop_measurement(ts, db, m, msg, sizeof msg)) result_error(o, msg);
}

static int needs_db(const bs_iq_stmt *s) {
    return s->kind != BS_IQ_SHOW_DATABASES && s->kind != BS_IQ_CREATE_DATABASE &&
           s->kind != BS_IQ_DROP_DATABASE && s->kind != BS_IQ_SHOW_RETENTION_POLICIES &&
           s->kind != BS_IQ_CREATE_RP && s->kind != BS_IQ_ALTER_RP && s->kind != BS_IQ_DROP_RP;
}

static void run(bs_ts *ts, const bs_iq_stmt *s, const char *db, int64_t ediv, bs_arena *a,
                bs_buf *o) {
    char msg[600];
    if (needs_db(s) && (!db || !*db)) {
        result_error(o, "database name required");
        return;
    }
    switch (s->kind) {
    case BS_IQ_CREATE_DATABASE: create_database(ts, s, o); break;
    case BS_IQ_DROP_DATABASE:
        if (bs__ts_drop_database(ts, s->name, msg, sizeof msg)) result_error(o, msg);
        break;
    case BS_IQ_SHOW_DATABASES: show_databases(ts, o); break;
    case BS_IQ_SHOW_MEASUREMENTS: show_measurements(ts, db, a, o); break;
    case BS_IQ_SHOW_FIELD_KEYS: show_field_keys(ts, db, s->from, a, o); break;
    case BS_IQ_SHOW_TAG_KEYS: show_tags(ts, db, s->from, NULL, a, o); break;
    case BS_IQ_SHOW_TAG_VALUES: show_tags(ts, db, s->from, s->key, a, o); break;
    case BS_IQ_SHOW_SERIES: show_series(ts, db, s->from, a, o); break;
    case BS_IQ_SHOW_RETENTION_POLICIES: bs__ts_show_rps(ts, s->name ? s->name : db, o); break;
    case BS_IQ_CREATE_RP:
    case BS_IQ_ALTER_RP:
    case BS_IQ_DROP_RP:
        if (bs__ts_rp_ddl(ts, s, msg, sizeof msg)) result_error(o, msg);
        break;
    case BS_IQ_DELETE:
    case BS_IQ_DROP_SERIES:
        if (bs__ts_delete(ts, s, db, a, msg, sizeof msg)) result_error(o, msg);
        break;
    case BS_IQ_DROP_MEASUREMENT: drop_measurement(ts, db, s->name, o); break;
    case BS_IQ_SELECT: bs__ts_select(ts, s, db, ediv, a, o); break;
    }
}

static const char *param(const bs_http_request *req, const char *name) {
    const char *v = NULL;
    if (!bs_http_form_get(req->query, strlen(req->query), name, req->arena, &v)) return v;
    const char *ct = bs_http_header_get(req, "content-type");
    if (ct && !strncasecmp(ct, "application/x-www-form-urlencoded", 33) &&
        !bs_http_form_get((const char *)req->body, req->body_len, name, req->arena, &v))
        return v;
    return NULL;
}

/* The permission statement s needs, and on which keyspace (*ks NULL: all
 * keyspaces); 0: none beyond a login (SHOW DATABASES). */
static uint8_t stmt_perm(const bs_iq_stmt *s, const char *db, const char **ks) {
    *ks = db;
    switch (s->kind) {
    case BS_IQ_CREATE_DATABASE: *ks = NULL; return BS_CQL_PERM_CREATE;
    case BS_IQ_DROP_DATABASE: *ks = s->name; return BS_CQL_PERM_DROP;
    case BS_IQ_SHOW_DATABASES: return 0;
    case BS_IQ_CREATE_RP:
    case BS_IQ_ALTER_RP:
    case BS_IQ_DROP_RP: *ks = s->name; return BS_CQL_PERM_ALTER;
    case BS_IQ_DELETE:
    case BS_IQ_DROP_SERIES:
        if (!db || !*db) return 0;
        return BS_CQL_PERM_MODIFY;
    case BS_IQ_SHOW_RETENTION_POLICIES:
        if (s->name) *ks = s->name;
        return *ks && **ks ? BS_CQL_PERM_SELECT : 0;
    default: /* no database: the statement fails without reading */
        if (!db || !*db) return 0;
        return s->kind == BS_IQ_DROP_MEASUREMENT ? BS_CQL_PERM_DROP : BS_CQL_PERM_SELECT;
    }
}

/* How the answer is written (docs/TIMESERIES.md). */
typedef struct qfmt {
    int csv;      /* Accept: application/csv or text/csv */
    size_t chunk; /* chunked=true: rows per chunk; 0 = not chunked */
} qfmt;

static void query(bs_ts *ts, const bs_http_request *req, bs_http_response *resp,
                  const char *user, const qfmt *f) {
    if (strcmp(req->method, "GET") && strcmp(req->method, "POST")) {
        bs_http_error(resp, 405, "method not allowed");
        snprintf(resp->headers, sizeof resp->headers, "Allow: GET, POST\r\n");
        return;
    }
    const char *q = param(req, "q"), *db = param(req, "db");
    if (!q) {
        bs_http_error(resp, 400, "missing required parameter \"q\"");
        return;
    }
    bs_iq_stmt *st;
    size_t n;
    const char *err = NULL;
    int rc = bs_iq_parse(q, strlen(q), ts->be.now_us(ts->be.ud) * 1000, req->arena, &st, &n, &err);
    if (rc == BS_ENOMEM) {
        bs_http_error(resp, 500, "out of memory");
        return;
    }
    if (rc) {
        bs_http_error(resp, 400, "error parsing query: %s", err);
        return;
    }
    for (size_t i = 0; user && i < n; i++) { /* all or nothing, as InfluxDB */
        const char *ks;
        uint8_t perm = stmt_perm(&st[i], db, &ks);
        if (perm && bs__ts_authorize(ts, user, perm, ks, resp)) return;
    }
    bs_buf *o = &resp->body;
    const char *epoch = param(req, "epoch");
    /* CSV times are integers: nanoseconds unless epoch= says otherwise */
    int64_t ediv = f->csv && !epoch ? 1 : bs__ts_epoch_div(epoch);
    bs__ts_csv csv = {BS_BUF_INIT, 0};
    if (!f->csv && !f->chunk) bs_buf_append_str(o, "{\"results\":[");
    int failed = 0;
    for (size_t i = 0; i < n; i++) {
        bs_buf r = BS_BUF_INIT;
        if (failed) /* InfluxDB stops at the first statement that fails */
            bs_buf_append_str(&r, ",\"error\":\"not executed\"");
        else
            run(ts, &st[i], db, ediv, req->arena, &r);
        const char *rp = r.data ? (const char *)r.data : "";
        failed = failed || bs__ts_failed(rp, r.len);
        if (f->csv) {
            bs__ts_csv_statement(&csv, rp, r.len, o);
        } else if (f->chunk) {
            bs__ts_chunk_statement(st[i].kind, i, rp, r.len, f->chunk, o);
        } else {
            bs_buf_appendf(o, "%s{\"statement_id\":%zu", i ? "," : "", i);
            bs_buf_append(o, rp, r.len);
            bs_buf_append_str(o, "}");
        }
        bs_buf_free(&r);
    }
    bs_buf_free(&csv.cols);
    if (!f->csv && !f->chunk) bs_buf_append_str(o, "]}\n");
    resp->status = 200;
    resp->content_type = f->csv ? "text/csv" : "application/json";
}

void bs__ts_query(bs_ts *ts, const bs_http_request *req, bs_http_response *resp,
                  const char *user) {
    qfmt f = {0, 0};
    const char *accept = bs_http_header_get(req, "accept");
    f.csv = accept && (!strcmp(accept, "application/csv") || !strcmp(accept, "text/csv"));
    const char *ch = param(req, "chunked");
    if (ch && !strcmp(ch, "true")) {
        const char *cs = param(req, "chunk_size");
        char *end = NULL;
        long long v = cs ? strtoll(cs, &end, 10) : 0;
        f.chunk = cs && *cs && !*end && v > 0 ? (size_t)v : 10000; /* InfluxDB's default */
    }
    query(ts, req, resp, user, &f);
    if (f.csv && resp->status != 200) {
        bs__ts_csv_error(&resp->body);
        resp->content_type = "text/csv";
    }
}
