/*
 * arena.h - a bump allocator for one request or message.
 *
 * Memory comes from chunks (default 8 KiB, larger for big requests) and
 * is released all at once by bs_arena_reset/bs_arena_free, so a request's
 * decoder and executor never free individual pieces.  Allocations are
 * 16-byte aligned.  Not thread-safe: one arena belongs to one loop.
 */
#ifndef BS_ARENA_H
#define BS_ARENA_H

#include <stddef.h>

typedef struct bs_arena_chunk bs_arena_chunk;
typedef struct bs_arena {
    bs_arena_chunk *head;
    size_t chunk_size;
    size_t total; /* bytes handed out since the last reset */
} bs_arena;

void bs_arena_init(bs_arena *a, size_t chunk_size /* 0 = default */);
/* NULL only when out of memory.  Memory is uninitialised. */
void *bs_arena_alloc(bs_arena *a, size_t n);
void *bs_arena_calloc(bs_arena *a, size_t n);
void *bs_arena_memdup(bs_arena *a, const void *p, size_t n);
/* Copies n bytes and appends a NUL. */
char *bs_arena_strndup(bs_arena *a, const char *s, size_t n);
/* Frees everything but the first chunk, for reuse. */
void bs_arena_reset(bs_arena *a);
void bs_arena_free(bs_arena *a);

#endif
