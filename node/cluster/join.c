/*
 * join.c - choosing a new node's tokens from the ring it learns through
 * gossip (see join.h).
 *
 * On its first start a node gossips STATUS=BOOT without TOKENS (it is
 * nobody's replica yet) and polls what gossip taught it: the ring of
 * NORMAL members (cluster.c builds it), and the other nodes that wait
 * the same way.  bs__join_decide() says when the ring is complete enough
 * (held still for a settle time) and whose turn it is (smallest host id
 * first among live waiters); then ring/alloc.c's balanced allocator
 * places num_tokens tokens so that effective ownership under
 * {dc: allocate_tokens_for_local_replication_factor} stays even.  The
 * caller persists and announces them (TOKENS, then STATUS=JOINING).
 *
 * With initial_token (and auto_bootstrap) the wait is the same - the
 * node learns the ring, waits its turn and for any other topology change
 * to end - but it then takes the operator's tokens, refusing any that a
 * member already owns (bs__join_check_tokens).
 *
 * Invariant: this node's own gossip state carries no TOKENS while it
 * waits, so it is in no ring - its own included - until the caller
 * announces the chosen tokens.
 */
#include "node/cluster/join.h"

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/clock.h"
#include "common/error.h"
#include "common/log.h"
#include "ring/alloc.h"
#include "ring/strategy.h"

#define LOG "cluster"
#define POLL_MS 100

bs__join_verdict bs__join_decide(const bs__join_view *v) {
    if (!v->other_seeds) return BS_JOIN_GO;
    if (v->busy_ms > 0)
        return v->busy_ms >= BS_JOIN_BUSY_MAX_MS ? BS_JOIN_BUSY : BS_JOIN_WAIT;
    int late = v->elapsed_ms >= BS_JOIN_MAX_WAIT_MS;
    if (v->earlier_boot && !late) return BS_JOIN_WAIT;
    if (v->members > 0)
        return v->stable_ms >= BS_JOIN_SETTLE_MS || late ? BS_JOIN_GO
                                                         : BS_JOIN_WAIT;
    if (v->self_is_seed)
        return v->elapsed_ms >= BS_JOIN_SEED_WAIT_MS ? BS_JOIN_GO
                                                     : BS_JOIN_WAIT;
    return late ? BS_JOIN_NO_SEED : BS_JOIN_WAIT;
}

/* 1 when a live node other than us waits for tokens (STATUS=BOOT and no
 * TOKENS) with a host id before ours; only seeds count when seeds_only
 * (the ring is empty: a non-seed cannot found it, so two seeds starting
 * with a non-seed of a smaller host id waited for each other until the
 * non-seeds gave up).  *busy: the address of a live node JOINING or
 * LEAVING, or BOOT with TOKENS (announcing what it chose) ("" when
 * none). */
static int is_seed(const bs_config *cfg, const char *addr) {
    for (size_t i = 0; i < cfg->n_seeds; i++)
        if (!strcmp(cfg->seeds[i], addr)) return 1;
    return 0;
}

static int earlier_waiter(bs_gossip *g, const bs_config *cfg, int seeds_only,
                          const bs_uuid *self, char *busy, size_t busylen) {
    bs_gossip_view *v;
    size_t n;
    busy[0] = 0;
    if (bs_gossip_snapshot(g, &v, &n)) return 0;
    char mine[BS_UUID_STRLEN + 1];
    bs_uuid_format(self, mine);
    int found = 0;
    for (size_t i = 0; i < n; i++) {
        const bs_gossip_ep *e = &v[i].st;
        const char *st = e->app[BS_GS_STATUS].value;
        const char *hid = e->app[BS_GS_HOST_ID].value;
        if (v[i].is_self || !v[i].alive || !st || !hid) continue;
        if (!strcmp(st, "JOINING") || !strcmp(st, "LEAVING"))
            snprintf(busy, busylen, "%s (%s)", e->ep.addr, st);
        if (strcmp(st, "BOOT") != 0) continue;
        if (e->app[BS_GS_TOKENS].value) {
            /* BOOT with TOKENS: neither waiting nor JOINING yet, nor in
             * the ring.  This node announces TOKENS and STATUS in one
             * update (cluster.c), but older nodes sent them apart, with a
             * disk write between.  A join under way: taking that for "no
             * one ahead" let two seeds started together both found the
             * ring (seen once in CI: test_join, chosen against [0, 0, 2]) */
            snprintf(busy, busylen, "%s (announcing its tokens)", e->ep.addr);
            continue;
        }
        if (seeds_only && !is_seed(cfg, e->ep.addr)) continue;
        found |= strcasecmp(hid, mine) < 0;
    }
    bs_gossip_views_free(v, n);
    return found;
}

