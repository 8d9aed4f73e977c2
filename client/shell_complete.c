/*
 * shell_complete.c - tab-completion candidates.
 *
 * Not a grammar-driven completer like cqlsh's; a small set of rules over
 * the tokens of the statement being typed (everything after the last
 * ';'), which covers what people press TAB for:
 *
 *   word after ...                     candidates
 *   (start of statement)               statement keywords, shell commands
 *   FROM INTO UPDATE TABLE TRUNCATE    tables of the current keyspace,
 *     COPY COLUMNFAMILY                keyspace names followed by '.'
 *   ks.<word>                          tables of ks
 *   USE KEYSPACE                       keyspace names
 *   DESCRIBE / DESC                    KEYSPACES TABLES ... + names
 *   CONSISTENCY                        consistency levels
 *   EXPAND PAGING                      ON OFF
 *   WHERE AND SET BY , (               columns of the table the statement
 *                                      names (FROM t / INTO t / UPDATE t /
 *                                      COPY t) when it names one
 *   anything else                      those columns, then all keywords
 *
 * Matching is case-insensitive; keywords are offered in the case of the
 * first letter typed (upper when nothing is typed).  Candidates are
 * de-duplicated.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "client/shell.h"
#include "common/arena.h"
#include "common/error.h"
#include "query/cql_lex.h"

static const char *const start_words[] = {
    "SELECT", "INSERT", "UPDATE",      "DELETE",   "BEGIN",  "APPLY",
    "CREATE", "ALTER",  "DROP",        "TRUNCATE", "USE",    "DESCRIBE",
    "DESC",   "COPY",   "CONSISTENCY", "SERIAL",   "EXPAND", "PAGING",
    "SOURCE", "HELP",   "EXIT",        "QUIT",     "CLEAR",  NULL};

static const char *const keywords[] = {
    "SELECT",    "FROM",       "WHERE",     "AND",         "INSERT",
    "INTO",      "VALUES",     "UPDATE",    "SET",         "DELETE",
    "USING",     "TTL",        "TIMESTAMP", "IF",          "EXISTS",
    "NOT",       "IN",         "CONTAINS",  "KEY",         "ORDER",
    "BY",        "ASC",        "DESC",      "LIMIT",       "PER",
    "PARTITION", "ALLOW",      "FILTERING", "DISTINCT",    "JSON",
    "AS",        "COUNT",      "TOKEN",     "WRITETIME",   "BEGIN",
    "UNLOGGED",  "BATCH",      "APPLY",     "CREATE",      "ALTER",
    "DROP",      "KEYSPACE",   "TABLE",     "TRUNCATE",    "WITH",
    "PRIMARY",   "CLUSTERING", "STATIC",    "REPLICATION", "DURABLE_WRITES",
    "ADD",       "RENAME",     "TO",        "TYPE",        "USE",
    "NULL",      "TRUE",       "FALSE",     "FROZEN",      "LIST",
    "SET",       "MAP",        "TUPLE",     "ASCII",       "BIGINT",
    "BLOB",      "BOOLEAN",    "DATE",      "DECIMAL",     "DOUBLE",
    "DURATION",  "FLOAT",      "INET",      "INT",         "SMALLINT",
    "TEXT",      "TIME",       "TIMEUUID",  "TINYINT",     "UUID",
    "VARCHAR",   "VARINT",     NULL};

static const char *const levels[] = {
    "ANY",          "ONE",         "TWO",    "THREE",        "QUORUM",    "ALL",
    "LOCAL_QUORUM", "EACH_QUORUM", "SERIAL", "LOCAL_SERIAL", "LOCAL_ONE", NULL};

static const char *const describe_words[] = {
    "KEYSPACES", "TABLES", "KEYSPACE", "TABLE", "CLUSTER", "SCHEMA", NULL};

static const char *const onoff[] = {"ON", "OFF", NULL};

typedef struct cands {
    bs_buf *out;
    size_t *n;
    const char *word;
    size_t wlen;
    int lower; /* offer keywords in lower case */
    int rc;
} cands;

