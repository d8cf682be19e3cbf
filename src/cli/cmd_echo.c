/* weft echo — a tiny single-loop TCP server for the demo, the tests and the
 * benchmarks.
 *
 *   weft echo --listen ADDR [--name NAME] [--mode echo|http|banner] [--max-conns N]
 *             [--fail-path PATH]
 *
 * Modes:
 *   echo    every byte received is sent back;
 *   banner  first writes "NAME <peer ip:port>\n", then echoes;
 *   http    answers each HTTP/1.1 request (keep-alive, pipelining) with 200
 *           and the body "NAME <peer ip:port> <METHOD> <target>\n"
 *           (Content-Length set); request bodies (Content-Length or
 *           chunked) are read and dropped; a malformed request gets its
 *           4xx/5xx and the connection is closed. Test controls in the
 *           query string:
 *             status=N       answer N instead of 200
 *             fail=P         answer 503 to P% of requests, spread evenly
 *                            (P=50: every other request)
 *             delay=MS       answer after MS milliseconds (this connection
 *                            waits; up to 60000)
 *             size=N         pad the body to N bytes (up to 7000)
 *             headers=1      append the request's header fields to the body
 *             retry_after=S  add "Retry-After: S"
 *           GET /__stats answers "requests N\n": the requests answered so
 *           far, itself not counted. With --fail-path PATH, a request
 *           for exactly PATH (query ignored) answers 503 (a failing
 *           health-check endpoint).
 *
 * Each connection owns two fixed buffers (input and output, 8 KiB each):
 * when the peer does not read, we stop reading from it, so memory per
 * connection is bounded whatever the peer does. */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>
#include "weft/cli.h"
#include "weft/http1.h"
#include "weft/log.h"
#include "weft/loop.h"
#include "weft/net.h"
#include "weft/str.h"

#define ECHO_BUF 8192

typedef enum { MODE_ECHO, MODE_HTTP, MODE_BANNER } echo_mode_t;

struct echo_srv;

typedef struct echo_conn {
	weft_io_t io;
	struct echo_srv *srv;
	struct echo_conn *prev, *next;
	char peer[64];
	size_t inlen;
	size_t outoff, outlen;
	uint64_t body_left;          /* http: request body bytes still to drop */
	int chunk_state;             /* http: chunked request body being dropped (CH_*) */
	weft_timer_t delay;          /* http: a delayed answer is pending */
	bool delaying;
	char *pending;               /* the delayed answer */
	size_t npending;
	bool pending_close;
	bool close_after_flush;      /* http: answered an error or Connection: close */
	bool peer_eof;
	char in[ECHO_BUF];
	char out[ECHO_BUF];
} echo_conn_t;

typedef struct echo_srv {
	weft_loop_t loop;
	weft_listener_t lst;
	weft_io_t sigio;
	int sigfd;
	echo_mode_t mode;
	const char *name;
	size_t nconns, max_conns;
	echo_conn_t *conns;
	weft_h1_limits_t lim;
	uint64_t nreq;               /* http: requests answered (not /__stats) */
	uint64_t nfail;              /* http: requests that asked for fail=P */
	const char *fail_path;       /* http: requests for this path answer 503 */
} echo_srv_t;

enum { CH_NONE = 0, CH_SIZE, CH_DATA, CH_DATA_CRLF, CH_TRAILER };

static void conn_free(echo_conn_t *c)
{
	echo_srv_t *s = c->srv;

	weft_io_stop(&s->loop, &c->io);
	weft_timer_stop(&s->loop, &c->delay);
	free(c->pending);
	close(c->io.fd);
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	s->nconns--;
	free(c);
}

/* Appends n bytes to the output buffer. Returns 0, or -1 when they do not
 * fit (nothing appended). */
