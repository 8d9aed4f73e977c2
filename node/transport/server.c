/*
 * server.c - the CQL native-protocol transport: listeners, connections,
 * protocol state, dispatch to the handler, events, back-pressure, stop.
 *
 * Threads and ownership
 * ---------------------
 * io_threads loops (srv_loop), each run by its own thread.  A loop owns
 * its listener, its connections and everything in them; only that
 * loop's thread touches them.  Other threads reach a loop through its
 * wake-up (an eventfd the loop polls, see "Wake-ups" below) and a
 * mutex-protected inbox (EVENT frames to deliver, sockets handed over,
 * work items done, the stop request).  The handler runs on the server's
 * own thread pool (worker_threads threads named bs-worker): a work item
 * (struct bs_server_work) is touched by exactly one thread at a time - the loop
 * until pool_submit, the worker in work_cb, the loop again in
 * after_work_cb (the pool's and the inbox's mutexes give the
 * happens-before).  When the
 * handler's optional inline_ok says so for a request, handle runs right
 * on the loop thread instead (dispatch -> work_cb; the work item never
 * leaves the loop, its response joins the connection's `pend` buffer,
 * written with one uv_write when conn_pump has taken every buffered
 * frame, or at 64 KiB, or before a fatal error): on a 2-core machine the two thread
 * hand-offs (pool mutex + condition variable, then the wake-up back) cost
 * more CPU than a local RocksDB write (docs/BENCHMARKS.md).  Such a call
 * holds up the loop's other connections while it runs, which is why
 * only the embedder can judge when it is short (basaltd: EXECUTE on a
 * node that owns the whole ring, so nothing waits for another node).
 * An inline request may also be left in flight (inline_ok 2,
 * handle_inline answering BS_SERVER_DEFERRED; basaltd: a prepared write
 * waiting for its replicas): the loop counts it as a pool item
 * (inflight, pool_out) and goes on; whichever thread completes it puts
 * it on the loop's done list (bs_server_work_done), and after_work_cb
 * writes its answer as a pooled one.
 *
 * Listening
 * ---------
 * Every loop has its own socket bound to the same address and port with
 * SO_REUSEPORT, so the kernel balances accepts over the loops and there is
 * no hand-off between threads.  Because SO_REUSEPORT would also let us
 * silently share a port that another process of the same user already
 * listens on with SO_REUSEPORT, a probe socket WITHOUT SO_REUSEPORT is
 * bound first (with port 0 it also picks the port) and closed again; only
 * then is the group bound.  libuv 1.44 has no UV_TCP_REUSEPORT, so sockets
 * are made with socket()/bind()/listen() and handed over with uv_tcp_open.
 * The kernel's choice is a hash, so a driver's two connections often land
 * on the same loop; accepted connections are dealt to the loops in turn
 * instead, and a loop that accepts one meant for another hands the socket
 * over (dup + the other loop's inbox), once per connection.
 *
 * Connection lifecycle and invariants
 * -----------------------------------
 *   accept -> conn_open handler -> reading
 *   conn_close(): `closing` set, queued work cancelled, uv_close(tcp)
 *   on_conn_close (libuv close callback): `closed` set, unlinked
 *   maybe_free(): once closed AND inflight == 0 -> conn_close handler,
 *                 decoder freed, conn freed.
 * So a work item can always dereference its conn in after_work_cb: the
 * conn outlives every work item (inflight counts them).  Pending writes
 * hold no reference: uv_close cancels them and their callbacks run before
 * the close callback.
 *
 * Reading and back-pressure
 * -------------------------
 * libuv's alloc_cb hands out free space at the end of the connection's
 * frame decoder buffer (bs_proto_decoder_wbuf), so bytes land where they
 * are parsed.  conn_pump() takes complete frames out of the decoder while
 * the connection may take more work: fewer than max_inflight handler
 * calls and fewer than max_write_queue response bytes not yet written.
 * Reading is on exactly when that holds (and the connection is not
 * closing, failed or the server stopping); when work completes or writes
 * drain, conn_pump runs again, first consuming frames already buffered.
 * A frame body handed out by the decoder is only valid until the next
 * decoder call, so request bodies are copied into the request's arena
 * before the handler sees them.
 *
 * Protocol versions
 * -----------------
 * v3 and v4 share the frame header; the first frame fixes a connection's
 * version (`version`) and a frame of another version is a fatal protocol
 * error, as in Cassandra.  Frames are built as v4 (by the executor too,
 * whose bodies follow req->version) and conn_write stamps the header of
 * every frame of a v3 connection with 0x83.
 *
 * Fatal errors (bad version, malformed frame or body): the error frame is
 * written, reading stops (`fatal`), and the connection is closed when its
 * last write completes.
 *
 * TLS (client_encryption_options)
 * -------------------------------
 * With opts.tls set, reads land in a per-thread slab instead of the
 * decoder: the first byte of a connection decides (tls_in) - a TLS
 * handshake record (0x16, never the first byte of a CQL frame) starts a
 * common/tls.h session, anything else is plaintext, served only with
 * opts.tls_optional.  A session's plaintext goes to the decoder, so
 * everything above (frames, back-pressure, timeouts) is the same; every
 * conn_write goes through the session and its ciphertext to uv_write
 * (raw_write).  A failed handshake is logged with the peer's address.
 *
 * Wake-ups
 * --------
 * Not libuv's uv_async_t nor its thread pool (uv_queue_work answers
 * through one): libuv 1.44's uv_async_send marks the handle busy, writes
 * the loop's eventfd, then marks it done, and the loop spins (pause,
 * then sched_yield) on a handle still marked busy.  A worker preempted
 * between the two marks - on 2 cores, typically by the loop its write
 * has just woken - kept the loop spinning until it ran again, holding up
 * every connection of the loop (docs/BENCHMARKS.md, "Session 13"; the
 * messaging loop, node/cluster/msg.c, had the same and does the same as
 * here).  A thread with something for a loop puts it in the inbox, then
 * signals the loop's bs_wake (common/wake.h: the eventfd is written only
 * when no wake-up is on its way); the loop clears it before emptying the
 * inbox and never waits for a sender.
 *
 * Stop
 * ----
 * bs_server_stop sets every loop's stop flag and wakes it.  The loop
 * closes its listener, stops reading every connection and polls (10 ms
 * timer) until no connection has handler work or writes pending, or the
 * timeout passes; then it closes every connection and its own handles,
 * so uv_run returns once the last work item has come back.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "common/error.h"
#include "common/log.h"
#include "common/sched.h"
#include "common/tls.h"
#include "common/wake.h"
#include "node/transport/server.h"

#define LOGC "cql"
#define READ_HINT (64u * 1024u)
#define DRAIN_POLL_MS 10

#define IP_BUCKETS 256
/* charged per request on top of its body: the work item and arena */
#define REQ_OVERHEAD 1024u

typedef struct srv_loop srv_loop;

typedef struct ipent {
    struct ipent *next;
    int n;
    char ip[INET6_ADDRSTRLEN];
} ipent;
typedef struct conn conn;

/* ------------------------------------------------------------------ */
/* Types                                                               */
/* ------------------------------------------------------------------ */

typedef struct bs_server_work {
    struct bs_server_work *qnext; /* the pool's queue, then the loop's done list */
    int cancelled;      /* under the pool's mutex: skip the handler */
    int deferred;       /* handle_inline answered BS_SERVER_DEFERRED */
    int commit_rc;      /* its pass's inline_commit failed: the answer is an error */
    int resume;         /* bs_server_work_resume: handle_inline runs again */
    void *hstate;       /* the handler's, between its runs (bs_server_work_state) */
    struct bs_server_work *pnext; /* the conn's pass_deferred list */
    int status;         /* 0, or UV_ECANCELED: the handler did not run */
    conn *c;
    struct bs_server_work *prev, *next; /* the conn's in-flight list */
    bs_arena arena;           /* body copy, decoded request, handler temps */
    bs_proto_request req;
    int16_t stream;
    bs_proto_compression comp;
    bs_buf out;
    bs_server *srv;  /* set when charged */
    size_t charged;  /* bytes counted in srv->inflight_bytes */
} work;

typedef struct wreq {
    uv_write_t uv;
    conn *c;
    size_t len;
    uint8_t *data; /* owned */
} wreq;

struct conn {
    uv_tcp_t tcp; /* tcp.data == this */
    srv_loop *lp;
    conn *prev, *next;
    bs_proto_decoder *dec;
    void *ud;
    uint64_t id;
    char peer[INET6_ADDRSTRLEN + 8];
    char ip[INET6_ADDRSTRLEN]; /* the per-address connection count's key */
    char *reject;    /* over a connection limit: the message its first
                        frame gets (malloc'd); then it is closed */
    uint64_t partial_since; /* loop ms since a frame is incomplete; 0 none */
    uint64_t accepted_at;   /* loop ms at conn_start: the startup deadline */
    uint64_t last_io;       /* loop ms of the last read or completed write */
    bs_proto_compression comp;
    uint8_t events;  /* BS_PROTO_EV_* registered */
    uint8_t version; /* protocol version of the first frame; 0 before */
    unsigned started : 1, reading : 1, closing : 1, closed : 1, fatal : 1,
        counted : 1, ud_open : 1, linked : 1, ip_counted : 1, wlisted : 1,
        authed : 1; /* STARTUP done and, with an authenticator, AUTH_SUCCESS sent */
    int inflight;    /* work items not yet back from the pool */
    work *works;
    size_t nwrites;  /* uv_write requests not yet completed */
    size_t wq_bytes; /* their bytes */
    bs_buf pend;     /* inline responses of this pump, one uv_write at its end */
    work *pass_deferred; /* inline requests of this pump left in flight */
    bs_tls *tls;     /* TLS session (client_encryption_options); NULL: plaintext */
    unsigned sniffed : 1; /* with TLS on: the first byte decided TLS or not */
    bs_buf wout;     /* pool responses of this loop turn, written by on_turn_end */
    conn *wnext;     /* in the loop's wlist while wlisted */
};

typedef struct fdmsg {
    struct fdmsg *next;
    int fd;
} fdmsg;

typedef struct evmsg {
    struct evmsg *next;
    uint8_t bit;
    bs_buf frame[2]; /* indexed by bs_proto_compression */
} evmsg;

