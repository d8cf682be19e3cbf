/* Unit tests for the agent's view (src/agent/view.c): address helpers,
 * building from hand-made weft.agent.v1 messages, lookups, invalid
 * entries skipped, reference counting, and a large view. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>
#include <string.h>
#include "av_fake.h"
#include "weft/agentview.h"

static weft_ip_t ip(const char *s)
{
	weft_ip_t r;

	assert_int_equal(weft_ip_parse(s, strlen(s), &r), WEFT_OK);
	return r;
}

static void test_ip(void **st)
{
	weft_ip_t a, b;
	char out[64];
	struct sockaddr_storage ss;
	uint16_t port;

	a = ip("10.1.2.3");
	assert_true(a.v4);
	assert_string_equal(weft_ip_format(&a, out, sizeof(out)), "10.1.2.3");
	b = ip("::ffff:10.1.2.3");
	assert_true(b.v4);
	assert_true(weft_ip_eq(&a, &b));
	a = ip("fd00::1");
	assert_false(a.v4);
	assert_string_equal(weft_ip_format(&a, out, sizeof(out)), "fd00::1");
	assert_int_equal(weft_ip_to_sockaddr(&a, 8080, &ss), sizeof(struct sockaddr_in6));
	weft_ip_from_sockaddr((struct sockaddr *)&ss, &b, &port);
	assert_true(weft_ip_eq(&a, &b));
	assert_int_equal(port, 8080);
	a = ip("192.168.0.9");
	assert_int_equal(weft_ip_to_sockaddr(&a, 1, &ss), sizeof(struct sockaddr_in));
	weft_ip_from_sockaddr((struct sockaddr *)&ss, &b, &port);
	assert_true(weft_ip_eq(&a, &b));
	assert_int_equal(port, 1);
	/* bad literals */
	assert_int_equal(weft_ip_parse("10.1.2", 6, &a), WEFT_EPROTO);
	assert_int_equal(weft_ip_parse("", 0, &a), WEFT_EPROTO);
	assert_int_equal(weft_ip_parse("1.2.3.4\0x", 9, &a), WEFT_EPROTO);
	assert_int_equal(weft_ip_parse("10.1.2.3/8", 10, &a), WEFT_EPROTO);
	/* (ptr, len): only len bytes are read */
	assert_int_equal(weft_ip_parse("10.0.0.12345", 8, &a), WEFT_OK);
	assert_string_equal(weft_ip_format(&a, out, sizeof(out)), "10.0.0.1");
}

