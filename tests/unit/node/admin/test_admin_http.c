/*
 * test_admin_http.c - the admin server's HTTP side (node/admin/
 * admin_http.c): requests read by the shared parser with the admin's
 * policy (bs__admin_rd_init): fields parsed, incremental arrival,
 * pipelining, every rejection class with its status code, query
 * parameter decoding, the response writer, and a deterministic random
 * byte soak (never crashes, only the documented return codes).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/error.h"
#include "node/admin/admin_int.h"

static bs_arena A;
static bs__http_rd R; /* the reader of the last parse(); r points into it */

/* Feeds s[0..len) to a fresh admin reader (max_body 0 = the default) in
 * pieces of `step` bytes (0 = at once) until a request is complete.
 * 1 with *r filled and *consumed its length, 0 when more bytes are
 * needed, BS_EPROTO with *status. */
static int parse_step(const char *s, size_t len, size_t max_body, size_t step,
                      bs_http_request *r, size_t *consumed, int *status) {
    bs__http_rd_free(&R);
    bs__admin_rd_init(&R, max_body);
    size_t off = 0;
    *consumed = 0;
    while (off < len) {
        size_t n = step && step < len - off ? step : len - off, used = 0;
        const char *why = NULL;
        int rc = bs__http_rd_feed(&R, s + off, n, &used, r, status, &why);
        ck_assert_uint_le(used, n);
        off += used;
        if (rc < 0) {
            ck_assert_int_eq(rc, BS_EPROTO);
            ck_assert(why && *why);
            return rc;
        }
        if (rc == 1) {
            *consumed = off;
            return 1;
        }
        ck_assert_uint_eq(used, n);
    }
    return 0;
}

static int parse(const char *s, size_t len, size_t max_body, bs_http_request *r,
                 size_t *consumed, int *status) {
    return parse_step(s, len, max_body, 0, r, consumed, status);
}

static void setup(void) {
    bs_arena_init(&A, 0);
    bs__admin_rd_init(&R, 0);
}
static void teardown(void) {
    bs__http_rd_free(&R);
    bs_arena_free(&A);
}

START_TEST(test_simple_get) {
    const char *s =
        "GET /status?keyspace=ks1&x=%41 HTTP/1.1\r\nHost: localhost:7199\r\n"
        "User-Agent:  curl/8   \r\nACCEPT: */*\r\n\r\n";
    bs_http_request r;
    size_t used;
    int st;
    for (size_t step = 0; step < 4; step++) {
        ck_assert_int_eq(parse_step(s, strlen(s), 0, step, &r, &used, &st), 1);
        ck_assert_uint_eq(used, strlen(s));
        ck_assert_str_eq(r.method, "GET");
        ck_assert_str_eq(r.path, "/status");
        ck_assert_str_eq(r.query, "keyspace=ks1&x=%41");
        ck_assert_int_eq(r.minor, 1);
        ck_assert(r.keep_alive);
        ck_assert(!R.want_continue);
        ck_assert_uint_eq(r.n_headers, 3);
        ck_assert_str_eq(r.headers[0].name, "host");
        ck_assert_str_eq(r.headers[0].value, "localhost:7199");
        ck_assert_str_eq(r.headers[1].name, "user-agent");
        ck_assert_str_eq(r.headers[1].value, "curl/8");
        ck_assert_str_eq(r.headers[2].name, "accept");
        ck_assert_uint_eq(r.body_len, 0);
    }
}
END_TEST

START_TEST(test_every_prefix_incomplete) {
    const char *s = "POST /flush?keyspace=k HTTP/1.1\r\nHost: "
                    "h\r\nContent-Length: 5\r\n\r\nhello";
    size_t n = strlen(s);
    bs_http_request r;
    size_t used;
    int st;
    for (size_t i = 0; i < n; i++)
        ck_assert_int_eq(parse(s, i, 0, &r, &used, &st), 0);
    for (size_t step = 0; step < 3; step++) {
        ck_assert_int_eq(parse_step(s, n, 0, step, &r, &used, &st), 1);
        ck_assert_uint_eq(used, n);
        ck_assert_uint_eq(r.body_len, 5);
        ck_assert(memcmp(r.body, "hello", 5) == 0);
    }
}
END_TEST

