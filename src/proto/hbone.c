/* weft — HBONE mux, both roles: TCP tunnels as HTTP/2 CONNECT streams over
 * one nghttp2 session (docs/hbone.md has the wire behaviour).
 *
 * Receive side: NGHTTP2_OPT_NO_AUTO_WINDOW_UPDATE, so DATA given to the
 * owner (on_data) only reopens the peer's window when the owner calls
 * weft_hbone_consumed(); bytes nobody will consume (ignored, reset or
 * closed streams) are consumed at once so the connection window never
 * leaks. Send side: per-stream bounded buffers pulled by a deferred data
 * provider; a send that does not fit returns WEFT_EAGAIN and on_writable
 * follows once the buffer drains below half. I/O: every event (and every
 * kick) reads first, then writes (src/proto/h2io.c), so a TLS transport
 * whose handshake blocks either way always makes progress. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <nghttp2/nghttp2.h>
#include "h2io.h"
#include "weft/buf.h"
#include "weft/hbone.h"
#include "weft/log.h"
#include "weft/loop.h"
#include "weft/net.h"

#define HB_OUT_HIGH     (256 * 1024)   /* stop pulling frames from nghttp2 above this */
#define HB_MAX_HDR      16384          /* request/response header bytes per stream */
#define HB_MAX_FRAME    65536          /* DATA frames we accept (bulk tunnels: fewer frames) */
#define HB_READS_PER_IO 16

/* pflags */
#define PF_CONNECT   0x001u   /* :method CONNECT */
#define PF_METHOD    0x002u   /* some :method seen */
#define PF_PROTOCOL  0x004u   /* :protocol (extended CONNECT) */
#define PF_SCHEMEPATH 0x008u  /* :scheme or :path */
#define PF_AUTH_BAD  0x010u   /* :authority missing or unparsable */
#define PF_AUTH      0x020u   /* :authority seen and parsed */
#define PF_FWD_BAD   0x040u   /* forwarded present but unparsable */
#define PF_FWD_SEEN  0x080u
#define PF_HDR_BIG   0x100u   /* headers beyond HB_MAX_HDR */
#define PF_REFUSED   0x200u   /* server: refused before the owner took it: no callbacks */
#define PF_EOF_TOLD  0x400u   /* on_eof delivered */
#define PF_ANSWERED  0x800u   /* server: response submitted / client: on_response delivered */
#define PF_RST_SENT  0x1000u
#define PF_RST_AFTER 0x2000u  /* server: RST_STREAM(NO_ERROR) after the error response */
#define PF_PROTO_BAD 0x4000u  /* server: weft-proto with a value we do not know */

void weft_hbone_limits_default(weft_hbone_limits_t *l)
{
	l->max_streams = 100;
	l->stream_window = 256u << 10;
	l->conn_window = 16u << 20;
	l->stream_out_max = 256u << 10;
	l->handshake_ms = 10000;
	l->idle_ms = 60000;
}

static void hc_kick(weft_hbone_conn_t *hc);

/* ---- streams ---- */

static bool hs_open(const weft_hbone_stream_t *hs)
{
	return hs->status == 200 && !hs->closing;
}

static weft_hbone_stream_t *hs_find(weft_hbone_conn_t *hc, int32_t id)
{
	for (weft_hbone_stream_t *hs = hc->streams; hs; hs = hs->next)
		if (hs->id == id)
			return hs;
	return NULL;
}

static weft_hbone_stream_t *hs_new(weft_hbone_conn_t *hc)
{
	weft_hbone_stream_t *hs = calloc(1, sizeof(*hs));

	if (!hs)
		return NULL;
	hs->hc = hc;
	weft_buf_init(&hs->out, 0);
	hs->next = hc->streams;
	if (hs->next)
		hs->next->prev = hs;
	hc->streams = hs;
	if (hc->nstreams++ == 0 && !hc->dead)
		weft_timer_stop(hc->conn.loop, &hc->timer);   /* not idle */
	return hs;
}

/* Unlinks hs, runs the owner's on_close (unless refused before the owner
 * took it) and frees it. */
static void hs_finish(weft_hbone_conn_t *hc, weft_hbone_stream_t *hs, uint32_t err)
{
	if (hs->prev)
		hs->prev->next = hs->next;
	else
		hc->streams = hs->next;
	if (hs->next)
		hs->next->prev = hs->prev;
	hc->nstreams--;
	hc->last_active_ms = hc->conn.loop->now_ms;
	if (hs->unconsumed && hc->sess)
		nghttp2_session_consume_connection(hc->sess, hs->unconsumed);
	if (err)
		weft_debug(hc->name, "s%d closed: %s", hs->id, nghttp2_http2_strerror(err));
	if (!(hs->pflags & PF_REFUSED) && hs->cbs && hs->cbs->on_close)
		hs->cbs->on_close(hs, err);
	weft_buf_free(&hs->out);
	free(hs);
	if (hc->nstreams == 0 && hc->ready && !hc->dead && hc->lim.idle_ms)
		weft_timer_start(hc->conn.loop, &hc->timer, hc->lim.idle_ms);
}

