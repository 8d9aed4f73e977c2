/*
 * cql_print.c - syntax tree -> canonical CQL text, and tree equality.
 *
 * The printer emits one canonical spelling per tree: upper-case
 * keywords, single spaces, ", " between list items, PRIMARY KEY always
 * as a separate clause, USING TTL before TIMESTAMP, strings in '...'
 * with '' escapes (also for $$ strings), types by their CQL names (text
 * for varchar).  Identifiers are printed bare when the lexer would read
 * them back unchanged and they are not reserved words, else "quoted"
 * with "" escapes; UDT names that collide with type keywords are always
 * quoted.  The invariant tested in test_cql_print.c and fuzz_cql.c:
 *   parse(print(parse(s))) equals parse(s)   (bs_cql_stmt_equal)
 *
 * Equality ignores positions and source text but compares everything
 * else, including the bind-marker list (names, receivers, casts).
 * Print errors are only BS_ENOMEM from bs_buf; the first one sticks.
 */
#include <string.h>

#include "common/error.h"
#include "query/cql.h"

typedef struct out {
    bs_buf *b;
    const bs_cql_bind *binds;
    int rc;
} out;

static void put(out *o, const char *s) {
    if (!o->rc) o->rc = bs_buf_append_str(o->b, s);
}
static void putn(out *o, const char *s, size_t n) {
    if (!o->rc) o->rc = bs_buf_append(o->b, s, n);
}

static int plain_ident(const char *id) {
    if (!(id[0] >= 'a' && id[0] <= 'z')) return 0;
    for (const char *c = id; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
              *c == '_'))
            return 0;
    return !bs_cql_is_reserved(id, strlen(id));
}

static void quoted(out *o, const char *s, size_t n, char q) {
    char qs[2] = {q, 0};
    put(o, qs);
    size_t from = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == q) {
            putn(o, s + from, i + 1 - from);
            put(o, qs);
            from = i + 1;
        }
    }
    putn(o, s + from, n - from);
    put(o, qs);
}

static void ident(out *o, const char *id) {
    if (plain_ident(id))
        put(o, id);
    else
        quoted(o, id, strlen(id), '"');
}

static void qname(out *o, const bs_cql_qname *q) {
    if (q->ks) {
        ident(o, q->ks);
        put(o, ".");
    }
    ident(o, q->name);
}

static const char *native_name(unsigned kind) {
    switch (kind) {
    case BS_TYPE_ASCII: return "ascii";
    case BS_TYPE_BIGINT: return "bigint";
    case BS_TYPE_BLOB: return "blob";
    case BS_TYPE_BOOLEAN: return "boolean";
    case BS_TYPE_COUNTER: return "counter";
    case BS_TYPE_DECIMAL: return "decimal";
    case BS_TYPE_DOUBLE: return "double";
    case BS_TYPE_FLOAT: return "float";
    case BS_TYPE_INT: return "int";
    case BS_TYPE_TIMESTAMP: return "timestamp";
    case BS_TYPE_UUID: return "uuid";
    case BS_TYPE_VARCHAR: return "text";
    case BS_TYPE_VARINT: return "varint";
    case BS_TYPE_TIMEUUID: return "timeuuid";
    case BS_TYPE_INET: return "inet";
    case BS_TYPE_DATE: return "date";
    case BS_TYPE_TIME: return "time";
    case BS_TYPE_SMALLINT: return "smallint";
    case BS_TYPE_TINYINT: return "tinyint";
    case BS_TYPE_DURATION: return "duration";
    default: return NULL;
    }
}

static int type_word(const char *n) {
    static const char *const words[] = {
        "ascii",    "bigint",  "blob",     "boolean",   "counter",  "date",
        "decimal",  "double",  "duration", "float",     "inet",     "int",
        "smallint", "text",    "time",     "timestamp", "timeuuid", "tinyint",
        "uuid",     "varchar", "varint",   "frozen",    "list",     "map",
        "set",      "tuple",   "vector"};
    for (size_t i = 0; i < sizeof words / sizeof *words; i++)
        if (strcmp(n, words[i]) == 0) return 1;
    return 0;
}

static void type(out *o, const bs_type *t) {
    if (t->frozen) put(o, "frozen<");
    const char *nn = native_name(t->kind);
    if (nn) {
        put(o, nn);
    } else if (t->kind == BS_TYPE_LIST || t->kind == BS_TYPE_SET ||
               t->kind == BS_TYPE_MAP || t->kind == BS_TYPE_TUPLE) {
        put(o, t->kind == BS_TYPE_LIST  ? "list<"
               : t->kind == BS_TYPE_SET ? "set<"
               : t->kind == BS_TYPE_MAP ? "map<"
                                        : "tuple<");
        for (unsigned i = 0; i < t->nparams; i++) {
            if (i) put(o, ", ");
            type(o, t->params[i]);
        }
        put(o, ">");
    } else if (t->kind == BS_TYPE_UDT) {
        if (t->keyspace) {
            ident(o, t->keyspace);
            put(o, ".");
        }
        const char *n = t->name ? t->name : "";
        if (type_word(n))
            quoted(o, n, strlen(n), '"');
        else
            ident(o, n);
    } else { /* custom */
        const char *n = t->name ? t->name : "";
        quoted(o, n, strlen(n), '\'');
    }
    if (t->frozen) put(o, ">");
}

