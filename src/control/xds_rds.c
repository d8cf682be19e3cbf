/* weft — RDS: one RouteConfiguration per Service port.
 *
 * Named like the fully qualified Listener ("<name>.<ns>.svc.cluster.local:
 * <port>"), it holds one VirtualHost whose domains are every name a client
 * may dial the service by, and the routes of the HTTPRoutes and GRPCRoutes
 * attached to that port, rule by rule and match by match in config order,
 * followed by a catch-all route to the service's own cluster unless some
 * route already matches everything.
 *
 * What proxyless gRPC clients accept shapes the output (grpc-js-xds
 * route-config-resource-type.js, route.js, resolver-xds.js):
 *   - path matches may only be prefix, path or safe_regex, so Gateway API's
 *     element-wise PathPrefix "/a" becomes two routes, path "/a" and prefix
 *     "/a/" (path_separated_prefix would be NACKed);
 *   - a route's action must be route or non_forwarding_action: redirect is
 *     NACKed, so RequestRedirect rules are only emitted on ports whose
 *     appProtocol is http, which gRPC clients do not dial (grpc, http2 and
 *     tcp ports leave them out: gRPC has no redirects);
 *   - retry_policy needs num_retries >= 1 and base_interval > 0 <= max;
 *   - weighted_clusters must sum to more than 0;
 *   - the deadline comes from max_stream_duration.max_stream_duration;
 *   - ring hash reads header and filter_state "io.grpc.channel_id" policies. */
#include <ctype.h>
#include <string.h>
#include "weft/str.h"
#include "xds_translate.h"
#include "envoy/config/route/v3/route.pb-c.h"
#include "envoy/config/route/v3/route_components.pb-c.h"
#include "envoy/extensions/filters/http/fault/v3/fault.pb-c.h"

typedef Envoy__Config__Route__V3__RouteConfiguration route_config_t;
typedef Envoy__Config__Route__V3__VirtualHost vhost_t;
typedef Envoy__Config__Route__V3__Route route_t;
typedef Envoy__Config__Route__V3__Route__TypedPerFilterConfigEntry route_tpfc_t;
typedef Envoy__Config__Route__V3__RouteMatch match_t;
typedef Envoy__Config__Route__V3__HeaderMatcher header_matcher_t;
typedef Envoy__Config__Route__V3__QueryParameterMatcher query_matcher_t;
typedef Envoy__Config__Route__V3__RouteAction action_t;
typedef Envoy__Config__Route__V3__RouteAction__HashPolicy hash_policy_t;
typedef Envoy__Config__Route__V3__RouteAction__RequestMirrorPolicy mirror_t;
typedef Envoy__Config__Route__V3__WeightedCluster weighted_t;
typedef Envoy__Config__Route__V3__WeightedCluster__ClusterWeight cluster_weight_t;
typedef Envoy__Config__Route__V3__WeightedCluster__ClusterWeight__TypedPerFilterConfigEntry cw_tpfc_t;
typedef Envoy__Config__Route__V3__RetryPolicy retry_t;
typedef Envoy__Config__Route__V3__RedirectAction redirect_t;
typedef Envoy__Config__Core__V3__HeaderValueOption hvo_t;
typedef Envoy__Type__Matcher__V3__StringMatcher string_matcher_t;
typedef Envoy__Type__Matcher__V3__RegexMatcher regex_t;
typedef Envoy__Type__Matcher__V3__RegexMatchAndSubstitute regex_sub_t;
typedef Envoy__Type__V3__FractionalPercent fraction_t;
typedef Envoy__Extensions__Filters__Http__Fault__V3__HTTPFault http_fault_t;

/* How a RouteMatch matches the path, which decides how a prefix rewrite
 * is expressed on it. */
typedef enum path_kind {
	PK_PREFIX,   /* prefix ending in '/' (or "/" itself) */
	PK_EXACT,    /* path */
	PK_REGEX,    /* safe_regex */
} path_kind_t;

typedef struct variant {
	match_t *m;
	path_kind_t kind;
	bool catch_all;   /* prefix "/" with no other condition */
} variant_t;

/* The RouteConfiguration of one service port, under construction. */
typedef struct rds {
	weft_xds_tx_t *tx;
	const weft_service_t *svc;
	const weft_svc_port_t *port;
	size_t n, cap;
	route_t **routes;
	bool catch_all;
	size_t ndomains, capdomains;
	char **domains;
} rds_t;

/* ---- small builders ---- */

static fraction_t *ppm_fraction(weft_xds_tx_t *tx, uint32_t ppm)
{
	fraction_t *f = WEFT_XDS_NEW(tx, fraction_t, envoy__type__v3__fractional_percent__descriptor);

	f->numerator = ppm > WEFT_PPM_ALL ? WEFT_PPM_ALL : ppm;
	f->denominator = ENVOY__TYPE__V3__FRACTIONAL_PERCENT__DENOMINATOR_TYPE__MILLION;
	return f;
}

static regex_t *regex(weft_xds_tx_t *tx, char *re)
{
	regex_t *r = WEFT_XDS_NEW(tx, regex_t, envoy__type__matcher__v3__regex_matcher__descriptor);

	r->regex = re;
	return r;
}

/* s with RE2's metacharacters escaped, so that it matches literally. */
static char *re_quote(weft_xds_tx_t *tx, weft_str_t s)
{
	char *out = weft_xds_tx_alloc(tx, 2 * s.len + 1), *o = out;

	for (size_t i = 0; i < s.len; i++) {
		if (strchr("\\.+*?()|[]{}^$", s.p[i]) && s.p[i])
			*o++ = '\\';
		*o++ = s.p[i];
	}
	*o = '\0';
	return out;
}

/* s for use as an RE2 substitution: backslashes doubled. */
static char *re_subst(weft_xds_tx_t *tx, weft_str_t s)
{
	char *out = weft_xds_tx_alloc(tx, 2 * s.len + 1), *o = out;

	for (size_t i = 0; i < s.len; i++) {
		if (s.p[i] == '\\')
			*o++ = '\\';
		*o++ = s.p[i];
	}
	*o = '\0';
	return out;
}

static regex_sub_t *full_path_rewrite(weft_xds_tx_t *tx, weft_str_t path)
{
	regex_sub_t *rs = WEFT_XDS_NEW(tx, regex_sub_t,
				       envoy__type__matcher__v3__regex_match_and_substitute__descriptor);

	rs->pattern = regex(tx, "^/.*$");
	rs->substitution = re_subst(tx, path);
	return rs;
}

static char *lower(weft_xds_tx_t *tx, weft_str_t s)
{
	char *p = weft_xds_tx_str(tx, s);

	for (size_t i = 0; i < s.len; i++)
		p[i] = (char)tolower((unsigned char)p[i]);
	return p;
}

