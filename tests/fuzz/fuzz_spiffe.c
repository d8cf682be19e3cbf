/* Fuzzes the SPIFFE ID parser: any input is accepted as one of the three
 * forms with consistent fields, or refused with WEFT_EPROTO. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "weft/tls.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *p = malloc(size ? size : 1);   /* exact size: over-reads are caught */
	weft_spiffe_id_t id;
	int rc;

	if (!p)
		return 0;
	memcpy(p, data, size);
	rc = weft_spiffe_parse(p, size, &id);
	if (rc == WEFT_OK) {
		char again[WEFT_SPIFFE_MAX];
		/* an accepted ID formats back to exactly the input */
		if (id.kind == WEFT_ID_WORKLOAD)
			weft_spiffe_workload(again, sizeof(again), id.td, id.ns, id.sa);
		else if (id.kind == WEFT_ID_NODE)
			weft_spiffe_node(again, sizeof(again), id.td, id.node);
		else if (id.kind == WEFT_ID_CONTROL)
			weft_spiffe_control(again, sizeof(again), id.td);
		else
			abort();
		if (strlen(again) != size || memcmp(again, p, size) || strcmp(id.uri, again))
			abort();
	} else if (rc != WEFT_EPROTO || id.kind != WEFT_ID_NONE) {
		abort();
	}
	free(p);
	return 0;
}
