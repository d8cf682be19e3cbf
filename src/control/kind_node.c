/* weft — kind Node (weft.dev/v1alpha1): a machine running a weft agent. */
#include "weft/cfgdec.h"

enum { N_ADDRESS, N_LOCALITY };
static const weft_field_t node_fields[] = {
	[N_ADDRESS] = WF("address", WEFT_F_IP, WEFT_FF_REQUIRED, weft_node_t, address),
	[N_LOCALITY] = WF_NODE("locality", WEFT_F_MAP, 0),
};

static const weft_field_t locality_fields[] = {
	WF("region", WEFT_F_STR, 0, weft_locality_t, region),
	WF("zone", WEFT_F_STR, 0, weft_locality_t, zone),
	WF("subZone", WEFT_F_STR, 0, weft_locality_t, subzone),
};

/* Decodes a Node's spec into obj (a weft_node_t). Returns 0 or -1. */
static int node_decode(weft_dec_t *d, const weft_yaml_node_t *spec, void *obj)
{
	weft_node_t *n = obj;
	const weft_yaml_node_t *got[WEFT_NFIELDS(node_fields)];
	int rc = weft_dec_map(d, spec, "spec", node_fields, WEFT_NFIELDS(node_fields), n, got);

	if (got[N_LOCALITY] && weft_dec_map(d, got[N_LOCALITY], "spec.locality", locality_fields,
					    WEFT_NFIELDS(locality_fields), &n->locality, NULL) < 0)
		rc = -1;
	return rc;
}

static const weft_kind_t kind_node = {
	.api_version = "weft.dev/v1alpha1",
	.name = "Node",
	.namespaced = false,
	.obj_size = sizeof(weft_node_t),
	.count_off = offsetof(weft_model_t, nnodes),
	.array_off = offsetof(weft_model_t, nodes),
	.decode = node_decode,
	.resolve = NULL,
	.phase = 0,
};
WEFT_REGISTER(weft_kinds, kind_node);
