/*
 * shell.c - basalt-shell: cqlsh for Basalt.
 *
 *   basalt-shell [options] [host [port]]
 *     --host H, --port P     node to connect to (default 127.0.0.1 9042)
 *     -k, --keyspace KS      USE KS after connecting
 *     -u, --username U, -p, --password P   accepted, unused until auth
 *     -e, --execute "STMT;"  run the statements and exit
 *     -f, --file FILE        run the file and exit
 *     --connect-timeout S, --request-timeout S   (seconds)
 *     --ssl, --ssl-ca F, --ssl-cert F, --ssl-key F, --ssl-no-verify
 *                            TLS (also BASALT_SSL* environment variables)
 *
 * Input comes from -e, -f, a pipe, or a terminal.  On a terminal the
 * shell reads lines with libedit (emacs keys, history persisted in
 * ~/.basalt_history, TAB completion from shell_complete.c), shows the
 * prompt "basalt> " / "basalt:ks> " and "   ... " while a statement is
 * incomplete.  Typed lines accumulate in `pending`; after each line every
 * complete statement in it (bs_shell_next_stmt) runs and is removed.
 *
 * Each statement is either one of the shell's commands (bs_shell_parse_cmd:
 * HELP, EXIT, EXPAND, PAGING, CONSISTENCY, DESCRIBE, SOURCE, COPY, CLEAR)
 * or CQL sent to the server through libbasalt-client.  Rows print as
 * cqlsh prints them (shell_render.c); on an interactive terminal with
 * PAGING ON (default, 100 rows) each page is followed by ---MORE--- and
 * the next page is fetched after Enter.  Otherwise all pages are fetched
 * and printed as one table.
 *
 * Errors print to stderr as cqlsh prints them ("<ErrorClass>: <message>",
 * bs_shell_format_error) and the shell goes on; in -e / -f / pipe mode
 * the exit status is then 2 (1 for usage and connection errors).
 */
#include <ctype.h>
#include <errno.h>
#include <histedit.h>
#include <limits.h>
#include <locale.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "client/basalt.h"
#include "client/shell.h"
#include "common/error.h"
#include "query/proto.h"
#include "query/value.h"

#define SHELL_VERSION "0.1.0"
#define MAX_SOURCE_DEPTH 16

typedef struct shell {
    bs_client *c;
    char host[256];
    int port;
    char ks[256];
    int expand;
    int tracing; /* TRACING ON */
    int paging;
    int page_size;
    int interactive; /* reading from a terminal */
    int stdout_tty;
    uint16_t serial_cl;
    bs_shell_schema *schema; /* for completion; NULL = load on demand */
    EditLine *el;
    History *hist;
    char histfile[PATH_MAX];
    bs_buf pending; /* typed lines of an incomplete statement */
    long errors;
    int exit_req;
    int depth; /* SOURCE nesting */
} shell;

static shell *g_sh; /* for libedit callbacks */

static void out_flush(void) {
    fflush(stdout);
}

static void print_err(shell *sh, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void print_err(shell *sh, const char *fmt, ...) {
    out_flush();
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
    sh->errors++;
}

static void print_client_error(shell *sh, const bs_client_error *e, int rc) {
    char msg[1024];
    bs_shell_format_error(e, rc, msg, sizeof msg);
    print_err(sh, "%s", msg);
}

static void invalidate_schema(shell *sh) {
    bs_shell_schema_free(sh->schema);
    sh->schema = NULL;
}

static int load_schema(shell *sh) {
    if (sh->schema) return 0;
    bs_client_error e;
    int rc = bs_shell_schema_load(sh->c, &sh->schema, &e);
    if (rc) {
        print_client_error(sh, &e, rc);
        sh->schema = NULL;
    }
    return rc;
}

/* ----------------------------------------------------------------- rows */

/* Ctrl-C in an interactive session (at the prompt, at ---MORE---, while
 * a typed statement runs): set by the SIGINT handler, which is installed
 * without SA_RESTART so that a terminal read returns.  Scripts (-e, -f,
 * a pipe) keep SIGINT's default. */
static volatile sig_atomic_t g_sigint;

static void on_sigint(int sig) {
    (void)sig;
    g_sigint = 1;
}

static void sigint_catch(struct sigaction *old) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    g_sigint = 0;
    sigaction(SIGINT, &sa, old);
}

static void sigint_release(const struct sigaction *old) {
    sigaction(SIGINT, old, NULL);
}

/* Waits for Enter on the terminal after a page: 1, or 0 after Ctrl-C
 * (no more pages).  Reads the descriptor directly: stdio buffering must
 * not swallow typed-ahead input that libedit reads next. */
static int wait_more(void) {
    fputs("---MORE---", stdout);
    out_flush();
    struct sigaction old;
    sigint_catch(&old);
    char ch;
    for (;;) {
        ssize_t n = read(STDIN_FILENO, &ch, 1);
        if (n <= 0 || ch == '\n' || ch == '\r') break;
    }
    sigint_release(&old);
    return !g_sigint;
}

static int add_page(bs_shell_grid *g, bs_client_result *r, bs_buf *cellbuf,
                    const char **cells, size_t *lens, size_t *offs, size_t nc) {
    while (bs_client_result_next_row(r)) {
        cellbuf->len = 0;
        for (size_t i = 0; i < nc; i++) {
            offs[i] = cellbuf->len;
            int rc = bs_client_result_get_formatted(r, i, BS_VALUE_FMT_ESCAPE,
                                                    cellbuf);
            if (rc) {
                cellbuf->len = offs[i];
                rc = bs_buf_append_str(cellbuf, "<invalid value>");
                if (rc) return rc;
            }
            lens[i] = cellbuf->len - offs[i];
        }
        for (size_t i = 0; i < nc; i++)
            cells[i] = (const char *)cellbuf->data + offs[i];
        int rc = bs_shell_grid_add_row(g, cells, lens);
        if (rc) return rc;
    }
    return 0;
}

static int print_grid(shell *sh, bs_shell_grid *g, int header, size_t first) {
    bs_buf out = BS_BUF_INIT;
    int rc = bs_shell_grid_render(g, sh->expand, header, first, &out);
    if (!rc && out.len) fwrite(out.data, 1, out.len, stdout);
    bs_buf_free(&out);
    return rc;
}

