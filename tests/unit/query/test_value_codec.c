/*
 * test_value_codec.c - validation, comparison, builders and iterators of
 * serialized values (query/value_codec.c, value_num.c).
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/uuid.h"
#include "query/value.h"

static bs_type *T(const char *s) {
    bs_type *t = NULL;
    char err[128];
    ck_assert_msg(bs_value_type_parse(s, strlen(s), &t, err, sizeof err) == 0,
                  "%s: %s", s, err);
    return t;
}

/* Hex string ("00ff") to bytes in a static-size buffer. */
static size_t H(const char *hex, uint8_t *out) {
    size_t n = 0;
    for (const char *c = hex; c[0] && c[1]; c += 2) {
        if (*c == ' ') {
            c--;
            continue;
        }
        unsigned v;
        sscanf(c, "%2x", &v);
        out[n++] = (uint8_t)v;
    }
    return n;
}

static int valid(const char *type, const char *hex) {
    bs_type *t = T(type);
    uint8_t b[256];
    size_t n = H(hex, b);
    char err[128] = "";
    int rc = bs_value_validate(t, b, n, err, sizeof err);
    if (rc) ck_assert_msg(err[0] != 0, "no message for %s %s", type, hex);
    bs_type_free(t);
    return rc;
}

START_TEST(validate_fixed_widths_and_strings) {
    ck_assert_int_eq(valid("int", "00000001"), 0);
    ck_assert_int_eq(valid("int", "000001"), BS_ECORRUPT);
    ck_assert_int_eq(valid("int", "0000000100"), BS_ECORRUPT);
    ck_assert_int_eq(valid("int", ""), BS_ECORRUPT);
    ck_assert_int_eq(valid("tinyint", "ff"), 0);
    ck_assert_int_eq(valid("tinyint", "ffff"), BS_ECORRUPT);
    ck_assert_int_eq(valid("smallint", "ff"), BS_ECORRUPT);
    ck_assert_int_eq(valid("bigint", "00000000000000"), BS_ECORRUPT);
    ck_assert_int_eq(valid("boolean", "01"), 0);
    ck_assert_int_eq(valid("boolean", ""), BS_ECORRUPT);
    ck_assert_int_eq(valid("float", "3fc00000"), 0);
    ck_assert_int_eq(valid("double", "3fc00000"), BS_ECORRUPT);
    ck_assert_int_eq(valid("timestamp", "0000000000000000"), 0);
    ck_assert_int_eq(valid("date", "ffffffff"), 0); /* any uint32 */
    ck_assert_int_eq(valid("date", "00000000"), 0);
    ck_assert_int_eq(valid("time", "0000000000000000"), 0);
    ck_assert_int_eq(valid("time", "00004e94914effff"), 0); /* 86399999999999 */
    ck_assert_int_eq(valid("time", "00004e94914f0000"),
                     BS_ECORRUPT); /* 1 day */
    ck_assert_int_eq(valid("time", "ffffffffffffffff"), BS_ECORRUPT); /* -1 */
    ck_assert_int_eq(valid("uuid", "00112233445566778899aabbccddeeff"), 0);
    ck_assert_int_eq(valid("uuid", "00112233445566778899aabbccddee"),
                     BS_ECORRUPT);
    ck_assert_int_eq(valid("timeuuid", "00112233445511778899aabbccddeeff"), 0);
    ck_assert_int_eq(valid("timeuuid", "00112233445541778899aabbccddeeff"),
                     BS_ECORRUPT); /* version 4 */
    ck_assert_int_eq(valid("inet", "7f000001"), 0);
    ck_assert_int_eq(valid("inet", "00000000000000000000000000000001"), 0);
    ck_assert_int_eq(valid("inet", "7f0000"), BS_ECORRUPT);
    ck_assert_int_eq(valid("inet", "7f00000100"), BS_ECORRUPT);
    ck_assert_int_eq(valid("varint", "00"), 0);
    ck_assert_int_eq(valid("varint", ""), BS_ECORRUPT);
    ck_assert_int_eq(valid("decimal", "0000000001"), 0);
    ck_assert_int_eq(valid("decimal", "00000001"), BS_ECORRUPT);
    ck_assert_int_eq(valid("text", ""), 0);
    ck_assert_int_eq(valid("text", "68c3a9"), 0);             /* hé */
    ck_assert_int_eq(valid("text", "f09f9880"), 0);           /* U+1F600 */
    ck_assert_int_eq(valid("text", "c3"), BS_ECORRUPT);       /* truncated */
    ck_assert_int_eq(valid("text", "c0af"), BS_ECORRUPT);     /* overlong / */
    ck_assert_int_eq(valid("text", "eda080"), BS_ECORRUPT);   /* surrogate */
    ck_assert_int_eq(valid("text", "f4908080"), BS_ECORRUPT); /* > U+10FFFF */
    ck_assert_int_eq(valid("text", "ff"), BS_ECORRUPT);
    ck_assert_int_eq(valid("ascii", "41427f"), 0);
    ck_assert_int_eq(valid("ascii", "4180"), BS_ECORRUPT);
    ck_assert_int_eq(valid("blob", ""), 0);
    ck_assert_int_eq(valid("blob", "ff00"), 0);
}
END_TEST

