/* weft — `weft control`: config store + xDS server + admin, on one loop. */
#ifndef WEFT_CONTROL_H
#define WEFT_CONTROL_H
#include <stddef.h>
#include <stdbool.h>
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
	/* identity and the agents' port */
	const char *trust_domain;    /* --trust-domain (default cluster.local) */
	const char *root_namespace;  /* --root-namespace: mesh-wide policies (default weft-system) */
	const char *xds_tls_listen;  /* --xds-tls: mTLS port for agents, xDS + CA (default 127.0.0.1:15012; "" = off) */
	const char *ca_dir;          /* --ca-dir: CA state (root created here on first start, tokens) */
	const char *ca_cert;         /* --ca-cert/--ca-key: a given root or intermediate instead */
	const char *ca_key;
	const char *ca_bundle;       /* --ca-bundle: extra trusted roots (rotation) */
	uint32_t cert_ttl_s;         /* --cert-ttl: default workload SVID lifetime (86400) */
	uint32_t cert_min_ttl_s;     /* shortest lifetime an agent may ask for (60) */
	uint32_t node_cert_ttl_s;    /* --node-cert-ttl (86400) */
	bool agent_plaintext;        /* --agent-plaintext: serve agent types on the plaintext port with node = node.id (tests only) */
} weft_control_opts_t;

void weft_control_opts_default(weft_control_opts_t *o);

/* Runs the control plane until SIGTERM/SIGINT. Returns the process exit
 * status: 0 after a graceful shutdown, 1 when start-up failed (invalid
 * config: every error printed to stderr as file:line: field: message;
 * an address that cannot be bound; ...). */
int weft_control_run(const weft_control_opts_t *o);

#endif
