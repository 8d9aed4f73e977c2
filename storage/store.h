/*
 * store.h - the node-local wide-column store (one RocksDB instance per node).
 *
 * A bs_store is one RocksDB database in one directory.  Every table is a
 * column family ("ks.table" or any name the schema layer picks; system
 * tables use "system.schema", "system.local", ...).  Keys and clustering
 * keys are opaque byte strings to this layer: the query layer encodes them
 * with storage/keycodec.h so that bytewise order is the CQL order and a
 * prefix of clustering components is a byte prefix.
 *
 * Model (exactly Cassandra's):
 *   - a partition = (token, partition key bytes); partitions sort by token
 *     (signed), then key length, then key bytes;
 *   - a partition holds an optional partition deletion, a static row,
 *     range tombstones over clustering slices, and clustered rows sorted by
 *     their clustering bytes;
 *   - a row holds an optional row deletion, an optional row marker (the
 *     liveness info CQL INSERT writes) and cells by column id (u16); a
 *     collection column holds an optional collection tombstone and one cell
 *     per element key (opaque, order-preserving bytes);
 *   - every write is a blind write; conflicts resolve per cell by
 *     last-write-wins (see bs_store_lww_cmp for the exact tie rules);
 *   - a deletion with timestamp D shadows every cell with timestamp <= D
 *     that it covers; a TTL cell whose expiry time is <= now reads as absent.
 *
 * Errors: every function returns 0 or a negative BS_E code.  When a read
 * meets corrupt bytes it returns BS_ECORRUPT and bs_store_errmsg() names
 * the table and the key in hex.
 *
 * Threads: a bs_store and its tables may be used from any number of
 * threads at once (RocksDB is thread-safe).  A bs_batch belongs to one
 * thread at a time.
 */
#ifndef BS_STORE_H
#define BS_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "common/clock.h"
#include "common/rowdata.h"

typedef struct bs_store bs_store;
typedef struct bs_table bs_table;
typedef struct bs_batch bs_batch;

/* ------------------------------------------------------------------ */
/* Open / close                                                        */
/* ------------------------------------------------------------------ */

typedef enum {
    /* Ack once the WAL record is written (to the OS); a background thread
     * fsyncs the WAL every periodic_sync_ms.  A process crash loses
     * nothing, a machine crash may lose the last period. */
    BS_DURABILITY_PERIODIC = 0,
    /* Ack only after the WAL record is fsynced.  Writes use sync=1 and
     * RocksDB's write group commit: concurrent writers join one group whose
     * leader writes all their records and issues a single fsync. */
    BS_DURABILITY_BATCH = 1
} bs_durability;

typedef struct bs_store_opts {
    bs_durability durability;   /* default PERIODIC */
    uint32_t periodic_sync_ms;  /* default 10000 (cassandra.yaml default) */
    bs_clock *clock;            /* borrowed, outlives the store; NULL = default */
    size_t block_cache_mb;      /* shared block cache; default 64 */
    size_t write_buffer_mb;     /* per table memtable size; default 64 */
    int disable_auto_compactions; /* tests/benchmarks; default 0 */
    int create_if_missing;      /* default 1 */
    int index_filter_outside_cache; /* default 0: SST index and filter
                                       blocks live in the block cache
                                       (high priority, L0 pinned), so the
                                       cache size bounds them */
    uint64_t min_free_bytes;    /* writes are refused (BS_EIO, "No space
                                   left on device: ...") while the data
                                   directory's file system has less free
                                   space, so RocksDB never meets a full
                                   disk; 0 = no check (default) */
} bs_store_opts;

/* Fills `o` with the defaults above. */
void bs_store_opts_default(bs_store_opts *o);

/* Opens (or creates) the store in directory `dir`; every column family
 * found there is opened too (get its handle with bs_store_table_get).
 * opts may be NULL (defaults).  On success *out owns the store; free it
 * with bs_store_close.  BS_EIO when RocksDB refuses (message in
 * bs_store_errmsg()). */
int bs_store_open(const char *dir, const bs_store_opts *opts, bs_store **out);

/* Stops the periodic sync thread, syncs the WAL, closes RocksDB and frees
 * every bs_table handle.  NULL is a no-op.  No call may be in flight. */
