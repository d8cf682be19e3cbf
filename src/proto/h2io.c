/* weft — internal: the byte pump between a connection's transport and an
 * nghttp2 session (see h2io.h). The transport may be TLS, whose recv can
 * return WEFT_EAGAIN while its handshake waits to write and whose send
 * can return WEFT_EAGAIN while it waits to read; callers therefore always
 * read first, then write, on every event, and keep read interest on. */
#include "h2io.h"
#include "weft/buf.h"
#include "weft/log.h"
#include "weft/net.h"

#define H2IO_CHUNK 16384

int weft_h2io_read(weft_conn_t *c, nghttp2_session *sess, bool *in_recv, const bool *dead,
		   int max_reads)
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
	    weft_buf_len(&c->out) == 0)
		return WEFT_ECLOSED;
	return rc == WEFT_EAGAIN || nghttp2_session_want_write(sess) ? WEFT_EAGAIN : WEFT_OK;
}
