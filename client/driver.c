/*
 * driver.c - libbasalt-client public entry points: connect/close,
 * synchronous and asynchronous execution, prepare (with its cache),
 * cluster metadata getters.
 *
 * Synchronous calls are the asynchronous ones plus a waiter (mutex +
 * condition variable) that the I/O thread's callback signals; deadlines
 * are enforced by the I/O thread, so a waiter always wakes up.  Calling a
 * synchronous function from a callback (i.e. on the I/O thread) would
 * deadlock, so it is refused with BS_EINVAL.
 *
 * Prepared-statement cache: a list keyed by (query text, keyspace in use)
 * holding one reference per entry; bs_client_prepare returns another.
 * Two threads preparing the same text at once may both do the round
 * trip; the first to insert wins and the other's handle is dropped.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client/driver_int.h"

/* -------------------------------------------------------------- waiter */

typedef struct waiter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done;
    int code;
    bs_client_result *res;
    bs_client_error err;
} waiter;

static void waiter_init(waiter *w) {
    memset(w, 0, sizeof *w);
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    bs__err_clear(&w->err);
}

static void waiter_destroy(waiter *w) {
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
}

static void waiter_wait(waiter *w) {
    pthread_mutex_lock(&w->mu);
    while (!w->done)
        pthread_cond_wait(&w->cv, &w->mu);
    pthread_mutex_unlock(&w->mu);
}

