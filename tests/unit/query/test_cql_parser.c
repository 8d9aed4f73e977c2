/*
 * test_cql_parser.c - unit tests for query/cql_parse.c: every statement
 * form with its AST fields, identifier folding and quoting, literal
 * kinds in terms, bind markers with receivers, error messages with exact
 * positions, unsupported statements, nesting limits, scripts, splitting.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/error.h"
#include "query/cql.h"

static bs_arena A;

static void setup(void) {
    bs_arena_init(&A, 0);
}
static void teardown(void) {
    bs_arena_free(&A);
}

static bs_cql_stmt *P(const char *q) {
    bs_cql_error e;
    bs_cql_stmt *s = NULL;
    int rc = bs_cql_parse(&A, q, strlen(q), &s, &e);
    ck_assert_msg(rc == 0, "parse failed (%d) for <%s>: %s", rc, q, e.msg);
    ck_assert_ptr_nonnull(s);
    return s;
}

static bs_cql_error PE(const char *q, int code) {
    bs_cql_error e;
    bs_cql_stmt *s = NULL;
    int rc = bs_cql_parse(&A, q, strlen(q), &s, &e);
    ck_assert_msg(rc == code, "<%s>: rc %d want %d (%s)", q, rc, code,
                  rc ? e.msg : "ok");
    ck_assert_int_eq(e.code, code);
    return e;
}

static void lit_is(const bs_cql_expr *e, bs_lit_kind k, const char *text) {
    ck_assert_ptr_nonnull(e);
    ck_assert_int_eq(e->kind, BS_CQL_EXPR_LITERAL);
    ck_assert_int_eq(e->lit.kind, k);
    ck_assert_uint_eq(e->lit.len, strlen(text));
    ck_assert_msg(memcmp(e->lit.text, text, e->lit.len) == 0,
                  "literal %.*s != %s", (int)e->lit.len, e->lit.text, text);
}

static void bind_is(const bs_cql_stmt *s, uint32_t i, const char *name,
                    bs_cql_recv_kind k, const char *recv_name) {
    ck_assert_uint_lt(i, s->nbinds);
    const bs_cql_bind *b = &s->binds[i];
    ck_assert_uint_eq(b->index, i);
    if (name)
        ck_assert_str_eq(b->name, name);
    else
        ck_assert_ptr_null(b->name);
    ck_assert_int_eq(b->recv.kind, k);
    ck_assert_str_eq(b->recv_name, recv_name);
}

/* ---------------- DDL ---------------- */

START_TEST(parse_use_and_keyspaces) {
    bs_cql_stmt *s = P("USE MyKs");
    ck_assert_int_eq(s->kind, BS_CQL_STMT_USE);
    ck_assert_str_eq(s->u.use.keyspace, "myks");
    s = P("use \"MyKs\";");
    ck_assert_str_eq(s->u.use.keyspace, "MyKs");

    s = P("CREATE KEYSPACE IF NOT EXISTS ks WITH replication = "
          "{'class': 'SimpleStrategy', 'replication_factor': 3} "
          "AND durable_writes = false");
    ck_assert_int_eq(s->kind, BS_CQL_STMT_CREATE_KEYSPACE);
    const bs_cql_keyspace_def *k = &s->u.keyspace;
    ck_assert_str_eq(k->name, "ks");
    ck_assert_int_eq(k->if_not_exists, 1);
    ck_assert_uint_eq(k->nopts, 2);
    ck_assert_str_eq(k->opts[0].name, "replication");
    ck_assert_int_eq(k->opts[0].value->kind, BS_CQL_EXPR_MAP);
    ck_assert_uint_eq(k->opts[0].value->n, 2);
    lit_is(k->opts[0].value->items[0], BS_LIT_STRING, "class");
    lit_is(k->opts[0].value->values[0], BS_LIT_STRING, "SimpleStrategy");
    lit_is(k->opts[0].value->items[1], BS_LIT_STRING, "replication_factor");
    lit_is(k->opts[0].value->values[1], BS_LIT_INTEGER, "3");
    ck_assert_str_eq(k->opts[1].name, "durable_writes");
    lit_is(k->opts[1].value, BS_LIT_BOOL, "false");

    s = P("ALTER KEYSPACE ks WITH replication = {'class': "
          "'NetworkTopologyStrategy', 'dc1': 3, 'dc2': 2}");
    ck_assert_int_eq(s->kind, BS_CQL_STMT_ALTER_KEYSPACE);
    ck_assert_uint_eq(s->u.keyspace.opts[0].value->n, 3);
    ck_assert_int_eq(s->u.keyspace.if_not_exists, 0);

    s = P("DROP KEYSPACE IF EXISTS ks");
    ck_assert_int_eq(s->kind, BS_CQL_STMT_DROP_KEYSPACE);
    ck_assert_str_eq(s->u.drop.name.name, "ks");
    ck_assert_int_eq(s->u.drop.if_exists, 1);
    s = P("DROP SCHEMA ks");
    ck_assert_int_eq(s->kind, BS_CQL_STMT_DROP_KEYSPACE);
    ck_assert_int_eq(s->u.drop.if_exists, 0);

    /* a keyspace needs WITH */
    PE("CREATE KEYSPACE ks", BS_ESYNTAX);
}
END_TEST

START_TEST(parse_create_table_full) {
    bs_cql_stmt *s = P(
        "CREATE TABLE IF NOT EXISTS ks.\"Events\" (\n"
        "  tenant text, bucket int, ts timeuuid, seq bigint,\n"
        "  payload blob, tags set<text>, attrs map<text, frozen<list<int>>>,\n"
        "  loc frozen<tuple<double, double>>, owner frozen<ks.person>,\n"
        "  version int STATIC, custom 'org.example.MyType',\n"
        "  PRIMARY KEY ((tenant, bucket), ts, seq)\n"
        ") WITH CLUSTERING ORDER BY (ts DESC, seq ASC)\n"
        "  AND default_time_to_live = 86400 AND gc_grace_seconds = 3600\n"
        "  AND compaction = {'class': 'LeveledCompactionStrategy'}\n"
        "  AND compression = {'sstable_compression': 'LZ4Compressor', "
        "'chunk_length_kb': 64}\n"
        "  AND comment = 'it''s a table' AND caching = {'keys': 'ALL'}\n"
        "  AND bloom_filter_fp_chance = 0.01 AND speculative_retry = "
        "'99PERCENTILE'");
    ck_assert_int_eq(s->kind, BS_CQL_STMT_CREATE_TABLE);
    const bs_cql_create_table *t = &s->u.create_table;
    ck_assert_int_eq(t->if_not_exists, 1);
    ck_assert_str_eq(t->table.ks, "ks");
    ck_assert_str_eq(t->table.name, "Events");
    ck_assert_uint_eq(t->ncols, 11);
    ck_assert_str_eq(t->cols[0].name, "tenant");
    ck_assert_int_eq(t->cols[0].type->kind, BS_TYPE_VARCHAR);
    ck_assert_int_eq(t->cols[2].type->kind, BS_TYPE_TIMEUUID);
    ck_assert_int_eq(t->cols[5].type->kind, BS_TYPE_SET);
    ck_assert_int_eq(t->cols[5].type->frozen, 0);
    ck_assert_int_eq(t->cols[5].type->params[0]->kind, BS_TYPE_VARCHAR);
    const bs_type *m = t->cols[6].type;
    ck_assert_int_eq(m->kind, BS_TYPE_MAP);
    ck_assert_uint_eq(m->nparams, 2);
    ck_assert_int_eq(m->params[1]->kind, BS_TYPE_LIST);
    ck_assert_int_eq(m->params[1]->frozen, 1);
    ck_assert_int_eq(m->params[1]->params[0]->kind, BS_TYPE_INT);
    const bs_type *tu = t->cols[7].type;
    ck_assert_int_eq(tu->kind, BS_TYPE_TUPLE);
    ck_assert_int_eq(tu->frozen, 1);
    ck_assert_uint_eq(tu->nparams, 2);
    ck_assert_int_eq(tu->params[1]->kind, BS_TYPE_DOUBLE);
    const bs_type *u = t->cols[8].type;
    ck_assert_int_eq(u->kind, BS_TYPE_UDT);
    ck_assert_str_eq(u->name, "person");
    ck_assert_str_eq(u->keyspace, "ks");
    ck_assert_uint_eq(u->nparams, 0);
    ck_assert_int_eq(t->cols[9].is_static, 1);
    ck_assert_int_eq(t->cols[8].is_static, 0);
    ck_assert_int_eq(t->cols[10].type->kind, BS_TYPE_CUSTOM);
    ck_assert_str_eq(t->cols[10].type->name, "org.example.MyType");
    ck_assert_uint_eq(t->npk, 2);
    ck_assert_str_eq(t->pk[0], "tenant");
    ck_assert_str_eq(t->pk[1], "bucket");
    ck_assert_uint_eq(t->nck, 2);
    ck_assert_str_eq(t->ck[0], "ts");
    ck_assert_str_eq(t->ck[1], "seq");
    ck_assert_uint_eq(t->norder, 2);
    ck_assert_str_eq(t->order[0].column, "ts");
    ck_assert_int_eq(t->order[0].desc, 1);
    ck_assert_int_eq(t->order[1].desc, 0);
    ck_assert_uint_eq(t->nopts, 8);
    ck_assert_str_eq(t->opts[0].name, "default_time_to_live");
    lit_is(t->opts[0].value, BS_LIT_INTEGER, "86400");
    ck_assert_str_eq(t->opts[1].name, "gc_grace_seconds");
    ck_assert_str_eq(t->opts[2].name, "compaction");
    ck_assert_int_eq(t->opts[2].value->kind, BS_CQL_EXPR_MAP);
    ck_assert_uint_eq(t->opts[3].value->n, 2);
    lit_is(t->opts[3].value->values[1], BS_LIT_INTEGER, "64");
    lit_is(t->opts[4].value, BS_LIT_STRING, "it's a table");
    ck_assert_str_eq(t->opts[5].name, "caching");
    lit_is(t->opts[6].value, BS_LIT_FLOAT, "0.01");
    lit_is(t->opts[7].value, BS_LIT_STRING, "99PERCENTILE");
    /* the tree's types are usable with the common type API */
    bs_type *c = bs_type_clone(m);
    ck_assert(bs_type_equal(c, m));
    bs_type_free(c);
}
END_TEST

