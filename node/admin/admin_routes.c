/*
 * admin_routes.c - the built-in admin endpoints (/version, /info,
 * /status, /ring, /gossipinfo, /describecluster, /flush, /compact,
 * /drain) over the provider the embedder fills (admin.h).
 *
 * Each handler asks the provider for a snapshot allocated from the
 * request's arena and renders it as JSON; nothing is cached between
 * requests, so what a client sees is what gossip and the ring say at that
 * moment.  Rendering rules, shared with basalt-admin (client/admin*.c):
 *   - node lists are sorted by data center, then by address (numerically
 *     for IP literals), tokens by their signed value;
 *   - tokens are JSON strings (int64 does not fit a JSON double);
 *   - unknown quantities are null (load < 0, owns without a keyspace);
 *   - status is "U"/"D", state "N"/"L"/"J"/"M" in /status (the two
 *     letters nodetool prints) and spelled out in /ring.
 * Errors from the provider become JSON errors: BS_ENOTFOUND -> 404 (with
 * the provider's message when it gave one), BS_ENOTSUP -> 501, others
 * 500; a missing callback is 501.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "node/admin/admin_int.h"

#define DEFAULT_RELEASE "4.0.11"
#define BASALT_VERSION "0.1.0"

typedef struct builtins {
    bs_admin_provider p;
} builtins;

static const char *status_letter(bs_admin_liveness s) {
    return s == BS_ADMIN_UP ? "U" : "D";
}
static const char *status_word(bs_admin_liveness s) {
    return s == BS_ADMIN_UP ? "Up" : "Down";
}

static const char *state_letter(bs_admin_node_state s) {
    switch (s) {
    case BS_ADMIN_LEAVING: return "L";
    case BS_ADMIN_JOINING: return "J";
    case BS_ADMIN_MOVING: return "M";
    default: return "N";
    }
}

static const char *state_word(bs_admin_node_state s) {
    switch (s) {
    case BS_ADMIN_LEAVING: return "Leaving";
    case BS_ADMIN_JOINING: return "Joining";
    case BS_ADMIN_MOVING: return "Moving";
    default: return "Normal";
    }
}

/* Orders IP literals numerically (v4 before v6), anything else by text. */
static int addr_cmp(const char *a, const char *b) {
    unsigned char x[16], y[16];
    int fa = inet_pton(AF_INET, a, x) == 1    ? 4
             : inet_pton(AF_INET6, a, x) == 1 ? 6
                                              : 0;
    int fb = inet_pton(AF_INET, b, y) == 1    ? 4
             : inet_pton(AF_INET6, b, y) == 1 ? 6
                                              : 0;
    if (fa && fb) {
        if (fa != fb) return fa < fb ? -1 : 1;
        return memcmp(x, y, fa == 4 ? 4 : 16);
    }
    if (fa != fb) return fa ? -1 : 1;
    return strcmp(a, b);
}

static const char *nz(const char *s) {
    return s ? s : "";
}

static int node_cmp(const void *pa, const void *pb) {
    const bs_admin_node *a = pa, *b = pb;
    int c = strcmp(nz(a->dc), nz(b->dc));
    return c ? c : addr_cmp(nz(a->address), nz(b->address));
}

static void json_load(bs_admin_json *w, int64_t load) {
    if (load < 0)
        bs_admin_json_null(w);
    else
        bs_admin_json_int(w, load);
}

static void json_token(bs_admin_json *w, int64_t t) {
    char s[24];
    snprintf(s, sizeof s, "%lld", (long long)t);
    bs_admin_json_str(w, s);
}

static int provider_error(bs_admin_response *resp, int rc, const char *err,
                          const char *what) {
    int st = bs__admin_status_for(rc);
    if (err && *err) return bs_admin_error(resp, st, "%s", err);
    return bs_admin_error(resp, st, "%s: %s", what, bs_strerror(rc));
}

static int not_impl(bs_admin_response *resp, const char *what) {
    return bs_admin_error(resp, 501, "%s is not implemented by this node",
                          what);
}