void bs_store_close(bs_store *s);

/* The message of the last failing call of this thread (names the table
 * and, for corruption, the key in hex).  Static thread-local storage,
 * valid until the next failing call on this thread.  Never NULL. */
const char *bs_store_errmsg(void);

/* Fsyncs the WAL now (what the periodic thread does).  0 or BS_EIO. */
int bs_store_sync(bs_store *s);

/* How RocksDB's flush and compaction threads are scheduled (store_bg.c):
 * on idle CPU only (SCHED_IDLE) while the store keeps up, at normal
 * priority (nice 5) while work is behind.  idle_allowed is 0 when the
 * process may not leave SCHED_IDLE again (no CAP_SYS_NICE / RLIMIT_NICE);
 * then they always run at nice 5. */
typedef struct bs_store_bg {
    int idle_allowed;
    int behind;        /* checked every 250 ms */
    uint64_t switches; /* behind <-> caught up, since open */
    /* Work now, read when asked (nodetool compactionstats' question):
     * flushes and compactions running in the whole store, tables with a
     * memtable waiting for its flush, tables whose LSM shape calls for a
     * compaction, and RocksDB's estimate of the bytes those compactions
     * would rewrite.  All 0: the store is quiet. */
    int flushes_running, compactions_running;
    int flushes_pending, compactions_pending;
    uint64_t pending_compaction_bytes;
} bs_store_bg;
void bs_store_bg_state(bs_store *s, bs_store_bg *out);

/* Write admission (store_bg.c): nonzero while some table has so many L0
 * files (>= BS_STORE_SHED_L0, four below RocksDB's slowdown trigger) that
 * more writes would push RocksDB into its write slowdown, which then
 * holds every write to a few MB/s for as long as compaction takes to
 * catch up - tens of seconds after a burst.  Coordinators answer client
 * writes Overloaded meanwhile, so the backlog stays bounded and full
 * speed returns as soon as the burst ends.  Checked every 250 ms; clears
 * once the worst table is back under the threshold.  *l0 (may be NULL)
 * gets that table's L0 file count. */
#define BS_STORE_SHED_L0 16
int bs_store_shedding(bs_store *s, uint64_t *l0);
/* How many times shedding started since open. */
uint64_t bs_store_shed_episodes(bs_store *s);

/* Memory RocksDB accounts for, in bytes, summed over the default column
 * family and every live table: memtables (active, unflushed immutable,
 * and flushed ones kept for history: mem_tables_all), the shared block
 * cache (all of it, and the part pinned by open iterators/readers), and
 * the SST readers' index and filter blocks held outside the block cache.
 * What a node's RSS holds beyond these is the node's own (and malloc's). */
typedef struct bs_store_mem {
    uint64_t mem_tables_cur, mem_tables_all;
    uint64_t block_cache, block_cache_pinned, block_cache_capacity;
    uint64_t table_readers;
} bs_store_mem;
void bs_store_mem_get(bs_store *s, bs_store_mem *out);

/* ------------------------------------------------------------------ */
/* Tables (one column family each)                                     */
/* ------------------------------------------------------------------ */

typedef struct bs_table_opts {
    int32_t gc_grace_seconds; /* default 864000 (10 days); >= 0 */
    /* For tables whose rows are rewritten over and over (an index row
     * written again with every batch): the memtable keeps at most this
     * many successive writes of one cell before folding them into one
     * value, so a read does not merge hundreds of them.  Each write then
     * costs a memtable lookup.  0 (default): no bound. */
    uint32_t max_successive_merges;
} bs_table_opts;

void bs_table_opts_default(bs_table_opts *o);

/* Opens table `name` (1..200 bytes, any bytes but NUL), creating its
 * column family if missing, and applies `o` (NULL = defaults) to it.
 * The handle is owned by the store and stays valid until bs_store_close,
 * even after the table is dropped (then every call on it gives
 * BS_ENOTFOUND).  The name "default" is reserved (BS_EINVAL). */
int bs_store_table_open(bs_store *s, const char *name, const bs_table_opts *o,
                        bs_table **out);
