/* Unit tests for the agent's view (src/agent/view.c): address helpers,
 * building from hand-made weft.agent.v1 messages, lookups, invalid
 * entries skipped, reference counting, and a large view; L7: a config
 * translated by the control (src/control/xds_agent.c) decoded into the
 * view (route rules in route order, every match/filter/backend field, the
 * DestinationPolicy, L7 authorization), and unreadable L7 parts. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>
#include <string.h>
#include <arpa/inet.h>
#include "av_fake.h"
#include "cfg_test_util.h"
#include "weft/agentview.h"
#include "weft/xds.h"

static weft_ip_t ip(const char *s)
{
	weft_ip_t r;

	assert_int_equal(weft_ip_parse(s, strlen(s), &r), WEFT_OK);
	return r;
}

static void test_ip(void **st)
{
	weft_ip_t a, b;
	char out[64];
	struct sockaddr_storage ss;
	uint16_t port;

	a = ip("10.1.2.3");
	assert_true(a.v4);
	assert_string_equal(weft_ip_format(&a, out, sizeof(out)), "10.1.2.3");
	b = ip("::ffff:10.1.2.3");
	assert_true(b.v4);
	assert_true(weft_ip_eq(&a, &b));
	a = ip("fd00::1");
	assert_false(a.v4);
	assert_string_equal(weft_ip_format(&a, out, sizeof(out)), "fd00::1");
	assert_int_equal(weft_ip_to_sockaddr(&a, 8080, &ss), sizeof(struct sockaddr_in6));
	weft_ip_from_sockaddr((struct sockaddr *)&ss, &b, &port);
	assert_true(weft_ip_eq(&a, &b));
	assert_int_equal(port, 8080);
	a = ip("192.168.0.9");
	assert_int_equal(weft_ip_to_sockaddr(&a, 1, &ss), sizeof(struct sockaddr_in));
	weft_ip_from_sockaddr((struct sockaddr *)&ss, &b, &port);
	assert_true(weft_ip_eq(&a, &b));
	assert_int_equal(port, 1);
	/* bad literals */
	assert_int_equal(weft_ip_parse("10.1.2", 6, &a), WEFT_EPROTO);
	assert_int_equal(weft_ip_parse("", 0, &a), WEFT_EPROTO);
	assert_int_equal(weft_ip_parse("1.2.3.4\0x", 9, &a), WEFT_EPROTO);
	assert_int_equal(weft_ip_parse("10.1.2.3/8", 10, &a), WEFT_EPROTO);
	/* (ptr, len): only len bytes are read */
	assert_int_equal(weft_ip_parse("10.0.0.12345", 8, &a), WEFT_OK);
	assert_string_equal(weft_ip_format(&a, out, sizeof(out)), "10.0.0.1");
}

/* weft_ip_format and weft_ip_port_format write what inet_ntop and
 * snprintf("%s:%u") write, cut the same way when out is short. */
static void test_ip_text(void **st)
{
	static const char *lits[] = { "0.0.0.0", "10.1.2.3", "255.255.255.255", "1.20.100.9", "192.168.0.10",
				      "fd00::1", "::", "::1", "2001:db8::ff00:42:8329", "::ffff:0:1.2.3.4",
				      "fe80::1:2:3:4" };
	static const uint16_t ports[] = { 0, 1, 9, 10, 80, 999, 8080, 15008, 65535 };
	char out[64], want[64], ntop[64];

	for (size_t i = 0; i < sizeof(lits) / sizeof(lits[0]); i++) {
		weft_ip_t a = ip(lits[i]);
		assert_non_null(inet_ntop(a.v4 ? AF_INET : AF_INET6, a.v4 ? (const void *)(a.a6 + 12) : a.a6,
					  ntop, sizeof(ntop)));
		assert_string_equal(weft_ip_format(&a, out, sizeof(out)), ntop);
		/* too short for the text: "" (inet_ntop fails) */
		for (size_t cap = 1; cap <= strlen(ntop) + 1; cap++) {
			memset(out, 'x', sizeof(out));
			weft_ip_format(&a, out, cap);
			assert_string_equal(out, cap > strlen(ntop) ? ntop : "");
		}
		for (size_t k = 0; k < sizeof(ports) / sizeof(ports[0]); k++) {
			int n = snprintf(want, sizeof(want), "%s:%u", ntop, ports[k]);
			assert_int_equal(weft_ip_port_format(&a, ports[k], out, sizeof(out)), (size_t)n);
			assert_string_equal(out, want);
			for (size_t cap = 1; cap < (size_t)n + 2; cap++) {
				snprintf(want, cap, "%s:%u", ntop, ports[k]);
				memset(out, 'x', sizeof(out));
				assert_int_equal(weft_ip_port_format(&a, ports[k], out, cap), strlen(want));
				assert_string_equal(out, want);
			}
		}
	}
	assert_int_equal(weft_ip_port_format(&(weft_ip_t){ 0 }, 1, out, 0), 0);
}

