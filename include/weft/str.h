/* weft — helpers for (ptr, len) strings. */
#ifndef WEFT_STR_H
#define WEFT_STR_H
#include <string.h>
#include <stdbool.h>
#include <stdint.h>
#include "weft/str-t.h"

#define WEFT_STR_LIT(s) ((weft_str_t){ (s), sizeof(s) - 1 })
#define WEFT_STR_FMT "%.*s"
#define WEFT_STR_ARG(s) (int)(s).len, (s).p

static inline weft_str_t weft_str(const char *p, size_t len)
{
	return (weft_str_t){ p, len };
}

static inline weft_str_t weft_str_c(const char *s)
{
	return (weft_str_t){ s, s ? strlen(s) : 0 };
}

static inline bool weft_str_eq(weft_str_t a, weft_str_t b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

static inline bool weft_str_eq_c(weft_str_t a, const char *b)
{
	return weft_str_eq(a, weft_str_c(b));
}

/* Orders two strings bytewise, a shorter prefix first. Returns <0, 0 or >0
 * as a sorts before, equal to or after b (memcmp's convention). */
static inline int weft_str_cmp(weft_str_t a, weft_str_t b)
{
	size_t n = a.len < b.len ? a.len : b.len;
	int c = n ? memcmp(a.p, b.p, n) : 0;

	return c ? c : (a.len > b.len) - (a.len < b.len);
}

static inline bool weft_str_starts(weft_str_t a, weft_str_t prefix)
{
	return a.len >= prefix.len && memcmp(a.p, prefix.p, prefix.len) == 0;
}

#define WEFT_FNV1A64_INIT 0xcbf29ce484222325ull

/* FNV-1a, 64 bits, continued from h (start with WEFT_FNV1A64_INIT): stable
 * across runs and builds; for versions and hash tables, not for security. */
static inline uint64_t weft_fnv1a64(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return h;
}

/* Case-insensitive ASCII comparison. */
bool weft_str_ieq(weft_str_t a, weft_str_t b);

/* Parses a decimal unsigned integer that fills the whole string.
 * Returns 0 and sets *out, or -1 on empty input, a non-digit, or overflow
 * beyond max. */
int weft_str_to_u64(weft_str_t s, unsigned long long max, unsigned long long *out);

/* v in decimal at out, without a NUL (out has room for 20 bytes), as
 * "%llu" prints it; for the data paths that format numbers per request
 * without printf. Returns the digit count (1..20). */
size_t weft_u64_dec(char *out, uint64_t v);

#endif
