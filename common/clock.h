/*
 * clock.h - injectable clocks.
 *
 * Everything that reads wall-clock time (write timestamps, TTL expiry,
 * gc_grace, log lines) goes through a bs_clock so tests and the Jepsen
 * suite can fix or skew it.  Passing NULL means the process default
 * clock, which is the system clock plus a settable offset (the
 * "clock skew" knob; set from config or the admin API).
 *
 * Monotonic time (timeouts, failure detector intervals) uses
 * bs_clock_mono_ns(), which is never skewed.
 */
#ifndef BS_CLOCK_H
#define BS_CLOCK_H

#include <stdint.h>

typedef struct bs_clock bs_clock;
struct bs_clock {
    /* Returns microseconds since the Unix epoch. */
    int64_t (*now_us)(bs_clock *self);
    int64_t offset_us; /* added to now_us() by bs_clock_now_us() */
    int64_t fixed_us;  /* used by bs_clock_fixed's now_us */
};

/* Wall-clock microseconds since the epoch from `c`, or from the default
 * clock when c is NULL. */
int64_t bs_clock_now_us(bs_clock *c);
/* Seconds since the epoch (what TTL expiry and gc_grace use). */
int64_t bs_clock_now_s(bs_clock *c);
/* Monotonic nanoseconds; never skewed. */
int64_t bs_clock_mono_ns(void);

/* The default process clock; its offset is the skew knob. */
bs_clock *bs_clock_default(void);
void bs_clock_set_offset_us(bs_clock *c, int64_t offset_us);

/* Initialises `c` as the system clock (offset 0). */
void bs_clock_init_system(bs_clock *c);
/* Initialises `c` as a fixed clock at `us`; move it with bs_clock_set_fixed. */
void bs_clock_init_fixed(bs_clock *c, int64_t us);
void bs_clock_set_fixed(bs_clock *c, int64_t us);

#endif
