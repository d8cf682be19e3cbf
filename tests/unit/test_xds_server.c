/* Unit tests for the ADS server state machines (src/control/xds_server*.c),
 * driven with in-memory requests and a capturing sink. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include "envoy/service/discovery/v3/discovery.pb-c.h"
#include "weft/buf.h"
#include "weft/loop.h"
#include "weft/metrics.h"
#include "weft/xds.h"
#include "weft/xds_server.h"
#include "xds_fake.h"

#define LDS_URL "type.googleapis.com/envoy.config.listener.v3.Listener"
#define RDS_URL "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"
#define CDS_URL "type.googleapis.com/envoy.config.cluster.v3.Cluster"
#define EDS_URL "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"

typedef struct capture {
	int n;
	uint8_t *msg[64];
	size_t len[64];
} capture_t;

static int cap_sink(void *sink, const ProtobufCMessage *m)
{
	capture_t *c = sink;
	size_t len = protobuf_c_message_get_packed_size(m);

	if (c->n == 64)
		return -1;
	c->msg[c->n] = malloc(len ? len : 1);
	protobuf_c_message_pack(m, c->msg[c->n]);
	c->len[c->n++] = len;
	return 0;
}

static void cap_reset(capture_t *c)
{
	for (int i = 0; i < c->n; i++)
		free(c->msg[i]);
	c->n = 0;
}

static Envoy__Service__Discovery__V3__DiscoveryResponse *sotw_resp(capture_t *c, int i)
{
	assert_true(i < c->n);
	return envoy__service__discovery__v3__discovery_response__unpack(NULL, c->len[i], c->msg[i]);
}

static Envoy__Service__Discovery__V3__DeltaDiscoveryResponse *delta_resp(capture_t *c, int i)
{
	assert_true(i < c->n);
	return envoy__service__discovery__v3__delta_discovery_response__unpack(NULL, c->len[i], c->msg[i]);
}

/* sends a SotW request; names NULL-terminated */
static int sotw_req(weft_xds_client_t *cl, const char *url, const char *version, const char *nonce,
		    const char *nack, const char **names)
{
	Envoy__Service__Discovery__V3__DiscoveryRequest r = ENVOY__SERVICE__DISCOVERY__V3__DISCOVERY_REQUEST__INIT;
	Envoy__Config__Core__V3__Node node = ENVOY__CONFIG__CORE__V3__NODE__INIT;
	Google__Rpc__Status st = GOOGLE__RPC__STATUS__INIT;
	uint8_t buf[4096];
	size_t n = 0, len;

	node.id = "node-1";
	node.user_agent_name = "test";
	r.node = &node;
	r.type_url = (char *)url;
	r.version_info = (char *)(version ? version : "");
	r.response_nonce = (char *)(nonce ? nonce : "");
	if (nack) {
		st.code = 3;
		st.message = (char *)nack;
		r.error_detail = &st;
	}
	while (names && names[n])
		n++;
	r.n_resource_names = n;
	r.resource_names = (char **)names;
	len = envoy__service__discovery__v3__discovery_request__pack(&r, buf);
	return weft_xds_client_request(cl, buf, len);
}

/* node.id that delta_req() sends (NULL: no node) */
static const char *delta_node;

static int delta_req(weft_xds_client_t *cl, const char *url, const char *nonce, const char *nack,
		     const char **sub, const char **unsub, const char **initial /* k,v,k,v,NULL */)
{
	Envoy__Service__Discovery__V3__DeltaDiscoveryRequest r =
		ENVOY__SERVICE__DISCOVERY__V3__DELTA_DISCOVERY_REQUEST__INIT;
	Envoy__Config__Core__V3__Node node = ENVOY__CONFIG__CORE__V3__NODE__INIT;

	if (delta_node) {
		node.id = (char *)delta_node;
		r.node = &node;
	}
	Envoy__Service__Discovery__V3__DeltaDiscoveryRequest__InitialResourceVersionsEntry e[8], *ep[8];
	Google__Rpc__Status st = GOOGLE__RPC__STATUS__INIT;
	uint8_t buf[4096];
	size_t n = 0, len;

	r.type_url = (char *)url;
	r.response_nonce = (char *)(nonce ? nonce : "");
	if (nack) {
		st.message = (char *)nack;
		r.error_detail = &st;
	}
	while (sub && sub[n])
		n++;
	r.n_resource_names_subscribe = n;
	r.resource_names_subscribe = (char **)sub;
	n = 0;
	while (unsub && unsub[n])
		n++;
	r.n_resource_names_unsubscribe = n;
	r.resource_names_unsubscribe = (char **)unsub;
	n = 0;
	while (initial && initial[2 * n]) {
		envoy__service__discovery__v3__delta_discovery_request__initial_resource_versions_entry__init(&e[n]);
		e[n].key = (char *)initial[2 * n];
		e[n].value = (char *)initial[2 * n + 1];
		ep[n] = &e[n];
		n++;
	}
	r.n_initial_resource_versions = n;
	r.initial_resource_versions = ep;
	len = envoy__service__discovery__v3__delta_discovery_request__pack(&r, buf);
	return weft_xds_client_request(cl, buf, len);
}

