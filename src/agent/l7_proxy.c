/* weft — the source side of the L7 data path: one request's life.
 *
 * A downstream stream (the application's request, from l7_out.c's server
 * codec) is copied into a per-request arena, cleaned of identity headers
 * the client must not set, traced, routed (HTTPRoute/GRPCRoute), filtered,
 * possibly faulted, and sent as an HTTP/2 stream through the up pool to
 * an endpoint of the chosen backend (circuit breaker, LB, outlier
 * detection). Bodies stream with flow control; up to RETRY_BODY_MAX bytes
 * are kept so a retry can send them again. The response goes back in the
 * client's protocol; telemetry is recorded when the request ends. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "l7_fair.h"
#include "l7_out_int.h"
#include "weft/arena.h"
#include "weft/buf.h"
#include "weft/log.h"
#include "weft/loop.h"
#include "weft/net.h"
#include "weft/str.h"

#define RETRY_BODY_MAX (64u * 1024u)   /* bodies up to this are kept for retries and mirrors */
#define MAX_TRIES 8
#define CHUNK (16u * 1024u)

typedef struct l7_req {
	struct l7_req *prev, *next;  /* dc->reqs */
	l7_dconn_t *dc;
	weft_l7_t *l7;
	weft_hstream_t *ds, *us;     /* downstream (server), upstream (client) */
	weft_arena_t arena;
	weft_av_t *view;             /* a reference: rules, services, policies stay valid */
	weft_hmsg_t req;
	bool grpc;
	bool routed;
	weft_l7_route_sel_t sel;
	const char *route;           /* "ns/name" or NULL */
	const weft_av_service_t *bsvc;   /* the backend service (in view) */
	uint16_t target_port;
	const weft_dest_policy_t *pol;
	weft_l7_cluster_t *cl;
	bool admitted, retry_held, counted;
	weft_span_t span;
	uint64_t start_us, start_ms;
	/* request body: bytes [base, base + len(body)) of the body stream */
	weft_buf_t body;
	uint64_t base, total, fwd, acked;
	bool noretry;                /* the body outgrew RETRY_BODY_MAX */
	bool ds_end, us_end_sent;
	weft_hdr_t *rtr;             /* request trailers */
	size_t nrtr;
	/* tries */
	unsigned attempts;
	const char *tried[MAX_TRIES];
	const char *ep_uid;          /* the current try's endpoint */
	const weft_av_endpoint_t *ep;    /* the last try's endpoint (in bsvc) */
	const weft_av_workload_t *w;     /* the source workload in view, once a try looked it up */
	char upstream[64];
	uint64_t try_ms;
	weft_timer_t t_req, t_try, t_wait;
	/* response */
	weft_hmsg_t resp;
	bool resp_held;              /* gRPC: head kept until data or trailers (retry on grpc-status) */
	bool resp_sent, resp_done;
	weft_buf_t rbuf;             /* response bytes the downstream could not take yet */
	bool rbuf_end;
	weft_hdr_t *rtrl;            /* response trailers waiting behind rbuf */
	size_t nrtrl;
	bool rtrl_pending;
	int status, grpc_status;
	char flags[32];
	bool done;                   /* telemetry recorded */
} l7_req_t;

static const weft_hstream_cbs_t ds_cbs, us_cbs;
static void start_try(l7_req_t *r);
static void finish(l7_req_t *r);

static uint64_t wall_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static weft_loop_t *loop_of(const l7_req_t *r) { return r->l7->dp->a->loop; }

static void add_flag(l7_req_t *r, const char *f)
{
	size_t n = strlen(r->flags);

	if (strstr(r->flags, f))
		return;
	snprintf(r->flags + n, sizeof(r->flags) - n, "%s%s", n ? "," : "", f);
}

/* A string of the request's head as a C string for the telemetry record.
 * Those strings are arena copies (weft_hmsg_*: weft_arena_strdup, which
 * ends them with a NUL), so they serve as they are; "" for a head that
 * never came; a copy should one ever lack its NUL. */
static const char *req_cstr(weft_arena_t *a, weft_str_t s)
{
	if (!s.p)
		return "";
	if (s.p[s.len] == '\0')
		return s.p;
	return weft_arena_strdup(a, s).p;
}

/* The grpc-status value of field f, or -1 (not one, or not a status). */
static int grpc_status_field(const weft_hdr_t *f)
{
	unsigned long long v;

	if (weft_hdr_is(f->name, "grpc-status") && weft_str_to_u64(f->value, 99, &v) == 0)
		return (int)v;
	return -1;
}

/* grpc-status in a field list, or -1. */
static int grpc_status_of(const weft_hdr_t *f, size_t n)
{
	int gs;

	for (size_t i = 0; i < n; i++)
		if ((gs = grpc_status_field(&f[i])) >= 0)
			return gs;
	return -1;
}

static void buffer_account(l7_req_t *r, int64_t delta)
{
	l7_tenant_t *tn = r->dc->tn;

	if (!tn || !delta)
		return;
	tn->buffer = delta < 0 && (uint64_t)-delta > tn->buffer ? 0 : tn->buffer + (uint64_t)delta;
	l7_tenant_update(r->l7, tn);
}

/* ---- upstream stream handling ---- */

static void us_detach(l7_req_t *r, bool reset)
{
	weft_hstream_t *us = r->us;

	weft_timer_stop(loop_of(r), &r->t_try);
	if (!us)
		return;
	r->us = NULL;
	us->ud = NULL;
	if (reset)
		us->ops->reset(us, WEFT_HS_CANCEL);
}

/* The current try ended with result (HTTP status, or 0 for a gateway
 * error) : outlier detection and latency. */
static void try_end(l7_req_t *r, int result, uint64_t retry_after_ms)
{
	uint64_t now = weft_loop_now(loop_of(r));

	if (!r->ep_uid)
		return;
	if (r->cl)
		weft_l7_try_end(r->cl, r->pol, r->ep_uid, result, (now - r->try_ms) * 1000u, retry_after_ms,
				now);
	if (r->retry_held) {
		weft_l7_done_retry(r->cl);
		r->retry_held = false;
	}
	r->ep_uid = NULL;
}

/* ---- answering downstream ---- */

