/* weft — what HTTPRoute and GRPCRoute share: parentRefs, backendRefs,
 * filters, timeouts, header matches, and whole-set route resolution
 * (references, conflicting rules, service -> routes). */
#include <stdlib.h>
#include <string.h>
#include "weft/arena.h"
#include "weft/buf.h"
#include "weft/config.h"
#include "weft/str.h"
#include "route_common.h"

static const char *kind_name(weft_route_kind_t k)
{
	return k == WEFT_ROUTE_GRPC ? "GRPCRoute" : "HTTPRoute";
}

int weft_route_check_regex(weft_dec_t *d, weft_str_t re, unsigned line, const char *path)
{
	char why[256];

	if (weft_regex_check(re, why, sizeof(why)) == 0)
		return 0;
	weft_dec_err(d, line, path, "%s", why);
	return -1;
}

/* ---- references ---- */

typedef struct ref_fields_out {
	weft_str_t kind, group, name, ns;
	uint16_t port;
	uint32_t weight;
} ref_t;

enum { R_KIND, R_GROUP, R_NAME, R_NS, R_PORT, R_WEIGHT };
static const weft_field_t parent_fields[] = {
	[R_KIND] = WF("kind", WEFT_F_STR, 0, ref_t, kind),
	[R_GROUP] = WF("group", WEFT_F_STR, 0, ref_t, group),
	[R_NAME] = WF("name", WEFT_F_NAME, WEFT_FF_REQUIRED, ref_t, name),
	[R_NS] = WF("namespace", WEFT_F_NAME, 0, ref_t, ns),
	[R_PORT] = WF_UINT("port", 0, 1, 65535, ref_t, port),
};
static const weft_field_t backend_fields[] = {
	[R_KIND] = WF("kind", WEFT_F_STR, 0, ref_t, kind),
	[R_GROUP] = WF("group", WEFT_F_STR, 0, ref_t, group),
	[R_NAME] = WF("name", WEFT_F_NAME, WEFT_FF_REQUIRED, ref_t, name),
	[R_NS] = WF("namespace", WEFT_F_NAME, 0, ref_t, ns),
	[R_PORT] = WF_UINT("port", WEFT_FF_REQUIRED, 1, 65535, ref_t, port),
	[R_WEIGHT] = WF_UINT("weight", 0, 0, 1000000, ref_t, weight),
};

/* Decodes a reference to a Service (parentRef when backend is false, or
 * backendRef). Returns 0 or -1. */
static int dec_ref(weft_dec_t *d, const weft_yaml_node_t *n, const char *path, bool backend, ref_t *r)
{
	const weft_field_t *f = backend ? backend_fields : parent_fields;
	size_t nf = backend ? WEFT_NFIELDS(backend_fields) : WEFT_NFIELDS(parent_fields);
	const weft_yaml_node_t *got[WEFT_NFIELDS(backend_fields)];
	int rc;

	memset(r, 0, sizeof(*r));
	r->weight = 1;
	rc = weft_dec_map(d, n, path, f, nf, r, got);
	if (got[R_KIND] && !weft_str_eq_c(r->kind, "Service")) {
		weft_dec_err(d, got[R_KIND]->line, weft_dec_path(d, path, "kind"),
			     "only kind Service is supported, not \"%s\"", r->kind.p);
		rc = -1;
	}
	if (got[R_GROUP] && r->group.len && !weft_str_eq_c(r->group, "core")) {
		weft_dec_err(d, got[R_GROUP]->line, weft_dec_path(d, path, "group"),
			     "group must be \"\" or \"core\" (Service), not \"%s\"", r->group.p);
		rc = -1;
	}
	if (!r->ns.len)
		r->ns = d->ns;
	return rc;
}

static int dec_backend(weft_dec_t *d, const weft_yaml_node_t *n, const char *path, weft_backend_ref_t *b)
{
	ref_t r;
	int rc = dec_ref(d, n, path, true, &r);

	b->name = r.name;
	b->ns = r.ns;
	b->port = r.port;
	b->weight = r.weight;
	b->loc = weft_dec_loc(d, n);
	return rc;
}

/* ---- filters ---- */

static bool header_name_ok(weft_str_t s)
{
	if (!s.len || s.len > 256)
		return false;
	for (size_t i = 0; i < s.len; i++) {
		char c = s.p[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      strchr("!#$%&'*+-.^_`|~", c)) || c == '\0')
			return false;
	}
	return true;
}

static const weft_field_t kv_fields[] = {
	WF("name", WEFT_F_STR, WEFT_FF_REQUIRED, weft_kv_t, key),
	WF("value", WEFT_F_STR, 0, weft_kv_t, value),
};

