/*
 * test_http.c - the HTTP server (node/transport/http.c) over real
 * sockets on 127.0.0.1 with a free port: /ping and /health of the
 * time-series routes, keep-alive, pipelining in order, chunked and gzip
 * bodies reaching the handler, 413/431 and the connection closing after
 * them, Expect: 100-continue, the connection cap (503 + Retry-After),
 * the idle timeout, and stop with a handler in flight.
 */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <zlib.h>

#include "common/error.h"
#include "node/transport/http.h"
#include "node/ts/ts.h"

static bs_ts *TS;
static bs_http_handler TSH;

/* /echo answers 200 with "<method> <body length>\n<body>"; /slow sleeps
 * 300 ms first; everything else goes to the time-series routes. */
static void handle(void *ud, const bs_http_request *req, bs_http_response *resp) {
    (void)ud;
    if (!strcmp(req->path, "/slow")) {
        usleep(300000);
        resp->status = 200;
        bs_buf_append_str(&resp->body, "slow");
        return;
    }
    if (!strcmp(req->path, "/echo")) {
        resp->status = 200;
        resp->content_type = "text/plain";
        bs_buf_appendf(&resp->body, "%s %zu\n", req->method, req->body_len);
        bs_buf_append(&resp->body, req->body, req->body_len);
        return;
    }
    TSH.handle(TSH.ud, req, resp);
}

static bs_http *start(int max_conn, unsigned idle_ms, size_t max_body) {
    ck_assert_int_eq(bs_ts_new(NULL, NULL, &TS), 0);
    bs_ts_http_handler(TS, &TSH);
    bs_http_opts o;
    bs_http_opts_init(&o);
    o.address = "127.0.0.1";
    o.port = 0;
    o.max_connections = max_conn;
    o.idle_timeout_ms = idle_ms;
    o.max_body = max_body;
    o.max_head = 4096;
    bs_http_handler h = {NULL, handle};
    bs_http *s;
    ck_assert_int_eq(bs_http_start(&o, &h, &s), 0);
    ck_assert_int_gt(bs_http_port(s), 0);
    return s;
}

static void stop(bs_http *s) {
    bs_http_free(s);
    bs_ts_free(TS);
}

static int dial(bs_http *s) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)bs_http_port(s));
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

static void put(int fd, const void *p, size_t n) {
    ck_assert_int_eq(write(fd, p, n), (ssize_t)n);
}

/* Reads until the peer closes or `want` complete responses arrived
 * (counted by their Content-Length / 204).  Returns the text. */
static char *get(int fd, int want, int *closed) {
    static char buf[1 << 20];
    size_t n = 0;
    *closed = 0;
    for (;;) {
        /* count complete responses in buf */
        int got = 0;
        const char *p = buf;
        buf[n] = 0;
        for (;;) {
            const char *e = strstr(p, "\r\n\r\n");
            if (!e) break;
            if (!strncmp(p, "HTTP/1.1 100", 12)) {
                p = e + 4;
                continue;
            }
            const char *cl = strstr(p, "Content-Length: ");
            size_t body = (cl && cl < e) ? strtoul(cl + 16, NULL, 10) : 0;
            if ((size_t)(e + 4 - buf) + body > n) break;
            p = e + 4 + body;
            got++;
        }
        if (want && got >= want) break;
        ssize_t k = read(fd, buf + n, sizeof buf - 1 - n);
        if (k <= 0) {
            *closed = 1;
            break;
        }
        n += (size_t)k;
    }
    buf[n] = 0;
    return buf;
}

static int count(const char *hay, const char *needle) {
    int c = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle)) c++;
    return c;
}

