/*
 * main.c - basaltd: one Basalt node.
 *
 *   basaltd [-f basalt.yaml] [--key value ...]
 *
 * Start-up: configuration (file, then flags), logging, the local node
 * (store, identity, schema), the cluster (internode messaging, gossip,
 * schema propagation), the coordinator (replicated reads and writes at
 * the client's consistency level, read repair, hinted handoff), the CQL
 * executor over the coordinator, the native-protocol server, and the
 * admin REST API.  SIGTERM/SIGINT drain: stop the admin API, stop
 * accepting and finish in-flight requests, stop the coordinator and
 * leave the cluster, flush every memtable, close the store, exit 0.
 *
 * Signals are blocked in every thread (the mask is set before any thread
 * starts) and taken synchronously with sigwait() in the main thread.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/error.h"
#include "common/log.h"
#include "common/secret.h"
#include "node/tls_setup.h"
#include "node/admin/admin.h"
#include "node/cluster/cluster.h"
#include "node/coord/coord.h"
#include "node/cluster/gossip.h"
#include "node/admin/provider.h"
#include "node/repair_env.h"
#include "node/admin/repair_admin.h"
#include "node/config.h"
#include "node/local.h"
#include "node/topology.h"
#include "storage/store.h"
#include "node/admin/trace_admin.h"
#include "node/transport/http.h"
#include "node/transport/server.h"
#include "node/ts/ts.h"
#include "query/exec.h"

typedef struct app {
    bs_exec *exec;
    bs_coord *coord;
    bs_store *store;
    _Atomic(bs_server *) server; /* set once the CQL server runs */
} app;

static int h_conn_open(void *ud, const char *client_ip, void **conn_ud) {
    (void)ud;
    bs_exec_session *s = malloc(sizeof *s);
    if (!s) return BS_ENOMEM;
    bs_exec_session_init(s);
    snprintf(s->client, sizeof s->client, "%s", client_ip ? client_ip : "");
    *conn_ud = s;
    return 0;
}

static void h_conn_close(void *ud, void *conn_ud) {
    (void)ud;
    bs_exec_session *s = conn_ud;
    if (!s) return;
    bs_exec_session_destroy(s);
    free(s);
}

static int h_handle(void *ud, void *conn_ud, const bs_proto_request *req,
                    int16_t stream, bs_proto_compression comp, bs_arena *a,
                    bs_buf *out) {
    app *ap = ud;
    return bs_exec_request(ap->exec, conn_ud, req, stream, comp, a, out);
}

/* Prepared statements run on the CQL loop thread when this node is the
 * whole ring: nothing can wait for another node, and the thread-pool
 * round trip costs more than a local write (node/transport/server.h inline_ok). */
static int h_inline_ok(void *ud, void *conn_ud, const bs_proto_request *req) {
    app *ap = ud;
    if (req->opcode != BS_PROTO_OP_EXECUTE) return 0;
    if (bs_coord_local_only(ap->coord)) return 1;
    /* a prepared SELECT or plain write: started on the loop, answered
     * when its replicas have (h_handle_inline); one that must block
     * moves to the pool from there */
    return bs_exec_async_ok(ap->exec, conn_ud, req) ? 2 : 0;
}

static void h_work_done(void *w, int again) {
    if (again) bs_server_work_resume(w);
    else bs_server_work_done(w);
}

static int h_handle_inline(void *ud, void *conn_ud, const bs_proto_request *req,
                           int16_t stream, bs_proto_compression comp, bs_arena *a, bs_buf *out,
                           bs_server_work *w) {
    app *ap = ud;
    int rc = bs_exec_request_async(ap->exec, conn_ud, req, stream, comp, a, out, h_work_done, w,
                                   bs_server_work_state(w));
    if (rc == BS_EXEC_BLOCKING) return BS_SERVER_BLOCKING;
    return rc == BS_EXEC_DEFERRED ? BS_SERVER_DEFERRED : rc;
}

