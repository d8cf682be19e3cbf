/* weft — tcp-rr: small TCP request/response load generator (and a plain
 * echo server), for the node agent data-path benchmark
 * (bench/run-agent-bench.sh).
 *
 * Client: N connections to --connect ADDR, one epoll loop, one thread,
 * non-blocking sockets. A request is --size bytes of a fixed pattern; the
 * server must echo exactly those bytes back; the reply is checked byte for
 * byte. One request at a time per connection (no pipelining).
 *
 *   --rate R > 0  open loop: request k of the run is *scheduled* at
 *                 t0 + k/R, whatever happened to earlier requests. At its
 *                 time it goes out on an idle connection; when none is idle
 *                 it waits for one. Latency is measured from the scheduled
 *                 time, so a stall in the server (or in the proxies between)
 *                 shows up in every request it delayed instead of being
 *                 hidden by the generator slowing down ("coordinated
 *                 omission").
 *   --rate 0      closed loop (maximum rate): each connection sends its next
 *                 request as soon as the reply to the previous one arrives;
 *                 latency is from the send.
 *
 * Connections are opened first (all of them, or --connect-timeout); the
 * clock starts after that. Requests that start during --warmup seconds are
 * sent but not recorded; then --duration seconds are measured. After the
 * window, requests already started (or, in open loop, scheduled inside the
 * window but still waiting for a connection) are given --drain seconds to
 * complete; what is still outstanding then is counted in "errors"
 * ("unsent" for those never sent).
 *
 * Latencies go into a log-linear histogram in ns (128 linear sub-buckets
 * per power of two: under 0.8% error); percentiles are nearest-rank, each
 * the upper edge of its bucket (never above the exact max).
 *
 * Prints one JSON object on stdout. Exit status: 0 when every connection
 * opened and every recorded request completed correctly, 1 when some did
 * not (the JSON says which), 2 on bad usage.
 *
 * HTTP mode (--http PATH): a request is "GET PATH HTTP/1.1" with a Host
 * header (keep-alive); the reply must be an HTTP/1.1 response with status
 * 200 and a Content-Length body, read whole (the body is not checked).
 * Anything else (another status, no Content-Length, a close) is an error.
 *
 * Server: --serve ADDR echoes every byte back on every connection it
 * accepts, until SIGINT/SIGTERM; a stand-in for `weft echo --mode echo`. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <netdb.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>

#define NS_PER_S 1000000000ull
#define MAX_SIZE (1u << 20)
#define SCRATCH (64u << 10)

#include "hist.h"

/* ---- small helpers ---- */

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

static void die_usage(const char *msg, const char *arg)
{
	fprintf(stderr, "tcp-rr: %s%s\n(try tcp-rr --help)\n", msg, arg);
	exit(2);
}

/* Parses "ip:port" or "[ipv6]:port" (numeric only) into ss and len.
 * Returns 0, or -1 (message on stderr) when it is not such an address. */
static int parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[128];
	const char *colon = strrchr(s, ':');
	if (!colon || colon == s || !colon[1])
		goto bad;
	size_t hl = (size_t)(colon - s);
	const char *h = s;
	if (*s == '[') {
		if (hl < 3 || s[hl - 1] != ']')
			goto bad;
		h = s + 1;
		hl -= 2;
	}
	if (hl >= sizeof(host))
		goto bad;
	memcpy(host, h, hl);
	host[hl] = 0;
	char *end;
	errno = 0;
	unsigned long port = strtoul(colon + 1, &end, 10);
	if (errno || *end || port == 0 || port > 65535)
		goto bad;
	struct addrinfo hints = { .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV,
	                          .ai_socktype = SOCK_STREAM }, *res = NULL;
	if (getaddrinfo(host, colon + 1, &hints, &res) != 0 || !res)
		goto bad;
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
bad:
	fprintf(stderr, "tcp-rr: bad address '%s' (want IP:PORT or [IPv6]:PORT)\n", s);
	return -1;
}

static double parse_num(const char *opt, const char *s, double lo, double hi)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(v) || v < lo || v > hi) {
		fprintf(stderr, "tcp-rr: %s: '%s' is not a number in [%g, %g]\n", opt, s, lo, hi);
		exit(2);
	}
	return v;
}