static string_matcher_t *string_matcher(weft_xds_tx_t *tx, const weft_str_match_t *sm)
{
	string_matcher_t *m = WEFT_XDS_NEW(tx, string_matcher_t,
					   envoy__type__matcher__v3__string_matcher__descriptor);

	if (sm->type == WEFT_MATCH_REGEX) {
		m->match_pattern_case = ENVOY__TYPE__MATCHER__V3__STRING_MATCHER__MATCH_PATTERN_SAFE_REGEX;
		m->safe_regex = regex(tx, weft_xds_tx_str(tx, sm->value));
	} else {
		m->match_pattern_case = ENVOY__TYPE__MATCHER__V3__STRING_MATCHER__MATCH_PATTERN_EXACT;
		m->exact = weft_xds_tx_str(tx, sm->value);
	}
	return m;
}

static header_matcher_t *header_matcher(weft_xds_tx_t *tx, char *name, string_matcher_t *sm)
{
	header_matcher_t *h = WEFT_XDS_NEW(tx, header_matcher_t,
					   envoy__config__route__v3__header_matcher__descriptor);

	h->name = name;
	h->header_match_specifier_case =
		ENVOY__CONFIG__ROUTE__V3__HEADER_MATCHER__HEADER_MATCH_SPECIFIER_STRING_MATCH;
	h->string_match = sm;
	return h;
}

static hvo_t *header_option(weft_xds_tx_t *tx, const weft_kv_t *kv, bool overwrite)
{
	hvo_t *o = WEFT_XDS_NEW(tx, hvo_t, envoy__config__core__v3__header_value_option__descriptor);

	o->header = WEFT_XDS_NEW(tx, Envoy__Config__Core__V3__HeaderValue,
				 envoy__config__core__v3__header_value__descriptor);
	o->header->key = lower(tx, kv->key);
	o->header->value = weft_xds_tx_str(tx, kv->value);
	o->append_action = overwrite
		? ENVOY__CONFIG__CORE__V3__HEADER_VALUE_OPTION__HEADER_APPEND_ACTION__OVERWRITE_IF_EXISTS_OR_ADD
		: ENVOY__CONFIG__CORE__V3__HEADER_VALUE_OPTION__HEADER_APPEND_ACTION__APPEND_IF_EXISTS_OR_ADD;
	return o;
}

static bool svc_has_fault(const weft_service_t *svc)
{
	const weft_dest_policy_t *p = svc ? svc->policy : NULL;

	return p && p->fault.set && (p->fault.delay_ppm > 0 || p->fault.abort_ppm > 0);
}

/* ---- faults ---- */

Google__Protobuf__Any *weft_xds_fault_any(weft_xds_tx_t *tx, const weft_service_t *svc)
{
	const weft_dest_policy_t *p;
	http_fault_t *f;

	if (!svc_has_fault(svc))
		return NULL;
	p = svc->policy;
	f = WEFT_XDS_NEW(tx, http_fault_t, envoy__extensions__filters__http__fault__v3__httpfault__descriptor);
	if (p->fault.delay_ppm > 0) {
		f->delay = WEFT_XDS_NEW(tx, Envoy__Extensions__Filters__Common__Fault__V3__FaultDelay,
					envoy__extensions__filters__common__fault__v3__fault_delay__descriptor);
		f->delay->fault_delay_secifier_case =
			ENVOY__EXTENSIONS__FILTERS__COMMON__FAULT__V3__FAULT_DELAY__FAULT_DELAY_SECIFIER_FIXED_DELAY;
		f->delay->fixed_delay = weft_xds_tx_duration_ms(tx, p->fault.delay_ms);
		f->delay->percentage = ppm_fraction(tx, p->fault.delay_ppm);
	}
	if (p->fault.abort_ppm > 0 && (p->fault.abort_grpc || p->fault.abort_http_status)) {
		f->abort = WEFT_XDS_NEW(tx, Envoy__Extensions__Filters__Http__Fault__V3__FaultAbort,
					envoy__extensions__filters__http__fault__v3__fault_abort__descriptor);
		if (p->fault.abort_grpc) {
			f->abort->error_type_case =
				ENVOY__EXTENSIONS__FILTERS__HTTP__FAULT__V3__FAULT_ABORT__ERROR_TYPE_GRPC_STATUS;
			f->abort->grpc_status = p->fault.abort_grpc_status;
		} else {
			f->abort->error_type_case =
				ENVOY__EXTENSIONS__FILTERS__HTTP__FAULT__V3__FAULT_ABORT__ERROR_TYPE_HTTP_STATUS;
			f->abort->http_status = p->fault.abort_http_status;
		}
		f->abort->percentage = ppm_fraction(tx, p->fault.abort_ppm);
	}
	return weft_xds_tx_any(tx, &f->base, WEFT_XDS_URL_FAULT);
}

/* ---- which routes apply to a port ---- */

static bool same_svc(const weft_service_t *a, const weft_service_t *b)
{
	return a == b || (a && b && weft_str_eq(a->meta.name, b->meta.name) &&
			  weft_str_eq(a->meta.ns, b->meta.ns));
}

static bool route_applies(const weft_route_t *r, const weft_service_t *svc, uint16_t port)
{
	for (size_t i = 0; i < r->nparents; i++) {
		const weft_parent_ref_t *pr = &r->parents[i];

		if (same_svc(pr->svc, svc) && (pr->port == 0 || pr->port == port))
			return true;
	}
	return false;
}

static uint16_t ref_port(const weft_backend_ref_t *b, const weft_svc_port_t *port)
{
	return b->port ? b->port : port->port;
}

static size_t positive_backends(const weft_route_rule_t *rule)
{
	size_t n = 0;

	for (size_t i = 0; i < rule->nbackends; i++)
		n += rule->backends[i].weight > 0;
	return n;
}

static const weft_filter_t *rule_redirect(const weft_route_rule_t *rule)
{
	for (size_t i = 0; i < rule->nfilters; i++)
		if (rule->filters[i].type == WEFT_FILTER_REDIRECT)
			return &rule->filters[i];
	return NULL;
}

/* ---- matches ---- */

/* Header and query conditions of m (shared by its variants); returns true
 * when there is at least one. */
static bool add_conditions(weft_xds_tx_t *tx, match_t *out, const weft_route_match_t *m)
{
	size_t nh = m->nheaders + (m->method.len ? 1 : 0), k = 0;

	out->headers = (header_matcher_t **)weft_xds_tx_ptrs(tx, nh);
	for (size_t i = 0; i < m->nheaders; i++)
		out->headers[k++] = header_matcher(tx, lower(tx, m->headers[i].name),
						   string_matcher(tx, &m->headers[i]));
	if (m->method.len) {
		weft_str_match_t sm = { .type = WEFT_MATCH_EXACT, .value = m->method };

		out->headers[k++] = header_matcher(tx, ":method", string_matcher(tx, &sm));
	}
	out->n_headers = k;
	out->query_parameters = (query_matcher_t **)weft_xds_tx_ptrs(tx, m->nquery);
	for (size_t i = 0; i < m->nquery; i++) {
		query_matcher_t *q = WEFT_XDS_NEW(tx, query_matcher_t,
			envoy__config__route__v3__query_parameter_matcher__descriptor);

		q->name = weft_xds_tx_str(tx, m->query[i].name);
		q->query_parameter_match_specifier_case =
			ENVOY__CONFIG__ROUTE__V3__QUERY_PARAMETER_MATCHER__QUERY_PARAMETER_MATCH_SPECIFIER_STRING_MATCH;
		q->string_match = string_matcher(tx, &m->query[i]);
		out->query_parameters[i] = q;
	}
	out->n_query_parameters = m->nquery;
	return k > 0 || m->nquery > 0;
}