START_TEST(parse_create_table_variants) {
    bs_cql_stmt *s = P("CREATE TABLE t (k int PRIMARY KEY, v text,)");
    const bs_cql_create_table *t = &s->u.create_table;
    ck_assert_ptr_null(t->table.ks);
    ck_assert_uint_eq(t->ncols, 2);
    ck_assert_uint_eq(t->npk, 1);
    ck_assert_str_eq(t->pk[0], "k");
    ck_assert_uint_eq(t->nck, 0);
    ck_assert_uint_eq(t->nopts, 0);

    s = P("CREATE COLUMNFAMILY t (a int, b int, c int, PRIMARY KEY (a, b, c))");
    t = &s->u.create_table;
    ck_assert_uint_eq(t->npk, 1);
    ck_assert_uint_eq(t->nck, 2);

    /* type names and unreserved keywords are valid column names */
    s = P("CREATE TABLE t (key int, value text, text text, ttl int, "
          "PRIMARY KEY (key))");
    ck_assert_str_eq(s->u.create_table.cols[2].name, "text");
    ck_assert_int_eq(s->u.create_table.cols[2].type->kind, BS_TYPE_VARCHAR);

    bs_cql_error e = PE("CREATE TABLE t (k int, v int)", BS_EINVAL);
    ck_assert_str_eq(
        e.msg, "No PRIMARY KEY specifed for table 't' (exactly one required)");
    e = PE("CREATE TABLE t (k int PRIMARY KEY, v int, PRIMARY KEY (v))",
           BS_EINVAL);
    ck_assert_str_eq(e.msg,
                     "Multiple PRIMARY KEYs specifed (exactly one required)");
    e = PE("CREATE TABLE t (k int PRIMARY KEY) WITH COMPACT STORAGE",
           BS_ENOTSUP);
    ck_assert_str_eq(e.msg,
                     "COMPACT STORAGE tables are not supported by Basalt");
    e = PE("CREATE TABLE t (k frozen<int> PRIMARY KEY)", BS_EINVAL);
    e = PE("CREATE TABLE t (k int PRIMARY KEY) WITH comment = 'a' AND comment "
           "= 'b'",
           BS_ESYNTAX);
    ck_assert(strstr(e.msg, "Multiple definition for property 'comment'"));
    e = PE("CREATE TABLE t (k int PRIMARY KEY) WITH CLUSTERING ORDER BY (k)",
           BS_ESYNTAX);
    ck_assert(strstr(e.msg, "expecting ASC or DESC"));
    /* option count is capped (the duplicate check is pairwise) */
    bs_buf b = BS_BUF_INIT;
    ck_assert_int_eq(
        bs_buf_appendf(&b, "CREATE TABLE t (k int PRIMARY KEY) WITH o0 = 0"),
        0);
    for (int i = 1; i < 300; i++)
        ck_assert_int_eq(bs_buf_appendf(&b, " AND o%d = %d", i, i), 0);
    e = PE((const char *)b.data, BS_ESYNTAX);
    ck_assert(strstr(e.msg, "too many properties (more than 256)"));
    bs_buf_free(&b);
    e = PE("CREATE TABLE t (k list PRIMARY KEY)", BS_ESYNTAX);
    ck_assert(strstr(e.msg, "Invalid (reserved) user type name list"));
    e = PE("CREATE TABLE t (k vector<float, 3> PRIMARY KEY)", BS_ENOTSUP);
}
END_TEST

START_TEST(parse_alter_drop_truncate) {
    bs_cql_stmt *s = P("ALTER TABLE ks.t ADD v2 list<int>");
    ck_assert_int_eq(s->kind, BS_CQL_STMT_ALTER_TABLE);
    const bs_cql_alter *a = &s->u.alter;
    ck_assert_str_eq(a->name.ks, "ks");
    ck_assert_int_eq(a->kind, BS_CQL_ALTER_ADD);
    ck_assert_uint_eq(a->ncols, 1);
    ck_assert_int_eq(a->cols[0].type->kind, BS_TYPE_LIST);

    s = P("ALTER TABLE t ADD (a int, b text STATIC)");
    ck_assert_uint_eq(s->u.alter.ncols, 2);
    ck_assert_int_eq(s->u.alter.cols[1].is_static, 1);
    s = P("ALTER TABLE t ADD a int, b text");
    ck_assert_uint_eq(s->u.alter.ncols, 2);

    s = P("ALTER TABLE t DROP v");
    ck_assert_int_eq(s->u.alter.kind, BS_CQL_ALTER_DROP);
    ck_assert_uint_eq(s->u.alter.ndrop, 1);
    ck_assert_str_eq(s->u.alter.drop[0], "v");
    s = P("ALTER TABLE t DROP (c1, c2)");
    ck_assert_uint_eq(s->u.alter.ndrop, 2);
    ck_assert_str_eq(s->u.alter.drop[1], "c2");

    s = P("ALTER TABLE t RENAME a TO b AND c TO \"D\"");
    ck_assert_int_eq(s->u.alter.kind, BS_CQL_ALTER_RENAME);
    ck_assert_uint_eq(s->u.alter.nrename, 2);
    ck_assert_str_eq(s->u.alter.from[1], "c");
    ck_assert_str_eq(s->u.alter.to[1], "D");

    s = P("ALTER TABLE t WITH gc_grace_seconds = 0 AND comment = 'x'");
    ck_assert_int_eq(s->u.alter.kind, BS_CQL_ALTER_WITH);
    ck_assert_uint_eq(s->u.alter.nopts, 2);

    PE("ALTER TABLE t ALTER v TYPE text", BS_ENOTSUP);
    PE("ALTER TABLE t DROP COMPACT STORAGE", BS_ENOTSUP);

    s = P("DROP TABLE IF EXISTS ks.t");
    ck_assert_int_eq(s->kind, BS_CQL_STMT_DROP_TABLE);
    ck_assert_str_eq(s->u.drop.name.ks, "ks");
    ck_assert_str_eq(s->u.drop.name.name, "t");
    ck_assert_int_eq(s->u.drop.if_exists, 1);

    s = P("TRUNCATE t");
    ck_assert_int_eq(s->kind, BS_CQL_STMT_TRUNCATE);
    ck_assert_str_eq(s->u.drop.name.name, "t");
    s = P("TRUNCATE TABLE ks.t");
    ck_assert_str_eq(s->u.drop.name.ks, "ks");
}
END_TEST

START_TEST(parse_types_udts) {
    bs_cql_stmt *s = P("CREATE TYPE IF NOT EXISTS ks.address "
                       "(street text, zip int, phones set<text>)");
    ck_assert_int_eq(s->kind, BS_CQL_STMT_CREATE_TYPE);
    ck_assert_int_eq(s->u.create_type.if_not_exists, 1);
    ck_assert_str_eq(s->u.create_type.name.name, "address");
    ck_assert_uint_eq(s->u.create_type.nfields, 3);
    ck_assert_str_eq(s->u.create_type.fields[2].name, "phones");
    s = P("ALTER TYPE address ADD country text");
    ck_assert_int_eq(s->kind, BS_CQL_STMT_ALTER_TYPE);
    ck_assert_int_eq(s->u.alter.kind, BS_CQL_ALTER_ADD);
    s = P("ALTER TYPE address RENAME zip TO postcode");
    ck_assert_int_eq(s->u.alter.kind, BS_CQL_ALTER_RENAME);
    s = P("DROP TYPE IF EXISTS ks.address");
    ck_assert_int_eq(s->kind, BS_CQL_STMT_DROP_TYPE);
}
END_TEST

