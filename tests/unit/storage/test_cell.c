/*
 * test_cell.c - cell encoding and Cassandra LWW reconciliation
 * (storage/cell.c): every tie rule on encoded cells, the merge operator
 * through the store, and corruption detection.
 */
#include "storetest.h"

static const char KEY[] = "some-key";

/* Encodes a cell into a static slot i. */
static uint8_t cbuf[8][64];
static size_t clen[8];
static const uint8_t *enc(int i, uint8_t flags, int64_t ts, int32_t ttl, uint32_t ldt, const char *v) {
    size_t vl = v ? strlen(v) : 0;
    bs__cell_encode_to(cbuf[i], KEY, sizeof KEY, flags, ts, ttl, ldt, v, vl);
    clen[i] = BS__CELL_HDR + vl;
    return cbuf[i];
}

static int cmp(int a, int b) {
    int err = 0;
    int r = bs_store_lww_cmp(KEY, sizeof KEY, cbuf[a], clen[a], cbuf[b], clen[b], &err);
    ck_assert_int_eq(err, 0);
    int r2 = bs_store_lww_cmp(KEY, sizeof KEY, cbuf[b], clen[b], cbuf[a], clen[a], &err);
    ck_assert_int_eq(r, -r2); /* antisymmetric */
    return r;
}

START_TEST(lww_higher_ts_wins) {
    enc(0, 0, 100, 0, BS__NO_LDT, "a");
    enc(1, 0, 99, 0, BS__NO_LDT, "zzz");
    ck_assert_int_gt(cmp(0, 1), 0);
    enc(1, BS__CELL_TOMB, 99, 0, 500, NULL); /* older tombstone loses */
    ck_assert_int_gt(cmp(0, 1), 0);
    enc(1, BS__CELL_TOMB, 101, 0, 500, NULL);
    ck_assert_int_lt(cmp(0, 1), 0);
}
END_TEST

START_TEST(lww_tie_tombstone_beats_live) {
    enc(0, 0, 100, 0, BS__NO_LDT, "zzzz");
    enc(1, BS__CELL_TOMB, 100, 0, 1, NULL);
    ck_assert_int_lt(cmp(0, 1), 0);
}
END_TEST

START_TEST(lww_tie_expiring_beats_regular) {
    enc(0, 0, 100, 0, BS__NO_LDT, "zzzz");
    enc(1, BS__CELL_EXP, 100, 10, 1000, "a");
    ck_assert_int_lt(cmp(0, 1), 0);
}
END_TEST

START_TEST(lww_tie_tombstone_beats_expiring) {
    enc(0, BS__CELL_EXP, 100, 10, 5000, "zzzz");
    enc(1, BS__CELL_TOMB, 100, 0, 1000, NULL);
    ck_assert_int_lt(cmp(0, 1), 0);
}
END_TEST

START_TEST(lww_tie_later_ldt_wins) {
    enc(0, BS__CELL_EXP, 100, 10, 1000, "zzzz");
    enc(1, BS__CELL_EXP, 100, 10, 1001, "a");
    ck_assert_int_lt(cmp(0, 1), 0);
    enc(0, BS__CELL_TOMB, 100, 0, 7, NULL);
    enc(1, BS__CELL_TOMB, 100, 0, 8, NULL);
    ck_assert_int_lt(cmp(0, 1), 0);
}
END_TEST

START_TEST(lww_tie_greater_value_wins) {
    enc(0, 0, 100, 0, BS__NO_LDT, "abd");
    enc(1, 0, 100, 0, BS__NO_LDT, "abc");
    ck_assert_int_gt(cmp(0, 1), 0);
    enc(1, 0, 100, 0, BS__NO_LDT, "abdx"); /* longer with equal prefix wins */
    ck_assert_int_lt(cmp(0, 1), 0);
    /* unsigned byte comparison: 0x80 > 0x7f */
    enc(0, 0, 100, 0, BS__NO_LDT, "\x80");
    enc(1, 0, 100, 0, BS__NO_LDT, "\x7f");
    ck_assert_int_gt(cmp(0, 1), 0);
    enc(1, 0, 100, 0, BS__NO_LDT, "\x80");
    ck_assert_int_eq(cmp(0, 1), 0);
}
END_TEST

START_TEST(decode_rejects_damage) {
    bs__cell c;
    enc(0, 0, 100, 0, BS__NO_LDT, "hello");
    ck_assert_int_eq(bs__cell_decode(KEY, sizeof KEY, cbuf[0], clen[0], &c), 0);
    ck_assert_int_eq(c.ts, 100);
    ck_assert_int_eq(c.val_len, 5);
    /* every single-bit flip anywhere is detected */
    for (size_t i = 0; i < clen[0]; i++)
        for (int bit = 0; bit < 8; bit++) {
            cbuf[0][i] ^= (uint8_t)(1 << bit);
            ck_assert_int_eq(bs__cell_decode(KEY, sizeof KEY, cbuf[0], clen[0], &c), BS_ECORRUPT);
            cbuf[0][i] ^= (uint8_t)(1 << bit);
        }
    /* truncation, and a different key */
    for (size_t n = 0; n < clen[0]; n++)
        ck_assert_int_eq(bs__cell_decode(KEY, sizeof KEY, cbuf[0], n, &c), BS_ECORRUPT);
    ck_assert_int_eq(bs__cell_decode("other", 5, cbuf[0], clen[0], &c), BS_ECORRUPT);
    int err = 0;
    bs_store_lww_cmp(KEY, sizeof KEY, cbuf[0], 3, cbuf[0], clen[0], &err);
    ck_assert_int_eq(err, BS_ECORRUPT);
}
END_TEST

