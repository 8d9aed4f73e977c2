/*
 * schema_ddl.c - validation and the DDL mutators of the schema catalog
 * (CREATE/ALTER/DROP KEYSPACE, CREATE/ALTER/DROP TABLE, table options).
 *
 * Every mutator works on a private clone (refcount 1), validates first
 * with Cassandra's rules and messages (names, replication strategy and
 * options, primary key shape, types allowed in keys, static columns,
 * table options), then changes the clone, stamps what changed (see
 * schema.h, "convergence") and recomputes the version.  On error the
 * schema is unchanged.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "common/error.h"
#include "common/buf.h"
#include "query/schema_int.h"

/* ==================================================================== */
/* keyspace DDL                                                           */
/* ==================================================================== */

static int valid_name(const char *n) {
    size_t len = strlen(n);
    if (len == 0 || len > 48) return 0;
    for (size_t i = 0; i < len; i++)
        if (!isalnum((unsigned char)n[i]) && n[i] != '_') return 0;
    return 1;
}

static const char *qualify_class(const char *cls) {
    if (!strcmp(cls, "SimpleStrategy"))
        return "org.apache.cassandra.locator.SimpleStrategy";
    if (!strcmp(cls, "NetworkTopologyStrategy"))
        return "org.apache.cassandra.locator.NetworkTopologyStrategy";
    if (!strcmp(cls, "LocalStrategy"))
        return "org.apache.cassandra.locator.LocalStrategy";
    return cls;
}

static int parse_rf(const char *v) {
    if (!v || !*v) return -1;
    long n = 0;
    for (const char *p = v; *p; p++) {
        if (!isdigit((unsigned char)*p)) return -1;
        n = n * 10 + (*p - '0');
        if (n > 1000) return -1;
    }
    return (int)n;
}

static int check_replication(const char *cls, size_t n, const char *const *keys,
                             const char *const *values, char *err,
                             size_t errlen) {
    if (!cls)
        return bs__schema_fail(err, errlen, BS_ECONFIG,
                               "Missing replication strategy class");
    if (!strcmp(cls, "org.apache.cassandra.locator.SimpleStrategy")) {
        int have = 0;
        for (size_t i = 0; i < n; i++) {
            if (strcmp(keys[i], "replication_factor"))
                return bs__schema_fail(
                    err, errlen, BS_ECONFIG,
                    "Unrecognized strategy option {%s} passed to "
                    "SimpleStrategy",
                    keys[i]);
            if (parse_rf(values[i]) < 0)
                return bs__schema_fail(
                    err, errlen, BS_ECONFIG,
                    "Replication factor must be non-negative; found %s",
                    values[i]);
            have = 1;
        }
        if (!have)
            return bs__schema_fail(
                err, errlen, BS_ECONFIG,
                "SimpleStrategy requires a replication_factor strategy "
                "option.");
        return 0;
    }
    if (!strcmp(cls, "org.apache.cassandra.locator.NetworkTopologyStrategy")) {
        for (size_t i = 0; i < n; i++)
            if (parse_rf(values[i]) < 0)
                return bs__schema_fail(
                    err, errlen, BS_ECONFIG,
                    "Replication factor must be non-negative; found %s",
                    values[i]);
        return 0;
    }
    if (!strcmp(cls, "org.apache.cassandra.locator.LocalStrategy")) return 0;
    return bs__schema_fail(err, errlen, BS_ECONFIG,
                           "Unable to find replication strategy class '%s'",
                           cls);
}

