/*
 * http.c - the HTTP/1.1 server on http_port: one thread, one libuv loop,
 * connections with keep-alive and pipelining, handlers on the thread
 * pool.
 *
 * Threads and ownership
 * ---------------------
 * bs_http_start binds and listens on the caller's thread, then hands the
 * loop to the server thread; from then on only that thread touches the
 * loop, the listener and the connections, and bs_http_stop reaches it
 * through `stop_async` alone.  A request's handler runs on libuv's thread
 * pool: its work item is touched by the loop until uv_queue_work, by the
 * worker in work_cb, and by the loop again in after_work_cb.
 *
 * Connection lifecycle
 * --------------------
 *   accept -> reading; each read is fed to the request reader
 *             (http_parse.c); bytes after a complete request stay in `in`
 *   pump():  feed `in` to the reader; a complete request -> dispatch:
 *            `busy`, reading stopped, uv_queue_work; after_work writes the
 *            response and pumps again (pipelined requests are therefore
 *            answered in order, one at a time)
 *   error:   the reader's status is answered with {"error":...}, then the
 *            connection closes once the write is done (`fatal`)
 *   close:   `closing` set, tcp and timer closed; the conn is freed when
 *            both close callbacks ran and no work item is in flight
 * Pending writes need no reference on the conn: uv_close cancels them and
 * their callbacks run before the close callback.
 *
 * Bounds: while busy, nothing is read, so `in` holds at most one read
 * beyond the request being answered; a body is bounded by max_body, a
 * head by max_head (the reader enforces both).  The idle timer restarts
 * on every read and every response; when it fires the connection closes.
 * Above max_connections a new connection is answered 503 + Retry-After
 * and closed.
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <uv.h>

#include "common/error.h"
#include "common/log.h"
#include "common/tls.h"
#include "node/transport/http_parse.h"

#define READ_CHUNK 65536

typedef struct conn conn;

struct bs_http {
    bs_http_opts opts;
    bs_http_handler h;
    char address[256];
    uv_loop_t loop;
    uv_tcp_t listener;
    uv_async_t stop_async;
    uv_thread_t thread;
    int started, joined;
    atomic_int stopping;
    int port;
    conn *conns; /* server thread only */
    int nconns;
};

struct conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    bs_http *srv;
    bs__http_rd rd;
    bs_buf in;    /* bytes read but not yet fed */
    int busy;     /* a handler is running */
    int closing;  /* conn_close called */
    int fatal;    /* no more requests: close when the writes are done */
    int reading;
    int open_handles; /* tcp + timer until their close callbacks */
    size_t nwrites;
    bs_tls *tls; /* HTTPS session (opts.tls); NULL before the first byte */
    int sniffed; /* with opts.tls: the first byte was seen */
    conn *prev, *next;
};

typedef struct wreq {
    uv_write_t uv;
    conn *c;
    bs_buf buf;
} wreq;

typedef struct work {
    uv_work_t uv;
    conn *c;
    bs_http_request req;
    bs_http_response resp;
} work;

static void pump(conn *c);
static void conn_close(conn *c);
static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf);

/* ------------------------------------------------------------------ */
/* Options and handler helpers                                         */
/* ------------------------------------------------------------------ */

void bs_http_opts_init(bs_http_opts *o) {
    memset(o, 0, sizeof *o);
    o->address = "127.0.0.1";
    o->port = 8086;
}

void bs_http_opts_from_config(bs_http_opts *o, const bs_config *cfg) {
    bs_http_opts_init(o);
    o->address = cfg->rpc_address;
    o->port = cfg->http_port;
    o->max_body = (size_t)cfg->http_max_body_size;
    o->max_connections = cfg->http_max_connections;
    o->idle_timeout_ms = (unsigned)cfg->http_idle_timeout_ms;
}

const char *bs_http_header_get(const bs_http_request *r, const char *name) {
    for (size_t i = 0; i < r->n_headers; i++)
        if (!strcmp(r->headers[i].name, name)) return r->headers[i].value;
    return NULL;
}

