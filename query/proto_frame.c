/*
 * proto_frame.c - frame headers, frame writing, LZ4 bodies, the answer to
 * an unsupported protocol version, and the streaming frame decoder.
 *
 * Header (v3+; v1/v2 had a 1-byte stream and so 8 bytes):
 *
 *   OFFSET SIZE DESCRIPTION
 *   0      1    version | 0x80 for responses
 *   1      1    flags
 *   2      2    stream (int16)
 *   4      1    opcode
 *   5      4    body length
 *
 * Versions 3 and 4 are accepted (same header; the server keeps one
 * version per connection).  Version negotiation, as Cassandra does it
 * (ProtocolVersion.decode): the version byte is checked first, before
 * the direction and the opcode; an old version (1, 2) is answered in
 * that same version so the client can read the error, anything else
 * (0, 5, 6, 0x41 ...) in v4, which a v5 driver then falls back to.  The python
 * driver recognises the answer by the substring "unsupported protocol version"
 * in a ProtocolException (connection.py) and retries one version lower.
 *
 * LZ4 body: [uncompressed length, 4 bytes BE][raw LZ4 block] - the python
 * driver prepends int32_pack(len) to lz4.block.compress(...)[4:] (the
 * block library's own little-endian size prefix stripped).  A body whose
 * announced size could not come out of its block (LZ4 expands at most
 * ~255x) is rejected before anything is allocated.
 *
 * Decoder: one growable input buffer per connection.  `rpos` is the
 * start of the first unreturned byte; frames are handed out as pointers
 * into the buffer, so nothing moves in next(); feed()/wbuf() compact
 * (memmove the unconsumed tail to the front) before writing, which is
 * why a returned frame lives only until the next decoder call.  A frame
 * over the size limit is reported with its header and its body is then
 * skipped as it streams in (`skip`), without buffering it.  Any other
 * malformation poisons the decoder (err/msg sticky).
 */
#include <lz4.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "query/proto.h"

/* ------------------------------------------------------------------ */
/* Header                                                              */
/* ------------------------------------------------------------------ */

static void setmsg(char *m, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void setmsg(char *m, size_t n, const char *fmt, ...) {
    if (!m || !n) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m, n, fmt, ap);
    va_end(ap);
}

int bs_proto_header_parse(const uint8_t *p, size_t n,
                          const bs_proto_header_opts *opts,
                          bs_proto_header *out, char *errmsg, size_t errlen) {
    uint32_t max =
        opts && opts->max_frame ? opts->max_frame : BS_PROTO_DEFAULT_MAX_FRAME;
    int want_resp = opts ? opts->expect_response : 0;
    if (n < 1) return BS_EAGAIN;
    uint8_t v = p[0] & 0x7f;
    memset(out, 0, sizeof *out);
    out->version = v;
    out->response = (p[0] & BS_PROTO_RESPONSE_BIT) != 0;
    if (v < BS_PROTO_MIN_VERSION || v > BS_PROTO_VERSION) {
        size_t hl = (v == 1 || v == 2) ? 8 : 9;
        if (n < hl) return BS_EAGAIN;
        out->flags = p[1];
        if (hl == 8) {
            out->stream = (int8_t)p[2];
            out->opcode = p[3];
            out->length = bs_get_u32(p + 4);
        } else {
            out->stream = (int16_t)bs_get_u16(p + 2);
            out->opcode = p[4];
            out->length = bs_get_u32(p + 5);
        }
        setmsg(errmsg, errlen,
               "Invalid or unsupported protocol version (%u); the lowest "
               "supported "
               "version is %d and the greatest is %d",
               v, BS_PROTO_MIN_VERSION, BS_PROTO_VERSION);
        return BS_ENOTSUP;
    }
    if (n < BS_PROTO_HEADER_LEN) return BS_EAGAIN;
    out->flags = p[1];
    out->stream = (int16_t)bs_get_u16(p + 2);
    out->opcode = p[4];
    out->length = bs_get_u32(p + 5);
    if (out->response != want_resp) {
        setmsg(errmsg, errlen, "Wrong protocol direction (expected %s, got %s)",
               want_resp ? "RESPONSE" : "REQUEST",
               out->response ? "RESPONSE" : "REQUEST");
        return BS_EPROTO;
    }
    if (!bs_proto_opcode_valid(out->opcode, want_resp)) {
        if (bs_proto_opcode_valid(out->opcode, !want_resp))
            setmsg(
                errmsg, errlen,
                "Wrong protocol direction (expected %s, got %s) for opcode %s",
                want_resp ? "RESPONSE" : "REQUEST",
                want_resp ? "REQUEST" : "RESPONSE",
                bs_proto_opcode_name(out->opcode));
        else
            setmsg(errmsg, errlen, "Unknown opcode 0x%02x", out->opcode);
        return BS_EPROTO;
    }
    if (out->length > INT32_MAX) {
        setmsg(errmsg, errlen, "Invalid frame body length %u (negative)",
               out->length);
        return BS_EPROTO;
    }
    if (out->length > max) {
        setmsg(
            errmsg, errlen,
            "Request is too big: length %u exceeds maximum allowed length %u",
            out->length, max);
        return BS_ETOOBIG;
    }
    return 0;
}