int bs_schema_create_keyspace(bs_schema *s, const char *name,
                              const char *repl_class, size_t nrepl,
                              const char *const *keys,
                              const char *const *values, int durable_writes,
                              int64_t now_us, char *err, size_t errlen) {
    if (!valid_name(name))
        return bs__schema_fail(
            err, errlen, BS_EINVAL,
            "Keyspace name must not be empty, more than 48 characters "
            "long, or contain non-alphanumeric-underscore characters "
            "(got \"%s\")",
            name);
    const char *cls = repl_class ? qualify_class(repl_class) : NULL;
    int rc = check_replication(cls, nrepl, keys, values, err, errlen);
    if (rc) return rc;
    int found;
    size_t at = bs__schema_ks_index(s, name, &found);
    if (found)
        return bs__schema_fail(err, errlen, BS_EEXIST,
                               "Keyspace %s already exists", name);
    bs_keyspace_schema *k = calloc(1, sizeof *k);
    if (!k) return BS_ENOMEM;
    k->name = bs__schema_xstrdup(name);
    k->durable_writes = durable_writes;
    k->ts_us = k->created_us =
        bs__schema_stamp(now_us, bs_schema_tombstone(s, name, NULL));
    if (!k->name || bs__schema_ks_set_repl(k, cls, nrepl, keys, values)) {
        bs__schema_ks_free(k);
        return BS_ENOMEM;
    }
    bs_keyspace_schema **nk = realloc(s->ks, (s->nks + 1) * sizeof *nk);
    if (!nk) {
        bs__schema_ks_free(k);
        return BS_ENOMEM;
    }
    s->ks = nk;
    memmove(&s->ks[at + 1], &s->ks[at], (s->nks - at) * sizeof *nk);
    s->ks[at] = k;
    s->nks++;
    bs__schema_tomb_remove(s, name, NULL);
    bs__schema_tomb_remove_tables(s, name);
    if (now_us > s->timestamp_us) s->timestamp_us = now_us;
    bs__schema_recompute_version(s);
    return 0;
}

int bs_schema_create_shared_keyspace(bs_schema *s, const char *name,
                                     const char *repl_class, size_t nrepl,
                                     const char *const *keys,
                                     const char *const *values, int64_t now_us,
                                     char *err, size_t errlen) {
    int64_t dropped = bs_schema_tombstone(s, name, NULL);
    int rc = bs_schema_create_keyspace(s, name, repl_class, nrepl, keys, values,
                                       1, now_us, err, errlen);
    if (rc) return rc;
    int found;
    size_t at = bs__schema_ks_index(s, name, &found);
    s->ks[at]->created_us = dropped + 1;
    bs__schema_recompute_version(s);
    return 0;
}

