/* weft — kind GRPCRoute (gateway.networking.k8s.io/v1), attached to
 * Services (GAMMA). The shared parts are in route_common.c. */
#include <string.h>
#include "weft/cfgdec.h"
#include "weft/str.h"
#include "route_common.h"

static const weft_enum_t method_types[] = {
	{ "Exact", WEFT_MATCH_EXACT }, { "RegularExpression", WEFT_MATCH_REGEX }, { NULL, 0 },
};

enum { GM_TYPE, GM_SERVICE, GM_METHOD };
static const weft_field_t method_fields[] = {
	[GM_TYPE] = WF_ENUM("type", 0, method_types, weft_route_match_t, grpc_type),
	[GM_SERVICE] = WF("service", WEFT_F_STR, 0, weft_route_match_t, grpc_service),
	[GM_METHOD] = WF("method", WEFT_F_STR, 0, weft_route_match_t, grpc_method),
};

enum { GR_METHOD, GR_HEADERS };
static const weft_field_t match_fields[] = {
	[GR_METHOD] = WF_NODE("method", WEFT_F_MAP, 0),
	[GR_HEADERS] = WF_NODE("headers", WEFT_F_SEQ, 0),
};

/* Checks one of service/method of an Exact or RegularExpression method
 * match. Returns 0 or -1. */
static int check_part(weft_dec_t *d, const weft_route_match_t *m, weft_str_t v, const weft_yaml_node_t *n,
		      const char *path)
{
	if (!n)
		return 0;
	if (m->grpc_type == WEFT_MATCH_REGEX)
		return weft_route_check_regex(d, v, n->line, path);
	if (memchr(v.p, '/', v.len)) {
		weft_dec_err(d, n->line, path, "must not contain '/'");
		return -1;
	}
	return 0;
}

/* Decodes one GRPCRoute match. Returns 0 or -1. */
static int grpc_match(weft_dec_t *d, const weft_yaml_node_t *n, const char *path, weft_route_match_t *m)
{
	const weft_yaml_node_t *got[WEFT_NFIELDS(match_fields)];
	int rc = weft_dec_map(d, n, path, match_fields, WEFT_NFIELDS(match_fields), NULL, got);

	m->path_type = WEFT_MATCH_NONE;
	if (got[GR_METHOD]) {
		const weft_yaml_node_t *mg[3];
		const char *mp = weft_dec_path(d, path, "method");
		m->grpc_type = WEFT_MATCH_EXACT;
		if (weft_dec_map(d, got[GR_METHOD], mp, method_fields, 3, m, mg) < 0) {
			rc = -1;
		} else if (!m->grpc_service.len && !m->grpc_method.len) {
			weft_dec_err(d, got[GR_METHOD]->line, mp, "at least one of service and method is required");
			rc = -1;
		} else if (check_part(d, m, m->grpc_service, mg[GM_SERVICE], weft_dec_path(d, mp, "service")) < 0 ||
			   check_part(d, m, m->grpc_method, mg[GM_METHOD], weft_dec_path(d, mp, "method")) < 0) {
			rc = -1;
		}
	}
	if (got[GR_HEADERS] && weft_route_str_matches(d, got[GR_HEADERS], weft_dec_path(d, path, "headers"),
						      &m->headers, &m->nheaders) < 0)
		rc = -1;
	return rc;
}

static int grpcroute_decode(weft_dec_t *d, const weft_yaml_node_t *spec, void *obj)
{
	return weft_route_decode(d, spec, obj, WEFT_ROUTE_GRPC, grpc_match);
}

static const weft_kind_t kind_grpcroute = {
	.api_version = "gateway.networking.k8s.io/v1",
	.name = "GRPCRoute",
	.namespaced = true,
	.obj_size = sizeof(weft_route_t),
	.count_off = offsetof(weft_model_t, nroutes),
	.array_off = offsetof(weft_model_t, routes),
	.decode = grpcroute_decode,
	.resolve = weft_route_resolve,
	.phase = 30,
	.own = weft_route_own,
};
WEFT_REGISTER(weft_kinds, kind_grpcroute);
