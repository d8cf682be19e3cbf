/* weft — gRPC client over an HTTP/2 client session (nghttp2), for the
 * agent's calls to weft control (delta ADS, CA). Implemented in
 * src/proto/grpc_client.c. One weft_grpc_client_t is one HTTP/2
 * connection over a weft_conn_t of any transport; calls are streams. */
#ifndef WEFT_GRPC_CLIENT_H
#define WEFT_GRPC_CLIENT_H
#include <stdbool.h>
#include <protobuf-c/protobuf-c.h>
#include "weft/grpc-t.h"
#include "weft/loop-t.h"
#include "weft/net-t.h"
#include "weft/rc.h"

struct weft_grpc_client;
struct weft_grpc_ccall;

/* Per-call callbacks.
 * on_message: one response message (uncompressed); return 0, or <0 to
 *             cancel the call (on_status follows with CANCELLED).
 * on_status:  the call ended: grpc-status (a transport failure or reset
 *             is UNAVAILABLE, a local cancel CANCELLED) and grpc-message
 *             (decoded; may be ""). The call is freed right after. */
typedef struct weft_grpc_ccall_cbs {
	int (*on_message)(struct weft_grpc_ccall *call, const uint8_t *p, size_t n);
	void (*on_status)(struct weft_grpc_ccall *call, int status, const char *msg);
} weft_grpc_ccall_cbs_t;

typedef struct weft_grpc_ccall {
	struct weft_grpc_client *cl;
	int32_t id;
	const weft_grpc_ccall_cbs_t *cbs;
	void *ud;
	bool done;
	/* private to grpc_client.c */
	void *priv;
	struct weft_grpc_ccall *prev, *next;
} weft_grpc_ccall_t;

typedef struct weft_grpc_client {
	weft_conn_t conn;
	struct nghttp2_session *sess;
	size_t max_msg;               /* largest response message (default 64 MiB) */
	bool ready;                   /* the transport is up and SETTINGS exchanged */
	bool dead;
	bool in_recv;
	weft_grpc_ccall_t *calls;
	weft_timer_t kick, reap, ping;
	uint64_t ping_sent_ms;        /* keepalive: PING every ping_ms, dead after 2 missed */
	uint32_t ping_ms;             /* 0 = no keepalive (default 10000) */
	/* Called once when the connection is gone (after every call's
	 * on_status). The client is freed right after. */
	void (*on_closed)(struct weft_grpc_client *cl, const char *why);
	void *ud;
	char authority[128];
	char name[96];
	char why[96];                 /* why it is closing (given to on_closed) */
} weft_grpc_client_t;

/* A client over fd (connected or connecting, non-blocking) with transport
 * x/xctx. authority is the :authority sent. Returns the client or NULL (fd
 * closed through the transport). */
weft_grpc_client_t *weft_grpc_client_new(weft_loop_t *loop, int fd, const weft_xprt_ops_t *x,
					 void *xctx, const char *authority, const char *name,
					 void (*on_closed)(weft_grpc_client_t *, const char *), void *ud);

/* Starts a call to path ("/pkg.Service/Method"). timeout_ms > 0 sends
 * grpc-timeout and cancels the call locally when it passes (DEADLINE_EXCEEDED).
 * Returns the call or NULL (connection dead, no memory). */
weft_grpc_ccall_t *weft_grpc_call_start(weft_grpc_client_t *cl, const char *path,
					uint32_t timeout_ms, const weft_grpc_ccall_cbs_t *cbs, void *ud);

/* Sends one message of n raw bytes (framed here). Returns WEFT_OK,
 * WEFT_ECLOSED (call ended or half-closed), WEFT_ELIMIT (larger than 4 GiB)
 * or WEFT_ENOMEM. */
int weft_grpc_call_send(weft_grpc_ccall_t *call, const void *p, size_t n);

/* Sends one message (serialized and framed here). Returns WEFT_OK,
 * WEFT_ECLOSED or WEFT_ENOMEM. */
int weft_grpc_call_send_pb(weft_grpc_ccall_t *call, const ProtobufCMessage *m);

/* Half-closes (END_STREAM after queued messages). */
void weft_grpc_call_close_send(weft_grpc_ccall_t *call);

/* Cancels (RST_STREAM CANCEL); on_status(CANCELLED) follows at the next
 * loop turn. */
void weft_grpc_call_cancel(weft_grpc_ccall_t *call);

/* Closes the connection: every call ends UNAVAILABLE, then on_closed.
 * Safe from callbacks (deferred to the next loop turn). */
void weft_grpc_client_kill(weft_grpc_client_t *cl, const char *why);

#endif