void bs_schema_shared_table_id(const bs_schema *s, const char *ks,
                               const char *name, bs_uuid *out) {
    const bs_keyspace_schema *k = bs_schema_keyspace(s, ks);
    size_t nk = strlen(ks), nn = strlen(name);
    if (nk > 255) nk = 255;
    if (nn > 255) nn = 255;
    uint8_t buf[255 * 2 + 2 + 16];
    memcpy(buf, ks, nk);
    buf[nk] = 0;
    memcpy(buf + nk + 1, name, nn);
    buf[nk + 1 + nn] = 0;
    uint8_t *p = buf + nk + nn + 2;
    bs_put_u64(p, (uint64_t)(k ? k->created_us : 0));
    bs_put_u64(p + 8, (uint64_t)bs_schema_tombstone(s, ks, name));
    XXH128_hash_t h = XXH3_128bits(buf, (size_t)(p + 16 - buf));
    bs_put_u64(out->b, h.high64);
    bs_put_u64(out->b + 8, h.low64);
    out->b[6] = (uint8_t)((out->b[6] & 0x0f) | 0x80); /* version 8 */
    out->b[8] = (uint8_t)((out->b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
}

static int user_keyspace(bs_schema *s, const char *name,
                         bs_keyspace_schema **out, char *err, size_t errlen) {
    int found;
    size_t i = bs__schema_ks_index(s, name, &found);
    if (!found)
        return bs__schema_fail(err, errlen, BS_ENOTFOUND,
                               "Keyspace '%s' does not exist", name);
    if (s->ks[i]->system)
        return bs__schema_fail(err, errlen, BS_EINVAL,
                               "%s keyspace is not user-modifiable", name);
    *out = s->ks[i];
    return 0;
}

int bs_schema_alter_keyspace(bs_schema *s, const char *name,
                             const char *repl_class, size_t nrepl,
                             const char *const *keys, const char *const *values,
                             int durable_writes, int64_t now_us, char *err,
                             size_t errlen) {
    bs_keyspace_schema *k = NULL;
    int rc = user_keyspace(s, name, &k, err, errlen);
    if (rc) return rc;
    if (repl_class) {
        const char *cls = qualify_class(repl_class);
        rc = check_replication(cls, nrepl, keys, values, err, errlen);
        if (rc) return rc;
        rc = bs__schema_ks_set_repl(k, cls, nrepl, keys, values);
        if (rc) return rc;
    }
    if (durable_writes >= 0) k->durable_writes = durable_writes;
    k->ts_us = bs__schema_stamp(now_us, k->ts_us);
    if (now_us > s->timestamp_us) s->timestamp_us = now_us;
    bs__schema_recompute_version(s);
    return 0;
}

int bs_schema_drop_keyspace(bs_schema *s, const char *name, int64_t now_us,
                            char *err, size_t errlen) {
    bs_keyspace_schema *k = NULL;
    int rc = user_keyspace(s, name, &k, err, errlen);
    if (rc) return rc;
    int found;
    size_t i = bs__schema_ks_index(s, name, &found);
    int64_t latest = k->ts_us;
    for (size_t j = 0; j < k->ntables; j++)
        if (k->tables[j]->ts_us > latest) latest = k->tables[j]->ts_us;
    for (size_t j = 0; j < s->ntombs; j++)
        if (s->tombs[j].table && strcmp(s->tombs[j].ks, name) == 0 &&
            s->tombs[j].ts > latest)
            latest = s->tombs[j].ts;
    if (bs__schema_tomb_set(s, name, NULL, bs__schema_stamp(now_us, latest)))
        return BS_ENOMEM;
    bs__schema_tomb_remove_tables(s, name);
    bs__schema_ks_free(k);
    memmove(&s->ks[i], &s->ks[i + 1], (s->nks - i - 1) * sizeof *s->ks);
    s->nks--;
    if (now_us > s->timestamp_us) s->timestamp_us = now_us;
    bs__schema_recompute_version(s);
    return 0;
}

/* ==================================================================== */
/* table DDL                                                              */
/* ==================================================================== */

static int type_has_kind(const bs_type *t, bs_type_kind k) {
    if (t->kind == k) return 1;
    for (unsigned i = 0; i < t->nparams; i++)
        if (type_has_kind(t->params[i], k)) return 1;
    return 0;
}

int bs__schema_col_order(const void *a, const void *b) {
    const bs_column *x = a, *y = b;
    if (x->kind != y->kind) {
        /* pk, clustering, then regular and static together by name */
        int kx = x->kind <= BS_COL_CLUSTERING ? (int)x->kind : 2;
        int ky = y->kind <= BS_COL_CLUSTERING ? (int)y->kind : 2;
        if (kx != ky) return kx - ky;
    }
    if (x->kind <= BS_COL_CLUSTERING && x->kind == y->kind)
        return x->position - y->position;
    return strcmp(x->name, y->name);
}

static int apply_option(bs_table_schema *t, const bs_table_option *o, char *err,
                        size_t errlen) {
    if (!strcmp(o->name, "default_time_to_live") ||
        !strcmp(o->name, "gc_grace_seconds")) {
        if (!o->value)
            return bs__schema_fail(err, errlen, BS_ECONFIG,
                                   "%s must be an integer", o->name);
        char *end;
        long long v = strtoll(o->value, &end, 10);
        if (*end || end == o->value || v < 0 || v > 630720000)
            return bs__schema_fail(
                err, errlen, BS_ECONFIG,
                "%s must be an integer between 0 and 630720000, got %s",
                o->name, o->value);
        if (o->name[0] == 'd')
            t->default_ttl = v;
        else
            t->gc_grace = v;
        return 0;
    }
    static const char *const known[] = {"bloom_filter_fp_chance",
                                        "caching",
                                        "cdc",
                                        "comment",
                                        "compaction",
                                        "compression",
                                        "crc_check_chance",
                                        "dclocal_read_repair_chance",
                                        "extensions",
                                        "max_index_interval",
                                        "memtable_flush_period_in_ms",
                                        "min_index_interval",
                                        "read_repair_chance",
                                        "read_repair",
                                        "speculative_retry",
                                        "additional_write_policy",
                                        "memtable",
                                        "allow_auto_snapshot",
                                        "incremental_backups"};
    int ok = 0;
    for (size_t i = 0; i < sizeof known / sizeof *known; i++)
        if (!strcmp(o->name, known[i])) ok = 1;
    if (!ok)
        return bs__schema_fail(err, errlen, BS_ECONFIG, "Unknown property '%s'",
                               o->name);
    /* replace or insert, sorted by name */
    size_t at = 0;
    while (at < t->nopts && strcmp(t->opts[at].name, o->name) < 0)
        at++;
    bs_table_option copy;
    int rc = bs__schema_option_copy(&copy, o);
    if (rc) return rc;
    if (at < t->nopts && !strcmp(t->opts[at].name, o->name)) {
        bs__schema_option_free(&t->opts[at]);
        t->opts[at] = copy;
        return 0;
    }
    bs_table_option *no = realloc(t->opts, (t->nopts + 1) * sizeof *no);
    if (!no) {
        bs__schema_option_free(&copy);
        return BS_ENOMEM;
    }
    t->opts = no;
    memmove(&t->opts[at + 1], &t->opts[at], (t->nopts - at) * sizeof *no);
    t->opts[at] = copy;
    t->nopts++;
    return 0;
}

/* Any column's type: no deeper than BS_TYPE_MAX_DEPTH. */
static int check_type_depth(const char *col, const bs_type *t, char *err,
                            size_t errlen) {
    if (bs_type_depth(t, BS_TYPE_MAX_DEPTH + 1) <= BS_TYPE_MAX_DEPTH) return 0;
    return bs__schema_fail(err, errlen, BS_EINVAL,
                           "The type of column %s is nested too deeply (at "
                           "most %d levels)",
                           col, BS_TYPE_MAX_DEPTH);
}

/* A primary-key column's type: frozen, no counter, no duration. */
static int check_key_type(const bs_column_def *d, char *err, size_t errlen) {
    if (bs_type_is_multicell(d->type))
        return bs__schema_fail(err, errlen, BS_EINVAL,
                               "Invalid non-frozen collection type for PRIMARY "
                               "KEY component %s",
                               d->name);
    if (type_has_kind(d->type, BS_TYPE_COUNTER))
        return bs__schema_fail(err, errlen, BS_EINVAL,
                               "counter type is not supported for PRIMARY KEY "
                               "column '%s'",
                               d->name);
    if (type_has_kind(d->type, BS_TYPE_DURATION))
        return bs__schema_fail(err, errlen, BS_EINVAL,
                               "duration type is not supported for PRIMARY KEY "
                               "column '%s'",
                               d->name);
    return 0;
}

/* Validates CREATE TABLE column definitions (Cassandra's messages) and
 * counts the partition key and clustering columns. */
static int check_column_defs(const char *name, const bs_column_def *defs,
                             size_t ndefs, size_t *npkp, size_t *nckp,
                             char *err, size_t errlen) {
    size_t npk = 0, nck = 0, nstatic = 0;
    for (size_t i = 0; i < ndefs; i++) {
        const bs_column_def *d = &defs[i];
        for (size_t j = 0; j < i; j++)
            if (!strcmp(defs[j].name, d->name))
                return bs__schema_fail(err, errlen, BS_EINVAL,
                                       "Multiple definition of identifier %s",
                                       d->name);
        if (check_type_depth(d->name, d->type, err, errlen)) return BS_EINVAL;
        if ((d->kind == BS_COL_PARTITION_KEY || d->kind == BS_COL_CLUSTERING) &&
            check_key_type(d, err, errlen))
            return BS_EINVAL;
        if (d->kind == BS_COL_PARTITION_KEY)
            npk++;
        else if (d->kind == BS_COL_CLUSTERING)
            nck++;
        else if (d->kind == BS_COL_STATIC)
            nstatic++;
    }
    if (npk == 0)
        return bs__schema_fail(
            err, errlen, BS_EINVAL,
            "No PRIMARY KEY specifed for table '%s' (exactly one "
            "required)",
            name);
    if (nstatic && nck == 0)
        return bs__schema_fail(
            err, errlen, BS_EINVAL,
            "Static columns are only useful (and thus allowed) if the "
            "table has at least one clustering column");
    for (size_t i = 0; i < ndefs; i++) {
        const bs_column_def *d = &defs[i];
        if (d->kind != BS_COL_PARTITION_KEY && d->kind != BS_COL_CLUSTERING)
            continue;
        size_t lim = d->kind == BS_COL_PARTITION_KEY ? npk : nck;
        if (d->position < 0 || (size_t)d->position >= lim)
            return bs__schema_fail(err, errlen, BS_EINVAL,
                                   "bad key position %d for column %s",
                                   d->position, d->name);
        for (size_t j = 0; j < i; j++)
            if (defs[j].kind == d->kind && defs[j].position == d->position)
                return bs__schema_fail(err, errlen, BS_EINVAL,
                                       "duplicate key position %d",
                                       d->position);
    }
    *npkp = npk;
    *nckp = nck;
    return 0;
}

/* A new table ks.name (id NULL: random) with the columns of defs in
 * Cassandra's layout and ids in that order.  0 or BS_ENOMEM. */
static int new_table(const char *ks, const char *name, const bs_uuid *id,
                     const bs_column_def *defs, size_t ndefs,
                     bs_table_schema **out) {
    bs_table_schema *t = calloc(1, sizeof *t);
    if (!t) return BS_ENOMEM;
    t->keyspace = bs__schema_xstrdup(ks);
    t->name = bs__schema_xstrdup(name);
    t->cols = calloc(ndefs, sizeof *t->cols);
    t->gc_grace = 864000;
    if (!t->keyspace || !t->name || !t->cols) goto oom;
    if (id)
        t->id = *id;
    else if (bs_uuid_v4(&t->id))
        goto oom;
    for (size_t i = 0; i < ndefs; i++) {
        bs_column *c = &t->cols[i];
        t->ncols = i + 1;
        c->name = bs__schema_xstrdup(defs[i].name);
        c->type = bs_type_clone(defs[i].type);
        if (!c->name || !c->type) goto oom;
        c->kind = defs[i].kind;
        c->position = c->kind <= BS_COL_CLUSTERING ? defs[i].position : -1;
        c->desc = c->kind == BS_COL_CLUSTERING ? defs[i].desc : 0;
    }
    qsort(t->cols, t->ncols, sizeof *t->cols, bs__schema_col_order);
    /* ids in schema order so every node assigns the same ones */
    for (size_t i = 0; i < t->ncols; i++)
        t->cols[i].id = (uint16_t)(BS_SCHEMA_FIRST_COLUMN_ID + i);
    t->next_col_id = (uint16_t)(BS_SCHEMA_FIRST_COLUMN_ID + t->ncols);
    *out = t;
    return 0;
oom:
    bs__schema_table_free(t);
    return BS_ENOMEM;
}

int bs_schema_create_table(bs_schema *s, const char *ks, const char *name,
                           const bs_uuid *id, const bs_column_def *defs,
                           size_t ndefs, const bs_table_option *opts,
                           size_t nopts, int64_t now_us, char *err,
                           size_t errlen) {
    int found;
    size_t ki = bs__schema_ks_index(s, ks, &found);
    if (!found)
        return bs__schema_fail(err, errlen, BS_ENOTFOUND,
                               "Keyspace '%s' does not exist", ks);
    bs_keyspace_schema *k = s->ks[ki];
    if (!valid_name(name))
        return bs__schema_fail(
            err, errlen, BS_EINVAL,
            "Table name must not be empty, more than 48 characters "
            "long, or contain non-alphanumeric-underscore characters "
            "(got \"%s\")",
            name);
    size_t at = bs__schema_table_index(k, name, &found);
    if (found)
        return bs__schema_fail(err, errlen, BS_EEXIST,
                               "Table %s.%s already exists", ks, name);
    size_t npk = 0, nck = 0;
    int rc = check_column_defs(name, defs, ndefs, &npk, &nck, err, errlen);
    if (rc) return rc;
    bs_table_schema *t;
    if ((rc = new_table(ks, name, id, defs, ndefs, &t))) return rc;
    t->npk = npk;
    t->nck = nck;
    for (size_t i = 0; i < nopts; i++) {
        rc = apply_option(t, &opts[i], err, errlen);
        if (rc) {
            bs__schema_table_free(t);
            return rc;
        }
    }
    bs_table_schema **nt = realloc(k->tables, (k->ntables + 1) * sizeof *nt);
    if (!nt) goto oom;
    k->tables = nt;
    memmove(&k->tables[at + 1], &k->tables[at], (k->ntables - at) * sizeof *nt);
    k->tables[at] = t;
    k->ntables++;
    {
        int64_t prev = bs_schema_tombstone(s, ks, name);
        if (k->created_us > prev) prev = k->created_us - 1;
        t->ts_us = bs__schema_stamp(now_us, prev);
    }
    bs__schema_tomb_remove(s, ks, name);
    if (now_us > s->timestamp_us) s->timestamp_us = now_us;
    bs__schema_recompute_version(s);
    return 0;
oom:
    bs__schema_table_free(t);
    return BS_ENOMEM;
}

static int user_table(bs_schema *s, const char *ks, const char *name,
                      bs_keyspace_schema **kout, size_t *idx, char *err,
                      size_t errlen) {
    int found;
    size_t ki = bs__schema_ks_index(s, ks, &found);
    if (!found)
        return bs__schema_fail(err, errlen, BS_ENOTFOUND,
                               "Keyspace '%s' does not exist", ks);
    bs_keyspace_schema *k = s->ks[ki];
    size_t ti = bs__schema_table_index(k, name, &found);
    if (!found)
        return bs__schema_fail(err, errlen, BS_ENOTFOUND,
                               "Table '%s.%s' doesn't exist", ks, name);
    if (k->system)
        return bs__schema_fail(err, errlen, BS_EINVAL,
                               "%s keyspace is not user-modifiable", ks);
    *kout = k;
    *idx = ti;
    return 0;
}

static void touched(bs_schema *s, int64_t now_us) {
    if (now_us > s->timestamp_us) s->timestamp_us = now_us;
    bs__schema_recompute_version(s);
}

int bs_schema_drop_table(bs_schema *s, const char *ks, const char *name,
                         int64_t now_us, char *err, size_t errlen) {
    bs_keyspace_schema *k = NULL;
    size_t ti;
    int rc = user_table(s, ks, name, &k, &ti, err, errlen);
    if (rc) return rc;
    if (bs__schema_tomb_set(s, ks, name,
                            bs__schema_stamp(now_us, k->tables[ti]->ts_us)))
        return BS_ENOMEM;
    bs__schema_table_free(k->tables[ti]);
    memmove(&k->tables[ti], &k->tables[ti + 1],
            (k->ntables - ti - 1) * sizeof *k->tables);
    k->ntables--;
    touched(s, now_us);
    return 0;
}

/* A shared column's id: a hash of its name, its type and the last drop
 * of that name, in [BS_SCHEMA_SHARED_COLUMN_ID, UINT16_MAX), stepping past
 * ids the table's columns hold.  Two nodes that add the same column to
 * the same table at the same time pick the same id. */
static uint16_t shared_col_id(const bs_table_schema *t, const char *col,
                              const bs_type *type) {
    int64_t dropped = 0;
    for (size_t i = 0; i < t->ndropped; i++)
        if (!strcmp(t->dropped[i].name, col))
            dropped = t->dropped[i].dropped_time_us;
    size_t n = strlen(col);
    uint8_t buf[256 + 12];
    if (n > 256) n = 256;
    memcpy(buf, col, n);
    bs_put_u32(buf + n, (uint32_t)type->kind);
    bs_put_u64(buf + n + 4, (uint64_t)dropped);
    uint32_t span = UINT16_MAX - BS_SCHEMA_SHARED_COLUMN_ID;
    uint32_t id = BS_SCHEMA_SHARED_COLUMN_ID +
                  (uint32_t)(XXH3_64bits(buf, n + 12) % span);
    for (uint32_t i = 0; i < span && bs_table_column_by_id(t, (uint16_t)id); i++)
        id = id + 1 == UINT16_MAX ? BS_SCHEMA_SHARED_COLUMN_ID : id + 1;
    return (uint16_t)id;
}

static int add_column_as(bs_schema *s, const char *ks, const char *table,
                         const char *col, const bs_type *type, int is_static,
                         int shared, int64_t now_us, char *err,
                         size_t errlen) {
    bs_keyspace_schema *k = NULL;
    size_t ti;
    int rc = user_table(s, ks, table, &k, &ti, err, errlen);
    if (rc) return rc;
    bs_table_schema *t = k->tables[ti];
    if (bs_table_column(t, col))
        return bs__schema_fail(
            err, errlen, BS_EEXIST,
            "Invalid column name %s because it conflicts with an "
            "existing column",
            col);
    if (check_type_depth(col, type, err, errlen)) return BS_EINVAL;
    if (is_static && t->nck == 0)
        return bs__schema_fail(
            err, errlen, BS_EINVAL,
            "Static columns are not allowed in COMPACT STORAGE tables "
            "or tables without clustering columns");
    for (size_t i = 0; i < t->ndropped; i++)
        if (!strcmp(t->dropped[i].name, col) &&
            bs_type_is_multicell(t->dropped[i].type) !=
                bs_type_is_multicell(type))
            return bs__schema_fail(
                err, errlen, BS_EINVAL,
                "Cannot re-add previously dropped column '%s' of type "
                "with a different multi-cell-ness",
                col);
    if (t->ncols >= UINT16_MAX - BS_SCHEMA_FIRST_COLUMN_ID - 1)
        return bs__schema_fail(err, errlen, BS_EINVAL, "too many columns in %s",
                               table);
    uint16_t id = 0;
    if (shared) {
        id = shared_col_id(t, col, type);
    } else {
        /* sequential, past the ids shared columns took */
        while (t->next_col_id < UINT16_MAX &&
               bs_table_column_by_id(t, t->next_col_id))
            t->next_col_id++;
        if (t->next_col_id == UINT16_MAX)
            return bs__schema_fail(err, errlen, BS_EINVAL,
                                   "too many columns in %s", table);
        id = t->next_col_id;
    }
    bs_column c = {0};
    c.name = bs__schema_xstrdup(col);
    c.type = bs_type_clone(type);
    c.kind = is_static ? BS_COL_STATIC : BS_COL_REGULAR;
    c.position = -1;
    c.id = id;
    bs_column *nc = realloc(t->cols, (t->ncols + 1) * sizeof *nc);
    if (!c.name || !c.type || !nc) {
        free(c.name);
        bs_type_free(c.type);
        if (nc) t->cols = nc;
        return BS_ENOMEM;
    }
    t->cols = nc;
    t->cols[t->ncols++] = c;
    if (!shared) t->next_col_id++;
    qsort(t->cols, t->ncols, sizeof *t->cols, bs__schema_col_order);
    t->ts_us = bs__schema_stamp(now_us, t->ts_us);
    touched(s, now_us);
    return 0;
}

int bs_schema_add_column(bs_schema *s, const char *ks, const char *table,
                         const char *col, const bs_type *type, int is_static,
                         int64_t now_us, char *err, size_t errlen) {
    return add_column_as(s, ks, table, col, type, is_static, 0, now_us, err,
                         errlen);
}

int bs_schema_add_shared_column(bs_schema *s, const char *ks,
                                const char *table, const char *col,
                                const bs_type *type, int64_t now_us, char *err,
                                size_t errlen) {
    return add_column_as(s, ks, table, col, type, 0, 1, now_us, err, errlen);
}

int bs_schema_drop_column(bs_schema *s, const char *ks, const char *table,
                          const char *col, int64_t now_us, char *err,
                          size_t errlen) {
    bs_keyspace_schema *k = NULL;
    size_t ti;
    int rc = user_table(s, ks, table, &k, &ti, err, errlen);
    if (rc) return rc;
    bs_table_schema *t = k->tables[ti];
    const bs_column *c = bs_table_column(t, col);
    if (!c)
        return bs__schema_fail(err, errlen, BS_ENOTFOUND,
                               "Column %s was not found in table %s", col,
                               table);
    if (c->kind == BS_COL_PARTITION_KEY || c->kind == BS_COL_CLUSTERING)
        return bs__schema_fail(err, errlen, BS_EINVAL,
                               "Cannot drop PRIMARY KEY part %s", col);
    bs_dropped_column *nd = realloc(t->dropped, (t->ndropped + 1) * sizeof *nd);
    if (!nd) return BS_ENOMEM;
    t->dropped = nd;
    size_t ci = (size_t)(c - t->cols);
    /* replace an earlier drop of the same name */
    size_t di = t->ndropped;
    for (size_t i = 0; i < t->ndropped; i++)
        if (!strcmp(t->dropped[i].name, col)) di = i;
    if (di < t->ndropped) {
        free(t->dropped[di].name);
        bs_type_free(t->dropped[di].type);
    } else {
        t->ndropped++;
    }
    t->dropped[di].name = t->cols[ci].name;
    t->dropped[di].type = t->cols[ci].type;
    t->dropped[di].dropped_time_us = now_us;
    memmove(&t->cols[ci], &t->cols[ci + 1],
            (t->ncols - ci - 1) * sizeof *t->cols);
    t->ncols--;
    t->ts_us = bs__schema_stamp(now_us, t->ts_us);
    touched(s, now_us);
    return 0;
}

int bs_schema_rename_column(bs_schema *s, const char *ks, const char *table,
                            const char *from, const char *to, int64_t now_us,
                            char *err, size_t errlen) {
    bs_keyspace_schema *k = NULL;
    size_t ti;
    int rc = user_table(s, ks, table, &k, &ti, err, errlen);
    if (rc) return rc;
    bs_table_schema *t = k->tables[ti];
    bs_column *c = (bs_column *)bs_table_column(t, from);
    if (!c)
        return bs__schema_fail(err, errlen, BS_ENOTFOUND,
                               "Column %s was not found in table %s", from,
                               table);
    if (c->kind != BS_COL_PARTITION_KEY && c->kind != BS_COL_CLUSTERING)
        return bs__schema_fail(err, errlen, BS_EINVAL,
                               "Cannot rename non PRIMARY KEY column %s", from);
    if (bs_table_column(t, to))
        return bs__schema_fail(
            err, errlen, BS_EEXIST,
            "Cannot rename column %s to %s in table %s; another column "
            "of that name already exist",
            from, to, table);
    char *n = bs__schema_xstrdup(to);
    if (!n) return BS_ENOMEM;
    free(c->name);
    c->name = n;
    t->ts_us = bs__schema_stamp(now_us, t->ts_us);
    touched(s, now_us);
    return 0;
}

int bs_schema_set_table_options(bs_schema *s, const char *ks, const char *table,
                                const bs_table_option *opts, size_t nopts,
                                int64_t now_us, char *err, size_t errlen) {
    bs_keyspace_schema *k = NULL;
    size_t ti;
    int rc = user_table(s, ks, table, &k, &ti, err, errlen);
    if (rc) return rc;
    /* validate on a copy so a bad option leaves the table unchanged */
    bs_table_schema *copy = bs__schema_table_clone(k->tables[ti]);
    if (!copy) return BS_ENOMEM;
    for (size_t i = 0; i < nopts; i++) {
        rc = apply_option(copy, &opts[i], err, errlen);
        if (rc) {
            bs__schema_table_free(copy);
            return rc;
        }
    }
    bs__schema_table_free(k->tables[ti]);
    k->tables[ti] = copy;
    copy->ts_us = bs__schema_stamp(now_us, copy->ts_us);
    touched(s, now_us);
    return 0;
}
