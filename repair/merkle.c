/*
 * merkle.c - Merkle trees over a token range (see merkle.h for the hash
 * definitions and the serialized layout).
 *
 * Geometry.  The range (start, end] has width W = end - start (mod 2^64;
 * W = 2^64 when start == end, the whole ring).  A token t sits at offset
 * off = t - start (mod 2^64, and 2^64 for t == start of a whole-ring
 * range), 1 <= off <= W.  With n = 2^d leaves, t is in leaf
 * floor((off - 1) * n / W), computed in 128 bits.  Leaf i therefore covers
 * offsets (b_i, b_{i+1}] with b_i = ceil(i * W / n), so the leaves
 * partition the range exactly and none is empty while W >= n.
 *
 * Storage.  The tree is a heap array of 2^(d+1) hashes: node 1 is the
 * root, node k has children 2k and 2k+1, leaves are nodes n .. 2n-1.
 * Slot 0 is unused.
 *
 * Invariant (checked in debug builds after finish): every inner node is
 * the combination of its children.
 */
#include "repair/merkle.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "common/error.h"

__extension__ typedef unsigned __int128 u128;

struct bs_merkle {
    int64_t start, end;
    unsigned depth;
    int finished;
    uint64_t rows, bytes;
    uint64_t *h; /* 2^(depth+1) entries */
};

static u128 width(const bs_merkle *m) {
    uint64_t w = (uint64_t)m->end - (uint64_t)m->start;
    return w ? (u128)w : ((u128)1 << 64);
}

static uint64_t combine(uint64_t l, uint64_t r) {
    if (!l && !r) return 0;
    uint8_t b[16];
    bs_put_u64(b, l);
    bs_put_u64(b + 8, r);
    return XXH3_64bits(b, sizeof b);
}

int bs_merkle_new(int64_t start_excl, int64_t end_incl, unsigned depth,
                  bs_merkle **out) {
    if (!out || depth > BS_MERKLE_MAX_DEPTH) return BS_EINVAL;
    bs_merkle *m = calloc(1, sizeof *m);
    if (!m) return BS_ENOMEM;
    m->h = calloc((size_t)2 << depth, sizeof *m->h);
    if (!m->h) {
        free(m);
        return BS_ENOMEM;
    }
    m->start = start_excl;
    m->end = end_incl;
    m->depth = depth;
    m->finished = 1; /* all zero is a consistent empty tree */
    *out = m;
    return 0;
}

void bs_merkle_free(bs_merkle *m) {
    if (!m) return;
    free(m->h);
    free(m);
}

uint64_t bs_merkle_record_digest(const void *key, size_t klen, const void *val,
                                 size_t vlen) {
    uint64_t kh = XXH3_64bits(key, klen);
    return XXH3_64bits_withSeed(val, vlen, kh ^ (uint64_t)klen);
}

int bs_merkle_leaf_of(const bs_merkle *m, int64_t token, size_t *leaf) {
    u128 w = width(m);
    uint64_t o = (uint64_t)token - (uint64_t)m->start;
    u128 off = o ? (u128)o : ((u128)1 << 64);
    if (off > w) return BS_ERANGE;
    *leaf = (size_t)(((off - 1) << m->depth) / w);
    return 0;
}

int bs_merkle_add(bs_merkle *m, int64_t token, const void *key, size_t klen,
                  const void *val, size_t vlen) {
    size_t leaf;
    if (bs_merkle_leaf_of(m, token, &leaf)) return BS_ERANGE;
    uint8_t d[8];
    bs_put_u64(d, bs_merkle_record_digest(key, klen, val, vlen));
    uint64_t *h = &m->h[((size_t)1 << m->depth) + leaf];
    /* chain: a leaf's first record hashes with seed 0 */
    *h = XXH3_64bits_withSeed(d, sizeof d, *h) | 1; /* never 0 once non-empty */
    m->rows++;
    m->bytes += klen + vlen;
    m->finished = 0;
    return 0;
}

void bs_merkle_finish(bs_merkle *m) {
    if (m->finished) return;
    for (size_t k = ((size_t)1 << m->depth) - 1; k >= 1; k--)
        m->h[k] = combine(m->h[2 * k], m->h[2 * k + 1]);
    m->finished = 1;
#ifndef NDEBUG
    for (size_t k = 1; k < ((size_t)1 << m->depth); k++)
        assert(m->h[k] == combine(m->h[2 * k], m->h[2 * k + 1]));
#endif
}

typedef struct build_ctx {
    bs_merkle *m;
    int err;
} build_ctx;

static int build_cb(void *ud, const uint8_t *key, size_t klen,
                    const uint8_t *val, size_t vlen) {
    build_ctx *c = ud;
    int64_t tok;
    int rc = bs_store_key_token(key, klen, &tok);
    if (rc) return rc;
    return bs_merkle_add(c->m, tok, key, klen, val, vlen);
}

int bs_merkle_build(bs_table *t, int64_t start_excl, int64_t end_incl,
                    unsigned depth, bs_merkle **out) {
    if (!t || !out) return BS_EINVAL;
    bs_merkle *m;
    int rc = bs_merkle_new(start_excl, end_incl, depth, &m);
    if (rc) return rc;
    build_ctx c = {m, 0};
    rc = bs_store_iterate_range(t, start_excl, end_incl, build_cb, &c);
    if (rc < 0) {
        bs_merkle_free(m);
        return rc;
    }
    bs_merkle_finish(m);
    *out = m;
    return 0;
}

unsigned bs_merkle_depth_for(uint64_t rows) {
    unsigned d = 0;
    while (d < BS_MERKLE_MAX_DEPTH && ((uint64_t)1 << d) < rows)
        d++;
    return d;
}

