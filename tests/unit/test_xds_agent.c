/* Unit tests for src/control/xds_agent.c: the weft.agent.v1 resources
 * translated from a YAML config: every field, policy scoping (root
 * namespace, namespace, selector), mTLS precedence, audiences, and reuse
 * across generations (always equal to a fresh translation); L7: route
 * rules per port (route order, every match and filter field), the l7 flag,
 * the DestinationPolicy's every block, L7 authorization attributes. */
#include "cfg_test_util.h"
#include <stdlib.h>
#include "weft/xds.h"
#include "weft/agent/v1/agent.pb-c.h"

#define WL(name, ns, labels, node, addr) \
	"---\napiVersion: weft.dev/v1alpha1\nkind: Workload\nmetadata: {name: " name ", namespace: " ns \
	", labels: " labels "}\nspec: {serviceAccount: " name ", addresses: [" addr "]" node "}\n"
#define AP(name, ns, spec) \
	"---\napiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: " name \
	", namespace: " ns "}\nspec: " spec "\n"
#define PA(name, ns, spec) \
	"---\napiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: " name \
	", namespace: " ns "}\nspec: " spec "\n"

/* cart-2's node is the %s */
static const char mesh_fmt[] =
	"apiVersion: weft.dev/v1alpha1\nkind: Node\nmetadata: {name: n1}\n"
	"spec: {address: 192.168.0.1, locality: {region: r1, zone: z1, subZone: s1}}\n"
	"---\napiVersion: weft.dev/v1alpha1\nkind: Node\nmetadata: {name: n2}\nspec: {address: 192.168.0.2}\n"
	WL("cart-1", "shop", "{app: cart, version: v1, tier: back}", ", node: n1, netns: /run/netns/c1", "10.1.0.1, 10.1.0.9")
	WL("cart-2", "shop", "{app: cart}", ", node: %s, cgroup: /sys/fs/cgroup/c2", "10.1.0.2")
	WL("web-1", "shop", "{app: web}", ", node: n1", "10.1.0.3")
	WL("orphan", "shop", "{app: cart}", "", "10.1.0.4")
	WL("front", "web", "{app: front}", ", node: n2", "10.2.0.1")
	"---\napiVersion: v1\nkind: Service\nmetadata: {name: cart, namespace: shop}\n"
	"spec: {clusterIP: 10.96.0.5, selector: {app: cart}, ports: [{name: http, port: 80, targetPort: 8080, "
	"appProtocol: http}, {name: raw, port: 9000}]}\n"
	"---\napiVersion: v1\nkind: Service\nmetadata: {name: front, namespace: web}\n"
	"spec: {selector: {app: front}, ports: [{port: 80, appProtocol: grpc}]}\n"
	AP("mesh-audit", "weft-system", "{action: AUDIT, rules: [{}]}")
	AP("cart-only", "shop", "{selector: {matchLabels: {app: cart}}, rules: [{from: [{source: "
	   "{principals: [\"cluster.local/ns/web/sa/*\"], notIpBlocks: [10.9.0.0/16]}}]}]}")
	AP("ns-deny", "shop", "{action: DENY, rules: [{from: [{source: {namespaces: [web]}}], "
	   "to: [{operation: {ports: [\"22\"]}}, {operation: {notPorts: [\"80\"], methods: [POST]}}], "
	   "when: [{key: source.ip, values: [1.2.3.4]}]}]}")
	AP("front-allow", "web", "{selector: {matchLabels: {app: front}}}")
	AP("nobody", "shop", "{selector: {matchLabels: {app: none}}, rules: [{}]}")
	PA("mesh", "weft-system", "{mtls: {mode: STRICT}}")
	PA("ns", "shop", "{mtls: {mode: UNSET}}")
	PA("cart-perm", "shop", "{selector: {matchLabels: {app: cart}}, mtls: {mode: PERMISSIVE}}")
	PA("front-unset", "web", "{selector: {matchLabels: {app: front}}}");

static weft_model_t *load_mesh(const char *cart2_node)
{
	char text[sizeof(mesh_fmt) + 16];
	const char *names[] = { "mesh.yaml" };
	const char *texts[] = { text };
	weft_cfg_errors_t errs;
	weft_model_t *m;

	snprintf(text, sizeof(text), mesh_fmt, cart2_node);
	m = load_texts(&errs, 1, names, texts);
	if (!m)
		dump_errors(&errs);
	assert_non_null(m);
	weft_cfg_errors_free(&errs);
	return m;
}

static const weft_xds_opts_t opts = { "example.org", NULL };

static const weft_xds_resource_t *get(const weft_xds_snapshot_t *s, weft_xds_type_t t, const char *name)
{
	const weft_xds_resource_t *r = weft_xds_snapshot_find(s, t, weft_str_c(name));

	if (!r)
		fprintf(stderr, "no %s %s\n", weft_xds_type_name(t), name);
	assert_non_null(r);
	return r;
}

/* The audience as "a,b" ("*" for everyone, "" for nobody). */
static const char *aud(const weft_xds_resource_t *r)
{
	static char buf[128];
	size_t o = 0;

	if (!r->audience)
		return "*";
	buf[0] = '\0';
	for (size_t i = 0; i < r->naudience; i++)
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s%.*s", i ? "," : "", (int)r->audience[i].len,
				      r->audience[i].p);
	return buf;
}

static Weft__Agent__V1__Workload *workload(const weft_xds_snapshot_t *s, const char *name)
{
	const weft_xds_resource_t *r = get(s, WEFT_XDS_WORKLOAD, name);
	Weft__Agent__V1__Workload *w = weft__agent__v1__workload__unpack(NULL, r->len, r->bytes);

	assert_non_null(w);
	return w;
}

