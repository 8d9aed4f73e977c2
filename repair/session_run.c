/*
 * session_run.c - the repair session driver (steps 1-4 of session.h):
 * ranges, replicas, tree comparison, digest lists and streaming between
 * replicas; the session's report, its row in system.repair_history, and
 * per-node checksums.
 *
 * Session invariants: a range is only compared when every replica is
 * alive and answered; a failing replica makes the range "failed" and the
 * session moves on.  Streaming only ever adds record versions to a
 * replica (merged by LWW), so a partially streamed range is safe and a
 * later session finishes it (resume = run again; only what still differs
 * moves).
 *
 * Everything the session knows of the cluster (ring, liveness,
 * endpoints, the tables and their placement) comes from bs_repair_env.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/error.h"
#include "common/json.h"
#include "common/log.h"
#include "repair/session_int.h"

#define LOG BS__REPAIR_LOG

/* ------------------------------------------------------------------ */
/* Session                                                             */
/* ------------------------------------------------------------------ */

typedef struct replica {
    bs_uuid host;
    int local;
    bs_repair_peer peer;
    char addr[BS_REPAIR_ADDRLEN];
    char dc[64];
} replica;

static int replica_of(bs_repair *r, const bs_ring_snapshot *snap, uint32_t idx,
                      replica *out) {
    bs_ring_node_desc d;
    int rc = bs_ring_snapshot_node(snap, idx, &d);
    if (rc) return rc;
    memset(out, 0, sizeof *out);
    out->host = d.host_id;
    out->local = !memcmp(d.host_id.b, r->env.self.b, 16);
    snprintf(out->dc, sizeof out->dc, "%s", d.dc ? d.dc : "");
    rc = r->env.endpoint(r->env.ud, &d, &out->peer);
    if (rc && !out->local) return rc;
    snprintf(out->addr, sizeof out->addr, "%s",
             out->local && rc ? "local" : out->peer.addr);
    return 0;
}

/* Non-wrapping pieces (lo, hi] of a ring range (token INT64_MIN is never
 * owned, so it is left out). */
static int pieces(int64_t s, int64_t e, int64_t lo[2], int64_t hi[2]) {
    int n = 0;
    if (s < e) {
        lo[n] = s;
        hi[n++] = e;
    } else {
        if (s < INT64_MAX) {
            lo[n] = s;
            hi[n++] = INT64_MAX;
        }
        if (e > INT64_MIN) {
            lo[n] = INT64_MIN;
            hi[n++] = e;
        }
    }
    return n;
}

/* (s, e] ∩ (a, b] as up to 4 ranges. */
static int intersect(int64_t s, int64_t e, int64_t a, int64_t b,
                     bs_merkle_range out[4]) {
    int64_t l1[2], h1[2], l2[2], h2[2];
    int n1 = pieces(s, e, l1, h1), n2 = pieces(a, b, l2, h2), k = 0;
    for (int i = 0; i < n1; i++)
        for (int j = 0; j < n2; j++) {
            int64_t lo = l1[i] > l2[j] ? l1[i] : l2[j];
            int64_t hi = h1[i] < h2[j] ? h1[i] : h2[j];
            if (lo < hi) out[k++] = (bs_merkle_range){lo, hi};
        }
    return k;
}

static int failed_before(const bs_repair *r, const bs_uuid *h) {
    for (size_t i = 0; i < r->nfailed; i++)
        if (!memcmp(r->failed[i].b, h->b, 16)) return 1;
    return 0;
}

/* A replica that did not answer is not asked again in this session: its
 * other ranges fail at once instead of waiting for a timeout each. */
static void mark_failed(bs_repair *r, const bs_uuid *h) {
    if (!failed_before(r, h) &&
        r->nfailed < sizeof r->failed / sizeof r->failed[0])
        r->failed[r->nfailed++] = *h;
}

static void fail_range(bs_repair_report *rep, const char *cf,
                       const bs_merkle_range *rg, const char *fmt,
                       const char *who, int rc) {
    rep->ranges_failed++;
    char msg[256];
    snprintf(msg, sizeof msg, fmt, who, bs_strerror(rc));
    BS_WARN(LOG, "%s (%lld, %lld]: %s", cf, (long long)rg->start,
            (long long)rg->end, msg);
    if (!rep->first_error[0]) {
        char full[600];
        snprintf(full, sizeof full, "%s (%lld,%lld]: %s", cf,
                 (long long)rg->start, (long long)rg->end, msg);
        snprintf(rep->first_error, sizeof rep->first_error, "%.255s", full);
    }
}

