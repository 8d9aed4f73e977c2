/*
 * schema_int.h - internals shared by the files of the schema catalog
 * (see schema.h for the model):
 *
 *   schema.c          representation, lifecycle, tombstones, lookups,
 *                     version digest
 *   schema_builtin.c  the built-in keyspaces drivers read (system,
 *                     system_schema, ...)
 *   schema_ddl.c      validation and the DDL mutators
 *   schema_codec.c    msgpack serialization (encode / decode)
 *   schema_merge.c    convergence of concurrent DDL (bs_schema_merge)
 *
 * Only query/schema*.c include this header.
 */
#ifndef BS_QUERY_SCHEMA_INT_H
#define BS_QUERY_SCHEMA_INT_H

#include <msgpack.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "query/schema.h"

/* A drop, kept for merge (see schema.h). */
typedef struct bs_tomb {
    char *ks;
    char *table; /* NULL: the keyspace itself */
    int64_t ts;
} bs_tomb;

struct bs_schema {
    atomic_int refs;
    bs_keyspace_schema **ks; /* sorted by name */
    size_t nks;
    int64_t timestamp_us;
    bs_uuid version;
    bs_tomb *tombs; /* drops, for merge (see schema.h) */
    size_t ntombs;
};

/* ---- helpers (schema.c) ------------------------------------------------ */

/* strdup (NULL gives NULL) and strndup; NULL on OOM. */
char *bs__schema_xstrdup(const char *s);
char *bs__schema_xstrndup(const char *s, size_t n);
/* Formats the message into err (may be NULL) and returns code. */
int bs__schema_fail(char *err, size_t errlen, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Table options: free the fields of *o / deep-copy s into *d (0 or
 * BS_ENOMEM). */
void bs__schema_option_free(bs_table_option *o);
int bs__schema_option_copy(bs_table_option *d, const bs_table_option *s);
/* Deep free / copy (NULL on OOM) of a table and a keyspace. */
void bs__schema_table_free(bs_table_schema *t);
bs_table_schema *bs__schema_table_clone(const bs_table_schema *s);
void bs__schema_ks_free(bs_keyspace_schema *k);
/* Replaces k's replication class and options (copied).  0 or
 * BS_ENOMEM (k unchanged). */
int bs__schema_ks_set_repl(bs_keyspace_schema *k, const char *cls, size_t n,
                           const char *const *keys, const char *const *values);
/* qsort order of a table's columns: partition key, clustering, then the
 * rest by name (Cassandra's layout). */
int bs__schema_col_order(const void *a, const void *b);
/* Recomputes s->version from the digest of the serialized content. */
void bs__schema_recompute_version(bs_schema *s);

/* ---- tombstones and stamps (schema.c) ---------------------------------- */

void bs__schema_tomb_remove(bs_schema *s, const char *ks, const char *table);
/* Removes the table tombstones of keyspace ks. */
void bs__schema_tomb_remove_tables(bs_schema *s, const char *ks);
/* Records (or raises) the tombstone of ks (table NULL) or ks.table. */
int bs__schema_tomb_set(bs_schema *s, const char *ks, const char *table,
                        int64_t ts);
/* The stamp of a change made at now_us over something stamped prev. */
int64_t bs__schema_stamp(int64_t now_us, int64_t prev);

/* ---- lookups (schema.c) ------------------------------------------------ */

/* Index of keyspace / table `name` in its sorted array, or where it
 * would be inserted; *found says which. */
size_t bs__schema_ks_index(const bs_schema *s, const char *name, int *found);
size_t bs__schema_table_index(const bs_keyspace_schema *k, const char *name,
                              int *found);

/* ---- built-in keyspaces (schema_builtin.c) ----------------------------- */

/* Adds the built-in keyspaces and their tables to s.  0 or BS_ENOMEM. */
int bs__schema_add_builtin(bs_schema *s);

/* ---- msgpack (schema_codec.c) ------------------------------------------ */

void bs__schema_pk_str(msgpack_packer *p, const char *s);
void bs__schema_pk_strmap(msgpack_packer *p, size_t n, char **k, char **v);
/* A table in the serialized form (see schema_codec.c). */
void bs__schema_pk_table(msgpack_packer *p, const bs_table_schema *t);

#endif
