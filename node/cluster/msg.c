/*
 * msg.c - internode messaging (see msg.h).
 *
 * Threading.  One messaging thread runs its own uv_loop; every handle
 * below belongs to it.  Other threads talk to it through a command list
 * (mutex) and a wake-up: bs_msg_send() encodes the frame on the caller's
 * thread (the codec is pure), queues a SEND command and wakes the loop.
 * The wake-up is an eventfd the loop polls, not a uv_async_t: libuv 1.44's
 * uv_async_send marks the handle busy, writes its eventfd, then marks it
 * done, and the loop spins (pause, then sched_yield) on a handle still
 * marked busy.  A sender preempted between the two marks - on a 2-core
 * machine, typically by the very loop its write woke up - made the
 * messaging thread spin until the sender ran again (perf during a
 * bootstrap stream: 3% of the machine in that spin, senders being the
 * nice-10 repair threads).  Here (common/wake.h) the sender writes the
 * eventfd only when no wake-up is on its way; the loop clears that before
 * taking the commands and never waits for a sender.
 * DESIGN.md wants one connection per event loop per peer; until the
 * coordinator needs that, a single messaging loop with one outbound
 * connection per peer is used: simple, and enough for gossip and schema.
 *
 * Connections.  Outbound: one `outconn` per peer, created on the first
 * send, states IDLE -> CONNECTING -> HANDSHAKE -> READY, on any failure
 * BACKOFF (timer, min..max ms doubling) and again CONNECTING.  Messages
 * wait in a bounded per-peer queue (queue_max; a send beyond it is
 * dropped and counted, its callback gets BS_EOVERLOAD) until READY, and
 * are written while libuv's write queue holds under WRITE_HIGH bytes, so
 * a slow peer fills our queue rather than memory.  Queued messages whose
 * deadline passed are dropped (counted) instead of being written.
 * Inbound: accepted connections whose first frames must be the HANDSHAKE
 * requests of msg.h's challenge-response; they are answered on the same
 * socket (a challenge, then accepted or refused with a reason that never
 * names our cluster), and only then are later frames requests, one-way
 * messages and responses from that peer.  Inbound states (`hello_ok`):
 * 0 waiting for the hello, 2 challenged (waiting for the proof), 1 open,
 * -1 refused (closing).  Outbound: OC_HANDSHAKE has two steps (`hs_step`
 * 0: waiting for the challenge, 1: proof sent, waiting for the verdict);
 * a peer that cannot prove the secret is closed, logged and backs off
 * like a refusal.  Refusals on the inbound side are logged with the
 * source address, at most RL_MAX lines per RL_WINDOW_MS (a scanner must
 * not flood the log); the number of lines left out is logged after.
 * Unauthenticated inbound connections are bounded in time and number:
 * the sweep timer closes one that has not finished its handshake within
 * handshake_timeout_ms, and an accept beyond max_unauthenticated closes
 * the oldest still in its handshake (both logged as refusals), so idle
 * or half-open connections cannot pile up.
 * Responses to
 * requests received here go out through our own outbound connection to
 * the sender's endpoint (from its handshake), as in Cassandra.
 *
 * TLS (server_encryption_options; opts.tls_server / tls_client).  An
 * outbound connection to a peer that tls_needed() says must be encrypted
 * starts a common/tls.h client session right after connecting (the
 * peer's certificate must be signed by the cluster CA and name the
 * address dialled); an inbound connection is sniffed: a first byte 0x16
 * (a TLS handshake record; no frame can start with it: that would be a
 * length over 350 MiB) starts a server session that requires the peer's
 * certificate, plaintext is refused at once when every connection must
 * be encrypted and after the hello when its claimed peer must.  The
 * challenge-response above runs inside the session.  Frames queued for a
 * TLS peer go out as one TLS write per oc_flush.  Failed handshakes are
 * logged with the source like the other refusals.
 *
 * Requests.  A request with a callback is entered in a small hash table
 * by id (ids are unique per instance, from an atomic counter) with a
 * monotonic deadline; a sweep timer (SWEEP_MS) fails expired ones with
 * BS_ETIMEDOUT.  A response is accepted only from the endpoint the
 * request went to.  Each callback runs exactly once.
 *
 * Untrusted input.  Frame length is checked before buffering more than
 * the 4-byte header (oversized -> the connection is closed), frames are
 * decoded by msg_codec.c (mpcheck + type checks), and every failure is
 * logged with the peer's address and counted; the node never aborts.
 */
#include "node/cluster/msg.h"

#include <arpa/inet.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <uv.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/error.h"
#include "common/log.h"
#include "common/sched.h"
#include "common/tls.h"
#include "common/wake.h"

#define SWEEP_MS 50
#define WRITE_HIGH (1u << 20)
#define NBUCKETS 256
#define LOG "msg"
#define RL_WINDOW_MS 10000
#define RL_MAX 20

/* ------------------------------------------------------------------ */
/* types                                                               */
/* ------------------------------------------------------------------ */

typedef struct qitem {
    struct qitem *next;
    uint8_t *data;
    size_t len;
    int64_t expire_ns; /* 0 = never */
} qitem;

enum { OC_IDLE, OC_CONNECTING, OC_HANDSHAKE, OC_READY, OC_BACKOFF };

typedef struct outconn {
    struct outconn *next;
    bs_msg *m;
    bs_msg_peer peer;
    uv_tcp_t tcp;
    uv_connect_t creq;
    uv_timer_t timer;
    int state;
    int tcp_live;  /* tcp initialised and not yet closed */
    int forgotten; /* being freed: no reconnect */
    int refused_by_peer;
    unsigned refusals;
    int hs_step; /* OC_HANDSHAKE: 0 waiting for the challenge, 1 proof sent */
    uint8_t cnonce[BS_MSG_NONCE_LEN]; /* our nonce on this connection */
    int pending_closes;
    qitem *qhead, *qtail;
    size_t qlen;
    bs_buf rbuf;
    uint32_t backoff_ms;
    bs_tls *tls; /* this connection's TLS session; NULL: plaintext */
    int xdc;        /* XDC_*: the peer's DC against ours (conn_xdc) */
    int64_t xdc_at; /* loop ms of the last XDC_UNKNOWN answer */
} outconn;

typedef struct inconn {
    struct inconn *next, *prev;
    bs_msg *m;
    uv_tcp_t tcp;
    bs_buf rbuf;
    int hello_ok; /* 0 hello due, 2 proof due, 1 open, -1 refused */
    int closing;
    bs_msg_peer from; /* claimed in the hello; trusted once hello_ok == 1 */
    bs_uuid host;
    uint8_t cnonce[BS_MSG_NONCE_LEN], snonce[BS_MSG_NONCE_LEN];
    int64_t accepted_ns; /* monotonic; the handshake deadline counts from it */
    char remote[BS_MSG_ADDRLEN + 8];
    bs_tls *tls; /* TLS session; NULL: plaintext (or not sniffed yet) */
    int sniffed; /* the first byte was seen: TLS or plaintext decided */
    int xdc;     /* as outconn's */
    int64_t xdc_at;
    /* arrival - send time (ms, our wall clock minus the peer's) of the
     * requests read: the smallest seen is the clocks' offset plus the
     * shortest transit (in_deadline); two windows of OFFSET_WINDOW_MS so
     * a clock step is forgotten */
    int64_t off_min[2];
    int64_t off_window_ms;
    int have_off;
} inconn;

#define OFFSET_WINDOW_MS 10000

typedef struct pending {
    struct pending *next;
    uint64_t id;
    int64_t deadline_ns;
    bs_msg_peer to;
    bs_msg_response_cb cb;
    void *ud;
} pending;

enum { CMD_SEND, CMD_CALL, CMD_FORGET, CMD_RESET };

typedef struct syncwait {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done;
} syncwait;

typedef struct cmd {
    struct cmd *next;
    int type;
    bs_msg_peer peer;
    uint8_t *data; /* CMD_SEND: an encoded frame */
    size_t len;
    uint64_t id;
    int64_t expire_ns;
    bs_msg_response_cb cb;
    void *ud;
    void (*fn)(void *);
    syncwait *sw;
    uint8_t verb; /* CMD_SEND: for the cross-DC counters */
} cmd;

typedef struct wreq {
    uv_write_t req;
    uint8_t *data;
    bs_msg *m;
    struct outconn *oc; /* outbound writes: keep flushing its queue */
    struct inconn *ic;  /* inbound refusal: close it once written */
    unsigned frames;    /* frames in it (TLS batches several; 0: only
                           TLS handshake records) */
    size_t nmore;       /* frames of a coalesced write after data */
    uint8_t *more[];    /* their buffers, freed with data */
} wreq;

struct bs_msg {
    bs_msg_opts o;
    char cluster[256];
    uint8_t secret[BS_MSG_SECRET_MAX];
    size_t secret_len;
    int64_t rl_start_ms; /* refusal log: window start, lines, left out */
    unsigned rl_lines;
    uint64_t rl_dropped;
    char listen[BS_MSG_ADDRLEN];
    bs_msg_peer self;
    uv_loop_t loop;
    uv_tcp_t server;
    uv_poll_t wake;   /* readable: wk was signalled */
    bs_wake wk;       /* common/wake.h */
    uv_timer_t sweep;
    pthread_t thread;
    int thread_started;
    pthread_t loop_tid;

    pthread_mutex_t mu; /* cmds, stopping */
    cmd *chead, *ctail;
    int stopping;
    struct {
        bs_msg_handler h;
        void *ud;
    } handlers[BS_VERB_MAX];
    pthread_mutex_t hmu; /* handlers, observer, batch_end (not the command list) */
    bs_msg_conn_cb obs;
    void *obs_ud;
    void (*batch_end)(void *ud);
    void *batch_end_ud;

    atomic_uint_fast64_t next_id;
    outconn *outs;
    inconn *ins;
    pending *buckets[NBUCKETS];
    int shut; /* loop side: shutdown started */
    int coalescing; /* in a batch (batch_begin): queues flushed at its end */

    struct {
        atomic_uint_fast64_t sent, received, dropped_overflow, dropped_expired,
            timeouts, decode_errors, refused, auth_failures, connects,
            compressed, compress_raw_bytes, compress_wire_bytes, resets;
    } st;
    struct {
        atomic_uint_fast64_t sent_msgs[BS_VERB_MAX], sent_bytes[BS_VERB_MAX],
            recv_msgs[BS_VERB_MAX], recv_bytes[BS_VERB_MAX];
    } xdc; /* frames to/from peers in other data centers, by verb */
};