/* ---------------- DML ---------------- */

START_TEST(parse_insert) {
    bs_cql_stmt *s =
        P("INSERT INTO ks.t (k, \"V\", m) VALUES (1, 'x', {'a': 1}) "
          "IF NOT EXISTS USING TTL 86400 AND TIMESTAMP 1234567890");
    ck_assert_int_eq(s->kind, BS_CQL_STMT_INSERT);
    const bs_cql_insert *i = &s->u.insert;
    ck_assert_str_eq(i->table.ks, "ks");
    ck_assert_uint_eq(i->ncols, 3);
    ck_assert_str_eq(i->cols[1], "V");
    lit_is(i->values[0], BS_LIT_INTEGER, "1");
    lit_is(i->values[1], BS_LIT_STRING, "x");
    ck_assert_int_eq(i->values[2]->kind, BS_CQL_EXPR_MAP);
    ck_assert_int_eq(i->if_not_exists, 1);
    lit_is(i->using.ttl, BS_LIT_INTEGER, "86400");
    lit_is(i->using.timestamp, BS_LIT_INTEGER, "1234567890");
    ck_assert_ptr_null(i->json);

    s = P("INSERT INTO t (k) VALUES (?) USING TIMESTAMP ? AND TTL ?");
    ck_assert_uint_eq(s->nbinds, 3);
    bind_is(s, 0, NULL, BS_CQL_RECV_COLUMN, "k");
    bind_is(s, 1, NULL, BS_CQL_RECV_TIMESTAMP, "[timestamp]");
    bind_is(s, 2, NULL, BS_CQL_RECV_TTL, "[ttl]");

    s = P("INSERT INTO t JSON '{\"k\": 1, \"v\": \"x\"}' DEFAULT UNSET");
    lit_is(s->u.insert.json, BS_LIT_STRING, "{\"k\": 1, \"v\": \"x\"}");
    ck_assert_int_eq(s->u.insert.json_default_unset, 1);
    ck_assert_uint_eq(s->u.insert.ncols, 0);
    s = P("INSERT INTO t JSON ? DEFAULT NULL");
    ck_assert_int_eq(s->u.insert.json_default_unset, 0);
    bind_is(s, 0, NULL, BS_CQL_RECV_JSON, "[json]");

    bs_cql_error e = PE("INSERT INTO t (a, b) VALUES (1)", BS_EINVAL);
    ck_assert_str_eq(e.msg, "Unmatched column names/values");
    PE("INSERT INTO t (a) VALUES (1) USING TTL 1 AND TTL 2", BS_ESYNTAX);
}
END_TEST

START_TEST(parse_update_assignments) {
    bs_cql_stmt *s =
        P("UPDATE ks.t USING TTL 10 SET a = 1, l = l + [2], l2 = [0] + l2, "
          "s = s - {'x'}, m[?] = ?, c = c - 1, d = d -1, u.street = 'Main', "
          "n += 5, o -= {'k'} WHERE k = 1 AND ck > 2 IF a = 3 AND m['q'] != "
          "null");
    ck_assert_int_eq(s->kind, BS_CQL_STMT_UPDATE);
    const bs_cql_update *u = &s->u.update;
    lit_is(u->using.ttl, BS_LIT_INTEGER, "10");
    ck_assert_uint_eq(u->nassign, 10);
    ck_assert_int_eq(u->assign[0].kind, BS_CQL_ASSIGN_SET);
    ck_assert_int_eq(u->assign[1].kind, BS_CQL_ASSIGN_ADD);
    ck_assert_int_eq(u->assign[1].value->kind, BS_CQL_EXPR_LIST);
    ck_assert_int_eq(u->assign[2].kind, BS_CQL_ASSIGN_PREPEND);
    ck_assert_str_eq(u->assign[2].column, "l2");
    ck_assert_int_eq(u->assign[3].kind, BS_CQL_ASSIGN_SUB);
    ck_assert_int_eq(u->assign[3].value->kind, BS_CQL_EXPR_SET);
    ck_assert_int_eq(u->assign[4].kind, BS_CQL_ASSIGN_SET_ELEM);
    ck_assert_int_eq(u->assign[4].key->kind, BS_CQL_EXPR_BIND);
    ck_assert_int_eq(u->assign[5].kind, BS_CQL_ASSIGN_SUB);
    lit_is(u->assign[5].value, BS_LIT_INTEGER, "1");
    ck_assert_int_eq(u->assign[6].kind, BS_CQL_ASSIGN_SUB); /* "d -1" */
    lit_is(u->assign[6].value, BS_LIT_INTEGER, "1");
    ck_assert_int_eq(u->assign[7].kind, BS_CQL_ASSIGN_SET_FIELD);
    ck_assert_str_eq(u->assign[7].field, "street");
    ck_assert_int_eq(u->assign[8].kind, BS_CQL_ASSIGN_ADD);
    ck_assert_int_eq(u->assign[9].kind, BS_CQL_ASSIGN_SUB);
    ck_assert_uint_eq(u->nwhere, 2);
    ck_assert_int_eq(u->where[1].op, BS_CQL_OP_GT);
    ck_assert_uint_eq(u->nconds, 2);
    ck_assert_int_eq(u->conds[1].lhs, BS_CQL_LHS_ELEM);
    ck_assert_int_eq(u->conds[1].op, BS_CQL_OP_NEQ);
    lit_is(u->conds[1].rhs, BS_LIT_NULL, "null");
    ck_assert_uint_eq(s->nbinds, 2);
    bind_is(s, 0, NULL, BS_CQL_RECV_KEY, "key(m)");
    bind_is(s, 1, NULL, BS_CQL_RECV_VALUE, "value(m)");

    s = P("UPDATE t SET v = 1 WHERE k = 0 IF EXISTS");
    ck_assert_int_eq(s->u.update.if_exists, 1);
    ck_assert_uint_eq(s->u.update.nconds, 0);
    /* a column called "exists" in a condition */
    s = P("UPDATE t SET v = 1 WHERE k = 0 IF exists = 2");
    ck_assert_int_eq(s->u.update.if_exists, 0);
    ck_assert_str_eq(s->u.update.conds[0].column, "exists");
    s = P("UPDATE t SET u.f = 1 WHERE k = 0 IF u.f = 0 AND v IN (1, 2)");
    ck_assert_int_eq(s->u.update.conds[0].lhs, BS_CQL_LHS_FIELD);
    ck_assert_int_eq(s->u.update.conds[1].op, BS_CQL_OP_IN);
    ck_assert_uint_eq(s->u.update.conds[1].nin, 2);

    bs_cql_error e = PE("UPDATE t SET a = b + 1 WHERE k = 0", BS_EINVAL);
    ck_assert(strstr(e.msg, "X = X +<value>"));
    PE("UPDATE t SET a = [1] + b WHERE k = 0", BS_EINVAL);
    PE("UPDATE t SET a = 1", BS_ESYNTAX); /* WHERE is required */
}
END_TEST

START_TEST(parse_delete) {
    bs_cql_stmt *s = P("DELETE a, m['k'], u.f FROM ks.t USING TIMESTAMP 99 "
                       "WHERE k = 1 AND c >= 2 AND c < 5 IF EXISTS");
    ck_assert_int_eq(s->kind, BS_CQL_STMT_DELETE);
    const bs_cql_delete *d = &s->u.del;
    ck_assert_uint_eq(d->ncols, 3);
    ck_assert_str_eq(d->cols[0].column, "a");
    ck_assert_ptr_null(d->cols[0].key);
    lit_is(d->cols[1].key, BS_LIT_STRING, "k");
    ck_assert_str_eq(d->cols[2].field, "f");
    lit_is(d->using.timestamp, BS_LIT_INTEGER, "99");
    ck_assert_ptr_null(d->using.ttl);
    ck_assert_uint_eq(d->nwhere, 3);
    ck_assert_int_eq(d->if_exists, 1);

    s = P("DELETE FROM t WHERE k IN (1, 2, 3)");
    ck_assert_uint_eq(s->u.del.ncols, 0);
    ck_assert_int_eq(s->u.del.where[0].op, BS_CQL_OP_IN);
    ck_assert_int_eq(s->u.del.where[0].in_list, 1);
    ck_assert_uint_eq(s->u.del.where[0].nin, 3);
    s = P("DELETE l[?] FROM t WHERE k = ? IF v = ?");
    bind_is(s, 0, NULL, BS_CQL_RECV_KEY, "key(l)");
    bind_is(s, 1, NULL, BS_CQL_RECV_COLUMN, "k");
    bind_is(s, 2, NULL, BS_CQL_RECV_COLUMN, "v");
    PE("DELETE FROM t USING TTL 5 WHERE k = 1", BS_ESYNTAX);
}
END_TEST

