/*
 * gossip.c - the gossiper (see gossip.h): rounds, SYN/ACK/ACK2 handlers,
 * failure detection, UP/DOWN marking.
 *
 * Everything here runs on the messaging thread (handlers, the round
 * timer, ECHO callbacks, the connection observer).  The endpoint table is
 * also read by other threads (bs_gossip_snapshot for system.peers), so
 * the loop thread takes `mu` around changes and readers take it to copy;
 * listener callbacks are made after `mu` is released, from an event list
 * collected while it was held.
 *
 * Round (every interval_ms): bump our heartbeat version; check every
 * other endpoint's phi and mark DOWN those above the threshold; send a
 * SYN to one random live peer; with probability unreachable/(live+1) to
 * one random unreachable endpoint; to a random seed when no peer is live
 * or with probability seeds/(live+unreachable) (Cassandra's rules, which
 * keep partitions from forming around non-seed nodes).
 *
 * UP: an endpoint becomes live only after it answers an ECHO request,
 * sent when its heartbeat moves while it is down (or on first sight), so
 * a stale state relayed by a third node cannot resurrect it; the answer
 * carries the answering process's generation (u32 BE), which must be the
 * one we hold state for.  DOWN: phi
 * over the threshold, or - a deliberate addition to Cassandra's rules -
 * our connection attempt was refused (nothing listens on its storage
 * port: the process is gone), which makes a crash visible in well under
 * a second instead of ~18 s of silence.  A paused process still holds
 * its socket open, so only phi catches it.
 *
 * Marking an endpoint DOWN resets our outbound connection to it
 * (bs_msg_reset_peer): after a network cut the new connection's first
 * packets go out at once, instead of when the stalled one's next
 * retransmission is due (tens of seconds after a long cut).
 *
 * A restart (newer generation) of a live endpoint marks it DOWN, then UP
 * again after its ECHO, as Cassandra does.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uv.h>

#include "common/clock.h"
#include "common/error.h"
#include "common/log.h"
#include "node/cluster/gossip.h"

#define LOG "gossip"
#define ECHO_TIMEOUT_MS 2000

typedef struct node {
    bs_gossip_ep st;
    bs_fd_window fd;
    int alive;
    int is_self;
    int echo_pending;
    int32_t echo_gen;
} node;

typedef struct pev {
    bs_gossip_event ev;
    bs_gossip_ep ep;
    uint32_t changed;
} pev;

struct bs_gossip {
    int halted; /* bs_gossip_halt ran: the messaging may be gone */
    bs_gossip_opts o;
    char cluster[256];
    bs_msg_peer *seeds;
    size_t nseeds;
    bs_msg_peer *contacts; /* not yet met: see bs_gossip_opts */
    size_t ncontacts;
    bs_msg *msg;
    uv_timer_t timer;
    int timer_live;
    pthread_mutex_t mu;
    int hiding;          /* opts.hide_self until bs_gossip_unhide */
    bs_gossip_ep shadow; /* generation 0: none (see bs_gossip_shadow) */
    node **nodes; /* nodes[0] is self */
    size_t n, cap;
    int32_t version; /* our version counter */
    int64_t last_round_ns;
    uint64_t rng;
    int stopped;
    /* events collected under mu, fired after */
    pev *evs;
    size_t nev, evcap;
};

static int64_t now_s(void) {
    return bs_clock_now_us(NULL) / 1000000;
}

