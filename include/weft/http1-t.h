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

#endif