static void raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* ---- client ---- */

enum cstate { C_CONNECTING, C_IDLE, C_BUSY, C_DEAD };

typedef struct conn {
	int fd;
	enum cstate state;
	bool want_out;        /* EPOLLOUT armed */
	bool record;          /* the outstanding request is in the window */
	uint64_t t_start;     /* scheduled (open) or send (closed) time */
	size_t sent, rcvd;
	/* HTTP mode: the response head seen so far, then the body left */
	char head[1024];
	size_t headlen;
	bool in_body;
	uint64_t body_left;
} conn_t;

typedef struct rr {
	/* options */
	struct sockaddr_storage addr;
	socklen_t addrlen;
	const char *addr_text;
	unsigned nconns;
	double rate;          /* 0: closed loop */
	double duration, warmup, drain, connect_timeout;
	size_t size;
	const char *http_path;  /* HTTP mode when set */
	/* run */
	int ep, tfd;
	uint64_t armed;       /* absolute ns the timer is set to, 0: none */
	conn_t *c;
	unsigned *idle;       /* stack of idle connection indices */
	unsigned nidle;
	unsigned nconnected, nalive, nconnecting;
	uint8_t *pattern;
	uint8_t *scratch;
	uint64_t tconnect;    /* deadline for opening the connections */
	uint64_t t0, tw0, tw1, tdrain;
	/* open loop: request k is scheduled at t0 + k * 1e9 / rate */
	uint64_t k_next, k_total;
	unsigned inflight;
	/* results */
	hist_t hist;
	uint64_t completed, errors, unsent, conn_errors, warm_completed;
	uint64_t t_last_done;
	char first_error[160];
} rr_t;

static void note_error(rr_t *r, const char *what, int err)
{
	if (r->first_error[0])
		return;
	if (err)
		snprintf(r->first_error, sizeof(r->first_error), "%s: %s", what, strerror(err));
	else
		snprintf(r->first_error, sizeof(r->first_error), "%s", what);
}

static void conn_events(rr_t *r, conn_t *c, bool out)
{
	if (c->want_out == out)
		return;
	struct epoll_event ev = { .events = EPOLLIN | (out ? EPOLLOUT : 0),
	                          .data.u32 = (uint32_t)(c - r->c) };
	epoll_ctl(r->ep, EPOLL_CTL_MOD, c->fd, &ev);
	c->want_out = out;
}

