/* Test helpers: hand-made weft.agent.v1 protobuf-c messages for the agent
 * view, authorization and load-balancing tests. Everything is allocated
 * from a small pool freed by fk_free(). */
#ifndef WEFT_TEST_AV_FAKE_H
#define WEFT_TEST_AV_FAKE_H
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include "weft/agentview.h"

typedef struct fk {
	void *p[4096];
	size_t n;
} fk_t;

static inline void *fk_alloc(fk_t *f, size_t sz)
{
	void *p = calloc(1, sz ? sz : 1);

	if (f->n < sizeof(f->p) / sizeof(f->p[0]))
		f->p[f->n++] = p;
	return p;
}

static inline void fk_free(fk_t *f)
{
	for (size_t i = 0; i < f->n; i++)
		free(f->p[i]);
	f->n = 0;
}

/* A NULL-terminated list of strings -> char ** with *n set. */
static inline char **fk_strs(fk_t *f, size_t *n, const char *const *v)
{
	size_t k = 0;
	char **out;

	while (v && v[k])
		k++;
	out = fk_alloc(f, (k + 1) * sizeof(*out));
	for (size_t i = 0; i < k; i++)
		out[i] = (char *)v[i];
	*n = k;
	return out;
}

#define FK_S(...) ((const char *const[]){ __VA_ARGS__, NULL })

static inline Weft__Agent__V1__Locality *fk_loc(fk_t *f, const char *r, const char *z, const char *s)
{
	Weft__Agent__V1__Locality *l = fk_alloc(f, sizeof(*l));

	weft__agent__v1__locality__init(l);
	l->region = (char *)r;
	l->zone = (char *)z;
	l->subzone = (char *)s;
	return l;
}

static inline Weft__Agent__V1__Workload *fk_wl(fk_t *f, const char *ns, const char *name,
					       const char *sa, const char *node,
					       const char *const *addrs,
					       const char *const *policies)
{
	Weft__Agent__V1__Workload *w = fk_alloc(f, sizeof(*w));

	weft__agent__v1__workload__init(w);
	w->namespace_ = (char *)ns;
	w->name = (char *)name;
	w->service_account = (char *)sa;
	w->node = (char *)node;
	w->node_address = "10.0.0.1";
	w->addresses = fk_strs(f, &w->n_addresses, addrs);
	w->authorization_policies = fk_strs(f, &w->n_authorization_policies, policies);
	return w;
}

static inline Weft__Agent__V1__Endpoint *fk_ep(fk_t *f, const char *wl, const char *addr,
					       const char *sa, Weft__Agent__V1__Locality *loc,
					       uint32_t weight)
{
	Weft__Agent__V1__Endpoint *e = fk_alloc(f, sizeof(*e));

	weft__agent__v1__endpoint__init(e);
	e->workload = (char *)wl;
	e->address = (char *)addr;
	e->node = "n2";
	e->node_address = "10.0.0.2";
	e->service_account = (char *)sa;
	e->locality = loc;
	e->weight = weight;
	return e;
}

static inline Weft__Agent__V1__Service *fk_svc(fk_t *f, const char *ns, const char *name,
					       const char *vip, uint32_t port, uint32_t target,
					       Weft__Agent__V1__Endpoint **eps, size_t neps)
{
	Weft__Agent__V1__Service *s = fk_alloc(f, sizeof(*s));
	Weft__Agent__V1__ServicePort *p = fk_alloc(f, sizeof(*p));

	weft__agent__v1__service__init(s);
	weft__agent__v1__service_port__init(p);
	s->namespace_ = (char *)ns;
	s->name = (char *)name;
	s->cluster_ip = (char *)vip;
	p->port = port;
	p->target_port = target;
	p->app_protocol = "tcp";
	s->ports = fk_alloc(f, sizeof(*s->ports));
	s->ports[0] = p;
	s->n_ports = port ? 1 : 0;
	s->endpoints = eps;
	s->n_endpoints = neps;
	return s;
}

/* A Source from NULL-terminated lists (each may be NULL). */
static inline Weft__Agent__V1__Source *fk_src(fk_t *f, const char *const *pr, const char *const *npr,
					      const char *const *ns, const char *const *nns,
					      const char *const *ip, const char *const *nip)
{
	Weft__Agent__V1__Source *s = fk_alloc(f, sizeof(*s));

	weft__agent__v1__source__init(s);
	s->principals = fk_strs(f, &s->n_principals, pr);
	s->not_principals = fk_strs(f, &s->n_not_principals, npr);
	s->namespaces = fk_strs(f, &s->n_namespaces, ns);
	s->not_namespaces = fk_strs(f, &s->n_not_namespaces, nns);
	s->ip_blocks = fk_strs(f, &s->n_ip_blocks, ip);
	s->not_ip_blocks = fk_strs(f, &s->n_not_ip_blocks, nip);
	return s;
}

/* An Operation: ports and not_ports are 0-terminated lists (may be NULL). */
static inline Weft__Agent__V1__Operation *fk_op(fk_t *f, const uint32_t *ports,
						const uint32_t *not_ports, bool l7)
{
	Weft__Agent__V1__Operation *o = fk_alloc(f, sizeof(*o));

	weft__agent__v1__operation__init(o);
	while (ports && ports[o->n_ports])
		o->n_ports++;
	while (not_ports && not_ports[o->n_not_ports])
		o->n_not_ports++;
	o->ports = (uint32_t *)ports;
	o->not_ports = (uint32_t *)not_ports;
	o->has_l7 = l7;
	return o;
}

static inline Weft__Agent__V1__Rule *fk_rule(fk_t *f, Weft__Agent__V1__Source *from,
					     Weft__Agent__V1__Operation *to, bool l7_when)
{
	Weft__Agent__V1__Rule *r = fk_alloc(f, sizeof(*r));

	weft__agent__v1__rule__init(r);
	r->from = fk_alloc(f, sizeof(*r->from));
	r->to = fk_alloc(f, sizeof(*r->to));
	if (from) {
		r->from[0] = from;
		r->n_from = 1;
	}
	if (to) {
		r->to[0] = to;
		r->n_to = 1;
	}
	r->has_l7_when = l7_when;
	return r;
}

/* An Authorization with nrules rules (variadic Weft__Agent__V1__Rule *). */
static inline Weft__Agent__V1__Authorization *fk_az(fk_t *f, const char *ns, const char *name,
						    Weft__Agent__V1__Action action, size_t nrules, ...)
{
	Weft__Agent__V1__Authorization *a = fk_alloc(f, sizeof(*a));
	va_list ap;

	weft__agent__v1__authorization__init(a);
	a->namespace_ = (char *)ns;
	a->name = (char *)name;
	a->action = action;
	a->rules = fk_alloc(f, (nrules + 1) * sizeof(*a->rules));
	a->n_rules = nrules;
	va_start(ap, nrules);
	for (size_t i = 0; i < nrules; i++)
		a->rules[i] = va_arg(ap, Weft__Agent__V1__Rule *);
	va_end(ap);
	return a;
}

#endif
