/* Unit tests for the agent's telemetry (src/agent/telemetry.c): Istio's
 * four TCP metrics with Istio's labels, byte accounting, the JSON log
 * line, the agent metrics, and promtool's check of the rendered text
 * (when /usr/bin/promtool is installed). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <cmocka.h>
#include <string.h>
#include "weft/buf.h"
#include "weft/metrics.h"
#include "weft/telemetry.h"

static char *render(weft_metrics_t *m, weft_buf_t *b)
{
	weft_buf_init(b, 0);
	assert_int_equal(weft_metrics_render(m, b), 0);
	weft_buf_append(b, "", 1);
	return (char *)weft_buf_head(b);
}

static weft_tm_labels_t labels(void)
{
	weft_tm_labels_t l = {
		.destination = true,
		.src_workload = "client", .src_ns = "a", .src_principal = "spiffe://cluster.local/ns/a/sa/client",
		.dst_workload = "web", .dst_ns = "demo", .dst_principal = "spiffe://cluster.local/ns/demo/sa/web",
		.dst_app = "web", .dst_version = "v1",
		.dst_service = "web.demo.svc.cluster.local", .dst_service_name = "web", .dst_service_ns = "demo",
		.mtls = true,
		.src_addr = "10.0.1.5:40000", .dst_addr = "10.0.2.6:8080", .orig_dst = "10.96.0.10:80",
		.policy = "allowed by demo/allow \"quoted\"",
	};
	return l;
}

static const char series_dst[] =
	"{reporter=\"destination\",source_workload=\"client\",source_workload_namespace=\"a\","
	"source_principal=\"spiffe://cluster.local/ns/a/sa/client\",source_app=\"unknown\","
	"source_version=\"unknown\",source_cluster=\"unknown\",destination_workload=\"web\","
	"destination_workload_namespace=\"demo\",destination_principal=\"spiffe://cluster.local/ns/demo/sa/web\","
	"destination_app=\"web\",destination_version=\"v1\",destination_service=\"web.demo.svc.cluster.local\","
	"destination_service_name=\"web\",destination_service_namespace=\"demo\",destination_cluster=\"unknown\","
	"request_protocol=\"tcp\",response_flags=\"-\",connection_security_policy=\"mutual_tls\"}";

static void expect_line(const char *text, const char *metric, const char *series, const char *value)
{
	char want[2048];

	snprintf(want, sizeof(want), "\n%s%s %s\n", metric, series, value);
	if (!strstr(text, want))
		fail_msg("missing: %s\nin:\n%s", want + 1, text);
}

/* Finds "key": in a JSON line and returns what follows the colon. */
static const char *json_field(const char *line, const char *key)
{
	char k[128];
	const char *p;

	snprintf(k, sizeof(k), "\"%s\":", key);
	p = strstr(line, k);
	return p ? p + strlen(k) : NULL;
}

static void expect_json(const char *line, const char *key, const char *raw)
{
	const char *v = json_field(line, key);

	if (!v || strncmp(v, raw, strlen(raw)))
		fail_msg("field %s: want %s in %s", key, raw, line);
}

