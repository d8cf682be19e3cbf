/* weft — kind AuthorizationPolicy (security.istio.io/v1, also
 * weft.dev/v1alpha1): Istio's workload authorization, with Istio's
 * semantics (ALLOW/DENY/AUDIT; a policy without rules matches nothing, an
 * empty rule matches everything). L7 attributes (hosts, methods, paths,
 * when conditions) are kept and flagged: the agent enforces them only
 * where it parses HTTP. */
#include <arpa/inet.h>
#include <string.h>
#include "weft/arena.h"
#include "weft/cfgdec.h"
#include "weft/config.h"
#include "weft/str.h"

typedef weft_authz_policy_t az_t;

static const weft_enum_t actions[] = {
	{ "ALLOW", WEFT_AUTHZ_ALLOW }, { "DENY", WEFT_AUTHZ_DENY }, { "AUDIT", WEFT_AUTHZ_AUDIT },
	{ "CUSTOM", -1 }, { NULL, 0 },
};

enum { A_SELECTOR, A_ACTION, A_RULES, A_PROVIDER };
static const weft_field_t authz_fields[] = {
	[A_SELECTOR] = WF_NODE("selector", WEFT_F_MAP, 0),
	[A_ACTION] = WF_ENUM("action", 0, actions, az_t, action),
	[A_RULES] = WF_NODE("rules", WEFT_F_SEQ, 0),
	[A_PROVIDER] = WF_NODE("provider", WEFT_F_MAP, 0),
};

static const weft_field_t selector_fields[] = {
	WF_NODE("matchLabels", WEFT_F_MAP, 0),
};

enum { R_FROM, R_TO, R_WHEN };
static const weft_field_t rule_fields[] = {
	[R_FROM] = WF_NODE("from", WEFT_F_SEQ, 0),
	[R_TO] = WF_NODE("to", WEFT_F_SEQ, 0),
	[R_WHEN] = WF_NODE("when", WEFT_F_SEQ, 0),
};
static const weft_field_t from_fields[] = { WF_NODE("source", WEFT_F_MAP, WEFT_FF_REQUIRED) };
static const weft_field_t to_fields[] = { WF_NODE("operation", WEFT_F_MAP, WEFT_FF_REQUIRED) };

enum { S_PRINC, S_NPRINC, S_NS, S_NNS, S_IP, S_NIP, S_RIP, S_NRIP, S_RPRINC, S_NRPRINC };
static const weft_field_t source_fields[] = {
	[S_PRINC] = WF_NODE("principals", WEFT_F_SEQ, 0),
	[S_NPRINC] = WF_NODE("notPrincipals", WEFT_F_SEQ, 0),
	[S_NS] = WF_NODE("namespaces", WEFT_F_SEQ, 0),
	[S_NNS] = WF_NODE("notNamespaces", WEFT_F_SEQ, 0),
	[S_IP] = WF_NODE("ipBlocks", WEFT_F_SEQ, 0),
	[S_NIP] = WF_NODE("notIpBlocks", WEFT_F_SEQ, 0),
	[S_RIP] = WF_NODE("remoteIpBlocks", WEFT_F_SEQ, 0),
	[S_NRIP] = WF_NODE("notRemoteIpBlocks", WEFT_F_SEQ, 0),
	[S_RPRINC] = WF_NODE("requestPrincipals", WEFT_F_SEQ, 0),
	[S_NRPRINC] = WF_NODE("notRequestPrincipals", WEFT_F_SEQ, 0),
};

enum { O_PORTS, O_NPORTS, O_HOSTS, O_NHOSTS, O_METHODS, O_NMETHODS, O_PATHS, O_NPATHS };
static const weft_field_t operation_fields[] = {
	[O_PORTS] = WF_NODE("ports", WEFT_F_SEQ, 0),
	[O_NPORTS] = WF_NODE("notPorts", WEFT_F_SEQ, 0),
	[O_HOSTS] = WF_NODE("hosts", WEFT_F_SEQ, 0),
	[O_NHOSTS] = WF_NODE("notHosts", WEFT_F_SEQ, 0),
	[O_METHODS] = WF_NODE("methods", WEFT_F_SEQ, 0),
	[O_NMETHODS] = WF_NODE("notMethods", WEFT_F_SEQ, 0),
	[O_PATHS] = WF_NODE("paths", WEFT_F_SEQ, 0),
	[O_NPATHS] = WF_NODE("notPaths", WEFT_F_SEQ, 0),
};

