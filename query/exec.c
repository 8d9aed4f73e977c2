/*
 * exec.c - the executor's front: request dispatch, the prepared-statement
 * cache, bind values, errors, term evaluation and key building.
 *
 * Flow of a request: QUERY parses its text; PREPARE parses, computes the
 * bind metadata and caches the tree under an id (XXH3-128 of the session
 * keyspace and the text, so re-preparing gives the same id); EXECUTE
 * finds the tree by id (UNPREPARED if unknown); BATCH does either per
 * child.  Statements then run in exec_ddl.c, exec_write.c or
 * exec_select.c against the backend, and the result (or the first
 * error) becomes one response frame.
 *
 * Prepared entries own an arena holding the parsed tree; they are never
 * evicted in this version (a bounded cache is future work) and are freed
 * with the executor.
 *
 * Result metadata.  PREPARED carries the result metadata of a SELECT
 * (Cassandra does; gocql, the Java driver 4.x and the python driver then
 * execute with skip_metadata and decode rows with it).  The entry keeps
 * a fingerprint of those column specs (`result_fp`).  An EXECUTE with
 * skip_metadata whose SELECT would now return other columns (the table
 * was altered, dropped and re-created...) gets UNPREPARED instead of
 * rows the driver would decode with stale columns: every driver then
 * prepares the statement again, which refreshes the fingerprint and
 * hands it the new metadata.  This is what Cassandra 4.0 does for
 * protocol v4 (it drops the prepared statements of an altered table);
 * v5's result_metadata_id is not implemented (v5 is not served).
 *
 * Protocol v3 (req->version 3): the same, except that the prepared
 * metadata has no partition key indices, types that v3 lacks are sent
 * as custom classes (bs_proto_wr_type_v), and the error codes that came
 * with v4 are mapped as Cassandra maps them (READ_FAILURE ->
 * READ_TIMEOUT, WRITE_FAILURE -> WRITE_TIMEOUT, FUNCTION_FAILURE ->
 * INVALID).  The transport stamps the frame header with the version.
 */
#include "query/exec_int.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "common/error.h"
#include "common/trace.h"
#include "common/log.h"
#include "ring/murmur3.h"
#include "storage/keycodec.h"

/*
 * The prepared-statement cache: entries by id (hash buckets) and in LRU
 * order, all under prep_lock.  A request takes a reference on each entry
 * it uses (prep_find/hold) and drops them when it ends (release_held);
 * beyond lim.prepared_cache_bytes the least recently used entries leave
 * the cache at the next PREPARE, and an entry still in use is freed by
 * its last user.  An EXECUTE of an evicted id answers UNPREPARED.
 */
/* Arena chunk of a prepared statement (most parse into 1-3 KiB). */
#define PREP_CHUNK 2048

typedef struct prep_entry {
    struct prep_entry *next;
    struct prep_entry *lru_prev, *lru_next;
    int refs;     /* requests using it */
    int evicted;  /* out of the cache: the last reference frees it */
    size_t bytes; /* its memory, as the cache counts it */
    uint8_t id[16];
    bs_arena arena;
    bs_cql_stmt *stmt;
    char keyspace[64]; /* session keyspace at PREPARE time */
    /* bs__x_meta_fp of the result metadata the last PREPARE announced
     * (0: none, not a SELECT); written under the executor's prep_lock */
    _Atomic uint64_t result_fp;
} prep_entry;

static void prep_free(prep_entry *e) {
    bs_arena_free(&e->arena);
    free(e);
}

/* ==================================================================== */
/* lifecycle                                                              */
/* ==================================================================== */

void bs_exec_session_init(bs_exec_session *s) {
    pthread_mutex_init(&s->lock, NULL);
    s->keyspace[0] = 0;
    s->user[0] = 0;
    s->authed = 0;
    s->internal = 0;
    s->client[0] = 0;
    memset(s->async_seen, 0, sizeof s->async_seen);
}

void bs_exec_session_destroy(bs_exec_session *s) {
    pthread_mutex_destroy(&s->lock);
}

void bs_exec_limits_default(bs_exec_limits *l) {
    l->max_future_timestamp_us = 86400LL * 1000000;
    l->batch_size_warn_bytes = 5 * 1024;
    l->batch_size_fail_bytes = 50 * 1024;
    l->prepared_cache_bytes = 10u << 20;
    l->max_mutation_bytes = 16u << 20;
}

void bs_exec_set_limits(bs_exec *x, const bs_exec_limits *l) {
    x->lim = *l;
}

bs_exec *bs_exec_new(const bs_exec_backend *be) {
    bs_exec *x = calloc(1, sizeof *x);
    if (!x) return NULL;
    x->be = *be;
    bs_exec_limits_default(&x->lim);
    x->nprep_buckets = 1024;
    x->prep = calloc(x->nprep_buckets, sizeof *x->prep);
    if (!x->prep) {
        free(x);
        return NULL;
    }
    pthread_mutex_init(&x->prep_lock, NULL);
    return x;
}

void bs_exec_stats_get(bs_exec *x, bs_exec_stats *out) {
    pthread_mutex_lock(&x->prep_lock);
    out->prepared = x->nprep;
    out->prepared_bytes = x->prep_bytes;
    out->evicted = x->prep_evictions;
    pthread_mutex_unlock(&x->prep_lock);
}

void bs_exec_free(bs_exec *x) {
    if (!x) return;
    for (size_t i = 0; i < x->nprep_buckets; i++) {
        prep_entry *e = x->prep[i];
        while (e) {
            prep_entry *n = e->next;
            prep_free(e);
            e = n;
        }
    }
    free(x->prep);
    bs__x_auth_free(x->auth);
    pthread_mutex_destroy(&x->prep_lock);
    free(x);
}

/* ==================================================================== */
/* errors                                                                 */
/* ==================================================================== */

int bs__x_fail(xctx *c, int32_t code, const char *fmt, ...) {
    if (c->failed) return -1;
    c->failed = 1;
    c->err.code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err.msg, sizeof c->err.msg, fmt, ap);
    va_end(ap);
    return -1;
}

/* v3 has no READ_FAILURE, WRITE_FAILURE or FUNCTION_FAILURE: Cassandra
 * (ErrorMessage.encode) sends them as the timeouts and INVALID. */
static int32_t error_code_for(int32_t code, uint8_t version) {
    if (version >= 4) return code;
    switch (code) {
    case BS_PROTO_ERR_READ_FAILURE: return BS_PROTO_ERR_READ_TIMEOUT;
    case BS_PROTO_ERR_WRITE_FAILURE: return BS_PROTO_ERR_WRITE_TIMEOUT;
    case BS_PROTO_ERR_FUNCTION_FAILURE: return BS_PROTO_ERR_INVALID;
    default: return code;
    }
}

int bs__x_unprepared(xctx *c) {
    if (c->failed) return -1;
    bs__x_fail(c, BS_PROTO_ERR_UNPREPARED,
               "Prepared query with ID not found (either the query was not "
               "prepared on this host (maybe the host has been restarted?) or "
               "you have prepared too many queries and it has been evicted "
               "from the internal cache)");
    return -1;
}

int bs__x_error_frame(xctx *c) {
    bs_proto_response r;
    memset(&r, 0, sizeof r);
    r.opcode = BS_PROTO_OP_ERROR;
    bs_proto_error *e = &r.u.error;
    e->code = error_code_for(c->err.code, c->version);
    if (e->code == BS_PROTO_ERR_UNPREPARED) {
        e->unprepared_id = c->prep_id;
        if (e->unprepared_id.len < 0) e->unprepared_id.len = 0;
    }
    e->message = bs_proto_cstr(c->err.msg);
    e->cl = c->err.cl ? c->err.cl : c->cl;
    e->required = c->err.required;
    e->alive = c->err.alive;
    e->received = c->err.received;
    e->blockfor = c->err.blockfor;
    e->numfailures = c->err.numfailures;
    e->data_present = c->err.data_present;
    e->write_type =
        bs_proto_cstr(c->err.write_type ? c->err.write_type : "SIMPLE");
    e->keyspace = bs_proto_cstr(c->ae_ks ? c->ae_ks : "");
    e->name = bs_proto_cstr(c->ae_table ? c->ae_table : "");
    return bs_proto_response_encode(c->out, c->stream, &r, c->comp);
}

/* ==================================================================== */
/* static helper types                                                    */
/* ==================================================================== */

static bs_type g_int = {BS_TYPE_INT, 0, 0, NULL, NULL, NULL, NULL};
static bs_type g_bigint = {BS_TYPE_BIGINT, 0, 0, NULL, NULL, NULL, NULL};
static bs_type g_text = {BS_TYPE_VARCHAR, 0, 0, NULL, NULL, NULL, NULL};
bs_type *bs__x_int_type(void) {
    return &g_int;
}
bs_type *bs__x_bigint_type(void) {
    return &g_bigint;
}
bs_type *bs__x_text_type(void) {
    return &g_text;
}

