/* weft — HTTP/2 server mux over nghttp2: connections (h2c) and streams
 * (h2s). Types only. */
#ifndef WEFT_H2_T_H
#define WEFT_H2_T_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "weft/buf-t.h"
#include "weft/loop-t.h"
#include "weft/net-t.h"
#include "weft/str-t.h"

struct nghttp2_session;
struct weft_h2c;
struct weft_h2s;

/* Bounds that keep one connection's resources finite. */
typedef struct weft_h2_limits {
	size_t max_pending;      /* output bytes queued per connection; beyond: disconnect */
	uint32_t preface_ms;     /* the client preface must arrive within this */
	uint32_t stall_ms;       /* pending output making no progress this long: disconnect */
	uint32_t max_streams;    /* SETTINGS_MAX_CONCURRENT_STREAMS */
	size_t max_header_bytes; /* a request's :path and content-type */
} weft_h2_limits_t;

/* The stream layer above the mux (the gRPC server). Each callback gets the
 * stream; handler context is s->h2c->hctx.
 * on_request: request headers are complete. Return 0, or <0 to reset the
 *             stream (the handler may also have responded already).
 * on_data:    request body bytes. Return 0, or <0 to reset the stream.
 * on_end:     the client half-closed (END_STREAM).
 * on_close:   the stream is gone (finished, reset or connection closed);
 *             release s->app here. s is freed right after. */
typedef struct weft_h2_handler {
	int (*on_request)(struct weft_h2s *s);
	int (*on_data)(struct weft_h2s *s, const uint8_t *p, size_t n);
	void (*on_end)(struct weft_h2s *s);
	void (*on_close)(struct weft_h2s *s);
} weft_h2_handler_t;

typedef struct weft_h2_hdr {
	const char *name;
	const char *value;
} weft_h2_hdr_t;

typedef struct weft_h2s {
	struct weft_h2c *h2c;
	int32_t id;
	char method[16];
	char path[256];
	char ctype[128];
	bool hdr_too_long;           /* a header did not fit: request is refused */
	bool responded;              /* response HEADERS submitted */
	bool finishing;              /* trailers queued after the body */
	bool deferred;               /* the data provider is waiting for data */
	bool ended;                  /* our side is complete */
	weft_buf_t out;              /* body bytes waiting for flow control */
	weft_buf_t trailers;         /* "name\0value\0" pairs, sent after out drains */
	size_t ntrailers;
	void *app;                   /* the handler's per-stream state */
	struct weft_h2s *prev, *next;
	char name[96];               /* log context: "<conn name> s<id>" */
} weft_h2s_t;

typedef struct weft_h2c {
	weft_conn_t conn;            /* socket + transport; c->mux_ctx == this */
	struct nghttp2_session *sess;
	const weft_h2_handler_t *h;
	void *hctx;
	weft_h2_limits_t lim;
	size_t stream_bytes;         /* sum of every stream's queued output */
	weft_timer_t timer;          /* preface deadline, then stall watchdog */
	weft_timer_t reap;           /* deferred close (0 ms) */
	weft_timer_t kick;           /* deferred flush (0 ms): no re-entry into nghttp2 */
	uint64_t stall_since;
	bool preface_ok;
	bool in_recv;                /* inside nghttp2_session_mem_recv */
	bool dead;                   /* closing: reap pending */
	bool goaway;                 /* GOAWAY submitted */
	uint64_t id;
	size_t nstreams;
	weft_h2s_t *streams;
	/* owner hooks: owner list links and a callback run at destroy */
	struct weft_h2c *prev, *next;
	void (*on_destroy)(struct weft_h2c *h2c);
	void *owner;
} weft_h2c_t;

#endif
