/* weft agent — the connection to weft control: one HTTP/2 (gRPC)
 * connection that carries both the delta ADS stream (xdsc.c) and the CA
 * calls (identity.c).
 *
 * Modes:
 *   mTLS     TLS to --control presenting the node credential; the server
 *            must be spiffe://<td>/weft/control in the node's bundle.
 *   join     before the node has a credential: TLS to --control without a
 *            client certificate, trusting the server only through the
 *            token's pin (SHA-256 of the root's SPKI).
 *   plain    --plaintext-xds (tests): raw TCP, node.id names the node,
 *            no CA calls.
 * A lost connection is re-made after an exponential backoff with jitter
 * (100 ms .. 5 s); the backoff resets once something answered on it.
 * A connection counts as up (weft_agent_control_connected 1, connects
 * {result="ok"}) from the first answer on it (weft_controlc_healthy); one
 * that closes before any answer counts as {result="error"}.
 * HTTP/2 PINGs every 10 s detect a dead peer. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include "weft/agent.h"
#include "weft/grpc_client.h"
#include "weft/log.h"
#include "weft/loop.h"
#include "weft/metrics.h"
#include "weft/net.h"
#include "weft/telemetry.h"
#include "weft/tls.h"

#define RECONNECT_MIN_MS 100
#define RECONNECT_MAX_MS 5000
#define KEEPALIVE_MS 10000

/* What one connection owns besides the client: its TLS context lives as
 * long as the connection, which may outlive a reconnect (closes are
 * deferred to the next loop turn). */
typedef struct cconn {
	struct weft_controlc *c;     /* NULL once detached (reconnect, free) */
	weft_tls_ctx_t *tls;
	weft_bundle_t *bundle;       /* a reference for tls's borrowed pointer */
} cconn_t;

struct weft_controlc {
	weft_agent_t *a;
	weft_grpc_client_t *cl;      /* current connection, NULL while down */
	weft_timer_t retry;
	uint32_t backoff;
	uint64_t seq;
	bool have_pin;
	uint8_t pin[32];
	bool stopping;
	bool up;                     /* something answered on the current connection */
	weft_series_t *g_connected;
	weft_metric_t *m_connects;
};

static void cconn_free(cconn_t *cc)
{
	if (!cc)
		return;
	if (cc->tls)
		weft_tls_ctx_free(cc->tls);
	if (cc->bundle)
		weft_bundle_unref(cc->bundle);
	free(cc);
}

static void schedule(struct weft_controlc *c)
{
	uint32_t d;

	if (c->stopping)
		return;
	d = weft_backoff_next(&c->backoff, RECONNECT_MIN_MS, RECONNECT_MAX_MS, weft_rand_pm1(&c->a->rnd));
	weft_debug("control", "reconnecting in %ums", d);
	weft_timer_start(c->a->loop, &c->retry, d);
}

static void on_closed(weft_grpc_client_t *cl, const char *why)
{
	cconn_t *cc = cl->ud;
	struct weft_controlc *c = cc->c;

	cconn_free(cc);
	if (!c || c->cl != cl)
		return;
	c->cl = NULL;
	if (!c->up)
		weft_series_inc(weft_metric_with(c->m_connects, "error"));
	c->up = false;
	weft_series_set(c->g_connected, 0);
	weft_warn("control", "connection to %s closed: %s", cl->authority, why ? why : "");
	weft_ident_connected(c->a->ident, NULL);
	weft_xdsc_connected(c->a->xdsc, NULL);
	schedule(c);
}

