/*
 * test_server.c - the CQL transport (node/transport/server.c) against a fake
 * handler, driven by plain blocking sockets on 127.0.0.1 with port 0.
 *
 * The fake handler answers QUERY/PREPARE with a Rows result holding the
 * query string, and recognises a few commands:
 *   "block"    waits on a semaphore the test posts (deterministic
 *              out-of-order completion and in-flight back-pressure)
 *   "slow"     sleeps 100 ms (work in flight during a stop)
 *   "big N"    a Rows result with one N-byte cell
 *   "fail"     returns an error (the server answers SERVER_ERROR)
 *   "invalid"  an INVALID error frame
 *   "event"    broadcasts a STATUS_CHANGE event from the worker thread
 * Frames are read raw (header, body, lz4 by hand) so the tests can see
 * the wire flags, then decoded with the codec's response decoder.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/error.h"
#include "common/log.h"
#include "node/transport/server.h"

/* ------------------------------------------------------------------ */
/* Fake handler                                                        */
/* ------------------------------------------------------------------ */

typedef struct fake {
    atomic_int handled, inside, max_inside, opened, closed, bad_ud, refuse;
    sem_t gate;
    bs_server *srv;
    /* inline_ok tests: the thread conn_open ran on (a loop thread) and
     * how many handle() calls ran on it / elsewhere */
    pthread_t open_thread;
    atomic_int on_loop, off_loop;
    atomic_int commit_fail; /* inline_commit fails while set */
} fake;

static fake F;
static int ld(atomic_int *p) { return atomic_load(p); }
static bs_type k_text = {.kind = BS_TYPE_VARCHAR};

static int fake_open(void *ud, const char *client_ip, void **conn_ud) {
    (void)client_ip;
    fake *f = ud;
    if (atomic_load(&f->refuse)) return BS_EBUSY;
    int *n = malloc(sizeof *n);
    if (!n) return BS_ENOMEM;
    *n = atomic_fetch_add(&f->opened, 1) + 1;
    *conn_ud = n;
    f->open_thread = pthread_self();
    return 0;
}

static void fake_close(void *ud, void *conn_ud) {
    fake *f = ud;
    if (!conn_ud) atomic_fetch_add(&f->bad_ud, 1);
    free(conn_ud);
    atomic_fetch_add(&f->closed, 1);
}

static int rows_one(bs_buf *out, int16_t stream, bs_proto_compression comp, const void *p,
                    size_t n) {
    bs_proto_colspec col = {bs_proto_cstr("ks"), bs_proto_cstr("t"), bs_proto_cstr("q"), &k_text};
    bs_proto_meta meta;
    memset(&meta, 0, sizeof meta);
    meta.ncols = 1;
    meta.cols = &col;
    meta.paging_state.len = BS_PROTO_NULL;
    size_t start;
    bs_proto_rows_builder rb;
    int rc = bs_proto_frame_begin(out, 1, 0, stream, BS_PROTO_OP_RESULT, &start);
    if (!rc) rc = bs_proto_rows_begin(&rb, out, &meta);
    if (!rc) rc = bs_proto_rows_cell(&rb, p, (int32_t)n);
    if (!rc) rc = bs_proto_rows_finish(&rb);
    if (!rc) rc = bs_proto_frame_end(out, start, comp);
    return rc;
}

static int fake_handle(void *ud, void *conn_ud, const bs_proto_request *req, int16_t stream,
                       bs_proto_compression comp, bs_arena *a, bs_buf *out) {
    fake *f = ud;
    (void)a;
    if (!conn_ud) atomic_fetch_add(&f->bad_ud, 1);
    atomic_fetch_add(pthread_equal(pthread_self(), f->open_thread) ? &f->on_loop : &f->off_loop, 1);
    int in = atomic_fetch_add(&f->inside, 1) + 1;
    int mx = atomic_load(&f->max_inside);
    while (in > mx && !atomic_compare_exchange_weak(&f->max_inside, &mx, in)) {
    }
    bs_proto_str q = {"", 0};
    if (req->opcode == BS_PROTO_OP_AUTH_RESPONSE) { /* "\0u\0good" logs in */
        bs_proto_val t = req->u.auth_response;
        int ok = t.len == 7 && !memcmp(t.p, "\0u\0good", 7);
        bs_proto_response r;
        memset(&r, 0, sizeof r);
        r.opcode = BS_PROTO_OP_AUTH_SUCCESS;
        r.u.auth_token.len = BS_PROTO_NULL;
        int rc = ok ? bs_proto_response_encode(out, stream, &r, comp)
                    : bs_proto_error_frame(out, stream, BS_PROTO_ERR_BAD_CREDENTIALS,
                                           "Provided username u and/or password are incorrect",
                                           comp);
        atomic_fetch_add(&f->inside, -1);
        atomic_fetch_add(&f->handled, 1);
        return rc;
    }
    if (req->opcode == BS_PROTO_OP_QUERY) q = req->u.query.query;
    else if (req->opcode == BS_PROTO_OP_PREPARE) q = req->u.prepare.query;
    int rc = 0;
    if (bs_proto_str_eq(q, "block")) {
        sem_wait(&f->gate);
        rc = rows_one(out, stream, comp, q.p, q.len);
    } else if (bs_proto_str_eq(q, "slow")) {
        usleep(100 * 1000);
        rc = rows_one(out, stream, comp, q.p, q.len);
    } else if (bs_proto_str_eq(q, "fail")) {
        rc = BS_EIO;
    } else if (bs_proto_str_eq(q, "invalid")) {
        rc = bs_proto_error_frame(out, stream, BS_PROTO_ERR_INVALID, "unconfigured table t", comp);
    } else if (q.len > 4 && memcmp(q.p, "big ", 4) == 0) {
        size_t n = (size_t)atol(q.p + 4);
        uint8_t *cell = malloc(n);
        memset(cell, 'x', n);
        rc = rows_one(out, stream, comp, cell, n);
        free(cell);
    } else if (bs_proto_str_eq(q, "event")) {
        bs_proto_event ev;
        memset(&ev, 0, sizeof ev);
        ev.type = bs_proto_cstr("STATUS_CHANGE");
        ev.change = bs_proto_cstr("DOWN");
        ev.addr.addr_len = 4;
        memcpy(ev.addr.addr, "\x7f\x00\x00\x02", 4);
        ev.addr.port = 9042;
        rc = bs_server_broadcast_event(f->srv, &ev);
        if (!rc) rc = rows_one(out, stream, comp, q.p, q.len);
    } else {
        rc = rows_one(out, stream, comp, q.p, q.len);
    }
    atomic_fetch_add(&f->inside, -1);
    atomic_fetch_add(&f->handled, 1);
    return rc;
}

static bs_server_opts test_opts(void) {
    bs_server_opts o;
    bs_server_opts_init(&o);
    o.address = "127.0.0.1";
    o.port = 0;
    o.io_threads = 2;
    return o;
}

/* A server with handler h over the fake's fresh state. */
static bs_server *start_with(const bs_server_opts *o, const bs_server_handler *h) {
    memset(&F, 0, sizeof F);
    sem_init(&F.gate, 0, 0);
    bs_server *s = NULL;
    ck_assert_int_eq(bs_server_start(o, h, &s), 0);
    ck_assert_int_gt(bs_server_port(s), 0);
    F.srv = s;
    return s;
}

static bs_server *start(const bs_server_opts *o) {
    bs_server_handler h = {&F, fake_open, fake_close, fake_handle};
    return start_with(o, &h);
}

static void finish(bs_server *s) {
    bs_server_free(s);
    ck_assert_int_eq(ld(&F.opened), ld(&F.closed));
    ck_assert_int_eq(ld(&F.bad_ud), 0);
    sem_destroy(&F.gate);
}

static bs_server_stats stats(bs_server *s) {
    bs_server_stats st;
    bs_server_stats_get(s, &st);
    return st;
}

/* Waits (bounded) until connections_open == n: closes are asynchronous. */
static void wait_open(bs_server *s, uint64_t n) {
    for (int i = 0; i < 1000 && stats(s).connections_open != n; i++) usleep(5000);
    ck_assert_uint_eq(stats(s).connections_open, n);
}

/* ------------------------------------------------------------------ */
/* Client                                                              */
/* ------------------------------------------------------------------ */

typedef struct cli {
    int fd;
    bs_arena a;
    bs_proto_compression comp;
} cli;

typedef struct rframe {
    uint8_t version;   /* byte 0 as sent, with the response bit */
    uint8_t raw_flags; /* before inflating */
    int16_t stream;
    uint8_t opcode;
    uint32_t wire_len;
    bs_proto_response r;
} rframe;

static void cli_open(cli *c, int port, int rcvbuf) {
    memset(c, 0, sizeof *c);
    bs_arena_init(&c->a, 0);
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(c->fd, 0);
    struct timeval tv = {10, 0};
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (rcvbuf) setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(c->fd, (struct sockaddr *)&sa, sizeof sa), 0);
}

static void cli_close(cli *c) {
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
    bs_arena_free(&c->a);
}

static void cli_raw(cli *c, const void *p, size_t n) {
    const uint8_t *b = p;
    while (n) {
        ssize_t k = send(c->fd, b, n, MSG_NOSIGNAL);
        ck_assert_int_gt(k, 0);
        b += k;
        n -= (size_t)k;
    }
}

static int recv_all(int fd, void *p, size_t n) {
    uint8_t *b = p;
    while (n) {
        ssize_t k = recv(fd, b, n, 0);
        if (k <= 0) return -1;
        b += k;
        n -= (size_t)k;
    }
    return 0;
}

static void cli_send(cli *c, int16_t stream, const bs_proto_request *req) {
    bs_buf b = BS_BUF_INIT;
    ck_assert_int_eq(bs_proto_request_encode(&b, stream, req, c->comp), 0);
    cli_raw(c, b.data, b.len);
    bs_buf_free(&b);
}

