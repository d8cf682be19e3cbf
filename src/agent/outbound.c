/* weft — the agent's data path, outbound half: the data-path state, the
 * connection records both halves share, the HBONE stream as a relay end,
 * and captured outbound connections.
 *
 * A connection accepted on workload w's 15001 listener is classified by
 * its original destination (SO_ORIGINAL_DST):
 *   one of our own ports on a local/loopback address -> RST ("loop")
 *   a Service VIP:port    -> an endpoint chosen by weft_lb_pick (w's
 *                            locality, up to 3 attempts excluding failed
 *                            endpoints) -> HBONE tunnel
 *   a mesh endpoint's IP  -> HBONE tunnel to that endpoint
 *   anything else         -> passthrough: a marked socket in w's netns
 * A tunnel needs w's credential: without one the connection is refused,
 * never sent in the clear into the mesh. Tunnels share pooled HBONE
 * connections keyed "<w spiffe>|<node address>|<endpoint spiffe>", dialled
 * from the node's network namespace. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include "dp_int.h"
#include "l7_int.h"
#include "weft/agentview.h"
#include "weft/buf.h"
#include "weft/log.h"
#include "weft/loop.h"
#include "weft/metrics.h"
#include "weft/net.h"
#include "weft/telemetry.h"

#define H2_CANCEL        0x8u
#define H2_CONNECT_ERROR 0xau

static const char *const reason_names[DP_R_N] = {
	[DP_R_LOOP] = "loop",
	[DP_R_NO_ORIG_DST] = "no_original_dst",
	[DP_R_NO_CRED] = "no_credential",
	[DP_R_NO_ENDPOINT] = "no_endpoint",
	[DP_R_TUNNEL_FAILED] = "tunnel_failed",
	[DP_R_PLAINTEXT_REFUSED] = "plaintext_refused",
	[DP_R_SPOOF] = "spoofed_source",
	[DP_R_NOT_LOCAL] = "not_local",
	[DP_R_WRONG_IDENTITY] = "wrong_identity",
	[DP_R_DENIED] = "denied",
	[DP_R_DELIVER_FAILED] = "deliver_failed",
	[DP_R_SOCKET] = "socket",
};

/* ---- telemetry: the one place where connections are reported ---- */

/* A workload's label value, or NULL. */
static const char *label_of(const weft_av_workload_t *w, const char *key)
{
	for (size_t i = 0; i < w->nlabels; i++)
		if (!strcmp(w->labels[i].key, key))
			return w->labels[i].value;
	return NULL;
}

void dp_tm_labels_in(const weft_av_t *v, const weft_av_workload_t *w, const char *principal,
		     const char *principal_uri, const char *peer_ns, const weft_ip_t *src,
		     weft_tm_labels_t *l)
{
	/* the source: the mesh endpoint at the forwarded address, when it
	 * carries the identity the peer proved */
	const weft_av_endpoint_t *se = v && principal ? weft_av_endpoint_by_ip(v, src) : NULL;

	l->destination = true;
	if (se && !strcmp(se->spiffe + strlen("spiffe://"), principal)) {
		l->src_workload = se->name;
		l->src_app = se->app;
		l->src_version = se->version;
	}
	l->src_principal = principal_uri;
	l->src_ns = peer_ns;
	l->dst_workload = w ? w->name : NULL;
	l->dst_ns = w ? w->ns : NULL;
	l->dst_principal = w ? w->spiffe : NULL;
	l->dst_app = w ? label_of(w, "app") : NULL;
	l->dst_version = w ? label_of(w, "version") : NULL;
}

/* Opens the connection's telemetry record with Istio's labels: what this
 * agent knows of both ends (the source workload from its listener or the
 * proven peer identity, the destination from the chosen endpoint or the
 * local workload). */
