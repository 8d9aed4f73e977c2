/*
 * coord_trace.c - the cluster side of CQL tracing: replicas record their
 * part of a traced request, and reads of system_traces gather every
 * node's part.
 *
 * A coordinator that traces a request sends its internode requests with
 * the trace session id in the envelope ("t", node/cluster/msg.h).  A
 * replica that receives one starts its own bs_trace for the job
 * ("<VERB> message received from /X"), the handler records what it does
 * (rows read, repairs applied) and bs__job_reply records "Enqueuing
 * response to /X" and writes the events to the replica's own
 * system_traces.events before the answer leaves, so once the coordinator
 * has its answers (and writes the session's duration) the events of
 * every replica that answered are stored.  Peers that do not know "t"
 * ignore it and record nothing.
 *
 * system_traces is node-local (each node holds what it recorded), so a
 * partition read of system_traces.sessions or .events asks every live
 * node for the partition (READ, data) and answers the union of the rows,
 * in clustering order, cut at the slice's limit: any node answers a
 * driver's get_query_trace() whatever node coordinated the request.
 * Rows are never updated after they are written (event ids are unique,
 * the sessions row is written once), so equal keys hold equal rows and
 * the union keeps the first.  Scans of system_traces stay local.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/log.h"
#include "common/trace.h"
#include "node/coord/coord_int.h"
#include "node/coord/wire.h"
#include "query/proto.h"

#define LOG "trace"

int bs__is_traces_ks(const bs_keyspace_schema *ks) {
    return ks && !strcmp(ks->name, "system_traces");
}

/* ---- the replica's part -------------------------------------------------- */

static void trace_store(bs_coord *c, bs_trace *t) {
    bs_msg_peer self;
    bs_msg_local(c->msg, &self);
    bs_exec_trace_info ti;
    memset(&ti, 0, sizeof ti);
    ti.source = self.addr;
    ti.source_port = self.port;
    ti.duration_us = -1;
    ti.now_us = bs_clock_now_us(c->o.clock);
    ti.ttl_s = BS_TRACE_TTL_S;
    bs_schema *s = c->lbe.schema_get(c->lbe.ud);
    bs_arena a;
    bs_arena_init(&a, 0);
    bs_mutation *m;
    size_t n;
    int rc = bs_exec_trace_rows(s, t, &ti, &a, &m, &n);
    if (!rc && n) rc = bs_local_apply(c->store, m, n, 0);
    if (rc) BS_DEBUG(LOG, "trace events not stored: %s", bs_strerror(rc));
    bs_arena_free(&a);
    bs_schema_release(s);
}

static const char *stage_of(uint8_t verb) {
    switch (verb) {
    case BS_VERB_READ:
    case BS_VERB_READ_RAW:
    case BS_VERB_RANGE_READ: return "ReadStage";
    default: return "MutationStage";
    }
}

void bs__job_trace_begin(bs_coord *c, bs__job *j) {
    if (!j->in.has_trace) return;
    j->trace = bs_trace_new(&j->in.trace, bs_clock_now_us(c->o.clock));
    if (!j->trace) return;
    bs_trace_thread_name(stage_of(j->in.verb));
    bs_trace_set_current(j->trace);
    BS_CQLTRACE("%s message received from /%s", bs__verb_name(j->in.verb), j->in.from.addr);
}

void bs__job_trace_end(bs_coord *c, bs__job *j) {
    if (!j->trace) return;
    trace_store(c, j->trace);
    bs_trace_set_current(NULL);
    bs_trace_release(j->trace);
    j->trace = NULL;
}

void bs__job_reply(bs_coord *c, bs__job *j, int status, const void *p, size_t len) {
    if (j->trace) {
        if (status)
            bs_trace_event(j->trace, "%s failed: %s", bs__verb_name(j->in.verb), bs_strerror(status));
        bs_trace_event(j->trace, "Enqueuing response to /%s", j->in.from.addr);
        bs__job_trace_end(c, j);
    }
    bs_msg_reply(c->msg, &j->in, status, p, len);
}

/* ---- reading system_traces from every node ------------------------------- */

static int call_done(bs__fan *f, void *ud) {
    (void)ud;
    for (size_t i = 0; i < f->n; i++)
        if (!f->calls[i].done) return 0;
    return 1;
}

static int ck_cmp(const bs_rowv *x, const bs_rowv *y) {
    size_t n = x->ck_len < y->ck_len ? x->ck_len : y->ck_len;
    int d = n ? memcmp(x->ck, y->ck, n) : 0;
    if (d) return d;
    return x->ck_len < y->ck_len ? -1 : x->ck_len > y->ck_len;
}

static int row_cmp_asc(const void *a, const void *b) { return ck_cmp(a, b); }
static int row_cmp_desc(const void *a, const void *b) { return ck_cmp(b, a); }