typedef struct fx {
	weft_loop_t loop;
	weft_metrics_t metrics;
	weft_xds_server_t srv;
	capture_t cap;
} fx_t;

static int setup(void **st)
{
	fx_t *f = calloc(1, sizeof(*f));
	weft_xds_server_opts_t o;

	weft_loop_init(&f->loop);
	weft_metrics_init(&f->metrics);
	weft_xds_server_opts_default(&o);
	assert_int_equal(weft_xds_server_init(&f->srv, &f->loop, &f->metrics, &o), 0);
	weft_xds_snapshot_t *s = fake_snapshot(1, "l1=A;l2=B", "r1=R", "c1=C;c2=D", "c1=E1;c2=E2");
	weft_xds_server_set_snapshot(&f->srv, s);
	weft_xds_snapshot_unref(s);
	*st = f;
	return 0;
}

static int teardown(void **st)
{
	fx_t *f = *st;
	weft_xds_server_destroy(&f->srv);
	weft_metrics_free(&f->metrics);
	weft_loop_destroy(&f->loop);
	cap_reset(&f->cap);
	free(f);
	return 0;
}

static void install(fx_t *f, weft_xds_snapshot_t *s)
{
	weft_xds_server_set_snapshot(&f->srv, s);
	weft_xds_snapshot_unref(s);
	weft_xds_server_flush(&f->srv);
}

