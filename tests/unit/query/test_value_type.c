/*
 * test_value_type.c - CQL type names (query/value_type.c): printing as
 * system_schema.columns.type does, parsing back, errors.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "query/value.h"

static char *to_cql(const bs_type *t) {
    bs_buf b = BS_BUF_INIT;
    ck_assert_int_eq(bs_value_type_to_cql(t, &b), 0);
    bs_buf_append_u8(&b, 0);
    return (char *)b.data;
}

static bs_type *parse_ok(const char *s) {
    bs_type *t = NULL;
    char err[256] = "";
    int rc = bs_value_type_parse(s, strlen(s), &t, err, sizeof err);
    ck_assert_msg(rc == 0, "parse '%s' failed: %s", s, err);
    ck_assert_ptr_nonnull(t);
    return t;
}

/* parse(s) prints as `want`, and parse(want) is the same descriptor. */
static void check_canon(const char *s, const char *want) {
    bs_type *t = parse_ok(s);
    char *c = to_cql(t);
    ck_assert_msg(strcmp(c, want) == 0, "'%s' printed '%s', want '%s'", s, c,
                  want);
    bs_type *t2 = parse_ok(c);
    ck_assert(bs_type_equal(t, t2));
    free(c);
    bs_type_free(t);
    bs_type_free(t2);
}

