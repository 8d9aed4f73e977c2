/*
 * fuzz_tspartial.c - the time-series endpoint's partial aggregates
 * (node/ts/ts_select.c, "Partial aggregates") on arbitrary bytes:
 *   - as a replica's answer: a SELECT with aggregates, GROUP BY a tag and
 *     time() runs over a backend whose visit hands the bytes to the
 *     query's merge, as the coordinator does with a replica's answer;
 *   - as a coordinator's request: bs_ts_partial_open (and close).
 * Oracle: no crash, no sanitizer report; the query answers JSON.
 * Seed corpus: tests/fuzz/tspartial/ (answers of a replica).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "node/ts/ts.h"
#include "node/ts/ts_int.h"
#include "query/schema.h"
#include "query/ts/influxql.h"

static bs_schema *g_schema;
static const uint8_t *g_data;
static size_t g_size;

static bs_schema *f_schema_get(void *ud) {
    (void)ud;
    return bs_schema_retain(g_schema);
}

static int64_t f_now_us(void *ud) {
    (void)ud;
    return 1700000000000000LL;
}

/* The whole ring is "another replica": its answer is the input. */
static int f_visit(void *ud, const bs_table_schema *t, const bs_scan *sc, uint16_t cl,
                   const bs_visit *v, bs_exec_err *err) {
    (void)ud, (void)t, (void)sc, (void)cl, (void)err;
    if (v->merge) v->merge(v->ud, g_data, g_size);
    return 0;
}

static void setup(void) {
    char e[256];
    g_schema = bs_schema_new();
    const char *k[] = {"dc1"}, *val[] = {"1"};
    bs_type *text = bs_type_new(BS_TYPE_VARCHAR), *big = bs_type_new(BS_TYPE_BIGINT),
            *dbl = bs_type_new(BS_TYPE_DOUBLE);
    bs_column_def m[] = {
        {"_series", text, BS_COL_PARTITION_KEY, 0, 0}, {"_bucket", big, BS_COL_PARTITION_KEY, 1, 0},
        {"time", big, BS_COL_CLUSTERING, 0, 1},         {"v", dbl, BS_COL_REGULAR, -1, 0},
        {"n", big, BS_COL_REGULAR, -1, 0},              {"s", text, BS_COL_REGULAR, -1, 0},
    };
    bs_column_def ix[] = {{"_measurement", text, BS_COL_PARTITION_KEY, 0, 0},
                          {"_series", text, BS_COL_CLUSTERING, 0, 0}};
    if (bs_schema_create_keyspace(g_schema, "db", "NetworkTopologyStrategy", 1, k, val, 1, 1, e,
                                  sizeof e) ||
        bs_schema_create_table(g_schema, "db", "m", NULL, m, 6, NULL, 0, 2, e, sizeof e) ||
        bs_schema_create_table(g_schema, "db", "_series_index", NULL, ix, 2, NULL, 0, 2, e,
                               sizeof e))
        abort();
    bs_type_free(text);
    bs_type_free(big);
    bs_type_free(dbl);
}

static const char *const k_queries[] = {
    "SELECT count(v), sum(n), max(v), first(s), last(v) FROM m GROUP BY host",
    "SELECT mean(v), median(v), stddev(n), percentile(v, 90), spread(n) FROM m WHERE "
    "time >= 1699999000s AND time < 1700001000s GROUP BY time(100s), host fill(linear)",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!g_schema) setup();
    bs_exec_backend be;
    memset(&be, 0, sizeof be);
    be.schema_get = f_schema_get;
    be.now_us = f_now_us;
    be.visit = f_visit;
    bs_ts *ts;
    if (bs_ts_new(NULL, &be, &ts)) return 0;
    g_data = data;
    g_size = size;
    bs_arena a;
    bs_arena_init(&a, 0);
    for (size_t q = 0; q < sizeof k_queries / sizeof k_queries[0]; q++) {
        bs_iq_stmt *st;
        size_t n;
        const char *err;
        if (bs_iq_parse(k_queries[q], strlen(k_queries[q]), 1700000000000000000LL, &a, &st, &n,
                        &err))
            abort();
        bs_buf o = BS_BUF_INIT;
        bs__ts_select(ts, &st[0], "db", 1, &a, &o);
        bs_buf_free(&o);
    }
    void *ctx = NULL;
    bs_visit v;
    bs_slice sl;
    char cf[200], msg[256];
    if (!bs_ts_partial_open(ts, data, size, &ctx, &v, &sl, cf, sizeof cf, msg, sizeof msg)) {
        bs_buf o = BS_BUF_INIT;
        if (bs_ts_partial_close(ts, ctx, 1, &o)) abort();
        bs_buf_free(&o);
    }
    bs_arena_free(&a);
    bs_ts_free(ts);
    return 0;
}