#define INC(m, f) atomic_fetch_add_explicit(&(m)->st.f, 1, memory_order_relaxed)
#define ADD(m, f, v) atomic_fetch_add_explicit(&(m)->st.f, (v), memory_order_relaxed)
#define XADD(m, f, v) atomic_fetch_add_explicit(&(m)->xdc.f, (v), memory_order_relaxed)

/* Whether a connection's peer is in another data center, asked of the
 * peer_remote_dc callback once per connection (cached); while the answer
 * is "unknown" (gossip has not told us yet) it is asked again at most once
 * every 20 ms: until then the connection's messages are neither counted
 * as cross-DC nor compressed (internode_compression: dc), so the window
 * stays short (once a second let the first second of writes of a new
 * cluster cross uncounted and uncompressed).  Loop thread (the cache
 * lives in the connection). */
enum { XDC_UNKNOWN = 0, XDC_SAME = 1, XDC_REMOTE = 2 };
static int conn_xdc(bs_msg *m, const bs_msg_peer *p, int *cache, int64_t *at) {
    if (*cache != XDC_UNKNOWN || !m->o.peer_remote_dc) return *cache;
    int64_t now = (int64_t)uv_now(&m->loop);
    if (*at && now - *at < 20) return XDC_UNKNOWN;
    *at = now ? now : 1;
    int r = m->o.peer_remote_dc(m->o.peer_dc_ud, p);
    *cache = r > 0 ? XDC_REMOTE : r == 0 ? XDC_SAME : XDC_UNKNOWN;
    return *cache;
}

static int64_t now_ms(void) {
    return bs_clock_now_us(NULL) / 1000;
}

/* ------------------------------------------------------------------ */
/* small helpers                                                       */
/* ------------------------------------------------------------------ */

int bs_msg_peer_set(bs_msg_peer *p, const char *addr, uint16_t port) {
    memset(p, 0, sizeof *p);
    if (!addr) return BS_EINVAL;
    size_t n = strlen(addr);
    if (n == 0 || n >= sizeof p->addr) return BS_EINVAL;
    unsigned char tmp[16];
    if (inet_pton(AF_INET, addr, tmp) != 1 &&
        inet_pton(AF_INET6, addr, tmp) != 1)
        return BS_EINVAL;
    memcpy(p->addr, addr, n + 1);
    p->port = port;
    return 0;
}

int bs_msg_peer_parse(bs_msg_peer *p, const char *ep) {
    const char *colon = ep ? strrchr(ep, ':') : NULL;
    if (!colon || colon == ep || (size_t)(colon - ep) >= BS_MSG_ADDRLEN)
        return BS_EINVAL;
    char addr[BS_MSG_ADDRLEN];
    memcpy(addr, ep, (size_t)(colon - ep));
    addr[colon - ep] = 0;
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port <= 0 || port > 65535) return BS_EINVAL;
    return bs_msg_peer_set(p, addr, (uint16_t)port);
}

int bs_msg_peer_equal(const bs_msg_peer *a, const bs_msg_peer *b) {
    return a->port == b->port && strcmp(a->addr, b->addr) == 0;
}

void bs_msg_opts_default(bs_msg_opts *o) {
    memset(o, 0, sizeof *o);
    o->cluster_name = "Test Cluster";
    o->listen_address = "127.0.0.1";
    o->max_message_bytes = 16u << 20;
    o->compress_threshold = 4096;
    o->queue_max = 4096;
    o->reconnect_min_ms = 100;
    o->reconnect_max_ms = 4000;
    o->connect_timeout_ms = 2000;
    o->tcp_user_timeout_ms = 10000;
    o->handshake_timeout_ms = 10000;
    o->max_unauthenticated = 256;
}

static int make_sockaddr(const char *addr, uint16_t port,
                         struct sockaddr_storage *ss) {
    memset(ss, 0, sizeof *ss);
    if (uv_ip4_addr(addr, port, (struct sockaddr_in *)ss) == 0) return 0;
    if (uv_ip6_addr(addr, port, (struct sockaddr_in6 *)ss) == 0) return 0;
    return BS_EINVAL;
}

