/* weft — the agent's data-path plumbing: network namespaces, the in-pod
 * nftables capture rules and the byte relay. Types only. Implemented in
 * src/agent/netns.c, src/agent/nft.c and src/agent/relay.c; used by
 * capture.c, outbound.c and inbound.c (see weft/agent-t.h for the map). */
#ifndef WEFT_CAPTURE_T_H
#define WEFT_CAPTURE_T_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "weft/buf-t.h"
#include "weft/loop-t.h"

/* ---- network namespaces (netns.c) ---- */

/* One opened namespace (an O_RDONLY|O_CLOEXEC fd on its path), shared by
 * everyone who opened the same path. */
typedef struct weft_netns {
	struct weft_netns *next;
	char *path;
	int fd;
	unsigned refs;
} weft_netns_t;

/* The namespaces a process has open, and the way back to its own: the
 * agent keeps one of these in its state (never a global). */
typedef struct weft_netns_set {
	int self_fd;                 /* the process's own netns (setns back to it) */
	weft_netns_t *head;
	uint64_t switches;           /* setns pairs done (for /metrics and tests) */
} weft_netns_set_t;

/* ---- nftables capture rules (nft.c) ---- */

typedef struct weft_nft_opts {
	uint32_t mark;               /* packets with this mark are never captured */
	uint16_t outbound_port;      /* 15001 */
	uint16_t inbound_port;       /* 15006 */
	uint16_t hbone_port;         /* 15008: left alone on the way in */
	const char *nft_bin;         /* NULL: the first of /usr/sbin/nft, /sbin/nft, /usr/bin/nft */
} weft_nft_opts_t;

/* ---- the byte relay (relay.c) ---- */

struct weft_relay;

/* An end that is not a plain socket (an HBONE stream). Its owner pushes
 * bytes in with weft_relay_push() and reports EOF/close/writable; the relay
 * calls these to move bytes the other way.
 * send:           takes bytes headed to this end's peer. Returns n (all or
 *                 part of them, > 0), WEFT_EAGAIN (nothing taken; the owner
 *                 calls weft_relay_writable() later), or WEFT_ECLOSED /
 *                 WEFT_EFAIL (the end is gone: the relay resets the other).
 * consumed:       n bytes this end pushed were written on (reopen the window).
 * shutdown_write: no more bytes to this end (FIN -> END_STREAM).
 * close:          the relay is done with this end: reset true means abort
 *                 (RST_STREAM), false means it ended cleanly. Never called
 *                 after the owner reported weft_relay_closed() for it. */
typedef struct weft_relay_end_ops {
	const char *kind;
	ssize_t (*send)(void *ctx, const void *p, size_t n);
	void (*consumed)(void *ctx, size_t n);
	void (*shutdown_write)(void *ctx);
	void (*close)(void *ctx, bool reset);
} weft_relay_end_ops_t;

/* One side of a relay. `in` holds bytes read from this side that still
 * have to be written to the other one. */
typedef struct weft_relay_side {
	struct weft_relay *r;
	int fd;                      /* socket end; -1 for an external end */
	weft_io_t io;
	const weft_relay_end_ops_t *ops;   /* external end */
	void *ctx;
	weft_buf_t in;
	bool rd_eof;                 /* this side sent FIN / END_STREAM */
	bool wr_shut;                /* we shut down writing to this side */
	bool wr_blocked;             /* the last write to this side would block */
	bool rd_ready;               /* socket: may hold input (epoll said readable, or
				      * no read has come back short or EAGAIN since) */
	bool gone;                   /* this side is closed (by us or by its owner) */
	bool reset;                  /* it went away by reset / error */
	uint64_t bytes_in;           /* read from this side */
	uint64_t bytes_out;          /* written to this side */
} weft_relay_side_t;

typedef enum weft_relay_end_how {
	WEFT_RELAY_CLEAN = 0,        /* both directions finished with FIN */
	WEFT_RELAY_RESET,            /* a side reset / failed; the other was reset too */
	WEFT_RELAY_ABORTED,          /* weft_relay_abort() by the owner (policy) */
} weft_relay_end_how_t;

/* A bidirectional relay between side 0 and side 1. Embed it in the owning
 * connection; on_done runs once (at the end of the loop turn in which the
 * relay finished), after which the owner may free it. */
typedef struct weft_relay {
	weft_loop_t *loop;
	weft_relay_side_t s[2];
	size_t bufmax;               /* per direction, for socket sources (64 KiB) */
	bool started;                /* weft_relay_start() ran: bytes move */
	bool done;
	weft_relay_end_how_t how;
	int err;                     /* errno of the failure that ended it, or 0 */
	weft_timer_t fin;            /* runs on_done outside the I/O callbacks */
	void (*on_done)(struct weft_relay *r);
	void *ud;
} weft_relay_t;

#endif