/* Decodes a list of {name, value} header settings. Returns 0 or -1. */
static int dec_kv_list(weft_dec_t *d, const weft_yaml_node_t *seq, const char *path, weft_kv_t **out, size_t *n)
{
	bool failed = false;
	int rc = 0;

	*out = weft_dec_array(d, seq->n, sizeof(**out), &failed);
	if (failed)
		return -1;
	for (size_t i = 0; i < seq->n; i++) {
		const char *p = weft_dec_idx(d, path, i);
		const weft_yaml_node_t *got[2];
		weft_kv_t kv = { { 0 }, { 0 } };

		if (weft_dec_map(d, seq->vals[i], p, kv_fields, 2, &kv, got) < 0) {
			rc = -1;
			continue;
		}
		if (!header_name_ok(kv.key)) {
			weft_dec_err(d, got[0]->line, weft_dec_path(d, p, "name"), "invalid header name \"%s\"", kv.key.p);
			rc = -1;
			continue;
		}
		for (size_t j = 0; j < *n; j++)
			if (weft_str_ieq((*out)[j].key, kv.key)) {
				weft_dec_err(d, got[0]->line, weft_dec_path(d, p, "name"),
					     "header \"%s\" is listed twice", kv.key.p);
				rc = -1;
			}
		if (!kv.value.p)
			kv.value = WEFT_STR_LIT("");
		(*out)[(*n)++] = kv;
	}
	return rc;
}

enum { HM_SET, HM_ADD, HM_REMOVE };
static const weft_field_t hdrmod_fields[] = {
	[HM_SET] = WF_NODE("set", WEFT_F_SEQ, 0),
	[HM_ADD] = WF_NODE("add", WEFT_F_SEQ, 0),
	[HM_REMOVE] = WF_NODE("remove", WEFT_F_SEQ, 0),
};

static int dec_hdrmod(weft_dec_t *d, const weft_yaml_node_t *n, const char *path, weft_header_mod_t *h)
{
	const weft_yaml_node_t *got[3];
	bool failed = false;
	int rc = weft_dec_map(d, n, path, hdrmod_fields, 3, NULL, got);

	if (got[HM_SET] && dec_kv_list(d, got[HM_SET], weft_dec_path(d, path, "set"), &h->set, &h->nset) < 0)
		rc = -1;
	if (got[HM_ADD] && dec_kv_list(d, got[HM_ADD], weft_dec_path(d, path, "add"), &h->add, &h->nadd) < 0)
		rc = -1;
	if (got[HM_REMOVE]) {
		const weft_yaml_node_t *s = got[HM_REMOVE];
		h->remove = weft_dec_array(d, s->n, sizeof(*h->remove), &failed);
		if (failed)
			return -1;
		for (size_t i = 0; i < s->n; i++) {
			const char *p = weft_dec_idx(d, weft_dec_path(d, path, "remove"), i);
			weft_str_t v = { 0 };
			if (weft_dec_str(d, s->vals[i], p, true, &v) < 0) {
				rc = -1;
			} else if (!header_name_ok(v)) {
				weft_dec_err(d, s->vals[i]->line, p, "invalid header name \"%s\"", v.p);
				rc = -1;
			} else {
				h->remove[h->nremove++] = v;
			}
		}
	}
	return rc;
}

static const weft_enum_t path_mods[] = {
	{ "ReplaceFullPath", WEFT_PATH_MOD_FULL }, { "ReplacePrefixMatch", WEFT_PATH_MOD_PREFIX }, { NULL, 0 },
};

typedef struct pathmod {
	weft_path_mod_t type;
	weft_str_t full, prefix;
} pathmod_t;

enum { PM_TYPE, PM_FULL, PM_PREFIX };
static const weft_field_t pathmod_fields[] = {
	[PM_TYPE] = WF_ENUM("type", WEFT_FF_REQUIRED, path_mods, pathmod_t, type),
	[PM_FULL] = WF("replaceFullPath", WEFT_F_STR, 0, pathmod_t, full),
	[PM_PREFIX] = WF("replacePrefixMatch", WEFT_F_STR, 0, pathmod_t, prefix),
};

/* Decodes {type, replaceFullPath | replacePrefixMatch}. Returns 0 or -1. */
static int dec_pathmod(weft_dec_t *d, const weft_yaml_node_t *n, const char *path,
		       weft_path_mod_t *mod, weft_str_t *value)
{
	pathmod_t pm = { 0 };
	const weft_yaml_node_t *got[3];
	int rc = weft_dec_map(d, n, path, pathmod_fields, 3, &pm, got);
	const weft_yaml_node_t *want, *other;
	const char *wname, *oname;

	if (rc < 0)
		return -1;
	if (pm.type == WEFT_PATH_MOD_FULL) {
		want = got[PM_FULL], other = got[PM_PREFIX];
		wname = "replaceFullPath", oname = "replacePrefixMatch";
		*value = pm.full;
	} else {
		want = got[PM_PREFIX], other = got[PM_FULL];
		wname = "replacePrefixMatch", oname = "replaceFullPath";
		*value = pm.prefix;
	}
	*mod = pm.type;
	if (!want) {
		weft_dec_err(d, n->line, weft_dec_path(d, path, wname), "required when type is %s",
			     pm.type == WEFT_PATH_MOD_FULL ? "ReplaceFullPath" : "ReplacePrefixMatch");
		return -1;
	}
	if (other) {
		weft_dec_err(d, other->line, weft_dec_path(d, path, oname), "not allowed when type is %s",
			     pm.type == WEFT_PATH_MOD_FULL ? "ReplaceFullPath" : "ReplacePrefixMatch");
		return -1;
	}
	if (value->len == 0 || value->p[0] != '/') {
		weft_dec_err(d, want->line, weft_dec_path(d, path, wname), "must start with '/'");
		return -1;
	}
	return 0;
}