/* Logs one refused inbound connection (loop thread), rate-limited. */
static void log_refusal(bs_msg *m, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void log_refusal(bs_msg *m, const char *fmt, ...) {
    int64_t now = now_ms();
    if (now - m->rl_start_ms >= RL_WINDOW_MS || now < m->rl_start_ms) {
        if (m->rl_dropped)
            BS_WARN(LOG,
                    "%llu more refused internode connections were not logged "
                    "(at most %d lines per %d s)",
                    (unsigned long long)m->rl_dropped, RL_MAX,
                    RL_WINDOW_MS / 1000);
        m->rl_start_ms = now;
        m->rl_lines = 0;
        m->rl_dropped = 0;
    }
    if (m->rl_lines >= RL_MAX) {
        m->rl_dropped++;
        return;
    }
    m->rl_lines++;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    BS_WARN(LOG, "%s", line);
}

/* The proof of one side of a handshake (see msg.h). */
static int make_proof(const bs_msg *m, int server, const uint8_t *cn,
                      const uint8_t *sn, const bs_uuid *client_host,
                      const bs_uuid *server_host, const bs_msg_peer *client_from,
                      uint8_t out[BS_MSG_PROOF_LEN]) {
    bs_msg_proof_in in = {m->secret,    m->secret_len, server,
                          cn,           sn,            *client_host,
                          *server_host, client_from,   m->cluster};
    return bs_msg_proof(&in, out);
}

static void free_items(qitem *q) {
    while (q) {
        qitem *n = q->next;
        free(q->data);
        free(q);
        q = n;
    }
}

/* ------------------------------------------------------------------ */
/* pending requests                                                    */
/* ------------------------------------------------------------------ */

static void pending_add(bs_msg *m, pending *p) {
    size_t b = p->id % NBUCKETS;
    p->next = m->buckets[b];
    m->buckets[b] = p;
}

static pending *pending_take(bs_msg *m, uint64_t id) {
    pending **pp = &m->buckets[id % NBUCKETS];
    for (; *pp; pp = &(*pp)->next) {
        if ((*pp)->id == id) {
            pending *p = *pp;
            *pp = p->next;
            return p;
        }
    }
    return NULL;
}

static void fail_request(bs_msg *m, uint64_t id, int status) {
    pending *p = pending_take(m, id);
    if (!p) return;
    if (status == BS_ETIMEDOUT) INC(m, timeouts);
    p->cb(p->ud, status, NULL, 0);
    free(p);
}

static void in_close(inconn *c);

/* Closes inbound connections past their handshake deadline; returns how
 * many are still in their handshake and the oldest of them. */
static size_t sweep_handshakes(bs_msg *m, int64_t now, inconn **oldest) {
    size_t n = 0;
    int64_t tmo = (int64_t)m->o.handshake_timeout_ms * 1000000;
    *oldest = NULL;
    for (inconn *c = m->ins, *next; c; c = next) {
        next = c->next;
        if (c->hello_ok == 1 || c->closing) continue;
        if (now - c->accepted_ns >= tmo) {
            INC(m, refused);
            log_refusal(m,
                        "refused internode connection from %s: no handshake "
                        "within %u ms; closing",
                        c->remote, m->o.handshake_timeout_ms);
            in_close(c);
            continue;
        }
        n++;
        if (!*oldest || c->accepted_ns < (*oldest)->accepted_ns) *oldest = c;
    }
    return n;
}

static void on_sweep(uv_timer_t *t) {
    bs_msg *m = t->data;
    int64_t now = bs_clock_mono_ns();
    inconn *oldest;
    sweep_handshakes(m, now, &oldest);
    for (size_t b = 0; b < NBUCKETS; b++) {
        pending **pp = &m->buckets[b];
        while (*pp) {
            pending *p = *pp;
            if (p->deadline_ns && p->deadline_ns <= now) {
                *pp = p->next;
                INC(m, timeouts);
                p->cb(p->ud, BS_ETIMEDOUT, NULL, 0);
                free(p);
            } else {
                pp = &p->next;
            }
        }
    }
}

/* ------------------------------------------------------------------ */
/* writing                                                             */
/* ------------------------------------------------------------------ */

static void on_in_closed(uv_handle_t *h);
static void in_close(inconn *c);
static void oc_flush(outconn *oc);

static void on_write(uv_write_t *req, int status) {
    wreq *w = (wreq *)req;
    bs_msg *m = w->m;
    free(w->data);
    for (size_t i = 0; i < w->nmore; i++) free(w->more[i]);
    if (status == 0) atomic_fetch_add_explicit(&m->st.sent, w->frames, memory_order_relaxed);
    if (w->ic) {
        in_close(w->ic);
    } else if (w->oc) {
        /* a write failure shows up as a read error / EOF as well */
        if (status == 0 && w->oc->state == OC_READY && !w->oc->forgotten)
            oc_flush(w->oc);
    }
    free(w);
}

/* Takes ownership of data: bytes for the socket as they are. */
static int write_bytes(bs_msg *m, uv_stream_t *s, uint8_t *data, size_t len,
                       outconn *oc, inconn *close_after, unsigned frames) {
    wreq *w = calloc(1, sizeof *w);
    if (!w) {
        free(data);
        return BS_ENOMEM;
    }
    w->data = data;
    w->m = m;
    w->oc = oc;
    w->ic = close_after;
    w->frames = frames;
    uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
    int rc = uv_write(&w->req, s, &b, 1, on_write);
    if (rc) {
        free(data);
        free(w);
        return rc;
    }
    return 0;
}

/* Writes the ciphertext tls has produced (nothing: close_after is closed
 * at once). */
static int tls_flush(bs_msg *m, uv_stream_t *s, bs_tls *tls, outconn *oc,
                     inconn *close_after, unsigned frames) {
    bs_buf out = BS_BUF_INIT;
    int rc = bs_tls_output(tls, &out);
    if (rc || out.len == 0) {
        bs_buf_free(&out);
        if (!rc && close_after) in_close(close_after);
        return rc;
    }
    size_t len;
    uint8_t *d = bs_buf_steal(&out, &len);
    return write_bytes(m, s, d, len, oc, close_after, frames);
}

/* Takes ownership of data: a frame, encrypted first when tls is set. */
static int write_raw(bs_msg *m, uv_stream_t *s, uint8_t *data, size_t len,
                     outconn *oc, inconn *close_after, bs_tls *tls) {
    if (!tls) return write_bytes(m, s, data, len, oc, close_after, 1);
    int rc = bs_tls_write(tls, data, len);
    free(data);
    if (rc) return rc;
    return tls_flush(m, s, tls, oc, close_after, 1);
}

/* ------------------------------------------------------------------ */
/* batches: a loop callback's output written once at its end            */
/* ------------------------------------------------------------------ */

/* The bs_msg whose loop is in a batch on this thread: a reply sent from
 * a handler there is queued directly (no command, no wake-up). */
static _Thread_local bs_msg *tl_batch;

static void batch_begin(bs_msg *m) {
    m->coalescing = 1;
    tl_batch = m;
}

/* End of a batch (commands or a socket read): every peer's queued frames
 * are written, one write per peer. */
static void batch_end(bs_msg *m) {
    tl_batch = NULL;
    m->coalescing = 0;
    for (outconn *oc = m->outs; oc; oc = oc->next)
        if (oc->qhead && oc->state == OC_READY) oc_flush(oc);
}

/* ------------------------------------------------------------------ */
/* outbound connections                                                */
/* ------------------------------------------------------------------ */

static void oc_connect(outconn *oc);
static void oc_fail(outconn *oc, const char *why);
static void tune_socket(bs_msg *m, uv_tcp_t *tcp);

static void notify(bs_msg *m, const bs_msg_peer *p, bs_msg_conn_event ev) {
    pthread_mutex_lock(&m->hmu);
    bs_msg_conn_cb cb = m->obs;
    void *ud = m->obs_ud;
    pthread_mutex_unlock(&m->hmu);
    if (cb) cb(ud, p, ev);
}

/* TLS: the frames gathered by oc_flush as one write (fewer records and
 * system calls than one per frame).  0, or the connection failed. */
static int oc_write_batch(outconn *oc, bs_buf *batch, unsigned *frames) {
    if (!batch->len) return 0;
    int rc = bs_tls_write(oc->tls, batch->data, batch->len);
    batch->len = 0;
    if (!rc) rc = tls_flush(oc->m, (uv_stream_t *)&oc->tcp, oc->tls, oc, NULL, *frames);
    *frames = 0;
    if (rc) {
        char why[256];
        snprintf(why, sizeof why, "TLS write: %s",
                 bs_tls_error(oc->tls)[0] ? bs_tls_error(oc->tls) : bs_strerror(rc));
        oc_fail(oc, why);
    }
    return rc;
}

/* Up to FLUSH_MAX queued frames of oc whose deadline has not passed,
 * taken off its queue into bufs/datas; their count. */
#define FLUSH_MAX 128
static size_t oc_take(outconn *oc, int64_t now, uv_buf_t *bufs, uint8_t **datas) {
    size_t n = 0, bytes = 0;
    size_t room = uv_stream_get_write_queue_size((uv_stream_t *)&oc->tcp);
    while (oc->qhead && n < FLUSH_MAX && room + bytes < WRITE_HIGH) {
        qitem *q = oc->qhead;
        oc->qhead = q->next;
        if (!oc->qhead) oc->qtail = NULL;
        oc->qlen--;
        if (q->expire_ns && q->expire_ns <= now) {
            INC(oc->m, dropped_expired);
            free(q->data);
        } else {
            bufs[n] = uv_buf_init((char *)q->data, (unsigned)q->len);
            datas[n++] = q->data;
            bytes += q->len;
        }
        free(q);
    }
    return n;
}

/* Writes oc's queue while libuv's write queue is under WRITE_HIGH: the
 * frames queued so far go out as one uv_write (one writev), so a loop
 * turn that queued many messages to a peer costs one syscall. */
static void oc_flush(outconn *oc) {
    bs_msg *m = oc->m;
    int64_t now = bs_clock_mono_ns();
    uv_buf_t bufs[FLUSH_MAX];
    uint8_t *datas[FLUSH_MAX];
    while (oc->qhead && oc->state == OC_READY &&
           uv_stream_get_write_queue_size((uv_stream_t *)&oc->tcp) < WRITE_HIGH) {
        size_t n = oc_take(oc, now, bufs, datas);
        if (!n) continue; /* all expired */
        if (oc->tls) { /* the frames as one TLS write */
            bs_buf batch = BS_BUF_INIT;
            int rc = 0;
            for (size_t i = 0; i < n; i++) {
                if (!rc) rc = bs_buf_append(&batch, bufs[i].base, bufs[i].len);
                free(datas[i]);
            }
            unsigned nb = (unsigned)n;
            if (!rc) rc = oc_write_batch(oc, &batch, &nb);
            else oc_fail(oc, "out of memory");
            bs_buf_free(&batch);
            if (rc) return;
            continue;
        }
        wreq *w = calloc(1, sizeof *w + (n - 1) * sizeof(uint8_t *));
        if (!w) {
            for (size_t i = 0; i < n; i++) free(datas[i]);
            oc_fail(oc, "out of memory");
            return;
        }
        w->data = datas[0];
        w->m = m;
        w->oc = oc;
        w->nmore = n - 1;
        w->frames = (unsigned)n;
        for (size_t i = 1; i < n; i++) w->more[i - 1] = datas[i];
        int rc = uv_write(&w->req, (uv_stream_t *)&oc->tcp, bufs, (unsigned)n, on_write);
        if (rc) {
            for (size_t i = 0; i < n; i++) free(datas[i]);
            free(w);
            oc_fail(oc, uv_strerror(rc));
            return;
        }
    }
}

static void oc_maybe_free(outconn *oc) {
    if (!oc->forgotten || oc->pending_closes) return;
    free_items(oc->qhead);
    bs_buf_free(&oc->rbuf);
    bs_tls_free(oc->tls);
    free(oc);
}

static void on_oc_handle_closed(uv_handle_t *h) {
    outconn *oc = h->data;
    oc->pending_closes--;
    if (h == (uv_handle_t *)&oc->tcp) oc->tcp_live = 0;
    if (oc->forgotten) oc_maybe_free(oc);
}

static void on_backoff(uv_timer_t *t) {
    outconn *oc = t->data;
    if (oc->forgotten || oc->m->shut) return;
    if (oc->tcp_live) { /* still closing: retry shortly */
        uv_timer_start(&oc->timer, on_backoff, 10, 0);
        return;
    }
    oc_connect(oc);
}

/* Closes the socket and schedules a reconnect after the backoff. */
static void oc_fail(outconn *oc, const char *why) {
    bs_msg *m = oc->m;
    int was_ready = oc->state == OC_READY;
    if (oc->state == OC_BACKOFF || oc->state == OC_IDLE) return;
    BS_DEBUG(LOG, "connection to %s:%u: %s", oc->peer.addr, oc->peer.port, why);
    oc->state = OC_BACKOFF;
    if (oc->tcp_live && !uv_is_closing((uv_handle_t *)&oc->tcp)) {
        oc->pending_closes++;
        uv_close((uv_handle_t *)&oc->tcp, on_oc_handle_closed);
    }
    bs_tls_free(oc->tls); /* queued writes hold copies of their bytes */
    oc->tls = NULL;
    oc->rbuf.len = 0;
    if (!m->shut && !oc->forgotten) {
        uint32_t d = oc->backoff_ms;
        uint32_t next = oc->backoff_ms * 2;
        oc->backoff_ms =
            next > m->o.reconnect_max_ms ? m->o.reconnect_max_ms : next;
        if (oc->refused_by_peer) d = m->o.reconnect_max_ms;
        oc->timer.data = oc;
        uv_timer_start(&oc->timer, on_backoff, d, 0);
    }
    if (was_ready) notify(m, &oc->peer, BS_MSG_CONN_LOST);
}

static int send_hello(bs_msg *m, uv_stream_t *s, uint64_t id, int response,
                      const bs_msg_hello *h, outconn *oc, inconn *close_after,
                      bs_tls *tls);

/* Step 3 of the handshake: S's challenge arrived; check its proof and
 * answer with ours.  0, or the connection failed (already handled). */
static int oc_answer_challenge(outconn *oc, const bs_msg_hello *h) {
    bs_msg *m = oc->m;
    uint8_t want[BS_MSG_PROOF_LEN];
    unsigned need = BS_HELLO_PROTO | BS_HELLO_HOST | BS_HELLO_NONCE |
                    BS_HELLO_PROOF;
    if ((h->fields & need) != need || h->proto != BS_MSG_PROTOCOL_VERSION) {
        INC(m, refused);
        oc->refused_by_peer = 1;
        BS_WARN(LOG, "node %s:%u answered our handshake without a challenge "
                "(protocol %u, ours %u); closing",
                oc->peer.addr, oc->peer.port, h->proto,
                BS_MSG_PROTOCOL_VERSION);
        oc_fail(oc, "no challenge");
        return -1;
    }
    if (make_proof(m, 1, oc->cnonce, h->nonce, &m->o.host_id, &h->host_id,
                   &m->self, want) ||
        CRYPTO_memcmp(want, h->proof, sizeof want) != 0) {
        INC(m, refused);
        INC(m, auth_failures);
        oc->refused_by_peer = 1;
        oc->refusals++;
        if ((oc->refusals & (oc->refusals - 1)) == 0)
            BS_WARN(LOG,
                    "node %s:%u does not prove that it knows the cluster "
                    "secret (%u times); not talking to it",
                    oc->peer.addr, oc->peer.port, oc->refusals);
        oc_fail(oc, "peer failed the secret check");
        return -1;
    }
    bs_msg_hello r;
    memset(&r, 0, sizeof r);
    r.fields = BS_HELLO_PROOF;
    if (make_proof(m, 0, oc->cnonce, h->nonce, &m->o.host_id, &h->host_id,
                   &m->self, r.proof) ||
        send_hello(m, (uv_stream_t *)&oc->tcp, 1, 0, &r, oc, NULL, oc->tls)) {
        oc_fail(oc, "cannot send the handshake proof");
        return -1;
    }
    oc->hs_step = 1;
    return 0;
}

static void oc_handle_frame(outconn *oc, const uint8_t *p, size_t len) {
    bs_msg *m = oc->m;
    bs_msg_frame f;
    char err[128];
    int rc = bs_msg_frame_decode(p, len, m->o.max_message_bytes, &f, err,
                                 sizeof err);
    if (rc) {
        INC(m, decode_errors);
        BS_WARN(LOG, "bad internode message from %s:%u: %s", oc->peer.addr,
                oc->peer.port, err);
        oc_fail(oc, err);
        return;
    }
    INC(m, received);
    if (oc->state != OC_HANDSHAKE || f.verb != BS_VERB_HANDSHAKE ||
        f.kind != BS_MSG_KIND_RESPONSE || f.id != (uint64_t)oc->hs_step) {
        BS_DEBUG(LOG,
                 "unexpected message (verb %u) on outbound connection to %s",
                 f.verb, oc->peer.addr);
        bs_msg_frame_free(&f);
        return;
    }
    bs_msg_hello h;
    rc = bs_msg_hello_decode(f.payload, f.len, &h, err, sizeof err);
    bs_msg_frame_free(&f);
    if (rc) {
        INC(m, decode_errors);
        BS_WARN(LOG, "bad handshake answer from %s:%u: %s", oc->peer.addr,
                oc->peer.port, err);
        oc_fail(oc, err);
        return;
    }
    if (!(h.fields & BS_HELLO_OK) || !h.ok) {
        INC(m, refused);
        oc->refused_by_peer = 1;
        /* logged at the 1st, 2nd, 4th, 8th... refusal: it repeats at every
         * reconnect attempt */
        oc->refusals++;
        if ((oc->refusals & (oc->refusals - 1)) == 0)
            BS_WARN(LOG, "node %s:%u refused our connection (%u times): %s",
                    oc->peer.addr, oc->peer.port, oc->refusals,
                    h.fields & BS_HELLO_WHY ? h.why : "no reason given");
        oc_fail(oc, "refused by peer");
        return;
    }
    if (oc->hs_step == 0) {
        oc_answer_challenge(oc, &h);
        return;
    }
    oc->state = OC_READY;
    uv_timer_stop(&oc->timer); /* the connect timeout */
    oc->refused_by_peer = 0;
    oc->refusals = 0;
    oc->backoff_ms = m->o.reconnect_min_ms;
    INC(m, connects);
    BS_DEBUG(LOG, "connected to %s:%u", oc->peer.addr, oc->peer.port);
    notify(m, &oc->peer, BS_MSG_CONN_UP);
    if (oc->state == OC_READY) oc_flush(oc);
}

static void on_alloc(uv_handle_t *h, size_t sugg, uv_buf_t *b) {
    (void)h;
    (void)sugg;
    static __thread char slab[65536];
    b->base = slab;
    b->len = sizeof slab;
}

/* Appends and processes whole frames.  Returns 0, or an error after which
 * the connection must be closed (reason in *why). */
typedef void (*frame_fn)(void *conn, const uint8_t *p, size_t len);
static int feed(bs_msg *m, bs_buf *rb, const char *data, size_t n, void *conn,
                frame_fn fn, int (*alive)(void *conn), const char **why) {
    if (bs_buf_append(rb, data, n)) {
        *why = "out of memory";
        return BS_ENOMEM;
    }
    size_t off = 0;
    while (alive(conn)) {
        size_t fl;
        int rc = bs_msg_frame_peek(rb->data + off, rb->len - off,
                                   m->o.max_message_bytes, &fl);
        if (rc == BS_EAGAIN) break;
        if (rc) {
            *why = rc == BS_ETOOBIG ? "oversized frame" : "zero-length frame";
            return rc;
        }
        fn(conn, rb->data + off, fl);
        off += fl;
    }
    if (!alive(conn)) return 0;
    if (off) {
        memmove(rb->data, rb->data + off, rb->len - off);
        rb->len -= off;
    }
    return 0;
}

static int oc_alive(void *c) {
    return ((outconn *)c)->state == OC_HANDSHAKE ||
           ((outconn *)c)->state == OC_READY;
}
static void oc_frame(void *c, const uint8_t *p, size_t len) {
    oc_handle_frame(c, p, len);
}

/*
 * TLS: ciphertext in, plaintext frames out.  Feeds `data` to tls, hands
 * every piece of plaintext to feed() (whole frames to fn), then writes
 * what the session produced (handshake records).  Returns 0, 1 when the
 * TLS session failed (bs_tls_error says why; the caller logs and
 * closes), or 2 when feed() failed (*why set).  alive() turning false
 * (the connection failed while handling a frame) stops it quietly.
 */
static int tls_in(bs_msg *m, uv_stream_t *s, bs_tls *tls, bs_buf *rb,
                  const char *data, size_t n, void *conn, frame_fn fn,
                  int (*alive)(void *conn), outconn *oc, const char **why) {
    static __thread char plain[65536];
    if (bs_tls_feed(tls, data, n)) return 1;
    for (;;) {
        size_t got = 0;
        int rc = bs_tls_read(tls, plain, sizeof plain, &got);
        if (rc) return 1;
        if (!got) break;
        if (feed(m, rb, plain, got, conn, fn, alive, why)) return 2;
        if (!alive(conn)) return 0;
    }
    return tls_flush(m, s, tls, oc, NULL, 0) ? 1 : 0;
}

static void on_oc_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
    outconn *oc = s->data;
    if (n < 0) {
        oc_fail(oc, n == UV_EOF ? "closed by peer" : uv_strerror((int)n));
        return;
    }
    if (n == 0) return;
    const char *why = NULL;
    if (oc->tls) {
        bs_tls *t = oc->tls;
        int rc = tls_in(oc->m, s, t, &oc->rbuf, b->base, (size_t)n, oc, oc_frame,
                        oc_alive, oc, &why);
        if (rc == 1 && oc->tls == t) {
            INC(oc->m, refused);
            oc->refusals++;
            if ((oc->refusals & (oc->refusals - 1)) == 0)
                BS_WARN(LOG, "TLS with node %s:%u failed (%u times): %s",
                        oc->peer.addr, oc->peer.port, oc->refusals,
                        bs_tls_error(t));
            tls_flush(oc->m, s, t, NULL, NULL, 0); /* the alert, if any */
            oc_fail(oc, "TLS failed");
        } else if (rc == 2) {
            INC(oc->m, decode_errors);
            BS_WARN(LOG, "bad internode data from %s:%u: %s; closing",
                    oc->peer.addr, oc->peer.port, why);
            oc_fail(oc, why);
        }
        return;
    }
    if (feed(oc->m, &oc->rbuf, b->base, (size_t)n, oc, oc_frame, oc_alive,
             &why)) {
        INC(oc->m, decode_errors);
        BS_WARN(LOG, "bad internode data from %s:%u: %s; closing",
                oc->peer.addr, oc->peer.port, why);
        oc_fail(oc, why);
    }
}

