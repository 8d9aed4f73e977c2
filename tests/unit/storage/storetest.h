/*
 * storetest.h - helpers shared by the storage unit tests (header-only,
 * static functions): temporary store directories, a fixed clock, row keys
 * from C strings, and reading one partition into an arena.
 */
#ifndef BS_STORETEST_H
#define BS_STORETEST_H

#include <check.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/arena.h"
#include "common/clock.h"
#include "common/error.h"
#include "storage/store.h"
#include "storage/store_int.h"

#define T0_S 1700000000LL /* fixed "now" of the tests, seconds */

static bs_clock g_clock;
static char g_dir[256];

static inline int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *f) {
    (void)sb; (void)flag; (void)f;
    return remove(p);
}

static inline void rm_rf(const char *dir) { nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS); }

static inline void mk_dir(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/bs_storage_test_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(g_dir));
}

static inline bs_store *open_store_opts(bs_store_opts *o) {
    bs_store *s = NULL;
    int rc = bs_store_open(g_dir, o, &s);
    ck_assert_msg(rc == 0, "open: %s", bs_store_errmsg());
    return s;
}

static inline bs_store *open_store(void) {
    bs_store_opts o;
    bs_store_opts_default(&o);
    o.clock = &g_clock;
    o.disable_auto_compactions = 1;
    o.write_buffer_mb = 4;
    o.block_cache_mb = 8;
    return open_store_opts(&o);
}

static inline bs_table *open_table(bs_store *s, const char *name, int32_t gc_grace) {
    bs_table_opts to;
    bs_table_opts_default(&to);
    to.gc_grace_seconds = gc_grace;
    bs_table *t = NULL;
    ck_assert_int_eq(bs_store_table_open(s, name, &to, &t), 0);
    return t;
}

static inline void setup_common(void) {
    bs_clock_init_fixed(&g_clock, T0_S * 1000000LL);
    mk_dir();
}

static inline void teardown_common(void) { rm_rf(g_dir); }

/* Row key from strings; ck NULL = static row. */
static inline bs_rowkey rk(int64_t token, const char *pk, const char *ck) {
    bs_rowkey r;
    memset(&r, 0, sizeof r);
    r.token = token;
    r.pk = pk;
    r.pk_len = strlen(pk);
    if (ck) {
        r.ck = ck;
        r.ck_len = strlen(ck);
    } else {
        r.is_static = 1;
    }
    return r;
}

static inline bs_bound bnd(bs_bound_kind k, const char *p) {
    bs_bound b;
    b.kind = k;
    b.prefix = p;
    b.len = p ? strlen(p) : 0;
    return b;
}

/* One-shot batch helpers. */
static inline void w_cell(bs_store *s, bs_table *t, int64_t tok, const char *pk, const char *ck,
                   uint16_t col, const char *val, int64_t ts, int32_t ttl) {
    bs_batch *b;
    ck_assert_int_eq(bs_batch_new(s, &b), 0);
    bs_rowkey r = rk(tok, pk, ck);
    ck_assert_int_eq(bs_batch_put_cell(b, t, &r, col, NULL, 0, val, strlen(val), ts, ttl), 0);
    ck_assert_int_eq(bs_store_write(s, b), 0);
    bs_batch_free(b);
}

static inline bs_partv *rd_part(bs_table *t, int64_t tok, const char *pk, const bs_slice *sl, bs_arena *a) {
    bs_partv *p = NULL;
    int rc = bs_store_read(t, tok, pk, strlen(pk), sl, a, &p);
    ck_assert_msg(rc == 0, "read: %d %s", rc, bs_store_errmsg());
    return p;
}

/* The value of column col in row ck, or NULL (string copy in arena). */
static inline const char *cellval(const bs_partv *p, const char *ck, uint16_t col) {
    for (size_t i = 0; i < p->nrows; i++) {
        const bs_rowv *r = &p->rows[i];
        if (r->ck_len != strlen(ck) || memcmp(r->ck, ck, r->ck_len)) continue;
        for (size_t j = 0; j < r->ncells; j++)
            if (r->cells[j].col == col && !r->cells[j].has_elem) {
                static char buf[4][256];
                static int bi;
                char *o = buf[bi++ & 3];
                snprintf(o, 256, "%.*s", (int)r->cells[j].val_len, (const char *)r->cells[j].val);
                return o;
            }
    }
    return NULL;
}

static inline int has_row(const bs_partv *p, const char *ck) {
    for (size_t i = 0; i < p->nrows; i++)
        if (p->rows[i].ck_len == strlen(ck) && !memcmp(p->rows[i].ck, ck, p->rows[i].ck_len)) return 1;
    return 0;
}

static inline int run_suite(Suite *s) {
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf == 0 ? 0 : 1;
}

#endif