void dp_tm_open(dp_conn_t *c)
{
	struct weft_dp *dp = c->dp;
	const weft_av_t *v = dp_view(dp);
	const weft_av_workload_t *w = v && c->wl_uid ? weft_av_workload(v, c->wl_uid) : NULL;
	bool in = c->kind == DP_IN_HBONE || c->kind == DP_IN_PLAIN;
	char sa[80] = "", od[80] = "", dst[80] = "", pr[WEFT_SPIFFE_MAX + 16] = "";
	weft_tm_labels_t l;

	c->opened_ms = weft_loop_now(dp->a->loop);
	if (!dp->a->tm)
		return;
	memset(&l, 0, sizeof(l));
	l.destination = in;
	if (c->peer.ss_family)
		weft_net_format_addr((struct sockaddr *)&c->peer, sa, sizeof(sa));
	if (c->origlen)
		weft_net_format_addr((struct sockaddr *)&c->orig, od, sizeof(od));
	if (c->principal)
		snprintf(pr, sizeof(pr), "spiffe://%s", c->principal);
	l.dst_addr = od;
	if (in) {
		dp_tm_labels_in(v, w, c->principal, pr, c->peer_ns, &c->src, &l);
	} else {
		const weft_av_service_t *svc = v && c->svc_uid ? weft_av_service(v, c->svc_uid) : NULL;
		/* the endpoint the tunnel went to, through the view's address index
		 * (not a scan of the service's endpoints: this runs per connection) */
		weft_ip_t eip;
		const weft_av_endpoint_t *ep = NULL;

		if (v && c->hs) {
			weft_ip_from_sockaddr((const struct sockaddr *)&c->hs->req.dst, &eip, NULL);
			ep = weft_av_endpoint_by_ip(v, &eip);
		}

		l.src_workload = w ? w->name : NULL;
		l.src_ns = w ? w->ns : NULL;
		l.src_principal = w ? w->spiffe : NULL;
		l.src_app = w ? label_of(w, "app") : NULL;
		l.src_version = w ? label_of(w, "version") : NULL;
		if (svc) {
			l.dst_service = svc->hostname;
			l.dst_service_name = svc->name;
			l.dst_service_ns = svc->ns;
		}
		if (ep) {
			l.dst_workload = ep->name;
			l.dst_ns = ep->ns;
			l.dst_principal = ep->spiffe;
			l.dst_app = ep->app;
			l.dst_version = ep->version;
			weft_net_format_addr((const struct sockaddr *)&c->hs->req.dst, dst, sizeof(dst));
			l.dst_addr = dst;
		}
	}
	l.mtls = c->kind == DP_IN_HBONE || c->kind == DP_OUT_TUNNEL;
	l.response_flags = WEFT_TM_FLAG_NONE;
	l.src_addr = sa;
	l.orig_dst = od;
	l.policy = c->policy;
	c->tmc = weft_tm_conn_open(dp->a->tm, &l);
}

static void tm_close(dp_conn_t *c, const char *reason)
{
	if (!c->opened_ms)
		return;   /* never opened: refused before any byte moved */
	/* side 0 is always the client: sent = towards it, received = from it */
	weft_tm_conn_bytes(c->tmc, c->relay.s[0].bytes_out - c->tm_sent,
			   c->relay.s[0].bytes_in - c->tm_recv);
	weft_tm_conn_close(c->tmc, reason);
	c->tmc = NULL;
	weft_debug(c->name, "%s %s: sent %llu received %llu in %llu ms", reason ? reason : "closed",
		   c->wl_uid ? c->wl_uid : "", (unsigned long long)c->relay.s[0].bytes_out,
		   (unsigned long long)c->relay.s[0].bytes_in,
		   (unsigned long long)(weft_loop_now(c->dp->a->loop) - c->opened_ms));
}

void dp_count(struct weft_dp *dp, dp_reason_t r, const char *ctx, const char *detail)
{
	dp->reasons[r]++;
	if (dp->a->tm)
		weft_series_inc(weft_metric_with(weft_tm_metrics(dp->a->tm)->errors, reason_names[r]));
	weft_info(ctx ? ctx : "dp", "refused (%s)%s%s", reason_names[r], detail ? ": " : "",
		  detail ? detail : "");
}

/* ---- connection records ---- */

dp_conn_t *dp_conn_new(struct weft_dp *dp, dp_kind_t kind, const char *wl_uid)
{
	static const char *const tag[] = { "out", "pass", "in", "in-plain" };
	dp_conn_t *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->dp = dp;
	c->kind = kind;
	c->id = ++dp->next_id;
	c->client_fd = -1;
	c->dfd = -1;
	c->wl_uid = wl_uid ? strdup(wl_uid) : NULL;
	snprintf(c->name, sizeof(c->name), "%s c%llu", tag[kind], (unsigned long long)c->id);
	weft_relay_init(&c->relay, dp->a->loop, 0, dp_relay_done, c);
	weft_timer_init(&c->retry, NULL, c);
	c->next = dp->conns;
	if (dp->conns)
		dp->conns->prev = c;
	dp->conns = c;
	dp->nconns++;
	return c;
}

