/*
 * msg_codec.c - the internode wire codec (see msg.h for the frame table).
 *
 * Encoding packs the envelope map with msgpack-c into a bs_buf and, when
 * the body is long enough, replaces it by an lz4 block prefixed with the
 * raw length (only when that is actually shorter).
 *
 * Decoding never trusts the bytes: the length field is bounded by the
 * caller's maximum before anything is buffered, the lz4 raw length is
 * bounded the same way and must match what LZ4_decompress_safe produced,
 * bs_mpcheck() validates the msgpack structure before msgpack-c unpacks
 * it (so a tiny frame cannot make msgpack-c allocate gigabytes), and every
 * field's type and range is checked.  A failure is an error code plus a
 * reason for the log; nothing aborts.
 *
 * The handshake proof (bs_msg_proof) is OpenSSL's one-shot HMAC-SHA256
 * over the fields listed in msg.h, in that order; every variable-length
 * field ends in a NUL so no two field lists give the same bytes.
 */
#include <lz4.h>
#include <msgpack.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/error.h"
#include "common/mpcheck.h"
#include "node/cluster/msg.h"

#define FLAG_LZ4 0x01

static void pk_key(msgpack_packer *p, const char *k) {
    size_t n = strlen(k);
    msgpack_pack_str(p, n);
    msgpack_pack_str_body(p, k, n);
}

static int fail(char *err, size_t errlen, int code, const char *what) {
    if (err && errlen) snprintf(err, errlen, "%s", what);
    return code;
}

int bs_msg_frame_encode(const bs_msg_frame *f, size_t compress_threshold,
                        size_t max, bs_buf *out) {
    bs_buf body = BS_BUF_INIT;
    msgpack_packer p;
    msgpack_packer_init(&p, &body, bs_buf_pack_write);
    int n = 5 + (f->kind == BS_MSG_KIND_RESPONSE) + (f->has_trace != 0) +
            (f->has_remaining != 0);
    msgpack_pack_map(&p, (size_t)n);
    pk_key(&p, "v");
    msgpack_pack_uint8(&p, f->verb);
    pk_key(&p, "i");
    msgpack_pack_uint64(&p, f->id);
    pk_key(&p, "d");
    msgpack_pack_int64(&p, f->deadline_ms);
    pk_key(&p, "k");
    msgpack_pack_uint8(&p, f->kind);
    if (f->kind == BS_MSG_KIND_RESPONSE) {
        pk_key(&p, "s");
        msgpack_pack_int32(&p, f->status);
    }
    if (f->has_remaining) {
        pk_key(&p, "r");
        msgpack_pack_uint32(&p, f->remaining_ms);
    }
    if (f->has_trace) {
        pk_key(&p, "t");
        msgpack_pack_bin(&p, 16);
        msgpack_pack_bin_body(&p, f->trace, 16);
    }
    pk_key(&p, "p");
    msgpack_pack_bin(&p, f->len);
    if (f->len) msgpack_pack_bin_body(&p, f->payload, f->len);
    int rc = 0;
    /* packer write errors leave the body short; detect by its size */
    if (body.len < 16 + f->len) {
        rc = BS_ENOMEM;
        goto out;
    }
    if (compress_threshold && body.len >= compress_threshold &&
        body.len <= (size_t)LZ4_MAX_INPUT_SIZE) {
        int bound = LZ4_compressBound((int)body.len);
        uint8_t *z = malloc((size_t)bound);
        if (!z) {
            rc = BS_ENOMEM;
            goto out;
        }
        int zn = LZ4_compress_default((const char *)body.data, (char *)z,
                                      (int)body.len, bound);
        if (zn > 0 && (size_t)zn + 4 < body.len) {
            size_t total = 1 + 4 + (size_t)zn;
            if (total > max) {
                free(z);
                rc = BS_ETOOBIG;
                goto out;
            }
            uint8_t *h = bs_buf_extend(out, 4 + 1 + 4);
            if (!h) {
                free(z);
                rc = BS_ENOMEM;
                goto out;
            }
            bs_put_u32(h, (uint32_t)total);
            h[4] = FLAG_LZ4;
            bs_put_u32(h + 5, (uint32_t)body.len);
            rc = bs_buf_append(out, z, (size_t)zn);
            free(z);
            goto out;
        }
        free(z);
    }
    if (1 + body.len > max) {
        rc = BS_ETOOBIG;
        goto out;
    }
    uint8_t *h = bs_buf_extend(out, 5);
    if (!h) {
        rc = BS_ENOMEM;
        goto out;
    }
    bs_put_u32(h, (uint32_t)(1 + body.len));
    h[4] = 0;
    rc = bs_buf_append(out, body.data, body.len);
out:
    bs_buf_free(&body);
    return rc;
}

