/*
 * wire.c - msgpack forms of mutations, reads and read results (see
 * wire.h for the layouts).
 *
 * Decoding is two-phase: bs_mpcheck() proves the bytes are one
 * well-formed msgpack value whose container counts fit the input (so
 * msgpack-c cannot be made to allocate for lies), then msgpack-c unpacks
 * into its zone and the walkers below copy what they keep into the
 * caller's arena with explicit type and range checks.
 */
#include "node/coord/wire.h"

#include <msgpack.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <xxhash.h>

#include "common/error.h"
#include "common/mpcheck.h"

#define WIRE_VERSION 1
#define MAX_DEPTH 16

/* ---- encoding ------------------------------------------------------------ */

static void p_bin(msgpack_packer *pk, const void *p, size_t n) {
    msgpack_pack_bin(pk, n);
    if (n) msgpack_pack_bin_body(pk, p, n);
}

static void p_str(msgpack_packer *pk, const char *s) {
    size_t n = s ? strlen(s) : 0;
    msgpack_pack_str(pk, n);
    if (n) msgpack_pack_str_body(pk, s, n);
}

static void p_bool(msgpack_packer *pk, int v) {
    if (v)
        msgpack_pack_true(pk);
    else
        msgpack_pack_false(pk);
}

static void p_bound(msgpack_packer *pk, const bs_bound *b) {
    msgpack_pack_array(pk, 2);
    msgpack_pack_int(pk, b->kind);
    p_bin(pk, b->kind == BS_BOUND_NONE ? NULL : b->prefix,
          b->kind == BS_BOUND_NONE ? 0 : b->len);
}

int bs_wire_mutations_encode(const bs_mutation *m, size_t n, bs_buf *out) {
    size_t before = out->len;
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, bs_buf_pack_write);
    msgpack_pack_array(&pk, n);
    for (size_t i = 0; i < n; i++) {
        msgpack_pack_array(&pk, 6);
        msgpack_pack_int(&pk, WIRE_VERSION);
        p_bin(&pk, m[i].table_id.b, 16);
        p_str(&pk, m[i].cf);
        msgpack_pack_int64(&pk, m[i].token);
        p_bin(&pk, m[i].pk, m[i].pk_len);
        msgpack_pack_array(&pk, m[i].nops);
        for (size_t j = 0; j < m[i].nops; j++) {
            const bs_mop *op = &m[i].ops[j];
            msgpack_pack_array(&pk, 10);
            msgpack_pack_uint8(&pk, op->kind);
            msgpack_pack_uint8(&pk, (uint8_t)((op->is_static ? 1 : 0) |
                                              (op->has_elem ? 2 : 0)));
            msgpack_pack_uint16(&pk, op->col);
            p_bin(&pk, op->ck, op->ck_len);
            p_bin(&pk, op->elem, op->has_elem ? op->elem_len : 0);
            p_bin(&pk, op->val, op->val_len);
            msgpack_pack_int64(&pk, op->ts);
            msgpack_pack_int32(&pk, op->ttl);
            p_bound(&pk, &op->start);
            p_bound(&pk, &op->end);
        }
    }
    return out->len > before ? 0 : BS_ENOMEM;
}

static void p_slice(msgpack_packer *pk, const bs_slice *s) {
    msgpack_pack_array(pk, 7);
    p_bound(pk, &s->start);
    p_bound(pk, &s->end);
    if (s->cols) {
        msgpack_pack_array(pk, s->ncols);
        for (size_t i = 0; i < s->ncols; i++)
            msgpack_pack_uint16(pk, s->cols[i]);
    } else {
        msgpack_pack_nil(pk);
    }
    p_bool(pk, s->with_static);
    p_bool(pk, s->reversed);
    msgpack_pack_uint32(pk, s->limit);
    if (s->has_after)
        p_bin(pk, s->after_ck, s->after_len);
    else
        msgpack_pack_nil(pk);
}

int bs_wire_read_encode(const bs_wire_read *r, bs_buf *out) {
    size_t before = out->len;
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, bs_buf_pack_write);
    msgpack_pack_array(&pk, 8);
    msgpack_pack_int(&pk, WIRE_VERSION);
    p_bin(&pk, r->table_id.b, 16);
    p_str(&pk, r->cf);
    msgpack_pack_int64(&pk, r->token);
    p_bin(&pk, r->pk, r->pk_len);
    p_slice(&pk, &r->slice);
    msgpack_pack_int64(&pk, r->slice.now_s);
    p_bool(&pk, r->digest_only);
    return out->len > before ? 0 : BS_ENOMEM;
}

