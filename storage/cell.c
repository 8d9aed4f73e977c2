/*
 * cell.c - cell values (layout table in store_int.h), Cassandra's
 * last-write-wins reconciliation, and the RocksDB merge operator built on it.
 *
 * Reconciliation (Cassandra 4.x Cells.resolveRegular, CASSANDRA-14592):
 *   1. the higher write timestamp wins;
 *   2. on a tie, a cell with a local deletion time (tombstone or expiring)
 *      beats a regular live cell - independent of the clock, so every
 *      replica picks the same winner whenever it merges;
 *   3. a tombstone beats an expiring cell;
 *   4. the later local deletion time (deletion time / expiry) wins;
 *   5. the greater value bytes (unsigned lexicographic, shorter prefix
 *      smaller) win;
 *   6. (ours, for determinism) the greater ttl wins.
 * Deletions of every kind (partition, row, range, collection) are stored as
 * tombstone cells, so two deletions of the same thing keep the later one.
 *
 * Merge operator: every write is a merge operand; full and partial merges
 * pick the single winner among the existing value and all operands and
 * return it unchanged (byte for byte, checksum included) - as a pointer to
 * the winning input, which the C wrapper copies, so merges never allocate
 * (except the index arrays of a merge of more than 8 operands).  An operand that
 * does not decode (damaged on disk) loses against any valid one; if none is
 * valid the newest is kept as is, so a later read reports BS_ECORRUPT
 * instead of the merge failing (a failed merge would stop compactions).
 */
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "common/error.h"
#include "storage/store_int.h"

static uint32_t cell_sum(const void *key, size_t klen, const uint8_t *body, size_t blen) {
    XXH64_hash_t seed = XXH3_64bits(key, klen);
    return (uint32_t)XXH3_64bits_withSeed(body, blen, seed);
}

void bs__cell_encode_to(uint8_t *out, const void *key, size_t klen, uint8_t flags,
                        int64_t ts, int32_t ttl, uint32_t ldt, const void *val,
                        size_t vlen) {
    out[4] = flags;
    bs_put_u64(out + 5, (uint64_t)ts);
    bs_put_u32(out + 13, (uint32_t)ttl);
    bs_put_u32(out + 17, ldt);
    if (vlen) memcpy(out + BS__CELL_HDR, val, vlen);
    bs_put_u32(out, cell_sum(key, klen, out + 4, BS__CELL_HDR - 4 + vlen));
}

int bs__cell_encode(bs_buf *b, const void *key, size_t klen, uint8_t flags,
                    int64_t ts, int32_t ttl, uint32_t ldt, const void *val,
                    size_t vlen) {
    uint8_t *p = bs_buf_extend(b, BS__CELL_HDR + vlen);
    if (!p) return BS_ENOMEM;
    bs__cell_encode_to(p, key, klen, flags, ts, ttl, ldt, val, vlen);
    return 0;
}

int bs__cell_decode(const void *key, size_t klen, const uint8_t *v, size_t vlen,
                    bs__cell *o) {
    if (vlen < BS__CELL_HDR) return BS_ECORRUPT;
    uint8_t f = v[4];
    if (f & ~(BS__CELL_TOMB | BS__CELL_EXP)) return BS_ECORRUPT;
    if ((f & BS__CELL_TOMB) && (f & BS__CELL_EXP)) return BS_ECORRUPT;
    if (bs_get_u32(v) != cell_sum(key, klen, v + 4, vlen - 4)) return BS_ECORRUPT;
    o->flags = f;
    o->ts = (int64_t)bs_get_u64(v + 5);
    o->ttl = (int32_t)bs_get_u32(v + 13);
    o->ldt = bs_get_u32(v + 17);
    o->val = v + BS__CELL_HDR;
    o->val_len = vlen - BS__CELL_HDR;
    if (f & BS__CELL_EXP) {
        if (o->ttl <= 0 || o->ldt == BS__NO_LDT) return BS_ECORRUPT;
    } else if (f & BS__CELL_TOMB) {
        if (o->ttl != 0 || o->val_len != 0 || o->ldt == BS__NO_LDT) return BS_ECORRUPT;
    } else if (o->ttl != 0 || o->ldt != BS__NO_LDT) {
        return BS_ECORRUPT;
    }
    return 0;
}