static void test_tcp_metrics_and_log(void **st)
{
	weft_metrics_t m;
	weft_buf_t b;
	char *logbuf = NULL;
	size_t loglen = 0;
	FILE *log = open_memstream(&logbuf, &loglen);

	weft_metrics_init(&m);
	weft_tm_t *tm = weft_tm_new(&m, log);
	assert_non_null(tm);
	weft_tm_labels_t l = labels();
	weft_tm_conn_t *c1 = weft_tm_conn_open(tm, &l);
	weft_tm_conn_t *c2 = weft_tm_conn_open(tm, &l);
	assert_non_null(c1);
	weft_tm_conn_bytes(c1, 100, 7);
	weft_tm_conn_bytes(c1, 1, 0);
	weft_tm_conn_bytes(c2, 0, 5);
	weft_tm_conn_close(c1, "eof");
	char *text = render(&m, &b);
	expect_line(text, "istio_tcp_connections_opened_total", series_dst, "2");
	expect_line(text, "istio_tcp_connections_closed_total", series_dst, "1");
	expect_line(text, "istio_tcp_sent_bytes_total", series_dst, "101");
	expect_line(text, "istio_tcp_received_bytes_total", series_dst, "12");
	assert_non_null(strstr(text, "# TYPE istio_tcp_sent_bytes_total counter\n"));
	weft_buf_free(&b);

	/* one JSON line for c1 */
	fflush(log);
	assert_non_null(logbuf);
	assert_int_equal(strchr(logbuf, '\n') - logbuf + 1, (long)loglen);
	assert_true(logbuf[0] == '{' && logbuf[loglen - 2] == '}');
	expect_json(logbuf, "reporter", "\"destination\"");
	expect_json(logbuf, "src_workload", "\"client\"");
	expect_json(logbuf, "src_namespace", "\"a\"");
	expect_json(logbuf, "src_principal", "\"spiffe://cluster.local/ns/a/sa/client\"");
	expect_json(logbuf, "dst_principal", "\"spiffe://cluster.local/ns/demo/sa/web\"");
	expect_json(logbuf, "src_addr", "\"10.0.1.5:40000\"");
	expect_json(logbuf, "dst_addr", "\"10.0.2.6:8080\"");
	expect_json(logbuf, "original_dst", "\"10.96.0.10:80\"");
	expect_json(logbuf, "service", "\"web.demo.svc.cluster.local\"");
	expect_json(logbuf, "bytes_sent", "101,");
	expect_json(logbuf, "bytes_received", "7,");
	expect_json(logbuf, "reason", "\"eof\"");
	expect_json(logbuf, "policy", "\"allowed by demo/allow \\\"quoted\\\"\"");
	expect_json(logbuf, "response_flags", "\"-\"");
	expect_json(logbuf, "connection_security_policy", "\"mutual_tls\"");
	const char *t = json_field(logbuf, "time");
	assert_non_null(t);
	/* "YYYY-MM-DDTHH:MM:SS.mmmZ" */
	assert_true(t[0] == '"' && t[25] == '"');
	assert_true(t[11] == 'T' && t[24] == 'Z' && t[20] == '.');
	const char *d = json_field(logbuf, "duration_ms");
	assert_non_null(d);
	assert_true(*d >= '0' && *d <= '9');

	/* a denied plaintext connection, source reporter, flags changed after open */
	weft_tm_labels_t l2 = { .destination = false, .response_flags = WEFT_TM_FLAG_DENIED };
	weft_tm_conn_t *c3 = weft_tm_conn_open(tm, &l2);
	weft_tm_conn_flags(c3, WEFT_TM_FLAG_UF);
	weft_tm_conn_close(c3, NULL);
	text = render(&m, &b);
	assert_non_null(strstr(text, "istio_tcp_connections_opened_total{reporter=\"source\",source_workload=\"unknown\""));
	assert_non_null(strstr(text, "response_flags=\"UAEX\",connection_security_policy=\"none\"} 1\n"));
	assert_non_null(strstr(text, "istio_tcp_connections_closed_total{reporter=\"source\""));
	assert_non_null(strstr(text, "response_flags=\"UF\",connection_security_policy=\"none\"} 1\n"));
	weft_buf_free(&b);

	/* NULL records are accepted */
	weft_tm_conn_bytes(NULL, 1, 1);
	weft_tm_conn_flags(NULL, "UF");
	weft_tm_conn_close(NULL, "x");
	assert_null(weft_tm_conn_open(NULL, &l));
	weft_tm_free(tm);   /* c2 still open: freed without a log line */
	fclose(log);
	assert_int_equal(strchr(strchr(logbuf, '\n') + 1, '\n') - logbuf + 1, (long)loglen);
	free(logbuf);
	weft_metrics_free(&m);
}

/* Many connections with the same labels share one series; distinct label
 * sets get their own. */
static void test_interning(void **st)
{
	weft_metrics_t m;
	weft_buf_t b;
	FILE *devnull = fopen("/dev/null", "w");
	char wl[32];

	weft_metrics_init(&m);
	weft_tm_t *tm = weft_tm_new(&m, devnull);
	for (int i = 0; i < 2000; i++) {
		weft_tm_labels_t l = labels();
		snprintf(wl, sizeof(wl), "w%d", i % 200);
		l.src_workload = wl;
		weft_tm_conn_t *c = weft_tm_conn_open(tm, &l);
		weft_tm_conn_bytes(c, 1, 2);
		weft_tm_conn_close(c, "eof");
	}
	size_t n = 0;
	for (weft_series_t *s = weft_tm_metrics(tm)->tcp_opened->series; s; s = s->next) {
		assert_int_equal((int)s->value, 10);
		n++;
	}
	assert_int_equal(n, 200);
	char *text = render(&m, &b);
	assert_non_null(strstr(text, "source_workload=\"w199\""));
	weft_buf_free(&b);
	weft_tm_free(tm);
	weft_metrics_free(&m);
	fclose(devnull);
}

