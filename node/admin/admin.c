/*
 * admin.c - the admin HTTP server: one thread, one libuv loop, a route
 * table, connections with keep-alive and pipelining.
 *
 * Threads and ownership
 * ---------------------
 * The controlling thread creates the server, registers routes (the route
 * list is guarded by `mu`, so routes may also be added while serving),
 * binds and listens in bs_admin_start, then hands the loop to the admin
 * thread (pthread_create gives the happens-before).  From then on only
 * the admin thread touches the loop, listener and connections; the
 * controlling thread reaches it through `stop_async` alone.
 * A blocking route's handler runs on libuv's thread pool; its work item
 * (struct work) is touched by the loop until uv_queue_work, by the worker
 * in work_cb, and by the loop again in after_work_cb.
 *
 * Connection lifecycle
 * --------------------
 *   accept -> reading; bytes accumulate in `in`
 *   pump(): feed `in` to the connection's request reader (the shared
 *           HTTP parser, node/transport/http_parse.c, with the admin's
 *           policy from admin_http.c), take the bytes it used off, dispatch
 *           a complete request; repeat while requests are complete and the
 *           connection is neither busy nor closing
 *   dispatch: route lookup -> inline handler (admin thread) and write the
 *           response, or a blocking handler: `busy` set, reading stopped,
 *           uv_queue_work; after_work writes the response and pumps again
 *   conn_close(): `closing` set, tcp and timer closed; the conn is freed
 *           once both close callbacks ran AND no work item is in flight
 *           (so after_work_cb can always dereference its conn)
 * Responses are written in request order because a connection dispatches
 * one request at a time.  Pending writes need no reference on the conn:
 * uv_close cancels them and their callbacks run before the close
 * callback.
 *
 * Limits: a request head is at most 16 KiB and a body at most max_body
 * (the reader enforces both, and keeps the request in its own buffers),
 * so `in` holds at most one read's worth of bytes not yet fed, except
 * while busy (reading is stopped then).  When more than WQ_LIMIT response bytes wait for a client that
 * does not read, the connection stops reading and parsing until they
 * drain.  An idle timer closes connections without a complete request for
 * idle_timeout_ms (slow or silent clients cannot pin a slot forever).
 * At most max_connections are served.  When all are open, a new
 * connection takes the slot of the one that has waited longest for a
 * complete request (`since`: order of accept or last complete request) among those
 * with no handler running and nothing left to write: an idle keep-alive
 * client or one trickling a request head.  So connections that send
 * nothing useful can delay an operator's request by no time at all,
 * however many there are (nginx reuses idle keep-alive slots the same
 * way).  Among those, connections of the source address holding the most
 * slots go first, so one source opening many connections pushes out its
 * own, not another source's working client.  Only when every slot is
 * answering a request is a new connection accepted and closed at once.
 * Before that, a source already holding max_connections_per_ip open
 * connections gets a 429 answer (plain HTTP) or an immediate close
 * (HTTPS) for its new one; that is logged once per source per
 * PERIP_LOG_S seconds (and through the global refusal-log limit).
 *
 * Access checks
 * -------------
 * check_access() runs before the route lookup (see admin.h for the
 * rules): Host, then Origin, then the bearer token.  Host and Origin
 * checks apply to /health too (they cost nothing and a rebinding page
 * has no business there); the token does not, so load balancers and
 * scripts can probe liveness without a secret.  Refusals are logged at
 * most LOG_MAX times per LOG_WINDOW_S, then counted.
 *
 * HTTPS (opts.tls, admin_encryption_options)
 * ------------------------------------------
 * Reads land in a per-thread slab; the first byte must be a TLS
 * handshake record (plain HTTP is answered 400 saying HTTPS is required,
 * and closed); ciphertext goes through a common/tls.h session whose
 * plaintext is appended to `in`, and send_buf encrypts.  Everything else
 * (parsing, checks, limits) is the same; Origin must then be https://.
 *
 * Stop
 * ----
 * bs_admin_stop sets `stopping` and wakes the loop: the listener and the
 * async handle are closed, idle connections are closed, busy ones close
 * as soon as their handler returns and the response is written.  uv_run
 * returns when the last handle is closed and the last work item is back;
 * then the thread exits and is joined.
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <uv.h>

#include <openssl/crypto.h>

#include "common/error.h"
#include "common/log.h"
#include "common/secret.h"
#include "common/tls.h"
#include "node/admin/admin_int.h"

#define READ_CHUNK 65536
#define WQ_LIMIT (4u << 20)
#define LOG_WINDOW_S 10
#define LOG_MAX 20
#define PERIP_LOG_S 5

typedef struct route {
    char *method;
    char *path;
    bs_admin_handler h;
    void *ud;
    bool blocking;
    struct route *next;
} route;

typedef struct conn conn;

struct bs_admin {
    bs_admin_opts opts;
    char *address;
    char *token; /* NULL: no token check */
    int64_t log_window; /* refusal log: window start (s), lines, left out */
    unsigned log_lines;
    uint64_t log_dropped;
    pthread_mutex_t mu; /* guards routes */
    route *routes;
    uv_loop_t loop;
    uv_tcp_t listener;
    uv_async_t stop_async;
    uv_thread_t thread;
    bool started, joined;
    atomic_int stopping;
    int port;
    conn *conns; /* admin thread only */
    int nconns;
    int nclosing; /* of nconns, closed but waiting for their close callbacks */
    uint64_t ticks; /* counts accepts and complete requests: orders conns */
    char perip_last_ip[48]; /* per-source refusal log: last source logged */
    int64_t perip_last_s;   /* and when (s of uv_now) */
    struct kept *kept; /* freed in bs_admin_free */
};

