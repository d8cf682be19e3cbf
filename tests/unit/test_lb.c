/* Unit tests for endpoint choice (src/agent/lb.c): the load table, power
 * of two choices, locality tiers and fallback, weights, exclusion and a
 * distribution check with a fixed seed. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>
#include <string.h>
#include "weft/agentview.h"

static weft_av_endpoint_t ep(const char *uid, const char *r, const char *z, const char *sz, uint32_t w)
{
	weft_av_endpoint_t e;

	memset(&e, 0, sizeof(e));
	e.workload = uid;
	e.locality = (weft_av_locality_t){ r, z, sz };
	e.weight = w;
	return e;
}

static size_t idx(const weft_av_service_t *s, const weft_av_endpoint_t *e)
{
	assert_non_null(e);
	return (size_t)(e - s->endpoints);
}

static void test_load_table(void **st)
{
	weft_lb_load_t *l = weft_lb_load_new();
	char uid[32];

	assert_non_null(l);
	assert_int_equal(weft_lb_load_get(l, "ns/a"), 0);
	weft_lb_load_add(l, "ns/a", 1);
	weft_lb_load_add(l, "ns/a", 1);
	weft_lb_load_add(l, "ns/b", 1);
	assert_int_equal(weft_lb_load_get(l, "ns/a"), 2);
	assert_int_equal(weft_lb_load_get(l, "ns/b"), 1);
	weft_lb_load_add(l, "ns/a", -1);
	assert_int_equal(weft_lb_load_get(l, "ns/a"), 1);
	weft_lb_load_add(l, "ns/b", -1);
	weft_lb_load_add(l, "ns/b", -1);   /* never below zero */
	assert_int_equal(weft_lb_load_get(l, "ns/b"), 0);
	weft_lb_load_add(l, "ns/c", -1);
	assert_int_equal(weft_lb_load_get(l, "ns/c"), 0);
	/* many entries: the table grows and keeps every count */
	for (int i = 0; i < 5000; i++) {
		snprintf(uid, sizeof(uid), "ns/w%d", i);
		weft_lb_load_add(l, uid, i % 7 + 1);
	}
	for (int i = 0; i < 5000; i++) {
		snprintf(uid, sizeof(uid), "ns/w%d", i);
		assert_int_equal(weft_lb_load_get(l, uid), i % 7 + 1);
	}
	assert_int_equal(weft_lb_load_get(l, "ns/a"), 1);
	weft_lb_load_free(l);
	weft_lb_load_free(NULL);
}

static void test_p2c_prefers_less_loaded(void **st)
{
	weft_av_endpoint_t e[2] = { ep("ns/a", "", "", "", 1), ep("ns/b", "", "", "", 1) };
	weft_av_service_t s = { .nendpoints = 2, .endpoints = e };
	weft_lb_load_t *l = weft_lb_load_new();
	uint64_t rnd = 42;

	weft_lb_load_add(l, "ns/a", 5);
	/* with two endpoints both are always compared: b every time */
	for (int i = 0; i < 100; i++)
		assert_int_equal(idx(&s, weft_lb_pick(&s, NULL, l, NULL, NULL, &rnd)), 1);
	weft_lb_load_add(l, "ns/b", 10);
	for (int i = 0; i < 100; i++)
		assert_int_equal(idx(&s, weft_lb_pick(&s, NULL, l, NULL, NULL, &rnd)), 0);
	weft_lb_load_free(l);
}

static void test_weights(void **st)
{
	/* a: weight 4 with 3 active -> (3+1)/4 = 1; b: weight 1 with 1 active -> 2 */
	weft_av_endpoint_t e[2] = { ep("ns/a", "", "", "", 4), ep("ns/b", "", "", "", 1) };
	weft_av_service_t s = { .nendpoints = 2, .endpoints = e };
	weft_lb_load_t *l = weft_lb_load_new();
	uint64_t rnd = 7;

	weft_lb_load_add(l, "ns/a", 3);
	weft_lb_load_add(l, "ns/b", 1);
	for (int i = 0; i < 50; i++)
		assert_int_equal(idx(&s, weft_lb_pick(&s, NULL, l, NULL, NULL, &rnd)), 0);
	/* simulated connections that stay open: a gets ~4x b's share */
	unsigned n[2] = { 0, 0 };
	for (int i = 0; i < 1000; i++) {
		const weft_av_endpoint_t *p = weft_lb_pick(&s, NULL, l, NULL, NULL, &rnd);
		n[idx(&s, p)]++;
		weft_lb_load_add(l, p->workload, 1);
	}
	assert_true(n[0] > 3 * n[1]);
	assert_true(n[0] < 5 * n[1]);
	weft_lb_load_free(l);
}

static bool exclude_uid(void *arg, const weft_av_endpoint_t *e)
{
	const char *const *names = arg;

	for (; *names; names++)
		if (!strcmp(*names, e->workload))
			return true;
	return false;
}

