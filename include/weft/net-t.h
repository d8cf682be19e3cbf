/* weft — sockets, transports and connections. Types only.
 *
 * I/O is layered as function-pointer tables (DESIGN §7):
 *   socket (fd, loop watcher)
 *     -> transport (weft_xprt_ops_t: raw TCP now, TLS later)
 *       -> mux (weft_mux_ops_t: h1, h2)
 *         -> streams (owned by the mux)
 * A weft_conn_t ties the three together. The transport moves bytes, the
 * connection keeps a bounded output buffer, the mux speaks the protocol. */
#ifndef WEFT_NET_T_H
#define WEFT_NET_T_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/socket.h>
#include "weft/buf-t.h"
#include "weft/loop-t.h"

struct weft_conn;

/* A transport: how bytes reach the peer. Return conventions:
 * recv: >0 bytes read, 0 orderly EOF, WEFT_EAGAIN, WEFT_EFAIL.
 * send: >0 bytes written, WEFT_EAGAIN, WEFT_EFAIL.
 * close: releases the transport's state and the fd (if any). */
typedef struct weft_xprt_ops {
	const char *name;
	ssize_t (*recv)(struct weft_conn *c, void *buf, size_t len);
	ssize_t (*send)(struct weft_conn *c, const void *buf, size_t len);
	void (*close)(struct weft_conn *c);
	/* Optional (NULL for raw). True when the transport needs the socket
	 * to become writable to make progress (a TLS handshake or record
	 * blocked on a write); false when an EAGAIN from send means it waits
	 * for input instead (a TLS handshake reading). The connection uses it
	 * to choose write interest, and turns a write event into a read
	 * attempt while it is true. */
	bool (*want_write)(struct weft_conn *c);
	/* Optional (NULL for raw). True when the transport holds input it
	 * already took from the socket (TLS records read ahead) that no
	 * readiness event will announce: a reader that got a short read may
	 * stop there (saving the EAGAIN read) only when this is false. */
	bool (*pending)(struct weft_conn *c);
	/* Optional. Called by weft_conn_init once c is set up, for
	 * transports that must reach the connection from their own events
	 * (an HBONE stream's data drives c->mux->on_io). */
	void (*attach)(struct weft_conn *c);
} weft_xprt_ops_t;

/* A mux: the protocol spoken over a transport.
 * on_io: the socket is ready (WEFT_IO_READ/WRITE/ERROR) or the owner
 *        asks for progress (events 0); returns WEFT_OK, or a negative
 *        code to have the connection closed by the caller.
 * shutdown: begin a graceful close (HTTP/2: GOAWAY).
 * destroy: free the mux state; the connection is closed right after. */
typedef struct weft_mux_ops {
	const char *name;
	int (*on_io)(struct weft_conn *c, uint32_t events);
	void (*shutdown)(struct weft_conn *c);
	void (*destroy)(struct weft_conn *c);
} weft_mux_ops_t;

typedef struct weft_conn {
	weft_loop_t *loop;
	weft_io_t io;                /* fd watcher; inactive when fd < 0 */
	int fd;
	const weft_xprt_ops_t *xprt;
	void *xprt_ctx;              /* transport state (TLS session, fuzz input) */
	const weft_mux_ops_t *mux;
	void *mux_ctx;
	weft_buf_t out;              /* bytes accepted but not yet written */
	uint64_t last_write_ms;      /* last time bytes left through the transport */
	uint64_t bytes_in, bytes_out;
	bool eof;                    /* the transport reported EOF */
	char name[64];               /* log context: "xds c12 127.0.0.1:40000" */
} weft_conn_t;

/* A listening socket whose accepted fds go to on_accept (which owns them). */
typedef struct weft_listener {
	weft_loop_t *loop;
	weft_io_t io;
	int fd;
	void (*on_accept)(struct weft_listener *l, int fd, const struct sockaddr_storage *peer,
			  socklen_t peerlen);
	void *data;
	char addr[80];               /* as bound, "127.0.0.1:15010" */
	uint16_t port;               /* the bound port (useful with port 0) */
} weft_listener_t;

#endif
