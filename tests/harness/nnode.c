/*
 * nnode.c - the in-process N-node cluster of nnode.h.
 *
 * Order of things, kept in one place: start = stores opened (tokens
 * chosen and persisted by bs_local), ring built from them, messaging
 * started and endpoints published; services start on top.  Any way down
 * = service stop, messaging stop (fails what is still in flight), service
 * free, then (teardown or restart) store close.
 */
#include "tests/harness/nnode.h"

#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "node/repair_env.h"
#include "query/schema.h"

static int fail(bs_nnode *c, int rc, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, sizeof c->err, fmt, ap);
    va_end(ap);
    return rc ? rc : BS_EINVAL;
}

void bs_nnode_opts_default(bs_nnode_opts *o) {
    memset(o, 0, sizeof *o);
    o->n = 3;
    o->num_tokens = 4;
    o->cluster_name = "nnode-test";
    o->dir_prefix = "/tmp/bs_nnode_";
    o->reconnect_max_ms = 200;
}

/* ---- membership ---------------------------------------------------- */

static bs_ring_snapshot *m_ring(void *ud) {
    bs_nnode *c = ud;
    pthread_mutex_lock(&c->lock);
    bs_ring_snapshot *r = c->ring ? bs_ring_snapshot_retain(c->ring) : NULL;
    pthread_mutex_unlock(&c->lock);
    return r;
}

static bs_ring_snapshot *m_future(void *ud) {
    bs_nnode *c = ud;
    pthread_mutex_lock(&c->lock);
    bs_ring_snapshot *r = c->future ? bs_ring_snapshot_retain(c->future) : NULL;
    pthread_mutex_unlock(&c->lock);
    return r;
}

static int idx_of(const bs_nnode *c, const bs_uuid *h) {
    for (int i = 0; i < c->n; i++)
        if (!memcmp(c->host[i].b, h->b, 16)) return i;
    return -1;
}

static int m_alive(void *ud, const bs_uuid *h) {
    bs_nnode *c = ud;
    pthread_mutex_lock(&c->lock);
    int i = idx_of(c, h);
    int a = i >= 0 && c->alive[i];
    pthread_mutex_unlock(&c->lock);
    return a;
}

static int m_endpoint(void *ud, const bs_uuid *h, bs_msg_peer *out) {
    bs_nnode *c = ud;
    pthread_mutex_lock(&c->lock);
    int i = idx_of(c, h);
    if (i >= 0 && c->noaddr[i]) i = -1;
    if (i >= 0) *out = c->peer[i];
    pthread_mutex_unlock(&c->lock);
    return i >= 0 ? 0 : BS_ENOTFOUND;
}

void bs_nnode_membership(bs_nnode *c, bs_coord_membership *out) {
    memset(out, 0, sizeof *out);
    out->ud = c;
    out->ring = m_ring;
    out->future_ring = m_future;
    out->alive = m_alive;
    out->endpoint = m_endpoint;
}

void bs_nnode_set_alive(bs_nnode *c, int i, int a) {
    pthread_mutex_lock(&c->lock);
    c->alive[i] = a;
    pthread_mutex_unlock(&c->lock);
}

void bs_nnode_set_noaddr(bs_nnode *c, int i, int on) {
    pthread_mutex_lock(&c->lock);
    c->noaddr[i] = on;
    pthread_mutex_unlock(&c->lock);
}

/* ---- pieces of one node ------------------------------------------- */

static int local_open(bs_nnode *c, int i) {
    bs_nnode_node *n = &c->node[i];
    char err[256];
    int rc = bs_local_open(&n->cfg, &n->local, err, sizeof err);
    if (rc) return fail(c, rc, "node %d: %s", i, err);
    bs_local_backend(n->local, &n->lbe);
    return 0;
}

static int msg_start(bs_nnode *c, int i) {
    bs_nnode_node *n = &c->node[i];
    bs_msg_opts o;
    bs_msg_opts_default(&o);
    o.cluster_name = c->o.cluster_name;
    /* every node of the harness shares one cluster secret */
    o.secret = (const uint8_t *)"unit-test cluster secret";
    o.secret_len = 24;
    bs_local_host_id(n->local, &o.host_id);
    o.listen_address = "127.0.0.1";
    o.port = 0;
    o.reconnect_max_ms = c->o.reconnect_max_ms;
    int rc = bs_msg_start(&o, &n->msg);
    if (rc) return fail(c, rc, "node %d messaging: %s", i, bs_strerror(rc));
    pthread_mutex_lock(&c->lock);
    bs_msg_local(n->msg, &c->peer[i]);
    pthread_mutex_unlock(&c->lock);
    return 0;
}

void bs_nnode_msg_stop(bs_nnode *c, int i) {
    bs_msg_stop(c->node[i].msg);
    c->node[i].msg = NULL;
}

