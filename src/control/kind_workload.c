/* weft — kind Workload (weft.dev/v1alpha1): a pod or host process. */
#include "weft/arena.h"
#include "weft/cfgdec.h"
#include "weft/config.h"
#include "weft/str.h"

enum { W_SA, W_NODE, W_ADDRS, W_NETNS, W_CGROUP, W_WEIGHT };
static const weft_field_t workload_fields[] = {
	[W_SA] = WF("serviceAccount", WEFT_F_NAME, 0, weft_workload_t, service_account),
	[W_NODE] = WF("node", WEFT_F_NAME, 0, weft_workload_t, node_name),
	[W_ADDRS] = WF_NODE("addresses", WEFT_F_SEQ, WEFT_FF_REQUIRED),
	[W_NETNS] = WF("netns", WEFT_F_PATH, 0, weft_workload_t, netns),
	[W_CGROUP] = WF("cgroup", WEFT_F_PATH, 0, weft_workload_t, cgroup),
	[W_WEIGHT] = WF_UINT("weight", 0, 1, 128, weft_workload_t, weight),
};

/* Decodes a Workload's spec into obj (a weft_workload_t), applying
 * defaults. Returns 0 or -1 (errors added). */
static int workload_decode(weft_dec_t *d, const weft_yaml_node_t *spec, void *obj)
{
	weft_workload_t *w = obj;
	const weft_yaml_node_t *got[WEFT_NFIELDS(workload_fields)], *a;
	bool failed = false;
	int rc;

	w->weight = 1;
	w->service_account = WEFT_STR_LIT("default");
	rc = weft_dec_map(d, spec, "spec", workload_fields, WEFT_NFIELDS(workload_fields), w, got);
	if (got[W_NODE])
		w->node_loc = weft_dec_loc(d, got[W_NODE]);
	a = got[W_ADDRS];
	if (!a)
		return -1;
	if (a->n == 0) {
		weft_dec_err(d, a->line, "spec.addresses", "at least one address is required");
		return -1;
	}
	w->addrs = weft_dec_array(d, a->n, sizeof(*w->addrs), &failed);
	if (failed)
		return -1;
	for (size_t i = 0; i < a->n; i++) {
		const char *p = weft_dec_idx(d, "spec.addresses", i);
		weft_str_t s = { 0 };
		if (weft_dec_str(d, a->vals[i], p, true, &s) < 0) {
			rc = -1;
			continue;
		}
		if (!weft_is_ip(s)) {
			weft_dec_err(d, a->vals[i]->line, p, "\"%s\" is not an IPv4 or IPv6 address", s.p);
			rc = -1;
			continue;
		}
		for (size_t j = 0; j < w->naddrs; j++) {
			if (weft_str_eq(w->addrs[j], s)) {
				weft_dec_err(d, a->vals[i]->line, p, "address %s is listed twice", s.p);
				rc = -1;
			}
		}
		w->addrs[w->naddrs++] = s;
	}
	return rc;
}

/* Resolves each workload's node reference. */
static void workload_resolve(weft_resolver_t *r)
{
	weft_model_t *m = r->m;

	for (size_t i = 0; i < m->nworkloads; i++) {
		weft_workload_t *w = &m->workloads[i];
		if (!w->node_name.len)
			continue;
		w->node = weft_model_node(m, w->node_name);
		if (!w->node && !weft_resolve_is_broken(r, "Node", WEFT_STR_LIT(""), w->node_name))
			weft_cfg_error_add(r->errs, w->node_loc.file, w->node_loc.line, "spec.node",
					   "no Node named \"%s\"", w->node_name.p);
	}
}

static const weft_kind_t kind_workload = {
	.api_version = "weft.dev/v1alpha1",
	.name = "Workload",
	.namespaced = true,
	.obj_size = sizeof(weft_workload_t),
	.count_off = offsetof(weft_model_t, nworkloads),
	.array_off = offsetof(weft_model_t, workloads),
	.decode = workload_decode,
	.resolve = workload_resolve,
	.phase = 10,
};
WEFT_REGISTER(weft_kinds, kind_workload);
