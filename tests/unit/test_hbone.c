/* Unit tests for the HBONE mux (src/proto/hbone.c) and pool
 * (src/proto/hbone_pool.c): a server and clients in one loop over real
 * loopback TCP (127.0.0.1, port 0). Loops run until a condition holds; a
 * generous turn/time cap only turns a hang into a failure. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <nghttp2/nghttp2.h>
#include "weft/buf.h"
#include "weft/hbone.h"
#include "weft/log.h"
#include "weft/loop.h"
#include "weft/net.h"
#include "loop_test_util.h"

#define MAXENDS 400

/* One end of a tunnel (either side) as the test's owner sees it. */
typedef struct end {
	struct env *env;
	weft_hbone_stream_t *hs;
	weft_buf_t got;
	int status;            /* on_response */
	bool eof, closed;
	uint32_t err;
	int writable;
	bool auto_consume;
	size_t max_unconsumed; /* highest hs->unconsumed seen */
	size_t max_out;        /* highest hs->out length seen (sender) */
	int srv_id;            /* server-side ends: index in env->srv */
} end_t;

typedef struct env {
	weft_loop_t loop;
	weft_listener_t lst;
	weft_hbone_limits_t slim, clim;
	weft_hbone_conn_t *sconns[8];
	int nsconns;
	end_t srv[MAXENDS];
	int nsrv;
	end_t *deferred[8];
	int ndeferred;
	int refused;           /* on_connect refusals */
	int server_destroyed;
	/* pool */
	int dials;
	bool quiet;
} env_t;

static void e_response(weft_hbone_stream_t *hs, int st)
{
	end_t *e = hs->ud;
	e->status = st;
}

static void e_data(weft_hbone_stream_t *hs, const uint8_t *p, size_t n)
{
	end_t *e = hs->ud;

	assert_int_equal(weft_buf_append(&e->got, p, n), 0);
	if (hs->unconsumed > e->max_unconsumed)
		e->max_unconsumed = hs->unconsumed;
	if (e->auto_consume)
		weft_hbone_consumed(hs, n);
}

static void e_eof(weft_hbone_stream_t *hs)
{
	end_t *e = hs->ud;
	assert_false(e->eof);
	e->eof = true;
}

static void e_writable(weft_hbone_stream_t *hs)
{
	end_t *e = hs->ud;
	e->writable++;
}

static void e_close(weft_hbone_stream_t *hs, uint32_t err)
{
	end_t *e = hs->ud;
	assert_false(e->closed);
	e->closed = true;
	e->err = err;
	e->hs = NULL;
}

static const weft_hbone_stream_cbs_t end_cbs = { e_response, e_data, e_eof, e_writable, e_close };

static void end_init(end_t *e, env_t *env)
{
	memset(e, 0, sizeof(*e));
	e->env = env;
	weft_buf_init(&e->got, 0);
	e->auto_consume = true;
}

/* port 1000..1999: accept; 2000: defer; 3000: refuse 503 */
static int on_connect(weft_hbone_conn_t *hc, weft_hbone_stream_t *hs)
{
	env_t *env = hc->ud;
	uint16_t port = ntohs(((struct sockaddr_in *)&hs->req.dst)->sin_port);
	end_t *e;

	if (hs->req.dst.ss_family == AF_INET6)
		port = ntohs(((struct sockaddr_in6 *)&hs->req.dst)->sin6_port);
	if (port == 3000) {
		env->refused++;
		return 503;
	}
	assert_true(env->nsrv < MAXENDS);
	e = &env->srv[env->nsrv];
	end_init(e, env);
	e->srv_id = env->nsrv++;
	e->hs = hs;
	hs->cbs = &end_cbs;
	hs->ud = e;
	if (port == 2000) {
		env->deferred[env->ndeferred++] = e;
		return 0;
	}
	return 200;
}

static void srv_gone(weft_hbone_conn_t *hc)
{
	env_t *env = hc->ud;
	env->server_destroyed++;
	for (int i = 0; i < env->nsconns; i++)
		if (env->sconns[i] == hc)
			env->sconns[i] = NULL;
}

static void on_accept(weft_listener_t *l, int fd, const struct sockaddr_storage *peer, socklen_t pl)
{
	env_t *env = l->data;
	weft_hbone_conn_t *hc = weft_hbone_server_new(&env->loop, fd, &weft_xprt_raw, NULL, &env->slim,
						      on_connect, env, "test-srv");
	assert_non_null(hc);
	hc->on_destroy = srv_gone;
	assert_true(env->nsconns < 8);
	env->sconns[env->nsconns++] = hc;
}