static int svc_start(bs_nnode *c, int i) {
    if (!c->svc.start) return 0;
    int rc = c->svc.start(c->svc.ud, i);
    return rc ? fail(c, rc, "node %d service: %s", i, bs_strerror(rc)) : 0;
}

/* Service stopped, messaging stopped, service freed. */
static void take_down(bs_nnode *c, int i) {
    if (c->svc.stop) c->svc.stop(c->svc.ud, i);
    bs_nnode_msg_stop(c, i);
    if (c->svc.free) c->svc.free(c->svc.ud, i);
}

static int rm_cb(const char *p, const struct stat *sb, int flag,
                 struct FTW *f) {
    (void)sb;
    (void)flag;
    (void)f;
    return remove(p);
}

/* ---- the cluster --------------------------------------------------- */

/* The ring of every node but `skip` (-1: all) into *out. */
static int build_ring_without(bs_nnode *c, int skip, bs_ring_snapshot **out) {
    bs_ring_builder *b;
    int rc = bs_ring_builder_new(&b);
    for (int i = 0; i < c->n && !rc; i++) {
        if (i == skip) continue;
        const int64_t *toks;
        size_t nt = bs_local_tokens(c->node[i].local, &toks);
        char ep[32];
        snprintf(ep, sizeof ep, "node%d", i);
        bs_ring_node_desc d = {c->host[i], ep, "dc1", "rack1", toks, nt};
        rc = bs_ring_builder_add_node(b, &d);
    }
    if (!rc) rc = bs_ring_builder_build(b, out);
    if (b) bs_ring_builder_free(b);
    return rc ? fail(c, rc, "ring: %s", bs_strerror(rc)) : 0;
}

static int build_ring(bs_nnode *c) { return build_ring_without(c, -1, &c->ring); }

int bs_nnode_set_change(bs_nnode *c, int i, int leaving) {
    bs_ring_snapshot *all = NULL, *part = NULL;
    int rc = build_ring_without(c, -1, &all);
    if (!rc && i >= 0) rc = build_ring_without(c, i, &part);
    if (rc) {
        if (all) bs_ring_snapshot_release(all);
        return rc;
    }
    pthread_mutex_lock(&c->lock);
    bs_ring_snapshot *oldr = c->ring, *oldf = c->future;
    if (i < 0) {
        c->ring = all;
        c->future = NULL;
    } else {
        c->ring = leaving ? all : part;
        c->future = leaving ? part : all;
    }
    pthread_mutex_unlock(&c->lock);
    if (oldr) bs_ring_snapshot_release(oldr);
    if (oldf) bs_ring_snapshot_release(oldf);
    return 0;
}

int bs_nnode_start(bs_nnode *c, const bs_nnode_opts *o) {
    memset(c, 0, sizeof *c);
    if (o)
        c->o = *o;
    else
        bs_nnode_opts_default(&c->o);
    pthread_mutex_init(&c->lock, NULL);
    if (c->o.n < 1 || c->o.n > BS_NNODE_MAX)
        return fail(c, BS_EINVAL, "n = %d", c->o.n);
    int rc = 0;
    for (int i = 0; i < c->o.n && !rc; i++) {
        bs_nnode_node *n = &c->node[i];
        snprintf(n->dir, sizeof n->dir, "%sXXXXXX", c->o.dir_prefix);
        if (!mkdtemp(n->dir)) {
            n->dir[0] = 0;
            rc = fail(c, BS_EIO, "mkdtemp %s failed", c->o.dir_prefix);
            break;
        }
        c->n = i + 1;
        bs_config_init(&n->cfg);
        char err[256], toks[16];
        snprintf(toks, sizeof toks, "%d", c->o.num_tokens);
        if (bs_config_set(&n->cfg, "data_directory", n->dir, err, sizeof err) ||
            bs_config_set(&n->cfg, "num_tokens", toks, err, sizeof err))
            rc = fail(c, BS_EINVAL, "node %d config: %s", i, err);
        if (!rc) rc = local_open(c, i);
        if (!rc) {
            bs_local_host_id(n->local, &c->host[i]);
            c->alive[i] = 1;
        }
    }
    if (!rc) rc = build_ring(c);
    for (int i = 0; i < c->n && !rc; i++)
        rc = msg_start(c, i);
    if (rc) {
        char keep[sizeof c->err];
        memcpy(keep, c->err, sizeof keep);
        bs_nnode_stop(c);
        memcpy(c->err, keep, sizeof keep);
    }
    return rc;
}

int bs_nnode_start_services(bs_nnode *c, const bs_nnode_service *svc) {
    c->svc = *svc;
    int rc = 0;
    for (int i = 0; i < c->n && !rc; i++)
        rc = svc_start(c, i);
    return rc;
}