static void literal(out *o, const bs_literal *l) {
    switch (l->kind) {
    case BS_LIT_STRING: quoted(o, l->text, l->len, '\''); break;
    case BS_LIT_HEX:
        put(o, "0x");
        putn(o, l->text, l->len);
        break;
    case BS_LIT_NULL: put(o, "null"); break;
    default: putn(o, l->text, l->len); break;
    }
}

static void expr(out *o, const bs_cql_expr *e);

static void expr_list(out *o, bs_cql_expr *const *v, uint32_t n) {
    for (uint32_t i = 0; i < n; i++) {
        if (i) put(o, ", ");
        expr(o, v[i]);
    }
}

static void expr(out *o, const bs_cql_expr *e) {
    switch (e->kind) {
    case BS_CQL_EXPR_LITERAL: literal(o, &e->lit); break;
    case BS_CQL_EXPR_BIND:
        if (o->binds && o->binds[e->bind].name) {
            put(o, ":");
            ident(o, o->binds[e->bind].name);
        } else {
            put(o, "?");
        }
        break;
    case BS_CQL_EXPR_LIST:
        put(o, "[");
        expr_list(o, e->items, e->n);
        put(o, "]");
        break;
    case BS_CQL_EXPR_SET:
        put(o, "{");
        expr_list(o, e->items, e->n);
        put(o, "}");
        break;
    case BS_CQL_EXPR_MAP:
        put(o, "{");
        for (uint32_t i = 0; i < e->n; i++) {
            if (i) put(o, ", ");
            expr(o, e->items[i]);
            put(o, ": ");
            expr(o, e->values[i]);
        }
        put(o, "}");
        break;
    case BS_CQL_EXPR_EMPTY: put(o, "{}"); break;
    case BS_CQL_EXPR_TUPLE:
        put(o, "(");
        expr_list(o, e->items, e->n);
        put(o, ")");
        break;
    case BS_CQL_EXPR_UDT:
        put(o, "{");
        for (uint32_t i = 0; i < e->n; i++) {
            if (i) put(o, ", ");
            ident(o, e->fields[i]);
            put(o, ": ");
            expr(o, e->items[i]);
        }
        put(o, "}");
        break;
    case BS_CQL_EXPR_CALL:
        if (e->ks) {
            ident(o, e->ks);
            put(o, ".");
        }
        if (!e->ks && strcmp(e->name, "token") == 0)
            put(o, "token");
        else
            ident(o, e->name);
        put(o, "(");
        if (e->star)
            put(o, "*");
        else
            expr_list(o, e->items, e->n);
        put(o, ")");
        break;
    case BS_CQL_EXPR_CAST:
        if (e->sql_cast) {
            put(o, "CAST(");
            expr(o, e->items[0]);
            put(o, " AS ");
            type(o, e->type);
            put(o, ")");
        } else {
            put(o, "(");
            type(o, e->type);
            put(o, ") ");
            expr(o, e->items[0]);
        }
        break;
    case BS_CQL_EXPR_COLUMN: ident(o, e->name); break;
    case BS_CQL_EXPR_FIELD:
        expr(o, e->items[0]);
        put(o, ".");
        ident(o, e->name);
        break;
    case BS_CQL_EXPR_ELEM:
        expr(o, e->items[0]);
        put(o, "[");
        expr(o, e->items[1]);
        put(o, "]");
        break;
    }
}

static const char *op_text(bs_cql_op op) {
    switch (op) {
    case BS_CQL_OP_EQ: return " = ";
    case BS_CQL_OP_NEQ: return " != ";
    case BS_CQL_OP_LT: return " < ";
    case BS_CQL_OP_LTE: return " <= ";
    case BS_CQL_OP_GT: return " > ";
    case BS_CQL_OP_GTE: return " >= ";
    case BS_CQL_OP_IN: return " IN ";
    case BS_CQL_OP_CONTAINS: return " CONTAINS ";
    case BS_CQL_OP_CONTAINS_KEY: return " CONTAINS KEY ";
    case BS_CQL_OP_LIKE: return " LIKE ";
    }
    return " ? ";
}

static void ident_list(out *o, const char *const *v, uint32_t n) {
    for (uint32_t i = 0; i < n; i++) {
        if (i) put(o, ", ");
        ident(o, v[i]);
    }
}

static void relation(out *o, const bs_cql_relation *r) {
    switch (r->lhs) {
    case BS_CQL_LHS_COLUMN: ident(o, r->column); break;
    case BS_CQL_LHS_ELEM:
        ident(o, r->column);
        put(o, "[");
        expr(o, r->key);
        put(o, "]");
        break;
    case BS_CQL_LHS_FIELD:
        ident(o, r->column);
        put(o, ".");
        ident(o, r->field);
        break;
    case BS_CQL_LHS_MULTI:
    case BS_CQL_LHS_TOKEN:
        put(o, r->lhs == BS_CQL_LHS_TOKEN ? "token(" : "(");
        ident_list(o, r->cols, r->ncols);
        put(o, ")");
        break;
    }
    put(o, op_text(r->op));
    if (r->op == BS_CQL_OP_IN && r->in_list) {
        put(o, "(");
        expr_list(o, r->in, r->nin);
        put(o, ")");
    } else {
        expr(o, r->rhs);
    }
}

