/*
 * test_admin.c - the admin HTTP server (node/admin/admin.c) over real sockets
 * on 127.0.0.1 with port 0, and the JSON writer (node/admin/admin_json.c).
 *
 * Server: routing (200/404/405 + Allow), handler error mapping,
 * keep-alive and pipelining (responses in order on one connection),
 * Connection: close, 400/413 followed by a close, 100 Continue, blocking
 * handlers not stalling other connections, the connection cap, a busy
 * port reported by start, stop with idle connections open.
 */
#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdatomic.h>

#include "common/error.h"
#include "common/log.h"
#include "node/admin/admin.h"
#include "test_admin_fake.h"
#include "test_admin_util.h"

/* ------------------------------------------------------------------ */
/* JSON writer                                                         */
/* ------------------------------------------------------------------ */

static char *json_of(bs_buf *b) {
    bs_buf_append_u8(b, 0);
    b->len--;
    return (char *)b->data;
}

START_TEST(test_json_writer) {
    bs_buf b = BS_BUF_INIT;
    bs_admin_json w;
    bs_admin_json_init(&w, &b);
    bs_admin_json_obj(&w);
    bs_admin_json_key(&w, "s");
    bs_admin_json_str(&w, "a\"b\\c\n\t\x01\x7f/é");
    bs_admin_json_key(&w, "n");
    bs_admin_json_int(&w, INT64_MIN);
    bs_admin_json_key(&w, "d");
    bs_admin_json_double(&w, 0.25);
    bs_admin_json_key(&w, "inf");
    bs_admin_json_double(&w, INFINITY);
    bs_admin_json_key(&w, "arr");
    bs_admin_json_arr(&w);
    bs_admin_json_bool(&w, true);
    bs_admin_json_null(&w);
    bs_admin_json_str(&w, NULL);
    bs_admin_json_arr(&w);
    bs_admin_json_end(&w);
    bs_admin_json_obj(&w);
    bs_admin_json_end(&w);
    bs_admin_json_end(&w);
    bs_admin_json_key(&w, "u");
    bs_uuid u;
    fake_uuid(FAKE_HOST1, &u);
    bs_admin_json_uuid(&w, &u);
    bs_admin_json_end(&w);
    ck_assert_int_eq(bs_admin_json_finish(&w), 0);
    ck_assert_str_eq(json_of(&b),
                     "{\"s\":\"a\\\"b\\\\c\\n\\t\\u0001\\u007f/"
                     "é\",\"n\":-9223372036854775808,"
                     "\"d\":0.25,\"inf\":null,\"arr\":[true,null,null,[],{}],"
                     "\"u\":\"" FAKE_HOST1 "\"}");
    bs_buf_free(&b);
}
END_TEST

START_TEST(test_json_invalid_utf8) {
    bs_buf b = BS_BUF_INIT;
    /* lone continuation, overlong '/', surrogate, truncated 3-byte, valid
     * 4-byte */
    const char in[] = "\x80|\xc0\xaf|\xed\xa0\x80|\xe2\x82|\xf0\x9f\x98\x80";
    ck_assert_int_eq(bs_admin_json_quote(&b, in, sizeof in - 1), 0);
    ck_assert_str_eq(
        json_of(&b),
        "\"\xef\xbf\xbd|\xef\xbf\xbd\xef\xbf\xbd|\xef\xbf\xbd\xef\xbf\xbd"
        "\xef\xbf\xbd|\xef\xbf\xbd\xef\xbf\xbd|\xf0\x9f\x98\x80\"");
    bs_buf_free(&b);
}
END_TEST