static int fetch_tree(bs_repair *r, const replica *rp, const char *cf,
                      const bs_merkle_range *rg, unsigned depth,
                      bs_merkle **out) {
    if (rp->local)
        return bs__repair_do_tree(r, cf, rg->start, rg->end, depth, out);
    bs_buf b = BS_BUF_INIT;
    int rc = bs__repair_req_encode(&b, cf, &rg->start, &rg->end, 1);
    if (!rc && bs_buf_append_u8(&b, (uint8_t)depth)) rc = BS_ENOMEM;
    uint8_t *p = NULL;
    size_t len = 0;
    if (!rc)
        rc = bs__repair_call(r, &rp->peer, BS_VERB_REPAIR_TREE, &b,
                             r->o.tree_timeout_ms, &p, &len);
    bs_buf_free(&b);
    if (!rc) {
        rc = bs_merkle_decode(p, len, out);
        if (!rc) {
            bs_merkle_range got;
            bs_merkle_get_range(*out, &got);
            if (got.start != rg->start || got.end != rg->end ||
                bs_merkle_depth(*out) != depth) {
                bs_merkle_free(*out);
                rc = BS_EPROTO;
            }
        }
    }
    free(p);
    return rc;
}

static int fetch_digests(bs_repair *r, const replica *rp, const char *cf,
                         const int64_t *s, const int64_t *e, size_t n,
                         bs_stream_digest **out, size_t *nout) {
    bs_buf b = BS_BUF_INIT;
    int rc;
    if (rp->local) {
        rc = bs__repair_do_digests(r, cf, s, e, n, &b);
        if (!rc) rc = bs_stream_digests_parse(b.data, b.len, out, nout);
        bs_buf_free(&b);
        return rc;
    }
    rc = bs__repair_req_encode(&b, cf, s, e, (uint32_t)n);
    uint8_t *p = NULL;
    size_t len = 0;
    if (!rc)
        rc = bs__repair_call(r, &rp->peer, BS_VERB_REPAIR_DIGESTS, &b,
                             r->o.tree_timeout_ms, &p, &len);
    bs_buf_free(&b);
    if (!rc) rc = bs_stream_digests_parse(p, len, out, nout);
    free(p);
    return rc;
}

static int run_send(bs_repair *r, const replica *src, const replica *dst,
                    const char *cf, const int64_t *s, const int64_t *e,
                    size_t n, bs_stream_digest *want, size_t nwant,
                    uint64_t res[3]) {
    bs_stream_digests_sort(want, nwant);
    if (src->local)
        return bs__repair_do_send(r, cf, s, e, n, &dst->peer, want, nwant, 0, res);
    bs_buf b = BS_BUF_INIT;
    int rc = bs__repair_req_encode(&b, cf, s, e, (uint32_t)n);
    if (!rc) rc = bs__repair_req_encode_target(&b, &dst->peer);
    for (size_t i = 0; i < nwant && !rc; i++)
        rc = bs_stream_digest_append(&b, &want[i]);
    uint8_t *p = NULL;
    size_t len = 0;
    if (!rc)
        rc = bs__repair_call(r, &src->peer, BS_VERB_REPAIR_SEND, &b,
                             r->o.send_timeout_ms, &p, &len);
    bs_buf_free(&b);
    if (!rc) {
        if (len != 24)
            rc = BS_EPROTO;
        else
            for (int i = 0; i < 3; i++)
                res[i] = bs_get_u64(p + 8 * i);
    }
    free(p);
    return rc;
}

/* One version of one record and which replicas hold it. */
typedef struct version {
    uint64_t key_hash, rec_hash;
    uint32_t size;
    uint32_t holders; /* bit i: replica i */
} version;

static int vcmp(const void *a, const void *b) {
    const version *x = a, *y = b;
    if (x->key_hash != y->key_hash) return x->key_hash < y->key_hash ? -1 : 1;
    if (x->rec_hash != y->rec_hash) return x->rec_hash < y->rec_hash ? -1 : 1;
    return 0;
}

#define MAX_REPLICAS 32

