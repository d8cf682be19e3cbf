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
#include "weft/arena.h"
#include "weft/l7.h"
#include "weft/str.h"

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

/* ---- L7 (weft_authz_eval_l7): policies built by hand as view structs ---- */

#define STRS(...) ((weft_av_strs_t){ sizeof((const char *[]){ __VA_ARGS__ }) / sizeof(const char *), \
				     (const char *[]){ __VA_ARGS__ } })

/* One policy with one rule holding op (may be NULL) and nwhen conditions. */
typedef struct l7pol {
	weft_av_authz_t az;
	weft_av_rule_t rule;
	weft_av_operation_t op;
	weft_av_when_t when[2];
} l7pol_t;

static void l7pol_init(l7pol_t *p, weft_authz_action_t action, const char *name)
{
	memset(p, 0, sizeof(*p));
	p->az.uid = name;
	p->az.action = action;
	p->az.nrules = 1;
	p->az.rules = &p->rule;
	p->az.why_deny = "denied";
	p->az.why_allow = "allowed";
	p->az.why_audit = "audited";
}

static void l7pol_op(l7pol_t *p)
{
	p->rule.nto = 1;
	p->rule.to = &p->op;
	p->op.has_l7 = true;
}

static void l7pol_when(l7pol_t *p, const char *key, weft_av_strs_t values, weft_av_strs_t not_values)
{
	weft_av_when_t *w = &p->when[p->rule.nwhen++];

	p->rule.when = p->when;
	p->rule.has_l7_when = true;
	w->key = key;
	w->values = values;
	w->not_values = not_values;
}

typedef struct l7req {
	const char *path;          /* raw, before normalization */
	weft_l7_slash_mode_t mode;
	const char *method, *authority;
	const char *hdrs[6];       /* name, value pairs; NULL ends */
	int want;                  /* 200, 403 or 400 */
} l7req_t;

/* What the destination proxy would answer: 400 when the path does not
 * normalize, 403 when denied, else 200. */
static int l7_decide(const weft_av_authz_t **pols, size_t n, const l7req_t *q, const char *principal)
{
	weft_av_workload_t w = { .uid = "srv/w", .npolicies = n, .policies = pols };
	weft_authz_input_t in = { principal, principal ? "a" : NULL, { { 0 }, false }, 8080 };
	weft_hdr_t hdrs[3];
	weft_http_head_t h = { .ver = WEFT_HTTP_2, .content_length = -1, .hdrs = hdrs };
	weft_authz_result_t r;
	weft_arena_t a;
	weft_authz_l7_t req = { .h = &h };
	int rc;

	assert_int_equal(weft_ip_parse("10.1.0.1", 8, &in.src), WEFT_OK);
	h.method = weft_str_c(q->method ? q->method : "GET");
	h.authority = weft_str_c(q->authority ? q->authority : "srv.example");
	h.path = weft_str_c(q->path);
	for (size_t i = 0; q->hdrs[2 * i]; i++) {
		hdrs[i].name = weft_str_c(q->hdrs[2 * i]);
		hdrs[i].value = weft_str_c(q->hdrs[2 * i + 1]);
		h.nhdrs++;
	}
	weft_arena_init(&a, 0);
	rc = weft_l7_normalize_path(h.path, q->mode, &a, &req.path);
	if (rc != WEFT_OK) {
		weft_arena_destroy(&a);
		assert_int_equal(rc, WEFT_EPROTO);
		return 400;
	}
	weft_authz_eval_l7(&w, &in, &req, &r);
	weft_arena_destroy(&a);
	assert_non_null(r.reason);
	return r.allow ? 200 : 403;
}

static void l7_run(const weft_av_authz_t **pols, size_t n, const l7req_t *q, size_t nq)
{
	for (size_t i = 0; i < nq; i++) {
		int got = l7_decide(pols, n, &q[i], TD "/ns/a/sa/client");
		if (got != q[i].want)
			fail_msg("case %zu (%s %s host %s): want %d, got %d", i, q[i].method ? q[i].method : "GET",
				 q[i].path, q[i].authority ? q[i].authority : "-", q[i].want, got);
	}
}

#define L7RUN(pols, q) l7_run(pols, sizeof(pols) / sizeof(pols[0]), q, sizeof(q) / sizeof(q[0]))

