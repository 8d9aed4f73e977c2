/*
 * test_store.c - storage/store.c through the public API: tables (create,
 * reopen, drop frees data, truncate), atomic batches, every shadowing rule
 * (cell, row, range, partition, collection tombstones; a later row marker
 * does not erase an older row deletion), TTL against a fixed clock,
 * corruption reports, raw token-range iteration and raw apply, sizes, and
 * the header hint per kind (raised, persisted, carried by raw records,
 * dropped).
 */
#include <sched.h>
#include <sys/resource.h>

#include "storetest.h"
#include "common/log.h"

static bs_store *S;
static bs_table *T;

static void setup(void) {
    setup_common();
    S = open_store();
    T = open_table(S, "ks.t", 864000);
}
static void teardown(void) {
    bs_store_close(S);
    teardown_common();
}

static bs_batch *B(void) {
    bs_batch *b;
    ck_assert_int_eq(bs_batch_new(S, &b), 0);
    return b;
}
static void W(bs_batch *b) {
    ck_assert_msg(bs_store_write(S, b) == 0, "%s", bs_store_errmsg());
    bs_batch_free(b);
}

#include <dirent.h>
static int list_sst(char names[][64], int max) {
    DIR *d = opendir(g_dir);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < max)
        if (strstr(e->d_name, ".sst")) snprintf(names[n++], 64, "%.60s", e->d_name);
    closedir(d);
    return n;
}

START_TEST(tables_reopen_and_drop) {
    bs_table *t2 = open_table(S, "ks.other", 100);
    w_cell(S, T, 5, "p", "c", 1, "v1", 10, 0);
    w_cell(S, t2, 5, "p", "c", 1, "v2", 10, 0);
    bs_store_close(S);
    S = open_store();
    /* both CFs are reopened from disk */
    ck_assert_int_eq(bs_store_table_get(S, "ks.t", &T), 0);
    ck_assert_int_eq(bs_store_table_get(S, "ks.other", &t2), 0);
    bs_table *nope;
    ck_assert_int_eq(bs_store_table_get(S, "ks.none", &nope), BS_ENOTFOUND);
    bs_arena a;
    bs_arena_init(&a, 0);
    ck_assert_str_eq(cellval(rd_part(T, 5, "p", NULL, &a), "c", 1), "v1");
    ck_assert_str_eq(cellval(rd_part(t2, 5, "p", NULL, &a), "c", 1), "v2");
    /* drop: gone at once, handle answers NOTFOUND, gone after reopen */
    w_cell(S, t2, 6, "p6", "c", 1, "v3", 10, 0);
    char before[64][64], added[64] = "";
    int nb = list_sst(before, 64);
    ck_assert_int_eq(bs_store_flush(S, t2), 0);
    char after[64][64];
    int na = list_sst(after, 64);
    for (int i = 0; i < na; i++) {
        int seen = 0;
        for (int j = 0; j < nb; j++) seen |= !strcmp(after[i], before[j]);
        if (!seen) snprintf(added, sizeof added, "%.60s", after[i]);
    }
    ck_assert_msg(added[0], "flush of ks.other made no SST");
    ck_assert_int_eq(bs_store_table_drop(S, "ks.other"), 0);
    bs_partv *p;
    ck_assert_int_eq(bs_store_read(t2, 5, "p", 1, NULL, &a, &p), BS_ENOTFOUND);
    bs_batch *b = B();
    bs_rowkey r = rk(5, "p", "c");
    ck_assert_int_eq(bs_batch_put_cell(b, t2, &r, 1, NULL, 0, "x", 1, 11, 0), BS_ENOTFOUND);
    ck_assert_int_eq(bs_store_write(S, b), BS_EPOISONED);
    bs_batch_free(b);
    ck_assert_int_eq(bs_store_table_drop(S, "ks.other"), BS_ENOTFOUND);
    bs_store_close(S);
    S = open_store();
    ck_assert_int_eq(bs_store_table_get(S, "ks.other", &t2), BS_ENOTFOUND);
    ck_assert_int_eq(bs_store_table_get(S, "ks.t", &T), 0);
    /* re-creating the name gives an empty table */
    t2 = open_table(S, "ks.other", 100);
    p = rd_part(t2, 5, "p", NULL, &a);
    ck_assert_int_eq(p->nrows, 0);
    uint64_t n = 99;
    ck_assert_int_eq(bs__raw_count(t2, &n), 0);
    ck_assert_int_eq(n, 0);
    /* the dropped CF's SST file is deleted from the directory */
    char now[64][64];
    int nn = list_sst(now, 64);
    for (int i = 0; i < nn; i++) ck_assert_str_ne(now[i], added);
    bs_arena_free(&a);
    ck_assert_int_eq(bs_store_table_open(S, "default", NULL, &nope), BS_EINVAL);
    ck_assert_int_eq(bs_store_table_open(S, "", NULL, &nope), BS_EINVAL);
}
END_TEST

static int count_cb(void *ud, const char *name) {
    (void)name;
    (*(int *)ud)++;
    return 0;
}

START_TEST(table_list_and_truncate) {
    open_table(S, "system.local", 0);
    int n = 0;
    ck_assert_int_eq(bs_store_table_list(S, count_cb, &n), 0);
    ck_assert_int_eq(n, 2);
    for (int i = 0; i < 50; i++) {
        char pk[16];
        snprintf(pk, sizeof pk, "p%d", i);
        w_cell(S, T, i * 1000 - 25000, pk, "c", 1, "v", 10, 0);
    }
    w_cell(S, T, INT64_MAX, "pmax", "c", 1, "v", 10, 0);
    w_cell(S, T, INT64_MIN, "pmin", "c", 1, "v", 10, 0);
    ck_assert_int_eq(bs_store_flush(S, T), 0);
    uint64_t cnt;
    ck_assert_int_eq(bs__raw_count(T, &cnt), 0);
    ck_assert_int_eq(cnt, 52);
    ck_assert_int_eq(bs_store_truncate(T), 0);
    ck_assert_int_eq(bs__raw_count(T, &cnt), 0);
    ck_assert_int_eq(cnt, 0);
    /* writes after the truncate are visible (even with old timestamps) */
    w_cell(S, T, 7, "p7", "c", 1, "after", 5, 0);
    bs_arena a;
    bs_arena_init(&a, 0);
    ck_assert_str_eq(cellval(rd_part(T, 7, "p7", NULL, &a), "c", 1), "after");
    bs_arena_free(&a);
}
END_TEST

