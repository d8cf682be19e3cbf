/* weft — the L4 byte relay between two ends: sockets (captured client,
 * passthrough or delivery socket) and external ends (HBONE streams).
 *
 * Each direction has one bounded buffer: side i's `in` holds what was read
 * from i and not yet written to the other side. A socket is only read
 * while its buffer has room (backpressure: a slow writer stops the reader),
 * and only watched for writing while a write to it would block. An
 * external end pushes bytes (its own flow control window bounds them) and
 * is told through ops->consumed when they have been written on, which is
 * what reopens the window.
 *
 * Ending: EOF read from a side is passed on as a half-close to the other
 * (FIN <-> END_STREAM) once its buffer is drained; when both directions
 * have ended this way the relay is done and closes cleanly. An error or
 * reset on either side resets the other (SO_LINGER 0 -> RST for sockets,
 * RST_STREAM for streams) and ends the relay at once.
 *
 * Readiness: a socket is read only while it may hold input (rd_ready):
 * set by a read (or error/hang-up) event from the loop, cleared when a
 * read comes back short or EAGAIN. Pushes from an external end therefore
 * never cost a read of a socket that has nothing (epoll is level-triggered:
 * input that arrives later is announced). */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include "weft/buf.h"
#include "weft/capture.h"
#include "weft/loop.h"

#define CHUNK (64u * 1024u)
/* bytes an external end may push beyond bufmax: its flow-control window
 * bounds it, this only guards against a misbehaving end */
#define EXT_HARD_MAX (8u * 1024u * 1024u)

static void relay_pump(weft_relay_t *r);

static void fin_cb(weft_loop_t *l, weft_timer_t *t)
{
	weft_relay_t *r = t->data;

	if (r->on_done)
		r->on_done(r);
}

void weft_relay_init(weft_relay_t *r, weft_loop_t *loop, size_t bufmax,
		     void (*on_done)(weft_relay_t *r), void *ud)
{
	memset(r, 0, sizeof(*r));
	r->loop = loop;
	r->bufmax = bufmax ? bufmax : WEFT_RELAY_BUF;
	r->on_done = on_done;
	r->ud = ud;
	weft_timer_init(&r->fin, fin_cb, r);
	for (int i = 0; i < 2; i++) {
		r->s[i].r = r;
		r->s[i].fd = -1;
		weft_buf_init(&r->s[i].in, r->bufmax);
	}
}

static void close_side(weft_relay_t *r, weft_relay_side_t *s, bool rst)
{
	if (s->gone)
		return;
	s->gone = true;
	if (s->fd >= 0) {
		weft_io_stop(r->loop, &s->io);
		if (rst)
			weft_sock_set_rst(s->fd);
		close(s->fd);
		s->fd = -1;
	} else if (s->ops && s->ops->close) {
		s->ops->close(s->ctx, rst);
	}
}

static void finish(weft_relay_t *r, weft_relay_end_how_t how)
{
	if (r->done)
		return;
	r->done = true;
	r->how = how;
	for (int i = 0; i < 2; i++)
		close_side(r, &r->s[i], how != WEFT_RELAY_CLEAN);
	weft_timer_start(r->loop, &r->fin, 0);
}

/* Side i failed (error, reset, refused connect): it is closed as is, the
 * other side is reset. */
static void fail(weft_relay_t *r, int i, int err)
{
	weft_relay_side_t *s = &r->s[i];

	if (r->done)
		return;
	s->reset = true;
	if (!r->err)
		r->err = err;
	/* the failed socket itself: plain close (it is already broken) */
	if (s->fd >= 0) {
		weft_io_stop(r->loop, &s->io);
		close(s->fd);
		s->fd = -1;
		s->gone = true;
	}
	finish(r, WEFT_RELAY_RESET);
}

static void sock_cb(weft_loop_t *l, weft_io_t *io, uint32_t ev)
{
	weft_relay_side_t *s = io->data;
	weft_relay_t *r = s->r;

	if (ev & WEFT_IO_WRITE)
		s->wr_blocked = false;
	if (ev & (WEFT_IO_READ | WEFT_IO_ERROR))
		s->rd_ready = true;   /* EOF and RST are read too */
	if (ev & WEFT_IO_ERROR) {
		int e = weft_sock_connect_result(s->fd);
		if (e) {
			fail(r, (int)(s - r->s), e);
			return;
		}
	}
	relay_pump(r);
}

