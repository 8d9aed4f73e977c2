/*
 * config.c - basaltd configuration: one key table driving the YAML
 * loader (libyaml document API), the command-line flags, --help, the
 * YAML dump and the Markdown reference.
 *
 * The key table
 * -------------
 * `keys[]` lists every configuration key once: its primary name (the
 * YAML key; the flag is the same name with dashes or underscores), its
 * kind, the bs_config field it fills (offsetof), the default written as
 * TEXT, a range, and a help line.  Defaults are text on purpose:
 * bs_config_init() parses them with the same parser as the YAML values,
 * so the documented default is exactly what the code uses.  `aliases[]`
 * maps Cassandra's legacy names (max_hint_window_in_ms, data_file_
 * directories, seed_provider, ...) to a primary key plus a conversion.
 *
 * Loading
 * -------
 * The whole YAML text is loaded as a libyaml document (a node graph with
 * start marks: 0-based line and column).  The root must be a mapping;
 * each pair's key is looked up (unknown -> error at the key's mark), each
 * value is parsed by kind (bad -> error at the value's mark, quoting the
 * value).  A primary key may be set only once per file, whether by its
 * own name or an alias (duplicate -> error).  A null value ("key:",
 * "~", "null") resets the key to its default, as an empty cassandra.yaml
 * entry does.  Aliases in the document graph are never expanded
 * recursively: the walk only descends where the key's shape expects
 * (seed_provider's list/mapping), so a cyclic or exponential alias graph
 * costs nothing.
 *
 * Every load or flag application works on a deep copy and swaps it into
 * the caller's struct only when everything, including the cross-field
 * validation, succeeded: on error the caller's config is unchanged.
 *
 * Invariants: every char* field is a non-NULL malloc'd string (maybe
 * ""); seeds has n_seeds >= 1 malloc'd strings; initial_tokens is NULL
 * iff n_initial_tokens == 0.
 */
#include "node/config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <yaml.h>

#include "common/clock.h"
#include "common/error.h"
#include "common/utf8.h"

/* ------------------------------------------------------------------ */
/* The key table                                                       */
/* ------------------------------------------------------------------ */

typedef enum {
    K_STR,      /* string; non-empty unless KF_EMPTY */
    K_ADDR,     /* IPv4/IPv6 literal; "" allowed with KF_EMPTY */
    K_ADDRLIST, /* comma-separated addresses (seeds), 1..MAX_SEEDS */
    K_TOKENS,   /* comma-separated int64 tokens; "" = none */
    K_INT,      /* int in [min, max] */
    K_INT64,    /* int64 in [min, max] */
    K_BOOL,     /* true/false (yes/no, on/off) */
    K_DOUBLE,   /* double in [min, max] */
    K_DURATION, /* uint64 milliseconds in [min, max] */
    K_SIZE,     /* uint64 bytes in [min, max] */
    K_ENUM,     /* int index into names[] */
    K_SPECRETRY /* speculative_retry grammar, kept as text */
} kind;

#define KF_EMPTY 1u /* an empty string is a valid value */

struct key {
    const char *name;
    kind kind;
    size_t off;   /* field */
    size_t off_n; /* count field for lists */
    const char *def;
    int64_t min, max;
    const char *const *names; /* K_ENUM, NULL-terminated */
    unsigned flags;
    const char *section;
    const char *help;
};

static const char *const commitlog_sync_names[] = {"periodic", "batch", NULL};
/* the short and the fully qualified class names; index % 2 is the choice */
static const char *const authenticator_names[] = {
    "AllowAllAuthenticator", "PasswordAuthenticator",
    "org.apache.cassandra.auth.AllowAllAuthenticator",
    "org.apache.cassandra.auth.PasswordAuthenticator", NULL};
static const char *const authorizer_names[] = {
    "AllowAllAuthorizer", "CassandraAuthorizer", "org.apache.cassandra.auth.AllowAllAuthorizer",
    "org.apache.cassandra.auth.CassandraAuthorizer", NULL};
static const char *const internode_enc_names[] = {"none", "all", "dc", "rack",
                                                  NULL};
static const char *const internode_comp_names[] = {"dc", "all", "none", NULL};
static const char *const log_level_names[] = {"trace", "debug", "info", "warn",
                                              "error", "off",   NULL};

#define F(field) offsetof(bs_config, field)
#define MS_S 1000LL
#define MS_H (3600LL * 1000)
#define MS_D (24 * MS_H)
#define KIB 1024LL
#define MIB (1024LL * 1024)
#define GIB (1024LL * 1024 * 1024)