START_TEST(test_json_misuse) {
    bs_buf b = BS_BUF_INIT;
    bs_admin_json w;
    /* value in an object without a key */
    bs_admin_json_init(&w, &b);
    bs_admin_json_obj(&w);
    bs_admin_json_int(&w, 1);
    ck_assert_int_eq(bs_admin_json_finish(&w), BS_EINVAL);
    /* key in an array */
    bs_buf_reset(&b);
    bs_admin_json_init(&w, &b);
    bs_admin_json_arr(&w);
    bs_admin_json_key(&w, "k");
    ck_assert_int_eq(bs_admin_json_finish(&w), BS_EINVAL);
    /* unclosed, and end with nothing open, and two top-level values */
    bs_buf_reset(&b);
    bs_admin_json_init(&w, &b);
    bs_admin_json_arr(&w);
    ck_assert_int_eq(bs_admin_json_finish(&w), BS_EINVAL);
    bs_admin_json_end(&w);
    ck_assert_int_eq(bs_admin_json_finish(&w), 0);
    bs_admin_json_end(&w);
    ck_assert_int_eq(bs_admin_json_finish(&w), BS_EINVAL);
    bs_buf_reset(&b);
    bs_admin_json_init(&w, &b);
    bs_admin_json_int(&w, 1);
    bs_admin_json_int(&w, 2);
    ck_assert_int_eq(bs_admin_json_finish(&w), BS_EINVAL);
    /* depth: 32 levels fine, 33 is BS_ERANGE and sticky */
    bs_buf_reset(&b);
    bs_admin_json_init(&w, &b);
    for (int i = 0; i < 32; i++)
        bs_admin_json_arr(&w);
    for (int i = 0; i < 32; i++)
        bs_admin_json_end(&w);
    ck_assert_int_eq(bs_admin_json_finish(&w), 0);
    bs_buf_reset(&b);
    bs_admin_json_init(&w, &b);
    for (int i = 0; i < 33; i++)
        bs_admin_json_arr(&w);
    for (int i = 0; i < 33; i++)
        bs_admin_json_end(&w);
    ck_assert_int_eq(bs_admin_json_finish(&w), BS_ERANGE);
    bs_buf_free(&b);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Server                                                              */
/* ------------------------------------------------------------------ */

static atomic_int hello_calls;

static int h_hello(void *ud, const bs_admin_request *req,
                   bs_admin_response *resp) {
    atomic_fetch_add(&hello_calls, 1);
    const char *name = NULL;
    if (bs_admin_query_param(req, "name", &name)) name = (const char *)ud;
    bs_admin_json w;
    bs_admin_json_init(&w, &resp->body);
    bs_admin_json_obj(&w);
    bs_admin_json_key(&w, "hello");
    bs_admin_json_str(&w, name);
    bs_admin_json_key(&w, "body");
    bs_admin_json_strn(&w, (const char *)req->body, req->body_len);
    bs_admin_json_end(&w);
    return bs_admin_json_finish(&w);
}

static int h_notfound(void *ud, const bs_admin_request *req,
                      bs_admin_response *resp) {
    (void)ud;
    (void)req;
    (void)resp;
    return BS_ENOTFOUND;
}

static int h_custom(void *ud, const bs_admin_request *req,
                    bs_admin_response *resp) {
    (void)ud;
    (void)req;
    return bs_admin_error(resp, 503, "try later: %d", 7);
}

static int h_text(void *ud, const bs_admin_request *req,
                  bs_admin_response *resp) {
    (void)ud;
    (void)req;
    resp->content_type = "text/plain";
    return bs_buf_append_str(&resp->body, "plain");
}

static bs_admin *adm;
static fake_provider fake;
static int port;

static const char *g_token; /* start_server's token; NULL = none */
static int g_per_ip = -1;    /* start_server's max_connections_per_ip; -1: default */

static void start_server(size_t max_body, int max_conns) {
    bs_log_set_level(BS_LOG_WARN);
    bs_admin_opts o;
    bs_admin_opts_init(&o);
    o.token = g_token;
    o.port = 0;
    o.max_body = max_body;
    o.max_connections = max_conns;
    if (g_per_ip >= 0) o.max_connections_per_ip = g_per_ip;
    ck_assert_int_eq(bs_admin_new(&o, &adm), 0);
    fake_init(&fake);
    bs_admin_provider p;
    fake_fill(&fake, &p);
    ck_assert_int_eq(bs_admin_install_builtins(adm, &p), 0);
    ck_assert_int_eq(bs_admin_route(adm, "GET", "/hello", h_hello, "world"), 0);
    ck_assert_int_eq(bs_admin_route(adm, "PUT", "/hello", h_hello, "put"), 0);
    ck_assert_int_eq(bs_admin_route(adm, "GET", "/nf", h_notfound, NULL), 0);
    ck_assert_int_eq(bs_admin_route(adm, "GET", "/custom", h_custom, NULL), 0);
    ck_assert_int_eq(bs_admin_route(adm, "GET", "/text", h_text, NULL), 0);
    ck_assert_int_eq(bs_admin_route(adm, "GET", "bad", h_text, NULL),
                     BS_EINVAL);
    ck_assert_int_eq(bs_admin_route(adm, "", "/x", h_text, NULL), BS_EINVAL);
    ck_assert_int_eq(bs_admin_start(adm), 0);
    ck_assert_int_eq(bs_admin_start(adm), BS_EBUSY);
    port = bs_admin_port(adm);
    ck_assert_int_gt(port, 0);
}

static void stop_server(void) {
    bs_admin_free(adm);
    adm = NULL;
    sem_destroy(&fake.release);
}

START_TEST(test_routes_and_errors) {
    start_server(0, 0);
    http_resp r;
    ck_assert_int_eq(http_do(port, "GET", "/hello?name=a%20b", &r), 200);
    ck_assert_str_eq(r.body, "{\"hello\":\"a b\",\"body\":\"\"}");
    ck_assert_ptr_nonnull(
        strstr(r.headers, "Content-Type: application/json\r\n"));
    resp_free(&r);
    ck_assert_int_eq(http_do(port, "GET", "/nowhere", &r), 404);
    ck_assert_str_eq(r.body, "{\"error\":\"no such endpoint: /nowhere\"}");
    resp_free(&r);
    ck_assert_int_eq(http_do(port, "DELETE", "/hello", &r), 405);
    ck_assert_ptr_nonnull(strstr(r.headers, "Allow: GET, PUT\r\n"));
    resp_free(&r);
    ck_assert_int_eq(http_do(port, "GET", "/nf", &r), 404);
    ck_assert_str_eq(r.body, "{\"error\":\"not found\"}");
    resp_free(&r);
    ck_assert_int_eq(http_do(port, "GET", "/custom", &r), 503);
    ck_assert_str_eq(r.body, "{\"error\":\"try later: 7\"}");
    resp_free(&r);
    ck_assert_int_eq(http_do(port, "GET", "/text", &r), 200);
    ck_assert_ptr_nonnull(strstr(r.headers, "Content-Type: text/plain\r\n"));
    ck_assert_str_eq(r.body, "plain");
    resp_free(&r);
    /* a second registration replaces the handler */
    ck_assert_int_eq(bs_admin_route(adm, "GET", "/text", h_custom, NULL), 0);
    ck_assert_int_eq(http_do(port, "GET", "/text", &r), 503);
    resp_free(&r);
    stop_server();
}
END_TEST

START_TEST(test_keepalive_pipelining) {
    start_server(0, 0);
    int fd = tcp_connect(port);
    ck_assert_int_ge(fd, 0);
    http_resp r;
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(send_str(fd, "GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
                         0);
        ck_assert_int_eq(read_resp(fd, &r), 0);
        ck_assert_int_eq(r.status, 200);
        ck_assert_ptr_nonnull(strstr(r.headers, "Connection: keep-alive\r\n"));
        resp_free(&r);
    }
    /* three pipelined requests in one write, one with a body, last closes */
    ck_assert_int_eq(send_str(fd,
                              "GET /hello?name=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
                              "PUT /hello?name=2 HTTP/1.1\r\nHost: "
                              "127.0.0.1\r\nContent-Length: 3\r\n\r\nabc"
                              "GET /hello?name=3 HTTP/1.1\r\nHost: "
                              "127.0.0.1\r\nConnection: close\r\n\r\n"),
                     0);
    const char *want[] = {"{\"hello\":\"1\",\"body\":\"\"}",
                          "{\"hello\":\"2\",\"body\":\"abc\"}",
                          "{\"hello\":\"3\",\"body\":\"\"}"};
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(read_resp(fd, &r), 0);
        ck_assert_int_eq(r.status, 200);
        ck_assert_str_eq(r.body, want[i]);
        resp_free(&r);
    }
    ck_assert(peer_closed(fd));
    close(fd);
    stop_server();
}
END_TEST

