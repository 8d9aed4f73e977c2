/*
 * driver_cluster.c - cluster discovery, the token map, replica routing
 * and server events.
 *
 * Discovery runs on the control connection (one extra connection to one
 * node, not part of any pool) as a chain of internal queries:
 *
 *   REGISTER [TOPOLOGY_CHANGE, STATUS_CHANGE, SCHEMA_CHANGE]   (once)
 *   SELECT * FROM system.local
 *   SELECT * FROM system.peers_v2   (falls back to system.peers when the
 *                                    server does not have it)
 *   SELECT keyspace_name, replication FROM system_schema.keyspaces
 *
 * and then applies the result under c->mu: hosts are matched by their
 * "rpc address:native port" key (peers_v2 gives the port; with
 * system.peers the control node's port is assumed), new ones are added,
 * missing ones flagged removed (a host is never freed before the client,
 * so request plans may keep pointing at it), the ring snapshot is rebuilt
 * from every member's tokens (node i of the snapshot is ring_hosts[i]),
 * and each keyspace's strategy is rebuilt from its replication map
 * (SimpleStrategy / NetworkTopologyStrategy; others route round-robin).
 * Replica maps are built lazily per keyspace on first use.
 *
 * Events (TOPOLOGY_CHANGE, STATUS_CHANGE, SCHEMA_CHANGE on a keyspace)
 * schedule a refresh 100 ms later (a burst of events costs one refresh);
 * STATUS_CHANGE DOWN also marks the host down at once and UP marks it up.
 * When the control connection is lost it is reopened, with backoff, to a
 * known member (up ones first) or a contact point, and refreshes again.
 *
 * Query plans: token-aware when a routing token and keyspace are known:
 * the token's replicas (local DC first, rotated per request to spread
 * load), then every other member; otherwise members round-robin, local DC
 * first.  Hosts marked down go last, unless their reconnect backoff has
 * expired (then they are probed in their normal place).
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/driver_int.h"
#include "query/value.h"
#include "ring/murmur3.h"

/* ------------------------------------------------------------ refresh */

typedef struct rhost {
    char addr[64];
    int port;
    char dc[64], rack[64], host_id[40], release[32];
    int64_t *tokens;
    size_t ntokens;
} rhost;

typedef struct rks {
    char *name;
    bs_ring_strategy *st;
} rks;

typedef struct refresh {
    rhost *hosts;
    size_t nhosts;
    rks *kss;
    size_t nkss;
    int control_port;
    char control_addr[64];
} refresh;

static void refresh_free(refresh *rf) {
    if (!rf) return;
    for (size_t i = 0; i < rf->nhosts; i++)
        free(rf->hosts[i].tokens);
    free(rf->hosts);
    for (size_t i = 0; i < rf->nkss; i++) {
        free(rf->kss[i].name);
        bs_ring_strategy_free(rf->kss[i].st);
    }
    free(rf->kss);
    free(rf);
}

static void refresh_finish(bs_client *c, int rc, const bs_client_error *err);

static int send_raw(bs_client *c, const char *text, uint8_t opcode,
                    bs__internal_cb cb, void *iud) {
    bs__req *r = bs__req_new(BS__REQ_RAW);
    if (!r) return BS_ENOMEM;
    if (text && !(r->text = strdup(text))) {
        bs__req_free(r);
        return BS_ENOMEM;
    }
    r->opcode = opcode;
    r->fixed = c->control;
    r->icb = cb;
    r->iud = iud;
    bs__dispatch(c, r);
    return 0;
}

/* Column text into dst ("" when null/missing). */
static void col_text(bs_client_result *res, const char *name, char *dst,
                     size_t cap) {
    dst[0] = '\0';
    int i = bs_client_result_column_index(res, name);
    if (i < 0) return;
    const uint8_t *p;
    size_t len;
    if (bs_client_result_get_bytes(res, (size_t)i, &p, &len) ||
        len == BS_CLIENT_NULL)
        return;
    const bs_type *t = bs_client_result_column_type(res, (size_t)i);
    if (t && t->kind == BS_TYPE_INET) {
        int af = len == 4 ? AF_INET : len == 16 ? AF_INET6 : -1;
        if (af < 0 || !inet_ntop(af, p, dst, (socklen_t)cap)) dst[0] = '\0';
        return;
    }
    if (t && (t->kind == BS_TYPE_UUID || t->kind == BS_TYPE_TIMEUUID)) {
        if (len == 16 && cap > BS_UUID_STRLEN) {
            bs_uuid u;
            memcpy(u.b, p, 16);
            bs_uuid_format(&u, dst);
        }
        return;
    }
    bs__strlcpy(dst, cap, (const char *)p, len);
}

static int col_int(bs_client_result *res, const char *name, int dflt) {
    int i = bs_client_result_column_index(res, name);
    int32_t v;
    if (i < 0 || bs_client_result_get_int32(res, (size_t)i, &v)) return dflt;
    return v;
}

