/*
 * test_gossip_schema.c - convergence of concurrent DDL: the per-keyspace /
 * per-table last-write-wins merge (bs_schema_merge, query/schema_merge.c)
 * that schema propagation (node/cluster/cluster.c) relies on, and the stamps and
 * tombstones it needs surviving encode/decode.
 */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "common/buf.h"
#include "common/error.h"
#include "query/schema.h"

static bs_type k_int = {.kind = BS_TYPE_INT};
static bs_type k_text = {.kind = BS_TYPE_VARCHAR};

static bs_schema *clone(const bs_schema *s) {
    bs_schema *c = bs_schema_clone(s);
    ck_assert_ptr_nonnull(c);
    return c;
}

static void mk_ks(bs_schema *s, const char *ks, int64_t now) {
    const char *k[] = {"replication_factor"}, *v[] = {"1"};
    char err[256];
    ck_assert_int_eq(bs_schema_create_keyspace(s, ks, "SimpleStrategy", 1, k, v,
                                               1, now, err, sizeof err),
                     0);
}

static void mk_table(bs_schema *s, const char *ks, const char *t,
                     const char *col, int64_t now) {
    bs_column_def d[2] = {{"k", &k_int, BS_COL_PARTITION_KEY, 0, 0},
                          {col, &k_text, BS_COL_REGULAR, -1, 0}};
    char err[256];
    ck_assert_int_eq(bs_schema_create_table(s, ks, t, NULL, d, 2, NULL, 0, now,
                                            err, sizeof err),
                     0);
}

static bs_schema *merge(const bs_schema *a, const bs_schema *b) {
    bs_schema *m = NULL;
    ck_assert_int_eq(bs_schema_merge(a, b, &m), 0);
    return m;
}

static int same_version(const bs_schema *a, const bs_schema *b) {
    bs_uuid x, y;
    bs_schema_version(a, &x);
    bs_schema_version(b, &y);
    return memcmp(x.b, y.b, 16) == 0;
}

/* merge is commutative and idempotent; returns merge(a, b) */
static bs_schema *check_merge(const bs_schema *a, const bs_schema *b) {
    bs_schema *ab = merge(a, b), *ba = merge(b, a);
    ck_assert(same_version(ab, ba));
    bs_schema *aba = merge(ab, a), *abb = merge(ab, b), *abab = merge(ab, ab);
    ck_assert(same_version(ab, aba));
    ck_assert(same_version(ab, abb));
    ck_assert(same_version(ab, abab));
    bs_schema_release(ba);
    bs_schema_release(aba);
    bs_schema_release(abb);
    bs_schema_release(abab);
    return ab;
}

START_TEST(concurrent_creates_both_survive) {
    bs_schema *base = bs_schema_new();
    mk_ks(base, "ks", 100);
    bs_schema *a = clone(base), *b = clone(base);
    mk_table(a, "ks", "ta", "v", 200);
    mk_table(b, "ks", "tb", "v", 201);
    mk_ks(b, "other", 202);
    ck_assert(!same_version(a, b));
    bs_schema *m = check_merge(a, b);
    ck_assert_ptr_nonnull(bs_schema_table(m, "ks", "ta"));
    ck_assert_ptr_nonnull(bs_schema_table(m, "ks", "tb"));
    ck_assert_ptr_nonnull(bs_schema_keyspace(m, "other"));
    ck_assert_ptr_nonnull(bs_schema_keyspace(m, "system")); /* built-ins kept */
    ck_assert_int_eq(bs_schema_timestamp(m), 202);
    /* the table ids are kept, not regenerated */
    ck_assert_mem_eq(bs_schema_table(m, "ks", "ta")->id.b,
                     bs_schema_table(a, "ks", "ta")->id.b, 16);
    bs_schema_release(m);
    bs_schema_release(a);
    bs_schema_release(b);
    bs_schema_release(base);
}
END_TEST

