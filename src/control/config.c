/* weft — loading a configuration: files -> YAML trees -> decoded objects
 * (one kind_*.c file per kind, self-registered) -> a sorted, resolved,
 * immutable model. Any error anywhere rejects the whole set.
 *
 * Each file's decoded objects live in that file's own refcounted arena
 * (weft_cfg_file_t). The model copies the top-level structs into its sorted
 * arrays and holds a reference on every file; with a weft_config_cache_t,
 * a file whose identity (stat) is unchanged since the last load is not read
 * again: its decoded objects are reused as they are. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "weft/arena.h"
#include "weft/cfgdec.h"
#include "weft/config.h"
#include "weft/str.h"
#include "weft/yaml.h"

#define CFG_MAX_FILE (64u << 20)
#define CFG_MAX_DEPTH 32

/* A decoded object waiting to be placed in the model. */
typedef struct pending {
	struct pending *next;
	const weft_kind_t *kind;
	const void *obj;        /* obj_size bytes in a file's arena, starts with a weft_meta_t */
	size_t seq;             /* order of appearance across all files */
} pending_t;

typedef struct broken_link {
	struct broken_link *next;
	weft_cfg_broken_t b;
} broken_link_t;

typedef struct loader {
	weft_model_t *m;
	weft_arena_t ta;        /* lives for the whole load: pending objects, resolution */
	weft_arena_t fa;        /* lives for one file: its YAML tree, decode scratch */
	weft_cfg_errors_t *errs;
	pending_t *pending, **ptail;
	size_t npending;
	broken_link_t *broken;
	size_t nbroken;
	size_t seq;
	bool failed;            /* an error that may not have been recorded (memory) */
} loader_t;

/* ---- small helpers ---- */

static const weft_kind_t *find_kind(weft_str_t name)
{
	WEFT_REGISTRY_FOREACH(weft_kinds, const weft_kind_t, k)
		if (weft_str_eq_c(name, k->name))
			return k;
	return NULL;
}

static const char *kind_list(weft_arena_t *a)
{
	char *s = weft_arena_alloc(a, 512);
	size_t o = 0;

	if (!s)
		return "";
	WEFT_REGISTRY_FOREACH(weft_kinds, const weft_kind_t, k)
		if (o + strlen(k->name) + 3 < 512)
			o += (size_t)sprintf(s + o, "%s%s", o ? ", " : "", k->name);
	return s;
}

/* ---- decoding one document ---- */

enum { TOP_API, TOP_KIND, TOP_META, TOP_SPEC };
static const weft_field_t top_fields[] = {
	[TOP_API] = WF_NODE("apiVersion", WEFT_F_STR, WEFT_FF_REQUIRED),
	[TOP_KIND] = WF_NODE("kind", WEFT_F_STR, WEFT_FF_REQUIRED),
	[TOP_META] = WF_NODE("metadata", WEFT_F_MAP, WEFT_FF_REQUIRED),
	[TOP_SPEC] = WF_NODE("spec", WEFT_F_MAP, WEFT_FF_REQUIRED),
};

enum { META_NAME, META_NS, META_LABELS };
static const weft_field_t meta_fields[] = {
	[META_NAME] = WF("name", WEFT_F_NAME, WEFT_FF_REQUIRED, weft_meta_t, name),
	[META_NS] = WF("namespace", WEFT_F_NAME, 0, weft_meta_t, ns),
	[META_LABELS] = WF_NODE("labels", WEFT_F_MAP, 0),
};

static void add_broken(loader_t *l, const weft_kind_t *k, const weft_meta_t *meta)
{
	broken_link_t *b;

	if (!meta->name.len)
		return;
	b = weft_arena_alloc(&l->ta, sizeof(*b));
	if (!b)
		return;
	b->b.kind = k->name;
	b->b.ns = meta->ns;
	b->b.name = meta->name;
	b->next = l->broken;
	l->broken = b;
	l->nbroken++;
}

