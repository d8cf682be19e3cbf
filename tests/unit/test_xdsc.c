/* Unit tests for the agent's delta ADS client (src/agent/xdsc.c): applied
 * responses update the resource maps (adds, replaces, removals); a
 * response with an undecodable or mistyped resource is rejected whole and
 * leaves the previous state. State is observed through the metrics. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include "weft/agent.h"
#include "weft/buf.h"
#include "weft/loop.h"
#include "weft/metrics.h"
#include "weft/telemetry.h"
#include "envoy/service/discovery/v3/discovery.pb-c.h"

#define WL_URL "type.googleapis.com/weft.agent.v1.Workload"

typedef struct fx {
	weft_loop_t loop;
	weft_agent_t a;
	struct weft_xdsc *x;
} fx_t;

static int setup(void **st)
{
	fx_t *f = calloc(1, sizeof(*f));

	assert_int_equal(weft_loop_init(&f->loop), 0);
	f->a.loop = &f->loop;
	weft_sigwatch_init(&f->a.sig);
	weft_agent_opts_default(&f->a.o);
	f->a.o.node = "n1";
	weft_metrics_init(&f->a.metrics);
	assert_non_null(f->a.tm = weft_tm_new(&f->a.metrics, NULL));
	assert_non_null(f->x = weft_xdsc_new(&f->a));
	*st = f;
	return 0;
}

static int teardown(void **st)
{
	fx_t *f = *st;

	weft_xdsc_free(f->x);
	weft_tm_free(f->a.tm);
	weft_metrics_free(&f->a.metrics);
	weft_loop_destroy(&f->loop);
	free(f);
	return 0;
}

/* The rendered value of a metric line that starts with prefix, or -1. */
static double metric(fx_t *f, const char *prefix)
{
	weft_buf_t b;
	double v = -1;
	char *s, *p;

	weft_buf_init(&b, 0);
	assert_int_equal(weft_metrics_render(&f->a.metrics, &b), 0);
	weft_buf_append(&b, "", 1);
	s = (char *)weft_buf_head(&b);
	for (p = s; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		if (!strncmp(p, prefix, strlen(prefix))) {
			v = strtod(p + strlen(prefix), NULL);
			break;
		}
	}
	weft_buf_free(&b);
	return v;
}

/* Packs a response with nres workloads named "ns/w<i>" (bad_at >= 0: that
 * one carries garbage bytes; wrong_type: the Any names another type) and
 * the removed names. */
static uint8_t *response(size_t nres, int bad_at, bool wrong_type, const char *removed, size_t *len)
{
	Envoy__Service__Discovery__V3__DeltaDiscoveryResponse r =
		ENVOY__SERVICE__DISCOVERY__V3__DELTA_DISCOVERY_RESPONSE__INIT;
	Envoy__Service__Discovery__V3__Resource rs[8], *prs[8];
	Google__Protobuf__Any any[8];
	uint8_t body[8][256];
	char names[8][32];
	char *rem = (char *)removed;
	uint8_t *out;

	assert_true(nres <= 8);
	for (size_t i = 0; i < nres; i++) {
		Weft__Agent__V1__Workload w = WEFT__AGENT__V1__WORKLOAD__INIT;
		Envoy__Service__Discovery__V3__Resource r0 = ENVOY__SERVICE__DISCOVERY__V3__RESOURCE__INIT;
		Google__Protobuf__Any a0 = GOOGLE__PROTOBUF__ANY__INIT;

		snprintf(names[i], sizeof(names[i]), "ns/w%zu", i);
		w.name = names[i] + 3;
		w.namespace_ = "ns";
		w.node = "n1";
		a0.type_url = wrong_type ? "type.googleapis.com/weft.agent.v1.Service" : WL_URL;
		if ((int)i == bad_at) {
			memset(body[i], 0xff, 16);   /* not a protobuf message */
			a0.value.len = 16;
		} else {
			a0.value.len = weft__agent__v1__workload__pack(&w, body[i]);
		}
		a0.value.data = body[i];
		any[i] = a0;
		r0.name = names[i];
		r0.version = "v1";
		r0.resource = &any[i];
		rs[i] = r0;
		prs[i] = &rs[i];
	}
	r.type_url = WL_URL;
	r.nonce = "n1";
	r.n_resources = nres;
	r.resources = prs;
	if (removed) {
		r.n_removed_resources = 1;
		r.removed_resources = &rem;
	}
	*len = envoy__service__discovery__v3__delta_discovery_response__get_packed_size(&r);
	out = malloc(*len ? *len : 1);
	envoy__service__discovery__v3__delta_discovery_response__pack(&r, out);
	return out;
}

