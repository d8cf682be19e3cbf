/* weft — the destination side of the L7 data path (contract:
 * src/agent/l7_int.h, l7_in_connect).
 *
 * A CONNECT flagged WEFT_HBONE_F_H2 to a local workload has passed
 * inbound.c's destination and identity checks (not L4 authorization). Its
 * tunnel is served here by an HTTP/2 server codec over weft_xprt_hbone
 * (one tunnel: a tun_t). Each request stream (a req_t), in order:
 *
 *   fairness     in-flight requests to the destination workload
 *                beyond l7->max_requests, or its buffer share full
 *                (bytes held in either direction): 503, flag OL
 *                (src/agent/l7_fair.h; each served tunnel is one of
 *                its inbound connections: over l7->max_conns the
 *                CONNECT gets 503)
 *   path         weft_l7_normalize_path (l7->slash) fails: 400
 *   authz        weft_authz_eval_l7 with the verified peer, the source
 *                address, the port and the head: 403 "RBAC: access
 *                denied" (errors{reason=denied}, authz{decision=deny})
 *   rate limit   the destination service's policy rate_limit (service
 *                from x-weft-service, else the one selecting this
 *                workload on this port); a token bucket per (workload,
 *                service), or per (workload, x-weft-route) when
 *                per_route: 429 with Retry-After, flag RL
 *   identity     every client-sent x-forwarded-client-cert and weft-* /
 *                x-weft-* field removed; then
 *                x-forwarded-client-cert: By=<our workload's SPIFFE ID>;
 *                URI=spiffe://<peer principal>
 *   delivery     a stream from the deliver pool (key "<wl uid>|<port>|h1"
 *                or "|h2": HTTP/1.1 for appProtocol http or unknown, h2c
 *                for http2/grpc), dialled from the workload's netns with
 *                the agent's mark (not captured again). Connect failure:
 *                503, flag UF; an upstream reset before the response
 *                head: 502, flag UC; after it: the stream is reset.
 *   bodies       both ways with flow control: received bytes are
 *                acknowledged (consumed) only once the other side took
 *                them; trailers are passed on.
 *   telemetry    weft_l7_tel_request (reporter destination, labels from
 *                dp_tm_labels_in) and a server span continuing the
 *                source's traceparent.
 *
 * Everything here lives in the tunnel's and the request's own records;
 * the token buckets live in l7->priv_in until l7_in_free. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "l7_fair.h"
#include "l7_int.h"
#include "weft/arena.h"
#include "weft/buf.h"
#include "weft/log.h"
#include "weft/loop.h"
#include "weft/net.h"
#include "weft/str.h"
#include "weft/metrics.h"
#include "weft/telemetry.h"

#define CHUNK 16384

/* ---- the destination side's own state (l7->priv_in) ---- */

typedef struct rl_bucket {
	struct rl_bucket *next;
	weft_l7_bucket_t b;
	char key[];
} rl_bucket_t;

typedef struct tun tun_t;

typedef struct in_state {
	rl_bucket_t *buckets;
	tun_t *tuns;                 /* served tunnels */
	uint64_t next_id;
	/* weft_agent_authz_decisions_total{decision=allow|deny} of metrics
	 * tm (looked up once: those series are never removed) */
	const void *authz_tm;
	weft_series_t *authz_allow, *authz_deny;
} in_state_t;

/* What the deliver pool's dial needs. */
typedef struct dial_arg {
	const char *netns;           /* the workload's netns path ("" ours) */
	struct sockaddr_storage dst; /* the workload's address and port */
	socklen_t dstlen;
	bool h2;
} dial_arg_t;

/* One served tunnel. */
struct tun {
	tun_t *prev, *next;
	weft_l7_t *l7;
	weft_hconn_t *hc;
	char *wl_uid;
	char *principal;             /* without "spiffe://" */
	char *principal_uri;         /* with it */
	char *peer_ns;
	char *svc_uid;               /* the service selecting the workload on dst_port, or NULL */
	weft_ip_t src;
	uint16_t dst_port;
	bool h2;                     /* deliver over h2c */
	struct sockaddr_storage dst; /* the CONNECT target: where the app listens */
	socklen_t dstlen;
	char dst_addr[64];
	char src_addr[64];
	char name[80];
	char *pool_key;              /* the deliver pool's key "<wl uid>|<port>|h1" or "|h2" */
	uint64_t pool_hash;          /* l7_pool_key_hash(pool_key) */
	l7_tenant_t *tn;             /* the workload's fairness share: this tunnel is one connection */
	/* what the tunnel's requests need from the view, looked up once per
	 * view (tun_sync): valid while view generation gen is the current one */
	bool synced;
	uint64_t gen;
	const weft_av_workload_t *w;        /* wl_uid, or NULL (the workload left) */
	const weft_av_service_t *svc;       /* svc_uid, or NULL */
	weft_tm_labels_t labels;            /* dp_tm_labels_in for this peer and workload */
	char *xfcc;                         /* "By=<w's SPIFFE ID>;URI=<principal_uri>", NULL without w */
	size_t xfcc_len;
	/* the last x-weft-service value looked up in view gen, and its service */
	bool xs_valid;
	char *xs_name;
	size_t xs_len, xs_cap;
	const weft_av_service_t *xs;
	struct req *spare;           /* a finished request kept for the next one (its arena's chunk) */
};

/* One direction of a request's body. */
typedef struct dir {
	weft_buf_t pend;             /* received, not yet taken by the other side */
	bool end;                    /* the sender's message is complete */
	bool done;                   /* its end was passed on */
	weft_hdr_t *tr;              /* trailers waiting for pend to drain */
	size_t ntr;
	uint64_t bytes;
	weft_l7_t *l7;
	l7_tenant_t *tn;             /* pend counts against its buffer share */
} dir_t;

