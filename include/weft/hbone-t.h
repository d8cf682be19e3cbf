/* weft — HBONE: TCP tunnelled in HTTP/2 CONNECT streams (DESIGN §4).
 * Types only. Implemented in src/proto/hbone.c (mux, both roles),
 * src/proto/hbone_pool.c (client connection pool) and
 * src/proto/authority.c (CONNECT authority and Forwarded parsing).
 *
 * A connection (weft_hbone_conn_t, "hc") is an nghttp2 session over a
 * weft_conn_t of any transport (TLS in production, raw TCP in tests).
 * Each tunnel is a stream (weft_hbone_stream_t, "hs"): request
 *   :method CONNECT, :authority <ip>:<port>, forwarded: for="<ip>"
 *   (HTTP/2 extended CONNECT is not used: no :scheme, no :path)
 * answered 200 (tunnel open, then DATA both ways until END_STREAM) or an
 * error status (400 bad/non-local destination, 401/403 refused by policy,
 * 503 destination unreachable). Byte flow is bounded both ways: received
 * DATA is only acknowledged to the peer (WINDOW_UPDATE) when the consumer
 * says it has written it on (weft_hbone_consumed), and sends beyond the
 * stream's send buffer bound are refused with WEFT_EAGAIN until
 * on_writable. */
#ifndef WEFT_HBONE_T_H
#define WEFT_HBONE_T_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include "weft/buf-t.h"
#include "weft/loop-t.h"
#include "weft/net-t.h"

struct weft_hbone_conn;
struct weft_hbone_stream;

/* The destination of a CONNECT, parsed and checked (authority.c). */
typedef struct weft_hbone_req {
	struct sockaddr_storage dst;   /* from :authority: IP literal and port only */
	socklen_t dstlen;
	bool has_for;                  /* a parsable forwarded: for= was present */
	struct sockaddr_storage src;   /* forwarded for= address (port 0 when absent) */
	socklen_t srclen;
	char authority[64];            /* as received (validated) */
	uint32_t flags;                /* WEFT_HBONE_F_* (server: what the CONNECT carried) */
} weft_hbone_req_t;

/* CONNECT flags. F_H2: "weft-proto: h2" — the tunnel carries HTTP/2
 * between two agents (the L7 path), not the application's own bytes. */
#define WEFT_HBONE_F_H2 1u

/* Per-stream callbacks (set by whoever owns the stream's other end).
 * on_response: client only; the CONNECT was answered. status 200 means the
 *              tunnel is open; anything else is followed by on_close.
 * on_data:     tunnel bytes from the peer. The consumer must later call
 *              weft_hbone_consumed(hs, n) for them (it may buffer them).
 * on_eof:      the peer half-closed (END_STREAM); no more on_data.
 * on_writable: the send buffer went below its low-water mark after a send
 *              returned WEFT_EAGAIN.
 * on_close:    the stream is gone (both sides ended, reset, or the
 *              connection died). err is the HTTP/2 error code (0 = clean).
 *              The stream is freed right after; never touch it again. */
typedef struct weft_hbone_stream_cbs {
	void (*on_response)(struct weft_hbone_stream *hs, int status);
	void (*on_data)(struct weft_hbone_stream *hs, const uint8_t *p, size_t n);
	void (*on_eof)(struct weft_hbone_stream *hs);
	void (*on_writable)(struct weft_hbone_stream *hs);
	void (*on_close)(struct weft_hbone_stream *hs, uint32_t err);
} weft_hbone_stream_cbs_t;