/* Sends what waits in rbuf (and then the response's end or trailers). */
static void flush_resp(l7_req_t *r)
{
	while (r->ds && weft_buf_len(&r->rbuf)) {
		size_t n = weft_buf_len(&r->rbuf) > CHUNK ? CHUNK : weft_buf_len(&r->rbuf);
		bool last = n == weft_buf_len(&r->rbuf) && r->rbuf_end && !r->rtrl_pending;
		ssize_t k = r->ds->ops->send_data(r->ds, weft_buf_head(&r->rbuf), n, last);

		if (k < 0)
			return;
		weft_buf_consume(&r->rbuf, n);
		buffer_account(r, -(int64_t)n);
		if (r->us)
			r->us->ops->consumed(r->us, n);
		if (last) {
			r->rbuf_end = false;
			r->resp_done = true;
		}
	}
	if (!r->ds || weft_buf_len(&r->rbuf))
		return;
	if (r->rtrl_pending) {
		r->rtrl_pending = false;
		r->ds->ops->send_trailers(r->ds, r->rtrl, r->nrtrl);
		r->resp_done = true;
	} else if (r->rbuf_end) {
		r->rbuf_end = false;
		r->ds->ops->send_data(r->ds, NULL, 0, true);
		r->resp_done = true;
	}
	if (r->resp_done)
		finish(r);
}

/* A response made here (no upstream answer to pass on): status with a
 * short text body, or for gRPC a trailers-only answer with grpc_status.
 * When a response already started, the downstream stream is reset. */
static void local_reply(l7_req_t *r, int status, int grpc_status, const char *flag,
			const char *location)
{
	weft_hmsg_t m;
	char body[96];
	bool grpc = r->grpc && grpc_status >= 0;

	if (flag)
		add_flag(r, flag);
	us_detach(r, true);
	weft_timer_stop(loop_of(r), &r->t_wait);
	weft_timer_stop(loop_of(r), &r->t_req);
	if (!r->ds)
		return;
	if (r->resp_sent) {
		r->ds->ops->reset(r->ds, WEFT_HS_CANCEL);
		finish(r);
		return;
	}
	r->resp_sent = true;
	weft_hmsg_init(&m, &r->arena);
	m.h.status = grpc ? 200 : status;
	r->status = m.h.status;
	if (grpc) {
		char gs[16];
		snprintf(gs, sizeof(gs), "%d", grpc_status);
		weft_hmsg_set(&m, weft_str_c("content-type"), weft_str_c("application/grpc"));
		weft_hmsg_set(&m, weft_str_c("grpc-status"), weft_str_c(gs));
		if (flag)
			weft_hmsg_set(&m, weft_str_c("grpc-message"), weft_str_c(flag));
		r->grpc_status = grpc_status;
		r->ds->ops->send_head(r->ds, &m.h, true);
		r->resp_done = true;
		finish(r);
		return;
	}
	snprintf(body, sizeof(body), "%d %s\n", status, flag ? flag : "");
	weft_hmsg_set(&m, weft_str_c("content-type"), weft_str_c("text/plain"));
	if (location)
		weft_hmsg_set(&m, weft_str_c("location"), weft_str_c(location));
	{
		char cl[24];
		snprintf(cl, sizeof(cl), "%zu", strlen(body));
		weft_hmsg_set(&m, weft_str_c("content-length"), weft_str_c(cl));
		m.h.content_length = (int64_t)strlen(body);
	}
	if (r->ds->ops->send_head(r->ds, &m.h, false) == WEFT_OK) {
		if (r->ds->ops->send_data(r->ds, body, strlen(body), true) < 0)
			r->ds->ops->reset(r->ds, WEFT_HS_CANCEL);
	}
	r->resp_done = true;
	finish(r);
}

/* Sends the (filtered) upstream response head hd downstream (r->resp.h,
 * or us_head's uncopied head: the codecs take a head during the call). */
static void send_resp_head(l7_req_t *r, const weft_http_head_t *hd, bool end)
{
	r->resp_held = false;
	r->resp_sent = true;
	if (!r->ds)
		return;
	if (r->ds->ops->send_head(r->ds, hd, end) != WEFT_OK) {
		r->ds->ops->reset(r->ds, WEFT_HS_CANCEL);
		return;
	}
	if (end) {
		r->resp_done = true;
		finish(r);
	}
}

/* ---- telemetry ---- */

/* w's "app" and "version" labels (NULL when absent), in one pass. */
static void app_version(const weft_av_workload_t *w, const char **app, const char **version)
{
	*app = *version = NULL;
	for (size_t i = 0; i < w->nlabels && (!*app || !*version); i++) {
		const char *k = w->labels[i].key;
		if (k[0] == 'a' && !*app && !strcmp(k, "app"))
			*app = w->labels[i].value;
		else if (k[0] == 'v' && !*version && !strcmp(k, "version"))
			*version = w->labels[i].value;
	}
}

