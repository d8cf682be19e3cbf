/* weft demo — running commands and daemons: posix_spawn for short commands
 * (ip, nft, sysctl), fork+exec for daemons (which join a cgroup and a netns
 * first), pidfiles that also record the start time (so a recycled pid is
 * never signalled), readiness polls and the final sweep. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "weft/net.h"
#include "demo.h"

extern char **environ;

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int demo_run(const char *const argv[], char *out, size_t outlen)
{
	posix_spawn_file_actions_t fa;
	int pfd[2], st;
	pid_t pid;
	size_t got = 0;
	char sink[512];

	if (out && outlen)
		out[0] = 0;
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return -1;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, pfd[1], 1);
	posix_spawn_file_actions_adddup2(&fa, pfd[1], 2);
	errno = posix_spawnp(&pid, argv[0], &fa, NULL, (char *const *)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(pfd[1]);
	if (errno) {
		if (out)
			snprintf(out, outlen, "cannot run %s: %s", argv[0], strerror(errno));
		close(pfd[0]);
		return -1;
	}
	for (;;) {
		ssize_t r;
		if (out && got + 1 < outlen)
			r = read(pfd[0], out + got, outlen - got - 1);
		else
			r = read(pfd[0], sink, sizeof sink);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		if (out && got + 1 < outlen) {
			got += (size_t)r;
			out[got] = 0;
		}
	}
	close(pfd[0]);
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	while (out && got && (out[got - 1] == '\n' || out[got - 1] == ' '))
		out[--got] = 0;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int demo_must(const char *what, const char *const argv[])
{
	char out[2048];
	int rc = demo_run(argv, out, sizeof out);

	if (rc == 0)
		return 0;
	fprintf(stderr, "weft demo: %s failed:", what);
	for (int i = 0; argv[i]; i++)
		fprintf(stderr, " %s", argv[i]);
	fprintf(stderr, "%s%s\n", out[0] ? ": " : "", out);
	return -1;
}

/* Field 22 of /proc/<pid>/stat (start time in clock ticks), or 0. */
static unsigned long long proc_starttime(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long v = 0;
	ssize_t n;
	int fd;

	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	if (!(p = strrchr(buf, ')')))   /* comm may contain spaces */
		return 0;
	p++;
	for (int field = 3; field < 22 && *p; field++) {
		while (*p == ' ')
			p++;
		while (*p && *p != ' ')
			p++;
	}
	sscanf(p, " %llu", &v);
	return v;
}

static void child_fail(const char *what)
{
	dprintf(2, "weft demo: child: %s: %s\n", what, strerror(errno));
	_exit(127);
}

pid_t demo_spawn(const demo_t *d, const demo_spawn_t *s)
{
	char log[DEMO_PATH + 64], pidf[DEMO_PATH + 64], nspath[128], line[64];
	int logfd, nsfd = -1;
	pid_t pid;

	snprintf(log, sizeof log, "%s/%s.log", d->dir, s->name);
	snprintf(pidf, sizeof pidf, "%s/%s.pid", d->dir, s->name);
	logfd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (logfd < 0) {
		fprintf(stderr, "weft demo: %s: %s\n", log, strerror(errno));
		return -1;
	}
	if (s->netns) {
		snprintf(nspath, sizeof nspath, "/var/run/netns/%s", s->netns);
		if ((nsfd = open(nspath, O_RDONLY | O_CLOEXEC)) < 0) {
			fprintf(stderr, "weft demo: %s: %s\n", nspath, strerror(errno));
			close(logfd);
			return -1;
		}
	}
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "weft demo: fork: %s\n", strerror(errno));
		close(logfd);
		if (nsfd >= 0)
			close(nsfd);
		return -1;
	}
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDONLY);
		if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(logfd, 1) < 0 || dup2(logfd, 2) < 0)
			_exit(127);
		if (s->cgroup && s->cgroup[0]) {
			char cp[DEMO_PATH + 32];
			int fd;
			snprintf(cp, sizeof cp, "%s/cgroup.procs", s->cgroup);
			if ((fd = open(cp, O_WRONLY | O_CLOEXEC)) < 0 || dprintf(fd, "%d\n", (int)getpid()) < 0)
				child_fail(cp);
			close(fd);
		}
		if (nsfd >= 0 && setns(nsfd, CLONE_NEWNET) < 0)
			child_fail("setns");
		setsid();
		signal(SIGPIPE, SIG_DFL);
		close_range(3, ~0U, 0);
		execv(s->argv[0], (char *const *)s->argv);
		child_fail(s->argv[0]);
	}
	close(logfd);
	if (nsfd >= 0)
		close(nsfd);
	/* the start time is there as soon as the child exists */
	snprintf(line, sizeof line, "%d %llu\n", (int)pid, proc_starttime(pid));
	if (demo_write_file(pidf, line, strlen(line), 0644) < 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return -1;
	}
	return pid;
}

