/* weft — the HTTP/2 codec (weft/http.h): weft_hconn_t / weft_hstream_t
 * over one nghttp2 session, server or client role.
 *
 * Receive side: NGHTTP2_OPT_NO_AUTO_WINDOW_UPDATE, so DATA handed to a
 * stream's owner (on_data) only reopens the peer's window when the owner
 * calls ops->consumed(); bytes nobody will consume (unowned, reset or
 * closed streams) are consumed at once so the connection window never
 * leaks. Heads are collected per HEADERS block (bounded by lim.max_head
 * decoded bytes and lim.max_headers fields) and handed over as
 * protocol-neutral heads; later HEADERS blocks are trailers.
 *
 * Send side: each stream has a send buffer bounded by lim.stream_out_max
 * and pulled by a deferred data provider; trailers are submitted from the
 * provider once the buffer drained (NO_END_STREAM on the last DATA).
 *
 * Events: on_head/on_data/on_trailers/on_end are delivered from inside
 * nghttp2's receive callbacks (the owner may call the stream ops there:
 * they only submit and flag); on_writable and on_close are delivered
 * after each pump (deliver()), never inside an ops call, and the stream is
 * freed right after its on_close. Nothing is freed inside an nghttp2
 * callback: a dying connection is reaped by a 0 ms timer (h2io.h).
 *
 * Abuse bounds (both roles): RST_STREAMs from the peer per second, PING/
 * SETTINGS/PRIORITY/empty DATA per second, CONTINUATION frames and header
 * bytes per head, decoded header list size; exceeding one sends GOAWAY
 * ENHANCE_YOUR_CALM and closes the connection. Pending output beyond
 * lim.conn_out_max pauses reading, and nghttp2 bounds its queued ACKs. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <nghttp2/nghttp2.h>
#include "h2io.h"
#include "weft/buf.h"
#include "weft/http.h"
#include "weft/log.h"
#include "weft/loop.h"
#include "weft/net.h"
#include "weft/str.h"

/* newer nghttp2 bounds (backported by some distributions): used when the
 * library has them, our own counters apply either way */
#pragma weak nghttp2_option_set_stream_reset_rate_limit
#pragma weak nghttp2_option_set_max_continuations

#define H2_READS_PER_IO 16
#define H2_TABLE_SIZE   4096

/* stream flags */
#define SF_OWNED      0x0001u  /* given to an owner: callbacks go to it */
#define SF_HEAD_SENT  0x0002u
#define SF_LOCAL_END  0x0004u  /* our message is complete (queued) */
#define SF_TRAILERS   0x0008u  /* our trailers wait for the buffer to drain */
#define SF_WANT_WR    0x0010u  /* send_data returned EAGAIN: owe on_writable */
#define SF_HEAD_TOLD  0x0020u  /* the peer's final head was delivered */
#define SF_REMOTE_END 0x0040u
#define SF_CLOSED     0x0080u  /* finished: on_close owed (deliver) */
#define SF_RST_OURS   0x0100u  /* the owner reset it */
#define SF_BIG        0x0200u  /* the current head passed max_head / max_headers */
#define SF_PROTO      0x0400u  /* malformed message (ours or nghttp2's verdict) */
#define SF_PEER_RST   0x0800u
#define SF_RST_AFTER  0x1000u  /* server: RST_STREAM(NO_ERROR) once our error response left */
#define SF_SENT_END   0x2000u  /* END_STREAM left */

typedef struct hv {
	uint32_t no, nl, vo, vl;   /* offsets into the stream's hb */
} hv_t;

struct h2conn;

typedef struct h2s {
	weft_hstream_t s;          /* s.priv == this */
	struct h2conn *c;
	struct h2s *prev, *next;
	uint32_t f;
	bool deferred;             /* the data provider is paused */
	weft_buf_t out;            /* body bytes waiting for the window */
	weft_buf_t hb;             /* the current head's names and values */
	hv_t *hv;                  /* hv0, or malloc'd once a head has more fields */
	size_t nhv, hvcap;
	size_t hdr_bytes;          /* decoded bytes of the current head */
	int status;                /* client: :status of the current head */
	size_t unconsumed;
	nghttp2_nv *trl;           /* our trailers (one block with their strings) */
	size_t ntrl;
	weft_hs_err_t err;         /* with SF_CLOSED */
	weft_hs_err_t why;         /* the owner's reset reason */
	hv_t hv0[16];              /* last: st_new clears what comes before */
} h2s_t;

typedef struct h2conn {
	weft_hconn_t hc;           /* hc.conn.mux_ctx == this */
	nghttp2_session *sess;
	weft_http_limits_t lim;
	h2s_t *streams;
	h2s_t *spare;              /* a finished stream kept for the next one (st_new) */
	bool ready;                /* the peer's SETTINGS arrived */
	bool dead, in_recv, calm, reading;
	bool in_write;             /* pump's write: a stream closing there is delivered right after */
	weft_timer_t timer;        /* preface deadline, then idle (armed lazily: timer_cb) */
	uint64_t idle_since;       /* when the last stream finished (or SETTINGS came) */
	weft_timer_t kick, reap;
	bool kick_read;            /* the next kick must read (input may wait unannounced) */
	uint64_t win_s;            /* the second the counters below cover */
	uint32_t resets, controls;
	uint32_t head_cont;        /* CONTINUATION frames of the current head */
	size_t head_wire;          /* header block bytes of the current head */
} h2conn_t;

static void kick(h2conn_t *h);
static const weft_hstream_ops_t h2_stream_ops;

/* ---- abuse ---- */

/* GOAWAY ENHANCE_YOUR_CALM, then close once it was written (pump). */
static void calm(h2conn_t *h, const char *why)
{
	if (h->calm || h->dead)
		return;
	h->calm = true;
	weft_info(h->hc.name, "%s: GOAWAY ENHANCE_YOUR_CALM", why);
	nghttp2_session_terminate_session(h->sess, NGHTTP2_ENHANCE_YOUR_CALM);
}

/* Counts one event in the current second; true when over max. */
static bool count(h2conn_t *h, uint32_t *ctr, uint32_t max)
{
	uint64_t s = h->hc.conn.loop->now_ms / 1000;

	if (s != h->win_s) {
		h->win_s = s;
		h->resets = h->controls = 0;
	}
	return ++*ctr > max && max;
}

/* ---- streams ---- */

/* A cached stream keeps buffers up to this size (larger ones are freed). */
#define H2_SPARE_KEEP 4096