/* The bypass list against a DENY on paths "/admin" and "/admin/" + "*" */
static void test_l7_path_bypasses(void **st)
{
	l7pol_t d;
	l7pol_init(&d, WEFT_AUTHZ_DENY, "srv/no-admin");
	l7pol_op(&d);
	d.op.paths = STRS("/admin", "/admin/*");
	const weft_av_authz_t *pols[] = { &d.az };
	const weft_l7_slash_mode_t D = WEFT_L7_SLASH_DECODE, K = WEFT_L7_SLASH_KEEP;
	l7req_t q[] = {
		{ .path = "/admin", .want = 403 },
		{ .path = "/admin/users", .want = 403 },
		{ .path = "/public", .want = 200 },
		{ .path = "/administrator", .want = 200 },
		{ .path = "//admin", .want = 403 },
		{ .path = "/a/../admin", .want = 403 },
		{ .path = "/%2e%2e/admin", .want = 403 },
		{ .path = "/%2E%2E/%61dmin/x", .want = 403 },
		{ .path = "/admin%2f", .mode = D, .want = 403 },
		{ .path = "/x%2f..%2fadmin", .mode = D, .want = 403 },
		{ .path = "/admin%2f", .mode = WEFT_L7_SLASH_REJECT, .want = 400 },
		{ .path = "/admin%2f", .mode = K, .want = 200 },   /* kept encoded: another resource */
		{ .path = "\\admin", .want = 403 },
		{ .path = "/admin%00", .want = 400 },
		{ .path = "/%00/admin", .want = 400 },
		{ .path = "/./admin/.", .want = 403 },
	};
	L7RUN(pols, q);
}

static void test_l7_hosts_methods(void **st)
{
	l7pol_t d, a;
	l7pol_init(&d, WEFT_AUTHZ_DENY, "srv/no-admin-host");
	l7pol_op(&d);
	d.op.hosts = STRS("admin.example.com", "*.internal");
	l7pol_init(&a, WEFT_AUTHZ_ALLOW, "srv/reads");
	l7pol_op(&a);
	a.op.methods = STRS("GET", "HEAD");
	a.op.not_paths = STRS("/private*");
	const weft_av_authz_t *pols[] = { &d.az, &a.az };
	l7req_t q[] = {
		{ .path = "/", .authority = "admin.example.com", .want = 403 },
		{ .path = "/", .authority = "ADMIN.Example.COM", .want = 403 },
		{ .path = "/", .authority = "Admin.example.com:8080", .want = 403 },
		{ .path = "/", .authority = "db.INTERNAL:5432", .want = 403 },
		{ .path = "/", .authority = "www.example.com", .want = 200 },
		{ .path = "/", .authority = "admin.example.com.evil", .want = 200 },
		{ .path = "/", .authority = "[::1]:80", .want = 200 },
		{ .path = "/", .method = "POST", .want = 403 },     /* no allow matched */
		{ .path = "/", .method = "get", .want = 403 },      /* methods are case-sensitive */
		{ .path = "/", .method = "HEAD", .want = 200 },
		{ .path = "/private/x", .want = 403 },
		{ .path = "/x/../private", .want = 403 },
		{ .path = "/pub", .want = 200 },
	};
	L7RUN(pols, q);

	/* not_hosts, with and without the port */
	l7pol_t n;
	l7pol_init(&n, WEFT_AUTHZ_ALLOW, "srv/only-api");
	l7pol_op(&n);
	n.op.not_hosts = STRS("Legacy.example.com");
	const weft_av_authz_t *p2[] = { &n.az };
	l7req_t q2[] = {
		{ .path = "/", .authority = "api.example.com", .want = 200 },
		{ .path = "/", .authority = "legacy.example.com:80", .want = 403 },
		{ .path = "/", .authority = "LEGACY.example.com", .want = 403 },
	};
	L7RUN(p2, q2);
}

