/*
 * proto.h - CQL native protocol v4: frames, the streaming frame decoder,
 * LZ4 body compression, the wire primitives and [option] type codec.
 *
 * Shared by the server (node/) and the C client (client/): there is one
 * copy of the protocol.  Messages (STARTUP, QUERY, RESULT, ...) are in
 * proto_msg.h and build on this header.
 *
 * Spec: apache/cassandra doc/native_protocol_v4.spec.  Everything is
 * big-endian.  A frame is a 9-byte header followed by `length` body bytes:
 *
 *   OFFSET SIZE DESCRIPTION
 *   0      1    version: 0x04 request, 0x84 response (bit 7 = direction)
 *   1      1    flags: 0x01 compressed, 0x02 tracing, 0x04 custom payload,
 *               0x08 warning
 *   2      2    stream id (signed; EVENTs use -1)
 *   4      1    opcode (BS_PROTO_OP_*)
 *   5      4    body length (unsigned here; > the frame limit is rejected)
 *
 * Versions 3 and 4 are served; they share this header (v3 defines only
 * the compressed and tracing flags).  Protocol v1/v2 headers are 8 bytes
 * (1-byte stream).  They are not supported, but are recognised so that
 * the server can answer them in a frame the client can read (see
 * bs_proto_version_error_frame).
 *
 * Lifetimes: everything decoded here borrows from the bytes it was decoded
 * from (or from the decoder's buffer, see bs_proto_decoder_next); nothing
 * is copied unless a function says so.
 */
#ifndef BS_QUERY_PROTO_H
#define BS_QUERY_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "common/buf.h"
#include "common/types.h"

/* ------------------------------------------------------------------ */
/* Constants                                                           */
/* ------------------------------------------------------------------ */

#define BS_PROTO_VERSION 4 /* the version we write by default */
#define BS_PROTO_MIN_VERSION 3 /* lowest version served */
#define BS_PROTO_HEADER_LEN 9
#define BS_PROTO_RESPONSE_BIT 0x80
/* Cassandra's historical limit; servers usually set a smaller one. */
#define BS_PROTO_DEFAULT_MAX_FRAME (256u * 1024u * 1024u)

enum {
    BS_PROTO_FLAG_COMPRESSED = 0x01,
    BS_PROTO_FLAG_TRACING = 0x02,
    BS_PROTO_FLAG_CUSTOM_PAYLOAD = 0x04,
    BS_PROTO_FLAG_WARNING = 0x08
};

typedef enum {
    BS_PROTO_OP_ERROR = 0x00,
    BS_PROTO_OP_STARTUP = 0x01,
    BS_PROTO_OP_READY = 0x02,
    BS_PROTO_OP_AUTHENTICATE = 0x03,
    BS_PROTO_OP_OPTIONS = 0x05,
    BS_PROTO_OP_SUPPORTED = 0x06,
    BS_PROTO_OP_QUERY = 0x07,
    BS_PROTO_OP_RESULT = 0x08,
    BS_PROTO_OP_PREPARE = 0x09,
    BS_PROTO_OP_EXECUTE = 0x0A,
    BS_PROTO_OP_REGISTER = 0x0B,
    BS_PROTO_OP_EVENT = 0x0C,
    BS_PROTO_OP_BATCH = 0x0D,
    BS_PROTO_OP_AUTH_CHALLENGE = 0x0E,
    BS_PROTO_OP_AUTH_RESPONSE = 0x0F,
    BS_PROTO_OP_AUTH_SUCCESS = 0x10
} bs_proto_opcode;

/* ERROR codes (spec section 9), Cassandra's values. */
typedef enum {
    BS_PROTO_ERR_SERVER = 0x0000,
    BS_PROTO_ERR_PROTOCOL = 0x000A,
    BS_PROTO_ERR_BAD_CREDENTIALS = 0x0100,
    BS_PROTO_ERR_UNAVAILABLE = 0x1000,
    BS_PROTO_ERR_OVERLOADED = 0x1001,
    BS_PROTO_ERR_IS_BOOTSTRAPPING = 0x1002,
    BS_PROTO_ERR_TRUNCATE = 0x1003,
    BS_PROTO_ERR_WRITE_TIMEOUT = 0x1100,
    BS_PROTO_ERR_READ_TIMEOUT = 0x1200,
    BS_PROTO_ERR_READ_FAILURE = 0x1300,
    BS_PROTO_ERR_FUNCTION_FAILURE = 0x1400,
    BS_PROTO_ERR_WRITE_FAILURE = 0x1500,
    BS_PROTO_ERR_SYNTAX = 0x2000,
    BS_PROTO_ERR_UNAUTHORIZED = 0x2100,
    BS_PROTO_ERR_INVALID = 0x2200,
    BS_PROTO_ERR_CONFIG = 0x2300,
    BS_PROTO_ERR_ALREADY_EXISTS = 0x2400,
    BS_PROTO_ERR_UNPREPARED = 0x2500
} bs_proto_errcode;

