/* weft — L4 authorization with Istio's AuthorizationPolicy semantics.
 *
 *   1. any matching DENY policy denies;
 *   2. no ALLOW policy on the workload: allowed;
 *   3. otherwise some ALLOW policy must match.
 * AUDIT policies only mark the result. A policy matches when one of its
 * rules does (no rules: never). A rule matches when one of its sources
 * matches (or it has none) and one of its operations does (or it has
 * none). Within a source every field that is set must match. A rule that
 * names L7 attributes (or could not be read) never matches in an ALLOW
 * policy and always matches in a DENY policy: at L4 we fail closed.
 *
 * weft_authz_eval_l7 is the same walk with the request's L7 attributes:
 * operations' hosts/methods/paths and the rule's when: conditions are
 * evaluated. What cannot be evaluated (request.auth.*, an unknown key, a
 * rule whose L7 parts the view did not carry, an unreadable rule) makes
 * the condition fail closed: false in ALLOW/AUDIT, true in DENY. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "weft/agentview.h"
#include "weft/l7.h"
#include "weft/str.h"

/* Istio's string match: exact, "*" (any non-empty value), "prefix*",
 * "*suffix". */
static bool str_match(const char *pat, const char *v)
{
	size_t pl = strlen(pat), vl = strlen(v);

	if (pl == 1 && pat[0] == '*')
		return vl > 0;
	if (pl > 1 && pat[pl - 1] == '*')
		return vl >= pl - 1 && !memcmp(v, pat, pl - 1);
	if (pl > 1 && pat[0] == '*')
		return vl >= pl - 1 && !memcmp(v + vl - (pl - 1), pat + 1, pl - 1);
	return pl == vl && !memcmp(pat, v, pl);
}

static bool any_match(const weft_av_strs_t *s, const char *v)
{
	for (size_t i = 0; i < s->n; i++)
		if (str_match(s->v[i], v))
			return true;
	return false;
}

static bool cidr_match(const weft_av_cidr_t *c, const weft_ip_t *ip)
{
	const uint8_t *a, *b;
	unsigned bits = c->bits, full, rest;

	if (c->ip.v4 != ip->v4)
		return false;
	a = c->ip.v4 ? c->ip.a6 + 12 : c->ip.a6;
	b = ip->v4 ? ip->a6 + 12 : ip->a6;
	full = bits / 8;
	rest = bits % 8;
	if (memcmp(a, b, full))
		return false;
	if (rest) {
		uint8_t mask = (uint8_t)(0xffu << (8 - rest));
		if ((a[full] & mask) != (b[full] & mask))
			return false;
	}
	return true;
}

static bool any_cidr(const weft_av_cidr_t *v, size_t n, const weft_ip_t *ip)
{
	for (size_t i = 0; i < n; i++)
		if (cidr_match(&v[i], ip))
			return true;
	return false;
}

static bool source_match(const weft_av_source_t *s, const weft_authz_input_t *in)
{
	if (s->principals.n && (!in->principal || !any_match(&s->principals, in->principal)))
		return false;
	/* a "not" match on an absent value does not match (Istio) */
	if (s->not_principals.n && (!in->principal || any_match(&s->not_principals, in->principal)))
		return false;
	if (s->namespaces.n && (!in->ns || !any_match(&s->namespaces, in->ns)))
		return false;
	if (s->not_namespaces.n && (!in->ns || any_match(&s->not_namespaces, in->ns)))
		return false;
	if (s->nip && !any_cidr(s->ip, s->nip, &in->src))
		return false;
	if (s->nnot_ip && any_cidr(s->not_ip, s->nnot_ip, &in->src))
		return false;
	return true;
}

static bool port_in(const uint16_t *v, size_t n, uint16_t p)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] == p)
			return true;
	return false;
}

