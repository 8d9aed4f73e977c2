/*
 * shell_copy.c - COPY t [(cols)] TO|FROM 'file' [WITH HEADER = true ...].
 *
 * COPY TO pages through "SELECT cols FROM ks.t" (PAGESIZE rows a page,
 * default 5000) and writes one CSV record per row.  Every value goes
 * through bs_value_format(BS_VALUE_FMT_EXACT), the form that
 * bs_value_parse_text reads back to the same bytes (floats in shortest
 * round-trip form, timestamps with microseconds and zone, blobs 0x..,
 * collections in cqlsh syntax); nulls are empty unquoted fields and empty
 * strings "" (see shell_csv.c), so every value of every type round-trips.
 *
 * COPY FROM prepares "INSERT INTO ks.t (cols) VALUES (?, ...)" once and
 * executes it for each record with bs_client_execute_async, keeping up to
 * MAXINFLIGHT (default 256) requests in flight: the reading thread waits
 * on a condition variable while the window is full, the completion
 * callbacks (on the driver's I/O thread) count successes and failures and
 * wake it.  At the end the reader waits for the window to drain.  A
 * record with the wrong number of fields or a value that does not parse
 * is reported (the first 20 of them) and skipped; failed INSERTs are
 * counted and the first server error is kept.  Statements are marked
 * idempotent (a plain INSERT is), so the driver may retry them.
 *
 * Without a column list the table's columns are used in CREATE TABLE
 * order (partition key, clustering, the rest by name), read from
 * system_schema, for both directions: a file exported without a list
 * imports without one.
 *
 * Progress ("Processed: N rows; Rate: R rows/s; Avg. rate: A rows/s") is
 * written at most once a second; the caller prints the summary.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client/shell.h"
#include "common/error.h"
#include "query/cql.h"
#include "query/value.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct progress {
    FILE *f;
    int tty;
    double start, last;
    long last_rows;
} progress;

static void progress_tick(progress *p, long rows, int final) {
    if (!p->f) return;
    double t = now_s();
    if (!final && t - p->last < 1.0) return;
    double dt = t - p->last, total = t - p->start;
    double rate = dt > 0 ? (double)(rows - p->last_rows) / dt : 0;
    double avg = total > 0 ? (double)rows / total : 0;
    fprintf(
        p->f,
        "%sProcessed: %ld rows; Rate: %7.0f rows/s; Avg. rate: %7.0f rows/s%s",
        p->tty ? "\r" : "", rows, rate, avg, p->tty && !final ? "" : "\n");
    fflush(p->f);
    p->last = t;
    p->last_rows = rows;
}

static void errf(char *err, size_t errlen, const char *fmt, const char *a,
                 const char *b) {
    if (err && errlen) snprintf(err, errlen, fmt, a, b);
}

/* The column list: the request's, or the table's from system_schema. */
static int resolve_columns(bs_client *c, const bs_shell_copy_req *req,
                           const char *ks, char ***cols, size_t *ncols,
                           char *err, size_t errlen) {
    *cols = NULL;
    *ncols = 0;
    bs_shell_schema *s = NULL;
    bs_client_error e;
    int rc = bs_shell_schema_load(c, &s, &e);
    if (rc) {
        bs_shell_format_error(&e, rc, err, errlen);
        return rc;
    }
    size_t n = bs_shell_schema_ncolumns(s, ks, req->table);
    if (n == 0) {
        errf(err, errlen, "Table '%s.%s' does not exist", ks, req->table);
        bs_shell_schema_free(s);
        return BS_ENOTFOUND;
    }
    size_t want = req->ncols ? req->ncols : n;
    char **v = calloc(want, sizeof *v);
    if (!v) {
        bs_shell_schema_free(s);
        return BS_ENOMEM;
    }
    for (size_t i = 0; i < want; i++) {
        const char *name = req->ncols
                               ? req->cols[i]
                               : bs_shell_schema_column(s, ks, req->table, i);
        if (req->ncols) {
            int found = 0;
            for (size_t j = 0; j < n; j++)
                if (!strcmp(bs_shell_schema_column(s, ks, req->table, j), name))
                    found = 1;
            if (!found) {
                errf(err, errlen, "Invalid column name %s%s", name, "");
                for (size_t j = 0; j < i; j++)
                    free(v[j]);
                free(v);
                bs_shell_schema_free(s);
                return BS_EINVAL;
            }
        }
        v[i] = strdup(name);
        if (!v[i]) {
            for (size_t j = 0; j < i; j++)
                free(v[j]);
            free(v);
            bs_shell_schema_free(s);
            return BS_ENOMEM;
        }
    }
    bs_shell_schema_free(s);
    *cols = v;
    *ncols = want;
    return 0;
}