static h2s_t *st_new(h2conn_t *h)
{
	h2s_t *st = h->spare;

	if (st) {
		/* the previous stream's memory: everything cleared but the
		 * (emptied) buffers, so a request costs no allocation */
		weft_buf_t out = st->out, hb = st->hb;
		h->spare = NULL;
		memset(st, 0, offsetof(h2s_t, hv0));
		st->out = out;
		st->hb = hb;
	} else {
		st = malloc(sizeof(*st));
		if (!st)
			return NULL;
		memset(st, 0, offsetof(h2s_t, hv0));
		weft_buf_init(&st->out, 0);
		weft_buf_init(&st->hb, 0);
	}
	st->hv = st->hv0;
	st->hvcap = sizeof(st->hv0) / sizeof(st->hv0[0]);
	st->c = h;
	st->s.ops = &h2_stream_ops;
	st->s.hc = &h->hc;
	st->s.priv = st;
	st->next = h->streams;
	if (st->next)
		st->next->prev = st;
	h->streams = st;
	h->hc.nstreams++;
	/* before SETTINGS this ends the preface deadline; once ready, the
	 * idle timer stays armed and timer_cb ignores a busy connection */
	if (!h->dead && !h->ready)
		weft_timer_stop(h->hc.conn.loop, &h->timer);
	return st;
}

/* Frees st, or keeps it as the connection's spare (with its buffers
 * emptied, unless they grew big) when there is none and the connection
 * lives on. */
static void st_free(h2conn_t *h, h2s_t *st)
{
	if (st->hv != st->hv0)
		free(st->hv);
	free(st->trl);
	if (!h->spare && !h->dead) {
		if (st->out.cap > H2_SPARE_KEEP)
			weft_buf_free(&st->out);
		if (st->hb.cap > H2_SPARE_KEEP)
			weft_buf_free(&st->hb);
		weft_buf_reset(&st->out);
		weft_buf_reset(&st->hb);
		h->spare = st;
		return;
	}
	weft_buf_free(&st->out);
	weft_buf_free(&st->hb);
	free(st);
}

/* The connection became idle now: timer_cb closes it idle_ms from now
 * unless a stream comes first. An idle timer still armed from an earlier
 * idle spell is left as it is (timer_cb re-arms for the rest), so a busy
 * connection costs no timer work per request. */
static void idle_arm(h2conn_t *h)
{
	h->idle_since = h->hc.conn.loop->now_ms;
	if (!weft_timer_active(&h->timer))
		weft_timer_start(h->hc.conn.loop, &h->timer, h->lim.idle_ms);
}

/* Unlinks st, runs its owner's on_close and frees it. */
static void st_finish(h2conn_t *h, h2s_t *st, weft_hs_err_t err)
{
	if (st->prev)
		st->prev->next = st->next;
	else
		h->streams = st->next;
	if (st->next)
		st->next->prev = st->prev;
	h->hc.nstreams--;
	if (st->unconsumed && h->sess)
		nghttp2_session_consume_connection(h->sess, st->unconsumed);
	if (st->s.id && h->sess)
		nghttp2_session_set_stream_user_data(h->sess, (int32_t)st->s.id, NULL);
	if ((st->f & SF_OWNED) && st->s.cbs && st->s.cbs->on_close)
		st->s.cbs->on_close(&st->s, err);
	st_free(h, st);
	if (h->hc.nstreams == 0 && !h->dead) {
		if (!h->hc.server && !h->hc.closing && h->hc.cbs && h->hc.cbs->on_idle)
			h->hc.cbs->on_idle(&h->hc);
		if (h->ready && h->lim.idle_ms && !h->dead)
			idle_arm(h);
	}
}

/* Marks st finished with err (first verdict wins); deliver() reports it. */
static void st_close(h2s_t *st, weft_hs_err_t err)
{
	if (st->f & SF_CLOSED)
		return;
	st->f |= SF_CLOSED;
	st->err = err;
	if (!st->c->in_write)
		kick(st->c);   /* (pump delivers after its write) */
}

static ssize_t st_read(nghttp2_session *sess, int32_t sid, uint8_t *buf, size_t len,
		       uint32_t *flags, nghttp2_data_source *src, void *ud)
{
	h2s_t *st = src->ptr;
	ssize_t n;

	if (st->f & (SF_CLOSED | SF_RST_OURS)) {
		st->deferred = true;
		return NGHTTP2_ERR_DEFERRED;
	}
	n = weft_h2io_pull(&st->out, buf, len, (st->f & SF_LOCAL_END) != 0, flags, &st->deferred);
	if (n < 0)
		return n;
	st->s.bytes_out += (uint64_t)n;
	if ((*flags & NGHTTP2_DATA_FLAG_EOF) && (st->f & SF_TRAILERS)) {
		*flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
		st->f &= ~SF_TRAILERS;
		if (nghttp2_submit_trailer(sess, sid, st->trl, st->ntrl) != 0)
			return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	}
	return n;
}

static void st_resume(h2s_t *st)
{
	if (st->deferred && st->s.id && !(st->f & (SF_CLOSED | SF_RST_OURS))) {
		st->deferred = false;
		nghttp2_session_resume_data(st->c->sess, (int32_t)st->s.id);
	}
	kick(st->c);
}

/* Connection-specific fields never cross into or out of HTTP/2. */
static bool conn_specific(weft_str_t n, weft_str_t v)
{
	if (weft_hdr_is(n, "connection") || weft_hdr_is(n, "keep-alive") ||
	    weft_hdr_is(n, "proxy-connection") || weft_hdr_is(n, "transfer-encoding") ||
	    weft_hdr_is(n, "upgrade"))
		return true;
	return weft_hdr_is(n, "te") && !weft_str_ieq(v, WEFT_STR_LIT("trailers"));
}

/* Fields whose value is new on every request (lowercase name n): HPACK
 * must not index them. Each would take a dynamic table entry for nothing,
 * evict the entries that do repeat, and pile up under one name for every
 * later lookup of that name to compare against (both ends). */
static bool unique_value(const char *n, size_t len)
{
	return (len == 11 && !memcmp(n, "traceparent", 11)) ||
	       (len == 12 && !memcmp(n, "x-request-id", 12));
}

/* Builds an nghttp2 header list: pseudo fields from h (when head) then
 * the regular fields, names lowercased, connection-specific fields and
 * (HTTP/2) host dropped. One block holds the array and the strings: the
 * caller's small (nsmall bytes, aligned for nghttp2_nv; NULL for none)
 * when it fits, else malloc'd; the caller frees *nva when it is not
 * small. Returns the count or WEFT_ENOMEM / WEFT_EPROTO. */
