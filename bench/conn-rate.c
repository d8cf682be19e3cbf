/* weft — conn-rate: connection-setup load generator and the capture-mode
 * echo listener, for the capture benchmark (bench/run-capture-bench.sh).
 *
 *   conn-rate serve --listen IP:PORT [--netns NAME] [--capture none|nft|ebpf]
 *                   [--cgroup DIR] [--pin DIR] [--pod-addr IP] [--expect IP:PORT]
 *                   [--ready FILE] [--no-lookup]
 *     Installs the capture the agent would install for one pod (nft: the
 *     real `table inet weft` rule set of src/agent/nft.c, outbound redirect
 *     to --listen's port; ebpf: the real bpf/capture.bpf.c programs through
 *     src/agent/bpf_capture.c, connect4/connect6/sockops on --cgroup,
 *     sk_lookup on the pod netns, pinned under --pin), then listens on
 *     --listen (in netns /run/netns/NAME when --netns is given: the process
 *     enters it with setns and keeps the host's mount namespace, so bpffs
 *     and the cgroup tree stay visible). Every accepted connection: its
 *     original destination is looked up the way the agent does it (nft:
 *     SO_ORIGINAL_DST; ebpf: the orig_by_tuple record, deleted), compared
 *     with --expect (skipped with --no-lookup, to tell the redirect's cost
 *     from the lookup's), then one byte is read, echoed, and the server
 *     closes.
 *     Writes "ready" to --ready once listening. On SIGINT/SIGTERM: removes
 *     the capture (nft table deleted; links detached, pins removed) and
 *     prints one JSON object of counters on stdout. Exit 0, 1 on a setup
 *     error, 2 on bad usage.
 *
 *   conn-rate client --connect IP:PORT [--netns NAME] [--conns N] [--rate R]
 *                    [--duration S] [--warmup W] [--drain D]
 *     Connection setup: each connection is socket, non-blocking connect,
 *     send 1 byte, read the 1-byte echo, close. Latency: from the start
 *     (socket()) to the echoed byte, i.e. connect plus first byte.
 *       --rate 0   closed loop: N connectors, each starting its next
 *                  connection as soon as the previous one is done
 *                  (connects/s is the result).
 *       --rate R   open loop: connection k is scheduled at t0 + k/R and
 *                  started then on a free slot (at most N in flight); its
 *                  latency is measured from the scheduled time, so a stall
 *                  is charged to every connection it delayed. The wake-up
 *                  is epoll_pwait2 with a ns timeout (timer slack 1 ns).
 *     Connections started in the first --warmup seconds are not recorded;
 *     then --duration seconds; then --drain seconds for the rest to finish
 *     (what does not is an error). Prints one JSON object. Exit 0 when every
 *     recorded connection completed, 1 when some did not, 2 on bad usage.
 *
 * One thread, one epoll loop each side. Latencies: log-linear histogram
 * in ns (1,024 sub-buckets per power of two, < 0.2% error: 0.25 µs at
 * 150 µs, fine enough for a 5 µs target), nearest rank. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include "weft/agent-t.h"
#include "weft/bpfcap.h"
#include "weft/capture.h"

#define NS_PER_S 1000000000ull

#include "hist.h"

/* ---- helpers ---- */
static volatile sig_atomic_t g_stop;
static void on_signal(int s)
{
	(void)s;
	g_stop = 1;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

/* "a.b.c.d:port" into sin. Returns 0, or -1 when it is not one. */
static int parse_v4(const char *s, struct sockaddr_in *sin)
{
	char ip[64];
	const char *c = strrchr(s, ':');
	char *end;
	long port;

	if (!c || (size_t)(c - s) >= sizeof(ip))
		return -1;
	memcpy(ip, s, (size_t)(c - s));
	ip[c - s] = 0;
	port = strtol(c + 1, &end, 10);
	if (*end || port < 1 || port > 65535)
		return -1;
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)port);
	return inet_pton(AF_INET, ip, &sin->sin_addr) == 1 ? 0 : -1;
}

static void v4mapped(uint8_t out[16], struct in_addr a)
{
	memset(out, 0, 10);
	out[10] = out[11] = 0xff;
	memcpy(out + 12, &a, 4);
}

