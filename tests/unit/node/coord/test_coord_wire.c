/*
 * test_coord_wire.c - the coordinator's internode payloads (node/coord/wire.h,
 * "coordinator payloads"): write, raw records, scan request and scan
 * result round trips; every truncation and random corruption refused
 * without crashing; and the digest ignoring elem/elem_len of simple cells
 * (a store read may leave them unset).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "node/coord/wire.h"

/* Every strict prefix and 300 random byte flips must decode to an error
 * or to something, never crash (ASan/UBSan watch). */
static void hostile(const bs_buf *b, int (*dec)(const uint8_t *p, size_t n, bs_arena *a)) {
    bs_arena a;
    bs_arena_init(&a, 0);
    for (size_t n = 0; n < b->len; n++) {
        ck_assert_int_ne(dec(b->data, n, &a), 0);
        bs_arena_reset(&a);
    }
    uint8_t *c = malloc(b->len);
    srand(7);
    for (int i = 0; i < 300; i++) {
        memcpy(c, b->data, b->len);
        c[rand() % b->len] ^= (uint8_t)(1 + rand() % 255);
        dec(c, b->len, &a);
        bs_arena_reset(&a);
    }
    free(c);
    bs_arena_free(&a);
}

static int dec_write(const uint8_t *p, size_t n, bs_arena *a) {
    int64_t now;
    bs_mutation *m;
    size_t nm;
    char e[64];
    return bs_wire_write_decode(p, n, a, &now, &m, &nm, e, sizeof e);
}

START_TEST(write_round_trip) {
    bs_mop op;
    memset(&op, 0, sizeof op);
    op.kind = BS_MOP_CELL;
    op.col = 17;
    op.val = (const uint8_t *)"v";
    op.val_len = 1;
    op.ts = 42;
    op.ttl = 10;
    bs_mutation m[2];
    memset(m, 0, sizeof m);
    m[0].cf = "ks.t";
    m[0].token = 7;
    m[0].pk = (const uint8_t *)"k";
    m[0].pk_len = 1;
    m[0].ops = &op;
    m[0].nops = 1;
    m[1] = m[0];
    m[1].cf = "ks.u";
    bs_buf b = BS_BUF_INIT;
    ck_assert_int_eq(bs_wire_write_encode(1700000000, m, 2, &b), 0);
    bs_arena a;
    bs_arena_init(&a, 0);
    int64_t now;
    bs_mutation *o;
    size_t n;
    char e[64];
    ck_assert_int_eq(bs_wire_write_decode(b.data, b.len, &a, &now, &o, &n, e, sizeof e), 0);
    ck_assert_int_eq(now, 1700000000);
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(o[1].cf, "ks.u");
    ck_assert_int_eq(o[0].token, 7);
    ck_assert_uint_eq(o[0].nops, 1);
    ck_assert_int_eq(o[0].ops[0].ttl, 10);
    ck_assert_int_eq(o[0].ops[0].ts, 42);
    hostile(&b, dec_write);
    bs_arena_free(&a);
    bs_buf_free(&b);
}
END_TEST

static int dec_raw(const uint8_t *p, size_t n, bs_arena *a) {
    const char *cf;
    bs_wire_rec *r;
    size_t nr;
    char e[64];
    return bs_wire_raw_decode(p, n, a, &cf, &r, &nr, e, sizeof e);
}

START_TEST(raw_round_trip) {
    bs_wire_rec r[2] = {{(const uint8_t *)"key1", 4, (const uint8_t *)"val1", 4},
                        {(const uint8_t *)"k2", 2, (const uint8_t *)"", 0}};
    bs_buf b = BS_BUF_INIT;
    ck_assert_int_eq(bs_wire_raw_encode("ks.t", r, 2, &b), 0);
    bs_arena a;
    bs_arena_init(&a, 0);
    const char *cf;
    bs_wire_rec *o;
    size_t n;
    char e[64];
    ck_assert_int_eq(bs_wire_raw_decode(b.data, b.len, &a, &cf, &o, &n, e, sizeof e), 0);
    ck_assert_str_eq(cf, "ks.t");
    ck_assert_uint_eq(n, 2);
    ck_assert_uint_eq(o[0].klen, 4);
    ck_assert(!memcmp(o[0].val, "val1", 4));
    ck_assert_uint_eq(o[1].vlen, 0);
    /* an empty key is refused */
    bs_wire_rec bad = {(const uint8_t *)"", 0, (const uint8_t *)"v", 1};
    bs_buf_reset(&b);
    ck_assert_int_eq(bs_wire_raw_encode("ks.t", &bad, 1, &b), 0);
    ck_assert_int_eq(bs_wire_raw_decode(b.data, b.len, &a, &cf, &o, &n, e, sizeof e), BS_ECORRUPT);
    bs_buf_reset(&b);
    ck_assert_int_eq(bs_wire_raw_encode("ks.t", r, 2, &b), 0);
    hostile(&b, dec_raw);
    bs_arena_free(&a);
    bs_buf_free(&b);
}
END_TEST

static int dec_scan(const uint8_t *p, size_t n, bs_arena *a) {
    bs_wire_scan s;
    char e[64];
    return bs_wire_scan_decode(p, n, a, &s, e, sizeof e);
}