int bs_msg_frame_compress(const uint8_t *frame, size_t len, size_t threshold, bs_buf *out) {
    if (len < 5 || (frame[4] & FLAG_LZ4) || len - 5 < threshold || len - 5 > INT32_MAX / 2)
        return BS_EAGAIN;
    const uint8_t *body = frame + 5;
    int blen = (int)(len - 5);
    int bound = LZ4_compressBound(blen);
    size_t start = out->len;
    uint8_t *h = bs_buf_extend(out, 9 + (size_t)bound);
    if (!h) return BS_ENOMEM;
    int zn = LZ4_compress_default((const char *)body, (char *)h + 9, blen, bound);
    if (zn <= 0 || (size_t)zn + 4 >= (size_t)blen) {
        out->len = start;
        return BS_EAGAIN;
    }
    bs_put_u32(h, (uint32_t)(1 + 4 + (size_t)zn));
    h[4] = FLAG_LZ4;
    bs_put_u32(h + 5, (uint32_t)blen);
    out->len = start + 9 + (size_t)zn;
    return 0;
}

int bs_msg_frame_peek(const uint8_t *p, size_t len, size_t max,
                      size_t *frame_len) {
    if (len < 4) return BS_EAGAIN;
    uint32_t n = bs_get_u32(p);
    if (n == 0) return BS_ECORRUPT;
    if ((size_t)n > max) return BS_ETOOBIG;
    if (len - 4 < n) return BS_EAGAIN;
    *frame_len = 4 + (size_t)n;
    return 0;
}

static int key_is(const msgpack_object *k, const char *s) {
    size_t n = strlen(s);
    return k->type == MSGPACK_OBJECT_STR && k->via.str.size == n &&
           memcmp(k->via.str.ptr, s, n) == 0;
}

/* Integer of either msgpack sign into [lo, hi]. */
static int get_int(const msgpack_object *o, int64_t lo, int64_t hi,
                   int64_t *out) {
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
        if (o->via.u64 > (uint64_t)INT64_MAX || (int64_t)o->via.u64 > hi ||
            (int64_t)o->via.u64 < lo)
            return BS_ECORRUPT;
        *out = (int64_t)o->via.u64;
        return 0;
    }
    if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        if (o->via.i64 < lo || o->via.i64 > hi) return BS_ECORRUPT;
        *out = o->via.i64;
        return 0;
    }
    return BS_ECORRUPT;
}

