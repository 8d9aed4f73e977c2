/*
 * shell_schema.c - the schema as the shell sees it (read from
 * system_schema.keyspaces / tables / columns) and DESCRIBE's CQL.
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

typedef struct scol {
    char *name, *kind, *order, *type;
    int position;
} scol;

typedef struct sopt {
    char *name, *value;
} sopt;

typedef struct stable {
    char *name;
    scol *cols;
    size_t ncols;
    sopt *opts;
    size_t nopts;
} stable;

typedef struct sks {
    char *name;
    int durable;
    char *repl;
    stable *tables;
    size_t ntables;
} sks;

struct bs_shell_schema {
    sks *ks;
    size_t nks;
};

int bs_shell_schema_new(bs_shell_schema **out) {
    *out = calloc(1, sizeof **out);
    return *out ? 0 : BS_ENOMEM;
}

static void table_free(stable *t) {
    free(t->name);
    for (size_t i = 0; i < t->ncols; i++) {
        free(t->cols[i].name);
        free(t->cols[i].kind);
        free(t->cols[i].order);
        free(t->cols[i].type);
    }
    free(t->cols);
    for (size_t i = 0; i < t->nopts; i++) {
        free(t->opts[i].name);
        free(t->opts[i].value);
    }
    free(t->opts);
}

void bs_shell_schema_free(bs_shell_schema *s) {
    if (!s) return;
    for (size_t i = 0; i < s->nks; i++) {
        free(s->ks[i].name);
        free(s->ks[i].repl);
        for (size_t j = 0; j < s->ks[i].ntables; j++)
            table_free(&s->ks[i].tables[j]);
        free(s->ks[i].tables);
    }
    free(s->ks);
    free(s);
}

int bs_shell_is_system_keyspace(const char *ks) {
    return !strcmp(ks, "system") || !strncmp(ks, "system_", 7);
}

static sks *find_ks(const bs_shell_schema *s, const char *name) {
    for (size_t i = 0; i < s->nks; i++)
        if (!strcmp(s->ks[i].name, name)) return &s->ks[i];
    return NULL;
}

static stable *find_table(const bs_shell_schema *s, const char *ks,
                          const char *name) {
    sks *k = find_ks(s, ks);
    if (!k) return NULL;
    for (size_t i = 0; i < k->ntables; i++)
        if (!strcmp(k->tables[i].name, name)) return &k->tables[i];
    return NULL;
}

/* Grows an array of `size`-byte items to hold n + 1 and moves items
 * [at, n) up by one.  0 or BS_ENOMEM. */
static int insert_slot(void **arr, size_t size, size_t n, size_t at) {
    void *p = realloc(*arr, (n + 1) * size);
    if (!p) return BS_ENOMEM;
    *arr = p;
    memmove((char *)p + (at + 1) * size, (char *)p + at * size,
            (n - at) * size);
    memset((char *)p + at * size, 0, size);
    return 0;
}

int bs_shell_schema_add_keyspace(bs_shell_schema *s, const char *name,
                                 int durable_writes, const char *replication) {
    if (find_ks(s, name)) return BS_EEXIST;
    size_t at = 0;
    while (at < s->nks && strcmp(s->ks[at].name, name) < 0)
        at++;
    char *n = strdup(name), *r = strdup(replication ? replication : "{}");
    if (!n || !r || insert_slot((void **)&s->ks, sizeof *s->ks, s->nks, at)) {
        free(n);
        free(r);
        return BS_ENOMEM;
    }
    s->ks[at].name = n;
    s->ks[at].repl = r;
    s->ks[at].durable = durable_writes;
    s->nks++;
    return 0;
}

int bs_shell_schema_add_table(bs_shell_schema *s, const char *ks,
                              const char *name) {
    sks *k = find_ks(s, ks);
    if (!k) return BS_ENOTFOUND;
    if (find_table(s, ks, name)) return BS_EEXIST;
    size_t at = 0;
    while (at < k->ntables && strcmp(k->tables[at].name, name) < 0)
        at++;
    char *n = strdup(name);
    if (!n ||
        insert_slot((void **)&k->tables, sizeof *k->tables, k->ntables, at)) {
        free(n);
        return BS_ENOMEM;
    }
    k->tables[at].name = n;
    k->ntables++;
    return 0;
}

