/* Unit tests for per-destination state (src/agent/l7_cluster.c): the
 * distribution of every LB algorithm with a fixed seed, P2C by peak-EWMA
 * latency and active tries, ring hash and Maglev consistency, locality
 * fallback, 429 penalties, health marks, outlier ejection (consecutive
 * errors, success rate, max ejection percent, return after the ejection
 * time), circuit breakers, the retry budget, backoff bounds, request
 * hashes and state surviving endpoint set changes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>
#include <string.h>
#include "weft/l7.h"

#define MAXE 16

typedef struct fx {
	char uids[MAXE][16];
	weft_av_endpoint_t e[MAXE];
	weft_av_service_t s;
	weft_dest_policy_t pol;
	weft_l7_clusters_t *cs;
	weft_l7_cluster_t *cl;
	uint64_t rnd;
} fx_t;

/* n endpoints "ns/e<i>" with the given weights (NULL: 1), one locality. */
static void fx_init(fx_t *f, size_t n, const uint32_t *w, weft_lb_type_t type)
{
	memset(f, 0, sizeof(*f));
	for (size_t i = 0; i < n; i++) {
		snprintf(f->uids[i], sizeof(f->uids[i]), "ns/e%zu", i);
		f->e[i].workload = f->uids[i];
		f->e[i].locality = (weft_av_locality_t){ "r1", "z1", "" };
		f->e[i].weight = w ? w[i] : 1;
	}
	f->s.uid = "ns/svc";
	f->s.nendpoints = n;
	f->s.endpoints = f->e;
	f->pol.lb.type = type;
	f->pol.lb.type_set = true;
	f->pol.lb.choice_count = 2;
	f->pol.lb.ring_min = 1024;
	f->pol.lb.ring_max = 8388608;
	f->pol.outlier.interval_ms = 10000;
	f->pol.outlier.base_ejection_ms = 30000;
	f->pol.outlier.max_ejection_percent = 10;
	f->rnd = 12345;
	f->cs = weft_l7_clusters_new();
	assert_non_null(f->cs);
	f->cl = weft_l7_cluster(f->cs, &f->s);
	assert_non_null(f->cl);
}

static void fx_done(fx_t *f)
{
	weft_l7_clusters_free(f->cs);
}

static int pick_idx(fx_t *f, const weft_dest_policy_t *pol, bool has_hash, uint64_t hash,
		    bool (*ex)(void *, const weft_av_endpoint_t *), void *arg, uint64_t now)
{
	const weft_av_endpoint_t *e = weft_l7_pick(f->cl, &f->s, pol, NULL, has_hash, hash, ex, arg,
						    &f->rnd, now);
	return e ? (int)(e - f->s.endpoints) : -1;
}

static void dist(fx_t *f, const weft_dest_policy_t *pol, int picks, unsigned *cnt)
{
	for (int i = 0; i < picks; i++) {
		int k = pick_idx(f, pol, false, 0, NULL, NULL, 0);
		assert_true(k >= 0);
		cnt[k]++;
	}
}

static void test_round_robin_weights(void **st)
{
	uint32_t w[3] = { 3, 1, 1 };
	unsigned cnt[3] = { 0 };
	int last = -1, run = 0, maxrun = 0;
	fx_t f;

	(void)st;
	fx_init(&f, 3, w, WEFT_LB_ROUND_ROBIN);
	/* smooth weighted round robin is exact over whole cycles and never
	 * sends the heavy endpoint more than its weight in a row */
	for (int i = 0; i < 1000; i++) {
		int k = pick_idx(&f, &f.pol, false, 0, NULL, NULL, 0);
		cnt[k]++;
		run = k == last ? run + 1 : 1;
		last = k;
		if (run > maxrun)
			maxrun = run;
	}
	assert_int_equal(cnt[0], 600);
	assert_int_equal(cnt[1], 200);
	assert_int_equal(cnt[2], 200);
	assert_true(maxrun <= 2);
	fx_done(&f);
}

static void test_random_weights(void **st)
{
	uint32_t w[2] = { 4, 1 };
	unsigned cnt[2] = { 0 };
	fx_t f;

	(void)st;
	fx_init(&f, 2, w, WEFT_LB_RANDOM);
	dist(&f, &f.pol, 20000, cnt);
	assert_in_range(cnt[0], 15400, 16600);   /* 80% +- 3% */
	fx_done(&f);
}

static void test_least_request_weights_idle(void **st)
{
	uint32_t w[2] = { 4, 1 };
	unsigned cnt[2] = { 0 };
	fx_t f;

	(void)st;
	fx_init(&f, 2, w, WEFT_LB_LEAST_REQUEST);
	/* no policy: LEAST_REQUEST too; idle, equal latency: weights decide */
	dist(&f, NULL, 20000, cnt);
	assert_in_range(cnt[0], 15400, 16600);
	fx_done(&f);
}