/* Steps 3 and 4 of repair.h for the differing sub-ranges of one range. */
static int sync_range(bs_repair *r, const char *cf, const replica *reps,
                      size_t nrep, const bs_merkle_range *sub, size_t nsub,
                      bs_repair_report *rep) {
    int64_t *s = malloc(nsub * sizeof *s), *e = malloc(nsub * sizeof *e);
    version *v = NULL;
    size_t nv = 0;
    int rc = (s && e) ? 0 : BS_ENOMEM;
    for (size_t i = 0; i < nsub && !rc; i++) {
        s[i] = sub[i].start;
        e[i] = sub[i].end;
    }
    for (size_t i = 0; i < nrep && !rc; i++) {
        bs_stream_digest *d = NULL;
        size_t nd = 0;
        rc = fetch_digests(r, &reps[i], cf, s, e, nsub, &d, &nd);
        if (rc) {
            fail_range(rep, cf, &sub[0], "digests from %s: %s", reps[i].addr,
                       rc);
            rc = 1;
            break;
        }
        version *nvv = nd ? realloc(v, (nv + nd) * sizeof *v) : v;
        if (nd && !nvv)
            rc = BS_ENOMEM;
        else
            v = nvv;
        for (size_t k = 0; k < nd && !rc; k++)
            v[nv++] =
                (version){d[k].key_hash, d[k].rec_hash, d[k].size, 1u << i};
        free(d);
    }
    if (!rc && nv) {
        /* merge equal versions: holders = union */
        qsort(v, nv, sizeof *v, vcmp);
        size_t k = 0;
        for (size_t i = 0; i < nv; i++) {
            if (k && !vcmp(&v[k - 1], &v[i]))
                v[k - 1].holders |= v[i].holders;
            else
                v[k++] = v[i];
        }
        nv = k;
        uint32_t all = nrep >= 32 ? 0xffffffffu : (1u << nrep) - 1;
        /* Per (source, target) the wanted digests.  Pass 0 moves the
         * versions a majority holds, pass 1 the others: a stale replica's
         * old versions are usually overwritten by pass 0, and its source
         * walk in pass 1 then no longer finds (and sends) them. */
        for (int pass = 0; pass < 2 && !rc; pass++)
            for (size_t src = 0; src < nrep && !rc; src++)
                for (size_t dst = 0; dst < nrep && !rc; dst++) {
                    if (src == dst) continue;
                    bs_stream_digest *want = NULL;
                    size_t nw = 0, cap = 0;
                    for (size_t i = 0; i < nv && !rc; i++) {
                        /* dst lacks it and src is its first holder */
                        if (v[i].holders & (1u << dst)) continue;
                        if ((uint32_t)__builtin_ctz(v[i].holders) != src)
                            continue;
                        int majority =
                            2 * (size_t)__builtin_popcount(v[i].holders) > nrep;
                        if (majority != (pass == 0)) continue;
                        if (nw == cap) {
                            cap = cap ? cap * 2 : 64;
                            bs_stream_digest *p =
                                realloc(want, cap * sizeof *p);
                            if (!p) {
                                rc = BS_ENOMEM;
                                break;
                            }
                            want = p;
                        }
                        want[nw++] = (bs_stream_digest){
                            v[i].key_hash, v[i].rec_hash, v[i].size};
                    }
                    if (!rc && nw) {
                        uint64_t res[3] = {0, 0, 0};
                        int src_rc = run_send(r, &reps[src], &reps[dst], cf, s,
                                              e, nsub, want, nw, res);
                        rep->streams++;
                        rep->rows_streamed += res[0];
                        rep->bytes_streamed += res[1];
                        if (src_rc) {
                            char who[2 * BS_REPAIR_ADDRLEN + 8];
                            snprintf(who, sizeof who, "%s -> %s",
                                     reps[src].addr, reps[dst].addr);
                            fail_range(rep, cf, &sub[0], "stream %s: %s", who,
                                       src_rc);
                            rc = 1;
                        }
                    }
                    free(want);
                }
        for (size_t i = 0; i < nv; i++)
            if (v[i].holders != all) {
                rep->rows_differed++;
                rep->bytes_differed += v[i].size;
            }
    }
    free(v);
    free(s);
    free(e);
    return rc;
}

typedef struct tree_job {
    bs_repair *r;
    const replica *reps;
    size_t nrep;
    const char *dc, *cf;
    const bs_merkle_range *rg;
    unsigned depth;
    bs_merkle **trees;
    int *rcs;
} tree_job;

/* The trees of the replicas of job->dc, one after another. */
static void *tree_thread(void *ud) {
    tree_job *j = ud;
    for (size_t i = 0; i < j->nrep; i++)
        if (!strcmp(j->reps[i].dc, j->dc))
            j->rcs[i] = fetch_tree(j->r, &j->reps[i], j->cf, j->rg, j->depth,
                                   &j->trees[i]);
    return NULL;
}

/* Every replica's tree of rg into trees[i] / rcs[i].  In turn, stopping
 * at the first failure; with dc_parallel, one thread per datacenter. */
