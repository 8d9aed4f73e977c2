/*
 * test_lineproto.c - the line protocol parser (query/ts/lineproto.c):
 * every field type, escapes, tag sorting and the series key, timestamps
 * and precisions, comments and blank lines, quoted newlines, line
 * numbers, and InfluxDB 1.6's error message for each kind of bad line
 * (the expected texts were taken from a real influxd 1.6.7 answering the
 * same lines with precision=s).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "query/ts/lineproto.h"

static bs_arena A;
static void setup(void) { bs_arena_init(&A, 0); }
static void teardown(void) { bs_arena_free(&A); }

static int streq(bs_lp_str s, const char *z) { return s.n == strlen(z) && !memcmp(s.p, z, s.n); }

static bs_lp_result parse(const char *body, bs_lp_precision p, int64_t now) {
    bs_lp_result r;
    ck_assert_int_eq(bs_lp_parse(body, strlen(body), p, now, &A, &r), 0);
    return r;
}

START_TEST(test_every_type) {
    bs_lp_result r = parse("cpu,host=a,region=eu f=1.5,i=-3i,u=7u,s=\"hi there\",b=t,B=FALSE,g=2 1700000000000000001\n",
                           BS_LP_NS, 0);
    ck_assert_uint_eq(r.nerrors, 0);
    ck_assert_uint_eq(r.npoints, 1);
    bs_lp_point *p = &r.points[0];
    ck_assert(streq(p->name, "cpu"));
    ck_assert(streq(p->series_key, "cpu,host=a,region=eu"));
    ck_assert_uint_eq(p->ntags, 2);
    ck_assert(streq(p->tags[0].key, "host") && streq(p->tags[0].value, "a"));
    ck_assert(streq(p->tags[1].key, "region") && streq(p->tags[1].value, "eu"));
    ck_assert_int_eq(p->time_ns, 1700000000000000001LL);
    ck_assert_uint_eq(p->nfields, 7);
    ck_assert(streq(p->fields[0].key, "f") && p->fields[0].type == BS_LP_FLOAT && p->fields[0].v.f == 1.5);
    ck_assert(p->fields[1].type == BS_LP_INT && p->fields[1].v.i == -3);
    ck_assert(p->fields[2].type == BS_LP_UINT && p->fields[2].v.u == 7);
    ck_assert(p->fields[3].type == BS_LP_STRING && streq(p->fields[3].v.s, "hi there"));
    ck_assert(p->fields[4].type == BS_LP_BOOL && p->fields[4].v.b == 1);
    ck_assert(p->fields[5].type == BS_LP_BOOL && p->fields[5].v.b == 0);
    ck_assert(p->fields[6].type == BS_LP_FLOAT && p->fields[6].v.f == 2.0);
    ck_assert_str_eq(bs_lp_type_name(BS_LP_UINT), "unsigned");
    /* float forms Go's ParseFloat takes; underflow is 0, not an error */
    r = parse("m a=-.5,b=5.,c=1E3,d=1e-400,e=9223372036854775808,f=-0 1", BS_LP_NS, 0);
    ck_assert_uint_eq(r.nerrors, 0);
    ck_assert(r.points[0].fields[0].v.f == -0.5 && r.points[0].fields[1].v.f == 5.0);
    ck_assert(r.points[0].fields[2].v.f == 1000.0 && r.points[0].fields[3].v.f == 0.0);
    ck_assert(r.points[0].fields[4].v.f == 9223372036854775808.0);
    /* integer limits */
    r = parse("m a=9223372036854775807i,b=-9223372036854775808i,c=18446744073709551615u 1", BS_LP_NS, 0);
    ck_assert_uint_eq(r.nerrors, 0);
    ck_assert(r.points[0].fields[0].v.i == INT64_MAX && r.points[0].fields[1].v.i == INT64_MIN);
    ck_assert(r.points[0].fields[2].v.u == UINT64_MAX);
    /* booleans */
    r = parse("m a=true,b=True,c=TRUE,d=f,e=false,f=False,g=T,h=F 1", BS_LP_NS, 0);
    ck_assert_uint_eq(r.nerrors, 0);
    int want[] = {1, 1, 1, 0, 0, 0, 1, 0};
    for (int i = 0; i < 8; i++) ck_assert_int_eq(r.points[0].fields[i].v.b, want[i]);
}
END_TEST

