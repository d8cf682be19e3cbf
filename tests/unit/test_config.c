/* Unit tests for src/control/config.c and the kinds: valid sets load into
 * the model documented in weft/model-t.h, with defaults, sorting and
 * resolved references. Error cases are in test_config_errors.c. */
#include <dirent.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include "cfg_test_util.h"
#include "weft/cfgdec.h"

/* the example mesh in examples/mesh (tests run from the repository root) */
static void test_example_mesh(void **st)
{
	weft_cfg_errors_t errs;
	weft_model_t *m;
	const weft_service_t *echo, *v1, *c;

	weft_cfg_errors_init(&errs);
	m = weft_config_load("examples/mesh", &errs);
	if (!m)
		dump_errors(&errs);
	assert_non_null(m);
	assert_int_equal(errs.n, 0);
	assert_int_equal(m->nfiles, 5);
	assert_string_equal(m->files[0], "examples/mesh/node.yaml");
	assert_string_equal(m->files[4], "examples/mesh/workloads.yaml");
	assert_int_equal(m->nnodes, 1);
	assert_true(seq(m->nodes[0].address, "127.0.0.1"));
	assert_true(seq(m->nodes[0].meta.ns, ""));
	assert_int_equal(m->nworkloads, 3);
	assert_int_equal(m->nservices, 4);
	assert_int_equal(m->nroutes, 1);
	assert_int_equal(m->npolicies, 1);

	/* sorted by (ns, name) */
	assert_true(seq(m->services[0].meta.name, "echo"));
	assert_true(seq(m->services[1].meta.name, "echo-c"));
	assert_true(seq(m->services[2].meta.name, "echo-v1"));
	assert_true(seq(m->services[3].meta.name, "echo-v2"));
	for (size_t i = 0; i < 3; i++) {
		const weft_workload_t *w = &m->workloads[i];
		char addr[16];
		snprintf(addr, sizeof(addr), "127.0.0.1%zu", i + 1);
		assert_true(seq(w->addrs[0], addr));
		assert_int_equal(w->naddrs, 1);
		assert_ptr_equal(w->node, &m->nodes[0]);
		assert_true(seq(w->service_account, "echo"));
		assert_int_equal(w->weight, 1);
		assert_true(seq(w->meta.ns, "default"));
	}

	echo = weft_model_service(m, WEFT_STR_LIT("default"), WEFT_STR_LIT("echo"));
	v1 = weft_model_service(m, WEFT_STR_LIT("default"), WEFT_STR_LIT("echo-v1"));
	c = weft_model_service(m, WEFT_STR_LIT("default"), WEFT_STR_LIT("echo-c"));
	assert_non_null(echo);
	assert_non_null(v1);
	assert_non_null(c);
	assert_null(weft_model_service(m, WEFT_STR_LIT("other"), WEFT_STR_LIT("echo")));
	assert_int_equal(echo->nports, 1);
	assert_int_equal(echo->ports[0].port, 7070);
	assert_int_equal(echo->ports[0].target_port, 7070);
	assert_int_equal(echo->ports[0].proto, WEFT_APP_GRPC);
	assert_int_equal(echo->nworkloads, 3);
	assert_int_equal(v1->nworkloads, 2);
	assert_true(seq(v1->workloads[0]->meta.name, "echo-a"));
	assert_true(seq(v1->workloads[1]->meta.name, "echo-b"));
	assert_int_equal(c->nworkloads, 1);
	assert_true(seq(c->workloads[0]->meta.name, "echo-c"));

	/* policy and routes attached */
	assert_ptr_equal(echo->policy, &m->policies[0]);
	assert_ptr_equal(m->policies[0].svc, echo);
	assert_int_equal(m->policies[0].lb.type, WEFT_LB_ROUND_ROBIN);
	assert_true(m->policies[0].retry.set);
	assert_int_equal(m->policies[0].retry.attempts, 2);
	assert_int_equal(m->policies[0].retry.retry_on, WEFT_RETRY_UNAVAILABLE);
	assert_int_equal(m->policies[0].retry.per_try_timeout_ms, 1000);
	assert_null(v1->policy);
	assert_int_equal(echo->nroutes, 1);
	assert_ptr_equal(echo->routes[0], &m->routes[0]);
	assert_int_equal(v1->nroutes, 0);

	const weft_route_t *r = &m->routes[0];
	assert_int_equal(r->kind, WEFT_ROUTE_GRPC);
	assert_int_equal(r->nparents, 1);
	assert_ptr_equal(r->parents[0].svc, echo);
	assert_int_equal(r->parents[0].port, 7070);
	assert_int_equal(r->nrules, 2);
	assert_int_equal(r->rules[0].nmatches, 1);
	assert_int_equal(r->rules[0].matches[0].nheaders, 1);
	assert_int_equal(r->rules[0].matches[0].headers[0].type, WEFT_MATCH_EXACT);
	assert_true(seq(r->rules[0].matches[0].headers[0].name, "x-backend"));
	assert_true(seq(r->rules[0].matches[0].headers[0].value, "c"));
	assert_int_equal(r->rules[0].matches[0].grpc_type, WEFT_MATCH_NONE);
	assert_ptr_equal(r->rules[0].backends[0].svc, c);
	assert_int_equal(r->rules[0].backends[0].weight, 1);
	assert_int_equal(r->rules[1].nmatches, 0);
	assert_int_equal(r->rules[1].nbackends, 2);
	assert_int_equal(r->rules[1].backends[0].weight, 80);
	assert_int_equal(r->rules[1].backends[1].weight, 20);
	assert_ptr_equal(r->rules[1].backends[0].svc, v1);
	assert_true(seq(r->rules[1].backends[1].ns, "default"));
	assert_string_equal(r->meta.loc.file, "examples/mesh/routes.yaml");
	assert_int_equal(r->meta.loc.line, 3);

	weft_model_free(m);
	weft_cfg_errors_free(&errs);
}

