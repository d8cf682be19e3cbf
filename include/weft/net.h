/* weft — sockets, listeners, connections and the raw TCP transport. */
#ifndef WEFT_NET_H
#define WEFT_NET_H
#include "weft/net-t.h"
#include "weft/rc.h"

/* Parses "host:port" (IPv4 literal or "localhost") or "[v6]:port" into ss.
 * Port 0 is allowed (the kernel picks one). Returns WEFT_OK or WEFT_EFAIL
 * (malformed, host is not a literal, port out of range). */
int weft_net_parse_addr(const char *s, size_t len, struct sockaddr_storage *ss, socklen_t *sslen);

/* Formats an address as "1.2.3.4:80" or "[::1]:80" into out (always NUL
 * terminated). Returns out. */
char *weft_net_format_addr(const struct sockaddr *sa, char *out, size_t outlen);

/* Turns Nagle off on a TCP socket (every proxied socket: small writes of
 * request/response traffic must not wait for the peer's delayed ACK). */
void weft_net_nodelay(int fd);

/* Opens a non-blocking, close-on-exec listening socket with SO_REUSEADDR on
 * addr. Returns the fd, or -1 with errno set. */
int weft_net_listen(const char *addr, int backlog);

/* Connects (blocking, with a timeout in ms) to addr. Returns the fd
 * (blocking mode) or -1. Used by CLI clients. */
int weft_net_connect(const char *addr, int timeout_ms);

/* Binds and starts accepting on addr; every accepted fd (non-blocking,
 * close-on-exec) is handed to on_accept. Returns WEFT_OK or WEFT_EFAIL
 * (errno set; nothing left open). */
int weft_listener_start(weft_loop_t *loop, weft_listener_t *l, const char *addr,
			void (*on_accept)(weft_listener_t *, int, const struct sockaddr_storage *, socklen_t),
			void *data);
/* Stops accepting and closes the socket. Safe to call twice. */
void weft_listener_stop(weft_listener_t *l);

/* The raw TCP transport. */
extern const weft_xprt_ops_t weft_xprt_raw;

/* Initialises c over fd with transport x and starts watching fd for reads
 * (when fd >= 0; a negative fd makes a connection driven by hand, as the
 * fuzzers do). The mux is attached by the caller. out_limit bounds the
 * output buffer. Returns WEFT_OK or WEFT_EFAIL (fd is not closed then). */
int weft_conn_init(weft_conn_t *c, weft_loop_t *loop, int fd, const weft_xprt_ops_t *x,
		   void *xprt_ctx, size_t out_limit);

/* Reads through the transport: as weft_xprt_ops_t.recv; sets c->eof on 0. */
ssize_t weft_conn_recv(weft_conn_t *c, void *buf, size_t len);

/* True when the transport holds input no readiness event will announce
 * (see weft_xprt_ops_t.pending). */
static inline bool weft_conn_pending(weft_conn_t *c)
{
	return c->xprt && c->xprt->pending && c->xprt->pending(c);
}

/* Queues n bytes for output. Returns WEFT_OK or WEFT_ELIMIT (buffer bound
 * or memory). Call weft_conn_flush() to write. */
int weft_conn_queue(weft_conn_t *c, const void *p, size_t n);

/* Writes queued output. Returns WEFT_OK when all is written, WEFT_EAGAIN
 * when some remains, here or in the transport (TLS records the socket did
 * not take; write interest is enabled), WEFT_EFAIL on an error. */
int weft_conn_flush(weft_conn_t *c);

/* Sets the events watched besides reading (write interest is managed by
 * weft_conn_flush()). want_read false pauses reading. */
void weft_conn_want_read(weft_conn_t *c, bool want_read);

/* Stops watching, destroys the mux (if any), closes the transport and frees
 * the output buffer. The weft_conn_t memory itself belongs to the caller. */
void weft_conn_close(weft_conn_t *c);

#endif