static void test_build_lookups(void **st)
{
	fk_t f = { .n = 0 };
	char err[256];
	Weft__Agent__V1__Workload *wl[4];
	Weft__Agent__V1__Endpoint *eps[2];
	Weft__Agent__V1__Service *svc[2];
	Weft__Agent__V1__Authorization *az[2];
	const weft_av_port_t *sp;
	weft_ip_t a;

	wl[0] = fk_wl(&f, "demo", "web", "web-sa", "n1", FK_S("10.0.1.5", "fd00::5"),
		      FK_S("demo/allow-web", "demo/missing"));
	wl[0]->trust_domain = "example.org";
	wl[0]->netns = "/run/netns/web";
	wl[0]->mtls_mode = WEFT__AGENT__V1__MTLS_MODE__STRICT;
	wl[1] = fk_wl(&f, "demo", "db", "", "n1", FK_S("10.0.1.6"), NULL);
	wl[2] = fk_wl(&f, "demo", "other-node", "x", "n2", FK_S("10.0.2.7"), NULL);
	wl[3] = fk_wl(&f, "demo", "api", "api", "n1", FK_S("10.0.1.8"), NULL);

	Weft__Agent__V1__KeyValue app = WEFT__AGENT__V1__KEY_VALUE__INIT, ver = WEFT__AGENT__V1__KEY_VALUE__INIT;
	Weft__Agent__V1__KeyValue *kvs[2] = { &app, &ver };
	app.key = "app", app.value = "web";
	ver.key = "version", ver.value = "v1";
	eps[0] = fk_ep(&f, "demo/web", "10.0.1.5", "web-sa", fk_loc(&f, "r", "z", "s"), 0);
	eps[0]->labels = kvs;
	eps[0]->n_labels = 2;
	eps[1] = fk_ep(&f, "demo/web2", "10.0.2.9", "", NULL, 3);
	svc[0] = fk_svc(&f, "demo", "web", "10.96.0.10", 80, 8080, eps, 2);
	svc[1] = fk_svc(&f, "demo", "novip", "", 90, 0, NULL, 0);
	az[0] = fk_az(&f, "demo", "allow-web", WEFT__AGENT__V1__ACTION__ALLOW, 0);
	az[1] = fk_az(&f, "demo", "deny-x", WEFT__AGENT__V1__ACTION__DENY, 0);

	weft_av_t *v = weft_av_build("n1", 7, wl, 4, svc, 2, az, 2, err, sizeof(err));
	assert_non_null(v);
	assert_string_equal(err, "");
	assert_int_equal(v->generation, 7);
	assert_string_equal(v->trust_domain, "example.org");
	assert_int_equal(v->nworkloads, 3);   /* n2's workload ignored */
	/* sorted by uid */
	assert_string_equal(v->workloads[0].uid, "demo/api");
	assert_string_equal(v->workloads[1].uid, "demo/db");
	assert_string_equal(v->workloads[2].uid, "demo/web");

	const weft_av_workload_t *w = weft_av_workload(v, "demo/web");
	assert_non_null(w);
	assert_string_equal(w->spiffe, "spiffe://example.org/ns/demo/sa/web-sa");
	assert_string_equal(w->netns, "/run/netns/web");
	assert_int_equal(w->mtls, WEFT_AV_MTLS_STRICT);
	assert_int_equal(w->naddrs, 2);
	assert_int_equal(w->npolicies, 1);   /* the missing name is dropped */
	assert_string_equal(w->policies[0]->uid, "demo/allow-web");
	assert_string_equal(w->policies[0]->why_deny, "denied by demo/allow-web");
	assert_null(weft_av_workload(v, "demo/other-node"));
	assert_null(weft_av_workload(v, "demo/zzz"));
	w = weft_av_workload(v, "demo/db");
	assert_string_equal(w->sa, "default");
	assert_string_equal(w->spiffe, "spiffe://example.org/ns/demo/sa/default");
	assert_int_equal(w->mtls, WEFT_AV_MTLS_PERMISSIVE);

	a = ip("fd00::5");
	assert_ptr_equal(weft_av_workload_by_ip(v, &a), weft_av_workload(v, "demo/web"));
	a = ip("10.0.1.8");
	assert_ptr_equal(weft_av_workload_by_ip(v, &a), weft_av_workload(v, "demo/api"));
	a = ip("10.0.2.7");
	assert_null(weft_av_workload_by_ip(v, &a));

	a = ip("10.96.0.10");
	const weft_av_service_t *s = weft_av_service_by_vip(v, &a, 80, &sp);
	assert_non_null(s);
	assert_string_equal(s->uid, "demo/web");
	assert_string_equal(s->hostname, "web.demo.svc.cluster.local");
	assert_int_equal(sp->target_port, 8080);
	assert_null(weft_av_service_by_vip(v, &a, 81, &sp));
	assert_null(sp);
	assert_int_equal(s->nendpoints, 2);
	assert_string_equal(s->endpoints[0].spiffe, "spiffe://example.org/ns/demo/sa/web-sa");
	assert_string_equal(s->endpoints[0].app, "web");
	assert_string_equal(s->endpoints[0].version, "v1");
	assert_string_equal(s->endpoints[0].locality.zone, "z");
	assert_int_equal(s->endpoints[0].weight, 1);   /* 0 means 1 */
	assert_string_equal(s->endpoints[1].ns, "demo");   /* from the workload uid */
	assert_string_equal(s->endpoints[1].name, "web2");
	assert_string_equal(s->endpoints[1].sa, "default");
	assert_string_equal(s->endpoints[1].locality.region, "");
	assert_int_equal(s->endpoints[1].weight, 3);

	a = ip("10.0.2.9");
	const weft_av_endpoint_t *e = weft_av_endpoint_by_ip(v, &a);
	assert_non_null(e);
	assert_string_equal(e->workload, "demo/web2");
	assert_non_null(weft_av_service(v, "demo/novip"));
	assert_false(weft_av_service(v, "demo/novip")->has_vip);
	assert_null(weft_av_service(v, "demo/nope"));

	/* references */
	assert_ptr_equal(weft_av_ref(v), v);
	assert_int_equal(v->refs, 2);
	weft_av_unref(v);
	weft_av_unref(v);
	fk_free(&f);
}

