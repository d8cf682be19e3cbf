/* weft — the admin HTTP/1.1 server (health, metrics, debug). Types only. */
#ifndef WEFT_ADMIN_T_H
#define WEFT_ADMIN_T_H
#include <stdbool.h>
#include <stddef.h>
#include "weft/buf-t.h"
#include "weft/http1-t.h"
#include "weft/net-t.h"

struct weft_h1c;

/* What a handler sees of a request. */
typedef struct weft_admin_req {
	weft_str_t method;
	weft_str_t path;
	weft_str_t query;
	const weft_h1_req_t *h1;
} weft_admin_req_t;

/* A route handler: writes the body into body, may set *ctype (default
 * "text/plain; charset=utf-8"), returns the HTTP status. */
typedef int (*weft_admin_handler)(const weft_admin_req_t *req, weft_buf_t *body,
				  const char **ctype, void *ctx);

/* A streaming response (chunked, kept open): the connection serving it.
 * Fed with weft_admin_stream_write(), ended by weft_admin_stream_end() or
 * by the client going away (then its on_close callback runs). */
typedef struct weft_h1c weft_admin_stream_t;

/* A streaming route handler (GET only): returns 200 to keep the response
 * open as a chunked stream of ctype (the handler keeps s and feeds it
 * later; it may write the first lines before returning), or another
 * status to answer at once with body as a complete response. */
typedef int (*weft_admin_stream_handler)(const weft_admin_req_t *req, weft_admin_stream_t *s,
					 weft_buf_t *body, const char **ctype, void *ctx);

typedef struct weft_admin_route {
	char path[64];
	weft_admin_handler fn;
	weft_admin_stream_handler sfn;   /* set instead of fn for streaming routes */
	void *ctx;
} weft_admin_route_t;

#define WEFT_ADMIN_MAX_ROUTES 32

typedef struct weft_admin {
	weft_loop_t *loop;
	weft_listener_t lst;
	bool listening;
	weft_h1_limits_t lim;
	size_t nroutes;
	weft_admin_route_t routes[WEFT_ADMIN_MAX_ROUTES];
	struct weft_h1c *conns;
	size_t nconns, max_conns;
	uint32_t idle_ms;          /* keep-alive idle and request-head timeout */
	uint64_t next_id;
} weft_admin_t;

#endif
