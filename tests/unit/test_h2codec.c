/* Unit tests for the HTTP/2 codec (src/proto/h2codec.c): a client codec
 * and a server codec over a socketpair in one loop, and hand-made frames
 * (an nghttp2 session of the test's own, or raw bytes) for the abuse
 * bounds. Loops run until a condition holds; the 20 s cap only turns a
 * hang into a failure. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <nghttp2/nghttp2.h>
#include "weft/buf.h"
#include "weft/http.h"
#include "weft/log.h"
#include "weft/loop.h"
#include "weft/net.h"
#include "weft/str.h"
#include "loop_test_util.h"
static int (*const unused_dial)(uint16_t) __attribute__((unused)) = ltu_dial;
#include "h2_test_util.h"

typedef struct env {
	weft_loop_t loop;
	weft_http_limits_t slim, clim;
	ht_srv_t srv;
	weft_hconn_t *shc, *chc;
	int fds[2];
	int cli_closed, cli_ready;
} env_t;

static void cli_ready(weft_hconn_t *hc) { ((env_t *)hc->ud)->cli_ready++; }
static void cli_close(weft_hconn_t *hc) { ((env_t *)hc->ud)->cli_closed++; }
static const weft_hconn_cbs_t cli_cbs = { NULL, cli_ready, NULL, cli_close };

static int setup(void **st)
{
	env_t *env = calloc(1, sizeof(*env));

	weft_log_set_level(getenv("H2DBG") ? WEFT_LOG_DEBUG : WEFT_LOG_ERR);
	assert_int_equal(weft_loop_init(&env->loop), 0);
	weft_loop_update_time(&env->loop);
	weft_http_limits_default(&env->slim);
	weft_http_limits_default(&env->clim);
	env->srv.echo = true;
	env->srv.consume = true;
	env->fds[0] = env->fds[1] = -1;
	*st = env;
	return 0;
}

static int teardown(void **st)
{
	env_t *env = *st;

	if (env->chc)
		env->chc->ops->close(env->chc);
	if (env->shc && !env->srv.closed_conns)
		env->shc->ops->close(env->shc);
	ht_srv_free(&env->srv);
	weft_loop_destroy(&env->loop);
	free(env);
	return 0;
}

/* The server codec on one end of a socketpair; the other end returned. */
static int server_only(env_t *env)
{
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
	env->shc = weft_h2_server_new(&env->loop, sv[0], &weft_xprt_raw, NULL, &env->slim,
				      &ht_srv_conn_cbs, &env->srv, "test-h2-srv");
	assert_non_null(env->shc);
	return sv[1];
}

static void pair(env_t *env)
{
	int fd = server_only(env);

	env->chc = weft_h2_client_new(&env->loop, fd, &weft_xprt_raw, NULL, &env->clim, &cli_cbs,
				      env, "test-h2-cli");
	assert_non_null(env->chc);
}

static void run_until(env_t *env, bool (*cond)(void *), void *arg) __attribute__((unused));
static void run_until(env_t *env, bool (*cond)(void *), void *arg)
{
	ltu_run_until(&env->loop, cond, arg);
}

static bool int_pos(void *p) { return *(int *)p > 0; }

/* ---- basic exchanges ---- */

static void test_get(void **st)
{
	env_t *env = *st;
	ht_end_t c;
	ht_end_t *s;

	pair(env);
	ht_end_init(&c);
	assert_true(env->chc->ops->can_open(env->chc));
	c.s = env->chc->ops->open(env->chc, &ht_cbs, &c);   /* before SETTINGS: fine */
	assert_non_null(c.s);
	ht_request(c.s, "/a?b=1", NULL, 0, false);
	run_until(env, ht_closed, &c);
	assert_int_equal(c.err, WEFT_HS_OK);
	assert_int_equal(c.status, 200);
	assert_true(c.head_end);
	assert_true(c.ended);
	assert_string_equal(c.hdr_x, "answer");
	assert_int_equal(env->cli_ready, 1);
	assert_int_equal(env->srv.n, 1);
	s = &env->srv.ends[0];
	assert_string_equal(s->method, "GET");
	assert_string_equal(s->path, "/a?b=1");
	assert_string_equal(s->authority, "svc.test");
	assert_string_equal(s->hdr_x, "hello");   /* sent as X-Test: lowercased */
	assert_true(s->head_end);
	run_until(env, ht_closed, s);
	assert_int_equal(s->err, WEFT_HS_OK);
	assert_int_equal(env->chc->nstreams, 0);
	assert_int_equal(env->chc->ver, WEFT_HTTP_2);
	weft_buf_free(&c.body);
}