static const struct key keys[] = {
    /* Cluster */
    {"cluster_name", K_STR, F(cluster_name), 0, "Test Cluster", 0, 0, NULL, 0,
     "Cluster",
     "Name of the cluster. Nodes refuse internode connections from a node "
     "whose cluster name differs."},
    {"seeds", K_ADDRLIST, F(seeds), F(n_seeds), "127.0.0.1", 1,
     BS_CONFIG_MAX_SEEDS, NULL, 0, "Cluster",
     "Comma-separated IP addresses of the seed nodes, which gossip contacts "
     "first to learn the ring. Also accepted as a YAML list and in "
     "cassandra.yaml's seed_provider form."},
    {"dc", K_STR, F(dc), 0, "dc1", 0, 0, NULL, 0, "Cluster",
     "Data center of this node (what a snitch reports): used by "
     "NetworkTopologyStrategy and the LOCAL_* consistency levels."},
    {"rack", K_STR, F(rack), 0, "rack1", 0, 0, NULL, 0, "Cluster",
     "Rack of this node inside its data center; replicas are spread over "
     "racks."},
    {"num_tokens", K_INT, F(num_tokens), 0, "16", 1, BS_CONFIG_MAX_TOKENS, NULL,
     0, "Cluster",
     "Number of virtual nodes (tokens) this node owns on the ring."},
    {"allocate_tokens_for_local_replication_factor", K_INT,
     F(allocate_tokens_for_local_replication_factor), 0, "3", 1, 16, NULL, 0,
     "Cluster",
     "Replication factor the token allocator optimizes ownership balance "
     "for when this node chooses its tokens."},
    {"initial_token", K_TOKENS, F(initial_tokens), F(n_initial_tokens), "", 0,
     BS_CONFIG_MAX_TOKENS, NULL, KF_EMPTY, "Cluster",
     "Comma-separated list of exactly num_tokens Murmur3 tokens for this "
     "node, read on its first start only (not the minimum token). Empty: "
     "tokens are chosen automatically. With auto_bootstrap true a non-seed "
     "still joins with them (JOINING, streams, NORMAL) and a token a member "
     "owns is refused; a seed, or auto_bootstrap false, is NORMAL at once "
     "(docs/OPERATIONS.md)."},

    /* Network */
    {"listen_address", K_ADDR, F(listen_address), 0, "127.0.0.1", 0, 0, NULL, 0,
     "Network",
     "Address the internode (storage_port) listener binds; not a wildcard."},
    {"broadcast_address", K_ADDR, F(broadcast_address), 0, "", 0, 0, NULL,
     KF_EMPTY, "Network",
     "Address other nodes use to reach this one. Empty: listen_address."},
    {"rpc_address", K_ADDR, F(rpc_address), 0, "127.0.0.1", 0, 0, NULL, 0,
     "Network",
     "Address the CQL native transport and the HTTP endpoint bind. 0.0.0.0 "
     "or :: require broadcast_rpc_address."},
    {"broadcast_rpc_address", K_ADDR, F(broadcast_rpc_address), 0, "", 0, 0,
     NULL, KF_EMPTY, "Network",
     "Address advertised to drivers (system.peers). Empty: rpc_address."},
    {"native_transport_port", K_INT, F(native_transport_port), 0, "9042", 1,
     65535, NULL, 0, "Network", "CQL native protocol port (on rpc_address)."},
    {"storage_port", K_INT, F(storage_port), 0, "7000", 1, 65535, NULL, 0,
     "Network", "Internode messaging and gossip port (on listen_address)."},
    {"internode_tcp_connect_timeout", K_DURATION, F(internode_tcp_connect_timeout_ms), 0,
     "2000ms", 100, 600000, NULL, 0, "Network",
     "An internode connection whose TCP connect and handshake have not "
     "finished by then is abandoned and retried after a backoff."},
    {"internode_tcp_user_timeout", K_DURATION, F(internode_tcp_user_timeout_ms), 0,
     "10s", 0, 600000, NULL, 0, "Network",
     "Internode sockets: bytes written but not acknowledged by the peer for "
     "this long abort the connection (TCP_USER_TIMEOUT), and an idle "
     "connection is probed by keepalive after it (whole seconds), so a dead "
     "path is noticed in seconds, not the kernel's minutes. 0: the "
     "kernel's defaults."},
    {"http_port", K_INT, F(http_port), 0, "8086", 1, 65535, NULL, 0, "Network",
     "HTTP port for the time-series endpoint, /metrics and /health (on "
     "rpc_address)."},
    {"http_max_body_size", K_SIZE, F(http_max_body_size), 0, "25000000B", KIB,
     GIB, NULL, 0, "Network",
     "Largest HTTP request body (after gzip decoding) the time-series "
     "endpoint accepts; a bigger one is answered 413."},
    {"http_max_connections", K_INT, F(http_max_connections), 0, "1024", 1,
     1000000, NULL, 0, "Network",
     "Maximum number of open HTTP connections; a connection over the limit "
     "is answered 503 with Retry-After and closed."},
    {"http_idle_timeout", K_DURATION, F(http_idle_timeout_ms), 0, "60000ms",
     100, 86400000, NULL, 0, "Network",
     "An HTTP connection that sends nothing for this long (idle keep-alive "
     "or a stalled request) is closed."},
    {"ts_bucket", K_DURATION, F(ts_bucket_ms), 0, "1d", 1000,
     366LL * 86400000, NULL, 0, "Network",
     "Time-series endpoint: the time span of one partition of a series "
     "(partition key = series and time bucket). Fixed per database once "
     "data are written: changing it hides older points from queries."},
    {"ts_replication_factor", K_INT, F(ts_replication_factor), 0, "1", 1, 16,
     NULL, 0, "Network",
     "Time-series endpoint: replication factor of a database created by "
     "CREATE DATABASE without WITH REPLICATION (NetworkTopologyStrategy in "
     "this node's data center)."},
    {"admin_address", K_ADDR, F(admin_address), 0, "127.0.0.1", 0, 0, NULL, 0,
     "Network", "Address of the admin REST API used by basalt-admin."},
    {"admin_port", K_INT, F(admin_port), 0, "7199", 1, 65535, NULL, 0,
     "Network", "Port of the admin REST API (on admin_address)."},
    {"admin_max_connections_per_ip", K_INT, F(admin_max_connections_per_ip), 0,
     "16", 0, 1000000, NULL, 0, "Network",
     "Open admin API connections one source address may hold (of 64 in "
     "all); a new one beyond it is answered 429 (closed at once with "
     "HTTPS). 0: unlimited."},
    {"native_transport_max_frame_size", K_SIZE,
     F(native_transport_max_frame_size_bytes), 0, "16MiB", KIB, 256 * MIB, NULL,
     0, "Network",
     "Largest CQL frame accepted; a bigger frame is answered with a "
     "protocol error (its body is skipped unread). A frame's memory is "
     "taken only as its bytes arrive."},
    {"native_transport_max_concurrent_connections", K_INT,
     F(native_transport_max_concurrent_connections), 0, "8192", -1, 1000000,
     NULL, 0, "Network",
     "Maximum number of concurrent CQL client connections; an extra one "
     "gets Overloaded \"Too many connections\" on its first request and "
     "is closed. -1: unlimited."},
    {"native_transport_max_concurrent_connections_per_ip", K_INT,
     F(native_transport_max_concurrent_connections_per_ip), 0, "-1", -1,
     1000000, NULL, 0, "Network",
     "Maximum number of concurrent CQL connections from one client IP "
     "address, answered like the total limit. -1: unlimited."},
    {"native_transport_max_requests_per_connection", K_INT,
     F(native_transport_max_requests_per_connection), 0, "1024", 1, 65536,
     NULL, 0, "Network",
     "Requests of one connection executed at once; beyond it the node "
     "stops reading that connection until some complete (back-pressure)."},
    {"native_transport_max_request_data_in_flight", K_SIZE,
     F(native_transport_max_request_data_in_flight_bytes), 0, "128MiB", 0,
     64 * GIB, NULL, 0, "Network",
     "Node-wide bytes of CQL requests being executed (body plus 1KiB "
     "each); a request beyond it is answered Overloaded instead of "
     "queued. 0: unlimited."},
    {"native_transport_frame_timeout", K_DURATION,
     F(native_transport_frame_timeout_ms), 0, "10000ms", 0, MS_H, NULL, 0,
     "Network",
     "A CQL frame whose first bytes arrived must be complete within this, "
     "else the connection is closed (half-sent frames, slowloris). "
     "0ms: no limit."},
    {"native_transport_startup_timeout", K_DURATION,
     F(native_transport_startup_timeout_ms), 0, "10000ms", 0, MS_H, NULL, 0,
     "Network",
     "A CQL connection must complete its TLS handshake (if any) and send "
     "STARTUP within this after it is accepted, else it is closed "
     "(connections that open and send nothing). 0ms: no limit."},
    {"native_transport_idle_timeout", K_DURATION,
     F(native_transport_idle_timeout_ms), 0, "0ms", 0, 7 * 24 * MS_H, NULL, 0,
     "Network",
     "A started CQL connection on which nothing is read or written and no "
     "request is executing for this long is closed (as Cassandra's "
     "native_transport_idle_timeout). Drivers' heartbeats keep their "
     "connections open. 0ms: never."},
    {"io_threads", K_INT, F(io_threads), 0, "0", 0, 1024, NULL, 0, "Network",
     "Number of I/O threads, each running one event loop; 0: one per CPU "
     "core."},

    /* TLS: nested YAML mappings as in cassandra.yaml
     * (client_encryption_options: {enabled: true, ...}); a key of the
     * table is "<group>.<key>", also usable as such at the top level and
     * as a flag (--client_encryption_options.enabled=true). */
    {"client_encryption_options.enabled", K_BOOL, F(client_enc_enabled), 0,
     "false", 0, 0, NULL, 0, "TLS",
     "TLS on the CQL port (native_transport_port). Needs certfile and "
     "keyfile."},
    {"client_encryption_options.optional", K_BOOL, F(client_enc_optional), 0,
     "false", 0, 0, NULL, 0, "TLS",
     "With TLS enabled, also accept plaintext CQL connections on the same "
     "port (told apart by their first byte). For migrating clients."},
    {"client_encryption_options.certfile", K_STR, F(client_enc_certfile), 0,
     "", 0, 0, NULL, KF_EMPTY, "TLS",
     "PEM file with the node's certificate (and chain) for CQL clients."},
    {"client_encryption_options.keyfile", K_STR, F(client_enc_keyfile), 0, "",
     0, 0, NULL, KF_EMPTY, "TLS",
     "PEM file with the private key of certfile. Empty: certfile holds it."},
    {"client_encryption_options.cafile", K_STR, F(client_enc_cafile), 0, "", 0,
     0, NULL, KF_EMPTY, "TLS",
     "PEM file with the CA certificates client certificates must be signed "
     "by (for require_client_auth)."},
    {"client_encryption_options.require_client_auth", K_BOOL,
     F(client_enc_require_client_auth), 0, "false", 0, 0, NULL, 0, "TLS",
     "Refuse CQL clients that do not present a certificate signed by "
     "cafile."},
    {"server_encryption_options.internode_encryption", K_ENUM,
     F(internode_encryption), 0, "none", 0, 0, internode_enc_names, 0, "TLS",
     "Internode TLS: none, all, dc (only between data centers) or rack "
     "(between racks or data centers). Both sides present certificates "
     "signed by cafile and verify each other; the cluster secret is "
     "checked on top."},
    {"server_encryption_options.certfile", K_STR, F(server_enc_certfile), 0,
     "", 0, 0, NULL, KF_EMPTY, "TLS",
     "PEM file with this node's certificate for internode TLS (signed by "
     "the cluster CA; should name listen_address as an IP subjectAltName)."},
    {"server_encryption_options.keyfile", K_STR, F(server_enc_keyfile), 0, "",
     0, 0, NULL, KF_EMPTY, "TLS",
     "PEM file with the private key of certfile. Empty: certfile holds it."},
    {"server_encryption_options.cafile", K_STR, F(server_enc_cafile), 0, "", 0,
     0, NULL, KF_EMPTY, "TLS",
     "PEM file with the cluster CA: peers' certificates must be signed by "
     "it."},
    {"admin_encryption_options.enabled", K_BOOL, F(admin_enc_enabled), 0,
     "false", 0, 0, NULL, 0, "TLS",
     "HTTPS on the admin API (admin_port); basalt-admin --ssl."},
    {"admin_encryption_options.certfile", K_STR, F(admin_enc_certfile), 0, "",
     0, 0, NULL, KF_EMPTY, "TLS", "PEM certificate of the admin API."},
    {"admin_encryption_options.keyfile", K_STR, F(admin_enc_keyfile), 0, "", 0,
     0, NULL, KF_EMPTY, "TLS",
     "PEM private key of the admin API. Empty: certfile holds it."},
    {"admin_encryption_options.cafile", K_STR, F(admin_enc_cafile), 0, "", 0,
     0, NULL, KF_EMPTY, "TLS",
     "PEM CA certificates for admin client certificates."},
    {"admin_encryption_options.require_client_auth", K_BOOL,
     F(admin_enc_require_client_auth), 0, "false", 0, 0, NULL, 0, "TLS",
     "Refuse admin clients without a certificate signed by cafile (the "
     "token is still required)."},
    {"http_encryption_options.enabled", K_BOOL, F(http_enc_enabled), 0,
     "false", 0, 0, NULL, 0, "TLS",
     "HTTPS on the time-series HTTP port (http_port): InfluxDB clients "
     "connect with https:// (ssl=True)."},
    {"http_encryption_options.certfile", K_STR, F(http_enc_certfile), 0, "",
     0, 0, NULL, KF_EMPTY, "TLS",
     "PEM certificate of the HTTP port (should name rpc_address as an IP "
     "subjectAltName)."},
    {"http_encryption_options.keyfile", K_STR, F(http_enc_keyfile), 0, "", 0,
     0, NULL, KF_EMPTY, "TLS",
     "PEM private key of the HTTP port. Empty: certfile holds it."},
    {"http_encryption_options.cafile", K_STR, F(http_enc_cafile), 0, "", 0, 0,
     NULL, KF_EMPTY, "TLS",
     "PEM CA certificates for HTTP client certificates."},
    {"http_encryption_options.require_client_auth", K_BOOL,
     F(http_enc_require_client_auth), 0, "false", 0, 0, NULL, 0, "TLS",
     "Refuse HTTP clients without a certificate signed by cafile "
     "(credentials are still required with PasswordAuthenticator)."},

    /* Security */
    {"cluster_secret_file", K_STR, F(cluster_secret_file), 0, "", 0, 0, NULL,
     KF_EMPTY, "Security",
     "File holding the cluster secret every node of the cluster shares; "
     "internode connections prove it (HMAC challenge-response) before any "
     "message is accepted. It must be private to the node's user (mode "
     "0600) and at least 16 bytes. Empty: data_directory/cluster_secret, "
     "created with 32 random bytes on first start: copy that file to every "
     "other node before starting it (see docs/SECURITY.md)."},
    {"admin_token_file", K_STR, F(admin_token_file), 0, "", 0, 0, NULL,
     KF_EMPTY, "Security",
     "File holding the token the admin API requires (Authorization: Bearer "
     "<token>) on every endpoint except /health; mode 0600, at least 16 "
     "bytes. Empty: data_directory/admin_token, created with random bytes "
     "on first start. basalt-admin reads it (--token-file)."},
    {"authenticator", K_ENUM, F(authenticator), 0, "AllowAllAuthenticator", 0, 0,
     authenticator_names, 0, "Security",
     "CQL client authentication. AllowAllAuthenticator: none. "
     "PasswordAuthenticator: clients log in with a role and its password "
     "(SASL PLAIN), checked against system_auth.roles (see "
     "docs/SECURITY.md)."},
    {"authorizer", K_ENUM, F(authorizer), 0, "AllowAllAuthorizer", 0, 0, authorizer_names, 0,
     "Security",
     "CQL permissions. AllowAllAuthorizer: every logged-in role may do "
     "everything. CassandraAuthorizer: GRANT/REVOKE permissions kept in "
     "system_auth.role_permissions (needs PasswordAuthenticator)."},
    {"credentials_validity", K_DURATION, F(credentials_validity_ms), 0, "2000ms", 0, MS_D, NULL,
     0, "Security",
     "How long a role read from system_auth.roles (password hash, login "
     "and superuser flags) is reused before it is read again. 0ms: read "
     "at every login and request."},
    {"permissions_validity", K_DURATION, F(permissions_validity_ms), 0, "2000ms", 0, MS_D, NULL,
     0, "Security",
     "How long a role's permissions read from system_auth.role_permissions "
     "are reused; GRANT and REVOKE made on other nodes take effect after "
     "at most this. 0ms: read at every request."},
    {"initial_superuser_file", K_STR, F(initial_superuser_file), 0, "", 0, 0, NULL, KF_EMPTY,
     "Security",
     "File with one line name:password (mode 0600): with "
     "PasswordAuthenticator, this superuser is created at the first login "
     "attempt if no role of that name exists. The environment variable "
     "BASALT_INITIAL_SUPERUSER (name:password) is used when this is empty. "
     "There is no default superuser."},

    /* Storage */
    {"data_directory", K_STR, F(data_directory), 0, "data", 0, 0, NULL, 0,
     "Storage",
     "Directory of the node's data (the RocksDB instance); relative paths "
     "are relative to the working directory."},
    {"hints_directory", K_STR, F(hints_directory), 0, "", 0, 0, NULL, KF_EMPTY,
     "Storage",
     "Directory of stored hints. Empty: the hints folder inside "
     "data_directory (data_directory/hints)."},
    {"commitlog_sync", K_ENUM, F(commitlog_sync), 0, "periodic", 0, 0,
     commitlog_sync_names, 0, "Storage",
     "Durability mode. periodic: a write is acknowledged once in the "
     "write-ahead log and the log is fsynced every commitlog_sync_period. "
     "batch: a write is acknowledged after a group-committed fsync."},
    {"commitlog_sync_period", K_DURATION, F(commitlog_sync_period_ms), 0,
     "10000ms", 1, MS_H, NULL, 0, "Storage",
     "fsync interval of the write-ahead log in periodic mode."},
    {"commitlog_sync_batch_window", K_DURATION,
     F(commitlog_sync_batch_window_ms), 0, "2ms", 0, 10 * MS_S, NULL, 0,
     "Storage",
     "In batch mode, how long a group commit waits for more writes before "
     "its fsync."},
    {"min_free_space", K_SIZE, F(min_free_space_bytes), 0, "256MiB", 0,
     1024 * GIB, NULL, 0, "Storage",
     "Writes are refused with a ServerError (\"No space left on device\") "
     "while the data directory's file system has less free space; reads "
     "go on, and writes resume by themselves when space returns. Keep it "
     "above a memtable flush (64MiB per table). 0: no check."},
    {"storage_block_cache_size", K_SIZE, F(storage_block_cache_size_bytes), 0, "64MiB",
     MIB, 1024 * GIB, NULL, 0, "Storage",
     "The block cache every table shares (uncompressed SST blocks, and "
     "their index and filter blocks). RocksDB keeps it full to this size "
     "once enough data has been read: a bound of the node's memory."},
    {"storage_cache_index_and_filter_blocks", K_BOOL, F(storage_cache_index_and_filter_blocks), 0,
     "true", 0, 0, NULL, 0, "Storage",
     "Keep SST index and bloom filter blocks in the block cache (at high "
     "priority; L0's pinned), so that storage_block_cache_size bounds them "
     "too. false: RocksDB keeps every open file's index and filter in "
     "memory outside the cache, which grows with the data on disk (about "
     "6-7 MiB per GB of 200-byte rows)."},
    {"storage_memtable_size", K_SIZE, F(storage_memtable_size_bytes), 0, "64MiB", MIB,
     4 * GIB, NULL, 0, "Storage",
     "Size at which a table's memtable is flushed to an SST file. Each "
     "table holds at most two (one filling, one flushing): memory up to "
     "2 x this per table written to."},

    /* Topology changes */
    {"auto_bootstrap", K_BOOL, F(auto_bootstrap), 0, "true", 0, 0, NULL, 0,
     "Topology changes",
     "A new node joining a cluster that holds data streams the data of the "
     "ranges it gains before it serves them (JOINING, then NORMAL). false: "
     "it becomes NORMAL at once with no data (run repair)."},
    {"consistent_range_movement", K_BOOL, F(consistent_range_movement), 0,
     "true", 0, 0, NULL, 0, "Topology changes",
     "A joining node streams each range from the replica that gives it up, "
     "and the join fails if that replica is down. false: another live "
     "replica serves instead, with a warning that repair is needed."},
    {"stream_throughput_outbound", K_SIZE, F(stream_throughput_outbound_bytes),
     0, "24MiB", 0, 64 * GIB, NULL, 0, "Topology changes",
     "Rate (per second) at which this node sends streamed ranges to other "
     "nodes (bootstrap, decommission), all its streams together. 0: "
     "unthrottled. basalt-admin setstreamthroughput changes it until a "
     "restart."},
    {"stream_ingest_sst", K_BOOL, F(stream_ingest_sst), 0, "true", 0, 0, NULL, 0,
     "Topology changes",
     "A range this node pulls (bootstrap, rebuild) is written to SST files as "
     "it arrives and ingested into the table once complete (about 5x faster "
     "than a write batch per chunk, scripts/bench-stream). false: batches."},
    {"ring_delay", K_DURATION, F(ring_delay_ms), 0, "5000ms", 0, 600000, NULL,
     0, "Topology changes",
     "How long a joining or leaving node waits after announcing it, so that "
     "every coordinator sends it the writes of its pending ranges, before "
     "streaming starts."},
    {"replace_address_first_boot", K_ADDR, F(replace_address_first_boot), 0,
     "", 0, 0, NULL, KF_EMPTY, "Topology changes",
     "On this node's first start: take over the tokens of the dead node at "
     "this address and stream its ranges from the other replicas, instead "
     "of choosing new tokens. It may be this node's own address (the dead "
     "node back on its address with an empty data directory). Ignored once "
     "the node has bootstrapped."},

    /* Hinted handoff */
    {"hinted_handoff_enabled", K_BOOL, F(hinted_handoff_enabled), 0, "true", 0,
     0, NULL, 0, "Hinted handoff",
     "Store hints for replicas that are down or time out, and replay them "
     "when the replica comes back."},
    {"max_hint_window", K_DURATION, F(max_hint_window_ms), 0, "3h", 0,
     30 * MS_D, NULL, 0, "Hinted handoff",
     "No new hints are stored for a replica that has been down longer than "
     "this."},
    {"hinted_handoff_throttle", K_SIZE, F(hinted_handoff_throttle_bytes), 0,
     "1024KiB", 0, GIB, NULL, 0, "Hinted handoff",
     "Hint replay rate per second per delivering node; 0: unthrottled."},
    {"hinted_handoff_disabled_datacenters", K_STR, F(hinted_handoff_disabled_datacenters), 0,
     "", 0, 0, NULL, KF_EMPTY, "Hinted handoff",
     "Data centers (a YAML list or comma-separated names) whose replicas "
     "get no hints from this coordinator; repair brings them back instead. "
     "Changed at run time with basalt-admin disablehintsfordc/enablehintsfordc."},
    {"cross_dc_write_forwarding", K_BOOL, F(cross_dc_write_forwarding), 0, "true", 0, 0, NULL,
     0, "Multiple data centers",
     "A coordinator sends each remote data center one copy of a write, to "
     "one of its live replicas chosen at random, which applies it and passes "
     "it on to the others there; every replica acknowledges to the "
     "coordinator. false: every remote replica gets its own copy over the WAN."},
    {"internode_compression", K_ENUM, F(internode_compression), 0, "dc", 0, 0,
     internode_comp_names, 0, "Multiple data centers",
     "lz4-compress internode messages (of 256 bytes or more, when it makes "
     "them smaller): dc (only to nodes in another data center), all, or "
     "none. Every node decompresses whatever it receives, so nodes with "
     "different settings work together."},

    /* Requests */
    {"read_request_timeout", K_DURATION, F(read_request_timeout_ms), 0,
     "5000ms", 1, MS_D, NULL, 0, "Requests",
     "How long the coordinator waits for read replies before ReadTimeout."},
    {"write_request_timeout", K_DURATION, F(write_request_timeout_ms), 0,
     "2000ms", 1, MS_D, NULL, 0, "Requests",
     "How long the coordinator waits for write acknowledgements before "
     "WriteTimeout."},
    {"range_request_timeout", K_DURATION, F(range_request_timeout_ms), 0,
     "10000ms", 1, MS_D, NULL, 0, "Requests",
     "Timeout of range scans (token ranges, multi-partition reads)."},
    {"range_concurrency_max", K_INT, F(range_concurrency_max), 0, "16", 1, 16, NULL, 0,
     "Requests",
     "Largest concurrency factor of range scans (every consistency level): "
     "how many token ranges may be requested at once when pages come back "
     "short (1: one range after the other)."},
    {"request_timeout", K_DURATION, F(request_timeout_ms), 0, "10000ms", 1,
     MS_D, NULL, 0, "Requests", "Default timeout of other operations."},
    {"truncate_request_timeout", K_DURATION, F(truncate_request_timeout_ms), 0,
     "60000ms", 1, MS_D, NULL, 0, "Requests", "Timeout of TRUNCATE."},
    {"speculative_retry", K_SPECRETRY, F(speculative_retry), 0, "99p", 0, 0,
     NULL, 0, "Requests",
     "Default speculative retry of reads: NONE, ALWAYS, a latency "
     "percentile (99p) or a fixed delay (50ms)."},

    /* Write guardrails */
    {"max_future_timestamp", K_DURATION, F(max_future_timestamp_ms), 0, "1d", 0,
     3650 * MS_D, NULL, 0, "Write guardrails",
     "A write whose timestamp (USING TIMESTAMP or the client's) is further "
     "ahead of the coordinator's clock is refused with InvalidRequest: it "
     "would shadow every later write and delete. 0ms: no check. The "
     "largest timestamp (9223372036854775807) is always refused."},
    {"batch_size_warn_threshold", K_SIZE, F(batch_size_warn_threshold_bytes),
     0, "5KiB", 0, GIB, NULL, 0, "Write guardrails",
     "A batch over more than one partition with more bytes of keys and "
     "values than this is logged; 0: never."},
    {"batch_size_fail_threshold", K_SIZE, F(batch_size_fail_threshold_bytes),
     0, "50KiB", 0, GIB, NULL, 0, "Write guardrails",
     "A batch over more than one partition with more bytes of keys and "
     "values than this is refused with InvalidRequest; 0: no limit."},
    {"prepared_statements_cache_size", K_SIZE,
     F(prepared_statements_cache_size_bytes), 0, "10MiB", 64 * KIB, 64 * GIB, NULL, 0,
     "Write guardrails",
     "Memory for prepared statements (parsed, shared by all connections). "
     "The least recently used ones are dropped beyond it; executing a "
     "dropped one answers Unprepared, and drivers prepare it again."},
    {"max_mutation_size", K_SIZE, F(max_mutation_size_bytes), 0, "16MiB", 0,
     4 * GIB, NULL, 0, "Write guardrails",
     "A statement or batch writing more bytes (keys, values, timestamps) to "
     "one partition is refused with InvalidRequest; 0: no limit."},
    {"column_value_size_fail_threshold", K_SIZE,
     F(column_value_size_fail_threshold_bytes), 0, "0B", 0, 4 * GIB, NULL, 0,
     "Write guardrails",
     "A write of a column value bigger than this is refused with "
     "InvalidRequest; 0: no limit (the frame size still bounds it)."},
    {"collection_size_fail_threshold", K_SIZE,
     F(collection_size_fail_threshold_bytes), 0, "0B", 0, 4 * GIB, NULL, 0,
     "Write guardrails",
     "A write of a (non-frozen) collection's elements totalling more bytes "
     "is refused with InvalidRequest; 0: no limit."},
    {"items_per_collection_fail_threshold", K_INT,
     F(items_per_collection_fail_threshold), 0, "0", 0, 2147483647, NULL, 0,
     "Write guardrails",
     "A write of a (non-frozen) collection with more elements is refused "
     "with InvalidRequest; 0: no limit."},

    /* Failure detection and repair */
    {"phi_convict_threshold", K_DOUBLE, F(phi_convict_threshold), 0, "8", 1,
     100, NULL, 0, "Failure detection and repair",
     "Phi accrual failure detector threshold above which a peer is marked "
     "down."},
    {"repair_interval", K_DURATION, F(repair_interval_ms), 0, "0ms", 0,
     365 * MS_D, NULL, 0, "Failure detection and repair",
     "Interval of scheduled anti-entropy repair; 0ms: no scheduled repair."},

    /* Logging and testing */
    {"log_level", K_ENUM, F(log_level), 0, "info", 0, 0, log_level_names, 0,
     "Logging and testing", "Lowest level logged."},
    {"log_file", K_STR, F(log_file), 0, "", 0, 0, NULL, KF_EMPTY,
     "Logging and testing", "Log file (appended). Empty: standard error."},
    {"clock_skew_us", K_INT64, F(clock_skew_us), 0, "0",
     -365LL * 86400 * 1000000, 365LL * 86400 * 1000000, NULL, 0,
     "Logging and testing",
     "Testing knob: microseconds added to this node's wall clock (write "
     "timestamps, TTL expiry)."},
};
#define NKEYS (sizeof keys / sizeof keys[0])

