/*
 * schema_merge.c - convergence of concurrent DDL: bs_schema_merge (the
 * rule is in schema.h).  Per keyspace name and, inside a live keyspace,
 * per table name, the candidate with the highest stamp wins among the
 * two sides' live objects and tombstones (a tombstone wins a tie; live
 * objects with equal stamps are ordered by their serialized bytes), so
 * the merge is commutative, associative and idempotent.  Two live
 * versions of one table (the same id) also pool their columns
 * (union_columns).
 */
#include <ctype.h>
#include <msgpack.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "query/schema_int.h"

/* ==================================================================== */
/* merge (see schema.h for the rule)                                      */
/* ==================================================================== */

static const bs_keyspace_schema *user_ks(const bs_schema *s, const char *name) {
    const bs_keyspace_schema *k = bs_schema_keyspace(s, name);
    return k && !k->system ? k : NULL;
}

static const bs_table_schema *ks_table(const bs_keyspace_schema *k,
                                       const char *name) {
    if (!k) return NULL;
    int found;
    size_t i = bs__schema_table_index(k, name, &found);
    return found ? k->tables[i] : NULL;
}

/* Orders two candidates with equal stamps by their serialized bytes. */
static int bytes_cmp(const bs_buf *x, const bs_buf *y) {
    size_t n = x->len < y->len ? x->len : y->len;
    int c = n ? memcmp(x->data, y->data, n) : 0;
    if (c) return c;
    return x->len < y->len ? -1 : x->len > y->len;
}

static void pk_ks_attrs(bs_buf *b, const bs_keyspace_schema *k) {
    msgpack_packer p;
    msgpack_packer_init(&p, b, bs_buf_pack_write);
    msgpack_pack_array(&p, 4);
    if (k->durable_writes)
        msgpack_pack_true(&p);
    else
        msgpack_pack_false(&p);
    bs__schema_pk_str(&p, k->repl_class);
    bs__schema_pk_strmap(&p, k->nrepl, k->repl_keys, k->repl_values);
    msgpack_pack_int64(&p, k->created_us);
}

static const bs_keyspace_schema *pick_ks(const bs_keyspace_schema *x,
                                         const bs_keyspace_schema *y) {
    if (!x || !y) return x ? x : y;
    if (x->ts_us != y->ts_us) return x->ts_us > y->ts_us ? x : y;
    bs_buf bx = BS_BUF_INIT, by = BS_BUF_INIT;
    pk_ks_attrs(&bx, x);
    pk_ks_attrs(&by, y);
    int c = bytes_cmp(&bx, &by);
    bs_buf_free(&bx);
    bs_buf_free(&by);
    return c >= 0 ? x : y;
}

static const bs_table_schema *pick_table(const bs_table_schema *x,
                                         const bs_table_schema *y) {
    if (!x || !y) return x ? x : y;
    if (x->ts_us != y->ts_us) return x->ts_us > y->ts_us ? x : y;
    bs_buf bx = BS_BUF_INIT, by = BS_BUF_INIT;
    msgpack_packer p;
    msgpack_packer_init(&p, &bx, bs_buf_pack_write);
    bs__schema_pk_table(&p, x);
    msgpack_packer_init(&p, &by, bs_buf_pack_write);
    bs__schema_pk_table(&p, y);
    int c = bytes_cmp(&bx, &by);
    bs_buf_free(&bx);
    bs_buf_free(&by);
    return c >= 0 ? x : y;
}

static int name_cmp_ks(const void *a, const void *b) {
    return strcmp((*(bs_keyspace_schema *const *)a)->name,
                  (*(bs_keyspace_schema *const *)b)->name);
}

static int name_cmp_table(const void *a, const void *b) {
    return strcmp((*(bs_table_schema *const *)a)->name,
                  (*(bs_table_schema *const *)b)->name);
}

/* Appends name to a set of borrowed strings (no duplicates). */
static int names_add(const char ***v, size_t *n, const char *name) {
    for (size_t i = 0; i < *n; i++)
        if (strcmp((*v)[i], name) == 0) return 0;
    const char **nv = realloc(*v, (*n + 1) * sizeof *nv);
    if (!nv) return BS_ENOMEM;
    nv[(*n)++] = name;
    *v = nv;
    return 0;
}

static int dropped_in(const bs_table_schema *t, const char *name) {
    for (size_t i = 0; i < t->ndropped; i++)
        if (!strcmp(t->dropped[i].name, name)) return 1;
    return 0;
}

/* Two versions of one table (the same id: created by both sides, see
 * bs_schema_shared_table_id): the winner's clone c also gets the columns
 * only the other version o has, unless c dropped that name or holds its
 * id.  Concurrent additions of different columns thus all survive.  0 or
 * BS_ENOMEM. */
static int union_columns(bs_table_schema *c, const bs_table_schema *o) {
    for (size_t i = 0; i < o->ncols; i++) {
        const bs_column *oc = &o->cols[i];
        if (oc->kind <= BS_COL_CLUSTERING || bs_table_column(c, oc->name) ||
            bs_table_column_by_id(c, oc->id) || dropped_in(c, oc->name))
            continue;
        bs_column *nc = realloc(c->cols, (c->ncols + 1) * sizeof *nc);
        if (!nc) return BS_ENOMEM;
        c->cols = nc;
        bs_column *d = &nc[c->ncols];
        *d = *oc;
        d->name = bs__schema_xstrdup(oc->name);
        d->type = bs_type_clone(oc->type);
        if (!d->name || !d->type) {
            free(d->name);
            bs_type_free(d->type);
            return BS_ENOMEM;
        }
        c->ncols++;
    }
    if (o->next_col_id > c->next_col_id) c->next_col_id = o->next_col_id;
    qsort(c->cols, c->ncols, sizeof *c->cols, bs__schema_col_order);
    return 0;
}