static void on_connect(uv_connect_t *req, int status) {
    outconn *oc = req->data;
    bs_msg *m = oc->m;
    if (oc->state != OC_CONNECTING) return;
    if (status) {
        if (status == UV_ECONNREFUSED)
            notify(m, &oc->peer, BS_MSG_CONN_REFUSED);
        oc_fail(oc, uv_strerror(status));
        return;
    }
    oc->state = OC_HANDSHAKE;
    oc->hs_step = 0;
    uv_tcp_nodelay(&oc->tcp, 1);
    tune_socket(m, &oc->tcp);
    if (m->o.tls_client &&
        (!m->o.tls_needed || m->o.tls_needed(m->o.tls_ud, &oc->peer, 0))) {
        /* the peer's certificate must name the address we dialled */
        if (bs_tls_new(m->o.tls_client, oc->peer.addr, &oc->tls)) {
            oc_fail(oc, "cannot start TLS");
            return;
        }
    }
    bs_msg_hello h;
    memset(&h, 0, sizeof h);
    h.fields = BS_HELLO_CLUSTER | BS_HELLO_PROTO | BS_HELLO_HOST |
               BS_HELLO_FROM | BS_HELLO_NONCE;
    snprintf(h.cluster, sizeof h.cluster, "%s", m->cluster);
    h.proto = BS_MSG_PROTOCOL_VERSION;
    h.host_id = m->o.host_id;
    h.from = m->self;
    int rc = RAND_bytes(oc->cnonce, sizeof oc->cnonce) == 1 ? 0 : BS_EIO;
    memcpy(h.nonce, oc->cnonce, sizeof h.nonce);
    if (!rc) rc = uv_read_start((uv_stream_t *)&oc->tcp, on_alloc, on_oc_read);
    if (!rc) rc = send_hello(m, (uv_stream_t *)&oc->tcp, 0, 0, &h, oc, NULL, oc->tls);
    if (rc) oc_fail(oc, "cannot send the handshake");
}

/* A connection attempt (TCP connect plus handshake) that is not READY
 * connect_timeout_ms after it began is abandoned and retried after the
 * backoff: SYNs lost while a peer is unreachable back off in the kernel
 * (1, 2, 4, 8... s), so a fresh attempt reaches a healed peer sooner. */
static void on_connect_timeout(uv_timer_t *t) {
    outconn *oc = t->data;
    if (oc->state == OC_CONNECTING || oc->state == OC_HANDSHAKE)
        oc_fail(oc, "connect timed out");
}

/* Bounds on a dead path the kernel would otherwise wait out for minutes:
 * written bytes unacknowledged for tcp_user_timeout_ms abort the
 * connection (TCP_USER_TIMEOUT), and keepalive probes an idle one (an
 * inbound connection whose peer reset and reconnected during a cut is
 * then closed instead of lingering half-open). */
static void tune_socket(bs_msg *m, uv_tcp_t *tcp) {
    if (!m->o.tcp_user_timeout_ms) return;
    uv_os_fd_t fd;
    unsigned ut = m->o.tcp_user_timeout_ms;
    unsigned idle = ut / 1000 ? ut / 1000 : 1;
    uv_tcp_keepalive(tcp, 1, idle);
    if (uv_fileno((uv_handle_t *)tcp, &fd) == 0 &&
        setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &ut, sizeof ut))
        BS_DEBUG(LOG, "TCP_USER_TIMEOUT not set");
}

