/*
 * exec_auth.c - PasswordAuthenticator, CassandraAuthorizer and the role
 * statements (CREATE/ALTER/DROP ROLE and USER, LIST ROLES/USERS, GRANT,
 * REVOKE, LIST PERMISSIONS), Cassandra 4.x style.
 *
 * Data lives in the replicated keyspace system_auth (created by
 * bs_exec_auth_schema; its replication is the operator's, ALTER
 * KEYSPACE system_auth raises it):
 *
 *   roles            (role text PRIMARY KEY, can_login boolean,
 *                     is_superuser boolean, member_of set<text>,
 *                     salted_hash text)
 *   role_permissions (role text, resource text, permissions set<text>,
 *                     PRIMARY KEY (role, resource))
 *
 * Resources are named as Cassandra names them: "data" (all keyspaces),
 * "data/ks", "data/ks/table"; permissions are the words CREATE, ALTER,
 * DROP, SELECT, MODIFY, AUTHORIZE.
 *
 * Every read and write of those tables is an internal CQL request
 * (iquery) run by this executor under a session flagged `internal`,
 * which no permission check stops, so they take the normal coordinator
 * paths (replication, hints, read repair).  Reads at ONE, writes at
 * QUORUM.
 *
 * Two caches, each an unordered list under one mutex, entries valid for
 * credentials_validity_ms / permissions_validity_ms (Cassandra's 2 s by
 * default): role -> (exists, can_login, is_superuser, salted_hash) and
 * role -> its permission rows.  A change made through this node drops
 * the role's entries at once; other nodes see it when theirs expire.
 * The caches hold at most CACHE_MAX entries (a full cache is emptied).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include <openssl/crypto.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "common/error.h"
#include "common/log.h"
#include "query/auth.h"
#include "query/exec_int.h"

#define LOGA "auth"
#define CACHE_MAX 4096
#define MAX_RES 512 /* permission rows of one role kept in the cache */

typedef struct rentry { /* roles cache */
    struct rentry *next;
    int64_t at_us;
    int exists, login, super;
    char hash[BS_AUTH_HASH_LEN];
    char role[BS_AUTH_MAX_USER + 1];
} rentry;

typedef struct pentry { /* permissions cache */
    struct pentry *next;
    int64_t at_us;
    size_t n;
    char **res;     /* malloc'd strings */
    uint8_t *perms; /* BS_CQL_PERM_* per resource */
    char role[BS_AUTH_MAX_USER + 1];
} pentry;

struct bs__x_auth {
    bs_exec_auth_opts o;
    char *init_user, *init_pass; /* the first superuser, until created */
    pthread_mutex_t mu;
    rentry *roles;
    size_t nroles;
    pentry *perms;
    size_t nperms;
    int boot_done;
    /* logins verified lately (see login_memo_hit) */
    uint8_t memo_key[32];
    struct {
        int64_t at_us;
        uint8_t mac[32];
        char hash[BS_AUTH_HASH_LEN];
        char role[BS_AUTH_MAX_USER + 1];
    } memo[64];
};

static const char *const perm_names[] = {"CREATE", "ALTER", "DROP", "SELECT", "MODIFY",
                                         "AUTHORIZE"};
#define NPERMS 6

/* ==================================================================== */
/* setup                                                                  */
/* ==================================================================== */

static void pentry_free(pentry *e) {
    for (size_t i = 0; i < e->n; i++)
        free(e->res[i]);
    free(e->res);
    free(e->perms);
    free(e);
}

static void cache_clear(struct bs__x_auth *au) {
    while (au->roles) {
        rentry *n = au->roles->next;
        free(au->roles);
        au->roles = n;
    }
    while (au->perms) {
        pentry *n = au->perms->next;
        pentry_free(au->perms);
        au->perms = n;
    }
    au->nroles = au->nperms = 0;
}

void bs__x_auth_free(struct bs__x_auth *au) {
    if (!au) return;
    cache_clear(au);
    free(au->init_user);
    if (au->init_pass) {
        memset(au->init_pass, 0, strlen(au->init_pass));
        free(au->init_pass);
    }
    pthread_mutex_destroy(&au->mu);
    free(au);
}

int bs_exec_set_auth(bs_exec *x, const bs_exec_auth_opts *o) {
    struct bs__x_auth *au = calloc(1, sizeof *au);
    if (!au) return BS_ENOMEM;
    au->o = *o;
    au->o.initial_user = au->o.initial_password = NULL;
    if (o->initial_user && o->initial_password) {
        au->init_user = strdup(o->initial_user);
        au->init_pass = strdup(o->initial_password);
        if (!au->init_user || !au->init_pass) {
            free(au->init_user);
            free(au->init_pass);
            free(au);
            return BS_ENOMEM;
        }
    }
    if (RAND_bytes(au->memo_key, sizeof au->memo_key) != 1) {
        free(au->init_user);
        free(au->init_pass);
        free(au);
        return BS_EIO;
    }
    pthread_mutex_init(&au->mu, NULL);
    bs__x_auth_free(x->auth);
    x->auth = au;
    return 0;
}

int bs_exec_auth_required(const bs_exec *x) {
    return x->auth && x->auth->o.authenticate;
}

/* ==================================================================== */
/* internal queries                                                       */
/* ==================================================================== */

/* Runs cql with vals (n of them) as the internal session at cl.  On a
 * Rows result *res is set (memory in a); on an error frame the message
 * goes to err and the Cassandra error code is returned as a negative
 * number... simply: returns 0 or -1 with err set. */
static int iquery(bs_exec *x, bs_arena *a, const char *cql, bs_proto_val *vals, uint16_t n,
                  uint16_t cl, bs_proto_result *res, char *err, size_t errlen) {
    bs_exec_session s;
    bs_exec_session_init(&s);
    s.internal = 1;
    bs_proto_request req;
    memset(&req, 0, sizeof req);
    req.opcode = BS_PROTO_OP_QUERY;
    req.version = BS_PROTO_VERSION;
    req.u.query.query = bs_proto_cstr(cql);
    bs_proto_params_init(&req.u.query.params);
    req.u.query.params.consistency = cl;
    req.u.query.params.nvalues = n;
    req.u.query.params.values = vals;
    if (n) req.u.query.params.flags |= BS_PROTO_QF_VALUES;
    bs_buf out = BS_BUF_INIT;
    int rc = bs_exec_request(x, &s, &req, 0, BS_PROTO_COMP_NONE, a, &out);
    bs_exec_session_destroy(&s);
    uint8_t *copy = rc ? NULL : bs_arena_alloc(a, out.len ? out.len : 1);
    if (copy) memcpy(copy, out.data, out.len);
    size_t len = out.len;
    bs_buf_free(&out);
    if (!copy) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    bs_proto_header_opts ho = {0, 1};
    bs_proto_frame f;
    char msg[160];
    if (bs_proto_header_parse(copy, len, &ho, &f.h, msg, sizeof msg)) {
        snprintf(err, errlen, "internal query: %s", msg);
        return -1;
    }
    f.body = copy + BS_PROTO_HEADER_LEN;
    f.body_len = len - BS_PROTO_HEADER_LEN;
    bs_proto_response resp;
    bs_proto_rd rd;
    if (bs_proto_response_decode(&f, a, &resp, &rd)) {
        snprintf(err, errlen, "internal query: %s", rd.msg);
        return -1;
    }
    if (resp.opcode == BS_PROTO_OP_ERROR) {
        snprintf(err, errlen, "%.*s", (int)resp.u.error.message.len, resp.u.error.message.p);
        return -1;
    }
    if (res) *res = resp.u.result;
    return 0;
}

