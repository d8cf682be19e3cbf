/* weft — HTTP/2 server mux: one weft_h2c_t per connection, one weft_h2s_t
 * per stream, nghttp2 underneath (framing, HPACK, flow control).
 *
 * Input: the transport is read and fed to nghttp2 by the shared pump
 * (src/proto/h2io.c); callbacks build streams and hand complete
 * requests and body chunks to the handler (the gRPC layer).
 * Output: the same pump queues nghttp2's frames on the connection's
 * bounded buffer and writes them; stream bodies wait in per-stream buffers and
 * are pulled by a data provider that defers when empty and is resumed when
 * more arrives. Pending output is bounded per connection; output that makes
 * no progress for lim.stall_ms closes the connection. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <nghttp2/nghttp2.h>
#include "h2io.h"
#include "weft/buf.h"
#include "weft/h2.h"
#include "weft/log.h"
#include "weft/loop.h"
#include "weft/net.h"

#define H2_READS_PER_IO 8
#define H2_OUT_HIGH   (256 * 1024)  /* stop pulling from nghttp2 above this */

void weft_h2_limits_default(weft_h2_limits_t *l)
{
	l->max_pending = 32u << 20;
	l->preface_ms = 10000;
	l->stall_ms = 30000;
	l->max_streams = 100;
	l->max_header_bytes = 8192;
}

size_t weft_h2c_pending(const weft_h2c_t *h2c)
{
	return h2c->stream_bytes + weft_buf_len(&h2c->conn.out);
}

/* ---- streams ---- */

static void h2s_free(weft_h2c_t *h2c, weft_h2s_t *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		h2c->streams = s->next;
	if (s->next)
		s->next->prev = s->prev;
	h2c->nstreams--;
	h2c->stream_bytes -= weft_buf_len(&s->out);
	weft_buf_free(&s->out);
	weft_buf_free(&s->trailers);
	free(s);
}

static ssize_t h2s_read(nghttp2_session *sess, int32_t sid, uint8_t *buf, size_t len,
			uint32_t *flags, nghttp2_data_source *src, void *ud)
{
	weft_h2s_t *s = src->ptr;
	ssize_t n = weft_h2io_pull(&s->out, buf, len, s->finishing, flags, &s->deferred);

	if (n > 0)
		s->h2c->stream_bytes -= (size_t)n;
	if (*flags & NGHTTP2_DATA_FLAG_EOF) {
		s->ended = true;
		if (s->ntrailers) {
			nghttp2_nv nv[8];
			const char *p = (const char *)weft_buf_head(&s->trailers);
			size_t k = 0;
			for (size_t i = 0; i < s->ntrailers && k < 8; i++, k++) {
				size_t nl = strlen(p), vl;
				const char *v = p + nl + 1;
				vl = strlen(v);
				nv[k] = (nghttp2_nv){ (uint8_t *)p, (uint8_t *)v, nl, vl,
						      NGHTTP2_NV_FLAG_NONE };
				p = v + vl + 1;
			}
			if (nghttp2_submit_trailer(sess, sid, nv, k) == 0)
				*flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
		}
	}
	return n;
}

static void h2s_resume(weft_h2s_t *s)
{
	if (s->deferred && s->responded) {
		s->deferred = false;
		nghttp2_session_resume_data(s->h2c->sess, s->id);
	}
	weft_h2c_kick(s->h2c);
}

int weft_h2s_respond(weft_h2s_t *s, const weft_h2_hdr_t *h, size_t n, bool end)
{
	nghttp2_nv nv[16];
	nghttp2_data_provider dp = { .source.ptr = s, .read_callback = h2s_read };

	if (s->responded || s->ended || n > 16)
		return WEFT_ECLOSED;
	for (size_t i = 0; i < n; i++)
		nv[i] = (nghttp2_nv){ (uint8_t *)h[i].name, (uint8_t *)h[i].value,
				      strlen(h[i].name), strlen(h[i].value), NGHTTP2_NV_FLAG_NONE };
	if (nghttp2_submit_response(s->h2c->sess, s->id, nv, n, end ? NULL : &dp) != 0)
		return WEFT_EFAIL;
	s->responded = true;
	if (end)
		s->ended = true;
	weft_h2c_kick(s->h2c);
	return WEFT_OK;
}

