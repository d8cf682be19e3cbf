/* Unit tests for src/agent/trace.c: traceparent parsing and propagation,
 * sampling, and the OTLP/HTTP JSON export to a tiny collector on
 * 127.0.0.1 (and batches dropped when the collector is down). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <cmocka.h>
#include "loop_test_util.h"
#include "weft/buf.h"
#include "weft/l7tel.h"
#include "weft/loop.h"
#include "weft/metrics.h"

static weft_http_head_t head_with(weft_hdr_t *h, const char *tp, const char *ts)
{
	weft_http_head_t hd = { 0 };
	size_t n = 0;

	if (tp) {
		h[n].name = (weft_str_t){ "traceparent", 11 };
		h[n++].value = (weft_str_t){ tp, strlen(tp) };
	}
	if (ts) {
		h[n].name = (weft_str_t){ "tracestate", 10 };
		h[n++].value = (weft_str_t){ ts, strlen(ts) };
	}
	hd.hdrs = h;
	hd.nhdrs = n;
	hd.method = (weft_str_t){ "GET", 3 };
	return hd;
}

static void test_continue_trace(void **state)
{
	weft_hdr_t h[2];
	weft_http_head_t hd = head_with(h, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
					"congo=t61rcWkgMzE");
	weft_span_t sp;
	uint64_t rnd = 42;
	char out[56];

	(void)state;
	weft_trace_start(NULL, &hd, &sp, &rnd);
	assert_string_equal(sp.trace_id, "0af7651916cd43dd8448eb211c80319c");
	assert_string_equal(sp.parent_id, "b7ad6b7169203331");
	assert_string_equal(sp.tracestate, "congo=t61rcWkgMzE");
	assert_true(sp.sampled);
	assert_int_equal(strlen(sp.span_id), 16);
	assert_string_not_equal(sp.span_id, "b7ad6b7169203331");
	assert_string_not_equal(sp.span_id, "0000000000000000");
	weft_trace_header(&sp, out);
	assert_int_equal(strlen(out), 55);
	assert_memory_equal(out, "00-0af7651916cd43dd8448eb211c80319c-", 36);
	assert_memory_equal(out + 36, sp.span_id, 16);
	assert_string_equal(out + 52, "-01");

	/* the sampled flag is honoured both ways */
	hd = head_with(h, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00", NULL);
	weft_trace_start(NULL, &hd, &sp, &rnd);
	assert_false(sp.sampled);
	assert_string_equal(sp.tracestate, "");
	weft_trace_header(&sp, out);
	assert_string_equal(out + 52, "-00");
	/* any flags byte: bit 0 is the sampled flag */
	hd = head_with(h, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-f3", NULL);
	weft_trace_start(NULL, &hd, &sp, &rnd);
	assert_true(sp.sampled);
	hd = head_with(h, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-a2", NULL);
	weft_trace_start(NULL, &hd, &sp, &rnd);
	assert_false(sp.sampled);
	/* the header is "00-%.32s-%.16s-%02x" of the span, short ids included */
	{
		weft_span_t z = { .trace_id = "abc", .span_id = "", .sampled = true };
		char want[56];
		snprintf(want, sizeof(want), "00-%.32s-%.16s-%02x", z.trace_id, z.span_id, 1u);
		weft_trace_header(&z, out);
		assert_string_equal(out, want);
	}
	/* a later version with extra fields is read as 00 */
	hd = head_with(h, "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra", NULL);
	weft_trace_start(NULL, &hd, &sp, &rnd);
	assert_string_equal(sp.parent_id, "b7ad6b7169203331");
}

/* Every byte of the ids and flags is checked: a byte just outside
 * '0'..'9' / 'a'..'f' anywhere makes the header invalid; every digit
 * anywhere is accepted. */
static void test_hex_bytes(void **state)
{
	static const char base[] = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
	static const char bad[] = { '/', ':', '`', 'g', 'A', 'F', ' ', (char)0x80, (char)0xb0, (char)0xff, 0 };
	static const char good[] = "0123456789abcdef";
	weft_hdr_t h[2];
	weft_span_t sp;
	uint64_t rnd = 3;
	char tp[56];

	(void)state;
	for (size_t pos = 0; pos < 55; pos++) {
		if (pos == 2 || pos == 35 || pos == 52)
			continue;
		for (size_t b = 0; b < sizeof(bad); b++) {
			weft_http_head_t hd;
			memcpy(tp, base, sizeof(base));
			tp[pos] = bad[b];
			hd = head_with(h, NULL, NULL);
			h[0].name = (weft_str_t){ "traceparent", 11 };
			h[0].value = (weft_str_t){ tp, 55 };
			hd.nhdrs = 1;
			weft_trace_start(NULL, &hd, &sp, &rnd);
			if (sp.parent_id[0])
				fail_msg("accepted byte 0x%02x at %zu", (unsigned char)bad[b], pos);
		}
		if (pos < 3)
			continue;                   /* the version: 00 only here */
		for (size_t g = 0; g < 16; g++) {
			weft_http_head_t hd;
			memcpy(tp, base, sizeof(base));
			tp[pos] = good[g];
			hd = head_with(h, tp, NULL);
			weft_trace_start(NULL, &hd, &sp, &rnd);
			if (!sp.parent_id[0] && !(pos >= 3 && pos < 35 && !memcmp(tp + 3, "00000000000000000000000000000000", 32)))
				fail_msg("refused digit %c at %zu", good[g], pos);
		}
	}
}

/* A new trace's ids are the xorshift draws in hex, most significant
 * digit first: trace id (two draws), the sampling draw, span id. */
static void test_new_ids(void **state)
{
	weft_span_t sp;
	uint64_t rnd = 42, x = 42, d[4];
	char want[40];

	(void)state;
	for (int i = 0; i < 4; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		d[i] = x;
	}
	weft_trace_start(NULL, NULL, &sp, &rnd);
	snprintf(want, sizeof(want), "%016llx%016llx", (unsigned long long)d[0], (unsigned long long)d[1]);
	assert_string_equal(sp.trace_id, want);
	snprintf(want, sizeof(want), "%016llx", (unsigned long long)d[3]);
	assert_string_equal(sp.span_id, want);
	assert_string_equal(sp.parent_id, "");
	assert_string_equal(sp.tracestate, "");
	rnd = 0xfedcba9876543210ull;
	for (int i = 0; i < 1000; i++) {
		uint64_t y = rnd;
		y ^= y << 13;
		y ^= y >> 7;
		y ^= y << 17;
		weft_trace_start(NULL, NULL, &sp, &rnd);
		snprintf(want, sizeof(want), "%016llx", (unsigned long long)y);
		assert_memory_equal(sp.trace_id, want, 16);
	}
}

static void test_invalid_starts_new(void **state)
{
	static const char *const bad[] = {
		"ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",   /* version ff */
		"00-00000000000000000000000000000000-b7ad6b7169203331-01",   /* zero trace id */
		"00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",   /* zero span id */
		"00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",   /* upper case */
		"00-0af7651916cd43dd8448eb211c80319g-b7ad6b7169203331-01",   /* bad hex */
		"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-x", /* 00 is exactly 55 */
		"00-0af7651916cd43dd8448eb211c80319c-b7ad6b716920333-01",    /* short span */
		"00_0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",   /* separator */
		"",
	};
	weft_hdr_t h[2];
	weft_span_t sp;
	uint64_t rnd = 7;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		weft_http_head_t hd = head_with(h, bad[i], "a=b");
		weft_trace_start(NULL, &hd, &sp, &rnd);
		if (!strcmp(sp.trace_id, "0af7651916cd43dd8448eb211c80319c") || sp.parent_id[0])
			fail_msg("continued an invalid traceparent: %s", bad[i]);
		assert_int_equal(strlen(sp.trace_id), 32);
		assert_string_not_equal(sp.trace_id, "00000000000000000000000000000000");
		assert_string_equal(sp.tracestate, "");
	}
}

static void test_sampling(void **state)
{
	weft_loop_t loop;
	weft_metrics_t m;
	weft_l7_tel_opts_t o = { .log_sink = "off", .log_sample = 1, .trace_sample = 0 };
	weft_l7_tel_t *t;
	weft_http_head_t hd = { 0 };
	weft_span_t sp;
	char err[128];
	uint64_t rnd = 99;
	int sampled = 0;

	(void)state;
	assert_int_equal(weft_loop_init(&loop), 0);
	weft_metrics_init(&m);
	t = weft_l7_tel_new(&loop, &m, &o, err, sizeof(err));
	assert_non_null(t);
	for (int i = 0; i < 200; i++) {
		weft_trace_start(t, &hd, &sp, &rnd);
		sampled += sp.sampled;
	}
	assert_int_equal(sampled, 0);
	weft_l7_tel_free(t);
	weft_metrics_free(&m);

	weft_metrics_init(&m);
	o.trace_sample = 1;
	t = weft_l7_tel_new(&loop, &m, &o, err, sizeof(err));
	assert_non_null(t);
	for (int i = 0; i < 200; i++) {
		weft_trace_start(t, &hd, &sp, &rnd);
		sampled += sp.sampled;
	}
	assert_int_equal(sampled, 200);
	weft_l7_tel_free(t);
	weft_metrics_free(&m);

	weft_metrics_init(&m);
	o.trace_sample = 2;
	assert_null(weft_l7_tel_new(&loop, &m, &o, err, sizeof(err)));
	o.trace_sample = 1;
	o.trace_endpoint = "https://127.0.0.1:1/v1/traces";
	assert_null(weft_l7_tel_new(&loop, &m, &o, err, sizeof(err)));
	assert_non_null(strstr(err, "trace endpoint"));
	weft_metrics_free(&m);
	weft_loop_destroy(&loop);
}

/* ---- export ---- */

typedef struct collector {
	weft_loop_t *loop;
	int lfd, fd;
	char buf[1 << 17];
	size_t len;
	weft_metrics_t *m;
	const char *want;
} collector_t;

static uint16_t collector_listen(collector_t *c)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	c->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	c->fd = -1;
	assert_true(c->lfd >= 0);
	assert_int_equal(bind(c->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(c->lfd, 8), 0);
	assert_int_equal(getsockname(c->lfd, (struct sockaddr *)&sa, &sl), 0);
	return ntohs(sa.sin_port);
}

/* True once a whole POST (head and Content-Length bytes) arrived. */
static bool collector_got(void *arg)
{
	collector_t *c = arg;
	const char *end, *cl;

	if (c->fd < 0)
		c->fd = accept4(c->lfd, NULL, NULL, SOCK_NONBLOCK);
	if (c->fd < 0)
		return false;
	for (;;) {
		ssize_t n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len, 0);
		if (n <= 0)
			break;
		c->len += (size_t)n;
		c->buf[c->len] = 0;
	}
	if (!(end = strstr(c->buf, "\r\n\r\n")) || !(cl = strstr(c->buf, "Content-Length: ")))
		return false;
	return c->len - (size_t)(end + 4 - c->buf) >= strtoul(cl + 16, NULL, 10);
}

