/*
 * stress.h - the load engine of basalt-stress: closed- and open-loop
 * scheduling of operations over worker threads, an HDR-style latency
 * histogram, and periodic/final reports.
 *
 * The engine knows nothing about CQL: it calls an operation function
 * (`op`) that performs one request and returns 0 or an error class
 * index.  basalt-stress plugs in the C driver; tests plug in fakes.
 *
 * Closed loop (rate == 0): each of `threads` workers runs operations back
 * to back; latency = completion - actual start.
 * Open loop (rate > 0 ops/s): operation i is INTENDED to start at
 * t0 + i / rate; workers take the next slot, sleep until its intended
 * time if early, and latency = completion - INTENDED start.  When the
 * system stalls, queued slots start late and that lateness is counted,
 * so a stall cannot hide behind a few slow samples (no coordinated
 * omission).
 */
#ifndef BS_CLIENT_STRESS_H
#define BS_CLIENT_STRESS_H

#include <stdint.h>
#include <stdio.h>

/* ---- histogram: log-linear buckets, ~1% relative precision ---------- */
#define BS_HIST_SUB 128 /* linear sub-buckets per power of two */
#define BS_HIST_POW 40  /* up to 2^40 ns (~18 min) */

typedef struct bs_hist {
    uint64_t counts[BS_HIST_POW][BS_HIST_SUB];
    uint64_t total;
    uint64_t max_ns;
    uint64_t min_ns;
    double sum_ns;
} bs_hist;

void bs_hist_init(bs_hist *h);
void bs_hist_record(bs_hist *h, uint64_t ns);
void bs_hist_merge(bs_hist *into, const bs_hist *from);
/* Value at percentile p (0..100): an upper bound of the bucket holding
 * it (within ~1%).  0 when empty. */
uint64_t bs_hist_percentile(const bs_hist *h, double p);

/* ---- engine ---------------------------------------------------------- */
#define BS_STRESS_MAX_ERRCLASSES 16

/* Performs operation number `seq` of kind `kind` (0 = write, 1 = read)
 * on worker `worker`.  Returns 0 on success or an error class 1..15
 * (names via errclass_name). */
typedef int (*bs_stress_op)(void *ud, int worker, uint64_t seq, int kind);

/*
 * Asynchronous operations (the way a CQL driver is meant to be used: many
 * requests in flight on few connections, no thread per request).  The
 * engine keeps `threads` SLOTS, each with at most one operation in
 * flight; op_async starts operation `seq` on slot `slot` and returns, and
 * whoever completes it calls bs_stress_done(tok, cls) exactly once, from
 * any thread (also from inside op_async).  The completing thread then
 * starts the slot's next operation, so a driver's I/O thread keeps the
 * pipeline full by itself.  Closed loop: every slot runs back to back.
 * Open loop: an operation starts at its intended time on a free slot, or
 * as soon as a slot frees up when all are busy - latency still counts
 * from the intended time.
 */
typedef struct bs_stress_slot bs_stress_slot;
typedef void (*bs_stress_op_async)(void *ud, int slot, uint64_t seq, int kind,
                                   bs_stress_slot *tok);
void bs_stress_done(bs_stress_slot *tok, int cls);

typedef struct bs_stress_opts {
    int threads;           /* workers; >= 1 */
    double rate;           /* ops/s, 0 = closed loop */
    uint64_t n;            /* operations; 0 = use duration */
    double duration_s;     /* when n == 0 */
    int write_ratio;       /* mixed: writes per (write+read) ratio */
    int read_ratio;        /* (write=1, read=0 -> all writes) */
    double report_every_s; /* 0 = no periodic reports */
    FILE *out;             /* reports; NULL = none */
    bs_stress_op op;             /* one of op (worker threads) */
    bs_stress_op_async op_async; /* or op_async (slots) */
    double tick_us; /* op_async open loop: start due ops at most once per
                       tick (0 = 200 us); lateness still counts */
    /* op_async open loop, optional: instead of pacing with a thread of
     * its own, the engine asks the caller to run fn(arg) about every
     * tick_us on the thread that completes operations (a driver's I/O
     * thread: bs_client_set_ticker), until fn returns non-zero.  Returns
     * 0 if it will; otherwise the engine paces itself. */
    int (*ticker)(void *ud, double tick_us, int (*fn)(void *arg), void *arg);
    void *ud;
    const char *(*errclass_name)(int cls);
} bs_stress_opts;

typedef struct bs_stress_result {
    uint64_t ops; /* completed (ok + errors) */
    uint64_t ok;
    uint64_t errors[BS_STRESS_MAX_ERRCLASSES];
    double elapsed_s;
    bs_hist lat[2]; /* write, read */
    bs_hist all;
} bs_stress_result;

/* Runs the workload to completion.  0, BS_EINVAL or BS_ENOMEM.  The result
 * struct is large (histograms): allocate it on the heap. */
int bs_stress_run(const bs_stress_opts *o, bs_stress_result *r);
/* Ends every run in progress (and any later one) early, as if its
 * operations or duration were used up: operations in flight complete
 * and the result covers what completed.  Async-signal-safe. */
void bs_stress_interrupt(void);
/* Prints the final report (text) and, when json is non-NULL, a JSON
 * document with the same figures. */
void bs_stress_report(const bs_stress_opts *o, const bs_stress_result *r,
                      FILE *text, FILE *json);

#endif
