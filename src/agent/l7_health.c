/* weft — active health checks by the source side (DestinationPolicy
 * health): for every service in the view whose policy has health.set,
 * each endpoint is probed every interval through the up pool (as one of
 * this node's workloads that holds a credential): an HTTP GET of the path
 * (2xx: healthy) or grpc.health.v1.Health/Check (grpc-status 0 and status
 * SERVING). A probe without an answer within timeout fails. Results pass
 * the thresholds (unhealthy_threshold failures in a row mark it
 * unhealthy, healthy_threshold successes healthy again) before
 * weft_l7_set_health. Probes only run while the agent has a view. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "l7_out_int.h"
#include "weft/agent.h"
#include "weft/arena.h"
#include "weft/log.h"
#include "weft/loop.h"
#include "weft/str.h"

#define SCAN_MS 1000

typedef struct hc_ep {
	struct hc_ep *next;
	struct hc_state *hs;
	char *key;                   /* "<svc uid>|<endpoint uid>" */
	char *svc_uid, *ep_uid;
	uint64_t due_ms;
	uint32_t ok_run, fail_run;
	bool healthy;
	bool seen;                   /* still in the view at the last scan */
	weft_hstream_t *s;           /* the probe in flight */
	weft_timer_t to;
	int status, grpc_status;
	bool serving;
	bool grpc;                   /* this probe is a gRPC Check */
	weft_arena_t arena;
	weft_hmsg_t m;
} hc_ep_t;

typedef struct hc_state {
	weft_l7_t *l7;
	weft_timer_t scan;
	hc_ep_t *eps;
} hc_state_t;

static hc_state_t *hstate(weft_l7_t *l7)
{
	return *l7_health_slot(l7);
}

static void result(hc_ep_t *e, bool ok)
{
	hc_state_t *st = e->hs;
	const weft_av_t *v = dp_view(st->l7->dp);
	const weft_av_service_t *svc = v ? weft_av_service(v, e->svc_uid) : NULL;
	const weft_dest_policy_t *pol = svc ? svc->policy : NULL;
	uint32_t ht = pol && pol->health.healthy_threshold ? pol->health.healthy_threshold : 1;
	uint32_t ut = pol && pol->health.unhealthy_threshold ? pol->health.unhealthy_threshold : 2;
	weft_l7_cluster_t *cl = svc ? weft_l7_cluster(st->l7->clusters, svc) : NULL;

	if (ok) {
		e->ok_run++;
		e->fail_run = 0;
		if (!e->healthy && e->ok_run >= ht) {
			e->healthy = true;
			weft_info("l7", "health %s: healthy", e->key);
			if (cl)
				weft_l7_set_health(cl, e->ep_uid, true);
		}
	} else {
		e->fail_run++;
		e->ok_run = 0;
		if (e->healthy && e->fail_run >= ut) {
			e->healthy = false;
			weft_info("l7", "health %s: unhealthy", e->key);
			if (cl)
				weft_l7_set_health(cl, e->ep_uid, false);
		}
	}
}

static void probe_done(hc_ep_t *e, bool ok)
{
	weft_hstream_t *s = e->s;

	weft_timer_stop(e->hs->l7->dp->a->loop, &e->to);
	if (s) {
		e->s = NULL;
		s->ud = NULL;
		s->ops->reset(s, WEFT_HS_CANCEL);
	}
	weft_arena_destroy(&e->arena);
	result(e, ok);
}

static void p_head(weft_hstream_t *s, const weft_http_head_t *h, bool end)
{
	hc_ep_t *e = s->ud;
	const weft_hdr_t *g;
	unsigned long long v;

	if (!e)
		return;
	e->status = h->status;
	if ((g = weft_http_hdr(h, "grpc-status")) && weft_str_to_u64(g->value, 99, &v) == 0)
		e->grpc_status = (int)v;
	if (end)
		probe_done(e, !e->grpc && h->status / 100 == 2);   /* gRPC trailers-only: never SERVING */
}

static void p_data(weft_hstream_t *s, const uint8_t *p, size_t n)
{
	hc_ep_t *e = s->ud;

	s->ops->consumed(s, n);
	/* HealthCheckResponse: 5-byte frame header, then field 1 (varint) = 1 SERVING */
	if (e && n >= 7 && p[5] == 0x08 && p[6] == 0x01)
		e->serving = true;
}