static void test_invalid_skipped(void **st)
{
	fk_t f = { .n = 0 };
	char err[256];
	Weft__Agent__V1__Workload *wl[4];
	Weft__Agent__V1__Endpoint *eps[2];
	Weft__Agent__V1__Service *svc[3];
	Weft__Agent__V1__Authorization *az[1];

	wl[0] = fk_wl(&f, "demo", "bad", "sa", "n1", FK_S("10.0.1.300"), NULL);
	wl[1] = fk_wl(&f, "demo", "good", "sa", "n1", FK_S("10.0.1.5"), FK_S("demo/p"));
	wl[2] = fk_wl(&f, "", "noname", "sa", "n1", FK_S("10.0.1.7"), NULL);
	wl[3] = fk_wl(&f, "demo", "good", "sa2", "n1", FK_S("10.0.1.9"), NULL);   /* duplicate */
	eps[0] = fk_ep(&f, "demo/a", "not-an-ip", "sa", NULL, 1);
	eps[1] = fk_ep(&f, "demo/b", "10.0.3.3", "sa", NULL, 1);
	svc[0] = fk_svc(&f, "demo", "badvip", "10.96.0.999", 80, 80, NULL, 0);
	svc[1] = fk_svc(&f, "demo", "eps", "10.96.0.11", 80, 80, eps, 2);
	svc[2] = fk_svc(&f, "demo", "badport", "10.96.0.12", 70000, 80, NULL, 0);
	Weft__Agent__V1__Source *src = fk_src(&f, NULL, NULL, NULL, NULL, FK_S("10.0.0.0/33"), NULL);
	az[0] = fk_az(&f, "demo", "p", WEFT__AGENT__V1__ACTION__ALLOW, 1, fk_rule(&f, src, NULL, false));

	weft_av_t *v = weft_av_build("n1", 1, wl, 4, svc, 3, az, 1, err, sizeof(err));
	assert_non_null(v);
	/* the first problem is reported (authorizations are read first) */
	assert_string_equal(err, "authorization demo/p: rule 0: bad CIDR or port (rule fails closed)");
	assert_int_equal(v->nworkloads, 1);
	assert_string_equal(v->workloads[0].uid, "demo/good");
	assert_string_equal(v->workloads[0].sa, "sa");   /* the first of the duplicates */
	assert_null(weft_av_service(v, "demo/badvip"));
	const weft_av_service_t *s = weft_av_service(v, "demo/eps");
	assert_non_null(s);
	assert_int_equal(s->nendpoints, 1);
	assert_string_equal(s->endpoints[0].workload, "demo/b");
	s = weft_av_service(v, "demo/badport");
	assert_non_null(s);
	assert_int_equal(s->nports, 0);
	/* the rule with the bad CIDR is kept and fails closed */
	assert_int_equal(v->nauthz, 1);
	assert_true(v->authz[0].rules[0].invalid);
	weft_av_unref(v);

	/* without the policy, the first bad workload is reported */
	v = weft_av_build("n1", 1, wl, 4, NULL, 0, NULL, 0, err, sizeof(err));
	assert_string_equal(err, "workload demo/bad: bad address \"10.0.1.300\"");
	weft_av_unref(v);
	/* no error buffer: still builds */
	v = weft_av_build("n1", 2, wl, 4, svc, 3, NULL, 0, NULL, 0);
	assert_non_null(v);
	assert_int_equal(v->workloads[0].npolicies, 0);
	weft_av_unref(v);
	/* empty view */
	v = weft_av_build("n1", 3, NULL, 0, NULL, 0, NULL, 0, err, sizeof(err));
	assert_non_null(v);
	assert_string_equal(v->trust_domain, "cluster.local");
	weft_ip_t a = ip("10.0.0.1");
	assert_null(weft_av_workload_by_ip(v, &a));
	assert_null(weft_av_endpoint_by_ip(v, &a));
	assert_null(weft_av_service_by_vip(v, &a, 80, NULL));
	weft_av_unref(v);
	fk_free(&f);
}

