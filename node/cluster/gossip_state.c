/*
 * gossip_state.c - the pure parts of gossip (see gossip.h): endpoint
 * state copies and deltas, the merge rule, SYN examination, the SYN/ACK
 * codecs and the phi accrual failure detector.  No I/O, no clocks read
 * here (time is a parameter), so every rule is unit-tested directly.
 *
 * Invariants: an endpoint state's versions all come from one counter of
 * its owner, so for one generation "version v is known" implies every
 * earlier change is known; that is what makes a digest (generation, max
 * version) enough to compute the delta either side lacks.
 *
 * Decoding never trusts the bytes: bs_mpcheck() first, then every array
 * length, integer range, string length (<= BS_GOSSIP_MAX_VALUE, no NUL)
 * and address (must parse as an IP) is checked; any failure is
 * BS_ECORRUPT and nothing is half-returned.
 */
#include <math.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/mpcheck.h"
#include "node/cluster/gossip.h"

static const char *const app_names[BS_GS_NSTATES] = {
    "STATUS", "TOKENS",      "DC",          "RACK", "HOST_ID",
    "SCHEMA", "RPC_ADDRESS", "NATIVE_PORT", "LOAD", "RELEASE_VERSION",
    "REPLACING"};

const char *bs_gossip_app_name(int app) {
    return app >= 0 && app < BS_GS_NSTATES ? app_names[app] : "?";
}

/* ---- endpoint state ---------------------------------------------------- */

void bs_gossip_ep_init(bs_gossip_ep *e, const bs_msg_peer *ep) {
    memset(e, 0, sizeof *e);
    if (ep) e->ep = *ep;
}

void bs_gossip_ep_clear(bs_gossip_ep *e) {
    for (int i = 0; i < BS_GS_NSTATES; i++) {
        free(e->app[i].value);
        e->app[i].value = NULL;
        e->app[i].version = 0;
    }
    e->generation = 0;
    e->hb_version = 0;
}

int bs_gossip_ep_copy(bs_gossip_ep *dst, const bs_gossip_ep *src) {
    return bs_gossip_ep_delta(src, -1, dst);
}

int bs_gossip_ep_set(bs_gossip_ep *e, int app, const char *value,
                     int32_t version) {
    if (app < 0 || app >= BS_GS_NSTATES || !value) return BS_EINVAL;
    char *v = strdup(value);
    if (!v) return BS_ENOMEM;
    free(e->app[app].value);
    e->app[app].value = v;
    e->app[app].version = version;
    return 0;
}

int32_t bs_gossip_ep_max_version(const bs_gossip_ep *e) {
    int32_t m = e->hb_version;
    for (int i = 0; i < BS_GS_NSTATES; i++)
        if (e->app[i].value && e->app[i].version > m) m = e->app[i].version;
    return m;
}

int bs_gossip_ep_delta(const bs_gossip_ep *src, int32_t above,
                       bs_gossip_ep *dst) {
    bs_gossip_ep_init(dst, &src->ep);
    dst->generation = src->generation;
    dst->hb_version = src->hb_version;
    for (int i = 0; i < BS_GS_NSTATES; i++) {
        if (!src->app[i].value || src->app[i].version <= above) continue;
        if (bs_gossip_ep_set(dst, i, src->app[i].value, src->app[i].version)) {
            bs_gossip_ep_clear(dst);
            return BS_ENOMEM;
        }
    }
    return 0;
}

void bs_gossip_free_eps(bs_gossip_ep *eps, size_t n) {
    for (size_t i = 0; i < n; i++)
        bs_gossip_ep_clear(&eps[i]);
    free(eps);
}

/* ---- merge rule --------------------------------------------------------- */

