/* weft — private to the agent's data path (outbound.c, inbound.c): the
 * data-path state and one record per carried connection. */
#ifndef WEFT_DP_INT_H
#define WEFT_DP_INT_H
#include <stdbool.h>
#include <stdint.h>
#include "weft/agent.h"
#include "weft/capture.h"
#include "weft/hbone.h"
#include "weft/tls.h"

typedef enum dp_kind {
	DP_OUT_TUNNEL = 0,   /* captured outbound -> HBONE tunnel */
	DP_OUT_PASS,         /* captured outbound -> plain socket (not the mesh) */
	DP_IN_HBONE,         /* HBONE stream -> local workload */
	DP_IN_PLAIN,         /* plaintext inbound (15006) -> local workload */
} dp_kind_t;

/* Counted reasons (weft_agent_errors_total{reason} once telemetry is
 * wired; until then kept here and logged). */
typedef enum dp_reason {
	DP_R_LOOP = 0,           /* "loop": a connection to one of our own ports */
	DP_R_NO_ORIG_DST,        /* "no_original_dst" */
	DP_R_NO_CRED,            /* "no_credential": never plaintext into the mesh */
	DP_R_NO_ENDPOINT,        /* "no_endpoint" */
	DP_R_TUNNEL_FAILED,      /* "tunnel_failed": every attempt failed */
	DP_R_PLAINTEXT_REFUSED,  /* "plaintext_refused": STRICT workload */
	DP_R_SPOOF,              /* "spoofed_source" */
	DP_R_NOT_LOCAL,          /* "not_local": CONNECT to a non-local address */
	DP_R_WRONG_IDENTITY,     /* "wrong_identity": SNI / destination mismatch */
	DP_R_DENIED,             /* "denied": authorization */
	DP_R_DELIVER_FAILED,     /* "deliver_failed": local connect failed */
	DP_R_SOCKET,             /* "socket": could not open a socket */
	DP_R_N,
} dp_reason_t;

struct dp_conn;
struct weft_tm_labels;

/* A TLS context built for one trust bundle; rebuilt when the bundle
 * changes, old ones kept until the data path is freed (sessions point at
 * them). */
typedef struct dp_tlsctx {
	struct dp_tlsctx *next;
	weft_tls_ctx_t *ctx;
	weft_bundle_t *bundle;   /* a reference */
} dp_tlsctx_t;

struct weft_dp {
	weft_agent_t *a;
	weft_netns_set_t nss;
	weft_netns_t *node_ns;       /* NULL: the agent's own */
	bool node_ns_open;
	dp_tlsctx_t *client_ctx, *server_ctx;   /* newest first */
	weft_hbone_limits_t lim;
	weft_hbone_pool_t pool;
	weft_lb_load_t *load;
	/* node-level HBONE listener */
	int hbone_fd;
	weft_io_t hbone_io;
	weft_ip_t hbone_ip;
	weft_hbone_conn_t *srv;      /* served HBONE connections (node-level and in-pod) */
	/* open connections */
	struct dp_conn *conns;
	uint64_t nconns;
	uint64_t reasons[DP_R_N];
	uint64_t peer_refused[WEFT_PEER_NREASONS];
	uint64_t next_id;
	weft_timer_t gauges;         /* refreshes the pool-size gauges every second */
};

/* One carried connection. Strings are owned copies: nothing points into a
 * view, which may be swapped at any turn; the workload is re-resolved by
 * uid in the current view. */
typedef struct dp_conn {
	struct dp_conn *prev, *next;
	struct weft_dp *dp;
	dp_kind_t kind;
	uint64_t id;
	char name[64];               /* log context "out c12" */
	char *wl_uid;                /* local workload: source (out) or destination (in) */
	weft_relay_t relay;
	bool relay_ready;            /* side 0 and 1 set */
	int client_fd;               /* outbound: the captured socket until the relay takes it */
	weft_hbone_stream_t *hs;     /* the tunnel stream while attached */
	weft_netns_t *ns;            /* workload namespace reference (passthrough / delivery) */
	/* what authorization needs (inbound) */
	char *principal;             /* peer SPIFFE ID without "spiffe://", NULL: plaintext */
	char *peer_ns;
	weft_ip_t src;
	uint16_t dst_port;
	char *policy;                /* last decision, for the log */
	struct sockaddr_storage orig;   /* original destination / CONNECT target */
	socklen_t origlen;
	struct sockaddr_storage peer;   /* TCP peer (client) */
	/* outbound tunnel attempts */
	char *svc_uid;
	uint16_t target_port;
	int attempts;
	char *excluded[3];
	char *ep_uid;                /* the endpoint whose load this holds */
	weft_timer_t retry;
	/* inbound delivery while connecting */
	int dfd;
	weft_io_t dio;
	uint64_t opened_ms;
	struct weft_tm_conn *tmc;     /* telemetry record while open */
	uint64_t tm_sent, tm_recv;   /* bytes already reported */
	uint8_t *first;              /* bytes read before the relay (L7 upgrade hand-over) */
	size_t nfirst;
} dp_conn_t;

