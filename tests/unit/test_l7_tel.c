/* Unit tests for src/agent/l7_tel.c: Istio's request metric labels, the
 * series cap, promtool on a rendered registry, access log field selection
 * and sampling, and the admin endpoints behind `weft tap` / `weft top`
 * over 127.0.0.1 (the streaming route included). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <cmocka.h>
#include "loop_test_util.h"
#include "weft/admin.h"
#include "weft/agent.h"
#include "weft/buf.h"
#include "weft/l7tel.h"
#include "weft/loop.h"
#include "weft/metrics.h"
#include "../../src/agent/l7_tel_int.h"

static weft_l7_rec_t rec(const char *src_wl, int status)
{
	weft_l7_rec_t r = { 0 };

	r.l.destination = true;
	r.l.src_workload = src_wl;
	r.l.src_ns = "ns";
	r.l.src_principal = "spiffe://td/ns/ns/sa/client";
	r.l.dst_workload = "server";
	r.l.dst_ns = "ns";
	r.l.dst_service = "server.ns.svc.cluster.local";
	r.l.dst_service_name = "server";
	r.l.dst_service_ns = "ns";
	r.l.mtls = true;
	r.status = status;
	r.grpc_status = -1;
	r.start_us = 1714564800123456ull;
	r.duration_us = 2500;
	r.req_bytes = 10;
	r.resp_bytes = 1234;
	r.method = "GET";
	r.path = "/hello?x=1";
	r.authority = "server.ns:80";
	r.protocol = "HTTP/1.1";
	r.route = "ns/r1";
	r.attempts = 1;
	return r;
}

static weft_l7_tel_t *mk(weft_loop_t *loop, weft_metrics_t *m, const char *sink, const char *fields,
			 double sample)
{
	weft_l7_tel_opts_t o = { .log_sink = sink, .log_fields = fields, .log_sample = sample,
				 .trace_sample = 0.01 };
	char err[256] = "";
	weft_l7_tel_t *t = weft_l7_tel_new(loop, m, &o, err, sizeof(err));

	if (!t)
		fail_msg("weft_l7_tel_new: %s", err);
	return t;
}

static char *render(weft_metrics_t *m)
{
	weft_buf_t b;
	char *s;

	weft_buf_init(&b, 0);
	assert_int_equal(weft_metrics_render(m, &b), 0);
	s = strndup((const char *)weft_buf_head(&b), weft_buf_len(&b));
	weft_buf_free(&b);
	return s;
}

static void test_metric_labels(void **state)
{
	weft_loop_t loop;
	weft_metrics_t m;
	weft_l7_tel_t *t;
	weft_l7_rec_t r = rec("client", 200);
	char *out;

	(void)state;
	assert_int_equal(weft_loop_init(&loop), 0);
	weft_metrics_init(&m);
	t = mk(&loop, &m, "off", NULL, 1);
	weft_l7_tel_request(t, &r);
	weft_l7_tel_request(t, &r);
	r.grpc = true;
	r.grpc_status = 14;
	r.status = 200;
	r.l.response_flags = "UO";
	r.l.destination = false;
	r.l.src_workload = NULL;
	weft_l7_tel_request(t, &r);
	out = render(&m);
	assert_non_null(strstr(out,
		"istio_requests_total{reporter=\"destination\",source_workload=\"client\","
		"source_workload_namespace=\"ns\",source_principal=\"spiffe://td/ns/ns/sa/client\","
		"source_app=\"unknown\",source_version=\"unknown\",source_cluster=\"unknown\","
		"destination_workload=\"server\",destination_workload_namespace=\"ns\","
		"destination_principal=\"unknown\",destination_app=\"unknown\",destination_version=\"unknown\","
		"destination_service=\"server.ns.svc.cluster.local\",destination_service_name=\"server\","
		"destination_service_namespace=\"ns\",destination_cluster=\"unknown\",request_protocol=\"http\","
		"response_code=\"200\",grpc_response_status=\"\",response_flags=\"-\","
		"connection_security_policy=\"mutual_tls\"} 2"));
	assert_non_null(strstr(out, "istio_requests_total{reporter=\"source\",source_workload=\"unknown\","));
	assert_non_null(strstr(out, "request_protocol=\"grpc\",response_code=\"200\",grpc_response_status=\"14\","
				    "response_flags=\"UO\",connection_security_policy=\"mutual_tls\"} 1"));
	/* 2.5 ms falls in le=5 (cumulative), not le=1 */
	assert_non_null(strstr(out, "# TYPE istio_request_duration_milliseconds histogram"));
	assert_non_null(strstr(out, "connection_security_policy=\"mutual_tls\",le=\"1\"} 0"));
	assert_non_null(strstr(out, "connection_security_policy=\"mutual_tls\",le=\"5\"} 2"));
	assert_non_null(strstr(out, "# TYPE istio_response_bytes histogram"));
	assert_non_null(strstr(out, "# TYPE istio_request_bytes histogram"));
	free(out);

	weft_l7_tel_limit_hit(t, "ns/client", "requests");
	weft_l7_tel_workload_gauges(t, "ns/client", 3, 2, 4096);
	out = render(&m);
	assert_non_null(strstr(out, "weft_agent_l7_limit_rejections_total{workload=\"ns/client\",limit=\"requests\"} 1"));
	assert_non_null(strstr(out, "weft_agent_l7_workload_connections{workload=\"ns/client\"} 3"));
	assert_non_null(strstr(out, "weft_agent_l7_workload_requests{workload=\"ns/client\"} 2"));
	assert_non_null(strstr(out, "weft_agent_l7_workload_buffer_bytes{workload=\"ns/client\"} 4096"));
	free(out);
	/* a name buffer reused for another workload, and no name at all */
	{
		char w[16] = "ns/a";
		weft_l7_tel_workload_gauges(t, w, 1, 1, 1);
		strcpy(w, "ns/b");
		weft_l7_tel_workload_gauges(t, w, 5, 6, 7);
		weft_l7_tel_workload_gauges(t, NULL, 8, 8, 8);
		weft_l7_tel_workload_gauges(t, "ns/client", 0, 1, 0);
	}
	out = render(&m);
	assert_non_null(strstr(out, "weft_agent_l7_workload_connections{workload=\"ns/a\"} 1\n"));
	assert_non_null(strstr(out, "weft_agent_l7_workload_connections{workload=\"ns/b\"} 5\n"));
	assert_non_null(strstr(out, "weft_agent_l7_workload_requests{workload=\"ns/b\"} 6\n"));
	assert_non_null(strstr(out, "weft_agent_l7_workload_buffer_bytes{workload=\"ns/b\"} 7\n"));
	assert_non_null(strstr(out, "weft_agent_l7_workload_buffer_bytes{workload=\"unknown\"} 8\n"));
	assert_non_null(strstr(out, "weft_agent_l7_workload_connections{workload=\"ns/client\"} 0\n"));
	assert_non_null(strstr(out, "weft_agent_l7_workload_requests{workload=\"ns/client\"} 1\n"));
	free(out);
	weft_l7_tel_free(t);
	weft_metrics_free(&m);
	weft_loop_destroy(&loop);
}

