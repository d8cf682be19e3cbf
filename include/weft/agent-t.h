/* weft — the node agent: its top-level state and the contracts between its
 * parts. Types only.
 *
 *   src/agent/agent.c      options, start-up, the loop, signals, view swaps
 *   src/agent/controlc.c   the connection to weft control (TLS, gRPC), join
 *   src/agent/identity.c   credentials per identity: request, renew, persist
 *   src/agent/xdsc.c       delta ADS client -> weft_av_t views
 *   src/agent/view.c, authz.c, lb.c   pure logic over views
 *   src/agent/netns.c      sockets inside a workload's network namespace
 *   src/agent/nft.c        the in-pod nftables capture rules
 *   src/agent/capture.c    per-workload listeners (15001/15006/15008)
 *   src/agent/relay.c      moving bytes: socket <-> socket, socket <-> tunnel
 *   src/agent/outbound.c   captured outbound connections -> HBONE tunnels
 *   src/agent/inbound.c    HBONE server, plaintext inbound, local delivery
 *   src/agent/telemetry.c  Istio TCP metrics, one JSON log line per connection
 *   src/agent/admin.c      :15000 (/config_dump, /certs, /healthz), :15020 /metrics
 *
 * Identities on the wire: a client asks the server for the destination
 * workload's certificate with SNI "<sa>.<ns>.svid.weft" (weft_sni_*); the
 * server presents that identity's credential if it holds one. */
#ifndef WEFT_AGENT_T_H
#define WEFT_AGENT_T_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "weft/agentview-t.h"
#include "weft/loop-t.h"
#include "weft/metrics-t.h"
#include "weft/tls-t.h"

#define WEFT_AGENT_MARK 0x539u       /* SO_MARK of every socket the agent opens in a pod */
#define WEFT_SNI_SUFFIX ".svid.weft"

typedef struct weft_agent_opts {
	const char *node;            /* --node (required) */
	const char *control;         /* --control host:port of the mTLS port (15012) */
	const char *token_file;      /* --token-file: used once, when state_dir has no node credential */
	const char *state_dir;       /* --state-dir (default /var/lib/weft/agent-<node>): node + workload creds */
	const char *node_netns;      /* --node-netns PATH: where node-level sockets live ("" = our own) */
	const char *admin_addr;      /* --admin (127.0.0.1:15000) */
	const char *metrics_addr;    /* --metrics (127.0.0.1:15020) */
	uint16_t hbone_port;         /* 15008 */
	uint32_t cert_ttl_s;         /* requested workload certificate lifetime (0: the CA's default) */
	const char *capture;         /* --capture auto|ebpf|nft|none (default auto) */
	bool capture_fail_open;
	const char *bpf_pin_dir;     /* --bpf-pin-dir (NULL: /sys/fs/bpf/weft/<node>) */      /* --capture-failure open: no agent -> traffic bypasses the mesh */
	uint32_t mark;               /* WEFT_AGENT_MARK */
	const char *log_format;      /* text | json (connection logs are always JSON) */
	const char *plaintext_xds;   /* --plaintext-xds host:port (tests): delta ADS on the plaintext
	                              * port with node.id, no TLS, no CA calls; NULL = off */
	/* L7 (src/agent/l7_*.c) */
	uint64_t l7_max_conns;       /* --l7-max-connections: per local workload (0 = unlimited) */
	uint64_t l7_max_requests;    /* --l7-max-requests: in flight per local workload */
	uint64_t l7_max_buffer;      /* --l7-max-buffer: body bytes held per local workload */
	const char *path_slashes;    /* --path-escaped-slashes keep|decode|reject (default decode) */
	const char *access_log;      /* --access-log stderr|stdout|PATH|off */
	const char *access_log_fields;   /* --access-log-fields a,b,c */
	double access_log_sample;    /* --access-log-sample 0..1 (default 1) */
	const char *trace_endpoint;  /* --trace-endpoint http://ip:port/v1/traces */
	double trace_sample;         /* --trace-sample 0..1 (default 0.01) */
} weft_agent_opts_t;

struct weft_ident;
struct weft_xdsc;
struct weft_controlc;
struct weft_capture;
struct weft_dp;
struct weft_tm;
struct weft_agent_admin;

typedef struct weft_agent {
	weft_loop_t *loop;
	weft_agent_opts_t o;
	weft_metrics_t metrics;      /* everything :15020 renders */
	weft_av_t *view;             /* current view, a reference held; NULL before the first sync */
	bool synced;                 /* a first complete view arrived */
	struct weft_controlc *ctl;
	struct weft_ident *ident;
	struct weft_xdsc *xdsc;
	struct weft_capture *cap;
	struct weft_dp *dp;
	struct weft_tm *tm;
	struct weft_agent_admin *admin;
	struct weft_l7 *l7;          /* the L7 data path state (src/agent/l7_out.c), NULL until the data path starts */
	uint64_t started_ms;
	uint64_t rnd;                /* xorshift state */
	int exit_code;               /* what weft_agent_run returns once the loop stops */
	weft_sigwatch_t sig;         /* SIGTERM, SIGINT, SIGHUP */
} weft_agent_t;

#endif
