/* weft — the event loop. One loop per thread; nothing here is global. */
#ifndef WEFT_LOOP_H
#define WEFT_LOOP_H
#include "weft/loop-t.h"

/* Returns 0, or -1 with errno set when epoll could not be created. */
int weft_loop_init(weft_loop_t *l);
void weft_loop_destroy(weft_loop_t *l);

/* Runs until weft_loop_stop(). Returns 0, or -1 on an epoll failure. */
int weft_loop_run(weft_loop_t *l);

/* Runs one turn, waiting at most max_wait_ms (-1: until something happens). */
int weft_loop_once(weft_loop_t *l, int max_wait_ms);

void weft_loop_stop(weft_loop_t *l);

/* Cached monotonic milliseconds, refreshed at every turn. */
static inline uint64_t weft_loop_now(const weft_loop_t *l) { return l->now_ms; }

/* Reads the monotonic clock now (ms) and refreshes the cache. */
uint64_t weft_loop_update_time(weft_loop_t *l);

/* Starts watching fd for events (WEFT_IO_READ/WRITE). Returns 0 or -1. */
int weft_io_start(weft_loop_t *l, weft_io_t *io, int fd, uint32_t events,
		  weft_io_cb cb, void *data);

/* Changes the wanted events of an active watcher. Returns 0 or -1. */
int weft_io_modify(weft_loop_t *l, weft_io_t *io, uint32_t events);

/* Stops watching. Pending events of this turn for it are dropped, so the
 * owner may free it right after. The fd is not closed. */
void weft_io_stop(weft_loop_t *l, weft_io_t *io);

void weft_timer_init(weft_timer_t *t, weft_timer_cb cb, void *data);

/* (Re)arms the timer to fire after ms milliseconds. Returns 0 or -1 (ENOMEM). */
int weft_timer_start(weft_loop_t *l, weft_timer_t *t, uint64_t after_ms);
void weft_timer_stop(weft_loop_t *l, weft_timer_t *t);
static inline bool weft_timer_active(const weft_timer_t *t) { return t->heap_idx != (size_t)-1; }

/* Sets w up stopped (fd -1), so weft_sigwatch_stop is safe on it. */
void weft_sigwatch_init(weft_sigwatch_t *w);

/* Ignores SIGPIPE, blocks SIGTERM, SIGINT and SIGHUP (remembering the old
 * mask) and calls cb(loop, signo, data) on loop once for each of them that
 * arrives. Returns 0, or -1 (errno set) when the signalfd or its watcher
 * could not be made: the signals are blocked all the same, and
 * weft_sigwatch_stop puts the mask back. */
int weft_sigwatch_start(weft_sigwatch_t *w, weft_loop_t *loop, weft_signal_cb cb, void *data);

/* Stops watching, closes the signalfd and restores the signal mask from
 * before start (a signal still pending is then delivered as usual). Safe
 * after a failed start, twice, or on a w only initialised. */
void weft_sigwatch_stop(weft_sigwatch_t *w, weft_loop_t *loop);

#endif
