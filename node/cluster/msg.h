/*
 * msg.h - internode messaging: length-framed msgpack messages between
 * Basalt nodes over TCP (storage_port).
 *
 * Every message has a verb, a 64-bit id and a deadline (wall-clock ms
 * since the epoch, 0 = none), and carries an opaque payload (normally a
 * msgpack value the verb's handler decodes).  A request may expect a
 * response: the response carries the request's id, a status and its own
 * payload, and the sender's callback runs exactly once, with the
 * response or with a local error (timeout, queue full, shutting down).
 *
 * Threads: one bs_msg runs one dedicated messaging thread with its own
 * uv_loop (DESIGN.md wants one connection per loop per peer; a single
 * messaging loop is the first step, documented in msg.c).  Every public
 * function below is thread-safe unless it says "loop thread only".
 * Handlers, response callbacks, connection observers and functions run
 * with bs_msg_call() all run on the messaging thread, one at a time; they
 * must not block for long.
 *
 * Connections: one outbound connection per peer, opened on first send,
 * kept open and re-established with exponential backoff; it starts with a
 * handshake (cluster name, protocol version, host id, the sender's
 * endpoint) in which both sides prove that they know the cluster secret
 * (an HMAC challenge-response, see "Handshake" below).  A peer of another
 * cluster or protocol version, or one that cannot prove the secret, is
 * refused and logged on both sides; a refusal never tells the peer our
 * cluster name.  A message is read from the connection it arrives on
 * (inbound) and answered through our own outbound connection to its
 * sender, as in Cassandra.
 *
 * Handshake (protocol version 2).  C connects to S:
 *   1. C -> S  HANDSHAKE request, id 0: {c, pv, h, a, o, n: C's nonce}
 *   2. S -> C  HANDSHAKE response, id 0: refusal {ok: false, why} (other
 *              cluster or version: why names neither name) or challenge
 *              {ok: true, pv, h: S's host id, n: S's nonce,
 *               pf: proof(S)}
 *   3. C checks proof(S) (else closes and logs: S does not know the
 *      secret), then C -> S  HANDSHAKE request, id 1: {pf: proof(C)}
 *   4. S checks proof(C): {ok: true} (the connection is open for verbs)
 *      or {ok: false, why: "authentication failed"} and closes.
 * proof(X) = HMAC-SHA256(secret, label(X) | nonce(C) | nonce(S) |
 *            host(C) | host(S) | C's address NUL | C's port (u16 BE) |
 *            cluster name NUL), label "basalt internode v2 client\0" or
 *            "... server\0": a proof is bound to both fresh nonces, to its
 *            direction (S's answer cannot be replayed as C's proof) and to
 *            the endpoint C claims.  Nonces are 32 bytes of RAND_bytes;
 *            proofs are compared with CRYPTO_memcmp.  Any other frame
 *            before step 4 closes the connection.  Without TLS the
 *            messages after the handshake are not authenticated one by
 *            one: someone who can rewrite TCP streams between two nodes
 *            can still inject into an open connection (docs/SECURITY.md).
 */
#ifndef BS_NODE_MSG_H
#define BS_NODE_MSG_H

#include <stddef.h>
#include <stdint.h>

#include "common/uuid.h"

typedef struct bs_msg bs_msg;

/* An endpoint: an IP address in text form and its storage port. */
#define BS_MSG_ADDRLEN 64
typedef struct bs_msg_peer {
    char addr[BS_MSG_ADDRLEN];
    uint16_t port;
} bs_msg_peer;

/* Fills a peer; 0 or BS_EINVAL (address too long or not an IP). */
int bs_msg_peer_set(bs_msg_peer *p, const char *addr, uint16_t port);
/* Parses "addr:port" (IPv4, or a bare IPv6 whose port follows the last
 * ':'), as ring endpoint strings are written.  0 or BS_EINVAL. */
int bs_msg_peer_parse(bs_msg_peer *p, const char *endpoint);
int bs_msg_peer_equal(const bs_msg_peer *a, const bs_msg_peer *b);

/* Verbs.  0 is the handshake and cannot be registered.  New verbs take
 * the next number; numbers are part of the wire protocol. */