int bs_msg_frame_decode(const uint8_t *p, size_t len, size_t max,
                        bs_msg_frame *f, char *err, size_t errlen) {
    memset(f, 0, sizeof *f);
    size_t flen;
    int rc = bs_msg_frame_peek(p, len, max, &flen);
    if (rc == BS_EAGAIN) return fail(err, errlen, BS_ETRUNC, "truncated frame");
    if (rc == BS_ETOOBIG)
        return fail(err, errlen, rc, "frame larger than the maximum");
    if (rc) return fail(err, errlen, rc, "zero-length frame");
    if (flen != len)
        return fail(err, errlen, BS_ECORRUPT, "bytes after the frame");
    uint8_t flags = p[4];
    const uint8_t *body = p + 5;
    size_t blen = len - 5;
    uint8_t *raw = NULL;
    if (flags & ~FLAG_LZ4)
        return fail(err, errlen, BS_ECORRUPT, "unknown frame flags");
    if (flags & FLAG_LZ4) {
        if (blen < 4)
            return fail(err, errlen, BS_ETRUNC, "truncated lz4 header");
        uint32_t rawlen = bs_get_u32(body);
        if (rawlen == 0 || rawlen > max ||
            rawlen > (uint32_t)LZ4_MAX_INPUT_SIZE)
            return fail(err, errlen, BS_ETOOBIG, "lz4 raw length out of range");
        if (blen - 4 > (size_t)INT32_MAX)
            return fail(err, errlen, BS_ETOOBIG, "lz4 block too large");
        raw = malloc(rawlen);
        if (!raw) return fail(err, errlen, BS_ENOMEM, "out of memory");
        int got = LZ4_decompress_safe((const char *)body + 4, (char *)raw,
                                      (int)(blen - 4), (int)rawlen);
        if (got < 0 || (uint32_t)got != rawlen) {
            free(raw);
            return fail(err, errlen, BS_ECORRUPT, "bad lz4 block");
        }
        body = raw;
        blen = rawlen;
    }
    if (bs_mpcheck(body, blen, 4) != 0) {
        free(raw);
        return fail(err, errlen, BS_ECORRUPT, "malformed msgpack body");
    }
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    if (msgpack_unpack_next(&u, (const char *)body, blen, &off) !=
            MSGPACK_UNPACK_SUCCESS ||
        off != blen || u.data.type != MSGPACK_OBJECT_MAP) {
        rc = fail(err, errlen, BS_ECORRUPT, "body is not a msgpack map");
        goto out;
    }
    int have_v = 0, have_i = 0, have_k = 0;
    const msgpack_object_map *m = &u.data.via.map;
    int64_t v;
    rc = 0;
    for (uint32_t i = 0; i < m->size && !rc; i++) {
        const msgpack_object *k = &m->ptr[i].key, *val = &m->ptr[i].val;
        if (key_is(k, "v")) {
            if (get_int(val, 0, BS_VERB_MAX - 1, &v)) {
                rc = fail(err, errlen, BS_ECORRUPT, "bad verb");
                break;
            }
            f->verb = (uint8_t)v;
            have_v = 1;
        } else if (key_is(k, "i")) {
            if (val->type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
                rc = fail(err, errlen, BS_ECORRUPT, "bad id");
                break;
            }
            f->id = val->via.u64;
            have_i = 1;
        } else if (key_is(k, "d")) {
            if (get_int(val, 0, INT64_MAX, &v)) {
                rc = fail(err, errlen, BS_ECORRUPT, "bad deadline");
                break;
            }
            f->deadline_ms = v;
        } else if (key_is(k, "r")) {
            if (get_int(val, 0, UINT32_MAX, &v)) {
                rc = fail(err, errlen, BS_ECORRUPT, "bad remaining timeout");
                break;
            }
            f->remaining_ms = (uint32_t)v;
            f->has_remaining = 1;
        } else if (key_is(k, "k")) {
            if (get_int(val, 0, 2, &v)) {
                rc = fail(err, errlen, BS_ECORRUPT, "bad kind");
                break;
            }
            f->kind = (uint8_t)v;
            have_k = 1;
        } else if (key_is(k, "s")) {
            if (get_int(val, INT32_MIN, 0, &v)) {
                rc = fail(err, errlen, BS_ECORRUPT, "bad status");
                break;
            }
            f->status = (int32_t)v;
        } else if (key_is(k, "p")) {
            if (val->type != MSGPACK_OBJECT_BIN) {
                rc = fail(err, errlen, BS_ECORRUPT, "payload is not bin");
                break;
            }
            /* borrowed: msgpack-c's bin points into body (the caller's
             * bytes, or `raw`, which the frame then owns) */
            f->len = val->via.bin.size;
            f->payload = f->len ? (const uint8_t *)val->via.bin.ptr : NULL;
        } else if (key_is(k, "t")) {
            if (val->type != MSGPACK_OBJECT_BIN || val->via.bin.size != 16) {
                rc = fail(err, errlen, BS_ECORRUPT, "trace id is not bin16");
                break;
            }
            memcpy(f->trace, val->via.bin.ptr, 16);
            f->has_trace = 1;
        } /* unknown keys: ignored */
    }
    if (!rc && !(have_v && have_i && have_k))
        rc = fail(err, errlen, BS_ECORRUPT, "missing verb, id or kind");
out:
    if (rc) {
        bs_msg_frame_free(f);
        free(raw);
    } else {
        f->owned = raw; /* NULL unless the body was inflated */
    }
    msgpack_unpacked_destroy(&u);
    return rc;
}