START_TEST(validate_duration) {
    ck_assert_int_eq(valid("duration", "000000"), 0);
    ck_assert_int_eq(valid("duration", "020406"), 0);         /* 1mo 2d 3ns */
    ck_assert_int_eq(valid("duration", "010305"), 0);         /* all negative */
    ck_assert_int_eq(valid("duration", "0203"), BS_ECORRUPT); /* 2 vints */
    ck_assert_int_eq(valid("duration", "02040600"), BS_ECORRUPT); /* trailing */
    ck_assert_int_eq(valid("duration", "020306"), BS_ECORRUPT); /* mixed sign */
    ck_assert_int_eq(valid("duration", "80"), BS_ECORRUPT);     /* truncated */
    /* months = 2^32 does not fit int32 */
    ck_assert_int_eq(valid("duration", "f80200000000000000"), BS_ECORRUPT);
    ck_assert_int_eq(valid("duration", "f800ffffffff0000"),
                     0); /* -2^31 months */
}
END_TEST

START_TEST(validate_collections_and_tuples) {
    ck_assert_int_eq(valid("list<int>", "00000000"), 0);
    ck_assert_int_eq(valid("list<int>", "00000001 00000004 00000007"), 0);
    ck_assert_int_eq(valid("list<int>", "00000001 00000004 000007"),
                     BS_ECORRUPT);
    ck_assert_int_eq(valid("list<int>", "00000001 00000003 000007"),
                     BS_ECORRUPT);
    ck_assert_int_eq(valid("list<int>", "00000002 00000004 00000007"),
                     BS_ECORRUPT);
    ck_assert_int_eq(valid("list<int>", "00000001 00000004 00000007 00"),
                     BS_ECORRUPT); /* trailing */
    ck_assert_int_eq(valid("list<int>", "ffffffff"), BS_ECORRUPT);
    ck_assert_int_eq(valid("list<int>", "00000001 ffffffff"),
                     BS_ECORRUPT); /* null */
    ck_assert_int_eq(valid("list<int>", "000000"), BS_ECORRUPT);
    ck_assert_int_eq(valid("set<text>", "00000001 00000001 ff"), BS_ECORRUPT);
    ck_assert_int_eq(
        valid("map<int, text>", "00000001 00000004 00000001 00000001 61"), 0);
    ck_assert_int_eq(valid("map<int, text>", "00000001 00000004 00000001"),
                     BS_ECORRUPT);
    ck_assert_int_eq(valid("frozen<list<list<int>>>",
                           "00000001 0000000c 00000001 00000004 00000002"),
                     0);
    ck_assert_int_eq(valid("frozen<list<list<int>>>",
                           "00000001 0000000c 00000001 00000003 00000002"),
                     BS_ECORRUPT);
    ck_assert_int_eq(valid("tuple<int, text>", "00000004 00000001 ffffffff"),
                     0);
    ck_assert_int_eq(valid("tuple<int, text>", "00000004 00000001"),
                     0); /* short */
    ck_assert_int_eq(valid("tuple<int, text>", ""), 0);
    ck_assert_int_eq(
        valid("tuple<int, text>", "00000004 00000001 ffffffff ffffffff"),
        BS_ECORRUPT); /* 3 components */
    ck_assert_int_eq(valid("tuple<int, text>", "00000004 000001"), BS_ECORRUPT);
    ck_assert_int_eq(valid("tuple<int, text>", "fffffffe"), BS_ECORRUPT);
    /* unresolved UDT reference cannot be validated */
    ck_assert_int_eq(valid("frozen<addr>", ""), BS_EINVAL);
}
END_TEST