static void relations(out *o, const char *kw, const bs_cql_relation *v,
                      uint32_t n) {
    if (!n) return;
    put(o, kw);
    for (uint32_t i = 0; i < n; i++) {
        if (i) put(o, " AND ");
        relation(o, &v[i]);
    }
}

static void if_clause(out *o, uint8_t if_exists, const bs_cql_relation *c,
                      uint32_t n) {
    if (if_exists) put(o, " IF EXISTS");
    relations(o, " IF ", c, n);
}

static void using(out *o, const bs_cql_using *u) {
    if (!u->ttl && !u->timestamp) return;
    put(o, " USING ");
    if (u->ttl) {
        put(o, "TTL ");
        expr(o, u->ttl);
    }
    if (u->timestamp) {
        put(o, u->ttl ? " AND TIMESTAMP " : "TIMESTAMP ");
        expr(o, u->timestamp);
    }
}

static void options(out *o, const bs_cql_option *v, uint32_t n, int and) {
    for (uint32_t i = 0; i < n; i++) {
        put(o, (i || and) ? " AND " : " WITH ");
        ident(o, v[i].name);
        put(o, " = ");
        expr(o, v[i].value);
    }
}

static void coldefs(out *o, const bs_cql_coldef *c, uint32_t n) {
    for (uint32_t i = 0; i < n; i++) {
        if (i) put(o, ", ");
        ident(o, c[i].name);
        put(o, " ");
        type(o, c[i].type);
        if (c[i].is_static) put(o, " STATIC");
    }
}

static void orders(out *o, const bs_cql_order *v, uint32_t n) {
    for (uint32_t i = 0; i < n; i++) {
        if (i) put(o, ", ");
        ident(o, v[i].column);
        put(o, v[i].desc ? " DESC" : " ASC");
    }
}

static void stmt(out *o, const bs_cql_stmt *s);

static void print_select(out *o, const bs_cql_select *s) {
    put(o, "SELECT ");
    if (s->json) put(o, "JSON ");
    if (s->distinct) put(o, "DISTINCT ");
    if (s->star) put(o, "*");
    for (uint32_t i = 0; i < s->nsel; i++) {
        if (i) put(o, ", ");
        expr(o, s->sel[i].expr);
        if (s->sel[i].alias) {
            put(o, " AS ");
            ident(o, s->sel[i].alias);
        }
    }
    put(o, " FROM ");
    qname(o, &s->table);
    relations(o, " WHERE ", s->where, s->nwhere);
    if (s->ngroup) {
        put(o, " GROUP BY ");
        ident_list(o, s->group, s->ngroup);
    }
    if (s->norder) {
        put(o, " ORDER BY ");
        orders(o, s->order, s->norder);
    }
    if (s->per_partition_limit) {
        put(o, " PER PARTITION LIMIT ");
        expr(o, s->per_partition_limit);
    }
    if (s->limit) {
        put(o, " LIMIT ");
        expr(o, s->limit);
    }
    if (s->allow_filtering) put(o, " ALLOW FILTERING");
}

static void print_update(out *o, const bs_cql_update *s) {
    put(o, "UPDATE ");
    qname(o, &s->table);
    using(o, &s->using);
    put(o, " SET ");
    for (uint32_t i = 0; i < s->nassign; i++) {
        const bs_cql_assign *a = &s->assign[i];
        if (i) put(o, ", ");
        ident(o, a->column);
        switch (a->kind) {
        case BS_CQL_ASSIGN_SET: put(o, " = "); break;
        case BS_CQL_ASSIGN_ADD:
        case BS_CQL_ASSIGN_SUB:
            put(o, " = ");
            ident(o, a->column);
            put(o, a->kind == BS_CQL_ASSIGN_ADD ? " + " : " - ");
            break;
        case BS_CQL_ASSIGN_PREPEND:
            put(o, " = ");
            expr(o, a->value);
            put(o, " + ");
            ident(o, a->column);
            continue;
        case BS_CQL_ASSIGN_SET_ELEM:
            put(o, "[");
            expr(o, a->key);
            put(o, "] = ");
            break;
        case BS_CQL_ASSIGN_SET_FIELD:
            put(o, ".");
            ident(o, a->field);
            put(o, " = ");
            break;
        }
        expr(o, a->value);
    }
    relations(o, " WHERE ", s->where, s->nwhere);
    if_clause(o, s->if_exists, s->conds, s->nconds);
}

static void print_delete(out *o, const bs_cql_delete *s) {
    put(o, "DELETE ");
    for (uint32_t i = 0; i < s->ncols; i++) {
        if (i) put(o, ", ");
        ident(o, s->cols[i].column);
        if (s->cols[i].key) {
            put(o, "[");
            expr(o, s->cols[i].key);
            put(o, "]");
        } else if (s->cols[i].field) {
            put(o, ".");
            ident(o, s->cols[i].field);
        }
    }
    put(o, s->ncols ? " FROM " : "FROM ");
    qname(o, &s->table);
    using(o, &s->using);
    relations(o, " WHERE ", s->where, s->nwhere);
    if_clause(o, s->if_exists, s->conds, s->nconds);
}