int weft_relay_set_sock(weft_relay_t *r, int i, int fd)
{
	weft_relay_side_t *s = &r->s[i];

	s->fd = fd;
	s->rd_ready = true;   /* the first read finds out */
	/* watch for writability first: a connecting socket reports its
	 * outcome there, a connected one is writable at once */
	if (weft_io_start(r->loop, &s->io, fd, WEFT_IO_WRITE, sock_cb, s) < 0) {
		fail(r, i, errno);
		return WEFT_EFAIL;
	}
	s->wr_blocked = true;
	return WEFT_OK;
}

void weft_relay_set_ext(weft_relay_t *r, int i, const weft_relay_end_ops_t *ops, void *ctx)
{
	r->s[i].ops = ops;
	r->s[i].ctx = ctx;
	/* external ends buffer whatever their window let through */
	r->s[i].in.limit = r->bufmax > EXT_HARD_MAX ? r->bufmax : EXT_HARD_MAX;
}

void weft_relay_start(weft_relay_t *r)
{
	r->started = true;
	relay_pump(r);
}

/* Writes side src's buffer to side dst. Returns true on progress. */
static bool flush_to(weft_relay_t *r, int src, int dst)
{
	weft_relay_side_t *a = &r->s[src], *b = &r->s[dst];
	bool progress = false;

	while (!r->done && weft_buf_len(&a->in) && !b->wr_blocked) {
		size_t len = weft_buf_len(&a->in);
		ssize_t n;

		if (b->gone || b->wr_shut) {
			fail(r, dst, EPIPE);
			return true;
		}
		if (b->fd >= 0) {
			n = send(b->fd, weft_buf_head(&a->in), len, MSG_NOSIGNAL);
			if (n < 0) {
				if (errno == EINTR)
					continue;
				if (errno == EAGAIN || errno == EWOULDBLOCK) {
					b->wr_blocked = true;
					break;
				}
				fail(r, dst, errno);
				return true;
			}
		} else {
			n = b->ops->send(b->ctx, weft_buf_head(&a->in), len > CHUNK ? CHUNK : len);
			if (n == WEFT_EAGAIN) {
				b->wr_blocked = true;
				break;
			}
			if (n <= 0) {
				fail(r, dst, EPIPE);
				return true;
			}
		}
		weft_buf_consume(&a->in, (size_t)n);
		b->bytes_out += (uint64_t)n;
		progress = true;
		if (a->fd < 0 && !a->gone && a->ops->consumed)
			a->ops->consumed(a->ctx, (size_t)n);
	}
	if (!r->done && !weft_buf_len(&a->in) && a->rd_eof && !b->wr_shut && !b->gone) {
		b->wr_shut = true;
		if (b->fd >= 0)
			shutdown(b->fd, SHUT_WR);
		else if (b->ops->shutdown_write)
			b->ops->shutdown_write(b->ctx);
		progress = true;
	}
	return progress;
}

/* Reads socket side i into its buffer while there is room. Returns true
 * on progress (bytes or EOF). */
static bool read_side(weft_relay_t *r, int i)
{
	weft_relay_side_t *s = &r->s[i];
	bool progress = false;

	while (!r->done && s->fd >= 0 && s->rd_ready && !s->rd_eof &&
	       weft_buf_len(&s->in) < r->bufmax) {
		size_t room = r->bufmax - weft_buf_len(&s->in);
		ssize_t n;

		if (room > CHUNK)
			room = CHUNK;
		if (weft_buf_reserve(&s->in, room) < 0)
			break;
		n = recv(s->fd, s->in.data + s->in.wr, room, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				s->rd_ready = false;
				break;
			}
			fail(r, i, errno);
			return true;
		}
		progress = true;
		if (n == 0) {
			s->rd_eof = true;
			break;
		}
		s->in.wr += (size_t)n;
		s->bytes_in += (uint64_t)n;
		if ((size_t)n < room) {
			/* drained: epoll is level-triggered, no EAGAIN read needed */
			s->rd_ready = false;
			break;
		}
	}
	return progress;
}

