/*
 * test_schema.c - the schema catalog: built-ins, DDL validation, column
 * ids, copy-on-write snapshots, msgpack round trip and hostile bytes.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "query/schema.h"

static char err[512];

static bs_schema *with_table(void) {
    bs_schema *s = bs_schema_new();
    const char *k[] = {"replication_factor"}, *v[] = {"3"};
    ck_assert_int_eq(bs_schema_create_keyspace(s, "ks", "SimpleStrategy", 1, k,
                                               v, 1, 10, err, sizeof err),
                     0);
    bs_type *text = bs_type_new(BS_TYPE_VARCHAR),
            *i32 = bs_type_new(BS_TYPE_INT);
    bs_type *lst =
        bs_type_new_coll(BS_TYPE_LIST, bs_type_new(BS_TYPE_INT), NULL);
    bs_column_def defs[] = {
        {"v", text, BS_COL_REGULAR, -1, 0},
        {"ck2", i32, BS_COL_CLUSTERING, 1, 1},
        {"pk", text, BS_COL_PARTITION_KEY, 0, 0},
        {"ck1", text, BS_COL_CLUSTERING, 0, 0},
        {"a", lst, BS_COL_REGULAR, -1, 0},
        {"st", i32, BS_COL_STATIC, -1, 0},
    };
    char *ek[] = {"class"}, *ev[] = {"SizeTieredCompactionStrategy"};
    bs_table_option opts[] = {{"gc_grace_seconds", "100", 0, NULL, NULL},
                              {"compaction", NULL, 1, ek, ev},
                              {"comment", "hello", 0, NULL, NULL}};
    ck_assert_int_eq(bs_schema_create_table(s, "ks", "t", NULL, defs, 6, opts,
                                            3, 20, err, sizeof err),
                     0);
    bs_type_free(text);
    bs_type_free(i32);
    bs_type_free(lst);
    return s;
}

START_TEST(builtins_present) {
    bs_schema *s = bs_schema_new();
    ck_assert_ptr_nonnull(s);
    const bs_table_schema *t = bs_schema_table(s, "system", "local");
    ck_assert_ptr_nonnull(t);
    ck_assert_uint_eq(t->npk, 1);
    ck_assert_str_eq(t->cols[0].name, "key");
    const bs_column *tokens = bs_table_column(t, "tokens");
    ck_assert_int_eq(tokens->type->kind, BS_TYPE_SET);
    ck_assert_ptr_nonnull(bs_schema_table(s, "system_schema", "columns"));
    ck_assert_ptr_nonnull(bs_schema_table(s, "system", "peers_v2"));
    ck_assert_ptr_nonnull(bs_schema_keyspace(s, "system_traces"));
    ck_assert_int_eq(bs_schema_keyspace(s, "system")->system, 1);
    /* built-ins are refused for DDL */
    ck_assert_int_eq(bs_schema_drop_keyspace(s, "system", 1, err, sizeof err),
                     BS_EINVAL);
    /* two fresh schemas agree on version and table ids */
    bs_schema *s2 = bs_schema_new();
    bs_uuid a, b;
    bs_schema_version(s, &a);
    bs_schema_version(s2, &b);
    ck_assert_int_eq(memcmp(a.b, b.b, 16), 0);
    ck_assert_int_eq(
        memcmp(t->id.b, bs_schema_table(s2, "system", "local")->id.b, 16), 0);
    bs_schema_release(s);
    bs_schema_release(s2);
}
END_TEST

START_TEST(table_layout_and_ids) {
    bs_schema *s = with_table();
    const bs_table_schema *t = bs_schema_table(s, "ks", "t");
    ck_assert_uint_eq(t->ncols, 6);
    ck_assert_uint_eq(t->npk, 1);
    ck_assert_uint_eq(t->nck, 2);
    ck_assert_str_eq(t->cols[0].name, "pk");
    ck_assert_str_eq(t->cols[1].name, "ck1");
    ck_assert_str_eq(t->cols[2].name, "ck2");
    ck_assert_int_eq(t->cols[2].desc, 1);
    ck_assert_str_eq(t->cols[3].name, "a"); /* then by name */
    ck_assert_str_eq(t->cols[4].name, "st");
    ck_assert_str_eq(t->cols[5].name, "v");
    for (size_t i = 0; i < t->ncols; i++)
        ck_assert_uint_eq(t->cols[i].id, BS_SCHEMA_FIRST_COLUMN_ID + i);
    ck_assert_int_eq(t->gc_grace, 100);
    ck_assert_str_eq(bs_table_option_get(t, "comment")->value, "hello");
    ck_assert_str_eq(bs_schema_keyspace(s, "ks")->repl_class,
                     "org.apache.cassandra.locator.SimpleStrategy");
    char cf[64];
    bs_table_cf_name(t, cf, sizeof cf);
    ck_assert_str_eq(cf, "ks.t");
    ck_assert_ptr_eq(bs_schema_table_by_id(s, &t->id), t);
    bs_schema_release(s);
}
END_TEST

