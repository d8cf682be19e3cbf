/* weft — the event loop (epoll + timer heap). Types only. */
#ifndef WEFT_LOOP_T_H
#define WEFT_LOOP_T_H
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

struct weft_loop;
struct weft_io;
struct weft_timer;

#define WEFT_IO_READ  0x1u
#define WEFT_IO_WRITE 0x2u
#define WEFT_IO_ERROR 0x4u   /* reported only: hang-up or error on the fd */

typedef void (*weft_io_cb)(struct weft_loop *l, struct weft_io *io, uint32_t events);
typedef void (*weft_timer_cb)(struct weft_loop *l, struct weft_timer *t);

/* An fd watched for readiness. Embed it in the object that owns the fd. */
typedef struct weft_io {
	int fd;
	uint32_t events;     /* WEFT_IO_READ | WEFT_IO_WRITE currently wanted */
	bool active;
	weft_io_cb cb;
	void *data;
} weft_io_t;

/* A one-shot timer. Embed it; restart it from its callback to repeat. */
typedef struct weft_timer {
	uint64_t when_ms;    /* monotonic deadline */
	size_t heap_idx;     /* position in the loop's heap, WEFT_TIMER_DUE, or SIZE_MAX */
	struct weft_timer *due_prev, *due_next;   /* links while WEFT_TIMER_DUE */
	weft_timer_cb cb;
	void *data;
} weft_timer_t;

/* heap_idx of a timer armed with 0 ms: it waits on the loop's FIFO of
 * due-now timers instead of the heap */
#define WEFT_TIMER_DUE ((size_t)-2)

typedef struct weft_loop {
	int epfd;
	bool stop;
	uint64_t now_ms;             /* cached monotonic time, updated each turn */
	weft_timer_t **heap;         /* min-heap on when_ms */
	size_t nheap, capheap;
	weft_timer_t *due_head, *due_tail;   /* 0 ms timers, in arming order */
	struct epoll_event *batch;   /* events being dispatched this turn */
	int nbatch;
} weft_loop_t;

typedef void (*weft_signal_cb)(struct weft_loop *l, int signo, void *data);

/* SIGTERM, SIGINT and SIGHUP taken out of asynchronous delivery and read
 * from a signalfd on the loop (weft_sigwatch_start / _stop). */
typedef struct weft_sigwatch {
	int fd;                      /* the signalfd, -1 when none */
	weft_io_t io;
	weft_signal_cb cb;
	void *data;
	sigset_t old;                /* the mask before start, put back by stop */
	bool masked;
} weft_sigwatch_t;

#endif
