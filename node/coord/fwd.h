/*
 * fwd.h - wire codec of write forwarding between data centers (pure, no
 * I/O; fuzzed by tests/fuzz/fuzz_fwd.c).
 *
 * A coordinator sends each remote data center ONE copy of a write: a
 * MUTATION_FWD request to one replica there (the forwarder) that carries
 * the other replicas of that DC.  The forwarder applies the write,
 * answers the coordinator as for a MUTATION and sends each listed replica
 * a one-way MUTATION_FWD with an empty list; those apply it and send a
 * one-way MUTATION_ACK straight to the coordinator (address and forward
 * id taken from the envelope).
 *
 * MUTATION_FWD payload (big-endian):
 *   OFFSET SIZE DESCRIPTION
 *   0      1    version, 1
 *   1      8    forward id (chosen by the coordinator, names its request)
 *   9      1    A: coordinator address length, 1..BS_MSG_ADDRLEN-1
 *   10     A    coordinator address (an IP literal)
 *   10+A   2    coordinator port (non-zero)
 *   12+A   1    N: replicas to forward to, 0..BS_FWD_MAX
 *   13+A   ...  N times: host id (16) | L (1) | address (L) | port (2)
 *   ...    rest the write (node/coord/wire.h "write"), passed on as is
 *
 * MUTATION_ACK payload: version 1 (1) | forward id (8) | host id of the
 * replica that applied it (16) | status (4, int32: 0 or a BS_E code) -
 * 29 bytes exactly.
 */
#ifndef BS_NODE_COORD_FWD_H
#define BS_NODE_COORD_FWD_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/uuid.h"
#include "node/cluster/msg.h"

#define BS_FWD_MAX 63
#define BS_FWD_ACK_LEN 29

typedef struct bs_fwd_target {
    bs_uuid host;
    bs_msg_peer peer;
} bs_fwd_target;

typedef struct bs_fwd_env {
    uint64_t id;
    bs_msg_peer coord;
    size_t n;
    bs_fwd_target t[BS_FWD_MAX];
    const uint8_t *write; /* decode: borrowed from the input */
    size_t write_len;
} bs_fwd_env;

/* Appends the envelope e (e->n targets) followed by write/write_len.
 * 0, BS_EINVAL (n too large, bad address) or BS_ENOMEM. */
int bs_fwd_encode(const bs_fwd_env *e, bs_buf *out);
/* Decodes an envelope; e->write points into p.  0 or BS_ECORRUPT with a
 * reason in err. */
int bs_fwd_decode(const uint8_t *p, size_t len, bs_fwd_env *e, char *err, size_t errlen);

void bs_fwd_ack_encode(uint64_t id, const bs_uuid *host, int32_t status,
                       uint8_t out[BS_FWD_ACK_LEN]);
/* 0 or BS_ECORRUPT (wrong length or version). */
int bs_fwd_ack_decode(const uint8_t *p, size_t len, uint64_t *id, bs_uuid *host,
                      int32_t *status);

#endif