static match_t *new_match(weft_xds_tx_t *tx, const match_t *conditions)
{
	match_t *m = WEFT_XDS_NEW(tx, match_t, envoy__config__route__v3__route_match__descriptor);

	if (conditions) {
		m->n_headers = conditions->n_headers;
		m->headers = conditions->headers;
		m->n_query_parameters = conditions->n_query_parameters;
		m->query_parameters = conditions->query_parameters;
	}
	return m;
}

static void set_prefix(match_t *m, char *prefix)
{
	m->path_specifier_case = ENVOY__CONFIG__ROUTE__V3__ROUTE_MATCH__PATH_SPECIFIER_PREFIX;
	m->prefix = prefix;
}

static void set_path(match_t *m, char *path)
{
	m->path_specifier_case = ENVOY__CONFIG__ROUTE__V3__ROUTE_MATCH__PATH_SPECIFIER_PATH;
	m->path = path;
}

static void set_regex(weft_xds_tx_t *tx, match_t *m, char *re)
{
	m->path_specifier_case = ENVOY__CONFIG__ROUTE__V3__ROUTE_MATCH__PATH_SPECIFIER_SAFE_REGEX;
	m->safe_regex = regex(tx, re);
}

/* The GRPCRoute method match as a path condition ("/<service>/<method>"). */
static path_kind_t grpc_path(weft_xds_tx_t *tx, match_t *out, const weft_route_match_t *m)
{
	weft_str_t s = m->grpc_service, me = m->grpc_method;

	if (m->grpc_type == WEFT_MATCH_REGEX) {
		set_regex(tx, out, weft_xds_tx_printf(tx, "/(?:%s)/(?:%s)",
			s.len ? weft_xds_tx_str(tx, s) : "[^/]+",
			me.len ? weft_xds_tx_str(tx, me) : "[^/]+"));
		return PK_REGEX;
	}
	if (m->grpc_type == WEFT_MATCH_NONE || (!s.len && !me.len)) {
		set_prefix(out, "/");
		return PK_PREFIX;
	}
	if (s.len && me.len) {
		set_path(out, weft_xds_tx_printf(tx, "/" WEFT_STR_FMT "/" WEFT_STR_FMT,
						 WEFT_STR_ARG(s), WEFT_STR_ARG(me)));
		return PK_EXACT;
	}
	if (s.len) {
		set_prefix(out, weft_xds_tx_printf(tx, "/" WEFT_STR_FMT "/", WEFT_STR_ARG(s)));
		return PK_PREFIX;
	}
	set_regex(tx, out, weft_xds_tx_printf(tx, "/[^/]+/%s", re_quote(tx, me)));
	return PK_REGEX;
}

/* Fills v[] with the RouteMatches of one Gateway API match (NULL: match
 * everything); returns how many (1 or 2). */
static size_t build_variants(weft_xds_tx_t *tx, const weft_route_t *r,
			     const weft_route_match_t *m, variant_t v[2])
{
	match_t *cond = NULL;
	bool extra = false;

	if (m) {
		cond = new_match(tx, NULL);
		extra = add_conditions(tx, cond, m);
	}
	v[0].m = new_match(tx, cond);
	v[0].catch_all = false;
	if (!m) {
		set_prefix(v[0].m, "/");
		v[0].kind = PK_PREFIX;
		v[0].catch_all = true;
		return 1;
	}
	if (r->kind == WEFT_ROUTE_GRPC) {
		v[0].kind = grpc_path(tx, v[0].m, m);
		v[0].catch_all = !extra && v[0].kind == PK_PREFIX && strcmp(v[0].m->prefix, "/") == 0;
		return 1;
	}
	switch (m->path_type) {
	case WEFT_MATCH_EXACT:
		set_path(v[0].m, weft_xds_tx_str(tx, m->path));
		v[0].kind = PK_EXACT;
		return 1;
	case WEFT_MATCH_REGEX:
		set_regex(tx, v[0].m, weft_xds_tx_str(tx, m->path));
		v[0].kind = PK_REGEX;
		return 1;
	default: {
		/* PathPrefix matches whole path elements: "/a" matches "/a" and
		 * "/a/..." but not "/ab"; a trailing '/' in the value is ignored */
		weft_str_t p = m->path;

		while (p.len > 1 && p.p[p.len - 1] == '/')
			p.len--;
		if (p.len == 0 || (p.len == 1 && p.p[0] == '/')) {
			set_prefix(v[0].m, "/");
			v[0].kind = PK_PREFIX;
			v[0].catch_all = !extra;
			return 1;
		}
		set_path(v[0].m, weft_xds_tx_str(tx, p));
		v[0].kind = PK_EXACT;
		v[1].m = new_match(tx, cond);
		set_prefix(v[1].m, weft_xds_tx_printf(tx, WEFT_STR_FMT "/", WEFT_STR_ARG(p)));
		v[1].kind = PK_PREFIX;
		v[1].catch_all = false;
		return 2;
	}
	}
}

/* The replacement of a ReplacePrefixMatch for a variant: on a prefix route
 * ("/a/") the matched prefix ends in '/', so the replacement does too. */
static char *prefix_replacement(weft_xds_tx_t *tx, path_kind_t kind, weft_str_t repl)
{
	if (kind == PK_PREFIX && (repl.len == 0 || repl.p[repl.len - 1] != '/'))
		return weft_xds_tx_printf(tx, WEFT_STR_FMT "/", WEFT_STR_ARG(repl));
	return weft_xds_tx_str(tx, repl.len ? repl : WEFT_STR_LIT("/"));
}

/* ---- actions ---- */