/* Records that hand the same pointers with other contents (a buffer
 * reused for another workload) are counted by their contents. */
static void test_same_pointers_new_values(void **state)
{
	weft_loop_t loop;
	weft_metrics_t m;
	weft_l7_tel_t *t;
	char wl[16] = "alpha", flags[8] = "";
	weft_l7_rec_t r = rec(wl, 200);
	char *out;

	(void)state;
	assert_int_equal(weft_loop_init(&loop), 0);
	weft_metrics_init(&m);
	t = mk(&loop, &m, "off", NULL, 1);
	r.l.response_flags = flags;
	weft_l7_tel_request(t, &r);
	weft_l7_tel_request(t, &r);
	strcpy(wl, "beta");
	weft_l7_tel_request(t, &r);
	strcpy(flags, "UO");
	weft_l7_tel_request(t, &r);
	wl[0] = 0;                                  /* empty: "unknown" */
	weft_l7_tel_request(t, &r);
	out = render(&m);
	assert_non_null(strstr(out, "istio_requests_total{reporter=\"destination\",source_workload=\"alpha\","));
	assert_non_null(strstr(out, "response_flags=\"-\",connection_security_policy=\"mutual_tls\"} 2\n"));
	assert_non_null(strstr(out, "istio_requests_total{reporter=\"destination\",source_workload=\"beta\","));
	assert_non_null(strstr(out, "response_flags=\"UO\",connection_security_policy=\"mutual_tls\"} 1\n"));
	assert_non_null(strstr(out, "istio_requests_total{reporter=\"destination\",source_workload=\"unknown\","));
	free(out);
	weft_l7_tel_free(t);
	weft_metrics_free(&m);
	weft_loop_destroy(&loop);
}

