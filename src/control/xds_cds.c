/* weft — CDS: one Cluster per Service port, "outbound|<port>||<fqdn>".
 *
 * Each is an EDS cluster fed over ADS (service_name = the cluster's name)
 * carrying the service's DestinationPolicy: load balancing, connection
 * limits and retry budget (circuit_breakers), outlier detection.
 *
 * Load balancing as grpc-js-xds reads it (cluster-resource-type.js):
 *   - RoundRobin: lb_policy ROUND_ROBIN (grpc wraps it in xds_wrr_locality,
 *     so locality weights apply);
 *   - RingHash: lb_policy RING_HASH + ring_hash_lb_config, ring sizes capped
 *     at 8388608 and hash XX_HASH, or the cluster is NACKed (Maglev, an
 *     agent-only policy, gives the same ring to proxyless clients);
 *   - LeastRequest, Random: grpc-js has no such lb_policy (it NACKs
 *     "unsupported lb_policy"), so they go in load_balancing_policy, an
 *     ordered list: the wanted policy first, round_robin after it. grpc-js
 *     (lb-policy-registry.js convertToLoadBalancingConfig) skips entries
 *     whose type URL it has not registered and takes the first it knows:
 *     round_robin; Envoy and other clients take the first. */
#include "weft/str.h"
#include "xds_translate.h"
#include "envoy/config/cluster/v3/cluster.pb-c.h"
#include "envoy/config/cluster/v3/circuit_breaker.pb-c.h"
#include "envoy/config/cluster/v3/outlier_detection.pb-c.h"
#include "envoy/config/core/v3/extension.pb-c.h"
#include "envoy/extensions/load_balancing_policies/least_request/v3/least_request.pb-c.h"
#include "envoy/extensions/load_balancing_policies/random/v3/random.pb-c.h"
#include "envoy/extensions/load_balancing_policies/round_robin/v3/round_robin.pb-c.h"
#include "envoy/type/v3/percent.pb-c.h"

typedef Envoy__Config__Cluster__V3__Cluster cluster_t;
typedef Envoy__Config__Cluster__V3__LoadBalancingPolicy lbp_t;
typedef Envoy__Config__Cluster__V3__LoadBalancingPolicy__Policy lbp_policy_t;
typedef Envoy__Config__Cluster__V3__CircuitBreakers__Thresholds thresholds_t;
typedef Envoy__Config__Cluster__V3__OutlierDetection outlier_t;

#define RING_SIZE_MAX 8388608u   /* grpc-js rejects larger rings */

static lbp_policy_t *lb_entry(weft_xds_tx_t *tx, const char *name,
			      const ProtobufCMessage *cfg, const char *type_url)
{
	lbp_policy_t *p = WEFT_XDS_NEW(tx, lbp_policy_t,
				       envoy__config__cluster__v3__load_balancing_policy__policy__descriptor);

	p->typed_extension_config = WEFT_XDS_NEW(tx, Envoy__Config__Core__V3__TypedExtensionConfig,
		envoy__config__core__v3__typed_extension_config__descriptor);
	p->typed_extension_config->name = (char *)name;
	p->typed_extension_config->typed_config = weft_xds_tx_any(tx, cfg, type_url);
	return p;
}

