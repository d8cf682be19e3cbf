/* Unit tests for the L7 fields of DestinationPolicy (src/control/
 * kind_destpolicy.c): loadBalancer Maglev and hash cookies,
 * outlierDetection.successRate, faultInjection.headers, rateLimit and
 * healthCheck, with their defaults, and each bad value reported at its
 * file:line and field. base.yaml (cfg_test_util.h) provides Service echo. */
#include "cfg_test_util.h"

#define DP(body) "apiVersion: weft.dev/v1alpha1\nkind: DestinationPolicy\nmetadata: {name: p}\nspec:\n" \
	"  targetRef: {name: echo}\n" body

/* Loads t.yaml (with base.yaml) and returns echo's policy; fails the test
 * when the set is invalid. */
static const weft_dest_policy_t *policy_of(weft_model_t **mp, const char *yaml)
{
	weft_cfg_errors_t errs;
	weft_model_t *m = load_with_base(&errs, yaml);
	const weft_service_t *s;

	if (!m)
		dump_errors(&errs);
	assert_non_null(m);
	weft_cfg_errors_free(&errs);
	s = weft_model_service(m, weft_str_c("default"), weft_str_c("echo"));
	assert_non_null(s);
	assert_non_null(s->policy);
	*mp = m;
	return s->policy;
}

static void test_all_blocks(void **st)
{
	weft_model_t *m;
	const weft_dest_policy_t *p = policy_of(&m, DP(
		"  loadBalancer:\n"
		"    type: Maglev\n"
		"    maglev: {header: x-user, cookie: session, sourceIP: true}\n"
		"  outlierDetection:\n"
		"    consecutive5xx: 3\n"
		"    successRate: {stdevFactor: 1500, minimumHosts: 3, requestVolume: 20}\n"
		"  faultInjection:\n"
		"    abort: {httpStatus: 503, percentage: 10}\n"
		"    headers: [{name: x-fault, value: 'yes'}, {name: x-user, value: 'a.*', type: RegularExpression}]\n"
		"  rateLimit: {maxTokens: 100, tokensPerFill: 10, fillInterval: 1s, perRoute: true}\n"
		"  healthCheck: {type: GRPC, path: echo.Echo, interval: 2s, timeout: 500ms, unhealthyThreshold: 4,\n"
		"                healthyThreshold: 3}\n"));

	assert_int_equal(p->lb.type, WEFT_LB_MAGLEV);
	assert_true(p->lb.type_set);
	assert_true(seq(p->lb.hash_header, "x-user"));
	assert_true(seq(p->lb.hash_cookie, "session"));
	assert_true(p->lb.hash_source_ip);
	assert_true(p->outlier.set);
	assert_int_equal(p->outlier.consecutive_5xx, 3);
	assert_int_equal(p->outlier.sr_stdev_factor_milli, 1500);
	assert_int_equal(p->outlier.sr_min_hosts, 3);
	assert_int_equal(p->outlier.sr_request_volume, 20);
	assert_true(p->fault.set);
	assert_int_equal(p->fault.abort_http_status, 503);
	assert_int_equal(p->fault.abort_ppm, 100000);
	assert_int_equal(p->fault.nheaders, 2);
	assert_int_equal(p->fault.headers[0].type, WEFT_MATCH_EXACT);
	assert_true(seq(p->fault.headers[0].name, "x-fault"));
	assert_true(seq(p->fault.headers[0].value, "yes"));
	assert_int_equal(p->fault.headers[1].type, WEFT_MATCH_REGEX);
	assert_true(seq(p->fault.headers[1].value, "a.*"));
	assert_true(p->rate_limit.set);
	assert_int_equal(p->rate_limit.max_tokens, 100);
	assert_int_equal(p->rate_limit.tokens_per_fill, 10);
	assert_int_equal(p->rate_limit.fill_interval_ms, 1000);
	assert_true(p->rate_limit.per_route);
	assert_true(p->health.set);
	assert_true(p->health.grpc);
	assert_true(seq(p->health.path, "echo.Echo"));
	assert_int_equal(p->health.interval_ms, 2000);
	assert_int_equal(p->health.timeout_ms, 500);
	assert_int_equal(p->health.unhealthy_threshold, 4);
	assert_int_equal(p->health.healthy_threshold, 3);
	weft_model_free(m);
}

