/*
 * exec.h - the CQL executor: turns QUERY / PREPARE / EXECUTE / BATCH
 * requests into reads and writes, and those into RESULT or ERROR frames.
 *
 * The executor knows CQL, the schema and the result format; it does not
 * know where data lives.  It reaches data, schema changes and node facts
 * through a bs_exec_backend that node/ implements (single node: the local
 * store; cluster: the coordinator).  query/ never includes storage/ or
 * node/ headers.
 *
 * Threading: a bs_exec is shared by every connection and thread; the
 * prepared-statement cache is internally locked.  bs_exec_request() may
 * block (it calls the backend synchronously), so the server runs it off
 * the event loops, on worker threads; bs_exec_request_async (below)
 * serves plain prepared writes on an event loop without waiting.  A bs_exec_session belongs to one
 * connection and is used by one request at a time... except that a
 * driver may pipeline requests on a connection: only `keyspace` is
 * shared, and it is guarded by the session's own lock.
 */
#ifndef BS_QUERY_EXEC_H
#define BS_QUERY_EXEC_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "common/buf.h"
#include "common/rowdata.h"
#include "common/uuid.h"
#include "query/mutation.h"
#include "query/proto_msg.h"
#include "query/schema.h"

/* Why a backend call failed, as the ERROR frame will say it. */
typedef struct bs_exec_err {
    int32_t code; /* bs_proto_errcode */
    char msg[512];
    uint16_t cl;            /* consistency of the failed request */
    int32_t required;       /* UNAVAILABLE */
    int32_t alive;          /* UNAVAILABLE */
    int32_t received;       /* *_TIMEOUT, *_FAILURE */
    int32_t blockfor;       /* *_TIMEOUT, *_FAILURE */
    int32_t numfailures;    /* *_FAILURE: replicas that answered with an error */
    uint8_t data_present;   /* READ_TIMEOUT */
    const char *write_type; /* WRITE_TIMEOUT: "SIMPLE", "BATCH", ... static */
} bs_exec_err;

/* One node as system.local / system.peers describe it.  Strings borrowed
 * from the backend's arena argument. */
typedef struct bs_exec_node {
    const char *address;     /* broadcast (internode) address */
    const char *rpc_address; /* CQL address */
    int native_port;
    int storage_port;
    const char *dc;
    const char *rack;
    bs_uuid host_id;
    bs_uuid schema_version;
    const char *release_version;
    const int64_t *tokens;
    size_t ntokens;
    int up;
} bs_exec_node;

/* A lightweight transaction (compare-and-set) on one partition: a
 * Paxos round at serial_cl (SERIAL or LOCAL_SERIAL) reads the partition
 * slice `slice` at the matching quorum, hands it to check(), and when
 * check() answers 1 proposes and commits the update m[0..nm) (all of
 * this partition) at consistency cl.  The update's op timestamps are
 * moved by (ballot microseconds - base_ts), so a committed LWT always
 * shadows the ones before it.  check() runs on the caller's thread,
 * possibly several times (contention retries); it returns 1 (apply),
 * 0 (condition false) or -1 (error: the cas call returns -1 with err
 * untouched, the caller knows why). */
typedef struct bs_exec_cas {
    const bs_table_schema *t;
    int64_t token;
    const uint8_t *pk;
    size_t pk_len;
    const bs_slice *slice;
    const bs_mutation *m;
    size_t nm;
    int64_t base_ts;
    uint16_t serial_cl, cl;
    int (*check)(void *cud, const bs_partv *cur);
    void *cud;
} bs_exec_cas;

