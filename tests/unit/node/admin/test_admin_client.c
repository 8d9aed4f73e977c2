/*
 * test_admin_client.c - basalt-admin's JSON reader (client/admin_json.c)
 * and size formatting (client/admin_fmt.c).  They live in client/ (library
 * bs_admin_client) but are tested here, beside the server whose output
 * they read.
 *
 * Valid documents parse to the right tree; each malformed document in a
 * table is refused with BS_ESYNTAX and an offset; nesting is bounded;
 * every string the server's writer produces (all byte values, invalid
 * UTF-8 included) parses back to itself with U+FFFD replacements.
 */
#include <check.h>

#include "client/admin_fmt.h"
#include "client/admin_json.h"
#include "common/error.h"
#include "node/admin/admin.h"

static bs_arena A;
static void setup(void) {
    bs_arena_init(&A, 0);
}
static void teardown(void) {
    bs_arena_free(&A);
}

static const bs_json *ok(const char *s) {
    const bs_json *v = NULL;
    char err[128];
    int rc = bs_json_parse(s, strlen(s), &A, &v, err, sizeof err);
    if (rc) ck_abort_msg("parse of %s failed: %s", s, err);
    return v;
}

START_TEST(test_parse_values) {
    const bs_json *v = ok(" {\"a\": [1, -2.5e3, true, false, null, \"x\"], "
                          "\"b\": {}, \"a2\": []} ");
    ck_assert_int_eq(v->type, BS_JSON_OBJECT);
    ck_assert_uint_eq(v->n, 3);
    const bs_json *a = bs_json_get(v, "a");
    ck_assert_uint_eq(a->n, 6);
    int64_t i;
    ck_assert_int_eq(bs_json_int(a->items[0], &i), 0);
    ck_assert_int_eq(i, 1);
    double d;
    ck_assert_int_eq(bs_json_double(a->items[1], &d), 0);
    ck_assert(d == -2500.0);
    ck_assert_int_eq(bs_json_int(a->items[1], &i), BS_EINVAL);
    ck_assert(bs_json_true(a->items[2]));
    ck_assert(!bs_json_true(a->items[3]));
    ck_assert_int_eq(a->items[4]->type, BS_JSON_NULL);
    ck_assert_str_eq(bs_json_string(a->items[5], NULL), "x");
    ck_assert_uint_eq(bs_json_get(v, "b")->n, 0);
    ck_assert_ptr_null(bs_json_get(v, "zz"));
    ck_assert_ptr_null(bs_json_get(a, "a"));
    /* int64 extremes, as numbers and as strings (how tokens travel) */
    v = ok(
        "[-9223372036854775808, \"9223372036854775807\", 9223372036854775808]");
    ck_assert_int_eq(bs_json_int(v->items[0], &i), 0);
    ck_assert(i == INT64_MIN);
    ck_assert_int_eq(bs_json_int(v->items[1], &i), 0);
    ck_assert(i == INT64_MAX);
    ck_assert_int_eq(bs_json_int(v->items[2], &i), BS_ERANGE);
    /* escapes and surrogate pairs */
    v = ok("\"q\\\"b\\\\s\\/n\\nt\\tu\\u00e9\\ud83d\\ude00\"");
    ck_assert_str_eq(v->str, "q\"b\\s/n\nt\tu\xc3\xa9\xf0\x9f\x98\x80");
    /* duplicate key: the last wins */
    v = ok("{\"k\":1,\"k\":2}");
    ck_assert_int_eq(bs_json_int(bs_json_get(v, "k"), &i), 0);
    ck_assert_int_eq(i, 2);
}
END_TEST