START_TEST(batch_is_atomic_across_tables) {
    bs_table *t2 = open_table(S, "ks.t2", 10);
    bs_batch *b = B();
    bs_rowkey r = rk(1, "p", "c");
    ck_assert_int_eq(bs_batch_put_cell(b, T, &r, 1, NULL, 0, "a", 1, 10, 0), 0);
    ck_assert_int_eq(bs_batch_put_cell(b, t2, &r, 1, NULL, 0, "b", 1, 10, 0), 0);
    /* a bad add poisons the whole batch: nothing is written */
    ck_assert_int_eq(bs_batch_put_cell(b, T, &r, 2, NULL, 0, "c", 1, 10, -5), BS_ERANGE);
    ck_assert_int_eq(bs_batch_put_cell(b, T, &r, 3, NULL, 0, "d", 1, 10, 0), BS_EPOISONED);
    ck_assert_int_eq(bs_store_write(S, b), BS_EPOISONED);
    bs_arena a;
    bs_arena_init(&a, 0);
    ck_assert_int_eq(rd_part(T, 1, "p", NULL, &a)->nrows, 0);
    bs_batch_clear(b);
    ck_assert_int_eq(bs_batch_count(b), 0);
    ck_assert_int_eq(bs_batch_put_cell(b, T, &r, 1, NULL, 0, "a", 1, 10, 0), 0);
    ck_assert_int_eq(bs_batch_put_cell(b, t2, &r, 1, NULL, 0, "b", 1, 10, 0), 0);
    W(b);
    ck_assert_str_eq(cellval(rd_part(T, 1, "p", NULL, &a), "c", 1), "a");
    ck_assert_str_eq(cellval(rd_part(t2, 1, "p", NULL, &a), "c", 1), "b");
    /* bad sizes */
    b = B();
    bs_rowkey big = r;
    big.pk_len = 70000;
    big.pk = calloc(1, 70000);
    ck_assert_int_eq(bs_batch_put_cell(b, T, &big, 1, NULL, 0, "a", 1, 10, 0), BS_ERANGE);
    free((void *)big.pk);
    bs_batch_free(b);
    b = B();
    ck_assert_int_eq(bs_batch_put_cell(b, T, &r, 1, NULL, 0, "a", 1, 10, BS__MAX_TTL + 1), BS_ERANGE);
    bs_batch_free(b);
    b = B();
    bs_rowkey st = rk(1, "p", NULL);
    ck_assert_int_eq(bs_batch_row_marker(b, T, &st, 10, 0), BS_EINVAL);
    bs_batch_free(b);
    bs_arena_free(&a);
}
END_TEST

START_TEST(cell_and_row_shadowing) {
    bs_batch *b = B();
    bs_rowkey r = rk(1, "p", "r1");
    ck_assert_int_eq(bs_batch_row_marker(b, T, &r, 100, 0), 0);
    ck_assert_int_eq(bs_batch_put_cell(b, T, &r, 1, NULL, 0, "a", 1, 100, 0), 0);
    ck_assert_int_eq(bs_batch_put_cell(b, T, &r, 2, NULL, 0, "b", 1, 100, 0), 0);
    W(b);
    /* cell tombstone newer than the cell */
    b = B();
    ck_assert_int_eq(bs_batch_delete_cell(b, T, &r, 1, NULL, 0, 150), 0);
    W(b);
    bs_arena a;
    bs_arena_init(&a, 0);
    bs_partv *p = rd_part(T, 1, "p", NULL, &a);
    ck_assert_int_eq(p->nrows, 1);
    ck_assert_ptr_null(cellval(p, "r1", 1));
    ck_assert_str_eq(cellval(p, "r1", 2), "b");
    ck_assert_int_eq(p->rows[0].has_marker, 1);
    ck_assert_int_eq(p->rows[0].marker_ts, 100);
    ck_assert_int_eq(p->rows[0].ncells, 1);
    ck_assert_int_eq(p->rows[0].cells[0].ts, 100);
    /* row deletion at 200 hides everything at <= 200 */
    b = B();
    ck_assert_int_eq(bs_batch_delete_row(b, T, &r, 200), 0);
    W(b);
    p = rd_part(T, 1, "p", NULL, &a);
    ck_assert_int_eq(p->nrows, 0);
    /* a later row marker at 300 does NOT resurrect cells written before
     * the deletion: the row exists again with only the marker */
    b = B();
    ck_assert_int_eq(bs_batch_row_marker(b, T, &r, 300, 0), 0);
    W(b);
    p = rd_part(T, 1, "p", NULL, &a);
    ck_assert_int_eq(p->nrows, 1);
    ck_assert_int_eq(p->rows[0].ncells, 0);
    ck_assert_int_eq(p->rows[0].marker_ts, 300);
    /* a cell written at exactly the deletion timestamp stays shadowed;
     * one after it is visible */
    w_cell(S, T, 1, "p", "r1", 2, "eq", 200, 0);
    w_cell(S, T, 1, "p", "r1", 3, "gt", 201, 0);
    p = rd_part(T, 1, "p", NULL, &a);
    ck_assert_ptr_null(cellval(p, "r1", 2));
    ck_assert_str_eq(cellval(p, "r1", 3), "gt");
    /* a row with a cell but no marker exists; without either it doesn't */
    w_cell(S, T, 1, "p", "r2", 1, "x", 10, 0);
    p = rd_part(T, 1, "p", NULL, &a);
    ck_assert_int_eq(p->nrows, 2);
    ck_assert_int_eq(p->rows[1].has_marker, 0);
    /* column selection filters cells, not rows */
    uint16_t sel[] = {7};
    bs_slice sl;
    memset(&sl, 0, sizeof sl);
    sl.cols = sel;
    sl.ncols = 1;
    p = rd_part(T, 1, "p", &sl, &a);
    ck_assert_int_eq(p->nrows, 2);
    ck_assert_int_eq(p->rows[0].ncells, 0);
    ck_assert_int_eq(p->rows[1].ncells, 0);
    bs_arena_free(&a);
}
END_TEST