static retry_t *retry_policy(weft_xds_tx_t *tx, const weft_service_t *svc, uint64_t backend_ms)
{
	static const struct { uint32_t bit; const char *name; } conds[] = {
		{ WEFT_RETRY_5XX, "5xx" },
		{ WEFT_RETRY_GATEWAY_ERROR, "gateway-error" },
		{ WEFT_RETRY_RESET, "reset" },
		{ WEFT_RETRY_CONNECT_FAILURE, "connect-failure" },
		{ WEFT_RETRY_RETRIABLE_4XX, "retriable-4xx" },
		{ WEFT_RETRY_REFUSED_STREAM, "refused-stream" },
		{ WEFT_RETRY_RETRIABLE_STATUS, "retriable-status-codes" },
		{ WEFT_RETRY_CANCELLED, "cancelled" },
		{ WEFT_RETRY_DEADLINE_EXCEEDED, "deadline-exceeded" },
		{ WEFT_RETRY_INTERNAL, "internal" },
		{ WEFT_RETRY_RESOURCE_EXHAUSTED, "resource-exhausted" },
		{ WEFT_RETRY_UNAVAILABLE, "unavailable" },
	};
	const weft_dest_policy_t *p = svc ? svc->policy : NULL;
	retry_t *rp;
	char *on, *o;
	uint64_t base, max;

	/* grpc-js NACKs num_retries < 1: no retries means no policy */
	if (!p || !p->retry.set || p->retry.attempts == 0 || p->retry.retry_on == 0)
		return NULL;
	rp = WEFT_XDS_NEW(tx, retry_t, envoy__config__route__v3__retry_policy__descriptor);
	on = o = weft_xds_tx_alloc(tx, 256);
	for (size_t i = 0; i < sizeof(conds) / sizeof(conds[0]); i++) {
		if (!(p->retry.retry_on & conds[i].bit))
			continue;
		if (o != on)
			*o++ = ',';
		o = stpcpy(o, conds[i].name);
	}
	rp->retry_on = on;
	rp->num_retries = weft_xds_tx_u32(tx, p->retry.attempts);
	if (p->retry.per_try_timeout_ms)
		rp->per_try_timeout = weft_xds_tx_duration_ms(tx, p->retry.per_try_timeout_ms);
	else if (backend_ms)
		rp->per_try_timeout = weft_xds_tx_duration_ms(tx, backend_ms);
	if ((p->retry.retry_on & WEFT_RETRY_RETRIABLE_STATUS) && p->retry.nstatus) {
		rp->retriable_status_codes = weft_xds_tx_alloc(tx, p->retry.nstatus * sizeof(uint32_t));
		memcpy(rp->retriable_status_codes, p->retry.retriable_status,
		       p->retry.nstatus * sizeof(uint32_t));
		rp->n_retriable_status_codes = p->retry.nstatus;
	}
	base = p->retry.backoff_base_ms;
	max = p->retry.backoff_max_ms ? p->retry.backoff_max_ms : 10 * base;
	if (base > 0) {
		rp->retry_back_off = WEFT_XDS_NEW(tx, Envoy__Config__Route__V3__RetryPolicy__RetryBackOff,
						  envoy__config__route__v3__retry_policy__retry_back_off__descriptor);
		rp->retry_back_off->base_interval = weft_xds_tx_duration_ms(tx, base);
		rp->retry_back_off->max_interval = weft_xds_tx_duration_ms(tx, max < base ? base : max);
	}
	return rp;
}

static hash_policy_t *hash_policy(weft_xds_tx_t *tx)
{
	return WEFT_XDS_NEW(tx, hash_policy_t, envoy__config__route__v3__route_action__hash_policy__descriptor);
}

/* Ring-hash keys of the first RING_HASH service among svcs: a header, and/or
 * the client's address (connection_properties.source_ip for proxies;
 * filter_state io.grpc.channel_id, one key per client channel, for gRPC). */
static void hash_policies(weft_xds_tx_t *tx, action_t *a, const weft_service_t **svcs, size_t n)
{
	const weft_dest_policy_t *p = NULL;
	size_t k = 0;

	for (size_t i = 0; i < n && !p; i++)
		if (svcs[i] && svcs[i]->policy && (svcs[i]->policy->lb.type == WEFT_LB_RING_HASH ||
						   svcs[i]->policy->lb.type == WEFT_LB_MAGLEV))
			p = svcs[i]->policy;
	if (!p || (!p->lb.hash_header.len && !p->lb.hash_source_ip))
		return;
	a->hash_policy = (hash_policy_t **)weft_xds_tx_ptrs(tx, 3);
	if (p->lb.hash_header.len) {
		hash_policy_t *h = hash_policy(tx);

		h->policy_specifier_case = ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__HASH_POLICY__POLICY_SPECIFIER_HEADER;
		h->header = WEFT_XDS_NEW(tx, Envoy__Config__Route__V3__RouteAction__HashPolicy__Header,
					 envoy__config__route__v3__route_action__hash_policy__header__descriptor);
		h->header->header_name = lower(tx, p->lb.hash_header);
		a->hash_policy[k++] = h;
	}
	if (p->lb.hash_source_ip) {
		hash_policy_t *h = hash_policy(tx);

		h->policy_specifier_case =
			ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__HASH_POLICY__POLICY_SPECIFIER_CONNECTION_PROPERTIES;
		h->connection_properties =
			WEFT_XDS_NEW(tx, Envoy__Config__Route__V3__RouteAction__HashPolicy__ConnectionProperties,
				     envoy__config__route__v3__route_action__hash_policy__connection_properties__descriptor);
		h->connection_properties->source_ip = 1;
		a->hash_policy[k++] = h;

		h = hash_policy(tx);
		h->policy_specifier_case = ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__HASH_POLICY__POLICY_SPECIFIER_FILTER_STATE;
		h->filter_state = WEFT_XDS_NEW(tx, Envoy__Config__Route__V3__RouteAction__HashPolicy__FilterState,
					       envoy__config__route__v3__route_action__hash_policy__filter_state__descriptor);
		h->filter_state->key = "io.grpc.channel_id";
		a->hash_policy[k++] = h;
	}
	a->n_hash_policy = k;
}

static route_tpfc_t **route_fault(weft_xds_tx_t *tx, Google__Protobuf__Any *fault, size_t *n)
{
	route_tpfc_t **v;

	*n = 0;
	if (!fault)
		return NULL;
	v = (route_tpfc_t **)weft_xds_tx_ptrs(tx, 1);
	v[0] = WEFT_XDS_NEW(tx, route_tpfc_t,
			    envoy__config__route__v3__route__typed_per_filter_config_entry__descriptor);
	v[0]->key = WEFT_XDS_FILTER_FAULT;
	v[0]->value = fault;
	*n = 1;
	return v;
}

/* The forwarding part of a rule, common to its matches: backends, timeouts,
 * retries, mirrors, hashing, host rewrite. Fault overrides for a single
 * backend are returned in *fault (they go on the Route). */