START_TEST(ddl_errors_leave_schema_unchanged) {
    bs_schema *s = with_table();
    bs_uuid v0, v1;
    bs_schema_version(s, &v0);
    const char *k[] = {"replication_factor"}, *v[] = {"x"};
    ck_assert_int_eq(bs_schema_create_keyspace(s, "ks", "SimpleStrategy", 0,
                                               NULL, NULL, 1, 1, err,
                                               sizeof err),
                     BS_ECONFIG);
    ck_assert_int_eq(bs_schema_create_keyspace(s, "k2", "SimpleStrategy", 1, k,
                                               v, 1, 1, err, sizeof err),
                     BS_ECONFIG);
    ck_assert_int_eq(bs_schema_create_keyspace(s, "k2", "Bogus", 0, NULL, NULL,
                                               1, 1, err, sizeof err),
                     BS_ECONFIG);
    ck_assert_ptr_nonnull(strstr(err, "Bogus"));
    const char *k1[] = {"replication_factor"}, *v1s[] = {"1"};
    ck_assert_int_eq(bs_schema_create_keyspace(s, "ks", "SimpleStrategy", 1, k1,
                                               v1s, 1, 1, err, sizeof err),
                     BS_EEXIST);
    ck_assert_int_eq(bs_schema_create_keyspace(s, "bad-name", "SimpleStrategy",
                                               1, k1, v1s, 1, 1, err,
                                               sizeof err),
                     BS_EINVAL);
    bs_type *lst =
        bs_type_new_coll(BS_TYPE_LIST, bs_type_new(BS_TYPE_INT), NULL);
    bs_type *i32 = bs_type_new(BS_TYPE_INT);
    bs_column_def nokey[] = {{"a", i32, BS_COL_REGULAR, -1, 0}};
    ck_assert_int_eq(bs_schema_create_table(s, "ks", "u", NULL, nokey, 1, NULL,
                                            0, 1, err, sizeof err),
                     BS_EINVAL);
    bs_column_def collkey[] = {{"a", lst, BS_COL_PARTITION_KEY, 0, 0}};
    ck_assert_int_eq(bs_schema_create_table(s, "ks", "u", NULL, collkey, 1,
                                            NULL, 0, 1, err, sizeof err),
                     BS_EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "non-frozen"));
    bs_column_def st[] = {{"a", i32, BS_COL_PARTITION_KEY, 0, 0},
                          {"b", i32, BS_COL_STATIC, -1, 0}};
    ck_assert_int_eq(bs_schema_create_table(s, "ks", "u", NULL, st, 2, NULL, 0,
                                            1, err, sizeof err),
                     BS_EINVAL);
    bs_column_def ok[] = {{"a", i32, BS_COL_PARTITION_KEY, 0, 0}};
    ck_assert_int_eq(bs_schema_create_table(s, "nope", "u", NULL, ok, 1, NULL,
                                            0, 1, err, sizeof err),
                     BS_ENOTFOUND);
    ck_assert_int_eq(bs_schema_create_table(s, "ks", "t", NULL, ok, 1, NULL, 0,
                                            1, err, sizeof err),
                     BS_EEXIST);
    bs_table_option bad[] = {{"gc_grace_seconds", "-1", 0, NULL, NULL}};
    ck_assert_int_eq(
        bs_schema_set_table_options(s, "ks", "t", bad, 1, 1, err, sizeof err),
        BS_ECONFIG);
    bs_table_option unk[] = {{"nonsense", "1", 0, NULL, NULL}};
    ck_assert_int_eq(
        bs_schema_set_table_options(s, "ks", "t", unk, 1, 1, err, sizeof err),
        BS_ECONFIG);
    ck_assert_int_eq(
        bs_schema_drop_column(s, "ks", "t", "pk", 1, err, sizeof err),
        BS_EINVAL);
    ck_assert_int_eq(
        bs_schema_rename_column(s, "ks", "t", "v", "w", 1, err, sizeof err),
        BS_EINVAL);
    bs_schema_version(s, &v1);
    ck_assert_int_eq(memcmp(v0.b, v1.b, 16), 0);
    bs_type_free(lst);
    bs_type_free(i32);
    bs_schema_release(s);
}
END_TEST

