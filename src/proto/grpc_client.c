/* weft — gRPC client: one HTTP/2 client session (nghttp2) over a
 * weft_conn_t of any transport; each call is a stream. Requests carry
 * content-type application/grpc, te: trailers and grpc-timeout; responses
 * are deframed (bounded by max_msg) and end with grpc-status/grpc-message
 * from the trailers or a trailers-only response. Keepalive PINGs detect a
 * dead peer (two intervals without an ACK). When the connection goes,
 * every call ends UNAVAILABLE and then on_closed runs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <nghttp2/nghttp2.h>
#include "h2io.h"
#include "weft/buf.h"
#include "weft/grpc.h"
#include "weft/grpc_client.h"
#include "weft/log.h"
#include "weft/loop.h"
#include "weft/net.h"

#define GC_OUT_HIGH   (256 * 1024)
#define GC_READS      16
#define GC_OUT_MAX    (64u << 20)    /* queued request bytes per call */

typedef struct ccall_priv {
	weft_buf_t out;               /* framed request messages */
	bool close_send;              /* END_STREAM after out */
	bool deferred;
	bool started;                 /* HEADERS left (stream exists) */
	weft_grpc_deframer_t df;
	int http_status;
	int grpc_status;              /* -1 until received */
	char grpc_msg[256];
	int local_status;             /* -1, or the status of a local end (cancel, deadline) */
	char local_msg[96];
	weft_timer_t deadline;
} ccall_priv_t;

static void cl_kick(weft_grpc_client_t *cl);

/* ---- calls ---- */

/* Ends call: on_status once, unlink, free. */
static void call_end(weft_grpc_client_t *cl, weft_grpc_ccall_t *call, int status, const char *msg)
{
	ccall_priv_t *pv = call->priv;

	if (call->prev)
		call->prev->next = call->next;
	else
		cl->calls = call->next;
	if (call->next)
		call->next->prev = call->prev;
	weft_timer_stop(cl->conn.loop, &pv->deadline);
	call->done = true;
	if (status != WEFT_GRPC_OK)
		weft_debug(cl->name, "call s%d ends: %d %s", call->id, status, msg);
	if (call->cbs && call->cbs->on_status)
		call->cbs->on_status(call, status, msg ? msg : "");
	weft_buf_free(&pv->out);
	weft_grpc_deframer_free(&pv->df);
	free(pv);
	free(call);
}

/* The status of a stream that closed with HTTP/2 code err. */
static int call_status(ccall_priv_t *pv, uint32_t err, const char **msg)
{
	if (pv->local_status >= 0) {
		*msg = pv->local_msg;
		return pv->local_status;
	}
	if (pv->grpc_status >= 0) {
		*msg = pv->grpc_msg;
		return pv->grpc_status;
	}
	if (err) {
		*msg = "stream reset by the server";
		return WEFT_GRPC_UNAVAILABLE;
	}
	switch (pv->http_status) {
	case 200:
		*msg = "response ended without grpc-status";
		return WEFT_GRPC_INTERNAL;
	case 400:
		*msg = "HTTP 400";
		return WEFT_GRPC_INTERNAL;
	case 401:
		*msg = "HTTP 401";
		return WEFT_GRPC_UNAUTHENTICATED;
	case 403:
		*msg = "HTTP 403";
		return WEFT_GRPC_PERMISSION_DENIED;
	case 404:
		*msg = "HTTP 404";
		return WEFT_GRPC_UNIMPLEMENTED;
	case 429: case 502: case 503: case 504:
		*msg = "HTTP status unavailable";
		return WEFT_GRPC_UNAVAILABLE;
	default:
		*msg = pv->http_status ? "unexpected HTTP status" : "no response headers";
		return WEFT_GRPC_UNKNOWN;
	}
}

static weft_grpc_ccall_t *call_find(weft_grpc_client_t *cl, int32_t id)
{
	for (weft_grpc_ccall_t *c = cl->calls; c; c = c->next)
		if (c->id == id)
			return c;
	return NULL;
}

/* Ends the call locally with status (reset CANCEL; on_status at the next
 * turn from the stream close). */
static void call_abort(weft_grpc_ccall_t *call, int status, const char *msg)
{
	ccall_priv_t *pv = call->priv;
	weft_grpc_client_t *cl = call->cl;

	if (call->done || pv->local_status >= 0)
		return;
	pv->local_status = status;
	snprintf(pv->local_msg, sizeof(pv->local_msg), "%s", msg);
	if (!cl->dead)
		nghttp2_submit_rst_stream(cl->sess, NGHTTP2_FLAG_NONE, call->id, NGHTTP2_CANCEL);
	cl_kick(cl);
}

