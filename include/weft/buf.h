/* weft — growable byte buffers. */
#ifndef WEFT_BUF_H
#define WEFT_BUF_H
#include <stdarg.h>
#include "weft/buf-t.h"

void weft_buf_init(weft_buf_t *b, size_t limit);
void weft_buf_free(weft_buf_t *b);

static inline size_t weft_buf_len(const weft_buf_t *b) { return b->wr - b->rd; }
/* The first unread byte (NULL for a buffer that never held any). */
static inline unsigned char *weft_buf_head(const weft_buf_t *b) { return b->data ? b->data + b->rd : NULL; }

/* Makes room for at least n more bytes after wr (compacting first).
 * Returns 0, or -1 when the limit would be passed or memory ran out. */
int weft_buf_reserve(weft_buf_t *b, size_t n);

/* Appends n bytes. Returns 0, or -1 as weft_buf_reserve(). */
int weft_buf_append(weft_buf_t *b, const void *p, size_t n);

/* Appends formatted text. Returns 0 or -1. */
int weft_buf_printf(weft_buf_t *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Drops n bytes from the front (n <= length). */
void weft_buf_consume(weft_buf_t *b, size_t n);

/* Empties the buffer, keeping its memory. */
static inline void weft_buf_reset(weft_buf_t *b) { b->rd = b->wr = 0; }

#endif