static int col_tokens(bs_client_result *res, rhost *h) {
    int i = bs_client_result_column_index(res, "tokens");
    if (i < 0) return 0;
    const uint8_t *p;
    size_t len;
    const bs_type *t = bs_client_result_column_type(res, (size_t)i);
    if (bs_client_result_get_bytes(res, (size_t)i, &p, &len) ||
        len == BS_CLIENT_NULL || !t)
        return 0;
    bs_value_iter it;
    if (bs_value_iter_init(&it, t, p, len)) return 0;
    size_t cap = it.count;
    if (cap > len) return 0; /* a lying count */
    h->tokens = calloc(cap ? cap : 1, sizeof *h->tokens);
    if (!h->tokens) return BS_ENOMEM;
    bs_value_elem e;
    while (h->ntokens < cap && bs_value_iter_next(&it, &e) == 0) {
        char buf[32];
        if (e.len == BS_VALUE_NULL || e.len >= sizeof buf) continue;
        memcpy(buf, e.p, e.len);
        buf[e.len] = '\0';
        char *end;
        long long v = strtoll(buf, &end, 10);
        if (end == buf || *end || v == INT64_MIN) continue;
        h->tokens[h->ntokens++] = v;
    }
    return 0;
}

static int add_rhost(refresh *rf, rhost **out) {
    rhost *n = realloc(rf->hosts, (rf->nhosts + 1) * sizeof *n);
    if (!n) return BS_ENOMEM;
    rf->hosts = n;
    *out = &n[rf->nhosts++];
    memset(*out, 0, sizeof **out);
    return 0;
}

static void on_keyspaces(bs_client *c, bs__req *r,
                         const bs_proto_response *resp, bs_client_result *res,
                         int code, bs_client_error *err);
static void on_peers(bs_client *c, bs__req *r, const bs_proto_response *resp,
                     bs_client_result *res, int code, bs_client_error *err);

static void query_peers(bs_client *c, refresh *rf) {
    const char *q = c->peers_v2 != 0 ? "SELECT * FROM system.peers_v2"
                                     : "SELECT * FROM system.peers";
    if (send_raw(c, q, BS_PROTO_OP_QUERY, on_peers, rf)) {
        refresh_free(rf);
        refresh_finish(c, BS_ENOMEM, NULL);
    }
}

static void on_local(bs_client *c, bs__req *r, const bs_proto_response *resp,
                     bs_client_result *res, int code, bs_client_error *err) {
    (void)resp;
    refresh *rf = r->iud;
    if (code) {
        refresh_free(rf);
        refresh_finish(c, code, err);
        return;
    }
    rhost *h;
    if (bs_client_result_next_row(res) && add_rhost(rf, &h) == 0) {
        col_text(res, "rpc_address", h->addr, sizeof h->addr);
        if (!h->addr[0] || !strcmp(h->addr, "0.0.0.0") ||
            !strcmp(h->addr, "::"))
            bs__strlcpy(h->addr, sizeof h->addr, rf->control_addr,
                        strlen(rf->control_addr));
        h->port = col_int(res, "rpc_port", rf->control_port);
        if (h->port <= 0 || h->port > 65535) h->port = rf->control_port;
        col_text(res, "data_center", h->dc, sizeof h->dc);
        col_text(res, "rack", h->rack, sizeof h->rack);
        col_text(res, "host_id", h->host_id, sizeof h->host_id);
        col_text(res, "release_version", h->release, sizeof h->release);
        col_tokens(res, h);
    }
    bs_client_result_free(res);
    query_peers(c, rf);
}

static void on_peers(bs_client *c, bs__req *r, const bs_proto_response *resp,
                     bs_client_result *res, int code, bs_client_error *err) {
    (void)resp;
    refresh *rf = r->iud;
    if (code) {
        if (c->peers_v2 != 0 && code == BS_CLIENT_ESERVER) {
            c->peers_v2 = 0; /* no peers_v2 here: use system.peers */
            query_peers(c, rf);
            return;
        }
        refresh_free(rf);
        refresh_finish(c, code, err);
        return;
    }
    int v2 = bs_client_result_column_index(res, "native_address") >= 0;
    if (c->peers_v2 < 0) c->peers_v2 = v2;
    while (bs_client_result_next_row(res)) {
        rhost *h;
        if (add_rhost(rf, &h)) break;
        if (v2) {
            col_text(res, "native_address", h->addr, sizeof h->addr);
            h->port = col_int(res, "native_port", rf->control_port);
        } else {
            col_text(res, "rpc_address", h->addr, sizeof h->addr);
            h->port = rf->control_port;
        }
        if (!h->addr[0] || !strcmp(h->addr, "0.0.0.0") ||
            !strcmp(h->addr, "::"))
            col_text(res, "peer", h->addr, sizeof h->addr);
        if (h->port <= 0 || h->port > 65535) h->port = rf->control_port;
        col_text(res, "data_center", h->dc, sizeof h->dc);
        col_text(res, "rack", h->rack, sizeof h->rack);
        col_text(res, "host_id", h->host_id, sizeof h->host_id);
        col_text(res, "release_version", h->release, sizeof h->release);
        col_tokens(res, h);
        if (!h->addr[0]) { /* unusable row */
            free(h->tokens);
            rf->nhosts--;
        }
    }
    bs_client_result_free(res);
    if (send_raw(c,
                 "SELECT keyspace_name, replication FROM "
                 "system_schema.keyspaces",
                 BS_PROTO_OP_QUERY, on_keyspaces, rf)) {
        refresh_free(rf);
        refresh_finish(c, BS_ENOMEM, NULL);
    }
}

