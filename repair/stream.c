/*
 * stream.c - chunks of raw records and record digests (layouts in
 * stream.h).
 *
 * A chunk is only applied once its checksum matches and every record
 * header lies inside the buffer; the records then go through
 * bs_batch_put_raw, which re-checks each stored value's own checksum and
 * merges by LWW, so a damaged or replayed chunk can never regress data.
 */
#include "repair/stream.h"

#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "common/error.h"
#include "repair/merkle.h"

#define MAGIC "BSC1"

void bs_stream_chunk_init(bs_stream_chunk *c) {
    bs_buf_init(&c->b);
    c->count = 0;
}

void bs_stream_chunk_reset(bs_stream_chunk *c) {
    bs_buf_reset(&c->b);
    c->count = 0;
}

void bs_stream_chunk_free(bs_stream_chunk *c) {
    bs_buf_free(&c->b);
}

int bs_stream_chunk_add(bs_stream_chunk *c, const void *key, size_t klen,
                        const void *val, size_t vlen) {
    if (klen > UINT32_MAX || vlen > UINT32_MAX) return BS_ETOOBIG;
    if (!c->b.len) {
        uint8_t *h = bs_buf_extend(&c->b, 8);
        if (!h) return BS_ENOMEM;
        memcpy(h, MAGIC, 4);
        bs_put_u32(h + 4, 0);
    }
    if (bs_buf_append_u32(&c->b, (uint32_t)klen) ||
        bs_buf_append(&c->b, key, klen) ||
        bs_buf_append_u32(&c->b, (uint32_t)vlen) ||
        bs_buf_append(&c->b, val, vlen))
        return BS_ENOMEM;
    c->count++;
    return 0;
}

int bs_stream_chunk_finish(bs_stream_chunk *c) {
    if (!c->b.len) {
        uint8_t *h = bs_buf_extend(&c->b, 8);
        if (!h) return BS_ENOMEM;
        memcpy(h, MAGIC, 4);
    }
    bs_put_u32(c->b.data + 4, c->count);
    return bs_buf_append_u64(&c->b, XXH64(c->b.data, c->b.len, 0));
}

/* The records of a chunk whose magic and checksum were checked. */
static int walk_records(const uint8_t *p, size_t len, bs_raw_cb cb, void *ud) {
    uint32_t n = bs_get_u32(p + 4);
    bs_rbuf r;
    bs_rbuf_init(&r, p + 8, len - 16);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t kl, vl;
        const uint8_t *k, *v;
        if (bs_rbuf_u32(&r, &kl) || bs_rbuf_bytes(&r, kl, &k) ||
            bs_rbuf_u32(&r, &vl) || bs_rbuf_bytes(&r, vl, &v))
            return BS_ECORRUPT;
        int rc = cb ? cb(ud, k, kl, v, vl) : 0;
        if (rc) return rc < 0 ? rc : 0;
    }
    return bs_rbuf_left(&r) ? BS_ECORRUPT : 0;
}

int bs_stream_chunk_walk(const void *data, size_t len, bs_raw_cb cb, void *ud) {
    const uint8_t *p = data;
    if (len < 16 || memcmp(p, MAGIC, 4)) return BS_ECORRUPT;
    if (bs_get_u64(p + len - 8) != XXH64(p, len - 8, 0)) return BS_ECORRUPT;
    return walk_records(p, len, cb, ud);
}

int bs_stream_chunk_each(const void *data, size_t len, bs_raw_cb cb, void *ud) {
    const uint8_t *p = data;
    if (len < 16 || memcmp(p, MAGIC, 4)) return BS_ECORRUPT;
    return walk_records(p, len, cb, ud);
}

typedef struct apply_ctx {
    bs_batch *b;
    bs_table *t;
    uint64_t rows, bytes;
} apply_ctx;

static int apply_cb(void *ud, const uint8_t *k, size_t kl, const uint8_t *v,
                    size_t vl) {
    apply_ctx *c = ud;
    int rc = bs_batch_put_raw(c->b, c->t, k, kl, v, vl);
    if (rc == BS_EINVAL) rc = BS_ECORRUPT;
    c->rows++;
    c->bytes += kl + vl;
    return rc;
}

