/*
 * test_cql_lexer.c - unit tests for query/cql_lex.c: token kinds, decoded
 * values, positions (line 1-based, column 0-based in characters),
 * comments, every literal kind, and lexical errors.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/error.h"
#include "query/cql_lex.h"

#define MAXT 64

typedef struct lexed {
    bs_cql_token t[MAXT];
    int n; /* tokens before EOF */
    int rc;
    bs_cql_error err;
} lexed;

static lexed lex_all(const char *s) {
    lexed L;
    memset(&L, 0, sizeof L);
    bs_cql_lexer lx;
    bs_cql_lex_init(&lx, s, strlen(s));
    for (;;) {
        bs_cql_token t;
        L.rc = bs_cql_lex_next(&lx, &t, &L.err);
        if (L.rc || t.kind == BS_CQL_TOK_EOF) break;
        ck_assert_int_lt(L.n, MAXT);
        L.t[L.n++] = t;
    }
    return L;
}

static char *text(bs_arena *a, const char *src, const bs_cql_token *t) {
    return bs_cql_tok_text(a, src, t, NULL);
}

/* Lexes s, which must be exactly one token of kind k; returns its text. */
static void one(const char *s, bs_cql_tok_kind k) {
    lexed L = lex_all(s);
    ck_assert_msg(L.rc == 0, "%s: %s", s, L.err.msg);
    ck_assert_msg(L.n == 1, "%s: %d tokens", s, L.n);
    ck_assert_msg(L.t[0].kind == k, "%s: kind %s, want %s", s,
                  bs_cql_tok_name(L.t[0].kind), bs_cql_tok_name(k));
    ck_assert_uint_eq(L.t[0].len, strlen(s));
}

START_TEST(lex_statement_kinds_and_positions) {
    const char *q = "SELECT a, \"B c\" FROM ks.t WHERE x >= -1.5e3;";
    lexed L = lex_all(q);
    ck_assert_int_eq(L.rc, 0);
    static const bs_cql_tok_kind want[] = {
        BS_CQL_TOK_IDENT, BS_CQL_TOK_IDENT, BS_CQL_TOK_COMMA, BS_CQL_TOK_QIDENT,
        BS_CQL_TOK_IDENT, BS_CQL_TOK_IDENT, BS_CQL_TOK_DOT,   BS_CQL_TOK_IDENT,
        BS_CQL_TOK_IDENT, BS_CQL_TOK_IDENT, BS_CQL_TOK_GTE,   BS_CQL_TOK_FLOAT,
        BS_CQL_TOK_SEMI};
    ck_assert_int_eq(L.n, 13);
    for (int i = 0; i < 13; i++)
        ck_assert_int_eq(L.t[i].kind, want[i]);
    ck_assert_uint_eq(L.t[0].col, 0);
    ck_assert_uint_eq(L.t[3].col, 10);  /* "B c" */
    ck_assert_uint_eq(L.t[4].col, 16);  /* FROM */
    ck_assert_uint_eq(L.t[11].col, 37); /* -1.5e3 */
    ck_assert_uint_eq(L.t[11].len, 6);
    for (int i = 0; i < 13; i++)
        ck_assert_uint_eq(L.t[i].line, 1);
    ck_assert(bs_cql_tok_is(q, &L.t[0], "select"));
    ck_assert(!bs_cql_tok_is(q, &L.t[0], "selec"));
    ck_assert(!bs_cql_tok_is(q, &L.t[3], "b c")); /* quoted is no keyword */
}
END_TEST

START_TEST(lex_identifiers_fold_and_quote) {
    bs_arena a;
    bs_arena_init(&a, 0);
    const char *q = "MyTable \"MyTable\" \"a\"\"b\" x_1";
    lexed L = lex_all(q);
    ck_assert_int_eq(L.n, 4);
    ck_assert_str_eq(text(&a, q, &L.t[0]), "mytable");
    ck_assert_str_eq(text(&a, q, &L.t[1]), "MyTable");
    ck_assert_str_eq(text(&a, q, &L.t[2]), "a\"b");
    ck_assert_str_eq(text(&a, q, &L.t[3]), "x_1");
    bs_arena_free(&a);
}
END_TEST