int weft_h2s_send(weft_h2s_t *s, const void *p, size_t n)
{
	weft_h2c_t *h2c = s->h2c;

	if (s->ended || s->finishing || h2c->dead)
		return WEFT_ECLOSED;
	if (weft_h2c_pending(h2c) + n > h2c->lim.max_pending) {
		weft_warn(s->name, "pending output would pass %zu bytes: disconnecting",
			  h2c->lim.max_pending);
		weft_h2c_kill(h2c, "output bound");
		return WEFT_ELIMIT;
	}
	if (weft_buf_append(&s->out, p, n) < 0) {
		weft_h2c_kill(h2c, "out of memory");
		return WEFT_ELIMIT;
	}
	h2c->stream_bytes += n;
	h2s_resume(s);
	return WEFT_OK;
}

int weft_h2s_finish(weft_h2s_t *s, const weft_h2_hdr_t *t, size_t n)
{
	if (s->ended || s->finishing)
		return WEFT_ECLOSED;
	for (size_t i = 0; i < n && i < 8; i++) {
		if (weft_buf_append(&s->trailers, t[i].name, strlen(t[i].name) + 1) < 0 ||
		    weft_buf_append(&s->trailers, t[i].value, strlen(t[i].value) + 1) < 0)
			return WEFT_ENOMEM;
		s->ntrailers++;
	}
	s->finishing = true;
	h2s_resume(s);
	return WEFT_OK;
}

void weft_h2s_reset(weft_h2s_t *s, uint32_t code)
{
	s->ended = true;
	nghttp2_submit_rst_stream(s->h2c->sess, NGHTTP2_FLAG_NONE, s->id, code);
	weft_h2c_kick(s->h2c);
}

/* ---- nghttp2 callbacks ---- */

static int cb_begin_headers(nghttp2_session *sess, const nghttp2_frame *f, void *ud)
{
	weft_h2c_t *h2c = ud;
	weft_h2s_t *s;

	if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	if (h2c->dead)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;   /* resets this stream */
	s->h2c = h2c;
	s->id = f->hd.stream_id;
	weft_buf_init(&s->out, 0);
	weft_buf_init(&s->trailers, 4096);
	snprintf(s->name, sizeof(s->name), "%s s%d", h2c->conn.name, s->id);
	s->next = h2c->streams;
	if (s->next)
		s->next->prev = s;
	h2c->streams = s;
	h2c->nstreams++;
	nghttp2_session_set_stream_user_data(sess, s->id, s);
	return 0;
}

static void copy_hdr(weft_h2s_t *s, char *dst, size_t cap, const uint8_t *v, size_t vl)
{
	if (vl >= cap) {
		s->hdr_too_long = true;
		return;
	}
	memcpy(dst, v, vl);
	dst[vl] = '\0';
}

static int cb_header(nghttp2_session *sess, const nghttp2_frame *f, const uint8_t *name,
		     size_t nl, const uint8_t *value, size_t vl, uint8_t flags, void *ud)
{
	weft_h2s_t *s;

	if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	s = nghttp2_session_get_stream_user_data(sess, f->hd.stream_id);
	if (!s)
		return 0;
	if (nl == 5 && !memcmp(name, ":path", 5))
		copy_hdr(s, s->path, sizeof(s->path), value, vl);
	else if (nl == 7 && !memcmp(name, ":method", 7))
		copy_hdr(s, s->method, sizeof(s->method), value, vl);
	else if (nl == 12 && !memcmp(name, "content-type", 12))
		copy_hdr(s, s->ctype, sizeof(s->ctype), value, vl);
	return 0;
}

static int cb_frame_recv(nghttp2_session *sess, const nghttp2_frame *f, void *ud)
{
	weft_h2c_t *h2c = ud;
	weft_h2s_t *s;

	if (f->hd.type == NGHTTP2_SETTINGS && !h2c->preface_ok) {
		h2c->preface_ok = true;
		weft_timer_stop(h2c->conn.loop, &h2c->timer);
	}
	if (f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA)
		return 0;
	s = nghttp2_session_get_stream_user_data(sess, f->hd.stream_id);
	if (!s || h2c->dead)
		return 0;
	if (f->hd.type == NGHTTP2_HEADERS && f->headers.cat == NGHTTP2_HCAT_REQUEST) {
		if (h2c->h->on_request(s) < 0 && !s->ended)
			weft_h2s_reset(s, NGHTTP2_REFUSED_STREAM);
	}
	if ((f->hd.flags & NGHTTP2_FLAG_END_STREAM) && h2c->h->on_end)
		h2c->h->on_end(s);
	return 0;
}

