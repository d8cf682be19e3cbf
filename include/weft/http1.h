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

/* Parses a response head at the start of p[0..n) for the client role,
 * with the request parser's strictness (bare LF, obs-fold, whitespace
 * before ':', control bytes are refused) and RFC 9112 §6.3 framing: no
 * body for 1xx, 204, 304 and responses to HEAD (head_req); 101 sets
 * upgrade; Transfer-Encoding must be exactly "chunked" (anything else, or
 * together with Content-Length, is refused: a proxy must not guess);
 * Content-Length duplicates must agree (identical ones are merged);
 * otherwise the body runs until close. lim->max_head bounds the head
 * (lim->max_line the status line), lim->max_headers the field count.
 * Returns the head length, WEFT_EAGAIN (incomplete, nothing wrong yet) or
 * WEFT_EPROTO (malformed or over a limit). */
int weft_h1_parse_response_head(const char *p, size_t n, const weft_h1_limits_t *lim,
				bool head_req, weft_h1_resp_t *resp);

/* Parses a block of field lines ending with an empty line (a trailer
 * section) at the start of p[0..n) into hdrs (capacity max). Returns the
 * block's length including the empty line, WEFT_EAGAIN (incomplete and
 * within max_bytes) or WEFT_EPROTO (malformed, more than max fields, or
 * longer than max_bytes). */
int weft_h1_parse_fields(const char *p, size_t n, size_t max_bytes, weft_h1_hdr_t *hdrs,
			 size_t max, size_t *nhdrs);

/* Starts a chunked decoder. */
void weft_h1_chunked_init(weft_h1_chunked_t *d);

/* Advances the decoder over p[0..n); *used is set to the bytes it took
 * (drop them from the input before the next call). At most max_data body
 * bytes are returned at once (0 stops at the next body byte: back-pressure).
 * Chunk sizes are hex, at most 2^60; extensions (";...") are skipped; every
 * line ends in CRLF exactly; the trailer section is parsed as fields (at
 * most max_trailer_bytes) into out->trailers.
 * Returns WEFT_H1_CK_DATA (out->data set), WEFT_H1_CK_MORE (took what it
 * could: call again with more input, or after consuming data),
 * WEFT_H1_CK_END (complete: out->ntrailers set; the trailers point into
 * p) or WEFT_EPROTO (malformed: size overflow, a bad digit, bare LF, a
 * missing CRLF after data, a malformed trailer). After END or EPROTO the
 * decoder stays there. */
int weft_h1_chunked_step(weft_h1_chunked_t *d, const char *p, size_t n, size_t max_data,
			 size_t max_trailer_bytes, size_t *used, weft_h1_chunk_out_t *out);

/* The reason phrase for a status ("Not Found"), "" when unknown. */
const char *weft_h1_reason(int status);

#endif