typedef enum {
    AL_INT_MS,       /* plain integer milliseconds -> K_DURATION */
    AL_INT_KIB,      /* plain integer KiB -> K_SIZE */
    AL_INT_MIB,      /* plain integer MiB -> K_SIZE */
    AL_DIRLIST,      /* list of exactly one path -> K_STR */
    AL_SEED_PROVIDER, /* cassandra.yaml seed_provider shape -> seeds */
    AL_SAME          /* another name, same value */
} alias_conv;

struct alias {
    const char *name;
    const char *target;
    alias_conv conv;
};

static const struct alias aliases[] = {
    {"seed_provider", "seeds", AL_SEED_PROVIDER},
    /* Cassandra's PEM keystore holds the key and the certificate */
    {"client_encryption_options.keystore", "client_encryption_options.certfile",
     AL_SAME},
    {"client_encryption_options.truststore", "client_encryption_options.cafile",
     AL_SAME},
    {"server_encryption_options.keystore", "server_encryption_options.certfile",
     AL_SAME},
    {"server_encryption_options.truststore", "server_encryption_options.cafile",
     AL_SAME},
    {"data_file_directories", "data_directory", AL_DIRLIST},
    {"commitlog_sync_period_in_ms", "commitlog_sync_period", AL_INT_MS},
    {"commitlog_sync_batch_window_in_ms", "commitlog_sync_batch_window",
     AL_INT_MS},
    {"max_hint_window_in_ms", "max_hint_window", AL_INT_MS},
    {"batch_size_warn_threshold_in_kb", "batch_size_warn_threshold", AL_INT_KIB},
    {"batch_size_fail_threshold_in_kb", "batch_size_fail_threshold", AL_INT_KIB},
    {"prepared_statements_cache_size_mb", "prepared_statements_cache_size", AL_INT_MIB},
    {"hinted_handoff_throttle_in_kb", "hinted_handoff_throttle", AL_INT_KIB},
    {"read_request_timeout_in_ms", "read_request_timeout", AL_INT_MS},
    {"internode_tcp_connect_timeout_in_ms", "internode_tcp_connect_timeout", AL_INT_MS},
    {"internode_tcp_user_timeout_in_ms", "internode_tcp_user_timeout", AL_INT_MS},
    {"write_request_timeout_in_ms", "write_request_timeout", AL_INT_MS},
    {"range_request_timeout_in_ms", "range_request_timeout", AL_INT_MS},
    {"request_timeout_in_ms", "request_timeout", AL_INT_MS},
    {"truncate_request_timeout_in_ms", "truncate_request_timeout", AL_INT_MS},
    {"native_transport_max_frame_size_in_mb", "native_transport_max_frame_size",
     AL_INT_MIB},
};
#define NALIASES (sizeof aliases / sizeof aliases[0])

_Static_assert(sizeof(bs_commitlog_sync) == sizeof(int), "enum field size");
_Static_assert(sizeof(bs_log_level) == sizeof(int), "enum field size");

/* ------------------------------------------------------------------ */
/* Small helpers                                                       */
/* ------------------------------------------------------------------ */

static void seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void seterr(char *err, size_t errlen, const char *fmt, ...) {
    if (!err || errlen == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* Renders untrusted bytes for an error message: printable ASCII and
 * UTF-8 bytes as they are, others as \xNN, at most ~60 bytes. */
static void printable(const char *s, size_t n, char *out, size_t cap) {
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (o + 8 >= cap || i >= 60) {
            if (o + 4 <= cap) {
                memcpy(out + o, "...", 3);
                o += 3;
            }
            break;
        }
        if (c >= 0x20 && c != 0x7f) {
            out[o++] = (char)c;
        } else {
            o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
        }
    }
    out[o < cap ? o : cap - 1] = '\0';
}

static void *field(bs_config *cfg, size_t off) {
    return (char *)cfg + off;
}
static const void *cfield(const bs_config *cfg, size_t off) {
    return (const char *)cfg + off;
}

static const struct key *find_primary(const char *name, size_t n) {
    for (size_t i = 0; i < NKEYS; i++)
        if (strlen(keys[i].name) == n && memcmp(keys[i].name, name, n) == 0)
            return &keys[i];
    return NULL;
}

/* Looks a YAML key or flag name up among the primary keys and aliases. */
static const struct key *find_key(const char *name, size_t n,
                                  const struct alias **al) {
    *al = NULL;
    const struct key *k = find_primary(name, n);
    if (k) return k;
    for (size_t i = 0; i < NALIASES; i++) {
        if (strlen(aliases[i].name) == n &&
            memcmp(aliases[i].name, name, n) == 0) {
            *al = &aliases[i];
            return find_primary(aliases[i].target, strlen(aliases[i].target));
        }
    }
    return NULL;
}

/* Strict decimal integer: optional '-', digits, nothing else. */
static bool parse_i64(const char *s, size_t n, int64_t *out) {
    size_t i = 0;
    bool neg = false;
    if (n > 0 && (s[0] == '-' || s[0] == '+')) {
        neg = s[0] == '-';
        i++;
    }
    if (i == n) return false;
    uint64_t v = 0;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10) return false;
        v = v * 10 + d;
    }
    if (neg) {
        if (v > (uint64_t)INT64_MAX + 1) return false;
        *out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
    } else {
        if (v > (uint64_t)INT64_MAX) return false;
        *out = (int64_t)v;
    }
    return true;
}

/* Digits followed by a unit from `units` (multipliers in `mult`). */
static bool parse_with_unit(const char *s, size_t n, const char *const *units,
                            const int64_t *mult, uint64_t *out) {
    size_t i = 0;
    while (i < n && s[i] >= '0' && s[i] <= '9')
        i++;
    if (i == 0 || i > 18) return false;
    int64_t num;
    if (!parse_i64(s, i, &num)) return false;
    if (i == n) { /* a bare number: only 0 is unambiguous */
        if (num != 0) return false;
        *out = 0;
        return true;
    }
    for (size_t u = 0; units[u]; u++) {
        if (strlen(units[u]) == n - i && memcmp(units[u], s + i, n - i) == 0) {
            if ((uint64_t)num > UINT64_MAX / (uint64_t)mult[u]) return false;
            *out = (uint64_t)num * (uint64_t)mult[u];
            return true;
        }
    }
    return false;
}

static const char *const dur_units[] = {"ms", "s", "m", "h", "d", NULL};
static const int64_t dur_mult[] = {1, MS_S, 60 * MS_S, MS_H, MS_D};
static const char *const size_units[] = {"B", "KiB", "MiB", "GiB", NULL};
static const int64_t size_mult[] = {1, KIB, MIB, GIB};

/* Largest unit that divides v exactly ("3h", "10s", "0ms"). */
static void fmt_unit(uint64_t v, const char *const *units, const int64_t *mult,
                     size_t nunits, char *out, size_t cap) {
    size_t best = 0;
    for (size_t u = 0; u < nunits; u++)
        if (v != 0 && v % (uint64_t)mult[u] == 0) best = u;
    snprintf(out, cap, "%llu%s", (unsigned long long)(v / (uint64_t)mult[best]),
             units[best]);
}