static int cb_data_chunk(nghttp2_session *sess, uint8_t flags, int32_t sid, const uint8_t *data,
			 size_t len, void *ud)
{
	weft_h2c_t *h2c = ud;
	weft_h2s_t *s = nghttp2_session_get_stream_user_data(sess, sid);

	if (!s || s->ended || h2c->dead)
		return 0;
	if (h2c->h->on_data(s, data, len) < 0 && !s->ended)
		weft_h2s_reset(s, NGHTTP2_INTERNAL_ERROR);
	return 0;
}

static int cb_stream_close(nghttp2_session *sess, int32_t sid, uint32_t code, void *ud)
{
	weft_h2c_t *h2c = ud;
	weft_h2s_t *s = nghttp2_session_get_stream_user_data(sess, sid);

	if (!s)
		return 0;
	nghttp2_session_set_stream_user_data(sess, sid, NULL);
	if (h2c->h->on_close)
		h2c->h->on_close(s);
	h2s_free(h2c, s);
	return 0;
}

/* ---- connection ---- */

static void h2c_reap_cb(weft_loop_t *l, weft_timer_t *t)
{
	weft_h2c_close(t->data);
}

static void h2c_timer_cb(weft_loop_t *l, weft_timer_t *t)
{
	weft_h2c_t *h2c = t->data;
	uint64_t since;

	if (!h2c->preface_ok) {
		weft_info(h2c->conn.name, "no HTTP/2 preface within %u ms: closing", h2c->lim.preface_ms);
		weft_h2c_close(h2c);
		return;
	}
	if (weft_h2c_pending(h2c) == 0)
		return;
	since = h2c->conn.last_write_ms > h2c->stall_since ? h2c->conn.last_write_ms : h2c->stall_since;
	if (l->now_ms - since >= h2c->lim.stall_ms) {
		weft_warn(h2c->conn.name, "output stalled for %u ms with %zu bytes pending: closing",
			  h2c->lim.stall_ms, weft_h2c_pending(h2c));
		weft_h2c_close(h2c);
		return;
	}
	weft_timer_start(l, t, h2c->lim.stall_ms - (l->now_ms - since));
}

/* Moves nghttp2 output to the socket (weft_h2io_write) and keeps the stall
 * timer armed while output is pending. Returns WEFT_OK, or WEFT_ECLOSED /
 * WEFT_EFAIL / WEFT_ELIMIT when the connection must close. */
static int h2c_flush(weft_h2c_t *h2c)
{
	int rc = weft_h2io_write(&h2c->conn, h2c->sess, H2_OUT_HIGH);

	if (rc == WEFT_EFAIL || rc == WEFT_ELIMIT)
		return rc;
	if (h2c->preface_ok) {
		if (weft_h2c_pending(h2c) == 0) {
			weft_timer_stop(h2c->conn.loop, &h2c->timer);
		} else if (!weft_timer_active(&h2c->timer)) {
			h2c->stall_since = h2c->conn.loop->now_ms;
			weft_timer_start(h2c->conn.loop, &h2c->timer, h2c->lim.stall_ms);
		}
	}
	return rc == WEFT_ECLOSED ? WEFT_ECLOSED : WEFT_OK;
}

static void h2c_kick_cb(weft_loop_t *l, weft_timer_t *t)
{
	weft_h2c_t *h2c = t->data;
	int rc = h2c_flush(h2c);

	if (rc < 0) {
		weft_debug(h2c->conn.name, "closing: %s", rc == WEFT_ECLOSED ? "session done" : "write failed");
		weft_h2c_close(h2c);
	}
}

void weft_h2c_kick(weft_h2c_t *h2c)
{
	weft_h2io_kick(&h2c->conn, &h2c->kick, h2c->in_recv, h2c->dead);
}

static int h2c_on_io(weft_conn_t *c, uint32_t ev)
{
	weft_h2c_t *h2c = c->mux_ctx;

	if (h2c->dead)
		return WEFT_ECLOSED;
	weft_timer_stop(c->loop, &h2c->kick);
	if (ev & (WEFT_IO_READ | WEFT_IO_ERROR)) {
		/* WEFT_EAGAIN (stopped after H2_READS_PER_IO chunks): the socket
		 * stays readable and the loop calls again */
		int rc = weft_h2io_read(c, h2c->sess, &h2c->in_recv, &h2c->dead, H2_READS_PER_IO, NULL);
		if (rc == WEFT_ECLOSED || rc == WEFT_EFAIL || rc == WEFT_EPROTO) {
			weft_debug(c->name, "closing: %s", rc == WEFT_ECLOSED ? (h2c->dead ? "killed" : "peer closed")
							  : rc == WEFT_EPROTO ? "protocol error" : "read failed");
			return rc;
		}
	}
	return h2c_flush(h2c);
}

