/*
 * cql.h - CQL text -> syntax tree, tree -> CQL text, script splitting.
 *
 * The parser is a hand-written recursive-descent parser over the lexer
 * in cql_lex.h, producing the tree in cql_ast.h.  Errors are reported
 * the way Cassandra reports them (SyntaxException text), e.g.
 *   line 1:9 mismatched input 'FORM' expecting FROM (SELECT * [FORM]...)
 *   line 1:14 no viable alternative at input ';' (... FROM t WHERE [;]...)
 * i.e. "line L:C", the kind of failure and the offending token.
 * Statements Basalt recognises but does not implement (CREATE INDEX,
 * materialized views, functions, roles, ...) give BS_ENOTSUP with
 * "<STATEMENT> is not supported by Basalt"; see docs/CQL.md.
 *
 * Nesting (collections in collections, calls in calls, frozen<list<...>>)
 * is limited to BS_CQL_MAX_DEPTH levels so hostile input cannot exhaust
 * the stack; deeper input is a syntax error.
 */
#ifndef BS_QUERY_CQL_H
#define BS_QUERY_CQL_H

#include <stddef.h>

#include "common/arena.h"
#include "common/buf.h"
#include "query/cql_ast.h"
#include "query/cql_lex.h"

#define BS_CQL_MAX_DEPTH 64
/* Most WITH options in one clause (duplicates are checked pairwise). */
#define BS_CQL_MAX_OPTIONS 256
/* Largest statement text accepted (BS_ETOOBIG beyond). */
#define BS_CQL_MAX_TEXT ((size_t)1 << 30)

/* Parses exactly one statement, optionally followed by ';'.  The text is
 * copied into the arena first, so the tree does not borrow `text`; the
 * tree lives until the arena is reset or freed.  Returns 0 with *out set,
 * or BS_ESYNTAX / BS_ENOTSUP / BS_EINVAL / BS_ETOOBIG / BS_ENOMEM with
 * err filled (err may be NULL).  On error the arena may hold garbage from
 * the attempt; it is freed with the arena. */
int bs_cql_parse(bs_arena *a, const char *text, size_t len, bs_cql_stmt **out,
                 bs_cql_error *err);

/* Parses a script of statements separated by ';' (as for the shell's
 * SOURCE and -f).  Empty statements (";;") are skipped.  *out is an
 * arena array of *n statements.  Positions (and error positions) are
 * relative to the whole script.  Stops at the first error. */
int bs_cql_parse_script(bs_arena *a, const char *text, size_t len,
                        bs_cql_stmt ***out, size_t *n, bs_cql_error *err);

/* One statement's text inside a larger input (no trailing ';'). */
typedef struct bs_cql_piece {
    size_t off;
    size_t len;
    uint32_t line; /* of the first token */
    uint32_t col;
} bs_cql_piece;

/* Splits input into statements at top-level ';' without parsing them
 * (for a shell that sends each statement's text to a server): quotes,
 * comments and BEGIN BATCH ... APPLY BATCH are respected.  Pieces that
 * hold only blanks/comments are skipped.  *complete is 1 when the input
 * ends with a terminated statement (or holds none), 0 when text after the
 * last ';' remains -- e.g. an unterminated string or a statement still
 * being typed; that tail is the last piece.  Never fails on bad text
 * (the server will report it); BS_ENOMEM only. */
int bs_cql_split(bs_arena *a, const char *text, size_t len, bs_cql_piece **out,
                 size_t *n, int *complete);

/* ---- printing (cql_print.c) ---- */

/* Appends the statement as canonical CQL text (upper-case keywords,
 * identifiers quoted when needed, no trailing ';').  Parsing the output
 * yields an equal tree (bs_cql_stmt_equal).  0 or BS_ENOMEM. */
int bs_cql_print(const bs_cql_stmt *s, bs_buf *out);
/* Pieces, for DESCRIBE and messages.  `binds` resolves :name markers
 * (may be NULL: then markers print as '?'). */
int bs_cql_print_ident(const char *id, bs_buf *out);
int bs_cql_print_type(const bs_type *t, bs_buf *out);
int bs_cql_print_literal(const bs_literal *l, bs_buf *out);
int bs_cql_print_expr(const bs_cql_expr *e, const bs_cql_bind *binds,
                      bs_buf *out);

/* Structural equality of two trees, ignoring positions and source text;
 * bind lists (names, receivers, casts) are compared too.  1 or 0. */
int bs_cql_stmt_equal(const bs_cql_stmt *a, const bs_cql_stmt *b);

/* "SELECT", "CREATE TABLE", ... for a statement kind. */
const char *bs_cql_stmt_kind_name(bs_cql_stmt_kind kind);

#endif
