/*
 * main.c - basaltd: one Basalt node.
 *
 *   basaltd [-f basalt.yaml] [--key value ...]
 *
 * Start-up: configuration (file, then flags), logging, the local node
 * (store, identity, schema), the CQL executor, the native-protocol
 * server, then the cluster (internode messaging + gossip on
 * storage_port, node/cluster.h), whose driver events go out through the
 * server.  SIGTERM/SIGINT drain: stop accepting, let in-flight requests
 * finish, leave the cluster, flush every memtable, close the store,
 * exit 0.
 *
 * Signals are blocked in every thread (the mask is set before any thread
 * starts) and taken synchronously with sigwait() in the main thread.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/error.h"
#include "common/log.h"
#include "node/admin.h"
#include "node/cluster.h"
#include "node/provider.h"
#include "node/config.h"
#include "node/local.h"
#include "node/server.h"
#include "query/exec.h"

typedef struct app {
    bs_exec *exec;
    bs_server *server;
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

static void on_event(void *ud, const bs_proto_event *ev) {
    app *ap = ud;
    if (ap->server) bs_server_broadcast_event(ap->server, ev);
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
    bs_local *node = NULL;
    int rc = bs_local_open(&cfg, &node, err, sizeof err);
    if (rc) {
        BS_ERROR("main", "%s", err);
        fprintf(stderr, "basaltd: %s\n", err);
        bs_config_free(&cfg);
        return 1;
    }
    app ap = {NULL, NULL};
    bs_exec_backend be;
    bs_local_backend(node, &be);
    ap.exec = bs_exec_new(&be);
    if (!ap.exec) {
        bs_local_close(node);
        bs_config_free(&cfg);
        return 1;
    }
    bs_server_opts so;
    bs_server_opts_from_config(&so, &cfg);
    bs_server_handler h = {&ap, h_conn_open, h_conn_close, h_handle};
    rc = bs_server_start(&so, &h, &ap.server);
    if (rc) {
        BS_ERROR("main", "cannot listen for CQL clients on %s:%d: %s", so.address, so.port,
                 bs_strerror(rc));
        fprintf(stderr, "basaltd: cannot listen on %s:%d: %s\n", so.address, so.port,
                bs_strerror(rc));
        bs_exec_free(ap.exec);
        bs_local_close(node);
        bs_config_free(&cfg);
        return 1;
    }
    bs_local_set_event_sink(node, on_event, &ap);
    bs_cluster *cluster = NULL;
    rc = bs_cluster_start(&cfg, node, on_event, &ap, &cluster, err, sizeof err);
    if (rc) {
        BS_ERROR("main", "%s", err);
        fprintf(stderr, "basaltd: %s\n", err);
        bs_local_set_event_sink(node, NULL, NULL);
        bs_server_stop(ap.server);
        bs_server_free(ap.server);
        bs_exec_free(ap.exec);
        bs_local_close(node);
        bs_config_free(&cfg);
        return 1;
    }
    /* the admin REST API (basalt-admin) */
    bs_provider prov = {&cfg, node, cluster, bs_clock_now_s(NULL), 0};
    bs_admin_provider ap_prov;
    bs_provider_fill(&prov, &ap_prov);
    bs_admin_opts ao;
    bs_admin_opts_from_config(&ao, &cfg);
    bs_admin *admin = NULL;
    rc = bs_admin_new(&ao, &admin);
    if (!rc) rc = bs_admin_install_builtins(admin, &ap_prov);
    if (!rc) rc = bs_admin_start(admin);
    if (rc) {
        BS_ERROR("main", "cannot start the admin API on %s:%d: %s", ao.address ? ao.address : "127.0.0.1",
                 ao.port, bs_strerror(rc));
        fprintf(stderr, "basaltd: cannot start the admin API on port %d: %s\n", ao.port, bs_strerror(rc));
        bs_admin_free(admin);
        bs_local_set_event_sink(node, NULL, NULL);
        bs_server_stop(ap.server);
        bs_cluster_stop(cluster);
        bs_server_free(ap.server);
        bs_exec_free(ap.exec);
        bs_local_close(node);
        bs_config_free(&cfg);
        return 1;
    }
    BS_INFO("main", "Starting listening for CQL clients on %s:%d (protocol v4); admin API on port %d",
            so.address, bs_server_port(ap.server), bs_admin_port(admin));
    int sig = 0;
    sigwait(&set, &sig);
    BS_INFO("main", "signal %d: draining", sig);
    bs_local_set_event_sink(node, NULL, NULL);
    bs_admin_stop(admin);
    bs_admin_free(admin);
    bs_server_stop(ap.server);
    bs_cluster_stop(cluster);
    bs_server_free(ap.server);
    bs_exec_free(ap.exec);
    bs_local_close(node);
    BS_INFO("main", "Basalt stopped cleanly");
    bs_log_set_file(NULL);
    if (logf) fclose(logf);
    bs_config_free(&cfg);
    return 0;
}
