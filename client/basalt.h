/*
 * basalt.h - libbasalt-client: the C driver for Basalt (and any server
 * speaking the CQL native protocol v4).
 *
 * A bs_client is a session against a whole cluster.  bs_client_connect()
 * reaches one contact point, negotiates STARTUP (optionally with LZ4 frame
 * compression), discovers every node from system.local / system.peers
 * (system.peers_v2 when the server has it), reads each node's tokens and
 * the keyspaces' replication settings from system_schema.keyspaces to
 * build a token map (ring/, the same Murmur3 as the server), REGISTERs for
 * TOPOLOGY_CHANGE / STATUS_CHANGE / SCHEMA_CHANGE events and re-reads the
 * topology when one arrives.  It keeps a pool of connections per node,
 * each with many requests in flight (stream ids).
 *
 * Requests are routed token-aware when the partition key is known (from a
 * prepared statement's partition-key indices and its bound values, or an
 * explicit routing key): to a replica of the token by the keyspace's
 * replication strategy, local-DC replicas first.  Otherwise hosts are used
 * round-robin, local DC first.
 *
 * Threading: every function here may be called from any thread; a client
 * may be shared by several threads.  The driver runs one I/O thread per
 * client, which owns the sockets.  Asynchronous callbacks run ON THAT I/O
 * THREAD: they must not block (no synchronous bs_client_execute() inside a
 * callback - it returns BS_EINVAL there); they may call
 * bs_client_execute_async().  A statement, prepared handle, result or
 * config object itself is not synchronised: do not modify one from two
 * threads at once (executing the same statement from several threads
 * concurrently is fine: execution only reads it and copies what it needs).
 *
 * Errors: functions return 0 or a negative code: the BS_E... codes of
 * common/error.h (BS_EINVAL, BS_ENOMEM, BS_ETYPE, ...) or one of the
 * BS_CLIENT_E... codes below.  Functions that talk to the cluster also
 * fill an optional bs_client_error with the details (the server's error
 * code and message and the code-specific fields).  bs_client_strerror()
 * names any of these codes.
 *
 * Values are in their CQL native-protocol serialized form (see
 * query/value.h: int is 4 bytes big-endian, text UTF-8, ...); typed
 * binders and getters convert for the common scalar types.
 *
 * Ownership is stated on every prototype.  "borrowed" pointers are owned
 * by the object they come from and live as long as it (or until the call
 * that says it invalidates them).
 */
#ifndef BS_CLIENT_BASALT_H
#define BS_CLIENT_BASALT_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/error.h"
#include "common/types.h"
#include "query/proto.h" /* bs_consistency BS_CL_*, BS_PROTO_ERR_* codes */

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/* Error codes and details                                             */
/* ------------------------------------------------------------------ */

/* Client-side error codes, distinct from common/error.h's range. */
#define BS_CLIENT_ESERVER                                                      \
    (-2001) /* the server answered ERROR: see                                  \
               bs_client_error.server_code */
#define BS_CLIENT_ENOHOST                                                      \
    (-2002) /* no host available (all down,                                    \
               refused, or none in the plan) */
#define BS_CLIENT_ETIMEOUT                                                     \
    (-2003)                            /* no answer within the request         \
                                          timeout (client side) */
#define BS_CLIENT_ECONNREFUSED (-2004) /* TCP connect refused / failed */
#define BS_CLIENT_ECONNLOST                                                    \
    (-2005)                            /* connection lost with the request     \
                                          in flight */
#define BS_CLIENT_ECLOSED (-2006)      /* the client is closing/closed */
#define BS_CLIENT_ECONNTIMEOUT (-2007) /* TCP connect / STARTUP timed out */
#define BS_CLIENT_EPROTO                                                       \
    (-2008) /* the server sent bytes that do not                               \
               decode (message has details) */

/* Static message for any code above, a BS_E code or a negated errno. */
const char *bs_client_strerror(int code);