static void test_build_lookups(void **st)
{
	fk_t f = { .n = 0 };
	char err[256];
	Weft__Agent__V1__Workload *wl[4];
	Weft__Agent__V1__Endpoint *eps[2];
	Weft__Agent__V1__Service *svc[2];
	Weft__Agent__V1__Authorization *az[2];
	const weft_av_port_t *sp;
	weft_ip_t a;

	wl[0] = fk_wl(&f, "demo", "web", "web-sa", "n1", FK_S("10.0.1.5", "fd00::5"),
		      FK_S("demo/allow-web", "demo/missing"));
	wl[0]->trust_domain = "example.org";
	wl[0]->netns = "/run/netns/web";
	wl[0]->mtls_mode = WEFT__AGENT__V1__MTLS_MODE__STRICT;
	wl[1] = fk_wl(&f, "demo", "db", "", "n1", FK_S("10.0.1.6"), NULL);
	wl[2] = fk_wl(&f, "demo", "other-node", "x", "n2", FK_S("10.0.2.7"), NULL);
	wl[3] = fk_wl(&f, "demo", "api", "api", "n1", FK_S("10.0.1.8"), NULL);

	Weft__Agent__V1__KeyValue app = WEFT__AGENT__V1__KEY_VALUE__INIT, ver = WEFT__AGENT__V1__KEY_VALUE__INIT;
	Weft__Agent__V1__KeyValue *kvs[2] = { &app, &ver };
	app.key = "app", app.value = "web";
	ver.key = "version", ver.value = "v1";
	eps[0] = fk_ep(&f, "demo/web", "10.0.1.5", "web-sa", fk_loc(&f, "r", "z", "s"), 0);
	eps[0]->labels = kvs;
	eps[0]->n_labels = 2;
	eps[1] = fk_ep(&f, "demo/web2", "10.0.2.9", "", NULL, 3);
	svc[0] = fk_svc(&f, "demo", "web", "10.96.0.10", 80, 8080, eps, 2);
	svc[1] = fk_svc(&f, "demo", "novip", "", 90, 0, NULL, 0);
	az[0] = fk_az(&f, "demo", "allow-web", WEFT__AGENT__V1__ACTION__ALLOW, 0);
	az[1] = fk_az(&f, "demo", "deny-x", WEFT__AGENT__V1__ACTION__DENY, 0);

	weft_av_t *v = weft_av_build("n1", 7, wl, 4, svc, 2, az, 2, err, sizeof(err));
	assert_non_null(v);
	assert_string_equal(err, "");
	assert_int_equal(v->generation, 7);
	assert_string_equal(v->trust_domain, "example.org");
	assert_int_equal(v->nworkloads, 3);   /* n2's workload ignored */
	/* sorted by uid */
	assert_string_equal(v->workloads[0].uid, "demo/api");
	assert_string_equal(v->workloads[1].uid, "demo/db");
	assert_string_equal(v->workloads[2].uid, "demo/web");

	const weft_av_workload_t *w = weft_av_workload(v, "demo/web");
	assert_non_null(w);
	assert_string_equal(w->spiffe, "spiffe://example.org/ns/demo/sa/web-sa");
	assert_string_equal(w->netns, "/run/netns/web");
	assert_int_equal(w->mtls, WEFT_AV_MTLS_STRICT);
	assert_int_equal(w->naddrs, 2);
	assert_int_equal(w->npolicies, 1);   /* the missing name is dropped */
	assert_string_equal(w->policies[0]->uid, "demo/allow-web");
	assert_string_equal(w->policies[0]->why_deny, "denied by demo/allow-web");
	assert_null(weft_av_workload(v, "demo/other-node"));
	assert_null(weft_av_workload(v, "demo/zzz"));
	w = weft_av_workload(v, "demo/db");
	assert_string_equal(w->sa, "default");
	assert_string_equal(w->spiffe, "spiffe://example.org/ns/demo/sa/default");
	assert_int_equal(w->mtls, WEFT_AV_MTLS_PERMISSIVE);

	a = ip("fd00::5");
	assert_ptr_equal(weft_av_workload_by_ip(v, &a), weft_av_workload(v, "demo/web"));
	a = ip("10.0.1.8");
	assert_ptr_equal(weft_av_workload_by_ip(v, &a), weft_av_workload(v, "demo/api"));
	a = ip("10.0.2.7");
	assert_null(weft_av_workload_by_ip(v, &a));

	a = ip("10.96.0.10");
	const weft_av_service_t *s = weft_av_service_by_vip(v, &a, 80, &sp);
	assert_non_null(s);
	assert_string_equal(s->uid, "demo/web");
	assert_string_equal(s->hostname, "web.demo.svc.cluster.local");
	assert_int_equal(sp->target_port, 8080);
	assert_null(weft_av_service_by_vip(v, &a, 81, &sp));
	assert_null(sp);
	assert_int_equal(s->nendpoints, 2);
	assert_string_equal(s->endpoints[0].spiffe, "spiffe://example.org/ns/demo/sa/web-sa");
	assert_string_equal(s->endpoints[0].app, "web");
	assert_string_equal(s->endpoints[0].version, "v1");
	assert_string_equal(s->endpoints[0].locality.zone, "z");
	assert_int_equal(s->endpoints[0].weight, 1);   /* 0 means 1 */
	assert_string_equal(s->endpoints[1].ns, "demo");   /* from the workload uid */
	assert_string_equal(s->endpoints[1].name, "web2");
	assert_string_equal(s->endpoints[1].sa, "default");
	assert_string_equal(s->endpoints[1].locality.region, "");
	assert_int_equal(s->endpoints[1].weight, 3);

	a = ip("10.0.2.9");
	const weft_av_endpoint_t *e = weft_av_endpoint_by_ip(v, &a);
	assert_non_null(e);
	assert_string_equal(e->workload, "demo/web2");
	assert_non_null(weft_av_service(v, "demo/novip"));
	assert_false(weft_av_service(v, "demo/novip")->has_vip);
	assert_null(weft_av_service(v, "demo/nope"));

	/* references */
	assert_ptr_equal(weft_av_ref(v), v);
	assert_int_equal(v->refs, 2);
	weft_av_unref(v);
	weft_av_unref(v);
	fk_free(&f);
}

