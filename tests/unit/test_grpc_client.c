/* Unit tests for the gRPC client (src/proto/grpc_client.c) against our own
 * weft_grpc_server in the same loop over loopback TCP: unary and
 * streaming calls, status propagation, cancel, deadline, message bound,
 * keepalive and a server that goes away. Messages are raw bytes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include "weft/buf.h"
#include "weft/grpc.h"
#include "weft/grpc_client.h"
#include "weft/log.h"
#include "weft/loop.h"
#include "weft/net.h"
#include "loop_test_util.h"

typedef struct env {
	weft_loop_t loop;
	weft_grpc_server_t srv;
	bool srv_up;
	int hang_opened, hang_closed;
	weft_grpc_client_t *cl;
	bool cl_closed;
	char why[96];
} env_t;

/* ---- the test server ---- */

static int m_open(weft_grpc_call_t *call)
{
	env_t *env = call->m->ctx;

	if (!strcmp(call->m->path, "/t.T/Hang"))
		env->hang_opened++;
	return 0;
}

/* Echo: every message comes back at once; OK at half-close. */
static int echo_msg(weft_grpc_call_t *call, const uint8_t *p, size_t n)
{
	return weft_grpc_send(call, p, n) == WEFT_OK ? 0 : WEFT_GRPC_INTERNAL;
}

static void ok_half_close(weft_grpc_call_t *call)
{
	weft_grpc_finish(call, WEFT_GRPC_OK, NULL);
}

/* Stream: the request is a decimal count; that many messages come back. */
static int stream_msg(weft_grpc_call_t *call, const uint8_t *p, size_t n)
{
	char tmp[16], m[32];
	int count;

	if (n >= sizeof(tmp))
		return WEFT_GRPC_INVALID_ARGUMENT;
	memcpy(tmp, p, n);
	tmp[n] = '\0';
	count = atoi(tmp);
	for (int i = 0; i < count; i++) {
		int l = snprintf(m, sizeof(m), "m%d", i);
		if (weft_grpc_send(call, m, (size_t)l) != WEFT_OK)
			return WEFT_GRPC_INTERNAL;
	}
	weft_grpc_finish(call, WEFT_GRPC_OK, NULL);
	return 0;
}

static void fail_half_close(weft_grpc_call_t *call)
{
	weft_grpc_finish(call, WEFT_GRPC_INVALID_ARGUMENT, "bad thing: 100% wrong");
}

static int ignore_msg(weft_grpc_call_t *call, const uint8_t *p, size_t n) { return 0; }

static void hang_close(weft_grpc_call_t *call)
{
	env_t *env = call->m->ctx;
	if (!strcmp(call->m->path, "/t.T/Hang"))
		env->hang_closed++;
}

static void on_closed(weft_grpc_client_t *cl, const char *why)
{
	env_t *env = cl->ud;

	assert_false(env->cl_closed);
	env->cl_closed = true;
	snprintf(env->why, sizeof(env->why), "%s", why);
	env->cl = NULL;
}

static int setup(void **st)
{
	env_t *env = calloc(1, sizeof(*env));
	weft_grpc_opts_t o;
	weft_grpc_method_t ms[] = {
		{ "/t.T/Echo", env, m_open, echo_msg, ok_half_close, NULL },
		{ "/t.T/Stream", env, m_open, stream_msg, NULL, NULL },
		{ "/t.T/Fail", env, m_open, ignore_msg, fail_half_close, NULL },
		{ "/t.T/Hang", env, m_open, ignore_msg, NULL, hang_close },
	};

	weft_log_set_level(WEFT_LOG_ERR);
	assert_int_equal(weft_loop_init(&env->loop), 0);
	weft_loop_update_time(&env->loop);
	weft_grpc_opts_default(&o);
	o.log_name = "tsrv";
	weft_grpc_server_init(&env->srv, &env->loop, &o);
	for (size_t i = 0; i < 4; i++)
		assert_int_equal(weft_grpc_server_add(&env->srv, &ms[i]), 0);
	assert_int_equal(weft_grpc_server_listen(&env->srv, "127.0.0.1:0"), 0);
	env->srv_up = true;
	env->cl = weft_grpc_client_new(&env->loop, ltu_dial(env->srv.lst.port), &weft_xprt_raw, NULL,
				       "weft-control", "tcli", on_closed, env);
	assert_non_null(env->cl);
	*st = env;
	return 0;
}

static int teardown(void **st)
{
	env_t *env = *st;

	if (env->cl)
		weft_conn_close(&env->cl->conn);
	if (env->srv_up)
		weft_grpc_server_destroy(&env->srv);
	weft_loop_destroy(&env->loop);
	free(env);
	return 0;
}

/* Runs the loop until cond(arg) holds (loop_test_util.h). */
static void run_until(env_t *env, bool (*cond)(void *), void *arg)
{
	ltu_run_until(&env->loop, cond, arg);
}

/* ---- a call's results ---- */

