/*
 * session_wire.c - the payloads of the REPAIR_* requests (the protocol is
 * described in session.h).
 *
 * Request payloads (all integers big-endian):
 *   OFFSET  SIZE    DESCRIPTION
 *   0       2       L: length of the column family name ("ks.table")
 *   2       L       the name
 *   2+L     4       N: number of token ranges
 *   6+L     16*N    ranges: i64 start (exclusive), i64 end (inclusive)
 *   ...             verb-specific tail:
 *                     TREE     u8 depth (N must be 1)
 *                     DIGESTS  nothing
 *                     SIZE     nothing
 *                     SEND     u16 A, A bytes of target address (an IPv4
 *                              or IPv6 address in text), u16 port, then
 *                              the wanted digest list (stream.h)
 *                     STREAM   optionally "BSS1" and a u64 session id
 *                              (non-zero), then a chunk (stream.h; N is 0)
 *                     SEND_ALL u16 A, A bytes of target address, u16 port
 *                              (every record of the ranges: range
 *                              movement), optionally a u64 session id
 *                              (non-zero) that every STREAM chunk of the
 *                              answer carries
 * Responses: TREE bs_merkle_encode; DIGESTS a digest list; SIZE u64
 * bytes; SEND and SEND_ALL u64 rows, u64 bytes, u64 chunks; STREAM nothing (the status says it).  Every
 * request is validated against its length; a bad one is answered
 * BS_ECORRUPT.  Parsing is pure (no store, no network): fuzzed through
 * bs_repair_request_check (tests/fuzz/fuzz_repair.c).
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "repair/session_int.h"

int bs__repair_req_encode(bs_buf *b, const char *cf, const int64_t *s,
                          const int64_t *e, uint32_t n) {
    size_t l = strlen(cf);
    if (l > 255) return BS_EINVAL;
    if (bs_buf_append_u16(b, (uint16_t)l) || bs_buf_append(b, cf, l) ||
        bs_buf_append_u32(b, n))
        return BS_ENOMEM;
    for (uint32_t i = 0; i < n; i++)
        if (bs_buf_append_u64(b, (uint64_t)s[i]) ||
            bs_buf_append_u64(b, (uint64_t)e[i]))
            return BS_ENOMEM;
    return 0;
}

int bs__repair_req_encode_target(bs_buf *b, const bs_repair_peer *to) {
    size_t al = strlen(to->addr);
    if (bs_buf_append_u16(b, (uint16_t)al) || bs_buf_append(b, to->addr, al) ||
        bs_buf_append_u16(b, to->port))
        return BS_ENOMEM;
    return 0;
}

void bs__repair_req_free(bs__repair_req *q) {
    free(q->starts);
    free(q->ends);
    q->starts = q->ends = NULL;
}

static int req_decode(const uint8_t *p, size_t len, bs__repair_req *q) {
    memset(q, 0, sizeof *q);
    bs_rbuf r;
    bs_rbuf_init(&r, p, len);
    uint16_t l;
    const uint8_t *name;
    if (bs_rbuf_u16(&r, &l) || l == 0 || l > 255 ||
        bs_rbuf_bytes(&r, l, &name) || memchr(name, 0, l))
        return BS_ECORRUPT;
    memcpy(q->cf, name, l);
    q->cf[l] = 0;
    if (bs_rbuf_u32(&r, &q->nranges) || q->nranges > bs_rbuf_left(&r) / 16)
        return BS_ECORRUPT;
    if (q->nranges) {
        q->starts = malloc(q->nranges * sizeof *q->starts);
        q->ends = malloc(q->nranges * sizeof *q->ends);
        if (!q->starts || !q->ends) {
            bs__repair_req_free(q);
            return BS_ENOMEM;
        }
        for (uint32_t i = 0; i < q->nranges; i++) {
            uint64_t a, b;
            bs_rbuf_u64(&r, &a);
            bs_rbuf_u64(&r, &b);
            q->starts[i] = (int64_t)a;
            q->ends[i] = (int64_t)b;
        }
    }
    bs_rbuf_init(&q->tail, r.p + r.pos, bs_rbuf_left(&r));
    return 0;
}

/* The SEND target: a non-empty IPv4 or IPv6 address in text form and a
 * non-zero port. */
static int parse_target(bs_rbuf *t, bs_repair_peer *to) {
    uint16_t al, port;
    const uint8_t *a;
    if (bs_rbuf_u16(t, &al) || al == 0 || al >= sizeof to->addr ||
        bs_rbuf_bytes(t, al, &a) || memchr(a, 0, al) || bs_rbuf_u16(t, &port) ||
        port == 0)
        return BS_ECORRUPT;
    memset(to, 0, sizeof *to);
    memcpy(to->addr, a, al);
    unsigned char ip[16];
    if (inet_pton(AF_INET, to->addr, ip) != 1 &&
        inet_pton(AF_INET6, to->addr, ip) != 1)
        return BS_ECORRUPT;
    to->port = port;
    return 0;
}

int bs__repair_req_parse(uint8_t verb, const uint8_t *p, size_t len,
                         bs__repair_req *q) {
    int rc = req_decode(p, len, q);
    if (rc) return rc;
    switch (verb) {
    case BS_VERB_REPAIR_TREE:
        if (q->nranges != 1 || bs_rbuf_u8(&q->tail, &q->depth) ||
            q->depth > BS_MERKLE_MAX_DEPTH || bs_rbuf_left(&q->tail))
            rc = BS_ECORRUPT;
        break;
    case BS_VERB_REPAIR_DIGESTS:
    case BS_VERB_REPAIR_SIZE:
        if (bs_rbuf_left(&q->tail)) rc = BS_ECORRUPT;
        break;
    case BS_VERB_REPAIR_SEND:
        rc = parse_target(&q->tail, &q->to);
        if (rc) break;
        q->body = q->tail.p + q->tail.pos;
        q->body_len = bs_rbuf_left(&q->tail);
        if (q->body_len % BS_STREAM_DIGEST_LEN) rc = BS_ECORRUPT;
        break;
    case BS_VERB_REPAIR_SEND_ALL:
        rc = parse_target(&q->tail, &q->to);
        if (!rc && bs_rbuf_left(&q->tail) == 8 &&
            (bs_rbuf_u64(&q->tail, &q->session) || !q->session))
            rc = BS_ECORRUPT;
        if (!rc && bs_rbuf_left(&q->tail)) rc = BS_ECORRUPT;
        break;
    case BS_VERB_REPAIR_STREAM:
        if (bs_rbuf_left(&q->tail) >= 12 &&
            !memcmp(q->tail.p + q->tail.pos, BS__STREAM_SESSION_MAGIC, 4)) {
            const uint8_t *m;
            bs_rbuf_bytes(&q->tail, 4, &m);
            bs_rbuf_u64(&q->tail, &q->session);
            if (!q->session) {
                rc = BS_ECORRUPT;
                break;
            }
        }
        q->body = q->tail.p + q->tail.pos;
        q->body_len = bs_rbuf_left(&q->tail);
        if (q->nranges ||
            bs_stream_chunk_walk(q->body, q->body_len, NULL, NULL))
            rc = BS_ECORRUPT;
        break;
    default: rc = BS_EINVAL;
    }
    if (rc) bs__repair_req_free(q);
    return rc;
}

int bs_repair_request_check(uint8_t verb, const void *p, size_t len) {
    bs__repair_req q;
    int rc = bs__repair_req_parse(verb, p, len, &q);
    if (!rc) bs__repair_req_free(&q);
    return rc;
}