static void test_workloads(void **st)
{
	weft_model_t *m = load_mesh("n2");
	weft_xds_snapshot_t *s = weft_xds_translate_opts(m, 1, NULL, &opts);
	Weft__Agent__V1__Workload *w;

	assert_non_null(s);
	assert_int_equal(s->types[WEFT_XDS_WORKLOAD].n, 5);

	w = workload(s, "shop/cart-1");
	assert_string_equal(w->name, "cart-1");
	assert_string_equal(w->namespace_, "shop");
	assert_string_equal(w->service_account, "cart-1");
	assert_string_equal(w->node, "n1");
	assert_string_equal(w->node_address, "192.168.0.1");
	assert_int_equal(w->n_addresses, 2);
	assert_string_equal(w->addresses[1], "10.1.0.9");
	assert_string_equal(w->netns, "/run/netns/c1");
	assert_string_equal(w->cgroup, "");
	assert_int_equal(w->n_labels, 3);
	assert_string_equal(w->labels[0]->key, "app");
	assert_string_equal(w->labels[1]->key, "tier");
	assert_string_equal(w->labels[2]->value, "v1");
	assert_string_equal(w->locality->region, "r1");
	assert_string_equal(w->locality->zone, "z1");
	assert_string_equal(w->locality->subzone, "s1");
	assert_string_equal(w->trust_domain, "example.org");
	/* the selector policy wins over the namespace's (UNSET) and the root's */
	assert_int_equal(w->mtls_mode, WEFT__AGENT__V1__MTLS_MODE__PERMISSIVE);
	/* root + namespace + selector scopes, sorted; not "nobody" */
	assert_int_equal(w->n_authorization_policies, 3);
	assert_string_equal(w->authorization_policies[0], "shop/cart-only");
	assert_string_equal(w->authorization_policies[1], "shop/ns-deny");
	assert_string_equal(w->authorization_policies[2], "weft-system/mesh-audit");
	weft__agent__v1__workload__free_unpacked(w, NULL);

	w = workload(s, "shop/web-1");
	/* the namespace's policy is UNSET: the root namespace's STRICT applies */
	assert_int_equal(w->mtls_mode, WEFT__AGENT__V1__MTLS_MODE__STRICT);
	assert_int_equal(w->n_authorization_policies, 2);
	assert_string_equal(w->authorization_policies[0], "shop/ns-deny");
	weft__agent__v1__workload__free_unpacked(w, NULL);

	w = workload(s, "web/front");
	/* a selector policy with mode UNSET inherits (root STRICT) */
	assert_int_equal(w->mtls_mode, WEFT__AGENT__V1__MTLS_MODE__STRICT);
	assert_int_equal(w->n_authorization_policies, 2);
	assert_string_equal(w->authorization_policies[0], "web/front-allow");
	assert_string_equal(w->authorization_policies[1], "weft-system/mesh-audit");
	assert_string_equal(w->locality->region, "");
	weft__agent__v1__workload__free_unpacked(w, NULL);

	w = workload(s, "shop/orphan");
	assert_string_equal(w->node, "");
	assert_string_equal(w->node_address, "");
	weft__agent__v1__workload__free_unpacked(w, NULL);

	/* audiences: only the workload's node; nobody without a node */
	assert_string_equal(aud(get(s, WEFT_XDS_WORKLOAD, "shop/cart-1")), "n1");
	assert_string_equal(aud(get(s, WEFT_XDS_WORKLOAD, "shop/cart-2")), "n2");
	assert_string_equal(aud(get(s, WEFT_XDS_WORKLOAD, "web/front")), "n2");
	assert_string_equal(aud(get(s, WEFT_XDS_WORKLOAD, "shop/orphan")), "");
	assert_true(weft_xds_visible(WEFT_XDS_WORKLOAD, get(s, WEFT_XDS_WORKLOAD, "shop/cart-1"), "n1"));
	assert_false(weft_xds_visible(WEFT_XDS_WORKLOAD, get(s, WEFT_XDS_WORKLOAD, "shop/cart-1"), "n2"));
	assert_false(weft_xds_visible(WEFT_XDS_WORKLOAD, get(s, WEFT_XDS_WORKLOAD, "shop/cart-1"), NULL));
	assert_false(weft_xds_visible(WEFT_XDS_WORKLOAD, get(s, WEFT_XDS_WORKLOAD, "shop/orphan"), "n1"));
	weft_xds_snapshot_unref(s);
	weft_model_free(m);
}

