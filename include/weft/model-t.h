/* weft — the resolved configuration model: what `weft control` serves.
 * Types only. A model is immutable once built; everything in it (strings
 * included) lives in its arena or in the decoded files it holds a
 * reference on (sources; shared with the config cache and other models,
 * never modified) and is freed with it. Cross references
 * (route -> service, workload -> node, ...) are resolved pointers into the
 * same model. Produced by src/control/config*.c, consumed by the xDS
 * translation (src/control/xds_translate*.c) and the CLI. */
#ifndef WEFT_MODEL_T_H
#define WEFT_MODEL_T_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "weft/arena-t.h"
#include "weft/authz-t.h"
#include "weft/str-t.h"

/* Where a value came from, for error messages and `weft explain`. */
typedef struct weft_loc {
	const char *file;   /* NUL-terminated, lives as long as the model */
	unsigned line;      /* 1-based */
} weft_loc_t;

typedef struct weft_kv {
	weft_str_t key;
	weft_str_t value;
} weft_kv_t;

typedef struct weft_labels {
	size_t n;
	weft_kv_t *kv;      /* sorted by key, keys unique */
} weft_labels_t;

/* metadata.{name,namespace,labels}; ns is empty for cluster-scoped kinds. */
typedef struct weft_meta {
	weft_str_t name;
	weft_str_t ns;
	weft_labels_t labels;
	weft_loc_t loc;     /* the document's first line */
} weft_meta_t;

typedef enum weft_app_proto {
	WEFT_APP_TCP = 0,
	WEFT_APP_HTTP,
	WEFT_APP_HTTP2,
	WEFT_APP_GRPC,
} weft_app_proto_t;

/* ---- Node ---- */
typedef struct weft_locality {
	weft_str_t region;
	weft_str_t zone;
	weft_str_t subzone;
} weft_locality_t;

typedef struct weft_node {
	weft_meta_t meta;
	weft_str_t address;          /* IP the node's agent is reached at */
	weft_locality_t locality;
} weft_node_t;

/* ---- Workload ---- */
typedef struct weft_workload {
	weft_meta_t meta;
	weft_str_t service_account;  /* default "default" */
	weft_str_t node_name;
	const weft_node_t *node;     /* NULL when node_name is empty */
	weft_loc_t node_loc;         /* where spec.node was written (line 0 when absent) */
	size_t naddrs;
	weft_str_t *addrs;           /* IPv4/IPv6 literals, at least one */
	weft_str_t netns;            /* path, may be empty */
	weft_str_t cgroup;           /* path, may be empty */
	uint32_t weight;             /* load balancing weight, default 1 */
} weft_workload_t;

/* ---- Service ---- */
typedef struct weft_svc_port {
	weft_str_t name;             /* may be empty when a single port */
	uint16_t port;
	uint16_t target_port;        /* port on the workloads; defaults to port */
	weft_app_proto_t proto;      /* appProtocol, default tcp */
	weft_loc_t loc;
} weft_svc_port_t;

struct weft_dest_policy;
struct weft_route;

typedef struct weft_service {
	weft_meta_t meta;
	weft_labels_t selector;      /* matched against workloads of the same namespace */
	weft_str_t cluster_ip;       /* may be empty */
	size_t nports;
	weft_svc_port_t *ports;
	/* resolved */
	size_t nworkloads;
	const weft_workload_t **workloads;       /* selected, sorted by ns/name */
	const struct weft_dest_policy *policy;   /* NULL when none targets it */
	size_t nroutes;
	const struct weft_route **routes;        /* attached routes, by creation order (file order) */
} weft_service_t;

/* ---- HTTPRoute / GRPCRoute ---- */
typedef enum weft_match_type {
	WEFT_MATCH_NONE = 0,     /* no constraint */
	WEFT_MATCH_EXACT,
	WEFT_MATCH_PREFIX,       /* PathPrefix: element-wise prefix, as Gateway API defines */
	WEFT_MATCH_REGEX,        /* RegularExpression (RE2 syntax; validated) */
} weft_match_type_t;

/* A header or query parameter match. */
typedef struct weft_str_match {
	weft_match_type_t type;  /* EXACT or REGEX */
	weft_str_t name;
	weft_str_t value;
	weft_loc_t loc;
} weft_str_match_t;

