/* weft — the agent's L7 decisions: route selection and filters, path
 * normalization, L7 authorization, per-destination state (load balancing,
 * circuit breaking, outlier detection, health, retry budget), local rate
 * limiting and fault injection. Pure logic on heads and views: no I/O;
 * the data path (src/agent/l7_*.c) calls these per request.
 *
 *   src/agent/l7_route.c    route selection, weighted backends, filters, redirects
 *   src/agent/l7_path.c     path normalization (authorization and routing input)
 *   src/agent/authz.c       weft_authz_eval_l7 (next to the L4 evaluation)
 *   src/agent/l7_cluster.c  per-destination state: LB, breakers, outlier, health, budget
 *   src/agent/l7_limit.c    token buckets, fault decisions */
#ifndef WEFT_L7_H
#define WEFT_L7_H
#include "weft/agentview.h"
#include "weft/http-t.h"
#include "weft/rc.h"

/* ---- route selection (l7_route.c) ---- */

/* The rule a request takes on a service port, and which of its matches
 * matched (-1: the rule has no matches). */
typedef struct weft_l7_route_sel {
	const weft_av_route_rule_t *rule;
	int match;
} weft_l7_route_sel_t;

/* Selects among port->rules for request head h (h->path includes the
 * query) with Gateway API precedence: among matching (hostname, match)
 * pairs, the longest exact hostname, then wildcard hostname, then an
 * exact path match, then the longest prefix, then regex, then the most
 * header matches, then the most query matches, then method; ties go to
 * the older route (route_order), then rule order. gRPC rules (kind
 * GRPC) match on the path "/<service>/<method>". Returns WEFT_OK with
 * sel filled, or WEFT_EAGAIN when the port has rules but none matches
 * (the proxy answers 404; gRPC: status 12 UNIMPLEMENTED), or WEFT_EFAIL
 * when the port has no rules (the request goes to the service itself). */
int weft_l7_route_select(const weft_av_port_t *port, const weft_http_head_t *h,
			 weft_l7_route_sel_t *sel);

/* Chooses a backend by weight (weights 0 never; rnd is the caller's
 * random state). NULL when every weight is 0 or there are none: the
 * proxy answers 500 (Gateway API: no valid backend). */
const weft_av_backend_t *weft_l7_backend_pick(const weft_av_route_rule_t *r, uint64_t *rnd);

/* What a RequestRedirect filter asks for. */
typedef struct weft_l7_redirect {
	int status;                  /* 0: no redirect */
	weft_str_t location;         /* absolute URL, in the arena given */
} weft_l7_redirect_t;

/* Applies the rule's request-side filters to req in order: request header
 * modification, URL rewrite (hostname, full path or the matched prefix
 * replaced; the query is kept) and redirect (fills *redir; the proxy then
 * answers it without forwarding). Mirror filters are not applied here
 * (weft_l7_mirrors). Returns WEFT_OK or WEFT_ENOMEM. */
int weft_l7_request_filters(const weft_l7_route_sel_t *sel, weft_hmsg_t *req,
			    weft_l7_redirect_t *redir);

/* Applies the rule's response header modification filters to resp. */
int weft_l7_response_filters(const weft_l7_route_sel_t *sel, weft_hmsg_t *resp);

/* The rule's mirror filters: fills up to max pointers, returns how many. */
size_t weft_l7_mirrors(const weft_av_route_rule_t *r, const weft_filter_t **out, size_t max);

/* RegularExpression values (route path/header/query/gRPC matches; other
 * L7 parts may use it too): a full match of v against RE2 text re,
 * approximated with POSIX ERE (weft_regex_to_ere, weft/regex.h). Patterns
 * are compiled once into a bounded per-thread table keyed by their bytes.
 * Returns true on a match; false otherwise, or when re does not compile
 * or memory ran out. */
bool weft_l7_regex_match(weft_str_t re, weft_str_t v);
/* Frees this thread's compiled patterns (at shutdown; later matches
 * compile again). */
void weft_l7_regex_cache_clear(void);

/* ---- path normalization (l7_path.c; fuzzed) ---- */

/* What to do with %2F and %5C (encoded '/' and '\') in paths. */
typedef enum weft_l7_slash_mode {
	WEFT_L7_SLASH_KEEP = 0,      /* leave them encoded (distinct from '/') */
	WEFT_L7_SLASH_DECODE,        /* decode, then normalize as separators */
	WEFT_L7_SLASH_REJECT,        /* answer 400 */
} weft_l7_slash_mode_t;

