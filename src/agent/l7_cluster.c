/* weft — per-destination state for the L7 data path: endpoint choice
 * (locality tiers, then round robin, least request with peak-EWMA, ring
 * hash, Maglev or random, all weighted), 429 / Retry-After penalties,
 * outlier detection (consecutive errors, success rate), health marks,
 * circuit breakers, the retry budget, retry backoff and request hashes.
 *
 * Clusters are keyed by service uid and endpoint state by workload uid,
 * so both survive view swaps. Each cluster remembers the endpoint set it
 * last saw (uids and weights); when a view brings a different set, the
 * per-endpoint slots, the hash ring and the Maglev table are rebuilt, and
 * states of endpoints that stayed absent for two set changes (with no try
 * in flight) are dropped. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "weft/l7.h"
#include "weft/str.h"

#define MAGLEV_M 65537u          /* prime: every skip walks the whole table */
#define EWMA_TAU_MS 10000.0      /* peak-EWMA time constant */
#define EWMA_NEW_US 1000.0       /* latency assumed when nothing is known */
#define MAX_EJECT_MS 300000ull   /* Envoy's max_ejection_time default */
#define NO_EP UINT32_MAX

typedef struct ep {
	struct ep *next;             /* hash chain */
	uint64_t hash;
	uint32_t active;             /* tries in flight */
	bool lat_init;
	double lat_us;               /* peak-EWMA latency */
	uint64_t lat_ms;             /* when it was last updated */
	uint64_t penalty_until;      /* 429 / Retry-After: avoid until then */
	uint32_t c5xx, cgw;          /* consecutive 5xx / gateway errors */
	uint64_t iv_total, iv_ok;    /* this outlier interval's tries */
	bool ejected;
	uint64_t eject_until;
	uint32_t times;              /* times ejected (decays while healthy) */
	bool unhealthy;              /* active health checks fail */
	bool in_set;                 /* in the current endpoint set */
	uint8_t missed;              /* set changes it was absent from */
	int64_t rr_cur;              /* smooth weighted round robin */
	char uid[];
} ep_t;

typedef struct ring_ent {
	uint64_t h;
	uint32_t i;                  /* index in the endpoint set */
} ring_ent_t;

struct weft_l7_cluster {
	struct weft_l7_cluster *next;
	uint64_t hash;
	ep_t **b;                    /* endpoint states by uid */
	size_t nb, n;
	ep_t *hot;                   /* the state ep_find found last (NULL: none) */
	/* the endpoint set last seen */
	const weft_av_endpoint_t *eps;
	size_t neps, cap;
	ep_t **slot;                 /* slot[i]: the state of eps[i] */
	uint32_t *wts;               /* its weight (0 read as 1) */
	uint64_t set_gen;
	/* RING_HASH */
	ring_ent_t *ring;
	size_t nring;
	uint64_t ring_gen, ring_min, ring_max;
	/* MAGLEV */
	uint32_t *maglev;
	uint64_t maglev_gen;
	/* circuit breakers and counters */
	uint32_t active_requests, pending, active_retries, active_conns;
	uint64_t ov_req, ov_pend, ov_retry, ov_conn, budget_exhausted, ejections;
	char svc[];
};

struct weft_l7_clusters {
	weft_l7_cluster_t **b;
	size_t nb, n;
	weft_l7_cluster_t *hot;      /* the cluster weft_l7_cluster returned last */
};

/* ---- hashing ---- */

/* The murmur3 finalizer: spreads every input bit over the output. */
static uint64_t fmix64(uint64_t k)
{
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdull;
	k ^= k >> 33;
	k *= 0xc4ceb9fe1a85ec53ull;
	k ^= k >> 33;
	return k;
}

/* FNV-1a over p[0..n) continued from h, then mixed with the length. */
static uint64_t hash64(uint64_t h, const void *p, size_t n)
{
	return fmix64(weft_fnv1a64(h, p, n) ^ (uint64_t)n);
}

static uint64_t uid_hash(const char *uid)
{
	return hash64(WEFT_FNV1A64_INIT, uid, strlen(uid));
}

/* ---- the endpoint state table ---- */

/* The state of uid, or NULL. */
static ep_t *ep_lookup(const weft_l7_cluster_t *cl, const char *uid)
{
	uint64_t h;

	if (!cl || !uid)
		return NULL;
	h = uid_hash(uid);
	for (ep_t *e = cl->b[h & (cl->nb - 1)]; e; e = e->next)
		if (e->hash == h && !strcmp(e->uid, uid))
			return e;
	return NULL;
}

