/*
 * ts_int.h - shared by the files of node/ts/ (not a public header).
 */
#ifndef BS_NODE_TS_TS_INT_H
#define BS_NODE_TS_TS_INT_H

#include <pthread.h>

#include "node/ts/ts.h"
#include "query/cql_ast.h"
#include "query/ts/lineproto.h"

/* Column names of a measurement's table (docs/TIMESERIES.md). */
#define BS_TS_COL_SERIES "_series"
#define BS_TS_COL_BUCKET "_bucket"
#define BS_TS_COL_TIME "time"
/* The series index of a database: one per keyspace. */
#define BS_TS_INDEX_TABLE "_series_index"
#define BS_TS_COL_MEASUREMENT "_measurement"

struct bs_ts {
    bs_exec_backend be;
    int have_be;
    int64_t bucket_ns;
    int rf;
    char dc[64];
    pthread_mutex_t schema_mu; /* serializes our schema changes */
    bs_exec *authx;            /* logins and permissions; NULL: none */
};

struct bs__ts_rp;

/* ---- ts_schema.c ---------------------------------------------------- */

/* The InfluxDB field type a column type stands for; -1 if none. */
int bs__ts_col_lp_type(const bs_type *t);

/* True when `name` is usable as a keyspace/table name (what InfluxDB
 * database and measurement names must be in Basalt: 1..48 letters,
 * digits, underscores, not starting with '_'). */
int bs__ts_valid_name(const char *name, size_t len);

/* The table of measurement name[0..len): the name itself when it is a
 * valid name (above) and does not look like a hashed one; otherwise
 * "m_" + 16 hex digits of its 64-bit FNV-1a hash.  out: 49 bytes. */
void bs__ts_table_name(const char *name, size_t len, char *out);

/* Creates database `db` (keyspace + series index).  rf <= 0: default.
 * 0 (also when it exists); or BS_EINVAL/BS_ENOMEM/other with msg. */
/* rp: the first retention policy (NULL: autogen, infinite). */
int bs__ts_create_database(bs_ts *ts, const char *db, int rf, const struct bs__ts_rp *rp,
                           char *msg, size_t msglen);
int bs__ts_drop_database(bs_ts *ts, const char *db, char *msg, size_t msglen);
/* Drops measurement m's table and its series index partition. */
int bs__ts_drop_measurement(bs_ts *ts, const char *db, const char *m, char *msg, size_t msglen);

/* Makes sure measurement `m` of database `db` has a table with a column
 * for every field of the points in pts[0..n) whose measurement is m
 * (the first type seen wins, as in InfluxDB).  Fields whose name is
 * reserved or whose type conflicts are left to the caller to detect.
 * *s_out: a retained schema snapshot that contains the table. */
int bs__ts_ensure_table(bs_ts *ts, const char *db, const char *m, const bs_lp_point *const *pts,
                        size_t n, bs_schema **s_out, char *msg, size_t msglen);

/* Publishes `next` (taken) with a schema-change event.  0 or -1 + msg. */
int bs__ts_apply(bs_ts *ts, bs_schema *next, const char *change, const char *target,
                 const char *ks, const char *name, char *msg, size_t msglen);

/* ---- ts_rp.c: retention policies ------------------------------------ */

struct bs_iq_stmt;
#define BS_TS_MAX_RPS 64
typedef struct bs__ts_rp {
    char name[128];
    int64_t duration, shard; /* ns; duration 0 = infinite */
    int replica;
    int is_default;
} bs__ts_rp;
/* The policies of db in snapshot s, in creation order (at most cap);
 * -1 when db is not a time-series database. */
int bs__ts_rps(const bs_schema *s, const char *db, bs__ts_rp *out, int cap);
/* Policy rp of db (NULL or "": the default one).  0, or -1: none. */
int bs__ts_rp_find(const bs_schema *s, const char *db, const char *rp, bs__ts_rp *out);
/* Stores v[0..n) as db's policies in `next` (a clone being edited). */
int bs__ts_rp_store(bs_schema *next, const char *db, const bs__ts_rp *v, int n, int64_t now,
                    char *msg, size_t msglen);
