/*
 * test_murmur3.c - Murmur3Partitioner tokens and key composition.
 *
 * Known tokens come from Apache Cassandra (issue 3).  Random keys are
 * cross-checked against an independent transcription of Cassandra's
 * MurmurHash.hash3_x64_128 written below in the Java style: explicit
 * "Java long" helpers, a getblock() with & 0xff, a fall-through switch
 * over the tail with signed-byte casts.  The same transcription with
 * the tail bytes taken unsigned is the reference C MurmurHash3, used to
 * show that the quirk matters (and only when a tail byte is >= 0x80).
 * A key hashing to INT64_MIN is constructed by inverting the hash.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/error.h"
#include "ring/alloc.h"
#include "ring/murmur3.h"

/* ---- independent transcription of the Java code ----------------------- */

typedef uint64_t jlong; /* two's complement, wraps like Java's long */

static jlong j_rotl64(jlong v, int n) { return (v << n) | (v >> (64 - n)); }

static jlong j_fmix(jlong k) {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ULL;
    k ^= k >> 33;
    return k;
}

/* key.get(i) as Java sees it: a signed byte widened to long (or, with
 * java_bytes == 0, the unsigned byte of reference C MurmurHash3) */
static jlong j_get(const uint8_t *key, int i, int java_bytes) {
    if (java_bytes) return (jlong)(int64_t)(signed char)key[i];
    return (jlong)key[i];
}

static jlong j_getblock(const uint8_t *key, int offset, int index) {
    int i_8 = index << 3;
    int o = offset + i_8;
    jlong r = 0;
    for (int b = 0; b < 8; b++) r += ((jlong)key[o + b] & 0xff) << (8 * b);
    return r;
}

static void j_hash3_x64_128(const uint8_t *key, int offset, int length,
                            jlong seed, jlong result[2], int java_bytes) {
    const int nblocks = length >> 4;
    jlong h1 = seed, h2 = seed;
    const jlong c1 = 0x87c37b91114253d5ULL, c2 = 0x4cf5ad432745937fULL;
    for (int i = 0; i < nblocks; i++) {
        jlong k1 = j_getblock(key, offset, i * 2 + 0);
        jlong k2 = j_getblock(key, offset, i * 2 + 1);
        k1 *= c1; k1 = j_rotl64(k1, 31); k1 *= c2; h1 ^= k1;
        h1 = j_rotl64(h1, 27); h1 += h2; h1 = h1 * 5 + 0x52dce729;
        k2 *= c2; k2 = j_rotl64(k2, 33); k2 *= c1; h2 ^= k2;
        h2 = j_rotl64(h2, 31); h2 += h1; h2 = h2 * 5 + 0x38495ab5;
    }
    offset += nblocks * 16;
    jlong k1 = 0, k2 = 0;
    switch (length & 15) {
    case 15: k2 ^= j_get(key, offset + 14, java_bytes) << 48; /* fall through */
    case 14: k2 ^= j_get(key, offset + 13, java_bytes) << 40; /* fall through */
    case 13: k2 ^= j_get(key, offset + 12, java_bytes) << 32; /* fall through */
    case 12: k2 ^= j_get(key, offset + 11, java_bytes) << 24; /* fall through */
    case 11: k2 ^= j_get(key, offset + 10, java_bytes) << 16; /* fall through */
    case 10: k2 ^= j_get(key, offset + 9, java_bytes) << 8;   /* fall through */
    case 9:
        k2 ^= j_get(key, offset + 8, java_bytes);
        k2 *= c2; k2 = j_rotl64(k2, 33); k2 *= c1; h2 ^= k2;
        /* fall through */
    case 8: k1 ^= j_get(key, offset + 7, java_bytes) << 56; /* fall through */
    case 7: k1 ^= j_get(key, offset + 6, java_bytes) << 48; /* fall through */
    case 6: k1 ^= j_get(key, offset + 5, java_bytes) << 40; /* fall through */
    case 5: k1 ^= j_get(key, offset + 4, java_bytes) << 32; /* fall through */
    case 4: k1 ^= j_get(key, offset + 3, java_bytes) << 24; /* fall through */
    case 3: k1 ^= j_get(key, offset + 2, java_bytes) << 16; /* fall through */
    case 2: k1 ^= j_get(key, offset + 1, java_bytes) << 8;  /* fall through */
    case 1:
        k1 ^= j_get(key, offset, java_bytes);
        k1 *= c1; k1 = j_rotl64(k1, 31); k1 *= c2; h1 ^= k1;
    }
    h1 ^= (jlong)length; h2 ^= (jlong)length;
    h1 += h2; h2 += h1;
    h1 = j_fmix(h1); h2 = j_fmix(h2);
    h1 += h2; h2 += h1;
    result[0] = h1;
    result[1] = h2;
}

