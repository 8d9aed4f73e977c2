/*
 * wake.h - waking an event loop from other threads without uv_async_t.
 *
 * libuv 1.44's uv_async_send marks the handle busy, writes the loop's
 * eventfd, then marks it done, and the loop spins (pause, then
 * sched_yield) on a handle still marked busy.  A sender preempted between
 * the two marks - on 2 cores, typically by the very loop its write woke -
 * kept the loop spinning until the sender ran again, and every request
 * crossing that loop waited too (docs/BENCHMARKS.md, "Session 13").
 *
 * Here a sender writes the eventfd only when no wake-up is already on its
 * way (an atomic flag), and the loop, polling the eventfd (uv_poll_t on
 * bs_wake.fd), clears the flag before it takes its queued work: work
 * queued after that finds the flag clear and wakes the loop again.  The
 * loop never waits for a sender.  Used by the messaging loop
 * (node/cluster/msg.c) and the CQL loops (node/transport/server.c).
 */
#ifndef BS_WAKE_H
#define BS_WAKE_H

#include <stdatomic.h>

typedef struct bs_wake {
    int fd;           /* eventfd (non-blocking), -1 when closed */
    atomic_int armed; /* a wake-up is on its way; cleared by the loop */
} bs_wake;

/* Opens the eventfd.  0, or -errno (fd is then -1). */
int bs_wake_open(bs_wake *w);

/* Any thread: makes the loop's poll on w->fd fire soon. */
void bs_wake_signal(bs_wake *w);

/* The loop, when w->fd is readable, before it takes the work queued for
 * it: empties the eventfd and clears the flag. */
void bs_wake_clear(bs_wake *w);

/* Closes the eventfd (after the loop's poll handle is closed); fd -1.  A
 * no-op when closed. */
void bs_wake_close(bs_wake *w);

#endif
