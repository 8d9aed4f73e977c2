/*
 * fake_mem.h - the membership view shared by the in-process multi-node
 * tests (test_coord.c, test_repair.c): a fixed set of FAKE_MEM_N hosts,
 * their ring, liveness and endpoints, switchable by the test, served
 * through the coordinator's and the repair service's membership
 * callbacks (ud = the fake_mem).
 */
#ifndef BS_TEST_FAKE_MEM_H
#define BS_TEST_FAKE_MEM_H

#include <pthread.h>
#include <string.h>

#include "common/error.h"
#include "common/uuid.h"
#include "node/cluster/msg.h"
#include "ring/tokenmeta.h"

#ifndef FAKE_MEM_N
#define FAKE_MEM_N 3
#endif

typedef struct fake_mem {
    pthread_mutex_t lock;
    bs_ring_snapshot *ring;
    bs_uuid host[FAKE_MEM_N];
    int alive[FAKE_MEM_N];
    int noaddr[FAKE_MEM_N]; /* the endpoint lookup fails */
    bs_msg_peer peer[FAKE_MEM_N];
} fake_mem;

static inline bs_ring_snapshot *m_ring(void *ud) {
    fake_mem *m = ud;
    pthread_mutex_lock(&m->lock);
    bs_ring_snapshot *r = m->ring ? bs_ring_snapshot_retain(m->ring) : NULL;
    pthread_mutex_unlock(&m->lock);
    return r;
}

static inline int fake_mem_idx(fake_mem *m, const bs_uuid *h) {
    for (int i = 0; i < FAKE_MEM_N; i++)
        if (!memcmp(m->host[i].b, h->b, 16)) return i;
    return -1;
}

static inline int m_alive(void *ud, const bs_uuid *h) {
    fake_mem *m = ud;
    pthread_mutex_lock(&m->lock);
    int i = fake_mem_idx(m, h);
    int a = i >= 0 && m->alive[i];
    pthread_mutex_unlock(&m->lock);
    return a;
}

static inline int m_endpoint(void *ud, const bs_uuid *h, bs_msg_peer *out) {
    fake_mem *m = ud;
    pthread_mutex_lock(&m->lock);
    int i = fake_mem_idx(m, h);
    if (i >= 0 && m->noaddr[i]) i = -1;
    if (i >= 0) *out = m->peer[i];
    pthread_mutex_unlock(&m->lock);
    return i >= 0 ? 0 : BS_ENOTFOUND;
}

/* Host i seen up (a != 0) or down from now on. */
static inline void fake_mem_set_alive(fake_mem *m, int i, int a) {
    pthread_mutex_lock(&m->lock);
    m->alive[i] = a;
    pthread_mutex_unlock(&m->lock);
}

/* Host i's endpoint lookup fails (on != 0) or works again. */
static inline void fake_mem_set_noaddr(fake_mem *m, int i, int on) {
    pthread_mutex_lock(&m->lock);
    m->noaddr[i] = on;
    pthread_mutex_unlock(&m->lock);
}

#endif