static void print_insert(out *o, const bs_cql_insert *s) {
    put(o, "INSERT INTO ");
    qname(o, &s->table);
    if (s->json) {
        put(o, " JSON ");
        expr(o, s->json);
        if (s->json_default_unset) put(o, " DEFAULT UNSET");
    } else {
        put(o, " (");
        ident_list(o, s->cols, s->ncols);
        put(o, ") VALUES (");
        expr_list(o, s->values, s->ncols);
        put(o, ")");
    }
    if (s->if_not_exists) put(o, " IF NOT EXISTS");
    using(o, &s->using);
}

static void print_create_table(out *o, const bs_cql_create_table *s) {
    put(o, "CREATE TABLE ");
    if (s->if_not_exists) put(o, "IF NOT EXISTS ");
    qname(o, &s->table);
    put(o, " (");
    coldefs(o, s->cols, s->ncols);
    put(o, s->ncols ? ", PRIMARY KEY (" : "PRIMARY KEY (");
    if (s->npk == 1) {
        ident(o, s->pk[0]);
    } else {
        put(o, "(");
        ident_list(o, s->pk, s->npk);
        put(o, ")");
    }
    for (uint32_t i = 0; i < s->nck; i++) {
        put(o, ", ");
        ident(o, s->ck[i]);
    }
    put(o, "))");
    if (s->norder) {
        put(o, " WITH CLUSTERING ORDER BY (");
        orders(o, s->order, s->norder);
        put(o, ")");
    }
    options(o, s->opts, s->nopts, s->norder != 0);
}

static void print_alter(out *o, const bs_cql_alter *s) {
    qname(o, &s->name);
    switch (s->kind) {
    case BS_CQL_ALTER_ADD:
        put(o, s->ncols == 1 ? " ADD " : " ADD (");
        coldefs(o, s->cols, s->ncols);
        if (s->ncols != 1) put(o, ")");
        break;
    case BS_CQL_ALTER_DROP:
        put(o, s->ndrop == 1 ? " DROP " : " DROP (");
        ident_list(o, s->drop, s->ndrop);
        if (s->ndrop != 1) put(o, ")");
        break;
    case BS_CQL_ALTER_RENAME:
        put(o, " RENAME ");
        for (uint32_t i = 0; i < s->nrename; i++) {
            if (i) put(o, " AND ");
            ident(o, s->from[i]);
            put(o, " TO ");
            ident(o, s->to[i]);
        }
        break;
    case BS_CQL_ALTER_WITH: options(o, s->opts, s->nopts, 0); break;
    }
}

static void print_describe(out *o, const bs_cql_describe *d) {
    put(o, "DESCRIBE ");
    if (d->full) put(o, "FULL ");
    switch ((bs_cql_desc_kind)d->what) {
    case BS_CQL_DESC_SCHEMA: put(o, "SCHEMA"); break;
    case BS_CQL_DESC_KEYSPACES: put(o, "KEYSPACES"); break;
    case BS_CQL_DESC_KEYSPACE:
        put(o, d->only ? "ONLY KEYSPACE" : "KEYSPACE");
        if (d->name.name) {
            put(o, " ");
            ident(o, d->name.name);
        }
        break;
    case BS_CQL_DESC_TABLES: put(o, "TABLES"); break;
    case BS_CQL_DESC_TABLE:
        put(o, "TABLE ");
        qname(o, &d->name);
        break;
    case BS_CQL_DESC_CLUSTER: put(o, "CLUSTER"); break;
    case BS_CQL_DESC_TYPES: put(o, "TYPES"); break;
    case BS_CQL_DESC_NAME: qname(o, &d->name); break;
    case BS_CQL_DESC_FUNCTIONS: put(o, "FUNCTIONS"); break;
    case BS_CQL_DESC_AGGREGATES: put(o, "AGGREGATES"); break;
    case BS_CQL_DESC_TYPE:
    case BS_CQL_DESC_FUNCTION:
    case BS_CQL_DESC_AGGREGATE:
        put(o, d->what == BS_CQL_DESC_TYPE       ? "TYPE "
               : d->what == BS_CQL_DESC_FUNCTION ? "FUNCTION "
                                                 : "AGGREGATE ");
        qname(o, &d->name);
        break;
    }
}

static const char *perm_word(uint8_t perms) {
    switch (perms) {
    case BS_CQL_PERM_CREATE: return "CREATE";
    case BS_CQL_PERM_ALTER: return "ALTER";
    case BS_CQL_PERM_DROP: return "DROP";
    case BS_CQL_PERM_SELECT: return "SELECT";
    case BS_CQL_PERM_MODIFY: return "MODIFY";
    case BS_CQL_PERM_AUTHORIZE: return "AUTHORIZE";
    default: return "ALL PERMISSIONS";
    }
}

