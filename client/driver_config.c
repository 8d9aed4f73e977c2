/*
 * driver_config.c - libbasalt-client configuration objects and error
 * reporting helpers.
 *
 * A bs_client_config is a plain bag of settings with defaults; the client
 * takes a deep copy at connect time so the caller may free or reuse it.
 * Contact points are parsed here ("host", "host:port", "[v6]:port",
 * comma-separated) but resolved only when connecting.
 *
 * Errors: bs_client_error is a fixed-size struct (no allocation, so it can
 * be filled on the I/O thread and copied to a waiting user thread).
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/driver_int.h"

/* ---------------------------------------------------------------- errors */

const char *bs_client_strerror(int code) {
    switch (code) {
    case BS_CLIENT_ESERVER: return "server error";
    case BS_CLIENT_ENOHOST: return "no host available";
    case BS_CLIENT_ETIMEOUT: return "request timed out (client side)";
    case BS_CLIENT_ECONNREFUSED: return "connection refused";
    case BS_CLIENT_ECONNLOST: return "connection lost";
    case BS_CLIENT_ECLOSED: return "client closed";
    case BS_CLIENT_ECONNTIMEOUT: return "connect timed out";
    case BS_CLIENT_EPROTO: return "malformed response from server";
    default: return bs_strerror(code);
    }
}

const char *bs_client_error_class(int32_t code) {
    switch (code) {
    case BS_PROTO_ERR_SERVER: return "ServerError";
    case BS_PROTO_ERR_PROTOCOL: return "ProtocolError";
    case BS_PROTO_ERR_BAD_CREDENTIALS: return "AuthenticationFailed";
    case BS_PROTO_ERR_UNAVAILABLE: return "Unavailable";
    case BS_PROTO_ERR_OVERLOADED: return "OverloadedErrorMessage";
    case BS_PROTO_ERR_IS_BOOTSTRAPPING: return "IsBootstrappingErrorMessage";
    case BS_PROTO_ERR_TRUNCATE: return "TruncateError";
    case BS_PROTO_ERR_WRITE_TIMEOUT: return "WriteTimeout";
    case BS_PROTO_ERR_READ_TIMEOUT: return "ReadTimeout";
    case BS_PROTO_ERR_READ_FAILURE: return "ReadFailure";
    case BS_PROTO_ERR_FUNCTION_FAILURE: return "FunctionFailure";
    case BS_PROTO_ERR_WRITE_FAILURE: return "WriteFailure";
    case BS_PROTO_ERR_SYNTAX: return "SyntaxException";
    case BS_PROTO_ERR_UNAUTHORIZED: return "Unauthorized";
    case BS_PROTO_ERR_INVALID: return "InvalidRequest";
    case BS_PROTO_ERR_CONFIG: return "ConfigurationException";
    case BS_PROTO_ERR_ALREADY_EXISTS: return "AlreadyExists";
    case BS_PROTO_ERR_UNPREPARED: return "Unprepared";
    default: return "ServerError";
    }
}

void bs__strlcpy(char *dst, size_t cap, const char *src, size_t len) {
    if (!cap) return;
    if (!src) len = 0;
    if (len >= cap) len = cap - 1;
    if (len) memcpy(dst, src, len);
    dst[len] = '\0';
}

void bs__err_clear(bs_client_error *err) {
    if (!err) return;
    memset(err, 0, sizeof *err);
    err->server_code = -1;
}

void bs__err_set(bs_client_error *err, int code, const char *host,
                 const char *fmt, ...) {
    if (!err) return;
    int attempts = err->attempts;
    bs__err_clear(err);
    err->attempts = attempts;
    err->code = code;
    if (host) bs__strlcpy(err->host, sizeof err->host, host, strlen(host));
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
}

void bs__err_from_proto(bs_client_error *err, const bs_proto_error *e,
                        const char *host) {
    if (!err) return;
    int attempts = err->attempts;
    bs__err_clear(err);
    err->attempts = attempts;
    err->code = BS_CLIENT_ESERVER;
    err->server_code = e->code;
    if (host) bs__strlcpy(err->host, sizeof err->host, host, strlen(host));
    bs__strlcpy(err->message, sizeof err->message, e->message.p,
                e->message.len);
    err->cl = e->cl;
    err->required = e->required;
    err->alive = e->alive;
    err->received = e->received;
    err->blockfor = e->blockfor;
    err->numfailures = e->numfailures;
    err->data_present = e->data_present;
    bs__strlcpy(err->write_type, sizeof err->write_type, e->write_type.p,
                e->write_type.len);
    bs__strlcpy(err->keyspace, sizeof err->keyspace, e->keyspace.p,
                e->keyspace.len);
    bs__strlcpy(err->table, sizeof err->table, e->name.p, e->name.len);
}

/* ---------------------------------------------------------------- config */

