/*
 * schema.c - the schema catalog (see schema.h): representation, snapshot
 * lifecycle, drop tombstones, lookups and the version digest.  The
 * built-in keyspaces, the DDL mutators, serialization and merge live in
 * schema_builtin.c, schema_ddl.c, schema_codec.c and schema_merge.c
 * (shared internals: schema_int.h).
 *
 * Representation: a bs_schema owns an array of keyspaces sorted by name;
 * each keyspace owns its tables sorted by name.  Snapshots are immutable
 * once published; mutators run on a private clone (refcount 1) and
 * either succeed completely or leave it untouched (validate first, then
 * change).
 *
 * Version: an XXH3-128 digest of the serialized content (without the
 * schema timestamp), shaped like a version-3 UUID, so two nodes with the
 * same schema report the same version.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "common/error.h"
#include "query/schema_int.h"

/* ==================================================================== */
/* small helpers                                                          */
/* ==================================================================== */

char *bs__schema_xstrdup(const char *s) {
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

char *bs__schema_xstrndup(const char *s, size_t n) {
    char *d = malloc(n + 1);
    if (!d) return NULL;
    if (n) memcpy(d, s, n);
    d[n] = 0;
    return d;
}

int bs__schema_fail(char *err, size_t errlen, int code, const char *fmt, ...) {
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return code;
}

void bs__schema_option_free(bs_table_option *o) {
    free(o->name);
    free(o->value);
    for (size_t i = 0; i < o->nentries; i++) {
        free(o->keys[i]);
        free(o->values[i]);
    }
    free(o->keys);
    free(o->values);
}

int bs__schema_option_copy(bs_table_option *d, const bs_table_option *s) {
    memset(d, 0, sizeof *d);
    d->name = bs__schema_xstrdup(s->name);
    if (!d->name) return BS_ENOMEM;
    if (s->value && !(d->value = bs__schema_xstrdup(s->value))) goto oom;
    if (s->nentries) {
        d->keys = calloc(s->nentries, sizeof *d->keys);
        d->values = calloc(s->nentries, sizeof *d->values);
        if (!d->keys || !d->values) goto oom;
        for (size_t i = 0; i < s->nentries; i++) {
            d->nentries = i + 1;
            d->keys[i] = bs__schema_xstrdup(s->keys[i]);
            d->values[i] = bs__schema_xstrdup(s->values[i]);
            if (!d->keys[i] || !d->values[i]) goto oom;
        }
    }
    return 0;
oom:
    bs__schema_option_free(d);
    return BS_ENOMEM;
}

void bs__schema_table_free(bs_table_schema *t) {
    if (!t) return;
    free(t->keyspace);
    free(t->name);
    for (size_t i = 0; i < t->ncols; i++) {
        free(t->cols[i].name);
        bs_type_free(t->cols[i].type);
    }
    free(t->cols);
    for (size_t i = 0; i < t->nopts; i++)
        bs__schema_option_free(&t->opts[i]);
    free(t->opts);
    for (size_t i = 0; i < t->ndropped; i++) {
        free(t->dropped[i].name);
        bs_type_free(t->dropped[i].type);
    }
    free(t->dropped);
    free(t);
}

bs_table_schema *bs__schema_table_clone(const bs_table_schema *s) {
    bs_table_schema *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->keyspace = bs__schema_xstrdup(s->keyspace);
    t->name = bs__schema_xstrdup(s->name);
    t->id = s->id;
    t->npk = s->npk;
    t->nck = s->nck;
    t->default_ttl = s->default_ttl;
    t->gc_grace = s->gc_grace;
    t->next_col_id = s->next_col_id;
    t->ts_us = s->ts_us;
    if (!t->keyspace || !t->name) goto oom;
    if (s->ncols) {
        t->cols = calloc(s->ncols, sizeof *t->cols);
        if (!t->cols) goto oom;
        for (size_t i = 0; i < s->ncols; i++) {
            t->ncols = i + 1;
            t->cols[i] = s->cols[i];
            t->cols[i].name = bs__schema_xstrdup(s->cols[i].name);
            t->cols[i].type = bs_type_clone(s->cols[i].type);
            if (!t->cols[i].name || !t->cols[i].type) goto oom;
        }
    }
    if (s->nopts) {
        t->opts = calloc(s->nopts, sizeof *t->opts);
        if (!t->opts) goto oom;
        for (size_t i = 0; i < s->nopts; i++) {
            if (bs__schema_option_copy(&t->opts[i], &s->opts[i])) goto oom;
            t->nopts = i + 1;
        }
    }
    if (s->ndropped) {
        t->dropped = calloc(s->ndropped, sizeof *t->dropped);
        if (!t->dropped) goto oom;
        for (size_t i = 0; i < s->ndropped; i++) {
            t->ndropped = i + 1;
            t->dropped[i].dropped_time_us = s->dropped[i].dropped_time_us;
            t->dropped[i].name = bs__schema_xstrdup(s->dropped[i].name);
            t->dropped[i].type = bs_type_clone(s->dropped[i].type);
            if (!t->dropped[i].name || !t->dropped[i].type) goto oom;
        }
    }
    return t;
oom:
    bs__schema_table_free(t);
    return NULL;
}

void bs__schema_ks_free(bs_keyspace_schema *k) {
    if (!k) return;
    free(k->name);
    free(k->repl_class);
    for (size_t i = 0; i < k->nrepl; i++) {
        free(k->repl_keys[i]);
        free(k->repl_values[i]);
    }
    free(k->repl_keys);
    free(k->repl_values);
    for (size_t i = 0; i < k->ntables; i++)
        bs__schema_table_free(k->tables[i]);
    free(k->tables);
    free(k);
}

int bs__schema_ks_set_repl(bs_keyspace_schema *k, const char *cls, size_t n,
                           const char *const *keys, const char *const *values) {
    char *c = bs__schema_xstrdup(cls);
    char **nk = n ? calloc(n, sizeof *nk) : NULL;
    char **nv = n ? calloc(n, sizeof *nv) : NULL;
    if (!c || (n && (!nk || !nv))) goto oom;
    for (size_t i = 0; i < n; i++) {
        nk[i] = bs__schema_xstrdup(keys[i]);
        nv[i] = bs__schema_xstrdup(values[i]);
        if (!nk[i] || !nv[i]) goto oom;
    }
    for (size_t i = 0; i < k->nrepl; i++) {
        free(k->repl_keys[i]);
        free(k->repl_values[i]);
    }
    free(k->repl_keys);
    free(k->repl_values);
    free(k->repl_class);
    k->repl_class = c;
    k->repl_keys = nk;
    k->repl_values = nv;
    k->nrepl = n;
    return 0;
oom:
    free(c);
    for (size_t i = 0; i < n && nk && nv; i++) {
        free(nk[i]);
        free(nv[i]);
    }
    free(nk);
    free(nv);
    return BS_ENOMEM;
}

static bs_keyspace_schema *ks_clone(const bs_keyspace_schema *s) {
    bs_keyspace_schema *k = calloc(1, sizeof *k);
    if (!k) return NULL;
    k->name = bs__schema_xstrdup(s->name);
    k->durable_writes = s->durable_writes;
    k->system = s->system;
    k->ts_us = s->ts_us;
    k->created_us = s->created_us;
    if (!k->name || bs__schema_ks_set_repl(k, s->repl_class, s->nrepl,
                                           (const char *const *)s->repl_keys,
                                           (const char *const *)s->repl_values))
        goto oom;
    if (s->ntables) {
        k->tables = calloc(s->ntables, sizeof *k->tables);
        if (!k->tables) goto oom;
        for (size_t i = 0; i < s->ntables; i++) {
            k->tables[i] = bs__schema_table_clone(s->tables[i]);
            if (!k->tables[i]) goto oom;
            k->ntables = i + 1;
        }
    }
    return k;
oom:
    bs__schema_ks_free(k);
    return NULL;
}

/* ==================================================================== */
/* version digest                                                         */
/* ==================================================================== */

void bs__schema_recompute_version(bs_schema *s) {
    bs_buf b = BS_BUF_INIT;
    XXH128_hash_t h = {0, 0};
    int64_t ts = s->timestamp_us;
    s->timestamp_us = 0; /* the timestamp is not part of the content digest */
    if (bs_schema_encode(s, &b) == 0) h = XXH3_128bits(b.data, b.len);
    s->timestamp_us = ts;
    bs_buf_free(&b);
    bs_put_u64(s->version.b, h.high64);
    bs_put_u64(s->version.b + 8, h.low64);
    s->version.b[6] = (uint8_t)((s->version.b[6] & 0x0f) | 0x30); /* v3-like */
    s->version.b[8] = (uint8_t)((s->version.b[8] & 0x3f) | 0x80);
}

/* ---- tombstones ---------------------------------------------------- */

static void tombs_free(bs_tomb *t, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free(t[i].ks);
        free(t[i].table);
    }
    free(t);
}