START_TEST(test_bad_request_closes) {
    start_server(16, 0);
    int fd = tcp_connect(port);
    http_resp r;
    ck_assert_int_eq(send_str(fd, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n "
                                  "folded\r\n\r\nGET /hello HTTP/1.1\r\n\r\n"),
                     0);
    ck_assert_int_eq(read_resp(fd, &r), 0);
    ck_assert_int_eq(r.status, 400);
    ck_assert_ptr_nonnull(strstr(r.body, "folding"));
    ck_assert_ptr_nonnull(strstr(r.headers, "Connection: close\r\n"));
    resp_free(&r);
    ck_assert(peer_closed(fd));
    close(fd);
    /* body over the limit (16): 413 and closed, the body is never read */
    fd = tcp_connect(port);
    ck_assert_int_eq(
        send_str(
            fd, "PUT /hello HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 17\r\n\r\n"),
        0);
    ck_assert_int_eq(read_resp(fd, &r), 0);
    ck_assert_int_eq(r.status, 413);
    resp_free(&r);
    ck_assert(peer_closed(fd));
    close(fd);
    /* binary garbage */
    fd = tcp_connect(port);
    ck_assert_int_eq(
        send_all(fd, "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\n\n", 13),
        0);
    ck_assert_int_eq(read_resp(fd, &r), 0);
    ck_assert_int_eq(r.status, 400);
    resp_free(&r);
    ck_assert(peer_closed(fd));
    close(fd);
    /* the server still serves */
    ck_assert_int_eq(http_do(port, "GET", "/hello", &r), 200);
    resp_free(&r);
    stop_server();
}
END_TEST

