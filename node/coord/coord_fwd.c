/*
 * coord_fwd.c - write forwarding between data centers: the coordinator's
 * registry of forwarded writes and the replica side of MUTATION_FWD /
 * MUTATION_ACK (wire layouts in fwd.h; the sending side is write_send in
 * coord_write.c).
 *
 * Coordinator.  A write that reaches a remote DC through a forwarder
 * registers, under a fresh forward id, the fan slots of the replicas the
 * forwarder relays to (the forwarder's own slot is an ordinary request:
 * its answer and timeout come through the messaging layer).  A
 * MUTATION_ACK names the id and the replica's host id: it fills that slot
 * exactly as a MUTATION response would (bs__fan_complete), so the
 * consistency predicate counts it.  Acks from hosts that were not sent to
 * are accepted only if the registry lists them.  An entry lives until
 * every slot is filled or its deadline (the write timeout) passes; the
 * sweeper thread then fails the open slots with BS_ETIMEDOUT, which
 * stores their hints (the fan slot carries the write payload), so a
 * replica behind a dead or slow forwarder still gets its hint.  Each
 * entry holds a reference on its fan.
 *
 * Replica.  A MUTATION_FWD request (from the coordinator) is relayed as
 * one-way MUTATION_FWDs with an empty list to the listed replicas, then
 * applied like a MUTATION and answered normally.  A one-way MUTATION_FWD
 * (from a forwarder) is applied and acknowledged with a one-way
 * MUTATION_ACK to the coordinator named in the envelope; it is never
 * relayed further, so a forwarded write makes at most two hops.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "node/coord/coord_int.h"
#include "node/coord/fwd.h"

#define LOG "coord"
#define SWEEP_MS 100

typedef struct fwd_ent {
    struct fwd_ent *next;
    uint64_t id;
    bs__fan *f; /* referenced */
    int64_t deadline_ns;
    size_t n, open;
    size_t slot[BS_FWD_MAX];
    int done[BS_FWD_MAX];
} fwd_ent;

struct bs__fwd {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    fwd_ent *head;
    int stop;
    pthread_t thread;
    int thread_live;
    _Atomic uint64_t next_id;
};

/* Unlinks the entries whose deadline passed (lock held); returns them. */
static fwd_ent *take_expired(struct bs__fwd *fw, int64_t now, int all) {
    fwd_ent *out = NULL;
    for (fwd_ent **pp = &fw->head; *pp;) {
        fwd_ent *e = *pp;
        if (all || e->deadline_ns <= now) {
            *pp = e->next;
            e->next = out;
            out = e;
        } else {
            pp = &e->next;
        }
    }
    return out;
}

/* Fails the open slots of unlinked entries (their hints are queued) and
 * frees them. */
static void expire(bs_coord *c, fwd_ent *e) {
    for (fwd_ent *nx; e; e = nx) {
        nx = e->next;
        for (size_t i = 0; i < e->n; i++)
            if (!e->done[i]) {
                BS__INC(c->fwd_expired);
                bs__fan_complete(e->f, e->slot[i], BS_ETIMEDOUT);
            }
        bs__fan_release(e->f);
        free(e);
    }
}

static void *sweeper(void *arg) {
    bs_coord *c = arg;
    struct bs__fwd *fw = c->fwd;
    pthread_mutex_lock(&fw->lock);
    while (!fw->stop) {
        int64_t now = bs_clock_mono_ns();
        fwd_ent *ex = take_expired(fw, now, 0);
        if (ex) {
            pthread_mutex_unlock(&fw->lock);
            expire(c, ex);
            pthread_mutex_lock(&fw->lock);
            continue;
        }
        int64_t wake = now + (int64_t)SWEEP_MS * 1000000;
        struct timespec ts = {(time_t)(wake / 1000000000), (long)(wake % 1000000000)};
        pthread_cond_timedwait(&fw->cond, &fw->lock, &ts);
    }
    pthread_mutex_unlock(&fw->lock);
    return NULL;
}

/* Messaging thread: a MUTATION_ACK from a replica a forwarder relayed to. */
static void on_ack(void *ud, bs_msg *m, const bs_msg_in *in) {
    (void)m;
    bs_coord *c = ud;
    struct bs__fwd *fw = c->fwd;
    uint64_t id;
    bs_uuid host;
    int32_t status;
    if (bs_fwd_ack_decode(in->payload, in->len, &id, &host, &status)) {
        BS_WARN(LOG, "bad MUTATION_ACK from %s (%zu bytes)", in->from.addr, in->len);
        return;
    }
    if (status > 0) status = BS_ECORRUPT;
    bs__fan *f = NULL;
    size_t slot = 0;
    fwd_ent *gone = NULL;
    pthread_mutex_lock(&fw->lock);
    for (fwd_ent **pp = &fw->head; *pp; pp = &(*pp)->next) {
        fwd_ent *e = *pp;
        if (e->id != id) continue;
        for (size_t i = 0; i < e->n && !f; i++)
            if (!e->done[i] && !memcmp(e->f->calls[e->slot[i]].host.b, host.b, 16)) {
                e->done[i] = 1;
                e->open--;
                f = e->f;
                slot = e->slot[i];
            }
        if (f) bs__fan_retain(f); /* the sweeper may free the entry once we unlock */
        if (f && !e->open) {
            *pp = e->next;
            gone = e;
        }
        break;
    }
    pthread_mutex_unlock(&fw->lock);
    if (!f) return; /* late (expired), duplicate or unknown */
    BS__INC(c->fwd_acked);
    bs__fan_complete(f, slot, status);
    bs__fan_release(f);
    if (gone) {
        bs__fan_release(gone->f);
        free(gone);
    }
}

