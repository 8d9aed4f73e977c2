/*
 * test_read.c - storage/read.c: partition slices (bounds inclusive /
 * exclusive / prefix / unbounded, reversed, limit, paging cursor in both
 * directions, static row) and token-ordered partition scans with a
 * cross-partition paging cursor and wrap-around; a read nested in a scan
 * callback and reads from several threads (per-thread read buffers);
 * row-by-row visits (bs_store_visit).
 */
#include "storetest.h"

static bs_store *S;
static bs_table *T;
/* rows "a0".."a9", "b0".."b9" in partition "p" (token 10) */
static void setup(void) {
    setup_common();
    S = open_store();
    T = open_table(S, "ks.r", 864000);
    bs_batch *b;
    ck_assert_int_eq(bs_batch_new(S, &b), 0);
    for (int i = 0; i < 20; i++) {
        char ck[3] = {(char)(i < 10 ? 'a' : 'b'), (char)('0' + i % 10), 0};
        bs_rowkey r = rk(10, "p", ck);
        ck_assert_int_eq(bs_batch_row_marker(b, T, &r, 100, 0), 0);
        ck_assert_int_eq(bs_batch_put_cell(b, T, &r, 1, NULL, 0, ck, 2, 100, 0), 0);
    }
    bs_rowkey st = rk(10, "p", NULL);
    ck_assert_int_eq(bs_batch_put_cell(b, T, &st, 2, NULL, 0, "static", 6, 100, 0), 0);
    ck_assert_int_eq(bs_store_write(S, b), 0);
    bs_batch_free(b);
}
static void teardown(void) {
    bs_store_close(S);
    teardown_common();
}

/* Row clusterings joined by ',' */
static const char *cks(const bs_partv *p) {
    static char out[256];
    size_t o = 0;
    out[0] = 0;
    for (size_t i = 0; i < p->nrows; i++)
        o += (size_t)snprintf(out + o, sizeof out - o, "%s%.*s", i ? "," : "", (int)p->rows[i].ck_len,
                              (const char *)p->rows[i].ck);
    return out;
}

static bs_arena A;
static const char *q(bs_bound s, bs_bound e, int rev, uint32_t limit, const char *after) {
    bs_slice sl;
    memset(&sl, 0, sizeof sl);
    sl.start = s;
    sl.end = e;
    sl.reversed = rev;
    sl.limit = limit;
    if (after) {
        sl.has_after = 1;
        sl.after_ck = after;
        sl.after_len = strlen(after);
    }
    return cks(rd_part(T, 10, "p", &sl, &A));
}

#define NONE bnd(BS_BOUND_NONE, NULL)
#define INC(x) bnd(BS_BOUND_INCL, x)
#define EXC(x) bnd(BS_BOUND_EXCL, x)

START_TEST(slice_bounds) {
    bs_arena_init(&A, 0);
    ck_assert_str_eq(q(INC("a8"), INC("b1"), 0, 0, NULL), "a8,a9,b0,b1");
    ck_assert_str_eq(q(EXC("a8"), EXC("b1"), 0, 0, NULL), "a9,b0");
    ck_assert_str_eq(q(INC("b"), NONE, 0, 3, NULL), "b0,b1,b2");
    ck_assert_str_eq(q(EXC("a"), INC("b2"), 0, 0, NULL), "b0,b1,b2");
    ck_assert_str_eq(q(NONE, EXC("a"), 0, 0, NULL), "");
    ck_assert_str_eq(q(NONE, INC("a"), 0, 0, NULL), "a0,a1,a2,a3,a4,a5,a6,a7,a8,a9");
    ck_assert_str_eq(q(INC("b5"), INC("a5"), 0, 0, NULL), ""); /* empty */
    ck_assert_str_eq(q(INC("zz"), NONE, 0, 0, NULL), "");
    /* reversed: same bounds, opposite order */
    ck_assert_str_eq(q(INC("a8"), INC("b1"), 1, 0, NULL), "b1,b0,a9,a8");
    ck_assert_str_eq(q(EXC("a8"), EXC("b1"), 1, 0, NULL), "b0,a9");
    ck_assert_str_eq(q(NONE, NONE, 1, 3, NULL), "b9,b8,b7");
    ck_assert_str_eq(q(NONE, INC("a"), 1, 2, NULL), "a9,a8");
    bs_arena_free(&A);
}
END_TEST