static void test_invalid_skipped(void **st)
{
	fk_t f = { .n = 0 };
	char err[256];
	Weft__Agent__V1__Workload *wl[4];
	Weft__Agent__V1__Endpoint *eps[2];
	Weft__Agent__V1__Service *svc[3];
	Weft__Agent__V1__Authorization *az[1];

	wl[0] = fk_wl(&f, "demo", "bad", "sa", "n1", FK_S("10.0.1.300"), NULL);
	wl[1] = fk_wl(&f, "demo", "good", "sa", "n1", FK_S("10.0.1.5"), FK_S("demo/p"));
	wl[2] = fk_wl(&f, "", "noname", "sa", "n1", FK_S("10.0.1.7"), NULL);
	wl[3] = fk_wl(&f, "demo", "good", "sa2", "n1", FK_S("10.0.1.9"), NULL);   /* duplicate */
	eps[0] = fk_ep(&f, "demo/a", "not-an-ip", "sa", NULL, 1);
	eps[1] = fk_ep(&f, "demo/b", "10.0.3.3", "sa", NULL, 1);
	svc[0] = fk_svc(&f, "demo", "badvip", "10.96.0.999", 80, 80, NULL, 0);
	svc[1] = fk_svc(&f, "demo", "eps", "10.96.0.11", 80, 80, eps, 2);
	svc[2] = fk_svc(&f, "demo", "badport", "10.96.0.12", 70000, 80, NULL, 0);
	Weft__Agent__V1__Source *src = fk_src(&f, NULL, NULL, NULL, NULL, FK_S("10.0.0.0/33"), NULL);
	az[0] = fk_az(&f, "demo", "p", WEFT__AGENT__V1__ACTION__ALLOW, 1, fk_rule(&f, src, NULL, false));

	weft_av_t *v = weft_av_build("n1", 1, wl, 4, svc, 3, az, 1, err, sizeof(err));
	assert_non_null(v);
	/* the first problem is reported (authorizations are read first) */
	assert_string_equal(err, "authorization demo/p: rule 0: bad CIDR or port (rule fails closed)");
	assert_int_equal(v->nworkloads, 1);
	assert_string_equal(v->workloads[0].uid, "demo/good");
	assert_string_equal(v->workloads[0].sa, "sa");   /* the first of the duplicates */
	assert_null(weft_av_service(v, "demo/badvip"));
	const weft_av_service_t *s = weft_av_service(v, "demo/eps");
	assert_non_null(s);
	assert_int_equal(s->nendpoints, 1);
	assert_string_equal(s->endpoints[0].workload, "demo/b");
	s = weft_av_service(v, "demo/badport");
	assert_non_null(s);
	assert_int_equal(s->nports, 0);
	/* the rule with the bad CIDR is kept and fails closed */
	assert_int_equal(v->nauthz, 1);
	assert_true(v->authz[0].rules[0].invalid);
	weft_av_unref(v);

	/* without the policy, the first bad workload is reported */
	v = weft_av_build("n1", 1, wl, 4, NULL, 0, NULL, 0, err, sizeof(err));
	assert_string_equal(err, "workload demo/bad: bad address \"10.0.1.300\"");
	weft_av_unref(v);
	/* no error buffer: still builds */
	v = weft_av_build("n1", 2, wl, 4, svc, 3, NULL, 0, NULL, 0);
	assert_non_null(v);
	assert_int_equal(v->workloads[0].npolicies, 0);
	weft_av_unref(v);
	/* empty view */
	v = weft_av_build("n1", 3, NULL, 0, NULL, 0, NULL, 0, err, sizeof(err));
	assert_non_null(v);
	assert_string_equal(v->trust_domain, "cluster.local");
	weft_ip_t a = ip("10.0.0.1");
	assert_null(weft_av_workload_by_ip(v, &a));
	assert_null(weft_av_endpoint_by_ip(v, &a));
	assert_null(weft_av_service_by_vip(v, &a, 80, NULL));
	weft_av_unref(v);
	fk_free(&f);
}

