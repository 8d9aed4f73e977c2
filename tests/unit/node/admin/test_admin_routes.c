/*
 * test_admin_routes.c - the built-in admin endpoints (node/admin/admin_routes.c)
 * against the fake provider (test_admin_fake.h), read back with
 * basalt-admin's JSON parser and rendered with its nodetool formatters
 * (client/admin_json.c, client/admin_fmt.c: library bs_admin_client).
 *
 * Checks exact values: sorting (dc, then numeric address; tokens as
 * signed numbers), int64 tokens as strings, unknown load/owns as null,
 * ownership per keyspace, describecluster grouping with UNREACHABLE,
 * gossipinfo JSON and text, flush/compact/drain dispatch and errors,
 * 501 for callbacks the provider lacks; and the full nodetool-style text
 * of status, ring, info, gossipinfo, describecluster and version.
 */
#include <check.h>

#include "client/admin_fmt.h"
#include "client/admin_json.h"
#include "common/log.h"
#include "node/admin/admin.h"
#include "test_admin_fake.h"
#include "test_admin_util.h"

static bs_admin *adm;
static fake_provider fake;
static int port;
static bs_arena A;
static bs_config cfg;

static void start(int full) {
    bs_log_set_level(BS_LOG_WARN);
    bs_arena_init(&A, 0);
    bs_config_init(&cfg);
    bs_admin_opts o;
    bs_admin_opts_init(&o);
    o.port = 0;
    ck_assert_int_eq(bs_admin_new(&o, &adm), 0);
    fake_init(&fake);
    fake.config = &cfg;
    bs_admin_provider p;
    fake_fill(&fake, &p);
    if (!full) {
        memset(&p, 0, sizeof p);
        p.ud = &fake;
        p.nodes = fake_nodes;
    }
    ck_assert_int_eq(bs_admin_install_builtins(adm, &p), 0);
    ck_assert_int_eq(bs_admin_start(adm), 0);
    port = bs_admin_port(adm);
}

static void stop(void) {
    bs_admin_free(adm);
    bs_arena_free(&A);
    bs_config_free(&cfg);
    sem_destroy(&fake.release);
}

/* GET/POST target, expect `status`, parse the body as JSON. */
static const bs_json *req_json(const char *method, const char *target,
                               int status) {
    http_resp r;
    int st = http_do(port, method, target, &r);
    if (st != status)
        ck_abort_msg("%s %s: status %d, want %d: %s", method, target, st,
                     status, r.body);
    const bs_json *doc = NULL;
    char err[128];
    int rc = bs_json_parse(r.body, r.body_len, &A, &doc, err, sizeof err);
    if (rc)
        ck_abort_msg("%s %s: bad JSON (%s): %s", method, target, err, r.body);
    resp_free(&r);
    return doc;
}

static const char *str_at(const bs_json *arr, size_t i, const char *key) {
    ck_assert_uint_lt(i, arr->n);
    return bs_json_string(bs_json_get(arr->items[i], key), NULL);
}

static char *render(int (*fn)(const bs_json *, bs_buf *), const bs_json *doc,
                    bs_buf *b) {
    bs_buf_reset(b);
    ck_assert_int_eq(fn(doc, b), 0);
    bs_buf_append_u8(b, 0);
    return (char *)b->data;
}