enum { MI_BACKEND, MI_PERCENT };
static const weft_field_t mirror_fields[] = {
	[MI_BACKEND] = WF_NODE("backendRef", WEFT_F_MAP, WEFT_FF_REQUIRED),
	[MI_PERCENT] = WF("percent", WEFT_F_PERCENT, 0, weft_filter_t, mirror.percent_ppm),
};

enum { RW_HOST, RW_PATH };
static const weft_field_t rewrite_fields[] = {
	[RW_HOST] = WF("hostname", WEFT_F_HOST, 0, weft_filter_t, rewrite.hostname),
	[RW_PATH] = WF_NODE("path", WEFT_F_MAP, 0),
};

static const weft_enum_t schemes[] = { { "http", 0 }, { "https", 1 }, { NULL, 0 } };

enum { RD_SCHEME, RD_HOST, RD_PATH, RD_PORT, RD_STATUS };
static const weft_field_t redirect_fields[] = {
	[RD_SCHEME] = WF("scheme", WEFT_F_STR, 0, weft_filter_t, redirect.scheme),
	[RD_HOST] = WF("hostname", WEFT_F_HOST, 0, weft_filter_t, redirect.hostname),
	[RD_PATH] = WF_NODE("path", WEFT_F_MAP, 0),
	[RD_PORT] = WF_UINT("port", 0, 1, 65535, weft_filter_t, redirect.port),
	[RD_STATUS] = WF_UINT("statusCode", 0, 0, 65535, weft_filter_t, redirect.status),
};

static const weft_enum_t filter_types[] = {
	{ "RequestHeaderModifier", WEFT_FILTER_REQUEST_HEADER },
	{ "ResponseHeaderModifier", WEFT_FILTER_RESPONSE_HEADER },
	{ "RequestMirror", WEFT_FILTER_MIRROR },
	{ "URLRewrite", WEFT_FILTER_URL_REWRITE },
	{ "RequestRedirect", WEFT_FILTER_REDIRECT },
	{ NULL, 0 },
};

/* the config field of each filter type, indexed by weft_filter_type_t + 1 */
enum { F_TYPE, F_REQH, F_RESPH, F_MIRROR, F_REWRITE, F_REDIRECT };
static const weft_field_t filter_fields[] = {
	[F_TYPE] = WF_ENUM("type", WEFT_FF_REQUIRED, filter_types, weft_filter_t, type),
	[F_REQH] = WF_NODE("requestHeaderModifier", WEFT_F_MAP, 0),
	[F_RESPH] = WF_NODE("responseHeaderModifier", WEFT_F_MAP, 0),
	[F_MIRROR] = WF_NODE("requestMirror", WEFT_F_MAP, 0),
	[F_REWRITE] = WF_NODE("urlRewrite", WEFT_F_MAP, 0),
	[F_REDIRECT] = WF_NODE("requestRedirect", WEFT_F_MAP, 0),
};