/* Optional query parameter: NULL when absent; BS_EINVAL when malformed. */
static int opt_param(const bs_admin_request *req, const char *name,
                     const char **out) {
    *out = NULL;
    int rc = bs_admin_query_param(req, name, out);
    if (rc == BS_ENOTFOUND) {
        *out = NULL;
        return 0;
    }
    if (rc == 0 && **out == 0) *out = NULL; /* "?keyspace=" means none */
    return rc;
}

/* Nodes (sorted) plus ownership for the request's keyspace parameter. */
typedef struct view {
    bs_admin_node *nodes;
    size_t n;
    double *owns; /* per node; < 0 = unknown */
    const char *keyspace;
} view;

static int load_view(builtins *b, const bs_admin_request *req,
                     bs_admin_response *resp, view *v, bool *answered) {
    *answered = true;
    memset(v, 0, sizeof *v);
    if (!b->p.nodes) return not_impl(resp, "the node list");
    const char *ks = NULL;
    if (opt_param(req, "keyspace", &ks))
        return bs_admin_error(resp, 400, "bad keyspace parameter");
    int rc = b->p.nodes(b->p.ud, req->arena, &v->nodes, &v->n);
    if (rc) return provider_error(resp, rc, NULL, "cannot list nodes");
    if (v->n) qsort(v->nodes, v->n, sizeof *v->nodes, node_cmp);
    v->owns = bs_arena_alloc(req->arena, sizeof(double) * (v->n ? v->n : 1));
    if (!v->owns) return BS_ENOMEM;
    for (size_t i = 0; i < v->n; i++)
        v->owns[i] = -1;
    if (b->p.ownership) {
        bs_admin_owner *own = NULL;
        size_t no = 0;
        const char *used = NULL;
        rc = b->p.ownership(b->p.ud, ks, req->arena, &own, &no, &used);
        if (rc == BS_ENOTFOUND && ks)
            return bs_admin_error(resp, 404, "unknown keyspace '%s'", ks);
        if (rc)
            return provider_error(resp, rc, NULL, "cannot compute ownership");
        v->keyspace = used;
        for (size_t i = 0; i < v->n; i++)
            for (size_t j = 0; j < no; j++)
                if (memcmp(&v->nodes[i].host_id, &own[j].host_id,
                           sizeof(bs_uuid)) == 0)
                    v->owns[i] = own[j].owns;
    } else if (ks) {
        return not_impl(resp, "ownership");
    }
    *answered = false;
    return 0;
}

static void json_owns(bs_admin_json *w, double o) {
    if (o < 0)
        bs_admin_json_null(w);
    else
        bs_admin_json_double(w, o);
}

/* ------------------------------------------------------------------ */
/* Handlers                                                            */
/* ------------------------------------------------------------------ */

static int h_version(void *ud, const bs_admin_request *req,
                     bs_admin_response *resp) {
    (void)req;
    builtins *b = ud;
    bs_admin_json w;
    bs_admin_json_init(&w, &resp->body);
    bs_admin_json_obj(&w);
    bs_admin_json_key(&w, "release_version");
    bs_admin_json_str(&w, b->p.release_version ? b->p.release_version
                                               : DEFAULT_RELEASE);
    bs_admin_json_key(&w, "basalt_version");
    bs_admin_json_str(&w, BASALT_VERSION);
    bs_admin_json_key(&w, "build");
    bs_admin_json_str(&w, b->p.build ? b->p.build : "");
    bs_admin_json_end(&w);
    return bs_admin_json_finish(&w);
}