static void print_resource(out *o, const bs_cql_role *r) {
    switch (r->res) {
    case BS_CQL_RES_ALL_KEYSPACES: put(o, " ON ALL KEYSPACES"); break;
    case BS_CQL_RES_KEYSPACE:
        put(o, " ON KEYSPACE ");
        ident(o, r->resource.name);
        break;
    case BS_CQL_RES_TABLE:
        put(o, " ON TABLE ");
        qname(o, &r->resource);
        break;
    default: break;
    }
}

static void print_role(out *o, const bs_cql_stmt *s) {
    const bs_cql_role *r = &s->u.role;
    switch (s->kind) {
    case BS_CQL_STMT_CREATE_ROLE:
    case BS_CQL_STMT_ALTER_ROLE: {
        put(o, s->kind == BS_CQL_STMT_CREATE_ROLE ? "CREATE ROLE " : "ALTER ROLE ");
        if (r->if_not_exists) put(o, "IF NOT EXISTS ");
        ident(o, r->role);
        const char *sep = " WITH ";
        if (r->password) {
            put(o, sep);
            put(o, "PASSWORD = ");
            quoted(o, r->password, strlen(r->password), '\'');
            sep = " AND ";
        }
        if (r->login >= 0) {
            put(o, sep);
            put(o, r->login ? "LOGIN = true" : "LOGIN = false");
            sep = " AND ";
        }
        if (r->superuser >= 0) {
            put(o, sep);
            put(o, r->superuser ? "SUPERUSER = true" : "SUPERUSER = false");
        }
        break;
    }
    case BS_CQL_STMT_DROP_ROLE:
        put(o, r->if_exists ? "DROP ROLE IF EXISTS " : "DROP ROLE ");
        ident(o, r->role);
        break;
    case BS_CQL_STMT_GRANT:
    case BS_CQL_STMT_REVOKE:
        put(o, s->kind == BS_CQL_STMT_GRANT ? "GRANT " : "REVOKE ");
        put(o, perm_word(r->perms));
        print_resource(o, r);
        put(o, s->kind == BS_CQL_STMT_GRANT ? " TO " : " FROM ");
        ident(o, r->role);
        break;
    default: /* LIST ROLES / USERS / PERMISSIONS */
        if (s->kind == BS_CQL_STMT_LIST_ROLES) {
            put(o, r->users ? "LIST USERS" : "LIST ROLES");
        } else {
            put(o, "LIST ");
            put(o, perm_word(r->perms));
            print_resource(o, r);
        }
        if (r->role) {
            put(o, " OF ");
            ident(o, r->role);
        }
        if (r->norecursive) put(o, " NORECURSIVE");
        break;
    }
}

static void stmt(out *o, const bs_cql_stmt *s) {
    switch (s->kind) {
    case BS_CQL_STMT_DESCRIBE: print_describe(o, &s->u.describe); break;
    case BS_CQL_STMT_CREATE_ROLE:
    case BS_CQL_STMT_ALTER_ROLE:
    case BS_CQL_STMT_DROP_ROLE:
    case BS_CQL_STMT_LIST_ROLES:
    case BS_CQL_STMT_GRANT:
    case BS_CQL_STMT_REVOKE:
    case BS_CQL_STMT_LIST_PERMISSIONS: print_role(o, s); break;
    case BS_CQL_STMT_USE:
        put(o, "USE ");
        ident(o, s->u.use.keyspace);
        break;
    case BS_CQL_STMT_CREATE_KEYSPACE:
    case BS_CQL_STMT_ALTER_KEYSPACE:
        put(o, s->kind == BS_CQL_STMT_CREATE_KEYSPACE ? "CREATE KEYSPACE "
                                                      : "ALTER KEYSPACE ");
        if (s->u.keyspace.if_not_exists) put(o, "IF NOT EXISTS ");
        ident(o, s->u.keyspace.name);
        options(o, s->u.keyspace.opts, s->u.keyspace.nopts, 0);
        break;
    case BS_CQL_STMT_DROP_KEYSPACE:
    case BS_CQL_STMT_DROP_TABLE:
    case BS_CQL_STMT_DROP_TYPE:
        put(o, s->kind == BS_CQL_STMT_DROP_KEYSPACE ? "DROP KEYSPACE "
               : s->kind == BS_CQL_STMT_DROP_TABLE  ? "DROP TABLE "
                                                    : "DROP TYPE ");
        if (s->u.drop.if_exists) put(o, "IF EXISTS ");
        qname(o, &s->u.drop.name);
        break;
    case BS_CQL_STMT_TRUNCATE:
        put(o, "TRUNCATE TABLE ");
        qname(o, &s->u.drop.name);
        break;
    case BS_CQL_STMT_CREATE_TABLE:
        print_create_table(o, &s->u.create_table);
        break;
    case BS_CQL_STMT_ALTER_TABLE:
        put(o, "ALTER TABLE ");
        print_alter(o, &s->u.alter);
        break;
    case BS_CQL_STMT_ALTER_TYPE:
        put(o, "ALTER TYPE ");
        print_alter(o, &s->u.alter);
        break;
    case BS_CQL_STMT_CREATE_TYPE:
        put(o, "CREATE TYPE ");
        if (s->u.create_type.if_not_exists) put(o, "IF NOT EXISTS ");
        qname(o, &s->u.create_type.name);
        put(o, " (");
        coldefs(o, s->u.create_type.fields, s->u.create_type.nfields);
        put(o, ")");
        break;
    case BS_CQL_STMT_INSERT: print_insert(o, &s->u.insert); break;
    case BS_CQL_STMT_UPDATE: print_update(o, &s->u.update); break;
    case BS_CQL_STMT_DELETE: print_delete(o, &s->u.del); break;
    case BS_CQL_STMT_SELECT: print_select(o, &s->u.select); break;
    case BS_CQL_STMT_BATCH: {
        const bs_cql_batch *b = &s->u.batch;
        put(o, b->kind == BS_CQL_BATCH_UNLOGGED  ? "BEGIN UNLOGGED BATCH"
               : b->kind == BS_CQL_BATCH_COUNTER ? "BEGIN COUNTER BATCH"
                                                 : "BEGIN BATCH");
        using(o, &b->using);
        for (uint32_t i = 0; i < b->nstmts; i++) {
            put(o, " ");
            stmt(o, b->stmts[i]);
            put(o, ";");
        }
        put(o, " APPLY BATCH");
        break;
    }
    }
}