static int ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

/* A strategy from a replication map; NULL for classes we do not route
 * by (LocalStrategy, EverywhereStrategy, unknown). */
static bs_ring_strategy *strategy_from(const bs_type *t, const uint8_t *p,
                                       size_t len) {
    bs_value_iter it;
    if (!t || t->kind != BS_TYPE_MAP || bs_value_iter_init(&it, t, p, len))
        return NULL;
    char cls[256] = "";
    char *dcs[64];
    uint32_t rfs[64];
    size_t n = 0;
    uint32_t simple_rf = 0;
    bs_value_elem k, v;
    while (bs_value_iter_next(&it, &k) == 0 &&
           bs_value_iter_next(&it, &v) == 0) {
        if (k.len == BS_VALUE_NULL || v.len == BS_VALUE_NULL) continue;
        char key[128], val[256];
        bs__strlcpy(key, sizeof key, (const char *)k.p, k.len);
        bs__strlcpy(val, sizeof val, (const char *)v.p, v.len);
        if (!strcmp(key, "class")) {
            bs__strlcpy(cls, sizeof cls, val, strlen(val));
            continue;
        }
        long rf = strtol(val, NULL, 10);
        if (rf < 0 || rf > 1000) rf = 0;
        if (!strcmp(key, "replication_factor")) {
            simple_rf = (uint32_t)rf;
            continue;
        }
        if (n < 64 && (dcs[n] = strdup(key))) rfs[n++] = (uint32_t)rf;
    }
    bs_ring_strategy *st = NULL;
    if (ends_with(cls, "SimpleStrategy")) {
        if (simple_rf) bs_ring_strategy_simple(simple_rf, &st);
    } else if (ends_with(cls, "NetworkTopologyStrategy") && n) {
        bs_ring_strategy_nts((const char *const *)dcs, rfs, n, &st);
    }
    for (size_t i = 0; i < n; i++)
        free(dcs[i]);
    return st;
}

static void apply_refresh(bs_client *c, refresh *rf);

static void on_keyspaces(bs_client *c, bs__req *r,
                         const bs_proto_response *resp, bs_client_result *res,
                         int code, bs_client_error *err) {
    (void)resp;
    refresh *rf = r->iud;
    if (code) {
        refresh_free(rf);
        refresh_finish(c, code, err);
        return;
    }
    int ki = bs_client_result_column_index(res, "keyspace_name");
    int ri = bs_client_result_column_index(res, "replication");
    while (ki >= 0 && ri >= 0 && bs_client_result_next_row(res)) {
        const char *name;
        size_t nl;
        const uint8_t *p;
        size_t len;
        if (bs_client_result_get_text(res, (size_t)ki, &name, &nl) ||
            bs_client_result_get_bytes(res, (size_t)ri, &p, &len) ||
            len == BS_CLIENT_NULL)
            continue;
        rks *n = realloc(rf->kss, (rf->nkss + 1) * sizeof *n);
        if (!n) break;
        rf->kss = n;
        rks *k = &n[rf->nkss];
        k->name = malloc(nl + 1);
        if (!k->name) break;
        memcpy(k->name, name, nl);
        k->name[nl] = '\0';
        k->st = strategy_from(bs_client_result_column_type(res, (size_t)ri), p,
                              len);
        rf->nkss++;
    }
    bs_client_result_free(res);
    apply_refresh(c, rf);
    refresh_free(rf);
    refresh_finish(c, 0, NULL);
}

void bs__refresh_start(bs_client *c) {
    if (!c->control || c->refreshing) return;
    refresh *rf = calloc(1, sizeof *rf);
    if (!rf) return;
    bs__host *ch = c->control->host;
    rf->control_port = ch->port;
    bs__strlcpy(rf->control_addr, sizeof rf->control_addr, ch->addr,
                strlen(ch->addr));
    c->refreshing = 1;
    c->refresh_wanted = 0;
    pthread_mutex_lock(&c->mu);
    c->refresh_cur_gen = c->refresh_gen;
    pthread_mutex_unlock(&c->mu);
    if (send_raw(c, "SELECT * FROM system.local WHERE key = 'local'",
                 BS_PROTO_OP_QUERY, on_local, rf)) {
        refresh_free(rf);
        refresh_finish(c, BS_ENOMEM, NULL);
    }
}