void bs_proto_header_write(uint8_t out[BS_PROTO_HEADER_LEN],
                           const bs_proto_header *h) {
    out[0] = (uint8_t)((h->version & 0x7f) |
                       (h->response ? BS_PROTO_RESPONSE_BIT : 0));
    out[1] = h->flags;
    bs_put_u16(out + 2, (uint16_t)h->stream);
    out[4] = h->opcode;
    bs_put_u32(out + 5, h->length);
}

/* ------------------------------------------------------------------ */
/* Frame writing and LZ4                                               */
/* ------------------------------------------------------------------ */

int bs_proto_frame_begin(bs_buf *b, int response_dir, uint8_t flags,
                         int16_t stream, uint8_t opcode, size_t *start) {
    bs_proto_header h = {BS_PROTO_VERSION,
                         (uint8_t)(response_dir != 0),
                         flags,
                         opcode,
                         stream,
                         0};
    size_t at = b->len;
    uint8_t *p = bs_buf_extend(b, BS_PROTO_HEADER_LEN);
    if (!p) return BS_ENOMEM;
    bs_proto_header_write(p, &h);
    *start = at;
    return 0;
}

int bs_proto_frame_end(bs_buf *b, size_t start, bs_proto_compression compress) {
    if (start + BS_PROTO_HEADER_LEN > b->len) return BS_EINVAL;
    size_t body = b->len - start - BS_PROTO_HEADER_LEN;
    if (compress == BS_PROTO_COMP_LZ4 && body > 0) {
        bs_buf tmp = BS_BUF_INIT;
        int rc = bs_proto_lz4_compress(b->data + start + BS_PROTO_HEADER_LEN,
                                       body, &tmp);
        if (rc) {
            bs_buf_free(&tmp);
            return rc;
        }
        b->len = start + BS_PROTO_HEADER_LEN;
        rc = bs_buf_append(b, tmp.data, tmp.len);
        bs_buf_free(&tmp);
        if (rc) return rc;
        b->data[start + 1] |= BS_PROTO_FLAG_COMPRESSED;
        body = b->len - start - BS_PROTO_HEADER_LEN;
    }
    if (body > INT32_MAX) return BS_ETOOBIG;
    bs_put_u32(b->data + start + 5, (uint32_t)body);
    return 0;
}

int bs_proto_lz4_compress(const uint8_t *p, size_t n, bs_buf *out) {
    if (n > LZ4_MAX_INPUT_SIZE) return BS_ETOOBIG;
    int bound = LZ4_compressBound((int)n);
    if (bs_buf_reserve(out, 4 + (size_t)bound)) return BS_ENOMEM;
    uint8_t *dst = out->data + out->len;
    bs_put_u32(dst, (uint32_t)n);
    int c =
        LZ4_compress_default((const char *)p, (char *)dst + 4, (int)n, bound);
    if (c <= 0) return BS_EINTERNAL;
    out->len += 4 + (size_t)c;
    return 0;
}

int bs_proto_lz4_decompress(const uint8_t *p, size_t n, size_t max_len,
                            bs_buf *out) {
    if (n < 4) return BS_ETRUNC;
    uint32_t ulen = bs_get_u32(p);
    size_t clen = n - 4;
    if (ulen > max_len || ulen > INT32_MAX) return BS_ETOOBIG;
    /* A sequence's match length grows by 255 per extra byte, so no block
     * inflates more than ~255x; a larger claim is a lie. */
    if ((uint64_t)ulen > (uint64_t)clen * 255u + 64u) return BS_ECORRUPT;
    if (clen > INT32_MAX) return BS_ECORRUPT;
    uint8_t dummy;
    uint8_t *dst = &dummy;
    if (ulen) {
        if (bs_buf_reserve(out, ulen)) return BS_ENOMEM;
        dst = out->data + out->len;
    }
    int d = LZ4_decompress_safe((const char *)p + 4, (char *)dst, (int)clen,
                                (int)ulen);
    if (d < 0 || (uint32_t)d != ulen) return BS_ECORRUPT;
    out->len += ulen;
    return 0;
}

