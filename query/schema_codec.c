/*
 * schema_codec.c - msgpack serialization of the schema catalog
 * (bs_schema_encode / bs_schema_decode): what a node persists in its
 * system CF and ships to peers.
 *
 * Serialized form (msgpack), version 1:
 *   [1, timestamp_us, [keyspace...], [tombstone...]]
 *   keyspace = [name, durable_writes, class, {k: v...}, [table...],
 *               ts_us, created_us]
 *   table    = [name, id(bin16), default_ttl, gc_grace, next_col_id,
 *               [column...], [option...], [dropped...], ts_us]
 *   tombstone = [keyspace, table|nil, time_us]
 * (The trailing tombstone list, keyspace stamps and table stamp were
 * added for schema convergence; decode also accepts the older shorter
 * arrays, with stamps 0.)
 *   column   = [name, type, kind, position, desc, id]
 *   type     = [kind, frozen, [type...], name|nil, keyspace|nil,
 *               [field name...]]
 *   option   = [name, value|nil, {k: v...}]
 *   dropped  = [name, type, time_us]
 *
 * Built-in keyspaces are not serialized: decode starts from
 * bs_schema_new().  Decode trusts nothing: every object's type, every
 * array's length and every integer's range is checked, and malformed
 * bytes give BS_ECORRUPT with a message naming what is wrong.
 */
#include <ctype.h>
#include <msgpack.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/mpcheck.h"
#include "query/schema_int.h"

/* ==================================================================== */
/* serialization                                                          */
/* ==================================================================== */

void bs__schema_pk_str(msgpack_packer *p, const char *s) {
    if (!s) {
        msgpack_pack_nil(p);
        return;
    }
    size_t n = strlen(s);
    msgpack_pack_str(p, n);
    msgpack_pack_str_body(p, s, n);
}

static void pk_type(msgpack_packer *p, const bs_type *t) {
    msgpack_pack_array(p, 6);
    msgpack_pack_uint16(p, t->kind);
    msgpack_pack_uint8(p, t->frozen);
    msgpack_pack_array(p, t->nparams);
    for (unsigned i = 0; i < t->nparams; i++)
        pk_type(p, t->params[i]);
    bs__schema_pk_str(p, t->name);
    bs__schema_pk_str(p, t->keyspace);
    size_t nf = t->field_names ? t->nparams : 0;
    msgpack_pack_array(p, nf);
    for (size_t i = 0; i < nf; i++)
        bs__schema_pk_str(p, t->field_names[i]);
}

void bs__schema_pk_strmap(msgpack_packer *p, size_t n, char **k, char **v) {
    msgpack_pack_map(p, n);
    for (size_t i = 0; i < n; i++) {
        bs__schema_pk_str(p, k[i]);
        bs__schema_pk_str(p, v[i]);
    }
}

void bs__schema_pk_table(msgpack_packer *p, const bs_table_schema *t) {
    msgpack_pack_array(p, 9);
    bs__schema_pk_str(p, t->name);
    msgpack_pack_bin(p, 16);
    msgpack_pack_bin_body(p, t->id.b, 16);
    msgpack_pack_int64(p, t->default_ttl);
    msgpack_pack_int64(p, t->gc_grace);
    msgpack_pack_uint16(p, t->next_col_id);
    msgpack_pack_array(p, t->ncols);
    for (size_t i = 0; i < t->ncols; i++) {
        const bs_column *c = &t->cols[i];
        msgpack_pack_array(p, 6);
        bs__schema_pk_str(p, c->name);
        pk_type(p, c->type);
        msgpack_pack_int(p, c->kind);
        msgpack_pack_int(p, c->position);
        msgpack_pack_int(p, c->desc);
        msgpack_pack_uint16(p, c->id);
    }
    msgpack_pack_array(p, t->nopts);
    for (size_t i = 0; i < t->nopts; i++) {
        const bs_table_option *o = &t->opts[i];
        msgpack_pack_array(p, 3);
        bs__schema_pk_str(p, o->name);
        bs__schema_pk_str(p, o->value);
        bs__schema_pk_strmap(p, o->nentries, o->keys, o->values);
    }
    msgpack_pack_array(p, t->ndropped);
    for (size_t i = 0; i < t->ndropped; i++) {
        msgpack_pack_array(p, 3);
        bs__schema_pk_str(p, t->dropped[i].name);
        pk_type(p, t->dropped[i].type);
        msgpack_pack_int64(p, t->dropped[i].dropped_time_us);
    }
    msgpack_pack_int64(p, t->ts_us);
}