START_TEST(range_and_partition_shadowing) {
    const char *cks[] = {"a1", "a2", "b1", "b2", "c1"};
    for (int i = 0; i < 5; i++) w_cell(S, T, 1, "p", cks[i], 1, cks[i], 100, 0);
    w_cell(S, T, 1, "q", "a1", 1, "other", 100, 0);
    /* static cell */
    bs_batch *b = B();
    bs_rowkey st = rk(1, "p", NULL);
    ck_assert_int_eq(bs_batch_put_cell(b, T, &st, 9, NULL, 0, "S", 1, 100, 0), 0);
    W(b);
    /* range (a2, b*] deleted at 150: prefix "b" inclusive covers b1, b2 */
    b = B();
    bs_bound s = bnd(BS_BOUND_EXCL, "a2"), e = bnd(BS_BOUND_INCL, "b");
    ck_assert_int_eq(bs_batch_delete_range(b, T, 1, "p", 1, &s, &e, 150), 0);
    W(b);
    bs_arena a;
    bs_arena_init(&a, 0);
    bs_slice sl;
    memset(&sl, 0, sizeof sl);
    sl.with_static = 1;
    bs_partv *p = rd_part(T, 1, "p", &sl, &a);
    ck_assert_int_eq(p->nrows, 3);
    ck_assert(has_row(p, "a1") && has_row(p, "a2") && has_row(p, "c1"));
    ck_assert_ptr_nonnull(p->static_row);
    ck_assert_int_eq(p->static_row->ncells, 1);
    ck_assert_int_eq(p->static_row->cells[0].col, 9);
    /* a newer write inside the range is visible again */
    w_cell(S, T, 1, "p", "b1", 1, "new", 151, 0);
    p = rd_part(T, 1, "p", &sl, &a);
    ck_assert_str_eq(cellval(p, "b1", 1), "new");
    /* unbounded range tombstone [.., a1] and exclusive end */
    b = B();
    s = bnd(BS_BOUND_NONE, NULL);
    e = bnd(BS_BOUND_EXCL, "a2");
    ck_assert_int_eq(bs_batch_delete_range(b, T, 1, "p", 1, &s, &e, 150), 0);
    W(b);
    p = rd_part(T, 1, "p", &sl, &a);
    ck_assert(!has_row(p, "a1") && has_row(p, "a2"));
    /* partition deletion at 160: everything <= 160 including static */
    b = B();
    ck_assert_int_eq(bs_batch_delete_partition(b, T, 1, "p", 1, 160), 0);
    W(b);
    p = rd_part(T, 1, "p", &sl, &a);
    ck_assert_int_eq(p->nrows, 0);
    ck_assert_ptr_null(p->static_row);
    /* the neighbouring partition q is untouched */
    ck_assert_str_eq(cellval(rd_part(T, 1, "q", NULL, &a), "a1", 1), "other");
    w_cell(S, T, 1, "p", "zz", 1, "z", 161, 0);
    p = rd_part(T, 1, "p", &sl, &a);
    ck_assert_int_eq(p->nrows, 1);
    bs_arena_free(&a);
}
END_TEST

START_TEST(collections) {
    bs_rowkey r = rk(1, "p", "r");
    bs_batch *b = B();
    ck_assert_int_eq(bs_batch_put_cell(b, T, &r, 4, "e1", 2, "v1", 2, 100, 0), 0);
    ck_assert_int_eq(bs_batch_put_cell(b, T, &r, 4, "e2", 2, "v2", 2, 100, 0), 0);
    ck_assert_int_eq(bs_batch_put_cell(b, T, &r, 4, "e3", 2, "v3", 2, 120, 0), 0);
    ck_assert_int_eq(bs_batch_put_cell(b, T, &r, 5, NULL, 0, "plain", 5, 100, 0), 0);
    W(b);
    b = B();
    ck_assert_int_eq(bs_batch_delete_cell(b, T, &r, 4, "e2", 2, 101), 0);
    W(b);
    bs_arena a;
    bs_arena_init(&a, 0);
    bs_partv *p = rd_part(T, 1, "p", NULL, &a);
    ck_assert_int_eq(p->nrows, 1);
    ck_assert_int_eq(p->rows[0].ncells, 3); /* e1, e3, col 5 */
    ck_assert_int_eq(p->rows[0].cells[0].has_elem, 1);
    ck_assert_int_eq(memcmp(p->rows[0].cells[0].elem, "e1", 2), 0);
    ck_assert_int_eq(memcmp(p->rows[0].cells[1].elem, "e3", 2), 0);
    ck_assert_int_eq(p->rows[0].cells[2].col, 5);
    /* collection tombstone at 110: e1 gone, e3 (120) stays, col 5 stays */
    b = B();
    ck_assert_int_eq(bs_batch_delete_collection(b, T, &r, 4, 110), 0);
    W(b);
    p = rd_part(T, 1, "p", NULL, &a);
    ck_assert_int_eq(p->rows[0].ncells, 2);
    ck_assert_int_eq(memcmp(p->rows[0].cells[0].elem, "e3", 2), 0);
    ck_assert_int_eq(p->rows[0].cells[1].col, 5);
    bs_arena_free(&a);
}
END_TEST

START_TEST(ttl_expiry) {
    w_cell(S, T, 1, "p", "r", 1, "short", 100, 10);
    w_cell(S, T, 1, "p", "r", 2, "long", 100, 1000);
    bs_batch *b = B();
    bs_rowkey r = rk(1, "p", "r");
    ck_assert_int_eq(bs_batch_row_marker(b, T, &r, 100, 10), 0);
    W(b);
    bs_arena a;
    bs_arena_init(&a, 0);
    bs_partv *p = rd_part(T, 1, "p", NULL, &a);
    ck_assert_int_eq(p->rows[0].ncells, 2);
    ck_assert_int_eq(p->rows[0].cells[0].ttl, 10);
    ck_assert_int_eq(p->rows[0].cells[0].expiry_s, T0_S + 10);
    ck_assert_int_eq(p->rows[0].marker_expiry_s, T0_S + 10);
    /* at expiry time exactly the cell is gone */
    bs_clock_set_fixed(&g_clock, (T0_S + 10) * 1000000LL);
    p = rd_part(T, 1, "p", NULL, &a);
    ck_assert_int_eq(p->nrows, 1);
    ck_assert_int_eq(p->rows[0].has_marker, 0);
    ck_assert_int_eq(p->rows[0].ncells, 1);
    ck_assert_str_eq(cellval(p, "r", 2), "long");
    /* the slice's own now overrides the clock */
    bs_slice sl;
    memset(&sl, 0, sizeof sl);
    sl.now_s = T0_S + 5;
    p = rd_part(T, 1, "p", &sl, &a);
    ck_assert_int_eq(p->rows[0].ncells, 2);
    bs_clock_set_fixed(&g_clock, (T0_S + 1000) * 1000000LL);
    p = rd_part(T, 1, "p", NULL, &a);
    ck_assert_int_eq(p->nrows, 0);
    /* after compaction the expired cells have become tombstones, still
     * shadowing an older write of the same cell */
    ck_assert_int_eq(bs_store_flush(S, T), 0);
    ck_assert_int_eq(bs_store_compact(T), 0);
    w_cell(S, T, 1, "p", "r", 1, "older", 99, 0);
    p = rd_part(T, 1, "p", NULL, &a);
    ck_assert_int_eq(p->nrows, 0);
    bs_arena_free(&a);
}
END_TEST

