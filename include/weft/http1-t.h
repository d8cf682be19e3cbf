/* weft — strict HTTP/1.1 request parsing. Types only. */
#ifndef WEFT_HTTP1_T_H
#define WEFT_HTTP1_T_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "weft/str-t.h"

#define WEFT_H1_MAX_HEADERS 100

typedef struct weft_h1_hdr {
	weft_str_t name;        /* as received (compare case-insensitively) */
	weft_str_t value;       /* leading/trailing whitespace removed */
} weft_h1_hdr_t;

typedef struct weft_h1_limits {
	size_t max_line;        /* request line (414 beyond) */
	size_t max_head;        /* whole header block (431 beyond) */
	size_t max_headers;     /* header count (431 beyond), <= WEFT_H1_MAX_HEADERS */
} weft_h1_limits_t;

/* A parsed request head. Every string points into the parsed input. */
typedef struct weft_h1_req {
	weft_str_t method;
	weft_str_t target;      /* request-target as sent */
	weft_str_t path;        /* target before '?' */
	weft_str_t query;       /* after '?' (empty when none) */
	int minor;              /* HTTP/1.<minor>: 0 or 1 */
	size_t nhdrs;
	weft_h1_hdr_t hdrs[WEFT_H1_MAX_HEADERS];
	bool keep_alive;        /* from version and Connection */
	bool chunked;           /* Transfer-Encoding: chunked */
	bool has_length;
	uint64_t content_length;
	weft_str_t host;
} weft_h1_req_t;

/* How a message's body is delimited (RFC 9112 §6.3). */
typedef enum weft_h1_body {
	WEFT_H1_BODY_NONE = 0,  /* no body (1xx, 204, 304, a HEAD response, Content-Length: 0) */
	WEFT_H1_BODY_LENGTH,    /* content_length bytes */
	WEFT_H1_BODY_CHUNKED,   /* chunked transfer coding (weft_h1_chunked_*) */
	WEFT_H1_BODY_CLOSE,     /* until the server closes (responses only) */
} weft_h1_body_t;

/* A parsed response head (weft_h1_parse_response_head). Every string
 * points into the parsed input. */
typedef struct weft_h1_resp {
	int minor;              /* HTTP/1.<minor> */
	int status;             /* 100..999 */
	weft_str_t reason;
	size_t nhdrs;
	weft_h1_hdr_t hdrs[WEFT_H1_MAX_HEADERS];
	weft_h1_body_t body;
	uint64_t content_length;   /* WEFT_H1_BODY_LENGTH */
	bool has_length;        /* a Content-Length field was present */
	bool keep_alive;        /* the connection may carry another request after this one */
	bool upgrade;           /* 101 Switching Protocols */
} weft_h1_resp_t;

/* An incremental chunked-body decoder (weft_h1_chunked_*). */
typedef struct weft_h1_chunked {
	int state;
	uint64_t left;          /* bytes left in the current chunk */
	size_t ext;             /* bytes of chunk extension seen on this line */
} weft_h1_chunked_t;

/* What one weft_h1_chunked_step call produced. */
typedef struct weft_h1_chunk_out {
	weft_str_t data;        /* WEFT_H1_CK_DATA: decoded body bytes (inside the input) */
	weft_h1_hdr_t *trailers;    /* caller's array for trailer fields ... */
	size_t max_trailers;    /* ... its capacity ... */
	size_t ntrailers;       /* ... and how many WEFT_H1_CK_END filled */
} weft_h1_chunk_out_t;

#define WEFT_H1_CK_MORE 0       /* needs more input */
#define WEFT_H1_CK_DATA 1       /* out->data holds body bytes */
#define WEFT_H1_CK_END  2       /* the last chunk and the trailer section were read */

#endif