static void fmt_duration(uint64_t ms, char *out, size_t cap) {
    fmt_unit(ms, dur_units, dur_mult, 5, out, cap);
}
static void fmt_size(uint64_t b, char *out, size_t cap) {
    fmt_unit(b, size_units, size_mult, 4, out, cap);
}

static bool parse_addr(const char *s, size_t n, struct in6_addr *out) {
    char tmp[INET6_ADDRSTRLEN + 1];
    if (n == 0 || n >= sizeof tmp) return false;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    struct in_addr a4;
    if (inet_pton(AF_INET, tmp, &a4) == 1) {
        if (out) { /* v4-mapped, so v4 and v6 compare in one space */
            memset(out, 0, sizeof *out);
            out->s6_addr[10] = 0xff;
            out->s6_addr[11] = 0xff;
            memcpy(&out->s6_addr[12], &a4, 4);
        }
        return true;
    }
    struct in6_addr a6;
    if (inet_pton(AF_INET6, tmp, &a6) == 1) {
        if (out) *out = a6;
        return true;
    }
    return false;
}

static bool addr_is_wildcard(const char *s) {
    struct in6_addr a;
    if (!parse_addr(s, strlen(s), &a)) return false;
    static const uint8_t any6[16] = {0};
    static const uint8_t any4[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return memcmp(a.s6_addr, any6, 16) == 0 || memcmp(a.s6_addr, any4, 16) == 0;
}

static bool trim_is_space(char c) {
    return c == ' ' || c == '\t';
}

/* Splits "a, b,c" into trimmed pieces; calls fn for each.  Empty pieces
 * are an error.  Returns false on the first failing piece. */
static bool split_commas(const char *s, size_t n,
                         bool (*fn)(const char *p, size_t len, void *ctx),
                         void *ctx) {
    size_t i = 0;
    for (;;) {
        size_t j = i;
        while (j < n && s[j] != ',')
            j++;
        size_t a = i, b = j;
        while (a < b && trim_is_space(s[a]))
            a++;
        while (b > a && trim_is_space(s[b - 1]))
            b--;
        if (a == b) return false;
        if (!fn(s + a, b - a, ctx)) return false;
        if (j == n) return true;
        i = j + 1;
    }
}

/* ------------------------------------------------------------------ */
/* Values: parse text into a val, store a val into a config            */
/* ------------------------------------------------------------------ */

struct val {
    int64_t i;
    uint64_t u;
    double d;
    bool b;
    char *s;       /* owned */
    char **list;   /* owned */
    int64_t *toks; /* owned */
    size_t n;
    bool nomem; /* parse failed for lack of memory */
};

static void val_free(struct val *v) {
    free(v->s);
    for (size_t i = 0; i < v->n && v->list; i++)
        free(v->list[i]);
    free(v->list);
    free(v->toks);
    memset(v, 0, sizeof *v);
}

static char *dup_n(const char *s, size_t n) {
    char *p = malloc(n + 1);
    if (!p) return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

static bool add_addr(const char *p, size_t len, void *ctx) {
    struct val *v = ctx;
    if (v->n >= BS_CONFIG_MAX_SEEDS) return false;
    if (!parse_addr(p, len, NULL)) return false;
    char **nl = realloc(v->list, (v->n + 1) * sizeof *nl);
    if (!nl) {
        v->nomem = true;
        return false;
    }
    v->list = nl;
    if (!(nl[v->n] = dup_n(p, len))) {
        v->nomem = true;
        return false;
    }
    v->n++;
    return true;
}

static bool add_token(const char *p, size_t len, void *ctx) {
    struct val *v = ctx;
    int64_t t;
    if (v->n >= BS_CONFIG_MAX_TOKENS) return false;
    if (!parse_i64(p, len, &t)) return false;
    int64_t *nt = realloc(v->toks, (v->n + 1) * sizeof *nt);
    if (!nt) {
        v->nomem = true;
        return false;
    }
    v->toks = nt;
    nt[v->n++] = t;
    return true;
}

static bool specretry_valid(const char *s, size_t n) {
    if ((n == 4 && strncasecmp(s, "NONE", 4) == 0) ||
        (n == 6 && strncasecmp(s, "ALWAYS", 6) == 0))
        return true;
    size_t i = 0, digits = 0, dots = 0;
    while (i < n && ((s[i] >= '0' && s[i] <= '9') || s[i] == '.')) {
        if (s[i] == '.')
            dots++;
        else
            digits++;
        i++;
    }
    if (digits == 0 || dots > 1 || i > 12 || s[0] == '.') return false;
    const char *u = s + i;
    size_t un = n - i;
    char num[16];
    memcpy(num, s, i);
    num[i] = '\0';
    double d = strtod(num, NULL);
    if ((un == 1 && (u[0] == 'p' || u[0] == 'P')) ||
        (un == 10 && strncasecmp(u, "PERCENTILE", 10) == 0))
        return d > 0 && d < 100;
    if (un == 2 && strncasecmp(u, "ms", 2) == 0) return dots == 0;
    return false;
}

/* What a kind expects, for error messages. */
static void expected(const struct key *k, char *out, size_t cap) {
    char a[32], b[32];
    switch (k->kind) {
    case K_STR:
        snprintf(out, cap,
                 "expected %stext (valid UTF-8, no control "
                 "characters)",
                 (k->flags & KF_EMPTY) ? "" : "non-empty ");
        break;
    case K_ADDR:
        snprintf(out, cap, "expected an IPv4 or IPv6 address%s",
                 (k->flags & KF_EMPTY) ? " or empty" : "");
        break;
    case K_ADDRLIST:
        snprintf(out, cap,
                 "expected a comma-separated list of %lld..%lld "
                 "IPv4 or IPv6 addresses",
                 (long long)k->min, (long long)k->max);
        break;
    case K_TOKENS:
        snprintf(out, cap,
                 "expected a comma-separated list of at most %lld "
                 "64-bit integer tokens",
                 (long long)k->max);
        break;
    case K_INT:
    case K_INT64:
        snprintf(out, cap, "expected an integer %lld..%lld", (long long)k->min,
                 (long long)k->max);
        break;
    case K_BOOL: snprintf(out, cap, "expected true or false"); break;
    case K_DOUBLE:
        snprintf(out, cap, "expected a number %lld..%lld", (long long)k->min,
                 (long long)k->max);
        break;
    case K_DURATION:
        fmt_duration((uint64_t)k->min, a, sizeof a);
        fmt_duration((uint64_t)k->max, b, sizeof b);
        snprintf(out, cap,
                 "expected a duration %s..%s with a unit "
                 "(ms, s, m, h, d), e.g. 500ms, 10s, 3h",
                 a, b);
        break;
    case K_SIZE:
        fmt_size((uint64_t)k->min, a, sizeof a);
        fmt_size((uint64_t)k->max, b, sizeof b);
        snprintf(out, cap,
                 "expected a size %s..%s with a unit (B, KiB, MiB, "
                 "GiB), e.g. 16MiB",
                 a, b);
        break;
    case K_ENUM: {
        size_t o = (size_t)snprintf(out, cap, "expected one of ");
        for (size_t i = 0; k->names[i] && o < cap; i++)
            o += (size_t)snprintf(out + o, cap - o, "%s%s", i ? ", " : "",
                                  k->names[i]);
        break;
    }
    case K_SPECRETRY:
        snprintf(out, cap,
                 "expected NONE, ALWAYS, a percentile such as 99p "
                 "or a delay such as 50ms");
        break;
    }
}

/* Parses the text form of key k.  false = bad value (or v->nomem). */
static bool parse_value(const struct key *k, const char *s, size_t n,
                        struct val *v) {
    memset(v, 0, sizeof *v);
    switch (k->kind) {
    case K_STR:
    case K_ADDR:
    case K_SPECRETRY:
        if (n == 0 && !(k->flags & KF_EMPTY)) return false;
        if (!bs_utf8_valid(s, n)) return false;
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) return false;
        if (n > 0 && k->kind == K_ADDR && !parse_addr(s, n, NULL)) return false;
        if (k->kind == K_SPECRETRY && !specretry_valid(s, n)) return false;
        if (!(v->s = dup_n(s, n))) {
            v->nomem = true;
            return false;
        }
        return true;
    case K_ADDRLIST:
        if (!split_commas(s, n, add_addr, v) || (int64_t)v->n < k->min) {
            bool nomem = v->nomem;
            val_free(v);
            v->nomem = nomem;
            return false;
        }
        return true;
    case K_TOKENS:
        if (n == 0) return true;
        if (!split_commas(s, n, add_token, v)) {
            bool nomem = v->nomem;
            val_free(v);
            v->nomem = nomem;
            return false;
        }
        return true;
    case K_INT:
    case K_INT64:
        return parse_i64(s, n, &v->i) && v->i >= k->min && v->i <= k->max;
    case K_BOOL:
        if ((n == 4 && strncasecmp(s, "true", 4) == 0) ||
            (n == 3 && strncasecmp(s, "yes", 3) == 0) ||
            (n == 2 && strncasecmp(s, "on", 2) == 0)) {
            v->b = true;
            return true;
        }
        if ((n == 5 && strncasecmp(s, "false", 5) == 0) ||
            (n == 2 && strncasecmp(s, "no", 2) == 0) ||
            (n == 3 && strncasecmp(s, "off", 3) == 0)) {
            v->b = false;
            return true;
        }
        return false;
    case K_DOUBLE: {
        char tmp[64];
        if (n == 0 || n >= sizeof tmp) return false;
        memcpy(tmp, s, n);
        tmp[n] = '\0';
        for (size_t i = 0; i < n; i++) /* decimal only: no hex, inf, nan */
            if (!strchr("0123456789.eE+-", tmp[i])) return false;
        char *end;
        errno = 0;
        v->d = strtod(tmp, &end);
        return end == tmp + n && errno == 0 && isfinite(v->d) &&
               v->d >= (double)k->min && v->d <= (double)k->max;
    }
    case K_DURATION:
        return parse_with_unit(s, n, dur_units, dur_mult, &v->u) &&
               v->u >= (uint64_t)k->min && v->u <= (uint64_t)k->max;
    case K_SIZE:
        return parse_with_unit(s, n, size_units, size_mult, &v->u) &&
               v->u >= (uint64_t)k->min && v->u <= (uint64_t)k->max;
    case K_ENUM:
        for (int i = 0; k->names[i]; i++) {
            if (strlen(k->names[i]) == n &&
                strncasecmp(k->names[i], s, n) == 0) {
                v->i = i;
                return true;
            }
        }
        if (k->names == log_level_names && n == 7 &&
            strncasecmp(s, "warning", 7) == 0) {
            v->i = BS_LOG_WARN;
            return true;
        }
        return false;
    }
    return false;
}

static void free_field(bs_config *cfg, const struct key *k) {
    switch (k->kind) {
    case K_STR:
    case K_ADDR:
    case K_SPECRETRY: {
        char **p = field(cfg, k->off);
        free(*p);
        *p = NULL;
        break;
    }
    case K_ADDRLIST: {
        char ***p = field(cfg, k->off);
        size_t *n = field(cfg, k->off_n);
        for (size_t i = 0; *p && i < *n; i++)
            free((*p)[i]);
        free(*p);
        *p = NULL;
        *n = 0;
        break;
    }
    case K_TOKENS: {
        int64_t **p = field(cfg, k->off);
        free(*p);
        *p = NULL;
        *(size_t *)field(cfg, k->off_n) = 0;
        break;
    }
    default: break;
    }
}

/* Moves v into cfg's field (v is emptied). */
static void store(bs_config *cfg, const struct key *k, struct val *v) {
    void *f = field(cfg, k->off);
    free_field(cfg, k);
    switch (k->kind) {
    case K_STR:
    case K_ADDR:
    case K_SPECRETRY:
        *(char **)f = v->s;
        v->s = NULL;
        break;
    case K_ADDRLIST:
        *(char ***)f = v->list;
        *(size_t *)field(cfg, k->off_n) = v->n;
        v->list = NULL;
        v->n = 0;
        break;
    case K_TOKENS:
        *(int64_t **)f = v->toks;
        *(size_t *)field(cfg, k->off_n) = v->n;
        v->toks = NULL;
        v->n = 0;
        break;
    case K_INT:
    case K_ENUM: {
        int x = (int)v->i;
        memcpy(f, &x, sizeof x);
        break;
    }
    case K_INT64: memcpy(f, &v->i, sizeof v->i); break;
    case K_BOOL: memcpy(f, &v->b, sizeof v->b); break;
    case K_DOUBLE: memcpy(f, &v->d, sizeof v->d); break;
    case K_DURATION:
    case K_SIZE: memcpy(f, &v->u, sizeof v->u); break;
    }
    val_free(v);
}

/* Parses text for key k (or alias al of it) into v.  On failure writes
 * "bad value 'x' for NAME: expected ..." into why and returns BS_ECONFIG
 * (BS_ENOMEM when memory ran out). */
static int parse_for(const struct key *k, const struct alias *al, const char *s,
                     size_t n, struct val *v, char *why, size_t whylen) {
    char exp[200], shown[128];
    bool ok;
    if (al && (al->conv == AL_INT_MS || al->conv == AL_INT_KIB ||
               al->conv == AL_INT_MIB)) {
        int64_t x;
        uint64_t mult = al->conv == AL_INT_MS    ? 1
                        : al->conv == AL_INT_KIB ? (uint64_t)KIB
                                                 : (uint64_t)MIB;
        memset(v, 0, sizeof *v);
        ok = parse_i64(s, n, &x) && x >= 0 && (uint64_t)x <= UINT64_MAX / mult;
        if (ok) {
            v->u = (uint64_t)x * mult;
            ok = v->u >= (uint64_t)k->min && v->u <= (uint64_t)k->max;
        }
        if (!ok) {
            const char *unit = al->conv == AL_INT_MS    ? "milliseconds"
                               : al->conv == AL_INT_KIB ? "KiB"
                                                        : "MiB";
            uint64_t lo = ((uint64_t)k->min + mult - 1) / mult;
            uint64_t hi = (uint64_t)k->max / mult;
            snprintf(exp, sizeof exp,
                     "expected an integer number of %s "
                     "%llu..%llu",
                     unit, (unsigned long long)lo, (unsigned long long)hi);
        }
    } else {
        ok = parse_value(k, s, n, v);
        if (!ok && v->nomem) return BS_ENOMEM;
        if (!ok) expected(k, exp, sizeof exp);
    }
    if (ok) return 0;
    printable(s, n, shown, sizeof shown);
    seterr(why, whylen, "bad value '%s' for %s: %s", shown,
           al ? al->name : k->name, exp);
    return BS_ECONFIG;
}

/* ------------------------------------------------------------------ */
/* Init, free, copy, equal                                             */
/* ------------------------------------------------------------------ */

static int set_default(bs_config *cfg, const struct key *k) {
    struct val v;
    if (!parse_value(k, k->def, strlen(k->def), &v)) {
        /* Defaults are ours: only malloc can fail here. */
        return BS_ENOMEM;
    }
    store(cfg, k, &v);
    return 0;
}

void bs_config_init(bs_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    for (size_t i = 0; i < NKEYS; i++) {
        if (set_default(cfg, &keys[i]) != 0) {
            fprintf(stderr, "basalt: out of memory initialising config\n");
            abort();
        }
    }
}

void bs_config_free(bs_config *cfg) {
    if (!cfg) return;
    for (size_t i = 0; i < NKEYS; i++)
        free_field(cfg, &keys[i]);
}

int bs_config_copy(bs_config *dst, const bs_config *src) {
    *dst = *src;
    /* Clear owned pointers first so a failure frees only what we made. */
    for (size_t i = 0; i < NKEYS; i++) {
        const struct key *k = &keys[i];
        if (k->kind == K_STR || k->kind == K_ADDR || k->kind == K_SPECRETRY ||
            k->kind == K_ADDRLIST || k->kind == K_TOKENS)
            *(void **)field(dst, k->off) = NULL;
        if (k->kind == K_ADDRLIST || k->kind == K_TOKENS)
            *(size_t *)field(dst, k->off_n) = 0;
    }
    for (size_t i = 0; i < NKEYS; i++) {
        const struct key *k = &keys[i];
        const void *sf = cfield(src, k->off);
        void *df = field(dst, k->off);
        if (k->kind == K_STR || k->kind == K_ADDR || k->kind == K_SPECRETRY) {
            const char *s = *(char *const *)sf;
            if (!(*(char **)df = strdup(s ? s : ""))) goto nomem;
        } else if (k->kind == K_ADDRLIST) {
            size_t n = *(const size_t *)cfield(src, k->off_n);
            char **sl = *(char **const *)sf;
            char **dl = calloc(n ? n : 1, sizeof *dl);
            if (!dl) goto nomem;
            *(char ***)df = dl;
            for (size_t j = 0; j < n; j++) {
                if (!(dl[j] = strdup(sl[j]))) goto nomem;
                *(size_t *)field(dst, k->off_n) = j + 1;
            }
        } else if (k->kind == K_TOKENS) {
            size_t n = *(const size_t *)cfield(src, k->off_n);
            if (n) {
                int64_t *t = malloc(n * sizeof *t);
                if (!t) goto nomem;
                memcpy(t, *(int64_t *const *)sf, n * sizeof *t);
                *(int64_t **)df = t;
                *(size_t *)field(dst, k->off_n) = n;
            }
        }
    }
    return 0;
nomem:
    bs_config_free(dst);
    return BS_ENOMEM;
}

static bool key_equal(const bs_config *a, const bs_config *b,
                      const struct key *k) {
    const void *fa = cfield(a, k->off), *fb = cfield(b, k->off);
    switch (k->kind) {
    case K_STR:
    case K_ADDR:
    case K_SPECRETRY:
        return strcmp(*(char *const *)fa, *(char *const *)fb) == 0;
    case K_ADDRLIST: {
        size_t n = *(const size_t *)cfield(a, k->off_n);
        if (n != *(const size_t *)cfield(b, k->off_n)) return false;
        for (size_t i = 0; i < n; i++)
            if (strcmp((*(char **const *)fa)[i], (*(char **const *)fb)[i]))
                return false;
        return true;
    }
    case K_TOKENS: {
        size_t n = *(const size_t *)cfield(a, k->off_n);
        if (n != *(const size_t *)cfield(b, k->off_n)) return false;
        return n == 0 || memcmp(*(int64_t *const *)fa, *(int64_t *const *)fb,
                                n * sizeof(int64_t)) == 0;
    }
    case K_INT:
    case K_ENUM: return memcmp(fa, fb, sizeof(int)) == 0;
    case K_INT64:
    case K_DURATION:
    case K_SIZE: return memcmp(fa, fb, 8) == 0;
    case K_BOOL: return *(const bool *)fa == *(const bool *)fb;
    case K_DOUBLE: return *(const double *)fa == *(const double *)fb;
    }
    return false;
}

bool bs_config_equal(const bs_config *a, const bs_config *b) {
    for (size_t i = 0; i < NKEYS; i++)
        if (!key_equal(a, b, &keys[i])) return false;
    return true;
}

size_t bs_config_key_count(void) {
    return NKEYS;
}

const char *bs_config_key_name(size_t i) {
    return i < NKEYS ? keys[i].name : NULL;
}

/* ------------------------------------------------------------------ */
/* Cross-field validation                                              */
/* ------------------------------------------------------------------ */

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* On failure *bad names the key the message is about (for a line). */
/* The TLS groups: what is enabled has the files it needs.  The files
 * themselves are read (and their errors reported) at start-up. */
static int validate_tls(const bs_config *c, const char **bad, char *err,
                        size_t errlen) {
    struct {
        const char *group;
        bool on, need_ca;
        const char *cert, *ca;
    } g[] = {
        {"client_encryption_options", c->client_enc_enabled,
         c->client_enc_require_client_auth, c->client_enc_certfile,
         c->client_enc_cafile},
        {"server_encryption_options",
         c->internode_encryption != BS_INTERNODE_ENC_NONE,
         c->internode_encryption != BS_INTERNODE_ENC_NONE,
         c->server_enc_certfile, c->server_enc_cafile},
        {"admin_encryption_options", c->admin_enc_enabled,
         c->admin_enc_require_client_auth, c->admin_enc_certfile,
         c->admin_enc_cafile},
        {"http_encryption_options", c->http_enc_enabled,
         c->http_enc_require_client_auth, c->http_enc_certfile,
         c->http_enc_cafile},
    };
    /* errors point at the key that turned TLS on (the missing file has
     * no line) */
    static const char *const onkey[] = {
        "client_encryption_options.enabled",
        "server_encryption_options.internode_encryption",
        "admin_encryption_options.enabled",
        "http_encryption_options.enabled"};
    for (size_t i = 0; i < sizeof g / sizeof g[0]; i++) {
        if (!g[i].on) continue;
        if (!g[i].cert[0]) {
            *bad = onkey[i];
            seterr(err, errlen, "%s: TLS is enabled but certfile is not set",
                   g[i].group);
            return BS_ECONFIG;
        }
        if (g[i].need_ca && !g[i].ca[0]) {
            *bad = onkey[i];
            seterr(err, errlen,
                   "%s: verifying peer certificates needs cafile (the CA "
                   "that signs them)",
                   g[i].group);
            return BS_ECONFIG;
        }
    }
    return 0;
}

static int validate(const bs_config *c, const char **bad, char *err,
                    size_t errlen) {
    *bad = NULL;
    if (c->authorizer % 2 && !(c->authenticator % 2)) {
        *bad = "authorizer";
        seterr(err, errlen, "CassandraAuthorizer needs authenticator: PasswordAuthenticator");
        return BS_ECONFIG;
    }
    if (!c->data_directory || !c->data_directory[0]) {
        *bad = "data_directory";
        seterr(err, errlen, "data_directory must not be empty");
        return BS_ECONFIG;
    }
    if (addr_is_wildcard(c->listen_address)) {
        *bad = "listen_address";
        seterr(err, errlen,
               "listen_address cannot be a wildcard address "
               "(%s)",
               c->listen_address);
        return BS_ECONFIG;
    }
    if (c->broadcast_address[0] && addr_is_wildcard(c->broadcast_address)) {
        *bad = "broadcast_address";
        seterr(err, errlen,
               "broadcast_address cannot be a wildcard address "
               "(%s)",
               c->broadcast_address);
        return BS_ECONFIG;
    }
    if (c->broadcast_rpc_address[0] &&
        addr_is_wildcard(c->broadcast_rpc_address)) {
        *bad = "broadcast_rpc_address";
        seterr(err, errlen,
               "broadcast_rpc_address cannot be a wildcard "
               "address (%s)",
               c->broadcast_rpc_address);
        return BS_ECONFIG;
    }
    if (addr_is_wildcard(c->rpc_address) && !c->broadcast_rpc_address[0]) {
        *bad = "rpc_address";
        seterr(err, errlen,
               "rpc_address %s is a wildcard address: set "
               "broadcast_rpc_address to the address drivers should use",
               c->rpc_address);
        return BS_ECONFIG;
    }
    struct {
        const char *port_key;
        int port;
        const char *addr_key;
        const char *addr;
    } ep[] = {
        {"native_transport_port", c->native_transport_port, "rpc_address",
         c->rpc_address},
        {"storage_port", c->storage_port, "listen_address", c->listen_address},
        {"http_port", c->http_port, "rpc_address", c->rpc_address},
        {"admin_port", c->admin_port, "admin_address", c->admin_address},
    };
    size_t nep = sizeof ep / sizeof ep[0];
    for (size_t i = 0; i < nep; i++) {
        if (ep[i].port < 1 || ep[i].port > 65535) {
            *bad = ep[i].port_key;
            seterr(err, errlen, "%s %d is not a port 1..65535", ep[i].port_key,
                   ep[i].port);
            return BS_ECONFIG;
        }
    }
    for (size_t i = 0; i < nep; i++) {
        for (size_t j = i + 1; j < nep; j++) {
            if (ep[i].port != ep[j].port) continue;
            struct in6_addr a, b;
            bool pa = parse_addr(ep[i].addr, strlen(ep[i].addr), &a);
            bool pb = parse_addr(ep[j].addr, strlen(ep[j].addr), &b);
            bool same = !pa || !pb || memcmp(&a, &b, sizeof a) == 0 ||
                        addr_is_wildcard(ep[i].addr) ||
                        addr_is_wildcard(ep[j].addr);
            if (same) {
                *bad = ep[j].port_key;
                seterr(err, errlen,
                       "%s %d conflicts with %s %d: both listen "
                       "on %s (%s) and %s (%s)",
                       ep[j].port_key, ep[j].port, ep[i].port_key, ep[i].port,
                       ep[j].addr, ep[j].addr_key, ep[i].addr, ep[i].addr_key);
                return BS_ECONFIG;
            }
        }
    }
    int rc = validate_tls(c, bad, err, errlen);
    if (rc) return rc;
    if (c->n_initial_tokens > 0) {
        if (c->n_initial_tokens != (size_t)c->num_tokens) {
            *bad = "initial_token";
            seterr(err, errlen,
                   "initial_token lists %zu tokens but "
                   "num_tokens is %d",
                   c->n_initial_tokens, c->num_tokens);
            return BS_ECONFIG;
        }
        int64_t *t = malloc(c->n_initial_tokens * sizeof *t);
        if (!t) return BS_ENOMEM;
        memcpy(t, c->initial_tokens, c->n_initial_tokens * sizeof *t);
        qsort(t, c->n_initial_tokens, sizeof *t, cmp_i64);
        /* the ring's minimum token marks its start: no node owns it
         * (ring/tokenmeta.h), a node announcing it was left out */
        if (t[0] == INT64_MIN) {
            *bad = "initial_token";
            seterr(err, errlen,
                   "initial_token lists -9223372036854775808, the minimum "
                   "token, which no node may own (use -9223372036854775807)");
            free(t);
            return BS_ECONFIG;
        }
        for (size_t i = 1; i < c->n_initial_tokens; i++) {
            if (t[i] == t[i - 1]) {
                *bad = "initial_token";
                seterr(err, errlen, "initial_token lists token %lld twice",
                       (long long)t[i]);
                free(t);
                return BS_ECONFIG;
            }
        }
        free(t);
    }
    if (c->n_seeds < 1) {
        *bad = "seeds";
        seterr(err, errlen, "seeds must name at least one address");
        return BS_ECONFIG;
    }
    return 0;
}

int bs_config_validate(const bs_config *cfg, char *err, size_t errlen) {
    const char *bad;
    return validate(cfg, &bad, err, errlen);
}

/* ------------------------------------------------------------------ */
/* YAML loading                                                        */
/* ------------------------------------------------------------------ */

struct loadctx {
    const char *name;
    yaml_document_t *doc;
    bs_config *cfg;
    char *err;
    size_t errlen;
    /* Where each primary key was set in this file (line 0 = not set). */
    size_t line[NKEYS], col[NKEYS];
    const char *set_as[NKEYS];
};

static size_t key_index(const struct key *k) {
    return (size_t)(k - keys);
}

static void errat(struct loadctx *L, const yaml_node_t *node, const char *fmt,
                  ...) __attribute__((format(printf, 3, 4)));
static void errat(struct loadctx *L, const yaml_node_t *node, const char *fmt,
                  ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    seterr(L->err, L->errlen, "%s:%zu:%zu: %s", L->name,
           node->start_mark.line + 1, node->start_mark.column + 1, msg);
}

static bool scalar_is_null(const yaml_node_t *n) {
    if (n->type != YAML_SCALAR_NODE ||
        n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    const char *s = (const char *)n->data.scalar.value;
    size_t len = n->data.scalar.length;
    return len == 0 || (len == 1 && s[0] == '~') ||
           (len == 4 &&
            (memcmp(s, "null", 4) == 0 || memcmp(s, "Null", 4) == 0 ||
             memcmp(s, "NULL", 4) == 0));
}

/* Parses a scalar value node for key k/alias al and stores it. */
static int load_scalar(struct loadctx *L, const struct key *k,
                       const struct alias *al, const yaml_node_t *vn) {
    char why[400];
    struct val v;
    int rc = parse_for(k, al, (const char *)vn->data.scalar.value,
                       vn->data.scalar.length, &v, why, sizeof why);
    if (rc == BS_ENOMEM) {
        seterr(L->err, L->errlen, "%s: out of memory", L->name);
        return rc;
    }
    if (rc) {
        errat(L, vn, "%s", why);
        return rc;
    }
    store(L->cfg, k, &v);
    return 0;
}

/* A sequence of scalars joined with commas (seeds: [a, b]). */
static int join_sequence(struct loadctx *L, const char *keyname,
                         const yaml_node_t *seq, bs_buf *out) {
    for (yaml_node_item_t *it = seq->data.sequence.items.start;
         it < seq->data.sequence.items.top; it++) {
        yaml_node_t *item = yaml_document_get_node(L->doc, *it);
        if (!item || item->type != YAML_SCALAR_NODE) {
            errat(L, item ? item : seq,
                  "bad value for %s: list items must "
                  "be plain values",
                  keyname);
            return BS_ECONFIG;
        }
        if ((out->len && bs_buf_append_str(out, ",")) ||
            bs_buf_append(out, item->data.scalar.value,
                          item->data.scalar.length))
            return BS_ENOMEM;
    }
    return 0;
}

static int load_from_text(struct loadctx *L, const struct key *k,
                          const struct alias *al, const yaml_node_t *at,
                          const char *s, size_t n) {
    yaml_node_t tmp = *at;
    tmp.type = YAML_SCALAR_NODE;
    tmp.data.scalar.value = (yaml_char_t *)s;
    tmp.data.scalar.length = n;
    return load_scalar(L, k, al, &tmp);
}

static yaml_node_t *map_get(struct loadctx *L, const yaml_node_t *map,
                            const char *name) {
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start;
         p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = yaml_document_get_node(L->doc, p->key);
        if (kn && kn->type == YAML_SCALAR_NODE &&
            kn->data.scalar.length == strlen(name) &&
            memcmp(kn->data.scalar.value, name, strlen(name)) == 0)
            return yaml_document_get_node(L->doc, p->value);
    }
    return NULL;
}

/* Every key of `map` must be in `allowed`. */
static int check_keys(struct loadctx *L, const yaml_node_t *map,
                      const char *where, const char *const *allowed) {
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start;
         p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = yaml_document_get_node(L->doc, p->key);
        bool ok = false;
        if (kn && kn->type == YAML_SCALAR_NODE) {
            for (size_t i = 0; allowed[i]; i++)
                if (kn->data.scalar.length == strlen(allowed[i]) &&
                    memcmp(kn->data.scalar.value, allowed[i],
                           kn->data.scalar.length) == 0)
                    ok = true;
        }
        if (!ok) {
            char shown[128] = "?";
            if (kn && kn->type == YAML_SCALAR_NODE)
                printable((const char *)kn->data.scalar.value,
                          kn->data.scalar.length, shown, sizeof shown);
            errat(L, kn ? kn : map, "unknown key '%s' in %s", shown, where);
            return BS_ECONFIG;
        }
    }
    return 0;
}