static void p_trailers(weft_hstream_t *s, const weft_hdr_t *t, size_t n)
{
	hc_ep_t *e = s->ud;
	unsigned long long v;

	if (!e)
		return;
	for (size_t i = 0; i < n; i++)
		if (weft_hdr_is(t[i].name, "grpc-status") && weft_str_to_u64(t[i].value, 99, &v) == 0)
			e->grpc_status = (int)v;
}

static void p_end(weft_hstream_t *s)
{
	hc_ep_t *e = s->ud;

	if (!e)
		return;
	probe_done(e, e->grpc ? e->status == 200 && e->grpc_status == 0 && e->serving
		       : e->status / 100 == 2);
}

static void p_writable(weft_hstream_t *s) { }

static void p_close(weft_hstream_t *s, weft_hs_err_t err)
{
	hc_ep_t *e = s->ud;

	if (!e)
		return;
	e->s = NULL;
	probe_done(e, false);
}

static const weft_hstream_cbs_t probe_cbs = {
	.on_head = p_head, .on_data = p_data, .on_trailers = p_trailers, .on_end = p_end,
	.on_writable = p_writable, .on_close = p_close,
};

static void probe_timeout(weft_loop_t *l, weft_timer_t *t)
{
	probe_done(t->data, false);
}

/* A local workload holding a credential: the probes' source. */
static const weft_av_workload_t *prober(weft_l7_t *l7, const weft_av_t *v)
{
	for (size_t i = 0; i < v->nworkloads; i++)
		if (weft_ident_cred(l7->dp->a->ident, v->workloads[i].ns, v->workloads[i].sa))
			return &v->workloads[i];
	return NULL;
}

static void probe(hc_ep_t *e, const weft_av_service_t *svc, const weft_av_endpoint_t *ep,
		  const weft_av_workload_t *w)
{
	const weft_dest_policy_t *pol = svc->policy;
	uint16_t port = 0;
	bool grpc = pol->health.grpc;
	static const char grpc_path[] = "/grpc.health.v1.Health/Check";
	uint8_t body[5 + 2 + 255];
	size_t nb = 0;

	for (size_t i = 0; i < svc->nports && !port; i++)
		port = svc->ports[i].target_port ? svc->ports[i].target_port : svc->ports[i].port;
	if (!port)
		return;
	e->status = 0;
	e->grpc_status = -1;
	e->serving = false;
	e->grpc = grpc;
	weft_arena_init(&e->arena, 1024);
	weft_hmsg_init(&e->m, &e->arena);
	e->m.h.ver = WEFT_HTTP_2;
	weft_hmsg_str(&e->m, &e->m.h.scheme, weft_str_c("http"));
	weft_hmsg_str(&e->m, &e->m.h.authority, weft_str_c(svc->hostname));
	weft_hmsg_set(&e->m, weft_str_c("x-weft-service"), weft_str_c(svc->uid));
	weft_hmsg_set(&e->m, weft_str_c("user-agent"), weft_str_c("weft-health-check"));
	if (grpc) {
		size_t sl = pol->health.path.len > 255 ? 255 : pol->health.path.len;
		weft_hmsg_str(&e->m, &e->m.h.method, weft_str_c("POST"));
		weft_hmsg_str(&e->m, &e->m.h.path, weft_str_c(grpc_path));
		weft_hmsg_set(&e->m, weft_str_c("content-type"), weft_str_c("application/grpc"));
		weft_hmsg_set(&e->m, weft_str_c("te"), weft_str_c("trailers"));
		/* HealthCheckRequest { string service = 1; } in one gRPC frame */
		nb = sl ? 2 + sl : 0;
		body[0] = 0;
		body[1] = body[2] = body[3] = 0;
		body[4] = (uint8_t)nb;
		if (sl) {
			body[5] = 0x0a;
			body[6] = (uint8_t)sl;
			memcpy(body + 7, pol->health.path.p, sl);
		}
		nb += 5;
	} else {
		weft_hmsg_str(&e->m, &e->m.h.method, weft_str_c("GET"));
		weft_hmsg_str(&e->m, &e->m.h.path, pol->health.path.len ? pol->health.path : weft_str_c("/healthz"));
	}
	e->s = l7_up_open(e->hs->l7, w, ep, port, NULL, &probe_cbs, e);
	if (!e->s) {
		weft_arena_destroy(&e->arena);
		result(e, false);
		return;
	}
	if (e->s->ops->send_head(e->s, &e->m.h, !nb) != WEFT_OK ||
	    (nb && e->s->ops->send_data(e->s, body, nb, true) < 0)) {
		probe_done(e, false);
		return;
	}
	e->to.cb = probe_timeout;
	weft_timer_start(e->hs->l7->dp->a->loop, &e->to, pol->health.timeout_ms ? pol->health.timeout_ms : 1000);
}

