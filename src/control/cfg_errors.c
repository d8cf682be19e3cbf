/* weft — the list of errors found while loading a configuration. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include "weft/arena.h"
#include "weft/config.h"

void weft_cfg_errors_init(weft_cfg_errors_t *e)
{
	weft_arena_init(&e->arena, 0);
	e->n = e->cap = 0;
	e->v = NULL;
}

void weft_cfg_errors_free(weft_cfg_errors_t *e)
{
	weft_arena_destroy(&e->arena);
	free(e->v);
	e->v = NULL;
	e->n = e->cap = 0;
}

void weft_cfg_error_add(weft_cfg_errors_t *e, const char *file, unsigned line,
			const char *field, const char *fmt, ...)
{
	static const char *const oom = "out of memory recording this error";
	weft_cfg_error_t *er;
	va_list ap;
	char buf[1024];
	int n;

	if (e->n == e->cap) {
		size_t ncap = e->cap ? e->cap * 2 : 16;
		weft_cfg_error_t *nv = realloc(e->v, ncap * sizeof(*nv));
		if (!nv)
			return;   /* nothing to record into; the caller still fails the load */
		e->v = nv;
		e->cap = ncap;
	}
	er = &e->v[e->n++];
	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	er->file = weft_arena_cstr(&e->arena, file ? file : "");
	er->line = line;
	er->field = weft_arena_cstr(&e->arena, field ? field : "");
	er->msg = n >= 0 ? weft_arena_cstr(&e->arena, buf) : NULL;
	if (!er->file)
		er->file = "?";
	if (!er->field)
		er->field = "";
	if (!er->msg)
		er->msg = oom;
}

void weft_cfg_errors_print(const weft_cfg_errors_t *e, FILE *out)
{
	for (size_t i = 0; i < e->n; i++) {
		const weft_cfg_error_t *er = &e->v[i];
		if (er->line)
			fprintf(out, "%s:%u: ", er->file, er->line);
		else
			fprintf(out, "%s: ", er->file);
		if (er->field[0])
			fprintf(out, "%s: ", er->field);
		fprintf(out, "%s\n", er->msg);
	}
}