static int out_put(echo_conn_t *c, const void *p, size_t n)
{
	if (c->outoff && c->outoff == c->outlen)
		c->outoff = c->outlen = 0;
	if (ECHO_BUF - c->outlen < n && c->outoff) {
		memmove(c->out, c->out + c->outoff, c->outlen - c->outoff);
		c->outlen -= c->outoff;
		c->outoff = 0;
	}
	if (ECHO_BUF - c->outlen < n)
		return -1;
	memcpy(c->out + c->outlen, p, n);
	c->outlen += n;
	return 0;
}

/* The value of query parameter name in target, or an empty string. */
static weft_str_t query_param(weft_str_t target, const char *name)
{
	weft_str_t none = { NULL, 0 };
	const char *q = memchr(target.p, '?', target.len);
	size_t nl = strlen(name);

	if (!q)
		return none;
	q++;
	while (q < target.p + target.len) {
		const char *e = memchr(q, '&', (size_t)(target.p + target.len - q));
		const char *eq;
		if (!e)
			e = target.p + target.len;
		eq = memchr(q, '=', (size_t)(e - q));
		if (eq && (size_t)(eq - q) == nl && !memcmp(q, name, nl))
			return (weft_str_t){ eq + 1, (size_t)(e - eq - 1) };
		q = e + 1;
	}
	return none;
}

static uint64_t query_num(weft_str_t target, const char *name, uint64_t max, uint64_t dflt)
{
	weft_str_t v = query_param(target, name);
	unsigned long long n;

	if (!v.len || weft_str_to_u64(v, max, &n) < 0)
		return dflt;
	return (uint64_t)n;
}

/* Builds one HTTP response into out (at most outcap bytes). Returns its
 * length, or -1 when it does not fit. */
static int http_build(echo_conn_t *c, int status, const weft_h1_req_t *rq, bool close,
		      char *out, size_t outcap)
{
	echo_srv_t *s = c->srv;
	char body[7200], extra[128] = "";
	size_t bl = 0, size = 0;
	int n, hl;

	if (rq && rq->path.len == 8 && !memcmp(rq->path.p, "/__stats", 8)) {
		n = snprintf(body, sizeof body, "requests %llu\n", (unsigned long long)s->nreq);
		bl = n > 0 ? (size_t)n : 0;
	} else if (rq) {
		uint64_t fail = query_num(rq->target, "fail", 100, 0);
		s->nreq++;
		status = (int)query_num(rq->target, "status", 599, 200);
		if (status < 100)
			status = 200;
		if (s->fail_path && rq->path.len == strlen(s->fail_path) &&
		    !memcmp(rq->path.p, s->fail_path, rq->path.len))
			status = 503;
		if (fail) {
			/* spread evenly: request k fails when floor(k*P/100) steps */
			uint64_t k = s->nfail++;
			if ((k + 1) * fail / 100 > k * fail / 100)
				status = 503;
		}
		size = (size_t)query_num(rq->target, "size", 7000, 0);
		if (query_param(rq->target, "retry_after").len) {
			weft_str_t ra = query_param(rq->target, "retry_after");
			snprintf(extra, sizeof extra, "Retry-After: %.*s\r\n",
				 (int)(ra.len > 20 ? 20 : ra.len), ra.p);
		}
		n = snprintf(body, sizeof body, "%s %s %.*s %.*s\n", s->name, c->peer,
			     (int)(rq->method.len > 32 ? 32 : rq->method.len), rq->method.p,
			     (int)(rq->target.len > 512 ? 512 : rq->target.len), rq->target.p);
		bl = n > 0 ? (size_t)n : 0;
		if (bl >= sizeof body)
			bl = sizeof body - 1;
		if (query_param(rq->target, "headers").len) {
			for (size_t i = 0; i < rq->nhdrs && bl < sizeof body; i++) {
				n = snprintf(body + bl, sizeof body - bl, "%.*s: %.*s\n",
					     (int)rq->hdrs[i].name.len, rq->hdrs[i].name.p,
					     (int)rq->hdrs[i].value.len, rq->hdrs[i].value.p);
				if (n < 0 || (size_t)n >= sizeof body - bl)
					break;
				bl += (size_t)n;
			}
		}
		if (size > bl && size <= sizeof body) {
			memset(body + bl, 'x', size - bl - 1);
			body[size - 1] = '\n';
			bl = size;
		}
	} else {
		n = snprintf(body, sizeof body, "%s: bad request (%d)\n", s->name, status);
		bl = n > 0 ? (size_t)n : 0;
	}
	hl = snprintf(out, outcap,
		      "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
		      "X-Served-By: %s\r\n%s%s\r\n",
		      status, weft_h1_reason(status), bl, s->name, extra,
		      close ? "Connection: close\r\n" : "");
	if (hl < 0 || (size_t)hl + bl > outcap)
		return -1;
	memcpy(out + hl, body, bl);
	return hl + (int)bl;
}

