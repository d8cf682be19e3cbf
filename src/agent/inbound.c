/* weft — the agent's data path, inbound half: the HBONE server (the
 * node-level listener <node address>:15008 in the node netns, and each
 * workload's in-pod :15008), plaintext inbound (:15006), delivery to the
 * local workload, and re-authorization of open connections.
 *
 * HBONE: TLS 1.3 mTLS where the server presents the credential of the
 * identity the client names by SNI, and only for identities of workloads
 * on this node; the client must present a workload certificate of the
 * trust bundle. Each CONNECT is checked in order:
 *   :authority is an address of a local workload (else 400; nothing dialled)
 *   (in-pod listener: of that very workload, else 400)
 *   that workload's identity is the SNI's (else 400)
 *   a tunnel flagged WEFT_HBONE_F_H2 ("weft-proto: h2": HTTP/2 between
 *     agents) goes to src/agent/l7_in.c here, without L4 authorization
 *     (L7 authorizes each request)
 *   authorization (principal = peer ID, src = Forwarded for= or the TCP
 *     peer, dst port) (else 403)
 * then a marked socket in the workload's netns connects to it: 200 once
 * connected, 503 when refused/unreachable; then bytes are relayed.
 *
 * Plaintext (:15006): refused with RST when the workload is STRICT, when
 * the source is the pod itself (spoofed/looped), when the original
 * destination is one of our ports, or when authorization (no principal)
 * denies; else delivered like HBONE. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include "dp_int.h"
#include "l7_int.h"
#include "weft/agentview.h"
#include "weft/log.h"
#include "weft/loop.h"
#include "weft/net.h"

/* A served HBONE connection: which in-pod listener took it (uid) or the
 * node-level one (NULL). */
typedef struct srv_ctx {
	struct weft_dp *dp;
	char *wl_uid;
} srv_ctx_t;

static bool owns_ip(const weft_av_workload_t *w, const weft_ip_t *ip)
{
	for (size_t i = 0; i < w->naddrs; i++)
		if (weft_ip_eq(&w->addrs[i], ip))
			return true;
	return false;
}

/* Evaluates c's stored input against workload w; keeps the decision. */
static bool authorize(dp_conn_t *c, const weft_av_workload_t *w)
{
	weft_authz_input_t in = {
		.principal = c->principal, .ns = c->peer_ns, .src = c->src, .dst_port = c->dst_port,
	};
	weft_authz_result_t res;

	memset(&res, 0, sizeof(res));
	weft_authz_eval(w, &in, &res);
	free(c->policy);
	c->policy = res.reason ? strdup(res.reason) : NULL;
	return res.allow;
}

/* ---- delivery ---- */

static void deliver_cb(weft_loop_t *l, weft_io_t *io, uint32_t ev)
{
	dp_conn_t *c = io->data;
	int err = weft_sock_connect_result(c->dfd);
	weft_hbone_stream_t *hs = c->hs;

	weft_io_stop(l, &c->dio);
	if (err) {
		dp_count(c->dp, DP_R_DELIVER_FAILED, c->name, strerror(err));
		if (hs) {
			c->hs = NULL;
			hs->ud = NULL;
			weft_hbone_respond(hs, 503);
		}
		dp_conn_free(c, "deliver_failed");
		return;
	}
	if (!hs) {   /* the client gave up meanwhile */
		dp_conn_free(c, "client closed");
		return;
	}
	weft_hbone_respond(hs, 200);
	weft_relay_set_sock(&c->relay, 1, c->dfd);
	c->dfd = -1;
	c->relay_ready = true;
	dp_tm_open(c);
	weft_relay_start(&c->relay);
}

void dp_inbound_stream_closed(dp_conn_t *c, uint32_t err)
{
	/* the peer gave up before the delivery connected */
	dp_conn_free(c, "client closed");
}

/* A tunnel flagged WEFT_HBONE_F_H2 (HTTP/2 between agents) to local
 * workload w, past the destination and identity checks: no L4
 * authorization (L7 decides per request); l7_in.c serves it. Returns the
 * status to answer: 200 (the stream belongs to l7_in.c now), 503 (no L7
 * state), or l7_in_connect's refusal. */