static void test_defaults(void **st)
{
	weft_model_t *m;
	const weft_dest_policy_t *p = policy_of(&m, DP(
		"  loadBalancer:\n"
		"    ringHash: {cookie: sticky}\n"
		"  outlierDetection:\n"
		"    successRate: {}\n"
		"  rateLimit: {maxTokens: 5, fillInterval: 250ms}\n"
		"  healthCheck: {}\n"));

	/* type not written: RingHash settings alone do not set it */
	assert_false(p->lb.type_set);
	assert_int_equal(p->lb.type, WEFT_LB_ROUND_ROBIN);
	assert_true(seq(p->lb.hash_cookie, "sticky"));
	assert_int_equal(p->outlier.sr_stdev_factor_milli, 1900);
	assert_int_equal(p->outlier.sr_min_hosts, 5);
	assert_int_equal(p->outlier.sr_request_volume, 100);
	assert_int_equal(p->rate_limit.tokens_per_fill, 1);
	assert_int_equal(p->rate_limit.fill_interval_ms, 250);
	assert_false(p->rate_limit.per_route);
	assert_true(p->health.set);
	assert_false(p->health.grpc);
	assert_true(seq(p->health.path, "/healthz"));
	assert_int_equal(p->health.interval_ms, 5000);
	assert_int_equal(p->health.timeout_ms, 1000);
	assert_int_equal(p->health.unhealthy_threshold, 2);
	assert_int_equal(p->health.healthy_threshold, 1);
	assert_false(p->fault.set);
	weft_model_free(m);

	/* nothing L7: every new block unset */
	p = policy_of(&m, DP("  loadBalancer: {type: LeastRequest}\n"));
	assert_true(p->lb.type_set);
	assert_false(p->rate_limit.set);
	assert_false(p->health.set);
	assert_int_equal(p->outlier.sr_stdev_factor_milli, 0);
	assert_int_equal(p->lb.hash_cookie.len, 0);
	weft_model_free(m);
}

typedef struct err_case {
	const char *name;
	const char *yaml;
	unsigned line;
	const char *field;
	const char *msg;
} err_case_t;