/* Answers one HTTP response; returns 0, or -1 when the output buffer has
 * no room for it yet. A request asking for delay=MS parks the answer and
 * pauses the connection until the timer fires. */
static int http_answer(echo_conn_t *c, int status, const weft_h1_req_t *rq, bool close)
{
	char resp[ECHO_BUF];
	uint64_t delay = rq ? query_num(rq->target, "delay", 60000, 0) : 0;
	int n;

	uint64_t nreq = c->srv->nreq, nfail = c->srv->nfail;

	n = http_build(c, status, rq, close, resp, sizeof resp);
	if (n < 0 || ECHO_BUF - (c->outlen - c->outoff) < (size_t)n) {
		c->srv->nreq = nreq;   /* not answered: counted when it is */
		c->srv->nfail = nfail;
		return -1;   /* no room yet: resumed after a flush */
	}
	if (delay) {
		c->pending = malloc((size_t)n);
		if (!c->pending)
			return -1;
		memcpy(c->pending, resp, (size_t)n);
		c->npending = (size_t)n;
		c->pending_close = close;
		c->delaying = true;
		weft_timer_start(&c->srv->loop, &c->delay, delay);
		return 0;
	}
	out_put(c, resp, (size_t)n);
	return 0;
}

/* Drops chunked body bytes from in[*off..len). Returns true when the body
 * is complete, false when more input is needed; sets *bad on a malformed
 * chunk (the connection then closes). */
static bool chunk_skip(echo_conn_t *c, size_t len, size_t *off, bool *bad)
{
	while (*off < len) {
		const char *p = c->in + *off, *lf;
		switch (c->chunk_state) {
		case CH_SIZE:
		case CH_TRAILER:
		case CH_DATA_CRLF:
			lf = memchr(p, '\n', len - *off);
			if (!lf)
				return false;
			if (c->chunk_state == CH_SIZE) {
				uint64_t v = 0;
				size_t i = 0, k = (size_t)(lf - p);
				for (; i < k && isxdigit((unsigned char)p[i]); i++) {
					if (v >> 56) {
						*bad = true;
						return false;
					}
					v = v * 16 + (uint64_t)(isdigit((unsigned char)p[i]) ? p[i] - '0'
							       : (tolower((unsigned char)p[i]) - 'a' + 10));
				}
				if (!i) {
					*bad = true;
					return false;
				}
				c->body_left = v;
				c->chunk_state = v ? CH_DATA : CH_TRAILER;
			} else if (c->chunk_state == CH_DATA_CRLF) {
				c->chunk_state = CH_SIZE;
			} else if (lf == p || (lf == p + 1 && p[0] == '\r')) {
				*off += (size_t)(lf - p) + 1;
				c->chunk_state = CH_NONE;
				return true;
			}
			*off += (size_t)(lf - p) + 1;
			break;
		case CH_DATA: {
			size_t k = len - *off;
			if (k > c->body_left)
				k = (size_t)c->body_left;
			*off += k;
			c->body_left -= k;
			if (!c->body_left)
				c->chunk_state = CH_DATA_CRLF;
			break;
		}
		default:
			return true;
		}
	}
	return false;
}