static int setup(void **st)
{
	env_t *env = calloc(1, sizeof(*env));

	weft_log_set_level(WEFT_LOG_ERR);
	assert_int_equal(weft_loop_init(&env->loop), 0);
	weft_loop_update_time(&env->loop);
	weft_hbone_limits_default(&env->slim);
	weft_hbone_limits_default(&env->clim);
	assert_int_equal(weft_listener_start(&env->loop, &env->lst, "127.0.0.1:0", on_accept, env), 0);
	*st = env;
	return 0;
}

static int teardown(void **st)
{
	env_t *env = *st;

	for (int i = 0; i < env->nsconns; i++)
		if (env->sconns[i])
			weft_hbone_close(env->sconns[i]);
	weft_listener_stop(&env->lst);
	for (int i = 0; i < env->nsrv; i++)
		weft_buf_free(&env->srv[i].got);
	weft_loop_destroy(&env->loop);
	free(env);
	return 0;
}

/* Runs the loop until cond(arg) holds (loop_test_util.h). */
static void run_until(env_t *env, bool (*cond)(void *), void *arg)
{
	ltu_run_until(&env->loop, cond, arg);
}

static bool is_true(void *p) { return *(bool *)p; }
static bool status_set(void *p) { return ((end_t *)p)->status != 0; }
static bool closed(void *p) { return ((end_t *)p)->closed; }

static struct sockaddr_in v4(const char *ip, uint16_t port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	inet_pton(AF_INET, ip, &sa.sin_addr);
	return sa;
}

static weft_hbone_conn_t *client(env_t *env, bool *destroyed)
{
	weft_hbone_conn_t *hc = weft_hbone_client_new(&env->loop, ltu_dial(env->lst.port), &weft_xprt_raw,
						      NULL, &env->clim, destroyed, "test-cli");
	assert_non_null(hc);
	return hc;
}

static void cli_gone(weft_hbone_conn_t *hc)
{
	bool *b = hc->ud;
	if (b)
		*b = true;
}

typedef struct waitgot {
	end_t *e;
	size_t n;
} waitgot_t;

static bool got_n(void *p)
{
	waitgot_t *w = p;
	return weft_buf_len(&w->e->got) >= w->n;
}

static bool got_eof(void *p) { return ((end_t *)p)->eof; }

static void wait_got(env_t *env, end_t *e, size_t n)
{
	waitgot_t w = { e, n };
	run_until(env, got_n, &w);
}

/* ---- tests ---- */