static void test_p2c_prefers_faster(void **st)
{
	unsigned cnt[3] = { 0 };
	fx_t f;

	(void)st;
	fx_init(&f, 2, NULL, WEFT_LB_LEAST_REQUEST);
	weft_l7_try_start(f.cl, "ns/e0");
	weft_l7_try_end(f.cl, &f.pol, "ns/e0", 200, 50000, 0, 0);   /* 50 ms */
	weft_l7_try_start(f.cl, "ns/e1");
	weft_l7_try_end(f.cl, &f.pol, "ns/e1", 200, 1000, 0, 0);    /* 1 ms */
	dist(&f, &f.pol, 100, cnt);
	assert_int_equal(cnt[1], 100);
	/* many tries in flight on the fast one: (100 + 1) * 1 ms > 50 ms */
	for (int i = 0; i < 100; i++)
		weft_l7_try_start(f.cl, "ns/e1");
	memset(cnt, 0, sizeof(cnt));
	dist(&f, &f.pol, 100, cnt);
	assert_int_equal(cnt[0], 100);
	for (int i = 0; i < 100; i++)
		weft_l7_try_end(f.cl, &f.pol, "ns/e1", 200, 1000, 0, 0);
	fx_done(&f);

	/* three endpoints, one fast: it wins whenever it is drawn (2 of 3 pairs) */
	fx_init(&f, 3, NULL, WEFT_LB_LEAST_REQUEST);
	for (int i = 0; i < 3; i++) {
		weft_l7_try_start(f.cl, f.uids[i]);
		weft_l7_try_end(f.cl, &f.pol, f.uids[i], 200, i == 2 ? 1000 : 80000, 0, 0);
	}
	memset(cnt, 0, sizeof(cnt));
	dist(&f, &f.pol, 3000, cnt);
	assert_in_range(cnt[2], 1800, 2200);
	fx_done(&f);
}

static void test_peak_ewma(void **st)
{
	unsigned cnt[3] = { 0 };
	fx_t f;

	(void)st;
	fx_init(&f, 2, NULL, WEFT_LB_LEAST_REQUEST);
	/* e0 was fast, then one slow sample: peak-EWMA jumps up at once */
	weft_l7_try_end(f.cl, &f.pol, "ns/e0", 200, 1000, 0, 0);
	weft_l7_try_end(f.cl, &f.pol, "ns/e1", 200, 10000, 0, 0);
	weft_l7_try_end(f.cl, &f.pol, "ns/e0", 200, 100000, 0, 1);
	dist(&f, &f.pol, 50, cnt);
	assert_int_equal(cnt[1], 50);
	/* fast samples over a minute bring it down again (decay ~10 s) */
	for (uint64_t t = 2000; t <= 60000; t += 2000)
		weft_l7_try_end(f.cl, &f.pol, "ns/e0", 200, 1000, 0, t);
	weft_l7_try_end(f.cl, &f.pol, "ns/e1", 200, 10000, 0, 60000);
	memset(cnt, 0, sizeof(cnt));
	for (int i = 0; i < 50; i++)
		cnt[pick_idx(&f, &f.pol, false, 0, NULL, NULL, 60000)]++;
	assert_int_equal(cnt[0], 50);
	fx_done(&f);
}

static void test_new_endpoint_average(void **st)
{
	unsigned cnt[3] = { 0 };
	fx_t f;

	(void)st;
	/* e0 10 ms, e1 30 ms, e2 unknown: it starts at the average (20 ms),
	 * so it beats e1 and loses to e0 */
	fx_init(&f, 3, NULL, WEFT_LB_LEAST_REQUEST);
	weft_l7_try_end(f.cl, &f.pol, "ns/e0", 200, 10000, 0, 0);
	weft_l7_try_end(f.cl, &f.pol, "ns/e1", 200, 30000, 0, 0);
	dist(&f, &f.pol, 3000, cnt);
	assert_in_range(cnt[0], 1800, 2200);   /* wins 2 of 3 pairs */
	assert_in_range(cnt[2], 800, 1200);    /* wins only against e1 */
	assert_int_equal(cnt[1], 0);
	fx_done(&f);
}

/* Picks for hashes 0..n-1 (spread by a multiplier) into out. */
static void hash_picks(fx_t *f, int *out, int n)
{
	for (int i = 0; i < n; i++)
		out[i] = pick_idx(f, &f->pol, true, (uint64_t)i * 0x9e3779b97f4a7c15ull + 7, NULL, NULL, 0);
}

/* slack: keys not on the removed endpoint that may move (Maglev's
 * disruption is small, not zero; the ring's is zero). */
static void consistency(weft_lb_type_t type, int slack)
{
	static int a[20000], b[20000];
	unsigned cnt[10] = { 0 };
	fx_t f;
	int moved = 0, others = 0, n = 20000;

	fx_init(&f, 10, NULL, type);
	hash_picks(&f, a, n);
	hash_picks(&f, b, n);
	for (int i = 0; i < n; i++) {
		assert_int_equal(a[i], b[i]);   /* same hash -> same endpoint */
		cnt[a[i]]++;
	}
	for (int i = 0; i < 10; i++)
		assert_in_range(cnt[i], 1000, 3000);   /* about 2000 each */
	/* remove e3 (a new view without it): only its share moves */
	memmove(&f.e[3], &f.e[4], 6 * sizeof(f.e[0]));
	f.s.nendpoints = 9;
	assert_non_null(weft_l7_cluster(f.cs, &f.s));
	hash_picks(&f, b, n);
	for (int i = 0; i < n; i++) {
		const char *was = f.uids[a[i]], *now = f.e[b[i]].workload;
		assert_string_not_equal(now, "ns/e3");
		if (strcmp(was, now))
			moved++;
		if (strcmp(was, now) && strcmp(was, "ns/e3"))
			others++;
	}
	assert_true(others <= slack);
	assert_int_equal(moved, (int)cnt[3] + others);
	fx_done(&f);
}