static void update_interest(weft_relay_t *r, int i)
{
	weft_relay_side_t *s = &r->s[i];
	uint32_t ev = 0;

	if (s->fd < 0 || !s->io.active)
		return;
	if (!s->rd_eof && weft_buf_len(&s->in) < r->bufmax)
		ev |= WEFT_IO_READ;
	/* write interest while a write would block (or the socket is still
	 * connecting), and while bytes wait for it: that also resumes a pump
	 * that stopped at its guard */
	if (s->wr_blocked || (weft_buf_len(&r->s[!i].in) && !s->wr_shut))
		ev |= WEFT_IO_WRITE;
	if (s->rd_eof && s->wr_shut) {
		/* nothing more can happen on it; a hang-up would fire forever */
		weft_io_stop(r->loop, &s->io);
		return;
	}
	weft_io_modify(r->loop, &s->io, ev);
}

static void relay_pump(weft_relay_t *r)
{
	bool progress = true;

	if (!r->started)
		return;   /* pushes before the start are only buffered */
	/* a socket still connecting shows up as wr_blocked; nothing is read
	 * from the other side's socket meanwhile beyond the buffer bound. The
	 * guard bounds the work of one call; the rest continues next turn. */
	for (int guard = 0; progress && !r->done && guard < 64; guard++) {
		progress = false;
		for (int i = 0; i < 2 && !r->done; i++) {
			if (read_side(r, i))
				progress = true;
			if (!r->done && flush_to(r, i, !i))
				progress = true;
		}
	}
	if (r->done)
		return;
	if (r->s[0].rd_eof && r->s[1].rd_eof && r->s[0].wr_shut && r->s[1].wr_shut &&
	    !weft_buf_len(&r->s[0].in) && !weft_buf_len(&r->s[1].in)) {
		finish(r, WEFT_RELAY_CLEAN);
		return;
	}
	update_interest(r, 0);
	update_interest(r, 1);
}

void weft_relay_push(weft_relay_t *r, int i, const void *p, size_t n)
{
	weft_relay_side_t *s = &r->s[i];

	if (r->done || s->rd_eof)
		return;
	if (weft_buf_append(&s->in, p, n) < 0) {
		fail(r, i, ENOBUFS);
		return;
	}
	s->bytes_in += n;
	relay_pump(r);
}

void weft_relay_eof(weft_relay_t *r, int i)
{
	if (r->done)
		return;
	r->s[i].rd_eof = true;
	relay_pump(r);
}

void weft_relay_writable(weft_relay_t *r, int i)
{
	if (r->done)
		return;
	r->s[i].wr_blocked = false;
	relay_pump(r);
}

void weft_relay_closed(weft_relay_t *r, int i, bool reset)
{
	weft_relay_side_t *s = &r->s[i];

	if (s->gone)
		return;
	s->gone = true;   /* its owner is done with it: never call its ops again */
	if (r->done)
		return;
	if (reset || !s->rd_eof || !s->wr_shut) {
		s->reset = true;
		if (!r->err)
			r->err = ECONNRESET;
		finish(r, WEFT_RELAY_RESET);
		return;
	}
	relay_pump(r);
}

void weft_relay_abort(weft_relay_t *r)
{
	if (!r->err)
		r->err = ECONNABORTED;
	finish(r, WEFT_RELAY_ABORTED);
}

void weft_relay_release(weft_relay_t *r)
{
	for (int i = 0; i < 2; i++) {
		weft_relay_side_t *s = &r->s[i];
		if (s->fd >= 0) {
			weft_io_stop(r->loop, &s->io);
			if (!r->done || r->how != WEFT_RELAY_CLEAN)
				weft_sock_set_rst(s->fd);
			close(s->fd);
			s->fd = -1;
		}
		s->gone = true;
		weft_buf_free(&s->in);
	}
	weft_timer_stop(r->loop, &r->fin);
}