/* ------------------------------------------------------------- hosts */

bs__host *bs__host_get(bs_client *c, const char *addr, int port) {
    char key[80];
    if (strchr(addr, ':'))
        snprintf(key, sizeof key, "[%s]:%d", addr, port);
    else
        snprintf(key, sizeof key, "%s:%d", addr, port);
    for (bs__host *h = c->hosts_all; h; h = h->next_all)
        if (!strcmp(h->key, key)) return h;
    bs__host *h = calloc(1, sizeof *h);
    if (!h) return NULL;
    bs__strlcpy(h->addr, sizeof h->addr, addr, strlen(addr));
    bs__strlcpy(h->key, sizeof h->key, key, strlen(key));
    h->port = port;
    h->up = 1;
    if (strchr(addr, ':')) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&h->sa;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        if (inet_pton(AF_INET6, addr, &s6->sin6_addr) != 1) {
            free(h);
            return NULL;
        }
        h->salen = sizeof *s6;
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&h->sa;
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        if (inet_pton(AF_INET, addr, &s4->sin_addr) != 1) {
            free(h);
            return NULL;
        }
        h->salen = sizeof *s4;
    }
    h->next_all = c->hosts_all;
    c->hosts_all = h;
    return h;
}

static int host_cmp(const void *a, const void *b) {
    const bs__host *x = *(bs__host *const *)a, *y = *(bs__host *const *)b;
    return strcmp(x->key, y->key);
}

static void ksmeta_free_all(bs__ksmeta *k) {
    while (k) {
        bs__ksmeta *nx = k->next;
        free(k->name);
        bs_ring_strategy_free(k->st);
        if (k->map) bs_ring_replica_map_release(k->map);
        free(k);
        k = nx;
    }
}

static void apply_refresh(bs_client *c, refresh *rf) {
    bs__host **nh = calloc(rf->nhosts ? rf->nhosts : 1, sizeof *nh);
    if (!nh) return;
    size_t n = 0;
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < rf->nhosts; i++) {
        rhost *r = &rf->hosts[i];
        bs__host *h = bs__host_get(c, r->addr, r->port);
        if (!h) continue;
        int dup = 0;
        for (size_t j = 0; j < n; j++)
            dup |= nh[j] == h;
        if (dup) continue;
        bs__strlcpy(h->dc, sizeof h->dc, r->dc, strlen(r->dc));
        bs__strlcpy(h->rack, sizeof h->rack, r->rack, strlen(r->rack));
        bs__strlcpy(h->host_id, sizeof h->host_id, r->host_id,
                    strlen(r->host_id));
        bs__strlcpy(h->release, sizeof h->release, r->release,
                    strlen(r->release));
        if (bs_uuid_parse(h->host_id, strlen(h->host_id), &h->uuid)) {
            /* no host id: derive a stable one from the address */
            uint64_t hh[2];
            bs_ring_murmur3_x64_128(h->key, strlen(h->key), 0, hh);
            bs_put_u64(h->uuid.b, hh[0]);
            bs_put_u64(h->uuid.b + 8, hh[1]);
        }
        free(h->tokens);
        h->tokens = r->tokens;
        h->ntokens = r->ntokens;
        r->tokens = NULL;
        r->ntokens = 0;
        h->removed = 0;
        nh[n++] = h;
    }
    qsort(nh, n, sizeof *nh, host_cmp);
    /* members that left */
    bs__host **gone = NULL;
    size_t ngone = 0;
    for (size_t i = 0; i < c->nhosts; i++) {
        int kept = 0;
        for (size_t j = 0; j < n && !kept; j++)
            kept = nh[j] == c->hosts[i];
        if (!kept) {
            c->hosts[i]->removed = 1;
            bs__host **g = realloc(gone, (ngone + 1) * sizeof *g);
            if (g) {
                gone = g;
                gone[ngone++] = c->hosts[i];
            }
        }
    }
    free(c->hosts);
    c->hosts = nh;
    c->nhosts = n;
    if (c->control) c->control_host = c->control->host;
    /* local DC: configured, else the control node's */
    if (c->cfg.local_dc)
        bs__strlcpy(c->local_dc, sizeof c->local_dc, c->cfg.local_dc,
                    strlen(c->cfg.local_dc));
    else if (!c->local_dc[0] && c->control_host)
        bs__strlcpy(c->local_dc, sizeof c->local_dc, c->control_host->dc,
                    strlen(c->control_host->dc));
    /* token map */
    if (c->ring) bs_ring_snapshot_release(c->ring);
    c->ring = NULL;
    free(c->ring_hosts);
    c->ring_hosts = NULL;
    bs_ring_builder *b = NULL;
    if (n && bs_ring_builder_new(&b) == 0) {
        int ok = 1;
        for (size_t i = 0; i < n && ok; i++) {
            bs_ring_node_desc d;
            d.host_id = nh[i]->uuid;
            d.endpoint = nh[i]->key;
            d.dc = nh[i]->dc;
            d.rack = nh[i]->rack;
            d.tokens = nh[i]->tokens;
            d.ntokens = nh[i]->ntokens;
            ok = bs_ring_builder_add_node(b, &d) == 0;
        }
        c->ring_hosts = malloc(n * sizeof *c->ring_hosts);
        if (ok && c->ring_hosts && bs_ring_builder_build(b, &c->ring) == 0) {
            memcpy(c->ring_hosts, nh, n * sizeof *nh);
        } else {
            c->ring = NULL;
            free(c->ring_hosts);
            c->ring_hosts = NULL;
        }
        bs_ring_builder_free(b);
    }
    /* keyspaces */
    ksmeta_free_all(c->ksmeta);
    c->ksmeta = NULL;
    for (size_t i = 0; i < rf->nkss; i++) {
        bs__ksmeta *k = calloc(1, sizeof *k);
        if (!k) break;
        k->name = rf->kss[i].name;
        k->st = rf->kss[i].st;
        rf->kss[i].name = NULL;
        rf->kss[i].st = NULL;
        k->next = c->ksmeta;
        c->ksmeta = k;
    }
    c->topo_version++;
    pthread_mutex_unlock(&c->mu);
    for (size_t i = 0; i < ngone; i++)
        bs__pool_close(c, gone[i]);
    free(gone);
    /* open pools to members once the client is up */
    if (c->ready > 0)
        for (size_t i = 0; i < c->nhosts; i++)
            if (c->hosts[i]->up) bs__pool_fill(c, c->hosts[i]);
}

