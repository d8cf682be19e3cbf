/* weft — RE2-syntax regular expressions on POSIX ERE (src/core/regex.c).
 * Configs are written in RE2 syntax (Gateway API, Istio); the control
 * plane validates them (src/control/cfg_regex.c) and the agent matches
 * them (src/agent/l7_route.c) with regcomp/regexec. Both go through the
 * one translation below, so what was accepted is what is matched. */
#ifndef WEFT_REGEX_H
#define WEFT_REGEX_H
#include <stdbool.h>
#include <stddef.h>
#include "weft/str-t.h"

#define WEFT_REGEX_MAX 4096   /* pattern bytes */

/* Translates RE2 text re into a NUL-terminated POSIX ERE anchored at both
 * ends ("^(...)$": a full match, as Envoy's safe_regex) in *out (malloc'd;
 * the caller frees it). RE2's "(?:" and "(?P<name>" become plain groups,
 * flag groups are dropped (a leading one with 'i' sets *icase), lazy '?'
 * suffixes are dropped (same language), \d and \D become [0-9] and [^0-9].
 * Returns 0, or -1 with a reason in why (empty, longer than
 * WEFT_REGEX_MAX, a NUL byte, backreferences, lookaround, possessive
 * quantifiers, bad group syntax, out of memory). Syntax errors ERE itself
 * sees (unbalanced parentheses, bad ranges) are left to regcomp. */
int weft_regex_to_ere(weft_str_t re, char **out, bool *icase, char *why, size_t whylen);

#endif
