/* Fuzzes the HTTP/1.x server codec (src/proto/h1codec.c): arbitrary bytes,
 * fed in chunks by the fake transport (fuzz_feed.h), must end in requests
 * delivered, refusals answered, or the connection closed, never a crash,
 * a leak or an over-read. The owner answers every request it gets and
 * consumes its body. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "fuzz_feed.h"
#include "weft/http.h"
#include "weft/log.h"
#include "weft/loop.h"

static weft_hconn_t *live;

static void f_head(weft_hstream_t *s, const weft_http_head_t *h, bool end)
{
	weft_http_head_t r = { .ver = WEFT_HTTP_11, .status = 200, .content_length = -1 };

	if (h->nhdrs && (h->hdrs[0].name.len == 0 ||
			 (h->hdrs[0].name.p[0] >= 'A' && h->hdrs[0].name.p[0] <= 'Z')))
		abort();   /* names are non-empty and lowercase */
	if (s->ops->send_head(s, &r, false) == WEFT_OK)
		s->ops->send_data(s, "x", 1, end);
}

static void f_data(weft_hstream_t *s, const uint8_t *p, size_t n)
{
	s->ops->consumed(s, n);
}

static void f_end(weft_hstream_t *s)
{
	s->ops->send_data(s, NULL, 0, true);
}

static const weft_hstream_cbs_t scbs = { f_head, f_data, NULL, f_end, NULL, NULL };

static void f_stream(weft_hconn_t *hc, weft_hstream_t *s) { s->cbs = &scbs; }
static void f_close(weft_hconn_t *hc) { live = NULL; }
static const weft_hconn_cbs_t hcbs = { f_stream, NULL, NULL, f_close };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool init;
	weft_loop_t loop;
	weft_http_limits_t lim;
	fuzz_feed_t feed;

	if (size < 1)
		return 0;
	if (!init) {
		weft_log_set_level(WEFT_LOG_ERR + 1);
		init = true;
	}
	if (weft_loop_init(&loop) < 0)
		return 0;
	weft_http_limits_default(&lim);
	lim.max_head = 4096;
	lim.max_line = 1024;
	lim.max_headers = 16;
	lim.stream_window = 512;   /* exercise the flow-control pause */
	fuzz_feed_init(&feed, data, size);
	live = weft_h1_server_new(&loop, -1, &fuzz_feed_xprt, &feed, &lim, &hcbs, NULL, "fuzz");
	for (int i = 0; live && i < 64 && (feed.n || i < 4); i++) {
		weft_conn_t *c = &live->conn;
		if (c->mux && c->mux->on_io(c, WEFT_IO_READ) < 0)
			weft_conn_close(c);
		weft_loop_once(&loop, 0);
	}
	if (live)
		live->ops->close(live);
	weft_loop_destroy(&loop);
	return 0;
}