/* 10k services with 5 endpoints each: every lookup finds its own. */
static void test_large(void **st)
{
	enum { NS = 10000, NE = 5 };
	Weft__Agent__V1__Service **svc = calloc(NS, sizeof(*svc));
	Weft__Agent__V1__Service *sv = calloc(NS, sizeof(*sv));
	Weft__Agent__V1__ServicePort *sp = calloc(NS, sizeof(*sp)), **spp = calloc(NS, sizeof(*spp));
	Weft__Agent__V1__Endpoint *ep = calloc(NS * NE, sizeof(*ep)), **epp = calloc(NS * NE, sizeof(*epp));
	char (*names)[32] = calloc(NS, 32), (*vips)[32] = calloc(NS, 32);
	char (*eaddr)[32] = calloc(NS * NE, 32), (*ewl)[32] = calloc(NS * NE, 32);

	for (int i = 0; i < NS; i++) {
		weft__agent__v1__service__init(&sv[i]);
		weft__agent__v1__service_port__init(&sp[i]);
		snprintf(names[i], 32, "s%05d", NS - 1 - i);   /* unsorted input */
		snprintf(vips[i], 32, "10.%d.%d.1", 96 + (NS - 1 - i) / 256, (NS - 1 - i) % 256);
		sv[i].namespace_ = "ns";
		sv[i].name = names[i];
		sv[i].cluster_ip = vips[i];
		sp[i].port = 80;
		spp[i] = &sp[i];
		sv[i].ports = &spp[i];
		sv[i].n_ports = 1;
		for (int k = 0; k < NE; k++) {
			int j = i * NE + k, id = (NS - 1 - i) * NE + k;
			weft__agent__v1__endpoint__init(&ep[j]);
			snprintf(eaddr[j], 32, "fd00::%x:%x", id / 65536, id % 65536);
			snprintf(ewl[j], 32, "ns/w%d", id);
			ep[j].address = eaddr[j];
			ep[j].workload = ewl[j];
			epp[j] = &ep[j];
		}
		sv[i].endpoints = &epp[i * NE];
		sv[i].n_endpoints = NE;
		svc[i] = &sv[i];
	}
	char err[128];
	weft_av_t *v = weft_av_build("n1", 1, NULL, 0, svc, NS, NULL, 0, err, sizeof(err));
	assert_non_null(v);
	assert_string_equal(err, "");
	assert_int_equal(v->nservices, NS);
	for (int id = 0; id < NS; id++) {
		char name[32], vip[32], a6[32], wl[32];
		snprintf(name, 32, "ns/s%05d", id);
		snprintf(vip, 32, "10.%d.%d.1", 96 + id / 256, id % 256);
		weft_ip_t a = ip(vip);
		const weft_av_service_t *s = weft_av_service_by_vip(v, &a, 80, NULL);
		assert_non_null(s);
		assert_string_equal(s->uid, name);
		assert_ptr_equal(weft_av_service(v, name), s);
		int eid = id * NE + id % NE;
		snprintf(a6, 32, "fd00::%x:%x", eid / 65536, eid % 65536);
		snprintf(wl, 32, "ns/w%d", eid);
		a = ip(a6);
		const weft_av_endpoint_t *e = weft_av_endpoint_by_ip(v, &a);
		assert_non_null(e);
		assert_string_equal(e->workload, wl);
	}
	weft_av_unref(v);
	free(svc), free(sv), free(sp), free(spp), free(ep), free(epp);
	free(names), free(vips), free(eaddr), free(ewl);
}

/* ---- L7: config -> control's resources -> view ---- */