/* ep_lookup, remembering the result: a request's try looks the same
 * endpoint up when it starts and when it ends, so the last one found is
 * compared first (a strcmp is cheaper than hashing the uid). */
static ep_t *ep_find(weft_l7_cluster_t *cl, const char *uid)
{
	ep_t *e;

	if (!cl || !uid)
		return NULL;
	if (cl->hot && !strcmp(cl->hot->uid, uid))
		return cl->hot;
	if ((e = ep_lookup(cl, uid)))
		cl->hot = e;
	return e;
}

/* Doubles the bucket array (when memory ran out chains just get longer). */
static void ep_grow(weft_l7_cluster_t *cl)
{
	size_t nb = cl->nb * 2;
	ep_t **b = calloc(nb, sizeof(*b));

	if (!b)
		return;
	for (size_t i = 0; i < cl->nb; i++)
		for (ep_t *e = cl->b[i], *nx; e; e = nx) {
			nx = e->next;
			e->next = b[e->hash & (nb - 1)];
			b[e->hash & (nb - 1)] = e;
		}
	free(cl->b);
	cl->b = b;
	cl->nb = nb;
}

/* The state of uid, created when missing. NULL when memory ran out. */
static ep_t *ep_get(weft_l7_cluster_t *cl, const char *uid)
{
	ep_t *e = ep_lookup(cl, uid);
	size_t n;

	if (e)
		return e;
	n = strlen(uid);
	if (!(e = calloc(1, sizeof(*e) + n + 1)))
		return NULL;
	memcpy(e->uid, uid, n + 1);
	e->hash = uid_hash(uid);
	e->next = cl->b[e->hash & (cl->nb - 1)];
	cl->b[e->hash & (cl->nb - 1)] = e;
	if (++cl->n > cl->nb * 2)
		ep_grow(cl);
	return e;
}

static uint32_t ep_weight(const weft_av_endpoint_t *e)
{
	return e->weight ? e->weight : 1;
}

/* Makes cl follow svc's endpoint set. Returns 0, or -1 when memory ran
 * out (the set is then left as it was). */
static int sync_set(weft_l7_cluster_t *cl, const weft_av_service_t *svc)
{
	size_t n = svc->nendpoints;
	bool same = n == cl->neps;

	for (size_t i = 0; same && i < n; i++)
		same = cl->slot[i] && ep_weight(&svc->endpoints[i]) == cl->wts[i] &&
		       !strcmp(cl->slot[i]->uid, svc->endpoints[i].workload ? svc->endpoints[i].workload : "");
	if (same) {
		cl->eps = svc->endpoints;
		return 0;
	}
	if (n > cl->cap) {
		ep_t **s = calloc(n, sizeof(*s));
		uint32_t *w = calloc(n, sizeof(*w));
		if (!s || !w) {
			free(s);
			free(w);
			return -1;
		}
		free(cl->slot);
		free(cl->wts);
		cl->slot = s;
		cl->wts = w;
		cl->cap = n;
	}
	for (size_t i = 0; i < cl->nb; i++)
		for (ep_t *e = cl->b[i]; e; e = e->next)
			e->in_set = false;
	for (size_t i = 0; i < n; i++) {
		const char *uid = svc->endpoints[i].workload ? svc->endpoints[i].workload : "";
		ep_t *e = ep_get(cl, uid);
		if (!e) {
			cl->neps = 0;   /* forces a rebuild next time */
			return -1;
		}
		e->in_set = true;
		e->missed = 0;
		cl->slot[i] = e;
		cl->wts[i] = ep_weight(&svc->endpoints[i]);
	}
	/* drop endpoints that left (lazily: absent twice, nothing in flight) */
	for (size_t i = 0; i < cl->nb; i++)
		for (ep_t **pp = &cl->b[i], *e; (e = *pp);) {
			if (!e->in_set && ++e->missed >= 2 && !e->active) {
				*pp = e->next;
				if (cl->hot == e)
					cl->hot = NULL;
				free(e);
				cl->n--;
				continue;
			}
			pp = &e->next;
		}
	cl->eps = svc->endpoints;
	cl->neps = n;
	cl->set_gen++;
	return 0;
}

/* ---- clusters ---- */

weft_l7_clusters_t *weft_l7_clusters_new(void)
{
	weft_l7_clusters_t *cs = calloc(1, sizeof(*cs));

	if (!cs)
		return NULL;
	cs->nb = 16;
	if (!(cs->b = calloc(cs->nb, sizeof(*cs->b)))) {
		free(cs);
		return NULL;
	}
	return cs;
}