static void test_ring_hash_consistency(void **st)
{
	(void)st;
	consistency(WEFT_LB_RING_HASH, 0);
}

static void test_maglev_consistency(void **st)
{
	(void)st;
	consistency(WEFT_LB_MAGLEV, 20000 / 50);   /* 2% */
}

static void hash_weights(weft_lb_type_t type)
{
	uint32_t w[2] = { 4, 1 };
	unsigned cnt[2] = { 0 };
	fx_t f;

	fx_init(&f, 2, w, type);
	for (int i = 0; i < 20000; i++)
		cnt[pick_idx(&f, &f.pol, true, (uint64_t)i * 0x9e3779b97f4a7c15ull, NULL, NULL, 0)]++;
	assert_in_range(cnt[0], 15000, 17000);   /* 80% +- 5% */
	/* no hash: weighted random */
	memset(cnt, 0, sizeof(cnt));
	dist(&f, &f.pol, 20000, cnt);
	assert_in_range(cnt[0], 15000, 17000);
	fx_done(&f);
}

static void test_hash_weights(void **st)
{
	uint32_t w[2] = { 4000000000u, 1000000000u };
	unsigned cnt[2] = { 0 };
	fx_t f;

	(void)st;
	hash_weights(WEFT_LB_RING_HASH);
	hash_weights(WEFT_LB_MAGLEV);
	/* weights adding up to more than ring_max: scaled down, still 80/20 */
	fx_init(&f, 2, w, WEFT_LB_RING_HASH);
	f.pol.lb.ring_max = 4096;
	for (int i = 0; i < 20000; i++)
		cnt[pick_idx(&f, &f.pol, true, (uint64_t)i * 0x9e3779b97f4a7c15ull, NULL, NULL, 0)]++;
	assert_in_range(cnt[0], 15000, 17000);
	fx_done(&f);
}

static bool ex_list(void *arg, const weft_av_endpoint_t *e)
{
	for (const char *const *p = arg; *p; p++)
		if (!strcmp(*p, e->workload))
			return true;
	return false;
}

static void test_hash_skips_excluded(void **st)
{
	static const weft_lb_type_t types[2] = { WEFT_LB_RING_HASH, WEFT_LB_MAGLEV };

	(void)st;
	for (int t = 0; t < 2; t++) {
		fx_t f;
		int k, k2;
		fx_init(&f, 5, NULL, types[t]);
		k = pick_idx(&f, &f.pol, true, 42, NULL, NULL, 0);
		const char *ex[2] = { f.uids[k], NULL };
		k2 = pick_idx(&f, &f.pol, true, 42, ex_list, ex, 0);
		assert_true(k2 >= 0 && k2 != k);
		/* and stays put for the same hash */
		assert_int_equal(pick_idx(&f, &f.pol, true, 42, ex_list, ex, 0), k2);
		fx_done(&f);
	}
}

static void test_locality_fallback(void **st)
{
	fx_t f;
	weft_av_locality_t from = { "r1", "z1", "s1" };
	const char *ex1[] = { "ns/e0", NULL }, *ex2[] = { "ns/e0", "ns/e1", NULL };
	const char *ex3[] = { "ns/e0", "ns/e1", "ns/e2", NULL };
	const weft_lb_type_t types[] = { WEFT_LB_ROUND_ROBIN, WEFT_LB_LEAST_REQUEST, WEFT_LB_RANDOM,
					 WEFT_LB_RING_HASH, WEFT_LB_MAGLEV };

	(void)st;
	for (size_t t = 0; t < 5; t++) {
		fx_init(&f, 3, NULL, types[t]);
		f.e[0].locality = (weft_av_locality_t){ "r1", "z1", "s1" };
		f.e[1].locality = (weft_av_locality_t){ "r1", "z2", "" };
		f.e[2].locality = (weft_av_locality_t){ "r2", "z9", "" };
		for (uint64_t i = 0; i < 50; i++) {
			const weft_av_endpoint_t *e;
			e = weft_l7_pick(f.cl, &f.s, &f.pol, &from, true, i * 7919, NULL, NULL, &f.rnd, 0);
			assert_ptr_equal(e, &f.e[0]);
			e = weft_l7_pick(f.cl, &f.s, &f.pol, &from, true, i * 7919, ex_list, ex1, &f.rnd, 0);
			assert_ptr_equal(e, &f.e[1]);
			e = weft_l7_pick(f.cl, &f.s, &f.pol, &from, true, i * 7919, ex_list, ex2, &f.rnd, 0);
			assert_ptr_equal(e, &f.e[2]);
			e = weft_l7_pick(f.cl, &f.s, &f.pol, &from, true, i * 7919, ex_list, ex3, &f.rnd, 0);
			assert_null(e);
		}
		/* unhealthy local endpoint: the next tier */
		weft_l7_set_health(f.cl, "ns/e0", false);
		assert_ptr_equal(weft_l7_pick(f.cl, &f.s, &f.pol, &from, false, 0, NULL, NULL, &f.rnd, 0),
				 &f.e[1]);
		weft_l7_set_health(f.cl, "ns/e0", true);
		assert_ptr_equal(weft_l7_pick(f.cl, &f.s, &f.pol, &from, false, 0, NULL, NULL, &f.rnd, 0),
				 &f.e[0]);
		fx_done(&f);
	}
}