typedef enum {
    BS_VERB_HANDSHAKE = 0,
    BS_VERB_ECHO = 1,
    BS_VERB_GOSSIP_SYN = 2,
    BS_VERB_GOSSIP_ACK = 3,
    BS_VERB_GOSSIP_ACK2 = 4,
    BS_VERB_SCHEMA_PUSH = 5,
    BS_VERB_SCHEMA_PULL = 6,
    BS_VERB_MUTATION = 7,
    BS_VERB_READ = 8,
    BS_VERB_HINT = 9,
    BS_VERB_MERKLE = 10,
    BS_VERB_STREAM = 11,
    BS_VERB_MAX = 32 /* exclusive bound */
} bs_msg_verb;

#define BS_MSG_PROTOCOL_VERSION 2
#define BS_MSG_NONCE_LEN 32
#define BS_MSG_PROOF_LEN 32 /* HMAC-SHA256 */
#define BS_MSG_SECRET_MIN 16
#define BS_MSG_SECRET_MAX 4096

/* Which peers get compressed frames (internode_compression).  Receivers
 * decompress any frame whose flag says so, whatever their own setting,
 * so nodes with different settings interoperate with no negotiation. */
enum {
    BS_MSG_COMPRESS_ALL = 0, /* every peer */
    BS_MSG_COMPRESS_DC = 1,  /* peers peer_remote_dc says are in another DC */
    BS_MSG_COMPRESS_NONE = 2
};

typedef struct bs_msg_opts {
    const char *cluster_name; /* copied */
    const uint8_t *secret;    /* the cluster secret, copied; required:
                                 BS_MSG_SECRET_MIN..BS_MSG_SECRET_MAX bytes */
    size_t secret_len;
    bs_uuid host_id;
    const char *listen_address;    /* bound; copied */
    uint16_t port;                 /* 0 = any free port (see bs_msg_local) */
    const char *broadcast_address; /* what peers call us; NULL = listen */
    size_t max_message_bytes;      /* frame and decompressed size; 16 MiB */
    size_t compress_threshold;     /* lz4 bodies at least this long; 4096 */
    int compression;               /* BS_MSG_COMPRESS_*: to which peers; ALL */
    size_t queue_max;              /* messages queued per peer; 4096 */
    uint32_t reconnect_min_ms;     /* first backoff; 100 */
    uint32_t reconnect_max_ms;     /* backoff cap; 4000 */
    uint32_t connect_timeout_ms;   /* a connect + handshake not done by
                                      then is abandoned and retried after
                                      the backoff; 2000 (0 = none) */
    uint32_t tcp_user_timeout_ms;  /* TCP_USER_TIMEOUT (written bytes
                                      unacknowledged that long abort the
                                      connection) and keepalive idle time
                                      (ms / 1000 s) on every internode
                                      socket; 10000 (0 = kernel defaults) */
    uint32_t handshake_timeout_ms; /* an inbound connection that has not
                                      proved the secret by then is closed;
                                      10000 */
    size_t max_unauthenticated;    /* inbound connections still in their
                                      handshake; beyond it the oldest is
                                      closed; 256 */
    /* Internode TLS (common/tls.h contexts, borrowed: they must outlive
     * the messaging).  tls_server: accepted connections that start with a
     * TLS handshake are served over TLS (NULL: refused).  tls_client:
     * outbound connections use TLS, verifying that the peer's certificate
     * names the address dialled.  tls_needed(ud, peer, inbound): 1 when
     * the connection with peer must be encrypted; peer NULL (inbound,
     * before the hello) asks whether every connection must be; NULL
     * function: always.  Runs on the messaging thread. */
    struct bs_tls_ctx *tls_server, *tls_client;
    int (*tls_needed)(void *ud, const bs_msg_peer *peer, int inbound);
    void *tls_ud;
    /* peer_remote_dc(ud, peer): 1 when peer is in another data center, 0
     * in ours, -1 unknown (yet).  Feeds the cross-DC counters
     * (bs_msg_get_xdc); NULL: none counted.  Messaging thread. */
    int (*peer_remote_dc)(void *ud, const bs_msg_peer *peer);
    void *peer_dc_ud;
} bs_msg_opts;

void bs_msg_opts_default(bs_msg_opts *o);

/* A received request (or one-way message) as a handler sees it.  The
 * payload is borrowed and valid during the handler call only; the rest
 * may be copied to answer later with bs_msg_reply(). */
typedef struct bs_msg_in {
    bs_msg_peer from;  /* the sender's endpoint (from its handshake) */
    bs_uuid from_host; /* the sender's host id */
    uint8_t verb;
    uint64_t id;
    int64_t deadline_ms; /* 0 = none */
    int expects_reply;
    const uint8_t *payload;
    size_t len;
    int has_trace;  /* the sender traces this request ("t") */
    bs_uuid trace;  /* its trace session id */
} bs_msg_in;