typedef struct bs_exec_backend {
    void *ud;
    /* The current schema snapshot, retained for the caller. */
    bs_schema *(*schema_get)(void *ud);
    /* Publishes `next` (ownership passes to the backend, also on error):
     * persists it, creates or drops the store tables it implies, tells
     * the cluster, and pushes SCHEMA_CHANGE events described by `ev`. */
    int (*schema_apply)(void *ud, bs_schema *next,
                        const bs_proto_schema_change *ev, bs_exec_err *err);
    /* Applies mutations (possibly of several partitions/tables) at
     * consistency cl.  logged: a logged batch (all or nothing). */
    int (*write)(void *ud, const bs_mutation *m, size_t n, uint16_t cl,
                 int logged, bs_exec_err *err);
    /* Reads one partition slice; *out and what it points to come from
     * arena `a`. */
    int (*read)(void *ud, const bs_table_schema *t, int64_t token,
                const void *pk, size_t pk_len, const bs_slice *sl, uint16_t cl,
                bs_arena *a, bs_partv **out, bs_exec_err *err);
    /* Scans a token range in token order; cb as bs_part_cb (the partition
     * is valid during the call only). */
    int (*scan)(void *ud, const bs_table_schema *t, const bs_scan *sc,
                uint16_t cl, bs_part_cb cb, void *cbud, bs_exec_err *err);
    /* Optional (NULL: use scan).  The same range row by row, for
     * aggregations: v as bs_store_visit describes (rows with a live
     * selected cell, borrowed; the partition callback may skip a
     * partition before it is read).  Data on this node is visited in
     * its store without building partitions; other replicas' partitions
     * are fetched as scan fetches them and fed to v.  No cursor. */
    int (*visit)(void *ud, const bs_table_schema *t, const bs_scan *sc, uint16_t cl,
                 const bs_visit *v, bs_exec_err *err);
    /* Removes every row of a table on every replica. */
    int (*truncate)(void *ud, const bs_table_schema *t, bs_exec_err *err);
    /* This node and its peers, for system.local/peers/peers_v2. */
    int (*nodes)(void *ud, bs_arena *a, bs_exec_node *local,
                 bs_exec_node **peers, size_t *npeers);
    /* Estimates this node's partitions of t with tokens in (start, end]
     * and their mean size in bytes, from a bounded sample (for
     * system.size_estimates).  NULL: not available (no rows). */
    int (*estimate)(void *ud, const bs_table_schema *t, int64_t start, int64_t end,
                    int64_t *partitions, int64_t *mean_size);
    /* Optional (NULL: lightweight transactions are refused).  Runs the
     * transaction q; *cur (arena a) is the partition check() saw last
     * (NULL when absent) and *applied whether the update was committed.
     * 0, or -1 with err (Unavailable, WriteTimeout with write_type CAS,
     * ...).  A read at SERIAL / LOCAL_SERIAL goes through `read`. */
    int (*cas)(void *ud, const bs_exec_cas *q, bs_arena *a, bs_partv **cur,
               int *applied, bs_exec_err *err);
    /* Wall-clock microseconds for write timestamps and now(). */
    int64_t (*now_us)(void *ud);
    /* Static facts for system.local. */
    const char *cluster_name;
    /* Writes to counter tables (mutations holding BS_MOP_COUNTER_ADD ops,
     * possibly besides tombstones) at consistency cl: each increment is
     * applied once by a leader replica and its new shard replicated
     * (docs/CQL.md, "Counters").  NULL: counters are refused. */
    int (*counter_write)(void *ud, const bs_mutation *m, size_t n, uint16_t cl,
                         bs_exec_err *err);
    /* Optional (NULL: write is used).  As write, without waiting for
     * other nodes: returns 0 (written) or -1 (err) when the outcome is
     * known at once, or 1 when it depends on replies still to come -
     * done(dud, rc, err) is then called exactly once, later, on another
     * thread (err valid during the call only).  m is not needed after
     * the return.  Never blocks on the network.  Never a logged batch
     * (no batchlog here): those go through write. */
    int (*write_async)(void *ud, const bs_mutation *m, size_t n, uint16_t cl,
                       bs_exec_err *err,
                       void (*done)(void *dud, int rc, const bs_exec_err *err),
                       void *dud);
    /* Optional (NULL: read is used).  As read, without waiting for other
     * nodes: 0 (*out set) or -1 (err) when the outcome is known at once;
     * 1 when it depends on replies still to come - done(dud, rc, err) is
     * then called exactly once, later, on another thread, with *out set
     * when rc is 0; `a` is the read's alone until then.  2 (now or in
     * done): this read needs to block (a Paxos read at SERIAL, answers
     * that differ and need a read repair): use read.  The slice, key and
     * t are not needed after the return.  Never blocks on the network. */
    int (*read_async)(void *ud, const bs_table_schema *t, int64_t token, const void *pk,
                      size_t pk_len, const bs_slice *sl, uint16_t cl, bs_arena *a,
                      bs_partv **out, bs_exec_err *err,
                      void (*done)(void *dud, int rc, const bs_exec_err *err), void *dud);
} bs_exec_backend;

typedef struct bs_exec bs_exec;

/* Guardrails on writes (config keys max_future_timestamp,
 * batch_size_warn_threshold, batch_size_fail_threshold). */