static ssize_t hs_read(nghttp2_session *sess, int32_t sid, uint8_t *buf, size_t len,
		       uint32_t *flags, nghttp2_data_source *src, void *ud)
{
	weft_hbone_stream_t *hs = src->ptr;

	if (hs->status != 200 || hs->closing) {
		hs->deferred = true;
		return NGHTTP2_ERR_DEFERRED;
	}
	/* the payload goes from hs->out to the connection in hs_send_data */
	return weft_h2io_pull_nocopy(&hs->out, len, hs->local_eof, flags, &hs->deferred);
}

/* NGHTTP2_DATA_FLAG_NO_COPY: frame header and payload into the
 * connection's output, no copy through nghttp2's frame buffer. */
static int hs_send_data(nghttp2_session *sess, nghttp2_frame *f, const uint8_t *framehd,
			size_t length, nghttp2_data_source *src, void *ud)
{
	weft_hbone_stream_t *hs = src->ptr;
	weft_hbone_conn_t *hc = ud;
	int rv;

	if (f->data.padlen)
		return NGHTTP2_ERR_CALLBACK_FAILURE;   /* never asked for */
	rv = weft_h2io_send_data(&hc->conn, framehd, &hs->out, length, HB_OUT_HIGH);
	if (rv == 0)
		hs->bytes_out += length;
	return rv;
}

static void hs_resume(weft_hbone_stream_t *hs)
{
	if (hs->deferred && hs->status == 200 && !hs->closing) {
		hs->deferred = false;
		nghttp2_session_resume_data(hs->hc->sess, hs->id);
	}
	hc_kick(hs->hc);
}

static void hs_rst(weft_hbone_stream_t *hs, uint32_t err)
{
	if (hs->pflags & PF_RST_SENT)
		return;
	hs->pflags |= PF_RST_SENT;
	hs->closing = true;
	nghttp2_submit_rst_stream(hs->hc->sess, NGHTTP2_FLAG_NONE, hs->id, err);
	hc_kick(hs->hc);
}

/* Server: submits the response. 200 attaches the data provider. */
static int hs_submit_response(weft_hbone_stream_t *hs, int status)
{
	weft_hbone_conn_t *hc = hs->hc;
	char code[8];
	nghttp2_nv nv[1];
	nghttp2_data_provider dp = { .source.ptr = hs, .read_callback = hs_read };
	int rv;

	if (status < 200 || status > 599)
		status = 500;
	snprintf(code, sizeof(code), "%d", status);
	nv[0] = (nghttp2_nv){ (uint8_t *)":status", (uint8_t *)code, 7, strlen(code),
			      NGHTTP2_NV_FLAG_NONE };
	hs->pflags |= PF_ANSWERED;
	hs->status = status;
	rv = nghttp2_submit_response(hc->sess, hs->id, nv, 1, status == 200 ? &dp : NULL);
	if (rv != 0) {
		hs_rst(hs, NGHTTP2_INTERNAL_ERROR);
		return WEFT_EFAIL;
	}
	if (status != 200) {
		/* the tunnel will not open: stop the client's half too */
		weft_buf_reset(&hs->out);
		if (!hs->remote_eof)
			hs->pflags |= PF_RST_AFTER;   /* once the response has left (cb_frame_send) */
		hs->closing = true;
	}
	hc_kick(hc);
	return WEFT_OK;
}

int weft_hbone_respond(weft_hbone_stream_t *hs, int status)
{
	if (!hs->hc->server || (hs->pflags & PF_ANSWERED) || hs->closing || hs->hc->dead)
		return WEFT_ECLOSED;
	return hs_submit_response(hs, status) == WEFT_OK ? WEFT_OK : WEFT_ECLOSED;
}

ssize_t weft_hbone_send(weft_hbone_stream_t *hs, const void *p, size_t n)
{
	size_t have = weft_buf_len(&hs->out);

	if (hs->closing || hs->local_eof || hs->hc->dead)
		return WEFT_ECLOSED;
	if (n == 0)
		return 0;
	/* all or nothing; one write into an empty buffer is always taken */
	if (have && have + n > hs->hc->lim.stream_out_max) {
		hs->want_writable = true;
		return WEFT_EAGAIN;
	}
	if (weft_buf_append(&hs->out, p, n) < 0) {
		hs->want_writable = true;
		return WEFT_EAGAIN;
	}
	hs_resume(hs);
	return (ssize_t)n;
}

