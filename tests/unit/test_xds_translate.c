/* Unit tests for src/control/xds_*.c: the model -> xDS translation. Models
 * are built by hand; resources are unpacked with the generated protobuf-c
 * code and checked field by field. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "weft/str.h"
#include "weft/xds.h"
#include "envoy/config/listener/v3/listener.pb-c.h"
#include "envoy/config/route/v3/route.pb-c.h"
#include "envoy/config/cluster/v3/cluster.pb-c.h"
#include "envoy/config/endpoint/v3/endpoint.pb-c.h"
#include "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.pb-c.h"
#include "envoy/extensions/filters/http/fault/v3/fault.pb-c.h"
#include "envoy/extensions/load_balancing_policies/least_request/v3/least_request.pb-c.h"

typedef Envoy__Config__Route__V3__Route route_t;
typedef Envoy__Config__Route__V3__RouteConfiguration rc_t;
typedef Envoy__Extensions__Filters__Network__HttpConnectionManager__V3__HttpConnectionManager hcm_t;

#define S(lit) WEFT_STR_LIT(lit)

/* ---- a hand-built model ----
 *
 * services (default ns):
 *   echo     clusterIP 10.96.0.10, port grpc 7070 -> 7071; workloads a (n1, w2),
 *            b (n2), c (no node), d (same address as a)
 *            policy: RingHash on x-user (ring max over grpc's cap), limits,
 *            outlier 5xx, retries
 *   echo-v1  port grpc 7070; policy Random
 *   echo-v2  port grpc 7070; policy LeastRequest(3), fault delay+abort
 *   web      ports http 8080, grpc 9090
 *   lonely   port http 80, no routes, no policy, no workloads
 * routes:
 *   GRPCRoute echo-r (parent echo:7070)
 *     rule0: method weft.test.Echo/Echo + header x-backend=b -> v1 80, v2 20, zero 0; timeout 5s
 *     rule1: service weft.test.Echo -> v1, request header set x-routed=yes
 *   HTTPRoute web-r (parent web, every port), hostnames web.example
 *     rule0: PathPrefix /api/ -> web, URLRewrite host + prefix /v2, mirror 10% to echo-v1:7070
 *     rule1: Exact /old -> redirect 302 https new.example /new
 */
typedef struct fixture {
	weft_model_t m;
	weft_node_t nodes[2];
	weft_workload_t wl[6];
	weft_service_t svc[5];
	weft_svc_port_t ports[6];
	weft_dest_policy_t pol[3];
	weft_route_t routes[2];
	const weft_workload_t *echo_wl[4];
	const weft_workload_t *v1_wl[1];
	const weft_workload_t *v2_wl[1];
	const weft_route_t *echo_routes[1];
	const weft_route_t *web_routes[1];
	weft_str_t addrs[6];
	weft_parent_ref_t parents[2];
	weft_route_rule_t echo_rules[2];
	weft_route_rule_t web_rules[2];
	weft_route_match_t matches[4];
	weft_str_match_t headers[1];
	weft_backend_ref_t backends[5];
	weft_filter_t filters[4];
	weft_kv_t kv[1];
	weft_str_t hostnames[1];
	/* agents: a's labels, two AuthorizationPolicies, one PeerAuthentication */
	weft_kv_t wl_labels[2];
	weft_kv_t az_sel[1];
	weft_authz_policy_t az[2];
	weft_authz_rule_t az_rules[2];
	weft_authz_source_t az_src[1];
	weft_authz_operation_t az_op[1];
	weft_str_t az_princ[1];
	uint16_t az_ports[1];
	weft_peer_auth_t pa[1];
} fixture_t;

static fixture_t fx;

static void meta(weft_meta_t *m, const char *name)
{
	m->name = weft_str_c(name);
	m->ns = S("default");
}

