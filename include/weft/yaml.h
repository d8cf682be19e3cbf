/* weft — reading YAML (libyaml) into weft_yaml_node_t trees. */
#ifndef WEFT_YAML_H
#define WEFT_YAML_H
#include "weft/arena-t.h"
#include "weft/model-t.h"
#include "weft/yaml-t.h"

/* Parses text (len bytes; need not be NUL-terminated) as a stream of YAML
 * documents into out, allocating every node and string in a. `file` names
 * the text in errors. Anchors, aliases, duplicate keys and non-scalar keys
 * are rejected; nesting is limited to 64 levels; empty documents are
 * skipped.
 * Returns 0 with out filled, or -1 after appending at least one
 * "file:line" error to errs (out is then empty). */
int weft_yaml_parse(weft_arena_t *a, const char *file, const char *text, size_t len,
		    weft_yaml_docs_t *out, weft_cfg_errors_t *errs);

/* Returns the value of key `name` in MAP node n, or NULL when n is not a
 * map or has no such key. */
const weft_yaml_node_t *weft_yaml_get(const weft_yaml_node_t *n, const char *name);

/* Returns "a string", "a mapping", "a list" or "null": what a node is, for
 * error messages. */
const char *weft_yaml_type_name(const weft_yaml_node_t *n);

#endif
