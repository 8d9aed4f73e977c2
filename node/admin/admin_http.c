/*
 * admin_http.c - the admin server's HTTP side: the request reader's
 * policy, the response writer and the request accessors.
 *
 * Requests are read by basaltd's one HTTP parser, node/transport/
 * http_parse.c (Debian's http-parser behind bs__http_rd), with the
 * admin's policy (bs__admin_rd_init): a head (request target + fields)
 * of at most BS_ADMIN_MAX_HEAD bytes and BS_ADMIN_MAX_HEADERS fields
 * (else 431), a Content-Length body of at most max_body (else 413), and
 * the reader's `strict` rules: HTTP/1.x only (505), an origin-form
 * target of visible ASCII without fragment (400), exactly one Host in
 * HTTP/1.1 (400), no Transfer-Encoding (501: chunked bodies are not
 * supported, and refusing TE also rules out TE/CL request smuggling).
 * Malformed syntax (request line, field lines, Content-Length, a bare
 * CR, a control byte) is http-parser's verdict: 400.  No content coding
 * is applied: a handler sees the body as sent.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/error.h"
#include "node/admin/admin_int.h"

void bs__admin_rd_init(bs__http_rd *r, size_t max_body) {
    bs__http_rd_opts o = {BS_ADMIN_MAX_HEAD, max_body ? max_body : BS_ADMIN_MAX_BODY,
                          BS_ADMIN_MAX_HEADERS, false, true};
    bs__http_rd_init_opts(r, &o);
}

const char *bs_admin_status_text(int status) {
    switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 413: return "Content Too Large";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}

int bs__http_write_response(bs_buf *out, int status, const char *content_type,
                            const char *extra_headers, bool keep_alive,
                            const uint8_t *body, size_t body_len) {
    int rc = bs_buf_appendf(out,
                            "HTTP/1.1 %d %s\r\nServer: basalt-admin\r\n"
                            "Content-Type: %s\r\nContent-Length: %zu\r\n"
                            "Connection: %s\r\n%s\r\n",
                            status, bs_admin_status_text(status),
                            content_type ? content_type : "application/json",
                            body_len, keep_alive ? "keep-alive" : "close",
                            extra_headers ? extra_headers : "");
    if (rc) return rc;
    return body_len ? bs_buf_append(out, body, body_len) : 0;
}

int bs__admin_status_for(int rc) {
    switch (rc) {
    case BS_ENOTFOUND: return 404;
    case BS_EINVAL:
    case BS_ESYNTAX: return 400;
    case BS_ENOTSUP: return 501;
    case BS_EUNAVAIL:
    case BS_EBUSY: return 503;
    default: return 500;
    }
}

/* ------------------------------------------------------------------ */
/* Request accessors                                                   */
/* ------------------------------------------------------------------ */

const char *bs_admin_header_get(const bs_admin_request *r, const char *name) {
    for (size_t i = 0; i < r->n_headers; i++)
        if (strcasecmp(r->headers[i].name, name) == 0)
            return r->headers[i].value;
    return NULL;
}

int bs_admin_query_param(const bs_admin_request *r, const char *name,
                         const char **out) {
    const char *q = r->query ? r->query : "";
    return bs_http_form_get(q, strlen(q), name, r->arena, out);
}