static bs_proto_request mkquery(const char *q) {
    bs_proto_request r;
    memset(&r, 0, sizeof r);
    r.opcode = BS_PROTO_OP_QUERY;
    r.u.query.query = bs_proto_cstr(q);
    bs_proto_params_init(&r.u.query.params);
    return r;
}

static void cli_query(cli *c, int16_t stream, const char *q) {
    bs_proto_request r = mkquery(q);
    cli_send(c, stream, &r);
}

/* Reads one frame: 0, or -1 on EOF/error/timeout. */
static int cli_read(cli *c, rframe *out) {
    uint8_t h[9];
    memset(out, 0, sizeof *out);
    if (recv_all(c->fd, h, 9)) return -1;
    out->version = h[0];
    out->raw_flags = h[1];
    out->stream = (int16_t)bs_get_u16(h + 2);
    out->opcode = h[4];
    out->wire_len = bs_get_u32(h + 5);
    uint8_t *body = out->wire_len ? bs_arena_alloc(&c->a, out->wire_len) : NULL;
    if (out->wire_len && recv_all(c->fd, body, out->wire_len)) return -1;
    size_t len = out->wire_len;
    if (h[1] & BS_PROTO_FLAG_COMPRESSED) {
        bs_buf tmp = BS_BUF_INIT;
        ck_assert_int_eq(bs_proto_lz4_decompress(body, len, 1u << 30, &tmp), 0);
        body = bs_arena_memdup(&c->a, tmp.data, tmp.len ? tmp.len : 1);
        len = tmp.len;
        bs_buf_free(&tmp);
    }
    bs_proto_frame f;
    memset(&f, 0, sizeof f);
    f.h.version = h[0] & 0x7f;
    f.h.response = 1;
    f.h.flags = h[1] & (uint8_t)~BS_PROTO_FLAG_COMPRESSED;
    f.h.opcode = h[4];
    f.h.stream = out->stream;
    f.h.length = (uint32_t)len;
    f.body = body;
    f.body_len = len;
    bs_proto_rd rd;
    int rc = bs_proto_response_decode(&f, &c->a, &out->r, &rd);
    if (rc) ck_abort_msg("response decode: %s", rd.msg);
    return 0;
}

/* The peer closed: EOF or a reset, not a timeout. */
static void cli_expect_closed(cli *c) {
    uint8_t b[64];
    for (;;) {
        ssize_t k = recv(c->fd, b, sizeof b, 0);
        if (k == 0) return;
        if (k < 0) {
            ck_assert_msg(errno == ECONNRESET, "expected a close, got %s", strerror(errno));
            return;
        }
        ck_abort_msg("unexpected %zd bytes before close", k);
    }
}

static void expect_error(const rframe *f, int16_t stream, int32_t code, const char *substr) {
    ck_assert_uint_eq(f->opcode, BS_PROTO_OP_ERROR);
    ck_assert_int_eq(f->stream, stream);
    ck_assert_int_eq(f->r.u.error.code, code);
    char msg[512];
    snprintf(msg, sizeof msg, "%.*s", (int)f->r.u.error.message.len, f->r.u.error.message.p);
    ck_assert_msg(strstr(msg, substr), "message '%s' lacks '%s'", msg, substr);
}

/* Rows result with one cell; copies it into buf as a string. */
static void expect_echo(const rframe *f, int16_t stream, const char *want) {
    ck_assert_uint_eq(f->opcode, BS_PROTO_OP_RESULT);
    ck_assert_int_eq(f->stream, stream);
    ck_assert_int_eq(f->r.u.result.kind, BS_PROTO_RESULT_ROWS);
    ck_assert_int_eq(f->r.u.result.u.rows.nrows, 1);
    bs_proto_rows_iter it;
    bs_proto_val cell;
    bs_proto_rows_iter_init(&it, &f->r.u.result.u.rows);
    ck_assert_int_eq(bs_proto_rows_next(&it, &cell), 1);
    if (want) {
        ck_assert_int_eq(cell.len, (int32_t)strlen(want));
        ck_assert_int_eq(memcmp(cell.p, want, strlen(want)), 0);
    }
}

static void cli_startup(cli *c, const char *compression) {
    bs_proto_strpair kv[2] = {{bs_proto_cstr("CQL_VERSION"), bs_proto_cstr("3.0.0")},
                              {bs_proto_cstr("COMPRESSION"), bs_proto_cstr(compression)}};
    bs_proto_request r;
    memset(&r, 0, sizeof r);
    r.opcode = BS_PROTO_OP_STARTUP;
    r.u.startup.options.n = compression ? 2 : 1;
    r.u.startup.options.items = kv;
    cli_send(c, 0, &r);
    rframe f;
    ck_assert_int_eq(cli_read(c, &f), 0);
    ck_assert_uint_eq(f.opcode, BS_PROTO_OP_READY);
    ck_assert_uint_eq(f.version, 0x84);
    ck_assert_uint_eq(f.raw_flags & BS_PROTO_FLAG_COMPRESSED, 0); /* READY is never compressed */
    if (compression) c->comp = BS_PROTO_COMP_LZ4;
}

static void cli_register(cli *c, const char *ev) {
    bs_proto_str item = bs_proto_cstr(ev);
    bs_proto_request r;
    memset(&r, 0, sizeof r);
    r.opcode = BS_PROTO_OP_REGISTER;
    r.u.reg.events.n = 1;
    r.u.reg.events.items = &item;
    cli_send(c, 3, &r);
    rframe f;
    ck_assert_int_eq(cli_read(c, &f), 0);
    ck_assert_uint_eq(f.opcode, BS_PROTO_OP_READY);
    ck_assert_int_eq(f.stream, 3);
}

/* A request header written by hand. */
static void raw_header(uint8_t h[9], uint8_t version, uint8_t flags, int16_t stream, uint8_t op,
                       uint32_t len) {
    h[0] = version;
    h[1] = flags;
    bs_put_u16(h + 2, (uint16_t)stream);
    h[4] = op;
    bs_put_u32(h + 5, len);
}

/* ------------------------------------------------------------------ */
/* Tests                                                               */
/* ------------------------------------------------------------------ */

static int strlist_has(const bs_proto_multimap *m, const char *key, const char *val) {
    for (unsigned i = 0; i < m->n; i++) {
        if (!bs_proto_str_eq(m->items[i].key, key)) continue;
        for (unsigned j = 0; j < m->items[i].vals.n; j++)
            if (bs_proto_str_eq(m->items[i].vals.items[j], val)) return 1;
    }
    return 0;
}

START_TEST(options_supported) {
    bs_server_opts o = test_opts();
    bs_server *s = start(&o);
    cli c;
    cli_open(&c, bs_server_port(s), 0);
    bs_proto_request r;
    memset(&r, 0, sizeof r);
    r.opcode = BS_PROTO_OP_OPTIONS;
    cli_send(&c, 7, &r);
    rframe f;
    ck_assert_int_eq(cli_read(&c, &f), 0);
    ck_assert_uint_eq(f.opcode, BS_PROTO_OP_SUPPORTED);
    ck_assert_int_eq(f.stream, 7);
    ck_assert_uint_eq(f.version, 0x84);
    ck_assert_uint_eq(f.r.u.supported.n, 3);
    ck_assert(strlist_has(&f.r.u.supported, "CQL_VERSION", "3.4.5"));
    ck_assert(strlist_has(&f.r.u.supported, "COMPRESSION", "lz4"));
    ck_assert(strlist_has(&f.r.u.supported, "PROTOCOL_VERSIONS", "4/v4"));
    /* OPTIONS again after STARTUP still works */
    cli_startup(&c, NULL);
    cli_send(&c, 8, &r);
    ck_assert_int_eq(cli_read(&c, &f), 0);
    ck_assert_uint_eq(f.opcode, BS_PROTO_OP_SUPPORTED);
    ck_assert_int_eq(f.stream, 8);
    cli_close(&c);
    finish(s);
}
END_TEST

START_TEST(startup_then_query) {
    bs_server_opts o = test_opts();
    bs_server *s = start(&o);
    cli c;
    cli_open(&c, bs_server_port(s), 0);
    cli_startup(&c, NULL);
    cli_query(&c, 42, "SELECT * FROM t");
    rframe f;
    ck_assert_int_eq(cli_read(&c, &f), 0);
    expect_echo(&f, 42, "SELECT * FROM t");
    ck_assert_uint_eq(f.raw_flags, 0);
    /* PREPARE goes to the handler too */
    bs_proto_request r;
    memset(&r, 0, sizeof r);
    r.opcode = BS_PROTO_OP_PREPARE;
    r.u.prepare.query = bs_proto_cstr("SELECT ?");
    cli_send(&c, 43, &r);
    ck_assert_int_eq(cli_read(&c, &f), 0);
    expect_echo(&f, 43, "SELECT ?");
    /* a second STARTUP is refused, connection kept */
    bs_proto_strpair kv = {bs_proto_cstr("CQL_VERSION"), bs_proto_cstr("3.0.0")};
    memset(&r, 0, sizeof r);
    r.opcode = BS_PROTO_OP_STARTUP;
    r.u.startup.options.n = 1;
    r.u.startup.options.items = &kv;
    cli_send(&c, 44, &r);
    ck_assert_int_eq(cli_read(&c, &f), 0);
    expect_error(&f, 44, BS_PROTO_ERR_PROTOCOL, "STARTUP");
    cli_query(&c, 45, "x");
    ck_assert_int_eq(cli_read(&c, &f), 0);
    expect_echo(&f, 45, "x");
    bs_server_stats st = stats(s);
    ck_assert_uint_eq(st.connections_open, 1);
    ck_assert_uint_eq(st.connections_total, 1);
    ck_assert_uint_eq(st.requests_total, 5);
    ck_assert_uint_eq(bs_server_stats_errors(&st, BS_PROTO_ERR_PROTOCOL), 1);
    ck_assert_int_eq(ld(&F.handled), 3);
    cli_close(&c);
    finish(s);
}
END_TEST