struct srv_loop {
    bs_server *srv;
    int idx;
    uv_loop_t loop;
    uv_tcp_t listener;
    uv_tcp_t spare; /* takes a connection that cannot be served (OOM) */
    int spare_busy;
    uv_poll_t wake;        /* readable: wk was signalled */
    bs_wake wk;            /* common/wake.h; fd -1 none */
    uv_timer_t drain;
    uv_timer_t sweep; /* closes connections whose frame is overdue */
    uv_thread_t thread;
    int have_loop, have_listener, have_wake, have_timer, have_thread, have_sweep, have_check;
    uv_check_t turn_end; /* runs after the loop turn's I/O: writes wlist */
    conn *wlist;         /* connections with pool responses in wout */
    pthread_mutex_t mu; /* guards inbox, fds, done and stop_req */
    evmsg *inbox, *inbox_tail;
    struct fdmsg *fds; /* accepted sockets handed over by another loop */
    work *done, *done_tail; /* back from the pool, for after_work_cb */
    int stop_req;
    atomic_int nconns; /* connections linked on this loop */
    /* loop thread only */
    int pool_out;      /* work items submitted and not back yet */
    int wake_closing;  /* drained: close `wake` once pool_out is 0 */
    int stopping;
    uint64_t deadline;
    conn *conns;
};

static const int32_t k_errcodes[BS_SERVER_NERRCODES] = {
    BS_PROTO_ERR_SERVER,        BS_PROTO_ERR_PROTOCOL,         BS_PROTO_ERR_BAD_CREDENTIALS,
    BS_PROTO_ERR_UNAVAILABLE,   BS_PROTO_ERR_OVERLOADED,       BS_PROTO_ERR_IS_BOOTSTRAPPING,
    BS_PROTO_ERR_TRUNCATE,      BS_PROTO_ERR_WRITE_TIMEOUT,    BS_PROTO_ERR_READ_TIMEOUT,
    BS_PROTO_ERR_READ_FAILURE,  BS_PROTO_ERR_FUNCTION_FAILURE, BS_PROTO_ERR_WRITE_FAILURE,
    BS_PROTO_ERR_SYNTAX,        BS_PROTO_ERR_UNAUTHORIZED,     BS_PROTO_ERR_INVALID,
    BS_PROTO_ERR_CONFIG,        BS_PROTO_ERR_ALREADY_EXISTS,   BS_PROTO_ERR_UNPREPARED};

struct bs_server {
    bs_server_opts opts;
    bs_server_handler h;
    int port;
    int nloops;
    srv_loop *loops;
    int stopped;
    atomic_int nopen; /* connections counted against max_connections */
    atomic_uint_fast64_t next_id;
    atomic_uint_fast64_t next_loop; /* accepted connections dealt in turn */
    atomic_uint_fast64_t st_total, st_rejected, st_requests, st_in, st_out, st_inline;
    atomic_uint_fast64_t st_deferred, st_moved; /* inline requests left in flight, sent on to the pool */
    atomic_int_fast64_t st_inflight; /* requests with the handler: queued, on a worker, deferred */
    atomic_uint_fast64_t st_timedout, st_overloaded;
    atomic_uint_fast64_t inflight_bytes; /* request bytes with the handler */
    /* the handler pool: nworkers threads taking `pq` in order */
    pthread_mutex_t pmu; /* guards pq, pq_tail, pstop, work->cancelled */
    pthread_cond_t pcv;
    work *pq, *pq_tail;
    int pstop, nworkers, have_pool;
    pthread_t *workers;
    pthread_mutex_t ip_mu;               /* guards ipt */
    struct ipent *ipt[IP_BUCKETS];       /* open connections per address */
    atomic_uint_fast64_t st_err[BS_SERVER_NERRCODES], st_err_other;
};

/* ------------------------------------------------------------------ */
/* Options and stats                                                   */
/* ------------------------------------------------------------------ */

void bs_server_opts_init(bs_server_opts *o) {
    memset(o, 0, sizeof *o);
    o->address = "127.0.0.1";
    o->port = 9042;
    o->io_threads = 1;
    o->max_frame = 16u * 1024u * 1024u;
    o->max_connections = -1;
    o->max_connections_per_ip = -1;
    o->max_inflight = 1024;
    o->max_write_queue = 64u * 1024u * 1024u;
    o->stop_timeout_ms = 5000;
    o->worker_threads = 64;
}

void bs_server_opts_from_config(bs_server_opts *o, const bs_config *cfg) {
    bs_server_opts_init(o);
    o->address = cfg->rpc_address;
    o->port = cfg->native_transport_port;
    /* same rule as bs_config_io_threads(), kept local so that the
     * transport links without the config loader */
    o->io_threads = cfg->io_threads;
    if (o->io_threads <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        o->io_threads = n > 0 ? (int)n : 1;
    }
    uint64_t mf = cfg->native_transport_max_frame_size_bytes;
    o->max_frame = mf > INT32_MAX ? INT32_MAX : (uint32_t)mf;
    o->max_connections = cfg->native_transport_max_concurrent_connections;
    o->max_connections_per_ip = cfg->native_transport_max_concurrent_connections_per_ip;
    o->max_inflight = cfg->native_transport_max_requests_per_connection;
    o->max_inflight_bytes = (size_t)cfg->native_transport_max_request_data_in_flight_bytes;
    uint64_t ft = cfg->native_transport_frame_timeout_ms;
    o->frame_timeout_ms = ft > UINT32_MAX ? UINT32_MAX : (unsigned)ft;
    uint64_t st = cfg->native_transport_startup_timeout_ms;
    o->startup_timeout_ms = st > UINT32_MAX ? UINT32_MAX : (unsigned)st;
    uint64_t it = cfg->native_transport_idle_timeout_ms;
    o->idle_timeout_ms = it > UINT32_MAX ? UINT32_MAX : (unsigned)it;
}

/* ------------------------------------------------------------------ */
/* Connections per client address                                     */
/* ------------------------------------------------------------------ */

static unsigned ip_hash(const char *ip) {
    unsigned h = 2166136261u; /* FNV-1a */
    for (; *ip; ip++) h = (h ^ (uint8_t)*ip) * 16777619u;
    return h % IP_BUCKETS;
}

/* Counts one more connection from ip; returns the count (-1: no memory,
 * not counted). */
static int ip_acquire(bs_server *s, const char *ip) {
    unsigned b = ip_hash(ip);
    int n = -1;
    pthread_mutex_lock(&s->ip_mu);
    ipent *e = s->ipt[b];
    while (e && strcmp(e->ip, ip)) e = e->next;
    if (!e && (e = calloc(1, sizeof *e))) {
        snprintf(e->ip, sizeof e->ip, "%s", ip);
        e->next = s->ipt[b];
        s->ipt[b] = e;
    }
    if (e) n = ++e->n;
    pthread_mutex_unlock(&s->ip_mu);
    return n;
}

static void ip_release(bs_server *s, const char *ip) {
    unsigned b = ip_hash(ip);
    pthread_mutex_lock(&s->ip_mu);
    for (ipent **pp = &s->ipt[b]; *pp; pp = &(*pp)->next) {
        ipent *e = *pp;
        if (strcmp(e->ip, ip)) continue;
        if (--e->n <= 0) {
            *pp = e->next;
            free(e);
        }
        break;
    }
    pthread_mutex_unlock(&s->ip_mu);
}

static void count_error(bs_server *s, int32_t code) {
    for (int i = 0; i < BS_SERVER_NERRCODES; i++)
        if (k_errcodes[i] == code) {
            atomic_fetch_add_explicit(&s->st_err[i], 1, memory_order_relaxed);
            return;
        }
    atomic_fetch_add_explicit(&s->st_err_other, 1, memory_order_relaxed);
}

#define LOAD(x) ((uint64_t)atomic_load_explicit(&(x), memory_order_relaxed))
#define BUMP(x, n) atomic_fetch_add_explicit(&(x), (n), memory_order_relaxed)

void bs_server_stats_get(const bs_server *cs, bs_server_stats *out) {
    bs_server *s = (bs_server *)cs; /* atomics are read-only here */
    memset(out, 0, sizeof *out);
    int open = atomic_load_explicit(&s->nopen, memory_order_relaxed);
    out->connections_open = open > 0 ? (uint64_t)open : 0;
    out->connections_total = LOAD(s->st_total);
    out->connections_rejected = LOAD(s->st_rejected);
    out->requests_total = LOAD(s->st_requests);
    out->bytes_in = LOAD(s->st_in);
    out->bytes_out = LOAD(s->st_out);
    out->requests_inline = LOAD(s->st_inline);
    out->requests_deferred = LOAD(s->st_deferred);
    out->requests_moved = LOAD(s->st_moved);
    out->connections_timed_out = LOAD(s->st_timedout);
    out->requests_overloaded = LOAD(s->st_overloaded);
    out->inflight_bytes = LOAD(s->inflight_bytes);
    out->requests_in_flight = (uint64_t)atomic_load(&s->st_inflight);
    for (int i = 0; i < BS_SERVER_NERRCODES; i++) {
        out->errcodes[i] = k_errcodes[i];
        out->errors[i] = LOAD(s->st_err[i]);
    }
    out->errors_other = LOAD(s->st_err_other);
    for (int i = 0; i < s->nloops; i++) {
        int n = atomic_load(&s->loops[i].nconns);
        uint64_t u = n > 0 ? (uint64_t)n : 0;
        if (i == 0 || u > out->loop_connections_max) out->loop_connections_max = u;
        if (i == 0 || u < out->loop_connections_min) out->loop_connections_min = u;
    }
}

uint64_t bs_server_stats_errors(const bs_server_stats *st, int32_t code) {
    for (int i = 0; i < BS_SERVER_NERRCODES; i++)
        if (st->errcodes[i] == code) return st->errors[i];
    return 0;
}

int bs_server_port(const bs_server *s) { return s->port; }

/*
 * Counts an ERROR frame produced by the handler.  Runs on the worker: the
 * frame may be compressed and carry a prelude (warnings), so the body is
 * inflated (error bodies are small; larger ones are not counted) and
 * read properly rather than peeked at a fixed offset.
 */
static void count_frame_error(bs_server *s, const uint8_t *p, size_t n, bs_arena *a) {
    if (n < BS_PROTO_HEADER_LEN || p[4] != BS_PROTO_OP_ERROR) return;
    bs_proto_header_opts ho = {.max_frame = INT32_MAX, .expect_response = 1};
    bs_proto_header h;
    if (bs_proto_header_parse(p, n, &ho, &h, NULL, 0)) return;
    const uint8_t *body = p + BS_PROTO_HEADER_LEN;
    size_t len = n - BS_PROTO_HEADER_LEN;
    if (h.length < len) len = h.length;
    bs_buf tmp = BS_BUF_INIT;
    if (h.flags & BS_PROTO_FLAG_COMPRESSED) {
        if (bs_proto_lz4_decompress(body, len, 1u << 20, &tmp)) goto out;
        body = tmp.data;
        len = tmp.len;
    }
    bs_proto_rd rd;
    bs_proto_prelude pre;
    int32_t code;
    bs_proto_rd_init(&rd, body, len);
    if (bs_proto_prelude_decode(&rd, a, h.flags, 1, &pre) == 0 &&
        bs_proto_rd_int(&rd, "error code", &code) == 0)
        count_error(s, code);
out:
    bs_buf_free(&tmp);
}

