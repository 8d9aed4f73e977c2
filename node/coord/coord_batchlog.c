/*
 * coord_batchlog.c - the batchlog that makes a logged batch all or
 * nothing across replicas, as Cassandra's does.
 *
 * Before applying a logged batch that touches more than one partition,
 * the coordinator stores the whole batch on up to two other live nodes
 * (same data centre first; on this node when no other is alive) and
 * waits for them (BATCHLOG_STORE; failure = WriteTimeout with write type
 * BATCH_LOG and nothing applied).  It then applies the batch as usual and,
 * once that succeeded, tells the holders to forget it (BATCHLOG_REMOVE,
 * one-way).  A holder whose entry is older than twice the write timeout
 * replays it: it writes the mutations to every replica at CL ANY (hints
 * cover replicas that are down; CL ONE when hints are disabled) and
 * deletes the entry once that succeeded.  So if the coordinator dies
 * half-way, the holders finish the batch; replaying twice is harmless
 * because writes are idempotent under LWW (same timestamps).
 *
 * Storage: store table "system.batchlog" (gc_grace 0), partition key =
 * the 16-byte batch id, one cell (column 16):
 *   OFFSET SIZE DESCRIPTION
 *   0      8    creation time, seconds (big-endian)
 *   8      N    the batch as node/coord/wire.h's write payload (now_s + mutations)
 * BATCHLOG_STORE payload = id (16) | the cell value; BATCHLOG_REMOVE = id.
 *
 * Fault injection for tests: in basaltd-testhooks (built with
 * BS_TEST_HOOKS, never the shipped basaltd) the environment variable
 * BASALT_TEST_CRASH_AFTER_BATCHLOG=1 makes the coordinator exit right
 * after the batchlog is stored, before applying anything (coord_write.c).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/error.h"
#include "common/log.h"
#include "node/coord/coord_int.h"
#include "node/coord/wire.h"
#include "ring/murmur3.h"

#define LOG "batchlog"
#define COL_ENTRY 16
#define REPLAY_EVERY_MS 1000

typedef struct bs__batchlog {
    bs_table *t;
    pthread_t th;
    int started;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int stop;
} bs__batchlog;

/* ---- local entries ------------------------------------------------------- */

static int entry_put(bs_coord *c, const uint8_t id[16], const uint8_t *val,
                     size_t len) {
    bs_batch *b;
    int rc = bs_batch_new(c->store, &b);
    if (rc) return rc;
    bs_rowkey rk = {bs_ring_partition_token(id, 16), id, 16, NULL, 0, 0};
    rc = bs_batch_put_cell(b, c->blog->t, &rk, COL_ENTRY, NULL, 0, val, len,
                           bs_clock_now_us(c->o.clock), 0);
    if (!rc) rc = bs_store_write(c->store, b);
    bs_batch_free(b);
    return rc;
}

static int entry_del(bs_coord *c, const uint8_t id[16]) {
    bs_batch *b;
    int rc = bs_batch_new(c->store, &b);
    if (rc) return rc;
    rc = bs_batch_delete_partition(b, c->blog->t,
                                   bs_ring_partition_token(id, 16), id, 16,
                                   bs_clock_now_us(c->o.clock));
    if (!rc) rc = bs_store_write(c->store, b);
    bs_batch_free(b);
    return rc;
}

/* ---- coordinator side ---------------------------------------------------- */

/* Up to two live holders other than this node, same DC first. */
static size_t pick_holders(bs_coord *c, bs_msg_peer *out) {
    bs_ring_snapshot *r = c->mem.ring(c->mem.ud);
    size_t n = 0;
    if (!r) return 0;
    uint32_t nn = bs_ring_snapshot_node_count(r);
    for (int pass = 0; pass < 2 && n < 2; pass++) {
        for (uint32_t i = 0; i < nn && n < 2; i++) {
            bs_ring_node_desc d;
            if (bs_ring_snapshot_node(r, i, &d)) continue;
            if (!memcmp(d.host_id.b, c->self.b, 16)) continue;
            int same_dc = d.dc && !strcmp(d.dc, c->dc);
            if ((pass == 0) != same_dc) continue;
            if (c->mem.alive(c->mem.ud, &d.host_id) <= 0) continue;
            if (bs__endpoint_of(c, &d.host_id, &out[n])) continue;
            n++;
        }
    }
    bs_ring_snapshot_release(r);
    return n;
}

typedef struct all_ok {
    size_t n;
    size_t ok;
} all_ok;