typedef struct weft_route_match {
	weft_match_type_t path_type;     /* HTTPRoute; NONE for GRPCRoute */
	weft_str_t path;
	size_t nheaders;
	weft_str_match_t *headers;
	size_t nquery;
	weft_str_match_t *query;         /* HTTPRoute only */
	weft_str_t method;               /* HTTPRoute: GET, POST...; empty = any */
	/* GRPCRoute method match; type NONE when absent. Empty service or
	 * method means "any". */
	weft_match_type_t grpc_type;     /* EXACT or REGEX */
	weft_str_t grpc_service;
	weft_str_t grpc_method;
	weft_loc_t loc;
} weft_route_match_t;

typedef struct weft_header_mod {
	size_t nset;
	weft_kv_t *set;
	size_t nadd;
	weft_kv_t *add;
	size_t nremove;
	weft_str_t *remove;
} weft_header_mod_t;

struct weft_service;

typedef struct weft_backend_ref {
	weft_str_t name;
	weft_str_t ns;                   /* defaults to the route's namespace */
	uint16_t port;                   /* required for Service backends */
	uint32_t weight;                 /* default 1; 0 = receives nothing */
	const struct weft_service *svc;  /* resolved */
	weft_loc_t loc;
} weft_backend_ref_t;

typedef enum weft_filter_type {
	WEFT_FILTER_REQUEST_HEADER = 0,  /* RequestHeaderModifier */
	WEFT_FILTER_RESPONSE_HEADER,     /* ResponseHeaderModifier */
	WEFT_FILTER_MIRROR,              /* RequestMirror */
	WEFT_FILTER_URL_REWRITE,         /* URLRewrite */
	WEFT_FILTER_REDIRECT,            /* RequestRedirect */
} weft_filter_type_t;

typedef enum weft_path_mod {
	WEFT_PATH_MOD_NONE = 0,
	WEFT_PATH_MOD_FULL,              /* ReplaceFullPath */
	WEFT_PATH_MOD_PREFIX,            /* ReplacePrefixMatch */
} weft_path_mod_t;

typedef struct weft_filter {
	weft_filter_type_t type;
	weft_loc_t loc;
	weft_header_mod_t headers;       /* REQUEST_HEADER, RESPONSE_HEADER */
	struct {
		weft_backend_ref_t backend;
		uint32_t percent_ppm;    /* parts per million mirrored, default 1000000 */
	} mirror;
	struct {
		weft_str_t hostname;     /* empty: unchanged */
		weft_path_mod_t path_mod;
		weft_str_t path;
	} rewrite;
	struct {
		weft_str_t scheme;       /* empty: unchanged */
		weft_str_t hostname;
		weft_path_mod_t path_mod;
		weft_str_t path;
		uint16_t port;           /* 0: unchanged */
		uint16_t status;         /* 301 (default) or 302, 303, 307, 308 */
	} redirect;
} weft_filter_t;

typedef struct weft_route_rule {
	size_t nmatches;
	weft_route_match_t *matches;     /* none: matches every request */
	size_t nfilters;
	weft_filter_t *filters;
	size_t nbackends;
	weft_backend_ref_t *backends;
	uint64_t timeout_request_ms;     /* timeouts.request; 0 = unset */
	uint64_t timeout_backend_ms;     /* timeouts.backendRequest; 0 = unset */
	weft_loc_t loc;
} weft_route_rule_t;

typedef enum weft_route_kind {
	WEFT_ROUTE_HTTP = 0,
	WEFT_ROUTE_GRPC,
} weft_route_kind_t;

/* A parentRef: kind Service (GAMMA). port 0 = every port of the service. */
typedef struct weft_parent_ref {
	weft_str_t name;
	weft_str_t ns;
	uint16_t port;
	const struct weft_service *svc;  /* resolved */
	weft_loc_t loc;
} weft_parent_ref_t;

typedef struct weft_route {
	weft_meta_t meta;
	weft_route_kind_t kind;
	size_t nparents;
	weft_parent_ref_t *parents;
	size_t nhostnames;
	weft_str_t *hostnames;
	size_t nrules;
	weft_route_rule_t *rules;
} weft_route_t;

/* ---- DestinationPolicy ---- */
typedef enum weft_lb_type {
	WEFT_LB_ROUND_ROBIN = 0,
	WEFT_LB_LEAST_REQUEST,
	WEFT_LB_RING_HASH,
	WEFT_LB_RANDOM,
	WEFT_LB_MAGLEV,          /* agent only (proxyless clients: ring hash) */
} weft_lb_type_t;