static int tomb_match(const bs_tomb *t, const char *ks, const char *table) {
    if (strcmp(t->ks, ks) != 0) return 0;
    if (!table || !t->table) return !table && !t->table;
    return strcmp(t->table, table) == 0;
}

int64_t bs_schema_tombstone(const bs_schema *s, const char *ks,
                            const char *table) {
    for (size_t i = 0; i < s->ntombs; i++)
        if (tomb_match(&s->tombs[i], ks, table)) return s->tombs[i].ts;
    return 0;
}

void bs__schema_tomb_remove(bs_schema *s, const char *ks, const char *table) {
    for (size_t i = 0; i < s->ntombs; i++) {
        if (!tomb_match(&s->tombs[i], ks, table)) continue;
        free(s->tombs[i].ks);
        free(s->tombs[i].table);
        s->tombs[i] = s->tombs[--s->ntombs];
        return;
    }
}

/* Drops the table tombstones of keyspace ks (a keyspace drop or a new
 * keyspace supersedes them). */
void bs__schema_tomb_remove_tables(bs_schema *s, const char *ks) {
    for (size_t i = 0; i < s->ntombs;) {
        if (s->tombs[i].table && strcmp(s->tombs[i].ks, ks) == 0) {
            free(s->tombs[i].ks);
            free(s->tombs[i].table);
            s->tombs[i] = s->tombs[--s->ntombs];
        } else {
            i++;
        }
    }
}