static void p_row(msgpack_packer *pk, const bs_rowv *r) {
    msgpack_pack_array(pk, 6);
    p_bin(pk, r->ck, r->ck_len);
    p_bool(pk, r->has_marker);
    msgpack_pack_int64(pk, r->marker_ts);
    msgpack_pack_int32(pk, r->marker_ttl);
    msgpack_pack_int64(pk, r->marker_expiry_s);
    msgpack_pack_array(pk, r->ncells);
    for (size_t i = 0; i < r->ncells; i++) {
        const bs_cellv *c = &r->cells[i];
        msgpack_pack_array(pk, 6);
        msgpack_pack_uint16(pk, c->col);
        if (c->has_elem)
            p_bin(pk, c->elem, c->elem_len);
        else
            msgpack_pack_nil(pk);
        p_bin(pk, c->val, c->val_len);
        msgpack_pack_int64(pk, c->ts);
        msgpack_pack_int32(pk, c->ttl);
        msgpack_pack_int64(pk, c->expiry_s);
    }
}

/* The digest covers exactly what the encoder would send. */
static void digest_row(XXH3_state_t *st, const bs_rowv *r) {
    uint8_t h[8 + 1 + 8 + 4 + 8 + 8];
    bs_put_u64(h, r->ck_len);
    h[8] = (uint8_t)r->has_marker;
    bs_put_u64(h + 9, (uint64_t)r->marker_ts);
    bs_put_u32(h + 17, (uint32_t)r->marker_ttl);
    bs_put_u64(h + 21, (uint64_t)r->marker_expiry_s);
    bs_put_u64(h + 29, r->ncells);
    XXH3_128bits_update(st, h, sizeof h);
    if (r->ck_len) XXH3_128bits_update(st, r->ck, r->ck_len);
    for (size_t i = 0; i < r->ncells; i++) {
        const bs_cellv *c = &r->cells[i];
        uint8_t ch[2 + 1 + 8 + 8 + 8 + 4 + 8];
        bs_put_u16(ch, c->col);
        ch[2] = (uint8_t)c->has_elem;
        /* elem/elem_len are meaningful only with has_elem (a store read
         * may leave them unset for simple cells) */
        bs_put_u64(ch + 3, c->has_elem ? c->elem_len : 0);
        bs_put_u64(ch + 11, c->val_len);
        bs_put_u64(ch + 19, (uint64_t)c->ts);
        bs_put_u32(ch + 27, (uint32_t)c->ttl);
        bs_put_u64(ch + 31, (uint64_t)c->expiry_s);
        XXH3_128bits_update(st, ch, sizeof ch);
        if (c->has_elem && c->elem_len)
            XXH3_128bits_update(st, c->elem, c->elem_len);
        if (c->val_len) XXH3_128bits_update(st, c->val, c->val_len);
    }
}

void bs_wire_digest(const bs_partv *p, uint8_t out[16]) {
    XXH3_state_t *st = XXH3_createState();
    XXH3_128bits_reset(st);
    uint8_t tag = p ? 1 : 0;
    XXH3_128bits_update(st, &tag, 1);
    if (p) {
        uint8_t h[8 + 1 + 8];
        bs_put_u64(h, (uint64_t)p->nrows);
        h[8] = p->static_row ? 1 : 0;
        bs_put_u64(h + 9, (uint64_t)p->limited);
        XXH3_128bits_update(st, h, sizeof h);
        if (p->static_row) digest_row(st, p->static_row);
        for (size_t i = 0; i < p->nrows; i++)
            digest_row(st, &p->rows[i]);
    }
    XXH128_hash_t d = XXH3_128bits_digest(st);
    XXH3_freeState(st);
    bs_put_u64(out, d.high64);
    bs_put_u64(out + 8, d.low64);
}

int bs_wire_result_encode(const bs_partv *p, int digest_only, bs_buf *out) {
    size_t before = out->len;
    uint8_t dg[16];
    bs_wire_digest(p, dg);
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, bs_buf_pack_write);
    msgpack_pack_array(&pk, 3);
    msgpack_pack_int(&pk, WIRE_VERSION);
    p_bin(&pk, dg, 16);
    if (!p || digest_only) {
        msgpack_pack_nil(&pk);
    } else {
        msgpack_pack_array(&pk, 5);
        msgpack_pack_int64(&pk, p->token);
        p_bin(&pk, p->pk, p->pk_len);
        if (p->static_row)
            p_row(&pk, p->static_row);
        else
            msgpack_pack_nil(&pk);
        msgpack_pack_array(&pk, p->nrows);
        for (size_t i = 0; i < p->nrows; i++)
            p_row(&pk, &p->rows[i]);
        p_bool(&pk, p->limited);
    }
    return out->len > before ? 0 : BS_ENOMEM;
}

/* ---- decoding ------------------------------------------------------------ */

