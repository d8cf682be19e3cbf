/* weft — kind DestinationPolicy (weft.dev/v1alpha1): per-service client
 * behaviour (load balancing, limits, outlier detection, retries, faults)
 * and, for the node agents' L7 data path, local rate limiting and active
 * health checks. */
#include <string.h>
#include "weft/arena.h"
#include "weft/cfgdec.h"
#include "weft/config.h"
#include "weft/str.h"
#include "route_common.h"

typedef weft_dest_policy_t dp_t;

enum { D_TARGET, D_LB, D_LIMITS, D_OUTLIER, D_RETRIES, D_FAULT, D_RATE, D_HEALTH };
static const weft_field_t policy_fields[] = {
	[D_TARGET] = WF_NODE("targetRef", WEFT_F_MAP, WEFT_FF_REQUIRED),
	[D_LB] = WF_NODE("loadBalancer", WEFT_F_MAP, 0),
	[D_LIMITS] = WF_NODE("connectionLimits", WEFT_F_MAP, 0),
	[D_OUTLIER] = WF_NODE("outlierDetection", WEFT_F_MAP, 0),
	[D_RETRIES] = WF_NODE("retries", WEFT_F_MAP, 0),
	[D_FAULT] = WF_NODE("faultInjection", WEFT_F_MAP, 0),
	[D_RATE] = WF_NODE("rateLimit", WEFT_F_MAP, 0),
	[D_HEALTH] = WF_NODE("healthCheck", WEFT_F_MAP, 0),
};

typedef struct target {
	weft_str_t kind, group, name;
} target_t;
enum { T_KIND, T_GROUP, T_NAME };
static const weft_field_t target_fields[] = {
	[T_KIND] = WF("kind", WEFT_F_STR, 0, target_t, kind),
	[T_GROUP] = WF("group", WEFT_F_STR, 0, target_t, group),
	[T_NAME] = WF("name", WEFT_F_NAME, WEFT_FF_REQUIRED, target_t, name),
};

static const weft_enum_t lb_types[] = {
	{ "RoundRobin", WEFT_LB_ROUND_ROBIN }, { "LeastRequest", WEFT_LB_LEAST_REQUEST },
	{ "RingHash", WEFT_LB_RING_HASH }, { "Random", WEFT_LB_RANDOM }, { "Maglev", WEFT_LB_MAGLEV },
	{ NULL, 0 },
};
enum { LB_TYPE, LB_LEAST, LB_RING, LB_MAGLEV };
static const weft_field_t lb_fields[] = {
	[LB_TYPE] = WF_ENUM("type", 0, lb_types, dp_t, lb.type),
	[LB_LEAST] = WF_NODE("leastRequest", WEFT_F_MAP, 0),
	[LB_RING] = WF_NODE("ringHash", WEFT_F_MAP, 0),
	[LB_MAGLEV] = WF_NODE("maglev", WEFT_F_MAP, 0),
};
static const weft_field_t least_fields[] = {
	WF_UINT("choiceCount", 0, 2, 100, dp_t, lb.choice_count),
};
enum { RH_MIN, RH_MAX, RH_HEADER, RH_SRC, RH_COOKIE };
static const weft_field_t ring_fields[] = {
	[RH_MIN] = WF_UINT("minRingSize", 0, 1, 8388608, dp_t, lb.ring_min),
	[RH_MAX] = WF_UINT("maxRingSize", 0, 1, 8388608, dp_t, lb.ring_max),
	[RH_HEADER] = WF("header", WEFT_F_STR, 0, dp_t, lb.hash_header),
	[RH_SRC] = WF("sourceIP", WEFT_F_BOOL, 0, dp_t, lb.hash_source_ip),
	[RH_COOKIE] = WF("cookie", WEFT_F_STR, 0, dp_t, lb.hash_cookie),
};
/* maglev: the same hash keys as ringHash (the table size is fixed) */
enum { MG_HEADER, MG_SRC, MG_COOKIE };
static const weft_field_t maglev_fields[] = {
	[MG_HEADER] = WF("header", WEFT_F_STR, 0, dp_t, lb.hash_header),
	[MG_SRC] = WF("sourceIP", WEFT_F_BOOL, 0, dp_t, lb.hash_source_ip),
	[MG_COOKIE] = WF("cookie", WEFT_F_STR, 0, dp_t, lb.hash_cookie),
};