/*
 * Details of a failed request.  Filled by every function taking a
 * `bs_client_error *err` (which may be NULL).  On success err->code is 0.
 * All strings are NUL-terminated copies (truncated to fit) owned by the
 * struct: no free needed.
 */
typedef struct bs_client_error {
    int code;            /* 0, BS_CLIENT_E... or BS_E... */
    int32_t server_code; /* with BS_CLIENT_ESERVER: BS_PROTO_ERR_*; else -1 */
    char message[512];   /* server message or client-side description */
    char host[64];       /* "addr:port" of the node that answered/failed,
                            "" if none */
    /* code-specific fields of server errors; zero when unused */
    uint16_t cl;          /* UNAVAILABLE, *_TIMEOUT, *_FAILURE */
    int32_t required;     /* UNAVAILABLE */
    int32_t alive;        /* UNAVAILABLE */
    int32_t received;     /* *_TIMEOUT, *_FAILURE */
    int32_t blockfor;     /* *_TIMEOUT, *_FAILURE */
    int32_t numfailures;  /* *_FAILURE */
    uint8_t data_present; /* READ_TIMEOUT, READ_FAILURE */
    char write_type[32];  /* WRITE_TIMEOUT, WRITE_FAILURE: "SIMPLE", ... */
    char keyspace[128];   /* ALREADY_EXISTS, FUNCTION_FAILURE */
    char table[128];      /* ALREADY_EXISTS (table; "" for a keyspace),
                             FUNCTION_FAILURE (function name) */
    int attempts;         /* requests sent to servers for this call */
} bs_client_error;

/* Cassandra-style class name of a server error code ("SyntaxException",
 * "InvalidRequest", "AlreadyExists", "Unavailable", "ReadTimeout", ...),
 * as cqlsh prints them.  Static string, "ServerError" when unknown. */
const char *bs_client_error_class(int32_t server_code);

/* ------------------------------------------------------------------ */
/* Configuration                                                       */
/* ------------------------------------------------------------------ */

typedef struct bs_client_config bs_client_config;

/* A config with defaults: no contact points (add at least one), port
 * 9042, consistency LOCAL_ONE, request timeout 12000 ms, connect timeout
 * 5000 ms, no compression, 2 connections per host, page size 5000, up to
 * 3 retries with backoff 10 ms .. 1000 ms, no local DC (then the DC of
 * the first contact point that answers is local), no keyspace.
 * The caller frees it with bs_client_config_free (any time after
 * bs_client_connect: the client copies what it needs).
 * 0 or BS_ENOMEM. */
int bs_client_config_new(bs_client_config **out);
void bs_client_config_free(bs_client_config *cfg);

/* Adds contact points: "host", "host:port", "[v6addr]:port", or several
 * separated by commas.  Host names are resolved at connect time.
 * 0, BS_EINVAL (malformed port), BS_ENOMEM.  `points` is copied. */
int bs_client_config_add_contact_points(bs_client_config *cfg,
                                        const char *points);
/* Port used for contact points without one and for discovered peers
 * whose port is unknown (default 9042). */
int bs_client_config_set_port(bs_client_config *cfg, int port);
/* Local data centre for DC-aware routing (copied; NULL = auto). */
int bs_client_config_set_local_dc(bs_client_config *cfg, const char *dc);
/* Default consistency for statements that do not set one. */
int bs_client_config_set_consistency(bs_client_config *cfg, uint16_t cl);
/* Default serial consistency (SERIAL / LOCAL_SERIAL). */
int bs_client_config_set_serial_consistency(bs_client_config *cfg, uint16_t cl);
/* Per-request timeout in ms (> 0), applied to each attempt; a
 * statement's own timeout overrides it. */
int bs_client_config_set_request_timeout(bs_client_config *cfg, int ms);
/* TCP connect + STARTUP timeout in ms (> 0); also bounds
 * bs_client_connect's wait for the first contact point. */
