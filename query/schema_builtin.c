/*
 * schema_builtin.c - the built-in keyspaces (system, system_schema,
 * system_auth, system_distributed, system_traces) with the tables drivers
 * and tools read, as Cassandra 4.x defines them.
 *
 * They are described by the static table `builtin` below in a compact
 * "name type kind" form and materialised by bs__schema_add_builtin() when
 * bs_schema_new() builds a snapshot (system_auth is created by the
 * executor instead, see below).  They are flagged system=1: DDL on
 * them is refused and they are not serialized.  Their table ids are
 * derived from their names, so every node has the same ones.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "common/error.h"
#include "query/schema_int.h"

/* ==================================================================== */
/* built-in keyspaces                                                     */
/* ==================================================================== */

/* Parses the small type language of the built-in table below:
 * name | frozen<T> | list<T> | set<T> | map<T,T>. */
static bs_type *parse_builtin_type(const char **p) {
    static const struct {
        const char *n;
        bs_type_kind k;
    } names[] = {
        {"text", BS_TYPE_VARCHAR},      {"ascii", BS_TYPE_ASCII},
        {"int", BS_TYPE_INT},           {"bigint", BS_TYPE_BIGINT},
        {"boolean", BS_TYPE_BOOLEAN},   {"uuid", BS_TYPE_UUID},
        {"timeuuid", BS_TYPE_TIMEUUID}, {"inet", BS_TYPE_INET},
        {"blob", BS_TYPE_BLOB},         {"timestamp", BS_TYPE_TIMESTAMP},
        {"double", BS_TYPE_DOUBLE},     {"float", BS_TYPE_FLOAT},
        {"varint", BS_TYPE_VARINT},     {"date", BS_TYPE_DATE},
    };
    const char *s = *p;
    size_t n = 0;
    while (isalnum((unsigned char)s[n]) || s[n] == '_')
        n++;
    bs_type *t = NULL;
    if (s[n] == '<') {
        bs_type_kind k;
        int frozen = 0;
        if (n == 6 && !strncmp(s, "frozen", 6))
            frozen = 1, k = 0;
        else if (n == 4 && !strncmp(s, "list", 4))
            k = BS_TYPE_LIST;
        else if (n == 3 && !strncmp(s, "set", 3))
            k = BS_TYPE_SET;
        else if (n == 3 && !strncmp(s, "map", 3))
            k = BS_TYPE_MAP;
        else
            return NULL;
        *p = s + n + 1;
        bs_type *a = parse_builtin_type(p), *b = NULL;
        if (!a) return NULL;
        if (!frozen && k == BS_TYPE_MAP) {
            if (**p != ',') {
                bs_type_free(a);
                return NULL;
            }
            (*p)++;
            b = parse_builtin_type(p);
            if (!b) {
                bs_type_free(a);
                return NULL;
            }
        }
        if (**p != '>') {
            bs_type_free(a);
            bs_type_free(b);
            return NULL;
        }
        (*p)++;
        if (frozen) {
            a->frozen = 1;
            return a;
        }
        return bs_type_new_coll(k, a, b);
    }
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strlen(names[i].n) == n && !strncmp(s, names[i].n, n))
            t = bs_type_new(names[i].k);
    *p = s + n;
    return t;
}

/* "ks.table" followed by columns "name type kind" where kind is p0 p1
 * (partition key position), c0 c1 (clustering), s (static) or r. */