START_TEST(test_pipelined) {
    const char *s =
        "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nxyz"
        "GET /b HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
    bs_http_request r;
    size_t used;
    int st;
    const char *why;
    ck_assert_int_eq(parse(s, strlen(s), 0, &r, &used, &st), 1);
    ck_assert_str_eq(r.path, "/a");
    ck_assert_uint_eq(r.body_len, 3);
    size_t first = used;
    /* the same reader goes on with the rest, as the server does */
    ck_assert_int_eq(bs__http_rd_feed(&R, s + first, strlen(s) - first, &used,
                                      &r, &st, &why),
                     1);
    ck_assert_str_eq(r.path, "/b");
    ck_assert(!r.keep_alive);
    ck_assert_uint_eq(first + used, strlen(s));
}
END_TEST

START_TEST(test_versions_and_connection) {
    bs_http_request r;
    size_t used;
    int st;
    const char *s10 = "GET / HTTP/1.0\r\n\r\n";
    ck_assert_int_eq(parse(s10, strlen(s10), 0, &r, &used, &st), 1);
    ck_assert_int_eq(r.minor, 0);
    ck_assert(!r.keep_alive); /* 1.0 default; no Host needed */
    const char *s10k = "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n";
    ck_assert_int_eq(parse(s10k, strlen(s10k), 0, &r, &used, &st), 1);
    ck_assert(r.keep_alive);
    const char *s11c =
        "GET / HTTP/1.1\r\nHost: h\r\nConnection: foo, Close\r\n\r\n";
    ck_assert_int_eq(parse(s11c, strlen(s11c), 0, &r, &used, &st), 1);
    ck_assert(!r.keep_alive);
    /* bare LF line ends, leading empty lines skipped */
    const char *lf = "\r\n\nGET /x%2Fy HTTP/1.1\nHost: h\n\n";
    ck_assert_int_eq(parse(lf, strlen(lf), 0, &r, &used, &st), 1);
    ck_assert_str_eq(r.path, "/x/y");
    ck_assert_uint_eq(used, strlen(lf));
    /* the head of an Expect: 100-continue request asks for the interim
     * response; the body completes it */
    const char *ex = "PUT /p HTTP/1.1\r\nHost: h\r\nExpect: "
                     "100-continue\r\nContent-Length: 2\r\n\r\n";
    ck_assert_int_eq(parse(ex, strlen(ex), 0, &r, &used, &st), 0);
    ck_assert(R.want_continue);
    const char *why;
    ck_assert_int_eq(bs__http_rd_feed(&R, "ok", 2, &used, &r, &st, &why), 1);
    ck_assert_uint_eq(r.body_len, 2);
}
END_TEST