/* Every field of every kind lands in the model. */
static const char full_yaml[] =
	"apiVersion: weft.dev/v1alpha1\n"                                    /* 1 */
	"kind: Node\n"
	"metadata: {name: n2, labels: {rack: r1, zone: z}}\n"
	"spec:\n"
	"  address: fd00::1\n"                                               /* 5 */
	"  locality: {region: eu, zone: eu-1a, subZone: rack1}\n"
	"---\n"
	"apiVersion: weft.dev/v1alpha1\n"
	"kind: Workload\n"
	"metadata: {name: w1, namespace: prod, labels: {app: shop}}\n"      /* 10 */
	"spec:\n"
	"  node: n2\n"
	"  addresses: [10.1.0.5, 'fd00::5']\n"
	"  netns: /var/run/netns/w1\n"
	"  cgroup: /sys/fs/cgroup/w1\n"                                      /* 15 */
	"  weight: 128\n"
	"---\n"
	"apiVersion: v1\n"
	"kind: Service\n"
	"metadata: {name: shop, namespace: prod}\n"                          /* 20 */
	"spec:\n"
	"  clusterIP: 10.96.0.20\n"
	"  selector: {app: shop}\n"
	"  ports:\n"
	"  - {name: http, port: 80, targetPort: 8080, appProtocol: http}\n"  /* 25 */
	"  - {name: h2, port: 81, appProtocol: http2}\n"
	"  - {name: raw, port: 82}\n"
	"---\n"
	"apiVersion: gateway.networking.k8s.io/v1\n"
	"kind: HTTPRoute\n"                                                  /* 30 */
	"metadata: {name: shop, namespace: prod}\n"
	"spec:\n"
	"  parentRefs: [{kind: Service, group: '', name: shop, port: 80}]\n"
	"  hostnames: [shop.example, '*.shop.example']\n"
	"  rules:\n"                                                         /* 35 */
	"  - matches:\n"
	"    - path: {type: PathPrefix, value: /api}\n"
	"      headers: [{name: x-user, value: alice}, {type: RegularExpression, name: x-id, value: '[0-9]+'}]\n"
	"      queryParams: [{name: debug, value: '1'}]\n"
	"      method: GET\n"                                                /* 40 */
	"    filters:\n"
	"    - type: RequestHeaderModifier\n"
	"      requestHeaderModifier: {set: [{name: x-a, value: '1'}], add: [{name: x-b, value: '2'}], remove: [x-c]}\n"
	"    - type: ResponseHeaderModifier\n"
	"      responseHeaderModifier: {set: [{name: x-d, value: '4'}]}\n"  /* 45 */
	"    - type: RequestMirror\n"
	"      requestMirror: {backendRef: {name: shop, port: 81}, percent: 12.5}\n"
	"    - type: URLRewrite\n"
	"      urlRewrite: {hostname: other.example, path: {type: ReplacePrefixMatch, replacePrefixMatch: /v2}}\n"
	"    backendRefs: [{name: shop, port: 80, weight: 0}, {name: shop, namespace: prod, port: 81}]\n" /* 50 */
	"    timeouts: {request: 1m30s, backendRequest: 250ms}\n"
	"  - matches: [{path: {type: Exact, value: /old}}, {path: {type: RegularExpression, value: '/o(l|d)+'}}]\n"
	"    filters:\n"
	"    - type: RequestRedirect\n"
	"      requestRedirect: {scheme: https, hostname: new.example, port: 443, statusCode: 308,\n" /* 55 */
	"                        path: {type: ReplaceFullPath, replaceFullPath: /new}}\n"
	"---\n"
	"apiVersion: weft.dev/v1alpha1\n"
	"kind: DestinationPolicy\n"
	"metadata: {name: shop, namespace: prod}\n"                          /* 60 */
	"spec:\n"
	"  targetRef: {kind: Service, name: shop}\n"
	"  loadBalancer:\n"
	"    type: RingHash\n"
	"    leastRequest: {choiceCount: 3}\n"                               /* 65 */
	"    ringHash: {minRingSize: 2048, maxRingSize: 4096, header: x-user, sourceIP: true}\n"
	"  connectionLimits: {maxConnections: 10, maxPendingRequests: 11, maxRequests: 12, maxRetries: 13}\n"
	"  outlierDetection: {consecutive5xx: 5, consecutiveGatewayErrors: 6, interval: 2s, baseEjectionTime: 1m,\n"
	"                     maxEjectionPercent: 50}\n"
	"  retries:\n"                                                       /* 70 */
	"    attempts: 4\n"
	"    perTryTimeout: 1s\n"
	"    retryOn: [5xx, gateway-error, reset, connect-failure, retriable-4xx, refused-stream, cancelled,\n"
	"              deadline-exceeded, internal, resource-exhausted, unavailable]\n"
	"    retriableStatusCodes: [503, 429]\n"                             /* 75 */
	"    backoff: {baseInterval: 50ms}\n"
	"    budget: {percent: 25.5, minRetryConcurrency: 7}\n"
	"  faultInjection:\n"
	"    delay: {fixedDelay: 100ms, percentage: 0.0001}\n"
	"    abort: {grpcStatus: 14, percentage: 50}\n";                     /* 80 */

