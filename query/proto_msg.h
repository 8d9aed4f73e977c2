/*
 * proto_msg.h - CQL native protocol v4 messages: requests (decoded by the
 * server, encoded by the client) and responses (encoded by the server,
 * decoded by the client), plus an in-place Rows result builder and a row
 * iterator.
 *
 * Lifetimes: decoded messages are zero-copy.  Strings and values borrow
 * the frame body they were decoded from; arrays (values, string maps,
 * column specs, type trees) are allocated from the bs_arena passed in.
 * A decoded message is valid while both the body and the arena live.
 * Encoders take borrowed inputs and only read them.
 *
 * Errors: decoders take a bs_proto_rd initialised on the body and leave
 * the failure code and message in it (BS_ETRUNC for short bodies,
 * BS_EPROTO for malformed content), which is what the server puts in its
 * PROTOCOL_ERROR answer.  Encoders return 0, BS_ENOMEM, BS_ERANGE (a
 * length that does not fit its wire prefix) or BS_EINVAL (inconsistent
 * struct, e.g. a row with the wrong number of cells).
 */
#ifndef BS_QUERY_PROTO_MSG_H
#define BS_QUERY_PROTO_MSG_H

#include "query/proto.h"

/* ------------------------------------------------------------------ */
/* Frame body prelude (flags-dependent prefix of every body)           */
/* ------------------------------------------------------------------ */

typedef struct bs_proto_prelude {
    const uint8_t *tracing_id; /* response with TRACING flag; else NULL */
    bs_proto_strlist warnings; /* response with WARNING flag */
    bs_proto_bytesmap custom_payload; /* CUSTOM_PAYLOAD flag */
    int has_custom_payload;
    int trace_request; /* request with TRACING flag (carries no bytes) */
} bs_proto_prelude;

/* Reads the prefix that the frame flags announce (responses: tracing id,
 * warnings, custom payload; requests: custom payload only; the tracing
 * flag of a request carries no bytes) and leaves r at the message. */
int bs_proto_prelude_decode(bs_proto_rd *r, bs_arena *a, uint8_t flags,
                            int response, bs_proto_prelude *out);
/* Writes it; sets the matching bits in *flags. pre may be NULL. */
int bs_proto_prelude_encode(bs_buf *b, const bs_proto_prelude *pre,
                            int response, uint8_t *flags);

/* ------------------------------------------------------------------ */
/* Requests                                                            */
/* ------------------------------------------------------------------ */

typedef struct bs_proto_startup {
    bs_proto_strmap options;          /* every pair as sent */
    bs_proto_str cql_version;         /* CQL_VERSION (mandatory, "3.x.y") */
    bs_proto_compression compression; /* from COMPRESSION */
} bs_proto_startup;

/* Query parameter flags (QUERY and EXECUTE; BATCH uses 0x10/0x20/0x40). */
enum {
    BS_PROTO_QF_VALUES = 0x01,
    BS_PROTO_QF_SKIP_METADATA = 0x02,
    BS_PROTO_QF_PAGE_SIZE = 0x04,
    BS_PROTO_QF_PAGING_STATE = 0x08,
    BS_PROTO_QF_SERIAL_CONSISTENCY = 0x10,
    BS_PROTO_QF_DEFAULT_TIMESTAMP = 0x20,
    BS_PROTO_QF_NAMES_FOR_VALUES = 0x40
};

typedef struct bs_proto_params {
    uint16_t consistency;
    uint8_t flags; /* BS_PROTO_QF_* as sent (decoded) / to send */
    uint16_t nvalues;
    bs_proto_val *values; /* nvalues; NULL/UNSET lengths allowed */
    bs_proto_str *names;  /* nvalues names with NAMES_FOR_VALUES, else NULL */
    int32_t page_size;    /* with PAGE_SIZE; else -1 */
    bs_proto_val paging_state;   /* with PAGING_STATE; else len BS_PROTO_NULL */
    uint16_t serial_consistency; /* with SERIAL_CONSISTENCY; else SERIAL */
    int64_t timestamp;           /* with DEFAULT_TIMESTAMP; else INT64_MIN */
} bs_proto_params;