int bs_schema_encode(const bs_schema *s, bs_buf *out) {
    msgpack_packer p;
    msgpack_packer_init(&p, out, bs_buf_pack_write);
    size_t nuser = 0;
    for (size_t i = 0; i < s->nks; i++)
        nuser += !s->ks[i]->system;
    size_t before = out->len;
    msgpack_pack_array(&p, 4);
    msgpack_pack_int(&p, 1);
    msgpack_pack_int64(&p, s->timestamp_us);
    msgpack_pack_array(&p, nuser);
    for (size_t i = 0; i < s->nks; i++) {
        const bs_keyspace_schema *k = s->ks[i];
        if (k->system) continue;
        msgpack_pack_array(&p, 7);
        bs__schema_pk_str(&p, k->name);
        if (k->durable_writes)
            msgpack_pack_true(&p);
        else
            msgpack_pack_false(&p);
        bs__schema_pk_str(&p, k->repl_class);
        bs__schema_pk_strmap(&p, k->nrepl, k->repl_keys, k->repl_values);
        msgpack_pack_array(&p, k->ntables);
        for (size_t j = 0; j < k->ntables; j++)
            bs__schema_pk_table(&p, k->tables[j]);
        msgpack_pack_int64(&p, k->ts_us);
        msgpack_pack_int64(&p, k->created_us);
    }
    /* tombstones in a canonical order (keyspace, then table, NULL first)
     * so equal schemas encode - and digest - equally */
    size_t *ord = s->ntombs ? malloc(s->ntombs * sizeof *ord) : NULL;
    if (s->ntombs && !ord) return BS_ENOMEM;
    for (size_t i = 0; i < s->ntombs; i++)
        ord[i] = i;
    for (size_t i = 1; i < s->ntombs; i++) {
        for (size_t j = i; j > 0; j--) {
            const bs_tomb *x = &s->tombs[ord[j - 1]], *y = &s->tombs[ord[j]];
            int c = strcmp(x->ks, y->ks);
            if (!c)
                c = !x->table ? -1 : !y->table ? 1 : strcmp(x->table, y->table);
            if (c <= 0) break;
            size_t tmp = ord[j - 1];
            ord[j - 1] = ord[j];
            ord[j] = tmp;
        }
    }
    msgpack_pack_array(&p, s->ntombs);
    for (size_t i = 0; i < s->ntombs; i++) {
        const bs_tomb *t = &s->tombs[ord[i]];
        msgpack_pack_array(&p, 3);
        bs__schema_pk_str(&p, t->ks);
        bs__schema_pk_str(&p, t->table);
        msgpack_pack_int64(&p, t->ts);
    }
    free(ord);
    /* bs_buf_append failures surface as a short buffer; detect by size */
    if (out->len == before) return BS_ENOMEM;
    return 0;
}

/* ---- decoding: every access is checked ------------------------------- */

typedef struct {
    char *err;
    size_t errlen;
    int depth;
} dctx;

#define D_FAIL(c, ...)                                                         \
    bs__schema_fail((c)->err, (c)->errlen, BS_ECORRUPT, __VA_ARGS__)