typedef struct kept {
    void *p;
    void (*fr)(void *);
    struct kept *next;
} kept;

struct conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    bs_admin *adm;
    bs_buf in;
    bs__http_rd rd;     /* request reader; holds the current request */
    bool busy;          /* a blocking handler is running */
    bool closing;       /* conn_close called */
    bool fatal;         /* no more requests: close after the writes */
    bool reading;
    int open_handles; /* tcp + timer until their close callbacks */
    size_t nwrites;
    size_t wq_bytes;
    uint64_t since; /* admin's `ticks` at accept or last complete request */
    char peer[64];
    char ip[48]; /* source address alone, for max_connections_per_ip */
    conn *prev, *next;
    bs_tls *tls;  /* HTTPS session (opts.tls); NULL before the first byte */
    bool sniffed; /* with opts.tls: the first byte was seen */
};

typedef struct wreq {
    uv_write_t uv;
    conn *c;
    bs_buf buf;
} wreq;

typedef struct work {
    uv_work_t uv;
    conn *c;
    bs_admin_handler h;
    void *ud;
    bs_admin_request req;
    bs_admin_response resp;
    int rc;
} work;

static void pump(conn *c);
static void set_reading(conn *c, bool on);
static void conn_close(conn *c);

/* ------------------------------------------------------------------ */
/* Options, routes                                                     */
/* ------------------------------------------------------------------ */

static int h_health(void *ud, const bs_admin_request *req,
                    bs_admin_response *resp) {
    (void)ud;
    (void)req;
    return bs_buf_appendf(&resp->body, "{\"status\":\"ok\"}") ? BS_ENOMEM : 0;
}

void bs_admin_opts_init(bs_admin_opts *o) {
    memset(o, 0, sizeof *o);
    o->address = "127.0.0.1";
    o->port = BS_ADMIN_DEFAULT_PORT;
    o->max_body = BS_ADMIN_MAX_BODY;
    o->max_connections = 64;
    o->max_connections_per_ip = 16;
    o->idle_timeout_ms = 60000;
}

void bs_admin_opts_from_config(bs_admin_opts *o, const bs_config *cfg) {
    bs_admin_opts_init(o);
    if (cfg->admin_address && *cfg->admin_address)
        o->address = cfg->admin_address;
    o->port = cfg->admin_port;
    o->max_connections_per_ip = cfg->admin_max_connections_per_ip;
}

int bs_admin_new(const bs_admin_opts *o, bs_admin **out) {
    bs_admin *a = calloc(1, sizeof *a);
    if (!a) return BS_ENOMEM;
    bs_admin_opts_init(&a->opts);
    if (o) a->opts = *o;
    if (a->opts.max_body == 0) a->opts.max_body = BS_ADMIN_MAX_BODY;
    if (a->opts.max_connections <= 0) a->opts.max_connections = 64;
    if (a->opts.max_connections_per_ip < 0) a->opts.max_connections_per_ip = 0;
    if (a->opts.idle_timeout_ms == 0) a->opts.idle_timeout_ms = 60000;
    a->address = strdup(a->opts.address ? a->opts.address : "127.0.0.1");
    if (!a->address) {
        free(a);
        return BS_ENOMEM;
    }
    a->opts.address = a->address;
    if (a->opts.token) {
        a->token = strdup(a->opts.token);
        if (!a->token) {
            free(a->address);
            free(a);
            return BS_ENOMEM;
        }
        a->opts.token = a->token;
    }
    pthread_mutex_init(&a->mu, NULL);
    *out = a;
    int rc = bs_admin_route(a, "GET", "/health", h_health, NULL);
    if (rc) {
        bs_admin_free(a);
        *out = NULL;
    }
    return rc;
}

int bs_admin_load_token(const bs_config *cfg, char *tok, size_t cap,
                        char *err, size_t errlen) {
    char pbuf[4096];
    const char *path = bs_config_admin_token_file(cfg, pbuf, sizeof pbuf);
    if (!path) {
        snprintf(err, errlen, "admin_token_file: data_directory too long");
        return BS_ECONFIG;
    }
    bs_secret_opts o = {cfg->admin_token_file[0] ? 0 : 32, 16, 1};
    uint8_t raw[BS_SECRET_MAX];
    size_t n = 0;
    char e[600];
    int rc = bs_secret_load(path, &o, raw, sizeof raw, &n, e, sizeof e);
    if (!rc && n + 1 > cap) rc = BS_ETOOBIG;
    for (size_t i = 0; !rc && i < n; i++)
        if (raw[i] < 0x21 || raw[i] > 0x7e) {
            snprintf(e, sizeof e,
                     "%s: a token is visible ASCII characters only (no "
                     "spaces or control bytes)",
                     path);
            rc = BS_ECONFIG;
        }
    if (rc) {
        snprintf(err, errlen, "admin token (admin_token_file): %s",
                 rc == BS_ETOOBIG ? "token too long" : e);
        OPENSSL_cleanse(raw, sizeof raw);
        return rc;
    }
    memcpy(tok, raw, n);
    tok[n] = 0;
    OPENSSL_cleanse(raw, sizeof raw);
    return 0;
}