int bs_client_config_new(bs_client_config **out) {
    bs_client_config *c = calloc(1, sizeof *c);
    if (!c) return BS_ENOMEM;
    c->port = 9042;
    c->cl = BS_CL_LOCAL_ONE;
    c->serial_cl = BS_CL_SERIAL;
    c->request_timeout_ms = 12000;
    c->connect_timeout_ms = 5000;
    c->pool_size = 2;
    c->page_size = 5000;
    c->max_retries = 3;
    c->retry_base_ms = 10;
    c->retry_max_ms = 1000;
    c->token_aware = 1;
    *out = c;
    return 0;
}

void bs__config_clear(bs_client_config *c) {
    for (size_t i = 0; i < c->ncps; i++)
        free(c->cps[i].host);
    free(c->cps);
    free(c->local_dc);
    free(c->keyspace);
    free(c->user);
    if (c->password) {
        memset(c->password, 0, strlen(c->password));
        free(c->password);
    }
    free(c->ssl_ca);
    free(c->ssl_cert);
    free(c->ssl_key);
    memset(c, 0, sizeof *c);
}

void bs_client_config_free(bs_client_config *cfg) {
    if (!cfg) return;
    bs__config_clear(cfg);
    free(cfg);
}

static char *dupn(const char *s, size_t n) {
    char *d = malloc(n + 1);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

int bs__config_copy(const bs_client_config *src, bs_client_config *dst) {
    *dst = *src;
    dst->cps = NULL;
    dst->ncps = 0;
    dst->local_dc = dst->keyspace = dst->user = dst->password = NULL;
    dst->ssl_ca = dst->ssl_cert = dst->ssl_key = NULL;
    if (src->ssl_ca && !(dst->ssl_ca = strdup(src->ssl_ca))) goto oom;
    if (src->ssl_cert && !(dst->ssl_cert = strdup(src->ssl_cert))) goto oom;
    if (src->ssl_key && !(dst->ssl_key = strdup(src->ssl_key))) goto oom;
    if (src->ncps) {
        dst->cps = calloc(src->ncps, sizeof *dst->cps);
        if (!dst->cps) goto oom;
        for (size_t i = 0; i < src->ncps; i++) {
            dst->cps[i].port = src->cps[i].port;
            dst->cps[i].host = strdup(src->cps[i].host);
            dst->ncps++;
            if (!dst->cps[i].host) goto oom;
        }
    }
    if (src->local_dc && !(dst->local_dc = strdup(src->local_dc))) goto oom;
    if (src->keyspace && !(dst->keyspace = strdup(src->keyspace))) goto oom;
    if (src->user && !(dst->user = strdup(src->user))) goto oom;
    if (src->password && !(dst->password = strdup(src->password))) goto oom;
    return 0;
oom:
    bs__config_clear(dst);
    return BS_ENOMEM;
}

static int parse_port(const char *s, size_t n, int *port) {
    if (n == 0 || n > 5) return BS_EINVAL;
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i])) return BS_EINVAL;
        v = v * 10 + (s[i] - '0');
    }
    if (v < 1 || v > 65535) return BS_EINVAL;
    *port = v;
    return 0;
}

/* One "host", "host:port", "[v6]", "[v6]:port" or bare v6 address. */
static int parse_cp(const char *s, size_t n, bs__cp *out) {
    while (n && isspace((unsigned char)*s))
        s++, n--;
    while (n && isspace((unsigned char)s[n - 1]))
        n--;
    if (!n) return BS_EINVAL;
    const char *h = s;
    size_t hl = n;
    int port = 0;
    if (s[0] == '[') {
        const char *rb = memchr(s, ']', n);
        if (!rb) return BS_EINVAL;
        h = s + 1;
        hl = (size_t)(rb - h);
        size_t rest = n - (size_t)(rb + 1 - s);
        if (rest) {
            if (rb[1] != ':' || parse_port(rb + 2, rest - 1, &port))
                return BS_EINVAL;
        }
    } else {
        const char *colon = memchr(s, ':', n);
        if (colon && !memchr(colon + 1, ':', n - (size_t)(colon + 1 - s))) {
            hl = (size_t)(colon - s);
            if (parse_port(colon + 1, n - hl - 1, &port)) return BS_EINVAL;
        } /* several ':' - a bare IPv6 address */
    }
    if (!hl) return BS_EINVAL;
    out->host = dupn(h, hl);
    if (!out->host) return BS_ENOMEM;
    out->port = port;
    return 0;
}

int bs_client_config_add_contact_points(bs_client_config *cfg,
                                        const char *points) {
    if (!cfg || !points) return BS_EINVAL;
    const char *p = points;
    size_t old = cfg->ncps;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        bs__cp cp;
        int rc = parse_cp(p, n, &cp);
        if (rc) goto fail_rc;
        bs__cp *ncps = realloc(cfg->cps, (cfg->ncps + 1) * sizeof *ncps);
        if (!ncps) {
            free(cp.host);
            rc = BS_ENOMEM;
            goto fail_rc;
        }
        cfg->cps = ncps;
        cfg->cps[cfg->ncps++] = cp;
        if (!comma) break;
        p = comma + 1;
        continue;
    fail_rc:
        while (cfg->ncps > old)
            free(cfg->cps[--cfg->ncps].host);
        return rc;
    }
    return 0;
}

