/*
 * topology.c - bootstrap, decommission and cleanup of this node (see
 * topology.h for the steps).
 *
 * Threads: one operation at a time runs on t->th.  t->mu guards the
 * state and `halted`; the thread calls into the cluster only while
 * holding t->mu and not halted, so once bs_topology_halt returned it
 * never touches the cluster again (the cluster may then be stopped
 * while the thread still waits for a stream answer, which the
 * messaging's stop fails).
 *
 * Resume file <data_directory>/bootstrap_ranges: one line per (table,
 * range) that arrived, "cf start end\n", appended and fsynced after the
 * range's stream completed; removed once the bootstrap completed.
 */
#include "node/topology.h"

#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/error.h"
#include "common/json.h"
#include "common/log.h"
#include "node/cluster/gossip.h"
#include "node/coord/placement.h"
#include "repair/movement.h"
#include "ring/strategy.h"
#include "storage/store.h"

#define LOG "topology"
#define SCHEMA_WAIT_MS 60000
#define LEFT_LINGER_MS 3000 /* gossip LEFT before stopping */
#define HINTS_WAIT_MS 30000 /* a leaving node's hints replay this long */

typedef struct done_range {
    char *cf;
    int64_t s, e;
} done_range;

struct bs_topology {
    bs_topology_opts o;
    pthread_mutex_t mu;
    pthread_t th;
    int has_th;
    int busy;   /* an operation runs on th */
    int halted; /* bs_topology_halt was called */
    const char *state; /* static string */
    char error[600];
    char resume_path[4200];
    done_range *done;
    size_t ndone, capdone;
    bs_uuid removing; /* removenode's target */
    char rebuild_dc[128], rebuild_ks[256]; /* rebuild's source, keyspace */
};

/* ---- helpers ---------------------------------------------------------- */

static void set_state(bs_topology *t, const char *state, const char *error) {
    pthread_mutex_lock(&t->mu);
    t->state = state;
    snprintf(t->error, sizeof t->error, "%s", error ? error : "");
    pthread_mutex_unlock(&t->mu);
}

static int halted(bs_topology *t) {
    pthread_mutex_lock(&t->mu);
    int h = t->halted;
    pthread_mutex_unlock(&t->mu);
    return h;
}

/* Sleeps ms in small steps; 1 when halted meanwhile. */
static int nap(bs_topology *t, int64_t ms) {
    for (int64_t left = ms; left > 0; left -= 100) {
        if (halted(t)) return 1;
        struct timespec ts = {0, (left < 100 ? left : 100) * 1000000L};
        nanosleep(&ts, NULL);
    }
    return halted(t);
}

/* Sets this node's STATUS unless halted.  0, BS_ECLOSED or an error. */
static int announce(bs_topology *t, const char *status) {
    pthread_mutex_lock(&t->mu);
    int rc = t->halted ? BS_ECLOSED : bs_cluster_set_status(t->o.cluster, status);
    pthread_mutex_unlock(&t->mu);
    return rc;
}

/* The future ring unless halted (retained, or NULL). */
static bs_ring_snapshot *future_ring(bs_topology *t) {
    pthread_mutex_lock(&t->mu);
    bs_ring_snapshot *f = t->halted ? NULL : bs_cluster_future_ring(t->o.cluster);
    pthread_mutex_unlock(&t->mu);
    return f;
}

/* 1 when a non-system keyspace has a table. */
static int has_user_tables(bs_topology *t) {
    bs_schema *s = bs_local_schema(t->o.node);
    int found = 0;
    for (size_t i = 0; s && i < bs_schema_nkeyspaces(s) && !found; i++) {
        const bs_keyspace_schema *k = bs_schema_keyspace_at(s, i);
        found = !k->system && k->ntables > 0;
    }
    if (s) bs_schema_release(s);
    return found;
}

