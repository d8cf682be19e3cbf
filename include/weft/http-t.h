/* weft — protocol-neutral HTTP messages, streams and codec connections.
 * Types only.
 *
 * The agent's L7 data path never sees HTTP/1 or HTTP/2 wire formats: a
 * codec (src/proto/h1codec.c for HTTP/1.x, src/proto/h2codec.c for
 * HTTP/2 over nghttp2) turns a connection into streams, and each stream
 * into events carrying protocol-neutral heads, body bytes and trailers.
 * The proxy (src/agent/l7_*.c) joins a downstream stream (a server-role
 * codec: the application's request) to an upstream stream (a client-role
 * codec: towards another agent or the application) without knowing
 * which protocols the two ends speak.
 *
 *   fd -> transport (weft_xprt_ops_t: raw, TLS, an HBONE stream)
 *      -> codec connection (weft_hconn_t: h1 or h2, server or client)
 *         -> streams (weft_hstream_t), one request/response exchange each
 *
 * A server-role stream receives a request (on_head/on_data/on_trailers/
 * on_end) and sends a response (send_head/send_data/send_trailers). A
 * client-role stream is the mirror image. */
#ifndef WEFT_HTTP_T_H
#define WEFT_HTTP_T_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "weft/arena-t.h"
#include "weft/loop-t.h"
#include "weft/net-t.h"
#include "weft/str-t.h"

/* A header field. Names are lowercase (HTTP/1 codecs lowercase what they
 * receive); values are as received, without surrounding whitespace. */
typedef struct weft_hdr {
	weft_str_t name;
	weft_str_t value;
} weft_hdr_t;

/* The protocol a head arrived in or is to be sent in. */
typedef enum weft_http_ver {
	WEFT_HTTP_10 = 10,
	WEFT_HTTP_11 = 11,
	WEFT_HTTP_2 = 20,
} weft_http_ver_t;

/* A request or response head, protocol-neutral.
 *
 * Requests: method, scheme ("http" unless the peer said otherwise),
 * authority (HTTP/1 Host, HTTP/2 :authority; the codec refuses a request
 * whose two disagree), path (origin-form target including the query; "*"
 * for OPTIONS *). Responses: status.
 *
 * hdrs holds the regular fields only: never pseudo-headers, never the
 * connection-specific fields (connection, keep-alive, proxy-connection,
 * transfer-encoding, upgrade, te other than "trailers", host on HTTP/2
 * which becomes authority). Codecs drop those on receipt and generate what
 * their protocol needs on sending. content-length stays in hdrs when the
 * sender gave it; content_length mirrors it (-1: absent / unknown).
 *
 * upgrade: an HTTP/1.1 request with Connection: upgrade and an Upgrade
 * field (WebSocket); upgrade_proto is that field's value. The proxy does
 * not carry upgrades through HTTP/2 streams: it hands such connections to
 * the L4 path (see src/agent/l7_out.c). */
typedef struct weft_http_head {
	weft_http_ver_t ver;
	weft_str_t method;
	weft_str_t scheme;
	weft_str_t authority;
	weft_str_t path;
	int status;
	size_t nhdrs;
	weft_hdr_t *hdrs;
	int64_t content_length;
	bool upgrade;
	weft_str_t upgrade_proto;
} weft_http_head_t;

/* A head being built or edited by the proxy; its strings live in arena.
 * (src/proto/http_msg.c: weft_hmsg_*) */
typedef struct weft_hmsg {
	weft_http_head_t h;
	size_t cap;                  /* capacity of h.hdrs */
	weft_arena_t *arena;
} weft_hmsg_t;

/* Why a stream ended, for on_close and metrics. */
typedef enum weft_hs_err {
	WEFT_HS_OK = 0,              /* both messages complete */
	WEFT_HS_RESET,               /* the peer reset the stream (HTTP/2 RST_STREAM) */
	WEFT_HS_REFUSED,             /* the peer refused it before processing (REFUSED_STREAM, GOAWAY) */
	WEFT_HS_CONN_CLOSED,         /* the connection went away */
	WEFT_HS_PROTO,               /* a protocol error (malformed message) */
	WEFT_HS_TIMEOUT,             /* a codec deadline (idle, head) passed */
	WEFT_HS_CANCEL,              /* reset by our own side */
	WEFT_HS_CONNECT_FAILED,      /* client: the connection never came up */
} weft_hs_err_t;

struct weft_hstream;
struct weft_hconn;

/* Events for a stream's owner (set s->cbs and s->ud).
 * on_head:     the peer's head (server: the request; client: the final
 *              response; 1xx interim responses other than 101 are not
 *              passed). end: no body follows (the message is complete:
 *              on_end is not called). h and its strings are valid
 *              during the call only: copy what you keep.
 * on_data:     body bytes (decoded: no chunk framing). The owner must call
 *              ops->consumed(s, n) once it has passed them on; until then
 *              the peer's window (HTTP/2) or the codec's reading (HTTP/1)
 *              stays closed for them.
 * on_trailers: trailers (valid during the call), then on_end follows.
 * on_end:      the peer's message is complete.
 * on_writable: after send_data returned WEFT_EAGAIN, there is room again.
 * on_close:    the stream is finished or gone. err says why. Called from
 *              the loop, never from inside an ops call on the same stream.
 *              The stream is freed right after. */
typedef struct weft_hstream_cbs {
	void (*on_head)(struct weft_hstream *s, const weft_http_head_t *h, bool end);
	void (*on_data)(struct weft_hstream *s, const uint8_t *p, size_t n);
	void (*on_trailers)(struct weft_hstream *s, const weft_hdr_t *t, size_t n);
	void (*on_end)(struct weft_hstream *s);
	void (*on_writable)(struct weft_hstream *s);
	void (*on_close)(struct weft_hstream *s, weft_hs_err_t err);
} weft_hstream_cbs_t;

