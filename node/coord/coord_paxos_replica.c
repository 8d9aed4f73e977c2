/*
 * coord_paxos_replica.c - the acceptor side of lightweight transactions
 * (the PAXOS verb, payloads in paxos_wire.h) and its durable state.
 *
 * State per (table, partition), one row of the node-local store table
 * system.paxos (key: token | table id ++ partition key, no clustering):
 *
 *   column  value                           meaning
 *   1       ballot (16)                     highest ballot promised
 *   2       ballot (16) ++ update           most recent accepted proposal
 *   3       ballot (16)                     most recent committed ballot
 *
 * Cells carry a TTL (PAXOS_TTL_S, Cassandra's default gc_grace) so the
 * state of idle partitions goes away.  Columns 1 and 2 are written under
 * the partition's lock with timestamps from a process-wide counter that
 * never goes backwards, so a later state always shadows an earlier one;
 * column 3 is written without a read, at the ballot's own time.
 *
 * Rules (classic Paxos, as Cassandra's v1):
 *   PREPARE b   promise if b > promised (and b's microsecond is later:
 *               cell timestamps must grow); answer the promise (or the
 *               higher one that refused b), the accepted proposal and the
 *               most recent commit.
 *   PROPOSE b   accept if b >= promised (then promised = b too).
 *   COMMIT b    apply the update to the table, remember b as the most
 *               recent commit when it is newer.
 * PREPARE and PROPOSE of one partition are serialized by a striped lock
 * (read-modify-write of the state); the store write is synchronous and
 * done before the answer leaves.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/log.h"
#include "node/coord/coord_int.h"
#include "node/coord/paxos_wire.h"
#include "node/coord/wire.h"

#define LOG "paxos"
#define PAXOS_TTL_S 864000
#define NLOCKS 64
enum { COL_PROMISED = 1, COL_ACCEPTED = 2, COL_COMMIT = 3 };

static pthread_mutex_t g_locks[NLOCKS];
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static _Atomic int64_t g_last_ts;

static void init_locks(void) {
    for (size_t i = 0; i < NLOCKS; i++) pthread_mutex_init(&g_locks[i], NULL);
}

static pthread_mutex_t *lock_of(int64_t token) {
    pthread_once(&g_once, init_locks);
    uint64_t h = (uint64_t)token * 0x9E3779B97F4A7C15ULL;
    return &g_locks[h >> 58];
}

/* A cell timestamp later than every earlier one of this process. */
static int64_t next_ts(bs_coord *c) {
    int64_t now = bs_clock_now_us(c->o.clock);
    int64_t last = atomic_load(&g_last_ts);
    for (;;) {
        int64_t ts = now > last ? now : last + 1;
        if (atomic_compare_exchange_weak(&g_last_ts, &last, ts)) return ts;
    }
}

int bs__paxos_open(bs_coord *c) {
    bs_table_opts to;
    bs_table_opts_default(&to);
    return bs_store_table_open(c->store, "system.paxos", &to, &c->paxos_t);
}

typedef struct pstate {
    int has_promised, has_accepted, has_commit;
    bs_uuid promised, accepted, commit;
    const uint8_t *update;
    size_t update_len;
} pstate;

/* The row key: table id ++ partition key (arena memory). */
static uint8_t *state_key(bs_arena *a, const bs_paxos_req *r, size_t *len) {
    uint8_t *k = bs_arena_alloc(a, 16 + r->pk_len);
    if (!k) return NULL;
    memcpy(k, r->table_id.b, 16);
    memcpy(k + 16, r->pk, r->pk_len);
    *len = 16 + r->pk_len;
    return k;
}

static int state_load(bs_coord *c, const bs_paxos_req *r, const uint8_t *key, size_t klen,
                      bs_arena *a, pstate *st) {
    memset(st, 0, sizeof *st);
    bs_slice sl;
    memset(&sl, 0, sizeof sl);
    bs_partv *p = NULL;
    int rc = bs_store_read(c->paxos_t, r->token, key, klen, &sl, a, &p);
    if (rc || !p || !p->nrows) return rc;
    const bs_rowv *row = &p->rows[0];
    for (size_t i = 0; i < row->ncells; i++) {
        const bs_cellv *cv = &row->cells[i];
        if (cv->has_elem || cv->val_len < 16) continue;
        if (cv->col == COL_PROMISED) {
            st->has_promised = 1;
            memcpy(st->promised.b, cv->val, 16);
        } else if (cv->col == COL_ACCEPTED) {
            st->has_accepted = 1;
            memcpy(st->accepted.b, cv->val, 16);
            st->update = cv->val + 16;
            st->update_len = cv->val_len - 16;
        } else if (cv->col == COL_COMMIT) {
            st->has_commit = 1;
            memcpy(st->commit.b, cv->val, 16);
        }
    }
    return 0;
}

