/* Unit tests for gRPC message framing (src/proto/grpc_frame.c) and the
 * address parser (src/net/sock.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include "weft/grpc.h"
#include "weft/net.h"

typedef struct got {
	int n;
	size_t len[16];
	uint8_t first[16];
	int stop_at;
} got_t;

static int on_msg(void *ctx, const uint8_t *m, size_t len)
{
	got_t *g = ctx;

	g->len[g->n] = len;
	g->first[g->n] = len ? m[0] : 0;
	g->n++;
	return g->n == g->stop_at ? 7 : 0;
}

static size_t frame(uint8_t *out, uint8_t flag, const char *body, size_t len)
{
	weft_grpc_frame_prefix(out, len);
	out[0] = flag;
	memcpy(out + 5, body, len);
	return len + 5;
}

static void test_deframe_whole_and_split(void **st)
{
	uint8_t buf[256];
	size_t n = 0;
	weft_grpc_deframer_t d;
	got_t g = { 0 };

	n += frame(buf + n, 0, "abc", 3);
	n += frame(buf + n, 0, "", 0);
	n += frame(buf + n, 0, "hello world", 11);
	weft_grpc_deframer_init(&d, 100);
	assert_int_equal(weft_grpc_deframe(&d, buf, n, on_msg, &g), 0);
	assert_int_equal(g.n, 3);
	assert_int_equal(g.len[0], 3);
	assert_int_equal(g.len[1], 0);
	assert_int_equal(g.len[2], 11);
	assert_int_equal(g.first[2], 'h');
	/* byte by byte gives the same */
	memset(&g, 0, sizeof(g));
	for (size_t i = 0; i < n; i++)
		assert_int_equal(weft_grpc_deframe(&d, buf + i, 1, on_msg, &g), 0);
	assert_int_equal(g.n, 3);
	assert_int_equal(g.len[2], 11);
	assert_int_equal(g.first[0], 'a');
	weft_grpc_deframer_free(&d);
}

static void test_deframe_errors(void **st)
{
	uint8_t buf[256];
	weft_grpc_deframer_t d;
	got_t g = { 0 };
	size_t n;

	weft_grpc_deframer_init(&d, 8);
	n = frame(buf, 1, "zz", 2);   /* compressed */
	assert_int_equal(weft_grpc_deframe(&d, buf, n, on_msg, &g), WEFT_EPROTO);
	weft_grpc_deframer_free(&d);

	weft_grpc_deframer_init(&d, 8);
	n = frame(buf, 0, "0123456789", 10);   /* too long: refused from the prefix alone */
	assert_int_equal(weft_grpc_deframe(&d, buf, 5, on_msg, &g), WEFT_ELIMIT);
	weft_grpc_deframer_free(&d);

	weft_grpc_deframer_init(&d, 8);
	n = frame(buf, 0x80, "a", 1);   /* reserved flag bits */
	assert_int_equal(weft_grpc_deframe(&d, buf, n, on_msg, &g), WEFT_EPROTO);
	weft_grpc_deframer_free(&d);

	/* a handler's status stops the feed */
	weft_grpc_deframer_init(&d, 100);
	n = frame(buf, 0, "a", 1);
	n += frame(buf + n, 0, "b", 1);
	g.stop_at = 1;
	assert_int_equal(weft_grpc_deframe(&d, buf, n, on_msg, &g), 7);
	assert_int_equal(g.n, 1);
	weft_grpc_deframer_free(&d);
}

static void test_prefix_and_message(void **st)
{
	uint8_t p[5];
	char out[64];

	assert_int_equal(weft_grpc_frame_prefix(p, 0x01020304), 0);
	assert_memory_equal(p, "\x00\x01\x02\x03\x04", 5);
	weft_grpc_encode_message("ok 100% \xc3\xa9\n", out, sizeof(out));
	assert_string_equal(out, "ok 100%25 %C3%A9%0A");
	weft_grpc_encode_message("abcdef", out, 4);
	assert_string_equal(out, "abc");
}

static void test_parse_addr(void **st)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	char buf[80];

	assert_int_equal(weft_net_parse_addr("127.0.0.1:15010", 15, &ss, &sl), 0);
	assert_string_equal(weft_net_format_addr((struct sockaddr *)&ss, buf, sizeof(buf)), "127.0.0.1:15010");
	assert_int_equal(weft_net_parse_addr("[::1]:0", 7, &ss, &sl), 0);
	assert_string_equal(weft_net_format_addr((struct sockaddr *)&ss, buf, sizeof(buf)), "[::1]:0");
	assert_int_equal(weft_net_parse_addr("localhost:80", 12, &ss, &sl), 0);
	assert_int_equal(weft_net_parse_addr("127.0.0.1", 9, &ss, &sl), -1);
	assert_int_equal(weft_net_parse_addr("127.0.0.1:65536", 15, &ss, &sl), -1);
	assert_int_equal(weft_net_parse_addr("127.0.0.1:", 10, &ss, &sl), -1);
	assert_int_equal(weft_net_parse_addr("::1:80", 6, &ss, &sl), -1);
	assert_int_equal(weft_net_parse_addr("[::1]80", 7, &ss, &sl), -1);
	assert_int_equal(weft_net_parse_addr("example.com:80", 14, &ss, &sl), -1);
	assert_int_equal(weft_net_parse_addr("1.2.3.4:8a", 10, &ss, &sl), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_deframe_whole_and_split),
		cmocka_unit_test(test_deframe_errors),
		cmocka_unit_test(test_prefix_and_message),
		cmocka_unit_test(test_parse_addr),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
