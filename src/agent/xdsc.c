/* weft agent — the delta ADS client: one
 * DeltaAggregatedResources stream to weft control with wildcard
 * subscriptions to the three weft.agent.v1 types; keeps name -> decoded
 * resource maps; ACKs each applied response, NACKs (error_detail) a
 * response holding a resource it cannot decode and keeps the previous
 * state; on reconnect sends initial_resource_versions so the server sends
 * only changes. After applied responses a new view is built (at most one
 * per loop turn) and installed with weft_agent_set_view() once each type
 * has answered at least once (synced). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "weft/agent.h"
#include "weft/grpc_client.h"
#include "weft/log.h"
#include "weft/loop.h"
#include "weft/metrics.h"
#include "weft/str.h"
#include "weft/telemetry.h"
#include "envoy/service/discovery/v3/discovery.pb-c.h"

#define ADS_PATH "/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources"
#define NTYPES 3

static const char *const type_urls[NTYPES] = {
	"type.googleapis.com/weft.agent.v1.Workload",
	"type.googleapis.com/weft.agent.v1.Service",
	"type.googleapis.com/weft.agent.v1.Authorization",
};
static const char *const type_short[NTYPES] = { "workload", "service", "authorization" };
static const ProtobufCMessageDescriptor *const type_desc[NTYPES] = {
	&weft__agent__v1__workload__descriptor,
	&weft__agent__v1__service__descriptor,
	&weft__agent__v1__authorization__descriptor,
};

/* One held resource. */
typedef struct xres {
	struct xres *next;           /* hash chain */
	char *name, *version;
	ProtobufCMessage *msg;       /* decoded, owned */
} xres_t;

typedef struct xtype {
	xres_t **tab;
	size_t cap, n;
	bool answered;
	weft_series_t *g_res;
} xtype_t;

struct weft_xdsc {
	weft_agent_t *a;
	weft_grpc_ccall_t *call;     /* the current stream, or NULL */
	xtype_t t[NTYPES];
	uint64_t generation;
	bool dirty;
	weft_timer_t build;
	weft_timer_t restart;        /* re-opens a stream the server ended */
	weft_series_t *g_connected;  /* telemetry's metrics (NULL without a->tm) */
	weft_metric_t *m_updates, *m_nacks;
};

/* ---- maps ---- */

static size_t slot(const xtype_t *t, const char *name)
{
	return (size_t)weft_fnv1a64(WEFT_FNV1A64_INIT, name, strlen(name)) & (t->cap - 1);
}

static xres_t **find(xtype_t *t, const char *name)
{
	xres_t **p;

	if (!t->cap)
		return NULL;
	for (p = &t->tab[slot(t, name)]; *p; p = &(*p)->next)
		if (!strcmp((*p)->name, name))
			return p;
	return NULL;
}

static void res_free(xres_t *r)
{
	if (r->msg)
		protobuf_c_message_free_unpacked(r->msg, NULL);
	free(r->name);
	free(r->version);
	free(r);
}

static int grow(xtype_t *t)
{
	size_t ncap = t->cap ? t->cap * 2 : 64;
	xres_t **nt = calloc(ncap, sizeof(*nt));
	xtype_t tmp = { .tab = nt, .cap = ncap };

	if (!nt)
		return WEFT_ENOMEM;
	for (size_t i = 0; i < t->cap; i++) {
		for (xres_t *r = t->tab[i], *n; r; r = n) {
			size_t s = slot(&tmp, r->name);

			n = r->next;
			r->next = nt[s];
			nt[s] = r;
		}
	}
	free(t->tab);
	t->tab = nt;
	t->cap = ncap;
	return WEFT_OK;
}

/* Puts r in t, replacing (and freeing) a resource of the same name. */
static int put(xtype_t *t, xres_t *r)
{
	xres_t **p = find(t, r->name);

	if (p) {
		xres_t *old = *p;

		r->next = old->next;
		*p = r;
		res_free(old);
		return WEFT_OK;
	}
	if ((t->n + 1) * 4 > t->cap * 3 && grow(t) != WEFT_OK)
		return WEFT_ENOMEM;
	r->next = t->tab[slot(t, r->name)];
	t->tab[slot(t, r->name)] = r;
	t->n++;
	return WEFT_OK;
}

