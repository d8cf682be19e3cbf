/* weft — the HTTP/1.x codec: a weft_hconn_t over a weft_conn_t, server
 * role (an application's requests) or client role (requests to an
 * application), one exchange at a time.
 *
 * Input is read into a bounded buffer and parsed with the strict parser
 * (src/proto/http1.c); heads are handed over protocol-neutral
 * (lowercased names, connection-specific fields dropped), bodies decoded
 * (Content-Length, chunked, close-delimited) and delivered with flow
 * control: reading stops while the owner holds more than a window of
 * unconsumed bytes. Output is framed for the peer and queued on the
 * connection's bounded buffer.
 *
 * Callbacks that end things (a stream's on_close, the connection's) run
 * from the loop: a 0 ms "kick" timer drives processing after ops calls,
 * and a 0 ms "reap" timer closes a connection marked dead, so no owner
 * ever sees its objects freed under its own call. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "weft/arena.h"
#include "weft/buf.h"
#include "weft/http.h"
#include "weft/http1.h"
#include "weft/log.h"
#include "weft/loop.h"
#include "weft/net.h"
#include "weft/str.h"

#define H1_READ_CHUNK 16384
#define H1_KEEP_CAP 4096     /* an empty input buffer above this is freed before reuse */

enum rstate {
	R_HEAD,      /* waiting for a head */
	R_LEN,       /* Content-Length body */
	R_CHUNKED,   /* chunked body */
	R_CLOSE,     /* client: body until EOF */
	R_DONE,      /* the peer's message is complete */
};

enum wframe { W_NONE, W_LEN, W_CHUNKED, W_CLOSE };
enum tmode { T_NONE, T_IDLE, T_HEAD };

typedef struct h1s {
	weft_hstream_t s;
	bool in_done;        /* the peer's message is complete */
	bool out_done;       /* ours is */
	bool head_sent;
	bool want_writable;
} h1s_t;

typedef struct h1c {
	weft_hconn_t hc;
	weft_http_limits_t lim;
	weft_h1_limits_t plim;
	weft_buf_t in;
	weft_arena_t arena;          /* the current head's strings */
	weft_timer_t timer, kick, reap;
	weft_timer_t wflush;         /* deferred flush: a head waits for its body until the turn ends */
	int tmode;
	uint64_t tdeadline;          /* when tmode's limit runs out; 0: none (timer armed lazily) */
	h1s_t *cur;                  /* the exchange in progress */
	h1s_t *spare;                /* a finished stream's memory, for the next one */
	h1s_t *done;                 /* finished, its on_close still to run */
	int rstate;
	uint64_t left;               /* R_LEN: body bytes still to come */
	weft_h1_chunked_t ck;
	size_t unconsumed;           /* delivered body bytes the owner holds */
	bool keep_alive;             /* the exchange allows another on this connection */
	bool head_method;            /* the request is HEAD */
	bool expect_100, sent_100;
	bool upgrade_pending;        /* server: the current request asks to upgrade */
	int wframe;
	uint64_t wleft;              /* W_LEN: bytes still to send */
	int req_minor;               /* server: the request's HTTP/1.<minor> */
	bool dead, connected, peer_eof, close_after_flush, taken, in_process, got_resp_bytes;
	weft_hs_err_t close_err;
} h1c_t;

static const weft_hstream_ops_t h1s_ops;
static void process(h1c_t *h);

/* ---- connection lifetime ---- */

static void kick(h1c_t *h)
{
	if (!h->dead && !h->in_process && !weft_timer_active(&h->kick))
		weft_timer_start(h->hc.conn.loop, &h->kick, 0);
}

/* Marks the connection dead; reap closes it on the next loop turn.
 * err is what the current stream's on_close will say. */
static void kill_conn(h1c_t *h, weft_hs_err_t err)
{
	if (h->dead)
		return;
	h->dead = true;
	h->close_err = err;
	weft_conn_want_read(&h->hc.conn, false);
	weft_timer_stop(h->hc.conn.loop, &h->kick);
	weft_timer_start(h->hc.conn.loop, &h->reap, 0);
}

/* Sets the deadline of mode (T_NONE: none) from now. The timer is not
 * stopped when the deadline goes away, nor re-armed when a later one
 * comes (two heap operations per exchange otherwise): timer_cb skips a
 * lapsed firing and re-arms for a deadline further out. It is re-armed
 * here only when it would fire too late. */
static void set_timer(h1c_t *h, int mode)
{
	uint32_t ms = mode == T_HEAD ? h->lim.head_timeout_ms : h->lim.idle_ms;
	weft_loop_t *l = h->hc.conn.loop;

	if (h->tmode == mode)
		return;
	h->tmode = mode;
	h->tdeadline = 0;
	if (mode == T_NONE || !ms)
		return;
	h->tdeadline = l->now_ms + ms;
	if (!weft_timer_active(&h->timer) || h->timer.when_ms > h->tdeadline)
		weft_timer_start(l, &h->timer, ms);
}

/* Writes what is queued. On a write failure the connection dies. Returns
 * WEFT_OK (all written), WEFT_EAGAIN or WEFT_EFAIL. */
static int flush(h1c_t *h)
{
	int rc;

	if (h->dead || (!h->hc.server && !h->connected))
		return WEFT_EAGAIN;
	rc = weft_conn_flush(&h->hc.conn);
	if (rc == WEFT_EFAIL)
		kill_conn(h, WEFT_HS_CONN_CLOSED);
	else if (rc == WEFT_OK && h->close_after_flush)
		kill_conn(h, WEFT_HS_OK);
	return rc;
}

/* Flushes at the end of this loop turn (a zero timer), so a head and the
 * body its owner sends right after leave in one write. */
static void flush_later(h1c_t *h)
{
	if (!h->dead && !weft_timer_active(&h->wflush))
		weft_timer_start(h->hc.conn.loop, &h->wflush, 0);
}

static void wflush_cb(weft_loop_t *l, weft_timer_t *t)
{
	flush(t->data);
}

static int queue(h1c_t *h, const void *p, size_t n)
{
	if (weft_conn_queue(&h->hc.conn, p, n) < 0) {
		kill_conn(h, WEFT_HS_CONN_CLOSED);
		return WEFT_ECLOSED;
	}
	return WEFT_OK;
}