static bs_proto_val tval(const char *s) {
    return bs_proto_bytes(s, strlen(s));
}

static bs_proto_val bval(int b) {
    static const uint8_t t = 1, f = 0;
    return bs_proto_bytes(b ? &t : &f, 1);
}

/* A set<text> value of the permission words in mask. */
static bs_proto_val perm_set(bs_arena *a, uint8_t mask) {
    uint8_t *p = bs_arena_alloc(a, 4 + NPERMS * (4 + 16));
    size_t o = 4;
    uint32_t n = 0;
    if (!p) return bs_proto_bytes("", 0);
    for (int i = 0; i < NPERMS; i++) {
        if (!(mask & (1 << i))) continue;
        size_t l = strlen(perm_names[i]);
        bs_put_u32(p + o, (uint32_t)l);
        memcpy(p + o + 4, perm_names[i], l);
        o += 4 + l;
        n++;
    }
    bs_put_u32(p, n);
    return bs_proto_bytes(p, o);
}

/* Mask of a set<text> cell of permission words (unknown words ignored). */
static uint8_t perm_mask(bs_proto_val v) {
    uint8_t m = 0;
    if (v.len < 4) return 0;
    uint32_t n = bs_get_u32(v.p);
    size_t o = 4;
    for (uint32_t i = 0; i < n && o + 4 <= (size_t)v.len; i++) {
        uint32_t l = bs_get_u32(v.p + o);
        o += 4;
        if (l > (size_t)v.len - o) break;
        for (int k = 0; k < NPERMS; k++)
            if (strlen(perm_names[k]) == l && !memcmp(v.p + o, perm_names[k], l)) m |= 1 << k;
        o += l;
    }
    return m;
}

static int cell_bool(bs_proto_val v) {
    return v.len == 1 && v.p[0];
}

/* ==================================================================== */
/* roles                                                                  */
/* ==================================================================== */

typedef struct role_info {
    int exists, login, super;
    char hash[BS_AUTH_HASH_LEN];
} role_info;

static void drop_cached(struct bs__x_auth *au, const char *role) {
    pthread_mutex_lock(&au->mu);
    for (rentry **pp = &au->roles; *pp;) {
        if (!strcmp((*pp)->role, role)) {
            rentry *e = *pp;
            *pp = e->next;
            free(e);
            au->nroles--;
        } else {
            pp = &(*pp)->next;
        }
    }
    for (pentry **pp = &au->perms; *pp;) {
        if (!strcmp((*pp)->role, role)) {
            pentry *e = *pp;
            *pp = e->next;
            pentry_free(e);
            au->nperms--;
        } else {
            pp = &(*pp)->next;
        }
    }
    pthread_mutex_unlock(&au->mu);
}

/* Reads a role (through the roles cache).  0, or -1 with err set. */
static int role_get(bs_exec *x, const char *role, int64_t now_us, role_info *ri, char *err,
                    size_t errlen) {
    struct bs__x_auth *au = x->auth;
    int64_t valid = (int64_t)au->o.credentials_validity_ms * 1000;
    pthread_mutex_lock(&au->mu);
    for (rentry *e = au->roles; e; e = e->next)
        if (!strcmp(e->role, role) && now_us - e->at_us < valid && now_us >= e->at_us) {
            ri->exists = e->exists, ri->login = e->login, ri->super = e->super;
            memcpy(ri->hash, e->hash, sizeof ri->hash);
            pthread_mutex_unlock(&au->mu);
            return 0;
        }
    pthread_mutex_unlock(&au->mu);
    bs_arena a;
    bs_arena_init(&a, 0);
    bs_proto_val v = tval(role);
    bs_proto_result res;
    static const char q[] = "SELECT can_login, is_superuser, salted_hash FROM system_auth.roles "
                            "WHERE role = ?";
    int rc = iquery(x, &a, q, &v, 1, BS_CL_ONE, &res, err, errlen);
    /* Not found at ONE: ask a quorum before saying so (a replica added by
     * raising the RF, or one that missed the write, may not have it yet;
     * the QUORUM read repairs the replicas it asks). */
    bs_proto_result res2;
    char err2[64];
    if (!rc && res.kind == BS_PROTO_RESULT_ROWS && res.u.rows.nrows == 0 &&
        !iquery(x, &a, q, &v, 1, BS_CL_QUORUM, &res2, err2, sizeof err2))
        res = res2;
    memset(ri, 0, sizeof *ri);
    if (!rc && res.kind == BS_PROTO_RESULT_ROWS) {
        bs_proto_rows_iter it;
        bs_proto_val cells[3];
        bs_proto_rows_iter_init(&it, &res.u.rows);
        if (bs_proto_rows_next(&it, cells) == 1) {
            ri->exists = 1;
            ri->login = cell_bool(cells[0]);
            ri->super = cell_bool(cells[1]);
            if (cells[2].len > 0 && (size_t)cells[2].len < sizeof ri->hash)
                memcpy(ri->hash, cells[2].p, (size_t)cells[2].len);
        }
    }
    bs_arena_free(&a);
    if (rc) return -1;
    rentry *e = valid > 0 ? calloc(1, sizeof *e) : NULL;
    if (e) {
        snprintf(e->role, sizeof e->role, "%s", role);
        e->at_us = now_us;
        e->exists = ri->exists, e->login = ri->login, e->super = ri->super;
        memcpy(e->hash, ri->hash, sizeof e->hash);
        pthread_mutex_lock(&au->mu);
        if (au->nroles + au->nperms >= CACHE_MAX) cache_clear(au);
        e->next = au->roles;
        au->roles = e;
        au->nroles++;
        pthread_mutex_unlock(&au->mu);
    }
    return 0;
}

/* Writes a role row (only the columns given: login/super < 0 and a NULL
 * password are left alone).  0 or -1 with err. */