static action_t *rule_action(rds_t *x, const weft_route_rule_t *rule, Google__Protobuf__Any **fault)
{
	weft_xds_tx_t *tx = x->tx;
	action_t *a = WEFT_XDS_NEW(tx, action_t, envoy__config__route__v3__route_action__descriptor);
	size_t npos = rule ? positive_backends(rule) : 0, nsvcs = 0, nmirror = 0;
	const weft_service_t **svcs = (const weft_service_t **)weft_xds_tx_ptrs(tx, npos + 1);
	uint64_t req_ms = rule ? rule->timeout_request_ms : 0, be_ms = rule ? rule->timeout_backend_ms : 0;

	*fault = NULL;
	if (npos == 0) {
		/* no rule, no backendRefs or all weights 0: the service itself */
		a->cluster_specifier_case = ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__CLUSTER_SPECIFIER_CLUSTER;
		a->cluster = weft_xds_cluster_name(tx, x->svc->meta.name, x->svc->meta.ns, x->port->port);
		svcs[nsvcs++] = x->svc;
		*fault = weft_xds_fault_any(tx, x->svc);
	} else if (npos == 1) {
		for (size_t i = 0; i < rule->nbackends; i++) {
			const weft_backend_ref_t *b = &rule->backends[i];

			if (b->weight == 0)
				continue;
			a->cluster_specifier_case = ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__CLUSTER_SPECIFIER_CLUSTER;
			a->cluster = weft_xds_cluster_name(tx, b->name, b->ns, ref_port(b, x->port));
			svcs[nsvcs++] = b->svc;
			*fault = weft_xds_fault_any(tx, b->svc);
		}
	} else {
		weighted_t *w = WEFT_XDS_NEW(tx, weighted_t, envoy__config__route__v3__weighted_cluster__descriptor);

		w->clusters = (cluster_weight_t **)weft_xds_tx_ptrs(tx, npos);
		for (size_t i = 0; i < rule->nbackends; i++) {
			const weft_backend_ref_t *b = &rule->backends[i];
			Google__Protobuf__Any *f;
			cluster_weight_t *cw;

			if (b->weight == 0)
				continue;
			cw = WEFT_XDS_NEW(tx, cluster_weight_t,
					  envoy__config__route__v3__weighted_cluster__cluster_weight__descriptor);
			cw->name = weft_xds_cluster_name(tx, b->name, b->ns, ref_port(b, x->port));
			cw->weight = weft_xds_tx_u32(tx, b->weight);
			f = weft_xds_fault_any(tx, b->svc);
			if (f) {
				cw->typed_per_filter_config = (cw_tpfc_t **)weft_xds_tx_ptrs(tx, 1);
				cw->typed_per_filter_config[0] = WEFT_XDS_NEW(tx, cw_tpfc_t,
					envoy__config__route__v3__weighted_cluster__cluster_weight__typed_per_filter_config_entry__descriptor);
				cw->typed_per_filter_config[0]->key = WEFT_XDS_FILTER_FAULT;
				cw->typed_per_filter_config[0]->value = f;
				cw->n_typed_per_filter_config = 1;
			}
			w->clusters[w->n_clusters++] = cw;
			svcs[nsvcs++] = b->svc;
		}
		a->cluster_specifier_case = ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__CLUSTER_SPECIFIER_WEIGHTED_CLUSTERS;
		a->weighted_clusters = w;
	}

	/* timeouts.request bounds the whole call; backendRequest each try
	 * (the whole call too when no request timeout is given) */
	if (!req_ms)
		req_ms = be_ms;
	if (req_ms) {
		a->timeout = weft_xds_tx_duration_ms(tx, req_ms);
		a->max_stream_duration = WEFT_XDS_NEW(tx, Envoy__Config__Route__V3__RouteAction__MaxStreamDuration,
			envoy__config__route__v3__route_action__max_stream_duration__descriptor);
		a->max_stream_duration->max_stream_duration = a->timeout;
	}
	a->retry_policy = retry_policy(tx, x->svc, be_ms);
	hash_policies(tx, a, svcs, nsvcs);

	for (size_t i = 0; rule && i < rule->nfilters; i++)
		nmirror += rule->filters[i].type == WEFT_FILTER_MIRROR;
	a->request_mirror_policies = (mirror_t **)weft_xds_tx_ptrs(tx, nmirror);
	for (size_t i = 0; rule && i < rule->nfilters; i++) {
		const weft_filter_t *f = &rule->filters[i];

		if (f->type == WEFT_FILTER_MIRROR) {
			const weft_backend_ref_t *b = &f->mirror.backend;
			mirror_t *mp = WEFT_XDS_NEW(tx, mirror_t,
				envoy__config__route__v3__route_action__request_mirror_policy__descriptor);

			mp->cluster = weft_xds_cluster_name(tx, b->name, b->ns, ref_port(b, x->port));
			mp->runtime_fraction = WEFT_XDS_NEW(tx, Envoy__Config__Core__V3__RuntimeFractionalPercent,
				envoy__config__core__v3__runtime_fractional_percent__descriptor);
			mp->runtime_fraction->default_value = ppm_fraction(tx, f->mirror.percent_ppm);
			a->request_mirror_policies[a->n_request_mirror_policies++] = mp;
		} else if (f->type == WEFT_FILTER_URL_REWRITE && f->rewrite.hostname.len) {
			a->host_rewrite_specifier_case =
				ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__HOST_REWRITE_SPECIFIER_HOST_REWRITE_LITERAL;
			a->host_rewrite_literal = weft_xds_tx_str(tx, f->rewrite.hostname);
		}
	}
	return a;
}

/* The path rewrite of a rule's URLRewrite for one variant: a copy of base
 * with prefix_rewrite or regex_rewrite set (base itself when none). */
static action_t *variant_action(weft_xds_tx_t *tx, action_t *base, const weft_route_rule_t *rule,
				path_kind_t kind)
{
	action_t *a;

	for (size_t i = 0; rule && i < rule->nfilters; i++) {
		const weft_filter_t *f = &rule->filters[i];

		if (f->type != WEFT_FILTER_URL_REWRITE || f->rewrite.path_mod == WEFT_PATH_MOD_NONE)
			continue;
		a = weft_xds_tx_alloc(tx, sizeof(*a));
		*a = *base;
		if (f->rewrite.path_mod == WEFT_PATH_MOD_FULL || kind == PK_REGEX)
			a->regex_rewrite = full_path_rewrite(tx, f->rewrite.path);
		else
			a->prefix_rewrite = prefix_replacement(tx, kind, f->rewrite.path);
		return a;
	}
	return base;
}