static void del(xtype_t *t, const char *name)
{
	xres_t **p = find(t, name), *r;

	if (!p)
		return;
	r = *p;
	*p = r->next;
	res_free(r);
	t->n--;
}

static void type_clear(xtype_t *t)
{
	for (size_t i = 0; i < t->cap; i++)
		for (xres_t *r = t->tab[i], *n; r; r = n) {
			n = r->next;
			res_free(r);
		}
	free(t->tab);
	t->tab = NULL;
	t->cap = t->n = 0;
}

/* ---- the view ---- */

static void **collect(xtype_t *t)
{
	void **v = malloc((t->n ? t->n : 1) * sizeof(*v));
	size_t k = 0;

	if (!v)
		return NULL;
	for (size_t i = 0; i < t->cap; i++)
		for (xres_t *r = t->tab[i]; r; r = r->next)
			v[k++] = r->msg;
	return v;
}

static void build_cb(weft_loop_t *l, weft_timer_t *tm)
{
	struct weft_xdsc *x = tm->data;
	void **w, **s, **z;
	weft_av_t *v = NULL;
	char err[256] = "";

	if (!x->dirty)
		return;
	x->dirty = false;
	for (int i = 0; i < NTYPES; i++)
		if (!x->t[i].answered)
			return;   /* not synced yet: the first view waits for every type */
	w = collect(&x->t[0]);
	s = collect(&x->t[1]);
	z = collect(&x->t[2]);
	if (w && s && z)
		v = weft_av_build(x->a->o.node, ++x->generation,
				  (Weft__Agent__V1__Workload *const *)w, x->t[0].n,
				  (Weft__Agent__V1__Service *const *)s, x->t[1].n,
				  (Weft__Agent__V1__Authorization *const *)z, x->t[2].n, err, sizeof(err));
	free(w);
	free(s);
	free(z);
	if (err[0])
		weft_warn("xds", "view %llu: skipped an invalid entry: %s", (unsigned long long)x->generation, err);
	if (!v) {
		weft_err("xds", "cannot build a view (%s); keeping the current one", err[0] ? err : "no memory");
		return;
	}
	weft_debug("xds", "view %llu: %zu workloads, %zu services, %zu authorizations",
		   (unsigned long long)x->generation, x->t[0].n, x->t[1].n, x->t[2].n);
	weft_agent_set_view(x->a, v);
}

/* ---- requests ---- */

static int send_req(struct weft_xdsc *x, int ti, bool first, const char *nonce, const char *nack)
{
	Envoy__Service__Discovery__V3__DeltaDiscoveryRequest rq =
		ENVOY__SERVICE__DISCOVERY__V3__DELTA_DISCOVERY_REQUEST__INIT;
	Envoy__Config__Core__V3__Node node = ENVOY__CONFIG__CORE__V3__NODE__INIT;
	Google__Rpc__Status st = GOOGLE__RPC__STATUS__INIT;
	Envoy__Service__Discovery__V3__DeltaDiscoveryRequest__InitialResourceVersionsEntry *ents = NULL, **pents = NULL;
	xtype_t *t = &x->t[ti];
	char *star = "*";
	size_t k = 0;
	int rc;

	if (!x->call)
		return WEFT_ECLOSED;
	rq.type_url = (char *)type_urls[ti];
	if (first) {
		node.id = (char *)x->a->o.node;
		node.user_agent_name = "weft-agent";
		rq.node = &node;
		rq.n_resource_names_subscribe = 1;
		rq.resource_names_subscribe = &star;
		if (t->n) {
			ents = calloc(t->n, sizeof(*ents));
			pents = calloc(t->n, sizeof(*pents));
			if (!ents || !pents) {
				free(ents);
				free(pents);
				return WEFT_ENOMEM;
			}
			for (size_t i = 0; i < t->cap; i++)
				for (xres_t *r = t->tab[i]; r; r = r->next, k++) {
					Envoy__Service__Discovery__V3__DeltaDiscoveryRequest__InitialResourceVersionsEntry e =
						ENVOY__SERVICE__DISCOVERY__V3__DELTA_DISCOVERY_REQUEST__INITIAL_RESOURCE_VERSIONS_ENTRY__INIT;

					e.key = r->name;
					e.value = r->version;
					ents[k] = e;
					pents[k] = &ents[k];
				}
			rq.n_initial_resource_versions = k;
			rq.initial_resource_versions = pents;
		}
	}
	if (nonce)
		rq.response_nonce = (char *)nonce;
	if (nack) {
		st.code = 3;   /* INVALID_ARGUMENT */
		st.message = (char *)nack;
		rq.error_detail = &st;
	}
	rc = weft_grpc_call_send_pb(x->call, &rq.base);
	free(ents);
	free(pents);
	return rc;
}