START_TEST(drop_beats_older_copy_and_newer_create_beats_drop) {
    bs_schema *base = bs_schema_new();
    mk_ks(base, "ks", 100);
    mk_table(base, "ks", "t", "v", 110);
    bs_schema *a = clone(base), *b = clone(base);
    char err[256];
    ck_assert_int_eq(bs_schema_drop_table(a, "ks", "t", 120, err, sizeof err),
                     0);
    ck_assert_int_eq(bs_schema_tombstone(a, "ks", "t"), 120);
    bs_schema *m = check_merge(a, b);
    ck_assert_ptr_null(bs_schema_table(m, "ks", "t")); /* not resurrected */
    ck_assert_int_eq(bs_schema_tombstone(m, "ks", "t"), 120);
    /* b re-creates it later: the new table wins over the tombstone */
    bs_schema *b2 = clone(m);
    mk_table(b2, "ks", "t", "w", 130);
    ck_assert_int_eq(bs_schema_tombstone(b2, "ks", "t"), 0);
    bs_schema *m2 = check_merge(a, b2);
    const bs_table_schema *t = bs_schema_table(m2, "ks", "t");
    ck_assert_ptr_nonnull(t);
    ck_assert_ptr_nonnull(bs_table_column(t, "w"));
    ck_assert_int_eq(t->ts_us, 130);
    bs_schema_release(m);
    bs_schema_release(m2);
    bs_schema_release(b2);
    bs_schema_release(a);
    bs_schema_release(b);
    bs_schema_release(base);
}
END_TEST

START_TEST(concurrent_alters_last_write_wins) {
    bs_schema *base = bs_schema_new();
    mk_ks(base, "ks", 100);
    mk_table(base, "ks", "t", "v", 110);
    bs_schema *a = clone(base), *b = clone(base);
    char err[256];
    ck_assert_int_eq(bs_schema_add_column(a, "ks", "t", "from_a", &k_int, 0,
                                          150, err, sizeof err),
                     0);
    ck_assert_int_eq(bs_schema_add_column(b, "ks", "t", "from_b", &k_int, 0,
                                          160, err, sizeof err),
                     0);
    bs_schema *m = check_merge(a, b);
    const bs_table_schema *t = bs_schema_table(m, "ks", "t");
    ck_assert_ptr_nonnull(bs_table_column(t, "from_b"));
    ck_assert_ptr_null(bs_table_column(t, "from_a"));
    /* a change made with a clock behind the object's stamp still wins
     * over what it was made on */
    bs_schema *c = clone(m);
    ck_assert_int_eq(bs_schema_add_column(c, "ks", "t", "late", &k_int, 0, 5,
                                          err, sizeof err),
                     0);
    ck_assert_int_eq(bs_schema_table(c, "ks", "t")->ts_us, 161);
    bs_schema *m2 = check_merge(m, c);
    ck_assert_ptr_nonnull(
        bs_table_column(bs_schema_table(m2, "ks", "t"), "late"));
    bs_schema_release(m2);
    bs_schema_release(c);
    bs_schema_release(m);
    bs_schema_release(a);
    bs_schema_release(b);
    bs_schema_release(base);
}
END_TEST

START_TEST(keyspace_drop_and_recreate) {
    bs_schema *base = bs_schema_new();
    mk_ks(base, "ks", 100);
    mk_table(base, "ks", "old", "v", 110);
    bs_schema *a = clone(base), *b = clone(base);
    char err[256];
    /* a drops the keyspace; b concurrently (earlier) adds a table to it */
    ck_assert_int_eq(bs_schema_drop_keyspace(a, "ks", 200, err, sizeof err), 0);
    mk_table(b, "ks", "racing", "v", 150);
    bs_schema *m = check_merge(a, b);
    ck_assert_ptr_null(bs_schema_keyspace(m, "ks"));
    ck_assert_int_eq(bs_schema_tombstone(m, "ks", NULL), 200);
    /* a re-creates it: b's stale tables of the old incarnation stay gone */
    mk_ks(a, "ks", 300);
    mk_table(a, "ks", "fresh", "v", 310);
    bs_schema *m2 = check_merge(a, b);
    ck_assert_ptr_nonnull(bs_schema_keyspace(m2, "ks"));
    ck_assert_ptr_nonnull(bs_schema_table(m2, "ks", "fresh"));
    ck_assert_ptr_null(bs_schema_table(m2, "ks", "old"));
    ck_assert_ptr_null(bs_schema_table(m2, "ks", "racing"));
    ck_assert_int_eq(bs_schema_tombstone(m2, "ks", NULL), 0);
    bs_schema_release(m);
    bs_schema_release(m2);
    bs_schema_release(a);
    bs_schema_release(b);
    bs_schema_release(base);
}
END_TEST