/* The first policy of CREATE DATABASE st [WITH ...]; and its check. */
void bs__ts_rp_initial(const struct bs_iq_stmt *st, bs__ts_rp *out);
int bs__ts_rp_check(const bs__ts_rp *r, char *msg, size_t msglen);
/* CREATE / ALTER / DROP RETENTION POLICY st->rp ON st->name. */
int bs__ts_rp_ddl(bs_ts *ts, const struct bs_iq_stmt *st, char *msg, size_t msglen);
/* SHOW RETENTION POLICIES of db: the statement's members. */
void bs__ts_show_rps(bs_ts *ts, const char *db, bs_buf *o);

/* ---- ts_write.c ----------------------------------------------------- */

/* POST /write (v2 = 0) and /api/v2/write (v2 = 1). */
/* user: the logged-in role whose permissions apply; NULL: none checked. */
void bs__ts_write(bs_ts *ts, const bs_http_request *req, bs_http_response *resp, int v2,
                  const char *user);
/* 0 when user may do `perm` (BS_CQL_PERM_*) on keyspace db (NULL: all);
 * else -1 with a 403 (or 500) answer set in resp.  user NULL: 0. */
int bs__ts_authorize(bs_ts *ts, const char *user, uint8_t perm, const char *db,
                     bs_http_response *resp);

/* ---- ts_json.c ------------------------------------------------------ */

/* Go's JSON float format; the time as RFC 3339 (quoted) or an integer in
 * units of epoch_div ns (bs__ts_epoch_div of the `epoch` parameter; 0 =
 * RFC 3339).  Return snprintf's count. */
int bs__ts_fmt_float(double f, char *out, size_t cap);
int bs__ts_fmt_time(int64_t ns, int64_t epoch_div, char *out, size_t cap);
int64_t bs__ts_epoch_div(const char *epoch);

/* ---- ts_select.c ---------------------------------------------------- */

struct bs_iq_stmt;
/* Runs a SELECT on database db, appending the result's members (series
 * or error) after "statement_id". */
void bs__ts_select(bs_ts *ts, const struct bs_iq_stmt *st, const char *db, int64_t epoch_div,
                   bs_arena *a, bs_buf *o);

/* ---- ts_query.c ----------------------------------------------------- */

/* GET|POST /query. */
/* One tag of a series key (arena strings, unescaped). */
typedef struct bs__ts_tag {
    char *k, *v;
} bs__ts_tag;
/* Splits a canonical series key "m,k=v,..." into at most cap unescaped
 * tags (strings from a); returns how many. */
size_t bs__ts_series_tags(const char *key, size_t n, bs_arena *a, bs__ts_tag *tags, size_t cap);

/* The measurements of db's series index, sorted (arena strings).
 * 0, or -1 with msg. */
int bs__ts_measurements(bs_ts *ts, const char *db, bs_arena *a, const char ***out, size_t *n,
                        char *msg, size_t msglen);

/* ---- ts_delete.c ---------------------------------------------------- */

/* DELETE and DROP SERIES on db.  0, or -1 with msg. */
int bs__ts_delete(bs_ts *ts, const struct bs_iq_stmt *st, const char *db, bs_arena *a, char *msg,
                  size_t msglen);

/* ---- ts_format.c: CSV and chunked answers ---------------------------- */

/* CSV state across the statements of one answer. */
typedef struct bs__ts_csv {
    bs_buf cols; /* the columns of the last header written */
    int any;     /* a statement printed rows */
} bs__ts_csv;
/* Appends the CSV of one statement whose JSON members are r[0..len). */
void bs__ts_csv_statement(bs__ts_csv *c, const char *r, size_t len, bs_buf *o);
/* True when a statement's members r[0..len) carry an "error". */
int bs__ts_failed(const char *r, size_t len);
/* Rewrites an error answer's body {"error":"m"} as CSV. */
void bs__ts_csv_error(bs_buf *body);
/* Appends the chunked-JSON lines of statement id (kind: bs_iq_kind). */
void bs__ts_chunk_statement(int kind, size_t id, const char *r, size_t len, size_t chunk,
                            bs_buf *o);

void bs__ts_query(bs_ts *ts, const bs_http_request *req, bs_http_response *resp,
                  const char *user);

#endif