/* SIGTERM/SIGINT arrived (main blocks them and waits for them only once
 * started): the operator stops a node that is still waiting. */
static int stop_requested(void) {
    sigset_t p;
    if (sigpending(&p)) return 0;
    return sigismember(&p, SIGTERM) == 1 || sigismember(&p, SIGINT) == 1;
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int allocate(const bs__join_env *e, const bs_ring_snapshot *ring,
                    int64_t **tokens, size_t *ntokens, char *err,
                    size_t errlen) {
    const char *dcs[1] = {e->cfg->dc};
    uint32_t rfs[1] = {
        (uint32_t)e->cfg->allocate_tokens_for_local_replication_factor};
    bs_ring_strategy *st;
    int rc = bs_ring_strategy_nts(dcs, rfs, 1, &st);
    if (rc) {
        snprintf(err, errlen, "cannot build the allocation strategy: %s",
                 bs_strerror(rc));
        return rc;
    }
    size_t n = (size_t)e->cfg->num_tokens;
    int64_t *t = calloc(n, sizeof *t);
    rc = t ? bs_ring_tokens_balanced(ring, st, e->cfg->dc, e->cfg->rack, n, t)
           : BS_ENOMEM;
    bs_ring_strategy_free(st);
    if (rc) {
        free(t);
        snprintf(err, errlen, "cannot allocate %zu tokens: %s", n,
                 bs_strerror(rc));
        return rc;
    }
    /* The first node of a ring gets evenly spaced tokens, the same for
     * every node that finds the ring empty: turned by an offset from its
     * host id (balance unchanged), so that two seeds that decided at the
     * same moment (one per data center) do not take identical tokens */
    if ((!ring || bs_ring_snapshot_token_count(ring) == 0) && n) {
        uint64_t step = UINT64_MAX / n, h = 0;
        for (int i = 0; i < 16; i++) h = h * 131 + e->host_id->b[i];
        uint64_t off = h % (step / 2 ? step / 2 : 1);
        for (size_t i = 0; i < n; i++) t[i] = (int64_t)((uint64_t)t[i] + off);
    }
    *tokens = t;
    *ntokens = n;
    return 0;
}

int bs__join_check_tokens(const bs_ring_snapshot *ring, const int64_t *tokens,
                          size_t n, char *err, size_t errlen) {
    for (size_t i = 0; ring && i < n; i++) {
        size_t vn;
        int64_t at;
        uint32_t owner;
        bs_ring_node_desc d;
        if (bs_ring_snapshot_vnode_of(ring, tokens[i], &vn) ||
            bs_ring_snapshot_token_at(ring, vn, &at, &owner) || at != tokens[i])
            continue;
        char hid[BS_UUID_STRLEN + 1] = "?";
        const char *ep = "?";
        if (bs_ring_snapshot_node(ring, owner, &d) == 0) {
            bs_uuid_format(&d.host_id, hid);
            ep = d.endpoint;
        }
        snprintf(err, errlen,
                 "initial_token %" PRId64 " is already owned by node %s "
                 "(host %s): a new node cannot take a member's token - "
                 "choose other tokens, or decommission/removenode that "
                 "node first (to replace a dead node use "
                 "replace_address_first_boot)",
                 tokens[i], ep, hid);
        return BS_EEXIST;
    }
    return 0;
}

/* initial_token: a copy of the operator's tokens, once no member owns
 * any of them. */
static int take_fixed(const bs__join_env *e, const bs_ring_snapshot *ring,
                      int64_t **tokens, size_t *ntokens, char *err,
                      size_t errlen) {
    int rc = bs__join_check_tokens(ring, e->fixed, e->nfixed, err, errlen);
    if (rc) return rc;
    int64_t *t = malloc(e->nfixed * sizeof *t);
    if (!t) return BS_ENOMEM;
    memcpy(t, e->fixed, e->nfixed * sizeof *t);
    *tokens = t;
    *ntokens = e->nfixed;
    return 0;
}

int bs__join_choose_tokens(const bs__join_env *e, int64_t **tokens,
                           size_t *ntokens, char *err, size_t errlen) {
    *tokens = NULL;
    *ntokens = 0;
    int64_t t0 = bs_clock_mono_ns(), since = t0;
    int64_t busy_since = 0;
    char busy[96];
    uint32_t last_nodes = 0;
    size_t last_tokens = 0;
    for (;;) {
        bs_ring_snapshot *ring = e->ring(e->ring_ud);
        int64_t now = bs_clock_mono_ns();
        uint32_t nodes = ring ? bs_ring_snapshot_node_count(ring) : 0;
        size_t ntok = ring ? bs_ring_snapshot_token_count(ring) : 0;
        if (nodes != last_nodes || ntok != last_tokens) {
            last_nodes = nodes;
            last_tokens = ntok;
            since = now;
        }
        int earlier = earlier_waiter(e->gossip, e->cfg, nodes == 0 && e->self_is_seed,
                                     e->host_id, busy, sizeof busy);
        if (!busy[0]) busy_since = 0;
        else if (!busy_since) busy_since = now;
        bs__join_view v = {
            (now - t0) / 1000000,    e->self_is_seed,
            e->other_seeds,          nodes,
            (now - since) / 1000000, earlier,
            busy[0] ? (now - busy_since) / 1000000 + 1 : 0};
        bs__join_verdict d = bs__join_decide(&v);
        if (d == BS_JOIN_GO) {
            if (v.earlier_boot)
                BS_WARN(LOG,
                        "another new node is still choosing its tokens after "
                        "%d s; choosing ours now (start new nodes one at a "
                        "time)",
                        BS_JOIN_MAX_WAIT_MS / 1000);
            int rc = e->nfixed
                         ? take_fixed(e, ring, tokens, ntokens, err, errlen)
                         : allocate(e, ring, tokens, ntokens, err, errlen);
            if (!rc && e->nfixed)
                BS_INFO(LOG,
                        "joining with the %zu tokens of initial_token; the "
                        "ring has %u node(s)",
                        *ntokens, nodes);
            else if (!rc)
                BS_INFO(LOG,
                        "chose %zu balanced tokens against a ring of %u "
                        "node(s) (replication factor %d in %s)",
                        *ntokens, nodes,
                        e->cfg->allocate_tokens_for_local_replication_factor,
                        e->cfg->dc);
            if (ring) bs_ring_snapshot_release(ring);
            return rc;
        }
        if (ring) bs_ring_snapshot_release(ring);
        if (d == BS_JOIN_BUSY) {
            snprintf(err, errlen,
                     "another topology change is in progress: node %s has "
                     "not finished after %d s; one node joins or leaves at "
                     "a time - start this node again once it is NORMAL "
                     "(basalt-admin status shows UN)",
                     busy, BS_JOIN_BUSY_MAX_MS / 1000);
            return BS_EBUSY;
        }
        if (d == BS_JOIN_NO_SEED) {
            snprintf(err, errlen,
                     "no seed answered within %d s: cannot learn the ring to "
                     "choose this node's tokens (check `seeds` and that a "
                     "seed is running)",
                     BS_JOIN_MAX_WAIT_MS / 1000);
            return BS_EUNAVAIL;
        }
        if (stop_requested()) {
            snprintf(err, errlen,
                     "stopped by a signal while waiting to choose tokens");
            return BS_ECANCELED;
        }
        sleep_ms(POLL_MS);
    }
}
