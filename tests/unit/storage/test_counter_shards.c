/*
 * test_counter_shards.c - counter shards (query/counter.h) merged by the
 * store: a shard version is a cell (element key = leader host id, value =
 * total, timestamp = clock), so the store's LWW merge per cell is the
 * counter merge.  Checked through the real store (memtable merge
 * operator, flushes, compaction, raw-record streaming as repair does):
 *
 *   - commutative: every order of the same shard versions gives the same
 *     shards and the same sum;
 *   - idempotent: applying versions again (hints, retries, repair) or
 *     copying a replica's records onto itself changes nothing;
 *   - associative: merging two partial replicas (records streamed from
 *     one onto the other) equals applying everything to one;
 *   - highest clock wins, even over a larger or smaller total; a tie is
 *     settled the same way in every order;
 *   - a row tombstone shadows shard versions older than it, not newer.
 *
 * The pure helpers (bs_counter_value, bs_counter_next_clock) are tested
 * here too; query/counter.c depends on nothing but common/, so it is
 * compiled into this test rather than linking all of query/.
 */
#include "storetest.h"

#include "query/counter.c"

#define COL 3
#define NHOST 3
#define NVER 4

static bs_store *S;
static bs_arena A;
static int g_ntab;

typedef struct ver {
    int host;
    int64_t clock;
    int64_t total;
} ver;

/* Three leaders' shard histories: clocks increase, totals go up and down. */
static const ver VERS[NHOST * NVER] = {
    {0, 100, 5},  {0, 101, 3},  {0, 150, 40},   {0, 151, -7},
    {1, 90, 1},   {1, 300, 2},  {1, 301, 1000}, {1, 302, 999},
    {2, 120, -4}, {2, 121, -9}, {2, 500, 0},    {2, 700, 12},
};
static const int64_t WANT_SUM = -7 + 999 + 12;

static void host_id(int h, uint8_t out[16]) {
    memset(out, 0, 16);
    out[0] = 0xA0;
    out[15] = (uint8_t)h;
}

static void setup(void) {
    setup_common();
    S = open_store();
    bs_arena_init(&A, 0);
}
static void teardown(void) {
    bs_arena_free(&A);
    bs_store_close(S);
    teardown_common();
}

static bs_table *new_table(void) {
    char name[32];
    snprintf(name, sizeof name, "ks.c%d", g_ntab++);
    return open_table(S, name, 864000);
}

static void put(bs_table *t, const ver *v) {
    bs_batch *b;
    ck_assert_int_eq(bs_batch_new(S, &b), 0);
    bs_rowkey r = rk(7, "pk", "row");
    uint8_t key[16], val[8];
    host_id(v->host, key);
    bs_counter_shard_encode(v->total, val);
    ck_assert_int_eq(bs_batch_put_cell(b, t, &r, COL, key, 16, val, 8, v->clock, 0), 0);
    ck_assert_int_eq(bs_store_write(S, b), 0);
    bs_batch_free(b);
}

/* The row's shards as (clock, total) per host (clock INT64_MIN: none)
 * and the counter's value; returns the number of shards. */
static int shards(bs_table *t, int64_t clocks[NHOST], int64_t totals[NHOST], int64_t *sum) {
    bs_partv *p = rd_part(t, 7, "pk", NULL, &A);
    for (int h = 0; h < NHOST; h++) {
        clocks[h] = INT64_MIN;
        totals[h] = 0;
    }
    *sum = 0;
    if (!p->nrows) return 0;
    ck_assert_int_eq(p->nrows, 1);
    const bs_rowv *r = &p->rows[0];
    for (size_t i = 0; i < r->ncells; i++) {
        const bs_cellv *c = &r->cells[i];
        ck_assert_int_eq(c->elem_len, 16);
        int h = c->elem[15];
        ck_assert_int_lt(h, NHOST);
        clocks[h] = c->ts;
        totals[h] = bs_counter_shard_decode(c->val);
    }
    int n = bs_counter_value(r->cells, r->ncells, COL, sum, NULL);
    ck_assert_int_ge(n, 0);
    return n;
}

