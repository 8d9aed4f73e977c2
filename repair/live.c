/*
 * live.c - the streams running on this node right now, for netstats:
 * one row per (direction, peer, table) stream with its bytes, rows and
 * age, as Cassandra's `nodetool netstats` lists its sending and
 * receiving streams.
 *
 * Outgoing rows are opened and closed by the sender (bs__repair_do_send:
 * repair, bootstrap, rebuild, decommission, removenode).  Incoming rows
 * are keyed by (peer, table, session) and fed by every STREAM chunk
 * applied here; a row with a session ends with that session
 * (bs__repair_rx_end), a row without one (repair and removenode pushes
 * carry none) when no chunk came for LIVE_IDLE_MS.  The table is small
 * and fixed: a stream that finds it full is simply not listed.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/clock.h"
#include "common/error.h"
#include "common/json.h"
#include "repair/session_int.h"

#define LIVE_IDLE_MS 3000

static int64_t now_ms(void) { return bs_clock_mono_ns() / 1000000; }

/* A free slot (under r->mu), or -1. */
static int take(bs_repair *r, int dir, const char *peer, const char *cf) {
    for (int i = 0; i < BS__REPAIR_LIVE; i++) {
        bs__repair_live *l = &r->live[i];
        if (l->used) continue;
        memset(l, 0, sizeof *l);
        l->used = 1;
        l->dir = dir;
        snprintf(l->peer, sizeof l->peer, "%s", peer);
        snprintf(l->cf, sizeof l->cf, "%s", cf);
        l->started_ms = l->last_ms = now_ms();
        return i;
    }
    return -1;
}

int bs__repair_live_out(bs_repair *r, const bs_repair_peer *to, const char *cf,
                        const int64_t *s, const int64_t *e, size_t n) {
    char peer[BS_REPAIR_ADDRLEN + 8];
    snprintf(peer, sizeof peer, "%s:%u", to->addr, (unsigned)to->port);
    pthread_mutex_lock(&r->mu);
    int i = take(r, BS__LIVE_OUT, peer, cf);
    if (i >= 0) {
        r->live[i].nranges = n;
        if (n) r->live[i].s = s[0], r->live[i].e = e[n - 1];
    }
    pthread_mutex_unlock(&r->mu);
    return i;
}

void bs__repair_live_set(bs_repair *r, int i, uint64_t rows, uint64_t bytes) {
    if (i < 0) return;
    pthread_mutex_lock(&r->mu);
    r->live[i].rows = rows;
    r->live[i].bytes = bytes;
    r->live[i].last_ms = now_ms();
    pthread_mutex_unlock(&r->mu);
}

void bs__repair_live_close(bs_repair *r, int i) {
    if (i < 0) return;
    pthread_mutex_lock(&r->mu);
    r->live[i].used = 0;
    pthread_mutex_unlock(&r->mu);
}

/* Incoming rows without a session that went quiet (under r->mu). */
static void expire(bs_repair *r, int64_t now) {
    for (int i = 0; i < BS__REPAIR_LIVE; i++) {
        bs__repair_live *l = &r->live[i];
        if (l->used && l->dir == BS__LIVE_IN && !l->session && now - l->last_ms > LIVE_IDLE_MS)
            l->used = 0;
    }
}

void bs__repair_live_in(bs_repair *r, const char *from, const char *cf, uint64_t session,
                        uint64_t rows, uint64_t bytes) {
    int64_t now = now_ms();
    pthread_mutex_lock(&r->mu);
    expire(r, now);
    int at = -1;
    for (int i = 0; i < BS__REPAIR_LIVE && at < 0; i++) {
        bs__repair_live *l = &r->live[i];
        if (l->used && l->dir == BS__LIVE_IN && l->session == session &&
            !strcmp(l->peer, from) && !strcmp(l->cf, cf))
            at = i;
    }
    if (at < 0 && (at = take(r, BS__LIVE_IN, from, cf)) >= 0) r->live[at].session = session;
    if (at >= 0) {
        r->live[at].rows += rows;
        r->live[at].bytes += bytes;
        r->live[at].last_ms = now;
    }
    pthread_mutex_unlock(&r->mu);
}

void bs__repair_live_in_end(bs_repair *r, uint64_t session) {
    pthread_mutex_lock(&r->mu);
    for (int i = 0; i < BS__REPAIR_LIVE; i++) {
        bs__repair_live *l = &r->live[i];
        if (l->used && l->dir == BS__LIVE_IN && l->session == session) l->used = 0;
    }
    pthread_mutex_unlock(&r->mu);
}

int bs__repair_live_json(bs_repair *r, bs_buf *out) {
    bs__repair_live v[BS__REPAIR_LIVE];
    int n = 0;
    int64_t now = now_ms();
    pthread_mutex_lock(&r->mu);
    expire(r, now);
    for (int i = 0; i < BS__REPAIR_LIVE; i++)
        if (r->live[i].used) v[n++] = r->live[i];
    pthread_mutex_unlock(&r->mu);
    int rc = bs_buf_appendf(out, "[");
    for (int i = 0; i < n; i++) {
        int64_t ms = now - v[i].started_ms;
        rc |= bs_buf_appendf(out, "%s{\"direction\":\"%s\",\"peer\":", i ? "," : "",
                             v[i].dir == BS__LIVE_OUT ? "sending" : "receiving");
        rc |= bs_json_quote(out, v[i].peer, strlen(v[i].peer));
        rc |= bs_buf_appendf(out, ",\"table\":");
        rc |= bs_json_quote(out, v[i].cf, strlen(v[i].cf));
        if (v[i].nranges)
            rc |= bs_buf_appendf(out,
                                 ",\"ranges\":%zu,\"range_start\":\"%" PRId64
                                 "\",\"range_end\":\"%" PRId64 "\"",
                                 v[i].nranges, v[i].s, v[i].e);
        rc |= bs_buf_appendf(out,
                             ",\"rows\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"elapsed_ms\":%" PRId64
                             ",\"bytes_per_s\":%" PRIu64 "}",
                             v[i].rows, v[i].bytes, ms,
                             ms > 0 ? v[i].bytes * 1000 / (uint64_t)ms : 0);
    }
    rc |= bs_buf_appendf(out, "]");
    return rc ? BS_ENOMEM : 0;
}