static int h_info(void *ud, const bs_admin_request *req,
                  bs_admin_response *resp) {
    builtins *b = ud;
    if (!b->p.local) return not_impl(resp, "node info");
    bs_admin_local l;
    memset(&l, 0, sizeof l);
    int rc = b->p.local(b->p.ud, req->arena, &l);
    if (rc) return provider_error(resp, rc, NULL, "cannot read node info");
    const char *tok = NULL;
    if (opt_param(req, "tokens", &tok))
        return bs_admin_error(resp, 400, "bad tokens parameter");
    bool with_tokens =
        tok && strcmp(tok, "0") != 0 && strcmp(tok, "false") != 0;
    bs_admin_json w;
    bs_admin_json_init(&w, &resp->body);
    bs_admin_json_obj(&w);
    bs_admin_json_key(&w, "host_id");
    bs_admin_json_uuid(&w, &l.host_id);
    bs_admin_json_key(&w, "address");
    bs_admin_json_str(&w, l.address);
    bs_admin_json_key(&w, "cluster_name");
    bs_admin_json_str(&w, l.cluster_name);
    bs_admin_json_key(&w, "dc");
    bs_admin_json_str(&w, l.dc);
    bs_admin_json_key(&w, "rack");
    bs_admin_json_str(&w, l.rack);
    bs_admin_json_key(&w, "gossip_active");
    bs_admin_json_bool(&w, l.gossip_active);
    bs_admin_json_key(&w, "native_transport_active");
    bs_admin_json_bool(&w, l.native_transport_active);
    bs_admin_json_key(&w, "load_bytes");
    json_load(&w, l.load_bytes);
    bs_admin_json_key(&w, "generation");
    bs_admin_json_int(&w, l.generation);
    bs_admin_json_key(&w, "uptime_seconds");
    bs_admin_json_int(&w, l.uptime_seconds);
    bs_admin_json_key(&w, "tokens");
    bs_admin_json_int(&w, (int64_t)l.n_tokens);
    if (with_tokens) {
        bs_admin_json_key(&w, "token_list");
        bs_admin_json_arr(&w);
        for (size_t i = 0; i < l.n_tokens; i++)
            json_token(&w, l.tokens[i]);
        bs_admin_json_end(&w);
    }
    bs_admin_json_key(&w, "schema_version");
    bs_admin_json_uuid(&w, &l.schema_version);
    bs_admin_json_key(&w, "release_version");
    bs_admin_json_str(&w, b->p.release_version ? b->p.release_version
                                               : DEFAULT_RELEASE);
    bs_admin_json_key(&w, "partitioner");
    bs_admin_json_str(&w, l.partitioner);
    bs_admin_json_key(&w, "snitch");
    bs_admin_json_str(&w, l.snitch);
    if (l.config) {
        bs_buf y = BS_BUF_INIT;
        rc = bs_config_dump(l.config, &y);
        if (rc) {
            bs_buf_free(&y);
            return rc;
        }
        bs_admin_json_key(&w, "config");
        bs_admin_json_strn(&w, (const char *)y.data, y.len);
        bs_buf_free(&y);
    }
    bs_admin_json_end(&w);
    return bs_admin_json_finish(&w);
}

/* The fields of a node that `status` and `ring` share; status and state
 * as nodetool status's letters (UN) or, for ring, as words. */
static void json_node(bs_admin_json *w, const bs_admin_node *n, double owns, bool words) {
    bs_admin_json_key(w, "address");
    bs_admin_json_str(w, n->address);
    bs_admin_json_key(w, "dc");
    bs_admin_json_str(w, n->dc);
    bs_admin_json_key(w, "rack");
    bs_admin_json_str(w, n->rack);
    bs_admin_json_key(w, "status");
    bs_admin_json_str(w, words ? status_word(n->status) : status_letter(n->status));
    bs_admin_json_key(w, "state");
    bs_admin_json_str(w, words ? state_word(n->state) : state_letter(n->state));
    bs_admin_json_key(w, "load_bytes");
    json_load(w, n->load_bytes);
    bs_admin_json_key(w, "owns");
    json_owns(w, owns);
    bs_admin_json_key(w, "host_id");
    bs_admin_json_uuid(w, &n->host_id);
}

