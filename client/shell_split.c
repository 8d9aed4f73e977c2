/*
 * shell_split.c - finding statements in typed or scripted input, and
 * parsing the arguments of the shell's own commands.
 *
 * Splitting.  cqlsh ends a CQL statement at a top-level ';' but ends its
 * own commands (HELP, EXIT, DESCRIBE, CONSISTENCY, EXPAND, PAGING, SOURCE,
 * ...; the list is commands_end_with_newline in cqlsh's cqlhandling.py) at
 * the end of the line as well.  bs_shell_next_stmt looks at the first
 * token of what is left:
 *   - a line command: the statement runs to the first ';' token on that
 *     line or to the newline after the last token that starts on it;
 *   - anything else: tokens are read up to the first ';' outside BEGIN
 *     BATCH ... APPLY BATCH (the lexer skips quotes and comments), and
 *     bs_cql_split over exactly that prefix gives the statement's piece.
 * Work is proportional to the statement, not to the rest of the input,
 * so a script of 100,000 statements is split in linear time.
 *
 * Invariant: *consumed never exceeds len and is > 0 whenever a statement
 * is returned, so callers that loop on it always make progress.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/shell.h"
#include "common/arena.h"
#include "common/error.h"
#include "query/cql.h"
#include "query/cql_lex.h"

static const char *const line_commands[] = {
    "help",  "?",       "consistency", "serial",  "describe",
    "desc",  "show",    "source",      "capture", "login",
    "debug", "tracing", "expand",      "paging",  "exit",
    "quit",  "clear",   "cls",         "history", NULL};

int bs_shell_is_line_command(const char *word, size_t len) {
    for (size_t i = 0; line_commands[i]; i++)
        if (strlen(line_commands[i]) == len &&
            !strncasecmp(line_commands[i], word, len))
            return 1;
    return 0;
}

/* Reads the next token, stepping over characters the lexer refuses (the
 * server reports them).  Returns 0 with *t, 1 when an unterminated
 * quote/comment starts at lx->pos (nothing more can be read). */
static int next_tok(bs_cql_lexer *lx, bs_cql_token *t) {
    for (;;) {
        if (bs_cql_lex_next(lx, t, NULL) == 0) return 0;
        const char *s = lx->src;
        size_t p = lx->pos;
        int c = (unsigned char)s[p];
        int c1 = p + 1 < lx->len ? (unsigned char)s[p + 1] : -1;
        if (c == '\'' || c == '"' || (c == '$' && c1 == '$') ||
            (c == '/' && c1 == '*'))
            return 1;
        t->kind = BS_CQL_TOK_STAR; /* a stray character: part of the text */
        t->off = p;
        t->len = 1;
        t->line = lx->line;
        t->col = lx->col;
        lx->pos++;
        lx->col++;
        return 0;
    }
}

static size_t rtrim(const char *s, size_t start, size_t end) {
    while (end > start && isspace((unsigned char)s[end - 1]))
        end--;
    return end;
}

static int line_command_stmt(const char *text, size_t len, int at_eof,
                             bs_cql_lexer *lx, const bs_cql_token *first,
                             size_t *off, size_t *slen, size_t *consumed) {
    size_t last_end = first->off + first->len;
    for (;;) {
        bs_cql_token t;
        if (next_tok(lx, &t)) {
            /* unterminated quote: the line ends the command anyway */
            break;
        }
        if (t.kind == BS_CQL_TOK_EOF || t.line != first->line) break;
        if (t.kind == BS_CQL_TOK_SEMI) {
            *off = first->off;
            *slen = rtrim(text, first->off, t.off) - first->off;
            *consumed = t.off + 1;
            return BS_SHELL_STMT_COMPLETE;
        }
        last_end = t.off + t.len;
    }
    const char *nl = memchr(text + last_end, '\n', len - last_end);
    if (nl || at_eof) {
        size_t end = nl ? (size_t)(nl - text) : len;
        *off = first->off;
        *slen = rtrim(text, first->off, end) - first->off;
        *consumed = nl ? end + 1 : len;
        return BS_SHELL_STMT_COMPLETE;
    }
    *consumed = 0;
    return BS_SHELL_STMT_PARTIAL;
}