/* request.headers[...]: every value of a repeated field is checked. */
static void test_l7_header_values(void **st)
{
	l7pol_t d;
	l7pol_init(&d, WEFT_AUTHZ_DENY, "srv/no-mallory");
	l7pol_when(&d, "request.headers[X-User]", STRS("mallory", "eve*"), (weft_av_strs_t){ 0 });
	const weft_av_authz_t *pols[] = { &d.az };
	l7req_t q[] = {
		{ .path = "/", .hdrs = { "x-user", "alice" }, .want = 200 },
		{ .path = "/", .hdrs = { "x-user", "mallory" }, .want = 403 },
		{ .path = "/", .hdrs = { "x-user", "alice", "x-user", "mallory" }, .want = 403 },
		{ .path = "/", .hdrs = { "x-other", "x", "X-User", "evelyn" }, .want = 403 },
		{ .path = "/", .want = 200 },
	};
	L7RUN(pols, q);

	/* ALLOW with values and not_values: a matching value is needed and no
	 * value may be in not_values */
	l7pol_t a;
	l7pol_init(&a, WEFT_AUTHZ_ALLOW, "srv/teams");
	l7pol_when(&a, "request.headers[x-team]", STRS("blue", "green"), STRS("red"));
	const weft_av_authz_t *p2[] = { &a.az };
	l7req_t q2[] = {
		{ .path = "/", .hdrs = { "x-team", "blue" }, .want = 200 },
		{ .path = "/", .hdrs = { "x-team", "red", "x-team", "blue" }, .want = 403 },
		{ .path = "/", .hdrs = { "x-team", "yellow", "x-team", "green" }, .want = 200 },
		{ .path = "/", .hdrs = { "x-team", "yellow" }, .want = 403 },
		{ .path = "/", .want = 403 },
	};
	L7RUN(p2, q2);

	/* DENY with not_values: deny unless every value is a good one */
	l7pol_t n;
	l7pol_init(&n, WEFT_AUTHZ_DENY, "srv/only-good");
	l7pol_when(&n, "request.headers[x-env]", (weft_av_strs_t){ 0 }, STRS("prod"));
	const weft_av_authz_t *p3[] = { &n.az };
	l7req_t q3[] = {
		{ .path = "/", .hdrs = { "x-env", "prod" }, .want = 200 },
		{ .path = "/", .hdrs = { "x-env", "prod", "x-env", "dev" }, .want = 403 },
		{ .path = "/", .hdrs = { "x-env", "dev" }, .want = 403 },
		{ .path = "/", .want = 403 },
	};
	L7RUN(p3, q3);
}

static void test_l7_when_keys(void **st)
{
	l7pol_t a;
	l7pol_init(&a, WEFT_AUTHZ_ALLOW, "srv/cond");
	l7pol_when(&a, "source.ip", STRS("10.1.0.0/16"), STRS("10.1.9.9"));
	l7pol_when(&a, "destination.port", STRS("8080"), (weft_av_strs_t){ 0 });
	const weft_av_authz_t *pols[] = { &a.az };
	l7req_t ok = { .path = "/" , .want = 200 };
	assert_int_equal(l7_decide(pols, 1, &ok, NULL), 200);
	a.when[1].values = STRS("9090");
	assert_int_equal(l7_decide(pols, 1, &ok, NULL), 403);
	a.when[1].values = STRS("8080");
	a.when[0].values = STRS("10.2.0.0/16");
	assert_int_equal(l7_decide(pols, 1, &ok, NULL), 403);
	a.when[0].values = STRS("10.1.0.1");
	assert_int_equal(l7_decide(pols, 1, &ok, NULL), 200);
	a.when[0].values = STRS("not-an-ip");   /* unreadable: fails closed */
	assert_int_equal(l7_decide(pols, 1, &ok, NULL), 403);

	/* principal / namespace; plaintext (NULL) never matches */
	l7pol_t p;
	l7pol_init(&p, WEFT_AUTHZ_ALLOW, "srv/ns");
	l7pol_when(&p, "source.principal", STRS("*/ns/a/sa/client"), (weft_av_strs_t){ 0 });
	l7pol_when(&p, "source.namespace", STRS("a"), STRS("b"));
	const weft_av_authz_t *p2[] = { &p.az };
	assert_int_equal(l7_decide(p2, 1, &ok, TD "/ns/a/sa/client"), 200);
	assert_int_equal(l7_decide(p2, 1, &ok, NULL), 403);
	p.when[0].values = STRS(TD "/ns/a/sa/other");
	assert_int_equal(l7_decide(p2, 1, &ok, TD "/ns/a/sa/client"), 403);

	/* request.auth.*: never matches for ALLOW, always for DENY */
	l7pol_t ra, rd;
	l7pol_init(&ra, WEFT_AUTHZ_ALLOW, "srv/jwt");
	l7pol_when(&ra, "request.auth.claims[iss]", STRS("https://issuer"), (weft_av_strs_t){ 0 });
	const weft_av_authz_t *p3[] = { &ra.az };
	assert_int_equal(l7_decide(p3, 1, &ok, TD "/ns/a/sa/client"), 403);
	l7pol_init(&rd, WEFT_AUTHZ_DENY, "srv/jwt-deny");
	l7pol_when(&rd, "request.auth.principal", STRS("bad"), (weft_av_strs_t){ 0 });
	const weft_av_authz_t *p4[] = { &rd.az };
	assert_int_equal(l7_decide(p4, 1, &ok, TD "/ns/a/sa/client"), 403);
	/* the rest of the DENY rule still has to match */
	weft_av_source_t src = { .namespaces = STRS("zzz") };
	rd.rule.nfrom = 1;
	rd.rule.from = &src;
	assert_int_equal(l7_decide(p4, 1, &ok, TD "/ns/a/sa/client"), 200);
}