int bs_client_config_set_connect_timeout(bs_client_config *cfg, int ms);
/* 1: negotiate LZ4 frame compression; 0: none. */
int bs_client_config_set_compression(bs_client_config *cfg, int lz4);
/* Connections per node (1..64). */
int bs_client_config_set_pool_size(bs_client_config *cfg, int n);
/* Default page size for statements that do not set one (> 0; <= 0
 * disables paging). */
int bs_client_config_set_page_size(bs_client_config *cfg, int32_t n);
/* Retry policy: at most max_retries extra attempts (0..100) for an
 * idempotent statement after a client timeout, an Overloaded /
 * IsBootstrapping / server-side timeout error or a lost connection,
 * sleeping base_ms * 2^attempt (capped at max_ms) scaled by a random
 * factor in [0.5, 1] (jitter) before each.  Unavailable is retried once
 * on the next host, without delay, whatever the idempotence.  A request
 * is never retried after the client-side request timeout of the whole
 * call would be exceeded (see bs_client_stmt_set_timeout). */
int bs_client_config_set_retry(bs_client_config *cfg, int max_retries,
                               int base_ms, int max_ms);
/* Credentials for a server with PasswordAuthenticator: answered to its
 * AUTHENTICATE with SASL PLAIN (user and password copied; both NULL =
 * none, then such a server refuses the connection with "server requires
 * authentication").  A wrong pair fails bs_client_connect with the
 * server's message ("Provided username ... are incorrect").
 * 0 or BS_EINVAL (only one of them, empty user, too long). */
int bs_client_config_set_credentials(bs_client_config *cfg, const char *user,
                                     const char *password);
/* The tools' credentials (driver_creds.c): the user is user_opt (-u)
 * or the file's; the password the file's, else $BASALT_PASSWORD, else
 * (may_prompt and a terminal) typed without echo.  file: NULL or a
 * private file, "user:password" or cqlsh's "username = / password = "
 * lines.  user[0] == 0 on return: no credentials given.  0, or an error
 * with a message in err (unreadable or public file, no password). */
int bs_client_credentials(const char *user_opt, const char *file, int may_prompt, char *user,
                          size_t ucap, char *pass, size_t pcap, char *err, size_t errlen);
/* Keyspace to USE on every connection (copied; NULL = none). */
int bs_client_config_set_keyspace(bs_client_config *cfg, const char *ks);
/* 0 disables token-aware routing (round-robin only).  Default 1. */
int bs_client_config_set_token_aware(bs_client_config *cfg, int on);
/* 1 sends every request to the contact points only, in turn (what cqlsh
 * does with its host): node-local tables such as system.local and
 * system.peers are then read from the node asked for.  Discovery still
 * runs (events, schema agreement).  Default 0. */
int bs_client_config_set_contact_points_only(bs_client_config *cfg, int on);

/* TLS to the nodes (client_encryption_options on the server).  on: use
 * it.  cafile: PEM CA certificates the nodes' certificates must be signed
 * by (NULL: the system's CAs).  certfile/keyfile: a client certificate
 * and its key, for nodes with require_client_auth (keyfile NULL: in
 * certfile).  verify: check the node's certificate against the CAs and
 * that it names the address connected to (IP subjectAltName); 0 only
 * encrypts (anyone in the middle can pretend to be the node).  Files are
 * read by bs_client_connect, which reports a bad one.  Strings copied.
 * 0, BS_EINVAL or BS_ENOMEM. */
int bs_client_config_set_ssl(bs_client_config *cfg, int on, const char *cafile,
                             const char *certfile, const char *keyfile, int verify);
/* The same from the environment: BASALT_SSL=1 (or BASALT_SSL_CA /
 * BASALT_SSL_CERT set) turns TLS on; BASALT_SSL_CA, BASALT_SSL_CERT,
 * BASALT_SSL_KEY name the files; BASALT_SSL_NO_VERIFY=1 skips the check.
 * Nothing set: no change.  0 or BS_ENOMEM. */
int bs_client_config_ssl_from_env(bs_client_config *cfg);