static int raw_cb(void *ud, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl) {
    (void)v;
    (void)vl;
    int64_t *toks = ud;
    int64_t tk;
    ck_assert_int_eq(bs_store_key_token(k, kl, &tk), 0);
    toks[++toks[0]] = tk;
    return 0;
}

START_TEST(raw_ranges_and_apply) {
    int64_t tokens[] = {INT64_MIN, -5000, -1, 0, 1, 4999, 5000, INT64_MAX};
    for (int i = 7; i >= 0; i--) w_cell(S, T, tokens[i], "p", "c", 1, "v", 10, 0);
    int64_t got[32];
    /* (-1, 5000]: 0, 1, 4999, 5000 in token order */
    got[0] = 0;
    ck_assert_int_eq(bs_store_iterate_range(T, -1, 5000, raw_cb, got), 0);
    ck_assert_int_eq(got[0], 4);
    ck_assert(got[1] == 0 && got[2] == 1 && got[3] == 4999 && got[4] == 5000);
    /* wrapping (4999, -5000]: 5000, MAX, then MIN, -5000 */
    got[0] = 0;
    ck_assert_int_eq(bs_store_iterate_range(T, 4999, -5000, raw_cb, got), 0);
    ck_assert_int_eq(got[0], 4);
    ck_assert(got[1] == 5000 && got[2] == INT64_MAX && got[3] == INT64_MIN && got[4] == -5000);
    /* full ring (MIN, MIN]: from just after MIN round to MIN itself */
    got[0] = 0;
    ck_assert_int_eq(bs_store_iterate_range(T, INT64_MIN, INT64_MIN, raw_cb, got), 0);
    ck_assert_int_eq(got[0], 8);
    for (int i = 1; i < 7; i++) ck_assert_int_eq(got[i], tokens[i]);
    ck_assert_int_eq(got[7], INT64_MAX);
    ck_assert_int_eq(got[8], INT64_MIN);
    /* an empty range */
    got[0] = 0;
    ck_assert_int_eq(bs_store_iterate_range(T, 1, 4998, raw_cb, got), 0);
    ck_assert_int_eq(got[0], 0);
    /* raw apply into another table: idempotent, LWW */
    bs_table *t2 = open_table(S, "ks.copy", 10);
    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(S->db, ro, T->cf);
    for (int rep = 0; rep < 2; rep++) {
        bs_batch *b = B();
        for (rocksdb_iter_seek_to_first(it); rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
            size_t kl, vl;
            const char *k = rocksdb_iter_key(it, &kl);
            const char *v = rocksdb_iter_value(it, &vl);
            ck_assert_int_eq(bs_batch_put_raw(b, t2, k, kl, v, vl), 0);
        }
        W(b);
    }
    rocksdb_iter_destroy(it);
    rocksdb_readoptions_destroy(ro);
    w_cell(S, t2, 0, "p", "c", 1, "newer", 11, 0);
    bs_arena a;
    bs_arena_init(&a, 0);
    ck_assert_str_eq(cellval(rd_part(t2, 1, "p", NULL, &a), "c", 1), "v");
    ck_assert_str_eq(cellval(rd_part(t2, 0, "p", NULL, &a), "c", 1), "newer");
    got[0] = 0;
    ck_assert_int_eq(bs_store_iterate_range(t2, INT64_MIN, INT64_MIN, raw_cb, got), 0);
    ck_assert_int_eq(got[0], 8);
    /* a damaged raw record is refused */
    bs_batch *b = B();
    ck_assert_int_eq(bs_batch_put_raw(b, t2, "short", 5, "x", 1), BS_ECORRUPT);
    bs_batch_free(b);
    bs_arena_free(&a);
}
END_TEST

/* The header hint (store_int.h): a table that never received a partition
 * deletion or range tombstone reads without looking for them; the first
 * such record raises the hint before the write, the hint survives a
 * reopen, comes along with raw records, and goes away with the table. */
static int hint_on_disk(const char *table, int bit) {
    char hk[256];
    size_t hkl = bs__hdr_key(table, bit, hk, sizeof hk), vl = 0;
    char *err = NULL;
    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
    char *v = rocksdb_get_cf(S->db, ro, S->default_cf, hk, hkl, &vl, &err);
    rocksdb_readoptions_destroy(ro);
    ck_assert_ptr_null(err);
    int on = v != NULL;
    rocksdb_free(v);
    return on;
}

static size_t nrows_of(bs_table *t, const char *pk, int rev, const char *ck) {
    bs_arena a;
    bs_arena_init(&a, 0);
    bs_slice sl;
    memset(&sl, 0, sizeof sl);
    sl.reversed = rev;
    if (ck) sl.start = sl.end = bnd(BS_BOUND_INCL, ck);
    size_t n = rd_part(t, 1, pk, &sl, &a)->nrows;
    bs_arena_free(&a);
    return n;
}

static int copy_cb(void *ud, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl) {
    void **x = ud;
    return bs_batch_put_raw(x[0], x[1], k, kl, v, vl);
}

