/* weft — internal: the byte pump between a connection's transport and an
 * nghttp2 session (see h2io.h). The transport may be TLS, whose recv can
 * return WEFT_EAGAIN while its handshake waits to write and whose send
 * can return WEFT_EAGAIN while it waits to read; callers therefore always
 * read first, then write, on every event, and keep read interest on. */
#include <string.h>
#include "h2io.h"
#include "weft/buf.h"
#include "weft/log.h"
#include "weft/loop.h"
#include "weft/net.h"

#define H2IO_CHUNK 65536

int weft_h2io_read(weft_conn_t *c, nghttp2_session *sess, bool *in_recv, const bool *dead,
		   int max_reads, int *ngerr)
{
	uint8_t buf[H2IO_CHUNK];

	for (int i = 0; i < max_reads; i++) {
		ssize_t n = weft_conn_recv(c, buf, sizeof(buf)), rv;
		if (n == WEFT_EAGAIN)
			return WEFT_OK;
		if (n == 0)
			return WEFT_ECLOSED;
		if (n < 0)
			return WEFT_EFAIL;
		*in_recv = true;
		rv = nghttp2_session_mem_recv(sess, buf, (size_t)n);
		*in_recv = false;
		if (rv < 0) {
			if (ngerr)
				*ngerr = (int)rv;
			else
				weft_info(c->name, "HTTP/2 error: %s", nghttp2_strerror((int)rv));
			return WEFT_EPROTO;
		}
		if (*dead)
			return WEFT_ECLOSED;
		/* a short read drained the socket: the next readiness event
		 * brings more, unless the transport buffered some already */
		if ((size_t)n < sizeof(buf) && !weft_conn_pending(c))
			return WEFT_OK;
	}
	return WEFT_EAGAIN;
}

int weft_h2io_write(weft_conn_t *c, nghttp2_session *sess, size_t high)
{
	int rc;

	while (weft_buf_len(&c->out) < high) {
		const uint8_t *d;
		ssize_t n = nghttp2_session_mem_send(sess, &d);
		if (n < 0)
			return WEFT_EFAIL;
		if (n == 0)
			break;
		if (weft_conn_queue(c, d, (size_t)n) < 0)
			return WEFT_ELIMIT;
	}
	rc = weft_conn_flush(c);
	if (rc == WEFT_EFAIL)
		return WEFT_EFAIL;
	if (!nghttp2_session_want_read(sess) && !nghttp2_session_want_write(sess) &&
	    rc == WEFT_OK)
		return WEFT_ECLOSED;
	return rc == WEFT_EAGAIN || nghttp2_session_want_write(sess) ? WEFT_EAGAIN : WEFT_OK;
}

void weft_h2io_kick(weft_conn_t *c, weft_timer_t *kick, bool in_recv, bool dead)
{
	if (in_recv || dead || weft_timer_active(kick))
		return;
	weft_timer_start(c->loop, kick, 0);
}

bool weft_h2io_kill(weft_conn_t *c, weft_timer_t *reap, bool *dead)
{
	if (*dead)
		return false;
	*dead = true;
	weft_conn_want_read(c, false);
	weft_timer_start(c->loop, reap, 0);
	return true;
}

ssize_t weft_h2io_pull(weft_buf_t *out, uint8_t *buf, size_t len, bool eof, uint32_t *flags,
		       bool *deferred)
{
	size_t n = weft_buf_len(out);

	if (n > len)
		n = len;
	if (n) {
		memcpy(buf, weft_buf_head(out), n);
		weft_buf_consume(out, n);
	}
	if (weft_buf_len(out) == 0) {
		if (eof) {
			*flags |= NGHTTP2_DATA_FLAG_EOF;
		} else if (n == 0) {
			*deferred = true;
			return NGHTTP2_ERR_DEFERRED;
		}
	}
	return (ssize_t)n;
}

ssize_t weft_h2io_pull_nocopy(const weft_buf_t *out, size_t len, bool eof, uint32_t *flags,
			      bool *deferred)
{
	size_t have = weft_buf_len(out), n = have < len ? have : len;

	if (n == have) {
		if (eof) {
			*flags |= NGHTTP2_DATA_FLAG_EOF;
		} else if (n == 0) {
			*deferred = true;
			return NGHTTP2_ERR_DEFERRED;
		}
	}
	if (n)
		*flags |= NGHTTP2_DATA_FLAG_NO_COPY;
	return (ssize_t)n;
}