int bs_http_form_get(const char *form, size_t len, const char *name,
                     bs_arena *a, const char **out) {
    size_t nl = strlen(name);
    const char *p = form, *end = form + len;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *e = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(e - p));
        const char *ke = eq ? eq : e;
        char *key = bs__http_rd_unescape(p, (size_t)(ke - p), 1, a);
        if (!key) return BS_EINVAL;
        if (strlen(key) == nl && !memcmp(key, name, nl)) {
            const char *v = eq ? eq + 1 : e;
            char *val = bs__http_rd_unescape(v, (size_t)(e - v), 1, a);
            if (!val) return BS_EINVAL;
            *out = val;
            return 0;
        }
        p = e + 1;
    }
    return BS_ENOTFOUND;
}

int bs_http_json_str(bs_buf *b, const char *s, size_t len) {
    int rc = bs_buf_append_u8(b, '"');
    for (size_t i = 0; i < len && !rc; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\') {
            rc = bs_buf_append_u8(b, '\\') || bs_buf_append_u8(b, ch) ? BS_ENOMEM : 0;
        } else if (ch == '\n') {
            rc = bs_buf_append_str(b, "\\n");
        } else if (ch == '\r') {
            rc = bs_buf_append_str(b, "\\r");
        } else if (ch == '\t') {
            rc = bs_buf_append_str(b, "\\t");
        } else if (ch < 0x20 || ch == '<' || ch == '>' || ch == '&') { /* as Go's encoding/json */
            rc = bs_buf_appendf(b, "\\u%04x", ch);
        } else {
            rc = bs_buf_append_u8(b, ch);
        }
    }
    return rc ? rc : bs_buf_append_u8(b, '"');
}

int bs_http_error(bs_http_response *resp, int status, const char *fmt, ...) {
    char *msg = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&msg, fmt, ap);
    va_end(ap);
    resp->status = status;
    resp->content_type = "application/json";
    bs_buf_reset(&resp->body);
    if (n < 0) return BS_ENOMEM;
    int rc = bs_buf_append_str(&resp->body, "{\"error\":");
    if (!rc) rc = bs_http_json_str(&resp->body, msg, (size_t)n);
    if (!rc) rc = bs_buf_append_str(&resp->body, "}\n");
    free(msg);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Writing responses                                                   */
/* ------------------------------------------------------------------ */

static const char *reason(int st) {
    switch (st) {
    case 100: return "Continue";
    case 200: return "OK";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Request Entity Too Large";
    case 415: return "Unsupported Media Type";
    case 417: return "Expectation Failed";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    default: return "Unknown";
    }
}

static void on_write(uv_write_t *req, int status) {
    wreq *w = (wreq *)req;
    conn *c = w->c;
    bs_buf_free(&w->buf);
    free(w);
    c->nwrites--;
    if (c->closing) return;
    if (status < 0) {
        conn_close(c);
        return;
    }
    if (c->fatal && c->nwrites == 0) conn_close(c);
}

/* Queues b (taken) on c as it is (ciphertext on an HTTPS connection). */
static void send_raw(conn *c, bs_buf *b) {
    wreq *w = malloc(sizeof *w);
    if (!w) {
        bs_buf_free(b);
        conn_close(c);
        return;
    }
    w->c = c;
    w->buf = *b;
    bs_buf_init(b);
    uv_buf_t ub = uv_buf_init((char *)w->buf.data, (unsigned)w->buf.len);
    c->nwrites++;
    if (uv_write(&w->uv, (uv_stream_t *)&c->tcp, &ub, 1, on_write)) {
        c->nwrites--;
        bs_buf_free(&w->buf);
        free(w);
        conn_close(c);
    }
}

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

/* Queues b (taken) on c, encrypted on an HTTPS connection. */
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

static void send_response(conn *c, bs_http_response *r, int head_only,
                          int keep_alive) {
    bs_buf b = BS_BUF_INIT;
    int st = r->status ? r->status : 200;
    char date[64];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    int rc = bs_buf_appendf(&b,
                            "HTTP/1.1 %d %s\r\n"
                            "X-Influxdb-Build: OSS\r\n"
                            "X-Influxdb-Version: %s\r\n"
                            "Date: %s\r\n",
                            st, reason(st), BS_HTTP_VERSION, date);
    if (!rc && r->content_type)
        rc = bs_buf_appendf(&b, "Content-Type: %s\r\n", r->content_type);
    if (!rc && r->headers[0]) rc = bs_buf_append_str(&b, r->headers);
    if (!rc && st != 204 && st != 304)
        rc = bs_buf_appendf(&b, "Content-Length: %zu\r\n", r->body.len);
    if (!rc && !keep_alive) rc = bs_buf_append_str(&b, "Connection: close\r\n");
    if (!rc) rc = bs_buf_append_str(&b, "\r\n");
    if (!rc && !head_only && st != 204 && st != 304)
        rc = bs_buf_append(&b, r->body.data, r->body.len);
    bs_buf_free(&r->body);
    if (rc) {
        bs_buf_free(&b);
        conn_close(c);
        return;
    }
    if (!keep_alive) c->fatal = 1;
    send_buf(c, &b);
}

