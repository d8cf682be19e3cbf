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

#endif
