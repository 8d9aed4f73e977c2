/*
 * counter.c - counter shards (see counter.h for the layout and why the
 * store's LWW merge per shard cell is the counter merge).
 */
#include "query/counter.h"

#include "common/buf.h"

void bs_counter_shard_encode(int64_t total, uint8_t out[BS_COUNTER_SHARD_VAL_LEN]) {
    bs_put_u64(out, (uint64_t)total);
}

int64_t bs_counter_shard_decode(const uint8_t in[BS_COUNTER_SHARD_VAL_LEN]) {
    return (int64_t)bs_get_u64(in);
}

int64_t bs_counter_next_clock(int64_t prev, int64_t now_us) {
    if (prev == INT64_MIN || prev < now_us) return now_us;
    return prev < INT64_MAX - 1 ? prev + 1 : prev;
}

int bs_counter_value(const bs_cellv *cells, size_t n, uint16_t col, int64_t *sum,
                     int64_t *max_ts) {
    uint64_t s = 0; /* unsigned: wraps like a Java long instead of UB */
    int64_t mt = INT64_MIN;
    int found = 0;
    for (size_t i = 0; i < n; i++) {
        const bs_cellv *c = &cells[i];
        if (c->col != col) continue;
        if (!c->has_elem || c->elem_len != BS_COUNTER_SHARD_KEY_LEN ||
            c->val_len != BS_COUNTER_SHARD_VAL_LEN || !c->val)
            return -1;
        s += bs_get_u64(c->val);
        if (c->ts > mt) mt = c->ts;
        found++;
    }
    *sum = (int64_t)s;
    if (max_ts) *max_ts = mt;
    return found;
}