static int role_put(bs_exec *x, const char *role, const char *password, int login, int super,
                    char *err, size_t errlen) {
    bs_arena a;
    bs_arena_init(&a, 0);
    char cql[200] = "UPDATE system_auth.roles SET ";
    bs_proto_val v[4];
    uint16_t n = 0;
    char hash[BS_AUTH_HASH_LEN];
    const char *sep = "";
    int rc = 0;
    if (password) {
        rc = bs_auth_hash_password(password, strlen(password), x->auth->o.kdf_iterations, hash,
                                   sizeof hash);
        if (rc) {
            snprintf(err, errlen, "cannot hash the password: %s", bs_strerror(rc));
            return -1;
        }
        strcat(cql, "salted_hash = ?");
        v[n++] = tval(hash);
        sep = ", ";
    }
    if (login >= 0) {
        strcat(cql, sep);
        strcat(cql, "can_login = ?");
        v[n++] = bval(login);
        sep = ", ";
    }
    if (super >= 0) {
        strcat(cql, sep);
        strcat(cql, "is_superuser = ?");
        v[n++] = bval(super);
    }
    strcat(cql, " WHERE role = ?");
    v[n++] = tval(role);
    rc = iquery(x, &a, cql, v, n, BS_CL_QUORUM, NULL, err, errlen);
    bs_arena_free(&a);
    drop_cached(x->auth, role);
    return rc;
}

/* Creates the operator's first superuser when it does not exist yet
 * (once per process; retried after a failure). */
static void ensure_initial_superuser(bs_exec *x, int64_t now_us) {
    struct bs__x_auth *au = x->auth;
    pthread_mutex_lock(&au->mu);
    int todo = !au->boot_done && au->init_user;
    pthread_mutex_unlock(&au->mu);
    if (!todo) return;
    role_info ri;
    char err[256];
    if (role_get(x, au->init_user, now_us, &ri, err, sizeof err)) {
        BS_WARN(LOGA, "cannot check the initial superuser '%s': %s", au->init_user, err);
        return;
    }
    if (!ri.exists) {
        if (role_put(x, au->init_user, au->init_pass, 1, 1, err, sizeof err)) {
            BS_WARN(LOGA, "cannot create the initial superuser '%s': %s", au->init_user, err);
            return;
        }
        BS_INFO(LOGA, "created the initial superuser '%s'", au->init_user);
    }
    pthread_mutex_lock(&au->mu);
    au->boot_done = 1;
    pthread_mutex_unlock(&au->mu);
}

/* ==================================================================== */
/* AUTH_RESPONSE                                                          */
/* ==================================================================== */

static int auth_fail(xctx *c, const char *msg) {
    return bs__x_fail(c, BS_PROTO_ERR_BAD_CREDENTIALS, "%s", msg);
}

/* 1: user may log in with password p; 0: not, -1: system_auth could not
 * be read (m: the message for the client either way). */
/* Each HTTP request logs in, and the KDF costs tens of milliseconds: a
 * login verified within credentials_validity is remembered as an
 * HMAC-SHA256 of its password under a random per-process key, next to the
 * stored hash it was checked against.  The same role with the same
 * password and an unchanged stored hash then costs one HMAC; anything
 * else (a wrong password above all) pays the KDF as before.  Slot by the
 * role name's hash; a collision only costs a KDF. */
static int login_memo(bs_exec *x, const char *user, const char *p, size_t pl, const char *hash,
                      int64_t now_us, int store) {
    struct bs__x_auth *au = x->auth;
    int64_t valid = (int64_t)au->o.credentials_validity_ms * 1000;
    if (valid <= 0) return 0;
    uint8_t mac[32];
    unsigned ml = 0;
    if (!HMAC(EVP_sha256(), au->memo_key, (int)sizeof au->memo_key, (const unsigned char *)p, pl,
              mac, &ml) || ml != sizeof mac)
        return 0;
    size_t i = XXH3_64bits(user, strlen(user)) % (sizeof au->memo / sizeof au->memo[0]);
    int hit = 0;
    pthread_mutex_lock(&au->mu);
    if (store) {
        au->memo[i].at_us = now_us;
        memcpy(au->memo[i].mac, mac, sizeof mac);
        snprintf(au->memo[i].hash, sizeof au->memo[i].hash, "%s", hash);
        snprintf(au->memo[i].role, sizeof au->memo[i].role, "%s", user);
    } else {
        hit = au->memo[i].role[0] && !strcmp(au->memo[i].role, user) &&
              !strcmp(au->memo[i].hash, hash) && now_us >= au->memo[i].at_us &&
              now_us - au->memo[i].at_us < valid &&
              CRYPTO_memcmp(au->memo[i].mac, mac, sizeof mac) == 0;
    }
    pthread_mutex_unlock(&au->mu);
    OPENSSL_cleanse(mac, sizeof mac);
    return hit;
}

static int check_login(bs_exec *x, int64_t now_us, const char *user, const char *p, size_t pl,
                       char *m, size_t mcap) {
    char err[300];
    ensure_initial_superuser(x, now_us);
    role_info ri;
    if (role_get(x, user, now_us, &ri, err, sizeof err)) {
        snprintf(m, mcap, "Unable to perform authentication: %s", err);
        return -1;
    }
    /* an unknown role costs the same KDF work as a wrong password, so
     * the answer's timing does not tell which roles exist */
    static const char dummy[] = "pbkdf2-sha256$100000$00000000000000000000000000000000$"
                                "0000000000000000000000000000000000000000000000000000000000000000";
    int ok;
    if (ri.exists && ri.hash[0] && login_memo(x, user, p, pl, ri.hash, now_us, 0)) {
        ok = 1;
    } else {
        ok = bs_auth_verify_password(p, pl, ri.exists ? ri.hash : dummy);
        if (!ri.exists) ok = 0;
        if (ok == 1) login_memo(x, user, p, pl, ri.hash, now_us, 1);
    }
    if (ok != 1) {
        snprintf(m, mcap, "Provided username %s and/or password are incorrect", user);
        BS_INFO(LOGA, "failed login of '%s'%s", user,
                ok < 0 ? " (its stored hash is not valid)" : "");
        return 0;
    }
    if (!ri.login) {
        snprintf(m, mcap, "%s is not permitted to log in", user);
        return 0;
    }
    return 1;
}

int bs_exec_login(bs_exec *x, const char *user, const char *pass, size_t plen, char *err,
                  size_t errlen) {
    if (!bs_exec_auth_required(x)) return 1;
    if (!*user || strlen(user) > BS_AUTH_MAX_USER || plen > BS_AUTH_MAX_PASSWORD) {
        snprintf(err, errlen, "Provided username and/or password are incorrect");
        return 0;
    }
    return check_login(x, x->be.now_us(x->be.ud), user, pass, plen, err, errlen);
}