static void test_services(void **st)
{
	weft_model_t *m = load_mesh("n2");
	weft_xds_snapshot_t *s = weft_xds_translate_opts(m, 1, NULL, &opts);
	const weft_xds_resource_t *r = get(s, WEFT_XDS_SERVICE, "shop/cart");
	Weft__Agent__V1__Service *v = weft__agent__v1__service__unpack(NULL, r->len, r->bytes);

	assert_non_null(v);
	assert_string_equal(aud(r), "*");
	assert_true(weft_xds_visible(WEFT_XDS_SERVICE, r, "anything"));
	assert_false(weft_xds_visible(WEFT_XDS_SERVICE, r, NULL));
	assert_string_equal(v->name, "cart");
	assert_string_equal(v->namespace_, "shop");
	assert_string_equal(v->cluster_ip, "10.96.0.5");
	assert_string_equal(v->hostname, "cart.shop.svc.cluster.local");
	assert_int_equal(v->n_ports, 2);
	assert_int_equal(v->ports[0]->port, 80);
	assert_int_equal(v->ports[0]->target_port, 8080);
	assert_string_equal(v->ports[0]->app_protocol, "http");
	assert_string_equal(v->ports[0]->name, "http");
	assert_int_equal(v->ports[1]->target_port, 9000);
	assert_string_equal(v->ports[1]->app_protocol, "tcp");
	/* the orphan (no node) is not an endpoint */
	assert_int_equal(v->n_endpoints, 2);
	Weft__Agent__V1__Endpoint *e = v->endpoints[0];
	assert_string_equal(e->workload, "shop/cart-1");
	assert_string_equal(e->address, "10.1.0.1");
	assert_string_equal(e->node, "n1");
	assert_string_equal(e->node_address, "192.168.0.1");
	assert_string_equal(e->service_account, "cart-1");
	assert_string_equal(e->namespace_, "shop");
	assert_string_equal(e->locality->zone, "z1");
	assert_int_equal(e->weight, 1);
	assert_int_equal(e->n_labels, 2);   /* app and version only */
	assert_string_equal(e->labels[0]->key, "app");
	assert_string_equal(e->labels[1]->key, "version");
	assert_string_equal(v->endpoints[1]->workload, "shop/cart-2");
	assert_int_equal(v->endpoints[1]->n_labels, 1);
	weft__agent__v1__service__free_unpacked(v, NULL);

	r = get(s, WEFT_XDS_SERVICE, "web/front");
	v = weft__agent__v1__service__unpack(NULL, r->len, r->bytes);
	assert_string_equal(v->ports[0]->app_protocol, "grpc");
	assert_string_equal(v->cluster_ip, "");
	weft__agent__v1__service__free_unpacked(v, NULL);
	weft_xds_snapshot_unref(s);
	weft_model_free(m);
}

static void test_authorizations(void **st)
{
	weft_model_t *m = load_mesh("n2");
	weft_xds_snapshot_t *s = weft_xds_translate_opts(m, 1, NULL, &opts);
	const weft_xds_resource_t *r = get(s, WEFT_XDS_AUTHZ, "shop/ns-deny");
	Weft__Agent__V1__Authorization *a = weft__agent__v1__authorization__unpack(NULL, r->len, r->bytes);

	assert_non_null(a);
	assert_string_equal(a->name, "ns-deny");
	assert_string_equal(a->namespace_, "shop");
	assert_int_equal(a->action, WEFT__AGENT__V1__ACTION__DENY);
	assert_int_equal(a->n_rules, 1);
	assert_int_equal(a->rules[0]->n_from, 1);
	assert_string_equal(a->rules[0]->from[0]->namespaces[0], "web");
	assert_int_equal(a->rules[0]->n_to, 2);
	assert_int_equal(a->rules[0]->to[0]->n_ports, 1);
	assert_int_equal(a->rules[0]->to[0]->ports[0], 22);
	assert_false(a->rules[0]->to[0]->has_l7);
	assert_int_equal(a->rules[0]->to[1]->not_ports[0], 80);
	assert_true(a->rules[0]->to[1]->has_l7);
	assert_true(a->rules[0]->has_l7_when);
	weft__agent__v1__authorization__free_unpacked(a, NULL);

	r = get(s, WEFT_XDS_AUTHZ, "shop/cart-only");
	a = weft__agent__v1__authorization__unpack(NULL, r->len, r->bytes);
	assert_int_equal(a->action, WEFT__AGENT__V1__ACTION__ALLOW);
	assert_string_equal(a->rules[0]->from[0]->principals[0], "cluster.local/ns/web/sa/*");
	assert_string_equal(a->rules[0]->from[0]->not_ip_blocks[0], "10.9.0.0/16");
	assert_int_equal(a->rules[0]->n_to, 0);
	assert_false(a->rules[0]->has_l7_when);
	weft__agent__v1__authorization__free_unpacked(a, NULL);

	r = get(s, WEFT_XDS_AUTHZ, "web/front-allow");
	a = weft__agent__v1__authorization__unpack(NULL, r->len, r->bytes);
	assert_int_equal(a->n_rules, 0);   /* ALLOW without rules: matches nothing */
	weft__agent__v1__authorization__free_unpacked(a, NULL);
	r = get(s, WEFT_XDS_AUTHZ, "weft-system/mesh-audit");
	a = weft__agent__v1__authorization__unpack(NULL, r->len, r->bytes);
	assert_int_equal(a->action, WEFT__AGENT__V1__ACTION__AUDIT);
	assert_int_equal(a->n_rules, 1);   /* one empty rule: matches everything */
	weft__agent__v1__authorization__free_unpacked(a, NULL);

	/* audiences: the nodes hosting a workload the policy applies to */
	assert_string_equal(aud(get(s, WEFT_XDS_AUTHZ, "weft-system/mesh-audit")), "n1,n2");
	assert_string_equal(aud(get(s, WEFT_XDS_AUTHZ, "shop/cart-only")), "n1,n2");
	assert_string_equal(aud(get(s, WEFT_XDS_AUTHZ, "shop/ns-deny")), "n1,n2");
	assert_string_equal(aud(get(s, WEFT_XDS_AUTHZ, "web/front-allow")), "n2");
	assert_string_equal(aud(get(s, WEFT_XDS_AUTHZ, "shop/nobody")), "");
	weft_xds_snapshot_unref(s);

	/* with another root namespace, weft-system is an ordinary namespace
	 * (no workloads there): mesh-audit and mesh apply to nobody */
	weft_xds_opts_t o2 = { NULL, "root" };
	s = weft_xds_translate_opts(m, 1, NULL, &o2);
	assert_string_equal(aud(get(s, WEFT_XDS_AUTHZ, "weft-system/mesh-audit")), "");
	Weft__Agent__V1__Workload *w = workload(s, "shop/web-1");
	assert_int_equal(w->mtls_mode, WEFT__AGENT__V1__MTLS_MODE__PERMISSIVE);
	assert_int_equal(w->n_authorization_policies, 1);
	assert_string_equal(w->trust_domain, "cluster.local");
	weft__agent__v1__workload__free_unpacked(w, NULL);
	weft_xds_snapshot_unref(s);
	weft_model_free(m);
}

