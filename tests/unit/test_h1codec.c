/* Unit tests for the HTTP/1.x codec (src/proto/h1codec.c) over socketpairs:
 * a server codec fed hand-written bytes, a client codec answered by
 * hand-written bytes, and the two codecs talking to each other. Loops run
 * until a condition holds; a turn cap only turns a hang into a failure. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <time.h>
#include "weft/http.h"
#include "weft/log.h"
#include "weft/loop.h"
#include "weft/net.h"
#include "weft/str.h"

/* what the owner of one stream saw */
typedef struct rec {
	int heads, ends, closes, trailers;
	bool head_end;
	weft_hs_err_t err;
	char method[16], path[64], authority[64], tr_name[32], tr_value[32];
	int status;
	int64_t clen;
	bool upgrade;
	char body[4096];
	size_t nbody;
	char hdrs[1024];   /* "name=value;" */
} rec_t;

typedef struct env {
	weft_loop_t loop;
	weft_http_limits_t lim;
	int sv[2];
	weft_hconn_t *srv, *cli;
	rec_t r[8];
	int nr;
	int conn_closed, idles, readies;
	/* server owner behaviour */
	int resp_mode;     /* 0: 200 "ok" with length; 1: chunked "hello" + trailers; 2: echo at end chunked;
			    * 3: none (the test answers, as from another connection's event) */
	bool respond_on_head;
	bool no_auto_consume;
	weft_hstream_t *last;
	/* what the raw peer read */
	char out[16384];
	size_t nout;
	bool peer_eof;
} env_t;

static env_t *E;

static rec_t *rec_of(weft_hstream_t *s) { return s->ud; }

static void respond(weft_hstream_t *s)
{
	rec_t *r = rec_of(s);
	weft_hdr_t h[1] = { { WEFT_STR_LIT("x-srv"), WEFT_STR_LIT("1") } };
	weft_http_head_t hd = { .ver = WEFT_HTTP_11, .status = 200, .nhdrs = 1, .hdrs = h,
				.content_length = -1 };

	if (E->resp_mode == 3) {
		return;
	} else if (E->resp_mode == 0) {
		hd.content_length = 2;
		assert_int_equal(s->ops->send_head(s, &hd, false), WEFT_OK);
		assert_int_equal(s->ops->send_data(s, "ok", 2, true), 2);
	} else {
		weft_hdr_t t[1] = { { WEFT_STR_LIT("x-r"), WEFT_STR_LIT("1") } };
		assert_int_equal(s->ops->send_head(s, &hd, false), WEFT_OK);
		if (E->resp_mode == 1)
			assert_int_equal(s->ops->send_data(s, "hello", 5, false), 5);
		else
			assert_int_equal(s->ops->send_data(s, r->body, r->nbody, false), (ssize_t)r->nbody);
		assert_int_equal(s->ops->send_trailers(s, t, 1), WEFT_OK);
	}
}

static void o_head(weft_hstream_t *s, const weft_http_head_t *h, bool end)
{
	rec_t *r = rec_of(s);

	r->heads++;
	r->head_end = end;
	r->status = h->status;
	r->clen = h->content_length;
	r->upgrade = h->upgrade;
	snprintf(r->method, sizeof(r->method), WEFT_STR_FMT, WEFT_STR_ARG(h->method));
	snprintf(r->path, sizeof(r->path), WEFT_STR_FMT, WEFT_STR_ARG(h->path));
	snprintf(r->authority, sizeof(r->authority), WEFT_STR_FMT, WEFT_STR_ARG(h->authority));
	for (size_t i = 0; i < h->nhdrs; i++) {
		size_t o = strlen(r->hdrs);
		snprintf(r->hdrs + o, sizeof(r->hdrs) - o, WEFT_STR_FMT "=" WEFT_STR_FMT ";",
			 WEFT_STR_ARG(h->hdrs[i].name), WEFT_STR_ARG(h->hdrs[i].value));
	}
	if (s->hc->server && end && (E->respond_on_head || E->resp_mode != 2))
		respond(s);
}

