/* weft — the ADS server: snapshots, debounced pushes, client bookkeeping,
 * the gRPC glue and the debug views. The protocol state machines live in
 * xds_server_sotw.c and xds_server_delta.c. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "weft/buf.h"
#include "weft/grpc.h"
#include "weft/json.h"
#include "weft/log.h"
#include "weft/loop.h"
#include "weft/metrics.h"
#include "weft/tls-t.h"
#include "weft/xds.h"
#include "xds_server_int.h"

/* ---- string sets ---- */

void weft_xds_set_free(weft_xds_set_t *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->k[i]);
		free(s->v[i]);
	}
	free(s->k);
	free(s->v);
	memset(s, 0, sizeof(*s));
}

/* Lower bound: first index whose key is >= name. */
static size_t set_lb(const weft_xds_set_t *s, const char *name)
{
	size_t lo = 0, hi = s->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (strcmp(s->k[mid], name) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

long weft_xds_set_find(const weft_xds_set_t *s, const char *name)
{
	size_t i = set_lb(s, name);

	return i < s->n && !strcmp(s->k[i], name) ? (long)i : -1;
}

int weft_xds_set_put(weft_xds_set_t *s, const char *name, const char *value)
{
	size_t i = set_lb(s, name);
	char *k, *v = NULL;

	if (value && !(v = strdup(value)))
		return WEFT_ENOMEM;
	if (i < s->n && !strcmp(s->k[i], name)) {
		free(s->v[i]);
		s->v[i] = v;
		return 0;
	}
	if (s->n == s->cap) {
		size_t nc = s->cap ? s->cap * 2 : 8;
		char **nk = realloc(s->k, nc * sizeof(*nk)), **nv;
		if (!nk) {
			free(v);
			return WEFT_ENOMEM;
		}
		s->k = nk;
		nv = realloc(s->v, nc * sizeof(*nv));
		if (!nv) {
			free(v);
			return WEFT_ENOMEM;
		}
		s->v = nv;
		s->cap = nc;
	}
	if (!(k = strdup(name))) {
		free(v);
		return WEFT_ENOMEM;
	}
	memmove(s->k + i + 1, s->k + i, (s->n - i) * sizeof(*s->k));
	memmove(s->v + i + 1, s->v + i, (s->n - i) * sizeof(*s->v));
	s->k[i] = k;
	s->v[i] = v;
	s->n++;
	return 1;
}

int weft_xds_set_del(weft_xds_set_t *s, const char *name)
{
	long i = weft_xds_set_find(s, name);

	if (i < 0)
		return 0;
	free(s->k[i]);
	free(s->v[i]);
	memmove(s->k + i, s->k + i + 1, (s->n - (size_t)i - 1) * sizeof(*s->k));
	memmove(s->v + i, s->v + i + 1, (s->n - (size_t)i - 1) * sizeof(*s->v));
	s->n--;
	return 1;
}

/* ---- server ---- */

void weft_xds_server_opts_default(weft_xds_server_opts_t *o)
{
	o->debounce_ms = 100;
	o->max_names = 100000;
	o->agent_plaintext = false;
}

static void debounce_cb(weft_loop_t *l, weft_timer_t *t)
{
	weft_xds_server_flush(t->data);
}

int weft_xds_server_init(weft_xds_server_t *srv, weft_loop_t *loop, weft_metrics_t *metrics,
			 const weft_xds_server_opts_t *o)
{
	static const double dur_bounds[] = { 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
					     0.1, 0.25, 0.5, 1, 2.5 };

	memset(srv, 0, sizeof(*srv));
	srv->loop = loop;
	srv->o = *o;
	weft_timer_init(&srv->debounce, debounce_cb, srv);
	if (!metrics)
		return WEFT_OK;
	srv->m_pushes = weft_metrics_counter(metrics, "weft_xds_pushes_total",
					     "xDS responses sent to clients, by resource type", "type");
	srv->m_push_dur = weft_metrics_histogram(metrics, "weft_xds_push_duration_seconds",
						 "Time from installing a snapshot to every client's responses being queued",
						 NULL, dur_bounds, sizeof(dur_bounds) / sizeof(dur_bounds[0]));
	srv->m_clients = weft_metrics_gauge(metrics, "weft_xds_connected_clients",
					    "ADS streams currently open", NULL);
	srv->m_nacks = weft_metrics_counter(metrics, "weft_xds_nacks_total",
					    "xDS responses rejected by clients, by resource type", "type");
	if (!srv->m_pushes || !srv->m_push_dur || !srv->m_clients || !srv->m_nacks)
		return WEFT_ENOMEM;
	for (int t = 0; t < WEFT_XDS_NTYPES; t++) {
		weft_metric_with(srv->m_pushes, weft_xds_type_name(t));
		weft_metric_with(srv->m_nacks, weft_xds_type_name(t));
	}
	return WEFT_OK;
}

void weft_xds_server_destroy(weft_xds_server_t *srv)
{
	weft_timer_stop(srv->loop, &srv->debounce);
	while (srv->clients)
		weft_xds_client_free(srv->clients);
	weft_xds_snapshot_unref(srv->snap);
	weft_xds_snapshot_unref(srv->pending);
	srv->snap = srv->pending = NULL;
}

void weft_xds_nonce(weft_xds_server_t *srv, char out[24])
{
	snprintf(out, 24, "%" PRIu64, ++srv->next_nonce);
}

void weft_xds_count_push(weft_xds_server_t *srv, weft_xds_type_t t)
{
	weft_series_inc(weft_metric_with(srv->m_pushes, weft_xds_type_name(t)));
}

static void push_client(weft_xds_client_t *c)
{
	for (int t = 0; t < WEFT_XDS_NTYPES; t++) {
		if (!c->t[t].active)
			continue;
		if (c->delta)
			weft_xds_delta_push(c, (weft_xds_type_t)t, false);
		else
			weft_xds_sotw_push(c, (weft_xds_type_t)t, false);
	}
}

static double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void weft_xds_server_flush(weft_xds_server_t *srv)
{
	double t0;

	weft_timer_stop(srv->loop, &srv->debounce);
	if (!srv->pending)
		return;
	t0 = mono_s();
	weft_xds_snapshot_unref(srv->snap);
	srv->snap = srv->pending;
	srv->pending = NULL;
	srv->pushes++;
	weft_info("xds", "installing snapshot generation %" PRIu64 " for %zu clients",
		  srv->snap->generation, srv->nclients);
	/* a client's sink never frees clients synchronously (closing is
	 * deferred by the gRPC layer), so plain iteration is safe */
	for (weft_xds_client_t *c = srv->clients; c; c = c->next)
		push_client(c);
	weft_series_observe(weft_metric_with(srv->m_push_dur), mono_s() - t0);
}

void weft_xds_server_set_snapshot(weft_xds_server_t *srv, weft_xds_snapshot_t *snap)
{
	if (!snap)
		return;
	weft_xds_snapshot_ref(snap);
	weft_xds_snapshot_unref(srv->pending);
	srv->pending = snap;
	if (!srv->snap || srv->o.debounce_ms == 0) {
		weft_xds_server_flush(srv);
		return;
	}
	if (!weft_timer_active(&srv->debounce))
		weft_timer_start(srv->loop, &srv->debounce, srv->o.debounce_ms);
}

/* ---- clients ---- */

weft_xds_client_t *weft_xds_client_new(weft_xds_server_t *srv, bool delta, weft_xds_sink_fn send,
				       void *sink, const char *name)
{
	weft_xds_client_t *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->srv = srv;
	c->id = ++srv->next_client_id;
	c->delta = delta;
	c->send = send;
	c->sink = sink;
	c->since = time(NULL);
	snprintf(c->name, sizeof(c->name), "%s", name ? name : "xds");
	c->next = srv->clients;
	if (c->next)
		c->next->prev = c;
	srv->clients = c;
	srv->nclients++;
	weft_series_set(weft_metric_with(srv->m_clients), (double)srv->nclients);
	return c;
}

void weft_xds_client_free(weft_xds_client_t *c)
{
	weft_xds_server_t *srv = c->srv;

	if (c->prev)
		c->prev->next = c->next;
	else
		srv->clients = c->next;
	if (c->next)
		c->next->prev = c->prev;
	srv->nclients--;
	weft_series_set(weft_metric_with(srv->m_clients), (double)srv->nclients);
	for (int t = 0; t < WEFT_XDS_NTYPES; t++) {
		weft_xds_set_free(&c->t[t].subs);
		weft_xds_set_free(&c->t[t].known);
		free(c->t[t].nack_msg);
	}
	free(c->node_id);
	free(c->node_auth);
	free(c->user_agent);
	free(c);
}

int weft_xds_client_request(weft_xds_client_t *c, const uint8_t *p, size_t n)
{
	return c->delta ? weft_xds_delta_request(c, p, n) : weft_xds_sotw_request(c, p, n);
}

void weft_xds_note_node(weft_xds_client_t *c, const Envoy__Config__Core__V3__Node *node)
{
	if (!node || c->node_id)
		return;
	c->node_id = strdup(node->id ? node->id : "");
	if (!c->node_auth && c->srv->o.agent_plaintext && node->id && *node->id) {
		c->node_auth = strdup(node->id);
		weft_warn(c->name, "agent types for node %.60s on trust of its request (--agent-plaintext: "
			  "tests only)", node->id);
	}
	if (node->user_agent_name && *node->user_agent_name) {
		const char *ver = node->user_agent_version_type_case ==
				  ENVOY__CONFIG__CORE__V3__NODE__USER_AGENT_VERSION_TYPE_USER_AGENT_VERSION
				  ? node->user_agent_version : "";
		size_t len = strlen(node->user_agent_name) + strlen(ver ? ver : "") + 2;
		c->user_agent = malloc(len);
		if (c->user_agent)
			snprintf(c->user_agent, len, "%s%s%s", node->user_agent_name,
				 ver && *ver ? "/" : "", ver ? ver : "");
	}
	if (c->node_id) {
		char nm[sizeof(c->name) + 64];
		snprintf(nm, sizeof(nm), "%s node=%.40s", c->name, c->node_id);
		nm[sizeof(c->name) - 1] = '\0';
		memcpy(c->name, nm, sizeof(c->name));
	}
}

void weft_xds_ack(weft_xds_client_t *c, weft_xds_type_t t, const Google__Rpc__Status *err)
{
	weft_xds_tstate_t *ts = &c->t[t];

	if (err) {
		const char *msg = err->message ? err->message : "";
		ts->nacks++;
		memcpy(ts->nacked_version, ts->sent_version, sizeof(ts->nacked_version));
		free(ts->nack_msg);
		ts->nack_msg = strndup(msg, 4096);
		weft_series_inc(weft_metric_with(c->srv->m_nacks, weft_xds_type_name(t)));
		weft_warn(c->name, "NACK %s version %s from node %s: %s", weft_xds_type_name(t),
			  ts->sent_version, c->node_id ? c->node_id : "?", msg);
	} else {
		ts->acks++;
		memcpy(ts->acked_version, ts->sent_version, sizeof(ts->acked_version));
		weft_debug(c->name, "ACK %s version %s", weft_xds_type_name(t), ts->sent_version);
	}
}

/* ---- gRPC glue ---- */

/* The node a call's peer certificate names (malloc()ed), or NULL when the
 * peer is not a node (plaintext, a workload, the control plane). The one
 * place that decides who a client is. */
static char *call_node_auth(const weft_grpc_call_t *call)
{
	const weft_spiffe_id_t *id = weft_grpc_call_peer(call);

	if (!id || id->kind != WEFT_ID_NODE || !id->node[0])
		return NULL;
	return strdup(id->node);
}

static int sink_grpc(void *sink, const ProtobufCMessage *msg)
{
	return weft_grpc_send_pb(sink, msg);
}

static int open_common(weft_grpc_call_t *call, bool delta)
{
	weft_xds_server_t *srv = call->m->ctx;
	weft_xds_client_t *c = weft_xds_client_new(srv, delta, sink_grpc, call, call->name);

	if (!c)
		return WEFT_GRPC_RESOURCE_EXHAUSTED;
	call->user = c;
	c->node_auth = call_node_auth(call);
	weft_info(c->name, "ADS stream opened (%s)%s%s", delta ? "delta" : "sotw",
		  c->node_auth ? " by node " : "", c->node_auth ? c->node_auth : "");
	return 0;
}

static int open_sotw(weft_grpc_call_t *call) { return open_common(call, false); }
static int open_delta(weft_grpc_call_t *call) { return open_common(call, true); }

static int on_message(weft_grpc_call_t *call, const uint8_t *p, size_t n)
{
	return weft_xds_client_request(call->user, p, n);
}

static void on_half_close(weft_grpc_call_t *call)
{
	weft_grpc_finish(call, WEFT_GRPC_OK, NULL);
}

static void on_close(weft_grpc_call_t *call)
{
	weft_xds_client_t *c = call->user;

	if (!c)
		return;
	weft_info(c->name, "ADS stream closed");
	weft_xds_client_free(c);
	call->user = NULL;
}

int weft_xds_server_register(weft_xds_server_t *srv, weft_grpc_server_t *grpc)
{
	weft_grpc_method_t sotw = { WEFT_ADS_SOTW_PATH, srv, open_sotw, on_message, on_half_close, on_close };
	weft_grpc_method_t delta = { WEFT_ADS_DELTA_PATH, srv, open_delta, on_message, on_half_close, on_close };

	if (weft_grpc_server_add(grpc, &sotw) < 0 || weft_grpc_server_add(grpc, &delta) < 0)
		return WEFT_ELIMIT;
	return WEFT_OK;
}

/* ---- debug views ---- */

static int json_kv_str(weft_buf_t *o, const char *k, const char *v, bool comma)
{
	return weft_buf_printf(o, "%s\"%s\":", comma ? "," : "", k) || weft_json_cstr(o, v);
}

int weft_xds_server_debug_json(const weft_xds_server_t *srv, weft_buf_t *o)
{
	bool first = true;

	if (weft_buf_append(o, "[", 1))
		return -1;
	for (const weft_xds_client_t *c = srv->clients; c; c = c->next) {
		char since[32];
		struct tm tm;
		gmtime_r(&c->since, &tm);
		strftime(since, sizeof(since), "%Y-%m-%dT%H:%M:%SZ", &tm);
		if (weft_buf_printf(o, "%s{\"id\":%" PRIu64, first ? "" : ",", c->id) ||
		    json_kv_str(o, "node_id", c->node_id ? c->node_id : "", true) ||
		    json_kv_str(o, "node_auth", c->node_auth ? c->node_auth : "", true) ||
		    json_kv_str(o, "user_agent", c->user_agent ? c->user_agent : "", true) ||
		    json_kv_str(o, "stream", c->delta ? "delta" : "sotw", true) ||
		    json_kv_str(o, "connected_since", since, true) ||
		    weft_buf_printf(o, ",\"unknown_type_requests\":%" PRIu64 ",\"types\":{",
				    c->unknown_types))
			return -1;
		first = false;
		bool tfirst = true;
		for (int t = 0; t < WEFT_XDS_NTYPES; t++) {
			const weft_xds_tstate_t *ts = &c->t[t];
			if (!ts->active)
				continue;
			if (weft_buf_printf(o, "%s\"%s\":{\"wildcard\":%s,\"subscriptions\":[",
					    tfirst ? "" : ",", weft_xds_type_name(t),
					    ts->wildcard ? "true" : "false"))
				return -1;
			tfirst = false;
			for (size_t i = 0; i < ts->subs.n; i++)
				if ((i && weft_buf_append(o, ",", 1)) || weft_json_cstr(o, ts->subs.k[i]))
					return -1;
			if (weft_buf_append(o, "]", 1) ||
			    json_kv_str(o, "last_sent_version", ts->sent_version, true) ||
			    json_kv_str(o, "last_acked_version", ts->acked_version, true) ||
			    json_kv_str(o, "last_nacked_version", ts->nacked_version, true) ||
			    json_kv_str(o, "last_nack_message", ts->nack_msg, true) ||
			    weft_buf_printf(o, ",\"requests\":%" PRIu64 ",\"responses\":%" PRIu64
					    ",\"acks\":%" PRIu64 ",\"nacks\":%" PRIu64 ",\"stale_nonces\":%" PRIu64 "}",
					    ts->requests, ts->responses, ts->acks, ts->nacks, ts->stale))
				return -1;
		}
		if (weft_buf_printf(o, "}}"))
			return -1;
	}
	return weft_buf_printf(o, "]\n");
}

int weft_xds_server_debug_text(const weft_xds_server_t *srv, weft_buf_t *o)
{
	if (weft_buf_printf(o, "%-28s %-6s %-4s %6s %-10s %s\n", "NODE", "STREAM", "TYPE", "SUBS",
			    "ACKED", "NACKED"))
		return -1;
	for (const weft_xds_client_t *c = srv->clients; c; c = c->next) {
		bool any = false;
		for (int t = 0; t < WEFT_XDS_NTYPES; t++) {
			const weft_xds_tstate_t *ts = &c->t[t];
			char subs[24];
			if (!ts->active)
				continue;
			any = true;
			if (ts->wildcard)
				snprintf(subs, sizeof(subs), "*%s%zu", ts->subs.n ? "+" : "", ts->subs.n);
			else
				snprintf(subs, sizeof(subs), "%zu", ts->subs.n);
			if (weft_buf_printf(o, "%-28.28s %-6s %-4s %6s %-10s %s%s%s%s\n",
					    c->node_id && *c->node_id ? c->node_id : "?",
					    c->delta ? "delta" : "sotw", weft_xds_type_name(t), subs,
					    *ts->acked_version ? ts->acked_version : "-",
					    *ts->nacked_version ? ts->nacked_version : "-",
					    ts->nack_msg ? " (" : "", ts->nack_msg ? ts->nack_msg : "",
					    ts->nack_msg ? ")" : ""))
				return -1;
		}
		if (!any && weft_buf_printf(o, "%-28.28s %-6s %-4s %6s %-10s %s\n",
					    c->node_id && *c->node_id ? c->node_id : "?",
					    c->delta ? "delta" : "sotw", "-", "-", "-", "-"))
			return -1;
	}
	return 0;
}