/* Decodes one filter. Returns 0 or -1. */
static int dec_filter(weft_dec_t *d, const weft_yaml_node_t *n, const char *path, weft_route_kind_t kind,
		      weft_filter_t *f)
{
	const weft_yaml_node_t *got[WEFT_NFIELDS(filter_fields)], *cfg;
	const char *cname, *cpath;
	int rc;
	size_t want;

	f->loc = weft_dec_loc(d, n);
	f->mirror.percent_ppm = WEFT_PPM_ALL;
	f->redirect.status = 301;
	rc = weft_dec_map(d, n, path, filter_fields, WEFT_NFIELDS(filter_fields), f, got);
	if (!got[F_TYPE])
		return -1;
	if (kind == WEFT_ROUTE_GRPC && (f->type == WEFT_FILTER_URL_REWRITE || f->type == WEFT_FILTER_REDIRECT)) {
		weft_dec_err(d, got[F_TYPE]->line, weft_dec_path(d, path, "type"),
			     "%s is only supported in HTTPRoute", got[F_TYPE]->str.p);
		return -1;
	}
	want = (size_t)f->type + 1;
	for (size_t i = F_REQH; i <= F_REDIRECT; i++) {
		if (i != want && got[i]) {
			weft_dec_err(d, got[i]->line, weft_dec_path(d, path, filter_fields[i].name),
				     "not allowed when type is %s", got[F_TYPE]->str.p);
			rc = -1;
		}
	}
	cfg = got[want];
	cname = filter_fields[want].name;
	cpath = weft_dec_path(d, path, cname);
	if (!cfg) {
		weft_dec_err(d, n->line, cpath, "required when type is %s", got[F_TYPE]->str.p);
		return -1;
	}
	switch (f->type) {
	case WEFT_FILTER_REQUEST_HEADER:
	case WEFT_FILTER_RESPONSE_HEADER:
		if (dec_hdrmod(d, cfg, cpath, &f->headers) < 0)
			rc = -1;
		break;
	case WEFT_FILTER_MIRROR: {
		const weft_yaml_node_t *mg[2];
		if (weft_dec_map(d, cfg, cpath, mirror_fields, 2, f, mg) < 0)
			rc = -1;
		if (mg[MI_BACKEND] && dec_backend(d, mg[MI_BACKEND], weft_dec_path(d, cpath, "backendRef"),
						  &f->mirror.backend) < 0)
			rc = -1;
		break;
	}
	case WEFT_FILTER_URL_REWRITE: {
		const weft_yaml_node_t *rg[2];
		if (weft_dec_map(d, cfg, cpath, rewrite_fields, 2, f, rg) < 0)
			rc = -1;
		if (rg[RW_PATH] && dec_pathmod(d, rg[RW_PATH], weft_dec_path(d, cpath, "path"),
					       &f->rewrite.path_mod, &f->rewrite.path) < 0)
			rc = -1;
		break;
	}
	case WEFT_FILTER_REDIRECT: {
		const weft_yaml_node_t *rg[WEFT_NFIELDS(redirect_fields)];
		if (weft_dec_map(d, cfg, cpath, redirect_fields, WEFT_NFIELDS(redirect_fields), f, rg) < 0)
			rc = -1;
		if (rg[RD_SCHEME] && !weft_str_eq_c(f->redirect.scheme, schemes[0].name) &&
		    !weft_str_eq_c(f->redirect.scheme, schemes[1].name)) {
			weft_dec_err(d, rg[RD_SCHEME]->line, weft_dec_path(d, cpath, "scheme"),
				     "\"%s\" is not one of: http, https", f->redirect.scheme.p);
			rc = -1;
		}
		if (rg[RD_STATUS]) {
			uint16_t s = f->redirect.status;
			if (s != 301 && s != 302 && s != 303 && s != 307 && s != 308) {
				weft_dec_err(d, rg[RD_STATUS]->line, weft_dec_path(d, cpath, "statusCode"),
					     "%u is not a redirect status (301, 302, 303, 307, 308)", s);
				rc = -1;
			}
		}
		if (rg[RD_PATH] && dec_pathmod(d, rg[RD_PATH], weft_dec_path(d, cpath, "path"),
					       &f->redirect.path_mod, &f->redirect.path) < 0)
			rc = -1;
		break;
	}
	}
	return rc;
}

/* ---- matches ---- */

static const weft_enum_t str_match_types[] = {
	{ "Exact", WEFT_MATCH_EXACT }, { "RegularExpression", WEFT_MATCH_REGEX }, { NULL, 0 },
};
enum { SM_TYPE, SM_NAME, SM_VALUE };
static const weft_field_t str_match_fields[] = {
	[SM_TYPE] = WF_ENUM("type", 0, str_match_types, weft_str_match_t, type),
	[SM_NAME] = WF("name", WEFT_F_STR, WEFT_FF_REQUIRED, weft_str_match_t, name),
	[SM_VALUE] = WF("value", WEFT_F_STR, WEFT_FF_REQUIRED, weft_str_match_t, value),
};

int weft_route_str_matches(weft_dec_t *d, const weft_yaml_node_t *seq, const char *path,
			   weft_str_match_t **out, size_t *n)
{
	bool failed = false;
	int rc = 0;

	*out = weft_dec_array(d, seq->n, sizeof(**out), &failed);
	if (failed)
		return -1;
	for (size_t i = 0; i < seq->n; i++) {
		const char *p = weft_dec_idx(d, path, i);
		const weft_yaml_node_t *got[3];
		weft_str_match_t m = { .type = WEFT_MATCH_EXACT };

		if (weft_dec_map(d, seq->vals[i], p, str_match_fields, 3, &m, got) < 0) {
			rc = -1;
			continue;
		}
		if (!header_name_ok(m.name)) {
			weft_dec_err(d, got[SM_NAME]->line, weft_dec_path(d, p, "name"), "invalid name \"%s\"", m.name.p);
			rc = -1;
			continue;
		}
		if (m.type == WEFT_MATCH_REGEX &&
		    weft_route_check_regex(d, m.value, got[SM_VALUE]->line, weft_dec_path(d, p, "value")) < 0) {
			rc = -1;
			continue;
		}
		for (size_t j = 0; j < *n; j++)
			if (weft_str_ieq((*out)[j].name, m.name)) {
				weft_dec_err(d, got[SM_NAME]->line, weft_dec_path(d, p, "name"),
					     "\"%s\" is matched twice in one match", m.name.p);
				rc = -1;
			}
		m.loc = weft_dec_loc(d, seq->vals[i]);
		(*out)[(*n)++] = m;
	}
	return rc;
}

/* ---- rules and routes ---- */

typedef struct timeouts {
	uint64_t request, backend;
} timeouts_t;
static const weft_field_t timeout_fields[] = {
	WF("request", WEFT_F_DURATION, 0, timeouts_t, request),
	WF("backendRequest", WEFT_F_DURATION, 0, timeouts_t, backend),
};

