/*
 * http_parse.h - basaltd's one HTTP/1.1 request reader (http_parse.c),
 * shared by both HTTP servers: the time-series server (http.c) and the
 * admin API (node/admin/admin.c), by their unit tests and fuzz targets.
 *
 * A bs__http_rd turns a byte stream into complete requests.  It wraps
 * Debian's http-parser (a streaming parser: bytes may arrive in any
 * pieces) and adds what it leaves to its user: limits on the head, the
 * number of fields and the body, header collection, percent-decoding of
 * the path, and a per-server policy (bs__http_rd_opts):
 *
 *     bs__http_rd r;
 *     bs__http_rd_init(&r, max_head, max_body);    // time-series policy
 *     // or bs__http_rd_init_opts(&r, &opts);      // e.g. the admin's
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
#ifndef BS_NODE_TRANSPORT_HTTP_PARSE_H
#define BS_NODE_TRANSPORT_HTTP_PARSE_H

#include <http_parser.h>

#include "node/transport/http.h"

/* What one server accepts.  Every field 0/false is the plainest reader:
 * head and body limits BS_HTTP_MAX_HEAD/BODY, BS_HTTP_MAX_HEADERS fields,
 * any request http-parser accepts (chunked bodies included). */
typedef struct bs__http_rd_opts {
    size_t max_head;    /* request target + field names + values; over it:
                           431.  0 = BS_HTTP_MAX_HEAD */
    size_t max_body;    /* Content-Length or (decoded) body over it: 413.
                           0 = BS_HTTP_MAX_BODY */
    size_t max_headers; /* more fields: 431.  0 (or more than
                           BS_HTTP_MAX_HEADERS) = BS_HTTP_MAX_HEADERS */
    bool codings;       /* Content-Encoding gzip is inflated, any other
                           coding is 415, an Expect other than
                           100-continue is 417 (the time-series server) */
    bool strict;        /* RFC 9112 as the admin API wants it: HTTP/1.x
                           only (505; no version at all: 400), the target
                           in origin form ("/..."), visible ASCII, no
                           fragment, at most 8 KiB (400), exactly one Host
                           in HTTP/1.1 and never two (400), no obs-fold
                           (400), no Transfer-Encoding (501: bodies need a
                           Content-Length; also rules out TE/CL
                           smuggling) */
} bs__http_rd_opts;

typedef struct bs__http_rd {
    http_parser p;
    http_parser_settings cb;
    bs__http_rd_opts o;
    bs_arena arena; /* the current request's memory; reset per request */
    bs_buf url;     /* raw request target */
    bs_buf hdr;     /* header names and values, NUL-separated */
    size_t hdr_off[BS_HTTP_MAX_HEADERS * 2];
    size_t n_hdr_parts; /* name, value, name, value, ... starts */
    size_t n_head_parts; /* parts before the body (trailers are ignored) */
    int last_was_value;
    const char *feed_start; /* the bytes being fed */
    uint64_t stream_pos;    /* bytes parsed before them */
    uint64_t value_end;     /* stream position after the last value piece */
    size_t head_bytes;
    bs_buf body;
    int gzip;        /* Content-Encoding: gzip */
    int want_continue; /* Expect: 100-continue seen, not yet answered */
    int complete;    /* on_message_complete ran */
    int status;      /* our own error (limits): HTTP status, else 0 */
    const char *why; /* static message for `status` */
    int poisoned;
} bs__http_rd;

/* The time-series server's reader: the given limits (0 = default) and
 * `codings`. */
void bs__http_rd_init(bs__http_rd *r, size_t max_head, size_t max_body);
/* A reader with policy *o (copied; 0 fields take their defaults). */
void bs__http_rd_init_opts(bs__http_rd *r, const bs__http_rd_opts *o);
void bs__http_rd_free(bs__http_rd *r);
/* See the top comment.  `req` points into the reader. */
int bs__http_rd_feed(bs__http_rd *r, const char *data, size_t len,
                     size_t *used, bs_http_request *req, int *status,
                     const char **why);
/* True while a request has started but not completed (bytes pending). */
int bs__http_rd_in_request(const bs__http_rd *r);
/* Percent-decodes s[0..n) into a NUL-terminated string from `a`;
 * form: '+' means a space.  NULL on a bad escape, a NUL byte (raw or
 * %00: it would cut the C string short) or OOM. */
char *bs__http_rd_unescape(const char *s, size_t n, int form, bs_arena *a);

#endif
