/* weft — the agent's admin endpoints, on two instances of the shared
 * HTTP/1.1 admin server (src/control/admin.c: strict parsing, GET/HEAD,
 * 400/404/405, bounded connections and idle timeouts):
 *
 *   admin   (--admin, 127.0.0.1:15000): /healthz, /config_dump, /certs
 *   metrics (--metrics, 127.0.0.1:15020): /metrics, /stats/prometheus
 *
 * The admin reads the agent only through the callbacks of
 * weft_agent_admin_ops_t, never through other parts' structs. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/asn1.h>
#include <openssl/x509.h>
#include "weft/admin.h"
#include "weft/agent.h"
#include "weft/buf.h"
#include "weft/json.h"
#include "weft/metrics.h"

struct weft_agent_admin {
	weft_admin_t admin, metrics;
	weft_agent_admin_ops_t ops;
	weft_metrics_t *reg;
};

#define JSON_CT "application/json"

static void rfc3339(weft_buf_t *b, time_t t)
{
	struct tm tm;
	char s[32];

	gmtime_r(&t, &tm);
	strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%SZ", &tm);
	weft_json_cstr(b, s);
}

static void ip_json(weft_buf_t *b, const weft_ip_t *ip)
{
	char s[64];

	weft_json_cstr(b, weft_ip_format(ip, s, sizeof(s)));
}

static void loc_json(weft_buf_t *b, const weft_av_locality_t *l)
{
	weft_buf_printf(b, "{\"region\":");
	weft_json_cstr(b, l->region);
	weft_buf_printf(b, ",\"zone\":");
	weft_json_cstr(b, l->zone);
	weft_buf_printf(b, ",\"subzone\":");
	weft_json_cstr(b, l->subzone);
	weft_buf_printf(b, "}");
}

static void key(weft_buf_t *b, bool first, const char *k)
{
	weft_buf_printf(b, "%s\"%s\":", first ? "" : ",", k);
}

static void kstr(weft_buf_t *b, bool first, const char *k, const char *v)
{
	key(b, first, k);
	weft_json_cstr(b, v);
}

/* ---- /healthz ---- */

/* Ready when a view arrived and every workload's identity has a credential.
 * Returns 200 or 503 with why in body. */
static int h_healthz(const weft_admin_req_t *req, weft_buf_t *body, const char **ctype, void *ctx)
{
	struct weft_agent_admin *ad = ctx;
	const weft_av_t *v = ad->ops.view ? ad->ops.view(ad->ops.ud) : NULL;

	if (!v) {
		weft_buf_printf(body, "not ready: no synced view from weft control\n");
		return 503;
	}
	for (size_t i = 0; i < v->nworkloads; i++) {
		const weft_av_workload_t *w = &v->workloads[i];
		if (!ad->ops.cred || !ad->ops.cred(ad->ops.ud, w->ns, w->sa)) {
			weft_buf_printf(body, "not ready: no credential for %s (workload %s)\n", w->spiffe, w->uid);
			return 503;
		}
	}
	weft_buf_printf(body, "ok\n");
	return 200;
}

/* ---- /config_dump ---- */

static void workload_json(weft_buf_t *b, const weft_av_workload_t *w)
{
	kstr(b, true, "uid", w->uid);
	kstr(b, false, "name", w->name);
	kstr(b, false, "namespace", w->ns);
	kstr(b, false, "service_account", w->sa);
	kstr(b, false, "identity", w->spiffe);
	kstr(b, false, "node", w->node);
	key(b, false, "addresses");
	weft_buf_printf(b, "[");
	for (size_t i = 0; i < w->naddrs; i++) {
		weft_buf_printf(b, "%s", i ? "," : "");
		ip_json(b, &w->addrs[i]);
	}
	weft_buf_printf(b, "]");
	kstr(b, false, "netns", w->netns);
	kstr(b, false, "cgroup", w->cgroup);
	kstr(b, false, "mtls", w->mtls == WEFT_AV_MTLS_STRICT ? "STRICT" : "PERMISSIVE");
	key(b, false, "locality");
	loc_json(b, &w->locality);
	key(b, false, "labels");
	weft_buf_printf(b, "{");
	for (size_t i = 0; i < w->nlabels; i++) {
		weft_buf_printf(b, "%s", i ? "," : "");
		weft_json_cstr(b, w->labels[i].key);
		weft_buf_printf(b, ":");
		weft_json_cstr(b, w->labels[i].value);
	}
	weft_buf_printf(b, "}");
	key(b, false, "policies");
	weft_buf_printf(b, "[");
	for (size_t i = 0; i < w->npolicies; i++) {
		weft_buf_printf(b, "%s", i ? "," : "");
		weft_json_cstr(b, w->policies[i]->uid);
	}
	weft_buf_printf(b, "]");
}