int bs_cql_print(const bs_cql_stmt *s, bs_buf *b) {
    out o = {b, s->binds, 0};
    stmt(&o, s);
    return o.rc;
}

int bs_cql_print_ident(const char *id, bs_buf *b) {
    out o = {b, NULL, 0};
    ident(&o, id);
    return o.rc;
}

int bs_cql_print_type(const bs_type *t, bs_buf *b) {
    out o = {b, NULL, 0};
    type(&o, t);
    return o.rc;
}

int bs_cql_print_literal(const bs_literal *l, bs_buf *b) {
    out o = {b, NULL, 0};
    literal(&o, l);
    return o.rc;
}

int bs_cql_print_expr(const bs_cql_expr *e, const bs_cql_bind *binds,
                      bs_buf *b) {
    out o = {b, binds, 0};
    expr(&o, e);
    return o.rc;
}

/* ------------------------------------------------------------------ */
/* equality                                                            */

static int str_eq(const char *a, const char *b) {
    if (!a || !b) return a == b;
    return strcmp(a, b) == 0;
}

static int strs_eq(const char *const *a, const char *const *b, uint32_t n) {
    for (uint32_t i = 0; i < n; i++)
        if (!str_eq(a[i], b[i])) return 0;
    return 1;
}

static int type_eq(const bs_type *a, const bs_type *b) {
    if (!a || !b) return a == b;
    return bs_type_equal(a, b);
}

static int expr_eq(const bs_cql_expr *a, const bs_cql_expr *b);

static int exprs_eq(bs_cql_expr *const *a, bs_cql_expr *const *b, uint32_t n) {
    for (uint32_t i = 0; i < n; i++)
        if (!expr_eq(a[i], b[i])) return 0;
    return 1;
}

static int expr_eq(const bs_cql_expr *a, const bs_cql_expr *b) {
    if (!a || !b) return a == b;
    if (a->kind != b->kind || a->n != b->n || a->star != b->star ||
        a->sql_cast != b->sql_cast || !str_eq(a->name, b->name) ||
        !str_eq(a->ks, b->ks) || !type_eq(a->type, b->type))
        return 0;
    if (a->kind == BS_CQL_EXPR_LITERAL &&
        (a->lit.kind != b->lit.kind || a->lit.len != b->lit.len ||
         (a->lit.len && memcmp(a->lit.text, b->lit.text, a->lit.len))))
        return 0;
    if (a->kind == BS_CQL_EXPR_BIND && a->bind != b->bind) return 0;
    if (!exprs_eq(a->items, b->items, a->n)) return 0;
    if (a->kind == BS_CQL_EXPR_MAP && !exprs_eq(a->values, b->values, a->n))
        return 0;
    if (a->kind == BS_CQL_EXPR_UDT && !strs_eq(a->fields, b->fields, a->n))
        return 0;
    return 1;
}

static int rel_eq(const bs_cql_relation *a, const bs_cql_relation *b,
                  uint32_t n) {
    for (uint32_t i = 0; i < n; i++, a++, b++) {
        if (a->lhs != b->lhs || a->op != b->op ||
            !str_eq(a->column, b->column) || !expr_eq(a->key, b->key) ||
            !str_eq(a->field, b->field) || a->ncols != b->ncols ||
            !strs_eq(a->cols, b->cols, a->ncols) || !expr_eq(a->rhs, b->rhs) ||
            a->in_list != b->in_list || a->nin != b->nin ||
            !exprs_eq(a->in, b->in, a->nin))
            return 0;
    }
    return 1;
}

static int opts_eq(const bs_cql_option *a, const bs_cql_option *b, uint32_t n) {
    for (uint32_t i = 0; i < n; i++)
        if (!str_eq(a[i].name, b[i].name) || !expr_eq(a[i].value, b[i].value))
            return 0;
    return 1;
}

static int using_eq(const bs_cql_using *a, const bs_cql_using *b) {
    return expr_eq(a->ttl, b->ttl) && expr_eq(a->timestamp, b->timestamp);
}

