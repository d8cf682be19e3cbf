/* weft — the agent's view: address helpers, building an immutable view from
 * decoded weft.agent.v1 resources, reference counting and the lookups.
 *
 * Everything of a view lives in its arena. The lookup indexes are sorted
 * arrays searched by binary search: uids (the arrays themselves are sorted
 * by uid), workload addresses, (clusterIP, port) pairs and endpoint
 * addresses. Building is O(n log n); every lookup is O(log n). */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include "weft/agentview.h"
#include "weft/arena.h"
#include "weft/str.h"

/* ---- addresses ---- */

static const uint8_t v4_prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

int weft_ip_parse(const char *s, size_t len, weft_ip_t *ip)
{
	char tmp[INET6_ADDRSTRLEN + 1];
	struct in_addr a4;

	if (!s || len == 0 || len >= sizeof(tmp))
		return WEFT_EPROTO;
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	if (strlen(tmp) != len)
		return WEFT_EPROTO;   /* an embedded NUL */
	memset(ip, 0, sizeof(*ip));
	if (inet_pton(AF_INET, tmp, &a4) == 1) {
		memcpy(ip->a6, v4_prefix, 12);
		memcpy(ip->a6 + 12, &a4, 4);
		ip->v4 = true;
		return WEFT_OK;
	}
	if (inet_pton(AF_INET6, tmp, ip->a6) == 1) {
		/* a v4-mapped literal (::ffff:1.2.3.4) is the v4 address */
		ip->v4 = !memcmp(ip->a6, v4_prefix, 12);
		return WEFT_OK;
	}
	return WEFT_EPROTO;
}

void weft_ip_from_sockaddr(const struct sockaddr *sa, weft_ip_t *ip, uint16_t *port)
{
	memset(ip, 0, sizeof(*ip));
	if (port)
		*port = 0;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
		memcpy(ip->a6, v4_prefix, 12);
		memcpy(ip->a6 + 12, &s4->sin_addr, 4);
		ip->v4 = true;
		if (port)
			*port = ntohs(s4->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
		memcpy(ip->a6, &s6->sin6_addr, 16);
		ip->v4 = !memcmp(ip->a6, v4_prefix, 12);
		if (port)
			*port = ntohs(s6->sin6_port);
	}
}

socklen_t weft_ip_to_sockaddr(const weft_ip_t *ip, uint16_t port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (ip->v4) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		memcpy(&s4->sin_addr, ip->a6 + 12, 4);
		return sizeof(*s4);
	}
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
	s6->sin6_family = AF_INET6;
	s6->sin6_port = htons(port);
	memcpy(&s6->sin6_addr, ip->a6, 16);
	return sizeof(*s6);
}

bool weft_ip_eq(const weft_ip_t *a, const weft_ip_t *b)
{
	return a->v4 == b->v4 && !memcmp(a->a6, b->a6, 16);
}

/* inet_ntop's text for ip into out[0..outlen) (NUL-terminated). Returns
 * its length, or -1 when it does not fit (out untouched). IPv4 is done
 * here: glibc formats it with sprintf, and the L7 data path formats an
 * endpoint's address per request. */
static ssize_t ip_text(const weft_ip_t *ip, char *out, size_t outlen)
{
	char t[INET6_ADDRSTRLEN];
	size_t n = 0;

	if (!ip->v4) {
		if (!inet_ntop(AF_INET6, ip->a6, t, sizeof(t)))
			return -1;
		n = strlen(t);
	} else {
		for (int i = 12; i < 16; i++) {
			if (i > 12)
				t[n++] = '.';
			n += weft_u64_dec(t + n, ip->a6[i]);
		}
	}
	if (n >= outlen)
		return -1;
	memcpy(out, t, n);
	out[n] = '\0';
	return (ssize_t)n;
}

char *weft_ip_format(const weft_ip_t *ip, char *out, size_t outlen)
{
	if (!outlen)
		return out;
	if (ip_text(ip, out, outlen) < 0)
		out[0] = '\0';
	return out;
}

size_t weft_ip_port_format(const weft_ip_t *ip, uint16_t port, char *out, size_t outlen)
{
	char t[INET6_ADDRSTRLEN + 8];
	ssize_t k;
	size_t n;

	if (!outlen)
		return 0;
	k = ip_text(ip, t, sizeof(t));
	n = k < 0 ? 0 : (size_t)k;
	t[n++] = ':';
	n += weft_u64_dec(t + n, port);
	if (n >= outlen)
		n = outlen - 1;   /* snprintf's truncation */
	memcpy(out, t, n);
	out[n] = '\0';
	return n;
}

/* Total order on addresses: v4 before v6, then bytes. */
static int ip_cmp(const weft_ip_t *a, const weft_ip_t *b)
{
	if (a->v4 != b->v4)
		return a->v4 ? -1 : 1;
	return memcmp(a->a6, b->a6, 16);
}

/* ---- indexes ---- */

typedef struct ip_ent {
	weft_ip_t ip;
	const void *obj;
} ip_ent_t;

typedef struct vip_ent {
	weft_ip_t ip;
	uint16_t port;
	const weft_av_service_t *svc;
	const weft_av_port_t *sp;
} vip_ent_t;

typedef struct av_idx {
	size_t nwl_ip, nvip, nep_ip;
	ip_ent_t *wl_ip;       /* workload addresses -> workload */
	vip_ent_t *vip;        /* (clusterIP, port) -> service, port */
	ip_ent_t *ep_ip;       /* endpoint addresses -> endpoint */
} av_idx_t;

/* qsort comparators: by key, then by the object's address. Indexes are
 * built after the arrays are sorted by uid, so among objects sharing an
 * address the one with the smallest uid comes first and wins. */
static int ip_ent_cmp(const void *a, const void *b)
{
	const ip_ent_t *x = a, *y = b;
	int c = ip_cmp(&x->ip, &y->ip);

	if (c)
		return c;
	return x->obj < y->obj ? -1 : x->obj > y->obj;
}

static int vip_ent_cmp(const void *a, const void *b)
{
	const vip_ent_t *x = a, *y = b;
	int c = ip_cmp(&x->ip, &y->ip);

	if (c)
		return c;
	if (x->port != y->port)
		return x->port < y->port ? -1 : 1;
	return x->svc < y->svc ? -1 : x->svc > y->svc;
}

