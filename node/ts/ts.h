/*
 * ts.h - the time-series endpoint (InfluxDB 1.x/2.x compatible) behind
 * the HTTP server of node/transport/http.h.
 *
 * Room node/ts/: routes HTTP requests to the InfluxDB API (ts_http.c),
 * maps databases, measurements, series and fields onto keyspaces, tables
 * and columns (ts_schema.c, docs/TIMESERIES.md), and writes points
 * through the executor backend (ts_write.c; query/exec.h) so they go
 * through the coordinator like CQL writes: grouped per partition, sent to
 * that partition's replicas at the request's consistency, covered by
 * hints and repair.  It may call query/, ring/, storage/keycodec,
 * node/transport/ and common/.
 *
 *     bs_ts_opts o;
 *     bs_ts_opts_from_config(&o, &cfg);
 *     bs_ts *ts;
 *     bs_ts_new(&o, &backend, &ts);
 *     bs_http_handler h;
 *     bs_ts_http_handler(ts, &h);
 *     bs_http_start(&ho, &h, &srv);
 *     ...
 *     bs_http_stop(srv); bs_ts_free(ts);
 *
 * Threads: the handler runs on the HTTP server's worker threads, several
 * at once.  Schema changes (new database, measurement or field) are
 * serialized by a mutex of the bs_ts; everything else is per request.
 */
#ifndef BS_NODE_TS_TS_H
#define BS_NODE_TS_TS_H

#include <stdint.h>

#include "node/config.h"
#include "node/transport/http.h"
#include "query/exec.h"

typedef struct bs_ts bs_ts;

typedef struct bs_ts_opts {
    int64_t bucket_ns;      /* partition time span; 0 = 1 day */
    int replication_factor; /* CREATE DATABASE default; 0 = 1 */
    const char *dc;         /* this node's data center (copied); NULL = dc1 */
} bs_ts_opts;

void bs_ts_opts_from_config(bs_ts_opts *o, const bs_config *cfg);

/* A new endpoint over `be` (copied; NULL gives a server that answers
 * /ping and /health only, as the HTTP unit tests use).  o may be NULL
 * (defaults).  0 or BS_ENOMEM. */
int bs_ts_new(const bs_ts_opts *o, const bs_exec_backend *be, bs_ts **out);
void bs_ts_free(bs_ts *ts);

/* Turns on logins and permission checks through x's roles (query/exec.h:
 * bs_exec_login, bs_exec_permitted) when x requires authentication
 * (PasswordAuthenticator): then every request but /ping and /health needs
 * credentials (docs/SECURITY.md).  Call before serving. */
void bs_ts_set_auth(bs_ts *ts, bs_exec *x);

/* The replica side of a partial aggregate (node/coord/coord.h,
 * bs_coord_partial, ud = ts): open plans the statement a coordinator's
 * request carries over this node's schema and returns the visit and the
 * slice to run over table cf; close encodes the groups it aggregated
 * (ok) and frees ctx.  See ts_select.c, "Partial aggregates". */
int bs_ts_partial_open(void *ud, const uint8_t *req, size_t len, void **ctx, bs_visit *v,
                       bs_slice *sl, char *cf, size_t cflen, char *msg, size_t msglen);
int bs_ts_partial_close(void *ud, void *ctx, int ok, bs_buf *out);

/* The HTTP handler of the endpoint (ud = ts). */
void bs_ts_http_handler(bs_ts *ts, bs_http_handler *h);

#endif
