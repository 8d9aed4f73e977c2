/*
 * config.h - basaltd's configuration: a YAML file in the spirit of
 * cassandra.yaml, every key overridable by a command-line flag.
 *
 * All keys are defined once, in a static table in config.c (name, type,
 * field, default text, range, help).  The YAML loader, the flag parser,
 * --help, the dump and the docs/CONFIG.md reference are all driven by it,
 * so they cannot disagree.
 *
 * Typical start-up (what basaltd's main does):
 *
 *     bs_config cfg;
 *     char err[512];
 *     if (bs_config_args_want_help(argc, argv)) { print bs_config_help; exit 0
 * } bs_config_init(&cfg); if (bs_config_load_command_line(&cfg, argc, argv,
 * err, sizeof err)) { fprintf(stderr, "%s\n", err); exit 1; }
 *     ...
 *     bs_config_free(&cfg);
 *
 * Errors name the source, line and column, the key and the value:
 *     basalt.yaml:12:1: unknown key 'num_tokenz'
 *     basalt.yaml:7:13: bad value 'abc' for num_tokens: expected an
 * integer 1..1024
 *     --num-tokens: bad value 'abc' for num_tokens: expected an integer 1..1024
 * (columns are 1-based; for a bad value they point at the value).
 *
 * Units: durations are stored in milliseconds, sizes in bytes.  In YAML
 * and flags a duration is written with a unit ("3h", "10s", "2000ms";
 * units d h m s ms) and a size as "16MiB" (units B KiB MiB GiB); the
 * legacy Cassandra keys *_in_ms, *_in_kb, *_in_mb take plain integers.
 *
 * Ownership: every char* and array in bs_config is owned by the struct
 * (malloc'd) and released by bs_config_free().  Callers may read fields
 * freely; to change a field from code use bs_config_set(), which keeps
 * ownership straight and validates the value.
 */
#ifndef BS_NODE_CONFIG_H
#define BS_NODE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/buf.h"
#include "common/log.h"

/* commitlog_sync: when a write is acknowledged relative to fsync. */
typedef enum {
    BS_COMMITLOG_PERIODIC = 0, /* ack after the WAL write; fsync every period */
    BS_COMMITLOG_BATCH = 1     /* ack after a group-committed fsync */
} bs_commitlog_sync;

/* server_encryption_options.internode_encryption: which internode
 * connections use TLS (mutually authenticated against the cluster CA). */
typedef enum {
    BS_INTERNODE_ENC_NONE = 0, /* none */
    BS_INTERNODE_ENC_ALL = 1,  /* every connection */
    BS_INTERNODE_ENC_DC = 2,   /* connections between data centers */
    BS_INTERNODE_ENC_RACK = 3  /* connections between racks (and DCs) */
} bs_internode_encryption;

/* internode_compression: which internode frames are lz4-compressed. */
typedef enum {
    BS_INTERNODE_COMP_DC = 0,  /* frames to peers in another data center */
    BS_INTERNODE_COMP_ALL = 1, /* every frame */
    BS_INTERNODE_COMP_NONE = 2 /* none */
} bs_internode_compression;

#define BS_CONFIG_MAX_SEEDS 64
#define BS_CONFIG_MAX_TOKENS 1024     /* num_tokens upper bound */
#define BS_CONFIG_MAX_FILE (1u << 20) /* larger config files are refused */