START_TEST(slice_paging) {
    bs_arena_init(&A, 0);
    /* forward pages of 6 over all 20 rows */
    char last[8] = "";
    char all[256] = "";
    int pages = 0;
    for (;;) {
        bs_slice sl;
        memset(&sl, 0, sizeof sl);
        sl.limit = 6;
        if (last[0]) {
            sl.has_after = 1;
            sl.after_ck = last;
            sl.after_len = strlen(last);
        }
        bs_partv *p = rd_part(T, 10, "p", &sl, &A);
        pages++;
        for (size_t i = 0; i < p->nrows; i++) {
            strncat(all, (const char *)p->rows[i].ck, p->rows[i].ck_len);
            strcat(all, " ");
        }
        if (p->nrows) snprintf(last, sizeof last, "%.*s", (int)p->rows[p->nrows - 1].ck_len, (const char *)p->rows[p->nrows - 1].ck);
        if (!p->limited) break;
        ck_assert_int_eq(p->nrows, 6);
        ck_assert_int_lt(pages, 10);
    }
    ck_assert_int_eq(pages, 4);
    ck_assert_str_eq(all, "a0 a1 a2 a3 a4 a5 a6 a7 a8 a9 b0 b1 b2 b3 b4 b5 b6 b7 b8 b9 ");
    /* cursor combined with bounds, both directions */
    ck_assert_str_eq(q(INC("a5"), INC("b2"), 0, 3, "a9"), "b0,b1,b2");
    ck_assert_str_eq(q(INC("a5"), INC("b2"), 0, 0, "a2"), "a5,a6,a7,a8,a9,b0,b1,b2");
    ck_assert_str_eq(q(INC("a5"), INC("b2"), 1, 3, "b1"), "b0,a9,a8");
    ck_assert_str_eq(q(INC("a5"), INC("b2"), 1, 0, "a6"), "a5");
    ck_assert_str_eq(q(NONE, NONE, 1, 0, "a1"), "a0");
    ck_assert_str_eq(q(NONE, NONE, 0, 0, "b9"), "");
    /* deleted rows are skipped and not counted against the limit */
    bs_batch *b;
    ck_assert_int_eq(bs_batch_new(S, &b), 0);
    bs_rowkey r = rk(10, "p", "a1");
    ck_assert_int_eq(bs_batch_delete_row(b, T, &r, 200), 0);
    r = rk(10, "p", "a2");
    ck_assert_int_eq(bs_batch_delete_row(b, T, &r, 200), 0);
    ck_assert_int_eq(bs_store_write(S, b), 0);
    bs_batch_free(b);
    ck_assert_str_eq(q(NONE, NONE, 0, 3, NULL), "a0,a3,a4");
    ck_assert_str_eq(q(NONE, INC("a3"), 1, 2, NULL), "a3,a0");
    bs_arena_free(&A);
}
END_TEST

START_TEST(static_and_columns) {
    bs_arena_init(&A, 0);
    bs_slice sl;
    memset(&sl, 0, sizeof sl);
    sl.with_static = 1;
    sl.start = INC("b9");
    sl.end = INC("b9");
    bs_partv *p = rd_part(T, 10, "p", &sl, &A);
    ck_assert_int_eq(p->nrows, 1);
    ck_assert_ptr_nonnull(p->static_row);
    ck_assert_int_eq(p->static_row->ncells, 1);
    ck_assert_int_eq(p->static_row->cells[0].val_len, 6);
    ck_assert_int_eq(p->rows[0].ncells, 1);
    ck_assert_int_eq(p->rows[0].cells[0].ts, 100);
    ck_assert_int_eq(p->token, 10);
    ck_assert_int_eq(p->pk_len, 1);
    sl.with_static = 0;
    p = rd_part(T, 10, "p", &sl, &A);
    ck_assert_ptr_null(p->static_row);
    /* other partitions sharing the token are separate */
    p = rd_part(T, 10, "pp", NULL, &A);
    ck_assert_int_eq(p->nrows, 0);
    p = rd_part(T, 11, "p", NULL, &A);
    ck_assert_int_eq(p->nrows, 0);
    bs_arena_free(&A);
}
END_TEST