unsigned bs_merkle_depth(const bs_merkle *m) {
    return m->depth;
}
size_t bs_merkle_leaf_count(const bs_merkle *m) {
    return (size_t)1 << m->depth;
}
void bs_merkle_get_range(const bs_merkle *m, bs_merkle_range *out) {
    out->start = m->start;
    out->end = m->end;
}
uint64_t bs_merkle_root(const bs_merkle *m) {
    return m->h[1];
}
uint64_t bs_merkle_leaf_hash(const bs_merkle *m, size_t i) {
    return i < bs_merkle_leaf_count(m) ? m->h[bs_merkle_leaf_count(m) + i] : 0;
}
uint64_t bs_merkle_rows(const bs_merkle *m) {
    return m->rows;
}
uint64_t bs_merkle_bytes(const bs_merkle *m) {
    return m->bytes;
}

/* b_i = ceil(i * W / n) as a token (start + b_i mod 2^64). */
static int64_t boundary(const bs_merkle *m, size_t i) {
    u128 w = width(m);
    u128 b = ((u128)i * w + (((u128)1 << m->depth) - 1)) >> m->depth;
    return (int64_t)((uint64_t)m->start + (uint64_t)b);
}

int bs_merkle_leaf_range(const bs_merkle *m, size_t i, bs_merkle_range *out) {
    if (i >= bs_merkle_leaf_count(m)) return BS_ERANGE;
    out->start = boundary(m, i);
    out->end = boundary(m, i + 1);
    if (i + 1 == bs_merkle_leaf_count(m))
        out->end = m->end; /* exact, even for W = 2^64 */
    if (i == 0) out->start = m->start;
    return 0;
}

static int push(size_t **v, size_t *n, size_t *cap, size_t x) {
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 16;
        size_t *p = realloc(*v, nc * sizeof *p);
        if (!p) return BS_ENOMEM;
        *v = p;
        *cap = nc;
    }
    (*v)[(*n)++] = x;
    return 0;
}

static int diff_rec(const bs_merkle *a, const bs_merkle *b, size_t k,
                    size_t **v, size_t *n, size_t *cap) {
    if (a->h[k] == b->h[k]) return 0;
    size_t nl = (size_t)1 << a->depth;
    if (k >= nl) return push(v, n, cap, k - nl);
    int rc = diff_rec(a, b, 2 * k, v, n, cap);
    return rc ? rc : diff_rec(a, b, 2 * k + 1, v, n, cap);
}

int bs_merkle_diff(const bs_merkle *a, const bs_merkle *b, size_t **leaves,
                   size_t *n) {
    *leaves = NULL;
    *n = 0;
    if (a->depth != b->depth || a->start != b->start || a->end != b->end ||
        !a->finished || !b->finished)
        return BS_EINVAL;
    size_t cap = 0;
    int rc = diff_rec(a, b, 1, leaves, n, &cap);
    if (rc) {
        free(*leaves);
        *leaves = NULL;
        *n = 0;
    }
    return rc;
}

int bs_merkle_leaves_to_ranges(const bs_merkle *m, const size_t *leaves,
                               size_t nleaves, bs_merkle_range **out,
                               size_t *n) {
    *out = NULL;
    *n = 0;
    if (!nleaves) return 0;
    bs_merkle_range *r = malloc(nleaves * sizeof *r);
    if (!r) return BS_ENOMEM;
    size_t k = 0;
    for (size_t i = 0; i < nleaves; i++) {
        bs_merkle_range lr;
        if (bs_merkle_leaf_range(m, leaves[i], &lr)) {
            free(r);
            return BS_ERANGE;
        }
        if (k && i && leaves[i] == leaves[i - 1] + 1)
            r[k - 1].end = lr.end;
        else
            r[k++] = lr;
    }
    *out = r;
    *n = k;
    return 0;
}

#define HDR 34

int bs_merkle_encode(const bs_merkle *m, bs_buf *out) {
    size_t nl = bs_merkle_leaf_count(m);
    uint8_t *p = bs_buf_extend(out, HDR + 8 * nl);
    if (!p) return BS_ENOMEM;
    p[0] = 1;
    p[1] = (uint8_t)m->depth;
    bs_put_u64(p + 2, (uint64_t)m->start);
    bs_put_u64(p + 10, (uint64_t)m->end);
    bs_put_u64(p + 18, m->rows);
    bs_put_u64(p + 26, m->bytes);
    for (size_t i = 0; i < nl; i++)
        bs_put_u64(p + HDR + 8 * i, m->h[nl + i]);
    return 0;
}

int bs_merkle_decode(const void *data, size_t len, bs_merkle **out) {
    const uint8_t *p = data;
    if (len < HDR) return BS_ECORRUPT;
    if (p[0] != 1 || p[1] > BS_MERKLE_MAX_DEPTH) return BS_ECORRUPT;
    unsigned d = p[1];
    size_t nl = (size_t)1 << d;
    if (len != HDR + 8 * nl) return BS_ECORRUPT;
    bs_merkle *m;
    int rc = bs_merkle_new((int64_t)bs_get_u64(p + 2),
                           (int64_t)bs_get_u64(p + 10), d, &m);
    if (rc) return rc;
    m->rows = bs_get_u64(p + 18);
    m->bytes = bs_get_u64(p + 26);
    for (size_t i = 0; i < nl; i++)
        m->h[nl + i] = bs_get_u64(p + HDR + 8 * i);
    m->finished = 0;
    bs_merkle_finish(m);
    *out = m;
    return 0;
}