static int d_array(dctx *c, const msgpack_object *o, size_t n,
                   const char *what) {
    if (o->type != MSGPACK_OBJECT_ARRAY || (n && o->via.array.size != n))
        return D_FAIL(c, "schema: %s: expected an array of %zu", what, n);
    return 0;
}

static int d_str(dctx *c, const msgpack_object *o, int nullable, char **out,
                 const char *what) {
    *out = NULL;
    if (o->type == MSGPACK_OBJECT_NIL && nullable) return 0;
    if (o->type != MSGPACK_OBJECT_STR)
        return D_FAIL(c, "schema: %s: expected a string", what);
    if (o->via.str.size && memchr(o->via.str.ptr, 0, o->via.str.size))
        return D_FAIL(c, "schema: %s: NUL in string", what);
    *out = bs__schema_xstrndup(o->via.str.ptr, o->via.str.size);
    return *out ? 0 : BS_ENOMEM;
}

static int d_int(dctx *c, const msgpack_object *o, int64_t lo, int64_t hi,
                 int64_t *out, const char *what) {
    int64_t v;
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
        if (o->via.u64 > (uint64_t)INT64_MAX)
            return D_FAIL(c, "schema: %s: integer out of range", what);
        v = (int64_t)o->via.u64;
    } else if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        v = o->via.i64;
    } else {
        return D_FAIL(c, "schema: %s: expected an integer", what);
    }
    if (v < lo || v > hi)
        return D_FAIL(c, "schema: %s: %lld out of range", what, (long long)v);
    *out = v;
    return 0;
}

static int d_type(dctx *c, const msgpack_object *o, bs_type **out) {
    *out = NULL;
    if (++c->depth > BS_TYPE_MAX_DEPTH)
        return D_FAIL(c, "schema: type nested too deeply");
    int rc = d_array(c, o, 6, "type");
    if (rc) return rc;
    const msgpack_object *a = o->via.array.ptr;
    int64_t kind = 0, frozen = 0;
    if ((rc = d_int(c, &a[0], 0, 0x31, &kind, "type kind")) ||
        (rc = d_int(c, &a[1], 0, 1, &frozen, "type frozen")) ||
        (rc = d_array(c, &a[2], 0, "type params")) ||
        (rc = d_array(c, &a[5], 0, "type fields")))
        return rc;
    bs_type *t = bs_type_new((bs_type_kind)kind);
    if (!t) return BS_ENOMEM;
    t->frozen = (uint8_t)frozen;
    const msgpack_object_array *ps = &a[2].via.array, *fs = &a[5].via.array;
    if (fs->size && fs->size != ps->size) {
        bs_type_free(t);
        return D_FAIL(c, "schema: UDT field count mismatch");
    }
    if ((kind == BS_TYPE_LIST || kind == BS_TYPE_SET) && ps->size != 1) {
        bs_type_free(t);
        return D_FAIL(c, "schema: list/set needs one parameter");
    }
    if (kind == BS_TYPE_MAP && ps->size != 2) {
        bs_type_free(t);
        return D_FAIL(c, "schema: map needs two parameters");
    }
    if (kind != BS_TYPE_LIST && kind != BS_TYPE_SET && kind != BS_TYPE_MAP &&
        kind != BS_TYPE_TUPLE && kind != BS_TYPE_UDT && ps->size) {
        bs_type_free(t);
        return D_FAIL(c, "schema: scalar type with parameters");
    }
    if (kind == BS_TYPE_UDT && fs->size != ps->size) {
        bs_type_free(t);
        return D_FAIL(c, "schema: UDT without field names");
    }
    for (uint32_t i = 0; i < ps->size; i++) {
        bs_type *p;
        rc = d_type(c, &ps->ptr[i], &p);
        if (rc) {
            bs_type_free(t);
            return rc;
        }
        char *fname = NULL;
        if (fs->size && (rc = d_str(c, &fs->ptr[i], 0, &fname, "field"))) {
            bs_type_free(p);
            bs_type_free(t);
            return rc;
        }
        rc = bs_type_add_param(t, p, fname);
        free(fname);
        if (rc) {
            bs_type_free(t);
            return rc;
        }
    }
    if ((rc = d_str(c, &a[3], 1, &t->name, "type name")) ||
        (rc = d_str(c, &a[4], 1, &t->keyspace, "type keyspace"))) {
        bs_type_free(t);
        return rc;
    }
    c->depth--;
    *out = t;
    return 0;
}