static void test_series_cap(void **state)
{
	weft_loop_t loop;
	weft_metrics_t m;
	weft_l7_tel_t *t;
	char name[32];
	char *out;
	size_t n = 0;

	(void)state;
	assert_int_equal(weft_loop_init(&loop), 0);
	weft_metrics_init(&m);
	t = mk(&loop, &m, "off", NULL, 1);
	l7_tel_set_max_series(t, 100);    /* 10,000 by default; smaller keeps the test quick */
	for (int i = 0; i < 103; i++) {
		weft_l7_rec_t r = rec(name, 200);
		snprintf(name, sizeof(name), "w%d", i);
		weft_l7_tel_request(t, &r);
	}
	/* a known label set still counts past the cap */
	snprintf(name, sizeof(name), "w5");
	weft_l7_rec_t r = rec(name, 200);
	weft_l7_tel_request(t, &r);
	out = render(&m);
	assert_non_null(strstr(out, "weft_agent_metric_series_dropped_total{metric=\"istio_requests_total\"} 3"));
	assert_non_null(strstr(out, "weft_agent_metric_series_dropped_total{metric=\"istio_response_bytes\"} 3"));
	assert_non_null(strstr(out, "source_workload=\"w5\""));
	assert_null(strstr(out, "source_workload=\"w100\""));
	for (const char *p = out; (p = strstr(p, "\nistio_requests_total{")); p++)
		n++;
	assert_int_equal(n, 100);
	free(out);
	weft_l7_tel_free(t);
	weft_metrics_free(&m);
	weft_loop_destroy(&loop);
}

static void test_promtool(void **state)
{
	weft_loop_t loop;
	weft_metrics_t m;
	weft_l7_tel_t *t;
	weft_l7_rec_t r = rec("client", 503);
	char path[] = "/tmp/weft-l7tel-promXXXXXX", cmd[256], msg[4096];
	char *out;
	int fd, rc;
	size_t n;
	FILE *p;

	(void)state;
	if (system("command -v promtool >/dev/null 2>&1") != 0) {
		fprintf(stderr, "promtool not installed (Debian package prometheus): skipping the check\n");
		skip();
	}
	assert_int_equal(weft_loop_init(&loop), 0);
	weft_metrics_init(&m);
	t = mk(&loop, &m, "off", NULL, 1);
	r.path = "/a\"b\\c\nd";
	r.l.src_principal = "spiffe://td/ns/ns/sa/we\"ird";
	weft_l7_tel_request(t, &r);
	r.grpc = true;
	r.grpc_status = 2;
	weft_l7_tel_request(t, &r);
	weft_l7_tel_limit_hit(t, "ns/a", "buffer");
	out = render(&m);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, out, strlen(out)), (ssize_t)strlen(out));
	close(fd);
	snprintf(cmd, sizeof(cmd), "promtool check metrics < %s 2>&1", path);
	p = popen(cmd, "r");
	assert_non_null(p);
	n = fread(msg, 1, sizeof(msg) - 1, p);
	msg[n] = 0;
	rc = pclose(p);
	unlink(path);
	free(out);
	/* exit 3 is promtool's lint verdict; the one lint accepted is Istio's
	 * own name (milliseconds, not the base unit seconds) */
	if (rc != 0) {
		char *line = msg, *nl;
		if (!WIFEXITED(rc) || WEXITSTATUS(rc) != 3)
			fail_msg("promtool check metrics failed (%d):\n%s", rc, msg);
		for (; *line; line = nl + 1) {
			if (!(nl = strchr(line, '\n')))
				nl = line + strlen(line) - 1;
			if (*line != '\n' && strncmp(line, "istio_request_duration_milliseconds use base unit", 49))
				fail_msg("promtool: %s", line);
		}
	}
	weft_l7_tel_free(t);
	weft_metrics_free(&m);
	weft_loop_destroy(&loop);
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *s = calloc(1, 1 << 16);

	assert_non_null(f);
	(void)!fread(s, 1, (1 << 16) - 1, f);
	fclose(f);
	return s;
}