static void build_model(void)
{
	fixture_t *f = &fx;

	memset(f, 0, sizeof(*f));
	/* nodes */
	f->nodes[0].meta.name = S("n1");
	f->nodes[0].locality = (weft_locality_t){ S("eu"), S("eu-1a"), S("r1") };
	f->nodes[1].meta.name = S("n2");
	f->nodes[1].locality = (weft_locality_t){ S("eu"), S("eu-1b"), S("") };

	/* workloads */
	const char *ips[6] = { "10.0.0.11", "10.0.0.12", "10.0.0.13", "10.0.0.11", "10.0.1.1", "10.0.2.1" };
	const char *names[6] = { "a", "b", "c", "d", "v1", "v2" };
	for (int i = 0; i < 6; i++) {
		meta(&f->wl[i].meta, names[i]);
		f->addrs[i] = weft_str_c(ips[i]);
		f->wl[i].addrs = &f->addrs[i];
		f->wl[i].naddrs = 1;
		f->wl[i].weight = 1;
	}
	f->wl[0].node = &f->nodes[0];
	f->wl[0].weight = 2;
	f->wl[1].node = &f->nodes[1];
	f->wl[3].node = &f->nodes[0];
	for (int i = 0; i < 4; i++)
		f->echo_wl[i] = &f->wl[i];
	f->v1_wl[0] = &f->wl[4];
	f->v2_wl[0] = &f->wl[5];

	/* ports */
	f->ports[0] = (weft_svc_port_t){ .name = S("grpc"), .port = 7070, .target_port = 7071, .proto = WEFT_APP_GRPC };
	f->ports[1] = (weft_svc_port_t){ .port = 7070, .target_port = 7070, .proto = WEFT_APP_GRPC };
	f->ports[2] = (weft_svc_port_t){ .port = 7070, .target_port = 7070, .proto = WEFT_APP_GRPC };
	f->ports[3] = (weft_svc_port_t){ .name = S("http"), .port = 8080, .target_port = 8080, .proto = WEFT_APP_HTTP };
	f->ports[4] = (weft_svc_port_t){ .name = S("grpc"), .port = 9090, .target_port = 9090, .proto = WEFT_APP_GRPC };
	f->ports[5] = (weft_svc_port_t){ .port = 80, .target_port = 80, .proto = WEFT_APP_HTTP };

	/* services, sorted by name */
	weft_service_t *echo = &f->svc[0], *v1 = &f->svc[1], *v2 = &f->svc[2], *lonely = &f->svc[3], *web = &f->svc[4];
	meta(&echo->meta, "echo");
	echo->cluster_ip = S("10.96.0.10");
	echo->ports = &f->ports[0];
	echo->nports = 1;
	echo->workloads = f->echo_wl;
	echo->nworkloads = 4;
	meta(&v1->meta, "echo-v1");
	v1->ports = &f->ports[1];
	v1->nports = 1;
	v1->workloads = f->v1_wl;
	v1->nworkloads = 1;
	meta(&v2->meta, "echo-v2");
	v2->ports = &f->ports[2];
	v2->nports = 1;
	v2->workloads = f->v2_wl;
	v2->nworkloads = 1;
	meta(&lonely->meta, "lonely");
	lonely->ports = &f->ports[5];
	lonely->nports = 1;
	meta(&web->meta, "web");
	web->ports = &f->ports[3];
	web->nports = 2;

	/* policies */
	weft_dest_policy_t *pe = &f->pol[0], *p1 = &f->pol[1], *p2 = &f->pol[2];
	meta(&pe->meta, "echo");
	pe->svc = echo;
	pe->lb.type = WEFT_LB_RING_HASH;
	pe->lb.ring_min = 1024;
	pe->lb.ring_max = 100000000;
	pe->lb.hash_header = S("X-User");
	pe->lb.hash_source_ip = true;
	pe->limits.set = true;
	pe->limits.max_requests = 100;
	pe->outlier.set = true;
	pe->outlier.consecutive_5xx = 5;
	pe->outlier.interval_ms = 10000;
	pe->outlier.base_ejection_ms = 30000;
	pe->outlier.max_ejection_percent = 10;
	pe->retry.set = true;
	pe->retry.attempts = 3;
	pe->retry.per_try_timeout_ms = 1000;
	pe->retry.retry_on = WEFT_RETRY_UNAVAILABLE | WEFT_RETRY_RESET | WEFT_RETRY_CANCELLED;
	pe->retry.backoff_base_ms = 25;
	pe->retry.backoff_max_ms = 250;
	echo->policy = pe;
	meta(&p1->meta, "echo-v1");
	p1->svc = v1;
	p1->lb.type = WEFT_LB_RANDOM;
	v1->policy = p1;
	meta(&p2->meta, "echo-v2");
	p2->svc = v2;
	p2->lb.type = WEFT_LB_LEAST_REQUEST;
	p2->lb.choice_count = 3;
	p2->fault.set = true;
	p2->fault.delay_ppm = 100000;
	p2->fault.delay_ms = 100;
	p2->fault.abort_ppm = 500000;
	p2->fault.abort_grpc = true;
	p2->fault.abort_grpc_status = 14;
	v2->policy = p2;

	/* GRPCRoute echo-r */
	weft_route_t *er = &f->routes[0];
	meta(&er->meta, "echo-r");
	er->kind = WEFT_ROUTE_GRPC;
	f->parents[0] = (weft_parent_ref_t){ .name = S("echo"), .ns = S("default"), .port = 7070, .svc = echo };
	er->parents = &f->parents[0];
	er->nparents = 1;
	f->headers[0] = (weft_str_match_t){ .type = WEFT_MATCH_EXACT, .name = S("X-Backend"), .value = S("b") };
	f->matches[0] = (weft_route_match_t){ .grpc_type = WEFT_MATCH_EXACT, .grpc_service = S("weft.test.Echo"),
					      .grpc_method = S("Echo"), .headers = f->headers, .nheaders = 1 };
	f->matches[1] = (weft_route_match_t){ .grpc_type = WEFT_MATCH_EXACT, .grpc_service = S("weft.test.Echo") };
	f->backends[0] = (weft_backend_ref_t){ .name = S("echo-v1"), .ns = S("default"), .port = 7070, .weight = 80, .svc = v1 };
	f->backends[1] = (weft_backend_ref_t){ .name = S("echo-v2"), .ns = S("default"), .port = 7070, .weight = 20, .svc = v2 };
	f->backends[2] = (weft_backend_ref_t){ .name = S("echo"), .ns = S("default"), .port = 7070, .weight = 0, .svc = echo };
	f->backends[3] = (weft_backend_ref_t){ .name = S("echo-v1"), .ns = S("default"), .port = 7070, .weight = 1, .svc = v1 };
	f->echo_rules[0] = (weft_route_rule_t){ .matches = &f->matches[0], .nmatches = 1,
						.backends = &f->backends[0], .nbackends = 3, .timeout_request_ms = 5000 };
	f->kv[0] = (weft_kv_t){ S("x-routed"), S("yes") };
	f->filters[0] = (weft_filter_t){ .type = WEFT_FILTER_REQUEST_HEADER, .headers = { .nset = 1, .set = f->kv } };
	f->echo_rules[1] = (weft_route_rule_t){ .matches = &f->matches[1], .nmatches = 1, .filters = &f->filters[0],
						.nfilters = 1, .backends = &f->backends[3], .nbackends = 1 };
	er->rules = f->echo_rules;
	er->nrules = 2;
	f->echo_routes[0] = er;
	echo->routes = f->echo_routes;
	echo->nroutes = 1;

	/* HTTPRoute web-r */
	weft_route_t *wr = &f->routes[1];
	meta(&wr->meta, "web-r");
	wr->kind = WEFT_ROUTE_HTTP;
	f->parents[1] = (weft_parent_ref_t){ .name = S("web"), .ns = S("default"), .port = 0, .svc = web };
	wr->parents = &f->parents[1];
	wr->nparents = 1;
	f->hostnames[0] = S("web.example");
	wr->hostnames = f->hostnames;
	wr->nhostnames = 1;
	f->matches[2] = (weft_route_match_t){ .path_type = WEFT_MATCH_PREFIX, .path = S("/api/") };
	f->matches[3] = (weft_route_match_t){ .path_type = WEFT_MATCH_EXACT, .path = S("/old") };
	f->backends[4] = (weft_backend_ref_t){ .name = S("web"), .ns = S("default"), .port = 8080, .weight = 1, .svc = web };
	f->filters[1] = (weft_filter_t){ .type = WEFT_FILTER_URL_REWRITE,
					 .rewrite = { .hostname = S("other.example"), .path_mod = WEFT_PATH_MOD_PREFIX, .path = S("/v2") } };
	f->filters[2] = (weft_filter_t){ .type = WEFT_FILTER_MIRROR,
					 .mirror = { .backend = { .name = S("echo-v1"), .ns = S("default"), .port = 7070, .svc = v1 },
						     .percent_ppm = 100000 } };
	f->filters[3] = (weft_filter_t){ .type = WEFT_FILTER_REDIRECT,
					 .redirect = { .scheme = S("https"), .hostname = S("new.example"),
						       .path_mod = WEFT_PATH_MOD_FULL, .path = S("/new"), .status = 302 } };
	f->web_rules[0] = (weft_route_rule_t){ .matches = &f->matches[2], .nmatches = 1, .filters = &f->filters[1],
					       .nfilters = 2, .backends = &f->backends[4], .nbackends = 1 };
	f->web_rules[1] = (weft_route_rule_t){ .matches = &f->matches[3], .nmatches = 1, .filters = &f->filters[3],
					       .nfilters = 1 };
	wr->rules = f->web_rules;
	wr->nrules = 2;
	f->web_routes[0] = wr;
	web->routes = f->web_routes;
	web->nroutes = 1;

	f->m.services = f->svc;
	f->m.nservices = 5;
	f->m.workloads = f->wl;
	f->m.nworkloads = 6;
	f->m.nodes = f->nodes;
	f->m.nnodes = 2;
	f->nodes[0].address = S("192.168.0.1");
	f->nodes[1].address = S("192.168.0.2");

	/* agents: a is {app: echo, version: v1}; allow-echo selects app=echo
	 * (from one principal to port 7071), deny-ns applies to the whole
	 * namespace (one empty rule: matches everything); the namespace is
	 * STRICT */
	f->wl_labels[0] = (weft_kv_t){ S("app"), S("echo") };
	f->wl_labels[1] = (weft_kv_t){ S("version"), S("v1") };
	f->wl[0].meta.labels = (weft_labels_t){ 2, f->wl_labels };
	f->az_sel[0] = (weft_kv_t){ S("app"), S("echo") };
	meta(&f->az[0].meta, "allow-echo");
	f->az[0].selector = (weft_labels_t){ 1, f->az_sel };
	f->az_princ[0] = S("cluster.local/ns/default/sa/web");
	f->az_src[0].principals = (weft_strs_t){ 1, f->az_princ };
	f->az_ports[0] = 7071;
	f->az_op[0].ports = f->az_ports;
	f->az_op[0].nports = 1;
	f->az_rules[0] = (weft_authz_rule_t){ .nfrom = 1, .from = f->az_src, .nto = 1, .to = f->az_op };
	f->az[0].rules = &f->az_rules[0];
	f->az[0].nrules = 1;
	meta(&f->az[1].meta, "deny-ns");
	f->az[1].action = WEFT_AUTHZ_DENY;
	f->az[1].rules = &f->az_rules[1];
	f->az[1].nrules = 1;
	f->m.authz = f->az;
	f->m.nauthz = 2;
	meta(&f->pa[0].meta, "strict");
	f->pa[0].mode = WEFT_MTLS_STRICT;
	f->m.peerauth = f->pa;
	f->m.npeerauth = 1;
	f->m.policies = f->pol;
	f->m.npolicies = 3;
	f->m.routes = f->routes;
	f->m.nroutes = 2;
}