static const weft_field_t limit_fields[] = {
	WF_UINT("maxConnections", 0, 0, UINT32_MAX, dp_t, limits.max_connections),
	WF_UINT("maxPendingRequests", 0, 0, UINT32_MAX, dp_t, limits.max_pending_requests),
	WF_UINT("maxRequests", 0, 0, UINT32_MAX, dp_t, limits.max_requests),
	WF_UINT("maxRetries", 0, 0, UINT32_MAX, dp_t, limits.max_retries),
};

enum { OD_5XX, OD_GW, OD_INTERVAL, OD_BASE, OD_MAXPCT, OD_SR };
static const weft_field_t outlier_fields[] = {
	[OD_5XX] = WF_UINT("consecutive5xx", 0, 0, UINT32_MAX, dp_t, outlier.consecutive_5xx),
	[OD_GW] = WF_UINT("consecutiveGatewayErrors", 0, 0, UINT32_MAX, dp_t, outlier.consecutive_gateway_errors),
	[OD_INTERVAL] = WF("interval", WEFT_F_DURATION, 0, dp_t, outlier.interval_ms),
	[OD_BASE] = WF("baseEjectionTime", WEFT_F_DURATION, 0, dp_t, outlier.base_ejection_ms),
	[OD_MAXPCT] = WF_UINT("maxEjectionPercent", 0, 0, 100, dp_t, outlier.max_ejection_percent),
	[OD_SR] = WF_NODE("successRate", WEFT_F_MAP, 0),
};
/* Envoy's success-rate ejection: stdevFactor is in thousandths */
static const weft_field_t sr_fields[] = {
	WF_UINT("stdevFactor", 0, 1, 100000, dp_t, outlier.sr_stdev_factor_milli),
	WF_UINT("minimumHosts", 0, 1, 100000, dp_t, outlier.sr_min_hosts),
	WF_UINT("requestVolume", 0, 1, UINT32_MAX, dp_t, outlier.sr_request_volume),
};

enum { RL_MAX, RL_PER_FILL, RL_INTERVAL, RL_PER_ROUTE };
static const weft_field_t rate_fields[] = {
	[RL_MAX] = WF_UINT("maxTokens", WEFT_FF_REQUIRED, 1, UINT32_MAX, dp_t, rate_limit.max_tokens),
	[RL_PER_FILL] = WF_UINT("tokensPerFill", 0, 1, UINT32_MAX, dp_t, rate_limit.tokens_per_fill),
	[RL_INTERVAL] = WF("fillInterval", WEFT_F_DURATION, WEFT_FF_REQUIRED, dp_t, rate_limit.fill_interval_ms),
	[RL_PER_ROUTE] = WF("perRoute", WEFT_F_BOOL, 0, dp_t, rate_limit.per_route),
};

/* healthCheck.type: stored into health.grpc (a bool; the decoder stores
 * enum values by the field's size) */
static const weft_enum_t hc_types[] = { { "HTTP", 0 }, { "GRPC", 1 }, { NULL, 0 } };
enum { HC_TYPE, HC_PATH, HC_INTERVAL, HC_TIMEOUT, HC_UNHEALTHY, HC_HEALTHY };
static const weft_field_t health_fields[] = {
	[HC_TYPE] = WF_ENUM("type", 0, hc_types, dp_t, health.grpc),
	[HC_PATH] = WF("path", WEFT_F_STR, 0, dp_t, health.path),
	[HC_INTERVAL] = WF("interval", WEFT_F_DURATION, 0, dp_t, health.interval_ms),
	[HC_TIMEOUT] = WF("timeout", WEFT_F_DURATION, 0, dp_t, health.timeout_ms),
	[HC_UNHEALTHY] = WF_UINT("unhealthyThreshold", 0, 1, 1000, dp_t, health.unhealthy_threshold),
	[HC_HEALTHY] = WF_UINT("healthyThreshold", 0, 1, 1000, dp_t, health.healthy_threshold),
};