typedef struct req {
	tun_t *t;
	weft_hstream_t *ds;          /* downstream: the request from the source agent */
	weft_hstream_t *us;          /* upstream: towards the application */
	weft_arena_t arena;
	dir_t rq, rs;                /* request body (ds -> us), response body (us -> ds) */
	bool counted;                /* holds one in-flight request of the tenant */
	bool local;                  /* answered here: the request body is dropped */
	bool resp_head;              /* a response head went downstream */
	bool grpc;
	int status, grpc_status;
	const char *flag;
	const char *method, *path, *authority, *user_agent, *request_id, *route, *protocol;
	const char *svc;             /* x-weft-service as the source agent set it, or NULL */
	const weft_av_service_t *s;  /* the request's service (svc, else the tunnel's) in view gen */
	bool have_gen;
	uint64_t gen;
	uint64_t start_us, start_ms;
	weft_span_t span;
	bool traced;
} req_t;

static in_state_t *state(weft_l7_t *l7)
{
	if (!l7->priv_in)
		l7->priv_in = calloc(1, sizeof(in_state_t));
	return l7->priv_in;
}

static uint64_t wall_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* ---- rate limit buckets ---- */

static weft_l7_bucket_t *bucket(in_state_t *st, const char *key)
{
	rl_bucket_t *b;
	size_t len = strlen(key);

	for (b = st->buckets; b; b = b->next)
		if (!strcmp(b->key, key))
			return &b->b;
	if (!(b = calloc(1, sizeof(*b) + len + 1)))
		return NULL;
	memcpy(b->key, key, len + 1);
	b->next = st->buckets;
	st->buckets = b;
	return &b->b;
}

/* ---- which service and protocol a workload port belongs to ---- */

static const weft_av_port_t *svc_port(const weft_av_service_t *s, uint16_t port)
{
	for (size_t i = 0; i < s->nports; i++) {
		const weft_av_port_t *p = &s->ports[i];
		if ((p->target_port ? p->target_port : p->port) == port)
			return p;
	}
	return NULL;
}

/* The first service of v with an endpoint that is workload uid and a
 * port delivering to port (its port in *pp), or NULL. */
static const weft_av_service_t *service_of(const weft_av_t *v, const char *uid, uint16_t port,
					   const weft_av_port_t **pp)
{
	for (size_t i = 0; v && i < v->nservices; i++) {
		const weft_av_service_t *s = &v->services[i];
		const weft_av_port_t *p = svc_port(s, port);
		if (!p)
			continue;
		for (size_t j = 0; j < s->nendpoints; j++)
			if (s->endpoints[j].workload && !strcmp(s->endpoints[j].workload, uid)) {
				*pp = p;
				return s;
			}
	}
	return NULL;
}

/* The series counting authorization decisions allow (or deny) of the
 * agent's metrics (non-NULL), each made by weft_metric_with on its first
 * use as before (a decision never taken has no series). */
static weft_series_t *authz_series(weft_l7_t *l7, bool allow)
{
	in_state_t *st = l7->priv_in;
	weft_tm_t *tm = l7->dp->a->tm;
	weft_series_t **sp = allow ? &st->authz_allow : &st->authz_deny;

	if (st->authz_tm != tm) {
		st->authz_allow = st->authz_deny = NULL;
		st->authz_tm = tm;
	}
	if (!*sp)
		*sp = weft_metric_with(weft_tm_metrics(tm)->authz, allow ? "allow" : "deny");
	return *sp;
}

/* ---- per-view facts of a tunnel ---- */

/* Brings t's view-derived fields (w, svc, labels, xfcc) up to view v
 * (non-NULL): looked up again only when v's generation differs from the
 * one they came from, so a request pays a comparison, not lookups. On
 * allocation failure xfcc stays NULL and the next call tries again. */
static void tun_sync(tun_t *t, const weft_av_t *v)
{
	size_t slen, ulen;

	if (t->synced && t->gen == v->generation)
		return;
	t->w = weft_av_workload(v, t->wl_uid);
	t->svc = t->svc_uid ? weft_av_service(v, t->svc_uid) : NULL;
	memset(&t->labels, 0, sizeof(t->labels));
	dp_tm_labels_in(v, t->w, t->principal, t->principal_uri, t->peer_ns, &t->src, &t->labels);
	t->xs_valid = false;
	free(t->xfcc);
	t->xfcc = NULL;
	t->xfcc_len = 0;
	t->gen = v->generation;
	t->synced = true;
	if (!t->w)
		return;
	slen = strlen(t->w->spiffe);
	ulen = strlen(t->principal_uri);
	if (!(t->xfcc = malloc(3 + slen + 5 + ulen + 1))) {
		t->synced = false;
		return;
	}
	memcpy(t->xfcc, "By=", 3);
	memcpy(t->xfcc + 3, t->w->spiffe, slen);
	memcpy(t->xfcc + 3 + slen, ";URI=", 5);
	memcpy(t->xfcc + 3 + slen + 5, t->principal_uri, ulen + 1);
	t->xfcc_len = 3 + slen + 5 + ulen;
}

/* The service named by an x-weft-service value (val; cstr: the same as a
 * C string) in view v, which tun_sync(t, v) made current: the tunnel's
 * last answer when the value repeats, else weft_av_service. */
static const weft_av_service_t *tun_xsvc(tun_t *t, const weft_av_t *v, weft_str_t val,
					 const char *cstr)
{
	const weft_av_service_t *s;

	if (t->xs_valid && val.len == t->xs_len && !memcmp(val.p, t->xs_name, val.len))
		return t->xs;
	s = weft_av_service(v, cstr);
	if (val.len + 1 > t->xs_cap) {
		char *n = realloc(t->xs_name, val.len + 1);
		if (!n) {
			t->xs_valid = false;
			return s;
		}
		t->xs_name = n;
		t->xs_cap = val.len + 1;
	}
	memcpy(t->xs_name, val.p, val.len);
	t->xs_len = val.len;
	t->xs = s;
	t->xs_valid = true;
	return s;
}

/* ---- body plumbing ---- */