/* The merge operator, through the store: writes in both orders, in one
 * batch and in separate batches, across a flush. */
static bs_store *S;
static bs_table *T;
static void setup(void) {
    setup_common();
    S = open_store();
    T = open_table(S, "ks.lww", 864000);
}
static void teardown(void) {
    bs_store_close(S);
    teardown_common();
}

static const char *read1(const char *pk) {
    bs_arena a;
    bs_arena_init(&a, 0);
    bs_partv *p = rd_part(T, 1, pk, NULL, &a);
    static char out[64];
    const char *v = cellval(p, "c", 1);
    snprintf(out, sizeof out, "%s", v ? v : "<none>");
    bs_arena_free(&a);
    return out;
}

START_TEST(merge_through_store) {
    /* higher ts wins regardless of arrival order */
    w_cell(S, T, 1, "p1", "c", 1, "new", 200, 0);
    w_cell(S, T, 1, "p1", "c", 1, "old", 100, 0);
    ck_assert_str_eq(read1("p1"), "new");
    /* equal ts: greater value wins, both orders, across a flush */
    w_cell(S, T, 1, "p2", "c", 1, "b", 100, 0);
    ck_assert_int_eq(bs_store_flush(S, T), 0);
    w_cell(S, T, 1, "p2", "c", 1, "a", 100, 0);
    ck_assert_str_eq(read1("p2"), "b");
    w_cell(S, T, 1, "p3", "c", 1, "a", 100, 0);
    w_cell(S, T, 1, "p3", "c", 1, "b", 100, 0);
    ck_assert_str_eq(read1("p3"), "b");
    /* equal ts: tombstone beats live (both orders) */
    bs_batch *b;
    bs_rowkey r = rk(1, "p4", "c");
    ck_assert_int_eq(bs_batch_new(S, &b), 0);
    ck_assert_int_eq(bs_batch_delete_cell(b, T, &r, 1, NULL, 0, 100), 0);
    ck_assert_int_eq(bs_store_write(S, b), 0);
    bs_batch_free(b);
    w_cell(S, T, 1, "p4", "c", 1, "zzz", 100, 0);
    ck_assert_str_eq(read1("p4"), "<none>");
    w_cell(S, T, 1, "p4", "c", 1, "later", 101, 0);
    ck_assert_str_eq(read1("p4"), "later");
    /* equal ts: expiring beats regular even with a smaller value */
    w_cell(S, T, 1, "p5", "c", 1, "zzz", 100, 0);
    w_cell(S, T, 1, "p5", "c", 1, "aaa", 100, 3600);
    ck_assert_str_eq(read1("p5"), "aaa");
    /* same in one batch: the batch holds two merge operands for one key */
    ck_assert_int_eq(bs_batch_new(S, &b), 0);
    r = rk(1, "p6", "c");
    ck_assert_int_eq(bs_batch_put_cell(b, T, &r, 1, NULL, 0, "x", 1, 100, 0), 0);
    ck_assert_int_eq(bs_batch_put_cell(b, T, &r, 1, NULL, 0, "y", 1, 100, 0), 0);
    ck_assert_int_eq(bs_batch_put_cell(b, T, &r, 1, NULL, 0, "w", 1, 99, 0), 0);
    ck_assert_int_eq(bs_batch_count(b), 3);
    ck_assert_int_eq(bs_store_write(S, b), 0);
    bs_batch_free(b);
    ck_assert_str_eq(read1("p6"), "y");
    /* and after compaction (operands merged into one value) */
    ck_assert_int_eq(bs_store_flush(S, T), 0);
    ck_assert_int_eq(bs_store_compact(T), 0);
    ck_assert_str_eq(read1("p1"), "new");
    ck_assert_str_eq(read1("p2"), "b");
    ck_assert_str_eq(read1("p4"), "later");
    ck_assert_str_eq(read1("p5"), "aaa");
    ck_assert_str_eq(read1("p6"), "y");
}
END_TEST

int main(void) {
    Suite *s = suite_create("storage_cell");
    TCase *tc = tcase_create("lww");
    tcase_add_test(tc, lww_higher_ts_wins);
    tcase_add_test(tc, lww_tie_tombstone_beats_live);
    tcase_add_test(tc, lww_tie_expiring_beats_regular);
    tcase_add_test(tc, lww_tie_tombstone_beats_expiring);
    tcase_add_test(tc, lww_tie_later_ldt_wins);
    tcase_add_test(tc, lww_tie_greater_value_wins);
    tcase_add_test(tc, decode_rejects_damage);
    suite_add_tcase(s, tc);
    TCase *tm = tcase_create("merge");
    tcase_add_checked_fixture(tm, setup, teardown);
    tcase_add_test(tm, merge_through_store);
    suite_add_tcase(s, tm);
    return run_suite(s);
}