/* seed_provider:
 *   - class_name: org.apache.cassandra.locator.SimpleSeedProvider
 *     parameters:
 *       - seeds: "127.0.0.1,127.0.0.2"                                */
static int load_seed_provider(struct loadctx *L, const struct key *k,
                              const yaml_node_t *vn) {
    static const char *const prov_keys[] = {"class_name", "parameters", NULL};
    static const char *const param_keys[] = {"seeds", NULL};
    if (vn->type != YAML_SEQUENCE_NODE ||
        vn->data.sequence.items.top - vn->data.sequence.items.start != 1) {
        errat(L, vn,
              "bad value for seed_provider: expected a list of one "
              "provider: [{class_name: SimpleSeedProvider, parameters: "
              "[{seeds: \"a,b\"}]}]");
        return BS_ECONFIG;
    }
    yaml_node_t *prov =
        yaml_document_get_node(L->doc, *vn->data.sequence.items.start);
    if (!prov || prov->type != YAML_MAPPING_NODE) {
        errat(L, prov ? prov : vn,
              "bad value for seed_provider: expected a "
              "mapping with class_name and parameters");
        return BS_ECONFIG;
    }
    int rc = check_keys(L, prov, "seed_provider", prov_keys);
    if (rc) return rc;
    yaml_node_t *cls = map_get(L, prov, "class_name");
    if (cls) {
        const char *want = "SimpleSeedProvider";
        size_t wl = strlen(want);
        bool ok =
            cls->type == YAML_SCALAR_NODE && cls->data.scalar.length >= wl &&
            memcmp(cls->data.scalar.value + cls->data.scalar.length - wl, want,
                   wl) == 0 &&
            (cls->data.scalar.length == wl ||
             cls->data.scalar.value[cls->data.scalar.length - wl - 1] == '.');
        if (!ok) {
            char shown[128] = "(not a scalar)";
            if (cls->type == YAML_SCALAR_NODE)
                printable((const char *)cls->data.scalar.value,
                          cls->data.scalar.length, shown, sizeof shown);
            errat(L, cls,
                  "bad value '%s' for seed_provider class_name: only "
                  "SimpleSeedProvider is supported",
                  shown);
            return BS_ECONFIG;
        }
    }
    yaml_node_t *params = map_get(L, prov, "parameters");
    if (!params || params->type != YAML_SEQUENCE_NODE ||
        params->data.sequence.items.top - params->data.sequence.items.start !=
            1) {
        errat(L, params ? params : prov,
              "bad value for seed_provider: "
              "parameters must be a list of one mapping [{seeds: \"a,b\"}]");
        return BS_ECONFIG;
    }
    yaml_node_t *pm =
        yaml_document_get_node(L->doc, *params->data.sequence.items.start);
    if (!pm || pm->type != YAML_MAPPING_NODE) {
        errat(L, pm ? pm : params,
              "bad value for seed_provider parameters: "
              "expected a mapping {seeds: \"a,b\"}");
        return BS_ECONFIG;
    }
    if ((rc = check_keys(L, pm, "seed_provider parameters", param_keys)))
        return rc;
    yaml_node_t *seeds = map_get(L, pm, "seeds");
    if (!seeds) {
        errat(L, pm, "seed_provider parameters need a seeds entry");
        return BS_ECONFIG;
    }
    if (seeds->type == YAML_SCALAR_NODE) return load_scalar(L, k, NULL, seeds);
    if (seeds->type == YAML_SEQUENCE_NODE) {
        bs_buf b = BS_BUF_INIT;
        rc = join_sequence(L, "seeds", seeds, &b);
        if (rc == 0)
            rc = load_from_text(L, k, NULL, seeds, (const char *)b.data, b.len);
        bs_buf_free(&b);
        return rc;
    }
    errat(L, seeds, "bad value for seeds: expected a comma-separated string");
    return BS_ECONFIG;
}

