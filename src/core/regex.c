/* weft — RE2 text to POSIX ERE (include/weft/regex.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "weft/regex.h"

static int fail(char **out, char *why, size_t whylen, const char *msg)
{
	free(*out);
	*out = NULL;
	snprintf(why, whylen, "%s", msg);
	return -1;
}

int weft_regex_to_ere(weft_str_t re, char **out, bool *icase, char *why, size_t whylen)
{
	size_t o = 0;
	bool in_class = false, prev_quant = false;

	*out = NULL;
	*icase = false;
	if (re.len == 0)
		return fail(out, why, whylen, "empty regular expression");
	if (re.len > WEFT_REGEX_MAX)
		return fail(out, why, whylen, "regular expression longer than 4096 bytes");
	if (!(*out = malloc(6 * re.len + 8)))   /* "\D" -> "[^0-9]": 6 bytes for 2 */
		return fail(out, why, whylen, "out of memory");
	char *d = *out;
	d[o++] = '^';
	d[o++] = '(';
	for (size_t i = 0; i < re.len; i++) {
		char c = re.p[i];
		bool pq = prev_quant;

		prev_quant = false;
		if (c == '\0')
			return fail(out, why, whylen, "NUL byte in regular expression");
		if (c == '\\') {
			char n = i + 1 < re.len ? re.p[i + 1] : '\0';
			if (!in_class && n >= '1' && n <= '9')
				return fail(out, why, whylen,
					    "backreferences (\\1..\\9) are not supported (RE2 syntax)");
			if (n == 'd' || n == 'D') {
				const char *cls = in_class ? "0-9" : n == 'd' ? "[0-9]" : "[^0-9]";
				memcpy(d + o, cls, strlen(cls));
				o += strlen(cls);
				i++;
				continue;
			}
			d[o++] = c;
			if (i + 1 < re.len)
				d[o++] = re.p[++i];
			continue;
		}
		if (in_class) {
			if (c == ']')
				in_class = false;
			d[o++] = c;
			continue;
		}
		if (c == '[') {
			in_class = true;
			d[o++] = c;
			/* a ']' (after an optional '^') right at the start is literal */
			if (i + 1 < re.len && re.p[i + 1] == '^')
				d[o++] = re.p[++i];
			if (i + 1 < re.len && re.p[i + 1] == ']')
				d[o++] = re.p[++i];
			continue;
		}
		if (c == '(' && i + 1 < re.len && re.p[i + 1] == '?') {
			size_t j = i + 2, f;
			if (j < re.len && (re.p[j] == '=' || re.p[j] == '!' ||
					   (re.p[j] == '<' && j + 1 < re.len &&
					    (re.p[j + 1] == '=' || re.p[j + 1] == '!'))))
				return fail(out, why, whylen, "lookaround assertions are not supported (RE2 syntax)");
			if (j + 1 < re.len && re.p[j] == 'P' && re.p[j + 1] == '<') {
				/* (?P<name>  ->  ( */
				j += 2;
				while (j < re.len && re.p[j] != '>')
					j++;
				if (j >= re.len)
					return fail(out, why, whylen, "unterminated group name");
				d[o++] = '(';
				i = j;
				continue;
			}
			/* (?flags) or (?flags:  with flags from imsU and '-' */
			f = j;
			while (j < re.len && re.p[j] && strchr("imsU-", re.p[j]))
				j++;
			if (i == 0 && memchr(re.p + f, 'i', j - f))
				*icase = true;
			if (j < re.len && re.p[j] == ')') {
				i = j;          /* flag setting: no group */
				continue;
			}
			if (j < re.len && re.p[j] == ':') {
				d[o++] = '(';
				i = j;
				continue;
			}
			return fail(out, why, whylen, "invalid group syntax after \"(?\"");
		}
		if (c == '+' && pq)
			return fail(out, why, whylen, "possessive quantifiers are not supported (RE2 syntax)");
		if (c == '?' && pq)
			continue;   /* lazy suffix: the same language, dropped for ERE */
		prev_quant = c == '}' || c == '*' || c == '+' || c == '?';
		d[o++] = c;
	}
	d[o++] = ')';
	d[o++] = '$';
	d[o] = '\0';
	return 0;
}