static hc_ep_t *ep_get(hc_state_t *st, const char *svc, const char *ep)
{
	char key[2 * WEFT_NAME_MAX + 8];
	hc_ep_t *e;

	snprintf(key, sizeof(key), "%s|%s", svc, ep);
	for (e = st->eps; e; e = e->next)
		if (!strcmp(e->key, key))
			return e;
	if (!(e = calloc(1, sizeof(*e))))
		return NULL;
	e->key = strdup(key);
	e->svc_uid = strdup(svc);
	e->ep_uid = strdup(ep);
	if (!e->key || !e->svc_uid || !e->ep_uid) {
		free(e->key);
		free(e->svc_uid);
		free(e->ep_uid);
		free(e);
		return NULL;
	}
	e->hs = st;
	e->healthy = true;   /* until checks say otherwise */
	weft_timer_init(&e->to, probe_timeout, e);
	e->next = st->eps;
	st->eps = e;
	return e;
}

static void ep_free(hc_ep_t *e)
{
	if (e->s)
		probe_done(e, false);
	weft_timer_stop(e->hs->l7->dp->a->loop, &e->to);
	free(e->key);
	free(e->svc_uid);
	free(e->ep_uid);
	free(e);
}

static void scan_cb(weft_loop_t *loop, weft_timer_t *t)
{
	hc_state_t *st = t->data;
	const weft_av_t *v = dp_view(st->l7->dp);
	const weft_av_workload_t *w = v ? prober(st->l7, v) : NULL;
	uint64_t now = weft_loop_now(loop);

	for (hc_ep_t *e = st->eps; e; e = e->next)
		e->seen = false;
	for (size_t i = 0; v && w && i < v->nservices; i++) {
		const weft_av_service_t *svc = &v->services[i];
		if (!svc->policy || !svc->policy->health.set)
			continue;
		for (size_t j = 0; j < svc->nendpoints; j++) {
			hc_ep_t *e = ep_get(st, svc->uid, svc->endpoints[j].workload);
			if (!e)
				continue;
			e->seen = true;
			if (e->s || now < e->due_ms)
				continue;
			e->due_ms = now + (svc->policy->health.interval_ms ? svc->policy->health.interval_ms : 5000);
			probe(e, svc, &svc->endpoints[j], w);
		}
	}
	for (hc_ep_t **pp = &st->eps; *pp;) {
		hc_ep_t *e = *pp;
		if (!e->seen && v) {
			*pp = e->next;
			ep_free(e);
			continue;
		}
		pp = &e->next;
	}
	weft_timer_start(loop, t, SCAN_MS);
}

void l7_health_start(weft_l7_t *l7)
{
	hc_state_t *st = calloc(1, sizeof(*st));

	if (!st)
		return;
	st->l7 = l7;
	weft_timer_init(&st->scan, scan_cb, st);
	weft_timer_start(l7->dp->a->loop, &st->scan, SCAN_MS);
	*l7_health_slot(l7) = st;
}

void l7_health_stop(weft_l7_t *l7)
{
	hc_state_t *st = hstate(l7);

	if (!st)
		return;
	weft_timer_stop(l7->dp->a->loop, &st->scan);
	while (st->eps) {
		hc_ep_t *e = st->eps;
		st->eps = e->next;
		ep_free(e);
	}
	free(st);
	*l7_health_slot(l7) = NULL;
}