static void stats_cb(void *arg, const weft_l7_cluster_stats_t *st)
{
	*(weft_l7_cluster_stats_t *)arg = *st;
}

static weft_l7_cluster_stats_t stats(fx_t *f)
{
	weft_l7_cluster_stats_t st;

	memset(&st, 0, sizeof(st));
	weft_l7_clusters_each(f->cs, stats_cb, &st);
	assert_string_equal(st.svc, "ns/svc");
	return st;
}

static void test_health_and_penalty(void **st)
{
	unsigned cnt[3] = { 0 };
	const char *ex[] = { "ns/e0", "ns/e2", NULL };
	fx_t f;

	(void)st;
	fx_init(&f, 3, NULL, WEFT_LB_ROUND_ROBIN);
	weft_l7_set_health(f.cl, "ns/e1", false);
	assert_int_equal(stats(&f).unhealthy_now, 1);
	dist(&f, &f.pol, 100, cnt);
	assert_int_equal(cnt[1], 0);
	assert_int_equal(pick_idx(&f, &f.pol, false, 0, ex_list, ex, 0), -1);
	weft_l7_set_health(f.cl, "ns/e1", true);
	/* a 429 with Retry-After 5 s: avoided until then unless nothing else */
	weft_l7_try_start(f.cl, "ns/e0");
	weft_l7_try_end(f.cl, &f.pol, "ns/e0", 429, 1000, 5000, 1000);
	memset(cnt, 0, sizeof(cnt));
	for (int i = 0; i < 100; i++)
		cnt[pick_idx(&f, &f.pol, false, 0, NULL, NULL, 5999)]++;
	assert_int_equal(cnt[0], 0);
	const char *ex12[] = { "ns/e1", "ns/e2", NULL };
	assert_int_equal(pick_idx(&f, &f.pol, false, 0, ex_list, ex12, 5999), 0);
	memset(cnt, 0, sizeof(cnt));
	for (int i = 0; i < 99; i++)
		cnt[pick_idx(&f, &f.pol, false, 0, NULL, NULL, 6000)]++;
	assert_int_equal(cnt[0], 33);
	/* a 429 does not count towards outlier ejection */
	f.pol.outlier.set = true;
	f.pol.outlier.consecutive_5xx = 1;
	weft_l7_try_end(f.cl, &f.pol, "ns/e0", 429, 1000, 0, 7000);
	assert_false(weft_l7_ejected(f.cl, "ns/e0", 7000));
	fx_done(&f);
}

static void test_ejection_and_return(void **st)
{
	unsigned cnt[4] = { 0 };
	fx_t f;

	(void)st;
	fx_init(&f, 4, NULL, WEFT_LB_ROUND_ROBIN);
	f.pol.outlier.set = true;
	f.pol.outlier.consecutive_5xx = 3;
	f.pol.outlier.base_ejection_ms = 1000;
	f.pol.outlier.max_ejection_percent = 50;
	weft_l7_try_end(f.cl, &f.pol, "ns/e0", 500, 100, 0, 0);
	weft_l7_try_end(f.cl, &f.pol, "ns/e0", 503, 100, 0, 0);
	weft_l7_try_end(f.cl, &f.pol, "ns/e0", 200, 100, 0, 0);   /* resets the run */
	weft_l7_try_end(f.cl, &f.pol, "ns/e0", 500, 100, 0, 0);
	weft_l7_try_end(f.cl, &f.pol, "ns/e0", 0, 100, 0, 0);
	assert_false(weft_l7_ejected(f.cl, "ns/e0", 0));
	weft_l7_try_end(f.cl, &f.pol, "ns/e0", 504, 100, 0, 0);
	assert_true(weft_l7_ejected(f.cl, "ns/e0", 0));
	assert_int_equal(stats(&f).ejections, 1);
	assert_int_equal(stats(&f).ejected_now, 1);
	dist(&f, &f.pol, 300, cnt);
	assert_int_equal(cnt[0], 0);
	weft_l7_outlier_tick(f.cl, &f.pol, 999);
	assert_true(weft_l7_ejected(f.cl, "ns/e0", 999));
	weft_l7_outlier_tick(f.cl, &f.pol, 1000);
	assert_false(weft_l7_ejected(f.cl, "ns/e0", 1000));
	assert_int_equal(stats(&f).ejected_now, 0);
	memset(cnt, 0, sizeof(cnt));
	dist(&f, &f.pol, 400, cnt);
	assert_true(cnt[0] > 0);
	/* ejected again at once: twice the base time */
	for (int i = 0; i < 3; i++)
		weft_l7_try_end(f.cl, &f.pol, "ns/e0", 500, 100, 0, 1000);
	assert_true(weft_l7_ejected(f.cl, "ns/e0", 2999));
	assert_false(weft_l7_ejected(f.cl, "ns/e0", 3000));
	/* the pick itself returns it once its time is up, tick or not */
	memset(cnt, 0, sizeof(cnt));
	for (int i = 0; i < 400; i++)
		cnt[pick_idx(&f, &f.pol, false, 0, NULL, NULL, 3000)]++;
	assert_true(cnt[0] > 0);

	/* consecutive gateway errors: 502/503/504/0 only; a 500 resets */
	f.pol.outlier.consecutive_5xx = 0;
	f.pol.outlier.consecutive_gateway_errors = 2;
	weft_l7_try_end(f.cl, &f.pol, "ns/e1", 502, 100, 0, 4000);
	weft_l7_try_end(f.cl, &f.pol, "ns/e1", 500, 100, 0, 4000);
	weft_l7_try_end(f.cl, &f.pol, "ns/e1", 503, 100, 0, 4000);
	assert_false(weft_l7_ejected(f.cl, "ns/e1", 4000));
	weft_l7_try_end(f.cl, &f.pol, "ns/e1", 0, 100, 0, 4000);
	assert_true(weft_l7_ejected(f.cl, "ns/e1", 4000));
	/* without outlier settings nothing is ejected */
	f.pol.outlier.set = false;
	for (int i = 0; i < 10; i++)
		weft_l7_try_end(f.cl, &f.pol, "ns/e2", 503, 100, 0, 4000);
	assert_false(weft_l7_ejected(f.cl, "ns/e2", 4000));
	fx_done(&f);
}

