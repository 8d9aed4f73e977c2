/*
 * cluster.c - membership, ring, peers, driver events and schema
 * propagation on top of gossip (see cluster.h).
 *
 * Joining a new cluster: on its first start (bs_local_needs_tokens) a
 * node gossips STATUS=BOOT without tokens, learns the ring from the seeds
 * and chooses balanced tokens for it (join.c), persists them and only
 * then announces TOKENS and STATUS=JOINING.  initial_token replaces only
 * the choice (the node waits and bootstraps the same way; a seed then
 * does not bootstrap), unless auto_bootstrap is false: then the first
 * start is NORMAL at once with those tokens, without any wait.
 * While JOINING it is in the future ring only (bs_cluster_future_ring:
 * coordinators send it the writes of its pending ranges) and the
 * bootstrap (node/topology.c) streams its ranges; it then announces
 * NORMAL.  A node decommissioning announces LEAVING (still a member, not
 * in the future ring) and finally LEFT.  A restart gossips a newer generation (persisted by
 * bs_local_next_generation) with the same host id and tokens.
 *
 * Membership: an endpoint is a member once gossip carries its HOST_ID,
 * TOKENS and STATUS=NORMAL.  On becoming a member it is announced to
 * drivers as TOPOLOGY_CHANGE NEW_NODE; STATUS LEFT announces
 * REMOVED_NODE; gossip UP/DOWN become STATUS_CHANGE UP/DOWN.  Events carry
 * the node's RPC_ADDRESS and NATIVE_PORT, which is how drivers name hosts.
 * Any change of a member's ring-relevant states rebuilds the ring
 * snapshot (published under `mu`, read by bs_cluster_ring()).
 *
 * Schema propagation: a DDL of this node's clients is applied locally
 * (node/local.c) and then handed to us (schema listener): we update our
 * SCHEMA gossip state and push the encoded schema (SCHEMA_PUSH, one-way)
 * to every live peer.  A node whose gossip shows a live peer with another
 * schema version pulls (SCHEMA_PULL request; answer = encoded schema)
 * from it, immediately on the gossip change and again every CHECK_MS
 * while versions differ.  Whatever arrives is merged with
 * bs_local_schema_merge (bs_schema_merge's deterministic rule), so nodes
 * that made concurrent changes converge to one version.  The merge writes
 * to the store on the messaging thread; schema changes are rare and
 * small, which keeps that acceptable for now.
 *
 * LOAD is the size of the node's SST files (bs_local_load_bytes), measured
 * at start and every LOAD_EVERY * CHECK_MS (a minute).
 */
#include "node/cluster/cluster.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "common/clock.h"
#include "common/error.h"
#include "common/log.h"
#include "common/secret.h"
#include "node/cluster/join.h"
#include "node/tls_setup.h"

#define LOG "cluster"
#define CHECK_MS 2000
#define PULL_TIMEOUT_MS 5000
#define RELEASE "4.0.11"
#define LOAD_EVERY 30 /* checks (CHECK_MS) between LOAD updates */

typedef struct member {
    bs_msg_peer ep;
    int announced; /* NEW_NODE sent */
    int pulling;   /* a SCHEMA_PULL in flight */
} member;

struct bs_cluster {
    const bs_config *cfg;
    bs_local *node;
    bs_msg *msg;
    bs_gossip *gossip;
    bs_cluster_event_fn events;
    void *events_ud;
    bs_msg_peer self;
    bs_uuid host_id;
    /* loop thread only */
    member *members;
    size_t nmembers;
    uv_timer_t timer;
    int timer_live;
    unsigned ticks;
    bs_uuid *removed; /* host ids seen LEFT: never members again (written
                         on the loop thread under mu) */
    size_t nremoved;
    char *saved_peers;     /* as last saved (bs_local_save_peers) */
    bs_msg_peer *contacts; /* the saved members at start */
    size_t ncontacts;
    /* shared */
    pthread_mutex_t mu;
    bs_ring_snapshot *ring;
    /* internode TLS (server_encryption_options); NULL: none */
    bs_tls_ctx *tls_server, *tls_client;
    _Atomic(bs_gossip *) tls_gossip; /* c->gossip, once started */
    bs_ring_snapshot *future; /* NULL: no topology change in progress */
};

/* bs_msg_opts.tls_needed for internode_encryption dc/rack: encrypt the
 * connection unless gossip knows the peer to be in our data center (dc)
 * or our rack (rack).  An inbound plaintext connection is refused only
 * when the peer is known to be elsewhere (a node we have not heard of yet
 * proves the cluster secret all the same). */
static int tls_needed(void *ud, const bs_msg_peer *peer, int inbound) {
    bs_cluster *c = ud;
    bs_internode_encryption mode = c->cfg->internode_encryption;
    if (mode == BS_INTERNODE_ENC_ALL) return 1;
    if (mode == BS_INTERNODE_ENC_NONE || !peer) return 0;
    bs_gossip *g = atomic_load(&c->tls_gossip);
    bs_gossip_view *v = NULL;
    size_t n = 0;
    int known = 0, elsewhere = 0;
    if (g && bs_gossip_snapshot(g, &v, &n) == 0) {
        for (size_t i = 0; i < n && !known; i++) {
            const bs_gossip_ep *e = &v[i].st;
            const char *dc = e->app[BS_GS_DC].value, *rack = e->app[BS_GS_RACK].value;
            if (strcmp(e->ep.addr, peer->addr) != 0 || !dc || !rack) continue;
            known = 1;
            elsewhere = strcmp(dc, c->cfg->dc) != 0 ||
                        (mode == BS_INTERNODE_ENC_RACK && strcmp(rack, c->cfg->rack) != 0);
        }
        bs_gossip_views_free(v, n);
    }
    return known ? elsewhere : !inbound;
}

/* bs_msg_opts.peer_remote_dc: 1 when gossip puts peer in another DC,
 * 0 in ours, -1 not known yet (the cross-DC counters of /metrics). */
static int peer_remote_dc(void *ud, const bs_msg_peer *peer) {
    bs_cluster *c = ud;
    bs_gossip *g = atomic_load(&c->tls_gossip);
    bs_gossip_view *v = NULL;
    size_t n = 0;
    int r = -1;
    if (g && bs_gossip_snapshot(g, &v, &n) == 0) {
        for (size_t i = 0; i < n && r < 0; i++) {
            const bs_gossip_ep *e = &v[i].st;
            const char *dc = e->app[BS_GS_DC].value;
            if (dc && bs_msg_peer_equal(&e->ep, peer)) r = strcmp(dc, c->cfg->dc) != 0;
        }
        bs_gossip_views_free(v, n);
    }
    return r;
}

/* Internode TLS contexts (server_encryption_options), the peers' DC
 * classifier and internode_compression into mo. */
static int tls_setup(bs_cluster *c, bs_msg_opts *mo, char *err, size_t errlen) {
    int rc = bs_node_tls_ctx(c->cfg, BS_NODE_TLS_INTERNODE_SERVER, &c->tls_server, err, errlen);
    if (!rc)
        rc = bs_node_tls_ctx(c->cfg, BS_NODE_TLS_INTERNODE_CLIENT, &c->tls_client, err, errlen);
    mo->tls_server = c->tls_server;
    mo->tls_client = c->tls_client;
    mo->tls_needed = tls_needed;
    mo->tls_ud = c;
    mo->peer_remote_dc = peer_remote_dc;
    mo->peer_dc_ud = c;
    /* internode_compression: frames of 256 bytes or more, to every peer
     * (all), to peers in other DCs (dc), or none */
    mo->compress_threshold = 256;
    mo->compression = c->cfg->internode_compression == BS_INTERNODE_COMP_ALL ? BS_MSG_COMPRESS_ALL
                      : c->cfg->internode_compression == BS_INTERNODE_COMP_NONE
                          ? BS_MSG_COMPRESS_NONE
                          : BS_MSG_COMPRESS_DC;
    return rc;
}