typedef struct scanres {
    char buf[1024];
    int nparts;
    int stop_after;
    int64_t last_tok;
    char last_pk[16];
    char last_ck[16];
} scanres;

static int scan_cb(void *ud, const bs_partv *p) {
    scanres *r = ud;
    size_t o = strlen(r->buf);
    o += (size_t)snprintf(r->buf + o, sizeof r->buf - o, "%lld:%.*s[", (long long)p->token, (int)p->pk_len, (const char *)p->pk);
    for (size_t i = 0; i < p->nrows; i++)
        o += (size_t)snprintf(r->buf + o, sizeof r->buf - o, "%s%.*s", i ? "," : "", (int)p->rows[i].ck_len, (const char *)p->rows[i].ck);
    snprintf(r->buf + o, sizeof r->buf - o, "]");
    r->nparts++;
    r->last_tok = p->token;
    snprintf(r->last_pk, sizeof r->last_pk, "%.*s", (int)p->pk_len, (const char *)p->pk);
    if (p->nrows) snprintf(r->last_ck, sizeof r->last_ck, "%.*s", (int)p->rows[p->nrows - 1].ck_len, (const char *)p->rows[p->nrows - 1].ck);
    return r->stop_after && r->nparts >= r->stop_after ? 1 : 0;
}

START_TEST(scan_token_order) {
    /* fresh table: partitions at several tokens */
    bs_table *t = open_table(S, "ks.scan", 10);
    struct { int64_t tok; const char *pk; } parts[] = {
        {50, "e"}, {-50, "a"}, {0, "c"}, {INT64_MAX, "z"}, {0, "b"}, {-7, "dead"}};
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < 3; j++) {
            char ck[4] = {'r', (char)('0' + j), 0};
            w_cell(S, t, parts[i].tok, parts[i].pk, ck, 1, "v", 10, 0);
        }
    bs_batch *b;
    ck_assert_int_eq(bs_batch_new(S, &b), 0);
    ck_assert_int_eq(bs_batch_delete_partition(b, t, -7, "dead", 4, 20), 0);
    ck_assert_int_eq(bs_store_write(S, b), 0);
    bs_batch_free(b);
    scanres r;
    memset(&r, 0, sizeof r);
    bs_scan sc;
    memset(&sc, 0, sizeof sc);
    sc.start_token = INT64_MIN;
    sc.end_token = INT64_MAX;
    ck_assert_int_eq(bs_store_scan(t, &sc, scan_cb, &r), 0);
    /* token order; same token: by key length then bytes; deleted skipped */
    ck_assert_str_eq(r.buf, "-50:a[r0,r1,r2]0:b[r0,r1,r2]0:c[r0,r1,r2]50:e[r0,r1,r2]9223372036854775807:z[r0,r1,r2]");
    /* range (-50, 0] */
    memset(&r, 0, sizeof r);
    sc.start_token = -50;
    sc.end_token = 0;
    ck_assert_int_eq(bs_store_scan(t, &sc, scan_cb, &r), 0);
    ck_assert_str_eq(r.buf, "0:b[r0,r1,r2]0:c[r0,r1,r2]");
    /* wrap (0, -50]: e, z, then a */
    memset(&r, 0, sizeof r);
    sc.start_token = 0;
    sc.end_token = -50;
    ck_assert_int_eq(bs_store_scan(t, &sc, scan_cb, &r), 0);
    ck_assert_str_eq(r.buf, "50:e[r0,r1,r2]9223372036854775807:z[r0,r1,r2]-50:a[r0,r1,r2]");
    /* paging: 2 rows per partition per page, resume from (token, pk, ck) */
    bs_slice sl;
    memset(&sl, 0, sizeof sl);
    sl.limit = 2;
    sc.slice = &sl;
    sc.start_token = INT64_MIN;
    sc.end_token = INT64_MAX;
    memset(&r, 0, sizeof r);
    r.stop_after = 1;
    ck_assert_int_eq(bs_store_scan(t, &sc, scan_cb, &r), 0);
    ck_assert_str_eq(r.buf, "-50:a[r0,r1]");
    sc.has_cursor = 1;
    sc.cursor_token = r.last_tok;
    sc.cursor_pk = r.last_pk;
    sc.cursor_pk_len = strlen(r.last_pk);
    sc.has_cursor_ck = 1;
    sc.cursor_ck = r.last_ck;
    sc.cursor_ck_len = strlen(r.last_ck);
    memset(r.buf, 0, sizeof r.buf);
    r.nparts = 0;
    r.stop_after = 2;
    ck_assert_int_eq(bs_store_scan(t, &sc, scan_cb, &r), 0);
    ck_assert_str_eq(r.buf, "-50:a[r2]0:b[r0,r1]");
    /* cursor without ck: starts at the next partition */
    sc.has_cursor_ck = 0;
    sc.cursor_token = 0;
    sc.cursor_pk = "b";
    sc.cursor_pk_len = 1;
    memset(&r, 0, sizeof r);
    ck_assert_int_eq(bs_store_scan(t, &sc, scan_cb, &r), 0);
    ck_assert_str_eq(r.buf, "0:c[r0,r1]50:e[r0,r1]9223372036854775807:z[r0,r1]");
    /* callback error propagates */
    ck_assert_int_eq(r.nparts, 3);
}
END_TEST

