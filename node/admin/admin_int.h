/*
 * admin_int.h - internals of the admin server shared by node/admin*.c,
 * the unit tests and the HTTP fuzz target.  Not a public interface.
 */
#ifndef BS_NODE_ADMIN_INT_H
#define BS_NODE_ADMIN_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "node/admin/admin.h"

/* One parsed request; every pointer is into the arena given to
 * bs__http_parse. */
typedef struct bs__http_req {
    const char *method;
    const char *path;  /* percent-decoded */
    const char *query; /* raw, "" when none */
    bs_admin_header *headers;
    size_t n_headers;
    const uint8_t *body;
    size_t body_len;
    int minor;            /* HTTP/1.<minor> */
    bool keep_alive;      /* per version default and Connection header */
    bool expect_continue; /* "Expect: 100-continue" */
} bs__http_req;

/* Parses one request at the start of p[0..len).
 *   0          complete: *consumed = head + body length, out filled.
 *   BS_EAGAIN  incomplete.  *consumed = 0 while the head is incomplete,
 *              else the total length needed (head + Content-Length); in
 *              that case out's head fields are filled (the server sends
 *              100 Continue when out->expect_continue).
 *   BS_EPROTO  malformed: *status is 400, 413, 431, 501 or 505 and *why a
 *              static explanation.  The connection must be closed after
 *              the error response: the stream can no longer be framed.
 *   BS_ENOMEM
 * Never reads past p + len.  Allocates from a (reset it between calls). */
int bs__http_parse(const uint8_t *p, size_t len, size_t max_body, bs_arena *a,
                   bs__http_req *out, size_t *consumed, int *status,
                   const char **why);

/* Percent-decodes s[0..n) into the arena ('+' -> ' ' when plus_space).
 * BS_EINVAL for a bad escape or an encoded NUL. */
int bs__http_unescape(const char *s, size_t n, bool plus_space, bs_arena *a,
                      const char **out);

/* Appends a complete response (status line, Content-Type, Content-Length,
 * Connection, optional extra header lines ending in CRLF, body). */
int bs__http_write_response(bs_buf *out, int status, const char *content_type,
                            const char *extra_headers, bool keep_alive,
                            const uint8_t *body, size_t body_len);

/* Hands `p` to the server, which calls fr(p) in bs_admin_free (after the
 * thread is joined).  0 or BS_ENOMEM (p is then not kept). */
int bs__admin_keep(bs_admin *a, void *p, void (*fr)(void *));

/* The BS_E -> HTTP status mapping documented in admin.h. */
int bs__admin_status_for(int rc);

#endif
