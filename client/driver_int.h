/*
 * driver_int.h - internals of libbasalt-client shared by client/driver*.c
 * (and white-box tests).  Not installed, not part of the public API.
 *
 *   driver_config.c   config objects, error helpers, strerror
 *   driver_stmt.c     statements, binders, prepared handles, routing keys
 *   driver_result.c   results and their typed getters
 *   driver_io.c       the I/O thread: connections, pools, requests,
 *                     timeouts, retries, re-prepare
 *   driver_cluster.c  discovery, token map, replica routing, events
 *   driver.c          the public client entry points
 *
 * Threads: user threads only touch a client through `mu` (submit queue,
 * metadata, prepared cache, defaults); everything else in bs_client
 * (connections, requests, timers) belongs to the I/O thread.
 */
#ifndef BS_CLIENT_DRIVER_INT_H
#define BS_CLIENT_DRIVER_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/socket.h>

#include "client/basalt.h"
#include "common/arena.h"
#include "common/tls.h"
#include "common/uuid.h"
#include "query/proto_msg.h"
#include "ring/strategy.h"
#include "ring/tokenmeta.h"

/* ---------------------------------------------------------------- config */

typedef struct bs__cp {
    char *host; /* name or address text */
    int port;   /* 0: the config's port */
} bs__cp;

struct bs_client_config {
    bs__cp *cps;
    size_t ncps;
    int port;
    char *local_dc;
    uint16_t cl, serial_cl;
    int request_timeout_ms, connect_timeout_ms;
    int lz4;
    int pool_size;
    int32_t page_size;
    int max_retries, retry_base_ms, retry_max_ms;
    char *keyspace;
    int token_aware;
    int contact_only; /* route to the contact points only */
    char *user, *password; /* PasswordAuthenticator (SASL PLAIN); NULL none */
    /* TLS (bs_client_config_set_ssl); strings owned, NULL = none */
    int ssl, ssl_verify;
    char *ssl_ca, *ssl_cert, *ssl_key;
};

/* Copies src into dst (fresh).  0 or BS_ENOMEM. */
int bs__config_copy(const bs_client_config *src, bs_client_config *dst);
void bs__config_clear(bs_client_config *c);