START_TEST(test_escapes_and_sorting) {
    bs_lp_result r = parse("c\\ pu\\,x,z=1,t\\,k=v\\ a\\=b,a=2 f\\,k=1,s=\"q\\\"uo\\\\te\\n\" 5", BS_LP_NS, 0);
    ck_assert_uint_eq(r.nerrors, 0);
    bs_lp_point *p = &r.points[0];
    ck_assert(streq(p->name, "c pu,x"));
    ck_assert_uint_eq(p->ntags, 3);
    /* sorted by the raw (escaped) key: "a" < "t\,k" < "z" */
    ck_assert(streq(p->tags[0].key, "a") && streq(p->tags[0].value, "2"));
    ck_assert(streq(p->tags[1].key, "t,k") && streq(p->tags[1].value, "v a=b"));
    ck_assert(streq(p->tags[2].key, "z"));
    ck_assert(streq(p->series_key, "c\\ pu\\,x,a=2,t\\,k=v\\ a\\=b,z=1"));
    ck_assert(streq(p->fields[0].key, "f,k"));
    /* only \" and \\ are escapes in a string; \n stays two characters */
    ck_assert(streq(p->fields[1].v.s, "q\"uo\\te\\n"));
    /* a string may hold spaces, commas, '=' and newlines */
    r = parse("m s=\"a, b=c\nnext line\" 1\nm v=2 2", BS_LP_NS, 0);
    ck_assert_uint_eq(r.nerrors, 0);
    ck_assert_uint_eq(r.npoints, 2);
    ck_assert(streq(r.points[0].fields[0].v.s, "a, b=c\nnext line"));
    ck_assert_uint_eq(r.points[1].line_no, 3);
    /* duplicate field: the last value wins */
    r = parse("m v=1,w=2,v=3 1", BS_LP_NS, 0);
    ck_assert_uint_eq(r.points[0].nfields, 2);
    ck_assert(r.points[0].fields[0].v.f == 3.0);
}
END_TEST

START_TEST(test_time_and_precision) {
    ck_assert_int_eq(bs_lp_precision_v1("s"), BS_LP_S);
    ck_assert_int_eq(bs_lp_precision_v1("h"), BS_LP_H);
    /* InfluxDB 1.6 reads anything it does not know as nanoseconds */
    ck_assert_int_eq(bs_lp_precision_v1("us"), BS_LP_NS);
    ck_assert_int_eq(bs_lp_precision_v1("ns"), BS_LP_NS);
    ck_assert_int_eq(bs_lp_precision_v1(""), BS_LP_NS);
    bs_lp_precision p;
    ck_assert_int_eq(bs_lp_precision_v2("us", &p), 0);
    ck_assert_int_eq(p, BS_LP_US);
    ck_assert_int_eq(bs_lp_precision_v2("m", &p), BS_EINVAL);
    bs_lp_result r = parse("m v=1 1700000000\nm v=1 -5\nm v=1\n", BS_LP_S, 1700000123456789012LL);
    ck_assert_uint_eq(r.nerrors, 0);
    ck_assert_int_eq(r.points[0].time_ns, 1700000000000000000LL);
    ck_assert_int_eq(r.points[1].time_ns, -5000000000LL);
    /* no timestamp: now, truncated to the precision */
    ck_assert_int_eq(r.points[2].time_ns, 1700000123000000000LL);
    r = parse("m v=1", BS_LP_H, 7200000000001LL);
    ck_assert_int_eq(r.points[0].time_ns, 7200000000000LL);
    r = parse("m v=1 3 \nm v=1 2", BS_LP_MS, 0); /* trailing spaces are fine */
    ck_assert_uint_eq(r.nerrors, 0);
    ck_assert_int_eq(r.points[0].time_ns, 3000000);
    r = parse("m v=1 9223372036854775806", BS_LP_NS, 0);
    ck_assert_uint_eq(r.nerrors, 0);
}
END_TEST

START_TEST(test_comments_blank_lines_numbers) {
    bs_lp_result r = parse("# header\n\n   \n\t# indented comment\n  m v=1 1\nbad\n\nm v=2 2\nm v=\n", BS_LP_NS, 0);
    ck_assert_uint_eq(r.npoints, 2);
    ck_assert_uint_eq(r.points[0].line_no, 5);
    ck_assert_uint_eq(r.points[1].line_no, 8);
    ck_assert_uint_eq(r.nerrors, 2);
    ck_assert_uint_eq(r.errors[0].line_no, 6);
    ck_assert_uint_eq(r.errors[1].line_no, 9);
    char *t = bs_lp_errors_text(&r, &A);
    ck_assert_str_eq(t, "unable to parse 'bad': missing fields\nunable to parse 'm v=': missing field value");
    r = parse("", BS_LP_NS, 0);
    ck_assert_uint_eq(r.npoints + r.nerrors, 0);
}
END_TEST

/* Decimal floats (the parser converts the short ones without strtod) come
 * out bit for bit as strtod reads them, also at 15/16 digits, where the
 * exact path ends, and for -0. */