void dp_refuse_fd(int fd)
{
	if (fd < 0)
		return;
	weft_sock_set_rst(fd);
	close(fd);
}

static void drop_load(dp_conn_t *c)
{
	if (c->ep_uid) {
		weft_lb_load_add(c->dp->load, c->ep_uid, -1);
		free(c->ep_uid);
		c->ep_uid = NULL;
	}
}

static void detach_stream(dp_conn_t *c, uint32_t rst)
{
	weft_hbone_stream_t *hs = c->hs;

	if (!hs)
		return;
	c->hs = NULL;
	hs->ud = NULL;
	if (rst)
		weft_hbone_reset(hs, rst);
}

void dp_conn_free(dp_conn_t *c, const char *reason)
{
	struct weft_dp *dp = c->dp;

	tm_close(c, reason);
	if (c->prev)
		c->prev->next = c->next;
	else
		dp->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	dp->nconns--;
	detach_stream(c, H2_CANCEL);
	dp_refuse_fd(c->client_fd);
	if (c->dfd >= 0) {
		weft_io_stop(dp->a->loop, &c->dio);
		close(c->dfd);
	}
	weft_relay_release(&c->relay);
	weft_timer_stop(dp->a->loop, &c->retry);
	drop_load(c);
	weft_netns_release(&dp->nss, c->ns);
	for (int i = 0; i < 3; i++)
		free(c->excluded[i]);
	free(c->wl_uid);
	free(c->principal);
	free(c->peer_ns);
	free(c->policy);
	free(c->svc_uid);
	free(c->first);
	free(c);
}

void dp_relay_done(weft_relay_t *r)
{
	dp_conn_t *c = r->ud;
	static const char *const how[] = { "closed", "reset", "aborted" };

	dp_conn_free(c, how[r->how]);
}

bool dp_agent_port(const struct weft_dp *dp, uint16_t port)
{
	return port == 15001 || port == 15006 || port == dp->a->o.hbone_port;
}

/* ---- an HBONE stream as a relay end (ctx: the dp_conn) ---- */

static int hs_side(const dp_conn_t *c)
{
	return c->kind == DP_IN_HBONE ? 0 : 1;
}

static ssize_t end_send(void *ctx, const void *p, size_t n)
{
	dp_conn_t *c = ctx;

	return c->hs ? weft_hbone_send(c->hs, p, n) : WEFT_ECLOSED;
}

static void end_consumed(void *ctx, size_t n)
{
	dp_conn_t *c = ctx;

	if (c->hs)
		weft_hbone_consumed(c->hs, n);
}

static void end_shutdown(void *ctx)
{
	dp_conn_t *c = ctx;

	if (c->hs)
		weft_hbone_shutdown_write(c->hs);
}

static void end_close(void *ctx, bool reset)
{
	detach_stream(ctx, reset ? H2_CONNECT_ERROR : 0);
}

const weft_relay_end_ops_t dp_hbone_end = {
	.kind = "hbone", .send = end_send, .consumed = end_consumed,
	.shutdown_write = end_shutdown, .close = end_close,
};

static void start_tunnel(dp_conn_t *c);

static void retry_cb(weft_loop_t *l, weft_timer_t *t)
{
	start_tunnel(t->data);
}

/* The current attempt failed: try another endpoint (next loop turn, not
 * inside the stream's callback). */
static void attempt_failed(dp_conn_t *c, const char *why)
{
	weft_debug(c->name, "attempt %d failed: %s", c->attempts, why);
	if (c->ep_uid && c->attempts <= 3) {
		c->excluded[c->attempts - 1] = c->ep_uid;   /* moves the string */
		weft_lb_load_add(c->dp->load, c->ep_uid, -1);
		c->ep_uid = NULL;
	}
	drop_load(c);
	c->retry.cb = retry_cb;
	weft_timer_start(c->dp->a->loop, &c->retry, 0);
}