/* Normalizes the path part of a request target (everything before '?';
 * the query is not part of in) for authorization and routing:
 * '\' becomes '/', percent-encodings of unreserved characters are decoded
 * (others uppercased), %2F/%5C handled per mode, runs of '/' merged, "."
 * and ".." segments resolved (never above the root). The result starts
 * with '/' ("*" stays "*"). Returns WEFT_OK with *out in arena,
 * WEFT_EPROTO (answer 400) for %00, an invalid or truncated escape, a
 * control byte, a path not starting with '/' or '\' (other than "*"), or
 * an encoded slash in REJECT mode, or WEFT_ENOMEM. */
int weft_l7_normalize_path(weft_str_t in, weft_l7_slash_mode_t mode, weft_arena_t *arena,
			   weft_str_t *out);

/* ---- L7 authorization (authz.c) ---- */

/* The request attributes L7 policy reads. path is the normalized path
 * (without the query); h supplies method, authority (host, compared
 * case-insensitively, with or without the port) and headers for when:
 * conditions (every value of a repeated header is checked: a DENY matches
 * if any value matches, an ALLOW only if the values it requires match). */
typedef struct weft_authz_l7 {
	const weft_http_head_t *h;
	weft_str_t path;
} weft_authz_l7_t;

/* As weft_authz_eval, with the request's L7 attributes: rules naming
 * hosts, methods, paths and when: conditions are evaluated instead of
 * failing closed. */
void weft_authz_eval_l7(const weft_av_workload_t *w, const weft_authz_input_t *in,
			const weft_authz_l7_t *req, weft_authz_result_t *out);

/* ---- per-destination state (l7_cluster.c) ---- */

/* Every destination service's state on this agent, keyed by service uid
 * (it survives view swaps; endpoint state is keyed by workload uid). */
typedef struct weft_l7_clusters weft_l7_clusters_t;
typedef struct weft_l7_cluster weft_l7_cluster_t;

weft_l7_clusters_t *weft_l7_clusters_new(void);
void weft_l7_clusters_free(weft_l7_clusters_t *cs);

/* The state of svc (created on first use; its endpoint table follows the
 * service's current endpoints). NULL only when memory ran out. */
weft_l7_cluster_t *weft_l7_cluster(weft_l7_clusters_t *cs, const weft_av_service_t *svc);

/* Visits every cluster (metrics, admin): uid and counters. */
typedef struct weft_l7_cluster_stats {
	const char *svc;
	uint32_t active_requests, pending_requests, active_retries, active_connections;
	uint64_t overflow_requests, overflow_pending, overflow_retries, overflow_connections;
	uint64_t budget_exhausted;   /* retries refused by the retry budget */
	uint64_t ejections;          /* outlier ejections so far */
	uint32_t ejected_now;
	uint32_t unhealthy_now;      /* failing active health checks */
} weft_l7_cluster_stats_t;
void weft_l7_clusters_each(weft_l7_clusters_t *cs,
			   void (*fn)(void *arg, const weft_l7_cluster_stats_t *st), void *arg);

/* Circuit breaking against pol->limits (0 = unlimited). admit_* return
 * true and count one, or false and count an overflow (the proxy answers
 * a fast 503 with response flag UO). done_* release one. */
bool weft_l7_admit_request(weft_l7_cluster_t *cl, const weft_dest_policy_t *pol);
void weft_l7_done_request(weft_l7_cluster_t *cl);
bool weft_l7_admit_pending(weft_l7_cluster_t *cl, const weft_dest_policy_t *pol);
void weft_l7_done_pending(weft_l7_cluster_t *cl);
bool weft_l7_admit_connection(weft_l7_cluster_t *cl, const weft_dest_policy_t *pol);
void weft_l7_done_connection(weft_l7_cluster_t *cl);
/* A retry may start: within limits.max_retries and within the retry
 * budget (active retries <= max(budget_min_concurrency, budget_percent of
 * active requests); without a budget: Envoy's default of 20% with a
 * minimum of 3). Counts one active retry when true. */
bool weft_l7_admit_retry(weft_l7_cluster_t *cl, const weft_dest_policy_t *pol);
void weft_l7_done_retry(weft_l7_cluster_t *cl);

/* Backoff before retry number n (1-based): full jitter over an
 * exponentially growing interval, base * 2^(n-1) capped at max
 * (pol->retry.backoff_*; defaults 25 ms and 10x base). */
uint64_t weft_l7_backoff_ms(const weft_dest_policy_t *pol, unsigned n, uint64_t *rnd);

/* The request hash for RING_HASH / MAGLEV from the policy's header,
 * cookie or source IP. Returns true with *hash set, false when the
 * request has none of them (pick at random then). */
bool weft_l7_request_hash(const weft_dest_policy_t *pol, const weft_http_head_t *h,
			  const weft_ip_t *src, uint64_t *hash);

