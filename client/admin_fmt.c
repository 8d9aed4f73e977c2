/*
 * admin_fmt.c - nodetool-style rendering of admin API documents.
 *
 * Layouts follow Cassandra 4.0's nodetool so operators' eyes and scripts
 * carry over:
 *   status   per data center: "Datacenter: X", '=' underline of the same
 *            length, the two legend lines, then a table whose columns are
 *            padded to their widest cell and separated by two spaces
 *            (nodetool's TableBuilder); owns "%.1f%%" or "?";
 *   ring     per data center: "Datacenter: X", "==========", the header,
 *            a first row holding only the last token (the ring wraps),
 *            then one row per token; owns "%.2f%%" or "?";
 *   info     "%-23s: %s" lines;
 *   gossipinfo  "/addr", then "  generation:N", "  heartbeat:N",
 *            "  NAME:version:value";
 *   describecluster  "Cluster Information:" and tab-indented fields,
 *            schema versions "\t\tVERSION: [a, b]" each followed by a
 *            blank line.
 * The server already sorts nodes (dc, then address) and tokens; the
 * renderers keep that order and only group by data center.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/admin_fmt.h"
#include "common/error.h"

/* ------------------------------------------------------------------ */
/* A padded-column table                                               */
/* ------------------------------------------------------------------ */

#define MAX_COLS 8

typedef struct table {
    size_t ncols, nrows, cap;
    char **cells; /* nrows * ncols, owned */
    int err;
} table;

static void tb_init(table *t, size_t ncols) {
    memset(t, 0, sizeof *t);
    t->ncols = ncols;
}

static void tb_row(table *t, const char *const *cols) {
    if (t->err) return;
    if (t->nrows == t->cap) {
        size_t nc = t->cap ? t->cap * 2 : 16;
        char **n = realloc(t->cells, nc * t->ncols * sizeof *n);
        if (!n) {
            t->err = BS_ENOMEM;
            return;
        }
        t->cells = n;
        t->cap = nc;
    }
    for (size_t i = 0; i < t->ncols; i++) {
        char *s = strdup(cols[i] ? cols[i] : "");
        if (!s) {
            for (size_t j = 0; j < i; j++)
                free(t->cells[t->nrows * t->ncols + j]);
            t->err = BS_ENOMEM;
            return;
        }
        t->cells[t->nrows * t->ncols + i] = s;
    }
    t->nrows++;
}