/* ------------------------------------------------- connect life cycle */

static void on_initial_use(bs_client *c, bs__req *r,
                           const bs_proto_response *resp, bs_client_result *res,
                           int code, bs_client_error *err) {
    (void)r;
    (void)resp;
    bs_client_result_free(res);
    pthread_mutex_lock(&c->mu);
    if (code) {
        c->ready = code;
        if (err) c->connect_err = *err;
    } else {
        c->ready = 1;
    }
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    if (!code)
        for (size_t i = 0; i < c->nhosts; i++)
            bs__pool_fill(c, c->hosts[i]);
}

static void refresh_finish(bs_client *c, int rc, const bs_client_error *err) {
    c->refreshing = 0;
    pthread_mutex_lock(&c->mu);
    c->refresh_done_gen = c->refresh_cur_gen;
    c->refresh_rc = rc;
    if (err)
        c->refresh_err = *err;
    else
        bs__err_set(&c->refresh_err, rc, NULL, "%s",
                    rc ? bs_client_strerror(rc) : "");
    if (!rc) c->refresh_err.code = 0;
    int initial = c->ready == 0;
    if (initial && rc) {
        c->ready = rc;
        c->connect_err = c->refresh_err;
    }
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    if (initial && !rc) {
        if (c->keyspace[0]) {
            char q[300];
            snprintf(q, sizeof q, "USE \"%s\"", c->keyspace);
            if (send_raw(c, q, BS_PROTO_OP_QUERY, on_initial_use, NULL))
                on_initial_use(c, NULL, NULL, NULL, BS_ENOMEM, NULL);
        } else {
            on_initial_use(c, NULL, NULL, NULL, 0, NULL);
        }
    }
}

static void on_registered(bs_client *c, bs__req *r,
                          const bs_proto_response *resp, bs_client_result *res,
                          int code, bs_client_error *err) {
    (void)r;
    (void)resp;
    (void)err;
    bs_client_result_free(res);
    (void)code; /* a server without events still works, just less fresh */
    (void)c;
}

void bs__control_ready(bs_client *c, bs__conn *cn) {
    c->control_fails = 0;
    c->control_retry_ns = 0;
    (void)cn;
    send_raw(c, NULL, BS_PROTO_OP_REGISTER, on_registered, NULL);
    c->refreshing = 0;
    bs__refresh_start(c);
}

void bs__control_lost(bs_client *c) {
    c->refreshing = 0;
    int64_t now = bs__now_ns();
    if (c->ready == 0) {
        /* still connecting: next contact point right away */
        c->cp_next++;
        c->control_retry_ns = now;
        return;
    }
    c->control_fails++;
    int sh = c->control_fails < 6 ? c->control_fails : 6;
    c->control_retry_ns = now + (50LL << sh) * 1000000LL;
}

/* Control candidates: contact points while connecting; afterwards the
 * members (up first), then the contact points. */