/* Writes the given columns of st (mask of 1 << COL_*). */
static int state_save(bs_coord *c, const bs_paxos_req *r, const uint8_t *key, size_t klen,
                      const pstate *st, unsigned mask) {
    bs_batch *b;
    int rc = bs_batch_new(c->store, &b);
    if (rc) return rc;
    bs_rowkey rk = {r->token, key, klen, NULL, 0, 0};
    int64_t ts = next_ts(c);
    if (mask & (1u << COL_PROMISED))
        rc = bs_batch_put_cell(b, c->paxos_t, &rk, COL_PROMISED, NULL, 0, st->promised.b, 16, ts,
                               PAXOS_TTL_S);
    if (!rc && (mask & (1u << COL_ACCEPTED))) {
        uint8_t *v = malloc(16 + st->update_len);
        if (!v) rc = BS_ENOMEM;
        else {
            memcpy(v, st->accepted.b, 16);
            if (st->update_len) memcpy(v + 16, st->update, st->update_len);
            rc = bs_batch_put_cell(b, c->paxos_t, &rk, COL_ACCEPTED, NULL, 0, v,
                                   16 + st->update_len, ts, PAXOS_TTL_S);
            free(v);
        }
    }
    if (!rc && (mask & (1u << COL_COMMIT)))
        rc = bs_batch_put_cell(b, c->paxos_t, &rk, COL_COMMIT, NULL, 0, st->commit.b, 16, ts,
                               PAXOS_TTL_S);
    if (!rc) rc = bs_store_write(c->store, b);
    bs_batch_free(b);
    return rc;
}

static void fill_resp(const pstate *st, bs_paxos_resp *o) {
    o->promised = st->promised;
    o->has_accepted = st->has_accepted;
    o->accepted = st->accepted;
    o->update = st->update;
    o->update_len = st->update_len;
    o->has_commit = st->has_commit;
    o->commit = st->commit;
}

/* PREPARE / PROPOSE under the partition's lock. */
static int promise_or_accept(bs_coord *c, const bs_paxos_req *r, bs_arena *a,
                             bs_paxos_resp *o) {
    size_t klen;
    uint8_t *key = state_key(a, r, &klen);
    if (!key) return BS_ENOMEM;
    pthread_mutex_t *l = lock_of(r->token);
    pthread_mutex_lock(l);
    pstate st;
    int rc = state_load(c, r, key, klen, a, &st);
    if (!rc) {
        int cmp = st.has_promised ? bs_paxos_ballot_cmp(&r->ballot, &st.promised) : 1;
        /* a promise needs a later microsecond too: the committed cells
         * carry the ballot's time, so successive transactions of a
         * partition must have strictly increasing write timestamps */
        int later_us = !st.has_promised ||
                       bs_paxos_ballot_us(&r->ballot) > bs_paxos_ballot_us(&st.promised);
        unsigned mask = 0;
        if (r->phase == BS_PAXOS_PREPARE && cmp > 0 && later_us) {
            st.promised = r->ballot;
            st.has_promised = 1;
            mask = 1u << COL_PROMISED;
            o->ok = 1;
        } else if (r->phase == BS_PAXOS_PROPOSE && cmp >= 0) {
            st.promised = r->ballot;
            st.has_promised = 1;
            st.accepted = r->ballot;
            st.has_accepted = 1;
            st.update = r->update;
            st.update_len = r->update_len;
            mask = (1u << COL_PROMISED) | (1u << COL_ACCEPTED);
            o->ok = 1;
        }
        if (mask) rc = state_save(c, r, key, klen, &st, mask);
        fill_resp(&st, o);
        if (r->phase == BS_PAXOS_PROPOSE) { /* the proposer needs only ok + promise */
            o->has_accepted = 0;
            o->update = NULL;
            o->update_len = 0;
        }
    }
    pthread_mutex_unlock(l);
    return rc;
}