static void dir_init(dir_t *d, weft_l7_t *l7, l7_tenant_t *tn)
{
	weft_buf_init(&d->pend, 0);
	d->l7 = l7;
	d->tn = tn;
}

/* Drops d's pending bytes (and their share of the tenant's buffer). */
static void dir_drop(dir_t *d)
{
	l7_fair_give(d->l7, d->tn, L7_FAIR_BUFFER, weft_buf_len(&d->pend));
	weft_buf_reset(&d->pend);
}

/* Passes d's pending bytes (and then its end or trailers) to stream to,
 * acknowledging each chunk to from. Returns WEFT_OK (all passed or
 * waiting for on_writable) or WEFT_ECLOSED (to is gone). */
static int dir_flush(dir_t *d, weft_hstream_t *to, weft_hstream_t *from)
{
	while (weft_buf_len(&d->pend)) {
		size_t len = weft_buf_len(&d->pend), n = len < CHUNK ? len : CHUNK;
		bool last = d->end && !d->ntr && n == len;
		ssize_t rc = to->ops->send_data(to, weft_buf_head(&d->pend), n, last);
		if (rc == WEFT_EAGAIN)
			return WEFT_OK;
		if (rc < 0)
			return WEFT_ECLOSED;
		weft_buf_consume(&d->pend, n);
		l7_fair_give(d->l7, d->tn, L7_FAIR_BUFFER, n);
		if (from)
			from->ops->consumed(from, n);
		if (last)
			d->done = true;
	}
	if (d->end && !d->done) {
		d->done = true;
		if (d->ntr)
			return to->ops->send_trailers(to, d->tr, d->ntr) == WEFT_OK ? WEFT_OK : WEFT_ECLOSED;
		if (to->ops->send_data(to, "", 0, true) < 0)
			return WEFT_ECLOSED;
	}
	return WEFT_OK;
}

/* Body bytes p[0..n) from `from` for `to` (NULL: dropped). */
static int dir_data(dir_t *d, weft_hstream_t *to, weft_hstream_t *from, const uint8_t *p, size_t n)
{
	d->bytes += n;
	if (!to) {
		from->ops->consumed(from, n);
		return WEFT_OK;
	}
	if (!weft_buf_len(&d->pend)) {
		ssize_t rc = to->ops->send_data(to, p, n, false);
		if (rc >= 0) {
			from->ops->consumed(from, n);
			return WEFT_OK;
		}
		if (rc != WEFT_EAGAIN)
			return WEFT_ECLOSED;
	}
	/* held until on_writable; the sender's window stays closed for them */
	if (weft_buf_append(&d->pend, p, n) < 0)
		return WEFT_ECLOSED;
	l7_fair_charge(d->l7, d->tn, L7_FAIR_BUFFER, n);   /* flow control bounds it */
	return WEFT_OK;
}

/* Keeps a copy of trailers t (in arena) for after the pending bytes. */
static void dir_trailers(dir_t *d, weft_arena_t *a, const weft_hdr_t *t, size_t n)
{
	d->tr = weft_arena_calloc(a, n ? n : 1, sizeof(*d->tr));
	if (!d->tr) {
		d->ntr = 0;
		return;
	}
	for (size_t i = 0; i < n; i++) {
		d->tr[i].name = weft_arena_strdup(a, t[i].name);
		d->tr[i].value = weft_arena_strdup(a, t[i].value);
	}
	d->ntr = n;
}

/* ---- local answers ---- */

/* The gRPC status a local HTTP status stands for (the mapping of gRPC's
 * HTTP-to-gRPC status table, as Envoy's local replies use it). */
static int grpc_of_status(int status)
{
	switch (status) {
	case 400: return 13;   /* INTERNAL */
	case 401: return 16;   /* UNAUTHENTICATED */
	case 403: return 7;    /* PERMISSION_DENIED */
	case 404: return 12;   /* UNIMPLEMENTED */
	case 429: case 502: case 503: case 504: return 14;   /* UNAVAILABLE */
	default: return 2;     /* UNKNOWN */
	}
}

/* The field a local answer carries to the source agent when the
 * application could not be reached ("connect-failure": nothing of the
 * request was processed) or reset before a response ("reset"): the source
 * treats the try as that failure (retryOn connect-failure / reset) and
 * never passes the field on. */
#define UPSTREAM_ERR "x-weft-upstream-error"

/* Answers the request here: status with a text body (and Retry-After
 * when retry_after_s > 0; x-weft-upstream-error when flag is UF or UC);
 * for a gRPC request a trailers-only answer
 * (HTTP 200, grpc-status mapped from status, grpc-message body). The
 * request body that follows is dropped. */