/* ------------------------------------------------------------------ */
/* Client                                                              */
/* ------------------------------------------------------------------ */

typedef struct bs_client bs_client;

/*
 * Connects: resolves the contact points and tries them in order until one
 * accepts STARTUP (the control connection), discovers the cluster, builds
 * the token map, opens the pools and USEs the configured keyspace.
 * Blocks up to about the connect timeout per contact point.
 * On success *out is a new client (free with bs_client_close).
 * 0, BS_EINVAL (no contact points), BS_CLIENT_ECONNREFUSED /
 * BS_CLIENT_ECONNTIMEOUT / BS_CLIENT_ENOHOST (none reachable),
 * BS_CLIENT_ESERVER (e.g. the keyspace does not exist), BS_ENOMEM;
 * err (may be NULL) has the details.  cfg is only read.
 */
int bs_client_connect(const bs_client_config *cfg, bs_client **out,
                      bs_client_error *err);

/* Closes every connection and stops the I/O thread.  Requests still in
 * flight complete with BS_CLIENT_ECLOSED (their callbacks run before this
 * returns).  Results, statements and prepared handles obtained from the
 * client stay valid and must still be freed by their owners.  Must not be
 * called from a callback.  NULL is a no-op. */
void bs_client_close(bs_client *c);

/* Changes the default consistency of later requests (the shell's
 * CONSISTENCY command).  0 or BS_EINVAL. */
int bs_client_set_consistency(bs_client *c, uint16_t cl);
uint16_t bs_client_consistency(const bs_client *c);

/* Current keyspace (after USE or from the config): a NUL-terminated copy
 * written into buf (buflen bytes), "" when none.  Returns buf. */
char *bs_client_keyspace(bs_client *c, char *buf, size_t buflen);

/* ------------------------------------------------------------------ */
/* Cluster metadata                                                    */
/* ------------------------------------------------------------------ */

/* A node as the client knows it (a copy: no free needed). */
typedef struct bs_client_host {
    char address[64]; /* RPC address, "127.0.0.1" or v6 text */
    int port;         /* native transport port */
    char dc[64];
    char rack[64];
    char host_id[40]; /* "xxxxxxxx-...", "" when unknown */
    char release_version[32];
    int up;         /* 1 while the client considers it usable */
    int is_control; /* 1 for the control connection's node */
    size_t ntokens;
} bs_client_host;

/* Number of known nodes (>= 1 once connected). */
size_t bs_client_host_count(bs_client *c);
/* Node i (0..count-1) in a stable order (sorted by address:port).
 * 0 or BS_ERANGE. */
int bs_client_host_get(bs_client *c, size_t i, bs_client_host *out);
/* Node i's tokens, ascending: up to cap into tokens, the total in *n.
 * 0, BS_ERANGE (bad index; or cap too small: then *n is the size
 * needed and the first cap are written). */
int bs_client_host_tokens(bs_client *c, size_t i, int64_t *tokens, size_t cap,
                          size_t *n);
/* Re-reads system.local/peers/keyspaces now (as an event would) and
 * waits for it.  0 or an error as for a request. */
int bs_client_refresh_topology(bs_client *c, bs_client_error *err);
/* Number of topology refreshes done (discovery counts as the first);
 * lets tests and tools see events being handled. */
uint64_t bs_client_topology_version(bs_client *c);

/* The replicas of `token` in `keyspace` (by its replication strategy as
 * read from system_schema.keyspaces; SimpleStrategy rf 1 when the
 * keyspace is unknown), in routing order (local DC first, then ring
 * order): up to cap "addr:port" strings into out[i] (each outlen bytes),
 * the count in *n.  0, BS_ENOTFOUND (no token map). */
int bs_client_replicas(bs_client *c, const char *keyspace, int64_t token,
                       char (*out)[64], size_t cap, size_t *n);

