/*
 * murmur3.c - Murmur3Partitioner tokens (Cassandra-compatible) and the
 * CompositeType serialization of partition keys.
 *
 * Algorithm: MurmurHash3_x64_128 (Austin Appleby), as Cassandra's Java
 * port computes it.
 *   body  : 16-byte blocks, each two little-endian 64-bit words k1, k2
 *           (bytes taken unsigned, so the body equals reference Murmur3);
 *   tail  : the last len % 16 bytes; byte i of the tail (0-based) is
 *           XORed into k1 (i < 8) or k2 (i >= 8) shifted left by
 *           8 * (i % 8), BUT as a sign-extended value: Java's
 *           `(long) key.get(i)` turns 0x80..0xff into 0xffff...ff80..ff.
 *           A high tail byte therefore sets every bit above its own
 *           position.  We reproduce that with (uint64_t)(int64_t)(int8_t).
 *   final : h ^= len, mix, fmix64 both halves, add.
 * All arithmetic is mod 2^64 on uint64_t (Java's long wraps the same way;
 * >>> is a logical shift, which is what >> on uint64_t does).
 * The token is h1 reinterpreted as int64_t; INT64_MIN is reserved for the
 * ring's minimum token, so Cassandra's normalize() maps it to INT64_MAX.
 *
 * Composite key layout (CompositeType, n >= 2 components):
 *   OFFSET  SIZE  DESCRIPTION
 *   0       2     component length L, big-endian u16
 *   2       L     component bytes
 *   2+L     1     end-of-component byte, 0x00
 *   ...           next component
 * A single-component key is its raw bytes (no framing).
 */
#include "ring/murmur3.h"

#include <string.h>

#include "common/error.h"

#define C1 0x87c37b91114253d5ULL
#define C2 0x4cf5ad432745937fULL

static inline uint64_t rotl64(uint64_t v, int n) {
    return (v << n) | (v >> (64 - n));
}

static inline uint64_t fmix64(uint64_t k) {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ULL;
    k ^= k >> 33;
    return k;
}

static inline uint64_t load_le64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

/* Java's (long) of a byte: sign-extended. */
static inline uint64_t jbyte(uint8_t b) {
    return (uint64_t)(int64_t)(int8_t)b;
}

void bs_ring_murmur3_x64_128(const void *key, size_t len, uint64_t seed,
                             uint64_t out[2]) {
    const uint8_t *p = (const uint8_t *)key;
    size_t nblocks = len / 16;
    uint64_t h1 = seed, h2 = seed;

    for (size_t i = 0; i < nblocks; i++) {
        uint64_t k1 = load_le64(p + i * 16);
        uint64_t k2 = load_le64(p + i * 16 + 8);
        k1 *= C1;
        k1 = rotl64(k1, 31);
        k1 *= C2;
        h1 ^= k1;
        h1 = rotl64(h1, 27);
        h1 += h2;
        h1 = h1 * 5 + 0x52dce729;
        k2 *= C2;
        k2 = rotl64(k2, 33);
        k2 *= C1;
        h2 ^= k2;
        h2 = rotl64(h2, 31);
        h2 += h1;
        h2 = h2 * 5 + 0x38495ab5;
    }

    const uint8_t *tail = p + nblocks * 16;
    size_t rem = len & 15;
    uint64_t k1 = 0, k2 = 0;
    /* XOR order does not matter; go from the highest byte down. */
    for (size_t i = rem; i > 8; i--) k2 ^= jbyte(tail[i - 1]) << (8 * (i - 9));
    if (rem > 8) {
        k2 *= C2;
        k2 = rotl64(k2, 33);
        k2 *= C1;
        h2 ^= k2;
    }
    for (size_t i = rem < 8 ? rem : 8; i > 0; i--)
        k1 ^= jbyte(tail[i - 1]) << (8 * (i - 1));
    if (rem > 0) {
        k1 *= C1;
        k1 = rotl64(k1, 31);
        k1 *= C2;
        h1 ^= k1;
    }

    h1 ^= (uint64_t)len;
    h2 ^= (uint64_t)len;
    h1 += h2;
    h2 += h1;
    h1 = fmix64(h1);
    h2 = fmix64(h2);
    h1 += h2;
    h2 += h1;
    out[0] = h1;
    out[1] = h2;
}

int64_t bs_ring_token(const void *key, size_t len) {
    uint64_t h[2];
    bs_ring_murmur3_x64_128(key, len, 0, h);
    int64_t t = (int64_t)h[0];
    return t == INT64_MIN ? INT64_MAX : t;
}

int64_t bs_ring_partition_token(const void *key, size_t len) {
    if (len == 0) return BS_RING_MIN_TOKEN;
    return bs_ring_token(key, len);
}

int bs_ring_compose_key(const bs_ring_keypart *parts, size_t n, bs_buf *out) {
    if (n == 0 || !parts || !out) return BS_EINVAL;
    if (n == 1)
        return parts[0].len ? bs_buf_append(out, parts[0].data, parts[0].len)
                            : 0;
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (parts[i].len > UINT16_MAX) return BS_ETOOBIG;
        total += 3 + parts[i].len;
    }
    uint8_t *dst = bs_buf_extend(out, total);
    if (!dst) return BS_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        bs_put_u16(dst, (uint16_t)parts[i].len);
        if (parts[i].len) memcpy(dst + 2, parts[i].data, parts[i].len);
        dst[2 + parts[i].len] = 0;
        dst += 3 + parts[i].len;
    }
    return 0;
}

int bs_ring_decompose_key(const uint8_t *key, size_t len, size_t n,
                          bs_ring_keypart *parts) {
    if (n < 2 || !parts || (!key && len)) return BS_EINVAL;
    size_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        if (len - pos < 2) return BS_ETRUNC;
        size_t l = bs_get_u16(key + pos);
        pos += 2;
        if (len - pos < l + 1) return BS_ETRUNC;
        parts[i].data = key + pos;
        parts[i].len = l;
        pos += l;
        if (key[pos] != 0) return BS_ECORRUPT;
        pos++;
    }
    return pos == len ? 0 : BS_ECORRUPT;
}
