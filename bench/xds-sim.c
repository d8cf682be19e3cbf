/* weft — xds-sim: many proxyless-gRPC-like ADS clients in one process, for
 * the control-plane scale benchmark (bench/run-xds-bench.sh).
 *
 * One epoll loop (weft's own), N clients, each with its own TCP connection
 * to 127.0.0.0/8 and one HTTP/2 stream (nghttp2 client API) carrying the
 * state-of-the-world ADS RPC
 * /envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources.
 *
 * Each client behaves like gRPC's xDS client:
 *   - subscribes to LDS for K listener names ("hot" ones shared by every
 *     client first, then random ones from --listeners);
 *   - ACKs every response (version_info + response_nonce, same names);
 *   - follows references: Listener -> api_listener -> HttpConnectionManager
 *     -> rds.route_config_name (RDS); RouteConfiguration -> routes ->
 *     cluster / weighted_clusters (CDS); Cluster -> eds_cluster_config
 *     .service_name or the cluster name (EDS), and (re)subscribes when the
 *     referenced set changes.
 * The four resource messages are not in api/ (only the discovery envelope
 * is), so they are read with a small protobuf wire walker below, by the
 * upstream field numbers; nothing is inferred from name conventions.
 *
 * Phases: SYNC (until every client has every subscribed resource of the
 * four types, each ACKed), then WAIT (--ready-file written; waits for
 * --trigger-file, which holds the CLOCK_MONOTONIC ns of the config change),
 * then CHANGE (until every synced client has ACKed an EDS response whose
 * content differs from what it had). A changed EDS resource ACKed any time
 * after SYNC counts, so a push that beats the trigger file is not lost.
 * Prints one JSON object on stdout and exits; --max-time bounds the run. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <nghttp2/nghttp2.h>
#include "envoy/service/discovery/v3/discovery.pb-c.h"
#include "weft/buf.h"
#include "weft/loop.h"

enum { T_LDS, T_RDS, T_CDS, T_EDS, T_N };

static const char *const type_urls[T_N] = {
	"type.googleapis.com/envoy.config.listener.v3.Listener",
	"type.googleapis.com/envoy.config.route.v3.RouteConfiguration",
	"type.googleapis.com/envoy.config.cluster.v3.Cluster",
	"type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment",
};
static const char *const type_names[T_N] = { "LDS", "RDS", "CDS", "EDS" };
#define RESOURCE_WRAPPER_URL "type.googleapis.com/envoy.service.discovery.v3.Resource"
#define ADS_PATH "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources"
#define ADS_DELTA_PATH "/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources"
#define MAX_MSG (64u << 20)
#define H2_WINDOW (16 << 20)

/* One resource a client holds: its name, a hash of its bytes, and the names
 * of the next type it references. */
typedef struct res {
	char *name;
	uint64_t hash;
	size_t nrefs;
	char **refs;
} res_t;

typedef struct tstate {
	size_t nsubs;
	char **subs;          /* subscribed names, sorted, unique */
	size_t nres;
	res_t *res;
	char *version;        /* of the last response (ACKed) */
	char *nonce;
	unsigned responses;
	size_t nwire;
	char **wire;          /* delta: the names subscribed on the stream so far */
} tstate_t;

enum cstate { C_IDLE, C_CONNECTING, C_OPEN, C_DEAD };

struct sim;

typedef struct client {
	struct sim *sim;
	unsigned id;
	enum cstate state;
	int fd;
	weft_io_t io;
	nghttp2_session *h2;
	int32_t sid;
	bool deferred;        /* the request body provider returned DEFERRED */
	bool sent_node;
	weft_buf_t tx;        /* gRPC-framed requests not yet handed to nghttp2 */
	weft_buf_t rx;        /* response DATA not yet split into messages */
	tstate_t t[T_N];
	size_t nlisteners;
	char **listeners;
	uint64_t t_start_ns;  /* connect() called */
	uint64_t t_sync_ns;   /* 0 until synced */
	uint64_t t_change_ns; /* 0 until a changed EDS resource was ACKed after SYNC */
	char why[128];        /* why it died */
} client_t;

enum phase { P_SYNC, P_WAIT, P_CHANGE, P_DONE };

typedef struct sim_opts {
	const char *addr;
	int port;
	unsigned nclients;
	unsigned per_client;
	unsigned hot;
	unsigned ramp;            /* connects per millisecond tick */
	unsigned seed;
	const char *listeners_file;
	const char *ready_file;
	const char *trigger_file;
	const char *out_file;
	unsigned sync_timeout_s;
	unsigned trigger_timeout_s;
	unsigned change_timeout_s;
	unsigned max_time_s;
	bool verbose;
	bool delta;               /* DeltaAggregatedResources instead of SotW */
} sim_opts_t;

typedef struct sim {
	sim_opts_t o;
	weft_loop_t loop;
	struct sockaddr_in sa;
	size_t nnames;
	char **names;             /* lines of --listeners */
	client_t *clients;
	unsigned next_connect;
	enum phase phase;
	uint64_t t_begin_ns, t_phase_ns, t_trigger_ns, t_sync_done_ns;
	bool triggered;
	weft_timer_t tick;        /* ramp + phase checks, every millisecond */
	uint64_t rng;
	/* counters */
	unsigned nsynced, nchanged, ndead, nconnected;
	unsigned long responses[T_N], resources[T_N], acks, requests;
	unsigned long unchanged_responses;   /* response that changed nothing */
	unsigned long decode_errors, unknown_types, compressed, inline_routes;
	unsigned long long rx_bytes;
	char first_error[256];
} sim_t;

/* ---- small helpers ---- */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void *xcalloc(size_t n, size_t sz)
{
	void *p = calloc(n ? n : 1, sz ? sz : 1);

	if (!p) {
		fprintf(stderr, "xds-sim: out of memory\n");
		exit(2);
	}
	return p;
}

static char *xstrndup(const char *s, size_t n)
{
	char *p = xcalloc(1, n + 1);

	memcpy(p, s, n);
	return p;
}

static uint64_t fnv1a(const uint8_t *p, size_t n)
{
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return h;
}