typedef struct bs_exec_limits {
    /* A write timestamp more than this ahead of the coordinator's clock is
     * refused (InvalidRequest): it would shadow every later write and
     * delete until the clock caught up.  0: no check.  Default 1 day.
     * INT64_MAX is refused always (nothing could ever delete the cell). */
    int64_t max_future_timestamp_us;
    /* A batch over more than one partition whose mutations exceed these
     * many bytes (keys and values) is logged (warn) or refused with
     * InvalidRequest (fail), as Cassandra's batch_size_*_threshold.
     * 0: no check.  Defaults 5 KiB and 50 KiB. */
    uint64_t batch_size_warn_bytes;
    uint64_t batch_size_fail_bytes;
    /* Memory of the prepared statements kept (all sessions); beyond it the
     * least recently used are dropped and an EXECUTE of one answers
     * UNPREPARED (the driver prepares it again).  0: no limit.  Default
     * 10 MiB (Cassandra's prepared_statements_cache_size floor). */
    uint64_t prepared_cache_bytes;
    /* Writes to one partition (keys, values, element keys and timestamps)
     * of a statement or batch above max_mutation_bytes, a cell value above
     * max_value_bytes, a collection written with more than
     * max_collection_items elements or max_collection_bytes bytes: refused
     * with InvalidRequest.  0: no check.  Defaults 16 MiB (Cassandra's
     * max_mutation_size), the others 0 (as Cassandra's guardrails). */
    uint64_t max_mutation_bytes;
    uint64_t max_value_bytes;
    uint64_t max_collection_items;
    uint64_t max_collection_bytes;
} bs_exec_limits;

void bs_exec_limits_default(bs_exec_limits *l);

/* The prepared-statement cache, for /metrics. */
typedef struct bs_exec_stats {
    uint64_t prepared;       /* statements in the cache */
    uint64_t prepared_bytes; /* their memory as the cache counts it */
    uint64_t evicted;        /* dropped for room since start */
} bs_exec_stats;

typedef struct bs_exec_async_seen {
    uint8_t id[16];
    uint8_t known, ok;
} bs_exec_async_seen;

typedef struct bs_exec_session {
    pthread_mutex_t lock;
    char keyspace[64]; /* "" until USE */
    /* the role that logged in (AUTH_RESPONSE); set once, under lock */
    char user[257];
    uint8_t authed;   /* user is set */
    uint8_t internal; /* the executor's own requests: no permission checks */
    char client[64];   /* the client's IP (system_traces.sessions.client);
                          "" when unknown.  Set once at connect. */
    /* bs_exec_async_ok's answers by prepared id (direct-mapped), kept by
     * the one thread that asks (the connection's event loop).  A stale
     * answer only sends a request the other way: both ways are correct. */
    bs_exec_async_seen async_seen[16];
} bs_exec_session;

void bs_exec_session_init(bs_exec_session *s);
void bs_exec_session_destroy(bs_exec_session *s);

/* ---- tracing (exec_trace.c) ----------------------------------------------
 * A request is traced when its frame has the tracing flag (the response
 * then carries the session id) or, without it, with the probability set
 * here (basalt-admin settraceprobability; 0 by default).  Trace rows are
 * written to the node-local system_traces tables with a TTL of
 * BS_TRACE_TTL_S, as Cassandra does. */
#define BS_TRACE_TTL_S 86400
struct bs_trace;
void bs_exec_set_trace_probability(bs_exec *x, double p); /* clamped to [0,1] */
double bs_exec_trace_probability(bs_exec *x);

/* What bs_exec_trace_rows writes besides the recorded events. */
typedef struct bs_exec_trace_info {
    const char *source; /* this node's internode address (IP text) */
    int source_port;    /* its internode port; 0: left null */
    int with_session;   /* also the sessions row (the coordinator) */
    int64_t duration_us;/* sessions.duration; < 0: left null */
    int64_t now_us;     /* write timestamp */
    int32_t ttl_s;
} bs_exec_trace_info;

/* The rows of this node's part of trace t (its events; with_session the
 * sessions row too) as mutations of system_traces in s, allocated from
 * arena a.  0, BS_ENOMEM, or BS_ENOTFOUND (s has no system_traces). */
int bs_exec_trace_rows(const bs_schema *s, struct bs_trace *t,
                       const bs_exec_trace_info *ti, bs_arena *a,
                       bs_mutation **out, size_t *n);

/* A new executor over `be` (copied), with the default limits.  NULL on
 * OOM. */
bs_exec *bs_exec_new(const bs_exec_backend *be);
/* Replaces the limits (copied); call before serving requests. */
void bs_exec_set_limits(bs_exec *x, const bs_exec_limits *l);
void bs_exec_free(bs_exec *x);
void bs_exec_stats_get(bs_exec *x, bs_exec_stats *out);

/*
 * Authentication and authorization (exec_auth.c; docs/SECURITY.md).
 * authenticate: PasswordAuthenticator (else AllowAllAuthenticator: every
 * connection is anonymous); authorize: CassandraAuthorizer (needs
 * authenticate; else AllowAllAuthorizer).  The validity periods bound how
 * long a role row / a role's permissions read from system_auth are
 * reused (0: read every time).  initial_user / initial_password: the
 * superuser created at the first login attempt when it does not exist
 * (copied; both NULL: none).  kdf_iterations: PBKDF2 iterations of new
 * password hashes (0: BS_AUTH_KDF_ITERATIONS).
 */