const bs_type *bs__x_elem_type(const bs_type *coll, int key) {
    if (coll->kind == BS_TYPE_MAP) return coll->params[key ? 0 : 1];
    if (coll->kind == BS_TYPE_LIST) return key ? &g_int : coll->params[0];
    if (coll->kind == BS_TYPE_SET) return coll->params[0];
    return NULL;
}

/* ==================================================================== */
/* names                                                                  */
/* ==================================================================== */

int bs__x_keyspace(xctx *c, const bs_cql_qname *q, const char **ks) {
    if (q->ks) {
        *ks = q->ks;
        return 0;
    }
    pthread_mutex_lock(&c->sess->lock);
    const char *k = c->sess->keyspace[0]
                        ? bs_arena_strndup(c->a, c->sess->keyspace,
                                           strlen(c->sess->keyspace))
                        : NULL;
    pthread_mutex_unlock(&c->sess->lock);
    if (!k)
        return XINVALID(c, "No keyspace has been specified. USE a keyspace, "
                           "or explicitly specify keyspace.tablename");
    *ks = k;
    return 0;
}

int bs__x_table(xctx *c, const bs_cql_qname *q, const bs_table_schema **t) {
    const char *ks = NULL;
    if (bs__x_keyspace(c, q, &ks)) return -1;
    if (!bs_schema_keyspace(c->schema, ks))
        return XINVALID(c, "Keyspace %s does not exist", ks);
    *t = bs_schema_table(c->schema, ks, q->name);
    if (!*t) return XINVALID(c, "unconfigured table %s", q->name);
    return 0;
}

/* ==================================================================== */
/* terms                                                                  */
/* ==================================================================== */

static int xval_from_buf(xctx *c, bs_buf *b, xval *out) {
    out->unset = 0;
    out->len = b->len;
    out->p =
        b->len ? bs_arena_memdup(c->a, b->data, b->len) : (const uint8_t *)"";
    bs_buf_free(b);
    if (!out->p) return bs__x_fail(c, BS_PROTO_ERR_SERVER, "out of memory");
    return 0;
}

/* Same simple type for a conversion function's result (one kind covers
 * text and varchar). */
static int same_simple_kind(const bs_type *a, const bs_type *b) {
    return a->kind == b->kind && a->nparams == 0 && b->nparams == 0;
}

static int call_term(xctx *c, const bs_cql_expr *e, const bs_type *t,
                     const char *name, xval *out) {
    const char *f = e->name;
    bs_buf b = BS_BUF_INIT;
    if (!strcmp(f, "now") || !strcmp(f, "currenttimeuuid")) {
        if (e->n)
            return XINVALID(c,
                            "Invalid number of arguments in call to function "
                            "%s: 0 required but %u provided",
                            f, e->n);
        if (t->kind != BS_TYPE_TIMEUUID && t->kind != BS_TYPE_UUID)
            return XINVALID(c,
                            "Type error: cannot assign result of function "
                            "system.%s (type timeuuid) to %s",
                            f, name);
        bs_uuid u;
        bs_uuid_v1(NULL, &u);
        bs_buf_append(&b, u.b, 16);
        return xval_from_buf(c, &b, out);
    }
    if (!strcmp(f, "currenttime")) {
        if (e->n)
            return XINVALID(c, "Invalid number of arguments in call to function %s: 0 required but %u provided",
                            f, e->n);
        if (t->kind != BS_TYPE_TIME)
            return XINVALID(c, "Type error: cannot assign result of function system.%s (type time) to %s",
                            f, name);
        int64_t us = c->now_us % 86400000000LL;
        if (us < 0) us += 86400000000LL;
        bs_buf_append_u64(&b, (uint64_t)us * 1000);
        return xval_from_buf(c, &b, out);
    }
    if (!strcmp(f, "uuid")) {
        bs_uuid u;
        if (bs_uuid_v4(&u))
            return bs__x_fail(c, BS_PROTO_ERR_SERVER, "random source failed");
        bs_buf_append(&b, u.b, 16);
        return xval_from_buf(c, &b, out);
    }
    if (!strcmp(f, "currenttimestamp") || !strcmp(f, "totimestamp") ||
        !strcmp(f, "currentdate") || !strcmp(f, "todate") ||
        !strcmp(f, "tounixtimestamp")) {
        int64_t ms = c->now_us / 1000;
        if (e->n == 1) {
            xval arg;
            bs_type tu = {BS_TYPE_TIMEUUID, 0, 0, NULL, NULL, NULL, NULL};
            if (bs__x_term(c, e->items[0], &tu, name, &arg)) return -1;
            if (arg.len != 16) return XINVALID(c, "Invalid argument for %s", f);
            bs_uuid u;
            memcpy(u.b, arg.p, 16);
            ms = bs_uuid_v1_unix_ms(&u);
        }
        if (!strcmp(f, "currentdate") || !strcmp(f, "todate")) {
            int64_t days =
                ms >= 0 ? ms / 86400000 : -((-ms + 86399999) / 86400000);
            bs_buf_append_u32(&b, (uint32_t)(days + (1LL << 31)));
        } else {
            bs_buf_append_u64(&b, (uint64_t)ms);
        }
        return xval_from_buf(c, &b, out);
    }
    if (!strcmp(f, "mintimeuuid") || !strcmp(f, "maxtimeuuid")) {
        if (e->n != 1)
            return XINVALID(
                c, "Invalid number of arguments in call to function %s", f);
        xval arg;
        bs_type ts = {BS_TYPE_TIMESTAMP, 0, 0, NULL, NULL, NULL, NULL};
        if (bs__x_term(c, e->items[0], &ts, name, &arg)) return -1;
        if (arg.len != 8) return XINVALID(c, "Invalid argument for %s", f);
        int64_t ms = (int64_t)bs_get_u64(arg.p);
        bs_uuid u;
        /* min: lowest lsb (signed compare: 0x8080...), max: highest */
        bs_uuid_v1_at(
            ms * 1000 + (f[1] == 'a' ? 999 : 0),
            f[1] == 'a' ? 0x7f7f7f7f7f7f7f7fULL : 0x8080808080808080ULL, &u);
        bs_buf_append(&b, u.b, 16);
        return xval_from_buf(c, &b, out);
    }
    /* typeAsBlob / blobAsType conversions */
    if (!strncmp(f, "blobas", 6) && e->n == 1) {
        bs_type bt = {BS_TYPE_BLOB, 0, 0, NULL, NULL, NULL, NULL};
        /* the result has the named type: it must be the receiver's */
        bs_type *rt = NULL;
        if (bs_value_type_parse(f + 6, strlen(f + 6), &rt, NULL, 0))
            return XINVALID(c, "Unknown function %s", f);
        int same = same_simple_kind(rt, t);
        bs_type_free(rt);
        if (!same)
            return XINVALID(c,
                            "Type error: cannot assign result of function "
                            "system.%s (type %s) to %s",
                            f, f + 6, name);
        if (bs__x_term(c, e->items[0], &bt, name, out)) return -1;
        if (out->len != BS_VALUE_NULL &&
            bs_value_validate(t, out->p, out->len, NULL, 0))
            return XINVALID(c,
                            "In call to function system.%s, value 0x... is not "
                            "a valid binary representation for type %s",
                            f, f + 6);
        return 0;
    }
    if (strlen(f) > 6 && !strcmp(f + strlen(f) - 6, "asblob") && e->n == 1) {
        char tn[32];
        snprintf(tn, sizeof tn, "%.*s", (int)(strlen(f) - 6), f);
        bs_type *at = NULL;
        if (bs_value_type_parse(tn, strlen(tn), &at, NULL, 0))
            return XINVALID(c, "Unknown function %s", f);
        if (t->kind != BS_TYPE_BLOB) {
            bs_type_free(at);
            return XINVALID(c,
                            "Type error: cannot assign result of function "
                            "system.%s (type blob) to %s",
                            f, name);
        }
        int rc = bs__x_term(c, e->items[0], at, name, out);
        bs_type_free(at);
        return rc;
    }
    return XINVALID(c, "Unknown function '%s'", f);
}

/* Sets and maps are serialized in element order, deduplicated, as
 * Cassandra stores them.  A driver may send a bound set in any order (the
 * python driver iterates a Python set), so a bound value is rebuilt in
 * canonical order: equal sets then encode to equal keys (frozen sets in
 * primary keys) and compare equal in filters.  Elements nested inside
 * are kept as sent. */