static const char *proto_name(weft_av_proto_t p)
{
	switch (p) {
	case WEFT_AV_HTTP: return "http";
	case WEFT_AV_HTTP2: return "http2";
	case WEFT_AV_GRPC: return "grpc";
	default: return "tcp";
	}
}

static void service_json(weft_buf_t *b, const weft_av_service_t *s)
{
	kstr(b, true, "uid", s->uid);
	kstr(b, false, "hostname", s->hostname);
	key(b, false, "vip");
	if (s->has_vip)
		ip_json(b, &s->vip);
	else
		weft_buf_printf(b, "null");
	key(b, false, "ports");
	weft_buf_printf(b, "[");
	for (size_t i = 0; i < s->nports; i++) {
		const weft_av_port_t *p = &s->ports[i];
		weft_buf_printf(b, "%s{\"port\":%u,\"target_port\":%u,\"protocol\":\"%s\",\"name\":", i ? "," : "",
				p->port, p->target_port, proto_name(p->proto));
		weft_json_cstr(b, p->name);
		weft_buf_printf(b, "}");
	}
	weft_buf_printf(b, "]");
	key(b, false, "endpoints");
	weft_buf_printf(b, "[");
	for (size_t i = 0; i < s->nendpoints; i++) {
		const weft_av_endpoint_t *e = &s->endpoints[i];
		weft_buf_printf(b, "%s{", i ? "," : "");
		kstr(b, true, "workload", e->workload);
		key(b, false, "address");
		ip_json(b, &e->addr);
		kstr(b, false, "node", e->node);
		key(b, false, "node_address");
		ip_json(b, &e->node_addr);
		kstr(b, false, "identity", e->spiffe);
		key(b, false, "locality");
		loc_json(b, &e->locality);
		weft_buf_printf(b, ",\"weight\":%u}", e->weight);
	}
	weft_buf_printf(b, "]");
}

static void strs_json(weft_buf_t *b, bool *first, const char *k, const weft_av_strs_t *s)
{
	if (!s->n)
		return;
	key(b, *first, k);
	*first = false;
	weft_buf_printf(b, "[");
	for (size_t i = 0; i < s->n; i++) {
		weft_buf_printf(b, "%s", i ? "," : "");
		weft_json_cstr(b, s->v[i]);
	}
	weft_buf_printf(b, "]");
}

static void cidrs_json(weft_buf_t *b, bool *first, const char *k, const weft_av_cidr_t *c, size_t n)
{
	char s[64];

	if (!n)
		return;
	key(b, *first, k);
	*first = false;
	weft_buf_printf(b, "[");
	for (size_t i = 0; i < n; i++)
		weft_buf_printf(b, "%s\"%s/%u\"", i ? "," : "", weft_ip_format(&c[i].ip, s, sizeof(s)), c[i].bits);
	weft_buf_printf(b, "]");
}

static void ports_json(weft_buf_t *b, bool *first, const char *k, const uint16_t *p, size_t n)
{
	if (!n)
		return;
	key(b, *first, k);
	*first = false;
	weft_buf_printf(b, "[");
	for (size_t i = 0; i < n; i++)
		weft_buf_printf(b, "%s%u", i ? "," : "", p[i]);
	weft_buf_printf(b, "]");
}