static void test_full_fields(void **st)
{
	const char *names[] = { "full.yaml" };
	const char *texts[] = { full_yaml };
	weft_cfg_errors_t errs;
	weft_model_t *m = load_texts(&errs, 1, names, texts);

	if (!m)
		dump_errors(&errs);
	assert_non_null(m);

	const weft_node_t *n = weft_model_node(m, WEFT_STR_LIT("n2"));
	assert_non_null(n);
	assert_true(seq(n->address, "fd00::1"));
	assert_true(seq(n->locality.region, "eu"));
	assert_true(seq(n->locality.zone, "eu-1a"));
	assert_true(seq(n->locality.subzone, "rack1"));
	assert_int_equal(n->meta.labels.n, 2);
	assert_true(seq(n->meta.labels.kv[0].key, "rack"));
	assert_true(seq(n->meta.labels.kv[1].value, "z"));
	assert_int_equal(n->meta.loc.line, 1);
	assert_string_equal(n->meta.loc.file, "full.yaml");

	const weft_workload_t *w = weft_model_workload(m, WEFT_STR_LIT("prod"), WEFT_STR_LIT("w1"));
	assert_non_null(w);
	assert_ptr_equal(w->node, n);
	assert_int_equal(w->naddrs, 2);
	assert_true(seq(w->addrs[1], "fd00::5"));
	assert_true(seq(w->netns, "/var/run/netns/w1"));
	assert_true(seq(w->cgroup, "/sys/fs/cgroup/w1"));
	assert_int_equal(w->weight, 128);
	assert_true(seq(w->service_account, "default"));
	assert_int_equal(w->node_loc.line, 12);

	const weft_service_t *s = weft_model_service(m, WEFT_STR_LIT("prod"), WEFT_STR_LIT("shop"));
	assert_non_null(s);
	assert_true(seq(s->cluster_ip, "10.96.0.20"));
	assert_int_equal(s->nports, 3);
	assert_int_equal(s->ports[0].target_port, 8080);
	assert_int_equal(s->ports[0].proto, WEFT_APP_HTTP);
	assert_int_equal(s->ports[1].proto, WEFT_APP_HTTP2);
	assert_int_equal(s->ports[2].proto, WEFT_APP_TCP);
	assert_int_equal(s->ports[2].target_port, 82);
	assert_int_equal(s->ports[1].loc.line, 26);
	assert_int_equal(s->nworkloads, 1);
	assert_ptr_equal(s->workloads[0], w);
	assert_int_equal(s->nroutes, 1);

	const weft_route_t *r = s->routes[0];
	assert_int_equal(r->kind, WEFT_ROUTE_HTTP);
	assert_int_equal(r->nhostnames, 2);
	assert_true(seq(r->hostnames[1], "*.shop.example"));
	assert_int_equal(r->parents[0].port, 80);
	assert_true(seq(r->parents[0].ns, "prod"));
	assert_int_equal(r->nrules, 2);
	const weft_route_rule_t *r0 = &r->rules[0];
	assert_int_equal(r0->loc.line, 36);
	assert_int_equal(r0->matches[0].path_type, WEFT_MATCH_PREFIX);
	assert_true(seq(r0->matches[0].path, "/api"));
	assert_int_equal(r0->matches[0].nheaders, 2);
	assert_int_equal(r0->matches[0].headers[1].type, WEFT_MATCH_REGEX);
	assert_true(seq(r0->matches[0].headers[1].value, "[0-9]+"));
	assert_int_equal(r0->matches[0].nquery, 1);
	assert_true(seq(r0->matches[0].query[0].value, "1"));
	assert_true(seq(r0->matches[0].method, "GET"));
	assert_int_equal(r0->nfilters, 4);
	assert_int_equal(r0->filters[0].type, WEFT_FILTER_REQUEST_HEADER);
	assert_int_equal(r0->filters[0].headers.nset, 1);
	assert_true(seq(r0->filters[0].headers.set[0].key, "x-a"));
	assert_true(seq(r0->filters[0].headers.add[0].value, "2"));
	assert_true(seq(r0->filters[0].headers.remove[0], "x-c"));
	assert_int_equal(r0->filters[1].type, WEFT_FILTER_RESPONSE_HEADER);
	assert_int_equal(r0->filters[1].headers.nset, 1);
	assert_int_equal(r0->filters[2].type, WEFT_FILTER_MIRROR);
	assert_int_equal(r0->filters[2].mirror.percent_ppm, 125000);
	assert_ptr_equal(r0->filters[2].mirror.backend.svc, s);
	assert_int_equal(r0->filters[2].mirror.backend.port, 81);
	assert_int_equal(r0->filters[3].type, WEFT_FILTER_URL_REWRITE);
	assert_true(seq(r0->filters[3].rewrite.hostname, "other.example"));
	assert_int_equal(r0->filters[3].rewrite.path_mod, WEFT_PATH_MOD_PREFIX);
	assert_true(seq(r0->filters[3].rewrite.path, "/v2"));
	assert_int_equal(r0->nbackends, 2);
	assert_int_equal(r0->backends[0].weight, 0);
	assert_int_equal(r0->backends[1].weight, 1);
	assert_int_equal(r0->backends[1].loc.line, 50);
	assert_int_equal(r0->timeout_request_ms, 90000);
	assert_int_equal(r0->timeout_backend_ms, 250);
	const weft_route_rule_t *r1 = &r->rules[1];
	assert_int_equal(r1->nmatches, 2);
	assert_int_equal(r1->matches[0].path_type, WEFT_MATCH_EXACT);
	assert_int_equal(r1->matches[1].path_type, WEFT_MATCH_REGEX);
	assert_int_equal(r1->filters[0].type, WEFT_FILTER_REDIRECT);
	assert_true(seq(r1->filters[0].redirect.scheme, "https"));
	assert_true(seq(r1->filters[0].redirect.hostname, "new.example"));
	assert_int_equal(r1->filters[0].redirect.port, 443);
	assert_int_equal(r1->filters[0].redirect.status, 308);
	assert_int_equal(r1->filters[0].redirect.path_mod, WEFT_PATH_MOD_FULL);
	assert_true(seq(r1->filters[0].redirect.path, "/new"));
	assert_int_equal(r1->nbackends, 0);
	assert_int_equal(r1->timeout_request_ms, 0);

	const weft_dest_policy_t *p = s->policy;
	assert_non_null(p);
	assert_ptr_equal(p->svc, s);
	assert_true(seq(p->target, "shop"));
	assert_int_equal(p->target_loc.line, 62);
	assert_int_equal(p->lb.type, WEFT_LB_RING_HASH);
	assert_int_equal(p->lb.choice_count, 3);
	assert_int_equal(p->lb.ring_min, 2048);
	assert_int_equal(p->lb.ring_max, 4096);
	assert_true(seq(p->lb.hash_header, "x-user"));
	assert_true(p->lb.hash_source_ip);
	assert_true(p->limits.set);
	assert_int_equal(p->limits.max_connections, 10);
	assert_int_equal(p->limits.max_pending_requests, 11);
	assert_int_equal(p->limits.max_requests, 12);
	assert_int_equal(p->limits.max_retries, 13);
	assert_true(p->outlier.set);
	assert_int_equal(p->outlier.consecutive_5xx, 5);
	assert_int_equal(p->outlier.consecutive_gateway_errors, 6);
	assert_int_equal(p->outlier.interval_ms, 2000);
	assert_int_equal(p->outlier.base_ejection_ms, 60000);
	assert_int_equal(p->outlier.max_ejection_percent, 50);
	assert_true(p->retry.set);
	assert_int_equal(p->retry.attempts, 4);
	assert_int_equal(p->retry.per_try_timeout_ms, 1000);
	assert_int_equal(p->retry.retry_on, (WEFT_RETRY_RETRIABLE_STATUS << 1) - 1);   /* every bit */
	assert_int_equal(p->retry.nstatus, 2);
	assert_int_equal(p->retry.retriable_status[0], 503);
	assert_int_equal(p->retry.retriable_status[1], 429);
	assert_int_equal(p->retry.backoff_base_ms, 50);
	assert_int_equal(p->retry.backoff_max_ms, 500);
	assert_true(p->retry.budget_set);
	assert_int_equal(p->retry.budget_percent_ppm, 255000);
	assert_int_equal(p->retry.budget_min_concurrency, 7);
	assert_true(p->fault.set);
	assert_int_equal(p->fault.delay_ppm, 1);
	assert_int_equal(p->fault.delay_ms, 100);
	assert_int_equal(p->fault.abort_ppm, 500000);
	assert_true(p->fault.abort_grpc);
	assert_int_equal(p->fault.abort_grpc_status, 14);
	assert_int_equal(p->fault.abort_http_status, 0);

	weft_model_free(m);
	weft_cfg_errors_free(&errs);
}

