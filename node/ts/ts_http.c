/*
 * ts_http.c - the routes of the InfluxDB-compatible endpoint.
 *
 *   GET|HEAD /ping     204 No Content + X-Influxdb-Version (the server adds
 *                      it to every response); ?verbose=true: 200 with
 *                      {"version": ...} as InfluxDB 1.x answers
 *   GET|HEAD /health   200 {"name":"influxdb","message":"ready for queries
 *                      and writes","status":"pass",...} (InfluxDB 1.8's)
 *   POST /write        line protocol, InfluxDB 1.x (ts_write.c)
 *   POST /api/v2/write line protocol, InfluxDB 2.x parameters (ts_write.c)
 *   GET|POST /query    InfluxQL (ts_query.c)
 *   anything else      404 "404 page not found" (text/plain, as InfluxDB's
 *                      Go router says it)
 *
 * Method mismatches on a known path answer 405 with an Allow header.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "node/ts/ts_int.h"

#define DAY_NS (86400LL * 1000000000LL)

void bs_ts_opts_from_config(bs_ts_opts *o, const bs_config *cfg) {
    memset(o, 0, sizeof *o);
    o->bucket_ns = (int64_t)cfg->ts_bucket_ms * 1000000;
    o->replication_factor = cfg->ts_replication_factor;
    o->dc = cfg->dc;
}

int bs_ts_new(const bs_ts_opts *o, const bs_exec_backend *be, bs_ts **out) {
    bs_ts *ts = calloc(1, sizeof *ts);
    if (!ts) return BS_ENOMEM;
    if (be) {
        ts->be = *be;
        ts->have_be = 1;
    }
    ts->bucket_ns = o && o->bucket_ns > 0 ? o->bucket_ns : DAY_NS;
    ts->rf = o && o->replication_factor > 0 ? o->replication_factor : 1;
    snprintf(ts->dc, sizeof ts->dc, "%s", o && o->dc ? o->dc : "dc1");
    pthread_mutex_init(&ts->schema_mu, NULL);
    *out = ts;
    return 0;
}

void bs_ts_free(bs_ts *ts) {
    if (!ts) return;
    pthread_mutex_destroy(&ts->schema_mu);
    free(ts);
}

static int is_get(const bs_http_request *r) {
    return !strcmp(r->method, "GET") || !strcmp(r->method, "HEAD");
}

static void not_allowed(bs_http_response *resp, const char *allow) {
    bs_http_error(resp, 405, "method not allowed");
    snprintf(resp->headers, sizeof resp->headers, "Allow: %s\r\n", allow);
}

static void h_ping(const bs_http_request *req, bs_http_response *resp) {
    if (!is_get(req) && strcmp(req->method, "POST")) {
        not_allowed(resp, "GET, HEAD, POST");
        return;
    }
    const char *v = NULL;
    if (bs_http_form_get(req->query, strlen(req->query), "verbose", req->arena, &v) == 0 &&
        (!strcmp(v, "true") || !strcmp(v, "1"))) {
        resp->status = 200;
        resp->content_type = "application/json";
        bs_buf_appendf(&resp->body, "{\"version\":\"%s\"}\n", BS_HTTP_VERSION);
        return;
    }
    resp->status = 204;
}

static void h_health(const bs_http_request *req, bs_http_response *resp) {
    if (!is_get(req)) {
        not_allowed(resp, "GET, HEAD");
        return;
    }
    resp->status = 200;
    resp->content_type = "application/json";
    bs_buf_appendf(&resp->body,
                   "{\"checks\":[],\"message\":\"ready for queries and writes\","
                   "\"name\":\"influxdb\",\"status\":\"pass\",\"version\":\"%s\"}\n",
                   BS_HTTP_VERSION);
}

void bs_ts_set_auth(bs_ts *ts, bs_exec *x) {
    ts->authx = x && bs_exec_auth_required(x) ? x : NULL;
}

int bs__ts_authorize(bs_ts *ts, const char *user, uint8_t perm, const char *db,
                     bs_http_response *resp) {
    if (!user || !ts->authx) return 0;
    char err[600];
    int rc = bs_exec_permitted(ts->authx, user, perm, db, err, sizeof err);
    if (rc == 1) return 0;
    bs_http_error(resp, rc == 0 ? 403 : 500, "%s", err);
    return -1;
}

/* PasswordAuthenticator: the request's role, or NULL with a 401 (or 500)
 * answer set.  Without it: "" (nobody to check). */
static const char *login(bs_ts *ts, const bs_http_request *req, bs_http_response *resp) {
    if (!ts->authx) return "";
    const char *u = NULL, *p = NULL;
    int rc = bs_http_credentials(req, &u, &p);
    if (rc == BS_ENOMEM) {
        bs_http_error(resp, 500, "out of memory");
        return NULL;
    }
    char err[600];
    int ok = rc ? 0 : bs_exec_login(ts->authx, u, p, strlen(p), err, sizeof err);
    if (ok == 1) return u;
    if (ok < 0) {
        bs_http_error(resp, 500, "%s", err);
        return NULL;
    }
    bs_http_error(resp, 401, "authorization failed");
    snprintf(resp->headers, sizeof resp->headers, "WWW-Authenticate: Basic realm=\"basalt\"\r\n");
    return NULL;
}

static void not_found(bs_http_response *resp) {
    resp->status = 404;
    resp->content_type = "text/plain; charset=utf-8";
    bs_buf_append_str(&resp->body, "404 page not found\n");
}

static void handle(void *ud, const bs_http_request *req, bs_http_response *resp) {
    bs_ts *ts = ud;
    if (!strcmp(req->path, "/ping")) {
        h_ping(req, resp);
        return;
    }
    if (!strcmp(req->path, "/health")) {
        h_health(req, resp);
        return;
    }
    const char *user = login(ts, req, resp); /* every other path needs one */
    if (!user) return;
    if (!*user) user = NULL;
    if (ts->have_be && !strcmp(req->path, "/write"))
        bs__ts_write(ts, req, resp, 0, user);
    else if (ts->have_be && !strcmp(req->path, "/api/v2/write"))
        bs__ts_write(ts, req, resp, 1, user);
    else if (ts->have_be && !strcmp(req->path, "/query"))
        bs__ts_query(ts, req, resp, user);
    else
        not_found(resp);
}

void bs_ts_http_handler(bs_ts *ts, bs_http_handler *h) {
    h->ud = ts;
    h->handle = handle;
}
