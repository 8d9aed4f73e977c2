/*
 * shell_schema.c - the schema as the shell sees it, read from
 * system_schema.keyspaces / tables / columns into the model of
 * query/cql_describe.c (which also prints DESCRIBE's CQL, for the server
 * too).
 *
 * The model is plain: keyspaces sorted by name, each with its tables
 * sorted by name, each with its columns in CREATE TABLE order (partition
 * key columns by position, clustering columns by position, then regular
 * and static columns by name -- Cassandra's order) and its options as
 * (name, CQL literal) pairs.  Values are turned into CQL literals with
 * bs_value_format_cql when loaded, so DESCRIBE only pastes text.
 *
 * DESCRIBE TABLE prints what cqlsh 4 prints:
 *
 *   CREATE TABLE ks.t (
 *       pk int,
 *       ck text,
 *       v text,
 *       s int static,
 *       PRIMARY KEY (pk, ck)          ((a, b), c) for a composite key
 *   ) WITH CLUSTERING ORDER BY (ck ASC)
 *       AND bloom_filter_fp_chance = 0.01
 *       ...
 *       AND speculative_retry = '99p';
 *
 * with "pk int PRIMARY KEY" inline when the key is one column and there
 * are no clustering columns.  Identifiers are quoted when they need it
 * (bs_cql_print_ident), so the text runs back unchanged and recreates the
 * table with the same columns, key, order and options.  Only the options
 * a CREATE TABLE accepts are printed (the dropped read_repair_chance
 * family and the id/flags columns are not).
 */
#include <stdlib.h>
#include <string.h>

#include "client/shell.h"
#include "common/error.h"
#include "query/cql.h"
#include "query/value.h"

/* The model and DESCRIBE's text live in query/cql_describe.c (shared
 * with the server's DESCRIBE); these are the shell's names for them. */

int bs_shell_schema_new(bs_shell_schema **out) { return bs_describe_new(out); }
void bs_shell_schema_free(bs_shell_schema *s) { bs_describe_free(s); }

int bs_shell_is_system_keyspace(const char *ks) {
    return !strcmp(ks, "system") || !strncmp(ks, "system_", 7);
}

int bs_shell_schema_add_keyspace(bs_shell_schema *s, const char *name, int durable_writes,
                                 const char *replication) {
    return bs_describe_add_keyspace(s, name, durable_writes, replication);
}

int bs_shell_schema_add_table(bs_shell_schema *s, const char *ks, const char *name) {
    return bs_describe_add_table(s, ks, name);
}

int bs_shell_schema_add_table_option(bs_shell_schema *s, const char *ks, const char *table,
                                     const char *opt, const char *value_cql) {
    return bs_describe_add_table_option(s, ks, table, opt, value_cql);
}

int bs_shell_schema_add_column(bs_shell_schema *s, const char *ks, const char *table,
                               const char *name, const char *kind, int position,
                               const char *order, const char *type) {
    return bs_describe_add_column(s, ks, table, name, kind, position, order, type);
}

size_t bs_shell_schema_nkeyspaces(const bs_shell_schema *s) { return bs_describe_nkeyspaces(s); }

const char *bs_shell_schema_keyspace(const bs_shell_schema *s, size_t i) {
    return bs_describe_keyspace(s, i);
}

size_t bs_shell_schema_ntables(const bs_shell_schema *s, const char *ks) {
    return bs_describe_ntables(s, ks);
}

const char *bs_shell_schema_table(const bs_shell_schema *s, const char *ks, size_t i) {
    return bs_describe_table(s, ks, i);
}

size_t bs_shell_schema_ncolumns(const bs_shell_schema *s, const char *ks, const char *table) {
    return bs_describe_ncolumns(s, ks, table);
}

const char *bs_shell_schema_column(const bs_shell_schema *s, const char *ks, const char *table,
                                   size_t i) {
    return bs_describe_column(s, ks, table, i);
}

int bs_shell_describe_keyspace(const bs_shell_schema *s, const char *ks, int with_tables,
                               bs_buf *out) {
    return bs_describe_keyspace_cql(s, ks, with_tables, out);
}

int bs_shell_describe_table(const bs_shell_schema *s, const char *ks, const char *table,
                            bs_buf *out) {
    return bs_describe_table_cql(s, ks, table, out);
}

/* ----------------------------------------------------------------- load */

/* Runs a query and hands every row (all pages) to cb. */
typedef int (*row_fn)(bs_shell_schema *s, bs_client_result *r);

static int for_rows(bs_client *c, const char *cql, bs_shell_schema *s,
                    row_fn fn, bs_client_error *err) {
    bs_client_stmt *st = NULL;
    int rc = bs_client_stmt_new(cql, 0, &st);
    if (rc) return rc;
    bs_client_stmt_set_page_size(st, 5000);
    bs_client_result *r = NULL;
    rc = bs_client_execute(c, st, &r, err);
    while (!rc) {
        while (!rc && bs_client_result_next_row(r))
            rc = fn(s, r);
        if (rc || !bs_client_result_has_more_pages(r)) break;
        bs_client_result *next = NULL;
        rc = bs_client_next_page(c, st, r, &next, err);
        bs_client_result_free(r);
        r = next;
    }
    bs_client_result_free(r);
    bs_client_stmt_free(st);
    return rc;
}