int bs_gossip_ep_merge(bs_gossip_ep *local, const bs_gossip_ep *remote,
                       int64_t now_s, int *what, uint32_t *changed) {
    *what = 0;
    *changed = 0;
    if (remote->generation <= 0 ||
        (int64_t)remote->generation > now_s + BS_GOSSIP_MAX_GEN_AHEAD ||
        remote->generation < local->generation) {
        *what = BS_GOSSIP_M_IGNORED;
        return 0;
    }
    if (local->generation == 0 || remote->generation > local->generation) {
        int was_known = local->generation != 0;
        bs_gossip_ep fresh;
        if (bs_gossip_ep_copy(&fresh, remote)) return BS_ENOMEM;
        for (int i = 0; i < BS_GS_NSTATES; i++) {
            const char *a = local->app[i].value, *b = fresh.app[i].value;
            if ((a == NULL) != (b == NULL) || (a && strcmp(a, b) != 0))
                *changed |= 1u << i;
        }
        fresh.ep = local->ep;
        if (!was_known) fresh.ep = remote->ep;
        bs_gossip_ep_clear(local);
        *local = fresh;
        *what = (was_known ? BS_GOSSIP_M_RESTART : BS_GOSSIP_M_NEW) |
                BS_GOSSIP_M_HEARTBEAT;
        if (*changed) *what |= BS_GOSSIP_M_STATES;
        return 0;
    }
    /* same generation */
    if (remote->hb_version > local->hb_version) {
        local->hb_version = remote->hb_version;
        *what |= BS_GOSSIP_M_HEARTBEAT;
    }
    for (int i = 0; i < BS_GS_NSTATES; i++) {
        const bs_gossip_vv *r = &remote->app[i];
        bs_gossip_vv *l = &local->app[i];
        if (!r->value || (l->value && r->version <= l->version)) continue;
        int differs = !l->value || strcmp(l->value, r->value) != 0;
        if (bs_gossip_ep_set(local, i, r->value, r->version)) return BS_ENOMEM;
        if (differs) *changed |= 1u << i;
        /* a newer version with the same value still counts as progress */
        *what |= BS_GOSSIP_M_HEARTBEAT;
    }
    if (*changed) *what |= BS_GOSSIP_M_STATES;
    return 0;
}

/* ---- SYN examination -------------------------------------------------- */

int bs_gossip_examine(bs_gossip_ep *const *local, size_t n,
                      const bs_gossip_digest *d, size_t nd,
                      bs_gossip_digest **reqs, size_t *nreqs,
                      bs_gossip_ep **deltas, size_t *ndeltas) {
    *reqs = NULL;
    *deltas = NULL;
    *nreqs = *ndeltas = 0;
    bs_gossip_digest *rq = calloc(nd ? nd : 1, sizeof *rq);
    bs_gossip_ep *dl = calloc(nd + n ? nd + n : 1, sizeof *dl);
    char *mentioned = calloc(n ? n : 1, 1);
    size_t nrq = 0, ndl = 0;
    if (!rq || !dl || !mentioned) goto nomem;
    for (size_t i = 0; i < nd; i++) {
        const bs_gossip_ep *l = NULL;
        for (size_t j = 0; j < n; j++) {
            if (bs_msg_peer_equal(&local[j]->ep, &d[i].ep)) {
                l = local[j];
                mentioned[j] = 1;
                break;
            }
        }
        if (!l || l->generation == 0 || d[i].generation > l->generation) {
            rq[nrq].ep = d[i].ep;
            rq[nrq].generation = d[i].generation;
            rq[nrq].max_version = 0; /* everything above version 0 */
            nrq++;
            continue;
        }
        int32_t lmax = bs_gossip_ep_max_version(l);
        int32_t above;
        if (d[i].generation < l->generation) {
            above = -1;
        } else if (d[i].max_version > lmax) {
            rq[nrq].ep = d[i].ep;
            rq[nrq].generation = d[i].generation;
            rq[nrq].max_version = lmax;
            nrq++;
            continue;
        } else if (d[i].max_version < lmax) {
            above = d[i].max_version;
        } else {
            continue;
        }
        if (bs_gossip_ep_delta(l, above, &dl[ndl])) goto nomem;
        ndl++;
    }
    for (size_t j = 0; j < n; j++) {
        if (mentioned[j] || local[j]->generation == 0) continue;
        if (bs_gossip_ep_delta(local[j], -1, &dl[ndl])) goto nomem;
        ndl++;
    }
    free(mentioned);
    *reqs = rq;
    *nreqs = nrq;
    *deltas = dl;
    *ndeltas = ndl;
    return 0;
nomem:
    free(mentioned);
    free(rq);
    bs_gossip_free_eps(dl, ndl);
    return BS_ENOMEM;
}