static void finish(l7_req_t *r)
{
	const weft_av_t *v = r->view;
	const weft_av_workload_t *w = r->w ? r->w : v ? weft_av_workload(v, r->dc->wl_uid) : NULL;
	const weft_av_endpoint_t *ep = r->ep;
	weft_l7_rec_t rec;

	if (r->done)
		return;
	r->done = true;
	weft_timer_stop(loop_of(r), &r->t_req);
	if (r->admitted) {
		weft_l7_done_request(r->cl);
		r->admitted = false;
	}
	memset(&rec, 0, sizeof(rec));
	rec.l.destination = false;
	if (w) {
		rec.l.src_workload = w->name;
		rec.l.src_ns = w->ns;
		rec.l.src_principal = w->spiffe;
		app_version(w, &rec.l.src_app, &rec.l.src_version);
	}
	if (r->bsvc) {
		rec.l.dst_service = r->bsvc->hostname;
		rec.l.dst_service_name = r->bsvc->name;
		rec.l.dst_service_ns = r->bsvc->ns;
	}
	if (ep) {
		rec.l.dst_workload = ep->name;
		rec.l.dst_ns = ep->ns;
		rec.l.dst_principal = ep->spiffe;
		rec.l.dst_app = ep->app;
		rec.l.dst_version = ep->version;
	}
	rec.l.mtls = true;
	rec.l.response_flags = r->flags[0] ? r->flags : "-";
	rec.l.dst_addr = r->upstream[0] ? r->upstream : NULL;
	if (r->dc->origlen && !r->dc->orig_s[0])
		weft_net_format_addr((struct sockaddr *)&r->dc->orig, r->dc->orig_s, sizeof(r->dc->orig_s));
	rec.l.orig_dst = r->dc->orig_s;
	rec.grpc = r->grpc;
	rec.status = r->status;
	rec.grpc_status = r->grpc_status;
	rec.start_us = r->start_us;
	rec.duration_us = (weft_loop_now(loop_of(r)) - r->start_ms) * 1000u;
	rec.req_bytes = r->total;
	rec.resp_bytes = r->ds ? r->ds->bytes_out : 0;
	rec.method = req_cstr(&r->arena, r->req.h.method);
	rec.path = req_cstr(&r->arena, r->req.h.path);
	rec.authority = req_cstr(&r->arena, r->req.h.authority);
	/* the first user-agent and x-request-id fields, in one pass */
	for (size_t i = 0; i < r->req.h.nhdrs && (!rec.user_agent || !rec.request_id); i++) {
		const weft_hdr_t *f = &r->req.h.hdrs[i];
		if (!rec.user_agent && weft_hdr_is(f->name, "user-agent"))
			rec.user_agent = req_cstr(&r->arena, f->value);
		else if (!rec.request_id && weft_hdr_is(f->name, "x-request-id"))
			rec.request_id = req_cstr(&r->arena, f->value);
	}
	rec.protocol = r->req.h.ver == WEFT_HTTP_2 ? "HTTP/2" : r->req.h.ver == WEFT_HTTP_10 ? "HTTP/1.0" : "HTTP/1.1";
	rec.route = r->route;
	rec.upstream = r->upstream[0] ? r->upstream : NULL;
	rec.attempts = r->attempts;
	if (r->span.trace_id[0]) {
		rec.trace_id = r->span.trace_id;
		rec.span_id = r->span.span_id;
	}
	weft_l7_tel_request(r->l7->tel, &rec);
	if (r->span.trace_id[0])
		weft_trace_end(r->l7->tel, &r->span, &rec);
}

/* ---- request body towards the upstream ---- */

static void flush_body(l7_req_t *r)
{
	weft_hstream_t *us;

	while ((us = r->us) && r->fwd < r->base + weft_buf_len(&r->body)) {
		size_t off = (size_t)(r->fwd - r->base), left = weft_buf_len(&r->body) - off;
		size_t n = left > CHUNK ? CHUNK : left;
		bool end = n == left && r->ds_end && !r->nrtr;
		ssize_t k = us->ops->send_data(us, weft_buf_head(&r->body) + off, n, end);

		if (k < 0)
			return;   /* EAGAIN: on_writable; ECLOSED: on_close */
		r->fwd += n;
		if (end)
			r->us_end_sent = true;
	}
	if (r->fwd > r->acked) {
		if (r->ds)
			r->ds->ops->consumed(r->ds, (size_t)(r->fwd - r->acked));
		r->acked = r->fwd;
	}
	if (r->noretry && r->fwd > r->base) {
		size_t drop = (size_t)(r->fwd - r->base);
		weft_buf_consume(&r->body, drop);
		r->base += drop;
		buffer_account(r, -(int64_t)drop);
	}
	if ((us = r->us) && r->ds_end && !r->us_end_sent && r->fwd == r->base + weft_buf_len(&r->body)) {
		r->us_end_sent = true;
		if (r->nrtr)
			us->ops->send_trailers(us, r->rtr, r->nrtr);
		else
			us->ops->send_data(us, NULL, 0, true);
	}
}

/* ---- retries ---- */

static const weft_dest_policy_t *retry_pol(const l7_req_t *r, uint32_t *on, uint32_t *attempts)
{
	if (r->pol && r->pol->retry.set) {
		*on = r->pol->retry.retry_on;
		*attempts = r->pol->retry.attempts;
	} else {
		/* no policy: only what never reached the application */
		*on = WEFT_RETRY_CONNECT_FAILURE | WEFT_RETRY_REFUSED_STREAM;
		*attempts = 2;
	}
	return r->pol;
}

/* Whether a try's outcome asks for a retry under the policy: status (0:
 * no response), grpc (-1: none), err (why the stream ended, for status 0). */
static bool retriable(const l7_req_t *r, int status, int grpc, weft_hs_err_t err)
{
	uint32_t on, n;

	retry_pol(r, &on, &n);
	if (status == 0) {
		if (err == WEFT_HS_CONNECT_FAILED)
			return on & (WEFT_RETRY_CONNECT_FAILURE | WEFT_RETRY_GATEWAY_ERROR | WEFT_RETRY_5XX);
		if (err == WEFT_HS_REFUSED)
			return on & (WEFT_RETRY_REFUSED_STREAM | WEFT_RETRY_RESET | WEFT_RETRY_5XX);
		return on & (WEFT_RETRY_RESET | WEFT_RETRY_GATEWAY_ERROR | WEFT_RETRY_5XX);
	}
	if (status >= 500 && (on & WEFT_RETRY_5XX))
		return true;
	if ((status == 502 || status == 503 || status == 504) && (on & WEFT_RETRY_GATEWAY_ERROR))
		return true;
	if (status == 409 && (on & WEFT_RETRY_RETRIABLE_4XX))
		return true;
	if ((on & WEFT_RETRY_RETRIABLE_STATUS) && r->pol)
		for (size_t i = 0; i < r->pol->retry.nstatus; i++)
			if ((int)r->pol->retry.retriable_status[i] == status)
				return true;
	switch (grpc) {
	case 1: return on & WEFT_RETRY_CANCELLED;
	case 4: return on & WEFT_RETRY_DEADLINE_EXCEEDED;
	case 8: return on & WEFT_RETRY_RESOURCE_EXHAUSTED;
	case 13: return on & WEFT_RETRY_INTERNAL;
	case 14: return on & WEFT_RETRY_UNAVAILABLE;
	default: return false;
	}
}

static void wait_cb(weft_loop_t *l, weft_timer_t *t)
{
	start_try(t->data);
}

/* Tries again when allowed (response not started, body kept, attempts
 * and the budget left): true when a retry is scheduled. */
