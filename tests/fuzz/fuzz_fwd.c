/*
 * fuzz_fwd.c - the write-forwarding decoders (node/coord/fwd.h) on
 * arbitrary bytes: the MUTATION_FWD envelope (first byte even) or the
 * MUTATION_ACK (odd).  What decodes must re-encode to the same bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "node/coord/fwd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    if (data[0] % 2 == 0) {
        static bs_fwd_env e, d;
        char err[128];
        if (bs_fwd_decode(p, n, &e, err, sizeof err) == 0) {
            if (e.n > BS_FWD_MAX) abort();
            if (e.write_len && (e.write < p || e.write + e.write_len != p + n)) abort();
            bs_buf b = BS_BUF_INIT;
            if (bs_fwd_encode(&e, &b)) abort();
            if (bs_fwd_decode(b.data, b.len, &d, err, sizeof err) || d.n != e.n || d.id != e.id ||
                d.write_len != e.write_len)
                abort();
            bs_buf_free(&b);
        }
    } else {
        uint64_t id;
        bs_uuid h;
        int32_t st;
        if (bs_fwd_ack_decode(p, n, &id, &h, &st) == 0) {
            uint8_t out[BS_FWD_ACK_LEN];
            bs_fwd_ack_encode(id, &h, st, out);
            if (memcmp(out, p, BS_FWD_ACK_LEN)) abort();
        }
    }
    return 0;
}
