/* Unit tests for L4 authorization (src/agent/authz.c): Istio's documented
 * cases, each a set of policies built through weft_av_build() and a table
 * of connections with the expected decision. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>
#include <string.h>
#include "av_fake.h"
#include "weft/agentview.h"

#define TD "cluster.local"
#define P_A TD "/ns/a/sa/client"
#define P_B TD "/ns/b/sa/other"

typedef struct conn {
	const char *principal, *ns, *src;
	uint16_t port;
	bool allow;
	const char *reason;   /* NULL: not checked */
	bool audit;
} conn_t;

/* Builds a view with one workload "srv/w" holding the given policies and
 * checks every connection of the table. */
static void run(Weft__Agent__V1__Authorization **az, size_t naz, const conn_t *c, size_t nc)
{
	fk_t f = { .n = 0 };
	const char *names[16];
	char err[256];

	assert_true(naz < 16);
	char uids[16][64];
	for (size_t i = 0; i < naz; i++) {
		snprintf(uids[i], sizeof(uids[i]), "%s/%s", az[i]->namespace_, az[i]->name);
		names[i] = uids[i];
	}
	names[naz] = NULL;
	Weft__Agent__V1__Workload *wl = fk_wl(&f, "srv", "w", "w", "n1", FK_S("10.0.0.5"), names);
	weft_av_t *v = weft_av_build("n1", 1, &wl, 1, NULL, 0, az, naz, err, sizeof(err));
	assert_non_null(v);
	const weft_av_workload_t *w = weft_av_workload(v, "srv/w");
	assert_non_null(w);
	assert_int_equal(w->npolicies, naz);
	for (size_t i = 0; i < nc; i++) {
		weft_authz_input_t in = { c[i].principal, c[i].ns, { { 0 }, false }, c[i].port };
		weft_authz_result_t r;
		assert_int_equal(weft_ip_parse(c[i].src, strlen(c[i].src), &in.src), WEFT_OK);
		weft_authz_eval(w, &in, &r);
		if (r.allow != c[i].allow || r.audit != c[i].audit)
			fail_msg("case %zu (%s from %s port %u): got allow=%d audit=%d (%s)", i,
				 c[i].principal ? c[i].principal : "plaintext", c[i].src, c[i].port,
				 r.allow, r.audit, r.reason);
		assert_non_null(r.reason);
		if (c[i].reason)
			assert_string_equal(r.reason, c[i].reason);
	}
	weft_av_unref(v);
	fk_free(&f);
}

#define RUN(az, cases) run(az, sizeof(az) / sizeof(az[0]), cases, sizeof(cases) / sizeof(cases[0]))

static void test_no_policies(void **st)
{
	fk_t f = { .n = 0 };
	conn_t c[] = {
		{ P_A, "a", "10.1.0.1", 80, true, "allowed (no allow policy)", false },
		{ NULL, NULL, "10.1.0.1", 80, true, NULL, false },
	};
	run(NULL, 0, c, 2);
	weft_authz_result_t r;
	weft_authz_input_t in = { 0 };
	weft_authz_eval(NULL, &in, &r);
	assert_true(r.allow);
	fk_free(&f);
}

/* ALLOW with no rules matches nothing: deny all. */
static void test_empty_allow_denies_all(void **st)
{
	fk_t f = { .n = 0 };
	Weft__Agent__V1__Authorization *az[] = {
		fk_az(&f, "srv", "deny-all", WEFT__AGENT__V1__ACTION__ALLOW, 0),
	};
	conn_t c[] = {
		{ P_A, "a", "10.1.0.1", 80, false, "no allow policy matched", false },
		{ NULL, NULL, "10.1.0.1", 80, false, NULL, false },
	};
	RUN(az, c);
	fk_free(&f);
}