static bs__host *control_candidate(bs_client *c, size_t i, size_t *count) {
    if (c->ready == 0) {
        *count = c->ncp_hosts;
        return i < c->ncp_hosts ? c->cp_hosts[i] : NULL;
    }
    pthread_mutex_lock(&c->mu);
    size_t nm = c->nhosts;
    *count = nm + c->ncp_hosts;
    bs__host *h = NULL;
    if (i < nm) {
        /* up ones first: index into a conceptual [up..., down...] list */
        size_t k = 0;
        for (int pass = 0; pass < 2 && !h; pass++)
            for (size_t j = 0; j < nm && !h; j++)
                if ((c->hosts[j]->up != 0) == (pass == 0) && k++ == i)
                    h = c->hosts[j];
    } else if (i - nm < c->ncp_hosts) {
        h = c->cp_hosts[i - nm];
    }
    pthread_mutex_unlock(&c->mu);
    return h;
}

void bs__cluster_tick(bs_client *c, int64_t now) {
    if (!c->control && c->control_retry_ns && now >= c->control_retry_ns) {
        size_t count = 0;
        bs__host *h = NULL;
        control_candidate(c, 0, &count);
        if (c->ready == 0 && c->cp_next >= count) {
            c->control_retry_ns = 0;
            pthread_mutex_lock(&c->mu);
            if (!c->connect_err.code)
                bs__err_set(&c->connect_err, BS_CLIENT_ENOHOST, NULL,
                            "no contact point reachable");
            c->ready = c->connect_err.code;
            pthread_cond_broadcast(&c->cv);
            pthread_mutex_unlock(&c->mu);
            return;
        }
        if (count) {
            size_t i = c->cp_next % count;
            h = control_candidate(c, i, &count);
            if (c->ready != 0) c->cp_next++;
        }
        if (!h) {
            c->control_retry_ns = now + 1000000000LL;
            return;
        }
        c->control_retry_ns = 0;
        bs__conn *cn = bs__conn_open(c, h, 1);
        if (cn && cn->state != BS__CS_CLOSED) {
            c->control = cn;
        } else {
            if (c->ready == 0) {
                pthread_mutex_lock(&c->mu);
                bs__err_set(&c->connect_err, BS_CLIENT_ECONNREFUSED, h->key,
                            "%s: connection refused", h->key);
                pthread_mutex_unlock(&c->mu);
            }
            bs__control_lost(c);
        }
        return;
    }
    pthread_mutex_lock(&c->mu);
    int want = c->refresh_gen > c->refresh_done_gen &&
               c->refresh_gen > c->refresh_cur_gen;
    pthread_mutex_unlock(&c->mu);
    if (want && !c->refresh_wanted) {
        c->refresh_wanted = 1;
        c->refresh_at_ns = now;
    }
    if (c->refresh_wanted && now >= c->refresh_at_ns && c->control &&
        c->control->state == BS__CS_READY && !c->refreshing)
        bs__refresh_start(c);
}

/* ---------------------------------------------------- schema agreement */

/* Like the Java/Python drivers: after DDL, poll system.local and
 * system.peers on the control connection every 200 ms until every up node
 * reports the same schema_version (at most 10 s, or the request's
 * deadline), so the next statement finds the new schema on any node.  One
 * refinement: the version to reach is first read from the node that ran
 * the DDL (on the connection that answered), so a control node whose
 * gossip has not heard of the change yet cannot report a stale
 * "agreement".  The DDL itself succeeded either way: the result is always
 * delivered. */

typedef struct agree {
    bs__req *user;
    bs_client_result *res;
    int64_t until;
    char ver[40];    /* the control node's own version */
    char target[40]; /* the DDL coordinator's version, "" if unknown */
} agree;

static void agree_done(bs_client *c, agree *a) {
    bs__complete(c, a->user, a->res, 0, NULL);
    free(a);
}

static void on_agree_local(bs_client *c, bs__req *r,
                           const bs_proto_response *resp, bs_client_result *res,
                           int code, bs_client_error *err);

static void agree_step(bs_client *c, agree *a, int64_t delay_ns) {
    bs__req *r = bs__req_new(BS__REQ_RAW);
    if (!r || !(r->text = strdup("SELECT schema_version FROM system.local "
                                 "WHERE key = 'local'"))) {
        bs__req_free(r);
        agree_done(c, a);
        return;
    }
    r->opcode = BS_PROTO_OP_QUERY;
    r->fixed_control = 1;
    r->icb = on_agree_local;
    r->iud = a;
    if (delay_ns > 0)
        bs__dispatch_later(c, r, delay_ns);
    else
        bs__dispatch(c, r);
}