/* ---- codecs ------------------------------------------------------------- */

static void pk_str(msgpack_packer *p, const char *s) {
    size_t n = strlen(s);
    msgpack_pack_str(p, n);
    msgpack_pack_str_body(p, s, n);
}

static void pk_digests(msgpack_packer *p, const bs_gossip_digest *d, size_t n) {
    msgpack_pack_array(p, n);
    for (size_t i = 0; i < n; i++) {
        msgpack_pack_array(p, 4);
        pk_str(p, d[i].ep.addr);
        msgpack_pack_uint16(p, d[i].ep.port);
        msgpack_pack_int32(p, d[i].generation);
        msgpack_pack_int32(p, d[i].max_version);
    }
}

int bs_gossip_syn_encode(const char *cluster, const bs_gossip_digest *d,
                         size_t n, bs_buf *out) {
    size_t before = out->len;
    msgpack_packer p;
    msgpack_packer_init(&p, out, bs_buf_pack_write);
    msgpack_pack_map(&p, 2);
    pk_str(&p, "c");
    pk_str(&p, cluster);
    pk_str(&p, "d");
    pk_digests(&p, d, n);
    return out->len > before ? 0 : BS_ENOMEM;
}

int bs_gossip_ack_encode(const bs_gossip_ep *eps, size_t ne,
                         const bs_gossip_digest *reqs, size_t nr, bs_buf *out) {
    size_t before = out->len;
    msgpack_packer p;
    msgpack_packer_init(&p, out, bs_buf_pack_write);
    msgpack_pack_map(&p, 2);
    pk_str(&p, "e");
    msgpack_pack_array(&p, ne);
    for (size_t i = 0; i < ne; i++) {
        const bs_gossip_ep *e = &eps[i];
        size_t na = 0;
        for (int a = 0; a < BS_GS_NSTATES; a++)
            na += e->app[a].value != NULL;
        msgpack_pack_array(&p, 5);
        pk_str(&p, e->ep.addr);
        msgpack_pack_uint16(&p, e->ep.port);
        msgpack_pack_int32(&p, e->generation);
        msgpack_pack_int32(&p, e->hb_version);
        msgpack_pack_array(&p, na);
        for (int a = 0; a < BS_GS_NSTATES; a++) {
            if (!e->app[a].value) continue;
            msgpack_pack_array(&p, 3);
            msgpack_pack_int(&p, a);
            msgpack_pack_int32(&p, e->app[a].version);
            pk_str(&p, e->app[a].value);
        }
    }
    pk_str(&p, "r");
    pk_digests(&p, reqs, nr);
    return out->len > before ? 0 : BS_ENOMEM;
}

static int key_is(const msgpack_object *k, const char *s) {
    size_t n = strlen(s);
    return k->type == MSGPACK_OBJECT_STR && k->via.str.size == n &&
           memcmp(k->via.str.ptr, s, n) == 0;
}

static int get_i32(const msgpack_object *o, int32_t lo, int64_t hi,
                   int32_t *out) {
    int64_t v;
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
        if (o->via.u64 > (uint64_t)hi) return BS_ECORRUPT;
        v = (int64_t)o->via.u64;
    } else if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        v = o->via.i64;
    } else {
        return BS_ECORRUPT;
    }
    if (v < lo || v > hi) return BS_ECORRUPT;
    *out = (int32_t)v;
    return 0;
}

static int get_str(const msgpack_object *o, size_t max, char *dst, size_t cap) {
    if (o->type != MSGPACK_OBJECT_STR || o->via.str.size > max ||
        o->via.str.size >= cap)
        return BS_ECORRUPT;
    if (o->via.str.size && memchr(o->via.str.ptr, 0, o->via.str.size))
        return BS_ECORRUPT;
    if (o->via.str.size) memcpy(dst, o->via.str.ptr, o->via.str.size);
    dst[o->via.str.size] = 0;
    return 0;
}