START_TEST(test_parse_errors) {
    const char *bad[] = {
        "",
        " ",
        "{",
        "[1,]",
        "[1 2]",
        "{\"a\"}",
        "{\"a\":}",
        "{a:1}",
        "{\"a\":1,}",
        "01",
        "-",
        "1.",
        "1e",
        ".5",
        "+1",
        "tru",
        "nul",
        "\"abc",
        "\"a\\x\"",
        "\"\\u12\"",
        "\"\\ud800\"",
        "\"\\udc00x\"",
        "\"\\ud800\\u0041\"",
        "\"\\u0000\"",
        "\"tab\there\"",
        "\"\xff\"",
        "\"\xc0\xaf\"",
        "[1] x",
        "{}{}",
        "\"a\\",
        "[\"\\",
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        const bs_json *v = NULL;
        char err[128] = "";
        int rc = bs_json_parse(bad[k], strlen(bad[k]), &A, &v, err, sizeof err);
        if (rc != BS_ESYNTAX)
            ck_abort_msg("'%s' gave %d, want BS_ESYNTAX", bad[k], rc);
        ck_assert(strncmp(err, "offset ", 7) == 0);
    }
    /* depth: 64 levels parse, 65 do not */
    char deep[200];
    memset(deep, '[', 64);
    memset(deep + 64, ']', 64);
    ck_assert_int_eq(
        bs_json_parse(deep, 128, &A, &(const bs_json *){NULL}, NULL, 0), 0);
    memset(deep, '[', 65);
    memset(deep + 65, ']', 65);
    ck_assert_int_eq(
        bs_json_parse(deep, 130, &A, &(const bs_json *){NULL}, NULL, 0),
        BS_ERANGE);
    /* NUL inside the input is just a bad byte */
    ck_assert_int_eq(
        bs_json_parse("[1,\0]", 5, &A, &(const bs_json *){NULL}, NULL, 0),
        BS_ESYNTAX);
}
END_TEST

START_TEST(test_writer_round_trip) {
    /* every byte value 1..255 through the server's escaper and back */
    char in[255];
    for (int b = 1; b < 256; b++)
        in[b - 1] = (char)b;
    bs_buf out = BS_BUF_INIT;
    ck_assert_int_eq(bs_admin_json_quote(&out, in, sizeof in), 0);
    const bs_json *v = NULL;
    ck_assert_int_eq(bs_json_parse((char *)out.data, out.len, &A, &v, NULL, 0),
                     0);
    ck_assert_int_eq(v->type, BS_JSON_STRING);
    /* 1..127 verbatim, then 128 invalid bytes each replaced by U+FFFD */
    ck_assert_uint_eq(v->len, 127 + 128 * 3);
    ck_assert(memcmp(v->str, in, 127) == 0);
    for (size_t k = 127; k < v->len; k += 3)
        ck_assert(memcmp(v->str + k, "\xef\xbf\xbd", 3) == 0);
    bs_buf_free(&out);
}
END_TEST

START_TEST(test_sizes) {
    char s[32];
    struct {
        int64_t in;
        const char *want;
    } t[] = {{-1, "?"},
             {0, "0 bytes"},
             {1023, "1023 bytes"},
             {1024, "1 KiB"},
             {1536, "1.5 KiB"},
             {1100, "1.07 KiB"},
             {1048576, "1 MiB"},
             {(int64_t)5 << 30, "5 GiB"},
             {(int64_t)3 << 40, "3 TiB"},
             {(int64_t)3 << 50, "3072 TiB"}};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        bs_admin_fmt_size(t[i].in, s, sizeof s);
        ck_assert_str_eq(s, t[i].want);
    }
}
END_TEST

START_TEST(test_renderers_refuse_foreign_documents) {
    const bs_json *v = ok("{\"something\":\"else\"}");
    bs_buf b = BS_BUF_INIT;
    ck_assert_int_eq(bs_admin_fmt_status(v, &b), BS_EPROTO);
    ck_assert_int_eq(bs_admin_fmt_ring(v, &b), BS_EPROTO);
    ck_assert_int_eq(bs_admin_fmt_info(v, false, false, &b), BS_EPROTO);
    ck_assert_int_eq(bs_admin_fmt_gossipinfo(v, &b), BS_EPROTO);
    ck_assert_int_eq(bs_admin_fmt_describecluster(v, &b), BS_EPROTO);
    ck_assert_int_eq(bs_admin_fmt_version(v, &b), BS_EPROTO);
    ck_assert_uint_eq(b.len, 0);
    /* fields of the wrong type render as '?' instead of crashing */
    v = ok("{\"nodes\":[{\"dc\":1,\"address\":[],\"load_bytes\":\"x\",\"owns\":"
           "{}}, 7]}");
    ck_assert_int_eq(bs_admin_fmt_status(v, &b), 0);
    bs_buf_append_u8(&b, 0);
    ck_assert_ptr_nonnull(
        strstr((char *)b.data, "??  ?        ?     0       ?"));
    bs_buf_free(&b);
}
END_TEST

int main(void) {
    Suite *s = suite_create("admin_client");
    TCase *tc = tcase_create("json");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_parse_values);
    tcase_add_test(tc, test_parse_errors);
    tcase_add_test(tc, test_writer_round_trip);
    tcase_add_test(tc, test_sizes);
    tcase_add_test(tc, test_renderers_refuse_foreign_documents);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
