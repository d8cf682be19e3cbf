/* weft — HTTP/2 server mux (nghttp2). */
#ifndef WEFT_H2_H
#define WEFT_H2_H
#include "weft/h2-t.h"
#include "weft/rc.h"

/* Fills l with the defaults: 32 MiB pending, 10 s preface, 30 s stall,
 * 100 streams, 8 KiB of headers. */
void weft_h2_limits_default(weft_h2_limits_t *l);

/* Creates a server connection over fd (or fd < 0 with a custom transport,
 * for fuzzing), queues the server SETTINGS and arms the preface timer.
 * name is the log context. Returns the connection, or NULL (fd is closed
 * by the transport's close on failure). */
weft_h2c_t *weft_h2c_new(weft_loop_t *loop, int fd, const weft_xprt_ops_t *x, void *xctx,
			 const weft_h2_handler_t *h, void *hctx, const weft_h2_limits_t *lim,
			 const char *name);

/* Schedules a write of whatever nghttp2 and the streams have ready, at
 * the end of the current loop turn (never re-enters nghttp2, so it is safe
 * from handler callbacks and while iterating over clients). A write error
 * closes the connection then. */
void weft_h2c_kick(weft_h2c_t *h2c);

/* Submits GOAWAY(NO_ERROR) and flushes; the connection closes once its
 * streams are done or when it is destroyed. */
void weft_h2c_goaway(weft_h2c_t *h2c);

/* Closes the connection at the next loop turn (safe inside callbacks and
 * while iterating over streams). why is logged at debug level. */
void weft_h2c_kill(weft_h2c_t *h2c, const char *why);

/* Closes now: every stream's on_close runs, then on_destroy, then memory
 * is freed. Never call from inside a handler callback; use _kill(). */
void weft_h2c_close(weft_h2c_t *h2c);

/* Bytes waiting to be written for this connection (streams + socket). */
size_t weft_h2c_pending(const weft_h2c_t *h2c);

/* Submits response headers (":status" must be first). end true ends the
 * stream with them (no body). Returns WEFT_OK, WEFT_ECLOSED (already
 * responded or ended) or WEFT_EFAIL. */
int weft_h2s_respond(weft_h2s_t *s, const weft_h2_hdr_t *h, size_t n, bool end);

/* Queues body bytes (after respond). Returns WEFT_OK, WEFT_ECLOSED (stream
 * ended) or WEFT_ELIMIT: the connection's pending bound would be passed;
 * the connection is then being closed. */
int weft_h2s_send(weft_h2s_t *s, const void *p, size_t n);

/* Ends the stream after the queued body with trailers (n may be 0).
 * Returns WEFT_OK, WEFT_ECLOSED or WEFT_ENOMEM. */
int weft_h2s_finish(weft_h2s_t *s, const weft_h2_hdr_t *t, size_t n);

/* Resets the stream with an HTTP/2 error code. */
void weft_h2s_reset(weft_h2s_t *s, uint32_t code);

#endif