static const char *const builtin[] = {"system.local",
                                      "key text p0",
                                      "bootstrapped text r",
                                      "broadcast_address inet r",
                                      "broadcast_port int r",
                                      "cluster_name text r",
                                      "cql_version text r",
                                      "data_center text r",
                                      "gossip_generation int r",
                                      "host_id uuid r",
                                      "listen_address inet r",
                                      "listen_port int r",
                                      "native_protocol_version text r",
                                      "partitioner text r",
                                      "rack text r",
                                      "release_version text r",
                                      "rpc_address inet r",
                                      "rpc_port int r",
                                      "schema_version uuid r",
                                      "tokens set<text> r",
                                      "truncated_at map<uuid,blob> r",
                                      NULL,
                                      "system.size_estimates",
                                      "keyspace_name text p0",
                                      "table_name text c0",
                                      "range_start text c1",
                                      "range_end text c2",
                                      "mean_partition_size bigint r",
                                      "partitions_count bigint r",
                                      NULL,
                                      "system.table_estimates",
                                      "keyspace_name text p0",
                                      "table_name text c0",
                                      "range_type text c1",
                                      "range_start text c2",
                                      "range_end text c3",
                                      "mean_partition_size bigint r",
                                      "partitions_count bigint r",
                                      NULL,
                                      "system.peers",
                                      "peer inet p0",
                                      "data_center text r",
                                      "host_id uuid r",
                                      "preferred_ip inet r",
                                      "rack text r",
                                      "release_version text r",
                                      "rpc_address inet r",
                                      "schema_version uuid r",
                                      "tokens set<text> r",
                                      NULL,
                                      "system.peers_v2",
                                      "peer inet p0",
                                      "peer_port int c0",
                                      "data_center text r",
                                      "host_id uuid r",
                                      "native_address inet r",
                                      "native_port int r",
                                      "preferred_ip inet r",
                                      "preferred_port int r",
                                      "rack text r",
                                      "release_version text r",
                                      "schema_version uuid r",
                                      "tokens set<text> r",
                                      NULL,
                                      "system_traces.sessions",
                                      "session_id uuid p0",
                                      "client inet r",
                                      "command text r",
                                      "coordinator inet r",
                                      "coordinator_port int r",
                                      "duration int r",
                                      "parameters map<text,text> r",
                                      "request text r",
                                      "started_at timestamp r",
                                      NULL,
                                      "system_traces.events",
                                      "session_id uuid p0",
                                      "event_id timeuuid c0",
                                      "activity text r",
                                      "source inet r",
                                      "source_elapsed int r",
                                      "source_port int r",
                                      "thread text r",
                                      NULL,
                                      "system_schema.keyspaces",
                                      "keyspace_name text p0",
                                      "durable_writes boolean r",
                                      "replication frozen<map<text,text>> r",
                                      NULL,
                                      "system_schema.tables",
                                      "keyspace_name text p0",
                                      "table_name text c0",
                                      "bloom_filter_fp_chance double r",
                                      "caching frozen<map<text,text>> r",
                                      "cdc boolean r",
                                      "comment text r",
                                      "compaction frozen<map<text,text>> r",
                                      "compression frozen<map<text,text>> r",
                                      "crc_check_chance double r",
                                      "dclocal_read_repair_chance double r",
                                      "default_time_to_live int r",
                                      "extensions frozen<map<text,blob>> r",
                                      "flags frozen<set<text>> r",
                                      "gc_grace_seconds int r",
                                      "id uuid r",
                                      "max_index_interval int r",
                                      "memtable_flush_period_in_ms int r",
                                      "min_index_interval int r",
                                      "read_repair_chance double r",
                                      "speculative_retry text r",
                                      "additional_write_policy text r",
                                      "read_repair text r",
                                      NULL,
                                      "system_schema.columns",
                                      "keyspace_name text p0",
                                      "table_name text c0",
                                      "column_name text c1",
                                      "clustering_order text r",
                                      "column_name_bytes blob r",
                                      "kind text r",
                                      "position int r",
                                      "type text r",
                                      NULL,
                                      "system_schema.dropped_columns",
                                      "keyspace_name text p0",
                                      "table_name text c0",
                                      "column_name text c1",
                                      "dropped_time timestamp r",
                                      "kind text r",
                                      "type text r",
                                      NULL,
                                      "system_schema.types",
                                      "keyspace_name text p0",
                                      "type_name text c0",
                                      "field_names frozen<list<text>> r",
                                      "field_types frozen<list<text>> r",
                                      NULL,
                                      "system_schema.functions",
                                      "keyspace_name text p0",
                                      "function_name text c0",
                                      "argument_types frozen<list<text>> c1",
                                      "argument_names frozen<list<text>> r",
                                      "body text r",
                                      "language text r",
                                      "return_type text r",
                                      "called_on_null_input boolean r",
                                      NULL,
                                      "system_schema.aggregates",
                                      "keyspace_name text p0",
                                      "aggregate_name text c0",
                                      "argument_types frozen<list<text>> c1",
                                      "final_func text r",
                                      "initcond text r",
                                      "return_type text r",
                                      "state_func text r",
                                      "state_type text r",
                                      NULL,
                                      "system_schema.indexes",
                                      "keyspace_name text p0",
                                      "table_name text c0",
                                      "index_name text c1",
                                      "kind text r",
                                      "options frozen<map<text,text>> r",
                                      NULL,
                                      "system_schema.views",
                                      "keyspace_name text p0",
                                      "view_name text c0",
                                      "base_table_id uuid r",
                                      "base_table_name text r",
                                      "where_clause text r",
                                      "bloom_filter_fp_chance double r",
                                      "caching frozen<map<text,text>> r",
                                      "comment text r",
                                      "compaction frozen<map<text,text>> r",
                                      "compression frozen<map<text,text>> r",
                                      "crc_check_chance double r",
                                      "dclocal_read_repair_chance double r",
                                      "default_time_to_live int r",
                                      "extensions frozen<map<text,blob>> r",
                                      "gc_grace_seconds int r",
                                      "id uuid r",
                                      "include_all_columns boolean r",
                                      "max_index_interval int r",
                                      "memtable_flush_period_in_ms int r",
                                      "min_index_interval int r",
                                      "read_repair_chance double r",
                                      "speculative_retry text r",
                                      "additional_write_policy text r",
                                      "cdc boolean r",
                                      "read_repair text r",
                                      NULL,
                                      "system_schema.triggers",
                                      "keyspace_name text p0",
                                      "table_name text c0",
                                      "trigger_name text c1",
                                      "options frozen<map<text,text>> r",
                                      NULL,
                                      NULL};

