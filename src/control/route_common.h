/* weft — helpers shared by kind_httproute.c and kind_grpcroute.c (private
 * to src/control). */
#ifndef WEFT_ROUTE_COMMON_H
#define WEFT_ROUTE_COMMON_H
#include "weft/cfgdec.h"

/* Decodes one entry of spec.rules[].matches (a kind's own match syntax)
 * into out. Returns 0 or -1 (errors added). */
typedef int (*weft_route_match_fn)(weft_dec_t *d, const weft_yaml_node_t *n, const char *path,
				   weft_route_match_t *out);

/* Decodes a HTTPRoute/GRPCRoute spec into rt (meta already set): parentRefs,
 * hostnames, rules (matches via match_fn, filters, backendRefs, timeouts)
 * with every per-route rule checked. Returns 0 or -1 (errors added). */
int weft_route_decode(weft_dec_t *d, const weft_yaml_node_t *spec, weft_route_t *rt,
		      weft_route_kind_t kind, weft_route_match_fn match_fn);

/* Decodes a list of header (or query parameter) matches {type, name,
 * value} at path into *out / *n; regexes are checked. Returns 0 or -1. */
int weft_route_str_matches(weft_dec_t *d, const weft_yaml_node_t *seq, const char *path,
			   weft_str_match_t **out, size_t *n);

/* Checks a RegularExpression value; reports at line/path. Returns 0 or -1. */
int weft_route_check_regex(weft_dec_t *d, weft_str_t re, unsigned line, const char *path);

/* Resolves every route of the model (both kinds): parentRefs and
 * backendRefs to services and ports, conflicting rules, and each
 * service's routes list in file order. */
void weft_route_resolve(weft_resolver_t *r);

/* The kinds' own hook (weft_kind_t): gives the model's copy of a route its
 * own parents, rules and each rule's backends and filters (the arrays
 * weft_route_resolve() writes resolved services into), copied into ma.
 * Returns 0, or -1 when memory ran out. */
int weft_route_own(weft_arena_t *ma, void *obj);

#endif