int bs_shell_schema_add_table_option(bs_shell_schema *s, const char *ks,
                                     const char *table, const char *opt,
                                     const char *value_cql) {
    stable *t = find_table(s, ks, table);
    if (!t) return BS_ENOTFOUND;
    char *n = strdup(opt), *v = strdup(value_cql);
    if (!n || !v ||
        insert_slot((void **)&t->opts, sizeof *t->opts, t->nopts, t->nopts)) {
        free(n);
        free(v);
        return BS_ENOMEM;
    }
    t->opts[t->nopts].name = n;
    t->opts[t->nopts].value = v;
    t->nopts++;
    return 0;
}

static int kind_rank(const char *kind) {
    if (!strcmp(kind, "partition_key")) return 0;
    if (!strcmp(kind, "clustering")) return 1;
    return 2;
}

static int col_before(const scol *a, const char *kind, int position,
                      const char *name) {
    int ra = kind_rank(a->kind), rb = kind_rank(kind);
    if (ra != rb) return ra < rb;
    if (ra < 2) return a->position < position;
    return strcmp(a->name, name) < 0;
}

int bs_shell_schema_add_column(bs_shell_schema *s, const char *ks,
                               const char *table, const char *name,
                               const char *kind, int position,
                               const char *order, const char *type) {
    stable *t = find_table(s, ks, table);
    if (!t) return BS_ENOTFOUND;
    size_t at = 0;
    while (at < t->ncols && col_before(&t->cols[at], kind, position, name))
        at++;
    scol c = {strdup(name), strdup(kind), strdup(order ? order : "none"),
              strdup(type), position};
    if (!c.name || !c.kind || !c.order || !c.type ||
        insert_slot((void **)&t->cols, sizeof *t->cols, t->ncols, at)) {
        free(c.name);
        free(c.kind);
        free(c.order);
        free(c.type);
        return BS_ENOMEM;
    }
    t->cols[at] = c;
    t->ncols++;
    return 0;
}

size_t bs_shell_schema_nkeyspaces(const bs_shell_schema *s) {
    return s->nks;
}

const char *bs_shell_schema_keyspace(const bs_shell_schema *s, size_t i) {
    return i < s->nks ? s->ks[i].name : NULL;
}

size_t bs_shell_schema_ntables(const bs_shell_schema *s, const char *ks) {
    sks *k = find_ks(s, ks);
    return k ? k->ntables : 0;
}

const char *bs_shell_schema_table(const bs_shell_schema *s, const char *ks,
                                  size_t i) {
    sks *k = find_ks(s, ks);
    return k && i < k->ntables ? k->tables[i].name : NULL;
}

size_t bs_shell_schema_ncolumns(const bs_shell_schema *s, const char *ks,
                                const char *table) {
    stable *t = find_table(s, ks, table);
    return t ? t->ncols : 0;
}

const char *bs_shell_schema_column(const bs_shell_schema *s, const char *ks,
                                   const char *table, size_t i) {
    stable *t = find_table(s, ks, table);
    return t && i < t->ncols ? t->cols[i].name : NULL;
}

/* ------------------------------------------------------------- DESCRIBE */

