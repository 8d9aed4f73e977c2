/*
 * session_int.h - what the three files of the repair service share:
 * session.c (the service: threads, queues, the replica side of the
 * verbs, blocking round trips, the catalog), session_run.c (the session
 * driver, its report and history, per-node checksums) and session_wire.c
 * (the request payloads).  Not for use outside repair/session*.c.
 */
#ifndef BS_REPAIR_SESSION_INT_H
#define BS_REPAIR_SESSION_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "common/buf.h"
#include "repair/merkle.h"
#include "repair/session.h"
#include "repair/stream.h"

#define BS__REPAIR_LOG "repair"

/* ---- the service (session.c) ---------------------------------------- */

typedef struct bs__repair_job {
    struct bs__repair_job *next;
    bs_repair_in in; /* in.payload points at payload */
    uint8_t *payload;
} bs__repair_job;

typedef struct bs__repair_queue {
    bs__repair_job *head, *tail;
} bs__repair_queue;

struct bs__repair_worker_arg;

/* A stream running on this node (live.c), under bs_repair.mu. */
#define BS__REPAIR_LIVE 32
enum { BS__LIVE_OUT = 1, BS__LIVE_IN = 2 };
typedef struct bs__repair_live {
    int used, dir;
    char peer[BS_REPAIR_ADDRLEN + 8];
    char cf[256];
    uint64_t session;      /* incoming: the chunks' session (0: none) */
    size_t nranges;        /* outgoing: ranges sent, first start..last end */
    int64_t s, e;
    uint64_t rows, bytes;
    int64_t started_ms, last_ms;
} bs__repair_live;

struct bs_repair {
    bs_repair_opts o;
    bs_repair_env env;
    bs_store *store;
    bs_table *history;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bs__repair_queue q_work, q_send;
    int stopping, stopped;
    pthread_t *threads;
    struct bs__repair_worker_arg *args;
    uint32_t nthreads;
    pthread_t sched; /* scheduled repair (schedule_interval_ms > 0) */
    int has_sched;
    atomic_int session_running;
    /* outbound stream rate in bytes/s, 0 = unthrottled: o's value at
     * start, changed at run time by bs_repair_set_stream_throughput */
    atomic_uint_fast64_t stream_rate;
    uint64_t pace_rate;   /* the rate pace_next_ns was computed at, */
    int64_t pace_next_ns; /* when the chunks sent so far are paid for;
                           * both under mu (session.c throttle) */
    /* streaming counters (every STREAM chunk applied here, every chunk
     * this node sent), for progress */
    atomic_uint_fast64_t rx_bytes, rx_rows, tx_bytes;
    /* incoming streams this node asked for (SEND_ALL to itself: bootstrap,
     * rebuild), under mu: a STREAM chunk that names a session id accepts
     * only while its id is here, so chunks of a request made before a
     * restart, or given up, are refused (BS_ECANCELED) and stop their
     * sender */
    struct bs__rx_slot *rx_sess[16];
    size_t nrx_sess;
    bs__repair_live live[BS__REPAIR_LIVE]; /* live.c */
    atomic_uint_fast64_t stale_chunks;
    /* requests served per verb (index verb - BS_VERB_REPAIR_TREE) */
    atomic_uint_fast64_t served[5];
    int dc_parallel; /* of the running session (session thread) */
    /* the range movement in progress or last run (movement.c), under mu */
    struct bs__movement_state *mv;
    /* hosts that failed earlier in the running session (session thread) */
    bs_uuid failed[32];
    size_t nfailed;
};

/* Sends and waits for the answer (never on the messaging thread); on
 * success *out (malloc'd, may be NULL when empty; out may be NULL) is the
 * caller's. */
int bs__repair_call(bs_repair *r, const bs_repair_peer *to, uint8_t verb,
                    const bs_buf *b, uint32_t tmo, uint8_t **out,
                    size_t *outlen);
/* The same, and with `watch` it gives up with BS_EUNAVAIL as soon as the
 * failure detector convicts the node at `to` (a stream whose source died
 * fails then, not after the whole call's timeout). */
int bs__repair_call_watched(bs_repair *r, const bs_repair_peer *to, uint8_t verb,
                            const bs_buf *b, uint32_t tmo, int watch,
                            uint8_t **out, size_t *outlen);
/* The replica side, on this node's store. */
int bs__repair_do_tree(bs_repair *r, const char *cf, int64_t s, int64_t e,
                       unsigned depth, bs_merkle **out);
/* What (cf, ranges) hold: RocksDB's estimate from its files, without a
 * read; a range with nothing in files (in memtables only, or empty) is
 * counted exactly (record bytes, as streamed). */
int bs__repair_do_size(bs_repair *r, const char *cf, const int64_t *s,
                       const int64_t *e, size_t n, uint64_t *bytes);
