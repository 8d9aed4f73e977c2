/*
 * repair_env.c - bs_repair_env over the node's pieces (see
 * repair_env.h): requests go out with bs_msg_send, repair verbs are
 * registered on the node's bs_msg and answered with bs_msg_reply, the
 * ring and liveness come from the membership, and the catalog from the
 * local schema with each keyspace's strategy built by bs_node_strategy
 * (the one placement the coordinator uses too).
 *
 * A request handed to the repair service carries a heap copy of its
 * bs_msg_in (payload cleared) as reply_to; reply() answers through it and
 * frees it.
 */
#include "node/repair_env.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "node/coord/placement.h"
#include "query/schema.h"

typedef struct env_state {
    bs_local *local;
    bs_msg *msg;
    bs_coord_membership mem;
    bs_repair_serve_fn h; /* set before its verbs are registered */
    void *hud;
} env_state;

static bs_ring_snapshot *e_ring(void *ud) {
    env_state *st = ud;
    return st->mem.ring(st->mem.ud);
}

static int e_alive(void *ud, const bs_uuid *host) {
    env_state *st = ud;
    return st->mem.alive(st->mem.ud, host);
}

static int e_endpoint(void *ud, const bs_ring_node_desc *node,
                      bs_repair_peer *out) {
    env_state *st = ud;
    bs_msg_peer p;
    memset(&p, 0, sizeof p);
    int rc = st->mem.endpoint ? st->mem.endpoint(st->mem.ud, &node->host_id, &p)
                              : bs_msg_peer_parse(&p, node->endpoint);
    _Static_assert(sizeof out->addr == sizeof p.addr, "address sizes");
    memcpy(out->addr, p.addr, sizeof out->addr);
    out->port = p.port;
    return rc;
}

static int e_catalog(void *ud, const bs_ring_snapshot *ring,
                     bs_repair_catalog *c) {
    env_state *st = ud;
    bs_schema *sc = bs_local_schema(st->local);
    int rc = 0;
    for (size_t k = 0; !rc && k < bs_schema_nkeyspaces(sc); k++) {
        const bs_keyspace_schema *ks = bs_schema_keyspace_at(sc, k);
        bs_ring_strategy *strat = NULL;
        int src = ring ? bs_node_strategy(ks, ring, &strat) : 0;
        rc =
            bs_repair_catalog_add_keyspace(c, ks->name, ks->system, strat, src);
        for (size_t t = 0; !rc && t < ks->ntables; t++) {
            char cf[256];
            bs_table_cf_name(ks->tables[t], cf, sizeof cf);
            rc = bs_repair_catalog_add_table(c, ks->tables[t]->name, cf);
        }
    }
    bs_schema_release(sc);
    return rc;
}

static int e_send(void *ud, const bs_repair_peer *to, uint8_t verb,
                  const void *p, size_t len, uint32_t timeout_ms,
                  bs_repair_answer_fn cb, void *cbud) {
    env_state *st = ud;
    bs_msg_peer peer;
    memset(&peer, 0, sizeof peer);
    memcpy(peer.addr, to->addr, sizeof peer.addr);
    peer.addr[sizeof peer.addr - 1] = 0;
    peer.port = to->port;
    return bs_msg_send(st->msg, &peer, verb, p, len, timeout_ms, cb, cbud);
}

/* The bs_msg handler of every repair verb (messaging thread). */
static void on_msg(void *ud, bs_msg *m, const bs_msg_in *in) {
    env_state *st = ud;
    bs_msg_in *copy = malloc(sizeof *copy);
    if (!copy) {
        bs_msg_reply(m, in, BS_ENOMEM, NULL, 0);
        return;
    }
    *copy = *in;
    copy->payload = NULL;
    copy->len = 0;
    bs_repair_in ri;
    memset(&ri, 0, sizeof ri);
    ri.verb = in->verb;
    snprintf(ri.from, sizeof ri.from, "%s", in->from.addr);
    ri.payload = in->payload;
    ri.len = in->len;
    ri.reply_to = copy;
    st->h(st->hud, &ri);
}

static int e_serve(void *ud, uint8_t verb, bs_repair_serve_fn h, void *hud) {
    env_state *st = ud;
    if (!h) return bs_msg_register(st->msg, verb, NULL, NULL);
    st->h = h;
    st->hud = hud;
    return bs_msg_register(st->msg, verb, on_msg, st);
}

static void e_reply(void *ud, void *reply_to, int status, const void *p,
                    size_t len) {
    env_state *st = ud;
    bs_msg_reply(st->msg, reply_to, status, p, len);
    free(reply_to);
}

int bs_node_repair_env(bs_local *local, bs_msg *msg,
                       const bs_coord_membership *mem, bs_repair_env *out) {
    if (!local || !msg || !mem || !mem->ring || !mem->alive || !out)
        return BS_EINVAL;
    env_state *st = calloc(1, sizeof *st);
    if (!st) return BS_ENOMEM;
    st->local = local;
    st->msg = msg;
    st->mem = *mem;
    memset(out, 0, sizeof *out);
    out->ud = st;
    out->store = bs_local_store(local);
    bs_local_host_id(local, &out->self);
    out->ring = e_ring;
    out->alive = e_alive;
    out->endpoint = e_endpoint;
    out->catalog = e_catalog;
    out->send = e_send;
    out->serve = e_serve;
    out->reply = e_reply;
    out->release = free;
    return 0;
}

int bs_node_repair_new(const bs_repair_opts *o, bs_local *local, bs_msg *msg,
                       const bs_coord_membership *mem, bs_repair **out) {
    bs_repair_env env;
    int rc = bs_node_repair_env(local, msg, mem, &env);
    if (rc) return rc;
    rc = bs_repair_new(o, &env, out);
    if (rc) env.release(env.ud);
    return rc;
}
