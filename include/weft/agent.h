/* weft — the node agent's internal interfaces (see weft/agent-t.h for the
 * file map). Each part exposes a small API here; the parts never reach
 * into each other's structs. */
#ifndef WEFT_AGENT_H
#define WEFT_AGENT_H
#include "weft/admin-t.h"
#include "weft/agent-t.h"
#include "weft/agentview.h"
#include "weft/buf-t.h"
#include "weft/hbone-t.h"
#include "weft/rc.h"
#include "weft/tls-t.h"

struct weft_grpc_client;

/* ---- agent.c ---- */

/* Fills o with the defaults (see weft/agent-t.h). node/control/token_file
 * stay NULL; state_dir NULL means /var/lib/weft/agent-<node>. */
void weft_agent_opts_default(weft_agent_opts_t *o);

/* Runs the agent until SIGTERM/SIGINT or a fatal error (a join token the
 * CA refused, no state dir). Returns the process exit status: 0 after a
 * signal, 1 on a fatal error, 2 on a bad option value found at start. */
int weft_agent_run(const weft_agent_opts_t *o);

/* Stops the agent's loop with exit status code (the first fatal error
 * wins). */
void weft_agent_fatal(weft_agent_t *a, int code);

/* Installs a new view (takes the caller's reference): swaps a->view, then
 * tells capture (listeners for new/removed workloads), identity (the set
 * of identities to hold) and the data path (re-authorize open inbound
 * connections; close the now-denied within the same loop turn). */
void weft_agent_set_view(weft_agent_t *a, weft_av_t *v);

/* A credential for identity (ns, sa) was installed or replaced: new
 * tunnels use it; pooled connections with the old one drain. */
void weft_agent_cred_changed(weft_agent_t *a, const char *ns, const char *sa);

/* ---- SNI <-> identity (agent.c) ---- */

/* "<sa>.<ns>.svid.weft" into out. Returns WEFT_OK or WEFT_ELIMIT. */
int weft_sni_format(char *out, size_t outlen, const char *ns, const char *sa);
/* Splits an SNI of that form (ns is the last label before the suffix).
 * Returns WEFT_OK or WEFT_EPROTO. */
int weft_sni_parse(const char *sni, char *ns, size_t nslen, char *sa, size_t salen);

/* ---- identity.c ---- */

/* Creates the identity manager: loads persisted credentials from
 * a->o.state_dir (expired ones are deleted). Returns NULL on no memory. */
struct weft_ident *weft_ident_new(weft_agent_t *a);
/* The same with an injectable wall clock (tests); now NULL = time(). */
struct weft_ident *weft_ident_new_clock(weft_agent_t *a, time_t (*now)(void *ud), void *ud);
/* Whether a join is needed (no valid node credential). */
bool weft_ident_need_join(const struct weft_ident *id);
/* Sets the join token "<id>.<secret>.<pin-hex>" (copied). Returns WEFT_OK,
 * or WEFT_EPROTO when it is malformed (then *pin is untouched). pin gets
 * the SHA-256 SPKI pin. */
int weft_ident_set_token(struct weft_ident *id, const char *token, size_t len, uint8_t pin[32]);
/* The control connection is up (cl usable for calls): join when needed,
 * else send every pending Sign request. */
void weft_ident_connected(struct weft_ident *id, struct weft_grpc_client *cl);
void weft_ident_free(struct weft_ident *id);
/* The identities the node needs now (one per (ns, sa) of the view's
 * workloads): starts requests for missing ones, forgets the others. */
void weft_ident_want(struct weft_ident *id, const weft_av_t *v);
/* The current credential for (ns, sa), or NULL (borrowed: ref to keep). */
weft_cred_t *weft_ident_cred(struct weft_ident *id, const char *ns, const char *sa);
/* The node credential (for the control connection), or NULL before join. */
weft_cred_t *weft_ident_node_cred(struct weft_ident *id);
/* The trust bundle (NULL before join). */
const weft_bundle_t *weft_ident_bundle(struct weft_ident *id);
/* Visits every held credential (for /certs and the expiry gauges). */
void weft_ident_each(struct weft_ident *id, void (*fn)(void *arg, const weft_cred_t *c), void *arg);