/* [consistency] values. */
typedef enum {
    BS_CL_ANY = 0x0000,
    BS_CL_ONE = 0x0001,
    BS_CL_TWO = 0x0002,
    BS_CL_THREE = 0x0003,
    BS_CL_QUORUM = 0x0004,
    BS_CL_ALL = 0x0005,
    BS_CL_LOCAL_QUORUM = 0x0006,
    BS_CL_EACH_QUORUM = 0x0007,
    BS_CL_SERIAL = 0x0008,
    BS_CL_LOCAL_SERIAL = 0x0009,
    BS_CL_LOCAL_ONE = 0x000A
} bs_consistency;

/* "QUORUM" etc.; NULL for an unknown value. Static string. */
const char *bs_proto_consistency_name(uint16_t cl);
/* "Protocol error" etc. (Cassandra's summaries); "Unknown" otherwise. */
const char *bs_proto_errcode_name(int32_t code);
/* "QUERY" etc.; "UNKNOWN" for anything else.  Static string. */
const char *bs_proto_opcode_name(uint8_t op);
/* 1 when `op` is a valid opcode in that direction. */
int bs_proto_opcode_valid(uint8_t op, int response);

typedef enum {
    BS_PROTO_COMP_NONE = 0,
    BS_PROTO_COMP_LZ4 = 1
} bs_proto_compression;

/* ------------------------------------------------------------------ */
/* Borrowed wire values                                                */
/* ------------------------------------------------------------------ */

/* A [string]/[long string]: borrowed, NOT NUL-terminated. */
typedef struct bs_proto_str {
    const char *p;
    size_t len;
} bs_proto_str;

/* A [bytes]/[value]/[short bytes]: len >= 0 is a value of len bytes,
 * BS_PROTO_NULL is null, BS_PROTO_UNSET is "not set" ([value] only). */
typedef struct bs_proto_val {
    const uint8_t *p;
    int32_t len;
} bs_proto_val;
#define BS_PROTO_NULL (-1)
#define BS_PROTO_UNSET (-2)

static inline bs_proto_val bs_proto_bytes(const void *p, size_t n) {
    bs_proto_val v = {(const uint8_t *)p, (int32_t)n};
    return v;
}
/* 1 when s equals the NUL-terminated c (byte for byte). */
int bs_proto_str_eq(bs_proto_str s, const char *c);
/* Same, ASCII case-insensitive. */
int bs_proto_str_ieq(bs_proto_str s, const char *c);

typedef struct bs_proto_strlist {
    uint16_t n;
    bs_proto_str *items; /* arena-owned array */
} bs_proto_strlist;

typedef struct bs_proto_strpair {
    bs_proto_str key;
    bs_proto_str val;
} bs_proto_strpair;

typedef struct bs_proto_strmap {
    uint16_t n;
    bs_proto_strpair *items;
} bs_proto_strmap;

typedef struct bs_proto_multimap_entry {
    bs_proto_str key;
    bs_proto_strlist vals;
} bs_proto_multimap_entry;

typedef struct bs_proto_multimap {
    uint16_t n;
    bs_proto_multimap_entry *items;
} bs_proto_multimap;

typedef struct bs_proto_bytesmap_entry {
    bs_proto_str key;
    bs_proto_val val;
} bs_proto_bytesmap_entry;

typedef struct bs_proto_bytesmap {
    uint16_t n;
    bs_proto_bytesmap_entry *items;
} bs_proto_bytesmap;

/* An [inet] (addr_len 4 or 16, port) or [inetaddr] (port unused). */
typedef struct bs_proto_inet {
    uint8_t addr_len;
    uint8_t addr[16];
    int32_t port;
} bs_proto_inet;

static inline bs_proto_str bs_proto_cstr(const char *s) {
    bs_proto_str r = {s, 0};
    if (s)
        while (s[r.len])
            r.len++;
    return r;
}

/* ------------------------------------------------------------------ */
/* Reader: bounds-checked primitives with a sticky error and message   */
/* ------------------------------------------------------------------ */