static int tb_render(table *t, bs_buf *out) {
    size_t w[MAX_COLS] = {0};
    int rc = t->err;
    for (size_t r = 0; r < t->nrows; r++)
        for (size_t c = 0; c < t->ncols; c++) {
            size_t l = strlen(t->cells[r * t->ncols + c]);
            if (l > w[c]) w[c] = l;
        }
    for (size_t r = 0; r < t->nrows && !rc; r++) {
        for (size_t c = 0; c < t->ncols && !rc; c++) {
            const char *s = t->cells[r * t->ncols + c];
            if (c + 1 < t->ncols)
                rc = bs_buf_appendf(out, "%-*s  ", (int)w[c], s);
            else
                rc = bs_buf_appendf(out, "%s", s);
        }
        if (!rc) {
            /* no trailing blanks when the last cells are empty */
            while (out->len && out->data[out->len - 1] == ' ')
                out->len--;
            rc = bs_buf_append_u8(out, '\n');
        }
    }
    for (size_t i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    memset(t, 0, sizeof *t);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

void bs_admin_fmt_size(int64_t bytes, char *out, size_t cap) {
    static const char *units[] = {"KiB", "MiB", "GiB", "TiB"};
    if (bytes < 0) {
        snprintf(out, cap, "?");
        return;
    }
    if (bytes < 1024) {
        snprintf(out, cap, "%lld bytes", (long long)bytes);
        return;
    }
    double v = (double)bytes;
    int u = -1;
    while (v >= 1024 && u < 3) {
        v /= 1024;
        u++;
    }
    char num[64];
    snprintf(num, sizeof num, "%.2f", v);
    char *dot = strchr(num, '.');
    if (dot) {
        char *e = num + strlen(num);
        while (e > dot + 1 && e[-1] == '0')
            *--e = 0;
        if (e == dot + 1) *dot = 0;
    }
    snprintf(out, cap, "%s %s", num, units[u]);
}

static void fmt_load(const bs_json *v, char *out, size_t cap) {
    int64_t b;
    if (bs_json_int(v, &b))
        snprintf(out, cap, "?");
    else
        bs_admin_fmt_size(b, out, cap);
}

static void fmt_owns(const bs_json *v, const char *fmt, char *out, size_t cap) {
    double d;
    if (bs_json_double(v, &d))
        snprintf(out, cap, "?");
    else
        snprintf(out, cap, fmt, d * 100.0);
}

static int dc_header(bs_buf *out, const char *dc, bool fixed_rule) {
    int rc = bs_buf_appendf(out, "Datacenter: %s\n", dc);
    size_t n = fixed_rule ? 10 : strlen("Datacenter: ") + strlen(dc);
    for (size_t i = 0; i < n && !rc; i++)
        rc = bs_buf_append_u8(out, '=');
    return rc ? rc : bs_buf_append_u8(out, '\n');
}

/* ------------------------------------------------------------------ */
/* status                                                              */
/* ------------------------------------------------------------------ */

int bs_admin_fmt_status(const bs_json *doc, bs_buf *out) {
    const bs_json *nodes = bs_json_get(doc, "nodes");
    if (!nodes || nodes->type != BS_JSON_ARRAY) return BS_EPROTO;
    int rc = 0;
    bool unknown_owns = false;
    for (size_t i = 0; i < nodes->n && !rc; i++) {
        const char *dc = bs_json_string(bs_json_get(nodes->items[i], "dc"), "");
        bool seen = false;
        for (size_t j = 0; j < i; j++)
            if (!strcmp(dc,
                        bs_json_string(bs_json_get(nodes->items[j], "dc"), "")))
                seen = true;
        if (seen) continue;
        if (i) rc = bs_buf_append_u8(out, '\n');
        if (!rc) rc = dc_header(out, dc, false);
        if (!rc)
            rc = bs_buf_append_str(
                out,
                "Status=Up/Down\n|/ State=Normal/Leaving/Joining/Moving\n");
        if (rc) break;
        table t;
        tb_init(&t, 7);
        const char *hdr[] = {"--",     "Address",          "Load",
                             "Tokens", "Owns (effective)", "Host ID",
                             "Rack"};
        tb_row(&t, hdr);
        for (size_t j = i; j < nodes->n; j++) {
            const bs_json *n = nodes->items[j];
            if (strcmp(dc, bs_json_string(bs_json_get(n, "dc"), ""))) continue;
            char code[8], load[32], toks[24], owns[16];
            snprintf(code, sizeof code, "%s%s",
                     bs_json_string(bs_json_get(n, "status"), "?"),
                     bs_json_string(bs_json_get(n, "state"), "?"));
            fmt_load(bs_json_get(n, "load_bytes"), load, sizeof load);
            int64_t nt = 0;
            bs_json_int(bs_json_get(n, "tokens"), &nt);
            snprintf(toks, sizeof toks, "%lld", (long long)nt);
            fmt_owns(bs_json_get(n, "owns"), "%.1f%%", owns, sizeof owns);
            if (!strcmp(owns, "?")) unknown_owns = true;
            const char *row[] = {code,
                                 bs_json_string(bs_json_get(n, "address"), "?"),
                                 load,
                                 toks,
                                 owns,
                                 bs_json_string(bs_json_get(n, "host_id"), "?"),
                                 bs_json_string(bs_json_get(n, "rack"), "?")};
            tb_row(&t, row);
        }
        rc = tb_render(&t, out);
    }
    if (!rc && unknown_owns) {
        const char *ks = bs_json_string(bs_json_get(doc, "keyspace"), NULL);
        if (!ks)
            rc = bs_buf_append_str(
                out, "\nNote: there is no non-system keyspace, so effective "
                     "ownership is unknown ('?'); pass a keyspace to see it\n");
    }
    return rc;
}

/* ------------------------------------------------------------------ */
/* ring                                                                */
/* ------------------------------------------------------------------ */

int bs_admin_fmt_ring(const bs_json *doc, bs_buf *out) {
    const bs_json *ring = bs_json_get(doc, "ring");
    if (!ring || ring->type != BS_JSON_ARRAY) return BS_EPROTO;
    int rc = 0;
    for (size_t i = 0; i < ring->n && !rc; i++) {
        const char *dc = bs_json_string(bs_json_get(ring->items[i], "dc"), "");
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++)
            if (!strcmp(dc,
                        bs_json_string(bs_json_get(ring->items[j], "dc"), "")))
                seen = true;
        if (seen) continue;
        rc = bs_buf_append_u8(out, '\n');
        if (!rc) rc = dc_header(out, dc, true);
        if (rc) break;
        table t;
        tb_init(&t, 7);
        const char *hdr[] = {"Address", "Rack", "Status", "State",
                             "Load",    "Owns", "Token"};
        tb_row(&t, hdr);
        /* the last token of this dc first: the ring wraps around to it */
        const char *last = NULL;
        for (size_t j = i; j < ring->n; j++)
            if (!strcmp(dc,
                        bs_json_string(bs_json_get(ring->items[j], "dc"), "")))
                last =
                    bs_json_string(bs_json_get(ring->items[j], "token"), "?");
        const char *wrap[] = {"", "", "", "", "", "", last};
        tb_row(&t, wrap);
        for (size_t j = i; j < ring->n; j++) {
            const bs_json *e = ring->items[j];
            if (strcmp(dc, bs_json_string(bs_json_get(e, "dc"), ""))) continue;
            char load[32], owns[16];
            fmt_load(bs_json_get(e, "load_bytes"), load, sizeof load);
            fmt_owns(bs_json_get(e, "owns"), "%.2f%%", owns, sizeof owns);
            const char *row[] = {bs_json_string(bs_json_get(e, "address"), "?"),
                                 bs_json_string(bs_json_get(e, "rack"), "?"),
                                 bs_json_string(bs_json_get(e, "status"), "?"),
                                 bs_json_string(bs_json_get(e, "state"), "?"),
                                 load,
                                 owns,
                                 bs_json_string(bs_json_get(e, "token"), "?")};
            tb_row(&t, row);
        }
        rc = tb_render(&t, out);
    }
    if (!rc) rc = bs_buf_append_u8(out, '\n');
    return rc;
}

/* ------------------------------------------------------------------ */
/* info, gossipinfo, describecluster, version                          */
/* ------------------------------------------------------------------ */

static int kv(bs_buf *out, const char *k, const char *v) {
    return bs_buf_appendf(out, "%-23s: %s\n", k, v);
}

static const char *boolstr(const bs_json *v) {
    return bs_json_true(v) ? "true" : "false";
}

int bs_admin_fmt_info(const bs_json *doc, bool tokens, bool config,
                      bs_buf *out) {
    if (!doc || doc->type != BS_JSON_OBJECT || !bs_json_get(doc, "host_id"))
        return BS_EPROTO;
    char load[32], num[32];
    int rc = kv(out, "ID", bs_json_string(bs_json_get(doc, "host_id"), "?"));
    if (!rc)
        rc = kv(out, "Gossip active",
                boolstr(bs_json_get(doc, "gossip_active")));
    if (!rc)
        rc = kv(out, "Native Transport active",
                boolstr(bs_json_get(doc, "native_transport_active")));
    fmt_load(bs_json_get(doc, "load_bytes"), load, sizeof load);
    if (!rc) rc = kv(out, "Load", load);
    int64_t x = 0;
    bs_json_int(bs_json_get(doc, "generation"), &x);
    snprintf(num, sizeof num, "%lld", (long long)x);
    if (!rc) rc = kv(out, "Generation No", num);
    x = 0;
    bs_json_int(bs_json_get(doc, "uptime_seconds"), &x);
    snprintf(num, sizeof num, "%lld", (long long)x);
    if (!rc) rc = kv(out, "Uptime (seconds)", num);
    if (!rc)
        rc =
            kv(out, "Data Center", bs_json_string(bs_json_get(doc, "dc"), "?"));
    if (!rc)
        rc = kv(out, "Rack", bs_json_string(bs_json_get(doc, "rack"), "?"));
    if (!rc)
        rc = kv(out, "Schema Version",
                bs_json_string(bs_json_get(doc, "schema_version"), "?"));
    x = 0;
    bs_json_int(bs_json_get(doc, "tokens"), &x);
    const bs_json *tl = bs_json_get(doc, "token_list");
    if (!rc && tokens && tl && tl->type == BS_JSON_ARRAY) {
        for (size_t i = 0; i < tl->n && !rc; i++)
            rc = kv(out, "Token", bs_json_string(tl->items[i], "?"));
    } else if (!rc) {
        char msg[96];
        snprintf(msg, sizeof msg,
                 "(invoke with -T/--tokens to see all %lld tokens)",
                 (long long)x);
        rc = kv(out, "Token", msg);
    }
    const char *cfg = bs_json_string(bs_json_get(doc, "config"), NULL);
    if (!rc && config) {
        rc = bs_buf_append_str(out, "\nEffective configuration:\n");
        if (!rc) rc = bs_buf_append_str(out, cfg ? cfg : "(not available)\n");
    }
    return rc;
}

int bs_admin_fmt_gossipinfo(const bs_json *doc, bs_buf *out) {
    const bs_json *eps = bs_json_get(doc, "endpoints");
    if (!eps || eps->type != BS_JSON_ARRAY) return BS_EPROTO;
    int rc = 0;
    for (size_t i = 0; i < eps->n && !rc; i++) {
        const bs_json *e = eps->items[i];
        int64_t gen = 0, hb = 0;
        bs_json_int(bs_json_get(e, "generation"), &gen);
        bs_json_int(bs_json_get(e, "heartbeat"), &hb);
        rc = bs_buf_appendf(out, "/%s\n  generation:%lld\n  heartbeat:%lld\n",
                            bs_json_string(bs_json_get(e, "endpoint"), "?"),
                            (long long)gen, (long long)hb);
        const bs_json *st = bs_json_get(e, "states");
        for (size_t j = 0; st && st->type == BS_JSON_ARRAY && j < st->n && !rc;
             j++) {
            int64_t ver = 0;
            bs_json_int(bs_json_get(st->items[j], "version"), &ver);
            rc = bs_buf_appendf(
                out, "  %s:%lld:%s\n",
                bs_json_string(bs_json_get(st->items[j], "name"), "?"),
                (long long)ver,
                bs_json_string(bs_json_get(st->items[j], "value"), ""));
        }
    }
    return rc;
}

int bs_admin_fmt_describecluster(const bs_json *doc, bs_buf *out) {
    const bs_json *sv = bs_json_get(doc, "schema_versions");
    if (!sv || sv->type != BS_JSON_ARRAY) return BS_EPROTO;
    int rc = bs_buf_appendf(
        out,
        "Cluster Information:\n\tName: %s\n\tSnitch: %s\n\tPartitioner: %s\n"
        "\tSchema versions:\n",
        bs_json_string(bs_json_get(doc, "name"), "?"),
        bs_json_string(bs_json_get(doc, "snitch"), "?"),
        bs_json_string(bs_json_get(doc, "partitioner"), "?"));
    for (size_t i = 0; i < sv->n && !rc; i++) {
        const bs_json *hosts = bs_json_get(sv->items[i], "hosts");
        rc = bs_buf_appendf(
            out, "\t\t%s: [",
            bs_json_string(bs_json_get(sv->items[i], "version"), "?"));
        for (size_t j = 0;
             hosts && hosts->type == BS_JSON_ARRAY && j < hosts->n && !rc; j++)
            rc = bs_buf_appendf(out, "%s%s", j ? ", " : "",
                                bs_json_string(hosts->items[j], "?"));
        if (!rc) rc = bs_buf_append_str(out, "]\n\n");
    }
    return rc;
}

int bs_admin_fmt_version(const bs_json *doc, bs_buf *out) {
    const char *rel = bs_json_string(bs_json_get(doc, "release_version"), NULL);
    if (!rel) return BS_EPROTO;
    const char *build = bs_json_string(bs_json_get(doc, "build"), "");
    int rc = bs_buf_appendf(out, "ReleaseVersion: %s\n", rel);
    if (!rc)
        rc = bs_buf_appendf(
            out, "Basalt: %s%s%s%s\n",
            bs_json_string(bs_json_get(doc, "basalt_version"), "?"),
            *build ? " (build " : "", build, *build ? ")" : "");
    return rc;
}

int bs_admin_fmt_hints(const bs_json *doc, bs_buf *out) {
    const bs_json *h = bs_json_get(doc, "hints");
    if (!h || h->type != BS_JSON_ARRAY) return BS_EPROTO;
    int rc = bs_buf_appendf(out, "%-16s %-36s %-6s %s\n", "Address", "Host ID", "State", "Pending hints");
    for (size_t i = 0; !rc && i < h->n; i++) {
        const bs_json *e = h->items[i];
        int64_t pending = 0;
        bs_json_int(bs_json_get(e, "pending"), &pending);
        rc = bs_buf_appendf(out, "%-16s %-36s %-6s %lld\n", bs_json_string(bs_json_get(e, "address"), "?"),
                            bs_json_string(bs_json_get(e, "host_id"), "?"),
                            bs_json_true(bs_json_get(e, "up")) ? "UP" : "DOWN", (long long)pending);
    }
    int64_t w = 0, r = 0, d = 0;
    bs_json_int(bs_json_get(doc, "written"), &w);
    bs_json_int(bs_json_get(doc, "replayed"), &r);
    bs_json_int(bs_json_get(doc, "dropped"), &d);
    if (!rc)
        rc = bs_buf_appendf(out, "\nHints written %lld, replayed %lld, dropped %lld (since start)\n",
                            (long long)w, (long long)r, (long long)d);
    return rc;
}