static int canonical_collection(xctx *c, const bs_type *t, xval *v) {
    if (t->kind != BS_TYPE_SET && t->kind != BS_TYPE_MAP) return 0;
    bs_value_iter it;
    if (bs_value_iter_init(&it, t, v->p, v->len)) return 0;
    size_t n = it.count;
    bs_value_elem *ks = bs_arena_calloc(c->a, (n + 1) * sizeof *ks);
    bs_value_elem *vs = bs_arena_calloc(c->a, (n + 1) * sizeof *vs);
    if (!ks || !vs) return bs__x_fail(c, BS_PROTO_ERR_SERVER, "out of memory");
    size_t i = 0;
    bs_value_elem e;
    while (i < n && bs_value_iter_next(&it, &e) == 0) {
        ks[i] = e;
        if (t->kind == BS_TYPE_MAP && bs_value_iter_next(&it, &vs[i])) return 0;
        i++;
    }
    bs_buf b = BS_BUF_INIT;
    int rc = t->kind == BS_TYPE_SET ? bs_value_build_set(t, ks, i, &b)
                                    : bs_value_build_map(t, ks, vs, i, &b);
    if (rc) {
        bs_buf_free(&b);
        return XINVALID(c, "Invalid collection value: %s", bs_strerror(rc));
    }
    return xval_from_buf(c, &b, v);
}

int bs__x_term(xctx *c, const bs_cql_expr *e, const bs_type *t,
               const char *name, xval *out) {
    char err[256];
    bs_buf b = BS_BUF_INIT;
    out->unset = 0;
    switch (e->kind) {
    case BS_CQL_EXPR_LITERAL:
        if (e->lit.kind == BS_LIT_NULL) {
            out->p = NULL;
            out->len = BS_VALUE_NULL;
            return 0;
        }
        if (bs_type_is_collection(t) || t->kind == BS_TYPE_TUPLE ||
            t->kind == BS_TYPE_UDT) {
            bs_buf tn = BS_BUF_INIT;
            bs_value_type_to_cql(t, &tn);
            bs_buf_append_u8(&tn, 0);
            XINVALID(c, "Invalid %s constant (%.*s) for \"%s\" of type %s",
                     e->lit.kind == BS_LIT_STRING ? "STRING" : "constant",
                     (int)e->lit.len, e->lit.text, name,
                     tn.data ? (char *)tn.data : "?");
            bs_buf_free(&tn);
            return -1;
        }
        if (bs_value_from_literal(t, &e->lit, name, &b, err, sizeof err)) {
            bs_buf_free(&b);
            return XINVALID(c, "%s", err);
        }
        return xval_from_buf(c, &b, out);
    case BS_CQL_EXPR_BIND: {
        if (e->bind >= c->nbinds)
            return XINVALID(
                c, "There were %u markers(?) in CQL but %u bound variables",
                c->stmt ? c->stmt->nbinds : 0, c->nbinds);
        *out = c->binds[e->bind];
        if (out->unset || out->len == BS_VALUE_NULL) return 0;
        if (bs_value_validate(t, out->p, out->len, err, sizeof err))
            return XINVALID(c, "Invalid value for %s: %s", name, err);
        return canonical_collection(c, t, out);
    }
    case BS_CQL_EXPR_CAST:
        return bs__x_term(c, e->items[0], e->type ? e->type : t, name, out);
    case BS_CQL_EXPR_CALL: return call_term(c, e, t, name, out);
    case BS_CQL_EXPR_LIST:
    case BS_CQL_EXPR_SET:
    case BS_CQL_EXPR_EMPTY:
    case BS_CQL_EXPR_MAP:
    case BS_CQL_EXPR_TUPLE: {
        int is_map = t->kind == BS_TYPE_MAP,
            is_tuple = t->kind == BS_TYPE_TUPLE;
        int ok =
            (e->kind == BS_CQL_EXPR_LIST && t->kind == BS_TYPE_LIST) ||
            (e->kind == BS_CQL_EXPR_SET && t->kind == BS_TYPE_SET) ||
            (e->kind == BS_CQL_EXPR_MAP && is_map) ||
            (e->kind == BS_CQL_EXPR_EMPTY &&
             (is_map || t->kind == BS_TYPE_SET || t->kind == BS_TYPE_LIST)) ||
            (e->kind == BS_CQL_EXPR_TUPLE && is_tuple);
        if (!ok) return XINVALID(c, "Invalid collection literal for %s", name);
        if (is_tuple && e->n > t->nparams)
            return XINVALID(c,
                            "Invalid tuple literal for %s: too many elements. "
                            "Type %s expects %u but got %u",
                            name, "tuple", t->nparams, e->n);
        bs_value_elem *ks = bs_arena_calloc(c->a, (e->n + 1) * sizeof *ks);
        bs_value_elem *vs = bs_arena_calloc(c->a, (e->n + 1) * sizeof *vs);
        if (!ks || !vs)
            return bs__x_fail(c, BS_PROTO_ERR_SERVER, "out of memory");
        for (uint32_t i = 0; i < e->n; i++) {
            xval k, v;
            const bs_type *kt = is_tuple ? t->params[i] : t->params[0];
            if (bs__x_term(c, e->items[i], kt, name, &k)) return -1;
            if (!is_tuple && (k.len == BS_VALUE_NULL || k.unset))
                return XINVALID(c, "null is not supported inside collections");
            ks[i].p = k.p;
            ks[i].len = k.len;
            if (is_map) {
                if (bs__x_term(c, e->values[i], t->params[1], name, &v))
                    return -1;
                if (v.len == BS_VALUE_NULL || v.unset)
                    return XINVALID(c,
                                    "null is not supported inside collections");
                vs[i].p = v.p;
                vs[i].len = v.len;
            }
        }
        int rc;
        if (is_map)
            rc = bs_value_build_map(t, ks, vs, e->n, &b);
        else if (t->kind == BS_TYPE_SET)
            rc = bs_value_build_set(t, ks, e->n, &b);
        else if (t->kind == BS_TYPE_LIST)
            rc = bs_value_build_list(ks, e->n, &b);
        else
            rc = bs_value_build_tuple(ks, e->n, &b);
        if (rc) {
            bs_buf_free(&b);
            return XINVALID(c, "Invalid collection value for %s: %s", name,
                            bs_strerror(rc));
        }
        return xval_from_buf(c, &b, out);
    }
    default: return XINVALID(c, "Invalid term for %s", name);
    }
}

int bs__x_int_term(xctx *c, const bs_cql_expr *e, const char *what, int64_t lo,
                   int64_t hi, int64_t *out) {
    xval v;
    const bs_type *t = !strcmp(what, "timestamp") ? &g_bigint : &g_int;
    if (bs__x_term(c, e, t, what, &v)) return -1;
    if (v.unset || v.len == BS_VALUE_NULL) {
        *out = INT64_MIN;
        return 0;
    }
    int64_t n = t == &g_int ? (int64_t)(int32_t)bs_get_u32(v.p)
                            : (int64_t)bs_get_u64(v.p);
    if (n < lo || n > hi) {
        if (!strcmp(what, "ttl"))
            return XINVALID(
                c,
                n < 0
                    ? "A TTL must be greater or equal to 0, but was %lld"
                    : "ttl is too large. requested (%lld) maximum (630720000)",
                (long long)n);
        return XINVALID(c, "%s must be positive",
                        !strcmp(what, "limit") ? "LIMIT" : what);
    }
    *out = n;
    return 0;
}

/* ==================================================================== */
/* keys                                                                   */
/* ==================================================================== */

int bs__x_partition_key(xctx *c, const bs_table_schema *t, const xval *pk,
                        const uint8_t **key, size_t *len, int64_t *token) {
    bs_ring_keypart parts[16];
    if (t->npk > 16) return XINVALID(c, "too many partition key columns");
    for (size_t i = 0; i < t->npk; i++) {
        if (pk[i].unset || pk[i].len == BS_VALUE_NULL)
            return XINVALID(c, "Invalid null value in condition for column %s",
                            t->cols[i].name);
        parts[i].data = pk[i].p;
        parts[i].len = pk[i].len;
    }
    bs_buf b = BS_BUF_INIT;
    int rc = bs_ring_compose_key(parts, t->npk, &b);
    if (rc) {
        bs_buf_free(&b);
        return XINVALID(c, "Key length of %zu is longer than maximum of 65535",
                        pk[0].len);
    }
    if (b.len > 65535) {
        bs_buf_free(&b);
        return XINVALID(c, "Key length of %zu is longer than maximum of 65535",
                        b.len);
    }
    *token = bs_ring_partition_token(b.data, b.len);
    xval v;
    if (xval_from_buf(c, &b, &v)) return -1;
    *key = v.p;
    *len = v.len;
    return 0;
}

int bs__x_split_partition_key(xctx *c, const bs_table_schema *t,
                              const uint8_t *key, size_t len, xval *out) {
    if (t->npk == 1) {
        out[0].p = key;
        out[0].len = len;
        out[0].unset = 0;
        return 0;
    }
    bs_ring_keypart parts[16];
    if (t->npk > 16 || bs_ring_decompose_key(key, len, t->npk, parts))
        return bs__x_fail(c, BS_PROTO_ERR_SERVER,
                          "corrupt partition key in %s.%s", t->keyspace,
                          t->name);
    for (size_t i = 0; i < t->npk; i++) {
        out[i].p = parts[i].data;
        out[i].len = parts[i].len;
        out[i].unset = 0;
    }
    return 0;
}