static void test_tunnel_both_ways(void **st)
{
	env_t *env = *st;
	bool gone = false;
	weft_hbone_conn_t *hc = client(env, &gone);
	struct sockaddr_in dst = v4("127.0.0.1", 1000), src = v4("10.1.2.3", 5555);
	struct sockaddr_in6 src6 = { .sin6_family = AF_INET6 };
	end_t c, c6;
	end_t *s;

	hc->on_destroy = cli_gone;
	end_init(&c, env);
	end_init(&c6, env);
	c.hs = weft_hbone_open(hc, (struct sockaddr *)&dst, (struct sockaddr *)&src, &end_cbs, &c);
	assert_non_null(c.hs);
	inet_pton(AF_INET6, "fd00::1", &src6.sin6_addr);
	c6.hs = weft_hbone_open(hc, (struct sockaddr *)&dst, (struct sockaddr *)&src6, &end_cbs, &c6);
	assert_non_null(c6.hs);
	run_until(env, status_set, &c);
	run_until(env, status_set, &c6);
	assert_int_equal(c.status, 200);
	assert_int_equal(env->nsrv, 2);
	s = c.hs->id == env->srv[0].hs->id ? &env->srv[0] : &env->srv[1];
	/* the server saw the destination and the forwarded source */
	assert_string_equal(s->hs->req.authority, "127.0.0.1:1000");
	assert_true(s->hs->req.has_for);
	assert_int_equal(((struct sockaddr_in *)&s->hs->req.src)->sin_addr.s_addr, src.sin_addr.s_addr);
	{
		end_t *s6 = s == &env->srv[0] ? &env->srv[1] : &env->srv[0];
		assert_true(s6->hs->req.has_for);
		assert_int_equal(s6->hs->req.src.ss_family, AF_INET6);
		assert_memory_equal(&((struct sockaddr_in6 *)&s6->hs->req.src)->sin6_addr,
				    &src6.sin6_addr, 16);
	}
	/* bytes both ways */
	assert_int_equal(weft_hbone_send(c.hs, "hello", 5), 5);
	wait_got(env, s, 5);
	assert_memory_equal(weft_buf_head(&s->got), "hello", 5);
	assert_int_equal(weft_hbone_send(s->hs, "world!", 6), 6);
	wait_got(env, &c, 6);
	assert_memory_equal(weft_buf_head(&c.got), "world!", 6);
	/* client half-closes: the server sees EOF and can still send */
	weft_hbone_shutdown_write(c.hs);
	run_until(env, got_eof, s);
	assert_false(c.eof);
	assert_int_equal(weft_hbone_send(c.hs, "x", 1), WEFT_ECLOSED);
	assert_int_equal(weft_hbone_send(s->hs, "late", 4), 4);
	wait_got(env, &c, 10);
	assert_memory_equal(weft_buf_head(&c.got) + 6, "late", 4);
	assert_false(c.closed);
	/* server half-closes: both ends close cleanly */
	weft_hbone_shutdown_write(s->hs);
	run_until(env, closed, &c);
	run_until(env, closed, s);
	assert_true(c.eof);
	assert_int_equal(c.err, 0);
	assert_int_equal(s->err, 0);
	assert_int_equal(c6.status, 200);
	/* the other stream: the server half-closes first */
	s = s == &env->srv[0] ? &env->srv[1] : &env->srv[0];
	weft_hbone_shutdown_write(s->hs);
	run_until(env, got_eof, &c6);
	assert_int_equal(weft_hbone_send(c6.hs, "bye", 3), 3);
	weft_hbone_shutdown_write(c6.hs);
	run_until(env, closed, &c6);
	run_until(env, closed, s);
	assert_int_equal(c6.err, 0);
	assert_int_equal(weft_buf_len(&s->got), 3);
	assert_false(gone);
	weft_hbone_close(hc);
	assert_true(gone);
	weft_buf_free(&c.got);
	weft_buf_free(&c6.got);
}

static void test_deferred_and_refused(void **st)
{
	env_t *env = *st;
	weft_hbone_conn_t *hc = client(env, NULL);
	struct sockaddr_in d_ok = v4("127.0.0.1", 2000), d_ref = v4("127.0.0.1", 3000),
			   d_bad = v4("127.0.0.1", 0);
	struct sockaddr_in6 d6 = { .sin6_family = AF_INET6, .sin6_port = htons(1000) };
	end_t a, b, r, bad, v6;

	end_init(&a, env);
	end_init(&b, env);
	end_init(&r, env);
	end_init(&bad, env);
	end_init(&v6, env);
	inet_pton(AF_INET6, "::1", &d6.sin6_addr);
	a.hs = weft_hbone_open(hc, (struct sockaddr *)&d_ok, NULL, &end_cbs, &a);
	b.hs = weft_hbone_open(hc, (struct sockaddr *)&d_ok, NULL, &end_cbs, &b);
	r.hs = weft_hbone_open(hc, (struct sockaddr *)&d_ref, NULL, &end_cbs, &r);
	bad.hs = weft_hbone_open(hc, (struct sockaddr *)&d_bad, NULL, &end_cbs, &bad);
	v6.hs = weft_hbone_open(hc, (struct sockaddr *)&d6, NULL, &end_cbs, &v6);
	assert_non_null(a.hs);
	assert_non_null(v6.hs);
	/* refused and bad ones are answered at once, deferred ones are not */
	run_until(env, closed, &r);
	run_until(env, closed, &bad);
	run_until(env, status_set, &v6);
	assert_int_equal(v6.status, 200);
	assert_string_equal(env->srv[env->nsrv - 1].hs->req.authority, "[::1]:1000");
	assert_int_equal(r.status, 503);
	assert_int_equal(r.err, 0);
	assert_int_equal(bad.status, 400);
	assert_int_equal(env->refused, 1);
	assert_int_equal(env->ndeferred, 2);
	assert_int_equal(a.status, 0);
	assert_int_equal(b.status, 0);
	/* sends before the answer wait in the buffer */
	assert_int_equal(weft_hbone_send(a.hs, "early", 5), 5);
	assert_int_equal(weft_hbone_respond(env->deferred[0]->hs, 200), WEFT_OK);
	assert_int_equal(weft_hbone_respond(env->deferred[0]->hs, 200), WEFT_ECLOSED);
	assert_int_equal(weft_hbone_respond(env->deferred[1]->hs, 503), WEFT_OK);
	run_until(env, status_set, &a);
	run_until(env, closed, &b);
	assert_int_equal(a.status, 200);
	assert_int_equal(b.status, 503);
	wait_got(env, env->deferred[0], 5);
	run_until(env, closed, env->deferred[1]);
	assert_int_equal(env->deferred[1]->err, 0);
	weft_hbone_close(hc);
	assert_true(a.closed);
	assert_int_not_equal(a.err, 0);   /* connection gone: abortive */
	assert_true(v6.closed);
	run_until(env, closed, env->deferred[0]);
	assert_int_not_equal(env->deferred[0]->err, 0);
	for (end_t *e = &a; e; e = e == &a ? &b : e == &b ? &r : e == &r ? &bad : e == &bad ? &v6 : NULL)
		weft_buf_free(&e->got);
}

