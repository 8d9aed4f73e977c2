/*
 * exec_trace.c - CQL tracing in the executor: which requests are traced
 * (the frame's tracing flag, or the trace probability), the session's
 * events and rows, and the tracing id in the response.
 *
 * Storage: system_traces.sessions and system_traces.events are node-local
 * tables (system keyspace), as Cassandra 4.0 defines their columns.  Each
 * node writes its own events there when its part of the request is done
 * (the coordinator here, replicas in node/coord/coord_trace.c), with a
 * TTL of 24 h; the coordinator also writes the sessions row, duration
 * included, once the response is built, so a reader that sees the
 * duration also sees every event of the nodes that had answered.  A read
 * of system_traces gathers the rows of every live node
 * (node/coord/coord_trace.c), so any node answers a driver's
 * get_query_trace().
 *
 * Rows (one partition per session_id, serialized as its 16 bytes):
 *   sessions: client, command, coordinator, coordinator_port, duration
 *             (µs), parameters map, request, started_at (ms)
 *   events:   ck event_id = timeuuid(event time, lsb = hash of the
 *             source ^ event index), activity, source, source_elapsed,
 *             source_port, thread
 */
#include <arpa/inet.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/error.h"
#include "common/trace.h"
#include "query/exec_int.h"
#include "ring/murmur3.h"
#include "storage/keycodec.h"

/* ---- row building -------------------------------------------------------- */

typedef struct tb {
    bs_arena *a;
    const bs_table_schema *t;
    bs_mutation *m;
    size_t cap;
    int64_t ts;
    int32_t ttl;
    const uint8_t *ck;
    size_t ck_len;
} tb;

static int tb_op(tb *b, const char *col, const void *elem, size_t elen, const void *val,
                 size_t vlen) {
    const bs_column *c = bs_table_column(b->t, col);
    if (!c) return BS_EINVAL;
    if (b->m->nops == b->cap) return BS_ENOMEM;
    bs_mop *op = &b->m->ops[b->m->nops++];
    memset(op, 0, sizeof *op);
    op->kind = BS_MOP_CELL;
    op->col = c->id;
    op->ck = b->ck;
    op->ck_len = b->ck_len;
    op->has_elem = elem != NULL;
    op->elem = elem;
    op->elem_len = elen;
    op->val = bs_arena_memdup(b->a, vlen ? val : "", vlen ? vlen : 1);
    op->val_len = vlen;
    op->ts = b->ts;
    op->ttl = b->ttl;
    return op->val ? 0 : BS_ENOMEM;
}

static int tb_text(tb *b, const char *col, const char *v) {
    return v ? tb_op(b, col, NULL, 0, v, strlen(v)) : 0;
}

static int tb_int(tb *b, const char *col, int32_t v) {
    uint8_t x[4];
    bs_put_u32(x, (uint32_t)v);
    return tb_op(b, col, NULL, 0, x, 4);
}

static int tb_inet(tb *b, const char *col, const char *addr) {
    uint8_t x[16];
    if (!addr) return 0;
    if (inet_pton(AF_INET, addr, x) == 1) return tb_op(b, col, NULL, 0, x, 4);
    if (inet_pton(AF_INET6, addr, x) == 1) return tb_op(b, col, NULL, 0, x, 16);
    return 0; /* not an address: left null */
}

static int tb_begin(tb *b, const bs_schema *s, const char *table, const bs_uuid *id,
                    size_t nops, bs_mutation *m) {
    b->t = bs_schema_table(s, "system_traces", table);
    if (!b->t) return BS_ENOTFOUND;
    memset(m, 0, sizeof *m);
    char cf[64];
    bs_table_cf_name(b->t, cf, sizeof cf);
    m->table_id = b->t->id;
    m->cf = bs_arena_memdup(b->a, cf, strlen(cf) + 1);
    m->pk = bs_arena_memdup(b->a, id->b, 16);
    m->pk_len = 16;
    m->token = bs_ring_token(id->b, 16);
    m->ops = bs_arena_calloc(b->a, (nops ? nops : 1) * sizeof *m->ops);
    b->m = m;
    b->cap = nops;
    b->ck = NULL;
    b->ck_len = 0;
    return m->cf && m->pk && m->ops ? 0 : BS_ENOMEM;
}

static uint64_t src_hash(const char *s) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; s && *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