/* Murmur3Partitioner.getToken, transcribed */
static int64_t j_token(const uint8_t *key, int len) {
    jlong r[2];
    j_hash3_x64_128(key, 0, len, 0, r, 1);
    int64_t t = (int64_t)r[0];
    return t == INT64_MIN ? INT64_MAX : t;
}

/* ---- known values ----------------------------------------------------- */

START_TEST(known_tokens) {
    uint8_t fe[8], x10[8];
    memset(fe, 0xfe, 8);
    memset(x10, 0x10, 8);
    ck_assert_int_eq(bs_ring_token("123", 3), -7468325962851647638LL);
    ck_assert_int_eq(bs_ring_token(fe, 8), -8927430733708461935LL);
    ck_assert_int_eq(bs_ring_token(x10, 8), 1446172840243228796LL);
    ck_assert_int_eq(bs_ring_token("key", 3), -6847573755651342660LL);
    ck_assert_int_eq(bs_ring_token(NULL, 0), 0);
    ck_assert_int_eq(bs_ring_token("", 0), 0);
    /* partition keys: the empty key has the minimum token */
    ck_assert_int_eq(bs_ring_partition_token("", 0), INT64_MIN);
    ck_assert_int_eq(bs_ring_partition_token("123", 3),
                     -7468325962851647638LL);
    /* the transcription agrees on the known values too */
    ck_assert_int_eq(j_token((const uint8_t *)"123", 3),
                     -7468325962851647638LL);
    ck_assert_int_eq(j_token(fe, 8), -8927430733708461935LL);
}
END_TEST

START_TEST(random_keys_match_transcription) {
    uint64_t rng = 0x5eed0003;
    uint8_t key[64];
    int quirk_seen = 0, low_tail = 0;
    for (int i = 0; i < 10000; i++) {
        int len = (int)(bs_ring_rng_next(&rng) % 65); /* 0..64 */
        int low = i & 1; /* half the keys only use bytes < 0x80 */
        for (int j = 0; j < len; j++) {
            uint8_t b = (uint8_t)bs_ring_rng_next(&rng);
            key[j] = low ? (uint8_t)(b & 0x7f) : b;
        }
        uint64_t mine[2];
        jlong ref[2];
        bs_ring_murmur3_x64_128(key, (size_t)len, 0, mine);
        j_hash3_x64_128(key, 0, len, 0, ref, 1);
        ck_assert_uint_eq(mine[0], ref[0]);
        ck_assert_uint_eq(mine[1], ref[1]);
        ck_assert_int_eq(bs_ring_token(key, (size_t)len), j_token(key, len));

        /* reference C Murmur3 (unsigned tail) differs iff a tail byte
         * >= 0x80 has bits above it in its 64-bit word to sign-extend
         * into: any tail position but the 8th (k1's top byte) */
        jlong c[2];
        j_hash3_x64_128(key, 0, len, 0, c, 0);
        int high_tail = 0;
        for (int j = len - (len & 15); j < len; j++)
            high_tail |= key[j] >= 0x80 && j % 16 != 7;
        if (high_tail) {
            ck_assert(c[0] != ref[0] || c[1] != ref[1]);
            quirk_seen++;
        } else {
            ck_assert_uint_eq(c[0], ref[0]);
            low_tail++;
        }
    }
    ck_assert_int_gt(quirk_seen, 1000);
    ck_assert_int_gt(low_tail, 5000);
}
END_TEST

START_TEST(seed_is_used) {
    uint64_t a[2], b[2];
    bs_ring_murmur3_x64_128("abc", 3, 0, a);
    bs_ring_murmur3_x64_128("abc", 3, 42, b);
    ck_assert(a[0] != b[0]);
    jlong r[2];
    j_hash3_x64_128((const uint8_t *)"abc", 0, 3, 42, r, 1);
    ck_assert_uint_eq(b[0], r[0]);
    ck_assert_uint_eq(b[1], r[1]);
}
END_TEST