/* 1 when every live member gossips our schema version. */
static int schema_agreed(bs_topology *t) {
    bs_schema *s = bs_local_schema(t->o.node);
    bs_uuid v;
    bs_schema_version(s, &v);
    bs_schema_release(s);
    char mine[BS_UUID_STRLEN + 1];
    bs_uuid_format(&v, mine);
    bs_gossip_view *gv;
    size_t n;
    pthread_mutex_lock(&t->mu);
    int rc = t->halted ? BS_ECLOSED
                       : bs_gossip_snapshot(bs_cluster_gossip(t->o.cluster), &gv, &n);
    pthread_mutex_unlock(&t->mu);
    if (rc) return 0;
    int ok = 1;
    for (size_t i = 0; i < n; i++) {
        const bs_gossip_ep *e = &gv[i].st;
        const char *st = e->app[BS_GS_STATUS].value;
        const char *sv = e->app[BS_GS_SCHEMA].value;
        if (gv[i].is_self || !gv[i].alive || !st || !sv) continue;
        if (strcmp(st, "NORMAL") && strcmp(st, "LEAVING")) continue;
        if (strcasecmp(sv, mine)) ok = 0;
    }
    bs_gossip_views_free(gv, n);
    return ok;
}

/* ---- resume file ------------------------------------------------------ */

static int remember(bs_topology *t, const char *cf, int64_t s, int64_t e) {
    if (t->ndone == t->capdone) {
        size_t nc = t->capdone ? 2 * t->capdone : 64;
        done_range *nd = realloc(t->done, nc * sizeof *nd);
        if (!nd) return BS_ENOMEM;
        t->done = nd;
        t->capdone = nc;
    }
    char *c = strdup(cf);
    if (!c) return BS_ENOMEM;
    t->done[t->ndone++] = (done_range){c, s, e};
    return 0;
}

static void load_resume(bs_topology *t) {
    FILE *f = fopen(t->resume_path, "r");
    if (!f) return;
    char cf[300];
    long long s, e;
    while (fscanf(f, "%299s %lld %lld", cf, &s, &e) == 3)
        if (remember(t, cf, s, e)) break;
    fclose(f);
    if (t->ndone)
        BS_INFO(LOG, "resuming the bootstrap: %zu (table, range) streams "
                "arrived before the restart", t->ndone);
}

static int is_done(void *ud, const char *cf, int64_t s, int64_t e) {
    bs_topology *t = ud;
    for (size_t i = 0; i < t->ndone; i++)
        if (t->done[i].s == s && t->done[i].e == e && !strcmp(t->done[i].cf, cf))
            return 1;
    return 0;
}

static int mark_done(void *ud, const char *cf, int64_t s, int64_t e) {
    bs_topology *t = ud;
    int fd = open(t->resume_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) return BS_EIO;
    char line[400];
    int n = snprintf(line, sizeof line, "%s %" PRId64 " %" PRId64 "\n", cf, s, e);
    int rc = write(fd, line, (size_t)n) == n && fsync(fd) == 0 ? 0 : BS_EIO;
    close(fd);
    return rc ? rc : remember(t, cf, s, e);
}

/* ---- bootstrap -------------------------------------------------------- */

/* 1 when this node replaces the node at replace_address_first_boot and
 * that node is still in the ring (LEAVING on our behalf, or - replacing
 * the node at our own address - named in our REPLACING state); *host (may
 * be NULL) receives its host id, *same whether it was at our address. */