enum { RT_ATTEMPTS, RT_PER_TRY, RT_ON, RT_CODES, RT_BACKOFF, RT_BUDGET };
static const weft_field_t retry_fields[] = {
	[RT_ATTEMPTS] = WF_UINT("attempts", 0, 0, 100, dp_t, retry.attempts),
	[RT_PER_TRY] = WF("perTryTimeout", WEFT_F_DURATION, 0, dp_t, retry.per_try_timeout_ms),
	[RT_ON] = WF_NODE("retryOn", WEFT_F_SEQ, 0),
	[RT_CODES] = WF_NODE("retriableStatusCodes", WEFT_F_SEQ, 0),
	[RT_BACKOFF] = WF_NODE("backoff", WEFT_F_MAP, 0),
	[RT_BUDGET] = WF_NODE("budget", WEFT_F_MAP, 0),
};
enum { BO_BASE, BO_MAX };
static const weft_field_t backoff_fields[] = {
	[BO_BASE] = WF("baseInterval", WEFT_F_DURATION, 0, dp_t, retry.backoff_base_ms),
	[BO_MAX] = WF("maxInterval", WEFT_F_DURATION, 0, dp_t, retry.backoff_max_ms),
};
static const weft_field_t budget_fields[] = {
	WF("percent", WEFT_F_PERCENT, 0, dp_t, retry.budget_percent_ppm),
	WF_UINT("minRetryConcurrency", 0, 0, UINT32_MAX, dp_t, retry.budget_min_concurrency),
};

static const struct {
	const char *name;
	uint32_t bit;
} retry_on_names[] = {
	{ "5xx", WEFT_RETRY_5XX },
	{ "gateway-error", WEFT_RETRY_GATEWAY_ERROR },
	{ "reset", WEFT_RETRY_RESET },
	{ "connect-failure", WEFT_RETRY_CONNECT_FAILURE },
	{ "retriable-4xx", WEFT_RETRY_RETRIABLE_4XX },
	{ "refused-stream", WEFT_RETRY_REFUSED_STREAM },
	{ "cancelled", WEFT_RETRY_CANCELLED },
	{ "deadline-exceeded", WEFT_RETRY_DEADLINE_EXCEEDED },
	{ "internal", WEFT_RETRY_INTERNAL },
	{ "resource-exhausted", WEFT_RETRY_RESOURCE_EXHAUSTED },
	{ "unavailable", WEFT_RETRY_UNAVAILABLE },
};

enum { FI_DELAY, FI_ABORT, FI_HEADERS };
static const weft_field_t fault_fields[] = {
	[FI_DELAY] = WF_NODE("delay", WEFT_F_MAP, 0),
	[FI_ABORT] = WF_NODE("abort", WEFT_F_MAP, 0),
	[FI_HEADERS] = WF_NODE("headers", WEFT_F_SEQ, 0),
};
static const weft_field_t delay_fields[] = {
	WF("fixedDelay", WEFT_F_DURATION, WEFT_FF_REQUIRED, dp_t, fault.delay_ms),
	WF("percentage", WEFT_F_PERCENT, 0, dp_t, fault.delay_ppm),
};
enum { AB_HTTP, AB_GRPC, AB_PCT };
static const weft_field_t abort_fields[] = {
	[AB_HTTP] = WF_UINT("httpStatus", 0, 200, 599, dp_t, fault.abort_http_status),
	[AB_GRPC] = WF_UINT("grpcStatus", 0, 1, 16, dp_t, fault.abort_grpc_status),
	[AB_PCT] = WF("percentage", WEFT_F_PERCENT, 0, dp_t, fault.abort_ppm),
};

