/*
 * ts_query.c - GET|POST /query: InfluxQL statements, InfluxDB 1.x JSON.
 *
 * This first slice knows the database statements; the InfluxQL parser
 * and SELECT come next (docs/TIMESERIES.md lists what is built):
 *
 *   CREATE DATABASE <name> [WITH [DURATION d] [REPLICATION n] ...]
 *   DROP DATABASE <name>
 *   SHOW DATABASES
 *
 * Request: `q` from the URL or an application/x-www-form-urlencoded body,
 * statements separated by ';'.  Answer: {"results":[{"statement_id":i,
 * ...}]} with 200; a statement that fails carries "error" in its result
 * (the others still run, as in InfluxDB); a missing q is 400.  A
 * statement Basalt does not support yet gets a result error saying so.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "node/ts/ts_int.h"

/* ------------------------------------------------------------------ */
/* A tiny tokenizer (identifiers, quoted identifiers, numbers)          */
/* ------------------------------------------------------------------ */

typedef struct tok {
    const char *p;
    size_t n;
    int quoted;
} tok;

/* Splits one statement into at most `cap` words; returns the count. */
static size_t words(const char *s, size_t n, tok *w, size_t cap, bs_arena *a) {
    size_t k = 0, i = 0;
    while (i < n && k < cap) {
        while (i < n && isspace((unsigned char)s[i])) i++;
        if (i >= n) break;
        if (s[i] == '"') {
            size_t j = ++i;
            char *o = bs_arena_alloc(a, n - i + 1);
            size_t on = 0;
            while (j < n && s[j] != '"') {
                if (s[j] == '\\' && j + 1 < n) j++;
                if (o) o[on++] = s[j];
                j++;
            }
            w[k].p = o ? o : "";
            w[k].n = o ? on : 0;
            w[k++].quoted = 1;
            i = j < n ? j + 1 : n;
            continue;
        }
        size_t j = i;
        while (j < n && !isspace((unsigned char)s[j])) j++;
        w[k].p = s + i;
        w[k].n = j - i;
        w[k++].quoted = 0;
        i = j;
    }
    return k;
}

static int kw(const tok *t, const char *k) {
    return !t->quoted && t->n == strlen(k) && !strncasecmp(t->p, k, t->n);
}

/* ------------------------------------------------------------------ */
/* Statements                                                           */
/* ------------------------------------------------------------------ */

static void result_error(bs_buf *o, const char *msg) {
    bs_buf_append_str(o, ",\"error\":");
    bs_http_json_str(o, msg, strlen(msg));
}

static void show_databases(bs_ts *ts, bs_buf *o) {
    bs_schema *s = ts->be.schema_get(ts->be.ud);
    bs_buf_append_str(o, ",\"series\":[{\"name\":\"databases\",\"columns\":[\"name\"]");
    int first = 1;
    for (size_t i = 0; i < bs_schema_nkeyspaces(s); i++) {
        const bs_keyspace_schema *ks = bs_schema_keyspace_at(s, i);
        if (!bs_schema_table(s, ks->name, BS_TS_INDEX_TABLE)) continue;
        bs_buf_append_str(o, first ? ",\"values\":[[" : ",[");
        bs_http_json_str(o, ks->name, strlen(ks->name));
        bs_buf_append_str(o, "]");
        first = 0;
    }
    if (!first) bs_buf_append_str(o, "]");
    bs_buf_append_str(o, "}]");
    bs_schema_release(s);
}

/* Runs one statement, appending its result's members after statement_id. */
static void run(bs_ts *ts, const char *st, size_t n, bs_arena *a, bs_buf *o) {
    tok w[16];
    size_t k = words(st, n, w, 16, a);
    char msg[600];
    if (k >= 3 && kw(&w[0], "create") && kw(&w[1], "database")) {
        char *db = bs_arena_strndup(a, w[2].p, w[2].n);
        int rf = 0;
        for (size_t i = 3; i + 1 < k; i++)
            if (kw(&w[i], "replication")) rf = atoi(bs_arena_strndup(a, w[i + 1].p, w[i + 1].n));
        if (db && bs__ts_create_database(ts, db, rf, msg, sizeof msg)) result_error(o, msg);
        return;
    }
    if (k == 3 && kw(&w[0], "drop") && kw(&w[1], "database")) {
        char *db = bs_arena_strndup(a, w[2].p, w[2].n);
        if (db && bs__ts_drop_database(ts, db, msg, sizeof msg)) result_error(o, msg);
        return;
    }
    if (k == 2 && kw(&w[0], "show") && kw(&w[1], "databases")) {
        show_databases(ts, o);
        return;
    }
    snprintf(msg, sizeof msg, "statement not supported by Basalt yet: %.*s",
             (int)(n > 200 ? 200 : n), st);
    result_error(o, msg);
}

void bs__ts_query(bs_ts *ts, const bs_http_request *req, bs_http_response *resp) {
    if (strcmp(req->method, "GET") && strcmp(req->method, "POST")) {
        bs_http_error(resp, 405, "method not allowed");
        snprintf(resp->headers, sizeof resp->headers, "Allow: GET, POST\r\n");
        return;
    }
    const char *q = NULL;
    if (bs_http_form_get(req->query, strlen(req->query), "q", req->arena, &q)) {
        const char *ct = bs_http_header_get(req, "content-type");
        if (!(ct && !strncasecmp(ct, "application/x-www-form-urlencoded", 33) &&
              !bs_http_form_get((const char *)req->body, req->body_len, "q", req->arena, &q)))
            q = NULL;
    }
    if (!q) {
        bs_http_error(resp, 400, "missing required parameter \"q\"");
        return;
    }
    bs_buf *o = &resp->body;
    bs_buf_append_str(o, "{\"results\":[");
    size_t len = strlen(q), i = 0;
    int id = 0;
    while (i < len) {
        size_t j = i;
        int quote = 0;
        while (j < len && (quote || q[j] != ';')) {
            if (q[j] == '\'' || q[j] == '"') quote = quote == q[j] ? 0 : (quote ? quote : q[j]);
            j++;
        }
        size_t s = i;
        while (s < j && isspace((unsigned char)q[s])) s++;
        if (s < j) {
            bs_buf_appendf(o, "%s{\"statement_id\":%d", id ? "," : "", id);
            run(ts, q + s, j - s, req->arena, o);
            bs_buf_append_str(o, "}");
            id++;
        }
        i = j + 1;
    }
    bs_buf_append_str(o, "]}\n");
    resp->status = 200;
    resp->content_type = "application/json";
}