/* ------------------------------------------------------------------ */
/* Connections: writing and closing                                    */
/* ------------------------------------------------------------------ */

static void conn_pump(conn *c);

static void maybe_free(conn *c) {
    if (!c->closed || c->inflight > 0) return;
    bs_server *s = c->lp->srv;
    if (c->ud_open && s->h.conn_close) s->h.conn_close(s->h.ud, c->ud);
    if (c->ip_counted) ip_release(s, c->ip);
    free(c->reject);
    bs_proto_decoder_free(c->dec);
    bs_buf_free(&c->pend);
    bs_tls_free(c->tls);
    if (c->wlisted) /* not reached while on_turn_end runs first; kept safe */
        for (conn **pp = &c->lp->wlist; *pp; pp = &(*pp)->wnext)
            if (*pp == c) {
                *pp = c->wnext;
                break;
            }
    bs_buf_free(&c->wout);
    free(c);
}

static void on_conn_close(uv_handle_t *hd) {
    conn *c = hd->data;
    srv_loop *lp = c->lp;
    c->closed = 1;
    if (c->linked) {
        if (c->prev) c->prev->next = c->next;
        else lp->conns = c->next;
        if (c->next) c->next->prev = c->prev;
        c->linked = 0;
        atomic_fetch_sub(&lp->nconns, 1);
    }
    if (c->counted) {
        atomic_fetch_sub(&lp->srv->nopen, 1);
        BS_DEBUG(LOGC, "connection %llu from %s closed", (unsigned long long)c->id, c->peer);
    }
    maybe_free(c);
}

static void conn_close(conn *c) {
    if (c->closing) return;
    c->closing = 1;
    c->reading = 0;
    /* queued (not yet started) handler calls are cancelled; running ones
     * come back normally and their response is dropped */
    if (c->works) {
        bs_server *s = c->lp->srv;
        pthread_mutex_lock(&s->pmu);
        for (work *w = c->works; w; w = w->next) w->cancelled = 1;
        pthread_mutex_unlock(&s->pmu);
    }
    uv_close((uv_handle_t *)&c->tcp, on_conn_close);
}

static void on_write(uv_write_t *req, int status) {
    wreq *w = (wreq *)req;
    conn *c = w->c;
    bs_server *s = c->lp->srv;
    c->nwrites--;
    c->wq_bytes -= w->len;
    c->last_io = uv_now(&c->lp->loop);
    if (status == 0) BUMP(s->st_out, w->len);
    free(w->data);
    free(w);
    if (c->closing) return;
    if (status < 0) {
        BS_DEBUG(LOGC, "connection %llu from %s: write failed: %s", (unsigned long long)c->id,
                 c->peer, uv_strerror(status));
        conn_close(c);
    } else if (c->fatal) {
        if (c->nwrites == 0) conn_close(c);
    } else {
        conn_pump(c);
    }
}

/* Queues b's bytes on the socket as they are (ownership taken; b is left
 * empty). */
static void raw_write(conn *c, bs_buf *b) {
    if (b->len == 0) return;
    wreq *w = malloc(sizeof *w);
    if (!w) {
        bs_buf_free(b);
        BS_WARN(LOGC, "connection %llu from %s: out of memory queueing a response",
                (unsigned long long)c->id, c->peer);
        conn_close(c);
        return;
    }
    w->c = c;
    w->data = bs_buf_steal(b, &w->len);
    uv_buf_t ub = uv_buf_init((char *)w->data, (unsigned)w->len);
    ub.len = w->len;
    int rc = uv_write(&w->uv, (uv_stream_t *)&c->tcp, &ub, 1, on_write);
    if (rc) {
        BS_DEBUG(LOGC, "connection %llu from %s: write: %s", (unsigned long long)c->id, c->peer,
                 uv_strerror(rc));
        free(w->data);
        free(w);
        conn_close(c);
        return;
    }
    c->nwrites++;
    c->wq_bytes += w->len;
}

/* Sends the ciphertext the TLS session has produced. */
static void tls_flush(conn *c) {
    bs_buf out = BS_BUF_INIT;
    if (bs_tls_output(c->tls, &out)) {
        bs_buf_free(&out);
        conn_close(c);
        return;
    }
    raw_write(c, &out);
    bs_buf_free(&out);
}

/* Queues b's frames on c (ownership taken; b is left empty). */
static void conn_write(conn *c, bs_buf *b) {
    if (b->len == 0) return;
    if (c->closing) {
        bs_buf_free(b);
        return;
    }
    if (c->version && c->version != BS_PROTO_VERSION)
        bs_proto_frames_set_version(b->data, b->len, c->version);
    if (!c->tls) {
        raw_write(c, b);
        return;
    }
    int rc = bs_tls_write(c->tls, b->data, b->len);
    bs_buf_free(b);
    if (rc) {
        BS_DEBUG(LOGC, "connection %llu from %s: TLS write: %s", (unsigned long long)c->id,
                 c->peer, bs_tls_error(c->tls));
        conn_close(c);
        return;
    }
    tls_flush(c);
}

/* Check handle: the loop turn's pool responses go out, one write per
 * connection. */
static void on_turn_end(uv_check_t *h) {
    srv_loop *lp = h->data;
    conn *c = lp->wlist;
    lp->wlist = NULL;
    uv_check_stop(h);
    while (c) {
        conn *nx = c->wnext;
        c->wlisted = 0;
        c->wnext = NULL;
        if (c->closing) bs_buf_free(&c->wout);
        else conn_write(c, &c->wout);
        c = nx;
    }
}

/* A response from the pool: gathered with the others that come back in
 * the same loop turn and written by on_turn_end as one uv_write per
 * connection (one syscall and one wake-up of the client for the lot). */
static void conn_write_later(conn *c, bs_buf *b) {
    srv_loop *lp = c->lp;
    if (!lp->have_check || b->len == 0) {
        conn_write(c, b);
        return;
    }
    if (!c->wout.len) {
        bs_buf t = c->wout;
        c->wout = *b;
        *b = t;
    } else if (bs_buf_append(&c->wout, b->data, b->len)) {
        BS_WARN(LOGC, "connection %llu from %s: out of memory queueing a response",
                (unsigned long long)c->id, c->peer);
        conn_close(c);
        return;
    }
    if (!c->wlisted) {
        c->wlisted = 1;
        c->wnext = lp->wlist;
        lp->wlist = c;
        if (!uv_is_active((uv_handle_t *)&lp->turn_end)) uv_check_start(&lp->turn_end, on_turn_end);
    }
}

static void commit_error_msg(int rc, char *msg, size_t cap) {
    snprintf(msg, cap,
             "Server error: the node could not write to its storage (%s); this request "
             "may not have been applied",
             bs_strerror(rc));
}

/* Commits the pass's inline writes (inline_commit), then hands the
 * inline responses gathered so far to one uv_write.  The pass's requests
 * left in flight learn the commit's outcome (their answers come later). */
static void conn_flush(conn *c) {
    if (!c->pend.len && !c->pass_deferred) return;
    bs_server *s = c->lp->srv;
    int rc = s->h.inline_commit ? s->h.inline_commit(s->h.ud) : 0;
    for (work *w = c->pass_deferred, *next; w; w = next) {
        next = w->pnext;
        w->pnext = NULL;
        w->commit_rc = rc;
    }
    c->pass_deferred = NULL;
    if (!c->pend.len) {
        if (rc)
            BS_ERROR(LOGC, "connection %llu from %s: cannot commit a burst's writes: %s",
                     (unsigned long long)c->id, c->peer, bs_strerror(rc));
        return;
    }
    if (rc) {
        /* The burst's writes did not reach the store (disk full, I/O
         * error): every answer of the burst is replaced by SERVER_ERROR on
         * its stream, so the client learns at once (issue 19 finding 4:
         * the connection used to be closed) and the connection goes on;
         * reads of the burst are answered the same way, as their answers
         * may not be trusted to follow writes that failed. */
        char msg[200];
        commit_error_msg(rc, msg, sizeof msg);
        BS_ERROR(LOGC, "connection %llu from %s: cannot commit a burst's writes: %s",
                 (unsigned long long)c->id, c->peer, bs_strerror(rc));
        bs_buf errs = BS_BUF_INIT;
        size_t at = 0;
        while (c->pend.len - at >= BS_PROTO_HEADER_LEN) {
            const uint8_t *h = c->pend.data + at;
            int16_t stream = (int16_t)((h[2] << 8) | h[3]);
            at += BS_PROTO_HEADER_LEN + (size_t)bs_get_u32(h + 5);
            if (bs_proto_error_frame(&errs, stream, BS_PROTO_ERR_SERVER, msg, c->comp) == 0)
                count_error(s, BS_PROTO_ERR_SERVER);
        }
        c->pend.len = 0;
        conn_write(c, &errs);
        bs_buf_free(&errs);
        return;
    }
    conn_write(c, &c->pend);
}

static void send_error(conn *c, int16_t stream, int32_t code, const char *msg) {
    bs_buf b = BS_BUF_INIT;
    if (bs_proto_error_frame(&b, stream, code, msg, c->comp) == 0) {
        count_error(c->lp->srv, code);
        conn_write(c, &b);
    }
    bs_buf_free(&b);
}

/* Answers, stops reading, and closes once everything queued is written. */
static void conn_fail(conn *c, bs_buf *frame) {
    if (c->fatal || c->closing) {
        bs_buf_free(frame);
        return;
    }
    c->fatal = 1;
    conn_flush(c); /* answers already made go out before the error */
    if (c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = 0;
    }
    conn_write(c, frame);
    bs_buf_free(frame);
    if (!c->closing && c->nwrites == 0) conn_close(c);
}

static void fail_error(conn *c, int16_t stream, int32_t code, const char *msg) {
    BS_WARN(LOGC, "connection %llu from %s: %s (closing)", (unsigned long long)c->id, c->peer,
            msg);
    bs_buf b = BS_BUF_INIT;
    if (bs_proto_error_frame(&b, stream, code, msg, c->comp) == 0) count_error(c->lp->srv, code);
    conn_fail(c, &b);
}