static bool same(const weft_xds_resource_t *a, const weft_xds_resource_t *b)
{
	if (!weft_str_eq(a->name, b->name) || a->len != b->len || memcmp(a->bytes, b->bytes, a->len) ||
	    !weft_str_eq(a->version, b->version) || !a->audience != !b->audience || a->naudience != b->naudience)
		return false;
	for (size_t i = 0; i < a->naudience; i++)
		if (!weft_str_eq(a->audience[i], b->audience[i]))
			return false;
	return true;
}

static void assert_same(const weft_xds_snapshot_t *a, const weft_xds_snapshot_t *b)
{
	for (int t = 0; t < WEFT_XDS_NTYPES; t++) {
		assert_int_equal(a->types[t].n, b->types[t].n);
		for (size_t i = 0; i < a->types[t].n; i++)
			assert_true(same(&a->types[t].v[i], &b->types[t].v[i]));
	}
}

/* cart-2 moves from n2 to n1 (a new model, as a reload gives): the reused
 * translation equals a fresh one; cart-2's Workload and the cart Service
 * change, cart-2 is now for n1 only, and policies whose nodes changed
 * keep their bytes but get the new audience. */
static void test_move_and_reuse(void **st)
{
	weft_model_t *m1 = load_mesh("n2"), *m2 = load_mesh("n1");
	weft_xds_snapshot_t *s1 = weft_xds_translate_opts(m1, 1, NULL, &opts);
	weft_xds_snapshot_t *s2 = weft_xds_translate_opts(m2, 2, s1, &opts);
	weft_xds_snapshot_t *fresh = weft_xds_translate_opts(m2, 2, NULL, &opts);
	size_t changed = 0;

	assert_non_null(s2);
	assert_same(s2, fresh);
	for (int t = WEFT_XDS_FIRST_AGENT; t < WEFT_XDS_NTYPES; t++)
		for (size_t i = 0; i < s2->types[t].n; i++) {
			const weft_xds_resource_t *o = weft_xds_snapshot_find(s1, t, s2->types[t].v[i].name);
			changed += !o || !weft_str_eq(o->version, s2->types[t].v[i].version);
		}
	assert_int_equal(changed, 2);
	assert_false(weft_str_eq(get(s1, WEFT_XDS_WORKLOAD, "shop/cart-2")->version,
				 get(s2, WEFT_XDS_WORKLOAD, "shop/cart-2")->version));
	assert_string_equal(aud(get(s2, WEFT_XDS_WORKLOAD, "shop/cart-2")), "n1");
	/* cart-only now only has workloads on n1 */
	assert_string_equal(aud(get(s2, WEFT_XDS_AUTHZ, "shop/cart-only")), "n1");
	assert_string_equal(aud(get(s2, WEFT_XDS_AUTHZ, "weft-system/mesh-audit")), "n1,n2");

	/* a different trust domain changes every Workload, nothing else */
	weft_xds_opts_t o2 = { "other.org", NULL };
	weft_xds_snapshot_t *s3 = weft_xds_translate_opts(m2, 3, s2, &o2);
	weft_xds_snapshot_t *fresh3 = weft_xds_translate_opts(m2, 3, NULL, &o2);
	assert_same(s3, fresh3);
	weft_xds_snapshot_unref(s1);
	weft_xds_snapshot_unref(s2);
	weft_xds_snapshot_unref(s3);
	weft_xds_snapshot_unref(fresh);
	weft_xds_snapshot_unref(fresh3);
	weft_model_free(m1);
	weft_model_free(m2);
}

/* ---- L7: routes, DestinationPolicy, L7 authorization ---- */

#define SVC(name, ports) \
	"---\napiVersion: v1\nkind: Service\nmetadata: {name: " name ", namespace: shop}\nspec: {ports: " ports "}\n"

/* web's first rule's v2 weight is %u, its rate limit's maxTokens %u, the
 * L7 authorization's path %s */
