/*
 * fuzz_coord_wire.c - the coordinator's internode payload decoders
 * (node/coord/wire.h: write, raw records, scan request, scan result,
 * partial visit request) on
 * arbitrary bytes; the first byte picks the decoder.  Whatever decodes
 * must re-encode and decode again to the same shape (counts, digests).
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
    switch (data[0] % 5) {
    case 0: {
        int64_t now, now2;
        bs_mutation *m, *m2;
        size_t nm, nm2;
        if (bs_wire_write_decode(p, n, &a, &now, &m, &nm, err, sizeof err) == 0) {
            if (bs_wire_write_encode(now, m, nm, &b)) abort();
            if (bs_wire_write_decode(b.data, b.len, &a, &now2, &m2, &nm2, err, sizeof err) ||
                nm2 != nm || now2 != now)
                abort();
        }
        break;
    }
    case 1: {
        const char *cf, *cf2;
        bs_wire_rec *r, *r2;
        size_t nr, nr2;
        if (bs_wire_raw_decode(p, n, &a, &cf, &r, &nr, err, sizeof err) == 0) {
            if (bs_wire_raw_encode(cf, r, nr, &b)) abort();
            if (bs_wire_raw_decode(b.data, b.len, &a, &cf2, &r2, &nr2, err, sizeof err) || nr2 != nr ||
                strcmp(cf, cf2))
                abort();
            for (size_t i = 0; i < nr; i++)
                if (r[i].klen != r2[i].klen || memcmp(r[i].key, r2[i].key, r[i].klen)) abort();
        }
        break;
    }
    case 2: {
        bs_wire_scan s, s2;
        if (bs_wire_scan_decode(p, n, &a, &s, err, sizeof err) == 0) {
            if (bs_wire_scan_encode(&s, &b)) abort();
            if (bs_wire_scan_decode(b.data, b.len, &a, &s2, err, sizeof err) || s2.start != s.start ||
                s2.end != s.end || s2.has_cursor != s.has_cursor || s2.max_parts != s.max_parts)
                abort();
        }
        break;
    }
    case 4: {
        bs_wire_partial w, w2;
        if (bs_wire_partial_decode(p, n, &a, &w, err, sizeof err) == 0) {
            if (bs_wire_partial_encode(&w, &b)) abort();
            if (bs_wire_partial_decode(b.data, b.len, &a, &w2, err, sizeof err) ||
                w2.nranges != w.nranges || w2.req_len != w.req_len || strcmp(w2.cf, w.cf))
                abort();
            for (size_t i = 0; i < w.nranges; i++)
                if (w.lo[i] >= w.hi[i] || w2.lo[i] != w.lo[i] || w2.hi[i] != w.hi[i]) abort();
        }
        break;
    }
    default: {
        int more, more2;
        bs_partv **ps, **ps2;
        size_t np, np2;
        if (bs_wire_scanres_decode(p, n, &a, &more, &ps, &np, err, sizeof err) == 0) {
            bs_buf *parts = calloc(np + 1, sizeof *parts);
            if (!parts) abort();
            for (size_t i = 0; i < np; i++)
                if (bs_wire_result_encode(ps[i], 0, &parts[i])) abort();
            if (bs_wire_scanres_encode(more, parts, np, &b)) abort();
            if (bs_wire_scanres_decode(b.data, b.len, &a, &more2, &ps2, &np2, err, sizeof err) ||
                np2 != np || more2 != more)
                abort();
            for (size_t i = 0; i < np; i++) {
                uint8_t d1[16], d2[16];
                bs_wire_digest(ps[i], d1);
                bs_wire_digest(ps2[i], d2);
                if (memcmp(d1, d2, 16)) abort();
                bs_buf_free(&parts[i]);
            }
            free(parts);
        }
        break;
    }
    }
    bs_buf_free(&b);
    bs_arena_free(&a);
    return 0;
}