static void deadline_cb(weft_loop_t *l, weft_timer_t *t)
{
	call_abort(t->data, WEFT_GRPC_DEADLINE_EXCEEDED, "deadline exceeded");
}

static ssize_t call_read(nghttp2_session *sess, int32_t sid, uint8_t *buf, size_t len,
			 uint32_t *flags, nghttp2_data_source *src, void *ud)
{
	ccall_priv_t *pv = ((weft_grpc_ccall_t *)src->ptr)->priv;

	return weft_h2io_pull(&pv->out, buf, len, pv->close_send, flags, &pv->deferred);
}

static void call_resume(weft_grpc_ccall_t *call)
{
	ccall_priv_t *pv = call->priv;

	if (pv->deferred) {
		pv->deferred = false;
		nghttp2_session_resume_data(call->cl->sess, call->id);
	}
	cl_kick(call->cl);
}

weft_grpc_ccall_t *weft_grpc_call_start(weft_grpc_client_t *cl, const char *path,
					uint32_t timeout_ms, const weft_grpc_ccall_cbs_t *cbs, void *ud)
{
	weft_grpc_ccall_t *call;
	ccall_priv_t *pv;
	char tmo[24];
	nghttp2_nv nv[8];
	size_t n = 0;
	nghttp2_data_provider dp;
	int32_t sid;

	if (cl->dead || !path || path[0] != '/')
		return NULL;
	call = calloc(1, sizeof(*call));
	pv = calloc(1, sizeof(*pv));
	if (!call || !pv) {
		free(call);
		free(pv);
		return NULL;
	}
	call->cl = cl;
	call->cbs = cbs;
	call->ud = ud;
	call->priv = pv;
	pv->grpc_status = -1;
	pv->local_status = -1;
	weft_buf_init(&pv->out, GC_OUT_MAX);
	weft_grpc_deframer_init(&pv->df, cl->max_msg);
	weft_timer_init(&pv->deadline, deadline_cb, call);
#define NV(a, b) nv[n++] = (nghttp2_nv){ (uint8_t *)(a), (uint8_t *)(b), strlen(a), strlen(b), NGHTTP2_NV_FLAG_NONE }
	NV(":method", "POST");
	NV(":scheme", "http");
	NV(":path", path);
	NV(":authority", cl->authority);
	NV("content-type", "application/grpc");
	NV("te", "trailers");
	if (timeout_ms) {
		if (timeout_ms <= 99999999u)   /* at most 8 digits */
			snprintf(tmo, sizeof(tmo), "%um", timeout_ms);
		else
			snprintf(tmo, sizeof(tmo), "%uS", timeout_ms / 1000);
		NV("grpc-timeout", tmo);
	}
#undef NV
	dp.source.ptr = call;
	dp.read_callback = call_read;
	sid = nghttp2_submit_request(cl->sess, NULL, nv, n, &dp, call);
	if (sid < 0) {
		weft_buf_free(&pv->out);
		weft_grpc_deframer_free(&pv->df);
		free(pv);
		free(call);
		return NULL;
	}
	call->id = sid;
	call->next = cl->calls;
	if (call->next)
		call->next->prev = call;
	cl->calls = call;
	if (timeout_ms)
		weft_timer_start(cl->conn.loop, &pv->deadline, timeout_ms);
	cl_kick(cl);
	return call;
}

int weft_grpc_call_send(weft_grpc_ccall_t *call, const void *p, size_t n)
{
	ccall_priv_t *pv = call->priv;
	uint8_t pfx[5];

	if (call->done || pv->close_send || pv->local_status >= 0 || call->cl->dead)
		return WEFT_ECLOSED;
	if (weft_grpc_frame_prefix(pfx, n) < 0)
		return WEFT_ELIMIT;
	if (weft_buf_reserve(&pv->out, n + 5) < 0)
		return WEFT_ENOMEM;
	weft_buf_append(&pv->out, pfx, 5);
	if (n)
		weft_buf_append(&pv->out, p, n);
	call_resume(call);
	return WEFT_OK;
}

static int send_packed(void *call, const void *p, size_t n)
{
	return weft_grpc_call_send(call, p, n);
}

int weft_grpc_call_send_pb(weft_grpc_ccall_t *call, const ProtobufCMessage *m)
{
	return weft_grpc_pack_send(m, send_packed, call);
}

void weft_grpc_call_close_send(weft_grpc_ccall_t *call)
{
	ccall_priv_t *pv = call->priv;

	if (call->done || pv->close_send)
		return;
	pv->close_send = true;
	call_resume(call);
}

