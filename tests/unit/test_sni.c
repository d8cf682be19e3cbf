/* Unit tests for the SNI <-> identity names (weft_sni_format/parse in
 * src/agent/agent.c): "<sa>.<ns>.svid.weft". */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include "weft/agent.h"

static void test_round_trip(void **st)
{
	char sni[256], ns[WEFT_NAME_MAX], sa[WEFT_NAME_MAX];

	assert_int_equal(weft_sni_format(sni, sizeof(sni), "shop", "cart-sa"), WEFT_OK);
	assert_string_equal(sni, "cart-sa.shop.svid.weft");
	assert_int_equal(weft_sni_parse(sni, ns, sizeof(ns), sa, sizeof(sa)), WEFT_OK);
	assert_string_equal(ns, "shop");
	assert_string_equal(sa, "cart-sa");

	/* a service account with dots: the namespace is the last label */
	assert_int_equal(weft_sni_format(sni, sizeof(sni), "default", "a.b.c"), WEFT_OK);
	assert_int_equal(weft_sni_parse(sni, ns, sizeof(ns), sa, sizeof(sa)), WEFT_OK);
	assert_string_equal(ns, "default");
	assert_string_equal(sa, "a.b.c");
}

static void test_format_limits(void **st)
{
	char small[12];

	assert_int_equal(weft_sni_format(small, sizeof(small), "ns", "sa"), WEFT_ELIMIT);
	assert_int_equal(weft_sni_format(small, sizeof(small), "", "sa"), WEFT_EPROTO);
	assert_int_equal(weft_sni_format(small, sizeof(small), "ns", ""), WEFT_EPROTO);
}

static void test_parse_rejects(void **st)
{
	static const char *const bad[] = {
		"", ".svid.weft", "sa.svid.weft", ".ns.svid.weft", "sa..svid.weft",
		"sa.ns.svid.wef", "sa.ns.svid.weft.", "sa.ns.SVID.weft", "SA.ns.svid.weft",
		"sa.n s.svid.weft", "sa.ns\x01.svid.weft", "sa/x.ns.svid.weft", "sa.ns",
		"sa.ns.svid.weftx", "svid.weft",
	};
	char ns[WEFT_NAME_MAX], sa[WEFT_NAME_MAX];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (weft_sni_parse(bad[i], ns, sizeof(ns), sa, sizeof(sa)) != WEFT_EPROTO)
			fail_msg("accepted '%s'", bad[i]);
	}
	assert_int_equal(weft_sni_parse(NULL, ns, sizeof(ns), sa, sizeof(sa)), WEFT_EPROTO);
}

static void test_parse_small_buffers(void **st)
{
	char ns[4], sa[4];

	assert_int_equal(weft_sni_parse("sa.ns.svid.weft", ns, sizeof(ns), sa, sizeof(sa)), WEFT_OK);
	assert_int_equal(weft_sni_parse("longsa.ns.svid.weft", ns, sizeof(ns), sa, sizeof(sa)), WEFT_EPROTO);
	assert_int_equal(weft_sni_parse("sa.longns.svid.weft", ns, sizeof(ns), sa, sizeof(sa)), WEFT_EPROTO);
}

static void test_parse_overlong_name(void **st)
{
	char sni[700], ns[WEFT_NAME_MAX], sa[WEFT_NAME_MAX];

	memset(sni, 'a', 300);
	strcpy(sni + 300, ".ns.svid.weft");
	assert_int_equal(weft_sni_parse(sni, ns, sizeof(ns), sa, sizeof(sa)), WEFT_EPROTO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_format_limits),
		cmocka_unit_test(test_parse_rejects),
		cmocka_unit_test(test_parse_small_buffers),
		cmocka_unit_test(test_parse_overlong_name),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