/* Server: answers a refused or timed-out request itself and closes. */
static void answer_error(h1c_t *h, int status)
{
	char buf[160];
	int n = snprintf(buf, sizeof(buf),
			 "HTTP/1.1 %d %s\r\ncontent-length: 0\r\nconnection: close\r\n\r\n", status,
			 weft_h1_reason(status));

	weft_debug(h->hc.name, "refusing request: %d", status);
	h->close_after_flush = true;
	h->rstate = R_DONE;
	weft_conn_want_read(&h->hc.conn, false);
	if (queue(h, buf, (size_t)n) == WEFT_OK)
		flush(h);
}

static void free_stream(h1c_t *h, h1s_t *s, weft_hs_err_t err)
{
	if (s->s.cbs && s->s.cbs->on_close)
		s->s.cbs->on_close(&s->s, err);
	h->hc.nstreams--;
	if (!h->spare && !h->dead)
		h->spare = s;
	else
		free(s);
}

/* Runs a finished exchange's on_close and sets the connection up for
 * the next one (or its close). */
static void notify_done(h1c_t *h)
{
	h1s_t *s = h->done;

	if (!s)
		return;
	h->done = NULL;
	free_stream(h, s, WEFT_HS_OK);
	if (h->dead)
		return;
	if (!h->keep_alive || h->peer_eof) {
		h->close_after_flush = true;
		flush(h);
		return;
	}
	h->rstate = R_HEAD;
	h->unconsumed = 0;
	h->expect_100 = h->sent_100 = h->upgrade_pending = false;
	weft_arena_reset(&h->arena);
	if (!h->hc.server) {
		set_timer(h, T_IDLE);
		if (h->hc.cbs && h->hc.cbs->on_idle)
			h->hc.cbs->on_idle(&h->hc);
	}
}

/* The exchange ends once both messages are complete. */
static void maybe_finish(h1c_t *h, h1s_t *s)
{
	if (h->cur != s || !s->in_done || !s->out_done)
		return;
	h->cur = NULL;
	h->done = s;
	kick(h);
}

/* ---- output ---- */

/* Fields the framing writes itself (connection-specific ones, host,
 * content-length): never copied from a head. */
static bool is_conn_field(weft_str_t n)
{
	switch (n.len) {   /* weft_hdr_is compares lengths first: one test each */
	case 2:
		return weft_hdr_is(n, "te");
	case 4:
		return weft_hdr_is(n, "host");
	case 7:
		return weft_hdr_is(n, "upgrade");
	case 10:
		return weft_hdr_is(n, "connection") || weft_hdr_is(n, "keep-alive");
	case 14:
		return weft_hdr_is(n, "content-length");
	case 16:
		return weft_hdr_is(n, "proxy-connection");
	case 17:
		return weft_hdr_is(n, "transfer-encoding");
	default:
		return false;
	}
}

/* Bit 7 of each byte of the result set exactly where that byte of x is
 * zero (no borrow between bytes). */
static inline uint64_t zero_bytes(uint64_t x)
{
	return ~(((x & 0x7f7f7f7f7f7f7f7full) + 0x7f7f7f7f7f7f7f7full) | x) & 0x8080808080808080ull;
}

/* Bit 7 set in the bytes of x that may not be in a field name sent:
 * controls and space (<= 0x20), ':', DEL and non-ASCII. */
static inline uint64_t bad_name8(uint64_t x)
{
	uint64_t le20 = ~((x & 0x7f7f7f7f7f7f7f7full) + 0x5f5f5f5f5f5f5f5full);

	return (x | le20 | zero_bytes(x ^ 0x3a3a3a3a3a3a3a3aull) |
		zero_bytes(x ^ 0x7f7f7f7f7f7f7f7full)) & 0x8080808080808080ull;
}

/* Bit 7 set in the bytes of x that may not be in a field value sent:
 * CR, LF, NUL. */
static inline uint64_t bad_value8(uint64_t x)
{
	return zero_bytes(x) | zero_bytes(x ^ 0x0d0d0d0d0d0d0d0dull) |
	       zero_bytes(x ^ 0x0a0a0a0a0a0a0a0aull);
}

static inline uint64_t load8(const char *p)
{
	uint64_t x;

	memcpy(&x, p, 8);
	return x;
}

/* Whether a field (as the head framing would write it) is valid: a
 * non-empty name of bytes above 0x20 other than ':' and DEL, a value
 * without CR, LF or NUL. Eight bytes at a time, the last word
 * overlapping the one before. */
static bool valid_field(weft_str_t name, weft_str_t value)
{
	size_t i;

	if (!name.len)
		return false;
	if (name.len < 8) {
		for (i = 0; i < name.len; i++)
			if (name.p[i] <= ' ' || name.p[i] == ':' || name.p[i] == 0x7f)
				return false;
	} else {
		for (i = 0; i + 8 < name.len; i += 8)
			if (bad_name8(load8(name.p + i)))
				return false;
		if (bad_name8(load8(name.p + name.len - 8)))
			return false;
	}
	if (value.len < 8) {
		for (i = 0; i < value.len; i++)
			if (value.p[i] == '\r' || value.p[i] == '\n' || value.p[i] == '\0')
				return false;
		return true;
	}
	for (i = 0; i + 8 < value.len; i += 8)
		if (bad_value8(load8(value.p + i)))
			return false;
	return !bad_value8(load8(value.p + value.len - 8));
}

/* Appends the regular fields of hd (connection-specific ones and
 * content-length are written by the framing). Returns 0 or -1 (a field
 * would break the framing: CR, LF or NUL in it). */
static int put_fields(weft_buf_t *b, const weft_hdr_t *f, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char *p;

		if (is_conn_field(f[i].name))
			continue;
		if (!valid_field(f[i].name, f[i].value))
			return -1;
		if (weft_buf_reserve(b, f[i].name.len + f[i].value.len + 4) < 0)
			return -2;
		p = (char *)b->data + b->wr;
		memcpy(p, f[i].name.p, f[i].name.len);
		p += f[i].name.len;
		*p++ = ':';
		*p++ = ' ';
		memcpy(p, f[i].value.p, f[i].value.len);
		p += f[i].value.len;
		*p++ = '\r';
		*p++ = '\n';
		b->wr = (size_t)((unsigned char *)p - b->data);
	}
	return 0;
}