static void test_agent_metrics_promtool(void **st)
{
	weft_metrics_t m;
	weft_buf_t b;
	FILE *devnull = fopen("/dev/null", "w");

	weft_metrics_init(&m);
	weft_tm_t *tm = weft_tm_new(&m, devnull);
	const weft_tm_metrics_t *mm = weft_tm_metrics(tm);
	weft_tm_cert(tm, "spiffe://cluster.local/ns/a/sa/client", 1900000000);
	weft_tm_cert(tm, "spiffe://cluster.local/ns/a/sa/gone", 1900000001);
	weft_tm_cert_drop(tm, "spiffe://cluster.local/ns/a/sa/gone");
	weft_tm_cert_drop(tm, "spiffe://cluster.local/ns/a/sa/never");
	weft_tm_cert_drop(NULL, "x");
	assert_null(weft_tm_metrics(NULL)->cert_expiry);
	weft_series_inc(weft_metric_with(mm->cert_issued, "workload"));
	weft_series_set(weft_metric_with(mm->control_connected), 1);
	weft_series_set(weft_metric_with(mm->certs), 1);
	weft_series_set(weft_metric_with(mm->xds_connected), 1);
	weft_series_set(weft_metric_with(mm->xds_resources, "Workload"), 3);
	weft_series_inc(weft_metric_with(mm->xds_updates, "Service"));
	weft_series_inc(weft_metric_with(mm->xds_nacks, "Service"));
	weft_series_set(weft_metric_with(mm->hbone_conns), 2);
	weft_series_set(weft_metric_with(mm->hbone_streams), 5);
	weft_series_inc(weft_metric_with(mm->errors, "connect_failed"));
	weft_series_inc(weft_metric_with(mm->peer_refused, "untrusted"));
	weft_series_inc(weft_metric_with(mm->authz, "deny"));
	weft_tm_labels_t l = labels();
	weft_tm_conn_t *c = weft_tm_conn_open(tm, &l);
	weft_tm_conn_bytes(c, 10, 20);
	weft_tm_conn_close(c, "eof");

	char *text = render(&m, &b);
	assert_non_null(strstr(text, "weft_agent_cert_expiry_timestamp_seconds{identity=\"spiffe://cluster.local/ns/a/sa/client\"} 1900000000\n"));
	assert_null(strstr(text, "sa/gone"));
	assert_non_null(strstr(text, "weft_agent_cert_issued_total{kind=\"workload\"} 1\n"));
	assert_non_null(strstr(text, "weft_agent_control_connected 1\n"));
	assert_non_null(strstr(text, "weft_agent_xds_resources{type=\"Workload\"} 3\n"));
	assert_non_null(strstr(text, "weft_agent_hbone_streams 5\n"));
	assert_non_null(strstr(text, "weft_agent_peer_refused_total{reason=\"untrusted\"} 1\n"));
	assert_non_null(strstr(text, "weft_agent_errors_total{reason=\"connect_failed\"} 1\n"));

	if (access("/usr/bin/promtool", X_OK) == 0) {
		char path[] = "/tmp/weft-tm-XXXXXX", cmd[256], out[4096];
		int fd = mkstemp(path);
		assert_true(fd >= 0);
		assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
		close(fd);
		snprintf(cmd, sizeof(cmd), "/usr/bin/promtool check metrics < %s 2>&1", path);
		FILE *p = popen(cmd, "r");
		assert_non_null(p);
		size_t n = fread(out, 1, sizeof(out) - 1, p);
		out[n] = '\0';
		int rc = pclose(p);
		unlink(path);
		if (rc != 0)
			fail_msg("promtool check metrics failed (%d):\n%s", rc, out);
	} else {
		print_message("promtool not installed: format check skipped\n");
	}
	weft_buf_free(&b);
	weft_tm_free(tm);
	weft_metrics_free(&m);
	fclose(devnull);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tcp_metrics_and_log),
		cmocka_unit_test(test_interning),
		cmocka_unit_test(test_agent_metrics_promtool),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
