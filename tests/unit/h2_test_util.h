/* Test helpers for the HTTP/2 codec tests (test_h2codec.c,
 * test_xprt_hbone.c): a stream owner that records every event, and a
 * server owner that answers each request with its own body (echo) and
 * trailers when the request had some. Include after <cmocka.h>. */
#ifndef WEFT_H2_TEST_UTIL_H
#define WEFT_H2_TEST_UTIL_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "weft/buf.h"
#include "weft/http.h"
#include "weft/loop.h"

#define HT_MAX 300

/* One stream as its owner sees it. */
typedef struct ht_end {
	weft_hstream_t *s;
	bool head, ended, closed, head_end;
	int status;
	char method[16], path[64], authority[64], hdr_x[64];
	int64_t content_length;
	weft_buf_t body;
	char trailer[64];          /* "name=value" of the first trailer */
	int ntrailers;
	weft_hs_err_t err;
	bool auto_consume;
	size_t max_unconsumed;     /* received and not yet consumed, highest */
	size_t unconsumed;
	int writable;
} ht_end_t;

typedef struct ht_srv {
	ht_end_t ends[HT_MAX];
	int n;
	bool echo;                 /* answer at on_end */
	bool consume;              /* consume at once */
	int closed_conns;
} ht_srv_t;

static void ht_end_init(ht_end_t *e)
{
	memset(e, 0, sizeof(*e));
	weft_buf_init(&e->body, 0);
	e->auto_consume = true;
	e->content_length = -2;
}

static void ht_copy(char *dst, size_t cap, weft_str_t s)
{
	snprintf(dst, cap, "%.*s", (int)s.len, s.p ? s.p : "");
}

static void ht_on_head(weft_hstream_t *s, const weft_http_head_t *h, bool end)
{
	ht_end_t *e = s->ud;
	const weft_hdr_t *x = weft_http_hdr(h, "x-test");

	assert_false(e->head);
	e->head = true;
	e->head_end = end;
	e->status = h->status;
	e->content_length = h->content_length;
	ht_copy(e->method, sizeof(e->method), h->method);
	ht_copy(e->path, sizeof(e->path), h->path);
	ht_copy(e->authority, sizeof(e->authority), h->authority);
	if (x)
		ht_copy(e->hdr_x, sizeof(e->hdr_x), x->value);
	for (size_t i = 0; i < h->nhdrs; i++) {
		assert_true(h->hdrs[i].name.len > 0);
		assert_true(h->hdrs[i].name.p[0] != ':');
		assert_false(weft_hdr_is(h->hdrs[i].name, "connection"));
	}
}

static void ht_on_data(weft_hstream_t *s, const uint8_t *p, size_t n)
{
	ht_end_t *e = s->ud;

	assert_true(e->head);
	assert_false(e->ended);
	assert_int_equal(weft_buf_append(&e->body, p, n), 0);
	e->unconsumed += n;
	if (e->unconsumed > e->max_unconsumed)
		e->max_unconsumed = e->unconsumed;
	if (e->auto_consume) {
		s->ops->consumed(s, n);
		e->unconsumed -= n;
	}
}

static void ht_on_trailers(weft_hstream_t *s, const weft_hdr_t *t, size_t n)
{
	ht_end_t *e = s->ud;

	e->ntrailers = (int)n;
	if (n)
		snprintf(e->trailer, sizeof(e->trailer), "%.*s=%.*s", (int)t[0].name.len, t[0].name.p,
			 (int)t[0].value.len, t[0].value.p);
}

static void ht_on_end(weft_hstream_t *s)
{
	ht_end_t *e = s->ud;
	assert_false(e->ended);
	e->ended = true;
}

static void ht_on_writable(weft_hstream_t *s)
{
	ht_end_t *e = s->ud;
	e->writable++;
}

static void ht_on_close(weft_hstream_t *s, weft_hs_err_t err)
{
	ht_end_t *e = s->ud;
	assert_false(e->closed);
	e->closed = true;
	e->err = err;
	e->s = NULL;
}