/* Defaults of the optional parts. */
static void test_defaults(void **st)
{
	weft_cfg_errors_t errs;
	weft_model_t *m = load_with_base(&errs,
		"apiVersion: weft.dev/v1alpha1\n"
		"kind: DestinationPolicy\n"
		"metadata: {name: p}\n"
		"spec:\n"
		"  targetRef: {name: echo}\n"
		"  retries: {attempts: 1}\n"
		"  faultInjection: {abort: {httpStatus: 503}}\n"
		"---\n"
		"apiVersion: gateway.networking.k8s.io/v1\n"
		"kind: HTTPRoute\n"
		"metadata: {name: r}\n"
		"spec:\n"
		"  parentRefs: [{name: echo}]\n"
		"  rules:\n"
		"  - matches: [{headers: [{name: x, value: y}]}]\n"
		"    filters: [{type: RequestMirror, requestMirror: {backendRef: {name: echo-v1, port: 7070}}},\n"
		"              {type: RequestRedirect, requestRedirect: {hostname: a.b}}]\n"
		"---\n"
		"apiVersion: weft.dev/v1alpha1\n"
		"kind: Workload\n"
		"metadata: {name: w}\n"
		"spec: {addresses: [1.2.3.4]}\n");

	if (!m)
		dump_errors(&errs);
	assert_non_null(m);
	const weft_dest_policy_t *p = &m->policies[0];
	assert_true(seq(p->meta.ns, "default"));
	assert_int_equal(p->lb.type, WEFT_LB_ROUND_ROBIN);
	assert_int_equal(p->lb.choice_count, 2);
	assert_int_equal(p->lb.ring_min, 1024);
	assert_int_equal(p->lb.ring_max, 8388608);
	assert_false(p->limits.set);
	assert_false(p->outlier.set);
	assert_int_equal(p->outlier.interval_ms, 10000);
	assert_int_equal(p->outlier.base_ejection_ms, 30000);
	assert_int_equal(p->outlier.max_ejection_percent, 10);
	assert_true(p->retry.set);
	assert_int_equal(p->retry.retry_on, 0);
	assert_int_equal(p->retry.backoff_base_ms, 25);
	assert_int_equal(p->retry.backoff_max_ms, 250);
	assert_false(p->retry.budget_set);
	assert_int_equal(p->fault.abort_ppm, WEFT_PPM_ALL);
	assert_int_equal(p->fault.abort_http_status, 503);
	assert_false(p->fault.abort_grpc);
	assert_int_equal(p->fault.delay_ppm, 0);

	const weft_route_t *r = &m->routes[0];
	assert_int_equal(r->parents[0].port, 0);
	assert_true(seq(r->parents[0].ns, "default"));
	/* a match without a path is PathPrefix "/" */
	assert_int_equal(r->rules[0].matches[0].path_type, WEFT_MATCH_PREFIX);
	assert_true(seq(r->rules[0].matches[0].path, "/"));
	assert_int_equal(r->rules[0].matches[0].headers[0].type, WEFT_MATCH_EXACT);
	assert_int_equal(r->rules[0].filters[0].mirror.percent_ppm, WEFT_PPM_ALL);
	assert_int_equal(r->rules[0].filters[1].redirect.status, 301);
	assert_int_equal(r->rules[0].filters[1].redirect.port, 0);
	assert_int_equal(r->rules[0].filters[1].redirect.path_mod, WEFT_PATH_MOD_NONE);

	const weft_workload_t *w = &m->workloads[0];
	assert_true(seq(w->service_account, "default"));
	assert_int_equal(w->weight, 1);
	assert_null(w->node);
	assert_int_equal(w->netns.len, 0);
	/* the base's echo selects app=echo: w has no labels */
	assert_int_equal(m->services[0].nworkloads, 0);
	/* a Service without a selector selects nothing */
	assert_int_equal(m->services[1].selector.n, 0);
	assert_int_equal(m->services[1].nworkloads, 0);
	weft_model_free(m);
	weft_cfg_errors_free(&errs);
}