typedef struct weft_hbone_stream {
	struct weft_hbone_conn *hc;
	int32_t id;
	const weft_hbone_stream_cbs_t *cbs;
	void *ud;                      /* the owner's per-stream state */
	weft_hbone_req_t req;          /* server: the parsed request; client: what was sent */
	int status;                    /* response status (0 until answered) */
	weft_buf_t out;                /* bytes accepted for sending, waiting for window */
	size_t unconsumed;             /* received bytes not yet weft_hbone_consumed() */
	bool local_eof;                /* we sent END_STREAM */
	bool remote_eof;               /* the peer sent END_STREAM */
	bool want_writable;            /* a send returned EAGAIN: owe on_writable */
	bool deferred;                 /* the data provider is paused */
	bool closing;
	uint64_t bytes_in, bytes_out;
	uint32_t pflags;               /* private to hbone.c: header checks, owed callbacks */
	uint32_t hdr_bytes;            /* private to hbone.c: request header bytes seen */
	struct weft_hbone_stream *prev, *next;
} weft_hbone_stream_t;

/* Server-side callback: a CONNECT arrived on hc.
 * Return 200 to accept now (set hs->cbs/ud first), a 4xx/5xx status to
 * refuse (the response is sent and the stream closed; nothing else is
 * called), or 0 to decide later with weft_hbone_respond() (hs->cbs/ud
 * must be set before returning 0; on_close may come first if the peer
 * gives up). */
typedef int (*weft_hbone_on_connect_fn)(struct weft_hbone_conn *hc, weft_hbone_stream_t *hs);

/* Bounds. */
typedef struct weft_hbone_limits {
	uint32_t max_streams;          /* concurrent streams per connection (100) */
	uint32_t stream_window;        /* initial per-stream receive window (256 KiB) */
	uint32_t conn_window;          /* connection receive window (16 MiB) */
	size_t stream_out_max;         /* per-stream send buffer bound (256 KiB) */
	uint32_t handshake_ms;         /* the preface/first SETTINGS must arrive within this (10 s) */
	uint32_t idle_ms;              /* a connection with no streams this long is closed (client: pool idle) (60 s) */
} weft_hbone_limits_t;

typedef struct weft_hbone_conn {
	weft_conn_t conn;              /* conn.mux_ctx == this */
	struct nghttp2_session *sess;
	bool server;
	weft_hbone_limits_t lim;
	weft_hbone_on_connect_fn on_connect;   /* server */
	void *ud;                      /* owner context (the agent, a pool) */
	uint32_t nstreams;
	weft_hbone_stream_t *streams;
	bool ready;                    /* client: server SETTINGS seen */
	bool goaway;                   /* no new streams (sent or received) */
	bool dead;
	bool in_recv;
	bool kick_read;                /* the next kick must read (input may wait unannounced) */
	weft_timer_t timer;            /* handshake deadline, then idle */
	weft_timer_t kick;             /* deferred flush */
	weft_timer_t reap;             /* deferred close */
	uint64_t last_active_ms;
	/* owner hooks */
	void (*on_destroy)(struct weft_hbone_conn *hc);
	struct weft_hbone_conn *prev, *next;    /* owner lists (pool entries) */
	void *pool_entry;
	char name[96];                 /* log context */
} weft_hbone_conn_t;

struct weft_hbone_pool;

/* How the pool makes a connection for a key: dial (non-blocking), wrap in
 * the transport, return the pieces. Returns WEFT_OK with *fd, *x, *xctx set
 * (the pool then owns them), or WEFT_EFAIL. */
typedef int (*weft_hbone_dial_fn)(void *ud, const char *key, const void *dial_arg, int *fd,
				  const weft_xprt_ops_t **x, void **xctx);

/* A client pool: connections grouped by key (the agent uses
 * "<source identity>|<destination node address>|<destination identity>"),
 * each carrying up to max_streams; a new connection is dialled when all
 * connections of the key are full or closing. Idle connections close
 * after lim.idle_ms. */
typedef struct weft_hbone_pool {
	weft_loop_t *loop;
	weft_hbone_limits_t lim;
	weft_hbone_dial_fn dial;
	void *ud;
	void *entries;                 /* private: key -> connection list */
	size_t nconns;
	uint64_t dials, dial_failures;
} weft_hbone_pool_t;

#endif
