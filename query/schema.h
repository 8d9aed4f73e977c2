/*
 * schema.h - the schema catalog: keyspaces, tables, columns.
 *
 * A bs_schema is an immutable snapshot shared by every loop (atomic
 * refcount).  A change is made by copying the snapshot with
 * bs_schema_clone(), editing the copy through the bs_schema_* mutators
 * below (which validate like Cassandra does), then publishing it; readers
 * holding the old snapshot are never disturbed.
 *
 * Every table column has a storage column id (u16) that is assigned when
 * the column is added and never reused, so cells of a dropped column can
 * never be mistaken for a later column of the same name.  Ids 0-15 are
 * reserved for the store's row-level slots.
 *
 * The schema version is a UUID derived from a digest of the serialized
 * schema (as Cassandra derives it from an MD5 of its schema tables), so
 * two nodes with the same schema report the same version.
 *
 * Serialization (bs_schema_encode/decode) is msgpack; it is what the node
 * persists in its system CF and ships to peers.  decode() validates
 * everything and never trusts the bytes.
 */
#ifndef BS_QUERY_SCHEMA_H
#define BS_QUERY_SCHEMA_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/types.h"
#include "common/uuid.h"

#define BS_SCHEMA_FIRST_COLUMN_ID 16
/* Ids from here up are chosen by bs_schema_add_shared_column. */
#define BS_SCHEMA_SHARED_COLUMN_ID 32768

typedef enum {
    BS_COL_PARTITION_KEY = 0,
    BS_COL_CLUSTERING = 1,
    BS_COL_REGULAR = 2,
    BS_COL_STATIC = 3
} bs_col_kind;

typedef struct bs_column {
    char *name;    /* owned */
    bs_type *type; /* owned */
    bs_col_kind kind;
    int position; /* index within the partition key / clustering; -1 */
    int desc;     /* clustering column in DESC order */
    uint16_t id;  /* storage column id, >= BS_SCHEMA_FIRST_COLUMN_ID */
} bs_column;

typedef struct bs_dropped_column {
    char *name;
    bs_type *type;
    int64_t dropped_time_us;
} bs_dropped_column;

/* A table option as written in WITH name = value: either a constant
 * (text form) or a map of text to text (compaction, compression, ...). */
typedef struct bs_table_option {
    char *name;
    char *value;     /* constant's text, NULL for a map */
    size_t nentries; /* map entries */
    char **keys, **values;
} bs_table_option;

typedef struct bs_table_schema {
    char *keyspace;
    char *name;
    bs_uuid id;
    bs_column *cols; /* pk columns in order, then clustering in order, then
                        the rest sorted by name (Cassandra's layout) */
    size_t ncols;
    size_t npk;            /* cols[0..npk) are the partition key */
    size_t nck;            /* cols[npk..npk+nck) are the clustering columns */
    int64_t default_ttl;   /* seconds, 0 = none */
    int64_t gc_grace;      /* seconds, default 864000 */
    bs_table_option *opts; /* every other option, sorted by name */
    size_t nopts;
    bs_dropped_column *dropped;
    size_t ndropped;
    uint16_t next_col_id;
    int64_t ts_us; /* last change of this table (µs); see merge */
} bs_table_schema;

typedef struct bs_keyspace_schema {
    char *name;
    int durable_writes;
    char *repl_class; /* fully qualified, e.g.
                         org.apache.cassandra.locator.SimpleStrategy */
    size_t nrepl;     /* replication options other than class */
    char **repl_keys, **repl_values;
    bs_table_schema **tables; /* sorted by name */
    size_t ntables;
    int system;         /* built-in keyspace: cannot be altered/dropped */
    int64_t ts_us;      /* last change of the keyspace's own attributes */
    int64_t created_us; /* creation: older tables belong to an earlier
                           keyspace of the same name */
} bs_keyspace_schema;

typedef struct bs_schema bs_schema;

/* A new schema holding only the built-in keyspaces (system,
 * system_schema, system_auth, system_distributed, system_traces) with the
 * tables drivers read.  NULL on OOM.  Refcount 1. */