START_TEST(parse_batch) {
    bs_cql_stmt *s = P("BEGIN UNLOGGED BATCH USING TIMESTAMP 5\n"
                       "  INSERT INTO t (k, v) VALUES (?, ?);\n"
                       "  UPDATE t SET v = ? WHERE k = ?\n"
                       "  DELETE FROM t WHERE k = :key;\n"
                       "APPLY BATCH;");
    ck_assert_int_eq(s->kind, BS_CQL_STMT_BATCH);
    const bs_cql_batch *b = &s->u.batch;
    ck_assert_int_eq(b->kind, BS_CQL_BATCH_UNLOGGED);
    lit_is(b->using.timestamp, BS_LIT_INTEGER, "5");
    ck_assert_uint_eq(b->nstmts, 3);
    ck_assert_int_eq(b->stmts[0]->kind, BS_CQL_STMT_INSERT);
    ck_assert_int_eq(b->stmts[1]->kind, BS_CQL_STMT_UPDATE);
    ck_assert_int_eq(b->stmts[2]->kind, BS_CQL_STMT_DELETE);
    ck_assert_uint_eq(b->stmts[1]->pos.line, 3);
    ck_assert_uint_eq(b->stmts[1]->nbinds, 0);
    /* markers numbered across the batch */
    ck_assert_uint_eq(s->nbinds, 5);
    bind_is(s, 2, NULL, BS_CQL_RECV_COLUMN, "v");
    bind_is(s, 3, NULL, BS_CQL_RECV_COLUMN, "k");
    bind_is(s, 4, "key", BS_CQL_RECV_COLUMN, "k");
    ck_assert_int_eq(b->stmts[1]->u.update.where[0].rhs->bind, 3);

    s = P(
        "BEGIN COUNTER BATCH UPDATE c SET n = n + 1 WHERE k = 1; APPLY BATCH");
    ck_assert_int_eq(s->u.batch.kind, BS_CQL_BATCH_COUNTER);
    s = P("BEGIN BATCH APPLY BATCH");
    ck_assert_int_eq(s->u.batch.kind, BS_CQL_BATCH_LOGGED);
    ck_assert_uint_eq(s->u.batch.nstmts, 0);
    bs_cql_error e = PE("BEGIN BATCH SELECT * FROM t; APPLY BATCH", BS_ESYNTAX);
    ck_assert(strstr(e.msg, "line 1:12 mismatched input 'SELECT' expecting "
                            "INSERT, UPDATE, DELETE or APPLY"));
    PE("BEGIN BATCH INSERT INTO t (k) VALUES (1)", BS_ESYNTAX);
}
END_TEST

/* ---------------- SELECT ---------------- */

START_TEST(parse_select_clauses) {
    bs_cql_stmt *s = P("SELECT JSON DISTINCT a, b AS \"Bee\" FROM ks.t "
                       "WHERE a = 1 AND b IN ('x', 'y') AND c > 2.5 "
                       "GROUP BY a, b ORDER BY b DESC, c "
                       "PER PARTITION LIMIT 3 LIMIT 10 ALLOW FILTERING");
    ck_assert_int_eq(s->kind, BS_CQL_STMT_SELECT);
    const bs_cql_select *q = &s->u.select;
    ck_assert_int_eq(q->json, 1);
    ck_assert_int_eq(q->distinct, 1);
    ck_assert_int_eq(q->star, 0);
    ck_assert_uint_eq(q->nsel, 2);
    ck_assert_int_eq(q->sel[0].expr->kind, BS_CQL_EXPR_COLUMN);
    ck_assert_str_eq(q->sel[0].expr->name, "a");
    ck_assert_ptr_null(q->sel[0].alias);
    ck_assert_str_eq(q->sel[1].alias, "Bee");
    ck_assert_str_eq(q->table.ks, "ks");
    ck_assert_uint_eq(q->nwhere, 3);
    ck_assert_int_eq(q->where[1].op, BS_CQL_OP_IN);
    ck_assert_uint_eq(q->where[1].nin, 2);
    lit_is(q->where[2].rhs, BS_LIT_FLOAT, "2.5");
    ck_assert_uint_eq(q->ngroup, 2);
    ck_assert_uint_eq(q->norder, 2);
    ck_assert_int_eq(q->order[0].desc, 1);
    ck_assert_int_eq(q->order[1].desc, 0);
    lit_is(q->per_partition_limit, BS_LIT_INTEGER, "3");
    lit_is(q->limit, BS_LIT_INTEGER, "10");
    ck_assert_int_eq(q->allow_filtering, 1);

    s = P("select * from t");
    ck_assert_int_eq(s->u.select.star, 1);
    ck_assert_uint_eq(s->u.select.nsel, 0);
    ck_assert_uint_eq(s->u.select.nwhere, 0);
    ck_assert_ptr_null(s->u.select.limit);

    /* json / distinct as column names */
    s = P("SELECT json, distinct FROM t");
    ck_assert_int_eq(s->u.select.json, 0);
    ck_assert_int_eq(s->u.select.distinct, 0);
    ck_assert_uint_eq(s->u.select.nsel, 2);
    s = P("SELECT json FROM t");
    ck_assert_int_eq(s->u.select.json, 0);
    ck_assert_str_eq(s->u.select.sel[0].expr->name, "json");
    s = P("SELECT JSON json FROM t");
    ck_assert_int_eq(s->u.select.json, 1);

    s = P("SELECT * FROM t LIMIT ? ");
    bind_is(s, 0, NULL, BS_CQL_RECV_LIMIT, "[limit]");
    s = P("SELECT * FROM t PER PARTITION LIMIT :ppl LIMIT :lim");
    bind_is(s, 0, "ppl", BS_CQL_RECV_PER_PARTITION_LIMIT,
            "[per_partition_limit]");
    bind_is(s, 1, "lim", BS_CQL_RECV_LIMIT, "[limit]");
}
END_TEST

START_TEST(parse_selectors) {
    bs_cql_stmt *s =
        P("SELECT count(*), COUNT(1), writetime(v), ttl(v), token(a, b), "
          "CAST(x AS text), toJson(m), blobAsText(intAsBlob(max(v))), "
          "ks.myfn(a, 'lit'), u.street, m['k'], 42, [1, 2], (int) 3, "
          "\"Fn\"(a) AS r FROM t");
    const bs_cql_select *q = &s->u.select;
    ck_assert_uint_eq(q->nsel, 15);
    const bs_cql_expr *e = q->sel[0].expr;
    ck_assert_int_eq(e->kind, BS_CQL_EXPR_CALL);
    ck_assert_str_eq(e->name, "count");
    ck_assert_int_eq(e->star, 1);
    e = q->sel[1].expr;
    ck_assert_str_eq(e->name, "count");
    ck_assert_int_eq(e->star, 0);
    lit_is(e->items[0], BS_LIT_INTEGER, "1");
    e = q->sel[2].expr;
    ck_assert_str_eq(e->name, "writetime");
    ck_assert_int_eq(e->items[0]->kind, BS_CQL_EXPR_COLUMN);
    ck_assert_str_eq(q->sel[3].expr->name, "ttl");
    e = q->sel[4].expr;
    ck_assert_str_eq(e->name, "token");
    ck_assert_uint_eq(e->n, 2);
    e = q->sel[5].expr;
    ck_assert_int_eq(e->kind, BS_CQL_EXPR_CAST);
    ck_assert_int_eq(e->sql_cast, 1);
    ck_assert_int_eq(e->type->kind, BS_TYPE_VARCHAR);
    ck_assert_str_eq(e->items[0]->name, "x");
    ck_assert_str_eq(q->sel[6].expr->name, "tojson");
    e = q->sel[7].expr; /* nested calls */
    ck_assert_str_eq(e->name, "blobastext");
    ck_assert_str_eq(e->items[0]->name, "intasblob");
    ck_assert_str_eq(e->items[0]->items[0]->name, "max");
    ck_assert_int_eq(e->items[0]->items[0]->items[0]->kind, BS_CQL_EXPR_COLUMN);
    e = q->sel[8].expr;
    ck_assert_str_eq(e->ks, "ks");
    ck_assert_str_eq(e->name, "myfn");
    lit_is(e->items[1], BS_LIT_STRING, "lit");
    e = q->sel[9].expr;
    ck_assert_int_eq(e->kind, BS_CQL_EXPR_FIELD);
    ck_assert_str_eq(e->name, "street");
    ck_assert_str_eq(e->items[0]->name, "u");
    e = q->sel[10].expr;
    ck_assert_int_eq(e->kind, BS_CQL_EXPR_ELEM);
    lit_is(e->items[1], BS_LIT_STRING, "k");
    lit_is(q->sel[11].expr, BS_LIT_INTEGER, "42");
    ck_assert_int_eq(q->sel[12].expr->kind, BS_CQL_EXPR_LIST);
    e = q->sel[13].expr;
    ck_assert_int_eq(e->kind, BS_CQL_EXPR_CAST);
    ck_assert_int_eq(e->sql_cast, 0);
    ck_assert_int_eq(e->type->kind, BS_TYPE_INT);
    ck_assert_str_eq(q->sel[14].expr->name, "Fn");
    ck_assert_str_eq(q->sel[14].alias, "r");

    /* a column named count, cast */
    s = P("SELECT count, cast FROM t");
    ck_assert_int_eq(s->u.select.sel[0].expr->kind, BS_CQL_EXPR_COLUMN);
    ck_assert_int_eq(s->u.select.sel[1].expr->kind, BS_CQL_EXPR_COLUMN);
    PE("SELECT writetime(1) FROM t", BS_ESYNTAX);
    PE("SELECT ttl(a, b) FROM t", BS_ESYNTAX);
}
END_TEST

