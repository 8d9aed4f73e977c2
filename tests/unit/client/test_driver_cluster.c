/*
 * test_driver_cluster.c - libbasalt-client against a real 3-node basaltd
 * cluster: discovery through system.peers(_v2), the token map built from
 * every node's tokens, token-aware routing to the replica the ring says,
 * schema agreement after DDL, and STATUS_CHANGE events marking a stopped
 * node down.
 *
 * The replica of a token under SimpleStrategy rf 1 is recomputed here
 * independently (the owner of the smallest token >= t, wrapping) from the
 * tokens each node reports, and compared with both the client's view and
 * the node that actually answered the routed request.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basaltd_fixture.h"
#include "client/basalt.h"
#include "common/buf.h"

#define NNODES 3

static bs_test_server nodes[NNODES];

static void cluster_up(void) {
    ck_assert_int_eq(tsrv_cluster_init(nodes, NNODES), 0);
    for (int i = 0; i < NNODES; i++) {
        ck_assert_int_eq(tsrv_start(&nodes[i]), 0);
        usleep(200000); /* let each join before the next */
    }
}

static void cluster_down(void) {
    for (int i = 0; i < NNODES; i++)
        ck_assert_int_eq(tsrv_destroy(&nodes[i]), 0); /* exit 0, no report */
}

/* Connects through node 0 and waits until the client knows all nodes. */
static bs_client *connect_all(void) {
    bs_client_config *cfg;
    ck_assert_int_eq(bs_client_config_new(&cfg), 0);
    ck_assert_int_eq(
        bs_client_config_add_contact_points(cfg, nodes[0].hostport), 0);
    bs_client *c = NULL;
    bs_client_error err;
    int rc = bs_client_connect(cfg, &c, &err);
    bs_client_config_free(cfg);
    ck_assert_msg(rc == 0, "connect: %s", err.message);
    double t0 = tsrv_now();
    while (bs_client_host_count(c) < NNODES && tsrv_now() - t0 < 20) {
        usleep(200000);
        bs_client_refresh_topology(c, NULL);
    }
    ck_assert_uint_eq(bs_client_host_count(c), NNODES);
    return c;
}

typedef struct tokowner {
    int64_t t;
    char host[96];
} tokowner;

static int tok_cmp(const void *a, const void *b) {
    int64_t x = ((const tokowner *)a)->t, y = ((const tokowner *)b)->t;
    return x < y ? -1 : x > y;
}