static redirect_t *redirect_action(weft_xds_tx_t *tx, const weft_filter_t *f, path_kind_t kind)
{
	redirect_t *r = WEFT_XDS_NEW(tx, redirect_t, envoy__config__route__v3__redirect_action__descriptor);

	if (f->redirect.scheme.len) {
		r->scheme_rewrite_specifier_case =
			ENVOY__CONFIG__ROUTE__V3__REDIRECT_ACTION__SCHEME_REWRITE_SPECIFIER_SCHEME_REDIRECT;
		r->scheme_redirect = weft_xds_tx_str(tx, f->redirect.scheme);
	}
	if (f->redirect.hostname.len)
		r->host_redirect = weft_xds_tx_str(tx, f->redirect.hostname);
	r->port_redirect = f->redirect.port;
	if (f->redirect.path_mod == WEFT_PATH_MOD_FULL) {
		r->path_rewrite_specifier_case =
			ENVOY__CONFIG__ROUTE__V3__REDIRECT_ACTION__PATH_REWRITE_SPECIFIER_PATH_REDIRECT;
		r->path_redirect = weft_xds_tx_str(tx, f->redirect.path);
	} else if (f->redirect.path_mod == WEFT_PATH_MOD_PREFIX) {
		r->path_rewrite_specifier_case =
			ENVOY__CONFIG__ROUTE__V3__REDIRECT_ACTION__PATH_REWRITE_SPECIFIER_PREFIX_REWRITE;
		r->prefix_rewrite = prefix_replacement(tx, kind, f->redirect.path);
	}
	switch (f->redirect.status) {
	case 302: r->response_code = ENVOY__CONFIG__ROUTE__V3__REDIRECT_ACTION__REDIRECT_RESPONSE_CODE__FOUND; break;
	case 303: r->response_code = ENVOY__CONFIG__ROUTE__V3__REDIRECT_ACTION__REDIRECT_RESPONSE_CODE__SEE_OTHER; break;
	case 307: r->response_code = ENVOY__CONFIG__ROUTE__V3__REDIRECT_ACTION__REDIRECT_RESPONSE_CODE__TEMPORARY_REDIRECT; break;
	case 308: r->response_code = ENVOY__CONFIG__ROUTE__V3__REDIRECT_ACTION__REDIRECT_RESPONSE_CODE__PERMANENT_REDIRECT; break;
	default: r->response_code = ENVOY__CONFIG__ROUTE__V3__REDIRECT_ACTION__REDIRECT_RESPONSE_CODE__MOVED_PERMANENTLY; break;
	}
	return r;
}

/* Request/response header modifiers of a rule, set on the Route. */
static void header_mods(weft_xds_tx_t *tx, route_t *rt, const weft_route_rule_t *rule)
{
	size_t nreq = 0, nreqrm = 0, nresp = 0, nresprm = 0;

	for (size_t i = 0; i < rule->nfilters; i++) {
		const weft_filter_t *f = &rule->filters[i];
		size_t add = f->headers.nset + f->headers.nadd;

		if (f->type == WEFT_FILTER_REQUEST_HEADER) {
			nreq += add;
			nreqrm += f->headers.nremove;
		} else if (f->type == WEFT_FILTER_RESPONSE_HEADER) {
			nresp += add;
			nresprm += f->headers.nremove;
		}
	}
	rt->request_headers_to_add = (hvo_t **)weft_xds_tx_ptrs(tx, nreq);
	rt->request_headers_to_remove = (char **)weft_xds_tx_ptrs(tx, nreqrm);
	rt->response_headers_to_add = (hvo_t **)weft_xds_tx_ptrs(tx, nresp);
	rt->response_headers_to_remove = (char **)weft_xds_tx_ptrs(tx, nresprm);
	for (size_t i = 0; i < rule->nfilters; i++) {
		const weft_filter_t *f = &rule->filters[i];
		hvo_t **add;
		size_t *nadd;
		char **rm;
		size_t *nrm;

		if (f->type == WEFT_FILTER_REQUEST_HEADER) {
			add = rt->request_headers_to_add;
			nadd = &rt->n_request_headers_to_add;
			rm = rt->request_headers_to_remove;
			nrm = &rt->n_request_headers_to_remove;
		} else if (f->type == WEFT_FILTER_RESPONSE_HEADER) {
			add = rt->response_headers_to_add;
			nadd = &rt->n_response_headers_to_add;
			rm = rt->response_headers_to_remove;
			nrm = &rt->n_response_headers_to_remove;
		} else {
			continue;
		}
		for (size_t j = 0; j < f->headers.nset; j++)
			add[(*nadd)++] = header_option(tx, &f->headers.set[j], true);
		for (size_t j = 0; j < f->headers.nadd; j++)
			add[(*nadd)++] = header_option(tx, &f->headers.add[j], false);
		for (size_t j = 0; j < f->headers.nremove; j++)
			rm[(*nrm)++] = lower(tx, f->headers.remove[j]);
	}
}

/* ---- assembling the RouteConfiguration ---- */

static void push_route(rds_t *x, route_t *rt)
{
	if (x->n == x->cap) {
		size_t cap = x->cap ? 2 * x->cap : 16;
		route_t **v = (route_t **)weft_xds_tx_ptrs(x->tx, cap);

		if (x->n)
			memcpy(v, x->routes, x->n * sizeof(*v));
		x->routes = v;
		x->cap = cap;
	}
	x->routes[x->n++] = rt;
}

static void push_domain(rds_t *x, char *d)
{
	for (size_t i = 0; i < x->ndomains; i++)
		if (strcmp(x->domains[i], d) == 0)
			return;
	if (x->ndomains == x->capdomains) {
		size_t cap = x->capdomains ? 2 * x->capdomains : 16;
		char **v = (char **)weft_xds_tx_ptrs(x->tx, cap);

		if (x->ndomains)
			memcpy(v, x->domains, x->ndomains * sizeof(*v));
		x->domains = v;
		x->capdomains = cap;
	}
	x->domains[x->ndomains++] = d;
}

/* Every name a client may dial the service port by, with and without the
 * port: FQDN, <name>.<ns>.svc, <name>.<ns>, <name>, clusterIP:port. */
static void add_service_domains(rds_t *x)
{
	weft_xds_tx_t *tx = x->tx;
	const weft_service_t *svc = x->svc;
	unsigned port = x->port->port;
	const weft_str_t suffixes[] = { WEFT_STR_LIT(".svc.cluster.local"), WEFT_STR_LIT(".svc"),
					WEFT_STR_LIT("") };
	const weft_str_t dot_ns[2] = { WEFT_STR_LIT("."), svc->meta.ns };
	weft_str_t ns = weft_str_c(weft_xds_tx_cat(tx, 2, dot_ns));   /* ".<ns>" */

	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		const weft_str_t parts[3] = { svc->meta.name, ns, suffixes[i] };

		push_domain(x, weft_xds_tx_cat(tx, 3, parts));
		push_domain(x, weft_xds_tx_port_name(tx, svc->meta.name, ns, suffixes[i], port));
	}
	push_domain(x, weft_xds_tx_str(tx, svc->meta.name));
	push_domain(x, weft_xds_tx_port_name(tx, svc->meta.name, WEFT_STR_LIT(""), WEFT_STR_LIT(""), port));
	if (svc->cluster_ip.len) {
		bool v6 = memchr(svc->cluster_ip.p, ':', svc->cluster_ip.len) != NULL;

		push_domain(x, v6 ? weft_xds_tx_port_name(tx, WEFT_STR_LIT("["), svc->cluster_ip,
							  WEFT_STR_LIT("]"), port)
				  : weft_xds_tx_port_name(tx, svc->cluster_ip, WEFT_STR_LIT(""),
							  WEFT_STR_LIT(""), port));
	}
}