/* The union of parts[0..n) (NULLs skipped) into one partition. */
static bs_partv *merge_parts(bs_partv **parts, size_t n, const bs_slice *sl, bs_arena *a) {
    size_t total = 0;
    bs_partv *first = NULL;
    int limited = 0;
    for (size_t i = 0; i < n; i++)
        if (parts[i]) {
            total += parts[i]->nrows;
            limited |= parts[i]->limited;
            if (!first) first = parts[i];
        }
    if (!first) return NULL;
    bs_partv *o = bs_arena_calloc(a, sizeof *o);
    bs_rowv *rows = bs_arena_calloc(a, (total ? total : 1) * sizeof *rows);
    if (!o || !rows) return NULL;
    *o = *first;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (!parts[i]) continue;
        if (!o->static_row && parts[i]->static_row) o->static_row = parts[i]->static_row;
        for (size_t r = 0; r < parts[i]->nrows; r++) rows[k++] = parts[i]->rows[r];
    }
    int rev = sl && sl->reversed;
    qsort(rows, k, sizeof *rows, rev ? row_cmp_desc : row_cmp_asc);
    size_t u = 0;
    for (size_t r = 0; r < k; r++)
        if (!u || ck_cmp(&rows[u - 1], &rows[r])) rows[u++] = rows[r];
    if (sl && sl->limit > 0 && u > (size_t)sl->limit) {
        u = (size_t)sl->limit;
        limited = 1;
    }
    o->rows = rows;
    o->nrows = u;
    o->limited = limited;
    return o;
}

int bs__trace_read(bs_coord *c, const bs_table_schema *ts, int64_t token, const void *pk,
                   size_t pk_len, const bs_slice *sl, bs_arena *a, bs_partv **out,
                   bs_exec_err *err) {
    bs_ring_snapshot *r = c->mem.ring(c->mem.ud);
    if (!r) return c->lbe.read(c->lbe.ud, ts, token, pk, pk_len, sl, BS_CL_ONE, a, out, err);
    uint32_t nn = bs_ring_snapshot_node_count(r);
    bs__target *tg = calloc(nn ? nn : 1, sizeof *tg);
    bs_partv **parts = calloc(nn + 1, sizeof *parts);
    char cf[200];
    bs_table_cf_name(ts, cf, sizeof cf);
    bs_wire_read rd;
    memset(&rd, 0, sizeof rd);
    rd.table_id = ts->id;
    rd.cf = cf;
    rd.token = token;
    rd.pk = pk;
    rd.pk_len = pk_len;
    if (sl) rd.slice = *sl;
    if (!rd.slice.now_s) rd.slice.now_s = bs__coord_now_s(c);
    bs_buf pay = BS_BUF_INIT;
    bs__fan *f = NULL;
    int rc = -1;
    if (!tg || !parts || bs_wire_read_encode(&rd, &pay) || !(f = bs__fan_new(c, nn))) {
        err->code = BS_PROTO_ERR_SERVER;
        snprintf(err->msg, sizeof err->msg, "out of memory");
        goto out;
    }
    int64_t deadline = bs_clock_mono_ns() + (int64_t)c->o.read_timeout_ms * 1000000;
    for (uint32_t i = 0; i < nn; i++) {
        bs_ring_node_desc d;
        if (bs_ring_snapshot_node(r, i, &d)) {
            bs__fan_local(f, i, BS_ENOTFOUND);
            continue;
        }
        bs__fill_target(c, &tg[i], &d, 0);
        if (tg[i].local || !tg[i].alive) bs__fan_local(f, i, tg[i].local ? 0 : BS_EUNAVAIL);
        else bs__fan_send(f, i, &tg[i].peer, BS_VERB_READ, pay.data, pay.len, c->o.read_timeout_ms);
    }
    if (c->lbe.read(c->lbe.ud, ts, token, pk, pk_len, &rd.slice, BS_CL_ONE, a, &parts[nn], err))
        goto out;
    bs__fan_wait(f, call_done, NULL, deadline);
    pthread_mutex_lock(&f->lock);
    for (uint32_t i = 0; i < nn; i++) {
        bs__call *k = &f->calls[i];
        if (tg[i].local || !k->done || k->status || !k->resp) continue;
        uint8_t dg[16];
        char e[128];
        if (bs_wire_result_decode(k->resp, k->len, a, dg, &parts[i], e, sizeof e)) {
            BS_WARN(LOG, "bad system_traces read answer from %s: %s", tg[i].peer.addr, e);
            parts[i] = NULL;
        }
    }
    pthread_mutex_unlock(&f->lock);
    *out = merge_parts(parts, nn + 1, &rd.slice, a);
    rc = 0;
out:
    bs__fan_release(f);
    bs_buf_free(&pay);
    free(tg);
    free(parts);
    bs_ring_snapshot_release(r);
    return rc;
}
