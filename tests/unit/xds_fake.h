/* Test helper: builds xDS snapshots with fake named resources. */
#ifndef WEFT_TEST_XDS_FAKE_H
#define WEFT_TEST_XDS_FAKE_H
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "weft/arena.h"
#include "weft/str.h"
#include "weft/xds.h"

static int fake_cmp(const void *a, const void *b)
{
	const weft_xds_resource_t *x = a, *y = b;
	return strcmp(x->name.p, y->name.p);
}

/* spec: per type, "name=content;name=content" (NULL = none). The version
 * is the content itself, so equal content gives equal versions. */
static inline weft_xds_snapshot_t *fake_snapshot(uint64_t gen, const char *lds, const char *rds,
						 const char *cds, const char *eds)
{
	const char *specs[WEFT_XDS_NTYPES] = { lds, rds, cds, eds };
	weft_arena_t a;
	weft_xds_snapshot_t *s;

	/* like the translator's: the snapshot lives in its own arena */
	weft_arena_init(&a, 0);
	s = weft_arena_alloc(&a, sizeof(*s));
	s->arena = a;
	s->generation = gen;
	s->refs = 1;
	for (int t = 0; t < WEFT_XDS_NTYPES; t++) {
		char *dup, *save = NULL;
		size_t n = 0;
		if (!specs[t] || !*specs[t])
			continue;
		dup = weft_arena_cstr(&s->arena, specs[t]);
		for (const char *p = specs[t]; *p; p++)
			n += *p == ';';
		s->types[t].v = weft_arena_calloc(&s->arena, n + 1, sizeof(weft_xds_resource_t));
		for (char *tok = strtok_r(dup, ";", &save); tok; tok = strtok_r(NULL, ";", &save)) {
			char *eq = strchr(tok, '=');
			weft_xds_resource_t *r = &s->types[t].v[s->types[t].n++];
			*eq = '\0';
			r->name = weft_str_c(tok);
			r->version = weft_str_c(eq + 1);
			r->bytes = (const unsigned char *)(eq + 1);
			r->len = strlen(eq + 1);
		}
		qsort(s->types[t].v, s->types[t].n, sizeof(weft_xds_resource_t), fake_cmp);
	}
	return s;
}
#endif
