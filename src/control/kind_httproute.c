/* weft — kind HTTPRoute (gateway.networking.k8s.io/v1), attached to
 * Services (GAMMA). The shared parts are in route_common.c. */
#include "weft/cfgdec.h"
#include "weft/str.h"
#include "route_common.h"

static const weft_enum_t path_types[] = {
	{ "Exact", WEFT_MATCH_EXACT }, { "PathPrefix", WEFT_MATCH_PREFIX },
	{ "RegularExpression", WEFT_MATCH_REGEX }, { NULL, 0 },
};

enum { PT_TYPE, PT_VALUE };
static const weft_field_t path_fields[] = {
	[PT_TYPE] = WF_ENUM("type", 0, path_types, weft_route_match_t, path_type),
	[PT_VALUE] = WF("value", WEFT_F_STR, 0, weft_route_match_t, path),
};

static const char *const methods[] = {
	"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", NULL,
};

enum { HM_PATH, HM_HEADERS, HM_QUERY, HM_METHOD };
static const weft_field_t match_fields[] = {
	[HM_PATH] = WF_NODE("path", WEFT_F_MAP, 0),
	[HM_HEADERS] = WF_NODE("headers", WEFT_F_SEQ, 0),
	[HM_QUERY] = WF_NODE("queryParams", WEFT_F_SEQ, 0),
	[HM_METHOD] = WF("method", WEFT_F_STR, 0, weft_route_match_t, method),
};

/* Decodes one HTTPRoute match. A missing path means PathPrefix "/", as
 * Gateway API defaults it. Returns 0 or -1. */
static int http_match(weft_dec_t *d, const weft_yaml_node_t *n, const char *path, weft_route_match_t *m)
{
	const weft_yaml_node_t *got[WEFT_NFIELDS(match_fields)];
	int rc;

	m->path_type = WEFT_MATCH_PREFIX;
	m->path = WEFT_STR_LIT("/");
	rc = weft_dec_map(d, n, path, match_fields, WEFT_NFIELDS(match_fields), m, got);
	if (got[HM_PATH]) {
		const weft_yaml_node_t *pg[2];
		const char *pp = weft_dec_path(d, path, "path");
		if (weft_dec_map(d, got[HM_PATH], pp, path_fields, 2, m, pg) < 0) {
			rc = -1;
		} else if (m->path_type == WEFT_MATCH_REGEX) {
			if (weft_route_check_regex(d, m->path, pg[PT_VALUE] ? pg[PT_VALUE]->line : got[HM_PATH]->line,
						   weft_dec_path(d, pp, "value")) < 0)
				rc = -1;
		} else if (!m->path.len || m->path.p[0] != '/') {
			weft_dec_err(d, pg[PT_VALUE] ? pg[PT_VALUE]->line : got[HM_PATH]->line,
				     weft_dec_path(d, pp, "value"), "must start with '/'");
			rc = -1;
		}
	}
	if (got[HM_HEADERS] && weft_route_str_matches(d, got[HM_HEADERS], weft_dec_path(d, path, "headers"),
						      &m->headers, &m->nheaders) < 0)
		rc = -1;
	if (got[HM_QUERY] && weft_route_str_matches(d, got[HM_QUERY], weft_dec_path(d, path, "queryParams"),
						    &m->query, &m->nquery) < 0)
		rc = -1;
	if (got[HM_METHOD]) {
		bool ok = false;
		for (size_t i = 0; methods[i]; i++)
			ok |= weft_str_eq_c(m->method, methods[i]);
		if (!ok) {
			weft_dec_err(d, got[HM_METHOD]->line, weft_dec_path(d, path, "method"),
				     "\"%s\" is not an HTTP method (GET, HEAD, POST, PUT, DELETE, CONNECT, OPTIONS, "
				     "TRACE, PATCH)", m->method.p);
			rc = -1;
		}
	}
	return rc;
}

static int httproute_decode(weft_dec_t *d, const weft_yaml_node_t *spec, void *obj)
{
	return weft_route_decode(d, spec, obj, WEFT_ROUTE_HTTP, http_match);
}

static const weft_kind_t kind_httproute = {
	.api_version = "gateway.networking.k8s.io/v1",
	.name = "HTTPRoute",
	.namespaced = true,
	.obj_size = sizeof(weft_route_t),
	.count_off = offsetof(weft_model_t, nroutes),
	.array_off = offsetof(weft_model_t, routes),
	.decode = httproute_decode,
	.resolve = weft_route_resolve,
	.phase = 30,
	.own = weft_route_own,
};
WEFT_REGISTER(weft_kinds, kind_httproute);