/* The handle of an existing (not dropped) table, or BS_ENOTFOUND. */
int bs_store_table_get(bs_store *s, const char *name, bs_table **out);
/* Changes the table's options (takes effect for the next compaction). */
int bs_table_set_opts(bs_table *t, const bs_table_opts *o);
/* The table's name; borrowed, valid as long as the handle. */
const char *bs_table_name(const bs_table *t);
/* Drops the column family: its data become unreachable at once and the
 * files are deleted by RocksDB.  BS_ENOTFOUND if no such table. */
int bs_store_table_drop(bs_store *s, const char *name);
/* Calls cb(ud, name) for each live table, in no particular order; stops
 * early and returns cb's value if cb returns non-zero. */
int bs_store_table_list(bs_store *s, int (*cb)(void *ud, const char *name),
                        void *ud);
/* Deletes every row of the table (CQL TRUNCATE): one RocksDB range
 * deletion over the whole key space, so later writes are visible again. */
int bs_store_truncate(bs_table *t);

/* ------------------------------------------------------------------ */
/* Mutation batches                                                    */
/* ------------------------------------------------------------------ */

/* Where a row lives.  token: the partitioner's token; pk: the serialized
 * partition key (<= 65535 bytes); ck: the encoded full clustering key
 * (<= 65535 bytes, may be empty for tables without clustering columns);
 * is_static selects the partition's static row (ck ignored).  All
 * pointers are borrowed for the duration of the call only. */
typedef struct bs_rowkey {
    int64_t token;
    const void *pk;
    size_t pk_len;
    const void *ck;
    size_t ck_len;
    int is_static;
} bs_rowkey;

/* bs_bound, bs_bound_kind: common/rowdata.h */

/* A new empty batch for store `s`.  Its "now" (seconds; TTL expiry and
 * tombstone local deletion times are computed from it) is read from the
 * store's clock; override it with bs_batch_set_now (replicas should use
 * the coordinator's time so that all replicas agree).  Free with
 * bs_batch_free. */
int bs_batch_new(bs_store *s, bs_batch **out);
void bs_batch_free(bs_batch *b);
void bs_batch_set_now(bs_batch *b, int64_t now_s);
/* Empties the batch (also clears a poisoned state) for reuse. */
void bs_batch_clear(bs_batch *b);
/* Number of RocksDB records in the batch. */
size_t bs_batch_count(const bs_batch *b);

/* Each add returns 0, or BS_EINVAL/BS_ERANGE/BS_ENOTFOUND (table
 * dropped)/BS_ENOMEM; after a failure the batch is poisoned and
 * bs_store_write refuses it with BS_EPOISONED.  Timestamps are
 * microseconds chosen by the caller.  ttl: seconds, 0 = no TTL,
 * 1..630720000 (20 years, Cassandra's maximum). */

/* A live cell of a simple column (elem == NULL) or a collection element
 * (elem != NULL, elem_len may be 0). */
int bs_batch_put_cell(bs_batch *b, bs_table *t, const bs_rowkey *row,
                      uint16_t col, const void *elem, size_t elem_len,
                      const void *val, size_t val_len, int64_t ts, int32_t ttl);
/* A cell tombstone for a simple column or one collection element. */
int bs_batch_delete_cell(bs_batch *b, bs_table *t, const bs_rowkey *row,
                         uint16_t col, const void *elem, size_t elem_len,
                         int64_t ts);
/* Deletes a whole collection column (every element with ts' <= ts). */
int bs_batch_delete_collection(bs_batch *b, bs_table *t, const bs_rowkey *row,
                               uint16_t col, int64_t ts);
/* The row marker (CQL INSERT); not for the static row. */
int bs_batch_row_marker(bs_batch *b, bs_table *t, const bs_rowkey *row,
                        int64_t ts, int32_t ttl);
/* A row deletion; kept apart from the marker, so a later marker never
 * erases an older deletion.  Not for the static row. */
int bs_batch_delete_row(bs_batch *b, bs_table *t, const bs_rowkey *row,
                        int64_t ts);
/* A range tombstone over the rows between two clustering bounds. */
int bs_batch_delete_range(bs_batch *b, bs_table *t, int64_t token,
                          const void *pk, size_t pk_len, const bs_bound *start,
                          const bs_bound *end, int64_t ts);