static void test_log_fields(void **state)
{
	weft_loop_t loop;
	weft_metrics_t m;
	weft_l7_tel_t *t;
	weft_l7_rec_t r = rec("client", 200);
	char path[] = "/tmp/weft-l7tel-logXXXXXX", err[128] = "";
	weft_l7_tel_opts_t bad = { .log_sink = "off", .log_fields = "method,nope", .log_sample = 1 };
	char *s;
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(weft_loop_init(&loop), 0);
	weft_metrics_init(&m);
	assert_null(weft_l7_tel_new(&loop, &m, &bad, err, sizeof(err)));
	assert_non_null(strstr(err, "nope"));
	bad.log_fields = NULL;
	bad.log_sample = 1.5;
	assert_null(weft_l7_tel_new(&loop, &m, &bad, err, sizeof(err)));
	weft_metrics_free(&m);

	weft_metrics_init(&m);
	t = mk(&loop, &m, path, "method,response_code,route,grpc_status,start_time", 1);
	weft_l7_tel_request(t, &r);
	weft_l7_tel_free(t);
	s = slurp(path);
	assert_string_equal(s, "{\"start_time\":\"2024-05-01T12:00:00.123Z\",\"method\":\"GET\","
			       "\"response_code\":200,\"grpc_status\":null,\"route\":\"ns/r1\"}\n");
	free(s);
	weft_metrics_free(&m);

	/* every field by default, JSON-escaped */
	assert_int_equal(truncate(path, 0), 0);
	weft_metrics_init(&m);
	t = mk(&loop, &m, path, NULL, 1);
	r.user_agent = "curl/8 \"x\"";
	r.trace_id = "0af7651916cd43dd8448eb211c80319c";
	weft_l7_tel_request(t, &r);
	weft_l7_tel_free(t);
	s = slurp(path);
	static const char *const keys[] = {
		"\"start_time\":", "\"method\":\"GET\"", "\"path\":\"/hello?x=1\"", "\"protocol\":\"HTTP/1.1\"",
		"\"response_code\":200", "\"grpc_status\":null", "\"response_flags\":\"-\"",
		"\"duration_ms\":2.500", "\"bytes_received\":10", "\"bytes_sent\":1234",
		"\"authority\":\"server.ns:80\"", "\"user_agent\":\"curl/8 \\\"x\\\"\"", "\"request_id\":null",
		"\"trace_id\":\"0af7651916cd43dd8448eb211c80319c\"", "\"upstream_host\":null",
		"\"route\":\"ns/r1\"", "\"attempts\":1", "\"source_workload\":\"client\"",
		"\"source_namespace\":\"ns\"", "\"source_principal\":", "\"destination_workload\":\"server\"",
		"\"destination_namespace\":\"ns\"", "\"destination_principal\":null",
		"\"reporter\":\"destination\"",
	};
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (!strstr(s, keys[i]))
			fail_msg("missing %s in %s", keys[i], s);
	assert_int_equal(strchr(s, '\n') - s + 1, (long)strlen(s));
	free(s);
	weft_metrics_free(&m);
	unlink(path);
	weft_loop_destroy(&loop);
}

/* Lines gather and are written together: nothing after one request, every
 * line (whole, in order) once the flush timer ran, the loop still up. */
static void test_log_batched(void **state)
{
	weft_loop_t loop;
	weft_metrics_t m;
	weft_l7_tel_t *t;
	char path[] = "/tmp/weft-l7tel-logXXXXXX";
	int fd = mkstemp(path);
	uint64_t t0;
	char *s;

	(void)state;
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(weft_loop_init(&loop), 0);
	weft_metrics_init(&m);
	t = mk(&loop, &m, path, "response_code,duration_ms", 1);
	for (int i = 0; i < 3; i++) {
		weft_l7_rec_t r = rec("client", 200 + i);
		r.duration_us = 1000000u * (uint64_t)i + 7;
		weft_l7_tel_request(t, &r);
	}
	s = slurp(path);
	assert_string_equal(s, "");
	free(s);
	t0 = weft_loop_update_time(&loop);
	while (weft_loop_update_time(&loop) - t0 < 2000) {
		weft_loop_once(&loop, 50);
		s = slurp(path);
		if (*s)
			break;
		free(s);
		s = NULL;
	}
	assert_non_null(s);
	assert_string_equal(s, "{\"response_code\":200,\"duration_ms\":0.007}\n"
			       "{\"response_code\":201,\"duration_ms\":1000.007}\n"
			       "{\"response_code\":202,\"duration_ms\":2000.007}\n");
	free(s);
	weft_l7_tel_free(t);
	weft_metrics_free(&m);
	unlink(path);
	weft_loop_destroy(&loop);
}