static void cluster_free(weft_l7_cluster_t *cl)
{
	for (size_t i = 0; i < cl->nb; i++)
		for (ep_t *e = cl->b[i], *nx; e; e = nx) {
			nx = e->next;
			free(e);
		}
	free(cl->b);
	free(cl->slot);
	free(cl->wts);
	free(cl->ring);
	free(cl->maglev);
	free(cl);
}

void weft_l7_clusters_free(weft_l7_clusters_t *cs)
{
	if (!cs)
		return;
	for (size_t i = 0; i < cs->nb; i++)
		for (weft_l7_cluster_t *c = cs->b[i], *nx; c; c = nx) {
			nx = c->next;
			cluster_free(c);
		}
	free(cs->b);
	free(cs);
}

static void clusters_grow(weft_l7_clusters_t *cs)
{
	size_t nb = cs->nb * 2;
	weft_l7_cluster_t **b = calloc(nb, sizeof(*b));

	if (!b)
		return;
	for (size_t i = 0; i < cs->nb; i++)
		for (weft_l7_cluster_t *c = cs->b[i], *nx; c; c = nx) {
			nx = c->next;
			c->next = b[c->hash & (nb - 1)];
			b[c->hash & (nb - 1)] = c;
		}
	free(cs->b);
	cs->b = b;
	cs->nb = nb;
}

weft_l7_cluster_t *weft_l7_cluster(weft_l7_clusters_t *cs, const weft_av_service_t *svc)
{
	const char *uid;
	weft_l7_cluster_t *cl;
	uint64_t h;
	size_t n;

	if (!cs || !svc)
		return NULL;
	uid = svc->uid ? svc->uid : "";
	/* requests to one service follow each other: the last cluster is
	 * compared first (clusters live as long as cs) */
	if (cs->hot && !strcmp(cs->hot->svc, uid)) {
		cl = cs->hot;
		goto found;
	}
	h = uid_hash(uid);
	for (cl = cs->b[h & (cs->nb - 1)]; cl; cl = cl->next)
		if (cl->hash == h && !strcmp(cl->svc, uid))
			break;
	if (!cl) {
		n = strlen(uid);
		if (!(cl = calloc(1, sizeof(*cl) + n + 1)))
			return NULL;
		memcpy(cl->svc, uid, n + 1);
		cl->hash = h;
		cl->nb = 16;
		if (!(cl->b = calloc(cl->nb, sizeof(*cl->b)))) {
			free(cl);
			return NULL;
		}
		cl->next = cs->b[h & (cs->nb - 1)];
		cs->b[h & (cs->nb - 1)] = cl;
		if (++cs->n > cs->nb * 2)
			clusters_grow(cs);
	}
	cs->hot = cl;
found:
	if (sync_set(cl, svc) < 0)
		return NULL;
	return cl;
}

void weft_l7_clusters_each(weft_l7_clusters_t *cs,
			   void (*fn)(void *arg, const weft_l7_cluster_stats_t *st), void *arg)
{
	if (!cs || !fn)
		return;
	for (size_t i = 0; i < cs->nb; i++)
		for (weft_l7_cluster_t *c = cs->b[i]; c; c = c->next) {
			weft_l7_cluster_stats_t st = {
				.svc = c->svc,
				.active_requests = c->active_requests,
				.pending_requests = c->pending,
				.active_retries = c->active_retries,
				.active_connections = c->active_conns,
				.overflow_requests = c->ov_req,
				.overflow_pending = c->ov_pend,
				.overflow_retries = c->ov_retry,
				.overflow_connections = c->ov_conn,
				.budget_exhausted = c->budget_exhausted,
				.ejections = c->ejections,
			};
			for (size_t j = 0; j < c->neps; j++) {
				st.ejected_now += c->slot[j]->ejected;
				st.unhealthy_now += c->slot[j]->unhealthy;
			}
			fn(arg, &st);
		}
}

/* ---- circuit breakers and the retry budget ---- */

/* Counts one against limit max (0: none) or counts an overflow. */
static bool admit(uint32_t *cur, uint32_t max, uint64_t *overflow)
{
	if (max && *cur >= max) {
		(*overflow)++;
		return false;
	}
	(*cur)++;
	return true;
}

static void release(uint32_t *cur)
{
	if (*cur)
		(*cur)--;
}

bool weft_l7_admit_request(weft_l7_cluster_t *cl, const weft_dest_policy_t *pol)
{
	return cl && admit(&cl->active_requests, pol ? pol->limits.max_requests : 0, &cl->ov_req);
}