/* The highest clock's version of each host (what every merge must give). */
static void expected(const ver *v, size_t n, int64_t clocks[NHOST], int64_t totals[NHOST]) {
    for (int h = 0; h < NHOST; h++) clocks[h] = INT64_MIN;
    for (size_t i = 0; i < n; i++)
        if (v[i].clock > clocks[v[i].host]) {
            clocks[v[i].host] = v[i].clock;
            totals[v[i].host] = v[i].total;
        }
}

static void assert_state(bs_table *t, const ver *v, size_t n) {
    int64_t ec[NHOST], et[NHOST], c[NHOST], tt[NHOST], sum, esum = 0;
    expected(v, n, ec, et);
    shards(t, c, tt, &sum);
    for (int h = 0; h < NHOST; h++) {
        ck_assert_int_eq(c[h], ec[h]);
        if (ec[h] != INT64_MIN) {
            ck_assert_int_eq(tt[h], et[h]);
            esum += et[h];
        }
    }
    ck_assert_int_eq(sum, esum);
}

static uint64_t g_rng = 88172645463325252ULL;
static uint64_t rnd(void) {
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return g_rng;
}

/* Applies v[] in a shuffled order with flushes at random points. */
static void apply_shuffled(bs_table *t, const ver *v, size_t n) {
    size_t ix[64];
    for (size_t i = 0; i < n; i++) ix[i] = i;
    for (size_t i = n; i > 1; i--) {
        size_t j = rnd() % i, x = ix[i - 1];
        ix[i - 1] = ix[j];
        ix[j] = x;
    }
    for (size_t i = 0; i < n; i++) {
        put(t, &v[ix[i]]);
        if (rnd() % 4 == 0) ck_assert_int_eq(bs_store_flush(S, t), 0);
    }
}

START_TEST(commutative_any_order) {
    for (int round = 0; round < 12; round++) {
        bs_table *t = new_table();
        apply_shuffled(t, VERS, NHOST * NVER);
        assert_state(t, VERS, NHOST * NVER);
        int64_t c[NHOST], tt[NHOST], sum;
        ck_assert_int_eq(shards(t, c, tt, &sum), NHOST);
        ck_assert_int_eq(sum, WANT_SUM);
        ck_assert_int_eq(bs_store_compact(t), 0);
        assert_state(t, VERS, NHOST * NVER);
    }
}
END_TEST

START_TEST(idempotent_replays) {
    bs_table *t = new_table();
    apply_shuffled(t, VERS, NHOST * NVER);
    for (int k = 0; k < 3; k++) apply_shuffled(t, VERS, NHOST * NVER); /* hints, retries */
    ck_assert_int_eq(bs_store_flush(S, t), 0);
    put(t, &VERS[0]); /* an old version arriving late */
    assert_state(t, VERS, NHOST * NVER);
    ck_assert_int_eq(bs_store_compact(t), 0);
    assert_state(t, VERS, NHOST * NVER);
}
END_TEST

/* Streams every raw record of `from` into `to` (what repair does). */
typedef struct copy_ctx {
    bs_batch *b;
    bs_table *to;
} copy_ctx;

static int copy_cb(void *ud, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl) {
    copy_ctx *cc = ud;
    return bs_batch_put_raw(cc->b, cc->to, k, kl, v, vl);
}

static void stream(bs_table *from, bs_table *to) {
    copy_ctx cc = {NULL, to};
    ck_assert_int_eq(bs_batch_new(S, &cc.b), 0);
    ck_assert_int_eq(bs_store_iterate_range(from, INT64_MIN, INT64_MAX, copy_cb, &cc), 0);
    ck_assert_int_eq(bs_store_write(S, cc.b), 0);
    bs_batch_free(cc.b);
}

START_TEST(associative_partial_replicas) {
    /* replica X saw the even versions, Y the odd ones, Z all of them */
    ver even[NHOST * NVER], odd[NHOST * NVER];
    size_t ne = 0, no = 0;
    for (size_t i = 0; i < NHOST * NVER; i++) {
        if (i % 2) odd[no++] = VERS[i];
        else even[ne++] = VERS[i];
    }
    bs_table *x = new_table(), *y = new_table(), *z = new_table();
    apply_shuffled(x, even, ne);
    apply_shuffled(y, odd, no);
    apply_shuffled(z, VERS, NHOST * NVER);
    assert_state(x, even, ne);
    assert_state(y, odd, no);
    stream(x, y); /* (odd + even) */
    stream(z, y); /* + all: no change */
    stream(y, x); /* (even + (odd + even)) */
    assert_state(x, VERS, NHOST * NVER);
    assert_state(y, VERS, NHOST * NVER);
    stream(x, x); /* a replica repaired with itself */
    assert_state(x, VERS, NHOST * NVER);
}
END_TEST