START_TEST(test_expect_continue) {
    start_server(0, 0);
    int fd = tcp_connect(port);
    ck_assert_int_eq(
        send_str(fd,
                 "PUT /hello HTTP/1.1\r\nHost: 127.0.0.1\r\nExpect: 100-continue\r\n"
                 "Content-Length: 4\r\n\r\n"),
        0);
    char buf[64] = {0};
    const char *cont = "HTTP/1.1 100 Continue\r\n\r\n";
    size_t got = 0;
    while (got < strlen(cont)) {
        ssize_t k = recv(fd, buf + got, strlen(cont) - got, 0);
        ck_assert_int_gt(k, 0);
        got += (size_t)k;
    }
    ck_assert_str_eq(buf, cont);
    ck_assert_int_eq(send_str(fd, "data"), 0);
    http_resp r;
    ck_assert_int_eq(read_resp(fd, &r), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "{\"hello\":\"put\",\"body\":\"data\"}");
    resp_free(&r);
    close(fd);
    stop_server();
}
END_TEST

START_TEST(test_blocking_handler_does_not_stall) {
    start_server(0, 0);
    int a = tcp_connect(port);
    ck_assert_int_eq(
        send_str(a, "POST /flush?keyspace=slow HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
                    "GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
        0);
    while (atomic_load(&fake.in_slow) == 0)
        usleep(1000);
    /* the flush is blocked in the provider: other connections are served */
    http_resp r;
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(http_do(port, "GET", "/version", &r), 200);
        resp_free(&r);
    }
    ck_assert_int_eq(atomic_load(&fake.flushes), 0);
    int before = atomic_load(&hello_calls);
    sem_post(&fake.release);
    ck_assert_int_eq(read_resp(a, &r), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body,
                     "{\"ok\":true,\"keyspace\":\"slow\",\"table\":null}");
    resp_free(&r);
    /* the pipelined request behind it is answered afterwards, in order */
    ck_assert_int_eq(read_resp(a, &r), 0);
    ck_assert_str_eq(r.body, "{\"hello\":\"world\",\"body\":\"\"}");
    resp_free(&r);
    ck_assert_int_eq(atomic_load(&fake.flushes), 1);
    ck_assert_int_eq(atomic_load(&hello_calls), before + 1);
    close(a);
    stop_server();
}
END_TEST

