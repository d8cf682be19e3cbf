/* weft — JSON string escaping. */
#include <stdio.h>
#include <string.h>
#include "weft/buf.h"
#include "weft/json.h"

/* Length of the valid UTF-8 sequence at p (at most n bytes), or 0. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
	size_t len;
	unsigned cp;

	if (p[0] < 0x80)
		return 1;
	if ((p[0] & 0xe0) == 0xc0) {
		len = 2;
		cp = p[0] & 0x1f;
	} else if ((p[0] & 0xf0) == 0xe0) {
		len = 3;
		cp = p[0] & 0x0f;
	} else if ((p[0] & 0xf8) == 0xf0) {
		len = 4;
		cp = p[0] & 0x07;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

int weft_json_str(weft_buf_t *out, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;

	if (weft_buf_append(out, "\"", 1))
		return -1;
	for (size_t i = 0; i < n;) {
		unsigned char c = p[i];
		const char *e = NULL;
		char u[8];
		size_t l;

		switch (c) {
		case '"': e = "\\\""; break;
		case '\\': e = "\\\\"; break;
		case '\n': e = "\\n"; break;
		case '\r': e = "\\r"; break;
		case '\t': e = "\\t"; break;
		case '\b': e = "\\b"; break;
		case '\f': e = "\\f"; break;
		default: break;
		}
		if (e) {
			if (weft_buf_append(out, e, 2))
				return -1;
			i++;
			continue;
		}
		if (c < 0x20 || c == 0x7f) {
			snprintf(u, sizeof(u), "\\u%04x", c);
			if (weft_buf_append(out, u, 6))
				return -1;
			i++;
			continue;
		}
		l = utf8_len(p + i, n - i);
		if (l == 0) {
			if (weft_buf_append(out, "\\ufffd", 6))
				return -1;
			i++;
			continue;
		}
		if (weft_buf_append(out, p + i, l))
			return -1;
		i += l;
	}
	return weft_buf_append(out, "\"", 1);
}

int weft_json_cstr(weft_buf_t *out, const char *s)
{
	if (!s)
		return weft_buf_append(out, "null", 4);
	return weft_json_str(out, s, strlen(s));
}
