/* Unit tests for the strict HTTP/1.1 parser (src/proto/http1.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),       cmocka_unit_test(test_incomplete),
		cmocka_unit_test(test_line_endings), cmocka_unit_test(test_request_line),
		cmocka_unit_test(test_headers),     cmocka_unit_test(test_framing),
		cmocka_unit_test(test_connection),  cmocka_unit_test(test_limits),
		cmocka_unit_test(test_response),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