typedef void (*bs_msg_handler)(void *ud, bs_msg *m, const bs_msg_in *in);
/* status 0: the peer answered and payload/len hold its response
 * (borrowed for the call).  Otherwise payload is NULL and status is
 * BS_ETIMEDOUT, BS_EOVERLOAD (queue full), BS_ECLOSED (stopping),
 * BS_ENOTSUP (the peer has no handler for the verb), or the negative
 * status the peer's handler replied with. */
typedef void (*bs_msg_response_cb)(void *ud, int status, const uint8_t *payload,
                                   size_t len);

/* Connection events reported to the observer (loop thread). */
typedef enum {
    BS_MSG_CONN_UP = 1,      /* outbound connection handshaken */
    BS_MSG_CONN_REFUSED = 2, /* connect() refused: nothing listens there */
    BS_MSG_CONN_LOST = 3     /* an established outbound connection closed */
} bs_msg_conn_event;
typedef void (*bs_msg_conn_cb)(void *ud, const bs_msg_peer *peer,
                               bs_msg_conn_event ev);

/* Counters (monotonic), read with relaxed atomics. */
typedef struct bs_msg_stats {
    uint64_t sent;             /* frames whose write completed */
    uint64_t received;         /* frames decoded */
    uint64_t dropped_overflow; /* sends refused: per-peer queue full */
    uint64_t dropped_expired;  /* messages past their deadline */
    uint64_t timeouts;         /* requests whose callback got TIMEDOUT */
    uint64_t decode_errors;    /* garbage/truncated/oversized input */
    uint64_t refused;          /* handshakes refused (either side) */
    uint64_t auth_failures;    /* of those, a missing or wrong proof */
    uint64_t connects;         /* outbound connections handshaken */
    uint64_t compressed;       /* frames sent lz4-compressed */
    uint64_t compress_raw_bytes;  /* their bodies before compression */
    uint64_t compress_wire_bytes; /* the same frames as sent (compressed) */
    uint64_t resets;           /* connections reset (bs_msg_reset_peer) */
} bs_msg_stats;

/* Creates the instance and its thread, binds and listens.  0, BS_EINVAL
 * (also: no secret or one of the wrong length), a negated errno from
 * bind/listen, or BS_ENOMEM. */
int bs_msg_start(const bs_msg_opts *o, bs_msg **out);
/* Stops: closes connections, fails pending requests with BS_ECLOSED,
 * joins the thread, frees.  Not from the loop thread.  NULL is a no-op. */
void bs_msg_stop(bs_msg *m);

/* The endpoint peers use to reach us (broadcast address + bound port). */
void bs_msg_local(const bs_msg *m, bs_msg_peer *out);
void bs_msg_host_id(const bs_msg *m, bs_uuid *out);

/* Installs the handler of a verb (replacing any earlier one; h NULL
 * removes it).  Requests with no handler are answered BS_ENOTSUP.
 * 0 or BS_EINVAL (verb 0 or >= BS_VERB_MAX). */
int bs_msg_register(bs_msg *m, uint8_t verb, bs_msg_handler h, void *ud);
void bs_msg_set_conn_observer(bs_msg *m, bs_msg_conn_cb cb, void *ud);

/*
 * fn(ud) runs on the loop thread at the end of each batch: the frames of
 * one socket read handed to their handlers, or the commands (sends and
 * bs_msg_call functions) taken at once from other threads.  A handler or
 * function can gather work and pass it on once per batch (one wake-up of
 * another thread, one store write, instead of one per message).  A batch
 * that began with fn set ends with fn even if it is replaced meanwhile.
 * fn NULL: none.
 */
void bs_msg_set_batch_end(bs_msg *m, void (*fn)(void *ud), void *ud);

/*
 * Sends payload (copied) to `to`.  With cb: a request; cb runs once on the
 * loop thread with the response or an error, at the latest timeout_ms
 * after the call (the message's deadline).  Without cb: one-way.
 * timeout_ms 0 means no deadline (one-way only; a request needs one).
 * Returns 0 when queued (the outcome then goes to cb), BS_EINVAL, BS_ENOMEM
 * or BS_ECLOSED (then cb is not called).
 */
int bs_msg_send(bs_msg *m, const bs_msg_peer *to, uint8_t verb,
                const void *payload, size_t len, uint32_t timeout_ms,
                bs_msg_response_cb cb, void *ud);