START_TEST(test_status) {
    start(1);
    const bs_json *d = req_json("GET", "/status", 200);
    ck_assert_str_eq(bs_json_string(bs_json_get(d, "keyspace"), "?"), "ks1");
    const bs_json *n = bs_json_get(d, "nodes");
    ck_assert_uint_eq(n->n, 3);
    ck_assert_str_eq(str_at(n, 0, "address"), "127.0.0.1");
    ck_assert_str_eq(str_at(n, 1, "address"), "127.0.0.2");
    ck_assert_str_eq(str_at(n, 2, "address"), "127.0.0.10");
    ck_assert_str_eq(str_at(n, 1, "status"), "D");
    ck_assert_str_eq(str_at(n, 2, "state"), "J");
    ck_assert_str_eq(str_at(n, 2, "host_id"), FAKE_HOST3);
    ck_assert_int_eq(bs_json_get(n->items[2], "load_bytes")->type,
                     BS_JSON_NULL);
    double o;
    ck_assert_int_eq(bs_json_double(bs_json_get(n->items[0], "owns"), &o), 0);
    ck_assert(o == 0.5);
    ck_assert(bs_json_true(bs_json_get(n->items[0], "is_local")));
    ck_assert(!bs_json_true(bs_json_get(n->items[1], "is_local")));
    int64_t t;
    ck_assert_int_eq(bs_json_int(bs_json_get(n->items[1], "tokens"), &t), 0);
    ck_assert_int_eq(t, 2);

    bs_buf b = BS_BUF_INIT;
    ck_assert_str_eq(
        render(bs_admin_fmt_status, d, &b),
        "Datacenter: dc1\n"
        "===============\n"
        "Status=Up/Down\n"
        "|/ State=Normal/Leaving/Joining/Moving\n"
        "--  Address    Load       Tokens  Owns (effective)  Host ID           "
        "                    Rack\n"
        "UN  127.0.0.1  1.5 KiB    2       50.0%             " FAKE_HOST1
        "  rack1\n"
        "DN  127.0.0.2  123 bytes  2       25.0%             " FAKE_HOST2
        "  rack2\n"
        "\n"
        "Datacenter: dc2\n"
        "===============\n"
        "Status=Up/Down\n"
        "|/ State=Normal/Leaving/Joining/Moving\n"
        "--  Address     Load  Tokens  Owns (effective)  Host ID               "
        "                Rack\n"
        "UJ  127.0.0.10  ?     1       25.0%             " FAKE_HOST3
        "  rack1\n");

    d = req_json("GET", "/status?keyspace=ks2", 200);
    n = bs_json_get(d, "nodes");
    ck_assert_int_eq(bs_json_double(bs_json_get(n->items[2], "owns"), &o), 0);
    ck_assert(o == 0);
    ck_assert_int_eq(bs_json_double(bs_json_get(n->items[1], "owns"), &o), 0);
    ck_assert(o == 1);
    d = req_json("GET", "/status?keyspace=nope", 404);
    ck_assert_str_eq(bs_json_string(bs_json_get(d, "error"), ""),
                     "unknown keyspace 'nope'");
    /* no keyspace at all: owns unknown, and the note says so */
    fake.no_keyspaces = 1;
    d = req_json("GET", "/status", 200);
    ck_assert_int_eq(bs_json_get(d, "keyspace")->type, BS_JSON_NULL);
    ck_assert_int_eq(
        bs_json_get(bs_json_get(d, "nodes")->items[0], "owns")->type,
        BS_JSON_NULL);
    char *txt = render(bs_admin_fmt_status, d, &b);
    ck_assert_ptr_nonnull(
        strstr(txt, "UN  127.0.0.1  1.5 KiB    2       ?                 "));
    ck_assert_ptr_nonnull(
        strstr(txt, "\nNote: there is no non-system keyspace"));
    bs_buf_free(&b);
    stop();
}
END_TEST

START_TEST(test_ring) {
    start(1);
    const bs_json *d = req_json("GET", "/ring", 200);
    const bs_json *r = bs_json_get(d, "ring");
    ck_assert_uint_eq(r->n, 5);
    const char *want[] = {"-9223372036854775807", "-100", "50", "200",
                          "9223372036854775807"};
    const char *addr[] = {"127.0.0.2", "127.0.0.1", "127.0.0.2", "127.0.0.1",
                          "127.0.0.10"};
    for (size_t i = 0; i < 5; i++) {
        ck_assert_str_eq(str_at(r, i, "token"), want[i]);
        ck_assert_str_eq(str_at(r, i, "address"), addr[i]);
    }
    int64_t t;
    ck_assert_int_eq(bs_json_int(bs_json_get(r->items[4], "token"), &t), 0);
    ck_assert(t == INT64_MAX);
    ck_assert_str_eq(str_at(r, 0, "status"), "Down");
    ck_assert_str_eq(str_at(r, 4, "state"), "Joining");
    bs_buf b = BS_BUF_INIT;
    ck_assert_str_eq(
        render(bs_admin_fmt_ring, d, &b),
        "\n"
        "Datacenter: dc1\n"
        "==========\n"
        "Address    Rack   Status  State   Load       Owns    Token\n"
        "                                                     200\n"
        "127.0.0.2  rack2  Down    Normal  123 bytes  25.00%  "
        "-9223372036854775807\n"
        "127.0.0.1  rack1  Up      Normal  1.5 KiB    50.00%  -100\n"
        "127.0.0.2  rack2  Down    Normal  123 bytes  25.00%  50\n"
        "127.0.0.1  rack1  Up      Normal  1.5 KiB    50.00%  200\n"
        "\n"
        "Datacenter: dc2\n"
        "==========\n"
        "Address     Rack   Status  State    Load  Owns    Token\n"
        "                                                  "
        "9223372036854775807\n"
        "127.0.0.10  rack1  Up      Joining  ?     25.00%  "
        "9223372036854775807\n"
        "\n");
    bs_buf_free(&b);
    stop();
}
END_TEST