/* Fills defaults (consistency ONE, no flags, page_size -1, ...). */
void bs_proto_params_init(bs_proto_params *p);

typedef struct bs_proto_query {
    bs_proto_str query;
    bs_proto_params params;
} bs_proto_query;

typedef struct bs_proto_prepare {
    bs_proto_str query;
} bs_proto_prepare;

typedef struct bs_proto_execute {
    bs_proto_val id; /* [short bytes] */
    bs_proto_params params;
} bs_proto_execute;

typedef enum {
    BS_PROTO_BATCH_LOGGED = 0,
    BS_PROTO_BATCH_UNLOGGED = 1,
    BS_PROTO_BATCH_COUNTER = 2
} bs_proto_batch_type;

typedef struct bs_proto_batch_stmt {
    uint8_t kind;       /* 0: query string, 1: prepared id */
    bs_proto_str query; /* kind 0 */
    bs_proto_val id;    /* kind 1 */
    uint16_t nvalues;
    bs_proto_val *values;
} bs_proto_batch_stmt;

/* BATCH.  Names for values (flag 0x40) are refused with BS_EPROTO: the v4
 * spec itself says the feature cannot work (CASSANDRA-10246) and no
 * driver sends it. */
typedef struct bs_proto_batch {
    uint8_t type; /* bs_proto_batch_type */
    uint16_t nstmts;
    bs_proto_batch_stmt *stmts;
    uint16_t consistency;
    uint8_t flags;               /* 0x10 / 0x20 only */
    uint16_t serial_consistency; /* else SERIAL */
    int64_t timestamp;           /* else INT64_MIN */
} bs_proto_batch;

enum {
    BS_PROTO_EV_TOPOLOGY_CHANGE = 0x01,
    BS_PROTO_EV_STATUS_CHANGE = 0x02,
    BS_PROTO_EV_SCHEMA_CHANGE = 0x04
};

typedef struct bs_proto_register {
    bs_proto_strlist events;
    uint8_t mask; /* BS_PROTO_EV_* (decoded; unknown names are BS_EPROTO) */
} bs_proto_register;

typedef struct bs_proto_request {
    uint8_t opcode;
    uint8_t version; /* decoded: the frame's protocol version (3 or 4) */
    bs_proto_prelude prelude;
    union {
        bs_proto_startup startup;
        bs_proto_val auth_response; /* AUTH_RESPONSE token */
        bs_proto_query query;
        bs_proto_prepare prepare;
        bs_proto_execute execute;
        bs_proto_batch batch;
        bs_proto_register reg;
        /* OPTIONS: no body */
    } u;
} bs_proto_request;

/* Decodes one request frame (server side): the prelude, then the message
 * the opcode names.  Bytes after the message are ignored (the spec allows
 * extensions).  0 or the error left in *r (r is initialised here).  A v3
 * frame may carry neither a custom payload nor an UNSET value (both came
 * with v4): BS_EPROTO. */
int bs_proto_request_decode(const bs_proto_frame *f, bs_arena *a,
                            bs_proto_request *out, bs_proto_rd *r);

/* Body decoders (r positioned at the message). */
int bs_proto_startup_decode(bs_proto_rd *r, bs_arena *a, bs_proto_startup *out);
int bs_proto_query_decode(bs_proto_rd *r, bs_arena *a, bs_proto_query *out);
int bs_proto_prepare_decode(bs_proto_rd *r, bs_proto_prepare *out);
int bs_proto_execute_decode(bs_proto_rd *r, bs_arena *a, bs_proto_execute *out);
int bs_proto_batch_decode(bs_proto_rd *r, bs_arena *a, bs_proto_batch *out);
int bs_proto_register_decode(bs_proto_rd *r, bs_arena *a,
                             bs_proto_register *out);
int bs_proto_params_decode(bs_proto_rd *r, bs_arena *a, bs_proto_params *out);