enum { RU_MATCHES, RU_FILTERS, RU_BACKENDS, RU_TIMEOUTS };
static const weft_field_t rule_fields[] = {
	[RU_MATCHES] = WF_NODE("matches", WEFT_F_SEQ, 0),
	[RU_FILTERS] = WF_NODE("filters", WEFT_F_SEQ, 0),
	[RU_BACKENDS] = WF_NODE("backendRefs", WEFT_F_SEQ, 0),
	[RU_TIMEOUTS] = WF_NODE("timeouts", WEFT_F_MAP, 0),
};

static int dec_rule(weft_dec_t *d, const weft_yaml_node_t *n, const char *path, weft_route_kind_t kind,
		    weft_route_match_fn match_fn, weft_route_rule_t *r)
{
	const weft_yaml_node_t *got[WEFT_NFIELDS(rule_fields)], *s;
	bool failed = false;
	int rc;
	size_t seen[5] = { 0 };

	r->loc = weft_dec_loc(d, n);
	rc = weft_dec_map(d, n, path, rule_fields, WEFT_NFIELDS(rule_fields), NULL, got);
	if ((s = got[RU_MATCHES])) {
		const char *mp = weft_dec_path(d, path, "matches");
		r->matches = weft_dec_array(d, s->n, sizeof(*r->matches), &failed);
		if (failed)
			return -1;
		for (size_t i = 0; i < s->n; i++) {
			weft_route_match_t *m = &r->matches[r->nmatches];
			/* a slot is reused when the previous item failed: start clean */
			memset(m, 0, sizeof(*m));
			m->loc = weft_dec_loc(d, s->vals[i]);
			if (match_fn(d, s->vals[i], weft_dec_idx(d, mp, i), m) < 0)
				rc = -1;
			else
				r->nmatches++;
		}
	}
	if ((s = got[RU_FILTERS])) {
		const char *fp = weft_dec_path(d, path, "filters");
		r->filters = weft_dec_array(d, s->n, sizeof(*r->filters), &failed);
		if (failed)
			return -1;
		for (size_t i = 0; i < s->n; i++) {
			weft_filter_t *f = &r->filters[r->nfilters];
			const char *p = weft_dec_idx(d, fp, i);
			memset(f, 0, sizeof(*f));
			if (dec_filter(d, s->vals[i], p, kind, f) < 0) {
				rc = -1;
				continue;
			}
			if (f->type != WEFT_FILTER_MIRROR && seen[f->type]++) {
				weft_dec_err(d, s->vals[i]->line, weft_dec_path(d, p, "type"),
					     "only one %s filter is allowed per rule", filter_types[f->type].name);
				rc = -1;
			}
			r->nfilters++;
		}
		if (seen[WEFT_FILTER_REDIRECT] && seen[WEFT_FILTER_URL_REWRITE]) {
			weft_dec_err(d, s->line, fp, "RequestRedirect and URLRewrite cannot be used together");
			rc = -1;
		}
	}
	if ((s = got[RU_BACKENDS])) {
		const char *bp = weft_dec_path(d, path, "backendRefs");
		r->backends = weft_dec_array(d, s->n, sizeof(*r->backends), &failed);
		if (failed)
			return -1;
		for (size_t i = 0; i < s->n; i++) {
			memset(&r->backends[r->nbackends], 0, sizeof(r->backends[0]));
			if (dec_backend(d, s->vals[i], weft_dec_idx(d, bp, i), &r->backends[r->nbackends]) < 0)
				rc = -1;
			else
				r->nbackends++;
		}
		if (seen[WEFT_FILTER_REDIRECT] && s->n) {
			weft_dec_err(d, s->line, bp, "a rule with a RequestRedirect filter cannot have backendRefs");
			rc = -1;
		}
	}
	if ((s = got[RU_TIMEOUTS])) {
		timeouts_t t = { 0, 0 };
		const char *tp = weft_dec_path(d, path, "timeouts");
		if (weft_dec_map(d, s, tp, timeout_fields, 2, &t, NULL) < 0) {
			rc = -1;
		} else if (t.request && t.backend > t.request) {
			weft_dec_err(d, s->line, weft_dec_path(d, tp, "backendRequest"),
				     "must not be longer than timeouts.request");
			rc = -1;
		}
		r->timeout_request_ms = t.request;
		r->timeout_backend_ms = t.backend;
	}
	/* ReplacePrefixMatch rewrites the part a PathPrefix match matched */
	for (size_t i = 0; i < r->nfilters; i++) {
		const weft_filter_t *f = &r->filters[i];
		bool prefix = (f->type == WEFT_FILTER_URL_REWRITE && f->rewrite.path_mod == WEFT_PATH_MOD_PREFIX) ||
			      (f->type == WEFT_FILTER_REDIRECT && f->redirect.path_mod == WEFT_PATH_MOD_PREFIX);
		if (!prefix)
			continue;
		for (size_t j = 0; j < r->nmatches; j++) {
			if (r->matches[j].path_type != WEFT_MATCH_PREFIX) {
				weft_dec_err(d, r->matches[j].loc.line,
					     weft_dec_idx(d, weft_dec_path(d, path, "matches"), j),
					     "ReplacePrefixMatch (filters[%zu]) needs every match of the rule to be "
					     "a PathPrefix match", i);
				rc = -1;
			}
		}
	}
	return rc;
}