static ssize_t build_nv(const weft_http_head_t *h, const weft_hdr_t *hdrs, size_t nhdrs,
			int mode, void *small, size_t nsmall, nghttp2_nv **nva)
{
	/* mode: 0 trailers, 1 request, 2 response */
	size_t need = (nhdrs + 5) * sizeof(nghttp2_nv) + 8, n = 0;
	weft_str_t authority = { "", 0 };
	char *p;
	nghttp2_nv *nv;

	for (size_t i = 0; i < nhdrs; i++)
		need += hdrs[i].name.len + hdrs[i].value.len;
	if (h)
		need += h->method.len + h->scheme.len + h->authority.len + h->path.len + 8;
	nv = small && need <= nsmall ? small : malloc(need);
	if (!nv)
		return WEFT_ENOMEM;
	p = (char *)(nv + nhdrs + 5);
#define PUSH(nm, vp, vlen) do { \
		nv[n].name = (uint8_t *)(nm); nv[n].namelen = strlen(nm); \
		nv[n].value = (uint8_t *)(vp); nv[n].valuelen = (vlen); \
		nv[n].flags = NGHTTP2_NV_FLAG_NONE; n++; } while (0)
	if (mode == 1) {
		bool connect = weft_str_eq(h->method, WEFT_STR_LIT("CONNECT"));
		authority = h->authority;
		if (!authority.len) {
			for (size_t i = 0; i < nhdrs; i++)
				if (weft_hdr_is(hdrs[i].name, "host"))
					authority = hdrs[i].value;
		}
		if (!h->method.len || (connect && !authority.len)) {
			if (nv != small)
				free(nv);
			return WEFT_EPROTO;
		}
		PUSH(":method", h->method.p, h->method.len);
		if (!connect) {
			if (h->scheme.len)
				PUSH(":scheme", h->scheme.p, h->scheme.len);
			else
				PUSH(":scheme", "http", 4);
		}
		if (authority.len)
			PUSH(":authority", authority.p, authority.len);
		if (!connect) {
			if (h->path.len)
				PUSH(":path", h->path.p, h->path.len);
			else
				PUSH(":path", "/", 1);
		}
	} else if (mode == 2) {
		if (h->status < 200 || h->status > 999) {
			if (nv != small)
				free(nv);
			return WEFT_EPROTO;
		}
		p[0] = (char)('0' + h->status / 100);   /* 200..999: three digits */
		p[1] = (char)('0' + h->status / 10 % 10);
		p[2] = (char)('0' + h->status % 10);
		p[3] = '\0';
		PUSH(":status", p, 3);
		p += 8;
	}
	for (size_t i = 0; i < nhdrs; i++) {
		weft_str_t nm = hdrs[i].name, v = hdrs[i].value;
		if (!nm.len || nm.p[0] == ':' || conn_specific(nm, v) || weft_hdr_is(nm, "host"))
			continue;
		for (size_t k = 0; k < nm.len; k++) {
			char ch = nm.p[k];
			p[k] = ch >= 'A' && ch <= 'Z' ? (char)(ch + 32) : ch;
		}
		nv[n] = (nghttp2_nv){ (uint8_t *)p, (uint8_t *)v.p, nm.len, v.len,
				      unique_value(p, nm.len) ? NGHTTP2_NV_FLAG_NO_INDEX
							      : NGHTTP2_NV_FLAG_NONE };
		p += nm.len;
		n++;
	}
#undef PUSH
	*nva = nv;
	return (ssize_t)n;
}

/* ---- stream ops ---- */

static int op_send_head(weft_hstream_t *s, const weft_http_head_t *hd, bool end)
{
	h2s_t *st = s->priv;
	h2conn_t *h = st->c;
	nghttp2_data_provider dp = { .source.ptr = st, .read_callback = st_read };
	nghttp2_nv *nv = NULL, small[64];   /* nghttp2 copies the list: the stack holds it */
	ssize_t n;
	int rv;

	if (h->dead || (st->f & (SF_CLOSED | SF_RST_OURS)))
		return WEFT_ECLOSED;
	if (st->f & SF_HEAD_SENT)
		return WEFT_EPROTO;
	n = build_nv(hd, hd->hdrs, hd->nhdrs, h->hc.server ? 2 : 1, small, sizeof(small), &nv);
	if (n == WEFT_ENOMEM)
		return WEFT_ECLOSED;
	if (n < 0)
		return WEFT_EPROTO;
	if (end)
		st->f |= SF_LOCAL_END;
	if (h->hc.server) {
		rv = nghttp2_submit_response(h->sess, (int32_t)s->id, nv, (size_t)n, end ? NULL : &dp);
	} else {
		rv = nghttp2_submit_request(h->sess, NULL, nv, (size_t)n, end ? NULL : &dp, st);
		if (rv > 0) {
			s->id = (uint32_t)rv;
			rv = 0;
		}
	}
	if (nv != small)
		free(nv);
	if (rv != 0) {
		st_close(st, h->hc.server ? WEFT_HS_RESET : WEFT_HS_REFUSED);
		return WEFT_ECLOSED;
	}
	st->f |= SF_HEAD_SENT;
	kick(h);
	return WEFT_OK;
}

static ssize_t op_send_data(weft_hstream_t *s, const void *p, size_t n, bool end)
{
	h2s_t *st = s->priv;
	size_t have = weft_buf_len(&st->out);

	if (st->c->dead || (st->f & (SF_CLOSED | SF_RST_OURS | SF_LOCAL_END)) ||
	    !(st->f & SF_HEAD_SENT))
		return WEFT_ECLOSED;
	/* all or nothing; one write into an empty buffer is always taken */
	if (n && have && have + n > st->c->lim.stream_out_max) {
		st->f |= SF_WANT_WR;
		return WEFT_EAGAIN;
	}
	if (n && weft_buf_append(&st->out, p, n) < 0) {
		st->f |= SF_WANT_WR;
		return WEFT_EAGAIN;
	}
	if (end)
		st->f |= SF_LOCAL_END;
	st_resume(st);
	return (ssize_t)n;
}

static int op_send_trailers(weft_hstream_t *s, const weft_hdr_t *t, size_t n)
{
	h2s_t *st = s->priv;
	ssize_t k = 0;

	if (st->c->dead || (st->f & (SF_CLOSED | SF_RST_OURS | SF_LOCAL_END)) ||
	    !(st->f & SF_HEAD_SENT))
		return WEFT_ECLOSED;
	if (n) {
		k = build_nv(NULL, t, n, 0, NULL, 0, &st->trl);
		if (k < 0)
			return WEFT_ECLOSED;
		st->ntrl = (size_t)k;
	}
	if (k > 0)
		st->f |= SF_TRAILERS;
	st->f |= SF_LOCAL_END;
	st_resume(st);
	return WEFT_OK;
}

static void op_consumed(weft_hstream_t *s, size_t n)
{
	h2s_t *st = s->priv;

	if (n > st->unconsumed)
		n = st->unconsumed;
	if (!n || st->c->dead)
		return;
	st->unconsumed -= n;
	nghttp2_session_consume(st->c->sess, (int32_t)s->id, n);
	kick(st->c);
}

static void op_reset(weft_hstream_t *s, weft_hs_err_t why)
{
	h2s_t *st = s->priv;
	h2conn_t *h = st->c;

	if (st->f & (SF_CLOSED | SF_RST_OURS))
		return;
	st->f |= SF_RST_OURS;
	st->why = why == WEFT_HS_OK ? WEFT_HS_CANCEL : why;
	weft_buf_reset(&st->out);
	/* A client stream with an id but no nghttp2 stream yet has its HEADERS
	 * (with st as data source and stream user data) still queued: the
	 * RST_STREAM cancels them, and nghttp2 reports the stream closed
	 * (cb_not_send, cb_stream_close). Freeing st before that would leave
	 * nghttp2 pointing at freed memory once it sends the HEADERS. */
	if (!h->dead && s->id && (nghttp2_session_find_stream(h->sess, (int32_t)s->id) ||
				  (!h->hc.server && (st->f & SF_HEAD_SENT)))) {
		uint32_t code = why == WEFT_HS_PROTO ? NGHTTP2_PROTOCOL_ERROR
			      : why == WEFT_HS_REFUSED ? NGHTTP2_REFUSED_STREAM : NGHTTP2_CANCEL;
		nghttp2_submit_rst_stream(h->sess, NGHTTP2_FLAG_NONE, (int32_t)s->id, code);
		kick(h);
	} else {
		st_close(st, st->why);   /* never reached the wire (or already gone there) */
	}
}