void weft_l7_done_request(weft_l7_cluster_t *cl)
{
	if (cl)
		release(&cl->active_requests);
}

bool weft_l7_admit_pending(weft_l7_cluster_t *cl, const weft_dest_policy_t *pol)
{
	return cl && admit(&cl->pending, pol ? pol->limits.max_pending_requests : 0, &cl->ov_pend);
}

void weft_l7_done_pending(weft_l7_cluster_t *cl)
{
	if (cl)
		release(&cl->pending);
}

bool weft_l7_admit_connection(weft_l7_cluster_t *cl, const weft_dest_policy_t *pol)
{
	return cl && admit(&cl->active_conns, pol ? pol->limits.max_connections : 0, &cl->ov_conn);
}

void weft_l7_done_connection(weft_l7_cluster_t *cl)
{
	if (cl)
		release(&cl->active_conns);
}

bool weft_l7_admit_retry(weft_l7_cluster_t *cl, const weft_dest_policy_t *pol)
{
	uint64_t ppm = 200000, minc = 3, limit;

	if (!cl)
		return false;
	if (pol && pol->limits.max_retries && cl->active_retries >= pol->limits.max_retries) {
		cl->ov_retry++;
		return false;
	}
	if (pol && pol->retry.budget_set) {
		ppm = pol->retry.budget_percent_ppm;
		minc = pol->retry.budget_min_concurrency;
	}
	limit = (uint64_t)cl->active_requests * ppm / WEFT_PPM_ALL;
	if (limit < minc)
		limit = minc;
	if ((uint64_t)cl->active_retries + 1 > limit) {
		cl->budget_exhausted++;
		return false;
	}
	cl->active_retries++;
	return true;
}

void weft_l7_done_retry(weft_l7_cluster_t *cl)
{
	if (cl)
		release(&cl->active_retries);
}

uint64_t weft_l7_backoff_ms(const weft_dest_policy_t *pol, unsigned n, uint64_t *rnd)
{
	uint64_t base = pol && pol->retry.backoff_base_ms ? pol->retry.backoff_base_ms : 25;
	uint64_t max = pol && pol->retry.backoff_max_ms ? pol->retry.backoff_max_ms : 10 * base;
	uint64_t iv = base, local = 0x2545f4914f6cdd1dull;

	if (max < base)
		max = base;
	for (unsigned k = 1; k < n && iv < max; k++)
		iv = iv > max / 2 ? max : iv * 2;
	if (iv > max)
		iv = max;
	return weft_l7_rand(rnd ? rnd : &local) % (iv + 1);
}

/* ---- request hashes ---- */

/* The value of cookie name in one Cookie header value ("a=b; c=d"). */
static bool cookie_find(weft_str_t v, weft_str_t name, weft_str_t *out)
{
	size_t i = 0;

	while (i < v.len) {
		size_t s, eq = 0, e;
		while (i < v.len && (v.p[i] == ' ' || v.p[i] == '\t' || v.p[i] == ';'))
			i++;
		s = i;
		while (i < v.len && v.p[i] != ';') {
			if (v.p[i] == '=' && !eq)
				eq = i;
			i++;
		}
		e = i;
		while (e > s && (v.p[e - 1] == ' ' || v.p[e - 1] == '\t'))
			e--;
		if (eq && eq - s == name.len && !memcmp(v.p + s, name.p, name.len)) {
			const char *vp = v.p + eq + 1;
			size_t vl = e - (eq + 1);
			if (vl >= 2 && vp[0] == '"' && vp[vl - 1] == '"') {
				vp++;
				vl -= 2;
			}
			*out = weft_str(vp, vl);
			return true;
		}
	}
	return false;
}

bool weft_l7_request_hash(const weft_dest_policy_t *pol, const weft_http_head_t *h,
			  const weft_ip_t *src, uint64_t *hash)
{
	if (!pol || !hash)
		return false;
	if (pol->lb.hash_header.len && h) {
		uint64_t x = WEFT_FNV1A64_INIT;
		bool any = false;
		for (size_t i = 0; i < h->nhdrs; i++) {
			if (!weft_str_ieq(h->hdrs[i].name, pol->lb.hash_header))
				continue;
			if (any)
				x = weft_fnv1a64(x, ",", 1);
			x = weft_fnv1a64(x, h->hdrs[i].value.p, h->hdrs[i].value.len);
			any = true;
		}
		if (any) {
			*hash = fmix64(x);
			return true;
		}
	}
	if (pol->lb.hash_cookie.len && h) {
		weft_str_t v;
		for (size_t i = 0; i < h->nhdrs; i++)
			if (weft_str_eq_c(h->hdrs[i].name, "cookie") &&
			    cookie_find(h->hdrs[i].value, pol->lb.hash_cookie, &v)) {
				*hash = hash64(WEFT_FNV1A64_INIT, v.p, v.len);
				return true;
			}
	}
	if (pol->lb.hash_source_ip && src) {
		*hash = hash64(WEFT_FNV1A64_INIT, src->a6, sizeof(src->a6));
		return true;
	}
	return false;
}

