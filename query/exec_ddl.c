/*
 * exec_ddl.c - USE and the schema statements: CREATE/ALTER/DROP KEYSPACE,
 * CREATE/ALTER/DROP TABLE, TRUNCATE.
 *
 * Each schema change clones the request's snapshot, applies the change
 * with the catalog's validating mutators (query/schema.c) and hands the
 * new snapshot to the backend, which persists and publishes it and
 * creates or drops the store tables.  The answer is a Schema_change
 * result (or Void for IF [NOT] EXISTS that did nothing), as Cassandra
 * gives.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "query/exec_int.h"

/* Text of an option value: literal text, or NULL for maps. */
static const char *lit_text(xctx *c, const bs_cql_expr *e) {
    if (!e || e->kind != BS_CQL_EXPR_LITERAL) return NULL;
    return bs_arena_strndup(c->a, e->lit.text, e->lit.len);
}

static int schema_change_result(xctx *c, const char *change, const char *target,
                                const char *ks, const char *name) {
    bs_proto_response r;
    memset(&r, 0, sizeof r);
    r.opcode = BS_PROTO_OP_RESULT;
    r.u.result.kind = BS_PROTO_RESULT_SCHEMA_CHANGE;
    bs_proto_schema_change *sc = &r.u.result.u.schema_change;
    sc->change_type = bs_proto_cstr(change);
    sc->target = bs_proto_cstr(target);
    sc->keyspace = bs_proto_cstr(ks);
    sc->name = bs_proto_cstr(name ? name : "");
    if (bs_proto_response_encode(c->out, c->stream, &r, c->comp))
        return bs__x_fail(c, BS_PROTO_ERR_SERVER, "out of memory");
    return 0;
}

/* Publishes `next` and writes the Schema_change answer. */
static int publish(xctx *c, bs_schema *next, const char *change,
                   const char *target, const char *ks, const char *name) {
    bs_proto_schema_change ev;
    memset(&ev, 0, sizeof ev);
    ev.change_type = bs_proto_cstr(change);
    ev.target = bs_proto_cstr(target);
    ev.keyspace = bs_proto_cstr(ks);
    ev.name = bs_proto_cstr(name ? name : "");
    bs_exec_err err;
    memset(&err, 0, sizeof err);
    if (c->x->be.schema_apply(c->x->be.ud, next, &ev, &err)) {
        c->failed = 1;
        c->err = err;
        return -1;
    }
    return schema_change_result(c, change, target, ks, name);
}

static int schema_err(xctx *c, int rc, const char *msg, const char *ks,
                      const char *table) {
    switch (rc) {
    case BS_EEXIST:
        c->ae_ks = ks;
        c->ae_table = table ? table : "";
        return bs__x_fail(c, BS_PROTO_ERR_ALREADY_EXISTS, "%s", msg);
    case BS_ECONFIG: return bs__x_fail(c, BS_PROTO_ERR_CONFIG, "%s", msg);
    case BS_ENOMEM: return bs__x_fail(c, BS_PROTO_ERR_SERVER, "out of memory");
    default: return XINVALID(c, "%s", msg);
    }
}

int bs__x_use(xctx *c, const bs_cql_stmt *s) {
    const char *ks = s->u.use.keyspace;
    if (!bs_schema_keyspace(c->schema, ks))
        return XINVALID(c, "Keyspace '%s' does not exist", ks);
    pthread_mutex_lock(&c->sess->lock);
    snprintf(c->sess->keyspace, sizeof c->sess->keyspace, "%s", ks);
    pthread_mutex_unlock(&c->sess->lock);
    bs_proto_response r;
    memset(&r, 0, sizeof r);
    r.opcode = BS_PROTO_OP_RESULT;
    r.u.result.kind = BS_PROTO_RESULT_SET_KEYSPACE;
    r.u.result.u.keyspace = bs_proto_cstr(ks);
    if (bs_proto_response_encode(c->out, c->stream, &r, c->comp))
        return bs__x_fail(c, BS_PROTO_ERR_SERVER, "out of memory");
    return 0;
}