/* Group commit of an inline burst: the mutations the pass's requests
 * apply locally (bs_local_apply: bs_store_write_grouped) are applied as
 * one RocksDB write, whose WAL record goes to the OS in one write(2), just
 * before the pass's answers are sent.  Pipelined requests are concurrent
 * by the protocol, so none may expect to see another's write before its
 * answer; other writes (schema) are applied at once, after the queued
 * ones. */
static void h_inline_begin(void *ud) {
    app *ap = ud;
    bs_store_defer_begin(ap->store);
}

static int h_inline_commit(void *ud) {
    (void)ud;
    return bs_store_defer_commit();
}

/* A restarted node must not coordinate requests before gossip has told it
 * the ring (Jepsen finding F1: a QUORUM write placed on an incomplete ring
 * can be acknowledged by nodes that are not the partition's replicas).
 * Like Cassandra's "waiting for gossip to settle": poll the endpoint
 * states until the set of known and live nodes has not changed for 1 s,
 * at least 3 s while only this node is known, at most 30 s.  A restart
 * that knows no more than half of the members of its last run (which
 * gossip contacts at once) waits up to 10 s for them: a restarted seed
 * otherwise opened the CQL port before the others had reconnected to it
 * (its clients got Unavailable for a second), and in Jepsen run F5 a node
 * that knew 2 of 5 placed LWTs on the wrong replicas.  Any answer tells
 * it the states of every node the peer knows. */
static void wait_for_gossip_to_settle(bs_cluster *cl) {
    bs_gossip *g = bs_cluster_gossip(cl);
    int64_t t0 = bs_clock_mono_ns();
    size_t last_known = SIZE_MAX, last_up = SIZE_MAX, known = 0, up = 0;
    int stable = 0;
    BS_INFO("main", "waiting for gossip to settle before serving clients");
    for (;;) {
        struct timespec ts = {0, 250000000};
        nanosleep(&ts, NULL);
        bs_gossip_view *v;
        size_t nv;
        if (bs_gossip_snapshot(g, &v, &nv) == 0) {
            known = up = 0;
            for (size_t i = 0; i < nv; i++) {
                if (!v[i].st.app[BS_GS_HOST_ID].value) continue;
                known++;
                up += v[i].is_self || v[i].alive;
            }
            bs_gossip_views_free(v, nv);
        }
        stable = (known == last_known && up == last_up) ? stable + 1 : 0;
        last_known = known;
        last_up = up;
        int64_t ms = (bs_clock_mono_ns() - t0) / 1000000;
        if (ms >= 30000) break;
        size_t saved, unmet = bs_cluster_unmet_peers(cl, &saved);
        if (ms < 10000 && unmet && known * 2 <= saved + 1) continue;
        if (stable >= 4 && (known > 1 || ms >= 3000)) break;
    }
    size_t saved, unmet = bs_cluster_unmet_peers(cl, &saved);
    BS_INFO("main", "gossip settled: %zu nodes known, %zu up; %zu of the %zu members of the "
            "last run not heard from", known, up, unmet, saved);
}

static bs_ring_snapshot *m_ring(void *ud) { return bs_cluster_ring(ud); }
static bs_ring_snapshot *m_future(void *ud) { return bs_cluster_future_ring(ud); }
static int m_alive(void *ud, const bs_uuid *h) { return bs_cluster_is_alive(ud, h); }

static void on_event(void *ud, const bs_proto_event *ev) {
    app *ap = ud;
    bs_server *s = atomic_load(&ap->server);
    if (s) bs_server_broadcast_event(s, ev);
}

/* The process stops itself (a failed bootstrap: exit status 1; a
 * completed decommission: 0) by sending itself the signal main waits
 * for. */
static atomic_int g_failed;

static void stop_process(void *ud, int failed) {
    (void)ud;
    if (failed) atomic_store(&g_failed, 1);
    kill(getpid(), SIGTERM);
}

/* Everything basaltd starts, in start order; stop_node() undoes it in
 * reverse.  NULL members were not started. */