static void waiter_signal(waiter *w, bs_client_result *res, int code,
                          const bs_client_error *err) {
    pthread_mutex_lock(&w->mu);
    w->res = res;
    w->code = code;
    if (err) w->err = *err;
    w->done = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static void sync_cb(bs_client_result *res, const bs_client_error *err,
                    void *ud) {
    waiter_signal(ud, res, err ? err->code : 0, err);
}

/* ------------------------------------------------------------- connect */

static int resolve_cps(bs_client *c, bs_client_error *err) {
    for (size_t i = 0; i < c->cfg.ncps; i++) {
        const bs__cp *cp = &c->cfg.cps[i];
        int port = cp->port ? cp->port : c->cfg.port;
        struct addrinfo hints, *ai = NULL;
        memset(&hints, 0, sizeof hints);
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        int rc = getaddrinfo(cp->host, NULL, &hints, &ai);
        if (rc) {
            bs__err_set(err, BS_CLIENT_ENOHOST, NULL, "cannot resolve %s: %s",
                        cp->host, gai_strerror(rc));
            continue;
        }
        for (struct addrinfo *a = ai; a; a = a->ai_next) {
            char txt[64];
            const void *src =
                a->ai_family == AF_INET
                    ? (const void *)&((struct sockaddr_in *)a->ai_addr)
                          ->sin_addr
                    : (const void *)&((struct sockaddr_in6 *)a->ai_addr)
                          ->sin6_addr;
            if (a->ai_family != AF_INET && a->ai_family != AF_INET6) continue;
            if (!inet_ntop(a->ai_family, src, txt, sizeof txt)) continue;
            bs__host *h = bs__host_get(c, txt, port);
            if (!h) continue;
            int dup = 0;
            for (size_t j = 0; j < c->ncp_hosts; j++)
                dup |= c->cp_hosts[j] == h;
            if (dup) continue;
            bs__host **n = realloc(c->cp_hosts, (c->ncp_hosts + 1) * sizeof *n);
            if (!n) {
                freeaddrinfo(ai);
                return BS_ENOMEM;
            }
            c->cp_hosts = n;
            c->cp_hosts[c->ncp_hosts++] = h;
        }
        freeaddrinfo(ai);
    }
    if (!c->ncp_hosts) {
        if (!err || !err->code)
            bs__err_set(err, BS_CLIENT_ENOHOST, NULL,
                        "no contact point could be resolved");
        return BS_CLIENT_ENOHOST;
    }
    bs__err_clear(err);
    return 0;
}

static void prep_cache_free(bs_client *c) {
    bs__prep_entry *e = c->prepq;
    while (e) {
        bs__prep_entry *nx = e->next;
        bs_client_prepared_free(e->p);
        free(e);
        e = nx;
    }
    c->prepq = NULL;
}

static void client_free(bs_client *c) {
    bs__cluster_free(c);
    prep_cache_free(c);
    bs__config_clear(&c->cfg);
    bs_tls_ctx_free(c->tls);
    if (c->wake_fd[0] >= 0) close(c->wake_fd[0]);
    if (c->wake_fd[1] >= 0) close(c->wake_fd[1]);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    free(c);
}

int bs_client_connect(const bs_client_config *cfg, bs_client **out,
                      bs_client_error *err) {
    bs__err_clear(err);
    if (!cfg || !out) return BS_EINVAL;
    *out = NULL;
    if (!cfg->ncps) {
        bs__err_set(err, BS_EINVAL, NULL, "no contact points configured");
        return BS_EINVAL;
    }
    bs_client *c = calloc(1, sizeof *c);
    if (!c) return BS_ENOMEM;
    c->wake_fd[0] = c->wake_fd[1] = -1;
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    if (bs__config_copy(cfg, &c->cfg)) {
        client_free(c);
        return BS_ENOMEM;
    }
    if (pipe2(c->wake_fd, O_NONBLOCK | O_CLOEXEC)) {
        bs__err_set(err, BS_EIO, NULL, "pipe: %s", strerror(errno));
        client_free(c);
        return BS_EIO;
    }
    int rc = resolve_cps(c, err);
    if (rc) {
        client_free(c);
        return rc;
    }
    if (c->cfg.ssl) {
        char why[600];
        bs_tls_opts to = {0, c->cfg.ssl_cert, c->cfg.ssl_key, c->cfg.ssl_ca, c->cfg.ssl_verify};
        if ((rc = bs_tls_ctx_new(&to, &c->tls, why, sizeof why))) {
            bs__err_set(err, rc, NULL, "TLS: %s", rc == BS_ECONFIG ? why : bs_strerror(rc));
            client_free(c);
            return rc;
        }
    }
    c->cl = cfg->cl;
    if (cfg->keyspace) {
        bs__strlcpy(c->keyspace, sizeof c->keyspace, cfg->keyspace,
                    strlen(cfg->keyspace));
        c->ks_version = 1;
    }
    c->peers_v2 = -1;
    c->rng =
        (uint64_t)bs__now_ns() ^ (uint64_t)(uintptr_t)c ^ 0x9E3779B97F4A7C15ULL;
    if (!c->rng) c->rng = 1;
    bs__err_clear(&c->connect_err);
    c->control_retry_ns = 1; /* open the control connection at once */
    if (pthread_create(&c->io, NULL, bs__io_main, c)) {
        bs__err_set(err, BS_ENOMEM, NULL, "cannot start the I/O thread");
        client_free(c);
        return BS_ENOMEM;
    }
    c->io_started = 1;
    /* wait for discovery: bounded, the I/O thread enforces finer limits */
    int64_t wait_ms =
        (int64_t)c->cfg.connect_timeout_ms * (int64_t)(c->ncp_hosts + 1) +
        3LL * c->cfg.request_timeout_ms;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += (time_t)(wait_ms / 1000);
    ts.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&c->mu);
    while (c->ready == 0) {
        if (pthread_cond_timedwait(&c->cv, &c->mu, &ts) == ETIMEDOUT) break;
    }
    int ready = c->ready;
    bs_client_error cerr = c->connect_err;
    pthread_mutex_unlock(&c->mu);
    if (ready <= 0) {
        if (ready == 0) {
            bs__err_set(&cerr, BS_CLIENT_ECONNTIMEOUT, NULL,
                        "cluster discovery did not finish in time");
            ready = BS_CLIENT_ECONNTIMEOUT;
        }
        if (err) *err = cerr;
        if (err && !err->code) err->code = ready;
        bs_client_close(c);
        return ready;
    }
    *out = c;
    return 0;
}