/* Replication and durable_writes from keyspace options. */
static int ks_options(xctx *c, const bs_cql_keyspace_def *d, const char **cls,
                      size_t *n, const char ***keys, const char ***vals,
                      int *durable) {
    *cls = NULL;
    *n = 0;
    *durable = -1;
    for (uint32_t i = 0; i < d->nopts; i++) {
        const bs_cql_option *o = &d->opts[i];
        if (!strcmp(o->name, "replication")) {
            const bs_cql_expr *m = o->value;
            if (!m ||
                (m->kind != BS_CQL_EXPR_MAP && m->kind != BS_CQL_EXPR_EMPTY))
                return bs__x_fail(c, BS_PROTO_ERR_SYNTAX,
                                  "replication must be a map");
            *keys = bs_arena_calloc(c->a, (m->n + 1) * sizeof **keys);
            *vals = bs_arena_calloc(c->a, (m->n + 1) * sizeof **vals);
            for (uint32_t j = 0; j < m->n; j++) {
                const char *k = lit_text(c, m->items[j]);
                const char *v = lit_text(c, m->values[j]);
                if (!k || !v)
                    return bs__x_fail(c, BS_PROTO_ERR_CONFIG,
                                      "replication options must be constants");
                if (!strcmp(k, "class")) {
                    *cls = v;
                } else {
                    (*keys)[*n] = k;
                    (*vals)[*n] = v;
                    (*n)++;
                }
            }
            if (!*cls)
                return bs__x_fail(c, BS_PROTO_ERR_CONFIG,
                                  "Missing replication strategy class");
        } else if (!strcmp(o->name, "durable_writes")) {
            const char *v = lit_text(c, o->value);
            if (!v)
                return bs__x_fail(c, BS_PROTO_ERR_SYNTAX,
                                  "durable_writes must be a boolean");
            *durable = !strcmp(v, "true");
        } else {
            return bs__x_fail(c, BS_PROTO_ERR_SYNTAX, "Unknown property '%s'",
                              o->name);
        }
    }
    return 0;
}

static int create_keyspace(xctx *c, const bs_cql_stmt *s) {
    const bs_cql_keyspace_def *d = &s->u.keyspace;
    const char *cls, **keys = NULL, **vals = NULL;
    size_t n;
    int durable;
    if (ks_options(c, d, &cls, &n, &keys, &vals, &durable)) return -1;
    if (!cls)
        return bs__x_fail(c, BS_PROTO_ERR_SYNTAX,
                          "Missing mandatory replication strategy class");
    if (bs_schema_keyspace(c->schema, d->name)) {
        if (d->if_not_exists) return bs__x_void_result(c);
        c->ae_ks = d->name;
        c->ae_table = "";
        return bs__x_fail(c, BS_PROTO_ERR_ALREADY_EXISTS,
                          "Keyspace %s already exists", d->name);
    }
    bs_schema *next = bs_schema_clone(c->schema);
    if (!next) return bs__x_fail(c, BS_PROTO_ERR_SERVER, "out of memory");
    char err[256];
    int rc = bs_schema_create_keyspace(next, d->name, cls, n, keys, vals,
                                       durable < 0 ? 1 : durable, c->now_us,
                                       err, sizeof err);
    if (rc) {
        bs_schema_release(next);
        return schema_err(c, rc, err, d->name, NULL);
    }
    return publish(c, next, "CREATED", "KEYSPACE", d->name, NULL);
}

static int alter_keyspace(xctx *c, const bs_cql_stmt *s) {
    const bs_cql_keyspace_def *d = &s->u.keyspace;
    const char *cls, **keys = NULL, **vals = NULL;
    size_t n;
    int durable;
    if (ks_options(c, d, &cls, &n, &keys, &vals, &durable)) return -1;
    bs_schema *next = bs_schema_clone(c->schema);
    if (!next) return bs__x_fail(c, BS_PROTO_ERR_SERVER, "out of memory");
    char err[256];
    int rc = bs_schema_alter_keyspace(next, d->name, cls, n, keys, vals,
                                      durable, c->now_us, err, sizeof err);
    if (rc) {
        bs_schema_release(next);
        return schema_err(c, rc, err, d->name, NULL);
    }
    return publish(c, next, "UPDATED", "KEYSPACE", d->name, NULL);
}