START_TEST(lex_strings) {
    bs_arena a;
    bs_arena_init(&a, 0);
    const char *q = "'it''s' $$a'b''c$$ '' 'x\ny'";
    lexed L = lex_all(q);
    ck_assert_int_eq(L.rc, 0);
    ck_assert_int_eq(L.n, 4);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(L.t[i].kind, BS_CQL_TOK_STRING);
    ck_assert_str_eq(text(&a, q, &L.t[0]), "it's");
    ck_assert_str_eq(text(&a, q, &L.t[1]), "a'b''c");
    size_t n = 99;
    ck_assert_str_eq(bs_cql_tok_text(&a, q, &L.t[2], &n), "");
    ck_assert_uint_eq(n, 0);
    ck_assert_str_eq(text(&a, q, &L.t[3]), "x\ny");
    bs_arena_free(&a);
}
END_TEST

START_TEST(lex_numbers) {
    one("0", BS_CQL_TOK_INTEGER);
    one("123", BS_CQL_TOK_INTEGER);
    one("-42", BS_CQL_TOK_INTEGER);
    one("1.5", BS_CQL_TOK_FLOAT);
    one("1.", BS_CQL_TOK_FLOAT);
    one("2e10", BS_CQL_TOK_FLOAT);
    one("2E-3", BS_CQL_TOK_FLOAT);
    one("-0.5e+7", BS_CQL_TOK_FLOAT);
    one("NaN", BS_CQL_TOK_FLOAT);
    one("-NaN", BS_CQL_TOK_FLOAT);
    one("Infinity", BS_CQL_TOK_FLOAT);
    one("-infinity", BS_CQL_TOK_FLOAT);
    /* 12abc is an integer followed by an identifier */
    lexed L = lex_all("12abc");
    ck_assert_int_eq(L.n, 2);
    ck_assert_int_eq(L.t[0].kind, BS_CQL_TOK_INTEGER);
    ck_assert_int_eq(L.t[1].kind, BS_CQL_TOK_IDENT);
    /* binary minus with a space stays an operator */
    L = lex_all("c - 1");
    ck_assert_int_eq(L.n, 3);
    ck_assert_int_eq(L.t[1].kind, BS_CQL_TOK_MINUS);
    ck_assert_int_eq(L.t[2].kind, BS_CQL_TOK_INTEGER);
}
END_TEST

START_TEST(lex_uuid_hex_bool) {
    one("123e4567-e89b-12d3-a456-426614174000", BS_CQL_TOK_UUID);
    one("DEADBEEF-e89b-12d3-a456-426614174000", BS_CQL_TOK_UUID);
    one("0xCAFEbabe", BS_CQL_TOK_HEX);
    one("0x", BS_CQL_TOK_HEX);
    one("true", BS_CQL_TOK_BOOL);
    one("FALSE", BS_CQL_TOK_BOOL);
    bs_arena a;
    bs_arena_init(&a, 0);
    const char *q = "0xCAFE";
    lexed L = lex_all(q);
    ck_assert_str_eq(text(&a, q, &L.t[0]), "CAFE");
    bs_arena_free(&a);
    /* a word starting with hex letters is an identifier */
    one("deadbeef", BS_CQL_TOK_IDENT);
    /* truncated uuid: not a uuid */
    L = lex_all("123e4567-e89b");
    ck_assert_int_ne(L.t[0].kind, BS_CQL_TOK_UUID);
}
END_TEST

