/*
 * cql_describe.c - a schema model (keyspaces, tables, columns, options as
 * CQL text) and DESCRIBE's CQL, shared by basalt-shell (filled from
 * system_schema.* through the client) and the server's DESCRIBE
 * statement (filled from the same system_schema rows), so both print
 * exactly the same text.
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

#include "common/error.h"
#include "query/cql.h"
#include "query/cql_describe.h"

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

struct bs_describe {
    sks *ks;
    size_t nks;
};

int bs_describe_new(bs_describe **out) {
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

void bs_describe_free(bs_describe *s) {
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

static sks *find_ks(const bs_describe *s, const char *name) {
    for (size_t i = 0; i < s->nks; i++)
        if (!strcmp(s->ks[i].name, name)) return &s->ks[i];
    return NULL;
}

static stable *find_table(const bs_describe *s, const char *ks,
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

int bs_describe_add_keyspace(bs_describe *s, const char *name,
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

int bs_describe_add_table(bs_describe *s, const char *ks,
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

int bs_describe_add_table_option(bs_describe *s, const char *ks,
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

int bs_describe_add_column(bs_describe *s, const char *ks,
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

size_t bs_describe_nkeyspaces(const bs_describe *s) {
    return s->nks;
}

const char *bs_describe_keyspace(const bs_describe *s, size_t i) {
    return i < s->nks ? s->ks[i].name : NULL;
}

size_t bs_describe_ntables(const bs_describe *s, const char *ks) {
    sks *k = find_ks(s, ks);
    return k ? k->ntables : 0;
}

const char *bs_describe_table(const bs_describe *s, const char *ks,
                                  size_t i) {
    sks *k = find_ks(s, ks);
    return k && i < k->ntables ? k->tables[i].name : NULL;
}

size_t bs_describe_ncolumns(const bs_describe *s, const char *ks,
                                const char *table) {
    stable *t = find_table(s, ks, table);
    return t ? t->ncols : 0;
}

const char *bs_describe_column(const bs_describe *s, const char *ks,
                                   const char *table, size_t i) {
    stable *t = find_table(s, ks, table);
    return t && i < t->ncols ? t->cols[i].name : NULL;
}

/* ------------------------------------------------------------- DESCRIBE */

int bs_describe_table_cql(const bs_describe *s, const char *ks,
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

int bs_describe_keyspace_cql(const bs_describe *s, const char *ks,
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
        rc = bs_describe_table_cql(s, ks, k->tables[i].name, out);
        if (rc) return rc;
    }
    return 0;
}


const char *const bs_describe_table_opts[] = {"additional_write_policy",
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