static void print_rows(shell *sh, const bs_client_stmt *st,
                       bs_client_result *r) {
    size_t nc = bs_client_result_column_count(r);
    const char **names = calloc(nc + 1, sizeof *names);
    const char **cells = calloc(nc + 1, sizeof *cells);
    size_t *lens = calloc(nc + 1, sizeof *lens),
           *offs = calloc(nc + 1, sizeof *offs);
    bs_shell_grid *g = NULL;
    bs_client_result *owned = NULL;
    bs_buf cellbuf = BS_BUF_INIT;
    if (!names || !cells || !lens || !offs) goto oom;
    for (size_t i = 0; i < nc; i++)
        names[i] = bs_client_result_column_name(r, i);
    if (bs_shell_grid_new(nc, names, &g)) goto oom;
    int paged = sh->interactive && sh->stdout_tty && sh->paging;
    size_t total = 0;
    bs_client_result *cur = r;
    fputc('\n', stdout);
    for (;;) {
        if (add_page(g, cur, &cellbuf, cells, lens, offs, nc)) goto oom;
        int more = bs_client_result_has_more_pages(cur);
        if (paged) {
            size_t n = bs_shell_grid_rows(g);
            if (n || total == 0) {
                if (print_grid(sh, g, 1, total)) goto oom;
                total += n;
                bs_shell_grid_clear(g);
            }
            if (more) {
                fputc('\n', stdout);
                if (!wait_more()) { /* Ctrl-C: stop at the rows shown */
                    fputc('\n', stdout);
                    more = 0;
                }
            }
        }
        if (!more) break;
        bs_client_result *next = NULL;
        bs_client_error e;
        int rc = bs_client_next_page(sh->c, st, cur, &next, &e);
        bs_client_result_free(owned);
        owned = next;
        cur = next;
        if (rc) {
            if (!paged && bs_shell_grid_rows(g)) print_grid(sh, g, 1, 0);
            print_client_error(sh, &e, rc);
            goto done;
        }
    }
    if (!paged) {
        total = bs_shell_grid_rows(g);
        if (print_grid(sh, g, 1, 0)) goto oom;
    }
    if (!sh->expand) fputc('\n', stdout);
    printf("(%zu rows)\n", total);
    goto done;
oom:
    print_err(sh, "Error: out of memory while printing rows");
done:
    if (owned) bs_client_result_free(owned);
    bs_shell_grid_free(g);
    bs_buf_free(&cellbuf);
    free(names);
    free(cells);
    free(lens);
    free(offs);
}

static void print_trace(shell *sh, const uint8_t id[16]) {
    bs_buf out = BS_BUF_INIT;
    char err[600];
    out_flush();
    if (bs_shell_print_trace(sh->c, id, sh->expand, 10000, &out, err, sizeof err))
        print_err(sh, "%s", err);
    else if (out.len)
        fwrite(out.data, 1, out.len, stdout);
    bs_buf_free(&out);
}

static void run_cql(shell *sh, const char *text, size_t len) {
    char *q = strndup(text, len);
    if (!q) {
        print_err(sh, "Error: out of memory");
        return;
    }
    bs_client_stmt *st = NULL;
    int rc = bs_client_stmt_new(q, 0, &st);
    free(q);
    if (rc) {
        print_err(sh, "Error: %s", bs_client_strerror(rc));
        return;
    }
    int paged = sh->interactive && sh->stdout_tty && sh->paging;
    bs_client_stmt_set_page_size(st, paged ? sh->page_size : 5000);
    if (sh->serial_cl) bs_client_stmt_set_serial_consistency(st, sh->serial_cl);
    if (sh->tracing) bs_client_stmt_set_tracing(st, 1);
    bs_client_result *r = NULL;
    bs_client_error e;
    rc = bs_client_execute(sh->c, st, &r, &e);
    if (rc) {
        print_client_error(sh, &e, rc);
        bs_client_stmt_free(st);
        return;
    }
    size_t nw = bs_client_result_warning_count(r);
    if (nw) {
        out_flush();
        fprintf(stderr, "Warnings :\n");
        for (size_t i = 0; i < nw; i++)
            fprintf(stderr, "%s\n\n", bs_client_result_warning(r, i));
    }
    switch (bs_client_result_kind(r)) {
    case BS_CLIENT_RESULT_ROWS: print_rows(sh, st, r); break;
    case BS_CLIENT_RESULT_SET_KEYSPACE:
        snprintf(sh->ks, sizeof sh->ks, "%s", bs_client_result_keyspace(r));
        break;
    case BS_CLIENT_RESULT_SCHEMA_CHANGE: invalidate_schema(sh); break;
    default: break;
    }
    uint8_t tid[16];
    if (sh->tracing && !bs_client_result_tracing_id(r, tid)) print_trace(sh, tid);
    bs_client_result_free(r);
    bs_client_stmt_free(st);
}

/* ------------------------------------------------------------- commands */

static const char *help_text =
    "\n"
    "Documented shell commands:\n"
    "===========================\n"
    "CLEAR  CONSISTENCY  COPY  DESCRIBE  EXIT  EXPAND  HELP  PAGING  QUIT\n"
    "SERIAL  SOURCE  TRACING  USE\n"
    "\n"
    "CQL help topics:\n"
    "================\n"
    "ALTER_KEYSPACE  ALTER_TABLE  BATCH  CREATE_KEYSPACE  CREATE_TABLE\n"
    "DELETE  DROP_KEYSPACE  DROP_TABLE  INSERT  SELECT  TRUNCATE  TYPES\n"
    "UPDATE\n"
    "\n";