/* ---- shared helpers (outbound.c) ---- */

dp_conn_t *dp_conn_new(struct weft_dp *dp, dp_kind_t kind, const char *wl_uid);
/* Unlinks and frees c (relay released: sockets it still holds are reset
 * unless the relay ended cleanly; the stream detached and reset). */
void dp_conn_free(dp_conn_t *c, const char *reason);
void dp_count(struct weft_dp *dp, dp_reason_t r, const char *ctx, const char *detail);
/* Refuses a raw client socket with RST. */
void dp_refuse_fd(int fd);
/* The current view (NULL before the first one). */
static inline const weft_av_t *dp_view(const struct weft_dp *dp) { return dp->a->view; }
/* The relay end ops for an HBONE stream (ctx = the dp_conn). */
extern const weft_relay_end_ops_t dp_hbone_end;
extern const weft_hbone_stream_cbs_t dp_stream_cbs;
/* The relay finished: telemetry, load, free. */
void dp_relay_done(weft_relay_t *r);
/* TLS contexts for the current bundle (NULL: no bundle yet / failure). */
weft_tls_ctx_t *dp_client_ctx(struct weft_dp *dp);
weft_tls_ctx_t *dp_server_ctx(struct weft_dp *dp);
/* The node's namespace (NULL: ours, or failure when node_netns is set). */
weft_netns_t *dp_node_ns(struct weft_dp *dp);
/* Telemetry labels for traffic a mesh peer sends to local workload w
 * (reporter destination; L4 connections and L7 requests alike): the
 * source workload when the endpoint at src carries the proven principal
 * (no "spiffe://"; NULL: plaintext), principal_uri as the source
 * principal, w's labels as the destination. Strings point into v, w and
 * the arguments. Fields it does not set are left as they are. */
void dp_tm_labels_in(const weft_av_t *v, const weft_av_workload_t *w, const char *principal,
		     const char *principal_uri, const char *peer_ns, const weft_ip_t *src,
		     struct weft_tm_labels *l);
/* Telemetry: a connection starts carrying bytes. */
void dp_tm_open(dp_conn_t *c);
/* The netns path where workload w's sockets live: its own, or for a host
 * workload (a cgroup, no netns) the node netns; "" = the agent's. */
const char *dp_wl_netns(const struct weft_dp *dp, const weft_av_workload_t *w);

/* True when port is one of the agent's own capture/HBONE ports. */
bool dp_agent_port(const struct weft_dp *dp, uint16_t port);

/* ---- for the L7 path (outbound.c) ---- */

/* Opens an HBONE CONNECT from local workload w to endpoint ep's first
 * address and port on a pooled connection (w's credential, ep's node
 * address and identity, as an L4 tunnel), with weft_hbone_open_f flags.
 * Returns the stream, or NULL (no credential, bad identity, dial failed). */
weft_hbone_stream_t *dp_open_tunnel(struct weft_dp *dp, const weft_av_workload_t *w,
				    const weft_av_endpoint_t *ep, uint16_t port, uint32_t flags,
				    const weft_hbone_stream_cbs_t *cbs, void *ud);
/* Carries a captured connection at L4 (never L7), as weft_dp_outbound
 * does, first sending first[0..nfirst) (bytes already read from fd, e.g.
 * an HTTP/1 Upgrade request). Takes fd. */
void dp_outbound_l4(struct weft_dp *dp, const weft_av_workload_t *w, int fd,
		    const struct sockaddr *orig, socklen_t origlen, const uint8_t *first, size_t nfirst);

/* ---- inbound.c ---- */

void dp_inbound_stream_closed(dp_conn_t *c, uint32_t err);
/* Closes the node-level listener and every served HBONE connection. */
void dp_inbound_free_all(struct weft_dp *dp);

#endif