/* Column text into dst (NUL-terminated, truncated); "" for null. */
static void get_text(bs_client_result *r, const char *col, char *dst,
                     size_t cap) {
    dst[0] = 0;
    int i = bs_client_result_column_index(r, col);
    if (i < 0) return;
    const char *p;
    size_t l;
    if (bs_client_result_get_text(r, (size_t)i, &p, &l)) return;
    if (l >= cap) l = cap - 1;
    memcpy(dst, p, l);
    dst[l] = 0;
}

/* Column value as a CQL literal into out; BS_ENOTFOUND when null/absent. */
static int get_cql(bs_client_result *r, const char *col, bs_buf *out) {
    int i = bs_client_result_column_index(r, col);
    if (i < 0) return BS_ENOTFOUND;
    const uint8_t *p;
    size_t l;
    if (bs_client_result_get_bytes(r, (size_t)i, &p, &l) || l == BS_CLIENT_NULL)
        return BS_ENOTFOUND;
    return bs_value_format_cql(bs_client_result_column_type(r, (size_t)i), p, l,
                               out);
}

static int ks_row(bs_shell_schema *s, bs_client_result *r) {
    char name[256];
    get_text(r, "keyspace_name", name, sizeof name);
    int durable = 1;
    int i = bs_client_result_column_index(r, "durable_writes");
    if (i >= 0) bs_client_result_get_bool(r, (size_t)i, &durable);
    bs_buf repl = BS_BUF_INIT;
    int rc = get_cql(r, "replication", &repl);
    if (rc == BS_ENOTFOUND) rc = bs_buf_append_str(&repl, "{}");
    if (!rc) rc = bs_buf_append_u8(&repl, 0);
    if (!rc)
        rc = bs_shell_schema_add_keyspace(s, name, durable, (char *)repl.data);
    bs_buf_free(&repl);
    return rc == BS_EEXIST ? 0 : rc;
}

static int table_row(bs_shell_schema *s, bs_client_result *r) {
    char ks[256], name[256];
    get_text(r, "keyspace_name", ks, sizeof ks);
    get_text(r, "table_name", name, sizeof name);
    int rc = bs_shell_schema_add_table(s, ks, name);
    if (rc == BS_EEXIST || rc == BS_ENOTFOUND) return 0;
    if (rc) return rc;
    bs_buf v = BS_BUF_INIT;
    for (size_t i = 0; bs_describe_table_opts[i] && !rc; i++) {
        v.len = 0;
        int x = get_cql(r, bs_describe_table_opts[i], &v);
        if (x == BS_ENOTFOUND) continue;
        if (x || bs_buf_append_u8(&v, 0)) {
            rc = x ? x : BS_ENOMEM;
            break;
        }
        rc = bs_shell_schema_add_table_option(s, ks, name, bs_describe_table_opts[i],
                                              (char *)v.data);
    }
    bs_buf_free(&v);
    return rc;
}

static int col_row(bs_shell_schema *s, bs_client_result *r) {
    char ks[256], t[256], name[256], kind[32], order[16], type[1024];
    get_text(r, "keyspace_name", ks, sizeof ks);
    get_text(r, "table_name", t, sizeof t);
    get_text(r, "column_name", name, sizeof name);
    get_text(r, "kind", kind, sizeof kind);
    get_text(r, "clustering_order", order, sizeof order);
    get_text(r, "type", type, sizeof type);
    int32_t pos = 0;
    int i = bs_client_result_column_index(r, "position");
    if (i >= 0) bs_client_result_get_int32(r, (size_t)i, &pos);
    int rc = bs_shell_schema_add_column(s, ks, t, name, kind, pos, order, type);
    return rc == BS_ENOTFOUND ? 0 : rc;
}

int bs_shell_schema_load(bs_client *c, bs_shell_schema **out,
                         bs_client_error *err) {
    bs_shell_schema *s;
    int rc = bs_shell_schema_new(&s);
    if (rc) return rc;
    rc = for_rows(c,
                  "SELECT keyspace_name, durable_writes, replication FROM "
                  "system_schema.keyspaces",
                  s, ks_row, err);
    if (!rc)
        rc = for_rows(c, "SELECT * FROM system_schema.tables", s, table_row,
                      err);
    if (!rc)
        rc = for_rows(c,
                      "SELECT keyspace_name, table_name, column_name, kind, "
                      "position, clustering_order, type FROM "
                      "system_schema.columns",
                      s, col_row, err);
    if (rc) {
        bs_shell_schema_free(s);
        return rc;
    }
    *out = s;
    return 0;
}