/* retryOn conditions (bit set) */
#define WEFT_RETRY_5XX                 (1u << 0)
#define WEFT_RETRY_GATEWAY_ERROR       (1u << 1)
#define WEFT_RETRY_RESET               (1u << 2)
#define WEFT_RETRY_CONNECT_FAILURE     (1u << 3)
#define WEFT_RETRY_RETRIABLE_4XX       (1u << 4)
#define WEFT_RETRY_REFUSED_STREAM      (1u << 5)
#define WEFT_RETRY_CANCELLED           (1u << 6)   /* gRPC status conditions */
#define WEFT_RETRY_DEADLINE_EXCEEDED   (1u << 7)
#define WEFT_RETRY_INTERNAL            (1u << 8)
#define WEFT_RETRY_RESOURCE_EXHAUSTED  (1u << 9)
#define WEFT_RETRY_UNAVAILABLE         (1u << 10)
#define WEFT_RETRY_RETRIABLE_STATUS    (1u << 11)  /* HTTP codes in retriable_status */

#define WEFT_PPM_ALL 1000000u  /* percentages are kept in parts per million */

typedef struct weft_dest_policy {
	weft_meta_t meta;
	weft_str_t target;               /* spec.targetRef.name: a Service in the same namespace */
	const struct weft_service *svc;  /* resolved */
	weft_loc_t target_loc;           /* where spec.targetRef was written */
	struct {
		weft_lb_type_t type;
		uint32_t choice_count;       /* LEAST_REQUEST, default 2 */
		uint64_t ring_min;           /* RING_HASH, default 1024 */
		uint64_t ring_max;           /* RING_HASH, default 8388608 */
		weft_str_t hash_header;      /* RING_HASH: header to hash on; empty = none */
		bool hash_source_ip;         /* RING_HASH: hash on the client's address */
		weft_str_t hash_cookie;      /* RING_HASH / MAGLEV: cookie to hash on; empty = none */
		bool type_set;               /* type was written (the agent's default is LEAST_REQUEST) */
	} lb;
	struct {
		bool set;
		uint32_t max_connections;    /* 0 = unlimited, for each field */
		uint32_t max_pending_requests;
		uint32_t max_requests;
		uint32_t max_retries;
	} limits;
	struct {
		bool set;
		uint32_t consecutive_5xx;            /* 0 = disabled */
		uint32_t consecutive_gateway_errors; /* 0 = disabled */
		uint64_t interval_ms;                /* default 10000 */
		uint64_t base_ejection_ms;           /* default 30000 */
		uint32_t max_ejection_percent;       /* default 10 */
		/* success-rate ejection (Envoy's): 0 stdev factor = disabled */
		uint32_t sr_stdev_factor_milli;      /* e.g. 1900 = 1.9 standard deviations */
		uint32_t sr_min_hosts;               /* default 5 */
		uint32_t sr_request_volume;          /* default 100 requests per interval */
	} outlier;
	struct {
		bool set;
		uint32_t attempts;           /* retries after the first try (num_retries) */
		uint64_t per_try_timeout_ms; /* 0 = unset */
		uint32_t retry_on;           /* WEFT_RETRY_* */
		size_t nstatus;
		uint32_t *retriable_status;  /* HTTP codes, with WEFT_RETRY_RETRIABLE_STATUS */
		uint64_t backoff_base_ms;    /* default 25 */
		uint64_t backoff_max_ms;     /* default 10 * base */
		bool budget_set;
		uint32_t budget_percent_ppm; /* retries may add at most this share of active requests */
		uint32_t budget_min_concurrency;
	} retry;
	struct {
		bool set;
		uint32_t delay_ppm;          /* share of requests delayed; 0 = no delay */
		uint64_t delay_ms;
		uint32_t abort_ppm;          /* share of requests aborted; 0 = no abort */
		uint32_t abort_http_status;  /* one of the two is non-zero when abort_ppm > 0 */
		uint32_t abort_grpc_status;
		bool abort_grpc;             /* true: abort_grpc_status applies (0 is not valid) */
		size_t nheaders;             /* the fault applies only to requests matching */
		weft_str_match_t *headers;   /* every one of these (none: every request) */
	} fault;
	struct {
		bool set;                    /* local rate limit at the destination (token bucket) */
		uint32_t max_tokens;
		uint32_t tokens_per_fill;
		uint64_t fill_interval_ms;
		bool per_route;              /* one bucket per route rule instead of per workload */
	} rate_limit;
	struct {
		bool set;                    /* active health checks by the source agents */
		bool grpc;                   /* grpc.health.v1 Check instead of an HTTP GET */
		weft_str_t path;             /* HTTP: GET path (default "/healthz"); gRPC: service name */
		uint64_t interval_ms;        /* default 5000 */
		uint64_t timeout_ms;         /* default 1000 */
		uint32_t unhealthy_threshold;/* default 2 */
		uint32_t healthy_threshold;  /* default 1 */
	} health;
} weft_dest_policy_t;