/* A non-blocking TCP connect to addr. Returns the fd or -1 (logged). */
static int dial(const char *addr)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int fd, one = 1;

	if (weft_net_parse_addr(addr, strlen(addr), &ss, &sl) != WEFT_OK) {
		weft_err("control", "bad address '%s'", addr);
		return -1;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&ss, sl) < 0 && errno != EINPROGRESS) {
		weft_debug("control", "connect %s: %s", addr, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* Builds the TLS context for the next connection (join or mTLS). Returns
 * WEFT_OK or WEFT_EFAIL (logged). */
static int make_tls(struct weft_controlc *c, cconn_t *cc, weft_cred_t **cred)
{
	weft_tls_opts_t o;
	char err[256];
	const weft_bundle_t *b = weft_ident_bundle(c->a->ident);

	memset(&o, 0, sizeof(o));
	o.server = false;
	o.peer.kind = WEFT_ID_CONTROL;
	o.peer.require_cert = true;
	*cred = weft_ident_node_cred(c->a->ident);
	if (*cred && b) {
		cc->bundle = weft_bundle_ref((weft_bundle_t *)b);
		o.peer.bundle = cc->bundle;
	} else if (c->have_pin) {
		*cred = NULL;
		o.peer.use_pin = true;
		memcpy(o.peer.pin, c->pin, sizeof(c->pin));
	} else {
		weft_err("control", "no node credential and no join token: cannot connect");
		return WEFT_EFAIL;
	}
	if (!(cc->tls = weft_tls_ctx_new(&o, err, sizeof(err)))) {
		weft_err("control", "TLS context: %s", err);
		return WEFT_EFAIL;
	}
	return WEFT_OK;
}

static void connect_now(struct weft_controlc *c)
{
	const weft_agent_opts_t *o = &c->a->o;
	const char *addr = o->plaintext_xds ? o->plaintext_xds : o->control;
	const weft_xprt_ops_t *x = &weft_xprt_raw;
	weft_cred_t *cred = NULL;
	void *xctx = NULL;
	cconn_t *cc;
	char name[96];
	int fd;

	if (c->cl || c->stopping)
		return;
	if (!(cc = calloc(1, sizeof(*cc)))) {
		schedule(c);
		return;
	}
	cc->c = c;
	if (!o->plaintext_xds && make_tls(c, cc, &cred) != WEFT_OK) {
		cconn_free(cc);
		schedule(c);
		return;
	}
	if ((fd = dial(addr)) < 0) {
		cconn_free(cc);
		weft_series_inc(weft_metric_with(c->m_connects, "error"));
		schedule(c);
		return;
	}
	if (cc->tls) {
		x = &weft_xprt_tls;
		if (!(xctx = weft_tls_new(cc->tls, fd, cred, NULL, NULL))) {
			close(fd);
			cconn_free(cc);
			schedule(c);
			return;
		}
	}
	snprintf(name, sizeof(name), "control c%llu", (unsigned long long)++c->seq);
	c->cl = weft_grpc_client_new(c->a->loop, fd, x, xctx, addr, name, on_closed, cc);
	if (!c->cl) {
		cconn_free(cc);   /* the transport's close freed the session first */
		weft_series_inc(weft_metric_with(c->m_connects, "error"));
		schedule(c);
		return;
	}
	c->cl->ping_ms = KEEPALIVE_MS;
	c->up = false;
	weft_info("control", "%s: connecting to %s (%s)", name, addr,
		  o->plaintext_xds ? "plaintext" : cred ? "mTLS, node credential" : "TLS, join with pinned root");
	/* calls may start at once: they are sent when the transport is ready */
	weft_ident_connected(c->a->ident, c->cl);
	/* no ADS on the join connection: control serves agent resources only
	 * to a node certificate; the stream starts on the mTLS connection */
	if (o->plaintext_xds || cred)
		weft_xdsc_connected(c->a->xdsc, c->cl);
}

static void retry_cb(weft_loop_t *l, weft_timer_t *t)
{
	connect_now(t->data);
}

struct weft_controlc *weft_controlc_new(weft_agent_t *a)
{
	struct weft_controlc *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->a = a;
	weft_timer_init(&c->retry, retry_cb, c);
	c->g_connected = weft_metric_with(weft_tm_metrics(a->tm)->control_connected);
	c->m_connects = weft_tm_metrics(a->tm)->control_connects;
	return c;
}

void weft_controlc_free(struct weft_controlc *c)
{
	if (!c)
		return;
	c->stopping = true;
	weft_timer_stop(c->a->loop, &c->retry);
	if (c->cl) {
		/* detach: its on_closed (next loop turn) frees only its own state */
		((cconn_t *)c->cl->ud)->c = NULL;
		weft_grpc_client_kill(c->cl, "agent stopping");
		c->cl = NULL;
	}
	free(c);
}

void weft_controlc_start(struct weft_controlc *c)
{
	connect_now(c);
}

void weft_controlc_set_pin(struct weft_controlc *c, const uint8_t pin[32])
{
	memcpy(c->pin, pin, 32);
	c->have_pin = true;
}

void weft_controlc_reconnect(struct weft_controlc *c)
{
	weft_grpc_client_t *cl = c->cl;

	if (!cl)
		return;
	c->cl = NULL;
	((cconn_t *)cl->ud)->c = NULL;
	weft_grpc_client_kill(cl, "reconnecting");
	c->up = false;
	weft_series_set(c->g_connected, 0);
	weft_ident_connected(c->a->ident, NULL);
	weft_xdsc_connected(c->a->xdsc, NULL);
	c->backoff = 0;
	weft_timer_start(c->a->loop, &c->retry, 0);
}

void weft_controlc_healthy(struct weft_controlc *c)
{
	if (!c)
		return;
	c->backoff = 0;
	if (c->cl && !c->up) {
		c->up = true;
		weft_series_inc(weft_metric_with(c->m_connects, "ok"));
		weft_series_set(c->g_connected, 1);
	}
}

weft_grpc_client_t *weft_controlc_client(struct weft_controlc *c)
{
	return c ? c->cl : NULL;
}