/* Queues obj (of kind k, document number l->seq) for the model. */
static void add_pending(loader_t *l, const weft_kind_t *k, const void *obj)
{
	pending_t *p = weft_arena_alloc(&l->ta, sizeof(*p));

	if (!p) {
		l->failed = true;
		return;
	}
	p->kind = k;
	p->obj = obj;
	p->seq = l->seq;
	*l->ptail = p;
	l->ptail = &p->next;
	l->npending++;
}

/* Decodes one document (root node of a YAML document) of file f into f's
 * arena. Errors go to l->errs; a good object is queued in l->pending. */
static void decode_doc(loader_t *l, weft_cfg_file_t *f, const weft_yaml_node_t *root)
{
	weft_dec_t d = { &f->arena, &l->fa, l->errs, f->name, WEFT_STR_LIT("") };
	const weft_yaml_node_t *top[WEFT_NFIELDS(top_fields)], *mg[WEFT_NFIELDS(meta_fields)];
	size_t nerr0 = l->errs->n;
	const weft_kind_t *k;
	weft_meta_t meta = { 0 };
	void *obj;

	l->seq++;
	if (root->type != WEFT_YAML_MAP) {
		weft_dec_err(&d, root->line, "", "a document must be a mapping with apiVersion, kind, metadata "
			     "and spec, not %s", weft_yaml_type_name(root));
		return;
	}
	/* an unknown kind is the one error worth reporting for its document */
	top[TOP_KIND] = weft_yaml_get(root, "kind");
	if (top[TOP_KIND] && top[TOP_KIND]->type == WEFT_YAML_SCALAR && !find_kind(top[TOP_KIND]->str)) {
		weft_dec_err(&d, top[TOP_KIND]->line, "kind", "unknown kind \"%s\" (known: %s)",
			     top[TOP_KIND]->str.p, kind_list(&l->ta));
		return;
	}
	weft_dec_map(&d, root, "", top_fields, WEFT_NFIELDS(top_fields), NULL, top);
	if (!top[TOP_KIND])
		return;
	k = find_kind(top[TOP_KIND]->str);
	if (!k)
		return;
	if (top[TOP_API] && !weft_str_eq_c(top[TOP_API]->str, k->api_version) &&
	    !(k->api_version_alt && weft_str_eq_c(top[TOP_API]->str, k->api_version_alt))) {
		if (k->api_version_alt)
			weft_dec_err(&d, top[TOP_API]->line, "apiVersion",
				     "kind %s needs apiVersion \"%s\" or \"%s\", not \"%s\"",
				     k->name, k->api_version, k->api_version_alt, top[TOP_API]->str.p);
		else
			weft_dec_err(&d, top[TOP_API]->line, "apiVersion", "kind %s needs apiVersion \"%s\", not \"%s\"",
				     k->name, k->api_version, top[TOP_API]->str.p);
	}
	if (!top[TOP_META])
		return;
	weft_dec_map(&d, top[TOP_META], "metadata", meta_fields, WEFT_NFIELDS(meta_fields), &meta, mg);
	if (!k->namespaced && mg[META_NS]) {
		weft_dec_err(&d, mg[META_NS]->line, "metadata.namespace",
			     "%s is cluster-scoped: it has no namespace", k->name);
		meta.ns = WEFT_STR_LIT("");
	} else if (k->namespaced && !meta.ns.len) {
		meta.ns = WEFT_STR_LIT("default");
	}
	if (mg[META_LABELS])
		weft_dec_labels(&d, mg[META_LABELS], "metadata.labels", &meta.labels);
	meta.loc = weft_dec_loc(&d, root);

	obj = weft_arena_alloc(&f->arena, k->obj_size);
	if (!obj) {
		weft_dec_err(&d, root->line, "", "out of memory");
		l->failed = true;
		return;
	}
	memcpy(obj, &meta, sizeof(meta));
	d.ns = meta.ns;
	if (top[TOP_SPEC])
		k->decode(&d, top[TOP_SPEC], obj);
	if (l->errs->n != nerr0) {
		add_broken(l, k, &meta);
		return;
	}
	add_pending(l, k, obj);
}