static uint64_t rng_next(sim_t *s)
{
	s->rng ^= s->rng << 13;
	s->rng ^= s->rng >> 7;
	s->rng ^= s->rng << 17;
	return s->rng;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorts names and drops duplicates (freeing them). Returns the new count. */
static size_t names_sort_unique(char **v, size_t n)
{
	size_t o = 0;

	qsort(v, n, sizeof(*v), cmp_str);
	for (size_t i = 0; i < n; i++) {
		if (o && !strcmp(v[o - 1], v[i])) {
			free(v[i]);
			continue;
		}
		v[o++] = v[i];
	}
	return o;
}

static bool names_equal(char *const *a, size_t na, char *const *b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (strcmp(a[i], b[i]))
			return false;
	return true;
}

static void names_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void res_clear(res_t *r)
{
	free(r->name);
	names_free(r->refs, r->nrefs);
	memset(r, 0, sizeof(*r));
}

static res_t *res_find(tstate_t *ts, const char *name)
{
	for (size_t i = 0; i < ts->nres; i++)
		if (!strcmp(ts->res[i].name, name))
			return &ts->res[i];
	return NULL;
}

/* Keeps the first error seen, for the report. */
static void set_error(sim_t *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_error(sim_t *s, const char *fmt, ...)
{
	va_list ap;

	if (s->first_error[0])
		return;
	va_start(ap, fmt);
	vsnprintf(s->first_error, sizeof(s->first_error), fmt, ap);
	va_end(ap);
}

/* ---- protobuf wire walker (for the resource messages not in api/) ---- */

typedef struct pbr {
	const uint8_t *p, *end;
} pbr_t;

typedef struct pbf {
	uint32_t field;
	uint32_t wire;
	uint64_t v;            /* varint value */
	const uint8_t *data;   /* wire type 2: payload */
	size_t len;
} pbf_t;

static int pb_varint(pbr_t *r, uint64_t *v)
{
	*v = 0;
	for (unsigned shift = 0; shift < 64; shift += 7) {
		if (r->p >= r->end)
			return -1;
		uint8_t b = *r->p++;
		*v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return 0;
	}
	return -1;
}

/* Reads the next field of a message. Returns 1 with *f filled, 0 at the end
 * of the message, -1 when the bytes are malformed. */
static int pb_next(pbr_t *r, pbf_t *f)
{
	uint64_t key, n;

	if (r->p >= r->end)
		return 0;
	if (pb_varint(r, &key) < 0)
		return -1;
	f->field = (uint32_t)(key >> 3);
	f->wire = key & 7;
	f->data = NULL;
	f->len = 0;
	switch (f->wire) {
	case 0:
		return pb_varint(r, &f->v) < 0 ? -1 : 1;
	case 1:
		if (r->end - r->p < 8)
			return -1;
		r->p += 8;
		return 1;
	case 5:
		if (r->end - r->p < 4)
			return -1;
		r->p += 4;
		return 1;
	case 2:
		if (pb_varint(r, &n) < 0 || n > (uint64_t)(r->end - r->p))
			return -1;
		f->data = r->p;
		f->len = (size_t)n;
		r->p += n;
		return 1;
	default:
		return -1;
	}
}

/* Finds the first length-delimited field number `field` of a message.
 * Returns 1 with (*data, *len), 0 when absent, -1 when malformed. */
static int pb_get(const uint8_t *p, size_t n, uint32_t field, const uint8_t **data, size_t *len)
{
	pbr_t r = { p, p + n };
	pbf_t f;
	int rc;

	while ((rc = pb_next(&r, &f)) > 0)
		if (f.field == field && f.wire == 2) {
			*data = f.data;
			*len = f.len;
			return 1;
		}
	return rc;
}

typedef struct refs {
	size_t n, cap;
	char **v;
} refs_t;

static void refs_add(refs_t *rf, const uint8_t *p, size_t n)
{
	if (rf->n == rf->cap) {
		rf->cap = rf->cap ? rf->cap * 2 : 4;
		rf->v = realloc(rf->v, rf->cap * sizeof(*rf->v));
		if (!rf->v) {
			fprintf(stderr, "xds-sim: out of memory\n");
			exit(2);
		}
	}
	rf->v[rf->n++] = xstrndup((const char *)p, n);
}

/* Listener: api_listener(19).api_listener(1) is an Any whose value(2) is an
 * HttpConnectionManager: rds(3).route_config_name(2). Returns 0, or 1 when
 * the route configuration is inline (route_config, 4): nothing to follow,
 * or -1 when malformed. */
static int refs_listener(const uint8_t *p, size_t n, refs_t *rf)
{
	const uint8_t *al, *any, *hcm, *rds, *name;
	size_t lal, lany, lhcm, lrds, lname;

	if (pb_get(p, n, 19, &al, &lal) <= 0)
		return 0;
	if (pb_get(al, lal, 1, &any, &lany) <= 0 || pb_get(any, lany, 2, &hcm, &lhcm) <= 0)
		return -1;
	if (pb_get(hcm, lhcm, 3, &rds, &lrds) > 0) {
		if (pb_get(rds, lrds, 2, &name, &lname) > 0)
			refs_add(rf, name, lname);
		return 0;
	}
	return pb_get(hcm, lhcm, 4, &rds, &lrds) > 0 ? 1 : 0;
}

/* RouteConfiguration: virtual_hosts(2).routes(3).route(2) = RouteAction:
 * cluster(1) or weighted_clusters(3).clusters(1).name(1). */
static int refs_route_config(const uint8_t *p, size_t n, refs_t *rf)
{
	pbr_t vr = { p, p + n };
	pbf_t vf;
	int rc;

	while ((rc = pb_next(&vr, &vf)) > 0) {
		if (vf.field != 2 || vf.wire != 2)
			continue;
		pbr_t rr = { vf.data, vf.data + vf.len };
		pbf_t rf2;
		while ((rc = pb_next(&rr, &rf2)) > 0) {
			const uint8_t *act, *x;
			size_t lact, lx;
			if (rf2.field != 3 || rf2.wire != 2)
				continue;
			if (pb_get(rf2.data, rf2.len, 2, &act, &lact) <= 0)
				continue;   /* redirect or direct response: no cluster */
			if (pb_get(act, lact, 1, &x, &lx) > 0) {
				refs_add(rf, x, lx);
			} else if (pb_get(act, lact, 3, &x, &lx) > 0) {
				pbr_t wr = { x, x + lx };
				pbf_t wf;
				while (pb_next(&wr, &wf) > 0) {
					const uint8_t *cn;
					size_t lcn;
					if (wf.field == 1 && wf.wire == 2 &&
					    pb_get(wf.data, wf.len, 1, &cn, &lcn) > 0)
						refs_add(rf, cn, lcn);
				}
			}
		}
		if (rc < 0)
			return -1;
	}
	return rc;
}

/* Cluster: type(2) EDS = 3 or eds_cluster_config(3) present: EDS name is
 * eds_cluster_config.service_name(2), or the cluster name when empty. */
static int refs_cluster(const uint8_t *p, size_t n, const char *name, refs_t *rf)
{
	pbr_t r = { p, p + n };
	pbf_t f;
	bool eds = false;
	const uint8_t *svc = NULL;
	size_t lsvc = 0;
	int rc;

	while ((rc = pb_next(&r, &f)) > 0) {
		if (f.field == 2 && f.wire == 0 && f.v == 3)
			eds = true;
		if (f.field == 3 && f.wire == 2) {
			eds = true;
			if (pb_get(f.data, f.len, 2, &svc, &lsvc) <= 0)
				svc = NULL;
		}
	}
	if (rc < 0)
		return -1;
	if (eds) {
		if (svc && lsvc)
			refs_add(rf, svc, lsvc);
		else
			refs_add(rf, (const uint8_t *)name, strlen(name));
	}
	return 0;
}

/* ---- requests ---- */

static void client_kill(client_t *c, const char *why, const char *detail);

/* Appends one message as a gRPC frame to the request body and wakes it. */
static void queue_msg(client_t *c, const ProtobufCMessage *m)
{
	size_t len = protobuf_c_message_get_packed_size(m);
	uint8_t hdr[5] = { 0, (uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8), (uint8_t)len };

	if (weft_buf_append(&c->tx, hdr, 5) < 0 || weft_buf_reserve(&c->tx, len) < 0) {
		client_kill(c, "tx buffer", "");
		return;
	}
	protobuf_c_message_pack(m, c->tx.data + c->tx.wr);
	c->tx.wr += len;
	c->sim->requests++;
	if (c->deferred) {
		c->deferred = false;
		nghttp2_session_resume_data(c->h2, c->sid);
	}
}

/* Names of a (sorted) that are not in b (sorted), borrowed. Returns the count. */
static size_t names_minus(char **a, size_t na, char **b, size_t nb, char **out)
{
	size_t n = 0, j = 0;

	for (size_t i = 0; i < na; i++) {
		while (j < nb && strcmp(b[j], a[i]) < 0)
			j++;
		if (j < nb && !strcmp(b[j], a[i]))
			continue;
		out[n++] = a[i];
	}
	return n;
}

/* Queues the request for type t. SotW: one DiscoveryRequest with the
 * current names, version and nonce of that type (empty before the first
 * response); an ACK and a subscription change look the same. Delta: an ACK
 * (ack) carries only the nonce; otherwise the difference between the wanted
 * names and those already subscribed on the stream (nothing is sent when
 * there is none). Node goes in the first request of the stream only. */
static void send_request(client_t *c, int t, bool ack)
{
	Envoy__Config__Core__V3__Node node = ENVOY__CONFIG__CORE__V3__NODE__INIT;
	Envoy__Config__Core__V3__Node *np = NULL;
	tstate_t *ts = &c->t[t];
	char id[64];

	if (c->state != C_OPEN)
		return;
	if (!c->sent_node) {
		snprintf(id, sizeof(id), "weft-xds-sim-%u", c->id);
		node.id = id;
		node.cluster = "weft-bench";
		node.user_agent_name = "weft-xds-sim";
		np = &node;
	}
	if (!c->sim->o.delta) {
		Envoy__Service__Discovery__V3__DiscoveryRequest rq = ENVOY__SERVICE__DISCOVERY__V3__DISCOVERY_REQUEST__INIT;
		rq.node = np;
		rq.type_url = (char *)type_urls[t];
		rq.version_info = ts->version ? ts->version : "";
		rq.response_nonce = ts->nonce ? ts->nonce : "";
		rq.n_resource_names = ts->nsubs;
		rq.resource_names = ts->subs;
		queue_msg(c, &rq.base);
		c->sent_node = true;
		return;
	}
	Envoy__Service__Discovery__V3__DeltaDiscoveryRequest dq = ENVOY__SERVICE__DISCOVERY__V3__DELTA_DISCOVERY_REQUEST__INIT;
	dq.node = np;
	dq.type_url = (char *)type_urls[t];
	if (ack) {
		dq.response_nonce = ts->nonce ? ts->nonce : "";
		queue_msg(c, &dq.base);
		c->sent_node = true;
		return;
	}
	char **sub = xcalloc(ts->nsubs, sizeof(char *)), **unsub = xcalloc(ts->nwire, sizeof(char *));
	dq.n_resource_names_subscribe = names_minus(ts->subs, ts->nsubs, ts->wire, ts->nwire, sub);
	dq.resource_names_subscribe = sub;
	dq.n_resource_names_unsubscribe = names_minus(ts->wire, ts->nwire, ts->subs, ts->nsubs, unsub);
	dq.resource_names_unsubscribe = unsub;
	if (dq.n_resource_names_subscribe || dq.n_resource_names_unsubscribe) {
		queue_msg(c, &dq.base);
		c->sent_node = true;
		names_free(ts->wire, ts->nwire);
		ts->wire = xcalloc(ts->nsubs, sizeof(char *));
		for (size_t i = 0; i < ts->nsubs; i++)
			ts->wire[i] = xstrndup(ts->subs[i], strlen(ts->subs[i]));
		ts->nwire = ts->nsubs;
	}
	free(sub);
	free(unsub);
}

/* ---- responses ---- */

static bool client_synced(const client_t *c)
{
	for (int t = 0; t < T_N; t++) {
		const tstate_t *ts = &c->t[t];
		if (!ts->nsubs) {
			/* nothing referenced: fine when the parent type is complete
			 * and has answered (LDS itself always has names) */
			if (t == T_LDS || !c->t[t - 1].responses)
				return false;
			continue;
		}
		if (!ts->responses)
			return false;
		for (size_t i = 0; i < ts->nsubs; i++)
			if (!res_find((tstate_t *)ts, ts->subs[i]))
				return false;
	}
	return true;
}

/* Recomputes the names of type t+1 referenced by the held resources of type
 * t that are subscribed; when the set differs from the subscription, it
 * becomes the subscription and a request is sent. */
static void follow_refs(client_t *c, int t)
{
	tstate_t *ts = &c->t[t], *nx = &c->t[t + 1];
	size_t n = 0, cap = 0;
	char **v = NULL;

	for (size_t i = 0; i < ts->nsubs; i++) {
		res_t *r = res_find(ts, ts->subs[i]);
		if (!r)
			continue;
		for (size_t k = 0; k < r->nrefs; k++) {
			if (n == cap) {
				cap = cap ? cap * 2 : 8;
				v = realloc(v, cap * sizeof(*v));
				if (!v)
					exit(2);
			}
			v[n++] = xstrndup(r->refs[k], strlen(r->refs[k]));
		}
	}
	n = names_sort_unique(v, n);
	if (names_equal(v, n, nx->subs, nx->nsubs)) {
		names_free(v, n);
		return;
	}
	names_free(nx->subs, nx->nsubs);
	nx->subs = v;
	nx->nsubs = n;
	send_request(c, t + 1, false);
	if (t + 1 < T_EDS)
		follow_refs(c, t + 1);   /* dropped names may drop references further down */
}

/* Reads one resource (type_url/bytes of its Any; name_hint: the delta
 * Resource.name, or NULL) into *r: name, hash, references. Returns 0, or
 * -1 when it has to be skipped (counted as a decode error). */
static int decode_resource(client_t *c, int t, const char *type_url, const uint8_t *b, size_t bl,
			   const char *name_hint, res_t *r)
{
	sim_t *s = c->sim;
	const uint8_t *x;
	size_t lx;
	refs_t rf = { 0 };
	int rc = 0;

	if (!strcmp(type_url, RESOURCE_WRAPPER_URL)) {
		/* Resource{resource(2): Any{value(2)}} */
		if (pb_get(b, bl, 2, &x, &lx) <= 0 || pb_get(x, lx, 2, &b, &bl) <= 0) {
			s->decode_errors++;
			return -1;
		}
	} else if (strcmp(type_url, type_urls[t])) {
		s->decode_errors++;
		set_error(s, "resource of type %s in a %s response", type_url, type_names[t]);
		return -1;
	}
	if (name_hint && *name_hint) {
		r->name = xstrndup(name_hint, strlen(name_hint));
	} else if (pb_get(b, bl, 1, &x, &lx) > 0) {
		r->name = xstrndup((const char *)x, lx);
	} else {
		s->decode_errors++;
		set_error(s, "%s resource without a name", type_names[t]);
		return -1;
	}
	r->hash = fnv1a(b, bl);
	switch (t) {
	case T_LDS:
		rc = refs_listener(b, bl, &rf);
		if (rc == 1) {
			s->inline_routes++;
			rc = 0;
		}
		break;
	case T_RDS:
		rc = refs_route_config(b, bl, &rf);
		break;
	case T_CDS:
		rc = refs_cluster(b, bl, r->name, &rf);
		break;
	default:
		break;
	}
	if (rc < 0) {
		s->decode_errors++;
		set_error(s, "malformed %s resource %s", type_names[t], r->name);
	}
	r->nrefs = names_sort_unique(rf.v, rf.n);
	r->refs = rf.v;
	return 0;
}

/* Merges decoded resources nv[n] (taken over) into type t's held set.
 * full: the response is the whole set (SotW LDS/CDS), anything else held is
 * dropped; otherwise entries are updated by name and removed[nremoved]
 * (delta) deleted. Returns bit 0: anything changed; bit 1: a resource held
 * before got different bytes or was removed. */
static int merge(tstate_t *ts, res_t *nv, size_t n, bool full, char **removed, size_t nremoved)
{
	int ch = 0;

	if (full) {
		if (n != ts->nres)
			ch |= 1;
		for (size_t i = 0; i < n; i++) {
			res_t *old = res_find(ts, nv[i].name);
			if (!old || old->hash != nv[i].hash)
				ch |= old ? 3 : 1;
		}
		for (size_t i = 0; i < ts->nres; i++)
			res_clear(&ts->res[i]);
		free(ts->res);
		ts->res = nv;
		ts->nres = n;
		return ch;
	}
	for (size_t i = 0; i < n; i++) {
		res_t *old = res_find(ts, nv[i].name);
		if (old && old->hash == nv[i].hash) {
			res_clear(&nv[i]);
			continue;
		}
		if (old) {
			ch |= 3;
			res_clear(old);
			*old = nv[i];
			continue;
		}
		ch |= 1;
		ts->res = realloc(ts->res, (ts->nres + 1) * sizeof(*ts->res));
		if (!ts->res)
			exit(2);
		ts->res[ts->nres++] = nv[i];
	}
	free(nv);
	for (size_t k = 0; k < nremoved; k++) {
		res_t *old = res_find(ts, removed[k]);
		if (!old)
			continue;
		ch |= 3;
		res_clear(old);
		*old = ts->res[--ts->nres];
	}
	return ch;
}

static int type_of_url(sim_t *s, const char *url)
{
	for (int t = 0; t < T_N; t++)
		if (!strcmp(url, type_urls[t]))
			return t;
	s->unknown_types++;
	set_error(s, "response with unknown type_url %s", url);
	return -1;
}

/* After a response of type t was merged (ch as merge() returns): keeps
 * version and nonce, ACKs, follows references, records sync / change. */
static void after_response(client_t *c, int t, int ch, const char *version, const char *nonce)
{
	sim_t *s = c->sim;
	tstate_t *ts = &c->t[t];
	uint64_t now;

	if (!(ch & 1))
		s->unchanged_responses++;
	free(ts->version);
	free(ts->nonce);
	ts->version = xstrndup(version, strlen(version));
	ts->nonce = xstrndup(nonce, strlen(nonce));
	send_request(c, t, true);   /* the ACK */
	s->acks++;
	if (t < T_EDS)
		follow_refs(c, t);

	now = now_ns();
	if (!c->t_sync_ns && client_synced(c)) {
		c->t_sync_ns = now;
		s->nsynced++;
		if (s->o.verbose)
			fprintf(stderr, "xds-sim: client %u synced after %.1f ms\n", c->id,
				(double)(now - c->t_start_ns) / 1e6);
	}
	if (t == T_EDS && (ch & 2) && s->phase >= P_WAIT && c->t_sync_ns && !c->t_change_ns) {
		c->t_change_ns = now;
		s->nchanged++;
	}
}

/* Handles one SotW DiscoveryResponse: LDS and CDS responses replace the
 * held set, RDS and EDS update the named resources, as state of the world
 * defines. */
static void on_response(client_t *c, const uint8_t *p, size_t len)
{
	sim_t *s = c->sim;
	Envoy__Service__Discovery__V3__DiscoveryResponse *rsp;
	size_t n = 0;
	res_t *nv;
	int t, ch;

	rsp = envoy__service__discovery__v3__discovery_response__unpack(NULL, len, p);
	if (!rsp) {
		s->decode_errors++;
		set_error(s, "undecodable DiscoveryResponse");
		return;
	}
	if ((t = type_of_url(s, rsp->type_url)) < 0) {
		envoy__service__discovery__v3__discovery_response__free_unpacked(rsp, NULL);
		return;
	}
	c->t[t].responses++;
	s->responses[t]++;
	s->resources[t] += rsp->n_resources;
	nv = xcalloc(rsp->n_resources, sizeof(*nv));
	for (size_t i = 0; i < rsp->n_resources; i++) {
		const Google__Protobuf__Any *any = rsp->resources[i];
		if (decode_resource(c, t, any->type_url, any->value.data, any->value.len, NULL, &nv[n]) == 0)
			n++;
	}
	ch = merge(&c->t[t], nv, n, t == T_LDS || t == T_CDS, NULL, 0);
	after_response(c, t, ch, rsp->version_info, rsp->nonce);
	envoy__service__discovery__v3__discovery_response__free_unpacked(rsp, NULL);
}

/* Handles one DeltaDiscoveryResponse: resources are added or replaced by
 * name, removed_resources deleted. */
static void on_delta_response(client_t *c, const uint8_t *p, size_t len)
{
	sim_t *s = c->sim;
	Envoy__Service__Discovery__V3__DeltaDiscoveryResponse *rsp;
	size_t n = 0;
	res_t *nv;
	int t, ch;

	rsp = envoy__service__discovery__v3__delta_discovery_response__unpack(NULL, len, p);
	if (!rsp) {
		s->decode_errors++;
		set_error(s, "undecodable DeltaDiscoveryResponse");
		return;
	}
	if ((t = type_of_url(s, rsp->type_url)) < 0) {
		envoy__service__discovery__v3__delta_discovery_response__free_unpacked(rsp, NULL);
		return;
	}
	c->t[t].responses++;
	s->responses[t]++;
	s->resources[t] += rsp->n_resources;
	nv = xcalloc(rsp->n_resources, sizeof(*nv));
	for (size_t i = 0; i < rsp->n_resources; i++) {
		const Envoy__Service__Discovery__V3__Resource *r = rsp->resources[i];
		if (!r->resource)
			continue;   /* name only: nothing to hold */
		if (decode_resource(c, t, r->resource->type_url, r->resource->value.data,
				    r->resource->value.len, r->name, &nv[n]) == 0)
			n++;
	}
	ch = merge(&c->t[t], nv, n, false, rsp->removed_resources, rsp->n_removed_resources);
	after_response(c, t, ch, rsp->system_version_info, rsp->nonce);
	envoy__service__discovery__v3__delta_discovery_response__free_unpacked(rsp, NULL);
}

/* Splits the received DATA into gRPC messages and handles each. */
static void drain_rx(client_t *c)
{
	while (c->state == C_OPEN && weft_buf_len(&c->rx) >= 5) {
		const uint8_t *h = weft_buf_head(&c->rx);
		uint32_t len = (uint32_t)h[1] << 24 | (uint32_t)h[2] << 16 | (uint32_t)h[3] << 8 | h[4];
		if (len > MAX_MSG) {
			client_kill(c, "message too large", "");
			return;
		}
		if (weft_buf_len(&c->rx) < 5 + (size_t)len)
			return;
		if (h[0] & 1)
			c->sim->compressed++;
		else if (c->sim->o.delta)
			on_delta_response(c, h + 5, len);
		else
			on_response(c, h + 5, len);
		weft_buf_consume(&c->rx, 5 + (size_t)len);
	}
}

/* ---- nghttp2 glue ---- */

static ssize_t h2_send_cb(nghttp2_session *h2, const uint8_t *data, size_t len, int flags, void *ud)
{
	client_t *c = ud;
	ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL);

	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? NGHTTP2_ERR_WOULDBLOCK
							       : NGHTTP2_ERR_CALLBACK_FAILURE;
	return n;
}

static int h2_data_cb(nghttp2_session *h2, uint8_t flags, int32_t sid, const uint8_t *data,
		      size_t len, void *ud)
{
	client_t *c = ud;

	c->sim->rx_bytes += len;
	if (weft_buf_append(&c->rx, data, len) < 0)
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	return 0;
}

static int h2_header_cb(nghttp2_session *h2, const nghttp2_frame *frame, const uint8_t *name,
			size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags, void *ud)
{
	client_t *c = ud;
	char v[96];

	snprintf(v, sizeof(v), "%.*s", (int)(valuelen > 90 ? 90 : valuelen), (const char *)value);
	if ((namelen == 7 && !memcmp(name, ":status", 7) && strcmp(v, "200")) ||
	    (namelen == 11 && !memcmp(name, "grpc-status", 11) && strcmp(v, "0")) ||
	    (namelen == 12 && !memcmp(name, "grpc-message", 12))) {
		char k[32];
		snprintf(k, sizeof(k), "%.*s", (int)(namelen > 30 ? 30 : namelen), (const char *)name);
		set_error(c->sim, "server sent %s: %s", k, v);
		if (c->sim->o.verbose)
			fprintf(stderr, "xds-sim: client %u: %s: %s\n", c->id, k, v);
	}
	return 0;
}

static int h2_close_cb(nghttp2_session *h2, int32_t sid, uint32_t code, void *ud)
{
	client_t *c = ud;

	if (sid == c->sid)
		client_kill(c, "ADS stream closed by the server, h2 code ", nghttp2_http2_strerror(code));
	return 0;
}

static int h2_frame_cb(nghttp2_session *h2, const nghttp2_frame *frame, void *ud)
{
	client_t *c = ud;

	if (frame->hd.type == NGHTTP2_GOAWAY)
		set_error(c->sim, "server sent GOAWAY %s",
			  nghttp2_http2_strerror(frame->goaway.error_code));
	return 0;
}

/* Request body: hands nghttp2 whatever requests are queued; defers when
 * none (send_request() resumes it). The stream is never half-closed. */
static ssize_t h2_body_cb(nghttp2_session *h2, int32_t sid, uint8_t *buf, size_t len,
			  uint32_t *flags, nghttp2_data_source *src, void *ud)
{
	client_t *c = ud;
	size_t n = weft_buf_len(&c->tx);

	if (!n) {
		c->deferred = true;
		return NGHTTP2_ERR_DEFERRED;
	}
	if (n > len)
		n = len;
	memcpy(buf, weft_buf_head(&c->tx), n);
	weft_buf_consume(&c->tx, n);
	return (ssize_t)n;
}

/* Lets nghttp2 write what it can and sets the epoll interest to match. */
static void client_flush(client_t *c)
{
	int rv;

	if (c->state != C_OPEN)
		return;
	rv = nghttp2_session_send(c->h2);
	if (rv) {
		client_kill(c, "send: ", nghttp2_strerror(rv));
		return;
	}
	if (!nghttp2_session_want_read(c->h2) && !nghttp2_session_want_write(c->h2)) {
		client_kill(c, "session ended", "");
		return;
	}
	weft_io_modify(&c->sim->loop, &c->io,
		       WEFT_IO_READ | (nghttp2_session_want_write(c->h2) ? WEFT_IO_WRITE : 0));
}

static void client_kill(client_t *c, const char *why, const char *detail)
{
	sim_t *s = c->sim;

	if (c->state == C_DEAD)
		return;
	snprintf(c->why, sizeof(c->why), "%s%s", why, detail);
	set_error(s, "client died: %s%s", why, detail);
	if (s->o.verbose)
		fprintf(stderr, "xds-sim: client %u died: %s\n", c->id, c->why);
	c->state = C_DEAD;
	s->ndead++;
	if (c->fd >= 0) {
		weft_io_stop(&s->loop, &c->io);
		close(c->fd);
		c->fd = -1;
	}
	/* the nghttp2 session may be on the stack (inside a callback): it is
	 * freed at exit, not here */
}

/* Starts HTTP/2 on a connected socket: SETTINGS (push off, 16 MiB windows)
 * and the ADS request whose body is every DiscoveryRequest to come; then
 * the first LDS request. */
static void client_start_h2(client_t *c)
{
	sim_t *s = c->sim;
	nghttp2_session_callbacks *cb;
	nghttp2_settings_entry iv[] = {
		{ NGHTTP2_SETTINGS_ENABLE_PUSH, 0 },
		{ NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, H2_WINDOW },
	};
	char authority[64];
	nghttp2_data_provider body = { .read_callback = h2_body_cb };

	nghttp2_session_callbacks_new(&cb);
	nghttp2_session_callbacks_set_send_callback(cb, h2_send_cb);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, h2_data_cb);
	nghttp2_session_callbacks_set_on_header_callback(cb, h2_header_cb);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb, h2_close_cb);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb, h2_frame_cb);
	if (nghttp2_session_client_new(&c->h2, cb, c)) {
		nghttp2_session_callbacks_del(cb);
		client_kill(c, "nghttp2_session_client_new failed", "");
		return;
	}
	nghttp2_session_callbacks_del(cb);
	nghttp2_submit_settings(c->h2, NGHTTP2_FLAG_NONE, iv, sizeof(iv) / sizeof(iv[0]));
	nghttp2_session_set_local_window_size(c->h2, NGHTTP2_FLAG_NONE, 0, H2_WINDOW);

	snprintf(authority, sizeof(authority), "%s:%d", s->o.addr, s->o.port);