static const struct {
    const char *topic, *text;
} help_topics[] = {
    {"CONSISTENCY",
     "CONSISTENCY [level]\n  Shows or sets the consistency level of "
     "later requests: ANY, ONE, TWO, THREE, QUORUM, ALL,\n"
     "  LOCAL_QUORUM, EACH_QUORUM, LOCAL_ONE (SERIAL CONSISTENCY "
     "sets SERIAL or LOCAL_SERIAL)."},
    {"COPY",
     "COPY [ks.]table [(col, ...)] TO 'file.csv'|STDOUT [WITH opt = v [AND "
     "...]]\n"
     "COPY [ks.]table [(col, ...)] FROM 'file.csv'|STDIN [WITH ...]\n"
     "  Options: HEADER = true|false, DELIMITER = ',', MAXROWS = n,\n"
     "  PAGESIZE = n (TO), MAXINFLIGHT = n (FROM: concurrent INSERTs).\n"
     "  Nulls are empty fields; empty strings are \"\"."},
    {"DESCRIBE",
     "DESCRIBE KEYSPACES | TABLES | KEYSPACE [k] | TABLE [k.]t | CLUSTER | "
     "SCHEMA | name\n  Prints the CQL that recreates the schema."},
    {"EXPAND", "EXPAND [ON|OFF]\n  Shows each row as a vertical record."},
    {"PAGING",
     "PAGING [ON|OFF|n]\n  On a terminal, shows n rows (default 100) at a time "
     "with ---MORE---."},
    {"SOURCE", "SOURCE 'file'\n  Runs the statements in the file."},
    {"EXIT", "EXIT | QUIT\n  Leaves the shell."},
    {"QUIT", "EXIT | QUIT\n  Leaves the shell."},
    {"CLEAR", "CLEAR | CLS\n  Clears the terminal."},
    {"USE", "USE keyspace;\n  Makes keyspace the default for unqualified table "
            "names."},
};

static void cmd_help(shell *sh, const char *arg) {
    (void)sh;
    while (*arg == ' ')
        arg++;
    if (!*arg) {
        fputs(help_text, stdout);
        return;
    }
    for (size_t i = 0; i < sizeof help_topics / sizeof *help_topics; i++)
        if (!strcasecmp(arg, help_topics[i].topic)) {
            printf("\n%s\n\n", help_topics[i].text);
            return;
        }
    printf("\nSee the CQL reference (docs/CQL.md) for %s.\n\n", arg);
}

static int parse_cl(const char *s, uint16_t *cl) {
    static const struct {
        const char *n;
        uint16_t v;
    } t[] = {{"ANY", BS_CL_ANY},
             {"ONE", BS_CL_ONE},
             {"TWO", BS_CL_TWO},
             {"THREE", BS_CL_THREE},
             {"QUORUM", BS_CL_QUORUM},
             {"ALL", BS_CL_ALL},
             {"LOCAL_QUORUM", BS_CL_LOCAL_QUORUM},
             {"EACH_QUORUM", BS_CL_EACH_QUORUM},
             {"SERIAL", BS_CL_SERIAL},
             {"LOCAL_SERIAL", BS_CL_LOCAL_SERIAL},
             {"LOCAL_ONE", BS_CL_LOCAL_ONE}};
    for (size_t i = 0; i < sizeof t / sizeof *t; i++)
        if (!strcasecmp(s, t[i].n)) {
            *cl = t[i].v;
            return 0;
        }
    return BS_EINVAL;
}

static void cmd_consistency(shell *sh, const char *arg) {
    if (!*arg) {
        printf("Current consistency level is %s.\n",
               bs_proto_consistency_name(bs_client_consistency(sh->c)));
        return;
    }
    uint16_t cl;
    if (parse_cl(arg, &cl) || cl == BS_CL_SERIAL || cl == BS_CL_LOCAL_SERIAL) {
        print_err(sh, "Improper CONSISTENCY command.");
        return;
    }
    bs_client_set_consistency(sh->c, cl);
    printf("Consistency level set to %s.\n", bs_proto_consistency_name(cl));
}

static void cmd_serial(shell *sh, const char *arg) {
    if (!*arg) {
        printf("Current serial consistency level is %s.\n",
               bs_proto_consistency_name(sh->serial_cl ? sh->serial_cl
                                                       : BS_CL_SERIAL));
        return;
    }
    uint16_t cl;
    if (parse_cl(arg, &cl) ||
        (cl != BS_CL_SERIAL && cl != BS_CL_LOCAL_SERIAL)) {
        print_err(sh, "Improper SERIAL CONSISTENCY command.");
        return;
    }
    sh->serial_cl = cl;
    printf("Serial consistency level set to %s.\n",
           bs_proto_consistency_name(cl));
}

static void cmd_expand(shell *sh, const char *arg) {
    if (!*arg)
        printf(sh->expand ? "Expanded output is currently enabled. Use EXPAND "
                            "OFF to disable\n"
                          : "Expanded output is currently disabled. Use EXPAND "
                            "ON to enable.\n");
    else if (!strcmp(arg, "on")) {
        sh->expand = 1;
        printf("Now Expanded output is enabled\n");
    } else {
        sh->expand = 0;
        printf("Disabled Expanded output.\n");
    }
}

static void cmd_tracing(shell *sh, const char *arg) {
    if (!*arg)
        printf(sh->tracing ? "Tracing is currently enabled. Use TRACING OFF to disable\n"
                           : "Tracing is currently disabled. Use TRACING ON to enable.\n");
    else if (!strcmp(arg, "on")) {
        sh->tracing = 1;
        printf("Now Tracing is enabled\n");
    } else {
        sh->tracing = 0;
        printf("Disabled Tracing.\n");
    }
}

static void cmd_paging(shell *sh, const char *arg) {
    if (!*arg) {
        if (sh->paging)
            printf(
                "Query paging is currently enabled. Use PAGING OFF to disable\n"
                "Page size: %d\n",
                sh->page_size);
        else
            printf("Query paging is currently disabled. Use PAGING ON to "
                   "enable.\n");
    } else if (!strcmp(arg, "off")) {
        sh->paging = 0;
        printf("Disabled Query paging.\n");
    } else {
        if (strcmp(arg, "on")) {
            long n = atol(arg);
            sh->page_size = n > 0 && n < 1000000 ? (int)n : 100;
        }
        sh->paging = 1;
        printf("Now Query paging is enabled\nPage size: %d\n", sh->page_size);
    }
}

static void put_names(bs_buf *o, const char *name, size_t *col) {
    size_t l = strlen(name);
    if (*col && *col + 2 + l > 80) {
        bs_buf_append_u8(o, '\n');
        *col = 0;
    }
    if (*col) {
        bs_buf_append_str(o, "  ");
        *col += 2;
    }
    bs_buf_append_str(o, name);
    *col += l;
}