/* ---- placing objects into the model ---- */

static int cmp_pending(const void *a, const void *b)
{
	const pending_t *x = *(pending_t *const *)a, *y = *(pending_t *const *)b;
	const weft_meta_t *mx = x->obj, *my = y->obj;
	int c = weft_str_cmp(mx->ns, my->ns);

	if (!c)
		c = weft_str_cmp(mx->name, my->name);
	if (!c)
		c = strcmp(x->kind->name, y->kind->name);
	if (!c)
		c = (x->seq > y->seq) - (x->seq < y->seq);
	return c;
}

/* Copies every pending object whose kind stores into array_off into that
 * model array, sorted, reporting duplicates; the copies get their own
 * copies of what resolution writes into (weft_kind_t.own). */
static void install_group(loader_t *l, size_t array_off, size_t count_off, size_t obj_size)
{
	pending_t **v;
	size_t n = 0;
	char *arr;

	for (pending_t *p = l->pending; p; p = p->next)
		if (p->kind->array_off == array_off)
			n++;
	if (!n)
		return;
	v = weft_arena_calloc(&l->ta, n, sizeof(*v));
	arr = weft_arena_calloc(&l->m->arena, n, obj_size);
	if (!v || !arr) {
		weft_cfg_error_add(l->errs, "", 0, "", "out of memory");
		l->failed = true;
		return;
	}
	n = 0;
	for (pending_t *p = l->pending; p; p = p->next)
		if (p->kind->array_off == array_off)
			v[n++] = p;
	qsort(v, n, sizeof(*v), cmp_pending);
	for (size_t i = 0; i < n; i++) {
		const weft_meta_t *m = v[i]->obj;
		if (i > 0 && v[i]->kind == v[i - 1]->kind) {
			const weft_meta_t *prev = v[i - 1]->obj;
			if (weft_str_eq(prev->ns, m->ns) && weft_str_eq(prev->name, m->name))
				weft_cfg_error_add(l->errs, m->loc.file, m->loc.line, "metadata.name",
						   "duplicate %s %s%s" WEFT_STR_FMT ": first defined at %s:%u",
						   v[i]->kind->name, m->ns.p ? m->ns.p : "", m->ns.len ? "/" : "",
						   WEFT_STR_ARG(m->name), prev->loc.file, prev->loc.line);
		}
		memcpy(arr + i * obj_size, v[i]->obj, obj_size);
		if (v[i]->kind->own && v[i]->kind->own(&l->m->arena, arr + i * obj_size) < 0) {
			weft_cfg_error_add(l->errs, "", 0, "", "out of memory");
			l->failed = true;
			return;
		}
	}
	*(size_t *)((char *)l->m + count_off) = n;
	*(void **)((char *)l->m + array_off) = arr;
}

static int cmp_kind_phase(const void *a, const void *b)
{
	const weft_kind_t *x = *(const weft_kind_t *const *)a, *y = *(const weft_kind_t *const *)b;

	return (x->phase > y->phase) - (x->phase < y->phase);
}

static void install_and_resolve(loader_t *l)
{
	const weft_kind_t *kinds[32];
	size_t nk = 0;
	weft_resolver_t r = { l->m, &l->ta, l->errs, 0, NULL };
	weft_cfg_broken_t *bv;

	WEFT_REGISTRY_FOREACH(weft_kinds, const weft_kind_t, k)
		if (nk < 32)
			kinds[nk++] = k;
	for (size_t i = 0; i < nk; i++) {
		bool done = false;
		for (size_t j = 0; j < i; j++)
			done |= kinds[j]->array_off == kinds[i]->array_off;
		if (!done)
			install_group(l, kinds[i]->array_off, kinds[i]->count_off, kinds[i]->obj_size);
	}
	if (l->failed)
		return;
	bv = l->nbroken ? weft_arena_calloc(&l->ta, l->nbroken, sizeof(*bv)) : NULL;
	if (bv) {
		size_t i = 0;
		for (broken_link_t *b = l->broken; b; b = b->next)
			bv[i++] = b->b;
		r.nbroken = i;
		r.broken = bv;
	}
	qsort(kinds, nk, sizeof(kinds[0]), cmp_kind_phase);
	for (size_t i = 0; i < nk; i++) {
		bool done = !kinds[i]->resolve;
		for (size_t j = 0; j < i && !done; j++)
			done = kinds[j]->resolve == kinds[i]->resolve;
		if (!done)
			kinds[i]->resolve(&r);
	}
}