static int count_status(end_t *v, int n, int st)
{
	int k = 0;
	for (int i = 0; i < n; i++)
		k += v[i].status == st;
	return k;
}

typedef struct many {
	end_t *v;
	int n;
} many_t;

static bool all_done(void *p)
{
	many_t *m = p;
	for (int i = 0; i < m->n; i++)
		if (!m->v[i].status && !m->v[i].closed)
			return false;
	return true;
}

static void test_max_streams(void **st)
{
	env_t *env = *st;
	weft_hbone_conn_t *hc;
	struct sockaddr_in dst = v4("127.0.0.1", 1000);
	end_t *v = calloc(102, sizeof(*v));
	many_t m = { v, 101 };
	int refused = 0;
	end_t extra;

	/* the client believes 200 fit until it sees the server's SETTINGS */
	env->slim.max_streams = 100;
	env->clim.max_streams = 200;
	hc = client(env, NULL);
	for (int i = 0; i < 101; i++) {
		end_init(&v[i], env);
		v[i].hs = weft_hbone_open(hc, (struct sockaddr *)&dst, NULL, &end_cbs, &v[i]);
		assert_non_null(v[i].hs);
	}
	run_until(env, all_done, &m);
	for (int i = 0; i < 101; i++)
		if (v[i].closed && v[i].err == NGHTTP2_REFUSED_STREAM)
			refused++;
	assert_int_equal(count_status(v, 101, 200), 100);
	assert_int_equal(refused, 1);
	assert_int_equal(env->nsrv, 100);
	/* now the server's limit is known: the 101st open is refused locally */
	assert_true(hc->ready);
	end_init(&extra, env);
	assert_null(weft_hbone_open(hc, (struct sockaddr *)&dst, NULL, &end_cbs, &extra));
	/* one closes: room again */
	weft_hbone_reset(v[0].hs, NGHTTP2_CANCEL);
	assert_false(v[0].closed);   /* on_close comes later, never inside reset */
	run_until(env, closed, &v[0]);
	extra.hs = weft_hbone_open(hc, (struct sockaddr *)&dst, NULL, &end_cbs, &extra);
	assert_non_null(extra.hs);
	run_until(env, status_set, &extra);
	assert_int_equal(extra.status, 200);
	weft_hbone_close(hc);
	for (int i = 0; i < 101; i++)
		weft_buf_free(&v[i].got);
	weft_buf_free(&extra.got);
	free(v);

	/* with its own limit at 100 the client refuses the 101st itself */
	env->clim.max_streams = 100;
	hc = client(env, NULL);
	v = calloc(101, sizeof(*v));
	for (int i = 0; i < 100; i++) {
		end_init(&v[i], env);
		assert_non_null(weft_hbone_open(hc, (struct sockaddr *)&dst, NULL, &end_cbs, &v[i]));
	}
	end_init(&v[100], env);
	assert_null(weft_hbone_open(hc, (struct sockaddr *)&dst, NULL, &end_cbs, &v[100]));
	weft_hbone_close(hc);
	for (int i = 0; i < 100; i++)
		assert_true(v[i].closed);
	free(v);
}

/* ---- backpressure ---- */

typedef struct bp {
	env_t *env;
	end_t c;
	end_t *s;
	size_t total, sent, eagain;
	weft_timer_t tick;
	size_t consumed;
	size_t max_srv_unconsumed, max_cli_out, max_srv_buffered;
	unsigned char chunk[65536];
} bp_t;

