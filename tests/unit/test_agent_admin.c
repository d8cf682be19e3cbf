/* Smoke test of the agent's admin endpoints (src/agent/admin.c): both
 * servers on 127.0.0.1:0, requests over real sockets driven by the loop
 * in this thread: /healthz before and after sync, /config_dump, /certs,
 * /metrics and /stats/prometheus, HEAD, 404, 400. */
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
#include "av_fake.h"
#include "weft/agent.h"
#include "weft/buf.h"
#include "weft/loop.h"
#include "weft/metrics.h"
#include "weft/telemetry.h"

typedef struct fake {
	weft_av_t *view;
	bool have_cred;
} fake_t;

static const weft_av_t *f_view(void *ud)
{
	return ((fake_t *)ud)->view;
}

static weft_cred_t dummy_cred;

static weft_cred_t *f_cred(void *ud, const char *ns, const char *sa)
{
	return ((fake_t *)ud)->have_cred ? &dummy_cred : NULL;
}

static void f_each(void *ud, void (*fn)(void *arg, const weft_cred_t *c), void *arg)
{
	weft_cred_t c;

	memset(&c, 0, sizeof(c));
	snprintf(c.id.uri, sizeof(c.id.uri), "spiffe://cluster.local/ns/demo/sa/web");
	snprintf(c.serial, sizeof(c.serial), "0a1b");
	c.not_before = 1700000000;
	c.not_after = 1700086400;
	fn(arg, &c);
}

static int f_pool(void *ud, weft_buf_t *out)
{
	return weft_buf_printf(out, "[{\"peer\":\"10.0.0.2:15008\",\"streams\":3}]");
}

/* Sends req to 127.0.0.1:port and returns the whole response (until the
 * server closes), running the loop meanwhile. */
static char *request(weft_loop_t *loop, uint16_t port, const char *req)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	size_t cap = 1 << 20, len = 0;
	char *out = calloc(1, cap);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
	for (int turns = 0; turns < 2000; turns++) {
		weft_loop_once(loop, 5);
		ssize_t n = recv(fd, out + len, cap - 1 - len, MSG_DONTWAIT);
		if (n == 0)
			break;
		if (n > 0)
			len += (size_t)n;
	}
	close(fd);
	out[len] = '\0';
	return out;
}

static void expect(char *resp, const char *status_line, const char *needle)
{
	if (strncmp(resp, status_line, strlen(status_line)) || (needle && !strstr(resp, needle)))
		fail_msg("want %s / %s in:\n%s", status_line, needle ? needle : "", resp);
	free(resp);
}

