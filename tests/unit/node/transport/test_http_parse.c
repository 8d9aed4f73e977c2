/*
 * test_http_parse.c - the HTTP server's request reader
 * (node/transport/http_parse.c): fields, byte-by-byte arrival,
 * pipelining, chunked and gzip bodies, every limit with its status code,
 * form decoding, JSON error bodies.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "common/error.h"
#include "node/transport/http_parse.h"

/* Feeds all of s (in pieces of `step` bytes, 0 = at once) and expects
 * exactly one complete request at the end. */
static int feed_all(bs__http_rd *r, const char *s, size_t len, size_t step,
                    bs_http_request *req, int *status) {
    size_t off = 0;
    const char *why = NULL;
    while (off < len) {
        size_t n = step ? step : len - off;
        if (n > len - off) n = len - off;
        size_t used = 0;
        int rc = bs__http_rd_feed(r, s + off, n, &used, req, status, &why);
        if (rc < 0) {
            ck_assert_ptr_nonnull(why);
            return rc;
        }
        off += used;
        if (rc == 1) return off == len ? 1 : 2;
        ck_assert_uint_eq(used, n);
    }
    return 0;
}

START_TEST(test_get_fields) {
    const char *s = "GET /query?db=m%20x&q=SELECT+1 HTTP/1.1\r\nHost: h\r\n"
                    "X-Thing:   a b  \r\nAccept: */*\r\n\r\n";
    for (size_t step = 0; step <= 3; step++) {
        bs__http_rd r;
        bs__http_rd_init(&r, 0, 0);
        bs_http_request q;
        int st = 0;
        ck_assert_int_eq(feed_all(&r, s, strlen(s), step, &q, &st), 1);
        ck_assert_str_eq(q.method, "GET");
        ck_assert_str_eq(q.path, "/query");
        ck_assert_str_eq(q.query, "db=m%20x&q=SELECT+1");
        ck_assert_int_eq(q.minor, 1);
        ck_assert(q.keep_alive);
        ck_assert_uint_eq(q.n_headers, 3);
        ck_assert_str_eq(q.headers[1].name, "x-thing");
        ck_assert_str_eq(q.headers[1].value, "a b");
        ck_assert_str_eq(bs_http_header_get(&q, "accept"), "*/*");
        ck_assert_ptr_null(bs_http_header_get(&q, "nope"));
        ck_assert_uint_eq(q.body_len, 0);
        const char *v;
        ck_assert_int_eq(bs_http_form_get(q.query, strlen(q.query), "db", q.arena, &v), 0);
        ck_assert_str_eq(v, "m x");
        ck_assert_int_eq(bs_http_form_get(q.query, strlen(q.query), "q", q.arena, &v), 0);
        ck_assert_str_eq(v, "SELECT 1");
        ck_assert_int_eq(bs_http_form_get(q.query, strlen(q.query), "x", q.arena, &v),
                         BS_ENOTFOUND);
        bs__http_rd_free(&r);
    }
}
END_TEST

START_TEST(test_pipelined_and_bodies) {
    const char *s = "POST /write?db=a HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"
                    "POST /write?db=b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                    "3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\n\r\n"
                    "GET /ping HTTP/1.1\r\nConnection: close\r\n\r\n";
    bs__http_rd r;
    bs__http_rd_init(&r, 0, 0);
    size_t off = 0, len = strlen(s);
    bs_http_request q;
    int st;
    const char *why;
    size_t used;
    ck_assert_int_eq(bs__http_rd_feed(&r, s, len, &used, &q, &st, &why), 1);
    ck_assert_str_eq(q.query, "db=a");
    ck_assert_uint_eq(q.body_len, 5);
    ck_assert_mem_eq(q.body, "hello", 5);
    ck_assert_int_eq(q.body[5], 0);
    off += used;
    ck_assert_int_eq(bs__http_rd_feed(&r, s + off, len - off, &used, &q, &st, &why), 1);
    ck_assert_str_eq(q.query, "db=b");
    ck_assert_uint_eq(q.body_len, 5);
    ck_assert_mem_eq(q.body, "abcde", 5);
    off += used;
    ck_assert_int_eq(bs__http_rd_feed(&r, s + off, len - off, &used, &q, &st, &why), 1);
    ck_assert_str_eq(q.path, "/ping");
    ck_assert(!q.keep_alive);
    off += used;
    ck_assert_uint_eq(off, len);
    bs__http_rd_free(&r);
}
END_TEST