static void s_response(weft_hbone_stream_t *hs, int status)
{
	dp_conn_t *c = hs->ud;
	char why[32];

	if (!c || c->kind != DP_OUT_TUNNEL)
		return;
	if (status != 200) {
		snprintf(why, sizeof(why), "CONNECT answered %d", status);
		detach_stream(c, 0);
		attempt_failed(c, why);
		return;
	}
	if (weft_relay_set_sock(&c->relay, 0, c->client_fd) < 0) {
		c->client_fd = -1;
		return;   /* the relay resets the stream and finishes */
	}
	c->client_fd = -1;
	weft_relay_set_ext(&c->relay, 1, &dp_hbone_end, c);
	c->relay_ready = true;
	if (c->nfirst) {
		/* bytes the L7 path read before handing the connection over
		 * (an HTTP/1 Upgrade): they go first, as if just read */
		if (weft_buf_append(&c->relay.s[0].in, c->first, c->nfirst) == 0)
			c->relay.s[0].bytes_in += c->nfirst;
		free(c->first);
		c->first = NULL;
		c->nfirst = 0;
	}
	dp_tm_open(c);
	weft_relay_start(&c->relay);
}

static void s_data(weft_hbone_stream_t *hs, const uint8_t *p, size_t n)
{
	dp_conn_t *c = hs->ud;

	if (c)
		weft_relay_push(&c->relay, hs_side(c), p, n);
}

static void s_eof(weft_hbone_stream_t *hs)
{
	dp_conn_t *c = hs->ud;

	if (c)
		weft_relay_eof(&c->relay, hs_side(c));
}

static void s_writable(weft_hbone_stream_t *hs)
{
	dp_conn_t *c = hs->ud;

	if (c)
		weft_relay_writable(&c->relay, hs_side(c));
}

static void s_close(weft_hbone_stream_t *hs, uint32_t err)
{
	dp_conn_t *c = hs->ud;

	if (!c)
		return;
	hs->ud = NULL;
	c->hs = NULL;
	if (c->relay.started) {
		weft_relay_closed(&c->relay, hs_side(c), err != 0);
		return;
	}
	if (c->kind == DP_OUT_TUNNEL)
		attempt_failed(c, "stream closed before the answer");
	else
		dp_inbound_stream_closed(c, err);
}

const weft_hbone_stream_cbs_t dp_stream_cbs = {
	.on_response = s_response, .on_data = s_data, .on_eof = s_eof,
	.on_writable = s_writable, .on_close = s_close,
};

/* ---- TLS contexts ---- */

static weft_cred_t *sni_select(void *ud, const char *sni)
{
	struct weft_dp *dp = ud;
	const weft_av_t *v = dp_view(dp);
	char ns[WEFT_NAME_MAX], sa[WEFT_NAME_MAX];

	if (!v || !sni || weft_sni_parse(sni, ns, sizeof(ns), sa, sizeof(sa)) != WEFT_OK)
		return NULL;
	/* only identities of workloads on this node */
	for (size_t i = 0; i < v->nworkloads; i++)
		if (!strcmp(v->workloads[i].ns, ns) && !strcmp(v->workloads[i].sa, sa))
			return weft_ident_cred(dp->a->ident, ns, sa);
	return NULL;
}

static void on_refused(void *ud, weft_peer_reason_t why, const char *detail)
{
	struct weft_dp *dp = ud;

	if (why < WEFT_PEER_NREASONS)
		dp->peer_refused[why]++;
	if (dp->a->tm)
		weft_series_inc(weft_metric_with(weft_tm_metrics(dp->a->tm)->peer_refused,
						 weft_peer_reason_name(why)));
	weft_info("hbone", "peer refused (%s): %s", weft_peer_reason_name(why), detail ? detail : "");
}

static weft_tls_ctx_t *get_ctx(struct weft_dp *dp, bool server)
{
	dp_tlsctx_t **head = server ? &dp->server_ctx : &dp->client_ctx, *e;
	const weft_bundle_t *b = weft_ident_bundle(dp->a->ident);
	weft_tls_opts_t o;
	char err[256];

	if (!b)
		return NULL;
	if (*head && (*head)->bundle == b)
		return (*head)->ctx;
	memset(&o, 0, sizeof(o));
	o.server = server;
	o.peer.bundle = b;
	o.peer.kind = WEFT_ID_WORKLOAD;
	o.peer.require_cert = true;
	o.on_refused = on_refused;
	o.ud = dp;
	if (server)
		o.select = sni_select;
	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->ctx = weft_tls_ctx_new(&o, err, sizeof(err));
	if (!e->ctx) {
		weft_err("dp", "TLS %s context: %s", server ? "server" : "client", err);
		free(e);
		return NULL;
	}
	e->bundle = weft_bundle_ref((weft_bundle_t *)b);
	e->next = *head;
	*head = e;
	return e->ctx;
}

