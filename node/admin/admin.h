/*
 * admin.h - basaltd's admin REST API: a small HTTP/1.1 server on its own
 * thread and libuv loop, bound to admin_address:admin_port (default
 * 127.0.0.1:7199), serving JSON to basalt-admin, curl and scripts.
 *
 * Room node/admin/ (this header is its door): the operator's REST API.
 * It owns the HTTP server (admin.c, admin_http.c), the JSON writer, the
 * built-in routes, the provider that reads a running node (provider.h)
 * and the repair routes (repair_admin.h).  It is the top of node/: it may
 * call every other room (for snapshots and statistics) and no room calls
 * it except main.c.
 *
 * Embedding (what basaltd's main does):
 *
 *     bs_admin_opts o;
 *     bs_admin_opts_from_config(&o, &cfg);
 *     bs_admin *adm;
 *     bs_admin_new(&o, &adm);
 *     bs_admin_provider p = { .ud = node, .local = ..., .nodes = ..., ... };
 *     bs_admin_install_builtins(adm, &p);   // /version /info /status ...
 *     bs_admin_route(adm, "GET", "/health", my_handler, ud);  // more routes
 *     bs_admin_start(adm);                  // binds, then serves
 *     ...
 *     bs_admin_stop(adm); bs_admin_free(adm);
 *
 * HTTP: requests are parsed by basaltd's one HTTP parser (node/transport/
 * http_parse.c, Debian's http-parser, the time-series server's too) with
 * a strict policy (RFC 9112): request line, header fields,
 * Content-Length bodies up to opts.max_body (default 1 MiB).
 * Keep-alive is the default for HTTP/1.1 ("Connection: close" ends it),
 * pipelined requests are answered in order.  Bad requests get a JSON
 * error body with 400 (syntax), 404 (no route), 405 (route exists for
 * other methods; an Allow header lists them), 413 (body too large), 431
 * (header section over 16 KiB), 501 (Transfer-Encoding) or 505 (HTTP
 * version); after a 400/413/431/501/505 the connection is closed.
 *
 * Access (docs/SECURITY.md): before any route runs, every request is
 * checked in this order:
 *   Host    when present, its host part must be "localhost", an IP
 *           literal, or the configured admin address; any other name is
 *           refused 403 (DNS rebinding: a browser sends the attacker's
 *           name there).
 *   Origin  when present, it must be "http://" + the Host header (our own
 *           origin); anything else, "null" included, is refused 403
 *           (cross-site requests from a web page).
 *   Token   with opts.token set, every path except /health needs
 *           "Authorization: Bearer <token>" (compared in constant time);
 *           missing or wrong: 401 with WWW-Authenticate: Bearer.
 * Refusals are JSON errors like any other and are logged (rate-limited)
 * with the client's address.  GET /health answers {"status": "ok"}.
 *
 * Threads: bs_admin_new/route/install_builtins/start/stop/free are called
 * from one controlling thread.  A handler registered with bs_admin_route
 * runs ON THE ADMIN THREAD: it must be quick (read a snapshot, format
 * JSON) because the admin loop serves nobody else meanwhile.  A handler
 * registered with bs_admin_route_blocking runs on libuv's thread pool
 * (uv_queue_work) - use it for flush/compact/drain and anything that may
 * take long; the connection waits for it, other connections are served.
 * Either kind may run concurrently with every other thread of the
 * process, so what it reads must be thread-safe.
 *
 * Memory: a request and everything it points to live in a per-request
 * arena (req->arena) released after the response is written; handlers
 * may allocate from it.  The response body is a bs_buf the server frees.
 */
#ifndef BS_NODE_ADMIN_H
#define BS_NODE_ADMIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "common/buf.h"
#include "common/uuid.h"
#include "node/config.h"
#include "node/transport/http.h"

typedef struct bs_admin bs_admin;

#define BS_ADMIN_DEFAULT_PORT 7199
#define BS_ADMIN_MAX_BODY (1u << 20)  /* default request body limit */
#define BS_ADMIN_MAX_HEAD (16u << 10) /* request line + header fields */
#define BS_ADMIN_MAX_HEADERS 64

/* ------------------------------------------------------------------ */
/* Server                                                              */
/* ------------------------------------------------------------------ */