static bool try_again(l7_req_t *r)
{
	uint32_t on, n;

	retry_pol(r, &on, &n);
	if (r->resp_sent || r->noretry || !r->ds || r->attempts > n || r->attempts >= MAX_TRIES)
		return false;
	if (!r->cl || !weft_l7_admit_retry(r->cl, r->pol)) {
		add_flag(r, WEFT_TM_FLAG_URX);
		return false;
	}
	r->retry_held = true;
	r->t_wait.cb = wait_cb;
	weft_timer_start(loop_of(r), &r->t_wait, weft_l7_backoff_ms(r->pol, r->attempts, &r->l7->rnd));
	return true;
}

/* The try failed without a response (connect failure, reset, timeout). */
static void try_failed(l7_req_t *r, weft_hs_err_t err, bool timeout)
{
	try_end(r, 0, 0);
	if (retriable(r, 0, -1, err) && try_again(r))
		return;
	if (r->resp_sent) {
		add_flag(r, WEFT_TM_FLAG_UC);
		if (r->ds)
			r->ds->ops->reset(r->ds, WEFT_HS_CANCEL);
		finish(r);
		return;
	}
	if (timeout)
		local_reply(r, 504, 4, WEFT_TM_FLAG_UT, NULL);
	else if (err == WEFT_HS_CONNECT_FAILED)
		local_reply(r, 503, 14, WEFT_TM_FLAG_UF, NULL);
	else
		local_reply(r, 503, 14, WEFT_TM_FLAG_UC, NULL);
}

static void try_timeout(weft_loop_t *l, weft_timer_t *t)
{
	l7_req_t *r = t->data;

	us_detach(r, true);
	try_failed(r, WEFT_HS_TIMEOUT, true);
}

static void req_timeout(weft_loop_t *l, weft_timer_t *t)
{
	l7_req_t *r = t->data;

	try_end(r, 0, 0);
	weft_timer_stop(l, &r->t_wait);
	local_reply(r, 504, 4, WEFT_TM_FLAG_UT, NULL);
}

static bool exclude_tried(void *arg, const weft_av_endpoint_t *e)
{
	const l7_req_t *r = arg;

	for (unsigned i = 0; i < r->attempts && i < MAX_TRIES; i++)
		if (r->tried[i] && !strcmp(r->tried[i], e->workload))
			return true;
	return false;
}

static bool any_untried(const l7_req_t *r)
{
	for (size_t i = 0; i < r->bsvc->nendpoints; i++)
		if (!exclude_tried((void *)r, &r->bsvc->endpoints[i]))
			return true;
	return false;
}

/* Picks an endpoint and opens the upstream stream (first try or retry). */
static void start_try(l7_req_t *r)
{
	const weft_av_workload_t *w = r->w ? r->w : (r->w = weft_av_workload(r->view, r->dc->wl_uid));
	const weft_av_endpoint_t *ep;
	uint64_t hash = 0, now = weft_loop_now(loop_of(r)), per_try = 0;
	bool has_hash;
	size_t n;

	if (!w) {
		local_reply(r, 503, 14, WEFT_TM_FLAG_UH, NULL);
		return;
	}
	has_hash = r->pol && weft_l7_request_hash(r->pol, &r->req.h, &r->dc->src, &hash);
	/* a retry goes elsewhere when somewhere else is left */
	ep = weft_l7_pick(r->cl, r->bsvc, r->pol, &w->locality, has_hash, hash,
			  r->attempts && any_untried(r) ? exclude_tried : NULL, r, &r->l7->rnd, now);
	if (!ep) {
		if (r->retry_held) {
			weft_l7_done_retry(r->cl);
			r->retry_held = false;
		}
		local_reply(r, 503, 14, WEFT_TM_FLAG_UH, NULL);
		return;
	}
	/* endpoint strings live in r->view, which r holds */
	r->tried[r->attempts < MAX_TRIES ? r->attempts : MAX_TRIES - 1] = ep->workload;
	r->ep = ep;
	r->attempts++;
	r->ep_uid = r->tried[r->attempts <= MAX_TRIES ? r->attempts - 1 : MAX_TRIES - 1];
	r->try_ms = now;
	n = weft_ip_port_format(&ep->addr, r->target_port, r->upstream, sizeof(r->upstream));
	weft_l7_try_start(r->cl, r->ep_uid);
	r->fwd = r->base;
	r->us_end_sent = false;
	r->us = l7_up_open(r->l7, w, ep, r->target_port, n + 1 < sizeof(r->upstream) ? r->upstream : NULL,
			   &us_cbs, r);
	if (!r->us) {
		try_failed(r, WEFT_HS_CONNECT_FAILED, false);
		return;
	}
	r->us_end_sent = r->ds_end && !r->total && !r->nrtr;
	if (r->us->ops->send_head(r->us, &r->req.h, r->us_end_sent) != WEFT_OK) {
		us_detach(r, true);
		try_failed(r, WEFT_HS_CONNECT_FAILED, false);
		return;
	}
	if (r->routed && r->sel.rule->timeout_backend_ms)
		per_try = r->sel.rule->timeout_backend_ms;
	else if (r->pol && r->pol->retry.set && r->pol->retry.per_try_timeout_ms)
		per_try = r->pol->retry.per_try_timeout_ms;
	if (per_try) {
		r->t_try.cb = try_timeout;
		weft_timer_start(loop_of(r), &r->t_try, per_try);
	}
	flush_body(r);
}

/* ---- mirrors: fire and forget ---- */

typedef struct mirror {
	weft_arena_t arena;
	weft_hmsg_t m;
	weft_hstream_t *s;
	weft_l7_t *l7;
	l7_tenant_t *tn;             /* charged `held` body bytes until the stream closes */
	uint64_t held;
} mirror_t;

static void m_head(weft_hstream_t *s, const weft_http_head_t *h, bool end) { }
static void m_data(weft_hstream_t *s, const uint8_t *p, size_t n) { s->ops->consumed(s, n); }
static void m_trailers(weft_hstream_t *s, const weft_hdr_t *t, size_t n) { }
static void m_end(weft_hstream_t *s) { }
static void m_writable(weft_hstream_t *s) { }
static void m_close(weft_hstream_t *s, weft_hs_err_t err)
{
	mirror_t *m = s->ud;

	if (!m)
		return;
	l7_fair_give(m->l7, m->tn, L7_FAIR_BUFFER, m->held);
	weft_arena_destroy(&m->arena);
	free(m);
}