static int d_strmap(dctx *c, const msgpack_object *o, size_t *n, char ***k,
                    char ***v, const char *what) {
    *n = 0;
    *k = *v = NULL;
    if (o->type != MSGPACK_OBJECT_MAP)
        return D_FAIL(c, "schema: %s: expected a map", what);
    size_t m = o->via.map.size;
    if (!m) return 0;
    *k = calloc(m, sizeof **k);
    *v = calloc(m, sizeof **v);
    if (!*k || !*v) return BS_ENOMEM;
    for (size_t i = 0; i < m; i++) {
        *n = i + 1;
        int rc;
        if ((rc = d_str(c, &o->via.map.ptr[i].key, 0, &(*k)[i], what)) ||
            (rc = d_str(c, &o->via.map.ptr[i].val, 0, &(*v)[i], what)))
            return rc;
    }
    return 0;
}

static void free_strmap(size_t n, char **k, char **v) {
    for (size_t i = 0; i < n; i++) {
        if (k) free(k[i]);
        if (v) free(v[i]);
    }
    free(k);
    free(v);
}

/* Decodes a table into defs/options and creates it through the normal
 * validating path, then restores ids and dropped columns. */
/* The column definitions and options of a table being decoded (d_table
 * owns them and frees them with dtable_free). */
typedef struct dtable {
    bs_column_def *defs;
    char **cnames;
    bs_type **ctypes;
    uint16_t *cids;
    size_t ncols; /* entries of the arrays above to free */
    bs_table_option *opts;
    size_t nopts;
} dtable;

static void dtable_free(dtable *d) {
    for (size_t i = 0; i < d->ncols; i++) {
        free(d->cnames[i]);
        bs_type_free(d->ctypes[i]);
    }
    free(d->cnames);
    free(d->ctypes);
    free(d->cids);
    free(d->defs);
    for (size_t i = 0; i < d->nopts; i++)
        bs__schema_option_free(&d->opts[i]);
    free(d->opts);
}

/* The column list (array o) of a table (ids below next_col_id, or shared
 * ones: see bs_schema_add_shared_column). */
static int d_columns(dctx *c, const msgpack_object *o, dtable *d) {
    size_t n = o->via.array.size;
    d->defs = calloc(n + 1, sizeof *d->defs);
    d->cnames = calloc(n + 1, sizeof *d->cnames);
    d->ctypes = calloc(n + 1, sizeof *d->ctypes);
    d->cids = calloc(n + 1, sizeof *d->cids);
    if (!d->defs || !d->cnames || !d->ctypes || !d->cids) return BS_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const msgpack_object *co = &o->via.array.ptr[i];
        int rc = d_array(c, co, 6, "column");
        if (rc) return rc;
        const msgpack_object *ca = co->via.array.ptr;
        int64_t kind, pos, desc, cid;
        d->ncols = i + 1;
        if ((rc = d_str(c, &ca[0], 0, &d->cnames[i], "column name")) ||
            (rc = d_type(c, &ca[1], &d->ctypes[i])) ||
            (rc = d_int(c, &ca[2], 0, 3, &kind, "column kind")) ||
            (rc = d_int(c, &ca[3], -1, 1024, &pos, "column position")) ||
            (rc = d_int(c, &ca[4], 0, 1, &desc, "column order")) ||
            (rc = d_int(c, &ca[5], BS_SCHEMA_FIRST_COLUMN_ID, UINT16_MAX - 1, &cid,
                        "column id")))
            return rc;
        d->defs[i].name = d->cnames[i];
        d->defs[i].type = d->ctypes[i];
        d->defs[i].kind = (bs_col_kind)kind;
        d->defs[i].position = (int)pos;
        d->defs[i].desc = (int)desc;
        d->cids[i] = (uint16_t)cid;
    }
    return 0;
}

