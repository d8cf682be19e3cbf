/* Unit tests for L7 route selection and filters (src/agent/l7_route.c):
 * hand-built service ports with route rules, requests as protocol-neutral
 * heads, the selected (route, rule, match) and the edited heads. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include "weft/arena.h"
#include "weft/http.h"
#include "weft/l7.h"
#include "weft/str.h"

#define S(x) weft_str_c(x)

static weft_route_match_t path_m(weft_match_type_t t, const char *p)
{
	return (weft_route_match_t){ .path_type = t, .path = S(p) };
}

static weft_av_route_rule_t rule(const char *route, uint32_t order, uint32_t idx,
				 weft_route_match_t *m, size_t nm)
{
	return (weft_av_route_rule_t){ .route = route, .route_order = order, .rule_index = idx,
				       .matches = m, .nmatches = nm };
}

typedef struct req {
	const char *method, *authority, *path;
	const char *hdrs[6];
} req_t;

/* Selects for q; returns "route#rule/match", "404" (EAGAIN) or "none" (EFAIL). */
static const char *sel(const weft_av_port_t *p, const req_t *q, weft_l7_route_sel_t *out)
{
	static char buf[128];
	weft_hdr_t hdrs[3];
	weft_http_head_t h = { .ver = WEFT_HTTP_11, .content_length = -1, .hdrs = hdrs };
	weft_l7_route_sel_t s = { 0 };

	h.method = S(q->method ? q->method : "GET");
	h.authority = S(q->authority ? q->authority : "svc.ns");
	h.path = S(q->path ? q->path : "/");
	for (size_t i = 0; q->hdrs[2 * i]; i++) {
		hdrs[i].name = S(q->hdrs[2 * i]);
		hdrs[i].value = S(q->hdrs[2 * i + 1]);
		h.nhdrs++;
	}
	int rc = weft_l7_route_select(p, &h, &s);
	if (out)
		*out = s;
	if (rc == WEFT_EAGAIN)
		return "404";
	if (rc == WEFT_EFAIL)
		return "none";
	assert_int_equal(rc, WEFT_OK);
	snprintf(buf, sizeof(buf), "%s#%u/%d", s.rule->route, s.rule->rule_index, s.match);
	return buf;
}

#define SEL(p, want, ...) do { req_t q_ = { __VA_ARGS__ }; assert_string_equal(sel(p, &q_, NULL), want); } while (0)

static void test_no_rules(void **st)
{
	weft_av_port_t p = { .port = 80, .l7 = true };
	SEL(&p, "none", .path = "/");
}

static void test_path_kinds(void **st)
{
	weft_route_match_t m0[] = { path_m(WEFT_MATCH_PREFIX, "/foo") };
	weft_route_match_t m1[] = { path_m(WEFT_MATCH_EXACT, "/foo/bar") };
	weft_route_match_t m2[] = { path_m(WEFT_MATCH_PREFIX, "/foo/bar/") };
	weft_route_match_t m3[] = { path_m(WEFT_MATCH_REGEX, "/img/[0-9]+\\.(?:png|jpg)") };
	weft_av_route_rule_t r[] = {
		rule("ns/a", 0, 0, m0, 1), rule("ns/a", 0, 1, m1, 1),
		rule("ns/b", 1, 0, m2, 1), rule("ns/c", 2, 0, m3, 1),
	};
	weft_av_port_t p = { .port = 80, .l7 = true, .rules = r, .nrules = 4 };

	/* element-wise prefixes */
	SEL(&p, "ns/a#0/0", .path = "/foo");
	SEL(&p, "ns/a#0/0", .path = "/foo/");
	SEL(&p, "ns/a#0/0", .path = "/foo/baz?x=1");
	SEL(&p, "404", .path = "/foobar");
	SEL(&p, "404", .path = "/fo");
	/* exact beats any prefix; the longest prefix beats shorter ones */
	SEL(&p, "ns/a#1/0", .path = "/foo/bar");
	SEL(&p, "ns/a#1/0", .path = "/foo/bar?q");
	SEL(&p, "ns/b#0/0", .path = "/foo/bar/");
	SEL(&p, "ns/b#0/0", .path = "/foo/bar/x");
	SEL(&p, "ns/a#0/0", .path = "/foo/barx");
	/* regex: full match, RE2 non-capturing groups */
	SEL(&p, "ns/c#0/0", .path = "/img/12.png");
	SEL(&p, "404", .path = "/img/12.png.exe");
	SEL(&p, "404", .path = "/x/img/12.png");
	weft_l7_regex_cache_clear();
}