/* Head building without printf: each returns 0 or -1 (the output
 * buffer's limit), so a head is checked once at its end. */
static int put(weft_buf_t *b, const char *s)
{
	return weft_buf_append(b, s, strlen(s));
}

static int put_str(weft_buf_t *b, weft_str_t s)
{
	return weft_buf_append(b, s.p, s.len);
}

static int put_u64(weft_buf_t *b, uint64_t v)
{
	char d[20];

	return weft_buf_append(b, d, weft_u64_dec(d, v));
}

static int64_t head_length(const weft_http_head_t *hd)
{
	const weft_hdr_t *cl;
	unsigned long long v;

	if (hd->content_length >= 0)
		return hd->content_length;
	cl = weft_http_hdr(hd, "content-length");
	if (cl && weft_str_to_u64(cl->value, 1ULL << 53, &v) == 0)
		return (int64_t)v;
	return -1;
}

static int s_send_head(weft_hstream_t *st, const weft_http_head_t *hd, bool end)
{
	h1s_t *s = (h1s_t *)st;
	h1c_t *h = (h1c_t *)st->hc;
	weft_buf_t *b = &h->hc.conn.out;    /* the head is built in place */
	size_t start = weft_buf_len(b);     /* (compaction keeps lengths) */
	int64_t len = head_length(hd);
	bool nobody;
	int rc = 0, fr;

	if (h->dead || h->cur != s)
		return WEFT_ECLOSED;
	if (s->head_sent)
		return WEFT_EPROTO;
	if (h->hc.server) {
		if (hd->status < 100 || hd->status > 999 || (hd->status < 200 && hd->status != 101))
			return WEFT_EPROTO;
		nobody = hd->status == 101 || hd->status == 204 || hd->status == 304 || h->head_method;
		if (hd->status == 101 || !h->keep_alive)
			h->keep_alive = false;
		rc |= put(b, "HTTP/1.1 ") | put_u64(b, (uint64_t)hd->status) | put(b, " ") |
		      put(b, weft_h1_reason(hd->status)) | put(b, "\r\n");
		if ((fr = put_fields(b, hd->hdrs, hd->nhdrs)) == -1)
			goto bad;
		rc |= fr;
		if (hd->status == 204 || (hd->status == 304 && len < 0)) {
			h->wframe = W_NONE;
		} else if (len >= 0) {
			rc |= put(b, "content-length: ") | put_u64(b, (uint64_t)len) | put(b, "\r\n");
			h->wframe = nobody ? W_NONE : W_LEN;
			h->wleft = (uint64_t)len;
		} else if (nobody) {
			h->wframe = W_NONE;
		} else if (end) {
			rc |= put(b, "content-length: 0\r\n");
			h->wframe = W_LEN;
			h->wleft = 0;
		} else if (h->req_minor == 1) {
			rc |= put(b, "transfer-encoding: chunked\r\n");
			h->wframe = W_CHUNKED;
		} else {
			h->wframe = W_CLOSE;
			h->keep_alive = false;
		}
		if (hd->status == 101)
			rc |= put(b, "connection: upgrade\r\nupgrade: ") | put_str(b, hd->upgrade_proto) |
			      put(b, "\r\n");
		else if (!h->keep_alive)
			rc |= put(b, "connection: close\r\n");
		else if (h->req_minor == 0)
			rc |= put(b, "connection: keep-alive\r\n");
	} else {
		weft_str_t path = hd->path.len ? hd->path : WEFT_STR_LIT("/");
		if (!hd->method.len || !valid_field(WEFT_STR_LIT("x"), hd->method) ||
		    !valid_field(WEFT_STR_LIT("x"), path) || memchr(hd->method.p, ' ', hd->method.len) ||
		    memchr(path.p, ' ', path.len))
			return WEFT_EPROTO;
		h->head_method = weft_str_eq_c(hd->method, "HEAD");
		rc |= put_str(b, hd->method) | put(b, " ") | put_str(b, path) | put(b, " HTTP/1.1\r\n");
		if (hd->authority.len)
			rc |= put(b, "host: ") | put_str(b, hd->authority) | put(b, "\r\n");
		else if (weft_http_hdr(hd, "host"))
			rc |= put(b, "host: ") | put_str(b, weft_http_hdr(hd, "host")->value) | put(b, "\r\n");
		else
			rc |= put(b, "host: localhost\r\n");
		if ((fr = put_fields(b, hd->hdrs, hd->nhdrs)) == -1)
			goto bad;
		rc |= fr;
		if (len >= 0) {
			rc |= put(b, "content-length: ") | put_u64(b, (uint64_t)len) | put(b, "\r\n");
			h->wframe = W_LEN;
			h->wleft = (uint64_t)len;
		} else if (end) {
			if (weft_str_eq_c(hd->method, "POST") || weft_str_eq_c(hd->method, "PUT") ||
			    weft_str_eq_c(hd->method, "PATCH"))
				rc |= put(b, "content-length: 0\r\n");
			h->wframe = W_LEN;
			h->wleft = 0;
		} else {
			rc |= put(b, "transfer-encoding: chunked\r\n");
			h->wframe = W_CHUNKED;
		}
		if (hd->upgrade && hd->upgrade_proto.len)
			rc |= put(b, "connection: upgrade\r\nupgrade: ") | put_str(b, hd->upgrade_proto) |
			      put(b, "\r\n");
	}
	rc |= put(b, "\r\n");
	s->head_sent = true;
	if (rc) {
		b->wr = b->rd + start;   /* over the output limit: as a failed queue() */
		kill_conn(h, WEFT_HS_CONN_CLOSED);
		return WEFT_ECLOSED;
	}
	/* a body-less response that the owner did not end stays open for
	 * send_data (discarded) until it ends it */
	if (end || (h->wframe == W_LEN && h->wleft == 0)) {
		s->out_done = true;
		if (h->wframe == W_CHUNKED)
			queue(h, "0\r\n\r\n", 5);
		if (h->hc.server && hd->status == 101)
			h->keep_alive = false;
		maybe_finish(h, s);
		flush(h);
	} else {
		flush_later(h);   /* the body usually follows at once */
	}
	return h->dead ? WEFT_ECLOSED : WEFT_OK;
bad:
	b->wr = b->rd + start;   /* nothing of this head leaves */
	return WEFT_EPROTO;
}

