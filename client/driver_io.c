/*
 * driver_io.c - the client's I/O thread: connections, per-node pools,
 * request dispatch, timeouts, retries with backoff, re-prepare.
 *
 * One thread per client runs a poll() loop over a self-pipe (wakes it for
 * submitted requests and close) and every connection's socket.  All state
 * below belongs to that thread; user threads only push requests onto the
 * submit queue under c->mu.
 *
 * Connection life: CONNECTING (non-blocking connect) -> STARTUP (STARTUP
 * sent on stream 0, which is reserved for it; COMPRESSION=lz4 when asked)
 * -> READY.  Requests that arrive before READY, or when all streams are
 * busy, wait in the connection's wait queue.  A connection whose USEd
 * keyspace is older than the client's (c->ks_version) first sends
 * `USE "ks"` and holds user requests until it answers.
 *
 * Streams: 1..BS__MAX_STREAMS-1 per connection, a free stack.  When a
 * request times out its stream becomes an orphan: it is not reused until
 * the late answer arrives (which is then dropped), so a late answer can
 * never be taken for another request's.  A connection with more than half
 * of its streams orphaned is closed.
 *
 * A request (bs__req) is in exactly one place: the submit queue, a wait
 * queue (state WAITING, also on the `active` list), a stream slot
 * (INFLIGHT, on `active`), the `delayed` list (backoff before a retry), or
 * being completed.  `active` is scanned for deadlines only when the
 * earliest known deadline has passed (next_deadline_ns), so the loop is
 * O(1) per wakeup in the common case.
 *
 * Retry policy (user requests):
 *   - connect failure / connection closed before the request was sent:
 *     next host of the plan at once (it never reached a server);
 *   - Unavailable: the next host, once, without delay;
 *   - Read/WriteTimeout, Overloaded, IsBootstrapping, or the connection
 *     lost while in flight: only if the statement is idempotent and fewer
 *     than max_retries retries were made, after base*2^n ms (capped,
 *     times a random factor in [0.5, 1]) on the next host (wrapping);
 *   - UNPREPARED: PREPARE the text on the same connection, then resend
 *     (not counted as a retry; at most 3 times);
 *   - the client-side deadline (request timeout, covering the whole call)
 *     ends everything with BS_CLIENT_ETIMEOUT.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client/driver_int.h"

/* ------------------------------------------------------------- helpers */

int64_t bs__now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int bs__is_io_thread(bs_client *c) {
    return c->io_started && pthread_equal(pthread_self(), c->io);
}

void bs__wake(bs_client *c) {
    char b = 1;
    ssize_t n;
    do {
        n = write(c->wake_fd[1], &b, 1);
    } while (n < 0 && errno == EINTR);
    /* EAGAIN: the pipe is full, so the loop is awake anyway */
}

static uint64_t rng_next(bs_client *c) {
    /* xorshift64*: jitter only, not security */
    uint64_t x = c->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    c->rng = x;
    return x * 0x2545F4914F6CDD1DULL;
}

bs__req *bs__req_new(int type) {
    bs__req *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->type = type;
    r->stream = -1;
    bs__err_clear(&r->last_err);
    return r;
}

void bs__req_free(bs__req *r) {
    if (!r) return;
    bs_client_stmt_free(r->stmt);
    free(r->text);
    free(r->plan);
    free(r);
}

int bs__submit(bs_client *c, bs__req *r) {
    pthread_mutex_lock(&c->mu);
    if (c->closing) {
        pthread_mutex_unlock(&c->mu);
        bs__req_free(r);
        return BS_CLIENT_ECLOSED;
    }
    r->qnext = NULL;
    /* One wake per burst: a non-empty queue means the loop was already
     * woken (or is running: the I/O thread itself queued from a
     * callback, and it drains the queue before it polls again). */
    int wake = !c->submitq && !bs__is_io_thread(c);
    if (c->submitq_tail)
        c->submitq_tail->qnext = r;
    else
        c->submitq = r;
    c->submitq_tail = r;
    pthread_mutex_unlock(&c->mu);
    if (wake) bs__wake(c);
    return 0;
}

/* ---------------------------------------------------------- req lists */

static void list_add(bs__req **head, bs__req *r) {
    r->prev = NULL;
    r->next = *head;
    if (*head) (*head)->prev = r;
    *head = r;
}

static void list_del(bs__req **head, bs__req *r) {
    if (r->prev)
        r->prev->next = r->next;
    else if (*head == r)
        *head = r->next;
    if (r->next) r->next->prev = r->prev;
    r->next = r->prev = NULL;
}

static void activate(bs_client *c, bs__req *r) {
    list_add(&c->active, r);
    if (r->deadline_ns &&
        (!c->next_deadline_ns || r->deadline_ns < c->next_deadline_ns))
        c->next_deadline_ns = r->deadline_ns;
}

static void waitq_remove(bs__conn *cn, bs__req *r) {
    bs__req **pp = &cn->waitq;
    bs__req *prev = NULL;
    while (*pp && *pp != r) {
        prev = *pp;
        pp = &(*pp)->qnext;
    }
    if (!*pp) return;
    *pp = r->qnext;
    if (cn->waitq_tail == r) cn->waitq_tail = prev;
    r->qnext = NULL;
}

static void waitq_push(bs__conn *cn, bs__req *r) {
    r->qnext = NULL;
    if (cn->waitq_tail)
        cn->waitq_tail->qnext = r;
    else
        cn->waitq = r;
    cn->waitq_tail = r;
}

/* Takes r off whatever it is on (active list, wait queue, stream). */
static void detach(bs_client *c, bs__req *r) {
    if (r->state == BS__RS_WAITING) {
        if (r->conn) waitq_remove(r->conn, r);
        list_del(&c->active, r);
    } else if (r->state == BS__RS_INFLIGHT) {
        bs__conn *cn = r->conn;
        if (cn && r->stream > 0 && cn->streams[r->stream] == r) {
            cn->streams[r->stream] = NULL;
            cn->free_streams[cn->nfree++] = r->stream;
            cn->inflight--;
        }
        list_del(&c->active, r);
    } else if (r->state == BS__RS_DELAYED) {
        list_del(&c->delayed, r);
    }
    r->conn = NULL;
    r->stream = -1;
    r->state = BS__RS_NEW;
}

/* ----------------------------------------------------------- completion */

static void complete(bs_client *c, bs__req *r, bs_client_result *res,
                     const bs_proto_response *resp, int code,
                     bs_client_error *err);

static void fail(bs_client *c, bs__req *r, int code, const char *host,
                 const char *fmt, const char *detail) {
    bs_client_error e;
    bs__err_clear(&e);
    e.attempts = r->attempts;
    bs__err_set(&e, code, host, fmt, detail ? detail : "");
    complete(c, r, NULL, NULL, code, &e);
}

static void complete(bs_client *c, bs__req *r, bs_client_result *res,
                     const bs_proto_response *resp, int code,
                     bs_client_error *err) {
    detach(c, r);
    r->state = BS__RS_DONE;
    if (err) err->attempts = r->attempts;
    if (r->type == BS__REQ_USER) {
        bs_client_error ok;
        if (!err) {
            bs__err_clear(&ok);
            ok.attempts = r->attempts;
            err = &ok;
        }
        if (code) {
            bs_client_result_free(res);
            res = NULL;
        }
        r->ucb(res, err, r->ud);
    } else if (r->icb) {
        r->icb(c, r, resp, res, code, err);
    } else {
        bs_client_result_free(res);
    }
    bs__req_free(r);
}

