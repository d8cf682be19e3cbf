/* Fuzzes the strict HTTP/1.1 request and response parsers: any input must
 * give a head length within the input, EAGAIN, or a 4xx/5xx status. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "weft/http1.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	weft_h1_limits_t lim;
	weft_h1_req_t req;
	int st;
	long long cl;
	char *p = malloc(size ? size : 1);   /* exact size: over-reads are caught */

	if (!p)
		return 0;
	memcpy(p, data, size);
	weft_h1_limits_default(&lim);
	int rc = weft_h1_parse_request(p, size, &lim, &req, &st);
	if (rc > 0) {
		if ((size_t)rc > size)
			abort();
		for (size_t i = 0; i < req.nhdrs; i++)
			if (req.hdrs[i].name.p < p || req.hdrs[i].value.p + req.hdrs[i].value.len > p + size)
				abort();
	} else if (rc == WEFT_EPROTO && (st < 400 || st > 505)) {
		abort();
	}
	rc = weft_h1_parse_response(p, size, &st, &cl);
	if (rc > 0 && (size_t)rc > size)
		abort();
	free(p);
	return 0;
}