typedef struct bs_admin_opts {
    const char *address;      /* IP literal or host name, borrowed during
                                 bs_admin_new; NULL = "127.0.0.1" */
    int port;                 /* 0 = any free port (see bs_admin_port) */
    size_t max_body;          /* 0 = BS_ADMIN_MAX_BODY */
    int max_connections;      /* <= 0 = 64; when all are open, a new one
                                 takes the slot of the connection that has
                                 waited longest for a complete request (an
                                 idle keep-alive or a slow sender); only
                                 when every slot is busy answering is it
                                 accepted and closed */
    int max_connections_per_ip; /* open connections one source address
                                 may hold; a new one over it is answered
                                 429 (closed at once with TLS); 0 =
                                 unlimited.  bs_admin_opts_init: 16 */
    unsigned idle_timeout_ms; /* a connection with no complete request for
                                 this long is closed; 0 = 60000 */
    const char *token;        /* bearer token every path but /health needs
                                 (copied); NULL = no token check (embedders
                                 and tests only: basaltd always sets one) */
    struct bs_tls_ctx *tls;   /* HTTPS (common/tls.h server context,
                                 borrowed: must outlive the API); NULL =
                                 plain HTTP */
} bs_admin_opts;

void bs_admin_opts_init(bs_admin_opts *o);
/* admin_address and admin_port from the config (cfg is borrowed: the
 * address pointer stays cfg's). */
void bs_admin_opts_from_config(bs_admin_opts *o, const bs_config *cfg);

/* Reads the admin token named by admin_token_file (default
 * <data_directory>/admin_token, created with 32 random bytes as hex on
 * first start) into tok (NUL-terminated; cap >= 4097 is always enough).
 * The file must be private (mode 0600), 16..4096 visible ASCII
 * characters.  0, or an error with a message naming the file. */
int bs_admin_load_token(const bs_config *cfg, char *tok, size_t cap,
                        char *err, size_t errlen);

/* Creates a stopped server holding a copy of opts.  0 or BS_ENOMEM. */
int bs_admin_new(const bs_admin_opts *o, bs_admin **out);
/* Binds and listens (synchronously: a busy port is reported here as a
 * negated errno, e.g. -EADDRINUSE; an unresolvable address as BS_EINVAL),
 * then serves on a new thread.  BS_EBUSY if already started. */
int bs_admin_start(bs_admin *a);
/* The bound port (useful with port 0); 0 before start. */
int bs_admin_port(const bs_admin *a);
/* Stops listening, waits for blocking handlers in flight, closes every
 * connection and joins the thread.  Idempotent; no-op if never started. */
void bs_admin_stop(bs_admin *a);
/* Stops if needed, then frees.  NULL is a no-op. */
void bs_admin_free(bs_admin *a);

/* ------------------------------------------------------------------ */
/* Requests, responses, routes                                         */
/* ------------------------------------------------------------------ */

/* A header field: name lower-cased, value with leading/trailing
 * whitespace removed (the shared HTTP reader's type). */
typedef bs_http_header bs_admin_header;

typedef struct bs_admin_request {
    const char *method; /* "GET", case-sensitive as in HTTP */
    const char *path;   /* percent-decoded path without the query */
    const char *query;  /* raw query string after '?', "" when none */
    const bs_admin_header *headers;
    size_t n_headers;
    const uint8_t *body; /* NULL when body_len == 0 */
    size_t body_len;
    int http_minor;  /* 0 or 1 (HTTP/1.x) */
    bool keep_alive; /* the connection stays open after the response */
    bs_arena *arena; /* owns all of the above; handlers may use it */
} bs_admin_request;

typedef struct bs_admin_response {
    int status;               /* set to 200 before the handler runs */
    const char *content_type; /* static string; "application/json" */
    bs_buf body;              /* owned by the server */
} bs_admin_response;

/* Returns 0 after filling resp.  A negative BS_E code makes the server
 * answer an error: resp->status if the handler set one >= 400, else
 * 404 for BS_ENOTFOUND, 400 for BS_EINVAL/BS_ESYNTAX, 501 for
 * BS_ENOTSUP, 503 for BS_EUNAVAIL/BS_EBUSY, 500 otherwise; the body is
 * resp->body when non-empty, else {"error": "<bs_strerror>"}. */
typedef int (*bs_admin_handler)(void *ud, const bs_admin_request *req,
                                bs_admin_response *resp);

/* Registers method+path (exact match, e.g. "GET", "/status"); method and
 * path are copied; a second registration of the same pair replaces the
 * first.  Allowed before and after start.  0, BS_EINVAL (path not
 * starting with '/', empty method) or BS_ENOMEM. */
int bs_admin_route(bs_admin *a, const char *method, const char *path,
                   bs_admin_handler h, void *ud);
/* As bs_admin_route, but the handler runs on libuv's thread pool. */
int bs_admin_route_blocking(bs_admin *a, const char *method, const char *path,
                            bs_admin_handler h, void *ud);

