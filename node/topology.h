/*
 * topology.h - this node's part in topology changes: its bootstrap (a
 * JOINING node streams the ranges it gains, then announces NORMAL), its
 * decommission (announce LEAVING, stream the ranges it gives up to their
 * new owners, replay the hints it holds, announce LEFT, stop), and cleanup (drop the data of ranges
 * it no longer replicates).  The streaming is repair/movement.h's; this
 * file sequences it with gossip (node/cluster/cluster.h) and the node's
 * persisted state (node/local.h).
 *
 * Bootstrap, step by step (a thread started by bs_topology_start):
 *   1. wait until this node's schema matches every live member's (the
 *      schema arrives by gossip pull), at most 60 s;
 *   2. when a non-system keyspace has tables and the ring has members:
 *      wait ring_delay, so every coordinator has seen this node JOINING
 *      and sends it the writes of its pending ranges (no write made
 *      during the streaming can be missed);
 *   3. stream (bs_repair_move BS_MOVE_BOOTSTRAP); each (table, range)
 *      done is appended to <data_directory>/bootstrap_ranges (fsynced),
 *      so a restarted bootstrap skips it;
 *   4. mark the bootstrap COMPLETED, announce NORMAL.
 * A failure logs the reason and stops the process (exit status 1): the
 * node stays out of the ring (JOINING, down); starting it again resumes.
 *
 * Admin routes (bs_topology_install_routes):
 *   GET  /streams       {"state","error", "sessions":[...],
 *                        "received_bytes","received_rows","sent_bytes"}
 *   POST /decommission  starts it (202); 409 when the node is not NORMAL
 *                       or another node joins or leaves
 *   POST /removenode?host=UUID  starts removing a dead node (202); 404
 *                       unknown host, 409 up / busy
 *   POST /rebuild?source_dc=DC[&keyspace=ks]  starts streaming every
 *                       range this node replicates from replicas in DC
 *                       (202; state "rebuilding", then "normal" or
 *                       "rebuild_failed"); 404 unknown DC, 503 no node
 *                       of DC up, 409 busy / a node joins or leaves
 *   POST /cleanup[?keyspace=ks]  drops unowned ranges, then compacts;
 *                       answers {"tables","ranges_dropped","bytes_before",
 *                       "bytes_after"}; 409 during a topology change
 */
#ifndef BS_NODE_TOPOLOGY_H
#define BS_NODE_TOPOLOGY_H

#include "node/admin/admin.h"
#include "node/cluster/cluster.h"
#include "node/config.h"
#include "node/coord/coord.h"
#include "node/local.h"
#include "repair/session.h"

typedef struct bs_topology bs_topology;

typedef struct bs_topology_opts {
    const bs_config *cfg;
    bs_local *node;
    bs_cluster *cluster;
    bs_repair *repair;
    bs_coord *coord; /* its hints are replayed before a decommission ends */
    /* Asks the process to stop (bootstrap failed: failed 1; decommission
     * done: failed 0).  Called from the topology thread. */
    void (*stop_process)(void *ud, int failed);
    void *ud;
} bs_topology_opts;

/* Everything borrowed must outlive the topology.  0 or BS_ENOMEM. */
int bs_topology_new(const bs_topology_opts *o, bs_topology **out);
/* Starts the bootstrap thread when the node is JOINING
 * (bs_local_bootstrapping).  0 or an error. */
int bs_topology_start(bs_topology *t);
/* Starts a decommission (thread).  0, BS_EBUSY (something runs, or the
 * node is not NORMAL, or another node joins or leaves: err says which). */
int bs_topology_decommission(bs_topology *t, char *err, size_t errlen);
/* Starts the removal of dead member `host` (thread): it is announced
 * LEAVING on its behalf, each range it had is copied from a live replica
 * to its new owner, then it is announced LEFT.  0, BS_ENOTFOUND (not a
 * member), BS_EBUSY (it is up, it is this node, or another change runs:
 * err says which). */
int bs_topology_removenode(bs_topology *t, const bs_uuid *host, char *err,
                           size_t errlen);
/* Starts a rebuild from datacenter dc (thread; ks NULL: every keyspace).
 * 0, BS_ENOTFOUND (no member in dc), BS_EUNAVAIL (none up), BS_EBUSY
 * (something runs, not NORMAL, a node joins or leaves), BS_EINVAL; err
 * says which. */
int bs_topology_rebuild(bs_topology *t, const char *dc, const char *ks,
                        char *err, size_t errlen);
/* The state and the streams as JSON (GET /streams). */
int bs_topology_json(bs_topology *t, bs_buf *out);
int bs_topology_install_routes(bs_topology *t, bs_admin *a);
/* The options it was made with (topology_admin.c). */
const bs_topology_opts *bs__topology_opts(const bs_topology *t);
/* Makes the running operation give up at its next step and never touch
 * the cluster again; call before stopping the cluster.  Then free (joins
 * the thread) after the messaging stopped.  NULL: no-op. */
void bs_topology_halt(bs_topology *t);
void bs_topology_free(bs_topology *t);

#endif
