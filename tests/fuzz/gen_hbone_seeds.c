/* Writes the seed corpus of fuzz_hbone_server (not built by make):
 *   cc -Iinclude tests/fuzz/gen_hbone_seeds.c -lnghttp2 -o /tmp/gen && /tmp/gen tests/fuzz/corpus/fuzz_hbone_server
 * Each seed is one chunk-size byte, then what an HTTP/2 client sends:
 * the preface, SETTINGS, CONNECT HEADERS blocks and some DATA/RST. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <nghttp2/nghttp2.h>

static ssize_t rd(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
		  nghttp2_data_source *src, void *ud)
{
	const char *p = src->ptr;
	size_t n = strlen(p);
	memcpy(buf, p, n);
	*flags |= NGHTTP2_DATA_FLAG_EOF;
	return (ssize_t)n;
}

#define NV(a, b) { (uint8_t *)(a), (uint8_t *)(b), sizeof(a) - 1, sizeof(b) - 1, 0 }

static void seed(const char *dir, const char *name, unsigned char chunk, const nghttp2_nv *nv,
		 size_t n, int streams, const char *body, int rst)
{
	nghttp2_session_callbacks *cbs;
	nghttp2_session *s;
	nghttp2_settings_entry iv[1] = { { NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 65535 } };
	char path[512];
	FILE *f;
	const uint8_t *d;
	ssize_t k;
	int32_t id = 0;

	nghttp2_session_callbacks_new(&cbs);
	nghttp2_session_client_new(&s, cbs, NULL);
	nghttp2_submit_settings(s, 0, iv, 1);
	for (int i = 0; i < streams; i++) {
		nghttp2_data_provider dp = { .source.ptr = (void *)body, .read_callback = rd };
		id = nghttp2_submit_request(s, NULL, nv, n, body ? &dp : NULL, NULL);
	}
	if (rst)
		nghttp2_submit_rst_stream(s, 0, id, NGHTTP2_CANCEL);
	nghttp2_submit_ping(s, 0, NULL);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	fputc(chunk, f);
	while ((k = nghttp2_session_mem_send(s, &d)) > 0)
		fwrite(d, 1, (size_t)k, f);
	fclose(f);
	nghttp2_session_del(s);
	nghttp2_session_callbacks_del(cbs);
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : ".";
	nghttp2_nv ok[] = { NV(":method", "CONNECT"), NV(":authority", "10.0.0.1:80"),
			    NV("forwarded", "for=\"10.1.2.3\"") };
	nghttp2_nv ok6[] = { NV(":method", "CONNECT"), NV(":authority", "[fd00::1]:8080"),
			     NV("forwarded", "for=\"[fd00::2]:99\";proto=http, for=unknown") };
	nghttp2_nv refused[] = { NV(":method", "CONNECT"), NV(":authority", "10.0.0.1:3000") };
	nghttp2_nv deferred[] = { NV(":method", "CONNECT"), NV(":authority", "10.0.0.1:2000") };
	nghttp2_nv bad[] = { NV(":method", "CONNECT"), NV(":authority", "example.com:80") };
	nghttp2_nv badfwd[] = { NV(":method", "CONNECT"), NV(":authority", "10.0.0.1:80"),
				NV("forwarded", "for=\"10.1") };
	nghttp2_nv get[] = { NV(":method", "GET"), NV(":scheme", "http"), NV(":path", "/"),
			     NV(":authority", "10.0.0.1:80") };
	nghttp2_nv ext[] = { NV(":method", "CONNECT"), NV(":protocol", "websocket"),
			     NV(":scheme", "https"), NV(":path", "/"), NV(":authority", "10.0.0.1:80") };

	seed(dir, "connect_data", 0xff, ok, 3, 1, "hello tunnel", 0);
	seed(dir, "connect_bytewise", 0, ok, 3, 1, "hi", 0);
	seed(dir, "connect_v6", 0xff, ok6, 3, 1, NULL, 0);
	seed(dir, "connect_many", 0xff, ok, 3, 40, "x", 0);
	seed(dir, "connect_rst", 0xff, ok, 3, 2, NULL, 1);
	seed(dir, "refused", 0xff, refused, 2, 1, "early", 0);
	seed(dir, "deferred", 0xff, deferred, 2, 3, "early", 0);
	seed(dir, "bad_authority", 0xff, bad, 2, 1, NULL, 0);
	seed(dir, "bad_forwarded", 0xff, badfwd, 3, 1, NULL, 0);
	seed(dir, "get", 0xff, get, 4, 1, NULL, 0);
	seed(dir, "extended_connect", 0xff, ext, 5, 1, NULL, 0);
	return 0;
}