START_TEST(lex_durations) {
    static const char *const d[] = {"1h30m",
                                    "12mo",
                                    "2w",
                                    "1d",
                                    "5us",
                                    "5\xc2\xb5s",
                                    "3ns",
                                    "7ms",
                                    "1y2mo3w4d5h6m7s8ms9us10ns",
                                    "-5s",
                                    "10H",
                                    "P1Y2M3DT4H5M6S",
                                    "PT1H",
                                    "P2W",
                                    "P1D",
                                    "PT30S",
                                    "P0001-02-03T04:05:06",
                                    "-P1D"};
    for (size_t i = 0; i < sizeof d / sizeof *d; i++)
        one(d[i], BS_CQL_TOK_DURATION);
    /* lower-case p is not ISO: an identifier */
    one("p1d", BS_CQL_TOK_IDENT);
    /* 1hx: not a duration, integer then identifier */
    lexed L = lex_all("1hx");
    ck_assert_int_eq(L.n, 2);
    ck_assert_int_eq(L.t[0].kind, BS_CQL_TOK_INTEGER);
    /* P alone / P with junk: identifiers */
    one("P", BS_CQL_TOK_IDENT);
    one("PT", BS_CQL_TOK_IDENT);
    one("P1X", BS_CQL_TOK_IDENT);
}
END_TEST

START_TEST(lex_operators) {
    const char *q = "= != < <= > >= + - += -= , ; ( ) [ ] { } : . * ?";
    static const bs_cql_tok_kind want[] = {
        BS_CQL_TOK_EQ,       BS_CQL_TOK_NEQ,    BS_CQL_TOK_LT,
        BS_CQL_TOK_LTE,      BS_CQL_TOK_GT,     BS_CQL_TOK_GTE,
        BS_CQL_TOK_PLUS,     BS_CQL_TOK_MINUS,  BS_CQL_TOK_PLUS_EQ,
        BS_CQL_TOK_MINUS_EQ, BS_CQL_TOK_COMMA,  BS_CQL_TOK_SEMI,
        BS_CQL_TOK_LPAREN,   BS_CQL_TOK_RPAREN, BS_CQL_TOK_LBRACKET,
        BS_CQL_TOK_RBRACKET, BS_CQL_TOK_LBRACE, BS_CQL_TOK_RBRACE,
        BS_CQL_TOK_COLON,    BS_CQL_TOK_DOT,    BS_CQL_TOK_STAR,
        BS_CQL_TOK_QMARK};
    lexed L = lex_all(q);
    ck_assert_int_eq(L.rc, 0);
    ck_assert_int_eq(L.n, (int)(sizeof want / sizeof *want));
    for (int i = 0; i < L.n; i++)
        ck_assert_int_eq(L.t[i].kind, want[i]);
    /* no spaces: map<text,frozen<list<int>>> closes with three '>' */
    L = lex_all("map<text,frozen<list<int>>>");
    ck_assert_int_eq(L.n, 12);
    for (int i = 9; i < 12; i++)
        ck_assert_int_eq(L.t[i].kind, BS_CQL_TOK_GT);
}
END_TEST

START_TEST(lex_comments_and_lines) {
    const char *q = "-- first line comment\n"
                    "SELECT /* multi\nline */ a // tail\n"
                    "  FROM t";
    lexed L = lex_all(q);
    ck_assert_int_eq(L.rc, 0);
    ck_assert_int_eq(L.n, 4);
    ck_assert_uint_eq(L.t[0].line, 2);
    ck_assert_uint_eq(L.t[0].col, 0);
    ck_assert_uint_eq(L.t[1].line, 3); /* a after the block comment */
    ck_assert_uint_eq(L.t[1].col, 8);
    ck_assert_uint_eq(L.t[2].line, 4);
    ck_assert_uint_eq(L.t[2].col, 2);
    ck_assert_uint_eq(L.t[3].col, 7);
    /* columns count characters, not bytes */
    L = lex_all("'\xc3\xa9\xc3\xa9' x");
    ck_assert_uint_eq(L.t[1].col, 5);
}
END_TEST