static void test_sotw_subscribe_ack_nack(void **st)
{
	fx_t *f = *st;
	weft_xds_client_t *c = weft_xds_client_new(&f->srv, false, cap_sink, &f->cap, "t");
	const char *names[] = { "l1", "nope", NULL };

	assert_int_equal(sotw_req(c, LDS_URL, NULL, NULL, NULL, names), 0);
	assert_int_equal(f->cap.n, 1);
	Envoy__Service__Discovery__V3__DiscoveryResponse *r = sotw_resp(&f->cap, 0);
	assert_string_equal(r->version_info, "1");
	assert_string_equal(r->type_url, LDS_URL);
	assert_int_equal(r->n_resources, 1);   /* only subscribed and existing */
	assert_string_equal(r->resources[0]->type_url, LDS_URL);
	assert_memory_equal(r->resources[0]->value.data, "A", 1);
	char nonce[24];
	strcpy(nonce, r->nonce);
	envoy__service__discovery__v3__discovery_response__free_unpacked(r, NULL);

	/* ACK: no new response */
	assert_int_equal(sotw_req(c, LDS_URL, "1", nonce, NULL, names), 0);
	assert_int_equal(f->cap.n, 1);
	assert_string_equal(c->t[WEFT_XDS_LDS].acked_version, "1");

	/* a snapshot that changes only RDS does not push LDS */
	install(f, fake_snapshot(2, "l1=A;l2=B", "r1=R2", "c1=C;c2=D", "c1=E1;c2=E2"));
	assert_int_equal(f->cap.n, 1);

	/* a change of l1 pushes LDS with a fresh nonce */
	install(f, fake_snapshot(3, "l1=A3;l2=B", "r1=R2", "c1=C;c2=D", "c1=E1;c2=E2"));
	assert_int_equal(f->cap.n, 2);
	r = sotw_resp(&f->cap, 1);
	assert_string_equal(r->version_info, "3");
	assert_string_not_equal(r->nonce, nonce);
	char nonce2[24];
	strcpy(nonce2, r->nonce);
	envoy__service__discovery__v3__discovery_response__free_unpacked(r, NULL);

	/* stale nonce (the first one) is ignored, even with a new subscription */
	const char *names2[] = { "l1", "l2", NULL };
	assert_int_equal(sotw_req(c, LDS_URL, "1", nonce, NULL, names2), 0);
	assert_int_equal(f->cap.n, 2);
	assert_int_equal(c->t[WEFT_XDS_LDS].stale, 1);

	/* NACK of version 3 */
	assert_int_equal(sotw_req(c, LDS_URL, "1", nonce2, "bad listener", names), 0);
	assert_int_equal(f->cap.n, 2);
	assert_string_equal(c->t[WEFT_XDS_LDS].nacked_version, "3");
	assert_string_equal(c->t[WEFT_XDS_LDS].nack_msg, "bad listener");
	assert_string_equal(c->t[WEFT_XDS_LDS].acked_version, "1");
	assert_int_equal(c->t[WEFT_XDS_LDS].nacks, 1);

	/* subscription change with the current nonce triggers a response */
	assert_int_equal(sotw_req(c, LDS_URL, "1", nonce2, NULL, names2), 0);
	assert_int_equal(f->cap.n, 3);
	r = sotw_resp(&f->cap, 2);
	assert_int_equal(r->n_resources, 2);
	envoy__service__discovery__v3__discovery_response__free_unpacked(r, NULL);

	/* metrics show the NACK */
	weft_buf_t out;
	weft_buf_init(&out, 0);
	weft_metrics_render(&f->metrics, &out);
	weft_buf_append(&out, "", 1);
	assert_non_null(strstr((char *)weft_buf_head(&out), "weft_xds_nacks_total{type=\"LDS\"} 1\n"));
	weft_buf_free(&out);

	/* debug JSON carries the NACK message */
	weft_buf_init(&out, 0);
	assert_int_equal(weft_xds_server_debug_json(&f->srv, &out), 0);
	weft_buf_append(&out, "", 1);
	assert_non_null(strstr((char *)weft_buf_head(&out), "\"last_nack_message\":\"bad listener\""));
	assert_non_null(strstr((char *)weft_buf_head(&out), "\"node_id\":\"node-1\""));
	weft_buf_free(&out);
	weft_xds_client_free(c);
}

static void test_sotw_wildcard_and_empty(void **st)
{
	fx_t *f = *st;
	weft_xds_client_t *c = weft_xds_client_new(&f->srv, false, cap_sink, &f->cap, "t");

	/* empty CDS list = wildcard */
	assert_int_equal(sotw_req(c, CDS_URL, NULL, NULL, NULL, NULL), 0);
	Envoy__Service__Discovery__V3__DiscoveryResponse *r = sotw_resp(&f->cap, 0);
	assert_int_equal(r->n_resources, 2);
	envoy__service__discovery__v3__discovery_response__free_unpacked(r, NULL);
	assert_true(c->t[WEFT_XDS_CDS].wildcard);

	/* empty EDS list = nothing (an empty response to the first request) */
	assert_int_equal(sotw_req(c, EDS_URL, NULL, NULL, NULL, NULL), 0);
	r = sotw_resp(&f->cap, 1);
	assert_int_equal(r->n_resources, 0);
	envoy__service__discovery__v3__discovery_response__free_unpacked(r, NULL);
	assert_false(c->t[WEFT_XDS_EDS].wildcard);

	/* a deleted cluster: wildcard client gets the smaller set */
	install(f, fake_snapshot(2, "l1=A;l2=B", "r1=R", "c1=C", "c1=E1;c2=E2"));
	assert_int_equal(f->cap.n, 3);
	r = sotw_resp(&f->cap, 2);
	assert_int_equal(r->n_resources, 1);
	assert_string_equal(r->type_url, CDS_URL);
	envoy__service__discovery__v3__discovery_response__free_unpacked(r, NULL);
	weft_xds_client_free(c);
}

static void test_sotw_unknown_type_and_garbage(void **st)
{
	fx_t *f = *st;
	weft_xds_client_t *c = weft_xds_client_new(&f->srv, false, cap_sink, &f->cap, "t");

	assert_int_equal(sotw_req(c, "type.googleapis.com/no.Such", NULL, NULL, NULL, NULL), 0);
	assert_int_equal(f->cap.n, 0);
	assert_int_equal(c->unknown_types, 1);
	assert_string_equal(c->node_id, "node-1");
	/* undecodable bytes end the stream with INVALID_ARGUMENT */
	assert_int_equal(weft_xds_client_request(c, (const uint8_t *)"\xff\xff\xff", 3), 3);
	weft_xds_client_free(c);
}