/* Consumes what it can of c->in in http mode. */
static void http_process(echo_conn_t *c)
{
	size_t off = 0;

	while (!c->close_after_flush && !c->delaying) {
		weft_h1_req_t rq;
		int status = 0, hl;

		if (c->chunk_state) {
			bool bad = false;
			if (!chunk_skip(c, c->inlen, &off, &bad)) {
				if (bad) {
					http_answer(c, 400, NULL, true);
					c->close_after_flush = true;
					off = c->inlen;
				}
				break;
			}
			continue;
		}
		if (c->body_left) {
			size_t k = c->inlen - off;
			if (k > c->body_left)
				k = (size_t)c->body_left;
			off += k;
			c->body_left -= k;
			if (c->body_left)
				break;
		}
		if (off == c->inlen)
			break;
		hl = weft_h1_parse_request(c->in + off, c->inlen - off, &c->srv->lim, &rq, &status);
		if (hl == WEFT_EAGAIN) {
			if (c->inlen - off == ECHO_BUF) {   /* a head larger than our buffer */
				if (http_answer(c, 431, NULL, true) == 0)
					c->close_after_flush = true;
			}
			break;
		}
		if (hl < 0) {
			if (http_answer(c, status, NULL, true) < 0)
				break;
			c->close_after_flush = true;
			off = c->inlen;
			break;
		}
		if (http_answer(c, 200, &rq, !rq.keep_alive) < 0)
			break;   /* output full: resume after a flush */
		off += (size_t)hl;
		c->body_left = rq.has_length ? rq.content_length : 0;
		if (rq.chunked)
			c->chunk_state = CH_SIZE;
		if (!rq.keep_alive) {
			if (c->delaying)
				c->pending_close = true;
			else
				c->close_after_flush = true;
		}
	}
	if (off) {
		memmove(c->in, c->in + off, c->inlen - off);
		c->inlen -= off;
	}
}

static void conn_update(echo_conn_t *c);
static void conn_cb(weft_loop_t *l, weft_io_t *io, uint32_t ev);

/* A delayed answer is due: queue it and resume the connection. */
static void delay_cb(weft_loop_t *l, weft_timer_t *t)
{
	echo_conn_t *c = t->data;

	c->delaying = false;
	out_put(c, c->pending, c->npending);
	free(c->pending);
	c->pending = NULL;
	if (c->pending_close)
		c->close_after_flush = true;
	conn_cb(l, &c->io, WEFT_IO_WRITE);
}

static void conn_cb(weft_loop_t *l, weft_io_t *io, uint32_t ev)
{
	echo_conn_t *c = io->data;

	if (ev & (WEFT_IO_READ | WEFT_IO_ERROR)) {
		for (;;) {
			char *dst;
			size_t room;
			ssize_t r;

			if (c->peer_eof)
				break;
			if (c->srv->mode == MODE_HTTP) {
				dst = c->in + c->inlen;
				room = ECHO_BUF - c->inlen;
			} else {
				if (c->outoff == c->outlen)
					c->outoff = c->outlen = 0;
				dst = c->out + c->outlen;
				room = ECHO_BUF - c->outlen;
			}
			if (!room)
				break;
			r = read(c->io.fd, dst, room);
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0 && errno == EAGAIN)
				break;
			if (r <= 0) {
				if (r < 0) {
					conn_free(c);
					return;
				}
				c->peer_eof = true;
				break;
			}
			if (c->srv->mode == MODE_HTTP) {
				c->inlen += (size_t)r;
				http_process(c);
			} else {
				c->outlen += (size_t)r;
			}
		}
	}
	/* write what is pending */
	while (c->outoff < c->outlen) {
		ssize_t w = send(c->io.fd, c->out + c->outoff, c->outlen - c->outoff, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN)
			break;
		if (w <= 0) {
			conn_free(c);
			return;
		}
		c->outoff += (size_t)w;
	}
	if (c->srv->mode == MODE_HTTP && c->outoff == c->outlen && c->inlen)
		http_process(c);   /* requests that waited for room */
	while (c->outoff < c->outlen) {
		ssize_t w = send(c->io.fd, c->out + c->outoff, c->outlen - c->outoff, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN)
			break;
		if (w <= 0) {
			conn_free(c);
			return;
		}
		c->outoff += (size_t)w;
	}
	(void)l;
	conn_update(c);
}

