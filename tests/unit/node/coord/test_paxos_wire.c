/*
 * test_paxos_wire.c - PAXOS verb payloads (node/coord/paxos_wire.c):
 * round trips, rejection of truncated / trailing / out-of-range bytes,
 * and the ballot order (timestamp first, then the low 8 bytes; "none"
 * before everything).
 */
#include <check.h>
#include <string.h>

#include "common/error.h"
#include "node/coord/paxos_wire.h"

START_TEST(request_round_trip) {
    bs_paxos_req r;
    memset(&r, 0, sizeof r);
    r.phase = BS_PAXOS_PROPOSE;
    bs_uuid_v1_at(1700000000000000LL, 42, &r.ballot);
    memset(r.table_id.b, 7, 16);
    r.token = -5;
    r.pk = (const uint8_t *)"key";
    r.pk_len = 3;
    r.update = (const uint8_t *)"update-bytes";
    r.update_len = 12;
    bs_buf b = BS_BUF_INIT;
    ck_assert_int_eq(bs_paxos_req_encode(&r, &b), 0);
    bs_paxos_req d;
    ck_assert_int_eq(bs_paxos_req_decode(b.data, b.len, &d), 0);
    ck_assert_int_eq(d.phase, BS_PAXOS_PROPOSE);
    ck_assert(!memcmp(d.ballot.b, r.ballot.b, 16));
    ck_assert(!memcmp(d.table_id.b, r.table_id.b, 16));
    ck_assert_int_eq(d.token, -5);
    ck_assert_uint_eq(d.pk_len, 3);
    ck_assert(!memcmp(d.pk, "key", 3));
    ck_assert_uint_eq(d.update_len, 12);
    /* every truncation and a trailing byte are refused */
    for (size_t n = 0; n < b.len; n++) ck_assert_int_eq(bs_paxos_req_decode(b.data, n, &d), BS_ECORRUPT);
    bs_buf_append_u8(&b, 0);
    ck_assert_int_eq(bs_paxos_req_decode(b.data, b.len, &d), BS_ECORRUPT);
    /* a PREPARE carries no update; an empty key or bad phase is refused */
    r.phase = BS_PAXOS_PREPARE;
    r.update = NULL;
    r.update_len = 0;
    bs_buf_reset(&b);
    ck_assert_int_eq(bs_paxos_req_encode(&r, &b), 0);
    ck_assert_int_eq(bs_paxos_req_decode(b.data, b.len, &d), 0);
    b.data[1] = 9;
    ck_assert_int_eq(bs_paxos_req_decode(b.data, b.len, &d), BS_ECORRUPT);
    r.pk_len = 0;
    ck_assert_int_eq(bs_paxos_req_encode(&r, &b), BS_EINVAL);
    bs_buf_free(&b);
}
END_TEST

START_TEST(response_round_trip) {
    bs_paxos_resp r;
    memset(&r, 0, sizeof r);
    r.ok = 1;
    bs_uuid_v1_at(1700000000000001LL, 1, &r.promised);
    r.has_accepted = 1;
    bs_uuid_v1_at(1700000000000000LL, 2, &r.accepted);
    r.update = (const uint8_t *)"u";
    r.update_len = 1;
    r.has_commit = 1;
    bs_uuid_v1_at(1699999999999999LL, 3, &r.commit);
    bs_buf b = BS_BUF_INIT;
    ck_assert_int_eq(bs_paxos_resp_encode(&r, &b), 0);
    bs_paxos_resp d;
    ck_assert_int_eq(bs_paxos_resp_decode(b.data, b.len, &d), 0);
    ck_assert(d.ok && d.has_accepted && d.has_commit);
    ck_assert(!memcmp(d.accepted.b, r.accepted.b, 16));
    ck_assert(!memcmp(d.commit.b, r.commit.b, 16));
    ck_assert_uint_eq(d.update_len, 1);
    for (size_t n = 0; n < b.len; n++) ck_assert_int_eq(bs_paxos_resp_decode(b.data, n, &d), BS_ECORRUPT);
    b.data[1] = 2; /* ok must be 0 or 1 */
    ck_assert_int_eq(bs_paxos_resp_decode(b.data, b.len, &d), BS_ECORRUPT);
    bs_buf_free(&b);
}
END_TEST

START_TEST(ballot_order) {
    bs_uuid none, a, b, c;
    memset(&none, 0, sizeof none);
    bs_uuid_v1_at(1000, 5, &a);
    bs_uuid_v1_at(1000, 6, &b);
    bs_uuid_v1_at(1001, 1, &c);
    ck_assert(bs_paxos_ballot_none(&none));
    ck_assert(!bs_paxos_ballot_none(&a));
    ck_assert_int_lt(bs_paxos_ballot_cmp(&none, &a), 0);
    ck_assert_int_gt(bs_paxos_ballot_cmp(&a, &none), 0);
    ck_assert_int_eq(bs_paxos_ballot_cmp(&none, &none), 0);
    ck_assert_int_lt(bs_paxos_ballot_cmp(&a, &b), 0);
    ck_assert_int_lt(bs_paxos_ballot_cmp(&b, &c), 0); /* time before node bits */
    ck_assert_int_eq(bs_paxos_ballot_cmp(&c, &c), 0);
    ck_assert_int_eq(bs_paxos_ballot_us(&c), 1001);
}
END_TEST

int main(void) {
    Suite *s = suite_create("paxos_wire");
    TCase *tc = tcase_create("wire");
    tcase_add_test(tc, request_round_trip);
    tcase_add_test(tc, response_round_trip);
    tcase_add_test(tc, ballot_order);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
