/*
 * fuzz_msg.c - the internode message decoders on arbitrary bytes: the
 * frame codec (length, flags, lz4, msgpack envelope), then the payload
 * as a handshake, a gossip SYN and a gossip ACK/ACK2 (what a node decodes
 * from a peer), and as a ring endpoint string "addr:port" (gossiped; one
 * that parses, printed again, parses to the same peer).  A frame that
 * decodes must re-encode to a frame that decodes to the same fields; so
 * must a handshake (protocol 2: nonce and proof fields included, seeds
 * handshake_v2_*).  Nothing may crash, leak or read out of bounds (run
 * under ASan/UBSan).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "node/cluster/gossip.h"
#include "node/cluster/msg.h"

#define MAX (1u << 20)

/* A handshake that decodes re-encodes (the fields it had) to one that
 * decodes to the same fields and values. */
static void hello_round_trip(const bs_msg_hello *h) {
    bs_buf b = BS_BUF_INIT;
    bs_msg_hello g;
    char err[128];
    if (bs_msg_hello_encode(h, &b) != 0) abort();
    if (bs_msg_hello_decode(b.data, b.len, &g, err, sizeof err) != 0) abort();
    unsigned f = h->fields;
    if (g.fields != f) abort();
    if ((f & BS_HELLO_CLUSTER) && strcmp(g.cluster, h->cluster) != 0) abort();
    if ((f & BS_HELLO_PROTO) && g.proto != h->proto) abort();
    if ((f & BS_HELLO_HOST) && memcmp(g.host_id.b, h->host_id.b, 16) != 0)
        abort();
    if ((f & BS_HELLO_FROM) && !bs_msg_peer_equal(&g.from, &h->from)) abort();
    if ((f & BS_HELLO_OK) && g.ok != h->ok) abort();
    if ((f & BS_HELLO_WHY) && strcmp(g.why, h->why) != 0) abort();
    if ((f & BS_HELLO_NONCE) && memcmp(g.nonce, h->nonce, sizeof g.nonce))
        abort();
    if ((f & BS_HELLO_PROOF) && memcmp(g.proof, h->proof, sizeof g.proof))
        abort();
    bs_buf_free(&b);
}

static void payload_decoders(const uint8_t *p, size_t n) {
    bs_msg_hello h;
    char err[128];
    if (bs_msg_hello_decode(p, n, &h, err, sizeof err) == 0)
        hello_round_trip(&h);
    char cluster[256];
    bs_gossip_digest *d = NULL;
    size_t nd = 0;
    if (bs_gossip_syn_decode(p, n, cluster, sizeof cluster, &d, &nd) == 0)
        free(d);
    bs_gossip_ep *e = NULL;
    bs_gossip_digest *r = NULL;
    size_t ne = 0, nr = 0;
    if (bs_gossip_ack_decode(p, n, &e, &ne, &r, &nr) == 0) {
        bs_gossip_free_eps(e, ne);
        free(r);
    }
    char ep[128];
    if (n < sizeof ep) {
        if (n) memcpy(ep, p, n); /* an empty payload may be NULL */
        ep[n] = 0;
        bs_msg_peer peer, again;
        if (bs_msg_peer_parse(&peer, ep) == 0) {
            char back[128];
            snprintf(back, sizeof back, "%s:%u", peer.addr, peer.port);
            if (bs_msg_peer_parse(&again, back) ||
                !bs_msg_peer_equal(&peer, &again))
                abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* the stream view: peek must agree with decode about whole frames */
    size_t fl = 0;
    int prc = bs_msg_frame_peek(data, size, MAX, &fl);
    bs_msg_frame f;
    char err[128];
    int rc = bs_msg_frame_decode(data, size, MAX, &f, err, sizeof err);
    if (rc == 0 && (prc != 0 || fl != size)) abort();
    /* the payload decoders also get the raw input */
    payload_decoders(data, size);
    if (rc != 0) return 0;
    payload_decoders(f.payload, f.len);
    bs_buf b = BS_BUF_INIT;
    if (bs_msg_frame_encode(&f, 64, MAX, &b) == 0) {
        bs_msg_frame g;
        if (bs_msg_frame_decode(b.data, b.len, MAX, &g, err, sizeof err) != 0)
            abort();
        if (g.verb != f.verb || g.kind != f.kind || g.id != f.id ||
            g.deadline_ms != f.deadline_ms || g.len != f.len ||
            (f.len && memcmp(g.payload, f.payload, f.len) != 0))
            abort();
        if (g.kind == BS_MSG_KIND_RESPONSE && g.status != f.status) abort();
        if (g.has_trace != f.has_trace || (f.has_trace && memcmp(g.trace, f.trace, 16)))
            abort(); /* the CQL trace session id ("t") survives */
        bs_msg_frame_free(&g);
    }
    bs_buf_free(&b);
    bs_msg_frame_free(&f);
    return 0;
}