int bs__x_clustering(xctx *c, const bs_table_schema *t, const xval *v, size_t n,
                     const uint8_t **key, size_t *len) {
    bs_buf b = BS_BUF_INIT;
    for (size_t i = 0; i < n; i++) {
        const bs_column *col = &t->cols[t->npk + i];
        if (v[i].unset || v[i].len == BS_VALUE_NULL) {
            bs_buf_free(&b);
            return XINVALID(c, "Invalid null value in condition for column %s",
                            col->name);
        }
        int rc = bs_keycodec_encode(col->type, v[i].p, (int32_t)v[i].len,
                                    col->desc, &b);
        if (rc) {
            bs_buf_free(&b);
            return XINVALID(c, "Invalid value for clustering column %s: %s",
                            col->name, bs_strerror(rc));
        }
    }
    if (b.len > 65535) {
        bs_buf_free(&b);
        return XINVALID(c, "Key length of %zu is longer than maximum of 65535",
                        b.len);
    }
    xval o;
    if (xval_from_buf(c, &b, &o)) return -1;
    *key = o.p;
    *len = o.len;
    return 0;
}

int bs__x_split_clustering(xctx *c, const bs_table_schema *t,
                           const uint8_t *key, size_t len, xval *out) {
    bs_type *types[64];
    uint8_t desc[64];
    bs_keycodec_value vals[64];
    if (t->nck > 64)
        return bs__x_fail(c, BS_PROTO_ERR_SERVER,
                          "too many clustering columns");
    for (size_t i = 0; i < t->nck; i++) {
        types[i] = t->cols[t->npk + i].type;
        desc[i] = (uint8_t)t->cols[t->npk + i].desc;
    }
    bs_rbuf r;
    bs_rbuf_init(&r, key, len);
    size_t nd = 0;
    int rc =
        bs_keycodec_decode_prefix(types, desc, t->nck, &r, c->a, vals, &nd);
    if (rc || nd != t->nck)
        return bs__x_fail(c, BS_PROTO_ERR_SERVER,
                          "corrupt clustering key in %s.%s", t->keyspace,
                          t->name);
    for (size_t i = 0; i < t->nck; i++) {
        out[i].unset = 0;
        if (vals[i].len < 0) {
            out[i].p = NULL;
            out[i].len = BS_VALUE_NULL;
        } else {
            out[i].p = vals[i].data ? vals[i].data : (const uint8_t *)"";
            out[i].len = (size_t)vals[i].len;
        }
    }
    return 0;
}

int bs__x_elem_key(xctx *c, const bs_type *et, const xval *v,
                   const uint8_t **key, size_t *len) {
    bs_buf b = BS_BUF_INIT;
    int rc = bs_keycodec_encode(et, v->p, (int32_t)v->len, 0, &b);
    if (rc) {
        bs_buf_free(&b);
        return XINVALID(c, "Invalid collection element: %s", bs_strerror(rc));
    }
    xval o;
    if (xval_from_buf(c, &b, &o)) return -1;
    *key = o.p;
    *len = o.len;
    return 0;
}

/* ==================================================================== */
/* results                                                                */
/* ==================================================================== */

uint64_t bs__x_meta_fp(const bs_proto_meta *m) {
    if (!m->ncols) return 0;
    bs_buf b = BS_BUF_INIT;
    int rc = bs_proto_wr_int(&b, (int32_t)m->ncols);
    for (uint32_t i = 0; !rc && i < m->ncols; i++) {
        rc = bs_proto_wr_str(&b, m->cols[i].keyspace);
        if (!rc) rc = bs_proto_wr_str(&b, m->cols[i].table);
        if (!rc) rc = bs_proto_wr_str(&b, m->cols[i].name);
        if (!rc) rc = bs_proto_wr_type(&b, m->cols[i].type);
    }
    /* 0 means "none": an out-of-memory fingerprint never matches */
    uint64_t h = rc ? 1 : XXH3_64bits(b.data, b.len);
    bs_buf_free(&b);
    return h ? h : 1;
}

int bs__x_void_result(xctx *c) {
    bs_proto_response r;
    memset(&r, 0, sizeof r);
    r.opcode = BS_PROTO_OP_RESULT;
    r.u.result.kind = BS_PROTO_RESULT_VOID;
    if (bs_proto_response_encode(c->out, c->stream, &r, c->comp))
        return bs__x_fail(c, BS_PROTO_ERR_SERVER, "out of memory");
    return 0;
}

/* ==================================================================== */
/* prepared statements                                                    */
/* ==================================================================== */

static void prep_id(const char *ks, const char *q, size_t qlen,
                    uint8_t id[16]) {
    XXH3_state_t *st = XXH3_createState();
    XXH3_128bits_reset(st);
    XXH3_128bits_update(st, ks, strlen(ks) + 1);
    XXH3_128bits_update(st, q, qlen);
    XXH128_hash_t h = XXH3_128bits_digest(st);
    XXH3_freeState(st);
    bs_put_u64(id, h.high64);
    bs_put_u64(id + 8, h.low64);
}

/* prep_lock held. */
static void lru_unlink(bs_exec *x, prep_entry *e) {
    if (e->lru_prev) e->lru_prev->lru_next = e->lru_next;
    else x->lru_head = e->lru_next;
    if (e->lru_next) e->lru_next->lru_prev = e->lru_prev;
    else x->lru_tail = e->lru_prev;
    e->lru_prev = e->lru_next = NULL;
}

/* prep_lock held. */
static void lru_push(bs_exec *x, prep_entry *e) {
    e->lru_prev = NULL;
    e->lru_next = x->lru_head;
    if (x->lru_head) x->lru_head->lru_prev = e;
    x->lru_head = e;
    if (!x->lru_tail) x->lru_tail = e;
}

/* prep_lock held.  Takes e out of the cache (hash chain and LRU); frees
 * it unless a request holds it. */
static void prep_evict(bs_exec *x, prep_entry *e) {
    prep_entry **pp = &x->prep[bs_get_u32(e->id) % x->nprep_buckets];
    while (*pp != e) pp = &(*pp)->next;
    *pp = e->next;
    lru_unlink(x, e);
    x->nprep--;
    x->prep_bytes -= e->bytes;
    x->prep_evictions++;
    e->evicted = 1;
    if (!e->refs) prep_free(e);
}

/* prep_lock held: the least recently used entries out while the cache is
 * over its budget, never `keep` (just prepared). */
static void prep_trim(bs_exec *x, const prep_entry *keep) {
    uint64_t cap = x->lim.prepared_cache_bytes;
    while (cap && x->prep_bytes > cap && x->lru_tail && x->lru_tail != keep)
        prep_evict(x, x->lru_tail);
}

/* Records that c uses e (a reference taken under prep_lock), to drop
 * when the request ends.  0, or -1 (out of memory: the reference is
 * dropped again). */
static int hold(xctx *c, prep_entry *e) {
    if (c->nheld == c->capheld) {
        size_t cap = c->capheld ? c->capheld * 2 : 4;
        prep_entry **n = bs_arena_alloc(c->a, cap * sizeof *n);
        if (!n) {
            pthread_mutex_lock(&c->x->prep_lock);
            if (--e->refs == 0 && e->evicted) prep_free(e);
            pthread_mutex_unlock(&c->x->prep_lock);
            return -1;
        }
        if (c->nheld) memcpy(n, c->held, c->nheld * sizeof *n);
        c->held = n;
        c->capheld = cap;
    }
    c->held[c->nheld++] = e;
    return 0;
}

static void release_held(xctx *c) {
    if (!c->nheld) return;
    pthread_mutex_lock(&c->x->prep_lock);
    for (size_t i = 0; i < c->nheld; i++) {
        prep_entry *e = c->held[i];
        if (--e->refs == 0 && e->evicted) prep_free(e);
    }
    pthread_mutex_unlock(&c->x->prep_lock);
    c->nheld = 0;
}

/* The cached entry of id, most recently used now and held by c; NULL
 * when unknown (never prepared, or evicted) or out of memory. */
static prep_entry *prep_find(xctx *c, const uint8_t *id, size_t idlen) {
    bs_exec *x = c->x;
    if (idlen != 16) return NULL;
    size_t bkt = bs_get_u32(id) % x->nprep_buckets;
    pthread_mutex_lock(&x->prep_lock);
    prep_entry *e = x->prep[bkt];
    while (e && memcmp(e->id, id, 16))
        e = e->next;
    if (e) {
        e->refs++;
        lru_unlink(x, e);
        lru_push(x, e);
    }
    pthread_mutex_unlock(&x->prep_lock);
    if (e && hold(c, e)) return NULL;
    return e;
}

/* Column spec (name + type) that a bind marker binds to.  The name is
 * the marker's own for a named marker (:v), else the receiver's: drivers
 * bind a dict of values by these names. */
static int bind_spec_recv(xctx *c, const bs_table_schema *t,
                          const bs_cql_bind *b, bs_proto_colspec *out);

static int bind_spec(xctx *c, const bs_table_schema *t, const bs_cql_bind *b,
                     bs_proto_colspec *out) {
    if (bind_spec_recv(c, t, b, out)) return -1;
    if (b->name) out->name = bs_proto_cstr(b->name);
    return 0;
}