static void set_lb(weft_xds_tx_t *tx, cluster_t *c, const weft_dest_policy_t *p)
{
	lbp_t *lbp;

	switch (p ? p->lb.type : WEFT_LB_ROUND_ROBIN) {
	case WEFT_LB_MAGLEV:     /* agent only: proxyless clients hash on a ring */
	case WEFT_LB_RING_HASH: {
		Envoy__Config__Cluster__V3__Cluster__RingHashLbConfig *rh =
			WEFT_XDS_NEW(tx, Envoy__Config__Cluster__V3__Cluster__RingHashLbConfig,
				     envoy__config__cluster__v3__cluster__ring_hash_lb_config__descriptor);
		uint64_t min = p->lb.ring_min ? p->lb.ring_min : 1024;
		uint64_t max = p->lb.ring_max ? p->lb.ring_max : RING_SIZE_MAX;

		if (max > RING_SIZE_MAX)
			max = RING_SIZE_MAX;
		if (min > max)
			min = max;
		rh->hash_function = ENVOY__CONFIG__CLUSTER__V3__CLUSTER__RING_HASH_LB_CONFIG__HASH_FUNCTION__XX_HASH;
		rh->minimum_ring_size = weft_xds_tx_u64(tx, min);
		rh->maximum_ring_size = weft_xds_tx_u64(tx, max);
		c->lb_policy = ENVOY__CONFIG__CLUSTER__V3__CLUSTER__LB_POLICY__RING_HASH;
		c->lb_config_case = ENVOY__CONFIG__CLUSTER__V3__CLUSTER__LB_CONFIG_RING_HASH_LB_CONFIG;
		c->ring_hash_lb_config = rh;
		return;
	}
	case WEFT_LB_LEAST_REQUEST: {
		Envoy__Extensions__LoadBalancingPolicies__LeastRequest__V3__LeastRequest *lr =
			WEFT_XDS_NEW(tx, Envoy__Extensions__LoadBalancingPolicies__LeastRequest__V3__LeastRequest,
				     envoy__extensions__load_balancing_policies__least_request__v3__least_request__descriptor);

		lr->choice_count = weft_xds_tx_u32(tx, p->lb.choice_count ? p->lb.choice_count : 2);
		lbp = WEFT_XDS_NEW(tx, lbp_t, envoy__config__cluster__v3__load_balancing_policy__descriptor);
		lbp->policies = (lbp_policy_t **)weft_xds_tx_ptrs(tx, 2);
		lbp->policies[lbp->n_policies++] = lb_entry(tx, "envoy.load_balancing_policies.least_request",
							    &lr->base, WEFT_XDS_URL_LB_LR);
		break;
	}
	case WEFT_LB_RANDOM: {
		Envoy__Extensions__LoadBalancingPolicies__Random__V3__Random *rnd =
			WEFT_XDS_NEW(tx, Envoy__Extensions__LoadBalancingPolicies__Random__V3__Random,
				     envoy__extensions__load_balancing_policies__random__v3__random__descriptor);

		lbp = WEFT_XDS_NEW(tx, lbp_t, envoy__config__cluster__v3__load_balancing_policy__descriptor);
		lbp->policies = (lbp_policy_t **)weft_xds_tx_ptrs(tx, 2);
		lbp->policies[lbp->n_policies++] = lb_entry(tx, "envoy.load_balancing_policies.random",
							    &rnd->base, WEFT_XDS_URL_LB_RAND);
		break;
	}
	default:
		c->lb_policy = ENVOY__CONFIG__CLUSTER__V3__CLUSTER__LB_POLICY__ROUND_ROBIN;
		return;
	}
	/* the fallback every client knows */
	Envoy__Extensions__LoadBalancingPolicies__RoundRobin__V3__RoundRobin *rr =
		WEFT_XDS_NEW(tx, Envoy__Extensions__LoadBalancingPolicies__RoundRobin__V3__RoundRobin,
			     envoy__extensions__load_balancing_policies__round_robin__v3__round_robin__descriptor);
	lbp->policies[lbp->n_policies++] = lb_entry(tx, "envoy.load_balancing_policies.round_robin",
						    &rr->base, WEFT_XDS_URL_LB_RR);
	c->load_balancing_policy = lbp;
}

/* 0 means unlimited in the model; Envoy's defaults (1024, 3) would apply to
 * an unset field, so unlimited is spelt out as UINT32_MAX. */
static Google__Protobuf__UInt32Value *limit(weft_xds_tx_t *tx, uint32_t v)
{
	return weft_xds_tx_u32(tx, v ? v : UINT32_MAX);
}

static void set_circuit_breakers(weft_xds_tx_t *tx, cluster_t *c, const weft_dest_policy_t *p)
{
	thresholds_t *t;

	if (!p || (!p->limits.set && !(p->retry.set && p->retry.budget_set)))
		return;
	t = WEFT_XDS_NEW(tx, thresholds_t, envoy__config__cluster__v3__circuit_breakers__thresholds__descriptor);
	t->priority = ENVOY__CONFIG__CORE__V3__ROUTING_PRIORITY__DEFAULT;
	if (p->limits.set) {
		t->max_connections = limit(tx, p->limits.max_connections);
		t->max_pending_requests = limit(tx, p->limits.max_pending_requests);
		t->max_requests = limit(tx, p->limits.max_requests);
		t->max_retries = limit(tx, p->limits.max_retries);
	}
	if (p->retry.set && p->retry.budget_set) {
		t->retry_budget = WEFT_XDS_NEW(tx, Envoy__Config__Cluster__V3__CircuitBreakers__Thresholds__RetryBudget,
			envoy__config__cluster__v3__circuit_breakers__thresholds__retry_budget__descriptor);
		t->retry_budget->budget_percent = WEFT_XDS_NEW(tx, Envoy__Type__V3__Percent,
							       envoy__type__v3__percent__descriptor);
		t->retry_budget->budget_percent->value = p->retry.budget_percent_ppm / 10000.0;
		t->retry_budget->min_retry_concurrency = weft_xds_tx_u32(tx, p->retry.budget_min_concurrency);
	}
	c->circuit_breakers = WEFT_XDS_NEW(tx, Envoy__Config__Cluster__V3__CircuitBreakers,
					   envoy__config__cluster__v3__circuit_breakers__descriptor);
	c->circuit_breakers->thresholds = (thresholds_t **)weft_xds_tx_ptrs(tx, 1);
	c->circuit_breakers->thresholds[0] = t;
	c->circuit_breakers->n_thresholds = 1;
}

/* Consecutive-error ejection as Envoy defines it. A threshold of 0 disables
 * that detector (enforcing_* = 0); success-rate ejection keeps Envoy's and
 * gRPC's default, the only kind gRPC clients implement. */