void bs_client_close(bs_client *c) {
    if (!c) return;
    if (bs__is_io_thread(c)) return; /* documented: never from a callback */
    pthread_mutex_lock(&c->mu);
    c->closing = 1;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    if (c->io_started) {
        bs__wake(c);
        pthread_join(c->io, NULL);
    }
    client_free(c);
}

int bs_client_set_consistency(bs_client *c, uint16_t cl) {
    if (!c || !bs_proto_consistency_name(cl)) return BS_EINVAL;
    pthread_mutex_lock(&c->mu);
    c->cl = cl;
    pthread_mutex_unlock(&c->mu);
    return 0;
}

uint16_t bs_client_consistency(const bs_client *c) {
    bs_client *m = (bs_client *)c;
    pthread_mutex_lock(&m->mu);
    uint16_t cl = m->cl;
    pthread_mutex_unlock(&m->mu);
    return cl;
}

char *bs_client_keyspace(bs_client *c, char *buf, size_t buflen) {
    if (!buflen) return buf;
    pthread_mutex_lock(&c->mu);
    bs__strlcpy(buf, buflen, c->keyspace, strlen(c->keyspace));
    pthread_mutex_unlock(&c->mu);
    return buf;
}

/* ------------------------------------------------------------ execution */

int bs_client_execute_async(bs_client *c, const bs_client_stmt *s,
                            bs_client_callback cb, void *ud) {
    if (!c || !s || !cb) return BS_EINVAL;
    if (s->kind == BS__STMT_BATCH && !s->nchildren) return BS_EINVAL;
    bs__req *r = bs__req_new(BS__REQ_USER);
    if (!r) return BS_ENOMEM;
    int rc = bs__stmt_clone(s, &r->stmt);
    if (rc) {
        bs__req_free(r);
        return rc;
    }
    r->ucb = cb;
    r->ud = ud;
    return bs__submit(c, r);
}

int bs_client_set_ticker(bs_client *c, uint32_t period_us, int (*fn)(void *ud), void *ud) {
    if (!c || (fn && (period_us < 10 || period_us > 1000000))) return BS_EINVAL;
    pthread_mutex_lock(&c->mu);
    if (c->closing) {
        pthread_mutex_unlock(&c->mu);
        return BS_CLIENT_ECLOSED;
    }
    c->ticker_fn = fn;
    c->ticker_ud = ud;
    c->ticker_period_ns = (int64_t)period_us * 1000;
    c->ticker_gen++;
    pthread_mutex_unlock(&c->mu);
    if (!bs__is_io_thread(c)) bs__wake(c);
    return 0;
}

int bs_client_execute(bs_client *c, const bs_client_stmt *s,
                      bs_client_result **out, bs_client_error *err) {
    bs__err_clear(err);
    if (!c || !s || !out) return BS_EINVAL;
    *out = NULL;
    if (bs__is_io_thread(c)) {
        bs__err_set(err, BS_EINVAL, NULL,
                    "bs_client_execute called from a callback");
        return BS_EINVAL;
    }
    waiter w;
    waiter_init(&w);
    int rc = bs_client_execute_async(c, s, sync_cb, &w);
    if (rc) {
        waiter_destroy(&w);
        bs__err_set(err, rc, NULL, "%s", bs_client_strerror(rc));
        return rc;
    }
    waiter_wait(&w);
    waiter_destroy(&w);
    if (err) *err = w.err;
    *out = w.res;
    return w.code;
}

int bs_client_query(bs_client *c, const char *cql, bs_client_result **out,
                    bs_client_error *err) {
    bs__err_clear(err);
    bs_client_stmt *s;
    int rc = bs_client_stmt_new(cql, 0, &s);
    if (rc) {
        bs__err_set(err, rc, NULL, "%s", bs_client_strerror(rc));
        return rc;
    }
    rc = bs_client_execute(c, s, out, err);
    bs_client_stmt_free(s);
    return rc;
}

