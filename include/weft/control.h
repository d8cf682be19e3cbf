/* weft — `weft control`: config store + xDS server + admin, on one loop. */
#ifndef WEFT_CONTROL_H
#define WEFT_CONTROL_H
#include <stddef.h>
#include <stdint.h>

typedef struct weft_control_opts {
	const char *config;          /* file or directory (required) */
	const char *xds_listen;      /* default 127.0.0.1:15010 */
	const char *admin_listen;    /* default 127.0.0.1:15014 */
	uint32_t debounce_ms;        /* xDS push debounce (default 10) */
	uint32_t reload_ms;          /* file-change debounce (default 25) */
	size_t max_pending;          /* per xDS connection output bound (default 32 MiB) */
	uint32_t stall_ms;           /* per xDS connection stall timeout (default 30 s) */
	uint32_t preface_ms;         /* HTTP/2 preface timeout (default 10 s) */
	size_t max_conns;            /* xDS connections (default 10000) */
} weft_control_opts_t;

void weft_control_opts_default(weft_control_opts_t *o);

/* Runs the control plane until SIGTERM/SIGINT. Returns the process exit
 * status: 0 after a graceful shutdown, 1 when start-up failed (invalid
 * config: every error printed to stderr as file:line: field: message;
 * an address that cannot be bound; ...). */
int weft_control_run(const weft_control_opts_t *o);

#endif