/* rules: [{}] allows all, plaintext included. */
static void test_empty_rule_allows_all(void **st)
{
	fk_t f = { .n = 0 };
	Weft__Agent__V1__Authorization *az[] = {
		fk_az(&f, "srv", "allow-all", WEFT__AGENT__V1__ACTION__ALLOW, 1, fk_rule(&f, NULL, NULL, false)),
	};
	conn_t c[] = {
		{ P_A, "a", "10.1.0.1", 80, true, "allowed by srv/allow-all", false },
		{ NULL, NULL, "fd00::1", 9, true, NULL, false },
	};
	RUN(az, c);
	fk_free(&f);
}

/* DENY is evaluated before ALLOW. */
static void test_deny_before_allow(void **st)
{
	fk_t f = { .n = 0 };
	Weft__Agent__V1__Authorization *az[] = {
		fk_az(&f, "srv", "allow-all", WEFT__AGENT__V1__ACTION__ALLOW, 1, fk_rule(&f, NULL, NULL, false)),
		fk_az(&f, "srv", "deny-b", WEFT__AGENT__V1__ACTION__DENY, 1,
		      fk_rule(&f, fk_src(&f, NULL, NULL, FK_S("b"), NULL, NULL, NULL), NULL, false)),
	};
	conn_t c[] = {
		{ P_A, "a", "10.1.0.1", 80, true, "allowed by srv/allow-all", false },
		{ P_B, "b", "10.1.0.1", 80, false, "denied by srv/deny-b", false },
		/* plaintext: no namespace, the DENY source does not match */
		{ NULL, NULL, "10.1.0.1", 80, true, NULL, false },
	};
	RUN(az, c);
	fk_free(&f);
}

static void test_principal_wildcards(void **st)
{
	fk_t f = { .n = 0 };
	Weft__Agent__V1__Authorization *az[] = {
		fk_az(&f, "srv", "p", WEFT__AGENT__V1__ACTION__ALLOW, 3,
		      fk_rule(&f, fk_src(&f, FK_S(TD "/ns/a/sa/client"), NULL, NULL, NULL, NULL, NULL), NULL, false),
		      fk_rule(&f, fk_src(&f, FK_S("*/ns/pre/sa/*"), NULL, NULL, NULL, NULL, NULL), NULL, false),
		      fk_rule(&f, fk_src(&f, FK_S("other.td/*"), NULL, NULL, NULL, NULL, NULL), NULL, false)),
	};
	conn_t c[] = {
		{ P_A, "a", "10.1.0.1", 80, true, NULL, false },
		{ TD "/ns/a/sa/client2", "a", "10.1.0.1", 80, false, NULL, false },
		/* no middle wildcards: a pattern ending in a star is a prefix
		 * match, here on a literal leading star */
		{ TD "/ns/pre/sa/x", "pre", "10.1.0.1", 80, false, NULL, false },
		{ "other.td/ns/q/sa/r", "q", "10.1.0.1", 80, true, NULL, false },
		{ NULL, NULL, "10.1.0.1", 80, false, NULL, false },
	};
	RUN(az, c);
	fk_free(&f);

	Weft__Agent__V1__Authorization *az2[] = {
		fk_az(&f, "srv", "p", WEFT__AGENT__V1__ACTION__ALLOW, 2,
		      fk_rule(&f, fk_src(&f, FK_S("*/sa/client"), NULL, NULL, NULL, NULL, NULL), NULL, false),
		      fk_rule(&f, fk_src(&f, NULL, NULL, FK_S("ns-*"), NULL, NULL, NULL), NULL, false)),
	};
	conn_t c2[] = {
		{ P_A, "a", "10.1.0.1", 80, true, NULL, false },            /* suffix */
		{ P_B, "b", "10.1.0.1", 80, false, NULL, false },
		{ TD "/ns/ns-1/sa/z", "ns-1", "10.1.0.1", 80, true, NULL, false },   /* ns prefix */
		{ NULL, NULL, "10.1.0.1", 80, false, NULL, false },
	};
	RUN(az2, c2);
	fk_free(&f);

	/* "*" alone: any authenticated peer, never plaintext */
	Weft__Agent__V1__Authorization *az3[] = {
		fk_az(&f, "srv", "p", WEFT__AGENT__V1__ACTION__ALLOW, 1,
		      fk_rule(&f, fk_src(&f, FK_S("*"), NULL, NULL, NULL, NULL, NULL), NULL, false)),
	};
	conn_t c3[] = {
		{ P_B, "b", "10.1.0.1", 80, true, NULL, false },
		{ NULL, NULL, "10.1.0.1", 80, false, NULL, false },
	};
	RUN(az3, c3);
	fk_free(&f);
}