static void cmd_describe(shell *sh, const bs_shell_cmd *cmd) {
    invalidate_schema(sh);
    if (load_schema(sh)) return;
    const bs_shell_schema *s = sh->schema;
    bs_buf o = BS_BUF_INIT;
    int rc = 0;
    bs_shell_desc_kind kind = cmd->desc;
    const char *ks = cmd->ks[0] ? cmd->ks : sh->ks;
    if (kind == BS_SHELL_DESC_NAME) {
        int is_ks = 0;
        if (!cmd->ks[0])
            for (size_t i = 0; i < bs_shell_schema_nkeyspaces(s); i++)
                if (!strcmp(bs_shell_schema_keyspace(s, i), cmd->name))
                    is_ks = 1;
        kind = is_ks ? BS_SHELL_DESC_KEYSPACE : BS_SHELL_DESC_TABLE;
    }
    switch (kind) {
    case BS_SHELL_DESC_KEYSPACES: {
        size_t col = 0;
        bs_buf_append_u8(&o, '\n');
        for (size_t i = 0; i < bs_shell_schema_nkeyspaces(s); i++)
            put_names(&o, bs_shell_schema_keyspace(s, i), &col);
        bs_buf_append_str(&o, "\n\n");
        break;
    }
    case BS_SHELL_DESC_TABLES:
        for (size_t i = 0; i < bs_shell_schema_nkeyspaces(s); i++) {
            const char *k = bs_shell_schema_keyspace(s, i);
            if (sh->ks[0] && strcmp(k, sh->ks)) continue;
            size_t col = 0;
            if (!sh->ks[0]) {
                bs_buf_appendf(&o, "\nKeyspace %s\n", k);
                for (size_t j = 0; j < strlen(k) + 9; j++)
                    bs_buf_append_u8(&o, '-');
            }
            bs_buf_append_u8(&o, '\n');
            for (size_t j = 0; j < bs_shell_schema_ntables(s, k); j++)
                put_names(&o, bs_shell_schema_table(s, k, j), &col);
            bs_buf_append_str(&o, "\n");
        }
        bs_buf_append_str(&o, "\n");
        break;
    case BS_SHELL_DESC_KEYSPACE: {
        const char *k = cmd->name[0] ? cmd->name : sh->ks;
        if (!k[0]) {
            print_err(sh, "Not in any keyspace.");
            goto done;
        }
        bs_buf_append_u8(&o, '\n');
        rc = bs_shell_describe_keyspace(s, k, 1, &o);
        if (rc == BS_ENOTFOUND) {
            print_err(sh, "'%s' not found in keyspaces", k);
            goto done;
        }
        bs_buf_append_u8(&o, '\n');
        break;
    }
    case BS_SHELL_DESC_TABLE:
        if (!ks[0]) {
            print_err(sh, "No keyspace specified and no current keyspace");
            goto done;
        }
        bs_buf_append_u8(&o, '\n');
        rc = bs_shell_describe_table(s, ks, cmd->name, &o);
        if (rc == BS_ENOTFOUND) {
            print_err(sh, "'%s' not found in keyspace '%s'", cmd->name, ks);
            goto done;
        }
        bs_buf_append_u8(&o, '\n');
        break;
    case BS_SHELL_DESC_CLUSTER: {
        bs_client_result *r = NULL;
        bs_client_error e;
        char cluster[256] = "";
        if (bs_client_query(sh->c, "SELECT cluster_name FROM system.local", &r,
                            &e) == 0) {
            const char *p;
            size_t l;
            if (bs_client_result_next_row(r) &&
                bs_client_result_get_text(r, 0, &p, &l) == 0)
                snprintf(cluster, sizeof cluster, "%.*s", (int)l, p);
            bs_client_result_free(r);
        }
        bs_buf_appendf(&o, "\nCluster: %s\nPartitioner: Murmur3Partitioner\n\n",
                       cluster);
        size_t nh = bs_client_host_count(sh->c);
        bs_buf_appendf(&o, "%-22s %-14s %-10s %-7s %s\n", "Address", "DC",
                       "Rack", "Tokens", "Status");
        for (size_t i = 0; i < nh; i++) {
            bs_client_host h;
            if (bs_client_host_get(sh->c, i, &h)) continue;
            char addr[96];
            snprintf(addr, sizeof addr, "%s:%d", h.address, h.port);
            bs_buf_appendf(&o, "%-22s %-14s %-10s %-7zu %s\n", addr, h.dc,
                           h.rack, h.ntokens, h.up ? "UP" : "DOWN");
        }
        bs_buf_append_u8(&o, '\n');
        break;
    }
    case BS_SHELL_DESC_TYPES:
    case BS_SHELL_DESC_FUNCTIONS:
    case BS_SHELL_DESC_AGGREGATES:
        break; /* none: cqlsh prints nothing for an empty listing */
    case BS_SHELL_DESC_TYPE:
    case BS_SHELL_DESC_FUNCTION:
    case BS_SHELL_DESC_AGGREGATE: {
        int found_ks = 0;
        for (size_t i = 0; i < bs_shell_schema_nkeyspaces(s); i++)
            found_ks |= !strcmp(bs_shell_schema_keyspace(s, i), ks);
        if (!ks[0])
            print_err(sh, "No keyspace specified and no current keyspace");
        else if (!found_ks)
            print_err(sh, "'%s' not found in keyspaces", ks);
        else
            print_err(sh, "User defined %s '%s' not found in '%s'",
                      kind == BS_SHELL_DESC_TYPE       ? "type"
                      : kind == BS_SHELL_DESC_FUNCTION ? "function"
                                                       : "aggregate",
                      cmd->name, ks);
        goto done;
    }
    case BS_SHELL_DESC_SCHEMA:
        for (size_t i = 0; i < bs_shell_schema_nkeyspaces(s) && !rc; i++) {
            const char *k = bs_shell_schema_keyspace(s, i);
            if (bs_shell_is_system_keyspace(k)) continue;
            bs_buf_append_u8(&o, '\n');
            rc = bs_shell_describe_keyspace(s, k, 1, &o);
        }
        bs_buf_append_u8(&o, '\n');
        break;
    default: break;
    }
    if (rc) {
        print_err(sh, "Error: %s", bs_strerror(rc));
        goto done;
    }
    fwrite(o.data, 1, o.len, stdout);
done:
    bs_buf_free(&o);
}

