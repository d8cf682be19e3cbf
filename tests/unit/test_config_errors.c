/* Unit tests for config errors: every class of error is reported with its
 * exact file, line and field path, all errors of a set are reported, and
 * an invalid set gives no model. base.yaml (cfg_test_util.h) provides
 * Node n1 and Services echo (7070, 8080) and echo-v1 (7070). */
#include "cfg_test_util.h"

typedef struct err_case {
	const char *name;
	const char *yaml;       /* t.yaml */
	unsigned line;
	const char *field;
	const char *msg;        /* a part of the message */
} err_case_t;

#define SVC(body) "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec:\n" body
#define WL(body) "apiVersion: weft.dev/v1alpha1\nkind: Workload\nmetadata: {name: w}\nspec:\n" body
#define HR(body) "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: r}\nspec:\n" \
	"  parentRefs: [{name: echo, port: 7070}]\n" body
#define GR(body) "apiVersion: gateway.networking.k8s.io/v1\nkind: GRPCRoute\nmetadata: {name: g}\nspec:\n" \
	"  parentRefs: [{name: echo, port: 7070}]\n" body
#define DP(body) "apiVersion: weft.dev/v1alpha1\nkind: DestinationPolicy\nmetadata: {name: p}\nspec:\n" \
	"  targetRef: {name: echo}\n" body

/* In the macros above, spec's own lines start at line 5 (SVC, WL) or 6
 * (HR, GR, DP: line 5 is the parentRefs / targetRef). */