typedef struct dc {
    bs_arena *a;
    char *err;
    size_t errlen;
} dc;

static int bad(dc *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int bad(dc *c, const char *fmt, ...) {
    if (c->err && c->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->err, c->errlen, fmt, ap);
        va_end(ap);
    }
    return BS_ECORRUPT;
}

static int g_arr(dc *c, const msgpack_object *o, uint32_t n, const char *what,
                 const msgpack_object **items) {
    *items = NULL;
    if (o->type != MSGPACK_OBJECT_ARRAY ||
        (n != UINT32_MAX && o->via.array.size != n))
        return bad(c, "wire: %s: expected an array", what);
    *items = o->via.array.ptr;
    return 0;
}

static int g_int(dc *c, const msgpack_object *o, int64_t lo, int64_t hi,
                 int64_t *out, const char *what) {
    int64_t v;
    *out = 0;
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
        if (o->via.u64 > (uint64_t)INT64_MAX)
            return bad(c, "wire: %s out of range", what);
        v = (int64_t)o->via.u64;
    } else if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        v = o->via.i64;
    } else {
        return bad(c, "wire: %s: expected an integer", what);
    }
    if (v < lo || v > hi) return bad(c, "wire: %s out of range", what);
    *out = v;
    return 0;
}

static int g_bool(dc *c, const msgpack_object *o, int *out, const char *what) {
    *out = 0;
    if (o->type != MSGPACK_OBJECT_BOOLEAN)
        return bad(c, "wire: %s: expected a boolean", what);
    *out = o->via.boolean;
    return 0;
}

/* bin (or nil when nullable) copied into the arena. */
static int g_bin(dc *c, const msgpack_object *o, int nullable,
                 const uint8_t **p, size_t *n, size_t max, const char *what) {
    *p = NULL;
    *n = 0;
    if (o->type == MSGPACK_OBJECT_NIL && nullable) return 0;
    if (o->type != MSGPACK_OBJECT_BIN)
        return bad(c, "wire: %s: expected bytes", what);
    if (o->via.bin.size > max) return bad(c, "wire: %s too long", what);
    *n = o->via.bin.size;
    *p = bs_arena_memdup(c->a, o->via.bin.size ? o->via.bin.ptr : "",
                         o->via.bin.size ? o->via.bin.size : 1);
    return *p ? 0 : BS_ENOMEM;
}

static int g_str(dc *c, const msgpack_object *o, const char **out,
                 const char *what) {
    *out = NULL;
    if (o->type != MSGPACK_OBJECT_STR || o->via.str.size > 400 ||
        (o->via.str.size && memchr(o->via.str.ptr, 0, o->via.str.size)))
        return bad(c, "wire: %s: expected a short string", what);
    *out = bs_arena_strndup(c->a, o->via.str.ptr, o->via.str.size);
    return *out ? 0 : BS_ENOMEM;
}

static int g_uuid(dc *c, const msgpack_object *o, bs_uuid *u,
                  const char *what) {
    if (o->type != MSGPACK_OBJECT_BIN || o->via.bin.size != 16)
        return bad(c, "wire: %s: expected 16 bytes", what);
    memcpy(u->b, o->via.bin.ptr, 16);
    return 0;
}

static int g_bound(dc *c, const msgpack_object *o, bs_bound *b) {
    const msgpack_object *it;
    int64_t k;
    int rc;
    if ((rc = g_arr(c, o, 2, "bound", &it)) ||
        (rc = g_int(c, &it[0], 0, 2, &k, "bound kind")))
        return rc;
    b->kind = (bs_bound_kind)k;
    const uint8_t *p;
    size_t n;
    if ((rc = g_bin(c, &it[1], 0, &p, &n, 65535, "bound prefix"))) return rc;
    b->prefix = p;
    b->len = n;
    return 0;
}

static int unpack(dc *c, const void *p, size_t len, msgpack_unpacked *u) {
    if (bs_mpcheck(p, len, MAX_DEPTH)) return bad(c, "wire: malformed msgpack");
    size_t off = 0;
    msgpack_unpacked_init(u);
    if (msgpack_unpack_next(u, p, len, &off) != MSGPACK_UNPACK_SUCCESS ||
        off != len) {
        msgpack_unpacked_destroy(u);
        return bad(c, "wire: malformed msgpack");
    }
    return 0;
}