/* A partition deletion (static row included). */
int bs_batch_delete_partition(bs_batch *b, bs_table *t, int64_t token,
                              const void *pk, size_t pk_len, int64_t ts);
/* A raw record as yielded by bs_store_iterate_range (streaming/repair):
 * checked (BS_ECORRUPT) and merged by LWW, so applying it twice or out of
 * order gives the same result. */
int bs_batch_put_raw(bs_batch *b, bs_table *t, const void *key, size_t klen,
                     const void *val, size_t vlen);
/* Raw records (as bs_batch_put_raw takes them), in strictly increasing
 * key order, loaded into t through an SST file (storage/ingest.c): next
 * yields one record (1), the end (0) or an error (< 0).  Merged by LWW
 * like a batch.  0; BS_ENOTSUP a record needs a batch (partition deletion,
 * range tombstone, static row: nothing was loaded); BS_ECORRUPT a bad
 * record; BS_EINVAL keys out of order; BS_EIO. */
typedef int (*bs_store_raw_iter)(void *ud, const uint8_t **key, size_t *klen,
                                 const uint8_t **val, size_t *vlen);
int bs_store_ingest_raw(bs_table *t, bs_store_raw_iter next, void *ud,
                        uint64_t *rows, uint64_t *bytes);
/* The same fed record by record (a streamed range as its chunks land):
 * add checks each record as bs_batch_put_raw does (BS_ECORRUPT), refuses
 * those that need a batch (BS_ENOTSUP: nothing added), and starts a new
 * file when a key is not above the previous one; ingest moves every file
 * into the table (one call; afterwards only free is allowed); free drops
 * whatever was not ingested. */
typedef struct bs_store_sst bs_store_sst;
int bs_store_sst_new(bs_table *t, bs_store_sst **out);
int bs_store_sst_add(bs_store_sst *w, const void *key, size_t klen, const void *val,
                     size_t vlen);
int bs_store_sst_ingest(bs_store_sst *w);
void bs_store_sst_free(bs_store_sst *w);

/* Applies the whole batch atomically (one RocksDB write across column
 * families) with the store's durability mode; returns when it is
 * acknowledged as that mode defines.  The batch is left as it was (clear it
 * to reuse).  BS_EPOISONED if an add failed; BS_EIO on a RocksDB error. */
int bs_store_write(bs_store *s, bs_batch *b);

/*
 * Group commit for one thread (PERIODIC durability).  Normally every
 * write applies its batch and hands its WAL record to the OS before it
 * returns (one write(2) per call).  Between bs_store_defer_begin() and
 * bs_store_defer_commit() on a thread:
 *   - bs_store_write_grouped only queues its batch; the commit applies
 *     everything queued as ONE atomic RocksDB write.  Until then those
 *     writes are invisible to reads (also on this thread): use it for
 *     writes that are concurrent anyway (pipelined requests' mutations)
 *     and read back nothing they wrote.
 *   - bs_store_write first applies what is queued (order kept), then its
 *     own batch, so whoever wrote it can read it back at once.
 *   - no WAL record of the scope reaches the OS before the commit, so
 *     none of the scope's writes may be acknowledged before it.
 * The commit ends the scope.  Without a scope, bs_store_write_grouped is
 * bs_store_write.  In BATCH durability begin is a no-op (every write is
 * applied and fsynced before it returns).  Commit: 0 or BS_EIO/BS_ENOMEM
 * (nothing of the scope may then be acknowledged; some of it may be
 * applied).
 */
int bs_store_write_grouped(bs_store *s, bs_batch *b);
void bs_store_defer_begin(bs_store *s);
int bs_store_defer_commit(void);

/* ------------------------------------------------------------------ */
/* Reads                                                               */
/* ------------------------------------------------------------------ */

/* (type defined in common/rowdata.h) */

/* What to read from a partition.  Zero-initialise, then set fields:
 * a zeroed bs_slice reads every row and column, forward, no limit, no
 * static row, at the store clock's now. */
/* (type defined in common/rowdata.h) */

/* Reads one partition.  A row is returned if it has a live row marker or
 * any live cell in any column (the column selection only filters the cells
 * returned, as in CQL).  Everything in *out is allocated from `arena` and
 * lives until the arena is reset.  An absent partition gives 0 and a
 * partition with nrows == 0. */