static void bp_pump(bp_t *b)
{
	while (b->sent < b->total) {
		size_t n = b->total - b->sent < sizeof(b->chunk) ? b->total - b->sent : sizeof(b->chunk);
		ssize_t r;
		for (size_t i = 0; i < n; i++)
			b->chunk[i] = (unsigned char)((b->sent + i) * 7);
		r = weft_hbone_send(b->c.hs, b->chunk, n);
		if (r == WEFT_EAGAIN) {
			b->eagain++;
			break;
		}
		assert_int_equal(r, (ssize_t)n);
		b->sent += n;
		if (weft_buf_len(&b->c.hs->out) > b->max_cli_out)
			b->max_cli_out = weft_buf_len(&b->c.hs->out);
	}
	if (b->sent == b->total)
		weft_hbone_shutdown_write(b->c.hs);
}

static bp_t *g_bp;   /* the on_writable hook needs the test state */

static void bp_writable(weft_hbone_stream_t *hs)
{
	bp_pump(g_bp);
}

static const weft_hbone_stream_cbs_t bp_cbs = { e_response, e_data, e_eof, bp_writable, e_close };

/* the slow consumer: checks and passes on up to 128 KiB per tick */
static void bp_tick(weft_loop_t *l, weft_timer_t *t)
{
	bp_t *b = t->data;
	end_t *s = b->s;
	size_t n;

	if (!s || !s->hs)
		return;
	if (s->hs->unconsumed > b->max_srv_unconsumed)
		b->max_srv_unconsumed = s->hs->unconsumed;
	n = weft_buf_len(&s->got);
	if (n > b->max_srv_buffered)
		b->max_srv_buffered = n;
	if (n > 131072)
		n = 131072;
	for (size_t i = 0; i < n; i++)
		if (weft_buf_head(&s->got)[i] != (unsigned char)((b->consumed + i) * 7))
			fail_msg("byte %zu differs", b->consumed + i);
	weft_buf_consume(&s->got, n);
	b->consumed += n;
	weft_hbone_consumed(s->hs, n);
	weft_timer_start(l, t, 1);
}

static bool bp_done(void *p)
{
	bp_t *b = p;
	return b->consumed == b->total && b->s && b->s->eof;
}

static void test_backpressure(void **st)
{
	env_t *env = *st;
	bp_t *b = calloc(1, sizeof(*b));
	weft_hbone_conn_t *hc;
	struct sockaddr_in dst = v4("127.0.0.1", 1000);

	env->slim.stream_window = 256 << 10;
	env->clim.stream_out_max = 256 << 10;
	hc = client(env, NULL);
	g_bp = b;
	b->env = env;
	b->total = 64u << 20;
	end_init(&b->c, env);
	b->c.hs = weft_hbone_open(hc, (struct sockaddr *)&dst, NULL, &bp_cbs, &b->c);
	run_until(env, status_set, &b->c);
	assert_int_equal(b->c.status, 200);
	b->s = &env->srv[env->nsrv - 1];
	b->s->auto_consume = false;
	weft_timer_init(&b->tick, bp_tick, b);
	weft_timer_start(&env->loop, &b->tick, 1);
	bp_pump(b);
	run_until(env, bp_done, b);
	weft_timer_stop(&env->loop, &b->tick);
	assert_int_equal(b->consumed, b->total);
	assert_true(b->eagain > 0);               /* the sender was held back */
	/* the receiver never holds more than its window; the sender's buffer
	 * never passes its bound (one 64 KiB write into an empty buffer aside) */
	assert_true(b->max_srv_unconsumed <= env->slim.stream_window);
	assert_true(b->s->max_unconsumed <= env->slim.stream_window);
	assert_true(b->max_srv_buffered <= env->slim.stream_window);
	assert_true(b->max_cli_out <= env->clim.stream_out_max);
	weft_hbone_close(hc);
	weft_buf_free(&b->c.got);
	free(b);
}

static void test_reset_propagation(void **st)
{
	env_t *env = *st;
	weft_hbone_conn_t *hc = client(env, NULL);
	struct sockaddr_in dst = v4("127.0.0.1", 1000);
	end_t a, b;
	end_t *sa, *sb;

	end_init(&a, env);
	end_init(&b, env);
	a.hs = weft_hbone_open(hc, (struct sockaddr *)&dst, NULL, &end_cbs, &a);
	b.hs = weft_hbone_open(hc, (struct sockaddr *)&dst, NULL, &end_cbs, &b);
	run_until(env, status_set, &a);
	run_until(env, status_set, &b);
	sa = env->srv[0].hs->id == a.hs->id ? &env->srv[0] : &env->srv[1];
	sb = sa == &env->srv[0] ? &env->srv[1] : &env->srv[0];
	/* client resets: the server's owner gets an abortive close */
	weft_hbone_reset(a.hs, NGHTTP2_CANCEL);
	run_until(env, closed, sa);
	run_until(env, closed, &a);
	assert_int_equal(sa->err, NGHTTP2_CANCEL);
	assert_int_not_equal(a.err, 0);
	/* server resets: the client's owner gets it */
	weft_hbone_reset(sb->hs, NGHTTP2_CONNECT_ERROR);
	run_until(env, closed, &b);
	assert_int_equal(b.err, NGHTTP2_CONNECT_ERROR);
	run_until(env, closed, sb);
	/* the connection lives on */
	assert_false(hc->dead);
	weft_hbone_close(hc);
	weft_buf_free(&a.got);
	weft_buf_free(&b.got);
}

