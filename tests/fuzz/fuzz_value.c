/*
 * fuzz_value.c - libFuzzer driver for query/value*.c.
 *
 * Input layout: byte 0 selects a type from k_types (plus one UDT), byte 1
 * the mode, the rest is the payload.
 *   mode 0  payload = serialized value.  If bs_value_validate accepts it,
 *           every formatter must succeed; the exact display form and the
 *           CQL form must parse back (bs_value_parse_text) to a value
 *           that compares equal (types without sets/maps; with them the
 *           parse may reorder, so parse(format(parse(...))) must be a
 *           fixed point instead).
 *   mode 1  payload = type name text: bs_value_type_parse; on success the
 *           printed name must parse back and print identically.
 *   mode 2  payload = display text: bs_value_parse_text; on success the
 *           result must validate and format.
 *   mode 3  payload[0] = literal kind, rest = literal text:
 *           bs_value_from_literal; on success the result must validate.
 * Any broken oracle aborts.  Seed corpus: tests/fuzz/value/.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/types.h"
#include "query/value.h"

static const char *k_types[] = {
    "ascii",
    "bigint",
    "blob",
    "boolean",
    "counter",
    "decimal",
    "double",
    "float",
    "int",
    "timestamp",
    "uuid",
    "text",
    "varint",
    "timeuuid",
    "inet",
    "date",
    "time",
    "smallint",
    "tinyint",
    "duration",
    "list<int>",
    "set<text>",
    "map<text, int>",
    "frozen<list<list<int>>>",
    "tuple<int, text, blob>",
    "list<frozen<tuple<double, date>>>",
    "map<timestamp, frozen<set<inet>>>",
    "list<decimal>",
    "list<varint>",
    "map<time, duration>",
    "set<timeuuid>",
    "list<float>",
    "tuple<frozen<map<int, text>>, boolean>",
    "list<ascii>",
    "set<uuid>",
};
#define NTYPES (sizeof k_types / sizeof k_types[0])

static bs_type *g_types[NTYPES + 1];
static int g_has_order[NTYPES + 1]; /* contains a set or map */

static void init(void) {
    if (g_types[0]) return;
    for (size_t i = 0; i < NTYPES; i++) {
        char err[128];
        if (bs_value_type_parse(k_types[i], strlen(k_types[i]), &g_types[i],
                                err, sizeof err))
            abort();
        g_has_order[i] =
            strstr(k_types[i], "set<") || strstr(k_types[i], "map<");
    }
    bs_type *u = bs_type_new(BS_TYPE_UDT);
    u->name = strdup("pt");
    u->frozen = 1;
    bs_type_add_param(u, bs_type_new(BS_TYPE_INT), "x");
    bs_type_add_param(u, bs_type_new(BS_TYPE_VARCHAR), "Label");
    bs_type *l =
        bs_type_new_coll(BS_TYPE_LIST, bs_type_new(BS_TYPE_BIGINT), NULL);
    l->frozen = 1;
    bs_type_add_param(u, l, "xs");
    g_types[NTYPES] = u;
}

static void must(int cond, const char *what, const bs_type *t, const void *p,
                 size_t n) {
    if (cond) return;
    bs_buf name = BS_BUF_INIT;
    bs_value_type_to_cql(t, &name);
    fprintf(stderr, "oracle failed: %s for %.*s (%zu bytes)\n", what,
            (int)name.len, (char *)name.data, n);
    (void)p;
    abort();
}

