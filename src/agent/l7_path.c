/* weft — request path normalization for L7 authorization and routing.
 *
 * Two passes over the path (the part before '?'):
 *   1. bytes: reject control bytes and %00, turn '\' into '/', decode
 *      percent-encoded unreserved characters (ALPHA DIGIT - . _ ~),
 *      uppercase every other escape, and treat %2F / %5C per the slash
 *      mode (kept as the escape "%2F"/"%5C", decoded into a separator, or
 *      refused). Every byte of the result is a separator ('/'), a literal
 *      byte, or the first byte of an uppercase "%XX" escape.
 *   2. segments: runs of '/' merge, "." disappears, ".." removes the
 *      previous segment but never climbs above the root; a trailing
 *      separator (or a trailing "." / "..") leaves a trailing '/'.
 * The output is never longer than the input, and normalizing it again
 * gives the same bytes (tests/fuzz/fuzz_l7path.c checks both). */
#include <string.h>
#include <sys/types.h>
#include "weft/arena.h"
#include "weft/str.h"
#include "weft/l7.h"

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static bool unreserved(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

/* Pass 1: in -> buf (at least in.len bytes). Returns the length written,
 * or -1 (WEFT_EPROTO) for bad input. */
static ssize_t decode_bytes(weft_str_t in, weft_l7_slash_mode_t mode, char *buf)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (size_t i = 0; i < in.len; i++) {
		unsigned char c = (unsigned char)in.p[i];

		if (c < 0x20 || c == 0x7f)
			return -1;
		if (c == '\\') {
			buf[o++] = '/';
			continue;
		}
		if (c != '%') {
			buf[o++] = (char)c;
			continue;
		}
		if (i + 2 >= in.len)
			return -1;   /* truncated escape */
		int hi = hexval(in.p[i + 1]), lo = hexval(in.p[i + 2]);
		if (hi < 0 || lo < 0)
			return -1;
		unsigned char d = (unsigned char)(hi << 4 | lo);
		i += 2;
		if (d == 0)
			return -1;
		if (d == '/' || d == '\\') {
			if (mode == WEFT_L7_SLASH_REJECT)
				return -1;
			if (mode == WEFT_L7_SLASH_DECODE) {
				buf[o++] = '/';
				continue;
			}
		} else if (unreserved(d)) {
			buf[o++] = (char)d;
			continue;
		}
		buf[o++] = '%';
		buf[o++] = hex[d >> 4];
		buf[o++] = hex[d & 15];
	}
	return (ssize_t)o;
}

/* Pass 2: b[0..n) (starting with '/') -> out; returns the output length. */
static size_t resolve_segments(const char *b, size_t n, char *out)
{
	size_t o = 0, i = 1;

	out[o++] = '/';
	for (;;) {
		size_t s = i;
		while (i < n && b[i] != '/')
			i++;
		size_t len = i - s;
		bool last = i >= n;

		if (len == 0 || (len == 1 && b[s] == '.')) {
			/* nothing: out already ends with '/' */
		} else if (len == 2 && b[s] == '.' && b[s + 1] == '.') {
			if (o > 1) {
				o--;                        /* the '/' after the segment */
				while (o > 0 && out[o - 1] != '/')
					o--;
			}
		} else {
			memcpy(out + o, b + s, len);
			o += len;
			if (!last)
				out[o++] = '/';
		}
		if (last)
			break;
		i++;   /* the separator */
	}
	return o;
}

/* Whether in (starting with '/') is already normal: no byte pass 1 would
 * change or refuse (control bytes, '\\', '%') and no segment pass 2
 * would change (empty, "." or ".." ones; a trailing separator is kept by
 * both). Then normalizing it gives the same bytes. */
static bool already_normal(weft_str_t in)
{
	size_t seg = 1;   /* start of the current segment */

	for (size_t i = 1; i <= in.len; i++) {
		unsigned char c = i < in.len ? (unsigned char)in.p[i] : '/';
		if (c < 0x20 || c == 0x7f || c == '\\' || c == '%')
			return false;
		if (c != '/')
			continue;
		size_t len = i - seg;
		if (i < in.len && len == 0)
			return false;   /* "//" */
		if ((len == 1 && in.p[seg] == '.') ||
		    (len == 2 && in.p[seg] == '.' && in.p[seg + 1] == '.'))
			return false;
		seg = i + 1;
	}
	return true;
}

int weft_l7_normalize_path(weft_str_t in, weft_l7_slash_mode_t mode, weft_arena_t *arena,
			   weft_str_t *out)
{
	char *buf, *res;
	ssize_t n;
	size_t m;

	if (in.len == 1 && in.p[0] == '*') {
		*out = weft_str("*", 1);
		return WEFT_OK;
	}
	if (in.len == 0 || (in.p[0] != '/' && in.p[0] != '\\'))
		return WEFT_EPROTO;
	if (in.p[0] == '/' && already_normal(in)) {
		/* the common case: one copy instead of two passes */
		if (!(res = weft_arena_alloc(arena, in.len + 1)))
			return WEFT_ENOMEM;
		memcpy(res, in.p, in.len);
		res[in.len] = '\0';
		*out = weft_str(res, in.len);
		return WEFT_OK;
	}
	buf = weft_arena_alloc(arena, in.len + 1);
	res = weft_arena_alloc(arena, in.len + 1);
	if (!buf || !res)
		return WEFT_ENOMEM;
	n = decode_bytes(in, mode, buf);
	if (n < 0)
		return WEFT_EPROTO;
	m = resolve_segments(buf, (size_t)n, res);
	res[m] = '\0';
	*out = weft_str(res, m);
	return WEFT_OK;
}