static int add_route(bs_admin *a, const char *method, const char *path,
                     bs_admin_handler h, void *ud, bool blocking) {
    if (!a || !method || !*method || !path || path[0] != '/' || !h)
        return BS_EINVAL;
    pthread_mutex_lock(&a->mu);
    for (route *r = a->routes; r; r = r->next) {
        if (strcmp(r->method, method) == 0 && strcmp(r->path, path) == 0) {
            r->h = h;
            r->ud = ud;
            r->blocking = blocking;
            pthread_mutex_unlock(&a->mu);
            return 0;
        }
    }
    route *r = calloc(1, sizeof *r);
    if (r) {
        r->method = strdup(method);
        r->path = strdup(path);
    }
    if (!r || !r->method || !r->path) {
        if (r) {
            free(r->method);
            free(r->path);
        }
        free(r);
        pthread_mutex_unlock(&a->mu);
        return BS_ENOMEM;
    }
    r->h = h;
    r->ud = ud;
    r->blocking = blocking;
    /* append: keeps the Allow header in registration order */
    route **pp = &a->routes;
    while (*pp)
        pp = &(*pp)->next;
    *pp = r;
    pthread_mutex_unlock(&a->mu);
    return 0;
}

int bs__admin_keep(bs_admin *a, void *p, void (*fr)(void *)) {
    kept *k = malloc(sizeof *k);
    if (!k) return BS_ENOMEM;
    k->p = p;
    k->fr = fr;
    pthread_mutex_lock(&a->mu);
    k->next = a->kept;
    a->kept = k;
    pthread_mutex_unlock(&a->mu);
    return 0;
}

int bs_admin_route(bs_admin *a, const char *method, const char *path,
                   bs_admin_handler h, void *ud) {
    return add_route(a, method, path, h, ud, false);
}

int bs_admin_route_blocking(bs_admin *a, const char *method, const char *path,
                            bs_admin_handler h, void *ud) {
    return add_route(a, method, path, h, ud, true);
}