/* Enters netns /run/netns/NAME (or NAME when it is a path). 0 or -1. */
static int enter_netns(const char *name)
{
	char p[300];
	int fd;

	snprintf(p, sizeof(p), "%s%s", name[0] == '/' ? "" : "/run/netns/", name);
	if ((fd = open(p, O_RDONLY | O_CLOEXEC)) < 0) {
		fprintf(stderr, "conn-rate: open %s: %s\n", p, strerror(errno));
		return -1;
	}
	if (setns(fd, CLONE_NEWNET) < 0) {
		fprintf(stderr, "conn-rate: setns %s: %s\n", p, strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

static void raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static void install_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;   /* no SA_RESTART: epoll_wait returns EINTR */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/* ---- serve ---- */
enum cap { CAP_NONE, CAP_NFT, CAP_EBPF };

typedef struct srv_stats {
	uint64_t accepted, echoed, closed_early, orig_ok, orig_missing, orig_mismatch;
} srv_stats_t;

static int cmd_serve(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "listen", 1, 0, 'l' }, { "netns", 1, 0, 'n' }, { "capture", 1, 0, 'c' },
		{ "cgroup", 1, 0, 'g' }, { "pin", 1, 0, 'p' }, { "pod-addr", 1, 0, 'a' },
		{ "expect", 1, 0, 'e' }, { "ready", 1, 0, 'r' }, { "no-lookup", 0, 0, 'L' },
		{ 0, 0, 0, 0 }
	};
	const char *listen_s = NULL, *netns = NULL, *cgroup = NULL, *pin = NULL, *pod = NULL;
	const char *expect_s = NULL, *ready = NULL;
	enum cap cap = CAP_NONE;
	struct sockaddr_in lsin, esin;
	struct in_addr podaddr;
	struct weft_bpfcap *bc = NULL;
	weft_nft_opts_t nopt;
	srv_stats_t st = { 0 };
	char err[512];
	int o, lfd = -1, ep = -1, rc = 1, one = 1;
	bool nft_on = false, lookup = true;

	while ((o = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (o) {
		case 'l': listen_s = optarg; break;
		case 'n': netns = optarg; break;
		case 'g': cgroup = optarg; break;
		case 'p': pin = optarg; break;
		case 'a': pod = optarg; break;
		case 'e': expect_s = optarg; break;
		case 'r': ready = optarg; break;
		case 'L': lookup = false; break;
		case 'c':
			if (!strcmp(optarg, "none"))
				cap = CAP_NONE;
			else if (!strcmp(optarg, "nft"))
				cap = CAP_NFT;
			else if (!strcmp(optarg, "ebpf"))
				cap = CAP_EBPF;
			else {
				fprintf(stderr, "conn-rate serve: --capture is none, nft or ebpf, not '%s'\n", optarg);
				return 2;
			}
			break;
		default: return 2;
		}
	}
	if (!listen_s || parse_v4(listen_s, &lsin) < 0) {
		fprintf(stderr, "conn-rate serve: --listen IPv4:PORT is required\n");
		return 2;
	}
	if (expect_s && parse_v4(expect_s, &esin) < 0) {
		fprintf(stderr, "conn-rate serve: --expect is IPv4:PORT, not '%s'\n", expect_s);
		return 2;
	}
	if (cap == CAP_EBPF && (!cgroup || !pin || !pod || inet_pton(AF_INET, pod, &podaddr) != 1)) {
		fprintf(stderr, "conn-rate serve: --capture ebpf needs --cgroup DIR, --pin DIR and --pod-addr IPv4\n");
		return 2;
	}
	install_signals();
	raise_nofile();
	if (netns && enter_netns(netns) < 0)
		return 1;

	if (cap == CAP_NFT) {
		weft_nft_opts_default(&nopt, WEFT_AGENT_MARK);
		nopt.outbound_port = ntohs(lsin.sin_port);
		if (weft_nft_install(-1, &nopt, err, sizeof(err)) < 0) {
			fprintf(stderr, "conn-rate serve: nft: %s\n", err);
			return 1;
		}
		nft_on = true;
	} else if (cap == CAP_EBPF) {
		weft_bpfcap_opts_t bo;
		weft_bpfcap_wl_t w;
		uint8_t addrs[1][16];

		memset(&bo, 0, sizeof(bo));
		bo.dir = pin;
		bo.hbone_port = 15008;
		bo.nports = 2;
		bo.agent_ports[0] = 15008;
		bo.agent_ports[1] = 15021;
		if (!(bc = weft_bpfcap_open(&bo, err, sizeof(err)))) {
			fprintf(stderr, "conn-rate serve: ebpf: %s\n", err);
			weft_bpfcap_remove_all(pin);
			return 1;
		}
		memset(&w, 0, sizeof(w));
		v4mapped(addrs[0], podaddr);
		w.key = "capbench_pod";
		w.cgroup = cgroup;
		w.netns_fd = -1;          /* ours: the pod's, after enter_netns */
		v4mapped(w.out_ip, lsin.sin_addr);
		w.out_port = ntohs(lsin.sin_port);
		w.naddrs = 1;
		w.addrs = (const uint8_t (*)[16])addrs;
		w.in4_fd = w.in6_fd = -1;
		if (weft_bpfcap_attach(bc, &w, err, sizeof(err)) < 0) {
			fprintf(stderr, "conn-rate serve: ebpf attach: %s\n", err);
			goto out;
		}
	}

	if ((lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0 ||
	    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(lfd, (struct sockaddr *)&lsin, sizeof(lsin)) < 0 || listen(lfd, 4096) < 0) {
		fprintf(stderr, "conn-rate serve: listen %s: %s\n", listen_s, strerror(errno));
		goto out;
	}
	if ((ep = epoll_create1(EPOLL_CLOEXEC)) < 0) {
		fprintf(stderr, "conn-rate serve: epoll: %s\n", strerror(errno));
		goto out;
	}
	{
		struct epoll_event ev = { .events = EPOLLIN, .data.fd = lfd };
		epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
	}
	if (ready) {
		FILE *f = fopen(ready, "w");
		if (!f || fputs("ready\n", f) < 0 || fclose(f) != 0) {
			fprintf(stderr, "conn-rate serve: write %s: %s\n", ready, strerror(errno));
			goto out;
		}
	}
	while (!g_stop) {
		struct epoll_event evs[256];
		int n = epoll_wait(ep, evs, 256, 500);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "conn-rate serve: epoll_wait: %s\n", strerror(errno));
			goto out;
		}
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			if (fd == lfd) {
				for (;;) {
					int c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
					struct sockaddr_storage ss;
					socklen_t sl = sizeof(ss);
					int orc;
					if (c < 0)
						break;   /* EAGAIN, or a transient error: next event */
					st.accepted++;
					if (cap != CAP_NONE && lookup) {
						orc = cap == CAP_NFT ? weft_sock_original_dst(c, &ss, &sl)
								     : weft_bpfcap_original_dst(bc, c, &ss, &sl, NULL);
						if (orc < 0) {
							st.orig_missing++;
						} else if (expect_s) {
							const struct sockaddr_in *s4 = (const struct sockaddr_in *)&ss;
							if (ss.ss_family == AF_INET && s4->sin_port == esin.sin_port &&
							    s4->sin_addr.s_addr == esin.sin_addr.s_addr)
								st.orig_ok++;
							else
								st.orig_mismatch++;
						} else {
							st.orig_ok++;
						}
					}
					struct epoll_event ev = { .events = EPOLLIN, .data.fd = c };
					if (epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev) < 0)
						close(c);
				}
				continue;
			}
			{
				char b[64];
				ssize_t r = read(fd, b, sizeof(b));
				if (r < 0 && errno == EAGAIN)
					continue;
				if (r > 0 && write(fd, b, (size_t)r) == r)
					st.echoed++;
				else
					st.closed_early++;
				close(fd);   /* the server closes first: TIME_WAIT is here */
			}
		}
	}
	rc = 0;