static bool metric_is(void *arg)
{
	collector_t *c = arg;
	weft_buf_t b;
	bool ok;

	weft_buf_init(&b, 0);
	weft_metrics_render(c->m, &b);
	weft_buf_append(&b, "", 1);
	ok = strstr((const char *)weft_buf_head(&b), c->want) != NULL;
	weft_buf_free(&b);
	return ok;
}

/* A minimal JSON shape check: brackets balance outside strings. */
static void balanced(const char *s)
{
	char stack[64];
	int d = 0;
	bool str = false;

	for (; *s; s++) {
		if (str) {
			if (*s == '\\')
				s++;
			else if (*s == '"')
				str = false;
			continue;
		}
		if (*s == '"')
			str = true;
		else if (*s == '{' || *s == '[')
			stack[d++] = *s;
		else if (*s == '}' || *s == ']') {
			assert_true(d > 0);
			assert_int_equal(stack[--d], *s == '}' ? '{' : '[');
		}
		assert_true(d < 64);
	}
	assert_int_equal(d, 0);
	assert_false(str);
}

static int occurrences_span(const char *s)
{
	int n = 0;

	for (const char *p = s; (p = strstr(p, "{\"traceId\":")); p++)
		n++;
	return n;
}

static weft_l7_rec_t rec(bool dst, int status)
{
	weft_l7_rec_t r = { 0 };

	r.l.destination = dst;
	r.l.src_workload = "client";
	r.l.src_ns = "ns";
	r.l.dst_workload = "server";
	r.l.dst_ns = "ns";
	r.status = status;
	r.grpc_status = -1;
	r.duration_us = 1500;
	r.method = "GET";
	r.path = "/items/7?q=1";
	r.authority = "server.ns";
	r.route = dst ? NULL : "ns/items";
	return r;
}

