/*
 * fuzz_http.c - libFuzzer driver for the admin server's HTTP/1.1 request
 * parser (node/admin/admin_http.c).
 *
 * The input is treated as a stream of pipelined requests: each parse
 * that succeeds consumes its bytes and the next one starts after them,
 * exactly as the server does.  Oracles, beyond "no crash, no
 * sanitizer report":
 *   - only the documented results: 0, BS_EAGAIN, or BS_EPROTO with one of
 *     the documented status codes;
 *   - a success consumes no more than is there and yields NUL-terminated
 *     method/path/query and lower-case header names;
 *   - every proper prefix of a request that parsed is "incomplete"
 *     (BS_EAGAIN), never an error: bytes arriving in pieces must not
 *     change the verdict;
 *   - the query accessors never fail with anything but the documented
 *     codes.
 * Seed corpus: tests/fuzz/http/.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/error.h"
#include "node/admin/admin_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    bs_arena a;
    bs_arena_init(&a, 0);
    size_t off = 0;
    for (int n = 0; n < 16 && off < size; n++) {
        bs__http_req r;
        size_t used;
        int st;
        const char *why;
        bs_arena_reset(&a);
        int rc = bs__http_parse(data + off, size - off, 4096, &a, &r, &used,
                                &st, &why);
        if (rc == BS_EAGAIN) break;
        if (rc == BS_EPROTO) {
            if (st != 400 && st != 413 && st != 431 && st != 501 && st != 505)
                abort();
            if (!why || !*why) abort();
            break;
        }
        if (rc != 0) abort();
        if (used == 0 || used > size - off) abort();
        if (strlen(r.method) == 0 || r.path[0] != '/') abort();
        (void)strlen(r.query);
        for (size_t i = 0; i < r.n_headers; i++)
            for (const char *c = r.headers[i].name; *c; c++)
                if (isupper((unsigned char)*c)) abort();
        bs_admin_request req = {r.method,     r.path, r.query,    r.headers,
                                r.n_headers,  r.body, r.body_len, r.minor,
                                r.keep_alive, &a};
        const char *v;
        rc = bs_admin_query_param(&req, "keyspace", &v);
        if (rc && rc != BS_ENOTFOUND && rc != BS_EINVAL) abort();
        (void)bs_admin_header_get(&req, "host");
        /* the prefix oracle (on a fresh arena: r points into a) */
        bs_arena b;
        bs_arena_init(&b, 0);
        bs__http_req r2;
        size_t used2;
        rc = bs__http_parse(data + off, used - 1, 4096, &b, &r2, &used2, &st,
                            &why);
        if (rc != BS_EAGAIN) abort();
        bs_arena_free(&b);
        off += used;
    }
    bs_arena_free(&a);
    return 0;
}