int bs__x_auth_response(xctx *c, bs_proto_val token) {
    bs_exec *x = c->x;
    if (!bs_exec_auth_required(x))
        return bs__x_fail(c, BS_PROTO_ERR_PROTOCOL,
                          "Unexpected message AUTH_RESPONSE: authentication is not enabled");
    const char *u, *p;
    size_t ul, pl;
    char err[300];
    if (bs_auth_sasl_plain(token.p, token.len > 0 ? (size_t)token.len : 0, &u, &ul, &p, &pl, err,
                           sizeof err))
        return auth_fail(c, err);
    char user[BS_AUTH_MAX_USER + 1];
    memcpy(user, u, ul);
    user[ul] = 0;
    if (strlen(user) != ul) return auth_fail(c, "Authentication failed: a NUL in the user name");
    char m[BS_AUTH_MAX_USER + 400];
    if (check_login(x, c->now_us, user, p, pl, m, sizeof m) != 1) return auth_fail(c, m);
    pthread_mutex_lock(&c->sess->lock);
    snprintf(c->sess->user, sizeof c->sess->user, "%s", user);
    c->sess->authed = 1;
    pthread_mutex_unlock(&c->sess->lock);
    bs_proto_response r;
    memset(&r, 0, sizeof r);
    r.opcode = BS_PROTO_OP_AUTH_SUCCESS;
    r.u.auth_token.len = BS_PROTO_NULL;
    if (bs_proto_response_encode(c->out, c->stream, &r, c->comp))
        return bs__x_fail(c, BS_PROTO_ERR_SERVER, "out of memory");
    return 0;
}

/* ==================================================================== */
/* permissions                                                            */
/* ==================================================================== */

/* Fetches a role's permission rows into a new cache entry. */
static pentry *perms_fetch(bs_exec *x, const char *role, int64_t now_us, char *err,
                           size_t errlen) {
    bs_arena a;
    bs_arena_init(&a, 0);
    bs_proto_val v = tval(role);
    bs_proto_result res;
    pentry *e = calloc(1, sizeof *e);
    int rc = e ? iquery(x, &a,
                        "SELECT resource, permissions FROM system_auth.role_permissions "
                        "WHERE role = ?",
                        &v, 1, BS_CL_ONE, &res, err, errlen)
               : -1;
    if (!e) snprintf(err, errlen, "out of memory");
    if (!rc && res.kind == BS_PROTO_RESULT_ROWS) {
        size_t n = res.u.rows.nrows > 0 ? (size_t)res.u.rows.nrows : 0;
        if (n > MAX_RES) n = MAX_RES;
        e->res = calloc(n + 1, sizeof *e->res);
        e->perms = calloc(n + 1, 1);
        bs_proto_rows_iter it;
        bs_proto_val cells[2];
        bs_proto_rows_iter_init(&it, &res.u.rows);
        while (e->res && e->perms && e->n < n && bs_proto_rows_next(&it, cells) == 1) {
            if (cells[0].len < 0) continue;
            e->res[e->n] = strndup((const char *)cells[0].p, (size_t)cells[0].len);
            if (!e->res[e->n]) break;
            e->perms[e->n++] = perm_mask(cells[1]);
        }
        if (!e->res || !e->perms) {
            snprintf(err, errlen, "out of memory");
            rc = -1;
        }
    }
    bs_arena_free(&a);
    if (rc) {
        if (e) pentry_free(e);
        return NULL;
    }
    snprintf(e->role, sizeof e->role, "%s", role);
    e->at_us = now_us;
    return e;
}

/* The permissions `role` holds on resource names res[0..n) (each mask in
 * out[i]).  0 or -1 with err. */
static int perms_on(bs_exec *x, const char *role, int64_t now_us, const char *const *res,
                    size_t n, uint8_t *out, char *err, size_t errlen) {
    struct bs__x_auth *au = x->auth;
    int64_t valid = (int64_t)au->o.permissions_validity_ms * 1000;
    memset(out, 0, n);
    for (int attempt = 0; attempt < 2; attempt++) {
        pthread_mutex_lock(&au->mu);
        for (pentry *e = au->perms; e; e = e->next) {
            if (strcmp(e->role, role) || now_us - e->at_us >= valid || now_us < e->at_us)
                continue;
            for (size_t i = 0; i < n; i++)
                for (size_t k = 0; k < e->n; k++)
                    if (!strcmp(e->res[k], res[i])) out[i] |= e->perms[k];
            pthread_mutex_unlock(&au->mu);
            return 0;
        }
        pthread_mutex_unlock(&au->mu);
        if (attempt) break;
        pentry *e = perms_fetch(x, role, now_us, err, errlen);
        if (!e) return -1;
        if (valid <= 0) { /* no cache: answer from the fresh entry */
            for (size_t i = 0; i < n; i++)
                for (size_t k = 0; k < e->n; k++)
                    if (!strcmp(e->res[k], res[i])) out[i] |= e->perms[k];
            pentry_free(e);
            return 0;
        }
        pthread_mutex_lock(&au->mu);
        if (au->nroles + au->nperms >= CACHE_MAX) cache_clear(au);
        e->next = au->perms;
        au->perms = e;
        au->nperms++;
        pthread_mutex_unlock(&au->mu);
    }
    return 0;
}

static const char *perm_name(uint8_t bit) {
    for (int i = 0; i < NPERMS; i++)
        if (bit == (1 << i)) return perm_names[i];
    return "ALL";
}

/* "<all keyspaces>", "<keyspace ks>", "<table ks.t>" */
static void res_show(char *out, size_t cap, const char *ks, const char *table) {
    if (!ks)
        snprintf(out, cap, "<all keyspaces>");
    else if (!table)
        snprintf(out, cap, "<keyspace %s>", ks);
    else
        snprintf(out, cap, "<table %s.%s>", ks, table);
}

static void res_show_name(char *out, size_t cap, const char *res) {
    const char *ks = strchr(res, '/');
    if (!ks) {
        res_show(out, cap, NULL, NULL);
        return;
    }
    ks++;
    const char *t = strchr(ks, '/');
    if (!t)
        res_show(out, cap, ks, NULL);
    else
        snprintf(out, cap, "<table %.*s.%s>", (int)(t - ks), ks, t + 1);
}

/* The session's user; 0 when anonymous. */
static int session_user(xctx *c, char *out, size_t cap) {
    pthread_mutex_lock(&c->sess->lock);
    int authed = c->sess->authed;
    snprintf(out, cap, "%s", authed ? c->sess->user : "");
    pthread_mutex_unlock(&c->sess->lock);
    return authed;
}

static int anonymous(xctx *c) {
    return bs__x_fail(c, BS_PROTO_ERR_UNAUTHORIZED,
                      "You have to be logged in and not anonymous to perform this request");
}

/* Does the logged-in user hold `perm` on ks.table (table NULL: the
 * keyspace; ks NULL: all keyspaces) or a parent?  *super: a superuser. */
static int holds(xctx *c, const char *user, uint8_t perm, const char *ks, const char *table,
                 int *ok) {
    char r1[300], r2[300];
    const char *res[3] = {"data", r1, r2};
    size_t n = 1;
    if (ks) snprintf(r1, sizeof r1, "data/%s", ks), n = 2;
    if (ks && table) snprintf(r2, sizeof r2, "data/%s/%s", ks, table), n = 3;
    uint8_t m[3];
    char err[300];
    if (perms_on(c->x, user, c->now_us, res, n, m, err, sizeof err))
        return bs__x_fail(c, BS_PROTO_ERR_UNAUTHORIZED, "Unable to check permissions: %s", err);
    *ok = 0;
    for (size_t i = 0; i < n; i++)
        if ((m[i] & perm) == perm) *ok = 1;
    return 0;
}

