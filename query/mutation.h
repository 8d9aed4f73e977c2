/*
 * mutation.h - a logical write to one partition of one table, as the
 * executor produces it and the coordinator ships it to replicas, which
 * apply it to their store.
 *
 * All pointers are borrowed (normally from the request's arena) and live
 * as long as the request.  Keys are already encoded: pk is the serialized
 * partition key (what the token is computed from), ck the encoded full
 * clustering key (storage/keycodec), elem the encoded collection element
 * key.
 */
#ifndef BS_QUERY_MUTATION_H
#define BS_QUERY_MUTATION_H

#include <stddef.h>
#include <stdint.h>

#include "common/rowdata.h"
#include "common/uuid.h"

typedef enum {
    BS_MOP_CELL = 1,  /* live cell (simple column or element) */
    BS_MOP_CELL_DEL,  /* cell tombstone */
    BS_MOP_COLL_DEL,  /* whole collection tombstone */
    BS_MOP_MARKER,    /* row marker (INSERT) */
    BS_MOP_ROW_DEL,   /* row tombstone */
    BS_MOP_RANGE_DEL, /* range tombstone [start, end] */
    BS_MOP_PART_DEL,  /* partition tombstone */
    /* counter increment: val = the delta, 8 bytes big-endian signed.
     * Only the counter write path (bs_exec_backend.counter_write) takes
     * it: its leader replica turns it into a shard cell (ordinary
     * BS_MOP_CELL, see query/counter.h); stores refuse it. */
    BS_MOP_COUNTER_ADD
} bs_mop_kind;

typedef struct bs_mop {
    uint8_t kind;      /* bs_mop_kind */
    uint8_t is_static; /* static row (ck ignored) */
    uint8_t has_elem;  /* elem is set (collections) */
    uint16_t col;      /* column id (cells) */
    const uint8_t *ck; /* encoded clustering key (row ops) */
    size_t ck_len;
    const uint8_t *elem;
    size_t elem_len;
    const uint8_t *val;
    size_t val_len;
    int64_t ts;          /* write timestamp, microseconds */
    int32_t ttl;         /* seconds; 0 none */
    bs_bound start, end; /* RANGE_DEL */
} bs_mop;

typedef struct bs_mutation {
    bs_uuid table_id;
    const char *cf; /* store table name ("ks.table"); borrowed */
    int64_t token;
    const uint8_t *pk;
    size_t pk_len;
    bs_mop *ops;
    size_t nops;
} bs_mutation;

#endif