typedef struct res {
	int nmsg;
	weft_buf_t msgs;     /* all messages, each followed by '|' */
	int status;
	char msg[256];
	bool done;
	int cancel_after;    /* on_message returns -1 at this count (0: never) */
} res_t;

static int r_message(weft_grpc_ccall_t *call, const uint8_t *p, size_t n)
{
	res_t *r = call->ud;

	assert_false(r->done);
	r->nmsg++;
	weft_buf_append(&r->msgs, p, n);
	weft_buf_append(&r->msgs, "|", 1);
	return r->cancel_after && r->nmsg == r->cancel_after ? -1 : 0;
}

static void r_status(weft_grpc_ccall_t *call, int status, const char *msg)
{
	res_t *r = call->ud;

	assert_false(r->done);
	r->done = true;
	r->status = status;
	snprintf(r->msg, sizeof(r->msg), "%s", msg);
}

static const weft_grpc_ccall_cbs_t rcbs = { r_message, r_status };

static bool done(void *p) { return ((res_t *)p)->done; }
static bool is_true(void *p) { return *(bool *)p; }

static void res_init(res_t *r)
{
	memset(r, 0, sizeof(*r));
	weft_buf_init(&r->msgs, 0);
	r->status = -1;
}

static bool msgs_is(res_t *r, const char *s)
{
	return weft_buf_len(&r->msgs) == strlen(s) && !memcmp(weft_buf_head(&r->msgs), s, strlen(s));
}

/* ---- tests ---- */

static void test_unary_and_bidi(void **st)
{
	env_t *env = *st;
	res_t r, b;
	weft_grpc_ccall_t *c;

	res_init(&r);
	res_init(&b);
	c = weft_grpc_call_start(env->cl, "/t.T/Echo", 5000, &rcbs, &r);
	assert_non_null(c);
	assert_int_equal(weft_grpc_call_send(c, "ping", 4), WEFT_OK);
	weft_grpc_call_close_send(c);
	assert_int_equal(weft_grpc_call_send(c, "x", 1), WEFT_ECLOSED);
	run_until(env, done, &r);
	assert_int_equal(r.status, WEFT_GRPC_OK);
	assert_true(msgs_is(&r, "ping|"));
	assert_true(env->cl->ready);

	/* a long-lived stream: messages both ways over time, an empty one too */
	c = weft_grpc_call_start(env->cl, "/t.T/Echo", 0, &rcbs, &b);
	assert_int_equal(weft_grpc_call_send(c, "a", 1), WEFT_OK);
	while (b.nmsg < 1)
		weft_loop_once(&env->loop, 10);
	assert_int_equal(weft_grpc_call_send(c, "", 0), WEFT_OK);
	assert_int_equal(weft_grpc_call_send(c, "bb", 2), WEFT_OK);
	while (b.nmsg < 3)
		weft_loop_once(&env->loop, 10);
	assert_false(b.done);
	weft_grpc_call_close_send(c);
	run_until(env, done, &b);
	assert_int_equal(b.status, WEFT_GRPC_OK);
	assert_true(msgs_is(&b, "a||bb|"));
	weft_buf_free(&r.msgs);
	weft_buf_free(&b.msgs);
}

static void test_server_streaming(void **st)
{
	env_t *env = *st;
	res_t r;
	weft_grpc_ccall_t *c;

	res_init(&r);
	c = weft_grpc_call_start(env->cl, "/t.T/Stream", 0, &rcbs, &r);
	assert_int_equal(weft_grpc_call_send(c, "5000", 4), WEFT_OK);
	weft_grpc_call_close_send(c);
	run_until(env, done, &r);
	assert_int_equal(r.status, WEFT_GRPC_OK);
	assert_int_equal(r.nmsg, 5000);
	assert_memory_equal(weft_buf_head(&r.msgs), "m0|m1|m2|", 9);
	weft_buf_free(&r.msgs);
}

static void test_status_propagation(void **st)
{
	env_t *env = *st;
	res_t r, u, s;
	weft_grpc_ccall_t *c;

	res_init(&r);
	res_init(&u);
	res_init(&s);
	/* an error status with a percent-encoded message, after headers */
	c = weft_grpc_call_start(env->cl, "/t.T/Fail", 0, &rcbs, &r);
	weft_grpc_call_close_send(c);
	run_until(env, done, &r);
	assert_int_equal(r.status, WEFT_GRPC_INVALID_ARGUMENT);
	assert_string_equal(r.msg, "bad thing: 100% wrong");
	/* trailers-only: an unknown method */
	c = weft_grpc_call_start(env->cl, "/t.T/Nope", 0, &rcbs, &u);
	weft_grpc_call_close_send(c);
	run_until(env, done, &u);
	assert_int_equal(u.status, WEFT_GRPC_UNIMPLEMENTED);
	assert_non_null(strstr(u.msg, "/t.T/Nope"));
	/* a response message over the client's bound */
	env->cl->max_msg = 10;
	c = weft_grpc_call_start(env->cl, "/t.T/Echo", 0, &rcbs, &s);
	assert_int_equal(weft_grpc_call_send(c, "0123456789abcdef", 16), WEFT_OK);
	weft_grpc_call_close_send(c);
	run_until(env, done, &s);
	assert_int_equal(s.status, WEFT_GRPC_RESOURCE_EXHAUSTED);
	assert_int_equal(s.nmsg, 0);
	assert_null(weft_grpc_call_start(env->cl, "no-slash", 0, &rcbs, &s));
	weft_buf_free(&r.msgs);
	weft_buf_free(&u.msgs);
	weft_buf_free(&s.msgs);
}