static void test_sotw_no_snapshot_yet(void **st)
{
	weft_loop_t loop;
	weft_xds_server_t srv;
	weft_xds_server_opts_t o;
	capture_t cap = { 0 };
	const char *names[] = { "l1", NULL };

	weft_loop_init(&loop);
	weft_xds_server_opts_default(&o);
	weft_xds_server_init(&srv, &loop, NULL, &o);
	weft_xds_client_t *c = weft_xds_client_new(&srv, false, cap_sink, &cap, "t");
	assert_int_equal(sotw_req(c, LDS_URL, NULL, NULL, NULL, names), 0);
	assert_int_equal(cap.n, 0);
	weft_xds_snapshot_t *s = fake_snapshot(7, "l1=A", NULL, NULL, NULL);
	weft_xds_server_set_snapshot(&srv, s);   /* first one: installed at once */
	weft_xds_snapshot_unref(s);
	assert_int_equal(cap.n, 1);
	Envoy__Service__Discovery__V3__DiscoveryResponse *r = sotw_resp(&cap, 0);
	assert_string_equal(r->version_info, "7");
	envoy__service__discovery__v3__discovery_response__free_unpacked(r, NULL);
	cap_reset(&cap);
	weft_xds_server_destroy(&srv);
	weft_loop_destroy(&loop);
}

static void test_debounce_coalesces(void **st)
{
	fx_t *f = *st;
	weft_xds_client_t *c = weft_xds_client_new(&f->srv, false, cap_sink, &f->cap, "t");
	const char *names[] = { "l1", NULL };

	sotw_req(c, LDS_URL, NULL, NULL, NULL, names);
	assert_int_equal(f->cap.n, 1);
	f->srv.o.debounce_ms = 20;
	for (int g = 2; g < 6; g++) {
		char spec[32];
		snprintf(spec, sizeof(spec), "l1=V%d", g);
		weft_xds_snapshot_t *s = fake_snapshot((uint64_t)g, spec, NULL, NULL, NULL);
		weft_xds_server_set_snapshot(&f->srv, s);
		weft_xds_snapshot_unref(s);
	}
	assert_int_equal(f->cap.n, 1);   /* nothing until the debounce fires */
	for (int i = 0; i < 20 && f->cap.n < 2; i++)
		weft_loop_once(&f->loop, 50);
	assert_int_equal(f->cap.n, 2);
	Envoy__Service__Discovery__V3__DiscoveryResponse *r = sotw_resp(&f->cap, 1);
	assert_string_equal(r->version_info, "5");   /* the last of the burst */
	envoy__service__discovery__v3__discovery_response__free_unpacked(r, NULL);
	weft_xds_client_free(c);
}