START_TEST(alter_columns_never_reuse_ids) {
    bs_schema *s = with_table();
    bs_type *i32 = bs_type_new(BS_TYPE_INT);
    uint16_t vid = bs_table_column(bs_schema_table(s, "ks", "t"), "v")->id;
    ck_assert_int_eq(
        bs_schema_drop_column(s, "ks", "t", "v", 50, err, sizeof err), 0);
    const bs_table_schema *t = bs_schema_table(s, "ks", "t");
    ck_assert_ptr_null(bs_table_column(t, "v"));
    ck_assert_uint_eq(t->ndropped, 1);
    ck_assert_str_eq(t->dropped[0].name, "v");
    ck_assert_int_eq(
        bs_schema_add_column(s, "ks", "t", "v", i32, 0, 60, err, sizeof err),
        0);
    t = bs_schema_table(s, "ks", "t");
    const bs_column *nv = bs_table_column(t, "v");
    ck_assert_uint_ne(nv->id, vid);
    ck_assert_uint_eq(nv->id, t->next_col_id - 1);
    ck_assert_int_eq(
        bs_schema_add_column(s, "ks", "t", "v", i32, 0, 60, err, sizeof err),
        BS_EEXIST);
    ck_assert_int_eq(
        bs_schema_rename_column(s, "ks", "t", "ck1", "c1", 70, err, sizeof err),
        0);
    ck_assert_ptr_nonnull(bs_table_column(bs_schema_table(s, "ks", "t"), "c1"));
    ck_assert_int_eq(bs_schema_timestamp(s), 70);
    bs_type_free(i32);
    bs_schema_release(s);
}
END_TEST

START_TEST(clone_is_independent) {
    bs_schema *s = with_table();
    bs_schema *c = bs_schema_clone(s);
    ck_assert_int_eq(bs_schema_drop_table(c, "ks", "t", 99, err, sizeof err),
                     0);
    ck_assert_ptr_null(bs_schema_table(c, "ks", "t"));
    ck_assert_ptr_nonnull(bs_schema_table(s, "ks", "t"));
    bs_uuid a, b;
    bs_schema_version(s, &a);
    bs_schema_version(c, &b);
    ck_assert_int_ne(memcmp(a.b, b.b, 16), 0);
    bs_schema_retain(c);
    bs_schema_release(c);
    bs_schema_release(c);
    bs_schema_release(s);
}
END_TEST

