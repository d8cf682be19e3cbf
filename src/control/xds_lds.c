/* weft — LDS: the Listeners proxyless gRPC clients look up by target name.
 *
 * A client dialing xds:///<host>:<port> asks for the Listener named exactly
 * "<host>:<port>". Each Service port gets two: the fully qualified name
 * "<name>.<ns>.svc.cluster.local:<port>" and the short
 * "<name>.<ns>.svc:<port>". Both are api_listeners holding an
 * HttpConnectionManager that fetches the port's RouteConfiguration over ADS
 * (grpc-js listener-resource-type.js accepts rds with config_source.ads) and
 * lists the HTTP filters: the fault filter, then the router, which grpc-js
 * requires last.
 *
 * The fault filter is listed on every port, with no fault of its own: the
 * routes (or weighted clusters) override it with their backend's
 * faultInjection. Listing it always keeps the Listener unchanged when a
 * policy adds or removes a fault, which matters because grpc-js-xds 1.14
 * builds no new config from a Listener update whose RDS name is unchanged. */
#include "weft/str.h"
#include "xds_translate.h"
#include "envoy/config/listener/v3/listener.pb-c.h"
#include "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.pb-c.h"
#include "envoy/extensions/filters/http/fault/v3/fault.pb-c.h"
#include "envoy/extensions/filters/http/router/v3/router.pb-c.h"

typedef Envoy__Extensions__Filters__Network__HttpConnectionManager__V3__HttpConnectionManager hcm_t;
typedef Envoy__Extensions__Filters__Network__HttpConnectionManager__V3__HttpFilter http_filter_t;
typedef Envoy__Extensions__Filters__Network__HttpConnectionManager__V3__Rds rds_t;
typedef Envoy__Config__Listener__V3__Listener listener_t;
typedef Envoy__Config__Listener__V3__ApiListener api_listener_t;

/* An HttpFilter entry whose typed_config is msg packed as type_url. */
static http_filter_t *http_filter(weft_xds_tx_t *tx, const char *name,
				  const ProtobufCMessage *msg, const char *type_url)
{
	http_filter_t *f = WEFT_XDS_NEW(tx, http_filter_t,
		envoy__extensions__filters__network__http_connection_manager__v3__http_filter__descriptor);

	f->name = (char *)name;
	f->config_type_case =
		ENVOY__EXTENSIONS__FILTERS__NETWORK__HTTP_CONNECTION_MANAGER__V3__HTTP_FILTER__CONFIG_TYPE_TYPED_CONFIG;
	f->typed_config = weft_xds_tx_any(tx, msg, type_url);
	return f;
}

/* The HCM of one service port: RDS over ADS, [fault,] router. stat_prefix
 * is the fqdn Listener's name, which is also the RouteConfiguration's. */
static hcm_t *port_hcm(weft_xds_tx_t *tx, const weft_service_t *svc,
		       const weft_svc_port_t *port, const char *stat_prefix)
{
	hcm_t *h = WEFT_XDS_NEW(tx, hcm_t,
		envoy__extensions__filters__network__http_connection_manager__v3__http_connection_manager__descriptor);
	rds_t *rds = WEFT_XDS_NEW(tx, rds_t,
		envoy__extensions__filters__network__http_connection_manager__v3__rds__descriptor);
	size_t n = 0;

	h->codec_type = ENVOY__EXTENSIONS__FILTERS__NETWORK__HTTP_CONNECTION_MANAGER__V3__HTTP_CONNECTION_MANAGER__CODEC_TYPE__AUTO;
	h->stat_prefix = (char *)stat_prefix;
	rds->config_source = weft_xds_tx_ads(tx);
	rds->route_config_name = (char *)stat_prefix;
	h->route_specifier_case =
		ENVOY__EXTENSIONS__FILTERS__NETWORK__HTTP_CONNECTION_MANAGER__V3__HTTP_CONNECTION_MANAGER__ROUTE_SPECIFIER_RDS;
	h->rds = rds;

	h->http_filters = (http_filter_t **)weft_xds_tx_ptrs(tx, 2);
	Envoy__Extensions__Filters__Http__Fault__V3__HTTPFault *none =
		WEFT_XDS_NEW(tx, Envoy__Extensions__Filters__Http__Fault__V3__HTTPFault,
			     envoy__extensions__filters__http__fault__v3__httpfault__descriptor);
	h->http_filters[n++] = http_filter(tx, WEFT_XDS_FILTER_FAULT, &none->base,
					   WEFT_XDS_URL_FAULT);
	Envoy__Extensions__Filters__Http__Router__V3__Router *router =
		WEFT_XDS_NEW(tx, Envoy__Extensions__Filters__Http__Router__V3__Router,
			     envoy__extensions__filters__http__router__v3__router__descriptor);
	h->http_filters[n++] = http_filter(tx, WEFT_XDS_FILTER_ROUTER, &router->base,
					   WEFT_XDS_URL_ROUTER);
	h->n_http_filters = n;
	return h;
}

static void emit_listener(weft_xds_tx_t *tx, const char *name, Google__Protobuf__Any *hcm)
{
	listener_t *l = WEFT_XDS_NEW(tx, listener_t, envoy__config__listener__v3__listener__descriptor);
	api_listener_t *al = WEFT_XDS_NEW(tx, api_listener_t,
					  envoy__config__listener__v3__api_listener__descriptor);

	al->api_listener = hcm;
	l->name = (char *)name;
	l->api_listener = al;
	weft_xds_tx_emit(tx, WEFT_XDS_LDS, name, &l->base);
}

/* Adds the two Listeners of one service port (fqdn first, then the short
 * name: the slots weft_xds_tx_emit() fills in order). Every appProtocol gets
 * them: a client only asks for what it dials, so tcp ports cost nothing.
 * Reads what weft_xds_lds_fp() covers. */
void weft_xds_lds_port(weft_xds_tx_t *tx, const weft_service_t *svc, const weft_svc_port_t *port)
{
	const weft_str_t mid[3] = { WEFT_STR_LIT("."), svc->meta.ns, WEFT_STR_LIT(".svc") };
	weft_str_t ns_svc = weft_str_c(weft_xds_tx_cat(tx, 3, mid));   /* ".<ns>.svc" */
	char *fqdn = weft_xds_tx_port_name(tx, svc->meta.name, ns_svc, WEFT_STR_LIT(".cluster.local"),
					   port->port);
	char *shortname = weft_xds_tx_port_name(tx, svc->meta.name, ns_svc, WEFT_STR_LIT(""),
						port->port);
	Google__Protobuf__Any *hcm;

	/* both listeners carry the same HCM: packed once */
	hcm = weft_xds_tx_any(tx, &port_hcm(tx, svc, port, fqdn)->base, WEFT_XDS_URL_HCM);
	emit_listener(tx, fqdn, hcm);
	emit_listener(tx, shortname, hcm);
}

/* Everything the Listeners read: the port's identity only. */
weft_xds_fp_t weft_xds_lds_fp(weft_xds_tx_t *tx, weft_xds_hasher_t h,
			      const weft_service_t *svc, const weft_svc_port_t *port)
{
	weft_xds_fp_u64(&h, WEFT_XDS_LDS + 1);
	return weft_xds_fp_final(&h);
}
