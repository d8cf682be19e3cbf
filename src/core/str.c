/* weft — (ptr, len) string helpers. */
#include "weft/str.h"

/* ASCII A-Z of eight bytes at once lowercased (other bytes, non-ASCII
 * included, unchanged): bit 7 of (b & 0x7f) + 0x3f says b >= 'A', of
 * (b & 0x7f) + 0x25 says b > 'Z'; no byte carries into the next. */
static inline uint64_t lower8(uint64_t x)
{
	uint64_t h = x & 0x7f7f7f7f7f7f7f7full;
	uint64_t up = ((h + 0x3f3f3f3f3f3f3f3full) ^ (h + 0x2525252525252525ull)) & ~x &
		      0x8080808080808080ull;

	return x | (up >> 2);
}

bool weft_str_ieq(weft_str_t a, weft_str_t b)
{
	size_t i = 0;

	if (a.len != b.len)
		return false;
	for (; i + 8 <= a.len; i += 8) {
		uint64_t x, y;
		memcpy(&x, a.p + i, 8);
		memcpy(&y, b.p + i, 8);
		if (x != y && lower8(x) != lower8(y))
			return false;
	}
	for (; i < a.len; i++) {
		unsigned char x = (unsigned char)a.p[i], y = (unsigned char)b.p[i];
		if (x == y)
			continue;
		if (x >= 'A' && x <= 'Z')
			x = (unsigned char)(x + 32);
		if (y >= 'A' && y <= 'Z')
			y = (unsigned char)(y + 32);
		if (x != y)
			return false;
	}
	return true;
}

int weft_str_to_u64(weft_str_t s, unsigned long long max, unsigned long long *out)
{
	unsigned long long v = 0;

	if (s.len == 0)
		return -1;
	for (size_t i = 0; i < s.len; i++) {
		unsigned d;
		if (s.p[i] < '0' || s.p[i] > '9')
			return -1;
		d = (unsigned)(s.p[i] - '0');
		if (v > (max - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

size_t weft_u64_dec(char *out, uint64_t v)
{
	char t[20];
	size_t n = 0;

	do
		t[sizeof(t) - ++n] = (char)('0' + v % 10);
	while ((v /= 10));
	memcpy(out, t + sizeof(t) - n, n);
	return n;
}