static int load_pair(struct loadctx *L, yaml_node_t *kn, yaml_node_t *vn);

/* The nested option groups of cassandra.yaml whose keys are in the table
 * as "<group>.<key>". */
static const char *const option_groups[] = {"client_encryption_options",
                                            "server_encryption_options",
                                            "admin_encryption_options",
                                            "http_encryption_options", NULL};

/* group: {key: value, ...} -> each pair loaded as "group.key: value".  The
 * value of a pair is loaded by load_pair, which refuses a mapping for
 * every table key, so this never nests deeper than one level. */
static int load_group(struct loadctx *L, const char *group, yaml_node_t *vn) {
    if (scalar_is_null(vn)) return 0;
    if (vn->type != YAML_MAPPING_NODE) {
        errat(L, vn, "bad value for %s: expected a mapping of options "
                     "(enabled: true, ...)", group);
        return BS_ECONFIG;
    }
    for (yaml_node_pair_t *p = vn->data.mapping.pairs.start;
         p < vn->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = yaml_document_get_node(L->doc, p->key);
        yaml_node_t *v = yaml_document_get_node(L->doc, p->value);
        if (!kn || !v) return BS_EINTERNAL;
        if (kn->type != YAML_SCALAR_NODE) {
            errat(L, kn, "keys in %s must be plain names", group);
            return BS_ECONFIG;
        }
        char name[128];
        size_t gl = strlen(group), sl = kn->data.scalar.length;
        if (gl + 1 + sl >= sizeof name || memchr(kn->data.scalar.value, '.', sl)) {
            char shown[128];
            printable((const char *)kn->data.scalar.value, sl, shown, sizeof shown);
            errat(L, kn, "unknown key '%s' in %s", shown, group);
            return BS_ECONFIG;
        }
        memcpy(name, group, gl);
        name[gl] = '.';
        memcpy(name + gl + 1, kn->data.scalar.value, sl);
        name[gl + 1 + sl] = '\0';
        yaml_node_t tmp = *kn;
        tmp.data.scalar.value = (yaml_char_t *)name;
        tmp.data.scalar.length = gl + 1 + sl;
        int rc = load_pair(L, &tmp, v);
        if (rc) return rc;
    }
    return 0;
}

static int load_pair(struct loadctx *L, yaml_node_t *kn, yaml_node_t *vn) {
    if (kn->type == YAML_SCALAR_NODE) {
        for (size_t i = 0; option_groups[i]; i++)
            if (kn->data.scalar.length == strlen(option_groups[i]) &&
                memcmp(kn->data.scalar.value, option_groups[i], kn->data.scalar.length) == 0)
                return load_group(L, option_groups[i], vn);
    }
    if (kn->type != YAML_SCALAR_NODE) {
        errat(L, kn, "keys must be plain names, not a %s",
              kn->type == YAML_MAPPING_NODE ? "mapping" : "list");
        return BS_ECONFIG;
    }
    const char *name = (const char *)kn->data.scalar.value;
    size_t nlen = kn->data.scalar.length;
    const struct alias *al;
    const struct key *k = find_key(name, nlen, &al);
    if (!k) {
        char shown[128];
        printable(name, nlen, shown, sizeof shown);
        errat(L, kn, "unknown key '%s'", shown);
        return BS_ECONFIG;
    }
    const char *as = al ? al->name : k->name;
    size_t ki = key_index(k);
    if (L->line[ki]) {
        if (strcmp(L->set_as[ki], as) == 0)
            errat(L, kn, "duplicate key '%s' (first set at line %zu)", as,
                  L->line[ki]);
        else
            errat(L, kn,
                  "key '%s' conflicts with '%s' at line %zu (both set "
                  "%s)",
                  as, L->set_as[ki], L->line[ki], k->name);
        return BS_ECONFIG;
    }
    L->line[ki] = kn->start_mark.line + 1;
    L->col[ki] = kn->start_mark.column + 1;
    L->set_as[ki] = as;

    if (scalar_is_null(vn)) {
        if (set_default(L->cfg, k)) {
            seterr(L->err, L->errlen, "%s: out of memory", L->name);
            return BS_ENOMEM;
        }
        return 0;
    }
    if (al && al->conv == AL_SEED_PROVIDER) return load_seed_provider(L, k, vn);
    if (vn->type == YAML_SCALAR_NODE) return load_scalar(L, k, al, vn);
    if (vn->type == YAML_SEQUENCE_NODE) {
        size_t n = (size_t)(vn->data.sequence.items.top -
                            vn->data.sequence.items.start);
        if (al && al->conv == AL_DIRLIST) {
            yaml_node_t *item =
                n == 1 ? yaml_document_get_node(L->doc,
                                                *vn->data.sequence.items.start)
                       : NULL;
            if (!item || item->type != YAML_SCALAR_NODE) {
                errat(L, vn,
                      "bad value for %s: Basalt keeps one data "
                      "directory; expected a list of exactly one path",
                      al->name);
                return BS_ECONFIG;
            }
            return load_scalar(L, k, NULL, item);
        }
        if (k->kind == K_ADDRLIST || k->kind == K_TOKENS ||
            !strcmp(k->name, "hinted_handoff_disabled_datacenters")) {
            bs_buf b = BS_BUF_INIT;
            int rc = join_sequence(L, as, vn, &b);
            if (rc == 0)
                rc = load_from_text(L, k, al, vn, b.data ? (char *)b.data : "",
                                    b.len);
            if (rc == BS_ENOMEM)
                seterr(L->err, L->errlen, "%s: out of memory", L->name);
            bs_buf_free(&b);
            return rc;
        }
    }
    char exp[200];
    expected(k, exp, sizeof exp);
    errat(L, vn, "bad value for %s: a %s is not allowed here; %s", as,
          vn->type == YAML_MAPPING_NODE ? "mapping" : "list", exp);
    return BS_ECONFIG;
}

/* Line/column of a byte offset (for libyaml reader errors, which carry
 * only an offset). */
static void offset_to_linecol(const char *text, size_t len, size_t off,
                              size_t *line, size_t *col) {
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < off && i < len; i++) {
        if (text[i] == '\n') {
            (*line)++;
            *col = 1;
        } else if (((unsigned char)text[i] & 0xc0) != 0x80)
            (*col)++;
    }
}