typedef struct bs_config {
    /* cluster identity and topology */
    char *cluster_name; /* "Test Cluster" */
    char **seeds;       /* IP address strings; n_seeds >= 1 */
    size_t n_seeds;
    char *dc;                                         /* "dc1" */
    char *rack;                                       /* "rack1" */
    int num_tokens;                                   /* 16, 1..1024 */
    int allocate_tokens_for_local_replication_factor; /* 3 */
    int64_t *initial_tokens; /* NULL/0 = allocate; else n == num_tokens */
    size_t n_initial_tokens;

    /* addresses and ports; "" in broadcast_* means "same as listen/rpc" */
    char *listen_address;        /* internode; "127.0.0.1" */
    char *broadcast_address;     /* "" */
    char *rpc_address;           /* CQL + HTTP; "127.0.0.1" */
    char *broadcast_rpc_address; /* "" */
    int native_transport_port;   /* 9042, on rpc_address */
    int storage_port;            /* 7000, on listen_address */
    uint64_t internode_tcp_connect_timeout_ms; /* 2000 */
    uint64_t internode_tcp_user_timeout_ms;    /* 10000; 0 = kernel's */
    int http_port;               /* 8086, on rpc_address */
    char *admin_address;         /* "127.0.0.1" */
    int admin_port;              /* 7199, on admin_address */
    int admin_max_connections_per_ip; /* 16; 0 = unlimited */

    /* security; "" = a file in data_directory */
    char *cluster_secret_file; /* "" = <data_directory>/cluster_secret */
    char *admin_token_file;    /* "" = <data_directory>/admin_token */
    /* CQL authentication (exec_auth.c): index into the names, odd =
     * PasswordAuthenticator / CassandraAuthorizer */
    int authenticator;                /* AllowAllAuthenticator */
    int authorizer;                   /* AllowAllAuthorizer */
    uint64_t credentials_validity_ms; /* 2000 */
    uint64_t permissions_validity_ms; /* 2000 */
    char *initial_superuser_file;     /* "" = env BASALT_INITIAL_SUPERUSER */

    /* storage and durability */
    char *data_directory;                    /* "data" (relative to the cwd) */
    char *hints_directory;                   /* "" = <data_directory>/hints */
    bs_commitlog_sync commitlog_sync;        /* periodic */
    uint64_t commitlog_sync_period_ms;       /* 10000 (periodic mode) */
    uint64_t commitlog_sync_batch_window_ms; /* 2 (batch mode) */
    uint64_t min_free_space_bytes;           /* 256MiB; 0 = no check */
    uint64_t storage_block_cache_size_bytes; /* 64MiB */
    uint64_t storage_memtable_size_bytes;    /* 64MiB per table */
    bool storage_cache_index_and_filter_blocks; /* true */

    /* hinted handoff */
    bool hinted_handoff_enabled;            /* true */
    uint64_t max_hint_window_ms;            /* 3h */
    uint64_t hinted_handoff_throttle_bytes; /* 1024KiB per second; 0 = off */
    char *hinted_handoff_disabled_datacenters; /* "" = none; comma-separated DCs */
    bool cross_dc_write_forwarding;         /* true */
    int internode_compression;              /* bs_internode_compression; dc */

    /* topology changes (bootstrap, decommission) */
    bool auto_bootstrap;                    /* true */
    bool consistent_range_movement;         /* true */
    uint64_t stream_throughput_outbound_bytes; /* 24MiB per second; 0 = off */
    bool stream_ingest_sst;                 /* true: pulled ranges via SST ingestion */
    uint64_t ring_delay_ms;                 /* 5000 */
    char *replace_address_first_boot;       /* "": not replacing */

    /* timeouts (milliseconds) */
    uint64_t read_request_timeout_ms;     /* 5000 */
    uint64_t write_request_timeout_ms;    /* 2000 */
    uint64_t range_request_timeout_ms;    /* 10000 */
    int range_concurrency_max;            /* 16, 1..16 */
    uint64_t request_timeout_ms;          /* 10000 (other operations) */
    uint64_t truncate_request_timeout_ms; /* 60000 */
    char *speculative_retry;              /* "99p": NONE|ALWAYS|Np|Nms */
    /* Write guardrails (bs_exec_limits) */
    uint64_t max_future_timestamp_ms;          /* 1d; 0 = no check */
    uint64_t batch_size_warn_threshold_bytes;  /* 5KiB; 0 = no check */
    uint64_t batch_size_fail_threshold_bytes;  /* 50KiB; 0 = no check */
    uint64_t prepared_statements_cache_size_bytes; /* 10MiB */
    uint64_t max_mutation_size_bytes;              /* 16MiB; 0 = no check */
    uint64_t column_value_size_fail_threshold_bytes; /* 0 = no check */
    uint64_t collection_size_fail_threshold_bytes;   /* 0 = no check */
    int items_per_collection_fail_threshold;         /* 0 = no check */

    /* failure detection, threads, transport limits */
    double phi_convict_threshold;                    /* 8 */
    int io_threads;                                  /* 0 = number of cores */
    uint64_t native_transport_max_frame_size_bytes;  /* 16MiB */
    int native_transport_max_concurrent_connections; /* 8192; -1 = unlimited */
    int native_transport_max_concurrent_connections_per_ip; /* -1 = unlimited */
    int native_transport_max_requests_per_connection;       /* 1024 */
    uint64_t native_transport_max_request_data_in_flight_bytes; /* 128MiB; 0 = off */
    uint64_t native_transport_frame_timeout_ms;             /* 10000; 0 = off */
    uint64_t native_transport_startup_timeout_ms;           /* 10000; 0 = off */
    uint64_t native_transport_idle_timeout_ms;              /* 0 = off */
    uint64_t http_max_body_size;                     /* 25MB (InfluxDB's) */
    int http_max_connections;                        /* 1024 */
    uint64_t http_idle_timeout_ms;                   /* 60000 */

    /* TLS (docs/SECURITY.md); YAML: nested mappings, flags: dotted names */
    bool client_enc_enabled;          /* client_encryption_options.enabled */
    bool client_enc_optional;         /* .optional: plaintext accepted too */
    bool client_enc_require_client_auth;
    char *client_enc_certfile, *client_enc_keyfile, *client_enc_cafile;
    bs_internode_encryption internode_encryption; /* none */
    char *server_enc_certfile, *server_enc_keyfile, *server_enc_cafile;
    bool admin_enc_enabled;           /* admin_encryption_options.enabled */
    bool admin_enc_require_client_auth;
    char *admin_enc_certfile, *admin_enc_keyfile, *admin_enc_cafile;
    bool http_enc_enabled;            /* http_encryption_options.enabled */
    bool http_enc_require_client_auth;
    char *http_enc_certfile, *http_enc_keyfile, *http_enc_cafile;

    /* time-series endpoint (docs/TIMESERIES.md) */
    uint64_t ts_bucket_ms;     /* 1d: time span of one partition per series */
    int ts_replication_factor; /* 1: of databases made by CREATE DATABASE */

    /* repair */
    uint64_t repair_interval_ms; /* 0 = no scheduled repair */

    /* logging and testing knobs */
    bs_log_level log_level; /* info */
    char *log_file;         /* "" = stderr */
    int64_t clock_skew_us;  /* 0; added to the wall clock (tests/Jepsen) */
} bs_config;