static void test_post_trailers(void **st)
{
	env_t *env = *st;
	ht_end_t c, d;
	static uint8_t big[200000];
	ht_end_t *s;

	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 31);
	pair(env);
	ht_end_init(&c);
	ht_end_init(&d);
	c.s = env->chc->ops->open(env->chc, &ht_cbs, &c);
	ht_request(c.s, "/grpc.Svc/Do", "ping-body", 9, true);
	d.s = env->chc->ops->open(env->chc, &ht_cbs, &d);
	ht_request(d.s, "/big", big, sizeof(big), false);
	run_until(env, ht_closed, &c);
	run_until(env, ht_closed, &d);
	assert_int_equal(c.err, WEFT_HS_OK);
	assert_int_equal(weft_buf_len(&c.body), 9);
	assert_memory_equal(weft_buf_head(&c.body), "ping-body", 9);
	assert_int_equal(c.ntrailers, 1);
	assert_string_equal(c.trailer, "grpc-status=0");
	assert_int_equal(d.err, WEFT_HS_OK);
	assert_int_equal(d.ntrailers, 0);
	assert_int_equal(weft_buf_len(&d.body), sizeof(big));
	assert_memory_equal(weft_buf_head(&d.body), big, sizeof(big));
	s = env->srv.ends[0].ntrailers ? &env->srv.ends[0] : &env->srv.ends[1];
	assert_string_equal(s->trailer, "x-sum=42");
	assert_string_equal(s->method, "POST");
	weft_buf_free(&c.body);
	weft_buf_free(&d.body);
}

/* ---- flow control ---- */

typedef struct slow {
	env_t *env;
	ht_end_t c;
	size_t total, sent, checked;
	weft_timer_t tick;
	uint8_t chunk[16384];
} slow_t;

static slow_t *g_slow;

static void slow_pump(slow_t *w)
{
	while (w->sent < w->total) {
		size_t n = w->total - w->sent < sizeof(w->chunk) ? w->total - w->sent : sizeof(w->chunk);
		ssize_t r;
		for (size_t i = 0; i < n; i++)
			w->chunk[i] = (uint8_t)((w->sent + i) * 7);
		r = w->c.s->ops->send_data(w->c.s, w->chunk, n, w->sent + n == w->total);
		if (r == WEFT_EAGAIN)
			return;
		assert_int_equal(r, (ssize_t)n);
		w->sent += n;
	}
}

static void slow_writable(weft_hstream_t *s)
{
	g_slow->c.writable++;
	slow_pump(g_slow);
}

static const weft_hstream_cbs_t slow_cbs = { ht_on_head, ht_on_data, ht_on_trailers, ht_on_end,
					     slow_writable, ht_on_close };

/* the slow consumer: checks and passes on 8 KiB per tick */
static void slow_tick(weft_loop_t *l, weft_timer_t *t)
{
	slow_t *w = t->data;
	ht_end_t *s = w->env->srv.n ? &w->env->srv.ends[0] : NULL;

	if (s && s->s && s->unconsumed) {
		size_t n = s->unconsumed < 8192 ? s->unconsumed : 8192;
		for (size_t i = 0; i < n; i++)
			if (weft_buf_head(&s->body)[w->checked + i] != (uint8_t)((w->checked + i) * 7))
				fail_msg("byte %zu differs", w->checked + i);
		w->checked += n;
		s->unconsumed -= n;
		s->s->ops->consumed(s->s, n);
	}
	weft_timer_start(l, t, 1);
}

static bool slow_done(void *p)
{
	slow_t *w = p;
	return w->checked == w->total && w->env->srv.n && w->env->srv.ends[0].ended;
}