out:
	if (lfd >= 0)
		close(lfd);
	if (ep >= 0)
		close(ep);
	if (nft_on && weft_nft_remove(-1, &nopt, err, sizeof(err)) < 0) {
		fprintf(stderr, "conn-rate serve: nft remove: %s\n", err);
		rc = 1;
	}
	if (bc) {
		if (weft_bpfcap_detach(bc, "capbench_pod", err, sizeof(err)) < 0) {
			fprintf(stderr, "conn-rate serve: ebpf detach: %s\n", err);
			rc = 1;
		}
		weft_bpfcap_close(bc);
		if (weft_bpfcap_remove_all(pin) < 0) {
			fprintf(stderr, "conn-rate serve: remove %s: %s\n", pin, strerror(errno));
			rc = 1;
		}
	}
	printf("{\"capture\":\"%s\",\"lookup\":%s,\"accepted\":%llu,\"echoed\":%llu,\"closed_early\":%llu,"
	       "\"orig_ok\":%llu,\"orig_missing\":%llu,\"orig_mismatch\":%llu}\n",
	       cap == CAP_NONE ? "none" : cap == CAP_NFT ? "nft" : "ebpf", lookup ? "true" : "false",
	       (unsigned long long)st.accepted, (unsigned long long)st.echoed,
	       (unsigned long long)st.closed_early, (unsigned long long)st.orig_ok,
	       (unsigned long long)st.orig_missing, (unsigned long long)st.orig_mismatch);
	return rc;
}