START_TEST(query_before_startup) {
    bs_server_opts o = test_opts();
    bs_server *s = start(&o);
    cli c;
    cli_open(&c, bs_server_port(s), 0);
    cli_query(&c, 5, "SELECT now() FROM system.local");
    rframe f;
    ck_assert_int_eq(cli_read(&c, &f), 0);
    expect_error(&f, 5, BS_PROTO_ERR_PROTOCOL,
                 "Unexpected message QUERY, expecting STARTUP or OPTIONS");
    /* REGISTER before STARTUP too */
    bs_proto_str item = bs_proto_cstr("SCHEMA_CHANGE");
    bs_proto_request r;
    memset(&r, 0, sizeof r);
    r.opcode = BS_PROTO_OP_REGISTER;
    r.u.reg.events.n = 1;
    r.u.reg.events.items = &item;
    cli_send(&c, 6, &r);
    ck_assert_int_eq(cli_read(&c, &f), 0);
    expect_error(&f, 6, BS_PROTO_ERR_PROTOCOL, "Unexpected message REGISTER");
    /* the connection is still usable */
    cli_startup(&c, NULL);
    cli_query(&c, 9, "ok");
    ck_assert_int_eq(cli_read(&c, &f), 0);
    expect_echo(&f, 9, "ok");
    ck_assert_int_eq(ld(&F.handled), 1);
    cli_close(&c);
    finish(s);
}
END_TEST

/* With an authenticator: STARTUP -> AUTHENTICATE; nothing but
 * AUTH_RESPONSE until the handler answers one with AUTH_SUCCESS. */
static void send_auth(cli *c, int16_t stream, const char *tok, size_t n) {
    bs_proto_request r;
    memset(&r, 0, sizeof r);
    r.opcode = BS_PROTO_OP_AUTH_RESPONSE;
    r.u.auth_response = bs_proto_bytes(tok, n);
    cli_send(c, stream, &r);
}

START_TEST(authenticate_before_requests) {
    bs_server_opts o = test_opts();
    o.authenticator = "org.apache.cassandra.auth.PasswordAuthenticator";
    bs_server *s = start(&o);
    cli c;
    cli_open(&c, bs_server_port(s), 0);
    bs_proto_strpair kv = {bs_proto_cstr("CQL_VERSION"), bs_proto_cstr("3.0.0")};
    bs_proto_request r;
    memset(&r, 0, sizeof r);
    r.opcode = BS_PROTO_OP_STARTUP;
    r.u.startup.options.n = 1;
    r.u.startup.options.items = &kv;
    cli_send(&c, 0, &r);
    rframe f;
    ck_assert_int_eq(cli_read(&c, &f), 0);
    ck_assert_uint_eq(f.opcode, BS_PROTO_OP_AUTHENTICATE);
    ck_assert(bs_proto_str_eq(f.r.u.authenticator,
                              "org.apache.cassandra.auth.PasswordAuthenticator"));
    cli_query(&c, 1, "SELECT * FROM t");
    ck_assert_int_eq(cli_read(&c, &f), 0);
    expect_error(&f, 1, BS_PROTO_ERR_PROTOCOL, "Unexpected message QUERY, expecting SASL_RESPONSE");
    send_auth(&c, 2, "\0u\0bad", 6);
    ck_assert_int_eq(cli_read(&c, &f), 0);
    expect_error(&f, 2, BS_PROTO_ERR_BAD_CREDENTIALS, "incorrect");
    cli_query(&c, 3, "SELECT * FROM t"); /* still not logged in */
    ck_assert_int_eq(cli_read(&c, &f), 0);
    expect_error(&f, 3, BS_PROTO_ERR_PROTOCOL, "expecting SASL_RESPONSE");
    send_auth(&c, 4, "\0u\0good", 7);
    ck_assert_int_eq(cli_read(&c, &f), 0);
    ck_assert_uint_eq(f.opcode, BS_PROTO_OP_AUTH_SUCCESS);
    ck_assert_int_eq(f.stream, 4);
    cli_query(&c, 5, "now");
    ck_assert_int_eq(cli_read(&c, &f), 0);
    expect_echo(&f, 5, "now");
    send_auth(&c, 6, "\0u\0good", 7);
    ck_assert_int_eq(cli_read(&c, &f), 0);
    expect_error(&f, 6, BS_PROTO_ERR_PROTOCOL, "already authenticated");
    ck_assert_int_eq(ld(&F.handled), 3); /* two AUTH_RESPONSEs, one QUERY */
    cli_close(&c);
    /* with lz4: AUTHENTICATE is not compressed, everything after is */
    cli_open(&c, bs_server_port(s), 0);
    bs_proto_strpair kv2[2] = {{bs_proto_cstr("CQL_VERSION"), bs_proto_cstr("3.0.0")},
                               {bs_proto_cstr("COMPRESSION"), bs_proto_cstr("lz4")}};
    r.u.startup.options.n = 2;
    r.u.startup.options.items = kv2;
    cli_send(&c, 0, &r);
    ck_assert_int_eq(cli_read(&c, &f), 0);
    ck_assert_uint_eq(f.opcode, BS_PROTO_OP_AUTHENTICATE);
    ck_assert_uint_eq(f.raw_flags & BS_PROTO_FLAG_COMPRESSED, 0);
    c.comp = BS_PROTO_COMP_LZ4;
    send_auth(&c, 8, "\0u\0good", 7);
    ck_assert_int_eq(cli_read(&c, &f), 0);
    ck_assert_uint_eq(f.opcode, BS_PROTO_OP_AUTH_SUCCESS);
    ck_assert_uint_eq(f.raw_flags & BS_PROTO_FLAG_COMPRESSED, BS_PROTO_FLAG_COMPRESSED);
    cli_query(&c, 9, "compressed");
    ck_assert_int_eq(cli_read(&c, &f), 0);
    expect_echo(&f, 9, "compressed");
    cli_close(&c);
    finish(s);
}
END_TEST

START_TEST(startup_bad_compression) {
    bs_server_opts o = test_opts();
    bs_server *s = start(&o);
    const char *algos[] = {"snappy", "zstd"};
    const char *want[] = {"snappy", "Unknown compression algorithm: zstd"};
    for (int i = 0; i < 2; i++) {
        cli c;
        cli_open(&c, bs_server_port(s), 0);
        bs_proto_strpair kv[2] = {{bs_proto_cstr("CQL_VERSION"), bs_proto_cstr("3.0.0")},
                                  {bs_proto_cstr("COMPRESSION"), bs_proto_cstr(algos[i])}};
        bs_proto_request r;
        memset(&r, 0, sizeof r);
        r.opcode = BS_PROTO_OP_STARTUP;
        r.u.startup.options.n = 2;
        r.u.startup.options.items = kv;
        cli_send(&c, 1, &r);
        rframe f;
        ck_assert_int_eq(cli_read(&c, &f), 0);
        expect_error(&f, 1, BS_PROTO_ERR_PROTOCOL, want[i]);
        cli_expect_closed(&c);
        cli_close(&c);
    }
    /* missing CQL_VERSION */
    cli c;
    cli_open(&c, bs_server_port(s), 0);
    bs_proto_request r;
    memset(&r, 0, sizeof r);
    r.opcode = BS_PROTO_OP_STARTUP;
    cli_send(&c, 2, &r);
    rframe f;
    ck_assert_int_eq(cli_read(&c, &f), 0);
    expect_error(&f, 2, BS_PROTO_ERR_PROTOCOL, "CQL_VERSION");
    cli_close(&c);
    finish(s);
}
END_TEST

START_TEST(pipelined_streams) {
    bs_server_opts o = test_opts();
    bs_server *s = start(&o);
    cli c;
    cli_open(&c, bs_server_port(s), 0);
    cli_startup(&c, NULL);
    enum { N = 2000 };
    /* all requests in one buffer, sent at once */
    bs_buf b = BS_BUF_INIT;
    char q[32];
    for (int i = 1; i <= N; i++) {
        snprintf(q, sizeof q, "q%d", i);
        bs_proto_request r = mkquery(q);
        ck_assert_int_eq(bs_proto_request_encode(&b, (int16_t)i, &r, BS_PROTO_COMP_NONE), 0);
    }
    cli_raw(&c, b.data, b.len);
    bs_buf_free(&b);
    static uint8_t seen[N + 1];
    memset(seen, 0, sizeof seen);
    for (int i = 0; i < N; i++) {
        rframe f;
        ck_assert_int_eq(cli_read(&c, &f), 0);
        ck_assert_int_ge(f.stream, 1);
        ck_assert_int_le(f.stream, N);
        ck_assert_int_eq(seen[f.stream], 0);
        seen[f.stream] = 1;
        snprintf(q, sizeof q, "q%d", f.stream);
        expect_echo(&f, f.stream, q);
        bs_arena_reset(&c.a);
    }
    ck_assert_int_eq(ld(&F.handled), N);
    ck_assert_uint_eq(stats(s).requests_total, N + 1);
    cli_close(&c);
    finish(s);
}
END_TEST