static int replacing_host(bs_topology *t, bs_uuid *host, int *same) {
    const char *addr = t->o.cfg->replace_address_first_boot;
    if (!addr || !addr[0]) return 0;
    bs_gossip_view *v;
    size_t n;
    pthread_mutex_lock(&t->mu);
    int rc = t->halted ? BS_ECLOSED
                       : bs_gossip_snapshot(bs_cluster_gossip(t->o.cluster), &v, &n);
    pthread_mutex_unlock(&t->mu);
    if (rc) return 0;
    int found = 0;
    for (size_t i = 0; i < n && !found; i++) {
        const bs_gossip_ep *e = &v[i].st;
        const char *st = e->app[BS_GS_STATUS].value, *h = e->app[BS_GS_HOST_ID].value;
        if (v[i].is_self) {
            h = e->app[BS_GS_REPLACING].value;
            if (!h || !h[0] || !st || strcmp(st, "JOINING")) continue;
            if (same) *same = 1;
        } else if (strcmp(e->ep.addr, addr) || !st || !h || strcmp(st, "LEAVING")) {
            continue;
        } else if (same) {
            *same = 0;
        }
        bs_uuid u;
        found = !bs_uuid_parse(h, strlen(h), &u);
        if (found && host) *host = u;
    }
    bs_gossip_views_free(v, n);
    return found;
}

/* Steps 1-2 of the bootstrap.  0 or an error with msg set. */
static int bootstrap_wait(bs_topology *t, char *msg, size_t cap) {
    int64_t t0 = bs_clock_mono_ns();
    while (!schema_agreed(t)) {
        if (nap(t, 200)) return BS_ECLOSED;
        if ((bs_clock_mono_ns() - t0) / 1000000 > SCHEMA_WAIT_MS) {
            snprintf(msg, cap, "the schema did not reach this node within %d s "
                     "(is a member down or unreachable?)", SCHEMA_WAIT_MS / 1000);
            return BS_ETIMEDOUT;
        }
    }
    if (!has_user_tables(t)) return 0;
    /* the first node of a cluster: nobody coordinates writes for it yet */
    pthread_mutex_lock(&t->mu);
    bs_ring_snapshot *cur = t->halted ? NULL : bs_cluster_ring(t->o.cluster);
    pthread_mutex_unlock(&t->mu);
    uint32_t members = cur ? bs_ring_snapshot_node_count(cur) : 0;
    if (cur) bs_ring_snapshot_release(cur);
    if (!members) return 0;
    BS_INFO(LOG, "bootstrap: waiting ring_delay (%" PRIu64 " ms) so every "
            "coordinator sends this node the writes of its pending ranges",
            (uint64_t)t->o.cfg->ring_delay_ms);
    return nap(t, (int64_t)t->o.cfg->ring_delay_ms) ? BS_ECLOSED : 0;
}

static int run_bootstrap(bs_topology *t, char *msg, size_t cap) {
    int rc = bootstrap_wait(t, msg, cap);
    if (rc) return rc;
    bs_ring_snapshot *fut = future_ring(t);
    if (!fut) {
        snprintf(msg, cap, "this node is not in the future ring");
        return BS_EINVAL;
    }
    /* a replacement streams the dead node's ranges from the other
     * replicas: the one that gives them up is the dead node */
    int replacing = replacing_host(t, NULL, NULL);
    bs_movement_opts mo = {BS_MOVE_BOOTSTRAP, fut,
                           t->o.cfg->consistent_range_movement && !replacing,
                           is_done, mark_done, t, replacing};
    bs_movement_report rep;
    rc = bs_repair_move(t->o.repair, &mo, &rep);
    bs_ring_snapshot_release(fut);
    if (rc) {
        snprintf(msg, cap, "%s", rep.error[0] ? rep.error : bs_strerror(rc));
        return rc;
    }
    BS_INFO(LOG, "bootstrap streamed %" PRIu64 " ranges (%" PRIu64 " skipped as "
            "already received), %" PRIu64 " rows, %" PRIu64 " bytes in %" PRId64
            " ms", rep.ranges_done, rep.ranges_skipped, rep.rows, rep.bytes,
            rep.duration_ms);
    if (rep.repair_needed)
        BS_WARN(LOG, "some ranges were streamed from replicas that keep their "
                "copy (consistent_range_movement: false): run `basalt-admin "
                "repair` on this node");
    if ((rc = bs_local_set_bootstrapped(t->o.node))) {
        snprintf(msg, cap, "cannot record the completed bootstrap: %s", bs_strerror(rc));
        return rc;
    }
    unlink(t->resume_path);
    bs_uuid dead;
    int same = 0;
    /* at our own address the dead node's state is gone already: NORMAL
     * (bs_cluster_set_status) takes its host id out of the ring */
    if (replacing && replacing_host(t, &dead, &same) && !same) {
        pthread_mutex_lock(&t->mu);
        rc = t->halted ? BS_ECLOSED : bs_cluster_set_remote_status(t->o.cluster, &dead, "LEFT");
        pthread_mutex_unlock(&t->mu);
        if (rc) {
            snprintf(msg, cap, "cannot announce the replaced node LEFT: %s", bs_strerror(rc));
            return rc;
        }
    }
    return announce(t, "NORMAL");
}