/* ---- resolution helpers (weft/cfgdec.h) ---- */

bool weft_resolve_is_broken(const weft_resolver_t *r, const char *kind, weft_str_t ns, weft_str_t name)
{
	for (size_t i = 0; i < r->nbroken; i++)
		if (!strcmp(r->broken[i].kind, kind) && weft_str_eq(r->broken[i].ns, ns) &&
		    weft_str_eq(r->broken[i].name, name))
			return true;
	return false;
}

size_t weft_resolve_file_index(const weft_resolver_t *r, const char *f)
{
	size_t i;

	for (i = 0; i < r->m->nfiles; i++)
		if (r->m->files[i] == f)
			break;
	return i;
}

typedef struct ordered {
	size_t file, line, idx;
	const void *obj;
} ordered_t;

static int cmp_ordered(const void *a, const void *b)
{
	const ordered_t *x = a, *y = b;

	if (x->file != y->file)
		return x->file < y->file ? -1 : 1;
	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	return (x->idx > y->idx) - (x->idx < y->idx);
}

const void **weft_resolve_file_order(weft_resolver_t *r, const void *objs, size_t n, size_t size)
{
	ordered_t *o;
	const void **v;

	if (!n)
		return NULL;
	o = weft_arena_calloc(r->ta, n, sizeof(*o));
	v = weft_arena_calloc(r->ta, n, sizeof(*v));
	if (!o || !v)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		const weft_meta_t *m = (const void *)((const char *)objs + i * size);
		o[i] = (ordered_t){ weft_resolve_file_index(r, m->loc.file), m->loc.line, i, m };
	}
	qsort(o, n, sizeof(*o), cmp_ordered);
	for (size_t i = 0; i < n; i++)
		v[i] = o[i].obj;
	return v;
}

/* ---- decoded files and the cache ---- */

/* Returns a new file (one reference) named name, with no objects, or NULL
 * when memory ran out. */
static weft_cfg_file_t *cfg_file_new(const char *name)
{
	weft_cfg_file_t *f = calloc(1, sizeof(*f));

	if (!f)
		return NULL;
	f->refs = 1;
	weft_arena_init(&f->arena, 0);
	f->name = weft_arena_cstr(&f->arena, name);
	if (!f->name) {
		weft_arena_destroy(&f->arena);
		free(f);
		return NULL;
	}
	return f;
}

static weft_cfg_file_t *cfg_file_ref(weft_cfg_file_t *f)
{
	f->refs++;
	return f;
}

/* Drops one reference; the last one frees f and everything decoded into it.
 * f may be NULL. */
static void cfg_file_unref(weft_cfg_file_t *f)
{
	if (!f || --f->refs)
		return;
	weft_arena_destroy(&f->arena);
	free(f);
}

static void ident_from_stat(weft_cfg_ident_t *id, const struct stat *st)
{
	id->dev = (uint64_t)st->st_dev;
	id->ino = (uint64_t)st->st_ino;
	id->size = (int64_t)st->st_size;
	id->mtim = st->st_mtim;
	id->ctim = st->st_ctim;
}

static bool ident_eq(const weft_cfg_ident_t *a, const weft_cfg_ident_t *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       a->mtim.tv_sec == b->mtim.tv_sec && a->mtim.tv_nsec == b->mtim.tv_nsec &&
	       a->ctim.tv_sec == b->ctim.tv_sec && a->ctim.tv_nsec == b->ctim.tv_nsec;
}