static int setup(void **st)
{
	build_model();
	*st = weft_xds_translate(&fx.m, 7);
	return *st ? 0 : -1;
}

static int teardown(void **st)
{
	weft_xds_snapshot_unref(*st);
	return 0;
}

static const weft_xds_resource_t *get(const weft_xds_snapshot_t *s, weft_xds_type_t t, const char *name)
{
	const weft_xds_resource_t *r = weft_xds_snapshot_find(s, t, weft_str_c(name));

	if (!r)
		fail_msg("%s resource %s missing", weft_xds_type_name(t), name);
	return r;
}

static rc_t *get_rc(const weft_xds_snapshot_t *s, const char *name)
{
	const weft_xds_resource_t *r = get(s, WEFT_XDS_RDS, name);
	rc_t *rc = envoy__config__route__v3__route_configuration__unpack(NULL, r->len, r->bytes);

	assert_non_null(rc);
	assert_string_equal(rc->name, name);
	assert_int_equal(rc->n_virtual_hosts, 1);
	return rc;
}

static hcm_t *get_hcm(const weft_xds_snapshot_t *s, const char *name, Envoy__Config__Listener__V3__Listener **lp)
{
	const weft_xds_resource_t *r = get(s, WEFT_XDS_LDS, name);
	Envoy__Config__Listener__V3__Listener *l = envoy__config__listener__v3__listener__unpack(NULL, r->len, r->bytes);

	assert_non_null(l);
	assert_string_equal(l->name, name);
	assert_non_null(l->api_listener);
	assert_non_null(l->api_listener->api_listener);
	assert_string_equal(l->api_listener->api_listener->type_url,
			    "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager");
	hcm_t *h = envoy__extensions__filters__network__http_connection_manager__v3__http_connection_manager__unpack(
		NULL, l->api_listener->api_listener->value.len, l->api_listener->api_listener->value.data);
	assert_non_null(h);
	*lp = l;
	return h;
}

static bool has_domain(const Envoy__Config__Route__V3__VirtualHost *vh, const char *d)
{
	for (size_t i = 0; i < vh->n_domains; i++)
		if (strcmp(vh->domains[i], d) == 0)
			return true;
	return false;
}

static Envoy__Extensions__Filters__Http__Fault__V3__HTTPFault *fault_of(size_t n, Envoy__Config__Route__V3__Route__TypedPerFilterConfigEntry **e)
{
	assert_int_equal(n, 1);
	assert_string_equal(e[0]->key, "envoy.filters.http.fault");
	assert_string_equal(e[0]->value->type_url, "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault");
	return envoy__extensions__filters__http__fault__v3__httpfault__unpack(NULL, e[0]->value->value.len,
									      e[0]->value->value.data);
}

/* ---- tests ---- */

static void test_type_urls(void **st)
{
	for (int t = 0; t < WEFT_XDS_NTYPES; t++)
		assert_int_equal(weft_xds_type_from_url(weft_str_c(weft_xds_type_url(t))), t);
	assert_string_equal(weft_xds_type_url(WEFT_XDS_CDS), "type.googleapis.com/envoy.config.cluster.v3.Cluster");
	assert_string_equal(weft_xds_type_name(WEFT_XDS_EDS), "EDS");
	assert_int_equal(weft_xds_type_from_url(S("type.googleapis.com/envoy.config.cluster.v3.Clusterx")), -1);
	assert_int_equal(weft_xds_type_from_url(S("")), -1);
}

static void test_names_and_find(void **st)
{
	const weft_xds_snapshot_t *s = *st;

	assert_int_equal(s->generation, 7);
	assert_int_equal(s->refs, 1);
	/* 6 service ports: two listeners each, one of everything else */
	assert_int_equal(s->types[WEFT_XDS_LDS].n, 12);
	assert_int_equal(s->types[WEFT_XDS_RDS].n, 6);
	assert_int_equal(s->types[WEFT_XDS_CDS].n, 6);
	assert_int_equal(s->types[WEFT_XDS_EDS].n, 6);
	for (int t = 0; t < WEFT_XDS_NTYPES; t++)
		for (size_t i = 1; i < s->types[t].n; i++) {
			weft_str_t a = s->types[t].v[i - 1].name, b = s->types[t].v[i].name;
			size_t n = a.len < b.len ? a.len : b.len;
			int c = memcmp(a.p, b.p, n);
			assert_true(c < 0 || (c == 0 && a.len < b.len));
		}
	get(s, WEFT_XDS_LDS, "echo.default.svc.cluster.local:7070");
	get(s, WEFT_XDS_LDS, "echo.default.svc:7070");
	get(s, WEFT_XDS_LDS, "web.default.svc:9090");
	get(s, WEFT_XDS_RDS, "web.default.svc.cluster.local:8080");
	get(s, WEFT_XDS_CDS, "outbound|7070||echo-v2.default.svc.cluster.local");
	get(s, WEFT_XDS_EDS, "outbound|80||lonely.default.svc.cluster.local");
	assert_null(weft_xds_snapshot_find(s, WEFT_XDS_LDS, S("echo.default.svc.cluster.local:7071")));
	assert_null(weft_xds_snapshot_find(s, WEFT_XDS_LDS, S("echo.default.svc.cluster.local")));
	assert_null(weft_xds_snapshot_find(s, WEFT_XDS_CDS, S("echo.default.svc:7070")));
	assert_null(weft_xds_snapshot_find(s, WEFT_XDS_RDS, S("")));
	assert_null(weft_xds_snapshot_find(s, WEFT_XDS_NTYPES, S("x")));
	for (int t = 0; t < WEFT_XDS_NTYPES; t++)
		for (size_t i = 0; i < s->types[t].n; i++) {
			assert_ptr_equal(weft_xds_snapshot_find(s, t, s->types[t].v[i].name), &s->types[t].v[i]);
			assert_int_equal(s->types[t].v[i].version.len, 16);
		}
}

static void test_listener(void **st)
{
	Envoy__Config__Listener__V3__Listener *l;
	hcm_t *h = get_hcm(*st, "echo.default.svc:7070", &l);

	assert_int_equal(h->route_specifier_case,
			 ENVOY__EXTENSIONS__FILTERS__NETWORK__HTTP_CONNECTION_MANAGER__V3__HTTP_CONNECTION_MANAGER__ROUTE_SPECIFIER_RDS);
	assert_string_equal(h->rds->route_config_name, "echo.default.svc.cluster.local:7070");
	assert_int_equal(h->rds->config_source->config_source_specifier_case,
			 ENVOY__CONFIG__CORE__V3__CONFIG_SOURCE__CONFIG_SOURCE_SPECIFIER_ADS);
	assert_int_equal(h->rds->config_source->resource_api_version, ENVOY__CONFIG__CORE__V3__API_VERSION__V3);
	/* echo-v2 injects faults: fault filter first, router last */
	assert_int_equal(h->n_http_filters, 2);
	assert_string_equal(h->http_filters[0]->name, "envoy.filters.http.fault");
	assert_string_equal(h->http_filters[0]->typed_config->type_url,
			    "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault");
	assert_int_equal(h->http_filters[0]->typed_config->value.len, 0);   /* no fault at the top */
	assert_string_equal(h->http_filters[1]->name, "envoy.filters.http.router");
	assert_string_equal(h->http_filters[1]->typed_config->type_url,
			    "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router");
	envoy__extensions__filters__network__http_connection_manager__v3__http_connection_manager__free_unpacked(h, NULL);
	envoy__config__listener__v3__listener__free_unpacked(l, NULL);

	/* no faulty backend: the fault filter is still listed (with no fault),
	 * so that a policy adding one later changes only the routes */
	h = get_hcm(*st, "lonely.default.svc.cluster.local:80", &l);
	assert_int_equal(h->n_http_filters, 2);
	assert_string_equal(h->http_filters[0]->name, "envoy.filters.http.fault");
	assert_int_equal(h->http_filters[0]->typed_config->value.len, 0);
	assert_string_equal(h->http_filters[1]->name, "envoy.filters.http.router");
	assert_string_equal(h->rds->route_config_name, "lonely.default.svc.cluster.local:80");
	envoy__extensions__filters__network__http_connection_manager__v3__http_connection_manager__free_unpacked(h, NULL);
	envoy__config__listener__v3__listener__free_unpacked(l, NULL);
}