typedef struct node_parts {
    bs_config cfg;
    FILE *logf;
    bs_local *node;
    bs_cluster *cluster;
    bs_coord *coord;
    bs_coord_membership mem;
    bs_repair *repair;
    bs_topology *topo;
    bs_admin *admin;
    bs_provider prov;
    bs_exec_backend be; /* the coordinator's, for the executor and ts */
    bs_ts *ts;
    bs_http *http;
    app ap;
    char admin_token[BS_SECRET_MAX + 1];
    bs_tls_ctx *cql_tls;   /* client_encryption_options; NULL: plaintext */
    bs_tls_ctx *admin_tls; /* admin_encryption_options; NULL: plain HTTP */
    bs_tls_ctx *http_tls;  /* http_encryption_options; NULL: plain HTTP */
    char err[1024];
} node_parts;

/* Configuration (file, then flags) and logging.  0, or the exit status
 * after printing the error. */
static int load_config(node_parts *n, int argc, char **argv) {
    bs_config_init(&n->cfg);
    if (bs_config_load_command_line(&n->cfg, argc, argv, n->err, sizeof n->err) ||
        bs_config_apply_runtime(&n->cfg, &n->logf, n->err, sizeof n->err)) {
        fprintf(stderr, "basaltd: %s\n", n->err);
        bs_config_free(&n->cfg);
        return 2;
    }
    return 0;
}

/* PasswordAuthenticator's first superuser, "name:password", from
 * initial_superuser_file (private, like the cluster secret) or else the
 * environment variable BASALT_INITIAL_SUPERUSER.  0 (nothing set is not
 * an error) or BS_ECONFIG with err set. */
static int load_initial_superuser(const bs_config *cfg, char *line, size_t cap, char *err,
                                  size_t errlen) {
    line[0] = 0;
    if (cfg->initial_superuser_file && cfg->initial_superuser_file[0]) {
        bs_secret_opts so = {0, 3, 1};
        size_t n = 0;
        char e[512];
        int rc = bs_secret_load(cfg->initial_superuser_file, &so, (uint8_t *)line, cap - 1, &n, e,
                                sizeof e);
        if (rc) {
            snprintf(err, errlen, "initial superuser (initial_superuser_file): %s", e);
            return BS_ECONFIG;
        }
        line[n] = 0;
    } else {
        const char *env = getenv("BASALT_INITIAL_SUPERUSER");
        if (!env || !env[0]) return 0;
        snprintf(line, cap, "%s", env);
    }
    char *colon = strchr(line, ':');
    if (!colon || colon == line || !colon[1]) {
        snprintf(err, errlen, "initial superuser: expected name:password (both non-empty)");
        return BS_ECONFIG;
    }
    return 0;
}

/* Authentication and authorization of CQL clients, and the keyspace
 * system_auth.  0 or an error with n->err set. */
static int start_auth(node_parts *n) {
    char line[1024];
    int pw = n->cfg.authenticator % 2;
    int rc = pw ? load_initial_superuser(&n->cfg, line, sizeof line, n->err, sizeof n->err) : 0;
    if (rc) return rc;
    char *colon = pw ? strchr(line, ':') : NULL;
    if (colon) *colon = 0;
    bs_exec_auth_opts ao = {pw, n->cfg.authorizer % 2, (unsigned)n->cfg.credentials_validity_ms,
                            (unsigned)n->cfg.permissions_validity_ms, colon ? line : NULL,
                            colon ? colon + 1 : NULL, 0};
    rc = bs_exec_set_auth(n->ap.exec, &ao);
    memset(line, 0, sizeof line);
    if (rc) {
        snprintf(n->err, sizeof n->err, "out of memory");
        return rc;
    }
    char e[300];
    if (bs_exec_auth_schema(n->ap.exec, e, sizeof e))
        BS_WARN("main", "cannot create the keyspace system_auth: %s", e);
    if (pw && !colon)
        BS_INFO("main", "PasswordAuthenticator without an initial superuser: only roles that "
                        "already exist in system_auth can log in (docs/SECURITY.md)");
    return 0;
}