static void *bootstrap_main(void *ud) {
    bs_topology *t = ud;
    char msg[600] = "";
    set_state(t, "bootstrapping", NULL);
    int rc = run_bootstrap(t, msg, sizeof msg);
    if (!rc) {
        set_state(t, "normal", NULL);
        BS_INFO(LOG, "bootstrap complete: this node is NORMAL");
    } else if (rc != BS_ECLOSED) {
        set_state(t, "bootstrap_failed", msg);
        BS_ERROR(LOG, "bootstrap failed: %s. The node stays out of the ring; "
                 "start it again to retry (ranges already received are kept)",
                 msg);
        if (!halted(t)) t->o.stop_process(t->o.ud, 1);
    }
    pthread_mutex_lock(&t->mu);
    t->busy = 0;
    pthread_mutex_unlock(&t->mu);
    return NULL;
}

/* ---- decommission ----------------------------------------------------- */

/* The hints this node holds for others go with it otherwise: give their
 * replay (to live targets) a while to finish. */
static void hand_over_hints(bs_topology *t) {
    bs_coord_stats st;
    int64_t t0 = bs_clock_mono_ns();
    for (;;) {
        memset(&st, 0, sizeof st);
        if (t->o.coord) bs_coord_get_stats(t->o.coord, &st);
        if (!st.hints_pending) return;
        if ((bs_clock_mono_ns() - t0) / 1000000 >= HINTS_WAIT_MS || nap(t, 200)) break;
    }
    BS_WARN(LOG, "decommission: %" PRIu64 " hints for nodes that are down were "
            "not replayed and leave with this node: run `basalt-admin repair` "
            "once those nodes are back", (uint64_t)st.hints_pending);
}

static int run_decommission(bs_topology *t, char *msg, size_t cap) {
    int rc = announce(t, "LEAVING");
    if (rc) {
        snprintf(msg, cap, "cannot announce LEAVING: %s", bs_strerror(rc));
        return rc;
    }
    BS_INFO(LOG, "decommission: LEAVING; waiting ring_delay (%" PRIu64 " ms)",
            (uint64_t)t->o.cfg->ring_delay_ms);
    if (nap(t, (int64_t)t->o.cfg->ring_delay_ms)) return BS_ECLOSED;
    bs_ring_snapshot *fut = future_ring(t);
    if (!fut) {
        snprintf(msg, cap, "no future ring while LEAVING");
        return BS_EINVAL;
    }
    bs_movement_opts mo = {BS_MOVE_DECOMMISSION, fut, 1, NULL, NULL, NULL};
    bs_movement_report rep;
    rc = bs_repair_move(t->o.repair, &mo, &rep);
    bs_ring_snapshot_release(fut);
    if (rc) {
        snprintf(msg, cap, "%s", rep.error[0] ? rep.error : bs_strerror(rc));
        return rc;
    }
    BS_INFO(LOG, "decommission streamed %" PRIu64 " ranges, %" PRIu64 " rows, %"
            PRIu64 " bytes in %" PRId64 " ms", rep.ranges_done, rep.rows,
            rep.bytes, rep.duration_ms);
    hand_over_hints(t);
    if ((rc = bs_local_set_decommissioned(t->o.node))) {
        snprintf(msg, cap, "cannot record the decommission: %s", bs_strerror(rc));
        return rc;
    }
    return announce(t, "LEFT");
}

