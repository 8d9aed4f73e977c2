/*
 * gossip.h - Cassandra-style gossip: endpoint state, digest rounds, and
 * the phi accrual failure detector.
 *
 * Endpoint state = heartbeat (generation: the node's start time in
 * seconds, strictly growing across restarts; version: a per-node counter)
 * plus versioned application states (STATUS, TOKENS, DC, ...).  Every
 * version of a node - heartbeat or application state - comes from that
 * node's single counter, so "max version" summarises what one knows of it.
 *
 * A round each interval (1 s): the node bumps its heartbeat and sends a
 * SYN (digests: endpoint, generation, max version of every endpoint it
 * knows) to a random live peer, sometimes to an unreachable one, and to a
 * seed when it knows no live peer or by chance.  The receiver answers ACK
 * (states newer than the sender's digests, plus requests for what it
 * lacks); the sender answers ACK2 with what was requested.
 *
 * The pure functions (state merge rules, digest examination, codecs, phi)
 * are declared first and tested directly; the gossiper uses them.
 */
#ifndef BS_NODE_GOSSIP_H
#define BS_NODE_GOSSIP_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "node/cluster/msg.h"

/* Application states; numbers are part of the wire format. */
typedef enum {
    BS_GS_STATUS = 0, /* NORMAL / BOOT / LEAVING / LEFT */
    BS_GS_TOKENS,     /* decimal tokens separated by commas */
    BS_GS_DC,
    BS_GS_RACK,
    BS_GS_HOST_ID,     /* uuid text */
    BS_GS_SCHEMA,      /* schema version uuid text */
    BS_GS_RPC_ADDRESS, /* CQL address */
    BS_GS_NATIVE_PORT, /* decimal */
    BS_GS_LOAD,        /* bytes on disk, decimal */
    BS_GS_RELEASE_VERSION,
    BS_GS_REPLACING, /* host id this JOINING node replaces at its own
                        address (replace_address_first_boot = itself) */
    BS_GS_NSTATES
} bs_gossip_app;

/* "STATUS", "TOKENS", ...; "?" out of range. */
const char *bs_gossip_app_name(int app);

#define BS_GOSSIP_MAX_VALUE 65536 /* longest accepted state value */

typedef struct bs_gossip_vv {
    char *value; /* owned, NUL-terminated; NULL = state absent */
    int32_t version;
} bs_gossip_vv;

typedef struct bs_gossip_ep {
    bs_msg_peer ep;
    int32_t generation; /* 0 = nothing known yet */
    int32_t hb_version;
    bs_gossip_vv app[BS_GS_NSTATES];
} bs_gossip_ep;

void bs_gossip_ep_init(bs_gossip_ep *e, const bs_msg_peer *ep);
/* Frees the values; the struct may be reused after bs_gossip_ep_init. */
void bs_gossip_ep_clear(bs_gossip_ep *e);
/* Deep copy into an uninitialised dst.  0 or BS_ENOMEM (dst then empty). */
int bs_gossip_ep_copy(bs_gossip_ep *dst, const bs_gossip_ep *src);
/* Sets one state (value copied) at `version`.  0, BS_EINVAL, BS_ENOMEM. */
int bs_gossip_ep_set(bs_gossip_ep *e, int app, const char *value,
                     int32_t version);
/* The largest version of the heartbeat and every state. */
int32_t bs_gossip_ep_max_version(const bs_gossip_ep *e);
/* dst (uninitialised) = the heartbeat of src plus its states whose version
 * is above `above`.  0 or BS_ENOMEM. */
int bs_gossip_ep_delta(const bs_gossip_ep *src, int32_t above,
                       bs_gossip_ep *dst);

/* What bs_gossip_ep_merge did (bits). */
#define BS_GOSSIP_M_NEW 1       /* local knew nothing: took remote whole */
#define BS_GOSSIP_M_RESTART 2   /* remote generation is newer: replaced */
#define BS_GOSSIP_M_HEARTBEAT 4 /* heartbeat moved forward */
#define BS_GOSSIP_M_STATES 8    /* some states changed (see *changed) */
#define BS_GOSSIP_M_IGNORED 16  /* older generation or implausible one */

/* Generations further than this in the future of now_s are refused (a
 * corrupted or hostile peer must not lock an endpoint out). */
#define BS_GOSSIP_MAX_GEN_AHEAD (365 * 86400)