static const err_case_t cases[] = {
	/* ---- YAML ---- */
	{ "tab", "apiVersion: v1\nkind: Service\nmetadata:\n\tname: x\n", 4, "", "tabs are not allowed" },
	{ "garbage", "apiVersion: v1\nkind: [Service\nmetadata: {}\n", 3, "", "YAML syntax error" },
	{ "duplicate key", SVC("  ports: [{port: 1}]\n  ports: [{port: 2}]\n"), 6, "spec.ports",
	  "duplicate key \"ports\" (first at line 5)" },
	{ "anchor", SVC("  ports: &p [{port: 1}]\n"), 5, "spec.ports", "anchors (&p) are not supported" },
	{ "alias", "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nx: &a {}\nspec: *a\n", 5, "spec",
	  "aliases (*a) are not supported" },
	{ "non-string key", SVC("  ? [a]\n  : b\n"), 5, "spec", "mapping keys must be strings" },
	{ "not a mapping", "- a\n- b\n", 1, "", "a document must be a mapping" },

	/* ---- document level ---- */
	{ "unknown kind", "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec: {}\n", 2, "kind",
	  "unknown kind \"Pod\"" },
	{ "wrong apiVersion", "apiVersion: weft.dev/v1\nkind: Service\nmetadata: {name: x}\nspec: {ports: [{port: 1}]}\n",
	  1, "apiVersion", "kind Service needs apiVersion \"v1\"" },
	{ "unknown top field", "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nstatus: {}\nspec: {ports: [{port: 1}]}\n",
	  4, "status", "unknown field \"status\"" },
	{ "missing spec", "apiVersion: v1\nkind: Service\nmetadata: {name: x}\n", 1, "spec", "required field is missing" },
	{ "missing name", "apiVersion: v1\nkind: Service\nmetadata: {namespace: a}\nspec: {ports: [{port: 1}]}\n",
	  3, "metadata.name", "required field is missing" },
	{ "bad name", "apiVersion: v1\nkind: Service\nmetadata:\n  name: Echo_1\nspec: {ports: [{port: 1}]}\n",
	  4, "metadata.name", "not a valid name" },
	{ "bad namespace", "apiVersion: v1\nkind: Service\nmetadata: {name: a, namespace: -x}\nspec: {ports: [{port: 1}]}\n",
	  3, "metadata.namespace", "not a valid name" },
	{ "cluster-scoped", "apiVersion: weft.dev/v1alpha1\nkind: Node\nmetadata:\n  name: n\n  namespace: default\n"
	  "spec: {address: 1.1.1.1}\n", 5, "metadata.namespace", "Node is cluster-scoped" },
	{ "bad label", "apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n  labels: {app: 'a b'}\n"
	  "spec: {ports: [{port: 1}]}\n", 5, "metadata.labels.app", "invalid label value" },
	{ "duplicate object", "apiVersion: v1\nkind: Service\nmetadata: {name: echo-v1}\nspec: {ports: [{port: 1}]}\n",
	  1, "metadata.name", "duplicate Service default/echo-v1: first defined at base.yaml:13" },

	/* ---- types and ranges ---- */
	{ "string for int", SVC("  ports:\n  - port: \"7070\"\n"), 6, "spec.ports[0].port",
	  "expected an integer, got the quoted string \"7070\"" },
	{ "word for int", SVC("  ports:\n  - port: http\n"), 6, "spec.ports[0].port", "expected an integer" },
	{ "map for list", SVC("  ports: {port: 1}\n"), 5, "spec.ports", "expected a list, got a mapping" },
	{ "list for map", SVC("  ports: [{port: 1}]\n  selector: [a]\n"), 6, "spec.selector",
	  "expected a mapping, got a list" },
	{ "unknown field", SVC("  ports:\n  - port: 1\n    protocol: TCP\n"), 7, "spec.ports[0].protocol",
	  "unknown field \"protocol\"" },
	{ "port range", SVC("  ports: [{port: 65536}]\n"), 5, "spec.ports[0].port", "out of range (1..65535)" },
	{ "port zero", SVC("  ports: [{port: 0}]\n"), 5, "spec.ports[0].port", "out of range" },
	{ "negative", SVC("  ports: [{port: -1}]\n"), 5, "spec.ports[0].port", "out of range" },
	{ "bad enum", SVC("  ports: [{port: 1, appProtocol: udp}]\n"), 5, "spec.ports[0].appProtocol",
	  "\"udp\" is not one of: tcp, http, http2, grpc" },
	{ "no ports", SVC("  ports: []\n"), 5, "spec.ports", "at least one port" },
	{ "port name needed", SVC("  ports: [{port: 1, name: a}, {port: 2}]\n"), 5, "spec.ports[1].name",
	  "required when a Service has more than one port" },
	{ "dup port", SVC("  ports:\n  - {port: 1, name: a}\n  - {port: 1, name: b}\n"), 7, "spec.ports[1].port",
	  "port 1 is listed twice (first at line 6)" },
	{ "bad clusterIP", SVC("  ports: [{port: 1}]\n  clusterIP: 10.0.0.256\n"), 6, "spec.clusterIP",
	  "not an IPv4 or IPv6 address" },
	{ "bad address", WL("  addresses: [1.2.3.4, nope]\n"), 5, "spec.addresses[1]", "not an IPv4 or IPv6 address" },
	{ "no address", WL("  addresses: []\n"), 5, "spec.addresses", "at least one address" },
	{ "weight range", WL("  addresses: [1.2.3.4]\n  weight: 129\n"), 6, "spec.weight", "out of range (1..128)" },
	{ "relative netns", WL("  addresses: [1.2.3.4]\n  netns: run/ns\n"), 6, "spec.netns", "not an absolute path" },
	{ "bool", DP("  loadBalancer:\n    ringHash: {sourceIP: yes}\n"), 7, "spec.loadBalancer.ringHash.sourceIP",
	  "expected true or false" },
	{ "bad duration", DP("  retries:\n    perTryTimeout: 1s1m\n"), 7, "spec.retries.perTryTimeout",
	  "invalid duration \"1s1m\"" },
	{ "bare number duration", DP("  outlierDetection:\n    interval: 10\n"), 7, "spec.outlierDetection.interval",
	  "invalid duration" },
	{ "percent range", DP("  faultInjection:\n    delay: {fixedDelay: 1s, percentage: 100.5}\n"), 7,
	  "spec.faultInjection.delay.percentage", "invalid percentage \"100.5\"" },
	{ "percent decimals", DP("  retries:\n    budget: {percent: 1.23456}\n"), 7, "spec.retries.budget.percent",
	  "invalid percentage" },
	{ "ejection percent", DP("  outlierDetection: {maxEjectionPercent: 101}\n"), 6,
	  "spec.outlierDetection.maxEjectionPercent", "out of range (0..100)" },
	{ "backend weight", HR("  rules:\n  - backendRefs: [{name: echo, port: 7070, weight: 1000001}]\n"), 7,
	  "spec.rules[0].backendRefs[0].weight", "out of range (0..1000000)" },
	{ "mirror percent", HR("  rules:\n  - filters:\n    - type: RequestMirror\n"
			       "      requestMirror: {backendRef: {name: echo, port: 7070}, percent: 101}\n"), 9,
	  "spec.rules[0].filters[0].requestMirror.percent", "invalid percentage" },

	/* ---- references ---- */
	{ "missing node", WL("  addresses: [1.2.3.4]\n  node: n9\n"), 6, "spec.node", "no Node named \"n9\"" },
	{ "parent missing", "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: r}\nspec:\n"
	  "  parentRefs:\n  - name: nope\n  rules: [{backendRefs: [{name: echo, port: 7070}]}]\n", 6,
	  "spec.parentRefs[0]", "no Service default/nope" },
	{ "parent port", "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: r}\nspec:\n"
	  "  parentRefs: [{name: echo}, {name: echo, port: 9}]\n  rules: [{backendRefs: [{name: echo, port: 7070}]}]\n",
	  5, "spec.parentRefs[1]", "Service default/echo has no port 9" },
	{ "parent kind", "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: r}\nspec:\n"
	  "  parentRefs: [{kind: Gateway, name: echo}]\n  rules: [{}]\n", 5, "spec.parentRefs[0].kind",
	  "only kind Service is supported" },
	{ "backend missing", HR("  rules:\n  - backendRefs:\n    - {name: echo, port: 7070}\n    - {name: ghost, port: 1}\n"),
	  9, "spec.rules[0].backendRefs[1]", "no Service default/ghost" },
	{ "backend port", HR("  rules:\n  - backendRefs:\n    - name: echo-v1\n      port: 8080\n"), 8,
	  "spec.rules[0].backendRefs[0]", "Service default/echo-v1 has no port 8080" },
	{ "backend no port", HR("  rules:\n  - backendRefs:\n    - name: echo-v1\n"), 8,
	  "spec.rules[0].backendRefs[0].port", "required field is missing" },
	{ "mirror missing", HR("  rules:\n  - filters:\n    - type: RequestMirror\n"
			       "      requestMirror: {backendRef: {name: shadow, port: 1}}\n"), 9,
	  "spec.rules[0].filters[0].requestMirror.backendRef", "no Service default/shadow" },
	{ "mirror port", HR("  rules:\n  - filters:\n    - type: RequestMirror\n"
			    "      requestMirror:\n        backendRef: {name: echo, port: 1}\n"), 10,
	  "spec.rules[0].filters[0].requestMirror.backendRef", "Service default/echo has no port 1" },
	{ "policy target", "apiVersion: weft.dev/v1alpha1\nkind: DestinationPolicy\nmetadata: {name: p}\nspec:\n"
	  "  loadBalancer: {type: Random}\n  targetRef:\n    name: nope\n", 7, "spec.targetRef.name",
	  "no Service default/nope" },
	{ "policy other ns", "apiVersion: weft.dev/v1alpha1\nkind: DestinationPolicy\nmetadata: {name: p, namespace: x}\n"
	  "spec:\n  targetRef: {name: echo}\n", 5, "spec.targetRef.name", "no Service x/echo" },
	{ "two policies", DP("") "---\napiVersion: weft.dev/v1alpha1\nkind: DestinationPolicy\nmetadata: {name: p2}\n"
	  "spec:\n  targetRef: {name: echo}\n", 11, "spec.targetRef",
	  "already has DestinationPolicy p (t.yaml:1)" },

	/* ---- conflicts ---- */
	{ "conflict in one route", HR("  rules:\n"
				      "  - matches: [{path: {value: /a}}, {headers: [{name: X-A, value: b}]}]\n"
				      "    backendRefs: [{name: echo, port: 7070}]\n"
				      "  - matches: [{headers: [{name: x-a, value: b}]}, {path: {type: PathPrefix, value: /a}}]\n"
				      "    backendRefs: [{name: echo-v1, port: 7070}]\n"), 9, "spec.rules[1].matches",
	  "conflicts with HTTPRoute default/r spec.rules[0] at t.yaml:7" },
	{ "conflict across routes", HR("  rules: [{backendRefs: [{name: echo, port: 7070}]}]\n") "---\n"
	  GR("  rules:\n  - matches: [{}]\n    backendRefs: [{name: echo, port: 7070}]\n"), 14, "spec.rules[0].matches",
	  "conflicts with HTTPRoute default/r spec.rules[0] at t.yaml:6" },
	{ "conflict port 0 vs port", HR("  rules: [{matches: [{method: GET}], backendRefs: [{name: echo, port: 7070}]}]\n")
	  "---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: r2}\nspec:\n"
	  "  parentRefs: [{name: echo}]\n  rules:\n  - matches: [{method: GET}]\n", 14, "spec.rules[0].matches",
	  "conflicts with HTTPRoute default/r spec.rules[0]" },

	/* ---- regexes ---- */
	{ "bad path regex", HR("  rules:\n  - matches:\n    - path:\n        type: RegularExpression\n"
			       "        value: /a(b\n"), 10, "spec.rules[0].matches[0].path.value",
	  "invalid regular expression" },
	{ "backreference", HR("  rules:\n  - matches:\n    - headers:\n      - type: RegularExpression\n"
			      "        name: x\n        value: (a)\\1\n"), 11, "spec.rules[0].matches[0].headers[0].value",
	  "backreferences" },
	{ "query regex", HR("  rules:\n  - matches: [{queryParams: [{type: RegularExpression, name: q, value: '*a'}]}]\n"),
	  7, "spec.rules[0].matches[0].queryParams[0].value", "invalid regular expression" },
	{ "grpc method regex", GR("  rules:\n  - matches:\n    - method: {type: RegularExpression, service: 'a[', method: x}\n"),
	  8, "spec.rules[0].matches[0].method.service", "invalid regular expression" },
	{ "lookahead", GR("  rules:\n  - matches:\n    - method: {type: RegularExpression, method: 'a(?!b)'}\n"),
	  8, "spec.rules[0].matches[0].method.method", "lookaround" },

	/* ---- route rules ---- */
	{ "redirect in grpc", GR("  rules:\n  - filters:\n    - type: RequestRedirect\n      requestRedirect: {port: 1}\n"),
	  8, "spec.rules[0].filters[0].type", "RequestRedirect is only supported in HTTPRoute" },
	{ "rewrite in grpc", GR("  rules:\n  - filters:\n    - type: URLRewrite\n      urlRewrite: {hostname: a.b}\n"),
	  8, "spec.rules[0].filters[0].type", "URLRewrite is only supported in HTTPRoute" },
	{ "prefix rewrite on exact", HR("  rules:\n  - matches:\n    - path: {value: /a}\n    - path: {type: Exact, value: /b}\n"
					"    filters:\n    - type: URLRewrite\n"
					"      urlRewrite: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /c}}\n"),
	  9, "spec.rules[0].matches[1]", "ReplacePrefixMatch (filters[0]) needs every match" },
	{ "redirect status", HR("  rules:\n  - filters:\n    - type: RequestRedirect\n      requestRedirect:\n"
				"        statusCode: 304\n"), 10, "spec.rules[0].filters[0].requestRedirect.statusCode",
	  "304 is not a redirect status" },
	{ "redirect scheme", HR("  rules:\n  - filters:\n    - type: RequestRedirect\n"
				"      requestRedirect: {scheme: ftp}\n"), 9,
	  "spec.rules[0].filters[0].requestRedirect.scheme", "not one of: http, https" },
	{ "redirect with backends", HR("  rules:\n  - filters:\n    - {type: RequestRedirect, requestRedirect: {port: 1}}\n"
				       "    backendRefs: [{name: echo, port: 7070}]\n"), 9, "spec.rules[0].backendRefs",
	  "cannot have backendRefs" },
	{ "filter config missing", HR("  rules:\n  - filters:\n    - type: RequestHeaderModifier\n"), 8,
	  "spec.rules[0].filters[0].requestHeaderModifier", "required when type is RequestHeaderModifier" },
	{ "filter config mismatch", HR("  rules:\n  - filters:\n    - type: RequestHeaderModifier\n"
				       "      requestHeaderModifier: {}\n      urlRewrite: {}\n"), 10,
	  "spec.rules[0].filters[0].urlRewrite", "not allowed when type is RequestHeaderModifier" },
	{ "bad filter type", HR("  rules:\n  - filters:\n    - type: ExtensionRef\n"), 8,
	  "spec.rules[0].filters[0].type", "\"ExtensionRef\" is not one of" },
	{ "full path needs value", HR("  rules:\n  - filters:\n    - type: URLRewrite\n"
				      "      urlRewrite:\n        path: {type: ReplaceFullPath, replacePrefixMatch: /x}\n"), 10,
	  "spec.rules[0].filters[0].urlRewrite.path.replaceFullPath", "required when type is ReplaceFullPath" },
	{ "path must be absolute", HR("  rules:\n  - matches: [{path: {type: Exact, value: a}}]\n"), 7,
	  "spec.rules[0].matches[0].path.value", "must start with '/'" },
	{ "failed match then good match",
	  HR("  rules:\n  - matches:\n    - {headers: [{name: a, value: b}], method: BAD}\n"
	     "    - {headers: [{name: c, value: d}, {name: e, value: f}]}\n"),
	  8, "spec.rules[0].matches[0].method", "not an HTTP method" },
	{ "bad method", HR("  rules:\n  - matches: [{method: FETCH}]\n"), 7, "spec.rules[0].matches[0].method",
	  "not an HTTP method" },
	{ "empty grpc method", GR("  rules:\n  - matches:\n    - method: {type: Exact}\n"), 8,
	  "spec.rules[0].matches[0].method", "at least one of service and method" },
	{ "timeouts order", HR("  rules:\n  - timeouts: {request: 1s, backendRequest: 2s}\n"), 7,
	  "spec.rules[0].timeouts.backendRequest", "must not be longer" },
	{ "no rules", HR("  rules: []\n"), 6, "spec.rules", "at least one rule" },
	{ "bad hostname", HR("  hostnames: [a_b.example]\n  rules: [{}]\n"), 6, "spec.hostnames[0]",
	  "not a valid host name" },
	{ "header name", HR("  rules:\n  - filters:\n    - type: RequestHeaderModifier\n"
			    "      requestHeaderModifier: {remove: ['bad header']}\n"), 9,
	  "spec.rules[0].filters[0].requestHeaderModifier.remove[0]", "invalid header name" },

	/* ---- DestinationPolicy ---- */
	{ "retryOn", DP("  retries:\n    retryOn: [unavailable, sometimes]\n"), 7, "spec.retries.retryOn[1]",
	  "unknown retryOn condition \"sometimes\"" },
	{ "retriable code", DP("  retries:\n    retriableStatusCodes: [503, 99]\n"), 7,
	  "spec.retries.retriableStatusCodes[1]", "out of range (100..599)" },
	{ "abort both", DP("  faultInjection:\n    abort: {httpStatus: 503, grpcStatus: 14}\n"), 7,
	  "spec.faultInjection.abort", "exactly one of httpStatus and grpcStatus" },
	{ "abort none", DP("  faultInjection:\n    abort: {percentage: 5}\n"), 7, "spec.faultInjection.abort",
	  "exactly one of httpStatus and grpcStatus" },
	{ "abort http range", DP("  faultInjection:\n    abort: {httpStatus: 600}\n"), 7,
	  "spec.faultInjection.abort.httpStatus", "out of range (200..599)" },
	{ "abort grpc range", DP("  faultInjection:\n    abort: {grpcStatus: 0}\n"), 7,
	  "spec.faultInjection.abort.grpcStatus", "out of range (1..16)" },
	{ "lb type", DP("  loadBalancer: {type: Sticky}\n"), 6, "spec.loadBalancer.type", "\"Sticky\" is not one of" },
	{ "ring sizes", DP("  loadBalancer:\n    ringHash: {minRingSize: 10, maxRingSize: 5}\n"), 7,
	  "spec.loadBalancer.ringHash.minRingSize", "must not be above maxRingSize" },
	{ "backoff order", DP("  retries:\n    backoff:\n      baseInterval: 1s\n      maxInterval: 10ms\n"), 9,
	  "spec.retries.backoff.maxInterval", "must not be shorter than baseInterval" },
	{ "delay needs fixedDelay", DP("  faultInjection:\n    delay: {percentage: 5}\n"), 7,
	  "spec.faultInjection.delay.fixedDelay", "required field is missing" },
};