static void cmd_copy(shell *sh, const bs_shell_cmd *cmd) {
    bs_shell_copy_stats st;
    char err[1200];
    out_flush();
    FILE *pf =
        cmd->copy.to && !strcmp(cmd->copy.file, "STDOUT") ? stderr : stdout;
    fprintf(pf, "Starting copy of %s.%s with columns [",
            cmd->copy.ks[0] ? cmd->copy.ks : sh->ks, cmd->copy.table);
    if (cmd->copy.ncols)
        for (size_t i = 0; i < cmd->copy.ncols; i++)
            fprintf(pf, "%s%s", i ? ", " : "", cmd->copy.cols[i]);
    else
        fputs("*", pf);
    fputs("].\n", pf);
    fflush(pf);
    int rc = bs_shell_copy(sh->c, &cmd->copy, sh->ks, pf, &g_sigint, &st, err,
                           sizeof err);
    double rate = st.secs > 0 ? (double)st.rows / st.secs : 0;
    if (cmd->copy.to)
        fprintf(
            pf,
            "\n%ld rows exported to 1 files in %.3f seconds (%.0f rows/s).\n",
            st.rows, st.secs, rate);
    else
        fprintf(pf,
                "\n%ld rows imported from 1 files in %.3f seconds (%ld "
                "skipped; %.0f rows/s).\n",
                st.rows, st.secs, st.errors, rate);
    fflush(pf);
    if (rc)
        print_err(sh, "%s", err[0] ? err : bs_client_strerror(rc));
    else if (st.errors)
        print_err(sh, "Failed to import %ld rows", st.errors);
}

static void run_text(shell *sh, const char *text, size_t len);

static void cmd_source(shell *sh, const char *file) {
    if (sh->depth >= MAX_SOURCE_DEPTH) {
        print_err(sh, "SOURCE nested too deeply");
        return;
    }
    FILE *f = fopen(file, "r");
    if (!f) {
        print_err(sh, "Could not open '%s': %s", file, strerror(errno));
        return;
    }
    bs_buf b = BS_BUF_INIT;
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        if (bs_buf_append(&b, chunk, n)) break;
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        print_err(sh, "Could not read '%s'", file);
    } else {
        int saved = sh->interactive;
        sh->interactive = 0; /* no ---MORE--- inside a script */
        sh->depth++;
        run_text(sh, b.data ? (char *)b.data : "", b.len);
        sh->depth--;
        sh->interactive = saved;
        sh->exit_req = 0; /* EXIT ends the sourced file only */
    }
    bs_buf_free(&b);
}

static void run_stmt(shell *sh, const char *text, size_t len) {
    bs_shell_cmd *cmd = malloc(sizeof *cmd);
    if (!cmd) {
        print_err(sh, "Error: out of memory");
        return;
    }
    char err[512];
    int rc = bs_shell_parse_cmd(text, len, cmd, err, sizeof err);
    if (rc) {
        print_err(sh, "%s", err[0] ? err : bs_strerror(rc));
        free(cmd);
        return;
    }
    switch (cmd->kind) {
    case BS_SHELL_CMD_CQL:
    case BS_SHELL_CMD_USE: run_cql(sh, text, len); break;
    case BS_SHELL_CMD_EXIT: sh->exit_req = 1; break;
    case BS_SHELL_CMD_HELP: cmd_help(sh, cmd->arg); break;
    case BS_SHELL_CMD_EXPAND: cmd_expand(sh, cmd->arg); break;
    case BS_SHELL_CMD_TRACING: cmd_tracing(sh, cmd->arg); break;
    case BS_SHELL_CMD_PAGING: cmd_paging(sh, cmd->arg); break;
    case BS_SHELL_CMD_CONSISTENCY: cmd_consistency(sh, cmd->arg); break;
    case BS_SHELL_CMD_SERIAL: cmd_serial(sh, cmd->arg); break;
    case BS_SHELL_CMD_DESCRIBE: cmd_describe(sh, cmd); break;
    case BS_SHELL_CMD_SOURCE: cmd_source(sh, cmd->arg); break;
    case BS_SHELL_CMD_COPY: cmd_copy(sh, cmd); break;
    case BS_SHELL_CMD_CLEAR:
        if (sh->stdout_tty) fputs("\033[H\033[2J", stdout);
        break;
    }
    free(cmd);
    out_flush();
}

/* Runs every statement of a script (-e, -f, a pipe, SOURCE). */
static void run_text(shell *sh, const char *text, size_t len) {
    size_t pos = 0;
    while (pos < len && !sh->exit_req && !g_sigint) {
        size_t off, slen, used;
        int k =
            bs_shell_next_stmt(text + pos, len - pos, 1, &off, &slen, &used);
        if (k < 0) {
            print_err(sh, "Error: %s", bs_strerror(k));
            return;
        }
        if (k == BS_SHELL_STMT_NONE || used == 0) return;
        run_stmt(sh, text + pos + off, slen);
        pos += used;
    }
}

/* ---------------------------------------------------------- interactive */

static char *prompt_fn(EditLine *el) {
    (void)el;
    static char p[300];
    shell *sh = g_sh;
    if (sh->pending.len) return "   ... ";
    if (sh->ks[0])
        snprintf(p, sizeof p, "basalt:%s> ", sh->ks);
    else
        snprintf(p, sizeof p, "basalt> ");
    return p;
}

