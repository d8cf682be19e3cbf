/* weft — admin server: HTTP/1.1 over the raw transport (an "h1" mux), one
 * weft_h1c_t per connection with a bounded input buffer, strict parsing
 * (src/proto/http1.c), exact-path routes, keep-alive and Connection: close,
 * GET and HEAD only, no request bodies. Streaming routes keep a GET's
 * response open (chunked, Connection: close) and are fed later through
 * weft_admin_stream_write() until the client goes away. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "weft/admin.h"
#include "weft/buf.h"
#include "weft/http1.h"
#include "weft/log.h"
#include "weft/loop.h"
#include "weft/net.h"
#include "weft/str.h"

typedef struct weft_h1c {
	weft_conn_t conn;
	weft_admin_t *admin;
	weft_buf_t in;
	weft_timer_t idle;
	bool close_after;          /* close once the output is written */
	bool streaming;            /* a streaming route holds the connection */
	bool head_sent;            /* the streaming response head is queued */
	bool in_handler;           /* inside the streaming handler: queue only */
	void (*on_close)(void *arg);
	void *on_close_arg;
	struct weft_h1c *prev, *next;
} weft_h1c_t;

#define ADMIN_OUT_LIMIT (64u << 20)
#define ADMIN_STREAM_BACKLOG (1u << 20)   /* a stream's unwritten bytes before lines are dropped */

void weft_admin_init(weft_admin_t *a, weft_loop_t *loop)
{
	memset(a, 0, sizeof(*a));
	a->loop = loop;
	a->lst.fd = -1;
	weft_h1_limits_default(&a->lim);
	a->max_conns = 256;
	a->idle_ms = 30000;
}

int weft_admin_route(weft_admin_t *a, const char *path, weft_admin_handler fn, void *ctx)
{
	weft_admin_route_t *r;

	if (a->nroutes == WEFT_ADMIN_MAX_ROUTES || strlen(path) >= sizeof(r->path))
		return WEFT_ELIMIT;
	r = &a->routes[a->nroutes++];
	snprintf(r->path, sizeof(r->path), "%s", path);
	r->fn = fn;
	r->sfn = NULL;
	r->ctx = ctx;
	return WEFT_OK;
}

int weft_admin_route_stream(weft_admin_t *a, const char *path, weft_admin_stream_handler fn,
			    void *ctx)
{
	int rc = weft_admin_route(a, path, NULL, ctx);

	if (rc == WEFT_OK)
		a->routes[a->nroutes - 1].sfn = fn;
	return rc;
}

bool weft_admin_query_has(weft_str_t q, const char *key, const char *value)
{
	size_t i = 0;
	size_t kl = strlen(key), vl = strlen(value);

	while (i < q.len) {
		const char *amp = memchr(q.p + i, '&', q.len - i);
		size_t e = amp ? (size_t)(amp - q.p) : q.len;
		if (e - i == kl + 1 + vl && !memcmp(q.p + i, key, kl) && q.p[i + kl] == '=' &&
		    !memcmp(q.p + i + kl + 1, value, vl))
			return true;
		i = e + 1;
	}
	return false;
}

/* Queues a complete response. */
static int respond(weft_h1c_t *c, int status, const char *ctype, const weft_buf_t *body,
		   bool head_only, const char *extra)
{
	weft_buf_t h;
	int rc;
	size_t blen = body ? weft_buf_len(body) : 0;

	weft_buf_init(&h, 4096);
	if (weft_buf_printf(&h, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
			    "Cache-Control: no-store\r\n%sConnection: %s\r\n\r\n",
			    status, weft_h1_reason(status), ctype, blen, extra ? extra : "",
			    c->close_after ? "close" : "keep-alive") < 0) {
		weft_buf_free(&h);
		return WEFT_ENOMEM;
	}
	rc = weft_conn_queue(&c->conn, weft_buf_head(&h), weft_buf_len(&h));
	if (rc == WEFT_OK && blen && !head_only)
		rc = weft_conn_queue(&c->conn, weft_buf_head(body), blen);
	weft_buf_free(&h);
	return rc;
}

static int error_response(weft_h1c_t *c, int status)
{
	weft_buf_t b;
	int rc;

	weft_buf_init(&b, 0);
	weft_buf_printf(&b, "%d %s\n", status, weft_h1_reason(status));
	c->close_after = true;
	rc = respond(c, status, "text/plain; charset=utf-8", &b, false, NULL);
	weft_buf_free(&b);
	return rc;
}

/* Queues the streaming response head once. Returns WEFT_OK or WEFT_ELIMIT. */
static int stream_head(weft_h1c_t *c, const char *ctype)
{
	char h[256];
	int n;

	if (c->head_sent)
		return WEFT_OK;
	c->head_sent = true;
	n = snprintf(h, sizeof(h), "HTTP/1.1 200 OK\r\nContent-Type: %s\r\nTransfer-Encoding: chunked\r\n"
		     "Cache-Control: no-store\r\nConnection: close\r\n\r\n", ctype);
	return weft_conn_queue(&c->conn, h, (size_t)n);
}