/* The option list (array o) of a table. */
static int d_options(dctx *c, const msgpack_object *o, dtable *d) {
    size_t no = o->via.array.size;
    d->opts = calloc(no + 1, sizeof *d->opts);
    if (!d->opts) return BS_ENOMEM;
    for (size_t i = 0; i < no; i++) {
        const msgpack_object *oo = &o->via.array.ptr[i];
        int rc = d_array(c, oo, 3, "option");
        if (rc) return rc;
        d->nopts = i + 1;
        bs_table_option *op = &d->opts[i];
        if ((rc = d_str(c, &oo->via.array.ptr[0], 0, &op->name,
                        "option name")) ||
            (rc = d_str(c, &oo->via.array.ptr[1], 1, &op->value,
                        "option value")) ||
            (rc = d_strmap(c, &oo->via.array.ptr[2], &op->nentries, &op->keys,
                           &op->values, "option map")))
            return rc;
    }
    return 0;
}

/* The dropped-column list (array o) into table t. */
static int d_dropped(dctx *c, const msgpack_object *o, bs_table_schema *t) {
    size_t nd = o->via.array.size;
    if (!nd) return 0;
    t->dropped = calloc(nd, sizeof *t->dropped);
    if (!t->dropped) return BS_ENOMEM;
    for (size_t i = 0; i < nd; i++) {
        const msgpack_object *dobj = &o->via.array.ptr[i];
        int rc = d_array(c, dobj, 3, "dropped column");
        if (rc) return rc;
        bs_dropped_column *dc = &t->dropped[i];
        t->ndropped = i + 1;
        if ((rc = d_str(c, &dobj->via.array.ptr[0], 0, &dc->name,
                        "dropped name")) ||
            (rc = d_type(c, &dobj->via.array.ptr[1], &dc->type)) ||
            (rc = d_int(c, &dobj->via.array.ptr[2], INT64_MIN, INT64_MAX,
                        &dc->dropped_time_us, "dropped time")))
            return rc;
    }
    return 0;
}

static int d_table(dctx *c, bs_schema *s, const char *ks,
                   const msgpack_object *o) {
    int rc = d_array(c, o, 0, "table");
    if (rc) return rc;
    if (o->via.array.size != 8 && o->via.array.size != 9)
        return D_FAIL(c, "schema: table: expected an array of 8 or 9");
    const msgpack_object *a = o->via.array.ptr;
    int64_t tts = 0;
    if (o->via.array.size == 9 &&
        (rc = d_int(c, &a[8], 0, INT64_MAX, &tts, "table timestamp")))
        return rc;
    char *name = NULL;
    dtable d;
    memset(&d, 0, sizeof d);
    int64_t ttl, gc, next;
    if ((rc = d_str(c, &a[0], 0, &name, "table name"))) goto out;
    if (a[1].type != MSGPACK_OBJECT_BIN || a[1].via.bin.size != 16) {
        rc = D_FAIL(c, "schema: table id must be 16 bytes");
        goto out;
    }
    bs_uuid id;
    memcpy(id.b, a[1].via.bin.ptr, 16);
    if ((rc = d_int(c, &a[2], 0, 630720000, &ttl, "default_ttl")) ||
        (rc = d_int(c, &a[3], 0, 630720000, &gc, "gc_grace")) ||
        (rc = d_int(c, &a[4], BS_SCHEMA_FIRST_COLUMN_ID, UINT16_MAX, &next,
                    "next_col_id")) ||
        (rc = d_array(c, &a[5], 0, "columns")) ||
        (rc = d_array(c, &a[6], 0, "options")) ||
        (rc = d_array(c, &a[7], 0, "dropped")))
        goto out;
    if ((rc = d_columns(c, &a[5], &d)) || (rc = d_options(c, &a[6], &d)))
        goto out;
    char e2[256];
    rc = bs_schema_create_table(s, ks, name, &id, d.defs, d.ncols, d.opts,
                                d.nopts, 0, e2, sizeof e2);
    if (rc) {
        rc = D_FAIL(c, "schema: table %s.%s: %s", ks, name, e2);
        goto out;
    }
    bs_table_schema *t = (bs_table_schema *)bs_schema_table(s, ks, name);
    t->ts_us = tts;
    t->default_ttl = ttl;
    t->gc_grace = gc;
    t->next_col_id = (uint16_t)next;
    for (size_t i = 0; i < d.ncols; i++) {
        bs_column *col = (bs_column *)bs_table_column(t, d.cnames[i]);
        for (size_t j = 0; j < i; j++)
            if (d.cids[j] == d.cids[i]) {
                rc = D_FAIL(c, "schema: duplicate column id %u", d.cids[i]);
                goto out;
            }
        col->id = d.cids[i];
    }
    rc = d_dropped(c, &a[7], t);
out:
    free(name);
    dtable_free(&d);
    return rc;
}

