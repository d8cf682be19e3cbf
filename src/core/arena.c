/* weft — arena allocator: chunks of memory freed together. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include "weft/arena.h"

struct weft_arena_chunk {
	struct weft_arena_chunk *next;
	size_t size;
	size_t off;
	_Alignas(16) unsigned char data[];
};

void weft_arena_init(weft_arena_t *a, size_t chunk_size)
{
	a->head = NULL;
	a->chunk_size = chunk_size ? chunk_size : 16384;
	a->used = 0;
	a->reserved = 0;
}

void weft_arena_destroy(weft_arena_t *a)
{
	struct weft_arena_chunk *c = a->head, *n;

	while (c) {
		n = c->next;
		free(c);
		c = n;
	}
	a->head = NULL;
	a->used = 0;
	a->reserved = 0;
}

void weft_arena_reset(weft_arena_t *a)
{
	struct weft_arena_chunk *keep = a->head, *c, *n;

	/* one-off big chunks sit behind the head; the head is a regular chunk
	 * unless the arena only ever had a big allocation */
	if (keep && keep->size != a->chunk_size)
		keep = NULL;
	for (c = a->head; c; c = n) {
		n = c->next;
		if (c != keep)
			free(c);
	}
	a->head = keep;
	a->used = 0;
	a->reserved = 0;
	if (keep) {
		keep->next = NULL;
		keep->off = 0;
		a->reserved = keep->size;
	}
}

/* size bytes aligned to 16, not cleared (the slow path: a new chunk).
 * Returns NULL when memory ran out. */
static void *alloc_chunk(weft_arena_t *a, size_t need)
{
	struct weft_arena_chunk *c;
	size_t csz = need > a->chunk_size ? need : a->chunk_size;

	c = malloc(sizeof(*c) + csz);
	if (!c)
		return NULL;
	c->size = csz;
	c->off = 0;
	/* keep a partly used head in front when the new chunk is a one-off
	 * big allocation, so small allocations keep filling the old one */
	if (need > a->chunk_size && a->head) {
		c->next = a->head->next;
		a->head->next = c;
	} else {
		c->next = a->head;
		a->head = c;
	}
	a->reserved += csz;
	c->off = need;
	a->used += need;
	return c->data;
}

/* size bytes aligned to 16, not cleared. Returns NULL when memory ran out. */
static inline void *alloc_raw(weft_arena_t *a, size_t size)
{
	struct weft_arena_chunk *c = a->head;
	size_t need = (size + 15) & ~(size_t)15;
	void *p;

	if (need < size)
		return NULL;
	if (!c || c->size - c->off < need)
		return alloc_chunk(a, need);
	p = c->data + c->off;
	c->off += need;
	a->used += need;
	return p;
}

void *weft_arena_alloc(weft_arena_t *a, size_t size)
{
	void *p = alloc_raw(a, size);

	if (p)
		memset(p, 0, size);
	return p;
}

void *weft_arena_calloc(weft_arena_t *a, size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size)
		return NULL;
	return weft_arena_alloc(a, n * size);
}

weft_str_t weft_arena_strdup(weft_arena_t *a, weft_str_t s)
{
	char *p = alloc_raw(a, s.len + 1);   /* every byte is written below */

	if (!p)
		return (weft_str_t){ NULL, 0 };
	if (s.len)
		memcpy(p, s.p, s.len);
	p[s.len] = '\0';
	return (weft_str_t){ p, s.len };
}

char *weft_arena_cstr(weft_arena_t *a, const char *s)
{
	return (char *)weft_arena_strdup(a, (weft_str_t){ s, strlen(s) }).p;
}

char *weft_arena_printf(weft_arena_t *a, const char *fmt, ...)
{
	va_list ap;
	int n;
	char *p;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return NULL;
	p = alloc_raw(a, (size_t)n + 1);   /* vsnprintf writes all of it */
	if (!p)
		return NULL;
	va_start(ap, fmt);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return p;
}