START_TEST(parse_relations) {
    bs_cql_stmt *s =
        P("SELECT * FROM t WHERE token(a, b) > token(1, 'x') AND token(a, b) "
          "<= ? "
          "AND (c1, c2) >= (1, 2) AND (c1, c2) IN ((1, 2), (3, 4)) "
          "AND (c1, c2) IN ? AND (c1, c2) < ? AND tags CONTAINS 'x' "
          "AND m CONTAINS KEY ? AND name LIKE 'ab%' AND m['k'] = 5 "
          "AND x != 3 AND y IN ? AND z IN () ALLOW FILTERING");
    const bs_cql_select *q = &s->u.select;
    ck_assert_uint_eq(q->nwhere, 13);
    const bs_cql_relation *r = q->where;
    ck_assert_int_eq(r[0].lhs, BS_CQL_LHS_TOKEN);
    ck_assert_uint_eq(r[0].ncols, 2);
    ck_assert_str_eq(r[0].cols[1], "b");
    ck_assert_int_eq(r[0].op, BS_CQL_OP_GT);
    ck_assert_int_eq(r[0].rhs->kind, BS_CQL_EXPR_CALL);
    ck_assert_str_eq(r[0].rhs->name, "token");
    ck_assert_int_eq(r[1].op, BS_CQL_OP_LTE);
    ck_assert_int_eq(r[2].lhs, BS_CQL_LHS_MULTI);
    ck_assert_int_eq(r[2].rhs->kind, BS_CQL_EXPR_TUPLE);
    ck_assert_uint_eq(r[2].rhs->n, 2);
    ck_assert_int_eq(r[3].op, BS_CQL_OP_IN);
    ck_assert_uint_eq(r[3].nin, 2);
    ck_assert_int_eq(r[3].in[1]->kind, BS_CQL_EXPR_TUPLE);
    ck_assert_int_eq(r[4].in_list, 0);
    ck_assert_int_eq(r[4].rhs->kind, BS_CQL_EXPR_BIND);
    ck_assert_int_eq(r[6].op, BS_CQL_OP_CONTAINS);
    ck_assert_int_eq(r[7].op, BS_CQL_OP_CONTAINS_KEY);
    ck_assert_int_eq(r[8].op, BS_CQL_OP_LIKE);
    ck_assert_int_eq(r[9].lhs, BS_CQL_LHS_ELEM);
    lit_is(r[9].key, BS_LIT_STRING, "k");
    ck_assert_int_eq(r[10].op, BS_CQL_OP_NEQ);
    ck_assert_int_eq(r[12].in_list, 1);
    ck_assert_uint_eq(r[12].nin, 0);

    ck_assert_uint_eq(s->nbinds, 5);
    bind_is(s, 0, NULL, BS_CQL_RECV_TOKEN, "partition key token");
    ck_assert_uint_eq(s->binds[0].recv.ncols, 2);
    bind_is(s, 1, NULL, BS_CQL_RECV_MULTI_IN, "in((c1,c2))");
    bind_is(s, 2, NULL, BS_CQL_RECV_MULTI, "(c1,c2)");
    bind_is(s, 3, NULL, BS_CQL_RECV_KEY, "key(m)");
    bind_is(s, 4, NULL, BS_CQL_RECV_IN, "in(y)");
}
END_TEST

/* ---------------- terms ---------------- */

START_TEST(parse_literal_terms) {
    bs_cql_stmt *s =
        P("INSERT INTO t (a, b, c, d, e, f, g, h, i, j, k, l, m, n, o) VALUES ("
          "'it''s', -42, 1.5e3, NaN, -Infinity, "
          "123e4567-e89b-12d3-a456-426614174000, "
          "0xCAFE, TRUE, 1h30m, null, $$x'y$$, P1DT2H, -7, 0x, 12mo)");
    bs_cql_expr **v = s->u.insert.values;
    lit_is(v[0], BS_LIT_STRING, "it's");
    lit_is(v[1], BS_LIT_INTEGER, "-42");
    lit_is(v[2], BS_LIT_FLOAT, "1.5e3");
    lit_is(v[3], BS_LIT_FLOAT, "NaN");
    lit_is(v[4], BS_LIT_FLOAT, "-Infinity");
    lit_is(v[5], BS_LIT_UUID, "123e4567-e89b-12d3-a456-426614174000");
    lit_is(v[6], BS_LIT_HEX, "CAFE");
    lit_is(v[7], BS_LIT_BOOL, "true");
    lit_is(v[8], BS_LIT_DURATION, "1h30m");
    lit_is(v[9], BS_LIT_NULL, "null");
    lit_is(v[10], BS_LIT_STRING, "x'y");
    lit_is(v[11], BS_LIT_DURATION, "P1DT2H");
    lit_is(v[12], BS_LIT_INTEGER, "-7");
    lit_is(v[13], BS_LIT_HEX, "");
    lit_is(v[14], BS_LIT_DURATION, "12mo");
    ck_assert_uint_eq(v[1]->pos.line, 1);
    ck_assert_uint_eq(s->nbinds, 0);
}
END_TEST

START_TEST(parse_collection_terms) {
    bs_cql_stmt *s =
        P("INSERT INTO t (l, s, m, e, tu, u, f, c, n) VALUES ("
          "[1, 2, 3], {'a', 'b'}, {'k': [1], 'j': []}, {}, (1, 'x', (2, 3)), "
          "{street: 'Main', \"Zip\": 12345}, toTimestamp(now()), "
          "(frozen<list<int>>) [1], (ks.addr) {street: 'x'})");
    bs_cql_expr **v = s->u.insert.values;
    ck_assert_int_eq(v[0]->kind, BS_CQL_EXPR_LIST);
    ck_assert_uint_eq(v[0]->n, 3);
    lit_is(v[0]->items[2], BS_LIT_INTEGER, "3");
    ck_assert_int_eq(v[1]->kind, BS_CQL_EXPR_SET);
    ck_assert_uint_eq(v[1]->n, 2);
    ck_assert_int_eq(v[2]->kind, BS_CQL_EXPR_MAP);
    ck_assert_uint_eq(v[2]->n, 2);
    lit_is(v[2]->items[1], BS_LIT_STRING, "j");
    ck_assert_int_eq(v[2]->values[1]->kind, BS_CQL_EXPR_LIST);
    ck_assert_uint_eq(v[2]->values[1]->n, 0);
    ck_assert_int_eq(v[3]->kind, BS_CQL_EXPR_EMPTY);
    ck_assert_int_eq(v[4]->kind, BS_CQL_EXPR_TUPLE);
    ck_assert_int_eq(v[4]->items[2]->kind, BS_CQL_EXPR_TUPLE);
    ck_assert_int_eq(v[5]->kind, BS_CQL_EXPR_UDT);
    ck_assert_str_eq(v[5]->fields[0], "street");
    ck_assert_str_eq(v[5]->fields[1], "Zip");
    lit_is(v[5]->items[1], BS_LIT_INTEGER, "12345");
    ck_assert_int_eq(v[6]->kind, BS_CQL_EXPR_CALL);
    ck_assert_str_eq(v[6]->name, "totimestamp");
    ck_assert_str_eq(v[6]->items[0]->name, "now");
    ck_assert_uint_eq(v[6]->items[0]->n, 0);
    ck_assert_int_eq(v[7]->kind, BS_CQL_EXPR_CAST);
    ck_assert_int_eq(v[7]->type->kind, BS_TYPE_LIST);
    ck_assert_int_eq(v[7]->type->frozen, 1);
    ck_assert_int_eq(v[8]->kind, BS_CQL_EXPR_CAST);
    ck_assert_int_eq(v[8]->type->kind, BS_TYPE_UDT);
    ck_assert_str_eq(v[8]->type->keyspace, "ks");
    ck_assert_int_eq(v[8]->items[0]->kind, BS_CQL_EXPR_UDT);

    s = P("SELECT * FROM t WHERE k = minTimeuuid('2013-01-01 00:05+0000') "
          "AND j = maxTimeuuid('2013-02-02') AND u = uuid() AND c = "
          "currentTimestamp()");
    ck_assert_str_eq(s->u.select.where[0].rhs->name, "mintimeuuid");
    lit_is(s->u.select.where[0].rhs->items[0], BS_LIT_STRING,
           "2013-01-01 00:05+0000");
    ck_assert_str_eq(s->u.select.where[3].rhs->name, "currenttimestamp");
}
END_TEST

