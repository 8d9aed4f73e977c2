/*
 * shell.h - the pieces of basalt-shell (cqlsh for Basalt), shared by its
 * source files.  Not a library API: only client/shell*.c include it.
 *
 *   shell.c           main: options, connection, the read-eval loop
 *                     (libedit, history, prompts), dispatch of shell
 *                     commands, result printing, ---MORE--- paging
 *   shell_split.c     statement splitting (bs_cql_split plus cqlsh's
 *                     "commands that end at a newline") and the parsing
 *                     of shell command arguments
 *   shell_render.c    aligned tables / EXPAND ON vertical records
 *   shell_csv.c       RFC 4180 CSV writing and reading (COPY)
 *   shell_schema.c    schema read from system_schema.*, DESCRIBE text
 *   shell_complete.c  tab completion candidates
 *   shell_copy.c      COPY TO / COPY FROM
 *
 * Conventions as in the rest of Basalt: 0 or a negative BS_E code,
 * out-params last; every pointer argument is borrowed for the call only
 * unless the comment says otherwise.
 */
#ifndef BS_CLIENT_SHELL_H
#define BS_CLIENT_SHELL_H

#include <stddef.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>

#include "client/basalt.h"
#include "common/buf.h"
#include "query/cql_describe.h"

/* ------------------------------------------------------------ splitting */

/* Outcome of bs_shell_next_stmt. */
enum {
    BS_SHELL_STMT_NONE = 0,     /* only blanks/comments are left */
    BS_SHELL_STMT_COMPLETE = 1, /* a statement was found */
    BS_SHELL_STMT_PARTIAL = 2   /* a statement is still being typed */
};

/*
 * Finds the first statement of text[0..len).  CQL statements end at a
 * top-level ';' (quotes, comments and BEGIN BATCH ... APPLY BATCH
 * respected, by bs_cql_split); the shell's own commands that cqlsh ends
 * at a newline (HELP, EXIT, QUIT, DESCRIBE, CONSISTENCY, EXPAND, PAGING,
 * SOURCE, CLEAR, ...) end at the end of their line or at ';'.
 * With `at_eof` a trailing statement without its terminator counts as
 * complete (a script's last line).
 * Returns a BS_SHELL_STMT_* value; for COMPLETE, *off and *slen give the
 * statement text (terminator excluded, leading blanks skipped) and
 * *consumed how many bytes of text it used, terminator included; for
 * NONE *consumed is len; for PARTIAL nothing is consumed (0).
 * BS_ENOMEM only.
 */
int bs_shell_next_stmt(const char *text, size_t len, int at_eof, size_t *off,
                       size_t *slen, size_t *consumed);

/* 1 when `word` (any case) starts a command that ends at a newline. */
int bs_shell_is_line_command(const char *word, size_t len);

/* Shell-level commands recognised before anything is sent to a server. */
typedef enum {
    BS_SHELL_CMD_CQL = 0, /* anything else: sent to the server as is */
    BS_SHELL_CMD_EXIT,
    BS_SHELL_CMD_HELP,
    BS_SHELL_CMD_EXPAND,      /* arg: "", "on", "off" */
    BS_SHELL_CMD_PAGING,      /* arg: "", "on", "off" or a number */
    BS_SHELL_CMD_CONSISTENCY, /* arg: "" or the level (upper case) */
    BS_SHELL_CMD_SERIAL,      /* SERIAL CONSISTENCY [level] */
    BS_SHELL_CMD_DESCRIBE,    /* what + names, see bs_shell_describe_req */
    BS_SHELL_CMD_SOURCE,      /* arg: the file name */
    BS_SHELL_CMD_COPY,        /* see bs_shell_copy_req */
    BS_SHELL_CMD_CLEAR,
    BS_SHELL_CMD_USE, /* sent to the server; arg: the keyspace */
    BS_SHELL_CMD_TRACING /* arg: "", "on", "off" */
} bs_shell_cmd_kind;

typedef enum {
    BS_SHELL_DESC_KEYSPACES = 1,
    BS_SHELL_DESC_TABLES,
    BS_SHELL_DESC_KEYSPACE, /* ks ("" = current) */
    BS_SHELL_DESC_TABLE,    /* [ks.]name */
    BS_SHELL_DESC_CLUSTER,
    BS_SHELL_DESC_SCHEMA,
    BS_SHELL_DESC_NAME, /* DESCRIBE x: a keyspace, else a table */
    /* Basalt has no user-defined types, functions or aggregates: the
     * listings are empty, an element is "not found" (as cqlsh prints the
     * server's answers to them) */
    BS_SHELL_DESC_TYPES,
    BS_SHELL_DESC_FUNCTIONS,
    BS_SHELL_DESC_AGGREGATES,
    BS_SHELL_DESC_TYPE,      /* [ks.]name */
    BS_SHELL_DESC_FUNCTION,  /* [ks.]name */
    BS_SHELL_DESC_AGGREGATE  /* [ks.]name */
} bs_shell_desc_kind;

#define BS_SHELL_MAX_COPY_COLS 256