static void reply(req_t *r, int status, const char *flag, const char *body, uint32_t retry_after_s)
{
	weft_http_head_t h;
	weft_hdr_t hd[5];
	char len[24], ra[24], gs[16];
	size_t blen = strlen(body), n = 0;
	const char *uerr = !flag ? NULL : !strcmp(flag, WEFT_TM_FLAG_UF) ? "connect-failure"
			   : !strcmp(flag, WEFT_TM_FLAG_UC) ? "reset" : NULL;

	r->local = true;
	r->status = status;
	if (weft_buf_len(&r->rq.pend)) {   /* held request bytes are dropped now */
		r->ds->ops->consumed(r->ds, weft_buf_len(&r->rq.pend));
		dir_drop(&r->rq);
	}
	if (flag && !r->flag)
		r->flag = flag;
	if (r->resp_head)
		return;
	if (r->grpc) {
		r->grpc_status = grpc_of_status(status);
		r->status = 200;
		snprintf(gs, sizeof(gs), "%d", r->grpc_status);
		hd[n++] = (weft_hdr_t){ weft_str_c("content-type"), weft_str_c("application/grpc") };
		hd[n++] = (weft_hdr_t){ weft_str_c("grpc-status"), weft_str_c(gs) };
		hd[n++] = (weft_hdr_t){ weft_str_c("grpc-message"), weft_str_c(body) };
		if (uerr)
			hd[n++] = (weft_hdr_t){ weft_str_c(UPSTREAM_ERR), weft_str_c(uerr) };
		memset(&h, 0, sizeof(h));
		h.ver = WEFT_HTTP_2;
		h.status = 200;
		h.nhdrs = n;
		h.hdrs = hd;
		h.content_length = -1;
		r->resp_head = true;
		r->ds->ops->send_head(r->ds, &h, true);
		r->rs.end = r->rs.done = true;
		return;
	}
	snprintf(len, sizeof(len), "%zu", blen);
	hd[n++] = (weft_hdr_t){ weft_str_c("content-type"), weft_str_c("text/plain") };
	hd[n++] = (weft_hdr_t){ weft_str_c("content-length"), weft_str_c(len) };
	if (retry_after_s) {
		snprintf(ra, sizeof(ra), "%u", retry_after_s);
		hd[n++] = (weft_hdr_t){ weft_str_c("retry-after"), weft_str_c(ra) };
	}
	if (uerr)
		hd[n++] = (weft_hdr_t){ weft_str_c(UPSTREAM_ERR), weft_str_c(uerr) };
	memset(&h, 0, sizeof(h));
	h.ver = WEFT_HTTP_2;
	h.status = status;
	h.nhdrs = n;
	h.hdrs = hd;
	h.content_length = (int64_t)blen;
	r->resp_head = true;
	if (r->ds->ops->send_head(r->ds, &h, blen == 0) == WEFT_OK && blen)
		r->ds->ops->send_data(r->ds, body, blen, true);
	r->rs.end = r->rs.done = true;
}

/* ---- the upstream stream (towards the application) ---- */

static void up_head(weft_hstream_t *s, const weft_http_head_t *h, bool end)
{
	req_t *r = s->ud;
	const weft_hdr_t *g = NULL;
	bool uerr = false;

	if (!r || r->resp_head)
		return;
	r->status = h->status;
	/* one pass for the two fields looked at: grpc-status (the first) and
	 * x-weft-upstream-error */
	for (size_t i = 0; i < h->nhdrs; i++) {
		weft_str_t n = h->hdrs[i].name;
		if (!g && weft_hdr_is(n, "grpc-status"))
			g = &h->hdrs[i];
		else if (weft_hdr_is(n, UPSTREAM_ERR))
			uerr = true;
	}
	if (g) {
		weft_str_t gv = weft_arena_strdup(&r->arena, g->value);
		r->grpc_status = gv.p ? atoi(gv.p) : -1;
	}
	r->resp_head = true;
	if (end)
		r->rs.end = r->rs.done = true;
	if (uerr) {
		/* only this agent says the application could not be reached */
		weft_hmsg_t m;
		weft_hmsg_init(&m, &r->arena);
		if (weft_hmsg_copy(&m, &r->arena, h) != WEFT_OK) {
			s->ops->reset(s, WEFT_HS_CANCEL);
			return;
		}
		weft_hmsg_remove(&m, weft_str_c(UPSTREAM_ERR));
		h = &m.h;
		if (r->ds->ops->send_head(r->ds, h, end) != WEFT_OK)
			s->ops->reset(s, WEFT_HS_CANCEL);
		return;
	}
	if (r->ds->ops->send_head(r->ds, h, end) != WEFT_OK)
		s->ops->reset(s, WEFT_HS_CANCEL);
}

static void up_data(weft_hstream_t *s, const uint8_t *p, size_t n)
{
	req_t *r = s->ud;

	if (!r)
		return;
	if (dir_data(&r->rs, r->local ? NULL : r->ds, s, p, n) != WEFT_OK)
		s->ops->reset(s, WEFT_HS_CANCEL);
}

static void up_trailers(weft_hstream_t *s, const weft_hdr_t *t, size_t n)
{
	req_t *r = s->ud;

	if (!r)
		return;
	for (size_t i = 0; i < n; i++)
		if (weft_hdr_is(t[i].name, "grpc-status")) {
			weft_str_t v = weft_arena_strdup(&r->arena, t[i].value);
			r->grpc_status = v.p ? atoi(v.p) : -1;
		}
	dir_trailers(&r->rs, &r->arena, t, n);
}

static void up_end(weft_hstream_t *s)
{
	req_t *r = s->ud;

	if (!r || r->local)
		return;
	r->rs.end = true;
	if (dir_flush(&r->rs, r->ds, s) != WEFT_OK)
		s->ops->reset(s, WEFT_HS_CANCEL);
}

/* The application can take more of the request body. */
static void up_writable(weft_hstream_t *s)
{
	req_t *r = s->ud;

	if (r && dir_flush(&r->rq, s, r->ds) != WEFT_OK)
		s->ops->reset(s, WEFT_HS_CANCEL);
}

static void up_close(weft_hstream_t *s, weft_hs_err_t err)
{
	req_t *r = s->ud;

	if (!r)
		return;
	r->us = NULL;
	if (err == WEFT_HS_OK)
		return;
	if (!r->resp_head) {
		if (err == WEFT_HS_CONNECT_FAILED)
			reply(r, 503, WEFT_TM_FLAG_UF, "upstream connect error", 0);
		else
			reply(r, 502, WEFT_TM_FLAG_UC, "upstream reset before response", 0);
		return;
	}
	if (!r->rs.done) {
		if (!r->flag)
			r->flag = WEFT_TM_FLAG_UC;
		r->ds->ops->reset(r->ds, WEFT_HS_RESET);
	}
}

static const weft_hstream_cbs_t up_cbs = {
	.on_head = up_head, .on_data = up_data, .on_trailers = up_trailers,
	.on_end = up_end, .on_writable = up_writable, .on_close = up_close,
};

/* ---- the deliver pool's dial ---- */