static int cmp_hex(const char *type, const char *a, const char *b) {
    bs_type *t = T(type);
    uint8_t x[256], y[256];
    size_t xn = H(a, x), yn = H(b, y);
    int c = 99;
    ck_assert_int_eq(bs_value_compare(t, x, xn, y, yn, &c), 0);
    int c2 = 99;
    ck_assert_int_eq(bs_value_compare(t, y, yn, x, xn, &c2), 0);
    ck_assert_int_eq(c, -c2); /* antisymmetric */
    bs_type_free(t);
    return c;
}

START_TEST(compare_numbers) {
    ck_assert_int_eq(cmp_hex("int", "ffffffff", "00000001"), -1);
    ck_assert_int_eq(cmp_hex("int", "80000000", "7fffffff"), -1);
    ck_assert_int_eq(cmp_hex("tinyint", "80", "7f"), -1);
    ck_assert_int_eq(cmp_hex("smallint", "0100", "00ff"), 1);
    ck_assert_int_eq(cmp_hex("bigint", "8000000000000000", "0000000000000000"),
                     -1);
    ck_assert_int_eq(
        cmp_hex("timestamp", "ffffffffffffffff", "0000000000000000"), -1);
    ck_assert_int_eq(cmp_hex("date", "80000000", "7fffffff"), 1); /* unsigned */
    ck_assert_int_eq(cmp_hex("boolean", "00", "01"), -1);
    ck_assert_int_eq(cmp_hex("boolean", "01", "02"), 0); /* both true */
    /* floats: -0.0 < 0.0, NaN greatest and equal to itself, -inf least */
    ck_assert_int_eq(cmp_hex("float", "80000000", "00000000"), -1);
    ck_assert_int_eq(cmp_hex("float", "7fc00000", "7f800000"), 1);
    ck_assert_int_eq(cmp_hex("float", "7fc00000", "7fc00001"), 0);
    ck_assert_int_eq(cmp_hex("float", "ff800000", "bf800000"), -1);
    ck_assert_int_eq(cmp_hex("double", "8000000000000000", "0000000000000000"),
                     -1);
    ck_assert_int_eq(cmp_hex("double", "7ff8000000000000", "7ff0000000000000"),
                     1);
    ck_assert_int_eq(cmp_hex("double", "bff0000000000000", "3ff0000000000000"),
                     -1);
    /* varints: same value, different lengths; sign; magnitude */
    ck_assert_int_eq(cmp_hex("varint", "0001", "01"), 0);
    ck_assert_int_eq(cmp_hex("varint", "ffff", "ff"), 0);
    ck_assert_int_eq(cmp_hex("varint", "ff", "00"), -1);
    ck_assert_int_eq(cmp_hex("varint", "0100", "7f"), 1);
    ck_assert_int_eq(cmp_hex("varint", "ff00", "80"), -1); /* -256 < -128 */
    ck_assert_int_eq(cmp_hex("varint", "00ff", "0100"), -1);
    ck_assert_int_eq(cmp_hex("varint", "00000000000000000001", "01"), 0);
    /* decimals: 1.0 == 1.00 == 1, 0.999 < 1.0, -1.5 < -1.25, 10 > 9.99 */
    ck_assert_int_eq(cmp_hex("decimal", "00000001 0a", "00000002 64"), 0);
    ck_assert_int_eq(cmp_hex("decimal", "00000000 01", "00000001 0a"), 0);
    ck_assert_int_eq(cmp_hex("decimal", "00000003 03e7", "00000001 0a"), -1);
    ck_assert_int_eq(cmp_hex("decimal", "00000001 f1", "00000002 83"), -1);
    ck_assert_int_eq(cmp_hex("decimal", "ffffffff 01", "00000002 03e7"), 1);
    ck_assert_int_eq(cmp_hex("decimal", "00000005 00", "fffffffb 00"),
                     0); /* zeros */
    ck_assert_int_eq(cmp_hex("decimal", "00000000 ff", "00000005 00"), -1);
}
END_TEST

