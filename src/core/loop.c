/* weft — epoll event loop with a binary min-heap of timers, and a FIFO
 * of due-now (0 ms) timers: the codecs arm those several times per
 * request ("kick", "poke", deferred flush), and a linked list makes
 * arming, stopping and firing them O(1) instead of heap sifts. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include "weft/loop.h"

#define BATCH 64

uint64_t weft_loop_update_time(weft_loop_t *l)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	l->now_ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
	return l->now_ms;
}

int weft_loop_init(weft_loop_t *l)
{
	memset(l, 0, sizeof(*l));
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0)
		return -1;
	weft_loop_update_time(l);
	return 0;
}

void weft_loop_destroy(weft_loop_t *l)
{
	if (l->epfd >= 0)
		close(l->epfd);
	l->epfd = -1;
	free(l->heap);
	l->heap = NULL;
	l->nheap = l->capheap = 0;
	l->due_head = l->due_tail = NULL;
}

void weft_loop_stop(weft_loop_t *l) { l->stop = true; }

static uint32_t to_epoll(uint32_t ev)
{
	return (ev & WEFT_IO_READ ? EPOLLIN | EPOLLRDHUP : 0) | (ev & WEFT_IO_WRITE ? EPOLLOUT : 0);
}

int weft_io_start(weft_loop_t *l, weft_io_t *io, int fd, uint32_t events,
		  weft_io_cb cb, void *data)
{
	struct epoll_event ev = { .events = to_epoll(events), .data.ptr = io };

	io->fd = fd;
	io->events = events;
	io->cb = cb;
	io->data = data;
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -1;
	io->active = true;
	return 0;
}

int weft_io_modify(weft_loop_t *l, weft_io_t *io, uint32_t events)
{
	struct epoll_event ev = { .events = to_epoll(events), .data.ptr = io };

	if (!io->active)
		return -1;
	if (io->events == events)
		return 0;
	if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, io->fd, &ev) < 0)
		return -1;
	io->events = events;
	return 0;
}

void weft_io_stop(weft_loop_t *l, weft_io_t *io)
{
	if (!io->active)
		return;
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, io->fd, NULL);
	io->active = false;
	for (int i = 0; i < l->nbatch; i++)
		if (l->batch[i].data.ptr == io)
			l->batch[i].data.ptr = NULL;
}

/* ---- timer heap ---- */

static void heap_swap(weft_loop_t *l, size_t a, size_t b)
{
	weft_timer_t *t = l->heap[a];

	l->heap[a] = l->heap[b];
	l->heap[b] = t;
	l->heap[a]->heap_idx = a;
	l->heap[b]->heap_idx = b;
}

static void heap_up(weft_loop_t *l, size_t i)
{
	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (l->heap[p]->when_ms <= l->heap[i]->when_ms)
			break;
		heap_swap(l, p, i);
		i = p;
	}
}

static void heap_down(weft_loop_t *l, size_t i)
{
	for (;;) {
		size_t c = 2 * i + 1, m = i;
		if (c < l->nheap && l->heap[c]->when_ms < l->heap[m]->when_ms)
			m = c;
		if (c + 1 < l->nheap && l->heap[c + 1]->when_ms < l->heap[m]->when_ms)
			m = c + 1;
		if (m == i)
			return;
		heap_swap(l, i, m);
		i = m;
	}
}

void weft_timer_init(weft_timer_t *t, weft_timer_cb cb, void *data)
{
	t->when_ms = 0;
	t->heap_idx = (size_t)-1;
	t->due_prev = t->due_next = NULL;
	t->cb = cb;
	t->data = data;
}

/* Unlinks t (WEFT_TIMER_DUE) from the due-now FIFO. */
static void due_unlink(weft_loop_t *l, weft_timer_t *t)
{
	if (t->due_prev)
		t->due_prev->due_next = t->due_next;
	else
		l->due_head = t->due_next;
	if (t->due_next)
		t->due_next->due_prev = t->due_prev;
	else
		l->due_tail = t->due_prev;
	t->due_prev = t->due_next = NULL;
	t->heap_idx = (size_t)-1;
}

