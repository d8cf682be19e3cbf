/* weft — gRPC server: method table, message framing, calls. */
#ifndef WEFT_GRPC_H
#define WEFT_GRPC_H
#include <protobuf-c/protobuf-c.h>
#include "weft/grpc-t.h"
#include "weft/rc.h"
#include "weft/tls-t.h"

/* ---- framing (pure; unit tested) ---- */

/* Writes the 5-byte prefix of an uncompressed message of len bytes.
 * Returns WEFT_OK or WEFT_ELIMIT when len does not fit 32 bits. */
int weft_grpc_frame_prefix(uint8_t out[5], size_t len);

void weft_grpc_deframer_init(weft_grpc_deframer_t *d, size_t max_msg);
void weft_grpc_deframer_free(weft_grpc_deframer_t *d);

/* Feeds n bytes; calls on_msg(ctx, msg, len) for each complete message.
 * Returns WEFT_OK (all consumed, maybe a partial message kept),
 * WEFT_EPROTO: a compressed message (flag bit set) — we decode none;
 * WEFT_ELIMIT: a message longer than max_msg; WEFT_ENOMEM;
 * or a positive value returned by on_msg (which stops the feed). */
int weft_grpc_deframe(weft_grpc_deframer_t *d, const uint8_t *p, size_t n,
		      int (*on_msg)(void *ctx, const uint8_t *msg, size_t len), void *ctx);

/* Serializes m (on the stack up to 4 KiB, else on the heap) and hands the
 * bytes to send(ctx, bytes, len), the sending half of a server or client
 * call. Returns what send returned, or WEFT_ENOMEM. */
int weft_grpc_pack_send(const ProtobufCMessage *m,
			int (*send)(void *ctx, const void *p, size_t len), void *ctx);

/* Percent-encodes a grpc-message value (RFC 3986 unreserved-ish printable
 * ASCII except '%' is kept). Always NUL-terminates out. */
void weft_grpc_encode_message(const char *msg, char *out, size_t outlen);

/* ---- server ---- */

/* Fills o with defaults (see weft_grpc_opts_t). */
void weft_grpc_opts_default(weft_grpc_opts_t *o);

/* Initialises a server on loop (no socket yet). */
void weft_grpc_server_init(weft_grpc_server_t *srv, weft_loop_t *loop, const weft_grpc_opts_t *o);

/* Registers a method (copied). Returns WEFT_OK or WEFT_ELIMIT. */
int weft_grpc_server_add(weft_grpc_server_t *srv, const weft_grpc_method_t *m);

/* Listens on addr. Returns WEFT_OK or WEFT_EFAIL (errno set). */
int weft_grpc_server_listen(weft_grpc_server_t *srv, const char *addr);

/* Serves an already connected fd over transport x (the accept path, and
 * the fuzzer with a fake transport and fd -1). Returns the connection or
 * NULL (refused: the fd is closed). */
weft_h2c_t *weft_grpc_server_adopt(weft_grpc_server_t *srv, int fd, const weft_xprt_ops_t *x,
				   void *xctx, const char *peer);

/* Listens on addr for TLS connections: each accepted socket gets a
 * session of ctx (a server context, borrowed: it must outlive srv) and is
 * served with the same method table as the plaintext listener. Returns
 * WEFT_OK or WEFT_EFAIL (errno set). */
int weft_grpc_server_listen_tls(weft_grpc_server_t *srv, const char *addr, struct weft_tls_ctx *ctx);

/* Stops listening and sends GOAWAY on every connection (graceful). */
void weft_grpc_server_shutdown(weft_grpc_server_t *srv);

/* Closes every connection (their calls get close()) and the listener. */
void weft_grpc_server_destroy(weft_grpc_server_t *srv);

/* ---- calls ---- */

/* Sends one message (framed here). Response headers go first if not yet.
 * Returns WEFT_OK, WEFT_ECLOSED (call finished) or WEFT_ELIMIT (the
 * connection's output bound: it is being closed). */
int weft_grpc_send(weft_grpc_call_t *call, const void *msg, size_t len);

/* Serializes a protobuf-c message and sends it; as weft_grpc_send(), plus
 * WEFT_ENOMEM. */
int weft_grpc_send_pb(weft_grpc_call_t *call, const ProtobufCMessage *m);

/* The verified peer identity of the call's connection: TLS with a client
 * certificate that passed the server context's policy. NULL for plaintext
 * connections, a TLS peer without a certificate, or a finished call. */
const weft_spiffe_id_t *weft_grpc_call_peer(const weft_grpc_call_t *call);

/* True when the call arrived over TLS (whatever the peer presented). */
bool weft_grpc_call_is_tls(const weft_grpc_call_t *call);

/* Ends the call with grpc-status/grpc-message trailers (a trailers-only
 * response when nothing was sent). Returns WEFT_OK or WEFT_ECLOSED. */
int weft_grpc_finish(weft_grpc_call_t *call, int status, const char *msg);

#endif
