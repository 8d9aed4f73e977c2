/*
 * shell_trace.c - TRACING ON: prints the trace of a statement as cqlsh
 * does, from system_traces (see shell.h, bs_shell_print_trace).
 *
 * Like the drivers' get_query_trace(): poll system_traces.sessions at
 * CL ONE until the session has a duration (the coordinator writes it
 * once its answer is built), at most `wait_ms`, then read the events.
 * The table has cqlsh's columns and rows:
 *   activity | timestamp | source | source_elapsed | client
 *   <request>                   started_at            coordinator  0
 *   <activity> [<thread>]       time of the event id  source       elapsed
 *   Request complete            started_at + duration coordinator  duration
 * Timestamps are UTC with microseconds ("2026-12-06 16:20:00.123456").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client/shell.h"
#include "common/uuid.h"

static void fmt_us(int64_t us, char *out, size_t cap) {
    time_t s = (time_t)(us / 1000000);
    int64_t frac = us % 1000000;
    if (frac < 0) {
        frac += 1000000;
        s--;
    }
    struct tm tm;
    gmtime_r(&s, &tm);
    char d[32];
    strftime(d, sizeof d, "%Y-%m-%d %H:%M:%S", &tm);
    snprintf(out, cap, "%s.%06lld", d, (long long)frac);
}

/* Runs q with the session id bound; *out the result. */
static int run(bs_client *c, const char *q, const uint8_t id[16], bs_client_result **out,
               char *err, size_t errlen) {
    bs_client_stmt *st = NULL;
    int rc = bs_client_stmt_new(q, 1, &st);
    if (!rc) rc = bs_client_stmt_bind_uuid(st, 0, id);
    if (!rc) rc = bs_client_stmt_set_consistency(st, BS_CL_ONE);
    if (!rc) rc = bs_client_stmt_set_page_size(st, 5000);
    bs_client_error e;
    if (!rc) {
        rc = bs_client_execute(c, st, out, &e);
        if (rc) bs_shell_format_error(&e, rc, err, errlen);
    } else {
        snprintf(err, errlen, "%s", bs_client_strerror(rc));
    }
    bs_client_stmt_free(st);
    return rc;
}

static void cell(bs_client_result *r, size_t col, bs_buf *b) {
    b->len = 0;
    if (bs_client_result_is_null(r, col) || bs_client_result_get_formatted(r, col, 0, b))
        b->len = 0;
    bs_buf_append_u8(b, 0);
}

typedef struct sess {
    char client[64], coord[64], request[128];
    int64_t started_ms;
    int32_t duration;
    int64_t start_us; /* from the coordinator's first event (µs); 0: none */
} sess;

/* 1 when the session row with its duration is there. */
static int read_session(bs_client *c, const uint8_t id[16], sess *s, char *err, size_t errlen,
                        int *rc) {
    bs_client_result *r = NULL;
    *rc = run(c, "SELECT client, coordinator, duration, request, started_at FROM "
                 "system_traces.sessions WHERE session_id = ?",
              id, &r, err, errlen);
    if (*rc) return 0;
    int ok = 0;
    if (bs_client_result_next_row(r) == 1 && !bs_client_result_is_null(r, 2)) {
        bs_buf b = BS_BUF_INIT;
        cell(r, 0, &b);
        snprintf(s->client, sizeof s->client, "%s", (char *)b.data);
        cell(r, 1, &b);
        snprintf(s->coord, sizeof s->coord, "%s", (char *)b.data);
        cell(r, 3, &b);
        snprintf(s->request, sizeof s->request, "%s", (char *)b.data);
        bs_buf_free(&b);
        ok = !bs_client_result_get_int32(r, 2, &s->duration) &&
             !bs_client_result_get_int64(r, 4, &s->started_ms);
    }
    bs_client_result_free(r);
    return ok;
}

