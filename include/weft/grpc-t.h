/* weft — gRPC server over the HTTP/2 mux. Types only. */
#ifndef WEFT_GRPC_T_H
#define WEFT_GRPC_T_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "weft/buf-t.h"
#include "weft/h2-t.h"
#include "weft/net-t.h"

/* gRPC status codes used by weft. */
enum weft_grpc_status {
	WEFT_GRPC_OK = 0,
	WEFT_GRPC_CANCELLED = 1,
	WEFT_GRPC_UNKNOWN = 2,
	WEFT_GRPC_INVALID_ARGUMENT = 3,
	WEFT_GRPC_DEADLINE_EXCEEDED = 4,
	WEFT_GRPC_PERMISSION_DENIED = 7,
	WEFT_GRPC_RESOURCE_EXHAUSTED = 8,
	WEFT_GRPC_UNIMPLEMENTED = 12,
	WEFT_GRPC_INTERNAL = 13,
	WEFT_GRPC_UNAVAILABLE = 14,
	WEFT_GRPC_UNAUTHENTICATED = 16,
};

/* Splits a byte stream into length-prefixed gRPC messages. */
typedef struct weft_grpc_deframer {
	weft_buf_t in;        /* bytes of the message being assembled */
	size_t max_msg;       /* messages longer than this are refused */
} weft_grpc_deframer_t;

struct weft_grpc_call;
struct weft_grpc_server;

/* A method a service registers. path is "/package.Service/Method".
 * open:       a call started; set call->user. Return 0, or a gRPC status
 *             to refuse it (the call is then finished with that status).
 * message:    one complete request message. Return 0, or a gRPC status to
 *             finish the call with.
 * half_close: the client will send no more messages (may be NULL).
 * close:      the call is gone (finished, cancelled or disconnected);
 *             release call->user. Always called once when open succeeded. */
typedef struct weft_grpc_method {
	const char *path;
	void *ctx;
	int (*open)(struct weft_grpc_call *call);
	int (*message)(struct weft_grpc_call *call, const uint8_t *p, size_t n);
	void (*half_close)(struct weft_grpc_call *call);
	void (*close)(struct weft_grpc_call *call);
} weft_grpc_method_t;

typedef struct weft_grpc_call {
	weft_h2s_t *s;
	struct weft_grpc_server *srv;
	const weft_grpc_method_t *m;
	weft_grpc_deframer_t df;
	bool opened;          /* open() succeeded: close() is owed */
	bool finished;        /* status sent or queued */
	void *user;
	const char *name;     /* log context (the stream's) */
} weft_grpc_call_t;

typedef struct weft_grpc_opts {
	weft_h2_limits_t h2;
	size_t max_msg;       /* largest request message accepted (default 4 MiB) */
	size_t max_conns;     /* connections beyond this are refused (default 10000) */
	const char *log_name; /* prefix of connection names, e.g. "xds" */
} weft_grpc_opts_t;

#define WEFT_GRPC_MAX_METHODS 8

typedef struct weft_grpc_server {
	weft_loop_t *loop;
	weft_grpc_opts_t o;
	weft_listener_t lst;
	bool listening;
	weft_listener_t tls_lst;      /* the TLS listener (weft_grpc_server_listen_tls) */
	bool tls_listening;
	struct weft_tls_ctx *tls_ctx; /* borrowed: the server context of tls_lst */
	size_t nmethods;
	weft_grpc_method_t methods[WEFT_GRPC_MAX_METHODS];
	weft_h2c_t *conns;    /* every live connection */
	size_t nconns;
	uint64_t next_conn_id;
	uint64_t refused;     /* connections refused by max_conns */
} weft_grpc_server_t;

#endif