static const weft_hstream_ops_t h2_stream_ops = {
	op_send_head, op_send_data, op_send_trailers, op_consumed, op_reset,
};

/* ---- received heads ---- */

static void head_reset(h2s_t *st)
{
	weft_buf_reset(&st->hb);
	st->nhv = 0;
	st->hdr_bytes = 0;
	st->status = 0;
	st->f &= ~SF_BIG;
}

static weft_str_t hv_name(const h2s_t *st, const hv_t *v)
{
	return (weft_str_t){ (const char *)weft_buf_head(&st->hb) + v->no, v->nl };
}

static weft_str_t hv_value(const h2s_t *st, const hv_t *v)
{
	return (weft_str_t){ (const char *)weft_buf_head(&st->hb) + v->vo, v->vl };
}

#define H2_HDRS_STACK 32   /* heads with fewer fields need no allocation */

/* The collected fields as a head. *hdrs is small (the caller's array of
 * H2_HDRS_STACK) when they fit, else malloc'd: the caller frees it when
 * it is not small. Returns WEFT_OK, WEFT_ENOMEM or WEFT_EPROTO
 * (:authority and host disagree, or a bad content-length). */
static int head_build(h2s_t *st, weft_http_head_t *h, weft_hdr_t *small, weft_hdr_t **hdrs)
{
	weft_str_t host = { NULL, 0 };

	memset(h, 0, sizeof(*h));
	h->ver = WEFT_HTTP_2;
	h->content_length = -1;
	*hdrs = st->nhv < H2_HDRS_STACK ? small : calloc(st->nhv + 1, sizeof(weft_hdr_t));
	if (!*hdrs)
		return WEFT_ENOMEM;
	h->hdrs = *hdrs;
	for (size_t i = 0; i < st->nhv; i++) {
		weft_str_t n = hv_name(st, &st->hv[i]), v = hv_value(st, &st->hv[i]);
		if (n.len && n.p[0] == ':') {
			if (weft_str_eq(n, WEFT_STR_LIT(":method")))
				h->method = v;
			else if (weft_str_eq(n, WEFT_STR_LIT(":scheme")))
				h->scheme = v;
			else if (weft_str_eq(n, WEFT_STR_LIT(":authority")))
				h->authority = v;
			else if (weft_str_eq(n, WEFT_STR_LIT(":path")))
				h->path = v;
			else if (weft_str_eq(n, WEFT_STR_LIT(":status")))
				h->status = st->status;
			continue;
		}
		if (weft_str_eq(n, WEFT_STR_LIT("host"))) {
			host = v;
			continue;
		}
		if (conn_specific(n, v))
			continue;
		if (weft_str_eq(n, WEFT_STR_LIT("content-length"))) {
			int64_t cl = 0;
			if (!v.len || v.len > 18)
				return WEFT_EPROTO;
			for (size_t k = 0; k < v.len; k++) {
				if (v.p[k] < '0' || v.p[k] > '9')
					return WEFT_EPROTO;
				cl = cl * 10 + (v.p[k] - '0');
			}
			h->content_length = cl;
		}
		(*hdrs)[h->nhdrs++] = (weft_hdr_t){ n, v };
	}
	if (host.p) {
		if (!h->authority.len)
			h->authority = host;
		else if (!weft_str_ieq(host, h->authority))
			return WEFT_EPROTO;
	}
	if (!h->scheme.len && st->c->hc.server)
		h->scheme = WEFT_STR_LIT("http");
	return WEFT_OK;
}

/* Server: answers a request the owner never sees (431, 400, 503) and ends
 * the client's half once the answer left. */
static void refuse(h2s_t *st, int status)
{
	h2conn_t *h = st->c;
	char code[8];
	nghttp2_nv nv[1];

	snprintf(code, sizeof(code), "%d", status);
	nv[0] = (nghttp2_nv){ (uint8_t *)":status", (uint8_t *)code, 7, strlen(code),
			      NGHTTP2_NV_FLAG_NONE };
	st->f |= SF_HEAD_SENT | SF_LOCAL_END;
	if (!(st->f & SF_REMOTE_END))
		st->f |= SF_RST_AFTER;
	nghttp2_submit_response(h->sess, (int32_t)st->s.id, nv, 1, NULL);
}

/* Trailers: the collected fields without pseudo-headers. */
static void deliver_trailers(h2s_t *st)
{
	weft_hdr_t *t = calloc(st->nhv + 1, sizeof(*t));
	size_t n = 0;

	if (!t) {
		op_reset(&st->s, WEFT_HS_RESET);
		return;
	}
	for (size_t i = 0; i < st->nhv; i++) {
		weft_str_t nm = hv_name(st, &st->hv[i]);
		if (nm.len && nm.p[0] != ':')
			t[n++] = (weft_hdr_t){ nm, hv_value(st, &st->hv[i]) };
	}
	if (st->s.cbs->on_trailers)
		st->s.cbs->on_trailers(&st->s, t, n);
	free(t);
}

/* A complete HEADERS block on st. es: END_STREAM came with it. */
static void on_headers(h2conn_t *h, h2s_t *st, bool es)
{
	weft_http_head_t hd;
	weft_hdr_t small[H2_HDRS_STACK], *hdrs = NULL;
	int rc;

	if (st->f & (SF_CLOSED | SF_RST_OURS))
		return;
	if (st->f & SF_HEAD_TOLD) {   /* trailers */
		if (!es) {
			op_reset(&st->s, WEFT_HS_PROTO);
			return;
		}
		if ((st->f & SF_BIG) && h->hc.server) {
			op_reset(&st->s, WEFT_HS_PROTO);
			return;
		}
		if (st->f & SF_OWNED)
			deliver_trailers(st);
		head_reset(st);
		return;
	}
	if (!h->hc.server && st->status < 200) {
		head_reset(st);   /* 1xx: wait for the final response */
		return;
	}
	if (st->f & SF_BIG) {
		if (h->hc.server) {
			refuse(st, 431);
		} else {
			st->f |= SF_PROTO;
			op_reset(&st->s, WEFT_HS_PROTO);
		}
		return;
	}
	rc = head_build(st, &hd, small, &hdrs);
	if (rc != WEFT_OK) {
		if (hdrs != small)
			free(hdrs);
		if (h->hc.server) {
			refuse(st, rc == WEFT_EPROTO ? 400 : 503);
		} else {
			st->f |= SF_PROTO;
			op_reset(&st->s, WEFT_HS_PROTO);
		}
		return;
	}
	st->f |= SF_HEAD_TOLD;
	if (h->hc.server) {
		if (h->hc.closing || !h->hc.cbs || !h->hc.cbs->on_stream) {
			if (hdrs != small)
				free(hdrs);
			nghttp2_submit_rst_stream(h->sess, NGHTTP2_FLAG_NONE, (int32_t)st->s.id,
						  NGHTTP2_REFUSED_STREAM);
			return;
		}
		h->hc.nrequests++;
		h->hc.cbs->on_stream(&h->hc, &st->s);
		if (!st->s.cbs) {
			if (hdrs != small)
				free(hdrs);
			nghttp2_submit_rst_stream(h->sess, NGHTTP2_FLAG_NONE, (int32_t)st->s.id,
						  NGHTTP2_REFUSED_STREAM);
			return;
		}
		st->f |= SF_OWNED;
	}
	if (st->s.cbs && st->s.cbs->on_head)
		st->s.cbs->on_head(&st->s, &hd, es);
	if (hdrs != small)
		free(hdrs);
	head_reset(st);
}