/* What a codec implements for its streams.
 * send_head:     our head (server: the response; client: the request).
 *                end: no body. Returns WEFT_OK, WEFT_EPROTO (the head
 *                cannot be sent: e.g. a request head on a server stream)
 *                or WEFT_ECLOSED.
 * send_data:     body bytes; end: last ones. Returns n (all taken),
 *                WEFT_EAGAIN (none taken: the stream's buffer is full;
 *                on_writable follows) or WEFT_ECLOSED. Never part.
 * send_trailers: ends our message with trailers (HTTP/1: a chunked body's
 *                trailer section, or dropped when the body is not chunked).
 * consumed:      n received body bytes were passed on.
 * reset:         abort the stream (HTTP/2 RST_STREAM; HTTP/1: close the
 *                connection). on_close follows from the loop. */
typedef struct weft_hstream_ops {
	int (*send_head)(struct weft_hstream *s, const weft_http_head_t *h, bool end);
	ssize_t (*send_data)(struct weft_hstream *s, const void *p, size_t n, bool end);
	int (*send_trailers)(struct weft_hstream *s, const weft_hdr_t *t, size_t n);
	void (*consumed)(struct weft_hstream *s, size_t n);
	void (*reset)(struct weft_hstream *s, weft_hs_err_t why);
} weft_hstream_ops_t;

typedef struct weft_hstream {
	const weft_hstream_ops_t *ops;
	struct weft_hconn *hc;
	const weft_hstream_cbs_t *cbs;
	void *ud;
	uint32_t id;                 /* HTTP/2 stream id; HTTP/1: request number on the connection */
	uint64_t bytes_in, bytes_out;   /* body bytes */
	void *priv;                  /* the codec's */
} weft_hstream_t;

/* Bounds for a codec connection; weft_http_limits_default() gives the
 * values in brackets. */
typedef struct weft_http_limits {
	size_t max_head;             /* a head's total bytes (HTTP/2: decoded header list) [16 KiB] */
	size_t max_line;             /* HTTP/1 request line [8 KiB] */
	size_t max_headers;          /* fields per head [64] */
	uint32_t max_streams;        /* HTTP/2 concurrent streams, each way [128] */
	uint32_t stream_window;      /* HTTP/2 per-stream receive window [256 KiB] */
	uint32_t conn_window;        /* HTTP/2 connection receive window [1 MiB] */
	size_t stream_out_max;       /* bytes queued per stream before send_data says EAGAIN [64 KiB] */
	size_t conn_out_max;         /* bytes queued on the socket; beyond it reading pauses [256 KiB] */
	uint32_t head_timeout_ms;    /* server: a request head must be complete within this [10 s] */
	uint32_t idle_ms;            /* no stream this long: close (server) / drop from pool (client) [60 s] */
	/* HTTP/2 abuse bounds (server and client): exceeding one sends GOAWAY
	 * ENHANCE_YOUR_CALM and closes the connection. */
	uint32_t max_resets_per_s;   /* peer RST_STREAMs (rapid reset) [200] */
	uint32_t max_control_per_s;  /* PING + SETTINGS + empty frames [200] */
	uint32_t max_continuations;  /* CONTINUATION frames per head [16] */
} weft_http_limits_t;

/* Codec connection callbacks for its owner.
 * on_stream: server role: a new request stream; set s->cbs/s->ud inside
 *            the call (a stream left without cbs is reset).
 * on_ready:  client role: the connection is up (HTTP/2 SETTINGS seen, or
 *            HTTP/1 connected); pooled requests may now flow.
 * on_idle:   a client connection finished its last stream and can take
 *            another (HTTP/1 keep-alive) — pools put it back.
 * on_close:  the connection is gone (every stream's on_close ran first). */
typedef struct weft_hconn_cbs {
	void (*on_stream)(struct weft_hconn *hc, weft_hstream_t *s);
	void (*on_ready)(struct weft_hconn *hc);
	void (*on_idle)(struct weft_hconn *hc);
	void (*on_close)(struct weft_hconn *hc);
} weft_hconn_cbs_t;

/* What every codec connection implements.
 * open:      client role: a new stream, or NULL when the connection cannot
 *            take one now (HTTP/1: a request in flight; HTTP/2: at the
 *            peer's concurrency limit, or closing). A stream may be opened
 *            before on_ready: its head is sent when the connection is up.
 * can_open:  whether open would succeed.
 * goaway:    stop taking new streams, finish current ones, then close.
 * close:     close now (every stream's on_close, then the connection's).
 *            Not from inside one of this connection's callbacks: use
 *            goaway, or reset the streams. */
typedef struct weft_hconn_ops {
	const char *name;            /* "h1" or "h2" */
	weft_hstream_t *(*open)(struct weft_hconn *hc, const weft_hstream_cbs_t *cbs, void *ud);
	bool (*can_open)(const struct weft_hconn *hc);
	void (*goaway)(struct weft_hconn *hc);
	void (*close)(struct weft_hconn *hc);
} weft_hconn_ops_t;

typedef struct weft_hconn {
	const weft_hconn_ops_t *ops;
	weft_conn_t conn;            /* socket + transport; conn.mux_ctx is the codec's */
	bool server;
	weft_http_ver_t ver;
	const weft_hconn_cbs_t *cbs;
	void *ud;                    /* owner (a pool, the agent) */
	uint32_t nstreams;           /* open streams */
	uint64_t nrequests;          /* streams ever opened */
	bool closing;
	/* owner's list links and key (pools) */
	struct weft_hconn *prev, *next;
	void *owner;
	char name[96];               /* log context */
} weft_hconn_t;

#endif