static int ts_cmp(struct timespec a, struct timespec b)
{
	if (a.tv_sec != b.tv_sec)
		return a.tv_sec < b.tv_sec ? -1 : 1;
	return (a.tv_nsec > b.tv_nsec) - (a.tv_nsec < b.tv_nsec);
}

void weft_config_cache_init(weft_config_cache_t *c)
{
	memset(c, 0, sizeof(*c));
}

void weft_config_cache_destroy(weft_config_cache_t *c)
{
	for (size_t i = 0; i < c->n; i++)
		cfg_file_unref(c->v[i]);
	free(c->v);
	memset(c, 0, sizeof(*c));
}

static int cmp_file_name(const void *a, const void *b)
{
	return strcmp((*(weft_cfg_file_t *const *)a)->name, (*(weft_cfg_file_t *const *)b)->name);
}

static int cmp_name_file(const void *key, const void *b)
{
	return strcmp(key, (*(weft_cfg_file_t *const *)b)->name);
}

/* Returns a new reference on the cached decoding of name when the file's
 * identity is unchanged since it was read, else NULL. */
static weft_cfg_file_t *cache_lookup(const weft_config_cache_t *c, const char *name)
{
	weft_cfg_file_t *const *e;
	weft_cfg_ident_t id;
	struct stat st;

	if (!c->n)
		return NULL;
	e = bsearch(name, c->v, c->n, sizeof(*c->v), cmp_name_file);
	if (!e || stat(name, &st) < 0)
		return NULL;
	ident_from_stat(&id, &st);
	return ident_eq(&id, &(*e)->id) ? cfg_file_ref(*e) : NULL;
}

/* Replaces the cache's files by files[0..n) that are cacheable (a
 * reference each); the others are dropped. Without memory the cache is
 * just emptied (the next load reads every file). */
static void cache_replace(weft_config_cache_t *c, weft_cfg_file_t *const *files, size_t n)
{
	weft_cfg_file_t **v = n ? calloc(n, sizeof(*v)) : NULL;
	size_t k = 0;

	for (size_t i = 0; v && i < n; i++)
		if (files[i] && files[i]->cacheable)
			v[k++] = cfg_file_ref(files[i]);
	if (k > 1)
		qsort(v, k, sizeof(*v), cmp_file_name);
	weft_config_cache_destroy(c);
	c->v = v;
	c->n = k;
}

/* ---- public API ---- */

/* Where load_texts() gets file i's text: returns it (len in *len) or NULL
 * when it could not be read (the reader has reported why); done() is called
 * once the text is no longer needed. When the text comes from a file, get
 * fills *id with the file's identity as it was just before reading and sets
 * *stable when any later change of the file will change that identity
 * (see file_get()); else *stable is false. */
typedef struct text_source {
	const char *(*get)(struct text_source *src, size_t i, size_t *len, weft_cfg_ident_t *id, bool *stable);
	void (*done)(struct text_source *src, size_t i, const char *text);
} text_source_t;

/* Reads and decodes text i into f (its objects queued in l->pending).
 * Returns true when it decoded without any error and its identity is
 * stable: then f->objs lists its objects and f may be cached. */
static bool decode_file(loader_t *l, text_source_t *src, size_t i, weft_cfg_file_t *f)
{
	weft_yaml_docs_t docs;
	size_t len = 0, nerr0 = l->errs->n, np0 = l->npending;
	pending_t **first = l->ptail;
	bool failed0 = l->failed, stable = false, clean;
	const char *text = src->get(src, i, &len, &f->id, &stable);

	if (!text) {
		l->failed = true;   /* unreadable: already reported */
		return false;
	}
	l->failed = false;
	if (weft_yaml_parse(&l->fa, f->name, text, len, &docs, l->errs) == 0)
		for (size_t j = 0; j < docs.n; j++)
			decode_doc(l, f, docs.roots[j]);
	src->done(src, i, text);
	weft_arena_destroy(&l->fa);
	clean = !l->failed && l->errs->n == nerr0;
	l->failed |= failed0;
	if (!clean || !stable)
		return false;
	f->nobjs = l->npending - np0;
	f->objs = f->nobjs ? weft_arena_calloc(&f->arena, f->nobjs, sizeof(*f->objs)) : NULL;
	if (f->nobjs && !f->objs)
		return false;       /* not cached; the load itself is fine */
	for (size_t j = 0; j < f->nobjs; j++, first = &(*first)->next)
		f->objs[j] = (weft_cfg_obj_t){ (*first)->kind, (*first)->obj };
	return true;
}

