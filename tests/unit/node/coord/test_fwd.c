/*
 * test_fwd.c - the write-forwarding codec (node/coord/fwd.h): envelope
 * and ack round trips, the write carried unchanged, every truncation of
 * the header refused, hostile lengths/addresses/versions refused, and
 * random corruption never crashing.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "node/coord/fwd.h"

static void fill(bs_fwd_env *e, size_t n) {
    memset(e, 0, sizeof *e);
    e->id = 0x0102030405060708ull;
    ck_assert_int_eq(bs_msg_peer_set(&e->coord, "127.0.0.1", 7000), 0);
    for (size_t i = 0; i < n; i++) {
        memset(e->t[i].host.b, (int)(i + 1), 16);
        ck_assert_int_eq(bs_msg_peer_set(&e->t[i].peer, i % 2 ? "::1" : "10.0.0.2", (uint16_t)(7001 + i)), 0);
    }
    e->n = n;
    e->write = (const uint8_t *)"WRITE-PAYLOAD";
    e->write_len = 13;
}

START_TEST(envelope_round_trip) {
    bs_fwd_env e, d;
    char err[128];
    for (size_t n = 0; n <= BS_FWD_MAX; n += n < 3 ? 1 : 30) {
        fill(&e, n);
        bs_buf b = BS_BUF_INIT;
        ck_assert_int_eq(bs_fwd_encode(&e, &b), 0);
        ck_assert_int_eq(bs_fwd_decode(b.data, b.len, &d, err, sizeof err), 0);
        ck_assert_uint_eq(d.id, e.id);
        ck_assert(bs_msg_peer_equal(&d.coord, &e.coord));
        ck_assert_uint_eq(d.n, n);
        for (size_t i = 0; i < n; i++) {
            ck_assert(!memcmp(d.t[i].host.b, e.t[i].host.b, 16));
            ck_assert(bs_msg_peer_equal(&d.t[i].peer, &e.t[i].peer));
        }
        ck_assert_uint_eq(d.write_len, 13);
        ck_assert(!memcmp(d.write, "WRITE-PAYLOAD", 13));
        /* a cut inside the header is refused; a cut inside the write
         * only shortens it (the write's own decoder checks it) */
        size_t hdr = b.len - 13;
        for (size_t k = 0; k < hdr; k++)
            ck_assert_int_eq(bs_fwd_decode(b.data, k, &d, err, sizeof err), BS_ECORRUPT);
        ck_assert_int_eq(bs_fwd_decode(b.data, hdr, &d, err, sizeof err), 0);
        ck_assert_uint_eq(d.write_len, 0);
        ck_assert_ptr_null(d.write);
        bs_buf_free(&b);
    }
}
END_TEST

START_TEST(envelope_refused) {
    bs_fwd_env e, d;
    char err[128];
    bs_buf b = BS_BUF_INIT;
    fill(&e, 2);
    e.n = BS_FWD_MAX + 1;
    ck_assert_int_eq(bs_fwd_encode(&e, &b), BS_EINVAL);
    ck_assert_uint_eq(b.len, 0);
    e.n = 2;
    e.coord.port = 0;
    ck_assert_int_eq(bs_fwd_encode(&e, &b), BS_EINVAL);
    ck_assert_uint_eq(b.len, 0);
    fill(&e, 2);
    ck_assert_int_eq(bs_fwd_encode(&e, &b), 0);
    uint8_t *c = malloc(b.len);
    /* version */
    memcpy(c, b.data, b.len);
    c[0] = 2;
    ck_assert_int_eq(bs_fwd_decode(c, b.len, &d, err, sizeof err), BS_ECORRUPT);
    /* coordinator address length 0 and >= BS_MSG_ADDRLEN */
    memcpy(c, b.data, b.len);
    c[9] = 0;
    ck_assert_int_eq(bs_fwd_decode(c, b.len, &d, err, sizeof err), BS_ECORRUPT);
    c[9] = BS_MSG_ADDRLEN;
    ck_assert_int_eq(bs_fwd_decode(c, b.len, &d, err, sizeof err), BS_ECORRUPT);
    /* not an IP literal */
    memcpy(c, b.data, b.len);
    memcpy(c + 10, "localhost", 9);
    ck_assert_int_eq(bs_fwd_decode(c, b.len, &d, err, sizeof err), BS_ECORRUPT);
    /* port 0 */
    memcpy(c, b.data, b.len);
    c[10 + 9] = 0;
    c[10 + 9 + 1] = 0;
    ck_assert_int_eq(bs_fwd_decode(c, b.len, &d, err, sizeof err), BS_ECORRUPT);
    /* target count over the maximum */
    memcpy(c, b.data, b.len);
    c[10 + 9 + 2] = BS_FWD_MAX + 1;
    ck_assert_int_eq(bs_fwd_decode(c, b.len, &d, err, sizeof err), BS_ECORRUPT);
    /* random flips: an error or a decode, never a crash */
    srand(11);
    for (int i = 0; i < 2000; i++) {
        memcpy(c, b.data, b.len);
        c[rand() % b.len] ^= (uint8_t)(1 + rand() % 255);
        if (bs_fwd_decode(c, b.len, &d, err, sizeof err) == 0) ck_assert_uint_le(d.n, BS_FWD_MAX);
    }
    free(c);
    bs_buf_free(&b);
}
END_TEST

START_TEST(ack_round_trip) {
    uint8_t a[BS_FWD_ACK_LEN];
    bs_uuid h, h2;
    memset(h.b, 0xab, 16);
    bs_fwd_ack_encode(42, &h, BS_EIO, a);
    uint64_t id;
    int32_t st;
    ck_assert_int_eq(bs_fwd_ack_decode(a, sizeof a, &id, &h2, &st), 0);
    ck_assert_uint_eq(id, 42);
    ck_assert(!memcmp(h.b, h2.b, 16));
    ck_assert_int_eq(st, BS_EIO);
    ck_assert_int_eq(bs_fwd_ack_decode(a, sizeof a - 1, &id, &h2, &st), BS_ECORRUPT);
    a[0] = 9;
    ck_assert_int_eq(bs_fwd_ack_decode(a, sizeof a, &id, &h2, &st), BS_ECORRUPT);
}
END_TEST

int main(void) {
    Suite *s = suite_create("fwd");
    TCase *tc = tcase_create("fwd");
    tcase_add_test(tc, envelope_round_trip);
    tcase_add_test(tc, envelope_refused);
    tcase_add_test(tc, ack_round_trip);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? 1 : 0;
}
