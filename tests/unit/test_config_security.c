/* Unit tests for the AuthorizationPolicy and PeerAuthentication kinds
 * (src/control/kind_authz.c, kind_peerauth.c): a good set decodes field by
 * field with Istio's defaults, and every error is reported at its file,
 * line and field path. */
#include "cfg_test_util.h"

static const char good_yaml[] =
	"apiVersion: security.istio.io/v1\n"                   /* 1 */
	"kind: AuthorizationPolicy\n"
	"metadata: {name: allow-web, namespace: shop}\n"
	"spec:\n"
	"  selector: {matchLabels: {app: cart}}\n"             /* 5 */
	"  rules:\n"
	"  - from:\n"
	"    - source:\n"
	"        principals: [\"cluster.local/ns/shop/sa/web\", \"*/sa/admin\", \"cluster.local/*\"]\n"
	"        notNamespaces: [kube-system]\n"               /* 10 */
	"        ipBlocks: [10.0.0.0/8, 192.168.1.7, \"fd00::/8\"]\n"
	"    to:\n"
	"    - operation: {ports: [\"8080\", 9090], notPorts: [\"22\"]}\n"
	"    - operation: {methods: [GET], paths: [\"/api/*\"]}\n"
	"    when:\n"                                          /* 15 */
	"    - {key: \"request.headers[x-user]\", values: [alice]}\n"
	"  - {}\n"
	"---\n"
	"apiVersion: weft.dev/v1alpha1\n"
	"kind: AuthorizationPolicy\n"                          /* 20 */
	"metadata: {name: deny-all, namespace: shop}\n"
	"spec: {}\n"
	"---\n"
	"apiVersion: security.istio.io/v1\n"
	"kind: AuthorizationPolicy\n"                          /* 25 */
	"metadata: {name: audit, namespace: weft-system}\n"
	"spec: {action: AUDIT, rules: [{}]}\n"
	"---\n"
	"apiVersion: security.istio.io/v1\n"
	"kind: PeerAuthentication\n"                           /* 30 */
	"metadata: {name: default, namespace: shop}\n"
	"spec: {mtls: {mode: STRICT}}\n"
	"---\n"
	"apiVersion: security.istio.io/v1\n"
	"kind: PeerAuthentication\n"                           /* 35 */
	"metadata: {name: cart, namespace: shop}\n"
	"spec: {selector: {matchLabels: {app: cart}}, mtls: {mode: PERMISSIVE}}\n"
	"---\n"
	"apiVersion: weft.dev/v1alpha1\n"
	"kind: PeerAuthentication\n"                           /* 40 */
	"metadata: {name: other, namespace: web}\n"
	"spec: {}\n";

static void test_good(void **st)
{
	const char *names[] = { "sec.yaml" };
	const char *texts[] = { good_yaml };
	weft_cfg_errors_t errs;
	weft_model_t *m = load_texts(&errs, 1, names, texts);

	if (!m)
		dump_errors(&errs);
	assert_non_null(m);
	assert_int_equal(m->nauthz, 3);
	/* sorted by (ns, name) */
	const weft_authz_policy_t *a = &m->authz[0], *d = &m->authz[1], *au = &m->authz[2];
	assert_true(seq(a->meta.name, "allow-web") && seq(a->meta.ns, "shop"));
	assert_true(seq(d->meta.name, "deny-all"));
	assert_true(seq(au->meta.ns, "weft-system"));

	assert_int_equal(a->action, WEFT_AUTHZ_ALLOW);
	assert_int_equal(a->selector.n, 1);
	assert_true(seq(a->selector.kv[0].key, "app") && seq(a->selector.kv[0].value, "cart"));
	assert_int_equal(a->nrules, 2);
	const weft_authz_rule_t *r = &a->rules[0];
	assert_int_equal(r->loc.line, 7);
	assert_int_equal(r->nfrom, 1);
	assert_int_equal(r->from[0].principals.n, 3);
	assert_true(seq(r->from[0].principals.v[1], "*/sa/admin"));
	assert_int_equal(r->from[0].not_namespaces.n, 1);
	assert_int_equal(r->from[0].ip_blocks.n, 3);
	assert_true(seq(r->from[0].ip_blocks.v[2], "fd00::/8"));
	assert_int_equal(r->nto, 2);
	assert_int_equal(r->to[0].nports, 2);
	assert_int_equal(r->to[0].ports[0], 8080);
	assert_int_equal(r->to[0].ports[1], 9090);
	assert_int_equal(r->to[0].nnot_ports, 1);
	assert_int_equal(r->to[0].not_ports[0], 22);
	assert_false(r->to[0].has_l7);
	assert_true(r->to[1].has_l7);
	assert_true(seq(r->to[1].paths.v[0], "/api/*"));
	assert_int_equal(r->nwhen, 1);
	assert_true(seq(r->when[0].key, "request.headers[x-user]"));
	assert_true(seq(r->when[0].values.v[0], "alice"));
	/* rules: [{}] keeps an empty rule (matches everything) */
	assert_int_equal(a->rules[1].nfrom + a->rules[1].nto + a->rules[1].nwhen, 0);

	/* spec: {} is an ALLOW policy without rules (matches nothing) */
	assert_int_equal(d->action, WEFT_AUTHZ_ALLOW);
	assert_int_equal(d->nrules, 0);
	assert_int_equal(d->selector.n, 0);
	assert_int_equal(au->action, WEFT_AUTHZ_AUDIT);
	assert_int_equal(au->nrules, 1);

	assert_int_equal(m->npeerauth, 3);
	assert_true(seq(m->peerauth[0].meta.name, "cart"));
	assert_int_equal(m->peerauth[0].mode, WEFT_MTLS_PERMISSIVE);
	assert_int_equal(m->peerauth[0].selector.n, 1);
	assert_int_equal(m->peerauth[1].mode, WEFT_MTLS_STRICT);
	assert_int_equal(m->peerauth[1].selector.n, 0);
	assert_int_equal(m->peerauth[2].mode, WEFT_MTLS_UNSET);
	weft_model_free(m);
	weft_cfg_errors_free(&errs);
}