/* ------------------------------------------------------------------ */
/* Handler dispatch                                                    */
/* ------------------------------------------------------------------ */

static void work_free(work *w) {
    if (w->charged) atomic_fetch_sub(&w->srv->inflight_bytes, w->charged);
    bs_arena_free(&w->arena);
    bs_buf_free(&w->out);
    free(w);
}

/* The handler's answer in w->out, checked: SERVER_ERROR when it failed
 * (rc) or wrote no frame. */
static void work_answered(work *w, int rc) {
    bs_server *s = w->c->lp->srv;
    if (rc || w->out.len < BS_PROTO_HEADER_LEN) {
        char msg[160];
        snprintf(msg, sizeof msg, "Internal server error: the request handler failed (%s)",
                 rc ? bs_strerror(rc) : "no response");
        bs_buf_reset(&w->out);
        if (bs_proto_error_frame(&w->out, w->stream, BS_PROTO_ERR_SERVER, msg, w->comp) == 0)
            count_error(s, BS_PROTO_ERR_SERVER);
        return;
    }
    count_frame_error(s, w->out.data, w->out.len, &w->arena);
}

static void work_cb(work *w) {
    bs_server *s = w->c->lp->srv;
    work_answered(w, s->h.handle(s->h.ud, w->c->ud, &w->req, w->stream, w->comp, &w->arena,
                                 &w->out));
}

static int pool_submit(bs_server *s, work *w);

/* A deferred request that bs_server_work_resume sent back: handle_inline
 * once more, on the loop.  1 when it is in flight again (deferred or on
 * the pool), 0 when it is answered. */
static int work_resumed(work *w) {
    conn *c = w->c;
    bs_server *s = c->lp->srv;
    w->resume = 0;
    w->commit_rc = 0; /* it wrote nothing: its pass's commit is not its own */
    int rc = s->h.handle_inline(s->h.ud, c->ud, &w->req, w->stream, w->comp, &w->arena, &w->out,
                                w);
    if (rc == BS_SERVER_DEFERRED) {
        c->lp->pool_out++; /* back in flight (on_wake counted it back) */
        return 1;
    }
    w->deferred = 0;
    if (rc == BS_SERVER_BLOCKING) {
        BUMP(s->st_moved, 1);
        if (!c->closing && !c->fatal && !pool_submit(s, w)) {
            c->lp->pool_out++;
            return 1;
        }
        rc = BS_ECLOSED;
    }
    work_answered(w, rc);
    return 0;
}

static void after_work_cb(work *w, int status) {
    conn *c = w->c;
    if (w->resume && work_resumed(w)) return;
    if (w->deferred && w->commit_rc) {
        /* its local write did not reach the store: as conn_flush answers */
        char msg[200];
        commit_error_msg(w->commit_rc, msg, sizeof msg);
        bs_buf_reset(&w->out);
        if (bs_proto_error_frame(&w->out, w->stream, BS_PROTO_ERR_SERVER, msg, w->comp) == 0)
            count_error(c->lp->srv, BS_PROTO_ERR_SERVER);
    } else if (w->deferred) {
        work_answered(w, 0);
    }
    if (w->prev) w->prev->next = w->next;
    else c->works = w->next;
    if (w->next) w->next->prev = w->prev;
    c->inflight--;
    atomic_fetch_sub(&c->lp->srv->st_inflight, 1);
    if (status == 0 && !c->closing && !c->fatal) {
        /* the handler's AUTH_SUCCESS (its header's opcode byte) logs the
         * connection in */
        if (w->req.opcode == BS_PROTO_OP_AUTH_RESPONSE && w->out.len >= BS_PROTO_HEADER_LEN &&
            w->out.data[4] == BS_PROTO_OP_AUTH_SUCCESS)
            c->authed = 1;
        conn_write_later(c, &w->out);
    }
    work_free(w);
    if (c->closed) maybe_free(c);
    else conn_pump(c);
}

/* ---- wake-ups and the handler pool (see "Wake-ups" above) ---------- */

/* Any thread: makes the loop run on_wake soon. */
static void loop_wake(srv_loop *lp) {
    bs_wake_signal(&lp->wk);
}

/* Any thread (a worker, or whoever completes a deferred request): w
 * back to its loop's done list, for after_work_cb. */
void bs_server_work_done(bs_server_work *w) {
    srv_loop *lp = w->c->lp;
    w->qnext = NULL;
    /* the wake-up written under mu: the loop cannot take w, end, and
     * have bs_server_stop close the eventfd before this write (which joins
     * the workers, but not the threads completing deferred requests) */
    pthread_mutex_lock(&lp->mu);
    if (lp->done_tail) lp->done_tail->qnext = w;
    else lp->done = w;
    lp->done_tail = w;
    loop_wake(lp);
    pthread_mutex_unlock(&lp->mu);
}

void bs_server_work_resume(bs_server_work *w) {
    w->resume = 1;
    bs_server_work_done(w);
}

void **bs_server_work_state(bs_server_work *w) { return &w->hstate; }

/* Loop thread: queues w for a worker.  0, or BS_ECLOSED (stopping). */
static int pool_submit(bs_server *s, work *w) {
    w->qnext = NULL;
    w->cancelled = 0;
    pthread_mutex_lock(&s->pmu);
    if (s->pstop) {
        pthread_mutex_unlock(&s->pmu);
        return BS_ECLOSED;
    }
    if (s->pq_tail) s->pq_tail->qnext = w;
    else s->pq = w;
    s->pq_tail = w;
    pthread_cond_signal(&s->pcv);
    pthread_mutex_unlock(&s->pmu);
    return 0;
}

/* A worker: runs the handler of each work item in turn (unless its
 * connection closed while it waited) and hands it back to its loop. */
static void *pool_main(void *arg) {
    bs_server *s = arg;
    prctl(PR_SET_NAME, "bs-worker", 0, 0, 0); /* shown by top -H, perf */
    /* the short slice (common/sched.h), as the loops: libuv's pool
     * threads, which the loops started, inherited theirs; without it RF=3
     * writes lost 9% (a worker woken by a reply waited out the running
     * thread's 1.4 ms slice) */
    (void)bs_sched_request_thread();
    for (;;) {
        pthread_mutex_lock(&s->pmu);
        while (!s->pq && !s->pstop) pthread_cond_wait(&s->pcv, &s->pmu);
        work *w = s->pq;
        if (w) {
            s->pq = w->qnext;
            if (!s->pq) s->pq_tail = NULL;
            w->status = w->cancelled ? UV_ECANCELED : 0;
        }
        pthread_mutex_unlock(&s->pmu);
        if (!w) return NULL; /* stopping, and nothing is queued */
        if (w->status == 0) work_cb(w);
        /* the conn (and its loop) outlive the item: inflight counts it */
        bs_server_work_done(w);
    }
}

/* Counts w as in flight until it is back in the loop's done list. */
static void track(conn *c, work *w) {
    c->lp->pool_out++;
    w->next = c->works;
    if (c->works) c->works->prev = w;
    c->works = w;
    c->inflight++;
    atomic_fetch_add(&c->lp->srv->st_inflight, 1);
}

/* Copies the frame body into a fresh request arena, decodes it and hands
 * it to the pool.  Decoding errors are fatal to the connection. */
static void dispatch(conn *c, const bs_proto_frame *f) {
    bs_server *s = c->lp->srv;
    work *w = calloc(1, sizeof *w);
    if (!w) {
        send_error(c, f->h.stream, BS_PROTO_ERR_OVERLOADED, "Server out of memory");
        return;
    }
    bs_arena_init(&w->arena, 0);
    /* The node-wide budget of request bytes with the handler: over it the
     * request is answered OVERLOADED at once instead of queueing (and
     * growing).  A request alone may exceed it, so that a frame allowed
     * by max_frame is never refused on an idle node. */
    size_t charge = f->body_len + REQ_OVERHEAD;
    uint64_t now_in = atomic_fetch_add(&s->inflight_bytes, charge) + charge;
    w->srv = s;
    w->charged = charge;
    if (s->opts.max_inflight_bytes && now_in > s->opts.max_inflight_bytes && now_in != charge) {
        char msg[256];
        snprintf(msg, sizeof msg,
                 "Server is overloaded: %llu bytes of requests in flight on this node "
                 "(limit native_transport_max_request_data_in_flight = %zu); retry later "
                 "or on another node",
                 (unsigned long long)(now_in - charge), s->opts.max_inflight_bytes);
        work_free(w);
        BUMP(s->st_overloaded, 1);
        send_error(c, f->h.stream, BS_PROTO_ERR_OVERLOADED, msg);
        return;
    }
    bs_proto_frame fc = *f;
    if (f->body_len) {
        fc.body = bs_arena_memdup(&w->arena, f->body, f->body_len);
        if (!fc.body) {
            work_free(w);
            send_error(c, f->h.stream, BS_PROTO_ERR_OVERLOADED, "Server out of memory");
            return;
        }
    }
    bs_proto_rd rd;
    int rc = bs_proto_request_decode(&fc, &w->arena, &w->req, &rd);
    if (rc) {
        work_free(w);
        fail_error(c, f->h.stream, rc == BS_ENOMEM ? BS_PROTO_ERR_SERVER : BS_PROTO_ERR_PROTOCOL,
                   rd.msg[0] ? rd.msg : bs_strerror(rc));
        return;
    }
    w->c = c;
    w->stream = f->h.stream;
    w->comp = c->comp;
    int how = w->req.opcode != BS_PROTO_OP_AUTH_RESPONSE && s->h.inline_ok
                  ? s->h.inline_ok(s->h.ud, c->ud, &w->req)
                  : 0;
    if (how) {
        /* on this loop thread: no hand-off to the pool and back */
        BUMP(s->st_inline, 1);
        if (s->h.inline_begin) s->h.inline_begin(s->h.ud);
        if (how == 2 && s->h.handle_inline) {
            int rc = s->h.handle_inline(s->h.ud, c->ud, &w->req, w->stream, w->comp, &w->arena,
                                        &w->out, w);
            if (rc == BS_SERVER_DEFERRED) {
                /* in flight until bs_server_work_done (another thread,
                 * maybe already): only loop-side fields from here on */
                BUMP(s->st_deferred, 1);
                w->deferred = 1;
                w->pnext = c->pass_deferred;
                c->pass_deferred = w;
                track(c, w);
                return;
            }
            if (rc == BS_SERVER_BLOCKING) { /* out is untouched */
                BUMP(s->st_moved, 1);
                goto pool;
            }
            work_answered(w, rc);
        } else {
            work_cb(w);
        }
        if (!c->closing && !c->fatal) {
            /* gathered: conn_pump writes every inline answer of this pass
             * at once (one send for a pipelined burst) */
            if (bs_buf_append(&c->pend, w->out.data, w->out.len)) {
                conn_flush(c); /* commits for w too */
                conn_write(c, &w->out);
            } else if (c->pend.len >= 64 * 1024) {
                conn_flush(c);
            }
        }
        work_free(w);
        return;
    }
pool:
    if (pool_submit(s, w)) {
        work_free(w);
        send_error(c, f->h.stream, BS_PROTO_ERR_SERVER, "Internal server error: cannot queue work");
        return;
    }
    track(c, w);
}

