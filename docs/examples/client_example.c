/*
 * client_example.c - a small libbasalt-client program: connect, create a
 * keyspace and a table, insert rows with a prepared statement, read them
 * back page by page, and run an asynchronous request.
 *
 *   client_example [host[:port]]        (default 127.0.0.1:9042)
 *
 * Built by CMake with the rest of the tree so it cannot rot.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/basalt.h"

static int check(int rc, const bs_client_error *err, const char *what) {
    if (rc == 0) return 0;
    if (err && err->code == BS_CLIENT_ESERVER)
        fprintf(stderr, "%s: %s: %s\n", what,
                bs_client_error_class(err->server_code), err->message);
    else
        fprintf(stderr, "%s: %s (%s)\n", what, bs_client_strerror(rc),
                err ? err->message : "");
    return 1;
}

static int run(bs_client *c, const char *cql) {
    bs_client_result *res = NULL;
    bs_client_error err;
    int rc = bs_client_query(c, cql, &res, &err);
    bs_client_result_free(res);
    return check(rc, &err, cql);
}

typedef struct done {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int finished;
    size_t rows;
} done;

/* Runs on the client's I/O thread: must not block. */
static void on_count(bs_client_result *res, const bs_client_error *err,
                     void *ud) {
    done *d = ud;
    pthread_mutex_lock(&d->mu);
    if (res && bs_client_result_next_row(res)) {
        int64_t n = 0;
        bs_client_result_get_int64(res, 0, &n);
        d->rows = (size_t)n;
    } else if (err->code) {
        fprintf(stderr, "async count failed: %s\n", err->message);
    }
    d->finished = 1;
    pthread_cond_signal(&d->cv);
    pthread_mutex_unlock(&d->mu);
    bs_client_result_free(res); /* the callback owns the result */
}

int main(int argc, char **argv) {
    const char *hosts = argc > 1 ? argv[1] : "127.0.0.1:9042";
    bs_client_config *cfg;
    bs_client *c;
    bs_client_error err;
    if (bs_client_config_new(&cfg)) return 1;
    bs_client_config_add_contact_points(cfg, hosts);
    bs_client_config_set_compression(cfg, 1);
    bs_client_config_set_consistency(cfg, BS_CL_QUORUM);
    int rc = bs_client_connect(cfg, &c, &err);
    bs_client_config_free(cfg); /* the client keeps its own copy */
    if (check(rc, &err, "connect")) return 1;

    for (size_t i = 0; i < bs_client_host_count(c); i++) {
        bs_client_host h;
        bs_client_host_get(c, i, &h);
        printf("host %s:%d dc=%s rack=%s tokens=%zu\n", h.address, h.port, h.dc,
               h.rack, h.ntokens);
    }
    if (run(c, "CREATE KEYSPACE IF NOT EXISTS example WITH replication = "
               "{'class': 'SimpleStrategy', 'replication_factor': 1}") ||
        run(c, "CREATE TABLE IF NOT EXISTS example.readings (sensor text, "
               "seq int, value double, PRIMARY KEY (sensor, seq))")) {
        bs_client_close(c);
        return 1;
    }

    /* prepared insert: bound with typed binders, routed to a replica */
    bs_client_prepared *ins;
    rc = bs_client_prepare(
        c, "INSERT INTO example.readings (sensor, seq, value) VALUES (?, ?, ?)",
        &ins, &err);
    if (check(rc, &err, "prepare")) {
        bs_client_close(c);
        return 1;
    }
    for (int i = 0; i < 25; i++) {
        bs_client_stmt *s;
        bs_client_result *res = NULL;
        bs_client_stmt_new_prepared(ins, &s);
        bs_client_stmt_bind_text(s, 0, "kitchen");
        bs_client_stmt_bind_int32(s, 1, i);
        bs_client_stmt_bind_double(s, 2, 20.0 + i / 10.0);
        rc = bs_client_execute(c, s, &res, &err);
        bs_client_stmt_free(s);
        bs_client_result_free(res);
        if (check(rc, &err, "insert")) break;
    }
    bs_client_prepared_free(ins); /* statements keep their own reference */

    /* paged read: 10 rows a page */
    bs_client_stmt *sel;
    bs_client_stmt_new("SELECT seq, value FROM example.readings WHERE "
                       "sensor = 'kitchen'",
                       0, &sel);
    bs_client_stmt_set_page_size(sel, 10);
    bs_client_result *page = NULL;
    rc = bs_client_execute(c, sel, &page, &err);
    int pages = 0;
    while (rc == 0) {
        pages++;
        while (bs_client_result_next_row(page)) {
            int32_t seq;
            bs_buf v = BS_BUF_INIT;
            bs_client_result_get_int32(page, 0, &seq);
            bs_client_result_get_formatted(page, 1, 0, &v);
            printf("seq=%d value=%.*s\n", seq, (int)v.len,
                   (const char *)v.data);
            bs_buf_free(&v);
        }
        if (!bs_client_result_has_more_pages(page)) break;
        bs_client_result *next = NULL;
        rc = bs_client_next_page(c, sel, page, &next, &err);
        bs_client_result_free(page);
        page = next;
    }
    check(rc, &err, "select");
    bs_client_result_free(page);
    bs_client_stmt_free(sel);
    printf("%d pages\n", pages);

    /* asynchronous request */
    done d = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
    bs_client_stmt *cnt;
    bs_client_stmt_new("SELECT count(*) FROM example.readings", 0, &cnt);
    if (bs_client_execute_async(c, cnt, on_count, &d) == 0) {
        pthread_mutex_lock(&d.mu);
        while (!d.finished)
            pthread_cond_wait(&d.cv, &d.mu);
        pthread_mutex_unlock(&d.mu);
        printf("count(*) = %zu\n", d.rows);
    }
    bs_client_stmt_free(cnt);
    bs_client_close(c);
    return 0;
}
