/* weft — strict HTTP/1.1 parser over (ptr, len) input. */
#ifndef WEFT_HTTP1_H
#define WEFT_HTTP1_H
#include "weft/http1-t.h"
#include "weft/rc.h"

/* 8 KiB line, 16 KiB head, 64 headers. */
void weft_h1_limits_default(weft_h1_limits_t *l);

/* Parses the request head at the start of p[0..n). Never reads past n and
 * never relies on NUL termination.
 * Returns the length of the head (request line + headers + empty line) on
 * success; WEFT_EAGAIN when more input is needed (nothing is wrong yet);
 * WEFT_EPROTO when the request is refused, with *status set to the HTTP
 * status to answer with:
 *   400 bare LF, CR not before LF, obs-fold, whitespace before ':', bad
 *       method/target/header characters, malformed version, bad or
 *       conflicting Content-Length, both Content-Length and
 *       Transfer-Encoding, missing or repeated Host in HTTP/1.1
 *   414 request line longer than max_line
 *   431 header block longer than max_head, or more than max_headers
 *   501 a Transfer-Encoding other than "chunked"
 *   505 an HTTP version other than 1.0 / 1.1 */
int weft_h1_parse_request(const char *p, size_t n, const weft_h1_limits_t *lim,
			  weft_h1_req_t *req, int *status);

/* The first header named name (case-insensitive), or NULL. */
const weft_h1_hdr_t *weft_h1_header(const weft_h1_req_t *req, const char *name);

/* Parses a response head (status line and headers) for simple clients.
 * Returns the head length, WEFT_EAGAIN or WEFT_EPROTO. Sets *status and
 * *content_length (-1 when absent). */
int weft_h1_parse_response(const char *p, size_t n, int *status, long long *content_length);

/* The reason phrase for a status ("Not Found"), "" when unknown. */
const char *weft_h1_reason(int status);

#endif