static const char l7_yaml[] =
	"apiVersion: weft.dev/v1alpha1\nkind: Node\nmetadata: {name: n1}\nspec: {address: 192.168.0.1}\n"
	"---\napiVersion: weft.dev/v1alpha1\nkind: Workload\nmetadata: {name: web-1, namespace: shop, labels: {app: web}}\n"
	"spec: {node: n1, addresses: [10.1.0.1]}\n"
	"---\napiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop}\n"
	"spec: {clusterIP: 10.96.0.1, selector: {app: web}, ports: [{name: http, port: 80, appProtocol: http}, {name: raw, port: 9000}]}\n"
	"---\napiVersion: v1\nkind: Service\nmetadata: {name: v2, namespace: shop}\nspec: {ports: [{port: 80}]}\n"
	"---\napiVersion: v1\nkind: Service\nmetadata: {name: db, namespace: shop}\nspec: {ports: [{port: 5432}]}\n"
	"---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: z-first, namespace: shop}\n"
	"spec:\n"
	"  parentRefs: [{name: web, port: 80}]\n"
	"  hostnames: [web.example]\n"
	"  rules:\n"
	"  - matches: [{path: {type: Exact, value: /a}, headers: [{name: x-u, value: 'u.*', type: RegularExpression}],"
	" queryParams: [{name: q, value: '1'}], method: POST}]\n"
	"    filters:\n"
	"    - {type: RequestHeaderModifier, requestHeaderModifier: {set: [{name: x-s, value: s}], remove: [x-r]}}\n"
	"    - {type: RequestMirror, requestMirror: {backendRef: {name: v2, port: 80}, percent: 50}}\n"
	"    - {type: URLRewrite, urlRewrite: {path: {type: ReplaceFullPath, replaceFullPath: /b}}}\n"
	"    backendRefs: [{name: web, port: 80, weight: 3}, {name: v2, port: 80, weight: 0}]\n"
	"    timeouts: {request: 2s}\n"
	"  - filters:\n"
	"    - {type: RequestRedirect, requestRedirect: {statusCode: 302, hostname: x.example}}\n"
	"---\napiVersion: gateway.networking.k8s.io/v1\nkind: GRPCRoute\nmetadata: {name: a-second, namespace: shop}\n"
	"spec:\n"
	"  parentRefs: [{name: web}]\n"
	"  rules:\n"
	"  - matches: [{method: {type: RegularExpression, service: 'echo[.].*'}}]\n"
	"---\napiVersion: weft.dev/v1alpha1\nkind: DestinationPolicy\nmetadata: {name: web, namespace: shop}\n"
	"spec:\n"
	"  targetRef: {name: web}\n"
	"  loadBalancer: {type: Maglev, maglev: {cookie: sid}}\n"
	"  connectionLimits: {maxRequests: 9}\n"
	"  outlierDetection: {consecutive5xx: 2, successRate: {}}\n"
	"  retries: {attempts: 2, retryOn: [reset], retriableStatusCodes: [502, 503], budget: {}}\n"
	"  faultInjection: {abort: {httpStatus: 418}, headers: [{name: x-f, value: '1'}]}\n"
	"  rateLimit: {maxTokens: 7, fillInterval: 100ms}\n"
	"  healthCheck: {type: GRPC, path: svc.Health}\n"
	"---\napiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: l7, namespace: shop}\n"
	"spec: {rules: [{to: [{operation: {ports: ['80'], methods: [GET], notPaths: ['/admin*'], hosts: ['*.example']}}],"
	" when: [{key: source.namespace, notValues: [evil]}]}]}\n";

/* Builds the view of node n1 from the control's resources for l7_yaml. */
static weft_av_t *l7_view(void)
{
	const char *names[] = { "l7.yaml" };
	const char *texts[] = { l7_yaml };
	const weft_xds_opts_t opts = { "cluster.local", NULL };
	weft_cfg_errors_t errs;
	weft_model_t *m = load_texts(&errs, 1, names, texts);
	weft_xds_snapshot_t *snap;
	Weft__Agent__V1__Workload *wl[8];
	Weft__Agent__V1__Service *svc[8];
	Weft__Agent__V1__Authorization *az[8];
	size_t nwl = 0, nsvc = 0, naz = 0;
	char err[256];
	weft_av_t *v;

	if (!m)
		dump_errors(&errs);
	assert_non_null(m);
	weft_cfg_errors_free(&errs);
	snap = weft_xds_translate_opts(m, 1, NULL, &opts);
	assert_non_null(snap);
	for (size_t i = 0; i < snap->types[WEFT_XDS_WORKLOAD].n && nwl < 8; i++) {
		const weft_xds_resource_t *r = &snap->types[WEFT_XDS_WORKLOAD].v[i];
		assert_non_null(wl[nwl++] = weft__agent__v1__workload__unpack(NULL, r->len, r->bytes));
	}
	for (size_t i = 0; i < snap->types[WEFT_XDS_SERVICE].n && nsvc < 8; i++) {
		const weft_xds_resource_t *r = &snap->types[WEFT_XDS_SERVICE].v[i];
		assert_non_null(svc[nsvc++] = weft__agent__v1__service__unpack(NULL, r->len, r->bytes));
	}
	for (size_t i = 0; i < snap->types[WEFT_XDS_AUTHZ].n && naz < 8; i++) {
		const weft_xds_resource_t *r = &snap->types[WEFT_XDS_AUTHZ].v[i];
		assert_non_null(az[naz++] = weft__agent__v1__authorization__unpack(NULL, r->len, r->bytes));
	}
	v = weft_av_build("n1", 1, wl, nwl, svc, nsvc, az, naz, err, sizeof(err));
	assert_non_null(v);
	assert_string_equal(err, "");
	for (size_t i = 0; i < nwl; i++)
		weft__agent__v1__workload__free_unpacked(wl[i], NULL);
	for (size_t i = 0; i < nsvc; i++)
		weft__agent__v1__service__free_unpacked(svc[i], NULL);
	for (size_t i = 0; i < naz; i++)
		weft__agent__v1__authorization__free_unpacked(az[i], NULL);
	weft_xds_snapshot_unref(snap);
	weft_model_free(m);
	return v;
}