/* ------------------------------------------------------------------ */
/* Frames handled on the loop                                          */
/* ------------------------------------------------------------------ */

static void send_simple(conn *c, int16_t stream, bs_proto_response *r,
                        bs_proto_compression comp) {
    bs_buf b = BS_BUF_INIT;
    if (bs_proto_response_encode(&b, stream, r, comp) == 0) conn_write(c, &b);
    else send_error(c, stream, BS_PROTO_ERR_SERVER, "Internal server error: cannot encode response");
    bs_buf_free(&b);
}

static void send_supported(conn *c, int16_t stream) {
    bs_proto_str cqlv = bs_proto_cstr("3.4.5"), comp = bs_proto_cstr("lz4"),
                 pv[2] = {bs_proto_cstr("3/v3"), bs_proto_cstr("4/v4")};
    bs_proto_multimap_entry e[3] = {
        {bs_proto_cstr("CQL_VERSION"), {1, &cqlv}},
        {bs_proto_cstr("COMPRESSION"), {1, &comp}},
        {bs_proto_cstr("PROTOCOL_VERSIONS"), {2, pv}},
    };
    bs_proto_response r;
    memset(&r, 0, sizeof r);
    r.opcode = BS_PROTO_OP_SUPPORTED;
    r.u.supported.n = 3;
    r.u.supported.items = e;
    send_simple(c, stream, &r, c->comp);
}

static void send_ready(conn *c, int16_t stream, bs_proto_compression comp) {
    bs_proto_response r;
    memset(&r, 0, sizeof r);
    r.opcode = BS_PROTO_OP_READY;
    send_simple(c, stream, &r, comp);
}

static void on_frame(conn *c, const bs_proto_frame *f) {
    bs_server *s = c->lp->srv;
    uint8_t op = f->h.opcode;
    int16_t st = f->h.stream;
    char msg[160];
    BUMP(s->st_requests, 1);
    if (c->reject) {
        fail_error(c, st, BS_PROTO_ERR_OVERLOADED, c->reject);
        return;
    }
    if (!c->version) c->version = f->h.version;
    if (f->h.version != c->version) {
        snprintf(msg, sizeof msg,
                 "Invalid message version. Got %u but previous messages on this connection "
                 "had version %u",
                 (unsigned)f->h.version, (unsigned)c->version);
        fail_error(c, st, BS_PROTO_ERR_PROTOCOL, msg);
        return;
    }
    if (!c->started && op != BS_PROTO_OP_OPTIONS && op != BS_PROTO_OP_STARTUP) {
        snprintf(msg, sizeof msg, "Unexpected message %s, expecting STARTUP or OPTIONS",
                 bs_proto_opcode_name(op));
        send_error(c, st, BS_PROTO_ERR_PROTOCOL, msg);
        return;
    }
    if (c->started && !c->authed && op != BS_PROTO_OP_AUTH_RESPONSE) {
        /* Cassandra's wording: the SASL exchange comes first */
        snprintf(msg, sizeof msg, "Unexpected message %s, expecting SASL_RESPONSE",
                 bs_proto_opcode_name(op));
        send_error(c, st, BS_PROTO_ERR_PROTOCOL, msg);
        return;
    }
    switch (op) {
    case BS_PROTO_OP_QUERY:
    case BS_PROTO_OP_PREPARE:
    case BS_PROTO_OP_EXECUTE:
    case BS_PROTO_OP_BATCH:
        dispatch(c, f);
        return;
    case BS_PROTO_OP_AUTH_RESPONSE:
        if (c->started && !c->authed) {
            dispatch(c, f); /* the handler checks the credentials */
            return;
        }
        send_error(c, st, BS_PROTO_ERR_PROTOCOL,
                   s->opts.authenticator
                       ? "Unexpected message AUTH_RESPONSE: the connection is already authenticated"
                       : "Unexpected message AUTH_RESPONSE: authentication is not enabled");
        return;
    case BS_PROTO_OP_STARTUP:
        if (c->started) {
            send_error(c, st, BS_PROTO_ERR_PROTOCOL,
                       "Unexpected message STARTUP: the connection is already started");
            return;
        }
        break;
    default:
        break;
    }
    /* OPTIONS, STARTUP, REGISTER: decoded in place (the body is valid
     * until the next decoder call, which comes after this function). */
    bs_arena a;
    bs_arena_init(&a, 0);
    bs_proto_request req;
    bs_proto_rd rd;
    int rc = bs_proto_request_decode(f, &a, &req, &rd);
    if (rc) {
        fail_error(c, st, rc == BS_ENOMEM ? BS_PROTO_ERR_SERVER : BS_PROTO_ERR_PROTOCOL,
                   rd.msg[0] ? rd.msg : bs_strerror(rc));
    } else if (op == BS_PROTO_OP_OPTIONS) {
        send_supported(c, st);
    } else if (op == BS_PROTO_OP_STARTUP) {
        c->started = 1;
        if (s->opts.authenticator) {
            bs_proto_response r;
            memset(&r, 0, sizeof r);
            r.opcode = BS_PROTO_OP_AUTHENTICATE;
            r.u.authenticator = bs_proto_cstr(s->opts.authenticator);
            send_simple(c, st, &r, BS_PROTO_COMP_NONE);
        } else {
            c->authed = 1;
            send_ready(c, st, BS_PROTO_COMP_NONE);
        }
        c->comp = req.u.startup.compression;
        bs_proto_decoder_set_compression(c->dec, c->comp);
        BS_DEBUG(LOGC, "connection %llu from %s: STARTUP (CQL %.*s%s)", (unsigned long long)c->id,
                 c->peer, (int)req.u.startup.cql_version.len, req.u.startup.cql_version.p,
                 c->comp == BS_PROTO_COMP_LZ4 ? ", lz4" : "");
    } else { /* REGISTER */
        c->events |= req.u.reg.mask;
        send_ready(c, st, c->comp);
    }
    bs_arena_free(&a);
}

/* A decoder failure other than EAGAIN.  f->h holds what was parsed. */
static void on_decode_error(conn *c, int rc, const bs_proto_frame *f) {
    char msg[200];
    if (rc == BS_ETOOBIG) {
        snprintf(msg, sizeof msg, "Request is too big: length %u exceeds maximum allowed length %u",
                 (unsigned)f->h.length, (unsigned)c->lp->srv->opts.max_frame);
        BS_WARN(LOGC, "connection %llu from %s: %s", (unsigned long long)c->id, c->peer, msg);
        BUMP(c->lp->srv->st_requests, 1);
        send_error(c, f->h.stream, BS_PROTO_ERR_PROTOCOL, msg);
        return;
    }
    if (rc == BS_ENOTSUP) {
        bs_buf b = BS_BUF_INIT;
        BS_DEBUG(LOGC, "connection %llu from %s: unsupported protocol version %u",
                 (unsigned long long)c->id, c->peer, (unsigned)f->h.version);
        if (bs_proto_version_error_frame(&b, f->h.version, f->h.stream) == 0)
            count_error(c->lp->srv, BS_PROTO_ERR_PROTOCOL);
        conn_fail(c, &b);
        return;
    }
    const char *dm = bs_proto_decoder_errmsg(c->dec);
    snprintf(msg, sizeof msg, "%s", dm && dm[0] ? dm : bs_strerror(rc));
    fail_error(c, f->h.stream, rc == BS_ENOMEM ? BS_PROTO_ERR_SERVER : BS_PROTO_ERR_PROTOCOL, msg);
}

/* ------------------------------------------------------------------ */
/* Reading                                                             */
/* ------------------------------------------------------------------ */

static void on_alloc(uv_handle_t *hd, size_t suggested, uv_buf_t *buf) {
    conn *c = hd->data;
    uint8_t *p;
    size_t cap;
    (void)suggested;
    if (c->lp->srv->opts.tls) {
        /* ciphertext (or the first bytes, to sniff) lands here, and
         * tls_in moves the plaintext to the decoder; one per loop thread */
        static _Thread_local uint8_t slab[READ_HINT];
        buf->base = (char *)slab;
        buf->len = sizeof slab;
        return;
    }
    if (bs_proto_decoder_wbuf(c->dec, READ_HINT, &p, &cap)) {
        buf->base = NULL;
        buf->len = 0; /* read_cb gets UV_ENOBUFS */
        return;
    }
    buf->base = (char *)p;
    buf->len = cap;
}

/* Copies plaintext bytes into the frame decoder.  0 or BS_ENOMEM. */
static int decoder_put(conn *c, const uint8_t *p, size_t n) {
    while (n > 0) {
        uint8_t *w;
        size_t cap;
        if (bs_proto_decoder_wbuf(c->dec, n < READ_HINT ? n : READ_HINT, &w, &cap))
            return BS_ENOMEM;
        if (cap > n) cap = n;
        memcpy(w, p, cap);
        bs_proto_decoder_commit(c->dec, cap);
        p += cap;
        n -= cap;
    }
    return 0;
}

/* The TLS session failed: its alert (if any) goes out, then the
 * connection closes. */
static void tls_fail(conn *c, const char *what) {
    BS_WARN(LOGC, "connection %llu from %s: %s: %s (closing)", (unsigned long long)c->id,
            c->peer, what, bs_tls_error(c->tls));
    c->fatal = 1;
    if (c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = 0;
    }
    tls_flush(c);
    if (!c->closing && c->nwrites == 0) conn_close(c);
}

/*
 * Bytes read on a connection of a server with TLS.  The first byte of a
 * connection decides: a TLS handshake record starts a TLS session; any
 * other byte is a plaintext CQL frame, served with optional: true and
 * answered with a protocol error naming the setting otherwise.  Then
 * ciphertext is fed to the session and all the plaintext it yields goes
 * to the frame decoder.  0, or -1 when the connection is being closed.
 */
