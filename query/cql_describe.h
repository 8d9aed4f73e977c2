/*
 * cql_describe.h - the schema model behind DESCRIBE (cql_describe.c),
 * shared by basalt-shell and the server.
 */
#ifndef BS_QUERY_CQL_DESCRIBE_H
#define BS_QUERY_CQL_DESCRIBE_H

#include <stddef.h>

#include "common/buf.h"

typedef struct bs_describe bs_describe;

/* An empty schema, filled by the add functions.  0 or BS_ENOMEM.  Free
 * with bs_describe_free (NULL allowed). */
int bs_describe_new(bs_describe **out);
void bs_describe_free(bs_describe *s);
/* `replication` is the map already in CQL literal form
 * ("{'class': '...', 'replication_factor': '1'}").  BS_EEXIST when the
 * keyspace is there already. */
int bs_describe_add_keyspace(bs_describe *s, const char *name, int durable_writes,
                             const char *replication);
/* BS_ENOTFOUND for an unknown keyspace, BS_EEXIST for a known table. */
int bs_describe_add_table(bs_describe *s, const char *ks, const char *name);
/* Table options: name = CQL literal text, kept in the order given. */
int bs_describe_add_table_option(bs_describe *s, const char *ks, const char *table,
                                 const char *opt, const char *value_cql);
/* kind: "partition_key", "clustering", "regular", "static";
 * order: "asc", "desc", "none"; type as system_schema.columns.type. */
int bs_describe_add_column(bs_describe *s, const char *ks, const char *table,
                           const char *name, const char *kind, int position,
                           const char *order, const char *type);

/* Names: keyspaces and tables sort by name; columns come in CREATE TABLE
 * order.  Returned strings are borrowed from s.  NULL for a bad index or
 * an unknown name. */
size_t bs_describe_nkeyspaces(const bs_describe *s);
const char *bs_describe_keyspace(const bs_describe *s, size_t i);
size_t bs_describe_ntables(const bs_describe *s, const char *ks);
const char *bs_describe_table(const bs_describe *s, const char *ks, size_t i);
size_t bs_describe_ncolumns(const bs_describe *s, const char *ks, const char *table);
const char *bs_describe_column(const bs_describe *s, const char *ks, const char *table,
                               size_t i);

/* Appends CREATE KEYSPACE (with its tables, each after a blank line, when
 * `with_tables`) / CREATE TABLE, each ending in ";\n", in the form
 * cqlsh's DESCRIBE prints (runnable as is to recreate the schema).
 * BS_ENOTFOUND when the keyspace/table does not exist. */
int bs_describe_keyspace_cql(const bs_describe *s, const char *ks, int with_tables,
                             bs_buf *out);
int bs_describe_table_cql(const bs_describe *s, const char *ks, const char *table,
                          bs_buf *out);

/* Options CREATE TABLE accepts, in the (alphabetical) order Cassandra 4's
 * DESCRIBE prints them; NULL-terminated. */
extern const char *const bs_describe_table_opts[];

#endif