static const char l7_fmt[] =
	"apiVersion: weft.dev/v1alpha1\nkind: Node\nmetadata: {name: n1}\nspec: {address: 192.168.0.1}\n"
	WL("web-1", "shop", "{app: web}", ", node: n1", "10.1.0.1")
	SVC("web", "[{name: http, port: 80, appProtocol: http}, {name: raw, port: 9000}]")
	SVC("web-v2", "[{port: 80, appProtocol: http}]")
	SVC("grpc", "[{port: 7070, appProtocol: grpc}]")
	SVC("db", "[{port: 5432}]")
	SVC("limited", "[{port: 6000}]")
	SVC("hashed", "[{port: 6001}]")
	/* older (first in the file) although its name sorts last */
	"---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: zz-old, namespace: shop}\n"
	"spec:\n"
	"  parentRefs: [{name: web}]\n"
	"  hostnames: [web.example]\n"
	"  rules:\n"
	"  - matches: [{path: {type: Exact, value: /old}}]\n"
	"    backendRefs: [{name: web-v2, port: 80}]\n"
	"---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: aa-new, namespace: shop}\n"
	"spec:\n"
	"  parentRefs: [{name: web, port: 80}]\n"
	"  rules:\n"
	"  - matches:\n"
	"    - path: {type: PathPrefix, value: /api}\n"
	"      headers: [{name: x-user, value: alice}, {type: RegularExpression, name: x-id, value: '[0-9]+'}]\n"
	"      queryParams: [{name: debug, value: '1'}]\n"
	"      method: GET\n"
	"    filters:\n"
	"    - type: RequestHeaderModifier\n"
	"      requestHeaderModifier: {set: [{name: x-a, value: '1'}], add: [{name: x-b, value: '2'}], remove: [x-c]}\n"
	"    - type: ResponseHeaderModifier\n"
	"      responseHeaderModifier: {remove: [server]}\n"
	"    - type: RequestMirror\n"
	"      requestMirror: {backendRef: {name: web-v2, port: 80}, percent: 25}\n"
	"    - type: URLRewrite\n"
	"      urlRewrite: {hostname: other.example, path: {type: ReplacePrefixMatch, replacePrefixMatch: /v2}}\n"
	"    backendRefs: [{name: web, port: 80, weight: 90}, {name: web-v2, port: 80, weight: %u}]\n"
	"    timeouts: {request: 3s, backendRequest: 1s}\n"
	"  - filters:\n"
	"    - type: RequestRedirect\n"
	"      requestRedirect: {scheme: https, hostname: new.example, port: 8443, statusCode: 308,\n"
	"                        path: {type: ReplaceFullPath, replaceFullPath: /new}}\n"
	"---\napiVersion: gateway.networking.k8s.io/v1\nkind: GRPCRoute\nmetadata: {name: g, namespace: shop}\n"
	"spec:\n"
	"  parentRefs: [{name: grpc, port: 7070}]\n"
	"  rules:\n"
	"  - matches: [{method: {service: echo.Echo, method: Say}, headers: [{name: x-b, value: c}]}]\n"
	"    backendRefs: [{name: grpc, port: 7070}]\n"
	"---\napiVersion: weft.dev/v1alpha1\nkind: DestinationPolicy\nmetadata: {name: web, namespace: shop}\n"
	"spec:\n"
	"  targetRef: {name: web}\n"
	"  loadBalancer: {type: Maglev, maglev: {header: x-user, cookie: sid, sourceIP: true}}\n"
	"  connectionLimits: {maxConnections: 10, maxPendingRequests: 11, maxRequests: 12, maxRetries: 13}\n"
	"  outlierDetection: {consecutive5xx: 5, consecutiveGatewayErrors: 6, interval: 2s, baseEjectionTime: 1m,\n"
	"                     maxEjectionPercent: 50, successRate: {stdevFactor: 1700, minimumHosts: 4,"
	" requestVolume: 50}}\n"
	"  retries: {attempts: 3, perTryTimeout: 1s, retryOn: [5xx, unavailable], retriableStatusCodes: [503],\n"
	"            backoff: {baseInterval: 50ms, maxInterval: 1s}, budget: {percent: 25, minRetryConcurrency: 7}}\n"
	"  faultInjection: {delay: {fixedDelay: 100ms, percentage: 5}, abort: {grpcStatus: 14, percentage: 50},\n"
	"                   headers: [{name: x-fault, value: 'yes'}]}\n"
	"  rateLimit: {maxTokens: %u, tokensPerFill: 10, fillInterval: 1s, perRoute: true}\n"
	"  healthCheck: {path: /ready, interval: 3s, timeout: 500ms, unhealthyThreshold: 3, healthyThreshold: 2}\n"
	"---\napiVersion: weft.dev/v1alpha1\nkind: DestinationPolicy\nmetadata: {name: limited, namespace: shop}\n"
	"spec: {targetRef: {name: limited}, loadBalancer: {type: LeastRequest}, connectionLimits: {maxConnections: 5}}\n"
	"---\napiVersion: weft.dev/v1alpha1\nkind: DestinationPolicy\nmetadata: {name: hashed, namespace: shop}\n"
	"spec: {targetRef: {name: hashed}, loadBalancer: {ringHash: {cookie: sticky}}}\n"
	AP("l7", "shop", "{rules: [{to: [{operation: {hosts: [web.example], notHosts: [evil.example], methods: [GET],"
	   " notMethods: [DELETE], paths: [\"%s\"], notPaths: [/admin]}}], when: [{key: \"request.headers[x-user]\","
	   " values: [alice], notValues: [bob]}]}]}");

static weft_model_t *load_l7(unsigned v2_weight, unsigned tokens, const char *path)
{
	char text[sizeof(l7_fmt) + 64];
	const char *names[] = { "l7.yaml" };
	const char *texts[] = { text };
	weft_cfg_errors_t errs;
	weft_model_t *m;

	snprintf(text, sizeof(text), l7_fmt, v2_weight, tokens, path);
	m = load_texts(&errs, 1, names, texts);
	if (!m)
		dump_errors(&errs);
	assert_non_null(m);
	weft_cfg_errors_free(&errs);
	return m;
}

static Weft__Agent__V1__Service *service(const weft_xds_snapshot_t *s, const char *name)
{
	const weft_xds_resource_t *r = get(s, WEFT_XDS_SERVICE, name);
	Weft__Agent__V1__Service *v = weft__agent__v1__service__unpack(NULL, r->len, r->bytes);

	assert_non_null(v);
	return v;
}

