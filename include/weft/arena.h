/* weft — arena allocator. */
#ifndef WEFT_ARENA_H
#define WEFT_ARENA_H
#include <stdarg.h>
#include "weft/arena-t.h"
#include "weft/str-t.h"

/* Initialises an empty arena whose chunks are chunk_size bytes (0: 16 KiB). */
void weft_arena_init(weft_arena_t *a, size_t chunk_size);

/* Frees every allocation and leaves the arena empty and reusable. */
void weft_arena_destroy(weft_arena_t *a);

/* Frees every allocation but keeps the most recent regular chunk for reuse,
 * so that an arena emptied in a loop does not go back to malloc (and the
 * kernel) each time. Pointers into the arena become invalid. */
void weft_arena_reset(weft_arena_t *a);

/* Returns size bytes aligned to 16, zeroed, or NULL if memory ran out. */
void *weft_arena_alloc(weft_arena_t *a, size_t size);

/* Returns n*size zeroed bytes, or NULL on overflow or when memory ran out. */
void *weft_arena_calloc(weft_arena_t *a, size_t n, size_t size);

/* Copies s into the arena with a trailing NUL (not counted in len).
 * Returns the copy; on allocation failure returns an empty string with
 * p == NULL. */
weft_str_t weft_arena_strdup(weft_arena_t *a, weft_str_t s);

/* Like weft_arena_strdup() for a C string; returns a NUL-terminated copy or NULL. */
char *weft_arena_cstr(weft_arena_t *a, const char *s);

/* printf into the arena. Returns a NUL-terminated string or NULL. */
char *weft_arena_printf(weft_arena_t *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