static int l7_connect(struct weft_dp *dp, weft_hbone_conn_t *hc, weft_hbone_stream_t *hs,
		      const weft_av_workload_t *w, const weft_spiffe_id_t *peer, uint16_t port)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	weft_ip_t src;

	if (!dp->a->l7) {
		dp_count(dp, DP_R_DELIVER_FAILED, hc->name, "no L7 data path");
		return 503;
	}
	if (hs->req.has_for) {
		weft_ip_from_sockaddr((struct sockaddr *)&hs->req.src, &src, NULL);
	} else {
		memset(&ss, 0, sizeof(ss));
		getpeername(hc->conn.fd, (struct sockaddr *)&ss, &sl);
		weft_ip_from_sockaddr((struct sockaddr *)&ss, &src, NULL);
	}
	return l7_in_connect(dp->a->l7, hs, w, port,
			     peer->uri + (strncmp(peer->uri, "spiffe://", 9) ? 0 : 9), peer->ns, &src);
}

static int on_connect(weft_hbone_conn_t *hc, weft_hbone_stream_t *hs)
{
	srv_ctx_t *sx = hc->ud;
	struct weft_dp *dp = sx->dp;
	const weft_av_t *v = dp_view(dp);
	const weft_spiffe_id_t *peer = weft_conn_peer_id(&hc->conn);
	const weft_tls_t *t = hc->conn.xprt_ctx;
	const weft_av_workload_t *w;
	char ns[WEFT_NAME_MAX], sa[WEFT_NAME_MAX];
	dp_conn_t *c;
	weft_ip_t ip;
	uint16_t port;

	if (!v || !peer || peer->kind != WEFT_ID_WORKLOAD)
		return 403;
	weft_ip_from_sockaddr((struct sockaddr *)&hs->req.dst, &ip, &port);
	w = weft_av_workload_by_ip(v, &ip);
	if (!w || (sx->wl_uid && strcmp(sx->wl_uid, w->uid))) {
		dp_count(dp, DP_R_NOT_LOCAL, hc->name, hs->req.authority);
		return 400;
	}
	if (weft_sni_parse(t->sni, ns, sizeof(ns), sa, sizeof(sa)) != WEFT_OK ||
	    strcmp(ns, w->ns) || strcmp(sa, w->sa)) {
		dp_count(dp, DP_R_WRONG_IDENTITY, hc->name, t->sni);
		return 400;
	}
	if (hs->req.flags & WEFT_HBONE_F_H2)
		return l7_connect(dp, hc, hs, w, peer, port);
	if (!(c = dp_conn_new(dp, DP_IN_HBONE, w->uid)))
		return 503;
	c->principal = strdup(peer->uri + (strncmp(peer->uri, "spiffe://", 9) ? 0 : 9));
	c->peer_ns = strdup(peer->ns);
	c->dst_port = port;
	memcpy(&c->orig, &hs->req.dst, hs->req.dstlen);
	c->origlen = hs->req.dstlen;
	if (hs->req.has_for) {
		weft_ip_from_sockaddr((struct sockaddr *)&hs->req.src, &c->src, NULL);
		memcpy(&c->peer, &hs->req.src, hs->req.srclen);
	} else {
		socklen_t pl = sizeof(c->peer);
		getpeername(hc->conn.fd, (struct sockaddr *)&c->peer, &pl);
		weft_ip_from_sockaddr((struct sockaddr *)&c->peer, &c->src, NULL);
	}
	if (!c->principal || !c->peer_ns || !authorize(c, w)) {
		dp_count(dp, DP_R_DENIED, c->name, c->policy);
		dp_conn_free(c, "denied");
		return 403;
	}
	c->ns = weft_netns_open(&dp->nss, dp_wl_netns(dp, w));
	if (!c->ns && dp_wl_netns(dp, w)[0]) {
		dp_count(dp, DP_R_DELIVER_FAILED, c->name, strerror(errno));
		dp_conn_free(c, "deliver_failed");
		return 503;
	}
	c->dfd = weft_netns_connect(&dp->nss, c->ns, (struct sockaddr *)&c->orig, c->origlen,
				    dp->a->o.mark);
	if (c->dfd < 0 || weft_io_start(dp->a->loop, &c->dio, c->dfd, WEFT_IO_WRITE, deliver_cb, c) < 0) {
		dp_count(dp, DP_R_DELIVER_FAILED, c->name, strerror(errno));
		dp_conn_free(c, "deliver_failed");
		return 503;
	}
	hs->cbs = &dp_stream_cbs;
	hs->ud = c;
	c->hs = hs;
	weft_relay_set_ext(&c->relay, 0, &dp_hbone_end, c);
	return 0;   /* answered from deliver_cb */
}

