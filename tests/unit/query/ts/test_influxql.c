/*
 * test_influxql.c - the InfluxQL parser (query/ts/influxql.c): SELECT
 * with aggregates, aliases, WHERE time ranges (absolute, now() - d,
 * integers, strict and inclusive bounds) and tag predicates, GROUP BY
 * time with offset and tags, fill, ORDER BY, LIMIT/OFFSET/SLIMIT/SOFFSET;
 * SHOW, CREATE/DROP; several statements; times and durations; errors.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "query/ts/influxql.h"

static bs_arena A;
static void setup(void) { bs_arena_init(&A, 0); }
static void teardown(void) { bs_arena_free(&A); }

static bs_iq_stmt *parse1(const char *q, int64_t now) {
    bs_iq_stmt *s;
    size_t n;
    const char *err = NULL;
    int rc = bs_iq_parse(q, strlen(q), now, &A, &s, &n, &err);
    ck_assert_msg(rc == 0, "%s: %s", q, err);
    ck_assert_uint_eq(n, 1);
    return s;
}

static const char *parse_err(const char *q) {
    bs_iq_stmt *s;
    size_t n;
    const char *err = NULL;
    ck_assert_int_eq(bs_iq_parse(q, strlen(q), 0, &A, &s, &n, &err), BS_ESYNTAX);
    return err;
}

START_TEST(test_select) {
    int64_t now = 10000000000000LL;
    bs_iq_stmt *s = parse1("select mean(\"usage\") as m, MAX(v), percentile(v, 95.5), host from cpu "
                           "where time >= now() - 1h and (host = 'a' and dc != 'x') and time < "
                           "'1970-01-01T02:46:40Z' and region =~ /eu-.*\\/x/ "
                           "group by time(10s, 2s), host fill(previous) order by time desc "
                           "limit 5 offset 2 slimit 3 soffset 1",
                           now);
    ck_assert_int_eq(s->kind, BS_IQ_SELECT);
    ck_assert_uint_eq(s->nexprs, 4);
    ck_assert_int_eq(s->exprs[0].agg, BS_IQ_MEAN);
    ck_assert_str_eq(s->exprs[0].name, "usage");
    ck_assert_str_eq(s->exprs[0].alias, "m");
    ck_assert_int_eq(s->exprs[1].agg, BS_IQ_MAX);
    ck_assert_int_eq(s->exprs[2].agg, BS_IQ_PERCENTILE);
    ck_assert(s->exprs[2].arg == 95.5);
    ck_assert_int_eq(s->exprs[3].agg, BS_IQ_RAW);
    ck_assert_str_eq(s->exprs[3].name, "host");
    ck_assert_str_eq(s->from, "cpu");
    ck_assert(s->has_tmin && s->has_tmax);
    ck_assert_int_eq(s->tmin, now - 3600000000000LL);
    ck_assert_int_eq(s->tmax, 10000000000000LL - 1); /* strict bound */
    ck_assert_uint_eq(s->nconds, 3);
    ck_assert_str_eq(s->conds[0].key, "host");
    ck_assert_int_eq(s->conds[1].op, BS_IQ_NE);
    ck_assert_int_eq(s->conds[2].op, BS_IQ_RE);
    ck_assert_str_eq(s->conds[2].value, "eu-.*/x");
    ck_assert_int_eq(s->interval, 10000000000LL);
    ck_assert_int_eq(s->offset, 2000000000LL);
    ck_assert_uint_eq(s->ngroup_tags, 1);
    ck_assert_str_eq(s->group_tags[0], "host");
    ck_assert_int_eq(s->fill, BS_IQ_FILL_PREVIOUS);
    ck_assert(s->desc);
    ck_assert_int_eq(s->limit, 5);
    ck_assert_int_eq(s->offset_rows, 2);
    ck_assert_int_eq(s->slimit, 3);
    ck_assert_int_eq(s->soffset, 1);
    s = parse1("SELECT * FROM \"my m\" WHERE time > 5 GROUP BY * fill(-1.5)", 0);
    ck_assert_str_eq(s->exprs[0].name, "*");
    ck_assert_str_eq(s->from, "my m");
    ck_assert_int_eq(s->tmin, 6);
    ck_assert(!s->has_tmax);
    ck_assert(s->group_all);
    ck_assert_int_eq(s->fill, BS_IQ_FILL_NUMBER);
    ck_assert(s->fill_value == -1.5);
    s = parse1("select v from m where time = 7s", 0);
    ck_assert_int_eq(s->tmin, 7000000000LL);
    ck_assert_int_eq(s->tmax, 7000000000LL);
}
END_TEST

