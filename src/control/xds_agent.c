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
 * L7 (Service):
 *   - each port carries the rules of every HTTPRoute/GRPCRoute whose
 *     parentRef names the service with port 0 or that port, by the route's
 *     rank among the service's routes (route_order: their file order, the
 *     model's), then rule order; backends are "ns/name" + port + weight;
 *   - a port is l7 when its appProtocol is http/http2/grpc or a rule is
 *     attached to it (a route says the port speaks HTTP); a
 *     DestinationPolicy alone never turns a tcp port into L7 (its L7-only
 *     parts then simply do not apply to that port);
 *   - the DestinationPolicy goes whole into Service.policy (blocks it does
 *     not set are absent).
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

/* ---- Service: L7 (routes, DestinationPolicy) ---- */

typedef Weft__Agent__V1__StringMatch smatch_t;

/* the wire enums mirror the model's values (converted by a cast) */
_Static_assert(WEFT__AGENT__V1__MATCH_TYPE__MATCH_REGEX == (int)WEFT_MATCH_REGEX &&
	       WEFT__AGENT__V1__MATCH_TYPE__MATCH_PREFIX == (int)WEFT_MATCH_PREFIX, "MatchType");
_Static_assert(WEFT__AGENT__V1__FILTER_TYPE__FILTER_REDIRECT == (int)WEFT_FILTER_REDIRECT &&
	       WEFT__AGENT__V1__FILTER_TYPE__FILTER_MIRROR == (int)WEFT_FILTER_MIRROR, "FilterType");
_Static_assert(WEFT__AGENT__V1__PATH_MOD__PATH_MOD_PREFIX == (int)WEFT_PATH_MOD_PREFIX, "PathMod");
_Static_assert(WEFT__AGENT__V1__LB_TYPE__LB_MAGLEV == (int)WEFT_LB_MAGLEV &&
	       WEFT__AGENT__V1__LB_TYPE__LB_RANDOM == (int)WEFT_LB_RANDOM, "LbType");

/* True when some parentRef of rt names service s with port 0 or port. */
static bool route_on_port(const weft_route_t *rt, const weft_service_t *s, uint16_t port)
{
	for (size_t i = 0; i < rt->nparents; i++) {
		const weft_parent_ref_t *pr = &rt->parents[i];
		bool same = pr->svc ? pr->svc == s
				    : weft_str_eq(pr->name, s->meta.name) && weft_str_eq(pr->ns, s->meta.ns);

		if (same && (pr->port == 0 || pr->port == port))
			return true;
	}
	return false;
}

/* Every value of a route the Service builder reads, with the ports of s
 * it attaches to (its parentRefs naming s). */
static void fp_route(weft_xds_hasher_t *h, const weft_route_t *rt, const weft_service_t *s)
{
	weft_xds_fp_str(h, rt->meta.name);
	weft_xds_fp_str(h, rt->meta.ns);
	weft_xds_fp_u64(h, rt->kind);
	for (size_t i = 0; i < s->nports; i++)
		weft_xds_fp_u64(h, route_on_port(rt, s, s->ports[i].port));
	weft_xds_fp_u64(h, rt->nhostnames);
	for (size_t i = 0; i < rt->nhostnames; i++)
		weft_xds_fp_str(h, rt->hostnames[i]);
	weft_xds_fp_u64(h, rt->nrules);
	for (size_t i = 0; i < rt->nrules; i++)
		weft_xds_fp_rule(h, &rt->rules[i], false);
}

