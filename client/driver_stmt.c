/*
 * driver_stmt.c - statements (simple, prepared, batch), value binding,
 * prepared-statement handles and routing keys.
 *
 * A statement owns copies of everything bound to it, so executing one
 * only needs a deep copy (bs__stmt_clone) that the I/O thread owns.
 * Values are kept in wire form: len >= 0 bytes, BS_PROTO_NULL (-1) or
 * BS_PROTO_UNSET (-2).
 *
 * Typed binders on a prepared statement serialize according to the
 * declared type of the bind variable (so bind_int64 fills an int column
 * with 4 bytes when the value fits); on a simple statement there is no
 * declared type and they send the natural width (int32: 4 bytes, int64
 * and double: 8 bytes).
 *
 * Routing key: for a prepared statement the values at the partition-key
 * indices, composed with bs_ring_compose_key (one component: the bytes
 * themselves; several: CompositeType framing), exactly what the server
 * hashes.  An explicit routing key overrides it.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "client/driver_int.h"
#include "ring/murmur3.h"

/* -------------------------------------------------------------- prepared */

static void prepared_destroy(bs_client_prepared *p) {
    free(p->query);
    free(p->cache_ks);
    free(p->id);
    for (size_t i = 0; i < p->nparams; i++) {
        if (p->names) free(p->names[i]);
        if (p->types) bs_type_free(p->types[i]);
    }
    free(p->names);
    free(p->types);
    free(p->route_ks);
    free(p->pk_idx);
    pthread_mutex_destroy(&p->id_mu);
    free(p);
}

int bs__prepared_from_result(const char *query, const char *cache_ks,
                             const bs_proto_prepared *pr,
                             bs_client_prepared **out) {
    bs_client_prepared *p = calloc(1, sizeof *p);
    if (!p) return BS_ENOMEM;
    atomic_init(&p->refs, 1);
    pthread_mutex_init(&p->id_mu, NULL);
    p->query = strdup(query);
    p->cache_ks = strdup(cache_ks ? cache_ks : "");
    size_t idl = pr->id.len > 0 ? (size_t)pr->id.len : 0;
    p->id = malloc(idl ? idl : 1);
    if (!p->query || !p->cache_ks || !p->id) goto oom;
    if (idl) memcpy(p->id, pr->id.p, idl);
    p->id_len = idl;
    p->nparams = pr->bind.ncols;
    p->ncols = pr->result.ncols;
    if (p->nparams) {
        p->names = calloc(p->nparams, sizeof *p->names);
        p->types = calloc(p->nparams, sizeof *p->types);
        if (!p->names || !p->types) goto oom;
        for (size_t i = 0; i < p->nparams; i++) {
            const bs_proto_colspec *cs = &pr->bind.cols[i];
            p->names[i] = malloc(cs->name.len + 1);
            if (!p->names[i]) goto oom;
            memcpy(p->names[i], cs->name.p, cs->name.len);
            p->names[i][cs->name.len] = '\0';
            p->types[i] = bs_type_clone(cs->type);
            if (!p->types[i]) goto oom;
        }
        const bs_proto_colspec *c0 = &pr->bind.cols[0];
        if (c0->keyspace.len) {
            p->route_ks = malloc(c0->keyspace.len + 1);
            if (!p->route_ks) goto oom;
            memcpy(p->route_ks, c0->keyspace.p, c0->keyspace.len);
            p->route_ks[c0->keyspace.len] = '\0';
        }
    }
    if (pr->bind.npk) {
        p->pk_idx = calloc(pr->bind.npk, sizeof *p->pk_idx);
        if (!p->pk_idx) goto oom;
        for (size_t i = 0; i < pr->bind.npk; i++) {
            if (pr->bind.pk_indices[i] >=
                p->nparams) { /* nonsense: no routing */
                p->npk = 0;
                goto done;
            }
            p->pk_idx[i] = pr->bind.pk_indices[i];
        }
        p->npk = pr->bind.npk;
    }
done:
    *out = p;
    return 0;
oom:
    prepared_destroy(p);
    return BS_ENOMEM;
}

bs_client_prepared *bs__prepared_retain(bs_client_prepared *p) {
    atomic_fetch_add(&p->refs, 1);
    return p;
}