static int holders_done(bs__fan *f, void *ud) {
    all_ok *a = ud;
    size_t ok = 0, done = 0;
    for (size_t i = 0; i < f->n; i++) {
        if (!f->calls[i].done) continue;
        done++;
        ok += f->calls[i].status == 0;
    }
    a->ok = ok;
    return ok == a->n || done == f->n;
}

int bs__batchlog_write(bs_coord *c, const bs_mutation *m, size_t nm,
                       int64_t now_s, int64_t deadline_ns, bs__blog_ref *ref,
                       bs_exec_err *err) {
    memset(ref, 0, sizeof *ref);
    bs_uuid id;
    bs_buf msg = BS_BUF_INIT;
    int rc = bs_uuid_v4(&id);
    memcpy(ref->id, id.b, 16);
    if (!rc) rc = bs_buf_append(&msg, id.b, 16);
    if (!rc) rc = bs_buf_append_u64(&msg, (uint64_t)bs_clock_now_s(c->o.clock));
    if (!rc) rc = bs_wire_write_encode(now_s, m, nm, &msg);
    if (rc) {
        bs_buf_free(&msg);
        err->code = BS_PROTO_ERR_SERVER;
        snprintf(err->msg, sizeof err->msg, "cannot encode the batchlog: %s",
                 bs_strerror(rc));
        return -1;
    }
    ref->n = pick_holders(c, ref->peers);
    if (ref->n == 0) {
        /* no other live node: keep it here, like Cassandra on one node */
        rc = entry_put(c, ref->id, msg.data + 16, msg.len - 16);
        bs_buf_free(&msg);
        if (rc) {
            err->code = BS_PROTO_ERR_SERVER;
            snprintf(err->msg, sizeof err->msg, "cannot store the batchlog: %s",
                     bs_store_errmsg());
            return -1;
        }
        ref->local = 1;
        return 0;
    }
    bs__fan *f = bs__fan_new(c, ref->n);
    if (!f) {
        bs_buf_free(&msg);
        err->code = BS_PROTO_ERR_SERVER;
        snprintf(err->msg, sizeof err->msg, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < ref->n; i++)
        bs__fan_send(f, i, &ref->peers[i], BS_VERB_BATCHLOG_STORE, msg.data,
                     msg.len, c->o.write_timeout_ms);
    all_ok a = {ref->n, 0};
    int ok = bs__fan_wait(f, holders_done, &a, deadline_ns) && a.ok == ref->n;
    bs__fan_release(f);
    bs_buf_free(&msg);
    if (!ok) {
        bs__batchlog_remove(c, ref); /* best effort: the stored ones */
        err->code = BS_PROTO_ERR_WRITE_TIMEOUT;
        err->write_type = "BATCH_LOG";
        err->received = (int32_t)a.ok;
        err->blockfor = (int32_t)ref->n;
        snprintf(err->msg, sizeof err->msg,
                 "Operation timed out - received only %zu responses (%zu "
                 "required) while writing the batchlog",
                 a.ok, ref->n);
        return -1;
    }
    return 0;
}

void bs__batchlog_remove(bs_coord *c, const bs__blog_ref *ref) {
    if (ref->local) {
        entry_del(c, ref->id);
        return;
    }
    for (size_t i = 0; i < ref->n; i++)
        bs_msg_send(c->msg, &ref->peers[i], BS_VERB_BATCHLOG_REMOVE, ref->id,
                    16, 0, NULL, NULL);
}

/* ---- holder side ------------------------------------------------------------
 */

void bs__job_batchlog_store(bs_coord *c, bs__job *j) {
    int rc = BS_ECORRUPT;
    if (j->len > 24 && c->blog)
        rc = entry_put(c, j->data, j->data + 16, j->len - 16);
    if (rc)
        BS_WARN(LOG, "cannot store a batchlog entry from %s: %s",
                j->in.from.addr, bs_strerror(rc));
    bs_msg_reply(c->msg, &j->in, rc, NULL, 0);
}

void bs__job_batchlog_remove(bs_coord *c, bs__job *j) {
    if (j->len == 16 && c->blog) entry_del(c, j->data);
}

/* ---- replay -----------------------------------------------------------------
 */

typedef struct pending {
    uint8_t id[16];
    int64_t created;
    uint8_t *payload;
    size_t len;
} pending;

typedef struct collect {
    pending *v;
    size_t n, cap;
    int64_t older_than;
} collect;

static int collect_cb(void *ud, const bs_partv *p) {
    collect *cl = ud;
    if (p->pk_len != 16 || !p->nrows) return 0;
    const bs_rowv *r = &p->rows[0];
    for (size_t i = 0; i < r->ncells; i++) {
        const bs_cellv *cv = &r->cells[i];
        if (cv->col != COL_ENTRY || cv->val_len < 8) continue;
        int64_t created = (int64_t)bs_get_u64(cv->val);
        if (created > cl->older_than) continue;
        if (cl->n == cl->cap) {
            size_t nc = cl->cap ? cl->cap * 2 : 8;
            pending *nv = realloc(cl->v, nc * sizeof *nv);
            if (!nv) return 1;
            cl->v = nv;
            cl->cap = nc;
        }
        pending *e = &cl->v[cl->n];
        e->payload = malloc(cv->val_len - 8 + 1);
        if (!e->payload) return 1;
        memcpy(e->id, p->pk, 16);
        e->created = created;
        memcpy(e->payload, cv->val + 8, cv->val_len - 8);
        e->len = cv->val_len - 8;
        cl->n++;
        if (cl->n >= 256) return 1; /* one round at a time */
    }
    return 0;
}

static void replay_round(bs_coord *c) {
    int64_t delay = 2 * (int64_t)(c->o.write_timeout_ms / 1000);
    if (delay < 1) delay = 1;
    collect cl = {NULL, 0, 0, bs_clock_now_s(c->o.clock) - delay};
    bs_scan sc;
    memset(&sc, 0, sizeof sc);
    sc.start_token = INT64_MIN;
    sc.end_token = INT64_MAX;
    bs_store_scan(c->blog->t, &sc, collect_cb, &cl);
    for (size_t i = 0; i < cl.n; i++) {
        pending *e = &cl.v[i];
        bs_arena a;
        bs_arena_init(&a, 0);
        char msg[160];
        int64_t now_s;
        bs_mutation *m;
        size_t n;
        if (bs_wire_write_decode(e->payload, e->len, &a, &now_s, &m, &n, msg,
                                 sizeof msg)) {
            BS_WARN(LOG, "dropping a corrupt batchlog entry: %s", msg);
            entry_del(c, e->id);
        } else {
            bs_exec_err err;
            memset(&err, 0, sizeof err);
            uint16_t cl_ = c->o.hints_enabled ? BS_CL_ANY : BS_CL_ONE;
            if (bs__coord_write(c, m, n, cl_, 0, &err) == 0) {
                entry_del(c, e->id);
                BS_INFO(
                    LOG,
                    "replayed a batch of %zu mutations (created %lld s ago)", n,
                    (long long)(bs_clock_now_s(c->o.clock) - e->created));
            } else {
                BS_WARN(LOG, "batch replay failed, will retry: %s", err.msg);
            }
        }
        bs_arena_free(&a);
        free(e->payload);
    }
    free(cl.v);
}

static void *replay_main(void *arg) {
    bs_coord *c = arg;
    bs__batchlog *bl = c->blog;
    pthread_mutex_lock(&bl->lock);
    while (!bl->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += REPLAY_EVERY_MS / 1000;
        pthread_cond_timedwait(&bl->cond, &bl->lock, &ts);
        if (bl->stop) break;
        pthread_mutex_unlock(&bl->lock);
        replay_round(c);
        pthread_mutex_lock(&bl->lock);
    }
    pthread_mutex_unlock(&bl->lock);
    return NULL;
}

int bs__batchlog_start(bs_coord *c) {
    bs__batchlog *bl = calloc(1, sizeof *bl);
    if (!bl) return BS_ENOMEM;
    bs_table_opts to;
    bs_table_opts_default(&to);
    to.gc_grace_seconds = 0;
    int rc = bs_store_table_open(c->store, "system.batchlog", &to, &bl->t);
    if (rc) {
        free(bl);
        return rc;
    }
    pthread_mutex_init(&bl->lock, NULL);
    pthread_cond_init(&bl->cond, NULL);
    c->blog = bl;
    if (pthread_create(&bl->th, NULL, replay_main, c)) return BS_ENOMEM;
    bl->started = 1;
    return 0;
}

void bs__batchlog_stop(bs_coord *c) {
    bs__batchlog *bl = c->blog;
    if (!bl) return;
    if (bl->started) {
        pthread_mutex_lock(&bl->lock);
        bl->stop = 1;
        pthread_cond_broadcast(&bl->cond);
        pthread_mutex_unlock(&bl->lock);
        pthread_join(bl->th, NULL);
    }
    pthread_mutex_destroy(&bl->lock);
    pthread_cond_destroy(&bl->cond);
    c->blog = NULL;
    free(bl);
}