bs_schema *bs_schema_new(void);
/* A deep copy with refcount 1, for editing.  NULL on OOM. */
bs_schema *bs_schema_clone(const bs_schema *s);
bs_schema *bs_schema_retain(bs_schema *s);
void bs_schema_release(bs_schema *s);

/* Lookups return borrowed pointers valid while the snapshot is held. */
size_t bs_schema_nkeyspaces(const bs_schema *s);
const bs_keyspace_schema *bs_schema_keyspace_at(const bs_schema *s, size_t i);
const bs_keyspace_schema *bs_schema_keyspace(const bs_schema *s,
                                             const char *ks);
const bs_table_schema *bs_schema_table(const bs_schema *s, const char *ks,
                                       const char *table);
const bs_table_schema *bs_schema_table_by_id(const bs_schema *s,
                                             const bs_uuid *id);
const bs_column *bs_table_column(const bs_table_schema *t, const char *name);
const bs_column *bs_table_column_by_id(const bs_table_schema *t, uint16_t id);
const bs_table_option *bs_table_option_get(const bs_table_schema *t,
                                           const char *name);
/* "ks.table" - the store's column family name for a table. */
void bs_table_cf_name(const bs_table_schema *t, char *out, size_t outlen);

/* Version UUID (see top) and the time of the last change (µs). */
void bs_schema_version(const bs_schema *s, bs_uuid *out);
int64_t bs_schema_timestamp(const bs_schema *s);

/* ---- mutators: only on a clone with refcount 1 ------------------------ */
/* Each returns 0 or an error with a message in err (Cassandra's wording
 * where it has one):
 *   BS_EEXIST    keyspace/table/column already exists
 *   BS_ENOTFOUND no such keyspace/table/column
 *   BS_EINVAL    invalid definition (message says why)
 *   BS_ECONFIG   bad replication/table options
 * On error the schema is unchanged. */

/* class: short (SimpleStrategy) or qualified name; keys/values: the other
 * replication options (replication_factor, or dc names). */
int bs_schema_create_keyspace(bs_schema *s, const char *name,
                              const char *repl_class, size_t nrepl,
                              const char *const *keys,
                              const char *const *values, int durable_writes,
                              int64_t now_us, char *err, size_t errlen);
/* Schema objects every node may create on its own at the same time, as
 * the time-series endpoint does on a write (a database, a measurement, a
 * new field), are made so that concurrent creations converge on one
 * object instead of one replacing the other (and the data written into
 * it).  Ordinary DDL keeps Cassandra's rule: the later one wins.
 *
 * bs_schema_create_shared_keyspace: as bs_schema_create_keyspace
 * (durable), but its creation stamp is one past the keyspace's last drop
 * in s, not the clock, so two nodes' concurrent creations are one
 * incarnation and the merge keeps the tables of both.
 * bs_schema_shared_table_id: the id for a new table ks.name, derived from
 * the names, the keyspace's creation stamp and the table's last drop:
 * what every node creating that table now would choose.
 * bs_schema_add_shared_column: as bs_schema_add_column (not static), but
 * the id is derived from the name, the type's kind and the name's last
 * drop (>= BS_SCHEMA_SHARED_COLUMN_ID), so two nodes adding the same
 * field pick the same id, and different fields (almost always) different
 * ones; the merge of two versions of one table (same id) keeps the
 * columns of both. */
int bs_schema_create_shared_keyspace(bs_schema *s, const char *name,
                                     const char *repl_class, size_t nrepl,
                                     const char *const *keys,
                                     const char *const *values, int64_t now_us,
                                     char *err, size_t errlen);
void bs_schema_shared_table_id(const bs_schema *s, const char *ks,
                               const char *name, bs_uuid *out);
int bs_schema_add_shared_column(bs_schema *s, const char *ks,
                                const char *table, const char *col,
                                const bs_type *type, int64_t now_us, char *err,
                                size_t errlen);
int bs_schema_alter_keyspace(bs_schema *s, const char *name,
                             const char *repl_class, size_t nrepl,
                             const char *const *keys, const char *const *values,
                             int durable_writes /* -1 = keep */, int64_t now_us,
                             char *err, size_t errlen);