int bs_shell_describe_table(const bs_shell_schema *s, const char *ks,
                            const char *table, bs_buf *out) {
    stable *t = find_table(s, ks, table);
    if (!t) return BS_ENOTFOUND;
    size_t npk = 0, nck = 0;
    for (size_t i = 0; i < t->ncols; i++) {
        int r = kind_rank(t->cols[i].kind);
        if (r == 0)
            npk++;
        else if (r == 1)
            nck++;
    }
    int inline_pk = npk == 1 && nck == 0;
    int rc = 0;
    rc |= bs_buf_append_str(out, "CREATE TABLE ");
    rc |= bs_cql_print_ident(ks, out);
    rc |= bs_buf_append_u8(out, '.');
    rc |= bs_cql_print_ident(table, out);
    rc |= bs_buf_append_str(out, " (\n");
    for (size_t i = 0; i < t->ncols; i++) {
        const scol *c = &t->cols[i];
        rc |= bs_buf_append_str(out, "    ");
        rc |= bs_cql_print_ident(c->name, out);
        rc |= bs_buf_append_u8(out, ' ');
        rc |= bs_buf_append_str(out, c->type);
        if (!strcmp(c->kind, "static")) rc |= bs_buf_append_str(out, " static");
        if (inline_pk && kind_rank(c->kind) == 0)
            rc |= bs_buf_append_str(out, " PRIMARY KEY");
        if (i + 1 < t->ncols || !inline_pk) rc |= bs_buf_append_u8(out, ',');
        rc |= bs_buf_append_u8(out, '\n');
    }
    if (!inline_pk) {
        rc |= bs_buf_append_str(out, "    PRIMARY KEY (");
        if (npk > 1) rc |= bs_buf_append_u8(out, '(');
        for (size_t i = 0; i < npk; i++) {
            if (i) rc |= bs_buf_append_str(out, ", ");
            rc |= bs_cql_print_ident(t->cols[i].name, out);
        }
        if (npk > 1) rc |= bs_buf_append_u8(out, ')');
        for (size_t i = npk; i < npk + nck; i++) {
            rc |= bs_buf_append_str(out, ", ");
            rc |= bs_cql_print_ident(t->cols[i].name, out);
        }
        rc |= bs_buf_append_str(out, ")\n");
    }
    rc |= bs_buf_append_u8(out, ')');
    const char *sep = " WITH ";
    if (nck) {
        rc |= bs_buf_append_str(out, " WITH CLUSTERING ORDER BY (");
        for (size_t i = npk; i < npk + nck; i++) {
            if (i > npk) rc |= bs_buf_append_str(out, ", ");
            rc |= bs_cql_print_ident(t->cols[i].name, out);
            rc |= bs_buf_append_str(
                out, !strcmp(t->cols[i].order, "desc") ? " DESC" : " ASC");
        }
        rc |= bs_buf_append_u8(out, ')');
        sep = "\n    AND ";
    }
    for (size_t i = 0; i < t->nopts; i++) {
        rc |= bs_buf_append_str(out, sep);
        rc |= bs_buf_appendf(out, "%s = %s", t->opts[i].name, t->opts[i].value);
        sep = "\n    AND ";
    }
    rc |= bs_buf_append_str(out, ";\n");
    return rc ? BS_ENOMEM : 0;
}

int bs_shell_describe_keyspace(const bs_shell_schema *s, const char *ks,
                               int with_tables, bs_buf *out) {
    sks *k = find_ks(s, ks);
    if (!k) return BS_ENOTFOUND;
    int rc = 0;
    rc |= bs_buf_append_str(out, "CREATE KEYSPACE ");
    rc |= bs_cql_print_ident(ks, out);
    rc |= bs_buf_appendf(out,
                         " WITH replication = %s  AND durable_writes = %s;\n",
                         k->repl, k->durable ? "true" : "false");
    if (rc) return BS_ENOMEM;
    if (!with_tables) return 0;
    for (size_t i = 0; i < k->ntables; i++) {
        if (bs_buf_append_u8(out, '\n')) return BS_ENOMEM;
        rc = bs_shell_describe_table(s, ks, k->tables[i].name, out);
        if (rc) return rc;
    }
    return 0;
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

/* Options CREATE TABLE accepts, in the (alphabetical) order Cassandra 4's
 * DESCRIBE prints them. */
static const char *const table_opts[] = {"additional_write_policy",
                                         "bloom_filter_fp_chance",
                                         "caching",
                                         "cdc",
                                         "comment",
                                         "compaction",
                                         "compression",
                                         "crc_check_chance",
                                         "default_time_to_live",
                                         "extensions",
                                         "gc_grace_seconds",
                                         "max_index_interval",
                                         "memtable_flush_period_in_ms",
                                         "min_index_interval",
                                         "read_repair",
                                         "speculative_retry",
                                         NULL};

static int table_row(bs_shell_schema *s, bs_client_result *r) {
    char ks[256], name[256];
    get_text(r, "keyspace_name", ks, sizeof ks);
    get_text(r, "table_name", name, sizeof name);
    int rc = bs_shell_schema_add_table(s, ks, name);
    if (rc == BS_EEXIST || rc == BS_ENOTFOUND) return 0;
    if (rc) return rc;
    bs_buf v = BS_BUF_INIT;
    for (size_t i = 0; table_opts[i] && !rc; i++) {
        v.len = 0;
        int x = get_cql(r, table_opts[i], &v);
        if (x == BS_ENOTFOUND) continue;
        if (x || bs_buf_append_u8(&v, 0)) {
            rc = x ? x : BS_ENOMEM;
            break;
        }
        rc = bs_shell_schema_add_table_option(s, ks, name, table_opts[i],
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