static int get_peer(const msgpack_object *a, const msgpack_object *port,
                    bs_msg_peer *out) {
    char addr[BS_MSG_ADDRLEN];
    int32_t pt;
    if (get_str(a, sizeof addr - 1, addr, sizeof addr) ||
        get_i32(port, 1, 65535, &pt))
        return BS_ECORRUPT;
    return bs_msg_peer_set(out, addr, (uint16_t)pt) ? BS_ECORRUPT : 0;
}

static int get_digests(const msgpack_object *o, bs_gossip_digest **out,
                       size_t *n) {
    *out = NULL;
    *n = 0;
    if (o->type != MSGPACK_OBJECT_ARRAY) return BS_ECORRUPT;
    uint32_t cnt = o->via.array.size;
    bs_gossip_digest *d = calloc(cnt ? cnt : 1, sizeof *d);
    if (!d) return BS_ENOMEM;
    for (uint32_t i = 0; i < cnt; i++) {
        const msgpack_object *e = &o->via.array.ptr[i];
        if (e->type != MSGPACK_OBJECT_ARRAY || e->via.array.size != 4 ||
            get_peer(&e->via.array.ptr[0], &e->via.array.ptr[1], &d[i].ep) ||
            get_i32(&e->via.array.ptr[2], 0, INT32_MAX, &d[i].generation) ||
            get_i32(&e->via.array.ptr[3], 0, INT32_MAX, &d[i].max_version)) {
            free(d);
            return BS_ECORRUPT;
        }
    }
    *out = d;
    *n = cnt;
    return 0;
}

static int unpack(const uint8_t *p, size_t len, msgpack_unpacked *u) {
    if (bs_mpcheck(p, len, 8) != 0) return BS_ECORRUPT;
    size_t off = 0;
    if (msgpack_unpack_next(u, (const char *)p, len, &off) !=
            MSGPACK_UNPACK_SUCCESS ||
        off != len || u->data.type != MSGPACK_OBJECT_MAP)
        return BS_ECORRUPT;
    return 0;
}

int bs_gossip_syn_decode(const uint8_t *p, size_t len, char *cluster,
                         size_t cap, bs_gossip_digest **d, size_t *n) {
    *d = NULL;
    *n = 0;
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    int rc = unpack(p, len, &u);
    int have_c = 0, have_d = 0;
    for (uint32_t i = 0; !rc && i < u.data.via.map.size; i++) {
        const msgpack_object *k = &u.data.via.map.ptr[i].key,
                             *v = &u.data.via.map.ptr[i].val;
        if (key_is(k, "c") && !have_c) {
            rc = get_str(v, cap - 1, cluster, cap);
            have_c = 1;
        } else if (key_is(k, "d") && !have_d) {
            rc = get_digests(v, d, n);
            have_d = 1;
        }
    }
    if (!rc && !(have_c && have_d)) rc = BS_ECORRUPT;
    if (rc) {
        free(*d);
        *d = NULL;
        *n = 0;
    }
    msgpack_unpacked_destroy(&u);
    return rc;
}