/* Shared by every public loader: decodes n texts, one file at a time (only
 * one file's text and YAML tree are held at once), each into its own
 * weft_cfg_file_t, then builds the model. With a cache, a file it holds
 * unchanged is not read, and the cache is left holding this load's
 * cacheable files (whether or not the load is accepted). Returns the model
 * or NULL (errors appended). */
static weft_model_t *load_texts(size_t n, const char *const *names, text_source_t *src,
				weft_config_cache_t *cache, weft_cfg_errors_t *errs, bool pre_failed)
{
	loader_t l = { 0 };
	size_t nerr0 = errs->n, parsed = 0, reused = 0;
	weft_cfg_file_t **sources;
	const char **files;

	l.errs = errs;
	l.ptail = &l.pending;
	l.failed = pre_failed;
	l.m = calloc(1, sizeof(*l.m));
	if (!l.m) {
		weft_cfg_error_add(errs, "", 0, "", "out of memory");
		return NULL;
	}
	weft_arena_init(&l.m->arena, 0);
	weft_arena_init(&l.ta, 0);
	weft_arena_init(&l.fa, 0);
	files = n ? weft_arena_calloc(&l.m->arena, n, sizeof(*files)) : NULL;
	sources = n ? weft_arena_calloc(&l.m->arena, n, sizeof(*sources)) : NULL;
	if (n && (!files || !sources)) {
		weft_cfg_error_add(errs, "", 0, "", "out of memory");
		weft_arena_destroy(&l.ta);
		weft_model_free(l.m);
		return NULL;
	}
	l.m->files = files;
	l.m->sources = sources;
	l.m->nfiles = n;
	for (size_t i = 0; i < n; i++) {
		const char *name = names[i] ? names[i] : "?";
		weft_cfg_file_t *f = cache ? cache_lookup(cache, name) : NULL;

		if (f) {
			/* unchanged: its objects, as documents numbered in order */
			for (size_t j = 0; j < f->nobjs; j++) {
				l.seq++;
				add_pending(&l, f->objs[j].kind, f->objs[j].obj);
			}
			reused++;
		} else if ((f = cfg_file_new(name))) {
			f->cacheable = decode_file(&l, src, i, f);
			parsed++;
		} else {
			weft_cfg_error_add(errs, name, 0, "", "out of memory");
			l.failed = true;
		}
		sources[i] = f;
		files[i] = f ? f->name : "?";
	}
	if (cache) {
		cache_replace(cache, sources, n);
		cache->last_parsed = parsed;
		cache->last_reused = reused;
	}
	install_and_resolve(&l);
	weft_arena_destroy(&l.ta);
	if (errs->n != nerr0 || l.failed) {
		if (errs->n == nerr0)
			weft_cfg_error_add(errs, "", 0, "", "configuration rejected");
		weft_model_free(l.m);
		return NULL;
	}
	return l.m;
}

/* in-memory texts, owned by the caller */
typedef struct mem_source {
	text_source_t src;
	const char *const *texts;
	const size_t *lens;
} mem_source_t;

static const char *mem_get(text_source_t *src, size_t i, size_t *len, weft_cfg_ident_t *id, bool *stable)
{
	mem_source_t *ms = (mem_source_t *)src;

	*len = ms->lens[i];
	*stable = false;
	return ms->texts[i];
}

static void mem_done(text_source_t *src, size_t i, const char *text) {}

weft_model_t *weft_config_load_mem(size_t n, const char *const *names,
				   const char *const *texts, const size_t *lens,
				   weft_cfg_errors_t *errs)
{
	mem_source_t ms = { { mem_get, mem_done }, texts, lens };

	return load_texts(n, names, &ms.src, NULL, errs, false);
}