static int drop_keyspace(xctx *c, const bs_cql_stmt *s) {
    const char *name = s->u.drop.name.name;
    if (!bs_schema_keyspace(c->schema, name)) {
        if (s->u.drop.if_exists) return bs__x_void_result(c);
        return XINVALID(c, "Keyspace '%s' doesn't exist", name);
    }
    bs_schema *next = bs_schema_clone(c->schema);
    if (!next) return bs__x_fail(c, BS_PROTO_ERR_SERVER, "out of memory");
    char err[256];
    int rc = bs_schema_drop_keyspace(next, name, c->now_us, err, sizeof err);
    if (rc) {
        bs_schema_release(next);
        return schema_err(c, rc, err, name, NULL);
    }
    return publish(c, next, "DROPPED", "KEYSPACE", name, NULL);
}

/* Table options from WITH clauses (values as text / text maps). */
static int table_options(xctx *c, const bs_cql_option *opts, uint32_t nopts,
                         bs_table_option **out) {
    *out = bs_arena_calloc(c->a, (nopts + 1) * sizeof **out);
    if (!*out) return bs__x_fail(c, BS_PROTO_ERR_SERVER, "out of memory");
    for (uint32_t i = 0; i < nopts; i++) {
        bs_table_option *t = &(*out)[i];
        const bs_cql_expr *v = opts[i].value;
        t->name = (char *)opts[i].name;
        if (v && v->kind == BS_CQL_EXPR_LITERAL) {
            t->value = (char *)lit_text(c, v);
        } else if (v && (v->kind == BS_CQL_EXPR_MAP ||
                         v->kind == BS_CQL_EXPR_EMPTY)) {
            t->nentries = v->n;
            t->keys = bs_arena_calloc(c->a, (v->n + 1) * sizeof *t->keys);
            t->values = bs_arena_calloc(c->a, (v->n + 1) * sizeof *t->values);
            for (uint32_t j = 0; j < v->n; j++) {
                t->keys[j] = (char *)lit_text(c, v->items[j]);
                t->values[j] = (char *)lit_text(c, v->values[j]);
                if (!t->keys[j] || !t->values[j])
                    return bs__x_fail(c, BS_PROTO_ERR_SYNTAX,
                                      "Invalid value for property '%s'",
                                      t->name);
            }
        } else {
            return bs__x_fail(c, BS_PROTO_ERR_SYNTAX,
                              "Invalid value for property '%s'", opts[i].name);
        }
    }
    return 0;
}

