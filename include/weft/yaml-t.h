/* weft — a small YAML document tree (types only). Every node remembers the
 * 1-based line it starts on so config errors can name file:line. Nodes and
 * strings live in the arena given to weft_yaml_parse(). */
#ifndef WEFT_YAML_T_H
#define WEFT_YAML_T_H
#include <stdbool.h>
#include <stddef.h>
#include "weft/str-t.h"

typedef enum weft_yaml_type {
	WEFT_YAML_NULL = 0,   /* plain "", "~", "null": an absent value */
	WEFT_YAML_SCALAR,
	WEFT_YAML_MAP,
	WEFT_YAML_SEQ,
} weft_yaml_type_t;

typedef struct weft_yaml_node {
	weft_yaml_type_t type;
	unsigned line;                  /* 1-based */
	bool plain;                     /* SCALAR written without quotes: may be a number or bool */
	weft_str_t str;                 /* SCALAR text (also NUL-terminated) */
	size_t n;                       /* MAP: pairs; SEQ: items */
	struct weft_yaml_node **keys;   /* MAP: key scalars, in document order */
	struct weft_yaml_node **vals;   /* MAP: values; SEQ: items */
} weft_yaml_node_t;

typedef struct weft_yaml_docs {
	size_t n;
	weft_yaml_node_t **roots;       /* one per non-empty document, in order */
} weft_yaml_docs_t;

#endif