int weft_h2io_send_data(weft_conn_t *c, const uint8_t *framehd, weft_buf_t *out, size_t length,
			size_t high)
{
	if (weft_buf_len(&c->out) >= high)
		return NGHTTP2_ERR_WOULDBLOCK;
	if (weft_buf_len(out) < length || weft_buf_reserve(&c->out, 9 + length) < 0)
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	memcpy(c->out.data + c->out.wr, framehd, 9);
	memcpy(c->out.data + c->out.wr + 9, weft_buf_head(out), length);
	c->out.wr += 9 + length;
	weft_buf_consume(out, length);
	return 0;
}

/* DATA payload length: as much as the windows and the peer's frame size
 * allow (fewer frames, fewer TLS records for bulk tunnels). */
static ssize_t data_len_cb(nghttp2_session *sess, uint8_t type, int32_t sid, int32_t conn_win,
			   int32_t stream_win, uint32_t max_frame, void *ud)
{
	ssize_t n = (ssize_t)max_frame;

	if (conn_win < n)
		n = conn_win;
	if (stream_win < n)
		n = stream_win;
	return n > 0 ? n : 1;
}

int weft_h2io_session_new(nghttp2_session **out, const weft_h2io_session_opts_t *o, void *ud)
{
	nghttp2_session_callbacks *cbs = NULL;
	nghttp2_option *opt = NULL;
	int rv;

	*out = NULL;
	if (nghttp2_session_callbacks_new(&cbs) != 0)
		return WEFT_ENOMEM;
	if (nghttp2_option_new(&opt) != 0) {
		nghttp2_session_callbacks_del(cbs);
		return WEFT_ENOMEM;
	}
	if (o->on_begin_headers)
		nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, o->on_begin_headers);
	if (o->on_header)
		nghttp2_session_callbacks_set_on_header_callback(cbs, o->on_header);
	if (o->on_frame_recv)
		nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, o->on_frame_recv);
	if (o->on_data_chunk_recv)
		nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, o->on_data_chunk_recv);
	if (o->on_stream_close)
		nghttp2_session_callbacks_set_on_stream_close_callback(cbs, o->on_stream_close);
	if (o->on_frame_not_send)
		nghttp2_session_callbacks_set_on_frame_not_send_callback(cbs, o->on_frame_not_send);
	if (o->on_frame_send)
		nghttp2_session_callbacks_set_on_frame_send_callback(cbs, o->on_frame_send);
	if (o->on_send_data)
		nghttp2_session_callbacks_set_send_data_callback(cbs, o->on_send_data);
	if (o->big_frames)
		nghttp2_session_callbacks_set_data_source_read_length_callback(cbs, data_len_cb);
	if (o->no_auto_window_update)
		nghttp2_option_set_no_auto_window_update(opt, 1);
	if (o->max_send_header_block)
		nghttp2_option_set_max_send_header_block_length(opt, o->max_send_header_block);
	if (o->peer_max_streams)
		nghttp2_option_set_peer_max_concurrent_streams(opt, o->peer_max_streams);
	rv = o->server ? nghttp2_session_server_new2(out, cbs, ud, opt)
		       : nghttp2_session_client_new2(out, cbs, ud, opt);
	nghttp2_session_callbacks_del(cbs);
	nghttp2_option_del(opt);
	if (rv != 0) {
		*out = NULL;
		return rv == NGHTTP2_ERR_NOMEM ? WEFT_ENOMEM : WEFT_EFAIL;
	}
	if (nghttp2_submit_settings(*out, NGHTTP2_FLAG_NONE, o->settings, o->nsettings) != 0 ||
	    (o->conn_window > 65535 &&
	     nghttp2_session_set_local_window_size(*out, NGHTTP2_FLAG_NONE, 0, o->conn_window) != 0)) {
		nghttp2_session_del(*out);
		*out = NULL;
		return WEFT_EFAIL;
	}
	return WEFT_OK;
}