typedef struct err_case {
	const char *name;
	const char *yaml;       /* t.yaml */
	unsigned line;
	const char *field;
	const char *msg;
} err_case_t;

/* spec's own lines start at line 5 */
#define AP(body) "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: p}\nspec:\n" body
#define PA(body) "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: p}\nspec:\n" body
#define SRC(body) AP("  rules:\n  - from:\n    - source:\n" body)     /* body at line 8 */
#define OP(body) AP("  rules:\n  - to:\n    - operation:\n" body)      /* body at line 8 */

static const err_case_t cases[] = {
	{ "apiVersion", "apiVersion: v1\nkind: AuthorizationPolicy\nmetadata: {name: p}\nspec: {}\n", 1, "apiVersion",
	  "needs apiVersion \"security.istio.io/v1\" or \"weft.dev/v1alpha1\"" },
	{ "CUSTOM", AP("  action: CUSTOM\n"), 5, "spec.action", "CUSTOM is not supported" },
	{ "provider", AP("  provider: {name: ext}\n"), 5, "spec.provider", "not supported" },
	{ "bad action", AP("  action: MAYBE\n"), 5, "spec.action", "is not one of: ALLOW, DENY, AUDIT, CUSTOM" },
	{ "unknown field", AP("  targetRefs: []\n"), 5, "spec.targetRefs", "unknown field" },
	{ "selector field", AP("  selector: {labels: {a: b}}\n"), 5, "spec.selector.labels", "unknown field" },
	{ "selector label", AP("  selector:\n    matchLabels: {app: 'a b'}\n"), 6, "spec.selector.matchLabels.app",
	  "invalid label value" },
	{ "rules not a list", AP("  rules: {}\n"), 5, "spec.rules", "expected a list" },
	{ "rule field", AP("  rules:\n  - fromm: []\n"), 6, "spec.rules[0].fromm", "unknown field" },
	{ "source missing", AP("  rules:\n  - from:\n    - {}\n"), 7, "spec.rules[0].from[0].source",
	  "required field is missing" },
	{ "principal infix", SRC("        principals: [\"cluster.local/ns/*/sa/x\"]\n"), 8,
	  "spec.rules[0].from[0].source.principals[0]", "'*' may only be" },
	{ "principal both ends", SRC("        notPrincipals: [\"*x*\"]\n"), 8,
	  "spec.rules[0].from[0].source.notPrincipals[0]", "'*' may only be" },
	{ "principal empty", SRC("        principals: [\"\"]\n"), 8, "spec.rules[0].from[0].source.principals[0]",
	  "must not be empty" },
	{ "namespace wildcard", SRC("        namespaces: [\"a*b\"]\n"), 8,
	  "spec.rules[0].from[0].source.namespaces[0]", "'*' may only be" },
	{ "bad ip", SRC("        ipBlocks: [10.0.0.300]\n"), 8, "spec.rules[0].from[0].source.ipBlocks[0]",
	  "not an IP address or CIDR" },
	{ "bad prefix v4", SRC("        notIpBlocks: [10.0.0.0/33]\n"), 8,
	  "spec.rules[0].from[0].source.notIpBlocks[0]", "prefix length outside 0..32" },
	{ "bad prefix v6", SRC("        ipBlocks: [\"fd00::/129\"]\n"), 8,
	  "spec.rules[0].from[0].source.ipBlocks[0]", "prefix length outside 0..128" },
	{ "requestPrincipals", SRC("        requestPrincipals: [a/b]\n"), 8,
	  "spec.rules[0].from[0].source.requestPrincipals", "not supported by weft" },
	{ "notRequestPrincipals", SRC("        notRequestPrincipals: [a/b]\n"), 8,
	  "spec.rules[0].from[0].source.notRequestPrincipals", "not supported by weft" },
	{ "principals not a list", SRC("        principals: x\n"), 8, "spec.rules[0].from[0].source.principals",
	  "expected a list" },
	{ "operation missing", AP("  rules:\n  - to:\n    - {}\n"), 7, "spec.rules[0].to[0].operation",
	  "required field is missing" },
	{ "port zero", OP("        ports: [\"0\"]\n"), 8, "spec.rules[0].to[0].operation.ports[0]",
	  "not a port number (1..65535)" },
	{ "port too big", OP("        notPorts: [\"65536\"]\n"), 8, "spec.rules[0].to[0].operation.notPorts[0]",
	  "not a port number" },
	{ "port word", OP("        ports: [http]\n"), 8, "spec.rules[0].to[0].operation.ports[0]", "not a port number" },
	{ "port list", OP("        ports: [[1]]\n"), 8, "spec.rules[0].to[0].operation.ports[0]",
	  "expected a port number" },
	{ "path wildcard", OP("        paths: [\"/a/*/b\"]\n"), 8, "spec.rules[0].to[0].operation.paths[0]",
	  "'*' may only be" },
	{ "operation field", OP("        verbs: [GET]\n"), 8, "spec.rules[0].to[0].operation.verbs", "unknown field" },
	{ "when key", AP("  rules:\n  - when:\n    - {values: [a]}\n"), 7, "spec.rules[0].when[0].key",
	  "required field is missing" },
	{ "when values", AP("  rules:\n  - when:\n    - {key: source.ip}\n"), 7, "spec.rules[0].when[0]",
	  "values or notValues is required" },

	{ "DISABLE", PA("  mtls: {mode: DISABLE}\n"), 5, "spec.mtls.mode",
	  "DISABLE is not supported by weft: plaintext between agents is never allowed" },
	{ "bad mode", PA("  mtls: {mode: strict}\n"), 5, "spec.mtls.mode", "is not one of" },
	{ "portLevelMtls", PA("  portLevelMtls:\n    8080: {mode: STRICT}\n"), 6, "spec.portLevelMtls",
	  "not supported yet" },
	{ "mtls field", PA("  mtls: {mod: STRICT}\n"), 5, "spec.mtls.mod", "unknown field" },
	{ "second namespace-wide", PA("  mtls: {mode: STRICT}\n---\n" PA("  mtls: {mode: PERMISSIVE}\n")), 7,
	  "metadata.name", "duplicate PeerAuthentication" },
	{ "PA apiVersion", "apiVersion: security.istio.io/v1beta2\nkind: PeerAuthentication\nmetadata: {name: p}\n"
	  "spec: {}\n", 1, "apiVersion", "needs apiVersion" },
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

/* Two namespace-wide PeerAuthentications in one namespace (different
 * names, different files): the second is refused, pointing at the first;
 * other namespaces and selector policies do not count. */
static void test_one_namespace_wide(void **st)
{
	const char *names[] = { "a.yaml", "b.yaml" };
	const char *texts[] = {
		"apiVersion: security.istio.io/v1\nkind: PeerAuthentication\n"
		"metadata: {name: first, namespace: shop}\nspec: {mtls: {mode: STRICT}}\n"
		"---\n"
		"apiVersion: security.istio.io/v1\nkind: PeerAuthentication\n"
		"metadata: {name: sel, namespace: shop}\nspec: {selector: {matchLabels: {a: b}}}\n",
		"apiVersion: security.istio.io/v1\nkind: PeerAuthentication\n"
		"metadata: {name: web, namespace: web}\nspec: {}\n"
		"---\n"
		"apiVersion: weft.dev/v1alpha1\nkind: PeerAuthentication\n"
		"metadata: {name: again, namespace: shop}\nspec: {}\n",
	};
	weft_cfg_errors_t errs;
	weft_model_t *m = load_texts(&errs, 2, names, texts);

	assert_null(m);
	assert_error(&errs, "b.yaml", 6, "spec.selector", "first defined at a.yaml:1");
	assert_int_equal(errs.n, 1);
	weft_cfg_errors_free(&errs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_error_cases),
		cmocka_unit_test(test_one_namespace_wide),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