static void test_flow_control(void **st)
{
	env_t *env = *st;
	slow_t *w = calloc(1, sizeof(*w));
	weft_http_head_t h = { .ver = WEFT_HTTP_2, .method = WEFT_STR_LIT("POST"),
			       .path = WEFT_STR_LIT("/up"), .authority = WEFT_STR_LIT("x"),
			       .content_length = -1 };

	g_slow = w;
	w->env = env;
	w->total = 1u << 20;
	env->srv.consume = false;
	env->srv.echo = false;
	env->slim.stream_window = 65535;
	env->slim.conn_window = 65535;
	env->clim.stream_out_max = 32768;
	pair(env);
	ht_end_init(&w->c);
	w->c.s = env->chc->ops->open(env->chc, &slow_cbs, &w->c);
	assert_int_equal(w->c.s->ops->send_head(w->c.s, &h, false), WEFT_OK);
	slow_pump(w);
	assert_true(w->sent < w->total);   /* the send buffer is bounded */
	weft_timer_init(&w->tick, slow_tick, w);
	weft_timer_start(&env->loop, &w->tick, 1);
	run_until(env, slow_done, w);
	weft_timer_stop(&env->loop, &w->tick);
	/* the receiver never held more than its window unconsumed */
	assert_true(env->srv.ends[0].max_unconsumed <= 65535);
	assert_true(w->c.writable > 0);
	assert_int_equal(weft_buf_len(&env->srv.ends[0].body), w->total);
	/* answer, then both ends close cleanly */
	{
		weft_http_head_t r = { .ver = WEFT_HTTP_2, .status = 204, .content_length = -1 };
		ht_end_t *s = &env->srv.ends[0];
		assert_int_equal(s->s->ops->send_head(s->s, &r, true), WEFT_OK);
		run_until(env, ht_closed, &w->c);
		assert_int_equal(w->c.status, 204);
		assert_int_equal(w->c.err, WEFT_HS_OK);
	}
	weft_buf_free(&w->c.body);
	free(w);
}

/* ---- concurrency, refusal, GOAWAY ---- */

typedef struct many {
	ht_end_t *v;
	int n;
} many_t;

static bool all_closed(void *p)
{
	many_t *m = p;
	for (int i = 0; i < m->n; i++)
		if (!m->v[i].closed)
			return false;
	return true;
}

static void test_many_streams(void **st)
{
	env_t *env = *st;
	ht_end_t *v = calloc(100, sizeof(*v));
	many_t m = { v, 100 };
	char path[32], body[32];

	pair(env);
	for (int i = 0; i < 100; i++) {
		ht_end_init(&v[i]);
		v[i].s = env->chc->ops->open(env->chc, &ht_cbs, &v[i]);
		assert_non_null(v[i].s);
		snprintf(path, sizeof(path), "/s/%d", i);
		snprintf(body, sizeof(body), "body-%d", i);
		ht_request(v[i].s, path, body, strlen(body), i % 2);
	}
	run_until(env, all_closed, &m);
	for (int i = 0; i < 100; i++) {
		snprintf(body, sizeof(body), "body-%d", i);
		assert_int_equal(v[i].err, WEFT_HS_OK);
		assert_int_equal(weft_buf_len(&v[i].body), strlen(body));
		assert_memory_equal(weft_buf_head(&v[i].body), body, strlen(body));
		assert_int_equal(v[i].ntrailers, i % 2);
		weft_buf_free(&v[i].body);
	}
	assert_int_equal(env->srv.n, 100);
	free(v);
}

static bool six_closed(void *p)
{
	ht_end_t *v = p;
	int n = 0;

	for (int i = 0; i < 10; i++)
		n += v[i].closed;
	return n >= 6;
}

