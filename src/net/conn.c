/* weft — connections: a socket watched by the loop, a transport that moves
 * its bytes, a bounded output buffer, and the mux on top. */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include "weft/buf.h"
#include "weft/log.h"
#include "weft/loop.h"
#include "weft/net.h"

/* ---- raw TCP transport ---- */

static ssize_t raw_recv(weft_conn_t *c, void *buf, size_t len)
{
	for (;;) {
		ssize_t n = recv(c->fd, buf, len, 0);
		if (n >= 0)
			return n;
		if (errno == EINTR)
			continue;
		return (errno == EAGAIN || errno == EWOULDBLOCK) ? WEFT_EAGAIN : WEFT_EFAIL;
	}
}

static ssize_t raw_send(weft_conn_t *c, const void *buf, size_t len)
{
	for (;;) {
		ssize_t n = send(c->fd, buf, len, MSG_NOSIGNAL);
		if (n >= 0)
			return n;
		if (errno == EINTR)
			continue;
		return (errno == EAGAIN || errno == EWOULDBLOCK) ? WEFT_EAGAIN : WEFT_EFAIL;
	}
}

static void raw_close(weft_conn_t *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

const weft_xprt_ops_t weft_xprt_raw = { "raw", raw_recv, raw_send, raw_close, NULL, NULL, NULL };

/* ---- connection ---- */

static void conn_io_cb(weft_loop_t *l, weft_io_t *io, uint32_t ev)
{
	weft_conn_t *c = io->data;

	/* a transport blocked on writing while it reads (TLS handshake):
	 * writable means "try reading again" */
	if ((ev & WEFT_IO_WRITE) && c->xprt && c->xprt->want_write && c->xprt->want_write(c))
		ev |= WEFT_IO_READ;
	if (c->mux->on_io(c, ev) < 0)
		weft_conn_close(c);   /* frees c through mux->destroy */
}

int weft_conn_init(weft_conn_t *c, weft_loop_t *loop, int fd, const weft_xprt_ops_t *x,
		   void *xprt_ctx, size_t out_limit)
{
	c->loop = loop;
	c->fd = fd;
	c->xprt = x;
	c->xprt_ctx = xprt_ctx;
	c->mux = NULL;
	c->mux_ctx = NULL;
	c->io.active = false;
	c->eof = false;
	c->bytes_in = c->bytes_out = 0;
	c->last_write_ms = loop->now_ms;
	weft_buf_init(&c->out, out_limit);
	if (fd >= 0 && weft_io_start(loop, &c->io, fd, WEFT_IO_READ, conn_io_cb, c) < 0)
		return WEFT_EFAIL;
	if (x && x->attach)
		x->attach(c);
	return WEFT_OK;
}

ssize_t weft_conn_recv(weft_conn_t *c, void *buf, size_t len)
{
	ssize_t n = c->xprt->recv(c, buf, len);

	if (n == 0)
		c->eof = true;
	else if (n > 0)
		c->bytes_in += (uint64_t)n;
	return n;
}

int weft_conn_queue(weft_conn_t *c, const void *p, size_t n)
{
	return weft_buf_append(&c->out, p, n) < 0 ? WEFT_ELIMIT : WEFT_OK;
}

int weft_conn_flush(weft_conn_t *c)
{
	bool held;

	while (weft_buf_len(&c->out)) {
		ssize_t n = c->xprt->send(c, weft_buf_head(&c->out), weft_buf_len(&c->out));
		if (n == WEFT_EAGAIN)
			break;
		if (n < 0)
			return WEFT_EFAIL;
		weft_buf_consume(&c->out, (size_t)n);
		c->bytes_out += (uint64_t)n;
		c->last_write_ms = c->loop->now_ms;
	}
	/* a transport holding output of its own (TLS records the socket did
	 * not take yet) is pushed even when nothing else waits: a send of 0
	 * bytes does only that */
	held = c->xprt && c->xprt->want_write && c->xprt->want_write(c);
	if (held && !weft_buf_len(&c->out)) {
		if (c->xprt->send(c, NULL, 0) == WEFT_EFAIL)
			return WEFT_EFAIL;
		held = c->xprt->want_write(c);
	}
	if (c->io.active) {
		/* raw: write interest while output waits; other transports say
		 * whether they wait for the socket to drain or for input */
		bool w = c->xprt && c->xprt->want_write ? held : weft_buf_len(&c->out) != 0;
		uint32_t want = (c->io.events & WEFT_IO_READ) | (w ? WEFT_IO_WRITE : 0);
		weft_io_modify(c->loop, &c->io, want);
	}
	return weft_buf_len(&c->out) || held ? WEFT_EAGAIN : WEFT_OK;
}

void weft_conn_want_read(weft_conn_t *c, bool want_read)
{
	if (c->io.active)
		weft_io_modify(c->loop, &c->io,
			       (c->io.events & WEFT_IO_WRITE) | (want_read ? WEFT_IO_READ : 0));
}

void weft_conn_close(weft_conn_t *c)
{
	const weft_mux_ops_t *mux = c->mux;

	if (c->io.active)
		weft_io_stop(c->loop, &c->io);
	if (c->xprt)
		c->xprt->close(c);
	c->xprt = NULL;
	weft_buf_free(&c->out);
	c->mux = NULL;
	if (mux && mux->destroy)
		mux->destroy(c);   /* may free the memory holding c: last */
}