START_TEST(test_connection_cap) {
    start_server(0, 2);
    int a = tcp_connect(port), b = tcp_connect(port);
    http_resp r;
    /* make sure both are accepted before the third arrives */
    ck_assert_int_eq(send_str(a, "GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"), 0);
    ck_assert_int_eq(read_resp(a, &r), 0);
    resp_free(&r);
    ck_assert_int_eq(send_str(b, "GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"), 0);
    ck_assert_int_eq(read_resp(b, &r), 0);
    resp_free(&r);
    /* both slots hold idle keep-alive connections: a third takes the slot
     * of the one idle longest (a), and is served */
    int c = tcp_connect(port);
    ck_assert_int_ge(c, 0);
    ck_assert_int_eq(send_str(c, "GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"), 0);
    ck_assert_int_eq(read_resp(c, &r), 0);
    ck_assert_int_eq(r.status, 200);
    resp_free(&r);
    ck_assert(peer_closed(a));
    close(a);
    ck_assert_int_eq(send_str(b, "GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"), 0);
    ck_assert_int_eq(read_resp(b, &r), 0);
    ck_assert_int_eq(r.status, 200);
    resp_free(&r);
    close(b);
    close(c);
    stop_server();
}
END_TEST

/* Issue 19, finding 7: 64 connections trickling a request head locked
 * basalt-admin out for the idle timeout (60 s).  Every slot is taken by a
 * slow sender; a new client must be served at once, the slow senders
 * lose their slots oldest first. */
/* One request with extra header lines (each ending in CRLF) on a fresh
 * connection; the status, the response in r. */
static int http_raw(const char *method, const char *path, const char *host,
                    const char *extra, http_resp *r) {
    int fd = tcp_connect(port);
    ck_assert_int_ge(fd, 0);
    char req[2048];
    snprintf(req, sizeof req, "%s %s HTTP/1.1\r\n%s%s%s%sConnection: close\r\n\r\n",
             method, path, host ? "Host: " : "", host ? host : "",
             host ? "\r\n" : "", extra ? extra : "");
    int rc = send_str(fd, req) ? -1 : read_resp(fd, r);
    close(fd);
    return rc ? -1 : r->status;
}

static void expect(const char *method, const char *path, const char *host,
                   const char *extra, int status, const char *body_part) {
    http_resp r;
    ck_assert_int_eq(http_raw(method, path, host, extra, &r), status);
    if (body_part)
        ck_assert_msg(r.body && strstr(r.body, body_part), "%s %s: %s", method,
                      path, r.body ? r.body : "(none)");
    if (status == 401)
        ck_assert_ptr_nonnull(strstr(r.headers, "WWW-Authenticate: Bearer"));
    resp_free(&r);
}

#define TOKEN "0123456789abcdef-token"
#define AUTH "Authorization: Bearer " TOKEN "\r\n"

