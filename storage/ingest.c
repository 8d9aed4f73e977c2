/*
 * ingest.c - raw records loaded through an SST file (store.h,
 * bs_store_ingest_raw): the alternative to a write batch for streamed
 * ranges, measured against it by scripts/bench-stream.
 *
 * The records are checked as bs_batch_put_raw checks them (key layout,
 * value checksum), written in order to an SST file in
 * <dir>/ingest-<n>.sst as MERGE operands - so the LWW merge operator
 * resolves them against whatever the table already holds, exactly as a
 * batch of merges would - and the file is moved into the table's column
 * family with rocksdb_ingest_external_file_cf (it gets a sequence number
 * above every write so far; LWW is order-free, so that is safe).  Record
 * kinds that need a header hint (partition deletions, range tombstones,
 * static rows) are refused with BS_ENOTSUP: the caller writes those
 * with a batch.  Keys out of order make the SST writer fail: BS_EINVAL.
 *
 * bs_store_sst (the receiving side of a streamed range): the same, fed
 * record by record over many calls; a key not above the previous one
 * (the second piece of a wrapping range) starts another file, and every
 * file is ingested in one call at the end.  Files of a writer never
 * ingested (a node stopped mid-stream) are named ingest-*.sst in the data
 * directory and removed at the next open (bs__ingest_cleanup).
 */
#include <dirent.h>
#include <rocksdb/c.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "storage/store_int.h"

static atomic_uint_fast64_t g_seq;

int bs_store_ingest_raw(bs_table *t, bs_store_raw_iter next, void *ud,
                        uint64_t *rows, uint64_t *bytes) {
    bs_store *s = t->store;
    char path[4200];
    snprintf(path, sizeof path, "%s/ingest-%d-%llu.sst", s->dir, (int)getpid(),
             (unsigned long long)atomic_fetch_add(&g_seq, 1));
    rocksdb_options_t *o = bs__table_sst_options(s);
    rocksdb_envoptions_t *eo = rocksdb_envoptions_create();
    rocksdb_sstfilewriter_t *w = rocksdb_sstfilewriter_create(eo, o);
    char *err = NULL;
    int rc = 0, opened = 0;
    uint64_t n = 0, b = 0;
    rocksdb_sstfilewriter_open(w, path, &err);
    if (err) rc = bs__seterr(BS_EIO, "ingest: cannot create %s: %s", path, err);
    opened = !err;
    const uint8_t *k, *v;
    size_t kl, vl;
    while (!rc && (rc = next(ud, &k, &kl, &v, &vl)) == 1) {
        rc = 0;
        bs__key pk;
        bs__cell c;
        if (bs__key_parse(k, kl, &pk) || bs__cell_decode(k, kl, v, vl, &c)) {
            rc = bs__corrupt(t->name, k, kl, "raw record with a bad key or value");
            break;
        }
        if (pk.kind == BS__K_PDEL || pk.kind == BS__K_RT || pk.kind == BS__K_STATIC) {
            rc = BS_ENOTSUP; /* needs the table's header hint: use a batch */
            break;
        }
        rocksdb_sstfilewriter_merge(w, (const char *)k, kl, (const char *)v, vl, &err);
        if (err) rc = bs__seterr(BS_EINVAL, "ingest: %s", err);
        n++;
        b += kl + vl;
    }
    if (!rc && n) {
        rocksdb_sstfilewriter_finish(w, &err);
        if (err) rc = bs__seterr(BS_EIO, "ingest: %s", err);
    }
    if (!rc && n) {
        rocksdb_ingestexternalfileoptions_t *io = rocksdb_ingestexternalfileoptions_create();
        rocksdb_ingestexternalfileoptions_set_move_files(io, 1);
        const char *files[1] = {path};
        rocksdb_ingest_external_file_cf(s->db, t->cf, files, 1, io, &err);
        rocksdb_ingestexternalfileoptions_destroy(io);
        if (err) rc = bs__seterr(BS_EIO, "ingest into %s: %s", t->name, err);
    }
    free(err);
    rocksdb_sstfilewriter_destroy(w);
    rocksdb_envoptions_destroy(eo);
    rocksdb_options_destroy(o);
    if (opened) unlink(path); /* moved on success; left over otherwise */
    if (!rc) {
        if (rows) *rows = n;
        if (bytes) *bytes = b;
    }
    return rc;
}

/* ---- incremental writer ------------------------------------------------ */

#define MAX_FILES 64

struct bs_store_sst {
    bs_table *t;
    rocksdb_options_t *o;
    rocksdb_envoptions_t *eo;
    rocksdb_sstfilewriter_t *w; /* the open file, NULL: none */
    char *files[MAX_FILES];     /* finished or open, in order */
    size_t nfiles;
    uint64_t nrec_open; /* records in the open file */
    bs_buf last;        /* the last key added */
};