static void test_grpc_routes(void **st)
{
	rc_t *rc = get_rc(*st, "echo.default.svc.cluster.local:7070");
	Envoy__Config__Route__V3__VirtualHost *vh = rc->virtual_hosts[0];
	const char *domains[] = { "echo.default.svc.cluster.local", "echo.default.svc.cluster.local:7070",
				  "echo.default.svc", "echo.default.svc:7070", "echo.default", "echo.default:7070",
				  "echo", "echo:7070", "10.96.0.10:7070" };

	for (size_t i = 0; i < sizeof(domains) / sizeof(domains[0]); i++)
		assert_true(has_domain(vh, domains[i]));
	assert_int_equal(vh->n_domains, 9);
	assert_int_equal(vh->n_routes, 3);

	/* rule 0: exact method + header, 80/20 split (weight 0 dropped) */
	route_t *r = vh->routes[0];
	/* its weighted clusters carry fault overrides: the name carries their
	 * digest (grpc-js-xds only notices changed overrides through it) */
	assert_true(strncmp(r->name, "default/echo-r/rule0/match0#fault-", 34) == 0);
	assert_int_equal(strlen(r->name), 34 + 16);
	assert_int_equal(r->match->path_specifier_case, ENVOY__CONFIG__ROUTE__V3__ROUTE_MATCH__PATH_SPECIFIER_PATH);
	assert_string_equal(r->match->path, "/weft.test.Echo/Echo");
	assert_int_equal(r->match->n_headers, 1);
	assert_string_equal(r->match->headers[0]->name, "x-backend");
	assert_string_equal(r->match->headers[0]->string_match->exact, "b");
	assert_int_equal(r->action_case, ENVOY__CONFIG__ROUTE__V3__ROUTE__ACTION_ROUTE);
	Envoy__Config__Route__V3__RouteAction *a = r->route;
	assert_int_equal(a->cluster_specifier_case, ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__CLUSTER_SPECIFIER_WEIGHTED_CLUSTERS);
	assert_int_equal(a->weighted_clusters->n_clusters, 2);
	assert_string_equal(a->weighted_clusters->clusters[0]->name, "outbound|7070||echo-v1.default.svc.cluster.local");
	assert_int_equal(a->weighted_clusters->clusters[0]->weight->value, 80);
	assert_int_equal(a->weighted_clusters->clusters[0]->n_typed_per_filter_config, 0);
	assert_string_equal(a->weighted_clusters->clusters[1]->name, "outbound|7070||echo-v2.default.svc.cluster.local");
	assert_int_equal(a->weighted_clusters->clusters[1]->weight->value, 20);
	/* echo-v2's fault on its weighted cluster */
	Envoy__Extensions__Filters__Http__Fault__V3__HTTPFault *f =
		fault_of(a->weighted_clusters->clusters[1]->n_typed_per_filter_config,
			 (Envoy__Config__Route__V3__Route__TypedPerFilterConfigEntry **)
			 a->weighted_clusters->clusters[1]->typed_per_filter_config);
	assert_non_null(f);
	assert_int_equal(f->abort->error_type_case, ENVOY__EXTENSIONS__FILTERS__HTTP__FAULT__V3__FAULT_ABORT__ERROR_TYPE_GRPC_STATUS);
	assert_int_equal(f->abort->grpc_status, 14);
	assert_int_equal(f->abort->percentage->numerator, 500000);
	assert_int_equal(f->abort->percentage->denominator, ENVOY__TYPE__V3__FRACTIONAL_PERCENT__DENOMINATOR_TYPE__MILLION);
	assert_int_equal(f->delay->fixed_delay->seconds, 0);
	assert_int_equal(f->delay->fixed_delay->nanos, 100000000);
	assert_int_equal(f->delay->percentage->numerator, 100000);
	envoy__extensions__filters__http__fault__v3__httpfault__free_unpacked(f, NULL);
	/* timeouts and the parent's retries */
	assert_int_equal(a->timeout->seconds, 5);
	assert_int_equal(a->max_stream_duration->max_stream_duration->seconds, 5);
	assert_non_null(a->retry_policy);
	assert_string_equal(a->retry_policy->retry_on, "reset,cancelled,unavailable");
	assert_int_equal(a->retry_policy->num_retries->value, 3);
	assert_int_equal(a->retry_policy->per_try_timeout->seconds, 1);
	assert_int_equal(a->retry_policy->retry_back_off->base_interval->nanos, 25000000);
	assert_int_equal(a->retry_policy->retry_back_off->max_interval->nanos, 250000000);
	assert_int_equal(a->n_hash_policy, 0);   /* v1, v2 do not ring-hash */

	/* rule 1: service prefix, one backend, header modifier */
	r = vh->routes[1];
	assert_int_equal(r->match->path_specifier_case, ENVOY__CONFIG__ROUTE__V3__ROUTE_MATCH__PATH_SPECIFIER_PREFIX);
	assert_string_equal(r->match->prefix, "/weft.test.Echo/");
	assert_int_equal(r->route->cluster_specifier_case, ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__CLUSTER_SPECIFIER_CLUSTER);
	assert_string_equal(r->route->cluster, "outbound|7070||echo-v1.default.svc.cluster.local");
	assert_null(r->route->timeout);
	assert_int_equal(r->n_typed_per_filter_config, 0);
	assert_int_equal(r->n_request_headers_to_add, 1);
	assert_string_equal(r->request_headers_to_add[0]->header->key, "x-routed");
	assert_string_equal(r->request_headers_to_add[0]->header->value, "yes");
	assert_int_equal(r->request_headers_to_add[0]->append_action,
			 ENVOY__CONFIG__CORE__V3__HEADER_VALUE_OPTION__HEADER_APPEND_ACTION__OVERWRITE_IF_EXISTS_OR_ADD);

	/* catch-all to the service itself, hashing on its ring-hash header */
	r = vh->routes[2];
	assert_string_equal(r->name, "default");
	assert_string_equal(r->match->prefix, "/");
	assert_int_equal(r->match->n_headers, 0);
	assert_string_equal(r->route->cluster, "outbound|7070||echo.default.svc.cluster.local");
	assert_int_equal(r->route->n_hash_policy, 3);
	assert_int_equal(r->route->hash_policy[0]->policy_specifier_case,
			 ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__HASH_POLICY__POLICY_SPECIFIER_HEADER);
	assert_string_equal(r->route->hash_policy[0]->header->header_name, "x-user");
	/* source IP: for proxies, and per client channel for gRPC */
	assert_true(r->route->hash_policy[1]->connection_properties->source_ip);
	assert_string_equal(r->route->hash_policy[2]->filter_state->key, "io.grpc.channel_id");
	assert_non_null(r->route->retry_policy);
	envoy__config__route__v3__route_configuration__free_unpacked(rc, NULL);
}