/* The Murmur3 token of a partition key given as its components'
 * serialized values (one for a simple key, several for a composite key),
 * exactly as the server computes it.  0, BS_EINVAL (n == 0),
 * BS_ETOOBIG, BS_ENOMEM. */
int bs_client_token_of(const uint8_t *const *parts, const size_t *lens,
                       size_t n, int64_t *token);

/* ------------------------------------------------------------------ */
/* Prepared statements                                                 */
/* ------------------------------------------------------------------ */

typedef struct bs_client_prepared bs_client_prepared;

/*
 * Prepares `cql` (NUL-terminated) on a node and returns a handle to it.
 * The client caches prepared statements by query text (and current
 * keyspace): preparing the same text again returns the cached handle
 * without a round trip.  When a node answers UNPREPARED (it restarted, or
 * never saw the statement) the driver re-prepares the text on that node
 * and re-sends the execution transparently.
 * On success *out is a reference the caller releases with
 * bs_client_prepared_free (the handle outlives the client if needed).
 */
int bs_client_prepare(bs_client *c, const char *cql, bs_client_prepared **out,
                      bs_client_error *err);
void bs_client_prepared_free(bs_client_prepared *p);

/* The query text (borrowed). */
const char *bs_client_prepared_query(const bs_client_prepared *p);
/* Bind variables: count, name (borrowed; the column name or the marker's
 * name) and type (borrowed). */
size_t bs_client_prepared_param_count(const bs_client_prepared *p);
const char *bs_client_prepared_param_name(const bs_client_prepared *p,
                                          size_t i);
const bs_type *bs_client_prepared_param_type(const bs_client_prepared *p,
                                             size_t i);
/* Index of the bind variable with this name (first match, exact), or
 * BS_ENOTFOUND. */
int bs_client_prepared_param_index(const bs_client_prepared *p,
                                   const char *name);
/* Result columns announced at prepare time: 0 for writes, and also when
 * the server does not announce them (Basalt answers PREPARE with
 * NO_METADATA; every ROWS result then carries its own columns). */
size_t bs_client_prepared_column_count(const bs_client_prepared *p);

/* ------------------------------------------------------------------ */
/* Statements                                                          */
/* ------------------------------------------------------------------ */

typedef struct bs_client_stmt bs_client_stmt;

/* A simple (unprepared) statement: `cql` is copied; nparams is the number
 * of `?` values it will bind (0 for none; binding beyond it grows the
 * list).  Free with bs_client_stmt_free.  0, BS_EINVAL, BS_ENOMEM. */
int bs_client_stmt_new(const char *cql, size_t nparams, bs_client_stmt **out);
/* A statement executing `p` (a reference to p is taken: p may be freed by
 * the caller before the statement).  All parameters start UNSET. */
int bs_client_stmt_new_prepared(bs_client_prepared *p, bs_client_stmt **out);
/* Batch types (the protocol's values). */
enum {
    BS_CLIENT_BATCH_LOGGED = 0,
    BS_CLIENT_BATCH_UNLOGGED = 1,
    BS_CLIENT_BATCH_COUNTER = 2
};
/* A batch of type BS_CLIENT_BATCH_*; add statements with
 * bs_client_batch_add.  Executing an empty batch is BS_EINVAL. */
int bs_client_stmt_new_batch(int batch_type, bs_client_stmt **out);
/* Appends a copy of `s` (simple or prepared, with its current values) to
 * a batch.  Later changes to s do not affect the batch.  0, BS_EINVAL
 * (b not a batch, s a batch), BS_ERANGE (65535 statements), BS_ENOMEM. */
int bs_client_batch_add(bs_client_stmt *b, const bs_client_stmt *s);
void bs_client_stmt_free(bs_client_stmt *s);

/* Binding: values are copied.  idx is the bind-variable position.  For a
 * prepared statement idx must be < the parameter count (BS_ERANGE) and
 * typed binders check the declared type (BS_ETYPE; integer binders accept
 * any integer-like column whose range holds the value, else BS_ERANGE).
 * Simple statements send what is given (an int32 binder sends 4 bytes).
 * 0, BS_EINVAL (a batch), BS_ERANGE, BS_ETYPE, BS_ENOMEM. */
