/*
 * test_merkle.c - repair/merkle.c and repair/stream.c: leaf geometry
 * (partition of plain, wrapping and whole-ring ranges), trees built from
 * two stores (equal data -> equal roots; one changed value, timestamp,
 * tombstone or missing row -> exactly its leaf differs), depths that do
 * not compare, encode/decode and corrupt input, chunks streamed from one
 * store into another make their trees equal (idempotent, corrupt chunks
 * refused), record digests.
 */
#include <check.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/error.h"
#include "repair/merkle.h"
#include "repair/stream.h"

/* the batches' "now" (seconds), fixed per test in setup */
static int64_t g_now_s;
#define NOW_S g_now_s

static char g_dir[2][256];

static int rm_cb(const char *p, const struct stat *sb, int flag,
                 struct FTW *f) {
    (void)sb;
    (void)flag;
    (void)f;
    return remove(p);
}

static void setup(void) {
    g_now_s = (int64_t)time(NULL);
    for (int i = 0; i < 2; i++) {
        snprintf(g_dir[i], sizeof g_dir[i], "/tmp/bs_merkle_test_XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(g_dir[i]));
    }
}

static void teardown(void) {
    for (int i = 0; i < 2; i++)
        nftw(g_dir[i], rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static bs_store *open_store(int i, bs_table **t) {
    bs_store_opts o;
    bs_store_opts_default(&o);
    o.write_buffer_mb = 4;
    o.block_cache_mb = 8;
    bs_store *s = NULL;
    ck_assert_int_eq(bs_store_open(g_dir[i], &o, &s), 0);
    ck_assert_int_eq(bs_store_table_open(s, "ks.t", NULL, t), 0);
    return s;
}

static uint64_t g_rng = 88172645463325252ull;
static uint64_t rnd(void) {
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return g_rng;
}

/* token of partition i: spread over the whole ring, deterministic */
static int64_t tok_of(int i) {
    return (int64_t)((uint64_t)(i + 1) * 0x9E3779B97F4A7C15ull);
}

static void put(bs_store *s, bs_table *t, int i, const char *val, int64_t ts) {
    bs_batch *b;
    char pk[16];
    snprintf(pk, sizeof pk, "k%d", i);
    bs_rowkey rk = {tok_of(i), pk, strlen(pk), NULL, 0, 0};
    ck_assert_int_eq(bs_batch_new(s, &b), 0);
    /* one "now" for every replica, as the coordinator's: a tombstone's
     * local deletion time is part of the stored record */
    bs_batch_set_now(b, NOW_S);
    ck_assert_int_eq(
        bs_batch_put_cell(b, t, &rk, 16, NULL, 0, val, strlen(val), ts, 0), 0);
    ck_assert_int_eq(bs_store_write(s, b), 0);
    bs_batch_free(b);
}

static void del(bs_store *s, bs_table *t, int i, int64_t ts) {
    bs_batch *b;
    char pk[16];
    snprintf(pk, sizeof pk, "k%d", i);
    ck_assert_int_eq(bs_batch_new(s, &b), 0);
    /* one "now" for every replica, as the coordinator's: a tombstone's
     * local deletion time is part of the stored record */
    bs_batch_set_now(b, NOW_S);
    ck_assert_int_eq(
        bs_batch_delete_partition(b, t, tok_of(i), pk, strlen(pk), ts), 0);
    ck_assert_int_eq(bs_store_write(s, b), 0);
    bs_batch_free(b);
}

/* ---- geometry --------------------------------------------------------- */

static void check_partition(int64_t s, int64_t e, unsigned d) {
    bs_merkle *m;
    ck_assert_int_eq(bs_merkle_new(s, e, d, &m), 0);
    size_t n = bs_merkle_leaf_count(m);
    ck_assert_uint_eq(n, (size_t)1 << d);
    bs_merkle_range prev, r;
    for (size_t i = 0; i < n; i++) {
        ck_assert_int_eq(bs_merkle_leaf_range(m, i, &r), 0);
        if (i == 0)
            ck_assert_int_eq(r.start, s);
        else
            ck_assert_int_eq(r.start, prev.end); /* contiguous */
        ck_assert(r.start != r.end || n == 1);   /* non-empty */
        /* the end token belongs to leaf i, the token after start too */
        size_t l;
        ck_assert_int_eq(bs_merkle_leaf_of(m, r.end, &l), 0);
        ck_assert_uint_eq(l, i);
        ck_assert_int_eq(
            bs_merkle_leaf_of(m, (int64_t)((uint64_t)r.start + 1), &l), 0);
        ck_assert_uint_eq(l, i);
        prev = r;
    }
    ck_assert_int_eq(prev.end, e);
    /* random tokens land in the leaf whose range holds them */
    for (int k = 0; k < 2000; k++) {
        int64_t t = (int64_t)rnd();
        size_t l;
        int rc = bs_merkle_leaf_of(m, t, &l);
        uint64_t off = (uint64_t)t - (uint64_t)s, w = (uint64_t)e - (uint64_t)s;
        int inside = (s == e) || (off >= 1 && off <= w);
        if (!inside) {
            ck_assert_int_eq(rc, BS_ERANGE);
            continue;
        }
        ck_assert_int_eq(rc, 0);
        ck_assert_int_eq(bs_merkle_leaf_range(m, l, &r), 0);
        uint64_t o2 = (uint64_t)t - (uint64_t)r.start,
                 w2 = (uint64_t)r.end - (uint64_t)r.start;
        ck_assert(o2 >= 1 && o2 <= w2);
    }
    bs_merkle_free(m);
}

START_TEST(test_geometry) {
    check_partition(-100, 100, 3);                     /* plain */
    check_partition(INT64_MAX - 10, INT64_MIN + 5, 2); /* wraps, width 16 */
    check_partition(5, 5, 8);                          /* whole ring */
    check_partition(INT64_MIN, INT64_MAX, 16);
    check_partition(1000, -1000, 10); /* wraps, wide */
    check_partition(0, 1, 0);
    bs_merkle *m;
    ck_assert_int_eq(bs_merkle_new(0, 1, BS_MERKLE_MAX_DEPTH + 1, &m),
                     BS_EINVAL);
    ck_assert_uint_eq(bs_merkle_depth_for(0), 0);
    ck_assert_uint_eq(bs_merkle_depth_for(1000), 10);
    ck_assert_uint_eq(bs_merkle_depth_for(1ull << 40), BS_MERKLE_MAX_DEPTH);
}
END_TEST

/* ---- trees from stores ------------------------------------------------ */

#define NROWS 500

static void fill_both(bs_store *s[2], bs_table *t[2]) {
    for (int i = 0; i < NROWS; i++)
        for (int k = 0; k < 2; k++)
            put(s[k], t[k], i, "value", 1000 + i);
}

static void expect_single_diff(bs_table *t[2], int64_t start, int64_t end,
                               int row) {
    bs_merkle *a, *b;
    ck_assert_int_eq(bs_merkle_build(t[0], start, end, 10, &a), 0);
    ck_assert_int_eq(bs_merkle_build(t[1], start, end, 10, &b), 0);
    ck_assert(bs_merkle_root(a) != bs_merkle_root(b));
    size_t *lv, n;
    ck_assert_int_eq(bs_merkle_diff(a, b, &lv, &n), 0);
    ck_assert_uint_eq(n, 1);
    size_t want;
    ck_assert_int_eq(bs_merkle_leaf_of(a, tok_of(row), &want), 0);
    ck_assert_uint_eq(lv[0], want);
    bs_merkle_range *rg;
    size_t nr;
    ck_assert_int_eq(bs_merkle_leaves_to_ranges(a, lv, n, &rg, &nr), 0);
    ck_assert_uint_eq(nr, 1);
    uint64_t o = (uint64_t)tok_of(row) - (uint64_t)rg[0].start;
    ck_assert(o >= 1 && o <= (uint64_t)rg[0].end - (uint64_t)rg[0].start);
    free(rg);
    free(lv);
    bs_merkle_free(a);
    bs_merkle_free(b);
}

START_TEST(test_build_equal_and_diff) {
    bs_store *s[2];
    bs_table *t[2];
    for (int k = 0; k < 2; k++)
        s[k] = open_store(k, &t[k]);
    fill_both(s, t);
    bs_merkle *a, *b;
    ck_assert_int_eq(bs_merkle_build(t[0], 0, 0, 10, &a), 0);
    ck_assert_int_eq(bs_merkle_build(t[1], 0, 0, 10, &b), 0);
    ck_assert_uint_eq(bs_merkle_rows(a), NROWS);
    ck_assert(bs_merkle_root(a) != 0);
    ck_assert(bs_merkle_root(a) == bs_merkle_root(b));
    size_t *lv, n;
    ck_assert_int_eq(bs_merkle_diff(a, b, &lv, &n), 0);
    ck_assert_uint_eq(n, 0);
    ck_assert_ptr_null(lv);
    bs_merkle_free(a);
    bs_merkle_free(b);

    /* same value, newer timestamp on one side */
    put(s[1], t[1], 7, "value", 5000);
    expect_single_diff(t, 0, 0, 7);
    put(s[0], t[0], 7, "value", 5000);
    /* different value, same timestamp */
    put(s[0], t[0], 42, "zother", 1000 + 42); /* greater value wins the tie */
    expect_single_diff(t, INT64_MIN, INT64_MAX, 42);
    put(s[1], t[1], 42, "zother", 1000 + 42);
    /* a tombstone on one side */
    del(s[1], t[1], 99, 9000);
    expect_single_diff(t, 0, 0, 99);
    del(s[0], t[0], 99, 9000);
    /* a row only one side has, in a sub-range around it */
    put(s[0], t[0], NROWS + 3, "new", 7000);
    int64_t tk = tok_of(NROWS + 3);
    expect_single_diff(t, (int64_t)((uint64_t)tk - 1000000),
                       (int64_t)((uint64_t)tk + 1000000), NROWS + 3);
    put(s[1], t[1], NROWS + 3, "new", 7000);
    ck_assert_int_eq(bs_merkle_build(t[0], 0, 0, 6, &a), 0);
    ck_assert_int_eq(bs_merkle_build(t[1], 0, 0, 6, &b), 0);
    ck_assert(bs_merkle_root(a) == bs_merkle_root(b));
    ck_assert_uint_eq(bs_merkle_rows(a), bs_merkle_rows(b));
    bs_merkle_free(a);
    bs_merkle_free(b);
    for (int k = 0; k < 2; k++)
        bs_store_close(s[k]);
}
END_TEST

START_TEST(test_depth_and_codec) {
    bs_store *s[2];
    bs_table *t[2];
    s[0] = open_store(0, &t[0]);
    for (int i = 0; i < 300; i++)
        put(s[0], t[0], i, "v", 1 + i);
    bs_merkle *deep, *shallow;
    ck_assert_int_eq(bs_merkle_build(t[0], -5, -5, 12, &deep), 0);
    ck_assert_int_eq(bs_merkle_build(t[0], -5, -5, 5, &shallow), 0);
    ck_assert_uint_eq(bs_merkle_rows(shallow), 300);
    /* trees of different depths do not compare */
    size_t *lv, n;
    ck_assert_int_eq(bs_merkle_diff(deep, shallow, &lv, &n), BS_EINVAL);

    bs_buf b = BS_BUF_INIT;
    ck_assert_int_eq(bs_merkle_encode(deep, &b), 0);
    ck_assert_uint_eq(b.len, 34 + 8 * 4096);
    bs_merkle *back;
    ck_assert_int_eq(bs_merkle_decode(b.data, b.len, &back), 0);
    ck_assert(bs_merkle_root(back) == bs_merkle_root(deep));
    ck_assert_uint_eq(bs_merkle_rows(back), 300);
    ck_assert_int_eq(bs_merkle_diff(back, deep, &lv, &n), 0);
    ck_assert_uint_eq(n, 0);
    bs_merkle_free(back);
    /* corrupt inputs: short, bad version, bad depth, wrong length */
    ck_assert_int_eq(bs_merkle_decode(b.data, 10, &back), BS_ECORRUPT);
    ck_assert_int_eq(bs_merkle_decode(b.data, b.len - 1, &back), BS_ECORRUPT);
    b.data[0] = 2;
    ck_assert_int_eq(bs_merkle_decode(b.data, b.len, &back), BS_ECORRUPT);
    b.data[0] = 1;
    b.data[1] = 40;
    ck_assert_int_eq(bs_merkle_decode(b.data, b.len, &back), BS_ECORRUPT);
    b.data[1] = 11;
    ck_assert_int_eq(bs_merkle_decode(b.data, b.len, &back), BS_ECORRUPT);
    /* a flipped leaf decodes, and differs in exactly that leaf */
    b.data[1] = 12;
    b.data[34 + 8 * 77 + 3] ^= 0x10;
    ck_assert_int_eq(bs_merkle_decode(b.data, b.len, &back), 0);
    ck_assert_int_eq(bs_merkle_diff(back, deep, &lv, &n), 0);
    ck_assert_uint_eq(n, 1);
    ck_assert_uint_eq(lv[0], 77);
    free(lv);
    bs_merkle_free(back);
    bs_buf_free(&b);
    bs_merkle_free(deep);
    bs_merkle_free(shallow);
    bs_store_close(s[0]);
}
END_TEST

START_TEST(test_diff_ranges_coalesce) {
    bs_merkle *a, *b;
    ck_assert_int_eq(bs_merkle_new(0, 1600, 4, &a),
                     0); /* leaves of width 100 */
    ck_assert_int_eq(bs_merkle_new(0, 1600, 4, &b), 0);
    const int64_t toks[] = {150, 250, 260, 1550};
    for (size_t i = 0; i < 4; i++)
        ck_assert_int_eq(bs_merkle_add(a, toks[i], "k", 1, "v", 1), 0);
    ck_assert_int_eq(bs_merkle_add(a, 1601, "k", 1, "v", 1), BS_ERANGE);
    ck_assert_int_eq(bs_merkle_add(a, 0, "k", 1, "v", 1), BS_ERANGE);
    bs_merkle_finish(a);
    bs_merkle_finish(b);
    size_t *lv, n;
    ck_assert_int_eq(bs_merkle_diff(a, b, &lv, &n), 0);
    ck_assert_uint_eq(n, 3);
    ck_assert_uint_eq(lv[0], 1);
    ck_assert_uint_eq(lv[1], 2);
    ck_assert_uint_eq(lv[2], 15);
    bs_merkle_range *r;
    size_t nr;
    ck_assert_int_eq(bs_merkle_leaves_to_ranges(a, lv, n, &r, &nr), 0);
    ck_assert_uint_eq(nr, 2);
    ck_assert_int_eq(r[0].start, 100);
    ck_assert_int_eq(r[0].end, 300);
    ck_assert_int_eq(r[1].start, 1500);
    ck_assert_int_eq(r[1].end, 1600);
    free(r);
    free(lv);
    bs_merkle_free(a);
    bs_merkle_free(b);
}
END_TEST

/* ---- streaming -------------------------------------------------------- */

typedef struct chunker {
    bs_stream_chunk c;
    bs_store *dst;
    bs_table *t;
    uint64_t rows;
    int chunks;
} chunker;

static int flush_chunk(chunker *k) {
    ck_assert_int_eq(bs_stream_chunk_finish(&k->c), 0);
    uint64_t rows;
    ck_assert_int_eq(bs_stream_chunk_apply(k->dst, k->t, k->c.b.data,
                                           k->c.b.len, &rows, NULL),
                     0);
    ck_assert_uint_eq(rows, k->c.count);
    k->rows += rows;
    k->chunks++;
    bs_stream_chunk_reset(&k->c);
    return 0;
}

static int chunk_cb(void *ud, const uint8_t *key, size_t klen,
                    const uint8_t *val, size_t vlen) {
    chunker *k = ud;
    ck_assert_int_eq(bs_stream_chunk_add(&k->c, key, klen, val, vlen), 0);
    if (k->c.b.len > 2048) flush_chunk(k);
    return 0;
}

START_TEST(test_stream_chunks) {
    bs_store *s[2];
    bs_table *t[2];
    for (int k = 0; k < 2; k++)
        s[k] = open_store(k, &t[k]);
    for (int i = 0; i < 400; i++)
        put(s[0], t[0], i, "payload-0123456789", 100 + i);
    for (int i = 0; i < 400; i += 5)
        del(s[0], t[0], i, 5000);
    /* the destination holds newer data for some rows: LWW must keep it */
    for (int i = 1; i < 400; i += 50)
        put(s[1], t[1], i, "newer", 9000);

    chunker k;
    memset(&k, 0, sizeof k);
    bs_stream_chunk_init(&k.c);
    k.dst = s[1];
    k.t = t[1];
    ck_assert_int_eq(bs_store_iterate_range(t[0], 0, 0, chunk_cb, &k), 0);
    if (k.c.count) flush_chunk(&k);
    ck_assert_int_ge(k.chunks, 2);
    ck_assert_uint_eq(k.rows,
                      400 + 80); /* 400 cells + 80 partition tombstones */

    /* dst = src + its 8 newer rows: trees differ in exactly those leaves */
    bs_merkle *a, *b;
    ck_assert_int_eq(bs_merkle_build(t[0], 0, 0, 12, &a), 0);
    ck_assert_int_eq(bs_merkle_build(t[1], 0, 0, 12, &b), 0);
    size_t *lv, n;
    ck_assert_int_eq(bs_merkle_diff(a, b, &lv, &n), 0);
    ck_assert_uint_eq(n, 8);
    free(lv);
    uint64_t root_b = bs_merkle_root(b);
    bs_merkle_free(b);

    /* the same chunk twice changes nothing; a corrupt one is refused */
    bs_stream_chunk_reset(&k.c);
    ck_assert_int_eq(bs_store_iterate_range(t[0], 0, 0, chunk_cb, &k), 0);
    ck_assert_int_eq(bs_stream_chunk_finish(&k.c), 0);
    ck_assert_int_eq(
        bs_stream_chunk_apply(s[1], t[1], k.c.b.data, k.c.b.len, NULL, NULL),
        0);
    k.c.b.data[12] ^= 1;
    ck_assert_int_eq(
        bs_stream_chunk_apply(s[1], t[1], k.c.b.data, k.c.b.len, NULL, NULL),
        BS_ECORRUPT);
    ck_assert_int_eq(
        bs_stream_chunk_apply(s[1], t[1], k.c.b.data, 7, NULL, NULL),
        BS_ECORRUPT);
    ck_assert_int_eq(bs_merkle_build(t[1], 0, 0, 12, &b), 0);
    ck_assert(bs_merkle_root(b) == root_b);
    bs_merkle_free(b);
    bs_merkle_free(a);

    /* a chunk whose count claims more records than it holds */
    bs_stream_chunk_reset(&k.c);
    ck_assert_int_eq(bs_stream_chunk_add(&k.c, "abc", 3, "def", 3), 0);
    k.c.count = 5;
    ck_assert_int_eq(bs_stream_chunk_finish(&k.c), 0);
    ck_assert_int_eq(
        bs_stream_chunk_apply(s[1], t[1], k.c.b.data, k.c.b.len, NULL, NULL),
        BS_ECORRUPT);
    bs_stream_chunk_free(&k.c);
    for (int j = 0; j < 2; j++)
        bs_store_close(s[j]);
}
END_TEST

START_TEST(test_digests) {
    bs_store *s[2];
    bs_table *t[2];
    for (int k = 0; k < 2; k++)
        s[k] = open_store(k, &t[k]);
    for (int i = 0; i < 100; i++) {
        put(s[0], t[0], i, "x", 10);
        put(s[1], t[1], i, i == 3 ? "y" : "x", 10);
    }
    int64_t st = 0, en = 0;
    bs_buf a = BS_BUF_INIT, b = BS_BUF_INIT;
    ck_assert_int_eq(bs_stream_digests_build(t[0], &st, &en, 1, &a), 0);
    ck_assert_int_eq(bs_stream_digests_build(t[1], &st, &en, 1, &b), 0);
    bs_stream_digest *da, *db;
    size_t na, nb;
    ck_assert_int_eq(bs_stream_digests_parse(a.data, a.len, &da, &na), 0);
    ck_assert_int_eq(bs_stream_digests_parse(b.data, b.len, &db, &nb), 0);
    ck_assert_uint_eq(na, 100);
    ck_assert_uint_eq(nb, 100);
    bs_stream_digests_sort(db, nb);
    size_t missing = 0;
    for (size_t i = 0; i < na; i++) {
        missing +=
            !bs_stream_digest_find(db, nb, da[i].key_hash, da[i].rec_hash);
        ck_assert_uint_gt(da[i].size, 0);
    }
    ck_assert_uint_eq(missing, 1);
    free(da);
    free(db);
    ck_assert_int_eq(bs_stream_digests_parse(a.data, 19, &db, &nb),
                     BS_ECORRUPT);
    ck_assert_ptr_null(db);
    bs_buf_free(&a);
    bs_buf_free(&b);
    for (int j = 0; j < 2; j++)
        bs_store_close(s[j]);
}
END_TEST

int main(void) {
    Suite *s = suite_create("merkle");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_geometry);
    tcase_add_test(tc, test_build_equal_and_diff);
    tcase_add_test(tc, test_depth_and_codec);
    tcase_add_test(tc, test_diff_ranges_coalesce);
    tcase_add_test(tc, test_stream_chunks);
    tcase_add_test(tc, test_digests);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int nf = srunner_ntests_failed(r);
    srunner_free(r);
    return nf ? 1 : 0;
}