START_TEST(encode_decode_round_trip) {
    bs_schema *s = with_table();
    bs_type *i32 = bs_type_new(BS_TYPE_INT);
    ck_assert_int_eq(
        bs_schema_drop_column(s, "ks", "t", "v", 50, err, sizeof err), 0);
    ck_assert_int_eq(
        bs_schema_add_column(s, "ks", "t", "w", i32, 0, 60, err, sizeof err),
        0);
    bs_buf b = BS_BUF_INIT;
    ck_assert_int_eq(bs_schema_encode(s, &b), 0);
    bs_schema *d;
    ck_assert_int_eq(bs_schema_decode(b.data, b.len, &d, err, sizeof err), 0);
    bs_uuid va, vb;
    bs_schema_version(s, &va);
    bs_schema_version(d, &vb);
    ck_assert_int_eq(memcmp(va.b, vb.b, 16), 0);
    ck_assert_int_eq(bs_schema_timestamp(d), 60);
    const bs_table_schema *x = bs_schema_table(s, "ks", "t"),
                          *y = bs_schema_table(d, "ks", "t");
    ck_assert_int_eq(memcmp(x->id.b, y->id.b, 16), 0);
    ck_assert_uint_eq(x->ncols, y->ncols);
    for (size_t i = 0; i < x->ncols; i++) {
        ck_assert_str_eq(x->cols[i].name, y->cols[i].name);
        ck_assert_uint_eq(x->cols[i].id, y->cols[i].id);
        ck_assert(bs_type_equal(x->cols[i].type, y->cols[i].type));
    }
    ck_assert_uint_eq(y->ndropped, 1);
    ck_assert_uint_eq(y->next_col_id, x->next_col_id);
    ck_assert_str_eq(bs_table_option_get(y, "compaction")->values[0],
                     "SizeTieredCompactionStrategy");
    /* hostile bytes: every truncation and random flips fail cleanly */
    for (size_t n = 0; n < b.len; n++) {
        bs_schema *z = NULL;
        ck_assert_int_ne(bs_schema_decode(b.data, n, &z, err, sizeof err), 0);
        ck_assert_ptr_null(z);
    }
    srand(7);
    for (int i = 0; i < 3000; i++) {
        uint8_t *m = malloc(b.len);
        memcpy(m, b.data, b.len);
        for (int f = 0; f < 1 + i % 4; f++)
            m[rand() % b.len] ^= (uint8_t)(1 + rand() % 255);
        bs_schema *z = NULL;
        if (bs_schema_decode(m, b.len, &z, err, sizeof err) == 0)
            bs_schema_release(z);
        free(m);
    }
    bs_buf_free(&b);
    bs_type_free(i32);
    bs_schema_release(d);
    bs_schema_release(s);
}
END_TEST

/* What two nodes make when each creates database db, measurement m and
 * some fields on its own (the time-series endpoint): the same table id,
 * the same id for the same field, and a merge that keeps every field. */
static bs_schema *shared_side(int64_t t0, const char *f, bs_type_kind kind) {
    bs_schema *s = bs_schema_new();
    const char *k[] = {"dc1"}, *v[] = {"3"};
    ck_assert_int_eq(bs_schema_create_shared_keyspace(s, "db", "NetworkTopologyStrategy", 1, k,
                                                      v, t0, err, sizeof err),
                     0);
    bs_type *text = bs_type_new(BS_TYPE_VARCHAR), *big = bs_type_new(BS_TYPE_BIGINT);
    bs_column_def defs[] = {
        {"_series", text, BS_COL_PARTITION_KEY, 0, 0},
        {"time", big, BS_COL_CLUSTERING, 0, 1},
    };
    bs_uuid id;
    bs_schema_shared_table_id(s, "db", "m", &id);
    ck_assert_int_eq(
        bs_schema_create_table(s, "db", "m", &id, defs, 2, NULL, 0, t0 + 1, err, sizeof err), 0);
    bs_type *ft = bs_type_new(kind);
    ck_assert_int_eq(bs_schema_add_shared_column(s, "db", "m", "f", ft, t0 + 2, err, sizeof err),
                     0);
    ck_assert_int_eq(bs_schema_add_shared_column(s, "db", "m", f, ft, t0 + 3, err, sizeof err), 0);
    bs_type_free(ft);
    bs_type_free(text);
    bs_type_free(big);
    return s;
}

static uint16_t col_id(const bs_schema *s, const char *name) {
    const bs_column *c = bs_table_column(bs_schema_table(s, "db", "m"), name);
    ck_assert_ptr_nonnull(c);
    return c->id;
}