void weft_grpc_call_cancel(weft_grpc_ccall_t *call)
{
	call_abort(call, WEFT_GRPC_CANCELLED, "cancelled");
}

/* ---- nghttp2 callbacks ---- */

static int hexval(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decodes a grpc-message value into out (NUL-terminated). */
static void decode_msg(const uint8_t *v, size_t vl, char *out, size_t cap)
{
	size_t k = 0;

	for (size_t i = 0; i < vl && k + 1 < cap; i++) {
		if (v[i] == '%' && i + 2 < vl + 0 && hexval(v[i + 1]) >= 0 && hexval(v[i + 2]) >= 0) {
			out[k++] = (char)(hexval(v[i + 1]) * 16 + hexval(v[i + 2]));
			i += 2;
		} else {
			out[k++] = (char)v[i];
		}
	}
	out[k] = '\0';
}

static int parse_int(const uint8_t *v, size_t vl, int max)
{
	int x = 0;

	if (vl == 0 || vl > 9)
		return -1;
	for (size_t i = 0; i < vl; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -1;
		x = x * 10 + (v[i] - '0');
	}
	return x <= max ? x : -1;
}

static int cb_header(nghttp2_session *sess, const nghttp2_frame *f, const uint8_t *name,
		     size_t nl, const uint8_t *value, size_t vl, uint8_t flags, void *ud)
{
	weft_grpc_ccall_t *call;
	ccall_priv_t *pv;

	if (f->hd.type != NGHTTP2_HEADERS)
		return 0;
	call = nghttp2_session_get_stream_user_data(sess, f->hd.stream_id);
	if (!call)
		return 0;
	pv = call->priv;
	if (nl == 7 && !memcmp(name, ":status", 7)) {
		pv->http_status = parse_int(value, vl, 999);
	} else if (nl == 11 && !memcmp(name, "grpc-status", 11)) {
		int st = parse_int(value, vl, 1000);
		pv->grpc_status = st < 0 ? WEFT_GRPC_UNKNOWN : st;
	} else if (nl == 12 && !memcmp(name, "grpc-message", 12)) {
		decode_msg(value, vl, pv->grpc_msg, sizeof(pv->grpc_msg));
	}
	return 0;
}

static int on_msg(void *ctx, const uint8_t *msg, size_t len)
{
	weft_grpc_ccall_t *call = ctx;

	if (call->cbs && call->cbs->on_message && call->cbs->on_message(call, msg, len) < 0)
		return 1;
	return 0;
}

static int cb_data_chunk(nghttp2_session *sess, uint8_t flags, int32_t sid, const uint8_t *data,
			 size_t len, void *ud)
{
	weft_grpc_client_t *cl = ud;
	weft_grpc_ccall_t *call = nghttp2_session_get_stream_user_data(sess, sid);
	ccall_priv_t *pv;
	int rc;
	char msg[96];

	if (!call || cl->dead)
		return 0;
	pv = call->priv;
	if (pv->local_status >= 0)
		return 0;
	if (pv->http_status != 200) {
		call_abort(call, WEFT_GRPC_UNKNOWN, "body with a non-200 response");
		return 0;
	}
	rc = weft_grpc_deframe(&pv->df, data, len, on_msg, call);
	if (rc == WEFT_OK)
		return 0;
	if (rc > 0) {
		call_abort(call, WEFT_GRPC_CANCELLED, "cancelled by the message handler");
	} else if (rc == WEFT_EPROTO) {
		call_abort(call, WEFT_GRPC_INTERNAL, "compressed response messages are not supported");
	} else if (rc == WEFT_ELIMIT) {
		snprintf(msg, sizeof(msg), "response message larger than %zu bytes", pv->df.max_msg);
		call_abort(call, WEFT_GRPC_RESOURCE_EXHAUSTED, msg);
	} else {
		call_abort(call, WEFT_GRPC_INTERNAL, "out of memory");
	}
	return 0;
}

static int cb_frame_recv(nghttp2_session *sess, const nghttp2_frame *f, void *ud)
{
	weft_grpc_client_t *cl = ud;
	weft_grpc_ccall_t *call;
	ccall_priv_t *pv;

	switch (f->hd.type) {
	case NGHTTP2_SETTINGS:
		if (!(f->hd.flags & NGHTTP2_FLAG_ACK))
			cl->ready = true;
		return 0;
	case NGHTTP2_PING:
		if (f->hd.flags & NGHTTP2_FLAG_ACK)
			cl->ping_sent_ms = 0;
		return 0;
	case NGHTTP2_DATA:
	case NGHTTP2_HEADERS:
		break;
	default:
		return 0;
	}
	if (!(f->hd.flags & NGHTTP2_FLAG_END_STREAM))
		return 0;
	call = nghttp2_session_get_stream_user_data(sess, f->hd.stream_id);
	if (!call)
		return 0;
	pv = call->priv;
	if (pv->local_status < 0 && weft_buf_len(&pv->df.in) && pv->grpc_status == WEFT_GRPC_OK)
		call_abort(call, WEFT_GRPC_INTERNAL, "truncated response message");
	return 0;
}

static int cb_stream_close(nghttp2_session *sess, int32_t sid, uint32_t code, void *ud)
{
	weft_grpc_client_t *cl = ud;
	weft_grpc_ccall_t *call = nghttp2_session_get_stream_user_data(sess, sid);
	const char *msg;
	int st;

	if (!call)
		return 0;
	nghttp2_session_set_stream_user_data(sess, sid, NULL);
	st = call_status(call->priv, code, &msg);
	call_end(cl, call, st, msg);
	return 0;
}

static int cb_not_send(nghttp2_session *sess, const nghttp2_frame *f, int lib_error, void *ud)
{
	weft_grpc_client_t *cl = ud;
	weft_grpc_ccall_t *call;

	if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	call = call_find(cl, f->hd.stream_id);
	if (call && !nghttp2_session_find_stream(sess, call->id)) {
		ccall_priv_t *pv = call->priv;
		if (pv->local_status >= 0)
			call_end(cl, call, pv->local_status, pv->local_msg);
		else
			call_end(cl, call, WEFT_GRPC_UNAVAILABLE, "request not sent (connection closing)");
	}
	return 0;
}

/* ---- connection ---- */

static void cl_set_why(weft_grpc_client_t *cl, const char *why)
{
	if (!cl->why[0])
		snprintf(cl->why, sizeof(cl->why), "%s", why);
}

static void reap_cb(weft_loop_t *l, weft_timer_t *t)
{
	weft_grpc_client_t *cl = t->data;
	weft_conn_close(&cl->conn);
}

static void ping_cb(weft_loop_t *l, weft_timer_t *t)
{
	weft_grpc_client_t *cl = t->data;

	if (cl->dead || !cl->ping_ms)
		return;
	if (cl->ping_sent_ms && l->now_ms - cl->ping_sent_ms >= 2ull * cl->ping_ms) {
		weft_info(cl->name, "no PING ACK for %u ms: connection dead", 2 * cl->ping_ms);
		weft_grpc_client_kill(cl, "keepalive timeout");
		return;
	}
	if (!cl->ping_sent_ms) {
		cl->ping_sent_ms = l->now_ms ? l->now_ms : 1;
		nghttp2_submit_ping(cl->sess, NGHTTP2_FLAG_NONE, NULL);
		cl_kick(cl);
	}
	weft_timer_start(l, t, cl->ping_ms);
}

/* Reads then writes. Returns WEFT_OK or negative: close. */
static int cl_pump(weft_grpc_client_t *cl)
{
	int rc;

	if (cl->dead)
		return WEFT_ECLOSED;
	if (cl->ping_ms && !weft_timer_active(&cl->ping))
		weft_timer_start(cl->conn.loop, &cl->ping, cl->ping_ms);
	rc = weft_h2io_read(&cl->conn, cl->sess, &cl->in_recv, &cl->dead, GC_READS, NULL);
	if (rc == WEFT_ECLOSED || rc == WEFT_EFAIL || rc == WEFT_EPROTO) {
		cl_set_why(cl, rc == WEFT_ECLOSED ? "connection closed by the server"
			       : rc == WEFT_EPROTO ? "HTTP/2 protocol error" : "read failed");
		return rc;
	}
	if (rc == WEFT_EAGAIN)
		cl_kick(cl);
	rc = weft_h2io_write(&cl->conn, cl->sess, GC_OUT_HIGH);
	if (rc == WEFT_EFAIL || rc == WEFT_ELIMIT || rc == WEFT_ECLOSED) {
		cl_set_why(cl, rc == WEFT_ECLOSED ? "session ended (GOAWAY)" : "write failed");
		return rc;
	}
	return cl->dead ? WEFT_ECLOSED : WEFT_OK;
}

static void kick_cb(weft_loop_t *l, weft_timer_t *t)
{
	weft_grpc_client_t *cl = t->data;

	if (cl_pump(cl) < 0)
		weft_conn_close(&cl->conn);
}

static void cl_kick(weft_grpc_client_t *cl)
{
	weft_h2io_kick(&cl->conn, &cl->kick, cl->in_recv, cl->dead);
}

static int cl_on_io(weft_conn_t *c, uint32_t ev)
{
	weft_grpc_client_t *cl = c->mux_ctx;

	weft_timer_stop(c->loop, &cl->kick);
	return cl_pump(cl);
}

static void cl_shutdown(weft_conn_t *c)
{
	weft_grpc_client_t *cl = c->mux_ctx;

	if (cl->dead)
		return;
	nghttp2_submit_goaway(cl->sess, NGHTTP2_FLAG_NONE, 0, NGHTTP2_NO_ERROR, NULL, 0);
	cl_kick(cl);
}

static void cl_destroy(weft_conn_t *c)
{
	weft_grpc_client_t *cl = c->mux_ctx;
	const char *why;

	weft_timer_stop(c->loop, &cl->kick);
	weft_timer_stop(c->loop, &cl->reap);
	weft_timer_stop(c->loop, &cl->ping);
	cl->dead = true;
	cl_set_why(cl, "connection closed");
	why = cl->why;
	while (cl->calls) {
		weft_grpc_ccall_t *call = cl->calls;
		ccall_priv_t *pv = call->priv;
		if (cl->sess)
			nghttp2_session_set_stream_user_data(cl->sess, call->id, NULL);
		if (pv->local_status >= 0)
			call_end(cl, call, pv->local_status, pv->local_msg);
		else
			call_end(cl, call, WEFT_GRPC_UNAVAILABLE, why);
	}
	if (cl->sess)
		nghttp2_session_del(cl->sess);
	cl->sess = NULL;
	weft_debug(cl->name, "closed: %s", why);
	if (cl->on_closed)
		cl->on_closed(cl, why);
	free(cl);
}

static const weft_mux_ops_t grpc_client_mux = { "grpc-client", cl_on_io, cl_shutdown, cl_destroy };

void weft_grpc_client_kill(weft_grpc_client_t *cl, const char *why)
{
	if (!cl->dead)
		cl_set_why(cl, why ? why : "closed");
	weft_h2io_kill(&cl->conn, &cl->reap, &cl->dead);
}

weft_grpc_client_t *weft_grpc_client_new(weft_loop_t *loop, int fd, const weft_xprt_ops_t *x,
					 void *xctx, const char *authority, const char *name,
					 void (*on_closed)(weft_grpc_client_t *, const char *), void *ud)
{
	weft_grpc_client_t *cl = calloc(1, sizeof(*cl));
	static const nghttp2_settings_entry iv[] = {
		{ NGHTTP2_SETTINGS_ENABLE_PUSH, 0 },
		{ NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 4u << 20 },
		{ NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, 65536 },
	};
	static const weft_h2io_session_opts_t so = {
		.on_header = cb_header,
		.on_frame_recv = cb_frame_recv,
		.on_data_chunk_recv = cb_data_chunk,
		.on_stream_close = cb_stream_close,
		.on_frame_not_send = cb_not_send,
		.settings = iv,
		.nsettings = 3,
		.conn_window = 16 << 20,
	};

	if (!cl) {
		weft_conn_t tmp = { .fd = fd, .xprt_ctx = xctx };
		x->close(&tmp);
		return NULL;
	}
	cl->max_msg = 64u << 20;
	cl->ping_ms = 10000;
	cl->on_closed = on_closed;
	cl->ud = ud;
	snprintf(cl->authority, sizeof(cl->authority), "%s", authority ? authority : "localhost");
	snprintf(cl->name, sizeof(cl->name), "%s", name ? name : "grpc-client");
	snprintf(cl->conn.name, sizeof(cl->conn.name), "%.63s", cl->name);
	weft_timer_init(&cl->kick, kick_cb, cl);
	weft_timer_init(&cl->reap, reap_cb, cl);
	weft_timer_init(&cl->ping, ping_cb, cl);
	if (weft_conn_init(&cl->conn, loop, fd, x, xctx, GC_OUT_HIGH + (1u << 20)) < 0) {
		x->close(&cl->conn);
		free(cl);
		return NULL;
	}
	cl->conn.mux = &grpc_client_mux;
	cl->conn.mux_ctx = cl;
	if (weft_h2io_session_new(&cl->sess, &so, cl) != WEFT_OK)
		goto fail;
	cl_kick(cl);
	return cl;
fail:
	cl->on_closed = NULL;
	weft_conn_close(&cl->conn);
	return NULL;
}