START_TEST(test_other_statements) {
    bs_iq_stmt *s;
    size_t n;
    const char *err;
    const char *q = "CREATE DATABASE \"db1\" WITH DURATION 7d REPLICATION 3; show databases;"
                    "SHOW MEASUREMENTS; show field keys from cpu; SHOW TAG KEYS; "
                    "SHOW TAG VALUES FROM cpu WITH KEY = \"host\"; show series from cpu;"
                    "SHOW RETENTION POLICIES ON db1; DROP MEASUREMENT cpu; drop database db1;";
    ck_assert_int_eq(bs_iq_parse(q, strlen(q), 0, &A, &s, &n, &err), 0);
    ck_assert_uint_eq(n, 10);
    ck_assert_int_eq(s[0].kind, BS_IQ_CREATE_DATABASE);
    ck_assert_str_eq(s[0].name, "db1");
    ck_assert_int_eq(s[0].replication, 3);
    ck_assert_int_eq(s[1].kind, BS_IQ_SHOW_DATABASES);
    ck_assert_int_eq(s[2].kind, BS_IQ_SHOW_MEASUREMENTS);
    ck_assert_int_eq(s[3].kind, BS_IQ_SHOW_FIELD_KEYS);
    ck_assert_str_eq(s[3].from, "cpu");
    ck_assert_int_eq(s[4].kind, BS_IQ_SHOW_TAG_KEYS);
    ck_assert_ptr_null(s[4].from);
    ck_assert_int_eq(s[5].kind, BS_IQ_SHOW_TAG_VALUES);
    ck_assert_str_eq(s[5].key, "host");
    ck_assert_int_eq(s[6].kind, BS_IQ_SHOW_SERIES);
    ck_assert_int_eq(s[7].kind, BS_IQ_SHOW_RETENTION_POLICIES);
    ck_assert_str_eq(s[7].name, "db1");
    ck_assert_int_eq(s[8].kind, BS_IQ_DROP_MEASUREMENT);
    ck_assert_int_eq(s[9].kind, BS_IQ_DROP_DATABASE);
}
END_TEST

START_TEST(test_where_tree) {
    bs_iq_stmt *s;
    size_t n;
    const char *err;
    const char *q = "SELECT v FROM m WHERE (a = 'x' OR v > 2.5) AND time > 10 AND NOT_A_KW != 'y';"
                    "SELECT v FROM m WHERE host = 'a' AND r =~ /e/;"
                    "SELECT v FROM m WHERE 5 < v OR ok = true OR time < 7 OR n = -3";
    ck_assert_int_eq(bs_iq_parse(q, strlen(q), 0, &A, &s, &n, &err), 0);
    ck_assert_uint_eq(n, 3);
    const bs_iq_where *w = s[0].where;
    ck_assert_int_eq(w->kind, BS_IQ_W_AND);
    ck_assert_int_eq(w->l->kind, BS_IQ_W_OR);
    ck_assert_str_eq(w->l->r->key, "v");
    ck_assert_int_eq(w->l->r->op, BS_IQ_GT);
    ck_assert(w->l->r->lit == BS_IQ_LIT_NUMBER && w->l->r->num == 2.5 && !w->l->r->is_int);
    ck_assert_str_eq(w->r->key, "NOT_A_KW"); /* the time comparison dropped out */
    ck_assert_int_eq(s[0].tmin, 11);
    ck_assert_int_eq(s[0].nwhere, 3);
    ck_assert(!s[0].conds_ok);
    ck_assert(s[1].conds_ok);
    ck_assert_uint_eq(s[1].nconds, 2);
    w = s[2].where; /* ((5 < v OR ok = true) OR n = -3): time < 7 dropped */
    ck_assert_int_eq(w->kind, BS_IQ_W_OR);
    ck_assert_int_eq(w->l->l->op, BS_IQ_GT); /* 5 < v is v > 5 */
    ck_assert(w->l->r->lit == BS_IQ_LIT_BOOL && w->l->r->b);
    ck_assert(w->r->is_int && w->r->i == -3);
    ck_assert_int_eq(s[2].tmax, 6);
}
END_TEST