static ssize_t s_send_data(weft_hstream_t *st, const void *p, size_t n, bool end)
{
	h1s_t *s = (h1s_t *)st;
	h1c_t *h = (h1c_t *)st->hc;
	char hx[24];

	if (s->out_done && n == 0 && !h->dead)
		return 0;   /* an empty end after the message already ended */
	if (h->dead || h->cur != s || !s->head_sent || s->out_done)
		return WEFT_ECLOSED;
	if (weft_buf_len(&h->hc.conn.out) > h->lim.stream_out_max) {
		s->want_writable = true;
		return WEFT_EAGAIN;
	}
	switch (h->wframe) {
	case W_NONE:
		break;   /* a HEAD / 204 / 304 response: the body is not sent */
	case W_LEN:
		if (n > h->wleft || (end && n != h->wleft)) {
			weft_warn(h->hc.name, "body does not match its content-length: closing");
			kill_conn(h, WEFT_HS_PROTO);
			return WEFT_ECLOSED;
		}
		h->wleft -= n;
		if (n && queue(h, p, n) < 0)
			return WEFT_ECLOSED;
		break;
	case W_CHUNKED:
		if (n) {
			int k = snprintf(hx, sizeof(hx), "%zx\r\n", n);
			if (queue(h, hx, (size_t)k) < 0 || queue(h, p, n) < 0 || queue(h, "\r\n", 2) < 0)
				return WEFT_ECLOSED;
		}
		if (end && queue(h, "0\r\n\r\n", 5) < 0)
			return WEFT_ECLOSED;
		break;
	case W_CLOSE:
		if (n && queue(h, p, n) < 0)
			return WEFT_ECLOSED;
		if (end)
			h->keep_alive = false;
		break;
	}
	st->bytes_out += n;
	if (end || (h->wframe == W_LEN && h->wleft == 0)) {
		s->out_done = true;
		maybe_finish(h, s);
	}
	flush(h);
	return h->dead && !s->out_done ? WEFT_ECLOSED : (ssize_t)n;
}

static int s_send_trailers(weft_hstream_t *st, const weft_hdr_t *t, size_t n)
{
	h1s_t *s = (h1s_t *)st;
	h1c_t *h = (h1c_t *)st->hc;
	weft_buf_t b;
	int rc;

	if (h->dead || h->cur != s || !s->head_sent || s->out_done)
		return WEFT_ECLOSED;
	if (h->wframe != W_CHUNKED) {
		ssize_t r = s_send_data(st, NULL, 0, true);   /* not chunked: trailers dropped */
		return r < 0 ? (int)r : WEFT_OK;
	}
	weft_buf_init(&b, 0);
	weft_buf_append(&b, "0\r\n", 3);
	if (put_fields(&b, t, n) < 0) {
		weft_buf_free(&b);
		return WEFT_EPROTO;
	}
	weft_buf_append(&b, "\r\n", 2);
	rc = queue(h, weft_buf_head(&b), weft_buf_len(&b));
	weft_buf_free(&b);
	if (rc < 0)
		return WEFT_ECLOSED;
	s->out_done = true;
	maybe_finish(h, s);
	flush(h);
	return WEFT_OK;
}

static void s_consumed(weft_hstream_t *st, size_t n)
{
	h1c_t *h = (h1c_t *)st->hc;

	if (h->cur != (h1s_t *)st)
		return;
	h->unconsumed = n > h->unconsumed ? 0 : h->unconsumed - n;
	kick(h);
}

static void s_reset(weft_hstream_t *st, weft_hs_err_t why)
{
	h1c_t *h = (h1c_t *)st->hc;

	if (h->cur == (h1s_t *)st)
		kill_conn(h, why == WEFT_HS_OK ? WEFT_HS_CANCEL : why);
}

static const weft_hstream_ops_t h1s_ops = { s_send_head, s_send_data, s_send_trailers,
					    s_consumed, s_reset };

/* ---- input ---- */

/* Copies a received field list into the arena as lowercase fields,
 * leaving out connection-specific ones and those Connection names.
 * Returns the count, or -1 when memory ran out. */
static long copy_fields(h1c_t *h, const weft_h1_hdr_t *in, size_t n, weft_hdr_t **out,
			bool trailers)
{
	weft_hdr_t *o;
	const weft_h1_hdr_t *conn = NULL;
	size_t k = 0, strs = 0;
	char *p;

	/* one allocation: the array, then every kept name and value with
	 * its NUL (zeroed memory: the NULs are already there) */
	for (size_t i = 0; i < n; i++) {
		strs += in[i].name.len + in[i].value.len + 2;
		if (weft_hdr_is(in[i].name, "connection"))
			conn = &in[i];
	}
	if (n && strs > ((size_t)-1) / 2)
		return -1;
	o = weft_arena_alloc(&h->arena, (n ? n : 1) * sizeof(*o) + strs);
	if (!o)
		return -1;
	p = (char *)(o + (n ? n : 1));
	for (size_t i = 0; i < n; i++) {
		weft_str_t nm = in[i].name;
		bool named = false;
		if (weft_hdr_is(nm, "connection") || weft_hdr_is(nm, "keep-alive") ||
		    weft_hdr_is(nm, "proxy-connection") || weft_hdr_is(nm, "transfer-encoding") ||
		    weft_hdr_is(nm, "upgrade") || weft_hdr_is(nm, "expect") ||
		    (weft_hdr_is(nm, "te") && !weft_str_ieq(in[i].value, WEFT_STR_LIT("trailers"))))
			continue;
		if (trailers && (weft_hdr_is(nm, "content-length") || weft_hdr_is(nm, "host")))
			continue;
		/* fields the Connection header names are hop-by-hop too */
		for (size_t j = 0; conn && j < conn->value.len;) {
			size_t e = j;
			while (e < conn->value.len && conn->value.p[e] != ',')
				e++;
			size_t a = j, z = e;
			while (a < z && (conn->value.p[a] == ' ' || conn->value.p[a] == '\t'))
				a++;
			while (z > a && (conn->value.p[z - 1] == ' ' || conn->value.p[z - 1] == '\t'))
				z--;
			if (weft_str_ieq(nm, weft_str(conn->value.p + a, z - a)) &&
			    !weft_hdr_is(nm, "content-length") && !weft_hdr_is(nm, "host"))
				named = true;
			j = e + 1;
		}
		if (named)
			continue;
		for (size_t c = 0; c < nm.len; c++)
			p[c] = (nm.p[c] >= 'A' && nm.p[c] <= 'Z') ? (char)(nm.p[c] + 32) : nm.p[c];
		o[k].name = weft_str(p, nm.len);
		p += nm.len + 1;
		if (in[i].value.len)
			memcpy(p, in[i].value.p, in[i].value.len);
		o[k].value = weft_str(p, in[i].value.len);
		p += in[i].value.len + 1;
		k++;
	}
	*out = o;
	return (long)k;
}