static void test_log_sampling(void **state)
{
	weft_loop_t loop;
	weft_metrics_t m;
	weft_l7_tel_t *t;
	char path[] = "/tmp/weft-l7tel-logXXXXXX";
	int fd = mkstemp(path), lines = 0;
	char *s;

	(void)state;
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(weft_loop_init(&loop), 0);
	weft_metrics_init(&m);
	t = mk(&loop, &m, path, "response_code,response_flags", 0);
	for (int i = 0; i < 50; i++) {
		weft_l7_rec_t r = rec("client", 200);
		weft_l7_tel_request(t, &r);           /* sampled out */
	}
	weft_l7_rec_t e1 = rec("client", 503), e2 = rec("client", 0), e3 = rec("client", 200);
	e3.l.response_flags = WEFT_TM_FLAG_UO;
	weft_l7_tel_request(t, &e1);
	weft_l7_tel_request(t, &e2);
	weft_l7_tel_request(t, &e3);
	weft_l7_tel_free(t);
	s = slurp(path);
	for (const char *p = s; (p = strchr(p, '\n')); p++)
		lines++;
	assert_int_equal(lines, 3);
	assert_non_null(strstr(s, "{\"response_code\":503,\"response_flags\":\"-\"}\n"));
	assert_non_null(strstr(s, "{\"response_code\":0,\"response_flags\":\"-\"}\n"));
	assert_non_null(strstr(s, "{\"response_code\":200,\"response_flags\":\"UO\"}\n"));
	free(s);
	weft_metrics_free(&m);
	unlink(path);
	weft_loop_destroy(&loop);
}

/* ---- admin endpoints over 127.0.0.1 ---- */

typedef struct client {
	weft_loop_t *loop;
	int fd;
	char buf[65536];
	size_t len;
	const char *want;            /* run until buf holds this */
	int want_count;              /* ... this many times */
} client_t;

static void client_read(client_t *c)
{
	for (;;) {
		ssize_t n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len, MSG_DONTWAIT);
		if (n <= 0)
			break;
		c->len += (size_t)n;
		c->buf[c->len] = 0;
	}
}

static int occurrences(const char *s, const char *w)
{
	int n = 0;

	for (const char *p = s; (p = strstr(p, w)); p += strlen(w))
		n++;
	return n;
}

static bool client_has(void *arg)
{
	client_t *c = arg;

	client_read(c);
	return occurrences(c->buf, c->want) >= c->want_count;
}

static void client_wait(client_t *c, const char *want, int count)
{
	c->want = want;
	c->want_count = count;
	ltu_run_until(c->loop, client_has, c);
}

static void client_open(client_t *c, weft_loop_t *loop, uint16_t port, const char *target)
{
	char req[512];
	int n;

	memset(c, 0, sizeof(*c));
	c->loop = loop;
	c->fd = ltu_dial(port);
	n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", target);
	for (int i = 0; i < 2000; i++) {   /* the connect may still be in progress */
		if (send(c->fd, req, (size_t)n, MSG_NOSIGNAL) == n)
			return;
		weft_loop_once(loop, 1);
	}
	fail_msg("cannot send the request");
}

typedef struct env {
	weft_loop_t loop;
	weft_metrics_t m;
	weft_l7_tel_t *t;
	struct weft_agent_admin *ad;
	uint16_t port;
} env_t;

static void env_up(env_t *e)
{
	weft_agent_admin_ops_t ops = { 0 };

	assert_int_equal(weft_loop_init(&e->loop), 0);
	weft_metrics_init(&e->m);
	e->t = mk(&e->loop, &e->m, "off", NULL, 1);
	e->ad = weft_agent_admin_new(&e->loop, &e->m, &ops);
	assert_non_null(e->ad);
	weft_l7_tel_admin(e->t, e->ad);
	assert_int_equal(weft_agent_admin_listen(e->ad, "127.0.0.1:0", NULL), WEFT_OK);
	weft_agent_admin_ports(e->ad, &e->port, NULL);
}

static void env_down(env_t *e)
{
	weft_l7_tel_free(e->t);
	weft_agent_admin_free(e->ad);
	weft_metrics_free(&e->m);
	weft_loop_destroy(&e->loop);
}