/* ---- client ---- */
enum sstate { S_IDLE, S_CONNECTING, S_REPLY };

typedef struct slot {
	int fd;
	enum sstate st;
	uint64_t t0;                 /* scheduled (open loop) or actual start */
} slot_t;

typedef struct cli {
	struct sockaddr_in dst;
	int ep;
	unsigned nslots;
	slot_t *s;
	uint64_t rec_from, rec_to;   /* starts in [rec_from, rec_to) are recorded */
	hist_t h;
	uint64_t started, done, done_rec, errors, errors_rec, inflight;
	int last_errno;
} cli_t;

static void slot_fail(cli_t *c, slot_t *s, int e)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	s->st = S_IDLE;
	c->inflight--;
	c->errors++;
	c->last_errno = e;
	if (s->t0 >= c->rec_from && s->t0 < c->rec_to)
		c->errors_rec++;
}

static void slot_send(cli_t *c, slot_t *s)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)(s - c->s) };

	if (send(s->fd, "x", 1, MSG_NOSIGNAL) != 1) {
		slot_fail(c, s, errno);
		return;
	}
	s->st = S_REPLY;
	if (epoll_ctl(c->ep, EPOLL_CTL_MOD, s->fd, &ev) < 0)
		slot_fail(c, s, errno);
}

/* Starts a connection on idle slot s, its latency counted from t0. */
static void slot_start(cli_t *c, slot_t *s, uint64_t t0)
{
	struct epoll_event ev = { .events = EPOLLOUT, .data.u32 = (uint32_t)(s - c->s) };
	int r;

	s->t0 = t0;
	c->started++;
	c->inflight++;
	s->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->fd < 0) {
		slot_fail(c, s, errno);
		return;
	}
	r = connect(s->fd, (struct sockaddr *)&c->dst, sizeof(c->dst));
	if (r < 0 && errno != EINPROGRESS) {
		slot_fail(c, s, errno);
		return;
	}
	s->st = S_CONNECTING;
	if (epoll_ctl(c->ep, EPOLL_CTL_ADD, s->fd, &ev) < 0) {
		slot_fail(c, s, errno);
		return;
	}
	if (r == 0)
		slot_send(c, s);
}

/* Handles an event on s. Returns true when s became idle. */
static bool slot_event(cli_t *c, slot_t *s, uint32_t events)
{
	if (s->st == S_CONNECTING) {
		int e = 0;
		socklen_t l = sizeof(e);
		if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &e, &l) < 0)
			e = errno;
		if (e) {
			slot_fail(c, s, e);
			return true;
		}
		slot_send(c, s);
		return s->st == S_IDLE;
	}
	if (s->st == S_REPLY) {
		char b[8];
		ssize_t r = read(s->fd, b, sizeof(b));
		if (r < 0 && errno == EAGAIN)
			return false;
		if (r != 1 || b[0] != 'x') {
			slot_fail(c, s, r < 0 ? errno : EPROTO);
			return true;
		}
		uint64_t t = now_ns();
		close(s->fd);
		s->fd = -1;
		s->st = S_IDLE;
		c->inflight--;
		c->done++;
		if (s->t0 >= c->rec_from && s->t0 < c->rec_to) {
			c->done_rec++;
			hist_add(&c->h, t > s->t0 ? t - s->t0 : 0);
		}
		return true;
	}
	(void)events;
	return false;
}