static unsigned char complete_fn(EditLine *el, int ch) {
    (void)ch;
    shell *sh = g_sh;
    const LineInfo *li = el_line(el);
    size_t cursor = (size_t)(li->cursor - li->buffer);
    bs_buf text = BS_BUF_INIT, cands = BS_BUF_INIT;
    unsigned char ret = CC_ERROR;
    if (bs_buf_append(&text, sh->pending.data ? (char *)sh->pending.data : "",
                      sh->pending.len) ||
        bs_buf_append(&text, li->buffer, cursor) || bs_buf_append_u8(&text, 0))
        goto done;
    if (!sh->schema) {
        bs_client_error e;
        if (bs_shell_schema_load(sh->c, &sh->schema, &e)) sh->schema = NULL;
    }
    size_t n = 0, ws = 0;
    size_t tlen = text.len - 1;
    if (bs_shell_complete(sh->schema, sh->ks, (char *)text.data, tlen, &cands,
                          &n, &ws))
        goto done;
    size_t wlen = tlen - ws;
    if (n == 0) goto done;
    const char *first = (const char *)cands.data;
    if (n == 1) {
        char ins[700];
        size_t fl = strlen(first);
        int dot = fl && first[fl - 1] == '.';
        snprintf(ins, sizeof ins, "%s%s", first + (wlen < fl ? wlen : fl),
                 dot ? "" : " ");
        if (el_insertstr(el, ins) == 0) ret = CC_REFRESH;
        goto done;
    }
    /* longest common prefix (case-insensitive) */
    size_t common = strlen(first);
    const char *p = first;
    for (size_t i = 0; i < n; i++) {
        size_t j = 0;
        while (j < common && p[j] &&
               tolower((unsigned char)p[j]) == tolower((unsigned char)first[j]))
            j++;
        common = j;
        p += strlen(p) + 1;
    }
    if (common > wlen) {
        char ins[700];
        snprintf(ins, sizeof ins, "%.*s", (int)(common - wlen), first + wlen);
        if (el_insertstr(el, ins) == 0) ret = CC_REFRESH;
        goto done;
    }
    /* list them */
    fputc('\n', stdout);
    size_t col = 0;
    p = first;
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(p);
        if (col && col + l + 2 > 80) {
            fputc('\n', stdout);
            col = 0;
        }
        printf("%s  ", p);
        col += l + 2;
        p += strlen(p) + 1;
    }
    fputc('\n', stdout);
    out_flush();
    ret = CC_REDISPLAY;
done:
    bs_buf_free(&text);
    bs_buf_free(&cands);
    return ret;
}

static void history_add(shell *sh, const char *text, size_t len) {
    if (!sh->hist) return;
    char *s = strndup(text, len);
    if (!s) return;
    for (char *p = s; *p; p++)
        if (*p == '\n' || *p == '\r') *p = ' ';
    size_t l = strlen(s);
    while (l && (s[l - 1] == ' ' || s[l - 1] == '\t'))
        s[--l] = 0;
    HistEvent ev;
    history(sh->hist, &ev, H_ENTER, s);
    if (sh->histfile[0]) history(sh->hist, &ev, H_SAVE, sh->histfile);
    free(s);
}

static void repl(shell *sh) {
    HistEvent ev;
    sh->hist = history_init();
    if (sh->hist) {
        history(sh->hist, &ev, H_SETSIZE, 1000);
        history(sh->hist, &ev, H_SETUNIQUE, 1);
        const char *home = getenv("HOME");
        if (home && *home) {
            snprintf(sh->histfile, sizeof sh->histfile, "%s/.basalt_history",
                     home);
            history(sh->hist, &ev, H_LOAD, sh->histfile);
        }
    }
    sh->el = el_init("basalt-shell", stdin, stdout, stderr);
    if (!sh->el) {
        fprintf(stderr, "Cannot initialise line editing\n");
        return;
    }
    el_set(sh->el, EL_EDITOR, "emacs");
    el_set(sh->el, EL_PROMPT, prompt_fn);
    el_set(sh->el, EL_SIGNAL, 1);
    if (sh->hist) el_set(sh->el, EL_HIST, history, sh->hist);
    /* the wide-character call: the narrow el_set(EL_ADDFN) copies the
     * name and help with wcsdup and never frees them (libedit 3.1) */
    el_wset(sh->el, EL_ADDFN, L"bs-complete", L"Complete a CQL word",
            complete_fn);
    el_set(sh->el, EL_BIND, "^I", "bs-complete", NULL);
    el_source(sh->el, NULL);
    /* like cqlsh: Ctrl-C at the prompt drops what is typed (a whole
     * multi-line statement too) and gives a fresh prompt; Ctrl-D on an
     * empty line exits.  libedit restores the terminal, then passes the
     * signal on to the handler.  While a statement runs, see below. */
    while (!sh->exit_req) {
        int count = 0;
        struct sigaction old_sa;
        sigint_catch(&old_sa);
        const char *line = el_gets(sh->el, &count);
        sigint_release(&old_sa);
        if (g_sigint) {
            g_sigint = 0;
            sh->pending.len = 0;
            el_reset(sh->el);
            fputc('\n', stdout);
            continue;
        }
        if (!line || count <= 0) {
            fputc('\n', stdout);
            break;
        }
        if (bs_buf_append(&sh->pending, line, (size_t)count)) break;
        if (sh->pending.len && sh->pending.data[sh->pending.len - 1] != '\n')
            bs_buf_append_u8(&sh->pending, '\n');
        for (;;) {
            size_t off, slen, used;
            const char *t = (const char *)sh->pending.data;
            int k =
                bs_shell_next_stmt(t, sh->pending.len, 0, &off, &slen, &used);
            if (k == BS_SHELL_STMT_PARTIAL || k < 0) break;
            if (k == BS_SHELL_STMT_NONE) {
                sh->pending.len = 0;
                break;
            }
            /* the statement text as typed (with its terminator) */
            history_add(sh, t + off, used - off);
            /* Ctrl-C while it runs: COPY stops, SOURCE stops before its
             * next statement, anything else runs to its end (bounded by
             * the request timeout); the shell stays */
            struct sigaction run_sa;
            sigint_catch(&run_sa);
            run_stmt(sh, t + off, slen);
            sigint_release(&run_sa);
            memmove(sh->pending.data, sh->pending.data + used,
                    sh->pending.len - used);
            sh->pending.len -= used;
            if (sh->exit_req) break;
            /* only blanks left: drop them so the prompt is not "..." */
            int blank = 1;
            for (size_t i = 0; i < sh->pending.len; i++)
                if (sh->pending.data[i] != ' ' && sh->pending.data[i] != '\n' &&
                    sh->pending.data[i] != '\t' && sh->pending.data[i] != '\r')
                    blank = 0;
            if (blank) {
                sh->pending.len = 0;
                break;
            }
        }
    }
    el_end(sh->el);
    sh->el = NULL;
    if (sh->hist) {
        if (sh->histfile[0]) history(sh->hist, &ev, H_SAVE, sh->histfile);
        history_end(sh->hist);
        sh->hist = NULL;
    }
}

