/*
 * paxos_wire.c - PAXOS verb payloads and ballot order (layout in
 * paxos_wire.h).
 */
#include <string.h>

#include "common/error.h"
#include "node/coord/paxos_wire.h"

#define PAXOS_FORMAT 1
#define UUID_EPOCH_OFFSET 0x01B21DD213814000ULL /* 1582-10-15 -> 1970, 100 ns */

int bs_paxos_ballot_none(const bs_uuid *b) {
    static const bs_uuid zero;
    return !memcmp(b->b, zero.b, 16);
}

int bs_paxos_ballot_cmp(const bs_uuid *a, const bs_uuid *b) {
    int an = bs_paxos_ballot_none(a), bn = bs_paxos_ballot_none(b);
    if (an || bn) return an - bn ? (an ? -1 : 1) : 0;
    uint64_t ta = bs_uuid_v1_timestamp(a), tb = bs_uuid_v1_timestamp(b);
    if (ta != tb) return ta < tb ? -1 : 1;
    return memcmp(a->b + 8, b->b + 8, 8);
}

int64_t bs_paxos_ballot_us(const bs_uuid *b) {
    uint64_t t = bs_uuid_v1_timestamp(b);
    return t >= UUID_EPOCH_OFFSET ? (int64_t)((t - UUID_EPOCH_OFFSET) / 10) : 0;
}

static int put_bytes32(bs_buf *out, const uint8_t *p, size_t n) {
    if (n > UINT32_MAX) return BS_EINVAL;
    int rc = bs_buf_append_u32(out, (uint32_t)n);
    if (!rc && n) rc = bs_buf_append(out, p, n);
    return rc;
}

int bs_paxos_req_encode(const bs_paxos_req *r, bs_buf *out) {
    if (r->phase < BS_PAXOS_PREPARE || r->phase > BS_PAXOS_COMMIT || !r->pk_len ||
        r->pk_len > 65535)
        return BS_EINVAL;
    int rc = bs_buf_append_u8(out, PAXOS_FORMAT);
    if (!rc) rc = bs_buf_append_u8(out, r->phase);
    if (!rc) rc = bs_buf_append(out, r->ballot.b, 16);
    if (!rc) rc = bs_buf_append(out, r->table_id.b, 16);
    if (!rc) rc = bs_buf_append_u64(out, (uint64_t)r->token);
    if (!rc) rc = put_bytes32(out, r->pk, r->pk_len);
    if (!rc) rc = put_bytes32(out, r->update, r->update_len);
    if (!rc) rc = put_bytes32(out, r->read, r->read_len);
    return rc;
}

static int get_uuid(bs_rbuf *rb, bs_uuid *u) {
    const uint8_t *p;
    if (bs_rbuf_bytes(rb, 16, &p)) return BS_ECORRUPT;
    memcpy(u->b, p, 16);
    return 0;
}

static int get_bytes32(bs_rbuf *rb, size_t max, const uint8_t **p, size_t *n) {
    uint32_t l;
    if (bs_rbuf_u32(rb, &l) || l > max || bs_rbuf_bytes(rb, l, p)) return BS_ECORRUPT;
    *n = l;
    if (!l) *p = NULL;
    return 0;
}

int bs_paxos_req_decode(const void *p, size_t len, bs_paxos_req *out) {
    bs_rbuf rb;
    bs_rbuf_init(&rb, p, len);
    memset(out, 0, sizeof *out);
    uint8_t v, ph;
    uint64_t tok;
    if (bs_rbuf_u8(&rb, &v) || v != PAXOS_FORMAT || bs_rbuf_u8(&rb, &ph) ||
        ph < BS_PAXOS_PREPARE || ph > BS_PAXOS_COMMIT)
        return BS_ECORRUPT;
    out->phase = ph;
    if (get_uuid(&rb, &out->ballot) || get_uuid(&rb, &out->table_id) || bs_rbuf_u64(&rb, &tok) ||
        get_bytes32(&rb, 65535, &out->pk, &out->pk_len) || !out->pk_len ||
        get_bytes32(&rb, len, &out->update, &out->update_len) ||
        get_bytes32(&rb, len, &out->read, &out->read_len) || bs_rbuf_left(&rb))
        return BS_ECORRUPT;
    out->token = (int64_t)tok;
    if ((ph == BS_PAXOS_PREPARE) != (out->update_len == 0)) return BS_ECORRUPT;
    if (ph != BS_PAXOS_PREPARE && out->read_len) return BS_ECORRUPT;
    return 0;
}

int bs_paxos_resp_encode(const bs_paxos_resp *r, bs_buf *out) {
    static const bs_uuid zero;
    int rc = bs_buf_append_u8(out, PAXOS_FORMAT);
    if (!rc) rc = bs_buf_append_u8(out, r->ok ? 1 : 0);
    if (!rc) rc = bs_buf_append(out, r->promised.b, 16);
    if (!rc) rc = bs_buf_append_u8(out, r->has_accepted ? 1 : 0);
    if (!rc) rc = bs_buf_append(out, r->has_accepted ? r->accepted.b : zero.b, 16);
    if (!rc) rc = put_bytes32(out, r->has_accepted ? r->update : NULL,
                              r->has_accepted ? r->update_len : 0);
    if (!rc) rc = bs_buf_append_u8(out, r->has_commit ? 1 : 0);
    if (!rc) rc = bs_buf_append(out, r->has_commit ? r->commit.b : zero.b, 16);
    if (!rc) rc = bs_buf_append_u8(out, r->has_read ? 1 : 0);
    if (!rc) rc = bs_buf_append(out, r->has_read ? r->digest : zero.b, 16);
    if (!rc) rc = put_bytes32(out, r->has_read ? r->data : NULL, r->has_read ? r->data_len : 0);
    return rc;
}

int bs_paxos_resp_decode(const void *p, size_t len, bs_paxos_resp *out) {
    bs_rbuf rb;
    bs_rbuf_init(&rb, p, len);
    memset(out, 0, sizeof *out);
    uint8_t v, ok, ha, hc, hr;
    bs_uuid dg;
    if (bs_rbuf_u8(&rb, &v) || v != PAXOS_FORMAT || bs_rbuf_u8(&rb, &ok) || ok > 1 ||
        get_uuid(&rb, &out->promised) || bs_rbuf_u8(&rb, &ha) || ha > 1 ||
        get_uuid(&rb, &out->accepted) || get_bytes32(&rb, len, &out->update, &out->update_len) ||
        bs_rbuf_u8(&rb, &hc) || hc > 1 || get_uuid(&rb, &out->commit) ||
        bs_rbuf_u8(&rb, &hr) || hr > 1 || get_uuid(&rb, &dg) ||
        get_bytes32(&rb, len, &out->data, &out->data_len) || bs_rbuf_left(&rb))
        return BS_ECORRUPT;
    if (!hr && (out->data_len || !bs_paxos_ballot_none(&dg))) return BS_ECORRUPT;
    out->has_read = hr;
    memcpy(out->digest, dg.b, 16);
    /* canonical: absent fields are all zero */
    if (!ha && (out->update_len || !bs_paxos_ballot_none(&out->accepted))) return BS_ECORRUPT;
    if (!hc && !bs_paxos_ballot_none(&out->commit)) return BS_ECORRUPT;
    out->ok = ok;
    out->has_accepted = ha;
    out->has_commit = hc;
    return 0;
}
