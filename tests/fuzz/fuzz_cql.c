/*
 * fuzz_cql.c - libFuzzer driver for the CQL lexer, parser and printer.
 *
 * Each input is parsed as one statement and as a script, and split into
 * statements.  When a statement parses, it is printed and the printed
 * text must parse again to an equal tree (parse(print(parse(s))) ==
 * parse(s)) and print identically; any violation aborts so the fuzzer
 * records it.  Errors must carry a message.  Seed corpus: tests/fuzz/cql/.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/buf.h"
#include "common/error.h"
#include "query/cql.h"

static void check_round_trip(const bs_cql_stmt *s) {
    bs_buf b1 = BS_BUF_INIT, b2 = BS_BUF_INIT;
    if (bs_cql_print(s, &b1)) abort();
    bs_arena a;
    bs_arena_init(&a, 0);
    bs_cql_stmt *s2 = NULL;
    bs_cql_error e;
    int rc = bs_cql_parse(&a, (const char *)b1.data, b1.len, &s2, &e);
    if (rc) {
        fprintf(stderr, "printed text does not parse: %.*s\n  %s\n",
                (int)b1.len, (const char *)b1.data, e.msg);
        abort();
    }
    if (!bs_cql_stmt_equal(s, s2)) {
        fprintf(stderr, "round trip differs: %.*s\n", (int)b1.len,
                (const char *)b1.data);
        abort();
    }
    if (bs_cql_print(s2, &b2) || b1.len != b2.len ||
        memcmp(b1.data, b2.data, b1.len)) {
        fprintf(stderr, "print is not a fixed point: %.*s\n", (int)b1.len,
                (const char *)b1.data);
        abort();
    }
    bs_arena_free(&a);
    bs_buf_free(&b1);
    bs_buf_free(&b2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *text = (const char *)data;
    bs_arena a;
    bs_arena_init(&a, 0);
    bs_cql_stmt *s = NULL;
    bs_cql_error e;
    int rc = bs_cql_parse(&a, text, size, &s, &e);
    if (rc == 0)
        check_round_trip(s);
    else if (!e.msg[0] || e.code != rc)
        abort();

    bs_cql_stmt **v;
    size_t n;
    if (bs_cql_parse_script(&a, text, size, &v, &n, &e) == 0)
        for (size_t i = 0; i < n; i++)
            check_round_trip(v[i]);

    bs_cql_piece *p;
    int complete;
    if (bs_cql_split(&a, text, size, &p, &n, &complete) == 0)
        for (size_t i = 0; i < n; i++)
            if (p[i].off + p[i].len > size) abort();
    bs_arena_free(&a);
    return 0;
}