/* Sets (or raises) a tombstone.  0 or BS_ENOMEM. */
int bs__schema_tomb_set(bs_schema *s, const char *ks, const char *table,
                        int64_t ts) {
    for (size_t i = 0; i < s->ntombs; i++) {
        if (tomb_match(&s->tombs[i], ks, table)) {
            if (ts > s->tombs[i].ts) s->tombs[i].ts = ts;
            return 0;
        }
    }
    bs_tomb *nt = realloc(s->tombs, (s->ntombs + 1) * sizeof *nt);
    if (!nt) return BS_ENOMEM;
    s->tombs = nt;
    bs_tomb *t = &nt[s->ntombs];
    t->ks = bs__schema_xstrdup(ks);
    t->table = table ? bs__schema_xstrdup(table) : NULL;
    t->ts = ts;
    if (!t->ks || (table && !t->table)) {
        free(t->ks);
        free(t->table);
        return BS_ENOMEM;
    }
    s->ntombs++;
    return 0;
}

/* The stamp of a change made at now_us over something stamped prev. */
int64_t bs__schema_stamp(int64_t now_us, int64_t prev) {
    return now_us > prev ? now_us : prev + 1;
}

bs_schema *bs_schema_new(void) {
    bs_schema *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    atomic_init(&s->refs, 1);
    if (bs__schema_add_builtin(s)) {
        bs_schema_release(s);
        return NULL;
    }
    s->timestamp_us = 0;
    bs__schema_recompute_version(s);
    return s;
}