/*
 * A reader over borrowed bytes.  The first failure is sticky: err keeps
 * the code (BS_ETRUNC when bytes run out, BS_EPROTO for a malformed
 * value), msg a human-readable line naming what was being read and at
 * which offset, and every later read fails with the same code without
 * touching its out-param.  Fields are public so decoders can peek at
 * pos; never write them except through the functions.
 */
typedef struct bs_proto_rd {
    const uint8_t *p;
    size_t len;
    size_t pos;
    int err;
    char msg[160];
} bs_proto_rd;

void bs_proto_rd_init(bs_proto_rd *r, const void *p, size_t len);
static inline size_t bs_proto_rd_left(const bs_proto_rd *r) {
    return r->len - r->pos;
}
/* Records an error (if none yet) and returns r->err.  printf-style. */
int bs_proto_rd_fail(bs_proto_rd *r, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Each returns 0 or the (sticky) error; `what` names the field in the
 * error message ("query string", "consistency", ...), may be NULL. */
int bs_proto_rd_byte(bs_proto_rd *r, const char *what, uint8_t *out);
int bs_proto_rd_short(bs_proto_rd *r, const char *what, uint16_t *out);
int bs_proto_rd_int(bs_proto_rd *r, const char *what, int32_t *out);
int bs_proto_rd_long(bs_proto_rd *r, const char *what, int64_t *out);
int bs_proto_rd_string(bs_proto_rd *r, const char *what, bs_proto_str *out);
int bs_proto_rd_long_string(bs_proto_rd *r, const char *what,
                            bs_proto_str *out);
/* 16 raw bytes; *out borrows them. */
int bs_proto_rd_uuid(bs_proto_rd *r, const char *what, const uint8_t **out);
/* [bytes]: any negative length is null (len set to BS_PROTO_NULL). */
int bs_proto_rd_bytes(bs_proto_rd *r, const char *what, bs_proto_val *out);
/* [value]: -1 null, -2 not set, < -2 BS_EPROTO. */
int bs_proto_rd_value(bs_proto_rd *r, const char *what, bs_proto_val *out);
int bs_proto_rd_short_bytes(bs_proto_rd *r, const char *what,
                            bs_proto_val *out);
/* [consistency]: BS_EPROTO for values outside ANY..LOCAL_ONE. */
int bs_proto_rd_consistency(bs_proto_rd *r, const char *what, uint16_t *out);
/* [inet] / [inetaddr]: address size must be 4 or 16. */
int bs_proto_rd_inet(bs_proto_rd *r, const char *what, bs_proto_inet *out);
int bs_proto_rd_inetaddr(bs_proto_rd *r, const char *what, bs_proto_inet *out);
/* Collections allocate their item arrays from `a` (strings still borrow
 * the input bytes).  Counts are checked against the bytes left before
 * allocating, so a lying count cannot make a large allocation. */
int bs_proto_rd_string_list(bs_proto_rd *r, bs_arena *a, const char *what,
                            bs_proto_strlist *out);
int bs_proto_rd_string_map(bs_proto_rd *r, bs_arena *a, const char *what,
                           bs_proto_strmap *out);
int bs_proto_rd_string_multimap(bs_proto_rd *r, bs_arena *a, const char *what,
                                bs_proto_multimap *out);
int bs_proto_rd_bytes_map(bs_proto_rd *r, bs_arena *a, const char *what,
                          bs_proto_bytesmap *out);

/* ------------------------------------------------------------------ */
/* Writers: append to a bs_buf                                          */
/* ------------------------------------------------------------------ */

/* 0, BS_ENOMEM, or BS_ERANGE when a length does not fit its prefix
 * ([string] > 65535 bytes, [option list] > 65535 entries, ...). On error
 * the buf may hold a partial value: the caller abandons the message. */
int bs_proto_wr_byte(bs_buf *b, uint8_t v);
int bs_proto_wr_short(bs_buf *b, uint16_t v);
int bs_proto_wr_int(bs_buf *b, int32_t v);
int bs_proto_wr_long(bs_buf *b, int64_t v);
int bs_proto_wr_string(bs_buf *b, const char *s, size_t len);
int bs_proto_wr_str(bs_buf *b, bs_proto_str s);
int bs_proto_wr_cstring(bs_buf *b, const char *s); /* NUL-terminated */
int bs_proto_wr_long_string(bs_buf *b, const char *s, size_t len);
int bs_proto_wr_uuid(bs_buf *b, const uint8_t uuid[16]);
/* [bytes]/[value]: writes v.len (negative = null/unset) then the bytes. */
int bs_proto_wr_value(bs_buf *b, bs_proto_val v);
int bs_proto_wr_short_bytes(bs_buf *b, const void *p, size_t len);
int bs_proto_wr_inet(bs_buf *b, const bs_proto_inet *in);
int bs_proto_wr_inetaddr(bs_buf *b, const bs_proto_inet *in);
int bs_proto_wr_string_list(bs_buf *b, const bs_proto_strlist *l);
int bs_proto_wr_string_map(bs_buf *b, const bs_proto_strmap *m);
int bs_proto_wr_string_multimap(bs_buf *b, const bs_proto_multimap *m);
int bs_proto_wr_bytes_map(bs_buf *b, const bs_proto_bytesmap *m);

/* ------------------------------------------------------------------ */
/* [option] type codec                                                 */
/* ------------------------------------------------------------------ */

/* Custom class name used for duration in v4 (option id 0x0015 is v5). */
#define BS_PROTO_DURATION_CLASS "org.apache.cassandra.db.marshal.DurationType"

/* Writes `t` as an [option].  duration is written as the custom class
 * above, as Cassandra does for v4.  BS_EINVAL for a malformed descriptor
 * (e.g. map without 2 params), BS_ERANGE for over-long names. */
int bs_proto_wr_type(bs_buf *b, const bs_type *t);
/* The same for protocol `version` (0 means 4).  v3 has no ids for date,
 * time, smallint and tinyint: as Cassandra does, they are written as the
 * custom classes SimpleDateType, TimeType, ShortType and ByteType (of
 * org.apache.cassandra.db.marshal), which bs_proto_rd_type maps back. */
int bs_proto_wr_type_v(bs_buf *b, const bs_type *t, uint8_t version);
/* Reads an [option] into a type tree allocated from `a` (arena-owned:
 * never bs_type_free it; bs_type_clone gives a heap copy).  Names are
 * NUL-terminated arena copies.  Nesting deeper than 64 is BS_EPROTO.
 * Option id 0x0015 and the duration custom class decode to
 * BS_TYPE_DURATION, 0x000A (old "text") to BS_TYPE_VARCHAR.  frozen is
 * always 0: the wire form does not carry it. */
int bs_proto_rd_type(bs_proto_rd *r, bs_arena *a, const char *what,
                     bs_type **out);

/* ------------------------------------------------------------------ */
/* Frames                                                              */
/* ------------------------------------------------------------------ */

typedef struct bs_proto_header {
    uint8_t version;  /* protocol version without the direction bit */
    uint8_t response; /* 1 when the direction bit is set */
    uint8_t flags;
    uint8_t opcode;
    int16_t stream;
    uint32_t length; /* body length on the wire (compressed if flagged) */
} bs_proto_header;

typedef struct bs_proto_header_opts {
    uint32_t max_frame; /* max body length; 0 = BS_PROTO_DEFAULT_MAX_FRAME */
    uint8_t expect_response; /* 0: server side (requests), 1: client side */
} bs_proto_header_opts;

/*
 * Parses and validates a frame header from the first n bytes of p.
 * Returns
 *   0            header valid (*out filled)
 *   BS_EAGAIN    fewer than 9 bytes (8 for a v1/v2 header) available
 *   BS_ENOTSUP   a version outside 3..4: out->version and
 *                out->stream hold what the client sent (answer with
 *                bs_proto_version_error_frame, then close)
 *   BS_ETOOBIG   body length above opts->max_frame (out filled)
 *   BS_EPROTO    wrong direction, unknown opcode, length >= 2^31
 * errmsg (may be NULL, >= 128 bytes) receives a message on failure.
 */
int bs_proto_header_parse(const uint8_t *p, size_t n,
                          const bs_proto_header_opts *opts,
                          bs_proto_header *out, char *errmsg, size_t errlen);

/* Writes a 9-byte header. */
void bs_proto_header_write(uint8_t out[BS_PROTO_HEADER_LEN],
                           const bs_proto_header *h);

/*
 * Frame writing straight into an output buffer: begin() appends a header
 * with a zero length and returns (in *start) its offset; the caller
 * appends the body; end() patches the length.  With compress set to
 * BS_PROTO_COMP_LZ4, end() compresses a non-empty body in place (as
 * <uncompressed length [int]><LZ4 block>) and sets the compressed flag.
 * response_dir selects 0x04 vs 0x84.  0, BS_ENOMEM, BS_ETOOBIG (> 2^31).
 */
int bs_proto_frame_begin(bs_buf *b, int response_dir, uint8_t flags,
                         int16_t stream, uint8_t opcode, size_t *start);
int bs_proto_frame_end(bs_buf *b, size_t start, bs_proto_compression compress);

/* LZ4 body codec as Cassandra and the drivers use it: a 4-byte big-endian
 * uncompressed length followed by one raw LZ4 block.  compress appends to
 * out.  decompress appends exactly the announced length to out, refusing
 * lengths above max_len (BS_ETOOBIG) and any block that does not inflate
 * to exactly that length (BS_ECORRUPT); a body shorter than 4 bytes is
 * BS_ETRUNC. */
int bs_proto_lz4_compress(const uint8_t *p, size_t n, bs_buf *out);
int bs_proto_lz4_decompress(const uint8_t *p, size_t n, size_t max_len,
                            bs_buf *out);

/*
 * The answer to an unsupported protocol version, as Cassandra gives it: a
 * PROTOCOL_ERROR (0x000A) with the message
 *   "Invalid or unsupported protocol version (N); the lowest supported
 *    version is 3 and the greatest is 4"
 * in a frame the client can read: for v1/v2 the client's own version
 * (with their 8-byte header), for anything else v4, which drivers then
 * retry with (the Java driver 4.x and the Node.js driver look for the
 * PROTOCOL_ERROR code and "Invalid or unsupported protocol version", the
 * python driver for "unsupported protocol version"; gocql parses "the
 * lowest supported version is N and the greatest is M" and retries with
 * M).  `stream` is echoed.  Appends to out. */
int bs_proto_version_error_frame(bs_buf *out, uint8_t client_version,
                                 int16_t stream);

/*
 * Re-stamps every complete frame in p[0..n) with `version` (direction
 * bit kept): the server builds its answers as v4 and a v3 connection
 * gets the same bytes with 0x83, the bodies having been written for v3
 * (see bs_proto_meta.version).  Stops at an incomplete frame.
 */
void bs_proto_frames_set_version(uint8_t *p, size_t n, uint8_t version);

/* ------------------------------------------------------------------ */
/* Streaming decoder                                                   */
/* ------------------------------------------------------------------ */

typedef struct bs_proto_frame {
    bs_proto_header h;   /* h.flags has COMPRESSED cleared after inflate */
    const uint8_t *body; /* decompressed body; borrowed, see next() */
    size_t body_len;
} bs_proto_frame;

typedef struct bs_proto_decoder bs_proto_decoder;

/* opts may be NULL (server side, 256 MiB).  0 or BS_ENOMEM. */
int bs_proto_decoder_new(const bs_proto_header_opts *opts,
                         bs_proto_decoder **out);
void bs_proto_decoder_free(bs_proto_decoder *d);
/* After STARTUP negotiated COMPRESSION=lz4.  Until then a frame with the
 * compressed flag is a protocol error. */
void bs_proto_decoder_set_compression(bs_proto_decoder *d,
                                      bs_proto_compression c);
void bs_proto_decoder_set_max_frame(bs_proto_decoder *d, uint32_t max_frame);

/* Copies n bytes in.  0, BS_ENOMEM, or the sticky error of a poisoned
 * decoder. */
int bs_proto_decoder_feed(bs_proto_decoder *d, const void *p, size_t n);
/* Zero-copy input (a libuv alloc_cb): returns in *p room for at least
 * `hint` bytes (*cap says how many); after reading into it call commit(n). */
int bs_proto_decoder_wbuf(bs_proto_decoder *d, size_t hint, uint8_t **p,
                          size_t *cap);
void bs_proto_decoder_commit(bs_proto_decoder *d, size_t n);

/*
 * Next complete frame.
 *   0           *out filled; out->body points into the decoder's buffer
 *               (or its inflate buffer) and stays valid until the next
 *               call of any bs_proto_decoder_* function on d
 *   BS_EAGAIN   need more bytes
 *   BS_ETOOBIG  frame body above the limit: out->h is filled (stream id to
 *               answer); the decoder skips that body and can continue
 *   BS_ENOTSUP  unsupported version (out->h.version/stream set); poisoned
 *   BS_EPROTO / BS_ECORRUPT / BS_ETRUNC   malformed frame; poisoned
 *   BS_ENOMEM
 * bs_proto_decoder_errmsg() describes the last failure.
 * A poisoned decoder returns its error from every later call.
 */
int bs_proto_decoder_next(bs_proto_decoder *d, bs_proto_frame *out);
const char *bs_proto_decoder_errmsg(const bs_proto_decoder *d);
/* Bytes buffered but not yet returned as frames. */
size_t bs_proto_decoder_pending(const bs_proto_decoder *d);
/* Bytes of an oversize frame's body (ETOOBIG) still to be discarded as
 * they arrive: the frame is not over until they have. */
uint64_t bs_proto_decoder_skipping(const bs_proto_decoder *d);

#endif