static int tls_in(conn *c, const uint8_t *p, size_t n) {
    const bs_server_opts *o = &c->lp->srv->opts;
    if (!c->sniffed) {
        c->sniffed = 1;
        if (p[0] != BS_TLS_RECORD_HANDSHAKE) {
            if (o->tls_optional) return decoder_put(c, p, n) ? (conn_close(c), -1) : 0;
            int16_t stream = n >= 4 ? (int16_t)((p[2] << 8) | p[3]) : 0;
            BUMP(c->lp->srv->st_rejected, 1);
            fail_error(c, stream, BS_PROTO_ERR_PROTOCOL,
                       "This node requires TLS on its CQL port (client_encryption_options: "
                       "enabled, not optional): connect with SSL/TLS");
            return -1;
        }
        if (bs_tls_new(o->tls, NULL, &c->tls)) {
            conn_close(c);
            return -1;
        }
    }
    if (!c->tls) return decoder_put(c, p, n) ? (conn_close(c), -1) : 0;
    if (bs_tls_feed(c->tls, p, n)) {
        conn_close(c);
        return -1;
    }
    for (;;) {
        uint8_t *w;
        size_t cap, got = 0;
        if (bs_proto_decoder_wbuf(c->dec, READ_HINT, &w, &cap)) {
            conn_close(c);
            return -1;
        }
        int rc = bs_tls_read(c->tls, w, cap, &got);
        if (rc == BS_ECLOSED) {
            tls_flush(c);
            conn_close(c);
            return -1;
        }
        if (rc) {
            tls_fail(c, bs_tls_ready(c->tls) ? "TLS error" : "TLS handshake failed");
            return -1;
        }
        if (!got) break;
        bs_proto_decoder_commit(c->dec, got);
    }
    tls_flush(c);
    return c->closing ? -1 : 0;
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf) {
    conn *c = st->data;
    if (nread > 0) {
        BUMP(c->lp->srv->st_in, (uint64_t)nread);
        c->last_io = uv_now(&c->lp->loop);
        if (c->lp->srv->opts.tls) {
            if (tls_in(c, (const uint8_t *)buf->base, (size_t)nread)) return;
        } else {
            bs_proto_decoder_commit(c->dec, (size_t)nread);
        }
        conn_pump(c);
    } else if (nread < 0) {
        if (nread != UV_EOF)
            BS_DEBUG(LOGC, "connection %llu from %s: read: %s", (unsigned long long)c->id,
                     c->peer, uv_strerror((int)nread));
        conn_close(c);
    }
}

static int can_take(const conn *c) {
    const bs_server_opts *o = &c->lp->srv->opts;
    return !c->closing && !c->fatal && !c->lp->stopping && c->inflight < o->max_inflight &&
           c->wq_bytes < o->max_write_queue;
}

static void update_reading(conn *c) {
    int want = can_take(c);
    if (want && !c->reading) {
        int rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
        if (rc) {
            BS_WARN(LOGC, "connection %llu from %s: read start: %s", (unsigned long long)c->id,
                    c->peer, uv_strerror(rc));
            conn_close(c);
            return;
        }
        c->reading = 1;
    } else if (!want && c->reading && !c->closing) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = 0;
    }
}

static void conn_pump(conn *c) {
    int took = 0, partial = 0;
    while (can_take(c)) {
        bs_proto_frame f;
        int rc = bs_proto_decoder_next(c->dec, &f);
        if (rc == BS_EAGAIN) {
            /* an oversize body being discarded is a frame in progress
             * too: a client trickling it is timed out like any other */
            partial = bs_proto_decoder_pending(c->dec) > 0 || bs_proto_decoder_skipping(c->dec) > 0;
            break;
        }
        took = 1;
        if (rc == 0) on_frame(c, &f);
        else on_decode_error(c, rc, &f);
    }
    conn_flush(c);
    if (c->closing) return;
    /* The frame timeout runs from the first byte of an incomplete frame
     * while we are waiting for the client (not while back-pressure keeps
     * complete frames buffered). */
    if (!partial) {
        if (!c->reject) c->partial_since = 0;
    } else if (took || !c->partial_since) {
        c->partial_since = uv_now(&c->lp->loop) | 1;
    }
    update_reading(c);
}

/* ------------------------------------------------------------------ */
/* Accepting                                                           */
/* ------------------------------------------------------------------ */

static void free_handle_cb(uv_handle_t *hd) { free(hd->data); }

static void spare_closed(uv_handle_t *hd) { ((srv_loop *)hd->data)->spare_busy = 0; }

static void peer_name(uv_tcp_t *t, char *out, size_t cap, char *ipout, size_t ipcap) {
    struct sockaddr_storage ss;
    int len = sizeof ss;
    snprintf(out, cap, "?");
    snprintf(ipout, ipcap, "?");
    if (uv_tcp_getpeername(t, (struct sockaddr *)&ss, &len)) return;
    char ip[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (ss.ss_family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        uv_ip4_name(a, ip, sizeof ip);
        snprintf(ipout, ipcap, "%s", ip);
        port = ntohs(a->sin_port);
        snprintf(out, cap, "%s:%d", ip, port);
    } else if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        uv_ip6_name(a, ip, sizeof ip);
        snprintf(ipout, ipcap, "%s", ip);
        port = ntohs(a->sin6_port);
        snprintf(out, cap, "[%s]:%d", ip, port);
    }
}

static void conn_start(srv_loop *lp, conn *c);

static void on_accept(uv_stream_t *ls, int status) {
    srv_loop *lp = ls->data;
    bs_server *s = lp->srv;
    if (status < 0) {
        BS_WARN(LOGC, "accept: %s", uv_strerror(status));
        return;
    }
    conn *c = calloc(1, sizeof *c);
    if (!c) {
        /* libuv stops polling a listener until uv_accept is called, so the
         * connection is taken into a handle reserved for this and closed */
        BS_ERROR(LOGC, "accept: out of memory; dropping a connection");
        if (!lp->spare_busy) {
            uv_tcp_init(&lp->loop, &lp->spare);
            lp->spare.data = lp;
            lp->spare_busy = 1;
            uv_accept(ls, (uv_stream_t *)&lp->spare);
            uv_close((uv_handle_t *)&lp->spare, spare_closed);
        }
        return;
    }
    c->lp = lp;
    uv_tcp_init(&lp->loop, &c->tcp);
    c->tcp.data = c;
    if (uv_accept(ls, (uv_stream_t *)&c->tcp)) {
        uv_close((uv_handle_t *)&c->tcp, free_handle_cb);
        return;
    }
    /* The kernel spreads accepts over the SO_REUSEPORT group by a hash of
     * the addresses, so a few connections (a driver's pool) can all land
     * on one loop while the others idle.  Connections are dealt to the
     * loops in turn instead (as Netty assigns channels to event loops):
     * a driver's control connection followed by its pool of 2 then puts
     * the two busy connections on different loops, where "fewest
     * connections" would tie and leave it to the hash. */
    srv_loop *to = &s->loops[atomic_fetch_add(&s->next_loop, 1) % (uint64_t)s->nloops];
    uv_os_fd_t ofd;
    fdmsg *m = to != lp ? malloc(sizeof *m) : NULL;
    if (m && uv_fileno((uv_handle_t *)&c->tcp, &ofd) == 0 && (m->fd = dup(ofd)) >= 0) {
        uv_close((uv_handle_t *)&c->tcp, free_handle_cb);
        pthread_mutex_lock(&to->mu);
        int stopping = to->stop_req;
        if (!stopping) {
            m->next = to->fds;
            to->fds = m;
            loop_wake(to);
        }
        pthread_mutex_unlock(&to->mu);
        if (stopping) {
            close(m->fd);
            free(m);
        }
        return;
    }
    free(m);
    conn_start(lp, c);
}

/* A socket accepted by another loop, on this loop's thread. */
static void conn_adopt(srv_loop *lp, int fd) {
    conn *c = calloc(1, sizeof *c);
    if (!c || uv_tcp_init(&lp->loop, &c->tcp)) {
        BS_ERROR(LOGC, "accept: out of memory; dropping a connection");
        close(fd);
        free(c);
        return;
    }
    c->lp = lp;
    c->tcp.data = c;
    if (uv_tcp_open(&c->tcp, fd)) {
        close(fd);
        uv_close((uv_handle_t *)&c->tcp, free_handle_cb);
        return;
    }
    conn_start(lp, c);
}

/* Everything after the accept: limits, handler, reading. */
static void conn_start(srv_loop *lp, conn *c) {
    bs_server *s = lp->srv;
    c->id = atomic_fetch_add(&s->next_id, 1) + 1;
    c->accepted_at = c->last_io = uv_now(&lp->loop);
    peer_name(&c->tcp, c->peer, sizeof c->peer, c->ip, sizeof c->ip);
    int n = atomic_fetch_add(&s->nopen, 1) + 1;
    c->counted = 1;
    int nip = ip_acquire(s, c->ip);
    c->ip_counted = nip > 0;
    const char *why = NULL;
    char whybuf[256];
    bs_proto_header_opts ho = {.max_frame = s->opts.max_frame, .expect_response = 0};
    if (s->opts.max_connections >= 0 && n > s->opts.max_connections) {
        snprintf(whybuf, sizeof whybuf,
                 "Too many connections: %d open on this node (limit "
                 "native_transport_max_concurrent_connections = %d)",
                 n - 1, s->opts.max_connections);
        why = whybuf;
    } else if (s->opts.max_connections_per_ip >= 0 && nip > s->opts.max_connections_per_ip) {
        snprintf(whybuf, sizeof whybuf,
                 "Too many connections from %s: %d open (limit "
                 "native_transport_max_concurrent_connections_per_ip = %d)",
                 c->ip, nip - 1, s->opts.max_connections_per_ip);
        why = whybuf;
    } else {
        if (bs_proto_decoder_new(&ho, &c->dec)) why = "out of memory";
        else if (s->h.conn_open && s->h.conn_open(s->h.ud, c->ip, &c->ud)) why = "refused by the handler";
        else c->ud_open = 1;
    }
    if (why && why == whybuf && s->opts.frame_timeout_ms > 0 &&
        bs_proto_decoder_new(&ho, &c->dec) == 0 && (c->reject = strdup(whybuf))) {
        /* Over a limit: not counted as open; its first frame is answered
         * with the reason (a driver then tries another node) and it is
         * closed, or closed when frame_timeout_ms passes first. */
        atomic_fetch_sub(&s->nopen, 1);
        c->counted = 0;
        if (c->ip_counted) ip_release(s, c->ip);
        c->ip_counted = 0;
        BUMP(s->st_rejected, 1);
        BS_WARN(LOGC, "rejecting connection from %s: %s", c->peer, why);
        c->partial_since = uv_now(&lp->loop) | 1;
        why = NULL;
    }
    if (why) {
        atomic_fetch_sub(&s->nopen, 1);
        c->counted = 0;
        if (c->ip_counted) ip_release(s, c->ip);
        c->ip_counted = 0;
        BUMP(s->st_rejected, 1);
        BS_WARN(LOGC, "rejecting connection from %s: %s", c->peer, why);
        c->closing = 1;
        uv_close((uv_handle_t *)&c->tcp, on_conn_close);
        return;
    }
    if (!c->reject) BUMP(s->st_total, 1);
    uv_tcp_nodelay(&c->tcp, 1);
    c->next = lp->conns;
    if (lp->conns) lp->conns->prev = c;
    lp->conns = c;
    c->linked = 1;
    atomic_fetch_add(&lp->nconns, 1);
    BS_DEBUG(LOGC, "connection %llu from %s opened on loop %d", (unsigned long long)c->id, c->peer,
             lp->idx);
    update_reading(c);
}