/* ---- INT64_MIN -> INT64_MAX via an inverted hash ----------------------- */

static uint64_t mul_inverse(uint64_t a) { /* a odd; Newton iteration */
    uint64_t x = a;
    for (int i = 0; i < 6; i++) x *= 2 - a * x;
    return x;
}
static uint64_t rotr64(uint64_t v, int n) { return (v >> n) | (v << (64 - n)); }
static uint64_t inv_fmix(uint64_t k) { /* x ^= x >> 33 is an involution */
    k ^= k >> 33;
    k *= mul_inverse(0xc4ceb9fe1a85ec53ULL);
    k ^= k >> 33;
    k *= mul_inverse(0xff51afd7ed558ccdULL);
    k ^= k >> 33;
    return k;
}

/* A 16-byte key whose hash is (H1, H2). */
static void invert16(uint64_t H1, uint64_t H2, uint8_t key[16]) {
    const uint64_t c1 = 0x87c37b91114253d5ULL, c2 = 0x4cf5ad432745937fULL;
    const uint64_t inv5 = mul_inverse(5);
    uint64_t h2 = H2 - H1, h1 = H1 - h2;
    h1 = inv_fmix(h1);
    h2 = inv_fmix(h2);
    h2 -= h1;
    h1 -= h2;
    h1 ^= 16;
    h2 ^= 16;
    h2 = (h2 - 0x38495ab5) * inv5;
    h2 -= h1;
    uint64_t k2 = rotr64(h2, 31);
    k2 *= mul_inverse(c1);
    k2 = rotr64(k2, 33);
    k2 *= mul_inverse(c2);
    h1 = (h1 - 0x52dce729) * inv5;
    uint64_t k1 = rotr64(h1, 27);
    k1 *= mul_inverse(c2);
    k1 = rotr64(k1, 31);
    k1 *= mul_inverse(c1);
    for (int i = 0; i < 8; i++) {
        key[i] = (uint8_t)(k1 >> (8 * i));
        key[8 + i] = (uint8_t)(k2 >> (8 * i));
    }
}

START_TEST(min_token_maps_to_max) {
    uint8_t key[16];
    invert16(0x8000000000000000ULL, 0x1234567890abcdefULL, key);
    uint64_t h[2];
    bs_ring_murmur3_x64_128(key, 16, 0, h);
    ck_assert_uint_eq(h[0], 0x8000000000000000ULL); /* inversion worked */
    ck_assert_uint_eq(h[1], 0x1234567890abcdefULL);
    ck_assert_int_eq(bs_ring_token(key, 16), INT64_MAX);
    ck_assert_int_eq(bs_ring_partition_token(key, 16), INT64_MAX);
    ck_assert_int_eq(j_token(key, 16), INT64_MAX);
    /* a neighbour is not remapped */
    invert16(0x8000000000000001ULL, 7, key);
    ck_assert_int_eq(bs_ring_token(key, 16), INT64_MIN + 1);
}
END_TEST

/* ---- composite keys ---------------------------------------------------- */

START_TEST(compose_matches_cassandra_layout) {
    const uint8_t c2[] = {0x00, 0x00, 0x00, 0x2a}; /* int 42 */
    bs_ring_keypart parts[3] = {
        {(const uint8_t *)"ab", 2}, {c2, 4}, {NULL, 0}};
    bs_buf b = BS_BUF_INIT;
    ck_assert_int_eq(bs_ring_compose_key(parts, 3, &b), 0);
    const uint8_t want[] = {0x00, 0x02, 'a',  'b',  0x00,           /* "ab" */
                            0x00, 0x04, 0x00, 0x00, 0x00, 0x2a, 0x00, /* 42 */
                            0x00, 0x00, 0x00};                      /* "" */
    ck_assert_uint_eq(b.len, sizeof want);
    ck_assert_int_eq(memcmp(b.data, want, sizeof want), 0);

    bs_ring_keypart back[3];
    ck_assert_int_eq(bs_ring_decompose_key(b.data, b.len, 3, back), 0);
    ck_assert_uint_eq(back[0].len, 2);
    ck_assert_int_eq(memcmp(back[0].data, "ab", 2), 0);
    ck_assert_uint_eq(back[1].len, 4);
    ck_assert_int_eq(memcmp(back[1].data, c2, 4), 0);
    ck_assert_uint_eq(back[2].len, 0);

    /* token of a composite key = token of its serialized bytes */
    ck_assert_int_eq(bs_ring_partition_token(b.data, b.len),
                     j_token(want, (int)sizeof want));

    /* a single component is not framed */
    bs_buf_reset(&b);
    ck_assert_int_eq(bs_ring_compose_key(parts, 1, &b), 0);
    ck_assert_uint_eq(b.len, 2);
    ck_assert_int_eq(memcmp(b.data, "ab", 2), 0);
    ck_assert_int_eq(bs_ring_compose_key(parts, 0, &b), BS_EINVAL);
    bs_buf_free(&b);
}
END_TEST