static int h_status(void *ud, const bs_admin_request *req,
                    bs_admin_response *resp) {
    view v;
    bool answered;
    int rc = load_view(ud, req, resp, &v, &answered);
    if (rc || answered) return rc;
    bs_admin_json w;
    bs_admin_json_init(&w, &resp->body);
    bs_admin_json_obj(&w);
    bs_admin_json_key(&w, "keyspace");
    bs_admin_json_str(&w, v.keyspace);
    bs_admin_json_key(&w, "nodes");
    bs_admin_json_arr(&w);
    for (size_t i = 0; i < v.n; i++) {
        const bs_admin_node *n = &v.nodes[i];
        bs_admin_json_obj(&w);
        json_node(&w, n, v.owns[i], false);
        bs_admin_json_key(&w, "tokens");
        bs_admin_json_int(&w, (int64_t)n->n_tokens);
        bs_admin_json_key(&w, "is_local");
        bs_admin_json_bool(&w, n->is_local);
        bs_admin_json_end(&w);
    }
    bs_admin_json_end(&w);
    bs_admin_json_end(&w);
    return bs_admin_json_finish(&w);
}

typedef struct ring_ent {
    int64_t token;
    size_t node;
} ring_ent;

static int ring_cmp(const void *pa, const void *pb) {
    const ring_ent *a = pa, *b = pb;
    if (a->token != b->token) return a->token < b->token ? -1 : 1;
    return a->node < b->node ? -1 : a->node > b->node;
}

static int h_ring(void *ud, const bs_admin_request *req,
                  bs_admin_response *resp) {
    view v;
    bool answered;
    int rc = load_view(ud, req, resp, &v, &answered);
    if (rc || answered) return rc;
    size_t total = 0;
    for (size_t i = 0; i < v.n; i++)
        total += v.nodes[i].n_tokens;
    ring_ent *e = bs_arena_alloc(req->arena, sizeof *e * (total ? total : 1));
    if (!e) return BS_ENOMEM;
    size_t k = 0;
    for (size_t i = 0; i < v.n; i++)
        for (size_t j = 0; j < v.nodes[i].n_tokens; j++)
            e[k++] = (ring_ent){v.nodes[i].tokens[j], i};
    if (total) qsort(e, total, sizeof *e, ring_cmp);
    bs_admin_json w;
    bs_admin_json_init(&w, &resp->body);
    bs_admin_json_obj(&w);
    bs_admin_json_key(&w, "keyspace");
    bs_admin_json_str(&w, v.keyspace);
    bs_admin_json_key(&w, "ring");
    bs_admin_json_arr(&w);
    for (size_t i = 0; i < total; i++) {
        const bs_admin_node *n = &v.nodes[e[i].node];
        bs_admin_json_obj(&w);
        bs_admin_json_key(&w, "token");
        json_token(&w, e[i].token);
        json_node(&w, n, v.owns[e[i].node], true);
        bs_admin_json_end(&w);
    }
    bs_admin_json_end(&w);
    bs_admin_json_end(&w);
    return bs_admin_json_finish(&w);
}

static int ep_cmp(const void *pa, const void *pb) {
    const bs_admin_endpoint *a = pa, *b = pb;
    return addr_cmp(nz(a->address), nz(b->address));
}