/* ---- RING_HASH and MAGLEV tables ---- */

static int ring_cmp(const void *a, const void *b)
{
	const ring_ent_t *x = a, *y = b;

	return x->h < y->h ? -1 : x->h > y->h;
}

/* An endpoint's points on the ring: k per unit of weight, or (k 0: the
 * weights add up to more than ring_max) its share of ring_max, at least 1. */
static uint64_t ring_points(uint32_t w, uint64_t k, uint64_t total, uint64_t rmax)
{
	uint64_t c;

	if (k)
		return k * w;
	c = (uint64_t)((double)w * (double)rmax / (double)total);
	return c ? c : 1;
}

/* Builds the ketama-like ring: k points per unit of weight, k the power
 * of two that brings the ring to at least ring_min points (fewer when
 * ring_max demands it; every endpoint at least one). k being a power of
 * two, adding or removing an endpoint rarely changes it, so the other
 * endpoints keep their points and only the changed one's keys move.
 * Returns 0 or -1 (memory). */
static int ring_build(weft_l7_cluster_t *cl, uint64_t rmin, uint64_t rmax)
{
	uint64_t total = 0, k = 1, size = 0;
	ring_ent_t *r;
	size_t at = 0;

	for (size_t i = 0; i < cl->neps; i++)
		total += cl->wts[i];
	while (k * total < rmin && k < (1ull << 40))
		k *= 2;
	if (k * total > rmax)
		k = rmax / total ? rmax / total : 0;   /* 0: weights scaled down below */
	for (size_t i = 0; i < cl->neps; i++)
		size += ring_points(cl->wts[i], k, total, rmax);
	if (!(r = malloc(size * sizeof(*r))))
		return -1;
	for (size_t i = 0; i < cl->neps; i++)
		for (uint64_t j = 0, c = ring_points(cl->wts[i], k, total, rmax); j < c; j++) {
			r[at].h = fmix64(cl->slot[i]->hash + (j + 1) * 0x9e3779b97f4a7c15ull);
			r[at++].i = (uint32_t)i;
		}
	qsort(r, size, sizeof(*r), ring_cmp);
	free(cl->ring);
	cl->ring = r;
	cl->nring = size;
	cl->ring_gen = cl->set_gen;
	cl->ring_min = rmin;
	cl->ring_max = rmax;
	return 0;
}

/* Builds the Maglev table (weighted: an endpoint of weight w takes a turn
 * in w of every wmax rounds). Returns 0 or -1 (memory). */
static int maglev_build(weft_l7_cluster_t *cl)
{
	uint32_t *t = malloc(MAGLEV_M * sizeof(*t));
	uint64_t *next = calloc(cl->neps, sizeof(*next)), *credit = calloc(cl->neps, sizeof(*credit));
	uint64_t wmax = 0, filled = 0;

	if (!t || !next || !credit) {
		free(t);
		free(next);
		free(credit);
		return -1;
	}
	for (size_t i = 0; i < cl->neps; i++)
		if (cl->wts[i] > wmax)
			wmax = cl->wts[i];
	for (uint32_t c = 0; c < MAGLEV_M; c++)
		t[c] = NO_EP;
	while (filled < MAGLEV_M)
		for (size_t i = 0; i < cl->neps && filled < MAGLEV_M; i++) {
			uint64_t h = cl->slot[i]->hash, off = h % MAGLEV_M;
			uint64_t skip = fmix64(h ^ 0x5bd1e9955bd1e995ull) % (MAGLEV_M - 1) + 1, c;
			credit[i] += cl->wts[i];
			if (credit[i] < wmax)
				continue;
			credit[i] -= wmax;
			do
				c = (off + next[i]++ * skip) % MAGLEV_M;
			while (t[c] != NO_EP);
			t[c] = (uint32_t)i;
			filled++;
		}
	free(next);
	free(credit);
	free(cl->maglev);
	cl->maglev = t;
	cl->maglev_gen = cl->set_gen;
	return 0;
}

