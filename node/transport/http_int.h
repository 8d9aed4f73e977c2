/*
 * http_int.h - the request reader of the HTTP server (http_parse.c),
 * shared by the server (http.c), its unit tests and the fuzz target.
 *
 * A bs__http_rd turns a byte stream into complete requests.  It wraps
 * Debian's http-parser (a streaming parser: bytes may arrive in any
 * pieces) and adds what it leaves to its user: limits on the head and the
 * body, header collection, gzip inflation, percent-decoding of the path.
 *
 *     bs__http_rd r;
 *     bs__http_rd_init(&r, max_head, max_body);
 *     for each read: while (len) {
 *         rc = bs__http_rd_feed(&r, p, len, &used, &req, &status, &why);
 *         p += used; len -= used;
 *         rc == 1: a request is complete (req valid until the next feed)
 *         rc == 0: all bytes consumed, need more
 *         rc < 0 : BS_EPROTO, answer `status` with `why` and close
 *     }
 *     bs__http_rd_free(&r);
 *
 * After an error the reader is poisoned: every later feed repeats it.
 */
#ifndef BS_NODE_TRANSPORT_HTTP_INT_H
#define BS_NODE_TRANSPORT_HTTP_INT_H

#include <http_parser.h>

#include "node/transport/http.h"

typedef struct bs__http_rd {
    http_parser p;
    http_parser_settings cb;
    size_t max_head, max_body;
    bs_arena arena; /* the current request's memory; reset per request */
    bs_buf url;     /* raw request target */
    bs_buf hdr;     /* header names and values, NUL-separated */
    size_t hdr_off[BS_HTTP_MAX_HEADERS * 2];
    size_t n_hdr_parts; /* name, value, name, value, ... starts */
    size_t n_head_parts; /* parts before the body (trailers are ignored) */
    int last_was_value;
    size_t head_bytes;
    bs_buf body;
    int gzip;        /* Content-Encoding: gzip */
    int want_continue; /* Expect: 100-continue seen, not yet answered */
    int complete;    /* on_message_complete ran */
    int status;      /* our own error (limits): HTTP status, else 0 */
    const char *why; /* static message for `status` */
    int poisoned;
} bs__http_rd;

void bs__http_rd_init(bs__http_rd *r, size_t max_head, size_t max_body);
void bs__http_rd_free(bs__http_rd *r);
/* See the top comment.  `req` points into the reader. */
int bs__http_rd_feed(bs__http_rd *r, const char *data, size_t len,
                     size_t *used, bs_http_request *req, int *status,
                     const char **why);
/* True while a request has started but not completed (bytes pending). */
int bs__http_rd_in_request(const bs__http_rd *r);
/* Percent-decodes s[0..n) into a NUL-terminated string from `a`;
 * form: '+' means a space.  NULL on a bad escape or OOM. */
char *bs__http_rd_unescape(const char *s, size_t n, int form, bs_arena *a);

#endif