static void test_http_routes(void **st)
{
	rc_t *rc = get_rc(*st, "web.default.svc.cluster.local:8080");
	Envoy__Config__Route__V3__VirtualHost *vh = rc->virtual_hosts[0];

	assert_true(has_domain(vh, "web.example"));
	assert_true(has_domain(vh, "web.example:8080"));
	assert_true(has_domain(vh, "web:8080"));
	/* PathPrefix /api/ -> path /api + prefix /api/, then the redirect, then the default */
	assert_int_equal(vh->n_routes, 4);
	route_t *r = vh->routes[0];
	assert_int_equal(r->match->path_specifier_case, ENVOY__CONFIG__ROUTE__V3__ROUTE_MATCH__PATH_SPECIFIER_PATH);
	assert_string_equal(r->match->path, "/api");
	assert_string_equal(r->route->prefix_rewrite, "/v2");
	assert_string_equal(r->route->host_rewrite_literal, "other.example");
	assert_string_equal(r->route->cluster, "outbound|8080||web.default.svc.cluster.local");
	assert_int_equal(r->route->n_request_mirror_policies, 1);
	assert_string_equal(r->route->request_mirror_policies[0]->cluster, "outbound|7070||echo-v1.default.svc.cluster.local");
	assert_int_equal(r->route->request_mirror_policies[0]->runtime_fraction->default_value->numerator, 100000);
	assert_null(r->route->retry_policy);
	r = vh->routes[1];
	assert_int_equal(r->match->path_specifier_case, ENVOY__CONFIG__ROUTE__V3__ROUTE_MATCH__PATH_SPECIFIER_PREFIX);
	assert_string_equal(r->match->prefix, "/api/");
	assert_string_equal(r->route->prefix_rewrite, "/v2/");
	r = vh->routes[2];
	assert_string_equal(r->match->path, "/old");
	assert_int_equal(r->action_case, ENVOY__CONFIG__ROUTE__V3__ROUTE__ACTION_REDIRECT);
	assert_string_equal(r->redirect->scheme_redirect, "https");
	assert_string_equal(r->redirect->host_redirect, "new.example");
	assert_string_equal(r->redirect->path_redirect, "/new");
	assert_int_equal(r->redirect->response_code, ENVOY__CONFIG__ROUTE__V3__REDIRECT_ACTION__REDIRECT_RESPONSE_CODE__FOUND);
	assert_string_equal(vh->routes[3]->match->prefix, "/");
	envoy__config__route__v3__route_configuration__free_unpacked(rc, NULL);

	/* the grpc port of the same service gets no redirect (gRPC NACKs it) */
	rc = get_rc(*st, "web.default.svc.cluster.local:9090");
	vh = rc->virtual_hosts[0];
	assert_int_equal(vh->n_routes, 3);
	for (size_t i = 0; i < vh->n_routes; i++)
		assert_int_equal(vh->routes[i]->action_case, ENVOY__CONFIG__ROUTE__V3__ROUTE__ACTION_ROUTE);
	assert_string_equal(vh->routes[0]->route->cluster, "outbound|8080||web.default.svc.cluster.local");
	assert_string_equal(vh->routes[2]->route->cluster, "outbound|9090||web.default.svc.cluster.local");
	envoy__config__route__v3__route_configuration__free_unpacked(rc, NULL);
}

static Envoy__Config__Cluster__V3__Cluster *get_cluster(const weft_xds_snapshot_t *s, const char *name)
{
	const weft_xds_resource_t *r = get(s, WEFT_XDS_CDS, name);
	Envoy__Config__Cluster__V3__Cluster *c = envoy__config__cluster__v3__cluster__unpack(NULL, r->len, r->bytes);

	assert_non_null(c);
	assert_string_equal(c->name, name);
	assert_int_equal(c->cluster_discovery_type_case, ENVOY__CONFIG__CLUSTER__V3__CLUSTER__CLUSTER_DISCOVERY_TYPE_TYPE);
	assert_int_equal(c->type, ENVOY__CONFIG__CLUSTER__V3__CLUSTER__DISCOVERY_TYPE__EDS);
	assert_string_equal(c->eds_cluster_config->service_name, name);
	assert_int_equal(c->eds_cluster_config->eds_config->config_source_specifier_case,
			 ENVOY__CONFIG__CORE__V3__CONFIG_SOURCE__CONFIG_SOURCE_SPECIFIER_ADS);
	return c;
}

static void test_clusters(void **st)
{
	Envoy__Config__Cluster__V3__Cluster *c = get_cluster(*st, "outbound|7070||echo.default.svc.cluster.local");

	assert_int_equal(c->lb_policy, ENVOY__CONFIG__CLUSTER__V3__CLUSTER__LB_POLICY__RING_HASH);
	assert_int_equal(c->ring_hash_lb_config->minimum_ring_size->value, 1024);
	assert_int_equal(c->ring_hash_lb_config->maximum_ring_size->value, 8388608);   /* capped */
	assert_null(c->load_balancing_policy);
	assert_int_equal(c->circuit_breakers->n_thresholds, 1);
	assert_int_equal(c->circuit_breakers->thresholds[0]->max_requests->value, 100);
	assert_int_equal(c->circuit_breakers->thresholds[0]->max_connections->value, UINT32_MAX);
	assert_int_equal(c->outlier_detection->consecutive_5xx->value, 5);
	assert_int_equal(c->outlier_detection->enforcing_consecutive_5xx->value, 100);
	assert_int_equal(c->outlier_detection->interval->seconds, 10);
	assert_int_equal(c->outlier_detection->base_ejection_time->seconds, 30);
	assert_int_equal(c->outlier_detection->max_ejection_percent->value, 10);
	assert_null(c->outlier_detection->consecutive_gateway_failure);
	envoy__config__cluster__v3__cluster__free_unpacked(c, NULL);

	/* LeastRequest: ordered policy list, round_robin as fallback */
	c = get_cluster(*st, "outbound|7070||echo-v2.default.svc.cluster.local");
	assert_non_null(c->load_balancing_policy);
	assert_int_equal(c->load_balancing_policy->n_policies, 2);
	Envoy__Config__Core__V3__TypedExtensionConfig *e = c->load_balancing_policy->policies[0]->typed_extension_config;
	assert_string_equal(e->typed_config->type_url,
			    "type.googleapis.com/envoy.extensions.load_balancing_policies.least_request.v3.LeastRequest");
	Envoy__Extensions__LoadBalancingPolicies__LeastRequest__V3__LeastRequest *lr =
		envoy__extensions__load_balancing_policies__least_request__v3__least_request__unpack(
			NULL, e->typed_config->value.len, e->typed_config->value.data);
	assert_int_equal(lr->choice_count->value, 3);
	envoy__extensions__load_balancing_policies__least_request__v3__least_request__free_unpacked(lr, NULL);
	assert_string_equal(c->load_balancing_policy->policies[1]->typed_extension_config->typed_config->type_url,
			    "type.googleapis.com/envoy.extensions.load_balancing_policies.round_robin.v3.RoundRobin");
	assert_null(c->circuit_breakers);
	assert_null(c->outlier_detection);
	envoy__config__cluster__v3__cluster__free_unpacked(c, NULL);

	c = get_cluster(*st, "outbound|7070||echo-v1.default.svc.cluster.local");
	assert_string_equal(c->load_balancing_policy->policies[0]->typed_extension_config->typed_config->type_url,
			    "type.googleapis.com/envoy.extensions.load_balancing_policies.random.v3.Random");
	assert_int_equal(c->load_balancing_policy->n_policies, 2);
	envoy__config__cluster__v3__cluster__free_unpacked(c, NULL);

	c = get_cluster(*st, "outbound|80||lonely.default.svc.cluster.local");
	assert_int_equal(c->lb_policy, ENVOY__CONFIG__CLUSTER__V3__CLUSTER__LB_POLICY__ROUND_ROBIN);
	assert_null(c->load_balancing_policy);
	envoy__config__cluster__v3__cluster__free_unpacked(c, NULL);
}

