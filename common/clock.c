/*
 * clock.c - injectable clocks (see clock.h).
 */
#include "common/clock.h"

#include <stddef.h>
#include <time.h>

static int64_t system_now_us(bs_clock *self) {
    (void)self;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t fixed_now_us(bs_clock *self) {
    return self->fixed_us;
}

static bs_clock g_default = {system_now_us, 0, 0};

bs_clock *bs_clock_default(void) {
    return &g_default;
}

int64_t bs_clock_now_us(bs_clock *c) {
    if (c == NULL) c = &g_default;
    return c->now_us(c) + c->offset_us;
}

int64_t bs_clock_now_s(bs_clock *c) {
    int64_t us = bs_clock_now_us(c);
    return us >= 0 ? us / 1000000 : -((-us + 999999) / 1000000);
}

int64_t bs_clock_mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void bs_clock_set_offset_us(bs_clock *c, int64_t offset_us) {
    if (c == NULL) c = &g_default;
    c->offset_us = offset_us;
}

void bs_clock_init_system(bs_clock *c) {
    c->now_us = system_now_us;
    c->offset_us = 0;
    c->fixed_us = 0;
}

void bs_clock_init_fixed(bs_clock *c, int64_t us) {
    c->now_us = fixed_now_us;
    c->offset_us = 0;
    c->fixed_us = us;
}

void bs_clock_set_fixed(bs_clock *c, int64_t us) {
    c->fixed_us = us;
}
