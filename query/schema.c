/*
 * schema.c - the schema catalog (see schema.h).
 *
 * Representation: a bs_schema owns an array of keyspaces sorted by name;
 * each keyspace owns its tables sorted by name.  Snapshots are immutable
 * once published; mutators run on a private clone (refcount 1) and
 * either succeed completely or leave it untouched (validate first, then
 * change).
 *
 * Built-in keyspaces are described by the static table `builtin` below
 * in a compact "name type kind" form and materialised by bs_schema_new().
 * They are flagged system=1: DDL on them is refused and they are not
 * serialized.
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
 */
#include "query/schema.h"

#include <ctype.h>
#include <msgpack.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "common/error.h"
#include "common/mpcheck.h"

typedef struct bs_tomb {
    char *ks;
    char *table; /* NULL: the keyspace itself */
    int64_t ts;
} bs_tomb;

struct bs_schema {
    atomic_int refs;
    bs_keyspace_schema **ks; /* sorted by name */
    size_t nks;
    int64_t timestamp_us;
    bs_uuid version;
    bs_tomb *tombs; /* drops, for merge (see schema.h) */
    size_t ntombs;
};

/* ==================================================================== */
/* small helpers                                                          */
/* ==================================================================== */

static char *xstrdup(const char *s) {
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

static char *xstrndup(const char *s, size_t n) {
    char *d = malloc(n + 1);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

static int fail(char *err, size_t errlen, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(char *err, size_t errlen, int code, const char *fmt, ...) {
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return code;
}

static void option_free(bs_table_option *o) {
    free(o->name);
    free(o->value);
    for (size_t i = 0; i < o->nentries; i++) {
        free(o->keys[i]);
        free(o->values[i]);
    }
    free(o->keys);
    free(o->values);
}

static int option_copy(bs_table_option *d, const bs_table_option *s) {
    memset(d, 0, sizeof *d);
    d->name = xstrdup(s->name);
    if (!d->name) return BS_ENOMEM;
    if (s->value && !(d->value = xstrdup(s->value))) goto oom;
    if (s->nentries) {
        d->keys = calloc(s->nentries, sizeof *d->keys);
        d->values = calloc(s->nentries, sizeof *d->values);
        if (!d->keys || !d->values) goto oom;
        for (size_t i = 0; i < s->nentries; i++) {
            d->nentries = i + 1;
            d->keys[i] = xstrdup(s->keys[i]);
            d->values[i] = xstrdup(s->values[i]);
            if (!d->keys[i] || !d->values[i]) goto oom;
        }
    }
    return 0;
oom:
    option_free(d);
    return BS_ENOMEM;
}

static void table_free(bs_table_schema *t) {
    if (!t) return;
    free(t->keyspace);
    free(t->name);
    for (size_t i = 0; i < t->ncols; i++) {
        free(t->cols[i].name);
        bs_type_free(t->cols[i].type);
    }
    free(t->cols);
    for (size_t i = 0; i < t->nopts; i++)
        option_free(&t->opts[i]);
    free(t->opts);
    for (size_t i = 0; i < t->ndropped; i++) {
        free(t->dropped[i].name);
        bs_type_free(t->dropped[i].type);
    }
    free(t->dropped);
    free(t);
}

static bs_table_schema *table_clone(const bs_table_schema *s) {
    bs_table_schema *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->keyspace = xstrdup(s->keyspace);
    t->name = xstrdup(s->name);
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
            t->cols[i].name = xstrdup(s->cols[i].name);
            t->cols[i].type = bs_type_clone(s->cols[i].type);
            if (!t->cols[i].name || !t->cols[i].type) goto oom;
        }
    }
    if (s->nopts) {
        t->opts = calloc(s->nopts, sizeof *t->opts);
        if (!t->opts) goto oom;
        for (size_t i = 0; i < s->nopts; i++) {
            if (option_copy(&t->opts[i], &s->opts[i])) goto oom;
            t->nopts = i + 1;
        }
    }
    if (s->ndropped) {
        t->dropped = calloc(s->ndropped, sizeof *t->dropped);
        if (!t->dropped) goto oom;
        for (size_t i = 0; i < s->ndropped; i++) {
            t->ndropped = i + 1;
            t->dropped[i].dropped_time_us = s->dropped[i].dropped_time_us;
            t->dropped[i].name = xstrdup(s->dropped[i].name);
            t->dropped[i].type = bs_type_clone(s->dropped[i].type);
            if (!t->dropped[i].name || !t->dropped[i].type) goto oom;
        }
    }
    return t;
oom:
    table_free(t);
    return NULL;
}

static void ks_free(bs_keyspace_schema *k) {
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
        table_free(k->tables[i]);
    free(k->tables);
    free(k);
}

static int ks_set_repl(bs_keyspace_schema *k, const char *cls, size_t n,
                       const char *const *keys, const char *const *values) {
    char *c = xstrdup(cls);
    char **nk = n ? calloc(n, sizeof *nk) : NULL;
    char **nv = n ? calloc(n, sizeof *nv) : NULL;
    if (!c || (n && (!nk || !nv))) goto oom;
    for (size_t i = 0; i < n; i++) {
        nk[i] = xstrdup(keys[i]);
        nv[i] = xstrdup(values[i]);
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
    k->name = xstrdup(s->name);
    k->durable_writes = s->durable_writes;
    k->system = s->system;
    k->ts_us = s->ts_us;
    k->created_us = s->created_us;
    if (!k->name || ks_set_repl(k, s->repl_class, s->nrepl,
                                (const char *const *)s->repl_keys,
                                (const char *const *)s->repl_values))
        goto oom;
    if (s->ntables) {
        k->tables = calloc(s->ntables, sizeof *k->tables);
        if (!k->tables) goto oom;
        for (size_t i = 0; i < s->ntables; i++) {
            k->tables[i] = table_clone(s->tables[i]);
            if (!k->tables[i]) goto oom;
            k->ntables = i + 1;
        }
    }
    return k;
oom:
    ks_free(k);
    return NULL;
}

/* ==================================================================== */
/* version digest                                                         */
/* ==================================================================== */

static void recompute_version(bs_schema *s) {
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

/* ==================================================================== */
/* built-in keyspaces                                                     */
/* ==================================================================== */

/* Parses the small type language of the built-in table below:
 * name | frozen<T> | list<T> | set<T> | map<T,T>. */
static bs_type *parse_builtin_type(const char **p) {
    static const struct {
        const char *n;
        bs_type_kind k;
    } names[] = {
        {"text", BS_TYPE_VARCHAR},      {"ascii", BS_TYPE_ASCII},
        {"int", BS_TYPE_INT},           {"bigint", BS_TYPE_BIGINT},
        {"boolean", BS_TYPE_BOOLEAN},   {"uuid", BS_TYPE_UUID},
        {"timeuuid", BS_TYPE_TIMEUUID}, {"inet", BS_TYPE_INET},
        {"blob", BS_TYPE_BLOB},         {"timestamp", BS_TYPE_TIMESTAMP},
        {"double", BS_TYPE_DOUBLE},     {"float", BS_TYPE_FLOAT},
        {"varint", BS_TYPE_VARINT},     {"date", BS_TYPE_DATE},
    };
    const char *s = *p;
    size_t n = 0;
    while (isalnum((unsigned char)s[n]) || s[n] == '_')
        n++;
    bs_type *t = NULL;
    if (s[n] == '<') {
        bs_type_kind k;
        int frozen = 0;
        if (n == 6 && !strncmp(s, "frozen", 6))
            frozen = 1, k = 0;
        else if (n == 4 && !strncmp(s, "list", 4))
            k = BS_TYPE_LIST;
        else if (n == 3 && !strncmp(s, "set", 3))
            k = BS_TYPE_SET;
        else if (n == 3 && !strncmp(s, "map", 3))
            k = BS_TYPE_MAP;
        else
            return NULL;
        *p = s + n + 1;
        bs_type *a = parse_builtin_type(p), *b = NULL;
        if (!a) return NULL;
        if (!frozen && k == BS_TYPE_MAP) {
            if (**p != ',') {
                bs_type_free(a);
                return NULL;
            }
            (*p)++;
            b = parse_builtin_type(p);
            if (!b) {
                bs_type_free(a);
                return NULL;
            }
        }
        if (**p != '>') {
            bs_type_free(a);
            bs_type_free(b);
            return NULL;
        }
        (*p)++;
        if (frozen) {
            a->frozen = 1;
            return a;
        }
        return bs_type_new_coll(k, a, b);
    }
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strlen(names[i].n) == n && !strncmp(s, names[i].n, n))
            t = bs_type_new(names[i].k);
    *p = s + n;
    return t;
}

/* "ks.table" followed by columns "name type kind" where kind is p0 p1
 * (partition key position), c0 c1 (clustering), s (static) or r. */
static const char *const builtin[] = {"system.local",
                                      "key text p0",
                                      "bootstrapped text r",
                                      "broadcast_address inet r",
                                      "broadcast_port int r",
                                      "cluster_name text r",
                                      "cql_version text r",
                                      "data_center text r",
                                      "gossip_generation int r",
                                      "host_id uuid r",
                                      "listen_address inet r",
                                      "listen_port int r",
                                      "native_protocol_version text r",
                                      "partitioner text r",
                                      "rack text r",
                                      "release_version text r",
                                      "rpc_address inet r",
                                      "rpc_port int r",
                                      "schema_version uuid r",
                                      "tokens set<text> r",
                                      "truncated_at map<uuid,blob> r",
                                      NULL,
                                      "system.peers",
                                      "peer inet p0",
                                      "data_center text r",
                                      "host_id uuid r",
                                      "preferred_ip inet r",
                                      "rack text r",
                                      "release_version text r",
                                      "rpc_address inet r",
                                      "schema_version uuid r",
                                      "tokens set<text> r",
                                      NULL,
                                      "system.peers_v2",
                                      "peer inet p0",
                                      "peer_port int c0",
                                      "data_center text r",
                                      "host_id uuid r",
                                      "native_address inet r",
                                      "native_port int r",
                                      "preferred_ip inet r",
                                      "preferred_port int r",
                                      "rack text r",
                                      "release_version text r",
                                      "schema_version uuid r",
                                      "tokens set<text> r",
                                      NULL,
                                      "system_schema.keyspaces",
                                      "keyspace_name text p0",
                                      "durable_writes boolean r",
                                      "replication frozen<map<text,text>> r",
                                      NULL,
                                      "system_schema.tables",
                                      "keyspace_name text p0",
                                      "table_name text c0",
                                      "bloom_filter_fp_chance double r",
                                      "caching frozen<map<text,text>> r",
                                      "cdc boolean r",
                                      "comment text r",
                                      "compaction frozen<map<text,text>> r",
                                      "compression frozen<map<text,text>> r",
                                      "crc_check_chance double r",
                                      "dclocal_read_repair_chance double r",
                                      "default_time_to_live int r",
                                      "extensions frozen<map<text,blob>> r",
                                      "flags frozen<set<text>> r",
                                      "gc_grace_seconds int r",
                                      "id uuid r",
                                      "max_index_interval int r",
                                      "memtable_flush_period_in_ms int r",
                                      "min_index_interval int r",
                                      "read_repair_chance double r",
                                      "speculative_retry text r",
                                      "additional_write_policy text r",
                                      "read_repair text r",
                                      NULL,
                                      "system_schema.columns",
                                      "keyspace_name text p0",
                                      "table_name text c0",
                                      "column_name text c1",
                                      "clustering_order text r",
                                      "column_name_bytes blob r",
                                      "kind text r",
                                      "position int r",
                                      "type text r",
                                      NULL,
                                      "system_schema.dropped_columns",
                                      "keyspace_name text p0",
                                      "table_name text c0",
                                      "column_name text c1",
                                      "dropped_time timestamp r",
                                      "kind text r",
                                      "type text r",
                                      NULL,
                                      "system_schema.types",
                                      "keyspace_name text p0",
                                      "type_name text c0",
                                      "field_names frozen<list<text>> r",
                                      "field_types frozen<list<text>> r",
                                      NULL,
                                      "system_schema.functions",
                                      "keyspace_name text p0",
                                      "function_name text c0",
                                      "argument_types frozen<list<text>> c1",
                                      "argument_names frozen<list<text>> r",
                                      "body text r",
                                      "language text r",
                                      "return_type text r",
                                      "called_on_null_input boolean r",
                                      NULL,
                                      "system_schema.aggregates",
                                      "keyspace_name text p0",
                                      "aggregate_name text c0",
                                      "argument_types frozen<list<text>> c1",
                                      "final_func text r",
                                      "initcond text r",
                                      "return_type text r",
                                      "state_func text r",
                                      "state_type text r",
                                      NULL,
                                      "system_schema.indexes",
                                      "keyspace_name text p0",
                                      "table_name text c0",
                                      "index_name text c1",
                                      "kind text r",
                                      "options frozen<map<text,text>> r",
                                      NULL,
                                      "system_schema.views",
                                      "keyspace_name text p0",
                                      "view_name text c0",
                                      "base_table_id uuid r",
                                      "base_table_name text r",
                                      "where_clause text r",
                                      "bloom_filter_fp_chance double r",
                                      "caching frozen<map<text,text>> r",
                                      "comment text r",
                                      "compaction frozen<map<text,text>> r",
                                      "compression frozen<map<text,text>> r",
                                      "crc_check_chance double r",
                                      "dclocal_read_repair_chance double r",
                                      "default_time_to_live int r",
                                      "extensions frozen<map<text,blob>> r",
                                      "gc_grace_seconds int r",
                                      "id uuid r",
                                      "include_all_columns boolean r",
                                      "max_index_interval int r",
                                      "memtable_flush_period_in_ms int r",
                                      "min_index_interval int r",
                                      "read_repair_chance double r",
                                      "speculative_retry text r",
                                      "additional_write_policy text r",
                                      "cdc boolean r",
                                      "read_repair text r",
                                      NULL,
                                      "system_schema.triggers",
                                      "keyspace_name text p0",
                                      "table_name text c0",
                                      "trigger_name text c1",
                                      "options frozen<map<text,text>> r",
                                      NULL,
                                      NULL};

static const char *const builtin_keyspaces[] = {
    "system", "system_auth", "system_distributed", "system_schema",
    "system_traces"};

static int add_builtin(bs_schema *s) {
    char err[256];
    const char *none[1] = {NULL};
    for (size_t i = 0; i < sizeof builtin_keyspaces / sizeof *builtin_keyspaces;
         i++) {
        const char *rk[1] = {"replication_factor"}, *rv[1] = {"1"};
        int local = !strcmp(builtin_keyspaces[i], "system") ||
                    !strcmp(builtin_keyspaces[i], "system_schema");
        int rc = bs_schema_create_keyspace(
            s, builtin_keyspaces[i],
            local ? "org.apache.cassandra.locator.LocalStrategy"
                  : "org.apache.cassandra.locator.SimpleStrategy",
            local ? 0 : 1, local ? none : rk, local ? none : rv, 1, 0, err,
            sizeof err);
        if (rc) return rc;
    }
    size_t i = 0;
    while (builtin[i]) {
        const char *full = builtin[i++];
        const char *dot = strchr(full, '.');
        char ks[64], tn[64];
        snprintf(ks, sizeof ks, "%.*s", (int)(dot - full), full);
        snprintf(tn, sizeof tn, "%s", dot + 1);
        bs_column_def defs[32];
        char names[32][48];
        size_t nd = 0;
        int rc = 0;
        for (; builtin[i]; i++) {
            const char *d = builtin[i];
            const char *sp = strchr(d, ' ');
            snprintf(names[nd], sizeof names[nd], "%.*s", (int)(sp - d), d);
            const char *tp = sp + 1;
            bs_type *t = parse_builtin_type(&tp);
            if (!t || *tp != ' ') {
                bs_type_free(t);
                rc = BS_EINVAL;
                break;
            }
            tp++;
            defs[nd].name = names[nd];
            defs[nd].type = t;
            defs[nd].desc = 0;
            defs[nd].position = -1;
            if (*tp == 'p')
                defs[nd].kind = BS_COL_PARTITION_KEY;
            else if (*tp == 'c')
                defs[nd].kind = BS_COL_CLUSTERING;
            else if (*tp == 's')
                defs[nd].kind = BS_COL_STATIC;
            else
                defs[nd].kind = BS_COL_REGULAR;
            if (tp[1]) defs[nd].position = tp[1] - '0';
            nd++;
        }
        i++; /* NULL terminator of this table */
        if (!rc) {
            rc = bs_schema_create_table(s, ks, tn, NULL, defs, nd, NULL, 0, 0,
                                        err, sizeof err);
        }
        for (size_t j = 0; j < nd; j++)
            bs_type_free((bs_type *)defs[j].type);
        if (rc) return rc;
        /* built-in ids are stable: derived from the name */
        bs_keyspace_schema *k = (bs_keyspace_schema *)bs_schema_keyspace(s, ks);
        bs_table_schema *t = (bs_table_schema *)bs_schema_table(s, ks, tn);
        XXH128_hash_t h = XXH3_128bits(full, strlen(full));
        bs_put_u64(t->id.b, h.high64);
        bs_put_u64(t->id.b + 8, h.low64);
        t->id.b[6] = (uint8_t)((t->id.b[6] & 0x0f) | 0x30);
        t->id.b[8] = (uint8_t)((t->id.b[8] & 0x3f) | 0x80);
        (void)k;
    }
    for (size_t k = 0; k < s->nks; k++)
        s->ks[k]->system = 1;
    return 0;
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

static void tomb_remove(bs_schema *s, const char *ks, const char *table) {
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
static void tomb_remove_tables(bs_schema *s, const char *ks) {
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
static int tomb_set(bs_schema *s, const char *ks, const char *table,
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
    t->ks = xstrdup(ks);
    t->table = table ? xstrdup(table) : NULL;
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
static int64_t stamp(int64_t now_us, int64_t prev) {
    return now_us > prev ? now_us : prev + 1;
}

bs_schema *bs_schema_new(void) {
    bs_schema *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    atomic_init(&s->refs, 1);
    if (add_builtin(s)) {
        bs_schema_release(s);
        return NULL;
    }
    s->timestamp_us = 0;
    recompute_version(s);
    return s;
}

bs_schema *bs_schema_clone(const bs_schema *src) {
    bs_schema *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    atomic_init(&s->refs, 1);
    s->timestamp_us = src->timestamp_us;
    s->version = src->version;
    for (size_t i = 0; i < src->ntombs; i++)
        if (tomb_set(s, src->tombs[i].ks, src->tombs[i].table,
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
        ks_free(s->ks[i]);
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

static size_t ks_index(const bs_schema *s, const char *name, int *found) {
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

static size_t table_index(const bs_keyspace_schema *k, const char *name,
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
    size_t i = ks_index(s, ks, &found);
    return found ? s->ks[i] : NULL;
}

const bs_table_schema *bs_schema_table(const bs_schema *s, const char *ks,
                                       const char *table) {
    const bs_keyspace_schema *k = bs_schema_keyspace(s, ks);
    if (!k) return NULL;
    int found;
    size_t i = table_index(k, table, &found);
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
        return fail(err, errlen, BS_ECONFIG,
                    "Missing replication strategy class");
    if (!strcmp(cls, "org.apache.cassandra.locator.SimpleStrategy")) {
        int have = 0;
        for (size_t i = 0; i < n; i++) {
            if (strcmp(keys[i], "replication_factor"))
                return fail(err, errlen, BS_ECONFIG,
                            "Unrecognized strategy option {%s} passed to "
                            "SimpleStrategy",
                            keys[i]);
            if (parse_rf(values[i]) < 0)
                return fail(err, errlen, BS_ECONFIG,
                            "Replication factor must be non-negative; found %s",
                            values[i]);
            have = 1;
        }
        if (!have)
            return fail(err, errlen, BS_ECONFIG,
                        "SimpleStrategy requires a replication_factor strategy "
                        "option.");
        return 0;
    }
    if (!strcmp(cls, "org.apache.cassandra.locator.NetworkTopologyStrategy")) {
        for (size_t i = 0; i < n; i++)
            if (parse_rf(values[i]) < 0)
                return fail(err, errlen, BS_ECONFIG,
                            "Replication factor must be non-negative; found %s",
                            values[i]);
        return 0;
    }
    if (!strcmp(cls, "org.apache.cassandra.locator.LocalStrategy")) return 0;
    return fail(err, errlen, BS_ECONFIG,
                "Unable to find replication strategy class '%s'", cls);
}

int bs_schema_create_keyspace(bs_schema *s, const char *name,
                              const char *repl_class, size_t nrepl,
                              const char *const *keys,
                              const char *const *values, int durable_writes,
                              int64_t now_us, char *err, size_t errlen) {
    if (!valid_name(name))
        return fail(err, errlen, BS_EINVAL,
                    "Keyspace name must not be empty, more than 48 characters "
                    "long, or contain non-alphanumeric-underscore characters "
                    "(got \"%s\")",
                    name);
    const char *cls = repl_class ? qualify_class(repl_class) : NULL;
    int rc = check_replication(cls, nrepl, keys, values, err, errlen);
    if (rc) return rc;
    int found;
    size_t at = ks_index(s, name, &found);
    if (found)
        return fail(err, errlen, BS_EEXIST, "Keyspace %s already exists", name);
    bs_keyspace_schema *k = calloc(1, sizeof *k);
    if (!k) return BS_ENOMEM;
    k->name = xstrdup(name);
    k->durable_writes = durable_writes;
    k->ts_us = k->created_us =
        stamp(now_us, bs_schema_tombstone(s, name, NULL));
    if (!k->name || ks_set_repl(k, cls, nrepl, keys, values)) {
        ks_free(k);
        return BS_ENOMEM;
    }
    bs_keyspace_schema **nk = realloc(s->ks, (s->nks + 1) * sizeof *nk);
    if (!nk) {
        ks_free(k);
        return BS_ENOMEM;
    }
    s->ks = nk;
    memmove(&s->ks[at + 1], &s->ks[at], (s->nks - at) * sizeof *nk);
    s->ks[at] = k;
    s->nks++;
    tomb_remove(s, name, NULL);
    tomb_remove_tables(s, name);
    if (now_us > s->timestamp_us) s->timestamp_us = now_us;
    recompute_version(s);
    return 0;
}

static int user_keyspace(bs_schema *s, const char *name,
                         bs_keyspace_schema **out, char *err, size_t errlen) {
    int found;
    size_t i = ks_index(s, name, &found);
    if (!found)
        return fail(err, errlen, BS_ENOTFOUND, "Keyspace '%s' does not exist",
                    name);
    if (s->ks[i]->system)
        return fail(err, errlen, BS_EINVAL,
                    "%s keyspace is not user-modifiable", name);
    *out = s->ks[i];
    return 0;
}

int bs_schema_alter_keyspace(bs_schema *s, const char *name,
                             const char *repl_class, size_t nrepl,
                             const char *const *keys, const char *const *values,
                             int durable_writes, int64_t now_us, char *err,
                             size_t errlen) {
    bs_keyspace_schema *k;
    int rc = user_keyspace(s, name, &k, err, errlen);
    if (rc) return rc;
    if (repl_class) {
        const char *cls = qualify_class(repl_class);
        rc = check_replication(cls, nrepl, keys, values, err, errlen);
        if (rc) return rc;
        rc = ks_set_repl(k, cls, nrepl, keys, values);
        if (rc) return rc;
    }
    if (durable_writes >= 0) k->durable_writes = durable_writes;
    k->ts_us = stamp(now_us, k->ts_us);
    if (now_us > s->timestamp_us) s->timestamp_us = now_us;
    recompute_version(s);
    return 0;
}

int bs_schema_drop_keyspace(bs_schema *s, const char *name, int64_t now_us,
                            char *err, size_t errlen) {
    bs_keyspace_schema *k;
    int rc = user_keyspace(s, name, &k, err, errlen);
    if (rc) return rc;
    int found;
    size_t i = ks_index(s, name, &found);
    int64_t latest = k->ts_us;
    for (size_t j = 0; j < k->ntables; j++)
        if (k->tables[j]->ts_us > latest) latest = k->tables[j]->ts_us;
    for (size_t j = 0; j < s->ntombs; j++)
        if (s->tombs[j].table && strcmp(s->tombs[j].ks, name) == 0 &&
            s->tombs[j].ts > latest)
            latest = s->tombs[j].ts;
    if (tomb_set(s, name, NULL, stamp(now_us, latest))) return BS_ENOMEM;
    tomb_remove_tables(s, name);
    ks_free(k);
    memmove(&s->ks[i], &s->ks[i + 1], (s->nks - i - 1) * sizeof *s->ks);
    s->nks--;
    if (now_us > s->timestamp_us) s->timestamp_us = now_us;
    recompute_version(s);
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

static int col_order(const void *a, const void *b) {
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
            return fail(err, errlen, BS_ECONFIG, "%s must be an integer",
                        o->name);
        char *end;
        long long v = strtoll(o->value, &end, 10);
        if (*end || end == o->value || v < 0 || v > 630720000)
            return fail(err, errlen, BS_ECONFIG,
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
        return fail(err, errlen, BS_ECONFIG, "Unknown property '%s'", o->name);
    /* replace or insert, sorted by name */
    size_t at = 0;
    while (at < t->nopts && strcmp(t->opts[at].name, o->name) < 0)
        at++;
    bs_table_option copy;
    int rc = option_copy(&copy, o);
    if (rc) return rc;
    if (at < t->nopts && !strcmp(t->opts[at].name, o->name)) {
        option_free(&t->opts[at]);
        t->opts[at] = copy;
        return 0;
    }
    bs_table_option *no = realloc(t->opts, (t->nopts + 1) * sizeof *no);
    if (!no) {
        option_free(&copy);
        return BS_ENOMEM;
    }
    t->opts = no;
    memmove(&t->opts[at + 1], &t->opts[at], (t->nopts - at) * sizeof *no);
    t->opts[at] = copy;
    t->nopts++;
    return 0;
}

int bs_schema_create_table(bs_schema *s, const char *ks, const char *name,
                           const bs_uuid *id, const bs_column_def *defs,
                           size_t ndefs, const bs_table_option *opts,
                           size_t nopts, int64_t now_us, char *err,
                           size_t errlen) {
    int found;
    size_t ki = ks_index(s, ks, &found);
    if (!found)
        return fail(err, errlen, BS_ENOTFOUND, "Keyspace '%s' does not exist",
                    ks);
    bs_keyspace_schema *k = s->ks[ki];
    if (!valid_name(name))
        return fail(err, errlen, BS_EINVAL,
                    "Table name must not be empty, more than 48 characters "
                    "long, or contain non-alphanumeric-underscore characters "
                    "(got \"%s\")",
                    name);
    size_t at = table_index(k, name, &found);
    if (found)
        return fail(err, errlen, BS_EEXIST, "Table %s.%s already exists", ks,
                    name);
    /* validate the definitions */
    size_t npk = 0, nck = 0, nstatic = 0;
    for (size_t i = 0; i < ndefs; i++) {
        const bs_column_def *d = &defs[i];
        for (size_t j = 0; j < i; j++)
            if (!strcmp(defs[j].name, d->name))
                return fail(err, errlen, BS_EINVAL,
                            "Multiple definition of identifier %s", d->name);
        if (d->kind == BS_COL_PARTITION_KEY || d->kind == BS_COL_CLUSTERING) {
            if (bs_type_is_multicell(d->type))
                return fail(err, errlen, BS_EINVAL,
                            "Invalid non-frozen collection type for PRIMARY "
                            "KEY component %s",
                            d->name);
            if (type_has_kind(d->type, BS_TYPE_COUNTER))
                return fail(err, errlen, BS_EINVAL,
                            "counter type is not supported for PRIMARY KEY "
                            "column '%s'",
                            d->name);
            if (type_has_kind(d->type, BS_TYPE_DURATION))
                return fail(err, errlen, BS_EINVAL,
                            "duration type is not supported for PRIMARY KEY "
                            "column '%s'",
                            d->name);
        }
        if (d->kind == BS_COL_PARTITION_KEY)
            npk++;
        else if (d->kind == BS_COL_CLUSTERING)
            nck++;
        else if (d->kind == BS_COL_STATIC)
            nstatic++;
    }
    if (npk == 0)
        return fail(err, errlen, BS_EINVAL,
                    "No PRIMARY KEY specifed for table '%s' (exactly one "
                    "required)",
                    name);
    if (nstatic && nck == 0)
        return fail(err, errlen, BS_EINVAL,
                    "Static columns are only useful (and thus allowed) if the "
                    "table has at least one clustering column");
    for (size_t i = 0; i < ndefs; i++) {
        const bs_column_def *d = &defs[i];
        if (d->kind != BS_COL_PARTITION_KEY && d->kind != BS_COL_CLUSTERING)
            continue;
        size_t lim = d->kind == BS_COL_PARTITION_KEY ? npk : nck;
        if (d->position < 0 || (size_t)d->position >= lim)
            return fail(err, errlen, BS_EINVAL,
                        "bad key position %d for column %s", d->position,
                        d->name);
        for (size_t j = 0; j < i; j++)
            if (defs[j].kind == d->kind && defs[j].position == d->position)
                return fail(err, errlen, BS_EINVAL, "duplicate key position %d",
                            d->position);
    }
    bs_table_schema *t = calloc(1, sizeof *t);
    if (!t) return BS_ENOMEM;
    t->keyspace = xstrdup(ks);
    t->name = xstrdup(name);
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
        c->name = xstrdup(defs[i].name);
        c->type = bs_type_clone(defs[i].type);
        if (!c->name || !c->type) goto oom;
        c->kind = defs[i].kind;
        c->position = c->kind <= BS_COL_CLUSTERING ? defs[i].position : -1;
        c->desc = c->kind == BS_COL_CLUSTERING ? defs[i].desc : 0;
    }
    qsort(t->cols, t->ncols, sizeof *t->cols, col_order);
    /* ids in schema order so every node assigns the same ones */
    for (size_t i = 0; i < t->ncols; i++)
        t->cols[i].id = (uint16_t)(BS_SCHEMA_FIRST_COLUMN_ID + i);
    t->next_col_id = (uint16_t)(BS_SCHEMA_FIRST_COLUMN_ID + t->ncols);
    t->npk = npk;
    t->nck = nck;
    for (size_t i = 0; i < nopts; i++) {
        int rc = apply_option(t, &opts[i], err, errlen);
        if (rc) {
            table_free(t);
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
        t->ts_us = stamp(now_us, prev);
    }
    tomb_remove(s, ks, name);
    if (now_us > s->timestamp_us) s->timestamp_us = now_us;
    recompute_version(s);
    return 0;
oom:
    table_free(t);
    return BS_ENOMEM;
}

static int user_table(bs_schema *s, const char *ks, const char *name,
                      bs_keyspace_schema **kout, size_t *idx, char *err,
                      size_t errlen) {
    int found;
    size_t ki = ks_index(s, ks, &found);
    if (!found)
        return fail(err, errlen, BS_ENOTFOUND, "Keyspace '%s' does not exist",
                    ks);
    bs_keyspace_schema *k = s->ks[ki];
    size_t ti = table_index(k, name, &found);
    if (!found)
        return fail(err, errlen, BS_ENOTFOUND, "Table '%s.%s' doesn't exist",
                    ks, name);
    if (k->system)
        return fail(err, errlen, BS_EINVAL,
                    "%s keyspace is not user-modifiable", ks);
    *kout = k;
    *idx = ti;
    return 0;
}

static void touched(bs_schema *s, int64_t now_us) {
    if (now_us > s->timestamp_us) s->timestamp_us = now_us;
    recompute_version(s);
}

int bs_schema_drop_table(bs_schema *s, const char *ks, const char *name,
                         int64_t now_us, char *err, size_t errlen) {
    bs_keyspace_schema *k;
    size_t ti;
    int rc = user_table(s, ks, name, &k, &ti, err, errlen);
    if (rc) return rc;
    if (tomb_set(s, ks, name, stamp(now_us, k->tables[ti]->ts_us)))
        return BS_ENOMEM;
    table_free(k->tables[ti]);
    memmove(&k->tables[ti], &k->tables[ti + 1],
            (k->ntables - ti - 1) * sizeof *k->tables);
    k->ntables--;
    touched(s, now_us);
    return 0;
}

int bs_schema_add_column(bs_schema *s, const char *ks, const char *table,
                         const char *col, const bs_type *type, int is_static,
                         int64_t now_us, char *err, size_t errlen) {
    bs_keyspace_schema *k;
    size_t ti;
    int rc = user_table(s, ks, table, &k, &ti, err, errlen);
    if (rc) return rc;
    bs_table_schema *t = k->tables[ti];
    if (bs_table_column(t, col))
        return fail(err, errlen, BS_EEXIST,
                    "Invalid column name %s because it conflicts with an "
                    "existing column",
                    col);
    if (is_static && t->nck == 0)
        return fail(err, errlen, BS_EINVAL,
                    "Static columns are not allowed in COMPACT STORAGE tables "
                    "or tables without clustering columns");
    for (size_t i = 0; i < t->ndropped; i++)
        if (!strcmp(t->dropped[i].name, col) &&
            bs_type_is_multicell(t->dropped[i].type) !=
                bs_type_is_multicell(type))
            return fail(err, errlen, BS_EINVAL,
                        "Cannot re-add previously dropped column '%s' of type "
                        "with a different multi-cell-ness",
                        col);
    if (t->next_col_id == UINT16_MAX)
        return fail(err, errlen, BS_EINVAL, "too many columns in %s", table);
    bs_column c = {0};
    c.name = xstrdup(col);
    c.type = bs_type_clone(type);
    c.kind = is_static ? BS_COL_STATIC : BS_COL_REGULAR;
    c.position = -1;
    c.id = t->next_col_id;
    bs_column *nc = realloc(t->cols, (t->ncols + 1) * sizeof *nc);
    if (!c.name || !c.type || !nc) {
        free(c.name);
        bs_type_free(c.type);
        if (nc) t->cols = nc;
        return BS_ENOMEM;
    }
    t->cols = nc;
    t->cols[t->ncols++] = c;
    t->next_col_id++;
    qsort(t->cols, t->ncols, sizeof *t->cols, col_order);
    t->ts_us = stamp(now_us, t->ts_us);
    touched(s, now_us);
    return 0;
}

int bs_schema_drop_column(bs_schema *s, const char *ks, const char *table,
                          const char *col, int64_t now_us, char *err,
                          size_t errlen) {
    bs_keyspace_schema *k;
    size_t ti;
    int rc = user_table(s, ks, table, &k, &ti, err, errlen);
    if (rc) return rc;
    bs_table_schema *t = k->tables[ti];
    const bs_column *c = bs_table_column(t, col);
    if (!c)
        return fail(err, errlen, BS_ENOTFOUND,
                    "Column %s was not found in table %s", col, table);
    if (c->kind == BS_COL_PARTITION_KEY || c->kind == BS_COL_CLUSTERING)
        return fail(err, errlen, BS_EINVAL, "Cannot drop PRIMARY KEY part %s",
                    col);
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
    t->ts_us = stamp(now_us, t->ts_us);
    touched(s, now_us);
    return 0;
}

int bs_schema_rename_column(bs_schema *s, const char *ks, const char *table,
                            const char *from, const char *to, int64_t now_us,
                            char *err, size_t errlen) {
    bs_keyspace_schema *k;
    size_t ti;
    int rc = user_table(s, ks, table, &k, &ti, err, errlen);
    if (rc) return rc;
    bs_table_schema *t = k->tables[ti];
    bs_column *c = (bs_column *)bs_table_column(t, from);
    if (!c)
        return fail(err, errlen, BS_ENOTFOUND,
                    "Column %s was not found in table %s", from, table);
    if (c->kind != BS_COL_PARTITION_KEY && c->kind != BS_COL_CLUSTERING)
        return fail(err, errlen, BS_EINVAL,
                    "Cannot rename non PRIMARY KEY column %s", from);
    if (bs_table_column(t, to))
        return fail(err, errlen, BS_EEXIST,
                    "Cannot rename column %s to %s in table %s; another column "
                    "of that name already exist",
                    from, to, table);
    char *n = xstrdup(to);
    if (!n) return BS_ENOMEM;
    free(c->name);
    c->name = n;
    t->ts_us = stamp(now_us, t->ts_us);
    touched(s, now_us);
    return 0;
}

int bs_schema_set_table_options(bs_schema *s, const char *ks, const char *table,
                                const bs_table_option *opts, size_t nopts,
                                int64_t now_us, char *err, size_t errlen) {
    bs_keyspace_schema *k;
    size_t ti;
    int rc = user_table(s, ks, table, &k, &ti, err, errlen);
    if (rc) return rc;
    /* validate on a copy so a bad option leaves the table unchanged */
    bs_table_schema *copy = table_clone(k->tables[ti]);
    if (!copy) return BS_ENOMEM;
    for (size_t i = 0; i < nopts; i++) {
        rc = apply_option(copy, &opts[i], err, errlen);
        if (rc) {
            table_free(copy);
            return rc;
        }
    }
    table_free(k->tables[ti]);
    k->tables[ti] = copy;
    copy->ts_us = stamp(now_us, copy->ts_us);
    touched(s, now_us);
    return 0;
}

/* ==================================================================== */
/* serialization                                                          */
/* ==================================================================== */

static int pk_write(void *data, const char *buf, size_t len) {
    return bs_buf_append((bs_buf *)data, buf, len) ? -1 : 0;
}

static void pk_str(msgpack_packer *p, const char *s) {
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
    pk_str(p, t->name);
    pk_str(p, t->keyspace);
    size_t nf = t->field_names ? t->nparams : 0;
    msgpack_pack_array(p, nf);
    for (size_t i = 0; i < nf; i++)
        pk_str(p, t->field_names[i]);
}

static void pk_strmap(msgpack_packer *p, size_t n, char **k, char **v) {
    msgpack_pack_map(p, n);
    for (size_t i = 0; i < n; i++) {
        pk_str(p, k[i]);
        pk_str(p, v[i]);
    }
}

static void pk_table(msgpack_packer *p, const bs_table_schema *t) {
    msgpack_pack_array(p, 9);
    pk_str(p, t->name);
    msgpack_pack_bin(p, 16);
    msgpack_pack_bin_body(p, t->id.b, 16);
    msgpack_pack_int64(p, t->default_ttl);
    msgpack_pack_int64(p, t->gc_grace);
    msgpack_pack_uint16(p, t->next_col_id);
    msgpack_pack_array(p, t->ncols);
    for (size_t i = 0; i < t->ncols; i++) {
        const bs_column *c = &t->cols[i];
        msgpack_pack_array(p, 6);
        pk_str(p, c->name);
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
        pk_str(p, o->name);
        pk_str(p, o->value);
        pk_strmap(p, o->nentries, o->keys, o->values);
    }
    msgpack_pack_array(p, t->ndropped);
    for (size_t i = 0; i < t->ndropped; i++) {
        msgpack_pack_array(p, 3);
        pk_str(p, t->dropped[i].name);
        pk_type(p, t->dropped[i].type);
        msgpack_pack_int64(p, t->dropped[i].dropped_time_us);
    }
    msgpack_pack_int64(p, t->ts_us);
}

int bs_schema_encode(const bs_schema *s, bs_buf *out) {
    msgpack_packer p;
    msgpack_packer_init(&p, out, pk_write);
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
        pk_str(&p, k->name);
        if (k->durable_writes)
            msgpack_pack_true(&p);
        else
            msgpack_pack_false(&p);
        pk_str(&p, k->repl_class);
        pk_strmap(&p, k->nrepl, k->repl_keys, k->repl_values);
        msgpack_pack_array(&p, k->ntables);
        for (size_t j = 0; j < k->ntables; j++)
            pk_table(&p, k->tables[j]);
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
        pk_str(&p, t->ks);
        pk_str(&p, t->table);
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

#define D_FAIL(c, ...) fail((c)->err, (c)->errlen, BS_ECORRUPT, __VA_ARGS__)

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
    if (memchr(o->via.str.ptr, 0, o->via.str.size))
        return D_FAIL(c, "schema: %s: NUL in string", what);
    *out = xstrndup(o->via.str.ptr, o->via.str.size);
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
    if (++c->depth > 32) return D_FAIL(c, "schema: type nested too deeply");
    int rc = d_array(c, o, 6, "type");
    if (rc) return rc;
    const msgpack_object *a = o->via.array.ptr;
    int64_t kind, frozen;
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
    bs_column_def *defs = NULL;
    char **cnames = NULL;
    bs_type **ctypes = NULL;
    uint16_t *cids = NULL;
    bs_table_option *opts = NULL;
    size_t ncols = 0, nopts = 0;
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
    size_t n = a[5].via.array.size;
    defs = calloc(n + 1, sizeof *defs);
    cnames = calloc(n + 1, sizeof *cnames);
    ctypes = calloc(n + 1, sizeof *ctypes);
    cids = calloc(n + 1, sizeof *cids);
    if (!defs || !cnames || !ctypes || !cids) {
        rc = BS_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const msgpack_object *co = &a[5].via.array.ptr[i];
        if ((rc = d_array(c, co, 6, "column"))) goto out;
        const msgpack_object *ca = co->via.array.ptr;
        int64_t kind, pos, desc, cid;
        ncols = i + 1;
        if ((rc = d_str(c, &ca[0], 0, &cnames[i], "column name")) ||
            (rc = d_type(c, &ca[1], &ctypes[i])) ||
            (rc = d_int(c, &ca[2], 0, 3, &kind, "column kind")) ||
            (rc = d_int(c, &ca[3], -1, 1024, &pos, "column position")) ||
            (rc = d_int(c, &ca[4], 0, 1, &desc, "column order")) ||
            (rc = d_int(c, &ca[5], BS_SCHEMA_FIRST_COLUMN_ID, next - 1, &cid,
                        "column id")))
            goto out;
        defs[i].name = cnames[i];
        defs[i].type = ctypes[i];
        defs[i].kind = (bs_col_kind)kind;
        defs[i].position = (int)pos;
        defs[i].desc = (int)desc;
        cids[i] = (uint16_t)cid;
    }
    size_t no = a[6].via.array.size;
    opts = calloc(no + 1, sizeof *opts);
    if (!opts) {
        rc = BS_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < no; i++) {
        const msgpack_object *oo = &a[6].via.array.ptr[i];
        if ((rc = d_array(c, oo, 3, "option"))) goto out;
        nopts = i + 1;
        if ((rc = d_str(c, &oo->via.array.ptr[0], 0, &opts[i].name,
                        "option name")) ||
            (rc = d_str(c, &oo->via.array.ptr[1], 1, &opts[i].value,
                        "option value")) ||
            (rc = d_strmap(c, &oo->via.array.ptr[2], &opts[i].nentries,
                           &opts[i].keys, &opts[i].values, "option map")))
            goto out;
    }
    char e2[256];
    rc = bs_schema_create_table(s, ks, name, &id, defs, ncols, opts, nopts, 0,
                                e2, sizeof e2);
    if (rc) {
        rc = D_FAIL(c, "schema: table %s.%s: %s", ks, name, e2);
        goto out;
    }
    bs_table_schema *t = (bs_table_schema *)bs_schema_table(s, ks, name);
    t->ts_us = tts;
    t->default_ttl = ttl;
    t->gc_grace = gc;
    t->next_col_id = (uint16_t)next;
    for (size_t i = 0; i < ncols; i++) {
        bs_column *col = (bs_column *)bs_table_column(t, cnames[i]);
        for (size_t j = 0; j < i; j++)
            if (cids[j] == cids[i]) {
                rc = D_FAIL(c, "schema: duplicate column id %u", cids[i]);
                goto out;
            }
        col->id = cids[i];
    }
    size_t nd = a[7].via.array.size;
    if (nd) {
        t->dropped = calloc(nd, sizeof *t->dropped);
        if (!t->dropped) {
            rc = BS_ENOMEM;
            goto out;
        }
        for (size_t i = 0; i < nd; i++) {
            const msgpack_object *dobj = &a[7].via.array.ptr[i];
            if ((rc = d_array(c, dobj, 3, "dropped column"))) goto out;
            bs_dropped_column *dc = &t->dropped[i];
            t->ndropped = i + 1;
            if ((rc = d_str(c, &dobj->via.array.ptr[0], 0, &dc->name,
                            "dropped name")) ||
                (rc = d_type(c, &dobj->via.array.ptr[1], &dc->type)) ||
                (rc = d_int(c, &dobj->via.array.ptr[2], INT64_MIN, INT64_MAX,
                            &dc->dropped_time_us, "dropped time")))
                goto out;
        }
    }
out:
    free(name);
    for (size_t i = 0; i < ncols; i++) {
        free(cnames[i]);
        bs_type_free(ctypes[i]);
    }
    free(cnames);
    free(ctypes);
    free(cids);
    free(defs);
    for (size_t i = 0; i < nopts; i++)
        option_free(&opts[i]);
    free(opts);
    return rc;
}

int bs_schema_decode(const void *data, size_t len, bs_schema **out, char *err,
                     size_t errlen) {
    *out = NULL;
    dctx c = {err, errlen, 0};
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    bs_schema *s = NULL;
    int rc;
    if (bs_mpcheck(data, len, 24) != 0) {
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
    for (uint32_t i = 0; i < kss->size; i++) {
        const msgpack_object *ko = &kss->ptr[i];
        if ((rc = d_array(&c, ko, 0, "keyspace"))) goto out;
        if (ko->via.array.size != 5 && ko->via.array.size != 7) {
            rc = D_FAIL(&c, "schema: keyspace: expected an array of 5 or 7");
            goto out;
        }
        const msgpack_object *ka = ko->via.array.ptr;
        int64_t kts = 0, kcr = 0;
        if (ko->via.array.size == 7 &&
            ((rc = d_int(&c, &ka[5], 0, INT64_MAX, &kts,
                         "keyspace timestamp")) ||
             (rc = d_int(&c, &ka[6], 0, INT64_MAX, &kcr, "keyspace creation"))))
            goto out;
        char *name = NULL, *cls = NULL, **rk = NULL, **rv = NULL;
        size_t nr = 0;
        if (ka[1].type != MSGPACK_OBJECT_BOOLEAN) {
            rc = D_FAIL(&c, "schema: durable_writes must be a boolean");
            goto out;
        }
        if ((rc = d_str(&c, &ka[0], 0, &name, "keyspace name")) ||
            (rc = d_str(&c, &ka[2], 0, &cls, "replication class")) ||
            (rc = d_strmap(&c, &ka[3], &nr, &rk, &rv, "replication")) ||
            (rc = d_array(&c, &ka[4], 0, "tables"))) {
            free(name);
            free(cls);
            free_strmap(nr, rk, rv);
            goto out;
        }
        char e2[256];
        rc = bs_schema_create_keyspace(
            s, name, cls, nr, (const char *const *)rk, (const char *const *)rv,
            ka[1].via.boolean, 0, e2, sizeof e2);
        free(cls);
        free_strmap(nr, rk, rv);
        if (rc) {
            rc = D_FAIL(&c, "schema: keyspace %s: %s", name, e2);
            free(name);
            goto out;
        }
        bs_keyspace_schema *kk =
            (bs_keyspace_schema *)bs_schema_keyspace(s, name);
        kk->ts_us = kts;
        kk->created_us = kcr;
        for (uint32_t j = 0; j < ka[4].via.array.size && !rc; j++)
            rc = d_table(&c, s, name, &ka[4].via.array.ptr[j]);
        free(name);
        if (rc) goto out;
    }
    if (root->via.array.size == 4) {
        const msgpack_object *to = &root->via.array.ptr[3];
        if ((rc = d_array(&c, to, 0, "tombstones"))) goto out;
        for (uint32_t i = 0; i < to->via.array.size; i++) {
            const msgpack_object *t = &to->via.array.ptr[i];
            char *tk = NULL, *tt = NULL;
            int64_t tts;
            if ((rc = d_array(&c, t, 3, "tombstone")) ||
                (rc = d_str(&c, &t->via.array.ptr[0], 0, &tk,
                            "tombstone keyspace")) ||
                (rc = d_str(&c, &t->via.array.ptr[1], 1, &tt,
                            "tombstone table")) ||
                (rc = d_int(&c, &t->via.array.ptr[2], 1, INT64_MAX, &tts,
                            "tombstone time"))) {
                free(tk);
                free(tt);
                goto out;
            }
            if (bs_schema_tombstone(s, tk, tt)) {
                rc = D_FAIL(&c, "schema: duplicate tombstone %s%s%s", tk,
                            tt ? "." : "", tt ? tt : "");
            } else if (!tt && bs_schema_keyspace(s, tk)) {
                rc =
                    D_FAIL(&c, "schema: keyspace %s both live and dropped", tk);
            } else if (tt && bs_schema_table(s, tk, tt)) {
                rc = D_FAIL(&c, "schema: table %s.%s both live and dropped", tk,
                            tt);
            } else {
                rc = tomb_set(s, tk, tt, tts);
            }
            free(tk);
            free(tt);
            if (rc) goto out;
        }
    }
    s->timestamp_us = ts;
    recompute_version(s);
    *out = s;
    s = NULL;
    rc = 0;
out:
    if (s) bs_schema_release(s);
    msgpack_unpacked_destroy(&u);
    return rc;
}

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
    size_t i = table_index(k, name, &found);
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
    msgpack_packer_init(&p, b, pk_write);
    msgpack_pack_array(&p, 4);
    if (k->durable_writes)
        msgpack_pack_true(&p);
    else
        msgpack_pack_false(&p);
    pk_str(&p, k->repl_class);
    pk_strmap(&p, k->nrepl, k->repl_keys, k->repl_values);
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
    msgpack_packer_init(&p, &bx, pk_write);
    pk_table(&p, x);
    msgpack_packer_init(&p, &by, pk_write);
    pk_table(&p, y);
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
            bs_table_schema *c = table_clone(w);
            bs_table_schema **nt =
                c ? realloc(k->tables, (k->ntables + 1) * sizeof *nt) : NULL;
            if (!nt) {
                table_free(c);
                rc = BS_ENOMEM;
                break;
            }
            k->tables = nt;
            nt[k->ntables++] = c;
        } else if (tomb) {
            rc = tomb_set(s, name, tn[i], tomb);
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
            if (tomb) rc = tomb_set(s, name, NULL, tomb);
            continue;
        }
        bs_keyspace_schema *k = calloc(1, sizeof *k);
        if (!k) {
            rc = BS_ENOMEM;
            break;
        }
        k->name = xstrdup(w->name);
        k->durable_writes = w->durable_writes;
        k->ts_us = w->ts_us;
        k->created_us = w->created_us;
        if (!k->name || ks_set_repl(k, w->repl_class, w->nrepl,
                                    (const char *const *)w->repl_keys,
                                    (const char *const *)w->repl_values)) {
            ks_free(k);
            rc = BS_ENOMEM;
            break;
        }
        bs_keyspace_schema **nk = realloc(s->ks, (s->nks + 1) * sizeof *nk);
        if (!nk) {
            ks_free(k);
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
    recompute_version(s);
    *out = s;
    return 0;
}