static void test_tap_stream(void **state)
{
	env_t e;
	client_t wl, svc, bad, late;
	weft_l7_rec_t r;

	(void)state;
	env_up(&e);
	client_open(&wl, &e.loop, e.port, "/debug/tap?workload=ns/client");
	client_open(&svc, &e.loop, e.port, "/debug/tap?service=ns%2Fserver");
	client_open(&bad, &e.loop, e.port, "/debug/tap?workload=nope");
	client_wait(&bad, "usage:", 1);
	assert_non_null(strstr(bad.buf, "HTTP/1.1 400"));
	client_wait(&wl, "Connection: close\r\n\r\n", 1);
	client_wait(&svc, "Connection: close\r\n\r\n", 1);
	assert_non_null(strstr(wl.buf, "HTTP/1.1 200 OK"));

	/* fed after the requests began: the workload filter matches either end */
	r = rec("client", 200);
	weft_l7_tel_request(e.t, &r);
	r = rec("other", 404);
	r.l.dst_service_name = "elsewhere";
	weft_l7_tel_request(e.t, &r);               /* matches neither */
	r = rec("other", 503);
	r.l.dst_workload = "client";
	r.l.dst_service_name = "elsewhere";
	weft_l7_tel_request(e.t, &r);               /* destination ns/client */
	client_wait(&wl, "\"method\":\"GET\"", 2);
	assert_non_null(strstr(wl.buf, "\"status\":200"));
	assert_non_null(strstr(wl.buf, "\"status\":503"));
	assert_null(strstr(wl.buf, "\"status\":404"));
	assert_non_null(strstr(wl.buf, "\"latency_ms\":2.500"));
	assert_non_null(strstr(wl.buf, "\"route\":\"ns/r1\""));
	assert_non_null(strstr(wl.buf, "\"source\":{\"workload\":\"client\",\"namespace\":\"ns\""));
	client_wait(&svc, "\"method\":\"GET\"", 1);
	assert_non_null(strstr(svc.buf, "\"status\":200"));
	assert_null(strstr(svc.buf, "\"status\":503"));

	/* the client leaves: its subscriber goes, the feed carries on */
	close(wl.fd);
	for (int i = 0; i < 20; i++)
		weft_loop_once(&e.loop, 5);
	r = rec("client", 201);
	weft_l7_tel_request(e.t, &r);
	client_wait(&svc, "\"method\":\"GET\"", 2);

	/* replay of recent events */
	client_open(&late, &e.loop, e.port, "/debug/tap?workload=ns/client&recent=2");
	client_wait(&late, "\"method\":\"GET\"", 2);
	assert_non_null(strstr(late.buf, "\"status\":503"));
	assert_non_null(strstr(late.buf, "\"status\":201"));
	assert_null(strstr(late.buf, "\"status\":200"));

	close(svc.fd);
	close(bad.fd);
	env_down(&e);                               /* ends late's stream */
	close(late.fd);
}

/* The tap lines byte for byte (live and replayed): NULL fields as null,
 * escapes, gRPC status, flags; and the same once the series cap is
 * reached (the event then keeps its own copy of the labels). */
