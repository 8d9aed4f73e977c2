/*
 * store_int.h - private to storage/ (and its tests): the key and cell
 * encodings, LWW, and the structs behind the opaque handles.
 *
 * KEY LAYOUT (every record of every table CF)
 *
 *   OFFSET      SIZE  DESCRIPTION
 *   0           8     token, big-endian with the sign bit flipped, so the
 *                     unsigned byte order is the signed token order
 *   8           2     P = partition key length (u16 BE)
 *   10          P     partition key bytes (opaque)
 *   10+P        1     kind:
 *                       0x10 partition deletion (nothing follows)
 *                       0x20 static row    -> COLUMN SLOT follows
 *                       0x30 range tombstone -> RT BOUNDS follow
 *                       0x40 clustered row -> ROW REST follows
 *
 *   ROW REST (kind 0x40), C = clustering length:
 *   11+P        C     clustering bytes (opaque, bytewise = clustering order)
 *   11+P+C      1..   ROW SLOT:
 *                       0x00 row deletion
 *                       0x01 row marker
 *                       0x02 COLUMN SLOT
 *   len-2       2     C (u16 BE).  C sits at the END so that rows sort by
 *                     their clustering bytes; since full clustering keys are
 *                     prefix-free, two rows first differ inside C.
 *
 *   COLUMN SLOT (after 0x02 in a row, directly after kind 0x20 in static):
 *   +0          2     column id (u16 BE)
 *   +2          1     0x00 simple cell, 0x01 collection tombstone,
 *                     0x02 collection element
 *   +3          E     element key bytes (0x02 only; opaque, ordered)
 *   For the static row the column slot is preceded by 0x02 as well, so
 *   static and clustered rows share one slot parser.
 *
 *   RT BOUNDS (kind 0x30), unique per (bounds); ordered by nothing useful
 *   (a read loads all range tombstones of the partition):
 *   11+P        1     flags: 0x01 start incl, 0x02 start unbounded,
 *                            0x04 end incl,   0x08 end unbounded
 *   12+P        2     S (u16 BE)
 *   14+P        S     start prefix
 *   14+P+S      2     E (u16 BE)
 *   16+P+S      E     end prefix   (total length must match exactly)
 *
 *   Within a partition: deletion < static < range tombstones < rows, so a
 *   forward walk (reads, the compaction filter) meets every deletion before
 *   the cells it shadows; within a row: deletion < marker < columns, and a
 *   collection tombstone before its elements.
 *
 * CELL VALUE LAYOUT (every record's value, deletions included)
 *
 *   OFFSET SIZE DESCRIPTION
 *   0      4    checksum: low 32 bits of XXH3_64(bytes 4..end, seed =
 *               XXH3_64(key)); covers the key so a damaged key is caught
 *   4      1    flags: 0x01 tombstone, 0x02 expiring (not both); upper
 *               nibble = format version, must be 0
 *   5      8    write timestamp, int64 BE (microseconds)
 *   13     4    ttl, int32 BE (seconds; 0 unless expiring)
 *   17     4    local deletion time, u32 BE (epoch seconds): tombstone =
 *               deletion time; expiring = expiry time; live = 0xFFFFFFFF
 *   21     n    value bytes (empty for tombstones and markers)
 */
#ifndef BS_STORE_INT_H
#define BS_STORE_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <rocksdb/c.h>

#include "common/buf.h"
#include "storage/store.h"

#define BS__K_PDEL 0x10
#define BS__K_STATIC 0x20
#define BS__K_RT 0x30
#define BS__K_ROW 0x40

#define BS__S_ROWDEL 0x00
#define BS__S_MARKER 0x01
#define BS__S_COL 0x02

#define BS__C_SIMPLE 0x00
#define BS__C_CTOMB 0x01
#define BS__C_ELEM 0x02

#define BS__RT_START_INCL 0x01
#define BS__RT_START_NONE 0x02
#define BS__RT_END_INCL 0x04
#define BS__RT_END_NONE 0x08

#define BS__CELL_TOMB 0x01
#define BS__CELL_EXP 0x02
#define BS__CELL_HDR 21
#define BS__NO_LDT 0xFFFFFFFFu
#define BS__MAX_TTL 630720000

/* ---- keys (key.c) ---- */

typedef struct bs__key {
    int64_t token;
    const uint8_t *pk;
    size_t pk_len;
    size_t prefix_len;   /* 10 + pk_len: the partition prefix */
    uint8_t kind;
    /* rows (kind ROW): clustering */
    const uint8_t *ck;
    size_t ck_len;
    size_t row_prefix_len; /* 11 + P + C: key bytes that name the row */
    /* rows and static: slot */
    uint8_t slot;        /* BS__S_* (static: always BS__S_COL) */
    uint16_t col;
    uint8_t csub;        /* BS__C_* */
    const uint8_t *elem;
    size_t elem_len;
    /* range tombstones */
    uint8_t rt_flags;
    const uint8_t *rt_start;
    size_t rt_start_len;
    const uint8_t *rt_end;
    size_t rt_end_len;
} bs__key;