static int fail_cb(void *ud, const bs_partv *p) {
    (void)ud;
    (void)p;
    return BS_EIO;
}

START_TEST(scan_callback_error) {
    bs_scan sc;
    memset(&sc, 0, sizeof sc);
    sc.start_token = INT64_MIN;
    sc.end_token = INT64_MIN;
    ck_assert_int_eq(bs_store_scan(T, &sc, fail_cb, NULL), BS_EIO);
}
END_TEST

/* A read from inside a scan callback, on the scan's thread, while the
 * scan holds this thread's cached read buffers: it must get its own. */
typedef struct nest {
    int parts;
    int inner_ok;
} nest;

static int nest_cb(void *ud, const bs_partv *p) {
    nest *n = ud;
    n->parts++;
    bs_arena a;
    bs_arena_init(&a, 0);
    bs_slice sl;
    memset(&sl, 0, sizeof sl);
    sl.start = sl.end = bnd(BS_BOUND_INCL, "b3");
    bs_partv *in = NULL;
    if (bs_store_read(T, 10, "p", 1, &sl, &a, &in) == 0 && in->nrows == 1 && cellval(in, "b3", 1) &&
        strcmp(cellval(in, "b3", 1), "b3") == 0)
        n->inner_ok++;
    bs_arena_free(&a);
    /* the outer partition is intact after the nested read */
    return p->nrows == 20 && p->rows[19].ck_len == 2 && memcmp(p->rows[19].ck, "b9", 2) == 0 ? 0 : BS_EINVAL;
}

START_TEST(read_inside_scan) {
    w_cell(S, T, 20, "p2", "x", 1, "v", 100, 0);
    nest n = {0, 0};
    bs_scan sc;
    memset(&sc, 0, sizeof sc);
    sc.start_token = 0;
    sc.end_token = 15;
    ck_assert_int_eq(bs_store_scan(T, &sc, nest_cb, &n), 0);
    ck_assert_int_eq(n.parts, 1);
    ck_assert_int_eq(n.inner_ok, 1);
    /* and reads after it still work on this thread */
    ck_assert_str_eq(q(INC("a5"), INC("a5"), 0, 0, NULL), "a5");
}
END_TEST

/* Several threads reading (each with its own cached buffers, freed when
 * the thread exits: the sanitizer build checks that) while another
 * writes: every read sees the row, with a value from one of the writes. */
#include <pthread.h>
typedef struct thr {
    int id;
    int ok, bad;
} thr;

static void *reader(void *arg) {
    thr *x = arg;
    bs_arena a;
    bs_arena_init(&a, 0);
    for (int i = 0; i < 300; i++) {
        char ck[3] = {(char)(i % 2 ? 'a' : 'b'), (char)('0' + (i + x->id) % 10), 0};
        bs_slice sl;
        memset(&sl, 0, sizeof sl);
        sl.start = sl.end = bnd(BS_BOUND_INCL, ck);
        sl.reversed = i % 3 == 0;
        bs_partv *p = NULL;
        if (bs_store_read(T, 10, "p", 1, &sl, &a, &p) == 0 && p->nrows == 1 && p->rows[0].ncells == 1 &&
            p->rows[0].cells[0].val_len == 2 && memcmp(p->rows[0].cells[0].val, ck, 2) == 0)
            x->ok++;
        else
            x->bad++;
        bs_arena_reset(&a);
    }
    bs_arena_free(&a);
    return NULL;
}