/* Decodes spec.retries. Returns 0 or -1. */
static int dec_retries(weft_dec_t *d, const weft_yaml_node_t *n, dp_t *p)
{
	const weft_yaml_node_t *got[WEFT_NFIELDS(retry_fields)], *s;
	bool failed = false;
	int rc;

	p->retry.set = true;
	rc = weft_dec_map(d, n, "spec.retries", retry_fields, WEFT_NFIELDS(retry_fields), p, got);
	if ((s = got[RT_ON])) {
		for (size_t i = 0; i < s->n; i++) {
			const char *path = weft_dec_idx(d, "spec.retries.retryOn", i);
			weft_str_t v = { 0 };
			size_t k;
			if (weft_dec_str(d, s->vals[i], path, true, &v) < 0) {
				rc = -1;
				continue;
			}
			for (k = 0; k < sizeof(retry_on_names) / sizeof(retry_on_names[0]); k++)
				if (weft_str_eq_c(v, retry_on_names[k].name))
					break;
			if (k == sizeof(retry_on_names) / sizeof(retry_on_names[0])) {
				weft_dec_err(d, s->vals[i]->line, path, "unknown retryOn condition \"%s\" (known: 5xx, "
					     "gateway-error, reset, connect-failure, retriable-4xx, refused-stream, "
					     "cancelled, deadline-exceeded, internal, resource-exhausted, unavailable)", v.p);
				rc = -1;
				continue;
			}
			p->retry.retry_on |= retry_on_names[k].bit;
		}
	}
	if ((s = got[RT_CODES])) {
		static const weft_field_t code = { "", WEFT_F_UINT, WEFT_FF_REQUIRED, 100, 599, NULL, 0, sizeof(uint32_t) };
		p->retry.retriable_status = weft_dec_array(d, s->n, sizeof(uint32_t), &failed);
		if (failed)
			return -1;
		for (size_t i = 0; i < s->n; i++) {
			const char *path = weft_dec_idx(d, "spec.retries.retriableStatusCodes", i);
			uint32_t val = 0;
			if (weft_dec_value(d, &code, s->vals[i], path, &val) < 0) {
				rc = -1;
				continue;
			}
			p->retry.retriable_status[p->retry.nstatus++] = val;
		}
		if (p->retry.nstatus)
			p->retry.retry_on |= WEFT_RETRY_RETRIABLE_STATUS;
	}
	if ((s = got[RT_BACKOFF])) {
		const weft_yaml_node_t *bg[2];
		if (weft_dec_map(d, s, "spec.retries.backoff", backoff_fields, 2, p, bg) < 0) {
			rc = -1;
		} else if (bg[BO_BASE] && !p->retry.backoff_base_ms) {
			weft_dec_err(d, bg[BO_BASE]->line, "spec.retries.backoff.baseInterval", "must be above 0");
			rc = -1;
		}
		if (!p->retry.backoff_base_ms)
			p->retry.backoff_base_ms = 25;
		if (!bg[BO_MAX])
			p->retry.backoff_max_ms = 10 * p->retry.backoff_base_ms;
		else if (p->retry.backoff_max_ms < p->retry.backoff_base_ms) {
			weft_dec_err(d, bg[BO_MAX]->line, "spec.retries.backoff.maxInterval",
				     "must not be shorter than baseInterval");
			rc = -1;
		}
	}
	if ((s = got[RT_BUDGET])) {
		p->retry.budget_set = true;
		p->retry.budget_percent_ppm = 20 * 10000;
		p->retry.budget_min_concurrency = 3;
		if (weft_dec_map(d, s, "spec.retries.budget", budget_fields, 2, p, NULL) < 0)
			rc = -1;
	}
	return rc;
}