static void fetch_trees(bs_repair *r, const replica *reps, size_t nrep,
                        const char *cf, const bs_merkle_range *rg,
                        unsigned depth, bs_merkle **trees, int *rcs) {
    for (size_t i = 0; i < nrep; i++) rcs[i] = 0;
    if (!r->dc_parallel) {
        for (size_t i = 0; i < nrep; i++)
            if ((rcs[i] = fetch_tree(r, &reps[i], cf, rg, depth, &trees[i])))
                return;
        return;
    }
    tree_job jobs[MAX_REPLICAS];
    pthread_t th[MAX_REPLICAS];
    int started[MAX_REPLICAS] = {0};
    size_t nj = 0;
    for (size_t i = 0; i < nrep; i++) {
        int seen = 0;
        for (size_t k = 0; k < nj && !seen; k++) seen = !strcmp(jobs[k].dc, reps[i].dc);
        if (seen) continue;
        jobs[nj] = (tree_job){r, reps, nrep, reps[i].dc, cf, rg, depth, trees, rcs};
        started[nj] = nj > 0 && !pthread_create(&th[nj], NULL, tree_thread, &jobs[nj]);
        nj++;
    }
    /* the first DC on this thread, and any whose thread did not start */
    for (size_t k = 0; k < nj; k++)
        if (!started[k]) tree_thread(&jobs[k]);
    for (size_t k = 0; k < nj; k++)
        if (started[k]) pthread_join(th[k], NULL);
}

/* Repairs one range of one table among its replicas. */
static int repair_range(bs_repair *r, const char *cf, bs_table *lt,
                        const bs_merkle_range *rg, const replica *reps,
                        size_t nrep, bs_repair_report *rep) {
    for (size_t i = 0; i < nrep; i++)
        if (!reps[i].local && (r->env.alive(r->env.ud, &reps[i].host) != 1 ||
                               failed_before(r, &reps[i].host))) {
            fail_range(rep, cf, rg, "replica %s: %s", reps[i].addr,
                       BS_EUNAVAIL);
            return 0;
        }
    uint64_t approx = 0;
    bs_store_approx_size(lt, rg->start, rg->end, &approx);
    unsigned depth = bs_merkle_depth_for(approx / 64);
    bs_merkle *trees[MAX_REPLICAS] = {0};
    int rc = 0;
    for (int round = 0; round < 2; round++) {
        for (size_t i = 0; i < nrep; i++) {
            bs_merkle_free(trees[i]);
            trees[i] = NULL;
        }
        uint64_t maxrows = 0;
        int rcs[MAX_REPLICAS];
        fetch_trees(r, reps, nrep, cf, rg, depth, trees, rcs);
        for (size_t i = 0; i < nrep && !rc; i++) {
            rc = rcs[i];
            if (rc) {
                fail_range(rep, cf, rg, "tree from %s: %s", reps[i].addr, rc);
                if (rc == BS_ETIMEDOUT || rc == BS_EOVERLOAD ||
                    rc == BS_ECLOSED)
                    mark_failed(r, &reps[i].host);
                rc = 1; /* counted */
            } else if (bs_merkle_rows(trees[i]) > maxrows)
                maxrows = bs_merkle_rows(trees[i]);
        }
        if (rc) break;
        int same = 1;
        for (size_t i = 1; i < nrep; i++)
            same &= bs_merkle_root(trees[i]) == bs_merkle_root(trees[0]);
        unsigned want = bs_merkle_depth_for(maxrows);
        if (same || want <= depth || round == 1) break;
        depth = want; /* too coarse for the data: ask again, deeper */
    }
    if (rc) goto out;
    rep->ranges_compared++;
    /* leaves where any replica differs from the first */
    size_t nl = bs_merkle_leaf_count(trees[0]);
    uint8_t *diff = calloc(nl, 1);
    if (!diff) {
        rc = BS_ENOMEM;
        goto out;
    }
    size_t ndiff = 0;
    for (size_t i = 1; i < nrep && !rc; i++) {
        size_t *lv, n;
        rc = bs_merkle_diff(trees[0], trees[i], &lv, &n);
        for (size_t k = 0; k < n && !rc; k++)
            if (!diff[lv[k]]) {
                diff[lv[k]] = 1;
                ndiff++;
            }
        if (!rc) free(lv);
    }
    if (!rc && !ndiff) {
        rep->ranges_in_sync++;
    } else if (!rc) {
        rep->ranges_mismatched++;
        rep->leaves_mismatched += ndiff;
        size_t *lv = malloc(ndiff * sizeof *lv), k = 0;
        bs_merkle_range *sub = NULL;
        size_t nsub = 0;
        if (!lv) rc = BS_ENOMEM;
        for (size_t i = 0; i < nl && lv; i++)
            if (diff[i]) lv[k++] = i;
        /* Digest lists and wanted sets stay bounded (messages have a size
         * limit): the mismatching leaves go in groups of about
         * digest_batch_records records. */
        uint64_t maxrows = 0;
        for (size_t i = 0; i < nrep; i++)
            if (bs_merkle_rows(trees[i]) > maxrows)
                maxrows = bs_merkle_rows(trees[i]);
        uint64_t per_leaf = maxrows / nl + 1;
        size_t group = (size_t)(r->o.digest_batch_records / per_leaf);
        if (!group) group = 1;
        BS_INFO(LOG, "%s (%lld, %lld]: %zu of %zu leaves differ (depth %u)", cf,
                (long long)rg->start, (long long)rg->end, ndiff, nl,
                bs_merkle_depth(trees[0]));
        for (size_t g = 0; !rc && g < ndiff; g += group) {
            size_t cnt = ndiff - g < group ? ndiff - g : group;
            rc = bs_merkle_leaves_to_ranges(trees[0], lv + g, cnt, &sub, &nsub);
            if (!rc) rc = sync_range(r, cf, reps, nrep, sub, nsub, rep);
            free(sub);
            sub = NULL;
            if (rc > 0) { /* the range failed and is counted; go on */
                rc = 0;
                break;
            }
        }
        free(lv);
    }
    free(diff);
out:
    for (size_t i = 0; i < nrep; i++)
        bs_merkle_free(trees[i]);
    if (rc < 0) fail_range(rep, cf, rg, "%s%s", "", rc);
    return 0;
}

