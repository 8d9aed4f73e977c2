/*
 * buf.h - growable byte buffers and bounds-checked readers.
 *
 * bs_buf owns its bytes (heap, grown by doubling).  bs_rbuf borrows bytes
 * it does not own and reads them front to back; every getter checks the
 * remaining length and returns BS_ETRUNC instead of reading past the end,
 * which is what every decoder of network or disk bytes should build on.
 *
 * Multi-byte integers are big-endian (network order) unless the name says
 * otherwise.  Varints are unsigned LEB128 (7 bits a byte, low first),
 * at most 10 bytes.
 */
#ifndef BS_BUF_H
#define BS_BUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct bs_buf {
    uint8_t *data; /* owned; NULL while cap == 0 */
    size_t len;
    size_t cap;
} bs_buf;

#define BS_BUF_INIT                                                            \
    { NULL, 0, 0 }

void bs_buf_init(bs_buf *b);
/* Frees the bytes and resets to empty.  Safe on an initialised empty buf. */
void bs_buf_free(bs_buf *b);
/* Keeps the allocation, sets len to 0. */
static inline void bs_buf_reset(bs_buf *b) {
    b->len = 0;
}
/* Ensures room for `extra` more bytes.  0 or BS_ENOMEM. */
int bs_buf_reserve(bs_buf *b, size_t extra);
/* Appends; 0 or BS_ENOMEM.  On error the buf is unchanged. */
int bs_buf_append(bs_buf *b, const void *p, size_t n);
/* msgpack-c's write callback over a bs_buf (data):
 * msgpack_packer_init(&pk, &buf, bs_buf_pack_write).  0, or -1 (OOM). */
int bs_buf_pack_write(void *data, const char *p, size_t n);
int bs_buf_append_u8(bs_buf *b, uint8_t v);
int bs_buf_append_u16(bs_buf *b, uint16_t v);
int bs_buf_append_u32(bs_buf *b, uint32_t v);
int bs_buf_append_u64(bs_buf *b, uint64_t v);
int bs_buf_append_varint(bs_buf *b, uint64_t v);
int bs_buf_append_str(bs_buf *b, const char *s); /* no terminating NUL */
/* printf-style append; the buf stays NUL-terminated after it (the NUL is
 * not counted in len). */
int bs_buf_appendf(bs_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Makes room for n bytes at the end, returns a pointer to them and grows
 * len by n; NULL on BS_ENOMEM.  The pointer is valid until the next call
 * that may grow the buf. */
uint8_t *bs_buf_extend(bs_buf *b, size_t n);
/* Hands the bytes to the caller (who frees them with free()) and resets
 * the buf to empty. */
uint8_t *bs_buf_steal(bs_buf *b, size_t *len_out);

/* Big-endian stores/loads on raw memory. */
static inline void bs_put_u16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}
static inline void bs_put_u32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}
static inline void bs_put_u64(uint8_t *p, uint64_t v) {
    bs_put_u32(p, (uint32_t)(v >> 32));
    bs_put_u32(p + 4, (uint32_t)v);
}
static inline uint16_t bs_get_u16(const uint8_t *p) {
    return (uint16_t)((p[0] << 8) | p[1]);
}
static inline uint32_t bs_get_u32(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
           ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}
static inline uint64_t bs_get_u64(const uint8_t *p) {
    return ((uint64_t)bs_get_u32(p) << 32) | bs_get_u32(p + 4);
}

/* A reader over borrowed bytes.  The bytes must outlive the reader. */
typedef struct bs_rbuf {
    const uint8_t *p;
    size_t len;
    size_t pos;
} bs_rbuf;

static inline void bs_rbuf_init(bs_rbuf *r, const void *p, size_t len) {
    r->p = (const uint8_t *)p;
    r->len = len;
    r->pos = 0;
}
static inline size_t bs_rbuf_left(const bs_rbuf *r) {
    return r->len - r->pos;
}

/* Each returns 0 or BS_ETRUNC (the reader does not advance on error). */
int bs_rbuf_u8(bs_rbuf *r, uint8_t *out);
int bs_rbuf_u16(bs_rbuf *r, uint16_t *out);
int bs_rbuf_u32(bs_rbuf *r, uint32_t *out);
int bs_rbuf_u64(bs_rbuf *r, uint64_t *out);
/* BS_ETRUNC if short, BS_ECORRUPT if longer than 10 bytes/overflows. */
int bs_rbuf_varint(bs_rbuf *r, uint64_t *out);
/* Borrows n bytes: *out points into the reader's memory. */
int bs_rbuf_bytes(bs_rbuf *r, size_t n, const uint8_t **out);
int bs_rbuf_skip(bs_rbuf *r, size_t n);

#endif