START_TEST(test_ping_health_404) {
    bs_http *s = start(0, 0, 0);
    int fd = dial(s);
    int closed;
    put(fd, "GET /ping HTTP/1.1\r\nHost: x\r\n\r\n", 31);
    char *r = get(fd, 1, &closed);
    ck_assert_msg(!strncmp(r, "HTTP/1.1 204 No Content\r\n", 25), "%s", r);
    ck_assert_ptr_nonnull(strstr(r, "X-Influxdb-Version: " BS_HTTP_VERSION "\r\n"));
    ck_assert(!closed);
    const char *q = "HEAD /ping HTTP/1.1\r\n\r\nGET /ping?verbose=true HTTP/1.1\r\n\r\n"
                    "GET /health HTTP/1.1\r\n\r\nGET /nope HTTP/1.1\r\n\r\n"
                    "DELETE /health HTTP/1.1\r\n\r\n";
    put(fd, q, strlen(q));
    r = get(fd, 5, &closed);
    ck_assert(!closed);
    /* in order, on the same connection */
    const char *a = strstr(r, "HTTP/1.1 204"), *b = strstr(r, "HTTP/1.1 200"),
               *c = strstr(r, "\"status\":\"pass\""), *d = strstr(r, "HTTP/1.1 404"),
               *e = strstr(r, "HTTP/1.1 405");
    ck_assert_msg(a && b && c && d && e && a < b && b < c && c < d && d < e, "%s", r);
    ck_assert_ptr_nonnull(strstr(r, "{\"version\":\"" BS_HTTP_VERSION "\"}"));
    ck_assert_ptr_nonnull(strstr(r, "404 page not found"));
    ck_assert_ptr_nonnull(strstr(r, "Allow: GET, HEAD\r\n"));
    close(fd);
    stop(s);
}
END_TEST

START_TEST(test_bodies) {
    bs_http *s = start(0, 0, 100000);
    int fd = dial(s);
    int closed;
    const char *q = "POST /echo HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
                    "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                    "2\r\nxy\r\n3\r\nzzz\r\n0\r\n\r\n";
    /* byte by byte: the reader keeps state across reads */
    for (size_t i = 0; i < strlen(q); i++) put(fd, q + i, 1);
    char *r = get(fd, 2, &closed);
    ck_assert_msg(strstr(r, "POST 3\nabc") && strstr(r, "POST 5\nxyzzz"), "%s", r);
    /* gzip */
    char body[50000];
    for (size_t i = 0; i < sizeof body; i++) body[i] = (char)('0' + i % 10);
    unsigned char z[60000];
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
    zs.next_in = (unsigned char *)body;
    zs.avail_in = sizeof body;
    zs.next_out = z;
    zs.avail_out = sizeof z;
    ck_assert_int_eq(deflate(&zs, Z_FINISH), Z_STREAM_END);
    size_t zn = sizeof z - zs.avail_out;
    deflateEnd(&zs);
    char h[200];
    int hn = snprintf(h, sizeof h,
                      "POST /echo HTTP/1.1\r\nContent-Encoding: gzip\r\n"
                      "Expect: 100-continue\r\nContent-Length: %zu\r\n\r\n", zn);
    put(fd, h, (size_t)hn);
    /* the interim response arrives before we send the body */
    char cont[64] = {0};
    ck_assert_int_eq(read(fd, cont, 25), 25);
    ck_assert_str_eq(cont, "HTTP/1.1 100 Continue\r\n\r\n");
    put(fd, z, zn);
    r = get(fd, 1, &closed);
    ck_assert_ptr_nonnull(strstr(r, "POST 50000\n0123456789"));
    /* over max_body: 413 and the connection closes */
    const char *big = "POST /echo HTTP/1.1\r\nContent-Length: 100001\r\n\r\n";
    put(fd, big, strlen(big));
    r = get(fd, 0, &closed);
    ck_assert_msg(!strncmp(r, "HTTP/1.1 413", 12), "%s", r);
    ck_assert_ptr_nonnull(strstr(r, "{\"error\":\"Request Entity Too Large\"}"));
    ck_assert_ptr_nonnull(strstr(r, "Connection: close"));
    ck_assert(closed);
    close(fd);
    /* head over max_head: 431 */
    fd = dial(s);
    char head[6000];
    int n = snprintf(head, sizeof head, "GET /ping HTTP/1.1\r\nX: ");
    memset(head + n, 'a', 5000);
    n += 5000;
    n += snprintf(head + n, sizeof head - (size_t)n, "\r\n\r\n");
    put(fd, head, (size_t)n);
    r = get(fd, 0, &closed);
    ck_assert_msg(!strncmp(r, "HTTP/1.1 431", 12), "%s", r);
    ck_assert(closed);
    close(fd);
    /* garbage: 400 */
    fd = dial(s);
    put(fd, "\x01\x02garbage\r\n\r\n", 13);
    r = get(fd, 0, &closed);
    ck_assert_msg(!strncmp(r, "HTTP/1.1 400", 12), "%s", r);
    ck_assert(closed);
    close(fd);
    stop(s);
}
END_TEST