static int h_gossipinfo(void *ud, const bs_admin_request *req,
                        bs_admin_response *resp) {
    builtins *b = ud;
    if (!b->p.gossip) return not_impl(resp, "gossip info");
    const char *fmt = NULL;
    if (opt_param(req, "format", &fmt))
        return bs_admin_error(resp, 400, "bad format parameter");
    bool text = fmt && strcmp(fmt, "text") == 0;
    if (fmt && !text && strcmp(fmt, "json") != 0)
        return bs_admin_error(resp, 400, "format must be json or text");
    bs_admin_endpoint *eps = NULL;
    size_t n = 0;
    int rc = b->p.gossip(b->p.ud, req->arena, &eps, &n);
    if (rc) return provider_error(resp, rc, NULL, "cannot read gossip state");
    if (n) qsort(eps, n, sizeof *eps, ep_cmp);
    if (text) {
        resp->content_type = "text/plain; charset=utf-8";
        for (size_t i = 0; i < n && !rc; i++) {
            const bs_admin_endpoint *e = &eps[i];
            rc = bs_buf_appendf(&resp->body,
                                "/%s\n  generation:%lld\n  heartbeat:%lld\n",
                                nz(e->address), (long long)e->generation,
                                (long long)e->heartbeat);
            for (size_t j = 0; j < e->n_states && !rc; j++)
                rc = bs_buf_appendf(
                    &resp->body, "  %s:%lld:%s\n", nz(e->states[j].name),
                    (long long)e->states[j].version, nz(e->states[j].value));
        }
        return rc;
    }
    bs_admin_json w;
    bs_admin_json_init(&w, &resp->body);
    bs_admin_json_obj(&w);
    bs_admin_json_key(&w, "endpoints");
    bs_admin_json_arr(&w);
    for (size_t i = 0; i < n; i++) {
        const bs_admin_endpoint *e = &eps[i];
        bs_admin_json_obj(&w);
        bs_admin_json_key(&w, "endpoint");
        bs_admin_json_str(&w, e->address);
        bs_admin_json_key(&w, "generation");
        bs_admin_json_int(&w, e->generation);
        bs_admin_json_key(&w, "heartbeat");
        bs_admin_json_int(&w, e->heartbeat);
        bs_admin_json_key(&w, "alive");
        bs_admin_json_bool(&w, e->alive);
        bs_admin_json_key(&w, "states");
        bs_admin_json_arr(&w);
        for (size_t j = 0; j < e->n_states; j++) {
            bs_admin_json_obj(&w);
            bs_admin_json_key(&w, "name");
            bs_admin_json_str(&w, e->states[j].name);
            bs_admin_json_key(&w, "version");
            bs_admin_json_int(&w, e->states[j].version);
            bs_admin_json_key(&w, "value");
            bs_admin_json_str(&w, e->states[j].value);
            bs_admin_json_end(&w);
        }
        bs_admin_json_end(&w);
        bs_admin_json_end(&w);
    }
    bs_admin_json_end(&w);
    bs_admin_json_end(&w);
    return bs_admin_json_finish(&w);
}

static int h_describecluster(void *ud, const bs_admin_request *req,
                             bs_admin_response *resp) {
    builtins *b = ud;
    if (!b->p.local || !b->p.nodes) return not_impl(resp, "describecluster");
    bs_admin_local l;
    memset(&l, 0, sizeof l);
    int rc = b->p.local(b->p.ud, req->arena, &l);
    if (rc) return provider_error(resp, rc, NULL, "cannot read node info");
    bs_admin_node *nodes = NULL;
    size_t n = 0;
    rc = b->p.nodes(b->p.ud, req->arena, &nodes, &n);
    if (rc) return provider_error(resp, rc, NULL, "cannot list nodes");
    if (n) qsort(nodes, n, sizeof *nodes, node_cmp);
    /* group key per node: its schema version text, "UNREACHABLE" for down
     * nodes, "UNKNOWN" for live nodes that have not announced one */
    char(*key)[BS_UUID_STRLEN + 1] =
        bs_arena_alloc(req->arena, sizeof *key * (n ? n : 1));
    bool *done = bs_arena_calloc(req->arena, sizeof *done * (n ? n : 1));
    if (!key || !done) return BS_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        if (nodes[i].status != BS_ADMIN_UP)
            snprintf(key[i], sizeof key[i], "UNREACHABLE");
        else if (!nodes[i].has_schema)
            snprintf(key[i], sizeof key[i], "UNKNOWN");
        else
            bs_uuid_format(&nodes[i].schema_version, key[i]);
    }
    bs_admin_json w;
    bs_admin_json_init(&w, &resp->body);
    bs_admin_json_obj(&w);
    bs_admin_json_key(&w, "name");
    bs_admin_json_str(&w, l.cluster_name);
    bs_admin_json_key(&w, "snitch");
    bs_admin_json_str(&w, l.snitch);
    bs_admin_json_key(&w, "partitioner");
    bs_admin_json_str(&w, l.partitioner);
    bs_admin_json_key(&w, "schema_versions");
    bs_admin_json_arr(&w);
    /* versions in order of first appearance; UNREACHABLE last */
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < n; i++) {
            if (done[i]) continue;
            bool unreach = strcmp(key[i], "UNREACHABLE") == 0;
            if (unreach != (pass == 1)) continue;
            bs_admin_json_obj(&w);
            bs_admin_json_key(&w, "version");
            bs_admin_json_str(&w, key[i]);
            bs_admin_json_key(&w, "hosts");
            bs_admin_json_arr(&w);
            for (size_t j = i; j < n; j++) {
                if (done[j] || strcmp(key[i], key[j]) != 0) continue;
                done[j] = true;
                bs_admin_json_str(&w, nodes[j].address);
            }
            bs_admin_json_end(&w);
            bs_admin_json_end(&w);
        }
    }
    bs_admin_json_end(&w);
    bs_admin_json_end(&w);
    return bs_admin_json_finish(&w);
}