START_TEST(header_hint) {
    w_cell(S, T, 1, "p", "a1", 1, "x", 100, 0);
    w_cell(S, T, 1, "p", "a2", 1, "y", 100, 0);
    ck_assert_int_eq(atomic_load(&T->hdr), 0);
    ck_assert_int_eq(nrows_of(T, "p", 0, "a1"), 1);
    ck_assert_int_eq(nrows_of(T, "p", 1, NULL), 2);
    ck_assert(!hint_on_disk("ks.t", BS__HDR_PDEL) && !hint_on_disk("ks.t", BS__HDR_RT));
    /* raised when the record enters the batch, persisted by the write */
    bs_batch *b = B();
    ck_assert_int_eq(bs_batch_delete_partition(b, T, 1, "p", 1, 150), 0);
    ck_assert_int_eq(atomic_load(&T->hdr), BS__HDR_PDEL);
    ck_assert_int_eq(atomic_load(&T->hdr_logged), 0);
    ck_assert_uint_eq(bs_batch_count(b), 2); /* the deletion and the hint */
    W(b);
    ck_assert_int_eq(atomic_load(&T->hdr_logged), BS__HDR_PDEL);
    ck_assert(hint_on_disk("ks.t", BS__HDR_PDEL) && !hint_on_disk("ks.t", BS__HDR_RT));
    ck_assert_int_eq(nrows_of(T, "p", 0, "a1"), 0);
    ck_assert_int_eq(nrows_of(T, "p", 1, NULL), 0);
    /* once logged, later batches do not carry it again */
    b = B();
    ck_assert_int_eq(bs_batch_delete_partition(b, T, 1, "q", 1, 150), 0);
    ck_assert_uint_eq(bs_batch_count(b), 1);
    W(b);
    /* after a reopen the hint is loaded: the deletion still shadows */
    bs_store_close(S);
    S = open_store();
    ck_assert_int_eq(bs_store_table_get(S, "ks.t", &T), 0);
    ck_assert_int_eq(atomic_load(&T->hdr), BS__HDR_PDEL);
    ck_assert_int_eq(nrows_of(T, "p", 0, "a1"), 0);
    ck_assert_int_eq(nrows_of(T, "p", 1, NULL), 0);
    w_cell(S, T, 1, "p", "a3", 1, "z", 151, 0);
    ck_assert_int_eq(nrows_of(T, "p", 0, "a3"), 1);
    /* a range tombstone raises the other bit, also across a reopen */
    w_cell(S, T, 1, "r", "a1", 1, "x", 100, 0);
    ck_assert_int_eq(nrows_of(T, "r", 0, "a1"), 1);
    b = B();
    bs_bound s = bnd(BS_BOUND_INCL, "a"), e = bnd(BS_BOUND_INCL, "a");
    ck_assert_int_eq(bs_batch_delete_range(b, T, 1, "r", 1, &s, &e, 150), 0);
    ck_assert_uint_eq(bs_batch_count(b), 2);
    W(b);
    ck_assert_int_eq(atomic_load(&T->hdr), BS__HDR_PDEL | BS__HDR_RT);
    ck_assert(hint_on_disk("ks.t", BS__HDR_RT));
    ck_assert_int_eq(nrows_of(T, "r", 0, "a1"), 0);
    bs_store_close(S);
    S = open_store();
    ck_assert_int_eq(bs_store_table_get(S, "ks.t", &T), 0);
    ck_assert_int_eq(atomic_load(&T->hdr), BS__HDR_PDEL | BS__HDR_RT);
    ck_assert_int_eq(nrows_of(T, "r", 0, "a1"), 0);
    ck_assert_int_eq(nrows_of(T, "r", 1, NULL), 0);
    ck_assert_int_eq(nrows_of(T, "p", 0, "a1"), 0);
    /* raw records carry the hint to another table */
    bs_table *t2 = open_table(S, "ks.copy", 864000);
    ck_assert_int_eq(atomic_load(&t2->hdr), 0);
    b = B();
    void *x[2] = {b, t2};
    ck_assert_int_eq(bs_store_iterate_range(T, INT64_MIN, INT64_MIN, copy_cb, x), 0);
    W(b);
    ck_assert_int_eq(atomic_load(&t2->hdr), BS__HDR_PDEL | BS__HDR_RT);
    ck_assert(hint_on_disk("ks.copy", BS__HDR_PDEL) && hint_on_disk("ks.copy", BS__HDR_RT));
    ck_assert_int_eq(nrows_of(t2, "p", 0, "a1"), 0);
    ck_assert_int_eq(nrows_of(t2, "r", 0, "a1"), 0);
    ck_assert_int_eq(nrows_of(t2, "p", 0, "a3"), 1);
    /* a table with range tombstones only probes for them alone */
    bs_table *t3 = open_table(S, "ks.rt", 864000);
    w_cell(S, t3, 1, "p", "a1", 1, "x", 100, 0);
    w_cell(S, t3, 1, "p", "b1", 1, "x", 100, 0);
    b = B();
    ck_assert_int_eq(bs_batch_delete_range(b, t3, 1, "p", 1, &s, &e, 150), 0);
    W(b);
    ck_assert_int_eq(atomic_load(&t3->hdr), BS__HDR_RT);
    ck_assert_int_eq(nrows_of(t3, "p", 0, "a1"), 0);
    ck_assert_int_eq(nrows_of(t3, "p", 0, "b1"), 1);
    ck_assert_int_eq(nrows_of(t3, "p", 1, NULL), 1);
    /* static rows: a cell, a cell deletion or a collection deletion */
    bs_table *t4 = open_table(S, "ks.st", 864000);
    w_cell(S, t4, 1, "p", "a1", 1, "x", 100, 0);
    bs_rowkey st = rk(1, "p", NULL);
    const char *statics[3] = {"put", "delete", "collection"};
    for (int i = 0; i < 3; i++) {
        bs_table *tx = i == 0 ? t4 : open_table(S, statics[i], 864000);
        b = B();
        int rc = i == 0 ? bs_batch_put_cell(b, tx, &st, 7, NULL, 0, "S", 1, 100, 0)
                 : i == 1 ? bs_batch_delete_cell(b, tx, &st, 7, NULL, 0, 100)
                          : bs_batch_delete_collection(b, tx, &st, 7, 100);
        ck_assert_int_eq(rc, 0);
        W(b);
        ck_assert_int_eq(atomic_load(&tx->hdr), BS__HDR_STATIC);
        ck_assert(hint_on_disk(statics[i], BS__HDR_STATIC) || i == 0);
    }
    ck_assert(hint_on_disk("ks.st", BS__HDR_STATIC));
    bs_arena a;
    bs_arena_init(&a, 0);
    bs_slice sl;
    memset(&sl, 0, sizeof sl);
    sl.with_static = 1;
    sl.start = sl.end = bnd(BS_BOUND_INCL, "a1");
    for (int rev = 0; rev < 2; rev++) {
        sl.reversed = rev;
        bs_partv *p = rd_part(t4, 1, "p", &sl, &a);
        ck_assert_int_eq(p->nrows, 1);
        ck_assert_ptr_nonnull(p->static_row);
        ck_assert_int_eq(p->static_row->cells[0].col, 7);
    }
    bs_arena_free(&a);
    /* dropping the table removes it; a new table of that name starts clear */
    ck_assert_int_eq(bs_store_table_drop(S, "ks.t"), 0);
    ck_assert(!hint_on_disk("ks.t", BS__HDR_PDEL) && !hint_on_disk("ks.t", BS__HDR_RT));
    bs_store_close(S);
    S = open_store();
    T = open_table(S, "ks.t", 864000);
    ck_assert_int_eq(atomic_load(&T->hdr), 0);
    ck_assert_int_eq(nrows_of(T, "p", 0, "a3"), 0);
    ck_assert_int_eq(bs_store_table_get(S, "ks.copy", &t2), 0);
    ck_assert_int_eq(atomic_load(&t2->hdr), BS__HDR_PDEL | BS__HDR_RT);
}
END_TEST