START_TEST(scan_round_trip) {
    bs_wire_scan s;
    memset(&s, 0, sizeof s);
    s.read.cf = "ks.t";
    s.read.slice.limit = 5;
    s.read.slice.now_s = 99;
    s.start = -100;
    s.end = 100;
    s.has_cursor = 1;
    s.cursor_token = 3;
    s.cursor_pk = (const uint8_t *)"pk";
    s.cursor_pk_len = 2;
    s.has_cursor_ck = 1;
    s.cursor_ck = (const uint8_t *)"ck";
    s.cursor_ck_len = 2;
    s.max_parts = 9;
    bs_buf b = BS_BUF_INIT;
    ck_assert_int_eq(bs_wire_scan_encode(&s, &b), 0);
    bs_arena a;
    bs_arena_init(&a, 0);
    bs_wire_scan o;
    char e[64];
    ck_assert_int_eq(bs_wire_scan_decode(b.data, b.len, &a, &o, e, sizeof e), 0);
    ck_assert_str_eq(o.read.cf, "ks.t");
    ck_assert_int_eq(o.read.slice.limit, 5);
    ck_assert_int_eq(o.read.slice.now_s, 99);
    ck_assert_int_eq(o.start, -100);
    ck_assert_int_eq(o.end, 100);
    ck_assert(o.has_cursor && o.has_cursor_ck);
    ck_assert_int_eq(o.cursor_token, 3);
    ck_assert(!memcmp(o.cursor_ck, "ck", 2));
    ck_assert_uint_eq(o.max_parts, 9);
    hostile(&b, dec_scan);
    /* max_parts 0 is refused */
    s.max_parts = 0;
    bs_buf_reset(&b);
    ck_assert_int_eq(bs_wire_scan_encode(&s, &b), 0);
    ck_assert_int_eq(bs_wire_scan_decode(b.data, b.len, &a, &o, e, sizeof e), BS_ECORRUPT);
    bs_arena_free(&a);
    bs_buf_free(&b);
}
END_TEST

static int dec_scanres(const uint8_t *p, size_t n, bs_arena *a) {
    int more;
    bs_partv **ps;
    size_t np;
    char e[64];
    return bs_wire_scanres_decode(p, n, a, &more, &ps, &np, e, sizeof e);
}

START_TEST(scanres_round_trip_and_digest) {
    bs_cellv cell;
    memset(&cell, 0, sizeof cell);
    cell.col = 17;
    cell.val = (const uint8_t *)"x";
    cell.val_len = 1;
    cell.ts = 5;
    bs_rowv row;
    memset(&row, 0, sizeof row);
    row.has_marker = 1;
    row.marker_ts = 5;
    row.cells = &cell;
    row.ncells = 1;
    bs_partv p;
    memset(&p, 0, sizeof p);
    p.token = 11;
    p.pk = (const uint8_t *)"pk";
    p.pk_len = 2;
    p.rows = &row;
    p.nrows = 1;
    uint8_t d1[16], d2[16];
    bs_wire_digest(&p, d1);
    /* garbage in the element fields of a simple cell changes nothing */
    cell.elem_len = 123456789;
    cell.elem = (const uint8_t *)"junk";
    bs_wire_digest(&p, d2);
    ck_assert(!memcmp(d1, d2, 16));
    cell.val = (const uint8_t *)"y";
    bs_wire_digest(&p, d2);
    ck_assert(memcmp(d1, d2, 16));
    cell.val = (const uint8_t *)"x";

    bs_buf parts[2] = {BS_BUF_INIT, BS_BUF_INIT};
    ck_assert_int_eq(bs_wire_result_encode(&p, 0, &parts[0]), 0);
    p.token = 12;
    ck_assert_int_eq(bs_wire_result_encode(&p, 0, &parts[1]), 0);
    bs_buf b = BS_BUF_INIT;
    ck_assert_int_eq(bs_wire_scanres_encode(1, parts, 2, &b), 0);
    bs_arena a;
    bs_arena_init(&a, 0);
    int more;
    bs_partv **ps;
    size_t np;
    char e[64];
    ck_assert_int_eq(bs_wire_scanres_decode(b.data, b.len, &a, &more, &ps, &np, e, sizeof e), 0);
    ck_assert_int_eq(more, 1);
    ck_assert_uint_eq(np, 2);
    ck_assert_int_eq(ps[0]->token, 11);
    ck_assert_int_eq(ps[1]->token, 12);
    ck_assert_uint_eq(ps[1]->nrows, 1);
    bs_wire_digest(ps[0], d2);
    ck_assert(!memcmp(d1, d2, 16));
    hostile(&b, dec_scanres);
    /* a digest-only (partless) result inside a scan result is refused */
    bs_buf_reset(&parts[0]);
    ck_assert_int_eq(bs_wire_result_encode(&p, 1, &parts[0]), 0);
    bs_buf_reset(&b);
    ck_assert_int_eq(bs_wire_scanres_encode(0, parts, 1, &b), 0);
    ck_assert_int_eq(bs_wire_scanres_decode(b.data, b.len, &a, &more, &ps, &np, e, sizeof e), BS_ECORRUPT);
    bs_arena_free(&a);
    bs_buf_free(&b);
    bs_buf_free(&parts[0]);
    bs_buf_free(&parts[1]);
}
END_TEST

int main(void) {
    Suite *s = suite_create("coord_wire");
    TCase *tc = tcase_create("coord_wire");
    tcase_add_test(tc, write_round_trip);
    tcase_add_test(tc, raw_round_trip);
    tcase_add_test(tc, scan_round_trip);
    tcase_add_test(tc, scanres_round_trip_and_digest);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? 1 : 0;
}