static void test_admin(void **st)
{
	weft_loop_t loop;
	weft_metrics_t reg;
	fake_t fk = { 0 };
	fk_t f = { .n = 0 };
	uint16_t ap, mp;

	assert_int_equal(weft_loop_init(&loop), 0);
	weft_metrics_init(&reg);
	FILE *devnull = fopen("/dev/null", "w");
	weft_tm_t *tm = weft_tm_new(&reg, devnull);
	weft_agent_admin_ops_t ops = { "n1", &fk, f_view, f_cred, f_each, NULL, f_pool };
	struct weft_agent_admin *ad = weft_agent_admin_new(&loop, &reg, &ops);
	assert_non_null(ad);
	assert_int_equal(weft_agent_admin_listen(ad, "127.0.0.1:0", "127.0.0.1:0"), WEFT_OK);
	weft_agent_admin_ports(ad, &ap, &mp);
	assert_true(ap && mp && ap != mp);

	const char *C = "Host: x\r\nConnection: close\r\n\r\n";
	char req[256];
#define GET(path) (snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\n%s", path, C), req)

	expect(request(&loop, ap, GET("/healthz")), "HTTP/1.1 503", "no synced view");
	expect(request(&loop, ap, GET("/config_dump")), "HTTP/1.1 200", "\"synced\":false");

	Weft__Agent__V1__Workload *wl = fk_wl(&f, "demo", "web", "web", "n1", FK_S("10.0.1.5"), FK_S("demo/p"));
	Weft__Agent__V1__Endpoint *eps[1] = { fk_ep(&f, "demo/web", "10.0.1.5", "web", NULL, 1) };
	Weft__Agent__V1__Service *svc = fk_svc(&f, "demo", "web", "10.96.0.10", 80, 8080, eps, 1);
	Weft__Agent__V1__Authorization *az = fk_az(&f, "demo", "p", WEFT__AGENT__V1__ACTION__DENY, 1,
		fk_rule(&f, fk_src(&f, NULL, NULL, FK_S("bad\"ns"), NULL, FK_S("10.0.0.0/8"), NULL), NULL, false));
	fk.view = weft_av_build("n1", 42, &wl, 1, &svc, 1, &az, 1, NULL, 0);
	assert_non_null(fk.view);
	expect(request(&loop, ap, GET("/healthz")), "HTTP/1.1 503", "no credential for spiffe://cluster.local/ns/demo/sa/web");
	fk.have_cred = true;
	expect(request(&loop, ap, GET("/healthz")), "HTTP/1.1 200", "\r\n\r\nok\n");

	char *r = request(&loop, ap, GET("/config_dump"));
	assert_non_null(strstr(r, "Content-Type: application/json"));
	assert_non_null(strstr(r, "\"generation\":42"));
	assert_non_null(strstr(r, "\"netns\":\"\""));
	assert_non_null(strstr(r, "\"addresses\":[\"10.0.1.5\"]"));
	assert_non_null(strstr(r, "\"policies\":[\"demo/p\"]"));
	assert_non_null(strstr(r, "\"vip\":\"10.96.0.10\""));
	assert_non_null(strstr(r, "\"namespaces\":[\"bad\\\"ns\"],\"ip_blocks\":[\"10.0.0.0/8\"]"));
	assert_non_null(strstr(r, "\"hbone_connections\":[{\"peer\":\"10.0.0.2:15008\",\"streams\":3}]"));
	free(r);

	expect(request(&loop, ap, GET("/certs")), "HTTP/1.1 200",
	       "{\"certificates\":[{\"identity\":\"spiffe://cluster.local/ns/demo/sa/web\",\"serial\":\"0a1b\","
	       "\"not_before\":\"2023-11-14T22:13:20Z\",\"not_after\":\"2023-11-15T22:13:20Z\"");

	weft_tm_labels_t l = { .destination = true, .dst_workload = "web" };
	weft_tm_conn_close(weft_tm_conn_open(tm, &l), "eof");
	r = request(&loop, mp, GET("/metrics"));
	assert_non_null(strstr(r, "Content-Type: text/plain; version=0.0.4"));
	assert_non_null(strstr(r, "istio_tcp_connections_closed_total{reporter=\"destination\""));
	free(r);
	expect(request(&loop, mp, GET("/stats/prometheus")), "HTTP/1.1 200", "# TYPE istio_tcp_sent_bytes_total counter");

	/* HEAD: headers only */
	snprintf(req, sizeof(req), "HEAD /metrics HTTP/1.1\r\n%s", C);
	r = request(&loop, mp, req);
	assert_non_null(strstr(r, "HTTP/1.1 200"));
	assert_null(strstr(r, "# TYPE"));
	free(r);
	/* unknown paths, wrong server, bad requests, methods */
	expect(request(&loop, ap, GET("/nope")), "HTTP/1.1 404", NULL);
	expect(request(&loop, mp, GET("/healthz")), "HTTP/1.1 404", NULL);
	expect(request(&loop, ap, "GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n"), "HTTP/1.1 400", NULL);
	expect(request(&loop, ap, "GARBAGE\r\n\r\n"), "HTTP/1.1 400", NULL);
	snprintf(req, sizeof(req), "POST /healthz HTTP/1.1\r\n%s", C);
	expect(request(&loop, ap, req), "HTTP/1.1 405", NULL);

	weft_agent_admin_free(ad);
	weft_av_unref(fk.view);
	weft_tm_free(tm);
	weft_metrics_free(&reg);
	weft_loop_destroy(&loop);
	fclose(devnull);
	fk_free(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_admin),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