/* Native-serialized bytes, used as-is (len BS_CLIENT_NULL for null). */
int bs_client_stmt_bind_bytes(bs_client_stmt *s, size_t idx, const void *p,
                              size_t len);
#define BS_CLIENT_NULL ((size_t)-1)
int bs_client_stmt_bind_null(bs_client_stmt *s, size_t idx);
/* "not set": the column is left untouched (protocol v4 UNSET). */
int bs_client_stmt_bind_unset(bs_client_stmt *s, size_t idx);
int bs_client_stmt_bind_bool(bs_client_stmt *s, size_t idx, int v);
/* tinyint / smallint / int / bigint / counter / timestamp(ms) / time(ns)
 * / varint by the declared type (simple statements: 4 bytes for int32, 8
 * for int64). */
int bs_client_stmt_bind_int32(bs_client_stmt *s, size_t idx, int32_t v);
int bs_client_stmt_bind_int64(bs_client_stmt *s, size_t idx, int64_t v);
/* float / double by the declared type (simple: 8-byte double). */
int bs_client_stmt_bind_double(bs_client_stmt *s, size_t idx, double v);
/* text / varchar / ascii (NUL-terminated, copied). */
int bs_client_stmt_bind_text(bs_client_stmt *s, size_t idx, const char *v);
int bs_client_stmt_bind_textn(bs_client_stmt *s, size_t idx, const char *v,
                              size_t len);
/* uuid / timeuuid (16 bytes). */
int bs_client_stmt_bind_uuid(bs_client_stmt *s, size_t idx,
                             const uint8_t v[16]);
/* By bind-variable name (prepared statements): like bind_bytes.
 * BS_ENOTFOUND for an unknown name. */
int bs_client_stmt_bind_bytes_by_name(bs_client_stmt *s, const char *name,
                                      const void *p, size_t len);

/* Per-statement options.  Unset options take the client defaults. */
int bs_client_stmt_set_consistency(bs_client_stmt *s, uint16_t cl);
int bs_client_stmt_set_serial_consistency(bs_client_stmt *s, uint16_t cl);
/* Client-side write timestamp in microseconds (INT64_MIN: server's). */
int bs_client_stmt_set_timestamp(bs_client_stmt *s, int64_t us);
/* Rows per page (> 0), or <= 0 for no paging (all rows at once). */
int bs_client_stmt_set_page_size(bs_client_stmt *s, int32_t n);
/* Resume from a paging state (copied; NULL/0 clears it). */
int bs_client_stmt_set_paging_state(bs_client_stmt *s, const void *p,
                                    size_t len);
/* 1: safe to retry (re-executing has the same effect).  Default: 1 for
 * statements whose text starts with SELECT, 0 otherwise. */
int bs_client_stmt_set_idempotent(bs_client_stmt *s, int idempotent);
/* 1: ask the coordinator to trace this statement (the frame's tracing
 * flag); the result then carries the trace session id
 * (bs_client_result_tracing_id), whose events are in
 * system_traces.events.  Default 0. */
int bs_client_stmt_set_tracing(bs_client_stmt *s, int on);
/* Request timeout for this statement in ms (> 0; 0 = client default).
 * It bounds each attempt; retries stop once the total elapsed time would
 * exceed twice this value. */
int bs_client_stmt_set_timeout(bs_client_stmt *s, int ms);
/* Explicit routing: the keyspace (copied; needed to find the replication
 * strategy of simple statements) and the serialized partition key
 * components (copied).  Prepared statements route by their own
 * metadata and bound values without this. */
int bs_client_stmt_set_keyspace(bs_client_stmt *s, const char *ks);
int bs_client_stmt_set_routing_key(bs_client_stmt *s,
                                   const uint8_t *const *parts,
                                   const size_t *lens, size_t n);