static void oc_connect(outconn *oc) {
    bs_msg *m = oc->m;
    struct sockaddr_storage ss;
    if (make_sockaddr(oc->peer.addr, oc->peer.port, &ss)) return;
    uv_tcp_init(&m->loop, &oc->tcp);
    oc->tcp.data = oc;
    oc->tcp_live = 1;
    oc->state = OC_CONNECTING;
    if (m->o.connect_timeout_ms) {
        oc->timer.data = oc;
        uv_timer_start(&oc->timer, on_connect_timeout, m->o.connect_timeout_ms, 0);
    }
    oc->creq.data = oc;
    /* connect from our listen address (as Cassandra does): the peer then
     * sees, and logs, the address this node is known by */
    struct sockaddr_storage local;
    int rc = make_sockaddr(m->listen, 0, &local);
    if (!rc && local.ss_family == ss.ss_family)
        rc = uv_tcp_bind(&oc->tcp, (struct sockaddr *)&local, 0);
    if (rc) BS_DEBUG(LOG, "cannot bind to %s: %s", m->listen, uv_strerror(rc));
    rc = uv_tcp_connect(&oc->creq, &oc->tcp, (struct sockaddr *)&ss, on_connect);
    if (rc) oc_fail(oc, uv_strerror(rc));
}

static outconn *oc_get(bs_msg *m, const bs_msg_peer *p, int create) {
    for (outconn *c = m->outs; c; c = c->next)
        if (bs_msg_peer_equal(&c->peer, p)) return c;
    if (!create) return NULL;
    outconn *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->m = m;
    c->peer = *p;
    c->backoff_ms = m->o.reconnect_min_ms;
    uv_timer_init(&m->loop, &c->timer);
    c->timer.data = c;
    c->next = m->outs;
    m->outs = c;
    return c;
}

static void oc_forget(bs_msg *m, outconn *oc) {
    for (outconn **pp = &m->outs; *pp; pp = &(*pp)->next) {
        if (*pp == oc) {
            *pp = oc->next;
            break;
        }
    }
    oc->forgotten = 1;
    oc->state = OC_IDLE;
    if (oc->tcp_live && !uv_is_closing((uv_handle_t *)&oc->tcp)) {
        oc->pending_closes++;
        uv_close((uv_handle_t *)&oc->tcp, on_oc_handle_closed);
    } else if (oc->tcp_live) {
        /* already closing: its close callback is counted */
    }
    oc->pending_closes++;
    uv_close((uv_handle_t *)&oc->timer, on_oc_handle_closed);
}

/* ------------------------------------------------------------------ */
/* inbound connections                                                 */
/* ------------------------------------------------------------------ */

static void on_in_closed(uv_handle_t *h) {
    inconn *c = h->data;
    bs_tls_free(c->tls);
    bs_buf_free(&c->rbuf);
    free(c);
}

static void in_close(inconn *c) {
    if (c->closing) return;
    c->closing = 1;
    bs_msg *m = c->m;
    if (c->prev)
        c->prev->next = c->next;
    else
        m->ins = c->next;
    if (c->next) c->next->prev = c->prev;
    uv_close((uv_handle_t *)&c->tcp, on_in_closed);
}

static void enqueue_frame(bs_msg *m, const bs_msg_peer *to, uint8_t *data,
                          size_t len, int64_t expire_ns, uint64_t id,
                          bs_msg_response_cb cb, void *ud, uint8_t verb);

/* Encodes and writes one handshake frame (request or response) on s.
 * close_after: an inbound connection to close once it is written. */
static int send_hello(bs_msg *m, uv_stream_t *s, uint64_t id, int response,
                      const bs_msg_hello *h, outconn *oc, inconn *close_after,
                      bs_tls *tls) {
    bs_buf pl = BS_BUF_INIT, fr = BS_BUF_INIT;
    int rc = bs_msg_hello_encode(h, &pl);
    if (!rc) {
        bs_msg_frame f = {BS_VERB_HANDSHAKE,
                          response ? BS_MSG_KIND_RESPONSE : BS_MSG_KIND_REQUEST,
                          id,
                          0,
                          0,
                          pl.data,
                          pl.len};
        rc = bs_msg_frame_encode(&f, 0, m->o.max_message_bytes, &fr);
    }
    bs_buf_free(&pl);
    if (rc) {
        bs_buf_free(&fr);
        return rc;
    }
    size_t len;
    uint8_t *d = bs_buf_steal(&fr, &len);
    return write_raw(m, s, d, len, oc, close_after, tls);
}

/* Refuses an inbound connection: answers {ok: false, why} (never naming
 * our cluster) and closes once it is written.  The caller logged it. */
static void in_refuse(inconn *c, uint64_t id, const char *why) {
    bs_msg *m = c->m;
    INC(m, refused);
    bs_msg_hello r;
    memset(&r, 0, sizeof r);
    r.fields = BS_HELLO_OK | BS_HELLO_WHY | BS_HELLO_PROTO;
    r.proto = BS_MSG_PROTOCOL_VERSION;
    snprintf(r.why, sizeof r.why, "%s", why);
    uv_read_stop((uv_stream_t *)&c->tcp);
    c->hello_ok = -1; /* refused: ignore anything until closed */
    if (send_hello(m, (uv_stream_t *)&c->tcp, id, 1, &r, NULL, c, c->tls))
        in_close(c);
}

/* Step 1 -> 2: the peer's hello; answer with our challenge. */
static void in_hello(inconn *c, const bs_msg_frame *f) {
    bs_msg *m = c->m;
    bs_msg_hello h;
    char err[128];
    if (f->verb != BS_VERB_HANDSHAKE || f->kind != BS_MSG_KIND_REQUEST ||
        f->id != 0) {
        INC(m, decode_errors);
        INC(m, refused);
        log_refusal(m,
                    "refused internode connection from %s: it did not start "
                    "with a handshake (verb %u); closing",
                    c->remote, f->verb);
        in_close(c);
        return;
    }
    if (bs_msg_hello_decode(f->payload, f->len, &h, err, sizeof err)) {
        INC(m, decode_errors);
        INC(m, refused);
        log_refusal(m, "refused internode connection from %s: bad handshake: "
                       "%s; closing",
                    c->remote, err);
        in_close(c);
        return;
    }
    unsigned need = BS_HELLO_CLUSTER | BS_HELLO_PROTO | BS_HELLO_HOST |
                    BS_HELLO_FROM | BS_HELLO_NONCE;
    char hid[40];
    bs_uuid_format(&h.host_id, hid);
    const char *why = NULL;
    if ((h.fields & BS_HELLO_PROTO) && h.proto != BS_MSG_PROTOCOL_VERSION)
        why = "protocol version mismatch";
    else if ((h.fields & need) != need)
        why = "incomplete handshake";
    else if (strcmp(h.cluster, m->cluster) != 0)
        why = "cluster name mismatch";
    else if (!c->tls && m->o.tls_server &&
             (!m->o.tls_needed || m->o.tls_needed(m->o.tls_ud, &h.from, 1)))
        why = "plaintext, but server_encryption_options requires TLS from "
              "this node";
    if (why) {
        /* our name stays out of the answer and out of the log; theirs is
         * logged (truncated) to help an operator who mixed clusters up */
        log_refusal(m,
                    "refused internode connection from %s (claims to be "
                    "%s:%u, host %s, cluster '%.64s', protocol %u): %s",
                    c->remote, h.from.addr, h.from.port, hid, h.cluster,
                    h.proto, why);
        in_refuse(c, f->id, why);
        return;
    }
    c->from = h.from;
    c->host = h.host_id;
    memcpy(c->cnonce, h.nonce, sizeof c->cnonce);
    bs_msg_hello r;
    memset(&r, 0, sizeof r);
    r.fields = BS_HELLO_OK | BS_HELLO_PROTO | BS_HELLO_HOST | BS_HELLO_NONCE |
               BS_HELLO_PROOF;
    r.ok = 1;
    r.proto = BS_MSG_PROTOCOL_VERSION;
    r.host_id = m->o.host_id;
    if (RAND_bytes(c->snonce, sizeof c->snonce) != 1 ||
        make_proof(m, 1, c->cnonce, c->snonce, &c->host, &m->o.host_id,
                   &c->from, r.proof)) {
        in_close(c);
        return;
    }
    memcpy(r.nonce, c->snonce, sizeof r.nonce);
    if (send_hello(m, (uv_stream_t *)&c->tcp, f->id, 1, &r, NULL, NULL, c->tls)) {
        in_close(c);
        return;
    }
    c->hello_ok = 2;
}

/* Step 3 -> 4: the peer's proof; open the connection or refuse it. */
static void in_proof(inconn *c, const bs_msg_frame *f) {
    bs_msg *m = c->m;
    bs_msg_hello h;
    char err[128];
    char hid[40];
    bs_uuid_format(&c->host, hid);
    if (f->verb != BS_VERB_HANDSHAKE || f->kind != BS_MSG_KIND_REQUEST ||
        f->id != 1) {
        INC(m, decode_errors);
        INC(m, refused);
        INC(m, auth_failures);
        log_refusal(m,
                    "refused internode connection from %s (claims to be "
                    "%s:%u, host %s): sent verb %u without proving the "
                    "cluster secret; closing",
                    c->remote, c->from.addr, c->from.port, hid, f->verb);
        in_close(c);
        return;
    }
    int rc = bs_msg_hello_decode(f->payload, f->len, &h, err, sizeof err);
    uint8_t want[BS_MSG_PROOF_LEN];
    if (!rc && !(h.fields & BS_HELLO_PROOF)) rc = BS_ECORRUPT;
    if (!rc)
        rc = make_proof(m, 0, c->cnonce, c->snonce, &c->host, &m->o.host_id,
                        &c->from, want);
    if (rc || CRYPTO_memcmp(want, h.proof, sizeof want) != 0) {
        INC(m, auth_failures);
        log_refusal(m,
                    "refused internode connection from %s (claims to be "
                    "%s:%u, host %s): wrong cluster secret",
                    c->remote, c->from.addr, c->from.port, hid);
        in_refuse(c, f->id, "authentication failed");
        return;
    }
    bs_msg_hello r;
    memset(&r, 0, sizeof r);
    r.fields = BS_HELLO_OK;
    r.ok = 1;
    if (send_hello(m, (uv_stream_t *)&c->tcp, f->id, 1, &r, NULL, NULL, c->tls)) {
        in_close(c);
        return;
    }
    c->hello_ok = 1;
}