static int repair_start(void *ud, int i) {
    bs_nnode *c = ud;
    bs_coord_membership mem;
    bs_nnode_membership(c, &mem);
    return bs_node_repair_new(&c->repair_opts, c->node[i].local, c->node[i].msg,
                              &mem, &c->repair[i]);
}
static void repair_stop(void *ud, int i) {
    bs_nnode *c = ud;
    bs_repair_stop(c->repair[i]);
}
static void repair_free(void *ud, int i) {
    bs_nnode *c = ud;
    bs_repair_free(c->repair[i]);
    c->repair[i] = NULL;
}

int bs_nnode_start_repair(bs_nnode *c, const bs_repair_opts *o) {
    if (o)
        c->repair_opts = *o;
    else
        bs_repair_opts_default(&c->repair_opts);
    bs_nnode_service svc = {c, repair_start, repair_stop, repair_free};
    return bs_nnode_start_services(c, &svc);
}

void bs_nnode_stop(bs_nnode *c) {
    for (int i = 0; i < c->n; i++)
        if (c->svc.stop) c->svc.stop(c->svc.ud, i);
    for (int i = 0; i < c->n; i++)
        bs_nnode_msg_stop(c, i);
    for (int i = 0; i < c->n; i++) {
        bs_nnode_node *n = &c->node[i];
        if (c->svc.free) c->svc.free(c->svc.ud, i);
        bs_local_close(n->local);
        n->local = NULL;
        bs_config_free(&n->cfg);
        if (n->dir[0]) nftw(n->dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    }
    memset(&c->svc, 0, sizeof c->svc);
    if (c->ring) bs_ring_snapshot_release(c->ring);
    c->ring = NULL;
    if (c->future) bs_ring_snapshot_release(c->future);
    c->future = NULL;
    c->n = 0;
    pthread_mutex_destroy(&c->lock);
}

void bs_nnode_down(bs_nnode *c, int i) {
    bs_nnode_set_alive(c, i, 0);
    take_down(c, i);
}

int bs_nnode_up(bs_nnode *c, int i) {
    int rc = msg_start(c, i);
    if (!rc) rc = svc_start(c, i);
    if (!rc) bs_nnode_set_alive(c, i, 1);
    return rc;
}

int bs_nnode_restart(bs_nnode *c, int i) {
    take_down(c, i);
    bs_local_close(c->node[i].local);
    c->node[i].local = NULL;
    int rc = local_open(c, i);
    if (!rc) rc = msg_start(c, i);
    if (!rc) rc = svc_start(c, i);
    return rc;
}

/* ---- schema ---------------------------------------------------------- */

static const bs_type k_text = {.kind = BS_TYPE_VARCHAR};

int bs_nnode_create_table(bs_nnode *c, const char *ks, int rf,
                          uint8_t id_byte) {
    for (int i = 0; i < c->n; i++) {
        bs_exec_backend *be = &c->node[i].lbe;
        bs_schema *cur = be->schema_get(be->ud);
        bs_schema *s = bs_schema_clone(cur);
        bs_schema_release(cur);
        if (!s) return fail(c, BS_ENOMEM, "schema clone");
        char err[256], rfs[16];
        snprintf(rfs, sizeof rfs, "%d", rf);
        const char *k[] = {"replication_factor"}, *v[] = {rfs};
        bs_column_def d[2] = {{"k", &k_text, BS_COL_PARTITION_KEY, 0, 0},
                              {"v", &k_text, BS_COL_REGULAR, -1, 0}};
        bs_uuid id;
        memset(id.b, id_byte, 16);
        int rc = bs_schema_create_keyspace(s, ks, "SimpleStrategy", 1, k, v, 1,
                                           1, err, sizeof err);
        if (!rc)
            rc = bs_schema_create_table(s, ks, "t", &id, d, 2, NULL, 0, 1, err,
                                        sizeof err);
        if (rc) {
            bs_schema_release(s);
            return fail(c, rc, "node %d: %s", i, err);
        }
        bs_exec_err e;
        memset(&e, 0, sizeof e);
        rc = be->schema_apply(be->ud, s, NULL, &e);
        if (rc) return fail(c, rc, "node %d: schema apply: %s", i, e.msg);
    }
    return 0;
}

int bs_nnode_vcol(bs_nnode *c, const char *ks) {
    bs_exec_backend *be = &c->node[0].lbe;
    bs_schema *s = be->schema_get(be->ud);
    const bs_table_schema *t = bs_schema_table(s, ks, "t");
    const bs_column *col = t ? bs_table_column(t, "v") : NULL;
    int id = col ? (int)col->id : -1;
    bs_schema_release(s);
    return id;
}