START_TEST(parse_bind_markers) {
    bs_cql_stmt *s =
        P("UPDATE t USING TTL :ttl SET l = ?, m = {?: ?}, s = {?}, lst = [?], "
          "tu = (?, ?), u = {f: ?}, x = (int) ?, y = blobAsText(?), "
          "z = :v, w = :v WHERE k IN (?, :k2) AND c = ?");
    ck_assert_uint_eq(s->nbinds, 16);
    bind_is(s, 0, "ttl", BS_CQL_RECV_TTL, "[ttl]");
    bind_is(s, 1, NULL, BS_CQL_RECV_COLUMN, "l");
    bind_is(s, 2, NULL, BS_CQL_RECV_KEY, "key(m)");
    bind_is(s, 3, NULL, BS_CQL_RECV_VALUE, "value(m)");
    bind_is(s, 4, NULL, BS_CQL_RECV_VALUE, "value(s)");
    bind_is(s, 5, NULL, BS_CQL_RECV_VALUE, "value(lst)");
    bind_is(s, 6, NULL, BS_CQL_RECV_TUPLE_ELEM, "tu[0]");
    bind_is(s, 7, NULL, BS_CQL_RECV_TUPLE_ELEM, "tu[1]");
    ck_assert_uint_eq(s->binds[7].recv.index, 1);
    bind_is(s, 8, NULL, BS_CQL_RECV_FIELD, "u.f");
    bind_is(s, 9, NULL, BS_CQL_RECV_COLUMN, "x");
    ck_assert_ptr_nonnull(s->binds[9].cast);
    ck_assert_int_eq(s->binds[9].cast->kind, BS_TYPE_INT);
    bind_is(s, 10, NULL, BS_CQL_RECV_FUNC_ARG, "arg0(blobastext)");
    /* the same name twice: two markers, both named */
    bind_is(s, 11, "v", BS_CQL_RECV_COLUMN, "z");
    bind_is(s, 12, "v", BS_CQL_RECV_COLUMN, "w");
    bind_is(s, 13, NULL, BS_CQL_RECV_COLUMN, "k");
    bind_is(s, 14, "k2", BS_CQL_RECV_COLUMN, "k");
    bind_is(s, 15, NULL, BS_CQL_RECV_COLUMN, "c");
    ck_assert_uint_eq(s->binds[1].pos.col, 32);
    /* expression nodes point at their marker */
    ck_assert_int_eq(s->u.update.where[1].rhs->kind, BS_CQL_EXPR_BIND);
    ck_assert_uint_eq(s->u.update.where[1].rhs->bind, 15);

    s = P("SELECT * FROM t WHERE token(k1, k2) > token(?, ?) AND m[?] = ? "
          "AND s CONTAINS ? AND (a, b) = (?, ?) AND (a, b) IN ((?, ?), ?) "
          "AND \"Quoted\" = :\"Name\"");
    bind_is(s, 0, NULL, BS_CQL_RECV_COLUMN, "k1");
    bind_is(s, 1, NULL, BS_CQL_RECV_COLUMN, "k2");
    bind_is(s, 2, NULL, BS_CQL_RECV_KEY, "key(m)");
    bind_is(s, 3, NULL, BS_CQL_RECV_VALUE, "value(m)");
    bind_is(s, 4, NULL, BS_CQL_RECV_VALUE, "value(s)");
    bind_is(s, 5, NULL, BS_CQL_RECV_COLUMN, "a");
    bind_is(s, 6, NULL, BS_CQL_RECV_COLUMN, "b");
    bind_is(s, 7, NULL, BS_CQL_RECV_COLUMN, "a");
    bind_is(s, 8, NULL, BS_CQL_RECV_COLUMN, "b");
    bind_is(s, 9, NULL, BS_CQL_RECV_MULTI, "(a,b)");
    bind_is(s, 10, "Name", BS_CQL_RECV_COLUMN, "Quoted");
    s = P("SELECT * FROM t WHERE k = :Key");
    bind_is(s, 0, "key", BS_CQL_RECV_COLUMN, "k");
}
END_TEST

START_TEST(parse_identifier_case) {
    bs_cql_stmt *s = P("SeLeCt \"MixedCol\", LowerMe FROM \"MyKs\".MyTable "
                       "WHERE \"with\"\"quote\" = 1");
    const bs_cql_select *q = &s->u.select;
    ck_assert_str_eq(q->sel[0].expr->name, "MixedCol");
    ck_assert_str_eq(q->sel[1].expr->name, "lowerme");
    ck_assert_str_eq(q->table.ks, "MyKs");
    ck_assert_str_eq(q->table.name, "mytable");
    ck_assert_str_eq(q->where[0].column, "with\"quote");
    /* reserved words need quotes; quoted they are fine */
    PE("SELECT * FROM select", BS_ESYNTAX);
    s = P("SELECT \"select\" FROM \"from\"");
    ck_assert_str_eq(s->u.select.table.name, "from");
    PE("SELECT \"\" FROM t", BS_ESYNTAX);
    /* names are C strings: NUL inside quotes is refused (found by fuzzing) */
    static const char nul_id[] = "USE \"a\0b\"";
    bs_cql_stmt *st;
    bs_cql_error e;
    ck_assert_int_eq(bs_cql_parse(&A, nul_id, sizeof nul_id - 1, &st, &e),
                     BS_ESYNTAX);
    ck_assert_str_eq(e.msg, "line 1:4 identifier contains a NUL character");
    static const char nul_ty[] = "CREATE TABLE t (k 'a\0b' PRIMARY KEY)";
    ck_assert_int_eq(bs_cql_parse(&A, nul_ty, sizeof nul_ty - 1, &st, &e),
                     BS_ESYNTAX);
    ck_assert(strstr(e.msg, "type name contains a NUL character"));
    /* NUL inside a string literal is data, kept with its length */
    static const char nul_str[] = "INSERT INTO t (k) VALUES ('a\0b')";
    ck_assert_int_eq(bs_cql_parse(&A, nul_str, sizeof nul_str - 1, &st, &e), 0);
    ck_assert_uint_eq(st->u.insert.values[0]->lit.len, 3);
    ck_assert(memcmp(st->u.insert.values[0]->lit.text, "a\0b", 3) == 0);
}
END_TEST

/* ---------------- errors ---------------- */

START_TEST(parse_error_messages) {
    bs_cql_error e = PE("SELECT * FORM t", BS_ESYNTAX);
    ck_assert_uint_eq(e.line, 1);
    ck_assert_uint_eq(e.col, 9);
    ck_assert_str_eq(
        e.msg,
        "line 1:9 mismatched input 'FORM' expecting FROM (SELECT * [FORM]...)");

    e = PE("SELEC * FROM t", BS_ESYNTAX);
    ck_assert_str_eq(
        e.msg, "line 1:0 no viable alternative at input 'SELEC' ([SELEC]...)");

    e = PE("SELECT a,\n  b\nFROM t WHERE k = = 1", BS_ESYNTAX);
    ck_assert_uint_eq(e.line, 3);
    ck_assert_uint_eq(e.col, 17);
    ck_assert(strncmp(e.msg, "line 3:17 no viable alternative at input '='",
                      44) == 0);

    e = PE("INSERT INTO t (k, v) VALUES (1, 2", BS_ESYNTAX);
    ck_assert(
        strstr(e.msg, "line 1:33 mismatched input '<EOF>' expecting ')'"));

    e = PE("SELECT * FROM t WHERE", BS_ESYNTAX);
    ck_assert(
        strstr(e.msg, "line 1:21 no viable alternative at input '<EOF>'"));

    e = PE("SELECT * FROM t extra", BS_ESYNTAX);
    ck_assert(
        strstr(e.msg, "line 1:16 mismatched input 'extra' expecting EOF"));

    e = PE("CREATE TABLE t (k int PRIMARY KEY) WITH", BS_ESYNTAX);
    ck_assert_uint_eq(e.col, 39);

    e = PE("UPDATE t SET v = 'unterminated WHERE k = 1", BS_ESYNTAX);
    ck_assert_str_eq(e.msg, "line 1:17 unterminated string literal");

    e = PE("SELECT * FROM t WHERE k = 1 LIMIT 'x'", BS_ESYNTAX);
    ck_assert(strstr(e.msg, "mismatched input ''x'' expecting INTEGER"));

    e = PE("", BS_ESYNTAX);
    ck_assert(strstr(e.msg, "line 1:0 no viable alternative at input '<EOF>'"));
    e = PE(";", BS_ESYNTAX);
    e = PE("SELECT * FROM t WHERE k = @", BS_ESYNTAX);
    ck_assert_str_eq(e.msg, "line 1:26 no viable alternative at character '@'");

    /* a long token is shortened in the message */
    char q[300];
    memset(q, 'x', sizeof q);
    memcpy(q, "SELECT * FROM t ", 16);
    q[sizeof q - 1] = 0;
    e = PE(q, BS_ESYNTAX);
    ck_assert(strstr(e.msg, "xxx...' expecting EOF"));
    ck_assert_uint_lt(strlen(e.msg), 300);
}
END_TEST

