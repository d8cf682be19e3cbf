/* weft — the source side of the L7 data path: the L7 state's life
 * (l7_new/l7_free), captured connections to L7 Service ports (protocol
 * sniffing, the HTTP/1 or HTTP/2 server codec, per-workload fairness,
 * Upgrade hand-over to the L4 path) and the upstream pool's dial (HTTP/2
 * over an HBONE tunnel flagged WEFT_HBONE_F_H2). One request's life is in
 * l7_proxy.c; active health checks in l7_health.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include "l7_fair.h"
#include "l7_out_int.h"
#include "weft/buf.h"
#include "weft/log.h"
#include "weft/loop.h"
#include "weft/net.h"
#include "weft/str.h"

#define SNIFF_MS 300            /* a client that sends nothing this long is taken for HTTP/1 */
#define PREFACE_LEN 24

/* l7_out.c's private state (l7->priv_out). */
typedef struct out_state {
	l7_dconn_t *conns;
	uint64_t next_id;
	struct otick *ticks;         /* outlier ticks per cluster */
	void *health;                /* l7_health.c's */
} out_state_t;

typedef struct otick {
	struct otick *next;
	weft_l7_t *l7;
	char *svc_uid;
	weft_timer_t t;
} otick_t;

static out_state_t *ost(weft_l7_t *l7) { return l7->priv_out; }

void **l7_health_slot(weft_l7_t *l7) { return &ost(l7)->health; }

/* ---- fairness (the accounting: l7_fair.c) ---- */

void l7_tenant_update(weft_l7_t *l7, l7_tenant_t *tn)
{
	if (tn && l7->tel)
		weft_l7_tel_workload_gauges(l7->tel, tn->uid, tn->conns + tn->in_conns,
					    tn->requests + tn->in_requests,
					    tn->buffer);
}

/* ---- the upstream pool ---- */

static void up_dead_response(weft_hbone_stream_t *hs, int status) { }
static void up_dead_data(weft_hbone_stream_t *hs, const uint8_t *p, size_t n) { }
static void up_dead_eof(weft_hbone_stream_t *hs) { }
static void up_dead_writable(weft_hbone_stream_t *hs) { }
static void up_dead_close(weft_hbone_stream_t *hs, uint32_t err) { }

/* Placeholder callbacks between weft_hbone_pool_open_f and the
 * transport taking the stream over (weft_xprt_hbone_wrap). */
static const weft_hbone_stream_cbs_t up_dead_cbs = {
	.on_response = up_dead_response, .on_data = up_dead_data, .on_eof = up_dead_eof,
	.on_writable = up_dead_writable, .on_close = up_dead_close,
};

/* l7_pool_dial_fn for the up pool: an HBONE CONNECT to the endpoint
 * flagged h2 (the L4 tunnel's pool, credentials and SNI), an HTTP/2
 * client codec over it. NULL when the tunnel cannot be opened. */
static weft_hconn_t *up_dial(void *ud, const char *key, const void *arg)
{
	weft_l7_t *l7 = ud;
	const l7_up_arg_t *ua = arg;
	weft_hbone_stream_t *hs;
	void *x;

	hs = dp_open_tunnel(l7->dp, ua->w, ua->ep, ua->port, WEFT_HBONE_F_H2, &up_dead_cbs, NULL);
	if (!hs) {
		weft_debug("l7", "up %s: no tunnel", key);
		return NULL;
	}
	if (!(x = weft_xprt_hbone_wrap(hs))) {
		weft_hbone_reset(hs, 0x8u);
		return NULL;
	}
	return weft_h2_client_new(l7->dp->a->loop, -1, &weft_xprt_hbone, x, &l7->lim,
				  &l7_pool_conn_cbs, l7, key);
}

/* The pool key "spiffe|ip:port" (w's identity, then ep's address and
 * port) into key[0..cap), cut as snprintf would; per request, so built
 * with copies, not printf. */
static void up_key(char *key, size_t cap, const char *spiffe, const weft_av_endpoint_t *ep,
		   uint16_t port, const char *hostport)
{
	char hp[80];
	size_t n = strlen(spiffe), m;

	if (!hostport) {
		weft_ip_port_format(&ep->addr, port, hp, sizeof(hp));
		hostport = hp;
	}
	m = strlen(hostport);
	if (n + 1 + m >= cap) {   /* never with a valid identity: the slow way keeps snprintf's cut */
		snprintf(key, cap, "%s|%s", spiffe, hostport);
		return;
	}
	memcpy(key, spiffe, n);
	key[n] = '|';
	memcpy(key + n + 1, hostport, m + 1);
}