uint64_t bs__token_enc(int64_t token);
int64_t bs__token_dec(uint64_t u);
/* Appends token | P | pk. */
int bs__key_part_prefix(bs_buf *b, int64_t token, const void *pk, size_t pk_len);
/* Appends the full key of a row/static slot.  slot BS__S_*, for COL also
 * col/csub/elem.  row->is_static selects the static row. */
int bs__key_slot(bs_buf *b, const bs_rowkey *row, uint8_t slot, uint16_t col,
                 uint8_t csub, const void *elem, size_t elem_len);
int bs__key_rt(bs_buf *b, int64_t token, const void *pk, size_t pk_len,
               const bs_bound *start, const bs_bound *end);
/* Parses and validates a key.  0 or BS_ECORRUPT. */
int bs__key_parse(const uint8_t *k, size_t len, bs__key *out);
/* Replaces b's bytes by their prefix successor: the smallest string
 * greater than every string that starts with them.  Returns 0, or 1 if
 * none exists (all bytes 0xFF; then b is left empty = "no bound"). */
int bs__key_succ(bs_buf *b);
/* Compares clustering bytes ck with a bound prefix: 0 when ck starts with
 * the prefix, else memcmp order. */
int bs__ck_cmp_prefix(const uint8_t *ck, size_t cklen, const uint8_t *p,
                      size_t plen);
/* Does a range tombstone (parsed key) cover clustering ck? */
int bs__rt_covers(const bs__key *rt, const uint8_t *ck, size_t cklen);
/* Lowercase hex of up to 64 bytes of p into out (>= 2*64+4 bytes). */
void bs__hex(const void *p, size_t n, char *out, size_t outsz);

/* ---- cells (cell.c) ---- */

typedef struct bs__cell {
    uint8_t flags;
    int64_t ts;
    int32_t ttl;
    uint32_t ldt;
    const uint8_t *val;
    size_t val_len;
} bs__cell;

/* Appends an encoded cell for `key` (checksum included). */
int bs__cell_encode(bs_buf *b, const void *key, size_t klen, uint8_t flags,
                    int64_t ts, int32_t ttl, uint32_t ldt, const void *val,
                    size_t vlen);
/* Writes the encoding into out (BS__CELL_HDR + vlen bytes). */
void bs__cell_encode_to(uint8_t *out, const void *key, size_t klen,
                        uint8_t flags, int64_t ts, int32_t ttl, uint32_t ldt,
                        const void *val, size_t vlen);
/* Decodes and verifies (checksum against key).  0 or BS_ECORRUPT. */
int bs__cell_decode(const void *key, size_t klen, const uint8_t *v, size_t vlen,
                    bs__cell *out);
/* Cassandra reconciliation of decoded cells: > 0 a wins, < 0 b, 0 same. */
int bs__cell_reconcile(const bs__cell *a, const bs__cell *b);
/* Live at now_s: not a tombstone and not expired. */
static inline int bs__cell_live(const bs__cell *c, int64_t now_s) {
    if (c->flags & BS__CELL_TOMB) return 0;
    if ((c->flags & BS__CELL_EXP) && (int64_t)c->ldt <= now_s) return 0;
    return 1;
}
/* The RocksDB merge operator (LWW); the options take ownership. */
rocksdb_mergeoperator_t *bs__merge_operator_create(void);

/* ---- store (store.c) ---- */

/* Per-table state shared with the compaction filter factory.  Owned by
 * the factory (freed by its destructor when RocksDB drops the last
 * reference); the bs_table only points at it while the DB is open. */
typedef struct bs__gctab {
    _Atomic int32_t gc_grace_s;
    bs_clock *clock;
    _Atomic(rocksdb_t *) db;                        /* NULL during open */
    _Atomic(rocksdb_column_family_handle_t *) cf;   /* idem */
    char name[208];
} bs__gctab;

/* HEADER HINT.  Most tables never see a partition deletion or a range
 * tombstone, many have no static columns; for them a read can skip
 * looking for such records (the query layer always asks for the static
 * row).  `hdr` holds one bit per kind (BS__HDR_PDEL, BS__HDR_RT,
 * BS__HDR_STATIC: any static-row record); a bit is set (and never
 * cleared while the handle lives) as soon as a batch receives a record of
 * that kind for the table, before the batch is written; a reader loads
 * `hdr` after creating its iterator, so a reader whose iterator can see
 * such a record also sees its bit (the write's sequence publication
 * orders the two).  Each bit persists as its own key in the default
 * column family - "basalt/hdr/p/<table>", ".../r/..." and ".../s/...",
 * value "1" (separate keys, so concurrent batches never overwrite each
 * other's bit) - put in the same atomic batch as the record, once per
 * table and kind until a batch carrying it has been written
 * (`hdr_logged`); bs_store_open loads them.  WAL replay is in order, so a
 * surviving header record implies a surviving hint.  Dropping the table
 * deletes the keys; truncate and GC leave them (a stale hint only costs
 * the probes). */
#define BS__HDR_PDEL 0x01
#define BS__HDR_RT 0x02
#define BS__HDR_STATIC 0x04
#define BS__HDR_ALL 0x07