static void *decommission_main(void *ud) {
    bs_topology *t = ud;
    char msg[600] = "";
    set_state(t, "leaving", NULL);
    int rc = run_decommission(t, msg, sizeof msg);
    if (!rc) {
        set_state(t, "decommissioned", NULL);
        BS_INFO(LOG, "decommissioned: this node left the ring and stops");
        /* gossip carries LEFT to the others before the process goes */
        if (!nap(t, LEFT_LINGER_MS)) t->o.stop_process(t->o.ud, 0);
    } else if (rc != BS_ECLOSED) {
        set_state(t, "decommission_failed", msg);
        BS_ERROR(LOG, "decommission failed: %s. The node stays LEAVING (it "
                 "still replicates its ranges); run decommission again", msg);
    }
    pthread_mutex_lock(&t->mu);
    t->busy = 0;
    pthread_mutex_unlock(&t->mu);
    return NULL;
}

/* ---- removenode ------------------------------------------------------- */

static int run_removenode(bs_topology *t, char *msg, size_t cap) {
    pthread_mutex_lock(&t->mu);
    int rc = t->halted ? BS_ECLOSED
                       : bs_cluster_set_remote_status(t->o.cluster, &t->removing, "LEAVING");
    pthread_mutex_unlock(&t->mu);
    if (rc) {
        snprintf(msg, cap, "cannot announce the node LEAVING: %s", bs_strerror(rc));
        return rc;
    }
    if (nap(t, (int64_t)t->o.cfg->ring_delay_ms)) return BS_ECLOSED;
    bs_ring_snapshot *fut = future_ring(t);
    if (!fut) {
        snprintf(msg, cap, "no future ring while removing");
        return BS_EINVAL;
    }
    bs_movement_opts mo = {BS_MOVE_REMOVE, fut, 1, NULL, NULL, NULL};
    bs_movement_report rep;
    rc = bs_repair_move(t->o.repair, &mo, &rep);
    bs_ring_snapshot_release(fut);
    if (rc) {
        snprintf(msg, cap, "%s", rep.error[0] ? rep.error : bs_strerror(rc));
        return rc;
    }
    BS_INFO(LOG, "removenode streamed %" PRIu64 " ranges, %" PRIu64 " rows, %" PRIu64
            " bytes in %" PRId64 " ms", rep.ranges_done, rep.rows, rep.bytes,
            rep.duration_ms);
    pthread_mutex_lock(&t->mu);
    rc = t->halted ? BS_ECLOSED
                   : bs_cluster_set_remote_status(t->o.cluster, &t->removing, "LEFT");
    pthread_mutex_unlock(&t->mu);
    return rc;
}

static void *removenode_main(void *ud) {
    bs_topology *t = ud;
    char msg[600] = "";
    set_state(t, "removing", NULL);
    int rc = run_removenode(t, msg, sizeof msg);
    if (!rc) {
        set_state(t, "normal", NULL);
        BS_INFO(LOG, "removenode complete: the node left the ring");
    } else if (rc != BS_ECLOSED) {
        set_state(t, "removenode_failed", msg);
        BS_ERROR(LOG, "removenode failed: %s (the node stays LEAVING; run "
                 "removenode again)", msg);
    }
    pthread_mutex_lock(&t->mu);
    t->busy = 0;
    pthread_mutex_unlock(&t->mu);
    return NULL;
}

/* ---- lifecycle -------------------------------------------------------- */