static void test_headers_query_method(void **st)
{
	weft_str_match_t h1[] = { { .type = WEFT_MATCH_EXACT, .name = S("X-Canary"), .value = S("1") } };
	weft_str_match_t h2[] = { { .type = WEFT_MATCH_EXACT, .name = S("x-canary"), .value = S("1") },
				  { .type = WEFT_MATCH_REGEX, .name = S("user-agent"), .value = S(".*Firefox.*") } };
	weft_str_match_t q1[] = { { .type = WEFT_MATCH_EXACT, .name = S("v"), .value = S("2") } };
	weft_route_match_t m0[] = { { .path_type = WEFT_MATCH_PREFIX, .path = S("/") } };
	weft_route_match_t m1[] = { { .path_type = WEFT_MATCH_PREFIX, .path = S("/"), .headers = h1, .nheaders = 1 } };
	weft_route_match_t m2[] = { { .path_type = WEFT_MATCH_PREFIX, .path = S("/"), .headers = h2, .nheaders = 2 } };
	weft_route_match_t m3[] = { { .path_type = WEFT_MATCH_PREFIX, .path = S("/"), .query = q1, .nquery = 1 } };
	weft_route_match_t m4[] = { { .path_type = WEFT_MATCH_PREFIX, .path = S("/"), .method = S("POST") } };
	weft_av_route_rule_t r[] = {
		rule("ns/base", 0, 0, m0, 1), rule("ns/meth", 1, 0, m4, 1), rule("ns/query", 2, 0, m3, 1),
		rule("ns/one", 3, 0, m1, 1), rule("ns/two", 4, 0, m2, 1),
	};
	weft_av_port_t p = { .port = 80, .l7 = true, .rules = r, .nrules = 5 };

	SEL(&p, "ns/base#0/0", .path = "/x");
	SEL(&p, "ns/one#0/0", .path = "/x", .hdrs = { "x-canary", "1" });
	SEL(&p, "ns/one#0/0", .path = "/x", .hdrs = { "x-canary", "0", "x-canary", "1" });
	SEL(&p, "ns/base#0/0", .path = "/x", .hdrs = { "x-canary", "01" });
	SEL(&p, "ns/two#0/0", .path = "/x", .hdrs = { "x-canary", "1", "user-agent", "Mozilla Firefox/1" });
	SEL(&p, "ns/one#0/0", .path = "/x", .hdrs = { "x-canary", "1", "user-agent", "curl" });
	/* headers before query before method */
	SEL(&p, "ns/one#0/0", .method = "POST", .path = "/x?v=2", .hdrs = { "x-canary", "1" });
	SEL(&p, "ns/query#0/0", .method = "POST", .path = "/x?a=b&v=2");
	SEL(&p, "ns/meth#0/0", .method = "POST", .path = "/x?v=20");
	SEL(&p, "ns/base#0/0", .method = "post", .path = "/x?vv=2");
	weft_l7_regex_cache_clear();
}