void bs_msg_frame_free(bs_msg_frame *f) {
    free(f->owned);
    f->owned = NULL;
    f->payload = NULL;
    f->len = 0;
}

/* ---- handshake payload ------------------------------------------------ */

static void pk_bin(msgpack_packer *p, const uint8_t *b, size_t n) {
    msgpack_pack_bin(p, n);
    msgpack_pack_bin_body(p, b, n);
}

int bs_msg_hello_encode(const bs_msg_hello *h, bs_buf *out) {
    size_t before = out->len;
    unsigned f = h->fields;
    size_t n = 0;
    for (unsigned b = f; b; b &= b - 1)
        n++;
    if (f & BS_HELLO_FROM) n++; /* two keys */
    msgpack_packer p;
    msgpack_packer_init(&p, out, bs_buf_pack_write);
    msgpack_pack_map(&p, n);
    if (f & BS_HELLO_CLUSTER) {
        pk_key(&p, "c");
        pk_key(&p, h->cluster);
    }
    if (f & BS_HELLO_PROTO) {
        pk_key(&p, "pv");
        msgpack_pack_uint32(&p, h->proto);
    }
    if (f & BS_HELLO_HOST) {
        pk_key(&p, "h");
        pk_bin(&p, h->host_id.b, 16);
    }
    if (f & BS_HELLO_FROM) {
        pk_key(&p, "a");
        pk_key(&p, h->from.addr);
        pk_key(&p, "o");
        msgpack_pack_uint16(&p, h->from.port);
    }
    if (f & BS_HELLO_OK) {
        pk_key(&p, "ok");
        if (h->ok)
            msgpack_pack_true(&p);
        else
            msgpack_pack_false(&p);
    }
    if (f & BS_HELLO_WHY) {
        pk_key(&p, "why");
        pk_key(&p, h->why);
    }
    if (f & BS_HELLO_NONCE) {
        pk_key(&p, "n");
        pk_bin(&p, h->nonce, sizeof h->nonce);
    }
    if (f & BS_HELLO_PROOF) {
        pk_key(&p, "pf");
        pk_bin(&p, h->proof, sizeof h->proof);
    }
    return out->len > before ? 0 : BS_ENOMEM;
}

static int copy_str(const msgpack_object *o, char *dst, size_t cap) {
    if (o->type != MSGPACK_OBJECT_STR || o->via.str.size >= cap)
        return BS_ECORRUPT;
    if (o->via.str.size) memcpy(dst, o->via.str.ptr, o->via.str.size);
    dst[o->via.str.size] = 0;
    if (memchr(dst, 0, o->via.str.size)) return BS_ECORRUPT;
    return 0;
}

static int copy_bin(const msgpack_object *o, uint8_t *dst, size_t n) {
    if (o->type != MSGPACK_OBJECT_BIN || o->via.bin.size != n)
        return BS_ECORRUPT;
    memcpy(dst, o->via.bin.ptr, n);
    return 0;
}