static void send_error(conn *c, int status, const char *why) {
    bs_http_response r;
    memset(&r, 0, sizeof r);
    bs_buf_init(&r.body);
    if (bs_http_error(&r, status, "%s", why)) {
        bs_buf_free(&r.body);
        conn_close(c);
        return;
    }
    send_response(c, &r, 0, 0);
}

/* ------------------------------------------------------------------ */
/* Dispatch                                                            */
/* ------------------------------------------------------------------ */

static void work_cb(uv_work_t *req) {
    work *w = req->data;
    w->c->srv->h.handle(w->c->srv->h.ud, &w->req, &w->resp);
}

static void after_work_cb(uv_work_t *req, int status) {
    work *w = req->data;
    conn *c = w->c;
    c->busy = 0;
    if (status == UV_ECANCELED) bs_http_error(&w->resp, 503, "server is stopping");
    if (c->closing) {
        bs_buf_free(&w->resp.body);
        free(w);
        if (c->open_handles == 0) { /* the close callbacks ran meanwhile */
            bs__http_rd_free(&c->rd);
            bs_buf_free(&c->in);
            bs_tls_free(c->tls);
            free(c);
        }
        return;
    }
    int keep = w->req.keep_alive && !w->resp.close && !c->fatal &&
               !atomic_load(&c->srv->stopping);
    send_response(c, &w->resp, !strcmp(w->req.method, "HEAD"), keep);
    free(w);
    if (c->closing) return;
    uv_timer_again(&c->timer);
    if (!c->fatal) pump(c);
}

static void dispatch(conn *c, const bs_http_request *req) {
    work *w = calloc(1, sizeof *w);
    if (!w) {
        send_error(c, 500, "out of memory");
        return;
    }
    w->c = c;
    w->req = *req;
    bs_buf_init(&w->resp.body);
    w->uv.data = w;
    c->busy = 1;
    int rc = uv_queue_work(&c->srv->loop, &w->uv, work_cb, after_work_cb);
    if (rc) {
        c->busy = 0;
        free(w);
        send_error(c, 500, "cannot queue the request");
    }
}

/* ------------------------------------------------------------------ */
/* Reading                                                             */
/* ------------------------------------------------------------------ */

