/*
 * wake.c - see wake.h.
 */
#include "common/wake.h"

#include <errno.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <unistd.h>

int bs_wake_open(bs_wake *w) {
    atomic_init(&w->armed, 0);
    w->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    return w->fd < 0 ? -errno : 0;
}

void bs_wake_signal(bs_wake *w) {
    if (atomic_exchange(&w->armed, 1)) return; /* one is on its way */
    uint64_t one = 1;
    while (write(w->fd, &one, sizeof one) < 0 && errno == EINTR) {
    }
    /* EAGAIN (the counter at its maximum): the loop is woken anyway */
}

void bs_wake_clear(bs_wake *w) {
    uint64_t v;
    while (read(w->fd, &v, sizeof v) < 0 && errno == EINTR) {
    }
    atomic_store(&w->armed, 0);
}

void bs_wake_close(bs_wake *w) {
    if (w->fd >= 0) close(w->fd);
    w->fd = -1;
}