int bs_shell_next_stmt(const char *text, size_t len, int at_eof, size_t *off,
                       size_t *slen, size_t *consumed) {
    bs_cql_lexer lx;
    bs_cql_lex_init(&lx, text, len);
    bs_cql_token first;
    *off = 0;
    *slen = 0;
    int unterminated = next_tok(&lx, &first);
    if (!unterminated && first.kind == BS_CQL_TOK_EOF) {
        *consumed = len;
        return BS_SHELL_STMT_NONE;
    }
    if (!unterminated &&
        ((first.kind == BS_CQL_TOK_IDENT &&
          bs_shell_is_line_command(text + first.off, first.len)) ||
         first.kind == BS_CQL_TOK_QMARK))
        return line_command_stmt(text, len, at_eof, &lx, &first, off, slen,
                                 consumed);

    /* A CQL statement: find its terminating ';'. */
    size_t end = len; /* one past the ';', or len */
    int found = 0;
    if (!unterminated) {
        int batch = bs_cql_tok_is(text, &first, "begin"), prev_apply = 0;
        for (;;) {
            bs_cql_token t;
            if (next_tok(&lx, &t) || t.kind == BS_CQL_TOK_EOF) break;
            if (t.kind == BS_CQL_TOK_SEMI && !batch) {
                end = t.off + 1;
                found = 1;
                break;
            }
            if (batch) {
                if (prev_apply && bs_cql_tok_is(text, &t, "batch")) batch = 0;
                prev_apply = bs_cql_tok_is(text, &t, "apply");
            }
        }
    }
    if (!found && !at_eof) {
        *consumed = 0;
        return BS_SHELL_STMT_PARTIAL;
    }
    bs_arena a;
    bs_arena_init(&a, 0);
    bs_cql_piece *pieces = NULL;
    size_t n = 0;
    int complete = 0;
    int rc = bs_cql_split(&a, text, end, &pieces, &n, &complete);
    if (rc) {
        bs_arena_free(&a);
        return rc;
    }
    if (n == 0) {
        bs_arena_free(&a);
        *consumed = end;
        return BS_SHELL_STMT_NONE;
    }
    *off = pieces[0].off;
    *slen = pieces[0].len;
    *consumed = end;
    bs_arena_free(&a);
    return BS_SHELL_STMT_COMPLETE;
}

/* ------------------------------------------------------------ commands */

#define MAX_TOKS 2048

typedef struct toks {
    const char *src;
    bs_cql_token t[MAX_TOKS];
    size_t n;
    bs_arena a;
} toks;

static int tokenize(toks *tk, const char *s, size_t len) {
    bs_cql_lexer lx;
    bs_cql_lex_init(&lx, s, len);
    tk->src = s;
    tk->n = 0;
    while (tk->n < MAX_TOKS) {
        bs_cql_token t;
        if (next_tok(&lx, &t)) return BS_ESYNTAX;
        if (t.kind == BS_CQL_TOK_EOF) break;
        tk->t[tk->n++] = t;
    }
    return 0;
}

static int is_word(const toks *tk, size_t i, const char *w) {
    return i < tk->n && tk->t[i].kind == BS_CQL_TOK_IDENT &&
           bs_cql_tok_is(tk->src, &tk->t[i], w);
}

/* Decoded text of token i into dst (folded/unquoted). */
static int tok_copy(toks *tk, size_t i, char *dst, size_t cap) {
    if (i >= tk->n) return BS_ESYNTAX;
    size_t l = 0;
    char *s = bs_cql_tok_text(&tk->a, tk->src, &tk->t[i], &l);
    if (!s) return BS_ENOMEM;
    if (l >= cap) return BS_ETOOBIG;
    memcpy(dst, s, l);
    dst[l] = 0;
    return 0;
}

/* Raw source text of tokens [i, j) into dst. */
static void raw_copy(const toks *tk, size_t i, size_t j, char *dst,
                     size_t cap) {
    dst[0] = 0;
    if (i >= j || i >= tk->n) return;
    size_t a = tk->t[i].off, b = tk->t[j - 1].off + tk->t[j - 1].len;
    size_t l = b - a;
    if (l >= cap) l = cap - 1;
    memcpy(dst, tk->src + a, l);
    dst[l] = 0;
}

static int is_name(const toks *tk, size_t i) {
    return i < tk->n && (tk->t[i].kind == BS_CQL_TOK_IDENT ||
                         tk->t[i].kind == BS_CQL_TOK_QIDENT);
}

