/*
 * trace_admin.c - GET/POST /traceprobability (see trace_admin.h).  The
 * value is parsed strictly: a decimal number in [0, 1], nothing after it.
 */
#include "node/admin/trace_admin.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "common/error.h"

static int answer(bs_exec *x, bs_admin_response *resp) {
    bs_admin_json w;
    bs_admin_json_init(&w, &resp->body);
    bs_admin_json_obj(&w);
    bs_admin_json_key(&w, "probability");
    bs_admin_json_double(&w, bs_exec_trace_probability(x));
    bs_admin_json_end(&w);
    return bs_admin_json_finish(&w);
}

static int h_get(void *ud, const bs_admin_request *req, bs_admin_response *resp) {
    (void)req;
    return answer(ud, resp);
}

static int h_set(void *ud, const bs_admin_request *req, bs_admin_response *resp) {
    const char *v = NULL;
    if (bs_admin_query_param(req, "value", &v) || !v || !*v)
        return bs_admin_error(resp, 400, "missing ?value=P (a probability between 0 and 1)");
    char *end = NULL;
    errno = 0;
    double p = strtod(v, &end);
    if (errno || *end || !isfinite(p) || p < 0 || p > 1)
        return bs_admin_error(resp, 400, "the trace probability must be between 0 and 1, not '%s'", v);
    bs_exec_set_trace_probability(ud, p);
    return answer(ud, resp);
}

int bs_trace_admin_install(bs_admin *a, bs_exec *x) {
    int rc = bs_admin_route(a, "GET", "/traceprobability", h_get, x);
    if (!rc) rc = bs_admin_route(a, "POST", "/traceprobability", h_set, x);
    return rc;
}