/* A request's deadline on our clock.  "d" is the sender's wall clock:
 * with it alone a node whose clock ran 2 s ahead dropped every request as
 * expired and was cut off (Jepsen finding F6); "r" alone counts from when
 * we read the frame, so requests that waited in our socket while this
 * process was paused (SIGSTOP) looked fresh and were applied long after
 * the coordinator gave up.  So: d shifted by the offset between the two
 * clocks, estimated as the smallest (arrival - send time) of this
 * connection's recent requests; a request that waited longer than the
 * best one expires that much earlier.  Frames without "r" (older peers):
 * d as it is. */
static void in_deadline(inconn *c, bs_msg_frame *f) {
    if (!f->has_remaining || !f->deadline_ms) return;
    int64_t now = now_ms();
    int64_t off = now - (f->deadline_ms - (int64_t)f->remaining_ms);
    if (!c->have_off || now - c->off_window_ms >= OFFSET_WINDOW_MS) {
        c->off_min[1] = c->have_off ? c->off_min[0] : off;
        c->off_min[0] = off;
        c->off_window_ms = now;
        c->have_off = 1;
    } else if (off < c->off_min[0]) {
        c->off_min[0] = off;
    }
    int64_t best = c->off_min[0] < c->off_min[1] ? c->off_min[0] : c->off_min[1];
    f->deadline_ms += best;
}

static void in_dispatch(inconn *c, bs_msg_frame *f) {
    bs_msg *m = c->m;
    if (f->kind == BS_MSG_KIND_RESPONSE) {
        pending *p = pending_take(m, f->id);
        if (!p) return; /* late (timed out) or unknown */
        if (!bs_msg_peer_equal(&p->to, &c->from)) {
            BS_WARN(LOG,
                    "response %llu from %s:%u, but the request went to %s:%u; "
                    "ignored",
                    (unsigned long long)f->id, c->from.addr, c->from.port,
                    p->to.addr, p->to.port);
            pending_add(m, p);
            return;
        }
        p->cb(p->ud, f->status, f->status ? NULL : f->payload,
              f->status ? 0 : f->len);
        free(p);
        return;
    }
    if (f->verb == BS_VERB_HANDSHAKE) {
        INC(m, decode_errors);
        BS_WARN(LOG, "second handshake from %s; closing", c->remote);
        in_close(c);
        return;
    }
    in_deadline(c, f);
    if (f->deadline_ms && f->deadline_ms < now_ms()) {
        INC(m, dropped_expired);
        return;
    }
    pthread_mutex_lock(&m->hmu);
    bs_msg_handler h = m->handlers[f->verb].h;
    void *hud = m->handlers[f->verb].ud;
    pthread_mutex_unlock(&m->hmu);
    bs_msg_in in = {c->from,    c->host,        f->verb,
                    f->id,      f->deadline_ms, f->kind == BS_MSG_KIND_REQUEST,
                    f->payload, f->len};
    if (f->has_trace && f->kind == BS_MSG_KIND_REQUEST) {
        in.has_trace = 1;
        memcpy(in.trace.b, f->trace, 16);
    }
    if (!h) {
        BS_DEBUG(LOG, "no handler for verb %u from %s:%u", f->verb,
                 c->from.addr, c->from.port);
        bs_msg_reply(m, &in, BS_ENOTSUP, NULL, 0);
        return;
    }
    h(hud, m, &in);
}

static void in_handle_frame(inconn *c, const uint8_t *p, size_t len) {
    bs_msg *m = c->m;
    bs_msg_frame f;
    char err[128];
    if (c->hello_ok < 0) return;
    int rc = bs_msg_frame_decode(p, len, m->o.max_message_bytes, &f, err,
                                 sizeof err);
    if (rc) {
        INC(m, decode_errors);
        BS_WARN(LOG, "bad internode message from %s: %s; closing", c->remote,
                err);
        in_close(c);
        return;
    }
    INC(m, received);
    if (c->hello_ok == 1 && f.verb < BS_VERB_MAX &&
        conn_xdc(m, &c->from, &c->xdc, &c->xdc_at) == XDC_REMOTE) {
        XADD(m, recv_msgs[f.verb], 1);
        XADD(m, recv_bytes[f.verb], len);
    }
    if (c->hello_ok == 0)
        in_hello(c, &f);
    else if (c->hello_ok == 2)
        in_proof(c, &f);
    else
        in_dispatch(c, &f);
    bs_msg_frame_free(&f);
}

static int in_alive(void *c) {
    inconn *ic = c;
    return !ic->closing && ic->hello_ok >= 0;
}
static void in_frame(void *c, const uint8_t *p, size_t len) {
    in_handle_frame(c, p, len);
}

/* The first byte of an inbound connection: a TLS handshake record starts
 * a TLS session (mutual: the peer's certificate must be signed by the
 * cluster CA); plaintext is refused outright when every connection must
 * be encrypted, else checked against the claimed peer in in_hello.
 * 0, or -1 when the connection is refused (logged, closing). */
static int in_sniff(inconn *c, uint8_t first) {
    bs_msg *m = c->m;
    c->sniffed = 1;
    const char *why = NULL;
    if (first == BS_TLS_RECORD_HANDSHAKE) {
        if (!m->o.tls_server)
            why = "it speaks TLS, but this node has internode_encryption: none";
        else if (bs_tls_new(m->o.tls_server, NULL, &c->tls))
            why = "cannot start TLS (out of memory)";
    } else if (m->o.tls_server &&
               (!m->o.tls_needed || m->o.tls_needed(m->o.tls_ud, NULL, 1))) {
        why = "plaintext, but server_encryption_options requires TLS";
    }
    if (!why) return 0;
    INC(m, refused);
    log_refusal(m, "refused internode connection from %s: %s", c->remote, why);
    in_close(c);
    return -1;
}

static void on_in_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
    inconn *c = s->data;
    if (n < 0) {
        if (c->hello_ok == 2) {
            /* it saw our challenge and left: our proof did not verify
             * with its secret (or it never had one) */
            char hid[40];
            bs_uuid_format(&c->host, hid);
            INC(c->m, refused);
            INC(c->m, auth_failures);
            log_refusal(c->m,
                        "refused internode connection from %s (claims to be "
                        "%s:%u, host %s): it hung up instead of proving the "
                        "cluster secret (a node with another secret?)",
                        c->remote, c->from.addr, c->from.port, hid);
        }
        in_close(c);
        return;
    }
    if (n == 0 || c->closing) return;
    bs_msg *m = c->m;
    pthread_mutex_lock(&m->hmu);
    void (*end)(void *) = m->batch_end;
    void *end_ud = m->batch_end_ud;
    pthread_mutex_unlock(&m->hmu);
    const char *why = NULL;
    if (!c->sniffed && in_sniff(c, (uint8_t)b->base[0])) return;
    batch_begin(m);
    if (c->tls) {
        int rc = tls_in(m, s, c->tls, &c->rbuf, b->base, (size_t)n, c,
                        in_frame, in_alive, NULL, &why);
        if (rc == 1 && !c->closing) {
            INC(m, refused);
            INC(m, auth_failures);
            log_refusal(m,
                        "refused internode connection from %s: TLS %s: %s",
                        c->remote,
                        bs_tls_ready(c->tls) ? "error" : "handshake failed",
                        bs_tls_error(c->tls));
            uv_read_stop(s);
            c->hello_ok = -1;
            tls_flush(m, s, c->tls, NULL, c, 0); /* the alert, then close */
        } else if (rc == 2) {
            INC(m, decode_errors);
            BS_WARN(LOG, "bad internode data from %s: %s; closing", c->remote, why);
            in_close(c);
        }
    } else if (feed(m, &c->rbuf, b->base, (size_t)n, c, in_frame, in_alive, &why)) {
        INC(m, decode_errors);
        BS_WARN(LOG, "bad internode data from %s: %s; closing", c->remote, why);
        in_close(c);
    }
    if (end) end(end_ud);
    batch_end(m);
}

static void on_accept(uv_stream_t *srv, int status) {
    bs_msg *m = srv->data;
    if (status < 0 || m->shut) return;
    inconn *c = calloc(1, sizeof *c);
    if (!c) return;
    c->m = m;
    uv_tcp_init(&m->loop, &c->tcp);
    c->tcp.data = c;
    if (uv_accept(srv, (uv_stream_t *)&c->tcp)) {
        uv_close((uv_handle_t *)&c->tcp, on_in_closed);
        return;
    }
    struct sockaddr_storage ss;
    int sl = sizeof ss;
    snprintf(c->remote, sizeof c->remote, "?");
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &sl) == 0) {
        char ip[64];
        if (ss.ss_family == AF_INET) {
            uv_ip4_name((struct sockaddr_in *)&ss, ip, sizeof ip);
            snprintf(c->remote, sizeof c->remote, "%s:%u", ip,
                     ntohs(((struct sockaddr_in *)&ss)->sin_port));
        } else {
            uv_ip6_name((struct sockaddr_in6 *)&ss, ip, sizeof ip);
            snprintf(c->remote, sizeof c->remote, "[%s]:%u", ip,
                     ntohs(((struct sockaddr_in6 *)&ss)->sin6_port));
        }
    }
    uv_tcp_nodelay(&c->tcp, 1);
    tune_socket(m, &c->tcp);
    c->accepted_ns = bs_clock_mono_ns();
    inconn *oldest;
    if (sweep_handshakes(m, c->accepted_ns, &oldest) >=
            m->o.max_unauthenticated &&
        oldest) {
        INC(m, refused);
        log_refusal(m,
                    "refused internode connection from %s: %zu connections "
                    "are in their handshake already; closing the oldest",
                    oldest->remote, m->o.max_unauthenticated);
        in_close(oldest);
    }
    c->next = m->ins;
    if (m->ins) m->ins->prev = c;
    m->ins = c;
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_in_read);
}

/* ------------------------------------------------------------------ */
/* commands                                                            */
/* ------------------------------------------------------------------ */

/* internode_compression dc: a frame to a peer in another DC, compressed
 * now (the frame is replaced when that helps). */