/* 1 when ring member idx is in one of o's datacenters. */
static int dc_chosen(const bs_repair_run_opts *o, const bs_ring_snapshot *snap,
                     uint32_t idx) {
    bs_ring_node_desc d;
    if (bs_ring_snapshot_node(snap, idx, &d) || !d.dc) return 0;
    for (size_t i = 0; i < o->ndcs; i++)
        if (!strcmp(o->dcs[i], d.dc)) return 1;
    return 0;
}

/* The datacenter set of o is usable: each has a ring member and this
 * node (ring member self) is in one of them.  0 or BS_ENOTFOUND /
 * BS_EINVAL with the message in rep->first_error. */
static int check_dcs(const bs_repair_run_opts *o, const bs_ring_snapshot *snap,
                     uint32_t self, bs_repair_report *rep) {
    uint32_t n = bs_ring_snapshot_node_count(snap);
    for (size_t i = 0; i < o->ndcs; i++) {
        int found = 0;
        for (uint32_t k = 0; k < n && !found; k++) {
            bs_ring_node_desc d;
            found = !bs_ring_snapshot_node(snap, k, &d) && d.dc &&
                    !strcmp(d.dc, o->dcs[i]);
        }
        if (!found) {
            snprintf(rep->first_error, sizeof rep->first_error,
                     "unknown datacenter '%.100s'", o->dcs[i]);
            return BS_ENOTFOUND;
        }
    }
    if (!o->ndcs || dc_chosen(o, snap, self)) return 0;
    bs_ring_node_desc me;
    bs_ring_snapshot_node(snap, self, &me);
    snprintf(rep->first_error, sizeof rep->first_error,
             "the datacenters to repair must include this node's own (%.100s): "
             "run the repair on a node of one of them",
             me.dc ? me.dc : "?");
    return BS_EINVAL;
}

static int repair_table(bs_repair *r, const char *cf,
                        const bs_ring_replica_map *map, uint32_t self_idx,
                        const bs_repair_run_opts *o, bs_repair_report *rep) {
    bs_table *lt;
    int rc = bs_store_table_get(r->store, cf, &lt);
    if (rc) return rc;
    rep->tables++;
    bs_ring_range *ranges = NULL;
    size_t nr = 0;
    rc = bs_ring_replica_map_ranges(map, self_idx, &ranges, &nr);
    if (rc) return rc;
    const bs_ring_snapshot *snap = bs_ring_replica_map_snapshot(map);
    for (size_t i = 0; i < nr && !rc; i++) {
        const uint32_t *nodes;
        size_t nn;
        if (bs_ring_replica_map_lookup(map, ranges[i].end, &nodes, &nn))
            continue;
        if (o->primary_only && (!nn || nodes[0] != self_idx)) continue;
        if (nn > MAX_REPLICAS) nn = MAX_REPLICAS;
        replica reps[MAX_REPLICAS];
        size_t nrep = 0;
        int unknown = 0;
        for (size_t k = 0; k < nn; k++) {
            if (o->ndcs && !dc_chosen(o, snap, nodes[k])) continue;
            if (!replica_of(r, snap, nodes[k], &reps[nrep]))
                nrep++;
            else
                unknown = 1;
        }
        if (nrep + unknown < 2) continue; /* nothing to compare with */
        bs_merkle_range parts[4];
        int np = 1;
        parts[0] = (bs_merkle_range){ranges[i].start, ranges[i].end};
        if (o->has_range)
            np = intersect(ranges[i].start, ranges[i].end, o->range_start,
                           o->range_end, parts);
        for (int p = 0; p < np; p++) {
            if (unknown) /* a replica we cannot address: never skip it */
                fail_range(rep, cf, &parts[p], "replica %s: %s", "endpoint",
                           BS_ENOTFOUND);
            else
                rc = repair_range(r, cf, lt, &parts[p], reps, nrep, rep);
        }
        if (!rc && bs__repair_stopping(r)) rc = BS_ECLOSED;
    }
    free(ranges);
    return rc;
}