static void add(cands *c, const char *s, const char *suffix, int keyword) {
    if (c->rc) return;
    size_t l = strlen(s);
    if (l < c->wlen || strncasecmp(s, c->word, c->wlen)) return;
    char tmp[600];
    size_t sl = suffix ? strlen(suffix) : 0;
    if (l + sl >= sizeof tmp) return;
    memcpy(tmp, s, l);
    if (keyword && c->lower)
        for (size_t i = 0; i < l; i++)
            tmp[i] = (char)tolower((unsigned char)tmp[i]);
    if (sl) memcpy(tmp + l, suffix, sl);
    tmp[l + sl] = 0;
    /* de-duplicate */
    const char *p = (const char *)c->out->data;
    for (size_t i = 0; i < *c->n; i++) {
        if (!strcmp(p, tmp)) return;
        p += strlen(p) + 1;
    }
    if (bs_buf_append(c->out, tmp, l + sl + 1)) {
        c->rc = BS_ENOMEM;
        return;
    }
    (*c->n)++;
}

static void add_list(cands *c, const char *const *l) {
    for (size_t i = 0; l[i]; i++)
        add(c, l[i], NULL, 1);
}

static void add_keyspaces(cands *c, const bs_shell_schema *s,
                          const char *suffix) {
    if (!s) return;
    for (size_t i = 0; i < bs_shell_schema_nkeyspaces(s); i++)
        add(c, bs_shell_schema_keyspace(s, i), suffix, 0);
}

static void add_tables(cands *c, const bs_shell_schema *s, const char *ks) {
    if (!s || !ks || !*ks) return;
    for (size_t i = 0; i < bs_shell_schema_ntables(s, ks); i++)
        add(c, bs_shell_schema_table(s, ks, i), NULL, 0);
}

static int is_word_char(char ch) {
    return isalnum((unsigned char)ch) || ch == '_' || ch == '"' ||
           (unsigned char)ch >= 0x80;
}

static int tok_is(const char *src, const bs_cql_token *t, const char *w) {
    return t->kind == BS_CQL_TOK_IDENT && bs_cql_tok_is(src, t, w);
}

/* "ks." right before the word at ws: the tables of ks. */
static void complete_qualified(cands *c, const bs_shell_schema *s,
                               const char *line, size_t ws) {
    size_t ke = ws - 1, kb = ke;
    while (kb > 0 && is_word_char(line[kb - 1]))
        kb--;
    char ks[256];
    size_t kl = ke - kb;
    if (!kl || kl >= sizeof ks) return;
    memcpy(ks, line + kb, kl);
    ks[kl] = 0;
    if (ks[0] == '"') {
        memmove(ks, ks + 1, kl);
        if (kl > 1 && ks[kl - 2] == '"') ks[kl - 2] = 0;
    } else {
        for (char *p = ks; *p; p++)
            *p = (char)tolower((unsigned char)*p);
    }
    add_tables(c, s, ks);
}

#define MAX_TOKS 256

/* The tokens of the statement being typed (after the last ';') before
 * ws; the last MAX_TOKS when there are more.  -1 when ws is inside a
 * string or comment. */
static int statement_tokens(const char *line, size_t ws, bs_cql_token *toks,
                            size_t *ntp) {
    bs_cql_lexer lx;
    bs_cql_lex_init(&lx, line, ws);
    size_t nt = 0;
    for (;;) {
        bs_cql_token t;
        if (bs_cql_lex_next(&lx, &t, NULL)) {
            if (lx.pos >= ws) break;
            int ch = (unsigned char)line[lx.pos];
            if (ch == '\'' || ch == '"' || ch == '$' || ch == '/') return -1;
            lx.pos++;
            lx.col++;
            continue;
        }
        if (t.kind == BS_CQL_TOK_EOF) break;
        if (t.kind == BS_CQL_TOK_SEMI) {
            nt = 0;
            continue;
        }
        if (nt == MAX_TOKS) memmove(toks, toks + 1, --nt * sizeof *toks);
        toks[nt++] = t;
    }
    *ntp = nt;
    return 0;
}

/* Candidates decided by the previous keyword alone (table names after
 * FROM, keyspaces after USE, ...).  1 when it decided. */
static int complete_after_keyword(cands *c, const bs_shell_schema *s,
                                  const char *cur_ks, const char *line,
                                  const bs_cql_token *toks, size_t nt) {
    const bs_cql_token *prev = &toks[nt - 1];
    if (tok_is(line, prev, "from") || tok_is(line, prev, "into") ||
        tok_is(line, prev, "update") || tok_is(line, prev, "table") ||
        tok_is(line, prev, "columnfamily") || tok_is(line, prev, "truncate") ||
        (tok_is(line, prev, "copy") && nt == 1)) {
        add_tables(c, s, cur_ks);
        add_keyspaces(c, s, ".");
        if (tok_is(line, prev, "table") && nt >= 2 &&
            (tok_is(line, &toks[nt - 2], "create")))
            add(c, "IF", NULL, 1);
        return 1;
    }
    if (tok_is(line, prev, "use") || tok_is(line, prev, "keyspace")) {
        add_keyspaces(c, s, NULL);
        return 1;
    }
    if ((tok_is(line, prev, "describe") || tok_is(line, prev, "desc")) &&
        nt == 1) {
        add_list(c, describe_words);
        add_tables(c, s, cur_ks);
        add_keyspaces(c, s, NULL);
        return 1;
    }
    if (tok_is(line, prev, "consistency")) {
        add_list(c, levels);
        return 1;
    }
    if ((tok_is(line, prev, "expand") || tok_is(line, prev, "paging")) &&
        nt == 1) {
        add_list(c, onoff);
        return 1;
    }
    return 0;
}