/* ---- endpoint choice ---- */

/* Latency for scoring: the peak-EWMA decayed towards 0 while no sample
 * came (so an endpoint that was slow once is tried again), or the
 * cluster's average (avg, 0: none known) for a new endpoint. */
static double ep_latency(const ep_t *e, double avg, uint64_t now)
{
	double l;

	if (!e->lat_init)
		return avg > 0 ? avg : EWMA_NEW_US;
	l = e->lat_us;
	if (now > e->lat_ms)
		l *= exp(-(double)(now - e->lat_ms) / EWMA_TAU_MS);
	return l < 1 ? 1 : l;
}

/* A weighted random index into cand[0..n) skipping the first nskip
 * indexes listed in skip. */
static size_t weighted(const weft_l7_cluster_t *cl, const uint32_t *cand, size_t n,
		       const size_t *skip, size_t nskip, uint64_t *rnd)
{
	uint64_t total = 0, r;

	for (size_t i = 0; i < n; i++) {
		bool s = false;
		for (size_t j = 0; j < nskip && !s; j++)
			s = skip[j] == i;
		if (!s)
			total += cl->wts[cand[i]];
	}
	r = weft_l7_rand(rnd) % total;
	for (size_t i = 0; i < n; i++) {
		bool s = false;
		for (size_t j = 0; j < nskip && !s; j++)
			s = skip[j] == i;
		if (s)
			continue;
		if (r < cl->wts[cand[i]])
			return i;
		r -= cl->wts[cand[i]];
	}
	return n - 1;
}

static uint32_t pick_rr(weft_l7_cluster_t *cl, const uint32_t *cand, size_t n)
{
	int64_t total = 0;
	size_t best = 0;

	for (size_t i = 0; i < n; i++) {
		ep_t *e = cl->slot[cand[i]];
		e->rr_cur += cl->wts[cand[i]];
		total += cl->wts[cand[i]];
		if (e->rr_cur > cl->slot[cand[best]]->rr_cur)
			best = i;
	}
	cl->slot[cand[best]]->rr_cur -= total;
	return cand[best];
}

/* Power of k choices: k distinct endpoints drawn by weight, the lowest
 * (active + 1) * latency wins (ties: the first drawn). */
static uint32_t pick_lr(weft_l7_cluster_t *cl, const weft_dest_policy_t *pol, const uint32_t *cand,
			size_t n, uint64_t *rnd, uint64_t now)
{
	size_t k = pol && pol->lb.choice_count ? pol->lb.choice_count : 2, got[16];
	double avg = 0, best_score = 0;
	size_t navg = 0, best = 0;

	if (k > n)
		k = n;
	if (k > sizeof(got) / sizeof(got[0]))
		k = sizeof(got) / sizeof(got[0]);
	if (k == 1)   /* one draw: no score to compare (the same draw is made) */
		return cand[weighted(cl, cand, n, NULL, 0, rnd)];
	for (size_t i = 0; i < cl->neps; i++)
		if (cl->slot[i]->lat_init) {
			avg += ep_latency(cl->slot[i], 0, now);
			navg++;
		}
	avg = navg ? avg / (double)navg : 0;
	for (size_t j = 0; j < k; j++) {
		const ep_t *e;
		double score;
		got[j] = weighted(cl, cand, n, got, j, rnd);
		e = cl->slot[cand[got[j]]];
		score = ((double)e->active + 1) * ep_latency(e, avg, now);
		if (!j || score < best_score) {
			best_score = score;
			best = got[j];
		}
	}
	return cand[best];
}