/* bs_msg_send with the trace session id `trace` (NULL: none) in the
 * envelope, for peers to record their part of a traced request. */
int bs_msg_send_traced(bs_msg *m, const bs_msg_peer *to, uint8_t verb,
                       const void *payload, size_t len, uint32_t timeout_ms,
                       const bs_uuid *trace, bs_msg_response_cb cb, void *ud);
/* Answers request `req` (only from/id/verb are read, so a copy made in
 * the handler works later) with status (0 or a negative BS_E code) and a
 * payload (copied).  No-op for one-way messages.  0 or an error. */
int bs_msg_reply(bs_msg *m, const bs_msg_in *req, int status,
                 const void *payload, size_t len);

/* Runs fn(ud) on the loop thread (asynchronously).  0, BS_ENOMEM or
 * BS_ECLOSED. */
int bs_msg_call(bs_msg *m, void (*fn)(void *ud), void *ud);
/* Same, and waits until fn returned.  Not from the loop thread. */
int bs_msg_call_sync(bs_msg *m, void (*fn)(void *ud), void *ud);
/* The messaging loop (a uv_loop_t *), for timers owned by code running
 * on the loop thread (gossip).  Loop thread only. */
void *bs_msg_loop(bs_msg *m);
/* Closes the outbound connection to a peer and stops reconnecting. */
int bs_msg_forget_peer(bs_msg *m, const bs_msg_peer *peer);
/* Closes the outbound connection to a peer, or abandons the attempt in
 * progress, and reconnects after the shortest backoff (queued messages
 * wait for the new connection; those already written are lost, their
 * requests time out).  Nothing when no connection is open or being
 * opened.  Asynchronous (runs on the loop thread); any thread, the loop
 * thread included.  0, BS_ENOMEM or BS_ECLOSED. */
int bs_msg_reset_peer(bs_msg *m, const bs_msg_peer *peer);

void bs_msg_get_stats(const bs_msg *m, bs_msg_stats *out);

/* Frames (whole, header included, as sent: compressed when they were)
 * queued to / decoded from peers in another data center, by verb; a
 * response counts under its request's verb. */
typedef struct bs_msg_xdc {
    uint64_t sent_msgs[BS_VERB_MAX], sent_bytes[BS_VERB_MAX];
    uint64_t recv_msgs[BS_VERB_MAX], recv_bytes[BS_VERB_MAX];
} bs_msg_xdc;
void bs_msg_get_xdc(const bs_msg *m, bs_msg_xdc *out);

/* ---- wire codec (pure; msg_codec.c; fuzzed) ---------------------------
 *
 * A frame on the wire:
 *   OFFSET SIZE DESCRIPTION
 *   0      4    N: length of the rest, big-endian, 1..max_message_bytes
 *   4      1    flags: bit 0 = body is lz4-compressed; others must be 0
 *   5      N-1  body; when compressed: u32 BE raw length, then an lz4 block
 * The (raw) body is one msgpack map with short string keys:
 *   "v" verb (uint < BS_VERB_MAX)   "i" id (uint64)
 *   "d" deadline ms (int64, 0 none) "k" kind (0 request, 1 response,
 *                                        2 one-way)
 *   "s" status (int32; responses)   "p" payload (bin)
 *   "t" trace session id (bin16; optional, requests of a traced CQL
 *       request: the receiver records its events under that session)
 *   "r" timeout left when sent, ms (uint32; optional, requests with a
 *       deadline): d - r is the send time on the sender's clock; the
 *       receiver learns the offset between the two clocks per connection
 *       (the smallest arrival - send time of recent requests) and uses d
 *       shifted by it, so a peer whose wall clock is skewed neither has
 *       every request dropped as expired nor gets stale ones applied
 *       (msg.c in_deadline); peers that predate "r" compare d with their
 *       own wall clock
 * Unknown keys are ignored (newer peers may add some).
 */
typedef enum {
    BS_MSG_KIND_REQUEST = 0,
    BS_MSG_KIND_RESPONSE = 1,
    BS_MSG_KIND_ONEWAY = 2
} bs_msg_kind;

