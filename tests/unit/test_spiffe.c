/* Unit tests for the SPIFFE ID parser and formatters (src/net/spiffe.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include "weft/tls.h"

static void test_accept(void **state)
{
	weft_spiffe_id_t id;
	const char *w = "spiffe://cluster.local/ns/default/sa/echo";

	assert_int_equal(weft_spiffe_parse(w, strlen(w), &id), WEFT_OK);
	assert_int_equal(id.kind, WEFT_ID_WORKLOAD);
	assert_string_equal(id.td, "cluster.local");
	assert_string_equal(id.ns, "default");
	assert_string_equal(id.sa, "echo");
	assert_string_equal(id.uri, w);

	w = "spiffe://td-1_x/weft/node/n1.rack-2";
	assert_int_equal(weft_spiffe_parse(w, strlen(w), &id), WEFT_OK);
	assert_int_equal(id.kind, WEFT_ID_NODE);
	assert_string_equal(id.td, "td-1_x");
	assert_string_equal(id.node, "n1.rack-2");

	w = "spiffe://example.org/weft/control";
	assert_int_equal(weft_spiffe_parse(w, strlen(w), &id), WEFT_OK);
	assert_int_equal(id.kind, WEFT_ID_CONTROL);

	/* (ptr,len): bytes after len are not read */
	w = "spiffe://a/weft/controlXYZ";
	assert_int_equal(weft_spiffe_parse(w, strlen(w) - 3, &id), WEFT_OK);
	assert_int_equal(id.kind, WEFT_ID_CONTROL);
}

static void test_reject(void **state)
{
	static const char *const bad[] = {
		"",
		"spiffe://",
		"spiffe://cluster.local",
		"spiffe://cluster.local/",
		"SPIFFE://cluster.local/ns/a/sa/b",
		"https://cluster.local/ns/a/sa/b",
		"spiffe:/cluster.local/ns/a/sa/b",
		"spiffe://Cluster.local/ns/a/sa/b",
		"spiffe://cluster.local:443/ns/a/sa/b",
		"spiffe://user@cluster.local/ns/a/sa/b",
		"spiffe://cluster.local/ns/a/sa/b?x=1",
		"spiffe://cluster.local/ns/a/sa/b#f",
		"spiffe://cluster.local/ns/a%2f/sa/b",
		"spiffe://cluster.local/ns//sa/b",
		"spiffe://cluster.local/ns/./sa/b",
		"spiffe://cluster.local/ns/../sa/b",
		"spiffe://cluster.local/ns/a/sa/b/",
		"spiffe://cluster.local/ns/a/sa/b/c",
		"spiffe://cluster.local/ns/a/sa",
		"spiffe://cluster.local/ns/A/sa/b",
		"spiffe://cluster.local/ns/a/xx/b",
		"spiffe://cluster.local/weft/node",
		"spiffe://cluster.local/weft/node/",
		"spiffe://cluster.local/weft/node/n1/x",
		"spiffe://cluster.local/weft/control/x",
		"spiffe://cluster.local/weft/other",
		"spiffe:///ns/a/sa/b",
		"spiffe://cluster local/ns/a/sa/b",
	};
	weft_spiffe_id_t id;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (weft_spiffe_parse(bad[i], strlen(bad[i]), &id) != WEFT_EPROTO)
			fail_msg("accepted: '%s'", bad[i]);
		assert_int_equal(id.kind, WEFT_ID_NONE);
	}
	/* an embedded NUL */
	assert_int_equal(weft_spiffe_parse("spiffe://a/ns/x\0y/sa/b", 22, &id), WEFT_EPROTO);
	assert_int_equal(weft_spiffe_parse(NULL, 0, &id), WEFT_EPROTO);
}

static void test_limits(void **state)
{
	char buf[1200], name[300];
	weft_spiffe_id_t id;

	memset(name, 'a', 253);
	name[253] = '\0';
	snprintf(buf, sizeof(buf), "spiffe://td/ns/%s/sa/b", name);
	assert_int_equal(weft_spiffe_parse(buf, strlen(buf), &id), WEFT_OK);
	assert_int_equal(strlen(id.ns), 253);
	name[253] = 'a';
	name[254] = '\0';
	snprintf(buf, sizeof(buf), "spiffe://td/ns/%s/sa/b", name);
	assert_int_equal(weft_spiffe_parse(buf, strlen(buf), &id), WEFT_EPROTO);
	/* a whole URI longer than WEFT_SPIFFE_MAX */
	name[253] = '\0';
	snprintf(buf, sizeof(buf), "spiffe://td/ns/%s/sa/%s", name, name);
	assert_true(strlen(buf) < WEFT_SPIFFE_MAX);
	assert_int_equal(weft_spiffe_parse(buf, strlen(buf), &id), WEFT_OK);
	snprintf(buf, sizeof(buf), "spiffe://%s.%s/ns/%s/sa/%s", name, "x", name, name);
	assert_int_equal(weft_spiffe_parse(buf, strlen(buf), &id), WEFT_EPROTO);
}

static void test_format(void **state)
{
	char out[WEFT_SPIFFE_MAX], small[20];

	assert_int_equal(weft_spiffe_workload(out, sizeof(out), "td", "ns1", "sa1"), WEFT_OK);
	assert_string_equal(out, "spiffe://td/ns/ns1/sa/sa1");
	assert_int_equal(weft_spiffe_node(out, sizeof(out), "td", "n1"), WEFT_OK);
	assert_string_equal(out, "spiffe://td/weft/node/n1");
	assert_int_equal(weft_spiffe_control(out, sizeof(out), "td"), WEFT_OK);
	assert_string_equal(out, "spiffe://td/weft/control");
	assert_int_equal(weft_spiffe_workload(small, sizeof(small), "td", "ns1", "sa1"), WEFT_ELIMIT);
	assert_string_equal(small, "");
	assert_string_equal(weft_peer_reason_name(WEFT_PEER_WRONG_TD), "wrong_trust_domain");
	assert_string_equal(weft_peer_reason_name(WEFT_PEER_NREASONS), "unknown");
	for (int r = 0; r < WEFT_PEER_NREASONS; r++)
		assert_non_null(weft_peer_reason_name((weft_peer_reason_t)r));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accept),
		cmocka_unit_test(test_reject),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_format),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