static void test_not_fields(void **st)
{
	fk_t f = { .n = 0 };
	Weft__Agent__V1__Authorization *az[] = {
		fk_az(&f, "srv", "not-b", WEFT__AGENT__V1__ACTION__ALLOW, 1,
		      fk_rule(&f, fk_src(&f, NULL, NULL, NULL, FK_S("b"), NULL, NULL), NULL, false)),
	};
	conn_t c[] = {
		{ P_A, "a", "10.1.0.1", 80, true, NULL, false },
		{ P_B, "b", "10.1.0.1", 80, false, NULL, false },
		/* a "not" on an absent value does not match */
		{ NULL, NULL, "10.1.0.1", 80, false, NULL, false },
	};
	RUN(az, c);
	fk_free(&f);

	Weft__Agent__V1__Authorization *az2[] = {
		fk_az(&f, "srv", "deny-not-a", WEFT__AGENT__V1__ACTION__DENY, 1,
		      fk_rule(&f, fk_src(&f, NULL, FK_S(P_A), NULL, NULL, NULL, NULL), NULL, false)),
	};
	conn_t c2[] = {
		{ P_A, "a", "10.1.0.1", 80, true, NULL, false },
		{ P_B, "b", "10.1.0.1", 80, false, "denied by srv/deny-not-a", false },
		/* plaintext: the DENY source clause fails, so no deny (Istio) */
		{ NULL, NULL, "10.1.0.1", 80, true, NULL, false },
	};
	RUN(az2, c2);
	fk_free(&f);
}

static void test_ip_blocks(void **st)
{
	fk_t f = { .n = 0 };
	Weft__Agent__V1__Authorization *az[] = {
		fk_az(&f, "srv", "ips", WEFT__AGENT__V1__ACTION__ALLOW, 1,
		      fk_rule(&f, fk_src(&f, NULL, NULL, NULL, NULL, FK_S("10.1.0.0/16", "192.168.7.7", "fd00:1::/32"),
					 FK_S("10.1.2.0/23", "fd00:1:0:5::/64")),
			      NULL, false)),
	};
	conn_t c[] = {
		{ NULL, NULL, "10.1.0.1", 80, true, NULL, false },
		{ NULL, NULL, "10.1.255.255", 80, true, NULL, false },
		{ NULL, NULL, "10.2.0.1", 80, false, NULL, false },
		{ NULL, NULL, "10.1.2.1", 80, false, NULL, false },   /* notIpBlocks /23 */
		{ NULL, NULL, "10.1.3.200", 80, false, NULL, false },
		{ NULL, NULL, "10.1.4.1", 80, true, NULL, false },
		{ NULL, NULL, "192.168.7.7", 80, true, NULL, false },
		{ NULL, NULL, "192.168.7.8", 80, false, NULL, false },
		{ NULL, NULL, "fd00:1:ffff::1", 80, true, NULL, false },
		{ NULL, NULL, "fd00:2::1", 80, false, NULL, false },
		{ NULL, NULL, "fd00:1:0:5::9", 80, false, NULL, false },
		/* a v4-mapped v6 source is the v4 address */
		{ NULL, NULL, "::ffff:10.1.0.9", 80, true, NULL, false },
		{ P_A, "a", "10.1.0.1", 80, true, NULL, false },
	};
	RUN(az, c);
	fk_free(&f);

	/* 0.0.0.0/0 matches every v4 source and no v6 one */
	Weft__Agent__V1__Authorization *az2[] = {
		fk_az(&f, "srv", "v4", WEFT__AGENT__V1__ACTION__ALLOW, 1,
		      fk_rule(&f, fk_src(&f, NULL, NULL, NULL, NULL, FK_S("0.0.0.0/0"), NULL), NULL, false)),
	};
	conn_t c2[] = {
		{ NULL, NULL, "1.2.3.4", 80, true, NULL, false },
		{ NULL, NULL, "2001:db8::1", 80, false, NULL, false },
	};
	RUN(az2, c2);
	fk_free(&f);
}