START_TEST(approx_sizes) {
    char val[1000];
    srand(3);
    for (int i = 0; i < 2000; i++) {
        for (size_t j = 0; j < sizeof val; j++) val[j] = (char)rand(); /* incompressible */
        char pk[16];
        snprintf(pk, sizeof pk, "k%d", i);
        /* tokens spread over [-1e6, 1e6) */
        int64_t tok = ((int64_t)(i * 7919 % 2000) - 1000) * 1000;
        bs_batch *b = B();
        bs_rowkey r = rk(tok, pk, "c");
        ck_assert_int_eq(bs_batch_put_cell(b, T, &r, 1, NULL, 0, val, sizeof val, 10, 0), 0);
        W(b);
    }
    ck_assert_int_eq(bs_store_flush(S, T), 0);
    uint64_t all = 0, half = 0, none = 0;
    ck_assert_int_eq(bs_store_approx_size(T, INT64_MIN, INT64_MIN, &all), 0);
    ck_assert_int_eq(bs_store_approx_size(T, -1, INT64_MAX, &half), 0);
    ck_assert_int_eq(bs_store_approx_size(T, 5000000, 6000000, &none), 0);
    ck_assert_uint_gt(all, 1500000); /* ~2 MB of random values */
    ck_assert_uint_gt(half, all / 4);
    ck_assert_uint_lt(half, all);
    ck_assert_uint_lt(none, all / 10);
}
END_TEST

START_TEST(corruption_is_reported) {
    bs_log_set_level(BS_LOG_OFF); /* hundreds of expected error lines */
    w_cell(S, T, 42, "pk", "ck", 1, "good", 10, 0);
    /* damage a value: overwrite with garbage through the raw hook */
    bs_buf k = BS_BUF_INIT;
    bs_rowkey r = rk(42, "pk", "ck");
    ck_assert_int_eq(bs__key_slot(&k, &r, BS__S_COL, 1, BS__C_SIMPLE, NULL, 0), 0);
    ck_assert_int_eq(bs__raw_put(T, k.data, k.len, "garbage-bytes-garbage-bytes", 27), 0);
    bs_arena a;
    bs_arena_init(&a, 0);
    bs_partv *p;
    ck_assert_int_eq(bs_store_read(T, 42, "pk", 2, NULL, &a, &p), BS_ECORRUPT);
    const char *m = bs_store_errmsg();
    ck_assert_msg(strstr(m, "ks.t") != NULL, "%s", m);
    char hex[256];
    bs__hex(k.data, k.len, hex, sizeof hex);
    ck_assert_msg(strstr(m, hex) != NULL, "%s lacks %s", m, hex);
    /* the raw walk reports it too, and so does a scan */
    ck_assert_int_eq(bs_store_iterate_range(T, 0, 100, raw_cb, (int64_t[8]){0}), BS_ECORRUPT);
    /* a damaged key: valid-looking prefix with an impossible kind */
    bs_buf_reset(&k);
    bs__key_part_prefix(&k, 43, "pk", 2);
    bs_buf_append_u8(&k, 0x77);
    ck_assert_int_eq(bs__raw_put(T, k.data, k.len, "zz", 2), 0);
    ck_assert_int_eq(bs_store_iterate_range(T, 42, 43, raw_cb, (int64_t[8]){0}), BS_ECORRUPT);
    ck_assert_ptr_nonnull(strstr(bs_store_errmsg(), "bad key"));
    /* a short key (garbage) */
    ck_assert_int_eq(bs__raw_put(T, "\x80\x00\x00\x00\x00\x00\x00\x2c\xff", 9, "zz", 2), 0);
    ck_assert_int_eq(bs_store_iterate_range(T, 43, 44, raw_cb, (int64_t[8]){0}), BS_ECORRUPT);
    /* fuzz: random garbage values under a valid key never crash */
    srand(7);
    for (int i = 0; i < 200; i++) {
        uint8_t g[40];
        size_t n = (size_t)(rand() % 40);
        for (size_t j = 0; j < n; j++) g[j] = (uint8_t)rand();
        bs_buf_reset(&k);
        bs_rowkey r2 = rk(50, "pk", "ck");
        bs__key_slot(&k, &r2, BS__S_MARKER, 0, 0, NULL, 0);
        ck_assert_int_eq(bs__raw_put(T, k.data, k.len, g, n), 0);
        ck_assert_int_eq(bs_store_read(T, 50, "pk", 2, NULL, &a, &p), BS_ECORRUPT);
    }
    /* a valid write over the damage heals the cell (LWW merge ignores the
     * undecodable base) */
    bs_batch *b = B();
    bs_rowkey r2 = rk(50, "pk", "ck");
    ck_assert_int_eq(bs_batch_row_marker(b, T, &r2, 10, 0), 0);
    W(b);
    ck_assert_int_eq(bs_store_read(T, 50, "pk", 2, NULL, &a, &p), 0);
    ck_assert_int_eq(p->nrows, 1);
    /* compaction keeps damaged records instead of failing */
    ck_assert_int_eq(bs_store_flush(S, T), 0);
    ck_assert_int_eq(bs_store_compact(T), 0);
    ck_assert_int_eq(bs_store_read(T, 42, "pk", 2, NULL, &a, &p), BS_ECORRUPT);
    bs_buf_free(&k);
    bs_arena_free(&a);
}
END_TEST

START_TEST(periodic_mode_syncs) {
    bs_store_close(S);
    bs_store_opts o;
    bs_store_opts_default(&o);
    o.clock = &g_clock;
    o.periodic_sync_ms = 5;
    S = open_store_opts(&o);
    ck_assert_int_eq(bs_store_table_get(S, "ks.t", &T), 0);
    w_cell(S, T, 1, "p", "c", 1, "v", 10, 0);
    ck_assert_int_eq(bs_store_sync(S), 0);
    usleep(20000); /* let the sync thread run a few rounds (no assertion on time) */
    bs_store_close(S);
    o.durability = BS_DURABILITY_BATCH;
    S = open_store_opts(&o);
    ck_assert_int_eq(bs_store_table_get(S, "ks.t", &T), 0);
    bs_arena a;
    bs_arena_init(&a, 0);
    ck_assert_str_eq(cellval(rd_part(T, 1, "p", NULL, &a), "c", 1), "v");
    bs_arena_free(&a);
}
END_TEST

/* One cell through bs_store_write_grouped. */
static void wg_cell(int64_t tok, const char *pk, const char *ck, uint16_t col, const char *val,
                    int64_t ts) {
    bs_batch *b = B();
    bs_rowkey r = rk(tok, pk, ck);
    ck_assert_int_eq(bs_batch_put_cell(b, T, &r, col, NULL, 0, val, strlen(val), ts, 0), 0);
    ck_assert_msg(bs_store_write_grouped(S, b) == 0, "%s", bs_store_errmsg());
    bs_batch_free(b);
}