const weft_av_endpoint_t *weft_l7_pick(weft_l7_cluster_t *cl, const weft_av_service_t *svc,
				       const weft_dest_policy_t *pol, const weft_av_locality_t *from,
				       bool has_hash, uint64_t hash,
				       bool (*exclude)(void *arg, const weft_av_endpoint_t *e),
				       void *arg, uint64_t *rnd, uint64_t now_ms)
{
	uint8_t small_cls[128];
	uint32_t small_cand[128], *cand = small_cand;
	uint8_t *cls = small_cls;   /* per endpoint: class << 2 | tier; class 0 ok, 1 penalised, 2 no */
	weft_lb_type_t type = pol && pol->lb.type_set ? pol->lb.type : WEFT_LB_LEAST_REQUEST;
	const weft_av_endpoint_t *res = NULL;
	uint64_t local = 0x853c49e6748fea9bull;
	int best[2] = { -1, -1 }, use, want;
	size_t n, nc = 0;
	uint32_t pick = NO_EP;

	if (!cl || !svc || !svc->nendpoints || sync_set(cl, svc) < 0)
		return NULL;
	if (!rnd)
		rnd = &local;
	n = cl->neps;
	if (n > sizeof(small_cand) / sizeof(small_cand[0])) {
		cand = malloc(n * sizeof(*cand));
		cls = malloc(n);
		if (!cand || !cls)
			goto out;
	}
	for (size_t i = 0; i < n; i++) {
		const weft_av_endpoint_t *e = &svc->endpoints[i];
		ep_t *st = cl->slot[i];
		int c = 0, t = weft_lb_tier(from, &e->locality);
		if (st->ejected && now_ms >= st->eject_until)
			st->ejected = false;   /* its time is up even if no tick came */
		if ((exclude && exclude(arg, e)) || st->ejected || st->unhealthy)
			c = 2;
		else if (st->penalty_until > now_ms)
			c = 1;
		cls[i] = (uint8_t)(c << 2 | t);
		if (c < 2 && t > best[c])
			best[c] = t;
	}
	use = best[0] >= 0 ? 0 : 1;
	if (best[use] < 0)
		goto out;
	want = use << 2 | best[use];
	for (size_t i = 0; i < n; i++)
		if (cls[i] == want)
			cand[nc++] = (uint32_t)i;
	if (type == WEFT_LB_RING_HASH && has_hash) {
		uint64_t rmin = pol->lb.ring_min ? pol->lb.ring_min : 1024;
		uint64_t rmax = pol->lb.ring_max ? pol->lb.ring_max : 8388608;
		if (rmin > rmax)
			rmin = rmax;
		size_t lo = 0, hi;
		if (!(cl->ring && cl->ring_gen == cl->set_gen && cl->ring_min == rmin &&
		      cl->ring_max == rmax) && ring_build(cl, rmin, rmax) < 0)
			goto fallback;
		hi = cl->nring;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			if (cl->ring[mid].h < hash)
				lo = mid + 1;
			else
				hi = mid;
		}
		for (size_t k = 0; k < cl->nring && pick == NO_EP; k++) {
			uint32_t i = cl->ring[(lo + k) % cl->nring].i;
			if (cls[i] == want)
				pick = i;
		}
	} else if (type == WEFT_LB_MAGLEV && has_hash) {
		if (!(cl->maglev && cl->maglev_gen == cl->set_gen) && maglev_build(cl) < 0)
			goto fallback;
		for (uint64_t k = 0; k < MAGLEV_M && pick == NO_EP; k++) {
			uint32_t i = cl->maglev[(hash + k) % MAGLEV_M];
			if (i != NO_EP && cls[i] == want)
				pick = i;
		}
	} else if (type == WEFT_LB_ROUND_ROBIN) {
		pick = pick_rr(cl, cand, nc);
	} else if (type == WEFT_LB_LEAST_REQUEST) {
		pick = pick_lr(cl, pol, cand, nc, rnd, now_ms);
	}
fallback:
	if (pick == NO_EP)
		pick = cand[weighted(cl, cand, nc, NULL, 0, rnd)];
	res = &svc->endpoints[pick];
out:
	if (cand != small_cand) {
		free(cand);
		free(cls);
	}
	return res;
}

/* ---- tries, outlier detection, health ---- */

void weft_l7_try_start(weft_l7_cluster_t *cl, const char *ep_uid)
{
	ep_t *e = ep_find(cl, ep_uid);

	if (e)
		e->active++;
}

static size_t count_ejected(const weft_l7_cluster_t *cl, uint64_t now)
{
	size_t k = 0;

	for (size_t i = 0; i < cl->neps; i++)
		k += cl->slot[i]->ejected && now < cl->slot[i]->eject_until;
	return k;
}

/* Ejects e unless that would pass max_ejection_percent of the endpoint
 * set (as Envoy, one endpoint may always be ejected when there are at
 * least two and the percent is above 0). Returns true when ejected. */
static bool eject(weft_l7_cluster_t *cl, ep_t *e, const weft_dest_policy_t *pol, uint64_t now)
{
	uint64_t n = cl->neps, ej, pct = pol->outlier.max_ejection_percent, base, ms;

	if ((e->ejected && now < e->eject_until) || !e->in_set)
		return false;
	ej = count_ejected(cl, now);
	if (!((ej + 1) * 100 <= pct * n || (ej == 0 && n > 1 && pct > 0)))
		return false;
	base = pol->outlier.base_ejection_ms ? pol->outlier.base_ejection_ms : 30000;
	e->times++;
	ms = base * e->times;
	if (ms > (base > MAX_EJECT_MS ? base : MAX_EJECT_MS) || ms / e->times != base)
		ms = base > MAX_EJECT_MS ? base : MAX_EJECT_MS;
	e->ejected = true;
	e->eject_until = now + ms;
	e->c5xx = e->cgw = 0;
	cl->ejections++;
	return true;
}

