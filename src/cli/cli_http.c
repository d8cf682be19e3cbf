/* weft — the CLI's HTTP GET for admin endpoints (src/cli/cli_http.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include "cli_http.h"
#include "weft/buf.h"
#include "weft/http1.h"
#include "weft/net.h"

int weft_cli_http_get(const char *who, const char *addr, const char *path, weft_buf_t *body)
{
	weft_buf_t in;
	char req[512];
	int fd, status = -1, n;
	long long clen;
	struct timeval tv = { 5, 0 };

	fd = weft_net_connect(addr, 3000);
	if (fd < 0) {
		fprintf(stderr, "weft %s: cannot connect to %s: %s\n", who, addr, strerror(errno));
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n"
		     "User-Agent: weft-%s\r\n\r\n", path, addr, who);
	if (n < 0 || (size_t)n >= sizeof(req) || send(fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
		fprintf(stderr, "weft %s: %s: send failed\n", who, addr);
		close(fd);
		return -1;
	}
	weft_buf_init(&in, 64u << 20);
	for (;;) {
		ssize_t r;
		if (weft_buf_reserve(&in, 65536) < 0)
			break;
		r = recv(fd, in.data + in.wr, in.cap - in.wr, 0);
		if (r <= 0)
			break;
		in.wr += (size_t)r;
	}
	close(fd);
	n = weft_h1_parse_response((const char *)weft_buf_head(&in), weft_buf_len(&in), &status, &clen);
	if (n < 0) {
		fprintf(stderr, "weft %s: %s%s: bad or truncated HTTP response\n", who, addr, path);
		status = -1;
	} else {
		size_t blen = weft_buf_len(&in) - (size_t)n;
		if (clen >= 0 && (size_t)clen < blen)
			blen = (size_t)clen;
		weft_buf_append(body, weft_buf_head(&in) + n, blen);
	}
	weft_buf_free(&in);
	return status;
}