weft_hstream_t *l7_up_open(weft_l7_t *l7, const weft_av_workload_t *w, const weft_av_endpoint_t *ep,
			   uint16_t port, const char *hostport, const weft_hstream_cbs_t *cbs, void *ud)
{
	l7_up_arg_t ua = { .w = w, .ep = ep, .port = port };
	char key[WEFT_SPIFFE_MAX + 80];

	up_key(key, sizeof(key), w->spiffe, ep, port, hostport);
	return l7_pool_open(&l7->up, key, &ua, cbs, ud);
}

/* ---- outlier ticks ---- */

static void otick_cb(weft_loop_t *loop, weft_timer_t *t)
{
	otick_t *o = t->data;
	const weft_av_t *v = dp_view(o->l7->dp);
	const weft_av_service_t *svc = v ? weft_av_service(v, o->svc_uid) : NULL;
	weft_l7_cluster_t *cl;

	if (!svc || !svc->policy || !svc->policy->outlier.set) {
		weft_timer_start(loop, t, 10000);   /* idle: check again later */
		return;
	}
	if ((cl = weft_l7_cluster(o->l7->clusters, svc)))
		weft_l7_outlier_tick(cl, svc->policy, weft_loop_now(loop));
	weft_timer_start(loop, t, svc->policy->outlier.interval_ms ? svc->policy->outlier.interval_ms : 10000);
}

void l7_outlier_watch(weft_l7_t *l7, const weft_av_service_t *svc)
{
	otick_t *o;

	for (o = ost(l7)->ticks; o; o = o->next)
		if (!strcmp(o->svc_uid, svc->uid))
			return;
	if (!(o = calloc(1, sizeof(*o))) || !(o->svc_uid = strdup(svc->uid))) {
		free(o);
		return;
	}
	o->l7 = l7;
	weft_timer_init(&o->t, otick_cb, o);
	weft_timer_start(l7->dp->a->loop, &o->t,
			 svc->policy->outlier.interval_ms ? svc->policy->outlier.interval_ms : 10000);
	o->next = ost(l7)->ticks;
	ost(l7)->ticks = o;
}

/* ---- downstream connections ---- */

static void dconn_free(l7_dconn_t *dc)
{
	weft_l7_t *l7 = dc->l7;
	out_state_t *os = ost(l7);

	if (dc->prev)
		dc->prev->next = dc->next;
	else
		os->conns = dc->next;
	if (dc->next)
		dc->next->prev = dc->prev;
	weft_timer_stop(l7->dp->a->loop, &dc->t);
	if (dc->io.active)
		weft_io_stop(l7->dp->a->loop, &dc->io);
	dp_refuse_fd(dc->fd);
	l7_fair_give(l7, dc->tn, L7_FAIR_CONNS, 1);
	l7_req_spare_free(dc);
	free(dc->upg);
	free(dc->wl_uid);
	free(dc->svc_uid);
	free(dc);
}

static void hc_on_stream(weft_hconn_t *hc, weft_hstream_t *s)
{
	l7_req_start(hc->ud, s);
}

static void hc_on_close(weft_hconn_t *hc)
{
	l7_dconn_t *dc = hc->ud;

	dc->hc = NULL;
	dconn_free(dc);
}

static const weft_hconn_cbs_t dconn_cbs = {
	.on_stream = hc_on_stream, .on_close = hc_on_close,
};

/* Puts the server codec the sniffed protocol needs on the socket. */
static void start_codec(l7_dconn_t *dc, bool h2)
{
	weft_loop_t *loop = dc->l7->dp->a->loop;
	int fd = dc->fd;

	weft_timer_stop(loop, &dc->t);
	if (dc->io.active)
		weft_io_stop(loop, &dc->io);
	dc->fd = -1;
	dc->hc = h2 ? weft_h2_server_new(loop, fd, &weft_xprt_raw, NULL, &dc->l7->lim, &dconn_cbs, dc, dc->name)
		    : weft_h1_server_new(loop, fd, &weft_xprt_raw, NULL, &dc->l7->lim, &dconn_cbs, dc, dc->name);
	if (!dc->hc) {
		weft_info(dc->name, "no %s codec", h2 ? "h2" : "h1");
		dconn_free(dc);   /* the codec closed fd */
		return;
	}
	weft_debug(dc->name, "%s from %s", h2 ? "h2" : "h1", dc->wl_uid);
}

/* Reads (without taking) the first bytes: the HTTP/2 preface or not. */
static void sniff_io(weft_loop_t *loop, weft_io_t *io, uint32_t events)
{
	l7_dconn_t *dc = io->data;
	uint8_t b[PREFACE_LEN];
	ssize_t n = recv(dc->fd, b, sizeof(b), MSG_PEEK);
	int r;

	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		dconn_free(dc);   /* gone before a byte */
		return;
	}
	if (n < 0)
		return;
	r = weft_h2_sniff(b, (size_t)n);
	if (r == WEFT_EAGAIN)
		return;   /* a prefix of the preface so far: wait (the timer decides) */
	start_codec(dc, r == 1);
}