START_TEST(test_info_version_describe) {
    start(1);
    const bs_json *d = req_json("GET", "/info", 200);
    ck_assert_str_eq(bs_json_string(bs_json_get(d, "host_id"), ""), FAKE_HOST1);
    ck_assert_str_eq(bs_json_string(bs_json_get(d, "cluster_name"), ""),
                     "Fake Cluster");
    ck_assert_ptr_null(bs_json_get(d, "token_list"));
    const char *conf = bs_json_string(bs_json_get(d, "config"), "");
    ck_assert_ptr_nonnull(strstr(conf, "cluster_name: "));
    ck_assert_ptr_nonnull(strstr(conf, "admin_port: 7199"));
    /* the dump loads back into an equal config */
    bs_config back;
    bs_config_init(&back);
    ck_assert_int_eq(
        bs_config_load_string(conf, strlen(conf), "info", &back, NULL, 0), 0);
    ck_assert(bs_config_equal(&back, &cfg));
    bs_config_free(&back);
    bs_buf b = BS_BUF_INIT;
    ck_assert_int_eq(bs_admin_fmt_info(d, false, false, &b), 0);
    bs_buf_append_u8(&b, 0);
    ck_assert_str_eq((char *)b.data,
                     "ID                     : " FAKE_HOST1 "\n"
                     "Gossip active          : true\n"
                     "Native Transport active: true\n"
                     "Load                   : 1.5 KiB\n"
                     "Generation No          : 1700000000\n"
                     "Uptime (seconds)       : 42\n"
                     "Data Center            : dc1\n"
                     "Rack                   : rack1\n"
                     "Schema Version         : " FAKE_SCHEMA_A "\n"
                     "Token                  : (invoke with -T/--tokens to see "
                     "all 2 tokens)\n");
    d = req_json("GET", "/info?tokens=1", 200);
    bs_buf_reset(&b);
    ck_assert_int_eq(bs_admin_fmt_info(d, true, false, &b), 0);
    bs_buf_append_u8(&b, 0);
    ck_assert_ptr_nonnull(strstr((char *)b.data,
                                 "Token                  : -100\n"
                                 "Token                  : 200\n"));

    d = req_json("GET", "/version", 200);
    ck_assert_str_eq(
        render(bs_admin_fmt_version, d, &b),
        "ReleaseVersion: 4.0.11\nBasalt: 0.1.0 (build test-build)\n");

    d = req_json("GET", "/describecluster", 200);
    const bs_json *sv = bs_json_get(d, "schema_versions");
    ck_assert_uint_eq(sv->n, 2);
    ck_assert_str_eq(str_at(sv, 0, "version"), FAKE_SCHEMA_A);
    ck_assert_uint_eq(bs_json_get(sv->items[0], "hosts")->n, 2);
    ck_assert_str_eq(str_at(sv, 1, "version"), "UNREACHABLE");
    ck_assert_str_eq(
        render(bs_admin_fmt_describecluster, d, &b),
        "Cluster Information:\n"
        "\tName: Fake Cluster\n"
        "\tSnitch: org.apache.cassandra.locator.GossipingPropertyFileSnitch\n"
        "\tPartitioner: org.apache.cassandra.dht.Murmur3Partitioner\n"
        "\tSchema versions:\n"
        "\t\t" FAKE_SCHEMA_A ": [127.0.0.1, 127.0.0.10]\n"
        "\n"
        "\t\tUNREACHABLE: [127.0.0.2]\n"
        "\n");
    bs_buf_free(&b);
    stop();
}
END_TEST