bs_schema *bs_schema_clone(const bs_schema *src) {
    bs_schema *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    atomic_init(&s->refs, 1);
    s->timestamp_us = src->timestamp_us;
    s->version = src->version;
    for (size_t i = 0; i < src->ntombs; i++)
        if (bs__schema_tomb_set(s, src->tombs[i].ks, src->tombs[i].table,
                                src->tombs[i].ts))
            goto oom;
    if (src->nks) {
        s->ks = calloc(src->nks, sizeof *s->ks);
        if (!s->ks) goto oom;
        for (size_t i = 0; i < src->nks; i++) {
            s->ks[i] = ks_clone(src->ks[i]);
            if (!s->ks[i]) goto oom;
            s->nks = i + 1;
        }
    }
    return s;
oom:
    bs_schema_release(s);
    return NULL;
}

bs_schema *bs_schema_retain(bs_schema *s) {
    atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
    return s;
}

void bs_schema_release(bs_schema *s) {
    if (!s) return;
    if (atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
        return;
    for (size_t i = 0; i < s->nks; i++)
        bs__schema_ks_free(s->ks[i]);
    free(s->ks);
    tombs_free(s->tombs, s->ntombs);
    free(s);
}

/* ==================================================================== */
/* lookups                                                                */
/* ==================================================================== */

size_t bs_schema_nkeyspaces(const bs_schema *s) {
    return s->nks;
}

const bs_keyspace_schema *bs_schema_keyspace_at(const bs_schema *s, size_t i) {
    return i < s->nks ? s->ks[i] : NULL;
}

size_t bs__schema_ks_index(const bs_schema *s, const char *name, int *found) {
    size_t lo = 0, hi = s->nks;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(s->ks[mid]->name, name);
        if (c == 0) {
            *found = 1;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = 0;
    return lo;
}

size_t bs__schema_table_index(const bs_keyspace_schema *k, const char *name,
                              int *found) {
    size_t lo = 0, hi = k->ntables;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(k->tables[mid]->name, name);
        if (c == 0) {
            *found = 1;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = 0;
    return lo;
}

const bs_keyspace_schema *bs_schema_keyspace(const bs_schema *s,
                                             const char *ks) {
    int found;
    size_t i = bs__schema_ks_index(s, ks, &found);
    return found ? s->ks[i] : NULL;
}

const bs_table_schema *bs_schema_table(const bs_schema *s, const char *ks,
                                       const char *table) {
    const bs_keyspace_schema *k = bs_schema_keyspace(s, ks);
    if (!k) return NULL;
    int found;
    size_t i = bs__schema_table_index(k, table, &found);
    return found ? k->tables[i] : NULL;
}

const bs_table_schema *bs_schema_table_by_id(const bs_schema *s,
                                             const bs_uuid *id) {
    for (size_t i = 0; i < s->nks; i++)
        for (size_t j = 0; j < s->ks[i]->ntables; j++)
            if (!memcmp(s->ks[i]->tables[j]->id.b, id->b, 16))
                return s->ks[i]->tables[j];
    return NULL;
}

const bs_column *bs_table_column(const bs_table_schema *t, const char *name) {
    for (size_t i = 0; i < t->ncols; i++)
        if (!strcmp(t->cols[i].name, name)) return &t->cols[i];
    return NULL;
}

const bs_column *bs_table_column_by_id(const bs_table_schema *t, uint16_t id) {
    for (size_t i = 0; i < t->ncols; i++)
        if (t->cols[i].id == id) return &t->cols[i];
    return NULL;
}

const bs_table_option *bs_table_option_get(const bs_table_schema *t,
                                           const char *name) {
    for (size_t i = 0; i < t->nopts; i++)
        if (!strcmp(t->opts[i].name, name)) return &t->opts[i];
    return NULL;
}

void bs_table_cf_name(const bs_table_schema *t, char *out, size_t outlen) {
    snprintf(out, outlen, "%s.%s", t->keyspace, t->name);
}

void bs_schema_version(const bs_schema *s, bs_uuid *out) {
    *out = s->version;
}
int64_t bs_schema_timestamp(const bs_schema *s) {
    return s->timestamp_us;
}
