/*
 * cql_lex.h - the CQL lexer: text -> tokens with line and column.
 *
 * Used by the parser (cql_parse.c) and by tools that need tokens without
 * a full parse (the shell's statement splitter, completion).  A token is
 * a byte range of the source plus its kind; decoding its value
 * (unescaping '' in strings, folding identifiers to lower case) is done
 * on demand with the helpers below, into an arena.
 *
 * Positions follow Cassandra/ANTLR error messages: line is 1-based,
 * column is 0-based and counts characters (UTF-8 code points), so
 * "SELECT * FORM t" reports 'FORM' at line 1:9.
 *
 * Lexical rules (Cassandra's Lexer.g, reimplemented):
 *   identifier  [A-Za-z][A-Za-z0-9_]*  (keywords are identifiers here; the
 *               parser decides), "quoted" with "" as an escaped quote
 *   string      '...' with '' escape, or $$...$$ (no escapes)
 *   integer     -?[0-9]+          float  -?[0-9]+(.[0-9]*)?([eE][+-]?[0-9]+)?
 *               (with '.' or an exponent), NaN, Infinity, -NaN, -Infinity
 *   uuid        8-4-4-4-12 hex digits         hex   0x[0-9A-Fa-f]*
 *   boolean     true / false (any case)
 *   duration    -?(digits unit)+ with units y mo w d h m s ms us µs ns
 *               (any case), or ISO 8601 -?P...: P1Y2M3DT4H5M6S, P2W,
 *               P0001-02-03T04:05:06
 *   operators   = < <= > >= != + - += -= , ; ( ) [ ] { } : . * ?
 *   comments    -- or // to end of line, and block comments
 * A '-' directly followed by a digit is part of the number (as in
 * Cassandra), so "c - 1" lexes as c, -, 1 but "c -1" as c, -1; the parser
 * accepts both in "SET c = c - 1".
 */
#ifndef BS_QUERY_CQL_LEX_H
#define BS_QUERY_CQL_LEX_H

#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"

typedef enum {
    BS_CQL_TOK_EOF = 0,
    BS_CQL_TOK_IDENT,  /* unquoted word (keywords included) */
    BS_CQL_TOK_QIDENT, /* "Quoted" identifier */
    BS_CQL_TOK_STRING, /* '...' or $$...$$ */
    BS_CQL_TOK_INTEGER,
    BS_CQL_TOK_FLOAT,
    BS_CQL_TOK_UUID,
    BS_CQL_TOK_HEX, /* 0x... */
    BS_CQL_TOK_BOOL,
    BS_CQL_TOK_DURATION,
    BS_CQL_TOK_QMARK, /* ? */
    BS_CQL_TOK_EQ,    /* = */
    BS_CQL_TOK_NEQ,   /* != */
    BS_CQL_TOK_LT,
    BS_CQL_TOK_LTE,
    BS_CQL_TOK_GT,
    BS_CQL_TOK_GTE,
    BS_CQL_TOK_PLUS,
    BS_CQL_TOK_MINUS,
    BS_CQL_TOK_PLUS_EQ,  /* += */
    BS_CQL_TOK_MINUS_EQ, /* -= */
    BS_CQL_TOK_COMMA,
    BS_CQL_TOK_SEMI,
    BS_CQL_TOK_LPAREN,
    BS_CQL_TOK_RPAREN,
    BS_CQL_TOK_LBRACKET,
    BS_CQL_TOK_RBRACKET,
    BS_CQL_TOK_LBRACE,
    BS_CQL_TOK_RBRACE,
    BS_CQL_TOK_COLON,
    BS_CQL_TOK_DOT,
    BS_CQL_TOK_STAR
} bs_cql_tok_kind;

typedef struct bs_cql_token {
    bs_cql_tok_kind kind;
    uint32_t line; /* 1-based */
    uint32_t col;  /* 0-based, in characters */
    size_t off;    /* byte offset of the token in the source */
    size_t len;    /* byte length (quotes included for strings/names) */
} bs_cql_token;

/* The result of a failed lex/parse.  code is BS_ESYNTAX (bad text),
 * BS_ENOTSUP (valid CQL that Basalt does not implement), BS_EINVAL
 * (well-formed but semantically impossible, e.g. two PRIMARY KEYs),
 * BS_ETOOBIG or BS_ENOMEM.  msg is NUL-terminated and starts with
 * "line L:C " for syntax errors, like Cassandra's SyntaxException. */
typedef struct bs_cql_error {
    int code;
    uint32_t line;
    uint32_t col;
    char msg[384];
} bs_cql_error;

/* Lexer state; plain struct so it lives on the stack.  The source must
 * outlive the lexer and every token taken from it. */
typedef struct bs_cql_lexer {
    const char *src;
    size_t len;
    size_t pos;
    uint32_t line;
    uint32_t col;
} bs_cql_lexer;

void bs_cql_lex_init(bs_cql_lexer *lx, const char *src, size_t len);
/* Skips blanks and comments and reads one token (kind EOF at the end,
 * repeatedly).  0, or BS_ESYNTAX with err filled (position and message)
 * for an invalid character or an unterminated string, name or comment;
 * then the lexer has not advanced past the bad input.  err may be NULL. */
int bs_cql_lex_next(bs_cql_lexer *lx, bs_cql_token *tok, bs_cql_error *err);

/* Short printable name of a kind ("IDENT", "'('", ...) for messages. */
const char *bs_cql_tok_name(bs_cql_tok_kind kind);

/* Case-insensitive comparison of an IDENT token with a lower-case word. */
int bs_cql_tok_is(const char *src, const bs_cql_token *t, const char *word);

/* Decoded text of a token, NUL-terminated, in the arena (NULL on OOM):
 * IDENT folded to lower case; QIDENT without quotes and with "" -> ";
 * STRING without quotes and with '' -> ' ($$ strings verbatim); HEX
 * without the 0x; anything else verbatim.  *len_out (may be NULL) gets
 * the byte length, which for strings may include NUL bytes. */
char *bs_cql_tok_text(bs_arena *a, const char *src, const bs_cql_token *t,
                      size_t *len_out);

/* 1 when the word (any case) is a reserved CQL keyword, which needs
 * quotes to be used as an identifier (select, from, token, ...). */
int bs_cql_is_reserved(const char *word, size_t len);

#endif