static void free_cols(char **cols, size_t n) {
    for (size_t i = 0; i < n; i++)
        free(cols[i]);
    free(cols);
}

static int append_target(bs_buf *q, const char *ks, const char *table) {
    int rc = bs_cql_print_ident(ks, q);
    rc |= bs_buf_append_u8(q, '.');
    rc |= bs_cql_print_ident(table, q);
    return rc ? BS_ENOMEM : 0;
}

/* --------------------------------------------------------------- COPY TO */

static int canceled(const volatile sig_atomic_t *cancel, long rows, char *err,
                    size_t errlen) {
    if (!cancel || !*cancel) return 0;
    snprintf(err, errlen, "Aborted by Ctrl-C after %ld rows", rows);
    return BS_ECANCELED;
}

static int copy_to(bs_client *c, const bs_shell_copy_req *req, const char *ks,
                   char **cols, size_t ncols, FILE *pf,
                   const volatile sig_atomic_t *cancel, bs_shell_copy_stats *st,
                   char *err, size_t errlen) {
    FILE *f = stdout;
    int own = 0;
    if (strcmp(req->file, "STDOUT")) {
        f = fopen(req->file, "w");
        if (!f) {
            errf(err, errlen, "Can't open '%s' for writing: %s", req->file,
                 strerror(errno));
            return BS_EIO;
        }
        own = 1;
    }
    bs_buf q = BS_BUF_INIT, line = BS_BUF_INIT, val = BS_BUF_INIT;
    bs_client_stmt *stmt = NULL;
    bs_client_result *r = NULL;
    int rc = bs_buf_append_str(&q, "SELECT ");
    for (size_t i = 0; i < ncols && !rc; i++) {
        if (i) rc = bs_buf_append_str(&q, ", ");
        if (!rc) rc = bs_cql_print_ident(cols[i], &q);
    }
    if (!rc) rc = bs_buf_append_str(&q, " FROM ");
    if (!rc) rc = append_target(&q, ks, req->table);
    if (!rc) rc = bs_buf_append_u8(&q, 0);
    if (!rc) rc = bs_client_stmt_new((char *)q.data, 0, &stmt);
    if (rc) goto done;
    bs_client_stmt_set_page_size(stmt, req->pagesize);
    bs_client_stmt_set_idempotent(stmt, 1);
    if (req->header) {
        for (size_t i = 0; i < ncols && !rc; i++) {
            if (i) rc = bs_buf_append_u8(&line, (uint8_t)req->delim);
            if (!rc)
                rc = bs_shell_csv_field(&line, cols[i], strlen(cols[i]), 0,
                                        req->delim);
        }
        if (!rc) rc = bs_buf_append_u8(&line, '\n');
        if (rc) goto done;
    }
    progress pg = {pf, pf ? isatty(fileno(pf)) : 0, now_s(), now_s(), 0};
    bs_client_error e;
    rc = bs_client_execute(c, stmt, &r, &e);
    int stop = 0;
    while (!rc && !stop) {
        while (bs_client_result_next_row(r)) {
            if (req->maxrows >= 0 && st->rows >= req->maxrows) {
                stop = 1;
                break;
            }
            for (size_t i = 0; i < ncols; i++) {
                const uint8_t *p;
                size_t l;
                if (i && bs_buf_append_u8(&line, (uint8_t)req->delim)) {
                    rc = BS_ENOMEM;
                    goto done;
                }
                rc = bs_client_result_get_bytes(r, i, &p, &l);
                if (rc) goto done;
                if (l == BS_CLIENT_NULL) continue;
                val.len = 0;
                rc = bs_value_format(bs_client_result_column_type(r, i), p, l,
                                     BS_VALUE_FMT_EXACT, &val);
                if (!rc)
                    rc = bs_shell_csv_field(&line, (const char *)val.data,
                                            val.len, 0, req->delim);
                if (rc) {
                    errf(err, errlen, "Cannot format a value of column %s%s",
                         cols[i], "");
                    goto done;
                }
            }
            if (bs_buf_append_u8(&line, '\n')) {
                rc = BS_ENOMEM;
                goto done;
            }
            st->rows++;
        }
        if (line.len && fwrite(line.data, 1, line.len, f) != line.len) {
            errf(err, errlen, "Write to '%s' failed%s", req->file, "");
            rc = BS_EIO;
            goto done;
        }
        line.len = 0;
        progress_tick(&pg, st->rows, 0);
        if (stop || !bs_client_result_has_more_pages(r)) break;
        if ((rc = canceled(cancel, st->rows, err, errlen))) break;
        bs_client_result *next = NULL;
        rc = bs_client_next_page(c, stmt, r, &next, &e);
        bs_client_result_free(r);
        r = next;
    }
    if (rc && !err[0]) bs_shell_format_error(&e, rc, err, errlen);
    if (!rc) {
        if (line.len && fwrite(line.data, 1, line.len, f) != line.len)
            rc = BS_EIO;
        progress_tick(&pg, st->rows, 1);
    }
done:
    if (own) {
        if (fclose(f) && !rc) {
            errf(err, errlen, "Write to '%s' failed%s", req->file, "");
            rc = BS_EIO;
        }
    } else {
        fflush(f);
    }
    bs_client_result_free(r);
    bs_client_stmt_free(stmt);
    bs_buf_free(&q);
    bs_buf_free(&line);
    bs_buf_free(&val);
    return rc;
}