static int count_ejected(fx_t *f, size_t n, uint64_t now)
{
	int k = 0;

	for (size_t i = 0; i < n; i++)
		k += weft_l7_ejected(f->cl, f->uids[i], now);
	return k;
}

static void test_max_ejection_percent(void **st)
{
	fx_t f;

	(void)st;
	fx_init(&f, 10, NULL, WEFT_LB_ROUND_ROBIN);
	f.pol.outlier.set = true;
	f.pol.outlier.consecutive_5xx = 1;
	f.pol.outlier.max_ejection_percent = 20;
	for (int i = 0; i < 10; i++)
		weft_l7_try_end(f.cl, &f.pol, f.uids[i], 503, 100, 0, 0);
	assert_int_equal(count_ejected(&f, 10, 0), 2);
	assert_int_equal(stats(&f).ejections, 2);
	fx_done(&f);

	/* 3 endpoints at 10%: one may always go (as Envoy), no more */
	fx_init(&f, 3, NULL, WEFT_LB_ROUND_ROBIN);
	f.pol.outlier.set = true;
	f.pol.outlier.consecutive_5xx = 1;
	for (int i = 0; i < 3; i++)
		weft_l7_try_end(f.cl, &f.pol, f.uids[i], 503, 100, 0, 0);
	assert_int_equal(count_ejected(&f, 3, 0), 1);
	fx_done(&f);

	/* the only endpoint is never ejected below 100%; 0% never ejects */
	fx_init(&f, 1, NULL, WEFT_LB_ROUND_ROBIN);
	f.pol.outlier.set = true;
	f.pol.outlier.consecutive_5xx = 1;
	weft_l7_try_end(f.cl, &f.pol, f.uids[0], 503, 100, 0, 0);
	assert_int_equal(count_ejected(&f, 1, 0), 0);
	fx_done(&f);
	fx_init(&f, 4, NULL, WEFT_LB_ROUND_ROBIN);
	f.pol.outlier.set = true;
	f.pol.outlier.consecutive_5xx = 1;
	f.pol.outlier.max_ejection_percent = 0;
	weft_l7_try_end(f.cl, &f.pol, f.uids[0], 503, 100, 0, 0);
	assert_int_equal(count_ejected(&f, 4, 0), 0);
	fx_done(&f);
}

static void feed(fx_t *f, const char *uid, int ok, int bad)
{
	for (int i = 0; i < ok; i++)
		weft_l7_try_end(f->cl, &f->pol, uid, 200, 100, 0, 0);
	for (int i = 0; i < bad; i++)
		weft_l7_try_end(f->cl, &f->pol, uid, 500, 100, 0, 0);
}

static void test_success_rate(void **st)
{
	fx_t f;

	(void)st;
	fx_init(&f, 6, NULL, WEFT_LB_ROUND_ROBIN);
	f.pol.outlier.set = true;
	f.pol.outlier.sr_stdev_factor_milli = 1900;
	f.pol.outlier.sr_min_hosts = 5;
	f.pol.outlier.sr_request_volume = 100;
	f.pol.outlier.max_ejection_percent = 50;
	for (int i = 0; i < 5; i++)
		feed(&f, f.uids[i], i ? 100 : 98, i ? 0 : 2);   /* ~100% */
	feed(&f, "ns/e5", 50, 50);                           /* 50% */
	weft_l7_outlier_tick(f.cl, &f.pol, 10000);
	assert_true(weft_l7_ejected(f.cl, "ns/e5", 10000));
	assert_int_equal(count_ejected(&f, 6, 10000), 1);
	fx_done(&f);

	/* too few hosts with enough volume: nothing happens */
	fx_init(&f, 6, NULL, WEFT_LB_ROUND_ROBIN);
	f.pol.outlier.set = true;
	f.pol.outlier.sr_stdev_factor_milli = 1900;
	f.pol.outlier.sr_min_hosts = 5;
	f.pol.outlier.sr_request_volume = 100;
	f.pol.outlier.max_ejection_percent = 50;
	for (int i = 0; i < 3; i++)
		feed(&f, f.uids[i], 100, 0);
	feed(&f, "ns/e3", 99, 0);                            /* under the volume */
	feed(&f, "ns/e5", 50, 50);
	weft_l7_outlier_tick(f.cl, &f.pol, 10000);
	assert_int_equal(count_ejected(&f, 6, 10000), 0);
	/* the counts are per interval: the next one starts empty */
	feed(&f, "ns/e3", 1, 0);
	feed(&f, "ns/e4", 100, 0);
	weft_l7_outlier_tick(f.cl, &f.pol, 20000);
	assert_int_equal(count_ejected(&f, 6, 20000), 0);
	fx_done(&f);
}