int bs__x_authorize(xctx *c, uint8_t perm, const char *ks, const char *table) {
    struct bs__x_auth *au = c->x->auth;
    if (c->sess->internal || !au || !au->o.authorize) return 0;
    char user[BS_AUTH_MAX_USER + 1], err[300];
    if (!session_user(c, user, sizeof user)) return anonymous(c);
    role_info ri;
    if (role_get(c->x, user, c->now_us, &ri, err, sizeof err))
        return bs__x_fail(c, BS_PROTO_ERR_UNAUTHORIZED, "Unable to check permissions: %s", err);
    if (ri.super) return 0;
    int ok = 0;
    if (holds(c, user, perm, ks, table, &ok)) return -1;
    if (ok) return 0;
    char rs[300];
    res_show(rs, sizeof rs, ks, table);
    return bs__x_fail(c, BS_PROTO_ERR_UNAUTHORIZED,
                      "User %s has no %s permission on %s or any of its parents", user,
                      perm_name(perm), rs);
}

int bs_exec_permitted(bs_exec *x, const char *user, uint8_t perm, const char *ks, char *err,
                      size_t errlen) {
    struct bs__x_auth *au = x->auth;
    if (!au || !au->o.authorize) return 1;
    int64_t now_us = x->be.now_us(x->be.ud);
    role_info ri;
    char why[300];
    if (role_get(x, user, now_us, &ri, why, sizeof why)) {
        snprintf(err, errlen, "Unable to check permissions: %s", why);
        return -1;
    }
    if (ri.super) return 1;
    char r1[300];
    const char *res[2] = {"data", r1};
    size_t n = 1;
    if (ks) snprintf(r1, sizeof r1, "data/%s", ks), n = 2;
    uint8_t m[2];
    if (perms_on(x, user, now_us, res, n, m, why, sizeof why)) {
        snprintf(err, errlen, "Unable to check permissions: %s", why);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        if ((m[i] & perm) == perm) return 1;
    char rs[300];
    res_show(rs, sizeof rs, ks, NULL);
    snprintf(err, errlen, "User %s has no %s permission on %s or any of its parents", user,
             perm_name(perm), rs);
    return 0;
}

/* Keyspaces everyone may read (drivers read them on connecting). */
static int readable_system(const char *ks) {
    return !strcmp(ks, "system") || !strcmp(ks, "system_schema") ||
           !strcmp(ks, "system_traces") || !strcmp(ks, "system_distributed") ||
           !strcmp(ks, "system_virtual_schema");
}

static int protected_ks(xctx *c, const char *ks) {
    if (c->sess->internal || strcmp(ks, "system_auth")) return 0;
    return bs__x_fail(c, BS_PROTO_ERR_UNAUTHORIZED, "system_auth keyspace is not user-modifiable.");
}

static int on_table(xctx *c, const bs_cql_qname *q, uint8_t perm, int protect) {
    const char *ks;
    if (bs__x_keyspace(c, q, &ks)) return -1;
    if (protect && protected_ks(c, ks)) return -1;
    if (perm == BS_CQL_PERM_SELECT && readable_system(ks)) return 0;
    return bs__x_authorize(c, perm, ks, q->name);
}

int bs__x_check_access(xctx *c, const bs_cql_stmt *s) {
    if (c->sess->internal) return 0;
    switch (s->kind) {
    case BS_CQL_STMT_SELECT: return on_table(c, &s->u.select.table, BS_CQL_PERM_SELECT, 0);
    case BS_CQL_STMT_INSERT: return on_table(c, &s->u.insert.table, BS_CQL_PERM_MODIFY, 0);
    case BS_CQL_STMT_UPDATE: return on_table(c, &s->u.update.table, BS_CQL_PERM_MODIFY, 0);
    case BS_CQL_STMT_DELETE: return on_table(c, &s->u.del.table, BS_CQL_PERM_MODIFY, 0);
    case BS_CQL_STMT_TRUNCATE: return on_table(c, &s->u.drop.name, BS_CQL_PERM_MODIFY, 1);
    case BS_CQL_STMT_ALTER_TABLE: return on_table(c, &s->u.alter.name, BS_CQL_PERM_ALTER, 1);
    case BS_CQL_STMT_DROP_TABLE: return on_table(c, &s->u.drop.name, BS_CQL_PERM_DROP, 1);
    case BS_CQL_STMT_BATCH:
        for (uint32_t i = 0; i < s->u.batch.nstmts; i++)
            if (bs__x_check_access(c, s->u.batch.stmts[i])) return -1;
        return 0;
    case BS_CQL_STMT_CREATE_TABLE: {
        const char *ks;
        if (bs__x_keyspace(c, &s->u.create_table.table, &ks) || protected_ks(c, ks)) return -1;
        return bs__x_authorize(c, BS_CQL_PERM_CREATE, ks, NULL);
    }
    case BS_CQL_STMT_CREATE_KEYSPACE:
        return bs__x_authorize(c, BS_CQL_PERM_CREATE, NULL, NULL);
    case BS_CQL_STMT_ALTER_KEYSPACE:
        return bs__x_authorize(c, BS_CQL_PERM_ALTER, s->u.keyspace.name, NULL);
    case BS_CQL_STMT_DROP_KEYSPACE:
        if (protected_ks(c, s->u.drop.name.name)) return -1;
        return bs__x_authorize(c, BS_CQL_PERM_DROP, s->u.drop.name.name, NULL);
    default: return 0;
    }
}

/* ==================================================================== */
/* role statements                                                        */
/* ==================================================================== */

/* A Rows answer under construction. */
typedef struct lrows {
    xctx *c;
    bs_proto_rows_builder rb;
    size_t start;
} lrows;

static bs_type t_text = {BS_TYPE_VARCHAR, 0, 0, NULL, NULL, NULL, NULL};
static bs_type t_bool = {BS_TYPE_BOOLEAN, 0, 0, NULL, NULL, NULL, NULL};

/* names: n column names; bools: bit i set = column i is boolean. */
static int lrows_begin(xctx *c, lrows *o, const char *table, const char *const *names, int n,
                       unsigned bools) {
    bs_proto_meta meta;
    memset(&meta, 0, sizeof meta);
    meta.paging_state.len = BS_PROTO_NULL;
    meta.version = c->version;
    meta.ncols = (uint32_t)n;
    meta.cols = bs_arena_calloc(c->a, (size_t)n * sizeof *meta.cols);
    if (!meta.cols) return bs__x_fail(c, BS_PROTO_ERR_SERVER, "out of memory");
    for (int i = 0; i < n; i++) {
        meta.cols[i].keyspace = bs_proto_cstr("system_auth");
        meta.cols[i].table = bs_proto_cstr(table);
        meta.cols[i].name = bs_proto_cstr(names[i]);
        meta.cols[i].type = (bools >> i) & 1 ? &t_bool : &t_text;
    }
    o->c = c;
    if (bs_proto_frame_begin(c->out, 1, 0, c->stream, BS_PROTO_OP_RESULT, &o->start) ||
        bs_proto_rows_begin(&o->rb, c->out, &meta))
        return bs__x_fail(c, BS_PROTO_ERR_SERVER, "out of memory");
    return 0;
}

static int lcell_text(lrows *o, const char *s) {
    return bs_proto_rows_cell(&o->rb, s, (int32_t)strlen(s));
}
static int lcell_bool(lrows *o, int b) {
    uint8_t v = (uint8_t)(b != 0);
    return bs_proto_rows_cell(&o->rb, &v, 1);
}

static int lrows_end(lrows *o) {
    int rc = bs_proto_rows_finish(&o->rb);
    if (!rc) rc = bs_proto_frame_end(o->c->out, o->start, o->c->comp);
    return rc ? bs__x_fail(o->c, BS_PROTO_ERR_SERVER, "cannot build the result") : 0;
}

static int get_role(xctx *c, const char *role, role_info *ri) {
    char err[300];
    if (role_get(c->x, role, c->now_us, ri, err, sizeof err))
        return bs__x_fail(c, BS_PROTO_ERR_SERVER, "cannot read system_auth.roles: %s", err);
    return 0;
}

static int no_perm(xctx *c, const char *user, const char *perm, const char *what) {
    return bs__x_fail(c, BS_PROTO_ERR_UNAUTHORIZED,
                      "User %s has no %s permission on %s or any of its parents", user, perm, what);
}

static int put_role(xctx *c, const char *role, const char *pw, int login, int super) {
    char err[300];
    if (role_put(c->x, role, pw, login, super, err, sizeof err))
        return bs__x_fail(c, BS_PROTO_ERR_SERVER, "cannot write system_auth.roles: %s", err);
    return bs__x_void_result(c);
}

static int create_role(xctx *c, const bs_cql_role *r, const char *me, const role_info *mi) {
    int authz = c->x->auth->o.authorize;
    if (!mi->super && authz) return no_perm(c, me, "CREATE", "<all roles>");
    if (r->superuser > 0 && !mi->super)
        return bs__x_fail(c, BS_PROTO_ERR_UNAUTHORIZED,
                          "Only superusers can create a role with superuser status");
    role_info ri;
    if (get_role(c, r->role, &ri)) return -1;
    if (ri.exists) {
        if (r->if_not_exists) return bs__x_void_result(c);
        return XINVALID(c, "%s already exists", r->role);
    }
    return put_role(c, r->role, r->password, r->login > 0, r->superuser > 0);
}

static int alter_role(xctx *c, const bs_cql_role *r, const char *me, const role_info *mi) {
    role_info ri;
    if (get_role(c, r->role, &ri)) return -1;
    if (!ri.exists) return XINVALID(c, "%s doesn't exist", r->role);
    int self = !strcmp(me, r->role);
    if (self && r->superuser >= 0)
        return bs__x_fail(c, BS_PROTO_ERR_UNAUTHORIZED,
                          "You aren't allowed to alter your own superuser status");
    if (r->superuser >= 0 && !mi->super)
        return bs__x_fail(c, BS_PROTO_ERR_UNAUTHORIZED,
                          "Only superusers are allowed to alter superuser status");
    if (!mi->super && ri.super)
        return bs__x_fail(c, BS_PROTO_ERR_UNAUTHORIZED,
                          "Only superusers are allowed to alter a role with superuser status");
    if (!mi->super && self && r->login >= 0)
        return bs__x_fail(c, BS_PROTO_ERR_UNAUTHORIZED,
                          "You aren't allowed to alter your own login status");
    if (!mi->super && !self && c->x->auth->o.authorize) {
        char what[BS_AUTH_MAX_USER + 16];
        snprintf(what, sizeof what, "<role %s>", r->role);
        return no_perm(c, me, "ALTER", what);
    }
    if (!r->password && r->login < 0 && r->superuser < 0) return bs__x_void_result(c);
    return put_role(c, r->role, r->password, r->login, r->superuser);
}

static int drop_role(xctx *c, const bs_cql_role *r, const char *me, const role_info *mi) {
    role_info ri;
    if (get_role(c, r->role, &ri)) return -1;
    if (!ri.exists) {
        if (r->if_exists) return bs__x_void_result(c);
        return XINVALID(c, "%s doesn't exist", r->role);
    }
    if (!strcmp(me, r->role)) return XINVALID(c, "Cannot DROP primary role for current login");
    if (ri.super && !mi->super)
        return bs__x_fail(c, BS_PROTO_ERR_UNAUTHORIZED,
                          "Only superusers can drop a role with superuser status");
    if (!mi->super && c->x->auth->o.authorize) {
        char what[BS_AUTH_MAX_USER + 16];
        snprintf(what, sizeof what, "<role %s>", r->role);
        return no_perm(c, me, "DROP", what);
    }
    bs_proto_val v = tval(r->role);
    char err[300];
    int rc = iquery(c->x, c->a, "DELETE FROM system_auth.role_permissions WHERE role = ?", &v, 1,
                    BS_CL_QUORUM, NULL, err, sizeof err);
    if (!rc)
        rc = iquery(c->x, c->a, "DELETE FROM system_auth.roles WHERE role = ?", &v, 1,
                    BS_CL_QUORUM, NULL, err, sizeof err);
    drop_cached(c->x->auth, r->role);
    if (rc) return bs__x_fail(c, BS_PROTO_ERR_SERVER, "cannot drop role %s: %s", r->role, err);
    return bs__x_void_result(c);
}

/* The resource of a GRANT/REVOKE/LIST: its name ("data/ks/t") and ks /
 * table (NULL when not part of it); checks that it exists. */
static int stmt_resource(xctx *c, const bs_cql_role *r, char *name, size_t cap,
                         const char **ks, const char **table) {
    *ks = *table = NULL;
    switch (r->res) {
    case BS_CQL_RES_ALL_KEYSPACES: snprintf(name, cap, "data"); return 0;
    case BS_CQL_RES_KEYSPACE:
        *ks = r->resource.name;
        if (!bs_schema_keyspace(c->schema, *ks))
            return XINVALID(c, "Resource <keyspace %s> doesn't exist", *ks);
        snprintf(name, cap, "data/%s", *ks);
        return 0;
    case BS_CQL_RES_TABLE:
        if (bs__x_keyspace(c, &r->resource, ks)) return -1;
        *table = r->resource.name;
        if (!bs_schema_table(c->schema, *ks, *table))
            return XINVALID(c, "Resource <table %s.%s> doesn't exist", *ks, *table);
        snprintf(name, cap, "data/%s/%s", *ks, *table);
        return 0;
    default: name[0] = 0; return 0;
    }
}

static int grant_revoke(xctx *c, const bs_cql_stmt *s, const char *me, const role_info *mi) {
    const bs_cql_role *r = &s->u.role;
    int grant = s->kind == BS_CQL_STMT_GRANT;
    if (!c->x->auth->o.authorize)
        return XINVALID(c, "%s operation is not supported by AllowAllAuthorizer",
                        grant ? "GRANT" : "REVOKE");
    char res[300];
    const char *ks, *table;
    if (stmt_resource(c, r, res, sizeof res, &ks, &table)) return -1;
    uint8_t perms = r->perms;
    if (table) perms &= (uint8_t)~BS_CQL_PERM_CREATE; /* CREATE applies to keyspaces */
    if (!perms)
        return XINVALID(c, "Resource type DataResource does not support any of the requested "
                           "permissions");
    if (!mi->super) {
        int ok = 0;
        if (holds(c, me, BS_CQL_PERM_AUTHORIZE, ks, table, &ok)) return -1;
        char rs[300];
        res_show(rs, sizeof rs, ks, table);
        if (!ok) return no_perm(c, me, "AUTHORIZE", rs);
        if (holds(c, me, perms, ks, table, &ok)) return -1;
        if (!ok)
            return bs__x_fail(c, BS_PROTO_ERR_UNAUTHORIZED,
                              "User %s must not grant or revoke permissions it does not hold on %s",
                              me, rs);
    }
    role_info ri;
    if (get_role(c, r->role, &ri)) return -1;
    if (!ri.exists) return XINVALID(c, "Role %s doesn't exist", r->role);
    bs_proto_val v[3] = {perm_set(c->a, perms), tval(r->role), tval(res)};
    char err[300];
    int rc = iquery(c->x, c->a,
                    grant ? "UPDATE system_auth.role_permissions SET permissions = permissions + "
                            "? WHERE role = ? AND resource = ?"
                          : "UPDATE system_auth.role_permissions SET permissions = permissions - "
                            "? WHERE role = ? AND resource = ?",
                    v, 3, BS_CL_QUORUM, NULL, err, sizeof err);
    drop_cached(c->x->auth, r->role);
    if (rc) return bs__x_fail(c, BS_PROTO_ERR_SERVER, "cannot write permissions: %s", err);
    return bs__x_void_result(c);
}

/* One row of LIST ROLES or LIST PERMISSIONS, for sorting. */
typedef struct lrow {
    const char *role, *res;
    int super, login;
    uint8_t perms;
} lrow;

static int lrow_cmp(const void *a, const void *b) {
    const lrow *x = a, *y = b;
    int c = strcmp(x->role, y->role);
    return c ? c : strcmp(x->res ? x->res : "", y->res ? y->res : "");
}

/* Reads rows of cql (args: the role, or none) into an arena array. */
static int read_rows(xctx *c, const char *cql, const char *role, int ncols, bs_proto_result *res) {
    bs_proto_val v = role ? tval(role) : bs_proto_bytes("", 0);
    char err[300];
    if (iquery(c->x, c->a, cql, &v, role ? 1 : 0, BS_CL_ONE, res, err, sizeof err))
        return bs__x_fail(c, BS_PROTO_ERR_SERVER, "cannot read system_auth: %s", err);
    if (res->kind != BS_PROTO_RESULT_ROWS || (int)res->u.rows.meta.ncols != ncols)
        return bs__x_fail(c, BS_PROTO_ERR_SERVER, "unexpected answer from system_auth");
    return 0;
}

static char *cell_str(xctx *c, bs_proto_val v) {
    return bs_arena_strndup(c->a, v.len > 0 ? (const char *)v.p : "", v.len > 0 ? (size_t)v.len : 0);
}

static int list_roles(xctx *c, const bs_cql_role *r, const char *me, const role_info *mi) {
    const char *of = r->role;
    if (!mi->super) {
        if (of && strcmp(of, me))
            return bs__x_fail(c, BS_PROTO_ERR_UNAUTHORIZED,
                              "You are not authorized to view roles granted to %s", of);
        of = me;
    }
    bs_proto_result res;
    if (read_rows(c,
                  of ? "SELECT role, is_superuser, can_login FROM system_auth.roles WHERE role = ?"
                     : "SELECT role, is_superuser, can_login FROM system_auth.roles",
                  of, 3, &res))
        return -1;
    size_t n = 0, cap = res.u.rows.nrows > 0 ? (size_t)res.u.rows.nrows : 0;
    lrow *rows = bs_arena_calloc(c->a, (cap + 1) * sizeof *rows);
    if (!rows) return bs__x_fail(c, BS_PROTO_ERR_SERVER, "out of memory");
    bs_proto_rows_iter it;
    bs_proto_val cells[3];
    bs_proto_rows_iter_init(&it, &res.u.rows);
    while (n < cap && bs_proto_rows_next(&it, cells) == 1) {
        rows[n].role = cell_str(c, cells[0]);
        rows[n].super = cell_bool(cells[1]);
        rows[n].login = cell_bool(cells[2]);
        if (rows[n].role) n++;
    }
    if (of && !n) return XINVALID(c, "%s doesn't exist", of);
    qsort(rows, n, sizeof *rows, lrow_cmp);
    static const char *const rn[] = {"role", "super", "login", "datacenters"};
    static const char *const un[] = {"name", "super", "datacenters"};
    lrows o;
    if (r->users ? lrows_begin(c, &o, "users", un, 3, 2u) : lrows_begin(c, &o, "roles", rn, 4, 6u))
        return -1;
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        if (r->users && !rows[i].login) continue;
        rc = lcell_text(&o, rows[i].role) || lcell_bool(&o, rows[i].super) ||
             (!r->users && lcell_bool(&o, rows[i].login)) || lcell_text(&o, "ALL");
    }
    if (rc) return bs__x_fail(c, BS_PROTO_ERR_SERVER, "out of memory");
    return lrows_end(&o);
}