static bool op_match(const weft_av_operation_t *o, const weft_authz_input_t *in)
{
	if (o->nports && !port_in(o->ports, o->nports, in->dst_port))
		return false;
	if (o->nnot_ports && port_in(o->not_ports, o->nnot_ports, in->dst_port))
		return false;
	return true;
}

static bool rule_names_l7(const weft_av_rule_t *r)
{
	if (r->has_l7_when || r->invalid)
		return true;
	for (size_t i = 0; i < r->nto; i++)
		if (r->to[i].has_l7)
			return true;
	return false;
}

/* ---- L7 attributes ---- */

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static bool mem_eq(const char *a, const char *b, size_t n, bool ci)
{
	if (n == 0)
		return true;
	if (!ci)
		return !memcmp(a, b, n);
	for (size_t i = 0; i < n; i++)
		if (lower(a[i]) != lower(b[i]))
			return false;
	return true;
}

/* str_match on a (ptr, len) value; ci: ASCII case-insensitive. */
static bool str_match_n(const char *pat, weft_str_t v, bool ci)
{
	size_t pl = strlen(pat), vl = v.len;

	if (pl == 1 && pat[0] == '*')
		return vl > 0;
	if (pl > 1 && pat[pl - 1] == '*')
		return vl >= pl - 1 && mem_eq(v.p, pat, pl - 1, ci);
	if (pl > 1 && pat[0] == '*')
		return vl >= pl - 1 && mem_eq(v.p + vl - (pl - 1), pat + 1, pl - 1, ci);
	return pl == vl && mem_eq(pat, v.p, pl, ci);
}

static bool any_match_n(const weft_av_strs_t *s, weft_str_t v, bool ci)
{
	for (size_t i = 0; i < s->n; i++)
		if (str_match_n(s->v[i], v, ci))
			return true;
	return false;
}

/* The authority without its port ("[v6]:p" -> "[v6]", "h:p" -> "h"). */
static weft_str_t host_only(weft_str_t a)
{
	size_t i = a.len;

	while (i > 0 && a.p[i - 1] >= '0' && a.p[i - 1] <= '9')
		i--;
	if (i > 0 && i < a.len && a.p[i - 1] == ':') {
		weft_str_t h = weft_str(a.p, i - 1);
		/* "::1" style bare IPv6 has no port: only strip after ']' or
		 * when the rest holds no other ':' */
		if (h.len && (h.p[h.len - 1] == ']' || !memchr(h.p, ':', h.len)))
			return h;
	}
	return a;
}

/* A host pattern list against the authority, with and without its port. */
static bool hosts_match(const weft_av_strs_t *s, weft_str_t authority)
{
	weft_str_t h = host_only(authority);

	return any_match_n(s, authority, true) || (h.len != authority.len && any_match_n(s, h, true));
}

static bool op_match_l7(const weft_av_operation_t *o, const weft_authz_l7_t *req)
{
	const weft_http_head_t *h = req->h;

	if (o->hosts.n && !hosts_match(&o->hosts, h->authority))
		return false;
	if (o->not_hosts.n && hosts_match(&o->not_hosts, h->authority))
		return false;
	if (o->methods.n && !any_match_n(&o->methods, h->method, false))
		return false;
	if (o->not_methods.n && any_match_n(&o->not_methods, h->method, false))
		return false;
	if (o->paths.n && !any_match_n(&o->paths, req->path, false))
		return false;
	if (o->not_paths.n && any_match_n(&o->not_paths, req->path, false))
		return false;
	return true;
}

/* A condition's outcome: false, true, or "cannot evaluate". */
enum { C_NO = 0, C_YES = 1, C_UNSUP = 2 };

/* Header condition: every value of a repeated field is looked at. ALLOW
 * (and AUDIT): some value must match values, and no value may match
 * not_values. DENY: some value matches values, and (absent or) some value
 * matches no not_value — so a benign extra value never hides one. */