/* Merges the tables of keyspace `name` into k (a fresh keyspace holding
 * the winner's attributes and no tables). */
static int merge_tables(bs_schema *s, bs_keyspace_schema *k, const bs_schema *a,
                        const bs_schema *b, const char *name) {
    const bs_keyspace_schema *ka = user_ks(a, name), *kb = user_ks(b, name);
    const char **tn = NULL;
    size_t ntn = 0;
    int rc = 0;
    const bs_schema *both[2] = {a, b};
    const bs_keyspace_schema *kk[2] = {ka, kb};
    for (int side = 0; side < 2 && !rc; side++) {
        for (size_t i = 0; kk[side] && i < kk[side]->ntables && !rc; i++)
            rc = names_add(&tn, &ntn, kk[side]->tables[i]->name);
        for (size_t i = 0; i < both[side]->ntombs && !rc; i++)
            if (both[side]->tombs[i].table &&
                strcmp(both[side]->tombs[i].ks, name) == 0)
                rc = names_add(&tn, &ntn, both[side]->tombs[i].table);
    }
    for (size_t i = 0; i < ntn && !rc; i++) {
        const bs_table_schema *ta = ks_table(ka, tn[i]),
                              *tb = ks_table(kb, tn[i]);
        if (ta && ta->ts_us < k->created_us) ta = NULL; /* older incarnation */
        if (tb && tb->ts_us < k->created_us) tb = NULL;
        int64_t tomb = bs_schema_tombstone(a, name, tn[i]);
        int64_t t2 = bs_schema_tombstone(b, name, tn[i]);
        if (t2 > tomb) tomb = t2;
        if (tomb < k->created_us) tomb = 0;
        const bs_table_schema *w = pick_table(ta, tb);
        if (w && w->ts_us > tomb) {
            bs_table_schema *c = bs__schema_table_clone(w);
            const bs_table_schema *o = w == ta ? tb : ta;
            if (c && o && !memcmp(o->id.b, w->id.b, 16) && union_columns(c, o)) {
                bs__schema_table_free(c);
                rc = BS_ENOMEM;
                break;
            }
            bs_table_schema **nt =
                c ? realloc(k->tables, (k->ntables + 1) * sizeof *nt) : NULL;
            if (!nt) {
                bs__schema_table_free(c);
                rc = BS_ENOMEM;
                break;
            }
            k->tables = nt;
            nt[k->ntables++] = c;
        } else if (tomb) {
            rc = bs__schema_tomb_set(s, name, tn[i], tomb);
        }
    }
    free(tn);
    if (k->ntables > 1)
        qsort(k->tables, k->ntables, sizeof *k->tables, name_cmp_table);
    return rc;
}

int bs_schema_merge(const bs_schema *a, const bs_schema *b, bs_schema **out) {
    *out = NULL;
    bs_schema *s = bs_schema_new();
    if (!s) return BS_ENOMEM;
    s->timestamp_us =
        a->timestamp_us > b->timestamp_us ? a->timestamp_us : b->timestamp_us;
    const char **names = NULL;
    size_t nn = 0;
    int rc = 0;
    const bs_schema *both[2] = {a, b};
    for (int side = 0; side < 2 && !rc; side++) {
        const bs_schema *x = both[side];
        for (size_t i = 0; i < x->nks && !rc; i++)
            if (!x->ks[i]->system) rc = names_add(&names, &nn, x->ks[i]->name);
        for (size_t i = 0; i < x->ntombs && !rc; i++)
            if (!x->tombs[i].table) rc = names_add(&names, &nn, x->tombs[i].ks);
    }
    for (size_t i = 0; i < nn && !rc; i++) {
        const char *name = names[i];
        /* a built-in name can never be a user keyspace */
        const bs_keyspace_schema *builtin = bs_schema_keyspace(s, name);
        if (builtin) continue;
        int64_t tomb = bs_schema_tombstone(a, name, NULL);
        int64_t t2 = bs_schema_tombstone(b, name, NULL);
        if (t2 > tomb) tomb = t2;
        const bs_keyspace_schema *w =
            pick_ks(user_ks(a, name), user_ks(b, name));
        if (!w || w->ts_us <= tomb) {
            if (tomb) rc = bs__schema_tomb_set(s, name, NULL, tomb);
            continue;
        }
        bs_keyspace_schema *k = calloc(1, sizeof *k);
        if (!k) {
            rc = BS_ENOMEM;
            break;
        }
        k->name = bs__schema_xstrdup(w->name);
        k->durable_writes = w->durable_writes;
        k->ts_us = w->ts_us;
        k->created_us = w->created_us;
        if (!k->name ||
            bs__schema_ks_set_repl(k, w->repl_class, w->nrepl,
                                   (const char *const *)w->repl_keys,
                                   (const char *const *)w->repl_values)) {
            bs__schema_ks_free(k);
            rc = BS_ENOMEM;
            break;
        }
        bs_keyspace_schema **nk = realloc(s->ks, (s->nks + 1) * sizeof *nk);
        if (!nk) {
            bs__schema_ks_free(k);
            rc = BS_ENOMEM;
            break;
        }
        s->ks = nk;
        nk[s->nks++] = k;
        rc = merge_tables(s, k, a, b, name);
    }
    free(names);
    if (rc) {
        bs_schema_release(s);
        return rc;
    }
    qsort(s->ks, s->nks, sizeof *s->ks, name_cmp_ks);
    bs__schema_recompute_version(s);
    *out = s;
    return 0;
}