/* Body encoders (client side).  For STARTUP only `options` is written
 * (put CQL_VERSION and COMPRESSION there).  The params encoder derives
 * the VALUES/PAGE_SIZE/... bits from the fields (nvalues > 0 or VALUES
 * set, page_size >= 0, paging_state.len >= 0, timestamp != INT64_MIN,
 * names != NULL, serial_consistency flag kept if set) and keeps
 * SKIP_METADATA from flags. */
int bs_proto_startup_encode(bs_buf *b, const bs_proto_startup *m);
int bs_proto_query_encode(bs_buf *b, const bs_proto_query *m);
int bs_proto_prepare_encode(bs_buf *b, const bs_proto_prepare *m);
int bs_proto_execute_encode(bs_buf *b, const bs_proto_execute *m);
int bs_proto_batch_encode(bs_buf *b, const bs_proto_batch *m);
int bs_proto_register_encode(bs_buf *b, const bs_proto_register *m);
int bs_proto_params_encode(bs_buf *b, const bs_proto_params *p);

/* A whole request frame (header, prelude, body, optional LZ4) appended
 * to b.  req->opcode selects the member; OPTIONS has no body. */
int bs_proto_request_encode(bs_buf *b, int16_t stream,
                            const bs_proto_request *req,
                            bs_proto_compression compress);

/* ------------------------------------------------------------------ */
/* Result metadata                                                     */
/* ------------------------------------------------------------------ */

enum {
    BS_PROTO_RF_GLOBAL_TABLES_SPEC = 0x0001,
    BS_PROTO_RF_HAS_MORE_PAGES = 0x0002,
    BS_PROTO_RF_NO_METADATA = 0x0004
};

typedef struct bs_proto_colspec {
    bs_proto_str keyspace;
    bs_proto_str table;
    bs_proto_str name;
    const bs_type *type; /* encode: borrowed; decode: arena-owned */
} bs_proto_colspec;

/* Rows metadata (also a Prepared result's result metadata). */
typedef struct bs_proto_meta {
    uint32_t flags; /* decode: as sent; encode: only NO_METADATA is
                       taken, the others are derived */
    uint32_t ncols;
    bs_proto_colspec *cols;    /* NULL with NO_METADATA */
    bs_proto_val paging_state; /* len >= 0 <=> HAS_MORE_PAGES */
    uint8_t version; /* encode: protocol version the types are written
                        for (bs_proto_wr_type_v); 0 means 4 */
} bs_proto_meta;

/* Prepared bind-variable metadata. */
typedef struct bs_proto_prepared_meta {
    uint32_t flags; /* GLOBAL_TABLES_SPEC derived when encoding */
    uint32_t ncols;
    bs_proto_colspec *cols;
    uint32_t npk;
    uint16_t *pk_indices;
    uint8_t version; /* encode: 3 writes neither the pk count nor the
                        indices (they came with v4) and v3 types; 0
                        means 4.  decode: always v4 */
} bs_proto_prepared_meta;

/* Writes metadata.  The global table spec is used when every column has
 * the same keyspace and table (as Cassandra does). */
int bs_proto_meta_encode(bs_buf *b, const bs_proto_meta *m);
int bs_proto_meta_decode(bs_proto_rd *r, bs_arena *a, bs_proto_meta *out);
int bs_proto_prepared_meta_encode(bs_buf *b, const bs_proto_prepared_meta *m);
int bs_proto_prepared_meta_decode(bs_proto_rd *r, bs_arena *a,
                                  bs_proto_prepared_meta *out);

/* ------------------------------------------------------------------ */
/* Responses                                                           */
/* ------------------------------------------------------------------ */

