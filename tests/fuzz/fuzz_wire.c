/*
 * fuzz_wire.c - the internode read/write payload decoders on arbitrary
 * bytes; whatever decodes must re-encode and decode to the same digest
 * (results) or the same count (mutations).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "node/coord/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    bs_arena a;
    bs_arena_init(&a, 0);
    char err[128];
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    bs_buf b = BS_BUF_INIT;
    switch (data[0] % 3) {
    case 0: {
        bs_mutation *m;
        size_t nm;
        if (bs_wire_mutations_decode(p, n, &a, &m, &nm, err, sizeof err) == 0) {
            if (bs_wire_mutations_encode(m, nm, &b)) abort();
            bs_mutation *m2;
            size_t nm2;
            if (bs_wire_mutations_decode(b.data, b.len, &a, &m2, &nm2, err,
                                         sizeof err) ||
                nm2 != nm)
                abort();
        }
        break;
    }
    case 1: {
        bs_wire_read r;
        if (bs_wire_read_decode(p, n, &a, &r, err, sizeof err) == 0) {
            if (bs_wire_read_encode(&r, &b)) abort();
            bs_wire_read r2;
            if (bs_wire_read_decode(b.data, b.len, &a, &r2, err, sizeof err))
                abort();
        }
        break;
    }
    default: {
        uint8_t dg[16], dg2[16];
        bs_partv *part;
        if (bs_wire_result_decode(p, n, &a, dg, &part, err, sizeof err) == 0 &&
            part) {
            bs_wire_digest(part, dg);
            if (bs_wire_result_encode(part, 0, &b)) abort();
            bs_partv *p2;
            if (bs_wire_result_decode(b.data, b.len, &a, dg2, &p2, err,
                                      sizeof err))
                abort();
            if (memcmp(dg, dg2, 16)) abort();
        }
        break;
    }
    }
    bs_buf_free(&b);
    bs_arena_free(&a);
    return 0;
}
