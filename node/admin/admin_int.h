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
#include "node/transport/http_parse.h"

/* Sets up r as the admin server's request reader (the policy in
 * admin_http.c's top comment); max_body 0 = BS_ADMIN_MAX_BODY.  Free it
 * with bs__http_rd_free. */
void bs__admin_rd_init(bs__http_rd *r, size_t max_body);

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