static void test_ports(void **st)
{
	fk_t f = { .n = 0 };
	static const uint32_t p80[] = { 80, 8080, 0 }, not8080[] = { 8080, 0 };
	Weft__Agent__V1__Authorization *az[] = {
		fk_az(&f, "srv", "ports", WEFT__AGENT__V1__ACTION__ALLOW, 1,
		      fk_rule(&f, fk_src(&f, NULL, NULL, FK_S("a"), NULL, NULL, NULL), fk_op(&f, p80, not8080, false),
			      false)),
	};
	conn_t c[] = {
		{ P_A, "a", "10.1.0.1", 80, true, NULL, false },
		{ P_A, "a", "10.1.0.1", 8080, false, NULL, false },
		{ P_A, "a", "10.1.0.1", 443, false, NULL, false },
		{ P_B, "b", "10.1.0.1", 80, false, NULL, false },
	};
	RUN(az, c);
	fk_free(&f);

	Weft__Agent__V1__Authorization *az2[] = {
		fk_az(&f, "srv", "deny-not-80", WEFT__AGENT__V1__ACTION__DENY, 1,
		      fk_rule(&f, NULL, fk_op(&f, NULL, (const uint32_t[]){ 80, 0 }, false), false)),
	};
	conn_t c2[] = {
		{ P_A, "a", "10.1.0.1", 80, true, NULL, false },
		{ NULL, NULL, "10.1.0.1", 22, false, NULL, false },
	};
	RUN(az2, c2);
	fk_free(&f);
}

/* L7 attributes at L4: an ALLOW rule never matches, a DENY rule always does. */
static void test_l7_fail_closed(void **st)
{
	fk_t f = { .n = 0 };
	Weft__Agent__V1__Authorization *az[] = {
		fk_az(&f, "srv", "allow-get", WEFT__AGENT__V1__ACTION__ALLOW, 1,
		      fk_rule(&f, fk_src(&f, FK_S("*"), NULL, NULL, NULL, NULL, NULL), fk_op(&f, NULL, NULL, true),
			      false)),
	};
	conn_t c[] = {
		{ P_A, "a", "10.1.0.1", 80, false, "no allow policy matched", false },
	};
	RUN(az, c);
	fk_free(&f);

	Weft__Agent__V1__Authorization *az2[] = {
		fk_az(&f, "srv", "allow-all", WEFT__AGENT__V1__ACTION__ALLOW, 1, fk_rule(&f, NULL, NULL, false)),
		fk_az(&f, "srv", "deny-when", WEFT__AGENT__V1__ACTION__DENY, 1,
		      fk_rule(&f, fk_src(&f, NULL, NULL, FK_S("b"), NULL, NULL, NULL), NULL, true)),
	};
	conn_t c2[] = {
		/* the DENY rule names L7 (when:) so it matches everyone, even
		 * those its source would not */
		{ P_A, "a", "10.1.0.1", 80, false, "denied by srv/deny-when", false },
		{ NULL, NULL, "10.1.0.1", 80, false, NULL, false },
	};
	RUN(az2, c2);
	fk_free(&f);

	/* a rule with an unreadable CIDR fails closed the same way */
	Weft__Agent__V1__Authorization *az3[] = {
		fk_az(&f, "srv", "allow-bad", WEFT__AGENT__V1__ACTION__ALLOW, 1,
		      fk_rule(&f, fk_src(&f, NULL, NULL, NULL, NULL, FK_S("10.0.0.0/99"), NULL), NULL, false)),
	};
	conn_t c3[] = {
		{ NULL, NULL, "10.0.0.1", 80, false, NULL, false },
	};
	RUN(az3, c3);
	fk_free(&f);
}

