/*
 * exec_int.h - shared internals of the executor (exec*.c).
 *
 * A request runs through an xctx: the schema snapshot it started with,
 * the bound values, the arena, and the first error (sticky).  Every
 * helper returns 0 or -1; on -1 the error is in ctx->err and the
 * dispatcher turns it into an ERROR frame.
 */
#ifndef BS_QUERY_EXEC_INT_H
#define BS_QUERY_EXEC_INT_H

#include "common/arena.h"
#include "common/buf.h"
#include "query/cql.h"
#include "query/exec.h"
#include "query/value.h"

/* A value during execution: len BS_VALUE_NULL = null, unset = "not set"
 * (protocol v4 UNSET: leave the column alone). */
typedef struct xval {
    const uint8_t *p;
    size_t len;
    int unset;
} xval;

typedef struct xctx {
    bs_exec *x;
    bs_exec_session *sess;
    bs_arena *a;
    bs_schema *schema;       /* retained for the request */
    const bs_cql_stmt *stmt; /* current statement */
    xval *binds;             /* stmt->nbinds resolved values */
    uint32_t nbinds;
    uint16_t cl;
    uint16_t serial_cl; /* the frame's serial consistency (SERIAL default) */
    int cas_ok;         /* building a conditional write's mutations */
    int32_t page_size; /* -1 none */
    bs_proto_val paging_state;
    int64_t default_ts; /* INT64_MIN when not given */
    int64_t now_us;
    bs_exec_err err;
    int failed;
    const char *ae_ks, *ae_table; /* ALREADY_EXISTS details */
    uint8_t version; /* protocol version of the request (3 or 4) */
    /* EXECUTE with skip_metadata: a SELECT leaves its column specs out,
     * unless their fingerprint (bs__x_meta_fp) differs from prep_fp, the
     * one PREPARE announced: then UNPREPARED with prep_id */
    int skip_meta;
    int check_fp;
    uint64_t prep_fp;
    bs_proto_val prep_id;
    /* prepared statements this request uses (a reference on each,
     * dropped when the request ends; arena array) */
    struct prep_entry **held;
    size_t nheld, capheld;
    /* output of the statement */
    bs_buf *out;
    int16_t stream;
    bs_proto_compression comp;
    /* bs_exec_request_async: a write may be left in flight (deferred set
     * once it was; the response is then written by its completion) */
    void (*adone)(void *dud, int again);
    void *adud;
    int deferred;
    /* ... and a read may be (bs__x_read): its state, and suspend 1 when
     * it was left in flight, 2 when the request needs the blocking path */
    struct xpre *pre;
    int suspend;
} xctx;

struct bs_exec {
    bs_exec_backend be;
    bs_exec_limits lim;
    _Atomic int64_t batch_warned_us; /* last batch-size warning logged */
    _Atomic int64_t trace_ppm; /* trace probability, parts per million */
    pthread_mutex_t prep_lock;
    struct prep_entry **prep; /* hash buckets */
    size_t nprep_buckets;
    size_t nprep;
    struct bs__x_auth *auth; /* NULL: AllowAll both ways */
    /* LRU order (most recently used first) and memory of the entries in
     * the cache; evictions so far */
    struct prep_entry *lru_head, *lru_tail;
    size_t prep_bytes;
    uint64_t prep_evictions;
};

/* ---- authentication and authorization (exec_auth.c) ---- */
void bs__x_auth_free(struct bs__x_auth *au);
/* AUTH_RESPONSE: answers AUTH_SUCCESS (0) or fails with
 * AuthenticationError. */
int bs__x_auth_response(xctx *c, bs_proto_val token);
/* Checks that the session may run s (Unauthorized otherwise). */
int bs__x_check_access(xctx *c, const bs_cql_stmt *s);
/* perm (BS_CQL_PERM_*) on ks.table, ks or (ks NULL) all keyspaces. */
int bs__x_authorize(xctx *c, uint8_t perm, const char *ks, const char *table);
/* CREATE/ALTER/DROP ROLE, LIST ROLES, GRANT, REVOKE, LIST PERMISSIONS. */
int bs__x_role_stmt(xctx *c, const bs_cql_stmt *s);

/* ---- reads ---- */
/* be.read, or under bs_exec_request_async be.read_async: the first read
 * is left in flight (c->suspend 1, -1 returned) and, when the statement
 * runs again, answered from what came; any other read, or one that
 * cannot go asynchronously, sets c->suspend 2 and returns -1.  On -1,
 * err is set (a placeholder when suspended). */
int bs__x_read(xctx *c, const bs_table_schema *t, int64_t token, const void *pk, size_t pk_len,
               const bs_slice *sl, uint16_t cl, bs_partv **out, bs_exec_err *err);
/* A scan, or any other step that must block: 1 (c->suspend 2) under
 * bs_exec_request_async, else 0. */
int bs__x_must_block(xctx *c);