void bs_client_prepared_free(bs_client_prepared *p) {
    if (!p) return;
    if (atomic_fetch_sub(&p->refs, 1) == 1) prepared_destroy(p);
}

bs_proto_val bs__prepared_id(bs_client_prepared *p, bs_arena *a) {
    pthread_mutex_lock(&p->id_mu);
    bs_proto_val v = {NULL, 0};
    void *d = bs_arena_memdup(a, p->id, p->id_len ? p->id_len : 1);
    if (d) {
        v.p = d;
        v.len = (int32_t)p->id_len;
    } else {
        v.len = BS_PROTO_NULL;
    }
    pthread_mutex_unlock(&p->id_mu);
    return v;
}

void bs__prepared_set_id(bs_client_prepared *p, const uint8_t *id, size_t len) {
    pthread_mutex_lock(&p->id_mu);
    uint8_t *n = malloc(len ? len : 1);
    if (n) {
        if (len) memcpy(n, id, len);
        free(p->id);
        p->id = n;
        p->id_len = len;
    }
    pthread_mutex_unlock(&p->id_mu);
}

const char *bs_client_prepared_query(const bs_client_prepared *p) {
    return p ? p->query : NULL;
}

size_t bs_client_prepared_param_count(const bs_client_prepared *p) {
    return p ? p->nparams : 0;
}

const char *bs_client_prepared_param_name(const bs_client_prepared *p,
                                          size_t i) {
    return p && i < p->nparams ? p->names[i] : NULL;
}

const bs_type *bs_client_prepared_param_type(const bs_client_prepared *p,
                                             size_t i) {
    return p && i < p->nparams ? p->types[i] : NULL;
}

int bs_client_prepared_param_index(const bs_client_prepared *p,
                                   const char *name) {
    if (!p || !name) return BS_EINVAL;
    for (size_t i = 0; i < p->nparams; i++)
        if (!strcmp(p->names[i], name)) return (int)i;
    return BS_ENOTFOUND;
}

size_t bs_client_prepared_column_count(const bs_client_prepared *p) {
    return p ? p->ncols : 0;
}

/* ------------------------------------------------------------ statements */

static bs_client_stmt *stmt_alloc(int kind) {
    bs_client_stmt *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->kind = kind;
    s->cl = BS__CL_DEFAULT;
    s->serial_cl = BS__CL_DEFAULT;
    s->timestamp = INT64_MIN;
    s->page_size = BS__PAGE_DEFAULT;
    s->idempotent = -1;
    return s;
}

static int ensure_vals(bs_client_stmt *s, size_t n) {
    if (n <= s->nvals) return 0;
    bs__val *v = realloc(s->vals, n * sizeof *v);
    if (!v) return BS_ENOMEM;
    for (size_t i = s->nvals; i < n; i++) {
        v[i].p = NULL;
        v[i].len = BS_PROTO_UNSET;
    }
    s->vals = v;
    s->nvals = n;
    return 0;
}

int bs_client_stmt_new(const char *cql, size_t nparams, bs_client_stmt **out) {
    if (!cql || !out || nparams > 65535) return BS_EINVAL;
    bs_client_stmt *s = stmt_alloc(BS__STMT_SIMPLE);
    if (!s) return BS_ENOMEM;
    s->query = strdup(cql);
    if (!s->query || ensure_vals(s, nparams)) {
        bs_client_stmt_free(s);
        return BS_ENOMEM;
    }
    *out = s;
    return 0;
}

int bs_client_stmt_new_prepared(bs_client_prepared *p, bs_client_stmt **out) {
    if (!p || !out) return BS_EINVAL;
    bs_client_stmt *s = stmt_alloc(BS__STMT_PREPARED);
    if (!s) return BS_ENOMEM;
    s->prep = bs__prepared_retain(p);
    if (ensure_vals(s, p->nparams)) {
        bs_client_stmt_free(s);
        return BS_ENOMEM;
    }
    *out = s;
    return 0;
}