static void yaml_error(const yaml_parser_t *p, const char *text, size_t len,
                       const char *name, char *err, size_t errlen) {
    const char *problem = p->problem ? p->problem : "malformed YAML";
    if (p->error == YAML_MEMORY_ERROR) {
        seterr(err, errlen, "%s: out of memory parsing YAML", name);
    } else if (p->error == YAML_READER_ERROR) {
        size_t line, col;
        offset_to_linecol(text, len, p->problem_offset, &line, &col);
        seterr(err, errlen, "%s:%zu:%zu: YAML syntax error: %s", name, line,
               col, problem);
    } else if (p->context) {
        seterr(err, errlen, "%s:%zu:%zu: YAML syntax error: %s %s (line %zu)",
               name, p->problem_mark.line + 1, p->problem_mark.column + 1,
               problem, p->context, p->context_mark.line + 1);
    } else {
        seterr(err, errlen, "%s:%zu:%zu: YAML syntax error: %s", name,
               p->problem_mark.line + 1, p->problem_mark.column + 1, problem);
    }
}

/* Applies the YAML text to cfg in place (no validation, no copy). */
static int apply_yaml(struct loadctx *L, const char *text, size_t len) {
    if (len > BS_CONFIG_MAX_FILE) {
        seterr(L->err, L->errlen, "%s: configuration larger than %u bytes",
               L->name, BS_CONFIG_MAX_FILE);
        return BS_ECONFIG;
    }
    yaml_parser_t p;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&p)) return BS_ENOMEM;
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    if (!yaml_parser_load(&p, &doc)) {
        yaml_error(&p, text, len, L->name, L->err, L->errlen);
        int rc = p.error == YAML_MEMORY_ERROR ? BS_ENOMEM : BS_ECONFIG;
        yaml_parser_delete(&p);
        return rc;
    }
    L->doc = &doc;
    int rc = 0;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root && scalar_is_null(root)) root = NULL; /* a file of comments */
    if (root && root->type != YAML_MAPPING_NODE) {
        errat(L, root,
              "expected a mapping of 'key: value' lines at the top "
              "level");
        rc = BS_ECONFIG;
    }
    for (yaml_node_pair_t *pr = root && rc == 0 ? root->data.mapping.pairs.start
                                                : NULL;
         pr && pr < root->data.mapping.pairs.top && rc == 0; pr++) {
        yaml_node_t *kn = yaml_document_get_node(&doc, pr->key);
        yaml_node_t *vn = yaml_document_get_node(&doc, pr->value);
        if (!kn || !vn) {
            rc = BS_EINTERNAL;
            break;
        }
        rc = load_pair(L, kn, vn);
    }
    yaml_document_delete(&doc);
    L->doc = NULL;
    if (rc == 0) { /* a second document is a mistake, not something to skip */
        if (!yaml_parser_load(&p, &doc)) {
            yaml_error(&p, text, len, L->name, L->err, L->errlen);
            rc = p.error == YAML_MEMORY_ERROR ? BS_ENOMEM : BS_ECONFIG;
        } else {
            yaml_node_t *r2 = yaml_document_get_root_node(&doc);
            if (r2) {
                L->doc = &doc;
                errat(L, r2, "only one YAML document is allowed");
                L->doc = NULL;
                rc = BS_ECONFIG;
            }
            yaml_document_delete(&doc);
        }
    }
    yaml_parser_delete(&p);
    return rc;
}

static int validate_with_lines(const bs_config *c, const struct loadctx *L,
                               char *err, size_t errlen) {
    char msg[512];
    const char *bad;
    int rc = validate(c, &bad, msg, sizeof msg);
    if (rc == 0) return 0;
    if (rc == BS_ENOMEM) {
        seterr(err, errlen, "out of memory");
        return rc;
    }
    const struct key *k = bad ? find_primary(bad, strlen(bad)) : NULL;
    if (L && k && L->line[key_index(k)])
        seterr(err, errlen, "%s:%zu:%zu: %s", L->name, L->line[key_index(k)],
               L->col[key_index(k)], msg);
    else if (L)
        seterr(err, errlen, "%s: %s", L->name, msg);
    else
        seterr(err, errlen, "%s", msg);
    return rc;
}

int bs_config_load_string(const char *text, size_t len, const char *name,
                          bs_config *cfg, char *err, size_t errlen) {
    bs_config tmp;
    if (bs_config_copy(&tmp, cfg)) {
        seterr(err, errlen, "out of memory");
        return BS_ENOMEM;
    }
    struct loadctx *L = calloc(1, sizeof *L);
    if (!L) {
        bs_config_free(&tmp);
        seterr(err, errlen, "out of memory");
        return BS_ENOMEM;
    }
    L->name = name ? name : "config";
    L->cfg = &tmp;
    L->err = err;
    L->errlen = errlen;
    int rc = apply_yaml(L, text ? text : "", text ? len : 0);
    if (rc == 0) rc = validate_with_lines(&tmp, L, err, errlen);
    free(L);
    if (rc) {
        bs_config_free(&tmp);
        return rc;
    }
    bs_config_free(cfg);
    *cfg = tmp;
    return 0;
}

static int read_file(const char *path, char **out, size_t *len, char *err,
                     size_t errlen) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        seterr(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return BS_EIO;
    }
    bs_buf b = BS_BUF_INIT;
    int rc = 0;
    for (;;) {
        uint8_t *p = bs_buf_extend(&b, 65536);
        if (!p) {
            rc = BS_ENOMEM;
            break;
        }
        size_t n = fread(p, 1, 65536, f);
        b.len -= 65536 - n;
        if (b.len > BS_CONFIG_MAX_FILE) {
            seterr(err, errlen, "%s: configuration larger than %u bytes", path,
                   BS_CONFIG_MAX_FILE);
            rc = BS_ECONFIG;
            break;
        }
        if (n == 0) {
            if (ferror(f)) {
                seterr(err, errlen, "%s: read error: %s", path,
                       strerror(errno));
                rc = BS_EIO;
            }
            break;
        }
    }
    fclose(f);
    if (rc) {
        if (rc == BS_ENOMEM) seterr(err, errlen, "%s: out of memory", path);
        bs_buf_free(&b);
        return rc;
    }
    *len = b.len;
    *out = (char *)bs_buf_steal(&b, len);
    return 0;
}

int bs_config_load_file(const char *path, bs_config *cfg, char *err,
                        size_t errlen) {
    char *text = NULL;
    size_t len = 0;
    int rc = read_file(path, &text, &len, err, errlen);
    if (rc) return rc;
    rc = bs_config_load_string(text, len, path, cfg, err, errlen);
    free(text);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Command-line flags                                                  */
/* ------------------------------------------------------------------ */

/* Normalises a flag name (dashes -> underscores) into buf. */
static bool flag_to_key(const char *s, size_t n, char *buf, size_t cap) {
    if (n == 0 || n >= cap) return false;
    for (size_t i = 0; i < n; i++)
        buf[i] = s[i] == '-' ? '_' : s[i];
    buf[n] = '\0';
    return true;
}

static int set_named(bs_config *cfg, const char *flag, size_t flen,
                     const char *shown_flag, const char *value, char *err,
                     size_t errlen) {
    char name[128], shown[128], why[400];
    const struct alias *al = NULL;
    const struct key *k = NULL;
    if (flag_to_key(flag, flen, name, sizeof name))
        k = find_key(name, strlen(name), &al);
    if (!k) {
        printable(shown_flag, strlen(shown_flag), shown, sizeof shown);
        seterr(err, errlen, "unknown option '%s' (see --help)", shown);
        return BS_ECONFIG;
    }
    if (al && al->conv == AL_SEED_PROVIDER) {
        seterr(err, errlen,
               "%s: seed_provider cannot be set from the command "
               "line; use --seeds",
               shown_flag);
        return BS_ECONFIG;
    }
    struct val v;
    int rc = parse_for(k, al, value, strlen(value), &v, why, sizeof why);
    if (rc == BS_ENOMEM) {
        seterr(err, errlen, "out of memory");
        return rc;
    }
    if (rc) {
        printable(shown_flag, strlen(shown_flag), shown, sizeof shown);
        seterr(err, errlen, "%s: %s", shown, why);
        return rc;
    }
    store(cfg, k, &v);
    return 0;
}

int bs_config_set(bs_config *cfg, const char *key, const char *value, char *err,
                  size_t errlen) {
    return set_named(cfg, key, strlen(key), key, value, err, errlen);
}

static bool is_config_flag(const char *a) {
    return strcmp(a, "-f") == 0 || strcmp(a, "--config") == 0;
}

static bool is_help_flag(const char *a) {
    return strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0;
}

bool bs_config_args_want_help(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (is_help_flag(argv[i])) return true;
        if (is_config_flag(argv[i])) i++;
    }
    return false;
}

int bs_config_args_config_path(int argc, char **argv, const char **path_out,
                               char *err, size_t errlen) {
    *path_out = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (is_config_flag(a)) {
            if (i + 1 >= argc) {
                seterr(err, errlen, "%s: missing file name", a);
                return BS_ECONFIG;
            }
            *path_out = argv[++i];
        } else if (strncmp(a, "--config=", 9) == 0) {
            if (!a[9]) {
                seterr(err, errlen, "--config: missing file name");
                return BS_ECONFIG;
            }
            *path_out = a + 9;
        } else if (strncmp(a, "--", 2) == 0 && !strchr(a, '=') &&
                   !is_help_flag(a) && i + 1 < argc) {
            i++; /* "--key value": skip the value */
        }
    }
    return 0;
}

static int apply_args(bs_config *cfg, int argc, char **argv, char *err,
                      size_t errlen) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (is_config_flag(a)) {
            if (i + 1 >= argc) {
                seterr(err, errlen, "%s: missing file name", a);
                return BS_ECONFIG;
            }
            i++;
            continue;
        }
        if (strncmp(a, "--config=", 9) == 0 || is_help_flag(a)) continue;
        if (strncmp(a, "--", 2) != 0 || a[2] == '\0') {
            char shown[128];
            printable(a, strlen(a), shown, sizeof shown);
            seterr(err, errlen,
                   "unexpected argument '%s' (options are "
                   "--key=value or --key value; see --help)",
                   shown);
            return BS_ECONFIG;
        }
        const char *name = a + 2;
        const char *eq = strchr(name, '=');
        const char *value;
        char shown_flag[160];
        size_t flen = eq ? (size_t)(eq - name) : strlen(name);
        snprintf(shown_flag, sizeof shown_flag, "--%.*s",
                 (int)(flen < 140 ? flen : 140), name);
        if (eq) {
            value = eq + 1;
        } else {
            if (i + 1 >= argc) {
                /* Unknown flags are reported as such before "missing value". */
                char key[128];
                const struct alias *al;
                if (!flag_to_key(name, flen, key, sizeof key) ||
                    !find_key(key, strlen(key), &al)) {
                    char shown[128];
                    printable(a, strlen(a), shown, sizeof shown);
                    seterr(err, errlen, "unknown option '%s' (see --help)",
                           shown);
                } else {
                    seterr(err, errlen, "%s: missing value", shown_flag);
                }
                return BS_ECONFIG;
            }
            value = argv[++i];
        }
        int rc = set_named(cfg, name, flen, shown_flag, value, err, errlen);
        if (rc) return rc;
    }
    return 0;
}

int bs_config_apply_args(bs_config *cfg, int argc, char **argv, char *err,
                         size_t errlen) {
    bs_config tmp;
    if (bs_config_copy(&tmp, cfg)) {
        seterr(err, errlen, "out of memory");
        return BS_ENOMEM;
    }
    int rc = apply_args(&tmp, argc, argv, err, errlen);
    if (rc == 0) rc = validate_with_lines(&tmp, NULL, err, errlen);
    if (rc) {
        bs_config_free(&tmp);
        return rc;
    }
    bs_config_free(cfg);
    *cfg = tmp;
    return 0;
}