START_TEST(scalars_print_and_parse) {
    static const char *names[] = {
        "ascii",   "bigint", "blob",     "boolean",  "counter",
        "decimal", "double", "float",    "int",      "timestamp",
        "uuid",    "text",   "varint",   "timeuuid", "inet",
        "date",    "time",   "smallint", "tinyint",  "duration"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        check_canon(names[i], names[i]);
    check_canon("varchar", "text");
    check_canon("  VarChar ", "text");
    check_canon("BIGINT", "bigint");
    bs_type *t = parse_ok("varchar");
    ck_assert_uint_eq(t->kind, BS_TYPE_VARCHAR);
    bs_type_free(t);
}
END_TEST

START_TEST(nested_types_as_cassandra_prints_them) {
    check_canon("map<text, frozen<list<int>>>", "map<text, frozen<list<int>>>");
    check_canon("map<varchar,frozen< list <int> >>",
                "map<text, frozen<list<int>>>");
    check_canon("frozen<list<list<int>>>", "frozen<list<list<int>>>");
    check_canon("frozen<list<frozen<list<int>>>>", "frozen<list<list<int>>>");
    check_canon("tuple<int, text>", "frozen<tuple<int, text>>");
    check_canon("frozen<tuple<int,text>>", "frozen<tuple<int, text>>");
    check_canon("list<tuple<int, frozen<set<text>>>>",
                "list<frozen<tuple<int, set<text>>>>");
    check_canon("set<frozen<map<int, text>>>", "set<frozen<map<int, text>>>");
    check_canon("frozen<address>", "frozen<address>");
    check_canon("Address", "address");
    check_canon("\"MyType\"", "\"MyType\"");
    check_canon("list<frozen<\"My\"\"T\">>", "list<frozen<\"My\"\"T\">>");
    /* a user type named like a native or parameterized type stays quoted
     * (unquoted it would read back as that type; found by fuzz_value) */
    check_canon("\"varchar\"", "\"varchar\"");
    check_canon("frozen<\"int\">", "frozen<\"int\">");
    check_canon("\"list\"", "\"list\"");
    check_canon("'org.apache.cassandra.db.marshal.BytesType'",
                "'org.apache.cassandra.db.marshal.BytesType'");

    bs_type *t = parse_ok("map<text, frozen<list<int>>>");
    ck_assert_uint_eq(t->kind, BS_TYPE_MAP);
    ck_assert_uint_eq(t->frozen, 0);
    ck_assert_uint_eq(t->params[1]->kind, BS_TYPE_LIST);
    ck_assert_uint_eq(t->params[1]->frozen, 1);
    ck_assert_uint_eq(t->params[1]->params[0]->kind, BS_TYPE_INT);
    bs_type_free(t);

    t = parse_ok("ks.addr");
    ck_assert_uint_eq(t->kind, BS_TYPE_UDT);
    ck_assert_str_eq(t->keyspace, "ks");
    ck_assert_str_eq(t->name, "addr");
    bs_type_free(t);

    /* inner types of a frozen collection are frozen in the descriptor */
    t = parse_ok("frozen<list<set<int>>>");
    ck_assert_uint_eq(t->frozen, 1);
    ck_assert_uint_eq(t->params[0]->frozen, 1);
    bs_type_free(t);
}
END_TEST

START_TEST(hand_built_descriptor_prints) {
    bs_type *inner =
        bs_type_new_coll(BS_TYPE_LIST, bs_type_new(BS_TYPE_INT), NULL);
    inner->frozen = 1;
    bs_type *m =
        bs_type_new_coll(BS_TYPE_MAP, bs_type_new(BS_TYPE_VARCHAR), inner);
    char *c = to_cql(m);
    ck_assert_str_eq(c, "map<text, frozen<list<int>>>");
    free(c);
    bs_type_free(m);

    bs_type *u = bs_type_new(BS_TYPE_UDT);
    u->name = strdup("point");
    ck_assert_int_eq(bs_type_add_param(u, bs_type_new(BS_TYPE_INT), "x"), 0);
    bs_type *l = bs_type_new_coll(BS_TYPE_LIST, u, NULL);
    u->frozen = 1;
    c = to_cql(l);
    ck_assert_str_eq(c, "list<frozen<point>>");
    free(c);
    bs_type_free(l);

    bs_type *bad = bs_type_new(BS_TYPE_MAP); /* no params */
    bs_buf b = BS_BUF_INIT;
    ck_assert_int_eq(bs_value_type_to_cql(bad, &b), BS_EINVAL);
    bs_buf_free(&b);
    bs_type_free(bad);
}
END_TEST

static void parse_fails(const char *s, const char *msg_part) {
    bs_type *t = (bs_type *)1;
    char err[256] = "";
    int rc = bs_value_type_parse(s, strlen(s), &t, err, sizeof err);
    ck_assert_msg(rc == BS_ESYNTAX, "'%s' gave %d", s, rc);
    ck_assert_ptr_null(t);
    ck_assert_msg(strstr(err, msg_part) != NULL,
                  "'%s': message '%s' lacks '%s'", s, err, msg_part);
}

START_TEST(parse_errors_are_clear) {
    parse_fails("", "expected a type name");
    parse_fails("list<int", "expected '>'");
    parse_fails("list<>", "expected a type name");
    parse_fails("map<int>", "expected 2 type parameters");
    parse_fails("list<int, int>", "expected 1 type parameter");
    parse_fails("list<list<int>>", "non-frozen collections are not allowed");
    parse_fails("map<int, addr>", "non-frozen user types");
    parse_fails("frozen<int>", "frozen<> is only allowed");
    parse_fails("int int", "unexpected text after type");
    parse_fails("set<duration>", "durations are not allowed");
    parse_fails("list<counter>", "counters are not allowed");
    parse_fails("\"unterminated", "unterminated quoted name");
    parse_fails("int>", "offset 3");
    parse_fails("foo<int>", "unknown parameterized type");
    /* deep nesting is refused, not a stack overflow */
    char deep[2000];
    size_t k = 0;
    for (int i = 0; i < 150; i++)
        k += (size_t)sprintf(deep + k, "frozen<list<");
    deep[k] = 0;
    parse_fails(deep, "nested too deeply");
}
END_TEST

int main(void) {
    Suite *s = suite_create("query_value_type");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, scalars_print_and_parse);
    tcase_add_test(tc, nested_types_as_cassandra_prints_them);
    tcase_add_test(tc, hand_built_descriptor_prints);
    tcase_add_test(tc, parse_errors_are_clear);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