static void test_hostnames(void **st)
{
	const char *hn_exact[] = { "api.example.com" };
	const char *hn_wild[] = { "*.example.com" };
	const char *hn_wild2[] = { "*.eu.example.com" };
	weft_route_match_t exact_path[] = { path_m(WEFT_MATCH_EXACT, "/x") };
	weft_av_route_rule_t r[] = {
		rule("ns/any", 0, 0, exact_path, 1),   /* no hostnames, exact path */
		rule("ns/wild", 1, 0, NULL, 0), rule("ns/wild2", 2, 0, NULL, 0), rule("ns/exact", 3, 0, NULL, 0),
	};
	r[1].hostnames = hn_wild, r[1].nhostnames = 1;
	r[2].hostnames = hn_wild2, r[2].nhostnames = 1;
	r[3].hostnames = hn_exact, r[3].nhostnames = 1;
	weft_av_port_t p = { .port = 80, .l7 = true, .rules = r, .nrules = 4 };

	/* hostname precedence comes before the path */
	SEL(&p, "ns/exact#0/-1", .authority = "API.Example.com:8080", .path = "/x");
	SEL(&p, "ns/wild2#0/-1", .authority = "a.eu.example.com", .path = "/x");
	SEL(&p, "ns/wild#0/-1", .authority = "a.b.example.com", .path = "/x");
	SEL(&p, "ns/any#0/0", .authority = "example.com", .path = "/x");   /* "*.x" needs a label */
	SEL(&p, "404", .authority = "example.com", .path = "/y");
	SEL(&p, "ns/any#0/0", .authority = "10.96.0.1:80", .path = "/x");
}

static void test_ties_and_multiple_matches(void **st)
{
	weft_route_match_t ma[] = { path_m(WEFT_MATCH_PREFIX, "/a"), path_m(WEFT_MATCH_PREFIX, "/b") };
	weft_route_match_t mb[] = { path_m(WEFT_MATCH_PREFIX, "/b") };
	/* rules listed in route order: the older route (order 0) comes first
	 * in the list even though its rule index is larger */
	weft_av_route_rule_t r[] = {
		rule("ns/old", 0, 3, mb, 1), rule("ns/new", 1, 0, ma, 2),
	};
	weft_av_port_t p = { .port = 80, .l7 = true, .rules = r, .nrules = 2 };

	SEL(&p, "ns/old#3/0", .path = "/b/1");
	SEL(&p, "ns/new#0/0", .path = "/a");
	/* the same route's rules: rule order */
	weft_av_route_rule_t r2[] = { rule("ns/x", 0, 0, mb, 1), rule("ns/x", 0, 1, mb, 1) };
	weft_av_port_t p2 = { .port = 80, .l7 = true, .rules = r2, .nrules = 2 };
	SEL(&p2, "ns/x#0/0", .path = "/b");
}

static void test_grpc(void **st)
{
	weft_route_match_t m0[] = { { .grpc_type = WEFT_MATCH_EXACT, .grpc_service = S("echo.Echo"),
				      .grpc_method = S("Say") } };
	weft_route_match_t m1[] = { { .grpc_type = WEFT_MATCH_EXACT, .grpc_service = S("echo.Echo") } };
	weft_route_match_t m2[] = { { .grpc_type = WEFT_MATCH_REGEX, .grpc_service = S("admin\\..*") } };
	weft_av_route_rule_t r[] = { rule("ns/g", 0, 0, m0, 1), rule("ns/g", 0, 1, m1, 1), rule("ns/g", 0, 2, m2, 1) };
	for (size_t i = 0; i < 3; i++)
		r[i].kind = WEFT_ROUTE_GRPC;
	weft_av_port_t p = { .port = 9000, .l7 = true, .rules = r, .nrules = 3 };

	SEL(&p, "ns/g#0/0", .method = "POST", .path = "/echo.Echo/Say");
	SEL(&p, "ns/g#1/0", .method = "POST", .path = "/echo.Echo/Other");
	SEL(&p, "ns/g#2/0", .method = "POST", .path = "/admin.Users/List");
	SEL(&p, "404", .method = "POST", .path = "/other.Svc/Say");
	SEL(&p, "404", .method = "POST", .path = "/echo.Echo");
	SEL(&p, "404", .method = "POST", .path = "/echo.Echo/Say/extra");
	weft_l7_regex_cache_clear();
}

