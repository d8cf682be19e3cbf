/* weft — socket addresses, listening sockets and the accept loop. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "weft/log.h"
#include "weft/loop.h"
#include "weft/net.h"
#include "weft/str.h"

int weft_net_parse_addr(const char *s, size_t len, struct sockaddr_storage *ss, socklen_t *sslen)
{
	char host[64];
	const char *colon;
	size_t hlen;
	unsigned long long port;

	if (!s || len == 0 || len > 100)
		return WEFT_EFAIL;
	memset(ss, 0, sizeof(*ss));
	if (s[0] == '[') {
		const char *rb = memchr(s, ']', len);
		if (!rb || (size_t)(rb - s) + 1 >= len || rb[1] != ':')
			return WEFT_EFAIL;
		hlen = (size_t)(rb - s) - 1;
		colon = rb + 1;
		if (hlen == 0 || hlen >= sizeof(host))
			return WEFT_EFAIL;
		memcpy(host, s + 1, hlen);
	} else {
		colon = memrchr(s, ':', len);
		if (!colon)
			return WEFT_EFAIL;
		hlen = (size_t)(colon - s);
		if (hlen == 0 || hlen >= sizeof(host) || memchr(s, ':', hlen))
			return WEFT_EFAIL;
		memcpy(host, s, hlen);
	}
	host[hlen] = '\0';
	if (weft_str_to_u64(weft_str(colon + 1, len - (size_t)(colon + 1 - s)), 65535, &port) < 0)
		return WEFT_EFAIL;
	if (s[0] == '[') {
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
		if (inet_pton(AF_INET6, host, &a6->sin6_addr) != 1)
			return WEFT_EFAIL;
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
		*sslen = sizeof(*a6);
	} else {
		struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
		if (!strcmp(host, "localhost"))
			strcpy(host, "127.0.0.1");
		if (inet_pton(AF_INET, host, &a4->sin_addr) != 1)
			return WEFT_EFAIL;
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)port);
		*sslen = sizeof(*a4);
	}
	return WEFT_OK;
}

char *weft_net_format_addr(const struct sockaddr *sa, char *out, size_t outlen)
{
	char h[INET6_ADDRSTRLEN];

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *a4 = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &a4->sin_addr, h, sizeof(h));
		snprintf(out, outlen, "%s:%u", h, ntohs(a4->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &a6->sin6_addr, h, sizeof(h));
		snprintf(out, outlen, "[%s]:%u", h, ntohs(a6->sin6_port));
	} else {
		snprintf(out, outlen, "?");
	}
	return out;
}

int weft_net_listen(const char *addr, int backlog)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int fd, one = 1;

	if (weft_net_parse_addr(addr, strlen(addr), &ss, &sl) < 0) {
		errno = EINVAL;
		return -1;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, backlog) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

int weft_net_connect(const char *addr, int timeout_ms)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	struct pollfd pfd;
	int fd, err = 0, fl;
	socklen_t el = sizeof(err);

	if (weft_net_parse_addr(addr, strlen(addr), &ss, &sl) < 0) {
		errno = EINVAL;
		return -1;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&ss, sl) < 0) {
		if (errno != EINPROGRESS)
			goto fail;
		pfd.fd = fd;
		pfd.events = POLLOUT;
		if (poll(&pfd, 1, timeout_ms) != 1) {
			errno = ETIMEDOUT;
			goto fail;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0 || err) {
			errno = err ? err : errno;
			goto fail;
		}
	}
	fl = fcntl(fd, F_GETFL);
	fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
	return fd;
fail:
	err = errno;
	close(fd);
	errno = err;
	return -1;
}

static void listener_cb(weft_loop_t *loop, weft_io_t *io, uint32_t ev)
{
	weft_listener_t *l = io->data;

	/* bounded batch so one busy listener does not starve the loop */
	for (int i = 0; i < 64 && l->fd >= 0; i++) {
		struct sockaddr_storage peer;
		socklen_t pl = sizeof(peer);
		int fd = accept4(l->fd, (struct sockaddr *)&peer, &pl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				weft_warn(l->addr, "accept: %s", strerror(errno));
			return;
		}
		if (peer.ss_family == AF_INET || peer.ss_family == AF_INET6)
			weft_net_nodelay(fd);
		l->on_accept(l, fd, &peer, pl);
	}
}

int weft_listener_start(weft_loop_t *loop, weft_listener_t *l, const char *addr,
			void (*on_accept)(weft_listener_t *, int, const struct sockaddr_storage *, socklen_t),
			void *data)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	memset(l, 0, sizeof(*l));
	l->fd = weft_net_listen(addr, 1024);
	if (l->fd < 0)
		return WEFT_EFAIL;
	l->loop = loop;
	l->on_accept = on_accept;
	l->data = data;
	if (getsockname(l->fd, (struct sockaddr *)&ss, &sl) == 0) {
		weft_net_format_addr((struct sockaddr *)&ss, l->addr, sizeof(l->addr));
		l->port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
							: ((struct sockaddr_in6 *)&ss)->sin6_port);
	}
	if (weft_io_start(loop, &l->io, l->fd, WEFT_IO_READ, listener_cb, l) < 0) {
		int e = errno;
		close(l->fd);
		l->fd = -1;
		errno = e;
		return WEFT_EFAIL;
	}
	return WEFT_OK;
}

void weft_listener_stop(weft_listener_t *l)
{
	if (l->fd < 0)
		return;
	weft_io_stop(l->loop, &l->io);
	close(l->fd);
	l->fd = -1;
}

void weft_net_nodelay(int fd)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}