static h1s_t *new_stream(h1c_t *h)
{
	h1s_t *s = h->spare;

	if (s) {
		h->spare = NULL;
		memset(s, 0, sizeof(*s));
	} else if (!(s = calloc(1, sizeof(*s)))) {
		return NULL;
	}
	s->s.ops = &h1s_ops;
	s->s.hc = &h->hc;
	s->s.id = (uint32_t)++h->hc.nrequests;
	h->hc.nstreams++;
	return s;
}

/* Server: parses the next request head. Returns true when it made
 * progress (a request began). */
static bool srv_head(h1c_t *h)
{
	weft_h1_req_t reqbuf, *req = &reqbuf;
	weft_http_head_t hd;
	const weft_h1_hdr_t *f;
	h1s_t *s;
	int st = 0, rc;
	long nh;
	bool end;

	/* nothing buffered (the usual keep-alive turn after a request):
	 * the parser could only say EAGAIN */
	rc = weft_buf_len(&h->in) == 0 ? WEFT_EAGAIN
		: weft_h1_parse_request((const char *)weft_buf_head(&h->in), weft_buf_len(&h->in),
					&h->plim, req, &st);
	if (rc == WEFT_EAGAIN) {
		if (h->peer_eof) {
			kill_conn(h, WEFT_HS_OK);
		} else if (weft_buf_len(&h->in)) {
			set_timer(h, T_HEAD);
		} else {
			set_timer(h, T_IDLE);
		}
		return false;
	}
	if (rc < 0) {
		answer_error(h, st ? st : 400);
		return false;
	}
	set_timer(h, T_NONE);
	memset(&hd, 0, sizeof(hd));
	hd.ver = req->minor ? WEFT_HTTP_11 : WEFT_HTTP_10;
	hd.method = weft_arena_strdup(&h->arena, req->method);
	hd.scheme = WEFT_STR_LIT("http");
	hd.authority = weft_arena_strdup(&h->arena, req->host);
	hd.path = weft_arena_strdup(&h->arena, req->target);
	hd.content_length = req->has_length ? (int64_t)req->content_length : -1;
	nh = copy_fields(h, req->hdrs, req->nhdrs, &hd.hdrs, false);
	f = weft_h1_header(req, "upgrade");
	if (req->minor == 1 && f && (f = weft_h1_header(req, "connection")) != NULL) {
		weft_str_t v = f->value;
		for (size_t i = 0; i + 7 <= v.len; i++)
			if (weft_str_ieq(weft_str(v.p + i, 7), WEFT_STR_LIT("upgrade")))
				hd.upgrade = true;
		if (hd.upgrade)
			hd.upgrade_proto = weft_arena_strdup(&h->arena, weft_h1_header(req, "upgrade")->value);
	}
	f = weft_h1_header(req, "expect");
	h->expect_100 = f && weft_str_ieq(f->value, WEFT_STR_LIT("100-continue")) && req->minor == 1;
	if (f && !h->expect_100 && req->minor == 1) {
		answer_error(h, 417);
		return false;
	}
	if (nh < 0 || !hd.method.p || !hd.path.p || !(s = new_stream(h))) {
		kill_conn(h, WEFT_HS_CONN_CLOSED);
		return false;
	}
	hd.nhdrs = (size_t)nh;
	h->keep_alive = req->keep_alive;
	h->req_minor = req->minor;
	h->head_method = weft_str_eq_c(req->method, "HEAD");
	h->upgrade_pending = hd.upgrade;
	if (req->chunked) {
		h->rstate = R_CHUNKED;
		weft_h1_chunked_init(&h->ck);
	} else if (req->has_length && req->content_length) {
		h->rstate = R_LEN;
		h->left = req->content_length;
	} else {
		h->rstate = R_DONE;
	}
	end = h->rstate == R_DONE;
	weft_buf_consume(&h->in, (size_t)rc);
	h->cur = s;
	s->in_done = end;
	if (h->hc.cbs && h->hc.cbs->on_stream)
		h->hc.cbs->on_stream(&h->hc, &s->s);
	if (!s->s.cbs) {
		kill_conn(h, WEFT_HS_REFUSED);
		return false;
	}
	if (s->s.cbs->on_head)
		s->s.cbs->on_head(&s->s, &hd, end);
	/* 100-continue: answered as soon as the owner has the head (a proxy
	 * always wants the body) */
	if (!end && h->expect_100 && !h->dead && !s->head_sent) {
		queue(h, "HTTP/1.1 100 Continue\r\n\r\n", 25);
		h->sent_100 = true;
		flush(h);
	}
	if (end)
		maybe_finish(h, s);
	return !h->dead;
}