START_TEST(test_delete_and_policies) {
    bs_iq_stmt *s;
    size_t n;
    const char *err;
    const char *q = "DELETE FROM cpu WHERE time < 100s AND host = 'a'; DELETE WHERE time > 5;"
                    "DROP SERIES FROM mem WHERE host =~ /x/; DROP SERIES FROM m;"
                    "CREATE RETENTION POLICY \"one day\" ON db DURATION 1d REPLICATION 1 "
                    "SHARD DURATION 2h DEFAULT; ALTER RETENTION POLICY r ON db DURATION INF;"
                    "DROP RETENTION POLICY r ON db; SELECT v FROM db.r.cpu; SELECT v FROM r.m;"
                    "CREATE DATABASE d WITH DURATION 3d NAME ten";
    ck_assert_int_eq(bs_iq_parse(q, strlen(q), 0, &A, &s, &n, &err), 0);
    ck_assert_uint_eq(n, 10);
    ck_assert_int_eq(s[0].kind, BS_IQ_DELETE);
    ck_assert_str_eq(s[0].from, "cpu");
    ck_assert(s[0].has_tmax && !s[0].has_tmin);
    ck_assert_int_eq(s[0].tmax, 100000000000LL - 1);
    ck_assert_uint_eq(s[0].nconds, 1);
    ck_assert_int_eq(s[1].kind, BS_IQ_DELETE);
    ck_assert_ptr_null(s[1].from);
    ck_assert_int_eq(s[1].tmin, 6);
    ck_assert_int_eq(s[2].kind, BS_IQ_DROP_SERIES);
    ck_assert_int_eq(s[2].conds[0].op, BS_IQ_RE);
    ck_assert_int_eq(s[3].kind, BS_IQ_DROP_SERIES);
    ck_assert_uint_eq(s[3].nconds, 0);
    ck_assert_int_eq(s[4].kind, BS_IQ_CREATE_RP);
    ck_assert_str_eq(s[4].rp, "one day");
    ck_assert_str_eq(s[4].name, "db");
    ck_assert_int_eq(s[4].duration, 86400000000000LL);
    ck_assert_int_eq(s[4].shard_duration, 7200000000000LL);
    ck_assert(s[4].rp_default && s[4].has_replication && s[4].replication == 1);
    ck_assert_int_eq(s[5].kind, BS_IQ_ALTER_RP);
    ck_assert(s[5].has_duration && s[5].duration == 0);
    ck_assert_int_eq(s[6].kind, BS_IQ_DROP_RP);
    ck_assert_str_eq(s[7].from, "cpu");
    ck_assert_str_eq(s[7].rp, "r");
    ck_assert_str_eq(s[8].from, "m");
    ck_assert_str_eq(s[8].rp, "r");
    ck_assert_str_eq(s[9].rp, "ten");
    ck_assert_int_eq(s[9].duration, 3 * 86400000000000LL);
    ck_assert_str_eq(parse_err("DELETE"), "found EOF, expected FROM, WHERE at line 1, char 8");
    ck_assert_ptr_nonnull(strstr(parse_err("CREATE RETENTION POLICY r ON db DURATION 1h"),
                                 "expected REPLICATION"));
    ck_assert_ptr_nonnull(strstr(parse_err("ALTER RETENTION POLICY r ON db"), "expected DURATION"));
}
END_TEST

START_TEST(test_times_durations) {
    int64_t t;
    ck_assert_int_eq(bs_iq_parse_time("1970-01-01T00:00:01.5Z", 22, &t), 0);
    ck_assert_int_eq(t, 1500000000LL);
    ck_assert_int_eq(bs_iq_parse_time("2020-01-01", 10, &t), 0);
    ck_assert_int_eq(t, 1577836800000000000LL);
    ck_assert_int_eq(bs_iq_parse_time("2020-01-01 01:00:00+01:00", 25, &t), 0);
    ck_assert_int_eq(t, 1577836800000000000LL);
    ck_assert_int_eq(bs_iq_parse_time("2020-13-01", 10, &t), BS_EINVAL);
    ck_assert_int_eq(bs_iq_parse_duration("1h30m", 5, &t), 0);
    ck_assert_int_eq(t, 5400000000000LL);
    ck_assert_int_eq(bs_iq_parse_duration("100ms", 5, &t), 0);
    ck_assert_int_eq(t, 100000000LL);
    ck_assert_int_eq(bs_iq_parse_duration("5u", 2, &t), 0);
    ck_assert_int_eq(t, 5000);
    ck_assert_int_eq(bs_iq_parse_duration("1w", 2, &t), 0);
    ck_assert_int_eq(t, 604800000000000LL);
    ck_assert_int_eq(bs_iq_parse_duration("1x", 2, &t), BS_EINVAL);
}
END_TEST