/* Picks an endpoint of the cluster's service. Skips endpoints that are
 * excluded (already tried by this request), ejected by outlier detection
 * (as Envoy: ejections never exceed max_ejection_percent of the endpoints,
 * except that one may always be ejected when there are two or more and
 * the percent is above 0), failing
 * active health checks, or penalised after a 429 / Retry-After until the
 * penalty ends (used only when nothing else is left). Within the best
 * locality tier (same region/zone/subzone as from, then zone, region,
 * any) it applies pol's algorithm (pol NULL or type unset: LEAST_REQUEST):
 * ROUND_ROBIN; LEAST_REQUEST: power of two choices (choice_count) by
 * active requests weighted by peak-EWMA latency; RING_HASH (ketama ring
 * of ring_min..ring_max entries) and MAGLEV (table of 65537) on hash when
 * has_hash; RANDOM. Endpoint weights are honoured. Returns NULL when no
 * endpoint is usable. */
const weft_av_endpoint_t *weft_l7_pick(weft_l7_cluster_t *cl, const weft_av_service_t *svc,
				       const weft_dest_policy_t *pol, const weft_av_locality_t *from,
				       bool has_hash, uint64_t hash,
				       bool (*exclude)(void *arg, const weft_av_endpoint_t *e),
				       void *arg, uint64_t *rnd, uint64_t now_ms);

/* A try to endpoint uid starts / ends. result: the HTTP status, or 0 for
 * a connect failure, reset or timeout (a gateway error). latency_us feeds
 * the peak-EWMA. retry_after_ms > 0 (a 429 or Retry-After) penalises the
 * endpoint that long. Outlier detection counts consecutive 5xx /
 * gateway errors (502, 503, 504, 0) and per-interval success rates;
 * crossing consecutive_* ejects at once (base_ejection_ms * times
 * ejected, at most max(300 s, base) as Envoy's max_ejection_time; each
 * interval without an ejection lowers times by one). */
void weft_l7_try_start(weft_l7_cluster_t *cl, const char *ep_uid);
void weft_l7_try_end(weft_l7_cluster_t *cl, const weft_dest_policy_t *pol, const char *ep_uid,
		     int result, uint64_t latency_us, uint64_t retry_after_ms, uint64_t now_ms);

/* Outlier detection's interval work: success-rate ejection over the
 * interval's counts, and return of endpoints whose ejection time passed.
 * The proxy calls it every pol->outlier.interval_ms. */
void weft_l7_outlier_tick(weft_l7_cluster_t *cl, const weft_dest_policy_t *pol, uint64_t now_ms);

/* True when ep_uid is ejected now. */
bool weft_l7_ejected(const weft_l7_cluster_t *cl, const char *ep_uid, uint64_t now_ms);

/* Active health check results (healthy_threshold / unhealthy_threshold
 * applied by the caller): marks ep_uid healthy or not. */
void weft_l7_set_health(weft_l7_cluster_t *cl, const char *ep_uid, bool healthy);

/* ---- local rate limit and faults (l7_limit.c) ---- */

typedef struct weft_l7_bucket {
	double tokens;
	uint64_t last_ms;
	bool init;
} weft_l7_bucket_t;

/* Takes one token from b refilled per pol->rate_limit (tokens_per_fill
 * every fill_interval_ms, up to max_tokens; full at first use). Returns
 * true when allowed; false with *retry_after_s (>= 1) set when empty (the
 * proxy answers 429 with Retry-After). */
bool weft_l7_bucket_take(weft_l7_bucket_t *b, const weft_dest_policy_t *pol, uint64_t now_ms,
			 uint32_t *retry_after_s);

/* A fault decision for one request. */
typedef struct weft_l7_fault {
	uint64_t delay_ms;           /* 0: none */
	int abort_http;              /* 0: none */
	int abort_grpc;              /* -1: none; else a gRPC status */
} weft_l7_fault_t;

/* Decides pol->fault for request h (its header matches must all hold;
 * delay and abort each drawn with their own probability). */
void weft_l7_fault_decide(const weft_dest_policy_t *pol, const weft_http_head_t *h,
			  uint64_t *rnd, weft_l7_fault_t *out);

/* Parses Retry-After (delay-seconds or an HTTP-date relative to now_s).
 * Returns milliseconds (at most a day), 0 when absent, unparsable or
 * not in the future. */
uint64_t weft_l7_retry_after_ms(const weft_http_head_t *h, uint64_t now_s);

/* A 64-bit random number from state *s (xorshift*; s must not be 0). */
uint64_t weft_l7_rand(uint64_t *s);

#endif
