/*
 * test_gc.c - storage/gc.c: TTL expiry and tombstone purge by the
 * compaction filter never resurrect shadowed data.  Each scenario puts the
 * data and its deletion in different SST files and levels (write, flush,
 * compact to the bottom, delete, flush to L0), moves the fixed clock past
 * gc_grace_seconds, compacts repeatedly and checks after every step that
 * the data stay invisible, and finally that the records are all gone.
 */
#include "storetest.h"

#define GRACE 100

static bs_store *S;
static bs_table *T;
static bs_arena A;

static void setup(void) {
    setup_common();
    S = open_store();
    T = open_table(S, "ks.gc", GRACE);
    bs_arena_init(&A, 0);
}
static void teardown(void) {
    bs_arena_free(&A);
    bs_store_close(S);
    teardown_common();
}

static uint64_t raw(void) {
    uint64_t n;
    ck_assert_int_eq(bs__raw_count(T, &n), 0);
    return n;
}
static void flush(void) { ck_assert_int_eq(bs_store_flush(S, T), 0); }
static void compact(void) { ck_assert_int_eq(bs_store_compact(T), 0); }
static void advance(int64_t s) { bs_clock_set_fixed(&g_clock, (T0_S + s) * 1000000LL); }
static size_t nrows(const char *pk) { return rd_part(T, 1, pk, NULL, &A)->nrows; }

static void rows(const char *pk, int from, int to, int64_t ts) {
    for (int i = from; i < to; i++) {
        char ck[16];
        snprintf(ck, sizeof ck, "r%02d", i % 100);
        w_cell(S, T, 1, pk, ck, 1, "v", ts, 0);
    }
}

/* Compacts up to 4 times, checking invisibility each time, and expects
 * every record of the table to be gone at the end. */
static void compact_until_empty(const char *pk, size_t expect_rows) {
    for (int i = 0; i < 4; i++) {
        compact();
        ck_assert_int_eq(nrows(pk), expect_rows);
    }
}

START_TEST(cell_tombstone_no_resurrection) {
    rows("p", 0, 1, 100);
    flush();
    compact(); /* live cell at the bottom level */
    bs_batch *b;
    ck_assert_int_eq(bs_batch_new(S, &b), 0);
    bs_rowkey r = rk(1, "p", "r00");
    ck_assert_int_eq(bs_batch_delete_cell(b, T, &r, 1, NULL, 0, 200), 0);
    ck_assert_int_eq(bs_store_write(S, b), 0);
    bs_batch_free(b);
    flush();
    ck_assert_int_eq(nrows("p"), 0);
    /* before gc_grace: compaction keeps the tombstone */
    advance(GRACE - 1);
    compact();
    ck_assert_int_eq(nrows("p"), 0);
    ck_assert_int_eq(raw(), 1);
    advance(GRACE + 10);
    compact_until_empty("p", 0);
    ck_assert_int_eq(raw(), 0);
}
END_TEST

START_TEST(partition_tombstone_across_levels) {
    rows("p", 0, 10, 100);
    rows("keep", 0, 3, 100);
    flush();
    compact();          /* bottom level */
    rows("p", 10, 20, 110);
    flush();            /* L0 */
    rows("p", 20, 25, 120);
    rows("p", 0, 5, 90); /* older duplicates: more merge operands */
    bs_batch *b;
    ck_assert_int_eq(bs_batch_new(S, &b), 0);
    ck_assert_int_eq(bs_batch_delete_partition(b, T, 1, "p", 1, 150), 0);
    ck_assert_int_eq(bs_store_write(S, b), 0);
    bs_batch_free(b);
    flush();
    rows("p", 30, 32, 160); /* newer than the deletion: survive */
    ck_assert_int_eq(nrows("p"), 2);
    advance(GRACE + 10);
    compact_until_empty("p", 2);
    ck_assert_int_eq(nrows("keep"), 3);
    /* left: 2 rows of p + 3 of keep, nothing else (deletion purged) */
    ck_assert_int_eq(raw(), 5);
    /* an old write arriving now (older than the purged deletion) is the
     * gc_grace contract of Cassandra, not tested here */
}
END_TEST

START_TEST(purge_waits_for_shadowed_merge_operands) {
    /* The deletion is already a plain value at the bottom level when an
     * older write of a covered cell arrives (repair within gc_grace).  In
     * the next compaction RocksDB merges that cell's operand and does not
     * show the result to the filter, so the filter never drops it: the
     * deletion must survive that compaction or the cell would reappear. */
    bs_batch *b;
    ck_assert_int_eq(bs_batch_new(S, &b), 0);
    ck_assert_int_eq(bs_batch_delete_partition(b, T, 1, "p", 1, 150), 0);
    ck_assert_int_eq(bs_store_write(S, b), 0);
    bs_batch_free(b);
    flush();
    compact();
    compact(); /* now a plain value */
    rows("p", 0, 3, 100);
    flush();
    rows("p", 0, 3, 101);
    flush();
    ck_assert_int_eq(nrows("p"), 0);
    advance(GRACE + 10);
    compact();
    ck_assert_int_eq(nrows("p"), 0);
    compact_until_empty("p", 0);
    ck_assert_int_eq(raw(), 0);
}
END_TEST