START_TEST(parse_unsupported) {
    static const struct {
        const char *q;
        const char *msg;
    } cases[] = {
        {"CREATE INDEX ON t (v)", "CREATE INDEX is not supported by Basalt"},
        {"CREATE CUSTOM INDEX i ON t (v) USING 'x'",
         "CREATE INDEX is not supported by Basalt"},
        {"DROP INDEX i", "DROP INDEX is not supported by Basalt"},
        {"CREATE MATERIALIZED VIEW v AS SELECT * FROM t",
         "CREATE MATERIALIZED VIEW is not supported by Basalt"},
        {"ALTER MATERIALIZED VIEW v WITH comment = 'x'",
         "ALTER MATERIALIZED VIEW is not supported by Basalt"},
        {"DROP MATERIALIZED VIEW v",
         "DROP MATERIALIZED VIEW is not supported by Basalt"},
        {"CREATE FUNCTION f(a int) RETURNS NULL ON NULL INPUT",
         "CREATE FUNCTION is not supported by Basalt"},
        {"CREATE OR REPLACE FUNCTION f() ...",
         "CREATE FUNCTION is not supported by Basalt"},
        {"CREATE AGGREGATE a(int) SFUNC s STYPE int",
         "CREATE AGGREGATE is not supported by Basalt"},
        {"DROP FUNCTION f", "DROP FUNCTION is not supported by Basalt"},
        {"DROP AGGREGATE a", "DROP AGGREGATE is not supported by Basalt"},
        {"CREATE TRIGGER tr ON t USING 'c'",
         "CREATE TRIGGER is not supported by Basalt"},
        {"DROP TRIGGER tr ON t", "DROP TRIGGER is not supported by Basalt"},
        {"GRANT r1 TO r2", "Granting roles to roles is not supported by Basalt"},
        {"DESCRIBE INDEX ks.i", "DESCRIBE of indexes and materialized views "
                                "is not supported by Basalt"},
        {"DESCRIBE MATERIALIZED VIEW v", "DESCRIBE of indexes and materialized views "
                                         "is not supported by Basalt"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        bs_cql_error e = PE(cases[i].q, BS_ENOTSUP);
        ck_assert_str_eq(e.msg, cases[i].msg);
        ck_assert_uint_eq(e.line, 1);
        ck_assert_uint_eq(e.col, 0);
    }
}
END_TEST

/* Roles and permissions (Cassandra's grammar, exec_auth.c runs them). */
START_TEST(parse_roles) {
    bs_cql_stmt *s = P("CREATE ROLE IF NOT EXISTS Alice WITH PASSWORD = 'it''s' AND "
                       "LOGIN = true AND SUPERUSER = FALSE");
    ck_assert_int_eq(s->kind, BS_CQL_STMT_CREATE_ROLE);
    ck_assert_str_eq(s->u.role.role, "alice");
    ck_assert_str_eq(s->u.role.password, "it's");
    ck_assert_int_eq(s->u.role.login, 1);
    ck_assert_int_eq(s->u.role.superuser, 0);
    ck_assert_int_eq(s->u.role.if_not_exists, 1);
    /* CREATE USER means LOGIN = true; a quoted or string name keeps case */
    s = P("CREATE USER 'Bob' WITH PASSWORD 'pw' SUPERUSER");
    ck_assert_int_eq(s->kind, BS_CQL_STMT_CREATE_ROLE);
    ck_assert_str_eq(s->u.role.role, "Bob");
    ck_assert_int_eq(s->u.role.login, 1);
    ck_assert_int_eq(s->u.role.superuser, 1);
    s = P("ALTER ROLE r WITH LOGIN = false");
    ck_assert_int_eq(s->kind, BS_CQL_STMT_ALTER_ROLE);
    ck_assert_int_eq(s->u.role.login, 0);
    ck_assert_int_eq(s->u.role.superuser, -1);
    ck_assert_ptr_null(s->u.role.password);
    s = P("DROP USER IF EXISTS \"U\"");
    ck_assert_int_eq(s->kind, BS_CQL_STMT_DROP_ROLE);
    ck_assert_str_eq(s->u.role.role, "U");
    ck_assert_int_eq(s->u.role.if_exists, 1);
    s = P("GRANT SELECT PERMISSION ON TABLE ks.t TO r");
    ck_assert_int_eq(s->kind, BS_CQL_STMT_GRANT);
    ck_assert_int_eq(s->u.role.perms, BS_CQL_PERM_SELECT);
    ck_assert_int_eq(s->u.role.res, BS_CQL_RES_TABLE);
    ck_assert_str_eq(s->u.role.resource.ks, "ks");
    ck_assert_str_eq(s->u.role.resource.name, "t");
    s = P("REVOKE ALL PERMISSIONS ON KEYSPACE ks FROM r");
    ck_assert_int_eq(s->kind, BS_CQL_STMT_REVOKE);
    ck_assert_int_eq(s->u.role.perms, BS_CQL_PERM_ALL);
    ck_assert_int_eq(s->u.role.res, BS_CQL_RES_KEYSPACE);
    s = P("GRANT modify ON ALL KEYSPACES TO r");
    ck_assert_int_eq(s->u.role.perms, BS_CQL_PERM_MODIFY);
    ck_assert_int_eq(s->u.role.res, BS_CQL_RES_ALL_KEYSPACES);
    s = P("LIST ALL PERMISSIONS ON t OF r NORECURSIVE");
    ck_assert_int_eq(s->kind, BS_CQL_STMT_LIST_PERMISSIONS);
    ck_assert_int_eq(s->u.role.res, BS_CQL_RES_TABLE);
    ck_assert_ptr_null(s->u.role.resource.ks);
    ck_assert_str_eq(s->u.role.role, "r");
    ck_assert_int_eq(s->u.role.norecursive, 1);
    s = P("LIST USERS");
    ck_assert_int_eq(s->kind, BS_CQL_STMT_LIST_ROLES);
    ck_assert_int_eq(s->u.role.users, 1);
    s = P("LIST ROLES OF r");
    ck_assert_int_eq(s->u.role.users, 0);
    ck_assert_str_eq(s->u.role.role, "r");
    /* not supported: a clear error at the word */
    bs_cql_error e = PE("GRANT EXECUTE ON ALL FUNCTIONS TO r", BS_ENOTSUP);
    ck_assert_str_eq(e.msg, "This permission is not supported by Basalt");
    ck_assert_uint_eq(e.col, 6);
    e = PE("GRANT SELECT ON ALL ROLES TO r", BS_ENOTSUP);
    ck_assert_str_eq(e.msg, "Permissions on roles, functions and MBeans is not supported by Basalt");
    e = PE("CREATE ROLE r WITH OPTIONS = {}", BS_ENOTSUP);
    ck_assert_str_eq(e.msg, "Role OPTIONS and ACCESS TO DATACENTERS is not supported by Basalt");
    /* errors */
    e = PE("CREATE ROLE ''", BS_ESYNTAX);
    ck_assert_str_eq(e.msg, "line 1:12 Role name can't be an empty string");
    e = PE("CREATE ROLE r WITH LOGIN = 1", BS_ESYNTAX);
    ck_assert_ptr_nonnull(strstr(e.msg, "expecting a boolean"));
    e = PE("CREATE ROLE r WITH LOGIN = true AND LOGIN = false", BS_ESYNTAX);
    ck_assert_ptr_nonnull(strstr(e.msg, "Multiple definition for property 'login'"));
    e = PE("CREATE ROLE r WITH PASSWORD = x", BS_ESYNTAX);
    ck_assert_ptr_nonnull(strstr(e.msg, "expecting a string literal"));
    e = PE("GRANT SELECT ON ks.t r", BS_ESYNTAX);
    ck_assert_ptr_nonnull(strstr(e.msg, "expecting TO"));
}
END_TEST

START_TEST(parse_nesting_limit) {
    /* 63 nested lists parse, deeper ones are refused with a clear error */
    char q[4096];
    for (int depth = 60; depth <= 200; depth += 140) {
        int n = snprintf(q, sizeof q, "INSERT INTO t (k) VALUES (");
        for (int i = 0; i < depth; i++)
            q[n++] = '[';
        q[n++] = '1';
        for (int i = 0; i < depth; i++)
            q[n++] = ']';
        q[n++] = ')';
        q[n] = 0;
        bs_cql_error e;
        bs_cql_stmt *s = NULL;
        int rc = bs_cql_parse(&A, q, strlen(q), &s, &e);
        if (depth == 60) {
            ck_assert_int_eq(rc, 0);
            const bs_cql_expr *x = s->u.insert.values[0];
            int d = 0;
            while (x->kind == BS_CQL_EXPR_LIST) {
                x = x->items[0];
                d++;
            }
            ck_assert_int_eq(d, 60);
        } else {
            ck_assert_int_eq(rc, BS_ESYNTAX);
            ck_assert(strstr(e.msg, "nesting too deep (more than 64 levels)"));
            ck_assert_uint_eq(e.line, 1);
        }
    }
    /* deep types, calls, tuples and casts too, with a huge input */
    size_t big = 200000;
    char *h = malloc(big * 8 + 64);
    static const char *const openers[] = {"frozen<", "f(", "(", "(int) ", "{"};
    for (size_t k = 0; k < sizeof openers / sizeof *openers; k++) {
        size_t n = 0;
        const char *pre =
            k == 0 ? "CREATE TABLE t (k " : "SELECT * FROM t WHERE k = ";
        memcpy(h + n, pre, strlen(pre));
        n += strlen(pre);
        for (size_t i = 0; i < big; i++) {
            memcpy(h + n, openers[k], strlen(openers[k]));
            n += strlen(openers[k]);
        }
        h[n] = 0;
        bs_cql_error e;
        bs_cql_stmt *s = NULL;
        ck_assert_int_eq(bs_cql_parse(&A, h, n, &s, &e), BS_ESYNTAX);
        ck_assert(strstr(e.msg, "nesting too deep"));
    }
    free(h);
}
END_TEST

/* ---------------- scripts and splitting ---------------- */

START_TEST(parse_scripts) {
    const char *q = "USE ks;\n"
                    "-- comment line\n"
                    "INSERT INTO t (k) VALUES (?);;\n"
                    "BEGIN BATCH INSERT INTO t (k) VALUES (1); DELETE FROM t "
                    "WHERE k = ?; APPLY BATCH;\n"
                    "SELECT * FROM t";
    bs_cql_stmt **v;
    size_t n;
    bs_cql_error e;
    ck_assert_int_eq(bs_cql_parse_script(&A, q, strlen(q), &v, &n, &e), 0);
    ck_assert_uint_eq(n, 4);
    ck_assert_int_eq(v[0]->kind, BS_CQL_STMT_USE);
    ck_assert_int_eq(v[1]->kind, BS_CQL_STMT_INSERT);
    ck_assert_uint_eq(v[1]->pos.line, 3);
    ck_assert_uint_eq(v[1]->nbinds, 1);
    ck_assert_int_eq(v[2]->kind, BS_CQL_STMT_BATCH);
    ck_assert_uint_eq(v[2]->nbinds, 1); /* numbering restarts per statement */
    ck_assert_uint_eq(v[2]->binds[0].index, 0);
    ck_assert_int_eq(v[3]->kind, BS_CQL_STMT_SELECT);
    ck_assert_uint_eq(v[1]->len, strlen("INSERT INTO t (k) VALUES (?)"));
    ck_assert(memcmp(v[1]->text, "INSERT INTO t (k) VALUES (?)", v[1]->len) ==
              0);

    const char *bad = "USE ks;\nSELECT * FROM t;\nSELECT * FORM t;";
    ck_assert_int_eq(bs_cql_parse_script(&A, bad, strlen(bad), &v, &n, &e),
                     BS_ESYNTAX);
    ck_assert_uint_eq(e.line, 3);
    ck_assert_str_eq(
        e.msg,
        "line 3:9 mismatched input 'FORM' expecting FROM (SELECT * [FORM]...)");

    ck_assert_int_eq(bs_cql_parse_script(&A, "", 0, &v, &n, &e), 0);
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(bs_cql_parse_script(&A, "USE a USE b", 11, &v, &n, &e),
                     BS_ESYNTAX);
    ck_assert(strstr(e.msg, "expecting ';'"));
}
END_TEST

START_TEST(split_statements) {
    const char *q = "SELECT ';' FROM t; -- a ; comment\n"
                    "INSERT INTO t (k) VALUES ($$;$$);\n"
                    "  ;\n"
                    "BEGIN BATCH INSERT INTO t (k) VALUES (1); UPDATE t SET v "
                    "= 1 WHERE k = 1; APPLY BATCH;\n"
                    "/* ; */ SELECT \"a;b\" FROM t";
    bs_cql_piece *p;
    size_t n;
    int complete;
    ck_assert_int_eq(bs_cql_split(&A, q, strlen(q), &p, &n, &complete), 0);
    ck_assert_uint_eq(n, 4);
    ck_assert_int_eq(complete, 0);
    ck_assert(p[0].len == strlen("SELECT ';' FROM t") &&
              memcmp(q + p[0].off, "SELECT ';' FROM t", p[0].len) == 0);
    ck_assert_uint_eq(p[1].line, 2);
    ck_assert(memcmp(q + p[2].off, "BEGIN BATCH", 11) == 0);
    ck_assert(memcmp(q + p[2].off + p[2].len - 11, "APPLY BATCH", 11) == 0);
    ck_assert(memcmp(q + p[3].off, "SELECT \"a;b\" FROM t", p[3].len) == 0);
    ck_assert_uint_eq(p[3].col, 8);

    ck_assert_int_eq(bs_cql_split(&A, "SELECT 1;", 9, &p, &n, &complete), 0);
    ck_assert_uint_eq(n, 1);
    ck_assert_int_eq(complete, 1);
    ck_assert_int_eq(bs_cql_split(&A, "  -- x\n", 7, &p, &n, &complete), 0);
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(complete, 1);
    /* unterminated string: still being typed */
    const char *u = "INSERT INTO t (k) VALUES ('abc;\n";
    ck_assert_int_eq(bs_cql_split(&A, u, strlen(u), &p, &n, &complete), 0);
    ck_assert_uint_eq(n, 1);
    ck_assert_int_eq(complete, 0);
    ck_assert_uint_eq(p[0].len, strlen(u));
    /* open batch: incomplete even with ';' */
    const char *b = "BEGIN BATCH INSERT INTO t (k) VALUES (1);";
    ck_assert_int_eq(bs_cql_split(&A, b, strlen(b), &p, &n, &complete), 0);
    ck_assert_int_eq(complete, 0);
    /* stray characters do not stop splitting */
    const char *s = "SELECT @ FROM t; SELECT 2";
    ck_assert_int_eq(bs_cql_split(&A, s, strlen(s), &p, &n, &complete), 0);
    ck_assert_uint_eq(n, 2);
    ck_assert_uint_eq(p[0].len, 15);
}
END_TEST

int main(void) {
    Suite *s = suite_create("cql_parser");
    TCase *tc = tcase_create("parser");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, parse_use_and_keyspaces);
    tcase_add_test(tc, parse_create_table_full);
    tcase_add_test(tc, parse_create_table_variants);
    tcase_add_test(tc, parse_alter_drop_truncate);
    tcase_add_test(tc, parse_types_udts);
    tcase_add_test(tc, parse_insert);
    tcase_add_test(tc, parse_update_assignments);
    tcase_add_test(tc, parse_delete);
    tcase_add_test(tc, parse_batch);
    tcase_add_test(tc, parse_select_clauses);
    tcase_add_test(tc, parse_selectors);
    tcase_add_test(tc, parse_relations);
    tcase_add_test(tc, parse_literal_terms);
    tcase_add_test(tc, parse_collection_terms);
    tcase_add_test(tc, parse_bind_markers);
    tcase_add_test(tc, parse_identifier_case);
    tcase_add_test(tc, parse_error_messages);
    tcase_add_test(tc, parse_unsupported);
    tcase_add_test(tc, parse_nesting_limit);
    tcase_add_test(tc, parse_roles);
    tcase_add_test(tc, parse_scripts);
    tcase_add_test(tc, split_statements);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
