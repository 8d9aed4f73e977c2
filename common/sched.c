/*
 * sched.c - scheduling hints (sched.h).
 *
 * sched_setattr has no glibc wrapper before 2.41: the syscall is made
 * directly, with the fields of struct sched_attr the call uses (the
 * kernel accepts this first-version size).
 */
#include "common/sched.h"

#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

int bs_sched_request_thread(void) {
#ifdef SYS_sched_setattr
    struct {
        uint32_t size, policy;
        uint64_t flags;
        int32_t nice;
        uint32_t priority;
        uint64_t runtime, deadline, period;
    } a;
    memset(&a, 0, sizeof a);
    a.size = sizeof a;
    a.policy = SCHED_OTHER;
    errno = 0;
    int nice = getpriority(PRIO_PROCESS, 0);
    if (nice == -1 && errno) return -1;
    a.nice = nice;
    a.runtime = (uint64_t)BS_SCHED_REQUEST_SLICE_US * 1000;
    return syscall(SYS_sched_setattr, 0, &a, 0) == 0 ? 0 : -1;
#else
    return -1;
#endif
}