int bs__cell_reconcile(const bs__cell *a, const bs__cell *b) {
    if (a->ts != b->ts) return a->ts > b->ts ? 1 : -1;
    int ad = (a->flags & (BS__CELL_TOMB | BS__CELL_EXP)) != 0;
    int bd = (b->flags & (BS__CELL_TOMB | BS__CELL_EXP)) != 0;
    if (ad || bd) {
        if (ad != bd) return ad ? 1 : -1;
        int at = (a->flags & BS__CELL_TOMB) != 0, bt = (b->flags & BS__CELL_TOMB) != 0;
        if (at != bt) return at ? 1 : -1;
        if (a->ldt != b->ldt) return a->ldt > b->ldt ? 1 : -1;
    }
    size_t n = a->val_len < b->val_len ? a->val_len : b->val_len;
    int c = n ? memcmp(a->val, b->val, n) : 0;
    if (c) return c > 0 ? 1 : -1;
    if (a->val_len != b->val_len) return a->val_len > b->val_len ? 1 : -1;
    if (a->ttl != b->ttl) return a->ttl > b->ttl ? 1 : -1;
    return 0;
}

int bs_store_lww_cmp(const void *key, size_t klen, const void *a, size_t alen,
                     const void *b, size_t blen, int *err) {
    bs__cell ca, cb;
    if (err) *err = 0;
    if (bs__cell_decode(key, klen, a, alen, &ca) || bs__cell_decode(key, klen, b, blen, &cb)) {
        if (err) *err = BS_ECORRUPT;
        return 0;
    }
    return bs__cell_reconcile(&ca, &cb);
}

/* ------------------------------------------------------------------ */
/* Merge operator                                                      */
/* ------------------------------------------------------------------ */

/* Picks the winner among n values (index), newest last.  Undecodable
 * values lose; if none decodes, the newest wins. */
static int pick(const char *key, size_t klen, const char *const *vals,
                const size_t *lens, int n) {
    int best = -1;
    /* bc is read only once best >= 0, but GCC -O3 cannot see that. */
    bs__cell bc = {0}, c;
    if (n == 1) return 0; /* nothing to reconcile; readers verify it */
    for (int i = 0; i < n; i++) {
        if (bs__cell_decode(key, klen, (const uint8_t *)vals[i], lens[i], &c)) continue;
        if (best < 0 || bs__cell_reconcile(&c, &bc) > 0) {
            best = i;
            bc = c;
        }
    }
    return best < 0 ? n - 1 : best;
}

/* The result is always one of the inputs, unchanged: return a pointer to
 * it.  The C wrapper copies the result into its own string and then calls
 * delete_value, which does nothing, so a merge allocates nothing here.
 * The pointer is const in spirit; the C API's type makes us cast. */
static char *borrow_out(const char *v, size_t len, unsigned char *success, size_t *outlen) {
    *outlen = len;
    *success = 1;
    return (char *)v;
}

static char *full_merge(void *state, const char *key, size_t klen, const char *existing,
                        size_t existing_len, const char *const *ops, const size_t *op_lens,
                        int nops, unsigned char *success, size_t *outlen) {
    (void)state;
    if (!existing) { /* the common case: operands only, newest last */
        if (nops <= 0) return borrow_out("", 0, success, outlen);
        int w = pick(key, klen, ops, op_lens, nops);
        return borrow_out(ops[w], op_lens[w], success, outlen);
    }
    const char *small_v[9];
    size_t small_l[9];
    const char **vals = small_v;
    size_t *lens = small_l;
    if (nops + 1 > 9) {
        vals = malloc(sizeof *vals * (size_t)(nops + 1));
        lens = malloc(sizeof *lens * (size_t)(nops + 1));
        if (!vals || !lens) {
            free(vals);
            free(lens);
            *outlen = 0;
            *success = 0;
            return NULL;
        }
    }
    int n = 0;
    vals[n] = existing;
    lens[n++] = existing_len;
    for (int i = 0; i < nops; i++) {
        vals[n] = ops[i];
        lens[n++] = op_lens[i];
    }
    int w = pick(key, klen, vals, lens, n);
    char *r = borrow_out(vals[w], lens[w], success, outlen);
    if (vals != small_v) {
        free(vals);
        free(lens);
    }
    return r;
}

static char *partial_merge(void *state, const char *key, size_t klen, const char *const *ops,
                           const size_t *op_lens, int nops, unsigned char *success,
                           size_t *outlen) {
    (void)state;
    if (nops <= 0) {
        *outlen = 0;
        *success = 0;
        return NULL;
    }
    int w = pick(key, klen, ops, op_lens, nops);
    return borrow_out(ops[w], op_lens[w], success, outlen);
}

/* Results are borrowed (see borrow_out): nothing to free. */
static void delete_value(void *state, const char *v, size_t len) {
    (void)state;
    (void)v;
    (void)len;
}

static const char *merge_name(void *state) {
    (void)state;
    return "basalt.lww.v1";
}

/* The C wrapper calls the destructor unconditionally: it must exist. */
static void merge_destroy(void *state) { (void)state; }

rocksdb_mergeoperator_t *bs__merge_operator_create(void) {
    return rocksdb_mergeoperator_create(NULL, merge_destroy, full_merge, partial_merge, delete_value,
                                        merge_name);
}