/* ---- nghttp2 callbacks ---- */

static int cb_begin_frame(nghttp2_session *sess, const nghttp2_frame_hd *hd, void *ud)
{
	h2conn_t *h = ud;

	if (h->calm)
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	if (hd->type == NGHTTP2_HEADERS) {
		h->head_cont = 0;
		h->head_wire = hd->length;
	} else if (hd->type == NGHTTP2_CONTINUATION) {
		h->head_wire += hd->length;
		if (++h->head_cont > h->lim.max_continuations && h->lim.max_continuations)
			calm(h, "CONTINUATION flood");
	} else {
		return 0;
	}
	if (h->head_wire > h->lim.max_head + 1024)   /* frame headers and padding */
		calm(h, "header block too large");
	return h->calm ? NGHTTP2_ERR_CALLBACK_FAILURE : 0;
}

static int cb_begin_headers(nghttp2_session *sess, const nghttp2_frame *f, void *ud)
{
	h2conn_t *h = ud;
	h2s_t *st;

	if (f->hd.type != NGHTTP2_HEADERS)
		return 0;
	if (h->hc.server && f->headers.cat == NGHTTP2_HCAT_REQUEST) {
		if (h->dead || h->hc.closing || h->hc.nstreams >= h->lim.max_streams ||
		    !(st = st_new(h))) {
			nghttp2_submit_rst_stream(sess, NGHTTP2_FLAG_NONE, f->hd.stream_id,
						  NGHTTP2_REFUSED_STREAM);
			return 0;
		}
		st->s.id = (uint32_t)f->hd.stream_id;
		nghttp2_session_set_stream_user_data(sess, f->hd.stream_id, st);
		return 0;
	}
	st = nghttp2_session_get_stream_user_data(sess, f->hd.stream_id);
	if (st)
		head_reset(st);
	return 0;
}

static int cb_header(nghttp2_session *sess, const nghttp2_frame *f, const uint8_t *name,
		     size_t nl, const uint8_t *value, size_t vl, uint8_t flags, void *ud)
{
	h2conn_t *h = ud;
	h2s_t *st;
	hv_t *v;

	if (f->hd.type != NGHTTP2_HEADERS)
		return 0;
	st = nghttp2_session_get_stream_user_data(sess, f->hd.stream_id);
	if (!st || (st->f & (SF_CLOSED | SF_RST_OURS)))
		return 0;
	st->hdr_bytes += nl + vl + 32;
	if (st->hdr_bytes > 8 * h->lim.max_head + 65536) {
		/* far beyond what we advertised: an HPACK bomb */
		calm(h, "decoded header list far beyond the limit");
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	}
	if (st->hdr_bytes > h->lim.max_head || st->nhv >= h->lim.max_headers + 5)
		st->f |= SF_BIG;
	if (st->f & SF_BIG)
		return 0;
	if (nl == 7 && !memcmp(name, ":status", 7)) {
		int code = 0;
		for (size_t i = 0; i < vl && i < 3; i++)
			code = code * 10 + (value[i] - '0');
		st->status = vl == 3 ? code : 0;
	}
	if (st->nhv == st->hvcap) {
		size_t cap = st->hvcap * 2;
		hv_t *nv = st->hv == st->hv0 ? malloc(cap * sizeof(*nv)) : realloc(st->hv, cap * sizeof(*nv));
		if (!nv)
			return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
		if (st->hv == st->hv0)
			memcpy(nv, st->hv0, sizeof(st->hv0));
		st->hv = nv;
		st->hvcap = cap;
	}
	if (weft_buf_reserve(&st->hb, nl + vl) < 0)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	v = &st->hv[st->nhv];
	v->no = (uint32_t)weft_buf_len(&st->hb);
	v->nl = (uint32_t)nl;
	v->vo = v->no + (uint32_t)nl;
	v->vl = (uint32_t)vl;
	if (nl)
		memcpy(st->hb.data + st->hb.wr, name, nl);
	if (vl)
		memcpy(st->hb.data + st->hb.wr + nl, value, vl);
	st->hb.wr += nl + vl;
	st->nhv++;
	return 0;
}

