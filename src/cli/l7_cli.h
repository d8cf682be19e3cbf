/* weft — small helpers shared by `weft tap` and `weft top` (src/cli/
 * cmd_tap.c, cmd_top.c): reading fields out of the agent's flat JSON
 * lines. Header-only, file-private (static) functions. */
#ifndef WEFT_L7_CLI_H
#define WEFT_L7_CLI_H
#include <stdio.h>
#include <string.h>

/* Copies the value of "key" found in obj (the first occurrence at or
 * after obj) into out: a string unescaped (\uXXXX other than ASCII as
 * '?'), any other token as written, "null" as "-". Returns the position
 * after the value, or NULL when key is absent (out is then "-"). */
static const char *l7cli_field(const char *obj, const char *key, char *out, size_t n)
{
	char pat[80];
	const char *p;
	size_t o = 0;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	snprintf(out, n, "-");
	if (!(p = strstr(obj, pat)))
		return NULL;
	p += strlen(pat);
	if (*p == '"') {
		for (p++; *p && *p != '"'; p++) {
			char c = *p;
			if (c == '\\' && p[1]) {
				p++;
				switch (*p) {
				case 'n': c = '\n'; break;
				case 't': c = '\t'; break;
				case 'r': c = '\r'; break;
				case 'u':
					c = '?';
					for (int i = 0; i < 4 && p[1]; i++)
						p++;
					break;
				default: c = *p; break;
				}
			}
			if (o + 1 < n)
				out[o++] = c;
		}
		out[o] = 0;
		return *p ? p + 1 : p;
	}
	while (*p && *p != ',' && *p != '}' && *p != ']') {
		if (o + 1 < n)
			out[o++] = *p;
		p++;
	}
	out[o] = 0;
	if (!strcmp(out, "null"))
		snprintf(out, n, "-");
	return p;
}

#endif