START_TEST(compare_bytes_uuids_and_empties) {
    ck_assert_int_eq(cmp_hex("text", "61", "6162"), -1);
    ck_assert_int_eq(cmp_hex("text", "c3a9", "7a"), 1); /* unsigned bytes */
    ck_assert_int_eq(cmp_hex("blob", "", "00"), -1);
    ck_assert_int_eq(cmp_hex("blob", "ff", "0000"), 1);
    ck_assert_int_eq(
        cmp_hex("inet", "7f000001", "00000000000000000000000000000001"), 1);
    ck_assert_int_eq(cmp_hex("int", "", "80000000"), -1); /* empty first */

    /* uuid: version first (v1 < v4 even with larger bytes) */
    ck_assert_int_eq(cmp_hex("uuid", "ffffffffffff1fffbfffffffffffffff",
                             "00000000000040008000000000000000"),
                     -1);
    /* v4: unsigned bytewise */
    ck_assert_int_eq(cmp_hex("uuid", "80000000000040008000000000000000",
                             "7fffffffffff4fff8000000000000000"),
                     1);
    /* v1 in uuid column: by time, not by bytes */
    bs_uuid early, late;
    bs_uuid_v1_at(1000000, 0x8000000000000001ULL, &early);
    bs_uuid_v1_at(2000000000000LL, 0x8000000000000000ULL, &late);
    bs_type *ut = T("uuid"), *tt = T("timeuuid");
    int c;
    ck_assert_int_eq(bs_value_compare(ut, early.b, 16, late.b, 16, &c), 0);
    ck_assert_int_eq(c, -1);
    ck_assert_int_eq(bs_value_compare(tt, early.b, 16, late.b, 16, &c), 0);
    ck_assert_int_eq(c, -1);
    ck_assert_int_eq(bs_value_compare(tt, late.b, 16, early.b, 16, &c), 0);
    ck_assert_int_eq(c, 1);
    /* timeuuid ordering across many times, even when the low time bytes
     * would sort the other way */
    int64_t times[] = {0,
                       1,
                       999999,
                       1000000,
                       4294967296LL,
                       1600000000000000LL,
                       1700000000000000LL};
    for (size_t i = 0; i + 1 < sizeof times / sizeof times[0]; i++) {
        bs_uuid a, b;
        bs_uuid_v1_at(times[i], 0x9000000000000000ULL, &a);
        bs_uuid_v1_at(times[i + 1], 0x8000000000000000ULL, &b);
        ck_assert_int_eq(bs_value_compare(tt, a.b, 16, b.b, 16, &c), 0);
        ck_assert_int_eq(c, -1);
    }
    /* same time: timeuuid compares the low bytes signed, uuid unsigned */
    bs_uuid a, b;
    bs_uuid_v1_at(5000, 0, &a);
    bs_uuid_v1_at(5000, 0, &b);
    a.b[9] = 0x80; /* -128 as a signed byte */
    b.b[9] = 0x01;
    ck_assert_int_eq(bs_value_compare(tt, a.b, 16, b.b, 16, &c), 0);
    ck_assert_int_eq(c, -1);
    ck_assert_int_eq(bs_value_compare(ut, a.b, 16, b.b, 16, &c), 0);
    ck_assert_int_eq(c, 1);
    /* nulls first */
    ck_assert_int_eq(bs_value_compare(ut, NULL, BS_VALUE_NULL, a.b, 16, &c), 0);
    ck_assert_int_eq(c, -1);
    ck_assert_int_eq(
        bs_value_compare(ut, NULL, BS_VALUE_NULL, NULL, BS_VALUE_NULL, &c), 0);
    ck_assert_int_eq(c, 0);
    /* corrupt input is an error, not a crash */
    ck_assert_int_eq(bs_value_compare(ut, a.b, 15, b.b, 16, &c), BS_ECORRUPT);
    bs_type_free(ut);
    bs_type_free(tt);
}
END_TEST

