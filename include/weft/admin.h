/* weft — admin HTTP/1.1 server with a route table. */
#ifndef WEFT_ADMIN_H
#define WEFT_ADMIN_H
#include "weft/admin-t.h"
#include "weft/rc.h"

void weft_admin_init(weft_admin_t *a, weft_loop_t *loop);

/* Adds a route for an exact path (the query string is not part of it).
 * Returns WEFT_OK or WEFT_ELIMIT (table full or path too long). */
int weft_admin_route(weft_admin_t *a, const char *path, weft_admin_handler fn, void *ctx);

/* Adds a streaming route for an exact path (see weft_admin_stream_handler).
 * Returns WEFT_OK or WEFT_ELIMIT. */
int weft_admin_route_stream(weft_admin_t *a, const char *path, weft_admin_stream_handler fn,
			    void *ctx);

/* Sends n bytes of an open stream as one chunk. Returns WEFT_OK;
 * WEFT_EAGAIN when the client reads too slowly (more than 1 MiB waits:
 * the bytes are dropped, the stream stays open); WEFT_EFAIL when the
 * connection failed: the stream is then closed and its on_close callback
 * has run before this returns. */
int weft_admin_stream_write(weft_admin_stream_t *s, const void *p, size_t n);

/* Calls fn(arg) once when the stream's connection closes (client gone,
 * write error, server destroyed), not after weft_admin_stream_end().
 * fn must not use s. */
void weft_admin_stream_on_close(weft_admin_stream_t *s, void (*fn)(void *arg), void *arg);

/* Ends the stream: the last chunk is sent and the connection closes once
 * written. The on_close callback is dropped and s must not be used again. */
void weft_admin_stream_end(weft_admin_stream_t *s);

/* Listens on addr. Returns WEFT_OK or WEFT_EFAIL (errno set). */
int weft_admin_listen(weft_admin_t *a, const char *addr);

/* Closes the listener and every connection. */
void weft_admin_destroy(weft_admin_t *a);

/* Serves an accepted fd (used by the listener; exposed for tests). */
void weft_admin_adopt(weft_admin_t *a, int fd, const char *peer);

/* True when query (a=b&c=d) holds key=value. */
bool weft_admin_query_has(weft_str_t query, const char *key, const char *value);

#endif
