/* weft — the in-pod capture rules: one nftables table, `inet weft`, owned
 * by the agent, installed inside a workload's network namespace.
 *
 *   outbound (nat output, priority -100): our own marked sockets, loopback
 *     and local destinations pass; other TCP is redirected to :15001.
 *   inbound (nat prerouting, dstnat): loopback and TCP to :15008 (the
 *     in-pod HBONE listener) pass; other TCP is redirected to :15006.
 *
 * Installing is one `nft -f -` transaction (table created if absent,
 * flushed, chains added), so it is idempotent and atomic: a pod never sees
 * half a rule set. The rules stay when the agent exits, so captured
 * connections are refused while it is down (fail closed); they go only when
 * the workload leaves the view (weft_nft_remove). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include "weft/capture.h"

void weft_nft_opts_default(weft_nft_opts_t *o, uint32_t mark)
{
	memset(o, 0, sizeof(*o));
	o->mark = mark;
	o->outbound_port = 15001;
	o->inbound_port = 15006;
	o->hbone_port = 15008;
}

int weft_nft_script(const weft_nft_opts_t *o, char *out, size_t outlen)
{
	int n = snprintf(out, outlen,
		"table inet weft\n"
		"flush table inet weft\n"
		"table inet weft {\n"
		"  chain outbound {\n"
		"    type nat hook output priority -100; policy accept;\n"
		"    meta mark 0x%x return\n"
		"    oif lo return\n"
		"    ip daddr 127.0.0.0/8 return\n"
		"    ip6 daddr ::1 return\n"
		"    fib daddr type local return\n"
		"    meta l4proto tcp redirect to :%u\n"
		"  }\n"
		"  chain inbound {\n"
		"    type nat hook prerouting priority dstnat; policy accept;\n"
		"    iif lo return\n"
		"    tcp dport %u return\n"
		"    meta l4proto tcp redirect to :%u\n"
		"  }\n"
		"}\n",
		o->mark, o->outbound_port, o->hbone_port, o->inbound_port);

	if (n < 0 || (size_t)n >= outlen)
		return WEFT_ELIMIT;
	return n;
}

static const char *nft_path(const weft_nft_opts_t *o)
{
	static const char *const cands[] = { "/usr/sbin/nft", "/sbin/nft", "/usr/bin/nft" };

	if (o->nft_bin && *o->nft_bin)
		return o->nft_bin;
	for (size_t i = 0; i < sizeof(cands) / sizeof(cands[0]); i++)
		if (access(cands[i], X_OK) == 0)
			return cands[i];
	return cands[0];
}

/* Runs `nft -f -` with script on stdin inside nsfd (< 0: our namespace).
 * Returns WEFT_OK when nft exited 0, else WEFT_EFAIL with err filled with
 * the exit status and nft's stderr (trimmed). */
static int run_nft(int nsfd, const weft_nft_opts_t *o, const char *script, size_t len,
		   char *err, size_t errlen)
{
	const char *bin = nft_path(o);
	int in[2] = { -1, -1 }, ep[2] = { -1, -1 }, status = 0;
	char ebuf[1024];
	size_t elen = 0;
	pid_t pid;

	/* stdin is a socketpair so the write can use MSG_NOSIGNAL: a child
	 * that dies early must not SIGPIPE the agent */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in) < 0 || pipe2(ep, O_CLOEXEC) < 0) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		goto fail_pipes;
	}
	pid = fork();
	if (pid < 0) {
		snprintf(err, errlen, "fork: %s", strerror(errno));
		goto fail_pipes;
	}
	if (pid == 0) {
		/* child: only async-signal-safe calls from here */
		char *const argv[] = { (char *)"nft", (char *)"-f", (char *)"-", NULL };
		static const char msg[] = "weft: cannot enter the network namespace\n";
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);   /* the agent may block some for a signalfd */
		signal(SIGPIPE, SIG_DFL);
		if (dup2(in[0], 0) < 0 || dup2(ep[1], 2) < 0 || dup2(ep[1], 1) < 0)
			_exit(126);
		if (nsfd >= 0 && setns(nsfd, CLONE_NEWNET) < 0) {
			if (write(2, msg, sizeof(msg) - 1) < 0)
				_exit(125);
			_exit(125);
		}
		execv(bin, argv);
		_exit(127);
	}
	close(in[0]);
	close(ep[1]);
	in[0] = ep[1] = -1;
	/* the script is a few hundred bytes: it fits the pipe buffer, so
	 * writing it all before reading stderr cannot deadlock */
	for (size_t off = 0; off < len;) {
		ssize_t w = send(in[1], script + off, len - off, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			break;   /* EPIPE: the child died early; its status says why */
		}
		off += (size_t)w;
	}
	close(in[1]);
	in[1] = -1;
	for (;;) {
		ssize_t r = read(ep[0], ebuf + elen, sizeof(ebuf) - 1 - elen);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		elen += (size_t)r;
		if (elen == sizeof(ebuf) - 1) {
			char sink[256];
			while (read(ep[0], sink, sizeof(sink)) > 0)
				;
			break;
		}
	}
	ebuf[elen] = '\0';
	close(ep[0]);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR) {
			snprintf(err, errlen, "waitpid: %s", strerror(errno));
			return WEFT_EFAIL;
		}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return WEFT_OK;
	while (elen && (ebuf[elen - 1] == '\n' || ebuf[elen - 1] == ' '))
		ebuf[--elen] = '\0';
	for (size_t i = 0; i < elen; i++)
		if (ebuf[i] == '\n')
			ebuf[i] = ' ';
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
		snprintf(err, errlen, "cannot run %s", bin);
	else if (WIFEXITED(status))
		snprintf(err, errlen, "nft exited %d: %s", WEXITSTATUS(status),
			 elen ? ebuf : "(no output)");
	else
		snprintf(err, errlen, "nft killed by signal %d", WTERMSIG(status));
	return WEFT_EFAIL;
fail_pipes:
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (ep[i] >= 0)
			close(ep[i]);
	}
	return WEFT_EFAIL;
}

int weft_nft_install(int nsfd, const weft_nft_opts_t *o, char *err, size_t errlen)
{
	char script[1024];
	int n = weft_nft_script(o, script, sizeof(script));

	if (n < 0) {
		snprintf(err, errlen, "rule script too long");
		return WEFT_EFAIL;
	}
	return run_nft(nsfd, o, script, (size_t)n, err, errlen);
}

int weft_nft_remove(int nsfd, const weft_nft_opts_t *o, char *err, size_t errlen)
{
	/* declaring the table first makes the delete succeed when it is absent */
	static const char script[] = "table inet weft\ndelete table inet weft\n";

	return run_nft(nsfd, o, script, sizeof(script) - 1, err, errlen);
}