static weft_hconn_t *deliver_dial(void *ud, const char *key, const void *argp)
{
	weft_l7_t *l7 = ud;
	struct weft_dp *dp = l7->dp;
	const dial_arg_t *arg = argp;
	weft_netns_t *ns = NULL;
	char name[96];
	int fd;

	if (arg->netns[0] && !(ns = weft_netns_open(&dp->nss, arg->netns))) {
		dp_count(dp, DP_R_DELIVER_FAILED, key, strerror(errno));
		return NULL;
	}
	fd = weft_netns_connect(&dp->nss, ns, (const struct sockaddr *)&arg->dst, arg->dstlen,
				dp->a->o.mark);
	weft_netns_release(&dp->nss, ns);   /* the socket keeps its namespace */
	if (fd < 0) {
		dp_count(dp, DP_R_DELIVER_FAILED, key, strerror(errno));
		return NULL;
	}
	snprintf(name, sizeof(name), "l7-deliver %s", key);
	return arg->h2 ? weft_h2_client_new(dp->a->loop, fd, &weft_xprt_raw, NULL, &l7->lim,
					    &l7_pool_conn_cbs, &l7->deliver, name)
		       : weft_h1_client_new(dp->a->loop, fd, &weft_xprt_raw, NULL, &l7->lim,
					    &l7_pool_conn_cbs, &l7->deliver, name);
}

static void deliver_pool(weft_l7_t *l7)
{
	if (!l7->deliver.dial)
		l7_pool_init(&l7->deliver, l7->dp->a->loop, deliver_dial, l7);
}

/* ---- the downstream stream (from the source agent) ---- */

/* Whether a client-sent field is removed before delivery: every
 * x-forwarded-client-cert and weft-* / x-weft-* field. */
static bool strip_field(weft_str_t n)
{
	unsigned char c = n.len ? (unsigned char)n.p[0] | 0x20 : 0;

	if (c == 'w')
		return n.len >= 5 && weft_hdr_is(weft_str(n.p, 5), "weft-");
	if (c != 'x')
		return false;
	return (n.len >= 7 && weft_hdr_is(weft_str(n.p, 7), "x-weft-")) ||
	       weft_hdr_is(n, "x-forwarded-client-cert");
}

/* The request fields ds_head reads, each the first of its name or NULL. */
typedef struct req_fields {
	const weft_hdr_t *ct, *ua, *rid, *route, *svc;
} req_fields_t;

/* Finds every field of f in one pass over h's fields. */
static void scan_fields(const weft_http_head_t *h, req_fields_t *f)
{
	memset(f, 0, sizeof(*f));
	for (size_t i = 0; i < h->nhdrs; i++) {
		const weft_hdr_t *x = &h->hdrs[i];
		switch (x->name.len) {
		case 10:
			if (!f->ua && weft_hdr_is(x->name, "user-agent"))
				f->ua = x;
			break;
		case 12:
			if (!f->ct && weft_hdr_is(x->name, "content-type"))
				f->ct = x;
			else if (!f->rid && weft_hdr_is(x->name, "x-request-id"))
				f->rid = x;
			else if (!f->route && weft_hdr_is(x->name, "x-weft-route"))
				f->route = x;
			break;
		case 14:
			if (!f->svc && weft_hdr_is(x->name, "x-weft-service"))
				f->svc = x;
			break;
		}
	}
}

/* Copies the strings of h and f that the request keeps (for the rate
 * limit and the telemetry record) into r's arena as C strings, in one
 * allocation: method, path, authority always ("" when empty), the
 * fields' values or NULL when absent. On allocation failure every one is
 * NULL. */
static void keep_strings(req_t *r, const weft_http_head_t *h, const req_fields_t *f)
{
	const weft_str_t *src[7] = {
		&h->method, &h->path, &h->authority,
		f->ua ? &f->ua->value : NULL, f->rid ? &f->rid->value : NULL,
		f->route ? &f->route->value : NULL, f->svc ? &f->svc->value : NULL,
	};
	const char **dst[7] = { &r->method, &r->path, &r->authority, &r->user_agent,
				&r->request_id, &r->route, &r->svc };
	size_t total = 0;
	char *p;

	for (int i = 0; i < 7; i++)
		if (src[i])
			total += src[i]->len + 1;
	if (!(p = weft_arena_alloc(&r->arena, total)))
		return;
	for (int i = 0; i < 7; i++) {
		if (!src[i])
			continue;
		memcpy(p, src[i]->p, src[i]->len);
		p[src[i]->len] = '\0';
		*dst[i] = p;
		p += src[i]->len + 1;
	}
}

/* Rate limit for the request (its service: r->s): true to go on; false
 * when answered 429. */
static bool rate_limit(req_t *r)
{
	tun_t *t = r->t;
	in_state_t *st = state(t->l7);
	const weft_av_service_t *s = r->s;
	const weft_dest_policy_t *pol;
	weft_l7_bucket_t *b;
	uint32_t ra = 0;
	char key[512];

	if (!s || !(pol = s->policy) || !pol->rate_limit.set || !st)
		return true;
	if (pol->rate_limit.per_route && r->route)
		snprintf(key, sizeof(key), "%s|route|%s", t->wl_uid, r->route);
	else
		snprintf(key, sizeof(key), "%s|svc|%s", t->wl_uid, s->uid);
	if (!(b = bucket(st, key)))
		return true;
	if (weft_l7_bucket_take(b, pol, weft_loop_now(t->l7->dp->a->loop), &ra))
		return true;
	reply(r, 429, WEFT_TM_FLAG_RL, "local_rate_limited", ra ? ra : 1);
	return false;
}

static const weft_str_t XFCC_NAME = { "x-forwarded-client-cert", 23 };
static const weft_str_t TRACEPARENT_NAME = { "traceparent", 11 };

/* Builds the head for the application and opens the upstream stream.
 * path: the normalized path + query (what the application gets); h and
 * path need to stay valid only during the call (send_head copies). The
 * tunnel is in sync with the view (tun_sync) and w is t->w. */