/* ---- helpers --------------------------------------------------------------
 */

static void schema_version_text(bs_local *node, char out[BS_UUID_STRLEN + 1]) {
    bs_schema *s = bs_local_schema(node);
    bs_uuid v;
    bs_schema_version(s, &v);
    bs_schema_release(s);
    bs_uuid_format(&v, out);
}

/* Parses "t1,t2,..." into a malloc'd array.  0 or BS_ECORRUPT/BS_ENOMEM. */
static int parse_tokens(const char *s, int64_t **out, size_t *n) {
    *out = NULL;
    *n = 0;
    if (!s || !*s) return 0;
    size_t cap = 1;
    for (const char *p = s; *p; p++)
        cap += *p == ',';
    int64_t *t = calloc(cap, sizeof *t);
    if (!t) return BS_ENOMEM;
    size_t k = 0;
    const char *p = s;
    while (*p) {
        char *end;
        errno = 0;
        long long v = strtoll(p, &end, 10);
        if (end == p || errno || (*end && *end != ',') || k >= cap) {
            free(t);
            return BS_ECORRUPT;
        }
        t[k++] = (int64_t)v;
        p = *end ? end + 1 : end;
    }
    *out = t;
    *n = k;
    return 0;
}

/* STATUS of an endpoint, "" when it has none. */
static const char *status_of(const bs_gossip_ep *e) {
    const char *st = e->app[BS_GS_STATUS].value;
    return st ? st : "";
}

/* A member of the current ring: NORMAL, or LEAVING (it replicates its
 * ranges until it has streamed them away and announced LEFT). */
static int is_member(const bs_gossip_ep *e) {
    const char *st = status_of(e);
    return (strcmp(st, "NORMAL") == 0 || strcmp(st, "LEAVING") == 0) &&
           e->app[BS_GS_HOST_ID].value && e->app[BS_GS_TOKENS].value;
}

/* A node bootstrapping with its tokens: in the future ring only. */
static int is_joining(const bs_gossip_ep *e) {
    return strcmp(status_of(e), "JOINING") == 0 &&
           e->app[BS_GS_HOST_ID].value && e->app[BS_GS_TOKENS].value;
}

/* Replacement at the same address: gossip has one state per address, so
 * the dead node's state is gone once its replacement gossips.  The
 * replacement, JOINING with the dead node's tokens, names it in
 * REPLACING; until it is NORMAL the current ring keeps the dead node's
 * host id at those tokens (down: nobody is alive under that host id, so
 * no read goes to the replacement, whose data is still streaming) and the
 * future ring has the replacement's.  The dead host id, or NULL. */
static const char *replaced_host(const bs_gossip_ep *e) {
    const char *r = e->app[BS_GS_REPLACING].value;
    return is_joining(e) && r && r[0] ? r : NULL;
}

static member *find_member(bs_cluster *c, const bs_msg_peer *p, int create) {
    for (size_t i = 0; i < c->nmembers; i++)
        if (bs_msg_peer_equal(&c->members[i].ep, p)) return &c->members[i];
    if (!create) return NULL;
    member *nm = realloc(c->members, (c->nmembers + 1) * sizeof *nm);
    if (!nm) return NULL;
    c->members = nm;
    member *m = &nm[c->nmembers++];
    memset(m, 0, sizeof *m);
    m->ep = *p;
    return m;
}

static void send_event(bs_cluster *c, const char *type, const char *change,
                       const bs_gossip_ep *e) {
    if (!c->events) return;
    const char *rpc = e->app[BS_GS_RPC_ADDRESS].value;
    const char *port = e->app[BS_GS_NATIVE_PORT].value;
    if (!rpc || !port) return;
    bs_proto_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = bs_proto_cstr(type);
    ev.change = bs_proto_cstr(change);
    if (inet_pton(AF_INET, rpc, ev.addr.addr) == 1)
        ev.addr.addr_len = 4;
    else if (inet_pton(AF_INET6, rpc, ev.addr.addr) == 1)
        ev.addr.addr_len = 16;
    else
        return;
    ev.addr.port = atoi(port);
    c->events(c->events_ud, &ev);
}

/* ---- ring ------------------------------------------------------------------
 */

/* Adds endpoint e to b.  0, or an error (logged) that leaves it out. */
/* Tokens already in the ring being built (sorted): a token two members
 * announce goes to the first, in host id order (every node builds the
 * same ring), instead of failing the whole build.  Two seeds that found
 * an empty ring at the same moment took identical tokens that way. */
typedef struct claimed {
    int64_t *t;
    size_t n;
} claimed;

static int cmp_tok(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static size_t drop_claimed(claimed *c, int64_t *toks, size_t n) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (!c->n || !bsearch(&toks[i], c->t, c->n, sizeof *c->t, cmp_tok)) toks[k++] = toks[i];
    int64_t *nt = realloc(c->t, (c->n + k + 1) * sizeof *nt);
    if (nt) {
        memcpy(nt + c->n, toks, k * sizeof *nt);
        c->t = nt;
        c->n += k;
        qsort(c->t, c->n, sizeof *c->t, cmp_tok);
    }
    return n - k;
}

static int add_to_ring(bs_ring_builder *b, const bs_gossip_ep *e, int future,
                       claimed *cl) {
    bs_ring_node_desc d;
    memset(&d, 0, sizeof d);
    const char *hid = future ? NULL : replaced_host(e);
    if (!hid) hid = e->app[BS_GS_HOST_ID].value;
    if (bs_uuid_parse(hid, strlen(hid), &d.host_id)) return BS_ECORRUPT;
    char epname[BS_MSG_ADDRLEN + 8];
    snprintf(epname, sizeof epname, "%s:%u", e->ep.addr, e->ep.port);
    d.endpoint = epname;
    d.dc = e->app[BS_GS_DC].value ? e->app[BS_GS_DC].value : "dc1";
    d.rack = e->app[BS_GS_RACK].value ? e->app[BS_GS_RACK].value : "rack1";
    int64_t *toks = NULL;
    int rc = parse_tokens(e->app[BS_GS_TOKENS].value, &toks, &d.ntokens);
    if (rc) return rc;
    size_t dup = drop_claimed(cl, toks, d.ntokens);
    if (dup) {
        static _Atomic unsigned warned;
        if (atomic_fetch_add(&warned, 1) < 20)
            BS_WARN(LOG, "endpoint %s announces %zu token(s) another member (smaller host "
                    "id) holds: they stay with that member", epname, dup);
        d.ntokens -= dup;
    }
    d.tokens = toks;
    rc = d.ntokens ? bs_ring_builder_add_node(b, &d) : BS_EEXIST;
    if (rc && rc != BS_EEXIST)
        BS_WARN(LOG, "endpoint %s left out of the ring: %s", epname,
                bs_strerror(rc));
    free(toks);
    return rc;
}

