/*
 * test_key.c - storage/key.c: token byte order, record key round trips for
 * every kind, rejection of malformed keys (random bytes never crash),
 * prefix successors and range-tombstone coverage.
 */
#include "storetest.h"

START_TEST(token_order) {
    int64_t v[] = {INT64_MIN, INT64_MIN + 1, -1000, -1, 0, 1, 77, INT64_MAX - 1, INT64_MAX};
    for (size_t i = 0; i + 1 < sizeof v / sizeof v[0]; i++) {
        uint8_t a[8], b[8];
        bs_put_u64(a, bs__token_enc(v[i]));
        bs_put_u64(b, bs__token_enc(v[i + 1]));
        ck_assert_int_lt(memcmp(a, b, 8), 0);
        ck_assert_int_eq(bs__token_dec(bs__token_enc(v[i])), v[i]);
    }
}
END_TEST

START_TEST(round_trips) {
    bs_buf b = BS_BUF_INIT;
    bs__key k;
    bs_rowkey r = rk(-42, "part", "clus");
    ck_assert_int_eq(bs__key_slot(&b, &r, BS__S_COL, 513, BS__C_ELEM, "el", 2), 0);
    ck_assert_int_eq(bs__key_parse(b.data, b.len, &k), 0);
    ck_assert_int_eq(k.token, -42);
    ck_assert_int_eq(k.pk_len, 4);
    ck_assert_int_eq(memcmp(k.pk, "part", 4), 0);
    ck_assert_int_eq(k.kind, BS__K_ROW);
    ck_assert_int_eq(k.ck_len, 4);
    ck_assert_int_eq(memcmp(k.ck, "clus", 4), 0);
    ck_assert_int_eq(k.col, 513);
    ck_assert_int_eq(k.csub, BS__C_ELEM);
    ck_assert_int_eq(k.elem_len, 2);
    bs_buf_reset(&b);
    ck_assert_int_eq(bs__key_slot(&b, &r, BS__S_ROWDEL, 0, 0, NULL, 0), 0);
    ck_assert_int_eq(bs__key_parse(b.data, b.len, &k), 0);
    ck_assert_int_eq(k.slot, BS__S_ROWDEL);
    bs_rowkey st = rk(5, "p", NULL);
    bs_buf_reset(&b);
    ck_assert_int_eq(bs__key_slot(&b, &st, BS__S_COL, 9, BS__C_SIMPLE, NULL, 0), 0);
    ck_assert_int_eq(bs__key_parse(b.data, b.len, &k), 0);
    ck_assert_int_eq(k.kind, BS__K_STATIC);
    ck_assert_int_eq(k.col, 9);
    bs_buf_reset(&b);
    bs_bound s = bnd(BS_BOUND_EXCL, "aa"), e = bnd(BS_BOUND_NONE, NULL);
    ck_assert_int_eq(bs__key_rt(&b, 5, "p", 1, &s, &e), 0);
    ck_assert_int_eq(bs__key_parse(b.data, b.len, &k), 0);
    ck_assert_int_eq(k.kind, BS__K_RT);
    ck_assert_int_eq(k.rt_flags, BS__RT_END_NONE);
    ck_assert_int_eq(k.rt_start_len, 2);
    /* rows sort by clustering bytes whatever their lengths */
    bs_buf a2 = BS_BUF_INIT;
    bs_rowkey r1 = rk(1, "p", "b"), r2 = rk(1, "p", "ab");
    bs__key_slot(&b, &r1, BS__S_MARKER, 0, 0, NULL, 0);
    bs_buf_reset(&b);
    bs__key_slot(&b, &r1, BS__S_MARKER, 0, 0, NULL, 0);
    bs__key_slot(&a2, &r2, BS__S_COL, 0xFFFF, BS__C_ELEM, "zz", 2);
    ck_assert_int_gt(memcmp(b.data, a2.data, b.len < a2.len ? b.len : a2.len), 0);
    bs_buf_free(&a2);
    bs_buf_free(&b);
}
END_TEST

START_TEST(malformed_keys) {
    bs__key k;
    ck_assert_int_eq(bs__key_parse((const uint8_t *)"", 0, &k), BS_ECORRUPT);
    ck_assert_int_eq(bs__key_parse((const uint8_t *)"\0\0\0\0\0\0\0\0\0\x05p", 11, &k), BS_ECORRUPT);
    srand(11);
    uint8_t buf[64];
    int ok = 0;
    for (int i = 0; i < 200000; i++) {
        size_t n = (size_t)(rand() % 40);
        for (size_t j = 0; j < n; j++) buf[j] = (uint8_t)(rand() % 4 ? rand() % 8 : rand());
        if (n > 10) buf[8] = 0, buf[9] = (uint8_t)(rand() % 6);
        if (bs__key_parse(buf, n, &k) == 0) {
            ok++;
            ck_assert_uint_le(k.prefix_len + 1, n);
            if (k.kind == BS__K_ROW) ck_assert_uint_le(k.row_prefix_len + 3, n);
        }
    }
    ck_assert_int_gt(ok, 0); /* the generator does reach valid keys */
}
END_TEST

START_TEST(succ_and_cover) {
    bs_buf b = BS_BUF_INIT;
    bs_buf_append(&b, "a\xff\xff", 3);
    ck_assert_int_eq(bs__key_succ(&b), 0);
    ck_assert_int_eq(b.len, 1);
    ck_assert_int_eq(b.data[0], 'b');
    bs_buf_reset(&b);
    bs_buf_append(&b, "\xff\xff", 2);
    ck_assert_int_eq(bs__key_succ(&b), 1);
    ck_assert_int_eq(b.len, 0);
    bs_buf_free(&b);
    ck_assert_int_eq(bs__ck_cmp_prefix((const uint8_t *)"abc", 3, (const uint8_t *)"ab", 2), 0);
    ck_assert_int_lt(bs__ck_cmp_prefix((const uint8_t *)"a", 1, (const uint8_t *)"ab", 2), 0);
    ck_assert_int_gt(bs__ck_cmp_prefix((const uint8_t *)"b", 1, (const uint8_t *)"ab", 2), 0);
    bs__key rt;
    memset(&rt, 0, sizeof rt);
    rt.rt_flags = BS__RT_START_INCL; /* [b, c) */
    rt.rt_start = (const uint8_t *)"b";
    rt.rt_start_len = 1;
    rt.rt_end = (const uint8_t *)"c";
    rt.rt_end_len = 1;
    ck_assert(bs__rt_covers(&rt, (const uint8_t *)"b1", 2));
    ck_assert(!bs__rt_covers(&rt, (const uint8_t *)"a9", 2));
    ck_assert(!bs__rt_covers(&rt, (const uint8_t *)"c0", 2));
    rt.rt_flags = BS__RT_END_INCL | BS__RT_START_NONE; /* (.., c] */
    ck_assert(bs__rt_covers(&rt, (const uint8_t *)"a9", 2));
    ck_assert(bs__rt_covers(&rt, (const uint8_t *)"c0", 2));
    ck_assert(!bs__rt_covers(&rt, (const uint8_t *)"d", 1));
}
END_TEST

int main(void) {
    Suite *s = suite_create("storage_key");
    TCase *tc = tcase_create("key");
    tcase_add_test(tc, token_order);
    tcase_add_test(tc, round_trips);
    tcase_add_test(tc, malformed_keys);
    tcase_add_test(tc, succ_and_cover);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