int bs_wire_mutations_decode(const void *p, size_t len, bs_arena *a,
                             bs_mutation **out, size_t *n, char *err,
                             size_t errlen) {
    dc c = {a, err, errlen};
    msgpack_unpacked u;
    int rc = unpack(&c, p, len, &u);
    if (rc) return rc;
    const msgpack_object *ms;
    if ((rc = g_arr(&c, &u.data, UINT32_MAX, "mutations", &ms))) goto out;
    size_t nm = u.data.via.array.size;
    bs_mutation *m = bs_arena_calloc(a, (nm + 1) * sizeof *m);
    if (!m) {
        rc = BS_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < nm; i++) {
        const msgpack_object *f;
        int64_t v;
        if ((rc = g_arr(&c, &ms[i], 6, "mutation", &f)) ||
            (rc =
                 g_int(&c, &f[0], WIRE_VERSION, WIRE_VERSION, &v, "version")) ||
            (rc = g_uuid(&c, &f[1], &m[i].table_id, "table id")) ||
            (rc = g_str(&c, &f[2], &m[i].cf, "table")) ||
            (rc = g_int(&c, &f[3], INT64_MIN, INT64_MAX, &m[i].token,
                        "token")) ||
            (rc = g_bin(&c, &f[4], 0, &m[i].pk, &m[i].pk_len, 65535,
                        "partition key")))
            goto out;
        const msgpack_object *ops;
        if ((rc = g_arr(&c, &f[5], UINT32_MAX, "ops", &ops))) goto out;
        m[i].nops = f[5].via.array.size;
        m[i].ops = bs_arena_calloc(a, (m[i].nops + 1) * sizeof *m[i].ops);
        if (!m[i].ops) {
            rc = BS_ENOMEM;
            goto out;
        }
        for (size_t j = 0; j < m[i].nops; j++) {
            bs_mop *op = &m[i].ops[j];
            const msgpack_object *o;
            int64_t kind, flags, col, ts, ttl;
            if ((rc = g_arr(&c, &ops[j], 10, "op", &o)) ||
                (rc = g_int(&c, &o[0], BS_MOP_CELL, BS_MOP_PART_DEL, &kind,
                            "op kind")) ||
                (rc = g_int(&c, &o[1], 0, 3, &flags, "op flags")) ||
                (rc = g_int(&c, &o[2], 0, UINT16_MAX, &col, "column")) ||
                (rc = g_bin(&c, &o[3], 0, &op->ck, &op->ck_len, 65535,
                            "clustering")) ||
                (rc = g_bin(&c, &o[4], 0, &op->elem, &op->elem_len, 65535,
                            "element")) ||
                (rc = g_bin(&c, &o[5], 0, &op->val, &op->val_len,
                            (size_t)256 << 20, "value")) ||
                (rc = g_int(&c, &o[6], INT64_MIN, INT64_MAX, &ts,
                            "timestamp")) ||
                (rc = g_int(&c, &o[7], 0, 630720000, &ttl, "ttl")) ||
                (rc = g_bound(&c, &o[8], &op->start)) ||
                (rc = g_bound(&c, &o[9], &op->end)))
                goto out;
            op->kind = (uint8_t)kind;
            op->is_static = flags & 1;
            op->has_elem = (flags & 2) ? 1 : 0;
            op->col = (uint16_t)col;
            op->ts = ts;
            op->ttl = (int32_t)ttl;
        }
    }
    *out = m;
    *n = nm;
    rc = 0;
out:
    msgpack_unpacked_destroy(&u);
    return rc;
}

int bs_wire_read_decode(const void *p, size_t len, bs_arena *a, bs_wire_read *r,
                        char *err, size_t errlen) {
    dc c = {a, err, errlen};
    msgpack_unpacked u;
    int rc = unpack(&c, p, len, &u);
    if (rc) return rc;
    memset(r, 0, sizeof *r);
    const msgpack_object *f, *s;
    int64_t v, lim, now;
    const uint8_t *after;
    size_t alen;
    if ((rc = g_arr(&c, &u.data, 8, "read", &f)) ||
        (rc = g_int(&c, &f[0], WIRE_VERSION, WIRE_VERSION, &v, "version")) ||
        (rc = g_uuid(&c, &f[1], &r->table_id, "table id")) ||
        (rc = g_str(&c, &f[2], &r->cf, "table")) ||
        (rc = g_int(&c, &f[3], INT64_MIN, INT64_MAX, &r->token, "token")) ||
        (rc =
             g_bin(&c, &f[4], 0, &r->pk, &r->pk_len, 65535, "partition key")) ||
        (rc = g_arr(&c, &f[5], 7, "slice", &s)) ||
        (rc = g_bound(&c, &s[0], &r->slice.start)) ||
        (rc = g_bound(&c, &s[1], &r->slice.end)) ||
        (rc = g_bool(&c, &s[3], &r->slice.with_static, "with_static")) ||
        (rc = g_bool(&c, &s[4], &r->slice.reversed, "reversed")) ||
        (rc = g_int(&c, &s[5], 0, UINT32_MAX, &lim, "limit")) ||
        (rc = g_bin(&c, &s[6], 1, &after, &alen, 65535, "after")) ||
        (rc = g_int(&c, &f[6], 0, INT64_MAX, &now, "now")) ||
        (rc = g_bool(&c, &f[7], &r->digest_only, "digest_only")))
        goto out;
    r->slice.limit = (uint32_t)lim;
    r->slice.now_s = now;
    if (s[6].type != MSGPACK_OBJECT_NIL) {
        r->slice.has_after = 1;
        r->slice.after_ck = after;
        r->slice.after_len = alen;
    }
    if (s[2].type != MSGPACK_OBJECT_NIL) {
        const msgpack_object *cols;
        if ((rc = g_arr(&c, &s[2], UINT32_MAX, "columns", &cols))) goto out;
        size_t nc = s[2].via.array.size;
        uint16_t *ids = bs_arena_calloc(a, (nc + 1) * sizeof *ids);
        if (!ids) {
            rc = BS_ENOMEM;
            goto out;
        }
        for (size_t i = 0; i < nc; i++) {
            int64_t id;
            if ((rc = g_int(&c, &cols[i], 0, UINT16_MAX, &id, "column")))
                goto out;
            ids[i] = (uint16_t)id;
        }
        r->slice.cols = ids;
        r->slice.ncols = nc;
    }
out:
    msgpack_unpacked_destroy(&u);
    return rc;
}