static const weft_hstream_cbs_t mirror_cbs = {
	.on_head = m_head, .on_data = m_data, .on_trailers = m_trailers, .on_end = m_end,
	.on_writable = m_writable, .on_close = m_close,
};

static void mirror_one(l7_req_t *r, const weft_filter_t *f)
{
	const weft_backend_ref_t *b = &f->mirror.backend;
	const weft_av_workload_t *w = weft_av_workload(r->view, r->dc->wl_uid);
	char uid[2 * WEFT_NAME_MAX + 2];
	const weft_av_service_t *svc;
	const weft_av_endpoint_t *ep;
	uint16_t tport = b->port;
	mirror_t *m;
	char *host;

	if (f->mirror.percent_ppm < 1000000u && weft_l7_rand(&r->l7->rnd) % 1000000u >= f->mirror.percent_ppm)
		return;
	if (b->ns.len)
		snprintf(uid, sizeof(uid), "%.*s/%.*s", (int)b->ns.len, b->ns.p, (int)b->name.len, b->name.p);
	else
		snprintf(uid, sizeof(uid), "%s/%.*s", r->bsvc ? r->bsvc->ns : "", (int)b->name.len, b->name.p);
	if (!w || !(svc = weft_av_service(r->view, uid)) || !svc->nendpoints)
		return;
	for (size_t i = 0; i < svc->nports; i++)
		if (svc->ports[i].port == b->port && svc->ports[i].target_port)
			tport = svc->ports[i].target_port;
	ep = &svc->endpoints[weft_l7_rand(&r->l7->rnd) % svc->nendpoints];
	/* the mirror's copy of the body is the workload's until it is sent:
	 * no room in its buffer share, no mirror (counted as a rejection) */
	if (!l7_fair_take(r->l7, r->dc->tn, L7_FAIR_BUFFER, weft_buf_len(&r->body)))
		return;
	if (!(m = calloc(1, sizeof(*m)))) {
		l7_fair_give(r->l7, r->dc->tn, L7_FAIR_BUFFER, weft_buf_len(&r->body));
		return;
	}
	m->l7 = r->l7;
	m->tn = r->dc->tn;
	m->held = m->tn ? weft_buf_len(&r->body) : 0;
	weft_arena_init(&m->arena, 2048);
	if (weft_hmsg_copy(&m->m, &m->arena, &r->req.h) != WEFT_OK) {
		l7_fair_give(m->l7, m->tn, L7_FAIR_BUFFER, m->held);
		weft_arena_destroy(&m->arena);
		free(m);
		return;
	}
	host = weft_arena_printf(&m->arena, "%.*s-shadow", (int)r->req.h.authority.len, r->req.h.authority.p);
	weft_hmsg_str(&m->m, &m->m.h.authority, weft_str_c(host ? host : ""));
	weft_hmsg_set(&m->m, weft_str_c("x-weft-service"), weft_str_c(svc->uid));
	if (!(m->s = l7_up_open(r->l7, w, ep, tport, NULL, &mirror_cbs, m))) {
		l7_fair_give(m->l7, m->tn, L7_FAIR_BUFFER, m->held);
		weft_arena_destroy(&m->arena);
		free(m);
		return;
	}
	/* the stream now owns m (freed in m_close, which gives `held` back) */
	if (m->s->ops->send_head(m->s, &m->m.h, !r->total && !r->nrtr) != WEFT_OK)
		m->s->ops->reset(m->s, WEFT_HS_CANCEL);
	else if (r->total && m->s->ops->send_data(m->s, weft_buf_head(&r->body), weft_buf_len(&r->body),
						  !r->nrtr) < 0)
		m->s->ops->reset(m->s, WEFT_HS_CANCEL);
	else if (r->nrtr)
		m->s->ops->send_trailers(m->s, r->rtr, r->nrtr);
}

static void start_mirrors(l7_req_t *r)
{
	const weft_filter_t *f[8];
	size_t n;

	if (!r->routed || r->noretry || r->base)
		return;   /* a body over 64 KiB is not mirrored */
	n = weft_l7_mirrors(r->sel.rule, f, 8);
	for (size_t i = 0; i < n; i++)
		mirror_one(r, f[i]);
}

/* ---- the downstream request ---- */

/* Drops client-sent identity and internal fields: x-forwarded-client-cert,
 * weft-*, x-weft-*. */
static void strip_internal(weft_hmsg_t *m)
{
	for (size_t i = 0; i < m->h.nhdrs;) {
		weft_str_t n = m->h.hdrs[i].name;
		/* every name dropped starts with x or w (the prefixes are
		 * compared exactly, as before: the copy keeps the client's case) */
		if (n.len >= 5 && (n.p[0] == 'x' || n.p[0] == 'X' || n.p[0] == 'w') &&
		    (weft_hdr_is(n, "x-forwarded-client-cert") ||
		     weft_str_starts(n, WEFT_STR_LIT("weft-")) || weft_str_starts(n, WEFT_STR_LIT("x-weft-")))) {
			weft_hmsg_remove(m, n);
			i = 0;
			continue;
		}
		i++;
	}
}

static const weft_av_port_t *port_of(const weft_av_service_t *svc, uint16_t port)
{
	for (size_t i = 0; i < svc->nports; i++)
		if (svc->ports[i].port == port)
			return &svc->ports[i];
	return NULL;
}

/* Decides where the request goes and starts the first try; a local
 * answer when it goes nowhere. */