/* Header value by case-insensitive name; NULL when absent. */
const char *bs_admin_header_get(const bs_admin_request *r, const char *name);
/* The first query parameter `name` ("?a=1&b=x%20y"), percent- and
 * '+'-decoded into req->arena; a parameter without '=' has value "".
 * 0, BS_ENOTFOUND, BS_EINVAL (bad %-escape or a NUL byte) or BS_ENOMEM. */
int bs_admin_query_param(const bs_admin_request *r, const char *name,
                         const char **out);
/* Sets status and a {"error": msg} body (msg is printf-formatted).
 * Returns 0 so a handler can `return bs_admin_error(...)`. */
int bs_admin_error(bs_admin_response *resp, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Reason phrase of a status code ("Not Found"); "Unknown" if unknown. */
const char *bs_admin_status_text(int status);

/* ------------------------------------------------------------------ */
/* JSON writer for handlers                                            */
/* ------------------------------------------------------------------ */

/* Appends JSON text to a bs_buf and inserts the commas itself:
 *
 *     bs_admin_json w;
 *     bs_admin_json_init(&w, &resp->body);
 *     bs_admin_json_obj(&w);
 *       bs_admin_json_key(&w, "name"); bs_admin_json_str(&w, name);
 *       bs_admin_json_key(&w, "nodes"); bs_admin_json_arr(&w); ... end
 *     bs_admin_json_end(&w);
 *     return bs_admin_json_finish(&w);
 *
 * Strings are escaped per RFC 8259 (quote, backslash, control bytes as
 * \n \t ... or \u00XX); bytes that are not valid UTF-8 become U+FFFD, so
 * the output is always valid JSON text.  Non-finite doubles are written
 * as null.  Errors (out of memory, nesting deeper than 32, a key outside
 * an object, end without an open container) are sticky: later calls do
 * nothing and finish returns the first error. */
typedef struct bs_admin_json {
    bs_buf *out;
    int depth;
    int err;
    uint64_t first;  /* bit d: container at depth d has no element yet */
    uint64_t is_obj; /* bit d: container at depth d is an object */
    bool after_key;  /* a key was written, its value is due */
} bs_admin_json;

void bs_admin_json_init(bs_admin_json *w, bs_buf *out);
void bs_admin_json_obj(bs_admin_json *w);
void bs_admin_json_arr(bs_admin_json *w);
void bs_admin_json_end(bs_admin_json *w);
void bs_admin_json_key(bs_admin_json *w, const char *key);
void bs_admin_json_str(bs_admin_json *w, const char *s); /* NULL -> null */
void bs_admin_json_strn(bs_admin_json *w, const char *s, size_t n);
void bs_admin_json_int(bs_admin_json *w, int64_t v);
void bs_admin_json_double(bs_admin_json *w, double v);
void bs_admin_json_bool(bs_admin_json *w, bool v);
void bs_admin_json_null(bs_admin_json *w);
void bs_admin_json_uuid(bs_admin_json *w, const bs_uuid *u);
/* 0 when every call succeeded and all containers are closed; else the
 * first error (BS_EINVAL for misuse, BS_ENOMEM, BS_ERANGE for depth). */
int bs_admin_json_finish(const bs_admin_json *w);
/* Appends s (n bytes) as a quoted, escaped JSON string.  0 or BS_ENOMEM. */
int bs_admin_json_quote(bs_buf *b, const char *s, size_t n);

/* ------------------------------------------------------------------ */
/* Built-in routes and their provider                                  */
/* ------------------------------------------------------------------ */

typedef enum { BS_ADMIN_DOWN = 0, BS_ADMIN_UP = 1 } bs_admin_liveness;

typedef enum {
    BS_ADMIN_NORMAL = 0,
    BS_ADMIN_LEAVING,
    BS_ADMIN_JOINING,
    BS_ADMIN_MOVING
} bs_admin_node_state;

/* One node of the cluster as this node sees it (the local node too). */
typedef struct bs_admin_node {
    const char *address; /* broadcast address, e.g. "127.0.0.2" */
    const char *dc;
    const char *rack;
    bs_admin_liveness status;
    bs_admin_node_state state;
    int64_t load_bytes; /* < 0: unknown ("?") */
    bs_uuid host_id;
    const int64_t *tokens;
    size_t n_tokens;
    bool has_schema; /* schema_version known (gossip SCHEMA) */
    bs_uuid schema_version;
    const char *release_version; /* NULL: unknown */
    bool is_local;
} bs_admin_node;

/* Effective ownership of one node (fraction 0..1 of the ring whose data
 * it replicates for a keyspace). */
typedef struct bs_admin_owner {
    bs_uuid host_id;
    double owns;
} bs_admin_owner;

/* The local node's identity and runtime facts. */
typedef struct bs_admin_local {
    const char *cluster_name;
    const char
        *partitioner;   /* e.g. "org.apache.cassandra.dht.Murmur3Partitioner" */
    const char *snitch; /* e.g. "org.apache.cassandra.locator.SimpleSnitch" */
    const char *address;
    const char *dc;
    const char *rack;
    bs_uuid host_id;
    int64_t generation; /* gossip generation (seconds at start) */
    int64_t uptime_seconds;
    int64_t load_bytes; /* < 0: unknown */
    const int64_t *tokens;
    size_t n_tokens;
    bs_uuid schema_version;
    bool gossip_active;
    bool native_transport_active;
    const bs_config *config; /* dumped by GET /info; NULL = omitted */
} bs_admin_local;

/* One versioned application state of an endpoint (gossip). */
typedef struct bs_admin_app_state {
    const char *name; /* "STATUS", "TOKENS", "DC", ... */
    int64_t version;
    const char *value;
} bs_admin_app_state;

typedef struct bs_admin_endpoint {
    const char *address;
    int64_t generation;
    int64_t heartbeat; /* heartbeat version */
    bool alive;        /* failure detector verdict */
    const bs_admin_app_state *states;
    size_t n_states;
} bs_admin_endpoint;

/* What the built-in routes ask the node.  Everything a callback returns
 * is allocated from the arena `a` it is given (or is static / outlives
 * the request); the admin server never frees it.  Callbacks that return
 * data run on the admin thread (keep them quick); flush/compact/drain
 * run on libuv's thread pool.  A NULL callback makes its route answer
 * 501 Not Implemented.  Error strings go to err (NUL-terminated). */
typedef struct bs_admin_provider {
    void *ud;
    const char *release_version; /* NULL = "4.0.11" (what system.local says) */
    const char *build;           /* free text, e.g. a git hash; NULL = "" */

    int (*local)(void *ud, bs_arena *a, bs_admin_local *out);
    /* Every known node including the local one. */
    int (*nodes)(void *ud, bs_arena *a, bs_admin_node **out, size_t *n);
    /* Effective ownership for `keyspace`, or for the first non-system
     * keyspace when keyspace is NULL.  *keyspace_used names the keyspace
     * used (NULL with *n = 0 when there is none: owns is then "?").
     * BS_ENOTFOUND for an unknown named keyspace. */
    int (*ownership)(void *ud, const char *keyspace, bs_arena *a,
                     bs_admin_owner **out, size_t *n,
                     const char **keyspace_used);
    /* Gossip endpoint states. */
    int (*gossip)(void *ud, bs_arena *a, bs_admin_endpoint **out, size_t *n);
    /* keyspace/table may be NULL (all keyspaces / all tables of ks).
     * BS_ENOTFOUND for an unknown keyspace or table. */
    int (*flush)(void *ud, const char *keyspace, const char *table, char *err,
                 size_t errlen);
    int (*compact)(void *ud, const char *keyspace, const char *table, char *err,
                   size_t errlen);
    /* Stop accepting writes, flush everything (nodetool drain). */
    int (*drain)(void *ud, char *err, size_t errlen);
} bs_admin_provider;

/* Registers the built-in routes (the provider struct is copied; p->ud and
 * the strings must outlive the server):
 *   GET  /version          {"release_version","basalt_version","build"}
 *   GET  /info[?tokens=1]  local identity, uptime, load, tokens, schema
 *                          version and the effective config as YAML text
 *   GET  /status[?keyspace=ks]  {"keyspace", "nodes":[{address, dc, rack,
 *                          status "U"/"D", state "N"/"L"/"J"/"M", load_bytes,
 *                          tokens, owns (fraction or null), host_id}]}
 *   GET  /ring[?keyspace=ks]    one entry per token, sorted by token
 *                          (tokens as decimal strings: JSON numbers would
 *                          lose int64 precision)
 *   GET  /gossipinfo[?format=text]  endpoint states (JSON, or nodetool text)
 *   GET  /describecluster  name, snitch, partitioner, schema versions ->
 *                          hosts (unreachable nodes under "UNREACHABLE")
 *   POST /flush[?keyspace=ks[&table=t]]   {"ok":true}
 *   POST /compact[?keyspace=ks[&table=t]]
 *   POST /drain
 * 0 or BS_ENOMEM. */
int bs_admin_install_builtins(bs_admin *a, const bs_admin_provider *p);

#endif
