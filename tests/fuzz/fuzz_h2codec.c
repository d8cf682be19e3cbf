/* Fuzzes the HTTP/2 server codec (src/proto/h2codec.c): the input is what
 * a client sends after the connection preface (the fuzzer puts the
 * preface in front), delivered through a fake transport in chunks (the
 * first byte picks the chunk size); output is discarded. Each request is
 * answered when it ends: 200 with its own body, then trailers when it had
 * some; every third stream is reset by the owner instead. Small limits
 * make the bounds (streams, head size, CONTINUATIONs, floods) reachable.
 * Timers due at once run between chunks. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "weft/http.h"
#include "weft/log.h"
#include "weft/loop.h"
#include "weft/net.h"
#include "fuzz_feed.h"

static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

typedef struct fs {
	int trailers;
	size_t body;
} fs_t;

static void f_head(weft_hstream_t *s, const weft_http_head_t *h, bool end) {}

static void f_data(weft_hstream_t *s, const uint8_t *p, size_t n)
{
	((fs_t *)s->ud)->body += n;
	s->ops->consumed(s, n);
}

static void f_trailers(weft_hstream_t *s, const weft_hdr_t *t, size_t n)
{
	((fs_t *)s->ud)->trailers = 1;
}

static void f_end(weft_hstream_t *s)
{
	fs_t *f = s->ud;
	weft_http_head_t h = { .ver = WEFT_HTTP_2, .status = 200, .content_length = -1 };
	weft_hdr_t t[1] = { { { "grpc-status", 11 }, { "0", 1 } } };
	static const uint8_t zeros[512];

	if (s->id % 3 == 0) {
		s->ops->reset(s, WEFT_HS_CANCEL);
		return;
	}
	if (s->ops->send_head(s, &h, false) != WEFT_OK)
		return;
	s->ops->send_data(s, zeros, f->body < sizeof(zeros) ? f->body : sizeof(zeros), !f->trailers);
	if (f->trailers)
		s->ops->send_trailers(s, t, 1);
}

static void f_writable(weft_hstream_t *s) {}

static void f_close(weft_hstream_t *s, weft_hs_err_t err) { free(s->ud); }

static const weft_hstream_cbs_t fcbs = { f_head, f_data, f_trailers, f_end, f_writable, f_close };

static void on_stream(weft_hconn_t *hc, weft_hstream_t *s)
{
	fs_t *f = calloc(1, sizeof(*f));

	if (!f)
		return;   /* left without cbs: the codec resets it */
	s->cbs = &fcbs;
	s->ud = f;
}

static void on_close(weft_hconn_t *hc) { *(bool *)hc->ud = true; }

static const weft_hconn_cbs_t ccbs = { on_stream, NULL, NULL, on_close };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	weft_loop_t loop;
	weft_http_limits_t lim;
	fuzz_feed_t feed;
	bool gone = false;
	weft_hconn_t *hc;
	uint8_t *in;

	if (size < 1)
		return 0;
	in = malloc(size + sizeof(preface) - 1);
	if (!in)
		return 0;
	in[0] = data[0];
	memcpy(in + 1, preface, sizeof(preface) - 1);
	memcpy(in + sizeof(preface), data + 1, size - 1);
	weft_log_set_level(WEFT_LOG_ERR);
	fuzz_feed_init(&feed, in, size + sizeof(preface) - 1);
	weft_loop_init(&loop);
	weft_http_limits_default(&lim);
	lim.max_streams = 8;
	lim.max_head = 2048;
	lim.max_headers = 16;
	lim.stream_out_max = 1024;
	lim.max_continuations = 4;
	lim.max_resets_per_s = 20;
	lim.max_control_per_s = 20;
	hc = weft_h2_server_new(&loop, -1, &fuzz_feed_xprt, &feed, &lim, &ccbs, &gone, "fuzz");
	if (!hc) {
		weft_loop_destroy(&loop);
		free(in);
		return 0;
	}
	for (int turns = 0; !gone && turns < 10000; turns++) {
		if (hc->conn.mux->on_io(&hc->conn, WEFT_IO_READ) < 0) {
			hc->ops->close(hc);
			break;
		}
		weft_loop_once(&loop, 0);
		if (gone || feed.n == 0)
			break;
	}
	if (!gone) {
		weft_loop_once(&loop, 0);
		if (!gone)
			hc->ops->close(hc);
	}
	weft_loop_destroy(&loop);
	free(in);
	return 0;
}
