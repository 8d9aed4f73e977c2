/*
 * coord_truncate.c - TRUNCATE on every node, as Cassandra does it.
 *
 * The coordinator refuses with Unavailable (CL ALL) when a node of the
 * ring is down, sends TRUNCATE (payload: the table's store name
 * "ks.table") to every other node, waits for all of them (range request
 * timeout), then truncates its own replica.  A node that fails or does
 * not answer makes the statement fail with a TRUNCATE_ERROR naming how
 * many did not; truncating again is harmless.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/log.h"
#include "node/coord/coord_int.h"

#define LOG "coord"

typedef struct all_done {
    size_t ok;
} all_done;

static int every_call_done(bs__fan *f, void *ud) {
    all_done *a = ud;
    size_t ok = 0, done = 0;
    for (size_t i = 0; i < f->n; i++) {
        done += f->calls[i].done;
        ok += f->calls[i].done && f->calls[i].status == 0;
    }
    a->ok = ok;
    return done == f->n;
}

int bs__coord_truncate(void *ud, const bs_table_schema *t, bs_exec_err *err) {
    bs_coord *c = ud;
    if (atomic_load(&c->drained)) return bs__drained_error(c, err);
    char cf[200];
    bs_table_cf_name(t, cf, sizeof cf);
    bs_ring_snapshot *r = c->mem.ring(c->mem.ud);
    bs_msg_peer *peers = NULL;
    size_t np = 0, down = 0, total = 0;
    if (r) {
        uint32_t nn = bs_ring_snapshot_node_count(r);
        peers = calloc(nn + 1, sizeof *peers);
        for (uint32_t i = 0; peers && i < nn; i++) {
            bs_ring_node_desc d;
            if (bs_ring_snapshot_node(r, i, &d)) continue;
            total++;
            if (!memcmp(d.host_id.b, c->self.b, 16)) continue;
            if (c->mem.alive(c->mem.ud, &d.host_id) <= 0 || bs__endpoint_of(c, &d.host_id, &peers[np]))
                down++;
            else
                np++;
        }
        bs_ring_snapshot_release(r);
    }
    if (down) {
        free(peers);
        err->code = BS_PROTO_ERR_UNAVAILABLE;
        err->cl = BS_CL_ALL;
        err->required = (int32_t)total;
        err->alive = (int32_t)(total - down);
        snprintf(err->msg, sizeof err->msg,
                 "Cannot achieve consistency level ALL: truncate needs every node up (%zu down)", down);
        return -1;
    }
    if (np) {
        bs__fan *f = bs__fan_new(c, np);
        if (!f) {
            free(peers);
            err->code = BS_PROTO_ERR_SERVER;
            snprintf(err->msg, sizeof err->msg, "out of memory");
            return -1;
        }
        for (size_t i = 0; i < np; i++)
            bs__fan_send(f, i, &peers[i], BS_VERB_TRUNCATE, cf, strlen(cf), c->o.range_timeout_ms);
        all_done a = {0};
        bs__fan_wait(f, every_call_done, &a,
                     bs_clock_mono_ns() + (int64_t)c->o.range_timeout_ms * 1000000);
        every_call_done(f, &a);
        bs__fan_release(f);
        if (a.ok != np) {
            free(peers);
            err->code = BS_PROTO_ERR_TRUNCATE;
            snprintf(err->msg, sizeof err->msg, "Truncate failed on %zu of %zu other nodes", np - a.ok, np);
            return -1;
        }
    }
    free(peers);
    return c->lbe.truncate(c->lbe.ud, t, err);
}

void bs__job_truncate(bs_coord *c, bs__job *j) {
    int rc = BS_EINVAL;
    char cf[256];
    if (j->len > 0 && j->len < sizeof cf) {
        memcpy(cf, j->data, j->len);
        cf[j->len] = 0;
        char *dot = strchr(cf, '.');
        bs_schema *s = c->lbe.schema_get(c->lbe.ud);
        const bs_table_schema *t = NULL;
        if (dot) {
            *dot = 0;
            t = bs_schema_table(s, cf, dot + 1);
        }
        if (t) {
            bs_exec_err err;
            memset(&err, 0, sizeof err);
            rc = c->lbe.truncate(c->lbe.ud, t, &err) ? BS_EIO : 0;
            if (rc) BS_WARN(LOG, "truncate for %s failed: %s", j->in.from.addr, err.msg);
        } else {
            rc = BS_ENOTFOUND;
        }
        bs_schema_release(s);
    }
    bs_msg_reply(c->msg, &j->in, rc, NULL, 0);
}