static void check_value(const bs_type *t, int has_order, const uint8_t *p,
                        size_t n) {
    if (bs_value_validate(t, p, n, NULL, 0) != 0) return;
    bs_buf a = BS_BUF_INIT, b = BS_BUF_INIT, c = BS_BUF_INIT, j = BS_BUF_INIT;
    must(bs_value_format(t, p, n, 0, &a) == 0, "display format", t, p, n);
    bs_buf_reset(&a);
    must(bs_value_format(t, p, n, BS_VALUE_FMT_ESCAPE, &a) == 0, "escape", t, p,
         n);
    must(bs_value_format_json(t, p, n, &j) == 0, "json format", t, p, n);
    for (int style = 0; style < 2; style++) {
        bs_buf_reset(&a);
        bs_buf_reset(&b);
        int rc = style == 0 ? bs_value_format(t, p, n, BS_VALUE_FMT_EXACT, &a)
                            : bs_value_format_cql(t, p, n, &a);
        must(rc == 0, "format", t, p, n);
        char err[256] = "";
        rc = bs_value_parse_text(t, (char *)a.data, a.len,
                                 style ? BS_VALUE_PARSE_CQL : 0, &b, err,
                                 sizeof err);
        if (rc)
            fprintf(stderr, "'%.*s': %s\n", (int)a.len, (char *)a.data, err);
        must(rc == 0, "parse back", t, p, n);
        must(bs_value_validate(t, b.data, b.len, NULL, 0) == 0,
             "reparsed valid", t, p, n);
        if (!has_order) {
            int cmp = 9;
            must(bs_value_compare(t, p, n, b.data, b.len, &cmp) == 0, "compare",
                 t, p, n);
            if (cmp) fprintf(stderr, "'%.*s'\n", (int)a.len, (char *)a.data);
            must(cmp == 0, "round trip equal", t, p, n);
        } else {
            /* canonical after one pass */
            bs_buf_reset(&c);
            bs_buf a2 = BS_BUF_INIT;
            must(bs_value_format(t, b.data, b.len, BS_VALUE_FMT_EXACT, &a2) ==
                     0,
                 "format3", t, p, n);
            must(bs_value_parse_text(t, (char *)a2.data, a2.len, 0, &c, err,
                                     sizeof err) == 0,
                 "parse2", t, p, n);
            must(c.len == b.len &&
                     (!b.len || memcmp(c.data, b.data, b.len) == 0),
                 "fixed point", t, p, n);
            bs_buf_free(&a2);
        }
    }
    bs_buf_free(&a);
    bs_buf_free(&b);
    bs_buf_free(&c);
    bs_buf_free(&j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    init();
    if (size < 2) return 0;
    size_t ti = data[0] % (NTYPES + 1);
    const bs_type *t = g_types[ti];
    int has_order = ti < NTYPES ? g_has_order[ti] : 0;
    const uint8_t *p = data + 2;
    size_t n = size - 2;
    switch (data[1] % 4) {
    case 0: check_value(t, has_order, p, n); break;
    case 1: {
        bs_type *pt = NULL;
        char err[128];
        if (bs_value_type_parse((const char *)p, n, &pt, err, sizeof err) ==
            0) {
            bs_buf s = BS_BUF_INIT, s2 = BS_BUF_INIT;
            bs_type *p2 = NULL;
            if (bs_value_type_to_cql(pt, &s) == 0) {
                must(bs_value_type_parse((char *)s.data, s.len, &p2, err,
                                         sizeof err) == 0,
                     "type name reparse", pt, p, n);
                /* names print without keyspace, as Cassandra does, so the
                 * printed forms (not the descriptors) must agree */
                must(bs_value_type_to_cql(p2, &s2) == 0 && s2.len == s.len &&
                         s.len && memcmp(s.data, s2.data, s.len) == 0,
                     "type name fixed point", pt, p, n);
            }
            bs_buf_free(&s2);
            bs_type_free(p2);
            bs_type_free(pt);
            bs_buf_free(&s);
        }
        break;
    }
    case 2: {
        bs_buf b = BS_BUF_INIT, f = BS_BUF_INIT;
        char err[256];
        if (bs_value_parse_text(t, (const char *)p, n, 0, &b, err,
                                sizeof err) == 0) {
            must(bs_value_validate(t, b.data, b.len, NULL, 0) == 0,
                 "parsed text validates", t, p, n);
            must(bs_value_format(t, b.data, b.len, 0, &f) == 0,
                 "parsed formats", t, p, n);
            check_value(t, has_order, b.data, b.len);
        }
        bs_buf_free(&b);
        bs_buf_free(&f);
        break;
    }
    default: {
        if (n < 1) break;
        bs_literal lit = {(bs_lit_kind)(p[0] % 8), (const char *)p + 1, n - 1};
        bs_buf b = BS_BUF_INIT;
        char err[256];
        if (bs_value_from_literal(t, &lit, "c", &b, err, sizeof err) == 0) {
            must(bs_value_validate(t, b.data, b.len, NULL, 0) == 0,
                 "literal validates", t, p, n);
            check_value(t, has_order, b.data, b.len);
        }
        bs_buf_free(&b);
        break;
    }
    }
    return 0;
}