START_TEST(test_discovery_and_routing) {
    cluster_up();
    bs_client *c = connect_all();
    tokowner all[NNODES * 64];
    size_t nall = 0;
    for (size_t i = 0; i < NNODES; i++) {
        bs_client_host h;
        ck_assert_int_eq(bs_client_host_get(c, i, &h), 0);
        ck_assert_int_eq(h.port, nodes[0].port);
        ck_assert_str_eq(h.dc, "dc1");
        ck_assert_uint_eq(h.ntokens, 16);
        ck_assert_uint_eq(strlen(h.host_id), 36);
        int known = 0;
        for (int k = 0; k < NNODES; k++)
            known |= !strcmp(h.address, nodes[k].addr);
        ck_assert(known);
        ck_assert_int_eq(h.is_control, !strcmp(h.address, nodes[0].addr));
        int64_t toks[64];
        size_t n;
        ck_assert_int_eq(bs_client_host_tokens(c, i, toks, 64, &n), 0);
        for (size_t j = 0; j < n; j++) {
            all[nall].t = toks[j];
            snprintf(all[nall].host, sizeof all[nall].host, "%s:%d", h.address,
                     h.port);
            nall++;
        }
    }
    ck_assert_uint_eq(nall, NNODES * 16);
    qsort(all, nall, sizeof *all, tok_cmp);
    for (size_t i = 1; i < nall; i++)
        ck_assert(all[i - 1].t < all[i].t);

    bs_client_result *r;
    bs_client_error err;
    ck_assert_int_eq(bs_client_query(c,
                                     "CREATE KEYSPACE ks WITH replication = "
                                     "{'class': 'SimpleStrategy', "
                                     "'replication_factor': 1}",
                                     &r, &err),
                     0);
    bs_client_result_free(r);
    /* schema agreement: the table is known on every node right away */
    ck_assert_int_eq(bs_client_query(c,
                                     "CREATE TABLE ks.t (k int PRIMARY KEY, "
                                     "v int)",
                                     &r, &err),
                     0);
    bs_client_result_free(r);
    ck_assert_int_eq(bs_client_refresh_topology(c, &err),
                     0); /* ks replication */

    bs_client_prepared *ins, *sel;
    int rc = bs_client_prepare(c, "INSERT INTO ks.t (k, v) VALUES (?, ?)", &ins,
                               &err);
    ck_assert_msg(rc == 0, "prepare on %s: %s", err.host, err.message);
    ck_assert_int_eq(
        bs_client_prepare(c, "SELECT v FROM ks.t WHERE k = ?", &sel, &err), 0);
    int hits[NNODES] = {0};
    for (int k = 0; k < 60; k++) {
        bs_client_stmt *s;
        ck_assert_int_eq(bs_client_stmt_new_prepared(ins, &s), 0);
        ck_assert_int_eq(bs_client_stmt_bind_int32(s, 0, k), 0);
        ck_assert_int_eq(bs_client_stmt_bind_int32(s, 1, k * 10), 0);
        int64_t tok;
        ck_assert_int_eq(bs_client_stmt_routing_token(s, &tok), 0);
        /* independent owner: smallest token >= tok, else the first */
        const char *owner = all[0].host;
        for (size_t i = 0; i < nall; i++)
            if (all[i].t >= tok) {
                owner = all[i].host;
                break;
            }
        char reps[4][64];
        size_t nr;
        ck_assert_int_eq(bs_client_replicas(c, "ks", tok, reps, 4, &nr), 0);
        ck_assert_uint_eq(nr, 1);
        ck_assert_str_eq(reps[0], owner);
        ck_assert_int_eq(bs_client_execute(c, s, &r, &err), 0);
        ck_assert_str_eq(bs_client_result_host(r), owner);
        for (int i = 0; i < NNODES; i++)
            if (!strcmp(owner, nodes[i].hostport)) hits[i]++;
        bs_client_result_free(r);
        bs_client_stmt_free(s);
        /* the routed read finds it */
        ck_assert_int_eq(bs_client_stmt_new_prepared(sel, &s), 0);
        ck_assert_int_eq(bs_client_stmt_bind_int32(s, 0, k), 0);
        ck_assert_int_eq(bs_client_execute(c, s, &r, &err), 0);
        ck_assert_str_eq(bs_client_result_host(r), owner);
        ck_assert_int_eq(bs_client_result_next_row(r), 1);
        int32_t v;
        ck_assert_int_eq(bs_client_result_get_int32(r, 0, &v), 0);
        ck_assert_int_eq(v, k * 10);
        bs_client_result_free(r);
        bs_client_stmt_free(s);
    }
    /* 60 keys over 48 vnodes of 3 nodes: every node owns some */
    for (int i = 0; i < NNODES; i++)
        ck_assert_int_gt(hits[i], 0);
    bs_client_prepared_free(ins);
    bs_client_prepared_free(sel);

    /* a node goes away: a STATUS_CHANGE DOWN event marks it down */
    /* contact points only (basalt-shell, as cqlsh): system.local always
     * from the node asked for; the default round robin visits them all */
    for (int only = 1; only >= 0; only--) {
        bs_client_config *cfg;
        ck_assert_int_eq(bs_client_config_new(&cfg), 0);
        ck_assert_int_eq(bs_client_config_add_contact_points(cfg, nodes[1].hostport), 0);
        ck_assert_int_eq(bs_client_config_set_contact_points_only(cfg, only), 0);
        bs_client *c2 = NULL;
        ck_assert_int_eq(bs_client_connect(cfg, &c2, &err), 0);
        bs_client_config_free(cfg);
        double t1 = tsrv_now();
        while (bs_client_host_count(c2) < NNODES && tsrv_now() - t1 < 20) {
            usleep(200000);
            bs_client_refresh_topology(c2, NULL);
        }
        int seen[NNODES] = {0};
        for (int q = 0; q < 12; q++) {
            ck_assert_int_eq(bs_client_query(c2, "SELECT rpc_address FROM system.local", &r, &err), 0);
            ck_assert_int_eq(bs_client_result_next_row(r), 1);
            bs_buf a = BS_BUF_INIT;
            ck_assert_int_eq(bs_client_result_get_formatted(r, 0, 0, &a), 0);
            for (int k = 0; k < NNODES; k++)
                if (a.len == strlen(nodes[k].addr) && !memcmp(a.data, nodes[k].addr, a.len)) seen[k]++;
            bs_buf_free(&a);
            bs_client_result_free(r);
        }
        if (only) {
            ck_assert_int_eq(seen[1], 12);
        } else {
            ck_assert_int_gt(seen[0] + seen[2], 0);
        }
        bs_client_close(c2);
    }

    uint64_t v0 = bs_client_topology_version(c);
    ck_assert_int_eq(tsrv_stop(&nodes[2]), 0);
    int down = 0;
    double t0 = tsrv_now();
    while (!down && tsrv_now() - t0 < 20) {
        usleep(100000);
        for (size_t i = 0; i < bs_client_host_count(c); i++) {
            bs_client_host h;
            if (bs_client_host_get(c, i, &h) == 0 &&
                !strcmp(h.address, nodes[2].addr) && !h.up)
                down = 1;
        }
    }
    ck_assert_msg(down, "node 3 never marked down");
    /* the event also triggered a refresh */
    t0 = tsrv_now();
    while (bs_client_topology_version(c) == v0 && tsrv_now() - t0 < 5)
        usleep(50000);
    ck_assert_uint_gt(bs_client_topology_version(c), v0);
    /* requests keep working on the others */
    ck_assert_int_eq(bs_client_query(c, "SELECT * FROM system.local", &r, &err),
                     0);
    bs_client_result_free(r);
    bs_client_close(c);
    cluster_down();
}
END_TEST

int main(void) {
    Suite *s = suite_create("client_driver_cluster");
    TCase *tc = tcase_create("cluster");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_discovery_and_routing);
    tcase_add_unchecked_fixture(tc, tsrv_suite_setup, tsrv_suite_teardown);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