/* Does a stored resource `have` answer a LIST on `want` ("" = any)? */
static int res_listed(const char *have, const char *want, int norecursive) {
    if (!want[0] || !strcmp(have, want)) return 1;
    if (norecursive) return 0;
    size_t n = strlen(have);
    return !strncmp(want, have, n) && want[n] == '/';
}

static int list_perms(xctx *c, const bs_cql_role *r, const char *me, const role_info *mi) {
    if (!c->x->auth->o.authorize)
        return XINVALID(c, "LIST PERMISSIONS operation is not supported by AllowAllAuthorizer");
    if (!mi->super && (!r->role || strcmp(r->role, me)))
        return bs__x_fail(c, BS_PROTO_ERR_UNAUTHORIZED,
                          r->role ? "You are not authorized to view %s's permissions"
                                  : "You are not authorized to view everyone's permissions%s",
                          r->role ? r->role : "");
    char want[300];
    const char *ks, *table;
    if (stmt_resource(c, r, want, sizeof want, &ks, &table)) return -1;
    if (r->role) {
        role_info ri;
        if (get_role(c, r->role, &ri)) return -1;
        if (!ri.exists) return XINVALID(c, "%s doesn't exist", r->role);
    }
    bs_proto_result res;
    if (read_rows(c,
                  r->role ? "SELECT role, resource, permissions FROM system_auth.role_permissions "
                            "WHERE role = ?"
                          : "SELECT role, resource, permissions FROM system_auth.role_permissions",
                  r->role, 3, &res))
        return -1;
    size_t n = 0, cap = res.u.rows.nrows > 0 ? (size_t)res.u.rows.nrows : 0;
    lrow *rows = bs_arena_calloc(c->a, (cap + 1) * sizeof *rows);
    if (!rows) return bs__x_fail(c, BS_PROTO_ERR_SERVER, "out of memory");
    bs_proto_rows_iter it;
    bs_proto_val cells[3];
    bs_proto_rows_iter_init(&it, &res.u.rows);
    while (n < cap && bs_proto_rows_next(&it, cells) == 1) {
        rows[n].role = cell_str(c, cells[0]);
        rows[n].res = cell_str(c, cells[1]);
        rows[n].perms = perm_mask(cells[2]) & r->perms;
        if (rows[n].role && rows[n].res && rows[n].perms &&
            res_listed(rows[n].res, want, r->norecursive))
            n++;
    }
    qsort(rows, n, sizeof *rows, lrow_cmp);
    static const char *const names[] = {"role", "username", "resource", "permission"};
    lrows o;
    if (lrows_begin(c, &o, "permissions", names, 4, 0)) return -1;
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        char shown[320];
        res_show_name(shown, sizeof shown, rows[i].res);
        for (int k = 0; k < NPERMS && !rc; k++)
            if (rows[i].perms & (1 << k))
                rc = lcell_text(&o, rows[i].role) || lcell_text(&o, rows[i].role) ||
                     lcell_text(&o, shown) || lcell_text(&o, perm_names[k]);
    }
    if (rc) return bs__x_fail(c, BS_PROTO_ERR_SERVER, "out of memory");
    return lrows_end(&o);
}