/* The first entry whose ip equals ip, or NULL. */
static const ip_ent_t *ip_find(const ip_ent_t *v, size_t n, const weft_ip_t *ip)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (ip_cmp(&v[mid].ip, ip) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && !ip_cmp(&v[lo].ip, ip) ? &v[lo] : NULL;
}

/* ---- building ---- */

typedef struct build {
	weft_av_t *v;
	weft_arena_t *a;
	char *err;
	size_t errlen;
	bool reported;
	bool oom;
	size_t nskipped;
} build_t;

static void report(build_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void report(build_t *b, const char *fmt, ...)
{
	va_list ap;

	b->nskipped++;
	if (b->reported || !b->err || !b->errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(b->err, b->errlen, fmt, ap);
	va_end(ap);
	b->reported = true;
}

static const char *dup(build_t *b, const char *s)
{
	char *r = weft_arena_cstr(b->a, s ? s : "");

	if (!r) {
		b->oom = true;
		return "";
	}
	return r;
}

static void *alloc(build_t *b, size_t n, size_t size)
{
	void *p;

	if (n == 0)
		return NULL;
	p = weft_arena_calloc(b->a, n, size);
	if (!p)
		b->oom = true;
	return p;
}

static const char *nz(const char *s)
{
	return s ? s : "";
}

/* Parses an optional address: "" leaves ip zeroed. Returns 0 or -1. */
static int parse_opt_ip(const char *s, weft_ip_t *ip)
{
	memset(ip, 0, sizeof(*ip));
	if (!s || !*s)
		return 0;
	return weft_ip_parse(s, strlen(s), ip) == WEFT_OK ? 0 : -1;
}

static void copy_locality(build_t *b, const Weft__Agent__V1__Locality *l, weft_av_locality_t *out)
{
	out->region = dup(b, l ? l->region : "");
	out->zone = dup(b, l ? l->zone : "");
	out->subzone = dup(b, l ? l->subzone : "");
}

/* qsort that accepts an empty (NULL) array. */
static void sort(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
	if (n > 1)
		qsort(base, n, size, cmp);
}

static int kv_cmp(const void *a, const void *b)
{
	return strcmp(((const weft_av_kv_t *)a)->key, ((const weft_av_kv_t *)b)->key);
}

static const char *spiffe_of(build_t *b, const char *td, const char *ns, const char *sa)
{
	char *s = weft_arena_printf(b->a, "spiffe://%s/ns/%s/sa/%s", td, ns, *sa ? sa : "default");

	if (!s) {
		b->oom = true;
		return "";
	}
	return s;
}

/* Copies one workload into w. Returns 0, or -1 when it is invalid (reported). */
static int copy_workload(build_t *b, const Weft__Agent__V1__Workload *src, weft_av_workload_t *w)
{
	const char *ns = nz(src->namespace_), *name = nz(src->name);

	if (!*ns || !*name) {
		report(b, "workload %s/%s: missing name or namespace", ns, name);
		return -1;
	}
	if (parse_opt_ip(src->node_address, &w->node_addr) < 0) {
		report(b, "workload %s/%s: bad node address \"%s\"", ns, name, src->node_address);
		return -1;
	}
	w->addrs = alloc(b, src->n_addresses, sizeof(*w->addrs));
	for (size_t i = 0; i < src->n_addresses && w->addrs; i++) {
		const char *s = nz(src->addresses[i]);
		if (weft_ip_parse(s, strlen(s), &w->addrs[i]) != WEFT_OK) {
			report(b, "workload %s/%s: bad address \"%s\"", ns, name, s);
			return -1;
		}
	}
	w->naddrs = w->addrs ? src->n_addresses : 0;
	w->uid = weft_arena_printf(b->a, "%s/%s", ns, name);
	if (!w->uid) {
		b->oom = true;
		return -1;
	}
	w->name = dup(b, name);
	w->ns = dup(b, ns);
	w->sa = dup(b, *nz(src->service_account) ? src->service_account : "default");
	w->node = dup(b, src->node);
	w->netns = dup(b, src->netns);
	w->cgroup = dup(b, src->cgroup);
	w->labels = alloc(b, src->n_labels, sizeof(*w->labels));
	w->nlabels = w->labels ? src->n_labels : 0;
	for (size_t i = 0; i < w->nlabels; i++) {
		w->labels[i].key = dup(b, src->labels[i] ? src->labels[i]->key : "");
		w->labels[i].value = dup(b, src->labels[i] ? src->labels[i]->value : "");
	}
	sort(w->labels, w->nlabels, sizeof(*w->labels), kv_cmp);
	copy_locality(b, src->locality, &w->locality);
	w->mtls = src->mtls_mode == WEFT__AGENT__V1__MTLS_MODE__STRICT ? WEFT_AV_MTLS_STRICT
								      : WEFT_AV_MTLS_PERMISSIVE;
	return 0;
}

static weft_av_proto_t proto_of(const char *s)
{
	if (!strcasecmp(s, "http"))
		return WEFT_AV_HTTP;
	if (!strcasecmp(s, "http2") || !strcasecmp(s, "h2c"))
		return WEFT_AV_HTTP2;
	if (!strcasecmp(s, "grpc"))
		return WEFT_AV_GRPC;
	return WEFT_AV_TCP;
}

static const char *label_of(build_t *b, Weft__Agent__V1__KeyValue *const *kv, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (kv[i] && kv[i]->key && !strcmp(kv[i]->key, key))
			return dup(b, kv[i]->value);
	return "";
}

/* ---- L7: route rules and the DestinationPolicy ---- */

/* the wire enums carry the model's values (weft/model-t.h) */
_Static_assert(WEFT__AGENT__V1__MATCH_TYPE__MATCH_REGEX == (int)WEFT_MATCH_REGEX &&
	       WEFT__AGENT__V1__FILTER_TYPE__FILTER_REDIRECT == (int)WEFT_FILTER_REDIRECT &&
	       WEFT__AGENT__V1__PATH_MOD__PATH_MOD_PREFIX == (int)WEFT_PATH_MOD_PREFIX &&
	       WEFT__AGENT__V1__LB_TYPE__LB_MAGLEV == (int)WEFT_LB_MAGLEV, "agent.proto enums");

/* A view-lived (ptr, len) copy of s (NULL: ""). */
static weft_str_t vstr(build_t *b, const char *s)
{
	weft_str_t r = weft_arena_strdup(b->a, weft_str_c(nz(s)));

	if (!r.p) {
		b->oom = true;
		return weft_str_c("");
	}
	return r;
}

static uint32_t ppm_clamp(uint32_t v)
{
	return v > WEFT_PPM_ALL ? WEFT_PPM_ALL : v;
}

/* Converts a wire MatchType into *out. Returns 0, or -1 when unknown. */
static int match_type(int v, weft_match_type_t *out)
{
	if (v < (int)WEFT_MATCH_NONE || v > (int)WEFT_MATCH_REGEX)
		return -1;
	*out = (weft_match_type_t)v;
	return 0;
}

/* Copies header/query matches (types EXACT or REGEX). Returns 0 or -1. */
static int copy_smatches(build_t *b, Weft__Agent__V1__StringMatch *const *src, size_t n,
			 weft_str_match_t **out, size_t *nout)
{
	*out = alloc(b, n, sizeof(**out));
	*nout = 0;
	for (size_t i = 0; i < n && *out; i++) {
		weft_str_match_t *m = &(*out)[*nout];
		if (!src[i])
			continue;
		if (match_type(src[i]->type, &m->type) < 0 || m->type == WEFT_MATCH_NONE ||
		    m->type == WEFT_MATCH_PREFIX || !*nz(src[i]->name))
			return -1;
		m->name = vstr(b, src[i]->name);
		m->value = vstr(b, src[i]->value);
		(*nout)++;
	}
	return 0;
}

static void copy_kvs(build_t *b, Weft__Agent__V1__KeyValue *const *src, size_t n, weft_kv_t **out, size_t *nout)
{
	*out = alloc(b, n, sizeof(**out));
	*nout = 0;
	for (size_t i = 0; i < n && *out; i++) {
		if (!src[i])
			continue;
		(*out)[*nout].key = vstr(b, src[i]->key);
		(*out)[(*nout)++].value = vstr(b, src[i]->value);
	}
}

static int path_mod(int v, weft_path_mod_t *out)
{
	if (v < (int)WEFT_PATH_MOD_NONE || v > (int)WEFT_PATH_MOD_PREFIX)
		return -1;
	*out = (weft_path_mod_t)v;
	return 0;
}

/* Copies one filter. Returns 0, or -1 when it cannot be read. */
static int copy_filter(build_t *b, const Weft__Agent__V1__Filter *src, weft_filter_t *f)
{
	int t = (int)src->type;

	if (t < (int)WEFT_FILTER_REQUEST_HEADER || t > (int)WEFT_FILTER_REDIRECT)
		return -1;
	f->type = (weft_filter_type_t)t;
	switch (f->type) {
	case WEFT_FILTER_REQUEST_HEADER:
	case WEFT_FILTER_RESPONSE_HEADER:
		if (src->headers) {
			const Weft__Agent__V1__HeaderMod *h = src->headers;
			copy_kvs(b, h->set, h->n_set, &f->headers.set, &f->headers.nset);
			copy_kvs(b, h->add, h->n_add, &f->headers.add, &f->headers.nadd);
			f->headers.remove = alloc(b, h->n_remove, sizeof(*f->headers.remove));
			for (size_t i = 0; f->headers.remove && i < h->n_remove; i++)
				f->headers.remove[f->headers.nremove++] = vstr(b, h->remove[i]);
		}
		return 0;
	case WEFT_FILTER_MIRROR:
		if (!*nz(src->mirror_name) || src->mirror_port == 0 || src->mirror_port > 65535)
			return -1;
		f->mirror.backend.name = vstr(b, src->mirror_name);
		f->mirror.backend.ns = vstr(b, src->mirror_namespace);
		f->mirror.backend.port = (uint16_t)src->mirror_port;
		f->mirror.backend.weight = 1;
		f->mirror.percent_ppm = ppm_clamp(src->mirror_percent_ppm);
		return 0;
	case WEFT_FILTER_URL_REWRITE:
		f->rewrite.hostname = vstr(b, src->rewrite_hostname);
		f->rewrite.path = vstr(b, src->rewrite_path);
		return path_mod(src->rewrite_path_mod, &f->rewrite.path_mod);
	case WEFT_FILTER_REDIRECT:
		if (src->redirect_port > 65535)
			return -1;
		f->redirect.scheme = vstr(b, src->redirect_scheme);
		f->redirect.hostname = vstr(b, src->redirect_hostname);
		f->redirect.path = vstr(b, src->redirect_path);
		f->redirect.port = (uint16_t)src->redirect_port;
		switch (src->redirect_status) {
		case 302: case 303: case 307: case 308:
			f->redirect.status = (uint16_t)src->redirect_status;
			break;
		default:
			f->redirect.status = 301;
		}
		return path_mod(src->redirect_path_mod, &f->redirect.path_mod);
	}
	return -1;
}

/* Copies one route rule. Returns 0, or -1 when some part of it cannot be
 * read (the caller drops the rule: a half-read rule could route wrongly). */
static int copy_rule(build_t *b, const Weft__Agent__V1__RouteRule *src, weft_av_route_rule_t *r)
{
	if (!*nz(src->route) || (src->kind != WEFT__AGENT__V1__ROUTE_KIND__ROUTE_HTTP &&
				 src->kind != WEFT__AGENT__V1__ROUTE_KIND__ROUTE_GRPC))
		return -1;
	r->route = dup(b, src->route);
	r->kind = src->kind == WEFT__AGENT__V1__ROUTE_KIND__ROUTE_GRPC ? WEFT_ROUTE_GRPC : WEFT_ROUTE_HTTP;
	r->rule_index = src->rule_index;
	r->route_order = src->route_order;
	r->hostnames = alloc(b, src->n_hostnames, sizeof(*r->hostnames));
	for (size_t i = 0; r->hostnames && i < src->n_hostnames; i++)
		r->hostnames[r->nhostnames++] = dup(b, src->hostnames[i]);
	r->matches = alloc(b, src->n_matches, sizeof(*r->matches));
	for (size_t i = 0; r->matches && i < src->n_matches; i++) {
		const Weft__Agent__V1__RouteMatch *m = src->matches[i];
		weft_route_match_t *d = &r->matches[r->nmatches];
		if (!m)
			continue;
		if (match_type(m->path_type, &d->path_type) < 0 || match_type(m->grpc_type, &d->grpc_type) < 0 ||
		    d->grpc_type == WEFT_MATCH_PREFIX ||
		    copy_smatches(b, m->headers, m->n_headers, &d->headers, &d->nheaders) < 0 ||
		    copy_smatches(b, m->query, m->n_query, &d->query, &d->nquery) < 0)
			return -1;
		d->path = vstr(b, m->path);
		d->method = vstr(b, m->method);
		d->grpc_service = vstr(b, m->grpc_service);
		d->grpc_method = vstr(b, m->grpc_method);
		r->nmatches++;
	}
	r->filters = alloc(b, src->n_filters, sizeof(*r->filters));
	for (size_t i = 0; r->filters && i < src->n_filters; i++) {
		if (!src->filters[i])
			continue;
		if (copy_filter(b, src->filters[i], &r->filters[r->nfilters]) < 0)
			return -1;
		r->nfilters++;
	}
	r->backends = alloc(b, src->n_backends, sizeof(*r->backends));
	for (size_t i = 0; r->backends && i < src->n_backends; i++) {
		const Weft__Agent__V1__BackendRef *be = src->backends[i];
		if (!be)
			continue;
		if (!strchr(nz(be->service), '/') || be->port == 0 || be->port > 65535)
			return -1;
		r->backends[r->nbackends].svc = dup(b, be->service);
		r->backends[r->nbackends].port = (uint16_t)be->port;
		r->backends[r->nbackends++].weight = be->weight;
	}
	r->timeout_request_ms = src->timeout_request_ms;
	r->timeout_backend_ms = src->timeout_backend_ms;
	return 0;
}

/* Route order, then route (two routes of one rank: never from control),
 * then rule order. */
static int rule_cmp(const void *a, const void *b)
{
	const weft_av_route_rule_t *x = a, *y = b;
	int c;

	if (x->route_order != y->route_order)
		return x->route_order < y->route_order ? -1 : 1;
	if ((c = strcmp(x->route, y->route)))
		return c;
	return x->rule_index < y->rule_index ? -1 : x->rule_index > y->rule_index;
}

/* Fills the L7 part of view port d from wire port p of service uid. */
static void copy_port_l7(build_t *b, const char *uid, const Weft__Agent__V1__ServicePort *p, weft_av_port_t *d)
{
	d->l7 = p->l7;
	d->rules = alloc(b, p->n_rules, sizeof(*d->rules));
	for (size_t i = 0; d->rules && i < p->n_rules; i++) {
		weft_av_route_rule_t *r = &d->rules[d->nrules];
		if (!p->rules[i])
			continue;
		if (copy_rule(b, p->rules[i], r) < 0) {
			report(b, "service %s: port %u: route %s rule %u: unreadable (dropped)", uid, d->port,
			       nz(p->rules[i]->route), p->rules[i]->rule_index);
			memset(r, 0, sizeof(*r));
			continue;
		}
		d->nrules++;
	}
	sort(d->rules, d->nrules, sizeof(*d->rules), rule_cmp);
}

/* The DestinationPolicy of a service, in the view's arena (NULL: none). */
static const weft_dest_policy_t *copy_policy(build_t *b, const char *uid, const Weft__Agent__V1__DestinationPolicy *src)
{
	weft_dest_policy_t *p;

	if (!src)
		return NULL;
	p = alloc(b, 1, sizeof(*p));
	if (!p)
		return NULL;
	p->lb.choice_count = 2;
	p->lb.ring_min = 1024;
	p->lb.ring_max = 8388608;
	if (src->lb) {
		const Weft__Agent__V1__LoadBalancer *l = src->lb;
		if ((int)l->type >= (int)WEFT_LB_ROUND_ROBIN && (int)l->type <= (int)WEFT_LB_MAGLEV) {
			p->lb.type = (weft_lb_type_t)l->type;
			p->lb.type_set = l->type_set;
		} else {
			report(b, "service %s: unknown load balancer type %d (default used)", uid, (int)l->type);
		}
		if (l->choice_count >= 2)
			p->lb.choice_count = l->choice_count > 100 ? 100 : l->choice_count;
		if (l->ring_max >= 1 && l->ring_max <= 8388608)
			p->lb.ring_max = l->ring_max;
		if (l->ring_min >= 1)
			p->lb.ring_min = l->ring_min;
		if (p->lb.ring_min > p->lb.ring_max)
			p->lb.ring_min = p->lb.ring_max;
		p->lb.hash_header = vstr(b, l->hash_header);
		p->lb.hash_source_ip = l->hash_source_ip;
		p->lb.hash_cookie = vstr(b, l->hash_cookie);
	}
	if (src->limits) {
		p->limits.set = true;
		p->limits.max_connections = src->limits->max_connections;
		p->limits.max_pending_requests = src->limits->max_pending_requests;
		p->limits.max_requests = src->limits->max_requests;
		p->limits.max_retries = src->limits->max_retries;
	}
	if (src->outlier) {
		const Weft__Agent__V1__OutlierDetection *o = src->outlier;
		p->outlier.set = true;
		p->outlier.consecutive_5xx = o->consecutive_5xx;
		p->outlier.consecutive_gateway_errors = o->consecutive_gateway_errors;
		p->outlier.interval_ms = o->interval_ms ? o->interval_ms : 10000;
		p->outlier.base_ejection_ms = o->base_ejection_ms;
		p->outlier.max_ejection_percent = o->max_ejection_percent > 100 ? 100 : o->max_ejection_percent;
		p->outlier.sr_stdev_factor_milli = o->sr_stdev_factor_milli;
		p->outlier.sr_min_hosts = o->sr_min_hosts;
		p->outlier.sr_request_volume = o->sr_request_volume;
	}
	if (src->retry) {
		const Weft__Agent__V1__Retry *r = src->retry;
		p->retry.set = true;
		p->retry.attempts = r->attempts;
		p->retry.per_try_timeout_ms = r->per_try_timeout_ms;
		p->retry.retry_on = r->retry_on;
		p->retry.retriable_status = alloc(b, r->n_retriable_status, sizeof(uint32_t));
		for (size_t i = 0; p->retry.retriable_status && i < r->n_retriable_status; i++)
			p->retry.retriable_status[p->retry.nstatus++] = r->retriable_status[i];
		p->retry.backoff_base_ms = r->backoff_base_ms ? r->backoff_base_ms : 25;
		p->retry.backoff_max_ms = r->backoff_max_ms >= p->retry.backoff_base_ms ? r->backoff_max_ms
											   : 10 * p->retry.backoff_base_ms;
		if (r->budget) {
			p->retry.budget_set = true;
			p->retry.budget_percent_ppm = ppm_clamp(r->budget->percent_ppm);
			p->retry.budget_min_concurrency = r->budget->min_concurrency;
		}
	}
	if (src->fault) {
		const Weft__Agent__V1__Fault *f = src->fault;
		p->fault.set = true;
		p->fault.delay_ppm = ppm_clamp(f->delay_ppm);
		p->fault.delay_ms = f->delay_ms;
		p->fault.abort_ppm = ppm_clamp(f->abort_ppm);
		p->fault.abort_http_status = f->abort_http_status;
		p->fault.abort_grpc_status = f->abort_grpc_status;
		p->fault.abort_grpc = f->abort_grpc;
		if ((p->fault.abort_grpc && (f->abort_grpc_status < 1 || f->abort_grpc_status > 16)) ||
		    (!p->fault.abort_grpc && p->fault.abort_ppm &&
		     (f->abort_http_status < 200 || f->abort_http_status > 599)) ||
		    copy_smatches(b, f->headers, f->n_headers, &p->fault.headers, &p->fault.nheaders) < 0) {
			/* never inject what we cannot read */
			report(b, "service %s: unreadable faultInjection (ignored)", uid);
			memset(&p->fault, 0, sizeof(p->fault));
		}
	}
	if (src->rate_limit) {
		const Weft__Agent__V1__RateLimit *rl = src->rate_limit;
		p->rate_limit.set = true;
		p->rate_limit.max_tokens = rl->max_tokens ? rl->max_tokens : 1;
		p->rate_limit.tokens_per_fill = rl->tokens_per_fill ? rl->tokens_per_fill : 1;
		p->rate_limit.fill_interval_ms = rl->fill_interval_ms ? rl->fill_interval_ms : 1;
		p->rate_limit.per_route = rl->per_route;
	}
	if (src->health) {
		const Weft__Agent__V1__HealthCheck *h = src->health;
		p->health.set = true;
		p->health.grpc = h->grpc;
		p->health.path = vstr(b, *nz(h->path) || h->grpc ? h->path : "/healthz");
		p->health.interval_ms = h->interval_ms ? h->interval_ms : 5000;
		p->health.timeout_ms = h->timeout_ms ? h->timeout_ms : 1000;
		p->health.unhealthy_threshold = h->unhealthy_threshold ? h->unhealthy_threshold : 2;
		p->health.healthy_threshold = h->healthy_threshold ? h->healthy_threshold : 1;
	}
	return p;
}

/* Copies one service into s; bad endpoints and ports are skipped.
 * Returns 0, or -1 when the service itself is invalid (reported). */
static int copy_service(build_t *b, const Weft__Agent__V1__Service *src, weft_av_service_t *s)
{
	const char *ns = nz(src->namespace_), *name = nz(src->name);
	size_t n;

	if (!*ns || !*name) {
		report(b, "service %s/%s: missing name or namespace", ns, name);
		return -1;
	}
	if (src->cluster_ip && *src->cluster_ip) {
		if (weft_ip_parse(src->cluster_ip, strlen(src->cluster_ip), &s->vip) != WEFT_OK) {
			report(b, "service %s/%s: bad clusterIP \"%s\"", ns, name, src->cluster_ip);
			return -1;
		}
		s->has_vip = true;
	}
	s->uid = weft_arena_printf(b->a, "%s/%s", ns, name);
	if (!s->uid) {
		b->oom = true;
		return -1;
	}
	s->name = dup(b, name);
	s->ns = dup(b, ns);
	if (src->hostname && *src->hostname)
		s->hostname = dup(b, src->hostname);
	else if (!(s->hostname = weft_arena_printf(b->a, "%s.%s.svc.cluster.local", name, ns)))
		b->oom = true, s->hostname = "";
	s->ports = alloc(b, src->n_ports, sizeof(*s->ports));
	n = 0;
	for (size_t i = 0; i < src->n_ports && s->ports; i++) {
		const Weft__Agent__V1__ServicePort *p = src->ports[i];
		if (!p || p->port == 0 || p->port > 65535 || p->target_port > 65535) {
			report(b, "service %s/%s: bad port %u", ns, name, p ? p->port : 0);
			continue;
		}
		s->ports[n].port = (uint16_t)p->port;
		s->ports[n].target_port = (uint16_t)(p->target_port ? p->target_port : p->port);
		s->ports[n].proto = proto_of(nz(p->app_protocol));
		s->ports[n].name = dup(b, p->name);
		copy_port_l7(b, s->uid, p, &s->ports[n]);
		n++;
	}
	s->nports = n;
	s->policy = copy_policy(b, s->uid, src->policy);
	s->endpoints = alloc(b, src->n_endpoints, sizeof(*s->endpoints));
	n = 0;
	for (size_t i = 0; i < src->n_endpoints && s->endpoints; i++) {
		const Weft__Agent__V1__Endpoint *e = src->endpoints[i];
		weft_av_endpoint_t *d = &s->endpoints[n];
		const char *ens, *esa, *slash;
		if (!e)
			continue;
		if (weft_ip_parse(nz(e->address), strlen(nz(e->address)), &d->addr) != WEFT_OK ||
		    parse_opt_ip(e->node_address, &d->node_addr) < 0) {
			report(b, "service %s/%s: endpoint %s: bad address \"%s\" or node address \"%s\"",
			       ns, name, nz(e->workload), nz(e->address), nz(e->node_address));
			memset(d, 0, sizeof(*d));
			continue;
		}
		d->addrs = alloc(b, e->n_addresses + 1, sizeof(*d->addrs));
		if (d->addrs) {
			d->addrs[d->naddrs++] = d->addr;
			for (size_t k = 0; k < e->n_addresses; k++) {
				weft_ip_t ip;
				if (weft_ip_parse(nz(e->addresses[k]), strlen(nz(e->addresses[k])), &ip) != WEFT_OK) {
					report(b, "service %s/%s: endpoint %s: bad address \"%s\" (skipped)",
					       ns, name, nz(e->workload), nz(e->addresses[k]));
					continue;
				}
				if (!weft_ip_eq(&ip, &d->addr))
					d->addrs[d->naddrs++] = ip;
			}
		}
		d->workload = dup(b, e->workload);
		slash = strchr(d->workload, '/');
		ens = *nz(e->namespace_) ? e->namespace_ : "";
		d->ns = *ens ? dup(b, ens)
			     : (slash ? weft_arena_printf(b->a, "%.*s", (int)(slash - d->workload), d->workload)
				      : "");
		if (!d->ns)
			b->oom = true, d->ns = "";
		d->name = dup(b, slash ? slash + 1 : d->workload);
		esa = *nz(e->service_account) ? e->service_account : "default";
		d->sa = dup(b, esa);
		d->spiffe = spiffe_of(b, b->v->trust_domain, d->ns, d->sa);
		d->node = dup(b, e->node);
		copy_locality(b, e->locality, &d->locality);
		d->weight = e->weight ? e->weight : 1;
		d->app = label_of(b, e->labels, e->n_labels, "app");
		d->version = label_of(b, e->labels, e->n_labels, "version");
		n++;
	}
	s->nendpoints = n;
	return 0;
}

/* Parses "ip" or "ip/bits". Returns 0 or -1. */
static int parse_cidr(const char *s, weft_av_cidr_t *c)
{
	const char *slash = strchr(s, '/');
	size_t il = slash ? (size_t)(slash - s) : strlen(s);
	unsigned long long bits;
	unsigned max;

	if (weft_ip_parse(s, il, &c->ip) != WEFT_OK)
		return -1;
	max = c->ip.v4 ? 32 : 128;
	if (!slash) {
		c->bits = (uint8_t)max;
		return 0;
	}
	if (weft_str_to_u64(weft_str_c(slash + 1), max, &bits) < 0)
		return -1;
	c->bits = (uint8_t)bits;
	return 0;
}

static int copy_strs(build_t *b, char *const *src, size_t n, weft_av_strs_t *out)
{
	out->v = alloc(b, n, sizeof(*out->v));
	out->n = out->v ? n : 0;
	for (size_t i = 0; i < out->n; i++)
		out->v[i] = dup(b, src[i]);
	return 0;
}

/* Returns 0, or -1 when a CIDR is bad (the caller makes the rule fail closed). */
static int copy_cidrs(build_t *b, char *const *src, size_t n, weft_av_cidr_t **out, size_t *nout)
{
	int rc = 0;

	*out = alloc(b, n, sizeof(**out));
	*nout = 0;
	for (size_t i = 0; i < n && *out; i++) {
		if (parse_cidr(nz(src[i]), &(*out)[*nout]) < 0) {
			rc = -1;
			continue;
		}
		(*nout)++;
	}
	return rc;
}

static void copy_authz(build_t *b, const Weft__Agent__V1__Authorization *src, weft_av_authz_t *az)
{
	const char *ns = nz(src->namespace_), *name = nz(src->name);
	char *why;

	why = weft_arena_printf(b->a, "denied by %s/%s", ns, name);
	if (!why) {
		b->oom = true;
		return;
	}
	az->uid = why + strlen("denied by ");
	az->why_deny = why;
	az->why_allow = weft_arena_printf(b->a, "allowed by %s/%s", ns, name);
	az->why_audit = weft_arena_printf(b->a, "audited by %s/%s", ns, name);
	if (!az->why_allow || !az->why_audit)
		b->oom = true;
	az->name = dup(b, name);
	az->ns = dup(b, ns);
	az->action = src->action == WEFT__AGENT__V1__ACTION__DENY    ? WEFT_AUTHZ_DENY
		     : src->action == WEFT__AGENT__V1__ACTION__AUDIT ? WEFT_AUTHZ_AUDIT
								     : WEFT_AUTHZ_ALLOW;
	az->rules = alloc(b, src->n_rules, sizeof(*az->rules));
	az->nrules = az->rules ? src->n_rules : 0;
	for (size_t r = 0; r < az->nrules; r++) {
		const Weft__Agent__V1__Rule *sr = src->rules[r];
		weft_av_rule_t *d = &az->rules[r];
		bool bad = false;
		if (!sr)
			continue;
		d->has_l7_when = sr->has_l7_when;
		d->from = alloc(b, sr->n_from, sizeof(*d->from));
		d->nfrom = d->from ? sr->n_from : 0;
		for (size_t i = 0; i < d->nfrom; i++) {
			const Weft__Agent__V1__Source *s = sr->from[i];
			weft_av_source_t *o = &d->from[i];
			if (!s)
				continue;
			copy_strs(b, s->principals, s->n_principals, &o->principals);
			copy_strs(b, s->not_principals, s->n_not_principals, &o->not_principals);
			copy_strs(b, s->namespaces, s->n_namespaces, &o->namespaces);
			copy_strs(b, s->not_namespaces, s->n_not_namespaces, &o->not_namespaces);
			if (copy_cidrs(b, s->ip_blocks, s->n_ip_blocks, &o->ip, &o->nip) < 0 ||
			    copy_cidrs(b, s->not_ip_blocks, s->n_not_ip_blocks, &o->not_ip, &o->nnot_ip) < 0)
				bad = true;
		}
		d->to = alloc(b, sr->n_to, sizeof(*d->to));
		d->nto = d->to ? sr->n_to : 0;
		for (size_t i = 0; i < d->nto; i++) {
			const Weft__Agent__V1__Operation *op = sr->to[i];
			weft_av_operation_t *o = &d->to[i];
			size_t k;
			if (!op)
				continue;
			o->has_l7 = op->has_l7;
			copy_strs(b, op->hosts, op->n_hosts, &o->hosts);
			copy_strs(b, op->not_hosts, op->n_not_hosts, &o->not_hosts);
			copy_strs(b, op->methods, op->n_methods, &o->methods);
			copy_strs(b, op->not_methods, op->n_not_methods, &o->not_methods);
			copy_strs(b, op->paths, op->n_paths, &o->paths);
			copy_strs(b, op->not_paths, op->n_not_paths, &o->not_paths);
			o->ports = alloc(b, op->n_ports, sizeof(*o->ports));
			for (k = 0; o->ports && k < op->n_ports; k++) {
				if (op->ports[k] == 0 || op->ports[k] > 65535)
					bad = true;
				else
					o->ports[o->nports++] = (uint16_t)op->ports[k];
			}
			o->not_ports = alloc(b, op->n_not_ports, sizeof(*o->not_ports));
			for (k = 0; o->not_ports && k < op->n_not_ports; k++) {
				if (op->not_ports[k] == 0 || op->not_ports[k] > 65535)
					bad = true;
				else
					o->not_ports[o->nnot_ports++] = (uint16_t)op->not_ports[k];
			}
		}
		d->when = alloc(b, sr->n_when, sizeof(*d->when));
		for (size_t i = 0; d->when && i < sr->n_when; i++) {
			const Weft__Agent__V1__When *w = sr->when[i];
			weft_av_when_t *o = &d->when[d->nwhen];
			if (!w)
				continue;
			o->key = dup(b, w->key);
			copy_strs(b, w->values, w->n_values, &o->values);
			copy_strs(b, w->not_values, w->n_not_values, &o->not_values);
			d->nwhen++;
		}
		/* conditions the control sent without the flag still fail closed at L4 */
		if (d->nwhen)
			d->has_l7_when = true;
		if (bad) {
			/* never widen access: a rule we cannot read fails closed */
			d->invalid = true;
			report(b, "authorization %s/%s: rule %zu: bad CIDR or port (rule fails closed)",
			       ns, name, r);
		}
	}
}

static int wl_cmp(const void *a, const void *b)
{
	return strcmp(((const weft_av_workload_t *)a)->uid, ((const weft_av_workload_t *)b)->uid);
}

static int svc_cmp(const void *a, const void *b)
{
	return strcmp(((const weft_av_service_t *)a)->uid, ((const weft_av_service_t *)b)->uid);
}

static int az_cmp(const void *a, const void *b)
{
	return strcmp(((const weft_av_authz_t *)a)->uid, ((const weft_av_authz_t *)b)->uid);
}

/* Binary search over an array of structs sorted by their first-level
 * `uid` member at offset off. */
static const void *uid_find(const void *base, size_t n, size_t size, size_t off, const char *uid)
{
	size_t lo = 0, hi = n;

	if (!uid)
		return NULL;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const char *k = *(const char *const *)((const char *)base + mid * size + off);
		int c = strcmp(k, uid);
		if (!c)
			return (const char *)base + mid * size;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* Drops adjacent duplicates (same uid) from a sorted array, keeping the
 * first. Returns the new count. */
static size_t dedup(build_t *b, void *base, size_t n, size_t size, size_t off, const char *kind)
{
	size_t w = 0;

	for (size_t i = 0; i < n; i++) {
		char *cur = (char *)base + i * size;
		if (w > 0) {
			const char *prev = *(const char **)((char *)base + (w - 1) * size + off);
			if (!strcmp(prev, *(const char **)(cur + off))) {
				report(b, "%s %s: duplicate (first kept)", kind, prev);
				continue;
			}
		}
		if (w != i)
			memcpy((char *)base + w * size, cur, size);
		w++;
	}
	return w;
}

static int build_indexes(build_t *b)
{
	weft_av_t *v = b->v;
	av_idx_t *x = alloc(b, 1, sizeof(*x));
	size_t n;

	if (!x)
		return -1;
	n = 0;
	for (size_t i = 0; i < v->nworkloads; i++)
		n += v->workloads[i].naddrs;
	x->wl_ip = alloc(b, n, sizeof(*x->wl_ip));
	for (size_t i = 0; x->wl_ip && i < v->nworkloads; i++)
		for (size_t k = 0; k < v->workloads[i].naddrs; k++)
			x->wl_ip[x->nwl_ip++] = (ip_ent_t){ v->workloads[i].addrs[k], &v->workloads[i] };
	sort(x->wl_ip, x->nwl_ip, sizeof(*x->wl_ip), ip_ent_cmp);

	n = 0;
	for (size_t i = 0; i < v->nservices; i++)
		if (v->services[i].has_vip)
			n += v->services[i].nports;
	x->vip = alloc(b, n, sizeof(*x->vip));
	for (size_t i = 0; x->vip && i < v->nservices; i++) {
		const weft_av_service_t *s = &v->services[i];
		for (size_t k = 0; s->has_vip && k < s->nports; k++)
			x->vip[x->nvip++] = (vip_ent_t){ s->vip, s->ports[k].port, s, &s->ports[k] };
	}
	sort(x->vip, x->nvip, sizeof(*x->vip), vip_ent_cmp);

	n = 0;
	for (size_t i = 0; i < v->nservices; i++)
		for (size_t k = 0; k < v->services[i].nendpoints; k++)
			n += v->services[i].endpoints[k].naddrs;
	x->ep_ip = alloc(b, n, sizeof(*x->ep_ip));
	for (size_t i = 0; x->ep_ip && i < v->nservices; i++)
		for (size_t k = 0; k < v->services[i].nendpoints; k++) {
			const weft_av_endpoint_t *e = &v->services[i].endpoints[k];
			for (size_t j = 0; j < e->naddrs; j++)   /* every address leads to the endpoint */
				x->ep_ip[x->nep_ip++] = (ip_ent_t){ e->addrs[j], e };
		}
	sort(x->ep_ip, x->nep_ip, sizeof(*x->ep_ip), ip_ent_cmp);
	v->idx = x;
	return b->oom ? -1 : 0;
}

weft_av_t *weft_av_build(const char *node, uint64_t generation,
			 Weft__Agent__V1__Workload *const *wl, size_t nwl,
			 Weft__Agent__V1__Service *const *svc, size_t nsvc,
			 Weft__Agent__V1__Authorization *const *az, size_t naz,
			 char *err, size_t errlen)
{
	weft_av_t *v = calloc(1, sizeof(*v));
	build_t b = { .v = v, .err = err, .errlen = errlen };
	const char *td = NULL;
	size_t n;

	if (err && errlen)
		err[0] = '\0';
	if (!v)
		return NULL;
	/* 64 KiB chunks: a view with 50k endpoints is several MiB */
	weft_arena_init(&v->arena, 64 * 1024);
	b.a = &v->arena;
	v->refs = 1;
	v->generation = generation;
	v->node = dup(&b, node);

	for (size_t i = 0; i < nwl && !td; i++)
		if (wl[i] && wl[i]->trust_domain && *wl[i]->trust_domain)
			td = wl[i]->trust_domain;
	v->trust_domain = dup(&b, td ? td : "cluster.local");

	/* authorizations first: workloads resolve their names against them */
	v->authz = alloc(&b, naz, sizeof(*v->authz));
	for (size_t i = 0; v->authz && i < naz; i++) {
		if (!az[i])
			continue;
		if (!*nz(az[i]->namespace_) || !*nz(az[i]->name)) {
			report(&b, "authorization %s/%s: missing name or namespace", nz(az[i]->namespace_),
			       nz(az[i]->name));
			continue;
		}
		copy_authz(&b, az[i], &v->authz[v->nauthz]);
		if (v->authz[v->nauthz].uid)
			v->nauthz++;
	}
	sort(v->authz, v->nauthz, sizeof(*v->authz), az_cmp);
	v->nauthz = dedup(&b, v->authz, v->nauthz, sizeof(*v->authz),
			  offsetof(weft_av_authz_t, uid), "authorization");

	v->workloads = alloc(&b, nwl, sizeof(*v->workloads));
	for (size_t i = 0; v->workloads && i < nwl; i++) {
		weft_av_workload_t *w = &v->workloads[v->nworkloads];
		if (!wl[i] || (node && strcmp(nz(wl[i]->node), node)))
			continue;
		if (copy_workload(&b, wl[i], w) < 0) {
			memset(w, 0, sizeof(*w));
			continue;
		}
		w->spiffe = spiffe_of(&b, *nz(wl[i]->trust_domain) ? wl[i]->trust_domain : v->trust_domain,
				      w->ns, w->sa);
		w->policies = alloc(&b, wl[i]->n_authorization_policies, sizeof(*w->policies));
		n = 0;
		for (size_t k = 0; w->policies && k < wl[i]->n_authorization_policies; k++) {
			const weft_av_authz_t *p = uid_find(v->authz, v->nauthz, sizeof(*v->authz),
							    offsetof(weft_av_authz_t, uid),
							    wl[i]->authorization_policies[k]);
			if (p)
				w->policies[n++] = p;
		}
		w->npolicies = n;
		v->nworkloads++;
	}
	sort(v->workloads, v->nworkloads, sizeof(*v->workloads), wl_cmp);
	v->nworkloads = dedup(&b, v->workloads, v->nworkloads, sizeof(*v->workloads),
			      offsetof(weft_av_workload_t, uid), "workload");

	v->services = alloc(&b, nsvc, sizeof(*v->services));
	for (size_t i = 0; v->services && i < nsvc; i++) {
		weft_av_service_t *s = &v->services[v->nservices];
		if (!svc[i])
			continue;
		if (copy_service(&b, svc[i], s) < 0) {
			memset(s, 0, sizeof(*s));
			continue;
		}
		v->nservices++;
	}
	sort(v->services, v->nservices, sizeof(*v->services), svc_cmp);
	v->nservices = dedup(&b, v->services, v->nservices, sizeof(*v->services),
			     offsetof(weft_av_service_t, uid), "service");

	if (build_indexes(&b) < 0 || b.oom) {
		weft_arena_destroy(&v->arena);
		free(v);
		return NULL;
	}
	return v;
}

weft_av_t *weft_av_ref(weft_av_t *v)
{
	if (v)
		v->refs++;
	return v;
}

void weft_av_unref(weft_av_t *v)
{
	if (!v || --v->refs)
		return;
	weft_arena_destroy(&v->arena);
	free(v);
}

/* ---- lookups ---- */

const weft_av_workload_t *weft_av_workload(const weft_av_t *v, const char *uid)
{
	return v ? uid_find(v->workloads, v->nworkloads, sizeof(*v->workloads),
			    offsetof(weft_av_workload_t, uid), uid)
		 : NULL;
}

const weft_av_service_t *weft_av_service(const weft_av_t *v, const char *uid)
{
	return v ? uid_find(v->services, v->nservices, sizeof(*v->services),
			    offsetof(weft_av_service_t, uid), uid)
		 : NULL;
}

const weft_av_port_t *weft_av_service_port(const weft_av_service_t *s, uint16_t port)
{
	for (size_t i = 0; s && i < s->nports; i++)
		if (s->ports[i].port == port)
			return &s->ports[i];
	return NULL;
}

const weft_av_workload_t *weft_av_workload_by_ip(const weft_av_t *v, const weft_ip_t *ip)
{
	const av_idx_t *x = v ? v->idx : NULL;
	const ip_ent_t *e = x ? ip_find(x->wl_ip, x->nwl_ip, ip) : NULL;

	return e ? e->obj : NULL;
}

const weft_av_endpoint_t *weft_av_endpoint_by_ip(const weft_av_t *v, const weft_ip_t *ip)
{
	const av_idx_t *x = v ? v->idx : NULL;
	const ip_ent_t *e = x ? ip_find(x->ep_ip, x->nep_ip, ip) : NULL;

	return e ? e->obj : NULL;
}

const weft_av_service_t *weft_av_service_by_vip(const weft_av_t *v, const weft_ip_t *ip,
						uint16_t port, const weft_av_port_t **sp)
{
	const av_idx_t *x = v ? v->idx : NULL;
	size_t lo = 0, hi;

	if (sp)
		*sp = NULL;
	if (!x)
		return NULL;
	hi = x->nvip;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const vip_ent_t *e = &x->vip[mid];
		int c = ip_cmp(&e->ip, ip);
		if (c < 0 || (c == 0 && e->port < port))
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < x->nvip && !ip_cmp(&x->vip[lo].ip, ip) && x->vip[lo].port == port) {
		if (sp)
			*sp = x->vip[lo].sp;
		return x->vip[lo].svc;
	}
	return NULL;
}