enum { RT_PARENTS, RT_HOSTNAMES, RT_RULES };
static const weft_field_t route_fields[] = {
	[RT_PARENTS] = WF_NODE("parentRefs", WEFT_F_SEQ, WEFT_FF_REQUIRED),
	[RT_HOSTNAMES] = WF_NODE("hostnames", WEFT_F_SEQ, 0),
	[RT_RULES] = WF_NODE("rules", WEFT_F_SEQ, WEFT_FF_REQUIRED),
};

int weft_route_decode(weft_dec_t *d, const weft_yaml_node_t *spec, weft_route_t *rt,
		      weft_route_kind_t kind, weft_route_match_fn match_fn)
{
	const weft_yaml_node_t *got[WEFT_NFIELDS(route_fields)], *s;
	bool failed = false;
	int rc;

	rt->kind = kind;
	rc = weft_dec_map(d, spec, "spec", route_fields, WEFT_NFIELDS(route_fields), NULL, got);
	if ((s = got[RT_PARENTS])) {
		if (!s->n) {
			weft_dec_err(d, s->line, "spec.parentRefs", "at least one parentRef is required");
			rc = -1;
		}
		rt->parents = weft_dec_array(d, s->n, sizeof(*rt->parents), &failed);
		if (failed)
			return -1;
		for (size_t i = 0; i < s->n; i++) {
			ref_t r;
			weft_parent_ref_t *p = &rt->parents[rt->nparents];
			memset(p, 0, sizeof(*p));
			if (dec_ref(d, s->vals[i], weft_dec_idx(d, "spec.parentRefs", i), false, &r) < 0) {
				rc = -1;
				continue;
			}
			p->name = r.name;
			p->ns = r.ns;
			p->port = r.port;
			p->loc = weft_dec_loc(d, s->vals[i]);
			rt->nparents++;
		}
	}
	if ((s = got[RT_HOSTNAMES])) {
		rt->hostnames = weft_dec_array(d, s->n, sizeof(*rt->hostnames), &failed);
		if (failed)
			return -1;
		for (size_t i = 0; i < s->n; i++) {
			const char *p = weft_dec_idx(d, "spec.hostnames", i);
			weft_str_t h = { 0 };
			if (weft_dec_str(d, s->vals[i], p, true, &h) < 0) {
				rc = -1;
			} else if (!weft_is_hostname(h)) {
				weft_dec_err(d, s->vals[i]->line, p, "\"%s\" is not a valid host name", h.p);
				rc = -1;
			} else {
				rt->hostnames[rt->nhostnames++] = h;
			}
		}
	}
	if ((s = got[RT_RULES])) {
		if (!s->n) {
			weft_dec_err(d, s->line, "spec.rules", "at least one rule is required");
			rc = -1;
		}
		rt->rules = weft_dec_array(d, s->n, sizeof(*rt->rules), &failed);
		if (failed)
			return -1;
		for (size_t i = 0; i < s->n; i++) {
			memset(&rt->rules[rt->nrules], 0, sizeof(rt->rules[0]));
			if (dec_rule(d, s->vals[i], weft_dec_idx(d, "spec.rules", i), kind, match_fn,
				     &rt->rules[rt->nrules]) < 0)
				rc = -1;
			else
				rt->nrules++;
		}
	}
	return rc;
}

/* ---- resolution ---- */

static const weft_svc_port_t *svc_port(const weft_service_t *s, uint16_t port)
{
	for (size_t i = 0; i < s->nports; i++)
		if (s->ports[i].port == port)
			return &s->ports[i];
	return NULL;
}