START_TEST(test_errors) {
    ck_assert_str_eq(parse_err("SELEC v FROM m"),
                     "found SELEC, expected SELECT, DELETE, SHOW, CREATE, DROP, EXPLAIN, GRANT, "
                     "REVOKE, ALTER, SET, KILL at line 1, char 1");
    ck_assert_str_eq(parse_err("SELECT v"), "found EOF, expected FROM at line 1, char 10");
    ck_assert_ptr_nonnull(strstr(parse_err("SELECT v FROM m WHERE a = 'x' OR"), "expected identifier"));
    ck_assert_ptr_nonnull(strstr(parse_err("SELECT v FROM m WHERE a = b"), "expected identifier, string"));
    ck_assert_ptr_nonnull(strstr(parse_err("SELECT v FROM m WHERE 5 =~ /x/"), "expected ="));
    ck_assert_ptr_nonnull(strstr(parse_err("SELECT foo(v) FROM m"), "supported function"));
    ck_assert_ptr_nonnull(strstr(parse_err("SELECT v FROM m GROUP BY time(x)"), "duration"));
    ck_assert_ptr_nonnull(strstr(parse_err("SELECT v FROM m WHERE time > 'notatime'"), "a time"));
    ck_assert_ptr_nonnull(strstr(parse_err("SELECT v FROM m extra"), "expected ;"));
    ck_assert_ptr_nonnull(strstr(parse_err(""), "found EOF"));
    ck_assert_ptr_nonnull(strstr(parse_err("SHOW TAG VALUES"), "WITH"));
}
END_TEST

/* the value of expression e of q for x */
static bs_iq_value calc(const char *q, int is_int, int64_t i, double f) {
    bs_iq_stmt *s = parse1(q, 0);
    bs_iq_value v = {is_int, i, f};
    return bs_iq_math_apply(s->exprs[0].math, s->exprs[0].nmath, v);
}

