/* Helpers for the config tests: load texts, find errors. */
#ifndef CFG_TEST_UTIL_H
#define CFG_TEST_UTIL_H
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include "weft/config.h"
#include "weft/str.h"

/* Shared by the error tests: Services the test documents can point at. */
static const char base_yaml[] =
	"apiVersion: weft.dev/v1alpha1\n"
	"kind: Node\n"
	"metadata: {name: n1}\n"
	"spec: {address: 10.0.0.1}\n"
	"---\n"
	"apiVersion: v1\n"
	"kind: Service\n"
	"metadata: {name: echo}\n"
	"spec:\n"
	"  selector: {app: echo}\n"
	"  ports: [{name: grpc, port: 7070, appProtocol: grpc}, {name: http, port: 8080, appProtocol: http}]\n"
	"---\n"
	"apiVersion: v1\n"
	"kind: Service\n"
	"metadata: {name: echo-v1}\n"
	"spec:\n"
	"  ports: [{port: 7070}]\n";

/* Loads n (name, text) pairs. errs is initialised here. */
static inline weft_model_t *load_texts(weft_cfg_errors_t *errs, size_t n, const char *const *names,
				       const char *const *texts)
{
	size_t lens[8];

	for (size_t i = 0; i < n; i++)
		lens[i] = strlen(texts[i]);
	weft_cfg_errors_init(errs);
	return weft_config_load_mem(n, names, texts, lens, errs);
}

/* Loads base.yaml (base_yaml) and t.yaml (text). */
static inline weft_model_t *load_with_base(weft_cfg_errors_t *errs, const char *text)
{
	const char *names[] = { "base.yaml", "t.yaml" };
	const char *texts[] = { base_yaml, text };

	return load_texts(errs, 2, names, texts);
}

static inline void dump_errors(const weft_cfg_errors_t *errs)
{
	weft_cfg_errors_print(errs, stderr);
}

/* True when errs holds an error at exactly file:line for field whose
 * message contains msg. */
static inline bool has_error(const weft_cfg_errors_t *errs, const char *file, unsigned line,
			     const char *field, const char *msg)
{
	for (size_t i = 0; i < errs->n; i++) {
		const weft_cfg_error_t *e = &errs->v[i];
		if (!strcmp(e->file, file) && e->line == line && !strcmp(e->field, field) && strstr(e->msg, msg))
			return true;
	}
	return false;
}

#define assert_error(errs, file, line, field, msg)                                        \
	do {                                                                              \
		if (!has_error((errs), (file), (line), (field), (msg))) {                 \
			fprintf(stderr, "expected %s:%u: %s: ...%s... among:\n", (file),   \
				(unsigned)(line), (field), (msg));                        \
			dump_errors(errs);                                                \
			fail();                                                           \
		}                                                                         \
	} while (0)

static inline bool seq(weft_str_t s, const char *c)
{
	return weft_str_eq_c(s, c);
}

#endif