static void test_l7_view_routes(void **st)
{
	weft_av_t *v = l7_view();   /* the resources are freed: everything must be copied */
	const weft_av_service_t *s = weft_av_service(v, "shop/web");
	const weft_av_port_t *p;
	const weft_av_route_rule_t *r;
	const weft_route_match_t *m;

	assert_non_null(s);
	p = weft_av_service_port(s, 80);
	assert_non_null(p);
	assert_ptr_equal(p, &s->ports[0]);
	assert_null(weft_av_service_port(s, 81));
	assert_null(weft_av_service_port(NULL, 80));
	assert_true(p->l7);
	/* z-first is older than a-second: its two rules come first */
	assert_int_equal(p->nrules, 3);
	r = &p->rules[0];
	assert_string_equal(r->route, "shop/z-first");
	assert_int_equal(r->kind, WEFT_ROUTE_HTTP);
	assert_int_equal(r->route_order, 0);
	assert_int_equal(r->rule_index, 0);
	assert_int_equal(r->nhostnames, 1);
	assert_string_equal(r->hostnames[0], "web.example");
	assert_int_equal(r->nmatches, 1);
	m = &r->matches[0];
	assert_int_equal(m->path_type, WEFT_MATCH_EXACT);
	assert_true(seq(m->path, "/a"));
	assert_int_equal(m->nheaders, 1);
	assert_int_equal(m->headers[0].type, WEFT_MATCH_REGEX);
	assert_true(seq(m->headers[0].name, "x-u"));
	assert_true(seq(m->headers[0].value, "u.*"));
	assert_int_equal(m->nquery, 1);
	assert_true(seq(m->query[0].name, "q"));
	assert_true(seq(m->method, "POST"));
	assert_int_equal(m->grpc_type, WEFT_MATCH_NONE);
	assert_int_equal(r->nfilters, 3);
	assert_int_equal(r->filters[0].type, WEFT_FILTER_REQUEST_HEADER);
	assert_int_equal(r->filters[0].headers.nset, 1);
	assert_true(seq(r->filters[0].headers.set[0].key, "x-s"));
	assert_true(seq(r->filters[0].headers.set[0].value, "s"));
	assert_int_equal(r->filters[0].headers.nremove, 1);
	assert_true(seq(r->filters[0].headers.remove[0], "x-r"));
	assert_int_equal(r->filters[1].type, WEFT_FILTER_MIRROR);
	assert_true(seq(r->filters[1].mirror.backend.name, "v2"));
	assert_true(seq(r->filters[1].mirror.backend.ns, "shop"));
	assert_int_equal(r->filters[1].mirror.backend.port, 80);
	assert_null(r->filters[1].mirror.backend.svc);
	assert_int_equal(r->filters[1].mirror.percent_ppm, 500000);
	assert_int_equal(r->filters[2].type, WEFT_FILTER_URL_REWRITE);
	assert_int_equal(r->filters[2].rewrite.path_mod, WEFT_PATH_MOD_FULL);
	assert_true(seq(r->filters[2].rewrite.path, "/b"));
	assert_int_equal(r->filters[2].rewrite.hostname.len, 0);
	assert_int_equal(r->nbackends, 2);
	assert_string_equal(r->backends[0].svc, "shop/web");
	assert_int_equal(r->backends[0].port, 80);
	assert_int_equal(r->backends[0].weight, 3);
	assert_string_equal(r->backends[1].svc, "shop/v2");
	assert_int_equal(r->backends[1].weight, 0);
	assert_int_equal(r->timeout_request_ms, 2000);
	assert_int_equal(r->timeout_backend_ms, 0);
	r = &p->rules[1];
	assert_int_equal(r->rule_index, 1);
	assert_int_equal(r->filters[0].type, WEFT_FILTER_REDIRECT);
	assert_int_equal(r->filters[0].redirect.status, 302);
	assert_true(seq(r->filters[0].redirect.hostname, "x.example"));
	r = &p->rules[2];
	assert_string_equal(r->route, "shop/a-second");
	assert_int_equal(r->route_order, 1);
	assert_int_equal(r->kind, WEFT_ROUTE_GRPC);
	assert_int_equal(r->matches[0].grpc_type, WEFT_MATCH_REGEX);
	assert_true(seq(r->matches[0].grpc_service, "echo[.].*"));
	assert_int_equal(r->matches[0].grpc_method.len, 0);
	assert_int_equal(r->nbackends, 0);

	/* port 9000 (tcp): the GRPCRoute names every port */
	p = weft_av_service_port(s, 9000);
	assert_true(p->l7);
	assert_int_equal(p->nrules, 1);
	assert_string_equal(p->rules[0].route, "shop/a-second");
	/* v2 and db: tcp, no route, no policy */
	p = weft_av_service_port(weft_av_service(v, "shop/db"), 5432);
	assert_false(p->l7);
	assert_int_equal(p->nrules, 0);
	assert_null(weft_av_service(v, "shop/db")->policy);
	/* the VIP index still leads to the port, with its rules */
	weft_ip_t vip = ip("10.96.0.1");
	const weft_av_port_t *sp;
	assert_ptr_equal(weft_av_service_by_vip(v, &vip, 80, &sp), s);
	assert_int_equal(sp->nrules, 3);
	weft_av_unref(v);
}