static void test_refused(void **st)
{
	env_t *env = *st;
	ht_end_t v[10], extra;
	many_t m = { v, 10 };
	int refused = 0, ok = 0;

	/* the client believes 10 fit until it sees the server's SETTINGS */
	env->slim.max_streams = 4;
	env->clim.max_streams = 10;
	env->srv.echo = false;
	{
		/* the client's requests are on the wire before the server
		 * codec even starts */
		int sv[2];
		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
		env->chc = weft_h2_client_new(&env->loop, sv[1], &weft_xprt_raw, NULL, &env->clim,
					      &cli_cbs, env, "test-h2-cli");
		for (int i = 0; i < 10; i++) {
			ht_end_init(&v[i]);
			v[i].s = env->chc->ops->open(env->chc, &ht_cbs, &v[i]);
			assert_non_null(v[i].s);
			ht_request(v[i].s, "/", NULL, 0, false);
		}
		for (int i = 0; i < 5; i++)
			weft_loop_once(&env->loop, 1);
		env->shc = weft_h2_server_new(&env->loop, sv[0], &weft_xprt_raw, NULL, &env->slim,
					      &ht_srv_conn_cbs, &env->srv, "test-h2-srv");
	}
	run_until(env, int_pos, &env->cli_ready);
	run_until(env, six_closed, v);
	assert_int_equal(env->srv.n, 4);
	/* the server's limit is known now: no room for a fifth */
	assert_false(env->chc->ops->can_open(env->chc));
	ht_end_init(&extra);
	assert_null(env->chc->ops->open(env->chc, &ht_cbs, &extra));
	for (int i = 0; i < 4; i++)
		ht_answer(&env->srv.ends[i]);
	run_until(env, all_closed, &m);
	for (int i = 0; i < 10; i++) {
		refused += v[i].err == WEFT_HS_REFUSED;
		ok += v[i].err == WEFT_HS_OK;
		weft_buf_free(&v[i].body);
	}
	assert_int_equal(refused, 6);
	assert_int_equal(ok, 4);
	assert_true(env->chc->ops->can_open(env->chc));
	weft_buf_free(&extra.body);
}

static void test_goaway(void **st)
{
	env_t *env = *st;
	ht_end_t a, b;

	env->srv.echo = false;
	pair(env);
	ht_end_init(&a);
	ht_end_init(&b);
	a.s = env->chc->ops->open(env->chc, &ht_cbs, &a);
	ht_request(a.s, "/", NULL, 0, false);
	run_until(env, int_pos, &env->srv.n);
	env->shc->ops->goaway(env->shc);
	run_until(env, ht_true, &env->chc->closing);
	assert_false(env->chc->ops->can_open(env->chc));
	assert_null(env->chc->ops->open(env->chc, &ht_cbs, &b));
	/* the open stream still completes, then both connections close */
	ht_answer(&env->srv.ends[0]);
	run_until(env, ht_closed, &a);
	assert_int_equal(a.err, WEFT_HS_OK);
	assert_int_equal(a.status, 200);
	run_until(env, int_pos, &env->cli_closed);
	run_until(env, int_pos, &env->srv.closed_conns);
	env->chc = NULL;
	weft_buf_free(&a.body);
	weft_buf_free(&b.body);
}

static void test_reset_and_close(void **st)
{
	env_t *env = *st;
	ht_end_t a, b, c;

	env->srv.echo = false;
	pair(env);
	ht_end_init(&a);
	ht_end_init(&b);
	ht_end_init(&c);
	a.s = env->chc->ops->open(env->chc, &ht_cbs, &a);
	b.s = env->chc->ops->open(env->chc, &ht_cbs, &b);
	c.s = env->chc->ops->open(env->chc, &ht_cbs, &c);
	ht_request(a.s, "/a", "x", 1, false);
	ht_request(b.s, "/b", NULL, 0, false);
	/* c never sends its head: a reset is local */
	run_until(env, int_pos, &env->srv.n);
	while (env->srv.n < 2)
		weft_loop_once(&env->loop, 10);
	a.s->ops->reset(a.s, WEFT_HS_CANCEL);
	c.s->ops->reset(c.s, WEFT_HS_CANCEL);
	assert_false(a.closed);   /* on_close comes from the loop */
	run_until(env, ht_closed, &a);
	run_until(env, ht_closed, &c);
	assert_int_equal(a.err, WEFT_HS_CANCEL);
	assert_int_equal(c.err, WEFT_HS_CANCEL);
	{
		ht_end_t *sa = !strcmp(env->srv.ends[0].path, "/a") ? &env->srv.ends[0] : &env->srv.ends[1];
		ht_end_t *sb = sa == &env->srv.ends[0] ? &env->srv.ends[1] : &env->srv.ends[0];
		run_until(env, ht_closed, sa);
		assert_int_equal(sa->err, WEFT_HS_RESET);
		/* the server resets b: the client sees RESET */
		sb->s->ops->reset(sb->s, WEFT_HS_CANCEL);
		run_until(env, ht_closed, &b);
		assert_int_equal(b.err, WEFT_HS_RESET);
	}
	/* closing the connection closes what is left */
	{
		ht_end_t d;
		ht_end_init(&d);
		d.s = env->chc->ops->open(env->chc, &ht_cbs, &d);
		ht_request(d.s, "/d", NULL, 0, false);
		env->chc->ops->close(env->chc);
		env->chc = NULL;
		assert_true(d.closed);
		assert_int_equal(d.err, WEFT_HS_CONN_CLOSED);
		assert_int_equal(env->cli_closed, 1);
		run_until(env, int_pos, &env->srv.closed_conns);
		weft_buf_free(&d.body);
	}
	weft_buf_free(&a.body);
	weft_buf_free(&b.body);
	weft_buf_free(&c.body);
}