static int bind_spec_recv(xctx *c, const bs_table_schema *t,
                          const bs_cql_bind *b, bs_proto_colspec *out) {
    out->keyspace = bs_proto_cstr(t ? t->keyspace : "");
    out->table = bs_proto_cstr(t ? t->name : "");
    out->name = bs_proto_cstr(b->recv_name ? b->recv_name : "?");
    out->type = &g_text;
    if (b->cast) {
        out->type = b->cast;
        return 0;
    }
    const bs_cql_recv *r = &b->recv;
    const bs_column *col =
        (t && r->column) ? bs_table_column(t, r->column) : NULL;
    switch (r->kind) {
    case BS_CQL_RECV_COLUMN:
        if (!col)
            return XINVALID(c, "Undefined column name %s",
                            r->column ? r->column : "?");
        out->type = col->type;
        out->name = bs_proto_cstr(col->name);
        return 0;
    case BS_CQL_RECV_IN: {
        if (!col)
            return XINVALID(c, "Undefined column name %s",
                            r->column ? r->column : "?");
        bs_type *l = bs_arena_calloc(c->a, sizeof *l);
        bs_type **ps = bs_arena_calloc(c->a, sizeof *ps);
        l->kind = BS_TYPE_LIST;
        l->nparams = 1;
        ps[0] = col->type;
        l->params = ps;
        out->type = l;
        return 0;
    }
    case BS_CQL_RECV_KEY:
    case BS_CQL_RECV_VALUE:
        if (!col)
            return XINVALID(c, "Undefined column name %s",
                            r->column ? r->column : "?");
        if (!bs_type_is_collection(col->type)) {
            out->type = col->type;
            return 0;
        }
        out->type = bs__x_elem_type(col->type, r->kind == BS_CQL_RECV_KEY);
        return 0;
    case BS_CQL_RECV_TOKEN:
        out->type = &g_bigint;
        out->name = bs_proto_cstr("partition key token");
        return 0;
    case BS_CQL_RECV_LIMIT:
    case BS_CQL_RECV_PER_PARTITION_LIMIT:
    case BS_CQL_RECV_TTL: out->type = &g_int; return 0;
    case BS_CQL_RECV_TIMESTAMP: out->type = &g_bigint; return 0;
    case BS_CQL_RECV_MULTI:
    case BS_CQL_RECV_MULTI_IN: {
        bs_type *tu = bs_arena_calloc(c->a, sizeof *tu);
        bs_type **ps = bs_arena_calloc(c->a, (r->ncols + 1) * sizeof *ps);
        tu->kind = BS_TYPE_TUPLE;
        tu->nparams = (uint16_t)r->ncols;
        tu->params = ps;
        for (uint32_t i = 0; i < r->ncols; i++) {
            const bs_column *cc = t ? bs_table_column(t, r->cols[i]) : NULL;
            if (!cc) return XINVALID(c, "Undefined column name %s", r->cols[i]);
            ps[i] = cc->type;
        }
        if (r->kind == BS_CQL_RECV_MULTI) {
            out->type = tu;
        } else {
            bs_type *l = bs_arena_calloc(c->a, sizeof *l);
            bs_type **lp = bs_arena_calloc(c->a, sizeof *lp);
            l->kind = BS_TYPE_LIST;
            l->nparams = 1;
            lp[0] = tu;
            l->params = lp;
            out->type = l;
        }
        return 0;
    }
    default: out->type = col ? col->type : &g_text; return 0;
    }
}

/* The table a statement works on (NULL for DDL/USE). */
static const bs_cql_qname *stmt_table(const bs_cql_stmt *s) {
    switch (s->kind) {
    case BS_CQL_STMT_INSERT: return &s->u.insert.table;
    case BS_CQL_STMT_UPDATE: return &s->u.update.table;
    case BS_CQL_STMT_DELETE: return &s->u.del.table;
    case BS_CQL_STMT_SELECT: return &s->u.select.table;
    default: return NULL;
    }
}

/* ---- column checks at PREPARE time ----
 * Cassandra rejects a statement naming an unknown column when it is
 * prepared, not at the first EXECUTE; these walks check every column a
 * DML statement names (selectors, WHERE, INSERT/UPDATE/DELETE targets). */

static int need_col(xctx *c, const bs_table_schema *t, const char *name) {
    if (name && !bs_table_column(t, name))
        return XINVALID(c, "Undefined column name %s", name);
    return 0;
}

static int check_expr_cols(xctx *c, const bs_table_schema *t,
                           const bs_cql_expr *e) {
    if (!e) return 0;
    switch (e->kind) {
    case BS_CQL_EXPR_COLUMN: return need_col(c, t, e->name);
    case BS_CQL_EXPR_FIELD:
    case BS_CQL_EXPR_ELEM:
    case BS_CQL_EXPR_CAST: return e->n ? check_expr_cols(c, t, e->items[0]) : 0;
    case BS_CQL_EXPR_CALL:
        for (uint32_t i = 0; i < e->n; i++)
            if (check_expr_cols(c, t, e->items[i])) return -1;
        return 0;
    default: return 0;
    }
}

static int check_where_cols(xctx *c, const bs_table_schema *t,
                            const bs_cql_relation *r, uint32_t n) {
    for (uint32_t i = 0; i < n; i++) {
        if (r[i].lhs == BS_CQL_LHS_MULTI || r[i].lhs == BS_CQL_LHS_TOKEN) {
            for (uint32_t k = 0; k < r[i].ncols; k++)
                if (need_col(c, t, r[i].cols[k])) return -1;
        } else if (need_col(c, t, r[i].column)) {
            return -1;
        }
    }
    return 0;
}

static int check_stmt_cols(xctx *c, const bs_table_schema *t,
                           const bs_cql_stmt *s) {
    switch (s->kind) {
    case BS_CQL_STMT_SELECT: {
        const bs_cql_select *q = &s->u.select;
        for (uint32_t i = 0; i < q->nsel; i++)
            if (check_expr_cols(c, t, q->sel[i].expr)) return -1;
        return check_where_cols(c, t, q->where, q->nwhere);
    }
    case BS_CQL_STMT_INSERT:
        for (uint32_t i = 0; i < s->u.insert.ncols; i++)
            if (need_col(c, t, s->u.insert.cols[i])) return -1;
        return 0;
    case BS_CQL_STMT_UPDATE:
        for (uint32_t i = 0; i < s->u.update.nassign; i++)
            if (need_col(c, t, s->u.update.assign[i].column)) return -1;
        return check_where_cols(c, t, s->u.update.where, s->u.update.nwhere);
    case BS_CQL_STMT_DELETE:
        for (uint32_t i = 0; i < s->u.del.ncols; i++)
            if (need_col(c, t, s->u.del.cols[i].column)) return -1;
        return check_where_cols(c, t, s->u.del.where, s->u.del.nwhere);
    default: return 0;
    }
}

static int pos_before(bs_cql_pos a, bs_cql_pos b) {
    return a.line < b.line || (a.line == b.line && a.col < b.col);
}

/* The child of a text BATCH a marker belongs to: the last child that
 * starts before it (children number their markers across the batch). */
static const bs_cql_stmt *batch_child_of(const bs_cql_stmt *s,
                                         const bs_cql_bind *b) {
    const bs_cql_stmt *owner = s->u.batch.stmts[0];
    for (uint32_t k = 1; k < s->u.batch.nstmts; k++)
        if (!pos_before(b->pos, s->u.batch.stmts[k]->pos))
            owner = s->u.batch.stmts[k];
    return owner;
}

/* The PREPARED result for s; *fp gets the fingerprint of the result
 * metadata it announces (0 when it announces none). */