/* ---- AuthorizationPolicy (security.istio.io/v1) ---- */
/* weft_authz_action_t (ALLOW = the default, DENY, AUDIT): weft/authz-t.h */

/* A list of strings as written. */
typedef struct weft_strs {
	size_t n;
	weft_str_t *v;
} weft_strs_t;

/* rules[].from[].source: every non-empty list must match. principals are
 * Istio's "<td>/ns/<ns>/sa/<sa>" with '*' alone, as a prefix or as a
 * suffix; ip_blocks are CIDRs or single IPs (validated). */
typedef struct weft_authz_source {
	weft_strs_t principals, not_principals;
	weft_strs_t namespaces, not_namespaces;
	weft_strs_t ip_blocks, not_ip_blocks;
	weft_loc_t loc;
} weft_authz_source_t;

/* rules[].to[].operation. hosts/methods/paths (and their nots) are L7:
 * kept as written and flagged with has_l7. */
typedef struct weft_authz_operation {
	size_t nports, nnot_ports;
	uint16_t *ports, *not_ports;     /* 1..65535 */
	weft_strs_t hosts, not_hosts;
	weft_strs_t methods, not_methods;
	weft_strs_t paths, not_paths;
	bool has_l7;
	weft_loc_t loc;
} weft_authz_operation_t;

/* rules[].when[]: an (L7) condition, kept as written. */
typedef struct weft_authz_condition {
	weft_str_t key;
	weft_strs_t values, not_values;
	weft_loc_t loc;
} weft_authz_condition_t;

/* A rule matches when some source matches (or there is none) and some
 * operation matches (or there is none) and every condition holds. */
typedef struct weft_authz_rule {
	size_t nfrom, nto, nwhen;
	weft_authz_source_t *from;
	weft_authz_operation_t *to;
	weft_authz_condition_t *when;
	weft_loc_t loc;
} weft_authz_rule_t;

typedef struct weft_authz_policy {
	weft_meta_t meta;
	weft_labels_t selector;          /* spec.selector.matchLabels; empty: the whole namespace */
	weft_authz_action_t action;
	size_t nrules;
	weft_authz_rule_t *rules;        /* none: matches nothing (ALLOW with none = deny all) */
} weft_authz_policy_t;

/* ---- PeerAuthentication (security.istio.io/v1) ---- */
typedef enum weft_mtls_mode {
	WEFT_MTLS_UNSET = 0,             /* inherit from the wider scope */
	WEFT_MTLS_PERMISSIVE,
	WEFT_MTLS_STRICT,
} weft_mtls_mode_t;

typedef struct weft_peer_auth {
	weft_meta_t meta;
	weft_labels_t selector;          /* spec.selector.matchLabels; empty: namespace-wide */
	weft_mtls_mode_t mode;           /* spec.mtls.mode; UNSET when absent */
} weft_peer_auth_t;

/* ---- the whole model ---- */
struct weft_cfg_file;

typedef struct weft_model {
	weft_arena_t arena;              /* the arrays below, resolved references */
	size_t nfiles;
	const char **files;              /* the files it was read from */
	struct weft_cfg_file **sources;  /* nfiles: each file's decoded objects (weft/config-t.h),
					  * one reference each, dropped by weft_model_free() */
	size_t nnodes;
	weft_node_t *nodes;              /* each array sorted by (ns, name) */
	size_t nworkloads;
	weft_workload_t *workloads;
	size_t nservices;
	weft_service_t *services;
	size_t nroutes;
	weft_route_t *routes;
	size_t npolicies;
	weft_dest_policy_t *policies;
	size_t nauthz;
	weft_authz_policy_t *authz;      /* AuthorizationPolicy */
	size_t npeerauth;
	weft_peer_auth_t *peerauth;      /* PeerAuthentication */
} weft_model_t;

/* ---- config errors ---- */
typedef struct weft_cfg_error {
	const char *file;   /* NUL-terminated */
	unsigned line;      /* 0 when not tied to a line */
	const char *field;  /* dotted path, e.g. "spec.rules[0].matches[1].path.value" */
	const char *msg;
} weft_cfg_error_t;

/* Errors of one load; the strings live in the arena. */
typedef struct weft_cfg_errors {
	weft_arena_t arena;
	size_t n, cap;
	weft_cfg_error_t *v;
} weft_cfg_errors_t;

#endif