int bs_admin_error(bs_admin_response *resp, int status, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    resp->status = status;
    resp->content_type = "application/json";
    bs_buf_reset(&resp->body);
    bs_admin_json w;
    bs_admin_json_init(&w, &resp->body);
    bs_admin_json_obj(&w);
    bs_admin_json_key(&w, "error");
    bs_admin_json_str(&w, msg);
    bs_admin_json_end(&w);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Writing                                                             */
/* ------------------------------------------------------------------ */

static void on_write(uv_write_t *req, int status) {
    wreq *w = req->data;
    conn *c = w->c;
    c->nwrites--;
    c->wq_bytes -= w->buf.len;
    bs_buf_free(&w->buf);
    free(w);
    if (c->closing) return;
    if (status < 0) {
        BS_DEBUG("admin", "write to %s failed: %s", c->peer,
                 uv_strerror(status));
        conn_close(c);
        return;
    }
    if (c->fatal && c->nwrites == 0) {
        conn_close(c);
        return;
    }
    if (c->wq_bytes < WQ_LIMIT / 2) pump(c);
}

static void send_raw(conn *c, bs_buf *b);

/* Sends the ciphertext the HTTPS session has produced. */
static void tls_flush(conn *c) {
    bs_buf out = BS_BUF_INIT;
    if (bs_tls_output(c->tls, &out)) {
        bs_buf_free(&out);
        conn_close(c);
        return;
    }
    if (out.len) send_raw(c, &out);
    bs_buf_free(&out);
}

/* Queues bytes (taken from *b, which is left empty); encrypted on an
 * HTTPS connection. */
static void send_buf(conn *c, bs_buf *b) {
    if (!c->tls) {
        send_raw(c, b);
        return;
    }
    int rc = bs_tls_write(c->tls, b->data, b->len);
    bs_buf_free(b);
    if (rc) {
        conn_close(c);
        return;
    }
    tls_flush(c);
}

static void send_raw(conn *c, bs_buf *b) {
    wreq *w = calloc(1, sizeof *w);
    if (!w) {
        bs_buf_free(b);
        conn_close(c);
        return;
    }
    w->c = c;
    w->buf = *b;
    bs_buf_init(b);
    w->uv.data = w;
    uv_buf_t ub = uv_buf_init((char *)w->buf.data, (unsigned)w->buf.len);
    int rc = uv_write(&w->uv, (uv_stream_t *)&c->tcp, &ub, 1, on_write);
    if (rc) {
        BS_DEBUG("admin", "write to %s failed: %s", c->peer, uv_strerror(rc));
        bs_buf_free(&w->buf);
        free(w);
        conn_close(c);
        return;
    }
    c->nwrites++;
    c->wq_bytes += w->buf.len;
}

static void send_response(conn *c, int status, const char *ctype,
                          const char *extra, bool keep_alive,
                          const bs_buf *body) {
    if (atomic_load(&c->adm->stopping)) keep_alive = false;
    bs_buf out = BS_BUF_INIT;
    if (bs__http_write_response(&out, status, ctype, extra, keep_alive,
                                body ? body->data : NULL,
                                body ? body->len : 0)) {
        bs_buf_free(&out);
        conn_close(c);
        return;
    }
    if (!keep_alive) c->fatal = true;
    send_buf(c, &out);
    if (!c->closing && c->fatal && c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = false;
    }
}

static void send_error(conn *c, int status, const char *msg, bool keep_alive,
                       const char *extra) {
    bs_admin_response r = {status, "application/json", BS_BUF_INIT};
    bs_admin_error(&r, status, "%s", msg);
    send_response(c, status, "application/json", extra, keep_alive, &r.body);
    bs_buf_free(&r.body);
}

/* ------------------------------------------------------------------ */
/* Dispatch                                                            */
/* ------------------------------------------------------------------ */

static void finish_handler(bs_admin_response *resp, int rc) {
    if (rc == 0) return;
    int st = resp->status >= 400 ? resp->status : bs__admin_status_for(rc);
    if (resp->body.len == 0) bs_admin_error(resp, st, "%s", bs_strerror(rc));
    resp->status = st;
}

static void work_cb(uv_work_t *req) {
    work *w = req->data;
    w->rc = w->h(w->ud, &w->req, &w->resp);
    finish_handler(&w->resp, w->rc);
}

static void after_work_cb(uv_work_t *req, int status) {
    work *w = req->data;
    conn *c = w->c;
    c->busy = false;
    if (status == UV_ECANCELED) {
        bs_buf_reset(&w->resp.body);
        w->resp.status = 503;
        w->rc = BS_EUNAVAIL;
        finish_handler(&w->resp, w->rc);
    }
    if (!c->closing) {
        send_response(c, w->resp.status, w->resp.content_type, NULL,
                      w->req.keep_alive, &w->resp.body);
    }
    bs_buf_free(&w->resp.body);
    free(w);
    if (c->closing) {
        if (c->open_handles == 0) {
            bs_tls_free(c->tls);
            bs_buf_free(&c->in);
            bs__http_rd_free(&c->rd);
            free(c);
        }
        return;
    }
    if (atomic_load(&c->adm->stopping)) {
        c->fatal = true; /* closes once the response is written */
        return;
    }
    uv_timer_again(&c->timer);
    pump(c);
}

/* The refusal log's rate limit: true when one more line may be logged
 * (admin thread), at most LOG_MAX per window. */
static bool log_allowed(bs_admin *a) {
    int64_t now = (int64_t)(uv_now(&a->loop) / 1000);
    if (now - a->log_window >= LOG_WINDOW_S) {
        if (a->log_dropped)
            BS_WARN("admin", "%llu more refused admin requests not logged",
                    (unsigned long long)a->log_dropped);
        a->log_window = now;
        a->log_lines = 0;
        a->log_dropped = 0;
    }
    if (a->log_lines >= LOG_MAX) {
        a->log_dropped++;
        return false;
    }
    a->log_lines++;
    return true;
}

/* Logs a refused request (admin thread), rate-limited. */
static void log_refusal(bs_admin *a, const conn *c, const bs_http_request *hr,
                        int status, const char *why) {
    if (!log_allowed(a)) return;
    BS_WARN("admin", "refused %.16s %.100s from %s: %d %s", hr->method,
            hr->path, c->peer, status, why);
}

/* Logs a refused connection (TLS), rate-limited like requests. */
static void refusal_log(bs_admin *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void refusal_log(bs_admin *a, const char *fmt, ...) {
    if (!log_allowed(a)) return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    BS_WARN("admin", "%s", line);
}

static bool is_ip_literal(const char *h, size_t n) {
    char buf[64];
    unsigned char tmp[16];
    if (n >= 2 && h[0] == '[' && h[n - 1] == ']') {
        if (n - 2 >= sizeof buf) return false;
        memcpy(buf, h + 1, n - 2);
        buf[n - 2] = 0;
        return inet_pton(AF_INET6, buf, tmp) == 1;
    }
    if (n >= sizeof buf) return false;
    memcpy(buf, h, n);
    buf[n] = 0;
    return inet_pton(AF_INET, buf, tmp) == 1;
}

/* Host: "name[:port]" or "[v6][:port]"; 1 when the name is acceptable. */
static bool host_ok(const bs_admin *a, const char *host) {
    size_t n = strlen(host);
    const char *colon = NULL;
    if (host[0] == '[') {
        const char *rb = strchr(host, ']');
        if (!rb) return false;
        if (rb[1] == ':') colon = rb + 1;
        else if (rb[1]) return false;
    } else {
        colon = strchr(host, ':');
        if (colon && strchr(colon + 1, ':')) return false;
    }
    if (colon) {
        if (!colon[1] || strspn(colon + 1, "0123456789") != strlen(colon + 1))
            return false;
        n = (size_t)(colon - host);
    }
    if (n == 0) return false;
    if (n == 9 && strncasecmp(host, "localhost", 9) == 0) return true;
    if (is_ip_literal(host, n)) return true;
    return strlen(a->address) == n && strncasecmp(host, a->address, n) == 0;
}

/* 0 when the request may go on; else the status to refuse it with and
 * a reason.  See admin.h "Access". */
static int check_access(const bs_admin *a, const bs_admin_request *req,
                        const char **why) {
    const char *host = bs_admin_header_get(req, "host");
    if (host && !host_ok(a, host)) {
        *why = "Host header names neither this node nor localhost "
               "(use the node's IP address)";
        return 403;
    }
    const char *origin = bs_admin_header_get(req, "origin");
    if (origin) {
        size_t hl = host ? strlen(host) : 0;
        const char *scheme = a->opts.tls ? "https://" : "http://";
        size_t sl = strlen(scheme);
        if (!host || strncmp(origin, scheme, sl) != 0 ||
            strlen(origin) != sl + hl || strncasecmp(origin + sl, host, hl) != 0) {
            *why = "cross-origin requests are not allowed";
            return 403;
        }
    }
    if (!a->token || strcmp(req->path, "/health") == 0) return 0;
    const char *auth = bs_admin_header_get(req, "authorization");
    size_t tl = strlen(a->token);
    if (!auth || strncasecmp(auth, "Bearer ", 7) != 0) {
        *why = "missing admin token (Authorization: Bearer <token>; "
               "basalt-admin reads it from --token-file)";
        return 401;
    }
    const char *t = auth + 7;
    while (*t == ' ')
        t++;
    if (strlen(t) != tl || CRYPTO_memcmp(t, a->token, tl) != 0) {
        *why = "wrong admin token";
        return 401;
    }
    return 0;
}

static void dispatch(conn *c, const bs_http_request *hr) {
    bs_admin *a = c->adm;
    bs_admin_request req = {hr->method,
                            hr->path,
                            hr->query,
                            hr->headers,
                            hr->n_headers,
                            hr->body_len ? hr->body : NULL,
                            hr->body_len,
                            hr->minor ? 1 : 0,
                            hr->keep_alive,
                            hr->arena};
    const char *why = NULL;
    int deny = check_access(a, &req, &why);
    if (deny) {
        log_refusal(a, c, hr, deny, why);
        send_error(c, deny, why, hr->keep_alive,
                   deny == 401 ? "WWW-Authenticate: Bearer realm=\"basalt\"\r\n"
                               : NULL);
        return;
    }
    bs_admin_handler h = NULL;
    void *ud = NULL;
    bool blocking = false, path_known = false;
    char allow[256] = "";
    pthread_mutex_lock(&a->mu);
    for (route *r = a->routes; r; r = r->next) {
        if (strcmp(r->path, hr->path) != 0) continue;
        path_known = true;
        if (strcmp(r->method, hr->method) == 0) {
            h = r->h;
            ud = r->ud;
            blocking = r->blocking;
        }
        size_t l = strlen(allow);
        snprintf(allow + l, sizeof allow - l, "%s%s", l ? ", " : "", r->method);
    }
    pthread_mutex_unlock(&a->mu);
    if (!h) {
        if (path_known) {
            char extra[300], msg[300];
            snprintf(extra, sizeof extra, "Allow: %s\r\n", allow);
            snprintf(msg, sizeof msg,
                     "method %s not allowed on %s (allowed: %s)", hr->method,
                     hr->path, allow);
            send_error(c, 405, msg, hr->keep_alive, extra);
        } else {
            char msg[300];
            snprintf(msg, sizeof msg, "no such endpoint: %.200s", hr->path);
            send_error(c, 404, msg, hr->keep_alive, NULL);
        }
        return;
    }
    if (blocking) {
        work *w = calloc(1, sizeof *w);
        if (!w) {
            send_error(c, 503, "out of memory", false, NULL);
            return;
        }
        w->c = c;
        w->h = h;
        w->ud = ud;
        w->req = req;
        w->resp.status = 200;
        w->resp.content_type = "application/json";
        w->uv.data = w;
        int rc = uv_queue_work(&a->loop, &w->uv, work_cb, after_work_cb);
        if (rc) {
            free(w);
            send_error(c, 503, "cannot queue work", false, NULL);
            return;
        }
        c->busy = true;
        uv_timer_stop(&c->timer);
        if (c->reading) {
            uv_read_stop((uv_stream_t *)&c->tcp);
            c->reading = false;
        }
        return;
    }
    bs_admin_response resp = {200, "application/json", BS_BUF_INIT};
    int rc = h(ud, &req, &resp);
    finish_handler(&resp, rc);
    send_response(c, resp.status, resp.content_type, NULL, req.keep_alive,
                  &resp.body);
    bs_buf_free(&resp.body);
}

static void on_alloc(uv_handle_t *hd, size_t suggested, uv_buf_t *buf) {
    (void)suggested;
    conn *c = hd->data;
    if (c->adm->opts.tls) { /* ciphertext; tls_in moves plaintext to `in` */
        static _Thread_local char slab[READ_CHUNK];
        buf->base = slab;
        buf->len = sizeof slab;
        return;
    }
    if (bs_buf_reserve(&c->in, READ_CHUNK)) {
        buf->base = NULL;
        buf->len = 0;
        return;
    }
    buf->base = (char *)c->in.data + c->in.len;
    buf->len = READ_CHUNK;
}

/* HTTPS: the first byte must start a TLS handshake (plain HTTP gets a
 * plain 400 saying so, and is closed); then ciphertext goes through the
 * session and the plaintext to `in`.  0, or -1 when the connection is
 * being closed. */
static int tls_in(conn *c, const char *p, size_t n) {
    if (!c->sniffed) {
        c->sniffed = true;
        if ((uint8_t)p[0] != BS_TLS_RECORD_HANDSHAKE) {
            refusal_log(c->adm, "refused admin request from %s: plain HTTP on the HTTPS port",
                        c->peer);
            static const char body[] =
                "{\"error\": \"this admin API requires HTTPS (admin_encryption_options): "
                "use https://, or basalt-admin --ssl\"}\n";
            bs_buf b = BS_BUF_INIT;
            if (bs_buf_appendf(&b,
                               "HTTP/1.1 400 Bad Request\r\nConnection: close\r\n"
                               "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                               sizeof body - 1, body))
                bs_buf_free(&b);
            c->fatal = true;
            set_reading(c, false);
            if (b.len) send_raw(c, &b);
            bs_buf_free(&b);
            if (!c->closing && c->nwrites == 0) conn_close(c);
            return -1;
        }
        if (bs_tls_new(c->adm->opts.tls, NULL, &c->tls)) {
            conn_close(c);
            return -1;
        }
    }
    int rc = bs_tls_feed(c->tls, p, n);
    while (!rc) {
        size_t got = 0;
        if (bs_buf_reserve(&c->in, READ_CHUNK)) {
            rc = BS_ENOMEM;
            break;
        }
        rc = bs_tls_read(c->tls, c->in.data + c->in.len, READ_CHUNK, &got);
        if (rc || !got) break;
        c->in.len += got;
    }
    if (rc && rc != BS_ECLOSED)
        refusal_log(c->adm, "refused admin connection from %s: TLS: %s", c->peer,
                    bs_tls_error(c->tls));
    tls_flush(c);
    if (rc && !c->closing) {
        c->fatal = true;
        set_reading(c, false);
        if (c->nwrites == 0) conn_close(c);
    }
    return c->closing || rc ? -1 : 0;
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf) {
    conn *c = st->data;
    if (nread < 0) {
        if (nread != UV_EOF)
            BS_DEBUG("admin", "read from %s: %s", c->peer,
                     uv_strerror((int)nread));
        conn_close(c);
        return;
    }
    if (nread == 0) return;
    if (c->adm->opts.tls) {
        if (tls_in(c, buf->base, (size_t)nread)) return;
    } else {
        c->in.len += (size_t)nread;
    }
    pump(c);
}

static void set_reading(conn *c, bool on) {
    if (c->closing || on == c->reading) return;
    if (on) {
        if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0)
            c->reading = true;
    } else {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = false;
    }
}

/* Sends the interim "100 Continue" the reader asks for (the head of a
 * request with "Expect: 100-continue" is in, its body is not). */
static void send_continue(conn *c) {
    c->rd.want_continue = 0;
    bs_buf b = BS_BUF_INIT;
    if (bs_buf_append_str(&b, "HTTP/1.1 100 Continue\r\n\r\n")) {
        bs_buf_free(&b);
        conn_close(c);
        return;
    }
    send_buf(c, &b);
}

static void pump(conn *c) {
    while (!c->closing && !c->busy && !c->fatal && c->wq_bytes < WQ_LIMIT &&
           c->in.len > 0) {
        bs_http_request hr;
        size_t used = 0;
        int status = 0;
        const char *why = "";
        int rc = bs__http_rd_feed(&c->rd, (const char *)c->in.data, c->in.len,
                                  &used, &hr, &status, &why);
        memmove(c->in.data, c->in.data + used, c->in.len - used);
        c->in.len -= used;
        if (rc < 0) {
            BS_DEBUG("admin", "bad request from %s: %d %s", c->peer, status,
                     why);
            send_error(c, status ? status : 400, why ? why : "bad request",
                       false, NULL);
            break;
        }
        if (rc == 1) {
            c->rd.want_continue = 0;
            c->since = ++c->adm->ticks;
            uv_timer_again(&c->timer);
            dispatch(c, &hr);
            continue;
        }
        if (c->rd.want_continue) send_continue(c);
        if (used == 0) break; /* cannot happen: a feed uses all or errs */
    }
    set_reading(c,
                !c->closing && !c->busy && !c->fatal && c->wq_bytes < WQ_LIMIT);
}

/* ------------------------------------------------------------------ */
/* Connections                                                         */
/* ------------------------------------------------------------------ */

static void on_conn_closed(uv_handle_t *hd) {
    conn *c = hd->data;
    if (--c->open_handles > 0) return;
    bs_admin *a = c->adm;
    if (c->prev)
        c->prev->next = c->next;
    else
        a->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    a->nconns--;
    a->nclosing--;
    if (c->busy) return; /* after_work_cb frees it */
    bs_tls_free(c->tls);
    bs_buf_free(&c->in);
    bs__http_rd_free(&c->rd);
    free(c);
}

static void conn_close(conn *c) {
    if (c->closing) return;
    c->closing = true;
    c->adm->nclosing++;
    c->reading = false;
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
    uv_close((uv_handle_t *)&c->timer, on_conn_closed);
}

static void on_idle(uv_timer_t *t) {
    conn *c = t->data;
    if (c->busy || c->nwrites) return;
    BS_DEBUG("admin", "closing idle connection from %s", c->peer);
    conn_close(c);
}

static void free_handle(uv_handle_t *hd) {
    free(hd);
}

/* Open (not closing) connections from source address ip. */
static int source_count(const bs_admin *a, const char *ip) {
    int n = 0;
    for (const conn *c = a->conns; c; c = c->next)
        if (!c->closing && strcmp(c->ip, ip) == 0) n++;
    return n;
}

/* The connection to close for a new one when all slots are open, or NULL:
 * one with no handler running and nothing left to write, from the source
 * holding the most open connections, the one that has waited longest for
 * a complete request among that source's. */
static conn *evictable(bs_admin *a) {
    conn *best = NULL;
    int best_n = 0;
    for (conn *c = a->conns; c; c = c->next) {
        if (c->closing || c->busy || c->nwrites) continue;
        int n = source_count(a, c->ip);
        if (!best || n > best_n || (n == best_n && c->since < best->since)) {
            best = c;
            best_n = n;
        }
    }
    return best;
}

/* Fills c->peer ("addr:port") and c->ip ("addr") from the socket. */
static void set_peer(conn *c) {
    struct sockaddr_storage ss;
    int len = sizeof ss;
    snprintf(c->ip, sizeof c->ip, "?");
    snprintf(c->peer, sizeof c->peer, "?");
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) != 0) return;
    int port = 0;
    if (ss.ss_family == AF_INET) {
        uv_ip4_name((struct sockaddr_in *)&ss, c->ip, sizeof c->ip);
        port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    } else if (ss.ss_family == AF_INET6) {
        uv_ip6_name((struct sockaddr_in6 *)&ss, c->ip, sizeof c->ip);
        port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    }
    snprintf(c->peer, sizeof c->peer, "%s:%d", c->ip, port);
}

/* Refuses c, whose source holds max_connections_per_ip connections
 * already: a 429 answer on plain HTTP (closed once written), an immediate
 * close on HTTPS.  Logged once per source per PERIP_LOG_S. */
static void refuse_per_ip(bs_admin *a, conn *c, int held) {
    int64_t now = (int64_t)(uv_now(&a->loop) / 1000);
    if (strcmp(a->perip_last_ip, c->ip) != 0 || now - a->perip_last_s >= PERIP_LOG_S) {
        snprintf(a->perip_last_ip, sizeof a->perip_last_ip, "%s", c->ip);
        a->perip_last_s = now;
        refusal_log(a,
                    "refused admin connection from %s: %d connections from %s open "
                    "(admin_max_connections_per_ip)",
                    c->peer, held, c->ip);
    }
    if (a->opts.tls) {
        conn_close(c);
        return;
    }
    send_error(c, 429, "too many admin connections from this address", false, NULL);
    if (!c->closing && c->nwrites == 0) conn_close(c);
}

/* Accepts and closes a connection no slot is left for. */
static void refuse_full(bs_admin *a, uv_stream_t *server) {
    uv_tcp_t *t = malloc(sizeof *t);
    if (!t) return;
    uv_tcp_init(&a->loop, t);
    if (uv_accept(server, (uv_stream_t *)t) == 0)
        BS_WARN("admin", "refusing an admin connection: %d connections open", a->nconns);
    uv_close((uv_handle_t *)t, free_handle);
}

static void on_connection(uv_stream_t *server, int status) {
    bs_admin *a = server->data;
    if (status < 0) {
        BS_WARN("admin", "accept failed: %s", uv_strerror(status));
        return;
    }
    if (atomic_load(&a->stopping)) {
        refuse_full(a, server);
        return;
    }
    conn *c = calloc(1, sizeof *c);
    if (!c) return;
    c->adm = a;
    bs__admin_rd_init(&c->rd, c->adm->opts.max_body);
    uv_tcp_init(&a->loop, &c->tcp);
    uv_timer_init(&a->loop, &c->timer);
    c->tcp.data = c;
    c->timer.data = c;
    c->open_handles = 2;
    c->since = ++a->ticks;
    int accept_rc = uv_accept(server, (uv_stream_t *)&c->tcp);
    if (accept_rc == 0) set_peer(c);
    int held = accept_rc == 0 && a->opts.max_connections_per_ip > 0 ? source_count(a, c->ip) : 0;
    bool over_ip = a->opts.max_connections_per_ip > 0 && held >= a->opts.max_connections_per_ip;
    if (accept_rc == 0 && !over_ip && a->nconns - a->nclosing >= a->opts.max_connections) {
        conn *old = evictable(a);
        if (old) {
            BS_DEBUG("admin", "%d connections open: closing the one from %s, which waited longest",
                     a->nconns, old->peer);
            conn_close(old);
        }
    }
    /* in the list from here: conn_close's callbacks unlink it */
    c->next = a->conns;
    if (a->conns) a->conns->prev = c;
    a->conns = c;
    a->nconns++;
    if (accept_rc) {
        conn_close(c);
        return;
    }
    if (over_ip) {
        refuse_per_ip(a, c, held);
        return;
    }
    if (a->nconns - a->nclosing > a->opts.max_connections) {
        BS_WARN("admin", "refusing an admin connection from %s: %d connections open", c->peer,
                a->nconns - a->nclosing - 1);
        conn_close(c);
        return;
    }
    uv_timer_start(&c->timer, on_idle, a->opts.idle_timeout_ms,
                   a->opts.idle_timeout_ms);
    set_reading(c, true);
}

/* ------------------------------------------------------------------ */
/* Thread, start, stop                                                 */
/* ------------------------------------------------------------------ */

static void on_stop(uv_async_t *as) {
    bs_admin *a = as->data;
    uv_close((uv_handle_t *)&a->listener, NULL);
    uv_close((uv_handle_t *)&a->stop_async, NULL);
    conn *next;
    for (conn *c = a->conns; c; c = next) {
        next = c->next;
        if (c->busy) {
            c->fatal = true; /* after_work writes, then closes */
            continue;
        }
        conn_close(c);
    }
}

static void run_loop(void *arg) {
    bs_admin *a = arg;
    uv_run(&a->loop, UV_RUN_DEFAULT);
}

static int resolve(const char *addr, int port, struct sockaddr_storage *ss) {
    memset(ss, 0, sizeof *ss);
    if (uv_ip4_addr(addr, port, (struct sockaddr_in *)ss) == 0) return 0;
    if (uv_ip6_addr(addr, port, (struct sockaddr_in6 *)ss) == 0) return 0;
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(addr, NULL, &hints, &res) || !res) return BS_EINVAL;
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    if (ss->ss_family == AF_INET)
        ((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
    else
        ((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
    freeaddrinfo(res);
    return 0;
}

int bs_admin_start(bs_admin *a) {
    if (a->started) return BS_EBUSY;
    struct sockaddr_storage ss;
    if (a->opts.port < 0 || a->opts.port > 65535) return BS_EINVAL;
    int rc = resolve(a->address, a->opts.port, &ss);
    if (rc) {
        BS_ERROR("admin", "cannot resolve admin address '%s'", a->address);
        return rc;
    }
    rc = uv_loop_init(&a->loop);
    if (rc) return rc;
    uv_tcp_init(&a->loop, &a->listener);
    a->listener.data = a;
    rc = uv_tcp_bind(&a->listener, (struct sockaddr *)&ss, 0);
    if (!rc) rc = uv_listen((uv_stream_t *)&a->listener, 128, on_connection);
    if (!rc) rc = uv_async_init(&a->loop, &a->stop_async, on_stop);
    if (rc) {
        BS_ERROR("admin", "cannot listen on %s:%d: %s", a->address,
                 a->opts.port, uv_strerror(rc));
        uv_close((uv_handle_t *)&a->listener, NULL);
        uv_run(&a->loop, UV_RUN_DEFAULT);
        uv_loop_close(&a->loop);
        return rc;
    }
    a->stop_async.data = a;
    struct sockaddr_storage bound;
    int blen = sizeof bound;
    if (uv_tcp_getsockname(&a->listener, (struct sockaddr *)&bound, &blen) == 0)
        a->port = ntohs(bound.ss_family == AF_INET
                            ? ((struct sockaddr_in *)&bound)->sin_port
                            : ((struct sockaddr_in6 *)&bound)->sin6_port);
    rc = uv_thread_create(&a->thread, run_loop, a);
    if (rc) {
        uv_close((uv_handle_t *)&a->listener, NULL);
        uv_close((uv_handle_t *)&a->stop_async, NULL);
        uv_run(&a->loop, UV_RUN_DEFAULT);
        uv_loop_close(&a->loop);
        return rc;
    }
    a->started = true;
    BS_INFO("admin", "admin API listening on %s://%s:%d/", a->opts.tls ? "https" : "http",
            a->address,
            a->port);
    return 0;
}

int bs_admin_port(const bs_admin *a) {
    return a ? a->port : 0;
}

void bs_admin_stop(bs_admin *a) {
    if (!a || !a->started || a->joined) return;
    atomic_store(&a->stopping, 1);
    uv_async_send(&a->stop_async);
    uv_thread_join(&a->thread);
    a->joined = true;
    if (uv_loop_close(&a->loop))
        BS_WARN("admin", "admin loop closed with handles open");
}

void bs_admin_free(bs_admin *a) {
    if (!a) return;
    bs_admin_stop(a);
    route *next;
    for (route *r = a->routes; r; r = next) {
        next = r->next;
        free(r->method);
        free(r->path);
        free(r);
    }
    kept *kn;
    for (kept *k = a->kept; k; k = kn) {
        kn = k->next;
        k->fr(k->p);
        free(k);
    }
    pthread_mutex_destroy(&a->mu);
    free(a->address);
    if (a->token) OPENSSL_cleanse(a->token, strlen(a->token));
    free(a->token);
    free(a);
}
