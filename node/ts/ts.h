/*
 * ts.h - the time-series endpoint (InfluxDB 1.x/2.x compatible) behind
 * the HTTP server of node/transport/http.h.
 *
 * Room node/ts/: routes HTTP requests to the InfluxDB API (/ping,
 * /health; /write, /api/v2/write and /query as they are built), maps
 * databases, measurements, series and fields onto keyspaces, tables and
 * columns (docs/TIMESERIES.md), and writes and reads through the
 * executor backend (query/exec.h) so points go through the coordinator
 * like CQL writes.  It may call query/, node/transport/ and common/.
 *
 *     bs_ts *ts;
 *     bs_ts_new(&backend, &ts);
 *     bs_http_handler h;
 *     bs_ts_http_handler(ts, &h);
 *     bs_http_start(&o, &h, &srv);
 *     ...
 *     bs_http_stop(srv); bs_ts_free(ts);
 *
 * Threads: the handler runs on the HTTP server's worker threads, several
 * at once; a bs_ts holds no mutable state outside its backend.
 */
#ifndef BS_NODE_TS_TS_H
#define BS_NODE_TS_TS_H

#include "node/transport/http.h"
#include "query/exec.h"

typedef struct bs_ts bs_ts;

/* A new endpoint over `be` (copied; may be NULL for a server that only
 * answers /ping and /health, as the HTTP unit tests use).  0 or
 * BS_ENOMEM. */
int bs_ts_new(const bs_exec_backend *be, bs_ts **out);
void bs_ts_free(bs_ts *ts);

/* The HTTP handler of the endpoint (ud = ts). */
void bs_ts_http_handler(bs_ts *ts, bs_http_handler *h);

#endif
