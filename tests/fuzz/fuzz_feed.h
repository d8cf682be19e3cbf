/* weft fuzzers — a fake transport that hands the fuzz input to a mux in
 * chunks (the first input byte picks the chunk size: 1 + 8 * byte) and
 * swallows everything written. Header-only: each fuzzer is one binary. */
#ifndef WEFT_FUZZ_FEED_H
#define WEFT_FUZZ_FEED_H
#include <stdint.h>
#include <string.h>
#include "weft/net.h"

typedef struct fuzz_feed {
	const uint8_t *p;
	size_t n, chunk;
} fuzz_feed_t;

/* Sets f up over data (size >= 1: the caller checks). */
static inline void fuzz_feed_init(fuzz_feed_t *f, const uint8_t *data, size_t size)
{
	f->chunk = 1 + (size_t)data[0] * 8;
	f->p = data + 1;
	f->n = size - 1;
}

/* recv: the next chunk; WEFT_EAGAIN once the input is used up (never EOF). */
static ssize_t fuzz_feed_recv(weft_conn_t *c, void *buf, size_t len)
{
	fuzz_feed_t *f = c->xprt_ctx;
	size_t n = f->n < f->chunk ? f->n : f->chunk;

	if (n > len)
		n = len;
	if (f->n == 0)
		return WEFT_EAGAIN;
	memcpy(buf, f->p, n);
	f->p += n;
	f->n -= n;
	return (ssize_t)n;
}

static ssize_t fuzz_feed_send(weft_conn_t *c, const void *buf, size_t len) { return (ssize_t)len; }
static void fuzz_feed_close(weft_conn_t *c) {}

/* xprt_ctx: a fuzz_feed_t (or a struct that starts with one) */
static const weft_xprt_ops_t fuzz_feed_xprt = { "fuzz-feed", fuzz_feed_recv, fuzz_feed_send,
						fuzz_feed_close, NULL, NULL, NULL };

#endif