/* Resolves a backendRef; reports missing services and ports at path. */
static void resolve_backend(weft_resolver_t *r, weft_backend_ref_t *b, const char *path)
{
	b->svc = weft_model_service(r->m, b->ns, b->name);
	if (!b->svc) {
		if (!weft_resolve_is_broken(r, "Service", b->ns, b->name))
			weft_cfg_error_add(r->errs, b->loc.file, b->loc.line, path, "no Service %s/%s",
					   b->ns.p, b->name.p);
		return;
	}
	if (!svc_port(b->svc, b->port))
		weft_cfg_error_add(r->errs, b->loc.file, b->loc.line, path, "Service %s/%s has no port %u",
				   b->ns.p, b->name.p, b->port);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void canon_str(weft_buf_t *b, weft_str_t s, bool lower)
{
	weft_buf_printf(b, "%zu:", s.len);
	for (size_t i = 0; i < s.len; i++) {
		char c = s.p[i];
		if (lower && c >= 'A' && c <= 'Z')
			c = (char)(c + 32);
		weft_buf_append(b, &c, 1);
	}
}

static void canon_strmatches(weft_arena_t *a, weft_buf_t *b, const weft_str_match_t *m, size_t n)
{
	const char **v = n ? weft_arena_calloc(a, n, sizeof(*v)) : NULL;
	weft_buf_t one;

	if (n && !v)
		return;
	weft_buf_init(&one, 0);
	for (size_t i = 0; i < n; i++) {
		weft_buf_reset(&one);
		weft_buf_printf(&one, "%d", (int)m[i].type);
		canon_str(&one, m[i].name, true);
		canon_str(&one, m[i].value, false);
		weft_buf_append(&one, "", 1);
		v[i] = weft_arena_cstr(a, (const char *)weft_buf_head(&one));
		if (!v[i])
			v[i] = "";
	}
	weft_buf_free(&one);
	if (n > 1)
		qsort(v, n, sizeof(*v), cmp_str);
	weft_buf_printf(b, "[%zu", n);
	for (size_t i = 0; i < n; i++)
		weft_buf_printf(b, "%zu:%s", strlen(v[i]), v[i]);
	weft_buf_printf(b, "]");
}

/* The canonical text of one match: equal texts match the same requests
 * (PathPrefix "/" is the same as no path constraint). */
static const char *canon_match(weft_arena_t *a, const weft_route_match_t *m)
{
	weft_buf_t b;
	const char *s;
	bool any_path = m->path_type == WEFT_MATCH_NONE ||
			(m->path_type == WEFT_MATCH_PREFIX && weft_str_eq_c(m->path, "/"));

	weft_buf_init(&b, 0);
	if (any_path)
		weft_buf_printf(&b, "P-");
	else {
		weft_buf_printf(&b, "P%d", (int)m->path_type);
		canon_str(&b, m->path, false);
	}
	weft_buf_printf(&b, "M");
	canon_str(&b, m->method, false);
	weft_buf_printf(&b, "G%d", (int)m->grpc_type);
	canon_str(&b, m->grpc_service, false);
	canon_str(&b, m->grpc_method, false);
	weft_buf_printf(&b, "H");
	canon_strmatches(a, &b, m->headers, m->nheaders);
	weft_buf_printf(&b, "Q");
	canon_strmatches(a, &b, m->query, m->nquery);
	weft_buf_append(&b, "", 1);
	s = b.data ? weft_arena_cstr(a, (const char *)weft_buf_head(&b)) : NULL;
	weft_buf_free(&b);
	return s ? s : "";
}

/* The canonical text of a rule's set of matches (order and repeats do not
 * matter; no matches is the same as one match-everything match). */
static const char *canon_rule(weft_arena_t *a, const weft_route_rule_t *r)
{
	static const weft_route_match_t everything = { .path_type = WEFT_MATCH_NONE };
	size_t n = r->nmatches ? r->nmatches : 1;
	const char **v = weft_arena_calloc(a, n, sizeof(*v));
	size_t len = 1;
	char *s, *w;

	if (!v)
		return "";
	for (size_t i = 0; i < n; i++)
		v[i] = canon_match(a, r->nmatches ? &r->matches[i] : &everything);
	qsort(v, n, sizeof(*v), cmp_str);
	for (size_t i = 0; i < n; i++)
		len += strlen(v[i]) + 1;
	s = weft_arena_alloc(a, len);
	if (!s)
		return "";
	w = s;
	for (size_t i = 0; i < n; i++) {
		if (i && !strcmp(v[i], v[i - 1]))
			continue;
		w += sprintf(w, "%s\n", v[i]);
	}
	return s;
}

typedef struct attach {
	const weft_service_t *svc;
	uint16_t port;                 /* 0: every port */
	const char *canon;
	const weft_route_t *route;
	size_t rule, order;
} attach_t;

static int cmp_attach(const void *a, const void *b)
{
	const attach_t *x = a, *y = b;
	int c;

	if (x->svc != y->svc)
		return x->svc < y->svc ? -1 : 1;
	c = strcmp(x->canon, y->canon);
	return c ? c : (x->order > y->order) - (x->order < y->order);
}

/* Reports rules attached to the same service port with the same set of
 * matches. routes: every route in file order. */
static void check_conflicts(weft_resolver_t *r, const weft_route_t **routes, size_t nroutes)
{
	size_t n = 0, k = 0;
	attach_t *v;

	for (size_t i = 0; i < nroutes; i++)
		n += routes[i]->nrules * routes[i]->nparents;
	if (!n)
		return;
	v = weft_arena_calloc(r->ta, n, sizeof(*v));
	if (!v)
		return;
	for (size_t i = 0; i < nroutes; i++) {
		const weft_route_t *rt = routes[i];
		for (size_t j = 0; j < rt->nrules; j++) {
			const char *c = canon_rule(r->ta, &rt->rules[j]);
			for (size_t p = 0; p < rt->nparents; p++) {
				if (!rt->parents[p].svc)
					continue;
				v[k] = (attach_t){ rt->parents[p].svc, rt->parents[p].port, c, rt, j, k };
				k++;
			}
		}
	}
	qsort(v, k, sizeof(*v), cmp_attach);
	for (size_t i = 0; i < k; i++) {
		for (size_t j = i; j-- > 0;) {
			const attach_t *a = &v[j], *b = &v[i];
			if (a->svc != b->svc || strcmp(a->canon, b->canon))
				break;
			if (a->route == b->route && a->rule == b->rule)
				continue;
			if (a->port && b->port && a->port != b->port)
				continue;
			{
				const weft_route_rule_t *ra = &a->route->rules[a->rule], *rb = &b->route->rules[b->rule];
				char path[64];
				snprintf(path, sizeof(path), "spec.rules[%zu].matches", b->rule);
				weft_cfg_error_add(r->errs, rb->loc.file, rb->loc.line, path,
						   "conflicts with %s %s/%s spec.rules[%zu] at %s:%u: both send the "
						   "same requests to Service %s/%s%s",
						   kind_name(a->route->kind), a->route->meta.ns.p, a->route->meta.name.p,
						   a->rule, ra->loc.file, ra->loc.line, b->svc->meta.ns.p,
						   b->svc->meta.name.p, b->port || a->port ? " on the same port" : "");
			}
			break;   /* one report per conflicting rule */
		}
	}
}

void weft_route_resolve(weft_resolver_t *r)
{
	weft_model_t *m = r->m;
	const weft_route_t **order = (const weft_route_t **)weft_resolve_file_order(r, m->routes, m->nroutes,
										      sizeof(*m->routes));
	size_t *counts;

	if (!m->nroutes || !order)
		return;
	for (size_t i = 0; i < m->nroutes; i++) {
		weft_route_t *rt = &m->routes[i];
		char path[96];

		for (size_t p = 0; p < rt->nparents; p++) {
			weft_parent_ref_t *pr = &rt->parents[p];
			snprintf(path, sizeof(path), "spec.parentRefs[%zu]", p);
			pr->svc = weft_model_service(m, pr->ns, pr->name);
			if (!pr->svc) {
				if (!weft_resolve_is_broken(r, "Service", pr->ns, pr->name))
					weft_cfg_error_add(r->errs, pr->loc.file, pr->loc.line, path,
							   "no Service %s/%s", pr->ns.p, pr->name.p);
			} else if (pr->port && !svc_port(pr->svc, pr->port)) {
				weft_cfg_error_add(r->errs, pr->loc.file, pr->loc.line, path,
						   "Service %s/%s has no port %u", pr->ns.p, pr->name.p, pr->port);
				pr->svc = NULL;
			}
		}
		for (size_t j = 0; j < rt->nrules; j++) {
			weft_route_rule_t *ru = &rt->rules[j];
			for (size_t b = 0; b < ru->nbackends; b++) {
				snprintf(path, sizeof(path), "spec.rules[%zu].backendRefs[%zu]", j, b);
				resolve_backend(r, &ru->backends[b], path);
			}
			for (size_t f = 0; f < ru->nfilters; f++) {
				if (ru->filters[f].type != WEFT_FILTER_MIRROR)
					continue;
				snprintf(path, sizeof(path), "spec.rules[%zu].filters[%zu].requestMirror.backendRef", j, f);
				resolve_backend(r, &ru->filters[f].mirror.backend, path);
			}
		}
	}
	check_conflicts(r, order, m->nroutes);

	/* each service's routes, in file order, each route once */
	counts = weft_arena_calloc(r->ta, m->nservices ? m->nservices : 1, sizeof(*counts));
	if (!counts)
		return;
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < m->nroutes; i++) {
			const weft_route_t *rt = order[i];
			for (size_t p = 0; p < rt->nparents; p++) {
				const weft_service_t *s = rt->parents[p].svc;
				bool dup = false;
				size_t si;
				if (!s)
					continue;
				for (size_t q = 0; q < p; q++)
					dup |= rt->parents[q].svc == s;
				if (dup)
					continue;
				si = (size_t)(s - m->services);
				if (pass == 0) {
					counts[si]++;
				} else {
					weft_service_t *ws = &m->services[si];
					ws->routes[ws->nroutes++] = rt;
				}
			}
		}
		if (pass == 0) {
			for (size_t si = 0; si < m->nservices; si++) {
				if (!counts[si])
					continue;
				m->services[si].routes = weft_arena_calloc(&m->arena, counts[si],
									   sizeof(*m->services[si].routes));
				if (!m->services[si].routes) {
					weft_cfg_error_add(r->errs, "", 0, "", "out of memory");
					return;
				}
			}
		}
	}
}

/* Returns a copy in ma of n elements of size bytes at src (NULL when n is
 * 0); sets *failed when memory ran out. */
static void *dup_array(weft_arena_t *ma, const void *src, size_t n, size_t size, bool *failed)
{
	void *p;

	if (!n)
		return NULL;
	p = weft_arena_calloc(ma, n, size);
	if (!p) {
		*failed = true;
		return NULL;
	}
	memcpy(p, src, n * size);
	return p;
}

int weft_route_own(weft_arena_t *ma, void *obj)
{
	weft_route_t *rt = obj;
	bool failed = false;

	rt->parents = dup_array(ma, rt->parents, rt->nparents, sizeof(*rt->parents), &failed);
	rt->rules = dup_array(ma, rt->rules, rt->nrules, sizeof(*rt->rules), &failed);
	for (size_t j = 0; !failed && j < rt->nrules; j++) {
		weft_route_rule_t *ru = &rt->rules[j];
		ru->backends = dup_array(ma, ru->backends, ru->nbackends, sizeof(*ru->backends), &failed);
		ru->filters = dup_array(ma, ru->filters, ru->nfilters, sizeof(*ru->filters), &failed);
	}
	return failed ? -1 : 0;
}
