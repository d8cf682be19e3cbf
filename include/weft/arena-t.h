/* weft — arenas: memory tied to a lifetime. Types only. */
#ifndef WEFT_ARENA_T_H
#define WEFT_ARENA_T_H
#include <stddef.h>

struct weft_arena_chunk;

/* A bump allocator. Everything allocated from it is freed at once by
 * weft_arena_destroy(). Used for config snapshots, per-request state and
 * other objects whose lifetimes end together. */
typedef struct weft_arena {
	struct weft_arena_chunk *head;
	size_t chunk_size;   /* default size of a new chunk */
	size_t used;         /* bytes handed out, for accounting */
	size_t reserved;     /* bytes obtained from malloc */
} weft_arena_t;

#endif
