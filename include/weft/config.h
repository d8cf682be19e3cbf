/* weft — loading and validating configuration into a model. */
#ifndef WEFT_CONFIG_H
#define WEFT_CONFIG_H
#include <stdio.h>
#include "weft/config-t.h"
#include "weft/model-t.h"

void weft_cfg_errors_init(weft_cfg_errors_t *e);
void weft_cfg_errors_free(weft_cfg_errors_t *e);

/* Adds one error (printf-style message). Never fails: on memory exhaustion
 * the message is replaced by a fixed text. */
void weft_cfg_error_add(weft_cfg_errors_t *e, const char *file, unsigned line,
			const char *field, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* Prints each error as "file:line: field: message", one per line. */
void weft_cfg_errors_print(const weft_cfg_errors_t *e, FILE *out);

/* Loads path: one YAML file, or every *.yaml / *.yml file below a directory
 * (sorted, recursive). Every document of every file is decoded and the set
 * is validated as a whole. Returns the model, or NULL when there was any
 * error, with every error found appended to errs (nothing half-applied). */
weft_model_t *weft_config_load(const char *path, weft_cfg_errors_t *errs);

/* An empty cache of decoded files, for weft_config_load_cached(). */
void weft_config_cache_init(weft_config_cache_t *c);

/* Drops the cache's references (models built with it stay valid: they
 * hold their own) and leaves it empty and reusable. */
void weft_config_cache_destroy(weft_config_cache_t *c);

/* Same as weft_config_load(), re-reading only the files that changed:
 * a file whose identity (device, inode, size, mtime, ctime, nanoseconds
 * included) is the one cache recorded is not read again, its decoded
 * objects are reused. Every file read that decoded without errors (and
 * whose identity could not change unseen) is recorded; files no longer
 * present are dropped; the cache is updated even when the load is
 * rejected. The model is the same as weft_config_load() would build, and
 * stays valid after the cache moves on or is destroyed. cache may be NULL
 * (then it is weft_config_load()). Not thread-safe: a cache and the models
 * built with it belong to one thread. */
weft_model_t *weft_config_load_cached(const char *path, weft_config_cache_t *cache, weft_cfg_errors_t *errs);

/* Same over in-memory sources: names[i] is used as the file name in errors
 * and locations for texts[i] (lens[i] bytes). */
weft_model_t *weft_config_load_mem(size_t n, const char *const *names,
				   const char *const *texts, const size_t *lens,
				   weft_cfg_errors_t *errs);

/* Frees the model and drops its references on decoded files. m may be NULL. */
void weft_model_free(weft_model_t *m);

/* Lookups by (namespace, name); NULL when absent. */
const weft_service_t *weft_model_service(const weft_model_t *m, weft_str_t ns, weft_str_t name);
const weft_workload_t *weft_model_workload(const weft_model_t *m, weft_str_t ns, weft_str_t name);
const weft_node_t *weft_model_node(const weft_model_t *m, weft_str_t name);

#endif
