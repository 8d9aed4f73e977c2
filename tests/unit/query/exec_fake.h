/*
 * exec_fake.h - an in-memory executor backend (bs_exec_backend) and a
 * small harness that runs CQL through bs_exec_request and decodes the
 * response, for unit tests of the executor and of anything built on it.
 *
 * The fake keeps, per table id, a sorted list of partitions (token, then
 * key length, then key bytes, as storage/ sorts them), each with a
 * partition deletion, range tombstones, a static row and clustered rows
 * sorted by their encoded clustering bytes.  Cells resolve by
 * last-write-wins exactly as storage/store.h documents (higher timestamp;
 * on a tie a tombstone, then the greater value); a deletion at D shadows
 * cells with ts <= D; a TTL cell whose expiry is <= now reads as absent.
 * Time is the fake's clock (bs_fake_set_now / bs_fake_advance), which is
 * also what the executor gets from now_us(); each now_us() call moves it
 * on by one microsecond, so consecutive requests get increasing write
 * timestamps as they would from a real clock.
 *
 * Not thread-safe: one test thread drives one fake.  Failure injection
 * (bs_fake_fail) makes the next write/read/scan answer with a chosen
 * error, so error paths of the executor can be driven.
 */
#ifndef BS_TESTS_EXEC_FAKE_H
#define BS_TESTS_EXEC_FAKE_H

#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "common/buf.h"
#include "query/exec.h"
#include "query/proto.h"
#include "query/proto_msg.h"

typedef struct bs_fake_be bs_fake_be;

/* A fake with only the built-in keyspaces; its clock starts at
 * 2023-11-14 22:13:20 UTC (1700000000 s).  NULL on OOM. */
bs_fake_be *bs_fake_new(void);
void bs_fake_free(bs_fake_be *f);
/* Fills *be with callbacks over f (f must outlive the executor).  The
 * plain backend has no cas (lightweight transactions are refused);
 * bs_fake_backend_cas adds a single-node compare-and-set (read the slice,
 * check, write the update restamped at the fake's clock). */
void bs_fake_backend(bs_fake_be *f, bs_exec_backend *be);
void bs_fake_backend_cas(bs_fake_be *f, bs_exec_backend *be);
void bs_fake_set_now(bs_fake_be *f, int64_t now_us);
void bs_fake_advance(bs_fake_be *f, int64_t seconds);
int64_t bs_fake_now(const bs_fake_be *f);

/* Statistics of the calls the executor made. */
typedef struct bs_fake_stats {
    size_t writes;       /* write() calls */
    size_t counter_writes; /* counter_write() calls (leader as one node) */
    size_t last_nmut;    /* mutations in the last write() */
    int last_logged;     /* its `logged` flag */
    uint16_t last_cl;    /* consistency of the last write/read/scan */
    size_t reads, scans; /* read() / scan() calls */
    size_t schema_applies;
    size_t truncates;
    size_t distinct_tables_last_write; /* tables touched by the last write */
    size_t cas;              /* cas() calls */
    uint16_t last_serial_cl; /* serial consistency of the last cas() */
} bs_fake_stats;
const bs_fake_stats *bs_fake_stats_get(const bs_fake_be *f);

enum { BS_FAKE_WRITE = 1, BS_FAKE_READ = 2, BS_FAKE_SCAN = 4, BS_FAKE_CAS = 8 };
/* The next call among `ops` (mask of BS_FAKE_*) fails with `e` (copied);
 * the injection is then cleared. */
void bs_fake_fail(bs_fake_be *f, int ops, const bs_exec_err *e);

/* ---- harness ------------------------------------------------------------ */

/* The decoded answer of one request.  Every pointer is owned by the
 * harness and valid until the next request through it. */
typedef struct bs_xres {
    uint8_t opcode;       /* BS_PROTO_OP_RESULT or _ERROR */
    int32_t kind;         /* RESULT kind; 0 for an error */
    int32_t err;          /* error code; -1 when not an error */
    char msg[512];        /* error message (NUL-terminated) */
    bs_proto_error error; /* the whole decoded error */
    /* Rows: the rows rendered as cqlsh shows values, cells joined by
     * " | ", rows by "\n" ("" for no rows). */
    int32_t nrows;
    uint32_t ncols;
    const char *text;
    const char *colnames;      /* "a,b,c" */
    bs_proto_val paging_state; /* len < 0 when there are no more pages */
    bs_proto_result result;    /* the decoded RESULT (rows, prepared, ...) */
} bs_xres;

typedef struct bs_xh {
    bs_fake_be *f;
    bs_exec *x;
    bs_exec_session sess;
    bs_arena a;  /* the current request's arena (reset per request) */
    bs_buf out;  /* the current response frame */
    bs_buf text; /* rendered rows */
    bs_buf names;
    uint8_t *state; /* copy of the last paging state */
    bs_xres r;
} bs_xh;

/* A fresh fake + executor + session.  0 or BS_ENOMEM.  _cas: over
 * bs_fake_backend_cas. */
int bs_xh_init(bs_xh *h);
int bs_xh_init_cas(bs_xh *h);
void bs_xh_destroy(bs_xh *h);

/* Parameters of one QUERY or EXECUTE (zero-initialise; cl 0 = ONE). */
typedef struct bs_xq {
    uint16_t cl;
    int32_t page_size;     /* 0 = not sent */
    const bs_xres *resume; /* paging state taken from this result */
    int64_t timestamp;     /* 0 = not sent */
    uint16_t serial_cl;    /* 0 = not sent (SERIAL) */
    const bs_proto_val *values;
    uint16_t nvalues;
} bs_xq;

/* Runs one QUERY; returns &h->r.  q may be NULL. */
const bs_xres *bs_xh_query(bs_xh *h, const char *cql, const bs_xq *q);
/* Formats like bs_xh_query (printf style), default parameters. */
const bs_xres *bs_xh_q(bs_xh *h, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* PREPARE cql; EXECUTE the statement whose id (idlen bytes) a PREPARED
 * result gave (copy it out of r->result.u.prepared.id first: results do
 * not outlive the next request). */
const bs_xres *bs_xh_prepare(bs_xh *h, const char *cql);
const bs_xres *bs_xh_execute(bs_xh *h, const uint8_t *id, size_t idlen,
                             const bs_xq *q);
/* A BATCH of query strings; type 0 logged, 1 unlogged, 2 counter. */
const bs_xres *bs_xh_batch(bs_xh *h, uint8_t type, const char *const *stmts,
                           size_t n, uint16_t cl);

#endif