/* The local node, the cluster, the coordinator and the executor over
 * it.  0 or an error with n->err set. */
static int start_core(node_parts *n) {
    int rc;
    if ((rc = bs_local_open(&n->cfg, &n->node, n->err, sizeof n->err))) return rc;
    /* the admin token (and, in bs_cluster_start, the cluster secret) are
     * read before any port opens: a bad file stops start-up at once */
    if ((rc = bs_admin_load_token(&n->cfg, n->admin_token, sizeof n->admin_token, n->err,
                                  sizeof n->err)))
        return rc;
    bs_local_set_event_sink(n->node, on_event, &n->ap);
    if ((rc = bs_cluster_start(&n->cfg, n->node, on_event, &n->ap, &n->cluster, n->err,
                               sizeof n->err)))
        return rc;
    if (bs_local_restarted(n->node)) wait_for_gossip_to_settle(n->cluster);
    bs_coord_opts co;
    bs_coord_opts_from_config(&n->cfg, &co);
    n->mem = (bs_coord_membership){n->cluster, m_ring, m_future, m_alive, NULL};
    if ((rc = bs_coord_new(&co, n->node, bs_cluster_msg(n->cluster), &n->mem, &n->coord))) {
        snprintf(n->err, sizeof n->err, "cannot start the coordinator: %s", bs_strerror(rc));
        return rc;
    }
    bs_coord_backend(n->coord, &n->be);
    if (!n->be.cluster_name) n->be.cluster_name = n->cfg.cluster_name;
    n->ap.exec = bs_exec_new(&n->be);
    if (!n->ap.exec) {
        snprintf(n->err, sizeof n->err, "out of memory");
        return BS_ENOMEM;
    }
    bs_exec_limits lim;
    bs_exec_limits_default(&lim);
    lim.max_future_timestamp_us = (int64_t)n->cfg.max_future_timestamp_ms * 1000;
    lim.batch_size_warn_bytes = n->cfg.batch_size_warn_threshold_bytes;
    lim.batch_size_fail_bytes = n->cfg.batch_size_fail_threshold_bytes;
    lim.prepared_cache_bytes = n->cfg.prepared_statements_cache_size_bytes;
    lim.max_mutation_bytes = n->cfg.max_mutation_size_bytes;
    lim.max_value_bytes = n->cfg.column_value_size_fail_threshold_bytes;
    lim.max_collection_bytes = n->cfg.collection_size_fail_threshold_bytes;
    lim.max_collection_items = (uint64_t)n->cfg.items_per_collection_fail_threshold;
    bs_exec_set_limits(n->ap.exec, &lim);
    n->ap.coord = n->coord;
    n->ap.store = bs_local_store(n->node);
    return start_auth(n);
}

/* The CQL native-protocol server.  0 or an error with n->err set. */
static int start_cql(node_parts *n) {
    bs_server_opts so;
    bs_server_opts_from_config(&so, &n->cfg);
    if (bs_exec_auth_required(n->ap.exec))
        so.authenticator = "org.apache.cassandra.auth.PasswordAuthenticator";
    int rc = bs_node_tls_ctx(&n->cfg, BS_NODE_TLS_CQL, &n->cql_tls, n->err, sizeof n->err);
    if (rc) return rc;
    so.tls = n->cql_tls;
    so.tls_optional = n->cfg.client_enc_optional;
    bs_server_handler h = {&n->ap,      h_conn_open,    h_conn_close,   h_handle,
                           h_inline_ok, h_inline_begin, h_inline_commit,
                           h_handle_inline};
    bs_server *server = NULL;
    rc = bs_server_start(&so, &h, &server);
    if (rc) {
        snprintf(n->err, sizeof n->err, "cannot listen for CQL clients on %s:%d: %s", so.address,
                 so.port, bs_strerror(rc));
        return rc;
    }
    atomic_store(&n->ap.server, server);
    BS_INFO("main", "Starting listening for CQL clients on %s:%d (protocol v4%s)", so.address,
            bs_server_port(server),
            !so.tls ? "" : so.tls_optional ? ", TLS or plaintext" : ", TLS");
    return 0;
}

