/*
 * fuzz_keycodec.c - libFuzzer driver for storage/keycodec.c decoding.
 *
 * Input layout:
 *   byte 0    which type list to decode as (mod NLISTS)
 *   byte 1    DESC flags, bit i for component i
 *   rest      an encoded key
 * The key is decoded with bs_keycodec_decode_prefix; the only acceptable
 * results are success or BS_ECORRUPT.  On success the decoded values are
 * re-encoded and must reproduce the consumed bytes exactly (decode accepts
 * only canonical encodings), and decoding each component alone with
 * bs_keycodec_skip must consume the same bytes.  Any violation traps.
 * Seeds in tests/fuzz/keycodec/ are valid encodings of each list.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/buf.h"
#include "common/error.h"
#include "common/types.h"
#include "storage/keycodec.h"

#define NLISTS 4
#define MAXT 12

static bs_type *lists[NLISTS][MAXT];
static size_t nlist[NLISTS];

static bs_type *T(bs_type_kind k) {
    bs_type *t = bs_type_new(k);
    if (!t) abort();
    return t;
}
static bs_type *C(bs_type_kind k, bs_type *a, bs_type *b) {
    bs_type *t = bs_type_new_coll(k, a, b);
    if (!t) abort();
    t->frozen = 1;
    return t;
}
static bs_type *TUP(bs_type_kind k, int n, bs_type **f) {
    bs_type *t = T(k);
    t->frozen = 1;
    for (int i = 0; i < n; i++)
        if (bs_type_add_param(t, f[i], k == BS_TYPE_UDT ? "f" : NULL)) abort();
    return t;
}
static void add(int l, bs_type *t) { lists[l][nlist[l]++] = t; }

static void init_types(void) {
    bs_type *f[4];
    add(0, T(BS_TYPE_INT)); add(0, T(BS_TYPE_VARCHAR)); add(0, T(BS_TYPE_DOUBLE));
    add(0, T(BS_TYPE_VARINT)); add(0, T(BS_TYPE_DECIMAL));
    add(1, T(BS_TYPE_UUID)); add(1, T(BS_TYPE_TIMEUUID)); add(1, T(BS_TYPE_INET));
    add(1, T(BS_TYPE_BOOLEAN)); add(1, T(BS_TYPE_DATE)); add(1, T(BS_TYPE_BIGINT));
    add(1, T(BS_TYPE_FLOAT));
    add(2, C(BS_TYPE_LIST, T(BS_TYPE_INT), NULL));
    add(2, C(BS_TYPE_SET, T(BS_TYPE_VARCHAR), NULL));
    add(2, C(BS_TYPE_MAP, T(BS_TYPE_INT), T(BS_TYPE_VARCHAR)));
    f[0] = T(BS_TYPE_INT); f[1] = T(BS_TYPE_VARCHAR); f[2] = T(BS_TYPE_DOUBLE);
    add(2, TUP(BS_TYPE_TUPLE, 3, f));
    add(3, T(BS_TYPE_DECIMAL));
    f[0] = T(BS_TYPE_INT); f[1] = T(BS_TYPE_VARCHAR);
    add(3, C(BS_TYPE_LIST, TUP(BS_TYPE_TUPLE, 2, f), NULL));
    add(3, C(BS_TYPE_MAP, T(BS_TYPE_VARCHAR), C(BS_TYPE_LIST, T(BS_TYPE_INT), NULL)));
    f[0] = T(BS_TYPE_INT); f[1] = T(BS_TYPE_VARCHAR); f[2] = T(BS_TYPE_BOOLEAN);
    f[3] = T(BS_TYPE_TIMEUUID);
    add(3, TUP(BS_TYPE_UDT, 4, f));
    add(3, T(BS_TYPE_TINYINT)); add(3, T(BS_TYPE_SMALLINT)); add(3, T(BS_TYPE_TIME));
    add(3, T(BS_TYPE_TIMESTAMP)); add(3, T(BS_TYPE_BLOB)); add(3, T(BS_TYPE_ASCII));
    add(3, T(BS_TYPE_COUNTER));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int inited;
    if (!inited) { init_types(); inited = 1; }
    if (size < 2) return 0;
    int l = data[0] % NLISTS;
    uint8_t desc[MAXT];
    for (int i = 0; i < MAXT; i++) desc[i] = (uint8_t)((data[1] >> (i % 8)) & 1);
    data += 2;
    size -= 2;
    /* exact-size copy so that sanitizers see any over-read */
    uint8_t *key = malloc(size ? size : 1);
    if (!key) return 0;
    if (size) memcpy(key, data, size);

    bs_arena a;
    bs_arena_init(&a, 0);
    bs_keycodec_value vals[MAXT];
    size_t nd = 0;
    bs_rbuf r;
    bs_rbuf_init(&r, key, size);
    int rc = bs_keycodec_decode_prefix(lists[l], desc, nlist[l], &r, &a, vals, &nd);
    if (rc != 0 && rc != BS_ECORRUPT) __builtin_trap();
    if (rc == 0) {
        bs_buf out = BS_BUF_INIT;
        if (bs_keycodec_encode_prefix(lists[l], desc, nd, vals, &out)) __builtin_trap();
        if (out.len != r.pos || (out.len && memcmp(out.data, key, out.len))) __builtin_trap();
        bs_buf_free(&out);
        /* skipping component by component consumes the same bytes */
        bs_rbuf s;
        bs_rbuf_init(&s, key, size);
        for (size_t i = 0; i < nd; i++)
            if (bs_keycodec_skip(lists[l][i], desc[i], &s)) __builtin_trap();
        if (s.pos != r.pos) __builtin_trap();
    } else if (r.pos != 0) {
        __builtin_trap();
    }
    bs_arena_free(&a);
    free(key);
    return 0;
}
