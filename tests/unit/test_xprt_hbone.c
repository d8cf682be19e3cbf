/* Unit tests for weft_xprt_hbone (src/proto/xprt_hbone.c): HTTP/2 nested
 * in an HBONE CONNECT stream. An HBONE client and server over a
 * socketpair; the server accepts the F_H2 tunnel and runs an h2 server
 * codec over it, the client runs an h2 client codec over its end. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <nghttp2/nghttp2.h>
#include "weft/buf.h"
#include "weft/hbone.h"
#include "weft/http.h"
#include "weft/log.h"
#include "weft/loop.h"
#include "weft/net.h"
#include "weft/str.h"
#include "loop_test_util.h"
#include "h2_test_util.h"

static int (*const unused_dial)(uint16_t) __attribute__((unused)) = ltu_dial;

typedef struct env {
	weft_loop_t loop;
	weft_hbone_conn_t *hs_srv, *hs_cli;
	weft_hbone_stream_t *tun_srv;   /* the server's end of the tunnel */
	weft_hconn_t *h2s, *h2c;
	ht_srv_t srv;
	int cli_closed;
	uint32_t flags_seen;
} env_t;

static env_t *g_env;

static void cli_close(weft_hconn_t *hc) { ((env_t *)hc->ud)->cli_closed++; }
static const weft_hconn_cbs_t cli_cbs = { NULL, NULL, NULL, cli_close };

/* the HBONE server: an F_H2 CONNECT gets an h2 server codec */
static int on_connect(weft_hbone_conn_t *hc, weft_hbone_stream_t *hs)
{
	env_t *env = g_env;
	void *x;

	env->flags_seen = hs->req.flags;
	if (!(hs->req.flags & WEFT_HBONE_F_H2))
		return 400;
	x = weft_xprt_hbone_wrap(hs);
	assert_non_null(x);
	env->tun_srv = hs;
	env->h2s = weft_h2_server_new(&env->loop, -1, &weft_xprt_hbone, x, NULL, &ht_srv_conn_cbs,
				      &env->srv, "h2-in-tunnel");
	assert_non_null(env->h2s);
	assert_ptr_equal(weft_xprt_hbone_stream(&env->h2s->conn), hs);
	return 200;
}

static void hb_gone(weft_hbone_conn_t *hc)
{
	if (g_env->hs_srv == hc)
		g_env->hs_srv = NULL;
	if (g_env->hs_cli == hc)
		g_env->hs_cli = NULL;
}

static int setup(void **st)
{
	env_t *env = calloc(1, sizeof(*env));
	int sv[2];

	weft_log_set_level(WEFT_LOG_ERR);
	g_env = env;
	assert_int_equal(weft_loop_init(&env->loop), 0);
	weft_loop_update_time(&env->loop);
	env->srv.echo = true;
	env->srv.consume = true;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
	env->hs_srv = weft_hbone_server_new(&env->loop, sv[0], &weft_xprt_raw, NULL, NULL, on_connect,
					    env, "hbone-srv");
	env->hs_cli = weft_hbone_client_new(&env->loop, sv[1], &weft_xprt_raw, NULL, NULL, env,
					    "hbone-cli");
	assert_non_null(env->hs_srv);
	assert_non_null(env->hs_cli);
	env->hs_srv->on_destroy = hb_gone;
	env->hs_cli->on_destroy = hb_gone;
	*st = env;
	return 0;
}

static int teardown(void **st)
{
	env_t *env = *st;

	if (env->h2c)
		env->h2c->ops->close(env->h2c);
	if (env->h2s && !env->srv.closed_conns)
		env->h2s->ops->close(env->h2s);
	if (env->hs_cli)
		weft_hbone_close(env->hs_cli);
	if (env->hs_srv)
		weft_hbone_close(env->hs_srv);
	ht_srv_free(&env->srv);
	weft_loop_destroy(&env->loop);
	free(env);
	return 0;
}

static void run_until(env_t *env, bool (*cond)(void *), void *arg)
{
	ltu_run_until(&env->loop, cond, arg);
}

static bool int_pos(void *p) { return *(int *)p > 0; }
static bool ptr_null(void *p) { return *(void **)p == NULL; }

/* The client end: a tunnel flagged F_H2 with an h2 client codec on it. */
static void tunnel(env_t *env)
{
	struct sockaddr_in dst = { .sin_family = AF_INET, .sin_port = htons(8080) };
	weft_hbone_stream_t *hs;
	void *x;

	inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr);
	hs = weft_hbone_open_f(env->hs_cli, (struct sockaddr *)&dst, NULL, WEFT_HBONE_F_H2, NULL, NULL);
	assert_non_null(hs);
	x = weft_xprt_hbone_wrap(hs);
	assert_non_null(x);
	/* the codec starts at once: its preface waits for the 200 */
	env->h2c = weft_h2_client_new(&env->loop, -1, &weft_xprt_hbone, x, NULL, &cli_cbs, env,
				      "h2-out-tunnel");
	assert_non_null(env->h2c);
	assert_ptr_equal(weft_xprt_hbone_stream(&env->h2c->conn), hs);
}

