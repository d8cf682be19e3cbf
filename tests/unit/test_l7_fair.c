/* Unit tests for src/agent/l7_fair.c: tenants made once per workload,
 * each limit (connections, requests, buffer) refusing exactly past its
 * share and taking nothing when it refuses, source and destination
 * shares apart, n = 0 as a "room left?" probe, unlimited (0) limits,
 * charges that pass the limit and block later takes, gives clamped at
 * zero, and NULL tenants. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include "../../src/agent/l7_fair.h"

static weft_l7_t *mk(uint64_t conns, uint64_t reqs, uint64_t buf)
{
	weft_l7_t *l7 = calloc(1, sizeof(*l7));

	assert_non_null(l7);
	l7->max_conns = conns;
	l7->max_requests = reqs;
	l7->max_buffer = buf;
	return l7;   /* tel NULL: no metrics */
}

static void done(weft_l7_t *l7)
{
	l7_fair_free(l7);
	assert_null(l7->tenants);
	free(l7);
}

static void test_tenant_once_per_workload(void **st)
{
	weft_l7_t *l7 = mk(0, 0, 0);
	l7_tenant_t *a = l7_fair_tenant(l7, "default/a1"), *b = l7_fair_tenant(l7, "default/a2");

	assert_non_null(a);
	assert_non_null(b);
	assert_ptr_not_equal(a, b);
	assert_ptr_equal(l7_fair_tenant(l7, "default/a1"), a);
	assert_string_equal(a->uid, "default/a1");
	assert_null(l7_fair_tenant(l7, NULL));
	done(l7);
}

static void test_request_limit(void **st)
{
	weft_l7_t *l7 = mk(0, 2, 0);
	l7_tenant_t *a = l7_fair_tenant(l7, "a"), *b = l7_fair_tenant(l7, "b");

	assert_true(l7_fair_take(l7, a, L7_FAIR_REQUESTS, 1));
	assert_true(l7_fair_take(l7, a, L7_FAIR_REQUESTS, 1));
	assert_false(l7_fair_take(l7, a, L7_FAIR_REQUESTS, 1));
	assert_int_equal(a->requests, 2);   /* a refusal takes nothing */
	assert_true(l7_fair_full(l7, a, L7_FAIR_REQUESTS));
	/* another workload's share is its own */
	assert_true(l7_fair_take(l7, b, L7_FAIR_REQUESTS, 1));
	/* so is the destination side's */
	assert_true(l7_fair_take(l7, a, L7_FAIR_IN_REQUESTS, 2));
	assert_false(l7_fair_take(l7, a, L7_FAIR_IN_REQUESTS, 1));
	assert_int_equal(a->in_requests, 2);
	l7_fair_give(l7, a, L7_FAIR_REQUESTS, 1);
	assert_false(l7_fair_full(l7, a, L7_FAIR_REQUESTS));
	assert_true(l7_fair_take(l7, a, L7_FAIR_REQUESTS, 1));
	done(l7);
}

static void test_connection_limit(void **st)
{
	weft_l7_t *l7 = mk(1, 0, 0);
	l7_tenant_t *a = l7_fair_tenant(l7, "a");

	assert_true(l7_fair_take(l7, a, L7_FAIR_CONNS, 1));
	assert_false(l7_fair_take(l7, a, L7_FAIR_CONNS, 1));
	assert_true(l7_fair_take(l7, a, L7_FAIR_IN_CONNS, 1));
	assert_false(l7_fair_take(l7, a, L7_FAIR_IN_CONNS, 1));
	assert_int_equal(a->conns, 1);
	assert_int_equal(a->in_conns, 1);
	assert_string_equal(l7_fair_name(L7_FAIR_CONNS), "connections");
	assert_string_equal(l7_fair_name(L7_FAIR_IN_CONNS), "connections");
	assert_string_equal(l7_fair_name(L7_FAIR_IN_REQUESTS), "requests");
	assert_string_equal(l7_fair_name(L7_FAIR_BUFFER), "buffer");
	done(l7);
}

static void test_buffer_limit_and_charges(void **st)
{
	weft_l7_t *l7 = mk(0, 0, 100);
	l7_tenant_t *a = l7_fair_tenant(l7, "a");

	assert_true(l7_fair_take(l7, a, L7_FAIR_BUFFER, 0));    /* room left */
	assert_true(l7_fair_take(l7, a, L7_FAIR_BUFFER, 60));
	assert_false(l7_fair_take(l7, a, L7_FAIR_BUFFER, 41));  /* would pass 100 */
	assert_int_equal(a->buffer, 60);
	assert_true(l7_fair_take(l7, a, L7_FAIR_BUFFER, 40));   /* exactly the share */
	assert_false(l7_fair_take(l7, a, L7_FAIR_BUFFER, 0));   /* full: no room */
	/* bytes already held (a slow client's response) pass the limit... */
	l7_fair_charge(l7, a, L7_FAIR_BUFFER, 50);
	assert_int_equal(a->buffer, 150);
	/* ...and keep new bodies out until they are given back */
	assert_false(l7_fair_take(l7, a, L7_FAIR_BUFFER, 1));
	l7_fair_give(l7, a, L7_FAIR_BUFFER, 100);
	assert_true(l7_fair_take(l7, a, L7_FAIR_BUFFER, 50));
	/* huge takes do not wrap */
	assert_false(l7_fair_take(l7, a, L7_FAIR_BUFFER, UINT64_MAX));
	l7_fair_give(l7, a, L7_FAIR_BUFFER, 1000);   /* clamped */
	assert_int_equal(a->buffer, 0);
	l7_fair_charge(l7, a, L7_FAIR_BUFFER, UINT64_MAX);
	l7_fair_charge(l7, a, L7_FAIR_BUFFER, 5);    /* saturates */
	assert_int_equal(a->buffer, UINT64_MAX);
	done(l7);
}

static void test_unlimited_and_null(void **st)
{
	weft_l7_t *l7 = mk(0, 0, 0);
	l7_tenant_t *a = l7_fair_tenant(l7, "a");

	for (int i = 0; i < 10000; i++)
		assert_true(l7_fair_take(l7, a, L7_FAIR_REQUESTS, 1));
	assert_true(l7_fair_take(l7, a, L7_FAIR_BUFFER, UINT64_MAX / 2));
	assert_false(l7_fair_full(l7, a, L7_FAIR_BUFFER));
	assert_true(l7_fair_take(l7, NULL, L7_FAIR_CONNS, 1));
	l7_fair_give(l7, NULL, L7_FAIR_CONNS, 1);
	l7_fair_charge(l7, NULL, L7_FAIR_BUFFER, 1);
	assert_false(l7_fair_full(l7, NULL, L7_FAIR_CONNS));
	done(l7);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tenant_once_per_workload),
		cmocka_unit_test(test_request_limit),
		cmocka_unit_test(test_connection_limit),
		cmocka_unit_test(test_buffer_limit_and_charges),
		cmocka_unit_test(test_unlimited_and_null),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