/* Closes a connection for good; a request it carried counts as an error. */
static void conn_kill(rr_t *r, conn_t *c, const char *what, int err)
{
	if (c->state == C_DEAD)
		return;
	note_error(r, what, err);
	r->conn_errors++;
	if (c->state == C_BUSY) {
		r->inflight--;
		if (c->record)
			r->errors++;
	}
	if (c->state == C_IDLE) {
		for (unsigned i = 0; i < r->nidle; i++)
			if (&r->c[r->idle[i]] == c) {
				r->idle[i] = r->idle[--r->nidle];
				break;
			}
	}
	if (c->state == C_CONNECTING)
		r->nconnecting--;
	else
		r->nalive--;
	epoll_ctl(r->ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	c->state = C_DEAD;
}

/* Writes what remains of the outstanding request; arms EPOLLOUT when the
 * socket is full. Returns 0, or -1 when the connection was killed. */
static int conn_flush(rr_t *r, conn_t *c)
{
	while (c->sent < r->size) {
		ssize_t n = send(c->fd, r->pattern + c->sent, r->size - c->sent, MSG_NOSIGNAL);
		if (n > 0) {
			c->sent += (size_t)n;
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			conn_events(r, c, true);
			return 0;
		}
		if (n < 0 && errno == EINTR)
			continue;
		conn_kill(r, c, "send", n < 0 ? errno : 0);
		return -1;
	}
	conn_events(r, c, false);
	return 0;
}

static void conn_start(rr_t *r, conn_t *c, uint64_t t_start)
{
	c->state = C_BUSY;
	c->t_start = t_start;
	c->record = t_start >= r->tw0 && t_start < r->tw1;
	c->sent = c->rcvd = 0;
	c->headlen = 0;
	c->in_body = false;
	c->body_left = 0;
	r->inflight++;
	conn_flush(r, c);
}

static void conn_idle(rr_t *r, conn_t *c)
{
	c->state = C_IDLE;
	r->idle[r->nidle++] = (unsigned)(c - r->c);
}

/* The reply to c's request is complete at `now`. */
static void conn_done(rr_t *r, conn_t *c, uint64_t now)
{
	r->inflight--;
	if (c->record) {
		hist_add(&r->hist, now - c->t_start);
		r->completed++;
		r->t_last_done = now;
	} else {
		r->warm_completed++;
	}
	if (r->rate == 0 && now < r->tw1)
		conn_start(r, c, now);
	else
		conn_idle(r, c);
}

/* HTTP mode: consumes got bytes of the reply to c's request. Returns 1
 * when the response is complete, 0 when more is needed, -1 when it is
 * not an acceptable response (the connection was killed). */
static int http_consume(rr_t *r, conn_t *c, const uint8_t *p, size_t got)
{
	while (got) {
		if (c->in_body) {
			size_t k = got < c->body_left ? got : (size_t)c->body_left;
			c->body_left -= k;
			p += k;
			got -= k;
			if (!c->body_left) {
				if (got) {
					conn_kill(r, c, "bytes after the response", 0);
					return -1;
				}
				return 1;
			}
			continue;
		}
		if (c->headlen == sizeof(c->head)) {
			conn_kill(r, c, "response head too long", 0);
			return -1;
		}
		c->head[c->headlen++] = (char)*p++;
		got--;
		if (c->headlen >= 4 && !memcmp(c->head + c->headlen - 4, "\r\n\r\n", 4)) {
			const char *cl;
			c->head[c->headlen - 1] = 0;
			if (strncmp(c->head, "HTTP/1.1 200 ", 13) != 0) {
				conn_kill(r, c, "response status is not 200", 0);
				return -1;
			}
			cl = strcasestr(c->head, "\r\ncontent-length:");
			if (!cl) {
				conn_kill(r, c, "response without Content-Length", 0);
				return -1;
			}
			c->body_left = strtoull(cl + 17, NULL, 10);
			c->in_body = true;
			if (!c->body_left) {
				if (got) {
					conn_kill(r, c, "bytes after the response", 0);
					return -1;
				}
				return 1;
			}
		}
	}
	return 0;
}

static void conn_readable(rr_t *r, conn_t *c)
{
	for (;;) {
		ssize_t n = recv(c->fd, r->scratch, SCRATCH, 0);
		if (n == 0) {
			conn_kill(r, c, "connection closed by peer", 0);
			return;
		}
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			if (errno == EINTR)
				continue;
			conn_kill(r, c, "recv", errno);
			return;
		}
		size_t got = (size_t)n;
		if (r->http_path) {
			int done;
			if (c->state != C_BUSY) {
				conn_kill(r, c, "reply bytes that were never asked for", 0);
				return;
			}
			done = http_consume(r, c, r->scratch, got);
			if (done < 0)
				return;
			if (done) {
				conn_done(r, c, now_ns());
				if (c->state == C_DEAD || (c->state == C_IDLE && (size_t)n < SCRATCH))
					return;
			}
			continue;
		}
		if (c->state != C_BUSY || c->rcvd + got > c->sent) {
			conn_kill(r, c, "reply bytes that were never sent", 0);
			return;
		}
		if (memcmp(r->scratch, r->pattern + c->rcvd, got) != 0) {
			conn_kill(r, c, "reply differs from the request", 0);
			return;
		}
		c->rcvd += got;
		if (c->rcvd == r->size) {
			conn_done(r, c, now_ns());
			if (c->state == C_DEAD || (c->state == C_IDLE && (size_t)n < SCRATCH))
				return;
		}
	}
}

static void conn_connected(rr_t *r, conn_t *c)
{
	int err = 0;
	socklen_t el = sizeof(err);
	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0)
		err = errno;
	if (err) {
		conn_kill(r, c, "connect", err);
		return;
	}
	r->nconnecting--;
	r->nconnected++;
	r->nalive++;
	conn_events(r, c, false);
	conn_idle(r, c);
}