int bs_store_read(bs_table *t, int64_t token, const void *pk, size_t pk_len,
                  const bs_slice *sl, bs_arena *arena, bs_partv **out);

/* Token range (start, end], Cassandra style: start < end is the plain
 * range; start >= end wraps around the ring ((start, max] then
 * [min, end]); start == end is the whole ring. */
/* (type defined in common/rowdata.h) */

/* Called once per partition that has a live row or a live static row, in
 * token order.  `p` and everything it points to is valid only during the
 * call.  Return 0 to go on, > 0 to stop (bs_store_scan returns 0), < 0 to
 * stop with that error. */
/* (type defined in common/rowdata.h) */

/* Scans partitions of a token range from one RocksDB snapshot. */
int bs_store_scan(bs_table *t, const bs_scan *sc, bs_part_cb cb, void *ud);

/* The rows of a token range from one snapshot, one at a time, for
 * aggregations (bs_visit in common/rowdata.h): each partition is offered
 * to v->part before its rows are read, and each row with a live selected
 * cell goes to v->row, borrowed (nothing is materialised; records of
 * columns not selected are stepped over without being decoded).  The
 * slice's bounds, columns and now_s apply; its limit, paging and static
 * row do not; a cursor is refused (BS_EINVAL).  0; 1 when the row
 * callback stopped it; the callbacks' error, or a store error. */
int bs_store_visit(bs_table *t, const bs_scan *sc, const bs_visit *v);

/* Raw records (repair / streaming).  key/val are borrowed for the call.
 * Same return convention as bs_part_cb. */
typedef int (*bs_raw_cb)(void *ud, const uint8_t *key, size_t klen,
                         const uint8_t *val, size_t vlen);

/* Every stored record (merged, tombstones included) whose token is in
 * (start, end] (wrapping as in bs_scan), in key order, from one snapshot.
 * Each record is checked; corrupt bytes stop the walk with BS_ECORRUPT. */
int bs_store_iterate_range(bs_table *t, int64_t start_excl, int64_t end_incl,
                           bs_raw_cb cb, void *ud);

/* The token of a raw key (for Merkle trees).  BS_ECORRUPT if too short. */
int bs_store_key_token(const void *key, size_t klen, int64_t *out);

/* Approximate on-disk bytes of (start, end] (SST files only; memtables
 * are not counted: flush first for exact-ish figures). */
int bs_store_approx_size(bs_table *t, int64_t start_excl, int64_t end_incl,
                         uint64_t *out);

/* ------------------------------------------------------------------ */
/* Maintenance                                                         */
/* ------------------------------------------------------------------ */

/* Deletes every record (cells and tombstones alike, no tombstone left
 * behind) whose token is in (start, end], wrapping as in bs_scan: what
 * cleanup does to the ranges a node no longer replicates.  A later
 * compaction reclaims the space.  0 or a store error. */
int bs_store_delete_tokens(bs_table *t, int64_t start_excl, int64_t end_incl);

/* Flushes the table's memtable (t == NULL: every table) to SST files. */
int bs_store_flush(bs_store *s, bs_table *t);
/* Full manual compaction of a table down to the bottommost level; runs
 * the TTL/tombstone GC (compaction filter).  Tombstones that shadow cells
 * stored under other keys are purged only once those cells are gone, so
 * fully collecting a deleted partition may take two compactions. */
int bs_store_compact(bs_table *t);

/* ------------------------------------------------------------------ */
/* LWW (exposed for tests and for read repair)                          */
/* ------------------------------------------------------------------ */

/* Compares two encoded cell values (as stored under `key`) by Cassandra's
 * reconciliation: > 0 if a wins, < 0 if b wins, 0 if identical in every
 * respect.  Rules: higher timestamp; then a tombstone or expiring cell
 * beats a regular live cell; then a tombstone beats an expiring cell; then
 * the later local deletion/expiry time; then the greater value (unsigned
 * bytes); then the greater ttl.  BS_ECORRUPT via *err when either value
 * does not decode (err may be NULL). */
int bs_store_lww_cmp(const void *key, size_t klen, const void *a, size_t alen,
                     const void *b, size_t blen, int *err);

#endif