static void test_export(void **state)
{
	collector_t c = { 0 };
	weft_loop_t loop;
	weft_metrics_t m;
	weft_l7_tel_opts_t o = { .log_sink = "off", .log_sample = 1, .trace_sample = 1,
				 .service_name = "weft-test" };
	char ep[64], err[128];
	weft_l7_tel_t *t;
	weft_hdr_t h[2];
	weft_http_head_t hd = { 0 };
	weft_span_t client, server, unsampled;
	uint64_t rnd = 5;
	char tp[56];
	const char *body;
	weft_l7_rec_t r;

	(void)state;
	assert_int_equal(weft_loop_init(&loop), 0);
	weft_metrics_init(&m);
	c.loop = &loop;
	c.m = &m;
	snprintf(ep, sizeof(ep), "http://127.0.0.1:%u/v1/traces", collector_listen(&c));
	o.trace_endpoint = ep;
	t = weft_l7_tel_new(&loop, &m, &o, err, sizeof(err));
	assert_non_null(t);

	/* source side starts the trace, destination side continues it */
	weft_trace_start(t, &hd, &client, &rnd);
	weft_trace_header(&client, tp);
	hd = head_with(h, tp, NULL);
	weft_trace_start(t, &hd, &server, &rnd);
	assert_string_equal(server.trace_id, client.trace_id);
	assert_string_equal(server.parent_id, client.span_id);
	r = rec(true, 503);
	weft_trace_end(t, &server, &r);
	r = rec(false, 200);
	weft_trace_end(t, &client, &r);
	unsampled = client;
	unsampled.sampled = false;
	weft_trace_end(t, &unsampled, &r);      /* dropped silently */

	ltu_run_until(&loop, collector_got, &c);
	assert_non_null(strstr(c.buf, "POST /v1/traces HTTP/1.1\r\n"));
	assert_non_null(strstr(c.buf, "Content-Type: application/json\r\n"));
	body = strstr(c.buf, "\r\n\r\n") + 4;
	balanced(body);
	assert_memory_equal(body, "{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\","
				  "\"value\":{\"stringValue\":\"weft-test\"}}]},\"scopeSpans\":[{\"scope\":",
			    strlen("{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\","
				   "\"value\":{\"stringValue\":\"weft-test\"}}]},\"scopeSpans\":[{\"scope\":"));
	char want[256];
	snprintf(want, sizeof(want), "{\"traceId\":\"%s\",\"spanId\":\"%s\",\"parentSpanId\":\"%s\"",
		 server.trace_id, server.span_id, client.span_id);
	assert_non_null(strstr(body, want));
	snprintf(want, sizeof(want), "{\"traceId\":\"%s\",\"spanId\":\"%s\",\"name\":\"GET ns/items\",\"kind\":3,",
		 client.trace_id, client.span_id);
	assert_non_null(strstr(body, want));
	assert_non_null(strstr(body, "\"name\":\"GET /items/7\",\"kind\":2,"));
	assert_non_null(strstr(body, "\"status\":{\"code\":2,"));
	assert_non_null(strstr(body, "{\"key\":\"http.response.status_code\",\"value\":{\"intValue\":\"503\"}}"));
	assert_non_null(strstr(body, "{\"key\":\"url.path\",\"value\":{\"stringValue\":\"/items/7?q=1\"}}"));
	assert_non_null(strstr(body, "\"startTimeUnixNano\":\""));
	assert_int_equal(occurrences_span(body), 2);
	assert_int_equal(send(c.fd, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 38, 0), 38);
	c.want = "weft_agent_trace_spans_exported_total 2\n";
	ltu_run_until(&loop, metric_is, &c);
	close(c.fd);

	/* collector gone: the batch is dropped and counted */
	close(c.lfd);
	r = rec(true, 200);
	weft_trace_end(t, &server, &r);
	c.want = "weft_agent_trace_spans_dropped_total 1\n";
	ltu_run_until(&loop, metric_is, &c);

	weft_l7_tel_free(t);
	weft_metrics_free(&m);
	weft_loop_destroy(&loop);
}

static void unused_helpers(void) __attribute__((unused));
static void unused_helpers(void)
{
	(void)ltu_dial;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_continue_trace),
		cmocka_unit_test(test_new_ids),
		cmocka_unit_test(test_hex_bytes),
		cmocka_unit_test(test_invalid_starts_new),
		cmocka_unit_test(test_sampling),
		cmocka_unit_test(test_export),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