static int create_table(xctx *c, const bs_cql_stmt *s) {
    const bs_cql_create_table *d = &s->u.create_table;
    const char *ks;
    if (bs__x_keyspace(c, &d->table, &ks)) return -1;
    if (!bs_schema_keyspace(c->schema, ks))
        return XINVALID(c, "Keyspace '%s' doesn't exist", ks);
    if (bs_schema_table(c->schema, ks, d->table.name)) {
        if (d->if_not_exists) return bs__x_void_result(c);
        c->ae_ks = ks;
        c->ae_table = d->table.name;
        return bs__x_fail(
            c, BS_PROTO_ERR_ALREADY_EXISTS,
            "Cannot add already existing table \"%s\" to keyspace \"%s\"",
            d->table.name, ks);
    }
    bs_column_def *defs = bs_arena_calloc(c->a, (d->ncols + 1) * sizeof *defs);
    if (!defs) return bs__x_fail(c, BS_PROTO_ERR_SERVER, "out of memory");
    for (uint32_t i = 0; i < d->ncols; i++) {
        const bs_cql_coldef *cd = &d->cols[i];
        bs_column_def *def = &defs[i];
        def->name = cd->name;
        def->type = cd->type;
        def->kind = cd->is_static ? BS_COL_STATIC : BS_COL_REGULAR;
        def->position = -1;
        for (uint32_t k = 0; k < d->npk; k++)
            if (!strcmp(d->pk[k], cd->name)) {
                def->kind = BS_COL_PARTITION_KEY;
                def->position = (int)k;
            }
        for (uint32_t k = 0; k < d->nck; k++)
            if (!strcmp(d->ck[k], cd->name)) {
                def->kind = BS_COL_CLUSTERING;
                def->position = (int)k;
            }
        if (cd->is_static && def->kind != BS_COL_STATIC)
            return XINVALID(
                c, "Static column %s cannot be part of the PRIMARY KEY",
                cd->name);
        if (cd->type->kind == BS_TYPE_UDT)
            return XINVALID(
                c, "User-defined types are not supported by Basalt (column %s)",
                cd->name);
    }
    /* Cassandra: a counter table has only counter columns besides its
     * primary key (a counter key column is refused by the schema) */
    int counters = 0, others = 0;
    for (uint32_t i = 0; i < d->ncols; i++) {
        if (defs[i].kind == BS_COL_PARTITION_KEY || defs[i].kind == BS_COL_CLUSTERING)
            continue;
        if (d->cols[i].type->kind == BS_TYPE_COUNTER) counters++;
        else others++;
    }
    if (counters && others)
        return XINVALID(c, "Cannot mix counter and non counter columns in the same table");
    for (uint32_t k = 0; k < d->npk; k++) {
        int found = 0;
        for (uint32_t i = 0; i < d->ncols; i++)
            found |= !strcmp(d->cols[i].name, d->pk[k]);
        if (!found)
            return XINVALID(
                c, "Unknown definition %s referenced in PRIMARY KEY", d->pk[k]);
    }
    for (uint32_t k = 0; k < d->nck; k++) {
        int found = 0;
        for (uint32_t i = 0; i < d->ncols; i++)
            found |= !strcmp(d->cols[i].name, d->ck[k]);
        if (!found)
            return XINVALID(
                c, "Unknown definition %s referenced in PRIMARY KEY", d->ck[k]);
    }
    /* CLUSTERING ORDER BY must list clustering columns in order */
    if (d->norder) {
        if (d->norder > d->nck)
            return XINVALID(c, "Only clustering key columns can be defined in "
                               "CLUSTERING ORDER directive");
        for (uint32_t k = 0; k < d->norder; k++) {
            if (strcmp(d->order[k].column, d->ck[k])) {
                int is_ck = 0;
                for (uint32_t j = 0; j < d->nck; j++)
                    is_ck |= !strcmp(d->ck[j], d->order[k].column);
                if (!is_ck)
                    return XINVALID(c, "Only clustering key columns can be "
                                       "defined in CLUSTERING ORDER directive");
                return XINVALID(c,
                                "The order of columns in the CLUSTERING ORDER "
                                "directive must be the one of the clustering "
                                "key (%s must appear before %s)",
                                d->ck[k], d->order[k].column);
            }
            for (uint32_t i = 0; i < d->ncols; i++)
                if (!strcmp(defs[i].name, d->order[k].column))
                    defs[i].desc = d->order[k].desc;
        }
    }
    bs_table_option *opts;
    if (table_options(c, d->opts, d->nopts, &opts)) return -1;
    bs_schema *next = bs_schema_clone(c->schema);
    if (!next) return bs__x_fail(c, BS_PROTO_ERR_SERVER, "out of memory");
    char err[256];
    int rc =
        bs_schema_create_table(next, ks, d->table.name, NULL, defs, d->ncols,
                               opts, d->nopts, c->now_us, err, sizeof err);
    if (rc) {
        bs_schema_release(next);
        return schema_err(c, rc, err, ks, d->table.name);
    }
    const bs_table_schema *nt = bs_schema_table(next, ks, d->table.name);
    if (counters && nt && nt->default_ttl > 0) {
        bs_schema_release(next);
        return XINVALID(c, "Cannot set default_time_to_live on a table with counters");
    }
    return publish(c, next, "CREATED", "TABLE", ks, d->table.name);
}

