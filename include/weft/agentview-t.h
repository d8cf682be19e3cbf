/* weft — the agent's view of the mesh: what its node needs, decoded from
 * the weft.agent.v1 xDS resources (api/weft/agent/v1/agent.proto). Types
 * only. Built by src/agent/view.c (from the xDS client's resources),
 * consumed by capture, the L4 data path, authorization, load balancing and
 * the admin endpoint.
 *
 * A view is immutable and reference counted; each xDS update builds a new
 * one and the agent swaps it in (connections hold references on the
 * objects they use through the view they started with). Everything lives
 * in the view's arena. */
#ifndef WEFT_AGENTVIEW_T_H
#define WEFT_AGENTVIEW_T_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include "weft/arena-t.h"
#include "weft/authz-t.h"
#include "weft/model-t.h"

/* An IPv4 or IPv6 address (no port). v4 is stored v4-mapped in a6. */
typedef struct weft_ip {
	uint8_t a6[16];
	bool v4;
} weft_ip_t;

typedef struct weft_av_kv {
	const char *key, *value;
} weft_av_kv_t;

typedef struct weft_av_locality {
	const char *region, *zone, *subzone;   /* "" when unset */
} weft_av_locality_t;

typedef enum weft_av_mtls {
	WEFT_AV_MTLS_PERMISSIVE = 0,
	WEFT_AV_MTLS_STRICT,
} weft_av_mtls_t;

struct weft_av_authz;

/* A workload on this node. */
typedef struct weft_av_workload {
	const char *uid;             /* "ns/name" */
	const char *name, *ns, *sa;
	const char *spiffe;          /* spiffe://<td>/ns/<ns>/sa/<sa> */
	const char *node;
	weft_ip_t node_addr;
	size_t naddrs;
	weft_ip_t *addrs;
	const char *netns;           /* "" when none */
	const char *cgroup;          /* "" when none */
	size_t nlabels;
	weft_av_kv_t *labels;        /* sorted by key */
	weft_av_locality_t locality;
	weft_av_mtls_t mtls;
	size_t npolicies;
	const struct weft_av_authz **policies;   /* resolved (missing names dropped) */
} weft_av_workload_t;

typedef enum weft_av_proto {
	WEFT_AV_TCP = 0,
	WEFT_AV_HTTP,
	WEFT_AV_HTTP2,
	WEFT_AV_GRPC,
} weft_av_proto_t;

/* ---- L7 routing (HTTPRoute / GRPCRoute attached to a service port) ----
 * Matches, filters and header modifications reuse the config model's types
 * (weft/model-t.h); their strings live in the view's arena and their
 * weft_loc_t fields are empty. */
typedef struct weft_av_backend {
	const char *svc;             /* "ns/name" of a view service (look it up per request) */
	uint16_t port;               /* service port */
	uint32_t weight;             /* 0: receives nothing */
} weft_av_backend_t;

typedef struct weft_av_route_rule {
	const char *route;           /* "ns/name" of the route it came from */
	weft_route_kind_t kind;
	uint32_t rule_index;         /* its index in that route */
	uint32_t route_order;        /* the route's rank: older first (creation / file order) */
	size_t nhostnames;
	const char **hostnames;      /* the route's spec.hostnames (none: any) */
	size_t nmatches;
	weft_route_match_t *matches; /* none: every request */
	size_t nfilters;
	weft_filter_t *filters;      /* mirror backends are name/ns/port refs (svc NULL) */
	size_t nbackends;
	weft_av_backend_t *backends; /* none: the parent service itself */
	uint64_t timeout_request_ms; /* 0 = unset */
	uint64_t timeout_backend_ms; /* 0 = unset */
} weft_av_route_rule_t;

typedef struct weft_av_port {
	uint16_t port, target_port;
	weft_av_proto_t proto;
	const char *name;
	/* L7 is engaged on this port when proto is HTTP/HTTP2/GRPC or l7 is
	 * set (a route or policy needs it). */
	bool l7;
	size_t nrules;
	weft_av_route_rule_t *rules; /* every attached route's rules, in route order then rule order */
} weft_av_port_t;

