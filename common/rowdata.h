/*
 * rowdata.h - the shapes of partition reads shared by storage/ (which
 * produces them), the coordinator in node/ (which moves and reconciles
 * them) and the executor in query/ (which turns them into CQL rows).
 *
 * Types only.  The meaning of every field is documented in
 * storage/store.h, which reads into these.
 */
#ifndef BS_ROWDATA_H
#define BS_ROWDATA_H

#include <stddef.h>
#include <stdint.h>

/* A clustering bound: a prefix of encoded clustering components. */
typedef enum {
    BS_BOUND_NONE = 0, /* unbounded */
    BS_BOUND_INCL = 1, /* rows whose clustering starts with prefix included */
    BS_BOUND_EXCL = 2  /* ... excluded */
} bs_bound_kind;

typedef struct bs_bound {
    bs_bound_kind kind;
    const void *prefix; /* borrowed; ignored when kind == NONE */
    size_t len;         /* <= 65535 */
} bs_bound;

/* One live cell. */
typedef struct bs_cellv {
    uint16_t col;
    int has_elem;        /* collection element */
    const uint8_t *elem; /* element key bytes */
    size_t elem_len;
    const uint8_t *val;
    size_t val_len;
    int64_t ts;       /* writetime(), microseconds */
    int32_t ttl;      /* 0 if the cell has no TTL */
    int64_t expiry_s; /* expiry (epoch seconds), 0 if no TTL */
} bs_cellv;

typedef struct bs_rowv {
    const uint8_t *ck; /* clustering bytes (NULL/0 for the static row) */
    size_t ck_len;
    int has_marker; /* live row marker */
    int64_t marker_ts;
    int32_t marker_ttl;
    int64_t marker_expiry_s;
    bs_cellv *cells; /* selected live cells, in (col, elem) order */
    size_t ncells;
} bs_rowv;

typedef struct bs_partv {
    int64_t token;
    const uint8_t *pk;
    size_t pk_len;
    bs_rowv *static_row; /* NULL when absent, not live or not asked for */
    bs_rowv *rows;       /* live rows in slice order */
    size_t nrows;
    int limited; /* the row limit stopped the read */
} bs_partv;

/* What to read from a partition (zero-initialise, then set fields). */
typedef struct bs_slice {
    bs_bound start, end;  /* in clustering order even when reversed */
    const uint16_t *cols; /* selected column ids; NULL = all */
    size_t ncols;
    int with_static; /* also return the static row */
    int reversed;
    uint32_t limit; /* max rows; 0 = no limit */
    int has_after;  /* paging: resume strictly after after_ck */
    const void *after_ck;
    size_t after_len;
    int64_t now_s; /* TTL "now"; 0 = store clock */
} bs_slice;

/* A token range (start, end], Cassandra style (start >= end wraps). */
typedef struct bs_scan {
    int64_t start_token;   /* exclusive */
    int64_t end_token;     /* inclusive */
    const bs_slice *slice; /* per partition; NULL = everything */
    int has_cursor;
    int64_t cursor_token;
    const void *cursor_pk;
    size_t cursor_pk_len;
    int has_cursor_ck;
    const void *cursor_ck;
    size_t cursor_ck_len;
} bs_scan;

/* Per-partition callback of a scan: 0 go on, > 0 stop, < 0 error. */
typedef int (*bs_part_cb)(void *ud, const bs_partv *p);

/* A scan row by row, for aggregations (bs_store_visit): nothing is
 * materialised.  part is called before a partition's rows are read: 0
 * reads them, > 0 skips the partition, < 0 stops with that error.  row
 * is called for each row of the partition that has at least one live
 * selected cell (rows without are left out, unlike bs_store_scan), the
 * row and its cells borrowed for the call: 0 go on, > 0 stop the whole
 * scan, < 0 error. */
typedef struct bs_visit {
    int (*part)(void *ud, int64_t token, const uint8_t *pk, size_t pk_len);
    int (*row)(void *ud, const bs_rowv *row);
    void *ud;
    /* Optional (a coordinator's visit at ONE): the ranges another replica
     * holds may be visited there, by the replica's partial-visit handler
     * (node/coord/coord.h) given this request, and only its result comes
     * back, to merge: 0, or -1 (the ranges are then read whole). */
    const uint8_t *partial;
    size_t partial_len;
    int (*merge)(void *ud, const uint8_t *answer, size_t len);
} bs_visit;

#endif