static void o_data(weft_hstream_t *s, const uint8_t *p, size_t n)
{
	rec_t *r = rec_of(s);

	assert_true(r->nbody + n <= sizeof(r->body));
	memcpy(r->body + r->nbody, p, n);
	r->nbody += n;
	if (!E->no_auto_consume)
		s->ops->consumed(s, n);
}

static void o_trailers(weft_hstream_t *s, const weft_hdr_t *t, size_t n)
{
	rec_t *r = rec_of(s);

	r->trailers += (int)n;
	snprintf(r->tr_name, sizeof(r->tr_name), WEFT_STR_FMT, WEFT_STR_ARG(t[0].name));
	snprintf(r->tr_value, sizeof(r->tr_value), WEFT_STR_FMT, WEFT_STR_ARG(t[0].value));
}

static void o_end(weft_hstream_t *s)
{
	rec_of(s)->ends++;
	if (s->hc->server)
		respond(s);
}

static void o_close(weft_hstream_t *s, weft_hs_err_t err)
{
	rec_t *r = rec_of(s);

	r->closes++;
	r->err = err;
	if (E->last == s)
		E->last = NULL;
}

static const weft_hstream_cbs_t ocbs = { o_head, o_data, o_trailers, o_end, NULL, o_close };

static void c_stream(weft_hconn_t *hc, weft_hstream_t *s)
{
	assert_true(E->nr < 8);
	s->cbs = &ocbs;
	s->ud = &E->r[E->nr++];
	E->last = s;
}

static void c_ready(weft_hconn_t *hc) { E->readies++; }
static void c_idle(weft_hconn_t *hc) { E->idles++; }
static void c_close(weft_hconn_t *hc)
{
	E->conn_closed++;
	if (hc == E->srv)
		E->srv = NULL;
	if (hc == E->cli)
		E->cli = NULL;
}

static const weft_hconn_cbs_t hcbs = { c_stream, c_ready, c_idle, c_close };

static int setup(void **state)
{
	static env_t env;

	memset(&env, 0, sizeof(env));
	E = &env;
	assert_int_equal(weft_loop_init(&env.loop), 0);
	weft_http_limits_default(&env.lim);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, env.sv), 0);
	weft_log_set_level(WEFT_LOG_ERR);
	*state = &env;
	return 0;
}

static int teardown(void **state)
{
	if (E->srv)
		E->srv->ops->close(E->srv);
	if (E->cli)
		E->cli->ops->close(E->cli);
	for (int i = 0; i < 2; i++)
		if (E->sv[i] >= 0)
			close(E->sv[i]);
	weft_loop_destroy(&E->loop);
	return 0;
}

static void start_server(void)
{
	E->srv = weft_h1_server_new(&E->loop, E->sv[0], &weft_xprt_raw, NULL, &E->lim, &hcbs, E, "t-srv");
	assert_non_null(E->srv);
	E->sv[0] = -1;
}

static void peer_write(const char *s)
{
	size_t n = strlen(s);

	assert_int_equal(write(E->sv[1], s, n), (ssize_t)n);
}

/* Runs the loop, collecting what the raw peer receives, until done() holds
 * (or the peer sees EOF when done is NULL). */
static void run(bool (*done)(void))
{
	for (int turn = 0; turn < 4000; turn++) {
		ssize_t n = -1;
		if (done ? done() : E->peer_eof)
			return;
		weft_loop_once(&E->loop, 5);
		while (E->sv[1] >= 0 && E->nout < sizeof(E->out) - 1 &&
		       (n = read(E->sv[1], E->out + E->nout, sizeof(E->out) - 1 - E->nout)) > 0)
			E->nout += (size_t)n;
		if (E->sv[1] >= 0 && n == 0)
			E->peer_eof = true;
		E->out[E->nout] = '\0';
	}
	fail_msg("condition not reached");
}

static int count(const char *hay, const char *needle)
{
	int c = 0;

	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
		c++;
	return c;
}