/* a growable list of malloc'd paths */
typedef struct pathlist {
	size_t n, cap;
	char **v;
} pathlist_t;

static int pathlist_add(pathlist_t *pl, const char *p)
{
	if (pl->n == pl->cap) {
		size_t ncap = pl->cap ? pl->cap * 2 : 16;
		char **nv = realloc(pl->v, ncap * sizeof(*nv));
		if (!nv)
			return -1;
		pl->v = nv;
		pl->cap = ncap;
	}
	pl->v[pl->n] = strdup(p);
	if (!pl->v[pl->n])
		return -1;
	pl->n++;
	return 0;
}

static bool yaml_name(const char *s)
{
	size_t l = strlen(s);

	return (l > 5 && !strcmp(s + l - 5, ".yaml")) || (l > 4 && !strcmp(s + l - 4, ".yml"));
}

/* Adds every *.yaml / *.yml file below dir (dot files skipped). Returns 0,
 * or -1 after reporting an error. */
static int collect_dir(const char *dir, unsigned depth, pathlist_t *pl, weft_cfg_errors_t *errs)
{
	DIR *dp;
	struct dirent *de;
	int rc = 0;

	if (depth > CFG_MAX_DEPTH) {
		weft_cfg_error_add(errs, dir, 0, "", "directories nested deeper than %d levels", CFG_MAX_DEPTH);
		return -1;
	}
	dp = opendir(dir);
	if (!dp) {
		weft_cfg_error_add(errs, dir, 0, "", "cannot read directory: %s", strerror(errno));
		return -1;
	}
	while ((de = readdir(dp))) {
		struct stat st;
		char *child;

		if (de->d_name[0] == '.')
			continue;
		if (asprintf(&child, "%s/%s", dir, de->d_name) < 0) {
			rc = -1;
			break;
		}
		if (stat(child, &st) < 0) {
			weft_cfg_error_add(errs, child, 0, "", "cannot read: %s", strerror(errno));
			rc = -1;
		} else if (S_ISDIR(st.st_mode)) {
			if (collect_dir(child, depth + 1, pl, errs) < 0)
				rc = -1;
		} else if (S_ISREG(st.st_mode) && yaml_name(de->d_name)) {
			if (pathlist_add(pl, child) < 0)
				rc = -1;
		}
		free(child);
	}
	closedir(dp);
	return rc;
}