START_TEST(out_of_order_completion) {
    bs_server_opts o = test_opts();
    bs_server *s = start(&o);
    cli c;
    cli_open(&c, bs_server_port(s), 0);
    cli_startup(&c, NULL);
    cli_query(&c, 1, "block");
    char q[16];
    for (int i = 2; i <= 20; i++) {
        snprintf(q, sizeof q, "fast%d", i);
        cli_query(&c, (int16_t)i, q);
    }
    /* the 19 fast ones come back while "block" is still running */
    int got = 0;
    for (int i = 2; i <= 20; i++) {
        rframe f;
        ck_assert_int_eq(cli_read(&c, &f), 0);
        ck_assert_int_ne(f.stream, 1);
        snprintf(q, sizeof q, "fast%d", f.stream);
        expect_echo(&f, f.stream, q);
        got++;
    }
    ck_assert_int_eq(got, 19);
    ck_assert_int_eq(ld(&F.inside), 1);
    sem_post(&F.gate);
    rframe f;
    ck_assert_int_eq(cli_read(&c, &f), 0);
    expect_echo(&f, 1, "block");
    cli_close(&c);
    finish(s);
}
END_TEST

START_TEST(lz4_round_trip) {
    bs_server_opts o = test_opts();
    bs_server *s = start(&o);
    cli c;
    cli_open(&c, bs_server_port(s), 0);
    cli_startup(&c, "lz4");
    /* a compressible query: the request goes compressed, the answer too */
    char *q = malloc(20001);
    for (int i = 0; i < 20000; i++) q[i] = "SELECT abc "[i % 11];
    q[20000] = 0;
    cli_query(&c, 11, q);
    rframe f;
    ck_assert_int_eq(cli_read(&c, &f), 0);
    ck_assert_uint_eq(f.raw_flags & BS_PROTO_FLAG_COMPRESSED, BS_PROTO_FLAG_COMPRESSED);
    ck_assert_uint_lt(f.wire_len, 5000); /* really compressed */
    expect_echo(&f, 11, q);
    /* server-made frames are compressed as well: OPTIONS, errors */
    bs_proto_request r;
    memset(&r, 0, sizeof r);
    r.opcode = BS_PROTO_OP_OPTIONS;
    cli_send(&c, 12, &r);
    ck_assert_int_eq(cli_read(&c, &f), 0);
    ck_assert_uint_eq(f.opcode, BS_PROTO_OP_SUPPORTED);
    ck_assert_uint_eq(f.raw_flags & BS_PROTO_FLAG_COMPRESSED, BS_PROTO_FLAG_COMPRESSED);
    cli_query(&c, 13, "fail");
    ck_assert_int_eq(cli_read(&c, &f), 0);
    ck_assert_uint_eq(f.raw_flags & BS_PROTO_FLAG_COMPRESSED, BS_PROTO_FLAG_COMPRESSED);
    expect_error(&f, 13, BS_PROTO_ERR_SERVER, "handler failed");
    /* a handler-made compressed error is still counted by code */
    cli_query(&c, 14, "invalid");
    ck_assert_int_eq(cli_read(&c, &f), 0);
    expect_error(&f, 14, BS_PROTO_ERR_INVALID, "unconfigured table");
    bs_server_stats st = stats(s);
    ck_assert_uint_eq(bs_server_stats_errors(&st, BS_PROTO_ERR_INVALID), 1);
    ck_assert_uint_eq(bs_server_stats_errors(&st, BS_PROTO_ERR_SERVER), 1);
    free(q);
    cli_close(&c);
    finish(s);
}
END_TEST

START_TEST(uncompressed_frame_with_flag_is_fatal) {
    /* the compressed flag without negotiated compression */
    bs_server_opts o = test_opts();
    bs_server *s = start(&o);
    cli c;
    cli_open(&c, bs_server_port(s), 0);
    cli_startup(&c, NULL);
    c.comp = BS_PROTO_COMP_LZ4; /* the client lies */
    cli_query(&c, 3, "SELECT 1");
    rframe f;
    ck_assert_int_eq(cli_read(&c, &f), 0);
    expect_error(&f, 3, BS_PROTO_ERR_PROTOCOL, "no compression was negotiated");
    cli_expect_closed(&c);
    cli_close(&c);
    finish(s);
}
END_TEST

START_TEST(version_v5_refused) {
    bs_server_opts o = test_opts();
    bs_server *s = start(&o);
    cli c;
    cli_open(&c, bs_server_port(s), 0);
    uint8_t h[9];
    raw_header(h, 0x05, 0, 0, BS_PROTO_OP_OPTIONS, 0);
    cli_raw(&c, h, 9);
    rframe f;
    ck_assert_int_eq(cli_read(&c, &f), 0);
    ck_assert_uint_eq(f.version, 0x84); /* answered in v4, which drivers retry with */
    expect_error(&f, 0, BS_PROTO_ERR_PROTOCOL, "Invalid or unsupported protocol version (5)");
    cli_expect_closed(&c);
    cli_close(&c);
    bs_server_stats st = stats(s);
    ck_assert_uint_eq(bs_server_stats_errors(&st, BS_PROTO_ERR_PROTOCOL), 1);
    ck_assert_uint_eq(st.connections_total, 1);
    finish(s);
}
END_TEST

START_TEST(version_v3_served_and_kept) {
    bs_server_opts o = test_opts();
    bs_server *s = start(&o);
    cli c;
    cli_open(&c, bs_server_port(s), 0);
    uint8_t h[9];
    raw_header(h, 0x03, 0, 17, BS_PROTO_OP_OPTIONS, 0);
    cli_raw(&c, h, 9);
    rframe f;
    ck_assert_int_eq(cli_read(&c, &f), 0);
    ck_assert_uint_eq(f.version, 0x83); /* answered in v3 */
    ck_assert_uint_eq(f.opcode, BS_PROTO_OP_SUPPORTED);
    ck_assert_int_eq(f.stream, 17);
    const bs_proto_multimap *m = &f.r.u.supported;
    int found = 0;
    for (uint16_t i = 0; i < m->n; i++)
        if (bs_proto_str_eq(m->items[i].key, "PROTOCOL_VERSIONS")) {
            ck_assert_uint_eq(m->items[i].vals.n, 2);
            ck_assert(bs_proto_str_eq(m->items[i].vals.items[0], "3/v3"));
            ck_assert(bs_proto_str_eq(m->items[i].vals.items[1], "4/v4"));
            found = 1;
        }
    ck_assert(found);
    /* the first frame fixed the version: a v4 frame now is fatal */
    raw_header(h, 0x04, 0, 18, BS_PROTO_OP_OPTIONS, 0);
    cli_raw(&c, h, 9);
    ck_assert_int_eq(cli_read(&c, &f), 0);
    ck_assert_uint_eq(f.version, 0x83);
    expect_error(&f, 18, BS_PROTO_ERR_PROTOCOL,
                 "Invalid message version. Got 4 but previous messages on this connection had "
                 "version 3");
    cli_expect_closed(&c);
    cli_close(&c);
    finish(s);
}
END_TEST

START_TEST(garbage_then_still_serving) {
    bs_server_opts o = test_opts();
    bs_server *s = start(&o);
    /* a v4 header with an opcode that is no request */
    cli c;
    cli_open(&c, bs_server_port(s), 0);
    uint8_t h[9];
    raw_header(h, 0x04, 0, 4, 0xEE, 3);
    cli_raw(&c, h, 9);
    cli_raw(&c, "abc", 3);
    rframe f;
    ck_assert_int_eq(cli_read(&c, &f), 0);
    ck_assert_uint_eq(f.opcode, BS_PROTO_OP_ERROR);
    ck_assert_int_eq(f.r.u.error.code, BS_PROTO_ERR_PROTOCOL);
    cli_expect_closed(&c);
    cli_close(&c);
    /* an HTTP request: 'G' is not a protocol version */
    cli_open(&c, bs_server_port(s), 0);
    const char *http = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    cli_raw(&c, http, strlen(http));
    ck_assert_int_eq(cli_read(&c, &f), 0);
    expect_error(&f, f.stream, BS_PROTO_ERR_PROTOCOL, "unsupported protocol version");
    cli_expect_closed(&c);
    cli_close(&c);
    /* a malformed body: a [long string] that claims more than is there */
    cli_open(&c, bs_server_port(s), 0);
    cli_startup(&c, NULL);
    uint8_t frame[9 + 7];
    raw_header(frame, 0x04, 0, 21, BS_PROTO_OP_QUERY, 7);
    memcpy(frame + 9, "\x00\x00\x00\x64" "abc", 7);
    cli_raw(&c, frame, sizeof frame);
    ck_assert_int_eq(cli_read(&c, &f), 0);
    expect_error(&f, 21, BS_PROTO_ERR_PROTOCOL, "query");
    cli_expect_closed(&c);
    cli_close(&c);
    /* pseudo-random junk on a few connections */
    unsigned seed = 12345;
    for (int k = 0; k < 20; k++) {
        cli_open(&c, bs_server_port(s), 0);
        uint8_t junk[300];
        for (size_t i = 0; i < sizeof junk; i++) junk[i] = (uint8_t)(rand_r(&seed) >> 7);
        junk[0] = 0x04; /* get past the version check half of the time */
        if (k & 1) junk[0] = junk[1];
        send(c.fd, junk, sizeof junk, MSG_NOSIGNAL);
        shutdown(c.fd, SHUT_WR);
        uint8_t sink[4096];
        while (recv(c.fd, sink, sizeof sink, 0) > 0) {
        }
        cli_close(&c);
    }
    /* the server still serves new connections */
    cli_open(&c, bs_server_port(s), 0);
    cli_startup(&c, NULL);
    cli_query(&c, 1, "alive");
    ck_assert_int_eq(cli_read(&c, &f), 0);
    expect_echo(&f, 1, "alive");
    cli_close(&c);
    finish(s);
}
END_TEST

