/* Unit tests for the strict HTTP/1.1 parser (src/proto/http1.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "weft/arena.h"
#include "weft/http.h"
#include "weft/http1.h"
#include "weft/str.h"

static int parse(const char *s, weft_h1_req_t *req, int *status)
{
	weft_h1_limits_t lim;
	size_t n = strlen(s);
	/* copy without a terminating NUL so over-reads show under ASan */
	char *p = malloc(n ? n : 1);
	int rc;

	weft_h1_limits_default(&lim);
	memcpy(p, s, n);
	rc = weft_h1_parse_request(p, n, &lim, req, status);
	free(p);
	return rc;
}

static int status_of(const char *s)
{
	weft_h1_req_t req;
	int st = 0, rc = parse(s, &req, &st);

	if (rc == WEFT_EAGAIN)
		return -2;
	return rc > 0 ? 0 : st;
}

static void test_valid(void **state)
{
	const char *s = "GET /debug/clients?format=text HTTP/1.1\r\nHost: x\r\n"
			"X-A:  spaced value \t\r\nConnection: keep-alive, Upgrade\r\n\r\nBODY";
	weft_h1_req_t req;
	int st;
	char buf[512];

	strcpy(buf, s);
	weft_h1_limits_t lim;
	weft_h1_limits_default(&lim);
	int rc = weft_h1_parse_request(buf, strlen(buf), &lim, &req, &st);
	assert_int_equal(rc, (int)(strstr(buf, "BODY") - buf));
	assert_true(weft_str_eq_c(req.method, "GET"));
	assert_true(weft_str_eq_c(req.path, "/debug/clients"));
	assert_true(weft_str_eq_c(req.query, "format=text"));
	assert_int_equal(req.minor, 1);
	assert_int_equal(req.nhdrs, 3);
	assert_true(weft_str_eq_c(weft_h1_header(&req, "x-a")->value, "spaced value"));
	assert_true(req.keep_alive);
	assert_true(weft_str_eq_c(req.host, "x"));
}

static void test_incomplete(void **state)
{
	assert_int_equal(status_of(""), -2);
	assert_int_equal(status_of("GET / HTTP/1.1\r"), -2);
	assert_int_equal(status_of("GET / HTTP/1.1\r\nHost: x\r\n"), -2);
	assert_int_equal(status_of("GET / HTTP/1.1\r\nHost: x\r\n\r"), -2);
}

static void test_line_endings(void **state)
{
	assert_int_equal(status_of("GET / HTTP/1.1\nHost: x\r\n\r\n"), 400);      /* bare LF */
	assert_int_equal(status_of("GET / HTTP/1.1\r\nHost: x\n\r\n"), 400);
	assert_int_equal(status_of("GET / HTTP/1.1\r\nHost: x\r\n\n"), 400);
	assert_int_equal(status_of("GET / HTTP/1.1\r\nHost: x\rY\r\n\r\n"), 400);  /* lone CR */
	assert_int_equal(status_of("\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n"), 0);   /* leading CRLF ok */
}

static void test_request_line(void **state)
{
	assert_int_equal(status_of("G(T / HTTP/1.1\r\nHost: x\r\n\r\n"), 400);     /* bad method char */
	assert_int_equal(status_of(" GET / HTTP/1.1\r\nHost: x\r\n\r\n"), 400);
	assert_int_equal(status_of("GET  / HTTP/1.1\r\nHost: x\r\n\r\n"), 400);    /* double SP */
	assert_int_equal(status_of("GET /a\x01 HTTP/1.1\r\nHost: x\r\n\r\n"), 400);
	assert_int_equal(status_of("GET /\x80 HTTP/1.1\r\nHost: x\r\n\r\n"), 400);
	assert_int_equal(status_of("GET http://x/ HTTP/1.1\r\nHost: x\r\n\r\n"), 400);
	assert_int_equal(status_of("GET / HTTP/1.1 \r\nHost: x\r\n\r\n"), 400);
	assert_int_equal(status_of("GET / http/1.1\r\nHost: x\r\n\r\n"), 400);
	assert_int_equal(status_of("GET / HTTP/1\r\nHost: x\r\n\r\n"), 400);
	assert_int_equal(status_of("GET / HTTP/2.0\r\nHost: x\r\n\r\n"), 505);
	assert_int_equal(status_of("GET / HTTP/1.2\r\nHost: x\r\n\r\n"), 505);
	assert_int_equal(status_of("GET / HTTP/1.0\r\n\r\n"), 0);   /* no Host needed in 1.0 */
	assert_int_equal(status_of("BREW / HTTP/1.1\r\nHost: x\r\n\r\n"), 0);  /* a token: the server decides */
}