/* Runs a streaming route's handler: on 200 the connection becomes the
 * stream (no more requests are read from it). */
static int dispatch_stream(weft_h1c_t *c, const weft_admin_route_t *r, weft_admin_req_t *ar)
{
	const char *ctype = "application/x-ndjson";
	weft_buf_t body;
	int status, rc;

	c->streaming = true;
	c->close_after = false;
	c->in_handler = true;
	weft_buf_init(&body, 0);
	status = r->sfn(ar, c, &body, &ctype, r->ctx);
	c->in_handler = false;
	if (status == 200) {
		weft_buf_free(&body);
		weft_timer_stop(c->conn.loop, &c->idle);
		return stream_head(c, ctype);
	}
	c->streaming = false;
	c->on_close = NULL;
	c->close_after = true;
	if (c->head_sent) {          /* the handler wrote, then refused: cut it */
		weft_buf_free(&body);
		return WEFT_ECLOSED;
	}
	rc = respond(c, status, ctype, &body, false, NULL);
	weft_buf_free(&body);
	return rc;
}

int weft_admin_stream_write(weft_admin_stream_t *c, const void *p, size_t n)
{
	char sz[24];
	int rc, k;

	if (!c->streaming || c->close_after)
		return WEFT_EFAIL;
	if (!n)
		return WEFT_OK;
	if (weft_buf_len(&c->conn.out) > ADMIN_STREAM_BACKLOG)
		return WEFT_EAGAIN;
	k = snprintf(sz, sizeof(sz), "%zx\r\n", n);
	rc = stream_head(c, "application/x-ndjson");
	if (rc == WEFT_OK)
		rc = weft_conn_queue(&c->conn, sz, (size_t)k);
	if (rc == WEFT_OK)
		rc = weft_conn_queue(&c->conn, p, n);
	if (rc == WEFT_OK)
		rc = weft_conn_queue(&c->conn, "\r\n", 2);
	if (rc != WEFT_OK)
		return WEFT_EAGAIN;
	if (c->in_handler)
		return WEFT_OK;
	if (weft_conn_flush(&c->conn) == WEFT_EFAIL) {
		weft_conn_close(&c->conn);   /* runs on_close, frees c */
		return WEFT_EFAIL;
	}
	return WEFT_OK;
}

void weft_admin_stream_on_close(weft_admin_stream_t *c, void (*fn)(void *arg), void *arg)
{
	c->on_close = fn;
	c->on_close_arg = arg;
}

void weft_admin_stream_end(weft_admin_stream_t *c)
{
	int rc;

	c->on_close = NULL;
	if (c->close_after)
		return;
	stream_head(c, "application/x-ndjson");
	weft_conn_queue(&c->conn, "0\r\n\r\n", 5);
	c->close_after = true;
	if (c->in_handler)
		return;
	rc = weft_conn_flush(&c->conn);
	if (rc != WEFT_EAGAIN) {
		weft_conn_close(&c->conn);
		return;
	}
	weft_timer_start(c->conn.loop, &c->idle, c->admin->idle_ms);
}

static int dispatch(weft_h1c_t *c, const weft_h1_req_t *req)
{
	weft_admin_t *a = c->admin;
	weft_admin_req_t ar = { req->method, req->path, req->query, req };
	const weft_admin_route_t *r = NULL;
	const char *ctype = "text/plain; charset=utf-8";
	bool head = weft_str_eq_c(req->method, "HEAD");
	weft_buf_t body;
	int status, rc;

	if (!req->keep_alive)
		c->close_after = true;
	if (req->chunked || (req->has_length && req->content_length > 0))
		return error_response(c, 413);
	for (size_t i = 0; i < a->nroutes; i++)
		if (weft_str_eq_c(req->path, a->routes[i].path))
			r = &a->routes[i];
	if (!r) {
		weft_buf_init(&body, 0);
		weft_buf_printf(&body, "404 Not Found\n");
		rc = respond(c, 404, ctype, &body, head, NULL);
		weft_buf_free(&body);
		return rc;
	}
	if ((r->sfn || !head) && !weft_str_eq_c(req->method, "GET")) {
		weft_buf_init(&body, 0);
		weft_buf_printf(&body, "405 Method Not Allowed\n");
		rc = respond(c, 405, ctype, &body, false,
			     r->sfn ? "Allow: GET\r\n" : "Allow: GET, HEAD\r\n");
		weft_buf_free(&body);
		return rc;
	}
	if (r->sfn)
		return dispatch_stream(c, r, &ar);
	weft_buf_init(&body, 0);
	status = r->fn(&ar, &body, &ctype, r->ctx);
	rc = respond(c, status, ctype, &body, head, NULL);
	weft_buf_free(&body);
	return rc;
}

static void h1c_close(weft_h1c_t *c)
{
	weft_conn_close(&c->conn);   /* ends in h1_destroy() */
}

static void idle_cb(weft_loop_t *l, weft_timer_t *t)
{
	weft_h1c_t *c = t->data;

	weft_debug(c->conn.name, "idle: closing");
	h1c_close(c);
}