int bs__repair_do_digests(bs_repair *r, const char *cf, const int64_t *s,
                          const int64_t *e, size_t n, bs_buf *out);
/* Streams the wanted records (sorted) of the ranges to `to` (want NULL:
 * every record), throttled to o.stream_throughput_bytes; res = rows,
 * bytes, chunks sent.  session (0: none) goes with every chunk. */
int bs__repair_do_send(bs_repair *r, const char *cf, const int64_t *s,
                       const int64_t *e, size_t n, const bs_repair_peer *to,
                       const bs_stream_digest *want, size_t nwant,
                       uint64_t session, uint64_t res[3]);
/* A fresh incoming session id (random, non-zero) for a stream of table
 * cf, registered until bs__repair_rx_end; 0 when the table is full (then
 * chunks go without one).  With o.stream_ingest_sst its chunks are
 * written to SST files as they land and ingested by rx_end. */
uint64_t bs__repair_rx_begin(bs_repair *r, const char *cf);
/* Ends session id: commit (the stream completed) ingests what it
 * buffered, else it is dropped.  0 or the ingestion's error. */
int bs__repair_rx_end(bs_repair *r, uint64_t id, int commit);
/* ---- streams running now, for netstats (live.c) --------------------- */

/* Opens an outgoing row: its index, or -1 when the table is full (every
 * other call takes -1 and does nothing). */
int bs__repair_live_out(bs_repair *r, const bs_repair_peer *to, const char *cf,
                        const int64_t *s, const int64_t *e, size_t n);
void bs__repair_live_set(bs_repair *r, int i, uint64_t rows, uint64_t bytes);
void bs__repair_live_close(bs_repair *r, int i);
/* A chunk of (from, cf, session) applied here. */
void bs__repair_live_in(bs_repair *r, const char *from, const char *cf, uint64_t session,
                        uint64_t rows, uint64_t bytes);
/* Incoming session `session` ended. */
void bs__repair_live_in_end(bs_repair *r, uint64_t session);
/* Appends the JSON array of the running streams.  0 or BS_ENOMEM. */
int bs__repair_live_json(bs_repair *r, bs_buf *out);

/* 1 once bs_repair_stop began. */
int bs__repair_stopping(bs_repair *r);

/* ---- the catalog (session.c) ---------------------------------------- */

typedef struct bs__repair_table_desc {
    char *name, *cf;
} bs__repair_table_desc;

typedef struct bs__repair_ks_desc {
    char *name;
    int system;
    bs_ring_strategy *strategy; /* NULL: strategy_rc */
    int strategy_rc;
    bs__repair_table_desc *tables;
    size_t ntables, cap;
} bs__repair_ks_desc;

struct bs_repair_catalog {
    bs__repair_ks_desc *ks;
    size_t nks, cap;
};

/* env->catalog into a fresh catalog (freed with bs__repair_catalog_free
 * whatever the result). */
int bs__repair_catalog_get(bs_repair *r, const bs_ring_snapshot *ring,
                           bs_repair_catalog *c);
void bs__repair_catalog_free(bs_repair_catalog *c);
/* Keyspace `name` or NULL; table `name` of ks or NULL. */
const bs__repair_ks_desc *bs__repair_catalog_ks(const bs_repair_catalog *c,
                                                const char *name);
const bs__repair_table_desc *
bs__repair_catalog_table(const bs__repair_ks_desc *ks, const char *name);

/* ---- request payloads (session_wire.c) ------------------------------ */

typedef struct bs__repair_req {
    char cf[256];
    uint32_t nranges;
    int64_t *starts, *ends; /* malloc'd */
    bs_rbuf tail;
    /* verb-specific, filled by bs__repair_req_parse */
    uint8_t depth;       /* TREE */
    bs_repair_peer to;   /* SEND */
    uint64_t session;    /* SEND_ALL, STREAM: 0 = none */
    const uint8_t *body; /* SEND: wanted digests; STREAM: the chunk */
    size_t body_len;
} bs__repair_req;

/* The common head: cf and n ranges.  0, BS_EINVAL (name too long),
 * BS_ENOMEM. */
int bs__repair_req_encode(bs_buf *b, const char *cf, const int64_t *s,
                          const int64_t *e, uint32_t n);
/* The SEND tail: the target's address and port. */
int bs__repair_req_encode_target(bs_buf *b, const bs_repair_peer *to);
/* STREAM: the session id prefix of the chunk ("BSS1", u64 id). */
#define BS__STREAM_SESSION_MAGIC "BSS1"

/* Decodes and validates a request of `verb` completely.  0 (then
 * bs__repair_req_free), BS_ECORRUPT, BS_EINVAL (not a repair verb) or
 * BS_ENOMEM. */
int bs__repair_req_parse(uint8_t verb, const uint8_t *p, size_t len,
                         bs__repair_req *q);
void bs__repair_req_free(bs__repair_req *q);

#endif