/* ---- errors ---- */
int bs__x_fail(xctx *c, int32_t code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#define XINVALID(c, ...) bs__x_fail((c), BS_PROTO_ERR_INVALID, __VA_ARGS__)

/* ---- names ---- */
/* Keyspace of a qualified name or the session's; fails when none. */
int bs__x_keyspace(xctx *c, const bs_cql_qname *q, const char **ks);
/* Table lookup with Cassandra's messages. */
int bs__x_table(xctx *c, const bs_cql_qname *q, const bs_table_schema **t);

/* ---- terms ---- */
/* Evaluates a term for a receiver of type `t` (column `name` for
 * messages) into *out (arena memory). */
int bs__x_term(xctx *c, const bs_cql_expr *e, const bs_type *t,
               const char *name, xval *out);
/* Integer term (LIMIT, TTL, TIMESTAMP). */
int bs__x_int_term(xctx *c, const bs_cql_expr *e, const char *what, int64_t lo,
                   int64_t hi, int64_t *out);
/* The element type of a collection for a KEY or VALUE receiver. */
const bs_type *bs__x_elem_type(const bs_type *coll, int key);
bs_type *bs__x_int_type(void); /* static int type */
bs_type *bs__x_bigint_type(void);
bs_type *bs__x_text_type(void);

/* ---- keys ---- */
/* Serialized partition key and token from pk values (npk of them). */
int bs__x_partition_key(xctx *c, const bs_table_schema *t, const xval *pk,
                        const uint8_t **key, size_t *len, int64_t *token);
/* Splits a serialized partition key into values. */
int bs__x_split_partition_key(xctx *c, const bs_table_schema *t,
                              const uint8_t *key, size_t len, xval *out);
/* Encoded clustering prefix of n values. */
int bs__x_clustering(xctx *c, const bs_table_schema *t, const xval *v, size_t n,
                     const uint8_t **key, size_t *len);
/* Decodes a full clustering key into t->nck values. */
int bs__x_split_clustering(xctx *c, const bs_table_schema *t,
                           const uint8_t *key, size_t len, xval *out);
/* Encoded element key of a set element / map key (order-preserving). */
int bs__x_elem_key(xctx *c, const bs_type *elem_type, const xval *v,
                   const uint8_t **key, size_t *len);

/* ---- WHERE analysis (exec_where.c) ---- */
#define XMAX_KEY 16
typedef struct xwhere {
    /* partition key: values per column (EQ -> 1, IN -> n) */
    int pk_full; /* every pk column restricted by = / IN */
    xval *pkv[XMAX_KEY];
    size_t npkv[XMAX_KEY];
    /* token(pk) range: (tok_lo, tok_hi] after folding the relations */
    int has_token;
    int64_t tok_lo, tok_hi; /* exclusive low, inclusive high */
    int tok_empty;          /* the range selects nothing */
    /* clustering: leading columns restricted by = / IN */
    size_t ck_eq;
    xval *ckv[XMAX_KEY * 4];
    size_t nckv[XMAX_KEY * 4];
    /* a slice on the columns after the = prefix: bounds as value
     * sequences (single column: 1 value; multi-column: n) */
    int has_lo, has_hi;
    int lo_incl, hi_incl;
    xval *lo, *hi;
    size_t nlo, nhi;
    /* relations not served by the key: filtered row by row */
    const bs_cql_relation **filters;
    size_t nfilters;
    int needs_filtering; /* would need ALLOW FILTERING */
} xwhere;

/* Classifies WHERE relations of table t.  for_write: UPDATE/DELETE rules
 * (no filtering, no token). */
int bs__x_where(xctx *c, const bs_table_schema *t, const bs_cql_relation *rels,
                uint32_t n, int for_write, xwhere *w);
/* Serialized partition keys of the cartesian product of pkv (deduped). */
int bs__x_partition_keys(xctx *c, const bs_table_schema *t, const xwhere *w,
                         const uint8_t ***keys, size_t **lens, int64_t **tokens,
                         size_t *n);
/* Encoded clustering prefixes of the cartesian product of ckv[0..ck_eq). */
int bs__x_ck_prefixes(xctx *c, const bs_table_schema *t, const xwhere *w,
                      const uint8_t ***keys, size_t **lens, size_t *n);
/* Start/end storage bounds of the slice under one = prefix. */
int bs__x_ck_bounds(xctx *c, const bs_table_schema *t, const xwhere *w,
                    const uint8_t *prefix, size_t plen, bs_bound *start,
                    bs_bound *end);
/* Does a row (values per column) satisfy a filter relation? */
int bs__x_filter(xctx *c, const bs_table_schema *t, const bs_cql_relation *r,
                 const xval *row, int *ok);

/* ---- statements ---- */
int bs__x_ddl(xctx *c, const bs_cql_stmt *s);
int bs__x_use(xctx *c, const bs_cql_stmt *s);
/* The mutations a statement or batch builds (arena memory): m[0..n),
 * capacity cap, and opcaps[i] the capacity of m[i].ops.  Zero it first;
 * it grows by doubling, so a batch of n statements costs O(n). */
typedef struct bs__x_muts {
    bs_mutation *m;
    size_t n, cap;
    size_t *opcaps;
} bs__x_muts;
/* Builds the mutations of one INSERT/UPDATE/DELETE (appended to mv). */
int bs__x_modification(xctx *c, const bs_cql_stmt *s, int64_t batch_ts,
                       bs__x_muts *mv);
/* Sends mv to the backend at c->cl after the batch size guardrails
 * (a batch over several partitions larger than the fail threshold is
 * InvalidRequest; over the warn threshold it is logged).  write_type:
 * what a WriteTimeout reports when the backend says nothing else.
 * 0 or -1 with c's error. */
int bs__x_apply(xctx *c, const bs__x_muts *mv, int logged, const char *write_type);
int bs__x_write(xctx *c, const bs_cql_stmt *s);
/* ---- counters (exec_counter.c) ---- */
/* 1 when t has counter columns (then all its regular columns are). */
int bs__x_is_counter_table(const bs_table_schema *t);
/* Cassandra's rules for counter statements in a batch of kind
 * (bs_cql_batch_kind); ts_set: USING TIMESTAMP on the batch.  0 or -1. */
int bs__x_batch_counter_check(xctx *c, int kind, int ts_set, bs_cql_stmt *const *stmts,
                              size_t n);
/* 1 when mv holds counter increments. */
int bs__x_counter_muts(const bs__x_muts *mv);
/* Sends counter mutations to the backend's counter write.  0 or -1. */
int bs__x_counter_apply(xctx *c, const bs__x_muts *mv);
int bs__x_select(xctx *c, const bs_cql_stmt *s);

/* The result metadata a SELECT returns (PREPARE announces it). */
int bs__x_select_meta(xctx *c, const bs_cql_stmt *stmt, bs_proto_meta *meta);

/* ---- results ---- */
int bs__x_void_result(xctx *c);
/* The ERROR frame of c->err (code mapped for c->version) into c->out. */
int bs__x_error_frame(xctx *c);
/* A fingerprint of column specs (names, tables, types); 0 for none. */
uint64_t bs__x_meta_fp(const bs_proto_meta *m);
/* Fails the request with UNPREPARED for c->prep_id (the driver then
 * prepares again). */
int bs__x_unprepared(xctx *c);

/* ---- system tables (exec_system.c) ---- */
/* 1 when ks.table is a virtual system table. */
int bs__x_is_virtual(const char *ks, const char *table);
/* DESCRIBE (exec_describe.c): answers Rows or fails (c->failed). */
int bs__x_describe(xctx *c, const bs_cql_stmt *stmt);

/* A materialised row: one value per table column (schema order) plus
 * writetime/ttl of simple cells. */
typedef struct xrow {
    xval *vals;
    int64_t *wt;  /* writetime per column, INT64_MIN none */
    int32_t *ttl; /* remaining ttl per column, 0 none */
    const uint8_t *ck;
    size_t ck_len; /* encoded clustering (paging) */
    int is_static_only;
} xrow;

/* Fills r's values (r->vals/wt/ttl sized t->ncols, nulls first) from
 * the cells of a stored row; collections are rebuilt from their element
 * cells.  now_s: for the remaining TTLs. */
int bs__x_assemble_cells(xctx *c, const bs_table_schema *t, int64_t now_s,
                         const bs_rowv *rv, xrow *r);

/* ---- lightweight transactions (exec_cas.c) ---- */
/* One statement of a conditional write with its bound values. */
typedef struct bs__x_cas_stmt {
    const bs_cql_stmt *s;
    xval *binds;
    uint32_t nbinds;
} bs__x_cas_stmt;
/* 1 when s (INSERT/UPDATE/DELETE) has an IF clause. */
int bs__x_is_conditional(const bs_cql_stmt *s);
/* Runs the conditional statement(s) k[0..n) (a BATCH when is_batch) as
 * one Paxos transaction and answers the Rows result with [applied].
 * batch_ts: USING TIMESTAMP of a text BATCH (INT64_MIN none). */
int bs__x_cas(xctx *c, const bs__x_cas_stmt *k, size_t n, int is_batch,
              int64_t batch_ts);

/* Calls cb for every row of a virtual table (partition order). */
typedef int (*xrow_cb)(xctx *c, void *ud, const uint8_t *pk, size_t pklen,
                       int64_t token, xrow *r);
int bs__x_virtual_rows(xctx *c, const bs_table_schema *t, xrow_cb cb, void *ud);

/* Tracing (exec_trace.c): the trace of this request, or NULL when it is
 * not traced; at the end its rows are written and, with set_flag, the
 * response frame at `before` gets the tracing flag and the session id. */
struct bs_trace *bs__x_trace_begin(xctx *c, const bs_proto_request *req);
void bs__x_trace_end(xctx *c, struct bs_trace *t, size_t before, int set_flag);

#endif