static void test_delta(void **st)
{
	fx_t *f = *st;
	weft_xds_client_t *c = weft_xds_client_new(&f->srv, true, cap_sink, &f->cap, "d");
	const char *sub[] = { "c1", "c2", NULL };
	const char *initial[] = { "c1", "E1", NULL };

	/* subscribe with c1 already held at the current version */
	assert_int_equal(delta_req(c, EDS_URL, NULL, NULL, sub, NULL, initial), 0);
	assert_int_equal(f->cap.n, 1);
	Envoy__Service__Discovery__V3__DeltaDiscoveryResponse *r = delta_resp(&f->cap, 0);
	assert_int_equal(r->n_resources, 1);
	assert_string_equal(r->resources[0]->name, "c2");
	assert_string_equal(r->resources[0]->version, "E2");
	assert_string_equal(r->resources[0]->resource->type_url, EDS_URL);
	char nonce[24];
	strcpy(nonce, r->nonce);
	envoy__service__discovery__v3__delta_discovery_response__free_unpacked(r, NULL);

	/* ACK */
	assert_int_equal(delta_req(c, EDS_URL, nonce, NULL, NULL, NULL, NULL), 0);
	assert_int_equal(f->cap.n, 1);
	assert_int_equal(c->t[WEFT_XDS_EDS].acks, 1);

	/* c2 changes, c1 is deleted: only c2 sent, c1 removed */
	install(f, fake_snapshot(2, "l1=A;l2=B", "r1=R", "c1=C;c2=D", "c2=E2b"));
	assert_int_equal(f->cap.n, 2);
	r = delta_resp(&f->cap, 1);
	assert_int_equal(r->n_resources, 1);
	assert_string_equal(r->resources[0]->version, "E2b");
	assert_int_equal(r->n_removed_resources, 1);
	assert_string_equal(r->removed_resources[0], "c1");
	strcpy(nonce, r->nonce);
	envoy__service__discovery__v3__delta_discovery_response__free_unpacked(r, NULL);

	/* NACK recorded */
	assert_int_equal(delta_req(c, EDS_URL, nonce, "no good", NULL, NULL, NULL), 0);
	assert_int_equal(c->t[WEFT_XDS_EDS].nacks, 1);
	assert_string_equal(c->t[WEFT_XDS_EDS].nack_msg, "no good");

	/* unsubscribe c2: a later change of c2 sends nothing */
	const char *unsub[] = { "c2", NULL };
	assert_int_equal(delta_req(c, EDS_URL, NULL, NULL, NULL, unsub, NULL), 0);
	install(f, fake_snapshot(3, "l1=A;l2=B", "r1=R", "c1=C;c2=D", "c2=E2c"));
	assert_int_equal(f->cap.n, 2);

	/* re-subscribe c2: sent again */
	const char *sub2[] = { "c2", NULL };
	assert_int_equal(delta_req(c, EDS_URL, NULL, NULL, sub2, NULL, NULL), 0);
	assert_int_equal(f->cap.n, 3);
	r = delta_resp(&f->cap, 2);
	assert_int_equal(r->n_resources, 1);
	assert_string_equal(r->resources[0]->version, "E2c");
	envoy__service__discovery__v3__delta_discovery_response__free_unpacked(r, NULL);
	weft_xds_client_free(c);
}

static void test_delta_wildcard(void **st)
{
	fx_t *f = *st;
	weft_xds_client_t *c = weft_xds_client_new(&f->srv, true, cap_sink, &f->cap, "d");
	const char *star[] = { "*", NULL };

	/* empty first subscribe on CDS = wildcard */
	assert_int_equal(delta_req(c, CDS_URL, NULL, NULL, NULL, NULL, NULL), 0);
	Envoy__Service__Discovery__V3__DeltaDiscoveryResponse *r = delta_resp(&f->cap, 0);
	assert_int_equal(r->n_resources, 2);
	envoy__service__discovery__v3__delta_discovery_response__free_unpacked(r, NULL);
	/* explicit "*" on LDS */
	assert_int_equal(delta_req(c, LDS_URL, NULL, NULL, star, NULL, NULL), 0);
	r = delta_resp(&f->cap, 1);
	assert_int_equal(r->n_resources, 2);
	envoy__service__discovery__v3__delta_discovery_response__free_unpacked(r, NULL);
	/* an added cluster is sent alone */
	install(f, fake_snapshot(2, "l1=A;l2=B", "r1=R", "c1=C;c2=D;c3=F", "c1=E1;c2=E2"));
	assert_int_equal(f->cap.n, 3);
	r = delta_resp(&f->cap, 2);
	assert_int_equal(r->n_resources, 1);
	assert_string_equal(r->resources[0]->name, "c3");
	assert_int_equal(r->n_removed_resources, 0);
	envoy__service__discovery__v3__delta_discovery_response__free_unpacked(r, NULL);
	/* unknown type is ignored, stream kept */
	assert_int_equal(delta_req(c, "type.googleapis.com/x.Y", NULL, NULL, star, NULL, NULL), 0);
	assert_int_equal(f->cap.n, 3);
	weft_xds_client_free(c);
}

/* ---- agent types: per-node visibility ---- */

#define WL_URL "type.googleapis.com/weft.agent.v1.Workload"
#define SVC_URL "type.googleapis.com/weft.agent.v1.Service"
#define AZ_URL "type.googleapis.com/weft.agent.v1.Authorization"

/* Fills type t of s from "name=content@aud;..." where aud is "*"
 * (everyone), "" (nobody) or "n1,n2" (sorted). */