static void test_endpoints(void **st)
{
	const weft_xds_resource_t *r = get(*st, WEFT_XDS_EDS, "outbound|7070||echo.default.svc.cluster.local");
	Envoy__Config__Endpoint__V3__ClusterLoadAssignment *cla =
		envoy__config__endpoint__v3__cluster_load_assignment__unpack(NULL, r->len, r->bytes);

	assert_non_null(cla);
	assert_string_equal(cla->cluster_name, "outbound|7070||echo.default.svc.cluster.local");
	/* localities sorted: none (c), eu/eu-1a/r1 (a; d duplicates a's address), eu/eu-1b (b) */
	assert_int_equal(cla->n_endpoints, 3);
	Envoy__Config__Endpoint__V3__LocalityLbEndpoints **le = cla->endpoints;
	assert_string_equal(le[0]->locality->region, "");
	assert_int_equal(le[0]->n_lb_endpoints, 1);
	assert_string_equal(le[0]->lb_endpoints[0]->endpoint->address->socket_address->address, "10.0.0.13");
	assert_int_equal(le[0]->load_balancing_weight->value, 1);
	assert_string_equal(le[1]->locality->region, "eu");
	assert_string_equal(le[1]->locality->zone, "eu-1a");
	assert_string_equal(le[1]->locality->sub_zone, "r1");
	assert_int_equal(le[1]->n_lb_endpoints, 1);
	assert_string_equal(le[1]->lb_endpoints[0]->endpoint->address->socket_address->address, "10.0.0.11");
	assert_int_equal(le[1]->lb_endpoints[0]->endpoint->address->socket_address->port_value, 7071);
	assert_int_equal(le[1]->lb_endpoints[0]->load_balancing_weight->value, 2);
	assert_int_equal(le[1]->load_balancing_weight->value, 2);
	assert_int_equal(le[1]->priority, 0);
	assert_string_equal(le[2]->locality->zone, "eu-1b");
	assert_string_equal(le[2]->lb_endpoints[0]->endpoint->address->socket_address->address, "10.0.0.12");
	assert_int_equal(le[2]->lb_endpoints[0]->health_status, ENVOY__CONFIG__CORE__V3__HEALTH_STATUS__HEALTHY);
	envoy__config__endpoint__v3__cluster_load_assignment__free_unpacked(cla, NULL);

	/* no workloads: an empty assignment */
	r = get(*st, WEFT_XDS_EDS, "outbound|80||lonely.default.svc.cluster.local");
	cla = envoy__config__endpoint__v3__cluster_load_assignment__unpack(NULL, r->len, r->bytes);
	assert_non_null(cla);
	assert_int_equal(cla->n_endpoints, 0);
	envoy__config__endpoint__v3__cluster_load_assignment__free_unpacked(cla, NULL);
}

static bool same_resource(const weft_xds_resource_t *a, const weft_xds_resource_t *b)
{
	if (a->len != b->len || memcmp(a->bytes, b->bytes, a->len) != 0 || !weft_str_eq(a->version, b->version))
		return false;
	if (!a->audience != !b->audience || a->naudience != b->naudience)
		return false;
	for (size_t i = 0; i < a->naudience; i++)
		if (!weft_str_eq(a->audience[i], b->audience[i]))
			return false;
	return true;
}

static void test_determinism_and_versions(void **st)
{
	const weft_xds_snapshot_t *s1 = *st;
	weft_xds_snapshot_t *s2 = weft_xds_translate(&fx.m, 8);

	assert_non_null(s2);
	for (int t = 0; t < WEFT_XDS_NTYPES; t++) {
		assert_int_equal(s1->types[t].n, s2->types[t].n);
		for (size_t i = 0; i < s1->types[t].n; i++) {
			assert_true(weft_str_eq(s1->types[t].v[i].name, s2->types[t].v[i].name));
			assert_true(same_resource(&s1->types[t].v[i], &s2->types[t].v[i]));
		}
	}

	/* echo-v2's abort share changes: only the route configurations sending
	 * to it change (echo's and echo-v2's own), and echo-v2's agent Service
	 * (it carries the DestinationPolicy) */
	fx.pol[2].fault.abort_ppm = 250000;
	weft_xds_snapshot_t *s3 = weft_xds_translate(&fx.m, 9);
	assert_non_null(s3);
	const char *rds = "echo.default.svc.cluster.local:7070";
	assert_false(same_resource(get(s1, WEFT_XDS_RDS, rds), get(s3, WEFT_XDS_RDS, rds)));
	assert_true(same_resource(get(s1, WEFT_XDS_RDS, "web.default.svc.cluster.local:8080"),
				  get(s3, WEFT_XDS_RDS, "web.default.svc.cluster.local:8080")));
	for (int t = 0; t < WEFT_XDS_NTYPES; t++)
		for (size_t i = 0; i < s1->types[t].n; i++) {
			if ((t == WEFT_XDS_RDS && (weft_str_eq_c(s1->types[t].v[i].name, rds) ||
			    weft_str_eq_c(s1->types[t].v[i].name, "echo-v2.default.svc.cluster.local:7070"))) ||
			    (t == WEFT_XDS_SERVICE && weft_str_eq_c(s1->types[t].v[i].name, "default/echo-v2"))) {
				assert_false(same_resource(&s1->types[t].v[i], &s3->types[t].v[i]));
				continue;
			}
			assert_true(same_resource(&s1->types[t].v[i], &s3->types[t].v[i]));
		}
	fx.pol[2].fault.abort_ppm = 500000;

	/* refcounting: a second reference keeps it alive */
	weft_xds_snapshot_ref(s3);
	assert_int_equal(s3->refs, 2);
	weft_xds_snapshot_unref(s3);
	assert_int_equal(s3->refs, 1);
	weft_xds_snapshot_unref(s3);
	weft_xds_snapshot_unref(s2);
	weft_xds_snapshot_unref(NULL);
}

static void test_empty_model(void **st)
{
	weft_model_t m;

	memset(&m, 0, sizeof(m));
	weft_xds_snapshot_t *s = weft_xds_translate(&m, 1);
	assert_non_null(s);
	for (int t = 0; t < WEFT_XDS_NTYPES; t++)
		assert_int_equal(s->types[t].n, 0);
	assert_null(weft_xds_snapshot_find(s, WEFT_XDS_LDS, S("x")));
	weft_xds_snapshot_unref(s);
}

/* ---- reuse across generations ---- */

/* s and fresh hold the same resources, byte for byte. */
static void assert_same_snapshot(const weft_xds_snapshot_t *s, const weft_xds_snapshot_t *fresh)
{
	for (int t = 0; t < WEFT_XDS_NTYPES; t++) {
		assert_int_equal(s->types[t].n, fresh->types[t].n);
		for (size_t i = 0; i < s->types[t].n; i++) {
			assert_true(weft_str_eq(s->types[t].v[i].name, fresh->types[t].v[i].name));
			assert_true(same_resource(&s->types[t].v[i], &fresh->types[t].v[i]));
		}
	}
}

/* Resources of s of types [t0, t1) whose version differs from prev's (or
 * are new). */
static size_t changed_in(const weft_xds_snapshot_t *prev, const weft_xds_snapshot_t *s, int t0, int t1,
			 weft_xds_type_t *t_out, weft_str_t *name_out)
{
	size_t n = 0;

	for (int t = t0; t < t1; t++)
		for (size_t i = 0; i < s->types[t].n; i++) {
			const weft_xds_resource_t *r = &s->types[t].v[i];
			const weft_xds_resource_t *o = weft_xds_snapshot_find(prev, t, r->name);

			if (o && weft_str_eq(o->version, r->version))
				continue;
			n++;
			*t_out = t;
			*name_out = r->name;
		}
	return n;
}

/* The same for the proxyless types (LDS, RDS, CDS, EDS). */
static size_t changed_versions(const weft_xds_snapshot_t *prev, const weft_xds_snapshot_t *s,
			       weft_xds_type_t *t_out, weft_str_t *name_out)
{
	return changed_in(prev, s, 0, WEFT_XDS_FIRST_AGENT, t_out, name_out);
}