/* One keyspace and its tables into s. */
static int d_keyspace(dctx *c, bs_schema *s, const msgpack_object *ko) {
    int rc;
    if ((rc = d_array(c, ko, 0, "keyspace"))) return rc;
    if (ko->via.array.size != 5 && ko->via.array.size != 7)
        return D_FAIL(c, "schema: keyspace: expected an array of 5 or 7");
    const msgpack_object *ka = ko->via.array.ptr;
    int64_t kts = 0, kcr = 0;
    if (ko->via.array.size == 7 &&
        ((rc = d_int(c, &ka[5], 0, INT64_MAX, &kts, "keyspace timestamp")) ||
         (rc = d_int(c, &ka[6], 0, INT64_MAX, &kcr, "keyspace creation"))))
        return rc;
    char *name = NULL, *cls = NULL, **rk = NULL, **rv = NULL;
    size_t nr = 0;
    if (ka[1].type != MSGPACK_OBJECT_BOOLEAN)
        return D_FAIL(c, "schema: durable_writes must be a boolean");
    if ((rc = d_str(c, &ka[0], 0, &name, "keyspace name")) ||
        (rc = d_str(c, &ka[2], 0, &cls, "replication class")) ||
        (rc = d_strmap(c, &ka[3], &nr, &rk, &rv, "replication")) ||
        (rc = d_array(c, &ka[4], 0, "tables"))) {
        free(name);
        free(cls);
        free_strmap(nr, rk, rv);
        return rc;
    }
    char e2[256];
    rc = bs_schema_create_keyspace(s, name, cls, nr, (const char *const *)rk,
                                   (const char *const *)rv, ka[1].via.boolean,
                                   0, e2, sizeof e2);
    free(cls);
    free_strmap(nr, rk, rv);
    if (rc) {
        rc = D_FAIL(c, "schema: keyspace %s: %s", name, e2);
        free(name);
        return rc;
    }
    bs_keyspace_schema *kk = (bs_keyspace_schema *)bs_schema_keyspace(s, name);
    kk->ts_us = kts;
    kk->created_us = kcr;
    for (uint32_t j = 0; j < ka[4].via.array.size && !rc; j++)
        rc = d_table(c, s, name, &ka[4].via.array.ptr[j]);
    free(name);
    return rc;
}