int bs__x_role_stmt(xctx *c, const bs_cql_stmt *s) {
    char me[BS_AUTH_MAX_USER + 1];
    if (!bs_exec_auth_required(c->x) || !session_user(c, me, sizeof me)) return anonymous(c);
    role_info mi;
    if (get_role(c, me, &mi)) return -1;
    const bs_cql_role *r = &s->u.role;
    switch (s->kind) {
    case BS_CQL_STMT_CREATE_ROLE: return create_role(c, r, me, &mi);
    case BS_CQL_STMT_ALTER_ROLE: return alter_role(c, r, me, &mi);
    case BS_CQL_STMT_DROP_ROLE: return drop_role(c, r, me, &mi);
    case BS_CQL_STMT_LIST_ROLES: return list_roles(c, r, me, &mi);
    case BS_CQL_STMT_LIST_PERMISSIONS: return list_perms(c, r, me, &mi);
    default: return grant_revoke(c, s, me, &mi);
    }
}

/* ==================================================================== */
/* the system_auth keyspace                                               */
/* ==================================================================== */

/* A stable id from a name (a v3-style UUID of its XXH3-128). */
static void name_uuid(bs_uuid *u, const char *name) {
    XXH128_hash_t h = XXH3_128bits(name, strlen(name));
    bs_put_u64(u->b, h.high64);
    bs_put_u64(u->b + 8, h.low64);
    u->b[6] = (uint8_t)((u->b[6] & 0x0f) | 0x30);
    u->b[8] = (uint8_t)((u->b[8] & 0x3f) | 0x80);
}