typedef int (*ks_action)(void *ud, const char *ks, const char *table, char *err,
                         size_t errlen);

static int run_ks_action(builtins *b, ks_action fn, const char *what,
                         const bs_admin_request *req, bs_admin_response *resp) {
    if (!fn) return not_impl(resp, what);
    const char *ks = NULL, *table = NULL;
    if (opt_param(req, "keyspace", &ks) || opt_param(req, "table", &table))
        return bs_admin_error(resp, 400, "bad query parameter");
    if (table && !ks)
        return bs_admin_error(resp, 400, "table given without keyspace");
    char err[512] = "";
    int rc = fn(b->p.ud, ks, table, err, sizeof err);
    if (rc) return provider_error(resp, rc, err, what);
    bs_admin_json w;
    bs_admin_json_init(&w, &resp->body);
    bs_admin_json_obj(&w);
    bs_admin_json_key(&w, "ok");
    bs_admin_json_bool(&w, true);
    bs_admin_json_key(&w, "keyspace");
    bs_admin_json_str(&w, ks);
    bs_admin_json_key(&w, "table");
    bs_admin_json_str(&w, table);
    bs_admin_json_end(&w);
    return bs_admin_json_finish(&w);
}

static int h_flush(void *ud, const bs_admin_request *req,
                   bs_admin_response *resp) {
    builtins *b = ud;
    return run_ks_action(b, b->p.flush, "flush", req, resp);
}

static int h_compact(void *ud, const bs_admin_request *req,
                     bs_admin_response *resp) {
    builtins *b = ud;
    return run_ks_action(b, b->p.compact, "compact", req, resp);
}

static int h_drain(void *ud, const bs_admin_request *req,
                   bs_admin_response *resp) {
    (void)req;
    builtins *b = ud;
    if (!b->p.drain) return not_impl(resp, "drain");
    char err[512] = "";
    int rc = b->p.drain(b->p.ud, err, sizeof err);
    if (rc) return provider_error(resp, rc, err, "drain");
    bs_buf_append_str(&resp->body, "{\"ok\":true}");
    return 0;
}

/* The builtins struct is the handlers' ud; routes do not own their ud,
 * so the server keeps it (bs__admin_keep) and frees it in bs_admin_free. */
int bs_admin_install_builtins(bs_admin *a, const bs_admin_provider *p) {
    builtins *b = calloc(1, sizeof *b);
    if (!b) return BS_ENOMEM;
    b->p = *p;
    int rc = bs__admin_keep(a, b, free);
    if (rc) {
        free(b);
        return rc;
    }
    static const struct {
        const char *method, *path;
        bs_admin_handler h;
        bool blocking;
    } tab[] = {
        {"GET", "/version", h_version, false},
        {"GET", "/info", h_info, false},
        {"GET", "/status", h_status, false},
        {"GET", "/ring", h_ring, false},
        {"GET", "/gossipinfo", h_gossipinfo, false},
        {"GET", "/describecluster", h_describecluster, false},
        {"POST", "/flush", h_flush, true},
        {"POST", "/compact", h_compact, true},
        {"POST", "/drain", h_drain, true},
    };
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++) {
        rc = tab[i].blocking
                 ? bs_admin_route_blocking(a, tab[i].method, tab[i].path,
                                           tab[i].h, b)
                 : bs_admin_route(a, tab[i].method, tab[i].path, tab[i].h, b);
        if (rc) return rc;
    }
    return 0;
}