static const weft_hstream_cbs_t ht_cbs = { ht_on_head, ht_on_data, ht_on_trailers, ht_on_end,
					   ht_on_writable, ht_on_close };

/* Server owner: answers at on_end with 200, the request body, and a
 * "grpc-status: 0" trailer when the request had trailers. */
static void ht_answer(ht_end_t *e)
{
	weft_hdr_t hd[1] = { { WEFT_STR_LIT("x-test"), WEFT_STR_LIT("answer") } };
	weft_http_head_t h = { .ver = WEFT_HTTP_2, .status = 200, .nhdrs = 1, .hdrs = hd,
			       .content_length = -1 };
	size_t n = weft_buf_len(&e->body);
	weft_hdr_t t[1] = { { WEFT_STR_LIT("grpc-status"), WEFT_STR_LIT("0") } };

	assert_int_equal(e->s->ops->send_head(e->s, &h, n == 0 && !e->ntrailers), WEFT_OK);
	if (n)
		assert_int_equal(e->s->ops->send_data(e->s, weft_buf_head(&e->body), n, !e->ntrailers),
				 (ssize_t)n);
	if (e->ntrailers)
		assert_int_equal(e->s->ops->send_trailers(e->s, t, 1), WEFT_OK);
}

static void ht_srv_end(weft_hstream_t *s)
{
	ht_end_t *e = s->ud;
	ht_on_end(s);
	if (((ht_srv_t *)e->s->hc->ud)->echo)
		ht_answer(e);
}

static const weft_hstream_cbs_t ht_srv_cbs = { ht_on_head, ht_on_data, ht_on_trailers, ht_srv_end,
					       ht_on_writable, ht_on_close };

static void ht_on_stream(weft_hconn_t *hc, weft_hstream_t *s)
{
	ht_srv_t *srv = hc->ud;
	ht_end_t *e;

	assert_true(srv->n < HT_MAX);
	e = &srv->ends[srv->n++];
	ht_end_init(e);
	e->auto_consume = srv->consume;
	e->s = s;
	s->cbs = &ht_srv_cbs;
	s->ud = e;
}

static void ht_srv_conn_close(weft_hconn_t *hc)
{
	((ht_srv_t *)hc->ud)->closed_conns++;
}

static const weft_hconn_cbs_t ht_srv_conn_cbs = { ht_on_stream, NULL, NULL, ht_srv_conn_close };

static void ht_srv_free(ht_srv_t *srv)
{
	for (int i = 0; i < srv->n; i++)
		weft_buf_free(&srv->ends[i].body);
}

/* Sends a request on a client stream: GET without body, else POST with
 * body (and a trailer when trailers). */
static void ht_request(weft_hstream_t *s, const char *path, const void *body, size_t n,
		       bool trailers)
{
	weft_hdr_t hd[3] = { { WEFT_STR_LIT("X-Test"), WEFT_STR_LIT("hello") },
			     { WEFT_STR_LIT("connection"), WEFT_STR_LIT("keep-alive") },
			     { WEFT_STR_LIT("te"), WEFT_STR_LIT("trailers") } };
	weft_http_head_t h = { .ver = WEFT_HTTP_2, .method = weft_str_c(n ? "POST" : "GET"),
			       .scheme = WEFT_STR_LIT("http"), .authority = WEFT_STR_LIT("svc.test"),
			       .path = weft_str_c(path), .nhdrs = 3, .hdrs = hd,
			       .content_length = -1 };
	weft_hdr_t t[1] = { { WEFT_STR_LIT("x-sum"), WEFT_STR_LIT("42") } };

	assert_int_equal(s->ops->send_head(s, &h, n == 0 && !trailers), WEFT_OK);
	if (n)
		assert_int_equal(s->ops->send_data(s, body, n, !trailers), (ssize_t)n);
	if (trailers)
		assert_int_equal(s->ops->send_trailers(s, t, 1), WEFT_OK);
}

static inline bool ht_closed(void *p) { return ((ht_end_t *)p)->closed; }
static inline bool ht_true(void *p) { return *(bool *)p; }

#endif