weft_tls_ctx_t *dp_client_ctx(struct weft_dp *dp) { return get_ctx(dp, false); }
weft_tls_ctx_t *dp_server_ctx(struct weft_dp *dp) { return get_ctx(dp, true); }

static void free_ctxs(dp_tlsctx_t *e)
{
	while (e) {
		dp_tlsctx_t *n = e->next;
		weft_tls_ctx_free(e->ctx);
		weft_bundle_unref(e->bundle);
		free(e);
		e = n;
	}
}

/* ---- dialling pooled HBONE connections ---- */

typedef struct dial_arg {
	weft_ip_t node_addr;
	weft_cred_t *cred;
	char sni[256];
	const char *expect;
} dial_arg_t;

weft_netns_t *dp_node_ns(struct weft_dp *dp)
{
	if (!dp->node_ns_open) {
		const char *p = dp->a->o.node_netns;
		dp->node_ns = weft_netns_open(&dp->nss, p);
		if (!dp->node_ns && p && *p) {
			weft_err("dp", "node netns %s: %s", p, strerror(errno));
			return NULL;
		}
		dp->node_ns_open = true;
	}
	return dp->node_ns;
}

static int dial(void *ud, const char *key, const void *arg, int *fd, const weft_xprt_ops_t **x,
		void **xctx)
{
	struct weft_dp *dp = ud;
	const dial_arg_t *da = arg;
	struct sockaddr_storage ss;
	socklen_t sl = weft_ip_to_sockaddr(&da->node_addr, dp->a->o.hbone_port, &ss);
	weft_tls_ctx_t *ctx = dp_client_ctx(dp);
	weft_netns_t *ns = dp_node_ns(dp);
	weft_tls_t *t;
	int f;

	if (!ctx || (!ns && dp->a->o.node_netns && *dp->a->o.node_netns))
		return WEFT_EFAIL;
	f = weft_netns_connect(&dp->nss, ns, (struct sockaddr *)&ss, sl, 0);
	if (f < 0) {
		weft_warn("dp", "dial %s: %s", key, strerror(errno));
		return WEFT_EFAIL;
	}
	t = weft_tls_new(ctx, f, da->cred, da->sni, da->expect);
	if (!t) {
		close(f);
		return WEFT_EFAIL;
	}
	*fd = f;
	*x = &weft_xprt_tls;
	*xctx = t;
	return WEFT_OK;
}

/* ---- outbound ---- */

static bool excluded(void *arg, const weft_av_endpoint_t *e)
{
	dp_conn_t *c = arg;

	for (int i = 0; i < 3; i++)
		if (c->excluded[i] && !strcmp(c->excluded[i], e->workload))
			return true;
	return false;
}

static void refuse_conn(dp_conn_t *c, dp_reason_t r, const char *detail)
{
	dp_count(c->dp, r, c->name, detail);
	dp_conn_free(c, reason_names[r]);   /* the client socket is reset */
}

