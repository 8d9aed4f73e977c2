/*
 * test_config.c - unit tests for node/config.c: defaults, a full file,
 * errors that name key/line/column for every kind of value, YAML syntax
 * errors, legacy aliases, seeds in every shape, flags over the file,
 * cross-field validation, dump -> load round trips, and the consistency
 * of conf/basalt.yaml and docs/CONFIG.md with the key table.
 *
 * Run with `node_test_config --print-reference` to print the generated
 * Markdown reference (the part of docs/CONFIG.md between the markers).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/error.h"
#include "common/log.h"
#include "node/config.h"

static char err[1024];

/* Loads text over a fresh default config named "t.yaml". */
static int load(bs_config *c, const char *text) {
    bs_config_init(c);
    err[0] = '\0';
    return bs_config_load_string(text, strlen(text), "t.yaml", c, err,
                                 sizeof err);
}

/* Expects a load of `text` to fail with exactly `msg`. */
static void expect_error(const char *text, const char *msg) {
    bs_config c;
    int rc = load(&c, text);
    ck_assert_msg(rc == BS_ECONFIG, "rc %d for <<%s>> (err '%s')", rc, text,
                  err);
    ck_assert_str_eq(err, msg);
    bs_config_free(&c);
}

/* Expects failure with a message starting with `prefix`. */
static void expect_error_prefix(const char *text, const char *prefix) {
    bs_config c;
    int rc = load(&c, text);
    ck_assert_msg(rc == BS_ECONFIG, "rc %d for <<%s>>", rc, text);
    ck_assert_msg(strncmp(err, prefix, strlen(prefix)) == 0,
                  "error '%s' does not start with '%s'", err, prefix);
    bs_config_free(&c);
}

static const char *source_root(char *buf, size_t cap) {
    const char *f = __FILE__;
    const char *tail = strstr(f, "tests/unit/node/test_config.c");
    ck_assert_ptr_nonnull(tail);
    size_t n = (size_t)(tail - f);
    ck_assert_uint_lt(n + 1, cap);
    memcpy(buf, f, n);
    buf[n] = '\0';
    if (n == 0) strcpy(buf, "./");
    return buf;
}

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    bs_buf b = BS_BUF_INIT;
    char tmp[4096];
    size_t n;
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
        ck_assert_int_eq(bs_buf_append(&b, tmp, n), 0);
    fclose(f);
    ck_assert_int_eq(bs_buf_append_u8(&b, 0), 0);
    size_t len;
    return (char *)bs_buf_steal(&b, &len);
}