/* ------------------------------------------------------------------ */
/* Inbox: events and stop                                              */
/* ------------------------------------------------------------------ */

static void evmsg_free(evmsg *m) {
    bs_buf_free(&m->frame[0]);
    bs_buf_free(&m->frame[1]);
    free(m);
}

static void on_drain(uv_timer_t *t) {
    srv_loop *lp = t->data;
    int busy = 0;
    for (conn *c = lp->conns; c; c = c->next)
        if (!c->closing && (c->inflight > 0 || c->nwrites > 0)) busy = 1;
    if (busy && uv_now(&lp->loop) < lp->deadline) return;
    if (busy) BS_WARN(LOGC, "loop %d: stop timeout; closing connections with work in flight", lp->idx);
    for (conn *c = lp->conns; c; c = c->next) conn_close(c);
    uv_close((uv_handle_t *)&lp->drain, NULL);
    /* the wake-up stays until every work item is back (after_work_cb
     * frees it and its connection) */
    lp->wake_closing = 1;
    if (lp->pool_out == 0) uv_close((uv_handle_t *)&lp->wake, NULL);
    if (lp->have_sweep) uv_close((uv_handle_t *)&lp->sweep, NULL);
    if (lp->have_check) uv_close((uv_handle_t *)&lp->turn_end, NULL);
}

/* Closes the connections whose incomplete frame (or, over a limit, whose
 * first frame) has not arrived within frame_timeout_ms, and those that
 * have not sent STARTUP (nor finished a TLS handshake) within
 * startup_timeout_ms of their accept, and started ones with nothing read,
 * written or running for idle_timeout_ms. */
static void on_sweep(uv_timer_t *t) {
    srv_loop *lp = t->data;
    uint64_t now = uv_now(&lp->loop), lim = lp->srv->opts.frame_timeout_ms;
    uint64_t slim = lp->srv->opts.startup_timeout_ms, ilim = lp->srv->opts.idle_timeout_ms;
    for (conn *c = lp->conns; c; c = c->next) {
        if (c->closing) continue;
        if (ilim && c->started && !c->inflight && !c->nwrites && now >= c->last_io &&
            now - c->last_io >= ilim) {
            BS_INFO(LOGC, "connection %llu from %s: idle for %llu ms "
                    "(native_transport_idle_timeout); closing it",
                    (unsigned long long)c->id, c->peer, (unsigned long long)ilim);
            conn_close(c);
            continue;
        }
        if (slim && !c->started && now >= c->accepted_at && now - c->accepted_at >= slim) {
            BUMP(lp->srv->st_timedout, 1);
            BS_WARN(LOGC, "connection %llu from %s: no STARTUP within %llu ms (%s; "
                    "native_transport_startup_timeout); closing it",
                    (unsigned long long)c->id, c->peer, (unsigned long long)slim,
                    c->tls && !bs_tls_ready(c->tls) ? "TLS handshake not completed"
                    : c->sniffed || c->version ? "no STARTUP frame" : "nothing received");
            conn_close(c);
            continue;
        }
        if (!lim || !c->partial_since || now < c->partial_since ||
            now - c->partial_since < lim)
            continue;
        BUMP(lp->srv->st_timedout, 1);
        BS_WARN(LOGC, "connection %llu from %s: %s not completed within %llu ms (%zu bytes "
                "buffered; native_transport_frame_timeout); closing it",
                (unsigned long long)c->id, c->peer, c->reject ? "first frame" : "frame",
                (unsigned long long)lim, bs_proto_decoder_pending(c->dec));
        conn_close(c);
    }
}

static void begin_stop(srv_loop *lp) {
    lp->stopping = 1;
    uv_close((uv_handle_t *)&lp->listener, NULL);
    for (conn *c = lp->conns; c; c = c->next)
        if (!c->closing) update_reading(c);
    lp->deadline = uv_now(&lp->loop) + lp->srv->opts.stop_timeout_ms;
    uv_timer_start(&lp->drain, on_drain, 0, DRAIN_POLL_MS);
}

static void on_wake(uv_poll_t *h, int status, int events) {
    srv_loop *lp = h->data;
    (void)status;
    (void)events;
    /* cleared before the inbox is emptied: whatever is put there after
     * finds it clear and wakes the loop again */
    bs_wake_clear(&lp->wk);
    pthread_mutex_lock(&lp->mu);
    evmsg *m = lp->inbox;
    lp->inbox = lp->inbox_tail = NULL;
    fdmsg *fm = lp->fds;
    lp->fds = NULL;
    work *done = lp->done;
    lp->done = lp->done_tail = NULL;
    int stop = lp->stop_req;
    pthread_mutex_unlock(&lp->mu);
    while (done) {
        work *next = done->qnext;
        lp->pool_out--;
        after_work_cb(done, done->status);
        done = next;
    }
    while (fm) {
        fdmsg *next = fm->next;
        if (lp->stopping) close(fm->fd);
        else conn_adopt(lp, fm->fd);
        free(fm);
        fm = next;
    }
    while (m) {
        evmsg *next = m->next;
        for (conn *c = lp->conns; c && !lp->stopping; c = c->next) {
            if (!(c->events & m->bit) || !c->started || c->closing || c->fatal) continue;
            bs_buf copy = BS_BUF_INIT;
            const bs_buf *src = &m->frame[c->comp == BS_PROTO_COMP_LZ4 ? 1 : 0];
            if (bs_buf_append(&copy, src->data, src->len) == 0) conn_write(c, &copy);
            bs_buf_free(&copy);
        }
        evmsg_free(m);
        m = next;
    }
    if (stop && !lp->stopping) begin_stop(lp);
    if (lp->wake_closing && lp->pool_out == 0 && !uv_is_closing((uv_handle_t *)&lp->wake))
        uv_close((uv_handle_t *)&lp->wake, NULL);
}

int bs_server_broadcast_event(bs_server *s, const bs_proto_event *ev) {
    uint8_t bit;
    if (bs_proto_str_eq(ev->type, "TOPOLOGY_CHANGE")) bit = BS_PROTO_EV_TOPOLOGY_CHANGE;
    else if (bs_proto_str_eq(ev->type, "STATUS_CHANGE")) bit = BS_PROTO_EV_STATUS_CHANGE;
    else if (bs_proto_str_eq(ev->type, "SCHEMA_CHANGE")) bit = BS_PROTO_EV_SCHEMA_CHANGE;
    else return BS_EINVAL;
    bs_proto_response r;
    memset(&r, 0, sizeof r);
    r.opcode = BS_PROTO_OP_EVENT;
    r.u.event = *ev;
    bs_buf f[2] = {BS_BUF_INIT, BS_BUF_INIT};
    int rc = bs_proto_response_encode(&f[0], -1, &r, BS_PROTO_COMP_NONE);
    if (!rc) rc = bs_proto_response_encode(&f[1], -1, &r, BS_PROTO_COMP_LZ4);
    if (rc) {
        bs_buf_free(&f[0]);
        bs_buf_free(&f[1]);
        return rc == BS_ENOMEM ? BS_ENOMEM : BS_EINVAL;
    }
    int out = 0;
    for (int i = 0; i < s->nloops; i++) {
        srv_loop *lp = &s->loops[i];
        evmsg *m = calloc(1, sizeof *m);
        if (!m || bs_buf_append(&m->frame[0], f[0].data, f[0].len) ||
            bs_buf_append(&m->frame[1], f[1].data, f[1].len)) {
            if (m) evmsg_free(m);
            out = BS_ENOMEM;
            continue;
        }
        m->bit = bit;
        pthread_mutex_lock(&lp->mu);
        if (lp->stop_req) {
            pthread_mutex_unlock(&lp->mu);
            evmsg_free(m);
            out = BS_ECLOSED;
            continue;
        }
        if (lp->inbox_tail) lp->inbox_tail->next = m;
        else lp->inbox = m;
        lp->inbox_tail = m;
        loop_wake(lp);
        pthread_mutex_unlock(&lp->mu);
    }
    bs_buf_free(&f[0]);
    bs_buf_free(&f[1]);
    return out;
}

/* ------------------------------------------------------------------ */
/* Start / stop                                                        */
/* ------------------------------------------------------------------ */