static void on_agree_peers(bs_client *c, bs__req *r,
                           const bs_proto_response *resp, bs_client_result *res,
                           int code, bs_client_error *err) {
    (void)resp;
    (void)err;
    agree *a = r->iud;
    if (code) {
        bs_client_result_free(res);
        agree_done(c, a);
        return;
    }
    int agreed =
        a->ver[0] != '\0' && (!a->target[0] || !strcmp(a->ver, a->target));
    while (agreed && bs_client_result_next_row(res)) {
        char addr[64], ver[40];
        col_text(res, "native_address", addr, sizeof addr);
        if (!addr[0]) col_text(res, "rpc_address", addr, sizeof addr);
        if (!addr[0]) col_text(res, "peer", addr, sizeof addr);
        col_text(res, "schema_version", ver, sizeof ver);
        int up = 1;
        pthread_mutex_lock(&c->mu);
        for (size_t i = 0; i < c->nhosts; i++)
            if (!strcmp(c->hosts[i]->addr, addr)) up = c->hosts[i]->up;
        pthread_mutex_unlock(&c->mu);
        if (up && strcmp(ver, a->ver)) agreed = 0;
    }
    bs_client_result_free(res);
    if (agreed || bs__now_ns() >= a->until) {
        agree_done(c, a);
        return;
    }
    agree_step(c, a, 200000000LL);
}

static void on_agree_local(bs_client *c, bs__req *r,
                           const bs_proto_response *resp, bs_client_result *res,
                           int code, bs_client_error *err) {
    (void)resp;
    (void)err;
    agree *a = r->iud;
    if (code || !bs_client_result_next_row(res)) {
        bs_client_result_free(res);
        agree_done(c, a);
        return;
    }
    col_text(res, "schema_version", a->ver, sizeof a->ver);
    bs_client_result_free(res);
    bs__req *q = bs__req_new(BS__REQ_RAW);
    if (!q ||
        !(q->text = strdup(c->peers_v2 != 0 ? "SELECT * FROM system.peers_v2"
                                            : "SELECT * FROM system.peers"))) {
        bs__req_free(q);
        agree_done(c, a);
        return;
    }
    q->opcode = BS_PROTO_OP_QUERY;
    q->fixed_control = 1;
    q->icb = on_agree_peers;
    q->iud = a;
    bs__dispatch(c, q);
}

static void on_agree_target(bs_client *c, bs__req *r,
                            const bs_proto_response *resp,
                            bs_client_result *res, int code,
                            bs_client_error *err) {
    (void)resp;
    (void)err;
    agree *a = r->iud;
    if (!code && bs_client_result_next_row(res))
        col_text(res, "schema_version", a->target, sizeof a->target);
    bs_client_result_free(res);
    agree_step(c, a, 0);
}

void bs__schema_agreement(bs_client *c, bs__req *user, bs_client_result *res,
                          bs__conn *cn) {
    agree *a = calloc(1, sizeof *a);
    if (!a) {
        bs__complete(c, user, res, 0, NULL);
        return;
    }
    a->user = user;
    a->res = res;
    int64_t now = bs__now_ns();
    a->until = now + 10000000000LL;
    if (user->deadline_ns && user->deadline_ns < a->until)
        a->until = user->deadline_ns;
    bs__req *r = bs__req_new(BS__REQ_RAW);
    if (!r || !(r->text = strdup("SELECT schema_version FROM system.local "
                                 "WHERE key = 'local'"))) {
        bs__req_free(r);
        agree_step(c, a, 0);
        return;
    }
    r->opcode = BS_PROTO_OP_QUERY;
    r->fixed = cn; /* the node that ran the DDL */
    r->icb = on_agree_target;
    r->iud = a;
    bs__dispatch(c, r);
}

/* ------------------------------------------------------------- events */

static bs__host *host_by_inet(bs_client *c, const bs_proto_inet *in) {
    char a[64];
    int af = in->addr_len == 4 ? AF_INET : in->addr_len == 16 ? AF_INET6 : -1;
    if (af < 0 || !inet_ntop(af, in->addr, a, sizeof a)) return NULL;
    bs__host *any = NULL;
    for (size_t i = 0; i < c->nhosts; i++) {
        bs__host *h = c->hosts[i];
        if (strcmp(h->addr, a)) continue;
        if (h->port == in->port) return h;
        any = h;
    }
    return any;
}

void bs__handle_event(bs_client *c, const bs_proto_event *ev) {
    int64_t now = bs__now_ns();
    if (bs_proto_str_eq(ev->type, "STATUS_CHANGE")) {
        pthread_mutex_lock(&c->mu);
        bs__host *h = host_by_inet(c, &ev->addr);
        if (h) {
            if (bs_proto_str_eq(ev->change, "DOWN")) {
                h->up = 0;
                h->next_try_ns = now + 1000000000LL;
            } else if (bs_proto_str_eq(ev->change, "UP")) {
                h->up = 1;
                h->fail_count = 0;
                h->next_try_ns = 0;
            }
        }
        pthread_mutex_unlock(&c->mu);
    } else if (bs_proto_str_eq(ev->type, "SCHEMA_CHANGE")) {
        /* only keyspace-level changes alter replication */
        if (!bs_proto_str_eq(ev->schema.target, "KEYSPACE")) return;
    } else if (!bs_proto_str_eq(ev->type, "TOPOLOGY_CHANGE")) {
        return;
    }
    if (!c->refresh_wanted) {
        c->refresh_wanted = 1;
        c->refresh_at_ns = now + 100000000LL;
    }
}