static void test_l7_routes(void **st)
{
	weft_model_t *m = load_l7(10, 100, "/api/*");
	weft_xds_snapshot_t *s = weft_xds_translate_opts(m, 1, NULL, &opts);
	Weft__Agent__V1__Service *v = service(s, "shop/web");
	Weft__Agent__V1__ServicePort *p = v->ports[0];
	Weft__Agent__V1__RouteRule *r;
	Weft__Agent__V1__RouteMatch *mt;

	assert_int_equal(p->port, 80);
	assert_true(p->l7);
	/* zz-old (older) first, then aa-new's two rules in order */
	assert_int_equal(p->n_rules, 3);
	r = p->rules[0];
	assert_string_equal(r->route, "shop/zz-old");
	assert_int_equal(r->route_order, 0);
	assert_int_equal(r->rule_index, 0);
	assert_int_equal(r->kind, WEFT__AGENT__V1__ROUTE_KIND__ROUTE_HTTP);
	assert_int_equal(r->n_hostnames, 1);
	assert_string_equal(r->hostnames[0], "web.example");
	assert_int_equal(r->matches[0]->path_type, WEFT__AGENT__V1__MATCH_TYPE__MATCH_EXACT);
	assert_string_equal(r->matches[0]->path, "/old");
	assert_int_equal(r->n_backends, 1);
	assert_string_equal(r->backends[0]->service, "shop/web-v2");
	assert_int_equal(r->backends[0]->weight, 1);

	r = p->rules[1];
	assert_string_equal(r->route, "shop/aa-new");
	assert_int_equal(r->route_order, 1);
	assert_int_equal(r->rule_index, 0);
	assert_int_equal(r->n_hostnames, 0);
	assert_int_equal(r->n_matches, 1);
	mt = r->matches[0];
	assert_int_equal(mt->path_type, WEFT__AGENT__V1__MATCH_TYPE__MATCH_PREFIX);
	assert_string_equal(mt->path, "/api");
	assert_int_equal(mt->n_headers, 2);
	assert_string_equal(mt->headers[0]->name, "x-user");
	assert_int_equal(mt->headers[1]->type, WEFT__AGENT__V1__MATCH_TYPE__MATCH_REGEX);
	assert_string_equal(mt->headers[1]->value, "[0-9]+");
	assert_int_equal(mt->n_query, 1);
	assert_string_equal(mt->query[0]->name, "debug");
	assert_string_equal(mt->method, "GET");
	assert_int_equal(mt->grpc_type, WEFT__AGENT__V1__MATCH_TYPE__MATCH_NONE);
	assert_int_equal(r->n_filters, 4);
	assert_int_equal(r->filters[0]->type, WEFT__AGENT__V1__FILTER_TYPE__FILTER_REQUEST_HEADER);
	assert_string_equal(r->filters[0]->headers->set[0]->key, "x-a");
	assert_string_equal(r->filters[0]->headers->add[0]->value, "2");
	assert_string_equal(r->filters[0]->headers->remove[0], "x-c");
	assert_int_equal(r->filters[1]->type, WEFT__AGENT__V1__FILTER_TYPE__FILTER_RESPONSE_HEADER);
	assert_string_equal(r->filters[1]->headers->remove[0], "server");
	assert_int_equal(r->filters[2]->type, WEFT__AGENT__V1__FILTER_TYPE__FILTER_MIRROR);
	assert_string_equal(r->filters[2]->mirror_name, "web-v2");
	assert_string_equal(r->filters[2]->mirror_namespace, "shop");
	assert_int_equal(r->filters[2]->mirror_port, 80);
	assert_int_equal(r->filters[2]->mirror_percent_ppm, 250000);
	assert_int_equal(r->filters[3]->type, WEFT__AGENT__V1__FILTER_TYPE__FILTER_URL_REWRITE);
	assert_string_equal(r->filters[3]->rewrite_hostname, "other.example");
	assert_int_equal(r->filters[3]->rewrite_path_mod, WEFT__AGENT__V1__PATH_MOD__PATH_MOD_PREFIX);
	assert_string_equal(r->filters[3]->rewrite_path, "/v2");
	assert_int_equal(r->n_backends, 2);
	assert_string_equal(r->backends[0]->service, "shop/web");
	assert_int_equal(r->backends[0]->port, 80);
	assert_int_equal(r->backends[0]->weight, 90);
	assert_int_equal(r->backends[1]->weight, 10);
	assert_int_equal(r->timeout_request_ms, 3000);
	assert_int_equal(r->timeout_backend_ms, 1000);

	r = p->rules[2];
	assert_int_equal(r->rule_index, 1);
	assert_int_equal(r->n_matches, 0);
	assert_int_equal(r->n_backends, 0);
	assert_int_equal(r->filters[0]->type, WEFT__AGENT__V1__FILTER_TYPE__FILTER_REDIRECT);
	assert_string_equal(r->filters[0]->redirect_scheme, "https");
	assert_string_equal(r->filters[0]->redirect_hostname, "new.example");
	assert_int_equal(r->filters[0]->redirect_port, 8443);
	assert_int_equal(r->filters[0]->redirect_status, 308);
	assert_int_equal(r->filters[0]->redirect_path_mod, WEFT__AGENT__V1__PATH_MOD__PATH_MOD_FULL);
	assert_string_equal(r->filters[0]->redirect_path, "/new");

	/* port 9000 (tcp): only zz-old names it (port 0); l7 by the route */
	p = v->ports[1];
	assert_int_equal(p->port, 9000);
	assert_true(p->l7);
	assert_int_equal(p->n_rules, 1);
	assert_string_equal(p->rules[0]->route, "shop/zz-old");
	weft__agent__v1__service__free_unpacked(v, NULL);

	v = service(s, "shop/grpc");
	p = v->ports[0];
	assert_true(p->l7);
	assert_int_equal(p->n_rules, 1);
	r = p->rules[0];
	assert_int_equal(r->kind, WEFT__AGENT__V1__ROUTE_KIND__ROUTE_GRPC);
	assert_int_equal(r->matches[0]->path_type, WEFT__AGENT__V1__MATCH_TYPE__MATCH_NONE);
	assert_int_equal(r->matches[0]->grpc_type, WEFT__AGENT__V1__MATCH_TYPE__MATCH_EXACT);
	assert_string_equal(r->matches[0]->grpc_service, "echo.Echo");
	assert_string_equal(r->matches[0]->grpc_method, "Say");
	assert_string_equal(r->matches[0]->headers[0]->name, "x-b");
	assert_null(v->policy);
	weft__agent__v1__service__free_unpacked(v, NULL);

	/* web-v2: http, no route attached to it (only used as a backend) */
	v = service(s, "shop/web-v2");
	assert_true(v->ports[0]->l7);
	assert_int_equal(v->ports[0]->n_rules, 0);
	weft__agent__v1__service__free_unpacked(v, NULL);
	/* tcp, nothing L7 */
	v = service(s, "shop/db");
	assert_false(v->ports[0]->l7);
	weft__agent__v1__service__free_unpacked(v, NULL);
	weft_xds_snapshot_unref(s);
	weft_model_free(m);
}