static int cols_eq(const bs_cql_coldef *a, const bs_cql_coldef *b, uint32_t n) {
    for (uint32_t i = 0; i < n; i++)
        if (!str_eq(a[i].name, b[i].name) || !type_eq(a[i].type, b[i].type) ||
            a[i].is_static != b[i].is_static)
            return 0;
    return 1;
}

static int order_eq(const bs_cql_order *a, const bs_cql_order *b, uint32_t n) {
    for (uint32_t i = 0; i < n; i++)
        if (!str_eq(a[i].column, b[i].column) || a[i].desc != b[i].desc)
            return 0;
    return 1;
}

static int recv_eq(const bs_cql_recv *a, const bs_cql_recv *b) {
    return a->kind == b->kind && str_eq(a->column, b->column) &&
           str_eq(a->field, b->field) && str_eq(a->ks, b->ks) &&
           a->index == b->index && a->ncols == b->ncols &&
           strs_eq(a->cols, b->cols, a->ncols);
}

/* CREATE TABLE bodies. */
static int create_table_eq(const bs_cql_create_table *x,
                           const bs_cql_create_table *y) {
    return str_eq(x->table.ks, y->table.ks) &&
           str_eq(x->table.name, y->table.name) &&
           x->if_not_exists == y->if_not_exists && x->ncols == y->ncols &&
           cols_eq(x->cols, y->cols, x->ncols) && x->npk == y->npk &&
           strs_eq(x->pk, y->pk, x->npk) && x->nck == y->nck &&
           strs_eq(x->ck, y->ck, x->nck) && x->norder == y->norder &&
           order_eq(x->order, y->order, x->norder) && x->nopts == y->nopts &&
           opts_eq(x->opts, y->opts, x->nopts);
}

/* UPDATE bodies. */
static int update_eq(const bs_cql_update *x, const bs_cql_update *y) {
    if (!str_eq(x->table.ks, y->table.ks) ||
        !str_eq(x->table.name, y->table.name) ||
        !using_eq(&x->using, &y->using) || x->nassign != y->nassign ||
        x->nwhere != y->nwhere || !rel_eq(x->where, y->where, x->nwhere) ||
        x->if_exists != y->if_exists || x->nconds != y->nconds ||
        !rel_eq(x->conds, y->conds, x->nconds))
        return 0;
    for (uint32_t i = 0; i < x->nassign; i++) {
        const bs_cql_assign *p = &x->assign[i], *q = &y->assign[i];
        if (p->kind != q->kind || !str_eq(p->column, q->column) ||
            !expr_eq(p->key, q->key) || !str_eq(p->field, q->field) ||
            !expr_eq(p->value, q->value))
            return 0;
    }
    return 1;
}

/* DELETE bodies. */
static int delete_eq(const bs_cql_delete *x, const bs_cql_delete *y) {
    if (!str_eq(x->table.ks, y->table.ks) ||
        !str_eq(x->table.name, y->table.name) ||
        !using_eq(&x->using, &y->using) || x->ncols != y->ncols ||
        x->nwhere != y->nwhere || !rel_eq(x->where, y->where, x->nwhere) ||
        x->if_exists != y->if_exists || x->nconds != y->nconds ||
        !rel_eq(x->conds, y->conds, x->nconds))
        return 0;
    for (uint32_t i = 0; i < x->ncols; i++)
        if (!str_eq(x->cols[i].column, y->cols[i].column) ||
            !expr_eq(x->cols[i].key, y->cols[i].key) ||
            !str_eq(x->cols[i].field, y->cols[i].field))
            return 0;
    return 1;
}

/* SELECT bodies. */
static int select_eq(const bs_cql_select *x, const bs_cql_select *y) {
    if (x->json != y->json || x->distinct != y->distinct ||
        x->star != y->star || x->nsel != y->nsel ||
        !str_eq(x->table.ks, y->table.ks) ||
        !str_eq(x->table.name, y->table.name) || x->nwhere != y->nwhere ||
        !rel_eq(x->where, y->where, x->nwhere) || x->ngroup != y->ngroup ||
        !strs_eq(x->group, y->group, x->ngroup) || x->norder != y->norder ||
        !order_eq(x->order, y->order, x->norder) ||
        !expr_eq(x->per_partition_limit, y->per_partition_limit) ||
        !expr_eq(x->limit, y->limit) ||
        x->allow_filtering != y->allow_filtering)
        return 0;
    for (uint32_t i = 0; i < x->nsel; i++)
        if (!expr_eq(x->sel[i].expr, y->sel[i].expr) ||
            !str_eq(x->sel[i].alias, y->sel[i].alias))
            return 0;
    return 1;
}