START_TEST(oversize_frame_then_usable) {
    bs_server_opts o = test_opts();
    o.max_frame = 1024;
    bs_server *s = start(&o);
    cli c;
    cli_open(&c, bs_server_port(s), 0);
    cli_startup(&c, NULL);
    char *q = malloc(5001);
    memset(q, 'a', 5000);
    q[5000] = 0;
    bs_proto_request r = mkquery(q);
    bs_buf b = BS_BUF_INIT;
    ck_assert_int_eq(bs_proto_request_encode(&b, 31, &r, BS_PROTO_COMP_NONE), 0);
    uint32_t body = (uint32_t)(b.len - 9);
    /* in pieces, so the body is skipped across reads */
    cli_raw(&c, b.data, 100);
    usleep(20 * 1000);
    cli_raw(&c, b.data + 100, b.len - 100);
    rframe f;
    ck_assert_int_eq(cli_read(&c, &f), 0);
    char want[128];
    snprintf(want, sizeof want,
             "Request is too big: length %u exceeds maximum allowed length 1024", body);
    expect_error(&f, 31, BS_PROTO_ERR_PROTOCOL, want);
    /* the connection goes on: a small query right after */
    cli_query(&c, 32, "small");
    ck_assert_int_eq(cli_read(&c, &f), 0);
    expect_echo(&f, 32, "small");
    ck_assert_int_eq(ld(&F.handled), 1);
    bs_buf_free(&b);
    free(q);
    cli_close(&c);
    finish(s);
}
END_TEST

START_TEST(many_connections) {
    bs_server_opts o = test_opts();
    o.io_threads = 4;
    bs_server *s = start(&o);
    enum { N = 50 };
    static cli cs[N];
    for (int i = 0; i < N; i++) {
        cli_open(&cs[i], bs_server_port(s), 0);
        cli_startup(&cs[i], (i & 1) ? "lz4" : NULL);
    }
    char q[32];
    for (int i = 0; i < N; i++) {
        snprintf(q, sizeof q, "conn%d", i);
        cli_query(&cs[i], (int16_t)(100 + i), q);
    }
    for (int i = 0; i < N; i++) {
        rframe f;
        ck_assert_int_eq(cli_read(&cs[i], &f), 0);
        snprintf(q, sizeof q, "conn%d", i);
        expect_echo(&f, (int16_t)(100 + i), q);
    }
    bs_server_stats st = stats(s);
    ck_assert_uint_eq(st.connections_open, N);
    ck_assert_uint_eq(st.connections_total, N);
    ck_assert_int_eq(ld(&F.opened), N);
    for (int i = 0; i < N; i++) cli_close(&cs[i]);
    wait_open(s, 0);
    ck_assert_int_eq(ld(&F.closed), N);
    finish(s);
}
END_TEST

/* The kernel picks a SO_REUSEPORT listener by a hash: 16 connections over
 * 4 loops come out 4/4/4/4 by chance only ~1.5% of the time.  Accepted
 * connections are dealt to the loops in turn, so they must. */
START_TEST(connections_balanced_over_loops) {
    bs_server_opts o = test_opts();
    o.io_threads = 4;
    bs_server *s = start(&o);
    enum { N = 16 };
    static cli cs[N];
    for (int i = 0; i < N; i++) {
        cli_open(&cs[i], bs_server_port(s), 0);
        cli_startup(&cs[i], NULL); /* a round trip: the connection is placed */
    }
    char q[32];
    for (int i = 0; i < N; i++) {
        snprintf(q, sizeof q, "bal%d", i);
        cli_query(&cs[i], (int16_t)(7 + i), q);
        rframe f;
        ck_assert_int_eq(cli_read(&cs[i], &f), 0);
        expect_echo(&f, (int16_t)(7 + i), q);
    }
    bs_server_stats st = stats(s);
    ck_assert_uint_eq(st.connections_open, N);
    ck_assert_uint_eq(st.loop_connections_max, N / 4);
    ck_assert_uint_eq(st.loop_connections_min, N / 4);
    for (int i = 0; i < N; i++) cli_close(&cs[i]);
    wait_open(s, 0);
    st = stats(s);
    ck_assert_uint_eq(st.loop_connections_max, 0);
    finish(s);
}
END_TEST

START_TEST(max_connections_limit) {
    bs_server_opts o = test_opts();
    o.max_connections = 3;
    bs_server *s = start(&o);
    cli cs[3], extra;
    for (int i = 0; i < 3; i++) {
        cli_open(&cs[i], bs_server_port(s), 0);
        cli_startup(&cs[i], NULL);
    }
    cli_open(&extra, bs_server_port(s), 0); /* the kernel completes the handshake */
    cli_expect_closed(&extra);
    cli_close(&extra);
    bs_server_stats st = stats(s);
    ck_assert_uint_eq(st.connections_rejected, 1);
    ck_assert_uint_eq(st.connections_open, 3);
    ck_assert_int_eq(ld(&F.opened), 3); /* no handler state for it */
    /* room again after a close */
    cli_close(&cs[0]);
    wait_open(s, 2);
    cli_open(&cs[0], bs_server_port(s), 0);
    cli_startup(&cs[0], NULL);
    cli_query(&cs[0], 1, "back");
    rframe f;
    ck_assert_int_eq(cli_read(&cs[0], &f), 0);
    expect_echo(&f, 1, "back");
    for (int i = 0; i < 3; i++) cli_close(&cs[i]);
    finish(s);
}
END_TEST

START_TEST(handler_refuses_connection) {
    bs_server_opts o = test_opts();
    bs_server *s = start(&o);
    atomic_store(&F.refuse, 1);
    cli c;
    cli_open(&c, bs_server_port(s), 0);
    cli_expect_closed(&c);
    cli_close(&c);
    bs_server_stats st = stats(s);
    ck_assert_uint_eq(st.connections_rejected, 1);
    ck_assert_uint_eq(st.connections_total, 0);
    ck_assert_int_eq(ld(&F.opened), 0);
    atomic_store(&F.refuse, 0);
    cli_open(&c, bs_server_port(s), 0);
    cli_startup(&c, NULL);
    cli_close(&c);
    finish(s); /* conn_close ran only for the accepted one */
}
END_TEST

START_TEST(events_only_to_registered) {
    bs_server_opts o = test_opts();
    o.io_threads = 1; /* one loop: delivery order is then observable */
    bs_server *s = start(&o);
    cli a, b, c, d;
    cli_open(&a, bs_server_port(s), 0);
    cli_startup(&a, NULL);
    cli_register(&a, "SCHEMA_CHANGE");
    cli_open(&b, bs_server_port(s), 0);
    cli_startup(&b, NULL);
    cli_register(&b, "STATUS_CHANGE");
    cli_open(&c, bs_server_port(s), 0);
    cli_startup(&c, NULL);
    cli_open(&d, bs_server_port(s), 0);
    cli_startup(&d, "lz4");
    cli_register(&d, "SCHEMA_CHANGE");

    bs_proto_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = bs_proto_cstr("SCHEMA_CHANGE");
    ev.schema.change_type = bs_proto_cstr("CREATED");
    ev.schema.target = bs_proto_cstr("TABLE");
    ev.schema.keyspace = bs_proto_cstr("ks");
    ev.schema.name = bs_proto_cstr("t1");
    ck_assert_int_eq(bs_server_broadcast_event(s, &ev), 0);
    rframe f;
    ck_assert_int_eq(cli_read(&a, &f), 0);
    ck_assert_uint_eq(f.opcode, BS_PROTO_OP_EVENT);
    ck_assert_int_eq(f.stream, -1);
    ck_assert(bs_proto_str_eq(f.r.u.event.type, "SCHEMA_CHANGE"));
    ck_assert(bs_proto_str_eq(f.r.u.event.schema.change_type, "CREATED"));
    ck_assert(bs_proto_str_eq(f.r.u.event.schema.name, "t1"));
    ck_assert_int_eq(cli_read(&d, &f), 0);
    ck_assert_uint_eq(f.opcode, BS_PROTO_OP_EVENT);
    ck_assert_uint_eq(f.raw_flags & BS_PROTO_FLAG_COMPRESSED, BS_PROTO_FLAG_COMPRESSED);
    ck_assert(bs_proto_str_eq(f.r.u.event.schema.keyspace, "ks"));

    /* from a worker thread: a STATUS_CHANGE, for b only */
    cli_query(&c, 9, "event");
    ck_assert_int_eq(cli_read(&c, &f), 0);
    expect_echo(&f, 9, "event");
    ck_assert_int_eq(cli_read(&b, &f), 0);
    ck_assert_uint_eq(f.opcode, BS_PROTO_OP_EVENT);
    ck_assert(bs_proto_str_eq(f.r.u.event.type, "STATUS_CHANGE"));
    ck_assert(bs_proto_str_eq(f.r.u.event.change, "DOWN"));
    ck_assert_uint_eq(f.r.u.event.addr.addr_len, 4);
    ck_assert_int_eq(f.r.u.event.addr.port, 9042);

    /* neither event reached the wrong connections: their next frame is
     * the answer to a query sent now (single loop: the events were
     * written before these queries were even read) */
    cli *others[] = {&a, &c, &d};
    for (int i = 0; i < 3; i++) {
        cli_query(others[i], 50, "next");
        ck_assert_int_eq(cli_read(others[i], &f), 0);
        expect_echo(&f, 50, "next");
    }
    cli_query(&b, 51, "next");
    ck_assert_int_eq(cli_read(&b, &f), 0);
    expect_echo(&f, 51, "next");

    ev.type = bs_proto_cstr("NO_SUCH_EVENT");
    ck_assert_int_eq(bs_server_broadcast_event(s, &ev), BS_EINVAL);
    cli_close(&a);
    cli_close(&b);
    cli_close(&c);
    cli_close(&d);
    bs_server_stop(s);
    ev.type = bs_proto_cstr("SCHEMA_CHANGE");
    ck_assert_int_eq(bs_server_broadcast_event(s, &ev), BS_ECLOSED);
    finish(s);
}
END_TEST