typedef struct bs_exec_auth_opts {
    int authenticate;
    int authorize;
    unsigned credentials_validity_ms;
    unsigned permissions_validity_ms;
    const char *initial_user;
    const char *initial_password;
    unsigned kdf_iterations;
} bs_exec_auth_opts;

/* Sets the options (before serving requests).  0 or BS_ENOMEM. */
int bs_exec_set_auth(bs_exec *x, const bs_exec_auth_opts *o);
/* 1 when connections must authenticate (PasswordAuthenticator). */
int bs_exec_auth_required(const bs_exec *x);
/* Creates the replicated keyspace system_auth (roles, role_permissions)
 * through the backend when the schema has none.  0, or an error code with
 * a message in err. */
int bs_exec_auth_schema(bs_exec *x, char *err, size_t errlen);

/*
 * Logins and permission checks for other front ends than CQL (the HTTP
 * port, node/ts/), through the same role and permission caches.
 *
 * bs_exec_login: 1 when `user` exists, may log in and `pass` (plen bytes)
 * is its password; 0 when not (err: the message to show, the same for an
 * unknown role and a wrong password; a failed login is logged); -1 when
 * system_auth could not be read (err says why).  Costs one PBKDF2 run.
 *
 * bs_exec_permitted: 1 when `user` holds `perm` (BS_CQL_PERM_*) on
 * keyspace ks (NULL: on all keyspaces) or a parent, or is a superuser, or
 * CassandraAuthorizer is off; 0 when not (err: Cassandra's Unauthorized
 * message); -1 when it could not be checked (err).
 */
int bs_exec_login(bs_exec *x, const char *user, const char *pass, size_t plen, char *err,
                  size_t errlen);
int bs_exec_permitted(bs_exec *x, const char *user, uint8_t perm, const char *ks, char *err,
                      size_t errlen);

/*
 * Executes one QUERY, PREPARE, EXECUTE, BATCH or AUTH_RESPONSE request
 * (the latter answered AUTH_SUCCESS or AuthenticationError) and appends the
 * complete response frame (RESULT or ERROR, with `stream`, compressed as
 * `comp` says) to `out`.  `a` is the request's arena (the executor
 * allocates its temporaries there).  Returns 0 when a frame was written
 * (an ERROR frame is still 0), or BS_ENOMEM when nothing could be.
 * Other opcodes give a PROTOCOL_ERROR frame.
 */
int bs_exec_request(bs_exec *x, bs_exec_session *s, const bs_proto_request *req,
                    int16_t stream, bs_proto_compression comp, bs_arena *a,
                    bs_buf *out);

/*
 * For an event loop, which must not wait for other nodes.
 * bs_exec_async_ok says whether req may go through
 * bs_exec_request_async: an EXECUTE (not traced, and no trace
 * probability set) of a prepared SELECT, or of a prepared INSERT,
 * UPDATE or DELETE that is neither conditional nor of a counter table,
 * with a backend that has read_async and write_async.  Cheap: a cache
 * and a schema look-up.
 *
 * bs_exec_request_async runs req as bs_exec_request does, except that
 * its write goes through be.write_async and its read through
 * be.read_async.  It returns:
 *   0 (or BS_ENOMEM) - answered, as bs_exec_request;
 *   BS_EXEC_DEFERRED - the outcome waits for replies; out is untouched.
 *       Later, on another thread, done(dud, again) is called once.
 *       again 0: a write's response frame was appended to out (left
 *       empty when even an error frame could not be built).
 *       again 1: a read's answer came; call bs_exec_request_async again
 *       on the loop with the same arguments (done, dud and state too),
 *       which runs the statement once more over that answer (the same
 *       schema and clock) and returns any of these values.
 *   BS_EXEC_BLOCKING - the request needs to wait in ways a loop must not
 *       (a second read, a scan, a Paxos read, a read-before-write, a
 *       digest mismatch to repair): nothing was written and out is
 *       untouched; run it with bs_exec_request where blocking is fine.
 * *state (NULL at first) carries a deferred read's answer between the
 * calls; it is NULL again once a call returns anything but
 * BS_EXEC_DEFERRED.  `a` and `out` must live until the request is
 * answered; s need not.  Anything else the statement does (a permission
 * or role read on a cache miss) still runs synchronously.
 */
#define BS_EXEC_DEFERRED 1
#define BS_EXEC_BLOCKING 2
int bs_exec_async_ok(bs_exec *x, bs_exec_session *s, const bs_proto_request *req);
int bs_exec_request_async(bs_exec *x, bs_exec_session *s, const bs_proto_request *req,
                          int16_t stream, bs_proto_compression comp, bs_arena *a, bs_buf *out,
                          void (*done)(void *dud, int again), void *dud, void **state);

#endif
