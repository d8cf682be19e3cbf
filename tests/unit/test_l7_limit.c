/* Unit tests for src/agent/l7_limit.c: token bucket refill and the
 * Retry-After it reports, fault percentages and header-matched faults
 * (exact and regex), Retry-After parsing (seconds and IMF-fixdate) and
 * the random numbers. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>
#include <string.h>
#include "weft/l7.h"

#define S(lit) ((weft_str_t){ lit, sizeof(lit) - 1 })

static weft_dest_policy_t rl(uint32_t max, uint32_t per, uint64_t iv)
{
	weft_dest_policy_t p;

	memset(&p, 0, sizeof(p));
	p.rate_limit.set = true;
	p.rate_limit.max_tokens = max;
	p.rate_limit.tokens_per_fill = per;
	p.rate_limit.fill_interval_ms = iv;
	return p;
}

static void test_bucket(void **st)
{
	weft_dest_policy_t p = rl(3, 1, 1000);
	weft_l7_bucket_t b = { 0 };
	uint32_t ra = 0;

	(void)st;
	/* full at first use */
	for (int i = 0; i < 3; i++)
		assert_true(weft_l7_bucket_take(&b, &p, 10000, &ra));
	assert_false(weft_l7_bucket_take(&b, &p, 10000, &ra));
	assert_int_equal(ra, 1);
	assert_false(weft_l7_bucket_take(&b, &p, 10999, &ra));
	/* one fill each interval */
	assert_true(weft_l7_bucket_take(&b, &p, 11000, &ra));
	assert_false(weft_l7_bucket_take(&b, &p, 11500, &ra));
	assert_true(weft_l7_bucket_take(&b, &p, 12100, &ra));
	/* the partial interval carries over: next fill at 13000 */
	assert_false(weft_l7_bucket_take(&b, &p, 12900, &ra));
	assert_true(weft_l7_bucket_take(&b, &p, 13000, &ra));
	/* a long pause refills up to max_tokens only */
	for (int i = 0; i < 3; i++)
		assert_true(weft_l7_bucket_take(&b, &p, 60000, &ra));
	assert_false(weft_l7_bucket_take(&b, &p, 60000, &ra));

	/* Retry-After: seconds until the next fill, rounded up */
	p = rl(2, 2, 10000);
	memset(&b, 0, sizeof(b));
	assert_true(weft_l7_bucket_take(&b, &p, 0, &ra));
	assert_true(weft_l7_bucket_take(&b, &p, 0, &ra));
	assert_false(weft_l7_bucket_take(&b, &p, 2500, &ra));
	assert_int_equal(ra, 8);
	assert_false(weft_l7_bucket_take(&b, &p, 9999, &ra));
	assert_int_equal(ra, 1);
	assert_true(weft_l7_bucket_take(&b, &p, 10000, &ra));
	assert_true(weft_l7_bucket_take(&b, &p, 10000, &ra));
	assert_false(weft_l7_bucket_take(&b, &p, 10000, &ra));
	assert_int_equal(ra, 10);
	assert_false(weft_l7_bucket_take(&b, &p, 10000, NULL));

	/* no rate limit: always allowed */
	p.rate_limit.set = false;
	for (int i = 0; i < 100; i++)
		assert_true(weft_l7_bucket_take(&b, &p, 0, &ra));
	assert_true(weft_l7_bucket_take(&b, NULL, 0, &ra));
}

static void test_fault_percentages(void **st)
{
	weft_dest_policy_t p;
	weft_l7_fault_t f;
	uint64_t rnd = 777;
	int delays = 0, aborts = 0, both = 0;

	(void)st;
	memset(&p, 0, sizeof(p));
	weft_l7_fault_decide(&p, NULL, &rnd, &f);
	assert_int_equal(f.delay_ms, 0);
	assert_int_equal(f.abort_http, 0);
	assert_int_equal(f.abort_grpc, -1);
	p.fault.set = true;
	p.fault.delay_ppm = 250000;
	p.fault.delay_ms = 700;
	p.fault.abort_ppm = 100000;
	p.fault.abort_http_status = 503;
	for (int i = 0; i < 20000; i++) {
		weft_l7_fault_decide(&p, NULL, &rnd, &f);
		assert_true(f.delay_ms == 0 || f.delay_ms == 700);
		assert_true(f.abort_http == 0 || f.abort_http == 503);
		assert_int_equal(f.abort_grpc, -1);
		delays += f.delay_ms != 0;
		aborts += f.abort_http != 0;
		both += f.delay_ms && f.abort_http;
	}
	assert_in_range(delays, 4600, 5400);   /* 25% */
	assert_in_range(aborts, 1600, 2400);   /* 10% */
	assert_in_range(both, 300, 700);       /* drawn independently: 2.5% */
	/* 100% gRPC abort */
	p.fault.delay_ppm = 0;
	p.fault.abort_ppm = WEFT_PPM_ALL;
	p.fault.abort_grpc = true;
	p.fault.abort_grpc_status = 14;
	weft_l7_fault_decide(&p, NULL, &rnd, &f);
	assert_int_equal(f.abort_grpc, 14);
	assert_int_equal(f.abort_http, 0);
	assert_int_equal(f.delay_ms, 0);
}