/* Closes finished connections; otherwise asks for the events it can use. */
static void conn_update(echo_conn_t *c)
{
	bool pending = c->outoff < c->outlen;
	uint32_t want = 0;

	if (!pending && !c->delaying && (c->close_after_flush || c->peer_eof)) {
		if (c->peer_eof && !c->close_after_flush)
			shutdown(c->io.fd, SHUT_WR);
		conn_free(c);
		return;
	}
	if (pending)
		want |= WEFT_IO_WRITE;
	if (!c->peer_eof && !c->close_after_flush) {
		bool room = c->srv->mode == MODE_HTTP ? c->inlen < ECHO_BUF : c->outlen < ECHO_BUF;
		if (room)
			want |= WEFT_IO_READ;
	}
	if (want != c->io.events && weft_io_modify(&c->srv->loop, &c->io, want) < 0)
		conn_free(c);
}

static void on_accept(weft_listener_t *lst, int fd, const struct sockaddr_storage *ss, socklen_t sl)
{
	echo_srv_t *s = lst->data;
	echo_conn_t *c;

	(void)sl;
	if (s->nconns >= s->max_conns || !(c = calloc(1, sizeof *c))) {
		close(fd);
		return;
	}
	c->srv = s;
	weft_timer_init(&c->delay, delay_cb, c);
	weft_net_format_addr((const struct sockaddr *)ss, c->peer, sizeof c->peer);
	if (weft_io_start(&s->loop, &c->io, fd, WEFT_IO_READ, conn_cb, c) < 0) {
		close(fd);
		free(c);
		return;
	}
	c->next = s->conns;
	if (s->conns)
		s->conns->prev = c;
	s->conns = c;
	s->nconns++;
	if (s->mode == MODE_BANNER) {
		char line[300];
		int n = snprintf(line, sizeof line, "%s %s\n", s->name, c->peer);
		if (n > 0 && (size_t)n < sizeof line)
			out_put(c, line, (size_t)n);
		conn_cb(&s->loop, &c->io, WEFT_IO_WRITE);
	}
}

static void on_signal(weft_loop_t *l, weft_io_t *io, uint32_t ev)
{
	struct signalfd_siginfo si;

	(void)ev;
	if (read(io->fd, &si, sizeof si) > 0)
		weft_loop_stop(l);
}

static void usage(FILE *out)
{
	fprintf(out,
		"usage: weft echo --listen ADDR [--name NAME] [--mode echo|http|banner] [--max-conns N]\n"
		"                 [--fail-path PATH]\n"
		"  --listen ADDR     host:port to listen on (required)\n"
		"  --name NAME       the name written in banners and HTTP bodies [echo]\n"
		"  --mode MODE       echo: bytes back; http: HTTP/1.1 200 naming the server and\n"
		"                    the client; banner: \"NAME <client>\\n\" then echo [echo]\n"
		"  --max-conns N     connections held at once; more are closed at accept [20000]\n"
		"  --fail-path PATH  http: requests for exactly PATH answer 503 [none]\n");
}

