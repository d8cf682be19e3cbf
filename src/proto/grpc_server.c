/* weft — gRPC server: the stream handler on top of the HTTP/2 mux. It
 * checks method, content-type and :path, dispatches to the registered
 * method, deframes request messages and frames responses, and ends calls
 * with grpc-status / grpc-message trailers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <nghttp2/nghttp2.h>
#include "weft/buf.h"
#include "weft/grpc.h"
#include "weft/h2.h"
#include "weft/log.h"
#include "weft/loop.h"
#include "weft/net.h"
#include "weft/tls.h"

void weft_grpc_opts_default(weft_grpc_opts_t *o)
{
	weft_h2_limits_default(&o->h2);
	o->max_msg = 4u << 20;
	o->max_conns = 10000;
	o->log_name = "grpc";
}

void weft_grpc_server_init(weft_grpc_server_t *srv, weft_loop_t *loop, const weft_grpc_opts_t *o)
{
	memset(srv, 0, sizeof(*srv));
	srv->loop = loop;
	srv->o = *o;
	srv->lst.fd = -1;
	srv->tls_lst.fd = -1;
}

int weft_grpc_server_add(weft_grpc_server_t *srv, const weft_grpc_method_t *m)
{
	if (srv->nmethods == WEFT_GRPC_MAX_METHODS)
		return WEFT_ELIMIT;
	srv->methods[srv->nmethods++] = *m;
	return WEFT_OK;
}

/* ---- calls ---- */

static int respond_headers(weft_grpc_call_t *call)
{
	static const weft_h2_hdr_t h[] = {
		{ ":status", "200" }, { "content-type", "application/grpc" },
		{ "grpc-accept-encoding", "identity" },
	};

	if (call->s->responded)
		return WEFT_OK;
	return weft_h2s_respond(call->s, h, 3, false);
}

int weft_grpc_send(weft_grpc_call_t *call, const void *msg, size_t len)
{
	uint8_t pfx[5];
	int rc;

	if (call->finished || !call->s)
		return WEFT_ECLOSED;
	if (weft_grpc_frame_prefix(pfx, len) < 0)
		return WEFT_ELIMIT;
	rc = respond_headers(call);
	if (rc < 0)
		return rc;
	rc = weft_h2s_send(call->s, pfx, 5);
	if (rc == WEFT_OK && len)
		rc = weft_h2s_send(call->s, msg, len);
	return rc;
}

static int send_packed(void *call, const void *p, size_t n)
{
	return weft_grpc_send(call, p, n);
}

int weft_grpc_send_pb(weft_grpc_call_t *call, const ProtobufCMessage *m)
{
	return weft_grpc_pack_send(m, send_packed, call);
}

int weft_grpc_finish(weft_grpc_call_t *call, int status, const char *msg)
{
	char code[16], enc[512];
	int rc;

	if (call->finished || !call->s)
		return WEFT_ECLOSED;
	call->finished = true;
	snprintf(code, sizeof(code), "%d", status);
	weft_grpc_encode_message(msg ? msg : "", enc, sizeof(enc));
	if (!call->s->responded) {
		weft_h2_hdr_t h[] = {
			{ ":status", "200" }, { "content-type", "application/grpc" },
			{ "grpc-status", code }, { "grpc-message", enc },
		};
		rc = weft_h2s_respond(call->s, h, msg && *msg ? 4 : 3, true);
	} else {
		weft_h2_hdr_t t[] = { { "grpc-status", code }, { "grpc-message", enc } };
		rc = weft_h2s_finish(call->s, t, msg && *msg ? 2 : 1);
	}
	if (status != WEFT_GRPC_OK)
		weft_debug(call->name, "call ends: grpc-status %d %s", status, msg ? msg : "");
	return rc;
}

/* ---- h2 handler ---- */

static int plain_status(weft_h2s_t *s, const char *status)
{
	weft_h2_hdr_t h[] = { { ":status", status } };

	weft_h2s_respond(s, h, 1, true);
	return 0;
}