/* Client: parses the response head. Returns true on progress. */
static bool cli_head(h1c_t *h)
{
	weft_h1_resp_t rbuf, *r = &rbuf;
	weft_http_head_t hd;
	h1s_t *s = h->cur;
	int rc;
	long nh;
	bool end;

	if (!s || !weft_buf_len(&h->in))
		return false;
	rc = weft_h1_parse_response_head((const char *)weft_buf_head(&h->in), weft_buf_len(&h->in),
					 &h->plim, h->head_method, r);
	if (rc == WEFT_EAGAIN) {
		if (h->peer_eof)
			kill_conn(h, WEFT_HS_PROTO);
		return false;
	}
	if (rc < 0) {
		weft_debug(h->hc.name, "malformed response head");
		kill_conn(h, WEFT_HS_PROTO);
		return false;
	}
	if (r->status < 200 && r->status != 101) {
		/* interim: not passed on */
		weft_buf_consume(&h->in, (size_t)rc);
		return true;
	}
	memset(&hd, 0, sizeof(hd));
	hd.ver = r->minor ? WEFT_HTTP_11 : WEFT_HTTP_10;
	hd.status = r->status;
	hd.content_length = r->has_length ? (int64_t)r->content_length : -1;
	hd.upgrade = r->upgrade;
	nh = copy_fields(h, r->hdrs, r->nhdrs, &hd.hdrs, false);
	if (nh < 0) {
		kill_conn(h, WEFT_HS_CONN_CLOSED);
		return false;
	}
	hd.nhdrs = (size_t)nh;
	if (r->upgrade) {
		const weft_h1_hdr_t *u = NULL;
		for (size_t i = 0; i < r->nhdrs; i++)
			if (weft_str_ieq(r->hdrs[i].name, WEFT_STR_LIT("upgrade")))
				u = &r->hdrs[i];
		if (u)
			hd.upgrade_proto = weft_arena_strdup(&h->arena, u->value);
	}
	h->keep_alive = h->keep_alive && r->keep_alive;
	switch (r->body) {
	case WEFT_H1_BODY_LENGTH:
		h->rstate = R_LEN;
		h->left = r->content_length;
		break;
	case WEFT_H1_BODY_CHUNKED:
		h->rstate = R_CHUNKED;
		weft_h1_chunked_init(&h->ck);
		break;
	case WEFT_H1_BODY_CLOSE:
		h->rstate = R_CLOSE;
		break;
	default:
		h->rstate = R_DONE;
	}
	weft_buf_consume(&h->in, (size_t)rc);
	end = h->rstate == R_DONE;
	s->in_done = end;
	if (end && !s->out_done) {
		/* answered before the request body finished: this connection
		 * cannot carry another request */
		h->keep_alive = false;
		s->out_done = true;
	}
	if (s->s.cbs && s->s.cbs->on_head)
		s->s.cbs->on_head(&s->s, &hd, end);
	if (end)
		maybe_finish(h, s);
	return !h->dead;
}

/* Delivers the body (either role). Returns true on progress. */
static bool body_step(h1c_t *h)
{
	h1s_t *s = h->cur;
	size_t room = h->lim.stream_window > h->unconsumed ? h->lim.stream_window - h->unconsumed : 0;
	size_t avail = weft_buf_len(&h->in);
	const char *p = (const char *)weft_buf_head(&h->in);
	bool ended = false;

	if (!s || room == 0)
		return false;
	if (h->rstate == R_LEN || h->rstate == R_CLOSE) {
		size_t k = avail < room ? avail : room;
		if (h->rstate == R_LEN && k > h->left)
			k = (size_t)h->left;
		if (k == 0) {
			if (h->rstate == R_CLOSE && h->peer_eof)
				ended = true;
			else if (h->peer_eof)
				kill_conn(h, h->hc.server ? WEFT_HS_CONN_CLOSED : WEFT_HS_PROTO);
			if (!ended)
				return false;
		} else {
			h->unconsumed += k;
			s->s.bytes_in += k;
			if (h->rstate == R_LEN)
				h->left -= k;
			ended = h->rstate == R_LEN && h->left == 0;
			if (s->s.cbs && s->s.cbs->on_data)
				s->s.cbs->on_data(&s->s, (const uint8_t *)p, k);
			weft_buf_consume(&h->in, k);
		}
	} else {
		weft_h1_hdr_t tr[32];
		weft_h1_chunk_out_t out = { .trailers = tr, .max_trailers = 32 };
		size_t used;
		int rc = weft_h1_chunked_step(&h->ck, p, avail, room, h->lim.max_head, &used, &out);
		if (rc == WEFT_EPROTO) {
			kill_conn(h, WEFT_HS_PROTO);
			if (h->hc.server && !s->head_sent)
				answer_error(h, 400);   /* queued; reap writes it before closing */
			return false;
		}
		if (rc == WEFT_H1_CK_DATA) {
			h->unconsumed += out.data.len;
			s->s.bytes_in += out.data.len;
			if (s->s.cbs && s->s.cbs->on_data)
				s->s.cbs->on_data(&s->s, (const uint8_t *)out.data.p, out.data.len);
		} else if (rc == WEFT_H1_CK_END) {
			if (out.ntrailers && s->s.cbs && s->s.cbs->on_trailers) {
				weft_hdr_t *t;
				long nt = copy_fields(h, tr, out.ntrailers, &t, true);
				if (nt > 0)
					s->s.cbs->on_trailers(&s->s, t, (size_t)nt);
			}
			ended = true;
		}
		weft_buf_consume(&h->in, used);
		if (rc == WEFT_H1_CK_MORE) {
			if (h->peer_eof)
				kill_conn(h, h->hc.server ? WEFT_HS_CONN_CLOSED : WEFT_HS_PROTO);
			return used > 0 && !h->dead;
		}
	}
	if (ended && !h->dead) {
		h->rstate = R_DONE;
		s->in_done = true;
		if (!h->hc.server && !s->out_done) {
			h->keep_alive = false;
			s->out_done = true;
		}
		if (s->s.cbs && s->s.cbs->on_end)
			s->s.cbs->on_end(&s->s);
		maybe_finish(h, s);
	}
	return !h->dead;
}

/* Reads what the transport has into h->in (bounded). */
/* Reads what the socket has into h->in. An empty h->in is read through a
 * stack buffer and then holds only what arrived (a small message costs a
 * small buffer, not H1_READ_CHUNK per connection: hundreds of pooled or
 * idle keep-alive connections stay cheap); one larger than H1_KEEP_CAP is
 * given back once drained. */