static uint64_t rnd(bs_gossip *g) {
    /* xorshift64*: loop thread only */
    uint64_t x = g->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    g->rng = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static double rnd01(bs_gossip *g) {
    return (double)(rnd(g) >> 11) / (double)(1ULL << 53);
}

/* ---- table (mu held) ---------------------------------------------------- */

static node *find(bs_gossip *g, const bs_msg_peer *p) {
    for (size_t i = 0; i < g->n; i++)
        if (bs_msg_peer_equal(&g->nodes[i]->st.ep, p)) return g->nodes[i];
    return NULL;
}

static node *add_node(bs_gossip *g, const bs_msg_peer *p) {
    if (g->n == g->cap) {
        size_t nc = g->cap ? g->cap * 2 : 8;
        node **nn = realloc(g->nodes, nc * sizeof *nn);
        if (!nn) return NULL;
        g->nodes = nn;
        g->cap = nc;
    }
    node *x = calloc(1, sizeof *x);
    if (!x) return NULL;
    bs_gossip_ep_init(&x->st, p);
    bs_fd_init(&x->fd);
    g->nodes[g->n++] = x;
    return x;
}

static void push_ev(bs_gossip *g, bs_gossip_event ev, const node *x,
                    uint32_t changed) {
    if (g->nev == g->evcap) {
        size_t nc = g->evcap ? g->evcap * 2 : 8;
        pev *ne = realloc(g->evs, nc * sizeof *ne);
        if (!ne) return;
        g->evs = ne;
        g->evcap = nc;
    }
    pev *e = &g->evs[g->nev];
    if (bs_gossip_ep_copy(&e->ep, &x->st)) return;
    e->ev = ev;
    e->changed = changed;
    g->nev++;
}

/* Takes the collected events out from under mu and fires them. */
static void fire(bs_gossip *g) {
    pthread_mutex_lock(&g->mu);
    pev *evs = g->evs;
    size_t n = g->nev;
    g->evs = NULL;
    g->nev = g->evcap = 0;
    pthread_mutex_unlock(&g->mu);
    for (size_t i = 0; i < n; i++) {
        if (g->o.listener)
            g->o.listener(g->o.listener_ud, evs[i].ev, &evs[i].ep,
                          evs[i].changed);
        bs_gossip_ep_clear(&evs[i].ep);
    }
    free(evs);
}

static void mark_dead(bs_gossip *g, node *x, const char *why) {
    if (!x->alive || x->is_self) return;
    x->alive = 0;
    BS_INFO(LOG, "InetAddress %s:%u is now DOWN (%s)", x->st.ep.addr,
            x->st.ep.port, why);
    push_ev(g, BS_GOSSIP_EV_DEAD, x, 0);
    /* as Cassandra on convict: our connection to it may be stalled in the
     * kernel's retransmission back-off (a network cut), which would keep
     * it unreachable long after the path heals; start a fresh one */
    bs_msg_reset_peer(g->msg, &x->st.ep);
}

/* ---- ECHO --------------------------------------------------------------- */

typedef struct echo_ctx {
    bs_gossip *g;
    bs_msg_peer ep;
    int32_t gen;
} echo_ctx;

static void on_echo(void *ud, int status, const uint8_t *p, size_t len) {
    echo_ctx *c = ud;
    bs_gossip *g = c->g;
    /* the answer names the generation of the process that answered: an
     * ECHO meant for an old incarnation that reaches a restarted one must
     * not mark the old state alive */
    int32_t gen = status == 0 && len == 4 ? (int32_t)bs_get_u32(p) : -1;
    pthread_mutex_lock(&g->mu);
    node *x = g->stopped ? NULL : find(g, &c->ep);
    if (x) {
        x->echo_pending = 0;
        if (status == 0 && !x->alive && x->st.generation == c->gen &&
            gen == c->gen) {
            x->alive = 1;
            /* restart the detector's clock: the node just answered */
            x->fd.last_ns = bs_clock_mono_ns();
            BS_INFO(LOG, "InetAddress %s:%u is now UP", x->st.ep.addr,
                    x->st.ep.port);
            push_ev(g, BS_GOSSIP_EV_ALIVE, x, 0);
        }
    }
    pthread_mutex_unlock(&g->mu);
    free(c);
    fire(g);
}

/* mu held; the send itself only queues a command. */
static void send_echo(bs_gossip *g, node *x) {
    if (x->echo_pending || x->is_self) return;
    echo_ctx *c = malloc(sizeof *c);
    if (!c) return;
    c->g = g;
    c->ep = x->st.ep;
    c->gen = x->st.generation;
    x->echo_pending = 1;
    if (bs_msg_send(g->msg, &x->st.ep, BS_VERB_ECHO, NULL, 0, ECHO_TIMEOUT_MS,
                    on_echo, c)) {
        x->echo_pending = 0;
        free(c);
    }
}

static void h_echo(void *ud, bs_msg *m, const bs_msg_in *in) {
    bs_gossip *g = ud;
    uint8_t b[4];
    bs_put_u32(b, (uint32_t)g->o.generation);
    bs_msg_reply(m, in, 0, b, 4);
}

/* ---- applying remote state (mu held) ----------------------------------- */

static void apply_states(bs_gossip *g, bs_gossip_ep *eps, size_t n) {
    int64_t mono = bs_clock_mono_ns();
    int64_t iv = (int64_t)g->o.interval_ms * 1000000;
    for (size_t i = 0; i < n; i++) {
        bs_gossip_ep *r = &eps[i];
        if (bs_msg_peer_equal(&r->ep, &g->nodes[0]->st.ep)) {
            /* we own our state; a replacement keeps the dead node's */
            const char *h = r->app[BS_GS_HOST_ID].value,
                       *mine = g->nodes[0]->st.app[BS_GS_HOST_ID].value;
            bs_gossip_ep cp;
            if (g->hiding && h && (!mine || strcasecmp(h, mine)) &&
                r->generation >= g->shadow.generation &&
                bs_gossip_ep_copy(&cp, r) == 0) {
                bs_gossip_ep_clear(&g->shadow);
                g->shadow = cp;
            }
            continue;
        }
        node *x = find(g, &r->ep);
        int created = 0;
        if (!x) {
            if (r->generation <= 0) continue;
            x = add_node(g, &r->ep);
            if (!x) continue;
            created = 1;
        }
        int what;
        uint32_t changed;
        if (bs_gossip_ep_merge(&x->st, r, now_s(), &what, &changed)) continue;
        if (what & BS_GOSSIP_M_IGNORED) {
            if (created) {
                /* unusable first sight: forget it again */
                g->n--;
                bs_gossip_ep_clear(&x->st);
                free(x);
            }
            continue;
        }
        if (what & BS_GOSSIP_M_NEW) {
            BS_INFO(LOG, "new endpoint %s:%u (generation %d)", x->st.ep.addr,
                    x->st.ep.port, x->st.generation);
            push_ev(g, BS_GOSSIP_EV_JOIN, x, changed);
        } else if (what & BS_GOSSIP_M_RESTART) {
            BS_INFO(LOG, "endpoint %s:%u restarted (generation %d)",
                    x->st.ep.addr, x->st.ep.port, x->st.generation);
            mark_dead(g, x, "restarted");
            bs_fd_init(&x->fd);
            push_ev(g, BS_GOSSIP_EV_RESTART, x, changed);
            if (changed) push_ev(g, BS_GOSSIP_EV_CHANGE, x, changed);
        } else if (changed) {
            push_ev(g, BS_GOSSIP_EV_CHANGE, x, changed);
        }
        if (what & BS_GOSSIP_M_HEARTBEAT) {
            bs_fd_report(&x->fd, mono, 2 * iv, 2 * iv);
            if (!x->alive) send_echo(g, x);
        }
    }
}

/* States to answer requests with (mu held).  *out malloc'd. */
static int answer_requests(bs_gossip *g, const bs_gossip_digest *r, size_t nr,
                           bs_gossip_ep **out, size_t *nout) {
    *out = calloc(nr ? nr : 1, sizeof **out);
    *nout = 0;
    if (!*out) return BS_ENOMEM;
    for (size_t i = 0; i < nr; i++) {
        node *x = find(g, &r[i].ep);
        if (!x || x->st.generation == 0 || (x->is_self && g->hiding)) continue;
        int32_t above =
            x->st.generation == r[i].generation ? r[i].max_version : -1;
        if (x->st.generation < r[i].generation) continue;
        if (bs_gossip_ep_delta(&x->st, above, &(*out)[*nout]) == 0) (*nout)++;
    }
    return 0;
}

/* ---- handlers ------------------------------------------------------------ */

static void h_syn(void *ud, bs_msg *m, const bs_msg_in *in) {
    bs_gossip *g = ud;
    char cluster[256];
    bs_gossip_digest *d = NULL;
    size_t nd = 0;
    if (bs_gossip_syn_decode(in->payload, in->len, cluster, sizeof cluster, &d,
                             &nd)) {
        BS_WARN(LOG, "bad gossip SYN from %s:%u; ignored", in->from.addr,
                in->from.port);
        return;
    }
    if (strcmp(cluster, g->cluster) != 0) {
        BS_WARN(LOG,
                "gossip SYN from %s:%u of cluster '%s' (we are '%s'); ignored",
                in->from.addr, in->from.port, cluster, g->cluster);
        free(d);
        return;
    }
    bs_gossip_digest *reqs = NULL;
    bs_gossip_ep *dl = NULL;
    size_t nr = 0, ndl = 0;
    pthread_mutex_lock(&g->mu);
    /* hiding: as if we knew nothing of our own address, so the peer
     * sends the state it holds for it */
    size_t skip = g->hiding ? 1 : 0;
    int rc = g->stopped ? BS_ECLOSED
                        : bs_gossip_examine((bs_gossip_ep *const *)g->nodes + skip,
                                            g->n - skip, d, nd, &reqs, &nr, &dl, &ndl);
    pthread_mutex_unlock(&g->mu);
    free(d);
    if (rc) return;
    bs_buf b = BS_BUF_INIT;
    if (bs_gossip_ack_encode(dl, ndl, reqs, nr, &b) == 0)
        bs_msg_send(m, &in->from, BS_VERB_GOSSIP_ACK, b.data, b.len,
                    g->o.interval_ms * 2, NULL, NULL);
    bs_buf_free(&b);
    free(reqs);
    bs_gossip_free_eps(dl, ndl);
}

static void h_ack(void *ud, bs_msg *m, const bs_msg_in *in) {
    bs_gossip *g = ud;
    bs_gossip_ep *eps = NULL;
    bs_gossip_digest *reqs = NULL;
    size_t ne = 0, nr = 0;
    if (bs_gossip_ack_decode(in->payload, in->len, &eps, &ne, &reqs, &nr)) {
        BS_WARN(LOG, "bad gossip %s from %s:%u; ignored",
                in->verb == BS_VERB_GOSSIP_ACK ? "ACK" : "ACK2", in->from.addr,
                in->from.port);
        return;
    }
    bs_gossip_ep *ans = NULL;
    size_t nans = 0;
    pthread_mutex_lock(&g->mu);
    if (!g->stopped) {
        apply_states(g, eps, ne);
        if (in->verb == BS_VERB_GOSSIP_ACK &&
            answer_requests(g, reqs, nr, &ans, &nans))
            ans = NULL;
    }
    pthread_mutex_unlock(&g->mu);
    bs_gossip_free_eps(eps, ne);
    free(reqs);
    if (ans) {
        bs_buf b = BS_BUF_INIT;
        if (bs_gossip_ack_encode(ans, nans, NULL, 0, &b) == 0)
            bs_msg_send(m, &in->from, BS_VERB_GOSSIP_ACK2, b.data, b.len,
                        g->o.interval_ms * 2, NULL, NULL);
        bs_buf_free(&b);
        bs_gossip_free_eps(ans, nans);
    }
    fire(g);
}

static void on_conn(void *ud, const bs_msg_peer *p, bs_msg_conn_event ev) {
    bs_gossip *g = ud;
    if (ev != BS_MSG_CONN_REFUSED) return;
    pthread_mutex_lock(&g->mu);
    node *x = g->stopped ? NULL : find(g, p);
    if (x) mark_dead(g, x, "connection refused");
    pthread_mutex_unlock(&g->mu);
    fire(g);
}

/* ---- the round ----------------------------------------------------------- */

static void send_syn(bs_gossip *g, const bs_msg_peer *to, const bs_buf *b) {
    bs_msg_send(g->msg, to, BS_VERB_GOSSIP_SYN, b->data, b->len,
                g->o.interval_ms * 2, NULL, NULL);
}

static void on_round(uv_timer_t *t) {
    bs_gossip *g = t->data;
    int64_t mono = bs_clock_mono_ns();
    int64_t iv = (int64_t)g->o.interval_ms * 1000000;
    bs_buf b = BS_BUF_INIT;
    bs_msg_peer live_to, dead_to, seed_to;
    int have_live = 0, have_dead = 0, have_seed = 0;
    pthread_mutex_lock(&g->mu);
    node *self = g->nodes[0];
    self->st.hb_version = ++g->version;
    /* A round far later than scheduled means this process was paused
     * (SIGSTOP, swapping, a stuck loop): the silence was ours, not the
     * peers', so restart every detector's clock instead of convicting. */
    int local_pause = g->last_round_ns && mono - g->last_round_ns > 4 * iv;
    if (local_pause)
        BS_WARN(LOG,
                "local pause of %lld ms detected: not marking peers down this "
                "round",
                (long long)((mono - g->last_round_ns) / 1000000));
    g->last_round_ns = mono;
    size_t nlive = 0, ndead = 0;
    for (size_t i = 1; i < g->n; i++) {
        node *x = g->nodes[i];
        if (local_pause && x->fd.last_ns) x->fd.last_ns = mono;
        if (x->alive) {
            double phi = bs_fd_phi(&x->fd, mono);
            if (phi > g->o.phi_threshold) {
                char why[64];
                snprintf(why, sizeof why, "phi %.1f > %.1f", phi,
                         g->o.phi_threshold);
                mark_dead(g, x, why);
            }
        }
        if (x->alive)
            nlive++;
        else
            ndead++;
    }
    bs_gossip_digest *d = calloc(g->n, sizeof *d);
    size_t nd = 0;
    if (d) {
        /* hiding: our address left out, so the peer sends its state */
        for (size_t i = g->hiding ? 1 : 0; i < g->n; i++, nd++) {
            d[nd].ep = g->nodes[i]->st.ep;
            d[nd].generation = g->nodes[i]->st.generation;
            d[nd].max_version = bs_gossip_ep_max_version(&g->nodes[i]->st);
        }
        /* shuffle (Fisher-Yates) so no endpoint is always last */
        for (size_t i = nd; i > 1; i--) {
            size_t j = rnd(g) % i;
            bs_gossip_digest tmp = d[i - 1];
            d[i - 1] = d[j];
            d[j] = tmp;
        }
        bs_gossip_syn_encode(g->cluster, d, nd, &b);
        free(d);
    }
    if (nlive) {
        size_t k = rnd(g) % nlive;
        for (size_t i = 1; i < g->n; i++)
            if (g->nodes[i]->alive && k-- == 0) {
                live_to = g->nodes[i]->st.ep;
                have_live = 1;
                break;
            }
    }
    if (ndead && rnd01(g) < (double)ndead / (double)(nlive + 1)) {
        size_t k = rnd(g) % ndead;
        for (size_t i = 1; i < g->n; i++)
            if (!g->nodes[i]->alive && k-- == 0) {
                dead_to = g->nodes[i]->st.ep;
                have_dead = 1;
                break;
            }
    }
    size_t nseeds = 0;
    for (size_t i = 0; i < g->nseeds; i++)
        nseeds += !bs_msg_peer_equal(&g->seeds[i], &self->st.ep);
    if (nseeds) {
        int live_is_seed = 0;
        for (size_t i = 0; have_live && i < g->nseeds; i++)
            live_is_seed |= bs_msg_peer_equal(&g->seeds[i], &live_to);
        if (!have_live ||
            (!live_is_seed &&
             rnd01(g) < (double)nseeds / (double)(nlive + ndead + 1))) {
            size_t k = rnd(g) % nseeds;
            for (size_t i = 0; i < g->nseeds; i++)
                if (!bs_msg_peer_equal(&g->seeds[i], &self->st.ep) &&
                    k-- == 0) {
                    seed_to = g->seeds[i];
                    have_seed = 1;
                    break;
                }
        }
    }
    /* contacts from before a restart: SYN each one until it is known */
    bs_msg_peer *unmet = NULL;
    size_t nunmet = 0;
    for (size_t i = 0; i < g->ncontacts; i++) {
        int met = 0;
        for (size_t j = 0; j < g->n && !met; j++)
            met = bs_msg_peer_equal(&g->nodes[j]->st.ep, &g->contacts[i]);
        if (met) {
            g->contacts[i--] = g->contacts[--g->ncontacts];
            continue;
        }
        if (!unmet) unmet = calloc(g->ncontacts, sizeof *unmet);
        if (unmet) unmet[nunmet++] = g->contacts[i];
    }
    pthread_mutex_unlock(&g->mu);
    if (b.len) {
        for (size_t i = 0; i < nunmet; i++) send_syn(g, &unmet[i], &b);
        if (have_live) send_syn(g, &live_to, &b);
        if (have_dead) send_syn(g, &dead_to, &b);
        if (have_seed && !(have_live && bs_msg_peer_equal(&seed_to, &live_to)))
            send_syn(g, &seed_to, &b);
    }
    free(unmet);
    bs_buf_free(&b);
    fire(g);
}

/* ---- lifecycle ------------------------------------------------------------
 */

static void start_on_loop(void *ud) {
    bs_gossip *g = ud;
    uv_timer_init((uv_loop_t *)bs_msg_loop(g->msg), &g->timer);
    g->timer.data = g;
    g->timer_live = 1;
    uv_timer_start(&g->timer, on_round, g->o.interval_ms, g->o.interval_ms);
}

static void on_timer_closed(uv_handle_t *h) {
    (void)h;
}

static void stop_on_loop(void *ud) {
    bs_gossip *g = ud;
    if (g->timer_live) {
        uv_timer_stop(&g->timer);
        uv_close((uv_handle_t *)&g->timer, on_timer_closed);
        g->timer_live = 0;
    }
    bs_msg_register(g->msg, BS_VERB_ECHO, NULL, NULL);
    bs_msg_register(g->msg, BS_VERB_GOSSIP_SYN, NULL, NULL);
    bs_msg_register(g->msg, BS_VERB_GOSSIP_ACK, NULL, NULL);
    bs_msg_register(g->msg, BS_VERB_GOSSIP_ACK2, NULL, NULL);
    bs_msg_set_conn_observer(g->msg, NULL, NULL);
    pthread_mutex_lock(&g->mu);
    g->stopped = 1;
    pthread_mutex_unlock(&g->mu);
}

/* The timer's close callback has to run before g is freed: a no-op call
 * queued after the close runs after the loop processed it. */
static void noop(void *ud) {
    (void)ud;
}

int bs_gossip_start(const bs_gossip_opts *o,
                    const char *const values[BS_GS_NSTATES], bs_gossip **out) {
    *out = NULL;
    if (!o->msg || !o->cluster_name || strlen(o->cluster_name) >= 256 ||
        o->generation <= 0)
        return BS_EINVAL;
    bs_gossip *g = calloc(1, sizeof *g);
    if (!g) return BS_ENOMEM;
    g->o = *o;
    if (!g->o.interval_ms) g->o.interval_ms = 1000;
    if (g->o.phi_threshold <= 0) g->o.phi_threshold = 8;
    snprintf(g->cluster, sizeof g->cluster, "%s", o->cluster_name);
    g->o.cluster_name = g->cluster;
    g->msg = o->msg;
    pthread_mutex_init(&g->mu, NULL);
    g->rng = (uint64_t)bs_clock_mono_ns() ^ ((uint64_t)(uintptr_t)g << 16) ^
             0x9E3779B97F4A7C15ULL;
    if (!g->rng) g->rng = 1;
    if (o->nseeds) {
        g->seeds = calloc(o->nseeds, sizeof *g->seeds);
        if (!g->seeds) goto nomem;
        memcpy(g->seeds, o->seeds, o->nseeds * sizeof *g->seeds);
        g->nseeds = o->nseeds;
    }
    g->o.seeds = g->seeds;
    if (o->ncontacts) {
        g->contacts = calloc(o->ncontacts, sizeof *g->contacts);
        if (!g->contacts) goto nomem;
        memcpy(g->contacts, o->contacts, o->ncontacts * sizeof *g->contacts);
        g->ncontacts = o->ncontacts;
    }
    g->o.contacts = NULL;
    bs_msg_peer self;
    bs_msg_local(o->msg, &self);
    node *x = add_node(g, &self);
    if (!x) goto nomem;
    x->is_self = 1;
    x->alive = 1;
    x->st.generation = o->generation;
    g->hiding = o->hide_self;
    for (int a = 0; a < BS_GS_NSTATES; a++)
        if (values && values[a] &&
            bs_gossip_ep_set(&x->st, a, values[a], ++g->version))
            goto nomem;
    x->st.hb_version = ++g->version;
    bs_msg_register(o->msg, BS_VERB_ECHO, h_echo, g);
    bs_msg_register(o->msg, BS_VERB_GOSSIP_SYN, h_syn, g);
    bs_msg_register(o->msg, BS_VERB_GOSSIP_ACK, h_ack, g);
    bs_msg_register(o->msg, BS_VERB_GOSSIP_ACK2, h_ack, g);
    bs_msg_set_conn_observer(o->msg, on_conn, g);
    int rc = bs_msg_call_sync(o->msg, start_on_loop, g);
    if (rc) {
        bs_gossip_stop(g);
        return rc;
    }
    BS_INFO(LOG, "gossip started on %s:%u, generation %d, %zu seed(s)",
            self.addr, self.port, o->generation, o->nseeds);
    *out = g;
    return 0;
nomem:
    bs_gossip_stop(g);
    return BS_ENOMEM;
}

void bs_gossip_halt(bs_gossip *g) {
    if (!g || g->halted) return;
    if (bs_msg_call_sync(g->msg, stop_on_loop, g) == 0)
        bs_msg_call_sync(g->msg, noop, NULL);
    else
        stop_on_loop(g); /* messaging already stopped: nothing runs */
    g->halted = 1;
}

void bs_gossip_stop(bs_gossip *g) {
    if (!g) return;
    bs_gossip_halt(g); /* no-op when the owner halted it before stopping
                          the messaging (then g->msg may be gone) */
    for (size_t i = 0; i < g->n; i++) {
        bs_gossip_ep_clear(&g->nodes[i]->st);
        free(g->nodes[i]);
    }
    free(g->nodes);
    bs_gossip_ep_clear(&g->shadow);
    for (size_t i = 0; i < g->nev; i++)
        bs_gossip_ep_clear(&g->evs[i].ep);
    free(g->evs);
    free(g->seeds);
    free(g->contacts);
    pthread_mutex_destroy(&g->mu);
    free(g);
}

typedef struct setcmd {
    bs_gossip *g;
    size_t n;
    int app[BS_GS_NSTATES];
    char *value[BS_GS_NSTATES];
} setcmd;

static void setcmd_free(setcmd *c) {
    for (size_t i = 0; i < c->n; i++) free(c->value[i]);
    free(c);
}

/* The states of one setcmd get consecutive versions under one hold of
 * mu, so no gossip round sends some of them without the others. */
static void set_on_loop(void *ud) {
    setcmd *c = ud;
    bs_gossip *g = c->g;
    pthread_mutex_lock(&g->mu);
    if (!g->stopped) {
        node *self = g->nodes[0];
        uint32_t changed = 0;
        for (size_t i = 0; i < c->n; i++) {
            const char *old = self->st.app[c->app[i]].value;
            int differs = !old || strcmp(old, c->value[i]) != 0;
            if (bs_gossip_ep_set(&self->st, c->app[i], c->value[i], ++g->version) == 0 &&
                differs)
                changed |= 1u << c->app[i];
        }
        if (changed) push_ev(g, BS_GOSSIP_EV_CHANGE, self, changed);
    }
    pthread_mutex_unlock(&g->mu);
    setcmd_free(c);
    fire(g);
}

typedef struct remotecmd {
    bs_gossip *g;
    bs_msg_peer ep;
    int app;
    char *value;
} remotecmd;

static void set_remote_on_loop(void *ud) {
    remotecmd *c = ud;
    bs_gossip *g = c->g;
    pthread_mutex_lock(&g->mu);
    for (size_t i = 1; !g->stopped && i < g->n; i++) {
        node *x = g->nodes[i];
        if (!bs_msg_peer_equal(&x->st.ep, &c->ep)) continue;
        /* a version above anything the endpoint announced: gossip takes
         * it everywhere while the endpoint stays silent */
        int32_t v = bs_gossip_ep_max_version(&x->st) + 1;
        if (bs_gossip_ep_set(&x->st, c->app, c->value, v) == 0)
            push_ev(g, BS_GOSSIP_EV_CHANGE, x, 1u << c->app);
        break;
    }
    pthread_mutex_unlock(&g->mu);
    free(c->value);
    free(c);
    fire(g);
}

int bs_gossip_set_remote(bs_gossip *g, const bs_msg_peer *ep, int app,
                         const char *value) {
    if (app < 0 || app >= BS_GS_NSTATES || !value ||
        strlen(value) > BS_GOSSIP_MAX_VALUE)
        return BS_EINVAL;
    remotecmd *c = malloc(sizeof *c);
    if (!c) return BS_ENOMEM;
    c->g = g;
    c->ep = *ep;
    c->app = app;
    c->value = strdup(value);
    int rc = c->value ? bs_msg_call(g->msg, set_remote_on_loop, c) : BS_ENOMEM;
    if (rc) {
        free(c->value);
        free(c);
    }
    return rc;
}

int bs_gossip_set_locals(bs_gossip *g, size_t n, const int *apps,
                         const char *const *values) {
    if (n == 0 || n > BS_GS_NSTATES) return BS_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (apps[i] < 0 || apps[i] >= BS_GS_NSTATES || !values[i] ||
            strlen(values[i]) > BS_GOSSIP_MAX_VALUE)
            return BS_EINVAL;
    setcmd *c = calloc(1, sizeof *c);
    if (!c) return BS_ENOMEM;
    c->g = g;
    for (; c->n < n; c->n++) {
        c->app[c->n] = apps[c->n];
        if (!(c->value[c->n] = strdup(values[c->n]))) {
            setcmd_free(c);
            return BS_ENOMEM;
        }
    }
    int rc = bs_msg_call(g->msg, set_on_loop, c);
    if (rc) setcmd_free(c);
    return rc;
}

int bs_gossip_set_local(bs_gossip *g, int app, const char *value) {
    return bs_gossip_set_locals(g, 1, &app, &value);
}

int bs_gossip_snapshot(bs_gossip *g, bs_gossip_view **out, size_t *n) {
    *out = NULL;
    *n = 0;
    int64_t mono = bs_clock_mono_ns();
    pthread_mutex_lock(&g->mu);
    bs_gossip_view *v = calloc(g->n ? g->n : 1, sizeof *v);
    size_t k = 0;
    int rc = v ? 0 : BS_ENOMEM;
    for (size_t i = 0; !rc && i < g->n; i++) {
        node *x = g->nodes[i];
        if (bs_gossip_ep_copy(&v[k].st, &x->st)) {
            rc = BS_ENOMEM;
            break;
        }
        v[k].is_self = x->is_self;
        v[k].alive = x->alive;
        v[k].phi = x->is_self ? 0 : bs_fd_phi(&x->fd, mono);
        k++;
    }
    pthread_mutex_unlock(&g->mu);
    if (rc) {
        bs_gossip_views_free(v, k);
        return rc;
    }
    *out = v;
    *n = k;
    return 0;
}

void bs_gossip_views_free(bs_gossip_view *v, size_t n) {
    for (size_t i = 0; v && i < n; i++)
        bs_gossip_ep_clear(&v[i].st);
    free(v);
}

int bs_gossip_shadow(bs_gossip *g, bs_gossip_ep *out) {
    pthread_mutex_lock(&g->mu);
    int rc = g->shadow.generation ? bs_gossip_ep_copy(out, &g->shadow) : BS_ENOTFOUND;
    pthread_mutex_unlock(&g->mu);
    return rc;
}

void bs_gossip_unhide(bs_gossip *g) {
    pthread_mutex_lock(&g->mu);
    g->hiding = 0;
    pthread_mutex_unlock(&g->mu);
}

int bs_gossip_host_alive(bs_gossip *g, const char *host_id) {
    int rc = BS_ENOTFOUND;
    pthread_mutex_lock(&g->mu);
    for (size_t i = 0; i < g->n; i++) {
        const char *h = g->nodes[i]->st.app[BS_GS_HOST_ID].value;
        if (h && strcasecmp(h, host_id) == 0) rc = g->nodes[i]->alive;
    }
    pthread_mutex_unlock(&g->mu);
    return rc;
}

int bs_gossip_is_alive(bs_gossip *g, const bs_msg_peer *ep) {
    pthread_mutex_lock(&g->mu);
    node *x = find(g, ep);
    int rc = x ? x->alive : BS_ENOTFOUND;
    pthread_mutex_unlock(&g->mu);
    return rc;
}
