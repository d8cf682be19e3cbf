/* weft — endpoint choice: locality tiers, then power of two random choices
 * by least weighted active connections. The load table is a chained hash
 * map keyed by endpoint workload uid, so it outlives views; entries whose
 * count drops to zero are removed, which bounds it by the endpoints that
 * have open connections. */
#include <stdlib.h>
#include <string.h>
#include "weft/agentview.h"
#include "weft/str.h"

typedef struct load_ent {
	struct load_ent *next;
	uint64_t hash;
	unsigned active;
	char uid[];
} load_ent_t;

struct weft_lb_load {
	load_ent_t **b;
	size_t nb, n;
};

weft_lb_load_t *weft_lb_load_new(void)
{
	weft_lb_load_t *l = calloc(1, sizeof(*l));

	if (!l)
		return NULL;
	l->nb = 64;
	l->b = calloc(l->nb, sizeof(*l->b));
	if (!l->b) {
		free(l);
		return NULL;
	}
	return l;
}

void weft_lb_load_free(weft_lb_load_t *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->nb; i++)
		for (load_ent_t *e = l->b[i], *nx; e; e = nx) {
			nx = e->next;
			free(e);
		}
	free(l->b);
	free(l);
}

static uint64_t uid_hash(const char *uid)
{
	return weft_fnv1a64(WEFT_FNV1A64_INIT, uid, strlen(uid));
}

/* Doubles the bucket array (nothing happens when memory ran out: chains
 * just get longer). */
static void grow(weft_lb_load_t *l)
{
	size_t nb = l->nb * 2;
	load_ent_t **b = calloc(nb, sizeof(*b));

	if (!b)
		return;
	for (size_t i = 0; i < l->nb; i++)
		for (load_ent_t *e = l->b[i], *nx; e; e = nx) {
			nx = e->next;
			e->next = b[e->hash & (nb - 1)];
			b[e->hash & (nb - 1)] = e;
		}
	free(l->b);
	l->b = b;
	l->nb = nb;
}

void weft_lb_load_add(weft_lb_load_t *l, const char *uid, int delta)
{
	uint64_t h;
	load_ent_t **pp, *e;

	if (!l || !uid || !delta)
		return;
	h = uid_hash(uid);
	for (pp = &l->b[h & (l->nb - 1)]; (e = *pp); pp = &e->next)
		if (e->hash == h && !strcmp(e->uid, uid))
			break;
	if (!e) {
		size_t n;
		if (delta < 0)
			return;   /* nothing to take from */
		n = strlen(uid);
		e = malloc(sizeof(*e) + n + 1);
		if (!e)
			return;
		memcpy(e->uid, uid, n + 1);
		e->hash = h;
		e->active = 0;
		e->next = l->b[h & (l->nb - 1)];
		l->b[h & (l->nb - 1)] = e;
		pp = &l->b[h & (l->nb - 1)];
		l->n++;
	}
	if (delta < 0 && (unsigned)-delta >= e->active) {
		*pp = e->next;
		free(e);
		l->n--;
		return;
	}
	e->active += (unsigned)delta;
	if (l->n > l->nb * 2)
		grow(l);
}

unsigned weft_lb_load_get(const weft_lb_load_t *l, const char *uid)
{
	uint64_t h;

	if (!l || !uid)
		return 0;
	h = uid_hash(uid);
	for (const load_ent_t *e = l->b[h & (l->nb - 1)]; e; e = e->next)
		if (e->hash == h && !strcmp(e->uid, uid))
			return e->active;
	return 0;
}

/* xorshift64* (Vigna): the state must not be 0, so 0 is replaced. */
static uint64_t next_rand(uint64_t *s)
{
	uint64_t x = *s ? *s : 0x9e3779b97f4a7c15ull;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dull;
}

int weft_lb_tier(const weft_av_locality_t *from, const weft_av_locality_t *to)
{
	if (!from || strcmp(from->region, to->region))
		return 0;
	if (strcmp(from->zone, to->zone))
		return 1;
	if (strcmp(from->subzone, to->subzone))
		return 2;
	return 3;
}

/* The nth (0-based) usable endpoint of tier t. */
static const weft_av_endpoint_t *nth(const weft_av_service_t *svc, const weft_av_locality_t *from,
				     int t, const uint8_t *skip, size_t n)
{
	for (size_t i = 0; i < svc->nendpoints; i++) {
		if (skip[i] || weft_lb_tier(from, &svc->endpoints[i].locality) != t)
			continue;
		if (n-- == 0)
			return &svc->endpoints[i];
	}
	return NULL;
}

/* Load per unit of weight: (active + 1) / weight, compared without division. */
static bool lighter(const weft_av_endpoint_t *a, const weft_av_endpoint_t *b, weft_lb_load_t *load)
{
	uint64_t la = (uint64_t)weft_lb_load_get(load, a->workload) + 1;
	uint64_t lb = (uint64_t)weft_lb_load_get(load, b->workload) + 1;
	uint64_t wa = a->weight ? a->weight : 1, wb = b->weight ? b->weight : 1;

	return la * wb < lb * wa;
}

const weft_av_endpoint_t *weft_lb_pick(const weft_av_service_t *svc,
				       const weft_av_locality_t *from, weft_lb_load_t *load,
				       bool (*exclude)(void *arg, const weft_av_endpoint_t *e),
				       void *arg, uint64_t *rnd)
{
	uint8_t small[256], *skip = small;
	size_t counts[4] = { 0 }, k;
	const weft_av_endpoint_t *a, *b;
	uint64_t local = 0x853c49e6748fea9bull;
	int best = -1;

	if (!svc || !svc->nendpoints)
		return NULL;
	if (!rnd)
		rnd = &local;
	if (svc->nendpoints > sizeof(small) && !(skip = calloc(svc->nendpoints, 1)))
		return NULL;
	for (size_t i = 0; i < svc->nendpoints; i++) {
		const weft_av_endpoint_t *e = &svc->endpoints[i];
		skip[i] = exclude && exclude(arg, e);
		if (!skip[i]) {
			int t = weft_lb_tier(from, &e->locality);
			counts[t]++;
			if (t > best)
				best = t;
		}
	}
	if (best < 0) {
		if (skip != small)
			free(skip);
		return NULL;
	}
	k = counts[best];
	a = nth(svc, from, best, skip, (size_t)(next_rand(rnd) % k));
	if (k > 1) {
		/* a second, distinct choice */
		size_t j = (size_t)(next_rand(rnd) % (k - 1));
		b = nth(svc, from, best, skip, j);
		if (b == a)
			b = nth(svc, from, best, skip, k - 1);
		if (lighter(b, a, load))
			a = b;
	}
	if (skip != small)
		free(skip);
	return a;
}
