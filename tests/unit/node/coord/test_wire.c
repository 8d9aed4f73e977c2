/*
 * test_wire.c - internode payloads of the read/write path: round trips of
 * mutations, reads and results; digests change with any difference; every
 * truncation and random corruption is refused without crashing.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "node/coord/wire.h"

static bs_mutation sample_mutation(bs_mop *ops) {
    memset(ops, 0, 3 * sizeof *ops);
    ops[0].kind = BS_MOP_CELL;
    ops[0].col = 17;
    ops[0].ck = (const uint8_t *)"\x03"
                                 "ck\x00\x01";
    ops[0].ck_len = 5;
    ops[0].val = (const uint8_t *)"value";
    ops[0].val_len = 5;
    ops[0].ts = 1234567;
    ops[0].ttl = 60;
    ops[1].kind = BS_MOP_CELL_DEL;
    ops[1].is_static = 1;
    ops[1].has_elem = 1;
    ops[1].elem = (const uint8_t *)"e";
    ops[1].elem_len = 1;
    ops[1].col = 18;
    ops[1].ts = -5;
    ops[2].kind = BS_MOP_RANGE_DEL;
    ops[2].ts = 99;
    ops[2].start.kind = BS_BOUND_INCL;
    ops[2].start.prefix = "a";
    ops[2].start.len = 1;
    ops[2].end.kind = BS_BOUND_EXCL;
    ops[2].end.prefix = "z";
    ops[2].end.len = 1;
    bs_mutation m;
    memset(&m, 0, sizeof m);
    memset(m.table_id.b, 0xab, 16);
    m.cf = "ks.t";
    m.token = -42;
    m.pk = (const uint8_t *)"pk";
    m.pk_len = 2;
    m.ops = ops;
    m.nops = 3;
    return m;
}

START_TEST(mutation_round_trip_and_hostile_bytes) {
    bs_mop ops[3];
    bs_mutation m[2];
    m[0] = sample_mutation(ops);
    m[1] = m[0];
    m[1].nops = 1;
    m[1].cf = "ks.u";
    bs_buf b = BS_BUF_INIT;
    ck_assert_int_eq(bs_wire_mutations_encode(m, 2, &b), 0);
    bs_arena a;
    bs_arena_init(&a, 0);
    bs_mutation *d;
    size_t n;
    char err[128];
    ck_assert_int_eq(
        bs_wire_mutations_decode(b.data, b.len, &a, &d, &n, err, sizeof err),
        0);
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(d[0].cf, "ks.t");
    ck_assert_str_eq(d[1].cf, "ks.u");
    ck_assert_int_eq(d[0].token, -42);
    ck_assert_int_eq(memcmp(d[0].table_id.b, m[0].table_id.b, 16), 0);
    ck_assert_uint_eq(d[0].nops, 3);
    ck_assert_uint_eq(d[1].nops, 1);
    ck_assert_int_eq(d[0].ops[0].kind, BS_MOP_CELL);
    ck_assert_int_eq(d[0].ops[0].ttl, 60);
    ck_assert_int_eq(memcmp(d[0].ops[0].val, "value", 5), 0);
    ck_assert_int_eq(d[0].ops[1].is_static, 1);
    ck_assert_int_eq(d[0].ops[1].has_elem, 1);
    ck_assert_int_eq(d[0].ops[1].ts, -5);
    ck_assert_int_eq(d[0].ops[2].start.kind, BS_BOUND_INCL);
    ck_assert_int_eq(d[0].ops[2].end.kind, BS_BOUND_EXCL);
    ck_assert_int_eq(((const char *)d[0].ops[2].end.prefix)[0], 'z');
    for (size_t cut = 0; cut < b.len; cut++)
        ck_assert_int_ne(
            bs_wire_mutations_decode(b.data, cut, &a, &d, &n, err, sizeof err),
            0);
    srand(3);
    for (int i = 0; i < 5000; i++) {
        uint8_t *x = malloc(b.len);
        memcpy(x, b.data, b.len);
        x[rand() % b.len] ^= (uint8_t)(1 + rand() % 255);
        bs_wire_mutations_decode(x, b.len, &a, &d, &n, err, sizeof err);
        free(x);
    }
    /* a lying array count must not allocate */
    const uint8_t lie[] = {0xdd, 0x7f, 0xff, 0xff, 0xff};
    ck_assert_int_eq(
        bs_wire_mutations_decode(lie, sizeof lie, &a, &d, &n, err, sizeof err),
        BS_ECORRUPT);
    bs_arena_free(&a);
    bs_buf_free(&b);
}
END_TEST