int bs_topology_new(const bs_topology_opts *o, bs_topology **out) {
    bs_topology *t = calloc(1, sizeof *t);
    if (!t) return BS_ENOMEM;
    t->o = *o;
    pthread_mutex_init(&t->mu, NULL);
    t->state = bs_local_bootstrapping(o->node) ? "joining" : "normal";
    snprintf(t->resume_path, sizeof t->resume_path, "%s/bootstrap_ranges",
             o->cfg->data_directory);
    *out = t;
    return 0;
}

/* Starts fn on the thread unless something runs.  Caller holds mu. */
static int spawn(bs_topology *t, void *(*fn)(void *)) {
    if (t->busy || t->halted) return BS_EBUSY;
    if (t->has_th) pthread_join(t->th, NULL);
    t->has_th = 0;
    if (pthread_create(&t->th, NULL, fn, t)) return BS_ENOMEM;
    t->has_th = 1;
    t->busy = 1;
    return 0;
}

int bs_topology_start(bs_topology *t) {
    if (!bs_local_bootstrapping(t->o.node)) return 0;
    load_resume(t);
    pthread_mutex_lock(&t->mu);
    int rc = spawn(t, bootstrap_main);
    pthread_mutex_unlock(&t->mu);
    return rc;
}

int bs_topology_decommission(bs_topology *t, char *err, size_t errlen) {
    pthread_mutex_lock(&t->mu);
    int rc = BS_EBUSY;
    bs_ring_snapshot *fut = bs_cluster_future_ring(t->o.cluster);
    if (t->busy)
        snprintf(err, errlen, "this node is %s", t->state);
    else if (strcmp(t->state, "normal") && strcmp(t->state, "decommission_failed"))
        snprintf(err, errlen, "this node is %s, not NORMAL", t->state);
    else if (fut && strcmp(t->state, "decommission_failed"))
        snprintf(err, errlen, "another node is joining or leaving: one "
                 "topology change at a time");
    else if (!(rc = spawn(t, decommission_main)))
        t->state = "leaving"; /* before anyone polls /streams */
    pthread_mutex_unlock(&t->mu);
    if (fut) bs_ring_snapshot_release(fut);
    return rc;
}

int bs_topology_removenode(bs_topology *t, const bs_uuid *host, char *err,
                           size_t errlen) {
    bs_uuid self;
    bs_local_host_id(t->o.node, &self);
    bs_ring_snapshot *ring = bs_cluster_ring(t->o.cluster);
    bs_ring_snapshot *fut = bs_cluster_future_ring(t->o.cluster);
    uint32_t idx;
    int rc = BS_EBUSY;
    pthread_mutex_lock(&t->mu);
    int again = !strcmp(t->state, "removenode_failed") &&
                !memcmp(t->removing.b, host->b, 16);
    if (!memcmp(self.b, host->b, 16))
        snprintf(err, errlen, "this is the node itself: use decommission");
    else if (!ring || bs_ring_snapshot_find_node(ring, host, &idx))
        snprintf(err, errlen, "no such member of the ring"), rc = BS_ENOTFOUND;
    else if (bs_cluster_is_alive(t->o.cluster, host) == 1)
        snprintf(err, errlen, "the node is up: decommission it instead "
                 "(removenode is for dead nodes)");
    else if (t->busy || (strcmp(t->state, "normal") && !again))
        snprintf(err, errlen, "this node is %s", t->state);
    else if (fut && !again)
        snprintf(err, errlen, "another node is joining or leaving: one "
                 "topology change at a time");
    else {
        t->removing = *host;
        rc = spawn(t, removenode_main);
        if (!rc) t->state = "removing"; /* before anyone polls /streams */
    }
    pthread_mutex_unlock(&t->mu);
    if (ring) bs_ring_snapshot_release(ring);
    if (fut) bs_ring_snapshot_release(fut);
    return rc;
}

/* ---- rebuild ---------------------------------------------------------- */