typedef struct bs_proto_error {
    int32_t code; /* bs_proto_errcode */
    bs_proto_str message;
    /* code-specific fields; the ones a code does not use stay zero */
    uint16_t cl;             /* UNAVAILABLE, *_TIMEOUT, *_FAILURE */
    int32_t required;        /* UNAVAILABLE */
    int32_t alive;           /* UNAVAILABLE */
    int32_t received;        /* *_TIMEOUT, *_FAILURE */
    int32_t blockfor;        /* *_TIMEOUT, *_FAILURE */
    int32_t numfailures;     /* *_FAILURE (v4: a count, no reason map) */
    uint8_t data_present;    /* READ_TIMEOUT, READ_FAILURE */
    bs_proto_str write_type; /* WRITE_TIMEOUT, WRITE_FAILURE: "SIMPLE", ... */
    bs_proto_str keyspace;   /* FUNCTION_FAILURE, ALREADY_EXISTS */
    bs_proto_str name; /* FUNCTION_FAILURE function, ALREADY_EXISTS table */
    bs_proto_strlist arg_types; /* FUNCTION_FAILURE */
    bs_proto_val unprepared_id; /* UNPREPARED [short bytes] */
} bs_proto_error;

typedef enum {
    BS_PROTO_RESULT_VOID = 0x0001,
    BS_PROTO_RESULT_ROWS = 0x0002,
    BS_PROTO_RESULT_SET_KEYSPACE = 0x0003,
    BS_PROTO_RESULT_PREPARED = 0x0004,
    BS_PROTO_RESULT_SCHEMA_CHANGE = 0x0005
} bs_proto_result_kind;

/* Schema_change result and SCHEMA_CHANGE event body.  target decides the
 * options: KEYSPACE -> keyspace; TABLE/TYPE -> keyspace, name;
 * FUNCTION/AGGREGATE -> keyspace, name, arg_types. */
typedef struct bs_proto_schema_change {
    bs_proto_str change_type; /* CREATED / UPDATED / DROPPED */
    bs_proto_str target; /* KEYSPACE / TABLE / TYPE / FUNCTION / AGGREGATE */
    bs_proto_str keyspace;
    bs_proto_str name;
    bs_proto_strlist arg_types;
} bs_proto_schema_change;

typedef struct bs_proto_rows {
    bs_proto_meta meta;
    int32_t nrows;
    const uint8_t *content; /* the rows' cells; validated by the decoder */
    size_t content_len;
} bs_proto_rows;

typedef struct bs_proto_prepared {
    bs_proto_val id;
    bs_proto_prepared_meta bind;
    bs_proto_meta result;
} bs_proto_prepared;

typedef struct bs_proto_result {
    int32_t kind; /* bs_proto_result_kind */
    union {
        bs_proto_rows rows;
        bs_proto_str keyspace;
        bs_proto_prepared prepared;
        bs_proto_schema_change schema_change;
    } u;
} bs_proto_result;

typedef struct bs_proto_event {
    bs_proto_str type;   /* TOPOLOGY_CHANGE / STATUS_CHANGE / SCHEMA_CHANGE */
    bs_proto_str change; /* NEW_NODE, REMOVED_NODE, UP, DOWN */
    bs_proto_inet addr;  /* topology/status */
    bs_proto_schema_change schema; /* SCHEMA_CHANGE */
} bs_proto_event;

typedef struct bs_proto_response {
    uint8_t opcode;
    int16_t stream;
    bs_proto_prelude prelude;
    union {
        bs_proto_error error;
        bs_proto_str authenticator;  /* AUTHENTICATE */
        bs_proto_multimap supported; /* SUPPORTED */
        bs_proto_result result;
        bs_proto_event event;
        bs_proto_val auth_token; /* AUTH_CHALLENGE / AUTH_SUCCESS */
        /* READY: no body */
    } u;
} bs_proto_response;

/* Decodes one response frame (client side).  A Rows result is validated
 * cell by cell (without copying); iterate it with bs_proto_rows_iter. */
int bs_proto_response_decode(const bs_proto_frame *f, bs_arena *a,
                             bs_proto_response *out, bs_proto_rd *r);

int bs_proto_error_decode(bs_proto_rd *r, bs_arena *a, bs_proto_error *out);
int bs_proto_result_decode(bs_proto_rd *r, bs_arena *a, bs_proto_result *out);
int bs_proto_event_decode(bs_proto_rd *r, bs_arena *a, bs_proto_event *out);
int bs_proto_schema_change_decode(bs_proto_rd *r, bs_arena *a,
                                  bs_proto_schema_change *out);