/* err helpers (err may be NULL). */
void bs__err_clear(bs_client_error *err);
void bs__err_set(bs_client_error *err, int code, const char *host,
                 const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* From a decoded server ERROR. */
void bs__err_from_proto(bs_client_error *err, const bs_proto_error *e,
                        const char *host);
void bs__strlcpy(char *dst, size_t cap, const char *src, size_t len);

/* ------------------------------------------------------------- prepared */

struct bs_client_prepared {
    atomic_int refs;
    char *query;
    char *cache_ks; /* keyspace in use when prepared (cache key) */
    uint8_t *id;    /* owned; only the I/O thread changes it */
    size_t id_len;
    pthread_mutex_t id_mu;
    size_t nparams;
    char **names;    /* nparams */
    bs_type **types; /* nparams, heap clones */
    char *route_ks;  /* keyspace of the bound table, or NULL */
    size_t npk;
    uint16_t *pk_idx; /* npk */
    size_t ncols;     /* result columns */
};

/* Builds a handle from a PREPARED result.  0 or BS_ENOMEM. */
int bs__prepared_from_result(const char *query, const char *cache_ks,
                             const bs_proto_prepared *pr,
                             bs_client_prepared **out);
bs_client_prepared *bs__prepared_retain(bs_client_prepared *p);
/* Copies the id into an arena (under id_mu).  NULL on OOM. */
bs_proto_val bs__prepared_id(bs_client_prepared *p, bs_arena *a);
void bs__prepared_set_id(bs_client_prepared *p, const uint8_t *id, size_t len);

/* ------------------------------------------------------------ statement */

enum { BS__STMT_SIMPLE = 0, BS__STMT_PREPARED = 1, BS__STMT_BATCH = 2 };
#define BS__CL_DEFAULT 0xFFFF
#define BS__PAGE_DEFAULT INT32_MIN

typedef struct bs__val {
    uint8_t *p;  /* owned (NULL when len < 1) */
    int32_t len; /* >= 0, BS_PROTO_NULL, BS_PROTO_UNSET */
} bs__val;

struct bs_client_stmt {
    int kind;
    char *query;              /* simple */
    bs_client_prepared *prep; /* prepared (a reference) */
    size_t nvals;
    bs__val *vals;
    uint16_t cl, serial_cl;
    int64_t timestamp; /* INT64_MIN: none */
    int32_t page_size; /* BS__PAGE_DEFAULT */
    uint8_t *paging_state;
    size_t paging_len;
    int idempotent; /* -1: by statement text */
    int tracing;    /* the frame's tracing flag */
    int timeout_ms; /* 0: default */
    char *keyspace; /* routing keyspace */
    uint8_t *rkey;  /* composed routing key (owned) */
    size_t rkey_len;
    int has_rkey;
    /* batch */
    int batch_type;
    size_t nchildren;
    bs_client_stmt **children;
};

/* Deep copy.  0 or BS_ENOMEM. */
int bs__stmt_clone(const bs_client_stmt *s, bs_client_stmt **out);
/* 1 when idempotent (explicit flag, else a SELECT / batch of such). */
int bs__stmt_idempotent(const bs_client_stmt *s);
/* Routing keyspace of the statement (borrowed; NULL when unknown). */
const char *bs__stmt_route_ks(const bs_client_stmt *s);

/* --------------------------------------------------------------- result */

/* Takes ownership of body (malloc'd, body_len bytes); decodes it.  On
 * failure frees body and returns BS_EPROTO with a message in msg. */
int bs__result_new(uint8_t *body, size_t body_len, uint8_t flags,
                   const char *host, bs_client_result **out, char *msg,
                   size_t msglen);
/* The decoded response inside a result (borrowed). */
const bs_proto_response *bs__result_resp(const bs_client_result *r);

/* ----------------------------------------------------------------- hosts */

typedef struct bs__conn bs__conn;
typedef struct bs__req bs__req;

typedef struct bs__host {
    char addr[64]; /* numeric address text */
    int port;
    char key[80]; /* "addr:port" */
    struct sockaddr_storage sa;
    socklen_t salen;
    char dc[64], rack[64], host_id[40], release[32];
    bs_uuid uuid;
    int64_t *tokens;
    size_t ntokens;
    int up;              /* 0 after a failed connect, until one succeeds */
    int removed;         /* no longer in the cluster (kept: plans point here) */
    int64_t next_try_ns; /* reconnect backoff while down */
    int fail_count;
    bs__conn **pool;           /* pool_size slots, NULL when empty */
    struct bs__host *next_all; /* every host ever known */
} bs__host;

/* -------------------------------------------------------------- request */

typedef void (*bs__internal_cb)(bs_client *c, bs__req *r,
                                const bs_proto_response *resp,
                                bs_client_result *res, int code,
                                bs_client_error *err);

enum {
    BS__REQ_USER = 0,    /* a user statement (stmt set) */
    BS__REQ_PREPARE = 1, /* PREPARE query on a fixed conn or routed */
    BS__REQ_RAW = 2      /* internal QUERY/REGISTER/USE on a fixed conn */
};

struct bs__req {
    int type;
    bs_client_stmt *stmt;   /* USER: owned copy */
    char *text;             /* PREPARE / RAW query text */
    uint8_t opcode;         /* RAW: QUERY or REGISTER */
    bs_client_callback ucb; /* USER */
    void *ud;
    bs__internal_cb icb; /* internal */
    void *iud;
    bs__req *parent;   /* re-prepare: the request to resend */
    bs__conn *fixed;   /* internal requests bound to a connection */
    int fixed_control; /* bind to the control connection at dispatch */
    int64_t start_ns, deadline_ns;
    int64_t wake_ns; /* delayed retry */
    int attempts, retries, unavail_retried, reprepares;
    bs__host **plan;
    size_t nplan, plan_pos;
    bs__host *cur_host;
    bs__conn *conn; /* where it is in flight / waiting */
    int16_t stream;
    int state; /* BS__RS_* */
    bs_client_error last_err;
    bs__req *next, *prev; /* in the list of its state */
    bs__req *qnext;       /* submit queue / conn wait queue */
};

enum {
    BS__RS_NEW = 0,
    BS__RS_WAITING,  /* queued on a connection not ready / out of streams */
    BS__RS_INFLIGHT, /* sent; stream id held */
    BS__RS_DELAYED,  /* backoff before a retry */
    BS__RS_DONE
};

/* ------------------------------------------------------------ connection */

#define BS__MAX_STREAMS 1024

enum { BS__CS_CONNECTING = 0, BS__CS_STARTUP, BS__CS_READY, BS__CS_CLOSED };

struct bs__conn {
    int fd;
    int state;
    int is_control;
    bs__host *host;
    bs_proto_decoder *dec;
    bs_buf out;     /* bytes not yet written */
    size_t out_off; /* written prefix of out */
    int comp;       /* lz4 active */
    int authing;    /* AUTH_RESPONSE sent, waiting for AUTH_SUCCESS */
    int64_t connect_deadline_ns;
    bs__req *streams[BS__MAX_STREAMS]; /* in flight (NULL: free) */
    uint8_t orphan[BS__MAX_STREAMS];   /* timed-out stream awaiting answer */
    int16_t free_streams[BS__MAX_STREAMS];
    int nfree;
    int inflight;
    bs__req *waitq, *waitq_tail; /* waiting for READY or a stream */
    uint64_t ks_version;         /* keyspace USEd on this conn */
    int use_pending;
    struct bs__conn *next; /* list of all conns */
    struct bs_tls *tls;    /* TLS session; NULL: plaintext.  `out` then
                              holds plaintext, `tout` the ciphertext to send */
    bs_buf tout;
    size_t tout_off;
};

/* --------------------------------------------------------------- client */

typedef struct bs__ksmeta {
    char *name;
    bs_ring_strategy *st;
    bs_ring_replica_map *map; /* lazily built for the current ring */
    struct bs__ksmeta *next;
} bs__ksmeta;

typedef struct bs__prep_entry {
    bs_client_prepared *p;
    struct bs__prep_entry *next;
} bs__prep_entry;

struct bs_client {
    bs_client_config cfg;
    struct bs_tls_ctx *tls; /* cfg.ssl: the client context; else NULL */
    pthread_t io;
    int io_started;
    int wake_fd[2];
    pthread_mutex_t mu;
    pthread_cond_t cv;
    /* --- guarded by mu --- */
    bs__req *submitq, *submitq_tail;
    int closing;
    /* bs_client_set_ticker: set by the caller, run by the I/O thread */
    int (*ticker_fn)(void *ud);
    void *ticker_ud;
    int64_t ticker_period_ns;
    uint64_t ticker_gen; /* bumped by each bs_client_set_ticker */
    int ready; /* first discovery done (1) or failed (< 0 code) */
    bs_client_error connect_err;
    bs__host *hosts_all; /* every host ever known */
    bs__host **hosts;    /* current members, sorted by key */
    size_t nhosts;
    bs__host *control_host;
    char local_dc[64];
    bs_ring_snapshot *ring; /* node i == ring_hosts[i] */
    bs__host **ring_hosts;
    bs__ksmeta *ksmeta;
    bs__prep_entry *prepq;
    char keyspace[256];
    uint64_t ks_version;
    uint16_t cl;
    uint64_t topo_version;
    uint64_t rr;         /* round-robin counter */
    bs__host **cp_hosts; /* resolved contact points */
    size_t ncp_hosts;
    /* --- I/O thread only --- */
    bs__conn *conns;
    bs__conn *control;
    int64_t control_retry_ns;
    int control_fails;
    size_t cp_next; /* next contact point to try */
    int refresh_wanted;
    int64_t refresh_at_ns;
    int refreshing;
    int peers_v2;     /* 1 yes, 0 no, -1 unknown */
    bs__req *active;  /* waiting / in flight requests */
    bs__req *delayed; /* in backoff */
    int64_t next_deadline_ns;
    uint64_t rng;
    uint64_t ticker_seen_gen; /* the I/O thread's copy of the ticker */
    int (*ticker_run)(void *ud);
    void *ticker_run_ud;
    int64_t ticker_every_ns, ticker_next_ns;
    /* refresh waiters: bs_client_refresh_topology (guarded by mu) */
    uint64_t refresh_gen, refresh_cur_gen, refresh_done_gen;
    int refresh_rc;
    bs_client_error refresh_err;
};

/* driver_io.c */
void *bs__io_main(void *arg);
/* Queues a request for the I/O thread (takes ownership). 0 or
 * BS_CLIENT_ECLOSED (then the request is freed, no callback). */
int bs__submit(bs_client *c, bs__req *r);
void bs__wake(bs_client *c);
bs__req *bs__req_new(int type);
void bs__req_free(bs__req *r);
int bs__is_io_thread(bs_client *c);
int64_t bs__now_ns(void);
/* I/O thread: start an internal request on a connection (RAW/PREPARE
 * with r->fixed set). */
void bs__dispatch(bs_client *c, bs__req *r);
/* I/O thread: delays an internal request (not yet dispatched) by
 * delay_ns, then dispatches it. */
void bs__dispatch_later(bs_client *c, bs__req *r, int64_t delay_ns);
/* I/O thread: completes a (detached) request: user callback or internal
 * callback, then frees it.  Takes res. */
void bs__complete(bs_client *c, bs__req *r, bs_client_result *res, int code,
                  bs_client_error *err);
/* I/O thread: opens a connection to host (control or pooled). */
bs__conn *bs__conn_open(bs_client *c, bs__host *h, int is_control);
void bs__conn_close(bs_client *c, bs__conn *cn, int code, const char *why);
/* I/O thread: opens connections into h's empty pool slots. */
void bs__pool_fill(bs_client *c, bs__host *h);
/* I/O thread: closes every pooled connection of h (host removed). */
void bs__pool_close(bs_client *c, bs__host *h);

/* driver_cluster.c (I/O thread unless stated) */
/* Starts a topology refresh on the control connection. */
void bs__refresh_start(bs_client *c);
/* Called when the control connection becomes ready (register+refresh). */
void bs__control_ready(bs_client *c, bs__conn *cn);
void bs__control_lost(bs_client *c);
void bs__handle_event(bs_client *c, const bs_proto_event *ev);
/* Control-connection upkeep and scheduled refreshes, once per loop turn. */
void bs__cluster_tick(bs_client *c, int64_t now);
/* After a SCHEMA_CHANGE result in a multi-node cluster: waits (bounded)
 * until every up node reports the same schema_version, then completes
 * the user request with res (takes both). */
void bs__schema_agreement(bs_client *c, bs__req *user, bs_client_result *res,
                          bs__conn *cn);
/* Builds r->plan (takes mu). */
int bs__plan_build(bs_client *c, bs__req *r);
/* Finds or creates a host (mu held). */
bs__host *bs__host_get(bs_client *c, const char *addr, int port);
/* Frees every host and metadata (close; no other thread left). */
void bs__cluster_free(bs_client *c);
/* Replica lookup under mu: node indices into ring_hosts. */
int bs__replicas_locked(bs_client *c, const char *ks, int64_t token,
                        bs__host **out, size_t cap, size_t *n);

#endif
