/*
 * server.h - basaltd's CQL native-protocol transport (libuv).
 *
 * Room node/transport/ (this header is its door): the client-facing
 * listeners.  It owns sockets, event loops, frame decoding/encoding and
 * per-connection protocol state, and knows nothing of what a request
 * means.  It may call query/ (the frame codec), node/config.h and
 * common/; nothing in node/ calls into it except main.c and the admin
 * room's statistics.
 *
 * The server owns sockets, event loops and the protocol state of each
 * connection (OPTIONS/STARTUP/REGISTER, compression, stream ids, limits).
 * Everything a request means is left to a handler (in basaltd: the CQL
 * executor), called on a worker thread because it may block.
 *
 * Threads:
 *   - io_threads loops, each a thread with its own uv_loop and its own
 *     SO_REUSEPORT listener on the same address and port; the kernel
 *     spreads new connections over the listeners and a connection stays
 *     on the loop that accepted it for its whole life.
 *   - the handler runs on the server's own pool of worker threads
 *     (bs-worker): opts.worker_threads of them, or UV_THREADPOOL_SIZE
 *     when the environment sets it (1..1024), as when the handler ran on
 *     libuv's pool.  Results go back to the loop through an eventfd
 *     (server.c, "Wake-ups").  The server also sets UV_THREADPOOL_SIZE
 *     (to opts.worker_threads, unless set) for libuv's own pool, which
 *     the admin and HTTP endpoints use.
 *   - bs_server_broadcast_event() and bs_server_stats() may be called from
 *     any thread; bs_server_start/stop/free from one controlling thread
 *     that is not a loop or handler thread.
 *
 * Per connection, in order of arrival of frames:
 *   OPTIONS   -> SUPPORTED {CQL_VERSION:[3.4.5], COMPRESSION:[lz4],
 *                PROTOCOL_VERSIONS:[4/v4]}
 *   STARTUP   -> READY (uncompressed); with COMPRESSION=lz4 every later
 *                frame in both directions is lz4-compressed
 *   REGISTER  -> READY; the connection then receives those EVENTs
 *   QUERY, PREPARE, EXECUTE, BATCH -> handler on a worker thread; its
 *                response frame is written when ready (out of order)
 *   anything else before STARTUP -> PROTOCOL_ERROR "Unexpected message X,
 *                expecting STARTUP or OPTIONS" (connection kept)
 * Errors: an unsupported protocol version is answered with
 * bs_proto_version_error_frame and the connection closed once written; a
 * malformed frame or body gets a PROTOCOL_ERROR with the decoder's message
 * on that stream, then the connection is closed; a frame over the size
 * limit gets PROTOCOL_ERROR "Request is too big: ..." and the connection
 * continues (its body is skipped unread).
 *
 * Back-pressure: a connection stops being read while it has
 * max_inflight requests with the handler or more than max_write_queue
 * response bytes waiting for the client, and resumes below both.
 *
 * Limits that protect the node (docs/OPERATIONS.md, "Limits"):
 *   - a frame's body is buffered only as its bytes arrive, never reserved
 *     from the announced length; above max_frame it is skipped unread;
 *   - max_connections / max_connections_per_ip: an extra connection
 *     gets OVERLOADED "Too many connections ..." on its first frame and
 *     is closed (or just closed when it sends nothing for
 *     frame_timeout_ms);
 *   - frame_timeout_ms: a connection whose partial frame has not
 *     completed in that time is closed (slowloris, half-sent frames);
 *   - max_inflight_bytes: a request whose body would take the node's
 *     bytes with the handler past it is answered OVERLOADED "Server is
 *     overloaded ..." (drivers try another node) instead of growing.
 */
#ifndef BS_NODE_SERVER_H
#define BS_NODE_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "common/buf.h"
#include "node/config.h"
#include "query/proto_msg.h"

typedef struct bs_server bs_server;