START_TEST(three_way_any_order_converges) {
    bs_schema *base = bs_schema_new();
    mk_ks(base, "ks", 100);
    bs_schema *x[3] = {clone(base), clone(base), clone(base)};
    char err[256];
    mk_table(x[0], "ks", "t0", "v", 200);
    mk_table(x[1], "ks", "t1", "v", 201);
    mk_table(x[1], "ks", "shared", "v1", 202);
    mk_table(x[2], "ks", "shared", "v2", 203); /* same name, later */
    ck_assert_int_eq(
        bs_schema_drop_table(x[1], "ks", "t1", 204, err, sizeof err), 0);
    bs_schema *l = merge(x[0], x[1]), *l2 = merge(l, x[2]);
    bs_schema *r = merge(x[2], x[0]), *r2 = merge(x[1], r);
    ck_assert(same_version(l2, r2));
    ck_assert_ptr_nonnull(bs_schema_table(l2, "ks", "t0"));
    ck_assert_ptr_null(bs_schema_table(l2, "ks", "t1"));
    ck_assert_ptr_nonnull(
        bs_table_column(bs_schema_table(l2, "ks", "shared"), "v2"));
    /* and it survives encode/decode with the same version */
    bs_buf b = BS_BUF_INIT;
    ck_assert_int_eq(bs_schema_encode(l2, &b), 0);
    bs_schema *d = NULL;
    ck_assert_int_eq(bs_schema_decode(b.data, b.len, &d, err, sizeof err), 0);
    ck_assert(same_version(d, l2));
    ck_assert_int_eq(bs_schema_tombstone(d, "ks", "t1"), 204);
    ck_assert_int_eq(bs_schema_table(d, "ks", "shared")->ts_us, 203);
    ck_assert_int_eq(bs_schema_keyspace(d, "ks")->created_us, 100);
    bs_buf_free(&b);
    bs_schema_release(d);
    bs_schema_release(l);
    bs_schema_release(l2);
    bs_schema_release(r);
    bs_schema_release(r2);
    for (int i = 0; i < 3; i++)
        bs_schema_release(x[i]);
    bs_schema_release(base);
}
END_TEST

START_TEST(decode_accepts_the_older_form_and_rejects_bad_tombstones) {
    char err[256];
    bs_schema *s = NULL;
    /* [1, 0, []]: the form before stamps and tombstones */
    const uint8_t old[] = {0x93, 0x01, 0x00, 0x90};
    ck_assert_int_eq(bs_schema_decode(old, sizeof old, &s, err, sizeof err), 0);
    bs_schema *n = bs_schema_new();
    ck_assert(same_version(s, n));
    bs_schema_release(s);
    bs_schema_release(n);
    /* [1, 0, [], [["ks", nil, 0]]]: a tombstone time must be positive */
    const uint8_t t0[] = {0x94, 0x01, 0x00, 0x90, 0x91, 0x93,
                          0xa2, 'k',  's',  0xc0, 0x00};
    ck_assert_int_eq(bs_schema_decode(t0, sizeof t0, &s, err, sizeof err),
                     BS_ECORRUPT);
    /* duplicate tombstones */
    const uint8_t t2[] = {0x94, 0x01, 0x00, 0x90, 0x92, 0x93, 0xa2, 'k', 's',
                          0xc0, 0x05, 0x93, 0xa2, 'k',  's',  0xc0, 0x06};
    ck_assert_int_eq(bs_schema_decode(t2, sizeof t2, &s, err, sizeof err),
                     BS_ECORRUPT);
    /* a good one */
    const uint8_t t1[] = {0x94, 0x01, 0x00, 0x90, 0x91, 0x93,
                          0xa2, 'k',  's',  0xc0, 0x05};
    ck_assert_int_eq(bs_schema_decode(t1, sizeof t1, &s, err, sizeof err), 0);
    ck_assert_int_eq(bs_schema_tombstone(s, "ks", NULL), 5);
    bs_schema_release(s);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("schema_merge");
    TCase *t = tcase_create("merge");
    tcase_add_test(t, concurrent_creates_both_survive);
    tcase_add_test(t, drop_beats_older_copy_and_newer_create_beats_drop);
    tcase_add_test(t, concurrent_alters_last_write_wins);
    tcase_add_test(t, keyspace_drop_and_recreate);
    tcase_add_test(t, three_way_any_order_converges);
    tcase_add_test(t, decode_accepts_the_older_form_and_rejects_bad_tombstones);
    suite_add_tcase(s, t);
    return s;
}

int main(void) {
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