/* [ks.]name at token *i; advances *i. */
static int qualified(toks *tk, size_t *i, char *ks, char *name) {
    if (!is_name(tk, *i)) return BS_ESYNTAX;
    if (*i + 2 < tk->n + 0 && tk->t[*i + 1].kind == BS_CQL_TOK_DOT &&
        is_name(tk, *i + 2)) {
        int rc = tok_copy(tk, *i, ks, 256);
        if (!rc) rc = tok_copy(tk, *i + 2, name, 256);
        *i += 3;
        return rc;
    }
    ks[0] = 0;
    int rc = tok_copy(tk, *i, name, 256);
    *i += 1;
    return rc;
}

static int fail(char *err, size_t errlen, const char *fmt, const char *arg) {
    if (err && errlen) snprintf(err, errlen, fmt, arg);
    return BS_ESYNTAX;
}

static void upcase(char *s) {
    for (; *s; s++)
        *s = (char)toupper((unsigned char)*s);
}

static int parse_describe(toks *tk, bs_shell_cmd *out, char *err,
                          size_t errlen) {
    size_t i = 1;
    if (i >= tk->n)
        return fail(err, errlen, "%s",
                    "line 1:8 DESCRIBE needs KEYSPACES, TABLES, KEYSPACE, "
                    "TABLE, CLUSTER, SCHEMA or a name");
    int rc = 0;
    if (is_word(tk, i, "keyspaces") && i + 1 == tk->n) {
        out->desc = BS_SHELL_DESC_KEYSPACES;
    } else if ((is_word(tk, i, "tables") || is_word(tk, i, "columnfamilies")) &&
               i + 1 == tk->n) {
        out->desc = BS_SHELL_DESC_TABLES;
    } else if (is_word(tk, i, "cluster") && i + 1 == tk->n) {
        out->desc = BS_SHELL_DESC_CLUSTER;
    } else if (is_word(tk, i, "schema") && i + 1 == tk->n) {
        out->desc = BS_SHELL_DESC_SCHEMA;
    } else if (is_word(tk, i, "full") && is_word(tk, i + 1, "schema") &&
               i + 2 == tk->n) {
        out->desc = BS_SHELL_DESC_SCHEMA;
    } else if (is_word(tk, i, "keyspace") && i + 1 >= tk->n) {
        out->desc = BS_SHELL_DESC_KEYSPACE;
    } else if (is_word(tk, i, "keyspace") && i + 2 == tk->n &&
               is_name(tk, i + 1)) {
        out->desc = BS_SHELL_DESC_KEYSPACE;
        rc = tok_copy(tk, i + 1, out->name, sizeof out->name);
    } else if ((is_word(tk, i, "types") || is_word(tk, i, "functions") ||
                is_word(tk, i, "aggregates")) && i + 1 == tk->n) {
        out->desc = is_word(tk, i, "types")       ? BS_SHELL_DESC_TYPES
                    : is_word(tk, i, "functions") ? BS_SHELL_DESC_FUNCTIONS
                                                  : BS_SHELL_DESC_AGGREGATES;
    } else if ((is_word(tk, i, "type") || is_word(tk, i, "function") ||
                is_word(tk, i, "aggregate")) && i + 1 < tk->n) {
        out->desc = is_word(tk, i, "type")       ? BS_SHELL_DESC_TYPE
                    : is_word(tk, i, "function") ? BS_SHELL_DESC_FUNCTION
                                                 : BS_SHELL_DESC_AGGREGATE;
        i++;
        rc = qualified(tk, &i, out->ks, out->name);
        if (!rc && i != tk->n) rc = BS_ESYNTAX;
    } else if ((is_word(tk, i, "table") || is_word(tk, i, "columnfamily")) &&
               i + 1 < tk->n) {
        out->desc = BS_SHELL_DESC_TABLE;
        i++;
        rc = qualified(tk, &i, out->ks, out->name);
        if (!rc && i != tk->n) rc = BS_ESYNTAX;
    } else if (is_name(tk, i)) {
        out->desc = BS_SHELL_DESC_NAME;
        rc = qualified(tk, &i, out->ks, out->name);
        if (!rc && i != tk->n) rc = BS_ESYNTAX;
    } else {
        rc = BS_ESYNTAX;
    }
    if (rc == BS_ESYNTAX)
        return fail(err, errlen, "%s",
                    "Improper DESCRIBE command: expected KEYSPACES, TABLES, "
                    "KEYSPACE [k], TABLE [k.]t, CLUSTER, SCHEMA, TYPES, "
                    "FUNCTIONS, AGGREGATES, TYPE/FUNCTION/AGGREGATE [k.]name "
                    "or a name");
    return rc;
}