static const struct {
    const char *req;
    int status;
} bad[] = {
    {"GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n", 400},      /* bare CR */
    {"GET / HTTP/1.1\r\nHost: h\r\n folded\r\n\r\n", 400}, /* obs-fold */
    {"GET / HTTP/1.1\r\n\r\n", 400},                       /* no Host */
    {"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400}, /* two Hosts */
    {"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 1a\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: h\r\nContent-Length:\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: "
     "2\r\n\r\n",
     400},
    {"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 1, 1\r\n\r\n", 400},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n", 501},
    {"GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505},
    {"GET / HTTP/1.1x\r\nHost: h\r\n\r\n", 400},
    {"GET / http/1.1\r\nHost: h\r\n\r\n", 400},
    {"GET /\r\nHost: h\r\n\r\n", 400},
    {"G(T / HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    {"GETGETGETGETGETGET / HTTP/1.1\r\nHost: h\r\n\r\n", 400}, /* method > 16 */
    {"GET status HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    {"GET http://x/ HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    {"GET /a%zz HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    {"GET /a%2 HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    {"GET /a%00b HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    {"GET /a#frag HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    {"GET /\x01 HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    {"GET /\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400}, /* space before colon */
    {"GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: h\r\n: empty\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: h\r\nX: a\x7f\r\n\r\n", 400},
    /* not a representable number: http-parser's 400 */
    {"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: "
     "99999999999999999999999\r\n\r\n",
     400},
    /* a repeated Content-Length, even an equal one (RFC 9112 6.3 lets a
     * server refuse it; http-parser does) */
    {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n"
     "content-length: 2\r\n\r\nok",
     400},
    /* Transfer-Encoding with a Content-Length: smuggling, 400 */
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
     "Content-Length: 3\r\n\r\n",
     400},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n", 501},
    {"GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n\tb\r\n\r\n", 400}, /* obs-fold */
    {"FOO / HTTP/1.1\r\nHost: h\r\n\r\n", 400}, /* unknown method */
    {"GET /\x7f HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1048577\r\n\r\n", 413},
};

START_TEST(test_rejections) {
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        bs_http_request r;
        size_t used;
        int st = 0;
        int rc = parse(bad[i].req, strlen(bad[i].req), 0, &r, &used, &st);
        if (rc != BS_EPROTO || st != bad[i].status)
            ck_abort_msg("case %zu (%s): rc %d status %d, want %d", i,
                         bad[i].req, rc, st, bad[i].status);
        /* pieces of any size give the same verdict */
        for (size_t step = 1; step < 4; step++) {
            st = 0;
            rc = parse_step(bad[i].req, strlen(bad[i].req), 0, step, &r, &used,
                            &st);
            if (rc != BS_EPROTO || st != bad[i].status)
                ck_abort_msg("case %zu step %zu: rc %d status %d, want %d", i,
                             step, rc, st, bad[i].status);
        }
    }
}
END_TEST

START_TEST(test_limits) {
    bs_http_request r;
    size_t used;
    int st;
    /* a configured body limit */
    const char *b = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 17\r\n\r\n";
    ck_assert_int_eq(parse(b, strlen(b), 16, &r, &used, &st), BS_EPROTO);
    ck_assert_int_eq(st, 413);
    /* a head that never ends: incomplete below 16 KiB, 431 at it */
    size_t n = BS_ADMIN_MAX_HEAD + 32; /* target, names, values count */
    char *big = malloc(n);
    memcpy(big, "GET / HTTP/1.1\r\nX: ", 19);
    memset(big + 19, 'a', n - 19);
    ck_assert_int_eq(parse(big, BS_ADMIN_MAX_HEAD - 1, 0, &r, &used, &st), 0);
    ck_assert_int_eq(parse(big, n, 0, &r, &used, &st), BS_EPROTO);
    ck_assert_int_eq(st, 431);
    free(big);
    /* too many header fields */
    bs_buf m = BS_BUF_INIT;
    bs_buf_append_str(&m, "GET / HTTP/1.1\r\nHost: h\r\n");
    for (int i = 0; i < BS_ADMIN_MAX_HEADERS; i++)
        bs_buf_appendf(&m, "X-%d: v\r\n", i);
    bs_buf_append_str(&m, "\r\n");
    ck_assert_int_eq(parse((char *)m.data, m.len, 0, &r, &used, &st),
                     BS_EPROTO);
    ck_assert_int_eq(st, 431);
    bs_buf_free(&m);
    /* exactly the limit of fields is fine */
    bs_buf_append_str(&m, "GET / HTTP/1.1\r\nHost: h\r\n");
    for (int i = 0; i < BS_ADMIN_MAX_HEADERS - 1; i++)
        bs_buf_appendf(&m, "X-%d: v\r\n", i);
    bs_buf_append_str(&m, "\r\n");
    ck_assert_int_eq(parse((char *)m.data, m.len, 0, &r, &used, &st), 1);
    ck_assert_uint_eq(r.n_headers, BS_ADMIN_MAX_HEADERS);
    bs_buf_free(&m);
}
END_TEST

START_TEST(test_query_param) {
    bs_admin_request req;
    memset(&req, 0, sizeof req);
    req.arena = &A;
    req.query = "a=1&b=x%20y+z&flag&k%65y=v&c=%zz&a=2&e=";
    const char *v;
    ck_assert_int_eq(bs_admin_query_param(&req, "a", &v), 0);
    ck_assert_str_eq(v, "1"); /* the first one */
    ck_assert_int_eq(bs_admin_query_param(&req, "b", &v), 0);
    ck_assert_str_eq(v, "x y z");
    ck_assert_int_eq(bs_admin_query_param(&req, "flag", &v), 0);
    ck_assert_str_eq(v, "");
    ck_assert_int_eq(bs_admin_query_param(&req, "key", &v), 0);
    ck_assert_str_eq(v, "v");
    ck_assert_int_eq(bs_admin_query_param(&req, "e", &v), 0);
    ck_assert_str_eq(v, "");
    ck_assert_int_eq(bs_admin_query_param(&req, "c", &v), BS_EINVAL);
    /* a bad value only matters to its own parameter; a bad key to all */
    ck_assert_int_eq(bs_admin_query_param(&req, "zz", &v), BS_ENOTFOUND);
    req.query = "%zz=1&a=1";
    ck_assert_int_eq(bs_admin_query_param(&req, "a", &v), BS_EINVAL);
    req.query = "";
    ck_assert_int_eq(bs_admin_query_param(&req, "a", &v), BS_ENOTFOUND);
    bs_admin_header hs[] = {{"host", "h"}, {"x-foo", "bar"}};
    req.headers = hs;
    req.n_headers = 2;
    ck_assert_str_eq(bs_admin_header_get(&req, "X-Foo"), "bar");
    ck_assert_ptr_null(bs_admin_header_get(&req, "x-bar"));
}
END_TEST

START_TEST(test_response_writer) {
    bs_buf b = BS_BUF_INIT;
    ck_assert_int_eq(bs__http_write_response(&b, 404, NULL, "Allow: GET\r\n",
                                             false, (const uint8_t *)"{}", 2),
                     0);
    bs_buf_append_u8(&b, 0);
    ck_assert_str_eq((char *)b.data,
                     "HTTP/1.1 404 Not Found\r\nServer: basalt-admin\r\n"
                     "Content-Type: application/json\r\nContent-Length: 2\r\n"
                     "Connection: close\r\nAllow: GET\r\n\r\n{}");
    bs_buf_free(&b);
    ck_assert_str_eq(bs_admin_status_text(413), "Content Too Large");
    ck_assert_str_eq(bs_admin_status_text(999), "Unknown");
    ck_assert_int_eq(bs__admin_status_for(BS_ENOTFOUND), 404);
    ck_assert_int_eq(bs__admin_status_for(BS_EINVAL), 400);
    ck_assert_int_eq(bs__admin_status_for(BS_ENOTSUP), 501);
    ck_assert_int_eq(bs__admin_status_for(BS_EBUSY), 503);
    ck_assert_int_eq(bs__admin_status_for(BS_EIO), 500);
}
END_TEST

/* Random bytes and mutated valid requests: only the documented codes,
 * consumed within the input on success. */
START_TEST(test_random_soak) {
    uint64_t x = 0x9e3779b97f4a7c15ull;
    const char *seed = "POST /flush?keyspace=ks HTTP/1.1\r\nHost: "
                       "h\r\nContent-Length: 4\r\n\r\nbody";
    size_t sl = strlen(seed);
    char buf[256];
    int ok = 0, again = 0, proto = 0;
    for (int it = 0; it < 20000; it++) {
        size_t n;
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        if (it % 2) {
            n = x % sizeof buf;
            for (size_t i = 0; i < n; i++) {
                x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                buf[i] = (char)(x >> 24);
            }
        } else {
            n = sl;
            memcpy(buf, seed, sl);
            for (int k = 0; k < 3; k++) {
                x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                buf[x % sl] = (char)(x >> 40);
            }
        }
        bs_http_request r;
        size_t used;
        int st;
        int rc = parse(buf, n, 64, &r, &used, &st);
        if (rc == 1) {
            ok++;
            ck_assert_uint_le(used, n);
            ck_assert_ptr_nonnull(r.method);
            ck_assert_ptr_nonnull(r.path);
        } else if (rc == 0) {
            again++;
        } else {
            ck_assert_int_eq(rc, BS_EPROTO);
            ck_assert(st == 400 || st == 413 || st == 431 || st == 501 ||
                      st == 505);
            proto++;
        }
    }
    ck_assert_int_gt(ok, 0);
    ck_assert_int_gt(proto, 0);
    ck_assert_int_gt(again, 0);
}
END_TEST

int main(void) {
    Suite *s = suite_create("admin_http");
    TCase *tc = tcase_create("parser");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_simple_get);
    tcase_add_test(tc, test_every_prefix_incomplete);
    tcase_add_test(tc, test_pipelined);
    tcase_add_test(tc, test_versions_and_connection);
    tcase_add_test(tc, test_rejections);
    tcase_add_test(tc, test_limits);
    tcase_add_test(tc, test_query_param);
    tcase_add_test(tc, test_response_writer);
    tcase_add_test(tc, test_random_soak);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