START_TEST(lex_errors) {
    lexed L = lex_all("SELECT 'abc");
    ck_assert_int_eq(L.rc, BS_ESYNTAX);
    ck_assert_uint_eq(L.err.line, 1);
    ck_assert_uint_eq(L.err.col, 7);
    ck_assert_str_eq(L.err.msg, "line 1:7 unterminated string literal");

    L = lex_all("a\n  b @ c");
    ck_assert_int_eq(L.rc, BS_ESYNTAX);
    ck_assert_str_eq(L.err.msg,
                     "line 2:4 no viable alternative at character '@'");

    L = lex_all("x /* never closed");
    ck_assert_int_eq(L.rc, BS_ESYNTAX);
    ck_assert_str_eq(L.err.msg, "line 1:2 unterminated comment");

    L = lex_all("\"abc");
    ck_assert_int_eq(L.rc, BS_ESYNTAX);
    L = lex_all("$$abc$");
    ck_assert_int_eq(L.rc, BS_ESYNTAX);
    L = lex_all("a ! b");
    ck_assert_int_eq(L.rc, BS_ESYNTAX);

    /* embedded NUL and invalid UTF-8 outside strings */
    static const char nul[] = {'a', ' ', 0, 'b'};
    bs_cql_lexer lx;
    bs_cql_token t;
    bs_cql_error e;
    bs_cql_lex_init(&lx, nul, sizeof nul);
    ck_assert_int_eq(bs_cql_lex_next(&lx, &t, &e), 0);
    ck_assert_int_eq(bs_cql_lex_next(&lx, &t, &e), BS_ESYNTAX);
    ck_assert_str_eq(e.msg,
                     "line 1:2 no viable alternative at character '\\x00'");
    L = lex_all("\xff");
    ck_assert_int_eq(L.rc, BS_ESYNTAX);
    L = lex_all("\xc3\xa9");
    ck_assert_int_eq(L.rc, BS_ESYNTAX);
    ck_assert_str_eq(L.err.msg,
                     "line 1:0 no viable alternative at character '\xc3\xa9'");
}
END_TEST

START_TEST(lex_reserved_words) {
    ck_assert(bs_cql_is_reserved("SELECT", 6));
    ck_assert(bs_cql_is_reserved("token", 5));
    ck_assert(bs_cql_is_reserved("true", 4));
    ck_assert(!bs_cql_is_reserved("key", 3));
    ck_assert(!bs_cql_is_reserved("ttl", 3));
    ck_assert(!bs_cql_is_reserved("text", 4));
    ck_assert(!bs_cql_is_reserved("json", 4));
    ck_assert(!bs_cql_is_reserved("", 0));
}
END_TEST

START_TEST(lex_eof_repeats) {
    bs_cql_lexer lx;
    bs_cql_token t;
    bs_cql_lex_init(&lx, "  ", 2);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(bs_cql_lex_next(&lx, &t, NULL), 0);
        ck_assert_int_eq(t.kind, BS_CQL_TOK_EOF);
        ck_assert_uint_eq(t.col, 2);
    }
}
END_TEST

int main(void) {
    Suite *s = suite_create("cql_lexer");
    TCase *tc = tcase_create("lexer");
    tcase_add_test(tc, lex_statement_kinds_and_positions);
    tcase_add_test(tc, lex_identifiers_fold_and_quote);
    tcase_add_test(tc, lex_strings);
    tcase_add_test(tc, lex_numbers);
    tcase_add_test(tc, lex_uuid_hex_bool);
    tcase_add_test(tc, lex_durations);
    tcase_add_test(tc, lex_operators);
    tcase_add_test(tc, lex_comments_and_lines);
    tcase_add_test(tc, lex_errors);
    tcase_add_test(tc, lex_reserved_words);
    tcase_add_test(tc, lex_eof_repeats);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
