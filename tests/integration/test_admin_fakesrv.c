/*
 * test_admin_fakesrv.c - the admin REST server with the fake provider of
 * the unit tests (tests/unit/node/admin/test_admin_fake.h), as a process that
 * test_admin_cli.py runs basalt-admin against.  basaltd's own provider is
 * wired by the node; this fixture makes the client's output testable
 * against a known three-node, two-DC cluster.
 *
 *   test_admin_fakesrv [ADDRESS]     prints "PORT <n>" once listening on
 *                                    ADDRESS (default 127.0.0.1) port 0,
 *                                    serves until SIGTERM/SIGINT, exits 0
 *
 * Besides the built-ins it serves GET /fake/counters: how often flush,
 * compact and drain ran and the last keyspace/table, so the test can see
 * that a command reached the provider.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>

#include "common/log.h"
#include "node/admin/admin.h"
#include "tests/unit/node/admin/test_admin_fake.h"

static int h_counters(void *ud, const bs_admin_request *req,
                      bs_admin_response *resp) {
    (void)req;
    fake_provider *f = ud;
    bs_admin_json w;
    bs_admin_json_init(&w, &resp->body);
    bs_admin_json_obj(&w);
    bs_admin_json_key(&w, "flushes");
    bs_admin_json_int(&w, atomic_load(&f->flushes));
    bs_admin_json_key(&w, "compacts");
    bs_admin_json_int(&w, atomic_load(&f->compacts));
    bs_admin_json_key(&w, "drains");
    bs_admin_json_int(&w, atomic_load(&f->drains));
    bs_admin_json_key(&w, "last_keyspace");
    bs_admin_json_str(&w, f->last_ks);
    bs_admin_json_key(&w, "last_table");
    bs_admin_json_str(&w, f->last_table);
    bs_admin_json_end(&w);
    return bs_admin_json_finish(&w);
}

int main(int argc, char **argv) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    bs_log_set_level(BS_LOG_WARN);
    static fake_provider fake;
    fake_init(&fake);
    bs_config cfg;
    bs_config_init(&cfg);
    fake.config = &cfg;
    bs_admin_provider p;
    fake_fill(&fake, &p);
    bs_admin_opts o;
    bs_admin_opts_init(&o);
    o.address = argc > 1 ? argv[1] : "127.0.0.1";
    o.token = argc > 2 ? argv[2] : NULL; /* as basaltd: a bearer token */
    o.port = 0;
    bs_admin *adm;
    if (bs_admin_new(&o, &adm) || bs_admin_install_builtins(adm, &p) ||
        bs_admin_route(adm, "GET", "/fake/counters", h_counters, &fake) ||
        bs_admin_start(adm)) {
        fprintf(stderr, "test_admin_fakesrv: cannot start\n");
        return 1;
    }
    printf("PORT %d\n", bs_admin_port(adm));
    fflush(stdout);
    int sig;
    sigwait(&set, &sig);
    bs_admin_free(adm);
    bs_config_free(&cfg);
    sem_destroy(&fake.release);
    return 0;
}