/* The same for the agent types. */
static size_t changed_agent(const weft_xds_snapshot_t *prev, const weft_xds_snapshot_t *s)
{
	weft_xds_type_t t;
	weft_str_t name;

	return changed_in(prev, s, WEFT_XDS_FIRST_AGENT, WEFT_XDS_NTYPES, &t, &name);
}

/* Translates the fixture from prev and from scratch, checks both agree,
 * drops prev and returns the reused one. */
static weft_xds_snapshot_t *next_gen(weft_xds_snapshot_t *prev, uint64_t g)
{
	weft_xds_snapshot_t *s = weft_xds_translate_from(&fx.m, g, prev);
	weft_xds_snapshot_t *fresh = weft_xds_translate(&fx.m, g);

	assert_non_null(s);
	assert_non_null(fresh);
	assert_int_equal(s->generation, g);
	assert_same_snapshot(s, fresh);
	weft_xds_snapshot_unref(fresh);
	weft_xds_snapshot_unref(prev);   /* s must not depend on it */
	assert_same_snapshot(s, s);
	return s;
}

/* Every kind of model change, one generation each, on top of the last:
 * the reused translation always equals a fresh one. */
static void test_reuse_matches_fresh(void **st)
{
	fixture_t *f = &fx;
	weft_xds_snapshot_t *s = weft_xds_translate_from(&f->m, 1, NULL);
	weft_xds_type_t t = WEFT_XDS_NTYPES;
	weft_str_t name = { NULL, 0 };
	const weft_xds_snapshot_t *before;
	uint64_t g = 1;

	assert_non_null(s);
	assert_same_snapshot(s, *st);

	/* nothing changed: nothing changes */
	weft_xds_snapshot_ref(s);
	before = s;
	s = next_gen(s, ++g);
	assert_int_equal(changed_versions(before, s, &t, &name), 0);
	weft_xds_snapshot_unref((weft_xds_snapshot_t *)before);

	/* one workload's address: exactly echo's EDS resource changes */
	weft_xds_snapshot_ref(s);
	before = s;
	f->addrs[1] = S("10.0.9.9");
	s = next_gen(s, ++g);
	assert_int_equal(changed_versions(before, s, &t, &name), 1);
	assert_int_equal(t, WEFT_XDS_EDS);
	assert_true(weft_str_eq_c(name, "outbound|7070||echo.default.svc.cluster.local"));
	/* and for agents: workload b and service echo */
	assert_int_equal(changed_agent(before, s), 2);
	weft_xds_snapshot_unref((weft_xds_snapshot_t *)before);

	/* each of these changes something else */
	f->wl[0].weight = 7;                                   s = next_gen(s, ++g);
	f->nodes[1].locality.zone = S("eu-1c");                s = next_gen(s, ++g);
	f->wl[2].node = &f->nodes[1];                          s = next_gen(s, ++g);
	f->ports[0].target_port = 7072;                        s = next_gen(s, ++g);
	f->svc[0].nworkloads = 2;                              s = next_gen(s, ++g);
	f->pol[2].fault.abort_ppm = 250000;                    s = next_gen(s, ++g);
	f->pol[2].fault.set = false;                           s = next_gen(s, ++g);
	f->pol[2].fault.set = true;                            s = next_gen(s, ++g);
	f->backends[1].weight = 30;                            s = next_gen(s, ++g);
	f->backends[0].weight = 0;                             s = next_gen(s, ++g);
	f->headers[0].value = S("c");                          s = next_gen(s, ++g);
	f->matches[1].grpc_method = S("Other");                s = next_gen(s, ++g);
	f->hostnames[0] = S("web2.example");                   s = next_gen(s, ++g);
	f->svc[0].cluster_ip = S("fd00::10");                  s = next_gen(s, ++g);
	f->pol[0].lb.ring_max = 4096;                          s = next_gen(s, ++g);
	f->pol[0].lb.hash_header = S("x-other");               s = next_gen(s, ++g);
	f->pol[0].retry.attempts = 5;                          s = next_gen(s, ++g);
	f->pol[0].outlier.consecutive_gateway_errors = 3;      s = next_gen(s, ++g);
	f->pol[1].lb.type = WEFT_LB_ROUND_ROBIN;               s = next_gen(s, ++g);
	f->svc[1].policy = NULL;                               s = next_gen(s, ++g);
	f->filters[2].mirror.percent_ppm = 5000;               s = next_gen(s, ++g);
	f->filters[1].rewrite.path = S("/v3");                 s = next_gen(s, ++g);
	f->filters[3].redirect.status = 308;                   s = next_gen(s, ++g);
	f->kv[0].value = S("no");                              s = next_gen(s, ++g);
	f->echo_rules[0].timeout_request_ms = 0;               s = next_gen(s, ++g);
	f->ports[3].proto = WEFT_APP_GRPC;                     s = next_gen(s, ++g);
	f->parents[0].port = 9999;                             s = next_gen(s, ++g);
	f->parents[0].port = 0;                                s = next_gen(s, ++g);
	f->m.nservices = 4;   /* web goes */                   s = next_gen(s, ++g);
	f->m.nservices = 5;   /* and comes back */             s = next_gen(s, ++g);
	f->svc[3].meta.name = S("echo");   /* lonely's names collide with echo's */
	f->ports[5].port = 7070;                               s = next_gen(s, ++g);
	f->svc[3].meta.name = S("lonely");                     s = next_gen(s, ++g);
	/* agent inputs */
	f->az[0].action = WEFT_AUTHZ_AUDIT;                    s = next_gen(s, ++g);
	f->az_princ[0] = S("cluster.local/ns/default/sa/*");   s = next_gen(s, ++g);
	f->az_ports[0] = 7072;                                 s = next_gen(s, ++g);
	f->az_op[0].has_l7 = true;                             s = next_gen(s, ++g);
	static weft_authz_condition_t when = { .key = { "source.ip", 9 } };
	f->az_rules[1].when = &when;
	f->az_rules[1].nwhen = 1;                              s = next_gen(s, ++g);
	f->wl_labels[0].value = S("other");  /* a leaves allow-echo */ s = next_gen(s, ++g);
	f->az_sel[0].value = S("other");     /* and is back */  s = next_gen(s, ++g);
	f->wl_labels[1].value = S("v2");                       s = next_gen(s, ++g);
	f->pa[0].mode = WEFT_MTLS_UNSET;                       s = next_gen(s, ++g);
	f->pa[0].mode = WEFT_MTLS_PERMISSIVE;                  s = next_gen(s, ++g);
	f->nodes[0].address = S("192.168.0.9");                s = next_gen(s, ++g);
	f->wl[0].service_account = S("echo");                  s = next_gen(s, ++g);
	f->wl[0].netns = S("/run/netns/a");                    s = next_gen(s, ++g);
	f->wl[1].node = &f->nodes[0];                          s = next_gen(s, ++g);
	f->az[1].meta.ns = S("weft-system");  /* root: mesh-wide */ s = next_gen(s, ++g);
	f->m.nauthz = 1;                                       s = next_gen(s, ++g);
	f->m.npeerauth = 0;                                    s = next_gen(s, ++g);
	f->m.nservices = 0;                                    s = next_gen(s, ++g);
	build_model();                                         s = next_gen(s, ++g);
	assert_same_snapshot(s, *st);
	weft_xds_snapshot_unref(s);

	/* a snapshot without reuse data (built by other means) is ignored */
	weft_xds_snapshot_t *plain = weft_xds_translate(&f->m, 1);
	struct weft_xds_reuse *r = plain->reuse;
	plain->reuse = NULL;
	s = weft_xds_translate_from(&f->m, 2, plain);
	assert_same_snapshot(s, *st);
	weft_xds_snapshot_unref(s);
	plain->reuse = r;
	weft_xds_snapshot_unref(plain);
}

