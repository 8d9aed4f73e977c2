/*
 * nnode.h - the in-process N-node cluster shared by the unit tests and
 * benches that need several nodes talking to each other
 * (tests/unit/node/coord/test_coord.c, tests/unit/repair/test_session.c,
 * tests/bench/bench_repair.c).
 *
 * Each node is a bs_local (its own store in a fresh directory under
 * /tmp) + a bs_msg on a free 127.0.0.1 port.  The membership is static
 * and switchable: one ring built from the nodes' tokens, per-node alive
 * flags and endpoints the test may flip, served through the
 * bs_coord_membership callbacks the coordinator and the repair service
 * take.  What runs on each node (a coordinator, a repair service) is the
 * caller's, plugged in as a bs_nnode_service so that node down/up,
 * restart and teardown keep the one safe order: service stop, messaging
 * stop, service free, store close.
 *
 *     bs_nnode c; bs_nnode_opts o; bs_nnode_opts_default(&o);
 *     bs_nnode_start(&c, &o);                  nodes + ring + messaging
 *     bs_nnode_create_table(&c, "ks", 3, 0x11) on every node
 *     bs_nnode_start_services(&c, &svc);       svc.start on every node
 *       (or bs_nnode_start_repair(&c, &ro): a repair service on each)
 *     ...
 *     bs_nnode_stop(&c);                       everything, dirs removed
 *
 * Errors: functions return 0 or a negative BS_E code and leave a message
 * in c->err.  Threads: the membership callbacks and the set_* functions
 * are thread-safe; the rest is for the test's thread.
 */
#ifndef BS_TESTS_NNODE_H
#define BS_TESTS_NNODE_H

#include <pthread.h>
#include <stdint.h>

#include "node/cluster/msg.h"
#include "node/config.h"
#include "node/coord/coord.h"
#include "node/local.h"
#include "repair/session.h"
#include "ring/tokenmeta.h"

#define BS_NNODE_MAX 8

/* What the caller runs on each node.  start runs once node i's
 * messaging is up, stop before it goes down, free after; every hook may
 * be NULL.  ud is the caller's. */
typedef struct bs_nnode_service {
    void *ud;
    int (*start)(void *ud, int i);
    void (*stop)(void *ud, int i);
    void (*free)(void *ud, int i);
} bs_nnode_service;

typedef struct bs_nnode_node {
    char dir[128];
    bs_config cfg;
    bs_local *local;     /* NULL while closed */
    bs_msg *msg;         /* NULL while down */
    bs_exec_backend lbe; /* the local node's backend (no network) */
} bs_nnode_node;

typedef struct bs_nnode_opts {
    int n;                     /* nodes; 3 (at most BS_NNODE_MAX) */
    int num_tokens;            /* vnodes per node; 4 */
    const char *cluster_name;  /* "nnode-test" */
    const char *dir_prefix;    /* "/tmp/bs_nnode_" (+ XXXXXX) */
    uint32_t reconnect_max_ms; /* messaging backoff cap; 200 */
} bs_nnode_opts;

typedef struct bs_nnode {
    bs_nnode_opts o;
    int n;
    bs_nnode_node node[BS_NNODE_MAX];
    bs_nnode_service svc;
    /* the membership (under lock) */
    pthread_mutex_t lock;
    bs_ring_snapshot *ring;
    bs_ring_snapshot *future; /* NULL: no topology change */
    bs_uuid host[BS_NNODE_MAX];
    int alive[BS_NNODE_MAX];
    int noaddr[BS_NNODE_MAX]; /* the endpoint lookup fails */
    bs_msg_peer peer[BS_NNODE_MAX];
    /* bs_nnode_start_repair: each node's repair service and its options */
    bs_repair *repair[BS_NNODE_MAX];
    bs_repair_opts repair_opts;
    char err[256];
} bs_nnode;

void bs_nnode_opts_default(bs_nnode_opts *o);

/* Opens every node's store, builds the ring from their tokens and starts
 * their messaging; every node alive.  On failure everything started is
 * stopped again.  0 or an error (message in c->err). */
int bs_nnode_start(bs_nnode *c, const bs_nnode_opts *o);
/* Runs svc->start on every node (svc copied; used by down/up/restart and
 * stop from now on).  0 or the first hook's error. */
int bs_nnode_start_services(bs_nnode *c, const bs_nnode_service *svc);
/* bs_nnode_start_services with a repair service on every node
 * (node/repair_env.c over the harness's membership), in c->repair[i];
 * o NULL: defaults.  A test may replace c->repair[i] itself (stop and
 * free the old one first); teardown frees whatever is there. */
int bs_nnode_start_repair(bs_nnode *c, const bs_repair_opts *o);
/* Stops the services and messaging, closes the stores, removes the
 * directories, releases the ring.  Safe after a failed start. */
void bs_nnode_stop(bs_nnode *c);

/* Creates keyspace `ks` (SimpleStrategy, replication_factor rf) with
 * table t (k text PRIMARY KEY, v text) and a table id of 16 bytes
 * `id_byte`, on every node's local schema.  0 or an error. */
int bs_nnode_create_table(bs_nnode *c, const char *ks, int rf, uint8_t id_byte);
/* The id of column v of ks.t (as node 0 sees it), or -1. */
int bs_nnode_vcol(bs_nnode *c, const char *ks);

/* The membership over c (ud = c; its future ring is c->future). */
void bs_nnode_membership(bs_nnode *c, bs_coord_membership *out);
/* A topology change in progress: node i joining (leaving 0: the ring
 * lacks it, the future ring has every node) or leaving (the ring has
 * every node, the future ring lacks it); i = -1 ends it (every node in
 * the ring, no future ring).  0 or an error. */
int bs_nnode_set_change(bs_nnode *c, int i, int leaving);
/* Node i seen up (a != 0) or down from now on. */
void bs_nnode_set_alive(bs_nnode *c, int i, int a);
/* Node i's endpoint lookup fails (on != 0) or works again. */
void bs_nnode_set_noaddr(bs_nnode *c, int i, int on);

/* Node i down: marked dead, its service stopped, its messaging stopped,
 * its service freed (the store stays open). */
void bs_nnode_down(bs_nnode *c, int i);
/* ... and back: messaging on a new free port, service started, alive. */
int bs_nnode_up(bs_nnode *c, int i);
/* Node i restarted with its store closed and reopened in between
 * (liveness unchanged).  0 or an error. */
int bs_nnode_restart(bs_nnode *c, int i);
/* Node i's messaging stopped (its service must be stopped already):
 * requests to it fail from now on.  Its endpoint stays published. */
void bs_nnode_msg_stop(bs_nnode *c, int i);

#endif