int bs_proto_version_error_frame(bs_buf *out, uint8_t client_version,
                                 int16_t stream) {
    uint8_t v = client_version & 0x7f;
    uint8_t reply = (v >= 1 && v <= 3) ? v : BS_PROTO_VERSION;
    char msg[160];
    int mlen = snprintf(
        msg, sizeof msg,
        "Invalid or unsupported protocol version (%u); the lowest supported "
        "version is %d and the greatest is %d",
        v, BS_PROTO_MIN_VERSION, BS_PROTO_VERSION);
    size_t body = 4 + 2 + (size_t)mlen;
    size_t hl = reply < 3 ? 8 : 9;
    uint8_t *p = bs_buf_extend(out, hl + body);
    if (!p) return BS_ENOMEM;
    p[0] = (uint8_t)(reply | BS_PROTO_RESPONSE_BIT);
    p[1] = 0;
    if (hl == 8) {
        p[2] = (uint8_t)stream;
        p[3] = BS_PROTO_OP_ERROR;
        bs_put_u32(p + 4, (uint32_t)body);
    } else {
        bs_put_u16(p + 2, (uint16_t)stream);
        p[4] = BS_PROTO_OP_ERROR;
        bs_put_u32(p + 5, (uint32_t)body);
    }
    p += hl;
    bs_put_u32(p, BS_PROTO_ERR_PROTOCOL);
    bs_put_u16(p + 4, (uint16_t)mlen);
    memcpy(p + 6, msg, (size_t)mlen);
    return 0;
}

void bs_proto_frames_set_version(uint8_t *p, size_t n, uint8_t version) {
    size_t at = 0;
    while (n - at >= BS_PROTO_HEADER_LEN) {
        uint32_t len = bs_get_u32(p + at + 5);
        if (len > n - at - BS_PROTO_HEADER_LEN) return;
        p[at] = (uint8_t)((p[at] & BS_PROTO_RESPONSE_BIT) | (version & 0x7f));
        at += BS_PROTO_HEADER_LEN + len;
    }
}

/* ------------------------------------------------------------------ */
/* Streaming decoder                                                   */
/* ------------------------------------------------------------------ */

#define BS_PROTO_DECODER_KEEP (1u << 20)

struct bs_proto_decoder {
    bs_buf in; /* buffered input; [rpos, in.len) not yet returned */
    size_t rpos;
    bs_buf inflate; /* body of the last compressed frame */
    bs_proto_header_opts opts;
    bs_proto_compression comp;
    uint64_t skip; /* bytes of an oversize body still to discard */
    int err;       /* sticky (poisoned) */
    char msg[200];
};

int bs_proto_decoder_new(const bs_proto_header_opts *opts,
                         bs_proto_decoder **out) {
    bs_proto_decoder *d = calloc(1, sizeof *d);
    if (!d) return BS_ENOMEM;
    if (opts) d->opts = *opts;
    if (!d->opts.max_frame) d->opts.max_frame = BS_PROTO_DEFAULT_MAX_FRAME;
    *out = d;
    return 0;
}

void bs_proto_decoder_free(bs_proto_decoder *d) {
    if (!d) return;
    bs_buf_free(&d->in);
    bs_buf_free(&d->inflate);
    free(d);
}

void bs_proto_decoder_set_compression(bs_proto_decoder *d,
                                      bs_proto_compression c) {
    d->comp = c;
}

void bs_proto_decoder_set_max_frame(bs_proto_decoder *d, uint32_t max_frame) {
    d->opts.max_frame = max_frame ? max_frame : BS_PROTO_DEFAULT_MAX_FRAME;
}

const char *bs_proto_decoder_errmsg(const bs_proto_decoder *d) {
    return d->msg;
}

size_t bs_proto_decoder_pending(const bs_proto_decoder *d) {
    return d->in.len - d->rpos;
}

