/*
 * http.h - basaltd's client-facing HTTP/1.1 server on http_port (default
 * 8086): the InfluxDB-compatible time-series endpoint (/write,
 * /api/v2/write, /query, /ping, /health) lives behind it.
 *
 * Room node/transport/ (client-facing listeners).  The server knows HTTP
 * and nothing of time series: it parses requests with Debian's
 * http-parser library (http_parse.c), decodes gzip request bodies with
 * zlib, and hands each complete request to ONE handler function that the
 * embedder supplies (basaltd: node/ts/ts_http.c routes it).
 *
 *     bs_http_opts o;
 *     bs_http_opts_from_config(&o, &cfg);
 *     bs_http_handler h = { ud, my_handle };
 *     bs_http *srv;
 *     bs_http_start(&o, &h, &srv);   // binds synchronously, then serves
 *     ...
 *     bs_http_stop(srv); bs_http_free(srv);
 *
 * Protocol: HTTP/1.0 and 1.1; keep-alive by default on 1.1 ("Connection:
 * close" ends it; 1.0 needs "Connection: keep-alive"); pipelined requests
 * are answered in order (one request of a connection is handled at a
 * time); bodies with Content-Length or chunked Transfer-Encoding;
 * "Content-Encoding: gzip" bodies are inflated before the handler sees
 * them; "Expect: 100-continue" gets its interim 100 response.
 *
 * Limits and errors (every error body is InfluxDB's `{"error":"..."}`):
 *   - request line + header fields over max_head bytes: 431, close;
 *   - a body (after gzip inflation) over max_body bytes: 413, close;
 *   - malformed HTTP (bad request line, bad chunk, bad Content-Length,
 *     bad gzip data): 400, close; unsupported Content-Encoding: 415;
 *     protocol upgrades: 501;
 *   - more than max_connections open: the new connection gets 503 with
 *     "Retry-After: 1" and is closed;
 *   - a connection that sends nothing for idle_timeout_ms is closed
 *     (also in the middle of a request head or body).
 *
 * Threads: the server runs one libuv loop on its own thread.  The handler
 * runs on libuv's thread pool (uv_queue_work), so it may block (write
 * through the coordinator, wait for replicas); it may run concurrently
 * with itself for different connections, so what it touches must be
 * thread-safe.
 *
 * Memory: a request and everything it points to live in a per-request
 * arena (req->arena) valid until the response is written; the handler may
 * allocate from it.  The response body is a bs_buf the server frees.
 */
#ifndef BS_NODE_TRANSPORT_HTTP_H
#define BS_NODE_TRANSPORT_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "common/buf.h"
#include "node/config.h"

typedef struct bs_http bs_http;

#define BS_HTTP_MAX_BODY (25u << 20) /* InfluxDB's max-body-size default */
#define BS_HTTP_MAX_HEAD (64u << 10)
#define BS_HTTP_MAX_HEADERS 100
#define BS_HTTP_VERSION "1.6.7~basalt" /* X-Influxdb-Version */

typedef struct bs_http_opts {
    const char *address;      /* IP literal or host name, borrowed until
                                 bs_http_start returns; NULL = 127.0.0.1 */
    int port;                 /* 0 = any free port (see bs_http_port) */
    size_t max_body;          /* 0 = BS_HTTP_MAX_BODY */
    size_t max_head;          /* 0 = BS_HTTP_MAX_HEAD */
    int max_connections;      /* <= 0 = 1024 */
    unsigned idle_timeout_ms; /* 0 = 60000 */
    struct bs_tls_ctx *tls;   /* HTTPS (common/tls.h server context,
                                 http_encryption_options; borrowed, must
                                 outlive the server); NULL = plain HTTP */
} bs_http_opts;

void bs_http_opts_init(bs_http_opts *o);
/* rpc_address, http_port and the http_* limits of the config (cfg is
 * borrowed: the address pointer stays cfg's). */
void bs_http_opts_from_config(bs_http_opts *o, const bs_config *cfg);

typedef struct bs_http_header {
    const char *name;  /* lower-cased */
    const char *value; /* as sent, leading/trailing blanks removed */
} bs_http_header;

