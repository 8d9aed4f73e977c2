/*
 * fuzz_httpauth.c - libFuzzer driver for the credentials reader of the
 * HTTP port (node/transport/http_auth.c: bs_http_credentials and
 * bs_http_base64_decode).
 *
 * Input: the first line is the query string, the rest the value of the
 * Authorization header (absent when the input has no newline).
 * Oracles, beyond "no crash, no sanitizer report":
 *   - only the documented results (0, BS_ENOTFOUND, BS_EINVAL);
 *   - on 0 the user is non-empty and user and password are
 *     NUL-terminated strings;
 *   - base64: decoding the encoding of the decoded bytes gives them back
 *     (a round trip), and the output never exceeds the capacity.
 * Seed corpus: tests/fuzz/httpauth/.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/error.h"
#include "node/transport/http.h"

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static size_t encode(const uint8_t *p, size_t n, char *out) {
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n) v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n) v |= p[i + 2];
        out[o++] = b64[v >> 18 & 63];
        out[o++] = b64[v >> 12 & 63];
        out[o++] = i + 1 < n ? b64[v >> 6 & 63] : '=';
        out[o++] = i + 2 < n ? b64[v & 63] : '=';
    }
    return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 8192) return 0;
    /* base64 round trip over the whole input */
    uint8_t dec[8192], dec2[8192];
    char enc[8192 / 3 * 4 + 8];
    size_t dl = 0, dl2 = 0;
    size_t cap = size ? data[0] % 64 * 8 : 0; /* sometimes too small */
    int rc = bs_http_base64_decode((const char *)data, size, dec, cap, &dl);
    if (rc && rc != BS_EINVAL) abort();
    if (!rc) {
        if (dl > cap) abort();
        size_t el = encode(dec, dl, enc);
        if (bs_http_base64_decode(enc, el, dec2, sizeof dec2, &dl2) || dl2 != dl ||
            memcmp(dec, dec2, dl))
            abort();
    }
    bs_arena a;
    bs_arena_init(&a, 0);
    const uint8_t *nl = memchr(data, '\n', size);
    size_t ql = nl ? (size_t)(nl - data) : size;
    char *q = bs_arena_alloc(&a, ql + 1);
    char *h = nl ? bs_arena_alloc(&a, size - ql) : NULL;
    if (!q || (nl && !h)) abort();
    memcpy(q, data, ql);
    q[ql] = 0;
    if (h) {
        memcpy(h, nl + 1, size - ql - 1);
        h[size - ql - 1] = 0;
    }
    bs_http_header hd = {"authorization", h};
    bs_http_request req = {"GET", "/query", q, &hd, h ? 1 : 0, (const uint8_t *)"", 0, 1, true,
                           &a};
    const char *u = NULL, *p = NULL;
    rc = bs_http_credentials(&req, &u, &p);
    if (rc && rc != BS_ENOTFOUND && rc != BS_EINVAL) abort();
    if (!rc) {
        if (!u || !p || !*u) abort();
        (void)strlen(p);
    }
    bs_arena_free(&a);
    return 0;
}