START_TEST(test_arithmetic) {
    bs_iq_stmt *s = parse1("SELECT mean(v) / 100 AS pct, (w + 1) * 2, 10 - x, -y, z FROM m", 0);
    ck_assert_uint_eq(s->nexprs, 5);
    ck_assert_int_eq(s->exprs[0].agg, BS_IQ_MEAN);
    ck_assert_str_eq(s->exprs[0].name, "v");
    ck_assert_str_eq(s->exprs[0].alias, "pct");
    ck_assert_uint_eq(s->exprs[0].nmath, 1);
    ck_assert_int_eq(s->exprs[0].math[0].op, '/');
    ck_assert_int_eq(s->exprs[0].math[0].ki, 100);
    ck_assert_uint_eq(s->exprs[1].nmath, 2); /* innermost first */
    ck_assert_int_eq(s->exprs[1].math[0].op, '+');
    ck_assert_int_eq(s->exprs[1].math[1].op, '*');
    ck_assert_int_eq(s->exprs[2].math[0].left, 1);
    ck_assert_str_eq(s->exprs[3].name, "y");
    ck_assert_uint_eq(s->exprs[4].nmath, 0);

    /* InfluxDB's arithmetic: integers stay integers except for '/';
     * division and modulo by zero give 0; constants fold first */
    bs_iq_value r = calc("SELECT v * 2 FROM m", 1, 7, 0);
    ck_assert(r.is_int && r.i == 14);
    r = calc("SELECT v / 2 FROM m", 1, 7, 0);
    ck_assert(!r.is_int && r.f == 3.5);
    r = calc("SELECT v % 4 FROM m", 1, 7, 0);
    ck_assert(r.is_int && r.i == 3);
    r = calc("SELECT v / 0 FROM m", 0, 0, 1.5);
    ck_assert(!r.is_int && r.f == 0);
    r = calc("SELECT v % 0 FROM m", 1, 7, 0);
    ck_assert(r.is_int && r.i == 0);
    r = calc("SELECT v % 2 FROM m", 0, 0, 2.5);
    ck_assert(!r.is_int && r.f == 0.5);
    r = calc("SELECT 10 / v FROM m", 1, 4, 0);
    ck_assert(!r.is_int && r.f == 2.5);
    r = calc("SELECT 2 * 3 + v - 0.5 FROM m", 1, 1, 0);
    ck_assert(!r.is_int && r.f == 6.5);
    r = calc("SELECT -(v - 1) * 2 FROM m", 1, 5, 0);
    ck_assert(r.is_int && r.i == -8);
    r = calc("SELECT v - -1 FROM m", 0, 0, 1.5);
    ck_assert(!r.is_int && r.f == 2.5);
    r = calc("SELECT v * 2 FROM m", 1, INT64_MAX, 0); /* wraps, as Go's int64 */
    ck_assert(r.is_int && r.i == -2);

    ck_assert_str_eq(parse_err("SELECT 1 + 2 FROM m"), "field must contain at least one variable");
    ck_assert_ptr_nonnull(strstr(parse_err("SELECT v + w FROM m"), "two fields or functions"));
    ck_assert_ptr_nonnull(strstr(parse_err("SELECT max(v) - min(v) FROM m"), "two fields"));
    ck_assert_ptr_nonnull(strstr(parse_err("SELECT count(*) * 2 FROM m"), "over *"));
    ck_assert_ptr_nonnull(strstr(parse_err("SELECT (v * 2 FROM m"), "expected )"));
    /* nesting is bounded (a recursive parser on a 25 MB body): an error,
     * not a stack overflow; 100 levels still parse */
    char *deep = malloc(2000100);
    for (int k = 0; k < 2; k++) {
        const char *head = k ? "SELECT v FROM m WHERE " : "SELECT ";
        size_t n = strlen(head);
        memcpy(deep, head, n);
        for (size_t j = 0; j < 2000000; j++) /* "- - - ...": "--" starts a comment */
            deep[n + j] = k ? '(' : j % 2 ? ' ' : '-';
        strcpy(deep + n + 2000000, k ? "a = 'x'" : "v FROM m");
        ck_assert_str_eq(parse_err(deep), "expression nested too deeply (more than 100 levels)");
    }
    char ok[512] = "SELECT ";
    for (int k = 0; k < 100; k++) strcat(ok, "(");
    strcat(ok, "v");
    for (int k = 0; k < 100; k++) strcat(ok, ")");
    strcat(ok, " * 2 FROM m");
    ck_assert_uint_eq(parse1(ok, 0)->exprs[0].nmath, 1);
    free(deep);
}
END_TEST

/* regexes the C library would compile recursively past the stack, or
 * expand past memory, are refused when parsed */
START_TEST(test_regex_limits) {
    char q[2048] = "SELECT v FROM m WHERE h =~ /";
    for (int k = 0; k < 101; k++) strcat(q, "(");
    strcat(q, "a");
    for (int k = 0; k < 101; k++) strcat(q, ")");
    strcat(q, "/");
    ck_assert_ptr_nonnull(strstr(parse_err(q), "nested more than 100 levels deep"));
    ck_assert_ptr_nonnull(
        strstr(parse_err("SELECT v FROM m WHERE h =~ /(a{1000}){1000}/"), "expand it past"));
    ck_assert_ptr_nonnull(
        strstr(parse_err("SELECT v FROM m WHERE h !~ /((a{10,}){10}){10}x{10,100}/"), "expand"));
    strcpy(q, "SELECT v FROM m WHERE h =~ /");
    for (int k = 0; k < 150; k++) strcat(q, "\\("); /* escaped, or in brackets: not groups */
    for (int k = 0; k < 150; k++) strcat(q, "[(]");
    strcat(q, "/");
    parse1(q, 0);
    parse1("SELECT v FROM m WHERE h =~ /^(host1|host2|web-[0-9]{1,3}\\.[0-9]{1,3})$/", 0);
    parse1("SELECT v FROM m WHERE h =~ /a{32767}/", 0);
}
END_TEST

int main(void) {
    Suite *s = suite_create("influxql");
    TCase *tc = tcase_create("parse");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_select);
    tcase_add_test(tc, test_other_statements);
    tcase_add_test(tc, test_times_durations);
    tcase_add_test(tc, test_delete_and_policies);
    tcase_add_test(tc, test_where_tree);
    tcase_add_test(tc, test_errors);
    tcase_add_test(tc, test_arithmetic);
    tcase_add_test(tc, test_regex_limits);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