typedef struct bs_msg_frame {
    uint8_t verb;
    uint8_t kind;
    uint64_t id;
    int64_t deadline_ms;
    int32_t status;
    /* decode: borrowed, no copy - it points into the bytes decoded, or
     * into `owned` (a compressed frame's inflated body); NULL when empty.
     * encode: the caller's bytes. */
    const uint8_t *payload;
    size_t len;
    uint8_t *owned; /* decode: freed by bs_msg_frame_free */
    int has_trace;     /* requests: "t", the CQL trace session (below) */
    uint8_t trace[16];
    int has_remaining; /* "r": the request's timeout left when sent, ms */
    uint32_t remaining_ms;
} bs_msg_frame;

#define BS_MSG_FRAME_HDR 5

/* Appends one complete frame (header included) to out, compressing the
 * body when it is at least compress_threshold bytes (0 = never).
 * 0, BS_ENOMEM or BS_ETOOBIG (over max). */
struct bs_buf;
int bs_msg_frame_encode(const bs_msg_frame *f, size_t compress_threshold,
                        size_t max, struct bs_buf *out);
/* Compresses an encoded uncompressed frame (frame, len) into out (whole
 * frame) when its body is at least threshold bytes and lz4 makes it
 * smaller: 0; BS_EAGAIN when it stays as it is (already compressed,
 * short, incompressible); BS_ENOMEM. */
int bs_msg_frame_compress(const uint8_t *frame, size_t len, size_t threshold,
                          struct bs_buf *out);
/* Looks at the start of a byte stream: 0 with *frame_len (header
 * included) when a whole frame is there, BS_EAGAIN when more bytes are
 * needed, BS_ETOOBIG/BS_ECORRUPT when the length field is out of range. */
int bs_msg_frame_peek(const uint8_t *p, size_t len, size_t max,
                      size_t *frame_len);
/* Decodes one whole frame (as measured by peek).  On success f->payload
 * borrows from p (valid while p is), or from what *f owns when the body
 * was compressed; bs_msg_frame_free releases it.  BS_ECORRUPT/BS_ETRUNC/
 * BS_ETOOBIG/BS_ENOMEM with a reason in err. */
int bs_msg_frame_decode(const uint8_t *p, size_t len, size_t max,
                        bs_msg_frame *f, char *err, size_t errlen);
void bs_msg_frame_free(bs_msg_frame *f);

/* Handshake payload: a msgpack map whose fields depend on the step (see
 * "Handshake" above); `fields` says which are present (encode writes
 * exactly those, decode sets the bits it read).
 *   "c" str cluster   "pv" uint proto   "h" bin16 host id   "a" str addr
 *   "o" uint16 port   "ok" bool         "why" str reason
 *   "n" bin32 nonce   "pf" bin32 proof
 * Decode checks types and sizes, that "a" is an IP literal when present
 * and that "a" and "o" come together; the caller checks which fields its
 * step needs.  Unknown keys are ignored. */
enum {
    BS_HELLO_CLUSTER = 1u << 0,
    BS_HELLO_PROTO = 1u << 1,
    BS_HELLO_HOST = 1u << 2,
    BS_HELLO_FROM = 1u << 3, /* "a" and "o" */
    BS_HELLO_OK = 1u << 4,
    BS_HELLO_WHY = 1u << 5,
    BS_HELLO_NONCE = 1u << 6,
    BS_HELLO_PROOF = 1u << 7
};

typedef struct bs_msg_hello {
    unsigned fields; /* BS_HELLO_* bits */
    char cluster[256];
    uint32_t proto;
    bs_uuid host_id;
    bs_msg_peer from;
    int ok;        /* responses: 1 accepted, 0 refused */
    char why[256]; /* refusal reason */
    uint8_t nonce[BS_MSG_NONCE_LEN];
    uint8_t proof[BS_MSG_PROOF_LEN];
} bs_msg_hello;

int bs_msg_hello_encode(const bs_msg_hello *h, struct bs_buf *out);
int bs_msg_hello_decode(const uint8_t *p, size_t len, bs_msg_hello *h,
                        char *err, size_t errlen);

/* What a handshake proof covers (see "Handshake" above). */
typedef struct bs_msg_proof_in {
    const uint8_t *secret;
    size_t secret_len;
    int server; /* 1: S's proof, 0: C's */
    const uint8_t *client_nonce, *server_nonce; /* BS_MSG_NONCE_LEN each */
    bs_uuid client_host, server_host;
    const bs_msg_peer *client_from; /* the endpoint C claimed */
    const char *cluster;
} bs_msg_proof_in;

/* Computes the proof into out.  0 or BS_EINVAL/BS_ENOMEM. */
int bs_msg_proof(const bs_msg_proof_in *in, uint8_t out[BS_MSG_PROOF_LEN]);

#endif