START_TEST(test_gossipinfo) {
    start(1);
    const char *text = "/127.0.0.1\n  generation:1700000000\n  heartbeat:1234\n"
                       "  STATUS:14:NORMAL,-100\n  DC:6:dc1\n  RACK:8:rack1\n"
                       "  SCHEMA:10:" FAKE_SCHEMA_A "\n"
                       "/127.0.0.2\n  generation:1700000001\n  heartbeat:77\n"
                       "  STATUS:3:NORMAL,50\n  LOAD:9:123.0\n";
    const bs_json *d = req_json("GET", "/gossipinfo", 200);
    const bs_json *e = bs_json_get(d, "endpoints");
    ck_assert_uint_eq(e->n, 2);
    ck_assert(bs_json_true(bs_json_get(e->items[0], "alive")));
    ck_assert(!bs_json_true(bs_json_get(e->items[1], "alive")));
    bs_buf b = BS_BUF_INIT;
    ck_assert_str_eq(render(bs_admin_fmt_gossipinfo, d, &b), text);
    bs_buf_free(&b);
    /* the server's own text rendering is the same */
    http_resp r;
    ck_assert_int_eq(http_do(port, "GET", "/gossipinfo?format=text", &r), 200);
    ck_assert_ptr_nonnull(strstr(r.headers, "Content-Type: text/plain"));
    ck_assert_str_eq(r.body, text);
    resp_free(&r);
    req_json("GET", "/gossipinfo?format=xml", 400);
    stop();
}
END_TEST

START_TEST(test_actions) {
    start(1);
    const bs_json *d = req_json("POST", "/flush?keyspace=ks&table=t1", 200);
    ck_assert(bs_json_true(bs_json_get(d, "ok")));
    ck_assert_int_eq(atomic_load(&fake.flushes), 1);
    ck_assert_str_eq(fake.last_ks, "ks");
    ck_assert_str_eq(fake.last_table, "t1");
    req_json("POST", "/flush", 200);
    ck_assert_int_eq(atomic_load(&fake.flushes), 2);
    ck_assert_str_eq(fake.last_ks, "(all)");
    req_json("POST", "/compact?keyspace=k%20s", 200);
    ck_assert_int_eq(atomic_load(&fake.compacts), 1);
    ck_assert_str_eq(fake.last_ks, "k s");
    ck_assert_str_eq(fake.last_table, "(all)");
    d = req_json("POST", "/flush?table=t", 400);
    ck_assert_str_eq(bs_json_string(bs_json_get(d, "error"), ""),
                     "table given without keyspace");
    d = req_json("POST", "/compact?keyspace=missing", 404);
    ck_assert_str_eq(bs_json_string(bs_json_get(d, "error"), ""),
                     "unknown keyspace 'missing'");
    req_json("GET", "/flush", 405);
    req_json("POST", "/drain", 200);
    ck_assert_int_eq(atomic_load(&fake.drains), 1);
    ck_assert_int_eq(atomic_load(&fake.flushes), 2);
    ck_assert_int_eq(atomic_load(&fake.compacts), 1);
    stop();
}
END_TEST

START_TEST(test_missing_callbacks) {
    start(0); /* only nodes() */
    const char *paths[] = {"/info", "/gossipinfo", "/describecluster"};
    for (size_t i = 0; i < 3; i++) {
        const bs_json *d = req_json("GET", paths[i], 501);
        ck_assert_ptr_nonnull(strstr(
            bs_json_string(bs_json_get(d, "error"), ""), "not implemented"));
    }
    req_json("POST", "/flush", 501);
    req_json("POST", "/drain", 501);
    /* status works without ownership: owns null; a keyspace is 501 */
    const bs_json *d = req_json("GET", "/status", 200);
    ck_assert_int_eq(
        bs_json_get(bs_json_get(d, "nodes")->items[0], "owns")->type,
        BS_JSON_NULL);
    req_json("GET", "/status?keyspace=ks1", 501);
    /* release version default */
    d = req_json("GET", "/version", 200);
    ck_assert_str_eq(bs_json_string(bs_json_get(d, "release_version"), ""),
                     "4.0.11");
    ck_assert_str_eq(bs_json_string(bs_json_get(d, "build"), "?"), "");
    stop();
}
END_TEST

int main(void) {
    Suite *s = suite_create("admin_routes");
    TCase *tc = tcase_create("routes");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_status);
    tcase_add_test(tc, test_ring);
    tcase_add_test(tc, test_info_version_describe);
    tcase_add_test(tc, test_gossipinfo);
    tcase_add_test(tc, test_actions);
    tcase_add_test(tc, test_missing_callbacks);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