static void srv_destroy(weft_hbone_conn_t *hc)
{
	srv_ctx_t *sx = hc->ud;
	struct weft_dp *dp = sx->dp;

	/* unlink from the data path's list of served connections */
	if (hc->prev)
		hc->prev->next = hc->next;
	else if (dp->srv == hc)
		dp->srv = hc->next;
	if (hc->next)
		hc->next->prev = hc->prev;
	free(sx->wl_uid);
	free(sx);
}

void weft_dp_inbound_hbone(struct weft_dp *dp, const weft_av_workload_t *w, int fd)
{
	weft_tls_ctx_t *ctx = dp_server_ctx(dp);
	srv_ctx_t *sx;
	weft_tls_t *t;
	weft_hbone_conn_t *hc;
	char name[96];

	if (!ctx) {
		dp_count(dp, DP_R_NO_CRED, "hbone", "no trust bundle yet");
		dp_refuse_fd(fd);
		return;
	}
	sx = calloc(1, sizeof(*sx));
	t = sx ? weft_tls_new(ctx, fd, NULL, NULL, NULL) : NULL;
	if (!t) {
		free(sx);
		dp_refuse_fd(fd);
		return;
	}
	sx->dp = dp;
	sx->wl_uid = w ? strdup(w->uid) : NULL;
	snprintf(name, sizeof(name), "hbone-in %s fd%d", w ? w->uid : "node", fd);
	hc = weft_hbone_server_new(dp->a->loop, fd, &weft_xprt_tls, t, &dp->lim, on_connect, sx, name);
	if (!hc) {
		free(sx->wl_uid);
		free(sx);
		return;   /* fd closed by the transport */
	}
	hc->on_destroy = srv_destroy;
	hc->prev = NULL;
	hc->next = dp->srv;
	if (dp->srv)
		dp->srv->prev = hc;
	dp->srv = hc;
}

/* ---- plaintext inbound ---- */

void weft_dp_inbound_plain(struct weft_dp *dp, const weft_av_workload_t *w, int fd,
			   const struct sockaddr *orig, socklen_t origlen)
{
	dp_conn_t *c = dp_conn_new(dp, DP_IN_PLAIN, w->uid);
	socklen_t pl = sizeof(struct sockaddr_storage);
	weft_ip_t oip;
	uint16_t oport;
	int dfd;

	if (!c) {
		dp_refuse_fd(fd);
		return;
	}
	c->client_fd = fd;
	getpeername(fd, (struct sockaddr *)&c->peer, &pl);
	weft_ip_from_sockaddr((struct sockaddr *)&c->peer, &c->src, NULL);
	if (!orig || origlen > sizeof(c->orig)) {
		dp_count(dp, DP_R_NO_ORIG_DST, c->name, w->uid);
		dp_conn_free(c, "no_original_dst");
		return;
	}
	memcpy(&c->orig, orig, origlen);
	c->origlen = origlen;
	weft_ip_from_sockaddr((struct sockaddr *)&c->orig, &oip, &oport);
	c->dst_port = oport;
	if (owns_ip(w, &c->src)) {
		dp_count(dp, DP_R_SPOOF, c->name, w->uid);
		dp_conn_free(c, "spoofed_source");
		return;
	}
	if (dp_agent_port(dp, oport)) {
		dp_count(dp, DP_R_LOOP, c->name, w->uid);
		dp_conn_free(c, "loop");
		return;
	}
	if (w->mtls == WEFT_AV_MTLS_STRICT) {
		dp_count(dp, DP_R_PLAINTEXT_REFUSED, c->name, w->uid);
		dp_conn_free(c, "plaintext_refused");
		return;
	}
	if (!authorize(c, w)) {
		dp_count(dp, DP_R_DENIED, c->name, c->policy);
		dp_conn_free(c, "denied");
		return;
	}
	c->ns = weft_netns_open(&dp->nss, dp_wl_netns(dp, w));
	if (!c->ns && dp_wl_netns(dp, w)[0]) {
		dp_count(dp, DP_R_DELIVER_FAILED, c->name, strerror(errno));
		dp_conn_free(c, "deliver_failed");
		return;
	}
	dfd = weft_netns_connect(&dp->nss, c->ns, (struct sockaddr *)&c->orig, c->origlen,
				 dp->a->o.mark);
	if (dfd < 0) {
		dp_count(dp, DP_R_DELIVER_FAILED, c->name, strerror(errno));
		dp_conn_free(c, "deliver_failed");
		return;
	}
	weft_relay_set_sock(&c->relay, 0, c->client_fd);
	c->client_fd = -1;
	weft_relay_set_sock(&c->relay, 1, dfd);
	c->relay_ready = true;
	dp_tm_open(c);
	weft_relay_start(&c->relay);
}