static int resolve(const char *host, int port, struct sockaddr_storage *ss, socklen_t *len) {
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    int rc = getaddrinfo(host, ps, &hints, &res);
    if (rc || !res) {
        BS_ERROR(LOGC, "cannot resolve listen address '%s': %s", host, gai_strerror(rc));
        if (res) freeaddrinfo(res);
        return BS_EINVAL;
    }
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

static void set_port(struct sockaddr_storage *ss, int port) {
    if (ss->ss_family == AF_INET) ((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
    else ((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
}

/* A bound socket; listen() too unless probe.  -errno on failure. */
static int make_socket(const struct sockaddr_storage *ss, socklen_t len, int reuseport, int *fd_out) {
    int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
        (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one)) ||
        bind(fd, (const struct sockaddr *)ss, len) || (reuseport && listen(fd, 1024))) {
        int e = errno;
        close(fd);
        return -e;
    }
    *fd_out = fd;
    return 0;
}

static void loop_thread(void *arg) {
    srv_loop *lp = arg;
    prctl(PR_SET_NAME, "bs-cql", 0, 0, 0); /* shown by top -H, perf */
    (void)bs_sched_request_thread(); /* common/sched.h */
    /* libuv writes with write(2), not send(MSG_NOSIGNAL): a write to a
     * connection the peer has reset may raise SIGPIPE, which must not end
     * the process.  Blocking it in the loop threads (rather than ignoring
     * it process-wide) keeps the choice local; the write still fails with
     * EPIPE and the connection is closed. */
    sigset_t ss;
    sigemptyset(&ss);
    sigaddset(&ss, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &ss, NULL);
    uv_run(&lp->loop, UV_RUN_DEFAULT);
}

static void loop_dispose(srv_loop *lp) {
    if (!lp->have_loop) return;
    if (lp->have_thread) {
        uv_thread_join(&lp->thread);
        lp->have_thread = 0;
    } else {
        /* never started: close what was set up and let the callbacks run */
        if (lp->have_listener) uv_close((uv_handle_t *)&lp->listener, NULL);
        if (lp->have_wake) uv_close((uv_handle_t *)&lp->wake, NULL);
        if (lp->have_timer) uv_close((uv_handle_t *)&lp->drain, NULL);
        if (lp->have_sweep) uv_close((uv_handle_t *)&lp->sweep, NULL);
        if (lp->have_check) uv_close((uv_handle_t *)&lp->turn_end, NULL);
        uv_run(&lp->loop, UV_RUN_DEFAULT);
    }
    int rc = uv_loop_close(&lp->loop);
    if (rc) BS_ERROR(LOGC, "loop %d: close: %s", lp->idx, uv_strerror(rc));
    while (lp->inbox) {
        evmsg *n = lp->inbox->next;
        evmsg_free(lp->inbox);
        lp->inbox = n;
    }
    while (lp->fds) {
        fdmsg *n = lp->fds->next;
        close(lp->fds->fd);
        free(lp->fds);
        lp->fds = n;
    }
    /* the mutex stays until bs_server_free: a late broadcast must still
     * be able to see stop_req */
    lp->have_loop = 0;
}

static int loop_setup(srv_loop *lp, int fd) {
    int rc = uv_loop_init(&lp->loop);
    if (rc) {
        close(fd);
        return rc;
    }
    lp->have_loop = 1;
    uv_tcp_init(&lp->loop, &lp->listener);
    lp->listener.data = lp;
    lp->have_listener = 1;
    rc = uv_tcp_open(&lp->listener, fd);
    if (rc) {
        close(fd);
        return rc;
    }
    rc = uv_listen((uv_stream_t *)&lp->listener, 1024, on_accept);
    if (rc) return rc;
    rc = bs_wake_open(&lp->wk);
    if (rc) return uv_translate_sys_error(-rc);
    rc = uv_poll_init(&lp->loop, &lp->wake, lp->wk.fd);
    if (rc) return rc;
    lp->wake.data = lp;
    lp->have_wake = 1;
    rc = uv_poll_start(&lp->wake, UV_READABLE, on_wake);
    if (rc) return rc;
    uv_timer_init(&lp->loop, &lp->drain);
    lp->drain.data = lp;
    lp->have_timer = 1;
    uv_check_init(&lp->loop, &lp->turn_end);
    lp->turn_end.data = lp;
    lp->have_check = 1;
    unsigned ft = lp->srv->opts.frame_timeout_ms, st = lp->srv->opts.startup_timeout_ms;
    unsigned it = lp->srv->opts.idle_timeout_ms;
    if (st > 0 && (ft == 0 || st < ft)) ft = st; /* the sweep period's base */
    if (it > 0 && (ft == 0 || it < ft)) ft = it;
    if (ft > 0) {
        uv_timer_init(&lp->loop, &lp->sweep);
        lp->sweep.data = lp;
        lp->have_sweep = 1;
        uint64_t every = ft / 4 < 50 ? 50 : ft / 4 > 1000 ? 1000 : ft / 4;
        uv_timer_start(&lp->sweep, on_sweep, every, every);
    }
    return 0;
}

int bs_server_start(const bs_server_opts *opts, const bs_server_handler *h, bs_server **out) {
    if (!opts || !h || !h->handle || !out || opts->port < 0 || opts->port > 65535)
        return BS_EINVAL;
    bs_server *s = calloc(1, sizeof *s);
    if (!s) return BS_ENOMEM;
    s->opts = *opts;
    s->h = *h;
    bs_server_opts *o = &s->opts;
    if (!o->address) o->address = "127.0.0.1";
    if (o->io_threads <= 0) o->io_threads = 1;
    if (o->max_frame == 0) o->max_frame = 16u * 1024u * 1024u;
    if (o->max_frame > INT32_MAX) o->max_frame = INT32_MAX;
    if (o->max_connections < 0) o->max_connections = -1;
    if (o->max_inflight <= 0) o->max_inflight = 1024;
    if (o->max_write_queue == 0) o->max_write_queue = 64u * 1024u * 1024u;
    if (o->stop_timeout_ms == 0) o->stop_timeout_ms = 5000;
    if (o->worker_threads <= 0) o->worker_threads = 64;
    /* UV_THREADPOOL_SIZE, when set, sizes the handler pool as it did
     * when the handler ran on libuv's pool; it is set otherwise for
     * libuv's own pool (the admin and HTTP endpoints' work), which libuv
     * sizes once, at its first uv_queue_work in the process */
    const char *env = getenv("UV_THREADPOOL_SIZE");
    int nw = env ? atoi(env) : 0;
    if (nw <= 0 || nw > 1024) nw = o->worker_threads;
    char nthreads[16];
    snprintf(nthreads, sizeof nthreads, "%d", o->worker_threads);
    setenv("UV_THREADPOOL_SIZE", nthreads, 0);

    struct sockaddr_storage ss;
    socklen_t sslen;
    int rc = resolve(o->address, o->port, &ss, &sslen);
    if (rc) {
        free(s);
        return rc;
    }
    /* probe without SO_REUSEPORT: fails when anyone listens there already,
     * and picks the port when 0 was asked */
    int fd;
    rc = make_socket(&ss, sslen, 0, &fd);
    if (rc) {
        BS_ERROR(LOGC, "cannot bind %s:%d: %s", o->address, o->port, strerror(-rc));
        free(s);
        return rc;
    }
    struct sockaddr_storage bound;
    socklen_t blen = sizeof bound;
    if (getsockname(fd, (struct sockaddr *)&bound, &blen)) {
        rc = -errno;
        close(fd);
        free(s);
        return rc;
    }
    s->port = ntohs(bound.ss_family == AF_INET ? ((struct sockaddr_in *)&bound)->sin_port
                                               : ((struct sockaddr_in6 *)&bound)->sin6_port);
    close(fd);
    set_port(&ss, s->port);

    s->nloops = o->io_threads;
    s->loops = calloc((size_t)s->nloops, sizeof *s->loops);
    if (!s->loops) {
        free(s);
        return BS_ENOMEM;
    }
    for (int i = 0; i < s->nloops; i++) {
        pthread_mutex_init(&s->loops[i].mu, NULL);
        s->loops[i].wk.fd = -1;
    }
    pthread_mutex_init(&s->ip_mu, NULL);
    pthread_mutex_init(&s->pmu, NULL);
    pthread_cond_init(&s->pcv, NULL);
    s->have_pool = 1;
    s->workers = calloc((size_t)nw, sizeof *s->workers);
    if (!s->workers) rc = BS_ENOMEM;
    for (int i = 0; i < nw && !rc; i++) {
        rc = pthread_create(&s->workers[i], NULL, pool_main, s) ? BS_ENOMEM : 0;
        if (rc) BS_ERROR(LOGC, "cannot start handler thread %d of %d", i + 1, nw);
        else s->nworkers++;
    }
    for (int i = 0; i < s->nloops && !rc; i++) {
        srv_loop *lp = &s->loops[i];
        lp->srv = s;
        lp->idx = i;
        lp->stop_req = 1; /* until the loop runs: broadcasts are refused */
        rc = make_socket(&ss, sslen, 1, &fd);
        if (rc) {
            BS_ERROR(LOGC, "cannot listen on %s:%d: %s", o->address, s->port, strerror(-rc));
            break;
        }
        rc = loop_setup(lp, fd);
        if (rc) BS_ERROR(LOGC, "loop %d setup: %s", i, uv_strerror(rc));
    }
    for (int i = 0; i < s->nloops && !rc; i++) s->loops[i].stop_req = 0;
    for (int i = 0; i < s->nloops && !rc; i++) {
        rc = uv_thread_create(&s->loops[i].thread, loop_thread, &s->loops[i]);
        if (rc) BS_ERROR(LOGC, "cannot start loop thread: %s", uv_strerror(rc));
        else s->loops[i].have_thread = 1;
    }
    if (rc) {
        s->stopped = 0;
        bs_server_free(s);
        return rc;
    }
    BS_INFO(LOGC, "listening for CQL clients on %s:%d (%d loop%s)", o->address, s->port, s->nloops,
            s->nloops == 1 ? "" : "s");
    *out = s;
    return 0;
}

void bs_server_stop(bs_server *s) {
    if (!s || s->stopped) return;
    for (int i = 0; i < s->nloops; i++) {
        srv_loop *lp = &s->loops[i];
        pthread_mutex_lock(&lp->mu);
        lp->stop_req = 1;
        if (lp->have_thread) loop_wake(lp);
        pthread_mutex_unlock(&lp->mu);
    }
    for (int i = 0; i < s->nloops; i++) loop_dispose(&s->loops[i]);
    /* the loops are gone, so every work item came back: the workers are
     * idle */
    pthread_mutex_lock(&s->pmu);
    s->pstop = 1;
    pthread_cond_broadcast(&s->pcv);
    pthread_mutex_unlock(&s->pmu);
    for (int i = 0; i < s->nworkers; i++) pthread_join(s->workers[i], NULL);
    s->nworkers = 0;
    /* closed last: bs_server_work_done writes the eventfd under the
     * loop's mu with the item it hands over, so once the loops ended on
     * their last item no write to it can follow */
    for (int i = 0; i < s->nloops; i++) bs_wake_close(&s->loops[i].wk);
    s->stopped = 1;
    BS_INFO(LOGC, "CQL server on port %d stopped", s->port);
}

void bs_server_free(bs_server *s) {
    if (!s) return;
    bs_server_stop(s);
    for (int i = 0; s->loops && i < s->nloops; i++) pthread_mutex_destroy(&s->loops[i].mu);
    if (s->loops) pthread_mutex_destroy(&s->ip_mu);
    if (s->have_pool) {
        pthread_mutex_destroy(&s->pmu);
        pthread_cond_destroy(&s->pcv);
    }
    free(s->workers);
    for (int i = 0; i < IP_BUCKETS; i++)
        while (s->ipt[i]) {
            ipent *e = s->ipt[i];
            s->ipt[i] = e->next;
            free(e);
        }
    free(s->loops);
    free(s);
}