START_TEST(shared_objects_converge) {
    bs_schema *a = shared_side(100, "fa", BS_TYPE_DOUBLE);
    bs_schema *b = shared_side(105, "fb", BS_TYPE_DOUBLE);
    const bs_table_schema *ta = bs_schema_table(a, "db", "m"), *tb = bs_schema_table(b, "db", "m");
    ck_assert_int_eq(memcmp(ta->id.b, tb->id.b, 16), 0);
    ck_assert_int_eq(bs_schema_keyspace(a, "db")->created_us, 1);
    ck_assert_uint_eq(col_id(a, "f"), col_id(b, "f"));
    ck_assert_uint_ge(col_id(a, "f"), BS_SCHEMA_SHARED_COLUMN_ID);
    ck_assert_uint_ne(col_id(a, "fa"), col_id(b, "fb"));
    ck_assert_uint_ne(col_id(a, "fa"), col_id(a, "f"));

    bs_schema *ab, *ba;
    ck_assert_int_eq(bs_schema_merge(a, b, &ab), 0);
    ck_assert_int_eq(bs_schema_merge(b, a, &ba), 0);
    bs_uuid v1, v2;
    bs_schema_version(ab, &v1);
    bs_schema_version(ba, &v2);
    ck_assert_int_eq(memcmp(v1.b, v2.b, 16), 0);
    const bs_table_schema *m = bs_schema_table(ab, "db", "m");
    ck_assert_int_eq(memcmp(m->id.b, ta->id.b, 16), 0);
    ck_assert_uint_eq(m->ncols, 5); /* _series, time, f, fa, fb */
    ck_assert_uint_eq(col_id(ab, "fa"), col_id(a, "fa"));
    ck_assert_uint_eq(col_id(ab, "fb"), col_id(b, "fb"));
    bs_schema *again;
    ck_assert_int_eq(bs_schema_merge(ab, a, &again), 0); /* idempotent */
    bs_schema_version(again, &v2);
    ck_assert_int_eq(memcmp(v1.b, v2.b, 16), 0);
    bs_schema_release(again);

    /* the shared ids survive the wire */
    bs_buf buf = BS_BUF_INIT;
    ck_assert_int_eq(bs_schema_encode(ab, &buf), 0);
    bs_schema *d;
    ck_assert_int_eq(bs_schema_decode(buf.data, buf.len, &d, err, sizeof err), 0);
    ck_assert_uint_eq(col_id(d, "fb"), col_id(ab, "fb"));
    bs_buf_free(&buf);

    /* the same name with another type, or re-added after a drop, gets
     * another id (the old cells must not show through) */
    bs_schema *c = shared_side(100, "fa", BS_TYPE_BIGINT);
    ck_assert_uint_ne(col_id(c, "fa"), col_id(a, "fa"));
    uint16_t old = col_id(d, "fa");
    bs_type *dbl = bs_type_new(BS_TYPE_DOUBLE), *i32 = bs_type_new(BS_TYPE_INT);
    ck_assert_int_eq(bs_schema_drop_column(d, "db", "m", "fa", 300, err, sizeof err), 0);
    ck_assert_int_eq(bs_schema_add_shared_column(d, "db", "m", "fa", dbl, 310, err, sizeof err), 0);
    ck_assert_uint_ne(col_id(d, "fa"), old);
    /* an ordinary ALTER ... ADD still takes the next sequential id */
    ck_assert_int_eq(bs_schema_add_column(d, "db", "m", "seq", i32, 0, 320, err, sizeof err), 0);
    ck_assert_uint_lt(col_id(d, "seq"), BS_SCHEMA_SHARED_COLUMN_ID);

    /* a database dropped and created again is a new incarnation: its
     * measurement gets a new table id */
    ck_assert_int_eq(bs_schema_drop_keyspace(d, "db", 400, err, sizeof err), 0);
    const char *k[] = {"dc1"}, *v[] = {"1"};
    ck_assert_int_eq(bs_schema_create_shared_keyspace(d, "db", "NetworkTopologyStrategy", 1, k, v,
                                                      410, err, sizeof err),
                     0);
    ck_assert_int_gt(bs_schema_keyspace(d, "db")->created_us, 400);
    bs_uuid nid;
    bs_schema_shared_table_id(d, "db", "m", &nid);
    ck_assert_int_ne(memcmp(nid.b, ta->id.b, 16), 0);

    bs_type_free(dbl);
    bs_type_free(i32);
    bs_schema_release(d);
    bs_schema_release(c);
    bs_schema_release(ab);
    bs_schema_release(ba);
    bs_schema_release(a);
    bs_schema_release(b);
}
END_TEST

int main(void) {
    Suite *s = suite_create("schema");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, builtins_present);
    tcase_add_test(tc, table_layout_and_ids);
    tcase_add_test(tc, ddl_errors_leave_schema_unchanged);
    tcase_add_test(tc, alter_columns_never_reuse_ids);
    tcase_add_test(tc, clone_is_independent);
    tcase_add_test(tc, encode_decode_round_trip);
    tcase_add_test(tc, shared_objects_converge);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