typedef struct bs_shell_copy_req {
    char ks[256]; /* "" = current keyspace */
    char table[256];
    size_t ncols; /* 0 = all columns */
    char cols[BS_SHELL_MAX_COPY_COLS][256];
    int to;          /* 1 TO, 0 FROM */
    char file[1024]; /* "STDOUT"/"STDIN" (unquoted) or a path */
    int header;      /* WITH HEADER = true */
    char delim;      /* WITH DELIMITER = ',' (one character) */
    long maxrows;    /* WITH MAXROWS = n (-1: all) */
    int pagesize;    /* COPY TO page size (WITH PAGESIZE), default 1000 */
    int inflight;    /* COPY FROM: requests in flight (WITH MAXINFLIGHT) */
} bs_shell_copy_req;

typedef struct bs_shell_cmd {
    bs_shell_cmd_kind kind;
    char arg[1024];
    bs_shell_desc_kind desc;
    char ks[256];   /* DESCRIBE: keyspace ("" = current) */
    char name[256]; /* DESCRIBE: table or keyspace name */
    bs_shell_copy_req copy;
} bs_shell_cmd;

/*
 * Classifies one statement (as bs_shell_next_stmt returned it) and parses
 * the arguments of shell commands.  Identifiers are folded to lower case
 * unless double-quoted, strings unquoted.  0, or BS_ESYNTAX with a
 * cqlsh-like message in err (errlen bytes) for a malformed shell command.
 * CQL statements are not checked (the server does that).
 */
int bs_shell_parse_cmd(const char *stmt, size_t len, bs_shell_cmd *out,
                       char *err, size_t errlen);

/* ------------------------------------------------------------ rendering */

typedef struct bs_shell_grid bs_shell_grid;

/* A grid of already formatted cells under ncols column names (copied).
 * *out is freed with bs_shell_grid_free.  0 or BS_ENOMEM. */
int bs_shell_grid_new(size_t ncols, const char *const *names,
                      bs_shell_grid **out);
void bs_shell_grid_free(bs_shell_grid *g);
/* Appends one row of ncols cells (copied; lens[i] bytes each). */
int bs_shell_grid_add_row(bs_shell_grid *g, const char *const *cells,
                          const size_t *lens);
size_t bs_shell_grid_rows(const bs_shell_grid *g);
/* Drops the rows (keeps the names). */
void bs_shell_grid_clear(bs_shell_grid *g);

/*
 * Renders the rows as cqlsh does.  Table form: a header line
 * " name | name" (names left-aligned), a rule "----+----", then each row
 * with values right-aligned to the column's display width (UTF-8 aware).
 * With `header` 0 the header and rule are left out (later pages in a
 * pipe).  Expanded form (EXPAND ON): per row "@ Row N" (N counting from
 * first_row + 1), a rule, then " name | value" lines and a blank line.
 * 0 or BS_ENOMEM.
 */
int bs_shell_grid_render(const bs_shell_grid *g, int expand, int header,
                         size_t first_row, bs_buf *out);

/* Terminal columns taken by s[0..len) (UTF-8; wide characters count 2,
 * combining marks 0, invalid bytes 1). */
size_t bs_shell_display_width(const char *s, size_t len);

/* ------------------------------------------------------------------ CSV */

/*
 * Appends one field as RFC 4180 CSV: quoted (with "" for ") when it holds
 * the delimiter, a quote, CR or LF, or leading/trailing blanks, or is
 * empty.  A null value (is_null) is the empty unquoted field, so null and
 * '' stay distinct.  0 or BS_ENOMEM.
 */
int bs_shell_csv_field(bs_buf *out, const char *s, size_t len, int is_null,
                       char delim);

typedef struct bs_shell_csv bs_shell_csv;

/* A reader over f (borrowed; must outlive the reader). */
int bs_shell_csv_open(FILE *f, char delim, bs_shell_csv **out);
void bs_shell_csv_close(bs_shell_csv *r);
/*
 * Reads the next record: returns 1 with *n fields (borrowed until the
 * next call: fields[i] is NUL-terminated, lens[i] its length, quoted[i]
 * 1 when the field was quoted), 0 at end of input, or BS_ESYNTAX for a
 * malformed record (unterminated quote, text after a closing quote) with
 * the 1-based line in *line.  CRLF and LF both end records; quoted fields
 * may span lines.  Blank lines are skipped.
 */
int bs_shell_csv_next(bs_shell_csv *r, size_t *n, char ***fields, size_t **lens,
                      uint8_t **quoted, long *line);

/* --------------------------------------------------------------- schema */

/* the model of query/cql_describe.h, shared with the server's DESCRIBE */
typedef struct bs_describe bs_shell_schema;

/* An empty schema, filled by the add functions (or bs_shell_schema_load).
 * 0 or BS_ENOMEM. */
int bs_shell_schema_new(bs_shell_schema **out);
void bs_shell_schema_free(bs_shell_schema *s);
/* `replication` is the map already in CQL literal form
 * ("{'class': '...', 'replication_factor': '1'}"). */