static char *write_temp(const char *text) {
    char *path = strdup("/tmp/bs_test_config_XXXXXX");
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

/* ---------------------------------------------------------------- */

START_TEST(defaults) {
    bs_config c;
    bs_config_init(&c);
    ck_assert_str_eq(c.cluster_name, "Test Cluster");
    ck_assert_uint_eq(c.n_seeds, 1);
    ck_assert_str_eq(c.seeds[0], "127.0.0.1");
    ck_assert_str_eq(c.dc, "dc1");
    ck_assert_str_eq(c.rack, "rack1");
    ck_assert_int_eq(c.num_tokens, 16);
    ck_assert_int_eq(c.allocate_tokens_for_local_replication_factor, 3);
    ck_assert_uint_eq(c.n_initial_tokens, 0);
    ck_assert_ptr_null(c.initial_tokens);
    ck_assert_str_eq(c.listen_address, "127.0.0.1");
    ck_assert_str_eq(c.broadcast_address, "");
    ck_assert_str_eq(c.rpc_address, "127.0.0.1");
    ck_assert_str_eq(c.broadcast_rpc_address, "");
    ck_assert_int_eq(c.native_transport_port, 9042);
    ck_assert_int_eq(c.storage_port, 7000);
    ck_assert_int_eq(c.http_port, 8086);
    ck_assert_str_eq(c.admin_address, "127.0.0.1");
    ck_assert_int_eq(c.admin_port, 7199);
    ck_assert_str_eq(c.data_directory, "data");
    ck_assert_str_eq(c.hints_directory, "");
    ck_assert_int_eq(c.commitlog_sync, BS_COMMITLOG_PERIODIC);
    ck_assert_uint_eq(c.commitlog_sync_period_ms, 10000);
    ck_assert_uint_eq(c.commitlog_sync_batch_window_ms, 2);
    ck_assert_uint_eq(c.storage_block_cache_size_bytes, 64u << 20);
    ck_assert_uint_eq(c.storage_memtable_size_bytes, 64u << 20);
    ck_assert(c.storage_cache_index_and_filter_blocks);
    ck_assert(c.hinted_handoff_enabled);
    ck_assert_uint_eq(c.max_hint_window_ms, 3ull * 3600 * 1000);
    ck_assert_uint_eq(c.hinted_handoff_throttle_bytes, 1024 * 1024);
    ck_assert_uint_eq(c.read_request_timeout_ms, 5000);
    ck_assert_uint_eq(c.internode_tcp_connect_timeout_ms, 2000);
    ck_assert_uint_eq(c.internode_tcp_user_timeout_ms, 10000);
    ck_assert_uint_eq(c.write_request_timeout_ms, 2000);
    ck_assert_uint_eq(c.range_request_timeout_ms, 10000);
    ck_assert_uint_eq(c.request_timeout_ms, 10000);
    ck_assert_uint_eq(c.truncate_request_timeout_ms, 60000);
    ck_assert_str_eq(c.speculative_retry, "99p");
    ck_assert_uint_eq(c.max_future_timestamp_ms, 86400000ull);
    ck_assert_uint_eq(c.batch_size_warn_threshold_bytes, 5 * 1024);
    ck_assert_uint_eq(c.batch_size_fail_threshold_bytes, 50 * 1024);
    ck_assert_uint_eq(c.prepared_statements_cache_size_bytes, 10u << 20);
    ck_assert(c.phi_convict_threshold == 8.0);
    ck_assert_int_eq(c.io_threads, 0);
    ck_assert_uint_eq(c.native_transport_max_frame_size_bytes, 16u << 20);
    ck_assert_int_eq(c.native_transport_max_concurrent_connections, 8192);
    ck_assert_int_eq(c.native_transport_max_concurrent_connections_per_ip, -1);
    ck_assert_int_eq(c.native_transport_max_requests_per_connection, 1024);
    ck_assert_uint_eq(c.native_transport_max_request_data_in_flight_bytes, 128u << 20);
    ck_assert_uint_eq(c.native_transport_frame_timeout_ms, 10000);
    ck_assert_uint_eq(c.native_transport_startup_timeout_ms, 10000);
    ck_assert_uint_eq(c.native_transport_idle_timeout_ms, 0);
    ck_assert_int_eq(c.admin_max_connections_per_ip, 16);
    ck_assert_uint_eq(c.repair_interval_ms, 0);
    ck_assert_int_eq(c.log_level, BS_LOG_INFO);
    ck_assert_str_eq(c.log_file, "");
    ck_assert_int_eq(c.clock_skew_us, 0);
    ck_assert_int_eq(bs_config_validate(&c, err, sizeof err), 0);

    /* derived values */
    char hb[256];
    ck_assert_str_eq(bs_config_hints_directory(&c, hb, sizeof hb),
                     "data/hints");
    ck_assert_ptr_null(bs_config_hints_directory(&c, hb, 5));
    ck_assert_str_eq(bs_config_cluster_secret_file(&c, hb, sizeof hb),
                     "data/cluster_secret");
    ck_assert_str_eq(bs_config_admin_token_file(&c, hb, sizeof hb),
                     "data/admin_token");
    ck_assert_str_eq(bs_config_broadcast_address(&c), "127.0.0.1");
    ck_assert_str_eq(bs_config_broadcast_rpc_address(&c), "127.0.0.1");
    ck_assert_int_ge(bs_config_io_threads(&c), 1);
    bs_config_free(&c);
}
END_TEST

static const char *full_yaml =
    "# every key, none at its default\n"
    "cluster_name: 'Prod Cluster'\n"
    "seeds: \"10.0.0.1, 10.0.0.2,::1\"\n"
    "dc: eu-west\n"
    "rack: r7\n"
    "num_tokens: 4\n"
    "allocate_tokens_for_local_replication_factor: 5\n"
    "initial_token: -9223372036854775807,-5,0,9223372036854775807\n"
    "listen_address: 10.0.0.3\n"
    "broadcast_address: 192.168.1.3\n"
    "rpc_address: 0.0.0.0\n"
    "broadcast_rpc_address: \"2001:db8::3\"\n"
    "native_transport_port: 19042\n"
    "storage_port: 17000\n"
    "http_port: 18086\n"
    "http_max_body_size: 1MiB\n"
    "http_max_connections: 77\n"
    "http_idle_timeout: 5s\n"
    "ts_bucket: 1h\n"
    "ts_replication_factor: 3\n"
    "admin_address: 10.0.0.3\n"
    "admin_port: 17199\n"
    "admin_max_connections_per_ip: 4\n"
    "native_transport_max_frame_size: 32MiB\n"
    "native_transport_max_concurrent_connections: 500\n"
    "native_transport_max_concurrent_connections_per_ip: 20\n"
    "native_transport_max_requests_per_connection: 64\n"
    "native_transport_max_request_data_in_flight: 32MiB\n"
    "native_transport_frame_timeout: 3s\n"
    "native_transport_startup_timeout: 2s\n"
    "native_transport_idle_timeout: 5m\n"
    "io_threads: 6\n"
    "cluster_secret_file: /etc/basalt/cluster_secret\n"
    "admin_token_file: /etc/basalt/admin_token\n"
    "authenticator: PasswordAuthenticator\n"
    "authorizer: org.apache.cassandra.auth.CassandraAuthorizer\n"
    "credentials_validity: 5s\n"
    "permissions_validity: 0ms\n"
    "initial_superuser_file: /etc/basalt/superuser\n"
    "data_directory: /var/lib/basalt/data\n"
    "hints_directory: /var/lib/basalt/hints\n"
    "commitlog_sync: batch\n"
    "commitlog_sync_period: 2s\n"
    "commitlog_sync_batch_window: 5ms\n"
    "min_free_space: 1GiB\n"
    "storage_block_cache_size: 128MiB\n"
    "storage_memtable_size: 16MiB\n"
    "storage_cache_index_and_filter_blocks: false\n"
    "hinted_handoff_enabled: false\n"
    "max_hint_window: 1d\n"
    "hinted_handoff_throttle: 2MiB\n"
    "hinted_handoff_disabled_datacenters: [dc2, dc3]\n"
    "cross_dc_write_forwarding: false\n"
    "internode_compression: none\n"
    "auto_bootstrap: false\n"
    "consistent_range_movement: false\n"
    "stream_throughput_outbound: 8MiB\n"
    "stream_ingest_sst: false\n"
    "ring_delay: 2s\n"
    "replace_address_first_boot: 10.0.0.9\n"
    "read_request_timeout: 6s\n"
    "internode_tcp_connect_timeout: 1500ms\n"
    "internode_tcp_user_timeout: 0ms\n"
    "write_request_timeout: 2500ms\n"
    "range_request_timeout: 1m\n"
    "range_concurrency_max: 4\n"
    "request_timeout: 11000ms\n"
    "truncate_request_timeout: 2m\n"
    "speculative_retry: 50ms\n"
    "max_future_timestamp: 2h\n"
    "batch_size_warn_threshold: 10KiB\n"
    "batch_size_fail_threshold: 0B\n"
    "prepared_statements_cache_size: 2MiB\n"
    "max_mutation_size: 1MiB\n"
    "column_value_size_fail_threshold: 64KiB\n"
    "collection_size_fail_threshold: 32KiB\n"
    "items_per_collection_fail_threshold: 100\n"
    "phi_convict_threshold: 10.5\n"
    "repair_interval: 7d\n"
    "log_level: DEBUG\n"
    "log_file: /var/log/basalt.log\n"
    "clock_skew_us: -1500\n"
    "client_encryption_options.enabled: true\n"
    "client_encryption_options.optional: true\n"
    "client_encryption_options.certfile: /etc/basalt/node.pem\n"
    "client_encryption_options.keyfile: /etc/basalt/node.key\n"
    "client_encryption_options.cafile: /etc/basalt/ca.pem\n"
    "client_encryption_options.require_client_auth: true\n"
    "server_encryption_options.internode_encryption: dc\n"
    "server_encryption_options.certfile: /etc/basalt/inode.pem\n"
    "server_encryption_options.keyfile: /etc/basalt/inode.key\n"
    "server_encryption_options.cafile: /etc/basalt/cluster-ca.pem\n"
    "admin_encryption_options.enabled: true\n"
    "admin_encryption_options.certfile: /etc/basalt/admin.pem\n"
    "admin_encryption_options.keyfile: /etc/basalt/admin.key\n"
    "admin_encryption_options.cafile: /etc/basalt/admin-ca.pem\n"
    "admin_encryption_options.require_client_auth: true\n"
    "http_encryption_options.enabled: true\n"
    "http_encryption_options.certfile: /etc/basalt/http.pem\n"
    "http_encryption_options.keyfile: /etc/basalt/http.key\n"
    "http_encryption_options.cafile: /etc/basalt/http-ca.pem\n"
    "http_encryption_options.require_client_auth: true\n";

static void check_tls_full(const bs_config *c) {
    ck_assert(c->client_enc_enabled && c->client_enc_optional &&
              c->client_enc_require_client_auth);
    ck_assert_str_eq(c->client_enc_certfile, "/etc/basalt/node.pem");
    ck_assert_str_eq(c->client_enc_keyfile, "/etc/basalt/node.key");
    ck_assert_str_eq(c->client_enc_cafile, "/etc/basalt/ca.pem");
    ck_assert_int_eq(c->internode_encryption, BS_INTERNODE_ENC_DC);
    ck_assert_str_eq(c->server_enc_certfile, "/etc/basalt/inode.pem");
    ck_assert_str_eq(c->server_enc_keyfile, "/etc/basalt/inode.key");
    ck_assert_str_eq(c->server_enc_cafile, "/etc/basalt/cluster-ca.pem");
    ck_assert(c->admin_enc_enabled && c->admin_enc_require_client_auth);
    ck_assert_str_eq(c->admin_enc_certfile, "/etc/basalt/admin.pem");
    ck_assert_str_eq(c->admin_enc_keyfile, "/etc/basalt/admin.key");
    ck_assert_str_eq(c->admin_enc_cafile, "/etc/basalt/admin-ca.pem");
    ck_assert(c->http_enc_enabled && c->http_enc_require_client_auth);
    ck_assert_str_eq(c->http_enc_certfile, "/etc/basalt/http.pem");
    ck_assert_str_eq(c->http_enc_keyfile, "/etc/basalt/http.key");
    ck_assert_str_eq(c->http_enc_cafile, "/etc/basalt/http-ca.pem");
}

static void check_full(const bs_config *c) {
    ck_assert_str_eq(c->cluster_name, "Prod Cluster");
    ck_assert_uint_eq(c->n_seeds, 3);
    ck_assert_str_eq(c->seeds[0], "10.0.0.1");
    ck_assert_str_eq(c->seeds[1], "10.0.0.2");
    ck_assert_str_eq(c->seeds[2], "::1");
    ck_assert_str_eq(c->dc, "eu-west");
    ck_assert_str_eq(c->rack, "r7");
    ck_assert_int_eq(c->num_tokens, 4);
    ck_assert_int_eq(c->allocate_tokens_for_local_replication_factor, 5);
    ck_assert_uint_eq(c->n_initial_tokens, 4);
    ck_assert_int_eq(c->initial_tokens[0], -9223372036854775807LL);
    ck_assert_int_eq(c->initial_tokens[1], -5);
    ck_assert_int_eq(c->initial_tokens[2], 0);
    ck_assert_int_eq(c->initial_tokens[3], 9223372036854775807LL);
    ck_assert_str_eq(c->listen_address, "10.0.0.3");
    ck_assert_str_eq(c->broadcast_address, "192.168.1.3");
    ck_assert_str_eq(c->rpc_address, "0.0.0.0");
    ck_assert_str_eq(c->broadcast_rpc_address, "2001:db8::3");
    ck_assert_int_eq(c->native_transport_port, 19042);
    ck_assert_int_eq(c->storage_port, 17000);
    ck_assert_int_eq(c->http_port, 18086);
    ck_assert_uint_eq(c->http_max_body_size, 1u << 20);
    ck_assert_int_eq(c->http_max_connections, 77);
    ck_assert_uint_eq(c->http_idle_timeout_ms, 5000);
    ck_assert_uint_eq(c->ts_bucket_ms, 3600000);
    ck_assert_int_eq(c->admin_max_connections_per_ip, 4);
    ck_assert_int_eq(c->ts_replication_factor, 3);
    ck_assert_str_eq(c->admin_address, "10.0.0.3");
    ck_assert_int_eq(c->admin_port, 17199);
    ck_assert_uint_eq(c->native_transport_max_frame_size_bytes, 32u << 20);
    ck_assert_int_eq(c->native_transport_max_concurrent_connections, 500);
    ck_assert_int_eq(c->native_transport_max_concurrent_connections_per_ip, 20);
    ck_assert_uint_eq(c->native_transport_startup_timeout_ms, 2000);
    ck_assert_uint_eq(c->native_transport_idle_timeout_ms, 300000);
    ck_assert_int_eq(c->native_transport_max_requests_per_connection, 64);
    ck_assert_uint_eq(c->native_transport_max_request_data_in_flight_bytes, 32u << 20);
    ck_assert_uint_eq(c->native_transport_frame_timeout_ms, 3000);
    ck_assert_int_eq(c->io_threads, 6);
    ck_assert_int_eq(bs_config_io_threads(c), 6);
    ck_assert_str_eq(c->data_directory, "/var/lib/basalt/data");
    ck_assert_str_eq(c->hints_directory, "/var/lib/basalt/hints");
    ck_assert_int_eq(c->commitlog_sync, BS_COMMITLOG_BATCH);
    ck_assert_uint_eq(c->commitlog_sync_period_ms, 2000);
    ck_assert_uint_eq(c->commitlog_sync_batch_window_ms, 5);
    ck_assert_uint_eq(c->storage_block_cache_size_bytes, 128u << 20);
    ck_assert_uint_eq(c->storage_memtable_size_bytes, 16u << 20);
    ck_assert(!c->storage_cache_index_and_filter_blocks);
    ck_assert(!c->hinted_handoff_enabled);
    ck_assert_uint_eq(c->max_hint_window_ms, 86400000ull);
    ck_assert_uint_eq(c->hinted_handoff_throttle_bytes, 2u << 20);
    ck_assert_str_eq(c->hinted_handoff_disabled_datacenters, "dc2,dc3");
    ck_assert(!c->cross_dc_write_forwarding);
    ck_assert_int_eq(c->internode_compression, BS_INTERNODE_COMP_NONE);
    ck_assert(!c->auto_bootstrap);
    ck_assert(!c->consistent_range_movement);
    ck_assert_uint_eq(c->stream_throughput_outbound_bytes, 8u << 20);
    ck_assert(!c->stream_ingest_sst);
    ck_assert_uint_eq(c->ring_delay_ms, 2000);
    ck_assert_uint_eq(c->internode_tcp_connect_timeout_ms, 1500);
    ck_assert_uint_eq(c->internode_tcp_user_timeout_ms, 0);
    ck_assert_str_eq(c->replace_address_first_boot, "10.0.0.9");
    ck_assert_uint_eq(c->read_request_timeout_ms, 6000);
    ck_assert_uint_eq(c->write_request_timeout_ms, 2500);
    ck_assert_uint_eq(c->range_request_timeout_ms, 60000);
    ck_assert_int_eq(c->range_concurrency_max, 4);
    ck_assert_uint_eq(c->request_timeout_ms, 11000);
    ck_assert_uint_eq(c->truncate_request_timeout_ms, 120000);
    ck_assert_str_eq(c->speculative_retry, "50ms");
    ck_assert_uint_eq(c->max_future_timestamp_ms, 2 * 3600000ull);
    ck_assert_uint_eq(c->batch_size_warn_threshold_bytes, 10 * 1024);
    ck_assert_uint_eq(c->batch_size_fail_threshold_bytes, 0);
    ck_assert_uint_eq(c->prepared_statements_cache_size_bytes, 2u << 20);
    ck_assert_uint_eq(c->max_mutation_size_bytes, 1u << 20);
    ck_assert_uint_eq(c->column_value_size_fail_threshold_bytes, 64u << 10);
    ck_assert_uint_eq(c->collection_size_fail_threshold_bytes, 32u << 10);
    ck_assert_int_eq(c->items_per_collection_fail_threshold, 100);
    ck_assert(c->phi_convict_threshold == 10.5);
    ck_assert_uint_eq(c->repair_interval_ms, 7ull * 86400000);
    ck_assert_int_eq(c->log_level, BS_LOG_DEBUG);
    ck_assert_str_eq(c->log_file, "/var/log/basalt.log");
    ck_assert_int_eq(c->clock_skew_us, -1500);
    ck_assert_str_eq(bs_config_broadcast_address(c), "192.168.1.3");
    ck_assert_str_eq(bs_config_broadcast_rpc_address(c), "2001:db8::3");
    char hb[64];
    ck_assert_str_eq(bs_config_hints_directory(c, hb, sizeof hb),
                     "/var/lib/basalt/hints");
    ck_assert_str_eq(bs_config_cluster_secret_file(c, hb, sizeof hb),
                     "/etc/basalt/cluster_secret");
    ck_assert_str_eq(bs_config_admin_token_file(c, hb, sizeof hb),
                     "/etc/basalt/admin_token");
    ck_assert_int_eq(c->authenticator % 2, 1);
    ck_assert_int_eq(c->authorizer % 2, 1);
    ck_assert_uint_eq(c->credentials_validity_ms, 5000);
    ck_assert_uint_eq(c->permissions_validity_ms, 0);
    ck_assert_str_eq(c->initial_superuser_file, "/etc/basalt/superuser");
    check_tls_full(c);
}

/* cassandra.yaml's nested option groups: the same keys as the flat
 * "group.key" form, Cassandra's PEM keystore/truststore names, and errors
 * that name the key and the line. */
START_TEST(tls_option_groups) {
    bs_config c;
    const char *nested =
        "client_encryption_options:\n"
        "  enabled: true\n"
        "  optional: true\n"
        "  keystore: /etc/basalt/node.pem\n"
        "  keyfile: /etc/basalt/node.key\n"
        "  truststore: /etc/basalt/ca.pem\n"
        "  require_client_auth: true\n"
        "server_encryption_options: {internode_encryption: dc,\n"
        "  certfile: /etc/basalt/inode.pem, keyfile: /etc/basalt/inode.key,\n"
        "  cafile: /etc/basalt/cluster-ca.pem}\n"
        "admin_encryption_options:\n"
        "  enabled: true\n"
        "  certfile: /etc/basalt/admin.pem\n"
        "  keyfile: /etc/basalt/admin.key\n"
        "  cafile: /etc/basalt/admin-ca.pem\n"
        "  require_client_auth: true\n"
        "http_encryption_options:\n"
        "  enabled: true\n"
        "  certfile: /etc/basalt/http.pem\n"
        "  keyfile: /etc/basalt/http.key\n"
        "  cafile: /etc/basalt/http-ca.pem\n"
        "  require_client_auth: true\n";
    ck_assert_msg(load(&c, nested) == 0, "%s", err);
    check_tls_full(&c);
    bs_config_free(&c);
    /* an empty group is the defaults */
    ck_assert_msg(load(&c, "client_encryption_options:\n") == 0, "%s", err);
    ck_assert(!c.client_enc_enabled);
    ck_assert_int_eq(c.internode_encryption, BS_INTERNODE_ENC_NONE);
    bs_config_free(&c);
    expect_error("client_encryption_options:\n  enabeld: true\n",
                 "t.yaml:2:3: unknown key 'client_encryption_options.enabeld'");
    expect_error("client_encryption_options:\n  a.b: true\n",
                 "t.yaml:2:3: unknown key 'a.b' in client_encryption_options");
    expect_error("client_encryption_options: true\n",
                 "t.yaml:1:28: bad value for client_encryption_options: expected a "
                 "mapping of options (enabled: true, ...)");
    expect_error("server_encryption_options:\n  internode_encryption: some\n",
                 "t.yaml:2:25: bad value 'some' for "
                 "server_encryption_options.internode_encryption: expected one of "
                 "none, all, dc, rack");
    expect_error("client_encryption_options:\n  enabled: true\n"
                 "client_encryption_options.enabled: false\n",
                 "t.yaml:3:1: duplicate key 'client_encryption_options.enabled' (first set "
                 "at line 2)");
    expect_error("client_encryption_options: {enabled: true}\n",
                 "t.yaml:1:29: client_encryption_options: TLS is enabled but certfile is "
                 "not set");
    expect_error("server_encryption_options: {internode_encryption: all, certfile: a}\n",
                 "t.yaml:1:29: server_encryption_options: verifying peer certificates "
                 "needs cafile (the CA that signs them)");
}
END_TEST

START_TEST(full_file_every_key) {
    bs_config c;
    ck_assert_msg(load(&c, full_yaml) == 0, "%s", err);
    check_full(&c);
    /* The test file really covers every key of the table. */
    for (size_t i = 0; i < bs_config_key_count(); i++) {
        char pat[128];
        snprintf(pat, sizeof pat, "\n%s:", bs_config_key_name(i));
        ck_assert_msg(strstr(full_yaml, pat), "key %s not in full_yaml", pat);
    }
    bs_config d;
    bs_config_init(&d);
    ck_assert(!bs_config_equal(&c, &d));
    bs_config_free(&d);
    bs_config_free(&c);
}
END_TEST

START_TEST(empty_and_comment_only_files) {
    bs_config c, d;
    bs_config_init(&d);
    ck_assert_int_eq(load(&c, ""), 0);
    ck_assert(bs_config_equal(&c, &d));
    bs_config_free(&c);
    ck_assert_int_eq(load(&c, "# nothing\n\n# here\n"), 0);
    ck_assert(bs_config_equal(&c, &d));
    bs_config_free(&c);
    ck_assert_int_eq(load(&c, "---\n...\n"), 0);
    ck_assert(bs_config_equal(&c, &d));
    bs_config_free(&c);
    bs_config_free(&d);
}
END_TEST

START_TEST(unknown_key_names_key_and_line) {
    expect_error("cluster_name: x\n"
                 "num_tokens: 8\n"
                 "num_tokenz: 8\n",
                 "t.yaml:3:1: unknown key 'num_tokenz'");
    /* indented flow mapping: the column points at the key */
    expect_error("{cluster_name: x, bogus: 1}\n",
                 "t.yaml:1:19: unknown key 'bogus'");
    /* dashes are for flags only */
    expect_error("\n\nnum-tokens: 8\n", "t.yaml:3:1: unknown key 'num-tokens'");
    /* an unknown key inside seed_provider */
    expect_error("seed_provider:\n"
                 "  - class_name: org.apache.cassandra.locator."
                 "SimpleSeedProvider\n"
                 "    parameters:\n"
                 "      - seeds: \"127.0.0.1\"\n"
                 "        seedz: \"127.0.0.2\"\n",
                 "t.yaml:5:9: unknown key 'seedz' in seed_provider "
                 "parameters");
    /* control bytes in a key are escaped in the message */
    expect_error("\"a\\tb\": 1\n", "t.yaml:1:1: unknown key 'a\\x09b'");
}
END_TEST

START_TEST(bad_values_each_type) {
    /* int */
    expect_error("cluster_name: x\nnum_tokens: abc\n",
                 "t.yaml:2:13: bad value 'abc' for num_tokens: expected an "
                 "integer 1..1024");
    expect_error("num_tokens: 0\n",
                 "t.yaml:1:13: bad value '0' for num_tokens: expected an "
                 "integer 1..1024");
    expect_error("num_tokens: 1025\n",
                 "t.yaml:1:13: bad value '1025' for num_tokens: expected an "
                 "integer 1..1024");
    expect_error("storage_port: 99999999999999999999999\n",
                 "t.yaml:1:15: bad value '99999999999999999999999' for "
                 "storage_port: expected an integer 1..65535");
    expect_error("native_transport_port: 9042.5\n",
                 "t.yaml:1:24: bad value '9042.5' for native_transport_port: "
                 "expected an integer 1..65535");
    /* bool */
    expect_error("hinted_handoff_enabled: maybe\n",
                 "t.yaml:1:25: bad value 'maybe' for hinted_handoff_enabled: "
                 "expected true or false");
    /* double */
    expect_error("phi_convict_threshold: nan\n",
                 "t.yaml:1:24: bad value 'nan' for phi_convict_threshold: "
                 "expected a number 1..100");
    expect_error("phi_convict_threshold: 0.5\n",
                 "t.yaml:1:24: bad value '0.5' for phi_convict_threshold: "
                 "expected a number 1..100");
    /* duration: no unit, bad unit, out of range */
    expect_error("read_request_timeout: 5000\n",
                 "t.yaml:1:23: bad value '5000' for read_request_timeout: "
                 "expected a duration 1ms..1d with a unit (ms, s, m, h, d), "
                 "e.g. 500ms, 10s, 3h");
    expect_error_prefix("max_hint_window: 3 hours\n",
                        "t.yaml:1:18: bad value '3 hours' for "
                        "max_hint_window: expected a duration 0ms..30d");
    expect_error_prefix("max_hint_window: 31d\n",
                        "t.yaml:1:18: bad value '31d' for max_hint_window: ");
    expect_error_prefix("commitlog_sync_period: 0ms\n",
                        "t.yaml:1:24: bad value '0ms' for "
                        "commitlog_sync_period: expected a duration 1ms..1h");
    /* size */
    expect_error("native_transport_max_frame_size: 16MB\n",
                 "t.yaml:1:34: bad value '16MB' for "
                 "native_transport_max_frame_size: expected a size 1KiB..256MiB"
                 " with a unit (B, KiB, MiB, GiB), e.g. 16MiB");
    expect_error_prefix("native_transport_max_frame_size: 1GiB\n",
                        "t.yaml:1:34: bad value '1GiB' for "
                        "native_transport_max_frame_size");
    /* enum */
    expect_error("commitlog_sync: group\n",
                 "t.yaml:1:17: bad value 'group' for commitlog_sync: expected "
                 "one of periodic, batch");
    expect_error("log_level: loud\n",
                 "t.yaml:1:12: bad value 'loud' for log_level: expected one of "
                 "trace, debug, info, warn, error, off");
    /* address */
    expect_error("listen_address: 10.0.0.256\n",
                 "t.yaml:1:17: bad value '10.0.0.256' for listen_address: "
                 "expected an IPv4 or IPv6 address");
    expect_error("rpc_address: localhost\n",
                 "t.yaml:1:14: bad value 'localhost' for rpc_address: expected "
                 "an IPv4 or IPv6 address");
    expect_error("listen_address: ''\n",
                 "t.yaml:1:17: bad value '' for listen_address: expected an "
                 "IPv4 or IPv6 address");
    expect_error("broadcast_address: 1.2.3\n",
                 "t.yaml:1:20: bad value '1.2.3' for broadcast_address: "
                 "expected an IPv4 or IPv6 address or empty");
    /* address list */
    expect_error("seeds: \"127.0.0.1,,127.0.0.2\"\n",
                 "t.yaml:1:8: bad value '127.0.0.1,,127.0.0.2' for seeds: "
                 "expected a comma-separated list of 1..64 IPv4 or IPv6 "
                 "addresses");
    expect_error_prefix("seeds: \"127.0.0.1,node2\"\n",
                        "t.yaml:1:8: bad value '127.0.0.1,node2' for seeds: ");
    expect_error_prefix("seeds:\n  - 127.0.0.1\n  - [1, 2]\n",
                        "t.yaml:3:5: bad value for seeds: list items must be "
                        "plain values");
    /* token list */
    expect_error("num_tokens: 2\ninitial_token: 1,x\n",
                 "t.yaml:2:16: bad value '1,x' for initial_token: expected a "
                 "comma-separated list of at most 1024 64-bit integer tokens");
    expect_error_prefix("initial_token: 9223372036854775808\n",
                        "t.yaml:1:16: bad value '9223372036854775808' for "
                        "initial_token");
    /* string */
    expect_error("cluster_name: \"\"\n",
                 "t.yaml:1:15: bad value '' for cluster_name: expected "
                 "non-empty text (valid UTF-8, no control characters)");
    expect_error("dc: \"a\\nb\"\n",
                 "t.yaml:1:5: bad value 'a\\x0ab' for dc: expected non-empty "
                 "text (valid UTF-8, no control characters)");
    /* speculative retry */
    expect_error("speculative_retry: 100p\n",
                 "t.yaml:1:20: bad value '100p' for speculative_retry: "
                 "expected NONE, ALWAYS, a percentile such as 99p or a delay "
                 "such as 50ms");
    /* a mapping where a value belongs */
    expect_error("num_tokens: {a: 1}\n",
                 "t.yaml:1:13: bad value for num_tokens: a mapping is not "
                 "allowed here; expected an integer 1..1024");
    expect_error("cluster_name: [a, b]\n",
                 "t.yaml:1:15: bad value for cluster_name: a list is not "
                 "allowed here; expected non-empty text (valid UTF-8, no "
                 "control characters)");
    /* long values are cut in the message */
    char big[400];
    strcpy(big, "dc: ");
    memset(big + 4, 'x', 300);
    big[304] = '\0';
    strcat(big, "\n");
    bs_config c;
    ck_assert_int_eq(load(&c, big), 0); /* long but valid */
    bs_config_free(&c);
    big[4] = '\x01';
    ck_assert_int_eq(load(&c, big), BS_ECONFIG);
    ck_assert_uint_lt(strlen(err), 300);
    bs_config_free(&c);
}
END_TEST

START_TEST(accepted_value_spellings) {
    bs_config c;
    ck_assert_msg(load(&c, "hinted_handoff_enabled: no\n"
                           "commitlog_sync: BATCH\n"
                           "log_level: warning\n"
                           "speculative_retry: 99.9PERCENTILE\n"
                           "phi_convict_threshold: 1e1\n"
                           "repair_interval: 0\n"
                           "hinted_handoff_throttle: 0\n"
                           "max_hint_window: 90m\n"
                           "native_transport_max_frame_size: 1024KiB\n"
                           "num_tokens: +8\n") == 0,
                  "%s", err);
    ck_assert(!c.hinted_handoff_enabled);
    ck_assert_int_eq(c.commitlog_sync, BS_COMMITLOG_BATCH);
    ck_assert_int_eq(c.log_level, BS_LOG_WARN);
    ck_assert_str_eq(c.speculative_retry, "99.9PERCENTILE");
    ck_assert(c.phi_convict_threshold == 10.0);
    ck_assert_uint_eq(c.repair_interval_ms, 0);
    ck_assert_uint_eq(c.hinted_handoff_throttle_bytes, 0);
    ck_assert_uint_eq(c.max_hint_window_ms, 90ull * 60 * 1000);
    ck_assert_uint_eq(c.native_transport_max_frame_size_bytes, 1u << 20);
    ck_assert_int_eq(c.num_tokens, 8);
    bs_config_free(&c);
    const char *sr[] = {"NONE", "always", "50p", "0ms", "99.99p"};
    for (size_t i = 0; i < 5; i++) {
        char y[64];
        snprintf(y, sizeof y, "speculative_retry: %s\n", sr[i]);
        ck_assert_msg(load(&c, y) == 0, "%s: %s", sr[i], err);
        ck_assert_str_eq(c.speculative_retry, sr[i]);
        bs_config_free(&c);
    }
}
END_TEST

START_TEST(null_value_resets_default) {
    bs_config c;
    bs_config_init(&c);
    char e[256];
    ck_assert_int_eq(bs_config_set(&c, "num_tokens", "8", e, sizeof e), 0);
    ck_assert_int_eq(bs_config_set(&c, "dc", "east", e, sizeof e), 0);
    const char *y = "num_tokens:\ndc: ~\nbroadcast_address: null\n";
    ck_assert_int_eq(
        bs_config_load_string(y, strlen(y), "t.yaml", &c, e, sizeof e), 0);
    ck_assert_int_eq(c.num_tokens, 16);
    ck_assert_str_eq(c.dc, "dc1");
    ck_assert_str_eq(c.broadcast_address, "");
    bs_config_free(&c);
    /* but a quoted "null" is the text null */
    ck_assert_int_eq(load(&c, "cluster_name: \"null\"\n"), 0);
    ck_assert_str_eq(c.cluster_name, "null");
    bs_config_free(&c);
}
END_TEST

START_TEST(yaml_syntax_errors_have_line_and_column) {
    expect_error_prefix("cluster_name: x\nseeds: [127.0.0.1\n",
                        "t.yaml:3:1: YAML syntax error: did not find expected "
                        "',' or ']' while parsing a flow sequence (line 2)");
    expect_error_prefix("a: b\n  c: d\n",
                        "t.yaml:2:4: YAML syntax error: mapping values are not "
                        "allowed in this context");
    expect_error_prefix("cluster_name: 'unterminated\n",
                        "t.yaml:2:1: YAML syntax error: found unexpected end "
                        "of stream while scanning a quoted scalar (line 1)");
    expect_error_prefix("num_tokens: 4\n\tdc: x\n",
                        "t.yaml:2:1: YAML syntax error: found a tab character "
                        "that violates indentation");
    /* invalid UTF-8 is a reader error: line and column are computed */
    expect_error_prefix("dc: x\ncluster_name: ab\xff\n",
                        "t.yaml:2:17: YAML syntax error: invalid leading "
                        "UTF-8 octet");
    /* top level must be a mapping; one document only */
    expect_error("- a\n- b\n", "t.yaml:1:1: expected a mapping of 'key: "
                               "value' lines at the top level");
    expect_error("num_tokens: 4\n---\nnum_tokens: 5\n",
                 "t.yaml:3:1: only one YAML document is allowed");
    expect_error("[a]: 1\n", "t.yaml:1:1: keys must be plain names, not a "
                             "list");
}
END_TEST

START_TEST(duplicate_and_conflicting_keys) {
    expect_error("num_tokens: 4\ndc: a\nnum_tokens: 5\n",
                 "t.yaml:3:1: duplicate key 'num_tokens' (first set at line "
                 "1)");
    expect_error("max_hint_window: 1h\nmax_hint_window_in_ms: 1000\n",
                 "t.yaml:2:1: key 'max_hint_window_in_ms' conflicts with "
                 "'max_hint_window' at line 1 (both set max_hint_window)");
    expect_error_prefix("seeds: 127.0.0.1\nseed_provider:\n"
                        "  - parameters: [{seeds: 127.0.0.2}]\n",
                        "t.yaml:2:1: key 'seed_provider' conflicts with "
                        "'seeds'");
}
END_TEST

START_TEST(legacy_aliases) {
    bs_config c;
    ck_assert_msg(load(&c, "commitlog_sync_period_in_ms: 1500\n"
                           "commitlog_sync_batch_window_in_ms: 3\n"
                           "max_hint_window_in_ms: 10800000\n"
                           "hinted_handoff_throttle_in_kb: 512\n"
                           "read_request_timeout_in_ms: 4000\n"
                           "internode_tcp_connect_timeout_in_ms: 3000\n"
                           "internode_tcp_user_timeout_in_ms: 30000\n"
                           "write_request_timeout_in_ms: 1000\n"
                           "range_request_timeout_in_ms: 9000\n"
                           "request_timeout_in_ms: 8000\n"
                           "truncate_request_timeout_in_ms: 30000\n"
                           "native_transport_max_frame_size_in_mb: 64\n"
                           "data_file_directories:\n"
                           "    - /srv/basalt\n") == 0,
                  "%s", err);
    ck_assert_uint_eq(c.commitlog_sync_period_ms, 1500);
    ck_assert_uint_eq(c.commitlog_sync_batch_window_ms, 3);
    ck_assert_uint_eq(c.max_hint_window_ms, 10800000);
    ck_assert_uint_eq(c.hinted_handoff_throttle_bytes, 512 * 1024);
    ck_assert_uint_eq(c.read_request_timeout_ms, 4000);
    ck_assert_uint_eq(c.internode_tcp_connect_timeout_ms, 3000);
    ck_assert_uint_eq(c.internode_tcp_user_timeout_ms, 30000);
    ck_assert_uint_eq(c.write_request_timeout_ms, 1000);
    ck_assert_uint_eq(c.range_request_timeout_ms, 9000);
    ck_assert_uint_eq(c.request_timeout_ms, 8000);
    ck_assert_uint_eq(c.truncate_request_timeout_ms, 30000);
    ck_assert_uint_eq(c.native_transport_max_frame_size_bytes, 64u << 20);
    ck_assert_str_eq(c.data_directory, "/srv/basalt");
    bs_config_free(&c);

    expect_error("read_request_timeout_in_ms: 5s\n",
                 "t.yaml:1:29: bad value '5s' for read_request_timeout_in_ms: "
                 "expected an integer number of milliseconds 1..86400000");
    expect_error("native_transport_max_frame_size_in_mb: 512\n",
                 "t.yaml:1:40: bad value '512' for "
                 "native_transport_max_frame_size_in_mb: expected an integer "
                 "number of MiB 1..256");
    expect_error("data_file_directories: [/a, /b]\n",
                 "t.yaml:1:24: bad value for data_file_directories: Basalt "
                 "keeps one data directory; expected a list of exactly one "
                 "path");
    /* a plain string is accepted for data_file_directories too */
    ck_assert_int_eq(load(&c, "data_file_directories: /x\n"), 0);
    ck_assert_str_eq(c.data_directory, "/x");
    bs_config_free(&c);
}
END_TEST

START_TEST(seeds_all_shapes) {
    bs_config c;
    /* simple string */
    ck_assert_int_eq(load(&c, "seeds: \"127.0.0.1,127.0.0.2\"\n"), 0);
    ck_assert_uint_eq(c.n_seeds, 2);
    ck_assert_str_eq(c.seeds[0], "127.0.0.1");
    ck_assert_str_eq(c.seeds[1], "127.0.0.2");
    bs_config_free(&c);
    /* YAML list */
    ck_assert_int_eq(load(&c, "seeds:\n  - 127.0.0.3\n  - \"::1\"\n"), 0);
    ck_assert_uint_eq(c.n_seeds, 2);
    ck_assert_str_eq(c.seeds[0], "127.0.0.3");
    ck_assert_str_eq(c.seeds[1], "::1");
    bs_config_free(&c);
    /* cassandra.yaml's seed_provider */
    ck_assert_msg(load(&c,
                       "seed_provider:\n"
                       "  - class_name: org.apache.cassandra.locator."
                       "SimpleSeedProvider\n"
                       "    parameters:\n"
                       "      - seeds: \"10.1.0.1,10.1.0.2,10.1.0.3\"\n") == 0,
                  "%s", err);
    ck_assert_uint_eq(c.n_seeds, 3);
    ck_assert_str_eq(c.seeds[0], "10.1.0.1");
    ck_assert_str_eq(c.seeds[2], "10.1.0.3");
    bs_config_free(&c);
    /* seed_provider without class_name, seeds as a list */
    ck_assert_int_eq(load(&c, "seed_provider: [{parameters: [{seeds: "
                              "[10.2.0.1, 10.2.0.2]}]}]\n"),
                     0);
    ck_assert_uint_eq(c.n_seeds, 2);
    ck_assert_str_eq(c.seeds[1], "10.2.0.2");
    bs_config_free(&c);
    /* errors in seed_provider */
    expect_error("seed_provider:\n"
                 "  - class_name: com.example.CloudSeedProvider\n"
                 "    parameters: [{seeds: 10.0.0.1}]\n",
                 "t.yaml:2:17: bad value 'com.example.CloudSeedProvider' for "
                 "seed_provider class_name: only SimpleSeedProvider is "
                 "supported");
    expect_error("seed_provider:\n"
                 "  - class_name: SimpleSeedProvider\n"
                 "    parameters:\n"
                 "      - seeds: \"10.0.0.1,bad\"\n",
                 "t.yaml:4:16: bad value '10.0.0.1,bad' for seeds: expected a "
                 "comma-separated list of 1..64 IPv4 or IPv6 addresses");
    expect_error_prefix("seed_provider: 10.0.0.1\n",
                        "t.yaml:1:16: bad value for seed_provider: expected a "
                        "list of one provider");
    expect_error_prefix("seed_provider: [{class_name: SimpleSeedProvider}]\n",
                        "t.yaml:1:17: bad value for seed_provider: parameters "
                        "must be a list of one mapping");
    expect_error("seed_provider: [{parameters: [{}]}]\n",
                 "t.yaml:1:31: seed_provider parameters need a seeds entry");
    /* more seeds than allowed */
    bs_buf b = BS_BUF_INIT;
    bs_buf_append_str(&b, "seeds: \"");
    for (int i = 0; i < BS_CONFIG_MAX_SEEDS + 1; i++)
        bs_buf_appendf(&b, "%s10.0.%d.%d", i ? "," : "", i / 200, i % 200);
    bs_buf_append_str(&b, "\"\n");
    bs_buf_append_u8(&b, 0);
    ck_assert_int_eq(load(&c, (const char *)b.data), BS_ECONFIG);
    ck_assert_msg(strstr(err, "for seeds: expected a comma-separated list of "
                              "1..64"),
                  "%s", err);
    bs_config_free(&c);
    bs_buf_free(&b);
}
END_TEST

START_TEST(cross_field_validation) {
    /* two ports on one address: the later key's line is named */
    expect_error("native_transport_port: 9050\n"
                 "http_port: 9050\n",
                 "t.yaml:2:1: http_port 9050 conflicts with "
                 "native_transport_port 9050: both listen on 127.0.0.1 "
                 "(rpc_address) and 127.0.0.1 (rpc_address)");
    /* same port on different addresses is fine... */
    bs_config c;
    ck_assert_msg(load(&c, "listen_address: 127.0.0.2\n"
                           "rpc_address: 127.0.0.3\n"
                           "storage_port: 9042\n") == 0,
                  "%s", err);
    bs_config_free(&c);
    /* ...unless one of them is a wildcard */
    expect_error("rpc_address: 0.0.0.0\n"
                 "broadcast_rpc_address: 10.0.0.1\n"
                 "listen_address: 127.0.0.2\n"
                 "storage_port: 9042\n",
                 "t.yaml:4:1: storage_port 9042 conflicts with "
                 "native_transport_port 9042: both listen on 127.0.0.2 "
                 "(listen_address) and 0.0.0.0 (rpc_address)");
    /* IPv4 and its v4-mapped IPv6 form are the same address */
    expect_error_prefix("admin_address: \"::ffff:127.0.0.1\"\n"
                        "admin_port: 7000\n",
                        "t.yaml:2:1: admin_port 7000 conflicts with "
                        "storage_port 7000");
    expect_error("listen_address: 0.0.0.0\n",
                 "t.yaml:1:1: listen_address cannot be a wildcard address "
                 "(0.0.0.0)");
    expect_error("\nrpc_address: \"::\"\n",
                 "t.yaml:2:1: rpc_address :: is a wildcard address: set "
                 "broadcast_rpc_address to the address drivers should use");
    expect_error("num_tokens: 3\ninitial_token: 1,2\n",
                 "t.yaml:2:1: initial_token lists 2 tokens but num_tokens is "
                 "3");
    expect_error("num_tokens: 3\ninitial_token: 1,2,1\n",
                 "t.yaml:2:1: initial_token lists token 1 twice");
    expect_error("num_tokens: 2\ninitial_token: 5,-9223372036854775808\n",
                 "t.yaml:2:1: initial_token lists -9223372036854775808, the "
                 "minimum token, which no node may own (use "
                 "-9223372036854775807)");
    expect_error("authorizer: CassandraAuthorizer\n",
                 "t.yaml:1:1: CassandraAuthorizer needs authenticator: "
                 "PasswordAuthenticator");
    /* a cross-field error not tied to a key set in this file */
    bs_config_init(&c);
    char e[512];
    ck_assert_int_eq(bs_config_set(&c, "http_port", "9042", e, sizeof e), 0);
    const char *y = "dc: x\n";
    ck_assert_int_eq(
        bs_config_load_string(y, strlen(y), "t.yaml", &c, e, sizeof e),
        BS_ECONFIG);
    ck_assert_str_eq(e, "t.yaml: http_port 9042 conflicts with "
                        "native_transport_port 9042: both listen on 127.0.0.1 "
                        "(rpc_address) and 127.0.0.1 (rpc_address)");
    ck_assert_int_eq(bs_config_validate(&c, e, sizeof e), BS_ECONFIG);
    bs_config_free(&c);
}
END_TEST

START_TEST(error_leaves_config_unchanged) {
    bs_config c, before;
    ck_assert_int_eq(load(&c, full_yaml), 0);
    ck_assert_int_eq(bs_config_copy(&before, &c), 0);
    ck_assert(bs_config_equal(&c, &before));
    const char *y = "num_tokens: 8\ndc: changed\nlog_level: nope\n";
    ck_assert_int_eq(
        bs_config_load_string(y, strlen(y), "t.yaml", &c, err, sizeof err),
        BS_ECONFIG);
    ck_assert(bs_config_equal(&c, &before));
    char *argv[] = {"basaltd", "--dc", "x", "--num-tokens", "0", NULL};
    ck_assert_int_eq(bs_config_apply_args(&c, 5, argv, err, sizeof err),
                     BS_ECONFIG);
    ck_assert(bs_config_equal(&c, &before));
    check_full(&c);
    bs_config_free(&before);
    bs_config_free(&c);
}
END_TEST

START_TEST(flags_both_forms) {
    bs_config c;
    bs_config_init(&c);
    char *argv[] = {"basaltd",
                    "--num-tokens=8",
                    "--cluster_name",
                    "Flag Cluster",
                    "--seeds",
                    "10.0.0.1,10.0.0.2",
                    "--hinted-handoff-enabled=false",
                    "--max-hint-window-in-ms",
                    "60000",
                    "--read_request_timeout=1s",
                    "--broadcast-address=",
                    "--data-file-directories",
                    "/flag/data",
                    "--initial-token=1,2,3,4,5,6,7,8",
                    NULL};
    int argc = 14;
    ck_assert_msg(bs_config_apply_args(&c, argc, argv, err, sizeof err) == 0,
                  "%s", err);
    ck_assert_int_eq(c.num_tokens, 8);
    ck_assert_str_eq(c.cluster_name, "Flag Cluster");
    ck_assert_uint_eq(c.n_seeds, 2);
    ck_assert_str_eq(c.seeds[1], "10.0.0.2");
    ck_assert(!c.hinted_handoff_enabled);
    ck_assert_uint_eq(c.max_hint_window_ms, 60000);
    ck_assert_uint_eq(c.read_request_timeout_ms, 1000);
    ck_assert_str_eq(c.broadcast_address, "");
    ck_assert_str_eq(c.data_directory, "/flag/data");
    ck_assert_uint_eq(c.n_initial_tokens, 8);
    ck_assert_int_eq(c.initial_tokens[7], 8);
    bs_config_free(&c);
}
END_TEST

START_TEST(flag_errors) {
    bs_config c;
    bs_config_init(&c);
    char *a1[] = {"basaltd", "--num-tokens", "abc"};
    ck_assert_int_eq(bs_config_apply_args(&c, 3, a1, err, sizeof err),
                     BS_ECONFIG);
    ck_assert_str_eq(err, "--num-tokens: bad value 'abc' for num_tokens: "
                          "expected an integer 1..1024");
    char *a2[] = {"basaltd", "--num-tokenz=3"};
    ck_assert_int_eq(bs_config_apply_args(&c, 2, a2, err, sizeof err),
                     BS_ECONFIG);
    ck_assert_str_eq(err, "unknown option '--num-tokenz' (see --help)");
    char *a3[] = {"basaltd", "--dc"};
    ck_assert_int_eq(bs_config_apply_args(&c, 2, a3, err, sizeof err),
                     BS_ECONFIG);
    ck_assert_str_eq(err, "--dc: missing value");
    char *a4[] = {"basaltd", "stray"};
    ck_assert_int_eq(bs_config_apply_args(&c, 2, a4, err, sizeof err),
                     BS_ECONFIG);
    ck_assert_str_eq(err, "unexpected argument 'stray' (options are "
                          "--key=value or --key value; see --help)");
    char *a5[] = {"basaltd", "--seed-provider=x"};
    ck_assert_int_eq(bs_config_apply_args(&c, 2, a5, err, sizeof err),
                     BS_ECONFIG);
    ck_assert_str_eq(err, "--seed-provider: seed_provider cannot be set from "
                          "the command line; use --seeds");
    char *a6[] = {"basaltd", "--http-port=9042"};
    ck_assert_int_eq(bs_config_apply_args(&c, 2, a6, err, sizeof err),
                     BS_ECONFIG);
    ck_assert_str_eq(err, "http_port 9042 conflicts with native_transport_port "
                          "9042: both listen on 127.0.0.1 (rpc_address) and "
                          "127.0.0.1 (rpc_address)");
    char *a7[] = {"basaltd", "--bogus"};
    ck_assert_int_eq(bs_config_apply_args(&c, 2, a7, err, sizeof err),
                     BS_ECONFIG);
    ck_assert_str_eq(err, "unknown option '--bogus' (see --help)");
    char *a8[] = {"basaltd", "-f"};
    ck_assert_int_eq(bs_config_apply_args(&c, 2, a8, err, sizeof err),
                     BS_ECONFIG);
    ck_assert_str_eq(err, "-f: missing file name");
    /* nothing above changed the config */
    bs_config d;
    bs_config_init(&d);
    ck_assert(bs_config_equal(&c, &d));
    bs_config_free(&d);
    bs_config_free(&c);
}
END_TEST

START_TEST(flags_override_file) {
    char *path = write_temp("cluster_name: FileCluster\n"
                            "num_tokens: 4\n"
                            "native_transport_port: 9142\n"
                            "http_port: 9143\n"
                            "dc: file-dc\n");
    bs_config c;
    bs_config_init(&c);
    /* flags before and after -f: flags always win over the file */
    char *argv[] = {"basaltd", "--num-tokens", "32",     "-f",
                    path,      "--dc=flag-dc", "--help", NULL};
    ck_assert(bs_config_args_want_help(7, argv));
    const char *p;
    ck_assert_int_eq(bs_config_args_config_path(7, argv, &p, err, sizeof err),
                     0);
    ck_assert_str_eq(p, path);
    ck_assert_msg(bs_config_load_command_line(&c, 7, argv, err, sizeof err) ==
                      0,
                  "%s", err);
    ck_assert_str_eq(c.cluster_name, "FileCluster");
    ck_assert_int_eq(c.num_tokens, 32);
    ck_assert_str_eq(c.dc, "flag-dc");
    ck_assert_int_eq(c.native_transport_port, 9142);
    ck_assert_int_eq(c.http_port, 9143);
    bs_config_free(&c);

    /* a conflict in the file that a flag resolves is not an error */
    char *path2 = write_temp("http_port: 9042\n");
    char cfgflag[300];
    snprintf(cfgflag, sizeof cfgflag, "--config=%s", path2);
    char *argv2[] = {"basaltd", cfgflag, "--http-port", "8087", NULL};
    ck_assert(!bs_config_args_want_help(4, argv2));
    bs_config_init(&c);
    ck_assert_msg(bs_config_load_command_line(&c, 4, argv2, err, sizeof err) ==
                      0,
                  "%s", err);
    ck_assert_int_eq(c.http_port, 8087);
    bs_config_free(&c);
    /* ...and one that no flag resolves names the file and line */
    char *argv3[] = {"basaltd", "--config", path2, NULL};
    bs_config_init(&c);
    ck_assert_int_eq(bs_config_load_command_line(&c, 3, argv3, err, sizeof err),
                     BS_ECONFIG);
    char want[512];
    snprintf(want, sizeof want,
             "%s:1:1: http_port 9042 conflicts with "
             "native_transport_port 9042: both listen on 127.0.0.1 "
             "(rpc_address) and 127.0.0.1 (rpc_address)",
             path2);
    ck_assert_str_eq(err, want);
    bs_config_free(&c);

    /* bs_config_load_file directly, and a missing file */
    bs_config_init(&c);
    ck_assert_int_eq(bs_config_load_file(path, &c, err, sizeof err), 0);
    ck_assert_int_eq(c.num_tokens, 4);
    ck_assert_int_eq(
        bs_config_load_file("/nonexistent/basalt.yaml", &c, err, sizeof err),
        BS_EIO);
    ck_assert_str_eq(err, "/nonexistent/basalt.yaml: cannot open: No such "
                          "file or directory");
    ck_assert_int_eq(c.num_tokens, 4);
    bs_config_free(&c);
    unlink(path);
    unlink(path2);
    free(path);
    free(path2);
}
END_TEST

START_TEST(set_from_code) {
    bs_config c;
    bs_config_init(&c);
    char e[256];
    ck_assert_int_eq(bs_config_set(&c, "log-level", "error", e, sizeof e), 0);
    ck_assert_int_eq(c.log_level, BS_LOG_ERROR);
    ck_assert_int_eq(bs_config_set(&c, "io_threads", "-1", e, sizeof e),
                     BS_ECONFIG);
    ck_assert_str_eq(e, "io_threads: bad value '-1' for io_threads: expected "
                        "an integer 0..1024");
    ck_assert_int_eq(bs_config_set(&c, "nope", "1", e, sizeof e), BS_ECONFIG);
    /* strings from argv are checked for UTF-8 too */
    ck_assert_int_eq(bs_config_set(&c, "dc", "a\xc3(", e, sizeof e),
                     BS_ECONFIG);
    ck_assert_str_eq(c.dc, "dc1");
    bs_config_free(&c);
}
END_TEST

static void roundtrip(const bs_config *c) {
    bs_buf b = BS_BUF_INIT;
    ck_assert_int_eq(bs_config_dump(c, &b), 0);
    bs_config d;
    bs_config_init(&d);
    char e[512];
    int rc = bs_config_load_string((const char *)b.data, b.len, "dump", &d, e,
                                   sizeof e);
    ck_assert_msg(rc == 0, "%s\n%.*s", e, (int)b.len, (const char *)b.data);
    ck_assert_msg(bs_config_equal(c, &d), "%.*s", (int)b.len,
                  (const char *)b.data);
    /* every key is in the dump under its primary name */
    for (size_t i = 0; i < bs_config_key_count(); i++) {
        char pat[128];
        snprintf(pat, sizeof pat, "\n%s: ", bs_config_key_name(i));
        ck_assert_msg(memmem(b.data, b.len, pat, strlen(pat)), "%s", pat);
    }
    bs_config_free(&d);
    bs_buf_free(&b);
}

START_TEST(dump_load_roundtrip) {
    bs_config c;
    bs_config_init(&c);
    roundtrip(&c);
    bs_buf b = BS_BUF_INIT;
    ck_assert_int_eq(bs_config_dump(&c, &b), 0);
    ck_assert_int_eq(bs_buf_append_u8(&b, 0), 0);
    const char *t = (const char *)b.data;
    ck_assert_ptr_nonnull(strstr(t, "\ncluster_name: \"Test Cluster\"\n"));
    ck_assert_ptr_nonnull(strstr(t, "\nnum_tokens: 16\n"));
    ck_assert_ptr_nonnull(strstr(t, "\nmax_hint_window: 3h\n"));
    ck_assert_ptr_nonnull(strstr(t, "\nread_request_timeout: 5s\n"));
    ck_assert_ptr_nonnull(strstr(t, "\nnative_transport_max_frame_size: "
                                    "16MiB\n"));
    ck_assert_ptr_nonnull(strstr(t, "\nhinted_handoff_throttle: 1MiB\n"));
    ck_assert_ptr_nonnull(strstr(t, "\nbroadcast_address: \"\"\n"));
    ck_assert_ptr_nonnull(strstr(t, "\nphi_convict_threshold: 8\n"));
    bs_buf_free(&b);
    bs_config_free(&c);

    ck_assert_int_eq(load(&c, full_yaml), 0);
    roundtrip(&c);
    bs_config_free(&c);

    /* awkward strings: quotes, backslashes, unicode, YAML keywords */
    bs_config_init(&c);
    char e[256];
    ck_assert_int_eq(
        bs_config_set(&c, "cluster_name", "it's \"q\" \\ #x: y", e, sizeof e),
        0);
    ck_assert_int_eq(bs_config_set(&c, "dc", "null", e, sizeof e), 0);
    ck_assert_int_eq(bs_config_set(&c, "rack", "räck-☃", e, sizeof e), 0);
    ck_assert_int_eq(bs_config_set(&c, "log_file", "- [x]", e, sizeof e), 0);
    ck_assert_int_eq(
        bs_config_set(&c, "phi_convict_threshold", "3.3", e, sizeof e), 0);
    ck_assert_int_eq(
        bs_config_set(&c, "commitlog_sync_batch_window", "0ms", e, sizeof e),
        0);
    roundtrip(&c);
    bs_config_free(&c);
}
END_TEST

START_TEST(help_lists_every_key) {
    bs_buf b = BS_BUF_INIT;
    ck_assert_int_eq(bs_config_help("basaltd", &b), 0);
    ck_assert_int_eq(bs_buf_append_u8(&b, 0), 0);
    const char *t = (const char *)b.data;
    ck_assert_ptr_nonnull(strstr(t, "Usage: basaltd [-f FILE]"));
    for (size_t i = 0; i < bs_config_key_count(); i++) {
        char flag[128];
        snprintf(flag, sizeof flag, "  --%s ", bs_config_key_name(i));
        for (char *p = flag + 4; *p; p++)
            if (*p == '_') *p = '-';
        ck_assert_msg(strstr(t, flag), "%s missing from help", flag);
    }
    ck_assert_ptr_nonnull(strstr(t, "  --num-tokens INT  (default: 16)\n"));
    ck_assert_ptr_nonnull(strstr(t, "  --max-hint-window DURATION  (default: "
                                    "3h)\n"));
    ck_assert_ptr_nonnull(strstr(t, "  --cluster-name TEXT  (default: Test "
                                    "Cluster)\n"));
    ck_assert_ptr_nonnull(strstr(t, "  max_hint_window_in_ms -> "
                                    "max_hint_window\n"));
    bs_buf_free(&b);
}
END_TEST

START_TEST(example_config_and_docs_match_table) {
    char root[1024], path[1200];
    source_root(root, sizeof root);

    /* conf/basalt.yaml loads, equals the defaults, mentions every key */
    snprintf(path, sizeof path, "%sconf/basalt.yaml", root);
    bs_config c, d;
    bs_config_init(&c);
    bs_config_init(&d);
    ck_assert_msg(bs_config_load_file(path, &c, err, sizeof err) == 0, "%s",
                  err);
    ck_assert_msg(bs_config_equal(&c, &d),
                  "conf/basalt.yaml should show the defaults");
    char *text = slurp(path);
    for (size_t i = 0; i < bs_config_key_count(); i++) {
        char pat[128];
        const char *name = bs_config_key_name(i), *dot = strchr(name, '.');
        if (dot) { /* a nested group, written as cassandra.yaml does */
            snprintf(pat, sizeof pat, "\n%.*s:\n", (int)(dot - name), name);
            ck_assert_msg(strstr(text, pat), "%s not in conf/basalt.yaml", pat);
            snprintf(pat, sizeof pat, "\n  %s:", dot + 1);
        } else {
            snprintf(pat, sizeof pat, "%s:", name);
        }
        ck_assert_msg(strstr(text, pat), "%s not in conf/basalt.yaml", pat);
    }
    free(text);
    bs_config_free(&c);
    bs_config_free(&d);

    /* docs/CONFIG.md's generated part is exactly the generated reference */
    snprintf(path, sizeof path, "%sdocs/CONFIG.md", root);
    text = slurp(path);
    const char *begin = "<!-- BEGIN GENERATED REFERENCE -->\n";
    const char *end = "<!-- END GENERATED REFERENCE -->";
    char *b0 = strstr(text, begin), *e0 = strstr(text, end);
    ck_assert_ptr_nonnull(b0);
    ck_assert_ptr_nonnull(e0);
    b0 += strlen(begin);
    bs_buf ref = BS_BUF_INIT;
    ck_assert_int_eq(bs_config_reference_markdown(&ref), 0);
    ck_assert_msg((size_t)(e0 - b0) == ref.len &&
                      memcmp(b0, ref.data, ref.len) == 0,
                  "docs/CONFIG.md is stale: regenerate with "
                  "node_test_config --print-reference");
    bs_buf_free(&ref);
    free(text);
}
END_TEST

START_TEST(apply_runtime_settings) {
    char *path = write_temp("");
    bs_config c;
    bs_config_init(&c);
    char e[512];
    ck_assert_int_eq(bs_config_set(&c, "log_level", "warn", e, sizeof e), 0);
    ck_assert_int_eq(bs_config_set(&c, "clock_skew_us", "-250000", e, sizeof e),
                     0);
    ck_assert_int_eq(bs_config_set(&c, "log_file", path, e, sizeof e), 0);
    FILE *lf;
    ck_assert_int_eq(bs_config_apply_runtime(&c, &lf, e, sizeof e), 0);
    ck_assert_ptr_nonnull(lf);
    ck_assert_int_eq(bs_log_get_level(), BS_LOG_WARN);
    ck_assert_int_eq(bs_clock_default()->offset_us, -250000);
    BS_WARN("test", "hello %d", 42);
    BS_INFO("test", "filtered");
    bs_log_set_file(NULL);
    fclose(lf);
    char *text = slurp(path);
    ck_assert_ptr_nonnull(strstr(text, "hello 42"));
    ck_assert_ptr_null(strstr(text, "filtered"));
    free(text);
    /* an unopenable log file changes nothing */
    ck_assert_int_eq(
        bs_config_set(&c, "log_file", "/nonexistent/dir/x.log", e, sizeof e),
        0);
    ck_assert_int_eq(bs_config_set(&c, "log_level", "error", e, sizeof e), 0);
    ck_assert_int_eq(bs_config_apply_runtime(&c, &lf, e, sizeof e), BS_EIO);
    ck_assert_str_eq(e, "log_file /nonexistent/dir/x.log: cannot open: No "
                        "such file or directory");
    ck_assert_ptr_null(lf);
    ck_assert_int_eq(bs_log_get_level(), BS_LOG_WARN);
    bs_config_free(&c);
    unlink(path);
    free(path);
}
END_TEST

static Suite *config_suite(void) {
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, defaults);
    tcase_add_test(tc, full_file_every_key);
    tcase_add_test(tc, empty_and_comment_only_files);
    tcase_add_test(tc, unknown_key_names_key_and_line);
    tcase_add_test(tc, bad_values_each_type);
    tcase_add_test(tc, accepted_value_spellings);
    tcase_add_test(tc, null_value_resets_default);
    tcase_add_test(tc, yaml_syntax_errors_have_line_and_column);
    tcase_add_test(tc, duplicate_and_conflicting_keys);
    tcase_add_test(tc, legacy_aliases);
    tcase_add_test(tc, seeds_all_shapes);
    tcase_add_test(tc, cross_field_validation);
    tcase_add_test(tc, error_leaves_config_unchanged);
    tcase_add_test(tc, flags_both_forms);
    tcase_add_test(tc, flag_errors);
    tcase_add_test(tc, flags_override_file);
    tcase_add_test(tc, set_from_code);
    tcase_add_test(tc, dump_load_roundtrip);
    tcase_add_test(tc, help_lists_every_key);
    tcase_add_test(tc, example_config_and_docs_match_table);
    tcase_add_test(tc, apply_runtime_settings);
    tcase_add_test(tc, tls_option_groups);
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--print-reference") == 0) {
        bs_buf b = BS_BUF_INIT;
        if (bs_config_reference_markdown(&b)) return 1;
        fwrite(b.data, 1, b.len, stdout);
        bs_buf_free(&b);
        return 0;
    }
    if (argc > 1 && strcmp(argv[1], "--print-help") == 0) {
        bs_buf b = BS_BUF_INIT;
        if (bs_config_help("basaltd", &b)) return 1;
        fwrite(b.data, 1, b.len, stdout);
        bs_buf_free(&b);
        return 0;
    }
    SRunner *sr = srunner_create(config_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