int bs_client_stmt_new_batch(int batch_type, bs_client_stmt **out) {
    if (!out || batch_type < BS_CLIENT_BATCH_LOGGED ||
        batch_type > BS_CLIENT_BATCH_COUNTER)
        return BS_EINVAL;
    bs_client_stmt *s = stmt_alloc(BS__STMT_BATCH);
    if (!s) return BS_ENOMEM;
    s->batch_type = batch_type;
    *out = s;
    return 0;
}

void bs_client_stmt_free(bs_client_stmt *s) {
    if (!s) return;
    free(s->query);
    if (s->prep) bs_client_prepared_free(s->prep);
    for (size_t i = 0; i < s->nvals; i++)
        free(s->vals[i].p);
    free(s->vals);
    free(s->paging_state);
    free(s->keyspace);
    free(s->rkey);
    for (size_t i = 0; i < s->nchildren; i++)
        bs_client_stmt_free(s->children[i]);
    free(s->children);
    free(s);
}

static void *memdup0(const void *p, size_t n) {
    void *d = malloc(n ? n : 1);
    if (d && n) memcpy(d, p, n);
    return d;
}

int bs__stmt_clone(const bs_client_stmt *s, bs_client_stmt **out) {
    bs_client_stmt *d = stmt_alloc(s->kind);
    if (!d) return BS_ENOMEM;
    d->cl = s->cl;
    d->serial_cl = s->serial_cl;
    d->timestamp = s->timestamp;
    d->page_size = s->page_size;
    d->idempotent = s->idempotent;
    d->tracing = s->tracing;
    d->timeout_ms = s->timeout_ms;
    d->batch_type = s->batch_type;
    d->has_rkey = s->has_rkey;
    if (s->query && !(d->query = strdup(s->query))) goto oom;
    if (s->prep) d->prep = bs__prepared_retain(s->prep);
    if (s->nvals) {
        if (ensure_vals(d, s->nvals)) goto oom;
        for (size_t i = 0; i < s->nvals; i++) {
            d->vals[i].len = s->vals[i].len;
            if (s->vals[i].len > 0) {
                d->vals[i].p = memdup0(s->vals[i].p, (size_t)s->vals[i].len);
                if (!d->vals[i].p) goto oom;
            }
        }
    }
    if (s->paging_state) {
        d->paging_state = memdup0(s->paging_state, s->paging_len);
        if (!d->paging_state) goto oom;
        d->paging_len = s->paging_len;
    }
    if (s->keyspace && !(d->keyspace = strdup(s->keyspace))) goto oom;
    if (s->rkey) {
        d->rkey = memdup0(s->rkey, s->rkey_len);
        if (!d->rkey) goto oom;
        d->rkey_len = s->rkey_len;
    }
    if (s->nchildren) {
        d->children = calloc(s->nchildren, sizeof *d->children);
        if (!d->children) goto oom;
        for (size_t i = 0; i < s->nchildren; i++) {
            if (bs__stmt_clone(s->children[i], &d->children[i])) goto oom;
            d->nchildren++;
        }
    }
    *out = d;
    return 0;
oom:
    bs_client_stmt_free(d);
    return BS_ENOMEM;
}

int bs_client_batch_add(bs_client_stmt *b, const bs_client_stmt *s) {
    if (!b || !s || b->kind != BS__STMT_BATCH || s->kind == BS__STMT_BATCH)
        return BS_EINVAL;
    if (b->nchildren >= 65535) return BS_ERANGE;
    bs_client_stmt **n =
        realloc(b->children, (b->nchildren + 1) * sizeof *b->children);
    if (!n) return BS_ENOMEM;
    b->children = n;
    bs_client_stmt *copy;
    int rc = bs__stmt_clone(s, &copy);
    if (rc) return rc;
    b->children[b->nchildren++] = copy;
    return 0;
}

static int starts_with_select(const char *q) {
    while (*q && (isspace((unsigned char)*q) || *q == '('))
        q++;
    return strncasecmp(q, "SELECT", 6) == 0 && !isalnum((unsigned char)q[6]) &&
           q[6] != '_';
}

int bs__stmt_idempotent(const bs_client_stmt *s) {
    if (s->idempotent >= 0) return s->idempotent;
    switch (s->kind) {
    case BS__STMT_SIMPLE: return starts_with_select(s->query);
    case BS__STMT_PREPARED: return starts_with_select(s->prep->query);
    default: return 0; /* batches are writes */
    }
}