static int g_row(dc *c, const msgpack_object *o, bs_rowv *r) {
    const msgpack_object *f, *cells;
    int64_t mts, mttl, mexp;
    int rc;
    memset(r, 0, sizeof *r);
    if ((rc = g_arr(c, o, 6, "row", &f)) ||
        (rc = g_bin(c, &f[0], 0, &r->ck, &r->ck_len, 65535, "clustering")) ||
        (rc = g_bool(c, &f[1], &r->has_marker, "marker")) ||
        (rc = g_int(c, &f[2], INT64_MIN, INT64_MAX, &mts, "marker ts")) ||
        (rc = g_int(c, &f[3], 0, 630720000, &mttl, "marker ttl")) ||
        (rc = g_int(c, &f[4], 0, INT64_MAX, &mexp, "marker expiry")) ||
        (rc = g_arr(c, &f[5], UINT32_MAX, "cells", &cells)))
        return rc;
    r->marker_ts = mts;
    r->marker_ttl = (int32_t)mttl;
    r->marker_expiry_s = mexp;
    r->ncells = f[5].via.array.size;
    r->cells = bs_arena_calloc(c->a, (r->ncells + 1) * sizeof *r->cells);
    if (!r->cells) return BS_ENOMEM;
    for (size_t i = 0; i < r->ncells; i++) {
        bs_cellv *cv = &r->cells[i];
        const msgpack_object *g;
        int64_t col, ts, ttl, exp;
        if ((rc = g_arr(c, &cells[i], 6, "cell", &g)) ||
            (rc = g_int(c, &g[0], 0, UINT16_MAX, &col, "column")) ||
            (rc = g_bin(c, &g[1], 1, &cv->elem, &cv->elem_len, 65535,
                        "element")) ||
            (rc = g_bin(c, &g[2], 0, &cv->val, &cv->val_len, (size_t)256 << 20,
                        "value")) ||
            (rc = g_int(c, &g[3], INT64_MIN, INT64_MAX, &ts, "cell ts")) ||
            (rc = g_int(c, &g[4], 0, 630720000, &ttl, "cell ttl")) ||
            (rc = g_int(c, &g[5], 0, INT64_MAX, &exp, "cell expiry")))
            return rc;
        cv->col = (uint16_t)col;
        cv->has_elem = g[1].type != MSGPACK_OBJECT_NIL;
        cv->ts = ts;
        cv->ttl = (int32_t)ttl;
        cv->expiry_s = exp;
    }
    return 0;
}