START_TEST(test_http10_keepalive) {
    const char *a = "GET /ping HTTP/1.0\r\n\r\n";
    const char *b = "GET /ping HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
    bs__http_rd r;
    bs_http_request q;
    int st;
    bs__http_rd_init(&r, 0, 0);
    ck_assert_int_eq(feed_all(&r, a, strlen(a), 0, &q, &st), 1);
    ck_assert(!q.keep_alive);
    ck_assert_int_eq(q.minor, 0);
    bs__http_rd_free(&r);
    bs__http_rd_init(&r, 0, 0);
    ck_assert_int_eq(feed_all(&r, b, strlen(b), 0, &q, &st), 1);
    ck_assert(q.keep_alive);
    bs__http_rd_free(&r);
}
END_TEST

static size_t gz(const char *in, size_t n, unsigned char *out, size_t cap) {
    z_stream z;
    memset(&z, 0, sizeof z);
    ck_assert_int_eq(deflateInit2(&z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
    z.next_in = (unsigned char *)in;
    z.avail_in = (uInt)n;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    ck_assert_int_eq(deflate(&z, Z_FINISH), Z_STREAM_END);
    size_t k = cap - z.avail_out;
    deflateEnd(&z);
    return k;
}

START_TEST(test_gzip_body) {
    char body[4000];
    for (size_t i = 0; i < sizeof body; i++) body[i] = (char)('a' + i % 7);
    unsigned char z[8192];
    size_t zn = gz(body, sizeof body, z, sizeof z);
    char req[9000];
    int h = snprintf(req, sizeof req,
                     "POST /write HTTP/1.1\r\nContent-Encoding: gzip\r\nContent-Length: %zu\r\n\r\n", zn);
    memcpy(req + h, z, zn);
    /* two gzip members back to back are one body (as Go's reader reads them) */
    size_t z2 = gz("xyz", 3, z, sizeof z);
    char req2[512];
    int h2 = snprintf(req2, sizeof req2,
                      "POST /w HTTP/1.1\r\ncontent-encoding: GZIP\r\nContent-Length: %zu\r\n\r\n", 2 * z2);
    memcpy(req2 + h2, z, z2);
    memcpy(req2 + h2 + z2, z, z2);
    for (size_t step = 0; step <= 7; step += 7) {
        bs__http_rd r;
        bs_http_request q;
        int st;
        bs__http_rd_init(&r, 0, 0);
        ck_assert_int_eq(feed_all(&r, req, (size_t)h + zn, step, &q, &st), 1);
        ck_assert_uint_eq(q.body_len, sizeof body);
        ck_assert_mem_eq(q.body, body, sizeof body);
        bs__http_rd_free(&r);
        bs__http_rd_init(&r, 0, 0);
        ck_assert_int_eq(feed_all(&r, req2, (size_t)h2 + 2 * z2, step, &q, &st), 1);
        ck_assert_uint_eq(q.body_len, 6);
        ck_assert_mem_eq(q.body, "xyzxyz", 6);
        bs__http_rd_free(&r);
    }
    /* inflated size over max_body: 413, although the gzip bytes are small */
    bs__http_rd r;
    bs_http_request q;
    int st = 0;
    bs__http_rd_init(&r, 0, 2000);
    ck_assert_int_eq(feed_all(&r, req, (size_t)h + zn, 0, &q, &st), BS_EPROTO);
    ck_assert_int_eq(st, 413);
    bs__http_rd_free(&r);
    /* corrupt gzip: 400 */
    req[h + 12] ^= 0x55;
    req[h + 13] ^= 0x55;
    bs__http_rd_init(&r, 0, 0);
    ck_assert_int_eq(feed_all(&r, req, (size_t)h + zn, 0, &q, &st), BS_EPROTO);
    ck_assert_int_eq(st, 400);
    bs__http_rd_free(&r);
}
END_TEST

static int status_of(const char *s, size_t len, size_t max_head, size_t max_body) {
    bs__http_rd r;
    bs_http_request q;
    int st = 0;
    bs__http_rd_init(&r, max_head, max_body);
    int rc = feed_all(&r, s, len, 0, &q, &st);
    /* poisoned: a second feed repeats the verdict */
    if (rc < 0) {
        size_t used;
        const char *why;
        int st2 = 0;
        ck_assert_int_eq(bs__http_rd_feed(&r, "GET / HTTP/1.1\r\n\r\n", 18, &used, &q, &st2, &why),
                         BS_EPROTO);
        ck_assert_int_eq(st2, st);
    }
    bs__http_rd_free(&r);
    return rc < 0 ? st : rc == 1 ? 0 : -1;
}

START_TEST(test_limits_and_errors) {
    const char *big_cl = "POST /write HTTP/1.1\r\nContent-Length: 1001\r\n\r\n";
    ck_assert_int_eq(status_of(big_cl, strlen(big_cl), 0, 1000), 413);
    char chunked[2100];
    int n = snprintf(chunked, sizeof chunked,
                     "POST /write HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3e8\r\n");
    memset(chunked + n, 'x', 1000);
    n += 1000;
    n += snprintf(chunked + n, sizeof chunked - (size_t)n, "\r\n1\r\nx\r\n0\r\n\r\n");
    ck_assert_int_eq(status_of(chunked, (size_t)n, 0, 1000), 413);
    ck_assert_int_eq(status_of(chunked, (size_t)n, 0, 1001), 0);
    char head[3000];
    n = snprintf(head, sizeof head, "GET /ping HTTP/1.1\r\nX-Big: ");
    memset(head + n, 'y', 2000);
    n += 2000;
    n += snprintf(head + n, sizeof head - (size_t)n, "\r\n\r\n");
    ck_assert_int_eq(status_of(head, (size_t)n, 1024, 0), 431);
    ck_assert_int_eq(status_of(head, (size_t)n, 4096, 0), 0);
    /* too many header fields */
    bs_buf b = BS_BUF_INIT;
    bs_buf_append_str(&b, "GET / HTTP/1.1\r\n");
    for (int i = 0; i <= BS_HTTP_MAX_HEADERS; i++) bs_buf_appendf(&b, "X-%d: v\r\n", i);
    bs_buf_append_str(&b, "\r\n");
    ck_assert_int_eq(status_of((const char *)b.data, b.len, 0, 0), 431);
    bs_buf_free(&b);
    const char *bad[] = {
        "GET /ping HTTP/1.1\r\nbad header\r\n\r\n",
        "BLAH\r\n\r\n",
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        "GET /a%zz HTTP/1.1\r\n\r\n",
        "GET /write%00x HTTP/1.1\r\n\r\n", /* an encoded NUL would cut the path */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_int_eq(status_of(bad[i], strlen(bad[i]), 0, 0), 400);
    const char *enc = "POST / HTTP/1.1\r\nContent-Encoding: br\r\nContent-Length: 0\r\n\r\n";
    ck_assert_int_eq(status_of(enc, strlen(enc), 0, 0), 415);
    const char *up = "GET / HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n";
    ck_assert_int_eq(status_of(up, strlen(up), 0, 0), 501);
    /* the time-series policy is not the admin's strict one */
    const char *lax = "GET http://h/ping HTTP/1.1\r\nX: a\r\n b\r\n\r\n";
    ck_assert_int_eq(status_of(lax, strlen(lax), 0, 0), 0);
    bs_arena a;
    bs_arena_init(&a, 0);
    const char *v;
    ck_assert_int_eq(bs_http_form_get("db=a%00b", 8, "db", &a, &v), BS_EINVAL);
    bs_arena_free(&a);
}
END_TEST

START_TEST(test_expect_continue) {
    const char *s = "POST /write HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n";
    bs__http_rd r;
    bs_http_request q;
    int st;
    const char *why;
    size_t used;
    bs__http_rd_init(&r, 0, 0);
    ck_assert_int_eq(bs__http_rd_feed(&r, s, strlen(s), &used, &q, &st, &why), 0);
    ck_assert(r.want_continue);
    ck_assert(bs__http_rd_in_request(&r));
    r.want_continue = 0;
    ck_assert_int_eq(bs__http_rd_feed(&r, "ok", 2, &used, &q, &st, &why), 1);
    ck_assert_mem_eq(q.body, "ok", 2);
    bs__http_rd_free(&r);
}
END_TEST

START_TEST(test_error_body) {
    bs_http_response resp;
    memset(&resp, 0, sizeof resp);
    bs_buf_init(&resp.body);
    ck_assert_int_eq(bs_http_error(&resp, 400, "unable to parse 'a\"b\n': line %d", 3), 0);
    ck_assert_int_eq(resp.status, 400);
    ck_assert_str_eq(resp.content_type, "application/json");
    bs_buf_append_u8(&resp.body, 0);
    ck_assert_str_eq((const char *)resp.body.data,
                     "{\"error\":\"unable to parse 'a\\\"b\\n': line 3\"}\n");
    bs_buf_free(&resp.body);
    bs_arena a;
    bs_arena_init(&a, 0);
    const char *v;
    const char *form = "q=a%3Db&&db=&q2";
    ck_assert_int_eq(bs_http_form_get(form, strlen(form), "q", &a, &v), 0);
    ck_assert_str_eq(v, "a=b");
    ck_assert_int_eq(bs_http_form_get(form, strlen(form), "db", &a, &v), 0);
    ck_assert_str_eq(v, "");
    ck_assert_int_eq(bs_http_form_get(form, strlen(form), "q2", &a, &v), 0);
    ck_assert_str_eq(v, "");
    ck_assert_int_eq(bs_http_form_get("x=%4", 4, "x", &a, &v), BS_EINVAL);
    bs_arena_free(&a);
}
END_TEST

/* Credentials: Basic, Token user:pass, u/p parameters (which win), and
 * every malformed form refused. */
static int creds(bs_arena *a, const char *query, const char *auth, const char **u,
                 const char **p) {
    bs_http_header h = {"authorization", auth};
    bs_http_request r = {"GET", "/query", query, &h, auth ? 1 : 0, (const uint8_t *)"", 0, 1,
                         true, a};
    *u = *p = NULL;
    return bs_http_credentials(&r, u, p);
}

START_TEST(test_credentials) {
    bs_arena a;
    bs_arena_init(&a, 0);
    const char *u, *p;
    /* base64("alice:s3:cr3t") */
    ck_assert_int_eq(creds(&a, "", "Basic YWxpY2U6czM6Y3IzdA==", &u, &p), 0);
    ck_assert_str_eq(u, "alice");
    ck_assert_str_eq(p, "s3:cr3t");
    ck_assert_int_eq(creds(&a, "", "basic YWxpY2U6czM6Y3IzdA", &u, &p), 0); /* no padding */
    ck_assert_str_eq(p, "s3:cr3t");
    ck_assert_int_eq(creds(&a, "", "Token bob:pw", &u, &p), 0);
    ck_assert_str_eq(u, "bob");
    ck_assert_str_eq(p, "pw");
    ck_assert_int_eq(creds(&a, "db=x&u=carol&p=a%26b", "Token bob:pw", &u, &p), 0);
    ck_assert_str_eq(u, "carol");
    ck_assert_str_eq(p, "a&b");
    ck_assert_int_eq(creds(&a, "db=x", NULL, &u, &p), BS_ENOTFOUND);
    ck_assert_int_eq(creds(&a, "u=carol", NULL, &u, &p), BS_EINVAL);
    ck_assert_int_eq(creds(&a, "u=&p=x", NULL, &u, &p), BS_EINVAL);
    ck_assert_int_eq(creds(&a, "", "Basic YWxpY2U=", &u, &p), BS_EINVAL);   /* "alice" */
    ck_assert_int_eq(creds(&a, "", "Basic OnB3", &u, &p), BS_EINVAL);       /* ":pw" */
    ck_assert_int_eq(creds(&a, "", "Basic YW*j", &u, &p), BS_EINVAL);
    ck_assert_int_eq(creds(&a, "", "Basic Y", &u, &p), BS_EINVAL);
    ck_assert_int_eq(creds(&a, "", "Bearer abc", &u, &p), BS_EINVAL);
    ck_assert_int_eq(creds(&a, "", "Token abcdef", &u, &p), BS_EINVAL);
    uint8_t out[8];
    size_t n;
    ck_assert_int_eq(bs_http_base64_decode("TWFu", 4, out, sizeof out, &n), 0);
    ck_assert_uint_eq(n, 3);
    ck_assert(!memcmp(out, "Man", 3));
    ck_assert_int_eq(bs_http_base64_decode("TWFuTWFuTWFu", 12, out, sizeof out, &n), BS_EINVAL);
    bs_arena_free(&a);
}
END_TEST

int main(void) {
    Suite *s = suite_create("http_parse");
    TCase *tc = tcase_create("reader");
    tcase_add_test(tc, test_get_fields);
    tcase_add_test(tc, test_pipelined_and_bodies);
    tcase_add_test(tc, test_http10_keepalive);
    tcase_add_test(tc, test_gzip_body);
    tcase_add_test(tc, test_limits_and_errors);
    tcase_add_test(tc, test_expect_continue);
    tcase_add_test(tc, test_error_body);
    tcase_add_test(tc, test_credentials);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
