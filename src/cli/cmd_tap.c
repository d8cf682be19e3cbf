/* weft tap — follows the requests a running agent's L7 data path sees for
 * one workload (or, with --service, one destination service): GET
 * /debug/tap on the agent's admin endpoint, a chunked stream of JSON
 * lines, printed one request per line (or as the JSON itself, --json). */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include "weft/cli.h"
#include "weft/net.h"
#include "l7_cli.h"

/* One tap event as a readable line. */
static void print_event(const char *line)
{
	char ts[40], rep[16], m[16], auth[128], path[256], st[8], gs[8], lat[24], route[128];
	char sw[96], sns[96], dw[96], dns[96], flags[32];
	const char *src, *dst;

	l7cli_field(line, "time", ts, sizeof(ts));
	l7cli_field(line, "reporter", rep, sizeof(rep));
	l7cli_field(line, "method", m, sizeof(m));
	l7cli_field(line, "authority", auth, sizeof(auth));
	l7cli_field(line, "path", path, sizeof(path));
	l7cli_field(line, "status", st, sizeof(st));
	l7cli_field(line, "grpc_status", gs, sizeof(gs));
	l7cli_field(line, "latency_ms", lat, sizeof(lat));
	l7cli_field(line, "route", route, sizeof(route));
	l7cli_field(line, "flags", flags, sizeof(flags));
	src = strstr(line, "\"source\":{");
	dst = strstr(line, "\"destination\":{");
	l7cli_field(src ? src : "", "workload", sw, sizeof(sw));
	l7cli_field(src ? src : "", "namespace", sns, sizeof(sns));
	l7cli_field(dst ? dst : "", "workload", dw, sizeof(dw));
	l7cli_field(dst ? dst : "", "namespace", dns, sizeof(dns));
	printf("%s %-11s %s/%s -> %s/%s  %s %s%s  %s", ts, rep, sns, sw, dns, dw, m, auth, path, st);
	if (strcmp(gs, "-"))
		printf(" grpc=%s", gs);
	printf("  %sms", lat);
	if (strcmp(flags, "-"))
		printf("  flags=%s", flags);
	if (strcmp(route, "-"))
		printf("  route=%s", route);
	printf("\n");
	fflush(stdout);
}

typedef struct tap_rd {
	char *buf;
	size_t len, cap;
	bool json;
	long count, seen;
	char line[65536];
	size_t ll;
} tap_rd_t;

/* Takes decoded body bytes; prints complete lines. Returns true once
 * --count lines were printed. */
static bool body_bytes(tap_rd_t *r, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] != '\n') {
			if (r->ll + 1 < sizeof(r->line))
				r->line[r->ll++] = p[i];
			continue;
		}
		r->line[r->ll] = 0;
		r->ll = 0;
		if (r->json)
			printf("%s\n", r->line), fflush(stdout);
		else
			print_event(r->line);
		if (r->count > 0 && ++r->seen >= r->count)
			return true;
	}
	return false;
}

static int run_tap(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "admin", required_argument, NULL, 'a' },
		{ "service", no_argument, NULL, 's' },
		{ "count", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *admin = "127.0.0.1:15000", *target;
	tap_rd_t r = { 0 };
	bool service = false, in_body = false;
	char req[512], chunk_line[32];
	size_t chunk_left = 0, cl = 0;
	int ch, fd, n, state = 0;   /* 0 size line, 1 data, 2 CRLF after data */
	static char buf[65536];
	size_t hl = 0;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (ch) {
		case 'a': admin = optarg; break;
		case 's': service = true; break;
		case 'j': r.json = true; break;
		case 'c':
			r.count = strtol(optarg, NULL, 10);
			if (r.count <= 0) {
				fprintf(stderr, "weft tap: --count wants a positive number\n");
				return 2;
			}
			break;
		case 'h':
			printf("usage: weft tap NAMESPACE/NAME [--service] [--admin ADDR] [--count N] [--json]\n"
			       "  NAMESPACE/NAME  a workload (requests from or to it), or with --service\n"
			       "                  a destination service\n"
			       "  --admin ADDR    the agent's admin address [127.0.0.1:15000]\n"
			       "  --count N       stop after N requests\n"
			       "  --json          print the agent's JSON lines as they come\n");
			return 0;
		default:
			return 2;
		}
	}
	if (optind != argc - 1 || !strchr(argv[optind], '/') || strpbrk(argv[optind], " \r\n&?#")) {
		fprintf(stderr, "usage: weft tap NAMESPACE/NAME [--service] [--admin ADDR] [--count N] [--json]\n");
		return 2;
	}
	target = argv[optind];
	fd = weft_net_connect(admin, 3000);
	if (fd < 0) {
		fprintf(stderr, "weft tap: cannot connect to %s: %s\n", admin, strerror(errno));
		return 1;
	}
	n = snprintf(req, sizeof(req), "GET /debug/tap?%s=%s HTTP/1.1\r\nHost: %s\r\nUser-Agent: weft-tap\r\n\r\n",
		     service ? "service" : "workload", target, admin);
	if (send(fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
		fprintf(stderr, "weft tap: %s: send failed\n", admin);
		close(fd);
		return 1;
	}
	for (;;) {
		ssize_t got = recv(fd, buf + hl, sizeof(buf) - hl, 0);
		size_t i = 0, len;
		if (got <= 0) {
			if (!in_body)
				fprintf(stderr, "weft tap: %s: connection closed before an answer\n", admin);
			close(fd);
			return in_body ? 0 : 1;
		}
		len = hl + (size_t)got;
		if (!in_body) {
			char *end;
			int status = 0;
			buf[len < sizeof(buf) ? len : sizeof(buf) - 1] = 0;
			if (!(end = strstr(buf, "\r\n\r\n"))) {
				hl = len;
				if (hl >= sizeof(buf) - 1) {
					fprintf(stderr, "weft tap: %s: response head too large\n", admin);
					close(fd);
					return 1;
				}
				continue;
			}
			sscanf(buf, "HTTP/1.%*d %d", &status);
			if (status != 200) {
				fprintf(stderr, "weft tap: %s answered %d: %s", admin, status, end + 4);
				close(fd);
				return 1;
			}
			in_body = true;
			i = (size_t)(end + 4 - buf);
			hl = 0;
		}
		while (i < len) {
			if (state == 0) {
				char c = buf[i++];
				if (c == '\n') {
					chunk_line[cl] = 0;
					chunk_left = strtoul(chunk_line, NULL, 16);
					cl = 0;
					if (!chunk_left) {   /* the agent ended the stream */
						close(fd);
						return 0;
					}
					state = 1;
				} else if (c != '\r' && cl + 1 < sizeof(chunk_line)) {
					chunk_line[cl++] = c;
				}
			} else if (state == 1) {
				size_t take = len - i < chunk_left ? len - i : chunk_left;
				if (body_bytes(&r, buf + i, take)) {
					close(fd);
					return 0;
				}
				i += take;
				chunk_left -= take;
				if (!chunk_left)
					state = 2;
			} else {
				if (buf[i++] == '\n')
					state = 0;
			}
		}
	}
}

WEFT_CLI_COMMAND(tap, "tap", "follow the L7 requests of a workload or service on a running agent", run_tap);