static int events_rows(tb *b, const bs_schema *s, const bs_uuid *id,
                       const bs_trace_snapshot *sn, const bs_exec_trace_info *ti,
                       bs_mutation *m) {
    int rc = tb_begin(b, s, "events", id, sn->nev * 6, m);
    const bs_type *ckt = b->t && b->t->nck ? b->t->cols[b->t->npk].type : NULL;
    uint64_t h = src_hash(ti->source) << 20;
    for (size_t i = 0; !rc && i < sn->nev; i++) {
        const bs_trace_ev *e = &sn->ev[i];
        bs_uuid eid;
        bs_uuid_v1_at(e->at_us, (h ^ (uint64_t)i) & 0x3fffffffffffffffull, &eid);
        bs_buf ck = BS_BUF_INIT;
        rc = bs_keycodec_encode(ckt, eid.b, 16, 0, &ck);
        if (!rc) {
            b->ck = bs_arena_memdup(b->a, ck.data, ck.len);
            b->ck_len = ck.len;
            if (!b->ck) rc = BS_ENOMEM;
        }
        bs_buf_free(&ck);
        if (!rc) rc = tb_text(b, "activity", e->activity);
        if (!rc) rc = tb_inet(b, "source", ti->source);
        if (!rc) rc = tb_int(b, "source_elapsed", e->elapsed_us);
        if (!rc && ti->source_port) rc = tb_int(b, "source_port", ti->source_port);
        if (!rc) rc = tb_text(b, "thread", e->thread);
    }
    return rc;
}

static int session_row(tb *b, const bs_schema *s, const bs_uuid *id,
                       const bs_trace_snapshot *sn, const bs_exec_trace_info *ti,
                       int64_t start_us, bs_mutation *m) {
    int rc = tb_begin(b, s, "sessions", id, 8 + sn->nparams, m);
    if (!rc) rc = tb_inet(b, "client", sn->client);
    if (!rc) rc = tb_text(b, "command", sn->command);
    if (!rc) rc = tb_inet(b, "coordinator", ti->source);
    if (!rc && ti->source_port) rc = tb_int(b, "coordinator_port", ti->source_port);
    if (!rc && ti->duration_us >= 0)
        rc = tb_int(b, "duration", ti->duration_us > INT32_MAX ? INT32_MAX : (int32_t)ti->duration_us);
    if (!rc) rc = tb_text(b, "request", sn->request);
    if (!rc) {
        uint8_t x[8];
        bs_put_u64(x, (uint64_t)(start_us / 1000));
        rc = tb_op(b, "started_at", NULL, 0, x, 8);
    }
    const bs_column *pc = b->t ? bs_table_column(b->t, "parameters") : NULL;
    for (size_t i = 0; !rc && pc && i < sn->nparams; i++) {
        bs_buf k = BS_BUF_INIT;
        rc = bs_keycodec_encode(pc->type->params[0], (const uint8_t *)sn->pkeys[i],
                                (int32_t)strlen(sn->pkeys[i]), 0, &k);
        const uint8_t *key = rc ? NULL : bs_arena_memdup(b->a, k.len ? k.data : (uint8_t *)"", k.len ? k.len : 1);
        size_t klen = k.len;
        bs_buf_free(&k);
        if (!rc && !key) rc = BS_ENOMEM;
        if (!rc) rc = tb_op(b, "parameters", key, klen, sn->pvals[i], strlen(sn->pvals[i]));
    }
    return rc;
}

int bs_exec_trace_rows(const bs_schema *s, bs_trace *t, const bs_exec_trace_info *ti,
                       bs_arena *a, bs_mutation **out, size_t *n) {
    bs_trace_snapshot sn;
    if (bs_trace_snapshot_get(t, &sn)) return BS_ENOMEM;
    bs_mutation *m = bs_arena_calloc(a, 2 * sizeof *m);
    tb b = {a, NULL, NULL, 0, ti->now_us, ti->ttl_s, NULL, 0};
    int rc = m ? 0 : BS_ENOMEM;
    size_t nm = 0;
    if (!rc && sn.nev) {
        rc = events_rows(&b, s, bs_trace_id(t), &sn, ti, &m[nm]);
        nm++;
    }
    if (!rc && ti->with_session) {
        rc = session_row(&b, s, bs_trace_id(t), &sn, ti, bs_trace_start_us(t), &m[nm]);
        nm++;
    }
    bs_trace_snapshot_free(&sn);
    if (rc) return rc;
    *out = m;
    *n = nm;
    return 0;
}

/* ---- the coordinator's side ----------------------------------------------- */

void bs_exec_set_trace_probability(bs_exec *x, double p) {
    if (!(p >= 0)) p = 0; /* NaN too */
    if (p > 1) p = 1;
    atomic_store(&x->trace_ppm, (int64_t)(p * 1000000.0 + 0.5));
}

double bs_exec_trace_probability(bs_exec *x) {
    return (double)atomic_load(&x->trace_ppm) / 1000000.0;
}