static void authz_json(weft_buf_t *b, const weft_av_authz_t *a)
{
	static const char *const act[] = { "ALLOW", "DENY", "AUDIT" };

	kstr(b, true, "uid", a->uid);
	kstr(b, false, "action", act[a->action]);
	key(b, false, "rules");
	weft_buf_printf(b, "[");
	for (size_t r = 0; r < a->nrules; r++) {
		const weft_av_rule_t *ru = &a->rules[r];
		weft_buf_printf(b, "%s{\"from\":[", r ? "," : "");
		for (size_t i = 0; i < ru->nfrom; i++) {
			const weft_av_source_t *s = &ru->from[i];
			bool first = true;
			weft_buf_printf(b, "%s{", i ? "," : "");
			strs_json(b, &first, "principals", &s->principals);
			strs_json(b, &first, "not_principals", &s->not_principals);
			strs_json(b, &first, "namespaces", &s->namespaces);
			strs_json(b, &first, "not_namespaces", &s->not_namespaces);
			cidrs_json(b, &first, "ip_blocks", s->ip, s->nip);
			cidrs_json(b, &first, "not_ip_blocks", s->not_ip, s->nnot_ip);
			weft_buf_printf(b, "}");
		}
		weft_buf_printf(b, "],\"to\":[");
		for (size_t i = 0; i < ru->nto; i++) {
			const weft_av_operation_t *o = &ru->to[i];
			bool first = false;
			weft_buf_printf(b, "%s{\"has_l7\":%s", i ? "," : "", o->has_l7 ? "true" : "false");
			ports_json(b, &first, "ports", o->ports, o->nports);
			ports_json(b, &first, "not_ports", o->not_ports, o->nnot_ports);
			weft_buf_printf(b, "}");
		}
		weft_buf_printf(b, "],\"has_l7_when\":%s,\"invalid\":%s}", ru->has_l7_when ? "true" : "false",
				ru->invalid ? "true" : "false");
	}
	weft_buf_printf(b, "]");
}

static int h_config_dump(const weft_admin_req_t *req, weft_buf_t *body, const char **ctype, void *ctx)
{
	struct weft_agent_admin *ad = ctx;
	const weft_av_t *v = ad->ops.view ? ad->ops.view(ad->ops.ud) : NULL;
	weft_buf_t *b = body;

	*ctype = JSON_CT;
	weft_buf_printf(b, "{");
	kstr(b, true, "node", ad->ops.node);
	if (!v) {
		weft_buf_printf(b, ",\"synced\":false,\"generation\":0,\"workloads\":[],\"services\":[],"
				   "\"authorization_policies\":[]");
	} else {
		weft_buf_printf(b, ",\"synced\":true,\"generation\":%llu", (unsigned long long)v->generation);
		kstr(b, false, "trust_domain", v->trust_domain);
		weft_buf_printf(b, ",\"workloads\":[");
		for (size_t i = 0; i < v->nworkloads; i++) {
			weft_buf_printf(b, "%s{", i ? "," : "");
			workload_json(b, &v->workloads[i]);
			weft_buf_printf(b, "}");
		}
		weft_buf_printf(b, "],\"services\":[");
		for (size_t i = 0; i < v->nservices; i++) {
			weft_buf_printf(b, "%s{", i ? "," : "");
			service_json(b, &v->services[i]);
			weft_buf_printf(b, "}");
		}
		weft_buf_printf(b, "],\"authorization_policies\":[");
		for (size_t i = 0; i < v->nauthz; i++) {
			weft_buf_printf(b, "%s{", i ? "," : "");
			authz_json(b, &v->authz[i]);
			weft_buf_printf(b, "}");
		}
		weft_buf_printf(b, "]");
	}
	weft_buf_printf(b, ",\"hbone_connections\":");
	if (!ad->ops.pool_json || ad->ops.pool_json(ad->ops.ud, b) < 0)
		weft_buf_printf(b, "[]");
	if (weft_buf_printf(b, "}\n") < 0) {
		weft_buf_reset(b);
		weft_buf_printf(b, "config dump too large\n");
		*ctype = "text/plain; charset=utf-8";
		return 500;
	}
	return 200;
}

/* ---- /certs ---- */

typedef struct certs_ctx {
	weft_buf_t *b;
	size_t n;
	time_t now;
} certs_ctx_t;

static void cert_json(void *arg, const weft_cred_t *c)
{
	certs_ctx_t *cc = arg;
	weft_buf_t *b = cc->b;

	weft_buf_printf(b, "%s{", cc->n++ ? "," : "");
	kstr(b, true, "identity", c->id.uri);
	kstr(b, false, "serial", c->serial);
	key(b, false, "not_before");
	rfc3339(b, c->not_before);
	key(b, false, "not_after");
	rfc3339(b, c->not_after);
	weft_buf_printf(b, ",\"seconds_left\":%lld,\"chain_length\":%d}",
			(long long)(c->not_after - cc->now), 1 + (c->chain ? sk_X509_num(c->chain) : 0));
}

