/*
 * admin_repair.c - text for `basalt-admin repair` and `basalt-admin
 * checksum` from the admin API's JSON (node/admin/repair_admin.h).
 */
#include "client/admin_repair.h"

#include <stdio.h>
#include <string.h>

#include "client/admin_fmt.h"
#include "common/error.h"

static int64_t num(const bs_json *doc, const char *k, int *bad) {
    int64_t v = 0;
    if (bs_json_int(bs_json_get(doc, k), &v)) *bad = 1;
    return v;
}

int bs_admin_fmt_repair(const bs_json *doc, bs_buf *out,
                        int64_t *failed_ranges) {
    int bad = 0;
    const char *sid = bs_json_string(bs_json_get(doc, "session"), NULL);
    int64_t tables = num(doc, "tables", &bad),
            cmp = num(doc, "ranges_compared", &bad),
            sync = num(doc, "ranges_in_sync", &bad),
            mis = num(doc, "ranges_mismatched", &bad),
            fail = num(doc, "ranges_failed", &bad),
            leaves = num(doc, "leaves_mismatched", &bad),
            rd = num(doc, "rows_differed", &bad),
            bd = num(doc, "bytes_differed", &bad),
            rs = num(doc, "rows_streamed", &bad),
            bst = num(doc, "bytes_streamed", &bad),
            streams = num(doc, "streams", &bad),
            ms = num(doc, "duration_ms", &bad);
    if (bad || !sid) return BS_EPROTO;
    char s1[32], s2[32];
    bs_admin_fmt_size(bd, s1, sizeof s1);
    bs_admin_fmt_size(bst, s2, sizeof s2);
    int rc = bs_buf_appendf(
        out,
        "Repair session %s\n"
        "  Tables:            %lld\n"
        "  Ranges compared:   %lld (%lld in sync, %lld mismatched, %lld "
        "failed)\n"
        "  Leaves mismatched: %lld\n"
        "  Differed:          %lld records, %s\n"
        "  Streamed:          %lld records, %s in %lld streams\n"
        "  Duration:          %lld ms\n",
        sid, (long long)tables, (long long)(cmp + fail), (long long)sync,
        (long long)mis, (long long)fail, (long long)leaves, (long long)rd, s1,
        (long long)rs, s2, (long long)streams, (long long)ms);
    const char *err = bs_json_string(bs_json_get(doc, "error"), NULL);
    if (!rc && err) rc = bs_buf_appendf(out, "  First failure:     %s\n", err);
    *failed_ranges = fail;
    return rc;
}

int bs_admin_fmt_checksum(const bs_json *doc, bs_buf *out,
                          int64_t *mismatched) {
    const bs_json *tables = bs_json_get(doc, "tables");
    if (!tables || tables->type != BS_JSON_ARRAY) return BS_EPROTO;
    *mismatched = 0;
    int rc = bs_buf_appendf(out, "%-30s %-16s %-18s %12s  %s\n", "Table",
                            "Address", "Checksum", "Records", "Size");
    for (size_t i = 0; i < tables->n && !rc; i++) {
        const bs_json *t = tables->items[i];
        const char *ks = bs_json_string(bs_json_get(t, "keyspace"), NULL);
        const char *tn = bs_json_string(bs_json_get(t, "table"), NULL);
        const bs_json *nodes = bs_json_get(t, "nodes");
        if (!ks || !tn || !nodes || nodes->type != BS_JSON_ARRAY)
            return BS_EPROTO;
        char name[300];
        snprintf(name, sizeof name, "%s.%s", ks, tn);
        const char *first = NULL;
        int differ = 0, missing = 0;
        for (size_t k = 0; k < nodes->n && !rc; k++) {
            const bs_json *n = nodes->items[k];
            const char *addr = bs_json_string(bs_json_get(n, "address"), "?");
            const char *sum = bs_json_string(bs_json_get(n, "checksum"), NULL);
            if (!sum) {
                missing++;
                rc = bs_buf_appendf(
                    out, "%-30s %-16s %-18s\n", name, addr,
                    bs_json_string(bs_json_get(n, "error"), "error"));
                continue;
            }
            int64_t rows = 0, bytes = 0;
            bs_json_int(bs_json_get(n, "rows"), &rows);
            bs_json_int(bs_json_get(n, "bytes"), &bytes);
            char sz[32];
            bs_admin_fmt_size(bytes, sz, sizeof sz);
            if (!first)
                first = sum;
            else if (strcmp(first, sum))
                differ = 1;
            rc = bs_buf_appendf(out, "%-30s %-16s %-18s %12lld  %s\n", name,
                                addr, sum, (long long)rows, sz);
        }
        if (!rc)
            rc = bs_buf_appendf(out, "%-30s %s%s\n", name,
                                differ ? "MISMATCH: replicas differ"
                                       : "consistent",
                                missing ? " (some nodes did not answer)" : "");
        *mismatched += differ;
    }
    return rc;
}