/* ------------------------------------------------------------ routing */

static bs__ksmeta *ksmeta_find(bs_client *c, const char *ks) {
    for (bs__ksmeta *k = c->ksmeta; k; k = k->next)
        if (!strcmp(k->name, ks)) return k;
    return NULL;
}

int bs__replicas_locked(bs_client *c, const char *ks, int64_t token,
                        bs__host **out, size_t cap, size_t *n) {
    *n = 0;
    if (!c->ring || !bs_ring_snapshot_token_count(c->ring)) return BS_ENOTFOUND;
    bs__ksmeta *k = ks ? ksmeta_find(c, ks) : NULL;
    if (!k || !k->st) {
        uint32_t node;
        if (bs_ring_snapshot_primary(c->ring, token, &node))
            return BS_ENOTFOUND;
        if (cap) out[(*n)++] = c->ring_hosts[node];
        return 0;
    }
    if (!k->map && bs_ring_replica_map_build(c->ring, k->st, &k->map))
        return BS_ENOMEM;
    const uint32_t *nodes;
    size_t nn;
    if (bs_ring_replica_map_lookup(k->map, token, &nodes, &nn))
        return BS_ENOTFOUND;
    for (size_t i = 0; i < nn && *n < cap; i++)
        out[(*n)++] = c->ring_hosts[nodes[i]];
    return 0;
}

/* 1 when h should be tried in its normal place (up, or backoff over). */
static int usable(const bs__host *h, int64_t now) {
    return h->up || now >= h->next_try_ns;
}

int bs__plan_build(bs_client *c, bs__req *r) {
    int64_t now = bs__now_ns();
    pthread_mutex_lock(&c->mu);
    bs__host **members = c->hosts;
    size_t nm = c->nhosts;
    if (!nm || c->cfg.contact_only) {
        members = c->cp_hosts;
        nm = c->ncp_hosts;
    }
    bs__host **plan = calloc(nm + 1, sizeof *plan);
    if (!plan) {
        pthread_mutex_unlock(&c->mu);
        return BS_ENOMEM;
    }
    size_t np = 0;
    uint64_t rr = c->rr++;
    const char *ldc = c->local_dc;
    int64_t token;
    if (c->cfg.token_aware && !c->cfg.contact_only && r->stmt &&
        bs_client_stmt_routing_token(r->stmt, &token) == 0) {
        const char *ks = bs__stmt_route_ks(r->stmt);
        if (!ks && c->keyspace[0]) ks = c->keyspace;
        bs__host *reps[64];
        size_t nr = 0;
        if (bs__replicas_locked(c, ks, token, reps, 64, &nr) == 0 && nr) {
            /* local & usable, rotated; then other usable; then the rest */
            for (int pass = 0; pass < 3; pass++) {
                size_t start = pass == 0 ? (size_t)(rr % nr) : 0;
                for (size_t k = 0; k < nr; k++) {
                    bs__host *h = reps[(start + k) % nr];
                    int loc = !ldc[0] || !strcmp(h->dc, ldc);
                    int ok = usable(h, now);
                    int want = pass == 0   ? ok && loc
                               : pass == 1 ? ok && !loc
                                           : !ok;
                    if (want && !h->removed) plan[np++] = h;
                }
            }
        }
    }
    for (int pass = 0; pass < 3; pass++) {
        for (size_t k = 0; k < nm; k++) {
            bs__host *h = members[(rr + k) % nm];
            int loc = !ldc[0] || !strcmp(h->dc, ldc);
            int ok = usable(h, now);
            int want = pass == 0 ? ok && loc : pass == 1 ? ok && !loc : !ok;
            if (!want) continue;
            int dup = 0;
            for (size_t j = 0; j < np && !dup; j++)
                dup = plan[j] == h;
            if (!dup && np < nm + 1) plan[np++] = h;
        }
    }
    pthread_mutex_unlock(&c->mu);
    free(r->plan);
    r->plan = plan;
    r->nplan = np;
    r->plan_pos = 0;
    return 0;
}

/* ------------------------------------------------------------ teardown */

void bs__cluster_free(bs_client *c) {
    bs__host *h = c->hosts_all;
    while (h) {
        bs__host *nx = h->next_all;
        free(h->tokens);
        free(h->pool);
        free(h);
        h = nx;
    }
    c->hosts_all = NULL;
    free(c->hosts);
    c->hosts = NULL;
    free(c->cp_hosts);
    c->cp_hosts = NULL;
    if (c->ring) bs_ring_snapshot_release(c->ring);
    c->ring = NULL;
    free(c->ring_hosts);
    c->ring_hosts = NULL;
    ksmeta_free_all(c->ksmeta);
    c->ksmeta = NULL;
}