/*
 * The merge rule.  local is what we know of an endpoint (generation 0 when
 * nothing), remote what a peer sent about it (possibly partial: a delta).
 *   - remote generation > now_s + MAX_GEN_AHEAD, or < local's: ignored;
 *   - local unknown or remote generation newer: local := remote
 *     (NEW / RESTART), every state it carries counts as changed;
 *   - same generation: heartbeat version := max; each state is replaced
 *     when remote's version is higher.
 * *changed gets a bit (1 << app) per state whose value changed.  Returns
 * 0 (with *what) or BS_ENOMEM (local then keeps a consistent mix).
 */
int bs_gossip_ep_merge(bs_gossip_ep *local, const bs_gossip_ep *remote,
                       int64_t now_s, int *what, uint32_t *changed);

typedef struct bs_gossip_digest {
    bs_msg_peer ep;
    int32_t generation;
    int32_t max_version;
} bs_gossip_digest;

/*
 * What a SYN receiver answers, given its endpoints `local` (n) and the
 * sender's digests:
 *   - endpoint unknown here, or sender's generation newer: request all
 *     (request digest: generation, version 0... i.e. "send above 0")
 *   - sender's generation older: send all we have
 *   - same generation: request above our max version when the sender's is
 *     higher; send above the sender's max version when ours is higher
 *   - endpoints the sender does not mention: send all (speeds up joins)
 * *reqs and *deltas are malloc'd (free with bs_gossip_free_eps for
 * deltas, free() for reqs).  0 or BS_ENOMEM.
 */
int bs_gossip_examine(bs_gossip_ep *const *local, size_t n,
                      const bs_gossip_digest *d, size_t nd,
                      bs_gossip_digest **reqs, size_t *nreqs,
                      bs_gossip_ep **deltas, size_t *ndeltas);
void bs_gossip_free_eps(bs_gossip_ep *eps, size_t n);

/* ---- wire codecs (msgpack; decode validates with mpcheck) -------------
 *   SYN      {"c": cluster, "d": [[addr, port, gen, maxver]...]}
 *   ACK/ACK2 {"e": [state...], "r": [[addr, port, gen, ver]...]}
 *   state    [addr, port, gen, hbver, [[app, version, value]...]]
 * States with an unknown app number are skipped (newer peers). */
int bs_gossip_syn_encode(const char *cluster, const bs_gossip_digest *d,
                         size_t n, bs_buf *out);
/* *d malloc'd. cluster gets at most cap-1 bytes. */
int bs_gossip_syn_decode(const uint8_t *p, size_t len, char *cluster,
                         size_t cap, bs_gossip_digest **d, size_t *n);
int bs_gossip_ack_encode(const bs_gossip_ep *eps, size_t ne,
                         const bs_gossip_digest *reqs, size_t nr, bs_buf *out);
int bs_gossip_ack_decode(const uint8_t *p, size_t len, bs_gossip_ep **eps,
                         size_t *ne, bs_gossip_digest **reqs, size_t *nr);

/* ---- phi accrual failure detector ------------------------------------
 * Arrival times of an endpoint's heartbeat progress; phi = (time since
 * the last arrival / mean interval) * log10(e), Cassandra's exponential
 * model.  The first arrival records an initial interval (2 x gossip
 * interval) so a fresh node is not convicted early; intervals above
 * max_ns are not sampled (a pause must not teach the detector that
 * pauses are normal). */
#define BS_FD_WINDOW 100
typedef struct bs_fd_window {
    int64_t last_ns; /* 0 = no arrival yet */
    int n, head;
    double sum;
    double iv[BS_FD_WINDOW];
} bs_fd_window;

void bs_fd_init(bs_fd_window *w);
void bs_fd_report(bs_fd_window *w, int64_t now_ns, int64_t initial_ns,
                  int64_t max_ns);
/* 0 when nothing arrived yet. */
double bs_fd_phi(const bs_fd_window *w, int64_t now_ns);
double bs_fd_mean(const bs_fd_window *w);

/* ---- the gossiper ----------------------------------------------------- */

typedef struct bs_gossip bs_gossip;

typedef enum {
    BS_GOSSIP_EV_JOIN = 1, /* first state of an endpoint */
    BS_GOSSIP_EV_CHANGE,   /* states in `changed` changed */
    BS_GOSSIP_EV_ALIVE,    /* UP */
    BS_GOSSIP_EV_DEAD,     /* DOWN */
    BS_GOSSIP_EV_RESTART   /* new generation */
} bs_gossip_event;