static void test_l7_policy(void **st)
{
	weft_model_t *m = load_l7(10, 100, "/api/*");
	weft_xds_snapshot_t *s = weft_xds_translate_opts(m, 1, NULL, &opts);
	Weft__Agent__V1__Service *v = service(s, "shop/web");
	Weft__Agent__V1__DestinationPolicy *p = v->policy;

	assert_non_null(p);
	assert_string_equal(p->name, "shop/web");
	assert_int_equal(p->lb->type, WEFT__AGENT__V1__LB_TYPE__LB_MAGLEV);
	assert_true(p->lb->type_set);
	assert_string_equal(p->lb->hash_header, "x-user");
	assert_string_equal(p->lb->hash_cookie, "sid");
	assert_true(p->lb->hash_source_ip);
	assert_int_equal(p->lb->ring_min, 1024);
	assert_non_null(p->limits);
	assert_int_equal(p->limits->max_connections, 10);
	assert_int_equal(p->limits->max_pending_requests, 11);
	assert_int_equal(p->limits->max_requests, 12);
	assert_int_equal(p->limits->max_retries, 13);
	assert_non_null(p->outlier);
	assert_int_equal(p->outlier->consecutive_5xx, 5);
	assert_int_equal(p->outlier->consecutive_gateway_errors, 6);
	assert_int_equal(p->outlier->interval_ms, 2000);
	assert_int_equal(p->outlier->base_ejection_ms, 60000);
	assert_int_equal(p->outlier->max_ejection_percent, 50);
	assert_int_equal(p->outlier->sr_stdev_factor_milli, 1700);
	assert_int_equal(p->outlier->sr_min_hosts, 4);
	assert_int_equal(p->outlier->sr_request_volume, 50);
	assert_non_null(p->retry);
	assert_int_equal(p->retry->attempts, 3);
	assert_int_equal(p->retry->per_try_timeout_ms, 1000);
	assert_int_equal(p->retry->retry_on, WEFT_RETRY_5XX | WEFT_RETRY_UNAVAILABLE | WEFT_RETRY_RETRIABLE_STATUS);
	assert_int_equal(p->retry->n_retriable_status, 1);
	assert_int_equal(p->retry->retriable_status[0], 503);
	assert_int_equal(p->retry->backoff_base_ms, 50);
	assert_int_equal(p->retry->backoff_max_ms, 1000);
	assert_non_null(p->retry->budget);
	assert_int_equal(p->retry->budget->percent_ppm, 250000);
	assert_int_equal(p->retry->budget->min_concurrency, 7);
	assert_non_null(p->fault);
	assert_int_equal(p->fault->delay_ppm, 50000);
	assert_int_equal(p->fault->delay_ms, 100);
	assert_int_equal(p->fault->abort_ppm, 500000);
	assert_true(p->fault->abort_grpc);
	assert_int_equal(p->fault->abort_grpc_status, 14);
	assert_int_equal(p->fault->n_headers, 1);
	assert_string_equal(p->fault->headers[0]->name, "x-fault");
	assert_string_equal(p->fault->headers[0]->value, "yes");
	assert_non_null(p->rate_limit);
	assert_int_equal(p->rate_limit->max_tokens, 100);
	assert_int_equal(p->rate_limit->tokens_per_fill, 10);
	assert_int_equal(p->rate_limit->fill_interval_ms, 1000);
	assert_true(p->rate_limit->per_route);
	assert_non_null(p->health);
	assert_false(p->health->grpc);
	assert_string_equal(p->health->path, "/ready");
	assert_int_equal(p->health->interval_ms, 3000);
	assert_int_equal(p->health->timeout_ms, 500);
	assert_int_equal(p->health->unhealthy_threshold, 3);
	assert_int_equal(p->health->healthy_threshold, 2);
	weft__agent__v1__service__free_unpacked(v, NULL);

	/* limits and the default balancer only: a policy, but L4 is enough */
	v = service(s, "shop/limited");
	assert_false(v->ports[0]->l7);
	assert_non_null(v->policy);
	assert_non_null(v->policy->limits);
	assert_int_equal(v->policy->limits->max_connections, 5);
	assert_null(v->policy->outlier);
	assert_null(v->policy->retry);
	assert_null(v->policy->fault);
	assert_null(v->policy->rate_limit);
	assert_null(v->policy->health);
	weft__agent__v1__service__free_unpacked(v, NULL);
	/* a policy alone (here a hash key) never turns a tcp port into L7 */
	v = service(s, "shop/hashed");
	assert_false(v->ports[0]->l7);
	assert_false(v->policy->lb->type_set);
	assert_string_equal(v->policy->lb->hash_cookie, "sticky");
	weft__agent__v1__service__free_unpacked(v, NULL);
	weft_xds_snapshot_unref(s);
	weft_model_free(m);
}

