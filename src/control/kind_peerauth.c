/* weft — kind PeerAuthentication (security.istio.io/v1, also
 * weft.dev/v1alpha1): whether a workload accepts plaintext (PERMISSIVE) or
 * only mTLS (STRICT). DISABLE is refused: agents never talk plaintext to
 * each other. At most one namespace-wide (selector-less) policy per
 * namespace; the resolved mode per workload is computed by the xDS
 * translation (src/control/xds_agent.c). */
#include "weft/arena.h"
#include "weft/cfgdec.h"
#include "weft/config.h"
#include "weft/str.h"

typedef weft_peer_auth_t pa_t;

static const weft_enum_t modes[] = {
	{ "UNSET", WEFT_MTLS_UNSET }, { "PERMISSIVE", WEFT_MTLS_PERMISSIVE }, { "STRICT", WEFT_MTLS_STRICT },
	{ "DISABLE", -1 }, { NULL, 0 },
};

enum { P_SELECTOR, P_MTLS, P_PORTS };
static const weft_field_t peerauth_fields[] = {
	[P_SELECTOR] = WF_NODE("selector", WEFT_F_MAP, 0),
	[P_MTLS] = WF_NODE("mtls", WEFT_F_MAP, 0),
	[P_PORTS] = WF_NODE("portLevelMtls", WEFT_F_MAP, 0),
};
static const weft_field_t mtls_fields[] = {
	WF_ENUM("mode", 0, modes, pa_t, mode),
};

/* Decodes a PeerAuthentication's spec into obj (a weft_peer_auth_t).
 * Returns 0 or -1 (errors added). */
static int peerauth_decode(weft_dec_t *d, const weft_yaml_node_t *spec, void *obj)
{
	pa_t *p = obj;
	const weft_yaml_node_t *g[WEFT_NFIELDS(peerauth_fields)], *mg[1];
	int rc;

	p->mode = WEFT_MTLS_UNSET;
	rc = weft_dec_map(d, spec, "spec", peerauth_fields, WEFT_NFIELDS(peerauth_fields), p, g);
	if (g[P_SELECTOR] && weft_dec_match_labels(d, g[P_SELECTOR], &p->selector) < 0)
		rc = -1;
	if (g[P_MTLS]) {
		if (weft_dec_map(d, g[P_MTLS], "spec.mtls", mtls_fields, 1, p, mg) < 0)
			rc = -1;
		else if (mg[0] && (int)p->mode == -1) {
			weft_dec_err(d, mg[0]->line, "spec.mtls.mode",
				     "DISABLE is not supported by weft: plaintext between agents is never allowed");
			rc = -1;
		}
	}
	if (g[P_PORTS]) {
		weft_dec_err(d, g[P_PORTS]->line, "spec.portLevelMtls", "not supported yet: set spec.mtls.mode "
			     "for the whole workload");
		rc = -1;
	}
	return rc;
}

/* At most one namespace-wide policy per namespace: the second one (in file
 * order) is an error pointing at the first. */
static void peerauth_resolve(weft_resolver_t *r)
{
	weft_model_t *m = r->m;
	const pa_t **order = (const pa_t **)weft_resolve_file_order(r, m->peerauth, m->npeerauth, sizeof(pa_t));

	if (!order)
		return;
	for (size_t i = 0; i < m->npeerauth; i++) {
		const pa_t *p = order[i];

		if (p->selector.n)
			continue;
		for (size_t j = 0; j < i; j++) {
			const pa_t *o = order[j];

			if (o->selector.n || !weft_str_eq(o->meta.ns, p->meta.ns))
				continue;
			weft_cfg_error_add(r->errs, p->meta.loc.file, p->meta.loc.line, "spec.selector",
					   "namespace %s already has a namespace-wide PeerAuthentication %s: first "
					   "defined at %s:%u", p->meta.ns.p, o->meta.name.p, o->meta.loc.file,
					   o->meta.loc.line);
			break;
		}
	}
}

static const weft_kind_t kind_peerauth = {
	.api_version = "security.istio.io/v1",
	.api_version_alt = "weft.dev/v1alpha1",
	.name = "PeerAuthentication",
	.namespaced = true,
	.obj_size = sizeof(pa_t),
	.count_off = offsetof(weft_model_t, npeerauth),
	.array_off = offsetof(weft_model_t, peerauth),
	.decode = peerauth_decode,
	.resolve = peerauth_resolve,
	.phase = 50,
};
WEFT_REGISTER(weft_kinds, kind_peerauth);