/* system_auth is not built in: it is a replicated keyspace that
 * bs_exec_auth_schema creates (query/exec_auth.c), so that its
 * replication can be altered. */
static const char *const builtin_keyspaces[] = {
    "system", "system_distributed", "system_schema", "system_traces"};

int bs__schema_add_builtin(bs_schema *s) {
    char err[256];
    const char *none[1] = {NULL};
    for (size_t i = 0; i < sizeof builtin_keyspaces / sizeof *builtin_keyspaces;
         i++) {
        const char *rk[1] = {"replication_factor"}, *rv[1] = {"1"};
        int local = !strcmp(builtin_keyspaces[i], "system") ||
                    !strcmp(builtin_keyspaces[i], "system_schema");
        int rc = bs_schema_create_keyspace(
            s, builtin_keyspaces[i],
            local ? "org.apache.cassandra.locator.LocalStrategy"
                  : "org.apache.cassandra.locator.SimpleStrategy",
            local ? 0 : 1, local ? none : rk, local ? none : rv, 1, 0, err,
            sizeof err);
        if (rc) return rc;
    }
    size_t i = 0;
    while (builtin[i]) {
        const char *full = builtin[i++];
        const char *dot = strchr(full, '.');
        char ks[64], tn[64];
        snprintf(ks, sizeof ks, "%.*s", (int)(dot - full), full);
        snprintf(tn, sizeof tn, "%s", dot + 1);
        bs_column_def defs[32];
        char names[32][48];
        size_t nd = 0;
        int rc = 0;
        for (; builtin[i]; i++) {
            const char *d = builtin[i];
            const char *sp = strchr(d, ' ');
            snprintf(names[nd], sizeof names[nd], "%.*s", (int)(sp - d), d);
            const char *tp = sp + 1;
            bs_type *t = parse_builtin_type(&tp);
            if (!t || *tp != ' ') {
                bs_type_free(t);
                rc = BS_EINVAL;
                break;
            }
            tp++;
            defs[nd].name = names[nd];
            defs[nd].type = t;
            defs[nd].desc = 0;
            defs[nd].position = -1;
            if (*tp == 'p')
                defs[nd].kind = BS_COL_PARTITION_KEY;
            else if (*tp == 'c')
                defs[nd].kind = BS_COL_CLUSTERING;
            else if (*tp == 's')
                defs[nd].kind = BS_COL_STATIC;
            else
                defs[nd].kind = BS_COL_REGULAR;
            if (tp[1]) defs[nd].position = tp[1] - '0';
            nd++;
        }
        i++; /* NULL terminator of this table */
        if (!rc) {
            rc = bs_schema_create_table(s, ks, tn, NULL, defs, nd, NULL, 0, 0,
                                        err, sizeof err);
        }
        for (size_t j = 0; j < nd; j++)
            bs_type_free((bs_type *)defs[j].type);
        if (rc) return rc;
        /* built-in ids are stable: derived from the name */
        bs_keyspace_schema *k = (bs_keyspace_schema *)bs_schema_keyspace(s, ks);
        bs_table_schema *t = (bs_table_schema *)bs_schema_table(s, ks, tn);
        XXH128_hash_t h = XXH3_128bits(full, strlen(full));
        bs_put_u64(t->id.b, h.high64);
        bs_put_u64(t->id.b + 8, h.low64);
        t->id.b[6] = (uint8_t)((t->id.b[6] & 0x0f) | 0x30);
        t->id.b[8] = (uint8_t)((t->id.b[8] & 0x3f) | 0x80);
        (void)k;
    }
    for (size_t k = 0; k < s->nks; k++)
        s->ks[k]->system = 1;
    return 0;
}