/* Decodes spec.faultInjection. Returns 0 or -1. */
static int dec_fault(weft_dec_t *d, const weft_yaml_node_t *n, dp_t *p)
{
	const weft_yaml_node_t *got[3];
	int rc;

	p->fault.set = true;
	rc = weft_dec_map(d, n, "spec.faultInjection", fault_fields, 3, NULL, got);
	if (got[FI_HEADERS]) {
		if (weft_route_str_matches(d, got[FI_HEADERS], "spec.faultInjection.headers", &p->fault.headers,
					   &p->fault.nheaders) < 0)
			rc = -1;
		else if (!got[FI_DELAY] && !got[FI_ABORT]) {
			weft_dec_err(d, n->line, "spec.faultInjection",
				     "headers only select the requests to fault: delay or abort is required");
			rc = -1;
		}
	}
	if (got[FI_DELAY]) {
		p->fault.delay_ppm = WEFT_PPM_ALL;
		if (weft_dec_map(d, got[FI_DELAY], "spec.faultInjection.delay", delay_fields, 2, p, NULL) < 0)
			rc = -1;
	}
	if (got[FI_ABORT]) {
		const weft_yaml_node_t *ag[3];
		p->fault.abort_ppm = WEFT_PPM_ALL;
		if (weft_dec_map(d, got[FI_ABORT], "spec.faultInjection.abort", abort_fields, 3, p, ag) < 0) {
			rc = -1;
		} else if (!ag[AB_HTTP] == !ag[AB_GRPC]) {
			weft_dec_err(d, got[FI_ABORT]->line, "spec.faultInjection.abort",
				     "exactly one of httpStatus and grpcStatus is required");
			rc = -1;
		}
		p->fault.abort_grpc = ag[AB_GRPC] != NULL;
	}
	return rc;
}

/* True when s is a cookie name (an RFC 6265 token: visible ASCII without
 * separators). */
static bool cookie_name_ok(weft_str_t s)
{
	if (!s.len)
		return false;
	for (size_t i = 0; i < s.len; i++) {
		unsigned char c = (unsigned char)s.p[i];
		if (c <= 0x20 || c >= 0x7f || strchr("()<>@,;:\\\"/[]?={}", c))
			return false;
	}
	return true;
}

/* Decodes spec.loadBalancer. Returns 0 or -1. */
static int dec_lb(weft_dec_t *d, const weft_yaml_node_t *n, dp_t *p)
{
	const weft_yaml_node_t *lg[WEFT_NFIELDS(lb_fields)], *cookie = NULL;
	const char *cookie_path = NULL;
	int rc = 0;

	if (weft_dec_map(d, n, "spec.loadBalancer", lb_fields, WEFT_NFIELDS(lb_fields), p, lg) < 0)
		rc = -1;
	p->lb.type_set = lg[LB_TYPE] != NULL;
	if (lg[LB_LEAST] && weft_dec_map(d, lg[LB_LEAST], "spec.loadBalancer.leastRequest", least_fields,
					 1, p, NULL) < 0)
		rc = -1;
	if (lg[LB_RING]) {
		const weft_yaml_node_t *rg[WEFT_NFIELDS(ring_fields)];
		if (weft_dec_map(d, lg[LB_RING], "spec.loadBalancer.ringHash", ring_fields,
				 WEFT_NFIELDS(ring_fields), p, rg) < 0) {
			rc = -1;
		} else if (p->lb.ring_min > p->lb.ring_max) {
			weft_dec_err(d, lg[LB_RING]->line, "spec.loadBalancer.ringHash.minRingSize",
				     "must not be above maxRingSize");
			rc = -1;
		}
		cookie = rg[RH_COOKIE];
		cookie_path = "spec.loadBalancer.ringHash.cookie";
	}
	if (lg[LB_MAGLEV]) {
		const weft_yaml_node_t *mg[WEFT_NFIELDS(maglev_fields)];
		if (p->lb.type != WEFT_LB_MAGLEV) {
			weft_dec_err(d, lg[LB_MAGLEV]->line, "spec.loadBalancer.maglev",
				     "maglev settings need type: Maglev");
			rc = -1;
		}
		if (weft_dec_map(d, lg[LB_MAGLEV], "spec.loadBalancer.maglev", maglev_fields,
				 WEFT_NFIELDS(maglev_fields), p, mg) < 0)
			rc = -1;
		if (mg[MG_COOKIE]) {
			cookie = mg[MG_COOKIE];
			cookie_path = "spec.loadBalancer.maglev.cookie";
		}
	}
	if (cookie && cookie->type == WEFT_YAML_SCALAR && !cookie_name_ok(p->lb.hash_cookie)) {
		weft_dec_err(d, cookie->line, cookie_path, "invalid cookie name \"%s\"", cookie->str.p);
		rc = -1;
	}
	return rc;
}