static void on_alloc(uv_handle_t *hd, size_t suggested, uv_buf_t *buf) {
    conn *c = hd->data;
    (void)suggested;
    if (c->srv->opts.tls) { /* ciphertext; tls_in moves plaintext to `in` */
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

static void set_reading(conn *c, int on) {
    if (on == c->reading || c->closing) return;
    c->reading = on;
    if (on)
        uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    else
        uv_read_stop((uv_stream_t *)&c->tcp);
}

/* HTTPS: the first byte must start a TLS handshake (plain HTTP gets a
 * plain 400 saying so, and is closed); then ciphertext goes through the
 * session and plaintext to `in`.  0, or -1 when the connection ends. */
static int tls_in(conn *c, const char *p, size_t n) {
    if (!c->sniffed) {
        c->sniffed = 1;
        if ((uint8_t)p[0] != BS_TLS_RECORD_HANDSHAKE) {
            set_reading(c, 0);
            send_error(c, 400, "this port requires HTTPS (http_encryption_options)");
            return -1;
        }
        if (bs_tls_new(c->srv->opts.tls, NULL, &c->tls)) {
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
        BS_DEBUG("http", "TLS connection refused: %s", bs_tls_error(c->tls));
    tls_flush(c);
    if (rc && !c->closing) {
        c->fatal = 1;
        set_reading(c, 0);
        if (!c->busy && c->nwrites == 0) conn_close(c);
    }
    return c->closing || rc ? -1 : 0;
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf) {
    conn *c = st->data;
    if (nread < 0) { /* EOF or error: nothing more will come */
        if (c->busy || c->nwrites) {
            c->fatal = 1;
            set_reading(c, 0);
        } else {
            conn_close(c);
        }
        return;
    }
    if (nread == 0) return;
    uv_timer_again(&c->timer);
    if (c->srv->opts.tls) {
        if (tls_in(c, buf->base, (size_t)nread)) return;
    } else {
        c->in.len += (size_t)nread;
    }
    pump(c);
}

static void pump(conn *c) {
    while (!c->busy && !c->closing && !c->fatal && c->in.len > 0) {
        size_t used = 0;
        bs_http_request req;
        int status = 0;
        const char *why = NULL;
        int rc = bs__http_rd_feed(&c->rd, (const char *)c->in.data, c->in.len,
                                  &used, &req, &status, &why);
        if (used) {
            memmove(c->in.data, c->in.data + used, c->in.len - used);
            c->in.len -= used;
        }
        if (rc < 0) {
            set_reading(c, 0);
            send_error(c, status ? status : 400, why ? why : "bad request");
            return;
        }
        if (rc == 1) {
            c->rd.want_continue = 0;
            set_reading(c, 0);
            dispatch(c, &req);
            return;
        }
        if (c->rd.want_continue) { /* the head is in, the body is not */
            c->rd.want_continue = 0;
            bs_buf b = BS_BUF_INIT;
            if (bs_buf_append_str(&b, "HTTP/1.1 100 Continue\r\n\r\n")) {
                conn_close(c);
                return;
            }
            send_buf(c, &b);
        }
    }
    if (!c->busy && !c->closing && !c->fatal) set_reading(c, 1);
}

/* ------------------------------------------------------------------ */
/* Connections                                                         */
/* ------------------------------------------------------------------ */

static void on_conn_closed(uv_handle_t *hd) {
    conn *c = hd->data;
    if (--c->open_handles > 0) return;
    bs_http *s = c->srv;
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    s->nconns--;
    if (c->busy) return; /* after_work_cb frees it */
    bs__http_rd_free(&c->rd);
    bs_buf_free(&c->in);
    bs_tls_free(c->tls);
    free(c);
}

static void conn_close(conn *c) {
    if (c->closing) return;
    c->closing = 1;
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
    uv_close((uv_handle_t *)&c->timer, on_conn_closed);
}

static void on_idle(uv_timer_t *t) {
    conn *c = t->data;
    if (c->busy || c->nwrites) return; /* answering: not idle */
    conn_close(c);
}

static void free_handle(uv_handle_t *hd) { free(hd); }

static void refuse_written(uv_write_t *req, int status) {
    (void)status;
    uv_close((uv_handle_t *)req->handle, free_handle);
    free(req);
}

/* Over the cap: a short 503 on the accepted socket, then close. */
static void refuse(bs_http *s, uv_stream_t *server) {
    static const char msg[] =
        "HTTP/1.1 503 Service Unavailable\r\n"
        "Content-Type: application/json\r\nRetry-After: 1\r\n"
        "X-Influxdb-Version: " BS_HTTP_VERSION "\r\n"
        "Content-Length: 38\r\nConnection: close\r\n\r\n"
        "{\"error\":\"too many open connections\"}";
    uv_tcp_t *t = malloc(sizeof *t);
    if (!t) return;
    uv_tcp_init(&s->loop, t);
    if (uv_accept(server, (uv_stream_t *)t)) {
        uv_close((uv_handle_t *)t, free_handle);
        return;
    }
    uv_write_t *w = malloc(sizeof *w);
    uv_buf_t ub = uv_buf_init((char *)msg, sizeof msg - 1);
    if (!w || uv_write(w, (uv_stream_t *)t, &ub, 1, refuse_written)) {
        free(w);
        uv_close((uv_handle_t *)t, free_handle);
    }
}

static void on_connection(uv_stream_t *server, int status) {
    bs_http *s = server->data;
    if (status < 0) {
        BS_WARN("http", "accept failed: %s", uv_strerror(status));
        return;
    }
    if (atomic_load(&s->stopping) || s->nconns >= s->opts.max_connections) {
        refuse(s, server);
        return;
    }
    conn *c = calloc(1, sizeof *c);
    if (!c) return;
    c->srv = s;
    bs__http_rd_init(&c->rd, s->opts.max_head, s->opts.max_body);
    bs_buf_init(&c->in);
    uv_tcp_init(&s->loop, &c->tcp);
    uv_timer_init(&s->loop, &c->timer);
    c->tcp.data = c;
    c->timer.data = c;
    c->open_handles = 2;
    c->next = s->conns;
    if (s->conns) s->conns->prev = c;
    s->conns = c;
    s->nconns++;
    if (uv_accept(server, (uv_stream_t *)&c->tcp)) {
        conn_close(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    uv_timer_start(&c->timer, on_idle, s->opts.idle_timeout_ms, s->opts.idle_timeout_ms);
    set_reading(c, 1);
}

/* ------------------------------------------------------------------ */
/* Thread, start, stop                                                 */
/* ------------------------------------------------------------------ */

static void on_stop(uv_async_t *as) {
    bs_http *s = as->data;
    uv_close((uv_handle_t *)&s->listener, NULL);
    uv_close((uv_handle_t *)&s->stop_async, NULL);
    conn *next;
    for (conn *c = s->conns; c; c = next) {
        next = c->next;
        if (c->busy) {
            c->fatal = 1; /* after_work answers, then closes */
            continue;
        }
        conn_close(c);
    }
}

static void run_loop(void *arg) {
    bs_http *s = arg;
    uv_run(&s->loop, UV_RUN_DEFAULT);
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

int bs_http_start(const bs_http_opts *o, const bs_http_handler *h, bs_http **out) {
    *out = NULL;
    if (o->port < 0 || o->port > 65535 || !h || !h->handle) return BS_EINVAL;
    bs_http *s = calloc(1, sizeof *s);
    if (!s) return BS_ENOMEM;
    s->opts = *o;
    s->h = *h;
    snprintf(s->address, sizeof s->address, "%s", o->address ? o->address : "127.0.0.1");
    s->opts.address = s->address;
    if (!s->opts.max_body) s->opts.max_body = BS_HTTP_MAX_BODY;
    if (!s->opts.max_head) s->opts.max_head = BS_HTTP_MAX_HEAD;
    if (s->opts.max_connections <= 0) s->opts.max_connections = 1024;
    if (!s->opts.idle_timeout_ms) s->opts.idle_timeout_ms = 60000;
    atomic_init(&s->stopping, 0);
    struct sockaddr_storage ss;
    int rc = resolve(s->address, o->port, &ss);
    if (rc) {
        BS_ERROR("http", "cannot resolve HTTP address '%s'", s->address);
        free(s);
        return rc;
    }
    rc = uv_loop_init(&s->loop);
    if (rc) {
        free(s);
        return rc;
    }
    uv_tcp_init(&s->loop, &s->listener);
    s->listener.data = s;
    rc = uv_tcp_bind(&s->listener, (struct sockaddr *)&ss, 0);
    if (!rc) rc = uv_listen((uv_stream_t *)&s->listener, 511, on_connection);
    if (!rc) rc = uv_async_init(&s->loop, &s->stop_async, on_stop);
    if (!rc) {
        s->stop_async.data = s;
        struct sockaddr_storage bound;
        int blen = sizeof bound;
        if (uv_tcp_getsockname(&s->listener, (struct sockaddr *)&bound, &blen) == 0)
            s->port = ntohs(bound.ss_family == AF_INET
                                ? ((struct sockaddr_in *)&bound)->sin_port
                                : ((struct sockaddr_in6 *)&bound)->sin6_port);
        rc = uv_thread_create(&s->thread, run_loop, s);
        if (rc) uv_close((uv_handle_t *)&s->stop_async, NULL);
    }
    if (rc) {
        BS_ERROR("http", "cannot listen on %s:%d: %s", s->address, o->port, uv_strerror(rc));
        uv_close((uv_handle_t *)&s->listener, NULL);
        uv_run(&s->loop, UV_RUN_DEFAULT);
        uv_loop_close(&s->loop);
        free(s);
        return rc;
    }
    s->started = 1;
    BS_INFO("http", "time-series HTTP endpoint listening on %s://%s:%d/",
            s->opts.tls ? "https" : "http", s->address, s->port);
    *out = s;
    return 0;
}

int bs_http_port(const bs_http *s) { return s ? s->port : 0; }

void bs_http_stop(bs_http *s) {
    if (!s || !s->started || s->joined) return;
    atomic_store(&s->stopping, 1);
    uv_async_send(&s->stop_async);
    uv_thread_join(&s->thread);
    s->joined = 1;
    if (uv_loop_close(&s->loop)) BS_WARN("http", "HTTP loop closed with handles open");
}

void bs_http_free(bs_http *s) {
    if (!s) return;
    bs_http_stop(s);
    free(s);
}
