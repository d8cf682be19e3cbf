/* weft — sockets inside other network namespaces.
 *
 * The agent runs in the root namespace; node-level sockets live in the
 * node's namespace and per-workload sockets in the pod's. A socket belongs
 * to the namespace that was current when socket() ran, for its whole life,
 * so the only switching needed is around socket() itself. The agent is
 * single-threaded and setns(CLONE_NEWNET) only affects the calling thread. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <linux/netfilter_ipv4.h>
#include <linux/netfilter_ipv6/ip6_tables.h>
#include <sys/stat.h>
#include "weft/capture.h"
#include "weft/log.h"

int weft_netns_set_init(weft_netns_set_t *s)
{
	memset(s, 0, sizeof(*s));
	s->self_fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (s->self_fd < 0)
		s->self_fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	return s->self_fd < 0 ? WEFT_EFAIL : WEFT_OK;
}

void weft_netns_set_destroy(weft_netns_set_t *s)
{
	weft_netns_t *n = s->head, *next;

	for (; n; n = next) {
		next = n->next;
		close(n->fd);
		free(n->path);
		free(n);
	}
	s->head = NULL;
	if (s->self_fd >= 0)
		close(s->self_fd);
	s->self_fd = -1;
}

weft_netns_t *weft_netns_open(weft_netns_set_t *s, const char *path)
{
	weft_netns_t *n;
	struct stat st;
	int fd;

	errno = 0;
	if (!path || !*path)
		return NULL;
	for (n = s->head; n; n = n->next)
		if (!strcmp(n->path, path)) {
			n->refs++;
			return n;
		}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	/* a namespace file is on nsfs; a regular file or directory is a
	 * mistake in the Workload (a bad path must not be half-used) */
	if (fstat(fd, &st) < 0 || S_ISDIR(st.st_mode) || !S_ISREG(st.st_mode) ||
	    setns(fd, CLONE_NEWNET) < 0) {
		int e = errno == 0 ? EINVAL : errno;
		/* setns either failed (nothing changed) or entered it: go back */
		if (setns(s->self_fd, CLONE_NEWNET) < 0)
			abort();
		close(fd);
		errno = e == EBADF ? EINVAL : e;
		return NULL;
	}
	if (setns(s->self_fd, CLONE_NEWNET) < 0)
		abort();
	s->switches++;
	n = calloc(1, sizeof(*n));
	if (!n || !(n->path = strdup(path))) {
		free(n);
		close(fd);
		errno = ENOMEM;
		return NULL;
	}
	n->fd = fd;
	n->refs = 1;
	n->next = s->head;
	s->head = n;
	return n;
}

void weft_netns_release(weft_netns_set_t *s, weft_netns_t *ns)
{
	weft_netns_t **pp;

	if (!ns || --ns->refs > 0)
		return;
	for (pp = &s->head; *pp; pp = &(*pp)->next)
		if (*pp == ns) {
			*pp = ns->next;
			break;
		}
	close(ns->fd);
	free(ns->path);
	free(ns);
}

int weft_netns_socket(int self_fd, int nsfd, int domain, int type, int proto)
{
	int fd, e;

	if (nsfd < 0)
		return socket(domain, type, proto);
	if (setns(nsfd, CLONE_NEWNET) < 0)
		return -1;
	fd = socket(domain, type, proto);
	e = errno;
	if (setns(self_fd, CLONE_NEWNET) < 0) {
		/* never keep running inside a pod's namespace */
		weft_err("netns", "cannot return to the agent's namespace: %s", strerror(errno));
		abort();
	}
	errno = e;
	return fd;
}

static int ns_socket(weft_netns_set_t *s, const weft_netns_t *ns, int domain)
{
	if (ns)
		s->switches++;
	return weft_netns_socket(s->self_fd, ns ? ns->fd : -1, domain,
				 SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
}

int weft_netns_listen(weft_netns_set_t *s, const weft_netns_t *ns, const struct sockaddr *sa,
		      socklen_t salen, int backlog)
{
	int one = 1, fd = ns_socket(s, ns, sa->sa_family), e;

	if (fd < 0)
		return -1;
	if (sa->sa_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, sa, salen) < 0 || listen(fd, backlog) < 0) {
		e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

int weft_netns_connect(weft_netns_set_t *s, const weft_netns_t *ns, const struct sockaddr *dst,
		       socklen_t dstlen, uint32_t mark)
{
	int one = 1, fd = ns_socket(s, ns, dst->sa_family), e;

	if (fd < 0)
		return -1;
	if (mark && setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark)) < 0)
		goto fail;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, dst, dstlen) < 0 && errno != EINPROGRESS)
		goto fail;
	return fd;
fail:
	e = errno;
	close(fd);
	errno = e;
	return -1;
}

int weft_sock_connect_result(int fd)
{
	int err = 0;
	socklen_t el = sizeof(err);

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0)
		return errno;
	return err;
}

int weft_sock_original_dst(int fd, struct sockaddr_storage *ss, socklen_t *sslen)
{
	struct sockaddr_storage self;
	socklen_t sl = sizeof(self);

	memset(ss, 0, sizeof(*ss));
	if (getsockname(fd, (struct sockaddr *)&self, &sl) < 0)
		return WEFT_EFAIL;
	if (self.ss_family == AF_INET) {
		*sslen = sizeof(struct sockaddr_in);
		if (getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, ss, sslen) < 0)
			return WEFT_EFAIL;
	} else if (self.ss_family == AF_INET6) {
		*sslen = sizeof(struct sockaddr_in6);
		if (getsockopt(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, ss, sslen) < 0)
			return WEFT_EFAIL;
	} else {
		return WEFT_EFAIL;
	}
	return WEFT_OK;
}

void weft_sock_set_rst(int fd)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
}

bool weft_netns_has_ipv6(weft_netns_set_t *s, const weft_netns_t *ns)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	int fd = ns_socket(s, ns, AF_INET6);
	bool ok;

	if (fd < 0)
		return false;
	ok = bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	close(fd);
	return ok;
}
