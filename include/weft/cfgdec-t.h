/* weft — types of the config decoder: field tables, the per-document
 * decoding context, kind descriptors and the whole-set resolver. Types only;
 * the functions are in weft/cfgdec.h. Used by src/control/config.c and the
 * src/control/kind_*.c files (one per kind, each self-registered). */
#ifndef WEFT_CFGDEC_T_H
#define WEFT_CFGDEC_T_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "weft/arena-t.h"
#include "weft/model-t.h"
#include "weft/yaml-t.h"

/* What a field holds, and how weft_dec_map() converts and stores it. */
typedef enum weft_ftype {
	WEFT_F_STR = 0,   /* any scalar -> weft_str_t (copied into the model) */
	WEFT_F_NAME,      /* DNS-1123 label (lowercase, <= 63) -> weft_str_t */
	WEFT_F_HOST,      /* DNS-1123 subdomain, optional leading "*." -> weft_str_t */
	WEFT_F_IP,        /* IPv4 / IPv6 literal -> weft_str_t */
	WEFT_F_PATH,      /* absolute file system path -> weft_str_t */
	WEFT_F_UINT,      /* plain integer in [min, max] -> uint8/16/32/64 by size */
	WEFT_F_BOOL,      /* plain true/false -> bool */
	WEFT_F_DURATION,  /* "1h", "1m30s", "250ms" -> uint64 milliseconds */
	WEFT_F_PERCENT,   /* 0..100, <= 4 decimals -> uint32 parts per million */
	WEFT_F_ENUM,      /* one of enums[].name -> int enums[].value */
	WEFT_F_MAP,       /* mapping: only type-checked, handed back in got[] */
	WEFT_F_SEQ,       /* list: only type-checked, handed back in got[] */
} weft_ftype_t;

#define WEFT_FF_REQUIRED 1u   /* must be present and not null/empty */

typedef struct weft_enum {
	const char *name;
	int value;
} weft_enum_t;

/* One field of a mapping. off/size say where the converted value goes in
 * the destination struct (size 0: not stored, only checked). */
typedef struct weft_field {
	const char *name;
	weft_ftype_t type;
	unsigned flags;
	uint64_t min, max;            /* WEFT_F_UINT */
	const weft_enum_t *enums;     /* WEFT_F_ENUM, ended by a NULL name */
	size_t off, size;
} weft_field_t;

/* Decoding state of one document. */
typedef struct weft_dec {
	weft_arena_t *ma;             /* the decoded file's arena (weft_cfg_file_t):
				       * the object and everything it points to */
	weft_arena_t *ta;             /* temporary: paths, scratch */
	weft_cfg_errors_t *errs;
	const char *file;             /* lives in ma */
	weft_str_t ns;                /* the document's namespace ("" when cluster-scoped) */
} weft_dec_t;

/* A (kind, ns, name) that failed to decode: references to it are not
 * reported as dangling (its own errors already were). */
typedef struct weft_cfg_broken {
	const char *kind;
	weft_str_t ns, name;
} weft_cfg_broken_t;

/* Whole-set resolution state, handed to each kind's resolve function. */
typedef struct weft_resolver {
	weft_model_t *m;
	weft_arena_t *ta;
	weft_cfg_errors_t *errs;
	size_t nbroken;
	const weft_cfg_broken_t *broken;
} weft_resolver_t;

/* A kind of document. Objects start with a weft_meta_t; decoded objects of
 * every kind with the same array_off land, sorted by (ns, name), in that
 * model array (HTTPRoute and GRPCRoute share m->routes). */
typedef struct weft_kind {
	const char *api_version;      /* e.g. "gateway.networking.k8s.io/v1" */
	const char *api_version_alt;  /* a second accepted apiVersion, or NULL */
	const char *name;             /* e.g. "HTTPRoute" */
	bool namespaced;
	size_t obj_size;
	size_t count_off, array_off;  /* offsetof(weft_model_t, nX / X) */
	/* Decodes spec (a MAP node, or NULL when absent) into obj, whose meta is
	 * already filled. Returns 0, or -1 after adding errors. */
	int (*decode)(weft_dec_t *d, const weft_yaml_node_t *spec, void *obj);
	/* Resolves references of every object of the kind once all objects are
	 * in the model; adds errors. Kinds sharing one function are resolved
	 * once. Called by ascending phase. May be NULL. */
	void (*resolve)(weft_resolver_t *r);
	int phase;
	/* Called on the model's copy of each object (a memcpy of the decoded
	 * object, which may be shared with the config cache and other models)
	 * before resolution: re-allocates in ma every nested array resolve
	 * writes into, so decoded objects are never modified. Returns 0, or -1
	 * when memory ran out. NULL when resolve writes only top-level fields. */
	int (*own)(weft_arena_t *ma, void *obj);
} weft_kind_t;

#endif