static double parse_num(const char *s, const char *what, bool *ok)
{
	char *end;
	double v = strtod(s, &end);
	if (*end || v < 0 || !isfinite(v)) {
		fprintf(stderr, "conn-rate client: bad %s '%s'\n", what, s);
		*ok = false;
	}
	return v;
}

static int cmd_client(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "connect", 1, 0, 'c' }, { "netns", 1, 0, 'n' }, { "conns", 1, 0, 'N' },
		{ "rate", 1, 0, 'R' }, { "duration", 1, 0, 'd' }, { "warmup", 1, 0, 'w' },
		{ "drain", 1, 0, 'D' }, { 0, 0, 0, 0 }
	};
	const char *target = NULL, *netns = NULL;
	double conns = 16, rate = 0, dur = 5, warm = 1, drain = 2;
	bool ok = true;
	cli_t c;
	int o;

	memset(&c, 0, sizeof(c));
	while ((o = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (o) {
		case 'c': target = optarg; break;
		case 'n': netns = optarg; break;
		case 'N': conns = parse_num(optarg, "--conns", &ok); break;
		case 'R': rate = parse_num(optarg, "--rate", &ok); break;
		case 'd': dur = parse_num(optarg, "--duration", &ok); break;
		case 'w': warm = parse_num(optarg, "--warmup", &ok); break;
		case 'D': drain = parse_num(optarg, "--drain", &ok); break;
		default: return 2;
		}
	}
	if (!ok)
		return 2;
	if (!target || parse_v4(target, &c.dst) < 0) {
		fprintf(stderr, "conn-rate client: --connect IPv4:PORT is required\n");
		return 2;
	}
	if (conns < 1 || conns > 65536 || dur <= 0 || rate > 10e6) {
		fprintf(stderr, "conn-rate client: --conns 1..65536, --duration > 0, --rate <= 1e7\n");
		return 2;
	}
	install_signals();
	raise_nofile();
	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);   /* wake at the scheduled time, not 50 µs later */
	if (netns && enter_netns(netns) < 0)
		return 1;
	c.nslots = (unsigned)conns;
	if (!(c.s = calloc(c.nslots, sizeof(*c.s))) || (c.ep = epoll_create1(EPOLL_CLOEXEC)) < 0) {
		fprintf(stderr, "conn-rate client: setup: %s\n", strerror(errno));
		return 1;
	}
	for (unsigned i = 0; i < c.nslots; i++)
		c.s[i].fd = -1;

	uint64_t t0 = now_ns();
	c.rec_from = t0 + (uint64_t)(warm * NS_PER_S);
	c.rec_to = c.rec_from + (uint64_t)(dur * NS_PER_S);
	uint64_t hard_end = c.rec_to + (uint64_t)(drain * NS_PER_S);
	double period = rate > 0 ? (double)NS_PER_S / rate : 0;
	uint64_t k = 0, unsent = 0;     /* open loop: next scheduled connection */
	unsigned *freel = calloc(c.nslots, sizeof(unsigned)), nfree = 0;

	if (!freel) {
		fprintf(stderr, "conn-rate client: no memory\n");
		return 1;
	}
	for (unsigned i = c.nslots; i-- > 0;)
		freel[nfree++] = i;
	for (;;) {
		uint64_t now = now_ns();
		uint64_t timeout = 100000000;   /* ns */

		if (g_stop || now >= hard_end)
			break;
		if (rate > 0) {
			/* start every connection whose time has come, while slots are free */
			for (;;) {
				uint64_t due = t0 + (uint64_t)((double)k * period);
				if (due >= c.rec_to) {
					break;
				}
				if (due > now) {
					timeout = due - now < timeout ? due - now : timeout;
					break;
				}
				if (!nfree)
					break;   /* late: it goes out when a slot frees */
				unsigned si = freel[--nfree];
				slot_start(&c, &c.s[si], due);
				k++;
				if (c.s[si].st == S_IDLE)
					freel[nfree++] = si;   /* failed at once: the slot is free again */
			}
			if (now >= c.rec_to && c.inflight == 0)
				break;
		} else {
			while (nfree && now < c.rec_to) {
				unsigned i = freel[--nfree];
				slot_start(&c, &c.s[i], now_ns());
				if (c.s[i].st == S_IDLE)
					freel[nfree++] = i;
				if (c.s[i].st == S_IDLE)
					break;   /* failing at once: do not spin */
			}
			if (now >= c.rec_to && c.inflight == 0)
				break;
		}
		struct epoll_event evs[256];
		struct timespec to = { .tv_sec = (time_t)(timeout / NS_PER_S),
				       .tv_nsec = (long)(timeout % NS_PER_S) };
		int n = epoll_pwait2(c.ep, evs, 256, &to, NULL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "conn-rate client: epoll_wait: %s\n", strerror(errno));
			return 1;
		}
		for (int i = 0; i < n; i++) {
			slot_t *s = &c.s[evs[i].data.u32];
			if (slot_event(&c, s, evs[i].events))
				freel[nfree++] = evs[i].data.u32;
		}
	}
	/* what is left: scheduled but never started, or still in flight */
	if (rate > 0) {
		for (;; k++) {
			uint64_t due = t0 + (uint64_t)((double)k * period);
			if (due >= c.rec_to)
				break;
			unsent++;
			if (due >= c.rec_from)
				c.errors_rec++;
		}
	}
	for (unsigned i = 0; i < c.nslots; i++)
		if (c.s[i].st != S_IDLE)
			slot_fail(&c, &c.s[i], ETIMEDOUT);

	const hist_t *h = &c.h;
	printf("{\"mode\":\"%s\",\"target\":\"%s\",\"conns\":%u,\"rate_target\":%.0f,\"duration_s\":%.3f,"
	       "\"warmup_s\":%.3f,\"completed\":%llu,\"completed_total\":%llu,\"errors\":%llu,"
	       "\"errors_total\":%llu,\"unsent\":%llu,\"last_errno\":%d,\"rate\":%.1f,"
	       "\"latency_us\":{\"p50\":%.2f,\"p90\":%.2f,\"p99\":%.2f,\"p999\":%.2f,\"max\":%.2f,"
	       "\"mean\":%.2f}}\n",
	       rate > 0 ? "open" : "closed", target, c.nslots, rate, dur, warm,
	       (unsigned long long)c.done_rec, (unsigned long long)c.done,
	       (unsigned long long)c.errors_rec, (unsigned long long)c.errors,
	       (unsigned long long)unsent, c.last_errno, (double)c.done_rec / dur,
	       (double)hist_quantile(h, 0.50) / 1e3, (double)hist_quantile(h, 0.90) / 1e3, (double)hist_quantile(h, 0.99) / 1e3,
	       (double)hist_quantile(h, 0.999) / 1e3, (double)h->max / 1e3,
	       h->count ? h->sum / (double)h->count / 1e3 : 0.0);
	free(freel);
	free(c.s);
	close(c.ep);
	return c.errors_rec || g_stop ? 1 : 0;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: conn-rate serve --listen IP:PORT [--netns NAME] [--capture none|nft|ebpf]\n"
		   "                       [--cgroup DIR --pin DIR --pod-addr IP] [--expect IP:PORT] [--ready FILE]\n"
		   "                       [--no-lookup]\n"
		   "       conn-rate client --connect IP:PORT [--netns NAME] [--conns N] [--rate R]\n"
		   "                        [--duration S] [--warmup W] [--drain D]\n"
		   "see the comment at the top of bench/conn-rate.c\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "serve"))
		return cmd_serve(argc - 1, argv + 1);
	if (!strcmp(argv[1], "client"))
		return cmd_client(argc - 1, argv + 1);
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(stdout);
		return 0;
	}
	usage(stderr);
	return 2;
}