static void test_backend_pick(void **st)
{
	weft_av_backend_t b[] = { { "ns/v1", 80, 90 }, { "ns/v2", 80, 10 }, { "ns/off", 80, 0 } };
	weft_av_route_rule_t r = { .backends = b, .nbackends = 3 };
	unsigned n[3] = { 0 };
	uint64_t rnd = 42;

	for (int i = 0; i < 10000; i++) {
		const weft_av_backend_t *x = weft_l7_backend_pick(&r, &rnd);
		assert_non_null(x);
		n[x - b]++;
	}
	assert_int_equal(n[2], 0);
	assert_true(n[0] > 8500 && n[0] < 9500);
	assert_true(n[1] > 500 && n[1] < 1500);
	b[0].weight = b[1].weight = 0;
	assert_null(weft_l7_backend_pick(&r, &rnd));
	r.nbackends = 0;
	assert_null(weft_l7_backend_pick(&r, &rnd));
}

/* Runs the request filters of a one-rule port for path and returns the
 * resulting path (or Location when redirected, prefixed "<status> "). */
static const char *filt(weft_arena_t *a, weft_av_route_rule_t *r, const char *authority, const char *path,
			weft_hmsg_t *out)
{
	weft_av_port_t p = { .port = 80, .l7 = true, .rules = r, .nrules = 1 };
	weft_http_head_t h = { .ver = WEFT_HTTP_11, .method = S("GET"), .scheme = S("http"),
			       .authority = S(authority), .path = S(path), .content_length = -1 };
	weft_l7_route_sel_t s;
	weft_l7_redirect_t redir;

	assert_int_equal(weft_l7_route_select(&p, &h, &s), WEFT_OK);
	assert_int_equal(weft_hmsg_copy(out, a, &h), WEFT_OK);
	assert_int_equal(weft_l7_request_filters(&s, out, &redir), WEFT_OK);
	if (redir.status)
		return weft_arena_printf(a, "%d %.*s", redir.status, (int)redir.location.len, redir.location.p);
	return weft_arena_printf(a, "%.*s", (int)out->h.path.len, out->h.path.p);
}

static void test_rewrite(void **st)
{
	weft_arena_t a;
	weft_hmsg_t m;
	weft_route_match_t mp[] = { path_m(WEFT_MATCH_PREFIX, "/foo") };
	weft_route_match_t mps[] = { path_m(WEFT_MATCH_PREFIX, "/foo/") };
	weft_filter_t f = { .type = WEFT_FILTER_URL_REWRITE };
	weft_av_route_rule_t r = rule("ns/rw", 0, 0, mp, 1);
	r.filters = &f;
	r.nfilters = 1;
	weft_arena_init(&a, 0);

	f.rewrite.path_mod = WEFT_PATH_MOD_PREFIX;
	f.rewrite.path = S("/xyz");
	assert_string_equal(filt(&a, &r, "h", "/foo/bar?q=1", &m), "/xyz/bar?q=1");
	assert_string_equal(filt(&a, &r, "h", "/foo", &m), "/xyz");
	assert_string_equal(filt(&a, &r, "h", "/foo/", &m), "/xyz/");
	f.rewrite.path = S("/xyz/");
	assert_string_equal(filt(&a, &r, "h", "/foo/bar", &m), "/xyz/bar");
	f.rewrite.path = S("/");
	assert_string_equal(filt(&a, &r, "h", "/foo/bar", &m), "/bar");
	assert_string_equal(filt(&a, &r, "h", "/foo", &m), "/");
	assert_string_equal(filt(&a, &r, "h", "/foo?x", &m), "/?x");
	r.matches = mps;   /* a trailing slash in the match does not count */
	f.rewrite.path = S("/xyz");
	assert_string_equal(filt(&a, &r, "h", "/foo/bar", &m), "/xyz/bar");
	r.matches = NULL, r.nmatches = 0;   /* no match: the prefix is "/" */
	assert_string_equal(filt(&a, &r, "h", "/foo/bar", &m), "/xyz/foo/bar");
	f.rewrite.path_mod = WEFT_PATH_MOD_FULL;
	f.rewrite.path = S("/full");
	f.rewrite.hostname = S("backend.internal");
	assert_string_equal(filt(&a, &r, "h:8080", "/foo/bar?k=v", &m), "/full?k=v");
	assert_true(weft_str_eq_c(m.h.authority, "backend.internal"));
	weft_arena_destroy(&a);
}

