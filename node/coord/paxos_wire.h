/*
 * paxos_wire.h - payloads of the PAXOS internode verb (lightweight
 * transactions, node/coord/coord_paxos.c and coord_paxos_replica.c) and
 * ballot arithmetic.
 *
 * A ballot is a version-1 (time-based) UUID: ballots order by their
 * 60-bit timestamp, then by their last 8 bytes (clock sequence + node,
 * random per ballot), so two coordinators never make equal ballots.
 *
 * Request (big-endian):
 *   OFFSET  SIZE  DESCRIPTION
 *   0       1     format version (1)
 *   1       1     phase: 1 PREPARE, 2 PROPOSE, 3 COMMIT
 *   2       16    ballot
 *   18      16    table id
 *   34      8     token (signed)
 *   42      4     P = length of the serialized partition key (1..65535)
 *   46      P     partition key
 *   46+P    4     U = length of the update (0 for PREPARE)
 *   50+P    U     update: a write payload (node/coord/wire.h
 *                 bs_wire_write_encode) of mutations of this partition
 *   50+P+U  4     R = length of the read (PREPARE only, may be 0)
 *   54+P+U  R     read: a READ request (bs_wire_read_encode) of this
 *                 partition, answered with the promise (Paxos v2's
 *                 "read in the prepare round")
 *
 * Response:
 *   0       1     format version (1)
 *   1       1     ok: promised (PREPARE) / accepted (PROPOSE) / applied
 *   2       16    the replica's promised ballot after the request
 *                 (all-zero: none)
 *   18      1     has_accepted
 *   19      16    accepted ballot (zero unless has_accepted)
 *   35      4     U = length of the accepted update
 *   39      U     accepted update (write payload)
 *   39+U    1     has_commit
 *   40+U    16    ballot of the most recent commit (zero unless has_commit)
 *   56+U    1     has_read: the promise answers the request's read
 *   57+U    16    digest of that read (bs_wire_digest; zero unless has_read)
 *   73+U    4     D = length of the read's result
 *   77+U    D     result (bs_wire_result_encode, data)
 *
 * Decoders take untrusted bytes and never read past `len`; decoded
 * pointers borrow the input buffer.
 */
#ifndef BS_NODE_PAXOS_WIRE_H
#define BS_NODE_PAXOS_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/uuid.h"

/* Internode verb of every Paxos phase (numbers 20..27 are unused by the
 * other rooms; see node/cluster/msg.h and node/coord/coord.h). */
#define BS_VERB_PAXOS 22

enum { BS_PAXOS_PREPARE = 1, BS_PAXOS_PROPOSE = 2, BS_PAXOS_COMMIT = 3 };

typedef struct bs_paxos_req {
    uint8_t phase;
    bs_uuid ballot;
    bs_uuid table_id;
    int64_t token;
    const uint8_t *pk;
    size_t pk_len;
    const uint8_t *update; /* PROPOSE / COMMIT; NULL, 0 for PREPARE */
    size_t update_len;
    const uint8_t *read; /* PREPARE: READ request to answer, or NULL, 0 */
    size_t read_len;
} bs_paxos_req;

typedef struct bs_paxos_resp {
    int ok;
    bs_uuid promised;
    int has_accepted;
    bs_uuid accepted;
    const uint8_t *update;
    size_t update_len;
    int has_commit;
    bs_uuid commit;
    int has_read;
    uint8_t digest[16];
    const uint8_t *data;
    size_t data_len;
} bs_paxos_resp;

/* Appends the encoding; 0, BS_EINVAL (bad field) or BS_ENOMEM. */
int bs_paxos_req_encode(const bs_paxos_req *r, bs_buf *out);
/* 0 or BS_ECORRUPT; pointers in *out borrow p. */
int bs_paxos_req_decode(const void *p, size_t len, bs_paxos_req *out);
int bs_paxos_resp_encode(const bs_paxos_resp *r, bs_buf *out);
int bs_paxos_resp_decode(const void *p, size_t len, bs_paxos_resp *out);

/* <0, 0, >0 as ballot a orders before, equal to, after b. */
int bs_paxos_ballot_cmp(const bs_uuid *a, const bs_uuid *b);
/* Unix microseconds of a ballot (its v1 timestamp). */
int64_t bs_paxos_ballot_us(const bs_uuid *b);
/* 1 for the all-zero uuid ("no ballot"). */
int bs_paxos_ballot_none(const bs_uuid *b);

#endif