static void write_history(bs_repair *r, const bs_repair_run_opts *o,
                          const bs_repair_report *rep) {
    if (!r->history) return;
    bs_buf js = BS_BUF_INIT;
    if (bs_repair_report_json(rep, &js)) {
        bs_buf_free(&js);
        return;
    }
    /* partition "history", clustering = started_ms (8 bytes BE) + session id;
     * column 16: the keyspace/table asked for, column 17: the report JSON */
    uint8_t ck[24];
    bs_put_u64(ck, (uint64_t)rep->started_ms);
    memcpy(ck + 8, rep->session.b, 16);
    bs_rowkey rk = {0, "history", 7, ck, sizeof ck, 0};
    char what[600];
    snprintf(what, sizeof what, "%s.%s", o->keyspace ? o->keyspace : "*",
             o->table ? o->table : "*");
    int64_t ts = bs_clock_now_us(NULL);
    bs_batch *b;
    if (!bs_batch_new(r->store, &b)) {
        int rc = bs_batch_row_marker(b, r->history, &rk, ts, 0);
        if (!rc)
            rc = bs_batch_put_cell(b, r->history, &rk, 16, NULL, 0, what,
                                   strlen(what), ts, 0);
        if (!rc)
            rc = bs_batch_put_cell(b, r->history, &rk, 17, NULL, 0, js.data,
                                   js.len, ts, 0);
        if (!rc) rc = bs_store_write(r->store, b);
        if (rc)
            BS_WARN(LOG, "cannot write repair history: %s", bs_strerror(rc));
        bs_batch_free(b);
    }
    bs_buf_free(&js);
}

int bs_repair_history(bs_repair *r, uint32_t limit, bs_buf *out) {
    bs_slice sl;
    memset(&sl, 0, sizeof sl);
    sl.reversed = 1; /* clustering = start time: newest first */
    sl.limit = limit;
    bs_arena a;
    bs_arena_init(&a, 0);
    bs_partv *p = NULL;
    int rc = r->history
                 ? bs_store_read(r->history, 0, "history", 7, &sl, &a, &p)
                 : 0;
    if (!rc) rc = bs_buf_append_str(out, "{\"sessions\":[");
    for (size_t i = 0; !rc && p && i < p->nrows; i++) {
        const bs_rowv *row = &p->rows[i];
        const bs_cellv *what = NULL, *js = NULL;
        for (size_t c = 0; c < row->ncells; c++) {
            if (row->cells[c].col == 16) what = &row->cells[c];
            if (row->cells[c].col == 17) js = &row->cells[c];
        }
        if (i) rc = bs_buf_append_str(out, ",");
        if (!rc) rc = bs_buf_append_str(out, "{\"what\":");
        if (!rc)
            rc = what ? bs_json_quote(out, (const char *)what->val,
                                      what->val_len)
                      : bs_buf_append_str(out, "null");
        if (!rc) rc = bs_buf_append_str(out, ",\"report\":");
        /* our own JSON object; anything else (damage) goes out as a string */
        int obj = js && js->val_len >= 2 && js->val[0] == '{' &&
                  js->val[js->val_len - 1] == '}';
        for (size_t k = 0; obj && k < js->val_len; k++)
            if (js->val[k] < 0x20) obj = 0;
        if (!rc)
            rc = obj  ? bs_buf_append(out, js->val, js->val_len)
                 : js ? bs_json_quote(out, (const char *)js->val, js->val_len)
                      : bs_buf_append_str(out, "null");
        if (!rc) rc = bs_buf_append_str(out, "}");
    }
    if (!rc) rc = bs_buf_append_str(out, "]}");
    bs_arena_free(&a);
    return rc;
}

