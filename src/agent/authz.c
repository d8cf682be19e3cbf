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
 * policy and always matches in a DENY policy: at L4 we fail closed. */
#include <string.h>
#include "weft/agentview.h"

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

static bool rule_match(const weft_av_rule_t *r, weft_authz_action_t action,
		       const weft_authz_input_t *in)
{
	bool ok;

	if (rule_names_l7(r))
		return action == WEFT_AUTHZ_DENY;
	ok = r->nfrom == 0;
	for (size_t i = 0; !ok && i < r->nfrom; i++)
		ok = source_match(&r->from[i], in);
	if (!ok)
		return false;
	ok = r->nto == 0;
	for (size_t i = 0; !ok && i < r->nto; i++)
		ok = op_match(&r->to[i], in);
	return ok;
}

static bool policy_match(const weft_av_authz_t *p, const weft_authz_input_t *in)
{
	for (size_t i = 0; i < p->nrules; i++)
		if (rule_match(&p->rules[i], p->action, in))
			return true;
	return false;
}

void weft_authz_eval(const weft_av_workload_t *w, const weft_authz_input_t *in,
		     weft_authz_result_t *out)
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
		if (p->action == WEFT_AUTHZ_AUDIT && policy_match(p, in))
			out->audit = true;
	}
	for (size_t i = 0; i < w->npolicies; i++) {
		const weft_av_authz_t *p = w->policies[i];
		if (p->action == WEFT_AUTHZ_DENY && policy_match(p, in)) {
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
		if (policy_match(p, in))
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