const char *bs__stmt_route_ks(const bs_client_stmt *s) {
    if (s->keyspace) return s->keyspace;
    if (s->kind == BS__STMT_PREPARED) return s->prep->route_ks;
    if (s->kind == BS__STMT_BATCH) {
        for (size_t i = 0; i < s->nchildren; i++) {
            const char *k = bs__stmt_route_ks(s->children[i]);
            if (k) return k;
        }
    }
    return NULL;
}

/* ---------------------------------------------------------------- binding */

static int set_val(bs_client_stmt *s, size_t idx, const void *p, int32_t len) {
    if (!s || s->kind == BS__STMT_BATCH) return BS_EINVAL;
    if (s->kind == BS__STMT_PREPARED && idx >= s->prep->nparams)
        return BS_ERANGE;
    if (idx >= 65535) return BS_ERANGE;
    int rc = ensure_vals(s, idx + 1);
    if (rc) return rc;
    uint8_t *d = NULL;
    if (len > 0) {
        d = memdup0(p, (size_t)len);
        if (!d) return BS_ENOMEM;
    }
    free(s->vals[idx].p);
    s->vals[idx].p = d;
    s->vals[idx].len = len;
    return 0;
}

/* Declared type of a prepared parameter, or NULL (simple statement). */
static const bs_type *ptype(const bs_client_stmt *s, size_t idx) {
    if (s && s->kind == BS__STMT_PREPARED && idx < s->prep->nparams)
        return s->prep->types[idx];
    return NULL;
}

int bs_client_stmt_bind_bytes(bs_client_stmt *s, size_t idx, const void *p,
                              size_t len) {
    if (len == BS_CLIENT_NULL) return set_val(s, idx, NULL, BS_PROTO_NULL);
    if (len > INT32_MAX || (!p && len)) return BS_EINVAL;
    return set_val(s, idx, p, (int32_t)len);
}

int bs_client_stmt_bind_null(bs_client_stmt *s, size_t idx) {
    return set_val(s, idx, NULL, BS_PROTO_NULL);
}

int bs_client_stmt_bind_unset(bs_client_stmt *s, size_t idx) {
    return set_val(s, idx, NULL, BS_PROTO_UNSET);
}

int bs_client_stmt_bind_bool(bs_client_stmt *s, size_t idx, int v) {
    const bs_type *t = ptype(s, idx);
    if (t && t->kind != BS_TYPE_BOOLEAN) return BS_ETYPE;
    uint8_t b = v ? 1 : 0;
    return set_val(s, idx, &b, 1);
}

/* Minimal two's complement big-endian bytes of v (varint). */
static size_t varint_bytes(int64_t v, uint8_t out[8]) {
    uint8_t full[8];
    bs_put_u64(full, (uint64_t)v);
    size_t i = 0;
    while (i < 7 && ((full[i] == 0x00 && !(full[i + 1] & 0x80)) ||
                     (full[i] == 0xFF && (full[i + 1] & 0x80))))
        i++;
    memcpy(out, full + i, 8 - i);
    return 8 - i;
}

int bs_client_stmt_bind_int64(bs_client_stmt *s, size_t idx, int64_t v) {
    const bs_type *t = ptype(s, idx);
    uint8_t b[8];
    if (!t) {
        bs_put_u64(b, (uint64_t)v);
        return set_val(s, idx, b, 8);
    }
    switch (t->kind) {
    case BS_TYPE_TINYINT:
        if (v < INT8_MIN || v > INT8_MAX) return BS_ERANGE;
        b[0] = (uint8_t)(int8_t)v;
        return set_val(s, idx, b, 1);
    case BS_TYPE_SMALLINT:
        if (v < INT16_MIN || v > INT16_MAX) return BS_ERANGE;
        bs_put_u16(b, (uint16_t)(int16_t)v);
        return set_val(s, idx, b, 2);
    case BS_TYPE_INT:
        if (v < INT32_MIN || v > INT32_MAX) return BS_ERANGE;
        bs_put_u32(b, (uint32_t)(int32_t)v);
        return set_val(s, idx, b, 4);
    case BS_TYPE_DATE:
        if (v < 0 || v > UINT32_MAX) return BS_ERANGE;
        bs_put_u32(b, (uint32_t)v);
        return set_val(s, idx, b, 4);
    case BS_TYPE_TIME:
        if (v < 0 || v >= 86400LL * 1000000000LL) return BS_ERANGE;
        /* fall through */
    case BS_TYPE_BIGINT:
    case BS_TYPE_COUNTER:
    case BS_TYPE_TIMESTAMP:
        bs_put_u64(b, (uint64_t)v);
        return set_val(s, idx, b, 8);
    case BS_TYPE_VARINT: {
        size_t n = varint_bytes(v, b);
        return set_val(s, idx, b, (int32_t)n);
    }
    default: return BS_ETYPE;
    }
}