static void test_l7_view_policy_authz(void **st)
{
	weft_av_t *v = l7_view();
	const weft_av_service_t *s = weft_av_service(v, "shop/web");
	const weft_dest_policy_t *p = s->policy;
	const weft_av_rule_t *r;

	assert_non_null(p);
	assert_int_equal(p->lb.type, WEFT_LB_MAGLEV);
	assert_true(p->lb.type_set);
	assert_true(seq(p->lb.hash_cookie, "sid"));
	assert_int_equal(p->lb.hash_header.len, 0);
	assert_true(p->limits.set);
	assert_int_equal(p->limits.max_requests, 9);
	assert_true(p->outlier.set);
	assert_int_equal(p->outlier.consecutive_5xx, 2);
	assert_int_equal(p->outlier.interval_ms, 10000);
	assert_int_equal(p->outlier.sr_stdev_factor_milli, 1900);
	assert_int_equal(p->outlier.sr_min_hosts, 5);
	assert_int_equal(p->outlier.sr_request_volume, 100);
	assert_true(p->retry.set);
	assert_int_equal(p->retry.attempts, 2);
	assert_int_equal(p->retry.retry_on, WEFT_RETRY_RESET | WEFT_RETRY_RETRIABLE_STATUS);
	assert_int_equal(p->retry.nstatus, 2);
	assert_int_equal(p->retry.retriable_status[1], 503);
	assert_true(p->retry.budget_set);
	assert_int_equal(p->retry.budget_percent_ppm, 200000);
	assert_int_equal(p->retry.budget_min_concurrency, 3);
	assert_true(p->fault.set);
	assert_int_equal(p->fault.abort_http_status, 418);
	assert_int_equal(p->fault.abort_ppm, WEFT_PPM_ALL);
	assert_false(p->fault.abort_grpc);
	assert_int_equal(p->fault.delay_ppm, 0);
	assert_int_equal(p->fault.nheaders, 1);
	assert_true(seq(p->fault.headers[0].name, "x-f"));
	assert_true(p->rate_limit.set);
	assert_int_equal(p->rate_limit.max_tokens, 7);
	assert_int_equal(p->rate_limit.tokens_per_fill, 1);
	assert_int_equal(p->rate_limit.fill_interval_ms, 100);
	assert_true(p->health.set);
	assert_true(p->health.grpc);
	assert_true(seq(p->health.path, "svc.Health"));
	assert_int_equal(p->health.interval_ms, 5000);

	assert_int_equal(v->nauthz, 1);
	r = &v->authz[0].rules[0];
	assert_int_equal(r->nto, 1);
	assert_true(r->to[0].has_l7);
	assert_int_equal(r->to[0].nports, 1);
	assert_int_equal(r->to[0].methods.n, 1);
	assert_string_equal(r->to[0].methods.v[0], "GET");
	assert_string_equal(r->to[0].not_paths.v[0], "/admin*");
	assert_string_equal(r->to[0].hosts.v[0], "*.example");
	assert_int_equal(r->to[0].paths.n, 0);
	assert_true(r->has_l7_when);
	assert_int_equal(r->nwhen, 1);
	assert_string_equal(r->when[0].key, "source.namespace");
	assert_int_equal(r->when[0].values.n, 0);
	assert_string_equal(r->when[0].not_values.v[0], "evil");
	weft_av_unref(v);
}

/* Unreadable L7 parts from a (buggy or hostile) control: the bad rule is
 * dropped and reported, the rest kept; an unreadable fault is not
 * injected; out-of-range values are clamped; a when: condition without
 * has_l7_when still fails closed at L4. */
