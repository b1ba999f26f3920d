/* Bump allocator: one allocation per run, carved into aligned pieces. */
#include <stdlib.h>
#include <string.h>

#include "nmtrain/core.h"

#define ARENA_ALIGN 64

int nmt_arena_init(nmt_arena *arena, size_t capacity)
{
    memset(arena, 0, sizeof *arena);
    if (capacity == 0) return 0;
    capacity = (capacity + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    arena->base = aligned_alloc(ARENA_ALIGN, capacity);
    if (!arena->base) {
        nmt_error("out of memory: cannot allocate an arena of %.1f MiB", capacity / 1048576.0);
        return -1;
    }
    arena->capacity = capacity;
    return 0;
}

void *nmt_arena_alloc(nmt_arena *arena, size_t bytes)
{
    size_t start = (arena->used + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    size_t end = start + bytes;
    arena->used = end;
    if (end > arena->peak) arena->peak = end;
    if (!arena->base) return NULL; /* measuring pass */
    if (end > arena->capacity) {
        nmt_error("arena exhausted: %zu bytes requested, %zu of %zu used", bytes, start, arena->capacity);
        return NULL;
    }
    void *p = arena->base + start;
    memset(p, 0, bytes);
    return p;
}

void nmt_arena_free(nmt_arena *arena)
{
    free(arena->base);
    memset(arena, 0, sizeof *arena);
}