static int opt_bool(const char *v) {
    return !strcasecmp(v, "true") || !strcasecmp(v, "yes") || !strcmp(v, "1");
}

static int parse_copy(toks *tk, bs_shell_cmd *out, char *err, size_t errlen) {
    bs_shell_copy_req *q = &out->copy;
    memset(q, 0, sizeof *q);
    q->delim = ',';
    q->maxrows = -1;
    q->pagesize = 1000;
    q->inflight = 256;
    size_t i = 1;
    const char *usage =
        "Improper COPY command: COPY [ks.]table [(col, ...)] TO|FROM "
        "'file' [WITH HEADER = true [AND ...]]%s";
    if (qualified(tk, &i, q->ks, q->table)) return fail(err, errlen, usage, "");
    if (i < tk->n && tk->t[i].kind == BS_CQL_TOK_LPAREN) {
        i++;
        for (;;) {
            if (!is_name(tk, i) || q->ncols >= BS_SHELL_MAX_COPY_COLS)
                return fail(err, errlen, usage, "");
            if (tok_copy(tk, i, q->cols[q->ncols], 256))
                return fail(err, errlen, usage, "");
            q->ncols++;
            i++;
            if (i < tk->n && tk->t[i].kind == BS_CQL_TOK_COMMA) {
                i++;
                continue;
            }
            if (i < tk->n && tk->t[i].kind == BS_CQL_TOK_RPAREN) {
                i++;
                break;
            }
            return fail(err, errlen, usage, "");
        }
    }
    if (is_word(tk, i, "to"))
        q->to = 1;
    else if (is_word(tk, i, "from"))
        q->to = 0;
    else
        return fail(err, errlen, usage, "");
    i++;
    if (i < tk->n && tk->t[i].kind == BS_CQL_TOK_STRING) {
        if (tok_copy(tk, i, q->file, sizeof q->file))
            return fail(err, errlen, usage, "");
    } else if (is_word(tk, i, "stdout") || is_word(tk, i, "stdin")) {
        if (tok_copy(tk, i, q->file, sizeof q->file))
            return fail(err, errlen, usage, "");
        upcase(q->file);
    } else {
        return fail(err, errlen, usage, "");
    }
    i++;
    if (i == tk->n) return 0;
    if (!is_word(tk, i, "with")) return fail(err, errlen, usage, "");
    i++;
    for (;;) {
        char name[64], val[256];
        if (!is_name(tk, i) || i + 2 >= tk->n + 0 ||
            tk->t[i + 1].kind != BS_CQL_TOK_EQ)
            return fail(err, errlen, usage, "");
        if (tok_copy(tk, i, name, sizeof name) ||
            tok_copy(tk, i + 2, val, sizeof val))
            return fail(err, errlen, usage, "");
        if (!strcmp(name, "header"))
            q->header = opt_bool(val);
        else if (!strcmp(name, "delimiter")) {
            if (strlen(val) != 1 || val[0] == '"' || val[0] == '\n' ||
                val[0] == '\r')
                return fail(err, errlen, "%s",
                            "COPY: DELIMITER must be one character");
            q->delim = val[0];
        } else if (!strcmp(name, "maxrows"))
            q->maxrows = atol(val);
        else if (!strcmp(name, "pagesize")) {
            q->pagesize = atoi(val);
            if (q->pagesize <= 0) q->pagesize = 1000;
        } else if (!strcmp(name, "maxinflight")) {
            q->inflight = atoi(val);
            if (q->inflight <= 0) q->inflight = 1;
            if (q->inflight > 4096) q->inflight = 4096;
        } else {
            return fail(err, errlen, "Unrecognized COPY option: %s", name);
        }
        i += 3;
        if (i == tk->n) return 0;
        if (!is_word(tk, i, "and")) return fail(err, errlen, usage, "");
        i++;
    }
}