static int when_header(const weft_av_when_t *c, weft_str_t name, const weft_http_head_t *h,
		       bool deny)
{
	bool any_val = false, any_not = false, any_outside_not = false, present = false;

	for (size_t i = 0; i < h->nhdrs; i++) {
		const weft_hdr_t *f = &h->hdrs[i];
		if (f->name.len != name.len || !mem_eq(f->name.p, name.p, name.len, true))
			continue;
		present = true;
		if (c->values.n && any_match_n(&c->values, f->value, false))
			any_val = true;
		if (c->not_values.n) {
			if (any_match_n(&c->not_values, f->value, false))
				any_not = true;
			else
				any_outside_not = true;
		}
	}
	if (c->values.n && !any_val)
		return C_NO;
	if (c->not_values.n) {
		if (deny)
			return !present || any_outside_not ? C_YES : C_NO;
		if (any_not)
			return C_NO;
	}
	return C_YES;
}

/* A when value list holding IPs or CIDRs. Returns true when ip is in one;
 * *bad set when a value cannot be read. */
static bool ip_in_list(const weft_av_strs_t *s, const weft_ip_t *ip, bool *bad)
{
	for (size_t i = 0; i < s->n; i++) {
		const char *v = s->v[i], *slash = strchr(v, '/');
		weft_av_cidr_t c = { .bits = 0 };
		size_t len = slash ? (size_t)(slash - v) : strlen(v);
		if (weft_ip_parse(v, len, &c.ip) != WEFT_OK) {
			*bad = true;
			continue;
		}
		unsigned max = c.ip.v4 ? 32 : 128;
		unsigned long bits = max;
		if (slash) {
			char *end;
			bits = strtoul(slash + 1, &end, 10);
			if (!slash[1] || *end || bits > max) {
				*bad = true;
				continue;
			}
		}
		c.bits = (uint8_t)bits;
		if (cidr_match(&c, ip))
			return true;
	}
	return false;
}

/* A plain-string condition on v (NULL: absent, which matches nothing,
 * "not" lists included). */
static int when_str(const weft_av_when_t *c, const char *v)
{
	if (!v)
		return C_NO;
	if (c->values.n && !any_match(&c->values, v))
		return C_NO;
	if (c->not_values.n && any_match(&c->not_values, v))
		return C_NO;
	return C_YES;
}

static int when_eval(const weft_av_when_t *c, const weft_authz_input_t *in,
		     const weft_authz_l7_t *req, bool deny)
{
	static const char hp[] = "request.headers[";
	const char *k = c->key ? c->key : "";
	size_t kl = strlen(k);

	if (!c->values.n && !c->not_values.n)
		return C_UNSUP;
	if (kl > sizeof(hp) && !strncmp(k, hp, sizeof(hp) - 1) && k[kl - 1] == ']')
		return when_header(c, weft_str(k + sizeof(hp) - 1, kl - sizeof(hp)), req->h, deny);
	if (!strcmp(k, "source.principal"))
		return when_str(c, in->principal);
	if (!strcmp(k, "source.namespace"))
		return when_str(c, in->ns);
	if (!strcmp(k, "destination.port")) {
		char port[8];
		snprintf(port, sizeof(port), "%u", in->dst_port);
		return when_str(c, port);
	}
	if (!strcmp(k, "source.ip")) {
		bool bad = false;
		bool yes = (!c->values.n || ip_in_list(&c->values, &in->src, &bad)) &&
			   !(c->not_values.n && ip_in_list(&c->not_values, &in->src, &bad));
		if (bad)
			return C_UNSUP;
		return yes ? C_YES : C_NO;
	}
	return C_UNSUP;   /* request.auth.*, anything else */
}

