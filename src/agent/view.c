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

char *weft_ip_format(const weft_ip_t *ip, char *out, size_t outlen)
{
	if (!outlen)
		return out;
	if (!inet_ntop(ip->v4 ? AF_INET : AF_INET6, ip->v4 ? (const void *)(ip->a6 + 12) : ip->a6,
		       out, (socklen_t)outlen))
		out[0] = '\0';
	return out;
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
		n++;
	}
	s->nports = n;
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