/* The table the statement names (after FROM / INTO / UPDATE / COPY) into
 * ks, tb (256 bytes each; "" when none). */
static void named_table(const char *line, const bs_cql_token *toks, size_t nt,
                        const char *cur_ks, char *ks, char *tb) {
    ks[0] = tb[0] = 0;
    bs_arena a;
    bs_arena_init(&a, 0);
    for (size_t i = 0; i + 1 < nt; i++) {
        if (!(tok_is(line, &toks[i], "from") ||
              tok_is(line, &toks[i], "into") ||
              (tok_is(line, &toks[i], "update") && i == 0) ||
              (tok_is(line, &toks[i], "copy") && i == 0)))
            continue;
        const bs_cql_token *x = &toks[i + 1];
        if (x->kind != BS_CQL_TOK_IDENT && x->kind != BS_CQL_TOK_QIDENT)
            continue;
        char *n1 = bs_cql_tok_text(&a, line, x, NULL);
        if (!n1) break;
        if (i + 3 < nt && toks[i + 2].kind == BS_CQL_TOK_DOT &&
            (toks[i + 3].kind == BS_CQL_TOK_IDENT ||
             toks[i + 3].kind == BS_CQL_TOK_QIDENT)) {
            char *n2 = bs_cql_tok_text(&a, line, &toks[i + 3], NULL);
            if (!n2) break;
            snprintf(ks, 256, "%s", n1);
            snprintf(tb, 256, "%s", n2);
        } else {
            snprintf(ks, 256, "%s", cur_ks ? cur_ks : "");
            snprintf(tb, 256, "%s", n1);
        }
        break;
    }
    bs_arena_free(&a);
}

int bs_shell_complete(const bs_shell_schema *s, const char *cur_ks,
                      const char *line, size_t cursor, bs_buf *out, size_t *n,
                      size_t *word_start) {
    *n = 0;
    size_t ws = cursor;
    while (ws > 0 && is_word_char(line[ws - 1]))
        ws--;
    *word_start = ws;
    cands c = {out, n, line + ws, cursor - ws, 0, 0};
    if (c.wlen && islower((unsigned char)c.word[0])) c.lower = 1;
    if (c.wlen && c.word[0] == '"') {
        c.word++;
        c.wlen--;
        (*word_start)++;
    }
    if (ws > 0 && line[ws - 1] == '.') {
        complete_qualified(&c, s, line, ws);
        return c.rc;
    }
    bs_cql_token toks[MAX_TOKS];
    size_t nt = 0;
    if (statement_tokens(line, ws, toks, &nt))
        return 0; /* inside a string or comment: nothing to offer */
    if (nt == 0) {
        add_list(&c, start_words);
        return c.rc;
    }
    if (complete_after_keyword(&c, s, cur_ks, line, toks, nt)) return c.rc;
    const bs_cql_token *prev = &toks[nt - 1];
    /* the table this statement names, for its columns */
    char ks[256], tb[256];
    named_table(line, toks, nt, cur_ks, ks, tb);
    size_t ncols = s && tb[0] ? bs_shell_schema_ncolumns(s, ks, tb) : 0;
    for (size_t i = 0; i < ncols; i++)
        add(&c, bs_shell_schema_column(s, ks, tb, i), NULL, 0);
    /* where only a column name can follow, offer nothing else */
    int col_only =
        ncols &&
        (tok_is(line, prev, "where") || tok_is(line, prev, "and") ||
         tok_is(line, prev, "set") || tok_is(line, prev, "by") ||
         prev->kind == BS_CQL_TOK_COMMA || prev->kind == BS_CQL_TOK_LPAREN);
    if (col_only) {
        if (tok_is(line, prev, "where") || tok_is(line, prev, "and"))
            add(&c, "TOKEN", NULL, 1);
        return c.rc;
    }
    add_list(&c, keywords);
    return c.rc;
}