typedef struct weft_av_endpoint {
	const char *workload;        /* "ns/name" */
	const char *name, *ns, *sa;
	const char *spiffe;          /* its identity, what the tunnel must verify */
	weft_ip_t addr;              /* the first address: where tunnels deliver */
	size_t naddrs;
	weft_ip_t *addrs;            /* every address (addrs[0] == addr): each one is the mesh */
	const char *node;
	weft_ip_t node_addr;
	weft_av_locality_t locality;
	uint32_t weight;
	const char *app, *version;   /* labels "app"/"version" (or ""): metric labels */
} weft_av_endpoint_t;

typedef struct weft_av_service {
	const char *uid;             /* "ns/name" */
	const char *name, *ns;
	const char *hostname;        /* name.ns.svc.cluster.local */
	bool has_vip;
	weft_ip_t vip;               /* clusterIP */
	size_t nports;
	weft_av_port_t *ports;
	size_t nendpoints;
	weft_av_endpoint_t *endpoints;
	/* the DestinationPolicy targeting it (NULL: none). Strings in the
	 * view's arena; meta/target/svc are unset. */
	const weft_dest_policy_t *policy;
} weft_av_service_t;

/* ---- authorization (Istio semantics; evaluated by src/agent/authz.c) ---- */

/* weft_authz_action_t (ALLOW, DENY, AUDIT) is shared with the config
 * model: weft/authz-t.h. */

typedef struct weft_av_cidr {
	weft_ip_t ip;
	uint8_t bits;                /* prefix length in the v4 (0..32) or v6 (0..128) space */
} weft_av_cidr_t;

typedef struct weft_av_strs {
	size_t n;
	const char **v;
} weft_av_strs_t;

typedef struct weft_av_source {
	weft_av_strs_t principals, not_principals, namespaces, not_namespaces;
	size_t nip, nnot_ip;
	weft_av_cidr_t *ip, *not_ip;
} weft_av_source_t;

typedef struct weft_av_operation {
	size_t nports, nnot_ports;
	uint16_t *ports, *not_ports;
	bool has_l7;
	/* the L7 attributes as written (Istio: exact, "prefix*", "*suffix", "*") */
	weft_av_strs_t hosts, not_hosts, methods, not_methods, paths, not_paths;
} weft_av_operation_t;

/* rules[].when[]: key is Istio's ("request.headers[x-foo]",
 * "source.principal", "source.namespace", "source.ip", "destination.port",
 * "request.auth.*" is not supported and never matches). */
typedef struct weft_av_when {
	const char *key;
	weft_av_strs_t values, not_values;
} weft_av_when_t;

typedef struct weft_av_rule {
	size_t nfrom;
	weft_av_source_t *from;
	size_t nto;
	weft_av_operation_t *to;
	bool has_l7_when;
	size_t nwhen;
	weft_av_when_t *when;
	bool invalid;                /* a CIDR or port could not be read: the rule fails
				      * closed (treated like has_l7_when) */
} weft_av_rule_t;

typedef struct weft_av_authz {
	const char *uid;             /* "ns/name" */
	const char *name, *ns;
	weft_authz_action_t action;
	/* "denied by ns/name", "allowed by ns/name", "audited by ns/name":
	 * view-lived reasons for weft_authz_result_t */
	const char *why_deny, *why_allow, *why_audit;
	size_t nrules;
	weft_av_rule_t *rules;
} weft_av_authz_t;

/* The whole view. Arrays sorted by uid. */
typedef struct weft_av {
	weft_arena_t arena;
	unsigned refs;
	uint64_t generation;         /* increases with each update */
	const char *node;            /* this node's name */
	const char *trust_domain;    /* from the workloads (or the CA) */
	size_t nworkloads;
	weft_av_workload_t *workloads;
	size_t nservices;
	weft_av_service_t *services;
	size_t nauthz;
	weft_av_authz_t *authz;
	/* lookup indexes (private to view.c) */
	void *idx;
} weft_av_t;

#endif