#define NV(n, v) { (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, strlen(v), NGHTTP2_NV_FLAG_NO_COPY_NAME }
	nghttp2_nv h[] = {
		NV(":method", "POST"), NV(":scheme", "http"), NV(":path", s->o.delta ? ADS_DELTA_PATH : ADS_PATH),
		NV(":authority", authority), NV("content-type", "application/grpc"), NV("te", "trailers"),
	};
#undef NV
	c->sid = nghttp2_submit_request(c->h2, NULL, h, sizeof(h) / sizeof(h[0]), &body, c);
	if (c->sid < 0) {
		client_kill(c, "submit_request: ", nghttp2_strerror(c->sid));
		return;
	}
	c->state = C_OPEN;
	s->nconnected++;
	/* LDS subscription */
	tstate_t *l = &c->t[T_LDS];
	l->subs = xcalloc(c->nlisteners, sizeof(char *));
	for (size_t i = 0; i < c->nlisteners; i++)
		l->subs[i] = xstrndup(c->listeners[i], strlen(c->listeners[i]));
	l->nsubs = names_sort_unique(l->subs, c->nlisteners);
	send_request(c, T_LDS, false);
}

static void client_io(weft_loop_t *l, weft_io_t *io, uint32_t ev)
{
	client_t *c = io->data;
	uint8_t buf[65536];

	if (c->state == C_CONNECTING) {
		int err = 0;
		socklen_t el = sizeof(err);
		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
		if (err) {
			client_kill(c, "connect: ", strerror(err));
			return;
		}
		client_start_h2(c);
		client_flush(c);
		return;
	}
	if (c->state != C_OPEN)
		return;
	if (ev & WEFT_IO_READ) {
		for (int rounds = 0; rounds < 8; rounds++) {
			ssize_t n = recv(c->fd, buf, sizeof(buf), 0);
			if (n == 0) {
				client_kill(c, "connection closed by the server", "");
				return;
			}
			if (n < 0) {
				if (errno == EAGAIN || errno == EWOULDBLOCK)
					break;
				if (errno == EINTR)
					continue;
				client_kill(c, "recv: ", strerror(errno));
				return;
			}
			ssize_t rv = nghttp2_session_mem_recv(c->h2, buf, (size_t)n);
			if (rv < 0) {
				client_kill(c, "h2 protocol: ", nghttp2_strerror((int)rv));
				return;
			}
			drain_rx(c);
			if (c->state != C_OPEN)
				return;
			if ((size_t)n < sizeof(buf))
				break;
		}
	}
	client_flush(c);
}