int bs_repair_run(bs_repair *r, const bs_repair_run_opts *o,
                  bs_repair_report *rep) {
    memset(rep, 0, sizeof *rep);
    if (o->table && !o->keyspace) return BS_EINVAL;
    int expect = 0;
    if (!atomic_compare_exchange_strong(&r->session_running, &expect, 1))
        return BS_EBUSY;
    bs_uuid_v4(&rep->session);
    r->nfailed = 0;
    rep->started_ms = bs_clock_now_us(NULL) / 1000;
    bs_ring_snapshot *snap = r->env.ring(r->env.ud);
    bs_repair_catalog cat;
    memset(&cat, 0, sizeof cat);
    int rc = 0;
    uint32_t self_idx;
    if (!snap || bs_ring_snapshot_find_node(snap, &r->env.self, &self_idx))
        rc = BS_EUNAVAIL;
    if (!rc && bs__repair_stopping(r)) rc = BS_ECLOSED;
    bs_repair_run_opts oo = *o;
    const char *mine[1];
    bs_ring_node_desc me;
    if (!rc && o->local_dc_only && !bs_ring_snapshot_node(snap, self_idx, &me) && me.dc) {
        mine[0] = me.dc; /* lives as long as snap */
        oo.dcs = mine;
        oo.ndcs = 1;
    }
    o = &oo;
    if (!rc) rc = check_dcs(o, snap, self_idx, rep);
    r->dc_parallel = o->dc_parallel;
    if (!rc) rc = bs__repair_catalog_get(r, snap, &cat);
    if (!rc && o->keyspace) {
        const bs__repair_ks_desc *ks = bs__repair_catalog_ks(&cat, o->keyspace);
        if (!ks || (o->table && !bs__repair_catalog_table(ks, o->table)))
            rc = BS_ENOTFOUND;
    }
    char sid[37];
    bs_uuid_format(&rep->session, sid);
    if (!rc)
        BS_INFO(LOG, "repair session %s starting (keyspace %s, table %s)", sid,
                o->keyspace ? o->keyspace : "*", o->table ? o->table : "*");
    for (size_t k = 0; !rc && k < cat.nks; k++) {
        const bs__repair_ks_desc *ks = &cat.ks[k];
        if (o->keyspace ? strcmp(ks->name, o->keyspace) : ks->system) continue;
        bs_ring_replica_map *map = NULL;
        int krc = ks->strategy
                      ? bs_ring_replica_map_build(snap, ks->strategy, &map)
                  : ks->strategy_rc ? ks->strategy_rc
                                    : BS_EINVAL;
        if (krc) {
            BS_WARN(LOG, "keyspace %s: cannot place replicas: %s", ks->name,
                    bs_strerror(krc));
            continue;
        }
        for (size_t t = 0; t < ks->ntables && !rc; t++) {
            if (o->table && strcmp(ks->tables[t].name, o->table)) continue;
            int trc = repair_table(r, ks->tables[t].cf, map, self_idx, o, rep);
            if (trc == BS_ECLOSED)
                rc = trc; /* shutting down: stop here */
            else if (trc)
                BS_WARN(LOG, "table %s.%s: %s", ks->name, ks->tables[t].name,
                        bs_strerror(trc));
        }
        bs_ring_replica_map_release(map);
    }
    if (snap) bs_ring_snapshot_release(snap);
    bs__repair_catalog_free(&cat);
    rep->duration_ms = bs_clock_now_us(NULL) / 1000 - rep->started_ms;
    if (!rc) {
        BS_INFO(
            LOG,
            "repair session %s done in %lld ms: %llu ranges compared, %llu "
            "mismatched, %llu failed, "
            "%llu rows / %llu bytes differed, %llu rows / %llu bytes streamed",
            sid, (long long)rep->duration_ms,
            (unsigned long long)rep->ranges_compared,
            (unsigned long long)rep->ranges_mismatched,
            (unsigned long long)rep->ranges_failed,
            (unsigned long long)rep->rows_differed,
            (unsigned long long)rep->bytes_differed,
            (unsigned long long)rep->rows_streamed,
            (unsigned long long)rep->bytes_streamed);
        write_history(r, o, rep);
    }
    atomic_store(&r->session_running, 0);
    return rc;
}

int bs_repair_report_json(const bs_repair_report *rep, bs_buf *out) {
    char sid[37];
    bs_uuid_format(&rep->session, sid);
    int rc = bs_buf_appendf(out,
                            "{\"session\":\"%s\",\"started_ms\":%lld,"
                            "\"duration_ms\":%lld,\"tables\":%llu,"
                            "\"ranges_compared\":%llu,\"ranges_in_sync\":%llu,"
                            "\"ranges_mismatched\":%llu,"
                            "\"ranges_failed\":%llu,\"leaves_mismatched\":%llu,"
                            "\"rows_differed\":%llu,"
                            "\"bytes_differed\":%llu,\"rows_streamed\":%llu,"
                            "\"bytes_streamed\":%llu,\"streams\":%llu,"
                            "\"error\":",
                            sid, (long long)rep->started_ms,
                            (long long)rep->duration_ms,
                            (unsigned long long)rep->tables,
                            (unsigned long long)rep->ranges_compared,
                            (unsigned long long)rep->ranges_in_sync,
                            (unsigned long long)rep->ranges_mismatched,
                            (unsigned long long)rep->ranges_failed,
                            (unsigned long long)rep->leaves_mismatched,
                            (unsigned long long)rep->rows_differed,
                            (unsigned long long)rep->bytes_differed,
                            (unsigned long long)rep->rows_streamed,
                            (unsigned long long)rep->bytes_streamed,
                            (unsigned long long)rep->streams);
    if (rc) return rc;
    rc = rep->first_error[0]
             ? bs_json_quote(out, rep->first_error, strlen(rep->first_error))
             : bs_buf_append_str(out, "null");
    return rc ? rc : bs_buf_append_str(out, "}");
}