static bool hang_closed1(void *p) { return ((env_t *)p)->hang_closed >= 1; }

static void test_cancel_and_deadline(void **st)
{
	env_t *env = *st;
	res_t a, d, m;
	weft_grpc_ccall_t *c;

	res_init(&a);
	res_init(&d);
	res_init(&m);
	c = weft_grpc_call_start(env->cl, "/t.T/Hang", 0, &rcbs, &a);
	assert_int_equal(weft_grpc_call_send(c, "x", 1), WEFT_OK);
	while (env->hang_opened < 1)
		weft_loop_once(&env->loop, 10);
	weft_grpc_call_cancel(c);
	assert_false(a.done);   /* on_status comes at the next turn */
	run_until(env, done, &a);
	assert_int_equal(a.status, WEFT_GRPC_CANCELLED);
	run_until(env, hang_closed1, env);   /* the server saw the cancel */

	c = weft_grpc_call_start(env->cl, "/t.T/Hang", 30, &rcbs, &d);
	assert_non_null(c);
	run_until(env, done, &d);
	assert_int_equal(d.status, WEFT_GRPC_DEADLINE_EXCEEDED);

	/* on_message returning <0 cancels */
	m.cancel_after = 2;
	c = weft_grpc_call_start(env->cl, "/t.T/Stream", 0, &rcbs, &m);
	weft_grpc_call_send(c, "100", 3);
	run_until(env, done, &m);
	assert_int_equal(m.status, WEFT_GRPC_CANCELLED);
	assert_int_equal(m.nmsg, 2);
	assert_false(env->cl_closed);
	weft_buf_free(&a.msgs);
	weft_buf_free(&d.msgs);
	weft_buf_free(&m.msgs);
}

static void test_server_gone(void **st)
{
	env_t *env = *st;
	res_t a, b;

	res_init(&a);
	res_init(&b);
	weft_grpc_call_start(env->cl, "/t.T/Hang", 0, &rcbs, &a);
	weft_grpc_call_start(env->cl, "/t.T/Hang", 0, &rcbs, &b);
	while (env->hang_opened < 2)
		weft_loop_once(&env->loop, 10);
	weft_grpc_server_destroy(&env->srv);
	env->srv_up = false;
	run_until(env, is_true, &env->cl_closed);
	assert_true(a.done && b.done);
	assert_int_equal(a.status, WEFT_GRPC_UNAVAILABLE);
	assert_int_equal(b.status, WEFT_GRPC_UNAVAILABLE);
	assert_true(env->why[0] != '\0');
	weft_buf_free(&a.msgs);
	weft_buf_free(&b.msgs);
}

static void test_kill_and_keepalive(void **st)
{
	env_t *env = *st;
	res_t a, k;
	int lfd;
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);

	res_init(&a);
	res_init(&k);
	/* kill from the owner: calls end UNAVAILABLE, then on_closed */
	weft_grpc_call_start(env->cl, "/t.T/Hang", 0, &rcbs, &a);
	weft_grpc_client_kill(env->cl, "test kill");
	assert_false(a.done);
	run_until(env, is_true, &env->cl_closed);
	assert_int_equal(a.status, WEFT_GRPC_UNAVAILABLE);
	assert_string_equal(env->why, "test kill");

	/* a peer that accepts and then says nothing: two missed PINGs */
	lfd = weft_net_listen("127.0.0.1:0", 4);
	assert_true(lfd >= 0);
	getsockname(lfd, (struct sockaddr *)&sa, &sl);
	env->cl_closed = false;
	env->cl = weft_grpc_client_new(&env->loop, ltu_dial(ntohs(sa.sin_port)), &weft_xprt_raw, NULL,
				       "x", "mute", on_closed, env);
	env->cl->ping_ms = 20;
	weft_grpc_call_start(env->cl, "/t.T/Echo", 0, &rcbs, &k);
	run_until(env, is_true, &env->cl_closed);
	assert_int_equal(k.status, WEFT_GRPC_UNAVAILABLE);
	assert_string_equal(env->why, "keepalive timeout");
	close(lfd);
	weft_buf_free(&a.msgs);
	weft_buf_free(&k.msgs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_unary_and_bidi, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_streaming, setup, teardown),
		cmocka_unit_test_setup_teardown(test_status_propagation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel_and_deadline, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_gone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kill_and_keepalive, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