/* Pure helpers of the renewal schedule (exported for tests).
 * weft_ident_renew_at: when a certificate valid [nb, na] is renewed: at half
 * its lifetime, moved by r in [-1, 1] times 10% of the lifetime (jitter).
 * weft_backoff_next: the next retry delay in ms after a failure: *base
 * doubles from min_ms (0 -> min_ms) up to max_ms; the delay returned is
 * *base moved by r in [-1, 1] times 20%, clamped to [min_ms, max_ms]. */
time_t weft_ident_renew_at(time_t nb, time_t na, double r);
uint32_t weft_backoff_next(uint32_t *base, uint32_t min_ms, uint32_t max_ms, double r);
/* A uniform double in [-1, 1] from xorshift state *s (never 0). */
double weft_rand_pm1(uint64_t *s);

/* ---- controlc.c (the connection to weft control) ---- */

/* Creates the control connection manager (not yet connecting). Returns
 * NULL on no memory. */
struct weft_controlc *weft_controlc_new(weft_agent_t *a);
void weft_controlc_free(struct weft_controlc *c);
/* Starts connecting (now). With a->o.plaintext_xds: raw TCP to it; else
 * TLS to a->o.control: mTLS with the node credential, or, before join, a
 * pinned (pin) server check and no client certificate. */
void weft_controlc_start(struct weft_controlc *c);
/* Sets the pin of the join connection. */
void weft_controlc_set_pin(struct weft_controlc *c, const uint8_t pin[32]);
/* Drops the current connection and reconnects at once (after a join: the
 * next connection presents the node credential). */
void weft_controlc_reconnect(struct weft_controlc *c);
/* Something answered on the connection: resets the reconnect backoff; the
 * first time per connection it counts as up (connected gauge 1,
 * connects_total{result="ok"}). */
void weft_controlc_healthy(struct weft_controlc *c);
/* The current client, or NULL while disconnected. */
struct weft_grpc_client *weft_controlc_client(struct weft_controlc *c);

/* ---- xdsc.c (delta ADS client) ---- */

struct weft_xdsc *weft_xdsc_new(weft_agent_t *a);
void weft_xdsc_free(struct weft_xdsc *x);
/* The control connection is up: opens the ADS stream and subscribes (with
 * the versions held, so only changes are sent). */
void weft_xdsc_connected(struct weft_xdsc *x, struct weft_grpc_client *cl);
/* Applies one DeltaDiscoveryResponse (serialized) as if received; fills
 * the ACK/NACK request through the stream. Exported for tests: returns
 * WEFT_OK (applied, ACK) or WEFT_EPROTO (NACK, state unchanged). */
int weft_xdsc_apply(struct weft_xdsc *x, const uint8_t *p, size_t n, char *err, size_t errlen);

/* ---- capture.c (per-workload listeners and rules) ---- */

struct weft_capture *weft_capture_new(weft_agent_t *a);
void weft_capture_free(struct weft_capture *c);   /* closes listeners, removes rules */
/* Agent shutdown: closes every listener but leaves the rules in place, so
 * captured traffic is refused while no agent runs (fail closed). The
 * capture is freed by weft_capture_free() after, which then removes no
 * rules. */
void weft_capture_stop(struct weft_capture *c);
/* Opens listeners and installs rules (nft) or attaches programs (ebpf)
 * for view workloads that have a netns (ebpf: or only a cgroup: host
 * workloads),
 * removes them for workloads that left. Returns WEFT_OK, or WEFT_EFAIL when
 * some workload could not be captured (logged, counted, retried next call). */
int weft_capture_reconcile(struct weft_capture *c, const weft_av_t *v);

/* ---- outbound.c / inbound.c (the data path) ---- */

struct weft_dp *weft_dp_new(weft_agent_t *a);
void weft_dp_free(struct weft_dp *dp);
/* Starts the node-level HBONE listener on <node address>:hbone_port in the
 * node netns (once the view says the node address). */
