/*
 * sched.h - scheduling hints for the threads that serve requests.
 *
 * Linux's EEVDF scheduler (6.6 and later) lets a running thread finish
 * its time slice (a few milliseconds on a small machine) before a thread
 * that just woke up gets the CPU, unless the woken thread asked for a
 * shorter slice (6.12 and later: sched_setattr's sched_runtime for
 * SCHED_OTHER).  Background work that runs in bursts - a range being
 * streamed, a compaction - then holds a request's next step for up to a
 * slice at every hand-off between threads.  The CQL loops, the
 * request workers, the messaging thread and the stage ask for a short
 * slice: one that wakes preempts background work at once.  The thread's
 * share of the CPU is unchanged (that is its nice value's); only the
 * latency after a wake-up is.  (Session 12 meant to leave the workers on
 * the default slice, but they were libuv's pool threads, started by a
 * CQL loop and inheriting its slice whenever a loop was the first to
 * queue work; since the server has its own pool they ask for it
 * themselves - docs/BENCHMARKS.md, session 13.)
 */
#ifndef BS_SCHED_H
#define BS_SCHED_H

/* The slice a request thread asks for, in microseconds (the kernel
 * accepts 100 us to 100 ms). */
#define BS_SCHED_REQUEST_SLICE_US 100

/* Asks for the request slice for the calling thread, keeping its policy
 * (SCHED_OTHER) and nice value.  Best effort: 0 when the kernel took it,
 * -1 when it refused (older kernels ignore the slice and return 0). */
int bs_sched_request_thread(void);

#endif
