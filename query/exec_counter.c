/*
 * exec_counter.c - the executor's side of counter tables: which tables
 * and statements are counter ones, Cassandra's rules on mixing counter
 * and other statements in a batch, and the hand-off of counter
 * mutations to the backend's counter write path.
 *
 * An UPDATE on a counter table turns `c = c + n` / `c = c - n` into a
 * BS_MOP_COUNTER_ADD op (exec_write.c); DELETEs are ordinary tombstones.
 * Whatever the statement, the mutations of a counter table go through
 * bs_exec_backend.counter_write, which applies each increment exactly
 * once on a leader replica and replicates the resulting shard (node/coord/
 * coord_counter.c; storage layout in query/counter.h).
 */
#include <string.h>

#include "query/exec_int.h"

int bs__x_is_counter_table(const bs_table_schema *t) {
    for (size_t i = t->npk + t->nck; i < t->ncols; i++)
        if (t->cols[i].type->kind == BS_TYPE_COUNTER) return 1;
    return 0;
}

/* The table a modification statement names, or NULL (error set). */
static const bs_table_schema *stmt_table(xctx *c, const bs_cql_stmt *s) {
    const bs_cql_qname *q = s->kind == BS_CQL_STMT_INSERT   ? &s->u.insert.table
                            : s->kind == BS_CQL_STMT_UPDATE ? &s->u.update.table
                                                            : &s->u.del.table;
    const bs_table_schema *t = NULL;
    if (bs__x_table(c, q, &t)) return NULL;
    return t;
}

int bs__x_batch_counter_check(xctx *c, int kind, int ts_set, bs_cql_stmt *const *stmts,
                              size_t n) {
    int has_counters = 0, has_others = 0;
    for (size_t i = 0; i < n; i++) {
        const bs_table_schema *t = stmt_table(c, stmts[i]);
        if (!t) return -1;
        int is_counter = bs__x_is_counter_table(t);
        if (ts_set && is_counter)
            return XINVALID(c, "Cannot provide custom timestamp for a BATCH containing counters");
        if (kind == BS_CQL_BATCH_COUNTER && !is_counter)
            return XINVALID(c, "Cannot include non-counter statement in a counter batch");
        if (kind == BS_CQL_BATCH_LOGGED && is_counter)
            return XINVALID(c, "Cannot include a counter statement in a logged batch");
        has_counters |= is_counter;
        has_others |= !is_counter;
    }
    if (has_counters && has_others)
        return XINVALID(c, "Counter and non-counter mutations cannot exist in the same batch");
    return 0;
}

int bs__x_counter_muts(const bs__x_muts *mv) {
    for (size_t i = 0; i < mv->n; i++)
        for (size_t k = 0; k < mv->m[i].nops; k++)
            if (mv->m[i].ops[k].kind == BS_MOP_COUNTER_ADD) return 1;
    return 0;
}

int bs__x_counter_apply(xctx *c, const bs__x_muts *mv) {
    if (!c->x->be.counter_write)
        return XINVALID(c, "counter writes are not supported by this node");
    if (c->cl == BS_CL_ANY) {
        const char *cf = mv->n ? mv->m[0].cf : "?";
        const char *dot = strchr(cf, '.');
        return XINVALID(c, "Consistency level ANY is not yet supported for counter table %s",
                        dot ? dot + 1 : cf);
    }
    bs_exec_err err;
    memset(&err, 0, sizeof err);
    if (c->x->be.counter_write(c->x->be.ud, mv->m, mv->n, c->cl, &err)) {
        c->failed = 1;
        c->err = err;
        /* what the driver's retry policy looks at: a timed-out counter
         * write is never retried (it may have been applied) */
        if (c->err.code == BS_PROTO_ERR_WRITE_TIMEOUT || c->err.code == BS_PROTO_ERR_WRITE_FAILURE)
            c->err.write_type = "COUNTER";
        return -1;
    }
    return 0;
}