void weft_l7_try_end(weft_l7_cluster_t *cl, const weft_dest_policy_t *pol, const char *ep_uid,
		     int result, uint64_t latency_us, uint64_t retry_after_ms, uint64_t now_ms)
{
	ep_t *e = ep_find(cl, ep_uid);
	bool err5 = result == 0 || result >= 500;
	bool gw = result == 0 || result == 502 || result == 503 || result == 504;

	if (!e)
		return;
	if (e->active)
		e->active--;
	if (latency_us) {
		double x = (double)latency_us;
		if (!e->lat_init || x > e->lat_us) {
			e->lat_us = x;   /* peak: jump up at once */
		} else {
			double dt = now_ms > e->lat_ms ? (double)(now_ms - e->lat_ms) : 0;
			double w = exp(-dt / EWMA_TAU_MS);
			e->lat_us = e->lat_us * w + x * (1 - w);
		}
		e->lat_init = true;
		e->lat_ms = now_ms;
	}
	if (retry_after_ms && now_ms + retry_after_ms > e->penalty_until)
		e->penalty_until = now_ms + retry_after_ms;
	e->iv_total++;
	e->iv_ok += !err5;
	e->c5xx = err5 ? e->c5xx + 1 : 0;
	e->cgw = gw ? e->cgw + 1 : 0;
	if (!pol || !pol->outlier.set)
		return;
	if ((pol->outlier.consecutive_5xx && e->c5xx >= pol->outlier.consecutive_5xx) ||
	    (pol->outlier.consecutive_gateway_errors && e->cgw >= pol->outlier.consecutive_gateway_errors))
		eject(cl, e, pol, now_ms);
}

void weft_l7_outlier_tick(weft_l7_cluster_t *cl, const weft_dest_policy_t *pol, uint64_t now_ms)
{
	if (!cl)
		return;
	for (size_t i = 0; i < cl->nb; i++)
		for (ep_t *e = cl->b[i]; e; e = e->next) {
			if (e->ejected && now_ms >= e->eject_until)
				e->ejected = false;
			else if (!e->ejected && e->times)
				e->times--;   /* a healthy interval: the next ejection is shorter */
		}
	if (pol && pol->outlier.set && pol->outlier.sr_stdev_factor_milli && cl->neps) {
		uint64_t vol = pol->outlier.sr_request_volume ? pol->outlier.sr_request_volume : 100;
		uint64_t minh = pol->outlier.sr_min_hosts ? pol->outlier.sr_min_hosts : 5;
		double sum = 0, sq = 0, mean, sd, thr;
		size_t k = 0;
		for (size_t i = 0; i < cl->neps; i++) {
			const ep_t *e = cl->slot[i];
			if (e->iv_total >= vol && !e->ejected) {
				double r = (double)e->iv_ok / (double)e->iv_total;
				sum += r;
				sq += r * r;
				k++;
			}
		}
		if (k && k >= minh) {
			mean = sum / (double)k;
			sd = sq / (double)k - mean * mean;
			sd = sd > 0 ? sqrt(sd) : 0;
			thr = mean - sd * (double)pol->outlier.sr_stdev_factor_milli / 1000.0;
			for (size_t i = 0; i < cl->neps; i++) {
				ep_t *e = cl->slot[i];
				if (e->iv_total >= vol && !e->ejected &&
				    (double)e->iv_ok / (double)e->iv_total < thr)
					eject(cl, e, pol, now_ms);
			}
		}
	}
	for (size_t i = 0; i < cl->nb; i++)
		for (ep_t *e = cl->b[i]; e; e = e->next)
			e->iv_total = e->iv_ok = 0;
}

bool weft_l7_ejected(const weft_l7_cluster_t *cl, const char *ep_uid, uint64_t now_ms)
{
	const ep_t *e = ep_lookup(cl, ep_uid);

	return e && e->ejected && now_ms < e->eject_until;
}

void weft_l7_set_health(weft_l7_cluster_t *cl, const char *ep_uid, bool healthy)
{
	ep_t *e = ep_find(cl, ep_uid);

	if (e)
		e->unhealthy = !healthy;
}