static void test_locality(void **st)
{
	weft_av_endpoint_t e[5] = {
		ep("ns/other", "r2", "z1", "s1", 1),
		ep("ns/region", "r1", "z9", "s1", 1),
		ep("ns/zone", "r1", "z1", "s9", 1),
		ep("ns/exact", "r1", "z1", "s1", 1),
		ep("ns/exact2", "r1", "z1", "s1", 1),
	};
	weft_av_service_t s = { .nendpoints = 5, .endpoints = e };
	weft_av_locality_t me = { "r1", "z1", "s1" };
	weft_lb_load_t *l = weft_lb_load_new();
	uint64_t rnd = 99;

	/* the best tier wins even when heavily loaded */
	weft_lb_load_add(l, "ns/exact", 100);
	weft_lb_load_add(l, "ns/exact2", 100);
	for (int i = 0; i < 50; i++) {
		size_t k = idx(&s, weft_lb_pick(&s, &me, l, NULL, NULL, &rnd));
		assert_true(k == 3 || k == 4);
	}
	/* fallback tier by tier as endpoints are excluded */
	const char *ex1[] = { "ns/exact", "ns/exact2", NULL };
	const char *ex2[] = { "ns/exact", "ns/exact2", "ns/zone", NULL };
	const char *ex3[] = { "ns/exact", "ns/exact2", "ns/zone", "ns/region", NULL };
	const char *ex4[] = { "ns/exact", "ns/exact2", "ns/zone", "ns/region", "ns/other", NULL };
	for (int i = 0; i < 20; i++) {
		assert_int_equal(idx(&s, weft_lb_pick(&s, &me, l, exclude_uid, (void *)ex1, &rnd)), 2);
		assert_int_equal(idx(&s, weft_lb_pick(&s, &me, l, exclude_uid, (void *)ex2, &rnd)), 1);
		assert_int_equal(idx(&s, weft_lb_pick(&s, &me, l, exclude_uid, (void *)ex3, &rnd)), 0);
	}
	assert_null(weft_lb_pick(&s, &me, l, exclude_uid, (void *)ex4, &rnd));
	/* excluding one of the exact pair always gives the other */
	const char *ex5[] = { "ns/exact", NULL };
	for (int i = 0; i < 20; i++)
		assert_int_equal(idx(&s, weft_lb_pick(&s, &me, l, exclude_uid, (void *)ex5, &rnd)), 4);
	/* no client locality: every endpoint is a candidate */
	unsigned seen = 0;
	for (int i = 0; i < 200; i++)
		seen |= 1u << idx(&s, weft_lb_pick(&s, NULL, NULL, NULL, NULL, &rnd));
	assert_int_equal(seen, 0x1f);
	/* empty service */
	weft_av_service_t empty = { 0 };
	assert_null(weft_lb_pick(&empty, &me, l, NULL, NULL, &rnd));
	weft_lb_load_free(l);
}

/* With no load, picks spread evenly. */
static void test_distribution(void **st)
{
	enum { N = 300 };   /* more than the on-stack exclusion array */
	static weft_av_endpoint_t e[N];
	static char uids[N][16];
	weft_av_service_t s = { .nendpoints = N, .endpoints = e };
	unsigned count[N] = { 0 };
	uint64_t rnd = 12345;

	for (int i = 0; i < N; i++) {
		snprintf(uids[i], sizeof(uids[i]), "ns/e%d", i);
		e[i] = ep(uids[i], "", "", "", 1);
	}
	for (int i = 0; i < N * 100; i++)
		count[idx(&s, weft_lb_pick(&s, NULL, NULL, NULL, NULL, &rnd))]++;
	for (int i = 0; i < N; i++) {
		/* expected 100 each; binomial sd ~10 */
		assert_true(count[i] > 40);
		assert_true(count[i] < 160);
	}
}

/* Deterministic given the random state. */
static void test_deterministic(void **st)
{
	weft_av_endpoint_t e[4] = { ep("a", "", "", "", 1), ep("b", "", "", "", 1), ep("c", "", "", "", 1),
				    ep("d", "", "", "", 1) };
	weft_av_service_t s = { .nendpoints = 4, .endpoints = e };
	uint64_t r1 = 5, r2 = 5;

	for (int i = 0; i < 100; i++)
		assert_ptr_equal(weft_lb_pick(&s, NULL, NULL, NULL, NULL, &r1),
				 weft_lb_pick(&s, NULL, NULL, NULL, NULL, &r2));
	assert_true(r1 == r2 && r1 != 5);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_load_table),
		cmocka_unit_test(test_p2c_prefers_less_loaded),
		cmocka_unit_test(test_weights),
		cmocka_unit_test(test_locality),
		cmocka_unit_test(test_distribution),
		cmocka_unit_test(test_deterministic),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