int bs_wire_result_decode(const void *p, size_t len, bs_arena *a,
                          uint8_t digest[16], bs_partv **part, char *err,
                          size_t errlen) {
    dc c = {a, err, errlen};
    msgpack_unpacked u;
    int rc = unpack(&c, p, len, &u);
    if (rc) return rc;
    *part = NULL;
    const msgpack_object *f;
    int64_t v;
    const uint8_t *dg;
    size_t dn;
    if ((rc = g_arr(&c, &u.data, 3, "result", &f)) ||
        (rc = g_int(&c, &f[0], WIRE_VERSION, WIRE_VERSION, &v, "version")) ||
        (rc = g_bin(&c, &f[1], 0, &dg, &dn, 16, "digest")))
        goto out;
    if (dn != 16) {
        rc = bad(&c, "wire: digest must be 16 bytes");
        goto out;
    }
    memcpy(digest, dg, 16);
    if (f[2].type != MSGPACK_OBJECT_NIL) {
        const msgpack_object *pf, *rows;
        bs_partv *pv = bs_arena_calloc(a, sizeof *pv);
        if (!pv) {
            rc = BS_ENOMEM;
            goto out;
        }
        if ((rc = g_arr(&c, &f[2], 5, "partition", &pf)) ||
            (rc = g_int(&c, &pf[0], INT64_MIN, INT64_MAX, &pv->token,
                        "token")) ||
            (rc = g_bin(&c, &pf[1], 0, &pv->pk, &pv->pk_len, 65535,
                        "partition key")) ||
            (rc = g_arr(&c, &pf[3], UINT32_MAX, "rows", &rows)) ||
            (rc = g_bool(&c, &pf[4], &pv->limited, "limited")))
            goto out;
        if (pf[2].type != MSGPACK_OBJECT_NIL) {
            pv->static_row = bs_arena_calloc(a, sizeof *pv->static_row);
            if (!pv->static_row) {
                rc = BS_ENOMEM;
                goto out;
            }
            if ((rc = g_row(&c, &pf[2], pv->static_row))) goto out;
        }
        pv->nrows = pf[3].via.array.size;
        pv->rows = bs_arena_calloc(a, (pv->nrows + 1) * sizeof *pv->rows);
        if (!pv->rows) {
            rc = BS_ENOMEM;
            goto out;
        }
        for (size_t i = 0; i < pv->nrows; i++)
            if ((rc = g_row(&c, &rows[i], &pv->rows[i]))) goto out;
        *part = pv;
    }
    rc = 0;
out:
    msgpack_unpacked_destroy(&u);
    return rc;
}

/* ---- coordinator payloads (layouts in wire.h) ---------------------------- */

int bs_wire_write_encode(int64_t now_s, const bs_mutation *m, size_t n,
                         bs_buf *out) {
    bs_buf inner = BS_BUF_INIT;
    int rc = bs_wire_mutations_encode(m, n, &inner);
    if (rc) {
        bs_buf_free(&inner);
        return rc;
    }
    size_t before = out->len;
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, bs_buf_pack_write);
    msgpack_pack_array(&pk, 3);
    msgpack_pack_int(&pk, WIRE_VERSION);
    msgpack_pack_int64(&pk, now_s);
    p_bin(&pk, inner.data, inner.len);
    size_t want = inner.len;
    bs_buf_free(&inner);
    return out->len >= before + want ? 0 : BS_ENOMEM;
}

int bs_wire_write_decode(const void *p, size_t len, bs_arena *a, int64_t *now_s,
                         bs_mutation **out, size_t *n, char *err,
                         size_t errlen) {
    dc c = {a, err, errlen};
    msgpack_unpacked u;
    int rc = unpack(&c, p, len, &u);
    if (rc) return rc;
    const msgpack_object *f;
    int64_t v;
    if ((rc = g_arr(&c, &u.data, 3, "write", &f)) ||
        (rc = g_int(&c, &f[0], WIRE_VERSION, WIRE_VERSION, &v, "version")) ||
        (rc = g_int(&c, &f[1], 0, INT64_MAX, now_s, "now")))
        goto out;
    if (f[2].type != MSGPACK_OBJECT_BIN) {
        rc = bad(&c, "wire: write: expected mutation bytes");
        goto out;
    }
    rc = bs_wire_mutations_decode(f[2].via.bin.ptr, f[2].via.bin.size, a, out,
                                  n, err, errlen);
out:
    msgpack_unpacked_destroy(&u);
    return rc;
}

int bs_wire_raw_encode(const char *cf, const bs_wire_rec *r, size_t n,
                       bs_buf *out) {
    size_t before = out->len;
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, bs_buf_pack_write);
    msgpack_pack_array(&pk, 3);
    msgpack_pack_int(&pk, WIRE_VERSION);
    p_str(&pk, cf);
    msgpack_pack_array(&pk, n);
    for (size_t i = 0; i < n; i++) {
        msgpack_pack_array(&pk, 2);
        p_bin(&pk, r[i].key, r[i].klen);
        p_bin(&pk, r[i].val, r[i].vlen);
    }
    return out->len > before ? 0 : BS_ENOMEM;
}

