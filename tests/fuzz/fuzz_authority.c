/* Fuzzes the HBONE request parsers (src/proto/authority.c): the whole
 * input as a CONNECT :authority and as a Forwarded value. Accepted
 * results must be well formed. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include "weft/hbone.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sockaddr_storage ss;
	socklen_t sl = 0;

	if (weft_hbone_parse_authority((const char *)data, size, &ss, &sl) == WEFT_OK) {
		if (ss.ss_family == AF_INET) {
			if (sl != sizeof(struct sockaddr_in) || ((struct sockaddr_in *)&ss)->sin_port == 0)
				abort();
		} else if (ss.ss_family != AF_INET6 || sl != sizeof(struct sockaddr_in6) ||
			   ((struct sockaddr_in6 *)&ss)->sin6_port == 0) {
			abort();
		}
		if (size >= 64 || memchr(data, ' ', size))
			abort();
	}
	if (weft_hbone_parse_forwarded((const char *)data, size, &ss, &sl) == WEFT_OK &&
	    ss.ss_family != AF_INET && ss.ss_family != AF_INET6)
		abort();
	return 0;
}
