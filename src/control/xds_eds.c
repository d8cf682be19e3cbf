/* weft — EDS: one ClusterLoadAssignment per Service port, named like its
 * Cluster. Endpoints are the service's selected workloads (first address,
 * the port's targetPort), weighted by the workload's weight and grouped into
 * one LocalityLbEndpoints per node locality (an empty locality for
 * workloads without a node or a locality).
 *
 * grpc-js-xds (endpoint-resource-type.js, xds-dependency-manager.js):
 *   - every LocalityLbEndpoints needs a locality message, and localities
 *     must be unique per priority;
 *   - a locality without load_balancing_weight is dropped, so each gets the
 *     sum of its endpoints' weights (which also keeps the split across
 *     localities proportional to the endpoints' weights);
 *   - an address:port may appear once in the whole assignment: duplicates
 *     are skipped here;
 *   - only UNKNOWN and HEALTHY endpoints are used: HEALTHY is sent. */
#include <string.h>
#include "weft/str.h"
#include "xds_translate.h"
#include "envoy/config/endpoint/v3/endpoint.pb-c.h"
#include "envoy/config/endpoint/v3/endpoint_components.pb-c.h"
#include "envoy/config/core/v3/address.pb-c.h"
#include "envoy/config/core/v3/base.pb-c.h"
#include "envoy/config/core/v3/health_check.pb-c.h"

typedef Envoy__Config__Endpoint__V3__ClusterLoadAssignment cla_t;
typedef Envoy__Config__Endpoint__V3__LocalityLbEndpoints locality_eps_t;
typedef Envoy__Config__Endpoint__V3__LbEndpoint lb_endpoint_t;

static const weft_locality_t no_locality;

static const weft_locality_t *workload_locality(const weft_workload_t *w)
{
	return w->node ? &w->node->locality : &no_locality;
}

static int locality_cmp(const weft_locality_t *a, const weft_locality_t *b)
{
	int c = weft_str_cmp(a->region, b->region);

	if (!c)
		c = weft_str_cmp(a->zone, b->zone);
	if (!c)
		c = weft_str_cmp(a->subzone, b->subzone);
	return c;
}

static lb_endpoint_t *lb_endpoint(weft_xds_tx_t *tx, const weft_workload_t *w, uint16_t port)
{
	lb_endpoint_t *e = WEFT_XDS_NEW(tx, lb_endpoint_t, envoy__config__endpoint__v3__lb_endpoint__descriptor);
	Envoy__Config__Endpoint__V3__Endpoint *ep =
		WEFT_XDS_NEW(tx, Envoy__Config__Endpoint__V3__Endpoint, envoy__config__endpoint__v3__endpoint__descriptor);
	Envoy__Config__Core__V3__Address *a =
		WEFT_XDS_NEW(tx, Envoy__Config__Core__V3__Address, envoy__config__core__v3__address__descriptor);
	Envoy__Config__Core__V3__SocketAddress *sa =
		WEFT_XDS_NEW(tx, Envoy__Config__Core__V3__SocketAddress, envoy__config__core__v3__socket_address__descriptor);

	sa->address = weft_xds_tx_str(tx, w->addrs[0]);
	sa->port_specifier_case = ENVOY__CONFIG__CORE__V3__SOCKET_ADDRESS__PORT_SPECIFIER_PORT_VALUE;
	sa->port_value = port;
	a->address_case = ENVOY__CONFIG__CORE__V3__ADDRESS__ADDRESS_SOCKET_ADDRESS;
	a->socket_address = sa;
	ep->address = a;
	e->host_identifier_case = ENVOY__CONFIG__ENDPOINT__V3__LB_ENDPOINT__HOST_IDENTIFIER_ENDPOINT;
	e->endpoint = ep;
	e->health_status = ENVOY__CONFIG__CORE__V3__HEALTH_STATUS__HEALTHY;
	e->load_balancing_weight = weft_xds_tx_u32(tx, w->weight ? w->weight : 1);
	return e;
}

/* True when an earlier workload of svc has the same first address. */
static bool duplicate_address(const weft_service_t *svc, size_t i)
{
	for (size_t j = 0; j < i; j++)
		if (svc->workloads[j]->naddrs &&
		    weft_str_eq(svc->workloads[j]->addrs[0], svc->workloads[i]->addrs[0]))
			return true;
	return false;
}

/* Adds the ClusterLoadAssignment of one service port. Reads what
 * weft_xds_eds_fp() covers. */