void weft_hbone_shutdown_write(weft_hbone_stream_t *hs)
{
	if (hs->local_eof || hs->closing || hs->hc->dead)
		return;
	hs->local_eof = true;
	hs_resume(hs);
}

void weft_hbone_consumed(weft_hbone_stream_t *hs, size_t n)
{
	weft_hbone_conn_t *hc = hs->hc;

	if (n > hs->unconsumed)
		n = hs->unconsumed;
	if (n == 0 || hc->dead)
		return;
	hs->unconsumed -= n;
	nghttp2_session_consume(hc->sess, hs->id, n);
	if (nghttp2_session_want_write(hc->sess))
		hc_kick(hc);   /* a WINDOW_UPDATE is due (else nothing to send) */
}

void weft_hbone_reset(weft_hbone_stream_t *hs, uint32_t err)
{
	if (hs->closing && (hs->pflags & PF_RST_SENT))
		return;
	if (hs->hc->dead) {
		hs->closing = true;
		return;
	}
	hs_rst(hs, err);
}

weft_hbone_stream_t *weft_hbone_open(weft_hbone_conn_t *hc, const struct sockaddr *dst,
				     const struct sockaddr *src,
				     const weft_hbone_stream_cbs_t *cbs, void *ud)
{
	return weft_hbone_open_f(hc, dst, src, 0, cbs, ud);
}

weft_hbone_stream_t *weft_hbone_open_f(weft_hbone_conn_t *hc, const struct sockaddr *dst,
				       const struct sockaddr *src, uint32_t flags,
				       const weft_hbone_stream_cbs_t *cbs, void *ud)
{
	weft_hbone_stream_t *hs;
	char fwd[80], ip[64];
	nghttp2_nv nv[4];
	size_t nnv = 2;
	nghttp2_data_provider dp;
	int32_t sid;
	uint32_t cap = hc->lim.max_streams;

	if (hc->server || hc->dead || hc->goaway || !dst)
		return NULL;
	if (hc->ready) {
		uint32_t remote = nghttp2_session_get_remote_settings(
			hc->sess, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
		if (remote < cap)
			cap = remote;
	}
	if (hc->nstreams >= cap)
		return NULL;
	hs = hs_new(hc);
	if (!hs)
		return NULL;
	hs->cbs = cbs;
	hs->ud = ud;
	memcpy(&hs->req.dst, dst, dst->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
							       : sizeof(struct sockaddr_in));
	hs->req.dstlen = dst->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
						    : sizeof(struct sockaddr_in);
	weft_net_format_addr(dst, hs->req.authority, sizeof(hs->req.authority));
	nv[0] = (nghttp2_nv){ (uint8_t *)":method", (uint8_t *)"CONNECT", 7, 7, NGHTTP2_NV_FLAG_NONE };
	nv[1] = (nghttp2_nv){ (uint8_t *)":authority", (uint8_t *)hs->req.authority, 10,
			      strlen(hs->req.authority), NGHTTP2_NV_FLAG_NONE };
	if (src && (src->sa_family == AF_INET || src->sa_family == AF_INET6)) {
		socklen_t sl = src->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
							  : sizeof(struct sockaddr_in);
		memcpy(&hs->req.src, src, sl);
		hs->req.srclen = sl;
		hs->req.has_for = true;
		if (src->sa_family == AF_INET6) {
			inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)src)->sin6_addr, ip, sizeof(ip));
			snprintf(fwd, sizeof(fwd), "for=\"[%s]\"", ip);
		} else {
			inet_ntop(AF_INET, &((const struct sockaddr_in *)src)->sin_addr, ip, sizeof(ip));
			snprintf(fwd, sizeof(fwd), "for=\"%s\"", ip);
		}
		nv[2] = (nghttp2_nv){ (uint8_t *)"forwarded", (uint8_t *)fwd, 9, strlen(fwd),
				      NGHTTP2_NV_FLAG_NONE };
		nnv = 3;
	}
	hs->req.flags = flags & WEFT_HBONE_F_H2;
	if (flags & WEFT_HBONE_F_H2)
		nv[nnv++] = (nghttp2_nv){ (uint8_t *)"weft-proto", (uint8_t *)"h2", 10, 2,
					  NGHTTP2_NV_FLAG_NONE };
	dp.source.ptr = hs;
	dp.read_callback = hs_read;
	sid = nghttp2_submit_request(hc->sess, NULL, nv, nnv, &dp, hs);
	if (sid < 0) {
		hs->pflags |= PF_REFUSED;   /* the owner gets NULL, not on_close */
		hs_finish(hc, hs, 0);
		return NULL;
	}
	hs->id = sid;
	hc_kick(hc);
	return hs;
}

