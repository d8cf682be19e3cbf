/* weft — growable byte buffers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "weft/buf.h"

void weft_buf_init(weft_buf_t *b, size_t limit)
{
	b->data = NULL;
	b->rd = b->wr = b->cap = 0;
	b->limit = limit;
}

void weft_buf_free(weft_buf_t *b)
{
	free(b->data);
	b->data = NULL;
	b->rd = b->wr = b->cap = 0;
}

int weft_buf_reserve(weft_buf_t *b, size_t n)
{
	size_t len = b->wr - b->rd, ncap;
	unsigned char *p;

	if (b->cap - b->wr >= n)
		return 0;
	if (b->limit && len + n > b->limit)
		return -1;
	if (b->rd && b->cap - len >= n) {
		memmove(b->data, b->data + b->rd, len);
		b->rd = 0;
		b->wr = len;
		return 0;
	}
	ncap = b->cap ? b->cap : 1024;
	while (ncap - len < n) {
		if (ncap > ((size_t)-1) / 2)
			return -1;
		ncap *= 2;
	}
	p = malloc(ncap);
	if (!p)
		return -1;
	if (len)
		memcpy(p, b->data + b->rd, len);
	free(b->data);
	b->data = p;
	b->cap = ncap;
	b->rd = 0;
	b->wr = len;
	return 0;
}

int weft_buf_append(weft_buf_t *b, const void *p, size_t n)
{
	if (!n)
		return 0;
	if (b->cap - b->wr < n && weft_buf_reserve(b, n) < 0)   /* room: no call */
		return -1;
	memcpy(b->data + b->wr, p, n);
	b->wr += n;
	return 0;
}

int weft_buf_printf(weft_buf_t *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || weft_buf_reserve(b, (size_t)n + 1) < 0)
		return -1;
	va_start(ap, fmt);
	vsnprintf((char *)b->data + b->wr, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->wr += (size_t)n;
	return 0;
}

void weft_buf_consume(weft_buf_t *b, size_t n)
{
	b->rd += n;
	if (b->rd >= b->wr)
		b->rd = b->wr = 0;
}
