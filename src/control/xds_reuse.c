/* weft — where a snapshot's resources live, and how the next translation
 * reuses them: blobs (reference-counted blocks holding bytes, names and
 * versions), input fingerprints, and the index of service ports by key.
 * See the comment in xds_translate.h. */
#include <stdlib.h>
#include <string.h>
#include "weft/arena.h"
#include "weft/xds.h"
#include "xds_translate.h"

/* ---- fingerprints (the hashing steps are inline in xds_translate.h) ---- */

static inline uint64_t fmix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return x;
}

weft_xds_fp_t weft_xds_fp_final(const weft_xds_hasher_t *h)
{
	weft_xds_fp_t f = { fmix64(h->a + weft_xds_rotl64(h->b, 17)),
			     fmix64(h->b ^ weft_xds_rotl64(h->a, 41)) };

	if (!f.a && !f.b)
		f.a = 1;   /* {0, 0} means unknown */
	return f;
}

/* ---- blobs ---- */

#define BLOB_FIRST (16u * 1024)
#define BLOB_MAX   (1024u * 1024)

unsigned char *weft_xds_blob_space(weft_xds_tx_t *tx, size_t len)
{
	weft_xds_blob_t *b = tx->nown ? tx->own[tx->nown - 1] : NULL;
	unsigned char *p;

	if (!b || b->size - b->used < len) {
		size_t size = tx->next_blob ? tx->next_blob : BLOB_FIRST;

		if (size < len)
			size = len;
		if (size > SIZE_MAX - sizeof(*b))
			longjmp(tx->oom, 1);
		if (tx->nown == tx->capown) {
			size_t cap = tx->capown ? 2 * tx->capown : 16;
			weft_xds_blob_t **v = realloc(tx->own, cap * sizeof(*v));

			if (!v)
				longjmp(tx->oom, 1);
			tx->own = v;
			tx->capown = cap;
		}
		b = malloc(sizeof(*b) + size);
		if (!b)
			longjmp(tx->oom, 1);
		b->refs = 1;
		b->size = size;
		b->used = 0;
		tx->own[tx->nown++] = b;
		/* geometric growth bounds the unused tail by what was written */
		tx->next_blob = size >= BLOB_MAX / 2 ? BLOB_MAX : 2 * size;
	}
	p = b->data + b->used;
	b->used += len;
	return p;
}

static void blob_unref(weft_xds_blob_t *b)
{
	if (b && --b->refs == 0)
		free(b);
}

void weft_xds_reuse_release(weft_xds_reuse_t *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->nblobs; i++)
		blob_unref(r->blobs[i]);
	r->nblobs = 0;
}

void weft_xds_blobs_abandon(weft_xds_tx_t *tx)
{
	/* only the translation's own blobs: references to previous blobs are
	 * taken last, when nothing can fail any more */
	for (size_t i = 0; i < tx->nown; i++)
		blob_unref(tx->own[i]);
	tx->nown = 0;
}

static int blob_addr_cmp(const void *x, const void *y)
{
	uintptr_t a = (uintptr_t)*(weft_xds_blob_t *const *)x, b = (uintptr_t)*(weft_xds_blob_t *const *)y;

	return a < b ? -1 : a > b;
}

/* Index in r->blobs of the blob holding p; r->nblobs when none. */
static size_t blob_of(const weft_xds_reuse_t *r, const void *p)
{
	size_t lo = 0, hi = r->nblobs;
	uintptr_t a = (uintptr_t)p;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if ((uintptr_t)r->blobs[mid]->data <= a)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return r->nblobs;
	lo--;
	if (a >= (uintptr_t)r->blobs[lo]->data + r->blobs[lo]->size)
		return r->nblobs;
	return lo;
}

/* Bytes of a resource's record: bytes, name + NUL, version + NUL. */
static size_t record_size(const weft_xds_resource_t *r)
{
	return r->len + r->name.len + 1 + r->version.len + 1;
}

/* Copies a record into the translation's own blobs and repoints r at it. */
static void copy_record(weft_xds_tx_t *tx, weft_xds_resource_t *r)
{
	unsigned char *p = weft_xds_blob_space(tx, record_size(r));

	memcpy(p, r->bytes, r->len);
	r->bytes = p;
	p += r->len;
	memcpy(p, r->name.p, r->name.len + 1);
	r->name.p = (const char *)p;
	p += r->name.len + 1;
	memcpy(p, r->version.p, r->version.len + 1);
	r->version.p = (const char *)p;
}