START_TEST(inflight_backpressure) {
    bs_server_opts o = test_opts();
    o.max_inflight = 4;
    bs_server *s = start(&o);
    cli c;
    cli_open(&c, bs_server_port(s), 0);
    cli_startup(&c, NULL);
    for (int i = 1; i <= 10; i++) cli_query(&c, (int16_t)i, "block");
    for (int i = 0; i < 1000 && ld(&F.inside) < 4; i++) usleep(2000);
    ck_assert_int_eq(ld(&F.inside), 4);
    /* give a broken server the chance to take more */
    usleep(200 * 1000);
    ck_assert_int_eq(ld(&F.inside), 4);
    ck_assert_uint_eq(stats(s).requests_total, 1 + 4);
    for (int i = 0; i < 10; i++) sem_post(&F.gate);
    int seen = 0;
    for (int i = 0; i < 10; i++) {
        rframe f;
        ck_assert_int_eq(cli_read(&c, &f), 0);
        expect_echo(&f, f.stream, "block");
        seen |= 1 << f.stream;
    }
    ck_assert_int_eq(seen, 0x7fe);
    ck_assert_int_eq(ld(&F.max_inside), 4);
    cli_close(&c);
    finish(s);
}
END_TEST

START_TEST(write_backpressure) {
    bs_server_opts o = test_opts();
    o.max_inflight = 2;
    o.max_write_queue = 1u << 20;
    bs_server *s = start(&o);
    cli c;
    cli_open(&c, bs_server_port(s), 64 * 1024);
    cli_startup(&c, NULL);
    enum { N = 40, SZ = 1 << 20 };
    char q[32];
    snprintf(q, sizeof q, "big %d", SZ);
    for (int i = 1; i <= N; i++) cli_query(&c, (int16_t)i, q);
    /* the client reads nothing: the server must stop taking requests */
    int last = -1;
    for (int i = 0; i < 100; i++) {
        usleep(50 * 1000);
        int h = ld(&F.handled);
        if (h == last) break;
        last = h;
    }
    ck_assert_int_lt(ld(&F.handled), N);
    for (int i = 0; i < N; i++) {
        rframe f;
        ck_assert_int_eq(cli_read(&c, &f), 0);
        ck_assert_uint_eq(f.opcode, BS_PROTO_OP_RESULT);
        ck_assert_int_eq(f.r.u.result.u.rows.content_len, 4 + SZ);
        bs_arena_reset(&c.a);
    }
    ck_assert_int_eq(ld(&F.handled), N);
    cli_close(&c);
    finish(s);
}
END_TEST

START_TEST(stop_with_work_in_flight) {
    bs_server_opts o = test_opts();
    bs_server *s = start(&o);
    cli cs[5];
    for (int i = 0; i < 5; i++) {
        cli_open(&cs[i], bs_server_port(s), 0);
        if (i < 4) cli_startup(&cs[i], i == 3 ? "lz4" : NULL);
    }
    cli_query(&cs[0], 77, "slow");
    for (int i = 0; i < 1000 && ld(&F.inside) < 1; i++) usleep(1000);
    ck_assert_int_eq(ld(&F.inside), 1);
    bs_server_stop(s);
    /* the request in flight was answered before the close */
    rframe f;
    ck_assert_int_eq(cli_read(&cs[0], &f), 0);
    expect_echo(&f, 77, "slow");
    for (int i = 0; i < 5; i++) {
        cli_expect_closed(&cs[i]);
        cli_close(&cs[i]);
    }
    ck_assert_int_eq(ld(&F.opened), 5);
    ck_assert_int_eq(ld(&F.closed), 5);
    bs_server_stop(s); /* idempotent */
    finish(s);
}
END_TEST