/* The time-series endpoint (InfluxDB API) on http_port.  0 or an error
 * with n->err set. */
static int start_http(node_parts *n) {
    bs_http_opts ho;
    bs_http_opts_from_config(&ho, &n->cfg);
    int rc = bs_node_tls_ctx(&n->cfg, BS_NODE_TLS_HTTP, &n->http_tls, n->err, sizeof n->err);
    if (rc) return rc;
    ho.tls = n->http_tls;
    bs_http_handler hh;
    bs_ts_opts to;
    bs_ts_opts_from_config(&to, &n->cfg);
    rc = bs_ts_new(&to, &n->be, &n->ts);
    if (!rc) {
        /* aggregates over the ranges this node holds, for other coordinators */
        bs_coord_partial pv = {bs_ts_partial_open, bs_ts_partial_close, n->ts};
        bs_coord_set_partial(n->coord, &pv);
        bs_ts_set_auth(n->ts, n->ap.exec);
        bs_ts_http_handler(n->ts, &hh);
        rc = bs_http_start(&ho, &hh, &n->http);
    }
    if (rc)
        snprintf(n->err, sizeof n->err, "cannot listen for HTTP on %s:%d: %s", ho.address, ho.port,
                 bs_strerror(rc));
    return rc;
}

/* The repair service and the admin REST API.  0 or an error with n->err
 * set. */
static int start_admin(node_parts *n) {
    n->prov.cfg = &n->cfg;
    n->prov.node = n->node;
    n->prov.cluster = n->cluster;
    n->prov.coord = n->coord;
    n->prov.server = atomic_load(&n->ap.server);
    n->prov.exec = n->ap.exec;
    n->prov.started_s = bs_clock_now_s(NULL);
    bs_admin_provider ap_prov;
    bs_provider_fill(&n->prov, &ap_prov);
    bs_repair_opts ro;
    bs_repair_opts_default(&ro);
    ro.schedule_interval_ms = n->cfg.repair_interval_ms; /* 0: no scheduled repair */
    ro.stream_throughput_bytes = n->cfg.stream_throughput_outbound_bytes;
    ro.stream_ingest_sst = n->cfg.stream_ingest_sst;
    int rc = bs_node_repair_new(&ro, n->node, bs_cluster_msg(n->cluster), &n->mem, &n->repair);
    if (rc) {
        snprintf(n->err, sizeof n->err, "cannot start the repair service: %s", bs_strerror(rc));
        return rc;
    }
    n->prov.repair = n->repair;
    bs_topology_opts to = {&n->cfg,   n->node,      n->cluster, n->repair,
                           n->coord, stop_process, NULL};
    if ((rc = bs_topology_new(&to, &n->topo))) {
        snprintf(n->err, sizeof n->err, "out of memory");
        return rc;
    }
    bs_admin_opts ao;
    bs_admin_opts_from_config(&ao, &n->cfg);
    ao.token = n->admin_token;
    if ((rc = bs_node_tls_ctx(&n->cfg, BS_NODE_TLS_ADMIN, &n->admin_tls, n->err, sizeof n->err)))
        return rc;
    ao.tls = n->admin_tls;
    if ((rc = bs_admin_new(&ao, &n->admin)) ||
        (rc = bs_admin_install_builtins(n->admin, &ap_prov)) ||
        (rc = bs_repair_admin_install(n->admin, n->repair)) ||
        (rc = bs_provider_install_routes(&n->prov, n->admin)) ||
        (rc = bs_trace_admin_install(n->admin, n->ap.exec)) ||
        (rc = bs_topology_install_routes(n->topo, n->admin)) || (rc = bs_admin_start(n->admin))) {
        snprintf(n->err, sizeof n->err, "cannot start the admin API on %s:%d: %s",
                 ao.address ? ao.address : "127.0.0.1", ao.port, bs_strerror(rc));
        return rc;
    }
    BS_INFO("main", "admin API on port %d", bs_admin_port(n->admin));
    /* a JOINING node streams the ranges it gains, then becomes NORMAL */
    if ((rc = bs_topology_start(n->topo)))
        snprintf(n->err, sizeof n->err, "cannot start the bootstrap: %s", bs_strerror(rc));
    return rc;
}