static void test_tap_exact(void **state)
{
	static const char want1[] =
		"{\"time\":\"2024-05-01T12:00:00.123Z\",\"reporter\":\"destination\",\"method\":\"GET\","
		"\"path\":\"/hello?x=1\",\"authority\":\"server.ns:80\",\"status\":200,\"grpc_status\":null,"
		"\"latency_ms\":2.500,\"flags\":\"-\",\"route\":\"ns/r1\","
		"\"service\":\"server.ns.svc.cluster.local\",\"source\":{\"workload\":\"client\","
		"\"namespace\":\"ns\",\"principal\":\"spiffe://td/ns/ns/sa/client\"},"
		"\"destination\":{\"workload\":\"server\",\"namespace\":\"ns\",\"principal\":null}}\n";
	static const char want2[] =
		"{\"time\":\"2024-05-01T12:00:01.000Z\",\"reporter\":\"source\",\"method\":null,"
		"\"path\":\"/a\\\"b\\\\c\\u0001\xc3\xa9\",\"authority\":null,\"status\":-3,\"grpc_status\":14,"
		"\"latency_ms\":1234567.891,\"flags\":\"UO,URX\",\"route\":null,"
		"\"service\":\"\",\"source\":{\"workload\":\"client\","
		"\"namespace\":\"ns\",\"principal\":null},"
		"\"destination\":{\"workload\":\"server\",\"namespace\":\"\",\"principal\":\"p\\\"q\"}}\n";
	env_t e;
	client_t c, late;
	weft_l7_rec_t r1 = rec("client", 200), r2 = rec("client", -3);
	char *p;

	(void)state;
	env_up(&e);
	r2.l.destination = false;
	r2.method = NULL;
	r2.path = "/a\"b\\c\x01\xc3\xa9";
	r2.authority = NULL;
	r2.grpc = true;
	r2.grpc_status = 14;
	r2.duration_us = 1234567891;
	r2.l.response_flags = "UO,URX";
	r2.route = NULL;
	r2.l.dst_service = "";
	r2.l.src_principal = NULL;
	r2.l.dst_ns = "";
	r2.l.dst_principal = "p\"q";
	r2.start_us = 1714564801000999ull;
	client_open(&c, &e.loop, e.port, "/debug/tap?workload=ns/client");
	client_wait(&c, "Connection: close\r\n\r\n", 1);
	for (int round = 0; round < 2; round++) {
		if (round == 1)
			l7_tel_set_max_series(e.t, 0);   /* no entry: the event copies its labels */
		weft_l7_tel_request(e.t, &r1);
		weft_l7_tel_request(e.t, &r2);
	}
	client_wait(&c, "}}\n", 4);
	p = strstr(c.buf, "\r\n\r\n");
	assert_non_null(p);
	for (int i = 0; i < 2; i++) {
		char *l1 = strstr(p, "{\"time\"");
		assert_non_null(l1);
		assert_memory_equal(l1, want1, sizeof(want1) - 1);
		p = strstr(l1 + sizeof(want1) - 1, "{\"time\"");
		assert_non_null(p);
		assert_memory_equal(p, want2, sizeof(want2) - 1);
		p += sizeof(want2) - 1;
	}
	/* replay: the last three, oldest first */
	client_open(&late, &e.loop, e.port, "/debug/tap?workload=ns/client&recent=3");
	client_wait(&late, "}}\n", 3);
	p = strstr(late.buf, "{\"time\"");
	assert_non_null(p);
	assert_memory_equal(p, want2, sizeof(want2) - 1);
	p = strstr(p + 1, "{\"time\"");
	assert_non_null(p);
	assert_memory_equal(p, want1, sizeof(want1) - 1);
	p = strstr(p + 1, "{\"time\"");
	assert_non_null(p);
	assert_memory_equal(p, want2, sizeof(want2) - 1);
	close(c.fd);
	env_down(&e);
	close(late.fd);
}

static void test_routes(void **state)
{
	env_t e;
	client_t c;
	static const uint64_t lat_ms[] = { 1, 2, 3, 100 };

	(void)state;
	env_up(&e);
	for (int i = 0; i < 4; i++) {
		weft_l7_rec_t r = rec("client", i == 3 ? 503 : 200);
		r.duration_us = lat_ms[i] * 1000;
		weft_l7_tel_request(e.t, &r);
	}
	weft_l7_rec_t g = rec("client", 200);
	g.route = NULL;
	g.grpc = true;
	g.grpc_status = 14;                         /* a gRPC failure in a 200 */
	g.l.destination = false;
	weft_l7_tel_request(e.t, &g);
	client_open(&c, &e.loop, e.port, "/debug/routes");
	client_wait(&c, "]\n", 1);
	assert_non_null(strstr(c.buf, "Content-Type: application/json"));
	assert_non_null(strstr(c.buf, "{\"route\":\"ns/r1\",\"service\":null,\"reporter\":\"destination\","
				      "\"requests\":4,\"rps\":0.067,\"success_rate\":0.7500,"
				      "\"p50_ms\":2.000,\"p99_ms\":100.000}"));
	assert_non_null(strstr(c.buf, "{\"route\":null,\"service\":\"server.ns.svc.cluster.local\","
				      "\"reporter\":\"source\",\"requests\":1,\"rps\":0.017,"
				      "\"success_rate\":0.0000"));
	close(c.fd);
	env_down(&e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_metric_labels),
		cmocka_unit_test(test_same_pointers_new_values),
		cmocka_unit_test(test_series_cap),
		cmocka_unit_test(test_promtool),
		cmocka_unit_test(test_log_fields),
		cmocka_unit_test(test_log_batched),
		cmocka_unit_test(test_log_sampling),
		cmocka_unit_test(test_tap_stream),
		cmocka_unit_test(test_tap_exact),
		cmocka_unit_test(test_routes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