/* The token the statement would be routed by.  0, BS_ENOTFOUND (no
 * routing key: no pk metadata, an unset/null key value, or none set). */
int bs_client_stmt_routing_token(const bs_client_stmt *s, int64_t *token);

/* ------------------------------------------------------------------ */
/* Results                                                             */
/* ------------------------------------------------------------------ */

typedef struct bs_client_result bs_client_result;

typedef enum {
    BS_CLIENT_RESULT_VOID = 1,
    BS_CLIENT_RESULT_ROWS = 2,
    BS_CLIENT_RESULT_SET_KEYSPACE = 3,
    BS_CLIENT_RESULT_PREPARED = 4,
    BS_CLIENT_RESULT_SCHEMA_CHANGE = 5
} bs_client_result_type;

void bs_client_result_free(bs_client_result *r);
/* A bs_client_result_type. */
int bs_client_result_kind(const bs_client_result *r);
/* "addr:port" of the coordinator that answered (borrowed). */
const char *bs_client_result_host(const bs_client_result *r);
/* Server warnings (borrowed strings). */
size_t bs_client_result_warning_count(const bs_client_result *r);
const char *bs_client_result_warning(const bs_client_result *r, size_t i);
/* The trace session id of a traced statement: 0 and *out, or
 * BS_ENOTFOUND when the server sent none. */
int bs_client_result_tracing_id(const bs_client_result *r, uint8_t out[16]);

/* SET_KEYSPACE: the keyspace; SCHEMA_CHANGE: the change ("CREATED"),
 * target ("TABLE"), keyspace and name ("" when none).  Borrowed, "" for
 * other kinds. */
const char *bs_client_result_keyspace(const bs_client_result *r);
const char *bs_client_result_change_type(const bs_client_result *r);
const char *bs_client_result_change_target(const bs_client_result *r);
const char *bs_client_result_change_name(const bs_client_result *r);

/* Rows: columns (0 for other kinds).  Names, keyspaces, tables and types
 * are borrowed; NULL for a bad index. */
size_t bs_client_result_column_count(const bs_client_result *r);
const char *bs_client_result_column_name(const bs_client_result *r, size_t i);
const char *bs_client_result_column_keyspace(const bs_client_result *r,
                                             size_t i);
const char *bs_client_result_column_table(const bs_client_result *r, size_t i);
const bs_type *bs_client_result_column_type(const bs_client_result *r,
                                            size_t i);
/* Index of the column with this name, or BS_ENOTFOUND. */
int bs_client_result_column_index(const bs_client_result *r, const char *name);

/* Rows in this page. */
size_t bs_client_result_row_count(const bs_client_result *r);
/* Moves the cursor to the next row: 1 a row, 0 no more rows in this page.
 * The first call moves to row 0. */
int bs_client_result_next_row(bs_client_result *r);
/* Back before the first row. */
void bs_client_result_rewind(bs_client_result *r);

/* Getters on the cursor's row, column col.  They return 0, BS_ENOTFOUND
 * when the value is null, BS_ERANGE (bad column or no current row),
 * BS_ETYPE (column type does not convert), BS_ECORRUPT (a value of the
 * wrong size).  Borrowed pointers live as long as the result. */
/* Raw serialized bytes (null: *p NULL, *len BS_CLIENT_NULL, returns 0). */
int bs_client_result_get_bytes(const bs_client_result *r, size_t col,
                               const uint8_t **p, size_t *len);
int bs_client_result_is_null(const bs_client_result *r, size_t col);
int bs_client_result_get_bool(const bs_client_result *r, size_t col, int *v);
/* tinyint / smallint / int / bigint / counter / timestamp / time / date
 * (raw uint32) / varint up to 8 bytes. */
int bs_client_result_get_int64(const bs_client_result *r, size_t col,
                               int64_t *v);
int bs_client_result_get_int32(const bs_client_result *r, size_t col,
                               int32_t *v); /* BS_ERANGE if it won't fit */