/* ------------------------------------------------------------------ */
/* Per-node checksums                                                  */
/* ------------------------------------------------------------------ */

/* ,"key":"s" (no comma when first). */
static int json_kv(bs_buf *out, int first, const char *key, const char *s) {
    int rc = bs_buf_appendf(out, "%s\"%s\":", first ? "" : ",", key);
    return rc ? rc : bs_json_quote(out, s, strlen(s));
}

static int checksum_node(bs_repair *r, const replica *rp, const char *cf,
                         bs_buf *out) {
    char hid[37];
    bs_uuid_format(&rp->host, hid);
    int rc = json_kv(out, 1, "address", rp->addr);
    if (!rc) rc = json_kv(out, 0, "host_id", hid);
    if (rc) return rc;
    bs_merkle *m = NULL;
    bs_merkle_range whole = {0, 0};
    int trc = (!rp->local && r->env.alive(r->env.ud, &rp->host) != 1)
                  ? BS_EUNAVAIL
                  : fetch_tree(r, rp, cf, &whole, 0, &m);
    if (trc) {
        rc = json_kv(out, 0, "error", bs_strerror(trc));
    } else {
        char hex[17];
        snprintf(hex, sizeof hex, "%016llx",
                 (unsigned long long)bs_merkle_root(m));
        rc = json_kv(out, 0, "checksum", hex);
        if (!rc)
            rc = bs_buf_appendf(out, ",\"rows\":%lld,\"bytes\":%lld",
                                (long long)bs_merkle_rows(m),
                                (long long)bs_merkle_bytes(m));
    }
    bs_merkle_free(m);
    return rc;
}

static int checksum_table(bs_repair *r, const char *keyspace,
                          const bs__repair_table_desc *td,
                          const bs_ring_snapshot *snap, bs_buf *out) {
    int rc = bs_buf_append_str(out, "{");
    if (!rc) rc = json_kv(out, 1, "keyspace", keyspace);
    if (!rc) rc = json_kv(out, 0, "table", td->name);
    if (!rc) rc = bs_buf_append_str(out, ",\"nodes\":[");
    uint32_t nn = bs_ring_snapshot_node_count(snap);
    int first = 1;
    for (uint32_t i = 0; i < nn && !rc; i++) {
        replica rp;
        if (replica_of(r, snap, i, &rp)) continue;
        rc = bs_buf_append_str(out, first ? "{" : ",{");
        first = 0;
        if (!rc) rc = checksum_node(r, &rp, td->cf, out);
        if (!rc) rc = bs_buf_append_str(out, "}");
    }
    return rc ? rc : bs_buf_append_str(out, "]}");
}

int bs_repair_checksum(bs_repair *r, const char *keyspace, const char *table,
                       bs_buf *out) {
    if (table && !keyspace) return BS_EINVAL;
    bs_ring_snapshot *snap = r->env.ring(r->env.ud);
    bs_repair_catalog cat;
    memset(&cat, 0, sizeof cat);
    int rc = snap ? 0 : BS_EUNAVAIL;
    if (!rc) rc = bs__repair_catalog_get(r, NULL, &cat);
    if (!rc && keyspace) {
        const bs__repair_ks_desc *ks = bs__repair_catalog_ks(&cat, keyspace);
        if (!ks || (table && !bs__repair_catalog_table(ks, table)))
            rc = BS_ENOTFOUND;
    }
    if (!rc) rc = bs_buf_append_str(out, "{\"tables\":[");
    int first = 1;
    for (size_t k = 0; !rc && k < cat.nks; k++) {
        const bs__repair_ks_desc *ks = &cat.ks[k];
        if (keyspace ? strcmp(ks->name, keyspace) : ks->system) continue;
        for (size_t t = 0; !rc && t < ks->ntables; t++) {
            if (table && strcmp(ks->tables[t].name, table)) continue;
            if (!first) rc = bs_buf_append_str(out, ",");
            first = 0;
            if (!rc)
                rc = checksum_table(r, ks->name, &ks->tables[t], snap, out);
        }
    }
    if (!rc) rc = bs_buf_append_str(out, "]}");
    if (snap) bs_ring_snapshot_release(snap);
    bs__repair_catalog_free(&cat);
    return rc;
}
