/* weft — HTTP messages, codec connections and the HBONE-stream transport.
 * Types: weft/http-t.h. */
#ifndef WEFT_HTTP_H
#define WEFT_HTTP_H
#include "weft/hbone-t.h"
#include "weft/http-t.h"
#include "weft/rc.h"
#include "weft/str.h"

/* ---- messages (src/proto/http_msg.c) ---- */

void weft_http_limits_default(weft_http_limits_t *l);

/* Case-insensitive comparison of a field name with a lowercase C string.
 * Inline so that the lengths are compared first (a literal's length is a
 * constant): most fields a codec checks have another length. */
static inline bool weft_hdr_is(weft_str_t name, const char *lower)
{
	size_t n = __builtin_strlen(lower);

	return name.len == n && weft_str_ieq(name, (weft_str_t){ lower, n });
}

/* The first field named name (lowercase), or NULL. */
const weft_hdr_t *weft_http_hdr(const weft_http_head_t *h, const char *name);

/* Starts msg as a deep copy of src (every string copied into arena).
 * Returns WEFT_OK or WEFT_ENOMEM. */
int weft_hmsg_copy(weft_hmsg_t *msg, weft_arena_t *arena, const weft_http_head_t *src);

/* Starts an empty head in arena (ver HTTP/1.1, content_length -1). */
void weft_hmsg_init(weft_hmsg_t *msg, weft_arena_t *arena);

/* Field edits. name is lowercased on insertion. set replaces every field
 * of that name with one; add appends; remove drops every one. Strings are
 * copied into the arena. Return WEFT_OK or WEFT_ENOMEM. */
int weft_hmsg_set(weft_hmsg_t *msg, weft_str_t name, weft_str_t value);
int weft_hmsg_add(weft_hmsg_t *msg, weft_str_t name, weft_str_t value);
void weft_hmsg_remove(weft_hmsg_t *msg, weft_str_t name);
/* Sets one of the request/response strings (method, path, ...) to a copy
 * of v: weft_hmsg_str(msg, &msg->h.path, v). */
int weft_hmsg_str(weft_hmsg_t *msg, weft_str_t *field, weft_str_t v);

/* ---- codec connections ----
 * Each takes an fd (connected, or connecting for clients; -1 for a
 * transport that has no socket, such as an HBONE stream) and its
 * transport, like weft_hbone_server_new. On failure it returns NULL and
 * the fd/transport are closed. Names are log contexts. */

/* HTTP/1.x server (src/proto/h1codec.c): one request at a time per
 * connection (pipelined requests wait their turn), keep-alive, strict
 * parsing (weft/http1.h): a refused head is answered with its status and
 * the connection closed. Chunked and Content-Length bodies are decoded;
 * responses are framed as the peer can read them (chunked on HTTP/1.1
 * when the length is unknown, else close-delimited). An Upgrade request's
 * head is passed with head.upgrade set; the owner then either answers
 * normally or calls weft_h1_take_fd() to carry the connection as bytes. */
weft_hconn_t *weft_h1_server_new(weft_loop_t *loop, int fd, const weft_xprt_ops_t *x, void *xctx,
				 const weft_http_limits_t *lim, const weft_hconn_cbs_t *cbs,
				 void *ud, const char *name);

/* HTTP/1.1 client (h1codec.c): one stream at a time, keep-alive. */
weft_hconn_t *weft_h1_client_new(weft_loop_t *loop, int fd, const weft_xprt_ops_t *x, void *xctx,
				 const weft_http_limits_t *lim, const weft_hconn_cbs_t *cbs,
				 void *ud, const char *name);

/* Server, upgrade: takes the socket out of an HTTP/1 server connection
 * whose current request is an upgrade, with the bytes already read past
 * the request head (copied to *rest, *nrest; the caller frees *rest).
 * The connection is then freed without closing the fd (no callbacks).
 * Returns the fd or -1 (not an HTTP/1 server, or no upgrade pending). */
int weft_h1_take_fd(weft_hconn_t *hc, uint8_t **rest, size_t *nrest);

/* HTTP/2 (src/proto/h2codec.c, nghttp2). Server: expects the client
 * preface (h2c prior knowledge, or ALPN h2 under TLS). Client: sends the
 * preface. Both enforce lim (flow-control windows, concurrent streams,
 * header list size, the abuse bounds: rapid reset, CONTINUATION flood,
 * PING/SETTINGS flood without reads, HPACK bomb through max_head). */
weft_hconn_t *weft_h2_server_new(weft_loop_t *loop, int fd, const weft_xprt_ops_t *x, void *xctx,
				 const weft_http_limits_t *lim, const weft_hconn_cbs_t *cbs,
				 void *ud, const char *name);
weft_hconn_t *weft_h2_client_new(weft_loop_t *loop, int fd, const weft_xprt_ops_t *x, void *xctx,
				 const weft_http_limits_t *lim, const weft_hconn_cbs_t *cbs,
				 void *ud, const char *name);

/* "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" starts p[0..n)? Returns 1 yes, 0 no,
 * WEFT_EAGAIN when n is too short to tell. */
int weft_h2_sniff(const uint8_t *p, size_t n);

/* ---- a transport over an HBONE stream (src/proto/xprt_hbone.c) ----
 * Lets a codec run inside a tunnel (HTTP/2 between agents): recv takes the
 * stream's received bytes (and reopens the peer's window as it does), send
 * goes to weft_hbone_send, the tunnel's END_STREAM is EOF, and the
 * stream's events drive the connection's mux (on_io) the way socket
 * readiness would. The transport takes over hs->cbs/hs->ud; closing the
 * transport resets the stream if it is still open. Use with fd -1:
 *   xctx = weft_xprt_hbone_wrap(hs);
 *   hc = weft_h2_client_new(loop, -1, &weft_xprt_hbone, xctx, ...); */
extern const weft_xprt_ops_t weft_xprt_hbone;
void *weft_xprt_hbone_wrap(weft_hbone_stream_t *hs);
/* The stream under a weft_xprt_hbone connection (NULL once it closed). */
weft_hbone_stream_t *weft_xprt_hbone_stream(const weft_conn_t *c);

#endif