static void test_fault_headers(void **st)
{
	weft_str_match_t m[2];
	weft_hdr_t hd[3] = {
		{ S("x-other"), S("1") },
		{ S("x-fault"), S("on") },
		{ S("x-user"), S("tester-42") },
	};
	weft_http_head_t h = { .nhdrs = 3, .hdrs = hd };
	weft_dest_policy_t p;
	weft_l7_fault_t f;
	uint64_t rnd = 1;

	(void)st;
	memset(&p, 0, sizeof(p));
	memset(m, 0, sizeof(m));
	p.fault.set = true;
	p.fault.abort_ppm = WEFT_PPM_ALL;
	p.fault.abort_http_status = 418;
	p.fault.nheaders = 1;
	p.fault.headers = m;
	m[0] = (weft_str_match_t){ .type = WEFT_MATCH_EXACT, .name = S("X-Fault"), .value = S("on") };
	weft_l7_fault_decide(&p, &h, &rnd, &f);
	assert_int_equal(f.abort_http, 418);
	/* values are case-sensitive */
	hd[1].value = S("On");
	weft_l7_fault_decide(&p, &h, &rnd, &f);
	assert_int_equal(f.abort_http, 0);
	/* another field of the same name may match */
	hd[0] = (weft_hdr_t){ S("x-fault"), S("on") };
	weft_l7_fault_decide(&p, &h, &rnd, &f);
	assert_int_equal(f.abort_http, 418);
	/* every match must hold: a regex on the whole value */
	p.fault.nheaders = 2;
	m[1] = (weft_str_match_t){ .type = WEFT_MATCH_REGEX, .name = S("x-user"), .value = S("tester-[0-9]+") };
	weft_l7_fault_decide(&p, &h, &rnd, &f);
	assert_int_equal(f.abort_http, 418);
	m[1].value = S("tester");   /* a part only: no match */
	weft_l7_fault_decide(&p, &h, &rnd, &f);
	assert_int_equal(f.abort_http, 0);
	m[1].value = S("a|tester-42");   /* alternation stays inside the anchors */
	weft_l7_fault_decide(&p, &h, &rnd, &f);
	assert_int_equal(f.abort_http, 418);
	m[1].value = S("(unclosed");   /* does not compile: no match */
	weft_l7_fault_decide(&p, &h, &rnd, &f);
	assert_int_equal(f.abort_http, 0);
	/* a missing header, or no head at all */
	m[1] = (weft_str_match_t){ .type = WEFT_MATCH_EXACT, .name = S("x-absent"), .value = S("") };
	weft_l7_fault_decide(&p, &h, &rnd, &f);
	assert_int_equal(f.abort_http, 0);
	weft_l7_fault_decide(&p, NULL, &rnd, &f);
	assert_int_equal(f.abort_http, 0);
}

static uint64_t ra(const char *v, uint64_t now)
{
	weft_hdr_t hd[2] = { { S("content-type"), S("text/plain") },
			     { S("retry-after"), { v, strlen(v) } } };
	weft_http_head_t h = { .nhdrs = 2, .hdrs = hd };

	return weft_l7_retry_after_ms(&h, now);
}

static void test_retry_after(void **st)
{
	weft_http_head_t none = { 0 };
	const uint64_t t = 784111777;   /* Sun, 06 Nov 1994 08:49:37 GMT */

	(void)st;
	assert_int_equal(ra("120", 0), 120000);
	assert_int_equal(ra("0", 0), 0);
	assert_int_equal(ra("1", 0), 1000);
	assert_int_equal(ra("Sun, 06 Nov 1994 08:49:37 GMT", t - 10), 10000);
	assert_int_equal(ra("Sun, 06 Nov 1994 08:49:37 GMT", t), 0);       /* past */
	assert_int_equal(ra("Sun, 06 Nov 1994 08:49:37 GMT", t + 60), 0);
	assert_int_equal(ra("Thu, 01 Jan 2037 00:00:00 GMT", 2114380800 - 3), 3000);
	assert_int_equal(ra("Mon, 29 Feb 2016 23:59:59 GMT", 1456790399 - 5), 5000);
	/* unparsable */
	assert_int_equal(ra("", 0), 0);
	assert_int_equal(ra("12x", 0), 0);
	assert_int_equal(ra("-5", 0), 0);
	assert_int_equal(ra("soon", 0), 0);
	assert_int_equal(ra("Sun, 06 Nov 1994 08:49:37 UTC", t - 10), 0);
	assert_int_equal(ra("Sun, 06 Foo 1994 08:49:37 GMT", t - 10), 0);
	assert_int_equal(ra("Sunday, 06-Nov-94 08:49:37 GMT", t - 10), 0);
	assert_int_equal(ra("Sun, 06 Nov 1994 25:49:37 GMT", t - 10), 0);
	assert_int_equal(ra("99999999999999999999", 0), 0);
	assert_int_equal(weft_l7_retry_after_ms(&none, 0), 0);
	assert_int_equal(weft_l7_retry_after_ms(NULL, 0), 0);
	/* huge values are capped at a day */
	assert_int_equal(ra("999999", 0), 86400000);
}

static void test_rand(void **st)
{
	uint64_t s = 1, z = 0, a, b;
	int bits[64] = { 0 };

	(void)st;
	a = weft_l7_rand(&s);
	b = weft_l7_rand(&s);
	assert_int_not_equal(a, b);
	assert_int_not_equal(s, 0);
	weft_l7_rand(&z);   /* a zero state is replaced, not stuck */
	assert_int_not_equal(z, 0);
	for (int i = 0; i < 10000; i++) {
		uint64_t r = weft_l7_rand(&s);
		for (int k = 0; k < 64; k++)
			bits[k] += (int)(r >> k & 1);
	}
	for (int k = 0; k < 64; k++)
		assert_in_range(bits[k], 4700, 5300);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bucket),
		cmocka_unit_test(test_fault_percentages),
		cmocka_unit_test(test_fault_headers),
		cmocka_unit_test(test_retry_after),
		cmocka_unit_test(test_rand),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
