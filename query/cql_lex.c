/*
 * cql_lex.c - CQL lexer (see cql_lex.h for the token grammar).
 *
 * A hand-written scanner over a borrowed byte range.  It never allocates:
 * a token is (kind, line, col, off, len) and its value is decoded later by
 * bs_cql_tok_text().  Every read is bounds-checked against len, so any
 * byte sequence (embedded NULs, invalid UTF-8) either lexes or yields
 * BS_ESYNTAX naming the position.
 *
 * Decision order at a token start, mirroring ANTLR's longest-match with
 * rule priority in Cassandra's Lexer.g:
 *   hex digit   -> UUID if 8-4-4-4-12 matches and no identifier char
 *                  follows; "0x" -> HEX; digits -> DURATION when a unit
 *                  follows (1h30m), else INTEGER/FLOAT
 *   'P'         -> ISO 8601 DURATION when it matches, else identifier
 *   letter      -> true/false -> BOOL; nan/infinity -> FLOAT; else IDENT
 *   '-'         -> comment (--), '-=', negative number/duration/NaN/
 *                  Infinity when one follows, else MINUS
 * Columns count UTF-8 code points (continuation bytes are skipped) so
 * they match what a user sees and what Cassandra reports for ASCII.
 */
#include "query/cql_lex.h"

#include <stdio.h>
#include <string.h>

#include "common/error.h"

/* Sorted; words that need quotes to be identifiers.  Cassandra's reserved
 * keywords plus the literal words true/false (lexed as booleans). */
static const char *const reserved_words[] = {
    "add",          "allow",        "alter",    "and",      "apply",
    "asc",          "authorize",    "batch",    "begin",    "by",
    "columnfamily", "create",       "delete",   "desc",     "describe",
    "drop",         "entries",      "execute",  "false",    "from",
    "full",         "grant",        "if",       "in",       "index",
    "infinity",     "insert",       "into",     "is",       "keyspace",
    "limit",        "materialized", "modify",   "nan",      "norecursive",
    "not",          "null",         "of",       "on",       "or",
    "order",        "primary",      "rename",   "replace",  "revoke",
    "schema",       "select",       "set",      "table",    "to",
    "token",        "true",         "truncate", "unlogged", "update",
    "use",          "using",        "view",     "where",    "with",
};