static void test_nested_exchanges(void **st)
{
	env_t *env = *st;
	ht_end_t a, b;
	static uint8_t big[300000];
	ht_end_t *sa;

	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 13 + 1);
	tunnel(env);
	ht_end_init(&a);
	ht_end_init(&b);
	a.s = env->h2c->ops->open(env->h2c, &ht_cbs, &a);
	ht_request(a.s, "/grpc.Echo/Say", "abc", 3, true);
	b.s = env->h2c->ops->open(env->h2c, &ht_cbs, &b);
	ht_request(b.s, "/upload", big, sizeof(big), false);
	run_until(env, ht_closed, &a);
	run_until(env, ht_closed, &b);
	assert_int_equal(env->flags_seen, WEFT_HBONE_F_H2);
	assert_int_equal(a.err, WEFT_HS_OK);
	assert_int_equal(a.status, 200);
	assert_string_equal(a.trailer, "grpc-status=0");
	assert_int_equal(weft_buf_len(&a.body), 3);
	assert_int_equal(b.err, WEFT_HS_OK);
	assert_int_equal(weft_buf_len(&b.body), sizeof(big));
	assert_memory_equal(weft_buf_head(&b.body), big, sizeof(big));
	sa = !strcmp(env->srv.ends[0].path, "/grpc.Echo/Say") ? &env->srv.ends[0] : &env->srv.ends[1];
	assert_string_equal(sa->trailer, "x-sum=42");
	assert_string_equal(sa->authority, "svc.test");
	/* the tunnel's window was reopened as the codec read: nothing left
	 * unconsumed on either HBONE stream */
	assert_int_equal(env->tun_srv->unconsumed, 0);
	weft_buf_free(&a.body);
	weft_buf_free(&b.body);
}

static void test_close_resets_tunnel(void **st)
{
	env_t *env = *st;
	ht_end_t a;

	env->srv.echo = false;
	tunnel(env);
	ht_end_init(&a);
	a.s = env->h2c->ops->open(env->h2c, &ht_cbs, &a);
	ht_request(a.s, "/", NULL, 0, false);
	run_until(env, int_pos, &env->srv.n);
	assert_int_equal(env->hs_cli->nstreams, 1);
	/* closing the client codec closes its transport: the tunnel is reset,
	 * the server codec sees its transport fail and closes too */
	env->h2c->ops->close(env->h2c);
	env->h2c = NULL;
	assert_true(a.closed);
	assert_int_equal(a.err, WEFT_HS_CONN_CLOSED);
	run_until(env, int_pos, &env->srv.closed_conns);
	assert_true(env->srv.ends[0].closed);
	assert_int_equal(env->srv.ends[0].err, WEFT_HS_CONN_CLOSED);
	run_until(env, ptr_null, &env->hs_cli->streams);
	assert_int_equal(env->hs_srv->nstreams, 0);
	/* the HBONE connection itself carries on */
	assert_false(env->hs_cli->dead);
	env->h2s = NULL;
	env->srv.closed_conns = 0;
	tunnel(env);
	env->srv.echo = true;
	ht_end_init(&a);
	a.s = env->h2c->ops->open(env->h2c, &ht_cbs, &a);
	ht_request(a.s, "/again", "z", 1, false);
	run_until(env, ht_closed, &a);
	assert_int_equal(a.err, WEFT_HS_OK);
	weft_buf_free(&a.body);
}

static void test_hbone_conn_dies(void **st)
{
	env_t *env = *st;
	ht_end_t a;

	env->srv.echo = false;
	tunnel(env);
	ht_end_init(&a);
	a.s = env->h2c->ops->open(env->h2c, &ht_cbs, &a);
	ht_request(a.s, "/", NULL, 0, false);
	run_until(env, int_pos, &env->srv.n);
	/* the whole HBONE connection goes: both codecs notice and close */
	weft_hbone_kill(env->hs_srv, "test");
	run_until(env, int_pos, &env->cli_closed);
	run_until(env, int_pos, &env->srv.closed_conns);
	assert_true(a.closed);
	assert_int_not_equal(a.err, WEFT_HS_OK);
	env->h2c = NULL;
	env->h2s = NULL;
	weft_buf_free(&a.body);
}

static int teardown_dead(void **st)
{
	env_t *env = *st;

	/* the server HBONE connection closed itself (killed); the client
	 * one may still be alive */
	for (int i = 0; i < 50; i++)
		weft_loop_once(&env->loop, 1);
	if (env->hs_cli)
		weft_hbone_close(env->hs_cli);
	if (env->hs_srv)
		weft_hbone_close(env->hs_srv);
	ht_srv_free(&env->srv);
	weft_loop_destroy(&env->loop);
	free(env);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_nested_exchanges, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_resets_tunnel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hbone_conn_dies, setup, teardown_dead),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