static int body_eq(const bs_cql_stmt *a, const bs_cql_stmt *b) {
    if (a->kind != b->kind) return 0;
    switch (a->kind) {
    case BS_CQL_STMT_USE: return str_eq(a->u.use.keyspace, b->u.use.keyspace);
    case BS_CQL_STMT_DESCRIBE: {
        const bs_cql_describe *x = &a->u.describe, *y = &b->u.describe;
        return x->what == y->what && x->full == y->full && x->only == y->only &&
               str_eq(x->name.ks, y->name.ks) && str_eq(x->name.name, y->name.name);
    }
    case BS_CQL_STMT_CREATE_KEYSPACE:
    case BS_CQL_STMT_ALTER_KEYSPACE: {
        const bs_cql_keyspace_def *x = &a->u.keyspace, *y = &b->u.keyspace;
        return str_eq(x->name, y->name) &&
               x->if_not_exists == y->if_not_exists && x->nopts == y->nopts &&
               opts_eq(x->opts, y->opts, x->nopts);
    }
    case BS_CQL_STMT_DROP_KEYSPACE:
    case BS_CQL_STMT_DROP_TABLE:
    case BS_CQL_STMT_DROP_TYPE:
    case BS_CQL_STMT_TRUNCATE:
        return str_eq(a->u.drop.name.ks, b->u.drop.name.ks) &&
               str_eq(a->u.drop.name.name, b->u.drop.name.name) &&
               a->u.drop.if_exists == b->u.drop.if_exists;
    case BS_CQL_STMT_CREATE_TABLE:
        return create_table_eq(&a->u.create_table, &b->u.create_table);
    case BS_CQL_STMT_ALTER_TABLE:
    case BS_CQL_STMT_ALTER_TYPE: {
        const bs_cql_alter *x = &a->u.alter, *y = &b->u.alter;
        return str_eq(x->name.ks, y->name.ks) &&
               str_eq(x->name.name, y->name.name) && x->kind == y->kind &&
               x->ncols == y->ncols && cols_eq(x->cols, y->cols, x->ncols) &&
               x->ndrop == y->ndrop && strs_eq(x->drop, y->drop, x->ndrop) &&
               x->nrename == y->nrename &&
               strs_eq(x->from, y->from, x->nrename) &&
               strs_eq(x->to, y->to, x->nrename) && x->nopts == y->nopts &&
               opts_eq(x->opts, y->opts, x->nopts);
    }
    case BS_CQL_STMT_CREATE_TYPE: {
        const bs_cql_create_type *x = &a->u.create_type, *y = &b->u.create_type;
        return str_eq(x->name.ks, y->name.ks) &&
               str_eq(x->name.name, y->name.name) &&
               x->if_not_exists == y->if_not_exists &&
               x->nfields == y->nfields &&
               cols_eq(x->fields, y->fields, x->nfields);
    }
    case BS_CQL_STMT_INSERT: {
        const bs_cql_insert *x = &a->u.insert, *y = &b->u.insert;
        return str_eq(x->table.ks, y->table.ks) &&
               str_eq(x->table.name, y->table.name) && x->ncols == y->ncols &&
               strs_eq(x->cols, y->cols, x->ncols) &&
               exprs_eq(x->values, y->values, x->ncols) &&
               expr_eq(x->json, y->json) &&
               x->json_default_unset == y->json_default_unset &&
               x->if_not_exists == y->if_not_exists &&
               using_eq(&x->using, &y->using);
    }
    case BS_CQL_STMT_UPDATE: return update_eq(&a->u.update, &b->u.update);
    case BS_CQL_STMT_DELETE: return delete_eq(&a->u.del, &b->u.del);
    case BS_CQL_STMT_BATCH: {
        const bs_cql_batch *x = &a->u.batch, *y = &b->u.batch;
        if (x->kind != y->kind || !using_eq(&x->using, &y->using) ||
            x->nstmts != y->nstmts)
            return 0;
        for (uint32_t i = 0; i < x->nstmts; i++)
            if (!body_eq(x->stmts[i], y->stmts[i])) return 0;
        return 1;
    }
    case BS_CQL_STMT_SELECT: return select_eq(&a->u.select, &b->u.select);
    case BS_CQL_STMT_CREATE_ROLE:
    case BS_CQL_STMT_ALTER_ROLE:
    case BS_CQL_STMT_DROP_ROLE:
    case BS_CQL_STMT_LIST_ROLES:
    case BS_CQL_STMT_GRANT:
    case BS_CQL_STMT_REVOKE:
    case BS_CQL_STMT_LIST_PERMISSIONS: {
        const bs_cql_role *x = &a->u.role, *y = &b->u.role;
        return str_eq(x->role, y->role) && x->if_exists == y->if_exists &&
               x->if_not_exists == y->if_not_exists && x->users == y->users &&
               x->norecursive == y->norecursive && str_eq(x->password, y->password) &&
               x->login == y->login && x->superuser == y->superuser &&
               x->perms == y->perms && x->res == y->res &&
               str_eq(x->resource.ks, y->resource.ks) &&
               str_eq(x->resource.name, y->resource.name);
    }
    }
    return 0;
}

int bs_cql_stmt_equal(const bs_cql_stmt *a, const bs_cql_stmt *b) {
    if (a->nbinds != b->nbinds) return 0;
    for (uint32_t i = 0; i < a->nbinds; i++) {
        const bs_cql_bind *x = &a->binds[i], *y = &b->binds[i];
        if (x->index != y->index || !str_eq(x->name, y->name) ||
            !recv_eq(&x->recv, &y->recv) ||
            !str_eq(x->recv_name, y->recv_name) || !type_eq(x->cast, y->cast))
            return 0;
    }
    return body_eq(a, b);
}