/* spec's own lines start at line 6 (line 5 is targetRef) */
static const err_case_t cases[] = {
	{ "maglev without type", DP("  loadBalancer:\n    maglev: {header: x}\n"), 7, "spec.loadBalancer.maglev",
	  "maglev settings need type: Maglev" },
	{ "maglev unknown field", DP("  loadBalancer:\n    type: Maglev\n    maglev: {tableSize: 7}\n"), 8,
	  "spec.loadBalancer.maglev.tableSize", "unknown field" },
	{ "bad cookie", DP("  loadBalancer:\n    ringHash: {cookie: 'a b'}\n"), 7,
	  "spec.loadBalancer.ringHash.cookie", "invalid cookie name \"a b\"" },
	{ "bad maglev cookie", DP("  loadBalancer:\n    type: Maglev\n    maglev:\n      cookie: 'x;y'\n"), 9,
	  "spec.loadBalancer.maglev.cookie", "invalid cookie name" },
	{ "stdev range", DP("  outlierDetection:\n    successRate: {stdevFactor: 0}\n"), 7,
	  "spec.outlierDetection.successRate.stdevFactor", "out of range" },
	{ "min hosts", DP("  outlierDetection:\n    successRate:\n      minimumHosts: -1\n"), 8,
	  "spec.outlierDetection.successRate.minimumHosts", "out of range" },
	{ "sr type", DP("  outlierDetection:\n    successRate: [1]\n"), 7, "spec.outlierDetection.successRate",
	  "expected a mapping" },
	{ "fault header regex", DP("  faultInjection:\n    abort: {httpStatus: 500}\n"
				   "    headers: [{name: x, value: '(a', type: RegularExpression}]\n"), 8,
	  "spec.faultInjection.headers[0].value", "" },
	{ "fault header name", DP("  faultInjection:\n    delay: {fixedDelay: 1s}\n"
				  "    headers:\n    - {name: 'bad name', value: v}\n"), 9,
	  "spec.faultInjection.headers[0].name", "invalid name" },
	{ "fault header type", DP("  faultInjection:\n    delay: {fixedDelay: 1s}\n"
				  "    headers: [{name: x, value: v, type: Prefix}]\n"), 8,
	  "spec.faultInjection.headers[0].type", "\"Prefix\" is not one of" },
	{ "fault headers only", DP("  faultInjection:\n    headers: [{name: x, value: v}]\n"), 7,
	  "spec.faultInjection", "delay or abort is required" },
	{ "rate no tokens", DP("  rateLimit: {fillInterval: 1s}\n"), 6, "spec.rateLimit.maxTokens",
	  "required field is missing" },
	{ "rate zero tokens", DP("  rateLimit: {maxTokens: 0, fillInterval: 1s}\n"), 6, "spec.rateLimit.maxTokens",
	  "out of range (1..4294967295)" },
	{ "rate per fill", DP("  rateLimit:\n    maxTokens: 1\n    tokensPerFill: 0\n    fillInterval: 1s\n"), 8,
	  "spec.rateLimit.tokensPerFill", "out of range" },
	{ "rate no interval", DP("  rateLimit: {maxTokens: 1}\n"), 6, "spec.rateLimit.fillInterval",
	  "required field is missing" },
	{ "rate zero interval", DP("  rateLimit:\n    maxTokens: 1\n    fillInterval: 0ms\n"), 8,
	  "spec.rateLimit.fillInterval", "must be at least 1ms" },
	{ "rate bad interval", DP("  rateLimit:\n    maxTokens: 1\n    fillInterval: soon\n"), 8,
	  "spec.rateLimit.fillInterval", "" },
	{ "rate per route", DP("  rateLimit: {maxTokens: 1, fillInterval: 1s, perRoute: maybe}\n"), 6,
	  "spec.rateLimit.perRoute", "" },
	{ "health type", DP("  healthCheck: {type: TCP}\n"), 6, "spec.healthCheck.type", "\"TCP\" is not one of" },
	{ "health path", DP("  healthCheck:\n    path: healthz\n"), 7, "spec.healthCheck.path", "must start with" },
	{ "health interval", DP("  healthCheck:\n    interval: 0s\n"), 7, "spec.healthCheck.interval",
	  "must be at least 1ms" },
	{ "health timeout", DP("  healthCheck:\n    timeout: 0ms\n"), 7, "spec.healthCheck.timeout",
	  "must be at least 1ms" },
	{ "health threshold", DP("  healthCheck:\n    unhealthyThreshold: 0\n"), 7,
	  "spec.healthCheck.unhealthyThreshold", "out of range (1..1000)" },
	{ "health healthy threshold", DP("  healthCheck: {healthyThreshold: 1001}\n"), 6,
	  "spec.healthCheck.healthyThreshold", "out of range (1..1000)" },
	{ "health unknown", DP("  healthCheck: {port: 8080}\n"), 6, "spec.healthCheck.port", "unknown field" },
};

static void test_errors(void **st)
{
	size_t failed = 0;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const err_case_t *c = &cases[i];
		weft_cfg_errors_t errs;
		weft_model_t *m = load_with_base(&errs, c->yaml);

		if (m || !has_error(&errs, "t.yaml", c->line, c->field, c->msg)) {
			fprintf(stderr, "case \"%s\": expected t.yaml:%u: %s: ...%s... among:\n", c->name, c->line,
				c->field, c->msg);
			dump_errors(&errs);
			failed++;
		}
		weft_model_free(m);
		weft_cfg_errors_free(&errs);
	}
	assert_int_equal(failed, 0);
}

/* a gRPC health check may name no service (the server's overall health) */
static void test_grpc_health_default(void **st)
{
	weft_model_t *m;
	const weft_dest_policy_t *p = policy_of(&m, DP("  healthCheck: {type: GRPC}\n"));

	assert_true(p->health.grpc);
	assert_int_equal(p->health.path.len, 0);
	weft_model_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_all_blocks),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_grpc_health_default),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