int weft_dp_listen(struct weft_dp *dp, const weft_av_t *v);
/* A captured outbound connection from workload w (accepted by its 15001
 * listener, or the host workloads' shared one). Takes fd. orig: where the
 * client was going, as the capture backend recorded it (NULL: unknown ->
 * the connection is refused, no_original_dst). */
void weft_dp_outbound(struct weft_dp *dp, const weft_av_workload_t *w, int fd,
		      const struct sockaddr *orig, socklen_t origlen);
/* A plaintext inbound connection to workload w (its 15006 listener);
 * orig as above. */
void weft_dp_inbound_plain(struct weft_dp *dp, const weft_av_workload_t *w, int fd,
			   const struct sockaddr *orig, socklen_t origlen);
/* An HBONE connection accepted on w's in-pod 15008 listener (w NULL: the
 * node-level listener). */
void weft_dp_inbound_hbone(struct weft_dp *dp, const weft_av_workload_t *w, int fd);
/* Re-evaluates authorization of every open inbound connection against v;
 * closes those now denied. */
void weft_dp_reauthorize(struct weft_dp *dp, const weft_av_t *v);
/* Drains pooled tunnels that use identity (ns, sa)'s old credential. */
void weft_dp_cred_changed(struct weft_dp *dp, const char *ns, const char *sa);
/* For /config_dump (the admin's pool_json hook): appends a JSON array
 * describing the pooled HBONE connections (peer, identity, streams,
 * state; see weft_hbone_pool_each) to out. Returns 0, or -1 when out's
 * limit was reached or the data path has no pool (the admin then writes
 * "[]"). */
int weft_dp_pool_json(struct weft_dp *dp, weft_buf_t *out);

/* ---- admin.c (:15000 /healthz /config_dump /certs, :15020 /metrics) ---- */

/* What the admin endpoints read, as callbacks on ud (each may be NULL). */
typedef struct weft_agent_admin_ops {
	const char *node;
	void *ud;
	/* the current view, or NULL before the first sync (borrowed for the call) */
	const weft_av_t *(*view)(void *ud);
	/* the credential for (ns, sa), or NULL (borrowed for the call) */
	weft_cred_t *(*cred)(void *ud, const char *ns, const char *sa);
	/* visits every held credential (weft_ident_each) */
	void (*each_cred)(void *ud, void (*fn)(void *arg, const weft_cred_t *c), void *arg);
	/* the trust bundle, or NULL */
	const weft_bundle_t *(*bundle)(void *ud);
	/* appends a JSON array describing pooled HBONE connections; returns 0
	 * or -1 (then "[]" is written instead; out may hold a partial write
	 * only when its limit was reached) */
	int (*pool_json)(void *ud, weft_buf_t *out);
} weft_agent_admin_ops_t;

/* Creates the two servers (not listening yet); ops is copied, reg is
 * borrowed and rendered by /metrics and /stats/prometheus. Returns NULL on
 * no memory. */
struct weft_agent_admin *weft_agent_admin_new(weft_loop_t *loop, weft_metrics_t *reg,
					      const weft_agent_admin_ops_t *ops);
/* Listens on admin_addr (:15000 endpoints) and metrics_addr (:15020); an
 * empty or NULL address skips that server. Returns WEFT_OK or WEFT_EFAIL
 * (errno set; the server that did start stays up until free). */
int weft_agent_admin_listen(struct weft_agent_admin *ad, const char *admin_addr,
			    const char *metrics_addr);
/* The bound ports (0 when not listening), useful after binding port 0. */
void weft_agent_admin_ports(const struct weft_agent_admin *ad, uint16_t *admin_port,
			    uint16_t *metrics_port);
/* Closes both servers and their connections. NULL is accepted. */
void weft_agent_admin_free(struct weft_agent_admin *ad);
/* Adds a route (plain or streaming) to the :15000 server, for other parts'
 * endpoints (L7 telemetry: /debug/tap, /debug/routes). Returns WEFT_OK or
 * WEFT_ELIMIT (route table full). */
int weft_agent_admin_route(struct weft_agent_admin *ad, const char *path, weft_admin_handler fn,
			   void *ctx);
int weft_agent_admin_route_stream(struct weft_agent_admin *ad, const char *path,
				  weft_admin_stream_handler fn, void *ctx);

#endif