int bs_client_stmt_bind_int32(bs_client_stmt *s, size_t idx, int32_t v) {
    if (!ptype(s, idx)) {
        uint8_t b[4];
        bs_put_u32(b, (uint32_t)v);
        return set_val(s, idx, b, 4);
    }
    return bs_client_stmt_bind_int64(s, idx, v);
}

int bs_client_stmt_bind_double(bs_client_stmt *s, size_t idx, double v) {
    const bs_type *t = ptype(s, idx);
    uint8_t b[8];
    if (t && t->kind == BS_TYPE_FLOAT) {
        float f = (float)v;
        uint32_t u;
        memcpy(&u, &f, 4);
        bs_put_u32(b, u);
        return set_val(s, idx, b, 4);
    }
    if (t && t->kind != BS_TYPE_DOUBLE) return BS_ETYPE;
    uint64_t u;
    memcpy(&u, &v, 8);
    bs_put_u64(b, u);
    return set_val(s, idx, b, 8);
}

int bs_client_stmt_bind_textn(bs_client_stmt *s, size_t idx, const char *v,
                              size_t len) {
    const bs_type *t = ptype(s, idx);
    if (!v || len > INT32_MAX) return BS_EINVAL;
    if (t && t->kind != BS_TYPE_VARCHAR && t->kind != BS_TYPE_ASCII)
        return BS_ETYPE;
    return set_val(s, idx, v, (int32_t)len);
}

int bs_client_stmt_bind_text(bs_client_stmt *s, size_t idx, const char *v) {
    if (!v) return BS_EINVAL;
    return bs_client_stmt_bind_textn(s, idx, v, strlen(v));
}

int bs_client_stmt_bind_uuid(bs_client_stmt *s, size_t idx,
                             const uint8_t v[16]) {
    const bs_type *t = ptype(s, idx);
    if (!v) return BS_EINVAL;
    if (t && t->kind != BS_TYPE_UUID && t->kind != BS_TYPE_TIMEUUID)
        return BS_ETYPE;
    return set_val(s, idx, v, 16);
}

int bs_client_stmt_bind_bytes_by_name(bs_client_stmt *s, const char *name,
                                      const void *p, size_t len) {
    if (!s || s->kind != BS__STMT_PREPARED) return BS_EINVAL;
    int i = bs_client_prepared_param_index(s->prep, name);
    if (i < 0) return i;
    return bs_client_stmt_bind_bytes(s, (size_t)i, p, len);
}

/* ---------------------------------------------------------------- options */

int bs_client_stmt_set_consistency(bs_client_stmt *s, uint16_t cl) {
    if (!s || !bs_proto_consistency_name(cl)) return BS_EINVAL;
    s->cl = cl;
    return 0;
}

int bs_client_stmt_set_serial_consistency(bs_client_stmt *s, uint16_t cl) {
    if (!s || (cl != BS_CL_SERIAL && cl != BS_CL_LOCAL_SERIAL))
        return BS_EINVAL;
    s->serial_cl = cl;
    return 0;
}

int bs_client_stmt_set_timestamp(bs_client_stmt *s, int64_t us) {
    if (!s) return BS_EINVAL;
    s->timestamp = us;
    return 0;
}