/* -------------------------------------------------------------- encoding */

static uint16_t eff_cl(bs_client *c, const bs_client_stmt *s) {
    if (s->cl != BS__CL_DEFAULT) return s->cl;
    pthread_mutex_lock(&c->mu);
    uint16_t cl = c->cl;
    pthread_mutex_unlock(&c->mu);
    return cl;
}

static int vals_to_proto(bs_arena *a, const bs_client_stmt *s,
                         bs_proto_val **out, uint16_t *n) {
    *out = NULL;
    *n = (uint16_t)s->nvals;
    if (!s->nvals) return 0;
    bs_proto_val *v = bs_arena_alloc(a, s->nvals * sizeof *v);
    if (!v) return BS_ENOMEM;
    for (size_t i = 0; i < s->nvals; i++) {
        v[i].p = s->vals[i].p;
        v[i].len = s->vals[i].len;
    }
    *out = v;
    return 0;
}

static int encode_user(bs_client *c, bs__req *r, int16_t stream, bs_buf *out,
                       bs_proto_compression comp, bs_arena *a) {
    const bs_client_stmt *s = r->stmt;
    bs_proto_request q;
    memset(&q, 0, sizeof q);
    q.prelude.trace_request = s->tracing;
    if (s->kind == BS__STMT_BATCH) {
        q.opcode = BS_PROTO_OP_BATCH;
        bs_proto_batch *b = &q.u.batch;
        b->type = (uint8_t)s->batch_type;
        b->nstmts = (uint16_t)s->nchildren;
        b->stmts = bs_arena_calloc(a, (s->nchildren + 1) * sizeof *b->stmts);
        if (!b->stmts) return BS_ENOMEM;
        for (size_t i = 0; i < s->nchildren; i++) {
            const bs_client_stmt *ch = s->children[i];
            bs_proto_batch_stmt *bs = &b->stmts[i];
            if (ch->kind == BS__STMT_PREPARED) {
                bs->kind = 1;
                bs->id = bs__prepared_id(ch->prep, a);
                if (bs->id.len < 0) return BS_ENOMEM;
            } else {
                bs->kind = 0;
                bs->query = bs_proto_cstr(ch->query);
            }
            if (vals_to_proto(a, ch, &bs->values, &bs->nvalues))
                return BS_ENOMEM;
        }
        b->consistency = eff_cl(c, s);
        b->timestamp = s->timestamp;
        b->serial_consistency = BS_CL_SERIAL;
        if (s->serial_cl != BS__CL_DEFAULT) {
            b->flags |= BS_PROTO_QF_SERIAL_CONSISTENCY;
            b->serial_consistency = s->serial_cl;
        }
        return bs_proto_request_encode(out, stream, &q, comp);
    }
    bs_proto_params *p;
    if (s->kind == BS__STMT_PREPARED) {
        q.opcode = BS_PROTO_OP_EXECUTE;
        q.u.execute.id = bs__prepared_id(s->prep, a);
        if (q.u.execute.id.len < 0) return BS_ENOMEM;
        p = &q.u.execute.params;
    } else {
        q.opcode = BS_PROTO_OP_QUERY;
        q.u.query.query = bs_proto_cstr(s->query);
        p = &q.u.query.params;
    }
    bs_proto_params_init(p);
    p->consistency = eff_cl(c, s);
    if (vals_to_proto(a, s, &p->values, &p->nvalues)) return BS_ENOMEM;
    if (s->nvals) p->flags |= BS_PROTO_QF_VALUES;
    int32_t ps =
        s->page_size == BS__PAGE_DEFAULT ? c->cfg.page_size : s->page_size;
    p->page_size = ps > 0 ? ps : -1;
    if (s->paging_state) {
        p->paging_state.p = s->paging_state;
        p->paging_state.len = (int32_t)s->paging_len;
    }
    if (s->serial_cl != BS__CL_DEFAULT) {
        p->flags |= BS_PROTO_QF_SERIAL_CONSISTENCY;
        p->serial_consistency = s->serial_cl;
    } else if (c->cfg.serial_cl != BS_CL_SERIAL) {
        p->flags |= BS_PROTO_QF_SERIAL_CONSISTENCY;
        p->serial_consistency = c->cfg.serial_cl;
    }
    p->timestamp = s->timestamp;
    return bs_proto_request_encode(out, stream, &q, comp);
}

static int encode_req(bs_client *c, bs__req *r, int16_t stream, bs_buf *out,
                      bs_proto_compression comp) {
    bs_arena a;
    bs_arena_init(&a, 0);
    int rc;
    if (r->type == BS__REQ_USER) {
        rc = encode_user(c, r, stream, out, comp, &a);
    } else {
        bs_proto_request q;
        memset(&q, 0, sizeof q);
        if (r->type == BS__REQ_PREPARE) {
            q.opcode = BS_PROTO_OP_PREPARE;
            q.u.prepare.query = bs_proto_cstr(r->text);
        } else if (r->opcode == BS_PROTO_OP_REGISTER) {
            q.opcode = BS_PROTO_OP_REGISTER;
            q.u.reg.mask = BS_PROTO_EV_TOPOLOGY_CHANGE |
                           BS_PROTO_EV_STATUS_CHANGE |
                           BS_PROTO_EV_SCHEMA_CHANGE;
        } else {
            q.opcode = BS_PROTO_OP_QUERY;
            q.u.query.query = bs_proto_cstr(r->text);
            bs_proto_params_init(&q.u.query.params);
            q.u.query.params.consistency = BS_CL_ONE;
        }
        rc = bs_proto_request_encode(out, stream, &q, comp);
    }
    bs_arena_free(&a);
    return rc;
}

/* ------------------------------------------------------------ connections */

static void conn_free(bs__conn *cn) {
    if (cn->fd >= 0) close(cn->fd);
    bs_proto_decoder_free(cn->dec);
    bs_buf_free(&cn->out);
    bs_tls_free(cn->tls);
    bs_buf_free(&cn->tout);
    free(cn);
}

static int conn_flush(bs_client *c, bs__conn *cn);

static void conn_send_startup(bs_client *c, bs__conn *cn) {
    bs_proto_request q;
    memset(&q, 0, sizeof q);
    q.opcode = BS_PROTO_OP_STARTUP;
    bs_proto_strpair opts[2];
    opts[0].key = bs_proto_cstr("CQL_VERSION");
    opts[0].val = bs_proto_cstr("3.0.0");
    uint16_t n = 1;
    if (c->cfg.lz4) {
        opts[1].key = bs_proto_cstr("COMPRESSION");
        opts[1].val = bs_proto_cstr("lz4");
        n = 2;
    }
    q.u.startup.options.n = n;
    q.u.startup.options.items = opts;
    if (bs_proto_request_encode(&cn->out, 0, &q, BS_PROTO_COMP_NONE)) {
        bs__conn_close(c, cn, BS_ENOMEM, "out of memory");
        return;
    }
    cn->state = BS__CS_STARTUP;
    conn_flush(c, cn);
}