int bs_store_sst_new(bs_table *t, bs_store_sst **out) {
    bs_store_sst *w = calloc(1, sizeof *w);
    if (!w) return BS_ENOMEM;
    w->t = t;
    w->o = bs__table_sst_options(t->store);
    w->eo = rocksdb_envoptions_create();
    bs_buf_init(&w->last);
    *out = w;
    return 0;
}

static int close_file(bs_store_sst *w) {
    if (!w->w) return 0;
    char *err = NULL;
    if (w->nrec_open) rocksdb_sstfilewriter_finish(w->w, &err);
    rocksdb_sstfilewriter_destroy(w->w);
    w->w = NULL;
    int rc = err ? bs__seterr(BS_EIO, "ingest: %s", err) : 0;
    free(err);
    if (!w->nrec_open) { /* nothing in it: forget it */
        unlink(w->files[w->nfiles - 1]);
        free(w->files[--w->nfiles]);
    }
    return rc;
}

static int open_file(bs_store_sst *w) {
    if (w->nfiles == MAX_FILES) return BS_ETOOBIG;
    char path[4200];
    snprintf(path, sizeof path, "%s/ingest-%d-%llu.sst", w->t->store->dir, (int)getpid(),
             (unsigned long long)atomic_fetch_add(&g_seq, 1));
    char *p = strdup(path), *err = NULL;
    if (!p) return BS_ENOMEM;
    w->w = rocksdb_sstfilewriter_create(w->eo, w->o);
    rocksdb_sstfilewriter_open(w->w, path, &err);
    if (err) {
        int rc = bs__seterr(BS_EIO, "ingest: cannot create %s: %s", path, err);
        free(err);
        free(p);
        rocksdb_sstfilewriter_destroy(w->w);
        w->w = NULL;
        return rc;
    }
    w->files[w->nfiles++] = p;
    w->nrec_open = 0;
    return 0;
}

int bs_store_sst_add(bs_store_sst *w, const void *key, size_t klen, const void *val,
                     size_t vlen) {
    bs__key pk;
    bs__cell c;
    if (bs__key_parse(key, klen, &pk) || bs__cell_decode(key, klen, val, vlen, &c))
        return bs__corrupt(w->t->name, key, klen, "raw record with a bad key or value");
    if (pk.kind == BS__K_PDEL || pk.kind == BS__K_RT || pk.kind == BS__K_STATIC)
        return BS_ENOTSUP;
    int rc = 0;
    if (w->w && w->last.len) {
        size_t m = w->last.len < klen ? w->last.len : klen;
        int cmp = memcmp(key, w->last.data, m);
        if (cmp < 0 || (cmp == 0 && klen <= w->last.len)) rc = close_file(w);
    }
    if (!rc && !w->w) rc = open_file(w);
    if (rc) return rc;
    char *err = NULL;
    rocksdb_sstfilewriter_merge(w->w, key, klen, val, vlen, &err);
    if (err) {
        rc = bs__seterr(BS_EIO, "ingest: %s", err);
        free(err);
        return rc;
    }
    w->nrec_open++;
    bs_buf_reset(&w->last);
    return bs_buf_append(&w->last, key, klen) ? BS_ENOMEM : 0;
}

int bs_store_sst_ingest(bs_store_sst *w) {
    int rc = close_file(w);
    if (rc || !w->nfiles) return rc;
    rocksdb_ingestexternalfileoptions_t *io = rocksdb_ingestexternalfileoptions_create();
    rocksdb_ingestexternalfileoptions_set_move_files(io, 1);
    char *err = NULL;
    rocksdb_ingest_external_file_cf(w->t->store->db, w->t->cf, (const char *const *)w->files,
                                    w->nfiles, io, &err);
    rocksdb_ingestexternalfileoptions_destroy(io);
    if (err) rc = bs__seterr(BS_EIO, "ingest into %s: %s", w->t->name, err);
    free(err);
    for (size_t i = 0; i < w->nfiles; i++) {
        unlink(w->files[i]); /* moved on success */
        free(w->files[i]);
    }
    w->nfiles = 0;
    return rc;
}

void bs_store_sst_free(bs_store_sst *w) {
    if (!w) return;
    if (w->w) rocksdb_sstfilewriter_destroy(w->w);
    for (size_t i = 0; i < w->nfiles; i++) {
        unlink(w->files[i]);
        free(w->files[i]);
    }
    rocksdb_envoptions_destroy(w->eo);
    rocksdb_options_destroy(w->o);
    bs_buf_free(&w->last);
    free(w);
}

void bs__ingest_cleanup(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char path[4400];
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (strncmp(e->d_name, "ingest-", 7) || n < 11 || strcmp(e->d_name + n - 4, ".sst"))
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
}