int bs_client_stmt_set_page_size(bs_client_stmt *s, int32_t n) {
    if (!s) return BS_EINVAL;
    s->page_size = n > 0 ? n : -1;
    return 0;
}

int bs_client_stmt_set_paging_state(bs_client_stmt *s, const void *p,
                                    size_t len) {
    if (!s || (len && !p)) return BS_EINVAL;
    uint8_t *d = NULL;
    if (p && len) {
        d = memdup0(p, len);
        if (!d) return BS_ENOMEM;
    }
    free(s->paging_state);
    s->paging_state = d;
    s->paging_len = d ? len : 0;
    return 0;
}

int bs_client_stmt_set_idempotent(bs_client_stmt *s, int idempotent) {
    if (!s) return BS_EINVAL;
    s->idempotent = idempotent ? 1 : 0;
    return 0;
}

int bs_client_stmt_set_tracing(bs_client_stmt *s, int on) {
    if (!s) return BS_EINVAL;
    s->tracing = on ? 1 : 0;
    return 0;
}

int bs_client_stmt_set_timeout(bs_client_stmt *s, int ms) {
    if (!s || ms < 0) return BS_EINVAL;
    s->timeout_ms = ms;
    return 0;
}

int bs_client_stmt_set_keyspace(bs_client_stmt *s, const char *ks) {
    if (!s) return BS_EINVAL;
    char *d = NULL;
    if (ks && *ks && !(d = strdup(ks))) return BS_ENOMEM;
    free(s->keyspace);
    s->keyspace = d;
    return 0;
}

int bs_client_stmt_set_routing_key(bs_client_stmt *s,
                                   const uint8_t *const *parts,
                                   const size_t *lens, size_t n) {
    if (!s || !n || !parts || !lens) return BS_EINVAL;
    bs_ring_keypart kp[64];
    if (n > 64) return BS_ERANGE;
    for (size_t i = 0; i < n; i++) {
        kp[i].data = parts[i];
        kp[i].len = lens[i];
    }
    bs_buf b = BS_BUF_INIT;
    int rc = bs_ring_compose_key(kp, n, &b);
    if (rc) {
        bs_buf_free(&b);
        return rc;
    }
    free(s->rkey);
    s->rkey = b.data ? b.data : memdup0("", 0);
    s->rkey_len = b.len;
    s->has_rkey = 1;
    return 0;
}

int bs_client_token_of(const uint8_t *const *parts, const size_t *lens,
                       size_t n, int64_t *token) {
    if (!n || !parts || !lens || !token || n > 64) return BS_EINVAL;
    bs_ring_keypart kp[64];
    for (size_t i = 0; i < n; i++) {
        kp[i].data = parts[i];
        kp[i].len = lens[i];
    }
    bs_buf b = BS_BUF_INIT;
    int rc = bs_ring_compose_key(kp, n, &b);
    if (!rc) *token = bs_ring_partition_token(b.data, b.len);
    bs_buf_free(&b);
    return rc;
}

int bs_client_stmt_routing_token(const bs_client_stmt *s, int64_t *token) {
    if (!s || !token) return BS_EINVAL;
    if (s->has_rkey) {
        *token = bs_ring_partition_token(s->rkey, s->rkey_len);
        return 0;
    }
    if (s->kind == BS__STMT_BATCH) {
        for (size_t i = 0; i < s->nchildren; i++)
            if (bs_client_stmt_routing_token(s->children[i], token) == 0)
                return 0;
        return BS_ENOTFOUND;
    }
    if (s->kind != BS__STMT_PREPARED || !s->prep->npk) return BS_ENOTFOUND;
    const bs_client_prepared *p = s->prep;
    const uint8_t *parts[64];
    size_t lens[64];
    if (p->npk > 64) return BS_ENOTFOUND;
    for (size_t i = 0; i < p->npk; i++) {
        size_t k = p->pk_idx[i];
        if (k >= s->nvals || s->vals[k].len < 0) return BS_ENOTFOUND;
        parts[i] = s->vals[k].p;
        lens[i] = (size_t)s->vals[k].len;
    }
    int rc = bs_client_token_of(parts, lens, p->npk, token);
    return rc ? BS_ENOTFOUND : 0;
}
