/*
 * repair_admin.c - POST /repair, GET /checksum and the stream throttle
 * (see repair_admin.h):
 * query parameters parsed and checked here, the work done by
 * the repair service (repair/session.h) on the admin thread pool.
 */
#include "node/admin/repair_admin.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"

int bs_repair_parse_range(const char *s, int64_t *start, int64_t *end) {
    const char *colon = s ? strchr(s + (*s == '-'), ':') : NULL;
    if (!colon) return BS_EINVAL;
    char *e1, *e2;
    errno = 0;
    long long a = strtoll(s, &e1, 10);
    if (e1 != colon || e1 == s || errno) return BS_EINVAL;
    long long b = strtoll(colon + 1, &e2, 10);
    if (*e2 || e2 == colon + 1 || errno) return BS_EINVAL;
    *start = a;
    *end = b;
    return 0;
}

static const char *param(const bs_admin_request *req, const char *name) {
    const char *v = NULL;
    if (bs_admin_query_param(req, name, &v) || !v || !*v) return NULL;
    return v;
}

static int h_repair(void *ud, const bs_admin_request *req,
                    bs_admin_response *resp) {
    bs_repair *r = ud;
    bs_repair_run_opts o;
    memset(&o, 0, sizeof o);
    o.keyspace = param(req, "keyspace");
    o.table = param(req, "table");
    const char *full = param(req, "full");
    o.full = full && strcmp(full, "0") && strcmp(full, "false");
    const char *pr = param(req, "pr");
    o.primary_only = pr && strcmp(pr, "0") && strcmp(pr, "false");
    const char *range = param(req, "range");
    if (o.table && !o.keyspace)
        return bs_admin_error(resp, 400, "table needs a keyspace");
    if (range) {
        if (bs_repair_parse_range(range, &o.range_start, &o.range_end))
            return bs_admin_error(
                resp, 400, "bad range '%s' (want start:end tokens)", range);
        o.has_range = 1;
    }
    /* dc=a,b (the datacenters taking part), local=1, dc_parallel=1 */
    const char *dcs[16];
    const char *dcl = param(req, "dc"), *loc = param(req, "local"),
               *par = param(req, "dc_parallel");
    o.local_dc_only = loc && strcmp(loc, "0") && strcmp(loc, "false");
    o.dc_parallel = par && strcmp(par, "0") && strcmp(par, "false");
    if (dcl && o.local_dc_only)
        return bs_admin_error(resp, 400, "dc and local exclude each other");
    if (dcl) {
        char *copy = bs_arena_strndup(req->arena, dcl, strlen(dcl)), *save = NULL;
        if (!copy) return BS_ENOMEM;
        for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
            if (o.ndcs == sizeof dcs / sizeof dcs[0])
                return bs_admin_error(resp, 400, "too many datacenters");
            dcs[o.ndcs++] = t;
        }
        o.dcs = dcs;
    }
    bs_repair_report rep;
    int rc = bs_repair_run(r, &o, &rep);
    if ((rc == BS_ENOTFOUND || rc == BS_EINVAL) && rep.first_error[0])
        return bs_admin_error(resp, rc == BS_EINVAL ? 400 : 404, "%s",
                              rep.first_error);
    if (rc == BS_ENOTFOUND)
        return bs_admin_error(resp, 404, "unknown keyspace or table");
    if (rc == BS_EBUSY)
        return bs_admin_error(resp, 409, "a repair session is already running");
    if (rc)
        return bs_admin_error(resp, 503, "repair failed: %s", bs_strerror(rc));
    return bs_repair_report_json(&rep, &resp->body);
}

static int h_checksum(void *ud, const bs_admin_request *req,
                      bs_admin_response *resp) {
    bs_repair *r = ud;
    const char *ks = param(req, "keyspace"), *t = param(req, "table");
    if (t && !ks) return bs_admin_error(resp, 400, "table needs a keyspace");
    int rc = bs_repair_checksum(r, ks, t, &resp->body);
    if (rc == BS_ENOTFOUND) {
        bs_buf_reset(&resp->body);
        return bs_admin_error(resp, 404, "unknown keyspace or table");
    }
    if (rc) {
        bs_buf_reset(&resp->body);
        return bs_admin_error(resp, 503, "checksum failed: %s",
                              bs_strerror(rc));
    }
    return 0;
}

static int h_history(void *ud, const bs_admin_request *req,
                     bs_admin_response *resp) {
    const char *l = param(req, "limit");
    long limit = 20;
    if (l) {
        char *end;
        limit = strtol(l, &end, 10);
        if (*end || limit < 1 || limit > 10000)
            return bs_admin_error(resp, 400, "bad limit '%s'", l);
    }
    int rc = bs_repair_history(ud, (uint32_t)limit, &resp->body);
    if (rc) {
        bs_buf_reset(&resp->body);
        return bs_admin_error(resp, 500, "repair history: %s", bs_strerror(rc));
    }
    return 0;
}

/* Highest stream rate accepted: stream_throughput_outbound's maximum. */
#define STREAM_RATE_MAX (64ull << 30)

static int stream_rate_answer(bs_repair *r, bs_admin_response *resp) {
    bs_admin_json w;
    bs_admin_json_init(&w, &resp->body);
    bs_admin_json_obj(&w);
    bs_admin_json_key(&w, "stream_throughput_bytes");
    bs_admin_json_int(&w, (int64_t)bs_repair_stream_throughput(r));
    bs_admin_json_end(&w);
    return bs_admin_json_finish(&w);
}

static int h_rate_get(void *ud, const bs_admin_request *req,
                      bs_admin_response *resp) {
    (void)req;
    return stream_rate_answer(ud, resp);
}

static int h_rate_set(void *ud, const bs_admin_request *req,
                      bs_admin_response *resp) {
    const char *v = param(req, "bytes");
    if (!v)
        return bs_admin_error(resp, 400, "missing ?bytes=N (bytes per second; "
                                         "0 = unthrottled)");
    char *end = NULL;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 10);
    if (errno || *end || *v < '0' || *v > '9' || n > STREAM_RATE_MAX)
        return bs_admin_error(resp, 400, "the stream throughput must be a number "
                                         "of bytes per second from 0 to %llu, not '%s'",
                              STREAM_RATE_MAX, v);
    bs_repair_set_stream_throughput(ud, n);
    return stream_rate_answer(ud, resp);
}

int bs_repair_admin_install(bs_admin *a, bs_repair *r) {
    int rc = bs_admin_route(a, "GET", "/streamthroughput", h_rate_get, r);
    if (!rc) rc = bs_admin_route(a, "POST", "/streamthroughput", h_rate_set, r);
    if (!rc) rc = bs_admin_route_blocking(a, "POST", "/repair", h_repair, r);
    if (!rc)
        rc = bs_admin_route_blocking(a, "GET", "/repair/history", h_history, r);
    return rc ? rc
              : bs_admin_route_blocking(a, "GET", "/checksum", h_checksum, r);
}