static void sniff_timeout(weft_loop_t *loop, weft_timer_t *t)
{
	start_codec(t->data, false);
}

void l7_out_accept(weft_l7_t *l7, const weft_av_workload_t *w, const weft_av_service_t *svc,
		   const weft_av_port_t *p, int fd, const struct sockaddr *orig, socklen_t origlen)
{
	out_state_t *os = ost(l7);
	weft_loop_t *loop = l7->dp->a->loop;
	struct sockaddr_storage peer;
	socklen_t pl = sizeof(peer);
	l7_tenant_t *tn = l7_fair_tenant(l7, w->uid);
	l7_dconn_t *dc;

	if (!tn) {
		dp_refuse_fd(fd);
		return;
	}
	if (!l7_fair_take(l7, tn, L7_FAIR_CONNS, 1)) {
		/* over the workload's share: refused at once (counted) */
		weft_info("l7", "%s: connection refused (--l7-max-connections %llu)", w->uid,
			  (unsigned long long)l7->max_conns);
		dp_refuse_fd(fd);
		return;
	}
	if (!(dc = calloc(1, sizeof(*dc))) || !(dc->wl_uid = strdup(w->uid)) ||
	    !(dc->svc_uid = strdup(svc->uid)) || origlen > sizeof(dc->orig)) {
		if (dc) {
			free(dc->wl_uid);
			free(dc->svc_uid);
		}
		free(dc);
		l7_fair_give(l7, tn, L7_FAIR_CONNS, 1);
		dp_refuse_fd(fd);
		return;
	}
	dc->l7 = l7;
	dc->fd = fd;
	dc->tn = tn;
	dc->port = p->port;
	memcpy(&dc->orig, orig, origlen);
	dc->origlen = origlen;
	dc->id = ++os->next_id;
	snprintf(dc->name, sizeof(dc->name), "l7 d%llu", (unsigned long long)dc->id);
	if (getpeername(fd, (struct sockaddr *)&peer, &pl) == 0)
		weft_ip_from_sockaddr((struct sockaddr *)&peer, &dc->src, NULL);
	if (w->naddrs && (!dc->src.v4 || dc->src.a6[12] == 127))
		dc->src = w->addrs[0];   /* eBPF capture shows 127.0.0.1: the workload's own address */
	dc->next = os->conns;
	if (os->conns)
		os->conns->prev = dc;
	os->conns = dc;
	weft_timer_init(&dc->t, sniff_timeout, dc);
	if (weft_io_start(loop, &dc->io, fd, WEFT_IO_READ, sniff_io, dc) < 0) {
		dconn_free(dc);
		return;
	}
	weft_timer_start(loop, &dc->t, SNIFF_MS);
}

/* ---- Upgrade: hand the connection to the L4 path ---- */

static void upgrade_cb(weft_loop_t *loop, weft_timer_t *t)
{
	l7_dconn_t *dc = t->data;
	weft_l7_t *l7 = dc->l7;
	const weft_av_t *v = dp_view(l7->dp);
	const weft_av_workload_t *w = v ? weft_av_workload(v, dc->wl_uid) : NULL;
	uint8_t *rest = NULL, *all;
	size_t nrest = 0;
	int fd;

	if (!dc->hc || !w) {
		if (dc->hc)
			dc->hc->ops->close(dc->hc);
		return;
	}
	l7_req_drop_all(dc);
	fd = weft_h1_take_fd(dc->hc, &rest, &nrest);
	dc->hc = NULL;
	if (fd < 0) {
		free(rest);
		dconn_free(dc);
		return;
	}
	all = malloc(dc->nupg + nrest);
	if (!all) {
		free(rest);
		dp_refuse_fd(fd);
		dconn_free(dc);
		return;
	}
	memcpy(all, dc->upg, dc->nupg);
	if (nrest)
		memcpy(all + dc->nupg, rest, nrest);
	weft_debug(dc->name, "upgrade (%zu bytes ahead): carried at L4", dc->nupg + nrest);
	dp_outbound_l4(l7->dp, w, fd, (struct sockaddr *)&dc->orig, dc->origlen, all, dc->nupg + nrest);
	free(all);
	free(rest);
	dconn_free(dc);
}

/* Appends "name: value\r\n". */
static void put_field(weft_buf_t *b, weft_str_t n, weft_str_t v)
{
	weft_buf_append(b, n.p, n.len);
	weft_buf_append(b, ": ", 2);
	weft_buf_append(b, v.p, v.len);
	weft_buf_append(b, "\r\n", 2);
}