/* A request reset while its HEADERS still wait in nghttp2's queue (it
 * has a stream id, the session no stream yet): the stream must stay
 * alive until nghttp2 has dropped the HEADERS and its body source, else
 * the next write reads the freed stream (found by ASan under L7 abuse). */
static void test_reset_queued_request(void **st)
{
	env_t *env = *st;
	ht_end_t a, b;

	pair(env);
	ht_end_init(&a);
	ht_end_init(&b);
	a.s = env->chc->ops->open(env->chc, &ht_cbs, &a);
	{
		weft_http_head_t h = { .ver = WEFT_HTTP_2, .method = WEFT_STR_LIT("POST"),
				       .scheme = WEFT_STR_LIT("http"), .authority = WEFT_STR_LIT("svc.test"),
				       .path = WEFT_STR_LIT("/queued"), .content_length = -1 };
		/* a body to come: nghttp2 holds a data source pointing at the stream */
		assert_int_equal(a.s->ops->send_head(a.s, &h, false), WEFT_OK);
	}
	assert_int_not_equal(a.s->id, 0);
	a.s->ops->reset(a.s, WEFT_HS_CANCEL);           /* nothing was written yet */
	run_until(env, ht_closed, &a);
	assert_int_equal(a.err, WEFT_HS_CANCEL);
	/* the connection still works, and the reset request never arrived */
	b.s = env->chc->ops->open(env->chc, &ht_cbs, &b);
	ht_request(b.s, "/after", NULL, 0, true);
	run_until(env, ht_closed, &b);
	assert_int_equal(b.err, WEFT_HS_OK);
	assert_int_equal(b.status, 200);
	assert_int_equal(env->srv.n, 1);
	assert_string_equal(env->srv.ends[0].path, "/after");
	weft_buf_free(&a.body);
	weft_buf_free(&b.body);
}

static void test_sniff_and_preface(void **st)
{
	env_t *env = *st;
	static const char pri[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
	int fd;

	assert_int_equal(weft_h2_sniff((const uint8_t *)pri, 24), 1);
	assert_int_equal(weft_h2_sniff((const uint8_t *)pri, 10), WEFT_EAGAIN);
	assert_int_equal(weft_h2_sniff((const uint8_t *)"GET / HTTP/1.1\r\n", 16), 0);
	assert_int_equal(weft_h2_sniff((const uint8_t *)"", 0), WEFT_EAGAIN);
	/* garbage instead of the preface: closed */
	fd = server_only(env);
	assert_int_equal(write(fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27), 27);
	run_until(env, int_pos, &env->srv.closed_conns);
	close(fd);
	/* silence: closed after the head timeout */
	env->srv.closed_conns = 0;
	env->slim.head_timeout_ms = 50;
	fd = server_only(env);
	run_until(env, int_pos, &env->srv.closed_conns);
	assert_int_equal(env->srv.n, 0);
	close(fd);
}

/* ---- abuse: hand-made frames ---- */

/* The test's own nghttp2 client: what it sends goes to fd raw; what it
 * reads back is parsed to find the server's GOAWAY. */
typedef struct raw {
	nghttp2_session *sess;
	int fd;
	int goaway;                /* error code + 1 once seen */
	size_t sent;
} raw_t;

static int raw_frame_recv(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
	raw_t *r = ud;
	if (f->hd.type == NGHTTP2_GOAWAY)
		r->goaway = (int)f->goaway.error_code + 1;
	return 0;
}

static void raw_init(raw_t *r, int fd)
{
	nghttp2_session_callbacks *cbs;
	nghttp2_option *opt;

	memset(r, 0, sizeof(*r));
	r->fd = fd;
	assert_int_equal(nghttp2_session_callbacks_new(&cbs), 0);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, raw_frame_recv);
	nghttp2_option_new(&opt);
	nghttp2_option_set_no_http_messaging(opt, 1);
	assert_int_equal(nghttp2_session_client_new2(&r->sess, cbs, r, opt), 0);
	nghttp2_option_del(opt);
	nghttp2_session_callbacks_del(cbs);
	assert_int_equal(nghttp2_submit_settings(r->sess, 0, NULL, 0), 0);
}