/* Every value of a DestinationPolicy the Service builder reads. */
static void fp_policy(weft_xds_hasher_t *h, const weft_dest_policy_t *p)
{
	weft_xds_fp_u64(h, p != NULL);
	if (!p)
		return;
	weft_xds_fp_str(h, p->meta.name);
	weft_xds_fp_str(h, p->meta.ns);
	weft_xds_fp_u64(h, p->lb.type);
	weft_xds_fp_u64(h, p->lb.type_set);
	weft_xds_fp_u64(h, p->lb.choice_count);
	weft_xds_fp_u64(h, p->lb.ring_min);
	weft_xds_fp_u64(h, p->lb.ring_max);
	weft_xds_fp_str(h, p->lb.hash_header);
	weft_xds_fp_u64(h, p->lb.hash_source_ip);
	weft_xds_fp_str(h, p->lb.hash_cookie);
	weft_xds_fp_u64(h, p->limits.set);
	weft_xds_fp_u64(h, p->limits.max_connections);
	weft_xds_fp_u64(h, p->limits.max_pending_requests);
	weft_xds_fp_u64(h, p->limits.max_requests);
	weft_xds_fp_u64(h, p->limits.max_retries);
	weft_xds_fp_u64(h, p->outlier.set);
	weft_xds_fp_u64(h, p->outlier.consecutive_5xx);
	weft_xds_fp_u64(h, p->outlier.consecutive_gateway_errors);
	weft_xds_fp_u64(h, p->outlier.interval_ms);
	weft_xds_fp_u64(h, p->outlier.base_ejection_ms);
	weft_xds_fp_u64(h, p->outlier.max_ejection_percent);
	weft_xds_fp_u64(h, p->outlier.sr_stdev_factor_milli);
	weft_xds_fp_u64(h, p->outlier.sr_min_hosts);
	weft_xds_fp_u64(h, p->outlier.sr_request_volume);
	weft_xds_fp_u64(h, p->retry.set);
	weft_xds_fp_u64(h, p->retry.attempts);
	weft_xds_fp_u64(h, p->retry.per_try_timeout_ms);
	weft_xds_fp_u64(h, p->retry.retry_on);
	weft_xds_fp_u64(h, p->retry.nstatus);
	for (size_t i = 0; i < p->retry.nstatus; i++)
		weft_xds_fp_u64(h, p->retry.retriable_status[i]);
	weft_xds_fp_u64(h, p->retry.backoff_base_ms);
	weft_xds_fp_u64(h, p->retry.backoff_max_ms);
	weft_xds_fp_u64(h, p->retry.budget_set);
	weft_xds_fp_u64(h, p->retry.budget_percent_ppm);
	weft_xds_fp_u64(h, p->retry.budget_min_concurrency);
	weft_xds_fp_u64(h, p->fault.set);
	weft_xds_fp_u64(h, p->fault.delay_ppm);
	weft_xds_fp_u64(h, p->fault.delay_ms);
	weft_xds_fp_u64(h, p->fault.abort_ppm);
	weft_xds_fp_u64(h, p->fault.abort_http_status);
	weft_xds_fp_u64(h, p->fault.abort_grpc_status);
	weft_xds_fp_u64(h, p->fault.abort_grpc);
	weft_xds_fp_str_matches(h, p->fault.nheaders, p->fault.headers);
	weft_xds_fp_u64(h, p->rate_limit.set);
	weft_xds_fp_u64(h, p->rate_limit.max_tokens);
	weft_xds_fp_u64(h, p->rate_limit.tokens_per_fill);
	weft_xds_fp_u64(h, p->rate_limit.fill_interval_ms);
	weft_xds_fp_u64(h, p->rate_limit.per_route);
	weft_xds_fp_u64(h, p->health.set);
	weft_xds_fp_u64(h, p->health.grpc);
	weft_xds_fp_str(h, p->health.path);
	weft_xds_fp_u64(h, p->health.interval_ms);
	weft_xds_fp_u64(h, p->health.timeout_ms);
	weft_xds_fp_u64(h, p->health.unhealthy_threshold);
	weft_xds_fp_u64(h, p->health.healthy_threshold);
}

static smatch_t **smatches(weft_xds_tx_t *tx, const weft_str_match_t *m, size_t n, size_t *nout)
{
	smatch_t **v = (smatch_t **)weft_xds_tx_ptrs(tx, n);

	for (size_t i = 0; i < n; i++) {
		smatch_t *o = WEFT_XDS_NEW(tx, smatch_t, weft__agent__v1__string_match__descriptor);
		o->type = (Weft__Agent__V1__MatchType)m[i].type;
		o->name = weft_xds_tx_str(tx, m[i].name);
		o->value = weft_xds_tx_str(tx, m[i].value);
		v[i] = o;
	}
	*nout = n;
	return v;
}

static kv_t **kvs(weft_xds_tx_t *tx, const weft_kv_t *src, size_t n, size_t *nout)
{
	kv_t **v = (kv_t **)weft_xds_tx_ptrs(tx, n);

	for (size_t i = 0; i < n; i++)
		v[i] = keyvalue(tx, &src[i]);
	*nout = n;
	return v;
}

