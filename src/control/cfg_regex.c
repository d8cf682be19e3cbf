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

#define REGEX_MAX_NEST 100
#define REGEX_MAX_REPEAT 1000
#define REGEX_MAX_SIZE 20000

/* Reads a decimal number at s[*i] (advancing *i), capped above max. */
static unsigned long read_count(const char *s, size_t *i)
{
	unsigned long v = 0;

	while (s[*i] >= '0' && s[*i] <= '9') {
		if (v <= 100000)
			v = v * 10 + (unsigned long)(s[*i] - '0');
		(*i)++;
	}
	return v;
}

/* Estimates how many atoms ERE text re expands to once counted repetitions
 * are unrolled (as glibc's compiler does), so that patterns such as
 * "((a{100}){100}){100}" are refused before they exhaust memory.
 * Returns 0, or -1 with a reason in why. */
static int expanded_size(const char *re, char *why, size_t whylen)
{
	unsigned long cost[REGEX_MAX_NEST + 1] = { 0 }, last = 0;
	size_t depth = 0;

	for (size_t i = 0; re[i]; i++) {
		char c = re[i];

		if (c == '\\') {
			if (re[i + 1])
				i++;
			last = 1;
		} else if (c == '[') {
			i++;
			if (re[i] == '^')
				i++;
			if (re[i] == ']')
				i++;
			while (re[i] && re[i] != ']')
				i++;
			if (!re[i])
				break;   /* unterminated: regcomp reports it */
			last = 1;
		} else if (c == '(') {
			if (++depth > REGEX_MAX_NEST)
				return fail(why, whylen, "groups nested too deeply");
			cost[depth] = 0;
			continue;
		} else if (c == ')') {
			if (!depth)
				continue;   /* unbalanced: regcomp reports it */
			last = cost[depth--];
			cost[depth] += last;
			continue;
		} else if (c == '{') {
			unsigned long lo, hi;
			i++;
			lo = read_count(re, &i);
			hi = lo;
			if (re[i] == ',') {
				i++;
				hi = re[i] >= '0' && re[i] <= '9' ? read_count(re, &i) : lo + 1;
			}
			if (lo > REGEX_MAX_REPEAT || hi > REGEX_MAX_REPEAT)
				return fail(why, whylen, "repetition count above 1000");
			if (!re[i])
				break;
			if (hi > 1) {
				cost[depth] += last * (hi - 1);
				last *= hi;
			}
			if (cost[depth] > REGEX_MAX_SIZE || last > REGEX_MAX_SIZE)
				return fail(why, whylen, "counted repetitions expand the expression too much");
			continue;
		} else if (c == '*' || c == '+' || c == '?' || c == '|' || c == '^' || c == '$') {
			continue;
		} else {
			last = 1;
		}
		cost[depth] += last;
		if (cost[depth] > REGEX_MAX_SIZE)
			return fail(why, whylen, "counted repetitions expand the expression too much");
	}
	return 0;
}

int weft_regex_check(weft_str_t re, char *why, size_t whylen)
{
	char *out;
	size_t o = 0;
	bool in_class = false, prev_quant = false;
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
		if (c == '}' || c == '*' || c == '+' || c == '?')
			quant = true;
		prev_quant = quant;
		out[o++] = c;
	}
	out[o] = '\0';
	if (expanded_size(out, why, whylen) < 0) {
		free(out);
		return -1;
	}
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
