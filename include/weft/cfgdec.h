/* weft — config decoding helpers shared by the kind_*.c files: field
 * tables, value parsers (durations, percentages, names, IPs, regexes) and
 * whole-set resolution helpers. */
#ifndef WEFT_CFGDEC_H
#define WEFT_CFGDEC_H
#include <stddef.h>
#include "weft/cfgdec-t.h"
#include "weft/register.h"

/* Kinds register themselves: WEFT_REGISTER(weft_kinds, my_kind_descriptor). */
WEFT_REGISTRY_DECLARE(weft_kinds);

#define WEFT_FIELD_AT(T, m) offsetof(T, m), sizeof(((T *)0)->m)
/* a stored field of struct T, member m (may be nested: "lb.ring_min") */
#define WF(name, type, flags, T, m) { name, type, flags, 0, 0, NULL, WEFT_FIELD_AT(T, m) }
#define WF_UINT(name, flags, lo, hi, T, m) { name, WEFT_F_UINT, flags, lo, hi, NULL, WEFT_FIELD_AT(T, m) }
#define WF_ENUM(name, flags, tbl, T, m) { name, WEFT_F_ENUM, flags, 0, 0, tbl, WEFT_FIELD_AT(T, m) }
/* a field only checked for type and handed back in got[] */
#define WF_NODE(name, type, flags) { name, type, flags, 0, 0, NULL, 0, 0 }
#define WEFT_NFIELDS(tbl) (sizeof(tbl) / sizeof((tbl)[0]))

/* Adds an error at line `line` of the document's file for field `path`. */
void weft_dec_err(weft_dec_t *d, unsigned line, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Returns "parent.field" (or "field" when parent is empty), in d->ta;
 * never NULL (falls back to field on memory exhaustion). */
const char *weft_dec_path(weft_dec_t *d, const char *parent, const char *field);

/* Returns "parent[i]" in d->ta; never NULL. */
const char *weft_dec_idx(weft_dec_t *d, const char *parent, size_t i);

/* Location of node n (NULL: line 0) in the document's file. */
weft_loc_t weft_dec_loc(const weft_dec_t *d, const weft_yaml_node_t *n);

/* Decodes mapping n (at path) against the field table f[0..nf): unknown
 * fields, wrong types, out-of-range or malformed values and missing
 * required fields are each reported. Converted scalar values are stored
 * into dst (see weft_field_t); got[i] (nf entries, may be NULL) receives the
 * value node of field i when present and not null, else NULL.
 * Returns 0 when every field was fine, -1 when any error was added
 * (including n not being a mapping). */
int weft_dec_map(weft_dec_t *d, const weft_yaml_node_t *n, const char *path,
		 const weft_field_t *f, size_t nf, void *dst, const weft_yaml_node_t **got);

/* Converts one value v (e.g. a list item) as field f describes, storing
 * into dst + f->off. A NULL or null v is an error when f is required.
 * Returns 0, or -1 after adding an error. */
int weft_dec_value(weft_dec_t *d, const weft_field_t *f, const weft_yaml_node_t *v, const char *path, void *dst);

/* Converts scalar n to a string copied into the model arena.
 * Returns 0, or -1 after adding an error (n not a scalar, or required
 * and empty). */
int weft_dec_str(weft_dec_t *d, const weft_yaml_node_t *n, const char *path,
		 bool required, weft_str_t *out);

/* Decodes a mapping of string -> string (labels, selectors) into out,
 * sorted by key, checking label syntax. Returns 0 or -1 (errors added). */
int weft_dec_labels(weft_dec_t *d, const weft_yaml_node_t *n, const char *path, weft_labels_t *out);

/* Decodes an Istio selector ({matchLabels: {...}}, at "spec.selector")
 * into out (sorted, as weft_dec_labels()). Returns 0 or -1 (errors added). */
int weft_dec_match_labels(weft_dec_t *d, const weft_yaml_node_t *n, weft_labels_t *out);

/* Allocates n zeroed elements of size in the model arena; n == 0 gives
 * NULL. Reports an error and returns NULL on memory exhaustion (then
 * *failed is set). */
void *weft_dec_array(weft_dec_t *d, size_t n, size_t size, bool *failed);

/* Value parsers over (ptr, len) text. Each returns 0 and the value, or -1.
 * Durations: 1..4 parts <1..5 digits><h|m|s|ms>, units in decreasing
 * order, each at most once. Percent: 0..100 with <= 4 decimals, as ppm. */
int weft_parse_duration(weft_str_t s, uint64_t *ms);
int weft_parse_percent(weft_str_t s, uint32_t *ppm);
bool weft_is_dns_label(weft_str_t s);
bool weft_is_hostname(weft_str_t s);       /* subdomain, optional "*." prefix */
bool weft_is_ip(weft_str_t s);

/* Checks that re is a regular expression RE2 and POSIX ERE both accept:
 * RE2-only group syntax ((?:...), (?i), (?P<n>...)) is allowed, constructs
 * RE2 lacks (backreferences, lookaround, possessive quantifiers) are not.
 * Returns 0, or -1 with a reason in why (NUL-terminated). */
int weft_regex_check(weft_str_t re, char *why, size_t whylen);

/* Lookup helpers for resolution: the model's arrays are sorted by (ns,name). */
/* Returns true when (kind, ns, name) failed to decode (see weft_cfg_broken_t). */
bool weft_resolve_is_broken(const weft_resolver_t *r, const char *kind, weft_str_t ns, weft_str_t name);

/* Returns objs (n objects of size bytes, each starting with a weft_meta_t)
 * as a pointer array in d->ta sorted by order of appearance (file index in
 * m->files, then line), or NULL when n == 0 or memory ran out. */
const void **weft_resolve_file_order(weft_resolver_t *r, const void *objs, size_t n, size_t size);

/* Index of file f in r->m->files (by pointer), or nfiles. */
size_t weft_resolve_file_index(const weft_resolver_t *r, const char *f);

#endif