static void route_and_go(l7_req_t *r)
{
	const weft_av_service_t *svc = weft_av_service(r->view, r->dc->svc_uid);
	const weft_av_port_t *p = svc ? port_of(svc, r->dc->port) : NULL, *bp;
	const char *buid;
	uint16_t bport;
	weft_l7_redirect_t redir = { 0 };
	weft_l7_fault_t fault;
	char tp[56];
	int rc;

	if (!p) {
		local_reply(r, 503, 14, WEFT_TM_FLAG_UH, NULL);
		return;
	}
	buid = svc->uid;
	bport = p->port;
	rc = weft_l7_route_select(p, &r->req.h, &r->sel);
	if (rc == WEFT_EAGAIN) {
		local_reply(r, 404, 12, WEFT_TM_FLAG_NR, NULL);
		return;
	}
	if (rc == WEFT_OK) {
		const weft_av_backend_t *b;

		r->routed = true;
		r->route = r->sel.rule->route;
		if (weft_l7_request_filters(&r->sel, &r->req, &redir) != WEFT_OK) {
			local_reply(r, 500, 13, NULL, NULL);
			return;
		}
		if (redir.status) {
			char *loc = weft_arena_printf(&r->arena, "%.*s", (int)redir.location.len, redir.location.p);
			local_reply(r, redir.status, -1, NULL, loc);
			return;
		}
		if (r->sel.rule->nbackends) {
			if (!(b = weft_l7_backend_pick(r->sel.rule, &r->l7->rnd))) {
				local_reply(r, 500, 14, NULL, NULL);
				return;
			}
			buid = b->svc;
			bport = b->port;
		}
		if (r->sel.rule->timeout_request_ms) {
			weft_timer_init(&r->t_req, req_timeout, r);
			weft_timer_start(loop_of(r), &r->t_req, r->sel.rule->timeout_request_ms);
		}
	}
	/* the service itself unless a backend names another (the same uid
	 * string finds the same service) */
	r->bsvc = buid == svc->uid ? svc : weft_av_service(r->view, buid);
	if (!r->bsvc || !(bp = port_of(r->bsvc, bport))) {
		local_reply(r, 500, 14, WEFT_TM_FLAG_UH, NULL);
		return;
	}
	r->target_port = bp->target_port ? bp->target_port : bp->port;
	r->pol = r->bsvc->policy;
	/* what the destination agent reads, and the trace */
	weft_hmsg_set(&r->req, WEFT_STR_LIT("x-weft-service"), weft_str_c(r->bsvc->uid));
	if (r->routed) {
		/* "ns/name#index" */
		char rv[2 * WEFT_NAME_MAX + 16];
		size_t n = strlen(r->sel.rule->route);
		if (n + 12 <= sizeof(rv)) {
			memcpy(rv, r->sel.rule->route, n);
			rv[n++] = '#';
			n += weft_u64_dec(rv + n, r->sel.rule->rule_index);
			weft_hmsg_set(&r->req, WEFT_STR_LIT("x-weft-route"), weft_str(rv, n));
		} else {
			char *lv = weft_arena_printf(&r->arena, "%s#%u", r->sel.rule->route, r->sel.rule->rule_index);
			weft_hmsg_set(&r->req, WEFT_STR_LIT("x-weft-route"), weft_str_c(lv ? lv : ""));
		}
	}
	weft_trace_header(&r->span, tp);
	weft_hmsg_set(&r->req, WEFT_STR_LIT("traceparent"), weft_str_c(tp));
	if (r->span.tracestate[0])
		weft_hmsg_set(&r->req, WEFT_STR_LIT("tracestate"), weft_str_c(r->span.tracestate));
	if (!(r->cl = weft_l7_cluster(r->l7->clusters, r->bsvc))) {
		local_reply(r, 503, 14, NULL, NULL);
		return;
	}
	if (r->pol && r->pol->outlier.set)
		l7_outlier_watch(r->l7, r->bsvc);
	if (r->pol && r->pol->fault.set) {
		weft_l7_fault_decide(r->pol, &r->req.h, &r->l7->rnd, &fault);
		if (fault.abort_http || fault.abort_grpc >= 0) {
			local_reply(r, fault.abort_http ? fault.abort_http : 200,
				    fault.abort_grpc >= 0 ? fault.abort_grpc : -1, WEFT_TM_FLAG_FI, NULL);
			return;
		}
	} else {
		fault.delay_ms = 0;
	}
	if (!weft_l7_admit_request(r->cl, r->pol)) {
		local_reply(r, 503, 14, WEFT_TM_FLAG_UO, NULL);
		return;
	}
	r->admitted = true;
	if (fault.delay_ms) {
		add_flag(r, WEFT_TM_FLAG_DI);
		r->t_wait.cb = wait_cb;
		weft_timer_start(loop_of(r), &r->t_wait, fault.delay_ms);
		return;
	}
	start_try(r);
}

static void ds_head(weft_hstream_t *s, const weft_http_head_t *h, bool end)
{
	l7_req_t *r = s->ud;
	l7_tenant_t *tn = r->dc->tn;
	const weft_hdr_t *ct;

	if (h->upgrade && r->dc->hc && r->dc->hc->ver != WEFT_HTTP_2) {
		l7_out_upgrade(r->dc, h);   /* WebSocket & co. pass through at L4 */
		return;
	}
	r->ds_end = end;
	if (weft_hmsg_copy(&r->req, &r->arena, h) != WEFT_OK) {
		local_reply(r, 500, 13, NULL, NULL);
		return;
	}
	ct = NULL;
	for (size_t i = 0; i < h->nhdrs && !ct; i++)
		if (weft_hdr_is(h->hdrs[i].name, "content-type"))
			ct = &h->hdrs[i];
	r->grpc = ct && weft_str_starts(ct->value, WEFT_STR_LIT("application/grpc"));
	weft_trace_start(r->l7->tel, h, &r->span, &r->l7->rnd);
	strip_internal(&r->req);
	if (r->l7->max_requests && tn && tn->requests > r->l7->max_requests) {
		weft_l7_tel_limit_hit(r->l7->tel, tn->uid, "requests");
		local_reply(r, 503, 14, WEFT_TM_FLAG_OL, NULL);
		return;
	}
	if (!l7_fair_take(r->l7, tn, L7_FAIR_BUFFER, 0)) {   /* its buffer share is full */
		local_reply(r, 503, 14, WEFT_TM_FLAG_OL, NULL);
		return;
	}
	route_and_go(r);
	if (end && !r->done)
		start_mirrors(r);
}

static void ds_data(weft_hstream_t *s, const uint8_t *p, size_t n)
{
	l7_req_t *r = s->ud;
	l7_tenant_t *tn = r->dc->tn;

	r->total += n;
	if (r->done || r->resp_done) {
		s->ops->consumed(s, n);   /* answered already: drain */
		return;
	}
	if (r->l7->max_buffer && tn && tn->buffer + n > r->l7->max_buffer) {
		weft_l7_tel_limit_hit(r->l7->tel, tn->uid, "buffer");
		s->ops->consumed(s, n);
		local_reply(r, 503, 14, WEFT_TM_FLAG_OL, NULL);
		return;
	}
	if (weft_buf_append(&r->body, p, n) < 0) {
		s->ops->consumed(s, n);
		local_reply(r, 503, 14, NULL, NULL);
		return;
	}
	buffer_account(r, (int64_t)n);
	if (r->total > RETRY_BODY_MAX)
		r->noretry = true;
	flush_body(r);
}