/* The tombstone list (array to) into s. */
static int d_tombstones(dctx *c, bs_schema *s, const msgpack_object *to) {
    int rc = d_array(c, to, 0, "tombstones");
    if (rc) return rc;
    for (uint32_t i = 0; i < to->via.array.size; i++) {
        const msgpack_object *t = &to->via.array.ptr[i];
        char *tk = NULL, *tt = NULL;
        int64_t tts;
        if ((rc = d_array(c, t, 3, "tombstone")) ||
            (rc = d_str(c, &t->via.array.ptr[0], 0, &tk,
                        "tombstone keyspace")) ||
            (rc = d_str(c, &t->via.array.ptr[1], 1, &tt, "tombstone table")) ||
            (rc = d_int(c, &t->via.array.ptr[2], 1, INT64_MAX, &tts,
                        "tombstone time"))) {
            free(tk);
            free(tt);
            return rc;
        }
        if (bs_schema_tombstone(s, tk, tt)) {
            rc = D_FAIL(c, "schema: duplicate tombstone %s%s%s", tk,
                        tt ? "." : "", tt ? tt : "");
        } else if (!tt && bs_schema_keyspace(s, tk)) {
            rc = D_FAIL(c, "schema: keyspace %s both live and dropped", tk);
        } else if (tt && bs_schema_table(s, tk, tt)) {
            rc = D_FAIL(c, "schema: table %s.%s both live and dropped", tk, tt);
        } else {
            rc = bs__schema_tomb_set(s, tk, tt, tts);
        }
        free(tk);
        free(tt);
        if (rc) return rc;
    }
    return 0;
}

/* msgpack nesting an encoded schema may have: msgpack-c's unpacker
 * stops at MSGPACK_EMBED_STACK_SIZE (32) levels.  A column's type takes
 * two levels per type level (a type and its params array) below the 8
 * levels above it, so BS_TYPE_MAX_DEPTH (12) keeps every schema that DDL
 * accepts within it (test_exec's accepted_types_persist checks). */
#define SCHEMA_MP_DEPTH 32

int bs_schema_decode(const void *data, size_t len, bs_schema **out, char *err,
                     size_t errlen) {
    *out = NULL;
    dctx c = {err, errlen, 0};
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    bs_schema *s = NULL;
    int rc;
    if (bs_mpcheck(data, len, SCHEMA_MP_DEPTH) != 0) {
        rc = D_FAIL(&c, "schema: malformed msgpack");
        goto out;
    }
    if (msgpack_unpack_next(&u, data, len, &off) != MSGPACK_UNPACK_SUCCESS ||
        off != len) {
        rc = D_FAIL(&c, "schema: not a single msgpack value");
        goto out;
    }
    const msgpack_object *root = &u.data;
    if ((rc = d_array(&c, root, 0, "root"))) goto out;
    if (root->via.array.size != 3 && root->via.array.size != 4) {
        rc = D_FAIL(&c, "schema: root: expected an array of 3 or 4");
        goto out;
    }
    int64_t ver, ts;
    if ((rc = d_int(&c, &root->via.array.ptr[0], 1, 1, &ver, "version")) ||
        (rc = d_int(&c, &root->via.array.ptr[1], 0, INT64_MAX, &ts,
                    "timestamp")) ||
        (rc = d_array(&c, &root->via.array.ptr[2], 0, "keyspaces")))
        goto out;
    s = bs_schema_new();
    if (!s) {
        rc = BS_ENOMEM;
        goto out;
    }
    const msgpack_object_array *kss = &root->via.array.ptr[2].via.array;
    for (uint32_t i = 0; i < kss->size; i++)
        if ((rc = d_keyspace(&c, s, &kss->ptr[i]))) goto out;
    if (root->via.array.size == 4 &&
        (rc = d_tombstones(&c, s, &root->via.array.ptr[3])))
        goto out;
    s->timestamp_us = ts;
    bs__schema_recompute_version(s);
    *out = s;
    s = NULL;
    rc = 0;
out:
    if (s) bs_schema_release(s);
    msgpack_unpacked_destroy(&u);
    return rc;
}
