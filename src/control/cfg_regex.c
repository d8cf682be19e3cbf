/* weft — checking RegularExpression match values. The data plane (gRPC's
 * xDS clients, the agent) evaluates RE2 syntax; here POSIX ERE (regcomp)
 * is the syntax checker, after the translation the agent matches with
 * (weft_regex_to_ere, src/core/regex.c), plus a bound on how far counted
 * repetitions expand. */
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "weft/cfgdec.h"
#include "weft/regex.h"

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
	char *ere;
	bool icase;
	regex_t rx;
	int rc;

	if (weft_regex_to_ere(re, &ere, &icase, why, whylen) < 0)
		return -1;
	if (expanded_size(ere, why, whylen) < 0) {
		free(ere);
		return -1;
	}
	rc = regcomp(&rx, ere, REG_EXTENDED | REG_NOSUB | (icase ? REG_ICASE : 0));
	free(ere);
	if (rc != 0) {
		char buf[256];
		regerror(rc, &rx, buf, sizeof(buf));
		snprintf(why, whylen, "invalid regular expression: %s", buf);
		return -1;
	}
	regfree(&rx);
	return 0;
}