/* ----------------------------------------------------------------- main */

static void usage(FILE *f) {
    fprintf(
        f,
        "Usage: basalt-shell [options] [host [port]]\n"
        "\n"
        "CQL shell for Basalt (and any CQL native protocol v4 server).\n"
        "\n"
        "Options:\n"
        "  --host HOST               node to connect to (default 127.0.0.1)\n"
        "  --port PORT               native transport port (default 9042)\n"
        "  -k, --keyspace KS         keyspace to USE\n"
        "  -u, --username USER       log in as USER (PasswordAuthenticator); the\n"
        "                            password comes from --credentials, then\n"
        "                            $BASALT_PASSWORD, else it is asked for\n"
        "  --credentials FILE        private file: user:password, or cqlsh's\n"
        "                            username = / password = lines\n"
        "  -p, --password PASS       cqlsh compatibility; visible to other users\n"
        "                            in the process list: prefer the above\n"
        "  -e, --execute STATEMENTS  run the statements and exit\n"
        "  -f, --file FILE           run the statements in FILE and exit\n"
        "  --connect-timeout SECS    connection timeout (default 5)\n"
        "  --request-timeout SECS    request timeout (default 10)\n"
        "  --ssl                     connect with TLS (client_encryption_options)\n"
        "  --ssl-ca FILE             PEM CA certificates to verify the node with\n"
        "                            (default: the system's)\n"
        "  --ssl-cert FILE           PEM client certificate (require_client_auth)\n"
        "  --ssl-key FILE            its PEM private key (default: in --ssl-cert)\n"
        "  --ssl-no-verify           do not verify the node's certificate\n"
        "  (or BASALT_SSL=1, BASALT_SSL_CA, BASALT_SSL_CERT, BASALT_SSL_KEY,\n"
        "   BASALT_SSL_NO_VERIFY=1 in the environment)\n"
        "  --no-color, -C, --color   accepted for cqlsh compatibility\n"
        "  --version                 print the version and exit\n"
        "  -h, --help                this help\n"
        "\n"
        "Exit status: 0 on success, 1 for usage or connection errors, 2 when "
        "a\n"
        "statement failed.\n");
}

/* --name=value or --name value or -x value. */
static const char *opt_value(int argc, char **argv, int *i,
                             const char *longname, const char *shortname) {
    const char *a = argv[*i];
    size_t ll = strlen(longname);
    if (!strncmp(a, longname, ll) && a[ll] == '=') return a + ll + 1;
    if (!strcmp(a, longname) || (shortname && !strcmp(a, shortname))) {
        if (*i + 1 >= argc) {
            fprintf(stderr, "basalt-shell: %s needs a value\n", a);
            exit(1);
        }
        return argv[++*i];
    }
    return NULL;
}

static int read_all(FILE *f, bs_buf *b) {
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        if (bs_buf_append(b, chunk, n)) return BS_ENOMEM;
    return ferror(f) ? BS_EIO : 0;
}

/* Command-line settings other than those kept in the shell. */
typedef struct shell_args {
    const char *keyspace, *execute, *file;
    const char *user, *password, *credentials;
    double connect_timeout, request_timeout; /* seconds */
    int ssl, ssl_no_verify;
    const char *ssl_ca, *ssl_cert, *ssl_key;
} shell_args;

/* Parses the command line into sh (host, port) and *a.  -1 to go on,
 * else the exit status (--help, --version, bad options). */
static int parse_args(int argc, char **argv, shell *sh, shell_args *a) {
    int npos = 0;
    for (int i = 1; i < argc; i++) {
        const char *v;
        if ((v = opt_value(argc, argv, &i, "--host", NULL)))
            snprintf(sh->host, sizeof sh->host, "%s", v);
        else if ((v = opt_value(argc, argv, &i, "--port", NULL)))
            sh->port = atoi(v);
        else if ((v = opt_value(argc, argv, &i, "--keyspace", "-k")))
            a->keyspace = v;
        else if ((v = opt_value(argc, argv, &i, "--username", "-u")))
            a->user = v;
        else if ((v = opt_value(argc, argv, &i, "--password", "-p")))
            a->password = v;
        else if ((v = opt_value(argc, argv, &i, "--credentials", NULL)))
            a->credentials = v;
        else if ((v = opt_value(argc, argv, &i, "--execute", "-e")))
            a->execute = v;
        else if ((v = opt_value(argc, argv, &i, "--file", "-f")))
            a->file = v;
        else if ((v = opt_value(argc, argv, &i, "--connect-timeout", NULL)))
            a->connect_timeout = atof(v);
        else if ((v = opt_value(argc, argv, &i, "--request-timeout", NULL)))
            a->request_timeout = atof(v);
        else if ((v = opt_value(argc, argv, &i, "--ssl-ca", NULL)))
            a->ssl_ca = v, a->ssl = 1;
        else if ((v = opt_value(argc, argv, &i, "--ssl-cert", NULL)))
            a->ssl_cert = v, a->ssl = 1;
        else if ((v = opt_value(argc, argv, &i, "--ssl-key", NULL)))
            a->ssl_key = v, a->ssl = 1;
        else if (!strcmp(argv[i], "--ssl"))
            a->ssl = 1;
        else if (!strcmp(argv[i], "--ssl-no-verify"))
            a->ssl = a->ssl_no_verify = 1;
        else if (!strcmp(argv[i], "--no-color") || !strcmp(argv[i], "-C") ||
                 !strcmp(argv[i], "--color")) {
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--version")) {
            printf("basalt-shell %s\n", SHELL_VERSION);
            return 0;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "basalt-shell: unknown option %s\n", argv[i]);
            usage(stderr);
            return 1;
        } else if (npos == 0) {
            snprintf(sh->host, sizeof sh->host, "%s", argv[i]);
            npos++;
        } else if (npos == 1) {
            sh->port = atoi(argv[i]);
            npos++;
        } else {
            usage(stderr);
            return 1;
        }
    }
    if (sh->port <= 0 || sh->port > 65535) {
        fprintf(stderr, "basalt-shell: bad port\n");
        return 1;
    }
    if (a->connect_timeout <= 0) a->connect_timeout = 5;
    if (a->request_timeout <= 0) a->request_timeout = 10;
    return -1;
}