START_TEST(compare_collections_and_tuples) {
    /* [1, 2] < [1, 3] < [2] ; [1] < [1, 0] */
    const char *l12 = "00000002 00000004 00000001 00000004 00000002";
    const char *l13 = "00000002 00000004 00000001 00000004 00000003";
    const char *l2 = "00000001 00000004 00000002";
    const char *l1 = "00000001 00000004 00000001";
    const char *l10 = "00000002 00000004 00000001 00000004 00000000";
    ck_assert_int_eq(cmp_hex("frozen<list<int>>", l12, l13), -1);
    ck_assert_int_eq(cmp_hex("frozen<list<int>>", l13, l2), -1);
    ck_assert_int_eq(cmp_hex("frozen<list<int>>", l1, l10), -1);
    ck_assert_int_eq(cmp_hex("frozen<list<int>>", "00000000", l1), -1);
    /* elements compare by their type: -1 < 1 */
    ck_assert_int_eq(
        cmp_hex("frozen<set<int>>", "00000001 00000004 ffffffff", l1), -1);
    /* maps: key then value */
    ck_assert_int_eq(cmp_hex("frozen<map<int, int>>",
                             "00000001 00000004 00000001 00000004 00000005",
                             "00000001 00000004 00000001 00000004 00000006"),
                     -1);
    /* tuples: null component first, missing trailing component first */
    ck_assert_int_eq(
        cmp_hex("tuple<int, int>", "ffffffff", "00000004 80000000"), -1);
    ck_assert_int_eq(cmp_hex("tuple<int, int>", "00000004 00000001",
                             "00000004 00000001 00000004 80000000"),
                     -1);
    ck_assert_int_eq(cmp_hex("tuple<int, text>",
                             "00000004 00000001 00000001 62",
                             "00000004 00000001 00000001 61"),
                     1);
}
END_TEST