static void deliver(req_t *r, const weft_av_workload_t *w, const weft_http_head_t *h,
		    weft_str_t path, bool end)
{
	tun_t *t = r->t;
	weft_l7_t *l7 = t->l7;
	weft_http_head_t m;
	weft_hdr_t *hd;
	dial_arg_t arg;
	char tp[56];
	size_t k = 0;
	bool tp_placed = false;

	/* the client's fields minus the stripped ones, then XFCC, then the
	 * traceparent (in the place of the first client-sent one) */
	hd = weft_arena_alloc(&r->arena, (h->nhdrs + 2) * sizeof(*hd));
	if (!hd || !t->xfcc) {
		reply(r, 503, NULL, "out of memory", 0);
		return;
	}
	if (r->traced)
		weft_trace_header(&r->span, tp);
	for (size_t i = 0; i < h->nhdrs; i++) {
		weft_str_t n = h->hdrs[i].name;
		if (strip_field(n))
			continue;
		if (r->traced && weft_hdr_is(n, "traceparent")) {
			if (!tp_placed)
				hd[k++] = (weft_hdr_t){ TRACEPARENT_NAME, weft_str_c(tp) };
			tp_placed = true;
			continue;
		}
		hd[k++] = h->hdrs[i];
	}
	hd[k++] = (weft_hdr_t){ XFCC_NAME, weft_str(t->xfcc, t->xfcc_len) };
	if (r->traced && !tp_placed)
		hd[k++] = (weft_hdr_t){ TRACEPARENT_NAME, weft_str_c(tp) };
	m = *h;
	if (path.len)
		m.path = path;
	m.hdrs = hd;
	m.nhdrs = k;
	m.ver = t->h2 ? WEFT_HTTP_2 : WEFT_HTTP_11;
	memset(&arg, 0, sizeof(arg));
	arg.netns = dp_wl_netns(l7->dp, w);
	memcpy(&arg.dst, &t->dst, t->dstlen);
	arg.dstlen = t->dstlen;
	arg.h2 = t->h2;
	deliver_pool(l7);
	r->us = l7_pool_open_hashed(&l7->deliver, t->pool_key, t->pool_hash, &arg, &up_cbs, r);
	if (!r->us) {
		reply(r, 503, WEFT_TM_FLAG_UF, "upstream connect error", 0);
		return;
	}
	if (end)
		r->rq.end = r->rq.done = true;
	if (r->us->ops->send_head(r->us, &m, end) != WEFT_OK) {
		weft_hstream_t *us = r->us;
		r->us = NULL;
		us->ud = NULL;
		us->ops->reset(us, WEFT_HS_CANCEL);
		reply(r, 503, WEFT_TM_FLAG_UF, "upstream connect error", 0);
	}
}

static void ds_head(weft_hstream_t *s, const weft_http_head_t *h, bool end)
{
	req_t *r = s->ud;
	tun_t *t = r->t;
	weft_l7_t *l7 = t->l7;
	struct weft_dp *dp = l7->dp;
	const weft_av_t *v = dp_view(dp);
	const weft_av_workload_t *w = NULL;
	weft_str_t path = h->path, npath, full;
	weft_authz_input_t in;
	weft_authz_l7_t al7;
	weft_authz_result_t res;
	req_fields_t f;
	const char *q;

	scan_fields(h, &f);
	keep_strings(r, h, &f);
	if (v) {
		tun_sync(t, v);
		w = t->w;
		r->have_gen = true;
		r->gen = v->generation;
	}
	/* the service the source chose (labels, rate limit), else the tunnel's */
	if (r->svc && (!v || !(r->s = tun_xsvc(t, v, f.svc->value, r->svc))))
		r->svc = NULL;
	if (!r->s && v)
		r->s = t->svc;
	r->protocol = h->ver == WEFT_HTTP_2 ? "HTTP/2" : h->ver == WEFT_HTTP_10 ? "HTTP/1.0" : "HTTP/1.1";
	r->grpc = f.ct && f.ct->value.len >= 16 && !strncasecmp(f.ct->value.p, "application/grpc", 16);
	if (end)
		r->rq.end = true;
	if (l7->tel) {
		weft_trace_start(l7->tel, h, &r->span, &l7->rnd);
		r->traced = true;
	}
	if (!w) {
		dp_count(dp, DP_R_NOT_LOCAL, t->name, "workload left");
		reply(r, 503, WEFT_TM_FLAG_UH, "no local workload", 0);
		return;
	}
	/* fairness: a request slot, and room left in the buffer share */
	if (!l7_fair_take(l7, t->tn, L7_FAIR_IN_REQUESTS, 1)) {
		reply(r, 503, WEFT_TM_FLAG_OL, "workload request limit", 0);
		return;
	}
	r->counted = t->tn != NULL;
	if (!l7_fair_take(l7, t->tn, L7_FAIR_BUFFER, 0)) {
		reply(r, 503, WEFT_TM_FLAG_OL, "workload buffer limit", 0);
		return;
	}
	/* path (without the query) */
	if ((q = memchr(path.p, '?', path.len)))
		path.len = (size_t)(q - path.p);
	if (weft_l7_normalize_path(path, l7->slash, &r->arena, &npath) != WEFT_OK) {
		reply(r, 400, NULL, "bad request path", 0);
		return;
	}
	/* the application gets the path that was authorized (as Envoy's
	 * normalize_path): it cannot read "/a/../admin" differently */
	full = npath;
	if (q) {
		size_t qlen = (size_t)(h->path.p + h->path.len - q);
		char *np;
		if (npath.len == path.len && !memcmp(npath.p, path.p, path.len)) {
			full = h->path;   /* already normal: as it came */
		} else if ((np = weft_arena_alloc(&r->arena, npath.len + qlen + 1))) {
			memcpy(np, npath.p, npath.len);
			memcpy(np + npath.len, q, qlen);
			np[npath.len + qlen] = '\0';
			full = weft_str(np, npath.len + qlen);
		}
	}
	/* authorization */
	memset(&in, 0, sizeof(in));
	in.principal = t->principal;
	in.ns = t->peer_ns;
	in.src = t->src;
	in.dst_port = t->dst_port;
	al7.h = h;
	al7.path = npath;
	memset(&res, 0, sizeof(res));
	weft_authz_eval_l7(w, &in, &al7, &res);
	if (dp->a->tm)
		weft_series_inc(authz_series(l7, res.allow));
	if (!res.allow) {
		dp_count(dp, DP_R_DENIED, t->name, res.reason);
		reply(r, 403, WEFT_TM_FLAG_DENIED, "RBAC: access denied", 0);
		return;
	}
	if (!rate_limit(r))
		return;
	deliver(r, w, h, full, end);
}