static int run_echo(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "name", required_argument, NULL, 'n' },
		{ "mode", required_argument, NULL, 'm' },
		{ "max-conns", required_argument, NULL, 'c' },
		{ "fail-path", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *listen_addr = NULL;
	echo_srv_t s;
	unsigned long long v;
	struct rlimit rl;
	sigset_t ss;
	int ch, rc = 0;

	memset(&s, 0, sizeof s);
	s.name = "echo";
	s.max_conns = 20000;
	s.sigfd = -1;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (ch) {
		case 'l': listen_addr = optarg; break;
		case 'n':
			if (!*optarg || strlen(optarg) > 200 || strpbrk(optarg, " \r\n\t")) {
				fprintf(stderr, "weft echo: --name: 1..200 characters without spaces\n");
				return 2;
			}
			s.name = optarg;
			break;
		case 'm':
			if (!strcmp(optarg, "echo"))
				s.mode = MODE_ECHO;
			else if (!strcmp(optarg, "http"))
				s.mode = MODE_HTTP;
			else if (!strcmp(optarg, "banner"))
				s.mode = MODE_BANNER;
			else {
				fprintf(stderr, "weft echo: --mode: echo, http or banner, not '%s'\n", optarg);
				return 2;
			}
			break;
		case 'c':
			if (weft_str_to_u64(weft_str_c(optarg), 1000000, &v) < 0 || v == 0) {
				fprintf(stderr, "weft echo: --max-conns: a number in 1..1000000\n");
				return 2;
			}
			s.max_conns = (size_t)v;
			break;
		case 'f':
			if (optarg[0] != '/' || strlen(optarg) > 1000) {
				fprintf(stderr, "weft echo: --fail-path: a path starting with '/'\n");
				return 2;
			}
			s.fail_path = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!listen_addr || optind < argc) {
		fprintf(stderr, listen_addr ? "weft echo: unexpected argument '%s'\n"
					    : "weft echo: --listen is required%s\n",
			listen_addr ? argv[optind] : "");
		usage(stderr);
		return 2;
	}
	/* thousands of connections: as many descriptors as we may have */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	weft_h1_limits_default(&s.lim);
	if (s.lim.max_head > ECHO_BUF)
		s.lim.max_head = ECHO_BUF;
	if (s.lim.max_line > ECHO_BUF)
		s.lim.max_line = ECHO_BUF;
	if (weft_loop_init(&s.loop) < 0) {
		fprintf(stderr, "weft echo: epoll: %s\n", strerror(errno));
		return 1;
	}
	if (weft_listener_start(&s.loop, &s.lst, listen_addr, on_accept, &s) != WEFT_OK) {
		fprintf(stderr, "weft echo: cannot listen on '%s': %s\n", listen_addr, strerror(errno));
		weft_loop_destroy(&s.loop);
		return 1;
	}
	sigemptyset(&ss);
	sigaddset(&ss, SIGTERM);
	sigaddset(&ss, SIGINT);
	sigprocmask(SIG_BLOCK, &ss, NULL);
	signal(SIGPIPE, SIG_IGN);
	s.sigfd = signalfd(-1, &ss, SFD_NONBLOCK | SFD_CLOEXEC);
	if (s.sigfd < 0 || weft_io_start(&s.loop, &s.sigio, s.sigfd, WEFT_IO_READ, on_signal, &s) < 0) {
		fprintf(stderr, "weft echo: signalfd: %s\n", strerror(errno));
		rc = 1;
		goto out;
	}
	printf("weft echo: %s listening on %s (%s)\n", s.name, listen_addr,
	       s.mode == MODE_HTTP ? "http" : s.mode == MODE_BANNER ? "banner" : "echo");
	fflush(stdout);
	if (weft_loop_run(&s.loop) < 0) {
		fprintf(stderr, "weft echo: event loop: %s\n", strerror(errno));
		rc = 1;
	}
out:
	while (s.conns)
		conn_free(s.conns);
	weft_listener_stop(&s.lst);
	if (s.sigfd >= 0) {
		weft_io_stop(&s.loop, &s.sigio);
		close(s.sigfd);
	}
	weft_loop_destroy(&s.loop);
	return rc;
}

WEFT_CLI_COMMAND(echo, "echo", "a small echo / HTTP / banner server for demos and tests", run_echo);