static int write_prepared(xctx *c, const bs_cql_stmt *s, const uint8_t id[16],
                          uint64_t *fp) {
    const bs_table_schema *t = NULL;
    const bs_cql_qname *q = stmt_table(s);
    if (s->kind == BS_CQL_STMT_BATCH) {
        /* every child's table and columns must exist */
        for (uint32_t k = 0; k < s->u.batch.nstmts; k++) {
            const bs_table_schema *kt;
            if (bs__x_table(c, stmt_table(s->u.batch.stmts[k]), &kt)) return -1;
            if (check_stmt_cols(c, kt, s->u.batch.stmts[k])) return -1;
        }
    }
    if (q && bs__x_table(c, q, &t)) return -1;
    if (t && check_stmt_cols(c, t, s)) return -1;
    bs_proto_response r;
    memset(&r, 0, sizeof r);
    r.opcode = BS_PROTO_OP_RESULT;
    r.u.result.kind = BS_PROTO_RESULT_PREPARED;
    bs_proto_prepared *p = &r.u.result.u.prepared;
    p->id = bs_proto_bytes(id, 16);
    p->bind.version = c->version;
    p->bind.ncols = s->nbinds;
    p->bind.cols =
        bs_arena_calloc(c->a, (s->nbinds + 1) * sizeof *p->bind.cols);
    for (uint32_t i = 0; i < s->nbinds; i++) {
        /* in a batch each child names its own table */
        const bs_table_schema *bt = t;
        if (s->kind == BS_CQL_STMT_BATCH && s->u.batch.nstmts &&
            bs__x_table(c, stmt_table(batch_child_of(s, &s->binds[i])), &bt))
            return -1;
        if (bind_spec(c, bt, &s->binds[i], &p->bind.cols[i])) return -1;
    }
    /* pk_indices: the marker bound to each partition key column by = */
    if (t && s->kind != BS_CQL_STMT_BATCH) {
        uint16_t *idx = bs_arena_calloc(c->a, (t->npk + 1) * sizeof *idx);
        size_t found = 0;
        for (size_t k = 0; k < t->npk; k++) {
            for (uint32_t i = 0; i < s->nbinds; i++) {
                const bs_cql_bind *b = &s->binds[i];
                if (b->recv.kind == BS_CQL_RECV_COLUMN && b->recv.column &&
                    !strcmp(b->recv.column, t->cols[k].name)) {
                    idx[found++] = (uint16_t)i;
                    break;
                }
            }
        }
        if (found == t->npk) {
            p->bind.npk = (uint32_t)found;
            p->bind.pk_indices = idx;
        }
    }
    /* result metadata: a SELECT's columns; nothing for other statements
     * (NO_METADATA with no columns, as Cassandra) */
    *fp = 0;
    if (s->kind == BS_CQL_STMT_SELECT) {
        if (bs__x_select_meta(c, s, &p->result)) return -1;
        *fp = bs__x_meta_fp(&p->result);
    } else {
        p->result.flags = BS_PROTO_RF_NO_METADATA;
        p->result.paging_state.len = BS_PROTO_NULL;
        p->result.version = c->version;
    }
    if (bs_proto_response_encode(c->out, c->stream, &r, c->comp))
        return bs__x_fail(c, BS_PROTO_ERR_SERVER, "out of memory");
    return 0;
}

static void cql_error(xctx *c, int rc, const bs_cql_error *e) {
    if (rc == BS_ESYNTAX)
        bs__x_fail(c, BS_PROTO_ERR_SYNTAX, "%s", e->msg);
    else
        bs__x_fail(c, BS_PROTO_ERR_INVALID, "%s", e->msg);
}

static int do_prepare(xctx *c, bs_proto_str q) {
    char ks[64];
    pthread_mutex_lock(&c->sess->lock);
    snprintf(ks, sizeof ks, "%s", c->sess->keyspace);
    pthread_mutex_unlock(&c->sess->lock);
    uint8_t id[16];
    prep_id(ks, q.p, q.len, id);
    prep_entry *e = prep_find(c, id, 16);
    if (!e) {
        e = calloc(1, sizeof *e);
        if (!e) return bs__x_fail(c, BS_PROTO_ERR_SERVER, "out of memory");
        bs_arena_init(&e->arena, PREP_CHUNK);
        bs_cql_error perr;
        int rc = bs_cql_parse(&e->arena, q.p, q.len, &e->stmt, &perr);
        if (rc) {
            cql_error(c, rc, &perr);
            bs_arena_free(&e->arena);
            free(e);
            return -1;
        }
        memcpy(e->id, id, 16);
        snprintf(e->keyspace, sizeof e->keyspace, "%s", ks);
        /* what it costs: its arena's chunks, the entry and the query */
        e->bytes = sizeof *e + (e->arena.total / PREP_CHUNK + 1) * PREP_CHUNK;
        bs_exec *x = c->x;
        pthread_mutex_lock(&x->prep_lock);
        size_t bkt = bs_get_u32(id) % x->nprep_buckets;
        prep_entry *dup = x->prep[bkt];
        while (dup && memcmp(dup->id, id, 16))
            dup = dup->next;
        if (dup) {
            prep_free(e);
            e = dup;
        } else {
            e->next = x->prep[bkt];
            x->prep[bkt] = e;
            x->nprep++;
            x->prep_bytes += e->bytes;
            lru_push(x, e);
        }
        e->refs++;
        prep_trim(x, e);
        pthread_mutex_unlock(&x->prep_lock);
        if (hold(c, e)) return bs__x_fail(c, BS_PROTO_ERR_SERVER, "out of memory");
    }
    c->stmt = e->stmt;
    uint64_t fp;
    if (write_prepared(c, e->stmt, id, &fp)) return -1;
    /* what the driver now decodes with (a re-PREPARE after an ALTER) */
    pthread_mutex_lock(&c->x->prep_lock);
    e->result_fp = fp;
    pthread_mutex_unlock(&c->x->prep_lock);
    return 0;
}

/* Resolves bound values (positional or by name) for statement s. */
static int bind_values(xctx *c, const bs_cql_stmt *s, uint16_t n,
                       const bs_proto_val *vals, const bs_proto_str *names) {
    c->nbinds = s->nbinds;
    c->binds = bs_arena_calloc(c->a, (s->nbinds + 1) * sizeof *c->binds);
    if (!c->binds) return bs__x_fail(c, BS_PROTO_ERR_SERVER, "out of memory");
    if (!names && n != s->nbinds)
        return XINVALID(
            c, "There were %u markers(?) in CQL but %u bound variables",
            s->nbinds, n);
    for (uint32_t i = 0; i < s->nbinds; i++) {
        int found = -1;
        if (names) {
            /* a named marker by its name, a ? by its receiver column */
            const bs_cql_bind *bd = &s->binds[i];
            const char *bn = bd->name ? bd->name
                             : bd->recv.kind == BS_CQL_RECV_COLUMN
                                 ? bd->recv.column
                                 : NULL;
            for (uint16_t j = 0; j < n; j++)
                if (bn && bs_proto_str_eq(names[j], bn)) found = j;
            if (found < 0)
                return XINVALID(c, "Invalid unset value for column %s",
                                bn ? bn : "?");
        } else {
            found = (int)i;
        }
        const bs_proto_val *v = &vals[found];
        if (v->len == BS_PROTO_UNSET) {
            c->binds[i].unset = 1;
            c->binds[i].len = BS_VALUE_NULL;
        } else if (v->len < 0) {
            c->binds[i].len = BS_VALUE_NULL;
        } else {
            c->binds[i].p = v->p ? v->p : (const uint8_t *)"";
            c->binds[i].len = (size_t)v->len;
        }
    }
    return 0;
}

static int run_stmt(xctx *c, const bs_cql_stmt *s) {
    c->stmt = s;
    if (bs__x_check_access(c, s)) return -1;
    switch (s->kind) {
    case BS_CQL_STMT_CREATE_ROLE:
    case BS_CQL_STMT_ALTER_ROLE:
    case BS_CQL_STMT_DROP_ROLE:
    case BS_CQL_STMT_LIST_ROLES:
    case BS_CQL_STMT_GRANT:
    case BS_CQL_STMT_REVOKE:
    case BS_CQL_STMT_LIST_PERMISSIONS: return bs__x_role_stmt(c, s);
    case BS_CQL_STMT_USE: return bs__x_use(c, s);
    case BS_CQL_STMT_SELECT: return bs__x_select(c, s);
    case BS_CQL_STMT_DESCRIBE: return bs__x_describe(c, s);
    case BS_CQL_STMT_INSERT:
    case BS_CQL_STMT_UPDATE:
    case BS_CQL_STMT_DELETE:
    case BS_CQL_STMT_BATCH: return bs__x_write(c, s);
    case BS_CQL_STMT_CREATE_TYPE:
    case BS_CQL_STMT_ALTER_TYPE:
    case BS_CQL_STMT_DROP_TYPE:
        return XINVALID(c, "User-defined types are not supported by Basalt");
    default: return bs__x_ddl(c, s);
    }
}

static void set_params(xctx *c, const bs_proto_params *p) {
    c->cl = p->consistency;
    c->serial_cl = p->serial_consistency;
    c->page_size = (p->flags & BS_PROTO_QF_PAGE_SIZE) ? p->page_size : -1;
    if (c->page_size == 0) c->page_size = -1;
    c->paging_state = p->paging_state;
    c->default_ts = p->timestamp;
}

/* An UNPREPARED error frame for `id` (replacing what out got since
 * `before`). */
static void send_unprepared(xctx *c, size_t before, bs_proto_val id) {
    c->prep_id = id;
    bs__x_unprepared(c);
    c->out->len = before;
    bs__x_error_frame(c);
    c->failed = 0;
}

static void exec_query(xctx *c, const bs_proto_query *q) {
    bs_cql_error perr;
    bs_cql_stmt *stmt = NULL;
    set_params(c, &q->params);
    BS_CQLTRACE("Parsing %.*s", (int)(q->query.len > 400 ? 400 : q->query.len), q->query.p);
    int rc = bs_cql_parse(c->a, q->query.p, q->query.len, &stmt, &perr);
    if (rc) {
        cql_error(c, rc, &perr);
        return;
    }
    BS_CQLTRACE("Preparing statement");
    if (bind_values(c, stmt, q->params.nvalues, q->params.values,
                    q->params.names))
        return;
    run_stmt(c, stmt);
}