int bs_wire_raw_decode(const void *p, size_t len, bs_arena *a, const char **cf,
                       bs_wire_rec **out, size_t *n, char *err, size_t errlen) {
    dc c = {a, err, errlen};
    msgpack_unpacked u;
    int rc = unpack(&c, p, len, &u);
    if (rc) return rc;
    const msgpack_object *f, *rs;
    int64_t v;
    if ((rc = g_arr(&c, &u.data, 3, "raw", &f)) ||
        (rc = g_int(&c, &f[0], WIRE_VERSION, WIRE_VERSION, &v, "version")) ||
        (rc = g_str(&c, &f[1], cf, "table")) ||
        (rc = g_arr(&c, &f[2], UINT32_MAX, "records", &rs)))
        goto out;
    size_t nr = f[2].via.array.size;
    bs_wire_rec *r = bs_arena_calloc(a, (nr + 1) * sizeof *r);
    if (!r) {
        rc = BS_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < nr; i++) {
        const msgpack_object *kv;
        if ((rc = g_arr(&c, &rs[i], 2, "record", &kv)) ||
            (rc = g_bin(&c, &kv[0], 0, &r[i].key, &r[i].klen, 1u << 20,
                        "record key")) ||
            (rc = g_bin(&c, &kv[1], 0, &r[i].val, &r[i].vlen, (size_t)256 << 20,
                        "record value")))
            goto out;
        if (r[i].klen == 0) {
            rc = bad(&c, "wire: empty record key");
            goto out;
        }
    }
    *out = r;
    *n = nr;
out:
    msgpack_unpacked_destroy(&u);
    return rc;
}

int bs_wire_partial_encode(const bs_wire_partial *p, bs_buf *out) {
    size_t before = out->len;
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, bs_buf_pack_write);
    msgpack_pack_array(&pk, 4);
    msgpack_pack_int(&pk, WIRE_VERSION);
    msgpack_pack_str(&pk, strlen(p->cf));
    msgpack_pack_str_body(&pk, p->cf, strlen(p->cf));
    msgpack_pack_array(&pk, (uint32_t)p->nranges * 2);
    for (size_t i = 0; i < p->nranges; i++) {
        msgpack_pack_int64(&pk, p->lo[i]);
        msgpack_pack_int64(&pk, p->hi[i]);
    }
    p_bin(&pk, p->req, p->req_len);
    return out->len > before ? 0 : BS_ENOMEM;
}

int bs_wire_partial_decode(const void *p, size_t len, bs_arena *a, bs_wire_partial *out,
                           char *err, size_t errlen) {
    dc c = {a, err, errlen};
    msgpack_unpacked u;
    int rc = unpack(&c, p, len, &u);
    if (rc) return rc;
    memset(out, 0, sizeof *out);
    const msgpack_object *f, *r;
    int64_t v;
    if ((rc = g_arr(&c, &u.data, 4, "partial", &f)) ||
        (rc = g_int(&c, &f[0], WIRE_VERSION, WIRE_VERSION, &v, "version")) ||
        (rc = g_str(&c, &f[1], &out->cf, "table")) ||
        (rc = g_bin(&c, &f[3], 0, &out->req, &out->req_len, 1 << 20, "request")))
        goto out;
    if (f[2].type != MSGPACK_OBJECT_ARRAY || f[2].via.array.size < 2 ||
        f[2].via.array.size > 8192 || f[2].via.array.size % 2) {
        rc = bad(&c, "wire: partial: expected 1 to 4096 ranges");
        goto out;
    }
    r = f[2].via.array.ptr;
    size_t n = f[2].via.array.size / 2;
    int64_t *lo = bs_arena_alloc(a, n * sizeof *lo), *hi = bs_arena_alloc(a, n * sizeof *hi);
    if (!lo || !hi) {
        rc = BS_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < n && !rc; i++)
        if (!(rc = g_int(&c, &r[2 * i], INT64_MIN, INT64_MAX, &lo[i], "range start")) &&
            !(rc = g_int(&c, &r[2 * i + 1], INT64_MIN, INT64_MAX, &hi[i], "range end")) &&
            lo[i] >= hi[i])
            rc = bad(&c, "wire: partial: empty range");
    out->lo = lo;
    out->hi = hi;
    out->nranges = n;
out:
    msgpack_unpacked_destroy(&u);
    return rc;
}

int bs_wire_scan_encode(const bs_wire_scan *s, bs_buf *out) {
    bs_buf inner = BS_BUF_INIT;
    int rc = bs_wire_read_encode(&s->read, &inner);
    if (rc) {
        bs_buf_free(&inner);
        return rc;
    }
    size_t before = out->len;
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, bs_buf_pack_write);
    msgpack_pack_array(&pk, 6);
    msgpack_pack_int(&pk, WIRE_VERSION);
    p_bin(&pk, inner.data, inner.len);
    bs_buf_free(&inner);
    msgpack_pack_int64(&pk, s->start);
    msgpack_pack_int64(&pk, s->end);
    if (s->has_cursor) {
        msgpack_pack_array(&pk, 3);
        msgpack_pack_int64(&pk, s->cursor_token);
        p_bin(&pk, s->cursor_pk, s->cursor_pk_len);
        if (s->has_cursor_ck)
            p_bin(&pk, s->cursor_ck, s->cursor_ck_len);
        else
            msgpack_pack_nil(&pk);
    } else {
        msgpack_pack_nil(&pk);
    }
    msgpack_pack_uint32(&pk, s->max_parts);
    return out->len > before ? 0 : BS_ENOMEM;
}