START_TEST(concurrent_readers) {
    pthread_t th[3];
    thr x[3];
    for (int i = 0; i < 3; i++) {
        x[i] = (thr){i, 0, 0};
        ck_assert_int_eq(pthread_create(&th[i], NULL, reader, &x[i]), 0);
    }
    /* rewrite the same values with newer timestamps meanwhile */
    for (int i = 0; i < 200; i++) {
        char ck[3] = {(char)(i % 2 ? 'a' : 'b'), (char)('0' + i % 10), 0};
        w_cell(S, T, 10, "p", ck, 1, ck, 200 + i, 0);
    }
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(pthread_join(th[i], NULL), 0);
        ck_assert_int_eq(x[i].ok, 300);
        ck_assert_int_eq(x[i].bad, 0);
    }
}
END_TEST


/* bs_store_visit: rows one at a time with their selected cells only,
 * rows without a selected live cell left out, deletions applied, the
 * partition callback skipping a partition before it is read, a stop. */
typedef struct visres {
    char buf[1024];
    int rows, stop_after;
} visres;

static int vis_part(void *ud, int64_t tok, const uint8_t *pk, size_t pk_len) {
    visres *r = ud;
    size_t o = strlen(r->buf);
    snprintf(r->buf + o, sizeof r->buf - o, "|%lld:%.*s:", (long long)tok, (int)pk_len,
             (const char *)pk);
    return pk_len == 4 && !memcmp(pk, "skip", 4) ? 1 : 0;
}

static int vis_row(void *ud, const bs_rowv *row) {
    visres *r = ud;
    size_t o = strlen(r->buf);
    o += (size_t)snprintf(r->buf + o, sizeof r->buf - o, "%.*s", (int)row->ck_len,
                          (const char *)row->ck);
    for (size_t i = 0; i < row->ncells; i++)
        o += (size_t)snprintf(r->buf + o, sizeof r->buf - o, "%s%u=%.*s", i ? "," : "(",
                              row->cells[i].col, (int)row->cells[i].val_len,
                              (const char *)row->cells[i].val);
    snprintf(r->buf + o, sizeof r->buf - o, ")");
    r->rows++;
    return r->stop_after && r->rows >= r->stop_after ? 1 : 0;
}

START_TEST(visit_rows) {
    bs_table *t = open_table(S, "ks.vis", 10);
    const char *cks[] = {"r0", "r1", "r2", "r3", "r4", "r5"};
    for (int i = 0; i < 6; i++) {
        if (i != 1) w_cell(S, t, 5, "q", cks[i], 1, cks[i], 10, 0);
        w_cell(S, t, 5, "q", cks[i], 3, "x", 10, 0);
        w_cell(S, t, 7, "skip", cks[i], 1, "s", 10, 0);
        w_cell(S, t, 9, "dead", cks[i], 1, "d", 10, 0);
    }
    bs_batch *b;
    ck_assert_int_eq(bs_batch_new(S, &b), 0);
    bs_rowkey r2 = rk(5, "q", "r2");
    ck_assert_int_eq(bs_batch_delete_row(b, t, &r2, 20), 0);
    bs_bound s4 = INC("r4"), e5 = INC("r5");
    ck_assert_int_eq(bs_batch_delete_range(b, t, 5, "q", 1, &s4, &e5, 20), 0);
    ck_assert_int_eq(bs_batch_delete_partition(b, t, 9, "dead", 4, 20), 0);
    bs_rowkey r3 = rk(5, "q", "r3");
    ck_assert_int_eq(bs_batch_put_cell(b, t, &r3, 1, NULL, 0, "new", 3, 30, 0), 0);
    ck_assert_int_eq(bs_store_write(S, b), 0);
    bs_batch_free(b);
    uint16_t cols[1] = {1};
    bs_slice sl;
    memset(&sl, 0, sizeof sl);
    sl.cols = cols;
    sl.ncols = 1;
    bs_scan sc;
    memset(&sc, 0, sizeof sc);
    sc.start_token = INT64_MIN;
    sc.end_token = INT64_MIN;
    sc.slice = &sl;
    bs_visit v = {vis_part, vis_row, NULL};
    visres r;
    memset(&r, 0, sizeof r);
    v.ud = &r;
    ck_assert_int_eq(bs_store_visit(t, &sc, &v), 0);
    /* r1 has no column 1, r2 and r4, r5 are deleted, "dead" has no rows */
    ck_assert_str_eq(r.buf, "|5:q:r0(1=r0)r3(1=new)|7:skip:|9:dead:");
    /* every column; a clustering window; a stop after one row */
    sl.cols = NULL;
    sl.ncols = 0;
    sl.start = INC("r1");
    sl.end = INC("r3");
    memset(&r, 0, sizeof r);
    ck_assert_int_eq(bs_store_visit(t, &sc, &v), 0);
    ck_assert_str_eq(r.buf, "|5:q:r1(3=x)r3(1=new,3=x)|7:skip:|9:dead:");
    memset(&r, 0, sizeof r);
    r.stop_after = 1;
    ck_assert_int_eq(bs_store_visit(t, &sc, &v), 1);
    ck_assert_str_eq(r.buf, "|5:q:r1(3=x)");
    /* a token range; a cursor is refused */
    sc.start_token = 5;
    sc.end_token = 7;
    memset(&r, 0, sizeof r);
    ck_assert_int_eq(bs_store_visit(t, &sc, &v), 0);
    ck_assert_str_eq(r.buf, "|7:skip:");
    sc.has_cursor = 1;
    ck_assert_int_eq(bs_store_visit(t, &sc, &v), BS_EINVAL);
}
END_TEST