/* Rules whose L7 parts the view did not carry, or unreadable rules, fail
 * closed; L4-only rules behave as in weft_authz_eval. */
static void test_l7_fail_closed_and_l4(void **st)
{
	l7pol_t a, d;
	l7req_t ok = { .path = "/", .want = 200 };
	l7pol_init(&a, WEFT_AUTHZ_ALLOW, "srv/empty-l7");
	l7pol_op(&a);            /* has_l7 but no lists */
	const weft_av_authz_t *p1[] = { &a.az };
	assert_int_equal(l7_decide(p1, 1, &ok, NULL), 403);
	a.rule.has_l7_when = true;   /* when named, none carried */
	a.op.has_l7 = false;
	assert_int_equal(l7_decide(p1, 1, &ok, NULL), 403);
	a.rule.has_l7_when = false;
	assert_int_equal(l7_decide(p1, 1, &ok, NULL), 200);
	a.rule.invalid = true;
	assert_int_equal(l7_decide(p1, 1, &ok, NULL), 403);

	l7pol_init(&d, WEFT_AUTHZ_DENY, "srv/empty-l7-deny");
	l7pol_op(&d);
	const weft_av_authz_t *p2[] = { &d.az };
	assert_int_equal(l7_decide(p2, 1, &ok, NULL), 403);
	/* a DENY on another port does not apply */
	uint16_t port = 9999;
	d.op.nports = 1;
	d.op.ports = &port;
	assert_int_equal(l7_decide(p2, 1, &ok, NULL), 200);

	/* AUDIT marks, it never decides */
	l7pol_t au;
	l7pol_init(&au, WEFT_AUTHZ_AUDIT, "srv/audit");
	l7pol_op(&au);
	au.op.paths = STRS("/audited*");
	const weft_av_authz_t *p3[] = { &au.az };
	weft_av_workload_t w = { .uid = "srv/w", .npolicies = 1, .policies = p3 };
	weft_authz_input_t in = { NULL, NULL, { { 0 }, false }, 80 };
	weft_http_head_t h = { .method = weft_str_c("GET"), .authority = weft_str_c("x") };
	weft_authz_l7_t req = { &h, weft_str_c("/audited/1") };
	weft_authz_result_t r;
	weft_authz_eval_l7(&w, &in, &req, &r);
	assert_true(r.allow);
	assert_true(r.audit);
	req.path = weft_str_c("/other");
	weft_authz_eval_l7(&w, &in, &req, &r);
	assert_false(r.audit);
	/* at L4 the same path rule fails closed: AUDIT does not mark */
	weft_authz_eval(&w, &in, &r);
	assert_true(r.allow);
	assert_false(r.audit);
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
		cmocka_unit_test(test_l7_path_bypasses),
		cmocka_unit_test(test_l7_hosts_methods),
		cmocka_unit_test(test_l7_header_values),
		cmocka_unit_test(test_l7_when_keys),
		cmocka_unit_test(test_l7_fail_closed_and_l4),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