/* bs_store_defer_*: grouped writes are invisible until the commit applies
 * them as one write; LWW still decides; a batch that must be written
 * directly (a header hint, or plain bs_store_write) first applies what is
 * queued (order kept); BATCH durability ignores scopes. */
START_TEST(defer_scope_groups_writes) {
    bs_arena a;
    bs_arena_init(&a, 0);
    ck_assert_int_eq(bs_store_defer_commit(), 0); /* no scope: nothing to do */
    bs_store_defer_begin(S);
    wg_cell(1, "p1", "c", 1, "a", 10);
    wg_cell(2, "p2", "c", 1, "b", 10);
    wg_cell(1, "p1", "c", 2, "x", 20);
    wg_cell(1, "p1", "c", 2, "y", 15); /* older: loses */
    bs_batch *bad = B();
    bs_rowkey r = rk(1, "p1", "c");
    ck_assert_int_eq(bs_batch_put_cell(bad, T, &r, 3, NULL, 0, "z", 1, 10, -1), BS_ERANGE);
    ck_assert_int_eq(bs_store_write_grouped(S, bad), BS_EPOISONED); /* not queued */
    bs_batch_free(bad);
    ck_assert_int_eq(rd_part(T, 1, "p1", NULL, &a)->nrows, 0);
    ck_assert_int_eq(rd_part(T, 2, "p2", NULL, &a)->nrows, 0);
    ck_assert_int_eq(bs_store_defer_commit(), 0);
    ck_assert_str_eq(cellval(rd_part(T, 1, "p1", NULL, &a), "c", 1), "a");
    ck_assert_str_eq(cellval(rd_part(T, 1, "p1", NULL, &a), "c", 2), "x");
    ck_assert_ptr_null(cellval(rd_part(T, 1, "p1", NULL, &a), "c", 3));
    ck_assert_str_eq(cellval(rd_part(T, 2, "p2", NULL, &a), "c", 1), "b");
    /* the table's first partition deletion carries a header hint, so its
     * batch is written directly - after the queued cell, which it shadows */
    bs_store_defer_begin(S);
    wg_cell(4, "p4", "c", 1, "q", 10);
    wg_cell(5, "p5", "c", 1, "old", 10);
    bs_batch *b = B();
    ck_assert_int_eq(bs_batch_delete_partition(b, T, 5, "p5", 2, 30), 0);
    ck_assert_int_eq(bs_store_write_grouped(S, b), 0);
    bs_batch_free(b);
    ck_assert_str_eq(cellval(rd_part(T, 4, "p4", NULL, &a), "c", 1), "q");
    ck_assert_int_eq(rd_part(T, 5, "p5", NULL, &a)->nrows, 0);
    /* a plain write in the scope: the queued one first, then itself */
    wg_cell(7, "p7", "c", 1, "queued", 10);
    w_cell(S, T, 8, "p8", "c", 1, "direct", 10, 0);
    ck_assert_str_eq(cellval(rd_part(T, 7, "p7", NULL, &a), "c", 1), "queued");
    ck_assert_str_eq(cellval(rd_part(T, 8, "p8", NULL, &a), "c", 1), "direct");
    ck_assert_int_eq(bs_store_defer_commit(), 0);
    ck_assert_int_eq(rd_part(T, 5, "p5", NULL, &a)->nrows, 0);
    /* committed writes survive a reopen */
    bs_store_close(S);
    S = open_store();
    ck_assert_int_eq(bs_store_table_get(S, "ks.t", &T), 0);
    ck_assert_str_eq(cellval(rd_part(T, 1, "p1", NULL, &a), "c", 2), "x");
    ck_assert_str_eq(cellval(rd_part(T, 4, "p4", NULL, &a), "c", 1), "q");
    /* BATCH durability: no scope, every write applied at once */
    bs_store_close(S);
    bs_store_opts o;
    bs_store_opts_default(&o);
    o.clock = &g_clock;
    o.durability = BS_DURABILITY_BATCH;
    S = open_store_opts(&o);
    ck_assert_int_eq(bs_store_table_get(S, "ks.t", &T), 0);
    bs_store_defer_begin(S);
    wg_cell(6, "p6", "c", 1, "now", 10);
    ck_assert_str_eq(cellval(rd_part(T, 6, "p6", NULL, &a), "c", 1), "now");
    ck_assert_int_eq(bs_store_defer_commit(), 0);
    bs_arena_free(&a);
}
END_TEST

/* How many of the process's RocksDB background threads run SCHED_IDLE and
 * how many SCHED_OTHER; every SCHED_OTHER one must be at nice 5. */
typedef struct classes {
    int idle, other, bad;
} classes;

static void count_class(pid_t tid, void *ud) {
    classes *c = ud;
    int pol = sched_getscheduler(tid);
    if (pol == SCHED_IDLE) c->idle++;
    else if (pol == SCHED_OTHER && getpriority(PRIO_PROCESS, (id_t)tid) == 5) c->other++;
    else c->bad++;
}

static void rocks_threads(int *idle, int *other) {
    classes c = {0, 0, 0};
    bs__rocks_threads(count_class, &c);
    ck_assert_int_eq(c.bad, 0);
    *idle = c.idle;
    *other = c.other;
}

/* Polls (up to 10 s) until the store reports `behind`. */
static void wait_behind(int behind) {
    bs_store_bg st;
    for (int i = 0; i < 1000; i++) {
        bs_store_bg_state(S, &st);
        if (st.behind == behind) return;
        usleep(10000);
    }
    ck_abort_msg("store never became %s", behind ? "behind" : "caught up");
}

/* Flushes and compactions use idle CPU while the store keeps up and go
 * back to normal priority (nice 5) while L0 files pile up. */
/* The memory RocksDB accounts for (/metrics, scripts/soak): writes fill
 * the memtables, a flush empties them, reading the flushed file fills the
 * block cache, and the cache's capacity is the configured one. */
