/*
 * literal.h - a CQL constant as written in statement text.
 *
 * The parser (cql*.c) produces these; the value layer (value*.c) turns one
 * into the native-protocol serialization of a target type, with an error
 * naming the literal and the type when they do not fit.  Header-only so
 * neither side depends on the other.
 */
#ifndef BS_QUERY_LITERAL_H
#define BS_QUERY_LITERAL_H

#include <stddef.h>

typedef enum {
    BS_LIT_STRING,   /* 'it''s' -> text is the unescaped contents: it's */
    BS_LIT_INTEGER,  /* -42, 123 (digits with optional leading '-') */
    BS_LIT_FLOAT,    /* 1.5, -2e10, NaN, Infinity, -Infinity */
    BS_LIT_UUID,     /* 8-4-4-4-12 hex, unquoted */
    BS_LIT_HEX,      /* 0xCAFE -> text is "CAFE" (may be empty) */
    BS_LIT_BOOL,     /* true / false (text is lower-cased) */
    BS_LIT_DURATION, /* 1h30m, P1DT2H, -5s (unquoted duration literal) */
    BS_LIT_NULL      /* null; text is "null" */
} bs_lit_kind;

typedef struct bs_literal {
    bs_lit_kind kind;
    const char *text; /* borrowed; not NUL-terminated necessarily */
    size_t len;
} bs_literal;

#endif