static _Thread_local uint64_t tl_rand;

static int sampled(bs_exec *x) {
    int64_t ppm = atomic_load_explicit(&x->trace_ppm, memory_order_relaxed);
    if (ppm <= 0) return 0;
    if (ppm >= 1000000) return 1;
    if (!tl_rand) tl_rand = (uint64_t)bs_clock_mono_ns() | 1;
    tl_rand ^= tl_rand << 13; /* xorshift64 */
    tl_rand ^= tl_rand >> 7;
    tl_rand ^= tl_rand << 17;
    return (int64_t)(tl_rand % 1000000) < ppm;
}

static const char *cl_text(uint16_t cl) {
    static const char *const n[] = {"ANY",    "ONE",          "TWO",    "THREE",
                                    "QUORUM", "ALL",          "LOCAL_QUORUM",
                                    "EACH_QUORUM", "SERIAL", "LOCAL_SERIAL", "LOCAL_ONE"};
    return cl < sizeof n / sizeof *n ? n[cl] : "ONE";
}

bs_trace *bs__x_trace_begin(xctx *c, const bs_proto_request *req) {
    if (req->opcode != BS_PROTO_OP_QUERY && req->opcode != BS_PROTO_OP_EXECUTE &&
        req->opcode != BS_PROTO_OP_BATCH && req->opcode != BS_PROTO_OP_PREPARE)
        return NULL;
    if (!req->prelude.trace_request && !sampled(c->x)) return NULL;
    bs_uuid id;
    bs_uuid_v1(bs_clock_default(), &id); /* a timeuuid, as Cassandra's session ids */
    bs_trace *t = bs_trace_new(&id, c->now_us);
    if (!t) return NULL;
    bs_trace_thread_name("Native-Transport-Requests");
    bs_trace_set_client(t, c->sess->client[0] ? c->sess->client : NULL);
    /* command and request as Cassandra 4.0 names them; the statement
     * goes to parameters['query'] */
    char q[2048] = "";
    const char *cmd = "QUERY", *what = "Execute CQL3 query";
    uint16_t cl = BS_CL_ONE;
    switch (req->opcode) {
    case BS_PROTO_OP_QUERY:
        snprintf(q, sizeof q, "%.*s", (int)req->u.query.query.len, req->u.query.query.p);
        cl = req->u.query.params.consistency;
        break;
    case BS_PROTO_OP_PREPARE:
        snprintf(q, sizeof q, "%.*s", (int)req->u.prepare.query.len, req->u.prepare.query.p);
        what = "Preparing CQL3 query";
        break;
    case BS_PROTO_OP_EXECUTE:
        what = "Execute CQL3 prepared query";
        cl = req->u.execute.params.consistency;
        break;
    default:
        what = "Execute batch of CQL3 queries";
        cl = req->u.batch.consistency;
        break;
    }
    bs_trace_set_request(t, cmd, what);
    bs_trace_add_param(t, "consistency_level", cl_text(cl));
    if (q[0]) bs_trace_add_param(t, "query", q);
    return t;
}

/* The address and internode port of this node (system.local's). */
static void self_addr(xctx *c, char *addr, size_t cap, int *port) {
    bs_exec_node self;
    bs_exec_node *peers = NULL;
    size_t np = 0;
    memset(&self, 0, sizeof self);
    snprintf(addr, cap, "127.0.0.1");
    *port = 0;
    if (!c->x->be.nodes || c->x->be.nodes(c->x->be.ud, c->a, &self, &peers, &np)) return;
    if (self.address) snprintf(addr, cap, "%s", self.address);
    *port = self.storage_port;
}

void bs__x_trace_end(xctx *c, bs_trace *t, size_t before, int set_flag) {
    char addr[64];
    bs_exec_trace_info ti;
    memset(&ti, 0, sizeof ti);
    self_addr(c, addr, sizeof addr, &ti.source_port);
    ti.source = addr;
    ti.with_session = 1;
    ti.duration_us = bs_trace_elapsed_us(t);
    ti.now_us = c->x->be.now_us(c->x->be.ud);
    ti.ttl_s = BS_TRACE_TTL_S;
    bs_mutation *m;
    size_t n;
    if (!bs_exec_trace_rows(c->schema, t, &ti, c->a, &m, &n)) {
        bs_exec_err err;
        memset(&err, 0, sizeof err);
        /* system_traces is node-local: this is a local write */
        (void)c->x->be.write(c->x->be.ud, m, n, BS_CL_ONE, 0, &err);
    }
    if (set_flag && c->out->len > before)
        (void)bs_proto_frame_add_tracing(c->out, before, bs_trace_id(t)->b, c->comp);
}