static void test_headers(void **state)
{
	assert_int_equal(status_of("GET / HTTP/1.1\r\nHost: x\r\nA: b\r\n c\r\n\r\n"), 400);   /* obs-fold */
	assert_int_equal(status_of("GET / HTTP/1.1\r\nHost: x\r\nA: b\r\n\tc\r\n\r\n"), 400);
	assert_int_equal(status_of("GET / HTTP/1.1\r\nHost : x\r\n\r\n"), 400);    /* space before colon */
	assert_int_equal(status_of("GET / HTTP/1.1\r\nHost\t: x\r\n\r\n"), 400);
	assert_int_equal(status_of("GET / HTTP/1.1\r\nHo(st: x\r\n\r\n"), 400);   /* bad name char */
	assert_int_equal(status_of("GET / HTTP/1.1\r\n: x\r\nHost: x\r\n\r\n"), 400);
	assert_int_equal(status_of("GET / HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n"), 400);
	assert_int_equal(status_of("GET / HTTP/1.1\r\nHost: x\r\nA: b\x01\r\n\r\n"), 400); /* CTL in value */
	assert_int_equal(status_of("GET / HTTP/1.1\r\nHost: x\r\nA: b\x7f\r\n\r\n"), 400);
	assert_int_equal(status_of("GET / HTTP/1.1\r\nHost: x\r\nA: caf\xc3\xa9\r\n\r\n"), 0); /* obs-text */
	assert_int_equal(status_of("GET / HTTP/1.1\r\n\r\n"), 400);                  /* Host missing */
	assert_int_equal(status_of("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), 400);
}

static void test_framing(void **state)
{
	weft_h1_req_t req;
	int st;

	assert_int_equal(status_of("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1x\r\n\r\n"), 400);
	assert_int_equal(status_of("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n"), 400);
	assert_int_equal(status_of("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"), 400);
	assert_int_equal(status_of("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n"), 0);
	assert_int_equal(status_of("GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n"), 501);
	assert_int_equal(status_of("GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"), 400);
	assert_int_equal(status_of("GET / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"), 400);
	assert_true(parse("GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", &req, &st) > 0);
	assert_true(req.chunked);
	assert_true(parse("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 42\r\n\r\n", &req, &st) > 0);
	assert_true(req.has_length);
	assert_int_equal(req.content_length, 42);
}

static void test_connection(void **state)
{
	weft_h1_req_t req;
	int st;

	assert_true(parse("GET / HTTP/1.1\r\nHost: x\r\nConnection: Close\r\n\r\n", &req, &st) > 0);
	assert_false(req.keep_alive);
	assert_true(parse("GET / HTTP/1.0\r\n\r\n", &req, &st) > 0);
	assert_false(req.keep_alive);
	assert_true(parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", &req, &st) > 0);
	assert_true(req.keep_alive);
	assert_true(parse("GET / HTTP/1.1\r\nHost: x\r\nConnection: closed\r\n\r\n", &req, &st) > 0);
	assert_true(req.keep_alive);
}

static void test_limits(void **state)
{
	char *big = malloc(20000);
	size_t o;

	/* request line over 8 KiB: 414, complete or not */
	o = (size_t)sprintf(big, "GET /");
	memset(big + o, 'a', 9000);
	big[o + 9000] = '\0';
	assert_int_equal(status_of(big), 414);
	strcpy(big + o + 9000, " HTTP/1.1\r\nHost: x\r\n\r\n");
	assert_int_equal(status_of(big), 414);
	/* headers over 16 KiB: 431 */
	o = (size_t)sprintf(big, "GET / HTTP/1.1\r\nHost: x\r\n");
	for (int i = 0; i < 200; i++)
		o += (size_t)sprintf(big + o, "X-H%03d: %080d\r\n", i, 0);
	big[o] = '\0';
	assert_int_equal(status_of(big), 431);
	/* too many headers: 431 */
	o = (size_t)sprintf(big, "GET / HTTP/1.1\r\nHost: x\r\n");
	for (int i = 0; i < 70; i++)
		o += (size_t)sprintf(big + o, "X-%d: v\r\n", i);
	strcpy(big + o, "\r\n");
	assert_int_equal(status_of(big), 431);
	free(big);
}

static void test_response(void **state)
{
	const char *r = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nabc";
	int st;
	long long cl;
	int n = weft_h1_parse_response(r, strlen(r), &st, &cl);

	assert_int_equal(n, (int)strlen(r) - 3);
	assert_int_equal(st, 200);
	assert_int_equal(cl, 3);
	assert_int_equal(weft_h1_parse_response("HTTP/1.1 200", 12, &st, &cl), WEFT_EAGAIN);
	assert_int_equal(weft_h1_parse_response("SSH-2.0\r\n\r\n", 11, &st, &cl), WEFT_EPROTO);
}

/* http_msg.c: limits defaults, lookups and arena-backed head edits */
static void test_hmsg(void **state)
{
	weft_http_limits_t l;
	weft_arena_t a;
	weft_hmsg_t m, c;
	weft_hdr_t src_hdrs[2] = { { WEFT_STR_LIT("x-a"), WEFT_STR_LIT("1") },
				   { WEFT_STR_LIT("x-b"), WEFT_STR_LIT("2") } };
	weft_http_head_t src = { .ver = WEFT_HTTP_2, .method = WEFT_STR_LIT("POST"),
				 .path = WEFT_STR_LIT("/p?q"), .authority = WEFT_STR_LIT("svc"),
				 .nhdrs = 2, .hdrs = src_hdrs, .content_length = 5 };

	(void)state;
	weft_http_limits_default(&l);
	assert_int_equal(l.max_head, 16384);
	assert_int_equal(l.max_line, 8192);
	assert_int_equal(l.max_headers, 64);
	assert_int_equal(l.max_streams, 128);
	assert_int_equal(l.stream_window, 256 * 1024);
	assert_int_equal(l.conn_window, 1024 * 1024);
	assert_int_equal(l.stream_out_max, 64 * 1024);
	assert_int_equal(l.conn_out_max, 256 * 1024);
	assert_int_equal(l.head_timeout_ms, 10000);
	assert_int_equal(l.idle_ms, 60000);
	assert_int_equal(l.max_resets_per_s, 200);
	assert_int_equal(l.max_control_per_s, 200);
	assert_int_equal(l.max_continuations, 16);

	assert_true(weft_hdr_is(WEFT_STR_LIT("Content-Length"), "content-length"));
	assert_false(weft_hdr_is(WEFT_STR_LIT("content-lengt"), "content-length"));

	weft_arena_init(&a, 0);
	weft_hmsg_init(&m, &a);
	assert_int_equal(m.h.ver, WEFT_HTTP_11);
	assert_int_equal(m.h.content_length, -1);
	assert_null(weft_http_hdr(&m.h, "x"));
	/* add lowercases the name and grows past the first capacity */
	for (int i = 0; i < 40; i++)
		assert_int_equal(weft_hmsg_add(&m, WEFT_STR_LIT("X-Many"), WEFT_STR_LIT("v")), WEFT_OK);
	assert_int_equal(weft_hmsg_add(&m, WEFT_STR_LIT("Via"), WEFT_STR_LIT("a")), WEFT_OK);
	assert_int_equal(m.h.nhdrs, 41);
	assert_true(weft_str_eq_c(m.h.hdrs[0].name, "x-many"));
	/* set collapses every x-many into one, at the first one's place */
	assert_int_equal(weft_hmsg_set(&m, WEFT_STR_LIT("x-MANY"), WEFT_STR_LIT("one")), WEFT_OK);
	assert_int_equal(m.h.nhdrs, 2);
	assert_true(weft_str_eq_c(m.h.hdrs[0].value, "one"));
	assert_true(weft_str_eq_c(weft_http_hdr(&m.h, "via")->value, "a"));
	/* set of a new name appends; set with a value pointing at itself */
	assert_int_equal(weft_hmsg_set(&m, WEFT_STR_LIT("x-new"), WEFT_STR_LIT("n")), WEFT_OK);
	assert_int_equal(weft_hmsg_set(&m, WEFT_STR_LIT("via"), weft_http_hdr(&m.h, "via")->value), WEFT_OK);
	assert_true(weft_str_eq_c(weft_http_hdr(&m.h, "via")->value, "a"));
	assert_int_equal(m.h.nhdrs, 3);
	weft_hmsg_remove(&m, WEFT_STR_LIT("X-Many"));
	assert_int_equal(m.h.nhdrs, 2);
	assert_null(weft_http_hdr(&m.h, "x-many"));
	assert_int_equal(weft_hmsg_str(&m, &m.h.path, WEFT_STR_LIT("/x")), WEFT_OK);
	assert_true(weft_str_eq_c(m.h.path, "/x"));

	/* deep copy: strings are the arena's, not src's */
	assert_int_equal(weft_hmsg_copy(&c, &a, &src), WEFT_OK);
	assert_int_equal(c.h.ver, WEFT_HTTP_2);
	assert_int_equal(c.h.content_length, 5);
	assert_true(weft_str_eq_c(c.h.method, "POST"));
	assert_true(c.h.method.p != src.method.p);
	assert_int_equal(c.h.nhdrs, 2);
	assert_true(c.h.hdrs != src_hdrs);
	assert_true(weft_str_eq_c(weft_http_hdr(&c.h, "x-b")->value, "2"));
	assert_int_equal(weft_hmsg_add(&c, WEFT_STR_LIT("x-c"), WEFT_STR_LIT("3")), WEFT_OK);
	assert_int_equal(src.nhdrs, 2);
	assert_int_equal(c.h.nhdrs, 3);
	weft_arena_destroy(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),       cmocka_unit_test(test_incomplete),
		cmocka_unit_test(test_line_endings), cmocka_unit_test(test_request_line),
		cmocka_unit_test(test_headers),     cmocka_unit_test(test_framing),
		cmocka_unit_test(test_connection),  cmocka_unit_test(test_limits),
		cmocka_unit_test(test_response),  cmocka_unit_test(test_hmsg),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