int bs_config_load_command_line(bs_config *cfg, int argc, char **argv,
                                char *err, size_t errlen) {
    const char *path;
    int rc = bs_config_args_config_path(argc, argv, &path, err, errlen);
    if (rc) return rc;
    bs_config tmp;
    if (bs_config_copy(&tmp, cfg)) {
        seterr(err, errlen, "out of memory");
        return BS_ENOMEM;
    }
    struct loadctx *L = NULL;
    if (path) {
        char *text = NULL;
        size_t len = 0;
        rc = read_file(path, &text, &len, err, errlen);
        if (rc == 0 && !(L = calloc(1, sizeof *L))) rc = BS_ENOMEM;
        if (rc == 0) {
            L->name = path;
            L->cfg = &tmp;
            L->err = err;
            L->errlen = errlen;
            rc = apply_yaml(L, text, len);
        }
        free(text);
    }
    if (rc == 0) rc = apply_args(&tmp, argc, argv, err, errlen);
    if (rc == 0) rc = validate_with_lines(&tmp, L, err, errlen);
    free(L);
    if (rc) {
        if (rc == BS_ENOMEM) seterr(err, errlen, "out of memory");
        bs_config_free(&tmp);
        return rc;
    }
    bs_config_free(cfg);
    *cfg = tmp;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Text forms: dump, help, Markdown reference                          */
/* ------------------------------------------------------------------ */

/* Appends the text form of cfg's value of k (what a flag would take). */
static int format_value(const bs_config *cfg, const struct key *k,
                        bs_buf *out) {
    const void *f = cfield(cfg, k->off);
    char tmp[64];
    int rc = 0;
    switch (k->kind) {
    case K_STR:
    case K_ADDR:
    case K_SPECRETRY: return bs_buf_append_str(out, *(char *const *)f);
    case K_ADDRLIST: {
        size_t n = *(const size_t *)cfield(cfg, k->off_n);
        for (size_t i = 0; i < n && rc == 0; i++)
            rc = bs_buf_appendf(out, "%s%s", i ? "," : "",
                                (*(char **const *)f)[i]);
        return rc;
    }
    case K_TOKENS: {
        size_t n = *(const size_t *)cfield(cfg, k->off_n);
        for (size_t i = 0; i < n && rc == 0; i++)
            rc = bs_buf_appendf(out, "%s%lld", i ? "," : "",
                                (long long)(*(int64_t *const *)f)[i]);
        return rc;
    }
    case K_INT: {
        int x;
        memcpy(&x, f, sizeof x);
        return bs_buf_appendf(out, "%d", x);
    }
    case K_ENUM: {
        int x;
        memcpy(&x, f, sizeof x);
        size_t n = 0;
        while (k->names[n])
            n++;
        return bs_buf_append_str(out,
                                 x >= 0 && (size_t)x < n ? k->names[x] : "?");
    }
    case K_INT64: {
        int64_t x;
        memcpy(&x, f, sizeof x);
        return bs_buf_appendf(out, "%lld", (long long)x);
    }
    case K_BOOL:
        return bs_buf_append_str(out, *(const bool *)f ? "true" : "false");
    case K_DOUBLE: {
        double d = *(const double *)f;
        snprintf(tmp, sizeof tmp, "%.15g", d);
        if (strtod(tmp, NULL) != d) snprintf(tmp, sizeof tmp, "%.17g", d);
        return bs_buf_append_str(out, tmp);
    }
    case K_DURATION:
        fmt_duration(*(const uint64_t *)f, tmp, sizeof tmp);
        return bs_buf_append_str(out, tmp);
    case K_SIZE:
        fmt_size(*(const uint64_t *)f, tmp, sizeof tmp);
        return bs_buf_append_str(out, tmp);
    }
    return 0;
}

static bool kind_is_text(kind k) {
    return k == K_STR || k == K_ADDR || k == K_ADDRLIST || k == K_TOKENS ||
           k == K_SPECRETRY;
}

static int emit_handler(void *data, unsigned char *buffer, size_t size) {
    return bs_buf_append((bs_buf *)data, buffer, size) == 0;
}

static int emit_scalar(yaml_emitter_t *e, const char *s, size_t n,
                       yaml_scalar_style_t style) {
    yaml_event_t ev;
    if (!yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)s, (int)n,
                                      1, 1, style))
        return 0;
    return yaml_emitter_emit(e, &ev);
}

int bs_config_dump(const bs_config *cfg, bs_buf *out) {
    if (bs_buf_append_str(out, "# Basalt configuration (effective values; "
                               "durations in ms/s/m/h/d, sizes in B/KiB/MiB/"
                               "GiB)\n"))
        return BS_ENOMEM;
    yaml_emitter_t e;
    yaml_event_t ev;
    bs_buf val = BS_BUF_INIT;
    if (!yaml_emitter_initialize(&e)) return BS_ENOMEM;
    yaml_emitter_set_output(&e, emit_handler, out);
    yaml_emitter_set_unicode(&e, 1);
    yaml_emitter_set_width(&e, -1);
    int ok = yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING) &&
             yaml_emitter_emit(&e, &ev) &&
             yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1) &&
             yaml_emitter_emit(&e, &ev) &&
             yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1,
                                                 YAML_BLOCK_MAPPING_STYLE) &&
             yaml_emitter_emit(&e, &ev);
    int rc = 0;
    for (size_t i = 0; i < NKEYS && ok; i++) {
        const struct key *k = &keys[i];
        bs_buf_reset(&val);
        if (format_value(cfg, k, &val) || bs_buf_append_u8(&val, 0)) {
            rc = BS_ENOMEM;
            break;
        }
        ok = emit_scalar(&e, k->name, strlen(k->name),
                         YAML_PLAIN_SCALAR_STYLE) &&
             emit_scalar(&e, (const char *)val.data, val.len - 1,
                         kind_is_text(k->kind) ? YAML_DOUBLE_QUOTED_SCALAR_STYLE
                                               : YAML_PLAIN_SCALAR_STYLE);
    }
    ok = ok && rc == 0 && yaml_mapping_end_event_initialize(&ev) &&
         yaml_emitter_emit(&e, &ev) &&
         yaml_document_end_event_initialize(&ev, 1) &&
         yaml_emitter_emit(&e, &ev) && yaml_stream_end_event_initialize(&ev) &&
         yaml_emitter_emit(&e, &ev) && yaml_emitter_flush(&e);
    if (!ok && rc == 0)
        rc = e.error == YAML_MEMORY_ERROR || e.error == YAML_WRITER_ERROR
                 ? BS_ENOMEM
                 : BS_EINTERNAL;
    yaml_emitter_delete(&e);
    bs_buf_free(&val);
    return rc;
}

/* The value placeholder of --help; an enum's is its names joined by '|'
 * (the Java class-name aliases left out), written into buf. */
static const char *metavar(const struct key *k, char *buf, size_t cap) {
    switch (k->kind) {
    case K_STR: return "TEXT";
    case K_ADDR: return "ADDRESS";
    case K_ADDRLIST: return "ADDRESS[,ADDRESS...]";
    case K_TOKENS: return "TOKEN[,TOKEN...]";
    case K_INT:
    case K_INT64: return "INT";
    case K_BOOL: return "true|false";
    case K_DOUBLE: return "NUMBER";
    case K_DURATION: return "DURATION";
    case K_SIZE: return "SIZE";
    case K_ENUM: {
        size_t n = 0;
        buf[0] = '\0';
        for (const char *const *nm = k->names; nm && *nm; nm++) {
            if (strchr(*nm, '.')) continue;
            int w = snprintf(buf + n, cap - n, "%s%s", n ? "|" : "", *nm);
            if (w < 0 || (size_t)w >= cap - n) break;
            n += (size_t)w;
        }
        return n ? buf : "VALUE";
    }
    case K_SPECRETRY: return "NONE|ALWAYS|Np|Nms";
    }
    return "VALUE";
}

/* Appends text wrapped at ~78 columns, each line indented by `ind`. */
static int append_wrapped(bs_buf *out, const char *text, int ind) {
    int col = 0;
    const char *p = text;
    while (*p) {
        const char *w = p;
        while (*p && *p != ' ')
            p++;
        int wl = (int)(p - w);
        if (col > 0 && col + 1 + wl > 78) {
            if (bs_buf_append_str(out, "\n")) return BS_ENOMEM;
            col = 0;
        }
        if (col == 0) {
            if (bs_buf_appendf(out, "%*s", ind, "")) return BS_ENOMEM;
            col = ind;
        } else {
            if (bs_buf_append_str(out, " ")) return BS_ENOMEM;
            col++;
        }
        if (bs_buf_append(out, w, (size_t)wl)) return BS_ENOMEM;
        col += wl;
        while (*p == ' ')
            p++;
    }
    return bs_buf_append_str(out, "\n");
}

int bs_config_help(const char *prog, bs_buf *out) {
    int rc = bs_buf_appendf(
        out,
        "Usage: %s [-f FILE] [--KEY=VALUE | --KEY VALUE]...\n\n"
        "  -f, --config FILE   read the YAML configuration FILE first\n"
        "  -h, --help          print this help and exit\n\n"
        "Every configuration key is also a flag (dashes or underscores); "
        "flags\noverride the file. Durations take a unit (500ms, 10s, 5m, 3h, "
        "1d), sizes\ntoo (512KiB, 16MiB, 1GiB).\n",
        prog ? prog : "basaltd");
    const char *section = NULL;
    for (size_t i = 0; i < NKEYS && rc == 0; i++) {
        const struct key *k = &keys[i];
        if (!section || strcmp(section, k->section) != 0) {
            section = k->section;
            rc = bs_buf_appendf(out, "\n%s:\n", section);
        }
        char flag[128], mv[256];
        size_t j = 0;
        for (; k->name[j] && j + 1 < sizeof flag; j++)
            flag[j] = k->name[j] == '_' ? '-' : k->name[j];
        flag[j] = '\0';
        if (rc == 0)
            rc = bs_buf_appendf(out, "  --%s %s  (default: %s)\n", flag,
                                metavar(k, mv, sizeof mv), k->def[0] ? k->def : "\"\"");
        if (rc == 0) rc = append_wrapped(out, k->help, 8);
    }
    if (rc == 0)
        rc = bs_buf_append_str(out, "\nLegacy cassandra.yaml names "
                                    "also accepted:\n");
    for (size_t i = 0; i < NALIASES && rc == 0; i++)
        rc = bs_buf_appendf(out, "  %s -> %s\n", aliases[i].name,
                            aliases[i].target);
    return rc ? BS_ENOMEM : 0;
}

static const char *type_name(const struct key *k) {
    switch (k->kind) {
    case K_STR: return "string";
    case K_ADDR: return "IP address";
    case K_ADDRLIST: return "address list";
    case K_TOKENS: return "token list";
    case K_INT:
    case K_INT64: return "integer";
    case K_BOOL: return "boolean";
    case K_DOUBLE: return "number";
    case K_DURATION: return "duration";
    case K_SIZE: return "size";
    case K_ENUM: return "enum";
    case K_SPECRETRY: return "retry policy";
    }
    return "?";
}

static const char *alias_value(alias_conv c) {
    switch (c) {
    case AL_INT_MS: return "integer milliseconds";
    case AL_INT_KIB: return "integer KiB";
    case AL_INT_MIB: return "integer MiB";
    case AL_DIRLIST: return "list of exactly one path";
    case AL_SEED_PROVIDER:
        return "`[{class_name: ...SimpleSeedProvider, parameters: "
               "[{seeds: \"a,b\"}]}]`";
    case AL_SAME: return "the same (PEM file)";
    }
    return "";
}

int bs_config_reference_markdown(bs_buf *out) {
    int rc = 0;
    const char *section = NULL;
    char exp[200];
    for (size_t i = 0; i < NKEYS && rc == 0; i++) {
        const struct key *k = &keys[i];
        if (!section || strcmp(section, k->section) != 0) {
            section = k->section;
            rc = bs_buf_appendf(out,
                                "%s### %s\n\n"
                                "| Key | Type | Default | Accepted values | "
                                "Meaning |\n"
                                "| --- | --- | --- | --- | --- |\n",
                                i ? "\n" : "", section);
        }
        expected(k, exp, sizeof exp);
        const char *acc = strncmp(exp, "expected ", 9) == 0 ? exp + 9 : exp;
        if (rc == 0)
            rc = bs_buf_appendf(out, "| `%s` | %s | `%s` | %s | %s |\n",
                                k->name, type_name(k),
                                k->def[0] ? k->def : "\"\"", acc, k->help);
    }
    if (rc == 0)
        rc = bs_buf_append_str(out, "\n### Legacy names\n\n"
                                    "| Legacy key | Same as | Value |\n"
                                    "| --- | --- | --- |\n");
    for (size_t i = 0; i < NALIASES && rc == 0; i++)
        rc = bs_buf_appendf(out, "| `%s` | `%s` | %s |\n", aliases[i].name,
                            aliases[i].target, alias_value(aliases[i].conv));
    return rc ? BS_ENOMEM : 0;
}

/* ------------------------------------------------------------------ */
/* Derived values                                                      */
/* ------------------------------------------------------------------ */

int bs_config_apply_runtime(const bs_config *cfg, FILE **log_out, char *err,
                            size_t errlen) {
    FILE *f = NULL;
    *log_out = NULL;
    if (cfg->log_file[0]) {
        f = fopen(cfg->log_file, "a");
        if (!f) {
            seterr(err, errlen, "log_file %s: cannot open: %s", cfg->log_file,
                   strerror(errno));
            return BS_EIO;
        }
        setvbuf(f, NULL, _IOLBF, 0);
    }
    bs_log_set_file(f);
    bs_log_set_level(cfg->log_level);
    bs_clock_set_offset_us(bs_clock_default(), cfg->clock_skew_us);
    *log_out = f;
    return 0;
}

const char *bs_config_broadcast_address(const bs_config *cfg) {
    return cfg->broadcast_address[0] ? cfg->broadcast_address
                                     : cfg->listen_address;
}

const char *bs_config_broadcast_rpc_address(const bs_config *cfg) {
    return cfg->broadcast_rpc_address[0] ? cfg->broadcast_rpc_address
                                         : cfg->rpc_address;
}

int bs_config_io_threads(const bs_config *cfg) {
    if (cfg->io_threads > 0) return cfg->io_threads;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 1024 ? 1024 : (int)n;
}

const char *bs_config_hints_directory(const bs_config *cfg, char *buf,
                                      size_t cap) {
    if (cfg->hints_directory[0]) return cfg->hints_directory;
    int n = snprintf(buf, cap, "%s/hints", cfg->data_directory);
    return n < 0 || (size_t)n >= cap ? NULL : buf;
}

static const char *in_data_dir(const bs_config *cfg, const char *set,
                               const char *name, char *buf, size_t cap) {
    if (set[0]) return set;
    int n = snprintf(buf, cap, "%s/%s", cfg->data_directory, name);
    return n < 0 || (size_t)n >= cap ? NULL : buf;
}

const char *bs_config_cluster_secret_file(const bs_config *cfg, char *buf,
                                          size_t cap) {
    return in_data_dir(cfg, cfg->cluster_secret_file, "cluster_secret", buf,
                       cap);
}

const char *bs_config_admin_token_file(const bs_config *cfg, char *buf,
                                       size_t cap) {
    return in_data_dir(cfg, cfg->admin_token_file, "admin_token", buf, cap);
}