/* Returns 1 when the answer (UNPREPARED) is already written. */
static int exec_execute(xctx *c, const bs_proto_execute *ex) {
    bs_exec_session *s = c->sess;
    set_params(c, &ex->params);
    prep_entry *e =
        prep_find(c, ex->id.p, (size_t)(ex->id.len > 0 ? ex->id.len : 0));
    if (!e) {
        send_unprepared(c, c->out->len, ex->id);
        return 1;
    }
    if (e->keyspace[0]) {
        /* a statement prepared under USE ks keeps that keyspace */
        pthread_mutex_lock(&s->lock);
        if (!s->keyspace[0])
            snprintf(s->keyspace, sizeof s->keyspace, "%s", e->keyspace);
        pthread_mutex_unlock(&s->lock);
    }
    c->prep_id = ex->id;
    c->skip_meta = (ex->params.flags & BS_PROTO_QF_SKIP_METADATA) != 0;
    c->prep_fp = e->result_fp;
    c->check_fp = c->skip_meta;
    if (bind_values(c, e->stmt, ex->params.nvalues, ex->params.values,
                    ex->params.names))
        return 0;
    run_stmt(c, e->stmt);
    return 0;
}

/* Parses or looks up every child of a protocol BATCH and binds its
 * values.  Returns 1 when the answer (UNPREPARED) is already written,
 * -1 on an error in c. */
static int batch_children(xctx *c, const bs_proto_batch *b, size_t before,
                          bs_cql_stmt **kids, xval **kbinds, uint32_t *knb) {
    for (uint16_t i = 0; i < b->nstmts; i++) {
        const bs_proto_batch_stmt *bst = &b->stmts[i];
        bs_cql_stmt *k = NULL;
        if (bst->kind == 0) {
            bs_cql_error perr;
            int rc =
                bs_cql_parse(c->a, bst->query.p, bst->query.len, &k, &perr);
            if (rc) {
                cql_error(c, rc, &perr);
                return -1;
            }
        } else {
            prep_entry *e = prep_find(
                c, bst->id.p, bst->id.len > 0 ? (size_t)bst->id.len : 0);
            if (!e) {
                send_unprepared(c, before, bst->id);
                return 1;
            }
            k = e->stmt;
        }
        if (k->kind != BS_CQL_STMT_INSERT && k->kind != BS_CQL_STMT_UPDATE &&
            k->kind != BS_CQL_STMT_DELETE)
            return XINVALID(c, "Invalid statement in batch: only UPDATE, "
                               "INSERT and DELETE statements are allowed.");
        if (bs__x_check_access(c, k)) return -1;
        if (bind_values(c, k, bst->nvalues, bst->values, NULL)) return -1;
        kids[i] = k;
        kbinds[i] = c->binds;
        knb[i] = c->nbinds;
    }
    return 0;
}

/* Returns 1 when the answer (UNPREPARED) is already written. */
static int exec_batch(xctx *c, const bs_proto_batch *b, size_t before) {
    c->cl = b->consistency;
    c->serial_cl = b->serial_consistency;
    c->default_ts = b->timestamp;
    bs_cql_stmt **kids = bs_arena_calloc(c->a, (b->nstmts + 1) * sizeof *kids);
    xval **kbinds = bs_arena_calloc(c->a, (b->nstmts + 1) * sizeof *kbinds);
    uint32_t *knb = bs_arena_calloc(c->a, (b->nstmts + 1) * sizeof *knb);
    if (!kids || !kbinds || !knb) {
        bs__x_fail(c, BS_PROTO_ERR_SERVER, "out of memory");
        return 0;
    }
    int rc = batch_children(c, b, before, kids, kbinds, knb);
    if (rc) return rc > 0;
    if (bs__x_batch_counter_check(c,
                                  b->type == BS_PROTO_BATCH_COUNTER    ? BS_CQL_BATCH_COUNTER
                                  : b->type == BS_PROTO_BATCH_UNLOGGED ? BS_CQL_BATCH_UNLOGGED
                                                                       : BS_CQL_BATCH_LOGGED,
                                  0, kids, b->nstmts))
        return 0;
    int conditional = 0;
    for (uint16_t i = 0; i < b->nstmts; i++)
        conditional |= bs__x_is_conditional(kids[i]);
    if (conditional) {
        bs__x_cas_stmt *ks = bs_arena_calloc(c->a, b->nstmts * sizeof *ks);
        if (!ks) {
            bs__x_fail(c, BS_PROTO_ERR_SERVER, "out of memory");
            return 0;
        }
        for (uint16_t i = 0; i < b->nstmts; i++)
            ks[i] = (bs__x_cas_stmt){kids[i], kbinds[i], knb[i]};
        bs__x_cas(c, ks, b->nstmts, 1, INT64_MIN);
        return 0;
    }
    int logged =
        b->type != BS_PROTO_BATCH_UNLOGGED && b->type != BS_PROTO_BATCH_COUNTER;
    /* protocol batches bind per child: each child builds its mutations
     * with its own values, then all go to the backend at once */
    int64_t ts = c->default_ts != INT64_MIN ? c->default_ts : c->now_us;
    bs__x_muts mv;
    memset(&mv, 0, sizeof mv);
    for (uint16_t i = 0; i < b->nstmts; i++) {
        c->binds = kbinds[i];
        c->nbinds = knb[i];
        c->stmt = kids[i];
        if (bs__x_modification(c, kids[i], ts, &mv)) return 0;
    }
    if (!bs__x_apply(c, &mv, logged, "BATCH") && !c->deferred) bs__x_void_result(c);
    return 0;
}

/* Whether an EXECUTE may leave its read or write in flight: a prepared
 * SELECT, or INSERT, UPDATE or DELETE not conditional and not of a
 * counter table (those wait for a Paxos round or a leader); not traced
 * - nor possibly traced: a traced request is run synchronously, so
 * while a trace probability is set they all take the blocking path. */
int bs_exec_async_ok(bs_exec *x, bs_exec_session *s, const bs_proto_request *req) {
    if (!x->be.write_async || !x->be.read_async || req->opcode != BS_PROTO_OP_EXECUTE ||
        req->prelude.trace_request ||
        atomic_load_explicit(&x->trace_ppm, memory_order_relaxed))
        return 0;
    const bs_proto_val *id = &req->u.execute.id;
    if (id->len != 16) return 0;
    bs_exec_async_seen *seen = &s->async_seen[id->p[15] & 15];
    if (seen->known && !memcmp(seen->id, id->p, 16)) return seen->ok;
    size_t bkt = bs_get_u32(id->p) % x->nprep_buckets;
    char ks[64] = "", tb[64] = "";
    int ok = 0, select = 0;
    pthread_mutex_lock(&x->prep_lock);
    prep_entry *e = x->prep[bkt];
    while (e && memcmp(e->id, id->p, 16)) e = e->next;
    if (e) {
        const bs_cql_stmt *st = e->stmt;
        const bs_cql_qname *q = stmt_table(st);
        select = st->kind == BS_CQL_STMT_SELECT;
        ok = q && (select || !bs__x_is_conditional(st));
        if (ok) {
            snprintf(ks, sizeof ks, "%s", q->ks ? q->ks : e->keyspace);
            snprintf(tb, sizeof tb, "%s", q->name);
        }
    }
    pthread_mutex_unlock(&x->prep_lock);
    if (!e) return 0; /* unknown: not remembered (it may be prepared next) */
    if (!ok) goto remember;
    if (!ks[0]) {
        pthread_mutex_lock(&s->lock);
        snprintf(ks, sizeof ks, "%s", s->keyspace);
        pthread_mutex_unlock(&s->lock);
    }
    bs_schema *sc = x->be.schema_get(x->be.ud);
    const bs_table_schema *t = bs_schema_table(sc, ks, tb);
    ok = t && (select || !bs__x_is_counter_table(t));
    bs_schema_release(sc);
    if (!t) return 0; /* no such table (yet): not remembered */
remember:
    memcpy(seen->id, id->p, 16);
    seen->known = 1;
    seen->ok = (uint8_t)ok;
    return ok;
}

/* ---- reads left in flight (bs_exec_request_async) ---------------------- */

/* A statement's read: sent by its first run, answered in its second. */
typedef struct xpre {
    bs_arena a; /* the backend's answer; the copies below */
    /* the read, to know it again: same table (same schema), key, slice */
    const bs_table_schema *t;
    int64_t token;
    const uint8_t *pk;
    size_t pk_len;
    bs_slice sl;
    uint16_t cl;
    /* the first run's schema (a reference) and clock, for the second */
    bs_schema *schema;
    int64_t now_us;
    void (*done)(void *dud, int again);
    void *dud;
    /* the outcome, written by the completing thread before done */
    int rc;
    bs_exec_err err;
    bs_partv *part;
    int used; /* the second run took it */
} xpre;