/* Appends "#fault-<digest>" to the name of a route that carries fault
 * overrides (on the route or its weighted clusters), the digest covering
 * every override's bytes.
 *
 * Why: grpc-js-xds 1.14 compares a RouteConfiguration update with its
 * cached copy by walking only the cached object's keys, so an override that
 * appears in an empty map, or override bytes that merely grow, compare
 * "equal" and the update is dropped. A changed name is always seen. */
static void tag_overrides(weft_xds_tx_t *tx, route_t *rt)
{
	weft_xds_hasher_t h;
	bool any = rt->n_typed_per_filter_config > 0;
	weft_xds_fp_t fp;

	weft_xds_fp_init(&h, 0x7f);
	for (size_t i = 0; i < rt->n_typed_per_filter_config; i++) {
		const Google__Protobuf__Any *v = rt->typed_per_filter_config[i]->value;

		weft_xds_fp_str(&h, weft_str((const char *)v->value.data, v->value.len));
	}
	if (rt->action_case == ENVOY__CONFIG__ROUTE__V3__ROUTE__ACTION_ROUTE &&
	    rt->route->cluster_specifier_case ==
		    ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__CLUSTER_SPECIFIER_WEIGHTED_CLUSTERS) {
		const weighted_t *w = rt->route->weighted_clusters;

		for (size_t c = 0; c < w->n_clusters; c++) {
			weft_xds_fp_u64(&h, w->clusters[c]->n_typed_per_filter_config);
			for (size_t i = 0; i < w->clusters[c]->n_typed_per_filter_config; i++) {
				const Google__Protobuf__Any *v = w->clusters[c]->typed_per_filter_config[i]->value;

				any = true;
				weft_xds_fp_str(&h, weft_str((const char *)v->value.data, v->value.len));
			}
		}
	}
	if (!any)
		return;
	fp = weft_xds_fp_final(&h);
	rt->name = weft_xds_tx_printf(tx, "%s#fault-%016llx", rt->name, (unsigned long long)(fp.a ^ fp.b));
}

static route_t *new_route(weft_xds_tx_t *tx, char *name, match_t *m)
{
	route_t *rt = WEFT_XDS_NEW(tx, route_t, envoy__config__route__v3__route__descriptor);

	rt->name = name;
	rt->match = m;
	return rt;
}

/* Adds the routes of one rule: one per match variant. */
static void add_rule(rds_t *x, const weft_route_t *r, size_t ri, const weft_route_rule_t *rule)
{
	weft_xds_tx_t *tx = x->tx;
	const weft_filter_t *redir = rule_redirect(rule);
	size_t nm = rule->nmatches ? rule->nmatches : 1;
	Google__Protobuf__Any *fault = NULL;
	action_t *base = NULL;

	if (redir && x->port->proto != WEFT_APP_HTTP)
		return;   /* gRPC clients NACK redirect routes: only plain http ports get them */
	if (!redir)
		base = rule_action(x, rule, &fault);
	for (size_t mi = 0; mi < nm; mi++) {
		variant_t v[2];
		size_t nv = build_variants(tx, r, rule->nmatches ? &rule->matches[mi] : NULL, v);

		for (size_t vi = 0; vi < nv; vi++) {
			route_t *rt = new_route(tx, weft_xds_tx_printf(tx,
				WEFT_STR_FMT "/" WEFT_STR_FMT "/rule%zu/match%zu%s",
				WEFT_STR_ARG(r->meta.ns), WEFT_STR_ARG(r->meta.name), ri, mi,
				nv > 1 ? (v[vi].kind == PK_EXACT ? "/exact" : "/prefix") : ""), v[vi].m);

			if (redir) {
				rt->action_case = ENVOY__CONFIG__ROUTE__V3__ROUTE__ACTION_REDIRECT;
				rt->redirect = redirect_action(tx, redir, v[vi].kind);
			} else {
				rt->action_case = ENVOY__CONFIG__ROUTE__V3__ROUTE__ACTION_ROUTE;
				rt->route = variant_action(tx, base, rule, v[vi].kind);
				rt->typed_per_filter_config = route_fault(tx, fault, &rt->n_typed_per_filter_config);
				tag_overrides(tx, rt);
			}
			header_mods(tx, rt, rule);
			push_route(x, rt);
			if (v[vi].catch_all)
				x->catch_all = true;
		}
	}
}

/* Adds the RouteConfiguration of one service port. Reads what
 * weft_xds_rds_fp() covers. */
void weft_xds_rds_port(weft_xds_tx_t *tx, const weft_service_t *svc, const weft_svc_port_t *port)
{
	rds_t x = { .tx = tx, .svc = svc, .port = port };
	route_config_t *rc = WEFT_XDS_NEW(tx, route_config_t, envoy__config__route__v3__route_configuration__descriptor);
	vhost_t *vh = WEFT_XDS_NEW(tx, vhost_t, envoy__config__route__v3__virtual_host__descriptor);

	rc->name = weft_xds_route_name(tx, svc, port->port);
	add_service_domains(&x);
	for (size_t i = 0; i < svc->nroutes; i++) {
		const weft_route_t *r = svc->routes[i];

		if (!route_applies(r, svc, port->port))
			continue;
		for (size_t h = 0; h < r->nhostnames; h++) {
			push_domain(&x, weft_xds_tx_str(tx, r->hostnames[h]));
			push_domain(&x, weft_xds_tx_port_name(tx, r->hostnames[h], WEFT_STR_LIT(""),
							      WEFT_STR_LIT(""), port->port));
		}
		for (size_t j = 0; j < r->nrules; j++)
			add_rule(&x, r, j, &r->rules[j]);
	}
	if (!x.catch_all) {
		Google__Protobuf__Any *fault;
		variant_t v[2];
		route_t *rt;

		build_variants(tx, NULL, NULL, v);
		rt = new_route(tx, "default", v[0].m);
		rt->action_case = ENVOY__CONFIG__ROUTE__V3__ROUTE__ACTION_ROUTE;
		rt->route = rule_action(&x, NULL, &fault);
		rt->typed_per_filter_config = route_fault(tx, fault, &rt->n_typed_per_filter_config);
		tag_overrides(tx, rt);
		push_route(&x, rt);
	}
	vh->name = rc->name;
	vh->domains = x.domains;
	vh->n_domains = x.ndomains;
	vh->routes = x.routes;
	vh->n_routes = x.n;
	rc->virtual_hosts = (vhost_t **)weft_xds_tx_ptrs(tx, 1);
	rc->virtual_hosts[0] = vh;
	rc->n_virtual_hosts = 1;
	weft_xds_tx_emit(tx, WEFT_XDS_RDS, rc->name, &rc->base);
}