START_TEST(compose_rejects_oversized_component) {
    uint8_t *big = calloc(70000, 1);
    bs_ring_keypart parts[2] = {{big, 65535}, {big, 65536}};
    bs_buf b = BS_BUF_INIT;
    ck_assert_int_eq(bs_ring_compose_key(parts, 2, &b), BS_ETOOBIG);
    ck_assert_uint_eq(b.len, 0);
    ck_assert_int_eq(bs_ring_compose_key(parts, 1, &b), 0); /* unframed */
    parts[1].len = 65535;
    ck_assert_int_eq(bs_ring_compose_key(parts, 2, &b), 0);
    ck_assert_uint_eq(b.len, 65535 + 2 * 65538);
    free(big);
    bs_buf_free(&b);
}
END_TEST

START_TEST(decompose_rejects_bad_bytes) {
    bs_ring_keypart p[2];
    const uint8_t ok[] = {0, 1, 'x', 0, 0, 1, 'y', 0};
    ck_assert_int_eq(bs_ring_decompose_key(ok, sizeof ok, 2, p), 0);
    /* every truncation fails cleanly */
    for (size_t l = 0; l < sizeof ok; l++)
        ck_assert_int_eq(bs_ring_decompose_key(ok, l, 2, p), BS_ETRUNC);
    const uint8_t bad_eoc[] = {0, 1, 'x', 1, 0, 1, 'y', 0};
    ck_assert_int_eq(bs_ring_decompose_key(bad_eoc, sizeof bad_eoc, 2, p),
                     BS_ECORRUPT);
    const uint8_t extra[] = {0, 1, 'x', 0, 0, 1, 'y', 0, 9};
    ck_assert_int_eq(bs_ring_decompose_key(extra, sizeof extra, 2, p),
                     BS_ECORRUPT);
    const uint8_t huge_len[] = {0xff, 0xff, 'x', 0};
    ck_assert_int_eq(bs_ring_decompose_key(huge_len, sizeof huge_len, 2, p),
                     BS_ETRUNC);
    ck_assert_int_eq(bs_ring_decompose_key(ok, sizeof ok, 1, p), BS_EINVAL);
    /* random garbage never reads out of bounds (ASan run) */
    uint64_t rng = 99;
    uint8_t g[32];
    for (int i = 0; i < 20000; i++) {
        size_t l = bs_ring_rng_next(&rng) % sizeof g;
        for (size_t j = 0; j < l; j++) g[j] = (uint8_t)(bs_ring_rng_next(&rng) & 7);
        uint8_t *h = malloc(l ? l : 1);
        memcpy(h, g, l);
        bs_ring_keypart q[3];
        int rc = bs_ring_decompose_key(h, l, 3, q);
        ck_assert(rc == 0 || rc == BS_ETRUNC || rc == BS_ECORRUPT);
        free(h);
    }
}
END_TEST

int main(void) {
    Suite *s = suite_create("ring_murmur3");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, known_tokens);
    tcase_add_test(tc, random_keys_match_transcription);
    tcase_add_test(tc, seed_is_used);
    tcase_add_test(tc, min_token_maps_to_max);
    tcase_add_test(tc, compose_matches_cassandra_layout);
    tcase_add_test(tc, compose_rejects_oversized_component);
    tcase_add_test(tc, decompose_rejects_bad_bytes);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