/* application/grpc, optionally followed by "+proto", ";..." */
static bool grpc_ctype(const char *ct)
{
	size_t n = strlen("application/grpc");

	return !strncmp(ct, "application/grpc", n) && (ct[n] == '\0' || ct[n] == '+' || ct[n] == ';');
}

static int g_on_request(weft_h2s_t *s)
{
	weft_grpc_server_t *srv = s->h2c->hctx;
	weft_grpc_call_t *call;
	const weft_grpc_method_t *m = NULL;
	int st;

	if (s->hdr_too_long)
		return plain_status(s, "431");
	if (strcmp(s->method, "POST"))
		return plain_status(s, "405");
	if (!grpc_ctype(s->ctype))
		return plain_status(s, "415");
	for (size_t i = 0; i < srv->nmethods; i++)
		if (!strcmp(srv->methods[i].path, s->path))
			m = &srv->methods[i];
	call = calloc(1, sizeof(*call));
	if (!call)
		return -1;
	call->s = s;
	call->srv = srv;
	call->m = m;
	call->name = s->name;
	weft_grpc_deframer_init(&call->df, srv->o.max_msg);
	s->app = call;
	if (!m) {
		char msg[300];
		weft_info(s->name, "unknown method %s", s->path);
		snprintf(msg, sizeof(msg), "unknown method %s", s->path);
		weft_grpc_finish(call, WEFT_GRPC_UNIMPLEMENTED, msg);
		return 0;
	}
	st = m->open(call);
	if (st) {
		weft_grpc_finish(call, st, "refused");
		return 0;
	}
	call->opened = true;
	respond_headers(call);
	return 0;
}

static int g_on_msg(void *ctx, const uint8_t *msg, size_t len)
{
	weft_grpc_call_t *call = ctx;

	return call->m->message(call, msg, len);
}

static int g_on_data(weft_h2s_t *s, const uint8_t *p, size_t n)
{
	weft_grpc_call_t *call = s->app;
	int rc;
	char msg[96];

	if (!call || call->finished || !call->opened)
		return 0;
	rc = weft_grpc_deframe(&call->df, p, n, g_on_msg, call);
	if (rc == WEFT_OK)
		return 0;
	if (call->finished)
		return 0;
	if (rc == WEFT_EPROTO) {
		weft_grpc_finish(call, WEFT_GRPC_UNIMPLEMENTED, "compressed messages are not supported");
	} else if (rc == WEFT_ELIMIT || rc == WEFT_ENOMEM) {
		snprintf(msg, sizeof(msg), "message larger than %zu bytes", call->df.max_msg);
		weft_grpc_finish(call, WEFT_GRPC_RESOURCE_EXHAUSTED, msg);
	} else if (rc > 0) {
		weft_grpc_finish(call, rc, "request rejected");
	} else {
		weft_grpc_finish(call, WEFT_GRPC_INTERNAL, "internal error");
	}
	return 0;
}

static void g_on_end(weft_h2s_t *s)
{
	weft_grpc_call_t *call = s->app;

	if (!call || call->finished || !call->opened)
		return;
	if (weft_buf_len(&call->df.in)) {
		weft_grpc_finish(call, WEFT_GRPC_INTERNAL, "truncated message");
		return;
	}
	if (call->m->half_close)
		call->m->half_close(call);
}

static void g_on_close(weft_h2s_t *s)
{
	weft_grpc_call_t *call = s->app;

	if (!call)
		return;
	s->app = NULL;
	if (call->opened && call->m->close)
		call->m->close(call);
	call->s = NULL;
	weft_grpc_deframer_free(&call->df);
	free(call);
}

static const weft_h2_handler_t grpc_handler = { g_on_request, g_on_data, g_on_end, g_on_close };

/* ---- connections ---- */

static void conn_gone(weft_h2c_t *h2c)
{
	weft_grpc_server_t *srv = h2c->owner;

	if (h2c->prev)
		h2c->prev->next = h2c->next;
	else
		srv->conns = h2c->next;
	if (h2c->next)
		h2c->next->prev = h2c->prev;
	srv->nconns--;
}

