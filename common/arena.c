/*
 * arena.c - bump allocator (see arena.h).
 *
 * Chunks form a singly linked list, newest first; an allocation larger
 * than a quarter of the chunk size gets a chunk of its own (inserted
 * behind the head so the head's free space is not wasted).
 *
 * Chunks of the default size that an arena frees are kept for the next
 * arena of the same thread (up to CACHE_MAX of them; freed when the
 * thread ends).  A request arena per request otherwise made an 8 KiB
 * malloc and free per request, and glibc serves that size from its
 * sorted bins: each such malloc first consolidated the fast bins
 * (malloc_consolidate was a tenth of the allocator's time on an RF=3
 * coordinator).
 */
#include "common/arena.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct bs_arena_chunk {
    bs_arena_chunk *next;
    size_t size;
    size_t used;
    _Alignas(16) unsigned char data[];
};

#define ALIGN16(n) (((n) + 15) & ~(size_t)15)
#define DEFAULT_CHUNK 8192
#define CACHE_MAX 32

/* This thread's spare default chunks (a __thread root: leak checkers see
 * them as reachable); the key only frees them when the thread ends. */
static __thread bs_arena_chunk *t_spare;
static __thread int t_nspare;
static pthread_key_t spare_key;
static int spare_keyed;
static pthread_once_t spare_once = PTHREAD_ONCE_INIT;

static void spare_drop(void *unused) {
    (void)unused;
    while (t_spare) {
        bs_arena_chunk *c = t_spare;
        t_spare = c->next;
        free(c);
    }
    t_nspare = 0;
}

static void spare_init(void) {
    spare_keyed = pthread_key_create(&spare_key, spare_drop) == 0;
}

static void chunk_free(bs_arena_chunk *c) {
    if (c->size != DEFAULT_CHUNK || t_nspare >= CACHE_MAX) {
        free(c);
        return;
    }
    if (!t_spare) { /* the first of this thread: arm its destructor */
        pthread_once(&spare_once, spare_init);
        if (!spare_keyed || pthread_setspecific(spare_key, (void *)1)) {
            free(c);
            return;
        }
    }
    c->next = t_spare;
    t_spare = c;
    t_nspare++;
}

void bs_arena_init(bs_arena *a, size_t chunk_size) {
    a->head = NULL;
    a->chunk_size = chunk_size ? chunk_size : DEFAULT_CHUNK;
    a->total = 0;
}

static bs_arena_chunk *chunk_new(size_t size) {
    bs_arena_chunk *c;
    if (size == DEFAULT_CHUNK && t_spare) {
        c = t_spare;
        t_spare = c->next;
        t_nspare--;
    } else {
        c = malloc(sizeof *c + size);
    }
    if (!c) return NULL;
    c->next = NULL;
    c->size = size;
    c->used = 0;
    return c;
}

void *bs_arena_alloc(bs_arena *a, size_t n) {
    size_t need = ALIGN16(n ? n : 1);
    if (need < n) return NULL;
    bs_arena_chunk *h = a->head;
    if (h && h->size - h->used >= need) {
        void *p = h->data + h->used;
        h->used += need;
        a->total += need;
        return p;
    }
    if (need > a->chunk_size / 4) {
        bs_arena_chunk *c = chunk_new(need);
        if (!c) return NULL;
        c->used = need;
        if (h) {
            c->next = h->next;
            h->next = c;
        } else
            a->head = c;
        a->total += need;
        return c->data;
    }
    bs_arena_chunk *c = chunk_new(a->chunk_size);
    if (!c) return NULL;
    c->next = h;
    a->head = c;
    c->used = need;
    a->total += need;
    return c->data;
}

void *bs_arena_calloc(bs_arena *a, size_t n) {
    void *p = bs_arena_alloc(a, n);
    if (p) memset(p, 0, n);
    return p;
}

void *bs_arena_memdup(bs_arena *a, const void *p, size_t n) {
    void *d = bs_arena_alloc(a, n);
    if (d && n) memcpy(d, p, n);
    return d;
}

char *bs_arena_strndup(bs_arena *a, const char *s, size_t n) {
    char *d = bs_arena_alloc(a, n + 1);
    if (!d) return NULL;
    if (n) memcpy(d, s, n);
    d[n] = 0;
    return d;
}

void bs_arena_reset(bs_arena *a) {
    bs_arena_chunk *c = a->head;
    if (!c) return;
    /* keep the last (oldest) chunk of the default size if any */
    bs_arena_chunk *keep = NULL;
    while (c) {
        bs_arena_chunk *next = c->next;
        if (!keep && c->size == a->chunk_size)
            keep = c;
        else
            chunk_free(c);
        c = next;
    }
    if (keep) {
        keep->next = NULL;
        keep->used = 0;
    }
    a->head = keep;
    a->total = 0;
}

void bs_arena_free(bs_arena *a) {
    bs_arena_chunk *c = a->head;
    while (c) {
        bs_arena_chunk *next = c->next;
        chunk_free(c);
        c = next;
    }
    a->head = NULL;
    a->total = 0;
}