enum { W_KEY, W_VALUES, W_NVALUES };
static const weft_field_t when_fields[] = {
	[W_KEY] = WF("key", WEFT_F_STR, WEFT_FF_REQUIRED, weft_authz_condition_t, key),
	[W_VALUES] = WF_NODE("values", WEFT_F_SEQ, 0),
	[W_NVALUES] = WF_NODE("notValues", WEFT_F_SEQ, 0),
};

/* What a list item must look like. Returns NULL when fine, else why not. */
typedef const char *(*check_fn)(weft_str_t s);

/* Istio's string match: '*' alone, as a prefix ("*x") or as a suffix
 * ("x*"), nowhere else. */
static const char *check_wildcard(weft_str_t s)
{
	for (size_t i = 0; i < s.len; i++)
		if (s.p[i] == '*' && !(s.len == 1 || i == 0 || i == s.len - 1))
			return "'*' may only be the whole value, its first or its last character";
	if (s.len > 1 && s.p[0] == '*' && s.p[s.len - 1] == '*')
		return "'*' may only be the whole value, its first or its last character";
	return NULL;
}

/* A CIDR ("10.0.0.0/8", "fd00::/8") or a single IPv4/IPv6 address. */
static const char *check_cidr(weft_str_t s)
{
	char buf[64];
	unsigned char addr[16];
	const char *slash;
	int family;
	size_t alen;

	if (s.len >= sizeof(buf))
		return "not an IP address or CIDR";
	memcpy(buf, s.p, s.len);
	buf[s.len] = '\0';
	slash = strchr(buf, '/');
	alen = slash ? (size_t)(slash - buf) : s.len;
	buf[alen] = '\0';
	family = strchr(buf, ':') ? AF_INET6 : AF_INET;
	if (inet_pton(family, buf, addr) != 1)
		return "not an IP address or CIDR";
	if (slash) {
		unsigned long long bits;
		unsigned max = family == AF_INET ? 32 : 128;
		if (weft_str_to_u64(weft_str_c(slash + 1), max, &bits) < 0)
			return family == AF_INET ? "prefix length outside 0..32"
						 : "prefix length outside 0..128";
	}
	return NULL;
}

/* Decodes a list of non-empty strings (each checked by check, may be NULL)
 * into out. Returns 0 or -1 (errors added). */
static int dec_strs(weft_dec_t *d, const weft_yaml_node_t *n, const char *path, check_fn check,
		    weft_strs_t *out)
{
	bool failed = false;
	int rc = 0;

	out->n = 0;
	out->v = NULL;
	if (!n)
		return 0;
	out->v = weft_dec_array(d, n->n, sizeof(*out->v), &failed);
	if (failed)
		return -1;
	for (size_t i = 0; i < n->n; i++) {
		const char *p = weft_dec_idx(d, path, i);
		weft_str_t s = { 0 };
		const char *why;

		if (weft_dec_str(d, n->vals[i], p, true, &s) < 0) {
			rc = -1;
			continue;
		}
		if (check && (why = check(s))) {
			weft_dec_err(d, n->vals[i]->line, p, "\"%s\": %s", s.p, why);
			rc = -1;
			continue;
		}
		out->v[out->n++] = s;
	}
	return rc;
}

/* Decodes a list of ports written as strings of digits (Istio) or numbers,
 * each 1..65535. Returns 0 or -1. */
static int dec_ports(weft_dec_t *d, const weft_yaml_node_t *n, const char *path, size_t *np, uint16_t **out)
{
	bool failed = false;
	int rc = 0;

	*np = 0;
	*out = NULL;
	if (!n)
		return 0;
	*out = weft_dec_array(d, n->n, sizeof(**out), &failed);
	if (failed)
		return -1;
	for (size_t i = 0; i < n->n; i++) {
		const weft_yaml_node_t *v = n->vals[i];
		const char *p = weft_dec_idx(d, path, i);
		unsigned long long port;

		if (!v || v->type != WEFT_YAML_SCALAR) {
			weft_dec_err(d, v ? v->line : n->line, p, "expected a port number (1..65535)");
			rc = -1;
			continue;
		}
		if (weft_str_to_u64(v->str, 65535, &port) < 0 || port == 0) {
			weft_dec_err(d, v->line, p, "\"%s\" is not a port number (1..65535)", v->str.p);
			rc = -1;
			continue;
		}
		(*out)[(*np)++] = (uint16_t)port;
	}
	return rc;
}