void l7_out_upgrade(l7_dconn_t *dc, const weft_http_head_t *h)
{
	weft_buf_t b;

	if (dc->upg || weft_timer_active(&dc->t))
		return;
	/* the codec consumed the head: write it again for the application */
	weft_buf_init(&b, 0);
	weft_buf_append(&b, h->method.p, h->method.len);
	weft_buf_append(&b, " ", 1);
	weft_buf_append(&b, h->path.p, h->path.len);
	weft_buf_append(&b, h->ver == WEFT_HTTP_10 ? " HTTP/1.0\r\n" : " HTTP/1.1\r\n", 11);
	if (h->authority.len && !weft_http_hdr(h, "host"))   /* HTTP/1 heads keep their host field */
		put_field(&b, weft_str_c("host"), h->authority);
	for (size_t i = 0; i < h->nhdrs; i++)
		put_field(&b, h->hdrs[i].name, h->hdrs[i].value);
	put_field(&b, weft_str_c("connection"), weft_str_c("upgrade"));
	put_field(&b, weft_str_c("upgrade"), h->upgrade_proto);
	weft_buf_append(&b, "\r\n", 2);
	if (!(dc->upg = malloc(weft_buf_len(&b) ? weft_buf_len(&b) : 1))) {
		weft_buf_free(&b);
		return;
	}
	dc->nupg = weft_buf_len(&b);
	memcpy(dc->upg, weft_buf_head(&b), dc->nupg);
	weft_buf_free(&b);
	dc->t.cb = upgrade_cb;
	weft_timer_start(dc->l7->dp->a->loop, &dc->t, 0);
}

/* ---- the L7 state ---- */

weft_l7_t *l7_new(struct weft_dp *dp)
{
	weft_agent_t *a = dp->a;
	const weft_agent_opts_t *o = &a->o;
	weft_l7_tel_opts_t to;
	weft_l7_t *l7 = calloc(1, sizeof(*l7));
	char err[256];

	if (!l7 || !(l7->priv_out = calloc(1, sizeof(out_state_t)))) {
		free(l7);
		return NULL;
	}
	l7->dp = dp;
	weft_http_limits_default(&l7->lim);
	l7->max_conns = o->l7_max_conns;
	l7->max_requests = o->l7_max_requests;
	l7->max_buffer = o->l7_max_buffer;
	l7->slash = o->path_slashes && !strcmp(o->path_slashes, "keep") ? WEFT_L7_SLASH_KEEP
		    : o->path_slashes && !strcmp(o->path_slashes, "reject") ? WEFT_L7_SLASH_REJECT
		    : WEFT_L7_SLASH_DECODE;
	l7->rnd = a->rnd ^ 0x9e3779b97f4a7c15ull;
	if (!l7->rnd)
		l7->rnd = 1;
	memset(&to, 0, sizeof(to));
	to.log_sink = o->access_log;
	to.log_fields = o->access_log_fields;
	to.log_sample = o->access_log_sample;
	to.trace_endpoint = o->trace_endpoint;
	to.trace_sample = o->trace_sample;
	to.service_name = "weft-agent";
	err[0] = '\0';
	if (!(l7->tel = weft_l7_tel_new(a->loop, &a->metrics, &to, err, sizeof(err)))) {
		weft_err("l7", "telemetry: %s", err[0] ? err : "failed");
		free(l7->priv_out);
		free(l7);
		return NULL;
	}
	if (!(l7->clusters = weft_l7_clusters_new())) {
		weft_l7_tel_free(l7->tel);
		free(l7->priv_out);
		free(l7);
		return NULL;
	}
	l7_pool_init(&l7->up, a->loop, up_dial, l7);
	l7->up.idle_ms = l7->lim.idle_ms;
	l7_health_start(l7);
	return l7;
}

void l7_free(weft_l7_t *l7)
{
	out_state_t *os;

	if (!l7)
		return;
	os = ost(l7);
	l7_health_stop(l7);
	/* downstream connections first: their requests hold upstream streams */
	while (os->conns) {
		l7_dconn_t *dc = os->conns;
		if (dc->hc)
			dc->hc->ops->close(dc->hc);   /* on_close frees dc */
		else
			dconn_free(dc);
	}
	l7_pool_destroy(&l7->up);
	l7_in_free(l7);
	if (l7->deliver.loop)
		l7_pool_destroy(&l7->deliver);
	while (os->ticks) {
		otick_t *o = os->ticks;
		os->ticks = o->next;
		weft_timer_stop(l7->dp->a->loop, &o->t);
		free(o->svc_uid);
		free(o);
	}
	l7_fair_free(l7);
	weft_l7_clusters_free(l7->clusters);
	weft_l7_tel_free(l7->tel);
	free(os);
	free(l7);
}