static void test_error_cases(void **st)
{
	size_t failed = 0;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const err_case_t *c = &cases[i];
		weft_cfg_errors_t errs;
		weft_model_t *m = load_with_base(&errs, c->yaml);

		if (m || !has_error(&errs, "t.yaml", c->line, c->field, c->msg)) {
			fprintf(stderr, "case \"%s\": expected t.yaml:%u: %s: ...%s...; got %s:\n", c->name, c->line,
				c->field, c->msg, m ? "a model" : "no model");
			dump_errors(&errs);
			failed++;
		}
		weft_model_free(m);
		weft_cfg_errors_free(&errs);
	}
	assert_int_equal(failed, 0);
}

/* Every error of a set is reported, across documents and files, and
 * nothing is returned. */
static void test_all_errors_reported(void **st)
{
	const char *names[] = { "base.yaml", "one.yaml", "two.yaml" };
	const char *texts[] = {
		base_yaml,
		"apiVersion: v1\n"                     /* 1 */
		"kind: Service\n"
		"metadata: {name: s1}\n"
		"spec:\n"
		"  ports: [{port: 0}]\n"               /* 5: range */
		"  colour: blue\n"                     /* 6: unknown field */
		"---\n"
		"apiVersion: weft.dev/v1alpha1\n"
		"kind: Workload\n"
		"metadata: {name: w}\n"                /* 10 */
		"spec: {addresses: [x], node: n7}\n",  /* 11: bad address (and node not checked: broken) */
		"apiVersion: gateway.networking.k8s.io/v1\n"
		"kind: HTTPRoute\n"
		"metadata: {name: r}\n"
		"spec:\n"
		"  parentRefs: [{name: s1}]\n"         /* 5: s1 is broken: no dangling error */
		"  rules:\n"
		"  - backendRefs: [{name: gone, port: 1}]\n"   /* 7: dangling */
		"---\n"
		"apiVersion: weft.dev/v1alpha1\n"
		"kind: Workload\n"                     /* 10 */
		"metadata: {name: w2}\n"
		"spec: {addresses: [1.1.1.1], node: n7}\n",    /* 12: dangling node */
	};
	weft_cfg_errors_t errs;
	weft_model_t *m = load_texts(&errs, 3, names, texts);

	assert_null(m);
	assert_error(&errs, "one.yaml", 5, "spec.ports[0].port", "out of range");
	assert_error(&errs, "one.yaml", 6, "spec.colour", "unknown field");
	assert_error(&errs, "one.yaml", 11, "spec.addresses[0]", "not an IPv4 or IPv6 address");
	assert_error(&errs, "two.yaml", 7, "spec.rules[0].backendRefs[0]", "no Service default/gone");
	assert_error(&errs, "two.yaml", 12, "spec.node", "no Node named \"n7\"");
	if (errs.n != 5)
		dump_errors(&errs);
	assert_int_equal(errs.n, 5);
	weft_cfg_errors_free(&errs);
}

/* Errors print as file:line: field: message. */
static void test_print(void **st)
{
	weft_cfg_errors_t errs;
	char buf[512] = { 0 };
	FILE *f;

	weft_cfg_errors_init(&errs);
	weft_cfg_error_add(&errs, "a.yaml", 3, "spec.x", "bad %s", "thing");
	weft_cfg_error_add(&errs, "b.yaml", 0, "", "cannot open");
	f = fmemopen(buf, sizeof(buf) - 1, "w");
	assert_non_null(f);
	weft_cfg_errors_print(&errs, f);
	fclose(f);
	assert_string_equal(buf, "a.yaml:3: spec.x: bad thing\nb.yaml: cannot open\n");
	weft_cfg_errors_free(&errs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_error_cases),
		cmocka_unit_test(test_all_errors_reported),
		cmocka_unit_test(test_print),
	};
	return cmocka_run_group_tests_name("config errors", tests, NULL, NULL);
}