START_TEST(partition_tombstone_over_operands) {
    /* data and deletion all still merge operands in separate SSTs */
    rows("p", 0, 1, 100);
    flush();
    rows("p", 0, 1, 101);
    flush();
    bs_batch *b;
    ck_assert_int_eq(bs_batch_new(S, &b), 0);
    ck_assert_int_eq(bs_batch_delete_partition(b, T, 1, "p", 1, 150), 0);
    ck_assert_int_eq(bs_store_write(S, b), 0);
    bs_batch_free(b);
    flush();
    advance(GRACE + 10);
    compact_until_empty("p", 0);
    ck_assert_int_eq(raw(), 0);
}
END_TEST

START_TEST(range_row_collection_tombstones) {
    rows("p", 0, 10, 100);
    bs_batch *b;
    ck_assert_int_eq(bs_batch_new(S, &b), 0);
    bs_rowkey r = rk(1, "p", "r09");
    ck_assert_int_eq(bs_batch_row_marker(b, T, &r, 100, 0), 0);
    ck_assert_int_eq(bs_batch_put_cell(b, T, &r, 5, "e1", 2, "x", 1, 100, 0), 0);
    ck_assert_int_eq(bs_batch_put_cell(b, T, &r, 5, "e2", 2, "y", 1, 100, 0), 0);
    ck_assert_int_eq(bs_store_write(S, b), 0);
    bs_batch_free(b);
    flush();
    compact();
    ck_assert_int_eq(bs_batch_new(S, &b), 0);
    bs_bound s = bnd(BS_BOUND_INCL, "r02"), e = bnd(BS_BOUND_EXCL, "r05");
    ck_assert_int_eq(bs_batch_delete_range(b, T, 1, "p", 1, &s, &e, 150), 0);
    r = rk(1, "p", "r07");
    ck_assert_int_eq(bs_batch_delete_row(b, T, &r, 150), 0);
    r = rk(1, "p", "r09");
    ck_assert_int_eq(bs_batch_delete_collection(b, T, &r, 5, 150), 0);
    ck_assert_int_eq(bs_store_write(S, b), 0);
    bs_batch_free(b);
    /* a later marker on the deleted row must not bring its cells back */
    ck_assert_int_eq(bs_batch_new(S, &b), 0);
    r = rk(1, "p", "r07");
    ck_assert_int_eq(bs_batch_row_marker(b, T, &r, 170, 0), 0);
    ck_assert_int_eq(bs_store_write(S, b), 0);
    bs_batch_free(b);
    flush();
    /* visible: r00 r01 r05 r06 r07(marker only) r08 r09(no collection) */
    bs_partv *p = rd_part(T, 1, "p", NULL, &A);
    ck_assert_int_eq(p->nrows, 7);
    advance(GRACE + 10);
    for (int i = 0; i < 4; i++) {
        compact();
        p = rd_part(T, 1, "p", NULL, &A);
        ck_assert_int_eq(p->nrows, 7);
        ck_assert_int_eq(p->rows[4].ncells, 0); /* r07 */
        ck_assert_int_eq(p->rows[4].marker_ts, 170);
        ck_assert_int_eq(p->rows[6].ncells, 1); /* r09: col 1 only */
        ck_assert_int_eq(p->rows[6].cells[0].col, 1);
    }
    /* 6 cells of r00 r01 r05 r06 r08 r09 + r07 marker + r09 marker */
    ck_assert_int_eq(raw(), 8);
}
END_TEST

START_TEST(ttl_expiry_then_purge) {
    rows("p", 0, 1, 100); /* old value at the bottom */
    flush();
    compact();
    w_cell(S, T, 1, "p", "r00", 1, "ttl", 200, 50);
    flush();
    ck_assert_str_eq(cellval(rd_part(T, 1, "p", NULL, &A), "r00", 1), "ttl");
    advance(60); /* expired, within gc_grace of the expiry */
    ck_assert_int_eq(nrows("p"), 0);
    for (int i = 0; i < 3; i++) {
        compact();
        ck_assert_int_eq(nrows("p"), 0);
    }
    ck_assert_int_eq(raw(), 1); /* now a tombstone */
    advance(50 + GRACE + 10);
    compact_until_empty("p", 0);
    ck_assert_int_eq(raw(), 0);
}
END_TEST

int main(void) {
    Suite *s = suite_create("storage_gc");
    TCase *tc = tcase_create("gc");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, cell_tombstone_no_resurrection);
    tcase_add_test(tc, partition_tombstone_across_levels);
    tcase_add_test(tc, purge_waits_for_shadowed_merge_operands);
    tcase_add_test(tc, partition_tombstone_over_operands);
    tcase_add_test(tc, range_row_collection_tombstones);
    tcase_add_test(tc, ttl_expiry_then_purge);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