weft_h2c_t *weft_grpc_server_adopt(weft_grpc_server_t *srv, int fd, const weft_xprt_ops_t *x,
				   void *xctx, const char *peer)
{
	char name[64];
	weft_h2c_t *h2c;

	if (srv->nconns >= srv->o.max_conns) {
		weft_conn_t tmp = { .fd = fd, .xprt_ctx = xctx };
		srv->refused++;
		weft_warn(srv->o.log_name, "refusing %s: %zu connections", peer, srv->nconns);
		x->close(&tmp);
		return NULL;
	}
	snprintf(name, sizeof(name), "%s c%llu %s", srv->o.log_name,
		 (unsigned long long)++srv->next_conn_id, peer);
	h2c = weft_h2c_new(srv->loop, fd, x, xctx, &grpc_handler, srv, &srv->o.h2, name);
	if (!h2c)
		return NULL;
	h2c->id = srv->next_conn_id;
	h2c->owner = srv;
	h2c->on_destroy = conn_gone;
	h2c->next = srv->conns;
	if (h2c->next)
		h2c->next->prev = h2c;
	srv->conns = h2c;
	srv->nconns++;
	weft_debug(name, "connected");
	/* the server preface goes out right away */
	weft_h2c_kick(h2c);
	return h2c;
}

static void on_accept(weft_listener_t *l, int fd, const struct sockaddr_storage *peer, socklen_t pl)
{
	char addr[80];

	weft_grpc_server_adopt(l->data, fd, &weft_xprt_raw,
			       NULL, weft_net_format_addr((const struct sockaddr *)peer, addr, sizeof(addr)));
}

static void on_accept_tls(weft_listener_t *l, int fd, const struct sockaddr_storage *peer, socklen_t pl)
{
	weft_grpc_server_t *srv = l->data;
	char addr[80];
	weft_tls_t *t = weft_tls_new(srv->tls_ctx, fd, NULL, NULL, NULL);

	weft_net_format_addr((const struct sockaddr *)peer, addr, sizeof(addr));
	if (!t) {
		weft_warn(srv->o.log_name, "refusing %s: no memory for a TLS session", addr);
		close(fd);
		return;
	}
	weft_grpc_server_adopt(srv, fd, &weft_xprt_tls, t, addr);
}

int weft_grpc_server_listen_tls(weft_grpc_server_t *srv, const char *addr, struct weft_tls_ctx *ctx)
{
	srv->tls_ctx = ctx;
	if (weft_listener_start(srv->loop, &srv->tls_lst, addr, on_accept_tls, srv) < 0)
		return WEFT_EFAIL;
	srv->tls_listening = true;
	return WEFT_OK;
}

const weft_spiffe_id_t *weft_grpc_call_peer(const weft_grpc_call_t *call)
{
	if (!call || !call->s || !call->s->h2c)
		return NULL;
	return weft_conn_peer_id(&call->s->h2c->conn);
}

bool weft_grpc_call_is_tls(const weft_grpc_call_t *call)
{
	return call && call->s && call->s->h2c && call->s->h2c->conn.xprt == &weft_xprt_tls;
}

int weft_grpc_server_listen(weft_grpc_server_t *srv, const char *addr)
{
	if (weft_listener_start(srv->loop, &srv->lst, addr, on_accept, srv) < 0)
		return WEFT_EFAIL;
	srv->listening = true;
	return WEFT_OK;
}

void weft_grpc_server_shutdown(weft_grpc_server_t *srv)
{
	if (srv->listening)
		weft_listener_stop(&srv->lst);
	srv->listening = false;
	if (srv->tls_listening)
		weft_listener_stop(&srv->tls_lst);
	srv->tls_listening = false;
	for (weft_h2c_t *c = srv->conns; c; c = c->next) {
		weft_h2c_goaway(c);
		c->conn.mux->on_io(&c->conn, 0);   /* write the GOAWAY now */
	}
}

void weft_grpc_server_destroy(weft_grpc_server_t *srv)
{
	if (srv->listening)
		weft_listener_stop(&srv->lst);
	srv->listening = false;
	if (srv->tls_listening)
		weft_listener_stop(&srv->tls_lst);
	srv->tls_listening = false;
	while (srv->conns)
		weft_h2c_close(srv->conns);
}