static int cmp_host_id(const void *a, const void *b) {
    const bs_gossip_ep *x = *(const bs_gossip_ep *const *)a, *y = *(const bs_gossip_ep *const *)b;
    return strcasecmp(x->app[BS_GS_HOST_ID].value, y->app[BS_GS_HOST_ID].value);
}

/* The current ring's entries sorted by the host id they stand for. */
static int cmp_current_host_id(const void *a, const void *b) {
    const bs_gossip_ep *x = *(const bs_gossip_ep *const *)a, *y = *(const bs_gossip_ep *const *)b;
    const char *hx = replaced_host(x), *hy = replaced_host(y);
    return strcasecmp(hx ? hx : x->app[BS_GS_HOST_ID].value,
                      hy ? hy : y->app[BS_GS_HOST_ID].value);
}

/* The ring of the members (future 0) or the ring once every topology
 * change in progress completed (future 1: members that are not LEAVING
 * plus JOINING nodes).  *changes counts the JOINING and LEAVING nodes. */
static int build_ring(const bs_gossip_view *v, size_t n, int future,
                      bs_ring_snapshot **out, int *changes) {
    bs_ring_builder *b;
    *out = NULL;
    if (bs_ring_builder_new(&b)) return BS_ENOMEM;
    int k = 0;
    const bs_gossip_ep **in = calloc(n ? n : 1, sizeof *in);
    size_t m = 0;
    if (!in) {
        bs_ring_builder_free(b);
        return BS_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        const bs_gossip_ep *e = &v[i].st;
        int leaving = strcmp(status_of(e), "LEAVING") == 0;
        int joining = is_joining(e);
        k += leaving || joining;
        if (future ? (joining || (is_member(e) && !leaving))
                   : (is_member(e) || replaced_host(e)))
            in[m++] = e;
    }
    qsort(in, m, sizeof *in, future ? cmp_host_id : cmp_current_host_id);
    claimed cl = {NULL, 0};
    for (size_t i = 0; i < m; i++) add_to_ring(b, in[i], future, &cl);
    free(cl.t);
    free(in);
    int rc = bs_ring_builder_build(b, out);
    bs_ring_builder_free(b);
    if (changes) *changes = k;
    return rc;
}

/* <data_directory>/removed_hosts: one host id per line, every node seen
 * LEFT (appended and fsynced when first seen), so that a removed node is
 * refused even after every node that saw it leave restarted. */
static void removed_path(const bs_cluster *c, char *out, size_t cap) {
    snprintf(out, cap, "%s/removed_hosts", c->cfg->data_directory);
}

static int add_removed(bs_cluster *c, const bs_uuid *h) {
    pthread_mutex_lock(&c->mu);
    bs_uuid *nr = realloc(c->removed, (c->nremoved + 1) * sizeof *nr);
    if (nr) {
        c->removed = nr;
        c->removed[c->nremoved++] = *h;
    }
    pthread_mutex_unlock(&c->mu);
    return nr ? 0 : BS_ENOMEM;
}

int bs_cluster_is_removed(bs_cluster *c, const bs_uuid *host) {
    int found = 0;
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < c->nremoved && !found; i++)
        found = !memcmp(c->removed[i].b, host->b, 16);
    pthread_mutex_unlock(&c->mu);
    return found;
}

static void load_removed(bs_cluster *c) {
    char path[4200], line[128];
    removed_path(c, path, sizeof path);
    FILE *f = fopen(path, "r");
    if (!f) return;
    while (fgets(line, sizeof line, f)) {
        bs_uuid h;
        size_t n = strcspn(line, "\r\n");
        if (n && !bs_uuid_parse(line, n, &h) && add_removed(c, &h)) break;
    }
    fclose(f);
    if (c->nremoved)
        BS_INFO(LOG, "%zu removed host ids loaded from %s: those nodes stay out "
                "of the ring", c->nremoved, path);
}

static void save_removed(bs_cluster *c, const bs_uuid *h) {
    char path[4200], line[BS_UUID_STRLEN + 2];
    removed_path(c, path, sizeof path);
    bs_uuid_format(h, line);
    size_t n = strlen(line);
    line[n++] = '\n';
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    int ok = fd >= 0 && write(fd, line, n) == (ssize_t)n && fsync(fd) == 0;
    if (fd >= 0) close(fd);
    if (!ok)
        BS_WARN(LOG, "cannot record removed host %.36s in %s: %s (it is "
                "remembered until this node restarts)", line, path, strerror(errno));
}

/* Remembers the host ids of LEFT endpoints (loop thread) and clears the
 * STATUS of every endpoint whose host id left, so that a removed node
 * that comes back with a new generation is not a member again. */