static int conn_open(rr_t *r, conn_t *c)
{
	c->fd = socket(r->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		fprintf(stderr, "tcp-rr: socket: %s\n", strerror(errno));
		return -1;
	}
	int one = 1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->state = C_CONNECTING;
	c->want_out = true;
	r->nconnecting++;
	struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT, .data.u32 = (uint32_t)(c - r->c) };
	if (epoll_ctl(r->ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
		fprintf(stderr, "tcp-rr: epoll_ctl: %s\n", strerror(errno));
		return -1;
	}
	if (connect(c->fd, (struct sockaddr *)&r->addr, r->addrlen) < 0 && errno != EINPROGRESS)
		conn_kill(r, c, "connect", errno);
	return 0;
}

static void arm(rr_t *r, uint64_t at)
{
	if (at == r->armed)
		return;
	struct itimerspec its = { 0 };
	if (at) {
		its.it_value.tv_sec = (time_t)(at / NS_PER_S);
		its.it_value.tv_nsec = (long)(at % NS_PER_S);
	}
	timerfd_settime(r->tfd, TFD_TIMER_ABSTIME, &its, NULL);
	r->armed = at;
}

static uint64_t sched_at(const rr_t *r, uint64_t k)
{
	return r->t0 + (uint64_t)((double)k * 1e9 / r->rate);
}

/* Open loop: sends every request whose time has come while a connection is
 * idle. During the drain, only requests scheduled inside the window. */
static void dispatch_due(rr_t *r, uint64_t now)
{
	while (r->k_next < r->k_total && r->nidle > 0) {
		uint64_t t = sched_at(r, r->k_next);
		if (t > now)
			break;
		conn_t *c = &r->c[r->idle[--r->nidle]];
		r->k_next++;
		conn_start(r, c, t);
	}
}