/* Decodes spec.outlierDetection. Returns 0 or -1. */
static int dec_outlier(weft_dec_t *d, const weft_yaml_node_t *n, dp_t *p)
{
	const weft_yaml_node_t *got[WEFT_NFIELDS(outlier_fields)];
	int rc;

	p->outlier.set = true;
	rc = weft_dec_map(d, n, "spec.outlierDetection", outlier_fields, WEFT_NFIELDS(outlier_fields), p, got);
	if (got[OD_SR]) {
		p->outlier.sr_stdev_factor_milli = 1900;
		p->outlier.sr_min_hosts = 5;
		p->outlier.sr_request_volume = 100;
		if (weft_dec_map(d, got[OD_SR], "spec.outlierDetection.successRate", sr_fields,
				 WEFT_NFIELDS(sr_fields), p, NULL) < 0)
			rc = -1;
	}
	if (got[OD_INTERVAL] && !p->outlier.interval_ms) {
		weft_dec_err(d, got[OD_INTERVAL]->line, "spec.outlierDetection.interval", "must be above 0");
		rc = -1;
	}
	return rc;
}

/* Decodes spec.rateLimit. Returns 0 or -1. */
static int dec_rate(weft_dec_t *d, const weft_yaml_node_t *n, dp_t *p)
{
	const weft_yaml_node_t *got[WEFT_NFIELDS(rate_fields)];
	int rc;

	p->rate_limit.set = true;
	p->rate_limit.tokens_per_fill = 1;
	rc = weft_dec_map(d, n, "spec.rateLimit", rate_fields, WEFT_NFIELDS(rate_fields), p, got);
	if (got[RL_INTERVAL] && !p->rate_limit.fill_interval_ms) {
		weft_dec_err(d, got[RL_INTERVAL]->line, "spec.rateLimit.fillInterval", "must be at least 1ms");
		rc = -1;
	}
	return rc;
}

/* Decodes spec.healthCheck, applying its defaults. Returns 0 or -1. */
static int dec_health(weft_dec_t *d, const weft_yaml_node_t *n, dp_t *p)
{
	const weft_yaml_node_t *got[WEFT_NFIELDS(health_fields)];
	int rc;

	p->health.set = true;
	p->health.interval_ms = 5000;
	p->health.timeout_ms = 1000;
	p->health.unhealthy_threshold = 2;
	p->health.healthy_threshold = 1;
	rc = weft_dec_map(d, n, "spec.healthCheck", health_fields, WEFT_NFIELDS(health_fields), p, got);
	if (!got[HC_PATH] && !p->health.grpc)
		p->health.path = WEFT_STR_LIT("/healthz");
	else if (got[HC_PATH] && got[HC_PATH]->type == WEFT_YAML_SCALAR && !p->health.grpc &&
		 (!p->health.path.len || p->health.path.p[0] != '/')) {
		weft_dec_err(d, got[HC_PATH]->line, "spec.healthCheck.path",
			     "an HTTP health check path must start with \"/\", not \"%s\"", got[HC_PATH]->str.p);
		rc = -1;
	}
	if (got[HC_INTERVAL] && !p->health.interval_ms) {
		weft_dec_err(d, got[HC_INTERVAL]->line, "spec.healthCheck.interval", "must be at least 1ms");
		rc = -1;
	}
	if (got[HC_TIMEOUT] && !p->health.timeout_ms) {
		weft_dec_err(d, got[HC_TIMEOUT]->line, "spec.healthCheck.timeout", "must be at least 1ms");
		rc = -1;
	}
	return rc;
}

/* Decodes a DestinationPolicy's spec into obj (a weft_dest_policy_t),
 * applying defaults. Returns 0 or -1. */