static void pre_free(xpre *p) {
    if (!p) return;
    bs_schema_release(p->schema);
    bs_arena_free(&p->a);
    free(p);
}

static int bound_eq(const bs_bound *a, const bs_bound *b) {
    if (a->kind != b->kind) return 0;
    if (a->kind == BS_BOUND_NONE) return 1;
    return a->len == b->len && (!a->len || !memcmp(a->prefix, b->prefix, a->len));
}

static int slice_eq(const bs_slice *a, const bs_slice *b) {
    return bound_eq(&a->start, &b->start) && bound_eq(&a->end, &b->end) &&
           a->ncols == b->ncols &&
           (!a->ncols || !memcmp(a->cols, b->cols, a->ncols * sizeof *a->cols)) &&
           a->with_static == b->with_static && a->reversed == b->reversed &&
           a->limit == b->limit && a->has_after == b->has_after &&
           (!a->has_after || (a->after_len == b->after_len &&
                              !memcmp(a->after_ck, b->after_ck, a->after_len))) &&
           a->now_s == b->now_s;
}

static const void *dup_or_null(bs_arena *a, const void *p, size_t n) {
    return n ? bs_arena_memdup(a, p, n) : p;
}

/* Copies the read's key and slice into the state's arena.  0 or -1. */
static int pre_keep(xpre *p, const bs_table_schema *t, int64_t token, const void *pk,
                    size_t pk_len, const bs_slice *sl, uint16_t cl) {
    p->t = t;
    p->token = token;
    p->cl = cl;
    p->pk_len = pk_len;
    p->pk = dup_or_null(&p->a, pk, pk_len);
    p->sl = *sl;
    p->sl.start.prefix = dup_or_null(&p->a, sl->start.prefix, sl->start.len);
    p->sl.end.prefix = dup_or_null(&p->a, sl->end.prefix, sl->end.len);
    p->sl.cols = dup_or_null(&p->a, sl->cols, sl->ncols * sizeof *sl->cols);
    p->sl.after_ck = dup_or_null(&p->a, sl->after_ck, sl->has_after ? sl->after_len : 0);
    return (pk_len && !p->pk) || (sl->start.len && !p->sl.start.prefix) ||
                   (sl->end.len && !p->sl.end.prefix) || (sl->ncols && !p->sl.cols) ||
                   (sl->has_after && sl->after_len && !p->sl.after_ck)
               ? -1
               : 0;
}

/* The backend's completion (another thread). */
static void pre_done(void *ud, int rc, const bs_exec_err *err) {
    xpre *p = ud;
    p->rc = rc;
    if (rc == -1) p->err = *err;
    p->done(p->dud, 1);
}

/* Once a read is in flight (1) the run stays suspended that way: its
 * state must outlive the run, whatever the unwinding still asks. */
static int suspended(xctx *c, int how, bs_exec_err *err) {
    if (c->suspend != 1 && how > c->suspend) c->suspend = how;
    err->code = BS_PROTO_ERR_SERVER;
    snprintf(err->msg, sizeof err->msg, "request suspended");
    return -1;
}

int bs__x_must_block(xctx *c) {
    if (!c->adone) return 0;
    bs_exec_err err;
    suspended(c, 2, &err);
    c->failed = 1;
    c->err = err;
    return 1;
}

int bs__x_read(xctx *c, const bs_table_schema *t, int64_t token, const void *pk, size_t pk_len,
               const bs_slice *sl, uint16_t cl, bs_partv **out, bs_exec_err *err) {
    bs_exec *x = c->x;
    if (!c->adone) return x->be.read(x->be.ud, t, token, pk, pk_len, sl, cl, c->a, out, err);
    if (c->suspend) return suspended(c, c->suspend, err); /* no read after that */
    xpre *p = c->pre;
    if (p) { /* the second run: its first read is the one that was sent */
        if (p->used || p->t != t || p->token != token || p->pk_len != pk_len ||
            (pk_len && memcmp(p->pk, pk, pk_len)) || p->cl != cl || !slice_eq(&p->sl, sl))
            return suspended(c, 2, err);
        p->used = 1;
        if (p->rc == 2) return suspended(c, 2, err);
        if (p->rc) {
            *err = p->err;
            return -1;
        }
        *out = p->part;
        return 0;
    }
    if (!x->be.read_async || bs_trace_current()) return suspended(c, 2, err);
    p = calloc(1, sizeof *p);
    if (!p) {
        err->code = BS_PROTO_ERR_SERVER;
        snprintf(err->msg, sizeof err->msg, "out of memory");
        return -1;
    }
    bs_arena_init(&p->a, 0);
    c->pre = p;
    p->used = 1; /* until it is known to be in flight */
    if (pre_keep(p, t, token, pk, pk_len, sl, cl)) {
        err->code = BS_PROTO_ERR_SERVER;
        snprintf(err->msg, sizeof err->msg, "out of memory");
        return -1;
    }
    p->done = c->adone;
    p->dud = c->adud;
    int rc = x->be.read_async(x->be.ud, t, token, p->pk, pk_len, &p->sl, cl, &p->a, &p->part,
                              err, pre_done, p);
    if (rc == 1) {
        p->used = 0;
        return suspended(c, 1, err);
    }
    if (rc == 2) return suspended(c, 2, err);
    if (!rc) *out = p->part; /* p lives until the request ends */
    return rc ? -1 : 0;
}

static int run_request(bs_exec *x, bs_exec_session *s, const bs_proto_request *req,
                       int16_t stream, bs_proto_compression comp, bs_arena *a, bs_buf *out,
                       void (*done)(void *dud, int again), void *dud, void **state) {
    xctx c;
    memset(&c, 0, sizeof c);
    c.adone = done;
    c.adud = dud;
    xpre *pre = state ? *state : NULL;
    if (state) *state = NULL;
    c.x = x;
    c.sess = s;
    c.a = a;
    c.out = out;
    c.stream = stream;
    c.comp = comp;
    c.version = req->version >= 3 && req->version < BS_PROTO_VERSION
                    ? req->version
                    : BS_PROTO_VERSION;
    c.cl = BS_CL_ONE;
    c.page_size = -1;
    c.paging_state.len = BS_PROTO_NULL;
    c.prep_id.len = BS_PROTO_NULL;
    c.default_ts = INT64_MIN;
    if (pre) { /* the second run of a statement whose read came back */
        c.pre = pre;
        c.now_us = pre->now_us;
        c.schema = pre->schema;
        pre->schema = NULL;
    } else {
        c.now_us = x->be.now_us(x->be.ud);
        c.schema = x->be.schema_get(x->be.ud);
    }
    size_t before = out->len;
    int answered = 0;
    bs_trace *tr = bs__x_trace_begin(&c, req);
    bs_trace *prev_tr = tr ? bs_trace_set_current(tr) : NULL;
    switch (req->opcode) {
    case BS_PROTO_OP_QUERY: exec_query(&c, &req->u.query); break;
    case BS_PROTO_OP_PREPARE: do_prepare(&c, req->u.prepare.query); break;
    case BS_PROTO_OP_EXECUTE:
        answered = exec_execute(&c, &req->u.execute);
        break;
    case BS_PROTO_OP_BATCH:
        answered = exec_batch(&c, &req->u.batch, before);
        break;
    case BS_PROTO_OP_AUTH_RESPONSE:
        bs__x_auth_response(&c, req->u.auth_response);
        break;
    default:
        bs__x_fail(&c, BS_PROTO_ERR_PROTOCOL, "unexpected %s message",
                   bs_proto_opcode_name(req->opcode));
        break;
    }
    int rc = 0;
    if (c.suspend) {
        out->len = before;
    } else if (c.failed && !answered) {
        out->len = before;
        rc = bs__x_error_frame(&c);
    }
    if (tr) {
        bs__x_trace_end(&c, tr, before, req->prelude.trace_request);
        bs_trace_set_current(prev_tr);
        bs_trace_release(tr);
    }
    release_held(&c);
    if (c.suspend == 1) { /* the read is in flight: the second run needs these */
        c.pre->schema = c.schema;
        c.pre->now_us = c.now_us;
        *state = c.pre;
        return BS_EXEC_DEFERRED;
    }
    bs_schema_release(c.schema);
    pre_free(c.pre);
    if (c.suspend) return BS_EXEC_BLOCKING;
    if (c.deferred) return BS_EXEC_DEFERRED;
    return rc ? BS_ENOMEM : 0;
}

int bs_exec_request(bs_exec *x, bs_exec_session *s, const bs_proto_request *req,
                    int16_t stream, bs_proto_compression comp, bs_arena *a, bs_buf *out) {
    return run_request(x, s, req, stream, comp, a, out, NULL, NULL, NULL);
}

int bs_exec_request_async(bs_exec *x, bs_exec_session *s, const bs_proto_request *req,
                          int16_t stream, bs_proto_compression comp, bs_arena *a, bs_buf *out,
                          void (*done)(void *dud, int again), void *dud, void **state) {
    return run_request(x, s, req, stream, comp, a, out, done, dud, state);
}