static int alter_table(xctx *c, const bs_cql_stmt *s) {
    const bs_cql_alter *d = &s->u.alter;
    const bs_table_schema *t;
    if (bs__x_table(c, &d->name, &t)) return -1;
    const char *ks = t->keyspace;
    bs_schema *next = bs_schema_clone(c->schema);
    if (!next) return bs__x_fail(c, BS_PROTO_ERR_SERVER, "out of memory");
    char err[256];
    int rc = 0;
    switch (d->kind) {
    case BS_CQL_ALTER_ADD:
        for (uint32_t i = 0; i < d->ncols && !rc; i++) {
            if (d->cols[i].type->kind == BS_TYPE_UDT) {
                bs_schema_release(next);
                return XINVALID(c,
                                "type of column %s is not supported by Basalt",
                                d->cols[i].name);
            }
            int is_counter = d->cols[i].type->kind == BS_TYPE_COUNTER;
            if (is_counter != bs__x_is_counter_table(t)) {
                bs_schema_release(next);
                return XINVALID(c,
                                is_counter ? "Cannot add a counter column (%s) in a non counter "
                                             "column family"
                                           : "Cannot add a non counter column (%s) in a counter "
                                             "column family",
                                d->cols[i].name);
            }
            rc = bs_schema_add_column(next, ks, t->name, d->cols[i].name,
                                      d->cols[i].type, d->cols[i].is_static,
                                      c->now_us, err, sizeof err);
        }
        break;
    case BS_CQL_ALTER_DROP:
        for (uint32_t i = 0; i < d->ndrop && !rc; i++)
            rc = bs_schema_drop_column(next, ks, t->name, d->drop[i], c->now_us,
                                       err, sizeof err);
        break;
    case BS_CQL_ALTER_RENAME:
        for (uint32_t i = 0; i < d->nrename && !rc; i++)
            rc = bs_schema_rename_column(next, ks, t->name, d->from[i],
                                         d->to[i], c->now_us, err, sizeof err);
        break;
    case BS_CQL_ALTER_WITH: {
        bs_table_option *opts;
        if (table_options(c, d->opts, d->nopts, &opts)) {
            bs_schema_release(next);
            return -1;
        }
        rc = bs_schema_set_table_options(next, ks, t->name, opts, d->nopts,
                                         c->now_us, err, sizeof err);
        break;
    }
    }
    if (rc) {
        bs_schema_release(next);
        /* a column that exists is an invalid ALTER, not AlreadyExists
         * (which names a keyspace or table) */
        if (rc == BS_EEXIST) return XINVALID(c, "%s", err);
        return schema_err(c, rc, err, ks, t->name);
    }
    return publish(c, next, "UPDATED", "TABLE", ks, t->name);
}

static int drop_table(xctx *c, const bs_cql_stmt *s) {
    const char *ks;
    if (bs__x_keyspace(c, &s->u.drop.name, &ks)) return -1;
    const char *name = s->u.drop.name.name;
    if (!bs_schema_table(c->schema, ks, name)) {
        if (s->u.drop.if_exists) return bs__x_void_result(c);
        return XINVALID(c, "Table '%s.%s' doesn't exist", ks, name);
    }
    bs_schema *next = bs_schema_clone(c->schema);
    if (!next) return bs__x_fail(c, BS_PROTO_ERR_SERVER, "out of memory");
    char err[256];
    int rc = bs_schema_drop_table(next, ks, name, c->now_us, err, sizeof err);
    if (rc) {
        bs_schema_release(next);
        return schema_err(c, rc, err, ks, name);
    }
    return publish(c, next, "DROPPED", "TABLE", ks, name);
}

static int truncate_table(xctx *c, const bs_cql_stmt *s) {
    const bs_table_schema *t;
    if (bs__x_table(c, &s->u.drop.name, &t)) return -1;
    const bs_keyspace_schema *k = bs_schema_keyspace(c->schema, t->keyspace);
    if (k && k->system) return XINVALID(c, "Cannot TRUNCATE system tables");
    bs_exec_err err;
    memset(&err, 0, sizeof err);
    if (c->x->be.truncate(c->x->be.ud, t, &err)) {
        c->failed = 1;
        c->err = err;
        return -1;
    }
    return bs__x_void_result(c);
}

int bs__x_ddl(xctx *c, const bs_cql_stmt *s) {
    switch (s->kind) {
    case BS_CQL_STMT_CREATE_KEYSPACE: return create_keyspace(c, s);
    case BS_CQL_STMT_ALTER_KEYSPACE: return alter_keyspace(c, s);
    case BS_CQL_STMT_DROP_KEYSPACE: return drop_keyspace(c, s);
    case BS_CQL_STMT_CREATE_TABLE: return create_table(c, s);
    case BS_CQL_STMT_ALTER_TABLE: return alter_table(c, s);
    case BS_CQL_STMT_DROP_TABLE: return drop_table(c, s);
    case BS_CQL_STMT_TRUNCATE: return truncate_table(c, s);
    default:
        return XINVALID(c, "%s is not supported by Basalt",
                        bs_cql_stmt_kind_name(s->kind));
    }
}