bool weft_xds_reuse_take(weft_xds_tx_t *tx, const weft_xds_snapshot_t *prev,
			 const weft_xds_unit_t *pu, weft_xds_type_t t, unsigned slot)
{
	weft_xds_list_t *l = &tx->out[t];
	uint32_t idx = pu->idx[slot];
	const weft_xds_resource_t *r;
	size_t b;

	if (idx == WEFT_XDS_NO_INDEX || idx >= prev->types[t].n)
		return false;
	r = &prev->types[t].v[idx];
	/* neighbours in model order were mostly written one after the other */
	b = tx->last_blob;
	if (b >= tx->prev->nblobs || (uintptr_t)r->bytes < (uintptr_t)tx->prev->blobs[b]->data ||
	    (uintptr_t)r->bytes >= (uintptr_t)tx->prev->blobs[b]->data + tx->prev->blobs[b]->size) {
		b = blob_of(tx->prev, r->bytes);
		if (b == tx->prev->nblobs)
			return false;   /* not in a blob: cannot be shared */
		tx->last_blob = b;
	}
	tx->live[b] += record_size(r);
	/* the lists were sized for every service port */
	l->v[l->n++] = (weft_xds_out_t){ .r = *r, .seq = tx->seq++,
		.slot = (uint32_t)(tx->slot - (tx->slot % WEFT_XDS_NSLOTS)) + slot, .blob = (uint32_t)b,
		.prev_pos = idx, .placed = false };
	return true;
}

void weft_xds_blobs_settle(weft_xds_tx_t *tx)
{
	const weft_xds_reuse_t *prev = tx->prev;
	weft_xds_reuse_t *r = tx->snap->reuse;
	size_t nshared = 0, n = 0;

	/* share a previous blob while at least half of it is in use, copy
	 * what is used of it otherwise (so that it can be freed) */
	for (size_t i = 0; prev && i < prev->nblobs; i++) {
		if (tx->live[i] && 2 * tx->live[i] >= prev->blobs[i]->size)
			nshared++;
		else if (tx->live[i])
			tx->live[i] = 0;   /* 0 from here on: copy */
	}
	for (int t = 0; prev && t < WEFT_XDS_NTYPES; t++)
		for (size_t i = 0; i < tx->out[t].n; i++) {
			weft_xds_out_t *o = &tx->out[t].v[i];

			if (o->blob != WEFT_XDS_NO_INDEX && !tx->live[o->blob]) {
				copy_record(tx, &o->r);
				o->blob = WEFT_XDS_NO_INDEX;
			}
		}

	r->blobs = weft_arena_calloc(&tx->snap->arena, tx->nown + nshared + 1, sizeof(*r->blobs));
	if (!r->blobs)
		longjmp(tx->oom, 1);
	/* nothing fails from here on: the references change hands */
	for (size_t i = 0; i < tx->nown; i++)
		r->blobs[n++] = tx->own[i];
	tx->nown = 0;
	for (size_t i = 0; prev && i < prev->nblobs; i++)
		if (tx->live[i]) {
			prev->blobs[i]->refs++;
			r->blobs[n++] = prev->blobs[i];
		}
	r->nblobs = n;
	qsort(r->blobs, n, sizeof(*r->blobs), blob_addr_cmp);
}

/* ---- the index of service ports ---- */

void weft_xds_reuse_index(weft_xds_tx_t *tx, weft_xds_reuse_t *r)
{
	size_t nb = 16;

	while (nb < 2 * r->nunits)
		nb *= 2;
	r->buckets = weft_arena_calloc(&tx->snap->arena, nb, sizeof(*r->buckets));
	if (!r->buckets)
		longjmp(tx->oom, 1);
	r->nbuckets = nb;
	for (size_t i = 0; i < r->nunits; i++) {
		size_t b = (size_t)r->units[i].key & (nb - 1);

		while (r->buckets[b])
			b = (b + 1) & (nb - 1);
		r->buckets[b] = (uint32_t)i + 1;
	}
}

const weft_xds_unit_t *weft_xds_reuse_find(const weft_xds_reuse_t *r, uint64_t key)
{
	size_t b;

	if (!r || !r->nbuckets)
		return NULL;
	for (b = (size_t)key & (r->nbuckets - 1); r->buckets[b]; b = (b + 1) & (r->nbuckets - 1))
		if (r->units[r->buckets[b] - 1].key == key)
			return &r->units[r->buckets[b] - 1];
	return NULL;
}

size_t weft_xds_snapshot_memory(const weft_xds_snapshot_t *s, size_t *own, size_t *shared)
{
	size_t o = 0, sh = 0;

	if (s) {
		o = s->arena.reserved;
		for (size_t i = 0; s->reuse && i < s->reuse->nblobs; i++) {
			const weft_xds_blob_t *b = s->reuse->blobs[i];

			if (b->refs > 1)
				sh += sizeof(*b) + b->size;
			else
				o += sizeof(*b) + b->size;
		}
	}
	if (own)
		*own = o;
	if (shared)
		*shared = sh;
	return o + sh;
}
