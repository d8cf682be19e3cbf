/* weft agent-debug — hidden tools for the data-path tests
 * (tests/e2e/test_capture.py); not listed by `weft --help`.
 *
 *   weft agent-debug nft-script
 *   weft agent-debug nft-install NETNS
 *   weft agent-debug nft-remove NETNS
 *       print / install / remove the capture rules (src/agent/nft.c)
 *   weft agent-debug capture-listen NETNS
 *       opens the capture listeners inside NETNS from this (root) namespace
 *       (127.0.0.1:15001, [::1]:15001 when the netns has IPv6, 0.0.0.0:15006,
 *       [::]:15006, 0.0.0.0:15008), prints "ready", then one JSON line per
 *       accepted connection: {"port":15001,"peer":"..","orig_dst":"..."|null}
 *       and answers "captured <port>\n" on it, then reads until EOF and closes.
 *   weft agent-debug connect NETNS ADDR [MARK]
 *       connects from inside NETNS to ADDR with SO_MARK MARK (default 0),
 *       sends "hello\n", prints what comes back (until EOF, 4 KiB at most).
 * Exit status 0 on success, 1 with a message on stderr otherwise. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include "weft/agent-t.h"
#include "weft/capture.h"
#include "weft/cli.h"
#include "weft/net.h"

static int dbg_usage(void)
{
	fprintf(stderr, "usage: weft agent-debug nft-script | nft-install NETNS | nft-remove NETNS |\n"
			"       capture-listen NETNS | connect NETNS ADDR [MARK]\n");
	return 2;
}

static weft_netns_t *open_ns(weft_netns_set_t *s, const char *path)
{
	weft_netns_t *ns = weft_netns_open(s, path);

	if (!ns)
		fprintf(stderr, "weft agent-debug: netns %s: %s\n", path,
			errno ? strerror(errno) : "empty path");
	return ns;
}

static int cmd_nft(int install, const char *path)
{
	weft_netns_set_t s;
	weft_netns_t *ns;
	weft_nft_opts_t o;
	char err[512];
	int rc;

	if (weft_netns_set_init(&s) < 0)
		return 1;
	if (!(ns = open_ns(&s, path))) {
		weft_netns_set_destroy(&s);
		return 1;
	}
	weft_nft_opts_default(&o, WEFT_AGENT_MARK);
	rc = install ? weft_nft_install(ns->fd, &o, err, sizeof(err))
		     : weft_nft_remove(ns->fd, &o, err, sizeof(err));
	if (rc < 0)
		fprintf(stderr, "weft agent-debug: %s rules in %s: %s\n", install ? "install" : "remove",
			path, err);
	weft_netns_release(&s, ns);
	weft_netns_set_destroy(&s);
	return rc < 0 ? 1 : 0;
}

static int cmd_listen(const char *path)
{
	static const struct { int fam; const char *addr; uint16_t port; } want[] = {
		{ AF_INET, "127.0.0.1:15001", 15001 }, { AF_INET6, "[::1]:15001", 15001 },
		{ AF_INET, "0.0.0.0:15006", 15006 }, { AF_INET6, "[::]:15006", 15006 },
		{ AF_INET, "0.0.0.0:15008", 15008 },
	};
	struct pollfd pfd[8];
	uint16_t port[8];
	int n = 0;
	weft_netns_set_t s;
	weft_netns_t *ns;
	bool v6;

	if (weft_netns_set_init(&s) < 0 || !(ns = open_ns(&s, path)))
		return 1;
	v6 = weft_netns_has_ipv6(&s, ns);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		struct sockaddr_storage ss;
		socklen_t sl;
		if (want[i].fam == AF_INET6 && !v6)
			continue;
		weft_net_parse_addr(want[i].addr, strlen(want[i].addr), &ss, &sl);
		pfd[n].fd = weft_netns_listen(&s, ns, (struct sockaddr *)&ss, sl, 64);
		if (pfd[n].fd < 0) {
			fprintf(stderr, "weft agent-debug: listen %s in %s: %s\n", want[i].addr, path,
				strerror(errno));
			return 1;
		}
		pfd[n].events = POLLIN;
		port[n++] = want[i].port;
	}
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		if (poll(pfd, (nfds_t)n, -1) < 0) {
			if (errno == EINTR)
				continue;
			return 1;
		}
		for (int i = 0; i < n; i++) {
			struct sockaddr_storage peer, od;
			socklen_t pl = sizeof(peer), ol;
			char pb[80], ob[80], msg[32];
			int fd;
			if (!(pfd[i].revents & POLLIN))
				continue;
			fd = accept(pfd[i].fd, (struct sockaddr *)&peer, &pl);
			if (fd < 0)
				continue;
			weft_net_format_addr((struct sockaddr *)&peer, pb, sizeof(pb));
			if (weft_sock_original_dst(fd, &od, &ol) == WEFT_OK)
				printf("{\"port\":%u,\"peer\":\"%s\",\"orig_dst\":\"%s\"}\n", port[i], pb,
				       weft_net_format_addr((struct sockaddr *)&od, ob, sizeof(ob)));
			else
				printf("{\"port\":%u,\"peer\":\"%s\",\"orig_dst\":null}\n", port[i], pb);
			fflush(stdout);
			int m = snprintf(msg, sizeof(msg), "captured %u\n", port[i]);
			if (send(fd, msg, (size_t)m, MSG_NOSIGNAL) == m) {
				/* read what the client sent until its FIN, so closing
				 * does not turn into a reset */
				struct pollfd cp = { .fd = fd, .events = POLLIN };
				char sink[256];
				shutdown(fd, SHUT_WR);
				while (poll(&cp, 1, 2000) == 1 && recv(fd, sink, sizeof(sink), 0) > 0)
					;
			}
			close(fd);
		}
	}
}