static void agent_type(weft_xds_snapshot_t *s, weft_xds_type_t t, const char *spec)
{
	char *dup = weft_arena_cstr(&s->arena, spec), *save = NULL;
	size_t n = 1;

	for (const char *p = spec; *p; p++)
		n += *p == ';';
	s->types[t].v = weft_arena_calloc(&s->arena, n, sizeof(weft_xds_resource_t));
	s->types[t].n = 0;
	for (char *tok = strtok_r(dup, ";", &save); tok; tok = strtok_r(NULL, ";", &save)) {
		weft_xds_resource_t *r = &s->types[t].v[s->types[t].n++];
		char *eq = strchr(tok, '='), *at = strchr(tok, '@'), *save2 = NULL;

		*eq = *at = '\0';
		r->name = weft_str_c(tok);
		r->version = weft_str_c(eq + 1);
		r->bytes = (const unsigned char *)(eq + 1);
		r->len = strlen(eq + 1);
		if (!strcmp(at + 1, "*"))
			continue;
		weft_str_t *a = weft_arena_calloc(&s->arena, 4, sizeof(*a));
		for (char *nd = strtok_r(at + 1, ",", &save2); nd; nd = strtok_r(NULL, ",", &save2))
			a[r->naudience++] = weft_str_c(nd);
		r->audience = a;
	}
}

/* A snapshot with the proxyless fixture's l1 and the given agent types. */
static weft_xds_snapshot_t *agent_snapshot(uint64_t gen, const char *wl, const char *svc, const char *az)
{
	weft_xds_snapshot_t *s = fake_snapshot(gen, "l1=A", NULL, NULL, NULL);

	agent_type(s, WEFT_XDS_WORKLOAD, wl);
	agent_type(s, WEFT_XDS_SERVICE, svc);
	agent_type(s, WEFT_XDS_AUTHZ, az);
	return s;
}

/* Names in a delta response, "+a +b -c", in order. */
static const char *delta_names(capture_t *c, int i, const char *url)
{
	static char buf[256];
	size_t o = 0;
	Envoy__Service__Discovery__V3__DeltaDiscoveryResponse *r = delta_resp(c, i);

	assert_non_null(r);
	assert_string_equal(r->type_url, url);
	buf[0] = '\0';
	for (size_t k = 0; k < r->n_resources; k++)
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s+%s", o ? " " : "", r->resources[k]->name);
	for (size_t k = 0; k < r->n_removed_resources; k++)
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s-%s", o ? " " : "", r->removed_resources[k]);
	envoy__service__discovery__v3__delta_discovery_response__free_unpacked(r, NULL);
	return buf;
}