static void test_audit(void **st)
{
	fk_t f = { .n = 0 };
	Weft__Agent__V1__Authorization *az[] = {
		fk_az(&f, "srv", "audit-b", WEFT__AGENT__V1__ACTION__AUDIT, 1,
		      fk_rule(&f, fk_src(&f, NULL, NULL, FK_S("b"), NULL, NULL, NULL), NULL, false)),
	};
	conn_t c[] = {
		/* AUDIT does not count as an ALLOW policy */
		{ P_A, "a", "10.1.0.1", 80, true, "allowed (no allow policy)", false },
		{ P_B, "b", "10.1.0.1", 80, true, NULL, true },
	};
	RUN(az, c);
	fk_free(&f);

	Weft__Agent__V1__Authorization *az2[] = {
		fk_az(&f, "srv", "audit-all", WEFT__AGENT__V1__ACTION__AUDIT, 1, fk_rule(&f, NULL, NULL, false)),
		fk_az(&f, "srv", "deny-b", WEFT__AGENT__V1__ACTION__DENY, 1,
		      fk_rule(&f, fk_src(&f, NULL, NULL, FK_S("b"), NULL, NULL, NULL), NULL, false)),
	};
	conn_t c2[] = {
		{ P_B, "b", "10.1.0.1", 80, false, "denied by srv/deny-b", true },
	};
	RUN(az2, c2);
	fk_free(&f);
}

/* Several ALLOW policies: any one of them suffices; several sources in a
 * rule are ORed, fields within a source ANDed. */
static void test_or_and(void **st)
{
	fk_t f = { .n = 0 };
	Weft__Agent__V1__Rule *r = fk_rule(&f, fk_src(&f, NULL, NULL, FK_S("a"), NULL, FK_S("10.1.0.0/16"), NULL),
					   NULL, false);
	Weft__Agent__V1__Source **from = fk_alloc(&f, 2 * sizeof(*from));
	from[0] = r->from[0];
	from[1] = fk_src(&f, FK_S(P_B), NULL, NULL, NULL, NULL, NULL);
	r->from = from;
	r->n_from = 2;
	Weft__Agent__V1__Authorization *az[] = {
		fk_az(&f, "srv", "one", WEFT__AGENT__V1__ACTION__ALLOW, 1, r),
		fk_az(&f, "srv", "two", WEFT__AGENT__V1__ACTION__ALLOW, 1,
		      fk_rule(&f, fk_src(&f, NULL, NULL, FK_S("c"), NULL, NULL, NULL), NULL, false)),
	};
	conn_t c[] = {
		{ P_A, "a", "10.1.0.1", 80, true, "allowed by srv/one", false },
		{ P_A, "a", "10.9.0.1", 80, false, NULL, false },   /* ns ok, ip not */
		{ P_B, "b", "10.9.0.1", 80, true, "allowed by srv/one", false },
		{ TD "/ns/c/sa/x", "c", "10.9.0.1", 80, true, "allowed by srv/two", false },
	};
	RUN(az, c);
	fk_free(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_policies),
		cmocka_unit_test(test_empty_allow_denies_all),
		cmocka_unit_test(test_empty_rule_allows_all),
		cmocka_unit_test(test_deny_before_allow),
		cmocka_unit_test(test_principal_wildcards),
		cmocka_unit_test(test_not_fields),
		cmocka_unit_test(test_ip_blocks),
		cmocka_unit_test(test_ports),
		cmocka_unit_test(test_l7_fail_closed),
		cmocka_unit_test(test_audit),
		cmocka_unit_test(test_or_and),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
