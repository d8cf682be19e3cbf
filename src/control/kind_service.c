/* weft — kind Service (v1): ports, a selector over workloads, a virtual IP. */
#include <stdint.h>
#include <string.h>
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

/* Returns the first index in the (ns, name)-sorted workload array whose
 * namespace is not below ns. */
static size_t workloads_ns_lower(const weft_model_t *m, weft_str_t ns)
{
	size_t lo = 0, hi = m->nworkloads;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		weft_str_t w = m->workloads[mid].meta.ns;
		size_t n = w.len < ns.len ? w.len : ns.len;
		int c = n ? memcmp(w.p, ns.p, n) : 0;

		if (c < 0 || (c == 0 && w.len < ns.len))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* ---- an index of workloads by (namespace, label key, label value) ---- */

#define LBL_NONE UINT32_MAX

/* One distinct (ns, key, value): named by its first occurrence (workload
 * w, label li); the workloads carrying it are a chain of occurrences in
 * ascending workload index, i.e. sorted by (ns, name). */
typedef struct lbl_ent {
	uint32_t w, li, n, head, tail;
} lbl_ent_t;

typedef struct lbl_occ {
	uint32_t w, next;
} lbl_occ_t;

typedef struct lbl_index {
	const weft_model_t *m;
	uint32_t *slots;        /* open addressing: entry index + 1, 0 = empty */
	size_t mask;
	lbl_ent_t *ents;
	size_t nents;
	lbl_occ_t *occ;
	size_t nocc;
} lbl_index_t;

static uint64_t lbl_hash(weft_str_t ns, const weft_kv_t *kv)
{
	const weft_str_t parts[3] = { ns, kv->key, kv->value };
	uint64_t h = WEFT_FNV1A64_INIT;

	for (size_t i = 0; i < 3; i++) {
		unsigned char sep[2] = { (unsigned char)(parts[i].len & 0xff), 0x1 };

		h = weft_fnv1a64(h, parts[i].p, parts[i].len);
		h = weft_fnv1a64(h, sep, sizeof(sep));   /* ("ab","c") != ("a","bc") */
	}
	return h ^ (h >> 29);
}

/* Returns the slot of (ns, kv): its entry, or the empty slot it would take. */
static uint32_t *lbl_slot(const lbl_index_t *x, weft_str_t ns, const weft_kv_t *kv)
{
	size_t i = (size_t)lbl_hash(ns, kv) & x->mask;

	for (;; i = (i + 1) & x->mask) {
		const lbl_ent_t *e;
		const weft_workload_t *w;
		if (!x->slots[i])
			return &x->slots[i];
		e = &x->ents[x->slots[i] - 1];
		w = &x->m->workloads[e->w];
		if (weft_str_eq(w->meta.ns, ns) && weft_str_eq(w->meta.labels.kv[e->li].key, kv->key) &&
		    weft_str_eq(w->meta.labels.kv[e->li].value, kv->value))
			return &x->slots[i];
	}
}

/* Indexes every workload label of m, in ta. Returns 0, or -1 when memory
 * ran out or the model is too large for 32-bit indexes (x unusable). */
static int lbl_build(lbl_index_t *x, weft_arena_t *ta, const weft_model_t *m)
{
	size_t total = 0, cap = 16;

	memset(x, 0, sizeof(*x));
	x->m = m;
	for (size_t i = 0; i < m->nworkloads; i++)
		total += m->workloads[i].meta.labels.n;
	if (m->nworkloads >= LBL_NONE || total >= LBL_NONE / 4)
		return -1;
	while (cap < 2 * total)
		cap *= 2;
	x->slots = weft_arena_calloc(ta, cap, sizeof(*x->slots));
	x->ents = weft_arena_calloc(ta, total ? total : 1, sizeof(*x->ents));
	x->occ = weft_arena_calloc(ta, total ? total : 1, sizeof(*x->occ));
	if (!x->slots || !x->ents || !x->occ)
		return -1;
	x->mask = cap - 1;
	for (size_t w = 0; w < m->nworkloads; w++) {
		const weft_labels_t *l = &m->workloads[w].meta.labels;
		for (size_t li = 0; li < l->n; li++) {
			uint32_t *slot = lbl_slot(x, m->workloads[w].meta.ns, &l->kv[li]);
			lbl_ent_t *e;
			if (!*slot) {
				e = &x->ents[x->nents++];
				*e = (lbl_ent_t){ (uint32_t)w, (uint32_t)li, 0, LBL_NONE, LBL_NONE };
				*slot = (uint32_t)x->nents;
			} else {
				e = &x->ents[*slot - 1];
			}
			x->occ[x->nocc] = (lbl_occ_t){ (uint32_t)w, LBL_NONE };
			if (e->n)
				x->occ[e->tail].next = (uint32_t)x->nocc;
			else
				e->head = (uint32_t)x->nocc;
			e->tail = (uint32_t)x->nocc++;
			e->n++;
		}
	}
	return 0;
}

/* Returns the entry of s's selector pair carried by the fewest workloads
 * of its namespace, or NULL when some pair is carried by none. */
static const lbl_ent_t *lbl_rarest(const lbl_index_t *x, const weft_service_t *s)
{
	const lbl_ent_t *best = NULL;

	for (size_t i = 0; i < s->selector.n; i++) {
		uint32_t *slot = lbl_slot(x, s->meta.ns, &s->selector.kv[i]);
		const lbl_ent_t *e;
		if (!*slot)
			return NULL;
		e = &x->ents[*slot - 1];
		if (!best || e->n < best->n)
			best = e;
	}
	return best;
}

/* Fills each Service's workloads with the same-namespace workloads whose
 * labels include its selector (sorted by (ns, name)); a Service without a
 * selector selects nothing. Candidates are the workloads carrying the
 * selector's rarest (ns, key, value), from an index of every workload
 * label: O(labels + candidates), not O(services x workloads-per-ns). When
 * the index cannot be built, the service's namespace range is scanned. */
static void service_resolve(weft_resolver_t *r)
{
	weft_model_t *m = r->m;
	lbl_index_t x;
	bool indexed = lbl_build(&x, r->ta, m) == 0;

	for (size_t i = 0; i < m->nservices; i++) {
		weft_service_t *s = &m->services[i];
		const weft_workload_t **v;
		const lbl_ent_t *e = NULL;
		size_t n = 0, lo = 0, hi = 0;

		if (!s->selector.n)
			continue;
		if (indexed) {
			if (!(e = lbl_rarest(&x, s)))
				continue;
			for (uint32_t o = e->head; o != LBL_NONE; o = x.occ[o].next)
				if (labels_include(&m->workloads[x.occ[o].w].meta.labels, &s->selector))
					n++;
		} else {
			lo = workloads_ns_lower(m, s->meta.ns);
			for (hi = lo; hi < m->nworkloads && weft_str_eq(m->workloads[hi].meta.ns, s->meta.ns); hi++)
				if (labels_include(&m->workloads[hi].meta.labels, &s->selector))
					n++;
		}
		if (!n)
			continue;
		v = weft_arena_calloc(&m->arena, n, sizeof(*v));
		if (!v) {
			weft_cfg_error_add(r->errs, s->meta.loc.file, 0, "", "out of memory");
			return;
		}
		n = 0;
		if (indexed) {
			for (uint32_t o = e->head; o != LBL_NONE; o = x.occ[o].next)
				if (labels_include(&m->workloads[x.occ[o].w].meta.labels, &s->selector))
					v[n++] = &m->workloads[x.occ[o].w];
		} else {
			for (size_t k = lo; k < hi; k++)
				if (labels_include(&m->workloads[k].meta.labels, &s->selector))
					v[n++] = &m->workloads[k];
		}
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