static void test_breakers(void **st)
{
	weft_l7_cluster_stats_t s;
	fx_t f;

	(void)st;
	fx_init(&f, 1, NULL, WEFT_LB_ROUND_ROBIN);
	f.pol.limits.set = true;
	f.pol.limits.max_requests = 2;
	f.pol.limits.max_pending_requests = 1;
	f.pol.limits.max_connections = 3;
	assert_true(weft_l7_admit_request(f.cl, &f.pol));
	assert_true(weft_l7_admit_request(f.cl, &f.pol));
	assert_false(weft_l7_admit_request(f.cl, &f.pol));
	assert_false(weft_l7_admit_request(f.cl, &f.pol));
	assert_true(weft_l7_admit_pending(f.cl, &f.pol));
	assert_false(weft_l7_admit_pending(f.cl, &f.pol));
	for (int i = 0; i < 3; i++)
		assert_true(weft_l7_admit_connection(f.cl, &f.pol));
	assert_false(weft_l7_admit_connection(f.cl, &f.pol));
	s = stats(&f);
	assert_int_equal(s.active_requests, 2);
	assert_int_equal(s.overflow_requests, 2);
	assert_int_equal(s.pending_requests, 1);
	assert_int_equal(s.overflow_pending, 1);
	assert_int_equal(s.active_connections, 3);
	assert_int_equal(s.overflow_connections, 1);
	weft_l7_done_request(f.cl);
	weft_l7_done_pending(f.cl);
	weft_l7_done_connection(f.cl);
	assert_true(weft_l7_admit_request(f.cl, &f.pol));
	assert_true(weft_l7_admit_pending(f.cl, &f.pol));
	assert_true(weft_l7_admit_connection(f.cl, &f.pol));
	/* no limits: unlimited; done never goes below zero */
	for (int i = 0; i < 1000; i++)
		assert_true(weft_l7_admit_request(f.cl, NULL));
	for (int i = 0; i < 2000; i++)
		weft_l7_done_request(f.cl);
	assert_int_equal(stats(&f).active_requests, 0);
	fx_done(&f);
}

static void test_retry_budget(void **st)
{
	weft_l7_cluster_stats_t s;
	fx_t f;

	(void)st;
	fx_init(&f, 1, NULL, WEFT_LB_ROUND_ROBIN);
	/* no budget: 20% of active requests, at least 3 */
	for (int i = 0; i < 3; i++)
		assert_true(weft_l7_admit_retry(f.cl, NULL));
	assert_false(weft_l7_admit_retry(f.cl, NULL));
	assert_int_equal(stats(&f).budget_exhausted, 1);
	for (int i = 0; i < 3; i++)
		weft_l7_done_retry(f.cl);
	for (int i = 0; i < 100; i++)
		assert_true(weft_l7_admit_request(f.cl, NULL));
	for (int i = 0; i < 20; i++)
		assert_true(weft_l7_admit_retry(f.cl, NULL));
	assert_false(weft_l7_admit_retry(f.cl, NULL));
	for (int i = 0; i < 20; i++)
		weft_l7_done_retry(f.cl);
	/* a budget of 50%, minimum 1 */
	f.pol.retry.set = f.pol.retry.budget_set = true;
	f.pol.retry.budget_percent_ppm = 500000;
	f.pol.retry.budget_min_concurrency = 1;
	for (int i = 0; i < 50; i++)
		assert_true(weft_l7_admit_retry(f.cl, &f.pol));
	assert_false(weft_l7_admit_retry(f.cl, &f.pol));
	for (int i = 0; i < 50; i++)
		weft_l7_done_retry(f.cl);
	for (int i = 0; i < 100; i++)
		weft_l7_done_request(f.cl);
	assert_true(weft_l7_admit_retry(f.cl, &f.pol));   /* the minimum */
	assert_false(weft_l7_admit_retry(f.cl, &f.pol));
	weft_l7_done_retry(f.cl);
	/* max_retries: an overflow, not a budget refusal */
	f.pol.retry.budget_min_concurrency = 10;
	f.pol.limits.max_retries = 2;
	assert_true(weft_l7_admit_retry(f.cl, &f.pol));
	assert_true(weft_l7_admit_retry(f.cl, &f.pol));
	assert_false(weft_l7_admit_retry(f.cl, &f.pol));
	s = stats(&f);
	assert_int_equal(s.overflow_retries, 1);
	assert_int_equal(s.budget_exhausted, 4);
	assert_int_equal(s.active_retries, 2);
	fx_done(&f);
}