static void set_outlier(weft_xds_tx_t *tx, cluster_t *c, const weft_dest_policy_t *p)
{
	outlier_t *o;

	if (!p || !p->outlier.set)
		return;
	o = WEFT_XDS_NEW(tx, outlier_t, envoy__config__cluster__v3__outlier_detection__descriptor);
	if (p->outlier.consecutive_5xx) {
		o->consecutive_5xx = weft_xds_tx_u32(tx, p->outlier.consecutive_5xx);
		o->enforcing_consecutive_5xx = weft_xds_tx_u32(tx, 100);
	} else {
		o->enforcing_consecutive_5xx = weft_xds_tx_u32(tx, 0);
	}
	if (p->outlier.consecutive_gateway_errors) {
		o->consecutive_gateway_failure = weft_xds_tx_u32(tx, p->outlier.consecutive_gateway_errors);
		o->enforcing_consecutive_gateway_failure = weft_xds_tx_u32(tx, 100);
	}
	o->interval = weft_xds_tx_duration_ms(tx, p->outlier.interval_ms ? p->outlier.interval_ms : 10000);
	o->base_ejection_time = weft_xds_tx_duration_ms(tx, p->outlier.base_ejection_ms
							    ? p->outlier.base_ejection_ms : 30000);
	o->max_ejection_percent = weft_xds_tx_u32(tx, p->outlier.max_ejection_percent > 100
						  ? 100 : p->outlier.max_ejection_percent);
	c->outlier_detection = o;
}

/* Adds the Cluster of one service port. Reads what weft_xds_cds_fp() covers. */
void weft_xds_cds_port(weft_xds_tx_t *tx, const weft_service_t *svc, const weft_svc_port_t *port)
{
	cluster_t *c = WEFT_XDS_NEW(tx, cluster_t, envoy__config__cluster__v3__cluster__descriptor);
	const weft_dest_policy_t *p = svc->policy;

	c->name = weft_xds_cluster_name(tx, svc->meta.name, svc->meta.ns, port->port);
	c->cluster_discovery_type_case = ENVOY__CONFIG__CLUSTER__V3__CLUSTER__CLUSTER_DISCOVERY_TYPE_TYPE;
	c->type = ENVOY__CONFIG__CLUSTER__V3__CLUSTER__DISCOVERY_TYPE__EDS;
	c->eds_cluster_config = WEFT_XDS_NEW(tx, Envoy__Config__Cluster__V3__Cluster__EdsClusterConfig,
					     envoy__config__cluster__v3__cluster__eds_cluster_config__descriptor);
	c->eds_cluster_config->eds_config = weft_xds_tx_ads(tx);
	c->eds_cluster_config->service_name = c->name;
	c->connect_timeout = weft_xds_tx_duration_ms(tx, 10000);
	set_lb(tx, c, p);
	set_circuit_breakers(tx, c, p);
	set_outlier(tx, c, p);
	weft_xds_tx_emit(tx, WEFT_XDS_CDS, c->name, &c->base);
}

/* Everything weft_xds_cds_port() reads: the port's identity and the
 * service's DestinationPolicy fields that set_lb(), set_circuit_breakers()
 * and set_outlier() look at. */
weft_xds_fp_t weft_xds_cds_fp(weft_xds_tx_t *tx, weft_xds_hasher_t h,
			      const weft_service_t *svc, const weft_svc_port_t *port)
{
	const weft_dest_policy_t *p = svc->policy;

	weft_xds_fp_u64(&h, WEFT_XDS_CDS + 1);
	weft_xds_fp_u64(&h, p != NULL);
	if (p) {
		weft_xds_fp_u64(&h, p->lb.type);
		weft_xds_fp_u64(&h, p->lb.choice_count);
		weft_xds_fp_u64(&h, p->lb.ring_min);
		weft_xds_fp_u64(&h, p->lb.ring_max);
		weft_xds_fp_u64(&h, p->limits.set);
		weft_xds_fp_u64(&h, p->limits.max_connections);
		weft_xds_fp_u64(&h, p->limits.max_pending_requests);
		weft_xds_fp_u64(&h, p->limits.max_requests);
		weft_xds_fp_u64(&h, p->limits.max_retries);
		weft_xds_fp_u64(&h, p->retry.set);
		weft_xds_fp_u64(&h, p->retry.budget_set);
		weft_xds_fp_u64(&h, p->retry.budget_percent_ppm);
		weft_xds_fp_u64(&h, p->retry.budget_min_concurrency);
		weft_xds_fp_u64(&h, p->outlier.set);
		weft_xds_fp_u64(&h, p->outlier.consecutive_5xx);
		weft_xds_fp_u64(&h, p->outlier.consecutive_gateway_errors);
		weft_xds_fp_u64(&h, p->outlier.interval_ms);
		weft_xds_fp_u64(&h, p->outlier.base_ejection_ms);
		weft_xds_fp_u64(&h, p->outlier.max_ejection_percent);
	}
	return weft_xds_fp_final(&h);
}