START_TEST(test_connection_close_and_http10) {
    bs_http *s = start(0, 0, 0);
    int closed;
    int fd = dial(s);
    put(fd, "GET /ping HTTP/1.1\r\nConnection: close\r\n\r\nGET /ping HTTP/1.1\r\n\r\n", 63);
    char *r = get(fd, 0, &closed);
    ck_assert(closed);
    ck_assert_int_eq(count(r, "HTTP/1.1 204"), 1); /* the second is never answered */
    close(fd);
    fd = dial(s);
    put(fd, "GET /ping HTTP/1.0\r\n\r\n", 22);
    r = get(fd, 0, &closed);
    ck_assert(closed);
    ck_assert_int_eq(count(r, "HTTP/1.1 204"), 1);
    close(fd);
    stop(s);
}
END_TEST

START_TEST(test_connection_cap_and_idle) {
    bs_http *s = start(2, 300, 0);
    int closed;
    int a = dial(s), b = dial(s);
    put(a, "GET /ping HTTP/1.1\r\n\r\n", 22);
    put(b, "GET /ping HTTP/1.1\r\n\r\n", 22);
    ck_assert_int_eq(count(get(a, 1, &closed), "204"), 1);
    ck_assert_int_eq(count(get(b, 1, &closed), "204"), 1);
    int c = dial(s);
    char *r = get(c, 0, &closed);
    ck_assert_msg(!strncmp(r, "HTTP/1.1 503", 12), "%s", r);
    ck_assert_ptr_nonnull(strstr(r, "Retry-After: 1\r\n"));
    ck_assert(closed);
    close(c);
    /* idle connections are closed by the timer (a read sees EOF) */
    get(a, 0, &closed);
    ck_assert(closed);
    get(b, 0, &closed);
    ck_assert(closed);
    close(a);
    close(b);
    /* their slots are free again, once the server has finished closing
     * them (its close callbacks run after the client saw EOF) */
    int served = 0;
    for (int attempt = 0; attempt < 100 && !served; attempt++) {
        c = dial(s);
        put(c, "GET /ping HTTP/1.1\r\n\r\n", 22);
        served = count(get(c, 1, &closed), "HTTP/1.1 204") == 1;
        close(c);
        if (!served) usleep(20000);
    }
    ck_assert(served);
    stop(s);
}
END_TEST

typedef struct {
    bs_http *s;
} stopper;

static void *stop_later(void *arg) {
    stopper *st = arg;
    usleep(100000);
    bs_http_stop(st->s);
    return NULL;
}

START_TEST(test_stop_with_handler_in_flight) {
    bs_http *s = start(0, 0, 0);
    int closed;
    int fd = dial(s);
    put(fd, "GET /slow HTTP/1.1\r\n\r\n", 22);
    usleep(50000);
    pthread_t t;
    stopper st = {s};
    pthread_create(&t, NULL, stop_later, &st);
    char *r = get(fd, 0, &closed);
    /* the request in flight is answered, then the connection closes */
    ck_assert_msg(!strncmp(r, "HTTP/1.1 200", 12), "%s", r);
    ck_assert_ptr_nonnull(strstr(r, "Connection: close"));
    ck_assert(closed);
    pthread_join(t, NULL);
    close(fd);
    stop(s);
}
END_TEST

int main(void) {
    Suite *s = suite_create("http");
    TCase *tc = tcase_create("server");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_ping_health_404);
    tcase_add_test(tc, test_bodies);
    tcase_add_test(tc, test_connection_close_and_http10);
    tcase_add_test(tc, test_connection_cap_and_idle);
    tcase_add_test(tc, test_stop_with_handler_in_flight);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