/* Opens (or retries) the tunnel of an outbound connection. */
static void start_tunnel(dp_conn_t *c)
{
	struct weft_dp *dp = c->dp;
	const weft_av_t *v = dp_view(dp);
	const weft_av_workload_t *w = v ? weft_av_workload(v, c->wl_uid) : NULL;
	weft_ip_t dip;
	uint16_t dport;

	if (!w) {
		refuse_conn(c, DP_R_NO_ENDPOINT, "source workload left the view");
		return;
	}
	weft_ip_from_sockaddr((struct sockaddr *)&c->orig, &dip, &dport);
	dial_arg_t da = { .cred = weft_ident_cred(dp->a->ident, w->ns, w->sa) };
	if (!da.cred || !dp_client_ctx(dp)) {
		refuse_conn(c, DP_R_NO_CRED, w->spiffe);
		return;
	}
	while (c->attempts < 3) {
		const weft_av_service_t *svc = c->svc_uid ? weft_av_service(v, c->svc_uid) : NULL;
		const weft_av_endpoint_t *ep;
		struct sockaddr_storage dst, src;
		char key[WEFT_SPIFFE_MAX * 2 + 64], na[64];
		weft_hbone_stream_t *hs;

		if (c->svc_uid)
			ep = svc ? weft_lb_pick(svc, &w->locality, dp->load, excluded, c, &dp->a->rnd) : NULL;
		else {
			ep = weft_av_endpoint_by_ip(v, &dip);
			if (ep && excluded(c, ep))
				ep = NULL;
		}
		if (!ep) {
			refuse_conn(c, c->attempts ? DP_R_TUNNEL_FAILED : DP_R_NO_ENDPOINT, NULL);
			return;
		}
		c->attempts++;
		da.node_addr = ep->node_addr;
		da.expect = ep->spiffe;
		if (weft_sni_format(da.sni, sizeof(da.sni), ep->ns, ep->sa) != WEFT_OK) {
			c->excluded[c->attempts - 1] = strdup(ep->workload);
			continue;
		}
		snprintf(key, sizeof(key), "%s|%s|%s", w->spiffe,
			 weft_ip_format(&ep->node_addr, na, sizeof(na)), ep->spiffe);
		/* a Service: the endpoint's (first) address and target port; a pod
		 * address asked for directly: exactly that address and port */
		weft_ip_to_sockaddr(c->svc_uid ? &ep->addr : &dip, c->target_port ? c->target_port : dport,
				    &dst);
		if (w->naddrs)
			weft_ip_to_sockaddr(&w->addrs[0], 0, &src);
		hs = weft_hbone_pool_open(&dp->pool, key, &da, (struct sockaddr *)&dst,
					  w->naddrs ? (struct sockaddr *)&src : NULL, &dp_stream_cbs, c);
		if (!hs) {
			weft_debug(c->name, "attempt %d: no tunnel to %s", c->attempts, ep->workload);
			c->excluded[c->attempts - 1] = strdup(ep->workload);
			continue;
		}
		c->hs = hs;
		c->ep_uid = strdup(ep->workload);
		if (c->ep_uid)
			weft_lb_load_add(dp->load, c->ep_uid, +1);
		return;
	}
	refuse_conn(c, DP_R_TUNNEL_FAILED, NULL);
}

weft_hbone_stream_t *dp_open_tunnel(struct weft_dp *dp, const weft_av_workload_t *w,
				    const weft_av_endpoint_t *ep, uint16_t port, uint32_t flags,
				    const weft_hbone_stream_cbs_t *cbs, void *ud)
{
	dial_arg_t da = { .cred = weft_ident_cred(dp->a->ident, w->ns, w->sa) };
	struct sockaddr_storage dst, src;
	char key[WEFT_SPIFFE_MAX * 2 + 64], na[64];

	if (!da.cred || !dp_client_ctx(dp))
		return NULL;
	da.node_addr = ep->node_addr;
	da.expect = ep->spiffe;
	if (weft_sni_format(da.sni, sizeof(da.sni), ep->ns, ep->sa) != WEFT_OK)
		return NULL;
	snprintf(key, sizeof(key), "%s|%s|%s", w->spiffe, weft_ip_format(&ep->node_addr, na, sizeof(na)),
		 ep->spiffe);
	weft_ip_to_sockaddr(&ep->addr, port, &dst);
	if (w->naddrs)
		weft_ip_to_sockaddr(&w->addrs[0], 0, &src);
	return weft_hbone_pool_open_f(&dp->pool, key, &da, (struct sockaddr *)&dst,
				      w->naddrs ? (struct sockaddr *)&src : NULL, flags, cbs, ud);
}

static bool is_loopback(const weft_ip_t *ip)
{
	static const uint8_t v6lo[16] = { [15] = 1 };

	return ip->v4 ? ip->a6[12] == 127 : !memcmp(ip->a6, v6lo, 16);
}

const char *dp_wl_netns(const struct weft_dp *dp, const weft_av_workload_t *w)
{
	if (w->netns && w->netns[0])
		return w->netns;
	if (w->cgroup && w->cgroup[0] && dp->a->o.node_netns)
		return dp->a->o.node_netns;
	return "";
}

static bool owns_ip(const weft_av_workload_t *w, const weft_ip_t *ip)
{
	for (size_t i = 0; i < w->naddrs; i++)
		if (weft_ip_eq(&w->addrs[i], ip))
			return true;
	return false;
}