static int policy_decode(weft_dec_t *d, const weft_yaml_node_t *spec, void *obj)
{
	dp_t *p = obj;
	const weft_yaml_node_t *got[WEFT_NFIELDS(policy_fields)], *s;
	int rc;

	p->lb.type = WEFT_LB_ROUND_ROBIN;
	p->lb.choice_count = 2;
	p->lb.ring_min = 1024;
	p->lb.ring_max = 8388608;
	p->outlier.interval_ms = 10000;
	p->outlier.base_ejection_ms = 30000;
	p->outlier.max_ejection_percent = 10;
	p->retry.backoff_base_ms = 25;
	p->retry.backoff_max_ms = 250;
	rc = weft_dec_map(d, spec, "spec", policy_fields, WEFT_NFIELDS(policy_fields), p, got);
	if ((s = got[D_TARGET])) {
		target_t t = { { 0 }, { 0 }, { 0 } };
		const weft_yaml_node_t *tg[3];
		p->target_loc = weft_dec_loc(d, s);
		if (weft_dec_map(d, s, "spec.targetRef", target_fields, 3, &t, tg) < 0)
			rc = -1;
		if (tg[T_KIND] && !weft_str_eq_c(t.kind, "Service")) {
			weft_dec_err(d, tg[T_KIND]->line, "spec.targetRef.kind",
				     "only kind Service is supported, not \"%s\"", t.kind.p);
			rc = -1;
		}
		if (tg[T_GROUP] && t.group.len && !weft_str_eq_c(t.group, "core")) {
			weft_dec_err(d, tg[T_GROUP]->line, "spec.targetRef.group",
				     "group must be \"\" or \"core\" (Service), not \"%s\"", t.group.p);
			rc = -1;
		}
		p->target = t.name;
	}
	if (got[D_LB] && dec_lb(d, got[D_LB], p) < 0)
		rc = -1;
	if ((s = got[D_LIMITS])) {
		p->limits.set = true;
		if (weft_dec_map(d, s, "spec.connectionLimits", limit_fields, WEFT_NFIELDS(limit_fields), p, NULL) < 0)
			rc = -1;
	}
	if (got[D_OUTLIER] && dec_outlier(d, got[D_OUTLIER], p) < 0)
		rc = -1;
	if (got[D_RETRIES] && dec_retries(d, got[D_RETRIES], p) < 0)
		rc = -1;
	if (got[D_FAULT] && dec_fault(d, got[D_FAULT], p) < 0)
		rc = -1;
	if (got[D_RATE] && dec_rate(d, got[D_RATE], p) < 0)
		rc = -1;
	if (got[D_HEALTH] && dec_health(d, got[D_HEALTH], p) < 0)
		rc = -1;
	return rc;
}

/* Resolves targetRefs; one policy per Service. */
static void policy_resolve(weft_resolver_t *r)
{
	weft_model_t *m = r->m;
	const dp_t **order = (const dp_t **)weft_resolve_file_order(r, m->policies, m->npolicies, sizeof(dp_t));

	if (!order)
		return;
	for (size_t i = 0; i < m->npolicies; i++) {
		dp_t *p = (dp_t *)order[i];
		weft_service_t *s = (weft_service_t *)weft_model_service(m, p->meta.ns, p->target);

		if (!s) {
			if (!weft_resolve_is_broken(r, "Service", p->meta.ns, p->target))
				weft_cfg_error_add(r->errs, p->target_loc.file, p->target_loc.line, "spec.targetRef.name",
						   "no Service %s/%s", p->meta.ns.p, p->target.p);
			continue;
		}
		if (s->policy) {
			const dp_t *o = s->policy;
			weft_cfg_error_add(r->errs, p->target_loc.file, p->target_loc.line, "spec.targetRef",
					   "Service %s/%s already has DestinationPolicy %s (%s:%u); only one per Service",
					   s->meta.ns.p, s->meta.name.p, o->meta.name.p, o->meta.loc.file,
					   o->meta.loc.line);
			continue;
		}
		p->svc = s;
		s->policy = p;
	}
}

static const weft_kind_t kind_destpolicy = {
	.api_version = "weft.dev/v1alpha1",
	.name = "DestinationPolicy",
	.namespaced = true,
	.obj_size = sizeof(dp_t),
	.count_off = offsetof(weft_model_t, npolicies),
	.array_off = offsetof(weft_model_t, policies),
	.decode = policy_decode,
	.resolve = policy_resolve,
	.phase = 40,
};
WEFT_REGISTER(weft_kinds, kind_destpolicy);
