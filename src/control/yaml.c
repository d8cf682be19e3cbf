/* weft — YAML reading: libyaml events turned into a small node tree that
 * keeps each node's line, allocated in an arena. */
#include <stdlib.h>
#include <string.h>
#include <yaml.h>
#include "weft/arena.h"
#include "weft/config.h"
#include "weft/str.h"
#include "weft/yaml.h"

#define YAML_MAX_DEPTH 64

/* the path from the document root to the node being built, for errors */
typedef struct ypath {
	const struct ypath *up;
	const weft_yaml_node_t *key;   /* map member; NULL for a list item */
	size_t idx;
} ypath_t;

typedef struct yp {
	yaml_parser_t p;
	weft_arena_t *a;
	const char *file;
	const char *text;
	size_t len;
	weft_cfg_errors_t *errs;
	int bad;                       /* a non-fatal error was reported */
} yp_t;

/* a temporary singly linked list of children while a collection is read */
typedef struct ylink {
	struct ylink *next;
	weft_yaml_node_t *key, *val;
} ylink_t;

static size_t path_len(const ypath_t *p)
{
	size_t n = 0;

	for (; p; p = p->up)
		n += p->key ? p->key->str.len + 1 : 24;
	return n + 1;
}

/* Renders a path as "a.b[2].c" into the arena; "" for the root. */
static const char *path_str(weft_arena_t *a, const ypath_t *p)
{
	size_t cap = path_len(p), end = cap - 1;
	char *buf = weft_arena_alloc(a, cap), tmp[32];

	if (!buf)
		return "";
	buf[end] = '\0';
	for (; p; p = p->up) {
		if (p->key) {
			size_t l = p->key->str.len;
			end -= l;
			memcpy(buf + end, p->key->str.p, l);
			if (p->up)
				buf[--end] = '.';
		} else {
			int l = snprintf(tmp, sizeof(tmp), "[%zu]", p->idx);
			end -= (size_t)l;
			memcpy(buf + end, tmp, (size_t)l);
		}
	}
	return buf + end;
}

static void syntax_error(yp_t *y)
{
	yaml_parser_t *p = &y->p;
	const char *hint = "";
	unsigned line = (unsigned)p->problem_mark.line + 1;

	if (p->problem_mark.index < y->len && y->text[p->problem_mark.index] == '\t')
		hint = " (tabs are not allowed in YAML indentation)";
	if (p->error == YAML_MEMORY_ERROR) {
		weft_cfg_error_add(y->errs, y->file, 0, "", "out of memory reading YAML");
		return;
	}
	if (p->context)
		weft_cfg_error_add(y->errs, y->file, line, "", "YAML syntax error: %s %s%s",
				   p->problem ? p->problem : "error", p->context, hint);
	else
		weft_cfg_error_add(y->errs, y->file, line, "", "YAML syntax error: %s%s",
				   p->problem ? p->problem : "error", hint);
}

static int next_event(yp_t *y, yaml_event_t *ev)
{
	if (!yaml_parser_parse(&y->p, ev)) {
		syntax_error(y);
		return -1;
	}
	return 0;
}

static weft_yaml_node_t *new_node(yp_t *y, weft_yaml_type_t t, const yaml_event_t *ev)
{
	weft_yaml_node_t *n = weft_arena_alloc(y->a, sizeof(*n));

	if (!n) {
		weft_cfg_error_add(y->errs, y->file, 0, "", "out of memory reading YAML");
		return NULL;
	}
	n->type = t;
	n->line = (unsigned)ev->start_mark.line + 1;
	return n;
}

static void no_anchor(yp_t *y, const ypath_t *path, const yaml_event_t *ev, const yaml_char_t *anchor)
{
	if (!anchor)
		return;
	weft_cfg_error_add(y->errs, y->file, (unsigned)ev->start_mark.line + 1, path_str(y->a, path),
			   "YAML anchors (&%s) are not supported: write the value out", (const char *)anchor);
	y->bad = 1;
}

static bool is_null_text(const char *s, size_t len)
{
	return len == 0 || (len == 1 && s[0] == '~') ||
	       (len == 4 && (!memcmp(s, "null", 4) || !memcmp(s, "Null", 4) || !memcmp(s, "NULL", 4)));
}

static int cmp_key(const void *a, const void *b)
{
	const weft_yaml_node_t *x = *(weft_yaml_node_t *const *)a, *y = *(weft_yaml_node_t *const *)b;
	size_t l = x->str.len < y->str.len ? x->str.len : y->str.len;
	int c = l ? memcmp(x->str.p, y->str.p, l) : 0;

	if (c)
		return c;
	if (x->str.len != y->str.len)
		return x->str.len < y->str.len ? -1 : 1;
	return x->line < y->line ? -1 : x->line > y->line;
}