/* Issue 20: every endpoint but /health needs the token. */
START_TEST(test_token_required) {
    g_token = TOKEN;
    start_server(0, 0);
    const char *paths[] = {"/status", "/info", "/ring", "/version", "/hello",
                           "/nowhere"};
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++) {
        expect("GET", paths[i], "127.0.0.1", NULL, 401, "missing admin token");
        expect("GET", paths[i], "127.0.0.1",
               "Authorization: Bearer 0123456789abcdef-tokeN\r\n", 401,
               "wrong admin token");
        expect("GET", paths[i], "127.0.0.1",
               "Authorization: Bearer " TOKEN "x\r\n", 401, "wrong admin token");
        expect("GET", paths[i], "127.0.0.1",
               "Authorization: Basic " TOKEN "\r\n", 401, NULL);
    }
    /* POSTs that change state are refused before their handler runs */
    expect("POST", "/drain", "127.0.0.1", NULL, 401, NULL);
    expect("POST", "/flush", "127.0.0.1", NULL, 401, NULL);
    ck_assert_int_eq(atomic_load(&fake.drains), 0);
    ck_assert_int_eq(atomic_load(&fake.flushes), 0);
    /* with the token */
    expect("GET", "/hello", "127.0.0.1", AUTH, 200, "world");
    expect("GET", "/version", "127.0.0.1", "authorization: bearer " TOKEN "\r\n",
           200, NULL);
    expect("POST", "/drain", "127.0.0.1", AUTH, 200, NULL);
    ck_assert_int_eq(atomic_load(&fake.drains), 1);
    /* /health needs none */
    expect("GET", "/health", "127.0.0.1", NULL, 200, "\"ok\"");
    stop_server();
    g_token = NULL;
}
END_TEST

/* Issue 20: DNS rebinding (a foreign name in Host) and cross-site
 * requests (a foreign Origin) are refused, even with the token. */