/* max_successive_merges: a cell written many times, timestamps out of
 * order, folded in the memtable every 4 writes: a read still gets the
 * write with the highest timestamp, and a newer deletion still wins. */
START_TEST(folded_merges) {
    bs_table_opts to;
    bs_table_opts_default(&to);
    to.max_successive_merges = 4;
    bs_table *t = NULL;
    ck_assert_int_eq(bs_store_table_open(S, "ks.fold", &to, &t), 0);
    char v[16];
    for (int i = 0; i < 40; i++) {
        int ts = (i * 17) % 41 + 1; /* 1..41 shuffled, 41 - 1 = 40 distinct */
        snprintf(v, sizeof v, "v%d", ts);
        w_cell(S, t, 3, "k", "r", 1, v, ts, 0);
    }
    bs_arena_init(&A, 0);
    int best = 0;
    for (int i = 0; i < 40; i++)
        if ((i * 17) % 41 + 1 > best) best = (i * 17) % 41 + 1;
    snprintf(v, sizeof v, "v%d", best);
    ck_assert_str_eq(cellval(rd_part(t, 3, "k", NULL, &A), "r", 1), v);
    bs_batch *b;
    ck_assert_int_eq(bs_batch_new(S, &b), 0);
    bs_rowkey r = rk(3, "k", "r");
    ck_assert_int_eq(bs_batch_delete_cell(b, t, &r, 1, NULL, 0, 100), 0);
    ck_assert_int_eq(bs_store_write(S, b), 0);
    bs_batch_free(b);
    for (int i = 0; i < 10; i++) w_cell(S, t, 3, "k", "r", 1, "old", 50 + i, 0);
    ck_assert_ptr_null(cellval(rd_part(t, 3, "k", NULL, &A), "r", 1));
    w_cell(S, t, 3, "k", "r", 1, "new", 200, 0);
    ck_assert_str_eq(cellval(rd_part(t, 3, "k", NULL, &A), "r", 1), "new");
    /* the option can be changed on an open table */
    to.max_successive_merges = 0;
    ck_assert_int_eq(bs_table_set_opts(t, &to), 0);
    bs_arena_free(&A);
}
END_TEST

int main(void) {
    Suite *s = suite_create("storage_read");
    TCase *tc = tcase_create("read");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, slice_bounds);
    tcase_add_test(tc, slice_paging);
    tcase_add_test(tc, static_and_columns);
    tcase_add_test(tc, scan_token_order);
    tcase_add_test(tc, scan_callback_error);
    tcase_add_test(tc, read_inside_scan);
    tcase_add_test(tc, concurrent_readers);
    tcase_add_test(tc, visit_rows);
    tcase_add_test(tc, folded_merges);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