static void test_redirect(void **st)
{
	weft_arena_t a;
	weft_hmsg_t m;
	weft_route_match_t mp[] = { path_m(WEFT_MATCH_PREFIX, "/old") };
	weft_filter_t f = { .type = WEFT_FILTER_REDIRECT };
	weft_av_route_rule_t r = rule("ns/rd", 0, 0, mp, 1);
	r.filters = &f;
	r.nfilters = 1;
	weft_arena_init(&a, 0);

	assert_string_equal(filt(&a, &r, "svc.ns", "/old/x?q", &m), "301 http://svc.ns/old/x?q");
	assert_string_equal(filt(&a, &r, "svc.ns:8080", "/old", &m), "301 http://svc.ns:8080/old");
	f.redirect.scheme = S("https");
	f.redirect.status = 302;
	assert_string_equal(filt(&a, &r, "svc.ns:8080", "/old", &m), "302 https://svc.ns/old");
	f.redirect.port = 8443;
	f.redirect.hostname = S("new.example.com");
	f.redirect.path_mod = WEFT_PATH_MOD_PREFIX;
	f.redirect.path = S("/new");
	assert_string_equal(filt(&a, &r, "svc.ns", "/old/a/b?c=d", &m), "302 https://new.example.com:8443/new/a/b?c=d");
	f.redirect.port = 443;
	f.redirect.path_mod = WEFT_PATH_MOD_FULL;
	f.redirect.path = S("/landing");
	assert_string_equal(filt(&a, &r, "[fd00::1]:80", "/old", &m), "302 https://new.example.com/landing");
	f.redirect.hostname = S("");
	f.redirect.scheme = S("");
	f.redirect.port = 0;
	f.redirect.path_mod = WEFT_PATH_MOD_NONE;
	assert_string_equal(filt(&a, &r, "[fd00::1]:81", "/old", &m), "302 http://[fd00::1]:81/old");
	weft_arena_destroy(&a);
}