/* Reports every key that appears twice in map n. */
static void check_dup_keys(yp_t *y, const ypath_t *path, weft_yaml_node_t *n)
{
	weft_yaml_node_t **k;

	if (n->n < 2)
		return;
	k = weft_arena_calloc(y->a, n->n, sizeof(*k));
	if (!k)
		return;
	memcpy(k, n->keys, n->n * sizeof(*k));
	qsort(k, n->n, sizeof(*k), cmp_key);
	for (size_t i = 1; i < n->n; i++) {
		if (!weft_str_eq(k[i]->str, k[i - 1]->str))
			continue;
		ypath_t sub = { path, k[i], 0 };
		weft_cfg_error_add(y->errs, y->file, k[i]->line, path_str(y->a, &sub),
				   "duplicate key \"%s\" (first at line %u)", k[i]->str.p, k[i - 1]->line);
		y->bad = 1;
	}
}

static weft_yaml_node_t *build(yp_t *y, yaml_event_t *ev, const ypath_t *path, unsigned depth);

/* Reads the items of a collection whose start event was just consumed, up
 * to its end event. Returns 0, or -1 on a fatal error. */
static int build_children(yp_t *y, weft_yaml_node_t *n, const ypath_t *path, unsigned depth)
{
	yaml_event_type_t end = n->type == WEFT_YAML_MAP ? YAML_MAPPING_END_EVENT : YAML_SEQUENCE_END_EVENT;
	ylink_t *head = NULL, **tail = &head;
	size_t cnt = 0;
	yaml_event_t ev;

	for (;;) {
		ylink_t *l;
		if (next_event(y, &ev) < 0)
			return -1;
		if (ev.type == end) {
			yaml_event_delete(&ev);
			break;
		}
		l = weft_arena_alloc(y->a, sizeof(*l));
		if (!l) {
			yaml_event_delete(&ev);
			weft_cfg_error_add(y->errs, y->file, 0, "", "out of memory reading YAML");
			return -1;
		}
		if (n->type == WEFT_YAML_MAP) {
			ypath_t sub = { path, NULL, 0 };
			l->key = build(y, &ev, path, depth + 1);
			if (!l->key)
				return -1;
			if (l->key->type != WEFT_YAML_SCALAR) {
				weft_cfg_error_add(y->errs, y->file, l->key->line, path_str(y->a, path),
						   "mapping keys must be strings, not %s",
						   weft_yaml_type_name(l->key));
				y->bad = 1;
				l->key->type = WEFT_YAML_SCALAR;
				l->key->str = WEFT_STR_LIT("?");
			}
			sub.key = l->key;
			if (next_event(y, &ev) < 0)
				return -1;
			l->val = build(y, &ev, &sub, depth + 1);
		} else {
			ypath_t sub = { path, NULL, cnt };
			l->val = build(y, &ev, &sub, depth + 1);
		}
		if (!l->val)
			return -1;
		*tail = l;
		tail = &l->next;
		cnt++;
	}
	n->n = cnt;
	if (!cnt)
		return 0;
	n->vals = weft_arena_calloc(y->a, cnt, sizeof(*n->vals));
	if (n->type == WEFT_YAML_MAP)
		n->keys = weft_arena_calloc(y->a, cnt, sizeof(*n->keys));
	if (!n->vals || (n->type == WEFT_YAML_MAP && !n->keys)) {
		weft_cfg_error_add(y->errs, y->file, 0, "", "out of memory reading YAML");
		return -1;
	}
	cnt = 0;
	for (ylink_t *l = head; l; l = l->next, cnt++) {
		n->vals[cnt] = l->val;
		if (n->keys)
			n->keys[cnt] = l->key;
	}
	if (n->type == WEFT_YAML_MAP)
		check_dup_keys(y, path, n);
	return 0;
}

/* Builds the node that starts with event ev (consumed here, and deleted).
 * Returns the node, or NULL on a fatal error (already reported). */