static void test_goaway(void **st)
{
	env_t *env = *st;
	bool gone = false;
	weft_hbone_conn_t *hc = client(env, &gone);
	struct sockaddr_in dst = v4("127.0.0.1", 1000);
	end_t a, x;
	end_t *s;

	hc->on_destroy = cli_gone;
	end_init(&a, env);
	end_init(&x, env);
	a.hs = weft_hbone_open(hc, (struct sockaddr *)&dst, NULL, &end_cbs, &a);
	run_until(env, status_set, &a);
	s = &env->srv[0];
	weft_hbone_goaway(env->sconns[0]);
	run_until(env, is_true, &hc->goaway);
	/* no new tunnels, the open one still works */
	assert_null(weft_hbone_open(hc, (struct sockaddr *)&dst, NULL, &end_cbs, &x));
	assert_int_equal(weft_hbone_send(a.hs, "still", 5), 5);
	wait_got(env, s, 5);
	weft_hbone_shutdown_write(a.hs);
	weft_hbone_shutdown_write(s->hs);
	run_until(env, closed, &a);
	assert_int_equal(a.err, 0);
	/* then both sides close the connection */
	run_until(env, is_true, &gone);
	weft_buf_free(&a.got);
	weft_buf_free(&x.got);
}

static void test_handshake_timeout(void **st)
{
	env_t *env = *st;
	bool gone = false;
	weft_listener_t mute;
	weft_hbone_conn_t *hc;
	int lfd, afd;

	/* a server that accepts but never speaks HTTP/2 */
	lfd = weft_net_listen("127.0.0.1:0", 4);
	assert_true(lfd >= 0);
	{
		struct sockaddr_in sa;
		socklen_t sl = sizeof(sa);
		getsockname(lfd, (struct sockaddr *)&sa, &sl);
		env->clim.handshake_ms = 50;
		hc = weft_hbone_client_new(&env->loop, ltu_dial(ntohs(sa.sin_port)), &weft_xprt_raw, NULL,
					   &env->clim, &gone, "mute");
	}
	hc->on_destroy = cli_gone;
	run_until(env, is_true, &gone);
	afd = accept(lfd, NULL, NULL);
	if (afd >= 0)
		close(afd);
	close(lfd);
	(void)mute;
}

/* ---- pool ---- */

static int pool_dial(void *ud, const char *key, const void *arg, int *fd, const weft_xprt_ops_t **x,
		     void **xctx)
{
	env_t *env = ud;

	if (!strcmp(key, "fail"))
		return WEFT_EFAIL;
	env->dials++;
	*fd = ltu_dial(env->lst.port);
	*x = &weft_xprt_raw;
	*xctx = NULL;
	return WEFT_OK;
}

typedef struct pcount {
	weft_hbone_pool_t *p;
	size_t want;
} pcount_t;

static bool pool_has(void *a)
{
	pcount_t *pc = a;
	return pc->p->nconns == pc->want;
}

static void count_key(void *arg, const char *key, const weft_hbone_conn_t *hc)
{
	int *n = arg;
	(*n)++;
}

