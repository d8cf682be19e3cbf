/* weft — kind DestinationPolicy (weft.dev/v1alpha1): per-service client
 * behaviour (load balancing, limits, outlier detection, retries, faults). */
#include "weft/arena.h"
#include "weft/cfgdec.h"
#include "weft/config.h"
#include "weft/str.h"

typedef weft_dest_policy_t dp_t;

enum { D_TARGET, D_LB, D_LIMITS, D_OUTLIER, D_RETRIES, D_FAULT };
static const weft_field_t policy_fields[] = {
	[D_TARGET] = WF_NODE("targetRef", WEFT_F_MAP, WEFT_FF_REQUIRED),
	[D_LB] = WF_NODE("loadBalancer", WEFT_F_MAP, 0),
	[D_LIMITS] = WF_NODE("connectionLimits", WEFT_F_MAP, 0),
	[D_OUTLIER] = WF_NODE("outlierDetection", WEFT_F_MAP, 0),
	[D_RETRIES] = WF_NODE("retries", WEFT_F_MAP, 0),
	[D_FAULT] = WF_NODE("faultInjection", WEFT_F_MAP, 0),
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
	{ "RingHash", WEFT_LB_RING_HASH }, { "Random", WEFT_LB_RANDOM }, { NULL, 0 },
};
enum { LB_TYPE, LB_LEAST, LB_RING };
static const weft_field_t lb_fields[] = {
	[LB_TYPE] = WF_ENUM("type", 0, lb_types, dp_t, lb.type),
	[LB_LEAST] = WF_NODE("leastRequest", WEFT_F_MAP, 0),
	[LB_RING] = WF_NODE("ringHash", WEFT_F_MAP, 0),
};
static const weft_field_t least_fields[] = {
	WF_UINT("choiceCount", 0, 2, 100, dp_t, lb.choice_count),
};
enum { RH_MIN, RH_MAX, RH_HEADER, RH_SRC };
static const weft_field_t ring_fields[] = {
	[RH_MIN] = WF_UINT("minRingSize", 0, 1, 8388608, dp_t, lb.ring_min),
	[RH_MAX] = WF_UINT("maxRingSize", 0, 1, 8388608, dp_t, lb.ring_max),
	[RH_HEADER] = WF("header", WEFT_F_STR, 0, dp_t, lb.hash_header),
	[RH_SRC] = WF("sourceIP", WEFT_F_BOOL, 0, dp_t, lb.hash_source_ip),
};

static const weft_field_t limit_fields[] = {
	WF_UINT("maxConnections", 0, 0, UINT32_MAX, dp_t, limits.max_connections),
	WF_UINT("maxPendingRequests", 0, 0, UINT32_MAX, dp_t, limits.max_pending_requests),
	WF_UINT("maxRequests", 0, 0, UINT32_MAX, dp_t, limits.max_requests),
	WF_UINT("maxRetries", 0, 0, UINT32_MAX, dp_t, limits.max_retries),
};

static const weft_field_t outlier_fields[] = {
	WF_UINT("consecutive5xx", 0, 0, UINT32_MAX, dp_t, outlier.consecutive_5xx),
	WF_UINT("consecutiveGatewayErrors", 0, 0, UINT32_MAX, dp_t, outlier.consecutive_gateway_errors),
	WF("interval", WEFT_F_DURATION, 0, dp_t, outlier.interval_ms),
	WF("baseEjectionTime", WEFT_F_DURATION, 0, dp_t, outlier.base_ejection_ms),
	WF_UINT("maxEjectionPercent", 0, 0, 100, dp_t, outlier.max_ejection_percent),
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

enum { FI_DELAY, FI_ABORT };
static const weft_field_t fault_fields[] = {
	[FI_DELAY] = WF_NODE("delay", WEFT_F_MAP, 0),
	[FI_ABORT] = WF_NODE("abort", WEFT_F_MAP, 0),
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
	const weft_yaml_node_t *got[2];
	int rc;

	p->fault.set = true;
	rc = weft_dec_map(d, n, "spec.faultInjection", fault_fields, 2, NULL, got);
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
	if ((s = got[D_LB])) {
		const weft_yaml_node_t *lg[3];
		if (weft_dec_map(d, s, "spec.loadBalancer", lb_fields, 3, p, lg) < 0)
			rc = -1;
		if (lg[LB_LEAST] && weft_dec_map(d, lg[LB_LEAST], "spec.loadBalancer.leastRequest", least_fields,
						 1, p, NULL) < 0)
			rc = -1;
		if (lg[LB_RING]) {
			const weft_yaml_node_t *rg[4];
			if (weft_dec_map(d, lg[LB_RING], "spec.loadBalancer.ringHash", ring_fields, 4, p, rg) < 0) {
				rc = -1;
			} else if (p->lb.ring_min > p->lb.ring_max) {
				weft_dec_err(d, lg[LB_RING]->line, "spec.loadBalancer.ringHash.minRingSize",
					     "must not be above maxRingSize");
				rc = -1;
			}
		}
	}
	if ((s = got[D_LIMITS])) {
		p->limits.set = true;
		if (weft_dec_map(d, s, "spec.connectionLimits", limit_fields, WEFT_NFIELDS(limit_fields), p, NULL) < 0)
			rc = -1;
	}
	if ((s = got[D_OUTLIER])) {
		p->outlier.set = true;
		if (weft_dec_map(d, s, "spec.outlierDetection", outlier_fields, WEFT_NFIELDS(outlier_fields),
				 p, NULL) < 0)
			rc = -1;
	}
	if (got[D_RETRIES] && dec_retries(d, got[D_RETRIES], p) < 0)
		rc = -1;
	if (got[D_FAULT] && dec_fault(d, got[D_FAULT], p) < 0)
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