void weft_timer_stop(weft_loop_t *l, weft_timer_t *t)
{
	size_t i = t->heap_idx;

	if (i == (size_t)-1)
		return;
	if (i == WEFT_TIMER_DUE) {
		due_unlink(l, t);
		return;
	}
	t->heap_idx = (size_t)-1;
	l->nheap--;
	if (i == l->nheap)
		return;
	l->heap[i] = l->heap[l->nheap];
	l->heap[i]->heap_idx = i;
	heap_up(l, i);
	heap_down(l, l->heap[i]->heap_idx);
}

/* 0 ms: the timer joins the tail of the due-now FIFO (one already
 * there keeps its place: it is due either way). Otherwise it goes on the
 * heap at now + after_ms. */
int weft_timer_start(weft_loop_t *l, weft_timer_t *t, uint64_t after_ms)
{
	if (after_ms == 0) {
		if (t->heap_idx == WEFT_TIMER_DUE)
			return 0;
		weft_timer_stop(l, t);
		t->when_ms = l->now_ms;
		t->heap_idx = WEFT_TIMER_DUE;
		t->due_next = NULL;
		t->due_prev = l->due_tail;
		if (l->due_tail)
			l->due_tail->due_next = t;
		else
			l->due_head = t;
		l->due_tail = t;
		return 0;
	}
	weft_timer_stop(l, t);
	if (l->nheap == l->capheap) {
		size_t ncap = l->capheap ? l->capheap * 2 : 64;
		weft_timer_t **h = realloc(l->heap, ncap * sizeof(*h));
		if (!h)
			return -1;
		l->heap = h;
		l->capheap = ncap;
	}
	t->when_ms = l->now_ms + after_ms;
	t->heap_idx = l->nheap;
	l->heap[l->nheap++] = t;
	heap_up(l, t->heap_idx);
	return 0;
}

/* Fires expired heap timers and due-now ones until none is left (those
 * a callback arms with 0 ms fire in this same turn). */
static void run_timers(weft_loop_t *l)
{
	for (;;) {
		weft_timer_t *t;
		if (l->nheap && l->heap[0]->when_ms <= l->now_ms) {
			t = l->heap[0];
			weft_timer_stop(l, t);
		} else if (l->due_head) {
			t = l->due_head;
			due_unlink(l, t);
		} else {
			return;
		}
		t->cb(l, t);
	}
}

int weft_loop_once(weft_loop_t *l, int max_wait_ms)
{
	struct epoll_event evs[BATCH];
	int timeout = max_wait_ms, n;

	if (l->due_head) {
		timeout = 0;
	} else if (l->nheap) {
		uint64_t d = l->heap[0]->when_ms > l->now_ms ? l->heap[0]->when_ms - l->now_ms : 0;
		if (timeout < 0 || d < (uint64_t)timeout)
			timeout = (int)(d > 3600000 ? 3600000 : d);
	}
	n = epoll_wait(l->epfd, evs, BATCH, timeout);
	if (n < 0 && errno != EINTR)
		return -1;
	weft_loop_update_time(l);
	l->batch = evs;
	l->nbatch = n > 0 ? n : 0;
	for (int i = 0; i < l->nbatch; i++) {
		weft_io_t *io = evs[i].data.ptr;
		uint32_t e = evs[i].events, got = 0;
		if (!io)
			continue;
		if (e & (EPOLLIN | EPOLLRDHUP))
			got |= WEFT_IO_READ;
		if (e & EPOLLOUT)
			got |= WEFT_IO_WRITE;
		if (e & (EPOLLERR | EPOLLHUP))
			got |= WEFT_IO_ERROR | (io->events & (WEFT_IO_READ | WEFT_IO_WRITE));
		io->cb(l, io, got);
	}
	l->batch = NULL;
	l->nbatch = 0;
	run_timers(l);
	return 0;
}

int weft_loop_run(weft_loop_t *l)
{
	l->stop = false;
	while (!l->stop)
		if (weft_loop_once(l, -1) < 0)
			return -1;
	return 0;
}