static void *rebuild_main(void *ud) {
    bs_topology *t = ud;
    bs_movement_opts mo;
    memset(&mo, 0, sizeof mo);
    mo.kind = BS_MOVE_REBUILD;
    mo.source_dc = t->rebuild_dc;
    mo.keyspace = t->rebuild_ks[0] ? t->rebuild_ks : NULL;
    bs_movement_report rep;
    int rc = bs_repair_move(t->o.repair, &mo, &rep);
    if (!rc) {
        set_state(t, "normal", NULL);
        BS_INFO(LOG, "rebuild from datacenter %s streamed %" PRIu64 " ranges, %"
                PRIu64 " rows, %" PRIu64 " bytes in %" PRId64 " ms", t->rebuild_dc,
                rep.ranges_done, rep.rows, rep.bytes, rep.duration_ms);
    } else if (rc != BS_ECLOSED) {
        set_state(t, "rebuild_failed", rep.error[0] ? rep.error : bs_strerror(rc));
        BS_ERROR(LOG, "rebuild from datacenter %s failed: %s (ranges already "
                 "received are kept; run rebuild again)", t->rebuild_dc,
                 rep.error[0] ? rep.error : bs_strerror(rc));
    }
    pthread_mutex_lock(&t->mu);
    t->busy = 0;
    pthread_mutex_unlock(&t->mu);
    return NULL;
}

int bs_topology_rebuild(bs_topology *t, const char *dc, const char *ks,
                        char *err, size_t errlen) {
    if (strlen(dc) >= sizeof t->rebuild_dc || (ks && strlen(ks) >= sizeof t->rebuild_ks)) {
        snprintf(err, errlen, "name too long");
        return BS_EINVAL;
    }
    int rc = bs_repair_check_source_dc(t->o.repair, dc, err, errlen);
    if (rc) return rc;
    bs_ring_snapshot *fut = bs_cluster_future_ring(t->o.cluster);
    pthread_mutex_lock(&t->mu);
    rc = BS_EBUSY;
    if (t->busy)
        snprintf(err, errlen, "this node is %s", t->state);
    else if (strcmp(t->state, "normal") && strcmp(t->state, "rebuild_failed"))
        snprintf(err, errlen, "this node is %s, not NORMAL", t->state);
    else if (fut)
        snprintf(err, errlen, "a node is joining or leaving: rebuild after it "
                 "finished");
    else {
        snprintf(t->rebuild_dc, sizeof t->rebuild_dc, "%s", dc);
        snprintf(t->rebuild_ks, sizeof t->rebuild_ks, "%s", ks ? ks : "");
        if (!(rc = spawn(t, rebuild_main))) {
            t->state = "rebuilding"; /* before anyone polls /streams */
            t->error[0] = 0;
        }
    }
    pthread_mutex_unlock(&t->mu);
    if (fut) bs_ring_snapshot_release(fut);
    return rc;
}

void bs_topology_halt(bs_topology *t) {
    if (!t) return;
    pthread_mutex_lock(&t->mu);
    t->halted = 1;
    pthread_mutex_unlock(&t->mu);
}

void bs_topology_free(bs_topology *t) {
    if (!t) return;
    bs_topology_halt(t);
    if (t->has_th) pthread_join(t->th, NULL);
    for (size_t i = 0; i < t->ndone; i++) free(t->done[i].cf);
    free(t->done);
    pthread_mutex_destroy(&t->mu);
    free(t);
}

const bs_topology_opts *bs__topology_opts(const bs_topology *t) { return &t->o; }

int bs_topology_json(bs_topology *t, bs_buf *out) {
    pthread_mutex_lock(&t->mu);
    int rc = bs_buf_appendf(out, "{\"state\":\"%s\",\"error\":", t->state);
    rc |= bs_json_quote(out, t->error, strlen(t->error));
    pthread_mutex_unlock(&t->mu);
    rc |= bs_buf_appendf(out, ",\"streams\":");
    rc |= bs_repair_streams_json(t->o.repair, out);
    rc |= bs_buf_appendf(out, "}");
    return rc ? BS_ENOMEM : 0;
}
