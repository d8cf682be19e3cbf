/* weft — (ptr, len) string helpers. */
#include "weft/str.h"

bool weft_str_ieq(weft_str_t a, weft_str_t b)
{
	if (a.len != b.len)
		return false;
	for (size_t i = 0; i < a.len; i++) {
		unsigned char x = (unsigned char)a.p[i], y = (unsigned char)b.p[i];
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