static void test_l7_authz(void **st)
{
	weft_model_t *m = load_l7(10, 100, "/api/*");
	weft_xds_snapshot_t *s = weft_xds_translate_opts(m, 1, NULL, &opts);
	const weft_xds_resource_t *r = get(s, WEFT_XDS_AUTHZ, "shop/l7");
	Weft__Agent__V1__Authorization *a = weft__agent__v1__authorization__unpack(NULL, r->len, r->bytes);
	Weft__Agent__V1__Operation *o;

	assert_non_null(a);
	assert_int_equal(a->n_rules, 1);
	o = a->rules[0]->to[0];
	assert_true(o->has_l7);
	assert_int_equal(o->n_hosts, 1);
	assert_string_equal(o->hosts[0], "web.example");
	assert_string_equal(o->not_hosts[0], "evil.example");
	assert_string_equal(o->methods[0], "GET");
	assert_string_equal(o->not_methods[0], "DELETE");
	assert_string_equal(o->paths[0], "/api/*");
	assert_string_equal(o->not_paths[0], "/admin");
	assert_true(a->rules[0]->has_l7_when);
	assert_int_equal(a->rules[0]->n_when, 1);
	assert_string_equal(a->rules[0]->when[0]->key, "request.headers[x-user]");
	assert_int_equal(a->rules[0]->when[0]->n_values, 1);
	assert_string_equal(a->rules[0]->when[0]->values[0], "alice");
	assert_string_equal(a->rules[0]->when[0]->not_values[0], "bob");
	weft__agent__v1__authorization__free_unpacked(a, NULL);
	weft_xds_snapshot_unref(s);
	weft_model_free(m);
}

/* A route weight, a policy value and an authorization path each change
 * exactly their resource; a translation reusing the previous one always
 * equals a fresh one. */
static void test_l7_reuse(void **st)
{
	weft_model_t *m1 = load_l7(10, 100, "/api/*");
	weft_model_t *m2 = load_l7(20, 100, "/api/*");
	weft_model_t *m3 = load_l7(20, 50, "/other");
	weft_xds_snapshot_t *s1 = weft_xds_translate_opts(m1, 1, NULL, &opts);
	weft_xds_snapshot_t *s2 = weft_xds_translate_opts(m2, 2, s1, &opts);
	weft_xds_snapshot_t *s3 = weft_xds_translate_opts(m3, 3, s2, &opts);
	weft_xds_snapshot_t *f2 = weft_xds_translate_opts(m2, 2, NULL, &opts);
	weft_xds_snapshot_t *f3 = weft_xds_translate_opts(m3, 3, NULL, &opts);
	const char *const services[] = { "shop/web", "shop/web-v2", "shop/grpc", "shop/db" };

	assert_same(s2, f2);
	assert_same(s3, f3);
	/* the weight: web only (its port 80 carries aa-new's rules) */
	for (size_t i = 0; i < 4; i++)
		assert_int_equal(!weft_str_eq(get(s1, WEFT_XDS_SERVICE, services[i])->version,
					      get(s2, WEFT_XDS_SERVICE, services[i])->version), i == 0);
	assert_true(weft_str_eq(get(s1, WEFT_XDS_AUTHZ, "shop/l7")->version,
				get(s2, WEFT_XDS_AUTHZ, "shop/l7")->version));
	/* the rate limit (web) and the authorization's path */
	assert_false(weft_str_eq(get(s2, WEFT_XDS_SERVICE, "shop/web")->version,
				 get(s3, WEFT_XDS_SERVICE, "shop/web")->version));
	assert_true(weft_str_eq(get(s2, WEFT_XDS_SERVICE, "shop/grpc")->version,
				get(s3, WEFT_XDS_SERVICE, "shop/grpc")->version));
	assert_false(weft_str_eq(get(s2, WEFT_XDS_AUTHZ, "shop/l7")->version,
				 get(s3, WEFT_XDS_AUTHZ, "shop/l7")->version));
	weft_xds_snapshot_unref(s1);
	weft_xds_snapshot_unref(s2);
	weft_xds_snapshot_unref(s3);
	weft_xds_snapshot_unref(f2);
	weft_xds_snapshot_unref(f3);
	weft_model_free(m1);
	weft_model_free(m2);
	weft_model_free(m3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_workloads),
		cmocka_unit_test(test_services),
		cmocka_unit_test(test_authorizations),
		cmocka_unit_test(test_move_and_reuse),
		cmocka_unit_test(test_l7_routes),
		cmocka_unit_test(test_l7_policy),
		cmocka_unit_test(test_l7_authz),
		cmocka_unit_test(test_l7_reuse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