/* ---- responses ---- */

/* Decodes every resource of r into out (n entries). Returns WEFT_OK or
 * WEFT_EPROTO with err naming the first bad one. */
static int decode_all(int ti, const Envoy__Service__Discovery__V3__DeltaDiscoveryResponse *r, xres_t **out,
		      char *err, size_t errlen)
{
	for (size_t i = 0; i < r->n_resources; i++) {
		const Envoy__Service__Discovery__V3__Resource *rs = r->resources[i];
		const char *nm = rs->name ? rs->name : "";

		if (!*nm) {
			snprintf(err, errlen, "resource %zu has no name", i);
			return WEFT_EPROTO;
		}
		if (!rs->resource || strcmp(rs->resource->type_url ? rs->resource->type_url : "", type_urls[ti])) {
			snprintf(err, errlen, "%.200s: missing body or not a %s", nm, type_urls[ti]);
			return WEFT_EPROTO;
		}
		if (!(out[i] = calloc(1, sizeof(*out[i]))) || !(out[i]->name = strdup(nm)) ||
		    !(out[i]->version = strdup(rs->version ? rs->version : ""))) {
			snprintf(err, errlen, "no memory");
			return WEFT_ENOMEM;
		}
		out[i]->msg = protobuf_c_message_unpack(type_desc[ti], NULL, rs->resource->value.len,
							rs->resource->value.data);
		if (!out[i]->msg) {
			snprintf(err, errlen, "%.200s: undecodable %s", nm, type_short[ti]);
			return WEFT_EPROTO;
		}
	}
	return WEFT_OK;
}

int weft_xdsc_apply(struct weft_xdsc *x, const uint8_t *p, size_t n, char *err, size_t errlen)
{
	Envoy__Service__Discovery__V3__DeltaDiscoveryResponse *r;
	xres_t **dec = NULL;
	int ti = -1, rc = WEFT_OK;
	char e2[300] = "";

	r = envoy__service__discovery__v3__delta_discovery_response__unpack(NULL, n, p);
	if (!r) {
		snprintf(err, errlen, "undecodable DeltaDiscoveryResponse");
		weft_series_inc(weft_metric_with(x->m_nacks, "unknown"));
		return WEFT_EPROTO;   /* no nonce to NACK: the stream is reset by the caller */
	}
	for (int i = 0; i < NTYPES; i++)
		if (r->type_url && !strcmp(r->type_url, type_urls[i]))
			ti = i;
	if (ti < 0) {
		snprintf(e2, sizeof(e2), "unknown type %.200s", r->type_url ? r->type_url : "");
		rc = WEFT_EPROTO;
	} else if (r->n_resources && !(dec = calloc(r->n_resources, sizeof(*dec)))) {
		snprintf(e2, sizeof(e2), "no memory");
		rc = WEFT_EPROTO;
	} else if (decode_all(ti, r, dec, e2, sizeof(e2)) != WEFT_OK) {
		rc = WEFT_EPROTO;
	}
	if (rc == WEFT_OK) {
		xtype_t *t = &x->t[ti];

		for (size_t i = 0; i < r->n_removed_resources; i++)
			del(t, r->removed_resources[i]);
		for (size_t i = 0; i < r->n_resources; i++) {
			if (put(t, dec[i]) != WEFT_OK)
				res_free(dec[i]);
			dec[i] = NULL;
		}
		t->answered = true;
		x->dirty = true;
		weft_series_set(t->g_res, (double)t->n);
		weft_series_inc(weft_metric_with(x->m_updates, type_short[ti]));
		weft_timer_start(x->a->loop, &x->build, 0);
		weft_debug("xds", "%s: %zu updated, %zu removed, %zu held (nonce %s)", type_short[ti],
			   r->n_resources, r->n_removed_resources, t->n, r->nonce);
		send_req(x, ti, false, r->nonce, NULL);
	} else {
		snprintf(err, errlen, "%s", e2);
		weft_series_inc(weft_metric_with(x->m_nacks, ti >= 0 ? type_short[ti] : "unknown"));
		weft_warn("xds", "NACK %s (nonce %s): %s; keeping the previous state",
			  ti >= 0 ? type_short[ti] : "response", r->nonce ? r->nonce : "", e2);
		if (ti >= 0)
			send_req(x, ti, false, r->nonce, e2);
	}
	if (dec) {
		for (size_t i = 0; i < r->n_resources; i++)
			if (dec[i])
				res_free(dec[i]);
		free(dec);
	}
	envoy__service__discovery__v3__delta_discovery_response__free_unpacked(r, NULL);
	return rc;
}