/* Arrays sorted by (ns, name); selectors stay in their namespace; routes
 * of a service are in order of appearance across files. */
static void test_sorting_and_resolution(void **st)
{
	const char *names[] = { "a.yaml", "b.yaml" };
	const char *texts[] = {
		"apiVersion: v1\nkind: Service\nmetadata: {name: zz, namespace: b}\n"
		"spec: {selector: {app: x}, ports: [{port: 1}]}\n"
		"---\n"
		"apiVersion: v1\nkind: Service\nmetadata: {name: zz, namespace: a}\n"
		"spec: {selector: {app: x, tier: web}, ports: [{port: 1}]}\n"
		"---\n"
		"apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: z-first, namespace: a}\n"
		"spec: {parentRefs: [{name: zz}], rules: [{matches: [{path: {value: /z}}], backendRefs: [{name: zz, port: 1}]}]}\n"
		"---\n"
		"apiVersion: v1\nkind: Service\nmetadata: {name: aa, namespace: b}\n"
		"spec: {ports: [{port: 1}]}\n",
		"apiVersion: weft.dev/v1alpha1\nkind: Workload\nmetadata: {name: w2, namespace: a, labels: {app: x, tier: web, v: '1'}}\n"
		"spec: {addresses: [10.0.0.2]}\n"
		"---\n"
		"apiVersion: weft.dev/v1alpha1\nkind: Workload\nmetadata: {name: w1, namespace: a, labels: {app: x, tier: web}}\n"
		"spec: {addresses: [10.0.0.1]}\n"
		"---\n"
		"apiVersion: weft.dev/v1alpha1\nkind: Workload\nmetadata: {name: w0, namespace: a, labels: {app: x}}\n"
		"spec: {addresses: [10.0.0.3]}\n"
		"---\n"
		"apiVersion: weft.dev/v1alpha1\nkind: Workload\nmetadata: {name: w9, namespace: b, labels: {app: x}}\n"
		"spec: {addresses: [10.0.0.9]}\n"
		"---\n"
		"apiVersion: gateway.networking.k8s.io/v1\nkind: GRPCRoute\nmetadata: {name: a-second, namespace: a}\n"
		"spec: {parentRefs: [{name: zz}, {name: zz, port: 1}], rules: [{backendRefs: [{name: zz, port: 1}]}]}\n",
	};
	weft_cfg_errors_t errs;
	weft_model_t *m = load_texts(&errs, 2, names, texts);

	if (!m)
		dump_errors(&errs);
	assert_non_null(m);
	assert_int_equal(m->nservices, 3);
	assert_true(seq(m->services[0].meta.ns, "a"));
	assert_true(seq(m->services[1].meta.name, "aa"));
	assert_true(seq(m->services[2].meta.name, "zz"));
	assert_int_equal(m->nworkloads, 4);
	assert_true(seq(m->workloads[0].meta.name, "w0"));
	assert_true(seq(m->workloads[1].meta.name, "w1"));
	assert_true(seq(m->workloads[2].meta.name, "w2"));
	assert_true(seq(m->workloads[3].meta.ns, "b"));
	/* routes sorted by name in the model ... */
	assert_true(seq(m->routes[0].meta.name, "a-second"));
	assert_true(seq(m->routes[1].meta.name, "z-first"));

	const weft_service_t *za = &m->services[0], *zb = &m->services[2];
	assert_int_equal(za->nworkloads, 2);      /* w1, w2: labels include app=x, tier=web */
	assert_true(seq(za->workloads[0]->meta.name, "w1"));
	assert_true(seq(za->workloads[1]->meta.name, "w2"));
	assert_int_equal(zb->nworkloads, 1);      /* only b's w9 */
	assert_true(seq(zb->workloads[0]->meta.name, "w9"));
	/* ... but a service's routes come in file order, each once */
	assert_int_equal(za->nroutes, 2);
	assert_true(seq(za->routes[0]->meta.name, "z-first"));
	assert_true(seq(za->routes[1]->meta.name, "a-second"));
	assert_int_equal(zb->nroutes, 0);
	weft_model_free(m);
	weft_cfg_errors_free(&errs);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void test_directory(void **st)
{
	char dir[] = "/tmp/weft-cfg-XXXXXX", p[256];
	weft_cfg_errors_t errs;
	weft_model_t *m;

	assert_non_null(mkdtemp(dir));
	snprintf(p, sizeof(p), "%s/sub", dir);
	assert_int_equal(mkdir(p, 0700), 0);
	snprintf(p, sizeof(p), "%s/sub/b.yml", dir);
	write_file(p, "apiVersion: v1\nkind: Service\nmetadata: {name: b}\nspec: {ports: [{port: 1}]}\n");
	snprintf(p, sizeof(p), "%s/a.yaml", dir);
	write_file(p, "# only a comment\n---\n---\napiVersion: v1\nkind: Service\nmetadata: {name: a}\n"
		   "spec: {ports: [{port: 1}]}\n");
	snprintf(p, sizeof(p), "%s/notes.txt", dir);
	write_file(p, "not: yaml: at: all: [\n");
	snprintf(p, sizeof(p), "%s/.hidden.yaml", dir);
	write_file(p, "garbage: [\n");

	weft_cfg_errors_init(&errs);
	m = weft_config_load(dir, &errs);
	if (!m)
		dump_errors(&errs);
	assert_non_null(m);
	assert_int_equal(m->nfiles, 2);
	snprintf(p, sizeof(p), "%s/a.yaml", dir);
	assert_string_equal(m->files[0], p);
	snprintf(p, sizeof(p), "%s/sub/b.yml", dir);
	assert_string_equal(m->files[1], p);
	assert_int_equal(m->nservices, 2);
	assert_int_equal(m->services[0].meta.loc.line, 4);
	weft_model_free(m);
	weft_cfg_errors_free(&errs);

	/* a bad file in the tree rejects everything, naming the file */
	snprintf(p, sizeof(p), "%s/sub/c.yaml", dir);
	write_file(p, "apiVersion: v1\nkind: Service\nmetadata: {name: c}\nspec: {ports: [{port: 0}]}\n");
	weft_cfg_errors_init(&errs);
	assert_null(weft_config_load(dir, &errs));
	assert_error(&errs, p, 4, "spec.ports[0].port", "out of range");
	weft_cfg_errors_free(&errs);

	/* a single file */
	weft_cfg_errors_init(&errs);
	snprintf(p, sizeof(p), "%s/a.yaml", dir);
	m = weft_config_load(p, &errs);
	assert_non_null(m);
	assert_int_equal(m->nfiles, 1);
	weft_model_free(m);
	weft_cfg_errors_free(&errs);

	/* clean up */
	const char *files[] = { "sub/b.yml", "sub/c.yaml", "a.yaml", "notes.txt", ".hidden.yaml" };
	for (size_t i = 0; i < 5; i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, files[i]);
		assert_int_equal(unlink(p), 0);
	}
	snprintf(p, sizeof(p), "%s/sub", dir);
	assert_int_equal(rmdir(p), 0);
	assert_int_equal(rmdir(dir), 0);

	/* an unreadable path is an error naming it */
	weft_cfg_errors_init(&errs);
	assert_null(weft_config_load(dir, &errs));
	assert_int_equal(errs.n, 1);
	assert_string_equal(errs.v[0].file, dir);
	assert_int_equal(errs.v[0].line, 0);
	assert_non_null(strstr(errs.v[0].msg, "No such file"));
	weft_cfg_errors_free(&errs);
}