/* The rule's operations and conditions at L7. */
static bool rule_match_l7(const weft_av_rule_t *r, weft_authz_action_t action,
			  const weft_authz_input_t *in, const weft_authz_l7_t *req)
{
	bool deny = action == WEFT_AUTHZ_DENY, ok;

	ok = r->nto == 0;
	for (size_t i = 0; !ok && i < r->nto; i++) {
		const weft_av_operation_t *o = &r->to[i];
		if (!op_match(o, in))
			continue;
		if (!o->has_l7) {
			ok = true;
		} else if (!o->hosts.n && !o->not_hosts.n && !o->methods.n && !o->not_methods.n &&
			   !o->paths.n && !o->not_paths.n) {
			ok = deny;   /* L7 named but not carried: fail closed */
		} else {
			ok = op_match_l7(o, req);
		}
	}
	if (!ok)
		return false;
	if (r->has_l7_when && r->nwhen == 0)
		return deny;
	for (size_t i = 0; i < r->nwhen; i++) {
		int c = when_eval(&r->when[i], in, req, deny);
		if (c == C_UNSUP ? !deny : c == C_NO)
			return false;
	}
	return true;
}

/* req NULL: L4 (L7 parts fail closed). */
static bool rule_match(const weft_av_rule_t *r, weft_authz_action_t action,
		       const weft_authz_input_t *in, const weft_authz_l7_t *req)
{
	bool ok;

	if (r->invalid || (!req && rule_names_l7(r)))
		return action == WEFT_AUTHZ_DENY;
	ok = r->nfrom == 0;
	for (size_t i = 0; !ok && i < r->nfrom; i++)
		ok = source_match(&r->from[i], in);
	if (!ok)
		return false;
	if (req)
		return rule_match_l7(r, action, in, req);
	ok = r->nto == 0;
	for (size_t i = 0; !ok && i < r->nto; i++)
		ok = op_match(&r->to[i], in);
	return ok;
}

static bool policy_match(const weft_av_authz_t *p, const weft_authz_input_t *in,
			 const weft_authz_l7_t *req)
{
	for (size_t i = 0; i < p->nrules; i++)
		if (rule_match(&p->rules[i], p->action, in, req))
			return true;
	return false;
}

static void eval(const weft_av_workload_t *w, const weft_authz_input_t *in,
		 const weft_authz_l7_t *req, weft_authz_result_t *out)
{
	const weft_av_authz_t *allow = NULL;
	bool have_allow = false;

	memset(out, 0, sizeof(*out));
	if (!w) {
		out->allow = true;
		out->reason = "allowed (no workload)";
		return;
	}
	for (size_t i = 0; i < w->npolicies; i++) {
		const weft_av_authz_t *p = w->policies[i];
		if (p->action == WEFT_AUTHZ_AUDIT && policy_match(p, in, req))
			out->audit = true;
	}
	for (size_t i = 0; i < w->npolicies; i++) {
		const weft_av_authz_t *p = w->policies[i];
		if (p->action == WEFT_AUTHZ_DENY && policy_match(p, in, req)) {
			out->allow = false;
			out->policy = p;
			out->reason = p->why_deny ? p->why_deny : "denied by policy";
			return;
		}
	}
	for (size_t i = 0; i < w->npolicies && !allow; i++) {
		const weft_av_authz_t *p = w->policies[i];
		if (p->action != WEFT_AUTHZ_ALLOW)
			continue;
		have_allow = true;
		if (policy_match(p, in, req))
			allow = p;
	}
	if (!have_allow) {
		out->allow = true;
		out->reason = "allowed (no allow policy)";
	} else if (allow) {
		out->allow = true;
		out->policy = allow;
		out->reason = allow->why_allow ? allow->why_allow : "allowed by policy";
	} else {
		out->allow = false;
		out->reason = "no allow policy matched";
	}
}

void weft_authz_eval(const weft_av_workload_t *w, const weft_authz_input_t *in,
		     weft_authz_result_t *out)
{
	eval(w, in, NULL, out);
}

void weft_authz_eval_l7(const weft_av_workload_t *w, const weft_authz_input_t *in,
			const weft_authz_l7_t *req, weft_authz_result_t *out)
{
	eval(w, in, req, out);
}