static Weft__Agent__V1__Filter *filter_msg(weft_xds_tx_t *tx, const weft_filter_t *f)
{
	Weft__Agent__V1__Filter *o = WEFT_XDS_NEW(tx, Weft__Agent__V1__Filter, weft__agent__v1__filter__descriptor);

	o->type = (Weft__Agent__V1__FilterType)f->type;
	switch (f->type) {
	case WEFT_FILTER_REQUEST_HEADER:
	case WEFT_FILTER_RESPONSE_HEADER: {
		Weft__Agent__V1__HeaderMod *hm = WEFT_XDS_NEW(tx, Weft__Agent__V1__HeaderMod,
							      weft__agent__v1__header_mod__descriptor);
		hm->set = kvs(tx, f->headers.set, f->headers.nset, &hm->n_set);
		hm->add = kvs(tx, f->headers.add, f->headers.nadd, &hm->n_add);
		hm->remove = (char **)weft_xds_tx_ptrs(tx, f->headers.nremove);
		for (size_t k = 0; k < f->headers.nremove; k++)
			hm->remove[hm->n_remove++] = weft_xds_tx_str(tx, f->headers.remove[k]);
		o->headers = hm;
		break;
	}
	case WEFT_FILTER_MIRROR:
		o->mirror_name = weft_xds_tx_str(tx, f->mirror.backend.name);
		o->mirror_namespace = weft_xds_tx_str(tx, f->mirror.backend.ns);
		o->mirror_port = f->mirror.backend.port;
		o->mirror_percent_ppm = f->mirror.percent_ppm;
		break;
	case WEFT_FILTER_URL_REWRITE:
		o->rewrite_hostname = weft_xds_tx_str(tx, f->rewrite.hostname);
		o->rewrite_path_mod = (Weft__Agent__V1__PathMod)f->rewrite.path_mod;
		o->rewrite_path = weft_xds_tx_str(tx, f->rewrite.path);
		break;
	case WEFT_FILTER_REDIRECT:
		o->redirect_scheme = weft_xds_tx_str(tx, f->redirect.scheme);
		o->redirect_hostname = weft_xds_tx_str(tx, f->redirect.hostname);
		o->redirect_path_mod = (Weft__Agent__V1__PathMod)f->redirect.path_mod;
		o->redirect_path = weft_xds_tx_str(tx, f->redirect.path);
		o->redirect_port = f->redirect.port;
		o->redirect_status = f->redirect.status;
		break;
	}
	return o;
}

/* One rule of route rt (the order-th of the service's routes) as a message. */
static Weft__Agent__V1__RouteRule *rule_msg(weft_xds_tx_t *tx, const weft_route_t *rt, size_t order, size_t ri)
{
	const weft_route_rule_t *ru = &rt->rules[ri];
	Weft__Agent__V1__RouteRule *o = WEFT_XDS_NEW(tx, Weft__Agent__V1__RouteRule,
						     weft__agent__v1__route_rule__descriptor);

	o->route = res_name(tx, &rt->meta);
	o->kind = rt->kind == WEFT_ROUTE_GRPC ? WEFT__AGENT__V1__ROUTE_KIND__ROUTE_GRPC
					      : WEFT__AGENT__V1__ROUTE_KIND__ROUTE_HTTP;
	o->rule_index = (uint32_t)ri;
	o->route_order = (uint32_t)order;
	o->hostnames = (char **)weft_xds_tx_ptrs(tx, rt->nhostnames);
	for (size_t i = 0; i < rt->nhostnames; i++)
		o->hostnames[o->n_hostnames++] = weft_xds_tx_str(tx, rt->hostnames[i]);
	o->matches = (Weft__Agent__V1__RouteMatch **)weft_xds_tx_ptrs(tx, ru->nmatches);
	for (size_t i = 0; i < ru->nmatches; i++) {
		const weft_route_match_t *m = &ru->matches[i];
		Weft__Agent__V1__RouteMatch *rm = WEFT_XDS_NEW(tx, Weft__Agent__V1__RouteMatch,
							       weft__agent__v1__route_match__descriptor);
		rm->path_type = (Weft__Agent__V1__MatchType)m->path_type;
		rm->path = weft_xds_tx_str(tx, m->path);
		rm->headers = smatches(tx, m->headers, m->nheaders, &rm->n_headers);
		rm->query = smatches(tx, m->query, m->nquery, &rm->n_query);
		rm->method = weft_xds_tx_str(tx, m->method);
		rm->grpc_type = (Weft__Agent__V1__MatchType)m->grpc_type;
		rm->grpc_service = weft_xds_tx_str(tx, m->grpc_service);
		rm->grpc_method = weft_xds_tx_str(tx, m->grpc_method);
		o->matches[o->n_matches++] = rm;
	}
	o->filters = (Weft__Agent__V1__Filter **)weft_xds_tx_ptrs(tx, ru->nfilters);
	for (size_t i = 0; i < ru->nfilters; i++)
		o->filters[o->n_filters++] = filter_msg(tx, &ru->filters[i]);
	o->backends = (Weft__Agent__V1__BackendRef **)weft_xds_tx_ptrs(tx, ru->nbackends);
	for (size_t i = 0; i < ru->nbackends; i++) {
		const weft_backend_ref_t *b = &ru->backends[i];
		Weft__Agent__V1__BackendRef *br = WEFT_XDS_NEW(tx, Weft__Agent__V1__BackendRef,
							       weft__agent__v1__backend_ref__descriptor);
		weft_str_t parts[3] = { b->ns, WEFT_STR_LIT("/"), b->name };

		br->service = weft_xds_tx_cat(tx, 3, parts);
		br->port = b->port;
		br->weight = b->weight;
		o->backends[o->n_backends++] = br;
	}
	o->timeout_request_ms = ru->timeout_request_ms;
	o->timeout_backend_ms = ru->timeout_backend_ms;
	return o;
}

