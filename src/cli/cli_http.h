/* weft — the CLI's small HTTP client for admin endpoints (weft status,
 * weft top). Private to src/cli/. */
#ifndef WEFT_CLI_HTTP_H
#define WEFT_CLI_HTTP_H
#include "weft/buf-t.h"

/* GETs path from addr over HTTP/1.1 (Connection: close; 3 s to connect,
 * 5 s per read) and appends the response body (as framed by
 * Content-Length, or up to EOF) to body. Returns the HTTP status, or -1
 * with a message on stderr that starts with "weft <who>: ". */
int weft_cli_http_get(const char *who, const char *addr, const char *path, weft_buf_t *body);

#endif