static void test_value_parsers(void **st)
{
	uint64_t ms;
	uint32_t ppm;
	char why[128];

	assert_int_equal(weft_parse_duration(WEFT_STR_LIT("1h"), &ms), 0);
	assert_int_equal(ms, 3600000);
	assert_int_equal(weft_parse_duration(WEFT_STR_LIT("1m30s"), &ms), 0);
	assert_int_equal(ms, 90000);
	assert_int_equal(weft_parse_duration(WEFT_STR_LIT("1h2m3s4ms"), &ms), 0);
	assert_int_equal(ms, 3723004);
	assert_int_equal(weft_parse_duration(WEFT_STR_LIT("0s"), &ms), 0);
	assert_int_equal(ms, 0);
	assert_int_equal(weft_parse_duration(WEFT_STR_LIT("99999ms"), &ms), 0);
	const char *bad_d[] = { "", "10", "s", "1.5s", "1s1m", "1s1s", "100000s", "-1s", "1 s", "1d", "1sx", "1H" };
	for (size_t i = 0; i < sizeof(bad_d) / sizeof(bad_d[0]); i++)
		assert_int_equal(weft_parse_duration(weft_str_c(bad_d[i]), &ms), -1);

	assert_int_equal(weft_parse_percent(WEFT_STR_LIT("100"), &ppm), 0);
	assert_int_equal(ppm, 1000000);
	assert_int_equal(weft_parse_percent(WEFT_STR_LIT("0"), &ppm), 0);
	assert_int_equal(ppm, 0);
	assert_int_equal(weft_parse_percent(WEFT_STR_LIT("33.3333"), &ppm), 0);
	assert_int_equal(ppm, 333333);
	assert_int_equal(weft_parse_percent(WEFT_STR_LIT("0.5"), &ppm), 0);
	assert_int_equal(ppm, 5000);
	const char *bad_p[] = { "", "100.0001", "101", "1.23456", "1.", ".5", "-1", "5%", "1e2", "1000" };
	for (size_t i = 0; i < sizeof(bad_p) / sizeof(bad_p[0]); i++)
		assert_int_equal(weft_parse_percent(weft_str_c(bad_p[i]), &ppm), -1);

	assert_true(weft_is_dns_label(WEFT_STR_LIT("echo-1")));
	assert_false(weft_is_dns_label(WEFT_STR_LIT("-echo")));
	assert_false(weft_is_dns_label(WEFT_STR_LIT("Echo")));
	assert_false(weft_is_dns_label(WEFT_STR_LIT("a.b")));
	assert_true(weft_is_hostname(WEFT_STR_LIT("*.a.example")));
	assert_false(weft_is_hostname(WEFT_STR_LIT("a..b")));
	assert_true(weft_is_ip(WEFT_STR_LIT("::1")));
	assert_false(weft_is_ip(WEFT_STR_LIT("256.0.0.1")));

	assert_int_equal(weft_regex_check(WEFT_STR_LIT("^/api/(v1|v2)/[a-z]+$"), why, sizeof(why)), 0);
	assert_int_equal(weft_regex_check(WEFT_STR_LIT("(?i)abc(?:d|e)*?(?P<x>f)"), why, sizeof(why)), 0);
	assert_int_equal(weft_regex_check(WEFT_STR_LIT("a{2,5}[*+]+"), why, sizeof(why)), 0);
	assert_int_equal(weft_regex_check(WEFT_STR_LIT("(a)\\1"), why, sizeof(why)), -1);
	assert_non_null(strstr(why, "backreference"));
	assert_int_equal(weft_regex_check(WEFT_STR_LIT("a(?=b)"), why, sizeof(why)), -1);
	assert_int_equal(weft_regex_check(WEFT_STR_LIT("a*+"), why, sizeof(why)), -1);
	assert_int_equal(weft_regex_check(WEFT_STR_LIT("a(b"), why, sizeof(why)), -1);
	assert_int_equal(weft_regex_check(WEFT_STR_LIT("[z-a]"), why, sizeof(why)), -1);
	assert_int_equal(weft_regex_check(WEFT_STR_LIT("a{1001}"), why, sizeof(why)), -1);
	assert_int_equal(weft_regex_check(WEFT_STR_LIT("((a{100}){100}){100}"), why, sizeof(why)), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_example_mesh),
		cmocka_unit_test(test_full_fields),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_sorting_and_resolution),
		cmocka_unit_test(test_directory),
		cmocka_unit_test(test_value_parsers),
	};
	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
