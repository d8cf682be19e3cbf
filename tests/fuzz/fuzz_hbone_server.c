/* Fuzzes the HBONE server mux (src/proto/hbone.c): the input is what a
 * client sends, delivered through a fake transport in chunks (the first
 * byte picks the chunk size); output is discarded. on_connect accepts
 * most authorities (tunnels echo their bytes and half-close back), refuses
 * port 3000 with 503 and defers port 2000 (answered 200 or 503 a few turns
 * later). Timers due at once run between chunks. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "weft/hbone.h"
#include "weft/log.h"
#include "weft/loop.h"
#include "weft/net.h"
#include "fuzz_feed.h"

typedef struct fake {
	fuzz_feed_t feed;   /* first: the transport's context is the fake */
	weft_hbone_stream_t *deferred[8];
	int turn;
} fake_t;

static void s_data(weft_hbone_stream_t *hs, const uint8_t *p, size_t n)
{
	weft_hbone_send(hs, p, n);   /* EAGAIN: dropped, fine for the fuzzer */
	weft_hbone_consumed(hs, n);
}

static void s_eof(weft_hbone_stream_t *hs) { weft_hbone_shutdown_write(hs); }

static void s_close(weft_hbone_stream_t *hs, uint32_t err)
{
	fake_t *f = hs->ud;

	for (int i = 0; i < 8; i++)
		if (f->deferred[i] == hs)
			f->deferred[i] = NULL;
}

static const weft_hbone_stream_cbs_t scbs = { NULL, s_data, s_eof, NULL, s_close };

static int on_connect(weft_hbone_conn_t *hc, weft_hbone_stream_t *hs)
{
	fake_t *f = hc->conn.xprt_ctx;
	uint16_t port = hs->req.dst.ss_family == AF_INET
				? ntohs(((struct sockaddr_in *)&hs->req.dst)->sin_port)
				: ntohs(((struct sockaddr_in6 *)&hs->req.dst)->sin6_port);

	if (port == 3000)
		return 503;
	hs->cbs = &scbs;
	hs->ud = f;
	if (port == 2000) {
		for (int i = 0; i < 8; i++)
			if (!f->deferred[i]) {
				f->deferred[i] = hs;
				return 0;
			}
		return 503;
	}
	return 200;
}

static void destroyed(weft_hbone_conn_t *hc) { *(bool *)hc->ud = true; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	weft_loop_t loop;
	weft_hbone_limits_t lim;
	fake_t f;
	bool gone = false;
	weft_hbone_conn_t *hc;

	if (size < 1)
		return 0;
	weft_log_set_level(WEFT_LOG_ERR);
	memset(&f, 0, sizeof(f));
	fuzz_feed_init(&f.feed, data, size);
	weft_loop_init(&loop);
	weft_hbone_limits_default(&lim);
	lim.max_streams = 16;
	lim.stream_out_max = 4096;
	hc = weft_hbone_server_new(&loop, -1, &fuzz_feed_xprt, &f, &lim, on_connect, &gone, "fuzz");
	if (!hc) {
		weft_loop_destroy(&loop);
		return 0;
	}
	hc->on_destroy = destroyed;
	for (int turns = 0; !gone && turns < 10000; turns++) {
		if (hc->conn.mux->on_io(&hc->conn, WEFT_IO_READ) < 0) {
			weft_hbone_close(hc);
			break;
		}
		weft_loop_once(&loop, 0);
		if (gone)
			break;
		if (++f.turn % 3 == 0)
			for (int i = 0; i < 8; i++)
				if (f.deferred[i]) {
					weft_hbone_stream_t *hs = f.deferred[i];
					f.deferred[i] = NULL;
					weft_hbone_respond(hs, (f.turn / 3) % 2 ? 200 : 503);
				}
		if (f.feed.n == 0)
			break;
	}
	if (!gone) {
		weft_loop_once(&loop, 0);
		if (!gone)
			weft_hbone_close(hc);
	}
	weft_loop_destroy(&loop);
	return 0;
}