static void dc_compress(bs_msg *m, uint8_t **data, size_t *len) {
    bs_buf z = BS_BUF_INIT;
    if (bs_msg_frame_compress(*data, *len, m->o.compress_threshold, &z) == 0 &&
        z.len <= 4 + m->o.max_message_bytes) {
        INC(m, compressed);
        ADD(m, compress_raw_bytes, *len);
        ADD(m, compress_wire_bytes, z.len);
        free(*data);
        *data = bs_buf_steal(&z, len);
        return;
    }
    bs_buf_free(&z);
}

static void enqueue_frame(bs_msg *m, const bs_msg_peer *to, uint8_t *data,
                          size_t len, int64_t expire_ns, uint64_t id,
                          bs_msg_response_cb cb, void *ud, uint8_t verb) {
    if (cb) {
        pending *p = calloc(1, sizeof *p);
        if (!p) {
            free(data);
            cb(ud, BS_ENOMEM, NULL, 0);
            return;
        }
        p->id = id;
        p->deadline_ns = expire_ns;
        p->to = *to;
        p->cb = cb;
        p->ud = ud;
        pending_add(m, p);
    }
    outconn *oc = oc_get(m, to, 1);
    qitem *q = oc ? calloc(1, sizeof *q) : NULL;
    if (!q || oc->qlen >= m->o.queue_max) {
        free(q);
        free(data);
        if (oc) {
            INC(m, dropped_overflow);
            BS_DEBUG(LOG, "queue to %s:%u full: message dropped", to->addr,
                     to->port);
        }
        if (cb) fail_request(m, id, oc ? BS_EOVERLOAD : BS_ENOMEM);
        return;
    }
    int remote = conn_xdc(m, &oc->peer, &oc->xdc, &oc->xdc_at) == XDC_REMOTE;
    if (remote && m->o.compression == BS_MSG_COMPRESS_DC)
        dc_compress(m, &data, &len);
    q->data = data;
    q->len = len;
    q->expire_ns = expire_ns;
    if (remote) {
        XADD(m, sent_msgs[verb], 1);
        XADD(m, sent_bytes[verb], len);
    }
    if (oc->qtail)
        oc->qtail->next = q;
    else
        oc->qhead = q;
    oc->qtail = q;
    oc->qlen++;
    if (oc->state == OC_IDLE)
        oc_connect(oc);
    else if (oc->state == OC_READY && !m->coalescing)
        oc_flush(oc);
}

static void finish_sync(syncwait *sw) {
    if (!sw) return;
    pthread_mutex_lock(&sw->mu);
    sw->done = 1;
    pthread_cond_broadcast(&sw->cv);
    pthread_mutex_unlock(&sw->mu);
}

static void run_cmd(bs_msg *m, cmd *c) {
    switch (c->type) {
    case CMD_SEND:
        if (m->shut) {
            free(c->data);
            if (c->cb) c->cb(c->ud, BS_ECLOSED, NULL, 0);
        } else {
            enqueue_frame(m, &c->peer, c->data, c->len, c->expire_ns, c->id,
                          c->cb, c->ud, c->verb);
        }
        break;
    case CMD_CALL:
        c->fn(c->ud);
        finish_sync(c->sw);
        break;
    case CMD_FORGET: {
        outconn *oc = oc_get(m, &c->peer, 0);
        if (oc) oc_forget(m, oc);
        break;
    }
    case CMD_RESET: {
        /* a connection (or attempt) to a peer gossip just convicted may
         * be stalled in the kernel's retransmission back-off: drop it and
         * start again from the shortest backoff; queued messages stay */
        outconn *oc = oc_get(m, &c->peer, 0);
        if (oc && oc->state != OC_IDLE && oc->state != OC_BACKOFF) {
            oc->backoff_ms = m->o.reconnect_min_ms;
            oc->refused_by_peer = 0;
            INC(m, resets);
            oc_fail(oc, "reset (peer convicted)");
        }
        break;
    }
    }
    free(c);
}

static void on_close_noop(uv_handle_t *h) {
    (void)h;
}

static void shutdown_loop(bs_msg *m) {
    m->shut = 1;
    uv_close((uv_handle_t *)&m->server, on_close_noop);
    uv_close((uv_handle_t *)&m->sweep, on_close_noop);
    while (m->outs)
        oc_forget(m, m->outs);
    while (m->ins)
        in_close(m->ins);
    for (size_t b = 0; b < NBUCKETS; b++) {
        while (m->buckets[b]) {
            pending *p = m->buckets[b];
            m->buckets[b] = p->next;
            p->cb(p->ud, BS_ECLOSED, NULL, 0);
            free(p);
        }
    }
    uv_close((uv_handle_t *)&m->wake, on_close_noop);
}

/* Any thread: makes the loop run on_wake soon (see "Threading" above). */
static void wake_loop(bs_msg *m) {
    bs_wake_signal(&m->wk);
}

static void on_wake(uv_poll_t *h, int status, int events) {
    bs_msg *m = h->data;
    (void)status;
    (void)events;
    /* cleared before the commands are taken: a command queued after the
     * take finds it clear and wakes the loop again */
    bs_wake_clear(&m->wk);
    for (;;) {
        pthread_mutex_lock(&m->mu);
        cmd *c = m->chead;
        m->chead = NULL;
        m->ctail = NULL;
        int stopping = m->stopping;
        pthread_mutex_unlock(&m->mu);
        if (!c) {
            if (stopping && !m->shut) shutdown_loop(m);
            return;
        }
        pthread_mutex_lock(&m->hmu);
        void (*end)(void *) = m->batch_end;
        void *end_ud = m->batch_end_ud;
        pthread_mutex_unlock(&m->hmu);
        batch_begin(m);
        while (c) {
            cmd *n = c->next;
            run_cmd(m, c);
            c = n;
        }
        if (end) end(end_ud);
        batch_end(m);
    }
}

static int push_cmd(bs_msg *m, cmd *c) {
    c->next = NULL;
    pthread_mutex_lock(&m->mu);
    if (m->stopping) {
        pthread_mutex_unlock(&m->mu);
        return BS_ECLOSED;
    }
    if (m->ctail)
        m->ctail->next = c;
    else
        m->chead = c;
    m->ctail = c;
    pthread_mutex_unlock(&m->mu);
    wake_loop(m);
    return 0;
}

/* ------------------------------------------------------------------ */
/* public API                                                          */
/* ------------------------------------------------------------------ */

static void *loop_main(void *arg) {
    bs_msg *m = arg;
    prctl(PR_SET_NAME, "bs-msg", 0, 0, 0); /* shown by top -H, perf */
    (void)bs_sched_request_thread(); /* common/sched.h */
    m->loop_tid = pthread_self();
    uv_run(&m->loop, UV_RUN_DEFAULT);
    return NULL;
}

/* bs_msg_start's way out after the mutexes (and, with loop, the loop
 * and its handles so far) were set up: closes them and frees m. */
static int start_fail(bs_msg *m, int loop, int rc) {
    if (loop) {
        uv_run(&m->loop, UV_RUN_DEFAULT); /* the handles closed before */
        uv_loop_close(&m->loop);
    }
    bs_wake_close(&m->wk);
    pthread_mutex_destroy(&m->mu);
    pthread_mutex_destroy(&m->hmu);
    free(m);
    return rc;
}

int bs_msg_start(const bs_msg_opts *o, bs_msg **out) {
    *out = NULL;
    if (!o->cluster_name || strlen(o->cluster_name) >= 256 ||
        !o->listen_address || o->max_message_bytes < 64 || o->queue_max == 0 ||
        !o->secret || o->secret_len < BS_MSG_SECRET_MIN ||
        o->secret_len > BS_MSG_SECRET_MAX)
        return BS_EINVAL;
    bs_msg *m = calloc(1, sizeof *m);
    if (!m) return BS_ENOMEM;
    m->o = *o;
    if (!m->o.reconnect_min_ms) m->o.reconnect_min_ms = 100;
    if (m->o.reconnect_max_ms < m->o.reconnect_min_ms)
        m->o.reconnect_max_ms = m->o.reconnect_min_ms;
    if (!m->o.handshake_timeout_ms) m->o.handshake_timeout_ms = 10000;
    if (!m->o.max_unauthenticated) m->o.max_unauthenticated = 256;
    snprintf(m->cluster, sizeof m->cluster, "%s", o->cluster_name);
    memcpy(m->secret, o->secret, o->secret_len);
    m->secret_len = o->secret_len;
    m->o.secret = NULL; /* the caller's copy may go away */
    const char *bc = o->broadcast_address && *o->broadcast_address
                         ? o->broadcast_address
                         : o->listen_address;
    if (bs_msg_peer_set(&m->self, bc, o->port) ||
        snprintf(m->listen, sizeof m->listen, "%s", o->listen_address) >=
            (int)sizeof m->listen) {
        free(m);
        return BS_EINVAL;
    }
    m->o.cluster_name = m->cluster;
    m->o.listen_address = m->listen;
    m->o.broadcast_address = NULL;
    /* Request ids start at a random point: a reply that a peer sends late
     * to the previous process at this address (same peer, ids counted
     * from the same start) would otherwise complete this process's
     * request of the same number - seen as a restarted joining node's
     * new stream failing with the old one's "canceled" */
    uint64_t first = 0;
    if (RAND_bytes((unsigned char *)&first, sizeof first) != 1)
        first = (uint64_t)bs_clock_mono_ns() * 0x9e3779b97f4a7c15ULL;
    first = (first >> 2) | 1; /* far from wrapping; never 0 */
    atomic_init(&m->next_id, first);
    pthread_mutex_init(&m->mu, NULL);
    pthread_mutex_init(&m->hmu, NULL);
    struct sockaddr_storage ss;
    m->wk.fd = -1;
    int rc = make_sockaddr(m->listen, o->port, &ss);
    if (rc) return start_fail(m, 0, rc);
    uv_loop_init(&m->loop);
    uv_tcp_init(&m->loop, &m->server);
    m->server.data = m;
    rc = uv_tcp_bind(&m->server, (struct sockaddr *)&ss, 0);
    if (!rc) rc = uv_listen((uv_stream_t *)&m->server, 128, on_accept);
    if (rc) {
        uv_close((uv_handle_t *)&m->server, NULL);
        return start_fail(m, 1, rc);
    }
    struct sockaddr_storage bound;
    int bl = sizeof bound;
    uv_tcp_getsockname(&m->server, (struct sockaddr *)&bound, &bl);
    m->self.port = ntohs(bound.ss_family == AF_INET
                             ? ((struct sockaddr_in *)&bound)->sin_port
                             : ((struct sockaddr_in6 *)&bound)->sin6_port);
    rc = bs_wake_open(&m->wk);
    if (!rc && uv_poll_init(&m->loop, &m->wake, m->wk.fd)) rc = BS_ENOMEM;
    if (rc) {
        uv_close((uv_handle_t *)&m->server, NULL);
        return start_fail(m, 1, rc);
    }
    m->wake.data = m;
    uv_poll_start(&m->wake, UV_READABLE, on_wake);
    uv_timer_init(&m->loop, &m->sweep);
    m->sweep.data = m;
    uv_timer_start(&m->sweep, on_sweep, SWEEP_MS, SWEEP_MS);
    if (pthread_create(&m->thread, NULL, loop_main, m)) {
        m->stopping = 1;
        shutdown_loop(m);
        return start_fail(m, 1, BS_ENOMEM);
    }
    m->thread_started = 1;
    *out = m;
    return 0;
}