/* Whether pid is alive (and not a zombie of ours: reaped here). */
static bool alive(pid_t pid)
{
	int st;
	if (waitpid(pid, &st, WNOHANG) == pid)
		return false;
	return kill(pid, 0) == 0;
}

/* One GET; returns the HTTP status, or -1. */
static int http_get_status(const char *addr, const char *path)
{
	char req[512], buf[256];
	int fd, status = -1;
	size_t got = 0;

	if ((fd = weft_net_connect(addr, 500)) < 0)
		return -1;
	struct timeval tv = { 1, 0 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", path, addr);
	if (write(fd, req, strlen(req)) == (ssize_t)strlen(req)) {
		while (got < 12) {
			ssize_t r = read(fd, buf + got, sizeof buf - 1 - got);
			if (r <= 0)
				break;
			got += (size_t)r;
		}
		buf[got] = 0;
		if (got >= 12 && !strncmp(buf, "HTTP/1.", 7))
			status = atoi(buf + 9);
	}
	close(fd);
	return status;
}

int demo_wait_http(const char *addr, const char *path, pid_t pid, unsigned timeout_ms)
{
	uint64_t end = now_ms() + timeout_ms;

	for (;;) {
		if (pid > 0 && !alive(pid))
			return -1;
		if (http_get_status(addr, path) == 200)
			return 0;
		if (now_ms() >= end)
			return -2;
		sleep_ms(100);
	}
}

static bool file_has(const char *file, const char *needle)
{
	char buf[65536];
	ssize_t n;
	int fd = open(file, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = 0;
	return strstr(buf, needle) != NULL;
}

int demo_wait_log(const char *file, const char *needle, pid_t pid, unsigned timeout_ms)
{
	uint64_t end = now_ms() + timeout_ms;

	for (;;) {
		if (file_has(file, needle))
			return 0;
		if (pid > 0 && !alive(pid))
			return -1;
		if (now_ms() >= end)
			return -2;
		sleep_ms(50);
	}
}

void demo_tail(const char *file, int lines)
{
	char buf[16384];
	ssize_t n;
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	off_t sz;

	if (fd < 0)
		return;
	sz = lseek(fd, 0, SEEK_END);
	lseek(fd, sz > (off_t)sizeof buf - 1 ? sz - (off_t)sizeof buf + 1 : 0, SEEK_SET);
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = 0;
	char *p = buf + n;
	for (int k = 0; p > buf; p--)
		if (p[-1] == '\n' && p != buf + n && ++k > lines)
			break;
	fprintf(stderr, "----- %s (last lines) -----\n%s%s", file, p, buf[n - 1] == '\n' ? "" : "\n");
}

/* ---- stopping ---- */

typedef struct victims {
	pid_t pid[512];
	unsigned long long start[512];
	size_t n;
} victims_t;

static void victim_add(victims_t *v, pid_t pid, unsigned long long start)
{
	if (pid <= 1 || pid == getpid() || v->n == 512)
		return;
	for (size_t i = 0; i < v->n; i++)
		if (v->pid[i] == pid)
			return;
	v->pid[v->n] = pid;
	v->start[v->n++] = start;
}

static void from_pidfiles(const demo_t *d, victims_t *v)
{
	DIR *dir = opendir(d->dir);
	struct dirent *e;

	if (!dir)
		return;
	while ((e = readdir(dir))) {
		size_t l = strlen(e->d_name);
		char path[DEMO_PATH + 300], buf[128];
		int pid = 0, fd;
		unsigned long long st = 0;
		ssize_t n;

		if (l < 5 || strcmp(e->d_name + l - 4, ".pid"))
			continue;
		snprintf(path, sizeof path, "%s/%s", d->dir, e->d_name);
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
			continue;
		n = read(fd, buf, sizeof buf - 1);
		close(fd);
		if (n <= 0)
			continue;
		buf[n] = 0;
		if (sscanf(buf, "%d %llu", &pid, &st) < 1 || pid <= 1)
			continue;
		/* only the process we started, not a later one with its pid */
		if (st && proc_starttime(pid) != st)
			continue;
		victim_add(v, pid, st);
	}
	closedir(dir);
}

/* Whether a NUL-separated cmdline holds an argument equal to one of ws. */
static bool cmdline_names(const char *cmd, size_t n, const char *const *ws, size_t nws)
{
	for (size_t off = 0; off < n; off += strlen(cmd + off) + 1)
		for (size_t i = 0; i < nws; i++)
			if (ws[i][0] && !strcmp(cmd + off, ws[i]))
				return true;
	return false;
}

static void sweep(const demo_t *d, victims_t *v)
{
	ino_t inos[DEMO_NNODES + DEMO_NPODS];
	size_t nino = 0;
	char paths[DEMO_NNODES + DEMO_NPODS + 1][DEMO_PATH + 16];
	const char *words[DEMO_NNODES + DEMO_NPODS + 1];
	size_t nw = 0;
	char cgprefix[DEMO_PATH];
	DIR *proc;
	struct dirent *e;
	struct stat st;

	for (int i = 0; i < DEMO_NNODES + DEMO_NPODS; i++) {
		const char *ns = i < DEMO_NNODES ? d->nodes[i].netns : d->pods[i - DEMO_NNODES].netns;
		snprintf(paths[nw], sizeof paths[nw], "/var/run/netns/%s", ns);
		if (stat(paths[nw], &st) == 0)
			inos[nino++] = st.st_ino;
		words[nw] = paths[nw];
		nw++;
	}
	snprintf(paths[nw], sizeof paths[nw], "%s/config", d->dir);
	words[nw] = paths[nw];
	nw++;
	/* cgroup paths as /proc/<pid>/cgroup shows them: "0::/<p>/<pod>" */
	snprintf(cgprefix, sizeof cgprefix, "0::/%s/", d->prefix);

	if (!(proc = opendir("/proc")))
		return;
	while ((e = readdir(proc))) {
		char path[300], link[128], buf[8192];
		bool hit = false;
		ssize_t n;
		int fd;

		if (!isdigit((unsigned char)e->d_name[0]))
			continue;
		pid_t pid = (pid_t)atoi(e->d_name);
		if (pid == getpid())
			continue;
		snprintf(path, sizeof path, "/proc/%d/ns/net", (int)pid);
		n = readlink(path, link, sizeof link - 1);
		if (n > 0) {
			unsigned long long ino;
			link[n] = 0;
			if (sscanf(link, "net:[%llu]", &ino) == 1)
				for (size_t i = 0; i < nino; i++)
					if ((ino_t)ino == inos[i])
						hit = true;
		}
		if (!hit && d->cgroot[0]) {
			snprintf(path, sizeof path, "/proc/%d/cgroup", (int)pid);
			if ((fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0) {
				n = read(fd, buf, sizeof buf - 1);
				close(fd);
				if (n > 0) {
					buf[n] = 0;
					for (char *l = buf; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
						if (!strncmp(l, cgprefix, strlen(cgprefix)))
							hit = true;
				}
			}
		}
		if (!hit) {
			snprintf(path, sizeof path, "/proc/%d/cmdline", (int)pid);
			if ((fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0) {
				n = read(fd, buf, sizeof buf - 1);
				close(fd);
				if (n > 0) {
					buf[n] = 0;
					hit = cmdline_names(buf, (size_t)n, words, nw);
				}
			}
		}
		if (hit)
			victim_add(v, pid, proc_starttime(pid));
	}
	closedir(proc);
}

static void stop_all(victims_t *v)
{
	uint64_t end;
	bool any;

	for (size_t i = 0; i < v->n; i++)
		kill(v->pid[i], SIGTERM);
	end = now_ms() + 3000;
	do {
		any = false;
		for (size_t i = 0; i < v->n; i++) {
			if (!v->pid[i])
				continue;
			waitpid(v->pid[i], NULL, WNOHANG);
			if (kill(v->pid[i], 0) < 0 || proc_starttime(v->pid[i]) != v->start[i]) {
				v->pid[i] = 0;
				continue;
			}
			/* a zombie whose parent is not us: as good as gone */
			char path[64], buf[512];
			int fd;
			snprintf(path, sizeof path, "/proc/%d/stat", (int)v->pid[i]);
			if ((fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0) {
				ssize_t n = read(fd, buf, sizeof buf - 1);
				close(fd);
				char *p = n > 0 ? (buf[n] = 0, strrchr(buf, ')')) : NULL;
				if (p && p[1] == ' ' && p[2] == 'Z') {
					v->pid[i] = 0;
					continue;
				}
			}
			any = true;
		}
		if (any)
			sleep_ms(50);
	} while (any && now_ms() < end);
	for (size_t i = 0; i < v->n; i++)
		if (v->pid[i]) {
			kill(v->pid[i], SIGKILL);
			waitpid(v->pid[i], NULL, 0);
		}
}

void demo_kill_all(const demo_t *d)
{
	victims_t *v = calloc(1, sizeof *v);

	if (!v)
		return;
	from_pidfiles(d, v);
	stop_all(v);
	/* then whatever still lives in our namespaces or cgroups */
	for (int round = 0; round < 3; round++) {
		v->n = 0;
		sweep(d, v);
		if (!v->n)
			break;
		stop_all(v);
	}
	free(v);
}
