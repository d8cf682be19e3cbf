/* Fuzzes the ADS request handler: the input is fed as a DiscoveryRequest
 * to a SotW client and as a DeltaDiscoveryRequest to a delta client of a
 * server holding a small snapshot; then a new snapshot is pushed to both. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "weft/arena.h"
#include "weft/buf.h"
#include "weft/loop.h"
#include "weft/metrics.h"
#include "weft/str.h"
#include "weft/xds.h"
#include "weft/xds_server.h"

static weft_xds_snapshot_t *snap(uint64_t gen, const char *v)
{
	weft_arena_t a;
	weft_xds_snapshot_t *s;
	static const char *const names[] = { "a", "b", "c" };

	weft_arena_init(&a, 0);
	s = weft_arena_alloc(&a, sizeof(*s));
	s->arena = a;
	s->generation = gen;
	s->refs = 1;
	for (int t = 0; t < WEFT_XDS_NTYPES; t++) {
		s->types[t].n = 3;
		s->types[t].v = weft_arena_calloc(&s->arena, 3, sizeof(weft_xds_resource_t));
		for (int i = 0; i < 3; i++) {
			weft_xds_resource_t *r = &s->types[t].v[i];
			r->name = weft_str_c(names[i]);
			r->version = weft_str_c(i == 1 ? v : "1");
			r->bytes = (const unsigned char *)"x";
			r->len = 1;
		}
	}
	return s;
}

static int sink(void *ctx, const ProtobufCMessage *m)
{
	size_t *total = ctx;

	*total += protobuf_c_message_get_packed_size(m);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	weft_loop_t loop;
	weft_metrics_t metrics;
	weft_xds_server_t srv;
	weft_xds_server_opts_t o;
	weft_xds_snapshot_t *s;
	size_t total = 0;

	weft_loop_init(&loop);
	weft_metrics_init(&metrics);
	weft_xds_server_opts_default(&o);
	o.debounce_ms = 0;
	o.max_names = 1000;
	weft_xds_server_init(&srv, &loop, &metrics, &o);
	s = snap(1, "1");
	weft_xds_server_set_snapshot(&srv, s);
	weft_xds_snapshot_unref(s);
	weft_xds_client_t *c1 = weft_xds_client_new(&srv, false, sink, &total, "fuzz sotw");
	weft_xds_client_t *c2 = weft_xds_client_new(&srv, true, sink, &total, "fuzz delta");
	weft_xds_client_request(c1, data, size);
	weft_xds_client_request(c2, data, size);
	weft_xds_client_request(c1, data, size);
	weft_xds_client_request(c2, data, size);
	s = snap(2, "2");
	weft_xds_server_set_snapshot(&srv, s);
	weft_xds_snapshot_unref(s);
	weft_buf_t out;
	weft_buf_init(&out, 0);
	weft_xds_server_debug_json(&srv, &out);
	weft_xds_server_debug_text(&srv, &out);
	weft_buf_free(&out);
	weft_xds_server_destroy(&srv);
	weft_metrics_free(&metrics);
	weft_loop_destroy(&loop);
	return 0;
}
