/*
 * buf.c - growable byte buffers and bounds-checked readers (see buf.h).
 *
 * Growth doubles the capacity (minimum 64 bytes) so appends are amortised
 * O(1).  Overflow of size_t in a reservation is reported as BS_ENOMEM.
 */
#include "common/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"

void bs_buf_init(bs_buf *b) {
    b->data = NULL;
    b->len = b->cap = 0;
}

void bs_buf_free(bs_buf *b) {
    free(b->data);
    bs_buf_init(b);
}

int bs_buf_reserve(bs_buf *b, size_t extra) {
    if (extra <= b->cap - b->len) return 0;
    if (extra > SIZE_MAX - b->len) return BS_ENOMEM;
    size_t need = b->len + extra;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need) {
        if (cap > SIZE_MAX / 2) {
            cap = need;
            break;
        }
        cap *= 2;
    }
    uint8_t *d = realloc(b->data, cap);
    if (!d) return BS_ENOMEM;
    b->data = d;
    b->cap = cap;
    return 0;
}

int bs_buf_append(bs_buf *b, const void *p, size_t n) {
    if (n == 0) return 0;
    int rc = bs_buf_reserve(b, n);
    if (rc) return rc;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

uint8_t *bs_buf_extend(bs_buf *b, size_t n) {
    if (bs_buf_reserve(b, n ? n : 1)) return NULL;
    uint8_t *p = b->data + b->len;
    b->len += n;
    return p;
}

int bs_buf_append_u8(bs_buf *b, uint8_t v) {
    return bs_buf_append(b, &v, 1);
}

int bs_buf_append_u16(bs_buf *b, uint16_t v) {
    uint8_t t[2];
    bs_put_u16(t, v);
    return bs_buf_append(b, t, 2);
}

int bs_buf_append_u32(bs_buf *b, uint32_t v) {
    uint8_t t[4];
    bs_put_u32(t, v);
    return bs_buf_append(b, t, 4);
}

int bs_buf_append_u64(bs_buf *b, uint64_t v) {
    uint8_t t[8];
    bs_put_u64(t, v);
    return bs_buf_append(b, t, 8);
}

int bs_buf_append_varint(bs_buf *b, uint64_t v) {
    uint8_t t[10];
    size_t n = 0;
    do {
        uint8_t c = v & 0x7f;
        v >>= 7;
        t[n++] = (uint8_t)(c | (v ? 0x80 : 0));
    } while (v);
    return bs_buf_append(b, t, n);
}

int bs_buf_append_str(bs_buf *b, const char *s) {
    return bs_buf_append(b, s, strlen(s));
}

int bs_buf_appendf(bs_buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char small[256];
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) return BS_EINVAL;
    int rc = bs_buf_reserve(b, (size_t)n + 1);
    if (rc) return rc;
    if ((size_t)n < sizeof small) {
        memcpy(b->data + b->len, small, (size_t)n + 1);
    } else {
        va_start(ap, fmt);
        vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    b->len += (size_t)n;
    return 0;
}

uint8_t *bs_buf_steal(bs_buf *b, size_t *len_out) {
    uint8_t *d = b->data;
    if (len_out) *len_out = b->len;
    bs_buf_init(b);
    return d;
}

int bs_rbuf_u8(bs_rbuf *r, uint8_t *out) {
    if (bs_rbuf_left(r) < 1) return BS_ETRUNC;
    *out = r->p[r->pos++];
    return 0;
}

int bs_rbuf_u16(bs_rbuf *r, uint16_t *out) {
    if (bs_rbuf_left(r) < 2) return BS_ETRUNC;
    *out = bs_get_u16(r->p + r->pos);
    r->pos += 2;
    return 0;
}

int bs_rbuf_u32(bs_rbuf *r, uint32_t *out) {
    if (bs_rbuf_left(r) < 4) return BS_ETRUNC;
    *out = bs_get_u32(r->p + r->pos);
    r->pos += 4;
    return 0;
}

int bs_rbuf_u64(bs_rbuf *r, uint64_t *out) {
    if (bs_rbuf_left(r) < 8) return BS_ETRUNC;
    *out = bs_get_u64(r->p + r->pos);
    r->pos += 8;
    return 0;
}

int bs_rbuf_varint(bs_rbuf *r, uint64_t *out) {
    uint64_t v = 0;
    size_t pos = r->pos;
    for (int shift = 0; shift < 70; shift += 7) {
        if (pos >= r->len) return BS_ETRUNC;
        uint8_t c = r->p[pos++];
        if (shift == 63 && (c & 0x7e)) return BS_ECORRUPT;
        v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) {
            r->pos = pos;
            *out = v;
            return 0;
        }
    }
    return BS_ECORRUPT;
}

int bs_rbuf_bytes(bs_rbuf *r, size_t n, const uint8_t **out) {
    if (bs_rbuf_left(r) < n) return BS_ETRUNC;
    *out = r->p + r->pos;
    r->pos += n;
    return 0;
}

int bs_rbuf_skip(bs_rbuf *r, size_t n) {
    if (bs_rbuf_left(r) < n) return BS_ETRUNC;
    r->pos += n;
    return 0;
}

int bs_buf_pack_write(void *data, const char *p, size_t n) {
    return bs_buf_append(data, p, n) ? -1 : 0;
}