static void client_connect(client_t *c)
{
	sim_t *s = c->sim;
	int one = 1;

	c->t_start_ns = now_ns();
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		client_kill(c, "socket: ", strerror(errno));
		return;
	}
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(c->fd, (struct sockaddr *)&s->sa, sizeof(s->sa)) < 0 && errno != EINPROGRESS) {
		client_kill(c, "connect: ", strerror(errno));
		return;
	}
	c->state = C_CONNECTING;
	if (weft_io_start(&s->loop, &c->io, c->fd, WEFT_IO_WRITE, client_io, c) < 0)
		client_kill(c, "epoll: ", strerror(errno));
}

/* ---- phases ---- */

/* Reads the trigger file: CLOCK_MONOTONIC ns of the change. Returns true
 * once it exists (t0 = its number, or now when it holds none). */
static bool read_trigger(sim_t *s)
{
	char b[64] = { 0 };
	int fd = open(s->o.trigger_file, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return false;
	n = read(fd, b, sizeof(b) - 1);
	close(fd);
	if (n <= 0)
		return false;
	unsigned long long v = strtoull(b, NULL, 10);
	s->t_trigger_ns = v ? (uint64_t)v : now_ns();
	return true;
}

static void write_ready(sim_t *s)
{
	char tmp[4096];
	FILE *f;

	if (!s->o.ready_file)
		return;
	snprintf(tmp, sizeof(tmp), "%s.tmp", s->o.ready_file);
	f = fopen(tmp, "w");
	if (!f)
		return;
	fprintf(f, "%u %u\n", s->nsynced, s->o.nclients);
	fclose(f);
	rename(tmp, s->o.ready_file);
}

static void set_phase(sim_t *s, enum phase p)
{
	s->phase = p;
	s->t_phase_ns = now_ns();
	if (s->o.verbose)
		fprintf(stderr, "xds-sim: phase %d (synced %u/%u, dead %u)\n", (int)p, s->nsynced,
			s->o.nclients, s->ndead);
}

/* Every millisecond: opens the next batch of connections, moves between
 * phases, enforces time limits. */
static void on_tick(weft_loop_t *l, weft_timer_t *t)
{
	sim_t *s = t->data;
	uint64_t now = now_ns(), in_phase = now - s->t_phase_ns;

	for (unsigned i = 0; i < s->o.ramp && s->next_connect < s->o.nclients; i++)
		client_connect(&s->clients[s->next_connect++]);
	switch (s->phase) {
	case P_SYNC:
		if (s->nsynced + s->ndead >= s->o.nclients ||
		    in_phase >= (uint64_t)s->o.sync_timeout_s * 1000000000u) {
			s->t_sync_done_ns = now;
			if (!s->o.trigger_file || !s->nsynced) {
				set_phase(s, P_DONE);
				break;
			}
			set_phase(s, P_WAIT);
			write_ready(s);
		}
		break;
	case P_WAIT:
		if (read_trigger(s)) {
			s->triggered = true;
			set_phase(s, P_CHANGE);
		} else if (in_phase >= (uint64_t)s->o.trigger_timeout_s * 1000000000u) {
			set_phase(s, P_DONE);
		}
		break;
	case P_CHANGE: {
		unsigned live_synced = 0, changed = 0;
		for (unsigned i = 0; i < s->o.nclients; i++) {
			client_t *c = &s->clients[i];
			if (c->t_sync_ns && (c->state == C_OPEN || c->t_change_ns))
				live_synced++;
			if (c->t_change_ns)
				changed++;
		}
		if (changed >= live_synced || in_phase >= (uint64_t)s->o.change_timeout_s * 1000000000u)
			set_phase(s, P_DONE);
		break;
	}
	default:
		break;
	}
	if (now - s->t_begin_ns >= (uint64_t)s->o.max_time_s * 1000000000u)
		s->phase = P_DONE;
	if (s->phase == P_DONE)
		weft_loop_stop(l);
	else
		weft_timer_start(l, t, 1);
}

/* ---- report ---- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted v[n]; NAN when empty. */
static double pct(const double *v, size_t n, double q)
{
	size_t k;

	if (!n)
		return NAN;
	k = (size_t)ceil(q * (double)n);
	return v[k ? k - 1 : 0];
}

static void json_num(FILE *f, const char *key, double v, bool comma)
{
	if (isnan(v))
		fprintf(f, "\"%s\": null%s", key, comma ? ", " : "");
	else
		fprintf(f, "\"%s\": %.3f%s", key, v, comma ? ", " : "");
}

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', f);
		if ((unsigned char)*s < 0x20)
			fputc('?', f);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

static void report(sim_t *s, FILE *f)
{
	double *sync = xcalloc(s->o.nclients, sizeof(double));
	double *chg = xcalloc(s->o.nclients, sizeof(double));
	size_t ns = 0, nc = 0;
	uint64_t last_sync = 0;
	unsigned missing[T_N] = { 0 };
	const char *missing_example[T_N] = { 0 };

	for (unsigned i = 0; i < s->o.nclients; i++) {
		client_t *c = &s->clients[i];
		if (c->t_sync_ns) {
			sync[ns++] = (double)(c->t_sync_ns - c->t_start_ns) / 1e6;
			if (c->t_sync_ns > last_sync)
				last_sync = c->t_sync_ns;
		} else {
			for (int t = 0; t < T_N; t++)
				for (size_t k = 0; k < c->t[t].nsubs; k++)
					if (!res_find(&c->t[t], c->t[t].subs[k])) {
						missing[t]++;
						if (!missing_example[t])
							missing_example[t] = c->t[t].subs[k];
					}
		}
		if (c->t_change_ns && s->triggered)
			chg[nc++] = c->t_change_ns >= s->t_trigger_ns
					    ? (double)(c->t_change_ns - s->t_trigger_ns) / 1e6
					    : -(double)(s->t_trigger_ns - c->t_change_ns) / 1e6;
	}
	qsort(sync, ns, sizeof(double), cmp_double);
	qsort(chg, nc, sizeof(double), cmp_double);

	fprintf(f, "{\n  \"tool\": \"weft xds-sim\", \"mode\": \"%s\",\n",
		s->o.delta ? "delta-ads" : "sotw-ads");
	fprintf(f, "  \"server\": \"%s:%d\", \"clients\": %u, \"listeners_per_client\": %u, \"hot\": %u,\n",
		s->o.addr, s->o.port, s->o.nclients, s->o.per_client, s->o.hot);
	fprintf(f, "  \"connected\": %u, \"dead\": %u, \"synced\": %u,\n", s->nconnected, s->ndead, s->nsynced);
	fprintf(f, "  \"full_sync\": {");
	json_num(f, "all_synced_ms", ns == s->o.nclients ? (double)(last_sync - s->t_begin_ns) / 1e6 : NAN, true);
	json_num(f, "last_synced_ms", ns ? (double)(last_sync - s->t_begin_ns) / 1e6 : NAN, true);
	json_num(f, "per_client_p50_ms", pct(sync, ns, 0.50), true);
	json_num(f, "per_client_p99_ms", pct(sync, ns, 0.99), true);
	json_num(f, "per_client_max_ms", ns ? sync[ns - 1] : NAN, false);
	fprintf(f, "},\n  \"change\": {\"triggered\": %s, \"clients_updated\": %zu, ",
		s->triggered ? "true" : "false", nc);
	json_num(f, "p50_ms", pct(chg, nc, 0.50), true);
	json_num(f, "p99_ms", pct(chg, nc, 0.99), true);
	json_num(f, "max_ms", nc ? chg[nc - 1] : NAN, true);
	json_num(f, "min_ms", nc ? chg[0] : NAN, false);
	fprintf(f, "},\n  \"responses\": {");
	for (int t = 0; t < T_N; t++)
		fprintf(f, "\"%s\": %lu%s", type_names[t], s->responses[t], t + 1 < T_N ? ", " : "");
	fprintf(f, "},\n  \"resources\": {");
	for (int t = 0; t < T_N; t++)
		fprintf(f, "\"%s\": %lu%s", type_names[t], s->resources[t], t + 1 < T_N ? ", " : "");
	fprintf(f, "},\n  \"unsynced_missing\": {");
	for (int t = 0; t < T_N; t++) {
		fprintf(f, "\"%s\": %u", type_names[t], missing[t]);
		if (missing_example[t]) {
			fprintf(f, ", \"%s_example\": ", type_names[t]);
			json_str(f, missing_example[t]);
		}
		fprintf(f, "%s", t + 1 < T_N ? ", " : "");
	}
	fprintf(f, "},\n  \"requests_sent\": %lu, \"acks_sent\": %lu, \"unchanged_responses\": %lu,\n",
		s->requests, s->acks, s->unchanged_responses);
	fprintf(f, "  \"decode_errors\": %lu, \"unknown_types\": %lu, \"compressed_skipped\": %lu, "
		"\"inline_route_configs\": %lu, \"rx_bytes\": %llu,\n",
		s->decode_errors, s->unknown_types, s->compressed, s->inline_routes, s->rx_bytes);
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	fprintf(f, "  \"sim_cpu_s\": %.3f, \"sim_maxrss_mb\": %.1f,\n",
		(double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
			(double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6,
		(double)ru.ru_maxrss / 1024.0);
	fprintf(f, "  \"first_error\": ");
	json_str(f, s->first_error);
	fprintf(f, "\n}\n");
	free(sync);
	free(chg);
}

/* ---- set-up ---- */

static void load_listeners(sim_t *s)
{
	FILE *f = fopen(s->o.listeners_file, "r");
	char line[1024];
	size_t cap = 0;

	if (!f) {
		fprintf(stderr, "xds-sim: %s: %s\n", s->o.listeners_file, strerror(errno));
		exit(2);
	}
	while (fgets(line, sizeof(line), f)) {
		size_t n = strcspn(line, "\r\n");
		if (!n || line[0] == '#')
			continue;
		if (s->nnames == cap) {
			cap = cap ? cap * 2 : 1024;
			s->names = realloc(s->names, cap * sizeof(char *));
			if (!s->names)
				exit(2);
		}
		s->names[s->nnames++] = xstrndup(line, n);
	}
	fclose(f);
	if (!s->nnames) {
		fprintf(stderr, "xds-sim: %s: no listener names\n", s->o.listeners_file);
		exit(2);
	}
}

/* Gives each client the hot names (the first --hot lines) and per_client -
 * hot distinct random others. */
static void assign_listeners(sim_t *s)
{
	unsigned k = s->o.per_client, hot = s->o.hot;

	if (hot > s->nnames)
		hot = (unsigned)s->nnames;
	if (k > s->nnames)
		k = (unsigned)s->nnames;
	if (k < hot)
		k = hot;
	for (unsigned i = 0; i < s->o.nclients; i++) {
		client_t *c = &s->clients[i];
		c->listeners = xcalloc(k, sizeof(char *));
		for (unsigned j = 0; j < hot; j++)
			c->listeners[c->nlisteners++] = s->names[j];
		while (c->nlisteners < k) {
			char *pick = s->names[hot + rng_next(s) % (s->nnames - hot)];
			bool dup = false;
			for (size_t j = 0; j < c->nlisteners; j++)
				dup |= c->listeners[j] == pick;
			if (!dup)
				c->listeners[c->nlisteners++] = pick;
		}
	}
}

static void raise_nofile(unsigned need)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur < need + 32)
		fprintf(stderr, "xds-sim: warning: fd limit %llu < %u clients (raise ulimit -n)\n",
			(unsigned long long)rl.rlim_cur, need);
}

static void usage(void)
{
	fprintf(stderr,
		"usage: xds-sim --server 127.0.0.1:PORT --listeners FILE [options]\n"
		"  --clients N          concurrent ADS streams, one connection each (1000)\n"
		"  --per-client K       listener names each client subscribes to (5)\n"
		"  --hot H              the first H names of FILE go to every client (1)\n"
		"  --ramp R             connections opened per millisecond (100)\n"
		"  --seed S             random listener choice (1)\n"
		"  --ready-file PATH    written once the SYNC phase ends\n"
		"  --trigger-file PATH  CLOCK_MONOTONIC ns of the config change; starts CHANGE\n"
		"  --sync-timeout S (60) --trigger-timeout S (60) --change-timeout S (30)\n"
		"  --max-time S         hard bound on the whole run (300)\n"
		"  --out PATH           JSON report here instead of stdout\n"
		"  --delta              DeltaAggregatedResources instead of state of the world\n"
		"  -v                   log per-client events to stderr\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "server", 1, NULL, 's' }, { "clients", 1, NULL, 'n' },
		{ "per-client", 1, NULL, 'k' }, { "hot", 1, NULL, 'H' },
		{ "ramp", 1, NULL, 'r' }, { "seed", 1, NULL, 'S' },
		{ "listeners", 1, NULL, 'l' }, { "ready-file", 1, NULL, 'R' },
		{ "trigger-file", 1, NULL, 'T' }, { "sync-timeout", 1, NULL, '1' },
		{ "trigger-timeout", 1, NULL, '2' }, { "change-timeout", 1, NULL, '3' },
		{ "max-time", 1, NULL, 'm' }, { "out", 1, NULL, 'o' },
		{ "delta", 0, NULL, 'D' }, { "help", 0, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	sim_t *s = xcalloc(1, sizeof(*s));
	char *server = NULL, *colon;
	int opt;

	s->o = (sim_opts_t){ .nclients = 1000, .per_client = 5, .hot = 1, .ramp = 100, .seed = 1,
			     .sync_timeout_s = 60, .trigger_timeout_s = 60, .change_timeout_s = 30,
			     .max_time_s = 300 };
	while ((opt = getopt_long(argc, argv, "vh", lo, NULL)) != -1) {
		switch (opt) {
		case 's': server = optarg; break;
		case 'n': s->o.nclients = (unsigned)atoi(optarg); break;
		case 'k': s->o.per_client = (unsigned)atoi(optarg); break;
		case 'H': s->o.hot = (unsigned)atoi(optarg); break;
		case 'r': s->o.ramp = (unsigned)atoi(optarg); break;
		case 'S': s->o.seed = (unsigned)atoi(optarg); break;
		case 'l': s->o.listeners_file = optarg; break;
		case 'R': s->o.ready_file = optarg; break;
		case 'T': s->o.trigger_file = optarg; break;
		case '1': s->o.sync_timeout_s = (unsigned)atoi(optarg); break;
		case '2': s->o.trigger_timeout_s = (unsigned)atoi(optarg); break;
		case '3': s->o.change_timeout_s = (unsigned)atoi(optarg); break;
		case 'm': s->o.max_time_s = (unsigned)atoi(optarg); break;
		case 'o': s->o.out_file = optarg; break;
		case 'v': s->o.verbose = true; break;
		case 'D': s->o.delta = true; break;
		default: usage();
		}
	}
	if (!server || !s->o.listeners_file || !s->o.nclients || !s->o.per_client || !s->o.ramp ||
	    !(colon = strrchr(server, ':')))
		usage();
	*colon = 0;
	s->o.addr = server;
	s->o.port = atoi(colon + 1);
	s->sa.sin_family = AF_INET;
	s->sa.sin_port = htons((uint16_t)s->o.port);
	if (inet_pton(AF_INET, s->o.addr, &s->sa.sin_addr) != 1 ||
	    (ntohl(s->sa.sin_addr.s_addr) >> 24) != 127) {
		fprintf(stderr, "xds-sim: --server must be an IPv4 loopback address (127.0.0.0/8)\n");
		return 2;
	}
	if (s->o.trigger_file)
		unlink(s->o.trigger_file);
	if (s->o.ready_file)
		unlink(s->o.ready_file);
	raise_nofile(s->o.nclients);
	s->rng = 0x9e3779b97f4a7c15ull ^ s->o.seed;
	load_listeners(s);
	s->clients = xcalloc(s->o.nclients, sizeof(client_t));
	for (unsigned i = 0; i < s->o.nclients; i++) {
		client_t *c = &s->clients[i];
		c->sim = s;
		c->id = i;
		c->fd = -1;
		weft_buf_init(&c->tx, MAX_MSG);
		weft_buf_init(&c->rx, MAX_MSG + 5);
	}
	assign_listeners(s);
	if (weft_loop_init(&s->loop) < 0) {
		perror("xds-sim: epoll");
		return 2;
	}
	s->t_begin_ns = now_ns();
	set_phase(s, P_SYNC);
	weft_timer_init(&s->tick, on_tick, s);
	weft_timer_start(&s->loop, &s->tick, 0);
	if (weft_loop_run(&s->loop) < 0)
		perror("xds-sim: loop");

	FILE *out = stdout;
	if (s->o.out_file && !(out = fopen(s->o.out_file, "w"))) {
		perror(s->o.out_file);
		out = stdout;
	}
	report(s, out);
	if (out != stdout)
		fclose(out);
	int rc = s->nsynced == s->o.nclients && (!s->o.trigger_file || s->nchanged == s->nsynced) ? 0 : 1;
	for (unsigned i = 0; i < s->o.nclients; i++) {
		client_t *c = &s->clients[i];
		c->state = C_DEAD;   /* no callback may count anything any more */
		if (c->fd >= 0)
			close(c->fd);
		c->fd = -1;
		nghttp2_session_del(c->h2);
		weft_buf_free(&c->tx);
		weft_buf_free(&c->rx);
		for (int t = 0; t < T_N; t++) {
			for (size_t k = 0; k < c->t[t].nres; k++)
				res_clear(&c->t[t].res[k]);
			free(c->t[t].res);
			names_free(c->t[t].subs, c->t[t].nsubs);
			names_free(c->t[t].wire, c->t[t].nwire);
			free(c->t[t].version);
			free(c->t[t].nonce);
		}
		free(c->listeners);
	}
	names_free(s->names, s->nnames);
	free(s->clients);
	weft_loop_destroy(&s->loop);
	free(s);
	return rc;
}