int bs_msg_hello_decode(const uint8_t *p, size_t len, bs_msg_hello *h,
                        char *err, size_t errlen) {
    memset(h, 0, sizeof *h);
    if (bs_mpcheck(p, len, 2) != 0)
        return fail(err, errlen, BS_ECORRUPT, "malformed handshake");
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    int rc = 0;
    if (msgpack_unpack_next(&u, (const char *)p, len, &off) !=
            MSGPACK_UNPACK_SUCCESS ||
        off != len || u.data.type != MSGPACK_OBJECT_MAP) {
        rc = fail(err, errlen, BS_ECORRUPT, "handshake is not a map");
        goto out;
    }
    unsigned seen_a = 0, seen_o = 0;
    const msgpack_object_map *m = &u.data.via.map;
    for (uint32_t i = 0; i < m->size && !rc; i++) {
        const msgpack_object *k = &m->ptr[i].key, *v = &m->ptr[i].val;
        int64_t n = 0;
        if (key_is(k, "c")) {
            rc = copy_str(v, h->cluster, sizeof h->cluster);
            h->fields |= BS_HELLO_CLUSTER;
        } else if (key_is(k, "pv")) {
            rc = get_int(v, 0, UINT32_MAX, &n);
            h->proto = (uint32_t)n;
            h->fields |= BS_HELLO_PROTO;
        } else if (key_is(k, "h")) {
            rc = copy_bin(v, h->host_id.b, 16);
            h->fields |= BS_HELLO_HOST;
        } else if (key_is(k, "a")) {
            rc = copy_str(v, h->from.addr, sizeof h->from.addr);
            seen_a = 1;
        } else if (key_is(k, "o")) {
            rc = get_int(v, 1, 65535, &n);
            h->from.port = (uint16_t)n;
            seen_o = 1;
        } else if (key_is(k, "ok")) {
            if (v->type != MSGPACK_OBJECT_BOOLEAN)
                rc = BS_ECORRUPT;
            else
                h->ok = v->via.boolean;
            h->fields |= BS_HELLO_OK;
        } else if (key_is(k, "why")) {
            rc = copy_str(v, h->why, sizeof h->why);
            h->fields |= BS_HELLO_WHY;
        } else if (key_is(k, "n")) {
            rc = copy_bin(v, h->nonce, sizeof h->nonce);
            h->fields |= BS_HELLO_NONCE;
        } else if (key_is(k, "pf")) {
            rc = copy_bin(v, h->proof, sizeof h->proof);
            h->fields |= BS_HELLO_PROOF;
        }
    }
    if (rc) {
        rc = fail(err, errlen, BS_ECORRUPT, "bad handshake field");
        goto out;
    }
    if (seen_a != seen_o) {
        rc = fail(err, errlen, BS_ECORRUPT, "handshake has half an endpoint");
        goto out;
    }
    if (seen_a) {
        bs_msg_peer chk;
        if (bs_msg_peer_set(&chk, h->from.addr, h->from.port)) {
            rc = fail(err, errlen, BS_ECORRUPT,
                      "handshake address is not an IP");
            goto out;
        }
        h->fields |= BS_HELLO_FROM;
    }
out:
    msgpack_unpacked_destroy(&u);
    return rc;
}

/* ---- handshake proof -------------------------------------------------- */

int bs_msg_proof(const bs_msg_proof_in *in, uint8_t out[BS_MSG_PROOF_LEN]) {
    static const char lc[] = "basalt internode v2 client";
    static const char ls[] = "basalt internode v2 server";
    _Static_assert(sizeof lc == sizeof ls, "labels of one length");
    if (!in->secret || !in->secret_len || !in->client_nonce ||
        !in->server_nonce || !in->client_from || !in->cluster ||
        in->secret_len > (size_t)INT32_MAX)
        return BS_EINVAL;
    bs_buf d = BS_BUF_INIT;
    uint8_t port[2] = {(uint8_t)(in->client_from->port >> 8),
                       (uint8_t)in->client_from->port};
    int rc = 0;
    rc |= bs_buf_append(&d, in->server ? ls : lc, sizeof lc);
    rc |= bs_buf_append(&d, in->client_nonce, BS_MSG_NONCE_LEN);
    rc |= bs_buf_append(&d, in->server_nonce, BS_MSG_NONCE_LEN);
    rc |= bs_buf_append(&d, in->client_host.b, 16);
    rc |= bs_buf_append(&d, in->server_host.b, 16);
    rc |= bs_buf_append(&d, in->client_from->addr,
                        strlen(in->client_from->addr) + 1);
    rc |= bs_buf_append(&d, port, 2);
    rc |= bs_buf_append(&d, in->cluster, strlen(in->cluster) + 1);
    unsigned int n = 0;
    if (!rc && !HMAC(EVP_sha256(), in->secret, (int)in->secret_len, d.data,
                     d.len, out, &n))
        rc = BS_ENOMEM;
    if (!rc && n != BS_MSG_PROOF_LEN) rc = BS_EINVAL;
    bs_buf_free(&d);
    return rc ? BS_ENOMEM : 0;
}
