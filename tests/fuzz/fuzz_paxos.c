/*
 * fuzz_paxos.c - the PAXOS verb decoders (node/coord/paxos_wire.h) on
 * arbitrary bytes; the first byte picks request or response.  Whatever
 * decodes must encode back to the very same bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "node/coord/paxos_wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    bs_buf b = BS_BUF_INIT;
    if (data[0] & 1) {
        bs_paxos_req r;
        if (bs_paxos_req_decode(p, n, &r) == 0) {
            if (bs_paxos_req_encode(&r, &b) || b.len != n || memcmp(b.data, p, n)) abort();
        }
    } else {
        bs_paxos_resp r;
        if (bs_paxos_resp_decode(p, n, &r) == 0) {
            if (bs_paxos_resp_encode(&r, &b) || b.len != n || memcmp(b.data, p, n)) abort();
            (void)bs_paxos_ballot_cmp(&r.promised, &r.accepted);
            (void)bs_paxos_ballot_us(&r.commit);
        }
    }
    bs_buf_free(&b);
    return 0;
}
