/*
 * fuzz_tshttp.c - libFuzzer driver for the time-series HTTP server's
 * request reader (node/transport/http_parse.c: http-parser + limits +
 * gzip).
 *
 * The input is a stream of pipelined requests, fed twice: once whole and
 * once cut into pieces whose sizes come from the input's first byte.
 * Oracles, beyond "no crash, no sanitizer report":
 *   - only the documented results: 1 (a request), 0 (need more), or
 *     BS_EPROTO with one of the documented statuses and a message;
 *   - a request has a method, a path starting with '/', lower-case
 *     header names, a body no larger than max_body and NUL-terminated;
 *   - bytes arriving in pieces give the same requests (method, path,
 *     query, body) as bytes arriving at once, and an error in one case is
 *     an error in the other (the status may differ: http-parser reports
 *     header bytes late when they arrive at once, so a bad byte can be
 *     seen before a limit that pieces would trip first).
 * Seed corpus: tests/fuzz/tshttp/.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "node/transport/http_parse.h"

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

static void run(const uint8_t *data, size_t size, size_t step, trace *t) {
    bs__http_rd r;
    bs__http_rd_init(&r, 1024, MAX_BODY);
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
            if (st != 400 && st != 413 && st != 415 && st != 417 && st != 431 && st != 501 &&
                st != 500)
                abort();
            if (!why || !*why) abort();
            t->verdict = st;
            break;
        }
        if (rc == 1) {
            if (!q.method || !*q.method || q.path[0] != '/' || !q.query) abort();
            if (q.body_len > MAX_BODY || q.body[q.body_len] != 0) abort();
            for (size_t i = 0; i < q.n_headers; i++)
                for (const char *c = q.headers[i].name; *c; c++)
                    if (isupper((unsigned char)*c)) abort();
            uint32_t h = 2166136261u;
            h = mix(h, q.method, strlen(q.method) + 1);
            h = mix(h, q.path, strlen(q.path) + 1);
            h = mix(h, q.query, strlen(q.query) + 1);
            h = mix(h, q.body, q.body_len);
            t->sig[t->n++] = h;
            continue;
        }
        if (rc != 0) abort();
        if (avail == size) break; /* all fed, need more */
    }
    bs__http_rd_free(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    size_t step = 1 + data[0] % 17;
    trace a, b;
    run(data + 1, size - 1, 0, &a);
    run(data + 1, size - 1, step, &b);
    if (a.n != b.n || !a.verdict != !b.verdict) abort();
    for (int i = 0; i < a.n; i++)
        if (a.sig[i] != b.sig[i]) abort();
    return 0;
}