/* ---- server role, hand-written requests ---- */

static void expect_refused(const char *req, const char *status_line)
{
	env_t *e = E;

	start_server();
	peer_write(req);
	run(NULL);
	assert_true(strncmp(e->out, status_line, strlen(status_line)) == 0);
	assert_non_null(strstr(e->out, "connection: close"));
	assert_int_equal(e->nr, 0);
}

#define REFUSE_TEST(name, req, st)                                  \
	static void name(void **state) { expect_refused(req, st); }

REFUSE_TEST(test_cl_and_te, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "HTTP/1.1 400")
REFUSE_TEST(test_te_and_cl, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n", "HTTP/1.1 400")
REFUSE_TEST(test_cl_conflict, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", "HTTP/1.1 400")
REFUSE_TEST(test_cl_list, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\n\r\nabc", "HTTP/1.1 400")
REFUSE_TEST(test_te_twice, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n", "HTTP/1.1 400")
REFUSE_TEST(test_te_two_lines, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "HTTP/1.1 400")
REFUSE_TEST(test_te_not_last, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n", "HTTP/1.1 400")
REFUSE_TEST(test_te_empty, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ,\r\n\r\n", "HTTP/1.1 400")
REFUSE_TEST(test_te_unknown, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", "HTTP/1.1 501")
REFUSE_TEST(test_bare_lf, "GET / HTTP/1.1\nHost: a\n\n", "HTTP/1.1 400")
REFUSE_TEST(test_bare_lf_hdr, "GET / HTTP/1.1\r\nHost: a\nX: y\r\n\r\n", "HTTP/1.1 400")
REFUSE_TEST(test_obs_fold, "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n", "HTTP/1.1 400")
REFUSE_TEST(test_ws_colon, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length : 3\r\n\r\nabc", "HTTP/1.1 400")
REFUSE_TEST(test_ws_colon_te, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n", "HTTP/1.1 400")
REFUSE_TEST(test_http10_te, "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "HTTP/1.1 400")
REFUSE_TEST(test_garbage, "\x16\x03\x01\x02\x05garbage\r\n\r\n", "HTTP/1.1 400")

static void test_uri_too_long(void **state)
{
	static char req[10000];
	size_t o = (size_t)sprintf(req, "GET /");

	memset(req + o, 'a', 9000);
	strcpy(req + o + 9000, " HTTP/1.1\r\nHost: a\r\n\r\n");
	expect_refused(req, "HTTP/1.1 414");
}

static void test_headers_too_large(void **state)
{
	static char req[20000];
	size_t o = (size_t)sprintf(req, "GET / HTTP/1.1\r\nHost: a\r\n");

	for (int i = 0; i < 70; i++)
		o += (size_t)sprintf(req + o, "X-%d: v\r\n", i);
	strcpy(req + o, "\r\n");
	expect_refused(req, "HTTP/1.1 431");
}

/* a chunk size that overflows: the head was already passed on (bodies
 * stream), so the stream ends in a protocol error, the client gets 400 and
 * no complete request ever reaches the owner */
static void test_chunk_overflow(void **state)
{
	env_t *e = E;

	start_server();
	peer_write("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
		   "10000000000000001\r\nabc\r\n0\r\n\r\n");
	run(NULL);
	assert_true(strncmp(e->out, "HTTP/1.1 400", 12) == 0);
	assert_int_equal(e->r[0].ends, 0);
	assert_int_equal(e->r[0].nbody, 0);
	assert_int_equal(e->r[0].closes, 1);
	assert_int_equal(e->r[0].err, WEFT_HS_PROTO);
}

static void test_chunk_bad_crlf(void **state)
{
	env_t *e = E;

	start_server();
	peer_write("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n0\r\n\r\n");
	run(NULL);
	assert_true(strncmp(e->out, "HTTP/1.1 400", 12) == 0);
	assert_int_equal(e->r[0].ends, 0);
	assert_int_equal(e->r[0].err, WEFT_HS_PROTO);
}

static bool two_closed(void) { return E->r[1].closes == 1; }

static void test_pipelining_keepalive(void **state)
{
	env_t *e = E;

	start_server();
	peer_write("GET /a HTTP/1.1\r\nHost: h\r\nX-Mixed: V\r\nConnection: keep-alive, X-Hop\r\n"
		   "X-Hop: 1\r\nKeep-Alive: 5\r\n\r\n"
		   "POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nxyz");
	run(two_closed);
	assert_int_equal(e->nr, 2);
	assert_string_equal(e->r[0].method, "GET");
	assert_string_equal(e->r[0].path, "/a");
	assert_string_equal(e->r[0].authority, "h");
	assert_true(e->r[0].head_end);
	/* lowercased, hop-by-hop fields gone */
	assert_string_equal(e->r[0].hdrs, "host=h;x-mixed=V;");
	assert_string_equal(e->r[1].method, "POST");
	assert_int_equal(e->r[1].clen, 3);
	assert_int_equal(e->r[1].nbody, 3);
	assert_memory_equal(e->r[1].body, "xyz", 3);
	assert_int_equal(e->r[1].ends, 1);
	assert_int_equal(e->r[0].err, WEFT_HS_OK);
	assert_int_equal(e->r[1].err, WEFT_HS_OK);
	assert_false(e->peer_eof);
}

static bool two_responses(void) { return count(E->out, "HTTP/1.1 200") == 2; }

/* A head sent outside the codec's own events (as the agent does from the
 * upstream's), with no body in the same turn, still leaves at the end of
 * the turn (a head waits for its body only that long); the body follows
 * when the owner sends it, on the same keep-alive exchange. */
static bool got_head1(void) { return E->r[0].heads == 1; }
static bool head_out(void) { return strstr(E->out, "\r\n\r\n") != NULL; }
static bool body_out(void) { return strstr(E->out, "\r\n\r\nhello") != NULL && E->r[0].closes == 1; }

static void test_head_alone_leaves(void **state)
{
	env_t *e = E;
	weft_http_head_t hd = { .ver = WEFT_HTTP_11, .status = 200, .content_length = 5 };

	e->resp_mode = 3;
	start_server();
	peer_write("GET /slow HTTP/1.1\r\nHost: h\r\n\r\n");
	run(got_head1);
	assert_int_equal(e->last->ops->send_head(e->last, &hd, false), WEFT_OK);
	run(head_out);
	assert_non_null(strstr(e->out, "HTTP/1.1 200 OK\r\n"));
	assert_non_null(strstr(e->out, "content-length: 5\r\n"));
	assert_int_equal(e->r[0].closes, 0);
	assert_int_equal(e->last->ops->send_data(e->last, "hello", 5, true), 5);
	run(body_out);
	assert_int_equal(e->r[0].err, WEFT_HS_OK);
	assert_false(e->peer_eof);
}

/* A request whose head outgrows the kept input buffer, then a small one
 * on the same connection: both are read whole (the large buffer is given
 * back and a small one taken). */
static bool first_closed(void) { return E->r[0].closes == 1; }

static void test_big_then_small(void **state)
{
	env_t *e = E;
	static char req[8000];
	char pad[6001];

	memset(pad, 'p', sizeof(pad) - 1);
	pad[sizeof(pad) - 1] = 0;
	start_server();
	snprintf(req, sizeof(req), "GET /big HTTP/1.1\r\nHost: h\r\nX-Pad: %s\r\n\r\n", pad);
	peer_write(req);
	run(first_closed);
	peer_write("GET /small HTTP/1.1\r\nHost: h\r\n\r\n");
	run(two_closed);
	assert_int_equal(count(e->out, "HTTP/1.1 200"), 2);
	assert_string_equal(e->r[0].path, "/big");
	assert_string_equal(e->r[1].path, "/small");
	assert_string_equal(e->r[1].hdrs, "host=h;");
	assert_int_equal(e->r[1].err, WEFT_HS_OK);
}

static void test_pipelining_order(void **state)
{
	env_t *e = E;

	start_server();
	peer_write("GET /1 HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\n");
	run(two_responses);
	assert_int_equal(e->nr, 2);
	assert_string_equal(e->r[1].path, "/2");
	assert_int_equal(count(e->out, "content-length: 2\r\n"), 2);
	assert_int_equal(count(e->out, "\r\n\r\nok"), 2);
	/* HTTP/1.1 keep-alive: still open */
	assert_false(e->peer_eof);
	assert_non_null(e->srv);
}

static void test_http10_close(void **state)
{
	env_t *e = E;

	start_server();
	peer_write("GET / HTTP/1.0\r\n\r\n");
	run(NULL);
	assert_int_equal(e->nr, 1);
	assert_non_null(strstr(e->out, "HTTP/1.1 200 OK\r\n"));
	assert_non_null(strstr(e->out, "connection: close\r\n"));
	assert_non_null(strstr(e->out, "\r\n\r\nok"));
}

static bool one_response(void) { return strstr(E->out, "\r\n0\r\n") && strstr(E->out, "\r\n\r\n") &&
				      E->r[0].closes == 1; }

static void test_chunked_both_ways(void **state)
{
	env_t *e = E;

	e->resp_mode = 2;   /* echo the body back, chunked, with a trailer */
	start_server();
	peer_write("POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
		   "5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-T: tv\r\n\r\n");
	run(one_response);
	assert_int_equal(e->r[0].nbody, 11);
	assert_memory_equal(e->r[0].body, "hello world", 11);
	assert_int_equal(e->r[0].trailers, 1);
	assert_string_equal(e->r[0].tr_name, "x-t");
	assert_string_equal(e->r[0].tr_value, "tv");
	assert_int_equal(e->r[0].clen, -1);
	assert_non_null(strstr(e->out, "transfer-encoding: chunked\r\n"));
	assert_non_null(strstr(e->out, "\r\n\r\nb\r\nhello world\r\n0\r\nx-r: 1\r\n\r\n"));
}

static bool closed0(void) { return E->r[0].closes == 1; }

static void test_head_request(void **state)
{
	env_t *e = E;

	start_server();
	peer_write("HEAD / HTTP/1.1\r\nHost: h\r\n\r\n");
	run(closed0);
	assert_non_null(strstr(e->out, "content-length: 2\r\n"));
	assert_null(strstr(e->out, "\r\n\r\nok"));   /* no body for HEAD */
	assert_false(e->peer_eof);
}

static bool got_continue(void) { return strstr(E->out, "HTTP/1.1 100 Continue\r\n\r\n") != NULL; }

static void test_expect_100_real(void **state)
{
	env_t *e = E;

	start_server();
	peer_write("POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n");
	run(got_continue);
	assert_int_equal(e->r[0].heads, 1);
	assert_null(strstr(e->r[0].hdrs, "expect"));
	peer_write("hi");
	run(closed0);
	assert_non_null(strstr(e->out, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n"));
}

static bool got_head(void) { return E->r[0].heads == 1; }

static void test_upgrade_take_fd(void **state)
{
	env_t *e = E;
	uint8_t *rest;
	size_t nrest;
	int fd;
	char buf[8];

	e->resp_mode = 2;
	start_server();
	peer_write("GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nXYZ");
	/* resp_mode 2 and a body-less request: the owner does not answer */
	run(got_head);
	assert_true(e->r[0].upgrade);
	fd = weft_h1_take_fd(e->srv, &rest, &nrest);
	assert_true(fd >= 0);
	e->srv = NULL;
	assert_int_equal(nrest, 3);
	assert_memory_equal(rest, "XYZ", 3);
	free(rest);
	assert_int_equal(e->conn_closed, 0);   /* no callbacks */
	assert_int_equal(e->r[0].closes, 0);
	assert_int_equal(write(fd, "raw", 3), 3);
	assert_int_equal(read(e->sv[1], buf, 3), 3);
	assert_memory_equal(buf, "raw", 3);
	close(fd);
}

static void test_take_fd_refused(void **state)
{
	env_t *e = E;
	uint8_t *rest;
	size_t nrest;

	e->resp_mode = 2;
	start_server();
	peer_write("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n\r\n");
	run(got_head);
	assert_int_equal(weft_h1_take_fd(e->srv, &rest, &nrest), -1);
}

static void test_head_timeout(void **state)
{
	env_t *e = E;

	e->lim.head_timeout_ms = 30;
	start_server();
	peer_write("GET / HTTP/1.1\r\nHost:");
	run(NULL);
	assert_true(strncmp(e->out, "HTTP/1.1 408", 12) == 0);
	assert_int_equal(e->nr, 0);
}

static void test_idle_close(void **state)
{
	env_t *e = E;

	e->lim.idle_ms = 30;
	start_server();
	run(NULL);
	assert_int_equal(e->nout, 0);
	assert_int_equal(e->conn_closed, 1);
}

/* The idle limit counts from the end of the last exchange, though the
 * timer armed for the first idle spell is left running (lazy re-arm). */
static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static bool first_exchange_done(void) { return count(E->out, "HTTP/1.1 200") == 1 && E->r[0].closes == 1; }

static void test_idle_after_exchange(void **state)
{
	env_t *e = E;
	uint64_t t0, t1;

	e->lim.idle_ms = 80;
	start_server();
	t0 = now_ms();
	while (now_ms() - t0 < 50)
		weft_loop_once(&e->loop, 5);
	assert_int_equal(e->conn_closed, 0);
	peer_write("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
	run(first_exchange_done);
	t1 = now_ms();
	while (now_ms() - t1 < 50)   /* past the first spell's 80 ms */
		weft_loop_once(&e->loop, 5);
	assert_int_equal(e->conn_closed, 0);
	run(NULL);
	assert_int_equal(e->conn_closed, 1);
	assert_true(now_ms() - t1 >= 75);
}

/* flow control: reading stops while the owner holds a window's worth */
static void test_flow_control(void **state)
{
	env_t *e = E;
	static char big[70000];
	char hdr[128];
	size_t off = 0;

	e->lim.stream_window = 1000;
	e->no_auto_consume = true;
	start_server();
	snprintf(hdr, sizeof(hdr), "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: %zu\r\n\r\n", sizeof(big));
	peer_write(hdr);
	memset(big, 'b', sizeof(big));
	for (int i = 0; i < 200; i++) {
		ssize_t n = write(e->sv[1], big + off, sizeof(big) - off);
		if (n > 0)
			off += (size_t)n;
		weft_loop_once(&e->loop, 2);
	}
	assert_int_equal(e->r[0].nbody, 1000);   /* no more than the window */
	while (e->r[0].ends == 0) {
		size_t have = e->r[0].nbody;
		if (off < sizeof(big)) {
			ssize_t n = write(e->sv[1], big + off, sizeof(big) - off);
			if (n > 0)
				off += (size_t)n;
		}
		e->last->ops->consumed(e->last, have);
		e->r[0].nbody = 0;
		weft_loop_once(&e->loop, 2);
		assert_true(e->r[0].nbody <= 1000);
	}
}

/* ---- client role ---- */

static void start_client(void)
{
	E->cli = weft_h1_client_new(&E->loop, E->sv[0], &weft_xprt_raw, NULL, &E->lim, &hcbs, E, "t-cli");
	assert_non_null(E->cli);
	E->sv[0] = -1;
}

static weft_hstream_t *cli_open(rec_t *r)
{
	weft_hstream_t *s = E->cli->ops->open(E->cli, &ocbs, r);

	assert_non_null(s);
	return s;
}

static bool got_request(void) { return strstr(E->out, "\r\n\r\n") != NULL; }

static void client_exchange(const char *resp, bool head, rec_t *r)
{
	weft_hstream_t *s = cli_open(r);
	weft_http_head_t hd = { .ver = WEFT_HTTP_11, .method = head ? WEFT_STR_LIT("HEAD") : WEFT_STR_LIT("GET"),
				.path = WEFT_STR_LIT("/x"), .authority = WEFT_STR_LIT("svc:80"),
				.content_length = -1 };

	assert_int_equal(s->ops->send_head(s, &hd, true), WEFT_OK);
	run(got_request);
	assert_non_null(strstr(E->out, head ? "HEAD /x HTTP/1.1\r\nhost: svc:80\r\n" : "GET /x HTTP/1.1\r\nhost: svc:80\r\n"));
	peer_write(resp);
}

static bool rclosed(void) { return E->r[0].closes == 1; }

static void test_client_close_delimited(void **state)
{
	env_t *e = E;

	start_client();
	client_exchange("HTTP/1.1 200 OK\r\nX-A: b\r\n\r\nabc", false, &e->r[0]);
	shutdown(e->sv[1], SHUT_WR);
	run(rclosed);
	assert_int_equal(e->r[0].status, 200);
	assert_int_equal(e->r[0].nbody, 3);
	assert_int_equal(e->r[0].ends, 1);
	assert_int_equal(e->r[0].err, WEFT_HS_OK);
	assert_int_equal(e->idles, 0);
}

static bool idle1(void) { return E->idles == 1 && E->r[0].closes == 1; }

static void test_client_nobody_keepalive(void **state)
{
	env_t *e = E;

	start_client();
	client_exchange("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\nContent-Length: 9\r\n\r\n", false, &e->r[0]);
	run(idle1);
	assert_int_equal(e->r[0].status, 204);
	assert_true(e->r[0].head_end);
	assert_int_equal(e->r[0].err, WEFT_HS_OK);
	assert_true(e->cli->ops->can_open(e->cli));
	e->nout = 0;
	e->out[0] = 0;
	client_exchange("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", true, &e->r[1]);
	run(two_closed);
	assert_int_equal(e->r[1].status, 200);
	assert_true(e->r[1].head_end);   /* HEAD: no body despite the length */
	assert_int_equal(e->r[1].err, WEFT_HS_OK);
}

static bool r2closed(void) { return E->r[2].closes == 1; }

static void test_client_304(void **state)
{
	env_t *e = E;

	start_client();
	client_exchange("HTTP/1.1 304 Not Modified\r\nETag: x\r\n\r\n", false, &e->r[2]);
	run(r2closed);
	assert_int_equal(e->r[2].status, 304);
	assert_true(e->r[2].head_end);
	assert_int_equal(e->r[2].err, WEFT_HS_OK);
}

static void test_client_garbage(void **state)
{
	env_t *e = E;

	start_client();
	client_exchange("SSH-2.0-OpenSSH\r\n\r\n", false, &e->r[0]);
	run(rclosed);
	assert_int_equal(e->r[0].heads, 0);
	assert_int_equal(e->r[0].err, WEFT_HS_PROTO);
}

static void test_client_eof(void **state)
{
	env_t *e = E;
	weft_hstream_t *s;
	weft_http_head_t hd = { .ver = WEFT_HTTP_11, .method = WEFT_STR_LIT("GET"),
				.path = WEFT_STR_LIT("/"), .authority = WEFT_STR_LIT("a"), .content_length = -1 };

	start_client();
	s = cli_open(&e->r[0]);
	assert_int_equal(s->ops->send_head(s, &hd, true), WEFT_OK);
	run(got_request);
	close(e->sv[1]);
	e->sv[1] = -1;
	run(rclosed);
	assert_int_equal(e->r[0].err, WEFT_HS_CONN_CLOSED);
	/* mid-body EOF is a protocol error */
}

static void test_client_truncated(void **state)
{
	env_t *e = E;

	start_client();
	client_exchange("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", false, &e->r[0]);
	shutdown(e->sv[1], SHUT_WR);
	run(rclosed);
	assert_int_equal(e->r[0].nbody, 3);
	assert_int_equal(e->r[0].ends, 0);
	assert_int_equal(e->r[0].err, WEFT_HS_PROTO);
}

/* ---- client codec <-> server codec ---- */

static bool cc_done(void) { return E->r[4].closes == 1; }

static void test_codec_pair(void **state)
{
	env_t *e = E;
	weft_hstream_t *s;
	weft_hdr_t t[1] = { { WEFT_STR_LIT("grpc-status"), WEFT_STR_LIT("0") } };
	weft_hdr_t h[2] = { { WEFT_STR_LIT("X-Up"), WEFT_STR_LIT("u") },
			    { WEFT_STR_LIT("connection"), WEFT_STR_LIT("close") } };
	weft_http_head_t hd = { .ver = WEFT_HTTP_2, .method = WEFT_STR_LIT("POST"),
				.path = WEFT_STR_LIT("/svc/M"), .authority = WEFT_STR_LIT("svc"),
				.nhdrs = 2, .hdrs = h, .content_length = -1 };

	e->resp_mode = 2;
	e->srv = weft_h1_server_new(&e->loop, e->sv[1], &weft_xprt_raw, NULL, &e->lim, &hcbs, e, "p-srv");
	e->sv[1] = -1;
	start_client();
	/* streams the server gets land in r[0..3]; the client's is r[4] */
	e->nr = 0;
	s = cli_open(&e->r[4]);
	assert_int_equal(s->ops->send_head(s, &hd, false), WEFT_OK);
	assert_int_equal(s->ops->send_data(s, "ping", 4, false), 4);
	assert_int_equal(s->ops->send_data(s, "pong", 4, false), 4);
	assert_int_equal(s->ops->send_trailers(s, t, 1), WEFT_OK);
	run(cc_done);
	assert_string_equal(e->r[0].method, "POST");
	assert_string_equal(e->r[0].authority, "svc");
	assert_string_equal(e->r[0].hdrs, "host=svc;x-up=u;");
	assert_memory_equal(e->r[0].body, "pingpong", 8);
	assert_string_equal(e->r[0].tr_name, "grpc-status");
	assert_int_equal(e->r[4].status, 200);
	assert_int_equal(e->r[4].nbody, 8);
	assert_memory_equal(e->r[4].body, "pingpong", 8);
	assert_string_equal(e->r[4].tr_name, "x-r");
	assert_int_equal(e->r[4].ends, 1);
	assert_int_equal(e->r[4].err, WEFT_HS_OK);
	for (int i = 0; i < 50 && e->idles == 0; i++)
		weft_loop_once(&e->loop, 2);
	assert_int_equal(e->idles, 1);
	assert_true(e->cli->ops->can_open(e->cli));
	assert_null(e->cli->ops->open(e->srv, &ocbs, NULL));   /* not on a server */
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_cl_and_te), T(test_te_and_cl), T(test_cl_conflict), T(test_cl_list),
		T(test_te_twice), T(test_te_two_lines), T(test_te_not_last), T(test_te_empty),
		T(test_te_unknown), T(test_bare_lf), T(test_bare_lf_hdr), T(test_obs_fold),
		T(test_ws_colon), T(test_ws_colon_te), T(test_http10_te), T(test_garbage),
		T(test_uri_too_long), T(test_headers_too_large), T(test_chunk_overflow),
		T(test_chunk_bad_crlf), T(test_pipelining_order), T(test_http10_close),
		T(test_chunked_both_ways), T(test_head_request), T(test_expect_100_real),
		T(test_upgrade_take_fd), T(test_take_fd_refused), T(test_head_timeout),
		T(test_idle_close), T(test_idle_after_exchange), T(test_flow_control), T(test_client_close_delimited),
		T(test_client_304), T(test_pipelining_keepalive), T(test_client_nobody_keepalive), T(test_client_garbage), T(test_client_eof),
		T(test_client_truncated), T(test_codec_pair), T(test_head_alone_leaves),
		T(test_big_then_small),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