START_TEST(client_gone_before_response) {
    /* a response written to a reset connection must neither raise SIGPIPE
     * in the process nor disturb anything else */
    bs_server_opts o = test_opts();
    o.io_threads = 1;
    bs_server *s = start(&o);
    for (int round = 0; round < 2; round++) {
        cli c;
        cli_open(&c, bs_server_port(s), 0);
        cli_startup(&c, NULL);
        cli_query(&c, 1, round ? "block" : "big 4000000");
        if (round) {
            for (int i = 0; i < 1000 && ld(&F.inside) < 1; i++) usleep(1000);
        } else {
            /* let a part of the answer arrive so the server is mid-write */
            uint8_t b[1000];
            ck_assert_int_gt(recv(c.fd, b, sizeof b, 0), 0);
        }
        struct linger lg = {1, 0}; /* close with RST */
        setsockopt(c.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        cli_close(&c);
        if (round) sem_post(&F.gate);
        /* the server noticed and cleaned up */
        wait_open(s, 0);
    }
    cli c;
    cli_open(&c, bs_server_port(s), 0);
    cli_startup(&c, NULL);
    cli_query(&c, 2, "still here");
    rframe f;
    ck_assert_int_eq(cli_read(&c, &f), 0);
    expect_echo(&f, 2, "still here");
    cli_close(&c);
    finish(s);
}
END_TEST

START_TEST(queued_work_of_closed_connection_is_skipped) {
    /* one worker, busy: requests queued behind it whose connection goes
     * away never reach the handler */
    bs_server_opts o = test_opts();
    o.io_threads = 1;
    o.worker_threads = 1;
    bs_server *s = start(&o);
    cli c;
    cli_open(&c, bs_server_port(s), 0);
    cli_startup(&c, NULL);
    cli_query(&c, 1, "block");
    for (int i = 0; i < 1000 && ld(&F.inside) < 1; i++) usleep(1000);
    ck_assert_int_eq(ld(&F.inside), 1);
    for (int i = 0; i < 5; i++) cli_query(&c, (int16_t)(10 + i), "queued");
    for (int i = 0; i < 1000 && stats(s).requests_total < 7; i++) usleep(1000);
    ck_assert_uint_eq(stats(s).requests_total, 7); /* STARTUP + 6 queries */
    struct linger lg = {1, 0}; /* close with RST */
    setsockopt(c.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    cli_close(&c);
    wait_open(s, 0); /* the server closed it: the 5 are cancelled */
    sem_post(&F.gate);
    bs_server_stop(s); /* returns once every work item came back */
    ck_assert_int_eq(ld(&F.handled), 1);
    ck_assert_int_eq(ld(&F.closed), 1);
    finish(s);
}
END_TEST

typedef struct release_arg {
    int fd;
    int saw_close;
} release_arg;

/* Waits for the server to close fd, then lets the blocked handler go. */
static void *release_after_close(void *p) {
    release_arg *ra = p;
    uint8_t b[256];
    ssize_t k;
    while ((k = recv(ra->fd, b, sizeof b, 0)) > 0) {
    }
    ra->saw_close = (k == 0 || errno == ECONNRESET);
    sem_post(&F.gate);
    return NULL;
}

START_TEST(stop_timeout_drops_late_response) {
    bs_server_opts o = test_opts();
    o.stop_timeout_ms = 100;
    bs_server *s = start(&o);
    cli c;
    cli_open(&c, bs_server_port(s), 0);
    cli_startup(&c, NULL);
    cli_query(&c, 5, "block");
    for (int i = 0; i < 1000 && ld(&F.inside) < 1; i++) usleep(1000);
    ck_assert_int_eq(ld(&F.inside), 1);
    release_arg ra = {c.fd, 0};
    pthread_t t;
    pthread_create(&t, NULL, release_after_close, &ra);
    /* returns only after the handler came back; the connection was closed
     * at the timeout, before that */
    bs_server_stop(s);
    pthread_join(t, NULL);
    ck_assert_int_eq(ra.saw_close, 1);
    ck_assert_int_eq(ld(&F.handled), 1);
    ck_assert_int_eq(ld(&F.closed), 1);
    cli_close(&c);
    finish(s);
}
END_TEST

START_TEST(bind_errors) {
    bs_server_opts o = test_opts();
    bs_server *s = start(&o);
    /* the same port again is refused even though we use SO_REUSEPORT */
    bs_log_set_level(BS_LOG_OFF);
    bs_server_opts o2 = test_opts();
    o2.port = bs_server_port(s);
    bs_server_handler h = {&F, NULL, NULL, fake_handle};
    bs_server *s2 = NULL;
    ck_assert_int_eq(bs_server_start(&o2, &h, &s2), -EADDRINUSE);
    ck_assert_ptr_null(s2);
    o2.port = 0;
    o2.port = 70000;
    ck_assert_int_eq(bs_server_start(&o2, &h, &s2), BS_EINVAL);
    o2.port = 0;
    h.handle = NULL;
    ck_assert_int_eq(bs_server_start(&o2, &h, &s2), BS_EINVAL);
    finish(s);
}
END_TEST

START_TEST(ipv6_loopback) {
    bs_server_opts o = test_opts();
    o.address = "::1";
    memset(&F, 0, sizeof F);
    sem_init(&F.gate, 0, 0);
    bs_server_handler h = {&F, fake_open, fake_close, fake_handle};
    bs_server *s = NULL;
    int rc = bs_server_start(&o, &h, &s);
    if (rc == -EADDRNOTAVAIL || rc == -EAFNOSUPPORT) return; /* no IPv6 here */
    ck_assert_int_eq(rc, 0);
    int fd = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 sa;
    memset(&sa, 0, sizeof sa);
    sa.sin6_family = AF_INET6;
    sa.sin6_port = htons((uint16_t)bs_server_port(s));
    sa.sin6_addr = in6addr_loopback;
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    cli c;
    memset(&c, 0, sizeof c);
    bs_arena_init(&c.a, 0);
    c.fd = fd;
    cli_startup(&c, NULL);
    cli_query(&c, 1, "v6");
    rframe f;
    ck_assert_int_eq(cli_read(&c, &f), 0);
    expect_echo(&f, 1, "v6");
    cli_close(&c);
    finish(s);
}
END_TEST

START_TEST(opts_from_config) {
    bs_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.rpc_address = "10.1.2.3";
    cfg.native_transport_port = 9142;
    cfg.io_threads = 3;
    cfg.native_transport_max_frame_size_bytes = 1ull << 40;
    cfg.native_transport_max_concurrent_connections = 77;
    cfg.native_transport_max_concurrent_connections_per_ip = 5;
    cfg.native_transport_max_requests_per_connection = 1024;
    cfg.native_transport_max_request_data_in_flight_bytes = 1u << 20;
    cfg.native_transport_frame_timeout_ms = 1500;
    bs_server_opts o;
    bs_server_opts_from_config(&o, &cfg);
    ck_assert_str_eq(o.address, "10.1.2.3");
    ck_assert_int_eq(o.port, 9142);
    ck_assert_int_eq(o.io_threads, 3);
    ck_assert_uint_eq(o.max_frame, INT32_MAX);
    ck_assert_int_eq(o.max_connections, 77);
    ck_assert_int_eq(o.max_inflight, 1024);
    ck_assert_int_eq(o.max_connections_per_ip, 5);
    ck_assert_uint_eq(o.max_inflight_bytes, 1u << 20);
    ck_assert_uint_eq(o.frame_timeout_ms, 1500);
    cfg.io_threads = 0;
    bs_server_opts_from_config(&o, &cfg);
    ck_assert_int_ge(o.io_threads, 1);
}
END_TEST

/* inline_ok: QUERYs starting with "inline", and "fail", run on the loop thread. */
static int fake_inline_ok(void *ud, void *conn_ud, const bs_proto_request *req) {
    (void)ud;
    if (!conn_ud) atomic_fetch_add(&F.bad_ud, 1);
    if (req->opcode != BS_PROTO_OP_QUERY) return 0;
    bs_proto_str q = req->u.query.query;
    return bs_proto_str_eq(q, "fail") || (q.len >= 6 && memcmp(q.p, "inline", 6) == 0);
}

START_TEST(inline_requests_run_on_loop) {
    bs_server_opts o = test_opts();
    o.io_threads = 1;
    bs_server_handler h = {&F, fake_open, fake_close, fake_handle, fake_inline_ok};
    bs_server *s = start_with(&o, &h);
    cli c;
    cli_open(&c, bs_server_port(s), 0);
    cli_startup(&c, NULL);
    rframe f;
    cli_query(&c, 1, "inline a");
    ck_assert_int_eq(cli_read(&c, &f), 0);
    expect_echo(&f, 1, "inline a");
    ck_assert_int_eq(ld(&F.on_loop), 1);
    ck_assert_int_eq(ld(&F.off_loop), 0);
    cli_query(&c, 2, "pooled");
    ck_assert_int_eq(cli_read(&c, &f), 0);
    expect_echo(&f, 2, "pooled");
    ck_assert_int_eq(ld(&F.off_loop), 1);
    /* a pooled request blocked in the handler does not hold up an inline
     * one behind it: its answer comes first */
    cli_query(&c, 3, "block");
    cli_query(&c, 4, "inline b");
    ck_assert_int_eq(cli_read(&c, &f), 0);
    expect_echo(&f, 4, "inline b");
    sem_post(&F.gate);
    ck_assert_int_eq(cli_read(&c, &f), 0);
    expect_echo(&f, 3, "block");
    ck_assert_int_eq(ld(&F.on_loop), 2);
    ck_assert_int_eq(ld(&F.off_loop), 2);
    bs_server_stats st = stats(s);
    ck_assert_uint_eq(st.requests_inline, 2);
    ck_assert_uint_eq(st.requests_total, 5);
    /* a failing inline call is answered SERVER_ERROR like a pooled one */
    cli_query(&c, 5, "fail");
    ck_assert_int_eq(cli_read(&c, &f), 0);
    expect_error(&f, 5, BS_PROTO_ERR_SERVER, "handler failed");
    ck_assert_int_eq(ld(&F.on_loop), 3);
    ck_assert_uint_eq(stats(s).requests_inline, 3);
    cli_close(&c);
    finish(s);
}
END_TEST

/* ---- deferred inline requests (handle_inline, BS_SERVER_DEFERRED) ---- */

typedef struct parked {
    bs_server_work *w;
    bs_buf *out;
    int16_t stream;
    bs_proto_compression comp;
    char q[32];
    int empty; /* complete with no frame: the server answers SERVER_ERROR */
    int resume; /* "resume...": bs_server_work_resume instead */
} parked;

static parked P[8];
static atomic_int nparked;

static int defer_inline_ok(void *ud, void *conn_ud, const bs_proto_request *req) {
    (void)ud;
    if (!conn_ud) atomic_fetch_add(&F.bad_ud, 1);
    if (req->opcode != BS_PROTO_OP_QUERY) return 0;
    bs_proto_str q = req->u.query.query;
    if (q.len >= 5 && (!memcmp(q.p, "defer", 5) || !memcmp(q.p, "block", 5))) return 2;
    if (q.len >= 6 && !memcmp(q.p, "resume", 6)) return 2;
    return q.len >= 6 && memcmp(q.p, "inline", 6) == 0;
}

/* "defer..." is parked (answered by complete_parked, another thread);
 * anything else is answered at once. */
static int defer_handle_inline(void *ud, void *conn_ud, const bs_proto_request *req,
                               int16_t stream, bs_proto_compression comp, bs_arena *a,
                               bs_buf *out, bs_server_work *w) {
    bs_proto_str q = req->u.query.query;
    void **st = bs_server_work_state(w);
    if (q.len >= 5 && !memcmp(q.p, "block", 5)) return BS_SERVER_BLOCKING;
    if (q.len >= 6 && !memcmp(q.p, "resume", 6) && *st) { /* its second run */
        fake *f = ud;
        atomic_fetch_add(pthread_equal(pthread_self(), f->open_thread) ? &f->on_loop : &f->off_loop,
                         1);
        *st = NULL;
        if (bs_proto_str_eq(q, "resume-block")) return BS_SERVER_BLOCKING;
        return rows_one(out, stream, comp, q.p, q.len);
    }
    int resume = q.len >= 6 && !memcmp(q.p, "resume", 6);
    if (resume) *st = w;
    else if (q.len < 5 || memcmp(q.p, "defer", 5) != 0)
        return fake_handle(ud, conn_ud, req, stream, comp, a, out);
    int i = atomic_fetch_add(&nparked, 1);
    ck_assert_int_lt(i, 8);
    P[i] = (parked){w, out, stream, comp, "", bs_proto_str_eq(q, "defer-empty"), resume};
    snprintf(P[i].q, sizeof P[i].q, "%.*s", (int)q.len, q.p);
    return BS_SERVER_DEFERRED;
}

static void *complete_fn(void *arg) {
    parked *p = arg;
    if (p->resume) {
        bs_server_work_resume(p->w);
        return NULL;
    }
    if (!p->empty) ck_assert_int_eq(rows_one(p->out, p->stream, p->comp, p->q, strlen(p->q)), 0);
    bs_server_work_done(p->w);
    return NULL;
}

/* Completes parked request i from a thread of its own (after delay_ms);
 * returns the thread to join. */
static pthread_t complete_parked(int i, int delay_ms) {
    for (int k = 0; k < 1000 && ld(&nparked) <= i; k++) usleep(1000);
    ck_assert_int_gt(ld(&nparked), i);
    if (delay_ms) usleep((useconds_t)delay_ms * 1000);
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, complete_fn, &P[i]), 0);
    return t;
}

/* One loop with the deferring handler, and a client on it. */
static bs_server *start_deferring(cli *c) {
    bs_server_opts o = test_opts();
    o.io_threads = 1;
    atomic_store(&nparked, 0);
    bs_server_handler h = {&F, fake_open, fake_close, fake_handle, defer_inline_ok,
                           NULL, NULL, defer_handle_inline};
    bs_server *s = start_with(&o, &h);
    cli_open(c, bs_server_port(s), 0);
    cli_startup(c, NULL);
    return s;
}

