/*
 * fuzz_http.c - libFuzzer driver for the admin server's HTTP/1.1 request
 * reading: the shared reader (node/transport/http_parse.c, http-parser)
 * set up exactly as the admin server sets it up (bs__admin_rd_init in
 * node/admin/admin_http.c: 16 KiB head, 64 fields, strict policy).
 *
 * The input is a stream of pipelined requests, fed twice: once whole and
 * once cut into pieces whose size comes from the input's last byte (so
 * the seed corpus stays plain HTTP).  Oracles, beyond "no crash, no
 * sanitizer report":
 *   - only the documented results: 1 (a request), 0 (need more), or
 *     BS_EPROTO with one of the admin's statuses and a message;
 *   - a request has a method, a path starting with '/', a query of
 *     visible ASCII, lower-case header names (at most 64), a body no
 *     larger than max_body, a Host when it is HTTP/1.1 and no
 *     Transfer-Encoding (the strict policy held);
 *   - bytes arriving in pieces give the same requests (method, path,
 *     query, body) as bytes arriving at once, and an error in one case is
 *     an error in the other;
 *   - the request accessors return only their documented codes.
 * Seed corpus: tests/fuzz/http/.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "node/admin/admin_int.h"

#define MAX_BODY 4096
#define MAX_REQS 16

typedef struct {
    int n;
    uint32_t sig[MAX_REQS];
    int verdict; /* 0: need more / done, else status */
} trace;

static uint32_t mix(uint32_t h, const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 16777619u;
    return h;
}

/* The oracles on one complete request; its signature. */
static uint32_t check_request(const bs_http_request *q) {
    if (!q->method || !*q->method || q->path[0] != '/' || !q->query) abort();
    for (const char *c = q->query; *c; c++)
        if (*c <= 0x20 || *c >= 0x7f || *c == '#') abort();
    if (q->body_len > MAX_BODY || q->body[q->body_len] != 0) abort();
    if (q->n_headers > BS_ADMIN_MAX_HEADERS) abort();
    for (size_t i = 0; i < q->n_headers; i++)
        for (const char *c = q->headers[i].name; *c; c++)
            if (isupper((unsigned char)*c)) abort();
    bs_admin_request req = {q->method,     q->path, q->query,    q->headers,
                            q->n_headers,  q->body, q->body_len, q->minor,
                            q->keep_alive, q->arena};
    if (q->minor >= 1 && !bs_admin_header_get(&req, "host")) abort();
    if (bs_admin_header_get(&req, "transfer-encoding")) abort();
    const char *v;
    int rc = bs_admin_query_param(&req, "keyspace", &v);
    if (rc && rc != BS_ENOTFOUND && rc != BS_EINVAL) abort();
    uint32_t h = 2166136261u;
    h = mix(h, q->method, strlen(q->method) + 1);
    h = mix(h, q->path, strlen(q->path) + 1);
    h = mix(h, q->query, strlen(q->query) + 1);
    return mix(h, q->body, q->body_len);
}

static void run(const uint8_t *data, size_t size, size_t step, trace *t) {
    bs__http_rd r;
    bs__admin_rd_init(&r, MAX_BODY);
    memset(t, 0, sizeof *t);
    size_t off = 0, avail = 0;
    while (off < size && t->n < MAX_REQS) {
        if (avail < off) avail = off;
        if (avail < size) avail = step ? (avail + step < size ? avail + step : size) : size;
        bs_http_request q;
        size_t used = 0;
        int st = 0;
        const char *why = NULL;
        int rc = bs__http_rd_feed(&r, (const char *)data + off, avail - off, &used, &q, &st, &why);
        if (used > avail - off) abort();
        off += used;
        if (rc == BS_EPROTO) {
            if (st != 400 && st != 413 && st != 431 && st != 501 && st != 505 && st != 500)
                abort();
            if (!why || !*why) abort();
            t->verdict = st;
            break;
        }
        if (rc == 1) {
            t->sig[t->n++] = check_request(&q);
            continue;
        }
        if (rc != 0) abort();
        if (avail == size) break; /* all fed, need more */
    }
    bs__http_rd_free(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    size_t step = 1 + data[size - 1] % 17;
    trace a, b;
    run(data, size, 0, &a);
    run(data, size, step, &b);
    if (a.n != b.n || !a.verdict != !b.verdict) abort();
    for (int i = 0; i < a.n; i++)
        if (a.sig[i] != b.sig[i]) abort();
    return 0;
}