/* ---- lifecycle ------------------------------------------------------------ */

int bs__fwd_start(bs_coord *c) {
    struct bs__fwd *fw = calloc(1, sizeof *fw);
    if (!fw) return BS_ENOMEM;
    pthread_mutex_init(&fw->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&fw->cond, &ca);
    pthread_condattr_destroy(&ca);
    uint64_t seed = (uint64_t)bs_clock_mono_ns() ^ ((uint64_t)c->self.b[0] << 56) ^
                    ((uint64_t)c->self.b[5] << 40);
    atomic_store(&fw->next_id, seed | 1);
    c->fwd = fw;
    if (pthread_create(&fw->thread, NULL, sweeper, c)) return BS_ENOMEM;
    fw->thread_live = 1;
    return bs_msg_register(c->msg, BS_VERB_MUTATION_ACK, on_ack, c);
}

void bs__fwd_stop(bs_coord *c) {
    struct bs__fwd *fw = c->fwd;
    if (!fw) return;
    bs_msg_register(c->msg, BS_VERB_MUTATION_ACK, NULL, NULL);
    pthread_mutex_lock(&fw->lock);
    fw->stop = 1;
    pthread_cond_broadcast(&fw->cond);
    fwd_ent *all = take_expired(fw, 0, 1);
    pthread_mutex_unlock(&fw->lock);
    if (fw->thread_live) pthread_join(fw->thread, NULL);
    fw->thread_live = 0;
    expire(c, all);
}

void bs__fwd_free(bs_coord *c) {
    struct bs__fwd *fw = c->fwd;
    if (!fw) return;
    pthread_mutex_destroy(&fw->lock);
    pthread_cond_destroy(&fw->cond);
    free(fw);
    c->fwd = NULL;
}

uint64_t bs__fwd_register(bs_coord *c, bs__fan *f, const size_t *slots, size_t n,
                          int64_t deadline_ns) {
    struct bs__fwd *fw = c->fwd;
    if (!fw || !n || n > BS_FWD_MAX) return 0;
    fwd_ent *e = calloc(1, sizeof *e);
    if (!e) return 0;
    e->id = atomic_fetch_add(&fw->next_id, 2);
    e->f = f;
    e->deadline_ns = deadline_ns;
    e->n = e->open = n;
    memcpy(e->slot, slots, n * sizeof *slots);
    bs__fan_retain(f);
    pthread_mutex_lock(&fw->lock);
    if (fw->stop) {
        pthread_mutex_unlock(&fw->lock);
        bs__fan_release(f);
        free(e);
        return 0;
    }
    e->next = fw->head;
    fw->head = e;
    pthread_mutex_unlock(&fw->lock);
    return e->id;
}

/* ---- replica side ---------------------------------------------------------- */

int bs__fwd_relay(bs_coord *c, bs__job *j, const uint8_t **write, size_t *wlen) {
    bs_fwd_env *e = malloc(sizeof *e);
    char err[128];
    if (!e) return BS_ENOMEM;
    int rc = bs_fwd_decode(j->data, j->len, e, err, sizeof err);
    if (rc) {
        BS_WARN(LOG, "bad MUTATION_FWD from %s: %s", j->in.from.addr, err);
        free(e);
        return rc;
    }
    *write = e->write;
    *wlen = e->write_len;
    if (!j->in.expects_reply) { /* relayed to us: acknowledge to the coordinator */
        j->fwd_ack = 1;
        j->fwd_id = e->id;
        j->fwd_coord = e->coord;
        free(e);
        return 0;
    }
    bs_fwd_env one = {0};
    one.id = e->id;
    one.coord = e->coord;
    one.write = e->write;
    one.write_len = e->write_len;
    bs_buf b = BS_BUF_INIT;
    int erc = e->n ? bs_fwd_encode(&one, &b) : 0;
    if (erc) BS_WARN(LOG, "MUTATION_FWD not relayed: %s", bs_strerror(erc));
    for (size_t i = 0; i < e->n && !erc; i++) {
        if (!memcmp(e->t[i].host.b, c->self.b, 16)) continue;
        int src = bs_msg_send(c->msg, &e->t[i].peer, BS_VERB_MUTATION_FWD, b.data, b.len,
                              c->o.write_timeout_ms, NULL, NULL);
        if (src) BS_DEBUG(LOG, "relay to %s failed: %s", e->t[i].peer.addr, bs_strerror(src));
        else BS__INC(c->fwd_relayed);
    }
    bs_buf_free(&b);
    free(e);
    return 0;
}

void bs__fwd_ack_send(bs_coord *c, const bs__job *j, int status) {
    uint8_t ack[BS_FWD_ACK_LEN];
    bs_fwd_ack_encode(j->fwd_id, &c->self, status, ack);
    int rc = bs_msg_send(c->msg, &j->fwd_coord, BS_VERB_MUTATION_ACK, ack, sizeof ack,
                         c->o.write_timeout_ms, NULL, NULL);
    if (rc) BS_DEBUG(LOG, "MUTATION_ACK to %s failed: %s", j->fwd_coord.addr, bs_strerror(rc));
}
