/*
 * trace.h - one node's part of a CQL trace session (TRACING ON, the
 * frame's tracing flag, or probabilistic tracing): the events this node
 * records while it serves the traced request, kept in memory until its
 * part is done and then written to system_traces (query/exec_trace.c
 * builds the rows; the coordinator also writes the sessions row).
 *
 * Who records: the code serving the request makes the trace current on
 * its thread (bs_trace_set_current); anything below it records with
 * BS_CQLTRACE(...) without being handed the trace.  Code that finishes the
 * work on another thread (messaging callbacks) keeps its own reference
 * (bs_trace_retain) and records with bs_trace_event(t, ...).
 *
 * Thread safety: a bs_trace is reference-counted and locked inside; any
 * thread may record.  bs_trace_event(NULL, ...) is a no-op, so untraced
 * requests pay one thread-local load per event site.
 */
#ifndef BS_COMMON_TRACE_H
#define BS_COMMON_TRACE_H

#include <stddef.h>
#include <stdint.h>

#include "common/uuid.h"

typedef struct bs_trace bs_trace;

/* One recorded event (strings owned by the trace). */
typedef struct bs_trace_ev {
    int64_t at_us;      /* wall clock, microseconds */
    int32_t elapsed_us; /* since this node's part began (source_elapsed) */
    char *activity;
    char thread[32];
} bs_trace_ev;

/* A new trace of session `id` begun at wall time start_us (refcount 1).
 * NULL on OOM. */
bs_trace *bs_trace_new(const bs_uuid *id, int64_t start_us);
void bs_trace_retain(bs_trace *t);
/* Drops a reference; the last frees.  NULL is a no-op. */
void bs_trace_release(bs_trace *t);

const bs_uuid *bs_trace_id(const bs_trace *t);
int64_t bs_trace_start_us(const bs_trace *t);
/* Microseconds since the trace began (monotonic clock). */
int64_t bs_trace_elapsed_us(const bs_trace *t);

/* Records an event (printf-style; truncated to 512 bytes).  t NULL: no-op.
 * Out of memory drops the event silently (tracing never fails a
 * request). */
void bs_trace_event(bs_trace *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The trace current on this thread (NULL when none). */
bs_trace *bs_trace_current(void);
/* Makes t current on this thread (borrowed: the caller keeps it alive
 * while it is current); returns the previous one. */
bs_trace *bs_trace_set_current(bs_trace *t);
/* Names this thread in the events it records ("Native-Transport",
 * "ReadStage", ...; copied, static storage is fine).  NULL: "basalt". */
void bs_trace_thread_name(const char *name);

#define BS_CQLTRACE(...) bs_trace_event(bs_trace_current(), __VA_ARGS__)

/* Session facts, set by the coordinator (strings copied; NULL clears).
 * command "QUERY"/"EXECUTE"/"BATCH", request the statement text, client
 * "addr" of the CQL client, params pairs for the sessions' parameters
 * map (consistency_level, page_size, query, ...). */
void bs_trace_set_request(bs_trace *t, const char *command, const char *request);
void bs_trace_set_client(bs_trace *t, const char *client);
void bs_trace_add_param(bs_trace *t, const char *key, const char *value);

/* A snapshot of what was recorded so far, under the trace's lock: the
 * arrays are copied (free with bs_trace_snapshot_free); their strings
 * are owned by the trace and live as long as it does. */
typedef struct bs_trace_snapshot {
    bs_trace_ev *ev;
    size_t nev;
    const char *command, *request, *client; /* NULL when unset */
    const char **pkeys, **pvals;
    size_t nparams;
} bs_trace_snapshot;
int bs_trace_snapshot_get(bs_trace *t, bs_trace_snapshot *out);
void bs_trace_snapshot_free(bs_trace_snapshot *s);

#endif