/* Writes bytes, running the loop while the socket is full; gives up
 * (returns false) once the peer closed. */
static bool raw_write(env_t *env, raw_t *r, const void *p, size_t n)
{
	size_t off = 0;
	uint64_t start = weft_loop_update_time(&env->loop);

	while (off < n) {
		ssize_t w = send(r->fd, (const char *)p + off, n - off, MSG_NOSIGNAL);
		if (w > 0) {
			off += (size_t)w;
			r->sent += (size_t)w;
		} else if (w < 0 && errno != EAGAIN) {
			return false;
		} else {
			weft_loop_once(&env->loop, 5);
			if (env->loop.now_ms - start > 20000)
				fail_msg("peer neither reads nor closes");
		}
	}
	return true;
}

static bool raw_flush(env_t *env, raw_t *r)
{
	const uint8_t *d;
	ssize_t n;

	while ((n = nghttp2_session_mem_send(r->sess, &d)) > 0)
		if (!raw_write(env, r, d, (size_t)n))
			return false;
	return true;
}

/* Reads what the server wrote (after it closed) and parses it. */
static void raw_read_all(raw_t *r)
{
	uint8_t buf[16384];
	ssize_t n;

	while ((n = recv(r->fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
		nghttp2_session_mem_recv(r->sess, buf, (size_t)n);
}

static void raw_done(raw_t *r)
{
	nghttp2_session_del(r->sess);
	close(r->fd);
}

static void test_rapid_reset(void **st)
{
	env_t *env = *st;
	raw_t r;
	nghttp2_nv nv[4] = {
		{ (uint8_t *)":method", (uint8_t *)"GET", 7, 3, 0 },
		{ (uint8_t *)":scheme", (uint8_t *)"http", 7, 4, 0 },
		{ (uint8_t *)":authority", (uint8_t *)"x", 10, 1, 0 },
		{ (uint8_t *)":path", (uint8_t *)"/", 5, 1, 0 },
	};

	env->srv.echo = false;
	env->slim.max_resets_per_s = 50;
	raw_init(&r, server_only(env));
	for (int i = 0; i < 2000 && !env->srv.closed_conns; i++) {
		int32_t sid = nghttp2_submit_request(r.sess, NULL, nv, 4, NULL, NULL);
		assert_true(sid > 0);
		if (!raw_flush(env, &r))   /* the HEADERS leave before their RST */
			break;
		nghttp2_submit_rst_stream(r.sess, 0, sid, NGHTTP2_CANCEL);
		if (!raw_flush(env, &r))
			break;
		if (i % 20 == 19)
			weft_loop_once(&env->loop, 0);
	}
	run_until(env, int_pos, &env->srv.closed_conns);
	raw_read_all(&r);
	assert_int_equal(r.goaway, NGHTTP2_ENHANCE_YOUR_CALM + 1);
	/* every stream it had opened was closed with the connection */
	for (int i = 0; i < env->srv.n; i++)
		assert_true(env->srv.ends[i].closed);
	raw_done(&r);
}

/* frame header */
static size_t fh(uint8_t *p, size_t len, uint8_t type, uint8_t flags, uint32_t sid)
{
	p[0] = (uint8_t)(len >> 16);
	p[1] = (uint8_t)(len >> 8);
	p[2] = (uint8_t)len;
	p[3] = type;
	p[4] = flags;
	p[5] = (uint8_t)(sid >> 24);
	p[6] = (uint8_t)(sid >> 16);
	p[7] = (uint8_t)(sid >> 8);
	p[8] = (uint8_t)sid;
	return 9;
}

static void test_continuation_flood(void **st)
{
	env_t *env = *st;
	raw_t r;
	uint8_t fr[16];
	int other = server_only(env);   /* a second connection: unaffected */
	weft_hconn_t *second = env->shc;
	ht_end_t c;

	env->chc = weft_h2_client_new(&env->loop, other, &weft_xprt_raw, NULL, &env->clim, &cli_cbs,
				      env, "test-h2-cli");
	raw_init(&r, server_only(env));
	assert_true(raw_flush(env, &r));   /* preface + SETTINGS */
	/* HEADERS without END_HEADERS, then CONTINUATION after CONTINUATION */
	fh(fr, 1, NGHTTP2_HEADERS, NGHTTP2_FLAG_END_STREAM, 1);
	fr[9] = 0x82;   /* :method GET (static table) */
	assert_true(raw_write(env, &r, fr, 10));
	for (int i = 0; i < 1000 && !env->srv.closed_conns; i++) {
		fh(fr, 5, NGHTTP2_CONTINUATION, 0, 1);
		memcpy(fr + 9, "\x00\x01x\x01y", 5);   /* x: y, literal */
		if (!raw_write(env, &r, fr, 14))
			break;
		weft_loop_once(&env->loop, 0);
	}
	run_until(env, int_pos, &env->srv.closed_conns);
	raw_read_all(&r);
	assert_int_equal(r.goaway, NGHTTP2_ENHANCE_YOUR_CALM + 1);
	assert_true(r.sent < 1000 * 14);   /* it stopped early */
	assert_int_equal(env->srv.n, 0);
	raw_done(&r);
	/* the other connection still serves */
	ht_end_init(&c);
	c.s = env->chc->ops->open(env->chc, &ht_cbs, &c);
	ht_request(c.s, "/", NULL, 0, false);
	run_until(env, ht_closed, &c);
	assert_int_equal(c.err, WEFT_HS_OK);
	env->shc = second;
	env->srv.closed_conns = 0;   /* teardown closes the second */
	weft_buf_free(&c.body);
}

static void test_hpack_bomb(void **st)
{
	env_t *env = *st;
	raw_t r;
	uint8_t *fr = malloc(20000);
	size_t n = 9;

	raw_init(&r, server_only(env));
	assert_true(raw_flush(env, &r));
	/* one 4000-byte literal added to the dynamic table, then 12,000
	 * one-byte references to it: 16 KB on the wire, ~48 MB decoded */
	fr[n++] = 0x82;                       /* :method GET */
	fr[n++] = 0x84;                       /* :path / */
	fr[n++] = 0x86;                       /* :scheme http */
	fr[n++] = 0x40;                       /* literal, incremental indexing, new name */
	fr[n++] = 0x01;
	fr[n++] = 'x';
	fr[n++] = 0x7f;                       /* value length 4000: 127 + 3873 */
	fr[n++] = (uint8_t)(0x80 | ((4000 - 127) & 0x7f));
	fr[n++] = (uint8_t)((4000 - 127) >> 7);
	memset(fr + n, 'a', 4000);
	n += 4000;
	memset(fr + n, 0xbe, 12000);          /* indexed: dynamic entry 62 */
	n += 12000;
	fh(fr, n - 9, NGHTTP2_HEADERS, NGHTTP2_FLAG_END_STREAM | NGHTTP2_FLAG_END_HEADERS, 1);
	raw_write(env, &r, fr, n);
	run_until(env, int_pos, &env->srv.closed_conns);
	raw_read_all(&r);
	assert_int_equal(r.goaway, NGHTTP2_ENHANCE_YOUR_CALM + 1);
	assert_int_equal(env->srv.n, 0);
	raw_done(&r);
	free(fr);
}

static void test_ping_flood(void **st)
{
	env_t *env = *st;
	raw_t r;
	uint8_t fr[17];
	int i;

	raw_init(&r, server_only(env));
	assert_true(raw_flush(env, &r));
	/* PINGs, never reading the ACKs */
	for (i = 0; i < 100000 && !env->srv.closed_conns; i++) {
		fh(fr, 8, NGHTTP2_PING, 0, 0);
		memset(fr + 9, i & 0xff, 8);
		if (!raw_write(env, &r, fr, sizeof(fr)))
			break;
		if (i % 50 == 0)
			weft_loop_once(&env->loop, 0);
	}
	run_until(env, int_pos, &env->srv.closed_conns);
	assert_true(i < 100000);
	raw_read_all(&r);
	assert_int_equal(r.goaway, NGHTTP2_ENHANCE_YOUR_CALM + 1);
	raw_done(&r);
}

static void test_big_head(void **st)
{
	env_t *env = *st;
	ht_end_t c;
	static char val[3000];
	weft_hdr_t hd[8];
	weft_http_head_t h = { .ver = WEFT_HTTP_2, .method = WEFT_STR_LIT("GET"),
			       .path = WEFT_STR_LIT("/"), .authority = WEFT_STR_LIT("x"),
			       .nhdrs = 8, .hdrs = hd, .content_length = -1 };

	/* a head beyond max_head (but within the abuse bound): 431, the
	 * connection stays */
	memset(val, 'v', sizeof(val));
	for (int i = 0; i < 8; i++)
		hd[i] = (weft_hdr_t){ WEFT_STR_LIT("x-big"), { val, sizeof(val) } };
	env->slim.max_head = 8192;
	pair(env);
	ht_end_init(&c);
	c.s = env->chc->ops->open(env->chc, &ht_cbs, &c);
	assert_int_equal(c.s->ops->send_head(c.s, &h, true), WEFT_OK);
	run_until(env, ht_closed, &c);
	assert_int_equal(c.status, 431);
	assert_int_equal(env->srv.n, 0);
	assert_int_equal(env->srv.closed_conns, 0);
	weft_buf_free(&c.body);
	/* a request whose :authority and host disagree: 400 */
	{
		weft_hdr_t hh[1] = { { WEFT_STR_LIT("host"), WEFT_STR_LIT("other") } };
		ht_end_t d;
		nghttp2_nv nv[5] = {
			{ (uint8_t *)":method", (uint8_t *)"GET", 7, 3, 0 },
			{ (uint8_t *)":scheme", (uint8_t *)"http", 7, 4, 0 },
			{ (uint8_t *)":authority", (uint8_t *)"x", 10, 1, 0 },
			{ (uint8_t *)":path", (uint8_t *)"/", 5, 1, 0 },
			{ (uint8_t *)"host", (uint8_t *)"other", 4, 5, 0 },
		};
		raw_t r;
		(void)hh;
		(void)d;
		env->chc->ops->close(env->chc);   /* the first pair goes */
		env->chc = NULL;
		run_until(env, int_pos, &env->srv.closed_conns);
		env->srv.closed_conns = 0;
		raw_init(&r, server_only(env));
		nghttp2_submit_request(r.sess, NULL, nv, 5, NULL, NULL);
		assert_true(raw_flush(env, &r));
		for (int i = 0; i < 50; i++)
			weft_loop_once(&env->loop, 2);
		{
			uint8_t buf[4096];
			ssize_t n = recv(r.fd, buf, sizeof(buf), MSG_DONTWAIT);
			bool found = false;
			assert_true(n > 0);
			/* the answer's HPACK carries :status 400 (static index 12: 0x8c) */
			for (ssize_t k = 0; k + 9 < n; k++)
				if (buf[k + 3] == NGHTTP2_HEADERS && buf[k + 9] == 0x8c)
					found = true;
			assert_true(found);
		}
		raw_done(&r);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_get, setup, teardown),
		cmocka_unit_test_setup_teardown(test_post_trailers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flow_control, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_streams, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_goaway, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset_and_close, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset_queued_request, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sniff_and_preface, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rapid_reset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_continuation_flood, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hpack_bomb, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ping_flood, setup, teardown),
		cmocka_unit_test_setup_teardown(test_big_head, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