bs__conn *bs__conn_open(bs_client *c, bs__host *h, int is_control) {
    bs__conn *cn = calloc(1, sizeof *cn);
    if (!cn) return NULL;
    cn->fd = -1;
    cn->host = h;
    cn->is_control = is_control;
    bs_proto_header_opts ho = {0, 1};
    if (bs_proto_decoder_new(&ho, &cn->dec)) {
        free(cn);
        return NULL;
    }
    cn->nfree = 0;
    for (int i = BS__MAX_STREAMS - 1; i >= 1; i--)
        cn->free_streams[cn->nfree++] = (int16_t)i;
    cn->fd =
        socket(h->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (cn->fd < 0) {
        conn_free(cn);
        return NULL;
    }
    int one = 1;
    setsockopt(cn->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    /* TLS: the ClientHello waits in tout until the TCP connect is done;
     * STARTUP waits in the session until the handshake is */
    if (c->tls && (bs_tls_new(c->tls, c->cfg.ssl_verify ? h->addr : NULL, &cn->tls) ||
                   bs_tls_output(cn->tls, &cn->tout))) {
        conn_free(cn);
        return NULL;
    }
    cn->connect_deadline_ns =
        bs__now_ns() + (int64_t)c->cfg.connect_timeout_ms * 1000000LL;
    cn->state = BS__CS_CONNECTING;
    cn->next = c->conns;
    c->conns = cn;
    int rc = connect(cn->fd, (struct sockaddr *)&h->sa, h->salen);
    if (rc == 0) {
        conn_send_startup(c, cn);
    } else if (errno != EINPROGRESS) {
        /* immediate failure: report through the normal close path */
        bs__conn_close(c, cn, BS_CLIENT_ECONNREFUSED, strerror(errno));
    }
    return cn;
}

/* 1 when bytes wait for the socket. */
static int conn_pending(const bs__conn *cn) {
    return cn->out_off < cn->out.len || cn->tout_off < cn->tout.len;
}

/* TLS: the plaintext of `out` through the session, then `tout` (its
 * ciphertext) to the socket as far as it takes it. */
static int conn_flush_tls(bs_client *c, bs__conn *cn) {
    if (cn->out_off < cn->out.len) {
        int rc = bs_tls_write(cn->tls, cn->out.data + cn->out_off, cn->out.len - cn->out_off);
        cn->out.len = 0;
        cn->out_off = 0;
        if (!rc) rc = bs_tls_output(cn->tls, &cn->tout);
        if (rc) {
            char why[300];
            snprintf(why, sizeof why, "TLS: %s", bs_tls_error(cn->tls));
            bs__conn_close(c, cn, BS_CLIENT_ECONNLOST, why);
            return BS_CLIENT_ECONNLOST;
        }
    }
    while (cn->tout_off < cn->tout.len) {
        ssize_t n = send(cn->fd, cn->tout.data + cn->tout_off, cn->tout.len - cn->tout_off,
                         MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
            bs__conn_close(c, cn, BS_CLIENT_ECONNLOST, strerror(errno));
            return BS_CLIENT_ECONNLOST;
        }
        cn->tout_off += (size_t)n;
    }
    cn->tout.len = 0;
    cn->tout_off = 0;
    return 0;
}

static int conn_flush(bs_client *c, bs__conn *cn) {
    if (cn->tls) return conn_flush_tls(c, cn);
    while (cn->out_off < cn->out.len) {
        ssize_t n = send(cn->fd, cn->out.data + cn->out_off,
                         cn->out.len - cn->out_off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
            bs__conn_close(c, cn, BS_CLIENT_ECONNLOST, strerror(errno));
            return BS_CLIENT_ECONNLOST;
        }
        cn->out_off += (size_t)n;
    }
    cn->out.len = 0;
    cn->out_off = 0;
    return 0;
}

static void try_host(bs_client *c, bs__req *r);
static void conn_submit(bs_client *c, bs__conn *cn, bs__req *r);

static void on_use_done(bs_client *c, bs__req *r, const bs_proto_response *resp,
                        bs_client_result *res, int code, bs_client_error *err) {
    (void)resp;
    (void)err;
    (void)code;
    bs__conn *cn = r->fixed;
    bs_client_result_free(res);
    if (!cn || cn->state == BS__CS_CLOSED) return;
    cn->use_pending = 0;
    cn->ks_version = (uint64_t)(uintptr_t)r->iud;
    /* flush waiters (each re-checks the keyspace) */
    bs__req *q = cn->waitq;
    cn->waitq = cn->waitq_tail = NULL;
    while (q) {
        bs__req *nx = q->qnext;
        q->qnext = NULL;
        list_del(&c->active, q);
        q->state = BS__RS_NEW;
        q->conn = NULL;
        conn_submit(c, cn, q);
        q = nx;
    }
}

/* Sends r on cn now (stream available, conn READY).  0 or error (r is
 * then untouched). */
static int conn_send(bs_client *c, bs__conn *cn, bs__req *r) {
    int16_t stream = cn->free_streams[--cn->nfree];
    size_t mark = cn->out.len;
    int rc = encode_req(c, r, stream, &cn->out,
                        cn->comp ? BS_PROTO_COMP_LZ4 : BS_PROTO_COMP_NONE);
    if (rc) {
        cn->out.len = mark;
        cn->free_streams[cn->nfree++] = stream;
        return rc;
    }
    cn->streams[stream] = r;
    cn->inflight++;
    r->conn = cn;
    r->stream = stream;
    r->state = BS__RS_INFLIGHT;
    r->attempts++;
    activate(c, r);
    return 0;
}

static int needs_use(bs_client *c, bs__conn *cn, bs__req *r) {
    if (r->type == BS__REQ_RAW) return 0;
    return c->keyspace[0] && cn->ks_version != c->ks_version;
}

static void conn_submit(bs_client *c, bs__conn *cn, bs__req *r) {
    if (cn->state == BS__CS_READY && !cn->use_pending && needs_use(c, cn, r) &&
        cn->nfree > 0) {
        bs__req *u = bs__req_new(BS__REQ_RAW);
        char q[300];
        snprintf(q, sizeof q, "USE \"%s\"", c->keyspace);
        if (u && (u->text = strdup(q))) {
            u->opcode = BS_PROTO_OP_QUERY;
            u->fixed = cn;
            u->icb = on_use_done;
            u->iud = (void *)(uintptr_t)c->ks_version;
            u->deadline_ns =
                bs__now_ns() + (int64_t)c->cfg.request_timeout_ms * 1000000LL;
            if (conn_send(c, cn, u) == 0) {
                cn->use_pending = 1;
                conn_flush(c, cn);
            } else {
                bs__req_free(u);
            }
        } else {
            bs__req_free(u);
        }
    }
    if (cn->state != BS__CS_READY || cn->nfree == 0 ||
        (cn->use_pending && r->type != BS__REQ_RAW)) {
        r->conn = cn;
        r->state = BS__RS_WAITING;
        waitq_push(cn, r);
        activate(c, r);
        return;
    }
    int rc = conn_send(c, cn, r);
    if (rc) {
        if (r->type == BS__REQ_USER || r->type == BS__REQ_PREPARE) {
            fail(c, r, rc, cn->host->key, "cannot encode request: %s",
                 bs_client_strerror(rc));
        } else {
            fail(c, r, rc, cn->host->key, "%s", bs_client_strerror(rc));
        }
        return;
    }
    /* no send here: the loop flushes every connection with output once
     * per pass, so requests queued together leave in one send() */
}

static void conn_drain_waitq(bs_client *c, bs__conn *cn) {
    while (cn->waitq && cn->state == BS__CS_READY && cn->nfree > 0 &&
           !cn->use_pending) {
        bs__req *q = cn->waitq;
        cn->waitq = q->qnext;
        if (!cn->waitq) cn->waitq_tail = NULL;
        q->qnext = NULL;
        list_del(&c->active, q);
        q->state = BS__RS_NEW;
        q->conn = NULL;
        conn_submit(c, cn, q);
    }
}

static int64_t backoff_ns(bs_client *c, int retries) {
    int64_t ms = c->cfg.retry_base_ms;
    for (int i = 0; i < retries && ms < c->cfg.retry_max_ms; i++)
        ms *= 2;
    if (ms > c->cfg.retry_max_ms) ms = c->cfg.retry_max_ms;
    /* jitter: [0.5, 1] */
    double f = 0.5 + (double)(rng_next(c) >> 11) / (double)(1ULL << 53) / 2;
    return (int64_t)((double)ms * f * 1e6);
}

/* Schedules a retry of r on the next host after a backoff, or fails it
 * with err when the deadline does not leave room. */
static void retry_later(bs_client *c, bs__req *r, bs_client_error *err) {
    detach(c, r);
    int64_t d = backoff_ns(c, r->retries);
    r->retries++;
    r->last_err = *err;
    int64_t now = bs__now_ns();
    if (now + d >= r->deadline_ns) {
        complete(c, r, NULL, NULL, err->code, err);
        return;
    }
    r->plan_pos++;
    if (r->plan_pos >= r->nplan) r->plan_pos = 0;
    r->wake_ns = now + d;
    r->state = BS__RS_DELAYED;
    list_add(&c->delayed, r);
}

static int retryable_user(bs_client *c, bs__req *r) {
    return r->type == BS__REQ_USER && bs__stmt_idempotent(r->stmt) &&
           r->retries < c->cfg.max_retries;
}

/* The connection went away with r on it (waiting or in flight). */
static void req_conn_lost(bs_client *c, bs__req *r, int sent, int code,
                          const char *host, const char *why) {
    bs_client_error e;
    bs__err_clear(&e);
    bs__err_set(&e, sent ? BS_CLIENT_ECONNLOST : code, host, "%s: %s",
                sent ? "connection lost" : "cannot connect", why);
    if (r->type != BS__REQ_USER || r->parent) {
        if (r->type == BS__REQ_PREPARE && !r->fixed && !sent) {
            /* routed PREPARE (bs_client_prepare): next host */
            detach(c, r);
            r->last_err = e;
            r->plan_pos++;
            try_host(c, r);
            return;
        }
        complete(c, r, NULL, NULL, e.code, &e);
        return;
    }
    if (!sent) {
        detach(c, r);
        r->last_err = e;
        r->plan_pos++;
        try_host(c, r);
        return;
    }
    if (retryable_user(c, r)) {
        retry_later(c, r, &e);
        return;
    }
    complete(c, r, NULL, NULL, e.code, &e);
}

void bs__conn_close(bs_client *c, bs__conn *cn, int code, const char *why) {
    if (cn->state == BS__CS_CLOSED) return;
    int was_ready = cn->state == BS__CS_READY;
    cn->state = BS__CS_CLOSED;
    if (cn->fd >= 0) {
        close(cn->fd);
        cn->fd = -1;
    }
    bs__host *h = cn->host;
    if (h->pool) {
        for (int i = 0; i < c->cfg.pool_size; i++)
            if (h->pool[i] == cn) h->pool[i] = NULL;
    }
    if (!was_ready) {
        /* never got to READY: the host is unreachable for now */
        pthread_mutex_lock(&c->mu);
        h->up = 0;
        h->fail_count++;
        int64_t back = 100LL << (h->fail_count < 6 ? h->fail_count : 6);
        h->next_try_ns = bs__now_ns() + back * 1000000LL;
        pthread_mutex_unlock(&c->mu);
    }
    int lost_code = code == BS_CLIENT_ECONNTIMEOUT ? code
                    : was_ready                    ? BS_CLIENT_ECONNLOST
                                                   : BS_CLIENT_ECONNREFUSED;
    if (cn->is_control && c->ready == 0) {
        /* remembered for bs_client_connect's answer */
        pthread_mutex_lock(&c->mu);
        bs__err_set(&c->connect_err,
                    was_ready ? BS_CLIENT_ECONNLOST : lost_code, h->key,
                    "%s: %s", h->key, why);
        pthread_mutex_unlock(&c->mu);
    }
    /* in-flight requests */
    for (int s = 1; s < BS__MAX_STREAMS; s++) {
        bs__req *r = cn->streams[s];
        if (!r) continue;
        cn->streams[s] = NULL;
        list_del(&c->active, r);
        r->state = BS__RS_NEW;
        r->conn = NULL;
        r->stream = -1;
        req_conn_lost(c, r, 1, lost_code, h->key, why);
    }
    /* waiting requests: never sent */
    bs__req *q = cn->waitq;
    cn->waitq = cn->waitq_tail = NULL;
    while (q) {
        bs__req *nx = q->qnext;
        q->qnext = NULL;
        list_del(&c->active, q);
        q->state = BS__RS_NEW;
        q->conn = NULL;
        req_conn_lost(c, q, 0, lost_code, h->key, why);
        q = nx;
    }
    if (cn == c->control) {
        c->control = NULL;
        bs__control_lost(c);
    }
}

/* A usable connection of h for a new request, opening one if the pool
 * has room.  NULL when none can be opened. */
static bs__conn *pick_conn(bs_client *c, bs__host *h) {
    int n = c->cfg.pool_size;
    if (!h->pool) {
        h->pool = calloc((size_t)n, sizeof *h->pool);
        if (!h->pool) return NULL;
    }
    bs__conn *best = NULL, *pending = NULL;
    int empty = -1;
    for (int i = 0; i < n; i++) {
        bs__conn *cn = h->pool[i];
        if (!cn) {
            if (empty < 0) empty = i;
            continue;
        }
        if (cn->state == BS__CS_READY) {
            if (!best || (cn->nfree > 0 && best->nfree == 0) ||
                ((cn->nfree > 0) == (best->nfree > 0) &&
                 cn->inflight < best->inflight))
                best = cn;
        } else if (!pending) {
            pending = cn;
        }
    }
    if (empty >= 0 && (!best || best->inflight > 0)) {
        bs__conn *cn = bs__conn_open(c, h, 0);
        if (cn && cn->state != BS__CS_CLOSED) {
            h->pool[empty] = cn;
            if (!best && !pending) pending = cn;
        }
    }
    if (best && best->nfree > 0) return best;
    if (pending) return pending;
    return best; /* out of streams: wait on it */
}

void bs__pool_fill(bs_client *c, bs__host *h) {
    int n = c->cfg.pool_size;
    if (!h->pool && !(h->pool = calloc((size_t)n, sizeof *h->pool))) return;
    for (int i = 0; i < n; i++) {
        if (h->pool[i]) continue;
        bs__conn *cn = bs__conn_open(c, h, 0);
        if (!cn || cn->state == BS__CS_CLOSED) return;
        h->pool[i] = cn;
    }
}

void bs__pool_close(bs_client *c, bs__host *h) {
    if (!h->pool) return;
    for (int i = 0; i < c->cfg.pool_size; i++)
        if (h->pool[i])
            bs__conn_close(c, h->pool[i], BS_CLIENT_ECONNLOST,
                           "host left the cluster");
}

/* Sends r to the host at plan_pos, or the next one that can take it. */
static void try_host(bs_client *c, bs__req *r) {
    while (r->plan_pos < r->nplan) {
        bs__host *h = r->plan[r->plan_pos];
        if (!h->removed) {
            bs__conn *cn = pick_conn(c, h);
            if (cn && cn->state != BS__CS_CLOSED) {
                r->cur_host = h;
                conn_submit(c, cn, r);
                return;
            }
        }
        r->plan_pos++;
    }
    if (r->last_err.code) {
        bs_client_error e = r->last_err;
        if (e.code == BS_CLIENT_ECONNREFUSED ||
            e.code == BS_CLIENT_ECONNTIMEOUT) {
            char msg[sizeof e.message], host[sizeof e.host];
            memcpy(msg, e.message, sizeof msg);
            memcpy(host, e.host, sizeof host);
            bs__err_set(&e, BS_CLIENT_ENOHOST, host,
                        "no host available (last: %.400s)", msg);
        }
        complete(c, r, NULL, NULL, e.code, &e);
        return;
    }
    fail(c, r, BS_CLIENT_ENOHOST, NULL, "no host available%s", "");
}

void bs__complete(bs_client *c, bs__req *r, bs_client_result *res, int code,
                  bs_client_error *err) {
    complete(c, r, res, NULL, code, err);
}

void bs__dispatch_later(bs_client *c, bs__req *r, int64_t delay_ns) {
    r->wake_ns = bs__now_ns() + delay_ns;
    r->state = BS__RS_DELAYED;
    list_add(&c->delayed, r);
}

void bs__dispatch(bs_client *c, bs__req *r) {
    int64_t now = bs__now_ns();
    if (r->fixed_control) {
        r->fixed = c->control;
        if (!r->fixed) {
            fail(c, r, BS_CLIENT_ECONNLOST, NULL, "no control connection%s",
                 "");
            return;
        }
    }
    if (!r->start_ns) r->start_ns = now;
    if (!r->deadline_ns) {
        int ms = c->cfg.request_timeout_ms;
        if (r->stmt && r->stmt->timeout_ms > 0) ms = r->stmt->timeout_ms;
        r->deadline_ns = now + (int64_t)ms * 1000000LL;
    }
    if (r->fixed) {
        if (r->fixed->state == BS__CS_CLOSED) {
            fail(c, r, BS_CLIENT_ECONNLOST, r->fixed->host->key,
                 "connection closed%s", "");
            return;
        }
        conn_submit(c, r->fixed, r);
        return;
    }
    if (!r->plan) {
        int rc = bs__plan_build(c, r);
        if (rc) {
            fail(c, r, rc, NULL, "cannot route request: %s",
                 bs_client_strerror(rc));
            return;
        }
    }
    try_host(c, r);
}

/* ----------------------------------------------------------- responses */

static void on_reprepared(bs_client *c, bs__req *pr,
                          const bs_proto_response *resp, bs_client_result *res,
                          int code, bs_client_error *err) {
    (void)resp;
    bs__req *parent = pr->parent;
    bs_client_prepared *p = pr->iud;
    if (code) {
        bs_client_result_free(res);
        complete(c, parent, NULL, NULL, code, err);
        return;
    }
    const bs_proto_response *rr = bs__result_resp(res);
    if (rr->u.result.kind == BS_PROTO_RESULT_PREPARED) {
        const bs_proto_val *id = &rr->u.result.u.prepared.id;
        bs__prepared_set_id(p, id->p, id->len > 0 ? (size_t)id->len : 0);
    }
    bs_client_result_free(res);
    /* resend on the same host */
    parent->state = BS__RS_NEW;
    try_host(c, parent);
}

/* UNPREPARED for r: find the statement with that id, PREPARE it on the
 * same connection, resend r afterwards. */
static int reprepare(bs_client *c, bs__req *r, bs__conn *cn,
                     const bs_proto_error *e) {
    if (r->type != BS__REQ_USER || r->reprepares >= 3) return 0;
    bs_client_prepared *p = NULL;
    const bs_client_stmt *s = r->stmt;
    bs_arena a;
    bs_arena_init(&a, 0);
    if (s->kind == BS__STMT_PREPARED) {
        p = s->prep;
    } else if (s->kind == BS__STMT_BATCH) {
        for (size_t i = 0; i < s->nchildren && !p; i++) {
            bs_client_prepared *cp = s->children[i]->prep;
            if (!cp) continue;
            bs_proto_val id = bs__prepared_id(cp, &a);
            if (id.len == e->unprepared_id.len && id.len >= 0 &&
                (id.len == 0 ||
                 !memcmp(id.p, e->unprepared_id.p, (size_t)id.len)))
                p = cp;
        }
    }
    bs_arena_free(&a);
    if (!p) return 0;
    bs__req *pr = bs__req_new(BS__REQ_PREPARE);
    if (!pr || !(pr->text = strdup(p->query))) {
        bs__req_free(pr);
        return 0;
    }
    r->reprepares++;
    pr->parent = r;
    pr->iud = p;
    pr->icb = on_reprepared;
    pr->fixed = cn;
    pr->deadline_ns = r->deadline_ns;
    r->state = BS__RS_NEW; /* parked: owned by pr until it answers */
    bs__dispatch(c, pr);
    return 1;
}

static void handle_error(bs_client *c, bs__conn *cn, bs__req *r,
                         const bs_proto_error *pe) {
    bs_client_error e;
    bs__err_clear(&e);
    bs__err_from_proto(&e, pe, cn->host->key);
    e.attempts = r->attempts;
    if (r->type == BS__REQ_USER) {
        switch (pe->code) {
        case BS_PROTO_ERR_UNPREPARED:
            if (reprepare(c, r, cn, pe)) return;
            break;
        case BS_PROTO_ERR_UNAVAILABLE:
            if (!r->unavail_retried && r->nplan > 1) {
                r->unavail_retried = 1;
                r->last_err = e;
                r->plan_pos++;
                if (r->plan_pos < r->nplan) {
                    try_host(c, r);
                    return;
                }
            }
            break;
        case BS_PROTO_ERR_READ_TIMEOUT:
        case BS_PROTO_ERR_WRITE_TIMEOUT:
        case BS_PROTO_ERR_OVERLOADED:
        case BS_PROTO_ERR_IS_BOOTSTRAPPING:
            if (retryable_user(c, r)) {
                retry_later(c, r, &e);
                return;
            }
            break;
        default: break;
        }
    }
    complete(c, r, NULL, NULL, BS_CLIENT_ESERVER, &e);
}

/* AUTH_RESPONSE with the SASL PLAIN token "\0user\0password" on stream
 * 0 (compressed when negotiated: STARTUP has been processed). */
static int conn_send_auth(bs_client *c, bs__conn *cn) {
    size_t ul = strlen(c->cfg.user), pl = strlen(c->cfg.password);
    uint8_t *tok = malloc(ul + pl + 2);
    if (!tok) return BS_ENOMEM;
    tok[0] = 0;
    memcpy(tok + 1, c->cfg.user, ul);
    tok[1 + ul] = 0;
    memcpy(tok + 2 + ul, c->cfg.password, pl);
    bs_proto_request q;
    memset(&q, 0, sizeof q);
    q.opcode = BS_PROTO_OP_AUTH_RESPONSE;
    q.u.auth_response = bs_proto_bytes(tok, ul + pl + 2);
    int rc = bs_proto_request_encode(&cn->out, 0, &q,
                                     cn->comp ? BS_PROTO_COMP_LZ4 : BS_PROTO_COMP_NONE);
    memset(tok, 0, ul + pl + 2);
    free(tok);
    if (!rc) conn_flush(c, cn);
    return rc;
}

static void handle_startup_answer(bs_client *c, bs__conn *cn,
                                  const bs_proto_frame *f) {
    if (f->h.opcode == BS_PROTO_OP_AUTHENTICATE && c->cfg.user && !cn->authing) {
        if (c->cfg.lz4) {
            cn->comp = 1;
            bs_proto_decoder_set_compression(cn->dec, BS_PROTO_COMP_LZ4);
        }
        cn->authing = 1;
        if (conn_send_auth(c, cn)) bs__conn_close(c, cn, BS_ENOMEM, "out of memory");
        return;
    }
    if (f->h.opcode == BS_PROTO_OP_READY ||
        (cn->authing && f->h.opcode == BS_PROTO_OP_AUTH_SUCCESS)) {
        cn->state = BS__CS_READY;
        if (c->cfg.lz4 && !cn->comp) {
            cn->comp = 1;
            bs_proto_decoder_set_compression(cn->dec, BS_PROTO_COMP_LZ4);
        }
        pthread_mutex_lock(&c->mu);
        cn->host->up = 1;
        cn->host->fail_count = 0;
        pthread_mutex_unlock(&c->mu);
        if (cn->is_control) bs__control_ready(c, cn);
        conn_drain_waitq(c, cn);
        return;
    }
    char why[256] = "unexpected answer to STARTUP";
    if (f->h.opcode == BS_PROTO_OP_ERROR) {
        bs_arena a;
        bs_arena_init(&a, 0);
        bs_proto_response resp;
        bs_proto_rd rd;
        if (!bs_proto_response_decode(f, &a, &resp, &rd))
            snprintf(why, sizeof why, "%s: %.*s",
                     cn->authing ? "authentication failed" : "STARTUP refused",
                     (int)resp.u.error.message.len, resp.u.error.message.p);
        bs_arena_free(&a);
    } else if (f->h.opcode == BS_PROTO_OP_AUTHENTICATE) {
        snprintf(why, sizeof why,
                 "server requires authentication: give a user and a password");
    }
    bs__conn_close(c, cn, BS_CLIENT_ECONNREFUSED, why);
}

static void handle_frame(bs_client *c, bs__conn *cn, const bs_proto_frame *f) {
    int16_t st = f->h.stream;
    if (st == -1) {
        if (f->h.opcode == BS_PROTO_OP_EVENT) {
            bs_arena a;
            bs_arena_init(&a, 0);
            bs_proto_response resp;
            bs_proto_rd rd;
            if (!bs_proto_response_decode(f, &a, &resp, &rd))
                bs__handle_event(c, &resp.u.event);
            bs_arena_free(&a);
        }
        return;
    }
    if (st == 0 && cn->state == BS__CS_STARTUP) {
        handle_startup_answer(c, cn, f);
        return;
    }
    if (st <= 0 || st >= BS__MAX_STREAMS) return; /* not ours: ignore */
    if (cn->orphan[st]) {
        cn->orphan[st] = 0;
        cn->free_streams[cn->nfree++] = st;
        conn_drain_waitq(c, cn);
        return;
    }
    bs__req *r = cn->streams[st];
    if (!r) return;
    detach(c, r); /* frees the stream */
    if (f->h.opcode == BS_PROTO_OP_RESULT) {
        uint8_t *body = malloc(f->body_len ? f->body_len : 1);
        if (!body) {
            fail(c, r, BS_ENOMEM, cn->host->key, "out of memory%s", "");
            return;
        }
        memcpy(body, f->body, f->body_len);
        bs_client_result *res;
        char msg[200] = "";
        int rc = bs__result_new(body, f->body_len, f->h.flags, cn->host->key,
                                &res, msg, sizeof msg);
        if (rc) {
            fail(c, r, rc, cn->host->key, "bad RESULT: %s", msg);
            return;
        }
        if (r->type == BS__REQ_USER &&
            bs_client_result_kind(res) == BS_CLIENT_RESULT_SET_KEYSPACE) {
            const char *ks = bs_client_result_keyspace(res);
            pthread_mutex_lock(&c->mu);
            if (strcmp(ks, c->keyspace)) {
                bs__strlcpy(c->keyspace, sizeof c->keyspace, ks, strlen(ks));
                c->ks_version++;
            }
            /* this connection already uses it */
            cn->ks_version = c->ks_version;
            pthread_mutex_unlock(&c->mu);
        }
        if (r->type == BS__REQ_USER &&
            bs_client_result_kind(res) == BS_CLIENT_RESULT_SCHEMA_CHANGE &&
            c->nhosts > 1) {
            bs__schema_agreement(c, r, res, cn);
            if (cn->state == BS__CS_READY) conn_drain_waitq(c, cn);
            return;
        }
        complete(c, r, res, NULL, 0, NULL);
    } else if (f->h.opcode == BS_PROTO_OP_ERROR) {
        bs_arena a;
        bs_arena_init(&a, 0);
        bs_proto_response resp;
        bs_proto_rd rd;
        if (bs_proto_response_decode(f, &a, &resp, &rd)) {
            fail(c, r, BS_CLIENT_EPROTO, cn->host->key, "bad ERROR: %s",
                 rd.msg);
        } else {
            handle_error(c, cn, r, &resp.u.error);
        }
        bs_arena_free(&a);
    } else if (f->h.opcode == BS_PROTO_OP_READY) {
        bs_proto_response resp;
        memset(&resp, 0, sizeof resp);
        resp.opcode = BS_PROTO_OP_READY;
        complete(c, r, NULL, &resp, 0, NULL);
    } else {
        fail(c, r, BS_CLIENT_EPROTO, cn->host->key, "unexpected %s answer",
             bs_proto_opcode_name(f->h.opcode));
    }
    if (cn->state == BS__CS_READY) conn_drain_waitq(c, cn);
}

/* The frames complete in the decoder.  0, or -1 when cn was closed. */
static int conn_frames(bs_client *c, bs__conn *cn) {
    for (;;) {
        bs_proto_frame f;
        int rc = bs_proto_decoder_next(cn->dec, &f);
        if (rc == BS_EAGAIN) return 0;
        if (rc) {
            char why[300];
            snprintf(why, sizeof why, "bad frame from server: %s",
                     bs_proto_decoder_errmsg(cn->dec));
            bs__conn_close(c, cn, BS_CLIENT_EPROTO, why);
            return -1;
        }
        handle_frame(c, cn, &f);
        if (cn->state == BS__CS_CLOSED) return -1;
    }
}

/* TLS: ciphertext from the socket through the session into the decoder;
 * then the frames, then whatever the session has to send (handshake). */
static void conn_readable_tls(bs_client *c, bs__conn *cn) {
    uint8_t in[16384];
    for (;;) {
        ssize_t n = recv(cn->fd, in, sizeof in, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            bs__conn_close(c, cn, BS_CLIENT_ECONNLOST, strerror(errno));
            return;
        }
        if (n == 0) {
            bs__conn_close(c, cn, BS_CLIENT_ECONNLOST,
                           bs_tls_ready(cn->tls) ? "closed by the server"
                                                 : "closed by the server during the TLS "
                                                   "handshake (TLS not enabled there?)");
            return;
        }
        int rc = bs_tls_feed(cn->tls, in, (size_t)n);
        for (;;) {
            uint8_t *p;
            size_t cap, got = 0;
            if (!rc && bs_proto_decoder_wbuf(cn->dec, 65536, &p, &cap)) rc = BS_ENOMEM;
            if (!rc) rc = bs_tls_read(cn->tls, p, cap, &got);
            if (rc) {
                char why[300];
                snprintf(why, sizeof why, "TLS: %s",
                         rc == BS_ENOMEM ? "out of memory" : bs_tls_error(cn->tls));
                bs__conn_close(c, cn, rc == BS_EAUTH ? BS_CLIENT_ECONNREFUSED
                                                     : BS_CLIENT_ECONNLOST, why);
                return;
            }
            if (!got) break;
            bs_proto_decoder_commit(cn->dec, got);
        }
        if (conn_frames(c, cn)) return;
        if ((size_t)n < sizeof in) break;
    }
    if (bs_tls_output(cn->tls, &cn->tout) == 0) conn_flush(c, cn);
}

static void conn_readable(bs_client *c, bs__conn *cn) {
    if (cn->tls) {
        conn_readable_tls(c, cn);
        return;
    }
    for (;;) {
        uint8_t *p;
        size_t cap;
        if (bs_proto_decoder_wbuf(cn->dec, 65536, &p, &cap)) {
            bs__conn_close(c, cn, BS_ENOMEM, "out of memory");
            return;
        }
        ssize_t n = recv(cn->fd, p, cap, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            bs__conn_close(c, cn, BS_CLIENT_ECONNLOST, strerror(errno));
            return;
        }
        if (n == 0) {
            bs__conn_close(c, cn, BS_CLIENT_ECONNLOST, "closed by the server");
            return;
        }
        bs_proto_decoder_commit(cn->dec, (size_t)n);
        for (;;) {
            bs_proto_frame f;
            int rc = bs_proto_decoder_next(cn->dec, &f);
            if (rc == BS_EAGAIN) break;
            if (rc) {
                char why[300];
                snprintf(why, sizeof why, "bad frame from server: %s",
                         bs_proto_decoder_errmsg(cn->dec));
                bs__conn_close(c, cn, BS_CLIENT_EPROTO, why);
                return;
            }
            handle_frame(c, cn, &f);
            if (cn->state == BS__CS_CLOSED) return;
        }
        if ((size_t)n < cap) break;
    }
}

static void conn_writable(bs_client *c, bs__conn *cn) {
    if (cn->state == BS__CS_CONNECTING) {
        int err = 0;
        socklen_t el = sizeof err;
        getsockopt(cn->fd, SOL_SOCKET, SO_ERROR, &err, &el);
        if (err) {
            bs__conn_close(c, cn, BS_CLIENT_ECONNREFUSED, strerror(err));
            return;
        }
        conn_send_startup(c, cn);
        return;
    }
    conn_flush(c, cn);
}

/* ------------------------------------------------------------- timers */

static void check_deadlines(bs_client *c, int64_t now) {
    if (c->next_deadline_ns && now >= c->next_deadline_ns) {
        c->next_deadline_ns = 0;
        bs__req *r = c->active;
        while (r) {
            bs__req *nx = r->next;
            if (r->deadline_ns && r->deadline_ns <= now) {
                bs__conn *cn = r->conn;
                const char *hk = cn ? cn->host->key : NULL;
                if (r->state == BS__RS_INFLIGHT && cn && r->stream > 0) {
                    /* keep the stream until the late answer comes */
                    cn->streams[r->stream] = NULL;
                    cn->orphan[r->stream] = 1;
                    cn->inflight--;
                    list_del(&c->active, r);
                    r->state = BS__RS_NEW;
                    r->conn = NULL;
                    r->stream = -1;
                    int norph = 0;
                    for (int s = 1; s < BS__MAX_STREAMS; s++)
                        norph += cn->orphan[s];
                    if (norph > BS__MAX_STREAMS / 2) {
                        /* complete first so the close does not see r */
                        fail(c, r, BS_CLIENT_ETIMEOUT, hk,
                             "request timed out%s", "");
                        bs__conn_close(c, cn, BS_CLIENT_ECONNLOST,
                                       "too many timed-out requests");
                        r = c->active; /* list changed: rescan */
                        continue;
                    }
                }
                char hb[80] = "";
                if (hk) bs__strlcpy(hb, sizeof hb, hk, strlen(hk));
                fail(c, r, BS_CLIENT_ETIMEOUT, hb[0] ? hb : NULL,
                     "request timed out%s", " (client side)");
                r = c->active; /* completion may have changed the list */
                continue;
            }
            if (r->deadline_ns &&
                (!c->next_deadline_ns || r->deadline_ns < c->next_deadline_ns))
                c->next_deadline_ns = r->deadline_ns;
            r = nx;
        }
    }
    /* delayed retries */
    bs__req *r = c->delayed;
    while (r) {
        bs__req *nx = r->next;
        if (r->wake_ns <= now) {
            list_del(&c->delayed, r);
            r->state = BS__RS_NEW;
            if (r->fixed_control)
                bs__dispatch(c, r);
            else
                try_host(c, r);
            nx = c->delayed; /* may have changed */
        }
        r = nx;
    }
    /* connect timeouts */
    for (bs__conn *cn = c->conns; cn; cn = cn->next) {
        if ((cn->state == BS__CS_CONNECTING || cn->state == BS__CS_STARTUP) &&
            now >= cn->connect_deadline_ns)
            bs__conn_close(c, cn, BS_CLIENT_ECONNTIMEOUT, "connect timed out");
    }
}

static int64_t next_timer(bs_client *c, int64_t now) {
    int64_t t = now + 1000000000LL; /* at least once a second */
    if (c->next_deadline_ns && c->next_deadline_ns < t) t = c->next_deadline_ns;
    for (bs__req *r = c->delayed; r; r = r->next)
        if (r->wake_ns < t) t = r->wake_ns;
    for (bs__conn *cn = c->conns; cn; cn = cn->next)
        if ((cn->state == BS__CS_CONNECTING || cn->state == BS__CS_STARTUP) &&
            cn->connect_deadline_ns < t)
            t = cn->connect_deadline_ns;
    if (!c->control && c->control_retry_ns && c->control_retry_ns < t)
        t = c->control_retry_ns;
    if (c->refresh_wanted && c->refresh_at_ns < t) t = c->refresh_at_ns;
    if (c->ticker_run && c->ticker_next_ns < t) t = c->ticker_next_ns;
    return t;
}

/* bs_client_set_ticker: takes a new setting (under mu) and runs the
 * ticker when due.  Its requests land in submitq, drained right after. */
static void run_ticker(bs_client *c, uint64_t gen, int (*fn)(void *), void *ud, int64_t every) {
    if (gen != c->ticker_seen_gen) {
        c->ticker_seen_gen = gen;
        c->ticker_run = fn;
        c->ticker_run_ud = ud;
        c->ticker_every_ns = every;
        c->ticker_next_ns = bs__now_ns();
    }
    if (!c->ticker_run) return;
    int64_t now = bs__now_ns();
    if (now < c->ticker_next_ns) return;
    /* the next tick a period after this one, never in the past (a late
     * loop does not run the ticker several times in a row) */
    c->ticker_next_ns += c->ticker_every_ns;
    if (c->ticker_next_ns <= now) c->ticker_next_ns = now + c->ticker_every_ns;
    if (c->ticker_run(c->ticker_run_ud)) c->ticker_run = NULL;
}

/* ------------------------------------------------------------ the loop */

static void sweep_closed(bs_client *c) {
    bs__conn **pp = &c->conns;
    while (*pp) {
        bs__conn *cn = *pp;
        if (cn->state == BS__CS_CLOSED) {
            *pp = cn->next;
            conn_free(cn);
        } else {
            pp = &cn->next;
        }
    }
}

static void shutdown_all(bs_client *c) {
    /* requests not yet taken by the loop */
    pthread_mutex_lock(&c->mu);
    bs__req *q = c->submitq;
    c->submitq = c->submitq_tail = NULL;
    pthread_mutex_unlock(&c->mu);
    while (q) {
        bs__req *nx = q->qnext;
        q->qnext = NULL;
        fail(c, q, BS_CLIENT_ECLOSED, NULL, "client closed%s", "");
        q = nx;
    }
    while (c->delayed)
        fail(c, c->delayed, BS_CLIENT_ECLOSED, NULL, "client closed%s", "");
    /* orphaned re-prepare parents are completed through their PREPARE */
    while (c->active) {
        bs__req *r = c->active;
        fail(c, r, BS_CLIENT_ECLOSED, NULL, "client closed%s", "");
    }
    for (bs__conn *cn = c->conns; cn; cn = cn->next) {
        if (cn->state != BS__CS_CLOSED) {
            cn->state = BS__CS_CLOSED;
            if (cn->fd >= 0) close(cn->fd);
            cn->fd = -1;
        }
    }
    sweep_closed(c);
}

void *bs__io_main(void *arg) {
    bs_client *c = arg;
    struct pollfd *pfds = NULL;
    bs__conn **pconns = NULL;
    size_t pcap = 0;
    for (;;) {
        pthread_mutex_lock(&c->mu);
        uint64_t tgen = c->ticker_gen;
        int (*tfn)(void *) = c->ticker_fn;
        void *tud = c->ticker_ud;
        int64_t tevery = c->ticker_period_ns;
        int closing = c->closing;
        pthread_mutex_unlock(&c->mu);
        if (!closing) run_ticker(c, tgen, tfn, tud, tevery);
        pthread_mutex_lock(&c->mu);
        closing = c->closing;
        bs__req *q = c->submitq;
        c->submitq = c->submitq_tail = NULL;
        pthread_mutex_unlock(&c->mu);
        while (q) {
            bs__req *nx = q->qnext;
            q->qnext = NULL;
            if (closing)
                fail(c, q, BS_CLIENT_ECLOSED, NULL, "client closed%s", "");
            else
                bs__dispatch(c, q);
            q = nx;
        }
        if (closing) break;
        int64_t now = bs__now_ns();
        check_deadlines(c, now);
        bs__cluster_tick(c, now);
        sweep_closed(c);

        size_t n = 1;
        for (bs__conn *cn = c->conns; cn; cn = cn->next) {
            if (cn->state == BS__CS_READY && conn_pending(cn))
                conn_flush(c, cn);
            n++;
        }
        if (n > pcap) {
            size_t nc = n * 2;
            struct pollfd *np = realloc(pfds, nc * sizeof *np);
            if (np) pfds = np;
            bs__conn **nq = realloc(pconns, nc * sizeof *nq);
            if (nq) pconns = nq;
            if (!np || !nq) { /* out of memory: try again shortly */
                usleep(10000);
                continue;
            }
            pcap = nc;
        }
        pfds[0].fd = c->wake_fd[0];
        pfds[0].events = POLLIN;
        pfds[0].revents = 0;
        size_t k = 1;
        for (bs__conn *cn = c->conns; cn; cn = cn->next) {
            pfds[k].fd = cn->fd;
            pfds[k].events = POLLIN;
            if (cn->state == BS__CS_CONNECTING || conn_pending(cn))
                pfds[k].events |= POLLOUT;
            pfds[k].revents = 0;
            pconns[k] = cn;
            k++;
        }
        now = bs__now_ns();
        int64_t until = next_timer(c, now);
        /* whole milliseconds (rounded up) unless a ticker needs finer */
        int64_t wait = until <= now ? 0 : until - now;
        if (!c->ticker_run) wait = (wait + 999999) / 1000000 * 1000000;
        struct timespec ts = {(time_t)(wait / 1000000000), (long)(wait % 1000000000)};
        int rc = ppoll(pfds, k, &ts, NULL);
        if (rc < 0 && errno != EINTR) usleep(1000);
        if (rc <= 0) continue;
        if (pfds[0].revents & POLLIN) {
            char buf[256];
            while (read(c->wake_fd[0], buf, sizeof buf) > 0) {
            }
        }
        for (size_t i = 1; i < k; i++) {
            bs__conn *cn = pconns[i];
            short re = pfds[i].revents;
            if (!re || cn->state == BS__CS_CLOSED) continue;
            if (re & (POLLOUT | POLLERR | POLLHUP)) {
                if (cn->state == BS__CS_CONNECTING || (re & POLLOUT))
                    conn_writable(c, cn);
            }
            if (cn->state == BS__CS_CLOSED) continue;
            if (re & (POLLIN | POLLERR | POLLHUP)) {
                if (cn->state == BS__CS_CONNECTING) continue;
                conn_readable(c, cn);
            }
        }
    }
    shutdown_all(c);
    free(pfds);
    free(pconns);
    return NULL;
}