static void ds_trailers(weft_hstream_t *s, const weft_hdr_t *t, size_t n)
{
	l7_req_t *r = s->ud;

	if (!(r->rtr = weft_arena_calloc(&r->arena, n ? n : 1, sizeof(*t))))
		return;
	for (size_t i = 0; i < n; i++) {
		r->rtr[i].name = weft_arena_strdup(&r->arena, t[i].name);
		r->rtr[i].value = weft_arena_strdup(&r->arena, t[i].value);
	}
	r->nrtr = n;
}

static void ds_end(weft_hstream_t *s)
{
	l7_req_t *r = s->ud;

	if (r->ds_end)
		return;
	r->ds_end = true;
	if (r->done)
		return;
	flush_body(r);
	start_mirrors(r);
}

static void ds_writable(weft_hstream_t *s)
{
	flush_resp(s->ud);
}

static void req_free(l7_req_t *r)
{
	weft_loop_t *l = loop_of(r);
	l7_dconn_t *dc = r->dc;

	if (r->prev)
		r->prev->next = r->next;
	else
		dc->reqs = r->next;
	if (r->next)
		r->next->prev = r->prev;
	us_detach(r, true);
	try_end(r, 0, 0);
	weft_timer_stop(l, &r->t_req);
	weft_timer_stop(l, &r->t_wait);
	weft_timer_stop(l, &r->t_try);
	if (r->admitted)
		weft_l7_done_request(r->cl);
	if (r->retry_held)
		weft_l7_done_retry(r->cl);
	buffer_account(r, -(int64_t)(weft_buf_len(&r->body) + weft_buf_len(&r->rbuf)));
	if (r->counted && dc->tn) {
		dc->tn->requests--;
		l7_tenant_update(r->l7, dc->tn);
	}
	weft_buf_free(&r->body);
	weft_buf_free(&r->rbuf);
	if (r->view)
		weft_av_unref(r->view);
	if (!dc->spare) {
		/* the connection's next request reuses the block and the
		 * arena's first chunk (keep-alive: one request after another) */
		weft_arena_reset(&r->arena);
		dc->spare = r;
		return;
	}
	weft_arena_destroy(&r->arena);
	free(r);
}

void l7_req_spare_free(l7_dconn_t *dc)
{
	if (!dc->spare)
		return;
	weft_arena_destroy(&dc->spare->arena);
	free(dc->spare);
	dc->spare = NULL;
}

static void ds_close(weft_hstream_t *s, weft_hs_err_t err)
{
	l7_req_t *r = s->ud;

	if (!r)
		return;
	r->ds = NULL;
	s->ud = NULL;
	if (!r->done) {
		add_flag(r, WEFT_TM_FLAG_DC);   /* the client went away first */
		us_detach(r, true);
		finish(r);
	}
	req_free(r);
}

static const weft_hstream_cbs_t ds_cbs = {
	.on_head = ds_head, .on_data = ds_data, .on_trailers = ds_trailers, .on_end = ds_end,
	.on_writable = ds_writable, .on_close = ds_close,
};

/* ---- the upstream response ---- */

/* Whether the request's route rule edits response heads. */
static bool resp_filtered(const l7_req_t *r)
{
	const weft_av_route_rule_t *rule = r->routed ? r->sel.rule : NULL;

	for (size_t i = 0; rule && i < rule->nfilters; i++)
		if (rule->filters[i].type == WEFT_FILTER_RESPONSE_HEADER)
			return true;
	return false;
}

static void us_head(weft_hstream_t *s, const weft_http_head_t *h, bool end)
{
	l7_req_t *r = s->ud;
	const weft_hdr_t *f = NULL;
	size_t nsvc = 0;
	int gs = -1;
	uint64_t ra;

	if (!r)
		return;
	/* one pass: the first x-weft-upstream-error, grpc_status_of's
	 * grpc-status, and whether x-weft-service (dropped below) is there */
	for (size_t i = 0; i < h->nhdrs; i++) {
		const weft_hdr_t *x = &h->hdrs[i];
		if (!f && weft_hdr_is(x->name, "x-weft-upstream-error"))
			f = x;
		else if (weft_hdr_is(x->name, "x-weft-service"))
			nsvc++;
		else if (gs < 0)
			gs = grpc_status_field(x);
	}
	if (f) {
		/* the endpoint's agent could not reach the application (nothing
		 * was processed) or the application reset before answering: the
		 * try failed that way (retryOn connect-failure / reset) */
		bool cf = weft_str_eq_c(f->value, "connect-failure");
		us_detach(r, true);
		try_failed(r, cf ? WEFT_HS_CONNECT_FAILED : WEFT_HS_RESET, false);
		return;
	}
	ra = h->status == 429 || h->status == 503 ? weft_l7_retry_after_ms(h, (uint64_t)time(NULL)) : 0;
	if (h->status == 429 && !ra)
		ra = 1000;
	if (retriable(r, h->status, gs, WEFT_HS_OK) && !r->resp_sent) {
		try_end(r, h->status, ra);
		us_detach(r, true);
		if (try_again(r))
			return;
		r->status = h->status;
		/* no retry left: the answer we have is the answer */
		local_reply(r, h->status, gs >= 0 ? gs : 14, NULL, NULL);
		return;
	}
	weft_timer_stop(loop_of(r), &r->t_try);
	try_end(r, h->status, ra);
	r->status = h->status;
	if (gs >= 0)
		r->grpc_status = gs;
	if (!(r->grpc && !end && gs < 0) && !resp_filtered(r)) {
		/* sent now and not edited: no copy, only x-weft-service left out */
		weft_http_head_t out = *h;
		weft_hdr_t *kept;
		if (nsvc) {
			if (!(kept = weft_arena_alloc(&r->arena, (h->nhdrs - nsvc) * sizeof(*kept) + 1))) {
				us_detach(r, true);
				local_reply(r, 502, 13, NULL, NULL);
				return;
			}
			out.hdrs = kept;
			out.nhdrs = 0;
			for (size_t i = 0; i < h->nhdrs; i++)
				if (!weft_hdr_is(h->hdrs[i].name, "x-weft-service"))
					kept[out.nhdrs++] = h->hdrs[i];
		}
		send_resp_head(r, &out, end);
		return;
	}
	if (weft_hmsg_copy(&r->resp, &r->arena, h) != WEFT_OK) {
		us_detach(r, true);
		local_reply(r, 502, 13, NULL, NULL);
		return;
	}
	weft_hmsg_remove(&r->resp, weft_str_c("x-weft-service"));
	if (r->routed)
		weft_l7_response_filters(&r->sel, &r->resp);
	if (r->grpc && !end && gs < 0) {
		r->resp_held = true;   /* until data or trailers: grpc-status may still ask for a retry */
		return;
	}
	send_resp_head(r, &r->resp.h, end);
}