typedef struct bs_http_request {
    const char *method; /* "GET", "POST", ... */
    const char *path;   /* percent-decoded path, without the query */
    const char *query;  /* raw query string after '?', "" when none */
    const bs_http_header *headers;
    size_t n_headers;
    const uint8_t *body; /* inflated when Content-Encoding was gzip; a NUL
                            follows body[body_len] */
    size_t body_len;
    int minor;       /* HTTP/1.minor */
    bool keep_alive; /* what the request asked for */
    bs_arena *arena; /* the request's arena */
} bs_http_request;

typedef struct bs_http_response {
    int status;               /* 200 when the handler leaves it 0 */
    const char *content_type; /* static or arena; NULL = none */
    char headers[512];        /* extra header lines, each ending "\r\n" */
    bs_buf body;              /* the server frees it */
    bool close;               /* close the connection after this response */
} bs_http_response;

/* The embedder's request handler: fills `resp` (status, content type,
 * body, extra headers).  Runs on the thread pool; see the top comment. */
typedef struct bs_http_handler {
    void *ud;
    void (*handle)(void *ud, const bs_http_request *req,
                   bs_http_response *resp);
} bs_http_handler;

/* Binds and listens (synchronously: a busy port is reported here as a
 * negated errno, an unresolvable address as BS_EINVAL), then serves on a
 * new thread.  `h` is copied. */
int bs_http_start(const bs_http_opts *o, const bs_http_handler *h,
                  bs_http **out);
/* The bound port (useful with port 0). */
int bs_http_port(const bs_http *s);
/* Stops listening, lets handlers in flight finish, closes every
 * connection and joins the thread.  Idempotent. */
void bs_http_stop(bs_http *s);
/* Stops if needed, then frees.  NULL is a no-op. */
void bs_http_free(bs_http *s);

/* ------------------------------------------------------------------ */
/* Helpers for handlers                                                */
/* ------------------------------------------------------------------ */

/* The value of header `name` (lower-case), or NULL. */
const char *bs_http_header_get(const bs_http_request *r, const char *name);

/* Looks up `name` in a query string or form body (application/
 * x-www-form-urlencoded: `a=1&b=x+y`) and decodes %XX and '+' into a
 * NUL-terminated string from `a`.  0, BS_ENOTFOUND, BS_EINVAL (bad %
 * escape) or BS_ENOMEM. */
int bs_http_form_get(const char *form, size_t len, const char *name,
                     bs_arena *a, const char **out);

/* Sets an InfluxDB-style error: status and body {"error":"<msg>"} with
 * the message JSON-escaped.  Returns 0 or BS_ENOMEM. */
int bs_http_error(bs_http_response *resp, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Appends `s` as a JSON string (quotes included) to `b`, escaped as Go's
 * encoding/json does (InfluxDB's answers): \" \\ \n \r \t, other
 * control bytes and < > & as \u00XX. */
int bs_http_json_str(bs_buf *b, const char *s, size_t len);

/* Longest decoded "user:password" accepted in an Authorization header. */
#define BS_HTTP_MAX_CREDENTIALS 1400

/* Decodes standard base64 (RFC 4648 alphabet; '=' padding optional)
 * into out (cap bytes).  0, or BS_EINVAL: a byte outside the alphabet, a
 * bad length, or more than cap bytes of output. */
int bs_http_base64_decode(const char *s, size_t n, uint8_t *out, size_t cap, size_t *outlen);

/* The credentials a request carries, as InfluxDB 1.x accepts them: query
 * parameters u and p (they win), "Authorization: Basic base64(user:pass)"
 * or "Authorization: Token user:pass" (http_auth.c).  On 0, *user and
 * *pass are NUL-terminated strings from req->arena (the user non-empty;
 * the password everything after the first ':').  BS_ENOTFOUND: none
 * given; BS_EINVAL: malformed (bad base64, no ':', a NUL, another
 * scheme, only one of u/p); BS_ENOMEM. */
int bs_http_credentials(const bs_http_request *r, const char **user, const char **pass);

#endif