static void test_agent_visibility(void **st)
{
	fx_t *f = *st;
	capture_t c1 = { 0 }, c2 = { 0 }, c0 = { 0 }, cs = { 0 };
	const char *star[] = { "*", NULL };
	weft_xds_client_t *n1, *n2, *anon, *sotw;

	f->srv.o.agent_plaintext = true;   /* node = node.id (as --agent-plaintext) */
	install(f, agent_snapshot(2, "shop/w=W1@n1;shop/x=X@n2;shop/y=Y@", "shop/s=S1@*",
				  "shop/p=P1@n1,n2;shop/q=Q@n2"));
	n1 = weft_xds_client_new(&f->srv, true, cap_sink, &c1, "n1");
	n2 = weft_xds_client_new(&f->srv, true, cap_sink, &c2, "n2");

	delta_node = "n1";
	assert_int_equal(delta_req(n1, WL_URL, NULL, NULL, star, NULL, NULL), 0);
	assert_string_equal(n1->node_auth, "n1");
	assert_string_equal(delta_names(&c1, 0, WL_URL), "+shop/w");
	assert_int_equal(delta_req(n1, SVC_URL, NULL, NULL, NULL, NULL, NULL), 0);   /* implicit wildcard */
	assert_string_equal(delta_names(&c1, 1, SVC_URL), "+shop/s");
	assert_int_equal(delta_req(n1, AZ_URL, NULL, NULL, star, NULL, NULL), 0);
	assert_string_equal(delta_names(&c1, 2, AZ_URL), "+shop/p");
	/* asking by name for another node's workload gives nothing */
	const char *other[] = { "shop/x", NULL };
	assert_int_equal(delta_req(n1, WL_URL, NULL, NULL, other, NULL, NULL), 0);
	assert_int_equal(c1.n, 3);
	/* proxyless types are unaffected */
	const char *l1[] = { "l1", NULL };
	assert_int_equal(delta_req(n1, LDS_URL, NULL, NULL, l1, NULL, NULL), 0);
	assert_int_equal(c1.n, 4);

	delta_node = "n2";
	assert_int_equal(delta_req(n2, WL_URL, NULL, NULL, star, NULL, NULL), 0);
	assert_string_equal(delta_names(&c2, 0, WL_URL), "+shop/x");
	assert_int_equal(delta_req(n2, AZ_URL, NULL, NULL, star, NULL, NULL), 0);
	assert_string_equal(delta_names(&c2, 1, AZ_URL), "+shop/p +shop/q");

	/* a client not authenticated as a node: agent types do not exist */
	f->srv.o.agent_plaintext = false;
	anon = weft_xds_client_new(&f->srv, true, cap_sink, &c0, "anon");
	delta_node = "n1";
	assert_int_equal(delta_req(anon, WL_URL, NULL, NULL, star, NULL, NULL), 0);
	assert_null(anon->node_auth);
	assert_int_equal(c0.n, 0);
	assert_int_equal(anon->unknown_types, 1);
	assert_false(anon->t[WEFT_XDS_WORKLOAD].active);
	f->srv.o.agent_plaintext = true;

	/* SotW, wildcard: only what n1 may see */
	sotw = weft_xds_client_new(&f->srv, false, cap_sink, &cs, "sotw");
	assert_int_equal(sotw_req(sotw, AZ_URL, NULL, NULL, NULL, NULL), 0);   /* node-1: in no audience */
	Envoy__Service__Discovery__V3__DiscoveryResponse *sr = sotw_resp(&cs, 0);
	assert_int_equal(sr->n_resources, 0);
	envoy__service__discovery__v3__discovery_response__free_unpacked(sr, NULL);
	assert_int_equal(sotw_req(sotw, SVC_URL, NULL, NULL, NULL, star), 0);
	sr = sotw_resp(&cs, 1);
	assert_int_equal(sr->n_resources, 1);
	envoy__service__discovery__v3__discovery_response__free_unpacked(sr, NULL);

	/* w moves from n1 to n2, q now also concerns n1: n1 gets w's removal
	 * and q, n2 gets w */
	install(f, agent_snapshot(3, "shop/w=W2@n2;shop/x=X@n2;shop/y=Y@", "shop/s=S1@*",
				  "shop/p=P1@n1,n2;shop/q=Q@n1,n2"));
	assert_int_equal(c1.n, 6);
	assert_string_equal(delta_names(&c1, 4, WL_URL), "-shop/w");
	assert_string_equal(delta_names(&c1, 5, AZ_URL), "+shop/q");
	assert_int_equal(c2.n, 3);
	assert_string_equal(delta_names(&c2, 2, WL_URL), "+shop/w");
	assert_int_equal(cs.n, 2);   /* nothing changed for node-1 */
	assert_int_equal(c0.n, 0);

	/* and back: n1 gets it again, n2 its removal */
	install(f, agent_snapshot(4, "shop/w=W2@n1;shop/x=X@n2;shop/y=Y@", "shop/s=S1@*",
				  "shop/p=P1@n1,n2;shop/q=Q@n1,n2"));
	assert_string_equal(delta_names(&c1, 6, WL_URL), "+shop/w");
	assert_string_equal(delta_names(&c2, 3, WL_URL), "-shop/w");

	/* debug JSON names the authenticated node */
	weft_buf_t out;
	weft_buf_init(&out, 0);
	assert_int_equal(weft_xds_server_debug_json(&f->srv, &out), 0);
	weft_buf_append(&out, "", 1);
	assert_non_null(strstr((char *)weft_buf_head(&out), "\"node_auth\":\"n2\""));
	weft_buf_free(&out);

	delta_node = NULL;
	weft_xds_client_free(n1);
	weft_xds_client_free(n2);
	weft_xds_client_free(anon);
	weft_xds_client_free(sotw);
	cap_reset(&c1);
	cap_reset(&c2);
	cap_reset(&c0);
	cap_reset(&cs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_sotw_subscribe_ack_nack, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sotw_wildcard_and_empty, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sotw_unknown_type_and_garbage, setup, teardown),
		cmocka_unit_test(test_sotw_no_snapshot_yet),
		cmocka_unit_test_setup_teardown(test_debounce_coalesces, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delta, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delta_wildcard, setup, teardown),
		cmocka_unit_test_setup_teardown(test_agent_visibility, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