START_TEST(deferred_inline_requests) {
    cli c;
    bs_server *s = start_deferring(&c);
    rframe f;
    /* a parked request does not hold up the loop: the inline request
     * behind it is answered first */
    cli_query(&c, 1, "defer a");
    cli_query(&c, 2, "inline b");
    ck_assert_int_eq(cli_read(&c, &f), 0);
    expect_echo(&f, 2, "inline b");
    pthread_join(complete_parked(0, 0), NULL);
    ck_assert_int_eq(cli_read(&c, &f), 0);
    expect_echo(&f, 1, "defer a");
    /* completed without a frame: SERVER_ERROR on its stream */
    cli_query(&c, 3, "defer-empty");
    pthread_join(complete_parked(1, 0), NULL);
    ck_assert_int_eq(cli_read(&c, &f), 0);
    expect_error(&f, 3, BS_PROTO_ERR_SERVER, "no response");
    ck_assert_uint_eq(stats(s).requests_inline, 3);
    /* the client goes away while its request is parked: the connection is
     * released (conn_close) only once the request came back */
    cli c2;
    cli_open(&c2, bs_server_port(s), 0);
    cli_startup(&c2, NULL);
    cli_query(&c2, 4, "defer gone");
    for (int k = 0; k < 1000 && ld(&nparked) < 3; k++) usleep(1000);
    struct linger lg = {1, 0}; /* close with RST */
    setsockopt(c2.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    cli_close(&c2);
    wait_open(s, 1);
    usleep(50 * 1000);
    ck_assert_int_eq(ld(&F.closed), 0);
    pthread_join(complete_parked(2, 0), NULL);
    for (int k = 0; k < 1000 && ld(&F.closed) < 1; k++) usleep(1000);
    ck_assert_int_eq(ld(&F.closed), 1);
    /* a stop waits for a parked request, whose answer goes out first */
    cli_query(&c, 5, "defer stop");
    pthread_t t = complete_parked(3, 200);
    bs_server_stop(s);
    pthread_join(t, NULL);
    ck_assert_int_eq(cli_read(&c, &f), 0);
    expect_echo(&f, 5, "defer stop");
    cli_expect_closed(&c);
    cli_close(&c);
    finish(s);
}
END_TEST

/* BS_SERVER_BLOCKING moves a request to the pool; a deferred request
 * sent back with bs_server_work_resume runs handle_inline again on the
 * loop (its state slot kept), which answers it or moves it to the pool. */
START_TEST(resumed_and_moved_requests) {
    cli c;
    bs_server *s = start_deferring(&c);
    rframe f;
    cli_query(&c, 1, "block a");
    ck_assert_int_eq(cli_read(&c, &f), 0);
    expect_echo(&f, 1, "block a");
    ck_assert_int_eq(ld(&F.off_loop), 1); /* fake_handle, on a worker */
    ck_assert_int_eq(ld(&F.on_loop), 0);
    cli_query(&c, 2, "resume b");
    cli_query(&c, 3, "inline c");
    ck_assert_int_eq(cli_read(&c, &f), 0);
    expect_echo(&f, 3, "inline c");
    ck_assert_uint_eq(stats(s).requests_in_flight, 1); /* "resume b", parked */
    pthread_join(complete_parked(0, 0), NULL);
    ck_assert_int_eq(cli_read(&c, &f), 0);
    expect_echo(&f, 2, "resume b");
    ck_assert_int_eq(ld(&F.on_loop), 2); /* "inline c", then "resume b" again */
    cli_query(&c, 4, "resume-block");
    pthread_join(complete_parked(1, 0), NULL);
    ck_assert_int_eq(cli_read(&c, &f), 0);
    expect_echo(&f, 4, "resume-block");
    ck_assert_int_eq(ld(&F.on_loop), 3);
    ck_assert_int_eq(ld(&F.off_loop), 2);
    bs_server_stats st = stats(s);
    ck_assert_uint_eq(st.requests_in_flight, 0);
    ck_assert_uint_eq(st.requests_inline, 4);
    ck_assert_uint_eq(st.requests_deferred, 2);
    ck_assert_uint_eq(st.requests_moved, 2);
    cli_close(&c);
    finish(s);
}
END_TEST

static void fake_inline_begin(void *ud) { (void)ud; }
static int fake_inline_commit(void *ud) {
    fake *f = ud;
    return atomic_load(&f->commit_fail) ? BS_EIO : 0;
}

/* A request left in flight belongs to its pass's commit: when that
 * fails, its answer (made later, by another thread) is replaced by the
 * SERVER_ERROR of the pass's inline answers; a pass of deferred requests
 * alone commits too. */
START_TEST(deferred_request_of_failed_commit) {
    bs_server_opts o = test_opts();
    o.io_threads = 1;
    atomic_store(&nparked, 0);
    bs_server_handler h = {&F,
                           fake_open,
                           fake_close,
                           fake_handle,
                           defer_inline_ok,
                           fake_inline_begin,
                           fake_inline_commit,
                           defer_handle_inline};
    bs_server *s = start_with(&o, &h);
    cli c;
    cli_open(&c, bs_server_port(s), 0);
    cli_startup(&c, NULL);
    rframe f;
    atomic_store(&F.commit_fail, 1);
    cli_query(&c, 1, "defer lost");
    pthread_join(complete_parked(0, 0), NULL);
    ck_assert_int_eq(cli_read(&c, &f), 0);
    expect_error(&f, 1, BS_PROTO_ERR_SERVER, "could not write to its storage");
    atomic_store(&F.commit_fail, 0);
    cli_query(&c, 2, "defer kept");
    pthread_join(complete_parked(1, 0), NULL);
    ck_assert_int_eq(cli_read(&c, &f), 0);
    expect_echo(&f, 2, "defer kept");
    cli_close(&c);
    finish(s);
}
END_TEST

/* Issue 19 finding 4: when the burst's writes cannot be committed (disk
 * full), every answer of the burst becomes SERVER_ERROR on its stream
 * and the connection stays open (it used to be closed); once commits
 * work again so do the requests. */
START_TEST(inline_commit_failure_answers_errors) {
    bs_server_opts o = test_opts();
    o.io_threads = 1;
    bs_server_handler h = {&F, fake_open, fake_close, fake_handle, fake_inline_ok,
                           fake_inline_begin, fake_inline_commit};
    bs_server *s = start_with(&o, &h);
    cli c;
    cli_open(&c, bs_server_port(s), 0);
    cli_startup(&c, NULL);
    atomic_store(&F.commit_fail, 1);
    bs_buf b = BS_BUF_INIT;
    for (int i = 0; i < 5; i++) {
        bs_proto_request r = mkquery("inline w");
        ck_assert_int_eq(bs_proto_request_encode(&b, (int16_t)(20 + i), &r, BS_PROTO_COMP_NONE), 0);
    }
    cli_raw(&c, b.data, b.len);
    bs_buf_free(&b);
    rframe f;
    int seen[5] = {0};
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(cli_read(&c, &f), 0);
        ck_assert_int_ge(f.stream, 20);
        ck_assert_int_lt(f.stream, 25);
        seen[f.stream - 20]++;
        expect_error(&f, f.stream, BS_PROTO_ERR_SERVER, "could not write to its storage");
    }
    for (int i = 0; i < 5; i++) ck_assert_int_eq(seen[i], 1);
    atomic_store(&F.commit_fail, 0);
    cli_query(&c, 30, "inline again");
    ck_assert_int_eq(cli_read(&c, &f), 0);
    expect_echo(&f, 30, "inline again");
    cli_close(&c);
    finish(s);
}
END_TEST

/* A pipelined burst of inline requests followed by a fatal frame, all in
 * one send: every answer comes, in order, before the error and the close
 * (inline answers are gathered and flushed before the failure). */
START_TEST(inline_burst_then_fatal_frame) {
    bs_server_opts o = test_opts();
    o.io_threads = 1;
    bs_server_handler h = {&F, fake_open, fake_close, fake_handle, fake_inline_ok};
    bs_server *s = start_with(&o, &h);
    cli c;
    cli_open(&c, bs_server_port(s), 0);
    cli_startup(&c, NULL);
    bs_buf b = BS_BUF_INIT;
    char q[20][16];
    for (int i = 0; i < 20; i++) {
        snprintf(q[i], sizeof q[i], "inline %d", i);
        bs_proto_request r = mkquery(q[i]);
        ck_assert_int_eq(bs_proto_request_encode(&b, (int16_t)(10 + i), &r, BS_PROTO_COMP_NONE), 0);
    }
    uint8_t hd[9];
    raw_header(hd, 0x05, 0, 99, BS_PROTO_OP_OPTIONS, 0);
    ck_assert_int_eq(bs_buf_append(&b, hd, 9), 0);
    cli_raw(&c, b.data, b.len);
    bs_buf_free(&b);
    rframe f;
    for (int i = 0; i < 20; i++) {
        ck_assert_int_eq(cli_read(&c, &f), 0);
        expect_echo(&f, (int16_t)(10 + i), q[i]);
    }
    ck_assert_int_eq(cli_read(&c, &f), 0);
    expect_error(&f, 99, BS_PROTO_ERR_PROTOCOL, "protocol version");
    cli_expect_closed(&c);
    cli_close(&c);
    ck_assert_int_eq(ld(&F.on_loop), 20);
    ck_assert_uint_eq(stats(s).requests_inline, 20);
    finish(s);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("server");
    TCase *t = tcase_create("server");
    tcase_set_timeout(t, 60);
    tcase_add_test(t, options_supported);
    tcase_add_test(t, startup_then_query);
    tcase_add_test(t, query_before_startup);
    tcase_add_test(t, authenticate_before_requests);
    tcase_add_test(t, startup_bad_compression);
    tcase_add_test(t, pipelined_streams);
    tcase_add_test(t, out_of_order_completion);
    tcase_add_test(t, lz4_round_trip);
    tcase_add_test(t, uncompressed_frame_with_flag_is_fatal);
    tcase_add_test(t, version_v5_refused);
    tcase_add_test(t, version_v3_served_and_kept);
    tcase_add_test(t, garbage_then_still_serving);
    tcase_add_test(t, oversize_frame_then_usable);
    tcase_add_test(t, many_connections);
    tcase_add_test(t, connections_balanced_over_loops);
    tcase_add_test(t, max_connections_limit);
    tcase_add_test(t, handler_refuses_connection);
    tcase_add_test(t, events_only_to_registered);
    tcase_add_test(t, inflight_backpressure);
    tcase_add_test(t, write_backpressure);
    tcase_add_test(t, stop_with_work_in_flight);
    tcase_add_test(t, stop_timeout_drops_late_response);
    tcase_add_test(t, queued_work_of_closed_connection_is_skipped);
    tcase_add_test(t, client_gone_before_response);
    tcase_add_test(t, bind_errors);
    tcase_add_test(t, ipv6_loopback);
    tcase_add_test(t, opts_from_config);
    tcase_add_test(t, inline_requests_run_on_loop);
    tcase_add_test(t, inline_burst_then_fatal_frame);
    tcase_add_test(t, inline_commit_failure_answers_errors);
    tcase_add_test(t, deferred_inline_requests);
    tcase_add_test(t, deferred_request_of_failed_commit);
    tcase_add_test(t, resumed_and_moved_requests);
    suite_add_tcase(s, t);
    return s;
}

int main(void) {
    bs_log_set_level(BS_LOG_ERROR);
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