/* ------------------------------------------------------------- COPY FROM */

typedef struct window {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int inflight;
    long ok, failed;
    bs_client_error first;
    int first_rc;
    int have_first;
} window;

static void on_done(bs_client_result *res, const bs_client_error *e, void *ud) {
    window *w = ud;
    pthread_mutex_lock(&w->mu);
    if (res) {
        w->ok++;
        bs_client_result_free(res);
    } else {
        w->failed++;
        if (!w->have_first) {
            w->first = *e;
            w->first_rc = e->code;
            w->have_first = 1;
        }
    }
    w->inflight--;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

/* Waits until every INSERT sent has been answered. */
static void wait_all(window *w) {
    pthread_mutex_lock(&w->mu);
    while (w->inflight > 0)
        pthread_cond_wait(&w->cv, &w->mu);
    pthread_mutex_unlock(&w->mu);
}

/* The error of a COPY FROM whose INSERTs failed: how many, and the first
 * failure's message. */
static int first_failure(const window *w, char *err, size_t errlen) {
    char m[400];
    bs_shell_format_error(&w->first, w->first_rc, m, sizeof m);
    snprintf(err, errlen, "Failed to import %ld rows; first error: %s",
             w->failed, m);
    return BS_CLIENT_ESERVER;
}

/* INSERT INTO ks.table (cols...) VALUES (?, ...), NUL-terminated. */
static int insert_query(bs_buf *q, const char *ks, const char *table,
                        char **cols, size_t ncols) {
    int rc = bs_buf_append_str(q, "INSERT INTO ");
    if (!rc) rc = append_target(q, ks, table);
    if (!rc) rc = bs_buf_append_str(q, " (");
    for (size_t i = 0; i < ncols && !rc; i++) {
        if (i) rc = bs_buf_append_str(q, ", ");
        if (!rc) rc = bs_cql_print_ident(cols[i], q);
    }
    if (!rc) rc = bs_buf_append_str(q, ") VALUES (");
    for (size_t i = 0; i < ncols && !rc; i++)
        rc = bs_buf_append_str(q, i ? ", ?" : "?");
    if (!rc) rc = bs_buf_append_str(q, ")");
    if (!rc) rc = bs_buf_append_u8(q, 0);
    return rc;
}

/* One CSV record as bs_shell_csv_next returns it. */
typedef struct csvrec {
    size_t n;
    char **fields;
    size_t *lens;
    uint8_t *quoted;
    long line;
} csvrec;

/* Binds record r to the INSERT's ncols parameters (val: scratch).  On a
 * bad record why (300 bytes) says what is wrong; else it stays "". */
static void bind_record(bs_client_stmt *stmt, bs_client_prepared *prep,
                        char **cols, size_t ncols, const csvrec *r, bs_buf *val,
                        char *why) {
    const size_t whylen = 300;
    if (r->n != ncols) {
        snprintf(why, whylen, "line %ld: expected %zu values, got %zu", r->line,
                 ncols, r->n);
        return;
    }
    for (size_t i = 0; i < ncols && !why[0]; i++) {
        if (!r->quoted[i] && r->lens[i] == 0) {
            bs_client_stmt_bind_null(stmt, i);
            continue;
        }
        val->len = 0;
        char perr[200];
        perr[0] = 0;
        int pr = bs_value_parse_text(bs_client_prepared_param_type(prep, i),
                                     r->fields[i], r->lens[i], 0, val, perr,
                                     sizeof perr);
        if (pr) {
            snprintf(why, whylen, "line %ld: column %s: %s", r->line, cols[i],
                     perr[0] ? perr : bs_strerror(pr));
            break;
        }
        if (bs_client_stmt_bind_bytes(
                stmt, i, val->data ? (const void *)val->data : "", val->len)) {
            snprintf(why, whylen, "line %ld: column %s: cannot bind", r->line,
                     cols[i]);
        }
    }
}

/* Sends the bound INSERT once fewer than `inflight` are unanswered
 * (on_done counts the answer in w).  0 or the client's error. */
static int send_row(bs_client *c, bs_client_stmt *stmt, window *w,
                    int inflight) {
    pthread_mutex_lock(&w->mu);
    while (w->inflight >= inflight)
        pthread_cond_wait(&w->cv, &w->mu);
    w->inflight++;
    pthread_mutex_unlock(&w->mu);
    int ar = bs_client_execute_async(c, stmt, on_done, w);
    if (ar) {
        pthread_mutex_lock(&w->mu);
        w->inflight--;
        pthread_mutex_unlock(&w->mu);
    }
    return ar;
}

static int copy_from(bs_client *c, const bs_shell_copy_req *req, const char *ks,
                     char **cols, size_t ncols, FILE *pf,
                     const volatile sig_atomic_t *cancel,
                     bs_shell_copy_stats *st, char *err, size_t errlen) {
    FILE *f = stdin;
    int own = 0;
    if (strcmp(req->file, "STDIN")) {
        f = fopen(req->file, "r");
        if (!f) {
            errf(err, errlen, "Can't open '%s' for reading: %s", req->file,
                 strerror(errno));
            return BS_EIO;
        }
        own = 1;
    }
    bs_buf q = BS_BUF_INIT, val = BS_BUF_INIT;
    bs_client_prepared *prep = NULL;
    bs_client_stmt *stmt = NULL;
    bs_shell_csv *csv = NULL;
    window w;
    memset(&w, 0, sizeof w);
    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.cv, NULL);
    int rc = insert_query(&q, ks, req->table, cols, ncols);
    if (rc) goto done;
    bs_client_error e;
    rc = bs_client_prepare(c, (char *)q.data, &prep, &e);
    if (rc) {
        bs_shell_format_error(&e, rc, err, errlen);
        goto done;
    }
    if (bs_client_prepared_param_count(prep) != ncols) {
        errf(err, errlen, "Unexpected bind variable count for %s%s",
             (char *)q.data, "");
        rc = BS_EPROTO;
        goto done;
    }
    rc = bs_client_stmt_new_prepared(prep, &stmt);
    if (!rc) rc = bs_client_stmt_set_idempotent(stmt, 1);
    if (!rc) rc = bs_shell_csv_open(f, req->delim, &csv);
    if (rc) goto done;
    progress pg = {pf, pf ? isatty(fileno(pf)) : 0, now_s(), now_s(), 0};
    long recno = 0, reported = 0, sent = 0;
    int first_record = 1;
    for (;;) {
        if (cancel && *cancel) {
            rc = BS_ECANCELED;
            break;
        }
        csvrec r = {0, NULL, NULL, NULL, 0};
        int x = bs_shell_csv_next(csv, &r.n, &r.fields, &r.lens, &r.quoted,
                                  &r.line);
        if (x == 0) break;
        if (x == BS_ENOMEM) {
            rc = x;
            break;
        }
        if (first_record && req->header) {
            first_record = 0;
            if (x == 1) continue;
        }
        first_record = 0;
        if (req->maxrows >= 0 && recno >= req->maxrows) break;
        recno++;
        char why[300];
        why[0] = 0;
        if (x < 0)
            snprintf(why, sizeof why, "malformed CSV record at line %ld",
                     r.line);
        else
            bind_record(stmt, prep, cols, ncols, &r, &val, why);
        if (why[0]) {
            st->errors++;
            if (reported++ < 20)
                fprintf(stderr, "Failed to import row: %s\n", why);
            continue;
        }
        int ar = send_row(c, stmt, &w, req->inflight);
        if (ar) {
            rc = ar;
            errf(err, errlen, "Cannot send INSERT: %s%s",
                 bs_client_strerror(ar), "");
            break;
        }
        sent++;
        if ((sent & 1023) == 0) {
            pthread_mutex_lock(&w.mu);
            long done_rows = w.ok;
            pthread_mutex_unlock(&w.mu);
            progress_tick(&pg, done_rows, 0);
        }
    }
    wait_all(&w);
    st->rows = w.ok;
    st->errors += w.failed;
    progress_tick(&pg, st->rows, 1);
    if (rc == BS_ECANCELED) canceled(cancel, st->rows, err, errlen);
    if (!rc && w.have_first) rc = first_failure(&w, err, errlen);
done:
    bs_shell_csv_close(csv);
    bs_client_stmt_free(stmt);
    bs_client_prepared_free(prep);
    pthread_mutex_destroy(&w.mu);
    pthread_cond_destroy(&w.cv);
    bs_buf_free(&q);
    bs_buf_free(&val);
    if (own) fclose(f);
    return rc;
}

int bs_shell_copy(bs_client *c, const bs_shell_copy_req *req,
                  const char *cur_ks, FILE *progress_f,
                  const volatile sig_atomic_t *cancel,
                  bs_shell_copy_stats *stats, char *err, size_t errlen) {
    memset(stats, 0, sizeof *stats);
    err[0] = 0;
    const char *ks = req->ks[0] ? req->ks : cur_ks;
    if (!ks || !*ks) {
        errf(err, errlen, "%s%s",
             "No keyspace specified and no current keyspace", "");
        return BS_EINVAL;
    }
    char **cols;
    size_t ncols;
    int rc = resolve_columns(c, req, ks, &cols, &ncols, err, errlen);
    if (rc) return rc;
    double t0 = now_s();
    if (req->to)
        rc = copy_to(c, req, ks, cols, ncols, progress_f, cancel, stats, err,
                     errlen);
    else
        rc = copy_from(c, req, ks, cols, ncols, progress_f, cancel, stats, err,
                       errlen);
    stats->secs = now_s() - t0;
    free_cols(cols, ncols);
    return rc;
}