static void note_removed(bs_cluster *c, bs_gossip_view *v, size_t n) {
    for (size_t i = 0; i < n; i++) {
        const bs_gossip_ep *e = &v[i].st;
        bs_uuid h;
        const char *hid = e->app[BS_GS_HOST_ID].value;
        if (!hid || bs_uuid_parse(hid, strlen(hid), &h)) continue;
        int known = 0;
        for (size_t j = 0; j < c->nremoved && !known; j++)
            known = !memcmp(c->removed[j].b, h.b, 16);
        if (!known && !strcmp(status_of(e), "LEFT") && !v[i].is_self) {
            if (add_removed(c, &h)) continue;
            save_removed(c, &h);
            known = 1;
        }
        if (known && strcmp(status_of(e), "LEFT")) {
            BS_WARN(LOG, "node %s (host %s) was removed from the ring: it "
                    "stays out (empty its data directory to add it again)",
                    e->ep.addr, hid);
            bs_gossip_ep_set(&v[i].st, BS_GS_STATUS, "LEFT",
                             v[i].st.app[BS_GS_STATUS].version);
        }
    }
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Saves the other members' addresses when they changed (loop thread), so
 * that a restart contacts them at once (bs_local_saved_peers). */
static void save_peers(bs_cluster *c, const bs_gossip_view *v, size_t n) {
    char **names = calloc(n ? n : 1, sizeof *names);
    size_t k = 0;
    if (!names) return;
    for (size_t i = 0; i < n; i++) {
        if (v[i].is_self || !is_member(&v[i].st)) continue;
        char s[BS_MSG_ADDRLEN + 8];
        snprintf(s, sizeof s, "%s:%u", v[i].st.ep.addr, v[i].st.ep.port);
        if (!(names[k] = strdup(s))) break;
        k++;
    }
    qsort(names, k, sizeof *names, cmp_str);
    bs_buf b = BS_BUF_INIT;
    for (size_t i = 0; i < k; i++) bs_buf_appendf(&b, "%s%s", i ? "," : "", names[i]);
    bs_buf_append_u8(&b, 0);
    const char *now = b.data ? (const char *)b.data : "";
    if (k && (!c->saved_peers || strcmp(c->saved_peers, now))) {
        char *dup = strdup(now);
        if (dup && bs_local_save_peers(c->node, now) == 0) {
            free(c->saved_peers);
            c->saved_peers = dup;
        } else {
            free(dup);
        }
    }
    bs_buf_free(&b);
    for (size_t i = 0; i < k; i++) free(names[i]);
    free(names);
}

size_t bs_cluster_unmet_peers(bs_cluster *c, size_t *total) {
    if (total) *total = c->ncontacts;
    bs_gossip_view *v;
    size_t n, unmet = 0;
    if (!c->ncontacts || bs_gossip_snapshot(c->gossip, &v, &n)) return c->ncontacts;
    for (size_t i = 0; i < c->ncontacts; i++) {
        int met = 0;
        for (size_t j = 0; j < n && !met; j++)
            met = bs_msg_peer_equal(&v[j].st.ep, &c->contacts[i]) &&
                  v[j].st.app[BS_GS_HOST_ID].value;
        unmet += !met;
    }
    bs_gossip_views_free(v, n);
    return unmet;
}

/* The saved members as peers (addr:port list); NULL/0 when none. */
static void load_contacts(bs_cluster *c) {
    char *list = bs_local_saved_peers(c->node);
    if (!list) return;
    c->saved_peers = strdup(list);
    size_t cap = 1;
    for (const char *p = list; *p; p++) cap += *p == ',';
    c->contacts = calloc(cap, sizeof *c->contacts);
    for (char *save = NULL, *t = strtok_r(list, ",", &save); t && c->contacts;
         t = strtok_r(NULL, ",", &save)) {
        char *colon = strrchr(t, ':');
        if (!colon) continue;
        *colon = 0;
        long port = strtol(colon + 1, NULL, 10);
        if (port <= 0 || port > 65535 ||
            bs_msg_peer_set(&c->contacts[c->ncontacts], t, (uint16_t)port))
            continue;
        if (!bs_msg_peer_equal(&c->contacts[c->ncontacts], &c->self)) c->ncontacts++;
    }
    free(list);
    if (c->ncontacts)
        BS_INFO(LOG, "%zu member(s) known from the last run: contacting them", c->ncontacts);
}

static void rebuild_ring(bs_cluster *c) {
    bs_gossip_view *v;
    size_t n;
    if (bs_gossip_snapshot(c->gossip, &v, &n)) return;
    note_removed(c, v, n);
    save_peers(c, v, n);
    bs_ring_snapshot *snap = NULL, *fut = NULL;
    int changes = 0;
    int rc = build_ring(v, n, 0, &snap, &changes);
    if (!rc && changes) rc = build_ring(v, n, 1, &fut, NULL);
    bs_gossip_views_free(v, n);
    if (rc) {
        BS_WARN(LOG, "cannot build the ring: %s (keeping the previous one)",
                bs_strerror(rc));
        if (snap) bs_ring_snapshot_release(snap);
        return;
    }
    pthread_mutex_lock(&c->mu);
    bs_ring_snapshot *old = c->ring, *oldf = c->future;
    c->ring = snap;
    c->future = fut;
    pthread_mutex_unlock(&c->mu);
    if (old) bs_ring_snapshot_release(old);
    if (oldf) bs_ring_snapshot_release(oldf);
}

bs_ring_snapshot *bs_cluster_future_ring(bs_cluster *c) {
    pthread_mutex_lock(&c->mu);
    bs_ring_snapshot *s = c->future ? bs_ring_snapshot_retain(c->future) : NULL;
    pthread_mutex_unlock(&c->mu);
    return s;
}

bs_ring_snapshot *bs_cluster_ring(bs_cluster *c) {
    pthread_mutex_lock(&c->mu);
    bs_ring_snapshot *s = c->ring ? bs_ring_snapshot_retain(c->ring) : NULL;
    pthread_mutex_unlock(&c->mu);
    return s;
}

int bs_cluster_is_alive(bs_cluster *c, const bs_uuid *host_id) {
    if (memcmp(host_id->b, c->host_id.b, 16) == 0) return 1;
    char want[BS_UUID_STRLEN + 1];
    bs_uuid_format(host_id, want);
    return bs_gossip_host_alive(c->gossip, want);
}

/* ---- schema propagation
 * ------------------------------------------------------ */

static void announce_schema(bs_cluster *c) {
    char ver[BS_UUID_STRLEN + 1];
    schema_version_text(c->node, ver);
    bs_gossip_set_local(c->gossip, BS_GS_SCHEMA, ver);
}

static void merge_schema(bs_cluster *c, const bs_msg_peer *from,
                         const uint8_t *p, size_t len) {
    char err[256] = "";
    int changed = 0;
    int rc = bs_local_schema_merge(c->node, p, len, &changed, err, sizeof err);
    if (rc) {
        BS_WARN(LOG, "schema from %s:%u rejected: %s", from->addr, from->port,
                err);
        return;
    }
    if (changed) {
        char ver[BS_UUID_STRLEN + 1];
        schema_version_text(c->node, ver);
        BS_INFO(LOG, "merged schema from %s:%u: now version %s", from->addr,
                from->port, ver);
        announce_schema(c);
    }
}

typedef struct pull_ctx {
    bs_cluster *c;
    bs_msg_peer ep;
} pull_ctx;

static void on_pulled(void *ud, int status, const uint8_t *p, size_t len) {
    pull_ctx *x = ud;
    bs_cluster *c = x->c;
    member *m = find_member(c, &x->ep, 0);
    if (m) m->pulling = 0;
    if (status == 0)
        merge_schema(c, &x->ep, p, len);
    else if (status != BS_ECLOSED)
        BS_DEBUG(LOG, "schema pull from %s:%u failed: %s", x->ep.addr,
                 x->ep.port, bs_strerror(status));
    free(x);
}

static void pull_schema(bs_cluster *c, const bs_msg_peer *ep) {
    member *m = find_member(c, ep, 1);
    if (!m || m->pulling) return;
    pull_ctx *x = malloc(sizeof *x);
    if (!x) return;
    x->c = c;
    x->ep = *ep;
    m->pulling = 1;
    BS_DEBUG(LOG, "pulling schema from %s:%u", ep->addr, ep->port);
    if (bs_msg_send(c->msg, ep, BS_VERB_SCHEMA_PULL, NULL, 0, PULL_TIMEOUT_MS,
                    on_pulled, x)) {
        m->pulling = 0;
        free(x);
    }
}

/* Pulls from every live peer whose gossiped schema differs from ours. */
static void check_schemas(bs_cluster *c) {
    char ver[BS_UUID_STRLEN + 1];
    schema_version_text(c->node, ver);
    bs_gossip_view *v;
    size_t n;
    if (bs_gossip_snapshot(c->gossip, &v, &n)) return;
    for (size_t i = 0; i < n; i++) {
        if (v[i].is_self || !v[i].alive) continue;
        const char *s = v[i].st.app[BS_GS_SCHEMA].value;
        if (s && strcasecmp(s, ver) != 0) pull_schema(c, &v[i].st.ep);
    }
    bs_gossip_views_free(v, n);
}

/* LOAD: the bytes of the node's SST files (bs_local_load_bytes), what
 * its own status row, `info` and basalt_load_bytes show, and what
 * Cassandra's Load counts (live SSTables; not the memtables or the WAL). */
static void update_load(bs_cluster *c) {
    char v[32];
    snprintf(v, sizeof v, "%" PRId64, bs_local_load_bytes(c->node));
    bs_gossip_set_local(c->gossip, BS_GS_LOAD, v);
}

static void on_check(uv_timer_t *t) {
    bs_cluster *c = t->data;
    check_schemas(c);
    if (c->ticks++ % LOAD_EVERY == 0) update_load(c);
}

static void h_push(void *ud, bs_msg *m, const bs_msg_in *in) {
    (void)m;
    merge_schema(ud, &in->from, in->payload, in->len);
}

static void h_pull(void *ud, bs_msg *m, const bs_msg_in *in) {
    bs_cluster *c = ud;
    bs_schema *s = bs_local_schema(c->node);
    bs_buf b = BS_BUF_INIT;
    int rc = bs_schema_encode(s, &b);
    bs_schema_release(s);
    if (rc)
        bs_msg_reply(m, in, rc, NULL, 0);
    else
        bs_msg_reply(m, in, 0, b.data, b.len);
    bs_buf_free(&b);
}

typedef struct push_ctx {
    bs_cluster *c;
    uint8_t *data;
    size_t len;
} push_ctx;

/* Loop thread: push to every live peer. */
static void push_on_loop(void *ud) {
    push_ctx *x = ud;
    bs_cluster *c = x->c;
    announce_schema(c);
    bs_gossip_view *v;
    size_t n;
    if (bs_gossip_snapshot(c->gossip, &v, &n) == 0) {
        for (size_t i = 0; i < n; i++)
            if (!v[i].is_self && v[i].alive)
                bs_msg_send(c->msg, &v[i].st.ep, BS_VERB_SCHEMA_PUSH, x->data,
                            x->len, PULL_TIMEOUT_MS, NULL, NULL);
        bs_gossip_views_free(v, n);
    }
    free(x->data);
    free(x);
}

/* Any thread (a CQL worker after a DDL). */
static void on_local_ddl(void *ud, const bs_schema *s) {
    bs_cluster *c = ud;
    push_ctx *x = calloc(1, sizeof *x);
    if (!x) return;
    bs_buf b = BS_BUF_INIT;
    if (bs_schema_encode(s, &b)) {
        bs_buf_free(&b);
        free(x);
        return;
    }
    x->c = c;
    x->data = bs_buf_steal(&b, &x->len);
    if (bs_msg_call(c->msg, push_on_loop, x)) {
        free(x->data);
        free(x);
    }
}

/* ---- gossip events
 * ------------------------------------------------------------ */

static void on_gossip(void *ud, bs_gossip_event ev, const bs_gossip_ep *e,
                      uint32_t changed) {
    bs_cluster *c = ud;
    if (bs_msg_peer_equal(&e->ep, &c->self)) return;
    member *m = find_member(c, &e->ep, 1);
    uint32_t ring_bits = (1u << BS_GS_STATUS) | (1u << BS_GS_TOKENS) |
                         (1u << BS_GS_DC) | (1u << BS_GS_RACK) |
                         (1u << BS_GS_HOST_ID);
    switch (ev) {
    case BS_GOSSIP_EV_JOIN:
    case BS_GOSSIP_EV_CHANGE:
    case BS_GOSSIP_EV_RESTART:
        if (changed & ring_bits) rebuild_ring(c);
        if (m && !m->announced && is_member(e)) {
            m->announced = 1;
            BS_INFO(LOG, "node %s:%u (host %s) joined the ring", e->ep.addr,
                    e->ep.port, e->app[BS_GS_HOST_ID].value);
            send_event(c, "TOPOLOGY_CHANGE", "NEW_NODE", e);
        } else if (m && m->announced && e->app[BS_GS_STATUS].value &&
                   strcmp(e->app[BS_GS_STATUS].value, "LEFT") == 0) {
            m->announced = 0;
            send_event(c, "TOPOLOGY_CHANGE", "REMOVED_NODE", e);
        }
        if (changed & (1u << BS_GS_SCHEMA)) check_schemas(c);
        break;
    case BS_GOSSIP_EV_ALIVE:
        send_event(c, "STATUS_CHANGE", "UP", e);
        check_schemas(c);
        break;
    case BS_GOSSIP_EV_DEAD: send_event(c, "STATUS_CHANGE", "DOWN", e); break;
    }
}

/* ---- peers for system.peers
 * ------------------------------------------------------ */

static int peers_fn(void *ud, bs_arena *a, bs_exec_node **out, size_t *nout) {
    bs_cluster *c = ud;
    *out = NULL;
    *nout = 0;
    bs_gossip_view *v;
    size_t n;
    int rc = bs_gossip_snapshot(c->gossip, &v, &n);
    if (rc) return rc;
    bs_exec_node *p = n ? bs_arena_calloc(a, n * sizeof *p) : NULL;
    size_t k = 0;
    for (size_t i = 0; p && i < n; i++) {
        const bs_gossip_ep *e = &v[i].st;
        if (v[i].is_self || !e->app[BS_GS_HOST_ID].value ||
            !e->app[BS_GS_TOKENS].value || !e->app[BS_GS_RPC_ADDRESS].value)
            continue;
        if (!is_member(e)) continue; /* joining nodes are no replicas yet */
        bs_exec_node *x = &p[k];
        if (bs_uuid_parse(e->app[BS_GS_HOST_ID].value,
                          strlen(e->app[BS_GS_HOST_ID].value), &x->host_id) ||
            bs_cluster_is_removed(c, &x->host_id))
            continue;
        const char *sv = e->app[BS_GS_SCHEMA].value;
        if (sv) bs_uuid_parse(sv, strlen(sv), &x->schema_version);
        int64_t *toks = NULL;
        size_t nt = 0;
        if (parse_tokens(e->app[BS_GS_TOKENS].value, &toks, &nt)) continue;
        int64_t *at = nt ? bs_arena_alloc(a, nt * sizeof *at) : NULL;
        if (nt && !at) {
            free(toks);
            rc = BS_ENOMEM;
            break;
        }
        if (nt) memcpy(at, toks, nt * sizeof *at);
        free(toks);
        x->tokens = at;
        x->ntokens = nt;
#define DUP(s) bs_arena_strndup(a, (s), strlen(s))
        x->address = DUP(e->ep.addr);
        x->rpc_address = DUP(e->app[BS_GS_RPC_ADDRESS].value);
        x->dc = DUP(e->app[BS_GS_DC].value ? e->app[BS_GS_DC].value : "dc1");
        x->rack =
            DUP(e->app[BS_GS_RACK].value ? e->app[BS_GS_RACK].value : "rack1");
        x->release_version = DUP(e->app[BS_GS_RELEASE_VERSION].value
                                     ? e->app[BS_GS_RELEASE_VERSION].value
                                     : RELEASE);
#undef DUP
        x->native_port = e->app[BS_GS_NATIVE_PORT].value
                             ? atoi(e->app[BS_GS_NATIVE_PORT].value)
                             : 9042;
        x->storage_port = e->ep.port;
        x->up = v[i].alive;
        if (!x->address || !x->rpc_address || !x->dc || !x->rack ||
            !x->release_version) {
            rc = BS_ENOMEM;
            break;
        }
        k++;
    }
    if (n && !p) rc = BS_ENOMEM;
    bs_gossip_views_free(v, n);
    if (rc) return rc;
    *out = p;
    *nout = k;
    return 0;
}

/* ---- lifecycle
 * ------------------------------------------------------------------- */

static void start_timer(void *ud) {
    bs_cluster *c = ud;
    uv_timer_init((uv_loop_t *)bs_msg_loop(c->msg), &c->timer);
    c->timer.data = c;
    uv_timer_start(&c->timer, on_check, 0, CHECK_MS);
    c->timer_live = 1;
}

static void on_timer_closed(uv_handle_t *h) {
    (void)h;
}

static void stop_timer(void *ud) {
    bs_cluster *c = ud;
    if (c->timer_live) {
        uv_close((uv_handle_t *)&c->timer, on_timer_closed);
        c->timer_live = 0;
    }
    bs_msg_register(c->msg, BS_VERB_SCHEMA_PUSH, NULL, NULL);
    bs_msg_register(c->msg, BS_VERB_SCHEMA_PULL, NULL, NULL);
}

static void noop(void *ud) {
    (void)ud;
}

static void rebuild_on_loop(void *ud) {
    rebuild_ring(ud);
}

static bs_ring_snapshot *ring_of(void *ud) {
    return bs_cluster_ring(ud);
}

/* <data_directory>/replacing_host: the host id a same-address
 * replacement names in REPLACING (see replaced_host), written (fsynced)
 * before it is gossiped and removed once NORMAL, so that a replacement
 * restarted in the middle of its bootstrap names it again. */
static void replacing_path(const bs_cluster *c, char *out, size_t cap) {
    snprintf(out, cap, "%s/replacing_host", c->cfg->data_directory);
}

static int save_replacing(const bs_cluster *c, const char *host) {
    char path[4200];
    replacing_path(c, path, sizeof path);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return BS_EIO;
    size_t len = strlen(host);
    int rc = write(fd, host, len) == (ssize_t)len && fsync(fd) == 0 ? 0 : BS_EIO;
    close(fd);
    return rc;
}

/* The saved host id into out (BS_UUID_STRLEN + 1), or 0 when none. */
static int load_replacing(const bs_cluster *c, char *out) {
    char path[4200];
    replacing_path(c, path, sizeof path);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    size_t n = fread(out, 1, BS_UUID_STRLEN, f);
    fclose(f);
    out[n] = 0;
    bs_uuid h;
    if (n == BS_UUID_STRLEN && !bs_uuid_parse(out, n, &h)) return 1;
    BS_WARN(LOG, "%s does not hold a host id: ignored", path);
    return 0;
}

static int replace_same_address(bs_cluster *c, int64_t **t, size_t *n,
                                char *err, size_t errlen);

/* replace_address_first_boot: waits (at most 60 s) until gossip has
 * shown the node at that address as a member for 3 s without it being
 * alive, then takes its tokens and announces it LEAVING on its behalf
 * (so the future ring has this node in its place).  0 or an error with a
 * message.  Our own address: replace_same_address. */
static int replace_tokens(bs_cluster *c, int64_t **t, size_t *n, char *err,
                          size_t errlen) {
    const char *addr = c->cfg->replace_address_first_boot;
    if (!strcmp(addr, c->self.addr)) return replace_same_address(c, t, n, err, errlen);
    int64_t t0 = bs_clock_mono_ns(), seen = 0;
    for (;;) {
        int64_t now = bs_clock_mono_ns();
        bs_gossip_view *v;
        size_t nv;
        int found = 0, alive = 0;
        char *toks = NULL;
        bs_uuid host;
        if (bs_gossip_snapshot(c->gossip, &v, &nv) == 0) {
            for (size_t i = 0; i < nv; i++) {
                const bs_gossip_ep *e = &v[i].st;
                if (v[i].is_self || strcmp(e->ep.addr, addr) || !is_member(e)) continue;
                found = !bs_uuid_parse(e->app[BS_GS_HOST_ID].value,
                                       strlen(e->app[BS_GS_HOST_ID].value), &host);
                alive = v[i].alive;
                free(toks);
                toks = strdup(e->app[BS_GS_TOKENS].value);
            }
            bs_gossip_views_free(v, nv);
        }
        if (found && !toks) found = 0; /* out of memory: try again */
        if (found && alive) {
            free(toks);
            snprintf(err, errlen, "replace_address_first_boot: node %s is alive: "
                     "only a dead node can be replaced (stop it first)", addr);
            return BS_EBUSY;
        }
        seen = found ? (seen ? seen : now) : 0;
        if (seen && now - seen >= 3000000000LL) {
            int rc = parse_tokens(toks, t, n);
            free(toks);
            if (!rc) rc = bs_cluster_set_remote_status(c, &host, "LEAVING");
            if (rc) snprintf(err, errlen, "cannot take over the tokens of %s: %s",
                             addr, bs_strerror(rc));
            else BS_INFO(LOG, "replacing dead node %s: taking over its %zu tokens",
                         addr, *n);
            return rc;
        }
        free(toks);
        if ((now - t0) / 1000000 >= BS_JOIN_MAX_WAIT_MS) {
            snprintf(err, errlen, "replace_address_first_boot: no member at %s "
                     "in the ring learned from the seeds within %d s", addr,
                     BS_JOIN_MAX_WAIT_MS / 1000);
            return BS_ENOTFOUND;
        }
        struct timespec ts = {0, 100000000};
        nanosleep(&ts, NULL);
    }
}

/* replace_address_first_boot = our own address (a dead node comes back
 * with an empty data directory on the same address): gossip was started
 * hiding our state (bs_gossip_opts.hide_self), so the peers still hold
 * the dead node's and send it to us.  Waits (at most BS_JOIN_MAX_WAIT_MS)
 * for it, takes its tokens and names its host id in REPLACING (see
 * replaced_host).  It cannot be alive: we hold its address. */
static int replace_same_address(bs_cluster *c, int64_t **t, size_t *n,
                                char *err, size_t errlen) {
    int64_t t0 = bs_clock_mono_ns();
    *t = NULL;
    *n = 0;
    for (;;) {
        bs_gossip_ep e;
        if (bs_gossip_shadow(c->gossip, &e) == 0) {
            /* a replacement that failed before it was NORMAL: the node it
             * replaced is the one still in the current ring */
            const char *h = replaced_host(&e);
            int rc = is_member(&e) || h ? 0 : BS_EINVAL;
            bs_uuid host;
            if (!h) h = e.app[BS_GS_HOST_ID].value;
            if (!rc && bs_uuid_parse(h, strlen(h), &host)) rc = BS_ECORRUPT;
            if (!rc) rc = parse_tokens(e.app[BS_GS_TOKENS].value, t, n);
            if (!rc) rc = save_replacing(c, h);
            if (!rc) rc = bs_gossip_set_local(c->gossip, BS_GS_REPLACING, h);
            if (rc == BS_EINVAL)
                snprintf(err, errlen, "replace_address_first_boot: the node at "
                         "%s (host %s) is %s, not a member: nothing to replace",
                         c->self.addr, h, status_of(&e)[0] ? status_of(&e) : "unknown");
            else if (rc)
                snprintf(err, errlen, "cannot take over the tokens of %s: %s",
                         c->self.addr, bs_strerror(rc));
            else
                BS_INFO(LOG, "replacing dead node %s (host %s) at our own address: "
                        "taking over its %zu tokens", c->self.addr, h, *n);
            if (rc && *t) {
                free(*t);
                *t = NULL;
            }
            bs_gossip_ep_clear(&e);
            return rc;
        }
        if ((bs_clock_mono_ns() - t0) / 1000000 >= BS_JOIN_MAX_WAIT_MS) {
            snprintf(err, errlen, "replace_address_first_boot: no peer told us "
                     "the state of the node at our own address %s within %d s",
                     c->self.addr, BS_JOIN_MAX_WAIT_MS / 1000);
            return BS_ENOTFOUND;
        }
        struct timespec ts = {0, 100000000};
        nanosleep(&ts, NULL);
    }
}

/* First start: learn the ring, choose balanced tokens (or take
 * initial_token's, or a replaced node's), persist them, announce TOKENS
 * and then STATUS=JOINING, or NORMAL when there is nothing to bootstrap
 * (see join.h). */
static int join_ring(bs_cluster *c, int self_is_seed, int other_seeds,
                     char *err, size_t errlen) {
    int replacing = c->cfg->replace_address_first_boot &&
                    c->cfg->replace_address_first_boot[0];
    /* initial_token: the same wait and bootstrap with the operator's
     * tokens (a replacement takes the dead node's: they are ignored) */
    int fixed = !replacing && c->cfg->n_initial_tokens;
    if (replacing && c->cfg->n_initial_tokens)
        BS_WARN(LOG, "replace_address_first_boot is set: initial_token is "
                "ignored, this node takes the tokens of the node it replaces");
    bs__join_env je = {
        c->gossip, c->cfg, &c->host_id, self_is_seed, other_seeds, ring_of, c,
        fixed ? c->cfg->initial_tokens : NULL, fixed ? c->cfg->n_initial_tokens : 0};
    int64_t *t;
    size_t n;
    int rc = replacing ? replace_tokens(c, &t, &n, err, errlen)
                       : bs__join_choose_tokens(&je, &t, &n, err, errlen);
    if (rc) return rc;
    /* the node that founds the ring has nobody to stream from and nobody
     * coordinates for it: NORMAL at once, like a Cassandra seed (while
     * JOINING its own CQL clients got "the ring has no tokens") */
    bs_ring_snapshot *before = replacing ? NULL : ring_of(c);
    int founding = !replacing && (!before || !bs_ring_snapshot_node_count(before));
    if (before) bs_ring_snapshot_release(before);
    /* a seed given its tokens does not bootstrap, as in Cassandra (a seed
     * whose tokens are allocated still bootstraps into an existing ring:
     * Basalt's safer rule, kept - nobody configured that seed's tokens
     * with Cassandra's behaviour in mind) */
    int seed_skip = fixed && self_is_seed && !founding && c->cfg->auto_bootstrap;
    if (seed_skip)
        BS_WARN(LOG, "this node will not auto bootstrap because it is "
                "configured to be a seed node: NORMAL at once with its "
                "initial_token, streaming nothing - run repair on it to "
                "give it the data of its ranges");
    rc = bs_local_set_tokens(c->node, t, n);
    if (rc) {
        free(t);
        snprintf(err, errlen, "cannot persist the chosen tokens: %s",
                 bs_strerror(rc));
        return rc;
    }
    bs_buf tb = BS_BUF_INIT;
    for (size_t i = 0; i < n; i++)
        bs_buf_appendf(&tb, "%s%" PRId64, i ? "," : "", t[i]);
    bs_buf_append_u8(&tb, 0);
    free(t);
    rc = tb.data ? 0 : BS_ENOMEM;
    /* JOINING until the bootstrap (node/main.c) has streamed the ranges
     * this node gains; auto_bootstrap false, founding or a seed with
     * initial_token: NORMAL at once */
    if (!rc && (!c->cfg->auto_bootstrap || founding || seed_skip) && !replacing)
        rc = bs_local_set_bootstrapped(c->node);
    /* TOKENS and STATUS in one update: a peer never sees the tokens of a
     * node still in BOOT (it would take that for neither a waiter nor a
     * join under way) */
    if (!rc) {
        const int apps[2] = {BS_GS_TOKENS, BS_GS_STATUS};
        const char *vals[2] = {(const char *)tb.data,
                               bs_local_bootstrapping(c->node) ? "JOINING" : "NORMAL"};
        rc = bs_gossip_set_locals(c->gossip, 2, apps, vals);
    }
    bs_buf_free(&tb);
    if (rc) {
        snprintf(err, errlen, "cannot announce the chosen tokens: %s",
                 bs_strerror(rc));
        return rc;
    }
    /* bs_gossip_set_local runs on the messaging thread, in order: the
     * ring rebuilt after it there includes this node */
    bs_msg_call_sync(c->msg, rebuild_on_loop, c);
    /* a same-address replacement: every state set above is in place, so
     * the peers learn TOKENS, STATUS and REPLACING in one delta */
    bs_gossip_unhide(c->gossip);
    return 0;
}

/* The cluster secret (created in data_directory on first start when no
 * file is configured) and the internode messaging it authenticates.  0,
 * or an error with err filled. */
static int start_messaging(bs_cluster *c, char *err, size_t errlen) {
    const bs_config *cfg = c->cfg;
    int rc;
    /* the operator copies a created secret to the other nodes; a missing
     * configured file or an unsafe one stops start-up */
    char spath[4096], serr[600];
    uint8_t secret[BS_MSG_SECRET_MAX];
    size_t slen = 0;
    const char *sfile = bs_config_cluster_secret_file(cfg, spath, sizeof spath);
    bs_secret_opts so = {cfg->cluster_secret_file[0] ? 0 : 32,
                         BS_MSG_SECRET_MIN, 1};
    rc = sfile ? bs_secret_load(sfile, &so, secret, sizeof secret, &slen, serr,
                                sizeof serr)
               : BS_EINVAL;
    if (rc) {
        snprintf(err, errlen, "cluster secret (cluster_secret_file): %s",
                 sfile ? serr : "data_directory path too long");
        return rc;
    }
    bs_msg_opts mo;
    bs_msg_opts_default(&mo);
    if ((rc = tls_setup(c, &mo, err, errlen))) {
        OPENSSL_cleanse(secret, sizeof secret);
        return rc;
    }
    mo.cluster_name = cfg->cluster_name;
    mo.secret = secret;
    mo.secret_len = slen;
    mo.host_id = c->host_id;
    mo.listen_address = cfg->listen_address;
    mo.port = (uint16_t)cfg->storage_port;
    mo.connect_timeout_ms = (uint32_t)cfg->internode_tcp_connect_timeout_ms;
    mo.tcp_user_timeout_ms = (uint32_t)cfg->internode_tcp_user_timeout_ms;
    mo.broadcast_address = bs_config_broadcast_address(cfg);
    mo.max_message_bytes =
        cfg->native_transport_max_frame_size_bytes > (16u << 20)
            ? cfg->native_transport_max_frame_size_bytes
            : (16u << 20);
    rc = bs_msg_start(&mo, &c->msg);
    OPENSSL_cleanse(secret, sizeof secret);
    if (rc) {
        snprintf(err, errlen,
                 "cannot listen for internode messages on %s:%d: %s",
                 cfg->listen_address, cfg->storage_port, bs_strerror(rc));
        return rc;
    }
    return 0;
}

int bs_cluster_start(const bs_config *cfg, bs_local *node,
                     bs_cluster_event_fn events, void *events_ud,
                     bs_cluster **out, char *err, size_t errlen) {
    *out = NULL;
    bs_cluster *c = calloc(1, sizeof *c);
    if (!c) return BS_ENOMEM;
    c->cfg = cfg;
    c->node = node;
    c->events = events;
    c->events_ud = events_ud;
    pthread_mutex_init(&c->mu, NULL);
    bs_local_host_id(node, &c->host_id);
    load_removed(c);
    int32_t gen;
    int rc = bs_local_next_generation(node, bs_clock_now_s(NULL), &gen);
    if (rc) {
        snprintf(err, errlen, "cannot persist the gossip generation: %s",
                 bs_strerror(rc));
        goto fail;
    }
    if ((rc = start_messaging(c, err, errlen))) goto fail;
    bs_msg_local(c->msg, &c->self);
    bs_msg_peer *seeds = calloc(cfg->n_seeds ? cfg->n_seeds : 1, sizeof *seeds);
    size_t nseeds = 0;
    if (!seeds) {
        rc = BS_ENOMEM;
        goto fail;
    }
    int self_is_seed = 0, other_seeds = 0;
    for (size_t i = 0; i < cfg->n_seeds; i++)
        if (bs_msg_peer_set(&seeds[nseeds], cfg->seeds[i],
                            (uint16_t)cfg->storage_port) == 0) {
            if (bs_msg_peer_equal(&seeds[nseeds], &c->self))
                self_is_seed = 1;
            else
                other_seeds = 1;
            nseeds++;
        }
    int joining = bs_local_needs_tokens(node);
    /* initial states */
    const int64_t *toks;
    size_t nt = bs_local_tokens(node, &toks);
    bs_buf tb = BS_BUF_INIT;
    for (size_t i = 0; i < nt; i++)
        bs_buf_appendf(&tb, "%s%" PRId64, i ? "," : "", toks[i]);
    bs_buf_append_u8(&tb, 0);
    char hid[BS_UUID_STRLEN + 1], ver[BS_UUID_STRLEN + 1], port[16];
    bs_uuid_format(&c->host_id, hid);
    schema_version_text(node, ver);
    snprintf(port, sizeof port, "%d", cfg->native_transport_port);
    const char *vals[BS_GS_NSTATES] = {0};
    vals[BS_GS_STATUS] = joining                        ? "BOOT"
                         : bs_local_bootstrapping(node) ? "JOINING"
                                                        : "NORMAL";
    vals[BS_GS_TOKENS] = joining ? NULL : tb.data ? (const char *)tb.data : "";
    vals[BS_GS_DC] = cfg->dc;
    vals[BS_GS_RACK] = cfg->rack;
    vals[BS_GS_HOST_ID] = hid;
    vals[BS_GS_SCHEMA] = ver;
    vals[BS_GS_RPC_ADDRESS] = bs_config_broadcast_rpc_address(cfg);
    vals[BS_GS_NATIVE_PORT] = port;
    vals[BS_GS_LOAD] = "0";
    vals[BS_GS_RELEASE_VERSION] = RELEASE;
    /* a same-address replacement restarted before it was NORMAL */
    char replacing[BS_UUID_STRLEN + 1];
    if (!joining && bs_local_bootstrapping(node) && load_replacing(c, replacing)) {
        vals[BS_GS_REPLACING] = replacing;
        BS_INFO(LOG, "still replacing host %s at this address", replacing);
    }
    bs_gossip_opts go;
    memset(&go, 0, sizeof go);
    go.msg = c->msg;
    go.cluster_name = cfg->cluster_name;
    go.seeds = seeds;
    go.nseeds = nseeds;
    load_contacts(c);
    go.contacts = c->contacts;
    go.ncontacts = c->ncontacts;
    go.generation = gen;
    go.interval_ms = 1000;
    go.phi_threshold = cfg->phi_convict_threshold;
    go.listener = on_gossip;
    go.listener_ud = c;
    go.hide_self = joining && cfg->replace_address_first_boot &&
                   !strcmp(cfg->replace_address_first_boot, c->self.addr);
    rc = bs_gossip_start(&go, vals, &c->gossip);
    if (!rc) atomic_store(&c->tls_gossip, c->gossip);
    bs_buf_free(&tb);
    free(seeds);
    if (rc) {
        snprintf(err, errlen, "cannot start gossip: %s", bs_strerror(rc));
        goto fail;
    }
    bs_msg_register(c->msg, BS_VERB_SCHEMA_PUSH, h_push, c);
    bs_msg_register(c->msg, BS_VERB_SCHEMA_PULL, h_pull, c);
    rebuild_ring(c);
    if (joining && (rc = join_ring(c, self_is_seed, other_seeds, err, errlen)))
        goto fail;
    nt = bs_local_tokens(node, &toks);
    bs_msg_call_sync(c->msg, start_timer, c);
    bs_local_set_peers_provider(node, peers_fn, c);
    bs_local_set_schema_listener(node, on_local_ddl, c);
    BS_INFO(LOG,
            "node %s:%u joined cluster '%s' as %s with %zu tokens "
            "(generation %d)",
            c->self.addr, c->self.port, cfg->cluster_name,
            bs_local_bootstrapping(node) ? "JOINING" : "NORMAL", nt, gen);
    *out = c;
    return 0;
fail:
    bs_cluster_stop(c);
    return rc;
}

void bs_cluster_stop(bs_cluster *c) {
    if (!c) return;
    if (c->node) {
        bs_local_set_peers_provider(c->node, NULL, NULL);
        bs_local_set_schema_listener(c->node, NULL, NULL);
    }
    if (c->msg) {
        bs_msg_call_sync(c->msg, stop_timer, c);
        bs_msg_call_sync(c->msg, noop, NULL); /* the timer's close ran */
    }
    bs_gossip_halt(c->gossip);
    bs_msg_stop(c->msg); /* fails pending pulls and ECHOs: their callbacks
                            run here, while the gossip state still exists */
    bs_gossip_stop(c->gossip);
    bs_tls_ctx_free(c->tls_server); /* no connection is left */
    bs_tls_ctx_free(c->tls_client);
    free(c->members);
    free(c->removed);
    free(c->saved_peers);
    free(c->contacts);
    if (c->ring) bs_ring_snapshot_release(c->ring);
    if (c->future) bs_ring_snapshot_release(c->future);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

int bs_cluster_set_status(bs_cluster *c, const char *status) {
    int rc = bs_gossip_set_local(c->gossip, BS_GS_STATUS, status);
    if (rc) return rc;
    /* after NORMAL (replaced_host ignores REPLACING from then on): the
     * replaced node's host id is gone from both rings */
    if (!strcmp(status, "NORMAL")) {
        char path[4200];
        replacing_path(c, path, sizeof path);
        unlink(path);
        if ((rc = bs_gossip_set_local(c->gossip, BS_GS_REPLACING, ""))) return rc;
    }
    /* set_local is applied on the messaging thread in order: the ring
     * rebuilt after it there sees the new status */
    bs_msg_call_sync(c->msg, rebuild_on_loop, c);
    BS_INFO(LOG, "this node's status is now %s", status);
    return 0;
}

int bs_cluster_set_remote_status(bs_cluster *c, const bs_uuid *host,
                                 const char *status) {
    bs_gossip_view *v;
    size_t n;
    int rc = bs_gossip_snapshot(c->gossip, &v, &n);
    if (rc) return rc;
    char want[BS_UUID_STRLEN + 1];
    bs_uuid_format(host, want);
    rc = BS_ENOTFOUND;
    for (size_t i = 0; i < n && rc == BS_ENOTFOUND; i++) {
        const char *h = v[i].st.app[BS_GS_HOST_ID].value;
        if (!v[i].is_self && h && !strcasecmp(h, want))
            rc = bs_gossip_set_remote(c->gossip, &v[i].st.ep, BS_GS_STATUS,
                                      status);
    }
    bs_gossip_views_free(v, n);
    if (rc) return rc;
    bs_msg_call_sync(c->msg, rebuild_on_loop, c);
    BS_INFO(LOG, "node %s is now %s (announced by this node)", want, status);
    return 0;
}

bs_msg *bs_cluster_msg(bs_cluster *c) {
    return c->msg;
}
bs_gossip *bs_cluster_gossip(bs_cluster *c) {
    return c->gossip;
}