int bs_wire_scan_decode(const void *p, size_t len, bs_arena *a, bs_wire_scan *s,
                        char *err, size_t errlen) {
    dc c = {a, err, errlen};
    msgpack_unpacked u;
    int rc = unpack(&c, p, len, &u);
    if (rc) return rc;
    memset(s, 0, sizeof *s);
    const msgpack_object *f;
    int64_t v, mp;
    if ((rc = g_arr(&c, &u.data, 6, "scan", &f)) ||
        (rc = g_int(&c, &f[0], WIRE_VERSION, WIRE_VERSION, &v, "version")) ||
        (rc = g_int(&c, &f[2], INT64_MIN, INT64_MAX, &s->start, "start")) ||
        (rc = g_int(&c, &f[3], INT64_MIN, INT64_MAX, &s->end, "end")) ||
        (rc = g_int(&c, &f[5], 1, UINT32_MAX, &mp, "max partitions")))
        goto out;
    s->max_parts = (uint32_t)mp;
    if (f[1].type != MSGPACK_OBJECT_BIN) {
        rc = bad(&c, "wire: scan: expected read bytes");
        goto out;
    }
    if ((rc = bs_wire_read_decode(f[1].via.bin.ptr, f[1].via.bin.size, a,
                                  &s->read, err, errlen)))
        goto out;
    if (f[4].type != MSGPACK_OBJECT_NIL) {
        const msgpack_object *cu;
        if ((rc = g_arr(&c, &f[4], 3, "cursor", &cu)) ||
            (rc = g_int(&c, &cu[0], INT64_MIN, INT64_MAX, &s->cursor_token,
                        "cursor token")) ||
            (rc = g_bin(&c, &cu[1], 0, &s->cursor_pk, &s->cursor_pk_len, 65535,
                        "cursor key")) ||
            (rc = g_bin(&c, &cu[2], 1, &s->cursor_ck, &s->cursor_ck_len, 65535,
                        "cursor clustering")))
            goto out;
        s->has_cursor = 1;
        s->has_cursor_ck = cu[2].type != MSGPACK_OBJECT_NIL;
    }
out:
    msgpack_unpacked_destroy(&u);
    return rc;
}

int bs_wire_scanres_encode(int more, const bs_buf *parts, size_t n,
                           bs_buf *out) {
    size_t before = out->len;
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, bs_buf_pack_write);
    msgpack_pack_array(&pk, 3);
    msgpack_pack_int(&pk, WIRE_VERSION);
    p_bool(&pk, more);
    msgpack_pack_array(&pk, n);
    for (size_t i = 0; i < n; i++)
        p_bin(&pk, parts[i].data, parts[i].len);
    return out->len > before ? 0 : BS_ENOMEM;
}

int bs_wire_scanres_decode(const void *p, size_t len, bs_arena *a, int *more,
                           bs_partv ***parts, size_t *n, char *err,
                           size_t errlen) {
    dc c = {a, err, errlen};
    msgpack_unpacked u;
    int rc = unpack(&c, p, len, &u);
    if (rc) return rc;
    const msgpack_object *f, *ps;
    int64_t v;
    if ((rc = g_arr(&c, &u.data, 3, "scan result", &f)) ||
        (rc = g_int(&c, &f[0], WIRE_VERSION, WIRE_VERSION, &v, "version")) ||
        (rc = g_bool(&c, &f[1], more, "more")) ||
        (rc = g_arr(&c, &f[2], UINT32_MAX, "partitions", &ps)))
        goto out;
    size_t np = f[2].via.array.size;
    bs_partv **pv = bs_arena_calloc(a, (np + 1) * sizeof *pv);
    if (!pv) {
        rc = BS_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < np; i++) {
        uint8_t dg[16];
        if (ps[i].type != MSGPACK_OBJECT_BIN) {
            rc = bad(&c, "wire: scan result: expected partition bytes");
            goto out;
        }
        if ((rc = bs_wire_result_decode(ps[i].via.bin.ptr, ps[i].via.bin.size,
                                        a, dg, &pv[i], err, errlen)))
            goto out;
        if (!pv[i]) {
            rc = bad(&c, "wire: scan result: empty partition");
            goto out;
        }
    }
    *parts = pv;
    *n = np;
out:
    msgpack_unpacked_destroy(&u);
    return rc;
}