/* COMMIT: the update reaches the table, then the state remembers it. */
static int commit(bs_coord *c, const bs_paxos_req *r, bs_arena *a, bs_paxos_resp *o) {
    char e[128];
    int64_t now_s;
    bs_mutation *m;
    size_t nm;
    int rc = bs_wire_write_decode(r->update, r->update_len, a, &now_s, &m, &nm, e, sizeof e);
    if (rc) {
        BS_WARN(LOG, "bad PAXOS commit update: %s", e);
        return rc;
    }
    for (size_t i = 0; i < nm; i++)
        if (m[i].token != r->token || m[i].pk_len != r->pk_len ||
            memcmp(m[i].pk, r->pk, r->pk_len))
            return BS_ECORRUPT; /* a commit only writes its own partition */
    rc = bs__apply_local(c, m, nm, now_s);
    if (rc) return rc;
    /* the most recent commit, written blind: its cell timestamp is the
     * ballot's time, so last-write-wins keeps the newest ballot (equal
     * times: the greater bytes, which is the ballot order too).  The
     * synchronous write also applies the update queued above when this
     * runs in a stage batch's defer scope, so the answer never precedes it */
    size_t klen;
    uint8_t *key = state_key(a, r, &klen);
    if (!key) return BS_ENOMEM;
    bs_batch *b;
    rc = bs_batch_new(c->store, &b);
    if (rc) return rc;
    bs_rowkey rk = {r->token, key, klen, NULL, 0, 0};
    rc = bs_batch_put_cell(b, c->paxos_t, &rk, COL_COMMIT, NULL, 0, r->ballot.b, 16,
                           bs_paxos_ballot_us(&r->ballot), PAXOS_TTL_S);
    if (!rc) rc = bs_store_write(c->store, b);
    bs_batch_free(b);
    o->ok = !rc;
    return rc;
}

/* A PREPARE's read, answered with the promise (after it: an update
 * committed later has a lower ballot, and a proposal in progress shows
 * in the promise, so the proposer finishes it and starts over).  No
 * answer (has_read 0) when the table is unknown here or the read fails:
 * the proposer then reads at the quorum. */
static int answer_read(bs_coord *c, const bs_paxos_req *r, bs_arena *a, bs_buf *data,
                       bs_paxos_resp *o) {
    char e[128];
    bs_wire_read rd;
    if (bs_wire_read_decode(r->read, r->read_len, a, &rd, e, sizeof e)) return BS_ECORRUPT;
    if (rd.token != r->token || rd.pk_len != r->pk_len || memcmp(rd.pk, r->pk, r->pk_len) ||
        memcmp(rd.table_id.b, r->table_id.b, 16))
        return BS_ECORRUPT; /* a promise only reads its own partition */
    bs_table *t;
    bs_partv *p = NULL;
    if (bs_store_table_get(c->store, rd.cf, &t) ||
        bs_store_read(t, rd.token, rd.pk, rd.pk_len, &rd.slice, a, &p))
        return 0;
    if (bs_wire_result_encode(p, 0, data)) return BS_ENOMEM;
    bs_wire_digest(p, o->digest);
    o->has_read = 1;
    o->data = data->data;
    o->data_len = data->len;
    return 0;
}

int bs__paxos_handle(bs_coord *c, const void *p, size_t len, bs_buf *out) {
    bs_paxos_req r;
    if (bs_paxos_req_decode(p, len, &r)) return BS_ECORRUPT;
    if (!c->paxos_t) return BS_ENOTSUP;
    bs_arena a;
    bs_arena_init(&a, 0);
    bs_buf data = BS_BUF_INIT;
    bs_paxos_resp o;
    memset(&o, 0, sizeof o);
    int rc = r.phase == BS_PAXOS_COMMIT ? commit(c, &r, &a, &o) : promise_or_accept(c, &r, &a, &o);
    if (!rc && o.ok && r.phase == BS_PAXOS_PREPARE && r.read_len)
        rc = answer_read(c, &r, &a, &data, &o);
    if (!rc) rc = bs_paxos_resp_encode(&o, out);
    bs_buf_free(&data);
    bs_arena_free(&a);
    return rc;
}

void bs__job_paxos(bs_coord *c, bs__job *j) {
    bs_buf out = BS_BUF_INIT;
    int rc = bs__paxos_handle(c, j->data, j->len, &out);
    if (rc == BS_ECORRUPT) BS_WARN(LOG, "bad PAXOS request from %s", j->in.from.addr);
    bs__job_reply(c, j, rc, out.data, out.len);
    bs_buf_free(&out);
}