uint64_t bs_proto_decoder_skipping(const bs_proto_decoder *d) { return d->skip; }

static void compact(bs_proto_decoder *d) {
    if (d->rpos == 0) return;
    size_t left = d->in.len - d->rpos;
    if (left) memmove(d->in.data, d->in.data + d->rpos, left);
    d->in.len = left;
    d->rpos = 0;
}

static int poison(bs_proto_decoder *d, int err) {
    d->err = err;
    return err;
}

int bs_proto_decoder_feed(bs_proto_decoder *d, const void *p, size_t n) {
    if (d->err) return d->err;
    const uint8_t *src = p;
    if (d->skip && d->rpos == d->in.len) {
        /* discarding an oversize body: do not buffer it */
        size_t k = d->skip < n ? (size_t)d->skip : n;
        d->skip -= k;
        src += k;
        n -= k;
    }
    compact(d);
    return n ? bs_buf_append(&d->in, src, n) : 0;
}

int bs_proto_decoder_wbuf(bs_proto_decoder *d, size_t hint, uint8_t **p,
                          size_t *cap) {
    if (d->err) return d->err;
    compact(d);
    if (d->in.len == 0 && d->in.cap > BS_PROTO_DECODER_KEEP) {
        /* an idle connection does not keep the buffer of its biggest
         * frame */
        bs_buf_free(&d->in);
    }
    if (hint == 0) hint = 1;
    if (bs_buf_reserve(&d->in, hint)) return BS_ENOMEM;
    *p = d->in.data + d->in.len;
    *cap = d->in.cap - d->in.len;
    return 0;
}

void bs_proto_decoder_commit(bs_proto_decoder *d, size_t n) {
    if (n <= d->in.cap - d->in.len) d->in.len += n;
}

int bs_proto_decoder_next(bs_proto_decoder *d, bs_proto_frame *out) {
    if (d->err) return d->err;
    if (d->skip) {
        size_t avail = d->in.len - d->rpos;
        size_t k = d->skip < avail ? (size_t)d->skip : avail;
        d->skip -= k;
        d->rpos += k;
        if (d->skip) return BS_EAGAIN;
    }
    const uint8_t *p = d->in.data + d->rpos;
    size_t avail = d->in.len - d->rpos;
    memset(out, 0, sizeof *out);
    int rc = bs_proto_header_parse(p, avail, &d->opts, &out->h, d->msg,
                                   sizeof d->msg);
    if (rc == BS_EAGAIN) return rc;
    if (rc == BS_ETOOBIG) {
        d->rpos += BS_PROTO_HEADER_LEN;
        d->skip = out->h.length;
        return rc;
    }
    if (rc) return poison(d, rc);
    size_t need = BS_PROTO_HEADER_LEN + (size_t)out->h.length;
    if (avail < need) {
        /* Nothing is reserved for the announced length: the buffer grows
         * (doubling, in bs_proto_decoder_wbuf/feed) only as bytes arrive,
         * so a header announcing a big frame costs nothing until its body
         * is really sent (issue 19 finding 3: 1,000 connections each
         * announcing 16 MiB reserved 16 GB). */
        return BS_EAGAIN;
    }
    out->body = p + BS_PROTO_HEADER_LEN;
    out->body_len = out->h.length;
    d->rpos += need;
    if (out->h.flags & BS_PROTO_FLAG_COMPRESSED) {
        if (d->comp != BS_PROTO_COMP_LZ4) {
            snprintf(d->msg, sizeof d->msg,
                     "Received a compressed frame (stream %d) but no "
                     "compression was negotiated",
                     out->h.stream);
            return poison(d, BS_EPROTO);
        }
        bs_buf_reset(&d->inflate);
        if (out->body_len == 0) {
            out->body = NULL;
        } else {
            rc = bs_proto_lz4_decompress(out->body, out->body_len,
                                         d->opts.max_frame, &d->inflate);
            if (rc) {
                snprintf(d->msg, sizeof d->msg,
                         "Cannot decompress LZ4 frame body (stream %d, %zu "
                         "bytes): %s",
                         out->h.stream, out->body_len, bs_strerror(rc));
                return poison(d, rc == BS_ETOOBIG ? BS_EPROTO : rc);
            }
            out->body = d->inflate.data;
            out->body_len = d->inflate.len;
        }
        out->h.flags &= (uint8_t)~BS_PROTO_FLAG_COMPRESSED;
    }
    return 0;
}