START_TEST(read_request_round_trip) {
    bs_wire_read r;
    memset(&r, 0, sizeof r);
    memset(r.table_id.b, 1, 16);
    r.cf = "ks.t";
    r.token = 77;
    r.pk = (const uint8_t *)"k";
    r.pk_len = 1;
    uint16_t cols[] = {16, 20};
    r.slice.cols = cols;
    r.slice.ncols = 2;
    r.slice.start.kind = BS_BOUND_EXCL;
    r.slice.start.prefix = "s";
    r.slice.start.len = 1;
    r.slice.reversed = 1;
    r.slice.limit = 100;
    r.slice.has_after = 1;
    r.slice.after_ck = "aft";
    r.slice.after_len = 3;
    r.slice.now_s = 1700000000;
    r.digest_only = 1;
    bs_buf b = BS_BUF_INIT;
    ck_assert_int_eq(bs_wire_read_encode(&r, &b), 0);
    bs_arena a;
    bs_arena_init(&a, 0);
    bs_wire_read d;
    char err[128];
    ck_assert_int_eq(
        bs_wire_read_decode(b.data, b.len, &a, &d, err, sizeof err), 0);
    ck_assert_str_eq(d.cf, "ks.t");
    ck_assert_int_eq(d.token, 77);
    ck_assert_uint_eq(d.slice.ncols, 2);
    ck_assert_uint_eq(d.slice.cols[1], 20);
    ck_assert_int_eq(d.slice.start.kind, BS_BOUND_EXCL);
    ck_assert_int_eq(d.slice.end.kind, BS_BOUND_NONE);
    ck_assert_int_eq(d.slice.reversed, 1);
    ck_assert_uint_eq(d.slice.limit, 100);
    ck_assert_int_eq(d.slice.has_after, 1);
    ck_assert_int_eq(memcmp(d.slice.after_ck, "aft", 3), 0);
    ck_assert_int_eq(d.slice.now_s, 1700000000);
    ck_assert_int_eq(d.digest_only, 1);
    for (size_t cut = 0; cut < b.len; cut++)
        ck_assert_int_ne(
            bs_wire_read_decode(b.data, cut, &a, &d, err, sizeof err), 0);
    bs_arena_free(&a);
    bs_buf_free(&b);
}
END_TEST

START_TEST(result_round_trip_and_digest) {
    bs_cellv cells[2];
    memset(cells, 0, sizeof cells);
    cells[0].col = 16;
    cells[0].val = (const uint8_t *)"v1";
    cells[0].val_len = 2;
    cells[0].ts = 10;
    cells[1].col = 17;
    cells[1].has_elem = 1;
    cells[1].elem = (const uint8_t *)"el";
    cells[1].elem_len = 2;
    cells[1].val = (const uint8_t *)"";
    cells[1].ts = 11;
    cells[1].ttl = 5;
    cells[1].expiry_s = 1700000005;
    bs_rowv rows[1];
    memset(rows, 0, sizeof rows);
    rows[0].ck = (const uint8_t *)"ck";
    rows[0].ck_len = 2;
    rows[0].has_marker = 1;
    rows[0].marker_ts = 9;
    rows[0].cells = cells;
    rows[0].ncells = 2;
    bs_partv p;
    memset(&p, 0, sizeof p);
    p.token = 5;
    p.pk = (const uint8_t *)"pk";
    p.pk_len = 2;
    p.rows = rows;
    p.nrows = 1;
    bs_buf b = BS_BUF_INIT;
    ck_assert_int_eq(bs_wire_result_encode(&p, 0, &b), 0);
    bs_arena a;
    bs_arena_init(&a, 0);
    uint8_t dg[16], dg0[16];
    bs_partv *d;
    char err[128];
    ck_assert_int_eq(
        bs_wire_result_decode(b.data, b.len, &a, dg, &d, err, sizeof err), 0);
    bs_wire_digest(&p, dg0);
    ck_assert_int_eq(memcmp(dg, dg0, 16), 0);
    ck_assert_ptr_nonnull(d);
    ck_assert_uint_eq(d->nrows, 1);
    ck_assert_uint_eq(d->rows[0].ncells, 2);
    ck_assert_int_eq(d->rows[0].cells[1].has_elem, 1);
    ck_assert_int_eq(d->rows[0].cells[0].has_elem, 0);
    ck_assert_int_eq(d->rows[0].cells[1].expiry_s, 1700000005);
    /* the decoded copy digests the same */
    uint8_t dg2[16];
    bs_wire_digest(d, dg2);
    ck_assert_int_eq(memcmp(dg, dg2, 16), 0);
    /* any change of timestamp, value or ttl changes the digest */
    cells[0].ts = 12;
    bs_wire_digest(&p, dg2);
    ck_assert_int_ne(memcmp(dg0, dg2, 16), 0);
    cells[0].ts = 10;
    cells[1].ttl = 6;
    bs_wire_digest(&p, dg2);
    ck_assert_int_ne(memcmp(dg0, dg2, 16), 0);
    cells[1].ttl = 5;
    bs_wire_digest(&p, dg2);
    ck_assert_int_eq(memcmp(dg0, dg2, 16), 0);
    /* digest-only results carry no partition; absent != empty */
    bs_buf_reset(&b);
    ck_assert_int_eq(bs_wire_result_encode(&p, 1, &b), 0);
    ck_assert_int_eq(
        bs_wire_result_decode(b.data, b.len, &a, dg, &d, err, sizeof err), 0);
    ck_assert_ptr_null(d);
    ck_assert_int_eq(memcmp(dg, dg0, 16), 0);
    uint8_t none[16];
    bs_wire_digest(NULL, none);
    ck_assert_int_ne(memcmp(none, dg0, 16), 0);
    bs_arena_free(&a);
    bs_buf_free(&b);
}
END_TEST

int main(void) {
    Suite *s = suite_create("wire");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, mutation_round_trip_and_hostile_bytes);
    tcase_add_test(tc, read_request_round_trip);
    tcase_add_test(tc, result_round_trip_and_digest);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