/* Stops what was started, in reverse order; in-flight requests finish. */
static void stop_node(node_parts *n) {
    bs_topology_halt(n->topo); /* never touches the cluster again */
    bs_repair_stop(n->repair); /* a running session stops after its current range */
    if (n->admin) {
        bs_admin_stop(n->admin);
        bs_admin_free(n->admin);
    }
    bs_tls_ctx_free(n->admin_tls);
    bs_http_free(n->http); /* in-flight requests finish first */
    bs_tls_ctx_free(n->http_tls);
    if (n->node) bs_local_set_event_sink(n->node, NULL, NULL);
    bs_server *srv = atomic_exchange(&n->ap.server, NULL);
    if (srv) {
        bs_server_stop(srv); /* in-flight requests finish first */
        bs_server_free(srv);
    }
    bs_tls_ctx_free(n->cql_tls);
    if (n->coord) bs_coord_stop(n->coord);
    bs_cluster_stop(n->cluster); /* stops messaging */
    bs_topology_free(n->topo);    /* its stream requests failed: joins */
    if (n->coord) bs_coord_free(n->coord);
    bs_repair_free(n->repair);
    bs_exec_free(n->ap.exec);
    bs_ts_free(n->ts);
    bs_local_close(n->node); /* flushes memtables */
}

int main(int argc, char **argv) {
    if (bs_config_args_want_help(argc, argv)) {
        bs_buf b = BS_BUF_INIT;
        bs_config_help("basaltd", &b);
        fwrite(b.data, 1, b.len, stdout);
        bs_buf_free(&b);
        return 0;
    }
    node_parts *n = calloc(1, sizeof *n);
    if (!n) return 1;
    int status = load_config(n, argc, argv);
    if (status) {
        free(n);
        return status;
    }
    /* A fixed mmap threshold (glibc raises its default one, 128 KiB, up to
     * 32 MiB as big blocks are freed): RocksDB's memtables are made of
     * 1 MiB arena blocks, freed when a memtable is flushed; from the heap
     * they stayed in RSS as malloc's free memory after each flush (the
     * soak's RSS growth, docs/BENCHMARKS.md), mmapped they go back to the
     * system.  Set before any thread (and arena) exists. */
    mallopt(M_MMAP_THRESHOLD, 512 * 1024);
    /* block the signals we wait for before any thread exists */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    atomic_init(&n->ap.server, NULL);

    BS_INFO("main", "Basalt starting: cluster '%s', node %s, data in %s", n->cfg.cluster_name,
            bs_config_broadcast_address(&n->cfg), n->cfg.data_directory);
    /* local node (store, identity, schema) -> cluster (messaging, gossip,
     * schema propagation) -> coordinator (replicated reads and writes,
     * hints) -> executor over the coordinator -> CQL server -> HTTP
     * (time-series) server -> repair service and admin API */
    status = 1;
    int rc = start_core(n);
    if (!rc) rc = start_cql(n);
    if (!rc) rc = start_http(n);
    if (!rc) rc = start_admin(n);
    if (rc == BS_ECANCELED) { /* a signal while joining: a clean stop */
        BS_INFO("main", "%s", n->err);
        status = 0;
    } else if (rc) {
        BS_ERROR("main", "%s", n->err);
        fprintf(stderr, "basaltd: %s\n", n->err);
    } else {
        int sig = 0;
        sigwait(&set, &sig);
        BS_INFO("main", "signal %d: draining", sig);
        status = atomic_load(&g_failed) ? 1 : 0;
    }
    stop_node(n);
    if (!status) BS_INFO("main", "Basalt stopped cleanly");
    bs_log_set_file(NULL);
    if (n->logf) fclose(n->logf);
    bs_config_free(&n->cfg);
    free(n);
    return status;
}