static void h2c_shutdown(weft_conn_t *c)
{
	weft_h2c_goaway(c->mux_ctx);
}

static void h2c_destroy(weft_conn_t *c)
{
	weft_h2c_t *h2c = c->mux_ctx;

	weft_timer_stop(c->loop, &h2c->timer);
	weft_timer_stop(c->loop, &h2c->reap);
	weft_timer_stop(c->loop, &h2c->kick);
	h2c->dead = true;
	/* streams still open: tell the handler, then free them */
	while (h2c->streams) {
		weft_h2s_t *s = h2c->streams;
		if (h2c->h->on_close)
			h2c->h->on_close(s);
		h2s_free(h2c, s);
	}
	nghttp2_session_del(h2c->sess);
	if (h2c->on_destroy)
		h2c->on_destroy(h2c);
	free(h2c);
}

static const weft_mux_ops_t h2_mux = { "h2", h2c_on_io, h2c_shutdown, h2c_destroy };

void weft_h2c_goaway(weft_h2c_t *h2c)
{
	if (h2c->goaway || h2c->dead)
		return;
	h2c->goaway = true;
	nghttp2_submit_goaway(h2c->sess, NGHTTP2_FLAG_NONE,
			      nghttp2_session_get_last_proc_stream_id(h2c->sess),
			      NGHTTP2_NO_ERROR, NULL, 0);
	weft_h2c_kick(h2c);
}

void weft_h2c_kill(weft_h2c_t *h2c, const char *why)
{
	if (weft_h2io_kill(&h2c->conn, &h2c->reap, &h2c->dead))
		weft_debug(h2c->conn.name, "closing: %s", why);
}

void weft_h2c_close(weft_h2c_t *h2c)
{
	weft_conn_close(&h2c->conn);   /* ends in h2c_destroy() */
}

weft_h2c_t *weft_h2c_new(weft_loop_t *loop, int fd, const weft_xprt_ops_t *x, void *xctx,
			 const weft_h2_handler_t *h, void *hctx, const weft_h2_limits_t *lim,
			 const char *name)
{
	weft_h2c_t *h2c = calloc(1, sizeof(*h2c));
	nghttp2_settings_entry iv[3];
	weft_h2io_session_opts_t so = {
		.server = true,
		.on_begin_headers = cb_begin_headers,
		.on_header = cb_header,
		.on_frame_recv = cb_frame_recv,
		.on_data_chunk_recv = cb_data_chunk,
		.on_stream_close = cb_stream_close,
		.max_send_header_block = 65536,
		.settings = iv,
		.nsettings = 3,
	};

	if (!h2c) {
		weft_conn_t tmp = { .fd = fd, .xprt_ctx = xctx };
		x->close(&tmp);
		return NULL;
	}
	h2c->h = h;
	h2c->hctx = hctx;
	h2c->lim = *lim;
	weft_timer_init(&h2c->timer, h2c_timer_cb, h2c);
	weft_timer_init(&h2c->reap, h2c_reap_cb, h2c);
	weft_timer_init(&h2c->kick, h2c_kick_cb, h2c);
	snprintf(h2c->conn.name, sizeof(h2c->conn.name), "%s", name);
	if (weft_conn_init(&h2c->conn, loop, fd, x, xctx, lim->max_pending + H2_OUT_HIGH) < 0) {
		x->close(&h2c->conn);
		free(h2c);
		return NULL;
	}
	h2c->conn.mux = &h2_mux;
	h2c->conn.mux_ctx = h2c;
	iv[0] = (nghttp2_settings_entry){ NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, lim->max_streams };
	iv[1] = (nghttp2_settings_entry){ NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE,
					  (uint32_t)lim->max_header_bytes };
	iv[2] = (nghttp2_settings_entry){ NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1u << 20 };
	if (weft_h2io_session_new(&h2c->sess, &so, h2c) != WEFT_OK) {
		weft_h2c_close(h2c);
		return NULL;
	}
	weft_timer_start(loop, &h2c->timer, lim->preface_ms);
	return h2c;
}