int bs_shell_schema_add_keyspace(bs_shell_schema *s, const char *name,
                                 int durable_writes, const char *replication);
/* Table options: name = CQL literal text, kept in the order given. */
int bs_shell_schema_add_table(bs_shell_schema *s, const char *ks,
                              const char *name);
int bs_shell_schema_add_table_option(bs_shell_schema *s, const char *ks,
                                     const char *table, const char *opt,
                                     const char *value_cql);
/* kind: "partition_key", "clustering", "regular", "static";
 * order: "asc", "desc", "none"; type as system_schema.columns.type. */
int bs_shell_schema_add_column(bs_shell_schema *s, const char *ks,
                               const char *table, const char *name,
                               const char *kind, int position,
                               const char *order, const char *type);

/* Reads system_schema.keyspaces, tables and columns through c.  On
 * success *out is a new schema.  0 or the client's error (err filled). */
int bs_shell_schema_load(bs_client *c, bs_shell_schema **out,
                         bs_client_error *err);

/* Names, for completion and DESCRIBE KEYSPACES/TABLES.  Keyspaces and
 * tables sort by name; columns come in CREATE TABLE order.  Returned
 * strings are borrowed from s.  NULL for a bad index / unknown name. */
size_t bs_shell_schema_nkeyspaces(const bs_shell_schema *s);
const char *bs_shell_schema_keyspace(const bs_shell_schema *s, size_t i);
size_t bs_shell_schema_ntables(const bs_shell_schema *s, const char *ks);
const char *bs_shell_schema_table(const bs_shell_schema *s, const char *ks,
                                  size_t i);
size_t bs_shell_schema_ncolumns(const bs_shell_schema *s, const char *ks,
                                const char *table);
const char *bs_shell_schema_column(const bs_shell_schema *s, const char *ks,
                                   const char *table, size_t i);
/* 1 for system keyspaces (system, system_schema, system_auth, ...). */
int bs_shell_is_system_keyspace(const char *ks);

/* Appends CREATE KEYSPACE (with its tables when `with_tables`) and
 * CREATE TABLE statements, each ending in ";\n", in the form cqlsh's
 * DESCRIBE prints (runnable as is to recreate the schema).
 * BS_ENOTFOUND when the keyspace/table does not exist. */
int bs_shell_describe_keyspace(const bs_shell_schema *s, const char *ks,
                               int with_tables, bs_buf *out);
int bs_shell_describe_table(const bs_shell_schema *s, const char *ks,
                            const char *table, bs_buf *out);

/* ----------------------------------------------------------- completion */

/*
 * Candidates for completing the word that ends at line[cursor]: CQL and
 * shell keywords (upper case), keyspace names, table names (of the
 * current keyspace `cur_ks`, or of ks after "ks."), and the columns of
 * the table the statement names (FROM/INTO/UPDATE/TABLE ...), depending on
 * the previous words.  Candidates that start with the word (keywords
 * case-insensitively) are appended to *out as NUL-separated strings, their
 * number in *n; *word_start gets the offset where the word begins.
 * s may be NULL (keywords only).  0 or BS_ENOMEM.
 */
int bs_shell_complete(const bs_shell_schema *s, const char *cur_ks,
                      const char *line, size_t cursor, bs_buf *out, size_t *n,
                      size_t *word_start);

/* ----------------------------------------------------------------- COPY */

/* What COPY reports at the end; printed by the caller. */
typedef struct bs_shell_copy_stats {
    long rows;   /* rows exported / imported */
    long errors; /* rows rejected (FROM) */
    double secs; /* wall time */
} bs_shell_copy_stats;

/* Runs COPY.  Progress goes to `progress` (may be NULL) as
 * "Processed: N rows; Rate: R rows/s" lines.  COPY stops early, with
 * BS_ECANCELED, once *cancel (may be NULL) is non-zero (Ctrl-C): TO after
 * the page it is writing, FROM after the rows already sent are answered.
 * On failure a message is in err.  0, or a negative code. */
int bs_shell_copy(bs_client *c, const bs_shell_copy_req *req,
                  const char *cur_ks, FILE *progress,
                  const volatile sig_atomic_t *cancel,
                  bs_shell_copy_stats *stats, char *err, size_t errlen);

/* Formats a client error the way cqlsh prints it
 * ("InvalidRequest: Error from server: code=2200 [Invalid query]
 * message=\"...\"", "SyntaxException: line 1:9 ..."), NUL-terminated. */
void bs_shell_format_error(const bs_client_error *e, int rc, char *buf,
                           size_t buflen);

/* TRACING ON (shell_trace.c): appends the trace of session `id` to out as
 * cqlsh prints it ("Tracing session: <id>", then a table of activity |
 * timestamp | source | source_elapsed | client), polling
 * system_traces.sessions until the session has its duration, at most
 * wait_ms.  0, or an error with a message in err (BS_ETIMEDOUT: the
 * trace did not complete in time). */
int bs_shell_print_trace(bs_client *c, const uint8_t id[16], int expand, int wait_ms,
                         bs_buf *out, char *err, size_t errlen);

#endif