/* Decodes one from[] entry. Returns 0 or -1. */
static int dec_source(weft_dec_t *d, const weft_yaml_node_t *n, const char *path, weft_authz_source_t *s)
{
	const weft_yaml_node_t *fg[1], *g[WEFT_NFIELDS(source_fields)];
	const char *sp = weft_dec_path(d, path, "source");
	int rc;

	s->loc = weft_dec_loc(d, n);
	if (weft_dec_map(d, n, path, from_fields, 1, NULL, fg) < 0 || !fg[0])
		return -1;
	rc = weft_dec_map(d, fg[0], sp, source_fields, WEFT_NFIELDS(source_fields), NULL, g);
	for (int k = S_RIP; k <= S_NRPRINC; k++)
		if (g[k]) {
			weft_dec_err(d, g[k]->line, weft_dec_path(d, sp, source_fields[k].name), "not supported by weft: %s",
				     k >= S_RPRINC ? "request principals need JWT authentication, which weft does not do"
						   : "remote IPs need X-Forwarded-For, which weft does not trust");
			rc = -1;
		}
	if (dec_strs(d, g[S_PRINC], weft_dec_path(d, sp, "principals"), check_wildcard, &s->principals) < 0 ||
	    dec_strs(d, g[S_NPRINC], weft_dec_path(d, sp, "notPrincipals"), check_wildcard, &s->not_principals) < 0 ||
	    dec_strs(d, g[S_NS], weft_dec_path(d, sp, "namespaces"), check_wildcard, &s->namespaces) < 0 ||
	    dec_strs(d, g[S_NNS], weft_dec_path(d, sp, "notNamespaces"), check_wildcard, &s->not_namespaces) < 0)
		rc = -1;
	if (dec_strs(d, g[S_IP], weft_dec_path(d, sp, "ipBlocks"), check_cidr, &s->ip_blocks) < 0 ||
	    dec_strs(d, g[S_NIP], weft_dec_path(d, sp, "notIpBlocks"), check_cidr, &s->not_ip_blocks) < 0)
		rc = -1;
	return rc;
}

/* Decodes one to[] entry. Returns 0 or -1. */
static int dec_operation(weft_dec_t *d, const weft_yaml_node_t *n, const char *path, weft_authz_operation_t *o)
{
	const weft_yaml_node_t *tg[1], *g[WEFT_NFIELDS(operation_fields)];
	const char *op = weft_dec_path(d, path, "operation");
	int rc;

	o->loc = weft_dec_loc(d, n);
	if (weft_dec_map(d, n, path, to_fields, 1, NULL, tg) < 0 || !tg[0])
		return -1;
	rc = weft_dec_map(d, tg[0], op, operation_fields, WEFT_NFIELDS(operation_fields), NULL, g);
	if (dec_ports(d, g[O_PORTS], weft_dec_path(d, op, "ports"), &o->nports, &o->ports) < 0 ||
	    dec_ports(d, g[O_NPORTS], weft_dec_path(d, op, "notPorts"), &o->nnot_ports, &o->not_ports) < 0)
		rc = -1;
	if (dec_strs(d, g[O_HOSTS], weft_dec_path(d, op, "hosts"), check_wildcard, &o->hosts) < 0 ||
	    dec_strs(d, g[O_NHOSTS], weft_dec_path(d, op, "notHosts"), check_wildcard, &o->not_hosts) < 0 ||
	    dec_strs(d, g[O_METHODS], weft_dec_path(d, op, "methods"), check_wildcard, &o->methods) < 0 ||
	    dec_strs(d, g[O_NMETHODS], weft_dec_path(d, op, "notMethods"), check_wildcard, &o->not_methods) < 0 ||
	    dec_strs(d, g[O_PATHS], weft_dec_path(d, op, "paths"), check_wildcard, &o->paths) < 0 ||
	    dec_strs(d, g[O_NPATHS], weft_dec_path(d, op, "notPaths"), check_wildcard, &o->not_paths) < 0)
		rc = -1;
	o->has_l7 = o->hosts.n || o->not_hosts.n || o->methods.n || o->not_methods.n || o->paths.n ||
		    o->not_paths.n;
	return rc;
}

/* Decodes one when[] entry. Returns 0 or -1. */
static int dec_when(weft_dec_t *d, const weft_yaml_node_t *n, const char *path, weft_authz_condition_t *c)
{
	const weft_yaml_node_t *g[WEFT_NFIELDS(when_fields)];
	int rc;

	c->loc = weft_dec_loc(d, n);
	rc = weft_dec_map(d, n, path, when_fields, WEFT_NFIELDS(when_fields), c, g);
	if (dec_strs(d, g[W_VALUES], weft_dec_path(d, path, "values"), NULL, &c->values) < 0 ||
	    dec_strs(d, g[W_NVALUES], weft_dec_path(d, path, "notValues"), NULL, &c->not_values) < 0)
		rc = -1;
	if (rc == 0 && !c->values.n && !c->not_values.n) {
		weft_dec_err(d, n->line, path, "values or notValues is required");
		rc = -1;
	}
	return rc;
}