/* A captured connection: L7 when allowed and the destination is an L7
 * Service port, else the L4 paths below. first/nfirst: bytes already read
 * from fd (sent first through the tunnel). */
static void outbound(struct weft_dp *dp, const weft_av_workload_t *w, int fd,
		     const struct sockaddr *orig, socklen_t origlen, bool allow_l7,
		     const uint8_t *first, size_t nfirst)
{
	const weft_av_t *v = dp_view(dp);
	dp_conn_t *c = dp_conn_new(dp, DP_OUT_PASS, w->uid);
	socklen_t pl = sizeof(struct sockaddr_storage);
	const weft_av_service_t *svc = NULL;
	const weft_av_port_t *sp = NULL;
	weft_ip_t ip;
	uint16_t port;
	int pfd;

	if (!c) {
		dp_refuse_fd(fd);
		return;
	}
	c->client_fd = fd;
	getpeername(fd, (struct sockaddr *)&c->peer, &pl);
	if (c->peer.ss_family == AF_INET && w->naddrs) {
		/* eBPF capture connects the client to 127.0.0.1: report the
		 * workload's own address, as the nft redirect shows it */
		struct sockaddr_in *p4 = (struct sockaddr_in *)&c->peer;
		if ((ntohl(p4->sin_addr.s_addr) >> 24) == 127)
			for (size_t i = 0; i < w->naddrs; i++)
				if (w->addrs[i].v4) {
					memcpy(&p4->sin_addr, w->addrs[i].a6 + 12, 4);
					break;
				}
	}
	if (!orig || origlen > sizeof(c->orig)) {
		refuse_conn(c, DP_R_NO_ORIG_DST, w->uid);
		return;
	}
	memcpy(&c->orig, orig, origlen);
	c->origlen = origlen;
	weft_ip_from_sockaddr((struct sockaddr *)&c->orig, &ip, &port);
	if (dp_agent_port(dp, port) && (is_loopback(&ip) || owns_ip(w, &ip))) {
		refuse_conn(c, DP_R_LOOP, w->uid);
		return;
	}
	if (nfirst) {
		if (!(c->first = malloc(nfirst))) {
			refuse_conn(c, DP_R_SOCKET, "out of memory");
			return;
		}
		memcpy(c->first, first, nfirst);
		c->nfirst = nfirst;
	}
	if (v && (svc = weft_av_service_by_vip(v, &ip, port, &sp)) != NULL && allow_l7 && sp &&
	    dp->a->l7 && (sp->l7 || sp->proto != WEFT_AV_TCP)) {
		/* L7: the same credential rule as a tunnel */
		if (!weft_ident_cred(dp->a->ident, w->ns, w->sa) || !dp_client_ctx(dp)) {
			refuse_conn(c, DP_R_NO_CRED, w->spiffe);
			return;
		}
		c->client_fd = -1;
		dp_conn_free(c, NULL);
		l7_out_accept(dp->a->l7, w, svc, sp, fd, orig, origlen);
		return;
	}
	if (svc) {
		c->kind = DP_OUT_TUNNEL;
		c->svc_uid = strdup(svc->uid);
		c->target_port = sp && sp->target_port ? sp->target_port : port;
		start_tunnel(c);
		return;
	}
	if (v && weft_av_endpoint_by_ip(v, &ip)) {
		c->kind = DP_OUT_TUNNEL;
		c->target_port = port;
		start_tunnel(c);
		return;
	}
	/* not the mesh: straight out of the pod, with our mark */
	snprintf(c->name, sizeof(c->name), "pass c%llu", (unsigned long long)c->id);
	/* a host workload (no netns of its own) lives in the node netns */
	c->ns = weft_netns_open(&dp->nss, dp_wl_netns(dp, w));
	if (!c->ns && dp_wl_netns(dp, w)[0]) {
		refuse_conn(c, DP_R_SOCKET, strerror(errno));
		return;
	}
	pfd = weft_netns_connect(&dp->nss, c->ns, (struct sockaddr *)&c->orig, c->origlen,
				 dp->a->o.mark);
	if (pfd < 0) {
		refuse_conn(c, DP_R_SOCKET, strerror(errno));
		return;
	}
	weft_relay_set_sock(&c->relay, 0, c->client_fd);
	c->client_fd = -1;
	weft_relay_set_sock(&c->relay, 1, pfd);
	c->relay_ready = true;
	if (c->nfirst) {
		if (weft_buf_append(&c->relay.s[0].in, c->first, c->nfirst) == 0)
			c->relay.s[0].bytes_in += c->nfirst;
		free(c->first);
		c->first = NULL;
		c->nfirst = 0;
	}
	dp_tm_open(c);
	weft_relay_start(&c->relay);
}

