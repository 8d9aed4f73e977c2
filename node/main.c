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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/error.h"
#include "common/log.h"
#include "node/admin/admin.h"
#include "node/cluster/cluster.h"
#include "node/coord/coord.h"
#include "node/cluster/gossip.h"
#include "node/admin/provider.h"
#include "node/repair.h"
#include "node/admin/repair_admin.h"
#include "node/config.h"
#include "node/local.h"
#include "storage/store.h"
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

static int h_conn_open(void *ud, void **conn_ud) {
    (void)ud;
    bs_exec_session *s = malloc(sizeof *s);
    if (!s) return BS_ENOMEM;
    bs_exec_session_init(s);
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
    (void)conn_ud;
    return req->opcode == BS_PROTO_OP_EXECUTE && bs_coord_local_only(ap->coord);
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
 * at least 3 s while only this node is known, at most 30 s. */
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
        if (stable >= 4 && (known > 1 || ms >= 3000)) break;
    }
    BS_INFO("main", "gossip settled: %zu nodes known, %zu up", known, up);
}

static bs_ring_snapshot *m_ring(void *ud) { return bs_cluster_ring(ud); }
static int m_alive(void *ud, const bs_uuid *h) { return bs_cluster_is_alive(ud, h); }

static void on_event(void *ud, const bs_proto_event *ev) {
    app *ap = ud;
    bs_server *s = atomic_load(&ap->server);
    if (s) bs_server_broadcast_event(s, ev);
}