/* Fills port message p (of service port sp) with its rules and l7 flag. */
static void port_l7(weft_xds_tx_t *tx, const weft_service_t *s, const weft_svc_port_t *sp,
		    Weft__Agent__V1__ServicePort *p)
{
	size_t n = 0;

	for (size_t i = 0; i < s->nroutes; i++)
		if (route_on_port(s->routes[i], s, sp->port))
			n += s->routes[i]->nrules;
	p->rules = (Weft__Agent__V1__RouteRule **)weft_xds_tx_ptrs(tx, n);
	for (size_t i = 0; i < s->nroutes; i++) {
		const weft_route_t *rt = s->routes[i];

		if (!route_on_port(rt, s, sp->port))
			continue;
		for (size_t j = 0; j < rt->nrules; j++)
			p->rules[p->n_rules++] = rule_msg(tx, rt, i, j);
	}
	p->l7 = sp->proto != WEFT_APP_TCP || p->n_rules != 0;
}

static Weft__Agent__V1__DestinationPolicy *policy_msg(weft_xds_tx_t *tx, const weft_dest_policy_t *p)
{
	Weft__Agent__V1__DestinationPolicy *o = WEFT_XDS_NEW(tx, Weft__Agent__V1__DestinationPolicy,
							     weft__agent__v1__destination_policy__descriptor);
	Weft__Agent__V1__LoadBalancer *lb = WEFT_XDS_NEW(tx, Weft__Agent__V1__LoadBalancer,
							 weft__agent__v1__load_balancer__descriptor);

	o->name = res_name(tx, &p->meta);
	lb->type = (Weft__Agent__V1__LbType)p->lb.type;
	lb->type_set = p->lb.type_set;
	lb->choice_count = p->lb.choice_count;
	lb->ring_min = p->lb.ring_min;
	lb->ring_max = p->lb.ring_max;
	lb->hash_header = weft_xds_tx_str(tx, p->lb.hash_header);
	lb->hash_source_ip = p->lb.hash_source_ip;
	lb->hash_cookie = weft_xds_tx_str(tx, p->lb.hash_cookie);
	o->lb = lb;
	if (p->limits.set) {
		Weft__Agent__V1__ConnectionLimits *l = WEFT_XDS_NEW(tx, Weft__Agent__V1__ConnectionLimits,
								    weft__agent__v1__connection_limits__descriptor);
		l->max_connections = p->limits.max_connections;
		l->max_pending_requests = p->limits.max_pending_requests;
		l->max_requests = p->limits.max_requests;
		l->max_retries = p->limits.max_retries;
		o->limits = l;
	}
	if (p->outlier.set) {
		Weft__Agent__V1__OutlierDetection *od = WEFT_XDS_NEW(tx, Weft__Agent__V1__OutlierDetection,
								     weft__agent__v1__outlier_detection__descriptor);
		od->consecutive_5xx = p->outlier.consecutive_5xx;
		od->consecutive_gateway_errors = p->outlier.consecutive_gateway_errors;
		od->interval_ms = p->outlier.interval_ms;
		od->base_ejection_ms = p->outlier.base_ejection_ms;
		od->max_ejection_percent = p->outlier.max_ejection_percent;
		od->sr_stdev_factor_milli = p->outlier.sr_stdev_factor_milli;
		od->sr_min_hosts = p->outlier.sr_min_hosts;
		od->sr_request_volume = p->outlier.sr_request_volume;
		o->outlier = od;
	}
	if (p->retry.set) {
		Weft__Agent__V1__Retry *r = WEFT_XDS_NEW(tx, Weft__Agent__V1__Retry, weft__agent__v1__retry__descriptor);
		r->attempts = p->retry.attempts;
		r->per_try_timeout_ms = p->retry.per_try_timeout_ms;
		r->retry_on = p->retry.retry_on;
		r->retriable_status = weft_xds_tx_alloc(tx, (p->retry.nstatus + 1) * sizeof(uint32_t));
		for (size_t i = 0; i < p->retry.nstatus; i++)
			r->retriable_status[r->n_retriable_status++] = p->retry.retriable_status[i];
		r->backoff_base_ms = p->retry.backoff_base_ms;
		r->backoff_max_ms = p->retry.backoff_max_ms;
		if (p->retry.budget_set) {
			r->budget = WEFT_XDS_NEW(tx, Weft__Agent__V1__RetryBudget, weft__agent__v1__retry_budget__descriptor);
			r->budget->percent_ppm = p->retry.budget_percent_ppm;
			r->budget->min_concurrency = p->retry.budget_min_concurrency;
		}
		o->retry = r;
	}
	if (p->fault.set) {
		Weft__Agent__V1__Fault *f = WEFT_XDS_NEW(tx, Weft__Agent__V1__Fault, weft__agent__v1__fault__descriptor);
		f->delay_ppm = p->fault.delay_ppm;
		f->delay_ms = p->fault.delay_ms;
		f->abort_ppm = p->fault.abort_ppm;
		f->abort_http_status = p->fault.abort_http_status;
		f->abort_grpc_status = p->fault.abort_grpc_status;
		f->abort_grpc = p->fault.abort_grpc;
		f->headers = smatches(tx, p->fault.headers, p->fault.nheaders, &f->n_headers);
		o->fault = f;
	}
	if (p->rate_limit.set) {
		Weft__Agent__V1__RateLimit *rl = WEFT_XDS_NEW(tx, Weft__Agent__V1__RateLimit,
							      weft__agent__v1__rate_limit__descriptor);
		rl->max_tokens = p->rate_limit.max_tokens;
		rl->tokens_per_fill = p->rate_limit.tokens_per_fill;
		rl->fill_interval_ms = p->rate_limit.fill_interval_ms;
		rl->per_route = p->rate_limit.per_route;
		o->rate_limit = rl;
	}
	if (p->health.set) {
		Weft__Agent__V1__HealthCheck *hc = WEFT_XDS_NEW(tx, Weft__Agent__V1__HealthCheck,
								weft__agent__v1__health_check__descriptor);
		hc->grpc = p->health.grpc;
		hc->path = weft_xds_tx_str(tx, p->health.path);
		hc->interval_ms = p->health.interval_ms;
		hc->timeout_ms = p->health.timeout_ms;
		hc->unhealthy_threshold = p->health.unhealthy_threshold;
		hc->healthy_threshold = p->health.healthy_threshold;
		o->health = hc;
	}
	return o;
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
	weft_xds_fp_u64(&h, s->nroutes);
	for (size_t i = 0; i < s->nroutes; i++)
		fp_route(&h, s->routes[i], s);
	fp_policy(&h, s->policy);
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
		port_l7(tx, s, &s->ports[i], p);
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
	if (s->policy)
		r->policy = policy_msg(tx, s->policy);
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
			fp_strs(&h, &o->hosts);
			fp_strs(&h, &o->not_hosts);
			fp_strs(&h, &o->methods);
			fp_strs(&h, &o->not_methods);
			fp_strs(&h, &o->paths);
			fp_strs(&h, &o->not_paths);
		}
		weft_xds_fp_u64(&h, r->nwhen);
		for (size_t j = 0; j < r->nwhen; j++) {
			weft_xds_fp_str(&h, r->when[j].key);
			fp_strs(&h, &r->when[j].values);
			fp_strs(&h, &r->when[j].not_values);
		}
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
			o->hosts = strs(tx, &op->hosts, &o->n_hosts);
			o->not_hosts = strs(tx, &op->not_hosts, &o->n_not_hosts);
			o->methods = strs(tx, &op->methods, &o->n_methods);
			o->not_methods = strs(tx, &op->not_methods, &o->n_not_methods);
			o->paths = strs(tx, &op->paths, &o->n_paths);
			o->not_paths = strs(tx, &op->not_paths, &o->n_not_paths);
			rr->to[rr->n_to++] = o;
		}
		rr->has_l7_when = r->nwhen != 0;
		rr->when = (Weft__Agent__V1__When **)weft_xds_tx_ptrs(tx, r->nwhen);
		for (size_t j = 0; j < r->nwhen; j++) {
			Weft__Agent__V1__When *w = WEFT_XDS_NEW(tx, Weft__Agent__V1__When, weft__agent__v1__when__descriptor);
			w->key = weft_xds_tx_str(tx, r->when[j].key);
			w->values = strs(tx, &r->when[j].values, &w->n_values);
			w->not_values = strs(tx, &r->when[j].not_values, &w->n_not_values);
			rr->when[rr->n_when++] = w;
		}
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