int bs_client_next_page(bs_client *c, const bs_client_stmt *s,
                        const bs_client_result *prev, bs_client_result **out,
                        bs_client_error *err) {
    bs__err_clear(err);
    if (!c || !s || !prev || !out) return BS_EINVAL;
    *out = NULL;
    const uint8_t *ps;
    size_t len;
    if (!bs_client_result_has_more_pages(prev)) return BS_ENOTFOUND;
    bs_client_result_paging_state(prev, &ps, &len);
    bs_client_stmt *copy;
    int rc = bs__stmt_clone(s, &copy);
    if (!rc) rc = bs_client_stmt_set_paging_state(copy, ps, len);
    if (rc) {
        bs_client_stmt_free(copy);
        bs__err_set(err, rc, NULL, "%s", bs_client_strerror(rc));
        return rc;
    }
    rc = bs_client_execute(c, copy, out, err);
    bs_client_stmt_free(copy);
    return rc;
}

/* -------------------------------------------------------------- prepare */

static void on_prepare_done(bs_client *c, bs__req *r,
                            const bs_proto_response *resp,
                            bs_client_result *res, int code,
                            bs_client_error *err) {
    (void)c;
    (void)resp;
    waiter_signal(r->iud, res, code, err);
}

static bs_client_prepared *cache_find(bs_client *c, const char *cql,
                                      const char *ks) {
    for (bs__prep_entry *e = c->prepq; e; e = e->next)
        if (!strcmp(e->p->query, cql) && !strcmp(e->p->cache_ks, ks))
            return e->p;
    return NULL;
}

int bs_client_prepare(bs_client *c, const char *cql, bs_client_prepared **out,
                      bs_client_error *err) {
    bs__err_clear(err);
    if (!c || !cql || !out) return BS_EINVAL;
    *out = NULL;
    if (bs__is_io_thread(c)) {
        bs__err_set(err, BS_EINVAL, NULL,
                    "bs_client_prepare called from a callback");
        return BS_EINVAL;
    }
    char ks[256];
    pthread_mutex_lock(&c->mu);
    bs__strlcpy(ks, sizeof ks, c->keyspace, strlen(c->keyspace));
    bs_client_prepared *hit = cache_find(c, cql, ks);
    if (hit) {
        *out = bs__prepared_retain(hit);
        pthread_mutex_unlock(&c->mu);
        return 0;
    }
    pthread_mutex_unlock(&c->mu);

    bs__req *r = bs__req_new(BS__REQ_PREPARE);
    if (!r || !(r->text = strdup(cql))) {
        bs__req_free(r);
        return BS_ENOMEM;
    }
    waiter w;
    waiter_init(&w);
    r->icb = on_prepare_done;
    r->iud = &w;
    int rc = bs__submit(c, r);
    if (rc) {
        waiter_destroy(&w);
        bs__err_set(err, rc, NULL, "%s", bs_client_strerror(rc));
        return rc;
    }
    waiter_wait(&w);
    waiter_destroy(&w);
    if (w.code) {
        if (err) *err = w.err;
        bs_client_result_free(w.res);
        return w.code;
    }
    const bs_proto_response *resp = bs__result_resp(w.res);
    if (resp->u.result.kind != BS_PROTO_RESULT_PREPARED) {
        bs_client_result_free(w.res);
        bs__err_set(err, BS_CLIENT_EPROTO, NULL,
                    "PREPARE answered with result kind %d",
                    (int)resp->u.result.kind);
        return BS_CLIENT_EPROTO;
    }
    bs_client_prepared *p;
    rc = bs__prepared_from_result(cql, ks, &resp->u.result.u.prepared, &p);
    bs_client_result_free(w.res);
    if (rc) {
        bs__err_set(err, rc, NULL, "%s", bs_client_strerror(rc));
        return rc;
    }
    bs__prep_entry *e = calloc(1, sizeof *e);
    pthread_mutex_lock(&c->mu);
    hit = cache_find(c, cql, ks);
    if (hit) {
        bs_client_prepared_free(p);
        p = bs__prepared_retain(hit);
        free(e);
    } else if (e) {
        e->p = bs__prepared_retain(p);
        e->next = c->prepq;
        c->prepq = e;
    }
    pthread_mutex_unlock(&c->mu);
    *out = p;
    return 0;
}