static void test_backoff(void **st)
{
	weft_dest_policy_t pol;
	uint64_t rnd = 99, hi[12] = { 0 }, lo[12];

	(void)st;
	/* defaults: 25 ms base, 250 ms cap */
	for (unsigned n = 1; n <= 11; n++) {
		uint64_t bound = 25ull << (n - 1);
		if (bound > 250)
			bound = 250;
		lo[n] = UINT64_MAX;
		for (int i = 0; i < 2000; i++) {
			uint64_t b = weft_l7_backoff_ms(NULL, n, &rnd);
			assert_true(b <= bound);
			if (b > hi[n])
				hi[n] = b;
			if (b < lo[n])
				lo[n] = b;
		}
		/* full jitter: spans the interval */
		assert_true(hi[n] >= bound * 9 / 10);
		assert_true(lo[n] <= bound / 10);
	}
	memset(&pol, 0, sizeof(pol));
	pol.retry.backoff_base_ms = 100;
	pol.retry.backoff_max_ms = 300;
	for (int i = 0; i < 1000; i++) {
		assert_true(weft_l7_backoff_ms(&pol, 1, &rnd) <= 100);
		assert_true(weft_l7_backoff_ms(&pol, 2, &rnd) <= 200);
		assert_true(weft_l7_backoff_ms(&pol, 40, &rnd) <= 300);
		assert_true(weft_l7_backoff_ms(&pol, 0, &rnd) <= 100);
	}
}

static void test_request_hash(void **st)
{
	weft_dest_policy_t pol;
	weft_hdr_t hd[3] = {
		{ { "x-user", 6 }, { "alice", 5 } },
		{ { "cookie", 6 }, { "a=1; sid=abc", 12 } },
		{ { "cookie", 6 }, { "session=\"xyz\"; b=2", 18 } },
	};
	weft_http_head_t h = { .nhdrs = 3, .hdrs = hd };
	weft_ip_t ip1 = { .v4 = true }, ip2 = { .v4 = true };
	uint64_t a, b, c;

	(void)st;
	memset(&pol, 0, sizeof(pol));
	assert_false(weft_l7_request_hash(&pol, &h, &ip1, &a));
	assert_false(weft_l7_request_hash(NULL, &h, &ip1, &a));
	/* header: name matched in any case */
	pol.lb.hash_header = (weft_str_t){ "X-User", 6 };
	assert_true(weft_l7_request_hash(&pol, &h, NULL, &a));
	hd[0].value = (weft_str_t){ "alicf", 5 };
	assert_true(weft_l7_request_hash(&pol, &h, NULL, &b));
	assert_int_not_equal(a, b);
	hd[0].value = (weft_str_t){ "alice", 5 };
	assert_true(weft_l7_request_hash(&pol, &h, NULL, &b));
	assert_int_equal(a, b);
	/* cookie: from any cookie header; quotes dropped; the header wins */
	pol.lb.hash_cookie = (weft_str_t){ "session", 7 };
	assert_true(weft_l7_request_hash(&pol, &h, NULL, &c));
	assert_int_equal(c, a);
	pol.lb.hash_header = (weft_str_t){ "x-missing", 9 };
	assert_true(weft_l7_request_hash(&pol, &h, NULL, &a));
	hd[2].value = (weft_str_t){ "b=2;session=xyz", 15 };
	assert_true(weft_l7_request_hash(&pol, &h, NULL, &b));
	assert_int_equal(a, b);
	pol.lb.hash_cookie = (weft_str_t){ "sid", 3 };
	assert_true(weft_l7_request_hash(&pol, &h, NULL, &c));
	assert_int_not_equal(a, c);
	pol.lb.hash_cookie = (weft_str_t){ "si", 2 };   /* not a prefix match */
	assert_false(weft_l7_request_hash(&pol, &h, NULL, &c));
	/* source IP */
	pol.lb.hash_source_ip = true;
	ip1.a6[15] = 1;
	ip2.a6[15] = 2;
	assert_true(weft_l7_request_hash(&pol, &h, &ip1, &a));
	assert_true(weft_l7_request_hash(&pol, &h, &ip2, &b));
	assert_true(weft_l7_request_hash(&pol, NULL, &ip1, &c));
	assert_int_not_equal(a, b);
	assert_int_equal(a, c);
	assert_false(weft_l7_request_hash(&pol, &h, NULL, &c));
}