static int add(bs_shell_grid *g, const char *act, const char *ts, const char *src,
               int64_t elapsed, const char *client) {
    char el[24];
    snprintf(el, sizeof el, "%lld", (long long)elapsed);
    const char *cells[5] = {act, ts, src, el, client};
    size_t lens[5];
    for (int i = 0; i < 5; i++) lens[i] = strlen(cells[i]);
    return bs_shell_grid_add_row(g, cells, lens);
}

static int add_events(bs_client *c, const uint8_t id[16], sess *s, bs_shell_grid *g,
                      char *err, size_t errlen) {
    bs_client_result *r = NULL;
    int rc = run(c, "SELECT activity, event_id, source, source_elapsed, thread FROM "
                    "system_traces.events WHERE session_id = ?",
                 id, &r, err, errlen);
    if (rc) return rc;
    bs_buf act = BS_BUF_INIT, src = BS_BUF_INIT, th = BS_BUF_INIT;
    while (!rc && bs_client_result_next_row(r) == 1) {
        cell(r, 0, &act);
        cell(r, 2, &src);
        cell(r, 4, &th);
        const uint8_t *u = NULL;
        char ts[48] = "";
        int32_t el = 0;
        (void)bs_client_result_get_int32(r, 3, &el);
        if (!bs_client_result_get_uuid(r, 1, &u)) {
            bs_uuid eid;
            memcpy(eid.b, u, 16);
            /* 100 ns units since 1582-10-15 -> unix microseconds */
            int64_t us = (int64_t)(bs_uuid_v1_timestamp(&eid) / 10) - 12219292800000000LL;
            fmt_us(us, ts, sizeof ts);
            /* started_at has milliseconds only: the coordinator's first
             * event gives the start to the microsecond ("Request complete") */
            if (!s->start_us && !strcmp((char *)src.data, s->coord)) s->start_us = us - el;
        }
        char line[700];
        snprintf(line, sizeof line, "%s [%s]", (char *)act.data, (char *)th.data);
        rc = add(g, line, ts, (char *)src.data, el, s->client);
    }
    bs_buf_free(&act);
    bs_buf_free(&src);
    bs_buf_free(&th);
    bs_client_result_free(r);
    return rc;
}

int bs_shell_print_trace(bs_client *c, const uint8_t id[16], int expand, int wait_ms,
                         bs_buf *out, char *err, size_t errlen) {
    bs_uuid u;
    memcpy(u.b, id, 16);
    char ids[40];
    bs_uuid_format(&u, ids);
    sess s;
    memset(&s, 0, sizeof s);
    int rc = 0, waited = 0;
    while (!read_session(c, id, &s, err, errlen, &rc)) {
        if (rc) return rc;
        if (waited >= wait_ms) {
            snprintf(err, errlen, "Statement trace did not complete within %d seconds",
                     wait_ms / 1000);
            return BS_ETIMEDOUT;
        }
        usleep(100000);
        waited += 100;
    }
    static const char *const names[5] = {"activity", "timestamp", "source", "source_elapsed",
                                         "client"};
    bs_shell_grid *g = NULL;
    if ((rc = bs_shell_grid_new(5, names, &g))) return rc;
    char ts[48];
    fmt_us(s.started_ms * 1000, ts, sizeof ts);
    rc = add(g, s.request, ts, s.coord, 0, s.client);
    if (!rc) rc = add_events(c, id, &s, g, err, errlen);
    fmt_us((s.start_us ? s.start_us : s.started_ms * 1000) + s.duration, ts, sizeof ts);
    if (!rc) rc = add(g, "Request complete", ts, s.coord, s.duration, s.client);
    if (!rc) {
        char head[80];
        snprintf(head, sizeof head, "\nTracing session: %s\n\n", ids);
        rc = bs_buf_append(out, head, strlen(head));
    }
    if (!rc) rc = bs_shell_grid_render(g, expand, 1, 0, out);
    if (!rc) rc = bs_buf_append(out, "\n", 1);
    bs_shell_grid_free(g);
    return rc;
}