/* Runs on the messaging thread without gossip's lock held; ep is a copy
 * valid during the call. */
typedef void (*bs_gossip_listener)(void *ud, bs_gossip_event ev,
                                   const bs_gossip_ep *ep, uint32_t changed);

typedef struct bs_gossip_opts {
    bs_msg *msg; /* borrowed; must outlive the gossiper */
    const char *cluster_name;
    const bs_msg_peer *seeds; /* copied */
    size_t nseeds;
    /* Members known before a restart (copied): each gets a SYN every
     * round until gossip knows it, like a seed that is dropped once met. */
    const bs_msg_peer *contacts;
    size_t ncontacts;
    int32_t generation;   /* > every earlier generation of this node */
    uint32_t interval_ms; /* 1000 */
    double phi_threshold; /* 8 */
    bs_gossip_listener listener;
    void *listener_ud;
    /* 1: a node replacing the dead node at its own address.  Our own
     * state is not gossiped (left out of digests and answers) until
     * bs_gossip_unhide, so the peers keep the dead node's state for our
     * address and send it to us: the newest one with another host id is
     * kept for bs_gossip_shadow. */
    int hide_self;
} bs_gossip_opts;

/* Starts gossip with this node's initial states (values[app], NULL for
 * absent).  Registers ECHO and the GOSSIP verbs and installs the msg
 * connection observer.  Not from the messaging thread. */
int bs_gossip_start(const bs_gossip_opts *o,
                    const char *const values[BS_GS_NSTATES], bs_gossip **out);
/* Stops the rounds, unregisters the verbs, frees.  Not from the messaging
 * thread.  NULL is a no-op. */
void bs_gossip_stop(bs_gossip *g);
/* Stops the rounds and unregisters the verbs without freeing: requests
 * gossip sent (ECHO) may still complete, into live state.  The owner
 * calls it, then stops the messaging (which fails those requests), then
 * bs_gossip_stop to free.  Not from the messaging thread. */
void bs_gossip_halt(bs_gossip *g);
/* Sets a local state (new version); any thread.  0 or an error. */
int bs_gossip_set_local(bs_gossip *g, int app, const char *value);
/* Sets n local states at once (apps[i] to values[i]): they take
 * consecutive versions together, so a peer learns all of them in the same
 * gossip round or none (a joining node's TOKENS with its STATUS), and the
 * listener gets one CHANGE event naming them all.  Any thread.  0 or an
 * error (nothing set). */
int bs_gossip_set_locals(bs_gossip *g, size_t n, const int *apps,
                         const char *const *values);
/* Sets a state of another endpoint (a dead one: removenode) with a
 * version above every version it announced, so that gossip spreads it;
 * an unknown endpoint is ignored.  Any thread; applied in order with
 * set_local.  0 or an error. */
int bs_gossip_set_remote(bs_gossip *g, const bs_msg_peer *ep, int app,
                         const char *value);

/* The state the peers hold for our own address under another host id
 * (opts.hide_self only): a deep copy into *out (bs_gossip_ep_clear it),
 * or BS_ENOTFOUND while none arrived.  Any thread. */
int bs_gossip_shadow(bs_gossip *g, bs_gossip_ep *out);
/* Ends opts.hide_self: from the next round on, our state is gossiped like
 * any other.  Any thread; set_local calls made before it have been
 * applied once a bs_msg_call_sync after them returned. */
void bs_gossip_unhide(bs_gossip *g);

/* One endpoint as seen now. */
typedef struct bs_gossip_view {
    bs_gossip_ep st; /* owned copy */
    int is_self;
    int alive;
    double phi;
} bs_gossip_view;

/* Copies every known endpoint (self first).  Any thread.  *out malloc'd;
 * free with bs_gossip_views_free. */
int bs_gossip_snapshot(bs_gossip *g, bs_gossip_view **out, size_t *n);
void bs_gossip_views_free(bs_gossip_view *v, size_t n);
/* Up/down of one endpoint: 1 alive, 0 down, BS_ENOTFOUND unknown. */
int bs_gossip_is_alive(bs_gossip *g, const bs_msg_peer *ep);
/* The same by HOST_ID (text, any case); nothing is copied (the
 * coordinator asks it for every replica of every request). */
int bs_gossip_host_alive(bs_gossip *g, const char *host_id);

#endif