/* Decodes one rules[] entry. Returns 0 or -1. */
static int dec_rule(weft_dec_t *d, const weft_yaml_node_t *n, const char *path, weft_authz_rule_t *r)
{
	const weft_yaml_node_t *g[WEFT_NFIELDS(rule_fields)];
	bool failed = false;
	int rc;

	r->loc = weft_dec_loc(d, n);
	rc = weft_dec_map(d, n, path, rule_fields, WEFT_NFIELDS(rule_fields), NULL, g);
	if (g[R_FROM]) {
		const char *fp = weft_dec_path(d, path, "from");
		r->from = weft_dec_array(d, g[R_FROM]->n, sizeof(*r->from), &failed);
		if (failed)
			return -1;
		for (size_t i = 0; i < g[R_FROM]->n; i++)
			if (dec_source(d, g[R_FROM]->vals[i], weft_dec_idx(d, fp, i), &r->from[r->nfrom++]) < 0)
				rc = -1;
	}
	if (g[R_TO]) {
		const char *tp = weft_dec_path(d, path, "to");
		r->to = weft_dec_array(d, g[R_TO]->n, sizeof(*r->to), &failed);
		if (failed)
			return -1;
		for (size_t i = 0; i < g[R_TO]->n; i++)
			if (dec_operation(d, g[R_TO]->vals[i], weft_dec_idx(d, tp, i), &r->to[r->nto++]) < 0)
				rc = -1;
	}
	if (g[R_WHEN]) {
		const char *wp = weft_dec_path(d, path, "when");
		r->when = weft_dec_array(d, g[R_WHEN]->n, sizeof(*r->when), &failed);
		if (failed)
			return -1;
		for (size_t i = 0; i < g[R_WHEN]->n; i++)
			if (dec_when(d, g[R_WHEN]->vals[i], weft_dec_idx(d, wp, i), &r->when[r->nwhen++]) < 0)
				rc = -1;
	}
	return rc;
}

/* Decodes spec.selector ({matchLabels: {...}}) into out; shared with
 * PeerAuthentication. Returns 0 or -1. */
int weft_dec_match_labels(weft_dec_t *d, const weft_yaml_node_t *n, weft_labels_t *out)
{
	const weft_yaml_node_t *g[1];

	if (weft_dec_map(d, n, "spec.selector", selector_fields, 1, NULL, g) < 0)
		return -1;
	return weft_dec_labels(d, g[0], "spec.selector.matchLabels", out);
}

/* Decodes an AuthorizationPolicy's spec into obj (a weft_authz_policy_t).
 * Returns 0 or -1 (errors added). */
static int authz_decode(weft_dec_t *d, const weft_yaml_node_t *spec, void *obj)
{
	az_t *p = obj;
	const weft_yaml_node_t *g[WEFT_NFIELDS(authz_fields)];
	bool failed = false;
	int rc;

	p->action = WEFT_AUTHZ_ALLOW;
	rc = weft_dec_map(d, spec, "spec", authz_fields, WEFT_NFIELDS(authz_fields), p, g);
	if (g[A_ACTION] && (int)p->action == -1) {
		weft_dec_err(d, g[A_ACTION]->line, "spec.action", "CUSTOM is not supported by weft (no external "
			     "authorization providers): use ALLOW, DENY or AUDIT");
		rc = -1;
	}
	if (g[A_PROVIDER]) {
		weft_dec_err(d, g[A_PROVIDER]->line, "spec.provider", "not supported by weft (only with action CUSTOM)");
		rc = -1;
	}
	if (g[A_SELECTOR] && weft_dec_match_labels(d, g[A_SELECTOR], &p->selector) < 0)
		rc = -1;
	if (g[A_RULES]) {
		p->rules = weft_dec_array(d, g[A_RULES]->n, sizeof(*p->rules), &failed);
		if (failed)
			return -1;
		for (size_t i = 0; i < g[A_RULES]->n; i++)
			if (dec_rule(d, g[A_RULES]->vals[i], weft_dec_idx(d, "spec.rules", i), &p->rules[p->nrules++]) < 0)
				rc = -1;
	}
	return rc;
}

static const weft_kind_t kind_authz = {
	.api_version = "security.istio.io/v1",
	.api_version_alt = "weft.dev/v1alpha1",
	.name = "AuthorizationPolicy",
	.namespaced = true,
	.obj_size = sizeof(az_t),
	.count_off = offsetof(weft_model_t, nauthz),
	.array_off = offsetof(weft_model_t, authz),
	.decode = authz_decode,
	.resolve = NULL,
	.phase = 50,
};
WEFT_REGISTER(weft_kinds, kind_authz);