/* ---- input fingerprint ---- */

static void fp_kvs(weft_xds_hasher_t *h, size_t n, const weft_kv_t *kv)
{
	weft_xds_fp_u64(h, n);
	for (size_t i = 0; i < n; i++) {
		weft_xds_fp_str(h, kv[i].key);
		weft_xds_fp_str(h, kv[i].value);
	}
}

void weft_xds_fp_str_matches(weft_xds_hasher_t *h, size_t n, const weft_str_match_t *m)
{
	weft_xds_fp_u64(h, n);
	for (size_t i = 0; i < n; i++) {
		weft_xds_fp_u64(h, m[i].type);
		weft_xds_fp_str(h, m[i].name);
		weft_xds_fp_str(h, m[i].value);
	}
}

/* What the builders read of a service a route leads to (or of the port's
 * own service): its DestinationPolicy's faults, ring-hash keys, retries. */
static void fp_svc_policy(weft_xds_hasher_t *h, const weft_service_t *svc)
{
	const weft_dest_policy_t *p = svc ? svc->policy : NULL;

	weft_xds_fp_u64(h, svc != NULL);
	weft_xds_fp_u64(h, p != NULL);
	if (!p)
		return;
	weft_xds_fp_u64(h, p->fault.set);
	weft_xds_fp_u64(h, p->fault.delay_ppm);
	weft_xds_fp_u64(h, p->fault.delay_ms);
	weft_xds_fp_u64(h, p->fault.abort_ppm);
	weft_xds_fp_u64(h, p->fault.abort_http_status);
	weft_xds_fp_u64(h, p->fault.abort_grpc_status);
	weft_xds_fp_u64(h, p->fault.abort_grpc);
	weft_xds_fp_u64(h, p->lb.type);
	weft_xds_fp_str(h, p->lb.hash_header);
	weft_xds_fp_u64(h, p->lb.hash_source_ip);
	weft_xds_fp_u64(h, p->retry.set);
	weft_xds_fp_u64(h, p->retry.attempts);
	weft_xds_fp_u64(h, p->retry.per_try_timeout_ms);
	weft_xds_fp_u64(h, p->retry.retry_on);
	weft_xds_fp_u64(h, p->retry.nstatus);
	for (size_t i = 0; i < p->retry.nstatus; i++)
		weft_xds_fp_u64(h, p->retry.retriable_status[i]);
	weft_xds_fp_u64(h, p->retry.backoff_base_ms);
	weft_xds_fp_u64(h, p->retry.backoff_max_ms);
}

static void fp_backend(weft_xds_hasher_t *h, const weft_backend_ref_t *b, bool with_svc)
{
	weft_xds_fp_str(h, b->name);
	weft_xds_fp_str(h, b->ns);
	weft_xds_fp_u64(h, b->port);
	weft_xds_fp_u64(h, b->weight);
	if (with_svc)
		fp_svc_policy(h, b->svc);
}

void weft_xds_fp_rule(weft_xds_hasher_t *h, const weft_route_rule_t *rule, bool backend_svc)
{
	weft_xds_fp_u64(h, rule->nmatches);
	for (size_t i = 0; i < rule->nmatches; i++) {
		const weft_route_match_t *m = &rule->matches[i];

		weft_xds_fp_u64(h, m->path_type);
		weft_xds_fp_str(h, m->path);
		weft_xds_fp_str_matches(h, m->nheaders, m->headers);
		weft_xds_fp_str_matches(h, m->nquery, m->query);
		weft_xds_fp_str(h, m->method);
		weft_xds_fp_u64(h, m->grpc_type);
		weft_xds_fp_str(h, m->grpc_service);
		weft_xds_fp_str(h, m->grpc_method);
	}
	weft_xds_fp_u64(h, rule->nfilters);
	for (size_t i = 0; i < rule->nfilters; i++) {
		const weft_filter_t *f = &rule->filters[i];

		weft_xds_fp_u64(h, f->type);
		fp_kvs(h, f->headers.nset, f->headers.set);
		fp_kvs(h, f->headers.nadd, f->headers.add);
		weft_xds_fp_u64(h, f->headers.nremove);
		for (size_t j = 0; j < f->headers.nremove; j++)
			weft_xds_fp_str(h, f->headers.remove[j]);
		fp_backend(h, &f->mirror.backend, false);
		weft_xds_fp_u64(h, f->mirror.percent_ppm);
		weft_xds_fp_str(h, f->rewrite.hostname);
		weft_xds_fp_u64(h, f->rewrite.path_mod);
		weft_xds_fp_str(h, f->rewrite.path);
		weft_xds_fp_str(h, f->redirect.scheme);
		weft_xds_fp_str(h, f->redirect.hostname);
		weft_xds_fp_u64(h, f->redirect.path_mod);
		weft_xds_fp_str(h, f->redirect.path);
		weft_xds_fp_u64(h, f->redirect.port);
		weft_xds_fp_u64(h, f->redirect.status);
	}
	weft_xds_fp_u64(h, rule->nbackends);
	for (size_t i = 0; i < rule->nbackends; i++)
		fp_backend(h, &rule->backends[i], backend_svc);
	weft_xds_fp_u64(h, rule->timeout_request_ms);
	weft_xds_fp_u64(h, rule->timeout_backend_ms);
}

/* Everything weft_xds_rds_port() reads: the port (identity, appProtocol),
 * the service's clusterIP and policy, and every field of each route that
 * applies to the port, in order, with the policies of the services its
 * backends resolve to. Routes that do not apply read nothing but the
 * parentRefs route_applies() looks at, whose verdict is what counts. */
weft_xds_fp_t weft_xds_rds_fp(weft_xds_tx_t *tx, weft_xds_hasher_t h,
			      const weft_service_t *svc, const weft_svc_port_t *port)
{
	weft_xds_fp_u64(&h, WEFT_XDS_RDS + 1);
	weft_xds_fp_u64(&h, port->proto);
	weft_xds_fp_str(&h, svc->cluster_ip);
	fp_svc_policy(&h, svc);
	for (size_t i = 0; i < svc->nroutes; i++) {
		const weft_route_t *r = svc->routes[i];

		if (!route_applies(r, svc, port->port))
			continue;
		weft_xds_fp_u64(&h, i);
		weft_xds_fp_str(&h, r->meta.ns);
		weft_xds_fp_str(&h, r->meta.name);
		weft_xds_fp_u64(&h, r->kind);
		weft_xds_fp_u64(&h, r->nhostnames);
		for (size_t j = 0; j < r->nhostnames; j++)
			weft_xds_fp_str(&h, r->hostnames[j]);
		weft_xds_fp_u64(&h, r->nrules);
		for (size_t j = 0; j < r->nrules; j++)
			weft_xds_fp_rule(&h, &r->rules[j], true);
	}
	weft_xds_fp_u64(&h, svc->nroutes);
	return weft_xds_fp_final(&h);
}