int bs_schema_drop_keyspace(bs_schema *s, const char *name, int64_t now_us,
                            char *err, size_t errlen);

/* A column definition for create_table. */
typedef struct bs_column_def {
    const char *name;
    const bs_type *type; /* copied */
    bs_col_kind kind;
    int position;
    int desc;
} bs_column_def;

/* Creates a table; `id` NULL means a new random id.  Validates: at least
 * one partition key column, names unique, no non-frozen collections in
 * the primary key, counters/duration not in keys, static columns only
 * with clustering columns. Options are copied. */
int bs_schema_create_table(bs_schema *s, const char *ks, const char *name,
                           const bs_uuid *id, const bs_column_def *defs,
                           size_t ndefs, const bs_table_option *opts,
                           size_t nopts, int64_t now_us, char *err,
                           size_t errlen);
int bs_schema_drop_table(bs_schema *s, const char *ks, const char *name,
                         int64_t now_us, char *err, size_t errlen);
int bs_schema_add_column(bs_schema *s, const char *ks, const char *table,
                         const char *col, const bs_type *type, int is_static,
                         int64_t now_us, char *err, size_t errlen);
int bs_schema_drop_column(bs_schema *s, const char *ks, const char *table,
                          const char *col, int64_t now_us, char *err,
                          size_t errlen);
/* Only primary-key columns can be renamed (as in Cassandra). */
int bs_schema_rename_column(bs_schema *s, const char *ks, const char *table,
                            const char *from, const char *to, int64_t now_us,
                            char *err, size_t errlen);
int bs_schema_set_table_options(bs_schema *s, const char *ks, const char *table,
                                const bs_table_option *opts, size_t nopts,
                                int64_t now_us, char *err, size_t errlen);

/* ---- convergence of concurrent DDL ------------------------------------ */
/*
 * Every keyspace and table carries the time of its last change (ts_us)
 * and a drop leaves a tombstone (name + time).  Mutators stamp changes
 * with max(now_us, previous stamp + 1), so a change always supersedes
 * what it was made on even when clocks disagree a little.
 *
 * bs_schema_merge(a, b) is commutative, associative and idempotent, so
 * nodes exchanging schemas in any order end with the same one (the same
 * version UUID):
 *   - per keyspace name: the candidate with the highest stamp among a's
 *     and b's live keyspace and tombstone wins; a tombstone wins a tie;
 *     two live keyspaces with the same stamp but different attributes are
 *     ordered by their serialized bytes (larger wins);
 *   - inside a live keyspace, per table name, the same rule over live
 *     tables (whole-table last-write-wins: two concurrent ALTERs of one
 *     table keep only the later) and table tombstones, except that when
 *     both sides hold the same table (same id) the winner also gets the
 *     columns only the loser has (unless the winner dropped that name or
 *     holds that column id), so concurrent additions of different
 *     columns survive (shared columns, above; two sequential ids taken
 *     at once keep the winner's); tables and
 *     tombstones stamped before the winning keyspace's creation belong to
 *     an older incarnation and are discarded;
 *   - the schema timestamp is the larger of the two.
 * *out is a new snapshot (refcount 1).  0 or BS_ENOMEM.
 */
int bs_schema_merge(const bs_schema *a, const bs_schema *b, bs_schema **out);
/* Time of the tombstone of keyspace ks (table NULL) or table ks.table,
 * 0 when there is none. */
int64_t bs_schema_tombstone(const bs_schema *s, const char *ks,
                            const char *table);

/* ---- serialization ---------------------------------------------------- */
/* Appends the msgpack form of every non-built-in keyspace (built-ins are
 * the same everywhere and are not shipped). */
int bs_schema_encode(const bs_schema *s, bs_buf *out);
/* Builds a schema (built-ins + the encoded keyspaces).  BS_ECORRUPT with
 * a message for malformed bytes. */
int bs_schema_decode(const void *data, size_t len, bs_schema **out, char *err,
                     size_t errlen);

#endif
