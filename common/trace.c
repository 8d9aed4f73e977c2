/*
 * trace.c - in-memory trace sessions (see trace.h).
 *
 * Events are appended to a growing array under the trace's mutex; their
 * strings are malloc'd and freed with the trace.  The current trace and
 * the thread's name live in thread-local variables.  Time: the wall
 * clock of the process clock (bs_clock_default: a skewed test clock
 * skews traces too) for event ids, the monotonic clock for elapsed time.
 */
#include "common/trace.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"

struct bs_trace {
    atomic_int refs;
    pthread_mutex_t lock;
    bs_uuid id;
    int64_t start_us, start_mono_ns;
    bs_trace_ev *ev;
    size_t nev, cap;
    char *command, *request, *client;
    char **pkeys, **pvals;
    size_t np;
};

static _Thread_local bs_trace *tl_current;
static _Thread_local const char *tl_name;

bs_trace *bs_trace_new(const bs_uuid *id, int64_t start_us) {
    bs_trace *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    atomic_init(&t->refs, 1);
    pthread_mutex_init(&t->lock, NULL);
    t->id = *id;
    t->start_us = start_us;
    t->start_mono_ns = bs_clock_mono_ns();
    return t;
}

void bs_trace_retain(bs_trace *t) {
    if (t) atomic_fetch_add(&t->refs, 1);
}

void bs_trace_release(bs_trace *t) {
    if (!t || atomic_fetch_sub(&t->refs, 1) != 1) return;
    for (size_t i = 0; i < t->nev; i++) free(t->ev[i].activity);
    for (size_t i = 0; i < t->np; i++) {
        free(t->pkeys[i]);
        free(t->pvals[i]);
    }
    free(t->ev);
    free(t->pkeys);
    free(t->pvals);
    free(t->command);
    free(t->request);
    free(t->client);
    pthread_mutex_destroy(&t->lock);
    free(t);
}

const bs_uuid *bs_trace_id(const bs_trace *t) { return &t->id; }
int64_t bs_trace_start_us(const bs_trace *t) { return t->start_us; }
int64_t bs_trace_elapsed_us(const bs_trace *t) {
    return (bs_clock_mono_ns() - t->start_mono_ns) / 1000;
}

void bs_trace_event(bs_trace *t, const char *fmt, ...) {
    if (!t) return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char *s = strdup(msg);
    if (!s) return;
    int64_t el = bs_trace_elapsed_us(t);
    pthread_mutex_lock(&t->lock);
    if (t->nev == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        bs_trace_ev *n = realloc(t->ev, cap * sizeof *n);
        if (!n) {
            pthread_mutex_unlock(&t->lock);
            free(s);
            return;
        }
        t->ev = n;
        t->cap = cap;
    }
    bs_trace_ev *e = &t->ev[t->nev++];
    /* wall time derived from the start and the monotonic elapsed time, so
     * event ids keep the order the events happened in */
    e->at_us = t->start_us + el;
    e->elapsed_us = el > INT32_MAX ? INT32_MAX : (int32_t)el;
    e->activity = s;
    snprintf(e->thread, sizeof e->thread, "%s", tl_name ? tl_name : "basalt");
    pthread_mutex_unlock(&t->lock);
}

bs_trace *bs_trace_current(void) { return tl_current; }

bs_trace *bs_trace_set_current(bs_trace *t) {
    bs_trace *o = tl_current;
    tl_current = t;
    return o;
}

void bs_trace_thread_name(const char *name) { tl_name = name; }

static void set_str(bs_trace *t, char **dst, const char *v) {
    char *n = v ? strdup(v) : NULL;
    pthread_mutex_lock(&t->lock);
    free(*dst);
    *dst = n;
    pthread_mutex_unlock(&t->lock);
}

void bs_trace_set_request(bs_trace *t, const char *command, const char *request) {
    if (!t) return;
    set_str(t, &t->command, command);
    set_str(t, &t->request, request);
}

void bs_trace_set_client(bs_trace *t, const char *client) {
    if (t) set_str(t, &t->client, client);
}

void bs_trace_add_param(bs_trace *t, const char *key, const char *value) {
    if (!t || !key || !value) return;
    char *k = strdup(key), *v = strdup(value);
    pthread_mutex_lock(&t->lock);
    char **nk = realloc(t->pkeys, (t->np + 1) * sizeof *nk);
    if (nk) t->pkeys = nk;
    char **nv = nk ? realloc(t->pvals, (t->np + 1) * sizeof *nv) : NULL;
    if (nv) t->pvals = nv;
    if (k && v && nk && nv) {
        t->pkeys[t->np] = k;
        t->pvals[t->np] = v;
        t->np++;
        k = v = NULL;
    }
    pthread_mutex_unlock(&t->lock);
    free(k);
    free(v);
}

int bs_trace_snapshot_get(bs_trace *t, bs_trace_snapshot *out) {
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&t->lock);
    int rc = 0;
    if (t->nev) {
        out->ev = malloc(t->nev * sizeof *out->ev);
        if (out->ev) {
            memcpy(out->ev, t->ev, t->nev * sizeof *out->ev);
            out->nev = t->nev;
        } else {
            rc = -1;
        }
    }
    if (t->np && !rc) {
        out->pkeys = malloc(t->np * sizeof *out->pkeys);
        out->pvals = malloc(t->np * sizeof *out->pvals);
        if (out->pkeys && out->pvals) {
            for (size_t i = 0; i < t->np; i++) {
                out->pkeys[i] = t->pkeys[i];
                out->pvals[i] = t->pvals[i];
            }
            out->nparams = t->np;
        } else {
            rc = -1;
        }
    }
    out->command = t->command;
    out->request = t->request;
    out->client = t->client;
    pthread_mutex_unlock(&t->lock);
    if (rc) bs_trace_snapshot_free(out);
    return rc;
}

void bs_trace_snapshot_free(bs_trace_snapshot *s) {
    free(s->ev);
    free(s->pkeys);
    free(s->pvals);
    memset(s, 0, sizeof *s);
}
