/*
 * trace_admin.h - the admin REST route of probabilistic CQL tracing
 * (nodetool settraceprobability / gettraceprobability):
 *
 *   GET  /traceprobability            {"probability": P}
 *   POST /traceprobability?value=P    sets P (0 <= P <= 1) on this node;
 *                                     answers {"probability": P}
 *
 * With P > 0 each QUERY/EXECUTE/BATCH/PREPARE this node coordinates is
 * traced with probability P (query/exec_trace.c): its session and events
 * go to system_traces, the client is not told.  Not persisted: a restart
 * sets it back to 0, as Cassandra does.
 */
#ifndef BS_NODE_TRACE_ADMIN_H
#define BS_NODE_TRACE_ADMIN_H

#include "node/admin/admin.h"
#include "query/exec.h"

/* Registers the routes; x must outlive the admin server.  0 or an error. */
int bs_trace_admin_install(bs_admin *a, bs_exec *x);

#endif