START_TEST(test_floats_as_strtod) {
    srand(7);
    char line[128], num[64];
    for (int it = 0; it < 20000; it++) {
        int nd = 1 + rand() % 18, dp = rand() % (nd + 2) - 1, k = 0;
        if (rand() % 2) num[k++] = '-';
        for (int d = 0; d < nd; d++) {
            if (d == dp) num[k++] = '.';
            num[k++] = (char)('0' + rand() % 10);
        }
        if (dp == nd) num[k++] = '.';
        num[k] = 0;
        snprintf(line, sizeof line, "m v=%s 1", num);
        bs_lp_result r = parse(line, BS_LP_NS, 0);
        ck_assert_msg(r.npoints == 1, "%s", line);
        double want = strtod(num, NULL), got = r.points[0].fields[0].v.f;
        ck_assert_msg(!memcmp(&want, &got, sizeof want), "%s: %.17g, strtod %.17g", num, got, want);
    }
}
END_TEST

/* line -> InfluxDB 1.6.7's message (precision=s) */
static const char *const bad[][2] = {
    {"cpu", "missing fields"},
    {"cpu ", "invalid field format"},
    {",cpu v=1", "missing measurement"},
    {"cpu, v=1", "missing tag key"},
    {"cpu,t v=1", "missing tag value"},
    {"cpu,t= v=1", "missing tag value"},
    {"cpu,t=a=b v=1", "invalid tag format"},
    {"cpu,t=a", "missing fields"},
    {"cpu,b=1,a=2,b=3 v=1", "duplicate tags"},
    {"cpu v", "invalid field format"},
    {"cpu v=", "missing field value"},
    {"cpu =1", "missing field key"},
    {"cpu v=1,=2", "missing field key"},
    {"cpu v=1,", "invalid field format"},
    {"cpu v=\"abc", "unbalanced quotes"},
    {"cpu v=1.2.3", "invalid number"},
    {"cpu v=1i2", "invalid number"},
    {"cpu v=1.5i", "invalid number"},
    {"cpu v=-", "invalid number"},
    {"cpu v=tru", "invalid boolean"},
    {"cpu v=x", "invalid boolean"},
    {"cpu v=nan", "invalid number"},
    {"cpu v=1e400", "invalid float"},
    {"cpu v=1 12a", "bad timestamp"},
    {"cpu v=1 1 2", "point is invalid"},
    {"cpu v=1 -", "strconv.ParseInt: parsing \"-\": invalid syntax"},
    {"cpu v=1 9223372036854775807", "time outside range -9223372036854775806 - 9223372036854775806"},
    {"cpu v=1 -9223372036854775808", "time outside range -9223372036854775806 - 9223372036854775806"},
    {"cpu v=1 92233720368547758070", "strconv.ParseInt: parsing \"92233720368547758070\": value out of range"},
    {"cpu v=9223372036854775808i",
     "unable to parse integer 9223372036854775808: strconv.ParseInt: parsing \"9223372036854775808\": value out of range"},
    {"cpu v=18446744073709551616u",
     "unable to parse unsigned 18446744073709551616: strconv.ParseUint: parsing \"18446744073709551616\": value out of range"},
    {"cpu v=-1u", "invalid number"},
    {"cpu v=1e5i", "invalid number"},
    {"cpu v=.", "invalid number"},
    {"cpu v=1\r", "invalid number"},
};

START_TEST(test_bad_lines) {
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        bs_lp_result r;
        ck_assert_int_eq(bs_lp_parse(bad[i][0], strlen(bad[i][0]), BS_LP_S, 0, &A, &r), 0);
        ck_assert_msg(r.nerrors == 1 && r.npoints == 0, "%s: %zu errors", bad[i][0], r.nerrors);
        ck_assert_msg(!strcmp(r.errors[0].msg, bad[i][1]), "%s: got '%s' want '%s'", bad[i][0],
                      r.errors[0].msg, bad[i][1]);
        ck_assert_uint_eq(r.errors[0].line_no, 1);
    }
}
END_TEST

START_TEST(test_long_key) {
    size_t n = 70000;
    char *b = malloc(n + 16);
    memset(b, 'm', n);
    memcpy(b + n, " v=1 1", 7);
    bs_lp_result r;
    ck_assert_int_eq(bs_lp_parse(b, strlen(b), BS_LP_NS, 0, &A, &r), 0);
    ck_assert_uint_eq(r.nerrors, 1);
    ck_assert_str_eq(r.errors[0].msg, "max key length exceeded: 70000 > 65535");
    free(b);
}
END_TEST

int main(void) {
    Suite *s = suite_create("lineproto");
    TCase *tc = tcase_create("parse");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_every_type);
    tcase_add_test(tc, test_escapes_and_sorting);
    tcase_add_test(tc, test_time_and_precision);
    tcase_add_test(tc, test_comments_blank_lines_numbers);
    tcase_add_test(tc, test_floats_as_strtod);
    tcase_add_test(tc, test_bad_lines);
    tcase_add_test(tc, test_long_key);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