void weft_dp_outbound(struct weft_dp *dp, const weft_av_workload_t *w, int fd,
		      const struct sockaddr *orig, socklen_t origlen)
{
	outbound(dp, w, fd, orig, origlen, true, NULL, 0);
}

void dp_outbound_l4(struct weft_dp *dp, const weft_av_workload_t *w, int fd,
		    const struct sockaddr *orig, socklen_t origlen, const uint8_t *first, size_t nfirst)
{
	outbound(dp, w, fd, orig, origlen, false, first, nfirst);
}

/* ---- the data path's life ---- */

/* Every second: weft_agent_hbone_connections (pooled client connections
 * plus served ones), weft_agent_hbone_streams (tunnels carrying a
 * connection now), and the byte counters of open connections. */
static void gauges_cb(weft_loop_t *l, weft_timer_t *t)
{
	struct weft_dp *dp = t->data;
	size_t conns = dp->pool.nconns, streams = 0;

	for (const weft_hbone_conn_t *hc = dp->srv; hc; hc = hc->next)
		conns++;
	for (dp_conn_t *c = dp->conns; c; c = c->next) {
		if (c->hs)
			streams++;
		if (c->tmc && c->relay_ready) {
			/* long connections show their bytes as they flow, not only at close */
			uint64_t out = c->relay.s[0].bytes_out, in = c->relay.s[0].bytes_in;
			weft_tm_conn_bytes(c->tmc, out - c->tm_sent, in - c->tm_recv);
			c->tm_sent = out;
			c->tm_recv = in;
		}
	}
	if (dp->a->tm) {
		const weft_tm_metrics_t *m = weft_tm_metrics(dp->a->tm);
		weft_series_set(weft_metric_with(m->hbone_conns), (double)conns);
		weft_series_set(weft_metric_with(m->hbone_streams), (double)streams);
	}
	weft_timer_start(l, t, 1000);
}

struct weft_dp *weft_dp_new(weft_agent_t *a)
{
	struct weft_dp *dp = calloc(1, sizeof(*dp));

	if (!dp)
		return NULL;
	dp->a = a;
	dp->hbone_fd = -1;
	if (weft_netns_set_init(&dp->nss) < 0 || !(dp->load = weft_lb_load_new())) {
		weft_netns_set_destroy(&dp->nss);
		free(dp);
		return NULL;
	}
	weft_hbone_limits_default(&dp->lim);
	weft_hbone_pool_init(&dp->pool, a->loop, &dp->lim, dial, dp);
	weft_timer_init(&dp->gauges, gauges_cb, dp);
	weft_timer_start(a->loop, &dp->gauges, 1000);
	return dp;
}

void weft_dp_free(struct weft_dp *dp)
{
	if (!dp)
		return;
	weft_timer_stop(dp->a->loop, &dp->gauges);
	while (dp->conns) {
		dp_conn_t *c = dp->conns;
		if (c->relay.started && !c->relay.done)
			weft_relay_abort(&c->relay);
		dp_conn_free(c, "agent stopping");
	}
	dp_inbound_free_all(dp);
	weft_hbone_pool_destroy(&dp->pool);
	free_ctxs(dp->client_ctx);
	free_ctxs(dp->server_ctx);
	weft_lb_load_free(dp->load);
	weft_netns_set_destroy(&dp->nss);
	free(dp);
}

void weft_dp_cred_changed(struct weft_dp *dp, const char *ns, const char *sa)
{
	const weft_av_t *v = dp_view(dp);
	char prefix[WEFT_SPIFFE_MAX + 2];
	size_t n;

	if (weft_spiffe_workload(prefix, sizeof(prefix) - 1,
				 v && v->trust_domain ? v->trust_domain : "cluster.local", ns, sa) != WEFT_OK)
		return;
	n = strlen(prefix);
	prefix[n] = '|';
	prefix[n + 1] = '\0';
	weft_hbone_pool_drain(&dp->pool, prefix, true);
}