static void us_data(weft_hstream_t *s, const uint8_t *p, size_t n)
{
	l7_req_t *r = s->ud;
	ssize_t k = WEFT_EAGAIN;

	if (!r || !r->ds) {
		s->ops->consumed(s, n);
		return;
	}
	if (r->resp_held)
		send_resp_head(r, &r->resp.h, false);
	if (!weft_buf_len(&r->rbuf) && r->ds)
		k = r->ds->ops->send_data(r->ds, p, n, false);
	if (k == (ssize_t)n) {
		s->ops->consumed(s, n);
		return;
	}
	if (weft_buf_append(&r->rbuf, p, n) < 0) {
		s->ops->consumed(s, n);
		if (r->ds)
			r->ds->ops->reset(r->ds, WEFT_HS_CANCEL);
		return;
	}
	buffer_account(r, (int64_t)n);   /* held for a slow client (flow control bounds it) */
}

static void us_trailers(weft_hstream_t *s, const weft_hdr_t *t, size_t n)
{
	l7_req_t *r = s->ud;
	int gs;

	if (!r)
		return;
	gs = grpc_status_of(t, n);
	if (gs >= 0)
		r->grpc_status = gs;
	if (r->resp_held && retriable(r, 200, gs, WEFT_HS_OK)) {
		us_detach(r, true);
		if (try_again(r))
			return;
		local_reply(r, 200, gs, NULL, NULL);
		return;
	}
	if (r->resp_held)
		send_resp_head(r, &r->resp.h, false);
	if (!(r->rtrl = weft_arena_calloc(&r->arena, n ? n : 1, sizeof(*t))))
		return;
	for (size_t i = 0; i < n; i++) {
		r->rtrl[i].name = weft_arena_strdup(&r->arena, t[i].name);
		r->rtrl[i].value = weft_arena_strdup(&r->arena, t[i].value);
	}
	r->nrtrl = n;
	r->rtrl_pending = true;
}

static void us_end(weft_hstream_t *s)
{
	l7_req_t *r = s->ud;

	if (!r)
		return;
	if (r->resp_held)
		send_resp_head(r, &r->resp.h, false);
	if (r->resp_done)
		return;
	r->rbuf_end = true;
	flush_resp(r);
}

static void us_writable(weft_hstream_t *s)
{
	if (s->ud)
		flush_body(s->ud);
}

static void us_close(weft_hstream_t *s, weft_hs_err_t err)
{
	l7_req_t *r = s->ud;

	if (!r)
		return;
	s->ud = NULL;
	r->us = NULL;
	weft_timer_stop(loop_of(r), &r->t_try);
	if (r->resp_done || (err == WEFT_HS_OK && (r->rbuf_end || r->rtrl_pending)))
		return;
	if (r->resp_sent || r->resp_held) {
		add_flag(r, WEFT_TM_FLAG_UC);
		if (r->ds)
			r->ds->ops->reset(r->ds, WEFT_HS_CANCEL);
		finish(r);
		return;
	}
	if (err == WEFT_HS_OK)
		err = WEFT_HS_RESET;
	try_failed(r, err, false);
}

static const weft_hstream_cbs_t us_cbs = {
	.on_head = us_head, .on_data = us_data, .on_trailers = us_trailers, .on_end = us_end,
	.on_writable = us_writable, .on_close = us_close,
};

/* ---- entry points ---- */

void l7_req_start(l7_dconn_t *dc, weft_hstream_t *s)
{
	weft_l7_t *l7 = dc->l7;
	const weft_av_t *v = dp_view(l7->dp);
	l7_req_t *r = dc->spare;

	if (!v) {
		s->cbs = NULL;   /* reset by the codec */
		return;
	}
	if (r) {
		weft_arena_t keep = r->arena;   /* reset, its first chunk kept */

		dc->spare = NULL;
		memset(r, 0, sizeof(*r));
		r->arena = keep;
	} else if ((r = calloc(1, sizeof(*r)))) {
		weft_arena_init(&r->arena, 4096);
	} else {
		s->cbs = NULL;
		return;
	}
	r->dc = dc;
	r->l7 = l7;
	r->ds = s;
	r->grpc_status = -1;
	r->view = weft_av_ref((weft_av_t *)v);
	r->start_us = wall_us();
	r->start_ms = weft_loop_now(l7->dp->a->loop);
	weft_buf_init(&r->body, 0);
	weft_buf_init(&r->rbuf, 0);
	weft_timer_init(&r->t_req, req_timeout, r);
	weft_timer_init(&r->t_try, try_timeout, r);
	weft_timer_init(&r->t_wait, wait_cb, r);
	if (dc->tn) {
		dc->tn->requests++;
		r->counted = true;
		l7_tenant_update(l7, dc->tn);
	}
	r->next = dc->reqs;
	if (dc->reqs)
		dc->reqs->prev = r;
	dc->reqs = r;
	s->cbs = &ds_cbs;
	s->ud = r;
}

void l7_req_drop_all(l7_dconn_t *dc)
{
	while (dc->reqs) {
		l7_req_t *r = dc->reqs;
		if (r->ds) {
			r->ds->ud = NULL;
			r->ds = NULL;
		}
		r->done = true;   /* handed over: the L4 path reports it */
		req_free(r);
	}
}