static void event_loop(rr_t *r, bool (*done)(rr_t *, uint64_t), uint64_t (*wake)(rr_t *, uint64_t))
{
	struct epoll_event evs[256];
	for (;;) {
		uint64_t now = now_ns();
		if (r->rate > 0 && r->t0)
			dispatch_due(r, now);
		if (done(r, now))
			return;
		arm(r, wake(r, now));
		int n = epoll_wait(r->ep, evs, 256, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "tcp-rr: epoll_wait: %s\n", strerror(errno));
			exit(1);
		}
		for (int i = 0; i < n; i++) {
			uint32_t id = evs[i].data.u32;
			if (id == UINT32_MAX) {
				uint64_t x;
				if (read(r->tfd, &x, sizeof(x)) < 0 && errno != EAGAIN)
					fprintf(stderr, "tcp-rr: timerfd: %s\n", strerror(errno));
				r->armed = 0;
				continue;
			}
			conn_t *c = &r->c[id];
			if (c->state == C_DEAD)
				continue;
			if (c->state == C_CONNECTING) {
				if (evs[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
					conn_connected(r, c);
				continue;
			}
			if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
				conn_readable(r, c);
			if (c->state == C_BUSY && (evs[i].events & EPOLLOUT))
				conn_flush(r, c);
		}
	}
}

static bool connect_done(rr_t *r, uint64_t now)
{
	return r->nconnecting == 0 || now >= r->tconnect;
}

static uint64_t connect_wake(rr_t *r, uint64_t now)
{
	return r->tconnect;
}

static bool run_done(rr_t *r, uint64_t now)
{
	if (r->nalive == 0)
		return true;
	if (now >= r->tdrain)
		return true;
	if (now < r->tw1)
		return false;
	/* past the window: done when nothing is in flight and, in open loop,
	 * every request scheduled inside the window has gone out */
	if (r->inflight)
		return false;
	return r->rate == 0 || r->k_next >= r->k_total;
}

static uint64_t run_wake(rr_t *r, uint64_t now)
{
	uint64_t at = now < r->tw1 ? r->tw1 : r->tdrain;
	if (r->rate > 0 && r->k_next < r->k_total && r->nidle > 0) {
		uint64_t t = sched_at(r, r->k_next);
		if (t < at)
			at = t;
	}
	return at;
}

static void print_report(rr_t *r, double connect_ms)
{
	const hist_t *h = &r->hist;
	double elapsed = r->duration;
	if (r->rate > 0 && r->t_last_done > r->tw0) {
		double span = (double)(r->t_last_done - r->tw0) / 1e9;
		if (span > elapsed)
			elapsed = span;
	}
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	             (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
	printf("{\"mode\":\"%s\",\"connect\":\"%s\",\"conns\":%u,\"conns_connected\":%u,"
	       "\"conn_errors\":%llu,\"size\":%zu,\"target_rate\":%.0f,\"warmup_s\":%g,"
	       "\"duration_s\":%g,\"requests\":%llu,\"errors\":%llu,\"unsent\":%llu,"
	       "\"warmup_requests\":%llu,\"rate\":%.1f,\"connect_ms\":%.1f,",
	       r->rate > 0 ? "open" : "closed", r->addr_text, r->nconns, r->nconnected,
	       (unsigned long long)r->conn_errors, r->size, r->rate, r->warmup, r->duration,
	       (unsigned long long)r->completed, (unsigned long long)r->errors,
	       (unsigned long long)r->unsent, (unsigned long long)r->warm_completed,
	       (double)r->completed / elapsed, connect_ms);
	printf("\"latency_us\":{\"min\":%.1f,\"mean\":%.1f,\"p50\":%.1f,\"p90\":%.1f,"
	       "\"p99\":%.1f,\"p999\":%.1f,\"max\":%.1f},",
	       h->count ? (double)h->min / 1e3 : 0.0, h->count ? h->sum / (double)h->count / 1e3 : 0.0,
	       (double)hist_quantile(h, 0.50) / 1e3, (double)hist_quantile(h, 0.90) / 1e3,
	       (double)hist_quantile(h, 0.99) / 1e3, (double)hist_quantile(h, 0.999) / 1e3,
	       (double)h->max / 1e3);
	printf("\"client_cpu_s\":%.3f,\"first_error\":\"", cpu);
	for (const char *p = r->first_error; *p; p++)
		putchar(*p == '"' || *p == '\\' ? '\'' : *p);
	printf("\"}\n");
	fflush(stdout);
}

static int client(rr_t *r)
{
	raise_nofile();
	/* the default 50 us timer slack would be added to every scheduled send */
	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
	r->ep = epoll_create1(EPOLL_CLOEXEC);
	r->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (r->ep < 0 || r->tfd < 0) {
		fprintf(stderr, "tcp-rr: epoll/timerfd: %s\n", strerror(errno));
		return 1;
	}
	struct epoll_event tev = { .events = EPOLLIN, .data.u32 = UINT32_MAX };
	epoll_ctl(r->ep, EPOLL_CTL_ADD, r->tfd, &tev);
	r->c = calloc(r->nconns, sizeof(*r->c));
	r->idle = calloc(r->nconns, sizeof(*r->idle));
	if (r->http_path) {
		char host[64];
		int n;
		snprintf(host, sizeof(host), "%s", r->addr_text);
		r->size = strlen(r->http_path) + strlen(host) + 64;
		r->pattern = malloc(r->size);
		if (r->pattern) {
			n = snprintf((char *)r->pattern, r->size, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n",
			             r->http_path, host);
			r->size = (size_t)n;
		}
	} else {
		r->pattern = malloc(r->size);
	}
	r->scratch = malloc(SCRATCH);
	if (!r->c || !r->idle || !r->pattern || !r->scratch) {
		fprintf(stderr, "tcp-rr: out of memory\n");
		return 1;
	}
	for (size_t i = 0; !r->http_path && i < r->size; i++)
		r->pattern[i] = (uint8_t)('a' + i % 26);

	/* phase 1: open every connection */
	uint64_t tc = now_ns();
	r->tconnect = tc + (uint64_t)(r->connect_timeout * 1e9);
	for (unsigned i = 0; i < r->nconns; i++)
		if (conn_open(r, &r->c[i]) < 0)
			return 1;
	event_loop(r, connect_done, connect_wake);
	double connect_ms = (double)(now_ns() - tc) / 1e6;
	for (unsigned i = 0; i < r->nconns; i++)
		if (r->c[i].state == C_CONNECTING)
			conn_kill(r, &r->c[i], "connect timed out", 0);
	if (r->nalive == 0) {
		note_error(r, "no connection could be opened", 0);
		print_report(r, connect_ms);
		return 1;
	}

	/* phase 2: the load */
	r->t0 = now_ns();
	r->tw0 = r->t0 + (uint64_t)(r->warmup * 1e9);
	r->tw1 = r->tw0 + (uint64_t)(r->duration * 1e9);
	r->tdrain = r->tw1 + (uint64_t)(r->drain * 1e9);
	if (r->rate > 0) {
		/* requests scheduled before tw1 */
		r->k_total = (uint64_t)ceil((r->warmup + r->duration) * r->rate);
		while (r->k_total > 0 && sched_at(r, r->k_total - 1) >= r->tw1)
			r->k_total--;
	} else {
		while (r->nidle > 0)
			conn_start(r, &r->c[r->idle[--r->nidle]], r->t0);
	}
	event_loop(r, run_done, run_wake);

	/* what did not finish */
	for (unsigned i = 0; i < r->nconns; i++)
		if (r->c[i].state == C_BUSY && r->c[i].record) {
			r->errors++;
			note_error(r, "reply timed out", 0);
		}
	if (r->rate > 0) {
		for (uint64_t k = r->k_next; k < r->k_total; k++)
			if (sched_at(r, k) >= r->tw0)
				r->unsent++;
		if (r->unsent)
			note_error(r, "requests left unsent (no idle connection)", 0);
	}
	print_report(r, connect_ms);
	bool ok = r->nconnected == r->nconns && r->errors == 0 && r->unsent == 0 &&
	          r->conn_errors == 0 && r->completed > 0;
	return ok ? 0 : 1;
}

/* ---- echo server ---- */

typedef struct sconn {
	struct sconn *prev, *next;   /* every open connection, freed at exit */
	int fd;
	size_t off, len;
	uint8_t buf[SCRATCH];
} sconn_t;

static volatile sig_atomic_t g_stop;
static void on_signal(int sig) { g_stop = 1; }

static int serve(const struct sockaddr_storage *ss, socklen_t sl, const char *text)
{
	raise_nofile();
	struct sigaction sa = { .sa_handler = on_signal };
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	int lfd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;
	if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(lfd, (const struct sockaddr *)ss, sl) < 0 || listen(lfd, 4096) < 0) {
		fprintf(stderr, "tcp-rr: cannot listen on %s: %s\n", text, strerror(errno));
		return 1;
	}
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event lev = { .events = EPOLLIN, .data.ptr = NULL };
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev);
	fprintf(stderr, "tcp-rr: echo server on %s\n", text);
	sconn_t *all = NULL;
	struct epoll_event evs[256];
	while (!g_stop) {
		int n = epoll_wait(ep, evs, 256, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "tcp-rr: epoll_wait: %s\n", strerror(errno));
			return 1;
		}
		for (int i = 0; i < n; i++) {
			sconn_t *s = evs[i].data.ptr;
			if (!s) {
				int fd;
				while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
					sconn_t *ns = malloc(sizeof(*ns));
					if (!ns) {
						close(fd);
						continue;
					}
					ns->fd = fd;
					ns->off = ns->len = 0;
					ns->prev = NULL;
					ns->next = all;
					if (all)
						all->prev = ns;
					all = ns;
					setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
					struct epoll_event ev = { .events = EPOLLIN, .data.ptr = ns };
					epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
				}
				continue;
			}
			bool dead = false;
			for (;;) {
				if (s->len == s->off) {
					s->off = s->len = 0;
					ssize_t r = recv(s->fd, s->buf, sizeof(s->buf), 0);
					if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
						dead = true;
					if (r <= 0)
						break;
					s->len = (size_t)r;
				}
				ssize_t w = send(s->fd, s->buf + s->off, s->len - s->off, MSG_NOSIGNAL);
				if (w < 0 && errno != EAGAIN && errno != EINTR) {
					dead = true;
					break;
				}
				if (w <= 0)
					break;
				s->off += (size_t)w;
			}
			if (dead) {
				epoll_ctl(ep, EPOLL_CTL_DEL, s->fd, NULL);
				close(s->fd);
				if (s->prev)
					s->prev->next = s->next;
				else
					all = s->next;
				if (s->next)
					s->next->prev = s->prev;
				free(s);
				continue;
			}
			/* unsent bytes: stop reading, wait for room */
			struct epoll_event ev = { .events = s->off < s->len ? EPOLLOUT : EPOLLIN,
			                          .data.ptr = s };
			epoll_ctl(ep, EPOLL_CTL_MOD, s->fd, &ev);
		}
	}
	while (all) {
		sconn_t *next = all->next;
		close(all->fd);
		free(all);
		all = next;
	}
	close(ep);
	close(lfd);
	return 0;
}