/* Connects sh->c as cqlsh does; prints the error and returns 1 when it
 * cannot. */
static int connect_shell(shell *sh, const shell_args *a) {
    bs_client_config *cfg = NULL;
    if (bs_client_config_new(&cfg) ||
        bs_client_config_add_contact_points(cfg, sh->host) ||
        bs_client_config_set_port(cfg, sh->port)) {
        fprintf(stderr, "basalt-shell: bad host '%s'\n", sh->host);
        bs_client_config_free(cfg);
        return 1;
    }
    bs_client_config_set_consistency(cfg, BS_CL_ONE);
    bs_client_config_set_connect_timeout(cfg, (int)(a->connect_timeout * 1000));
    bs_client_config_set_request_timeout(cfg, (int)(a->request_timeout * 1000));
    bs_client_config_set_pool_size(cfg, 2);
    /* as cqlsh: every statement to --host, so system.local/system.peers
     * describe the node asked for */
    bs_client_config_set_contact_points_only(cfg, 1);
    if (a->keyspace) bs_client_config_set_keyspace(cfg, a->keyspace);
    char user[260], pass[1030], cerr[512];
    if (bs_client_credentials(a->user, a->credentials, !a->password, user, sizeof user, pass,
                              sizeof pass, cerr, sizeof cerr) &&
        !a->password) {
        fprintf(stderr, "basalt-shell: %s\n", cerr);
        bs_client_config_free(cfg);
        return 1;
    }
    if (a->password) snprintf(pass, sizeof pass, "%s", a->password);
    if (user[0] && bs_client_config_set_credentials(cfg, user, pass)) {
        fprintf(stderr, "basalt-shell: bad user name or password (too long?)\n");
        bs_client_config_free(cfg);
        return 1;
    }
    memset(pass, 0, sizeof pass);
    bs_client_config_ssl_from_env(cfg);
    if (a->ssl)
        bs_client_config_set_ssl(cfg, 1, a->ssl_ca, a->ssl_cert, a->ssl_key, !a->ssl_no_verify);
    bs_client_error e;
    int rc = bs_client_connect(cfg, &sh->c, &e);
    bs_client_config_free(cfg);
    if (!rc) return 0;
    char msg[1024];
    if (rc == BS_CLIENT_ESERVER) {
        bs_shell_format_error(&e, rc, msg, sizeof msg);
        fprintf(stderr, "%s\n", msg);
    } else {
        fprintf(stderr,
                "Connection error: ('Unable to connect to any servers', "
                "{'%s:%d': '%s'})\n",
                sh->host, sh->port,
                e.message[0] ? e.message : bs_client_strerror(rc));
    }
    return 1;
}

/* The greeting of an interactive session (cluster name and version from
 * system.local). */
static void banner(shell *sh) {
    char cluster[256] = "", version[64] = "";
    bs_client_result *r = NULL;
    bs_client_error e;
    if (bs_client_query(
            sh->c, "SELECT cluster_name, release_version FROM system.local", &r,
            &e) == 0) {
        const char *p;
        size_t l;
        if (bs_client_result_next_row(r)) {
            if (bs_client_result_get_text(r, 0, &p, &l) == 0)
                snprintf(cluster, sizeof cluster, "%.*s", (int)l, p);
            if (bs_client_result_get_text(r, 1, &p, &l) == 0)
                snprintf(version, sizeof version, "%.*s", (int)l, p);
        }
        bs_client_result_free(r);
    }
    printf("Connected to %s at %s:%d\n"
           "[basalt-shell %s | Basalt %s | CQL spec 3.4.5 | Native "
           "protocol v4]\n"
           "Use HELP for help.\n",
           cluster, sh->host, sh->port, SHELL_VERSION, version);
}

/* Runs every statement of stream f (name for messages). */
static void run_stream(shell *sh, FILE *f, const char *name) {
    bs_buf b = BS_BUF_INIT;
    if (read_all(f, &b))
        fprintf(stderr, "Could not read %s\n", name), sh->errors++;
    else
        run_text(sh, b.data ? (char *)b.data : "", b.len);
    bs_buf_free(&b);
}

int main(int argc, char **argv) {
    setlocale(LC_CTYPE, "");
    shell sh;
    memset(&sh, 0, sizeof sh);
    snprintf(sh.host, sizeof sh.host, "127.0.0.1");
    sh.port = 9042;
    sh.paging = 1;
    sh.page_size = 100;
    bs_buf_init(&sh.pending);
    g_sh = &sh;
    shell_args a = {NULL, NULL, NULL, NULL, NULL, NULL, 5, 10};
    int rc = parse_args(argc, argv, &sh, &a);
    if (rc >= 0) return rc;
    if (connect_shell(&sh, &a)) return 1;
    bs_client_keyspace(sh.c, sh.ks, sizeof sh.ks);
    sh.stdout_tty = isatty(STDOUT_FILENO);

    if (a.execute) {
        run_text(&sh, a.execute, strlen(a.execute));
    } else if (a.file) {
        FILE *f = fopen(a.file, "r");
        if (!f) {
            fprintf(stderr, "Could not open '%s': %s\n", a.file,
                    strerror(errno));
            bs_client_close(sh.c);
            return 1;
        }
        char name[1100];
        snprintf(name, sizeof name, "'%s'", a.file);
        run_stream(&sh, f, name);
        fclose(f);
    } else if (isatty(STDIN_FILENO)) {
        sh.interactive = 1;
        banner(&sh);
        repl(&sh);
    } else {
        run_stream(&sh, stdin, "standard input");
    }
    out_flush();
    invalidate_schema(&sh);
    bs_client_close(sh.c);
    bs_buf_free(&sh.pending);
    return (!sh.interactive && sh.errors) ? 2 : 0;
}