/* 10k services with 5 endpoints each: every lookup finds its own. */
static void test_large(void **st)
{
	enum { NS = 10000, NE = 5 };
	Weft__Agent__V1__Service **svc = calloc(NS, sizeof(*svc));
	Weft__Agent__V1__Service *sv = calloc(NS, sizeof(*sv));
	Weft__Agent__V1__ServicePort *sp = calloc(NS, sizeof(*sp)), **spp = calloc(NS, sizeof(*spp));
	Weft__Agent__V1__Endpoint *ep = calloc(NS * NE, sizeof(*ep)), **epp = calloc(NS * NE, sizeof(*epp));
	char (*names)[32] = calloc(NS, 32), (*vips)[32] = calloc(NS, 32);
	char (*eaddr)[32] = calloc(NS * NE, 32), (*ewl)[32] = calloc(NS * NE, 32);

	for (int i = 0; i < NS; i++) {
		weft__agent__v1__service__init(&sv[i]);
		weft__agent__v1__service_port__init(&sp[i]);
		snprintf(names[i], 32, "s%05d", NS - 1 - i);   /* unsorted input */
		snprintf(vips[i], 32, "10.%d.%d.1", 96 + (NS - 1 - i) / 256, (NS - 1 - i) % 256);
		sv[i].namespace_ = "ns";
		sv[i].name = names[i];
		sv[i].cluster_ip = vips[i];
		sp[i].port = 80;
		spp[i] = &sp[i];
		sv[i].ports = &spp[i];
		sv[i].n_ports = 1;
		for (int k = 0; k < NE; k++) {
			int j = i * NE + k, id = (NS - 1 - i) * NE + k;
			weft__agent__v1__endpoint__init(&ep[j]);
			snprintf(eaddr[j], 32, "fd00::%x:%x", id / 65536, id % 65536);
			snprintf(ewl[j], 32, "ns/w%d", id);
			ep[j].address = eaddr[j];
			ep[j].workload = ewl[j];
			epp[j] = &ep[j];
		}
		sv[i].endpoints = &epp[i * NE];
		sv[i].n_endpoints = NE;
		svc[i] = &sv[i];
	}
	char err[128];
	weft_av_t *v = weft_av_build("n1", 1, NULL, 0, svc, NS, NULL, 0, err, sizeof(err));
	assert_non_null(v);
	assert_string_equal(err, "");
	assert_int_equal(v->nservices, NS);
	for (int id = 0; id < NS; id++) {
		char name[32], vip[32], a6[32], wl[32];
		snprintf(name, 32, "ns/s%05d", id);
		snprintf(vip, 32, "10.%d.%d.1", 96 + id / 256, id % 256);
		weft_ip_t a = ip(vip);
		const weft_av_service_t *s = weft_av_service_by_vip(v, &a, 80, NULL);
		assert_non_null(s);
		assert_string_equal(s->uid, name);
		assert_ptr_equal(weft_av_service(v, name), s);
		int eid = id * NE + id % NE;
		snprintf(a6, 32, "fd00::%x:%x", eid / 65536, eid % 65536);
		snprintf(wl, 32, "ns/w%d", eid);
		a = ip(a6);
		const weft_av_endpoint_t *e = weft_av_endpoint_by_ip(v, &a);
		assert_non_null(e);
		assert_string_equal(e->workload, wl);
	}
	weft_av_unref(v);
	free(svc), free(sv), free(sp), free(spp), free(ep), free(epp);
	free(names), free(vips), free(eaddr), free(ewl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ip),
		cmocka_unit_test(test_build_lookups),
		cmocka_unit_test(test_invalid_skipped),
		cmocka_unit_test(test_large),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
