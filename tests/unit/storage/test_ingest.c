/*
 * test_ingest.c - raw records loaded through SST files (storage/ingest.c,
 * bs_store_sst_*): what a streamed range does on the receiving side.
 *
 * Covers: ingested records merge by LWW with what the table holds (an
 * older streamed value never overwrites a newer write; a newer one
 * wins); a record that needs a batch (partition deletion) is refused with
 * BS_ENOTSUP and nothing of it lands; a key not above the previous one
 * (a wrapping range's second piece) starts another file instead of
 * failing; no ingest-*.sst is left behind; a writer freed without ingest
 * loads nothing; a corrupt record is refused.
 */
#include <dirent.h>

#include "storetest.h"

#define MAXREC 64

typedef struct recs {
    uint8_t *k[MAXREC], *v[MAXREC];
    size_t kl[MAXREC], vl[MAXREC];
    size_t n;
} recs;

static int collect(void *ud, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl) {
    recs *r = ud;
    ck_assert_uint_lt(r->n, MAXREC);
    r->k[r->n] = malloc(kl);
    r->v[r->n] = malloc(vl);
    memcpy(r->k[r->n], k, kl);
    memcpy(r->v[r->n], v, vl);
    r->kl[r->n] = kl;
    r->vl[r->n++] = vl;
    return 0;
}

static void recs_free(recs *r) {
    for (size_t i = 0; i < r->n; i++) {
        free(r->k[i]);
        free(r->v[i]);
    }
}

static int leftover_files(void) {
    DIR *d = opendir(g_dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        n += !strncmp(e->d_name, "ingest-", 7);
    if (d) closedir(d);
    return n;
}

static const char *val_of(bs_table *t, int64_t tok, const char *pk, bs_arena *a) {
    bs_slice sl;
    memset(&sl, 0, sizeof sl);
    bs_partv *p = rd_part(t, tok, pk, &sl, a);
    return p ? cellval(p, "r", 1) : NULL;
}

START_TEST(sst_merges_by_lww) {
    setup_common();
    bs_store *s = open_store();
    bs_table *src = open_table(s, "ks.src", 864000), *dst = open_table(s, "ks.dst", 864000);
    w_cell(s, src, 10, "a", "r", 1, "old-a", 100, 0);
    w_cell(s, src, 20, "b", "r", 1, "old-b", 100, 0);
    w_cell(s, src, 30, "c", "r", 1, "new-c", 300, 0);
    w_cell(s, dst, 20, "b", "r", 1, "newer-b", 200, 0);
    w_cell(s, dst, 30, "c", "r", 1, "older-c", 200, 0);
    recs r = {0};
    ck_assert_int_ge(bs_store_iterate_range(src, INT64_MIN, INT64_MAX, collect, &r), 0);
    ck_assert_uint_eq(r.n, 3);
    bs_store_sst *w;
    ck_assert_int_eq(bs_store_sst_new(dst, &w), 0);
    for (size_t i = 0; i < r.n; i++)
        ck_assert_int_eq(bs_store_sst_add(w, r.k[i], r.kl[i], r.v[i], r.vl[i]), 0);
    /* the first record again: out of order, so a second file */
    ck_assert_int_eq(bs_store_sst_add(w, r.k[0], r.kl[0], r.v[0], r.vl[0]), 0);
    /* nothing visible before the ingestion */
    bs_arena a;
    bs_arena_init(&a, 0);
    ck_assert_ptr_null(val_of(dst, 10, "a", &a));
    ck_assert_int_eq(bs_store_sst_ingest(w), 0);
    bs_store_sst_free(w);
    ck_assert_str_eq(val_of(dst, 10, "a", &a), "old-a");
    ck_assert_str_eq(val_of(dst, 20, "b", &a), "newer-b"); /* kept: newer */
    ck_assert_str_eq(val_of(dst, 30, "c", &a), "new-c");   /* streamed: newer */
    ck_assert_int_eq(leftover_files(), 0);
    bs_arena_free(&a);
    recs_free(&r);
    bs_store_close(s);
    teardown_common();
}
END_TEST

START_TEST(sst_refuses_what_needs_a_batch) {
    setup_common();
    bs_store *s = open_store();
    bs_table *src = open_table(s, "ks.src", 864000), *dst = open_table(s, "ks.dst", 864000);
    bs_batch *b;
    ck_assert_int_eq(bs_batch_new(s, &b), 0);
    ck_assert_int_eq(bs_batch_delete_partition(b, src, 40, "d", 1, 50), 0);
    ck_assert_int_eq(bs_store_write(s, b), 0);
    bs_batch_free(b);
    w_cell(s, src, 50, "e", "r", 1, "e", 100, 0);
    recs r = {0};
    ck_assert_int_ge(bs_store_iterate_range(src, INT64_MIN, INT64_MAX, collect, &r), 0);
    ck_assert_uint_eq(r.n, 2);
    bs_store_sst *w;
    ck_assert_int_eq(bs_store_sst_new(dst, &w), 0);
    ck_assert_int_eq(bs_store_sst_add(w, r.k[0], r.kl[0], r.v[0], r.vl[0]), BS_ENOTSUP);
    ck_assert_int_eq(bs_store_sst_add(w, r.k[1], r.kl[1], r.v[1], r.vl[1]), 0);
    /* a damaged value */
    r.v[1][r.vl[1] - 1] ^= 0x55;
    ck_assert_int_eq(bs_store_sst_add(w, r.k[1], r.kl[1], r.v[1], r.vl[1]), BS_ECORRUPT);
    /* freed without ingest: nothing lands, no file stays */
    bs_store_sst_free(w);
    bs_arena a;
    bs_arena_init(&a, 0);
    ck_assert_ptr_null(val_of(dst, 50, "e", &a));
    ck_assert_int_eq(leftover_files(), 0);
    bs_arena_free(&a);
    recs_free(&r);
    bs_store_close(s);
    teardown_common();
}
END_TEST

int main(void) {
    Suite *s = suite_create("ingest");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, sst_merges_by_lww);
    tcase_add_test(tc, sst_refuses_what_needs_a_batch);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