static void test_state_survives_swaps(void **st)
{
	weft_av_endpoint_t e2[MAXE];
	weft_av_service_t s2;
	fx_t f;

	(void)st;
	fx_init(&f, 4, NULL, WEFT_LB_ROUND_ROBIN);
	f.pol.outlier.set = true;
	f.pol.outlier.consecutive_5xx = 1;
	f.pol.outlier.max_ejection_percent = 50;
	weft_l7_try_end(f.cl, &f.pol, "ns/e1", 503, 100, 0, 0);
	assert_true(weft_l7_ejected(f.cl, "ns/e1", 0));
	/* a new view: another copy of the service, endpoints reordered */
	memcpy(e2, f.e, sizeof(e2));
	e2[0] = f.e[1];
	e2[1] = f.e[0];
	s2 = f.s;
	s2.endpoints = e2;
	assert_ptr_equal(weft_l7_cluster(f.cs, &s2), f.cl);
	assert_true(weft_l7_ejected(f.cl, "ns/e1", 0));
	for (int i = 0; i < 100; i++) {
		const weft_av_endpoint_t *e = weft_l7_pick(f.cl, &s2, &f.pol, NULL, false, 0, NULL, NULL,
							    &f.rnd, 0);
		assert_non_null(e);
		assert_string_not_equal(e->workload, "ns/e1");
		assert_true(e >= e2 && e < e2 + 4);
	}
	/* e1 leaves; its state stays one set change, then goes */
	s2.endpoints = e2 + 1;
	s2.nendpoints = 3;
	assert_non_null(weft_l7_cluster(f.cs, &s2));
	assert_true(weft_l7_ejected(f.cl, "ns/e1", 0));
	s2.nendpoints = 2;
	assert_non_null(weft_l7_cluster(f.cs, &s2));
	assert_false(weft_l7_ejected(f.cl, "ns/e1", 0));
	/* the state the last try_end found (e1) is gone: tries on it are
	 * no-ops (a remembered pointer to it would be used after free) */
	weft_l7_try_start(f.cl, "ns/e1");
	weft_l7_try_end(f.cl, &f.pol, "ns/e1", 503, 100, 0, 0);
	assert_false(weft_l7_ejected(f.cl, "ns/e1", 0));
	weft_l7_try_start(f.cl, "ns/e2");
	weft_l7_try_end(f.cl, &f.pol, "ns/e2", 503, 100, 0, 0);
	assert_true(weft_l7_ejected(f.cl, "ns/e2", 0));
	weft_l7_try_end(f.cl, &f.pol, "ns/e3", 200, 100, 0, 0);
	assert_false(weft_l7_ejected(f.cl, "ns/e3", 0));
	/* a weight change is a new set too; other clusters are separate */
	s2.endpoints = f.e;
	s2.nendpoints = 4;
	f.e[2].weight = 7;
	assert_non_null(weft_l7_cluster(f.cs, &s2));
	s2.uid = "ns/other";
	assert_ptr_not_equal(weft_l7_cluster(f.cs, &s2), f.cl);
	s2.uid = "ns/svc";   /* after another cluster was the last one asked for */
	assert_ptr_equal(weft_l7_cluster(f.cs, &s2), f.cl);
	s2.uid = "ns/other";
	/* empty services and NULL clusters */
	s2.nendpoints = 0;
	assert_null(weft_l7_pick(weft_l7_cluster(f.cs, &s2), &s2, NULL, NULL, false, 0, NULL, NULL,
				 &f.rnd, 0));
	assert_null(weft_l7_pick(NULL, &s2, NULL, NULL, false, 0, NULL, NULL, &f.rnd, 0));
	fx_done(&f);
	weft_l7_clusters_free(NULL);
}

static void test_many_endpoints(void **st)
{
	static char uids[300][16];
	static weft_av_endpoint_t e[300];
	weft_av_service_t s = { .uid = "ns/big", .nendpoints = 300, .endpoints = e };
	weft_dest_policy_t pol;
	weft_l7_clusters_t *cs = weft_l7_clusters_new();
	unsigned seen[300] = { 0 };
	uint64_t rnd = 5;

	(void)st;
	memset(&pol, 0, sizeof(pol));
	pol.lb.type_set = true;
	pol.lb.type = WEFT_LB_ROUND_ROBIN;
	for (int i = 0; i < 300; i++) {
		snprintf(uids[i], sizeof(uids[i]), "ns/w%d", i);
		e[i].workload = uids[i];
		e[i].locality = (weft_av_locality_t){ "", "", "" };
	}
	for (int i = 0; i < 600; i++) {
		const weft_av_endpoint_t *p = weft_l7_pick(weft_l7_cluster(cs, &s), &s, &pol, NULL, false,
							    0, NULL, NULL, &rnd, 0);
		seen[p - e]++;
	}
	for (int i = 0; i < 300; i++)
		assert_int_equal(seen[i], 2);
	weft_l7_clusters_free(cs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_robin_weights),
		cmocka_unit_test(test_random_weights),
		cmocka_unit_test(test_least_request_weights_idle),
		cmocka_unit_test(test_p2c_prefers_faster),
		cmocka_unit_test(test_peak_ewma),
		cmocka_unit_test(test_new_endpoint_average),
		cmocka_unit_test(test_ring_hash_consistency),
		cmocka_unit_test(test_maglev_consistency),
		cmocka_unit_test(test_hash_weights),
		cmocka_unit_test(test_hash_skips_excluded),
		cmocka_unit_test(test_locality_fallback),
		cmocka_unit_test(test_health_and_penalty),
		cmocka_unit_test(test_ejection_and_return),
		cmocka_unit_test(test_max_ejection_percent),
		cmocka_unit_test(test_success_rate),
		cmocka_unit_test(test_breakers),
		cmocka_unit_test(test_retry_budget),
		cmocka_unit_test(test_backoff),
		cmocka_unit_test(test_request_hash),
		cmocka_unit_test(test_state_survives_swaps),
		cmocka_unit_test(test_many_endpoints),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
