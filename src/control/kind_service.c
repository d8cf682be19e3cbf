/* weft — kind Service (v1): ports, a selector over workloads, a virtual IP. */
#include "weft/arena.h"
#include "weft/cfgdec.h"
#include "weft/config.h"
#include "weft/str.h"

enum { S_CLUSTER_IP, S_SELECTOR, S_PORTS };
static const weft_field_t service_fields[] = {
	[S_CLUSTER_IP] = WF("clusterIP", WEFT_F_IP, 0, weft_service_t, cluster_ip),
	[S_SELECTOR] = WF_NODE("selector", WEFT_F_MAP, 0),
	[S_PORTS] = WF_NODE("ports", WEFT_F_SEQ, WEFT_FF_REQUIRED),
};

static const weft_enum_t app_protos[] = {
	{ "tcp", WEFT_APP_TCP }, { "http", WEFT_APP_HTTP }, { "http2", WEFT_APP_HTTP2 },
	{ "grpc", WEFT_APP_GRPC }, { NULL, 0 },
};

enum { P_NAME, P_PORT, P_TARGET, P_PROTO };
static const weft_field_t port_fields[] = {
	[P_NAME] = WF("name", WEFT_F_NAME, 0, weft_svc_port_t, name),
	[P_PORT] = WF_UINT("port", WEFT_FF_REQUIRED, 1, 65535, weft_svc_port_t, port),
	[P_TARGET] = WF_UINT("targetPort", 0, 1, 65535, weft_svc_port_t, target_port),
	[P_PROTO] = WF_ENUM("appProtocol", 0, app_protos, weft_svc_port_t, proto),
};

/* Decodes a Service's spec into obj (a weft_service_t). Returns 0 or -1. */
static int service_decode(weft_dec_t *d, const weft_yaml_node_t *spec, void *obj)
{
	weft_service_t *s = obj;
	const weft_yaml_node_t *got[WEFT_NFIELDS(service_fields)], *ports;
	bool failed = false;
	int rc = weft_dec_map(d, spec, "spec", service_fields, WEFT_NFIELDS(service_fields), s, got);

	if (got[S_SELECTOR] && weft_dec_labels(d, got[S_SELECTOR], "spec.selector", &s->selector) < 0)
		rc = -1;
	ports = got[S_PORTS];
	if (!ports)
		return -1;
	if (ports->n == 0) {
		weft_dec_err(d, ports->line, "spec.ports", "at least one port is required");
		return -1;
	}
	s->ports = weft_dec_array(d, ports->n, sizeof(*s->ports), &failed);
	if (failed)
		return -1;
	for (size_t i = 0; i < ports->n; i++) {
		const weft_yaml_node_t *pn = ports->vals[i], *pg[WEFT_NFIELDS(port_fields)];
		const char *path = weft_dec_idx(d, "spec.ports", i);
		weft_svc_port_t p = { 0 };

		if (weft_dec_map(d, pn, path, port_fields, WEFT_NFIELDS(port_fields), &p, pg) < 0) {
			rc = -1;
			continue;
		}
		if (!p.target_port)
			p.target_port = p.port;
		p.loc = weft_dec_loc(d, pn);
		if (ports->n > 1 && !p.name.len) {
			weft_dec_err(d, pn->line, weft_dec_path(d, path, "name"),
				     "required when a Service has more than one port");
			rc = -1;
		}
		for (size_t j = 0; j < s->nports; j++) {
			if (s->ports[j].port == p.port) {
				weft_dec_err(d, pg[P_PORT]->line, weft_dec_path(d, path, "port"),
					     "port %u is listed twice (first at line %u)", p.port, s->ports[j].loc.line);
				rc = -1;
			}
			if (p.name.len && weft_str_eq(s->ports[j].name, p.name)) {
				weft_dec_err(d, pg[P_NAME]->line, weft_dec_path(d, path, "name"),
					     "port name \"%s\" is used twice (first at line %u)", p.name.p,
					     s->ports[j].loc.line);
				rc = -1;
			}
		}
		s->ports[s->nports++] = p;
	}
	return rc;
}

static bool labels_include(const weft_labels_t *have, const weft_labels_t *want)
{
	size_t j = 0;

	/* both sorted by key */
	for (size_t i = 0; i < want->n; i++) {
		while (j < have->n && !weft_str_eq(have->kv[j].key, want->kv[i].key))
			j++;
		if (j == have->n || !weft_str_eq(have->kv[j].value, want->kv[i].value))
			return false;
	}
	return true;
}

/* Selects each service's workloads: same namespace, labels include the
 * whole selector. A Service without a selector selects nothing. */
static void service_resolve(weft_resolver_t *r)
{
	weft_model_t *m = r->m;

	for (size_t i = 0; i < m->nservices; i++) {
		weft_service_t *s = &m->services[i];
		const weft_workload_t **v;
		size_t n = 0;

		if (!s->selector.n)
			continue;
		for (size_t k = 0; k < m->nworkloads; k++)
			if (weft_str_eq(m->workloads[k].meta.ns, s->meta.ns) &&
			    labels_include(&m->workloads[k].meta.labels, &s->selector))
				n++;
		if (!n)
			continue;
		v = weft_arena_calloc(&m->arena, n, sizeof(*v));
		if (!v) {
			weft_cfg_error_add(r->errs, s->meta.loc.file, 0, "", "out of memory");
			return;
		}
		n = 0;
		for (size_t k = 0; k < m->nworkloads; k++)
			if (weft_str_eq(m->workloads[k].meta.ns, s->meta.ns) &&
			    labels_include(&m->workloads[k].meta.labels, &s->selector))
				v[n++] = &m->workloads[k];
		s->workloads = v;
		s->nworkloads = n;
	}
}

static const weft_kind_t kind_service = {
	.api_version = "v1",
	.name = "Service",
	.namespaced = true,
	.obj_size = sizeof(weft_service_t),
	.count_off = offsetof(weft_model_t, nservices),
	.array_off = offsetof(weft_model_t, services),
	.decode = service_decode,
	.resolve = service_resolve,
	.phase = 20,
};
WEFT_REGISTER(weft_kinds, kind_service);