int main(int argc, char **argv) {
    if (bs_config_args_want_help(argc, argv)) {
        bs_buf b = BS_BUF_INIT;
        bs_config_help("basaltd", &b);
        fwrite(b.data, 1, b.len, stdout);
        bs_buf_free(&b);
        return 0;
    }
    bs_config cfg;
    char err[1024];
    bs_config_init(&cfg);
    if (bs_config_load_command_line(&cfg, argc, argv, err, sizeof err)) {
        fprintf(stderr, "basaltd: %s\n", err);
        bs_config_free(&cfg);
        return 2;
    }
    FILE *logf = NULL;
    if (bs_config_apply_runtime(&cfg, &logf, err, sizeof err)) {
        fprintf(stderr, "basaltd: %s\n", err);
        bs_config_free(&cfg);
        return 2;
    }
    /* block the signals we wait for before any thread exists */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    BS_INFO("main", "Basalt starting: cluster '%s', node %s, data in %s",
            cfg.cluster_name, bs_config_broadcast_address(&cfg), cfg.data_directory);
    /* Start-up, each step undone in reverse order by `out:`:
     *   local node (store, identity, schema) -> cluster (messaging,
     *   gossip, schema propagation) -> coordinator (replicated reads and
     *   writes, hints) -> executor over the coordinator -> CQL server ->
     *   admin API. */
    int status = 1, rc;
    bs_local *node = NULL;
    bs_cluster *cluster = NULL;
    bs_coord *coord = NULL;
    bs_admin *admin = NULL;
    bs_repair *repair = NULL;
    bs_ts *ts = NULL;
    bs_http *http = NULL;
    app ap;
    ap.exec = NULL;
    ap.coord = NULL;
    atomic_init(&ap.server, NULL);
    bs_provider prov;
    memset(&prov, 0, sizeof prov);

    if ((rc = bs_local_open(&cfg, &node, err, sizeof err))) goto fail;
    bs_local_set_event_sink(node, on_event, &ap);
    if ((rc = bs_cluster_start(&cfg, node, on_event, &ap, &cluster, err, sizeof err))) goto fail;
    if (bs_local_restarted(node)) wait_for_gossip_to_settle(cluster);

    bs_coord_opts co;
    bs_coord_opts_from_config(&cfg, &co);
    bs_coord_membership mem = {cluster, m_ring, NULL, m_alive, NULL};
    if ((rc = bs_coord_new(&co, node, bs_cluster_msg(cluster), &mem, &coord))) {
        snprintf(err, sizeof err, "cannot start the coordinator: %s", bs_strerror(rc));
        goto fail;
    }
    bs_exec_backend be;
    bs_coord_backend(coord, &be);
    if (!be.cluster_name) be.cluster_name = cfg.cluster_name;
    ap.exec = bs_exec_new(&be);
    if (!ap.exec) {
        snprintf(err, sizeof err, "out of memory");
        goto fail;
    }

    bs_server_opts so;
    bs_server_opts_from_config(&so, &cfg);
    ap.coord = coord;
    ap.store = bs_local_store(node);
    bs_server_handler h = {&ap,         h_conn_open,    h_conn_close,   h_handle,
                           h_inline_ok, h_inline_begin, h_inline_commit};
    bs_server *server = NULL;
    if ((rc = bs_server_start(&so, &h, &server))) {
        snprintf(err, sizeof err, "cannot listen for CQL clients on %s:%d: %s", so.address, so.port,
                 bs_strerror(rc));
        goto fail;
    }
    atomic_store(&ap.server, server);
    bs_http_opts ho; /* the time-series endpoint (InfluxDB API) on http_port */
    bs_http_opts_from_config(&ho, &cfg);
    bs_http_handler hh;
    bs_ts_opts to;
    bs_ts_opts_from_config(&to, &cfg);
    if ((rc = bs_ts_new(&to, &be, &ts)) || (bs_ts_http_handler(ts, &hh), rc = bs_http_start(&ho, &hh, &http))) {
        snprintf(err, sizeof err, "cannot listen for HTTP on %s:%d: %s", ho.address, ho.port, bs_strerror(rc));
        goto fail;
    }

    prov.cfg = &cfg;
    prov.node = node;
    prov.cluster = cluster;
    prov.coord = coord;
    prov.server = server;
    prov.started_s = bs_clock_now_s(NULL);
    bs_admin_provider ap_prov;
    bs_provider_fill(&prov, &ap_prov);
    bs_admin_opts ao;
    bs_admin_opts_from_config(&ao, &cfg);
    bs_repair_opts ro;
    bs_repair_opts_default(&ro);
    ro.schedule_interval_ms = cfg.repair_interval_ms; /* 0: no scheduled repair */
    if ((rc = bs_repair_new(&ro, node, bs_cluster_msg(cluster), &mem, &repair))) {
        snprintf(err, sizeof err, "cannot start the repair service: %s", bs_strerror(rc));
        goto fail;
    }
    if ((rc = bs_admin_new(&ao, &admin)) || (rc = bs_admin_install_builtins(admin, &ap_prov)) ||
        (rc = bs_repair_admin_install(admin, repair)) ||
        (rc = bs_provider_install_routes(&prov, admin)) ||
        (rc = bs_admin_start(admin))) {
        snprintf(err, sizeof err, "cannot start the admin API on %s:%d: %s",
                 ao.address ? ao.address : "127.0.0.1", ao.port, bs_strerror(rc));
        goto fail;
    }
    BS_INFO("main", "Starting listening for CQL clients on %s:%d (protocol v4); admin API on port %d",
            so.address, bs_server_port(server), bs_admin_port(admin));

    int sig = 0;
    sigwait(&set, &sig);
    BS_INFO("main", "signal %d: draining", sig);
    status = 0;
    goto out;
fail:
    BS_ERROR("main", "%s", err);
    fprintf(stderr, "basaltd: %s\n", err);
out:
    bs_repair_stop(repair); /* a running session stops after its current range */
    if (admin) {
        bs_admin_stop(admin);
        bs_admin_free(admin);
    }
    bs_http_free(http); /* in-flight requests finish first */
    if (node) bs_local_set_event_sink(node, NULL, NULL);
    bs_server *srv = atomic_exchange(&ap.server, NULL);
    if (srv) {
        bs_server_stop(srv); /* in-flight requests finish first */
        bs_server_free(srv);
    }
    if (coord) bs_coord_stop(coord);
    bs_cluster_stop(cluster); /* stops messaging */
    if (coord) bs_coord_free(coord);
    bs_repair_free(repair);
    bs_exec_free(ap.exec);
    bs_ts_free(ts);
    bs_local_close(node); /* flushes memtables */
    if (!status) BS_INFO("main", "Basalt stopped cleanly");
    bs_log_set_file(NULL);
    if (logf) fclose(logf);
    bs_config_free(&cfg);
    return status;
}