static void test_header_filters_and_mirrors(void **st)
{
	weft_arena_t a;
	weft_hmsg_t m, resp;
	weft_kv_t set[] = { { S("X-Env"), S("prod") } };
	weft_kv_t add[] = { { S("x-trace"), S("b") } };
	weft_str_t rm[] = { S("X-Secret") };
	weft_filter_t f[3] = {
		{ .type = WEFT_FILTER_REQUEST_HEADER,
		  .headers = { .nset = 1, .set = set, .nadd = 1, .add = add, .nremove = 1, .remove = rm } },
		{ .type = WEFT_FILTER_MIRROR },
		{ .type = WEFT_FILTER_RESPONSE_HEADER, .headers = { .nset = 1, .set = set } },
	};
	weft_av_route_rule_t r = rule("ns/h", 0, 0, NULL, 0);
	weft_hdr_t hdrs[] = { { S("x-env"), S("dev") }, { S("x-env"), S("qa") }, { S("x-trace"), S("a") },
			      { S("x-secret"), S("s") } };
	weft_av_port_t p = { .port = 80, .l7 = true, .rules = &r, .nrules = 1 };
	weft_http_head_t h = { .ver = WEFT_HTTP_11, .method = S("GET"), .authority = S("h"), .path = S("/"),
			       .hdrs = hdrs, .nhdrs = 4, .content_length = -1 };
	weft_l7_route_sel_t s;
	weft_l7_redirect_t redir;
	const weft_filter_t *mir[4];

	r.filters = f;
	r.nfilters = 3;
	weft_arena_init(&a, 0);
	assert_int_equal(weft_l7_route_select(&p, &h, &s), WEFT_OK);
	assert_int_equal(s.match, -1);
	assert_int_equal(weft_hmsg_copy(&m, &a, &h), WEFT_OK);
	assert_int_equal(weft_l7_request_filters(&s, &m, &redir), WEFT_OK);
	assert_int_equal(redir.status, 0);
	assert_int_equal(m.h.nhdrs, 3);
	assert_true(weft_str_eq_c(m.h.hdrs[0].name, "x-env") && weft_str_eq_c(m.h.hdrs[0].value, "prod"));
	assert_true(weft_str_eq_c(m.h.hdrs[1].name, "x-trace") && weft_str_eq_c(m.h.hdrs[1].value, "a"));
	assert_true(weft_str_eq_c(m.h.hdrs[2].name, "x-trace") && weft_str_eq_c(m.h.hdrs[2].value, "b"));

	weft_hmsg_init(&resp, &a);
	resp.h.status = 200;
	assert_int_equal(weft_l7_response_filters(&s, &resp), WEFT_OK);
	assert_int_equal(resp.h.nhdrs, 1);
	assert_true(weft_str_eq_c(resp.h.hdrs[0].name, "x-env"));

	assert_int_equal(weft_l7_mirrors(&r, mir, 4), 1);
	assert_ptr_equal(mir[0], &f[1]);
	assert_int_equal(weft_l7_mirrors(&r, mir, 0), 0);
	weft_arena_destroy(&a);
}

/* The regex side table: many distinct patterns (more than it holds),
 * invalid ones, RE2 forms. */
static void test_regex(void **st)
{
	char pat[32], val[32];

	for (int i = 0; i < 200; i++) {
		snprintf(pat, sizeof(pat), "/p%d/[a-z]+", i);
		snprintf(val, sizeof(val), "/p%d/abc", i);
		assert_true(weft_l7_regex_match(S(pat), S(val)));
		assert_false(weft_l7_regex_match(S(pat), S("/p/abc")));
	}
	assert_true(weft_l7_regex_match(S("/p7/[a-z]+"), S("/p7/x")));
	assert_false(weft_l7_regex_match(S("(unclosed"), S("(unclosed")));
	assert_false(weft_l7_regex_match(S("(unclosed"), S("x")));
	assert_true(weft_l7_regex_match(S("(?i)abc"), S("ABC")));
	assert_true(weft_l7_regex_match(S("v\\d+"), S("v12")));
	assert_false(weft_l7_regex_match(S("v\\d+"), S("vx")));
	assert_true(weft_l7_regex_match(S("(?P<n>a+?)b"), S("aab")));
	assert_true(weft_l7_regex_match(S("a|b"), S("b")));
	assert_false(weft_l7_regex_match(S("a|b"), S("ab")));
	assert_true(weft_l7_regex_match(S(".*"), S("")));
	weft_l7_regex_cache_clear();
	weft_l7_regex_cache_clear();
	assert_true(weft_l7_regex_match(S("x+"), S("xx")));
	weft_l7_regex_cache_clear();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_rules),
		cmocka_unit_test(test_path_kinds),
		cmocka_unit_test(test_headers_query_method),
		cmocka_unit_test(test_hostnames),
		cmocka_unit_test(test_ties_and_multiple_matches),
		cmocka_unit_test(test_grpc),
		cmocka_unit_test(test_backend_pick),
		cmocka_unit_test(test_rewrite),
		cmocka_unit_test(test_redirect),
		cmocka_unit_test(test_header_filters_and_mirrors),
		cmocka_unit_test(test_regex),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
