/* weft — the node agents' resources (api/weft/agent/v1/agent.proto):
 * one weft.agent.v1.Workload per workload, one Service per Service, one
 * Authorization per AuthorizationPolicy, each named "<ns>/<name>", each in
 * its own reuse unit, each with its audience (the nodes that may see it):
 *   Workload       its node (nobody when it has none)
 *   Service        every node (audience NULL)
 *   Authorization  the nodes hosting a workload it applies to
 *
 * Scoping (Istio's):
 *   - an AuthorizationPolicy in the root namespace (--root-namespace)
 *     applies to the workloads of every namespace whose labels include its
 *     selector (no selector: all of them);
 *   - elsewhere, to the workloads of its own namespace whose labels
 *     include its selector (no selector: all of them).
 *   - a workload's mTLS mode: the first (by name) PeerAuthentication of
 *     its namespace with a selector it matches, else its namespace's
 *     namespace-wide one, else the root namespace's namespace-wide one,
 *     else PERMISSIVE; a policy whose mode is UNSET is skipped (inherits).
 *
 * Fingerprints cover every value the builders read, including the derived
 * ones (the resolved mode, the list of applicable policies), so a reused
 * resource is always the one a fresh build would give. Audiences are not
 * part of the bytes: they are computed again on every translation. */
#include <stdlib.h>
#include <string.h>
#include "weft/arena.h"
#include "weft/str.h"
#include "weft/xds.h"
#include "xds_translate.h"
#include "weft/agent/v1/agent.pb-c.h"

typedef Weft__Agent__V1__KeyValue kv_t;
typedef Weft__Agent__V1__Locality loc_t;

static int name_cmp(const void *a, const void *b)
{
	return weft_str_cmp(*(const weft_str_t *)a, *(const weft_str_t *)b);
}

static bool fp_eq(weft_xds_fp_t a, weft_xds_fp_t b)
{
	return a.a == b.a && a.b == b.b && (a.a || a.b);
}

/* True when labels (sorted by key) include every pair of sel. */
static bool labels_include(const weft_labels_t *labels, const weft_labels_t *sel)
{
	size_t j = 0;

	for (size_t i = 0; i < sel->n; i++) {
		while (j < labels->n && weft_str_cmp(labels->kv[j].key, sel->kv[i].key) < 0)
			j++;
		if (j == labels->n || !weft_str_eq(labels->kv[j].key, sel->kv[i].key) ||
		    !weft_str_eq(labels->kv[j].value, sel->kv[i].value))
			return false;
	}
	return true;
}

/* [*lo, *hi) of the objects (sorted by (ns, name), each starting with a
 * weft_meta_t, size bytes apart) in namespace ns. */