/* Sets every key to its default.  Any previous content is NOT freed (use
 * on a fresh struct).  Aborts only if malloc fails during start-up. */
void bs_config_init(bs_config *cfg);

/* Frees every owned string/array; the struct may be re-initialised. */
void bs_config_free(bs_config *cfg);

/* Deep copy: dst receives fresh allocations (dst's old content is not
 * freed).  0 or BS_ENOMEM (dst then holds nothing to free). */
int bs_config_copy(bs_config *dst, const bs_config *src);

/* True when every key has the same value (lists element by element). */
bool bs_config_equal(const bs_config *a, const bs_config *b);

/* Loads a YAML file over cfg (which must be initialised, normally to the
 * defaults): keys present in the file replace the current values, a key
 * with an empty/null value resets to its default.  Then validates the
 * cross-field constraints.  Unknown keys, duplicate keys, bad values and
 * YAML syntax errors fail with BS_ECONFIG (BS_EIO if the file cannot be
 * read, BS_ENOMEM) and a message "path:line:col: ..." in err.
 * On error cfg is unchanged.  err may be NULL (errlen then ignored). */
int bs_config_load_file(const char *path, bs_config *cfg, char *err,
                        size_t errlen);

/* As bs_config_load_file, from `len` bytes of YAML text (not necessarily
 * NUL-terminated); `name` labels error messages (e.g. the file name). */
int bs_config_load_string(const char *text, size_t len, const char *name,
                          bs_config *cfg, char *err, size_t errlen);

/* Applies command-line flags argv[1..argc-1] over cfg, then validates.
 * Each key (and each legacy alias) is a flag: "--key=value" or
 * "--key value", with dashes or underscores ("--num-tokens 8",
 * "--num_tokens=8").  "-f FILE"/"--config FILE"/"--config=FILE" and
 * "-h"/"--help" are skipped here (see below).  Anything else - an
 * unknown flag, a positional argument, a missing value, a bad value -
 * is BS_ECONFIG with a message naming the flag.  On error cfg is
 * unchanged. */