static int is_digit(int c) {
    return c >= '0' && c <= '9';
}
static int is_letter(int c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
static int is_hex(int c) {
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
static int is_ident(int c) {
    return is_letter(c) || is_digit(c) || c == '_';
}
static int lower(int c) {
    return (c >= 'A' && c <= 'Z') ? c + 32 : c;
}

void bs_cql_lex_init(bs_cql_lexer *lx, const char *src, size_t len) {
    lx->src = src;
    lx->len = len;
    lx->pos = 0;
    lx->line = 1;
    lx->col = 0;
}

/* Byte at i, or -1 past the end (never equal to any character tested,
 * so every lookahead doubles as a bounds check). */
static int at(const bs_cql_lexer *lx, size_t i) {
    return i < lx->len ? (unsigned char)lx->src[i] : -1;
}

static void advance(bs_cql_lexer *lx, size_t n) {
    for (size_t i = 0; i < n && lx->pos < lx->len; i++) {
        unsigned char b = (unsigned char)lx->src[lx->pos++];
        if (b == '\n') {
            lx->line++;
            lx->col = 0;
        } else if ((b & 0xC0) != 0x80) {
            lx->col++;
        }
    }
}

static int ci_word(const bs_cql_lexer *lx, size_t i, const char *w) {
    size_t n = strlen(w);
    if (i + n > lx->len) return 0;
    for (size_t k = 0; k < n; k++)
        if (lower((unsigned char)lx->src[i + k]) != w[k]) return 0;
    return !is_ident(at(lx, i + n));
}

static size_t digits(const bs_cql_lexer *lx, size_t i) {
    size_t s = i;
    while (is_digit(at(lx, i)))
        i++;
    return i - s;
}

/* 8-4-4-4-12 hex at i, not followed by an identifier char or '-'. */
static size_t match_uuid(const bs_cql_lexer *lx, size_t i) {
    static const int groups[5] = {8, 4, 4, 4, 12};
    size_t p = i;
    for (int g = 0; g < 5; g++) {
        for (int k = 0; k < groups[g]; k++, p++)
            if (!is_hex(at(lx, p))) return 0;
        if (g < 4) {
            if (at(lx, p) != '-') return 0;
            p++;
        }
    }
    if (is_ident(at(lx, p)) || at(lx, p) == '-') return 0;
    return p - i;
}

/* Unit duration (digits unit)+ at i (after any '-'); 0 if none. */
static size_t match_unit_duration(const bs_cql_lexer *lx, size_t i) {
    size_t p = i;
    int parts = 0;
    for (;;) {
        size_t d = digits(lx, p);
        if (!d) break;
        size_t q = p + d;
        int c0 = lower(at(lx, q)), c1 = lower(at(lx, q + 1));
        size_t ul = 0;
        if ((c0 == 'm' && (c1 == 'o' || c1 == 's')) ||
            ((c0 == 'u' || c0 == 'n') && c1 == 's'))
            ul = 2;
        else if (c0 == 0xC2 && at(lx, q + 1) == 0xB5 &&
                 lower(at(lx, q + 2)) == 's')
            ul = 3; /* µs */
        else if (c0 == 'y' || c0 == 'w' || c0 == 'd' || c0 == 'h' ||
                 c0 == 'm' || c0 == 's')
            ul = 1;
        if (!ul) break;
        p = q + ul;
        parts++;
    }
    if (!parts) return 0;
    if (is_letter(at(lx, p)) || at(lx, p) == '_' || is_digit(at(lx, p)))
        return 0;
    return p - i;
}

static const char *unit_in(const char *order, int c) {
    for (; *order; order++)
        if (*order == c) return order;
    return NULL;
}

/* ISO 8601 duration starting with 'P' at i; 0 if none. */
static size_t match_iso_duration(const bs_cql_lexer *lx, size_t i) {
    if (at(lx, i) != 'P') return 0;
    size_t p = i + 1;
    /* alternative format PYYYY-MM-DDThh:mm:ss */
    {
        static const char fmt[] = "dddd-dd-ddTdd:dd:dd";
        size_t k = 0;
        for (; fmt[k]; k++) {
            int c = at(lx, p + k);
            if (fmt[k] == 'd' ? !is_digit(c) : c != fmt[k]) break;
        }
        if (!fmt[k] && !is_ident(at(lx, p + k))) return p + k - i;
    }
    /* week form P<n>W */
    {
        size_t d = digits(lx, p);
        if (d && at(lx, p + d) == 'W' && !is_ident(at(lx, p + d + 1)))
            return p + d + 1 - i;
    }
    int parts = 0;
    const char *order = "YMD";
    while (*order) {
        size_t d = digits(lx, p);
        if (!d) break;
        const char *u = unit_in(order, at(lx, p + d));
        if (!u) break;
        p += d + 1;
        order = u + 1;
        parts++;
    }
    if (at(lx, p) == 'T') {
        size_t t = p + 1;
        int tparts = 0;
        order = "HMS";
        while (*order) {
            size_t d = digits(lx, t);
            if (!d) break;
            const char *u = unit_in(order, at(lx, t + d));
            if (!u) break;
            t += d + 1;
            order = u + 1;
            tparts++;
        }
        if (!tparts) return 0;
        p = t;
        parts += tparts;
    }
    if (!parts || is_ident(at(lx, p))) return 0;
    return p - i;
}

/* INTEGER or FLOAT at i (after any '-'); sets *is_float. */
static size_t match_number(const bs_cql_lexer *lx, size_t i, int *is_float) {
    size_t p = i + digits(lx, i);
    *is_float = 0;
    if (at(lx, p) == '.') {
        p++;
        p += digits(lx, p);
        *is_float = 1;
    }
    int e = at(lx, p);
    if (e == 'e' || e == 'E') {
        size_t q = p + 1;
        if (at(lx, q) == '+' || at(lx, q) == '-') q++;
        size_t d = digits(lx, q);
        if (d) {
            p = q + d;
            *is_float = 1;
        }
    }
    return p - i;
}

static int lex_error(bs_cql_lexer *lx, bs_cql_error *err, const char *fmt,
                     const char *arg) {
    if (err) {
        err->code = BS_ESYNTAX;
        err->line = lx->line;
        err->col = lx->col;
        int n = snprintf(err->msg, sizeof err->msg, "line %u:%u ",
                         (unsigned)lx->line, (unsigned)lx->col);
        if (n < 0) n = 0;
        snprintf(err->msg + n, sizeof err->msg - (size_t)n, fmt, arg);
    }
    return BS_ESYNTAX;
}

static void emit(bs_cql_lexer *lx, bs_cql_token *t, bs_cql_tok_kind k,
                 size_t n) {
    t->kind = k;
    t->line = lx->line;
    t->col = lx->col;
    t->off = lx->pos;
    t->len = n;
    advance(lx, n);
}

/* Length of a quoted run starting at i with quote q, where qq escapes.
 * 0 when unterminated. */
static size_t quoted(const bs_cql_lexer *lx, size_t i, int q) {
    size_t p = i + 1;
    for (;;) {
        int c = at(lx, p);
        if (c < 0) return 0;
        if (c == q) {
            if (at(lx, p + 1) == q) {
                p += 2;
                continue;
            }
            return p + 1 - i;
        }
        p++;
    }
}

/* Skips blanks and comments.  0 or BS_ESYNTAX (unterminated comment). */
static int skip_blanks(bs_cql_lexer *lx, bs_cql_error *err) {
    for (;;) {
        int c = at(lx, lx->pos);
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f') {
            advance(lx, 1);
        } else if ((c == '-' && at(lx, lx->pos + 1) == '-') ||
                   (c == '/' && at(lx, lx->pos + 1) == '/')) {
            size_t p = lx->pos;
            while (p < lx->len && lx->src[p] != '\n' && lx->src[p] != '\r')
                p++;
            advance(lx, p - lx->pos);
        } else if (c == '/' && at(lx, lx->pos + 1) == '*') {
            size_t p = lx->pos + 2;
            while (p + 1 < lx->len &&
                   !(lx->src[p] == '*' && lx->src[p + 1] == '/'))
                p++;
            if (p + 1 >= lx->len)
                return lex_error(lx, err, "unterminated comment%s", "");
            advance(lx, p + 2 - lx->pos);
        } else {
            return 0;
        }
    }
}

/* A token starting with a digit at i: hex blob, duration, number. */
static void lex_digits(bs_cql_lexer *lx, bs_cql_token *t, size_t i) {
    int c = at(lx, i), fl;
    size_t n;
    if (c == '0' && (at(lx, i + 1) == 'x' || at(lx, i + 1) == 'X')) {
        n = 2;
        while (is_hex(at(lx, i + n)))
            n++;
        emit(lx, t, BS_CQL_TOK_HEX, n);
    } else if ((n = match_unit_duration(lx, i))) {
        emit(lx, t, BS_CQL_TOK_DURATION, n);
    } else {
        n = match_number(lx, i, &fl);
        emit(lx, t, fl ? BS_CQL_TOK_FLOAT : BS_CQL_TOK_INTEGER, n);
    }
}

/* A token starting with a letter at i: ISO duration, identifier,
 * boolean, NaN / Infinity. */
static void lex_word(bs_cql_lexer *lx, bs_cql_token *t, size_t i) {
    size_t n;
    if (at(lx, i) == 'P' && (n = match_iso_duration(lx, i))) {
        emit(lx, t, BS_CQL_TOK_DURATION, n);
        return;
    }
    n = 1;
    while (is_ident(at(lx, i + n)))
        n++;
    bs_cql_tok_kind k = BS_CQL_TOK_IDENT;
    if (ci_word(lx, i, "true") || ci_word(lx, i, "false"))
        k = BS_CQL_TOK_BOOL;
    else if (ci_word(lx, i, "nan") || ci_word(lx, i, "infinity"))
        k = BS_CQL_TOK_FLOAT;
    emit(lx, t, k, n);
}

/* '-' at i: -=, a negative number or duration, -NaN, -Infinity, or a
 * minus sign. */
static void lex_minus(bs_cql_lexer *lx, bs_cql_token *t, size_t i) {
    int c1 = at(lx, i + 1), fl;
    size_t n;
    if (c1 == '=') {
        emit(lx, t, BS_CQL_TOK_MINUS_EQ, 2);
    } else if (is_digit(c1)) {
        if ((n = match_unit_duration(lx, i + 1))) {
            emit(lx, t, BS_CQL_TOK_DURATION, n + 1);
        } else {
            n = match_number(lx, i + 1, &fl);
            emit(lx, t, fl ? BS_CQL_TOK_FLOAT : BS_CQL_TOK_INTEGER, n + 1);
        }
    } else if (c1 == 'P' && (n = match_iso_duration(lx, i + 1))) {
        emit(lx, t, BS_CQL_TOK_DURATION, n + 1);
    } else if (ci_word(lx, i + 1, "nan")) {
        emit(lx, t, BS_CQL_TOK_FLOAT, 4);
    } else if (ci_word(lx, i + 1, "infinity")) {
        emit(lx, t, BS_CQL_TOK_FLOAT, 9);
    } else {
        emit(lx, t, BS_CQL_TOK_MINUS, 1);
    }
}

/* Quoted strings and identifiers at i ('...', "...", $$...$$).  1 when a
 * token was emitted, 0 when none starts at i, BS_ESYNTAX. */
static int lex_quoted(bs_cql_lexer *lx, bs_cql_token *t, size_t i,
                      bs_cql_error *err) {
    int c = at(lx, i);
    size_t n;
    if (c == '\'') {
        if (!(n = quoted(lx, i, '\'')))
            return lex_error(lx, err, "unterminated string literal%s", "");
        emit(lx, t, BS_CQL_TOK_STRING, n);
        return 1;
    }
    if (c == '"') {
        if (!(n = quoted(lx, i, '"')))
            return lex_error(lx, err, "unterminated quoted identifier%s", "");
        emit(lx, t, BS_CQL_TOK_QIDENT, n);
        return 1;
    }
    if (c == '$' && at(lx, i + 1) == '$') {
        size_t p = i + 2;
        while (p + 1 < lx->len && !(lx->src[p] == '$' && lx->src[p + 1] == '$'))
            p++;
        if (p + 1 >= lx->len)
            return lex_error(lx, err, "unterminated $$ string literal%s", "");
        emit(lx, t, BS_CQL_TOK_STRING, p + 2 - i);
        return 1;
    }
    return 0;
}

/* Operators and punctuation at i: 1 when emitted, 0 when none. */
static int lex_punct(bs_cql_lexer *lx, bs_cql_token *t, size_t i) {
    int c = at(lx, i), c1 = at(lx, i + 1);
    switch (c) {
    case '+':
        emit(lx, t, c1 == '=' ? BS_CQL_TOK_PLUS_EQ : BS_CQL_TOK_PLUS,
             c1 == '=' ? 2 : 1);
        return 1;
    case '!':
        if (c1 != '=') return 0;
        emit(lx, t, BS_CQL_TOK_NEQ, 2);
        return 1;
    case '<':
        emit(lx, t, c1 == '=' ? BS_CQL_TOK_LTE : BS_CQL_TOK_LT,
             c1 == '=' ? 2 : 1);
        return 1;
    case '>':
        emit(lx, t, c1 == '=' ? BS_CQL_TOK_GTE : BS_CQL_TOK_GT,
             c1 == '=' ? 2 : 1);
        return 1;
    case '=': emit(lx, t, BS_CQL_TOK_EQ, 1); return 1;
    case '?': emit(lx, t, BS_CQL_TOK_QMARK, 1); return 1;
    case ',': emit(lx, t, BS_CQL_TOK_COMMA, 1); return 1;
    case ';': emit(lx, t, BS_CQL_TOK_SEMI, 1); return 1;
    case '(': emit(lx, t, BS_CQL_TOK_LPAREN, 1); return 1;
    case ')': emit(lx, t, BS_CQL_TOK_RPAREN, 1); return 1;
    case '[': emit(lx, t, BS_CQL_TOK_LBRACKET, 1); return 1;
    case ']': emit(lx, t, BS_CQL_TOK_RBRACKET, 1); return 1;
    case '{': emit(lx, t, BS_CQL_TOK_LBRACE, 1); return 1;
    case '}': emit(lx, t, BS_CQL_TOK_RBRACE, 1); return 1;
    case ':': emit(lx, t, BS_CQL_TOK_COLON, 1); return 1;
    case '.': emit(lx, t, BS_CQL_TOK_DOT, 1); return 1;
    case '*': emit(lx, t, BS_CQL_TOK_STAR, 1); return 1;
    default: return 0;
    }
}

/* The error for an invalid character at i: shows the whole UTF-8
 * sequence, or a hex escape for control/invalid bytes. */
static int bad_char(bs_cql_lexer *lx, size_t i, bs_cql_error *err) {
    int c = at(lx, i);
    char shown[16];
    if (c >= 0x20 && c < 0x7f) {
        shown[0] = (char)c;
        shown[1] = 0;
    } else if (c >= 0xC2 && c <= 0xF4) {
        size_t k = 1, need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
        shown[0] = (char)c;
        while (k < need && (at(lx, i + k) & 0xC0) == 0x80 &&
               at(lx, i + k) >= 0) {
            shown[k] = (char)at(lx, i + k);
            k++;
        }
        if (k != need)
            snprintf(shown, sizeof shown, "\\x%02x", (unsigned)c);
        else
            shown[k] = 0;
    } else {
        snprintf(shown, sizeof shown, "\\x%02x", (unsigned)c);
    }
    return lex_error(lx, err, "no viable alternative at character '%s'", shown);
}

int bs_cql_lex_next(bs_cql_lexer *lx, bs_cql_token *t, bs_cql_error *err) {
    int rc = skip_blanks(lx, err);
    if (rc) return rc;
    size_t i = lx->pos;
    int c = at(lx, i);
    size_t n;
    if (c < 0) {
        emit(lx, t, BS_CQL_TOK_EOF, 0);
    } else if (is_hex(c) && (n = match_uuid(lx, i))) {
        emit(lx, t, BS_CQL_TOK_UUID, n);
    } else if (is_digit(c)) {
        lex_digits(lx, t, i);
    } else if (is_letter(c)) {
        lex_word(lx, t, i);
    } else if (c == '-') {
        lex_minus(lx, t, i);
    } else {
        rc = lex_quoted(lx, t, i, err);
        if (rc < 0) return rc;
        if (!rc && !lex_punct(lx, t, i)) return bad_char(lx, i, err);
    }
    return 0;
}

const char *bs_cql_tok_name(bs_cql_tok_kind k) {
    switch (k) {
    case BS_CQL_TOK_EOF: return "EOF";
    case BS_CQL_TOK_IDENT: return "IDENT";
    case BS_CQL_TOK_QIDENT: return "QUOTED_NAME";
    case BS_CQL_TOK_STRING: return "STRING_LITERAL";
    case BS_CQL_TOK_INTEGER: return "INTEGER";
    case BS_CQL_TOK_FLOAT: return "FLOAT";
    case BS_CQL_TOK_UUID: return "UUID";
    case BS_CQL_TOK_HEX: return "HEXNUMBER";
    case BS_CQL_TOK_BOOL: return "BOOLEAN";
    case BS_CQL_TOK_DURATION: return "DURATION";
    case BS_CQL_TOK_QMARK: return "'?'";
    case BS_CQL_TOK_EQ: return "'='";
    case BS_CQL_TOK_NEQ: return "'!='";
    case BS_CQL_TOK_LT: return "'<'";
    case BS_CQL_TOK_LTE: return "'<='";
    case BS_CQL_TOK_GT: return "'>'";
    case BS_CQL_TOK_GTE: return "'>='";
    case BS_CQL_TOK_PLUS: return "'+'";
    case BS_CQL_TOK_MINUS: return "'-'";
    case BS_CQL_TOK_PLUS_EQ: return "'+='";
    case BS_CQL_TOK_MINUS_EQ: return "'-='";
    case BS_CQL_TOK_COMMA: return "','";
    case BS_CQL_TOK_SEMI: return "';'";
    case BS_CQL_TOK_LPAREN: return "'('";
    case BS_CQL_TOK_RPAREN: return "')'";
    case BS_CQL_TOK_LBRACKET: return "'['";
    case BS_CQL_TOK_RBRACKET: return "']'";
    case BS_CQL_TOK_LBRACE: return "'{'";
    case BS_CQL_TOK_RBRACE: return "'}'";
    case BS_CQL_TOK_COLON: return "':'";
    case BS_CQL_TOK_DOT: return "'.'";
    case BS_CQL_TOK_STAR: return "'*'";
    }
    return "?";
}

int bs_cql_tok_is(const char *src, const bs_cql_token *t, const char *word) {
    if (t->kind != BS_CQL_TOK_IDENT) return 0;
    size_t n = strlen(word);
    if (t->len != n) return 0;
    for (size_t k = 0; k < n; k++)
        if (lower((unsigned char)src[t->off + k]) != word[k]) return 0;
    return 1;
}

char *bs_cql_tok_text(bs_arena *a, const char *src, const bs_cql_token *t,
                      size_t *len_out) {
    const char *s = src + t->off;
    size_t n = t->len;
    char *d;
    size_t o = 0;
    switch (t->kind) {
    case BS_CQL_TOK_IDENT:
        d = bs_arena_alloc(a, n + 1);
        if (!d) return NULL;
        for (o = 0; o < n; o++)
            d[o] = (char)lower((unsigned char)s[o]);
        break;
    case BS_CQL_TOK_STRING:
    case BS_CQL_TOK_QIDENT:
        if (n >= 4 && s[0] == '$') {
            d = bs_arena_strndup(a, s + 2, n - 4);
            if (d && len_out) *len_out = n - 4;
            return d;
        }
        d = bs_arena_alloc(a, n);
        if (!d) return NULL;
        for (size_t k = 1; k + 1 < n; k++) {
            d[o++] = s[k];
            if (s[k] == s[0]) k++; /* doubled quote */
        }
        break;
    case BS_CQL_TOK_HEX:
        d = bs_arena_strndup(a, s + 2, n - 2);
        if (d && len_out) *len_out = n - 2;
        return d;
    default:
        d = bs_arena_strndup(a, s, n);
        if (d && len_out) *len_out = n;
        return d;
    }
    d[o] = 0;
    if (len_out) *len_out = o;
    return d;
}

int bs_cql_is_reserved(const char *word, size_t len) {
    char buf[16];
    if (len == 0 || len >= sizeof buf) return 0;
    for (size_t i = 0; i < len; i++)
        buf[i] = (char)lower((unsigned char)word[i]);
    buf[len] = 0;
    size_t lo = 0, hi = sizeof reserved_words / sizeof reserved_words[0];
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(buf, reserved_words[mid]);
        if (c == 0) return 1;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return 0;
}