static void read_input(h1c_t *h)
{
	size_t cap = h->lim.max_head + H1_READ_CHUNK;

	while (!h->dead && !h->peer_eof && weft_buf_len(&h->in) < cap) {
		uint8_t tmp[H1_READ_CHUNK];
		bool direct = weft_buf_len(&h->in) != 0;
		ssize_t n;

		if (direct && weft_buf_reserve(&h->in, H1_READ_CHUNK) < 0) {
			kill_conn(h, WEFT_HS_CONN_CLOSED);
			return;
		}
		n = weft_conn_recv(&h->hc.conn, direct ? h->in.data + h->in.wr : tmp, H1_READ_CHUNK);
		if (n == WEFT_EAGAIN)
			return;
		if (n == 0) {
			h->peer_eof = true;
			return;
		}
		if (n < 0) {
			kill_conn(h, WEFT_HS_CONN_CLOSED);
			return;
		}
		if (direct) {
			h->in.wr += (size_t)n;
		} else {
			if (h->in.cap > H1_KEEP_CAP)
				weft_buf_free(&h->in);
			weft_buf_reset(&h->in);
			if (weft_buf_append(&h->in, tmp, (size_t)n) < 0) {
				kill_conn(h, WEFT_HS_CONN_CLOSED);
				return;
			}
		}
		if (!h->hc.server && h->cur)
			h->got_resp_bytes = true;
		if ((size_t)n < H1_READ_CHUNK && !weft_conn_pending(&h->hc.conn))
			return;
	}
}

static void process(h1c_t *h)
{
	if (h->dead || h->in_process)
		return;
	h->in_process = true;
	for (int guard = 0; guard < 1024 && !h->dead; guard++) {
		bool progress = false;
		if (h->done) {
			notify_done(h);
			progress = true;
		} else if (h->rstate == R_HEAD) {
			if (h->hc.server && !h->close_after_flush)
				progress = srv_head(h);
			else if (!h->hc.server)
				progress = cli_head(h);
		} else if (h->rstate != R_DONE) {
			progress = body_step(h);
		}
		if (!progress)
			break;
	}
	if (!h->dead) {
		/* EOF handling where no step above noticed it */
		if (h->peer_eof && !h->cur && !h->done && weft_buf_len(&h->in) == 0 && !h->close_after_flush)
			kill_conn(h, WEFT_HS_OK);
		else if (h->peer_eof && !h->hc.server && h->cur && h->rstate == R_HEAD)
			kill_conn(h, h->got_resp_bytes ? WEFT_HS_PROTO : WEFT_HS_CONN_CLOSED);
		else if (h->peer_eof && h->hc.server && h->cur && !h->cur->in_done)
			kill_conn(h, WEFT_HS_CONN_CLOSED);
	}
	if (!h->dead) {
		bool want = !h->peer_eof && !h->close_after_flush &&
			    weft_buf_len(&h->in) < h->lim.max_head + H1_READ_CHUNK;
		if (h->hc.server && h->cur && h->unconsumed >= h->lim.stream_window)
			want = false;
		if (!h->hc.server && !h->connected)
			want = false;
		weft_conn_want_read(&h->hc.conn, want);
	}
	h->in_process = false;
}

/* ---- mux ---- */