/* Body encoders (server side).  A Rows result from this encoder takes its
 * cells from rows.content (already encoded cells); the server normally
 * uses the builder below instead. */
int bs_proto_error_encode(bs_buf *b, const bs_proto_error *m);
int bs_proto_result_encode(bs_buf *b, const bs_proto_result *m);
int bs_proto_event_encode(bs_buf *b, const bs_proto_event *m);
int bs_proto_schema_change_encode(bs_buf *b, const bs_proto_schema_change *m);

/* A whole response frame appended to b (header with the response bit,
 * prelude, body, optional LZ4).  EVENTs should use stream -1. */
int bs_proto_response_encode(bs_buf *b, int16_t stream,
                             const bs_proto_response *resp,
                             bs_proto_compression compress);

/* Convenience: an ERROR frame with just code + message (no extra body for
 * codes that need one: use bs_proto_response_encode for those). */
int bs_proto_error_frame(bs_buf *b, int16_t stream, int32_t code,
                         const char *msg, bs_proto_compression compress);

/* ------------------------------------------------------------------ */
/* Rows result builder (server)                                        */
/* ------------------------------------------------------------------ */

/*
 * Builds a RESULT/Rows body in place at the end of `out` (typically right
 * after bs_proto_frame_begin):
 *
 *   [int kind=2][int flags][int ncols][paging_state?][col specs][int nrows]
 *   [cell]*
 *
 * begin() writes everything up to a placeholder row count; cell() appends
 * one [bytes] (len < 0: null); after ncols cells a row is complete.
 * set_paging_state() may come at any time before finish(); finish()
 * patches the row count and flags and, only when a paging state was set,
 * moves the rows once to make room for it.  On any error the builder is
 * poisoned and finish() returns that error.  The fields are private.
 */
typedef struct bs_proto_rows_builder {
    bs_buf *out;
    size_t start;     /* offset of the kind */
    size_t state_off; /* where a paging state goes */
    size_t count_off; /* offset of the row count */
    uint32_t flags;
    uint32_t ncols;
    uint32_t col; /* cells written in the current row */
    int32_t nrows;
    bs_proto_val paging_state; /* borrowed until finish() */
    int err;
} bs_proto_rows_builder;

/* meta->paging_state is ignored (use set_paging_state).  With
 * NO_METADATA in meta->flags the column specs are not written. */
int bs_proto_rows_begin(bs_proto_rows_builder *rb, bs_buf *out,
                        const bs_proto_meta *meta);
int bs_proto_rows_cell(bs_proto_rows_builder *rb, const void *p, int32_t len);
/* Zero-copy cell: reserves len bytes for the caller to fill; *dst valid
 * until the next write to out. */
int bs_proto_rows_cell_reserve(bs_proto_rows_builder *rb, size_t len,
                               uint8_t **dst);
/* Borrowed: the bytes must stay valid until finish(). */
void bs_proto_rows_set_paging_state(bs_proto_rows_builder *rb, const void *p,
                                    size_t len);
static inline int32_t bs_proto_rows_count(const bs_proto_rows_builder *rb) {
    return rb->nrows;
}
/* BS_EINVAL when the last row is incomplete. */
int bs_proto_rows_finish(bs_proto_rows_builder *rb);

/* ------------------------------------------------------------------ */
/* Rows iterator (client)                                              */
/* ------------------------------------------------------------------ */

typedef struct bs_proto_rows_iter {
    bs_proto_rd rd;
    uint32_t ncols;
    int32_t left;
} bs_proto_rows_iter;

/* Iterates rows->nrows rows of rows->meta.ncols cells (the count is sent
 * even with NO_METADATA).  rows must stay valid while iterating. */
void bs_proto_rows_iter_init(bs_proto_rows_iter *it, const bs_proto_rows *rows);
/* Fills cells[0..ncols-1] (borrowed from the body).  1 a row, 0 at the end,
 * or a negative error (cannot happen on a decoder-validated result). */
int bs_proto_rows_next(bs_proto_rows_iter *it, bs_proto_val *cells);

#endif