static void test_pool(void **st)
{
	env_t *env = *st;
	weft_hbone_pool_t p;
	weft_hbone_limits_t lim;
	struct sockaddr_in dst = v4("127.0.0.1", 1000);
	end_t *v = calloc(160, sizeof(*v));
	many_t m = { v, 150 };
	pcount_t zero = { &p, 0 };
	int n = 0;

	weft_hbone_limits_default(&lim);
	lim.max_streams = 100;
	lim.idle_ms = 50;
	weft_hbone_pool_init(&p, &env->loop, &lim, pool_dial, env);
	for (int i = 0; i < 150; i++) {
		end_init(&v[i], env);
		v[i].hs = weft_hbone_pool_open(&p, "id-a|10.0.0.1|id-b", NULL, (struct sockaddr *)&dst,
					       NULL, &end_cbs, &v[i]);
		assert_non_null(v[i].hs);
	}
	assert_int_equal(p.nconns, 2);
	assert_int_equal(p.dials, 2);
	assert_null(weft_hbone_pool_open(&p, "fail", NULL, (struct sockaddr *)&dst, NULL, &end_cbs,
					 &v[150]));
	assert_int_equal(p.dial_failures, 1);
	run_until(env, all_done, &m);
	assert_int_equal(count_status(v, 150, 200), 150);
	weft_hbone_pool_each(&p, count_key, &n);
	assert_int_equal(n, 2);
	/* every stream ends: the idle connections close and leave the pool */
	for (int i = 0; i < 150; i++) {
		weft_hbone_shutdown_write(v[i].hs);
		weft_hbone_shutdown_write(env->srv[i].hs);
	}
	m.n = 150;
	for (int i = 0; i < 150; i++)
		run_until(env, closed, &v[i]);
	run_until(env, pool_has, &zero);
	assert_int_equal(p.entries, NULL);

	/* drain: graceful for one key, then everything abortively */
	{
		end_t a1, a2, b1, a3;
		pcount_t two = { &p, 2 }, three = { &p, 3 };
		end_init(&a1, env);
		end_init(&a2, env);
		end_init(&b1, env);
		end_init(&a3, env);
		p.lim.idle_ms = 60000;
		a1.hs = weft_hbone_pool_open(&p, "a|x", NULL, (struct sockaddr *)&dst, NULL, &end_cbs, &a1);
		a2.hs = weft_hbone_pool_open(&p, "a|x", NULL, (struct sockaddr *)&dst, NULL, &end_cbs, &a2);
		b1.hs = weft_hbone_pool_open(&p, "b|y", NULL, (struct sockaddr *)&dst, NULL, &end_cbs, &b1);
		run_until(env, status_set, &a1);
		run_until(env, status_set, &a2);
		run_until(env, status_set, &b1);
		assert_int_equal(p.nconns, 2);
		weft_hbone_pool_drain(&p, "a|", true);
		/* new tunnels for a| get a new connection; the old one's streams go on */
		a3.hs = weft_hbone_pool_open(&p, "a|x", NULL, (struct sockaddr *)&dst, NULL, &end_cbs, &a3);
		assert_non_null(a3.hs);
		assert_int_equal(p.nconns, 3);
		assert_int_equal(weft_hbone_send(a1.hs, "ok", 2), 2);
		run_until(env, status_set, &a3);
		assert_false(a1.closed);
		(void)three;
		weft_hbone_reset(a1.hs, NGHTTP2_CANCEL);
		weft_hbone_reset(a2.hs, NGHTTP2_CANCEL);
		run_until(env, pool_has, &two);   /* the drained connection closed */
		assert_false(b1.closed);
		weft_hbone_pool_drain(&p, "", false);
		run_until(env, pool_has, &zero);
		assert_true(b1.closed);
		assert_true(a3.closed);
		assert_int_not_equal(b1.err, 0);
		weft_buf_free(&a1.got);
		weft_buf_free(&a2.got);
		weft_buf_free(&a3.got);
		weft_buf_free(&b1.got);
	}
	/* destroy closes whatever is left */
	end_init(&v[0], env);
	assert_non_null(weft_hbone_pool_open(&p, "k", NULL, (struct sockaddr *)&dst, NULL, &end_cbs, &v[0]));
	weft_hbone_pool_destroy(&p);
	assert_true(v[0].closed);
	assert_int_equal(p.nconns, 0);
	for (int i = 0; i < 160; i++)
		weft_buf_free(&v[i].got);
	free(v);
}

/* ---- CONNECT flags ---- */

/* A hand-driven nghttp2 client over a socket to the test server, for
 * requests weft_hbone_open would never send. */
typedef struct rawcli {
	nghttp2_session *sess;
	int fd;
	int status;
	bool closed;
} rawcli_t;

static int rc_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *n, size_t nl,
		     const uint8_t *v, size_t vl, uint8_t fl, void *ud)
{
	rawcli_t *r = ud;
	if (nl == 7 && !memcmp(n, ":status", 7))
		r->status = atoi((const char *)v);
	return 0;
}

static int rc_close(nghttp2_session *s, int32_t sid, uint32_t code, void *ud)
{
	((rawcli_t *)ud)->closed = true;
	return 0;
}