static bool check_connected(h1c_t *h, uint32_t ev)
{
	int err = 0;
	socklen_t el = sizeof(err);

	if (h->connected)
		return true;
	if (h->hc.conn.fd >= 0) {
		if (!(ev & (WEFT_IO_WRITE | WEFT_IO_ERROR | WEFT_IO_READ)))
			return false;
		if (getsockopt(h->hc.conn.fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0 || err) {
			kill_conn(h, WEFT_HS_CONNECT_FAILED);
			return false;
		}
	}
	h->connected = true;
	weft_conn_want_read(&h->hc.conn, true);
	if (h->hc.cbs && h->hc.cbs->on_ready)
		h->hc.cbs->on_ready(&h->hc);
	return !h->dead;
}

static int h1_on_io(weft_conn_t *c, uint32_t ev)
{
	h1c_t *h = c->mux_ctx;

	if (h->dead)
		return WEFT_OK;   /* reap closes it */
	if (!h->hc.server && !check_connected(h, ev))
		return WEFT_OK;
	if (ev & (WEFT_IO_READ | WEFT_IO_ERROR))
		read_input(h);
	process(h);
	if (!h->dead && flush(h) != WEFT_EFAIL && !h->dead && h->cur && h->cur->want_writable &&
	    weft_buf_len(&c->out) <= h->lim.stream_out_max) {
		h1s_t *s = h->cur;
		s->want_writable = false;
		if (s->s.cbs && s->s.cbs->on_writable)
			s->s.cbs->on_writable(&s->s);
	}
	return WEFT_OK;
}

static void h1_shutdown(weft_conn_t *c)
{
	h1c_t *h = c->mux_ctx;

	h->hc.closing = true;
	if (!h->cur && !h->done)
		kill_conn(h, WEFT_HS_OK);
	else
		h->keep_alive = false;
}

static void h1_destroy(weft_conn_t *c)
{
	h1c_t *h = c->mux_ctx;

	weft_timer_stop(c->loop, &h->timer);
	weft_timer_stop(c->loop, &h->kick);
	weft_timer_stop(c->loop, &h->reap);
	weft_timer_stop(c->loop, &h->wflush);
	h->dead = true;
	if (!h->taken) {
		weft_hs_err_t err = h->close_err;
		if (h->done)
			free_stream(h, h->done, WEFT_HS_OK);
		if (h->cur)
			free_stream(h, h->cur, err == WEFT_HS_OK ? WEFT_HS_CONN_CLOSED : err);
		if (h->hc.cbs && h->hc.cbs->on_close)
			h->hc.cbs->on_close(&h->hc);
	} else {
		free(h->cur);
		free(h->done);
	}
	free(h->spare);
	weft_buf_free(&h->in);
	weft_arena_destroy(&h->arena);
	free(h);
}

static const weft_mux_ops_t h1_mux = { "h1", h1_on_io, h1_shutdown, h1_destroy };

static void kick_cb(weft_loop_t *l, weft_timer_t *t)
{
	h1c_t *h = t->data;

	h1_on_io(&h->hc.conn, 0);
}

static void reap_cb(weft_loop_t *l, weft_timer_t *t)
{
	h1c_t *h = t->data;

	/* unread input at close would turn our last bytes into a RST */
	if (h->hc.conn.fd >= 0 && !h->taken) {
		char sink[4096];
		weft_conn_flush(&h->hc.conn);
		shutdown(h->hc.conn.fd, SHUT_WR);
		for (int i = 0; i < 16 && recv(h->hc.conn.fd, sink, sizeof(sink), MSG_DONTWAIT) > 0; i++)
			;
	}
	weft_conn_close(&h->hc.conn);   /* ends in h1_destroy */
}

static void timer_cb(weft_loop_t *l, weft_timer_t *t)
{
	h1c_t *h = t->data;
	int mode = h->tmode;

	if (!h->tdeadline)
		return;   /* the deadline it was armed for went away */
	if (l->now_ms < h->tdeadline) {
		weft_timer_start(l, t, h->tdeadline - l->now_ms);   /* moved out since */
		return;
	}
	h->tmode = T_NONE;
	h->tdeadline = 0;
	if (h->dead)
		return;
	if (mode == T_HEAD && h->hc.server && !h->cur) {
		weft_debug(h->hc.name, "request head not complete within %u ms", h->lim.head_timeout_ms);
		answer_error(h, 408);
		h->close_err = WEFT_HS_TIMEOUT;
	} else if (mode == T_IDLE && !h->cur && !h->done) {
		kill_conn(h, WEFT_HS_TIMEOUT);
	}
}

/* ---- hconn ops ---- */

static weft_hstream_t *h1_open(weft_hconn_t *hc, const weft_hstream_cbs_t *cbs, void *ud)
{
	h1c_t *h = (h1c_t *)hc;
	h1s_t *s;

	if (hc->server || h->dead || hc->closing || h->cur || h->done || h->close_after_flush ||
	    h->rstate != R_HEAD)
		return NULL;
	s = new_stream(h);
	if (!s)
		return NULL;
	s->s.cbs = cbs;
	s->s.ud = ud;
	h->cur = s;
	h->keep_alive = true;
	h->got_resp_bytes = false;
	set_timer(h, T_NONE);
	return &s->s;
}

static bool h1_can_open(const weft_hconn_t *hc)
{
	const h1c_t *h = (const h1c_t *)hc;

	return !hc->server && !h->dead && !hc->closing && !h->cur && !h->done &&
	       !h->close_after_flush && h->rstate == R_HEAD;
}

static void h1_goaway(weft_hconn_t *hc)
{
	h1_shutdown(&hc->conn);
}

static void h1_close(weft_hconn_t *hc)
{
	h1c_t *h = (h1c_t *)hc;

	if (!h->close_err)
		h->close_err = WEFT_HS_CANCEL;
	weft_conn_close(&hc->conn);
}

static const weft_hconn_ops_t h1_ops = { "h1", h1_open, h1_can_open, h1_goaway, h1_close };

static weft_hconn_t *h1_new(weft_loop_t *loop, int fd, const weft_xprt_ops_t *x, void *xctx,
			    const weft_http_limits_t *lim, const weft_hconn_cbs_t *cbs, void *ud,
			    const char *name, bool server)
{
	h1c_t *h = calloc(1, sizeof(*h));

	if (!h) {
		weft_conn_t tmp = { .fd = fd, .xprt_ctx = xctx };
		x->close(&tmp);
		return NULL;
	}
	if (lim)
		h->lim = *lim;
	else
		weft_http_limits_default(&h->lim);
	h->plim.max_line = h->lim.max_line;
	h->plim.max_head = h->lim.max_head;
	h->plim.max_headers = h->lim.max_headers;
	h->hc.ops = &h1_ops;
	h->hc.server = server;
	h->hc.ver = WEFT_HTTP_11;
	h->hc.cbs = cbs;
	h->hc.ud = ud;
	snprintf(h->hc.name, sizeof(h->hc.name), "%s", name ? name : "h1");
	snprintf(h->hc.conn.name, sizeof(h->hc.conn.name), "%.63s", h->hc.name);
	weft_buf_init(&h->in, 0);
	weft_arena_init(&h->arena, 4096);
	weft_timer_init(&h->timer, timer_cb, h);
	weft_timer_init(&h->kick, kick_cb, h);
	weft_timer_init(&h->reap, reap_cb, h);
	weft_timer_init(&h->wflush, wflush_cb, h);
	h->rstate = R_HEAD;
	if (weft_conn_init(&h->hc.conn, loop, fd, x, xctx, h->lim.conn_out_max + h->lim.stream_out_max +
			   h->lim.max_head) < 0) {
		x->close(&h->hc.conn);
		weft_buf_free(&h->hc.conn.out);
		weft_arena_destroy(&h->arena);
		free(h);
		return NULL;
	}
	h->hc.conn.mux = &h1_mux;
	h->hc.conn.mux_ctx = h;
	if (server) {
		set_timer(h, T_IDLE);
	} else if (fd >= 0) {
		weft_io_modify(loop, &h->hc.conn.io, WEFT_IO_WRITE);   /* connect completion */
	} else {
		weft_timer_start(loop, &h->kick, 0);   /* no socket: up at once */
	}
	return &h->hc;
}

weft_hconn_t *weft_h1_server_new(weft_loop_t *loop, int fd, const weft_xprt_ops_t *x, void *xctx,
				 const weft_http_limits_t *lim, const weft_hconn_cbs_t *cbs,
				 void *ud, const char *name)
{
	return h1_new(loop, fd, x, xctx, lim, cbs, ud, name, true);
}

weft_hconn_t *weft_h1_client_new(weft_loop_t *loop, int fd, const weft_xprt_ops_t *x, void *xctx,
				 const weft_http_limits_t *lim, const weft_hconn_cbs_t *cbs,
				 void *ud, const char *name)
{
	return h1_new(loop, fd, x, xctx, lim, cbs, ud, name, false);
}

int weft_h1_take_fd(weft_hconn_t *hc, uint8_t **rest, size_t *nrest)
{
	h1c_t *h = (h1c_t *)hc;
	int fd;

	*rest = NULL;
	*nrest = 0;
	if (!hc || hc->ops != &h1_ops || !hc->server || !h->cur || !h->upgrade_pending ||
	    hc->conn.fd < 0)
		return -1;
	if (weft_buf_len(&h->in)) {
		*rest = malloc(weft_buf_len(&h->in));
		if (!*rest)
			return -1;
		memcpy(*rest, weft_buf_head(&h->in), weft_buf_len(&h->in));
		*nrest = weft_buf_len(&h->in);
	}
	fd = hc->conn.fd;
	if (hc->conn.io.active)
		weft_io_stop(hc->conn.loop, &hc->conn.io);
	hc->conn.fd = -1;   /* the transport's close leaves the socket alone */
	h->taken = true;
	weft_conn_close(&hc->conn);   /* ends in h1_destroy, without callbacks */
	return fd;
}