START_TEST(test_host_and_origin_checked) {
    g_token = TOKEN;
    start_server(0, 0);
    char h[64];
    snprintf(h, sizeof h, "127.0.0.1:%d", port);
    /* acceptable Host values */
    const char *good[] = {"127.0.0.1", h, "localhost", "LocalHost:7199",
                          "[::1]:7199", "10.1.2.3", "[2001:db8::1]"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        expect("GET", "/hello", good[i], AUTH, 200, NULL);
    /* names that are not ours */
    const char *bad[] = {"evil.example", "evil.example:7199",
                         "localhost.evil.example", "127.0.0.1.evil.example",
                         "127.0.0.1:x", "[::1", ":7199", "a:1:2"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        expect("GET", "/hello", bad[i], AUTH, 403, "Host header");
        expect("GET", "/health", bad[i], NULL, 403, "Host header");
    }
    expect("POST", "/drain", "evil.example", AUTH, 403, NULL);
    ck_assert_int_eq(atomic_load(&fake.drains), 0);
    /* Origin: only our own */
    char own[128], extra[256];
    snprintf(own, sizeof own, "Origin: http://%s\r\n" AUTH, h);
    expect("GET", "/hello", h, own, 200, NULL);
    const char *origins[] = {"http://evil.example", "null",
                             "https://127.0.0.1", "http://127.0.0.1:1"};
    for (size_t i = 0; i < sizeof origins / sizeof *origins; i++) {
        snprintf(extra, sizeof extra, "Origin: %s\r\n" AUTH, origins[i]);
        expect("GET", "/hello", h, extra, 403, "cross-origin");
        expect("POST", "/drain", h, extra, 403, "cross-origin");
    }
    ck_assert_int_eq(atomic_load(&fake.drains), 0);
    stop_server();
    g_token = NULL;
}
END_TEST

START_TEST(test_slow_senders_cannot_lock_out) {
    enum { SLOTS = 8 };
    start_server(0, SLOTS);
    int slow[SLOTS];
    for (int i = 0; i < SLOTS; i++) {
        slow[i] = tcp_connect(port);
        ck_assert_int_ge(slow[i], 0);
        ck_assert_int_eq(send_str(slow[i], "GET /hello HTTP/1.1\r\nHo"), 0);
    }
    /* a request on a connection of its own proves the server has taken
     * all of the above: it is accepted after them, in order */
    for (int round = 0; round < 3; round++) {
        http_resp r;
        ck_assert_int_eq(http_do(port, "GET", "/hello", &r), 200);
        resp_free(&r);
    }
    /* the oldest slow senders were closed to make room; the newest is
     * still open and can finish its request */
    ck_assert(peer_closed(slow[0]));
    ck_assert_int_eq(send_str(slow[SLOTS - 1], "st: 127.0.0.1\r\n\r\n"), 0);
    http_resp r;
    ck_assert_int_eq(read_resp(slow[SLOTS - 1], &r), 0);
    ck_assert_int_eq(r.status, 200);
    resp_free(&r);
    for (int i = 0; i < SLOTS; i++) close(slow[i]);
    stop_server();
}
END_TEST

#define GET_HELLO "GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"

/* One keep-alive request on fd; its status. */
static int hello_on(int fd) {
    http_resp r;
    if (send_str(fd, GET_HELLO) || read_resp(fd, &r)) return -1;
    resp_free(&r);
    return r.status;
}

/* Issue 20: a source holding max_connections_per_ip connections gets 429
 * for one more and is closed; another source address is still served. */
START_TEST(test_connections_per_ip) {
    g_per_ip = 3;
    start_server(0, 0);
    int fds[3];
    for (int i = 0; i < 3; i++) {
        fds[i] = tcp_connect_from(port, "127.0.0.1");
        ck_assert_int_ge(fds[i], 0);
        ck_assert_int_eq(hello_on(fds[i]), 200);
    }
    int extra = tcp_connect_from(port, "127.0.0.1");
    ck_assert_int_ge(extra, 0);
    http_resp r;
    ck_assert_int_eq(read_resp(extra, &r), 0);
    ck_assert_int_eq(r.status, 429);
    ck_assert_ptr_nonnull(strstr(r.body, "too many admin connections"));
    resp_free(&r);
    ck_assert(peer_closed(extra));
    close(extra);
    int other = tcp_connect_from(port, "127.0.0.2");
    ck_assert_int_ge(other, 0);
    ck_assert_int_eq(hello_on(other), 200);
    /* the first three still work; a closed one frees its place */
    for (int i = 0; i < 3; i++) ck_assert_int_eq(hello_on(fds[i]), 200);
    close(fds[0]);
    int again = -1, st = 429;
    for (int tries = 0; tries < 200 && st == 429; tries++) {
        if (again >= 0) close(again);
        again = tcp_connect_from(port, "127.0.0.1");
        ck_assert_int_ge(again, 0);
        st = hello_on(again);
        if (st != 200) usleep(10000);
    }
    ck_assert_int_eq(st, 200);
    close(again);
    close(fds[1]);
    close(fds[2]);
    close(other);
    g_per_ip = -1;
    stop_server();
}
END_TEST

/* Issue 20: with every slot open, a new connection pushes out a
 * connection of the source holding the most slots, not the longest-idle
 * connection of another source (a working operator's client). */
START_TEST(test_eviction_prefers_biggest_source) {
    enum { SLOTS = 4 };
    g_per_ip = 0;
    start_server(0, SLOTS);
    int b = tcp_connect_from(port, "127.0.0.2");
    ck_assert_int_ge(b, 0);
    ck_assert_int_eq(hello_on(b), 200); /* b: idle longest from here on */
    int a[SLOTS];
    for (int i = 0; i < SLOTS - 1; i++) {
        a[i] = tcp_connect_from(port, "127.0.0.1");
        ck_assert_int_ge(a[i], 0);
        ck_assert_int_eq(hello_on(a[i]), 200);
    }
    a[SLOTS - 1] = tcp_connect_from(port, "127.0.0.1");
    ck_assert_int_ge(a[SLOTS - 1], 0);
    ck_assert_int_eq(hello_on(a[SLOTS - 1]), 200);
    ck_assert(peer_closed(a[0])); /* 127.0.0.1's longest-idle one */
    ck_assert_int_eq(hello_on(b), 200);
    for (int i = 1; i < SLOTS; i++) ck_assert_int_eq(hello_on(a[i]), 200);
    for (int i = 0; i < SLOTS; i++) close(a[i]);
    close(b);
    g_per_ip = -1;
    stop_server();
}
END_TEST

START_TEST(test_busy_port_and_stop) {
    start_server(0, 0);
    /* a second server on the same port fails in start, synchronously */
    bs_admin_opts o;
    bs_admin_opts_init(&o);
    o.port = port;
    bs_admin *other;
    ck_assert_int_eq(bs_admin_new(&o, &other), 0);
    ck_assert_int_eq(bs_admin_start(other), -EADDRINUSE);
    bs_admin_free(other);
    /* an unresolvable address */
    o.address = "no-such-host.invalid";
    o.port = 0;
    ck_assert_int_eq(bs_admin_new(&o, &other), 0);
    ck_assert_int_eq(bs_admin_start(other), BS_EINVAL);
    bs_admin_free(other);
    /* stop with an idle keep-alive connection and a half-sent request */
    int a = tcp_connect(port), b = tcp_connect(port);
    http_resp r;
    ck_assert_int_eq(send_str(a, "GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"), 0);
    ck_assert_int_eq(read_resp(a, &r), 0);
    resp_free(&r);
    ck_assert_int_eq(send_str(b, "GET /hel"), 0);
    bs_admin_stop(adm);
    bs_admin_stop(adm); /* idempotent */
    ck_assert(peer_closed(a));
    ck_assert(peer_closed(b));
    close(a);
    close(b);
    ck_assert_int_lt(tcp_connect(port), 0); /* no longer listening */
    stop_server();
}
END_TEST

START_TEST(test_idle_timeout) {
    bs_log_set_level(BS_LOG_WARN);
    bs_admin_opts o;
    bs_admin_opts_init(&o);
    o.port = 0;
    o.idle_timeout_ms = 50;
    ck_assert_int_eq(bs_admin_new(&o, &adm), 0);
    ck_assert_int_eq(bs_admin_start(adm), 0);
    int fd = tcp_connect(bs_admin_port(adm));
    ck_assert_int_eq(send_str(fd, "GET /x HTTP/1.1\r\n"),
                     0);        /* never finished */
    ck_assert(peer_closed(fd)); /* the 10 s receive timeout bounds this */
    close(fd);
    bs_admin_free(adm);
    adm = NULL;
}
END_TEST

int main(void) {
    Suite *s = suite_create("admin");
    TCase *tj = tcase_create("json");
    tcase_add_test(tj, test_json_writer);
    tcase_add_test(tj, test_json_invalid_utf8);
    tcase_add_test(tj, test_json_misuse);
    suite_add_tcase(s, tj);
    TCase *ts = tcase_create("server");
    tcase_set_timeout(ts, 60);
    tcase_add_test(ts, test_routes_and_errors);
    tcase_add_test(ts, test_keepalive_pipelining);
    tcase_add_test(ts, test_bad_request_closes);
    tcase_add_test(ts, test_expect_continue);
    tcase_add_test(ts, test_blocking_handler_does_not_stall);
    tcase_add_test(ts, test_connection_cap);
    tcase_add_test(ts, test_slow_senders_cannot_lock_out);
    tcase_add_test(ts, test_token_required);
    tcase_add_test(ts, test_host_and_origin_checked);
    tcase_add_test(ts, test_busy_port_and_stop);
    tcase_add_test(ts, test_idle_timeout);
    tcase_add_test(ts, test_connections_per_ip);
    tcase_add_test(ts, test_eviction_prefers_biggest_source);
    suite_add_tcase(s, ts);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