typedef struct bs_server_opts {
    const char *address;     /* IPv4/IPv6 literal or host name; borrowed
                                during bs_server_start only.
                                NULL = "127.0.0.1" */
    int port;                /* 0 = any free port (see bs_server_port) */
    int io_threads;          /* loops; <= 0 means 1 */
    uint32_t max_frame;      /* body limit in bytes; 0 = 16 MiB;
                                clamped to 2^31 - 1 */
    int max_connections;     /* open connections over all loops; -1 (or
                                any negative) = unlimited.  Beyond it a new
                                connection is accepted and closed at once */
    int max_connections_per_ip; /* open connections from one client
                                address; -1 (or any negative) = unlimited.
                                Beyond either limit the connection's first
                                frame is answered with OVERLOADED "Too many
                                connections ..." and it is closed */
    int max_inflight;        /* per connection; <= 0 means 1024 */
    size_t max_inflight_bytes; /* node-wide bytes of request bodies handed
                                  to the handler and not yet answered; a
                                  request that would pass it is answered
                                  OVERLOADED.  0 = unlimited */
    unsigned frame_timeout_ms; /* a frame begun must be complete within
                                  this, else the connection is closed (a
                                  half-sent frame); 0 = no limit */
    unsigned startup_timeout_ms; /* a connection that has not sent STARTUP
                                    (and, with TLS, finished its handshake)
                                    this long after its accept is closed;
                                    0 = no limit */
    unsigned idle_timeout_ms;    /* a started connection with nothing read,
                                    written or executing for this long is
                                    closed; 0 = never */
    size_t max_write_queue;  /* per connection, bytes; 0 = 64 MiB */
    unsigned stop_timeout_ms; /* bs_server_stop's wait for in-flight work
                                 before closing connections; 0 = 5000 */
    int worker_threads;      /* handler threads (UV_THREADPOOL_SIZE in
                                the environment wins), also set as
                                UV_THREADPOOL_SIZE when the environment
                                has none; <= 0 means 64 */
    const char *authenticator; /* NULL: STARTUP -> READY.  Else STARTUP
                                is answered AUTHENTICATE with this class
                                name, AUTH_RESPONSE goes to the handler,
                                and until the handler has answered one
                                with AUTH_SUCCESS any other message gets
                                PROTOCOL_ERROR "Unexpected message X,
                                expecting SASL_RESPONSE".  Borrowed for
                                the server's lifetime. */
    struct bs_tls_ctx *tls;  /* TLS server context (common/tls.h); NULL =
                                plaintext only.  Borrowed: must outlive the
                                server */
    int tls_optional;        /* with tls: plaintext connections accepted
                                too (told apart by their first byte) */
} bs_server_opts;

/* Defaults as documented above (address 127.0.0.1, port 9042). */
void bs_server_opts_init(bs_server_opts *o);

/* Fills o from basaltd's config: rpc_address, native_transport_port,
 * io_threads (0 = cores) and the native_transport_* limits (frame size,
 * connections in total and per address, requests per connection,
 * request bytes in flight, frame read timeout); the rest keeps its
 * default.  o->address borrows cfg's string. */
void bs_server_opts_from_config(bs_server_opts *o, const bs_config *cfg);

/*
 * What the server calls.  Every callback is optional except handle.
 *
 * conn_open (loop thread) runs when a connection is accepted, with the
 * client's IP address (text, borrowed for the call); *conn_ud
 * (NULL on entry) is handed to every later call for that connection.  A
 * non-zero return refuses the connection (it is closed; conn_close is
 * not called).
 *
 * handle (worker thread) executes one QUERY, PREPARE, EXECUTE, BATCH or
 * (with opts.authenticator) AUTH_RESPONSE
 * request and appends exactly one complete response frame for `stream`,
 * compressed as `comp` says, to `out` (empty on entry).  req and all it
 * points to live in `a`, the request's arena, which the handler may
 * also allocate from; both are freed once the response is written.
 * Several calls may run at once, also for the same connection (a driver
 * pipelines requests).  Returning non-zero, or leaving `out` empty, makes
 * the server answer SERVER_ERROR itself.
 *
 * conn_close (loop thread) runs once when the connection is closed and no
 * handle() call for it is still running.
 *
 * inline_ok (loop thread, optional, NULL = never) is asked for every
 * decoded QUERY/PREPARE/EXECUTE/BATCH request; when it returns non-zero,
 * handle() runs right away on the loop thread instead of the pool, and
 * the loop's other connections wait until it returns.  Only for requests
 * known to be short and never to block (e.g. writes to the local store).
 */
/* A request in flight (handle_inline, BS_SERVER_DEFERRED). */
typedef struct bs_server_work bs_server_work;

typedef struct bs_server_handler {
    void *ud;
    int (*conn_open)(void *ud, const char *client_ip, void **conn_ud);
    void (*conn_close)(void *ud, void *conn_ud);
    int (*handle)(void *ud, void *conn_ud, const bs_proto_request *req,
                  int16_t stream, bs_proto_compression comp, bs_arena *a,
                  bs_buf *out);
    int (*inline_ok)(void *ud, void *conn_ud, const bs_proto_request *req);
    /* Optional, loop thread: inline_begin runs before each inline
     * handle(); inline_commit before inline answers gathered since are
     * sent (once per burst).  A non-zero commit (a BS_E code) means
     * those answers must not go out: each is replaced by SERVER_ERROR
     * "the node could not write to its storage (...); this request may
     * not have been applied" and the connection goes on.  basaltd: group commit of a
     * burst's writes (bs_store_defer_*). */
    void (*inline_begin)(void *ud);
    int (*inline_commit)(void *ud);
    /* Optional, loop thread: for a request inline_ok answered 2 (not 1),
     * handle_inline runs instead of handle, with the same contract,
     * except that it may return BS_SERVER_DEFERRED when the response
     * has to wait (for other nodes) - it must not block for it.  It then
     * appends the response to `out` later, from any thread, and calls
     * bs_server_work_done(w) once; until then `a`, `out` and the
     * connection stay as they are (the request counts as in flight).
     * Leaving `out` empty makes the server answer SERVER_ERROR.  Such a
     * request belongs to its pass's inline_commit (run for it even when
     * the pass has no inline answer); when that fails, its answer is
     * replaced by the SERVER_ERROR the pass's inline answers get. */
    int (*handle_inline)(void *ud, void *conn_ud, const bs_proto_request *req,
                         int16_t stream, bs_proto_compression comp, bs_arena *a,
                         bs_buf *out, bs_server_work *w);
} bs_server_handler;