static weft_yaml_node_t *build(yp_t *y, yaml_event_t *ev, const ypath_t *path, unsigned depth)
{
	weft_yaml_node_t *n = NULL;

	if (depth > YAML_MAX_DEPTH) {
		weft_cfg_error_add(y->errs, y->file, (unsigned)ev->start_mark.line + 1, "",
				   "YAML nested deeper than %d levels", YAML_MAX_DEPTH);
		yaml_event_delete(ev);
		return NULL;
	}
	switch (ev->type) {
	case YAML_ALIAS_EVENT:
		weft_cfg_error_add(y->errs, y->file, (unsigned)ev->start_mark.line + 1, path_str(y->a, path),
				   "YAML aliases (*%s) are not supported: write the value out",
				   (const char *)ev->data.alias.anchor);
		y->bad = 1;
		n = new_node(y, WEFT_YAML_NULL, ev);
		break;
	case YAML_SCALAR_EVENT: {
		const char *v = (const char *)ev->data.scalar.value;
		size_t len = ev->data.scalar.length;
		bool plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
		const char *tag = (const char *)ev->data.scalar.tag;

		no_anchor(y, path, ev, ev->data.scalar.anchor);
		if (tag && !strcmp(tag, YAML_STR_TAG))
			plain = false;
		n = new_node(y, plain && is_null_text(v, len) ? WEFT_YAML_NULL : WEFT_YAML_SCALAR, ev);
		if (!n)
			break;
		n->plain = plain;
		n->str = weft_arena_strdup(y->a, weft_str(v, len));
		if (!n->str.p && len) {
			weft_cfg_error_add(y->errs, y->file, 0, "", "out of memory reading YAML");
			n = NULL;
		}
		break;
	}
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT: {
		bool map = ev->type == YAML_MAPPING_START_EVENT;

		no_anchor(y, path, ev, map ? ev->data.mapping_start.anchor : ev->data.sequence_start.anchor);
		n = new_node(y, map ? WEFT_YAML_MAP : WEFT_YAML_SEQ, ev);
		yaml_event_delete(ev);
		if (!n || build_children(y, n, path, depth) < 0)
			return NULL;
		return n;
	}
	default:
		weft_cfg_error_add(y->errs, y->file, (unsigned)ev->start_mark.line + 1, "",
				   "unexpected YAML event");
		break;
	}
	yaml_event_delete(ev);
	return n;
}

int weft_yaml_parse(weft_arena_t *a, const char *file, const char *text, size_t len,
		    weft_yaml_docs_t *out, weft_cfg_errors_t *errs)
{
	yp_t y = { .a = a, .file = file, .text = text, .len = len, .errs = errs };
	ylink_t *head = NULL, **tail = &head;
	size_t cnt = 0;
	yaml_event_t ev;
	int rc = -1;

	out->n = 0;
	out->roots = NULL;
	if (!yaml_parser_initialize(&y.p)) {
		weft_cfg_error_add(errs, file, 0, "", "out of memory reading YAML");
		return -1;
	}
	yaml_parser_set_input_string(&y.p, (const unsigned char *)text, len);
	for (;;) {
		yaml_event_type_t t;
		if (next_event(&y, &ev) < 0)
			goto out;
		t = ev.type;
		if (t == YAML_STREAM_END_EVENT) {
			yaml_event_delete(&ev);
			break;
		}
		if (t != YAML_DOCUMENT_START_EVENT) {
			yaml_event_delete(&ev);
			continue;   /* stream start, document end */
		}
		yaml_event_delete(&ev);
		if (next_event(&y, &ev) < 0)
			goto out;
		weft_yaml_node_t *root = build(&y, &ev, NULL, 0);
		if (!root)
			goto out;
		if (root->type == WEFT_YAML_NULL)
			continue;
		ylink_t *l = weft_arena_alloc(a, sizeof(*l));
		if (!l) {
			weft_cfg_error_add(errs, file, 0, "", "out of memory reading YAML");
			goto out;
		}
		l->val = root;
		*tail = l;
		tail = &l->next;
		cnt++;
	}
	if (y.bad)
		goto out;
	if (cnt) {
		out->roots = weft_arena_calloc(a, cnt, sizeof(*out->roots));
		if (!out->roots) {
			weft_cfg_error_add(errs, file, 0, "", "out of memory reading YAML");
			goto out;
		}
		for (ylink_t *l = head; l; l = l->next)
			out->roots[out->n++] = l->val;
	}
	rc = 0;
out:
	yaml_parser_delete(&y.p);
	return rc;
}

const weft_yaml_node_t *weft_yaml_get(const weft_yaml_node_t *n, const char *name)
{
	if (!n || n->type != WEFT_YAML_MAP)
		return NULL;
	for (size_t i = 0; i < n->n; i++)
		if (weft_str_eq_c(n->keys[i]->str, name))
			return n->vals[i];
	return NULL;
}

const char *weft_yaml_type_name(const weft_yaml_node_t *n)
{
	if (!n)
		return "nothing";
	switch (n->type) {
	case WEFT_YAML_NULL: return "null";
	case WEFT_YAML_SCALAR: return "a string";
	case WEFT_YAML_MAP: return "a mapping";
	case WEFT_YAML_SEQ: return "a list";
	}
	return "?";
}