void bs_msg_stop(bs_msg *m) {
    if (!m) return;
    pthread_mutex_lock(&m->mu);
    m->stopping = 1;
    pthread_mutex_unlock(&m->mu);
    wake_loop(m);
    pthread_join(m->thread, NULL);
    /* commands that raced with the stop flag were drained by on_wake */
    uv_loop_close(&m->loop);
    bs_wake_close(&m->wk);
    pthread_mutex_destroy(&m->mu);
        pthread_mutex_destroy(&m->hmu);
    OPENSSL_cleanse(m->secret, sizeof m->secret);
    free(m);
}

void bs_msg_local(const bs_msg *m, bs_msg_peer *out) {
    *out = m->self;
}
void bs_msg_host_id(const bs_msg *m, bs_uuid *out) {
    *out = m->o.host_id;
}

void bs_msg_set_batch_end(bs_msg *m, void (*fn)(void *ud), void *ud) {
    pthread_mutex_lock(&m->hmu);
    m->batch_end = fn;
    m->batch_end_ud = ud;
    pthread_mutex_unlock(&m->hmu);
}

int bs_msg_register(bs_msg *m, uint8_t verb, bs_msg_handler h, void *ud) {
    if (verb == BS_VERB_HANDSHAKE || verb >= BS_VERB_MAX) return BS_EINVAL;
    pthread_mutex_lock(&m->hmu);
    m->handlers[verb].h = h;
    m->handlers[verb].ud = ud;
    pthread_mutex_unlock(&m->hmu);
    return 0;
}

void bs_msg_set_conn_observer(bs_msg *m, bs_msg_conn_cb cb, void *ud) {
    pthread_mutex_lock(&m->hmu);
    m->obs = cb;
    m->obs_ud = ud;
    pthread_mutex_unlock(&m->hmu);
}

static int send_frame(bs_msg *m, const bs_msg_peer *to, bs_msg_frame *f,
                      uint32_t timeout_ms, bs_msg_response_cb cb, void *ud) {
    bs_msg_peer chk;
    if (!to || bs_msg_peer_set(&chk, to->addr, to->port) || to->port == 0)
        return BS_EINVAL;
    bs_buf fr = BS_BUF_INIT;
    /* ALL: compressed here, on the caller's thread; DC: on the loop
     * thread once the connection knows its peer's DC (enqueue_frame) */
    size_t thr = m->o.compression == BS_MSG_COMPRESS_ALL ? m->o.compress_threshold : 0;
    int rc = bs_msg_frame_encode(f, thr, m->o.max_message_bytes, &fr);
    if (rc) {
        bs_buf_free(&fr);
        return rc;
    }
    if (fr.len > 4 && (fr.data[4] & 1)) {
        INC(m, compressed);
        ADD(m, compress_raw_bytes, bs_get_u32(fr.data + 5) + 5);
        ADD(m, compress_wire_bytes, fr.len);
    }
    int64_t expire =
        timeout_ms ? bs_clock_mono_ns() + (int64_t)timeout_ms * 1000000 : 0;
    if (!cb && tl_batch == m && !m->shut) {
        /* a reply or one-way message from a handler on the loop: queued
         * now, written at the batch's end */
        size_t flen;
        uint8_t *d = bs_buf_steal(&fr, &flen);
        enqueue_frame(m, to, d, flen, expire, f->id, NULL, NULL, f->verb);
        return 0;
    }
    cmd *c = calloc(1, sizeof *c);
    if (!c) {
        bs_buf_free(&fr);
        return BS_ENOMEM;
    }
    c->type = CMD_SEND;
    c->verb = f->verb;
    c->peer = *to;
    c->data = bs_buf_steal(&fr, &c->len);
    c->id = f->id;
    c->expire_ns = expire;
    c->cb = cb;
    c->ud = ud;
    rc = push_cmd(m, c);
    if (rc) {
        free(c->data);
        free(c);
    }
    return rc;
}

int bs_msg_send(bs_msg *m, const bs_msg_peer *to, uint8_t verb,
                const void *payload, size_t len, uint32_t timeout_ms,
                bs_msg_response_cb cb, void *ud) {
    return bs_msg_send_traced(m, to, verb, payload, len, timeout_ms, NULL, cb, ud);
}

int bs_msg_send_traced(bs_msg *m, const bs_msg_peer *to, uint8_t verb,
                       const void *payload, size_t len, uint32_t timeout_ms,
                       const bs_uuid *trace, bs_msg_response_cb cb, void *ud) {
    if (verb == BS_VERB_HANDSHAKE || verb >= BS_VERB_MAX ||
        (cb && !timeout_ms) || (len && !payload))
        return BS_EINVAL;
    bs_msg_frame f;
    memset(&f, 0, sizeof f);
    f.verb = verb;
    f.kind = cb ? BS_MSG_KIND_REQUEST : BS_MSG_KIND_ONEWAY;
    f.id = atomic_fetch_add(&m->next_id, 1);
    f.deadline_ms = timeout_ms ? now_ms() + timeout_ms : 0;
    f.has_remaining = timeout_ms != 0;
    f.remaining_ms = timeout_ms;
    f.payload = payload;
    f.len = len;
    if (trace) {
        f.has_trace = 1;
        memcpy(f.trace, trace->b, 16);
    }
    return send_frame(m, to, &f, timeout_ms, cb, ud);
}

int bs_msg_reply(bs_msg *m, const bs_msg_in *req, int status,
                 const void *payload, size_t len) {
    if (!req->expects_reply) return 0;
    if (status > 0 || (len && !payload)) return BS_EINVAL;
    bs_msg_frame f = {req->verb, BS_MSG_KIND_RESPONSE, req->id,         0,
                      status,    (uint8_t *)payload,   status ? 0 : len};
    /* a reply waits in the queue at most as long as its request's
     * deadline allows (or 10 s) */
    uint32_t tmo = 10000;
    if (req->deadline_ms) {
        int64_t left = req->deadline_ms - now_ms();
        tmo = left <= 0 ? 1 : (uint32_t)(left > 10000 ? 10000 : left);
    }
    return send_frame(m, &req->from, &f, tmo, NULL, NULL);
}

int bs_msg_call(bs_msg *m, void (*fn)(void *ud), void *ud) {
    cmd *c = calloc(1, sizeof *c);
    if (!c) return BS_ENOMEM;
    c->type = CMD_CALL;
    c->fn = fn;
    c->ud = ud;
    int rc = push_cmd(m, c);
    if (rc) free(c);
    return rc;
}

int bs_msg_call_sync(bs_msg *m, void (*fn)(void *ud), void *ud) {
    syncwait sw;
    pthread_mutex_init(&sw.mu, NULL);
    pthread_cond_init(&sw.cv, NULL);
    sw.done = 0;
    cmd *c = calloc(1, sizeof *c);
    int rc = BS_ENOMEM;
    if (c) {
        c->type = CMD_CALL;
        c->fn = fn;
        c->ud = ud;
        c->sw = &sw;
        rc = push_cmd(m, c);
        if (rc) free(c);
    }
    if (!rc) {
        pthread_mutex_lock(&sw.mu);
        while (!sw.done)
            pthread_cond_wait(&sw.cv, &sw.mu);
        pthread_mutex_unlock(&sw.mu);
    }
    pthread_mutex_destroy(&sw.mu);
    pthread_cond_destroy(&sw.cv);
    return rc;
}

void *bs_msg_loop(bs_msg *m) {
    return &m->loop;
}

static int peer_cmd(bs_msg *m, const bs_msg_peer *peer, int type) {
    cmd *c = calloc(1, sizeof *c);
    if (!c) return BS_ENOMEM;
    c->type = type;
    c->peer = *peer;
    int rc = push_cmd(m, c);
    if (rc) free(c);
    return rc;
}

int bs_msg_forget_peer(bs_msg *m, const bs_msg_peer *peer) {
    return peer_cmd(m, peer, CMD_FORGET);
}

int bs_msg_reset_peer(bs_msg *m, const bs_msg_peer *peer) {
    return peer_cmd(m, peer, CMD_RESET);
}

void bs_msg_get_xdc(const bs_msg *m, bs_msg_xdc *o) {
    bs_msg *mm = (bs_msg *)m;
    for (int v = 0; v < BS_VERB_MAX; v++) {
        o->sent_msgs[v] = atomic_load_explicit(&mm->xdc.sent_msgs[v], memory_order_relaxed);
        o->sent_bytes[v] = atomic_load_explicit(&mm->xdc.sent_bytes[v], memory_order_relaxed);
        o->recv_msgs[v] = atomic_load_explicit(&mm->xdc.recv_msgs[v], memory_order_relaxed);
        o->recv_bytes[v] = atomic_load_explicit(&mm->xdc.recv_bytes[v], memory_order_relaxed);
    }
}

void bs_msg_get_stats(const bs_msg *m, bs_msg_stats *o) {
    bs_msg *mm = (bs_msg *)m;
#define LD(f) o->f = atomic_load_explicit(&mm->st.f, memory_order_relaxed)
    LD(sent);
    LD(received);
    LD(dropped_overflow);
    LD(dropped_expired);
    LD(timeouts);
    LD(decode_errors);
    LD(refused);
    LD(auth_failures);
    LD(connects);
    LD(compressed);
    LD(compress_raw_bytes);
    LD(compress_wire_bytes);
    LD(resets);
#undef LD
}