static int on_message(weft_grpc_ccall_t *call, const uint8_t *p, size_t n)
{
	struct weft_xdsc *x = call->ud;
	char err[300];

	if (!x || x->call != call)
		return -1;
	weft_controlc_healthy(x->a->ctl);
	if (weft_xdsc_apply(x, p, n, err, sizeof(err)) != WEFT_OK && !strcmp(err, "undecodable DeltaDiscoveryResponse"))
		return -1;   /* nothing to NACK against: restart the stream */
	return 0;
}

static void start_stream(struct weft_xdsc *x, weft_grpc_client_t *cl);

static void on_status(weft_grpc_ccall_t *call, int status, const char *msg)
{
	struct weft_xdsc *x = call->ud;

	if (!x || x->call != call)
		return;
	x->call = NULL;
	weft_series_set(x->g_connected, 0);
	weft_warn("xds", "ADS stream ended: grpc-status %d %s", status, msg ? msg : "");
	/* the connection may stay when only the stream ended: open a new one
	 * in a second (a lost connection restarts it through controlc) */
	weft_timer_start(x->a->loop, &x->restart, 1000);
}

static void restart_cb(weft_loop_t *l, weft_timer_t *t)
{
	struct weft_xdsc *x = t->data;

	start_stream(x, weft_controlc_client(x->a->ctl));
}

static const weft_grpc_ccall_cbs_t ads_cbs = { on_message, on_status };

static void start_stream(struct weft_xdsc *x, weft_grpc_client_t *cl)
{
	if (!cl || x->call)
		return;
	x->call = weft_grpc_call_start(cl, ADS_PATH, 0, &ads_cbs, x);
	if (!x->call) {
		weft_warn("xds", "cannot start the ADS stream");
		return;
	}
	for (int i = 0; i < NTYPES; i++)
		if (send_req(x, i, true, NULL, NULL) != WEFT_OK) {
			x->call->ud = NULL;
			weft_grpc_call_cancel(x->call);
			x->call = NULL;
			return;
		}
	weft_series_set(x->g_connected, 1);
}

/* ---- public ---- */

struct weft_xdsc *weft_xdsc_new(weft_agent_t *a)
{
	struct weft_xdsc *x = calloc(1, sizeof(*x));
	const weft_tm_metrics_t *tm = weft_tm_metrics(a->tm);
	weft_metric_t *m = tm->xds_resources;

	if (!x)
		return NULL;
	x->a = a;
	weft_timer_init(&x->build, build_cb, x);
	weft_timer_init(&x->restart, restart_cb, x);
	x->g_connected = weft_metric_with(tm->xds_connected);
	x->m_updates = tm->xds_updates;
	x->m_nacks = tm->xds_nacks;
	for (int i = 0; i < NTYPES; i++) {
		x->t[i].g_res = weft_metric_with(m, type_short[i]);
		weft_metric_with(x->m_updates, type_short[i]);
		weft_metric_with(x->m_nacks, type_short[i]);
	}
	return x;
}

void weft_xdsc_free(struct weft_xdsc *x)
{
	if (!x)
		return;
	weft_timer_stop(x->a->loop, &x->build);
	weft_timer_stop(x->a->loop, &x->restart);
	if (x->call) {
		x->call->ud = NULL;
		weft_grpc_call_cancel(x->call);
	}
	for (int i = 0; i < NTYPES; i++)
		type_clear(&x->t[i]);
	free(x);
}

void weft_xdsc_connected(struct weft_xdsc *x, weft_grpc_client_t *cl)
{
	if (!x)
		return;
	if (!cl) {
		if (x->call)
			x->call->ud = NULL;   /* its connection is going away */
		x->call = NULL;
		weft_series_set(x->g_connected, 0);
		return;
	}
	start_stream(x, cl);
}
