/* weft — HBONE tunnels: server and client muxes, the client pool, and
 * CONNECT authority parsing. See weft/hbone-t.h. */
#ifndef WEFT_HBONE_H
#define WEFT_HBONE_H
#include "weft/hbone-t.h"
#include "weft/rc.h"

/* ---- parsing (src/proto/authority.c; pure, fuzzed) ---- */

/* Parses a CONNECT :authority "<ipv4>:<port>" or "[<ipv6>]:<port>" (no
 * names, no zone ids; the port is 1..65535 in decimal without sign or
 * leading zeros). Returns WEFT_OK or WEFT_EPROTO. */
int weft_hbone_parse_authority(const char *p, size_t len, struct sockaddr_storage *ss,
			       socklen_t *sslen);

/* Parses a Forwarded header value (RFC 7239) and takes the first element's
 * for= parameter when it is an IP literal (quoted "[v6]" or bare v4,
 * optional :port ignored). Returns WEFT_OK, or WEFT_EPROTO when malformed
 * or when for= is absent or not an IP ("unknown", obfuscated ids). */
int weft_hbone_parse_forwarded(const char *p, size_t len, struct sockaddr_storage *ss,
			       socklen_t *sslen);

/* ---- connections ---- */

void weft_hbone_limits_default(weft_hbone_limits_t *l);

/* Serves HBONE over fd with transport x (TLS: the peer is verified by the
 * transport before any byte reaches the mux). on_connect decides each
 * CONNECT. Returns the connection or NULL (the fd is closed through the
 * transport's close). */
weft_hbone_conn_t *weft_hbone_server_new(weft_loop_t *loop, int fd, const weft_xprt_ops_t *x,
					 void *xctx, const weft_hbone_limits_t *lim,
					 weft_hbone_on_connect_fn on_connect, void *ud,
					 const char *name);

/* A client connection over an fd that is connected or connecting
 * (non-blocking). Streams may be opened at once; they are sent when the
 * transport is ready. Returns the connection or NULL (fd closed). */
weft_hbone_conn_t *weft_hbone_client_new(weft_loop_t *loop, int fd, const weft_xprt_ops_t *x,
					 void *xctx, const weft_hbone_limits_t *lim, void *ud,
					 const char *name);

/* Opens a tunnel: CONNECT dst with forwarded for=src (src may be NULL).
 * cbs/ud are the stream owner's. Returns the stream, or NULL when the
 * connection is full, closing or out of memory. */
weft_hbone_stream_t *weft_hbone_open(weft_hbone_conn_t *hc, const struct sockaddr *dst,
				     const struct sockaddr *src,
				     const weft_hbone_stream_cbs_t *cbs, void *ud);

/* As weft_hbone_open, with flags: WEFT_HBONE_F_H2 adds the request
 * header "weft-proto: h2" (the tunnel carries HTTP/2 between agents, not
 * the application's bytes); the server sees it in hs->req.flags. */
weft_hbone_stream_t *weft_hbone_open_f(weft_hbone_conn_t *hc, const struct sockaddr *dst,
				       const struct sockaddr *src, uint32_t flags,
				       const weft_hbone_stream_cbs_t *cbs, void *ud);

/* Server: answers a CONNECT that on_connect deferred (returned 0). 200
 * opens the tunnel; other statuses end the stream. Returns WEFT_OK or
 * WEFT_ECLOSED (the stream is already gone/answered). */
int weft_hbone_respond(weft_hbone_stream_t *hs, int status);

/* Queues tunnel bytes. Returns n (all taken), WEFT_EAGAIN (the stream's
 * send buffer is full: nothing taken, on_writable will follow), or
 * WEFT_ECLOSED. Never takes part of the bytes. */
ssize_t weft_hbone_send(weft_hbone_stream_t *hs, const void *p, size_t n);

/* Ends our direction (END_STREAM after queued bytes). */
void weft_hbone_shutdown_write(weft_hbone_stream_t *hs);

/* The owner has passed n received bytes on: reopens the peer's window. */
void weft_hbone_consumed(weft_hbone_stream_t *hs, size_t n);

/* Resets the stream (RST_STREAM with err, e.g. NGHTTP2_CANCEL or
 * NGHTTP2_CONNECT_ERROR). on_close follows at the next loop turn, not
 * inside this call. */
void weft_hbone_reset(weft_hbone_stream_t *hs, uint32_t err);

/* Graceful: GOAWAY, finish current streams, then close. */
void weft_hbone_goaway(weft_hbone_conn_t *hc);

/* Closes now: every stream's on_close runs, then on_destroy, then memory
 * is freed. Never from inside a stream callback (use weft_hbone_kill). */
void weft_hbone_close(weft_hbone_conn_t *hc);
void weft_hbone_kill(weft_hbone_conn_t *hc, const char *why);

/* ---- client pool (src/proto/hbone_pool.c) ---- */

void weft_hbone_pool_init(weft_hbone_pool_t *p, weft_loop_t *loop, const weft_hbone_limits_t *lim,
			  weft_hbone_dial_fn dial, void *ud);

/* Opens a tunnel on a pooled connection for key (dialling a new one with
 * dial(ud, key, dial_arg, ...) when none has room). Returns the stream or
 * NULL (dial failed / no memory): the caller reports connect failure. */
weft_hbone_stream_t *weft_hbone_pool_open(weft_hbone_pool_t *p, const char *key,
					  const void *dial_arg, const struct sockaddr *dst,
					  const struct sockaddr *src,
					  const weft_hbone_stream_cbs_t *cbs, void *ud);

/* As weft_hbone_pool_open, with weft_hbone_open_f's flags. */
weft_hbone_stream_t *weft_hbone_pool_open_f(weft_hbone_pool_t *p, const char *key,
					    const void *dial_arg, const struct sockaddr *dst,
					    const struct sockaddr *src, uint32_t flags,
					    const weft_hbone_stream_cbs_t *cbs, void *ud);

/* Visits every pooled connection (for /config_dump and metrics). */
void weft_hbone_pool_each(weft_hbone_pool_t *p,
			  void (*fn)(void *arg, const char *key, const weft_hbone_conn_t *hc),
			  void *arg);

/* Closes every connection whose key starts with prefix (a rotated
 * credential: new tunnels get new connections; open streams finish first
 * when graceful is true). prefix "" = all. */
void weft_hbone_pool_drain(weft_hbone_pool_t *p, const char *prefix, bool graceful);

void weft_hbone_pool_destroy(weft_hbone_pool_t *p);

#endif