START_TEST(builders_sort_and_dedup) {
    bs_type *st = T("set<int>");
    uint8_t v[4][4] = {
        {0, 0, 0, 3}, {0xff, 0xff, 0xff, 0xff}, {0, 0, 0, 3}, {0, 0, 0, 1}};
    bs_value_elem e[4];
    for (int i = 0; i < 4; i++)
        e[i] = (bs_value_elem){v[i], 4};
    bs_buf b = BS_BUF_INIT;
    ck_assert_int_eq(bs_value_build_set(st, e, 4, &b), 0);
    uint8_t want[] = {0, 0, 0, 3, 0, 0, 0, 4, 0xff, 0xff, 0xff, 0xff, 0, 0,
                      0, 4, 0, 0, 0, 1, 0, 0, 0,    4,    0,    0,    0, 3};
    ck_assert_uint_eq(b.len, sizeof want);
    ck_assert_mem_eq(b.data, want, sizeof want);
    /* an invalid element is refused and the buffer is left as it was */
    bs_value_elem badel = {v[0], 3};
    ck_assert_int_eq(bs_value_build_set(st, &badel, 1, &b), BS_ECORRUPT);
    ck_assert_uint_eq(b.len, sizeof want);
    bs_buf_free(&b);
    bs_type_free(st);

    /* map: sorted keys, last duplicate wins */
    bs_type *mt = T("map<text, int>");
    bs_value_elem k[3] = {{(const uint8_t *)"b", 1},
                          {(const uint8_t *)"a", 1},
                          {(const uint8_t *)"b", 1}};
    bs_value_elem val[3] = {{v[0], 4}, {v[1], 4}, {v[3], 4}};
    ck_assert_int_eq(bs_value_build_map(mt, k, val, 3, &b), 0);
    bs_value_iter it;
    ck_assert_int_eq(bs_value_iter_init(&it, mt, b.data, b.len), 0);
    ck_assert_uint_eq(it.count, 2);
    bs_value_elem x;
    ck_assert_int_eq(bs_value_iter_next(&it, &x), 0);
    ck_assert_uint_eq(x.len, 1);
    ck_assert_int_eq(x.p[0], 'a');
    ck_assert_int_eq(bs_value_iter_next(&it, &x), 0);
    ck_assert_mem_eq(x.p, v[1], 4);
    ck_assert_int_eq(bs_value_iter_next(&it, &x), 0);
    ck_assert_int_eq(x.p[0], 'b');
    ck_assert_int_eq(bs_value_iter_next(&it, &x), 0);
    ck_assert_mem_eq(x.p, v[3], 4); /* the later 'b' */
    ck_assert_int_eq(bs_value_iter_next(&it, &x), BS_ENOTFOUND);
    bs_buf_free(&b);
    bs_type_free(mt);

    /* list keeps order and duplicates; refuses null */
    ck_assert_int_eq(bs_value_build_list(e, 4, &b), 0);
    ck_assert_uint_eq(bs_get_u32(b.data), 4);
    ck_assert_uint_eq(b.len, 4 + 4 * 8);
    bs_value_elem nul = {NULL, BS_VALUE_NULL};
    size_t before = b.len;
    ck_assert_int_eq(bs_value_build_list(&nul, 1, &b), BS_EINVAL);
    ck_assert_uint_eq(b.len, before);
    bs_buf_free(&b);

    /* tuple with a null, iterated back */
    bs_type *tt = T("tuple<int, text, int>");
    bs_value_elem te[2] = {{v[3], 4}, {NULL, BS_VALUE_NULL}};
    ck_assert_int_eq(bs_value_build_tuple(te, 2, &b), 0);
    ck_assert_int_eq(bs_value_validate(tt, b.data, b.len, NULL, 0), 0);
    ck_assert_int_eq(bs_value_iter_init(&it, tt, b.data, b.len), 0);
    ck_assert_int_eq(bs_value_iter_next(&it, &x), 0);
    ck_assert_uint_eq(x.len, 4);
    ck_assert_int_eq(bs_value_iter_next(&it, &x), 0);
    ck_assert_uint_eq(x.len, BS_VALUE_NULL);
    ck_assert_int_eq(bs_value_iter_next(&it, &x), BS_ENOTFOUND);
    bs_buf_free(&b);
    bs_type_free(tt);
}
END_TEST

START_TEST(iterator_rejects_truncation) {
    bs_type *lt = T("list<int>");
    uint8_t b[256];
    size_t n = H("00000002 00000004 00000001 00000004 0000", b);
    bs_value_iter it;
    bs_value_elem x;
    ck_assert_int_eq(bs_value_iter_init(&it, lt, b, n), 0);
    ck_assert_int_eq(bs_value_iter_next(&it, &x), 0);
    ck_assert_int_eq(bs_value_iter_next(&it, &x), BS_ECORRUPT);
    ck_assert_int_eq(bs_value_iter_init(&it, lt, b, 3), BS_ECORRUPT);
    bs_type *it_ = T("int");
    ck_assert_int_eq(bs_value_iter_init(&it, it_, b, 4), BS_EINVAL);
    bs_type_free(it_);
    bs_type_free(lt);
}
END_TEST

int main(void) {
    Suite *s = suite_create("query_value_codec");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, validate_fixed_widths_and_strings);
    tcase_add_test(tc, validate_duration);
    tcase_add_test(tc, validate_collections_and_tuples);
    tcase_add_test(tc, compare_numbers);
    tcase_add_test(tc, compare_bytes_uuids_and_empties);
    tcase_add_test(tc, compare_collections_and_tuples);
    tcase_add_test(tc, builders_sort_and_dedup);
    tcase_add_test(tc, iterator_rejects_truncation);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