int bs_config_apply_args(bs_config *cfg, int argc, char **argv, char *err,
                         size_t errlen);

/* Finds "-f FILE" / "--config FILE" / "--config=FILE" in argv (the last
 * one wins).  *path_out borrows argv memory, NULL when absent.
 * 0, or BS_ECONFIG when the flag has no value. */
int bs_config_args_config_path(int argc, char **argv, const char **path_out,
                               char *err, size_t errlen);

/* True when argv contains -h or --help. */
bool bs_config_args_want_help(int argc, char **argv);

/* The whole start-up sequence over an initialised cfg: load the file
 * named by -f/--config (if any), then apply the other flags, then
 * validate.  Flags always win over the file.  On error cfg is unchanged. */
int bs_config_load_command_line(bs_config *cfg, int argc, char **argv,
                                char *err, size_t errlen);

/* Sets one key from its text form exactly as a flag would ("num_tokens",
 * "8"); aliases accepted.  Does not run the cross-field validation.
 * BS_ECONFIG (unknown key / bad value, message in err) or BS_ENOMEM. */
int bs_config_set(bs_config *cfg, const char *key, const char *value, char *err,
                  size_t errlen);

/* Cross-field checks: data_directory non-empty; ports distinct per
 * address (a wildcard address conflicts with every address);
 * listen_address not a wildcard; a wildcard rpc_address needs a
 * broadcast_rpc_address; initial_token count == num_tokens and tokens
 * distinct.  0 or BS_ECONFIG with a message. */
int bs_config_validate(const bs_config *cfg, char *err, size_t errlen);

/* Appends the configuration as YAML (every key, in table order, under
 * its primary name) to out.  Loading the text back yields an equal
 * config.  0 or BS_ENOMEM. */
int bs_config_dump(const bs_config *cfg, bs_buf *out);

/* Appends the --help text (usage line, then every key with its flag,
 * type, default and help) to out.  `prog` names the program. */
int bs_config_help(const char *prog, bs_buf *out);

/* Appends a Markdown reference table of every key (the generated part of
 * docs/CONFIG.md) and the legacy aliases to out. */
int bs_config_reference_markdown(bs_buf *out);

/* Applies the process-wide settings of cfg: log level, log file and
 * the default clock's skew (clock_skew_us).  Opens log_file for append
 * (when non-empty) and installs it as the log sink; *log_out receives the
 * FILE (NULL when logging to stderr), which the caller keeps open while
 * logging and closes at exit after bs_log_set_file(NULL).  If the file
 * cannot be opened nothing is changed and BS_EIO is returned with a
 * message naming the file. */
int bs_config_apply_runtime(const bs_config *cfg, FILE **log_out, char *err,
                            size_t errlen);

/* Derived values. */
/* broadcast_address, or listen_address when it is empty. */
const char *bs_config_broadcast_address(const bs_config *cfg);
/* broadcast_rpc_address, or rpc_address when it is empty. */
const char *bs_config_broadcast_rpc_address(const bs_config *cfg);
/* io_threads, or the number of online CPUs when it is 0 (at least 1). */
int bs_config_io_threads(const bs_config *cfg);
/* hints_directory, or "<data_directory>/hints" written into buf.
 * Returns buf or cfg's string; NULL if buf is too small. */
const char *bs_config_hints_directory(const bs_config *cfg, char *buf,
                                      size_t cap);

/* cluster_secret_file, or "<data_directory>/cluster_secret" in buf;
 * admin_token_file, or "<data_directory>/admin_token".  Same contract as
 * bs_config_hints_directory. */
const char *bs_config_cluster_secret_file(const bs_config *cfg, char *buf,
                                          size_t cap);
const char *bs_config_admin_token_file(const bs_config *cfg, char *buf,
                                       size_t cap);

/* Number of keys in the table (primary names) and the i-th key's name;
 * NULL past the end.  For tests and tools that enumerate keys. */
size_t bs_config_key_count(void);
const char *bs_config_key_name(size_t i);

#endif
