/* weft — weak stand-ins for the config loader (weft/config.h) so that
 * `weft control` links and runs while the loader lands separately. The
 * real one (src/control/config*.c) has strong definitions that win at
 * link time; this file goes away once it is in. The stand-in checks YAML
 * syntax only (errors carry file:line) and yields an empty model. */
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>
#include "weft/arena.h"
#include "weft/config.h"

__attribute__((weak)) void weft_cfg_errors_init(weft_cfg_errors_t *e)
{
	memset(e, 0, sizeof(*e));
	weft_arena_init(&e->arena, 0);
}

__attribute__((weak)) void weft_cfg_errors_free(weft_cfg_errors_t *e)
{
	weft_arena_destroy(&e->arena);
	free(e->v);
	memset(e, 0, sizeof(*e));
}

__attribute__((weak)) void weft_cfg_error_add(weft_cfg_errors_t *e, const char *file, unsigned line,
					      const char *field, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (e->n == e->cap) {
		size_t nc = e->cap ? e->cap * 2 : 8;
		weft_cfg_error_t *nv = realloc(e->v, nc * sizeof(*nv));
		if (!nv)
			return;
		e->v = nv;
		e->cap = nc;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	e->v[e->n].file = weft_arena_cstr(&e->arena, file ? file : "");
	e->v[e->n].line = line;
	e->v[e->n].field = weft_arena_cstr(&e->arena, field ? field : "");
	e->v[e->n].msg = weft_arena_cstr(&e->arena, msg);
	if (!e->v[e->n].msg)
		e->v[e->n].msg = "out of memory";
	e->n++;
}

__attribute__((weak)) void weft_cfg_errors_print(const weft_cfg_errors_t *e, FILE *out)
{
	for (size_t i = 0; i < e->n; i++)
		fprintf(out, "%s:%u: %s: %s\n", e->v[i].file, e->v[i].line, e->v[i].field, e->v[i].msg);
}

static int fb_has_suffix(const char *s, const char *suf)
{
	size_t a = strlen(s), b = strlen(suf);
	return a >= b && !strcmp(s + a - b, suf);
}

static void fb_check_file(const char *path, weft_cfg_errors_t *errs, weft_model_t *m, size_t *cap)
{
	FILE *f = fopen(path, "rb");
	yaml_parser_t p;
	yaml_event_t ev;

	if (!f) {
		weft_cfg_error_add(errs, path, 0, "", "cannot open");
		return;
	}
	if (*cap == m->nfiles) {
		*cap = *cap ? *cap * 2 : 8;
		m->files = realloc(m->files, *cap * sizeof(*m->files));
	}
	if (m->files)
		m->files[m->nfiles++] = weft_arena_cstr(&m->arena, path);
	yaml_parser_initialize(&p);
	yaml_parser_set_input_file(&p, f);
	for (;;) {
		if (!yaml_parser_parse(&p, &ev)) {
			weft_cfg_error_add(errs, path, (unsigned)p.problem_mark.line + 1, "",
					   "YAML: %s", p.problem ? p.problem : "syntax error");
			break;
		}
		int done = ev.type == YAML_STREAM_END_EVENT;
		yaml_event_delete(&ev);
		if (done)
			break;
	}
	yaml_parser_delete(&p);
	fclose(f);
}

static int fb_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void fb_walk(const char *dir, weft_cfg_errors_t *errs, weft_model_t *m, size_t *cap, int depth)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, nc = 0;

	if (!d || depth > 32) {
		if (d)
			closedir(d);
		return;
	}
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (n == nc) {
			nc = nc ? nc * 2 : 16;
			names = realloc(names, nc * sizeof(*names));
		}
		names[n] = malloc(strlen(dir) + strlen(de->d_name) + 2);
		sprintf(names[n], "%s/%s", dir, de->d_name);
		n++;
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof(*names), fb_cmp);
	for (size_t i = 0; i < n; i++) {
		struct stat st;
		if (stat(names[i], &st) == 0) {
			if (S_ISDIR(st.st_mode))
				fb_walk(names[i], errs, m, cap, depth + 1);
			else if (fb_has_suffix(names[i], ".yaml") || fb_has_suffix(names[i], ".yml"))
				fb_check_file(names[i], errs, m, cap);
		}
		free(names[i]);
	}
	free(names);
}

__attribute__((weak)) void weft_model_free(weft_model_t *m)
{
	if (!m)
		return;
	free(m->files);
	weft_arena_destroy(&m->arena);
	free(m);
}

__attribute__((weak)) weft_model_t *weft_config_load(const char *path, weft_cfg_errors_t *errs)
{
	weft_model_t *m = calloc(1, sizeof(*m));
	struct stat st;
	size_t cap = 0, before = errs->n;

	if (!m)
		return NULL;
	weft_arena_init(&m->arena, 0);
	if (stat(path, &st) < 0)
		weft_cfg_error_add(errs, path, 0, "", "cannot read");
	else if (S_ISDIR(st.st_mode))
		fb_walk(path, errs, m, &cap, 0);
	else
		fb_check_file(path, errs, m, &cap);
	if (errs->n != before) {
		weft_model_free(m);
		return NULL;
	}
	return m;
}