/* ---- the node-level listener ---- */

static void hbone_accept_cb(weft_loop_t *l, weft_io_t *io, uint32_t ev)
{
	struct weft_dp *dp = io->data;

	for (int i = 0; i < 64 && dp->hbone_fd >= 0; i++) {
		int fd = accept4(dp->hbone_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		weft_net_nodelay(fd);
		weft_dp_inbound_hbone(dp, NULL, fd);
	}
}

static void close_listener(struct weft_dp *dp)
{
	if (dp->hbone_fd < 0)
		return;
	weft_io_stop(dp->a->loop, &dp->hbone_io);
	close(dp->hbone_fd);
	dp->hbone_fd = -1;
}

/* This node's address: what its workloads (or the endpoints on it) say. */
static bool node_addr(const weft_av_t *v, weft_ip_t *ip)
{
	if (v->nworkloads) {
		*ip = v->workloads[0].node_addr;
		return true;
	}
	for (size_t i = 0; i < v->nservices; i++)
		for (size_t j = 0; j < v->services[i].nendpoints; j++) {
			const weft_av_endpoint_t *e = &v->services[i].endpoints[j];
			if (v->node && e->node && !strcmp(e->node, v->node)) {
				*ip = e->node_addr;
				return true;
			}
		}
	return false;
}

int weft_dp_listen(struct weft_dp *dp, const weft_av_t *v)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	weft_ip_t ip;
	weft_netns_t *ns;
	char b[64];

	if (!v || !node_addr(v, &ip))
		return WEFT_OK;   /* not known yet: nothing to listen on */
	if (dp->hbone_fd >= 0 && weft_ip_eq(&ip, &dp->hbone_ip))
		return WEFT_OK;
	close_listener(dp);
	ns = dp_node_ns(dp);
	if (!ns && dp->a->o.node_netns && *dp->a->o.node_netns)
		return WEFT_EFAIL;
	sl = weft_ip_to_sockaddr(&ip, dp->a->o.hbone_port, &ss);
	dp->hbone_fd = weft_netns_listen(&dp->nss, ns, (struct sockaddr *)&ss, sl, 1024);
	if (dp->hbone_fd < 0) {
		weft_err("dp", "HBONE listener %s:%u: %s", weft_ip_format(&ip, b, sizeof(b)),
			 dp->a->o.hbone_port, strerror(errno));
		return WEFT_EFAIL;
	}
	if (weft_io_start(dp->a->loop, &dp->hbone_io, dp->hbone_fd, WEFT_IO_READ, hbone_accept_cb, dp) < 0) {
		close(dp->hbone_fd);
		dp->hbone_fd = -1;
		return WEFT_EFAIL;
	}
	dp->hbone_ip = ip;
	weft_info("dp", "HBONE listening on %s:%u", weft_ip_format(&ip, b, sizeof(b)), dp->a->o.hbone_port);
	return WEFT_OK;
}

/* ---- re-authorization ---- */

void weft_dp_reauthorize(struct weft_dp *dp, const weft_av_t *v)
{
	dp_conn_t *c, *next;

	for (c = dp->conns; c; c = next) {
		const weft_av_workload_t *w;
		next = c->next;
		if (c->kind != DP_IN_HBONE && c->kind != DP_IN_PLAIN)
			continue;
		if (c->relay.done)
			continue;
		w = v ? weft_av_workload(v, c->wl_uid) : NULL;
		if (w && (c->kind == DP_IN_HBONE || w->mtls != WEFT_AV_MTLS_STRICT) && authorize(c, w))
			continue;
		dp_count(dp, w ? DP_R_DENIED : DP_R_NOT_LOCAL, c->name,
			 w ? (c->policy ? c->policy : "plaintext now refused") : "workload left");
		if (c->relay.started)
			weft_relay_abort(&c->relay);   /* RST both ways now; freed at the end of the turn */
		else
			dp_conn_free(c, "denied");
	}
}

void dp_inbound_free_all(struct weft_dp *dp)
{
	close_listener(dp);
	while (dp->srv)
		weft_hbone_close(dp->srv);   /* on_destroy unlinks it */
}