static void test_apply_and_nack(void **st)
{
	fx_t *f = *st;
	char err[300];
	size_t n;
	uint8_t *p;

	p = response(3, -1, false, NULL, &n);
	assert_int_equal(weft_xdsc_apply(f->x, p, n, err, sizeof(err)), WEFT_OK);
	free(p);
	assert_true(metric(f, "weft_agent_xds_resources{type=\"workload\"} ") == 3);
	assert_true(metric(f, "weft_agent_xds_updates_total{type=\"workload\"} ") == 1);

	/* one undecodable resource: the whole response is rejected */
	p = response(5, 4, false, "ns/w0", &n);
	assert_int_equal(weft_xdsc_apply(f->x, p, n, err, sizeof(err)), WEFT_EPROTO);
	free(p);
	assert_non_null(strstr(err, "ns/w4"));
	assert_true(metric(f, "weft_agent_xds_resources{type=\"workload\"} ") == 3);
	assert_true(metric(f, "weft_agent_xds_nacks_total{type=\"workload\"} ") == 1);

	/* a resource of another type inside a Workload response */
	p = response(1, -1, true, NULL, &n);
	assert_int_equal(weft_xdsc_apply(f->x, p, n, err, sizeof(err)), WEFT_EPROTO);
	free(p);
	assert_true(metric(f, "weft_agent_xds_nacks_total{type=\"workload\"} ") == 2);

	/* w0 and w1 replaced, w2 removed */
	p = response(2, -1, false, "ns/w2", &n);
	assert_int_equal(weft_xdsc_apply(f->x, p, n, err, sizeof(err)), WEFT_OK);
	free(p);
	assert_true(metric(f, "weft_agent_xds_resources{type=\"workload\"} ") == 2);

	/* garbage that is not a response at all */
	assert_int_equal(weft_xdsc_apply(f->x, (const uint8_t *)"\xff\xff\xff", 3, err, sizeof(err)), WEFT_EPROTO);
	assert_true(metric(f, "weft_agent_xds_resources{type=\"workload\"} ") == 2);
}

static void test_many(void **st)
{
	fx_t *f = *st;
	char err[300];

	/* enough distinct names to grow the map several times */
	for (int round = 0; round < 40; round++) {
		size_t n;
		uint8_t *p = response(8, -1, false, NULL, &n);
		Envoy__Service__Discovery__V3__DeltaDiscoveryResponse *r =
			envoy__service__discovery__v3__delta_discovery_response__unpack(NULL, n, p);
		uint8_t *q;
		char nm[8][32], *orig[8];

		for (size_t i = 0; i < r->n_resources; i++) {
			snprintf(nm[i], sizeof(nm[i]), "ns/r%d-%zu", round, i);
			orig[i] = r->resources[i]->name;
			r->resources[i]->name = nm[i];
		}
		n = envoy__service__discovery__v3__delta_discovery_response__get_packed_size(r);
		q = malloc(n);
		envoy__service__discovery__v3__delta_discovery_response__pack(r, q);
		for (size_t i = 0; i < r->n_resources; i++)
			r->resources[i]->name = orig[i];   /* nm is not the decoder's to free */
		envoy__service__discovery__v3__delta_discovery_response__free_unpacked(r, NULL);
		assert_int_equal(weft_xdsc_apply(f->x, q, n, err, sizeof(err)), WEFT_OK);
		free(p);
		free(q);
	}
	assert_true(metric(f, "weft_agent_xds_resources{type=\"workload\"} ") == 320);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_apply_and_nack, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
