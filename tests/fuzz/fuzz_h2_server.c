/* Fuzzes the HTTP/2 + gRPC + ADS server: the input is what a client sends,
 * delivered through a fake transport in chunks (the first byte picks the
 * chunk size); output is discarded. Timers due at once (deferred flushes
 * and closes) run between chunks. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "weft/arena.h"
#include "weft/grpc.h"
#include "weft/h2.h"
#include "weft/log.h"
#include "weft/loop.h"
#include "weft/net.h"
#include "weft/str.h"
#include "weft/xds.h"
#include "weft/xds_server.h"
#include "fuzz_feed.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	weft_loop_t loop;
	weft_grpc_server_t g;
	weft_grpc_opts_t go;
	weft_xds_server_t x;
	weft_xds_server_opts_t xo;
	fuzz_feed_t f;
	weft_arena_t a;
	weft_xds_snapshot_t *s;

	if (size < 1)
		return 0;
	weft_log_set_level(WEFT_LOG_ERR);
	fuzz_feed_init(&f, data, size);
	weft_loop_init(&loop);
	weft_grpc_opts_default(&go);
	go.h2.max_pending = 1 << 16;
	go.max_msg = 1 << 16;
	weft_grpc_server_init(&g, &loop, &go);
	weft_xds_server_opts_default(&xo);
	xo.debounce_ms = 0;
	weft_xds_server_init(&x, &loop, NULL, &xo);
	weft_xds_server_register(&x, &g);
	weft_arena_init(&a, 0);
	s = weft_arena_alloc(&a, sizeof(*s));
	s->arena = a;
	s->generation = 1;
	s->refs = 1;
	s->types[WEFT_XDS_LDS].n = 1;
	s->types[WEFT_XDS_LDS].v = weft_arena_calloc(&s->arena, 1, sizeof(weft_xds_resource_t));
	s->types[WEFT_XDS_LDS].v[0] = (weft_xds_resource_t){ WEFT_STR_LIT("l"), WEFT_STR_LIT("v1"),
							     (const unsigned char *)"abc", 3 };
	weft_xds_server_set_snapshot(&x, s);
	weft_xds_snapshot_unref(s);

	weft_h2c_t *h2c = weft_grpc_server_adopt(&g, -1, &fuzz_feed_xprt, &f, "fuzz");
	for (int turns = 0; h2c && g.nconns && turns < 10000; turns++) {
		int rc = h2c->conn.mux->on_io(&h2c->conn, WEFT_IO_READ);
		if (rc < 0) {
			weft_h2c_close(h2c);
			break;
		}
		weft_loop_once(&loop, 0);
		if (f.n == 0)
			break;
	}
	weft_loop_once(&loop, 0);
	weft_grpc_server_shutdown(&g);
	weft_grpc_server_destroy(&g);
	weft_xds_server_destroy(&x);
	weft_loop_destroy(&loop);
	return 0;
}