static void ns_range(const void *arr, size_t n, size_t size, weft_str_t ns, size_t *lo_out, size_t *hi_out)
{
	size_t lo = 0, hi = n, end;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const weft_meta_t *m = (const void *)((const char *)arr + mid * size);

		if (weft_str_cmp(m->ns, ns) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (end = lo; end < n; end++)
		if (!weft_str_eq(((const weft_meta_t *)(const void *)((const char *)arr + end * size))->ns, ns))
			break;
	*lo_out = lo;
	*hi_out = end;
}

/* True when policy p applies to workload w. */
static bool authz_applies(const weft_xds_tx_t *tx, const weft_authz_policy_t *p, const weft_workload_t *w)
{
	if (!weft_str_eq(p->meta.ns, tx->root_ns) && !weft_str_eq(p->meta.ns, w->meta.ns))
		return false;
	return labels_include(&w->meta.labels, &p->selector);
}

/* Index of w's node in m->nodes, or SIZE_MAX when it has none. */
static size_t node_index(const weft_model_t *m, const weft_workload_t *w)
{
	if (!w->node)
		return SIZE_MAX;
	if (w->node >= m->nodes && w->node < m->nodes + m->nnodes)
		return (size_t)(w->node - m->nodes);
	for (size_t i = 0; i < m->nnodes; i++)
		if (weft_str_eq(m->nodes[i].meta.name, w->node->meta.name))
			return i;
	return SIZE_MAX;
}

/* The copy of node i's name in the snapshot's arena. */
static weft_str_t node_name(weft_xds_tx_t *tx, size_t i)
{
	if (!tx->node_names[i].p) {
		weft_str_t s = weft_arena_strdup(&tx->snap->arena, tx->m->nodes[i].meta.name);

		if (!s.p)
			longjmp(tx->oom, 1);
		tx->node_names[i] = s;
	}
	return tx->node_names[i];
}

/* An audience array of n entries (n may be 0: nobody) in the snapshot's arena. */
static weft_str_t *audience_new(weft_xds_tx_t *tx, size_t n)
{
	weft_str_t *a = weft_arena_calloc(&tx->snap->arena, n ? n : 1, sizeof(*a));

	if (!a)
		longjmp(tx->oom, 1);
	return a;
}

/* "<ns>/<name>" in scratch memory. */
static char *res_name(weft_xds_tx_t *tx, const weft_meta_t *m)
{
	weft_str_t parts[3] = { m->ns, WEFT_STR_LIT("/"), m->name };

	return weft_xds_tx_cat(tx, 3, parts);
}

static loc_t *locality(weft_xds_tx_t *tx, const weft_node_t *n)
{
	loc_t *l = WEFT_XDS_NEW(tx, loc_t, weft__agent__v1__locality__descriptor);

	if (n) {
		l->region = weft_xds_tx_str(tx, n->locality.region);
		l->zone = weft_xds_tx_str(tx, n->locality.zone);
		l->subzone = weft_xds_tx_str(tx, n->locality.subzone);
	}
	return l;
}

static kv_t *keyvalue(weft_xds_tx_t *tx, const weft_kv_t *p)
{
	kv_t *kv = WEFT_XDS_NEW(tx, kv_t, weft__agent__v1__key_value__descriptor);

	kv->key = weft_xds_tx_str(tx, p->key);
	kv->value = weft_xds_tx_str(tx, p->value);
	return kv;
}

static char **strs(weft_xds_tx_t *tx, const weft_strs_t *s, size_t *n)
{
	char **v = (char **)weft_xds_tx_ptrs(tx, s->n);

	for (size_t i = 0; i < s->n; i++)
		v[i] = weft_xds_tx_str(tx, s->v[i]);
	*n = s->n;
	return v;
}

static void fp_labels(weft_xds_hasher_t *h, const weft_labels_t *l)
{
	weft_xds_fp_u64(h, l->n);
	for (size_t i = 0; i < l->n; i++) {
		weft_xds_fp_str(h, l->kv[i].key);
		weft_xds_fp_str(h, l->kv[i].value);
	}
}

static void fp_strs(weft_xds_hasher_t *h, const weft_strs_t *s)
{
	weft_xds_fp_u64(h, s->n);
	for (size_t i = 0; i < s->n; i++)
		weft_xds_fp_str(h, s->v[i]);
}

static void fp_node(weft_xds_tx_t *tx, weft_xds_hasher_t *h, const weft_node_t *n)
{
	weft_xds_fp_t l = weft_xds_locality_fp(tx, n);

	weft_xds_fp_u64(h, n != NULL);
	if (n) {
		weft_xds_fp_str(h, n->meta.name);
		weft_xds_fp_str(h, n->address);
	}
	weft_xds_fp_u64(h, l.a);
	weft_xds_fp_u64(h, l.b);
}

/* ---- one unit ---- */

/* Opens the unit of (t, ns, name) and returns true when prev's resource
 * can be taken (its fingerprint equals fp); the caller then calls
 * unit_take(), else builds and emits. */
static bool unit_open(weft_xds_tx_t *tx, const weft_xds_snapshot_t *prev, weft_xds_type_t t,
		      const weft_meta_t *meta, weft_xds_fp_t fp)
{
	size_t ui = tx->nunits++;
	weft_xds_unit_t *u = &tx->units[ui];
	const weft_xds_unit_t *pu = NULL;
	weft_xds_hasher_t id;

	weft_xds_fp_init(&id, 0xa0 + (unsigned)t);
	weft_xds_fp_str(&id, meta->ns);
	weft_xds_fp_str(&id, meta->name);
	u->key = weft_xds_fp_final(&id).a;
	for (unsigned s = 0; s < WEFT_XDS_NSLOTS; s++)
		u->idx[s] = WEFT_XDS_NO_INDEX;
	u->fp[t] = fp;
	if (prev)
		pu = weft_xds_reuse_find(tx->prev, u->key);
	tx->cur_pu = pu;
	tx->slot = (uint32_t)(ui * WEFT_XDS_NSLOTS + WEFT_XDS_SLOT_AGENT);
	return pu && fp_eq(pu->fp[t], fp) && weft_xds_reuse_take(tx, prev, pu, t, WEFT_XDS_SLOT_AGENT);
}

/* Sets the audience of the resource just added to type t, and empties the
 * scratch arena. */
static void unit_close(weft_xds_tx_t *tx, weft_xds_type_t t, const weft_str_t *aud, size_t naud)
{
	weft_xds_list_t *l = &tx->out[t];

	l->v[l->n - 1].r.audience = aud;
	l->v[l->n - 1].r.naudience = naud;
	weft_arena_reset(&tx->tmp);
}

/* ---- Workload ---- */

/* What a workload's resource depends on besides its own fields. */
typedef struct wl_view {
	weft_mtls_mode_t mode;
	size_t npol;
	char **pols;           /* "ns/name", sorted (scratch) */
} wl_view_t;

static int cstr_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The mode of the first policy in [lo, hi) that applies (selector ones
 * when with_selector, else namespace-wide ones) and is not UNSET. */
static weft_mtls_mode_t pa_mode(const weft_model_t *m, size_t lo, size_t hi, const weft_workload_t *w,
				bool with_selector)
{
	for (size_t i = lo; i < hi; i++) {
		const weft_peer_auth_t *p = &m->peerauth[i];

		if ((p->selector.n != 0) != with_selector || p->mode == WEFT_MTLS_UNSET)
			continue;
		if (with_selector && !labels_include(&w->meta.labels, &p->selector))
			continue;
		return p->mode;
	}
	return WEFT_MTLS_UNSET;
}

static void wl_view(weft_xds_tx_t *tx, const weft_workload_t *w, wl_view_t *v)
{
	const weft_model_t *m = tx->m;
	size_t lo, hi, rlo, rhi, n = 0;

	ns_range(m->peerauth, m->npeerauth, sizeof(*m->peerauth), w->meta.ns, &lo, &hi);
	ns_range(m->peerauth, m->npeerauth, sizeof(*m->peerauth), tx->root_ns, &rlo, &rhi);
	v->mode = pa_mode(m, lo, hi, w, true);
	if (v->mode == WEFT_MTLS_UNSET)
		v->mode = pa_mode(m, lo, hi, w, false);
	if (v->mode == WEFT_MTLS_UNSET)
		v->mode = pa_mode(m, rlo, rhi, w, false);
	if (v->mode == WEFT_MTLS_UNSET)
		v->mode = WEFT_MTLS_PERMISSIVE;

	ns_range(m->authz, m->nauthz, sizeof(*m->authz), w->meta.ns, &lo, &hi);
	ns_range(m->authz, m->nauthz, sizeof(*m->authz), tx->root_ns, &rlo, &rhi);
	if (rlo == lo)
		rlo = rhi = 0;   /* w lives in the root namespace: one range */
	v->pols = (char **)weft_xds_tx_ptrs(tx, (hi - lo) + (rhi - rlo));
	for (size_t i = lo; i < hi; i++)
		if (labels_include(&w->meta.labels, &m->authz[i].selector))
			v->pols[n++] = res_name(tx, &m->authz[i].meta);
	for (size_t i = rlo; i < rhi; i++)
		if (labels_include(&w->meta.labels, &m->authz[i].selector))
			v->pols[n++] = res_name(tx, &m->authz[i].meta);
	if (n > 1)
		qsort(v->pols, n, sizeof(*v->pols), cstr_cmp);
	v->npol = n;
}

static weft_xds_fp_t wl_fp(weft_xds_tx_t *tx, const weft_workload_t *w, const wl_view_t *v)
{
	weft_xds_hasher_t h;

	weft_xds_fp_init(&h, 0xb0);
	weft_xds_fp_str(&h, w->meta.name);
	weft_xds_fp_str(&h, w->meta.ns);
	weft_xds_fp_str(&h, w->service_account);
	fp_node(tx, &h, w->node);
	weft_xds_fp_u64(&h, w->naddrs);
	for (size_t i = 0; i < w->naddrs; i++)
		weft_xds_fp_str(&h, w->addrs[i]);
	weft_xds_fp_str(&h, w->netns);
	weft_xds_fp_str(&h, w->cgroup);
	fp_labels(&h, &w->meta.labels);
	weft_xds_fp_u64(&h, v->mode);
	weft_xds_fp_u64(&h, v->npol);
	for (size_t i = 0; i < v->npol; i++)
		weft_xds_fp_str(&h, weft_str_c(v->pols[i]));
	weft_xds_fp_str(&h, tx->trust_domain);
	return weft_xds_fp_final(&h);
}

static void wl_build(weft_xds_tx_t *tx, const weft_workload_t *w, const wl_view_t *v)
{
	Weft__Agent__V1__Workload *r = WEFT_XDS_NEW(tx, Weft__Agent__V1__Workload,
						    weft__agent__v1__workload__descriptor);

	r->name = weft_xds_tx_str(tx, w->meta.name);
	r->namespace_ = weft_xds_tx_str(tx, w->meta.ns);
	r->service_account = weft_xds_tx_str(tx, w->service_account);
	if (w->node) {
		r->node = weft_xds_tx_str(tx, w->node->meta.name);
		r->node_address = weft_xds_tx_str(tx, w->node->address);
	}
	r->addresses = (char **)weft_xds_tx_ptrs(tx, w->naddrs);
	for (size_t i = 0; i < w->naddrs; i++)
		r->addresses[r->n_addresses++] = weft_xds_tx_str(tx, w->addrs[i]);
	r->netns = weft_xds_tx_str(tx, w->netns);
	r->cgroup = weft_xds_tx_str(tx, w->cgroup);
	r->labels = (kv_t **)weft_xds_tx_ptrs(tx, w->meta.labels.n);
	for (size_t i = 0; i < w->meta.labels.n; i++)
		r->labels[r->n_labels++] = keyvalue(tx, &w->meta.labels.kv[i]);
	r->locality = locality(tx, w->node);
	r->mtls_mode = v->mode == WEFT_MTLS_STRICT ? WEFT__AGENT__V1__MTLS_MODE__STRICT
						     : WEFT__AGENT__V1__MTLS_MODE__PERMISSIVE;
	r->n_authorization_policies = v->npol;
	r->authorization_policies = v->pols;
	r->trust_domain = weft_xds_tx_str(tx, tx->trust_domain);
	weft_xds_tx_emit(tx, WEFT_XDS_WORKLOAD, res_name(tx, &w->meta), &r->base);
}

static void workload_unit(weft_xds_tx_t *tx, const weft_xds_snapshot_t *prev, const weft_workload_t *w)
{
	size_t ni = node_index(tx->m, w);
	weft_str_t *aud = audience_new(tx, 1);
	wl_view_t v;

	wl_view(tx, w, &v);
	if (!unit_open(tx, prev, WEFT_XDS_WORKLOAD, &w->meta, wl_fp(tx, w, &v)))
		wl_build(tx, w, &v);
	if (ni != SIZE_MAX)
		aud[0] = node_name(tx, ni);
	unit_close(tx, WEFT_XDS_WORKLOAD, aud, ni != SIZE_MAX);
}

/* ---- Service ---- */

static const char *app_proto(weft_app_proto_t p)
{
	switch (p) {
	case WEFT_APP_HTTP: return "http";
	case WEFT_APP_HTTP2: return "http2";
	case WEFT_APP_GRPC: return "grpc";
	default: return "tcp";
	}
}

/* The labels of a workload an endpoint carries: app and version. */
static const weft_kv_t *find_label(const weft_labels_t *l, const char *key)
{
	for (size_t i = 0; i < l->n; i++)
		if (weft_str_eq_c(l->kv[i].key, key))
			return &l->kv[i];
	return NULL;
}

static weft_xds_fp_t svc_fp(weft_xds_tx_t *tx, const weft_service_t *s)
{
	weft_xds_hasher_t h;

	weft_xds_fp_init(&h, 0xb1);
	weft_xds_fp_str(&h, s->meta.name);
	weft_xds_fp_str(&h, s->meta.ns);
	weft_xds_fp_str(&h, s->cluster_ip);
	weft_xds_fp_u64(&h, s->nports);
	for (size_t i = 0; i < s->nports; i++) {
		weft_xds_fp_u64(&h, s->ports[i].port);
		weft_xds_fp_u64(&h, s->ports[i].target_port);
		weft_xds_fp_u64(&h, s->ports[i].proto);
		weft_xds_fp_str(&h, s->ports[i].name);
	}
	weft_xds_fp_u64(&h, s->nworkloads);
	for (size_t i = 0; i < s->nworkloads; i++) {
		const weft_workload_t *w = s->workloads[i];
		const weft_kv_t *app = find_label(&w->meta.labels, "app");
		const weft_kv_t *ver = find_label(&w->meta.labels, "version");

		weft_xds_fp_str(&h, w->meta.name);
		weft_xds_fp_str(&h, w->meta.ns);
		weft_xds_fp_u64(&h, w->naddrs);
		for (size_t k = 0; k < w->naddrs; k++)
			weft_xds_fp_str(&h, w->addrs[k]);
		fp_node(tx, &h, w->node);
		weft_xds_fp_str(&h, w->service_account);
		weft_xds_fp_u64(&h, w->weight);
		weft_xds_fp_u64(&h, (app != NULL) | (ver != NULL) << 1);
		if (app)
			weft_xds_fp_str(&h, app->value);
		if (ver)
			weft_xds_fp_str(&h, ver->value);
	}
	return weft_xds_fp_final(&h);
}

static void svc_build(weft_xds_tx_t *tx, const weft_service_t *s)
{
	Weft__Agent__V1__Service *r = WEFT_XDS_NEW(tx, Weft__Agent__V1__Service,
						   weft__agent__v1__service__descriptor);

	r->name = weft_xds_tx_str(tx, s->meta.name);
	r->namespace_ = weft_xds_tx_str(tx, s->meta.ns);
	r->cluster_ip = weft_xds_tx_str(tx, s->cluster_ip);
	r->hostname = weft_xds_svc_fqdn(tx, s);
	r->ports = (Weft__Agent__V1__ServicePort **)weft_xds_tx_ptrs(tx, s->nports);
	for (size_t i = 0; i < s->nports; i++) {
		Weft__Agent__V1__ServicePort *p = WEFT_XDS_NEW(tx, Weft__Agent__V1__ServicePort,
							       weft__agent__v1__service_port__descriptor);
		p->port = s->ports[i].port;
		p->target_port = s->ports[i].target_port ? s->ports[i].target_port : s->ports[i].port;
		p->app_protocol = (char *)app_proto(s->ports[i].proto);
		p->name = weft_xds_tx_str(tx, s->ports[i].name);
		r->ports[r->n_ports++] = p;
	}
	r->endpoints = (Weft__Agent__V1__Endpoint **)weft_xds_tx_ptrs(tx, s->nworkloads);
	for (size_t i = 0; i < s->nworkloads; i++) {
		const weft_workload_t *w = s->workloads[i];
		const weft_kv_t *lb[2] = { find_label(&w->meta.labels, "app"),
					   find_label(&w->meta.labels, "version") };
		Weft__Agent__V1__Endpoint *e;

		if (!w->node || !w->naddrs)
			continue;
		e = WEFT_XDS_NEW(tx, Weft__Agent__V1__Endpoint, weft__agent__v1__endpoint__descriptor);
		e->workload = res_name(tx, &w->meta);
		e->address = weft_xds_tx_str(tx, w->addrs[0]);
		e->addresses = (char **)weft_xds_tx_ptrs(tx, w->naddrs);
		for (size_t k = 0; k < w->naddrs; k++)
			e->addresses[e->n_addresses++] = weft_xds_tx_str(tx, w->addrs[k]);
		e->node = weft_xds_tx_str(tx, w->node->meta.name);
		e->node_address = weft_xds_tx_str(tx, w->node->address);
		e->service_account = weft_xds_tx_str(tx, w->service_account);
		e->namespace_ = weft_xds_tx_str(tx, w->meta.ns);
		e->locality = locality(tx, w->node);
		e->weight = w->weight ? w->weight : 1;
		e->labels = (kv_t **)weft_xds_tx_ptrs(tx, 2);
		for (int k = 0; k < 2; k++)
			if (lb[k])
				e->labels[e->n_labels++] = keyvalue(tx, lb[k]);
		r->endpoints[r->n_endpoints++] = e;
	}
	weft_xds_tx_emit(tx, WEFT_XDS_SERVICE, res_name(tx, &s->meta), &r->base);
}

static void service_unit(weft_xds_tx_t *tx, const weft_xds_snapshot_t *prev, const weft_service_t *s)
{
	if (!unit_open(tx, prev, WEFT_XDS_SERVICE, &s->meta, svc_fp(tx, s)))
		svc_build(tx, s);
	unit_close(tx, WEFT_XDS_SERVICE, NULL, 0);
}

/* ---- Authorization ---- */

static weft_xds_fp_t authz_fp(const weft_authz_policy_t *p)
{
	weft_xds_hasher_t h;

	weft_xds_fp_init(&h, 0xb2);
	weft_xds_fp_str(&h, p->meta.name);
	weft_xds_fp_str(&h, p->meta.ns);
	weft_xds_fp_u64(&h, p->action);
	weft_xds_fp_u64(&h, p->nrules);
	for (size_t i = 0; i < p->nrules; i++) {
		const weft_authz_rule_t *r = &p->rules[i];

		weft_xds_fp_u64(&h, r->nfrom);
		for (size_t j = 0; j < r->nfrom; j++) {
			const weft_authz_source_t *s = &r->from[j];
			fp_strs(&h, &s->principals);
			fp_strs(&h, &s->not_principals);
			fp_strs(&h, &s->namespaces);
			fp_strs(&h, &s->not_namespaces);
			fp_strs(&h, &s->ip_blocks);
			fp_strs(&h, &s->not_ip_blocks);
		}
		weft_xds_fp_u64(&h, r->nto);
		for (size_t j = 0; j < r->nto; j++) {
			const weft_authz_operation_t *o = &r->to[j];
			weft_xds_fp_u64(&h, o->nports);
			for (size_t k = 0; k < o->nports; k++)
				weft_xds_fp_u64(&h, o->ports[k]);
			weft_xds_fp_u64(&h, o->nnot_ports);
			for (size_t k = 0; k < o->nnot_ports; k++)
				weft_xds_fp_u64(&h, o->not_ports[k]);
			weft_xds_fp_u64(&h, o->has_l7);
		}
		weft_xds_fp_u64(&h, r->nwhen != 0);
	}
	return weft_xds_fp_final(&h);
}

static void authz_build(weft_xds_tx_t *tx, const weft_authz_policy_t *p)
{
	Weft__Agent__V1__Authorization *a = WEFT_XDS_NEW(tx, Weft__Agent__V1__Authorization,
							 weft__agent__v1__authorization__descriptor);

	a->name = weft_xds_tx_str(tx, p->meta.name);
	a->namespace_ = weft_xds_tx_str(tx, p->meta.ns);
	a->action = p->action == WEFT_AUTHZ_DENY ? WEFT__AGENT__V1__ACTION__DENY
		  : p->action == WEFT_AUTHZ_AUDIT ? WEFT__AGENT__V1__ACTION__AUDIT : WEFT__AGENT__V1__ACTION__ALLOW;
	a->rules = (Weft__Agent__V1__Rule **)weft_xds_tx_ptrs(tx, p->nrules);
	for (size_t i = 0; i < p->nrules; i++) {
		const weft_authz_rule_t *r = &p->rules[i];
		Weft__Agent__V1__Rule *rr = WEFT_XDS_NEW(tx, Weft__Agent__V1__Rule, weft__agent__v1__rule__descriptor);

		rr->from = (Weft__Agent__V1__Source **)weft_xds_tx_ptrs(tx, r->nfrom);
		for (size_t j = 0; j < r->nfrom; j++) {
			const weft_authz_source_t *s = &r->from[j];
			Weft__Agent__V1__Source *o = WEFT_XDS_NEW(tx, Weft__Agent__V1__Source,
								  weft__agent__v1__source__descriptor);
			o->principals = strs(tx, &s->principals, &o->n_principals);
			o->not_principals = strs(tx, &s->not_principals, &o->n_not_principals);
			o->namespaces = strs(tx, &s->namespaces, &o->n_namespaces);
			o->not_namespaces = strs(tx, &s->not_namespaces, &o->n_not_namespaces);
			o->ip_blocks = strs(tx, &s->ip_blocks, &o->n_ip_blocks);
			o->not_ip_blocks = strs(tx, &s->not_ip_blocks, &o->n_not_ip_blocks);
			rr->from[rr->n_from++] = o;
		}
		rr->to = (Weft__Agent__V1__Operation **)weft_xds_tx_ptrs(tx, r->nto);
		for (size_t j = 0; j < r->nto; j++) {
			const weft_authz_operation_t *op = &r->to[j];
			Weft__Agent__V1__Operation *o = WEFT_XDS_NEW(tx, Weft__Agent__V1__Operation,
								     weft__agent__v1__operation__descriptor);
			o->ports = weft_xds_tx_alloc(tx, (op->nports + 1) * sizeof(uint32_t));
			for (size_t k = 0; k < op->nports; k++)
				o->ports[o->n_ports++] = op->ports[k];
			o->not_ports = weft_xds_tx_alloc(tx, (op->nnot_ports + 1) * sizeof(uint32_t));
			for (size_t k = 0; k < op->nnot_ports; k++)
				o->not_ports[o->n_not_ports++] = op->not_ports[k];
			o->has_l7 = op->has_l7;
			rr->to[rr->n_to++] = o;
		}
		rr->has_l7_when = r->nwhen != 0;
		a->rules[a->n_rules++] = rr;
	}
	weft_xds_tx_emit(tx, WEFT_XDS_AUTHZ, res_name(tx, &p->meta), &a->base);
}

static void authz_unit(weft_xds_tx_t *tx, const weft_xds_snapshot_t *prev, const weft_authz_policy_t *p)
{
	const weft_model_t *m = tx->m;
	bool *on = weft_xds_tx_alloc(tx, m->nnodes + 1);
	size_t lo = 0, hi = m->nworkloads, n = 0;
	weft_str_t *aud;

	if (!weft_str_eq(p->meta.ns, tx->root_ns))
		ns_range(m->workloads, m->nworkloads, sizeof(*m->workloads), p->meta.ns, &lo, &hi);
	for (size_t i = lo; i < hi; i++) {
		size_t ni = node_index(m, &m->workloads[i]);

		if (ni != SIZE_MAX && !on[ni] && authz_applies(tx, p, &m->workloads[i])) {
			on[ni] = true;
			n++;
		}
	}
	aud = audience_new(tx, n);
	n = 0;
	for (size_t i = 0; i < m->nnodes; i++)
		if (on[i])
			aud[n++] = node_name(tx, i);
	if (n > 1)
		qsort(aud, n, sizeof(*aud), name_cmp);
	if (!unit_open(tx, prev, WEFT_XDS_AUTHZ, &p->meta, authz_fp(p)))
		authz_build(tx, p);
	unit_close(tx, WEFT_XDS_AUTHZ, aud, n);
}

/* ---- driver ---- */

size_t weft_xds_agent_nunits(const weft_model_t *m)
{
	return m->nworkloads + m->nservices + m->nauthz;
}

void weft_xds_agent_all(weft_xds_tx_t *tx, const weft_xds_snapshot_t *prev)
{
	const weft_model_t *m = tx->m;

	tx->node_names = weft_arena_calloc(&tx->snap->arena, m->nnodes + 1, sizeof(*tx->node_names));
	if (!tx->node_names)
		longjmp(tx->oom, 1);
	weft_arena_reset(&tx->tmp);
	for (size_t i = 0; i < m->nworkloads; i++)
		workload_unit(tx, prev, &m->workloads[i]);
	for (size_t i = 0; i < m->nservices; i++)
		service_unit(tx, prev, &m->services[i]);
	for (size_t i = 0; i < m->nauthz; i++)
		authz_unit(tx, prev, &m->authz[i]);
}
