/*
 * test_cql_print.c - unit tests for query/cql_print.c: canonical output
 * for chosen statements, the round trip parse(print(parse(s))) ==
 * parse(s) over a corpus of ~100 statements (and print being a fixed
 * point), identifier/type/literal printing, and that equality really
 * distinguishes different trees.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/buf.h"
#include "common/error.h"
#include "query/cql.h"

static const char *const corpus[] = {
    "DESCRIBE SCHEMA", "DESCRIBE FULL SCHEMA", "DESCRIBE KEYSPACES",
    "DESCRIBE KEYSPACE", "DESCRIBE ONLY KEYSPACE ks", "DESCRIBE TABLES",
    "DESCRIBE TABLE ks.\"T\"", "DESCRIBE CLUSTER", "DESCRIBE TYPES",
    "DESCRIBE TYPE ks.addr", "DESCRIBE FUNCTIONS", "DESCRIBE FUNCTION f", "DESCRIBE AGGREGATES",
    "DESCRIBE AGGREGATE ks.\"Avg\"", "DESCRIBE FULL ks.t",
    "USE ks",
    "USE \"MixedKs\"",
    "CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', "
    "'replication_factor': 1}",
    "CREATE KEYSPACE IF NOT EXISTS ks WITH replication = {'class': "
    "'NetworkTopologyStrategy', 'dc1': 3} AND durable_writes = false",
    "ALTER KEYSPACE ks WITH durable_writes = true",
    "DROP KEYSPACE ks",
    "DROP KEYSPACE IF EXISTS \"Ks\"",
    "CREATE TABLE t (k int PRIMARY KEY, v text)",
    "CREATE TABLE IF NOT EXISTS ks.t (a int, b int, c int, d text static, "
    "PRIMARY KEY ((a, b), c))",
    "CREATE TABLE t (k uuid, c timeuuid, v blob, PRIMARY KEY (k, c)) WITH "
    "CLUSTERING ORDER BY (c DESC)",
    "CREATE TABLE t (k int, c1 int, c2 text, PRIMARY KEY (k, c1, c2)) WITH "
    "CLUSTERING ORDER BY (c1 ASC, c2 DESC) AND comment = 'x'",
    "CREATE TABLE t (k int PRIMARY KEY) WITH default_time_to_live = 3600 AND "
    "gc_grace_seconds = 10",
    "CREATE TABLE t (k int PRIMARY KEY) WITH compaction = {'class': "
    "'SizeTieredCompactionStrategy', 'min_threshold': 4}",
    "CREATE TABLE t (k int PRIMARY KEY) WITH compression = {} AND "
    "bloom_filter_fp_chance = 0.1",
    "CREATE TABLE t (k int PRIMARY KEY) WITH caching = {'keys': 'ALL', "
    "'rows_per_partition': 'NONE'} AND speculative_retry = '99PERCENTILE'",
    "CREATE TABLE t (k int PRIMARY KEY) WITH speculative_retry = always",
    "CREATE TABLE t (a ascii, b bigint, c blob, d boolean, e counter, f date, "
    "g decimal, h double, "
    "i duration, j float, k inet, l int, m smallint, n text, o time, p "
    "timestamp, q timeuuid, "
    "r tinyint, s uuid, t varchar, u varint, PRIMARY KEY (a))",
    "CREATE TABLE t (k int PRIMARY KEY, l list<int>, s set<text>, m map<text, "
    "int>)",
    "CREATE TABLE t (k int PRIMARY KEY, f frozen<map<text, frozen<set<int>>>>, "
    "t tuple<int, text>)",
    "CREATE TABLE t (k int PRIMARY KEY, t frozen<tuple<int, "
    "frozen<list<text>>>>)",
    "CREATE TABLE t (k int PRIMARY KEY, a address, b frozen<ks.address>, c "
    "list<frozen<address>>)",
    "CREATE TABLE t (k int PRIMARY KEY, c "
    "'org.apache.cassandra.db.marshal.BytesType')",
    "CREATE TABLE \"T\" (\"K\" int PRIMARY KEY, \"select\" text, \"a\"\"b\" "
    "int)",
    "CREATE TABLE t (k int PRIMARY KEY, u frozen<\"text\">)",
    "CREATE TABLE t (key text, value text, ttl int, PRIMARY KEY (key))",
    "ALTER TABLE t ADD v int",
    "ALTER TABLE ks.t ADD (a int, b map<int, text> STATIC)",
    "ALTER TABLE t DROP v",
    "ALTER TABLE t DROP (a, b)",
    "ALTER TABLE t RENAME a TO b",
    "ALTER TABLE t RENAME a TO b AND \"C\" TO d",
    "ALTER TABLE t WITH comment = 'new' AND gc_grace_seconds = 0",
    "DROP TABLE t",
    "DROP TABLE IF EXISTS ks.t",
    "TRUNCATE t",
    "TRUNCATE TABLE ks.t",
    "CREATE TYPE address (street text, zip int)",
    "CREATE TYPE IF NOT EXISTS ks.person (name text, addrs "
    "list<frozen<address>>)",
    "ALTER TYPE address ADD country text",
    "ALTER TYPE ks.address RENAME zip TO postcode AND street TO road",
    "DROP TYPE address",
    "DROP TYPE IF EXISTS ks.address",
    "INSERT INTO t (k, v) VALUES (1, 'one')",
    "INSERT INTO ks.t (k, v) VALUES (?, ?)",
    "INSERT INTO t (k, v) VALUES (:k, :v) IF NOT EXISTS",
    "INSERT INTO t (k, v) VALUES (1, 2) USING TTL 60",
    "INSERT INTO t (k, v) VALUES (1, 2) USING TIMESTAMP 123 AND TTL ?",
    "INSERT INTO t (k, v) VALUES (1, 2) IF NOT EXISTS USING TTL :ttl AND "
    "TIMESTAMP :ts",
    "INSERT INTO t JSON '{\"k\": 1}'",
    "INSERT INTO t JSON ? DEFAULT UNSET",
    "INSERT INTO t JSON ? DEFAULT NULL",
    "INSERT INTO t (a, b, c, d, e, f, g, h) VALUES ('it''s', -1, 1.5, -2.5e-3, "
    "NaN, -Infinity, true, null)",
    "INSERT INTO t (a, b, c, d, e) VALUES "
    "(123e4567-e89b-12d3-a456-426614174000, 0xcafe, 0x, 1h30m, -P1DT2H)",
    "INSERT INTO t (a, b) VALUES ($$dollar'string$$, 'tab\tand\nnewline')",
    "INSERT INTO t (l, s, m, e) VALUES ([1, 2], {'a'}, {'k': 1, 'j': 2}, {})",
    "INSERT INTO t (tu, u) VALUES ((1, 'a', (2, 3)), {street: 'x', \"Zip\": "
    "1})",
    "INSERT INTO t (a, b, c) VALUES (now(), toTimestamp(now()), uuid())",
    "INSERT INTO t (a, b) VALUES ((int) 3, (frozen<list<int>>) [1])",
    "INSERT INTO t (a, b) VALUES ((ks.addr) {street: 'x'}, (addr) ?)",
    "INSERT INTO t (a) VALUES (ks.fn(1, 'x', ?))",
    "INSERT INTO t (a) VALUES (\"MyFn\"(1))",
    "INSERT INTO t (m) VALUES ({?: ?, 'k': [?]})",
    "INSERT INTO t (s) VALUES ({?, ?})",
    "UPDATE t SET v = 1 WHERE k = 0",
    "UPDATE ks.t USING TTL 10 AND TIMESTAMP 20 SET a = ?, b = :b WHERE k = ? "
    "AND c = ?",
    "UPDATE t SET l = l + [1, 2], l2 = [0] + l2, s = s - {'x'}, c = c + 1, d = "
    "d - 1 WHERE k = 1",
    "UPDATE t SET c = c -1 WHERE k = 1",
    "UPDATE t SET c += 5, s -= {'a'} WHERE k = 1",
    "UPDATE t SET m['k'] = 'v', l[0] = 3, u.street = 'x' WHERE k = 1",
    "UPDATE t SET m[?] = ?, u.f = ? WHERE k = ?",
    "UPDATE t SET v = 1 WHERE k = 0 IF EXISTS",
    "UPDATE t SET v = 1 WHERE k = 0 IF v = 0 AND m['a'] != null AND u.f > 3 "
    "AND x IN (1, 2) AND y IN ?",
    "UPDATE t SET v = null WHERE k IN (1, 2) AND c >= 3",
    "DELETE FROM t WHERE k = 1",
    "DELETE a, b FROM ks.t WHERE k = 1 AND c = 2",
    "DELETE m['k'], l[?], u.f FROM t USING TIMESTAMP 5 WHERE k = ?",
    "DELETE FROM t WHERE k = 1 AND c > 1 AND c <= 5 IF EXISTS",
    "DELETE FROM t WHERE k = 1 IF v = 2",
    "BEGIN BATCH INSERT INTO t (k) VALUES (1); UPDATE t SET v = 2 WHERE k = 1; "
    "DELETE FROM t WHERE k = 3; APPLY BATCH",
    "BEGIN UNLOGGED BATCH USING TIMESTAMP 99 INSERT INTO t (k) VALUES (?); "
    "INSERT INTO t (k) VALUES (:x); APPLY BATCH",
    "BEGIN COUNTER BATCH UPDATE c SET n = n + 1 WHERE k = 1; APPLY BATCH",
    "SELECT * FROM t",
    "SELECT a, b, c FROM ks.t WHERE k = 1",
    "SELECT JSON * FROM t",
    "SELECT DISTINCT k FROM t",
    "SELECT JSON DISTINCT k, s FROM t",
    "SELECT json, distinct FROM t",
    "SELECT a AS x, \"B\" AS \"Y\" FROM t",
    "SELECT count(*), count(1), max(v), min(v), sum(v), avg(v) FROM t WHERE k "
    "= 1",
    "SELECT writetime(v), ttl(v) FROM t",
    "SELECT token(k), token(a, b) FROM t",
    "SELECT CAST(v AS text), CAST(x AS bigint) AS y FROM t",
    "SELECT toJson(m), blobAsText(v), ks.fn(a, 1) FROM t",
    "SELECT u.street, m['k'], l[0], u.a.b FROM t",
    "SELECT 1, 'lit', [1, 2], {'a': 1}, (int) 3, (int) v FROM t",
    "SELECT * FROM t WHERE k IN (1, 2, 3) AND c > 5 ORDER BY c DESC LIMIT 10",
    "SELECT * FROM t WHERE k = ? AND c >= ? AND c < ? ORDER BY c ASC, d DESC "
    "LIMIT ?",
    "SELECT * FROM t WHERE k IN ? PER PARTITION LIMIT 2 LIMIT 100",
    "SELECT * FROM t WHERE k = :k PER PARTITION LIMIT :p LIMIT :l",
    "SELECT * FROM t WHERE token(k) > token(1) AND token(k) <= 100",
    "SELECT * FROM t WHERE token(a, b) > ? AND token(a, b) < token(?, ?)",
    "SELECT * FROM t WHERE k = 1 AND (c1, c2) > (1, 2) AND (c1, c2) <= (3, 4)",
    "SELECT * FROM t WHERE k = 1 AND (c1, c2) IN ((1, 2), (3, 4))",
    "SELECT * FROM t WHERE k = 1 AND (c1, c2) IN ? AND (c3, c4) = ?",
    "SELECT * FROM t WHERE k = 1 AND (c1, c2) IN (?, (1, ?))",
    "SELECT * FROM t WHERE tags CONTAINS 'x' AND m CONTAINS KEY 'k' ALLOW "
    "FILTERING",
    "SELECT * FROM t WHERE name LIKE 'ab%' AND m['k'] = 5 AND v != 3 ALLOW "
    "FILTERING",
    "SELECT * FROM t WHERE k IN ()",
    "SELECT k, count(*) FROM t GROUP BY k",
    "SELECT * FROM t WHERE k = 1 GROUP BY k, c ORDER BY c DESC PER PARTITION "
    "LIMIT 1 LIMIT 5 ALLOW FILTERING",
    "SELECT * FROM t WHERE k = minTimeuuid('2013-01-01 00:05+0000') AND c < "
    "maxTimeuuid(?)",
    "SELECT * FROM t WHERE \"Key\" = :\"Name\" AND \"with\"\"quote\" = 'a'",
    "SELECT * FROM t WHERE d = 12mo AND e = P2W AND f = -5s",
    "CREATE ROLE IF NOT EXISTS alice WITH PASSWORD = 'it''s' AND LOGIN = true AND SUPERUSER = "
    "false",
    "CREATE ROLE \"Mixed Case\"",
    "ALTER ROLE r WITH SUPERUSER = true",
    "DROP ROLE IF EXISTS r",
    "GRANT SELECT ON TABLE ks.t TO r",
    "GRANT ALL PERMISSIONS ON ALL KEYSPACES TO r",
    "REVOKE AUTHORIZE ON KEYSPACE \"select\" FROM \"R\"",
    "LIST ROLES OF r NORECURSIVE",
    "LIST USERS",
    "LIST MODIFY ON TABLE t OF r",
    "LIST ALL PERMISSIONS",
};

static bs_cql_stmt *parse(bs_arena *a, const char *q) {
    bs_cql_stmt *s = NULL;
    bs_cql_error e;
    int rc = bs_cql_parse(a, q, strlen(q), &s, &e);
    ck_assert_msg(rc == 0, "<%s>: %s", q, e.msg);
    return s;
}

static char *print(const bs_cql_stmt *s) {
    bs_buf b = BS_BUF_INIT;
    ck_assert_int_eq(bs_cql_print(s, &b), 0);
    ck_assert_int_eq(bs_buf_append_u8(&b, 0), 0);
    size_t n;
    return (char *)bs_buf_steal(&b, &n);
}

START_TEST(print_round_trip_corpus) {
    size_t n = sizeof corpus / sizeof *corpus;
    ck_assert_uint_ge(n, 100);
    for (size_t i = 0; i < n; i++) {
        bs_arena a;
        bs_arena_init(&a, 0);
        bs_cql_stmt *s1 = parse(&a, corpus[i]);
        char *t1 = print(s1);
        bs_cql_stmt *s2 = parse(&a, t1);
        ck_assert_msg(bs_cql_stmt_equal(s1, s2),
                      "round trip differs:\n  in:  %s\n  out: %s", corpus[i],
                      t1);
        ck_assert(bs_cql_stmt_equal(s2, s1));
        char *t2 = print(s2);
        ck_assert_msg(strcmp(t1, t2) == 0,
                      "print not a fixed point:\n  %s\n  %s", t1, t2);
        free(t1);
        free(t2);
        bs_arena_free(&a);
    }
}
END_TEST

START_TEST(print_canonical_forms) {
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"select A,b from KS.T where K=1 and c>=2 limit 5;",
         "SELECT a, b FROM ks.t WHERE k = 1 AND c >= 2 LIMIT 5"},
        {"create table t (k int primary key, v varchar)",
         "CREATE TABLE t (k int, v text, PRIMARY KEY (k))"},
        {"CREATE TABLE t (a int, b int, PRIMARY KEY ((a), b))",
         "CREATE TABLE t (a int, b int, PRIMARY KEY (a, b))"},
        {"INSERT INTO t (k, s) VALUES (1, $$it's$$) USING TIMESTAMP 1 AND TTL "
         "2",
         "INSERT INTO t (k, s) VALUES (1, 'it''s') USING TTL 2 AND TIMESTAMP "
         "1"},
        {"UPDATE t SET c += 1 WHERE k = 1",
         "UPDATE t SET c = c + 1 WHERE k = 1"},
        {"UPDATE t SET c = c -1 WHERE k = 1",
         "UPDATE t SET c = c - 1 WHERE k = 1"},
        {"SELECT \"Mixed\", \"lower\", \"select\", \"a b\" FROM t",
         "SELECT \"Mixed\", lower, \"select\", \"a b\" FROM t"},
        {"SELECT * FROM t WHERE b = TRUE AND h = 0XCAFE",
         "SELECT * FROM t WHERE b = true AND h = 0xCAFE"},
        {"SELECT COUNT(*) FROM t", "SELECT count(*) FROM t"},
        {"SELECT * FROM t WHERE TOKEN(k) > ?",
         "SELECT * FROM t WHERE token(k) > ?"},
        {"ALTER TABLE t ADD (a int)", "ALTER TABLE t ADD a int"},
        {"begin batch insert into t (k) values (1) apply batch",
         "BEGIN BATCH INSERT INTO t (k) VALUES (1); APPLY BATCH"},
        {"DELETE FROM t WHERE k = 1", "DELETE FROM t WHERE k = 1"},
        {"TRUNCATE COLUMNFAMILY t", "TRUNCATE TABLE t"},
        {"SELECT * FROM t WHERE k = :Name", "SELECT * FROM t WHERE k = :name"},
        {"create user Bob with password 'p' nosuperuser",
         "CREATE ROLE bob WITH PASSWORD = 'p' AND LOGIN = true AND SUPERUSER = false"},
        {"grant select permission on ks.t to 'Bob'", "GRANT SELECT ON TABLE ks.t TO \"Bob\""},
        {"list all on all keyspaces", "LIST ALL PERMISSIONS ON ALL KEYSPACES"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        bs_arena a;
        bs_arena_init(&a, 0);
        char *t = print(parse(&a, cases[i].in));
        ck_assert_str_eq(t, cases[i].out);
        free(t);
        bs_arena_free(&a);
    }
}
END_TEST

START_TEST(print_pieces) {
    bs_buf b = BS_BUF_INIT;
    ck_assert_int_eq(bs_cql_print_ident("abc_1", &b), 0);
    ck_assert_int_eq(bs_cql_print_ident("Abc", &b), 0);
    ck_assert_int_eq(bs_cql_print_ident("from", &b), 0);
    ck_assert_int_eq(bs_cql_print_ident("1a", &b), 0);
    ck_assert_int_eq(bs_cql_print_ident("q\"q", &b), 0);
    ck_assert_int_eq(bs_cql_print_ident("true", &b), 0);
    ck_assert_int_eq(bs_buf_append_u8(&b, 0), 0);
    ck_assert_str_eq((char *)b.data,
                     "abc_1\"Abc\"\"from\"\"1a\"\"q\"\"q\"\"true\"");
    bs_buf_reset(&b);

    bs_type *t = bs_type_new_coll(
        BS_TYPE_MAP, bs_type_new(BS_TYPE_VARCHAR),
        bs_type_new_coll(BS_TYPE_LIST, bs_type_new(BS_TYPE_INT), NULL));
    t->params[1]->frozen = 1;
    ck_assert_int_eq(bs_cql_print_type(t, &b), 0);
    ck_assert_int_eq(bs_buf_append_u8(&b, 0), 0);
    ck_assert_str_eq((char *)b.data, "map<text, frozen<list<int>>>");
    bs_type_free(t);
    bs_buf_reset(&b);

    bs_literal l = {BS_LIT_STRING, "a'b", 3};
    ck_assert_int_eq(bs_cql_print_literal(&l, &b), 0);
    bs_literal h = {BS_LIT_HEX, "00ff", 4};
    ck_assert_int_eq(bs_cql_print_literal(&h, &b), 0);
    ck_assert_int_eq(bs_buf_append_u8(&b, 0), 0);
    ck_assert_str_eq((char *)b.data, "'a''b'0x00ff");
    bs_buf_free(&b);

    ck_assert_str_eq(bs_cql_stmt_kind_name(BS_CQL_STMT_CREATE_TABLE),
                     "CREATE TABLE");
    ck_assert_str_eq(bs_cql_stmt_kind_name(BS_CQL_STMT_SELECT), "SELECT");
}
END_TEST

START_TEST(equality_distinguishes) {
    static const char *const pairs[][2] = {
        {"SELECT a FROM t", "SELECT b FROM t"},
        {"SELECT a FROM t", "SELECT a FROM ks.t"},
        {"SELECT * FROM t WHERE k = 1", "SELECT * FROM t WHERE k = 2"},
        {"SELECT * FROM t WHERE k = 1", "SELECT * FROM t WHERE k = '1'"},
        {"SELECT * FROM t WHERE k = 1", "SELECT * FROM t WHERE k >= 1"},
        {"SELECT * FROM t WHERE k = ?", "SELECT * FROM t WHERE k = :k"},
        {"SELECT * FROM t WHERE k IN ?", "SELECT * FROM t WHERE k IN (?)"},
        {"SELECT * FROM t LIMIT 1", "SELECT * FROM t"},
        {"SELECT * FROM t ORDER BY c ASC", "SELECT * FROM t ORDER BY c DESC"},
        {"CREATE TABLE t (k int PRIMARY KEY)",
         "CREATE TABLE t (k bigint PRIMARY KEY)"},
        {"CREATE TABLE t (a int, b int, PRIMARY KEY (a, b))",
         "CREATE TABLE t (a int, b int, PRIMARY KEY ((a, b)))"},
        {"CREATE TABLE t (k frozen<list<int>> PRIMARY KEY)",
         "CREATE TABLE t (k list<int> PRIMARY KEY)"},
        {"UPDATE t SET c = c + 1 WHERE k = 1",
         "UPDATE t SET c = c - 1 WHERE k = 1"},
        {"UPDATE t SET l = [1] + l WHERE k = 1",
         "UPDATE t SET l = l + [1] WHERE k = 1"},
        {"INSERT INTO t (k) VALUES ({1})", "INSERT INTO t (k) VALUES ([1])"},
        {"INSERT INTO t (k) VALUES ({})",
         "INSERT INTO t (k) VALUES ({'a': 1})"},
        {"BEGIN BATCH APPLY BATCH", "BEGIN UNLOGGED BATCH APPLY BATCH"},
        {"DROP TABLE t", "TRUNCATE t"},
    };
    for (size_t i = 0; i < sizeof pairs / sizeof *pairs; i++) {
        bs_arena a;
        bs_arena_init(&a, 0);
        bs_cql_stmt *x = parse(&a, pairs[i][0]), *y = parse(&a, pairs[i][1]);
        ck_assert_msg(!bs_cql_stmt_equal(x, y), "equal: %s / %s", pairs[i][0],
                      pairs[i][1]);
        ck_assert(bs_cql_stmt_equal(x, x));
        bs_arena_free(&a);
    }
}
END_TEST

int main(void) {
    Suite *s = suite_create("cql_print");
    TCase *tc = tcase_create("print");
    tcase_add_test(tc, print_round_trip_corpus);
    tcase_add_test(tc, print_canonical_forms);
    tcase_add_test(tc, print_pieces);
    tcase_add_test(tc, equality_distinguishes);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