static int cb_frame_recv(nghttp2_session *sess, const nghttp2_frame *f, void *ud)
{
	h2conn_t *h = ud;
	h2s_t *st;
	bool es = (f->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;

	switch (f->hd.type) {
	case NGHTTP2_SETTINGS:
		if (f->hd.flags & NGHTTP2_FLAG_ACK)
			return 0;
		if (count(h, &h->controls, h->lim.max_control_per_s))
			calm(h, "SETTINGS flood");
		if (!h->ready && !h->calm) {
			h->ready = true;
			weft_timer_stop(h->hc.conn.loop, &h->timer);
			if (h->hc.nstreams == 0 && h->lim.idle_ms)
				idle_arm(h);
			if (!h->hc.server && h->hc.cbs && h->hc.cbs->on_ready)
				h->hc.cbs->on_ready(&h->hc);
		}
		break;
	case NGHTTP2_PING:
		if (!(f->hd.flags & NGHTTP2_FLAG_ACK) && count(h, &h->controls, h->lim.max_control_per_s))
			calm(h, "PING flood");
		break;
	case NGHTTP2_PRIORITY:
		if (count(h, &h->controls, h->lim.max_control_per_s))
			calm(h, "PRIORITY flood");
		break;
	case NGHTTP2_RST_STREAM:
		if (count(h, &h->resets, h->lim.max_resets_per_s))
			calm(h, "rapid reset");
		st = nghttp2_session_get_stream_user_data(sess, f->hd.stream_id);
		if (st)
			st->f |= SF_PEER_RST;
		break;
	case NGHTTP2_GOAWAY:
		if (!h->hc.closing)
			weft_debug(h->hc.name, "GOAWAY received (%s)",
				   nghttp2_http2_strerror(f->goaway.error_code));
		h->hc.closing = true;
		break;
	case NGHTTP2_DATA:
	case NGHTTP2_HEADERS:
		if (f->hd.type == NGHTTP2_DATA && f->hd.length == 0 && !es &&
		    count(h, &h->controls, h->lim.max_control_per_s))
			calm(h, "empty DATA flood");
		st = nghttp2_session_get_stream_user_data(sess, f->hd.stream_id);
		if (!st || h->calm)
			break;
		if (es)
			st->f |= SF_REMOTE_END;
		if (f->hd.type == NGHTTP2_HEADERS)
			on_headers(h, st, es);
		if (es && (st->f & SF_OWNED) && (st->f & SF_HEAD_TOLD) &&
		    !(st->f & (SF_CLOSED | SF_RST_OURS)) && st->s.cbs->on_end)
			st->s.cbs->on_end(&st->s);
		break;
	default:
		break;
	}
	return h->calm ? NGHTTP2_ERR_CALLBACK_FAILURE : 0;
}

static int cb_data_chunk(nghttp2_session *sess, uint8_t flags, int32_t sid, const uint8_t *data,
			 size_t len, void *ud)
{
	h2conn_t *h = ud;
	h2s_t *st = nghttp2_session_get_stream_user_data(sess, sid);

	if (!st || h->dead || !(st->f & SF_OWNED) || (st->f & (SF_CLOSED | SF_RST_OURS)) ||
	    !(st->f & SF_HEAD_TOLD)) {
		nghttp2_session_consume(sess, sid, len);   /* nobody will: give it back */
		return 0;
	}
	st->unconsumed += len;
	st->s.bytes_in += len;
	if (st->s.cbs->on_data)
		st->s.cbs->on_data(&st->s, data, len);
	return 0;
}

static int cb_stream_close(nghttp2_session *sess, int32_t sid, uint32_t code, void *ud)
{
	h2conn_t *h = ud;
	h2s_t *st = nghttp2_session_get_stream_user_data(sess, sid);
	weft_hs_err_t err;

	if (!st)
		return 0;
	nghttp2_session_set_stream_user_data(sess, sid, NULL);
	if (st->f & SF_RST_OURS)
		err = st->why;
	else if (code == NGHTTP2_REFUSED_STREAM)
		err = WEFT_HS_REFUSED;
	else if (st->f & SF_PROTO)
		err = WEFT_HS_PROTO;
	else if ((st->f & SF_REMOTE_END) && (st->f & SF_SENT_END) && code == NGHTTP2_NO_ERROR)
		err = WEFT_HS_OK;
	else if (code == NGHTTP2_NO_ERROR && (st->f & SF_SENT_END) && h->hc.server)
		err = WEFT_HS_OK;   /* the client stopped sending once it had our response */
	else if (code == NGHTTP2_PROTOCOL_ERROR && !(st->f & SF_PEER_RST))
		err = WEFT_HS_PROTO;
	else
		err = WEFT_HS_RESET;
	st_close(st, err);
	return 0;
}

static int cb_frame_send(nghttp2_session *sess, const nghttp2_frame *f, void *ud)
{
	h2s_t *st;

	if (f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA &&
	    f->hd.type != NGHTTP2_RST_STREAM)
		return 0;
	st = nghttp2_session_get_stream_user_data(sess, f->hd.stream_id);
	if (!st)
		return 0;
	if (f->hd.type == NGHTTP2_RST_STREAM) {
		if (!(st->f & SF_RST_OURS) && f->rst_stream.error_code == NGHTTP2_PROTOCOL_ERROR)
			st->f |= SF_PROTO;
		return 0;
	}
	if (f->hd.flags & NGHTTP2_FLAG_END_STREAM)
		st->f |= SF_SENT_END;
	if (f->hd.type == NGHTTP2_HEADERS && (st->f & SF_RST_AFTER)) {
		st->f &= ~SF_RST_AFTER;
		nghttp2_submit_rst_stream(sess, NGHTTP2_FLAG_NONE, f->hd.stream_id, NGHTTP2_NO_ERROR);
	}
	return 0;
}

static int cb_not_send(nghttp2_session *sess, const nghttp2_frame *f, int lib_error, void *ud)
{
	h2conn_t *h = ud;

	/* a request that never left (GOAWAY, ids exhausted): refused */
	if (h->hc.server || f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	for (h2s_t *st = h->streams; st; st = st->next)
		if (st->s.id == (uint32_t)f->hd.stream_id &&
		    !nghttp2_session_find_stream(sess, f->hd.stream_id))
			st_close(st, (st->f & SF_RST_OURS) ? st->why : WEFT_HS_REFUSED);
	return 0;
}

static int cb_invalid(nghttp2_session *sess, const nghttp2_frame *f, int lib_error, void *ud)
{
	h2s_t *st = f->hd.stream_id ? nghttp2_session_get_stream_user_data(sess, f->hd.stream_id)
				    : NULL;

	if (st)
		st->f |= SF_PROTO;
	return 0;
}

/* ---- connection ---- */

/* Delivers what is owed outside nghttp2: on_close of finished streams
 * (then frees them), on_writable after a buffer drained. */
static void deliver(h2conn_t *h)
{
	h2s_t *st, *next;

	for (st = h->streams; st && !h->dead; st = next) {
		next = st->next;
		if (st->f & SF_CLOSED) {
			st_finish(h, st, st->err);
			continue;
		}
		if ((st->f & SF_WANT_WR) && (st->f & SF_OWNED) && !(st->f & SF_LOCAL_END) &&
		    weft_buf_len(&st->out) <= h->lim.stream_out_max / 2) {
			st->f &= ~SF_WANT_WR;
			if (st->s.cbs->on_writable)
				st->s.cbs->on_writable(&st->s);
		}
	}
}

/* Reads what the transport has into the session (weft_h2io_read),
 * keeping nghttp2's verdict: its own flood guards (queued ACKs,
 * CONTINUATION count in header blocks it ignores) become our GOAWAY
 * ENHANCE_YOUR_CALM. Returns as weft_h2io_read. */
static int h2_read(h2conn_t *h)
{
	int ngerr = 0;
	int rc = weft_h2io_read(&h->hc.conn, h->sess, &h->in_recv, &h->dead, H2_READS_PER_IO, &ngerr);

	if (rc == WEFT_EPROTO) {
		if (ngerr == NGHTTP2_ERR_FLOODED || ngerr == NGHTTP2_ERR_TOO_MANY_CONTINUATIONS)
			calm(h, nghttp2_strerror(ngerr));
		if (!h->calm)
			weft_info(h->hc.name, "HTTP/2 error: %s", nghttp2_strerror(ngerr));
	}
	return rc;
}

/* Reads (unless output is backed up; from a kick only when input may wait
 * unannounced: read asked, before the peer's SETTINGS, a transport
 * holding input — else the socket announces input and the read would
 * only answer EAGAIN), then writes, then delivers. Returns WEFT_OK or a
 * negative code: close. */
static int pump(h2conn_t *h, bool read)
{
	weft_conn_t *c = &h->hc.conn;
	int rc = WEFT_OK, wr;
	bool backed = weft_buf_len(&c->out) >= h->lim.conn_out_max;

	if (h->dead)
		return WEFT_ECLOSED;
	read = read || h->kick_read || !h->ready || weft_conn_pending(c);
	if (!h->calm && !backed && read) {
		h->kick_read = false;
		rc = h2_read(h);
	}
	if (h->calm) {
		weft_h2io_write(c, h->sess, h->lim.conn_out_max + 65536);
		return WEFT_ECLOSED;
	}
	if (rc == WEFT_ECLOSED || rc == WEFT_EFAIL || rc == WEFT_EPROTO) {
		if (rc == WEFT_EPROTO) {
			nghttp2_session_terminate_session(h->sess, NGHTTP2_PROTOCOL_ERROR);
			weft_h2io_write(c, h->sess, h->lim.conn_out_max);
		}
		weft_debug(h->hc.name, "closing: %s",
			   rc == WEFT_ECLOSED ? (h->dead ? "killed" : "peer closed")
			   : rc == WEFT_EPROTO ? "protocol error" : "read failed");
		return rc;
	}
	if (rc == WEFT_EAGAIN) {
		h->kick_read = true;
		kick(h);
	}
	h->in_write = true;
	wr = weft_h2io_write(c, h->sess, h->lim.conn_out_max);
	h->in_write = false;
	if (wr == WEFT_EFAIL || wr == WEFT_ELIMIT || wr == WEFT_ECLOSED) {
		weft_debug(h->hc.name, "closing: %s", wr == WEFT_ECLOSED ? "session done" : "write failed");
		return wr;
	}
	if (wr == WEFT_EAGAIN && weft_buf_len(&c->out) == 0)
		kick(h);   /* stopped at the high mark and all left: more to write */
	backed = weft_buf_len(&c->out) >= h->lim.conn_out_max;
	if (backed == h->reading) {
		h->reading = !backed;
		weft_conn_want_read(c, h->reading);
		if (h->reading) {
			h->kick_read = true;
			kick(h);   /* input may have waited while we did not read */
		}
	}
	deliver(h);
	return h->dead ? WEFT_ECLOSED : WEFT_OK;
}

static void reap_cb(weft_loop_t *l, weft_timer_t *t)
{
	h2conn_t *h = t->data;
	weft_conn_close(&h->hc.conn);
}

static void kill_conn(h2conn_t *h, const char *why)
{
	if (weft_h2io_kill(&h->hc.conn, &h->reap, &h->dead))
		weft_debug(h->hc.name, "closing: %s", why);
}

static void kick_cb(weft_loop_t *l, weft_timer_t *t)
{
	h2conn_t *h = t->data;

	if (pump(h, false) < 0)
		weft_conn_close(&h->hc.conn);
}

static void kick(h2conn_t *h)
{
	weft_h2io_kick(&h->hc.conn, &h->kick, h->in_recv, h->dead);
}

static void timer_cb(weft_loop_t *l, weft_timer_t *t)
{
	h2conn_t *h = t->data;

	if (!h->ready) {
		weft_info(h->hc.name, "no HTTP/2 preface within %u ms: closing", h->lim.head_timeout_ms);
		kill_conn(h, "preface timeout");
		return;
	}
	if (h->hc.nstreams == 0) {
		uint64_t idle = l->now_ms - h->idle_since;
		if (idle < h->lim.idle_ms) {   /* armed in an earlier idle spell */
			weft_timer_start(l, t, h->lim.idle_ms - idle);
			return;
		}
		weft_debug(h->hc.name, "idle for %u ms: closing", h->lim.idle_ms);
		h->hc.ops->goaway(&h->hc);
	}
}

static int mux_on_io(weft_conn_t *c, uint32_t ev)
{
	h2conn_t *h = c->mux_ctx;

	weft_timer_stop(c->loop, &h->kick);
	return pump(h, true);
}

static void mux_shutdown(weft_conn_t *c)
{
	h2conn_t *h = c->mux_ctx;
	h->hc.ops->goaway(&h->hc);
}

static void mux_destroy(weft_conn_t *c)
{
	h2conn_t *h = c->mux_ctx;

	weft_timer_stop(c->loop, &h->timer);
	weft_timer_stop(c->loop, &h->reap);
	weft_timer_stop(c->loop, &h->kick);
	h->dead = true;
	while (h->streams) {
		h2s_t *st = h->streams;
		st_finish(h, st, (st->f & SF_CLOSED) ? st->err : WEFT_HS_CONN_CLOSED);
	}
	if (h->spare) {
		weft_buf_free(&h->spare->out);
		weft_buf_free(&h->spare->hb);
		free(h->spare);
		h->spare = NULL;
	}
	if (h->sess)
		nghttp2_session_del(h->sess);
	h->sess = NULL;
	if (h->hc.cbs && h->hc.cbs->on_close)
		h->hc.cbs->on_close(&h->hc);
	free(h);
}

static const weft_mux_ops_t h2_mux = { "h2", mux_on_io, mux_shutdown, mux_destroy };

/* ---- connection ops ---- */

static bool hc_can_open(const weft_hconn_t *hc)
{
	const h2conn_t *h = (const h2conn_t *)hc;
	uint32_t cap = h->lim.max_streams;

	if (hc->server || h->dead || hc->closing || h->calm)
		return false;
	if (h->ready) {
		uint32_t r = nghttp2_session_get_remote_settings(h->sess,
								 NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
		if (r < cap)
			cap = r;
	}
	return hc->nstreams < cap;
}

static weft_hstream_t *hc_open(weft_hconn_t *hc, const weft_hstream_cbs_t *cbs, void *ud)
{
	h2conn_t *h = (h2conn_t *)hc;
	h2s_t *st;

	if (!hc_can_open(hc) || !(st = st_new(h)))
		return NULL;
	st->f |= SF_OWNED;
	st->s.cbs = cbs;
	st->s.ud = ud;
	hc->nrequests++;
	return &st->s;
}

static void hc_goaway(weft_hconn_t *hc)
{
	h2conn_t *h = (h2conn_t *)hc;

	if (h->dead)
		return;
	hc->closing = true;
	nghttp2_submit_goaway(h->sess, NGHTTP2_FLAG_NONE,
			      hc->server ? nghttp2_session_get_last_proc_stream_id(h->sess) : 0,
			      NGHTTP2_NO_ERROR, NULL, 0);
	/* client streams not yet submitted never will be */
	for (h2s_t *st = h->streams; st; st = st->next)
		if (!hc->server && !st->s.id && !(st->f & SF_CLOSED))
			st_close(st, WEFT_HS_REFUSED);
	kick(h);
}

static void hc_close(weft_hconn_t *hc)
{
	weft_conn_close(&hc->conn);   /* ends in mux_destroy() */
}

static const weft_hconn_ops_t h2_hconn_ops = { "h2", hc_open, hc_can_open, hc_goaway, hc_close };

/* Creates the nghttp2 session with our callbacks, options and SETTINGS.
 * Returns WEFT_OK or WEFT_EFAIL. */
static int session_new(h2conn_t *h)
{
	nghttp2_session_callbacks *cbs = NULL;
	nghttp2_option *opt = NULL;
	nghttp2_settings_entry iv[5];
	size_t niv = 0;
	int rv;

	if (nghttp2_session_callbacks_new(&cbs) != 0)
		return WEFT_EFAIL;
	if (nghttp2_option_new(&opt) != 0) {
		nghttp2_session_callbacks_del(cbs);
		return WEFT_EFAIL;
	}
	nghttp2_session_callbacks_set_on_begin_frame_callback(cbs, cb_begin_frame);
	nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, cb_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(cbs, cb_header);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, cb_frame_recv);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, cb_data_chunk);
	nghttp2_session_callbacks_set_on_stream_close_callback(cbs, cb_stream_close);
	nghttp2_session_callbacks_set_on_frame_send_callback(cbs, cb_frame_send);
	nghttp2_session_callbacks_set_on_frame_not_send_callback(cbs, cb_not_send);
	nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(cbs, cb_invalid);
	nghttp2_option_set_no_auto_window_update(opt, 1);
	nghttp2_option_set_max_outbound_ack(opt, 1000);
	if (!h->hc.server)
		nghttp2_option_set_peer_max_concurrent_streams(opt, h->lim.max_streams);
	if (nghttp2_option_set_stream_reset_rate_limit && h->lim.max_resets_per_s)
		nghttp2_option_set_stream_reset_rate_limit(opt, 2ull * h->lim.max_resets_per_s,
							   h->lim.max_resets_per_s);
	if (nghttp2_option_set_max_continuations && h->lim.max_continuations)
		nghttp2_option_set_max_continuations(opt, 4u * h->lim.max_continuations + 8);
	rv = h->hc.server ? nghttp2_session_server_new2(&h->sess, cbs, h, opt)
			  : nghttp2_session_client_new2(&h->sess, cbs, h, opt);
	nghttp2_session_callbacks_del(cbs);
	nghttp2_option_del(opt);
	if (rv != 0) {
		h->sess = NULL;
		return WEFT_EFAIL;
	}
	iv[niv++] = (nghttp2_settings_entry){ NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, h->lim.max_streams };
	iv[niv++] = (nghttp2_settings_entry){ NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, h->lim.stream_window };
	iv[niv++] = (nghttp2_settings_entry){ NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, (uint32_t)h->lim.max_head };
	iv[niv++] = (nghttp2_settings_entry){ NGHTTP2_SETTINGS_HEADER_TABLE_SIZE, H2_TABLE_SIZE };
	if (!h->hc.server)
		iv[niv++] = (nghttp2_settings_entry){ NGHTTP2_SETTINGS_ENABLE_PUSH, 0 };
	if (nghttp2_submit_settings(h->sess, NGHTTP2_FLAG_NONE, iv, niv) != 0 ||
	    (h->lim.conn_window > 65535 &&
	     nghttp2_session_set_local_window_size(h->sess, NGHTTP2_FLAG_NONE, 0,
						   (int32_t)h->lim.conn_window) != 0))
		return WEFT_EFAIL;
	return WEFT_OK;
}

static weft_hconn_t *h2_new(weft_loop_t *loop, int fd, const weft_xprt_ops_t *x, void *xctx,
			    const weft_http_limits_t *lim, const weft_hconn_cbs_t *cbs, void *ud,
			    const char *name, bool server)
{
	h2conn_t *h = calloc(1, sizeof(*h));

	if (!h) {
		weft_conn_t tmp = { .fd = fd, .xprt_ctx = xctx };
		x->close(&tmp);
		return NULL;
	}
	if (lim)
		h->lim = *lim;
	else
		weft_http_limits_default(&h->lim);
	if (h->lim.stream_window < 65535)
		h->lim.stream_window = 65535;
	if (h->lim.stream_window > 0x7fffffff)
		h->lim.stream_window = 0x7fffffff;
	if (h->lim.conn_window < h->lim.stream_window)
		h->lim.conn_window = h->lim.stream_window;
	if (h->lim.stream_out_max == 0)
		h->lim.stream_out_max = 64u << 10;
	if (h->lim.conn_out_max < 16384)
		h->lim.conn_out_max = 16384;
	if (h->lim.max_head < 1024)
		h->lim.max_head = 1024;
	if (h->lim.max_streams == 0)
		h->lim.max_streams = 1;
	h->hc.ops = &h2_hconn_ops;
	h->hc.server = server;
	h->hc.ver = WEFT_HTTP_2;
	h->hc.cbs = cbs;
	h->hc.ud = ud;
	h->reading = true;
	snprintf(h->hc.name, sizeof(h->hc.name), "%s", name ? name : (server ? "h2-in" : "h2-out"));
	weft_timer_init(&h->timer, timer_cb, h);
	weft_timer_init(&h->reap, reap_cb, h);
	weft_timer_init(&h->kick, kick_cb, h);
	if (weft_conn_init(&h->hc.conn, loop, fd, x, xctx, h->lim.conn_out_max + (256u << 10)) < 0) {
		x->close(&h->hc.conn);
		free(h);
		return NULL;
	}
	snprintf(h->hc.conn.name, sizeof(h->hc.conn.name), "%.63s", h->hc.name);
	h->hc.conn.mux = &h2_mux;
	h->hc.conn.mux_ctx = h;
	if (session_new(h) != WEFT_OK) {
		weft_info(h->hc.name, "cannot set up the HTTP/2 session");
		h->hc.cbs = NULL;   /* never announced: no on_close */
		weft_conn_close(&h->hc.conn);
		return NULL;
	}
	if (h->lim.head_timeout_ms)
		weft_timer_start(loop, &h->timer, h->lim.head_timeout_ms);
	kick(h);   /* our preface goes out at once */
	return &h->hc;
}

weft_hconn_t *weft_h2_server_new(weft_loop_t *loop, int fd, const weft_xprt_ops_t *x, void *xctx,
				 const weft_http_limits_t *lim, const weft_hconn_cbs_t *cbs,
				 void *ud, const char *name)
{
	return h2_new(loop, fd, x, xctx, lim, cbs, ud, name, true);
}

weft_hconn_t *weft_h2_client_new(weft_loop_t *loop, int fd, const weft_xprt_ops_t *x, void *xctx,
				 const weft_http_limits_t *lim, const weft_hconn_cbs_t *cbs,
				 void *ud, const char *name)
{
	return h2_new(loop, fd, x, xctx, lim, cbs, ud, name, false);
}

int weft_h2_sniff(const uint8_t *p, size_t n)
{
	static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
	size_t k = n < sizeof(preface) - 1 ? n : sizeof(preface) - 1;

	if (memcmp(p, preface, k) != 0)
		return 0;
	return k == sizeof(preface) - 1 ? 1 : WEFT_EAGAIN;
}