static void test_l7_view_bad(void **st)
{
	Weft__Agent__V1__StringMatch hm = WEFT__AGENT__V1__STRING_MATCH__INIT, *hms[1] = { &hm };
	Weft__Agent__V1__RouteMatch rm = WEFT__AGENT__V1__ROUTE_MATCH__INIT, *rms[1] = { &rm };
	Weft__Agent__V1__BackendRef be = WEFT__AGENT__V1__BACKEND_REF__INIT, *bes[1] = { &be };
	Weft__Agent__V1__Filter fl = WEFT__AGENT__V1__FILTER__INIT, *fls[1] = { &fl };
	Weft__Agent__V1__RouteRule r0 = WEFT__AGENT__V1__ROUTE_RULE__INIT, r1 = WEFT__AGENT__V1__ROUTE_RULE__INIT;
	Weft__Agent__V1__RouteRule r2 = WEFT__AGENT__V1__ROUTE_RULE__INIT, r3 = WEFT__AGENT__V1__ROUTE_RULE__INIT;
	Weft__Agent__V1__RouteRule *rules[4] = { &r0, &r1, &r2, &r3 };
	Weft__Agent__V1__ServicePort port = WEFT__AGENT__V1__SERVICE_PORT__INIT, *ports[1] = { &port };
	Weft__Agent__V1__Service svc = WEFT__AGENT__V1__SERVICE__INIT, *svcs[1] = { &svc };
	Weft__Agent__V1__DestinationPolicy pol = WEFT__AGENT__V1__DESTINATION_POLICY__INIT;
	Weft__Agent__V1__LoadBalancer lb = WEFT__AGENT__V1__LOAD_BALANCER__INIT;
	Weft__Agent__V1__Fault fault = WEFT__AGENT__V1__FAULT__INIT;
	Weft__Agent__V1__RateLimit rl = WEFT__AGENT__V1__RATE_LIMIT__INIT;
	Weft__Agent__V1__When wh = WEFT__AGENT__V1__WHEN__INIT, *whs[1] = { &wh };
	Weft__Agent__V1__Rule rule = WEFT__AGENT__V1__RULE__INIT, *azr[1] = { &rule };
	Weft__Agent__V1__Authorization a = WEFT__AGENT__V1__AUTHORIZATION__INIT, *azs[1] = { &a };
	char err[256];
	weft_av_t *v;
	const weft_av_service_t *s;

	/* r0: fine (route order 1: sorted after r3) */
	r0.route = "ns/b", r0.route_order = 1;
	/* r1: a header match of an unknown type */
	hm.type = 9, hm.name = "x", hm.value = "y";
	rm.headers = hms, rm.n_headers = 1;
	r1.route = "ns/b", r1.route_order = 1, r1.rule_index = 1, r1.matches = rms, r1.n_matches = 1;
	/* r2: a backend without a namespace */
	be.service = "web", be.port = 80;
	r2.route = "ns/b", r2.route_order = 1, r2.rule_index = 2, r2.backends = bes, r2.n_backends = 1;
	/* r3: a mirror above 100%, an odd redirect status is not a filter here */
	fl.type = WEFT__AGENT__V1__FILTER_TYPE__FILTER_MIRROR, fl.mirror_name = "m", fl.mirror_namespace = "ns";
	fl.mirror_port = 80, fl.mirror_percent_ppm = 5000000;
	r3.route = "ns/a", r3.route_order = 0, r3.filters = fls, r3.n_filters = 1;
	port.port = 80, port.app_protocol = "tcp", port.l7 = true, port.rules = rules, port.n_rules = 4;
	svc.name = "web", svc.namespace_ = "ns", svc.ports = ports, svc.n_ports = 1;
	lb.type = 77, lb.type_set = true, lb.ring_min = 100000000, lb.ring_max = 0;
	fault.abort_ppm = 1000000, fault.abort_http_status = 42;
	rl.max_tokens = 0, rl.fill_interval_ms = 0;
	pol.lb = &lb, pol.fault = &fault, pol.rate_limit = &rl;
	svc.policy = &pol;
	wh.key = "request.headers[x]";
	rule.when = whs, rule.n_when = 1;
	a.name = "p", a.namespace_ = "ns", a.rules = azr, a.n_rules = 1;

	v = weft_av_build("n1", 1, NULL, 0, svcs, 1, azs, 1, err, sizeof(err));
	assert_non_null(v);
	assert_non_null(strstr(err, "service ns/web: port 80: route ns/b rule 1: unreadable"));
	s = weft_av_service(v, "ns/web");
	assert_non_null(s);
	assert_true(s->ports[0].l7);
	assert_int_equal(s->ports[0].nrules, 2);
	assert_string_equal(s->ports[0].rules[0].route, "ns/a");
	assert_int_equal(s->ports[0].rules[0].filters[0].mirror.percent_ppm, WEFT_PPM_ALL);
	assert_string_equal(s->ports[0].rules[1].route, "ns/b");
	assert_int_equal(s->ports[0].rules[1].rule_index, 0);
	assert_non_null(s->policy);
	assert_false(s->policy->lb.type_set);
	assert_int_equal(s->policy->lb.ring_max, 8388608);
	assert_int_equal(s->policy->lb.ring_min, 8388608);
	assert_false(s->policy->fault.set);
	assert_int_equal(s->policy->fault.abort_ppm, 0);
	assert_true(s->policy->rate_limit.set);
	assert_int_equal(s->policy->rate_limit.max_tokens, 1);
	assert_int_equal(s->policy->rate_limit.fill_interval_ms, 1);
	assert_true(v->authz[0].rules[0].has_l7_when);
	assert_int_equal(v->authz[0].rules[0].nwhen, 1);
	weft_av_unref(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ip),
		cmocka_unit_test(test_ip_text),
		cmocka_unit_test(test_build_lookups),
		cmocka_unit_test(test_invalid_skipped),
		cmocka_unit_test(test_large),
		cmocka_unit_test(test_l7_view_routes),
		cmocka_unit_test(test_l7_view_policy_authz),
		cmocka_unit_test(test_l7_view_bad),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