static int cmp_cstr(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Reads a whole file into a malloc'd buffer. Returns it (and *len) or NULL
 * after reporting an error. *id receives the file's identity as it was
 * before reading; *stable is set when its last change (ctime, which every
 * write sets to the current time and nothing can set back) happened before
 * the current clock tick started, so that any later change of the file
 * changes its identity. A change within the same tick could leave size and
 * timestamps as they were: such a file is read again next time. */
static char *read_file(const char *path, size_t *len, weft_cfg_ident_t *id, bool *stable,
		       weft_cfg_errors_t *errs)
{
	struct timespec now;
	struct stat st;
	char *buf = NULL;
	size_t cap = 0, n = 0;
	int fd;

	*stable = false;
	clock_gettime(CLOCK_REALTIME_COARSE, &now);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		weft_cfg_error_add(errs, path, 0, "", "cannot open: %s", strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) == 0) {
		ident_from_stat(id, &st);
		*stable = S_ISREG(st.st_mode) && ts_cmp(st.st_ctim, now) < 0;
		if (S_ISREG(st.st_mode) && st.st_size > 0 && (uint64_t)st.st_size < CFG_MAX_FILE)
			cap = (size_t)st.st_size + 1;   /* one read, and one more to see the end */
	}
	buf = malloc(cap ? cap : 8192);
	if (!buf) {
		weft_cfg_error_add(errs, path, 0, "", "out of memory");
		goto fail;
	}
	cap = cap ? cap : 8192;
	for (;;) {
		ssize_t r;
		if (n == cap) {
			char *nb;
			if (cap >= CFG_MAX_FILE) {
				weft_cfg_error_add(errs, path, 0, "", "file larger than %u bytes", CFG_MAX_FILE);
				goto fail;
			}
			cap = cap * 2 < CFG_MAX_FILE ? cap * 2 : CFG_MAX_FILE;
			nb = realloc(buf, cap);
			if (!nb) {
				weft_cfg_error_add(errs, path, 0, "", "out of memory");
				goto fail;
			}
			buf = nb;
		}
		r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			weft_cfg_error_add(errs, path, 0, "", "cannot read: %s", strerror(errno));
			goto fail;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	*len = n;
	return buf;
fail:
	close(fd);
	free(buf);
	*stable = false;
	return NULL;
}

/* files read one at a time, freed as soon as they are decoded */
typedef struct file_source {
	text_source_t src;
	char *const *paths;
	weft_cfg_errors_t *errs;
} file_source_t;

static const char *file_get(text_source_t *src, size_t i, size_t *len, weft_cfg_ident_t *id, bool *stable)
{
	file_source_t *fs = (file_source_t *)src;

	return read_file(fs->paths[i], len, id, stable, fs->errs);
}

static void file_done(text_source_t *src, size_t i, const char *text)
{
	free((char *)text);
}

weft_model_t *weft_config_load_cached(const char *path, weft_config_cache_t *cache, weft_cfg_errors_t *errs)
{
	pathlist_t pl = { 0 };
	struct stat st;
	weft_model_t *m;
	bool failed = false;
	file_source_t fs = { { file_get, file_done }, NULL, errs };

	if (stat(path, &st) < 0) {
		weft_cfg_error_add(errs, path, 0, "", "cannot read: %s", strerror(errno));
		if (cache)
			weft_config_cache_destroy(cache);
		return NULL;
	}
	if (S_ISDIR(st.st_mode)) {
		if (collect_dir(path, 0, &pl, errs) < 0)
			failed = true;
		if (pl.n > 1)
			qsort(pl.v, pl.n, sizeof(*pl.v), cmp_cstr);
	} else if (pathlist_add(&pl, path) < 0) {
		weft_cfg_error_add(errs, path, 0, "", "out of memory");
		free(pl.v);
		return NULL;
	}
	fs.paths = pl.v;
	m = load_texts(pl.n, (const char *const *)pl.v, &fs.src, cache, errs, failed);
	for (size_t i = 0; i < pl.n; i++)
		free(pl.v[i]);
	free(pl.v);
	return m;
}

weft_model_t *weft_config_load(const char *path, weft_cfg_errors_t *errs)
{
	return weft_config_load_cached(path, NULL, errs);
}

void weft_model_free(weft_model_t *m)
{
	if (!m)
		return;
	for (size_t i = 0; m->sources && i < m->nfiles; i++)
		cfg_file_unref(m->sources[i]);
	weft_arena_destroy(&m->arena);
	free(m);
}

/* Binary search over an array sorted by (ns, name) of objects starting
 * with a weft_meta_t. */
static const void *find_sorted(const void *arr, size_t n, size_t size, weft_str_t ns, weft_str_t name)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const weft_meta_t *m = (const void *)((const char *)arr + mid * size);
		int c = weft_str_cmp(m->ns, ns);
		if (!c)
			c = weft_str_cmp(m->name, name);
		if (!c)
			return m;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

const weft_service_t *weft_model_service(const weft_model_t *m, weft_str_t ns, weft_str_t name)
{
	return find_sorted(m->services, m->nservices, sizeof(weft_service_t), ns, name);
}

const weft_workload_t *weft_model_workload(const weft_model_t *m, weft_str_t ns, weft_str_t name)
{
	return find_sorted(m->workloads, m->nworkloads, sizeof(weft_workload_t), ns, name);
}

const weft_node_t *weft_model_node(const weft_model_t *m, weft_str_t name)
{
	return find_sorted(m->nodes, m->nnodes, sizeof(weft_node_t), WEFT_STR_LIT(""), name);
}