/* Delivers callbacks owed outside nghttp2 (on_eof after a deferred 200,
 * on_writable after the buffer drained). */
static void hc_deliver(weft_hbone_conn_t *hc)
{
	weft_hbone_stream_t *hs, *next;

	for (hs = hc->streams; hs && !hc->dead; hs = next) {
		next = hs->next;
		if (!hs->cbs || (hs->pflags & PF_REFUSED))
			continue;
		if (hs->want_writable && hs_open(hs) && !hs->local_eof &&
		    weft_buf_len(&hs->out) <= hc->lim.stream_out_max / 2) {
			hs->want_writable = false;
			if (hs->cbs->on_writable)
				hs->cbs->on_writable(hs);
		}
		if (hs->remote_eof && hs_open(hs) && !(hs->pflags & PF_EOF_TOLD)) {
			hs->pflags |= PF_EOF_TOLD;
			if (hs->cbs->on_eof)
				hs->cbs->on_eof(hs);
		}
	}
}

/* ---- nghttp2 callbacks ---- */

static int cb_begin_headers(nghttp2_session *sess, const nghttp2_frame *f, void *ud)
{
	weft_hbone_conn_t *hc = ud;
	weft_hbone_stream_t *hs;

	if (!hc->server || f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	if (hc->dead || hc->nstreams >= hc->lim.max_streams) {
		nghttp2_submit_rst_stream(sess, NGHTTP2_FLAG_NONE, f->hd.stream_id,
					  NGHTTP2_REFUSED_STREAM);
		return 0;
	}
	hs = hs_new(hc);
	if (!hs) {
		nghttp2_submit_rst_stream(sess, NGHTTP2_FLAG_NONE, f->hd.stream_id,
					  NGHTTP2_REFUSED_STREAM);
		return 0;
	}
	hs->id = f->hd.stream_id;
	hs->pflags |= PF_REFUSED;   /* until the owner takes it */
	nghttp2_session_set_stream_user_data(sess, hs->id, hs);
	return 0;
}

static bool name_is(const uint8_t *n, size_t nl, const char *s)
{
	return nl == strlen(s) && memcmp(n, s, nl) == 0;
}

static int cb_header(nghttp2_session *sess, const nghttp2_frame *f, const uint8_t *name,
		     size_t nl, const uint8_t *value, size_t vl, uint8_t flags, void *ud)
{
	weft_hbone_conn_t *hc = ud;
	weft_hbone_stream_t *hs;

	if (f->hd.type != NGHTTP2_HEADERS)
		return 0;
	hs = nghttp2_session_get_stream_user_data(sess, f->hd.stream_id);
	if (!hs)
		return 0;
	hs->hdr_bytes += (uint32_t)(nl + vl + 32);
	if (hs->hdr_bytes > HB_MAX_HDR) {
		hs->pflags |= PF_HDR_BIG;
		return 0;
	}
	if (!hc->server) {
		if (f->headers.cat == NGHTTP2_HCAT_RESPONSE && name_is(name, nl, ":status")) {
			int st = 0;
			for (size_t i = 0; i < vl && i < 3; i++)
				st = st * 10 + (value[i] - '0');
			hs->status = vl == 3 ? st : 0;
		}
		return 0;
	}
	if (f->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;   /* trailers: ignored */
	if (name_is(name, nl, ":method")) {
		hs->pflags |= PF_METHOD;
		if (vl == 7 && memcmp(value, "CONNECT", 7) == 0)
			hs->pflags |= PF_CONNECT;
	} else if (name_is(name, nl, ":protocol")) {
		hs->pflags |= PF_PROTOCOL;
	} else if (name_is(name, nl, ":scheme") || name_is(name, nl, ":path")) {
		hs->pflags |= PF_SCHEMEPATH;
	} else if (name_is(name, nl, ":authority")) {
		if (weft_hbone_parse_authority((const char *)value, vl, &hs->req.dst,
					       &hs->req.dstlen) == WEFT_OK) {
			memcpy(hs->req.authority, value, vl);
			hs->req.authority[vl] = '\0';
			hs->pflags |= PF_AUTH;
		} else {
			hs->pflags |= PF_AUTH_BAD;
		}
	} else if (name_is(name, nl, "forwarded")) {
		if (hs->pflags & PF_FWD_SEEN)
			return 0;   /* the first element is in the first field */
		hs->pflags |= PF_FWD_SEEN;
		if (weft_hbone_parse_forwarded((const char *)value, vl, &hs->req.src,
					       &hs->req.srclen) == WEFT_OK)
			hs->req.has_for = true;
		else
			hs->pflags |= PF_FWD_BAD;
	} else if (name_is(name, nl, "weft-proto")) {
		if (vl == 2 && memcmp(value, "h2", 2) == 0 && !(hs->req.flags & WEFT_HBONE_F_H2))
			hs->req.flags |= WEFT_HBONE_F_H2;
		else
			hs->pflags |= PF_PROTO_BAD;   /* unknown value, or given twice */
	}
	return 0;
}

/* Server: a complete CONNECT request: check it, then ask the owner. */
static void on_request(weft_hbone_conn_t *hc, weft_hbone_stream_t *hs)
{
	int st;

	if (hs->pflags & PF_PROTOCOL) {
		weft_info(hc->name, "s%d: extended CONNECT (:protocol) refused", hs->id);
		hs_rst(hs, NGHTTP2_PROTOCOL_ERROR);
		return;
	}
	if (hs->pflags & PF_HDR_BIG) {
		hs_submit_response(hs, 431);
		return;
	}
	if (!(hs->pflags & PF_CONNECT) || (hs->pflags & PF_SCHEMEPATH)) {
		weft_info(hc->name, "s%d: not a CONNECT request", hs->id);
		hs_submit_response(hs, 405);
		return;
	}
	if (!(hs->pflags & PF_AUTH) || (hs->pflags & PF_AUTH_BAD)) {
		weft_info(hc->name, "s%d: bad CONNECT authority", hs->id);
		hs_submit_response(hs, 400);
		return;
	}
	if (hs->pflags & PF_FWD_BAD) {
		weft_info(hc->name, "s%d: unparsable forwarded header", hs->id);
		hs_submit_response(hs, 400);
		return;
	}
	if (hs->pflags & PF_PROTO_BAD) {
		weft_info(hc->name, "s%d: unknown weft-proto", hs->id);
		hs_submit_response(hs, 400);
		return;
	}
	hs->pflags &= ~PF_REFUSED;
	st = hc->on_connect ? hc->on_connect(hc, hs) : 503;
	if (st == 0) {
		if (hs->closing)
			hs->pflags |= PF_ANSWERED;
		return;   /* weft_hbone_respond() later */
	}
	if (st != 200)
		hs->pflags |= PF_REFUSED;   /* refused: nothing else is called */
	if (!(hs->pflags & PF_ANSWERED) && !hs->closing)
		hs_submit_response(hs, st);
	if (st == 200 && hs->remote_eof && !(hs->pflags & PF_EOF_TOLD) && hs->cbs) {
		hs->pflags |= PF_EOF_TOLD;
		if (hs->cbs->on_eof)
			hs->cbs->on_eof(hs);
	}
}

static int cb_frame_recv(nghttp2_session *sess, const nghttp2_frame *f, void *ud)
{
	weft_hbone_conn_t *hc = ud;
	weft_hbone_stream_t *hs;
	bool es = (f->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;

	switch (f->hd.type) {
	case NGHTTP2_SETTINGS:
		if (!(f->hd.flags & NGHTTP2_FLAG_ACK) && !hc->ready) {
			hc->ready = true;
			weft_timer_stop(hc->conn.loop, &hc->timer);
			if (hc->nstreams == 0 && hc->lim.idle_ms && !hc->dead)
				weft_timer_start(hc->conn.loop, &hc->timer, hc->lim.idle_ms);
		}
		return 0;
	case NGHTTP2_GOAWAY:
		if (!hc->goaway)
			weft_debug(hc->name, "GOAWAY received (%s)",
				   nghttp2_http2_strerror(f->goaway.error_code));
		hc->goaway = true;
		return 0;
	case NGHTTP2_HEADERS:
	case NGHTTP2_DATA:
		break;
	default:
		return 0;
	}
	hs = nghttp2_session_get_stream_user_data(sess, f->hd.stream_id);
	if (!hs || hc->dead)
		return 0;
	if (es)
		hs->remote_eof = true;
	if (f->hd.type == NGHTTP2_HEADERS) {
		if (hc->server) {
			if (f->headers.cat == NGHTTP2_HCAT_REQUEST)
				on_request(hc, hs);
			return 0;
		}
		if (f->headers.cat != NGHTTP2_HCAT_RESPONSE || (hs->pflags & PF_ANSWERED))
			return 0;
		if (hs->status < 200) {
			hs->status = 0;   /* 1xx: wait for the final response */
			return 0;
		}
		hs->pflags |= PF_ANSWERED;
		if (hs->status != 200) {
			weft_buf_reset(&hs->out);
			hs->closing = true;
			if (hs->cbs && hs->cbs->on_response)
				hs->cbs->on_response(hs, hs->status);
			/* no tunnel: end our half too */
			if (!(hs->pflags & PF_RST_SENT)) {
				hs->pflags |= PF_RST_SENT;
				nghttp2_submit_rst_stream(sess, NGHTTP2_FLAG_NONE, hs->id, NGHTTP2_NO_ERROR);
			}
			return 0;
		}
		if (hs->cbs && hs->cbs->on_response)
			hs->cbs->on_response(hs, 200);
		if (hs->deferred && !hs->closing) {
			hs->deferred = false;
			nghttp2_session_resume_data(sess, hs->id);
		}
	} else if (hc->server && !(hs->pflags & PF_ANSWERED) && !hs->closing) {
		weft_info(hc->name, "s%d: DATA before the CONNECT response: reset", hs->id);
		hs_rst(hs, NGHTTP2_PROTOCOL_ERROR);
		return 0;
	}
	if (es && hs_open(hs) && !(hs->pflags & PF_EOF_TOLD) && hs->cbs) {
		hs->pflags |= PF_EOF_TOLD;
		if (hs->cbs->on_eof)
			hs->cbs->on_eof(hs);
	}
	return 0;
}

static int cb_data_chunk(nghttp2_session *sess, uint8_t flags, int32_t sid, const uint8_t *data,
			 size_t len, void *ud)
{
	weft_hbone_conn_t *hc = ud;
	weft_hbone_stream_t *hs = nghttp2_session_get_stream_user_data(sess, sid);

	if (!hs || hc->dead || !hs_open(hs) || (hs->pflags & PF_REFUSED) || !hs->cbs) {
		nghttp2_session_consume(sess, sid, len);   /* nobody will: give it back */
		if (hs && hc->server && !(hs->pflags & PF_ANSWERED) && !hs->closing) {
			weft_info(hc->name, "s%d: DATA before the CONNECT response: reset", hs->id);
			hs_rst(hs, NGHTTP2_PROTOCOL_ERROR);
		}
		return 0;
	}
	hs->unconsumed += len;
	hs->bytes_in += len;
	if (hs->cbs->on_data)
		hs->cbs->on_data(hs, data, len);
	return 0;
}

static int cb_stream_close(nghttp2_session *sess, int32_t sid, uint32_t code, void *ud)
{
	weft_hbone_conn_t *hc = ud;
	weft_hbone_stream_t *hs = nghttp2_session_get_stream_user_data(sess, sid);

	if (!hs)
		return 0;
	nghttp2_session_set_stream_user_data(sess, sid, NULL);
	hs_finish(hc, hs, code);
	return 0;
}

static int cb_frame_send(nghttp2_session *sess, const nghttp2_frame *f, void *ud)
{
	weft_hbone_stream_t *hs;

	if (f->hd.type != NGHTTP2_HEADERS)
		return 0;
	hs = nghttp2_session_get_stream_user_data(sess, f->hd.stream_id);
	if (hs && (hs->pflags & PF_RST_AFTER) && !(hs->pflags & PF_RST_SENT)) {
		/* the client's half of a refused tunnel: stop it (RFC 9113 8.1) */
		hs->pflags |= PF_RST_SENT;
		nghttp2_submit_rst_stream(sess, NGHTTP2_FLAG_NONE, hs->id, NGHTTP2_NO_ERROR);
	}
	return 0;
}

static int cb_not_send(nghttp2_session *sess, const nghttp2_frame *f, int lib_error, void *ud)
{
	weft_hbone_conn_t *hc = ud;
	weft_hbone_stream_t *hs;

	/* a request that never left (GOAWAY, stream ids exhausted) */
	if (hc->server || f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	hs = hs_find(hc, f->hd.stream_id);
	if (hs && !nghttp2_session_find_stream(sess, hs->id))
		hs_finish(hc, hs, NGHTTP2_REFUSED_STREAM);
	return 0;
}

/* ---- connection ---- */

static void hc_reap_cb(weft_loop_t *l, weft_timer_t *t)
{
	weft_hbone_close(t->data);
}

static void hc_timer_cb(weft_loop_t *l, weft_timer_t *t)
{
	weft_hbone_conn_t *hc = t->data;

	if (!hc->ready) {
		weft_info(hc->name, "no HTTP/2 SETTINGS within %u ms: closing", hc->lim.handshake_ms);
		weft_hbone_kill(hc, "handshake timeout");
		return;
	}
	if (hc->nstreams == 0) {
		weft_debug(hc->name, "idle for %u ms: closing", hc->lim.idle_ms);
		weft_hbone_goaway(hc);
	}
}

/* Reads (when read, or the connection is not past its handshake, or
 * input waits unannounced) then writes; returns WEFT_OK or a negative
 * code: close. A kick that only has output to send skips the read: with
 * read interest on, arriving input is announced by the socket anyway, so
 * the read would cost a syscall answering EAGAIN. */
static int hc_pump(weft_hbone_conn_t *hc, bool read)
{
	int rc = WEFT_OK, wr;

	if (hc->dead)
		return WEFT_ECLOSED;
	if (read || hc->kick_read || !hc->ready || weft_conn_pending(&hc->conn)) {
		hc->kick_read = false;
		rc = weft_h2io_read(&hc->conn, hc->sess, &hc->in_recv, &hc->dead, HB_READS_PER_IO, NULL);
	}
	if (rc == WEFT_ECLOSED || rc == WEFT_EFAIL || rc == WEFT_EPROTO) {
		if (rc == WEFT_EPROTO) {
			/* tell the peer why, best effort */
			nghttp2_session_terminate_session(hc->sess, NGHTTP2_PROTOCOL_ERROR);
			weft_h2io_write(&hc->conn, hc->sess, HB_OUT_HIGH);
		}
		weft_debug(hc->name, "closing: %s", rc == WEFT_ECLOSED ? (hc->dead ? "killed" : "peer closed")
							: rc == WEFT_EPROTO ? "protocol error" : "read failed");
		return rc;
	}
	if (rc == WEFT_EAGAIN) {
		hc->kick_read = true;
		hc_kick(hc);   /* more input may be waiting (a TLS record buffer) */
	}
	wr = weft_h2io_write(&hc->conn, hc->sess, HB_OUT_HIGH);
	if (wr == WEFT_EFAIL || wr == WEFT_ELIMIT || wr == WEFT_ECLOSED) {
		weft_debug(hc->name, "closing: %s", wr == WEFT_ECLOSED ? "session done" : "write failed");
		return wr;
	}
	hc_deliver(hc);
	if (hc->dead)
		return WEFT_ECLOSED;
	return WEFT_OK;
}

static void hc_kick_cb(weft_loop_t *l, weft_timer_t *t)
{
	weft_hbone_conn_t *hc = t->data;

	if (hc_pump(hc, false) < 0)
		weft_hbone_close(hc);
}

static void hc_kick(weft_hbone_conn_t *hc)
{
	weft_h2io_kick(&hc->conn, &hc->kick, hc->in_recv, hc->dead);
}

static int hc_on_io(weft_conn_t *c, uint32_t ev)
{
	weft_hbone_conn_t *hc = c->mux_ctx;

	weft_timer_stop(c->loop, &hc->kick);
	return hc_pump(hc, true);
}

static void hc_shutdown(weft_conn_t *c)
{
	weft_hbone_goaway(c->mux_ctx);
}

static void hc_destroy(weft_conn_t *c)
{
	weft_hbone_conn_t *hc = c->mux_ctx;

	weft_timer_stop(c->loop, &hc->timer);
	weft_timer_stop(c->loop, &hc->reap);
	weft_timer_stop(c->loop, &hc->kick);
	hc->dead = true;
	while (hc->streams) {
		weft_hbone_stream_t *hs = hc->streams;
		if (hc->sess)
			nghttp2_session_set_stream_user_data(hc->sess, hs->id, NULL);
		hs_finish(hc, hs, NGHTTP2_CANCEL);
	}
	if (hc->sess)
		nghttp2_session_del(hc->sess);
	hc->sess = NULL;
	if (hc->on_destroy)
		hc->on_destroy(hc);
	free(hc);
}

static const weft_mux_ops_t hbone_mux = { "hbone", hc_on_io, hc_shutdown, hc_destroy };

void weft_hbone_goaway(weft_hbone_conn_t *hc)
{
	if (hc->dead)
		return;
	hc->goaway = true;
	nghttp2_submit_goaway(hc->sess, NGHTTP2_FLAG_NONE,
			      nghttp2_session_get_last_proc_stream_id(hc->sess), NGHTTP2_NO_ERROR,
			      NULL, 0);
	hc_kick(hc);
}

void weft_hbone_kill(weft_hbone_conn_t *hc, const char *why)
{
	if (weft_h2io_kill(&hc->conn, &hc->reap, &hc->dead))
		weft_debug(hc->name, "closing: %s", why);
}

void weft_hbone_close(weft_hbone_conn_t *hc)
{
	weft_conn_close(&hc->conn);   /* ends in hc_destroy() */
}

static weft_hbone_conn_t *hc_new(weft_loop_t *loop, int fd, const weft_xprt_ops_t *x, void *xctx,
				 const weft_hbone_limits_t *lim, bool server,
				 weft_hbone_on_connect_fn on_connect, void *ud, const char *name)
{
	weft_hbone_conn_t *hc = calloc(1, sizeof(*hc));
	nghttp2_settings_entry iv[5];
	weft_h2io_session_opts_t so = {
		.server = server,
		.on_begin_headers = cb_begin_headers,
		.on_header = cb_header,
		.on_frame_recv = cb_frame_recv,
		.on_data_chunk_recv = cb_data_chunk,
		.on_stream_close = cb_stream_close,
		.on_frame_not_send = cb_not_send,
		.on_frame_send = cb_frame_send,
		.on_send_data = hs_send_data,
		.no_auto_window_update = true,
		.max_send_header_block = 65536,
		.settings = iv,
		.nsettings = server ? 4 : 5,
	};
	weft_hbone_limits_t dl;

	if (!lim) {
		weft_hbone_limits_default(&dl);
		lim = &dl;
	}
	if (!hc) {
		weft_conn_t tmp = { .fd = fd, .xprt_ctx = xctx };
		x->close(&tmp);
		return NULL;
	}
	hc->server = server;
	hc->lim = *lim;
	if (hc->lim.stream_window < 65535)
		hc->lim.stream_window = 65535;
	if (hc->lim.conn_window < hc->lim.stream_window)
		hc->lim.conn_window = hc->lim.stream_window;
	if (hc->lim.stream_out_max == 0)
		hc->lim.stream_out_max = 256u << 10;
	hc->on_connect = on_connect;
	hc->ud = ud;
	hc->last_active_ms = loop->now_ms;
	snprintf(hc->name, sizeof(hc->name), "%s", name ? name : (server ? "hbone-in" : "hbone-out"));
	snprintf(hc->conn.name, sizeof(hc->conn.name), "%.63s", hc->name);
	weft_timer_init(&hc->timer, hc_timer_cb, hc);
	weft_timer_init(&hc->reap, hc_reap_cb, hc);
	weft_timer_init(&hc->kick, hc_kick_cb, hc);
	if (weft_conn_init(&hc->conn, loop, fd, x, xctx, HB_OUT_HIGH + (1u << 20)) < 0) {
		x->close(&hc->conn);
		free(hc);
		return NULL;
	}
	hc->conn.mux = &hbone_mux;
	hc->conn.mux_ctx = hc;
	iv[0] = (nghttp2_settings_entry){ NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, hc->lim.max_streams };
	iv[1] = (nghttp2_settings_entry){ NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, hc->lim.stream_window };
	iv[2] = (nghttp2_settings_entry){ NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, HB_MAX_HDR };
	iv[3] = (nghttp2_settings_entry){ NGHTTP2_SETTINGS_MAX_FRAME_SIZE, HB_MAX_FRAME };
	iv[4] = (nghttp2_settings_entry){ NGHTTP2_SETTINGS_ENABLE_PUSH, 0 };   /* client only */
	so.big_frames = true;
	if (!server)
		so.peer_max_streams = hc->lim.max_streams;
	if (hc->lim.conn_window > 65535)
		so.conn_window = (int32_t)hc->lim.conn_window;
	if (weft_h2io_session_new(&hc->sess, &so, hc) != WEFT_OK) {
		weft_hbone_close(hc);
		return NULL;
	}
	if (hc->lim.handshake_ms)
		weft_timer_start(loop, &hc->timer, hc->lim.handshake_ms);
	hc_kick(hc);   /* our preface goes out at once */
	return hc;
}

weft_hbone_conn_t *weft_hbone_server_new(weft_loop_t *loop, int fd, const weft_xprt_ops_t *x,
					 void *xctx, const weft_hbone_limits_t *lim,
					 weft_hbone_on_connect_fn on_connect, void *ud,
					 const char *name)
{
	return hc_new(loop, fd, x, xctx, lim, true, on_connect, ud, name);
}

weft_hbone_conn_t *weft_hbone_client_new(weft_loop_t *loop, int fd, const weft_xprt_ops_t *x,
					 void *xctx, const weft_hbone_limits_t *lim, void *ud,
					 const char *name)
{
	return hc_new(loop, fd, x, xctx, lim, false, NULL, ud, name);
}