static int cmd_connect(const char *path, const char *addr, const char *mark_s)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	weft_netns_set_t s;
	weft_netns_t *ns;
	uint32_t mark = mark_s ? (uint32_t)strtoul(mark_s, NULL, 0) : 0;
	struct pollfd p;
	char buf[4096];
	size_t got = 0;
	int fd, e;

	if (weft_net_parse_addr(addr, strlen(addr), &ss, &sl) < 0) {
		fprintf(stderr, "weft agent-debug: bad address %s\n", addr);
		return 1;
	}
	if (weft_netns_set_init(&s) < 0 || !(ns = open_ns(&s, path)))
		return 1;
	fd = weft_netns_connect(&s, ns, (struct sockaddr *)&ss, sl, mark);
	if (fd < 0) {
		fprintf(stderr, "weft agent-debug: connect %s: %s\n", addr, strerror(errno));
		return 1;
	}
	p.fd = fd;
	p.events = POLLOUT;
	if (poll(&p, 1, 5000) != 1 || (e = weft_sock_connect_result(fd)) != 0) {
		fprintf(stderr, "weft agent-debug: connect %s: %s\n", addr,
			strerror(p.revents ? weft_sock_connect_result(fd) : ETIMEDOUT));
		return 1;
	}
	if (send(fd, "hello\n", 6, MSG_NOSIGNAL) != 6) {
		fprintf(stderr, "weft agent-debug: send: %s\n", strerror(errno));
		return 1;
	}
	shutdown(fd, SHUT_WR);
	p.events = POLLIN;
	while (got < sizeof(buf) && poll(&p, 1, 5000) == 1) {
		ssize_t r = recv(fd, buf + got, sizeof(buf) - got, 0);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	fwrite(buf, 1, got, stdout);
	close(fd);
	weft_netns_release(&s, ns);
	weft_netns_set_destroy(&s);
	return 0;
}

static int run_agent_debug(int argc, char **argv)
{
	if (argc < 2)
		return dbg_usage();
	if (!strcmp(argv[1], "nft-script") && argc == 2) {
		weft_nft_opts_t o;
		char script[1024];
		weft_nft_opts_default(&o, WEFT_AGENT_MARK);
		if (weft_nft_script(&o, script, sizeof(script)) < 0)
			return 1;
		fputs(script, stdout);
		return 0;
	}
	if (!strcmp(argv[1], "nft-install") && argc == 3)
		return cmd_nft(1, argv[2]);
	if (!strcmp(argv[1], "nft-remove") && argc == 3)
		return cmd_nft(0, argv[2]);
	if (!strcmp(argv[1], "capture-listen") && argc == 3)
		return cmd_listen(argv[2]);
	if (!strcmp(argv[1], "connect") && (argc == 4 || argc == 5))
		return cmd_connect(argv[2], argv[3], argc == 5 ? argv[4] : NULL);
	return dbg_usage();
}

WEFT_CLI_COMMAND(agent_debug, "agent-debug", NULL, run_agent_debug);