int bs_client_config_set_port(bs_client_config *cfg, int port) {
    if (!cfg || port < 1 || port > 65535) return BS_EINVAL;
    cfg->port = port;
    return 0;
}

static int set_str(char **dst, const char *s) {
    char *d = NULL;
    if (s && *s && !(d = strdup(s))) return BS_ENOMEM;
    free(*dst);
    *dst = d;
    return 0;
}

int bs_client_config_set_local_dc(bs_client_config *cfg, const char *dc) {
    if (!cfg) return BS_EINVAL;
    return set_str(&cfg->local_dc, dc);
}

int bs_client_config_set_keyspace(bs_client_config *cfg, const char *ks) {
    if (!cfg) return BS_EINVAL;
    if (ks && strlen(ks) >= 250) return BS_EINVAL;
    return set_str(&cfg->keyspace, ks);
}

int bs_client_config_set_credentials(bs_client_config *cfg, const char *user,
                                     const char *password) {
    if (!cfg || (user && (!user[0] || strlen(user) > 256)) ||
        (password && strlen(password) > 1024) || (!user != !password))
        return BS_EINVAL;
    int rc = set_str(&cfg->user, user);
    if (!rc && cfg->password) {
        memset(cfg->password, 0, strlen(cfg->password));
    }
    if (!rc) rc = set_str(&cfg->password, password);
    return rc;
}

int bs_client_config_set_consistency(bs_client_config *cfg, uint16_t cl) {
    if (!cfg || !bs_proto_consistency_name(cl)) return BS_EINVAL;
    cfg->cl = cl;
    return 0;
}

int bs_client_config_set_serial_consistency(bs_client_config *cfg,
                                            uint16_t cl) {
    if (!cfg || (cl != BS_CL_SERIAL && cl != BS_CL_LOCAL_SERIAL))
        return BS_EINVAL;
    cfg->serial_cl = cl;
    return 0;
}

int bs_client_config_set_request_timeout(bs_client_config *cfg, int ms) {
    if (!cfg || ms <= 0) return BS_EINVAL;
    cfg->request_timeout_ms = ms;
    return 0;
}

int bs_client_config_set_connect_timeout(bs_client_config *cfg, int ms) {
    if (!cfg || ms <= 0) return BS_EINVAL;
    cfg->connect_timeout_ms = ms;
    return 0;
}

int bs_client_config_set_compression(bs_client_config *cfg, int lz4) {
    if (!cfg) return BS_EINVAL;
    cfg->lz4 = lz4 ? 1 : 0;
    return 0;
}

int bs_client_config_set_pool_size(bs_client_config *cfg, int n) {
    if (!cfg || n < 1 || n > 64) return BS_EINVAL;
    cfg->pool_size = n;
    return 0;
}

int bs_client_config_set_page_size(bs_client_config *cfg, int32_t n) {
    if (!cfg) return BS_EINVAL;
    cfg->page_size = n > 0 ? n : -1;
    return 0;
}

int bs_client_config_set_retry(bs_client_config *cfg, int max_retries,
                               int base_ms, int max_ms) {
    if (!cfg || max_retries < 0 || max_retries > 100 || base_ms < 0 ||
        max_ms < base_ms)
        return BS_EINVAL;
    cfg->max_retries = max_retries;
    cfg->retry_base_ms = base_ms;
    cfg->retry_max_ms = max_ms;
    return 0;
}

int bs_client_config_set_token_aware(bs_client_config *cfg, int on) {
    if (!cfg) return BS_EINVAL;
    cfg->token_aware = on ? 1 : 0;
    return 0;
}

int bs_client_config_set_contact_points_only(bs_client_config *cfg, int on) {
    if (!cfg) return BS_EINVAL;
    cfg->contact_only = on ? 1 : 0;
    return 0;
}

int bs_client_config_set_ssl(bs_client_config *cfg, int on, const char *cafile,
                             const char *certfile, const char *keyfile, int verify) {
    if (!cfg) return BS_EINVAL;
    if (set_str(&cfg->ssl_ca, cafile) || set_str(&cfg->ssl_cert, certfile) ||
        set_str(&cfg->ssl_key, keyfile))
        return BS_ENOMEM;
    cfg->ssl = on ? 1 : 0;
    cfg->ssl_verify = verify ? 1 : 0;
    return 0;
}

int bs_client_config_ssl_from_env(bs_client_config *cfg) {
    if (!cfg) return BS_EINVAL;
    const char *on = getenv("BASALT_SSL"), *ca = getenv("BASALT_SSL_CA"),
               *cert = getenv("BASALT_SSL_CERT"), *key = getenv("BASALT_SSL_KEY"),
               *nv = getenv("BASALT_SSL_NO_VERIFY");
    int want = (on && on[0] && strcmp(on, "0") != 0) || (ca && ca[0]) || (cert && cert[0]);
    if (!want) return 0;
    return bs_client_config_set_ssl(cfg, 1, ca, cert, key,
                                    !(nv && nv[0] && strcmp(nv, "0") != 0));
}