static void ds_data(weft_hstream_t *s, const uint8_t *p, size_t n)
{
	req_t *r = s->ud;

	if (dir_data(&r->rq, r->local ? NULL : r->us, s, p, n) != WEFT_OK && r->us)
		r->us->ops->reset(r->us, WEFT_HS_CANCEL);
}

static void ds_trailers(weft_hstream_t *s, const weft_hdr_t *t, size_t n)
{
	req_t *r = s->ud;

	if (!r->local)
		dir_trailers(&r->rq, &r->arena, t, n);
}

static void ds_end(weft_hstream_t *s)
{
	req_t *r = s->ud;

	r->rq.end = true;
	if (r->local || !r->us)
		return;
	if (dir_flush(&r->rq, r->us, s) != WEFT_OK)
		r->us->ops->reset(r->us, WEFT_HS_CANCEL);
}

/* The source agent can take more of the response body. */
static void ds_writable(weft_hstream_t *s)
{
	req_t *r = s->ud;

	if (!r->local && dir_flush(&r->rs, s, r->us) != WEFT_OK && r->us)
		r->us->ops->reset(r->us, WEFT_HS_CANCEL);
}

/* The request's telemetry record (weft_l7_tel_request) and the end of its
 * server span. Labels come from the tunnel's per-view cache (tun_sync),
 * the service from the request's head when the view is still the one it
 * was looked up in. */
static void record(req_t *r, weft_hs_err_t err)
{
	tun_t *t = r->t;
	weft_l7_t *l7 = t->l7;
	const weft_av_t *v = dp_view(l7->dp);
	const weft_av_service_t *s = NULL;
	weft_l7_rec_t rec;

	if (!l7->tel)
		return;
	if (v && r->have_gen && r->gen == v->generation) {
		s = r->s;
	} else if (v) {
		s = r->svc ? weft_av_service(v, r->svc) : NULL;
		if (!s && t->svc_uid)
			s = weft_av_service(v, t->svc_uid);
	}
	memset(&rec, 0, sizeof(rec));
	if (v) {
		tun_sync(t, v);
		rec.l = t->labels;
	} else {
		dp_tm_labels_in(v, NULL, t->principal, t->principal_uri, t->peer_ns, &t->src, &rec.l);
	}
	if (s) {
		rec.l.dst_service = s->hostname;
		rec.l.dst_service_name = s->name;
		rec.l.dst_service_ns = s->ns;
	}
	rec.l.mtls = true;
	rec.l.src_addr = t->src_addr;
	rec.l.dst_addr = t->dst_addr;
	rec.l.orig_dst = t->dst_addr;
	if (!r->flag && err != WEFT_HS_OK && !r->rs.done)
		r->flag = WEFT_TM_FLAG_DC;
	rec.l.response_flags = r->flag;
	rec.grpc = r->grpc;
	rec.status = r->resp_head ? r->status : 0;
	rec.grpc_status = r->grpc_status;
	rec.start_us = r->start_us;
	rec.duration_us = (weft_loop_now(l7->dp->a->loop) - r->start_ms) * 1000u;
	rec.req_bytes = r->rq.bytes;
	rec.resp_bytes = r->rs.bytes;
	rec.method = r->method;
	rec.path = r->path;
	rec.authority = r->authority;
	rec.user_agent = r->user_agent;
	rec.request_id = r->request_id;
	rec.protocol = r->protocol;
	rec.route = r->route;
	rec.upstream = r->local ? NULL : t->dst_addr;
	rec.attempts = 1;
	if (r->traced) {
		rec.trace_id = r->span.trace_id;
		rec.span_id = r->span.span_id;
	}
	weft_l7_tel_request(l7->tel, &rec);
	if (r->traced)
		weft_trace_end(l7->tel, &r->span, &rec);
}

static void ds_close(weft_hstream_t *s, weft_hs_err_t err)
{
	req_t *r = s->ud;
	weft_l7_t *l7 = r->t->l7;

	if (r->us) {
		weft_hstream_t *us = r->us;
		r->us = NULL;
		us->ud = NULL;
		/* a finished exchange leaves the connection to the pool */
		if (!(r->rq.done && r->rs.end))
			us->ops->reset(us, WEFT_HS_CANCEL);
	}
	record(r, err);
	if (r->counted)
		l7_fair_give(l7, r->t->tn, L7_FAIR_IN_REQUESTS, 1);
	dir_drop(&r->rq);
	dir_drop(&r->rs);
	weft_buf_free(&r->rq.pend);
	weft_buf_free(&r->rs.pend);
	if (!r->t->spare) {
		weft_arena_reset(&r->arena);
		r->t->spare = r;
		return;
	}
	weft_arena_destroy(&r->arena);
	free(r);
}

static const weft_hstream_cbs_t ds_cbs = {
	.on_head = ds_head, .on_data = ds_data, .on_trailers = ds_trailers,
	.on_end = ds_end, .on_writable = ds_writable, .on_close = ds_close,
};

/* ---- the tunnel's codec connection ---- */