/* float / double (and integer types, converted). */
int bs_client_result_get_double(const bs_client_result *r, size_t col,
                                double *v);
/* text / varchar / ascii: borrowed bytes, NOT NUL-terminated. */
int bs_client_result_get_text(const bs_client_result *r, size_t col,
                              const char **p, size_t *len);
/* uuid / timeuuid: 16 borrowed bytes. */
int bs_client_result_get_uuid(const bs_client_result *r, size_t col,
                              const uint8_t **v);
/* Appends the value as cqlsh shows it (bs_value_format with `flags`,
 * "null" for null) to out (the caller's buffer).  0, BS_ERANGE,
 * BS_ECORRUPT, BS_ENOMEM. */
int bs_client_result_get_formatted(const bs_client_result *r, size_t col,
                                   int flags, bs_buf *out);

/* Paging: 1 when the server has more rows after this page. */
int bs_client_result_has_more_pages(const bs_client_result *r);
/* The paging state (borrowed; *len 0 and *p NULL when none). */
void bs_client_result_paging_state(const bs_client_result *r, const uint8_t **p,
                                   size_t *len);

/* ------------------------------------------------------------------ */
/* Execution                                                           */
/* ------------------------------------------------------------------ */

/*
 * Executes `s` and waits for the answer.  On success *out is a new result
 * the caller frees with bs_client_result_free.  On failure *out is NULL
 * and err (may be NULL) holds the details.  s is only read (it may be
 * freed or changed as soon as this returns).  Must not be called from a
 * callback (BS_EINVAL).
 */
int bs_client_execute(bs_client *c, const bs_client_stmt *s,
                      bs_client_result **out, bs_client_error *err);

/* Convenience: a simple statement without values at the default
 * consistency. */
int bs_client_query(bs_client *c, const char *cql, bs_client_result **out,
                    bs_client_error *err);

/*
 * The next page of the query that produced `prev` (which must have more
 * pages): executes s again with prev's paging state.  s and prev are only
 * read; the caller still frees prev.  *out as for bs_client_execute.
 * BS_ENOTFOUND when prev has no more pages.
 */
int bs_client_next_page(bs_client *c, const bs_client_stmt *s,
                        const bs_client_result *prev, bs_client_result **out,
                        bs_client_error *err);

/*
 * Completion callback of an asynchronous request.  Runs on the client's
 * I/O thread (never in the calling thread, never concurrently with
 * another callback of the same client).  On success `res` is a new
 * result owned by the callback (free it with bs_client_result_free, now
 * or later from any thread) and err->code is 0; on failure res is NULL
 * and err (borrowed, valid during the call) has the details.  Must not
 * block or call bs_client_execute / bs_client_close.
 */
typedef void (*bs_client_callback)(bs_client_result *res,
                                   const bs_client_error *err, void *ud);

/* Queues `s` (copied: it may be freed right after) and returns at once.
 * cb is called exactly once, also when the client closes (with
 * BS_CLIENT_ECLOSED) - unless this returns an error, in which case cb is
 * never called.  0, BS_CLIENT_ECLOSED, BS_ENOMEM, BS_EINVAL. */
int bs_client_execute_async(bs_client *c, const bs_client_stmt *s,
                            bs_client_callback cb, void *ud);

/*
 * Runs fn(ud) on the client's I/O thread about every period_us
 * microseconds (10..1000000), with the same rules as a completion
 * callback (never concurrently with one, must not block), until fn
 * returns non-zero or another call replaces it (fn NULL: none).  Made for
 * load generators that start requests at planned times: requests
 * submitted from fn are sent in the same pass of the loop, without
 * waking another thread.  The loop waits with nanosecond timeouts while
 * a ticker is set.  0, BS_EINVAL or BS_CLIENT_ECLOSED.
 */
int bs_client_set_ticker(bs_client *c, uint32_t period_us, int (*fn)(void *ud), void *ud);

#ifdef __cplusplus
}
#endif

#endif