START_TEST(memory_accounting_follows_writes_flushes_reads) {
    bs_store_mem m0, m1, m2, m3;
    bs_store_mem_get(S, &m0);
    ck_assert_uint_eq(m0.block_cache_capacity, 8u << 20); /* open_store() */
    char val[1024];
    memset(val, 'x', sizeof val - 1);
    val[sizeof val - 1] = 0;
    for (int i = 0; i < 200; i++) {
        char pk[16];
        snprintf(pk, sizeof pk, "p%d", i);
        w_cell(S, T, i, pk, "c", 1, val, 10, 0);
    }
    bs_store_mem_get(S, &m1);
    ck_assert_uint_ge(m1.mem_tables_cur, m0.mem_tables_cur + 200 * 1024);
    ck_assert_uint_ge(m1.mem_tables_all, m1.mem_tables_cur);
    ck_assert_int_eq(bs_store_flush(S, T), 0);
    bs_store_mem_get(S, &m2);
    ck_assert_uint_lt(m2.mem_tables_cur, m1.mem_tables_cur - 200 * 1024);
    bs_arena a;
    bs_arena_init(&a, 0);
    for (int i = 0; i < 200; i++) {
        char pk[16];
        snprintf(pk, sizeof pk, "p%d", i);
        ck_assert_ptr_nonnull(cellval(rd_part(T, i, pk, NULL, &a), "c", 1));
        bs_arena_reset(&a);
    }
    bs_arena_free(&a);
    bs_store_mem_get(S, &m3);
    ck_assert_uint_ge(m3.block_cache, m2.block_cache + 100 * 1024);
    ck_assert_uint_le(m3.block_cache, m3.block_cache_capacity);
}
END_TEST

/* Index and filter blocks of 20,000 rows: inside the block cache by
 * default (the readers themselves hold almost nothing), outside it with
 * storage_cache_index_and_filter_blocks: false (the same files reopened). */
static uint64_t readers_after_reads(int outside) {
    bs_store_close(S);
    bs_store_opts o;
    bs_store_opts_default(&o);
    o.clock = &g_clock;
    o.index_filter_outside_cache = outside;
    S = open_store_opts(&o);
    ck_assert_int_eq(bs_store_table_get(S, "ks.t", &T), 0);
    bs_arena a;
    bs_arena_init(&a, 0);
    for (int i = 0; i < 20000; i += 997) {
        char pk[16];
        snprintf(pk, sizeof pk, "p%d", i);
        ck_assert_ptr_nonnull(cellval(rd_part(T, i, pk, NULL, &a), "c", 1));
        bs_arena_reset(&a);
    }
    bs_arena_free(&a);
    bs_store_mem m;
    bs_store_mem_get(S, &m);
    return m.table_readers;
}

START_TEST(index_and_filter_blocks_in_the_cache_unless_asked) {
    for (int i = 0; i < 20000; i++) {
        char pk[16];
        snprintf(pk, sizeof pk, "p%d", i);
        w_cell(S, T, i, pk, "c", 1, "v", 10, 0);
    }
    ck_assert_int_eq(bs_store_flush(S, T), 0);
    uint64_t inside = readers_after_reads(0), outside = readers_after_reads(1);
    ck_assert_uint_gt(outside, inside + 20000); /* >= 1 byte of filter a row */
}
END_TEST

START_TEST(background_priority_follows_backlog) {
    bs_store_bg st;
    int idle, other;
    bs_store_bg_state(S, &st);
    ck_assert_int_eq(st.behind, 0);
    rocks_threads(&idle, &other);
    ck_assert_int_gt(idle + other, 0);
    if (!st.idle_allowed) { /* cannot leave SCHED_IDLE: never entered */
        ck_assert_int_eq(idle, 0);
        return;
    }
    ck_assert_int_eq(other, 0);
    /* auto compactions are off in these tests: every flush adds an L0 file */
    for (int i = 0; i < 8; i++) {
        char pk[16];
        snprintf(pk, sizeof pk, "p%d", i);
        w_cell(S, T, i, pk, "c", 1, "v", 10, 0);
        ck_assert_int_eq(bs_store_flush(S, T), 0);
    }
    wait_behind(1);
    rocks_threads(&idle, &other);
    ck_assert_int_eq(idle, 0);
    bs_store_bg_state(S, &st);
    ck_assert_uint_eq(st.switches, 1);
    ck_assert_int_eq(bs_store_compact(T), 0);
    wait_behind(0);
    rocks_threads(&idle, &other);
    ck_assert_int_eq(other, 0);
    bs_store_bg_state(S, &st);
    ck_assert_uint_eq(st.switches, 2);
}
END_TEST

/* What runs and what waits, as /metrics shows it: L0 files past the
 * compaction trigger are pending work until a compaction merges them. */
START_TEST(background_activity_is_reported) {
    bs_store_bg st;
    bs_store_bg_state(S, &st);
    ck_assert_int_eq(st.flushes_running + st.compactions_running, 0);
    ck_assert_int_eq(st.flushes_pending + st.compactions_pending, 0);
    ck_assert_uint_eq(st.pending_compaction_bytes, 0);
    /* auto compactions are off in these tests: every flush adds an L0 file */
    for (int i = 0; i < 6; i++) {
        char pk[16];
        snprintf(pk, sizeof pk, "a%d", i);
        w_cell(S, T, i, pk, "c", 1, "v", 10, 0);
        ck_assert_int_eq(bs_store_flush(S, T), 0);
    }
    bs_store_bg_state(S, &st);
    ck_assert_uint_gt(st.pending_compaction_bytes, 0);
    ck_assert_int_eq(st.flushes_pending, 0); /* the flushes waited for */
    ck_assert_int_eq(bs_store_compact(T), 0);
    bs_store_bg_state(S, &st);
    ck_assert_uint_eq(st.pending_compaction_bytes, 0);
    ck_assert_int_eq(st.compactions_pending, 0);
    /* the manual compaction's job is counted until its clean-up is done,
     * a moment after CompactRange returned */
    for (int i = 0; i < 500 && st.compactions_running; i++) {
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
        bs_store_bg_state(S, &st);
    }
    ck_assert_int_eq(st.compactions_running, 0);
}
END_TEST

int main(void) {
    Suite *s = suite_create("storage_store");
    TCase *tc = tcase_create("store");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, tables_reopen_and_drop);
    tcase_add_test(tc, table_list_and_truncate);
    tcase_add_test(tc, batch_is_atomic_across_tables);
    tcase_add_test(tc, cell_and_row_shadowing);
    tcase_add_test(tc, range_and_partition_shadowing);
    tcase_add_test(tc, collections);
    tcase_add_test(tc, ttl_expiry);
    tcase_add_test(tc, raw_ranges_and_apply);
    tcase_add_test(tc, header_hint);
    tcase_add_test(tc, approx_sizes);
    tcase_add_test(tc, corruption_is_reported);
    tcase_add_test(tc, periodic_mode_syncs);
    tcase_add_test(tc, defer_scope_groups_writes);
    tcase_add_test(tc, background_priority_follows_backlog);
    tcase_add_test(tc, memory_accounting_follows_writes_flushes_reads);
    tcase_add_test(tc, index_and_filter_blocks_in_the_cache_unless_asked);
    tcase_add_test(tc, background_activity_is_reported);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
