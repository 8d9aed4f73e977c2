/*
 * join.h - a new node's first step into a cluster: learn the ring from
 * the seeds through gossip, then choose balanced tokens for it (the
 * allocator of ring/alloc.h, for allocate_tokens_for_local_replication_
 * factor in this node's DC), one new node at a time.
 *
 * Private to node/cluster/ (cluster.c calls it during bs_cluster_start).
 * Streaming the data of the ranges the node gains is the bootstrap's
 * (node/topology.c), once the node has announced JOINING.
 */
#ifndef BS_NODE_CLUSTER_JOIN_H
#define BS_NODE_CLUSTER_JOIN_H

#include <stddef.h>
#include <stdint.h>

#include "common/uuid.h"
#include "node/cluster/gossip.h"
#include "node/config.h"
#include "ring/tokenmeta.h"

/* How long the wait lasts (milliseconds). */
#define BS_JOIN_SETTLE_MS 1500    /* ring unchanged this long: complete */
#define BS_JOIN_SEED_WAIT_MS 3000 /* a seed alone waits for other seeds */
#define BS_JOIN_MAX_WAIT_MS 60000 /* then: a seed goes, a non-seed fails */
#define BS_JOIN_BUSY_MAX_MS 30000 /* another node joining/leaving that long:
                                     this join is refused */

/* What the node sees at one poll of the wait. */
typedef struct bs__join_view {
    int64_t elapsed_ms; /* since the wait began */
    int self_is_seed;   /* this node is in its own seeds list */
    int other_seeds;    /* the seeds list names another node */
    uint32_t members;   /* NORMAL nodes in the ring (never this one) */
    int64_t stable_ms;  /* how long `members` and their tokens held */
    int earlier_boot;   /* a live node waiting like us with a smaller
                           host id: it goes first */
    int64_t busy_ms;    /* > 0: a live node has been JOINING or LEAVING
                           this long (one topology change at a time) */
} bs__join_view;

typedef enum bs__join_verdict {
    BS_JOIN_WAIT = 0,
    BS_JOIN_GO = 1,     /* choose tokens against the current ring */
    BS_JOIN_NO_SEED = 2, /* a non-seed heard of no ring: start-up error */
    BS_JOIN_BUSY = 3     /* another topology change goes on: refused */
} bs__join_verdict;

/* The wait's rule (pure; unit-tested):
 *   - no other seed configured: go at once (first node of a cluster);
 *   - a live node is JOINING or LEAVING: wait for it to finish (nodes
 *     started together take turns), refuse after BS_JOIN_BUSY_MAX_MS;
 *   - a live node with a smaller host id is waiting too: wait for it
 *     (until the maximum wait), so two new nodes never choose against
 *     the same ring and take the same tokens;
 *   - a ring is known: go once it held still for BS_JOIN_SETTLE_MS;
 *   - no ring yet: a seed goes after BS_JOIN_SEED_WAIT_MS (it founds
 *     the cluster); a non-seed gives up after BS_JOIN_MAX_WAIT_MS. */
bs__join_verdict bs__join_decide(const bs__join_view *v);

/* Everything the wait needs (all borrowed for the call). */
typedef struct bs__join_env {
    bs_gossip *gossip;
    const bs_config *cfg;
    const bs_uuid *host_id;
    int self_is_seed;
    int other_seeds;
    /* the current ring of NORMAL members, retained for the caller */
    bs_ring_snapshot *(*ring)(void *ud);
    void *ring_ud;
    /* initial_token: join with these tokens instead of allocating
     * (nfixed 0: allocate) */
    const int64_t *fixed;
    size_t nfixed;
} bs__join_env;

/* 0 when no member of ring owns any of the n tokens; else BS_EEXIST with
 * err naming the first such token and its owner (pure; unit-tested). */
int bs__join_check_tokens(const bs_ring_snapshot *ring, const int64_t *tokens,
                          size_t n, char *err, size_t errlen);

/* Waits (main thread, polling gossip every 100 ms) until bs__join_decide
 * says go, then allocates cfg->num_tokens balanced tokens for the ring it
 * learned (or, with e->nfixed, takes a copy of e->fixed once no member
 * owns any of them): *tokens malloc'd (caller frees), ascending for
 * allocated ones.  0, or BS_EUNAVAIL (no seed answered), BS_EBUSY
 * (another node joins or leaves), BS_EEXIST (a member owns one of the
 * fixed tokens), BS_ECANCELED (SIGTERM or SIGINT is pending: the
 * operator stops the node), BS_ENOMEM or an allocator error, with a
 * message in err. */
int bs__join_choose_tokens(const bs__join_env *e, int64_t **tokens,
                           size_t *ntokens, char *err, size_t errlen);

#endif