struct bs_table {
    bs_store *store;
    char *name;
    rocksdb_column_family_handle_t *cf;
    bs__gctab *gc;
    _Atomic int dropped;
    _Atomic int hdr;        /* BS__HDR_* kinds the table may hold */
    _Atomic int hdr_logged; /* BS__HDR_* bits whose key has been written */
    _Atomic uint32_t max_merges; /* max_successive_merges applied (bs_table_opts) */
    bs_table *next;
};

struct bs_store {
    rocksdb_t *db;
    rocksdb_options_t *dbopts;
    rocksdb_writeoptions_t *wopts;
    int manual_wal; /* PERIODIC: WAL buffer flushed by us (bs_store_write) */
    /* A write or WAL flush failed (disk full, I/O error): RocksDB stops
     * writes and its WAL writer must not be touched again (RocksDB 7.8
     * asserts on a WritableFileWriter that has seen an error, a crash
     * with Debian's build - seen in its info LOG writer, which
     * rocks_shim.cc replaces), so flush_wal is skipped until a write
     * succeeds again, i.e. RocksDB has recovered onto a new WAL (by
     * itself after ENOSPC, through maybe_resume's DB::Resume() after
     * other errors).  Logged once each way. */
    _Atomic int wal_failed;
    /* While wal_failed: when DB::Resume() was last tried (monotonic ns;
     * at most once a second), and whether its failure was logged. */
    _Atomic int64_t resume_at;
    _Atomic int resume_logged;
    char dir[4096];               /* the data directory (free-space check) */
    _Atomic uint64_t since_statvfs; /* bytes written since the last check */
    _Atomic int space_low;        /* free space was under min_free_bytes */
    pthread_mutex_t commit_mu; /* one defer scope's write at a time */
    rocksdb_cache_t *cache;
    bs_store_opts opts;
    bs_clock *clock;
    pthread_mutex_t mu;      /* guards the table list */
    bs_table *tables;        /* live and dropped (dropped are kept) */
    rocksdb_column_family_handle_t *default_cf;
    /* housekeeping thread (store_bg.c): periodic sync, background priority */
    pthread_t keeper;
    int keeper_running;
    pthread_mutex_t sync_mu;
    pthread_cond_t sync_cv;
    int stopping;
    _Atomic int bg_behind;   /* this store's background work is behind */
    _Atomic uint64_t bg_switches;
    _Atomic uint64_t shed_l0;   /* != 0: writes are shed (L0 files then) */
    _Atomic uint64_t shed_episodes;
    unsigned bg_ticks; /* keeper thread only */
};

/* nice of RocksDB's background threads when they run SCHED_OTHER */
#define BS__BG_NICE 5
/* Starts the housekeeping thread (store_bg.c); -1 if it cannot. */
int bs__keeper_start(bs_store *s);
/* Stops it (no-op if not running). */
void bs__keeper_stop(bs_store *s);
/* Calls fn for every RocksDB background thread ("rocksdb:*") of the
 * process, by thread id. */
void bs__rocks_threads(void (*fn)(pid_t tid, void *ud), void *ud);

struct bs_batch {
    bs_store *store;
    rocksdb_writebatch_t *wb;
    int64_t now_s;
    int poisoned;
    bs_buf key;
    bs_buf val;
    struct bs__hdr_ent { bs_table *t; int bit; } *hdr_tabs; /* hint keys carried */
    size_t nhdr, cap_hdr;
};

/* The default-CF key of a table's header hint bit (one BS__HDR_* bit)
 * into buf (>= 220 bytes); returns its length. */
size_t bs__hdr_key(const char *table, int bit, char *buf, size_t bufsz);

/* Sets the thread-local error message; returns err. */
int bs__seterr(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Maps a RocksDB errptr (freed here) to BS_EIO with a message. */
int bs__rocks_err(char *errptr, const char *what, const char *table);
/* BS_ECORRUPT with "table T: <what> at key <hex>". */
int bs__corrupt(const char *table, const void *key, size_t klen,
                const char *what);
/* Creates the column family options for a table (merge operator and a
 * compaction filter factory over `gc`, which the factory then owns). */
rocksdb_options_t *bs__table_cf_options(bs_store *s, bs__gctab *gc);
/* A table's options without its compaction filter (SST files written
 * for ingestion, storage/ingest.c); the caller destroys them. */
rocksdb_options_t *bs__table_sst_options(bs_store *s);
/* Removes ingest-*.sst files left in dir by a process that stopped
 * mid-stream (storage/ingest.c). */
void bs__ingest_cleanup(const char *dir);
/* Test hook: writes raw bytes with a plain Put, bypassing every check. */
int bs__raw_put(bs_table *t, const void *key, size_t klen, const void *val,
                size_t vlen);
/* Test hook: number of records in the table's CF (raw, tombstones too). */
int bs__raw_count(bs_table *t, uint64_t *out);

/* ---- GC (gc.c) ---- */
rocksdb_compactionfilterfactory_t *bs__gc_factory_create(bs__gctab *gc);

#endif
