/* Unit tests for src/control/xds_agent.c: the weft.agent.v1 resources
 * translated from a YAML config: every field, policy scoping (root
 * namespace, namespace, selector), mTLS precedence, audiences, and reuse
 * across generations (always equal to a fresh translation). */
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_workloads),
		cmocka_unit_test(test_services),
		cmocka_unit_test(test_authorizations),
		cmocka_unit_test(test_move_and_reuse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