/* ------------------------------------------------------------- metadata */

size_t bs_client_host_count(bs_client *c) {
    pthread_mutex_lock(&c->mu);
    size_t n = c->nhosts;
    pthread_mutex_unlock(&c->mu);
    return n;
}

int bs_client_host_get(bs_client *c, size_t i, bs_client_host *out) {
    int rc = BS_ERANGE;
    pthread_mutex_lock(&c->mu);
    if (i < c->nhosts) {
        const bs__host *h = c->hosts[i];
        memset(out, 0, sizeof *out);
        bs__strlcpy(out->address, sizeof out->address, h->addr,
                    strlen(h->addr));
        out->port = h->port;
        bs__strlcpy(out->dc, sizeof out->dc, h->dc, strlen(h->dc));
        bs__strlcpy(out->rack, sizeof out->rack, h->rack, strlen(h->rack));
        bs__strlcpy(out->host_id, sizeof out->host_id, h->host_id,
                    strlen(h->host_id));
        bs__strlcpy(out->release_version, sizeof out->release_version,
                    h->release, strlen(h->release));
        out->up = h->up;
        out->is_control = h == c->control_host;
        out->ntokens = h->ntokens;
        rc = 0;
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}

static int tok_cmp(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

int bs_client_host_tokens(bs_client *c, size_t i, int64_t *tokens, size_t cap,
                          size_t *n) {
    int rc = BS_ERANGE;
    pthread_mutex_lock(&c->mu);
    if (i < c->nhosts) {
        const bs__host *h = c->hosts[i];
        *n = h->ntokens;
        size_t k = h->ntokens < cap ? h->ntokens : cap;
        if (k) memcpy(tokens, h->tokens, k * sizeof *tokens);
        rc = h->ntokens <= cap ? 0 : BS_ERANGE;
        if (!rc && k) qsort(tokens, k, sizeof *tokens, tok_cmp);
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}

int bs_client_refresh_topology(bs_client *c, bs_client_error *err) {
    bs__err_clear(err);
    if (!c) return BS_EINVAL;
    if (bs__is_io_thread(c)) return BS_EINVAL;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += c->cfg.request_timeout_ms / 1000 + 1;
    pthread_mutex_lock(&c->mu);
    uint64_t gen = ++c->refresh_gen;
    pthread_mutex_unlock(&c->mu);
    bs__wake(c);
    pthread_mutex_lock(&c->mu);
    int rc = 0;
    while (c->refresh_done_gen < gen && !c->closing) {
        if (pthread_cond_timedwait(&c->cv, &c->mu, &ts) == ETIMEDOUT) {
            rc = BS_CLIENT_ETIMEOUT;
            bs__err_set(err, rc, NULL, "topology refresh timed out");
            break;
        }
    }
    if (!rc && c->closing && c->refresh_done_gen < gen) rc = BS_CLIENT_ECLOSED;
    if (!rc && c->refresh_rc) {
        rc = c->refresh_rc;
        if (err) *err = c->refresh_err;
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}

uint64_t bs_client_topology_version(bs_client *c) {
    pthread_mutex_lock(&c->mu);
    uint64_t v = c->topo_version;
    pthread_mutex_unlock(&c->mu);
    return v;
}

int bs_client_replicas(bs_client *c, const char *keyspace, int64_t token,
                       char (*out)[64], size_t cap, size_t *n) {
    bs__host *reps[64];
    size_t nr = 0;
    *n = 0;
    pthread_mutex_lock(&c->mu);
    int rc = bs__replicas_locked(c, keyspace, token, reps, 64, &nr);
    if (!rc) {
        for (int pass = 0; pass < 2; pass++)
            for (size_t i = 0; i < nr; i++) {
                int loc = !c->local_dc[0] || !strcmp(reps[i]->dc, c->local_dc);
                if (loc != (pass == 0)) continue;
                if (*n < cap)
                    bs__strlcpy(out[*n], 64, reps[i]->key,
                                strlen(reps[i]->key));
                (*n)++;
            }
        if (*n > cap) *n = cap;
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}