/* ---- a mesh big enough for resources to share blobs ---- */

#define BIG_SVCS 300
#define BIG_WL   3

typedef struct big {
	weft_model_t m;
	weft_node_t nodes[4];
	weft_service_t svc[BIG_SVCS];
	weft_svc_port_t ports[BIG_SVCS];
	weft_workload_t wl[BIG_SVCS * BIG_WL];
	const weft_workload_t *sel[BIG_SVCS * BIG_WL];
	weft_str_t addrs[BIG_SVCS * BIG_WL];
	char names[BIG_SVCS][16];
	char ips[BIG_SVCS * BIG_WL][20];
} big_t;

static big_t *big_model(void)
{
	big_t *b = calloc(1, sizeof(*b));
	static const char *zones[4] = { "z1", "z2", "z3", "z4" };

	assert_non_null(b);
	for (int n = 0; n < 4; n++) {
		b->nodes[n].meta.name = weft_str_c(zones[n]);
		b->nodes[n].locality = (weft_locality_t){ S("r"), weft_str_c(zones[n]), S("") };
	}
	for (int i = 0; i < BIG_SVCS; i++) {
		weft_service_t *svc = &b->svc[i];

		snprintf(b->names[i], sizeof(b->names[i]), "svc-%03d", i);
		meta(&svc->meta, b->names[i]);
		b->ports[i] = (weft_svc_port_t){ .port = 8080, .target_port = 8080, .proto = WEFT_APP_GRPC };
		svc->ports = &b->ports[i];
		svc->nports = 1;
		svc->workloads = &b->sel[i * BIG_WL];
		svc->nworkloads = BIG_WL;
		for (int j = 0; j < BIG_WL; j++) {
			int k = i * BIG_WL + j;

			snprintf(b->ips[k], sizeof(b->ips[k]), "10.%d.%d.%d", j, i / 256, i % 256);
			b->addrs[k] = weft_str_c(b->ips[k]);
			b->wl[k].addrs = &b->addrs[k];
			b->wl[k].naddrs = 1;
			b->wl[k].weight = 1;
			b->wl[k].node = &b->nodes[k % 4];
			b->sel[k] = &b->wl[k];
		}
	}
	b->m.services = b->svc;
	b->m.nservices = BIG_SVCS;
	b->m.workloads = b->wl;
	b->m.nworkloads = BIG_SVCS * BIG_WL;
	b->m.nodes = b->nodes;
	b->m.nnodes = 4;
	return b;
}

/* Unchanged resources share the previous snapshot's memory; a changed
 * workload changes exactly its service's EDS resource; and over many
 * generations memory stays bounded (blobs mostly dead get copied out). */
static void test_reuse_shares_memory(void **st)
{
	big_t *b = big_model();
	weft_xds_snapshot_t *s1 = weft_xds_translate(&b->m, 1), *s2, *fresh;
	weft_xds_type_t t = WEFT_XDS_NTYPES;
	weft_str_t name = { NULL, 0 };
	size_t own1, own2, shared2, total_fresh;
	static char ip[200][20];

	assert_non_null(s1);
	total_fresh = weft_xds_snapshot_memory(s1, &own1, NULL);
	b->addrs[5 * BIG_WL + 1] = S("10.99.0.1");
	s2 = weft_xds_translate_from(&b->m, 2, s1);
	assert_non_null(s2);
	weft_xds_snapshot_memory(s2, &own2, &shared2);
	assert_true(shared2 > 0);
	assert_true(own2 < own1);
	assert_int_equal(changed_versions(s1, s2, &t, &name), 1);
	assert_int_equal(t, WEFT_XDS_EDS);
	assert_true(weft_str_eq_c(name, "outbound|8080||svc-005.default.svc.cluster.local"));
	/* a reused resource is the previous one's memory, not a copy */
	assert_ptr_equal(get(s1, WEFT_XDS_CDS, "outbound|8080||svc-007.default.svc.cluster.local")->bytes,
			 get(s2, WEFT_XDS_CDS, "outbound|8080||svc-007.default.svc.cluster.local")->bytes);
	weft_xds_snapshot_unref(s1);
	fresh = weft_xds_translate(&b->m, 2);
	assert_same_snapshot(s2, fresh);
	weft_xds_snapshot_unref(fresh);

	/* many generations, each moving one endpoint: still the same as fresh,
	 * and never much more memory than a fresh snapshot */
	for (int g = 0; g < 200; g++) {
		int k = (g * 37) % (BIG_SVCS * BIG_WL);
		weft_xds_snapshot_t *s3;

		snprintf(ip[g], sizeof(ip[0]), "10.200.%d.%d", g / 256, g % 256);
		b->addrs[k] = weft_str_c(ip[g]);
		s3 = weft_xds_translate_from(&b->m, (uint64_t)g + 3, s2);
		assert_non_null(s3);
		assert_int_equal(changed_versions(s2, s3, &t, &name), 1);
		weft_xds_snapshot_unref(s2);
		s2 = s3;
		assert_true(weft_xds_snapshot_memory(s2, NULL, NULL) < 2 * total_fresh);
		if (g % 50 == 0) {
			fresh = weft_xds_translate(&b->m, (uint64_t)g + 3);
			assert_same_snapshot(s2, fresh);
			weft_xds_snapshot_unref(fresh);
		}
	}
	fresh = weft_xds_translate(&b->m, 1000);
	assert_same_snapshot(s2, fresh);
	weft_xds_snapshot_unref(fresh);
	weft_xds_snapshot_unref(s2);
	free(b);
}

/* With WEFT_XDS_DUMP=<dir>, writes every proxyless resource of the fixture's snapshot
 * to <dir>/<TYPE>-<n>.bin and their names to <dir>/index.txt, for
 * tests/proto/validate-resources.js (grpc-js-xds's own validation). */
static void test_dump(void **st)
{
	const weft_xds_snapshot_t *s = *st;
	const char *dir = getenv("WEFT_XDS_DUMP");
	char path[4096];
	FILE *idx;

	if (!dir)
		return;
	snprintf(path, sizeof(path), "%s/index.txt", dir);
	idx = fopen(path, "w");
	assert_non_null(idx);
	/* the proxyless types only: agent types are not for gRPC clients */
	for (int t = 0; t < WEFT_XDS_FIRST_AGENT; t++)
		for (size_t i = 0; i < s->types[t].n; i++) {
			const weft_xds_resource_t *r = &s->types[t].v[i];
			FILE *f;

			snprintf(path, sizeof(path), "%s/%s-%zu.bin", dir, weft_xds_type_name(t), i);
			f = fopen(path, "wb");
			assert_non_null(f);
			assert_int_equal(fwrite(r->bytes, 1, r->len, f), r->len);
			fclose(f);
			fprintf(idx, "%s-%zu.bin %s %.*s\n", weft_xds_type_name(t), i,
				weft_xds_type_url(t), (int)r->name.len, r->name.p);
		}
	fclose(idx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_type_urls),
		cmocka_unit_test_setup_teardown(test_names_and_find, setup, teardown),
		cmocka_unit_test_setup_teardown(test_listener, setup, teardown),
		cmocka_unit_test_setup_teardown(test_grpc_routes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_http_routes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_clusters, setup, teardown),
		cmocka_unit_test_setup_teardown(test_endpoints, setup, teardown),
		cmocka_unit_test_setup_teardown(test_determinism_and_versions, setup, teardown),
		cmocka_unit_test(test_empty_model),
		cmocka_unit_test_setup_teardown(test_reuse_matches_fresh, setup, teardown),
		cmocka_unit_test(test_reuse_shares_memory),
		cmocka_unit_test_setup_teardown(test_dump, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