#define BS_SERVER_DEFERRED 1
/* handle_inline's: this request must run on the pool (handle); `out`
 * and the request are as they came. */
#define BS_SERVER_BLOCKING 2
/* Any thread: a deferred request's response is in its `out`. */
void bs_server_work_done(bs_server_work *w);
/* Any thread, instead: handle_inline is to run again, on the loop, for
 * the deferred request w (its answers as the first run's; it is not part
 * of any pass's inline_commit, so it must not write). */
void bs_server_work_resume(bs_server_work *w);
/* The handler's slot in w, NULL at first: its state between the runs of
 * handle_inline (loop thread only). */
void **bs_server_work_state(bs_server_work *w);

/*
 * Binds every listener, then starts the loops.  opts and h are copied.
 * Returns 0 and *out, or BS_EINVAL (bad options, unresolvable address),
 * a negated errno from socket/bind/listen (e.g. -EADDRINUSE), BS_ENOMEM.
 * On error nothing is left running.
 */
int bs_server_start(const bs_server_opts *opts, const bs_server_handler *h,
                    bs_server **out);

/* The bound TCP port (the chosen one when opts.port was 0). */
int bs_server_port(const bs_server *s);

/*
 * Stops accepting, stops reading requests, waits up to
 * opts.stop_timeout_ms for the handler calls and response writes in
 * flight, then closes every connection and joins the loop threads.
 * Handler calls still running after the timeout are waited for (they
 * cannot be interrupted) but their responses are dropped; queued ones
 * are cancelled.  Idempotent.  Must not be called from a loop or
 * handler thread.
 */
void bs_server_stop(bs_server *s);

/* Stops (if needed) and frees.  NULL is a no-op. */
void bs_server_free(bs_server *s);

/*
 * Sends an EVENT (stream -1) to every connection that REGISTERed for its
 * type (ev->type: TOPOLOGY_CHANGE, STATUS_CHANGE or SCHEMA_CHANGE), each
 * framed with that connection's compression.  Any thread.  The event is
 * encoded before returning (ev is only read during the call) and
 * delivered asynchronously by each loop.
 * Returns 0, BS_EINVAL (unknown type or unencodable event), BS_ENOMEM, or
 * BS_ECLOSED once the server is stopping.
 */
int bs_server_broadcast_event(bs_server *s, const bs_proto_event *ev);

/* Counters (monotonic unless said otherwise), read with relaxed atomics. */
#define BS_SERVER_NERRCODES 18
typedef struct bs_server_stats {
    uint64_t connections_open;     /* gauge */
    uint64_t connections_total;    /* accepted and kept */
    uint64_t connections_rejected; /* over max_connections(_per_ip) or refused */
    uint64_t connections_timed_out; /* closed: a frame not completed in
                                       frame_timeout_ms */
    uint64_t requests_overloaded;  /* answered OVERLOADED: over
                                      max_inflight_bytes */
    uint64_t inflight_bytes;       /* gauge: request bytes with the handler */
    uint64_t requests_in_flight;   /* gauge: requests with the handler (queued for
                                      a worker, running on one, or left in flight
                                      on a loop); not the inline ones being run */
    uint64_t requests_total;       /* frames received (all opcodes) */
    uint64_t bytes_in;
    uint64_t bytes_out;            /* bytes whose write completed */
    uint64_t requests_inline;      /* handle() calls run on a loop thread */
    uint64_t requests_deferred;    /* ... of which left in flight (BS_SERVER_DEFERRED) */
    uint64_t requests_moved;       /* ... sent on to the pool (BS_SERVER_BLOCKING) */
    /* connections on the busiest and the idlest loop (accepts are
     * rebalanced, so these differ by at most 1 while nothing closes) */
    uint64_t loop_connections_max, loop_connections_min;
    /* ERROR frames sent, by code: errcodes[i] is the code, errors[i]
     * the count (the handler's answers included). */
    int32_t errcodes[BS_SERVER_NERRCODES];
    uint64_t errors[BS_SERVER_NERRCODES];
    uint64_t errors_other;         /* codes not in errcodes */
} bs_server_stats;

void bs_server_stats_get(const bs_server *s, bs_server_stats *out);
/* Count of ERROR frames with `code` in st (0 for unknown codes). */
uint64_t bs_server_stats_errors(const bs_server_stats *st, int32_t code);

#endif