/* Adds system_auth and its tables to s.  Every node adds the same
 * definitions with the same stamps (1) and ids (derived from the names),
 * so independent creations merge into one; an ALTER KEYSPACE later
 * carries a real time stamp and wins. */
static int add_auth_schema(bs_schema *s, char *err, size_t errlen) {
    const char *rk[1] = {"replication_factor"}, *rv[1] = {"1"};
    int rc = bs_schema_create_keyspace(s, "system_auth", "SimpleStrategy", 1, rk, rv, 1, 1, err,
                                       errlen);
    bs_type *text = bs_type_new(BS_TYPE_VARCHAR), *boolean = bs_type_new(BS_TYPE_BOOLEAN);
    bs_type *set1 = bs_type_new_coll(BS_TYPE_SET, bs_type_new(BS_TYPE_VARCHAR), NULL);
    bs_type *set2 = bs_type_new_coll(BS_TYPE_SET, bs_type_new(BS_TYPE_VARCHAR), NULL);
    if (!rc && (!text || !boolean || !set1 || !set2)) rc = BS_ENOMEM;
    bs_column_def roles[] = {{"role", text, BS_COL_PARTITION_KEY, 0, 0},
                             {"can_login", boolean, BS_COL_REGULAR, -1, 0},
                             {"is_superuser", boolean, BS_COL_REGULAR, -1, 0},
                             {"member_of", set1, BS_COL_REGULAR, -1, 0},
                             {"salted_hash", text, BS_COL_REGULAR, -1, 0}};
    bs_column_def perms[] = {{"role", text, BS_COL_PARTITION_KEY, 0, 0},
                             {"resource", text, BS_COL_CLUSTERING, 0, 0},
                             {"permissions", set2, BS_COL_REGULAR, -1, 0}};
    bs_uuid id1, id2;
    name_uuid(&id1, "system_auth.roles");
    name_uuid(&id2, "system_auth.role_permissions");
    if (!rc) rc = bs_schema_create_table(s, "system_auth", "roles", &id1, roles, 5, NULL, 0, 1, err,
                                         errlen);
    if (!rc)
        rc = bs_schema_create_table(s, "system_auth", "role_permissions", &id2, perms, 3, NULL, 0,
                                    1, err, errlen);
    bs_type_free(text);
    bs_type_free(boolean);
    bs_type_free(set1);
    bs_type_free(set2);
    return rc;
}

int bs_exec_auth_schema(bs_exec *x, char *err, size_t errlen) {
    bs_schema *cur = x->be.schema_get(x->be.ud);
    int have = bs_schema_keyspace(cur, "system_auth") != NULL ||
               bs_schema_tombstone(cur, "system_auth", NULL) > 0;
    if (have) {
        bs_schema_release(cur);
        return 0;
    }
    bs_schema *next = bs_schema_clone(cur);
    bs_schema_release(cur);
    if (!next) return BS_ENOMEM;
    int rc = add_auth_schema(next, err, errlen);
    if (rc) {
        bs_schema_release(next);
        return rc;
    }
    bs_proto_schema_change ev;
    memset(&ev, 0, sizeof ev);
    ev.change_type = bs_proto_cstr("CREATED");
    ev.target = bs_proto_cstr("KEYSPACE");
    ev.keyspace = bs_proto_cstr("system_auth");
    bs_exec_err e;
    memset(&e, 0, sizeof e);
    rc = x->be.schema_apply(x->be.ud, next, &ev, &e);
    if (rc) snprintf(err, errlen, "%s", e.msg[0] ? e.msg : bs_strerror(rc));
    return rc;
}
