/*
 * cluster.h - the glue that turns a local node into a cluster member:
 * internode messaging + gossip started from the configuration, gossip
 * membership turned into system.peers rows, a token ring snapshot and
 * driver EVENTs, and schema propagation (push on DDL, pull on a digest
 * mismatch, merge by bs_schema_merge's rule).
 *
 * Room node/cluster/ (this header is its door): everything between
 * nodes below the request paths: internode messaging (msg.h,
 * msg_codec.c), gossip and the phi failure detector (gossip.h,
 * gossip_state.c), and this glue (membership, ring snapshots, peers,
 * schema propagation).  It may call node/local.h, node/config.h, query/
 * (schema, events), ring/ and common/; it never calls node/coord/ or
 * node/admin/, which build on it.
 *
 * Threads: start/stop from the main thread; bs_cluster_ring() and
 * bs_cluster_is_alive() from any thread; everything else runs on the
 * messaging thread (see msg.h).
 */
#ifndef BS_NODE_CLUSTER_H
#define BS_NODE_CLUSTER_H

#include <stddef.h>

#include "common/uuid.h"
#include "node/config.h"
#include "node/cluster/gossip.h"
#include "node/local.h"
#include "node/cluster/msg.h"
#include "query/proto_msg.h"
#include "ring/tokenmeta.h"

typedef struct bs_cluster bs_cluster;

/* Driver events (TOPOLOGY_CHANGE NEW_NODE/REMOVED_NODE, STATUS_CHANGE
 * UP/DOWN) go to this sink, normally bs_server_broadcast_event; the event
 * is only valid during the call.  Messaging thread. */
typedef void (*bs_cluster_event_fn)(void *ud, const bs_proto_event *ev);

/* Starts messaging on listen_address:storage_port and gossip with the
 * configured seeds (each at storage_port), advertising STATUS=NORMAL and
 * the node's tokens (a new cluster: every node owns the tokens it chose
 * at first start).  Hooks into `node` (peers provider, schema listener);
 * cfg and node must outlive the cluster.  0, or an error with a message. */
int bs_cluster_start(const bs_config *cfg, bs_local *node,
                     bs_cluster_event_fn events, void *events_ud,
                     bs_cluster **out, char *err, size_t errlen);
/* Stops gossip and messaging and unhooks the node.  NULL is a no-op. */
void bs_cluster_stop(bs_cluster *c);

/* The current ring (every NORMAL member with its tokens), retained for
 * the caller (bs_ring_snapshot_release).  Endpoints are "addr:port" of
 * the storage port.  Never NULL after a successful start. */
bs_ring_snapshot *bs_cluster_ring(bs_cluster *c);
/* The ring once the topology changes in progress complete (members not
 * LEAVING plus JOINING nodes), retained; NULL when no node is joining or
 * leaving.  Any thread. */
bs_ring_snapshot *bs_cluster_future_ring(bs_cluster *c);
/* Announces this node's gossip STATUS ("NORMAL", "LEAVING", "LEFT") and
 * rebuilds the rings.  Not from the messaging thread.  0 or an error. */
int bs_cluster_set_status(bs_cluster *c, const char *status);
/* Announces the STATUS of another node (a dead one: removenode) on its
 * behalf, and rebuilds the rings.  A node seen LEFT is never a member
 * again, whatever it announces later.  0, BS_ENOTFOUND (unknown host) or
 * an error.  Not from the messaging thread. */
int bs_cluster_set_remote_status(bs_cluster *c, const bs_uuid *host,
                                 const char *status);
/* 1 up, 0 down, BS_ENOTFOUND unknown host id (this node is always up). */
int bs_cluster_is_alive(bs_cluster *c, const bs_uuid *host_id);
/* How many of the members saved by the last run (bs_local_saved_peers)
 * gossip does not know yet; *total (may be NULL) gets how many were
 * saved.  Any thread. */
size_t bs_cluster_unmet_peers(bs_cluster *c, size_t *total);
/* 1 when host_id was seen LEFT (decommissioned or removed; remembered in
 * <data_directory>/removed_hosts across restarts): it is never a member
 * again, whatever it gossips.  Any thread. */
int bs_cluster_is_removed(bs_cluster *c, const bs_uuid *host_id);

bs_msg *bs_cluster_msg(bs_cluster *c);
bs_gossip *bs_cluster_gossip(bs_cluster *c);

#endif
