/* Fuzzes the HTTP/1 client-role parsers (src/proto/http1.c): the response
 * head parser, and the chunked decoder fed the bytes after the head in
 * chunks (the first input byte picks their size). Results must stay
 * inside the input; the decoder must always make progress or stop. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "weft/http1.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	weft_h1_limits_t lim;
	weft_h1_resp_t *r;
	weft_h1_chunked_t d;
	weft_h1_hdr_t tr[8];
	char *p;
	size_t chunk, off = 0, end = 0;
	int rc;

	if (size < 1)
		return 0;
	chunk = 1 + data[0] % 64;
	p = malloc(size - 1 ? size - 1 : 1);   /* exact size: over-reads are caught */
	r = malloc(sizeof(*r));
	if (!p || !r)
		abort();
	memcpy(p, data + 1, size - 1);
	size--;
	weft_h1_limits_default(&lim);
	rc = weft_h1_parse_response_head(p, size, &lim, data[0] & 1, r);
	if (rc > 0) {
		if ((size_t)rc > size || r->status < 100 || r->status > 999)
			abort();
		off = (size_t)rc;
	}
	/* the chunked decoder over the rest, growing the visible input */
	weft_h1_chunked_init(&d);
	end = off;
	for (int guard = 0; guard < 100000; guard++) {
		weft_h1_chunk_out_t out = { .trailers = tr, .max_trailers = 8 };
		size_t used;
		rc = weft_h1_chunked_step(&d, p + off, end - off, 7, 1024, &used, &out);
		if (used > end - off)
			abort();
		if (rc == WEFT_H1_CK_DATA && (out.data.len == 0 || out.data.len > 7 ||
					      out.data.p < p + off || out.data.p + out.data.len > p + end))
			abort();
		off += used;
		if (rc == WEFT_EPROTO || rc == WEFT_H1_CK_END)
			break;
		if (rc == WEFT_H1_CK_MORE) {
			if (end == size)
				break;
			end = end + chunk > size ? size : end + chunk;
		}
	}
	free(r);
	free(p);
	return 0;
}
