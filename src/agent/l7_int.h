/* weft — private to the agent's L7 data path (src/agent/l7_*.c): the L7
 * state hung off the data path, the codec connection pool, and the entry
 * points outbound.c / inbound.c call.
 *
 * Source side (src/agent/l7_out.c, l7_proxy.c): a captured connection to
 * an L7 port is served by an HTTP/1 or HTTP/2 server codec (sniffed); each
 * request is routed, policed and sent as an HTTP/2 stream to the chosen
 * endpoint's agent through an HBONE CONNECT tunnel flagged
 * WEFT_HBONE_F_H2 (an h2 client codec over weft_xprt_hbone, pooled per
 * (source identity, endpoint, port)).
 * Destination side (src/agent/l7_in.c): such a tunnel is served by an h2
 * server codec; each request is authorized (L7), rate limited, given the
 * verified peer identity and delivered to the local workload in the
 * port's own protocol (HTTP/1.1 keep-alive or h2c, pooled per (workload,
 * port)). */
#ifndef WEFT_L7_INT_H
#define WEFT_L7_INT_H
#include <stdbool.h>
#include <stdint.h>
#include "dp_int.h"
#include "weft/http.h"
#include "weft/l7.h"
#include "weft/l7tel.h"

/* ---- the codec connection pool (l7_pool.c) ---- */

struct l7_pool;

/* Makes a new codec connection for key (client role). The pool sets
 * itself as the connection's owner; the connection's cbs must be
 * l7_pool_conn_cbs (or call the l7_pool_on_* functions from its own).
 * Returns the connection or NULL (dial failed: counted, the caller's
 * stream request fails). */
typedef weft_hconn_t *(*l7_pool_dial_fn)(void *ud, const char *key, const void *arg);

typedef struct l7_pool {
	weft_loop_t *loop;
	l7_pool_dial_fn dial;
	void *ud;
	void *entries;               /* private: key -> connections */
	uint32_t max_conns_per_key;  /* 0: unlimited (HTTP/1: one stream per connection) */
	uint32_t idle_ms;            /* an idle connection is closed after this */
	size_t nconns;
	uint64_t dials, dial_failures;
} l7_pool_t;

extern const weft_hconn_cbs_t l7_pool_conn_cbs;

void l7_pool_init(l7_pool_t *p, weft_loop_t *loop, l7_pool_dial_fn dial, void *ud);
/* A stream on a pooled connection for key: a connection that can_open
 * (an idle keep-alive HTTP/1 one, an HTTP/2 one below its limit), else a
 * new one from dial(ud, key, arg). NULL when dialling failed. */
weft_hstream_t *l7_pool_open(l7_pool_t *p, const char *key, const void *arg,
			     const weft_hstream_cbs_t *cbs, void *ud);
/* The same with key's hash (l7_pool_key_hash(key)) computed beforehand,
 * for a caller that opens streams for the same key again and again. */
uint64_t l7_pool_key_hash(const char *key);
weft_hstream_t *l7_pool_open_hashed(l7_pool_t *p, const char *key, uint64_t hash,
				    const void *arg, const weft_hstream_cbs_t *cbs, void *ud);
/* Closes every connection whose key starts with prefix ("" all);
 * graceful: goaway (streams finish) instead of close. */
void l7_pool_drain(l7_pool_t *p, const char *prefix, bool graceful);
void l7_pool_destroy(l7_pool_t *p);
/* Connections per key and in all, for metrics and /config_dump. */
void l7_pool_each(l7_pool_t *p, void (*fn)(void *arg, const char *key, const weft_hconn_t *hc),
		  void *arg);

/* ---- per-workload fairness (l7_out.c owns the accounting) ---- */

typedef struct l7_tenant {
	char *uid;                   /* the local workload */
	uint64_t conns, requests, buffer;   /* now (requests: those it sends) */
	uint64_t in_conns, in_requests;     /* destination side: tunnels served for it,
	                                     * requests to it in flight (own limits) */
	struct l7_tenant *next;
} l7_tenant_t;

/* ---- the L7 state of a data path ---- */

typedef struct weft_l7 {
	struct weft_dp *dp;
	weft_http_limits_t lim;
	weft_l7_clusters_t *clusters;
	weft_l7_tel_t *tel;
	l7_pool_t up;                /* source side: h2 over HBONE to endpoints, key "<src id>|<ep ip>:<port>" */
	l7_pool_t deliver;           /* destination side: to local workloads, key "<wl uid>|<port>|h1|h2" */
	l7_tenant_t *tenants;
	uint64_t max_conns, max_requests, max_buffer;   /* per workload; 0 = unlimited */
	weft_l7_slash_mode_t slash;  /* path normalization of %2F / %5C */
	uint64_t rnd;
	void *priv_out, *priv_in;    /* l7_out.c / l7_in.c private state */
} weft_l7_t;

/* Creates the L7 state for dp from the agent's options. NULL on failure
 * (logged). */
weft_l7_t *l7_new(struct weft_dp *dp);
void l7_free(weft_l7_t *l7);

/* ---- entry points ---- */

/* outbound.c: a captured connection from workload w to service svc's port
 * p (p->l7 or an L7 proto), original destination orig. Takes fd. */
void l7_out_accept(weft_l7_t *l7, const weft_av_workload_t *w, const weft_av_service_t *svc,
		   const weft_av_port_t *p, int fd, const struct sockaddr *orig, socklen_t origlen);

/* inbound.c: a CONNECT flagged WEFT_HBONE_F_H2 to local workload w,
 * port dst_port, from a peer with the given verified principal (no
 * "spiffe://") and namespace, source address src. Returns the status to
 * answer (200: the stream now belongs to l7_in.c; else a refusal). */
int l7_in_connect(weft_l7_t *l7, weft_hbone_stream_t *hs, const weft_av_workload_t *w,
		  uint16_t dst_port, const char *principal, const char *peer_ns,
		  const weft_ip_t *src);

/* Frees the destination side's state (l7->priv_in: served tunnels,
 * rate-limit buckets) and the deliver pool; l7_free calls it. */
void l7_in_free(weft_l7_t *l7);

#endif