static int h_certs(const weft_admin_req_t *req, weft_buf_t *body, const char **ctype, void *ctx)
{
	struct weft_agent_admin *ad = ctx;
	certs_ctx_t cc = { body, 0, time(NULL) };
	const weft_bundle_t *bd = ad->ops.bundle ? ad->ops.bundle(ad->ops.ud) : NULL;

	*ctype = JSON_CT;
	weft_buf_printf(body, "{\"certificates\":[");
	if (ad->ops.each_cred)
		ad->ops.each_cred(ad->ops.ud, cert_json, &cc);
	weft_buf_printf(body, "],\"trust_domain\":");
	weft_json_cstr(body, bd ? bd->td : NULL);
	weft_buf_printf(body, ",\"roots\":[");
	for (int i = 0; bd && bd->roots && i < sk_X509_num(bd->roots); i++) {
		X509 *x = sk_X509_value(bd->roots, i);
		char subj[512];
		struct tm tm;
		X509_NAME_oneline(X509_get_subject_name(x), subj, sizeof(subj));
		weft_buf_printf(body, "%s{", i ? "," : "");
		kstr(body, true, "subject", subj);
		key(body, false, "not_after");
		if (ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) == 1)
			rfc3339(body, timegm(&tm));
		else
			weft_buf_printf(body, "null");
		weft_buf_printf(body, "}");
	}
	weft_buf_printf(body, "]}\n");
	return 200;
}

/* ---- :15020 ---- */

static int h_metrics(const weft_admin_req_t *req, weft_buf_t *body, const char **ctype, void *ctx)
{
	struct weft_agent_admin *ad = ctx;

	*ctype = "text/plain; version=0.0.4; charset=utf-8";
	if (weft_metrics_render(ad->reg, body) < 0) {
		weft_buf_reset(body);
		weft_buf_printf(body, "metrics too large\n");
		*ctype = "text/plain; charset=utf-8";
		return 500;
	}
	return 200;
}

struct weft_agent_admin *weft_agent_admin_new(weft_loop_t *loop, weft_metrics_t *reg,
					      const weft_agent_admin_ops_t *ops)
{
	struct weft_agent_admin *ad = calloc(1, sizeof(*ad));

	if (!ad)
		return NULL;
	ad->ops = *ops;
	ad->reg = reg;
	weft_admin_init(&ad->admin, loop);
	weft_admin_init(&ad->metrics, loop);
	ad->admin.max_conns = ad->metrics.max_conns = 64;
	if (weft_admin_route(&ad->admin, "/healthz", h_healthz, ad) ||
	    weft_admin_route(&ad->admin, "/config_dump", h_config_dump, ad) ||
	    weft_admin_route(&ad->admin, "/certs", h_certs, ad) ||
	    weft_admin_route(&ad->metrics, "/metrics", h_metrics, ad) ||
	    weft_admin_route(&ad->metrics, "/stats/prometheus", h_metrics, ad)) {
		free(ad);
		return NULL;
	}
	return ad;
}

int weft_agent_admin_listen(struct weft_agent_admin *ad, const char *admin_addr, const char *metrics_addr)
{
	if (admin_addr && *admin_addr && weft_admin_listen(&ad->admin, admin_addr) != WEFT_OK)
		return WEFT_EFAIL;
	if (metrics_addr && *metrics_addr && weft_admin_listen(&ad->metrics, metrics_addr) != WEFT_OK)
		return WEFT_EFAIL;
	return WEFT_OK;
}

void weft_agent_admin_ports(const struct weft_agent_admin *ad, uint16_t *admin_port, uint16_t *metrics_port)
{
	if (admin_port)
		*admin_port = ad->admin.listening ? ad->admin.lst.port : 0;
	if (metrics_port)
		*metrics_port = ad->metrics.listening ? ad->metrics.lst.port : 0;
}

void weft_agent_admin_free(struct weft_agent_admin *ad)
{
	if (!ad)
		return;
	weft_admin_destroy(&ad->admin);
	weft_admin_destroy(&ad->metrics);
	free(ad);
}

int weft_agent_admin_route(struct weft_agent_admin *ad, const char *path, weft_admin_handler fn,
			   void *ctx)
{
	return weft_admin_route(&ad->admin, path, fn, ctx);
}

int weft_agent_admin_route_stream(struct weft_agent_admin *ad, const char *path,
				  weft_admin_stream_handler fn, void *ctx)
{
	return weft_admin_route_stream(&ad->admin, path, fn, ctx);
}
