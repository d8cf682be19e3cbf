/* weft — a transport over an HBONE stream (weft/http.h): lets a codec
 * (HTTP/2 between agents) run inside a CONNECT tunnel with fd -1.
 *
 * The transport takes over the stream's callbacks. Received tunnel bytes
 * are buffered here (at most the stream's receive window: the peer cannot
 * send more until recv hands bytes to the codec, which is when they are
 * acknowledged with weft_hbone_consumed). The stream's events reach the
 * connection's mux through a 0 ms timer ("poke") calling mux->on_io the
 * way socket readiness would: never from inside the HBONE session's own
 * nghttp2 callbacks, so the codec may close the connection from on_io. */
#include <stdlib.h>
#include <string.h>
#include <nghttp2/nghttp2.h>
#include "weft/buf.h"
#include "weft/hbone.h"
#include "weft/http.h"
#include "weft/log.h"
#include "weft/loop.h"
#include "weft/net.h"

typedef struct xh {
	weft_hbone_stream_t *hs;       /* NULL once the stream closed */
	weft_conn_t *c;                /* set by attach */
	weft_loop_t *loop;
	weft_buf_t in;                 /* received, not yet taken by recv */
	bool eof;                      /* the peer ended its half */
	bool closed;                   /* the stream is gone */
	uint32_t events;               /* owed to the mux */
	weft_timer_t poke;
} xh_t;

static void poke_cb(weft_loop_t *l, weft_timer_t *t)
{
	xh_t *x = t->data;
	weft_conn_t *c = x->c;
	uint32_t ev = x->events;

	x->events = 0;
	if (!c || !c->mux)
		return;
	if (c->mux->on_io(c, ev) < 0)
		weft_conn_close(c);   /* frees x through close() */
}

static void poke(xh_t *x, uint32_t ev)
{
	x->events |= ev;
	if (x->c && !weft_timer_active(&x->poke))
		weft_timer_start(x->loop, &x->poke, 0);
}

/* ---- the stream's callbacks while the transport owns it ---- */

static void xs_response(weft_hbone_stream_t *hs, int status)
{
	if (status == 200)
		poke(hs->ud, WEFT_IO_WRITE);   /* queued bytes may flow now */
}

static void xs_data(weft_hbone_stream_t *hs, const uint8_t *p, size_t n)
{
	xh_t *x = hs->ud;

	if (weft_buf_append(&x->in, p, n) < 0) {
		/* only on memory failure: the window bounds what may arrive */
		weft_hbone_consumed(hs, n);
		weft_hbone_reset(hs, NGHTTP2_INTERNAL_ERROR);
		return;
	}
	poke(x, WEFT_IO_READ);
}

static void xs_eof(weft_hbone_stream_t *hs)
{
	xh_t *x = hs->ud;

	x->eof = true;
	poke(x, WEFT_IO_READ);
}

static void xs_writable(weft_hbone_stream_t *hs)
{
	poke(hs->ud, WEFT_IO_WRITE);
}

static void xs_close(weft_hbone_stream_t *hs, uint32_t err)
{
	xh_t *x = hs->ud;

	x->hs = NULL;
	x->closed = true;
	if (err)
		x->eof = false;   /* an abort is not an orderly end */
	poke(x, WEFT_IO_READ | WEFT_IO_ERROR);
}

static const weft_hbone_stream_cbs_t xs_cbs = { xs_response, xs_data, xs_eof, xs_writable, xs_close };

/* After the transport closed: the stream ends on its own; received bytes
 * are given back so the tunnel's connection window does not leak. */
static void orphan_data(weft_hbone_stream_t *hs, const uint8_t *p, size_t n)
{
	weft_hbone_consumed(hs, n);
}

static const weft_hbone_stream_cbs_t orphan_cbs = { NULL, orphan_data, NULL, NULL, NULL };

/* ---- transport ops ---- */

static ssize_t xh_recv(weft_conn_t *c, void *buf, size_t len)
{
	xh_t *x = c->xprt_ctx;
	size_t n = weft_buf_len(&x->in);

	if (n) {
		if (n > len)
			n = len;
		memcpy(buf, weft_buf_head(&x->in), n);
		weft_buf_consume(&x->in, n);
		if (x->hs)
			weft_hbone_consumed(x->hs, n);
		return (ssize_t)n;
	}
	if (x->eof)
		return 0;
	if (x->closed)
		return WEFT_EFAIL;
	return WEFT_EAGAIN;
}

static ssize_t xh_send(weft_conn_t *c, const void *buf, size_t len)
{
	xh_t *x = c->xprt_ctx;
	size_t max;
	ssize_t n;

	if (!x->hs)
		return WEFT_EFAIL;
	/* pieces of at most half the stream's send bound, so a drained
	 * buffer (on_writable) always takes the next one */
	max = x->hs->hc->lim.stream_out_max / 2;
	if (max && len > max)
		len = max;
	n = weft_hbone_send(x->hs, buf, len);
	if (n == WEFT_ECLOSED)
		return WEFT_EFAIL;
	return n;
}

static void xh_close(weft_conn_t *c)
{
	xh_t *x = c->xprt_ctx;

	if (!x)
		return;
	weft_timer_stop(x->loop, &x->poke);
	if (x->hs) {
		weft_hbone_stream_t *hs = x->hs;
		hs->cbs = &orphan_cbs;
		hs->ud = NULL;
		if (x->eof) {
			weft_hbone_shutdown_write(hs);   /* both halves done: a clean end */
		} else {
			weft_hbone_reset(hs, NGHTTP2_CANCEL);
		}
	}
	weft_buf_free(&x->in);
	free(x);
	c->xprt_ctx = NULL;
	c->fd = -1;
}

static bool xh_pending(weft_conn_t *c)
{
	xh_t *x = c->xprt_ctx;
	return x && weft_buf_len(&x->in) > 0;
}

static void xh_attach(weft_conn_t *c)
{
	xh_t *x = c->xprt_ctx;

	x->c = c;
	if (x->events || weft_buf_len(&x->in) || x->eof || x->closed)
		poke(x, WEFT_IO_READ);   /* what came before the connection existed */
}

const weft_xprt_ops_t weft_xprt_hbone = {
	"hbone-stream", xh_recv, xh_send, xh_close, NULL, xh_pending, xh_attach,
};

void *weft_xprt_hbone_wrap(weft_hbone_stream_t *hs)
{
	xh_t *x = calloc(1, sizeof(*x));

	if (!x)
		return NULL;
	x->hs = hs;
	x->loop = hs->hc->conn.loop;
	weft_buf_init(&x->in, 0);
	weft_timer_init(&x->poke, poke_cb, x);
	hs->cbs = &xs_cbs;
	hs->ud = x;
	return x;
}

weft_hbone_stream_t *weft_xprt_hbone_stream(const weft_conn_t *c)
{
	const xh_t *x = c->xprt == &weft_xprt_hbone ? c->xprt_ctx : NULL;
	return x ? x->hs : NULL;
}