static void tun_stream(weft_hconn_t *hc, weft_hstream_t *s)
{
	tun_t *t = hc->ud;
	req_t *r = t->spare;
	weft_arena_t a;

	if (r) {
		/* the last finished request's record: its arena keeps a chunk */
		t->spare = NULL;
		a = r->arena;
		memset(r, 0, sizeof(*r));
		r->arena = a;
	} else {
		if (!(r = calloc(1, sizeof(*r)))) {
			s->ops->reset(s, WEFT_HS_REFUSED);
			return;
		}
		weft_arena_init(&r->arena, 4096);
	}
	r->t = t;
	r->ds = s;
	r->grpc_status = -1;
	r->start_us = wall_us();
	r->start_ms = weft_loop_now(t->l7->dp->a->loop);
	dir_init(&r->rq, t->l7, t->tn);
	dir_init(&r->rs, t->l7, t->tn);
	s->cbs = &ds_cbs;
	s->ud = r;
}

static void tun_free(tun_t *t)
{
	in_state_t *st = t->l7->priv_in;

	if (st) {
		if (t->prev)
			t->prev->next = t->next;
		else if (st->tuns == t)
			st->tuns = t->next;
		if (t->next)
			t->next->prev = t->prev;
	}
	l7_fair_give(t->l7, t->tn, L7_FAIR_IN_CONNS, 1);
	if (t->spare) {
		weft_arena_destroy(&t->spare->arena);
		free(t->spare);
	}
	free(t->pool_key);
	free(t->xfcc);
	free(t->xs_name);
	free(t->wl_uid);
	free(t->principal);
	free(t->principal_uri);
	free(t->peer_ns);
	free(t->svc_uid);
	free(t);
}

static void tun_close(weft_hconn_t *hc)
{
	tun_t *t = hc->ud;

	weft_debug(t->name, "tunnel closed after %llu requests", (unsigned long long)hc->nrequests);
	tun_free(t);
}

static void tun_noop(weft_hconn_t *hc)
{
}

static const weft_hconn_cbs_t tun_cbs = {
	.on_stream = tun_stream, .on_ready = tun_noop, .on_idle = tun_noop, .on_close = tun_close,
};

int l7_in_connect(weft_l7_t *l7, weft_hbone_stream_t *hs, const weft_av_workload_t *w,
		  uint16_t dst_port, const char *principal, const char *peer_ns,
		  const weft_ip_t *src)
{
	struct weft_dp *dp = l7->dp;
	in_state_t *st = state(l7);
	const weft_av_port_t *p = NULL;
	const weft_av_service_t *s;
	void *xctx;
	tun_t *t;

	l7_tenant_t *tn = l7_fair_tenant(l7, w->uid);

	/* fairness: each served tunnel is one of the workload's connections */
	if (!l7_fair_take(l7, tn, L7_FAIR_IN_CONNS, 1)) {
		weft_info("l7", "%s: L7 tunnel from %s refused (--l7-max-connections %llu)", w->uid,
			  principal, (unsigned long long)l7->max_conns);
		return 503;
	}
	if (!st || !(t = calloc(1, sizeof(*t)))) {
		l7_fair_give(l7, tn, L7_FAIR_IN_CONNS, 1);
		return 503;
	}
	t->l7 = l7;
	t->tn = tn;
	t->wl_uid = strdup(w->uid);
	t->principal = strdup(principal);
	t->peer_ns = strdup(peer_ns ? peer_ns : "");
	if (asprintf(&t->principal_uri, "spiffe://%s", principal) < 0)
		t->principal_uri = NULL;
	if (!t->wl_uid || !t->principal || !t->peer_ns || !t->principal_uri) {
		tun_free(t);
		return 503;
	}
	t->src = *src;
	t->dst_port = dst_port;
	memcpy(&t->dst, &hs->req.dst, hs->req.dstlen);
	t->dstlen = hs->req.dstlen;
	weft_net_format_addr((struct sockaddr *)&t->dst, t->dst_addr, sizeof(t->dst_addr));
	weft_ip_format(src, t->src_addr, sizeof(t->src_addr));
	s = service_of(dp_view(dp), w->uid, dst_port, &p);
	if (s)
		t->svc_uid = strdup(s->uid);
	t->h2 = p && (p->proto == WEFT_AV_HTTP2 || p->proto == WEFT_AV_GRPC);
	if (asprintf(&t->pool_key, "%s|%u|%s", w->uid, dst_port, t->h2 ? "h2" : "h1") < 0) {
		t->pool_key = NULL;
		tun_free(t);
		return 503;
	}
	t->pool_hash = l7_pool_key_hash(t->pool_key);
	snprintf(t->name, sizeof(t->name), "l7-in %s:%u t%llu", w->uid, dst_port,
		 (unsigned long long)++st->next_id);
	/* linked before the codec exists: its failure frees t through tun_free */
	t->next = st->tuns;
	if (st->tuns)
		st->tuns->prev = t;
	st->tuns = t;
	xctx = weft_xprt_hbone_wrap(hs);
	if (!xctx) {
		tun_free(t);
		return 503;
	}
	t->hc = weft_h2_server_new(dp->a->loop, -1, &weft_xprt_hbone, xctx, &l7->lim, &tun_cbs, t,
				   t->name);
	if (!t->hc) {
		tun_free(t);
		return 503;
	}
	weft_debug(t->name, "L7 tunnel from %s (%s)", principal, t->h2 ? "h2c" : "http/1.1");
	return 200;
}

void l7_in_free(weft_l7_t *l7)
{
	in_state_t *st = l7->priv_in;

	if (!st) {
		l7_pool_destroy(&l7->deliver);
		return;
	}
	/* tunnels first: their requests hold streams of the deliver pool */
	while (st->tuns) {
		tun_t *t = st->tuns;
		weft_hconn_t *hc = t->hc;
		if (hc)
			hc->ops->close(hc);   /* on_close frees t */
		if (st->tuns == t)
			tun_free(t);
	}
	l7_pool_destroy(&l7->deliver);
	while (st->buckets) {
		rl_bucket_t *b = st->buckets;
		st->buckets = b->next;
		free(b);
	}
	free(st);
	l7->priv_in = NULL;
}
