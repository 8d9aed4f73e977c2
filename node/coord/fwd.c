/*
 * fwd.c - the MUTATION_FWD envelope and MUTATION_ACK codec (layouts in
 * fwd.h).  Decoding checks every length against what is left, that
 * addresses are IP literals and ports non-zero, and the target count.
 */
#include "node/coord/fwd.h"

#include <stdio.h>
#include <string.h>

#include "common/error.h"

#define VERSION 1

static int put_peer(bs_buf *out, const bs_msg_peer *p) {
    size_t l = strlen(p->addr);
    if (!l || l >= BS_MSG_ADDRLEN || !p->port) return BS_EINVAL;
    int rc = bs_buf_append_u8(out, (uint8_t)l);
    if (!rc) rc = bs_buf_append(out, p->addr, l);
    if (!rc) rc = bs_buf_append_u16(out, p->port);
    return rc;
}

int bs_fwd_encode(const bs_fwd_env *e, bs_buf *out) {
    if (e->n > BS_FWD_MAX) return BS_EINVAL;
    size_t start = out->len;
    int rc = bs_buf_append_u8(out, VERSION);
    if (!rc) rc = bs_buf_append_u64(out, e->id);
    if (!rc) rc = put_peer(out, &e->coord);
    if (!rc) rc = bs_buf_append_u8(out, (uint8_t)e->n);
    for (size_t i = 0; i < e->n && !rc; i++) {
        rc = bs_buf_append(out, e->t[i].host.b, 16);
        if (!rc) rc = put_peer(out, &e->t[i].peer);
    }
    if (!rc && e->write_len) rc = bs_buf_append(out, e->write, e->write_len);
    if (rc) out->len = start;
    return rc;
}

static int fail(char *err, size_t errlen, const char *why) {
    snprintf(err, errlen, "MUTATION_FWD: %s", why);
    return BS_ECORRUPT;
}

static int get_peer(bs_rbuf *r, bs_msg_peer *p) {
    uint8_t l;
    const uint8_t *a;
    uint16_t port;
    char addr[BS_MSG_ADDRLEN];
    if (bs_rbuf_u8(r, &l) || !l || l >= BS_MSG_ADDRLEN || bs_rbuf_bytes(r, l, &a) ||
        bs_rbuf_u16(r, &port) || !port)
        return -1;
    memcpy(addr, a, l);
    addr[l] = 0;
    return bs_msg_peer_set(p, addr, port) ? -1 : 0;
}

int bs_fwd_decode(const uint8_t *p, size_t len, bs_fwd_env *e, char *err, size_t errlen) {
    bs_rbuf r;
    bs_rbuf_init(&r, p, len);
    uint8_t v, n;
    memset(e, 0, sizeof *e);
    if (bs_rbuf_u8(&r, &v) || v != VERSION) return fail(err, errlen, "unknown version");
    if (bs_rbuf_u64(&r, &e->id)) return fail(err, errlen, "truncated id");
    if (get_peer(&r, &e->coord)) return fail(err, errlen, "bad coordinator endpoint");
    if (bs_rbuf_u8(&r, &n) || n > BS_FWD_MAX) return fail(err, errlen, "bad target count");
    for (size_t i = 0; i < n; i++) {
        const uint8_t *h;
        if (bs_rbuf_bytes(&r, 16, &h)) return fail(err, errlen, "truncated host id");
        memcpy(e->t[i].host.b, h, 16);
        if (get_peer(&r, &e->t[i].peer)) return fail(err, errlen, "bad target endpoint");
    }
    e->n = n;
    e->write_len = bs_rbuf_left(&r);
    e->write = e->write_len ? p + r.pos : NULL;
    return 0;
}

void bs_fwd_ack_encode(uint64_t id, const bs_uuid *host, int32_t status,
                       uint8_t out[BS_FWD_ACK_LEN]) {
    out[0] = VERSION;
    bs_put_u64(out + 1, id);
    memcpy(out + 9, host->b, 16);
    bs_put_u32(out + 25, (uint32_t)status);
}

int bs_fwd_ack_decode(const uint8_t *p, size_t len, uint64_t *id, bs_uuid *host,
                      int32_t *status) {
    if (len != BS_FWD_ACK_LEN || p[0] != VERSION) return BS_ECORRUPT;
    *id = bs_get_u64(p + 1);
    memcpy(host->b, p + 9, 16);
    *status = (int32_t)bs_get_u32(p + 25);
    return 0;
}
