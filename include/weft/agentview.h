/* weft — the agent's view (weft/agentview-t.h): building it from xDS
 * resources, lookups, authorization and endpoint choice. Implemented in
 * src/agent/view.c, src/agent/authz.c and src/agent/lb.c; all pure (no
 * I/O), unit tested in tests/unit/test_agentview.c, test_authz.c,
 * test_lb.c. */
#ifndef WEFT_AGENTVIEW_H
#define WEFT_AGENTVIEW_H
#include "weft/agentview-t.h"
#include "weft/rc.h"
#include "weft/str-t.h"
#include "weft/agent/v1/agent.pb-c.h"   /* generated from api/weft/agent/v1/agent.proto */

/* ---- addresses ---- */

/* Parses an IPv4/IPv6 literal. Returns WEFT_OK or WEFT_EPROTO. */
int weft_ip_parse(const char *s, size_t len, weft_ip_t *ip);
void weft_ip_from_sockaddr(const struct sockaddr *sa, weft_ip_t *ip, uint16_t *port);
/* Fills ss from ip and port. Returns the sockaddr length. */
socklen_t weft_ip_to_sockaddr(const weft_ip_t *ip, uint16_t port, struct sockaddr_storage *ss);
bool weft_ip_eq(const weft_ip_t *a, const weft_ip_t *b);
/* Formats without port into out (NUL-terminated). Returns out. */
char *weft_ip_format(const weft_ip_t *ip, char *out, size_t outlen);
/* "ip:port" into out (NUL-terminated, cut to outlen - 1 bytes as
 * snprintf would): the same text as weft_ip_format's, then ':' and the
 * port in decimal (IPv6 without brackets). Returns the length written. */
size_t weft_ip_port_format(const weft_ip_t *ip, uint16_t port, char *out, size_t outlen);

/* ---- building ---- */

/* Builds a view for node from decoded resources (borrowed; everything is
 * copied into the view). Workloads of other nodes are ignored (node NULL:
 * none are). Invalid entries (missing name, bad IP literal, bad port,
 * duplicate uid: the first is kept) are skipped and reported through
 * err/errlen as "kind ns/name: reason" for the first one; the rest of the
 * view is still built. An authorization rule with a bad CIDR or port is
 * not skipped (that could widen access) but kept with `invalid` set: it
 * fails closed like an L7 rule. The trust domain is the first non-empty
 * Workload.trust_domain, else "cluster.local"; an empty service account
 * is "default"; an endpoint weight of 0 is 1. L7: a port's route rules
 * are sorted by (route_order, route, rule_index); a rule that cannot be
 * read (unknown match/filter type, bad backend or port) is dropped and
 * reported; a service's DestinationPolicy is copied with out-of-range
 * values clamped or defaulted (an unreadable faultInjection is dropped:
 * never inject what cannot be read). An authorization rule with when:
 * conditions has has_l7_when set. Returns the view (refs 1) or NULL on no
 * memory. */
weft_av_t *weft_av_build(const char *node, uint64_t generation,
			 Weft__Agent__V1__Workload *const *wl, size_t nwl,
			 Weft__Agent__V1__Service *const *svc, size_t nsvc,
			 Weft__Agent__V1__Authorization *const *az, size_t naz,
			 char *err, size_t errlen);
weft_av_t *weft_av_ref(weft_av_t *v);
void weft_av_unref(weft_av_t *v);

/* ---- lookups (O(log n) or O(1)) ---- */

const weft_av_workload_t *weft_av_workload(const weft_av_t *v, const char *uid);
/* The local workload that owns ip, or NULL. */
const weft_av_workload_t *weft_av_workload_by_ip(const weft_av_t *v, const weft_ip_t *ip);
/* The service whose clusterIP:port is (ip, port), with its port in *sp. */
const weft_av_service_t *weft_av_service_by_vip(const weft_av_t *v, const weft_ip_t *ip,
						uint16_t port, const weft_av_port_t **sp);
/* The endpoint (of any service) whose workload address is ip, or NULL:
 * an outbound connection straight to a pod IP of the mesh. */
const weft_av_endpoint_t *weft_av_endpoint_by_ip(const weft_av_t *v, const weft_ip_t *ip);
const weft_av_service_t *weft_av_service(const weft_av_t *v, const char *uid);
/* The port of s (NULL allowed) whose service port is port, or NULL
 * (O(number of ports)): e.g. an L7 route backend's (svc, port). */
const weft_av_port_t *weft_av_service_port(const weft_av_service_t *s, uint16_t port);

/* ---- authorization (src/agent/authz.c) ---- */

/* What is known of an inbound connection. */
typedef struct weft_authz_input {
	const char *principal;       /* peer's SPIFFE ID without "spiffe://"; NULL: plaintext */
	const char *ns;              /* peer's namespace; NULL: plaintext */
	weft_ip_t src;               /* original source address */
	uint16_t dst_port;           /* destination (workload) port */
} weft_authz_input_t;

typedef struct weft_authz_result {
	bool allow;
	const weft_av_authz_t *policy;   /* the deciding policy (DENY match, ALLOW match), or NULL */
	bool audit;                      /* an AUDIT policy matched */
	/* static or view-lived: "denied by ns/name", "allowed by ns/name",
	 * "no allow policy matched", "allowed (no allow policy)" */
	const char *reason;
} weft_authz_result_t;

/* Evaluates the workload's policies in Istio's order: any matching DENY
 * denies; then if there is no ALLOW policy the connection is allowed;
 * otherwise some ALLOW policy must match. AUDIT policies only mark the
 * result. At L4, rules naming L7 attributes never match for ALLOW and
 * always match for DENY (fail closed). A plaintext peer (principal/ns
 * NULL) fails any source clause naming principals or namespaces, "not"
 * lists included. w NULL: allowed. */
void weft_authz_eval(const weft_av_workload_t *w, const weft_authz_input_t *in,
		     weft_authz_result_t *out);

/* ---- endpoint choice (src/agent/lb.c) ---- */

/* Per-endpoint load kept by the agent (active connections), keyed by the
 * endpoint's workload uid so it survives view updates. */
typedef struct weft_lb_load weft_lb_load_t;
weft_lb_load_t *weft_lb_load_new(void);
void weft_lb_load_free(weft_lb_load_t *l);
/* Adjusts the active count of endpoint uid by delta (+1 / -1). */
void weft_lb_load_add(weft_lb_load_t *l, const char *uid, int delta);
unsigned weft_lb_load_get(const weft_lb_load_t *l, const char *uid);

/* How close locality `to` is to `from`: 3 same region, zone and subzone;
 * 2 region and zone; 1 region; 0 other (or from NULL). Shared with the L7
 * chooser (src/agent/l7_cluster.c). */
int weft_lb_tier(const weft_av_locality_t *from, const weft_av_locality_t *to);

/* Picks an endpoint of svc for a client at `from` locality: the
 * endpoints of the best locality tier (same region+zone+subzone, then
 * zone, then region, then any) that are not excluded, then power of two
 * random choices by least active connections (weights scale the load).
 * exclude (may be NULL) is a predicate for endpoints to skip (failed in
 * this attempt). rnd is the caller's random state. Returns NULL when no
 * endpoint is usable. */
const weft_av_endpoint_t *weft_lb_pick(const weft_av_service_t *svc,
				       const weft_av_locality_t *from, weft_lb_load_t *load,
				       bool (*exclude)(void *arg, const weft_av_endpoint_t *e),
				       void *arg, uint64_t *rnd);

#endif