int bs_shell_parse_cmd(const char *stmt, size_t len, bs_shell_cmd *out,
                       char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    if (err && errlen) err[0] = 0;
    toks *tk = malloc(sizeof *tk);
    if (!tk) return BS_ENOMEM;
    bs_arena_init(&tk->a, 0);
    int rc = 0;
    if (tokenize(tk, stmt, len) || tk->n == 0) {
        out->kind = BS_SHELL_CMD_CQL; /* the server reports the problem */
        goto done;
    }
    if (tk->t[0].kind == BS_CQL_TOK_QMARK || is_word(tk, 0, "help")) {
        out->kind = BS_SHELL_CMD_HELP;
        raw_copy(tk, 1, tk->n, out->arg, sizeof out->arg);
    } else if (is_word(tk, 0, "exit") || is_word(tk, 0, "quit")) {
        out->kind = BS_SHELL_CMD_EXIT;
    } else if (is_word(tk, 0, "clear") || is_word(tk, 0, "cls")) {
        out->kind = BS_SHELL_CMD_CLEAR;
    } else if (is_word(tk, 0, "expand") || is_word(tk, 0, "paging") ||
               is_word(tk, 0, "tracing")) {
        out->kind = is_word(tk, 0, "expand")    ? BS_SHELL_CMD_EXPAND
                    : is_word(tk, 0, "tracing") ? BS_SHELL_CMD_TRACING
                                                : BS_SHELL_CMD_PAGING;
        const char *name = out->kind == BS_SHELL_CMD_EXPAND    ? "EXPAND"
                           : out->kind == BS_SHELL_CMD_TRACING ? "TRACING"
                                                               : "PAGING";
        if (tk->n > 2) {
            rc = fail(err, errlen, "Improper %s command.", name);
        } else if (tk->n == 2) {
            rc = tok_copy(tk, 1, out->arg, sizeof out->arg);
            int ok =
                !strcasecmp(out->arg, "on") || !strcasecmp(out->arg, "off");
            if (out->kind == BS_SHELL_CMD_PAGING &&
                tk->t[1].kind == BS_CQL_TOK_INTEGER && atol(out->arg) > 0)
                ok = 1;
            if (!rc && !ok) rc = fail(err, errlen, "Improper %s command.", name);
            for (char *p = out->arg; *p; p++)
                *p = (char)tolower((unsigned char)*p);
        }
    } else if (is_word(tk, 0, "consistency") ||
               (is_word(tk, 0, "serial") && is_word(tk, 1, "consistency"))) {
        size_t at = is_word(tk, 0, "serial") ? 2 : 1;
        out->kind = at == 2 ? BS_SHELL_CMD_SERIAL : BS_SHELL_CMD_CONSISTENCY;
        if (tk->n > at + 1)
            rc = fail(err, errlen, "%s", "Improper CONSISTENCY command.");
        else if (tk->n == at + 1) {
            rc = tok_copy(tk, at, out->arg, sizeof out->arg);
            upcase(out->arg);
        }
    } else if (is_word(tk, 0, "describe") || is_word(tk, 0, "desc")) {
        out->kind = BS_SHELL_CMD_DESCRIBE;
        rc = parse_describe(tk, out, err, errlen);
    } else if (is_word(tk, 0, "source")) {
        out->kind = BS_SHELL_CMD_SOURCE;
        if (tk->n != 2 || tk->t[1].kind != BS_CQL_TOK_STRING)
            rc = fail(err, errlen, "%s",
                      "Improper SOURCE command: SOURCE 'file'");
        else
            rc = tok_copy(tk, 1, out->arg, sizeof out->arg);
    } else if (is_word(tk, 0, "copy")) {
        out->kind = BS_SHELL_CMD_COPY;
        rc = parse_copy(tk, out, err, errlen);
    } else if (is_word(tk, 0, "use") && tk->n == 2 && is_name(tk, 1)) {
        out->kind = BS_SHELL_CMD_USE;
        rc = tok_copy(tk, 1, out->arg, sizeof out->arg);
    } else {
        out->kind = BS_SHELL_CMD_CQL;
    }
done:
    bs_arena_free(&tk->a);
    free(tk);
    if (rc == BS_ETOOBIG) return fail(err, errlen, "%s", "name too long");
    return rc;
}