static int get_state(const msgpack_object *o, bs_gossip_ep *e) {
    bs_gossip_ep_init(e, NULL);
    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != 5)
        return BS_ECORRUPT;
    const msgpack_object *a = o->via.array.ptr;
    if (get_peer(&a[0], &a[1], &e->ep) ||
        get_i32(&a[2], 1, INT32_MAX, &e->generation) ||
        get_i32(&a[3], 0, INT32_MAX, &e->hb_version) ||
        a[4].type != MSGPACK_OBJECT_ARRAY)
        return BS_ECORRUPT;
    for (uint32_t i = 0; i < a[4].via.array.size; i++) {
        const msgpack_object *s = &a[4].via.array.ptr[i];
        int32_t app, ver;
        if (s->type != MSGPACK_OBJECT_ARRAY || s->via.array.size != 3 ||
            get_i32(&s->via.array.ptr[0], 0, INT32_MAX, &app) ||
            get_i32(&s->via.array.ptr[1], 0, INT32_MAX, &ver))
            goto bad;
        const msgpack_object *v = &s->via.array.ptr[2];
        if (v->type != MSGPACK_OBJECT_STR ||
            v->via.str.size > BS_GOSSIP_MAX_VALUE ||
            (v->via.str.size && memchr(v->via.str.ptr, 0, v->via.str.size)))
            goto bad;
        if (app >= BS_GS_NSTATES) continue; /* a newer peer's state */
        if (e->app[app].value) goto bad;    /* duplicate */
        char *val = malloc(v->via.str.size + 1);
        if (!val) {
            bs_gossip_ep_clear(e);
            return BS_ENOMEM;
        }
        if (v->via.str.size) memcpy(val, v->via.str.ptr, v->via.str.size);
        val[v->via.str.size] = 0;
        e->app[app].value = val;
        e->app[app].version = ver;
    }
    return 0;
bad:
    bs_gossip_ep_clear(e);
    return BS_ECORRUPT;
}

int bs_gossip_ack_decode(const uint8_t *p, size_t len, bs_gossip_ep **eps,
                         size_t *ne, bs_gossip_digest **reqs, size_t *nr) {
    *eps = NULL;
    *reqs = NULL;
    *ne = *nr = 0;
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    int rc = unpack(p, len, &u);
    int have_e = 0, have_r = 0;
    bs_gossip_ep *e = NULL;
    size_t n = 0;
    for (uint32_t i = 0; !rc && i < u.data.via.map.size; i++) {
        const msgpack_object *k = &u.data.via.map.ptr[i].key,
                             *v = &u.data.via.map.ptr[i].val;
        if (key_is(k, "e") && !have_e) {
            have_e = 1;
            if (v->type != MSGPACK_OBJECT_ARRAY) {
                rc = BS_ECORRUPT;
                break;
            }
            e = calloc(v->via.array.size ? v->via.array.size : 1, sizeof *e);
            if (!e) {
                rc = BS_ENOMEM;
                break;
            }
            for (uint32_t j = 0; j < v->via.array.size && !rc; j++) {
                rc = get_state(&v->via.array.ptr[j], &e[n]);
                if (!rc) n++;
            }
        } else if (key_is(k, "r") && !have_r) {
            have_r = 1;
            rc = get_digests(v, reqs, nr);
        }
    }
    if (!rc && !(have_e && have_r)) rc = BS_ECORRUPT;
    if (rc) {
        bs_gossip_free_eps(e, n);
        free(*reqs);
        *reqs = NULL;
        *nr = 0;
    } else {
        *eps = e;
        *ne = n;
    }
    msgpack_unpacked_destroy(&u);
    return rc;
}

/* ---- phi accrual failure detector ------------------------------------ */

void bs_fd_init(bs_fd_window *w) {
    memset(w, 0, sizeof *w);
}

static void fd_add(bs_fd_window *w, double v) {
    if (w->n == BS_FD_WINDOW) {
        w->sum -= w->iv[w->head];
    } else {
        w->n++;
    }
    w->iv[w->head] = v;
    w->sum += v;
    w->head = (w->head + 1) % BS_FD_WINDOW;
}

void bs_fd_report(bs_fd_window *w, int64_t now_ns, int64_t initial_ns,
                  int64_t max_ns) {
    if (w->last_ns == 0) {
        fd_add(w, (double)initial_ns);
    } else {
        int64_t iv = now_ns - w->last_ns;
        if (iv > 0 && iv <= max_ns) fd_add(w, (double)iv);
    }
    w->last_ns = now_ns;
}

double bs_fd_mean(const bs_fd_window *w) {
    return w->n ? w->sum / w->n : 0.0;
}

double bs_fd_phi(const bs_fd_window *w, int64_t now_ns) {
    double mean = bs_fd_mean(w);
    if (w->last_ns == 0 || mean <= 0) return 0.0;
    double t = (double)(now_ns - w->last_ns);
    if (t < 0) t = 0;
    return (t / mean) * (1.0 / log(10.0));
}
