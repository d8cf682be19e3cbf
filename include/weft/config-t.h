/* weft — types of the incremental config loader: one file's decoded
 * objects (shared, refcounted) and the cache of them that lets a reload
 * re-parse only the files that changed. Types only; the functions are in
 * weft/config.h. */
#ifndef WEFT_CONFIG_T_H
#define WEFT_CONFIG_T_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include "weft/arena-t.h"

struct weft_kind;

/* What a file looked like when it was read (stat(2) fields). A file whose
 * identity is unchanged is not read again. */
typedef struct weft_cfg_ident {
	uint64_t dev, ino;
	int64_t size;
	struct timespec mtim, ctim;
} weft_cfg_ident_t;

/* One decoded object of a file: kind->obj_size bytes starting with a
 * weft_meta_t, in the file's arena. */
typedef struct weft_cfg_obj {
	const struct weft_kind *kind;
	const void *obj;
} weft_cfg_obj_t;

/* One configuration file as decoded: its objects in document order and
 * everything they point to (strings, arrays, the file name every loc.file
 * of them points at) live in arena. Shared by the cache and by every model
 * built from it (weft_model_t.sources); freed with the last reference.
 * Never modified once decoded. References are not atomic: the cache and
 * the models built from it are used from one thread. */
typedef struct weft_cfg_file {
	unsigned refs;
	weft_arena_t arena;
	const char *name;            /* NUL-terminated, in arena */
	weft_cfg_ident_t id;         /* valid when cacheable */
	bool cacheable;              /* decoded without errors from a file whose
				      * identity was stable (see config.c) */
	size_t nobjs;
	weft_cfg_obj_t *objs;        /* in arena, document order */
} weft_cfg_file_t;

/* The decoded files of the previous load, owned by the caller (the control
 * plane keeps one for its lifetime). Only files that decoded without errors
 * are kept. */
typedef struct weft_config_cache {
	size_t n;
	weft_cfg_file_t **v;         /* sorted by name (strcmp), one reference each */
	/* what the last load did, for logs and tests */
	size_t last_parsed;          /* files read and decoded */
	size_t last_reused;          /* files taken from the cache */
} weft_config_cache_t;

#endif
