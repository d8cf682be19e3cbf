/* weft — checking RegularExpression match values. The data plane (gRPC's
 * xDS clients, the agent) evaluates RE2 syntax; here POSIX ERE (regcomp)
 * is the syntax checker, after RE2's group forms are mapped onto plain
 * groups, and constructs RE2 rejects are refused up front. */
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "weft/cfgdec.h"

#define REGEX_MAX 4096

static int fail(char *why, size_t whylen, const char *msg)
{
	snprintf(why, whylen, "%s", msg);
	return -1;
}

int weft_regex_check(weft_str_t re, char *why, size_t whylen)
{
	char *out;
	size_t o = 0;
	bool in_class = false, prev_quant = false;
	unsigned long long product = 1;
	regex_t rx;
	int rc;

	if (re.len == 0)
		return fail(why, whylen, "empty regular expression");
	if (re.len > REGEX_MAX)
		return fail(why, whylen, "regular expression longer than 4096 bytes");
	out = malloc(re.len + 1);
	if (!out)
		return fail(why, whylen, "out of memory");
	for (size_t i = 0; i < re.len; i++) {
		char c = re.p[i];

		if (c == '\0') {
			free(out);
			return fail(why, whylen, "NUL byte in regular expression");
		}
		bool quant = false, pq = prev_quant;

		prev_quant = false;

		if (c == '\\') {
			char n = i + 1 < re.len ? re.p[i + 1] : '\0';
			if (!in_class && n >= '1' && n <= '9') {
				free(out);
				return fail(why, whylen, "backreferences (\\1..\\9) are not supported (RE2 syntax)");
			}
			out[o++] = c;
			if (i + 1 < re.len)
				out[o++] = re.p[++i];
			continue;
		}
		if (in_class) {
			if (c == ']')
				in_class = false;
			out[o++] = c;
			continue;
		}
		if (c == '[') {
			in_class = true;
			out[o++] = c;
			/* a ']' (after an optional '^') right at the start is literal */
			if (i + 1 < re.len && re.p[i + 1] == '^')
				out[o++] = re.p[++i];
			if (i + 1 < re.len && re.p[i + 1] == ']')
				out[o++] = re.p[++i];
			continue;
		}
		if (c == '(' && i + 1 < re.len && re.p[i + 1] == '?') {
			size_t j = i + 2;
			if (j < re.len && (re.p[j] == '=' || re.p[j] == '!' ||
					   (re.p[j] == '<' && j + 1 < re.len && (re.p[j + 1] == '=' || re.p[j + 1] == '!')))) {
				free(out);
				return fail(why, whylen, "lookaround assertions are not supported (RE2 syntax)");
			}
			if (j < re.len && re.p[j] == 'P' && j + 1 < re.len && re.p[j + 1] == '<') {
				/* (?P<name>  -> ( */
				j += 2;
				while (j < re.len && re.p[j] != '>')
					j++;
				if (j >= re.len) {
					free(out);
					return fail(why, whylen, "unterminated group name");
				}
				out[o++] = '(';
				i = j;
				continue;
			}
			/* (?flags) or (?flags:  with flags from imsU and '-' */
			while (j < re.len && strchr("imsU-", re.p[j]) && re.p[j])
				j++;
			if (j < re.len && re.p[j] == ')') {
				i = j;          /* flag setting: no group */
				continue;
			}
			if (j < re.len && re.p[j] == ':') {
				out[o++] = '(';
				i = j;
				continue;
			}
			free(out);
			return fail(why, whylen, "invalid group syntax after \"(?\"");
		}
		if (c == '+' && pq) {
			free(out);
			return fail(why, whylen, "possessive quantifiers are not supported (RE2 syntax)");
		}
		if (c == '?' && pq) {
			continue;   /* non-greedy suffix: same language, drop for ERE */
		}
		if (c == '{') {
			/* counted repetition: RE2 allows bounds up to 1000; glibc's
			 * compiler expands them, so keep their product small */
			unsigned long long lo = 0, hi = 0;
			size_t j = i + 1;
			while (j < re.len && re.p[j] >= '0' && re.p[j] <= '9' && lo <= 100000)
				lo = lo * 10 + (unsigned)(re.p[j++] - '0');
			hi = lo;
			if (j < re.len && re.p[j] == ',') {
				j++;
				hi = 0;
				while (j < re.len && re.p[j] >= '0' && re.p[j] <= '9' && hi <= 100000)
					hi = hi * 10 + (unsigned)(re.p[j++] - '0');
				if (hi == 0)
					hi = lo;
			}
			if (lo > 1000 || hi > 1000) {
				free(out);
				return fail(why, whylen, "repetition count above 1000");
			}
			product *= hi ? hi : 1;
			if (product > 100000) {
				free(out);
				return fail(why, whylen, "counted repetitions too large when combined");
			}
		}
		if (c == '}' || c == '*' || c == '+' || c == '?')
			quant = true;
		prev_quant = quant;
		out[o++] = c;
	}
	out[o] = '\0';
	rc = regcomp(&rx, out, REG_EXTENDED | REG_NOSUB);
	free(out);
	if (rc != 0) {
		char buf[256];
		regerror(rc, &rx, buf, sizeof(buf));
		snprintf(why, whylen, "invalid regular expression: %s", buf);
		return -1;
	}
	regfree(&rx);
	return 0;
}