int bs_stream_chunk_apply(bs_store *s, bs_table *t, const void *data,
                          size_t len, uint64_t *rows, uint64_t *bytes) {
    if (rows) *rows = 0;
    if (bytes) *bytes = 0;
    /* check the whole chunk before touching the store */
    int rc = bs_stream_chunk_walk(data, len, NULL, NULL);
    if (rc) return rc;
    apply_ctx c = {NULL, t, 0, 0};
    if ((rc = bs_batch_new(s, &c.b))) return rc;
    rc = bs_stream_chunk_each(data, len, apply_cb, &c); /* checked above */
    if (!rc && c.rows) rc = bs_store_write(s, c.b);
    bs_batch_free(c.b);
    if (!rc) {
        if (rows) *rows = c.rows;
        if (bytes) *bytes = c.bytes;
    }
    return rc;
}

void bs_stream_digest_of(const void *key, size_t klen, const void *val,
                         size_t vlen, bs_stream_digest *out) {
    out->key_hash = XXH3_64bits(key, klen);
    out->rec_hash = bs_merkle_record_digest(key, klen, val, vlen);
    uint64_t sz = (uint64_t)klen + vlen;
    out->size = sz > UINT32_MAX ? UINT32_MAX : (uint32_t)sz;
}

int bs_stream_digest_append(bs_buf *b, const bs_stream_digest *d) {
    uint8_t *p = bs_buf_extend(b, BS_STREAM_DIGEST_LEN);
    if (!p) return BS_ENOMEM;
    bs_put_u64(p, d->key_hash);
    bs_put_u64(p + 8, d->rec_hash);
    bs_put_u32(p + 16, d->size);
    return 0;
}

int bs_stream_digests_parse(const void *data, size_t len,
                            bs_stream_digest **out, size_t *n) {
    const uint8_t *p = data;
    *out = NULL;
    *n = 0;
    if (len % BS_STREAM_DIGEST_LEN) return BS_ECORRUPT;
    size_t k = len / BS_STREAM_DIGEST_LEN;
    if (!k) return 0;
    bs_stream_digest *d = malloc(k * sizeof *d);
    if (!d) return BS_ENOMEM;
    for (size_t i = 0; i < k; i++, p += BS_STREAM_DIGEST_LEN) {
        d[i].key_hash = bs_get_u64(p);
        d[i].rec_hash = bs_get_u64(p + 8);
        d[i].size = bs_get_u32(p + 16);
    }
    *out = d;
    *n = k;
    return 0;
}

static int dcmp(const void *a, const void *b) {
    const bs_stream_digest *x = a, *y = b;
    if (x->key_hash != y->key_hash) return x->key_hash < y->key_hash ? -1 : 1;
    if (x->rec_hash != y->rec_hash) return x->rec_hash < y->rec_hash ? -1 : 1;
    return 0;
}

void bs_stream_digests_sort(bs_stream_digest *d, size_t n) {
    if (n > 1) qsort(d, n, sizeof *d, dcmp);
}

int bs_stream_digest_find(const bs_stream_digest *d, size_t n,
                          uint64_t key_hash, uint64_t rec_hash) {
    bs_stream_digest k = {key_hash, rec_hash, 0};
    return n && bsearch(&k, d, n, sizeof *d, dcmp) != NULL;
}

static int dig_cb(void *ud, const uint8_t *key, size_t klen, const uint8_t *val,
                  size_t vlen) {
    bs_stream_digest d;
    bs_stream_digest_of(key, klen, val, vlen, &d);
    return bs_stream_digest_append(ud, &d);
}

int bs_stream_digests_build(bs_table *t, const int64_t *starts,
                            const int64_t *ends, size_t nranges, bs_buf *out) {
    for (size_t i = 0; i < nranges; i++) {
        int rc = bs_store_iterate_range(t, starts[i], ends[i], dig_cb, out);
        if (rc < 0) return rc;
    }
    return 0;
}