static void rawcli_pump(env_t *env, rawcli_t *r)
{
	const uint8_t *d;
	ssize_t n;
	uint8_t buf[4096];

	while ((n = nghttp2_session_mem_send(r->sess, &d)) > 0) {
		size_t off = 0;
		while (off < (size_t)n) {
			ssize_t w = send(r->fd, d + off, (size_t)n - off, MSG_NOSIGNAL);
			if (w > 0)
				off += (size_t)w;
			else
				weft_loop_once(&env->loop, 1);
		}
	}
	weft_loop_once(&env->loop, 5);
	while ((n = recv(r->fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
		assert_true(nghttp2_session_mem_recv(r->sess, buf, (size_t)n) >= 0);
}

static void test_connect_flags(void **st)
{
	env_t *env = *st;
	weft_hbone_conn_t *hc = client(env, NULL);
	struct sockaddr_in dst = v4("127.0.0.1", 1000);
	end_t a, b;
	weft_hbone_pool_t p;
	nghttp2_session_callbacks *cbs;
	rawcli_t r = { 0 };
	nghttp2_nv nv[3] = {
		{ (uint8_t *)":method", (uint8_t *)"CONNECT", 7, 7, 0 },
		{ (uint8_t *)":authority", (uint8_t *)"127.0.0.1:1000", 10, 14, 0 },
		{ (uint8_t *)"weft-proto", (uint8_t *)"h3", 10, 2, 0 },
	};
	uint64_t start;

	/* F_H2 reaches the server as req.flags; no flag, no header */
	end_init(&a, env);
	end_init(&b, env);
	a.hs = weft_hbone_open_f(hc, (struct sockaddr *)&dst, NULL, WEFT_HBONE_F_H2, &end_cbs, &a);
	b.hs = weft_hbone_open(hc, (struct sockaddr *)&dst, NULL, &end_cbs, &b);
	assert_non_null(a.hs);
	assert_int_equal(a.hs->req.flags, WEFT_HBONE_F_H2);
	run_until(env, status_set, &a);
	run_until(env, status_set, &b);
	assert_int_equal(env->nsrv, 2);
	for (int i = 0; i < 2; i++) {
		end_t *s = &env->srv[i];
		uint32_t want = s->hs->id == a.hs->id ? WEFT_HBONE_F_H2 : 0;
		assert_int_equal(s->hs->req.flags, want);
	}
	weft_hbone_close(hc);

	/* through the pool */
	weft_hbone_pool_init(&p, &env->loop, NULL, pool_dial, env);
	weft_buf_free(&a.got);
	end_init(&a, env);
	a.hs = weft_hbone_pool_open_f(&p, "k", NULL, (struct sockaddr *)&dst, NULL, WEFT_HBONE_F_H2,
				      &end_cbs, &a);
	assert_non_null(a.hs);
	run_until(env, status_set, &a);
	assert_int_equal(a.status, 200);
	assert_int_equal(env->srv[2].hs->req.flags, WEFT_HBONE_F_H2);
	weft_hbone_pool_destroy(&p);

	/* an unknown weft-proto value is refused with 400 before on_connect */
	assert_int_equal(nghttp2_session_callbacks_new(&cbs), 0);
	nghttp2_session_callbacks_set_on_header_callback(cbs, rc_header);
	nghttp2_session_callbacks_set_on_stream_close_callback(cbs, rc_close);
	assert_int_equal(nghttp2_session_client_new(&r.sess, cbs, &r), 0);
	nghttp2_session_callbacks_del(cbs);
	assert_int_equal(nghttp2_submit_settings(r.sess, 0, NULL, 0), 0);
	assert_true(nghttp2_submit_request(r.sess, NULL, nv, 3, NULL, NULL) > 0);
	r.fd = ltu_dial(env->lst.port);
	start = weft_loop_update_time(&env->loop);
	while (!r.closed) {
		rawcli_pump(env, &r);
		if (env->loop.now_ms - start > 20000)
			fail_msg("no answer");
	}
	assert_int_equal(r.status, 400);
	assert_int_equal(env->nsrv, 3);   /* on_connect never saw it */
	nghttp2_session_del(r.sess);
	close(r.fd);
	weft_buf_free(&a.got);
	weft_buf_free(&b.got);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_tunnel_both_ways, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deferred_and_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_max_streams, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backpressure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset_propagation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_goaway, setup, teardown),
		cmocka_unit_test_setup_teardown(test_handshake_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pool, setup, teardown),
		cmocka_unit_test_setup_teardown(test_connect_flags, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