void weft_xds_eds_port(weft_xds_tx_t *tx, const weft_service_t *svc, const weft_svc_port_t *port)
{
	cla_t *cla = WEFT_XDS_NEW(tx, cla_t, envoy__config__endpoint__v3__cluster_load_assignment__descriptor);
	size_t n = svc->nworkloads, nloc = 0;
	const weft_locality_t **locs = (const weft_locality_t **)weft_xds_tx_ptrs(tx, n);
	uint16_t target = port->target_port ? port->target_port : port->port;

	cla->cluster_name = weft_xds_cluster_name(tx, svc->meta.name, svc->meta.ns, port->port);

	/* distinct localities, sorted (insertion sort: there are few) */
	for (size_t i = 0; i < n; i++) {
		const weft_locality_t *l = workload_locality(svc->workloads[i]);
		size_t k = 0;
		int c = 1;

		if (!svc->workloads[i]->naddrs)
			continue;
		while (k < nloc && (c = locality_cmp(locs[k], l)) < 0)
			k++;
		if (k < nloc && c == 0)
			continue;
		memmove(&locs[k + 1], &locs[k], (nloc - k) * sizeof(*locs));
		locs[k] = l;
		nloc++;
	}

	cla->endpoints = (locality_eps_t **)weft_xds_tx_ptrs(tx, nloc);
	for (size_t k = 0; k < nloc; k++) {
		locality_eps_t *le = WEFT_XDS_NEW(tx, locality_eps_t,
			envoy__config__endpoint__v3__locality_lb_endpoints__descriptor);
		Envoy__Config__Core__V3__Locality *loc = WEFT_XDS_NEW(tx, Envoy__Config__Core__V3__Locality,
			envoy__config__core__v3__locality__descriptor);
		uint64_t weight = 0;

		loc->region = weft_xds_tx_str(tx, locs[k]->region);
		loc->zone = weft_xds_tx_str(tx, locs[k]->zone);
		loc->sub_zone = weft_xds_tx_str(tx, locs[k]->subzone);
		le->locality = loc;
		le->priority = 0;
		le->lb_endpoints = (lb_endpoint_t **)weft_xds_tx_ptrs(tx, n);
		for (size_t i = 0; i < n; i++) {
			const weft_workload_t *w = svc->workloads[i];

			if (!w->naddrs || locality_cmp(workload_locality(w), locs[k]) != 0 ||
			    duplicate_address(svc, i))
				continue;
			le->lb_endpoints[le->n_lb_endpoints++] = lb_endpoint(tx, w, target);
			weight += w->weight ? w->weight : 1;
		}
		le->load_balancing_weight = weft_xds_tx_u32(tx, weight > UINT32_MAX ? UINT32_MAX : (uint32_t)weight);
		cla->endpoints[cla->n_endpoints++] = le;
	}
	weft_xds_tx_emit(tx, WEFT_XDS_EDS, cla->cluster_name, &cla->base);
}

/* Everything weft_xds_eds_port() reads: the port's identity and target
 * port, and of each selected workload, in order, whether it has an address,
 * its first one, its weight and its locality. */
weft_xds_fp_t weft_xds_locality_fp(weft_xds_tx_t *tx, const weft_node_t *node)
{
	const weft_locality_t *l = node ? &node->locality : &no_locality;
	const weft_model_t *m = tx->m;
	size_t i = node >= m->nodes && node < m->nodes + m->nnodes ? (size_t)(node - m->nodes) : SIZE_MAX;
	weft_xds_hasher_t h;

	if (i != SIZE_MAX && (tx->node_fp[i].a || tx->node_fp[i].b))
		return tx->node_fp[i];
	weft_xds_fp_init(&h, 0x10c);
	weft_xds_fp_str(&h, l->region);
	weft_xds_fp_str(&h, l->zone);
	weft_xds_fp_str(&h, l->subzone);
	if (i == SIZE_MAX)
		return weft_xds_fp_final(&h);
	return tx->node_fp[i] = weft_xds_fp_final(&h);
}

weft_xds_fp_t weft_xds_eds_fp(weft_xds_tx_t *tx, weft_xds_hasher_t h,
			      const weft_service_t *svc, const weft_svc_port_t *port)
{
	weft_xds_fp_u64(&h, WEFT_XDS_EDS + 1);
	weft_xds_fp_u64(&h, port->target_port);
	weft_xds_fp_u64(&h, svc->nworkloads);
	for (size_t i = 0; i < svc->nworkloads; i++) {
		const weft_workload_t *w = svc->workloads[i];
		weft_xds_fp_t l = weft_xds_locality_fp(tx, w->node);

		weft_xds_fp_u64(&h, w->naddrs != 0);
		if (w->naddrs)
			weft_xds_fp_str(&h, w->addrs[0]);
		weft_xds_fp_u64(&h, w->weight);
		weft_xds_fp_u64(&h, l.a);
		weft_xds_fp_u64(&h, l.b);
	}
	return weft_xds_fp_final(&h);
}
