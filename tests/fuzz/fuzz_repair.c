/*
 * fuzz_repair.c - the repair parsers on arbitrary bytes: Merkle tree
 * decoding (a decoded tree re-encodes to the same bytes), record digest
 * lists, stream chunks, and the REPAIR_* request payloads (verbs 15-20).
 * The first byte selects the parser.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "repair/session.h"
#include "repair/merkle.h"
#include "repair/stream.h"

static int count_cb(void *ud, const uint8_t *k, size_t kl, const uint8_t *v,
                    size_t vl) {
    (void)k;
    (void)v;
    *(size_t *)ud += kl + vl;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    switch (data[0] % 8) {
    case 0: {
        bs_merkle *m;
        if (bs_merkle_decode(p, n, &m) == 0) {
            bs_buf b = BS_BUF_INIT;
            if (bs_merkle_encode(m, &b) || b.len != n || memcmp(b.data, p, n))
                abort();
            bs_buf_free(&b);
            bs_merkle_free(m);
        }
        break;
    }
    case 1: {
        bs_stream_digest *d;
        size_t nd;
        if (bs_stream_digests_parse(p, n, &d, &nd) == 0) {
            if (nd * BS_STREAM_DIGEST_LEN != n) abort();
            bs_stream_digests_sort(d, nd);
            if (nd &&
                !bs_stream_digest_find(d, nd, d[0].key_hash, d[0].rec_hash))
                abort();
            free(d);
        }
        break;
    }
    case 2: {
        size_t total = 0;
        if (bs_stream_chunk_walk(p, n, count_cb, &total) == 0 && total > n)
            abort();
        break;
    }
    default:
        bs_repair_request_check(
            (uint8_t)(BS_VERB_REPAIR_TREE + data[0] % 9 - 3), p, n);
        break;
    }
    return 0;
}