/* Reads, answers every complete request, writes. Returns WEFT_OK or a
 * negative code to close. */
static int h1_on_io(weft_conn_t *conn, uint32_t ev)
{
	weft_h1c_t *c = conn->mux_ctx;
	weft_admin_t *a = c->admin;
	int rc;

	if ((ev & (WEFT_IO_READ | WEFT_IO_ERROR)) && c->streaming && !c->close_after) {
		/* a stream reads nothing more: input is dropped, EOF ends it */
		for (;;) {
			char junk[4096];
			ssize_t n = weft_conn_recv(conn, junk, sizeof(junk));
			if (n == WEFT_EAGAIN)
				break;
			if (n <= 0)
				return WEFT_ECLOSED;
		}
	} else if ((ev & (WEFT_IO_READ | WEFT_IO_ERROR)) && !c->close_after) {
		for (;;) {
			ssize_t n;
			if (weft_buf_reserve(&c->in, 4096) < 0) {
				/* head larger than the limit and still incomplete */
				error_response(c, 431);
				break;
			}
			n = weft_conn_recv(conn, c->in.data + c->in.wr, c->in.cap - c->in.wr);
			if (n == WEFT_EAGAIN)
				break;
			if (n <= 0)
				return WEFT_ECLOSED;
			c->in.wr += (size_t)n;
		}
	}
	while (!c->close_after && !c->streaming && weft_buf_len(&c->in)) {
		weft_h1_req_t req;
		int status;
		int hl = weft_h1_parse_request((const char *)weft_buf_head(&c->in), weft_buf_len(&c->in),
					       &a->lim, &req, &status);
		if (hl == WEFT_EAGAIN)
			break;
		if (hl < 0) {
			weft_debug(conn->name, "bad request: %d", status);
			error_response(c, status);
			break;
		}
		rc = dispatch(c, &req);
		weft_buf_consume(&c->in, (size_t)hl);
		if (rc < 0)
			return rc;
	}
	rc = weft_conn_flush(conn);
	if (rc == WEFT_EFAIL)
		return rc;
	if (rc == WEFT_OK && c->close_after)
		return WEFT_ECLOSED;
	weft_conn_want_read(conn, !c->close_after);
	if (!c->streaming || c->close_after)
		weft_timer_start(conn->loop, &c->idle, a->idle_ms);
	return WEFT_OK;
}

static void h1_shutdown(weft_conn_t *conn)
{
	weft_h1c_t *c = conn->mux_ctx;

	c->close_after = true;
}

static void h1_destroy(weft_conn_t *conn)
{
	weft_h1c_t *c = conn->mux_ctx;
	weft_admin_t *a = c->admin;

	weft_timer_stop(conn->loop, &c->idle);
	weft_buf_free(&c->in);
	if (c->on_close) {
		void (*fn)(void *) = c->on_close;
		c->on_close = NULL;
		fn(c->on_close_arg);
	}
	if (c->prev)
		c->prev->next = c->next;
	else
		a->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	a->nconns--;
	free(c);
}

static const weft_mux_ops_t h1_mux = { "h1", h1_on_io, h1_shutdown, h1_destroy };

void weft_admin_adopt(weft_admin_t *a, int fd, const char *peer)
{
	weft_h1c_t *c;

	if (a->nconns >= a->max_conns || !(c = calloc(1, sizeof(*c)))) {
		weft_conn_t tmp = { .fd = fd };
		weft_xprt_raw.close(&tmp);
		return;
	}
	c->admin = a;
	snprintf(c->conn.name, sizeof(c->conn.name), "admin c%llu %s",
		 (unsigned long long)++a->next_id, peer);
	if (weft_conn_init(&c->conn, a->loop, fd, &weft_xprt_raw, NULL, ADMIN_OUT_LIMIT) < 0) {
		weft_xprt_raw.close(&c->conn);
		free(c);
		return;
	}
	weft_buf_init(&c->in, a->lim.max_head + 4096);
	weft_timer_init(&c->idle, idle_cb, c);
	c->conn.mux = &h1_mux;
	c->conn.mux_ctx = c;
	c->next = a->conns;
	if (c->next)
		c->next->prev = c;
	a->conns = c;
	a->nconns++;
	weft_timer_start(a->loop, &c->idle, a->idle_ms);
}

static void on_accept(weft_listener_t *l, int fd, const struct sockaddr_storage *peer, socklen_t pl)
{
	char addr[80];

	weft_admin_adopt(l->data, fd, weft_net_format_addr((const struct sockaddr *)peer, addr, sizeof(addr)));
}

int weft_admin_listen(weft_admin_t *a, const char *addr)
{
	if (weft_listener_start(a->loop, &a->lst, addr, on_accept, a) < 0)
		return WEFT_EFAIL;
	a->listening = true;
	return WEFT_OK;
}

void weft_admin_destroy(weft_admin_t *a)
{
	if (a->listening)
		weft_listener_stop(&a->lst);
	a->listening = false;
	while (a->conns)
		h1c_close(a->conns);
}
