/* weft — process signals as loop events: SIGTERM, SIGINT and SIGHUP are
 * blocked and read from a signalfd, so handlers run on the loop like any
 * other event and no state is shared with an asynchronous handler. */
#include <signal.h>
#include <unistd.h>
#include <sys/signalfd.h>
#include "weft/loop.h"

static void sigwatch_cb(weft_loop_t *l, weft_io_t *io, uint32_t ev)
{
	weft_sigwatch_t *w = io->data;
	struct signalfd_siginfo si;

	while (w->fd >= 0 && read(w->fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
		w->cb(l, (int)si.ssi_signo, w->data);
}

void weft_sigwatch_init(weft_sigwatch_t *w)
{
	w->fd = -1;
	w->io.active = false;
	w->masked = false;
}

int weft_sigwatch_start(weft_sigwatch_t *w, weft_loop_t *loop, weft_signal_cb cb, void *data)
{
	sigset_t mask;

	weft_sigwatch_init(w);
	w->cb = cb;
	w->data = data;
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, &w->old);
	w->masked = true;
	w->fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (w->fd < 0)
		return -1;
	if (weft_io_start(loop, &w->io, w->fd, WEFT_IO_READ, sigwatch_cb, w) < 0) {
		close(w->fd);
		w->fd = -1;
		return -1;
	}
	return 0;
}

void weft_sigwatch_stop(weft_sigwatch_t *w, weft_loop_t *loop)
{
	if (w->fd >= 0) {
		weft_io_stop(loop, &w->io);
		close(w->fd);
		w->fd = -1;
	}
	if (w->masked)
		sigprocmask(SIG_SETMASK, &w->old, NULL);
	w->masked = false;
}