/* ---- main ---- */

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: tcp-rr --connect IP:PORT [--conns N] [--rate R] [--duration S] [--size BYTES]\n"
	        "              [--warmup S] [--drain S] [--connect-timeout S] [--http PATH]\n"
	        "       tcp-rr --serve IP:PORT\n"
	        "  --conns N            connections (default 10)\n"
	        "  --rate R             requests/s in total, open loop; 0 = closed loop, max rate (default 1000)\n"
	        "  --duration S         measured seconds (default 10)\n"
	        "  --size BYTES         request (and echoed reply) size (default 64)\n"
	        "  --warmup S           seconds sent before measuring (default 1)\n"
	        "  --drain S            seconds allowed after the window for replies (default 5)\n"
	        "  --connect-timeout S  for opening all connections (default 10)\n"
	        "  --http PATH          HTTP/1.1 keep-alive GETs of PATH instead of echoed bytes\n"
	        "  --serve IP:PORT      be an echo server instead\n"
	        "Prints a JSON report; exit 0 when every request completed correctly.\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "connect", required_argument, NULL, 'c' },
		{ "conns", required_argument, NULL, 'n' },
		{ "rate", required_argument, NULL, 'r' },
		{ "duration", required_argument, NULL, 'd' },
		{ "size", required_argument, NULL, 's' },
		{ "warmup", required_argument, NULL, 'w' },
		{ "drain", required_argument, NULL, 'D' },
		{ "connect-timeout", required_argument, NULL, 'T' },
		{ "serve", required_argument, NULL, 'S' },
		{ "http", required_argument, NULL, 'H' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	static rr_t r;
	r.nconns = 10;
	r.rate = 1000;
	r.duration = 10;
	r.size = 64;
	r.warmup = 1;
	r.drain = 5;
	r.connect_timeout = 10;
	const char *serve_addr = NULL;
	int o;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'c': r.addr_text = optarg; break;
		case 'n': r.nconns = (unsigned)parse_num("--conns", optarg, 1, 1000000); break;
		case 'r': r.rate = parse_num("--rate", optarg, 0, 1e8); break;
		case 'd': r.duration = parse_num("--duration", optarg, 0.001, 86400); break;
		case 's': r.size = (size_t)parse_num("--size", optarg, 1, MAX_SIZE); break;
		case 'w': r.warmup = parse_num("--warmup", optarg, 0, 86400); break;
		case 'D': r.drain = parse_num("--drain", optarg, 0, 86400); break;
		case 'T': r.connect_timeout = parse_num("--connect-timeout", optarg, 0.001, 86400); break;
		case 'S': serve_addr = optarg; break;
		case 'H':
			if (optarg[0] != '/' || strlen(optarg) > 512 || strpbrk(optarg, " \r\n"))
				die_usage("--http: an origin-form path (\"/...\", no spaces), not ", optarg);
			r.http_path = optarg;
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc)
		die_usage("unexpected argument: ", argv[optind]);
	if (serve_addr) {
		struct sockaddr_storage ss;
		socklen_t sl;
		if (parse_addr(serve_addr, &ss, &sl) < 0)
			return 2;
		return serve(&ss, sl, serve_addr);
	}
	if (!r.addr_text)
		die_usage("--connect IP:PORT (or --serve IP:PORT) is required", "");
	if (parse_addr(r.addr_text, &r.addr, &r.addrlen) < 0)
		return 2;
	signal(SIGPIPE, SIG_IGN);
	return client(&r);
}
