/*
 * repair_env.h - the node's side of the repair service (repair/session.h):
 * its environment implemented over internode messaging (bs_msg), the
 * membership the coordinator also uses (ring, failure detector,
 * endpoints), and the local node (store, host id, schema and the
 * keyspaces' placement).
 */
#ifndef BS_NODE_REPAIR_ENV_H
#define BS_NODE_REPAIR_ENV_H

#include "node/cluster/msg.h"
#include "node/coord/coord.h"
#include "node/local.h"
#include "repair/session.h"

/* Fills *out for node `local` over `msg` (both borrowed; they must
 * outlive whatever uses the env); mem is copied (its ud must outlive the
 * env).  Without mem->endpoint, peers are reached at the "addr:port" of
 * their ring endpoint string.  The env owns a small state that
 * out->release frees (bs_repair_free calls it).  0, BS_EINVAL,
 * BS_ENOMEM. */
int bs_node_repair_env(bs_local *local, bs_msg *msg,
                       const bs_coord_membership *mem, bs_repair_env *out);

/* bs_node_repair_env + bs_repair_new: the repair service of this node
 * (stop and free it with bs_repair_stop / bs_repair_free, before
 * bs_msg_stop).  0, BS_EINVAL, BS_ENOMEM. */
int bs_node_repair_new(const bs_repair_opts *o, bs_local *local, bs_msg *msg,
                       const bs_coord_membership *mem, bs_repair **out);

#endif
