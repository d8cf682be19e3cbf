/* weft top — a running agent's L7 routes at a glance: GET /debug/routes on
 * the agent's admin endpoint (requests over the last 60 s per route, or
 * per destination service when no route applied) printed as a table,
 * refreshed every 2 s; --once prints it once. */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include "weft/buf.h"
#include "weft/cli.h"
#include "cli_http.h"
#include "weft/http1.h"
#include "weft/net.h"
#include "l7_cli.h"

/* GETs path from addr into body (NUL-terminated for the JSON readers).
 * Returns the HTTP status, or -1 with a message on stderr. */
static int get(const char *addr, const char *path, weft_buf_t *body)
{
	int st = weft_cli_http_get("top", addr, path, body);

	weft_buf_append(body, "", 1);
	return st;
}

/* Prints the rows of a /debug/routes array. */
static void table(const char *json)
{
	const char *p = json;
	int rows = 0;

	printf("%-40s %-11s %9s %8s %9s %9s %8s\n", "ROUTE", "REPORTER", "RPS", "SUCCESS", "P50(ms)",
	       "P99(ms)", "REQS/60s");
	while ((p = strchr(p, '{'))) {
		const char *end = strchr(p, '}');
		char obj[2048], route[256], svc[256], rep[16], rps[24], sr[24], p50[24], p99[24], req[24];
		size_t n;
		if (!end)
			break;
		n = (size_t)(end - p + 1) < sizeof(obj) ? (size_t)(end - p + 1) : sizeof(obj) - 1;
		memcpy(obj, p, n);
		obj[n] = 0;
		l7cli_field(obj, "route", route, sizeof(route));
		l7cli_field(obj, "service", svc, sizeof(svc));
		l7cli_field(obj, "reporter", rep, sizeof(rep));
		l7cli_field(obj, "rps", rps, sizeof(rps));
		l7cli_field(obj, "success_rate", sr, sizeof(sr));
		l7cli_field(obj, "p50_ms", p50, sizeof(p50));
		l7cli_field(obj, "p99_ms", p99, sizeof(p99));
		l7cli_field(obj, "requests", req, sizeof(req));
		printf("%-40s %-11s %9.2f %7.1f%% %9.2f %9.2f %8s\n",
		       strcmp(route, "-") ? route : svc, rep, atof(rps), atof(sr) * 100.0, atof(p50),
		       atof(p99), req);
		rows++;
		p = end + 1;
	}
	if (!rows)
		printf("(no L7 requests in the last 60 s)\n");
	fflush(stdout);
}

static int run_top(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "admin", required_argument, NULL, 'a' },
		{ "once", no_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *admin = "127.0.0.1:15000";
	bool once = false;
	int ch;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (ch) {
		case 'a': admin = optarg; break;
		case 'o': once = true; break;
		case 'h':
			printf("usage: weft top [--admin ADDR] [--once]\n"
			       "  --admin ADDR   the agent's admin address [127.0.0.1:15000]\n"
			       "  --once         print the table once instead of every 2 s\n");
			return 0;
		default:
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "usage: weft top [--admin ADDR] [--once]\n");
		return 2;
	}
	for (;;) {
		weft_buf_t body;
		int st;

		weft_buf_init(&body, 0);
		st = get(admin, "/debug/routes", &body);
		if (st != 200) {
			if (st > 0)
				fprintf(stderr, "weft top: %s: /debug/routes answered %d\n", admin, st);
			weft_buf_free(&body);
			return 1;
		}
		if (!once)
			printf("\033[H\033[2J");
		table((const char *)weft_buf_head(&body));
		weft_buf_free(&body);
		if (once)
			return 0;
		sleep(2);
	}
}

WEFT_CLI_COMMAND(top, "top", "show a running agent's L7 routes: rps, success rate, p50/p99", run_top);