START_TEST(highest_clock_wins) {
    bs_table *t = new_table();
    ver big = {0, 10, 1000000}, small = {0, 11, -5};
    put(t, &small);
    put(t, &big); /* a larger total with an older clock loses */
    int64_t c[NHOST], tt[NHOST], sum;
    shards(t, c, tt, &sum);
    ck_assert_int_eq(c[0], 11);
    ck_assert_int_eq(sum, -5);
    /* same clock, different totals (cannot happen with one leader, but
     * the outcome must not depend on the order): greater total wins */
    bs_table *u = new_table(), *w = new_table();
    ver a = {1, 50, 7}, b = {1, 50, 9};
    put(u, &a);
    put(u, &b);
    put(w, &b);
    put(w, &a);
    shards(u, c, tt, &sum);
    ck_assert_int_eq(sum, 9);
    shards(w, c, tt, &sum);
    ck_assert_int_eq(sum, 9);
}
END_TEST

START_TEST(row_tombstone_shadows_older_shards_only) {
    bs_table *t = new_table();
    for (size_t i = 0; i < NHOST * NVER; i++) put(t, &VERS[i]);
    bs_batch *b;
    ck_assert_int_eq(bs_batch_new(S, &b), 0);
    bs_rowkey r = rk(7, "pk", "row");
    ck_assert_int_eq(bs_batch_delete_row(b, t, &r, 200), 0); /* between clocks */
    ck_assert_int_eq(bs_store_write(S, b), 0);
    bs_batch_free(b);
    int64_t c[NHOST], tt[NHOST], sum;
    ck_assert_int_eq(shards(t, c, tt, &sum), 2); /* host 0 (clock 151) is gone */
    ck_assert_int_eq(c[0], INT64_MIN);
    ck_assert_int_eq(sum, 999 + 12);
    /* the leader restarts its shard after the delete, with a newer clock */
    ver again = {0, bs_counter_next_clock(INT64_MIN, 201), 4};
    put(t, &again);
    shards(t, c, tt, &sum);
    ck_assert_int_eq(sum, 999 + 12 + 4);
}
END_TEST

START_TEST(pure_helpers) {
    ck_assert_int_eq(bs_counter_next_clock(INT64_MIN, 1000), 1000);
    ck_assert_int_eq(bs_counter_next_clock(999, 1000), 1000);
    ck_assert_int_eq(bs_counter_next_clock(1000, 1000), 1001); /* same microsecond */
    ck_assert_int_eq(bs_counter_next_clock(5000, 1000), 5001); /* clock went back */
    uint8_t k[16] = {0}, v1[8], v2[8];
    bs_counter_shard_encode(INT64_MAX, v1);
    bs_counter_shard_encode(2, v2);
    bs_cellv cells[3] = {
        {COL, 1, k, 16, v1, 8, 5, 0, 0},
        {COL, 1, k, 16, v2, 8, 9, 0, 0},
        {COL + 1, 1, k, 16, v2, 8, 11, 0, 0},
    };
    int64_t sum, ts;
    ck_assert_int_eq(bs_counter_value(cells, 3, COL, &sum, &ts), 2);
    ck_assert_int_eq(sum, INT64_MIN + 1); /* wraps like a Java long */
    ck_assert_int_eq(ts, 9);
    ck_assert_int_eq(bs_counter_value(cells, 3, COL + 2, &sum, &ts), 0);
    cells[1].val_len = 7; /* malformed shard */
    ck_assert_int_eq(bs_counter_value(cells, 3, COL, &sum, &ts), -1);
}
END_TEST

int main(void) {
    Suite *s = suite_create("storage_counter_shards");
    TCase *tc = tcase_create("shards");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, commutative_any_order);
    tcase_add_test(tc, idempotent_replays);
    tcase_add_test(tc, associative_partial_replicas);
    tcase_add_test(tc, highest_clock_wins);
    tcase_add_test(tc, row_tombstone_shadows_older_shards_only);
    tcase_add_test(tc, pure_helpers);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
