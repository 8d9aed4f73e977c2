/*
 * local.h - the local node: its store, its schema, its identity (host id
 * and tokens), and the executor backend that serves CQL from them.
 *
 * State kept in the store's system tables (survives restarts):
 *   system.schema  partition "schema": the msgpack schema (query/schema.h)
 *   system.local   partition "local":  host id (16 bytes), tokens (8 bytes
 *                  each, big-endian), cluster name
 * A node refuses to start when its data directory belongs to another
 * cluster (cluster name mismatch).
 *
 * Threads: every function may be called from any thread; schema changes
 * are serialized by an internal mutex and published atomically.
 */
#ifndef BS_NODE_LOCAL_H
#define BS_NODE_LOCAL_H

#include <stddef.h>
#include <stdint.h>

#include "node/config.h"
#include "query/exec.h"

typedef struct bs_local bs_local;

/* Opens <data_directory>/data, loads or creates identity and schema, and
 * opens a store table for every table of the schema.  cfg is borrowed
 * and must outlive the node.  0, or an error with a message in err. */
int bs_local_open(const bs_config *cfg, bs_local **out, char *err,
                  size_t errlen);
/* Flushes memtables and closes the store.  NULL is a no-op. */
void bs_local_close(bs_local *n);
/* Fills an executor backend served by this node (ud = n). */
void bs_local_backend(bs_local *n, bs_exec_backend *be);
/* Called after each schema change with the SCHEMA_CHANGE event to push
 * to drivers (the server's broadcast).  Any thread. */
void bs_local_set_event_sink(bs_local *n,
                             void (*fn)(void *ud, const bs_proto_event *ev),
                             void *ud);
/* Flushes every table's memtable (drain). */
int bs_local_flush(bs_local *n);
/* Approximate bytes on disk of every table (SST files). */
int64_t bs_local_load_bytes(bs_local *n);
/* Flush / full compaction of one table, every table of a keyspace
 * (table NULL) or everything (ks NULL).  BS_ENOTFOUND for an unknown
 * keyspace or table. */
int bs_local_flush_tables(bs_local *n, const char *ks, const char *table);
int bs_local_compact_tables(bs_local *n, const char *ks, const char *table);
/* Identity. */
void bs_local_host_id(const bs_local *n, bs_uuid *out);
size_t bs_local_tokens(const bs_local *n, const int64_t **tokens);
/* 1 while the node has not joined a ring yet (its tokens are not yet
 * announced to any cluster; system.local's bootstrapped marker says
 * NEEDS_BOOTSTRAP): node/cluster/ learns the ring from the seeds, then
 * replaces the first-start placeholders (random) with balanced tokens,
 * or with initial_token's when that is set (the first start then stores
 * those).  0 for a first start with initial_token and auto_bootstrap
 * false (NORMAL at once), or a node that completed this step (including
 * data directories older than the marker). */
int bs_local_needs_tokens(const bs_local *n);
/* Replaces the placeholder tokens (copied) and persists them, then marks
 * the choice COMPLETED.  Only while bs_local_needs_tokens() and before
 * anything reads the tokens concurrently (the CQL server is not started
 * yet).  0, BS_EINVAL (no placeholders, ntokens 0), BS_ENOMEM or a store
 * error. */
int bs_local_set_tokens(bs_local *n, const int64_t *tokens, size_t ntokens);
/* 1 from bs_local_set_tokens until bs_local_set_bootstrapped (persisted:
 * system.local's bootstrapped says IN_PROGRESS), so a node restarted in
 * the middle of its bootstrap resumes it. */
int bs_local_bootstrapping(const bs_local *n);
/* Marks the bootstrap COMPLETED (persisted and synced).  0 or a store
 * error; a no-op when not bootstrapping. */
int bs_local_set_bootstrapped(bs_local *n);
/* Records that the node left the ring (decommission): bs_local_open
 * then refuses this data directory with a message.  0 or an error. */
int bs_local_set_decommissioned(bs_local *n);
/* The node's store (borrowed; valid until bs_local_close), for the
 * replicated coordinator (node/coord*.c): replica writes and reads, read
 * repair and the hint table. */
typedef struct bs_store bs_store;
bs_store *bs_local_store(bs_local *n);

/* Applies mutations to s as one atomic batch, with now_s (> 0) as the
 * clock for TTLs, 0 for the store's.  Goes through
 * bs_store_write_grouped: in a thread with an open defer scope (the CQL
 * loop's inline pass) the batch is queued until the scope's commit.
 * 0, a bs_store_table_get error for an unknown table, or a store error. */
int bs_local_apply(bs_store *s, const bs_mutation *m, size_t nm, int64_t now_s);
/* As bs_local_apply, but never queued: applied (after what the thread's
 * defer scope queued) before it returns, so the caller reads it back at
 * once (the counter leader's read-modify-write). */
int bs_local_apply_now(bs_store *s, const bs_mutation *m, size_t nm, int64_t now_s);

/* ---- cluster hooks (node/cluster/cluster.c) ------------------------------------ */

/* The gossip generation of this start: max(now_s, last one + 1), persisted
 * in system.local so a restart within the same second still moves it
 * forward.  0 or an error. */
int bs_local_next_generation(bs_local *n, int64_t now_s, int32_t *gen);
/* 1 when bs_local_next_generation found an earlier generation: this start
 * is a restart of a node that was already a cluster member. */
int bs_local_restarted(const bs_local *n);
/* The other members this node knew when it last ran, as saved by
 * bs_local_save_peers ("addr:port,addr:port", storage ports): a restart
 * contacts them at once and waits to hear from them before it serves
 * clients, so a restarted seed knows the ring even when the others are
 * slow to reconnect (Cassandra keeps system.peers for this).  malloc'd;
 * NULL when none were saved. */
char *bs_local_saved_peers(bs_local *n);
int bs_local_save_peers(bs_local *n, const char *list);
/* Called (any thread) after a DDL of this node's own clients has been
 * applied, with the new schema (borrowed for the call): the cluster
 * pushes it to its peers. */
void bs_local_set_schema_listener(bs_local *n,
                                  void (*fn)(void *ud, const bs_schema *s),
                                  void *ud);
/* Peers for system.peers/peers_v2: fills *peers (from arena a) and
 * *npeers.  Without a provider the node has no peers. */
typedef int (*bs_local_peers_fn)(void *ud, bs_arena *a, bs_exec_node **peers,
                                 size_t *npeers);
void bs_local_set_peers_provider(bs_local *n, bs_local_peers_fn fn, void *ud);
/* Merges a schema received from a peer (msgpack, untrusted: validated)
 * into ours with bs_schema_merge's rule; when that changes anything it is
 * persisted, tables are created/dropped, and SCHEMA_CHANGE events go to
 * the event sink.  *changed (may be NULL) says whether it did.  0, or
 * BS_ECORRUPT (bad bytes, message in err) or a store error. */
int bs_local_schema_merge(bs_local *n, const void *data, size_t len,
                          int *changed, char *err, size_t errlen);
/* The current schema, retained (release it). */
bs_schema *bs_local_schema(bs_local *n);

#endif
