/* weft — L7 telemetry: Istio's HTTP/gRPC request metrics, one JSON access
 * log line per request, the tap feed behind `weft tap` and the per-route
 * statistics behind `weft top` (include/weft/l7tel.h). Tracing lives in
 * trace.c.
 *
 * Metrics: label sets are interned as in telemetry.c (a chained hash map
 * from the 21 label values to the four series of one request), capped at
 * L7_MAX_SERIES label sets; a request whose label set is new past the cap
 * is not counted and bumps weft_agent_metric_series_dropped_total.
 *
 * Tap: the last TAP_RING requests are kept as their fields (label values
 * point into the request's series entry, which lives as long as t; the
 * request's own strings are copied into the slot's block). A JSON line is
 * rendered only for a subscriber whose filter the request matches, and
 * for the replay of ?recent=N, so a request nobody taps renders nothing.
 *
 * Routes: one row per (reporter, route) — or per destination service when
 * no route was taken — with 60 one-second buckets of requests/successes
 * and a ring of the last ROUTE_SAMPLES latencies for p50/p99. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "weft/admin.h"
#include "weft/agent.h"
#include "weft/buf.h"
#include "weft/json.h"
#include "weft/l7tel.h"
#include "weft/loop.h"
#include "weft/metrics.h"
#include "weft/str.h"
#include "l7_tel_int.h"

#define NL7 (WEFT_TM_NLABELS + 2)
#define L7_MAX_SERIES 10000u
#define TAP_RING 256u
#define ROUTE_WINDOW 60u
#define ROUTE_SAMPLES 256u
#define ROUTE_MAX 1000u
#define LOG_FLUSH_MS 100u         /* access-log lines wait at most this long for a write */
#define LOG_FLUSH_BYTES 32768u    /* ... or until this many bytes are pending */
#define LOG_BUF_MAX (1u << 20)    /* pending lines beyond this are written at once */

static const char l7_labels[] =
	"reporter,source_workload,source_workload_namespace,source_principal,source_app,"
	"source_version,source_cluster,destination_workload,destination_workload_namespace,"
	"destination_principal,destination_app,destination_version,destination_service,"
	"destination_service_name,destination_service_namespace,destination_cluster,"
	"request_protocol,response_code,grpc_response_status,response_flags,"
	"connection_security_policy";

/* Istio's default request duration buckets (ms) and byte-size buckets. */
static const double dur_bounds[] = { 0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000,
				     10000, 30000, 60000, 300000, 600000, 1800000, 3600000 };
static const double byte_bounds[] = { 1, 10, 100, 1000, 10000, 100000, 1000000, 10000000,
				      100000000, 1000000000 };

/* ---- access log fields ---- */

enum {
	F_START, F_METHOD, F_PATH, F_PROTOCOL, F_CODE, F_GRPC, F_FLAGS, F_DURATION, F_BYTES_RX,
	F_BYTES_TX, F_AUTHORITY, F_UA, F_REQID, F_TRACEID, F_UPSTREAM, F_ROUTE, F_ATTEMPTS,
	F_SW, F_SNS, F_SP, F_DW, F_DNS, F_DP, F_REPORTER, NF
};

static const char *const field_names[NF] = {
	"start_time", "method", "path", "protocol", "response_code", "grpc_status",
	"response_flags", "duration_ms", "bytes_received", "bytes_sent", "authority",
	"user_agent", "request_id", "trace_id", "upstream_host", "route", "attempts",
	"source_workload", "source_namespace", "source_principal", "destination_workload",
	"destination_namespace", "destination_principal", "reporter",
};

typedef struct l7_ent {
	struct l7_ent *next;
	uint64_t hash;
	const char *v[NL7];
	weft_series_t *total, *dur, *req, *resp;
	/* v's reporter, request_protocol, response_code, grpc_response_status
	 * and connection_security_policy as the record had them (grpc_status
	 * -1 for none), so a hint is checked without rendering them */
	int status, grpc_status;
	bool dst_reporter, grpc, mtls;
	size_t len;
	char data[];
} l7_ent_t;

#define HINT_SLOTS 64u           /* entries recently used, by the record's label pointers */
#define WL_HINT_SLOTS 16u        /* workload gauge series recently used, by name pointer */

/* The three gauge series of one workload (conns->values[0] is its name). */
typedef struct wl_hint {
	weft_series_t *conns, *reqs, *buf;
} wl_hint_t;

/* The string fields of a tap event. */
enum {
	TS_METHOD, TS_PATH, TS_AUTH, TS_ROUTE,            /* the request's own: always copied */
	TS_FLAGS, TS_SVC, TS_SW, TS_SNS, TS_SP, TS_DW, TS_DNS, TS_DP, TS_SVCN, TS_SVCNS, TS_N
};
#define TS_OWN 4                 /* fields before this one are the request's own */

/* Where the label fields are among an entry's values (l7_ent_t.v). */
static const unsigned char ts_label[TS_N] = {
	[TS_FLAGS] = 19, [TS_SVC] = 12, [TS_SW] = 1, [TS_SNS] = 2, [TS_SP] = 3, [TS_DW] = 7,
	[TS_DNS] = 8, [TS_DP] = 9, [TS_SVCN] = 13, [TS_SVCNS] = 14,
};

typedef struct tap_ev {
	bool used;                   /* holds an event */
	bool dst_reporter;
	int status, grpc_status;
	uint64_t start_us, duration_us;   /* start_us: wall clock, resolved */
	const char *s[TS_N];         /* NULL where the record had NULL */
	char *blk;                   /* the copied strings (reused by the slot's next event) */
	size_t cap;
} tap_ev_t;

typedef struct tap_sub {
	struct tap_sub *prev, *next;
	weft_l7_tel_t *t;
	weft_admin_stream_t *s;
	bool service;                /* filter on the destination service, else workload */
	char key[256];
} tap_sub_t;

typedef struct route_st {
	struct route_st *next;
	bool dst_reporter;
	char key[256];               /* route "ns/name", or "service:<host>" */
	struct {
		uint64_t sec;
		uint32_t n, ok;
	} b[ROUTE_WINDOW];
	struct {
		uint64_t ms;             /* loop time of the request's end */
		uint32_t lat_us;
	} s[ROUTE_SAMPLES];
	size_t si;
} route_st_t;

struct weft_l7_tel {
	weft_loop_t *loop;
	weft_metrics_t *reg;
	weft_metric_t *total, *dur, *req, *resp, *dropped;
	weft_metric_t *limit_rej, *wl_conns, *wl_reqs, *wl_buf;
	wl_hint_t wl_hint[WL_HINT_SLOTS];   /* a guess only: checked by name before use */
	l7_ent_t **b;
	size_t nb, n, max_series;
	l7_ent_t *hint[HINT_SLOTS];  /* a guess only: checked against the values before use */
	/* log: lines gather in logbuf, written by the flush timer or when large */
	FILE *log;
	bool log_own;
	weft_buf_t logbuf;
	weft_timer_t log_timer;
	uint64_t ts_sec;             /* rfc3339 cache: the second ts_base renders */
	char ts_base[32];
	weft_buf_t scratch;          /* tap rendering: one line */
	uint32_t log_mask;
	double log_sample;
	uint64_t rnd;
	/* tap */
	tap_ev_t ring[TAP_RING];
	size_t ring_next;
	tap_sub_t *subs;
	/* top */
	route_st_t *routes;
	route_st_t *route_last;      /* the row of the last request (rows live as long as t) */
	size_t nroutes;
	struct l7_trace *trace;
};

static void log_flush_cb(weft_loop_t *l, weft_timer_t *tm);

struct l7_trace *l7_tel_trace(weft_l7_tel_t *t)
{
	return t ? t->trace : NULL;
}

void l7_tel_set_max_series(weft_l7_tel_t *t, size_t n)
{
	t->max_series = n;
}

static uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s ? *s : 0x9e3779b97f4a7c15ull;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

/* Parses the comma list of field names into a mask. Returns 0, or -1
 * with the offending name in err. */
static int parse_fields(const char *list, uint32_t *mask, char *err, size_t errlen)
{
	const char *p = list;

	if (!list) {
		*mask = (1u << NF) - 1;
		return 0;
	}
	*mask = 0;
	while (*p) {
		const char *e = strchr(p, ',');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		int i;
		for (i = 0; i < NF; i++)
			if (strlen(field_names[i]) == n && !memcmp(field_names[i], p, n))
				break;
		if (n && i == NF) {
			snprintf(err, errlen, "access log: unknown field \"%.*s\"", (int)n, p);
			return -1;
		}
		if (n)
			*mask |= 1u << i;
		p += n + (e ? 1 : 0);
	}
	if (!*mask) {
		snprintf(err, errlen, "access log: empty field list");
		return -1;
	}
	return 0;
}

weft_l7_tel_t *weft_l7_tel_new(weft_loop_t *loop, weft_metrics_t *m, const weft_l7_tel_opts_t *o,
			       char *err, size_t errlen)
{
	static const weft_l7_tel_opts_t defaults = { .log_sample = 1, .trace_sample = 0.01 };
	weft_l7_tel_t *t;
	const char *sink;

	if (!o)
		o = &defaults;
	if (!(o->log_sample >= 0 && o->log_sample <= 1)) {
		snprintf(err, errlen, "access log sample %g is not in 0..1", o->log_sample);
		return NULL;
	}
	if (!(t = calloc(1, sizeof(*t)))) {
		snprintf(err, errlen, "no memory");
		return NULL;
	}
	t->loop = loop;
	t->reg = m;
	t->max_series = L7_MAX_SERIES;
	t->log_sample = o->log_sample;
	t->rnd = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)t;
	t->ts_sec = UINT64_MAX;
	weft_buf_init(&t->logbuf, 0);
	weft_buf_init(&t->scratch, 64 * 1024);   /* one tap line at most */
	weft_timer_init(&t->log_timer, log_flush_cb, t);
	if (parse_fields(o->log_fields, &t->log_mask, err, errlen) < 0)
		goto fail;
	sink = o->log_sink && *o->log_sink ? o->log_sink : "stderr";
	if (!strcmp(sink, "stderr")) {
		t->log = stderr;
	} else if (!strcmp(sink, "stdout")) {
		t->log = stdout;
	} else if (strcmp(sink, "off")) {
		if (!(t->log = fopen(sink, "ae"))) {
			snprintf(err, errlen, "access log %s: %s", sink, strerror(errno));
			goto fail;
		}
		t->log_own = true;
	}
	/* options first, so a refusal leaves the registry untouched */
	if (!(t->trace = l7_trace_new(loop, m, o, err, errlen)))
		goto fail;
	t->nb = 64;
	if (!(t->b = calloc(t->nb, sizeof(*t->b))))
		goto nomem;
	t->total = weft_metrics_counter(m, "istio_requests_total", "Total number of requests",
					l7_labels);
	t->dur = weft_metrics_histogram(m, "istio_request_duration_milliseconds",
					"Duration of requests in milliseconds", l7_labels, dur_bounds,
					sizeof(dur_bounds) / sizeof(dur_bounds[0]));
	t->req = weft_metrics_histogram(m, "istio_request_bytes", "Size of request bodies in bytes",
					l7_labels, byte_bounds, sizeof(byte_bounds) / sizeof(byte_bounds[0]));
	t->resp = weft_metrics_histogram(m, "istio_response_bytes", "Size of response bodies in bytes",
					 l7_labels, byte_bounds, sizeof(byte_bounds) / sizeof(byte_bounds[0]));
	t->dropped = weft_metrics_counter(m, "weft_agent_metric_series_dropped_total",
					  "Requests not counted because their metric's series cap was reached, by metric",
					  "metric");
	t->limit_rej = weft_metrics_counter(m, "weft_agent_l7_limit_rejections_total",
					    "Requests and connections refused by a per-workload fairness limit",
					    "workload,limit");
	t->wl_conns = weft_metrics_gauge(m, "weft_agent_l7_workload_connections",
					 "Open L7 connections of a local workload", "workload");
	t->wl_reqs = weft_metrics_gauge(m, "weft_agent_l7_workload_requests",
					"L7 requests in flight of a local workload", "workload");
	t->wl_buf = weft_metrics_gauge(m, "weft_agent_l7_workload_buffer_bytes",
				       "Body bytes held for a local workload", "workload");
	if (!t->total || !t->dur || !t->req || !t->resp || !t->dropped || !t->limit_rej ||
	    !t->wl_conns || !t->wl_reqs || !t->wl_buf) {
		snprintf(err, errlen, "cannot register the L7 metrics (registered twice?)");
		goto fail;
	}
	return t;
nomem:
	snprintf(err, errlen, "no memory");
fail:
	weft_l7_tel_free(t);
	return NULL;
}

/* Writes the pending access-log lines. */
static void log_flush(weft_l7_tel_t *t)
{
	if (!weft_buf_len(&t->logbuf))
		return;
	if (t->log) {
		fwrite(weft_buf_head(&t->logbuf), 1, weft_buf_len(&t->logbuf), t->log);
		fflush(t->log);
	}
	weft_buf_reset(&t->logbuf);
}

static void log_flush_cb(weft_loop_t *l, weft_timer_t *tm)
{
	log_flush(tm->data);
}

static void sub_closed(void *arg)
{
	tap_sub_t *s = arg;

	if (s->prev)
		s->prev->next = s->next;
	else
		s->t->subs = s->next;
	if (s->next)
		s->next->prev = s->prev;
	free(s);
}

void weft_l7_tel_free(weft_l7_tel_t *t)
{
	if (!t)
		return;
	weft_timer_stop(t->loop, &t->log_timer);
	log_flush(t);
	weft_buf_free(&t->logbuf);
	weft_buf_free(&t->scratch);
	while (t->subs) {
		tap_sub_t *s = t->subs;
		t->subs = s->next;
		weft_admin_stream_end(s->s);
		free(s);
	}
	for (size_t i = 0; i < TAP_RING; i++)
		free(t->ring[i].blk);
	while (t->routes) {
		route_st_t *r = t->routes;
		t->routes = r->next;
		free(r);
	}
	for (size_t i = 0; t->b && i < t->nb; i++)
		for (l7_ent_t *e = t->b[i], *nx; e; e = nx) {
			nx = e->next;
			free(e);
		}
	free(t->b);
	if (t->log_own)
		fclose(t->log);
	l7_trace_free(t->trace);
	free(t);
}

/* ---- metrics ---- */

static void grow(weft_l7_tel_t *t)
{
	size_t nb = t->nb * 2;
	l7_ent_t **b = calloc(nb, sizeof(*b));

	if (!b)
		return;
	for (size_t i = 0; i < t->nb; i++)
		for (l7_ent_t *e = t->b[i], *nx; e; e = nx) {
			nx = e->next;
			e->next = b[e->hash & (nb - 1)];
			b[e->hash & (nb - 1)] = e;
		}
	free(t->b);
	t->b = b;
	t->nb = nb;
}

/* The entry for these label values, created with its series on first use.
 * Returns NULL on no memory or when the series cap is reached (counted).
 * v[17], v[18] must be r's response_code and grpc_response_status. */
static l7_ent_t *intern(weft_l7_tel_t *t, const char *const *v, const weft_l7_rec_t *r)
{
	size_t lens[NL7], len = 0;
	uint64_t h = WEFT_FNV1A64_INIT;
	l7_ent_t *e;
	char *p;

	for (int i = 0; i < NL7; i++) {
		lens[i] = strlen(v[i]);
		h = weft_fnv1a64(h, v[i], lens[i] + 1);
		len += lens[i] + 1;
	}
	for (e = t->b[h & (t->nb - 1)]; e; e = e->next) {
		int i;
		if (e->hash != h || e->len != len)
			continue;
		for (i = 0; i < NL7; i++)
			if (strcmp(e->v[i], v[i]))
				break;
		if (i == NL7)
			return e;
	}
	if (t->n >= t->max_series) {
		weft_series_inc(weft_metric_with(t->dropped, "istio_requests_total"));
		weft_series_inc(weft_metric_with(t->dropped, "istio_request_duration_milliseconds"));
		weft_series_inc(weft_metric_with(t->dropped, "istio_request_bytes"));
		weft_series_inc(weft_metric_with(t->dropped, "istio_response_bytes"));
		return NULL;
	}
	if (!(e = malloc(sizeof(*e) + len)))
		return NULL;
	e->hash = h;
	e->len = len;
	p = e->data;
	for (int i = 0; i < NL7; i++) {
		memcpy(p, v[i], lens[i] + 1);
		e->v[i] = p;
		p += lens[i] + 1;
	}
	e->status = r->status;
	e->grpc_status = r->grpc_status >= 0 ? r->grpc_status : -1;
	e->dst_reporter = r->l.destination;
	e->grpc = r->grpc;
	e->mtls = r->l.mtls;
	e->total = weft_metric_withv(t->total, e->v);
	e->dur = weft_metric_withv(t->dur, e->v);
	e->req = weft_metric_withv(t->req, e->v);
	e->resp = weft_metric_withv(t->resp, e->v);
	e->next = t->b[h & (t->nb - 1)];
	t->b[h & (t->nb - 1)] = e;
	if (++t->n > t->nb * 2)
		grow(t);
	return e;
}

static const char *flags_of(const weft_l7_rec_t *r)
{
	return r->l.response_flags && *r->l.response_flags ? r->l.response_flags : WEFT_TM_FLAG_NONE;
}

/* v in decimal into out (at least 12 bytes), as "%d" prints it. */
static void itoa10(int v, char out[12])
{
	size_t o = v < 0;

	if (v < 0)
		out[0] = '-';
	o += weft_u64_dec(out + o, v < 0 ? (uint64_t)-(int64_t)v : (uint64_t)v);
	out[o] = 0;
}

/* The hint slot for r: a mix of its label string pointers and numbers.
 * Requests of one connection or workload pair usually hand the same
 * pointers, so their entry is found without hashing the values. */
static size_t hint_slot(const weft_l7_rec_t *r)
{
	const weft_tm_labels_t *l = &r->l;
	uint64_t k = (uint64_t)(uintptr_t)l->src_workload ^ (uint64_t)(uintptr_t)l->dst_workload * 3 ^
		     (uint64_t)(uintptr_t)l->src_principal * 5 ^ (uint64_t)(uintptr_t)l->dst_service * 7 ^
		     (uint64_t)(uint32_t)r->status * 0x10001 ^ (uint64_t)(uint32_t)r->grpc_status << 20 ^
		     (uint64_t)(uintptr_t)l->response_flags * 11 ^ (uint64_t)l->destination << 40 ^
		     (uint64_t)r->grpc << 41;

	k *= 0x9e3779b97f4a7c15ull;
	return (size_t)(k >> 58) & (HINT_SLOTS - 1);
}

/* Whether label value have (an entry's) is what weft_tm_label_values
 * makes of the record's value v ("unknown" for NULL or empty). */
static inline bool label_is(const char *have, const char *v)
{
	return !strcmp(have, v && *v ? v : "unknown");
}

/* Whether entry e holds r's label values (as count() would render them). */
static bool ent_is(const l7_ent_t *e, const weft_l7_rec_t *r)
{
	const weft_tm_labels_t *l = &r->l;

	return e->status == r->status && e->grpc_status == (r->grpc_status >= 0 ? r->grpc_status : -1) &&
	       e->dst_reporter == l->destination && e->grpc == r->grpc && e->mtls == l->mtls &&
	       label_is(e->v[1], l->src_workload) && label_is(e->v[2], l->src_ns) &&
	       label_is(e->v[3], l->src_principal) && label_is(e->v[4], l->src_app) &&
	       label_is(e->v[5], l->src_version) && label_is(e->v[6], l->src_cluster) &&
	       label_is(e->v[7], l->dst_workload) && label_is(e->v[8], l->dst_ns) &&
	       label_is(e->v[9], l->dst_principal) && label_is(e->v[10], l->dst_app) &&
	       label_is(e->v[11], l->dst_version) && label_is(e->v[12], l->dst_service) &&
	       label_is(e->v[13], l->dst_service_name) && label_is(e->v[14], l->dst_service_ns) &&
	       label_is(e->v[15], l->dst_cluster) && !strcmp(e->v[19], flags_of(r));
}

/* Counts r in its series; returns its entry (NULL when it has none). */
static l7_ent_t *count(weft_l7_tel_t *t, const weft_l7_rec_t *r)
{
	const char *v4[WEFT_TM_NLABELS], *v[NL7];
	char code[16], grpc[16];
	size_t hs = hint_slot(r);
	l7_ent_t *e = t->hint[hs];

	if (!e || !ent_is(e, r)) {
		weft_tm_label_values(&r->l, r->l.response_flags, r->grpc ? "grpc" : "http", v4);
		itoa10(r->status, code);
		if (r->grpc_status >= 0)
			itoa10(r->grpc_status, grpc);
		else
			grpc[0] = 0;
		memcpy(v, v4, 17 * sizeof(*v));         /* reporter .. request_protocol */
		v[17] = code;
		v[18] = grpc;
		v[19] = v4[17];                         /* response_flags */
		v[20] = v4[18];                         /* connection_security_policy */
		if (!(e = intern(t, v, r)))
			return NULL;
		t->hint[hs] = e;
	}
	weft_series_inc(e->total);
	weft_series_observe(e->dur, (double)r->duration_us / 1000.0);
	weft_series_observe(e->req, (double)r->req_bytes);
	weft_series_observe(e->resp, (double)r->resp_bytes);
	return e;
}

/* ---- access log ---- */

/* "2024-05-01T12:00:00.123Z" for us microseconds since the epoch (n >=
 * 32); the date and time of day are rendered once per second. */
static void rfc3339_us(weft_l7_tel_t *t, uint64_t us, char *out, size_t n)
{
	uint64_t sec = us / 1000000;
	unsigned ms = (unsigned)(us % 1000000 / 1000);
	size_t bl;

	if (sec != t->ts_sec) {
		time_t s = (time_t)sec;
		struct tm tm;

		gmtime_r(&s, &tm);
		if (!strftime(t->ts_base, sizeof(t->ts_base), "%Y-%m-%dT%H:%M:%S", &tm))
			t->ts_base[0] = 0;
		t->ts_sec = sec;
	}
	bl = strlen(t->ts_base);
	if (bl + 6 > n) {
		if (n)
			out[0] = 0;
		return;
	}
	memcpy(out, t->ts_base, bl);
	out[bl] = '.';
	out[bl + 1] = (char)('0' + ms / 100);
	out[bl + 2] = (char)('0' + ms / 10 % 10);
	out[bl + 3] = (char)('0' + ms % 10);
	out[bl + 4] = 'Z';
	out[bl + 5] = 0;
}

/* Appends v in decimal. */
static void buf_u64(weft_buf_t *b, uint64_t v)
{
	char d[20];

	weft_buf_append(b, d, weft_u64_dec(d, v));
}

static void buf_int(weft_buf_t *b, int v)
{
	if (v < 0) {
		weft_buf_append(b, "-", 1);
		buf_u64(b, (uint64_t)-(int64_t)v);
	} else {
		buf_u64(b, (uint64_t)v);
	}
}

/* Appends us microseconds as milliseconds with three decimals (what
 * "%.3f" prints for us / 1000.0). */
static void buf_ms3(weft_buf_t *b, uint64_t us)
{
	char f[4] = { (char)('.'), (char)('0' + us % 1000 / 100), (char)('0' + us % 100 / 10),
		      (char)('0' + us % 10) };

	buf_u64(b, us / 1000);
	weft_buf_append(b, f, 4);
}

static uint64_t wall_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static bool is_error(const weft_l7_rec_t *r)
{
	return r->status >= 500 || r->status == 0 || strcmp(flags_of(r), WEFT_TM_FLAG_NONE);
}

/* Appends ,"k": (k of n bytes; jkey/jstr below take literals and pass
 * their length, so no key is measured per request). */
static void jkey_n(weft_buf_t *b, bool *first, const char *k, size_t n)
{
	char *p;

	if (weft_buf_reserve(b, n + 4) < 0)
		return;
	p = (char *)b->data + b->wr;
	if (!*first)
		*p++ = ',';
	*p++ = '"';
	memcpy(p, k, n);
	p += n;
	*p++ = '"';
	*p++ = ':';
	b->wr = (size_t)((unsigned char *)p - b->data);
	*first = false;
}

/* Appends v as a JSON string (NULL: null). Plain printable ASCII, the
 * usual case, is copied in one append; anything else goes through
 * weft_json_cstr's escaping. */
static void jval(weft_buf_t *b, const char *v)
{
	size_t n = 0;

	if (v) {
		for (const unsigned char *p = (const unsigned char *)v; *p; p++, n++)
			if (*p < 0x20 || *p >= 0x7f || *p == '"' || *p == '\\')
				goto slow;
		if (weft_buf_reserve(b, n + 2) == 0) {
			b->data[b->wr++] = '"';
			memcpy(b->data + b->wr, v, n);
			b->wr += n;
			b->data[b->wr++] = '"';
		}
		return;
	}
slow:
	weft_json_cstr(b, v);
}

static void jstr_n(weft_buf_t *b, bool *first, const char *k, size_t n, const char *v)
{
	jkey_n(b, first, k, n);
	jval(b, v);
}

#define jkey(b, first, k) jkey_n(b, first, k "", sizeof(k) - 1)
#define jstr(b, first, k, v) jstr_n(b, first, k "", sizeof(k) - 1, v)

/* Appends the selected fields of r as one JSON object and '\n'. */
static void log_line(weft_l7_tel_t *t, const weft_l7_rec_t *r, weft_buf_t *b)
{
	const weft_tm_labels_t *l = &r->l;
	uint32_t m = t->log_mask;
	bool first = true;
	char ts[48];

	weft_buf_append(b, "{", 1);
	for (int f = 0; f < NF; f++) {
		if (!(m & (1u << f)))
			continue;
		switch (f) {
		case F_START:
			rfc3339_us(t, r->start_us ? r->start_us : wall_us(), ts, sizeof(ts));
			jstr(b, &first, "start_time", ts);
			break;
		case F_METHOD: jstr(b, &first, "method", r->method); break;
		case F_PATH: jstr(b, &first, "path", r->path); break;
		case F_PROTOCOL: jstr(b, &first, "protocol", r->protocol); break;
		case F_CODE:
			jkey(b, &first, "response_code");
			buf_int(b, r->status);
			break;
		case F_GRPC:
			jkey(b, &first, "grpc_status");
			if (r->grpc_status >= 0)
				buf_int(b, r->grpc_status);
			else
				weft_buf_append(b, "null", 4);
			break;
		case F_FLAGS: jstr(b, &first, "response_flags", flags_of(r)); break;
		case F_DURATION:
			jkey(b, &first, "duration_ms");
			buf_ms3(b, r->duration_us);
			break;
		case F_BYTES_RX:
			jkey(b, &first, "bytes_received");
			buf_u64(b, r->req_bytes);
			break;
		case F_BYTES_TX:
			jkey(b, &first, "bytes_sent");
			buf_u64(b, r->resp_bytes);
			break;
		case F_AUTHORITY: jstr(b, &first, "authority", r->authority); break;
		case F_UA: jstr(b, &first, "user_agent", r->user_agent); break;
		case F_REQID: jstr(b, &first, "request_id", r->request_id); break;
		case F_TRACEID: jstr(b, &first, "trace_id", r->trace_id); break;
		case F_UPSTREAM: jstr(b, &first, "upstream_host", r->upstream); break;
		case F_ROUTE: jstr(b, &first, "route", r->route); break;
		case F_ATTEMPTS:
			jkey(b, &first, "attempts");
			buf_u64(b, r->attempts);
			break;
		case F_SW: jstr(b, &first, "source_workload", l->src_workload); break;
		case F_SNS: jstr(b, &first, "source_namespace", l->src_ns); break;
		case F_SP: jstr(b, &first, "source_principal", l->src_principal); break;
		case F_DW: jstr(b, &first, "destination_workload", l->dst_workload); break;
		case F_DNS: jstr(b, &first, "destination_namespace", l->dst_ns); break;
		case F_DP: jstr(b, &first, "destination_principal", l->dst_principal); break;
		case F_REPORTER:
			jstr(b, &first, "reporter", l->destination ? "destination" : "source");
			break;
		}
	}
	weft_buf_append(b, "}\n", 2);
}

/* Renders r's line into the pending lines: written within LOG_FLUSH_MS
 * (one write for every line of that time, not one per request), at once
 * past LOG_FLUSH_BYTES, and when the telemetry is freed. */
static void access_log(weft_l7_tel_t *t, const weft_l7_rec_t *r)
{
	if (!t->log)
		return;
	if (!is_error(r) && t->log_sample < 1 &&
	    (double)(xorshift(&t->rnd) >> 11) * 0x1p-53 >= t->log_sample)
		return;
	if (weft_buf_len(&t->logbuf) > LOG_BUF_MAX)
		log_flush(t);
	log_line(t, r, &t->logbuf);
	if (weft_buf_len(&t->logbuf) >= LOG_FLUSH_BYTES) {
		weft_timer_stop(t->loop, &t->log_timer);
		log_flush(t);
	} else if (!weft_timer_active(&t->log_timer)) {
		weft_timer_start(t->loop, &t->log_timer, LOG_FLUSH_MS);
	}
}

/* ---- tap ---- */

static void id_json(weft_buf_t *b, const char *wl, const char *ns, const char *principal)
{
	bool first = true;

	weft_buf_append(b, "{", 1);
	jstr(b, &first, "workload", wl);
	jstr(b, &first, "namespace", ns);
	jstr(b, &first, "principal", principal);
	weft_buf_append(b, "}", 1);
}

/* "ns/name" into out (n bytes, truncated as snprintf would; NULL parts
 * empty). Returns the length with its NUL. */
static size_t ns_name(char *out, size_t n, const char *ns, const char *name)
{
	size_t a = ns ? strlen(ns) : 0, b = name ? strlen(name) : 0, k = 0;

	if (a > n - 1)
		a = n - 1;
	memcpy(out, ns ? ns : "", a);
	k = a;
	if (k < n - 1)
		out[k++] = '/';
	if (b > n - 1 - k)
		b = n - 1 - k;
	memcpy(out + k, name ? name : "", b);
	k += b;
	out[k] = 0;
	return k + 1;
}

/* Whether key equals the filter key "ns/name" (as ns_name renders it
 * into 256 bytes). */
static bool key_is(const char *key, const char *ns, const char *name)
{
	char k[256];

	ns_name(k, sizeof(k), ns, name);
	return !strcmp(key, k);
}

static bool sub_match(const tap_sub_t *s, const tap_ev_t *e)
{
	if (s->service)
		return key_is(s->key, e->s[TS_SVCNS], e->s[TS_SVCN]);
	return key_is(s->key, e->s[TS_SNS], e->s[TS_SW]) || key_is(s->key, e->s[TS_DNS], e->s[TS_DW]);
}

/* Renders event e as its JSON line (with '\n') into b, after a reset. */
static void tap_line(weft_l7_tel_t *t, const tap_ev_t *e, weft_buf_t *b)
{
	bool first = true;
	char ts[48];

	weft_buf_reset(b);
	rfc3339_us(t, e->start_us, ts, sizeof(ts));
	weft_buf_append(b, "{", 1);
	jstr(b, &first, "time", ts);
	jstr(b, &first, "reporter", e->dst_reporter ? "destination" : "source");
	jstr(b, &first, "method", e->s[TS_METHOD]);
	jstr(b, &first, "path", e->s[TS_PATH]);
	jstr(b, &first, "authority", e->s[TS_AUTH]);
	jkey(b, &first, "status");
	buf_int(b, e->status);
	jkey(b, &first, "grpc_status");
	if (e->grpc_status >= 0)
		buf_int(b, e->grpc_status);
	else
		weft_buf_append(b, "null", 4);
	jkey(b, &first, "latency_ms");
	buf_ms3(b, e->duration_us);
	jstr(b, &first, "flags", e->s[TS_FLAGS]);
	jstr(b, &first, "route", e->s[TS_ROUTE]);
	jstr(b, &first, "service", e->s[TS_SVC]);
	jkey(b, &first, "source");
	id_json(b, e->s[TS_SW], e->s[TS_SNS], e->s[TS_SP]);
	jkey(b, &first, "destination");
	id_json(b, e->s[TS_DW], e->s[TS_DNS], e->s[TS_DP]);
	weft_buf_append(b, "}\n", 2);
}

/* Keeps r as the next event of the ring: its label values from ent (r's
 * series entry, NULL when it has none: then they are copied too), its
 * own strings copied into the slot's block. Returns the slot, or NULL on
 * no memory (the slot is then empty). */
static tap_ev_t *tap_event(weft_l7_tel_t *t, const weft_l7_rec_t *r, const l7_ent_t *ent)
{
	const weft_tm_labels_t *l = &r->l;
	tap_ev_t *e = &t->ring[t->ring_next];
	const char *in[TS_N] = {
		[TS_METHOD] = r->method, [TS_PATH] = r->path, [TS_AUTH] = r->authority,
		[TS_ROUTE] = r->route, [TS_FLAGS] = flags_of(r), [TS_SVC] = l->dst_service,
		[TS_SW] = l->src_workload, [TS_SNS] = l->src_ns, [TS_SP] = l->src_principal,
		[TS_DW] = l->dst_workload, [TS_DNS] = l->dst_ns, [TS_DP] = l->dst_principal,
		[TS_SVCN] = l->dst_service_name, [TS_SVCNS] = l->dst_service_ns,
	};
	size_t lens[TS_N], need = 0;
	int ncopy = ent ? TS_OWN : TS_N;
	char *p;

	for (int i = 0; i < ncopy; i++)
		if (in[i]) {
			lens[i] = strlen(in[i]) + 1;
			need += lens[i];
		}
	if (need > e->cap || e->cap > 4 * need + 4096) {
		/* the slot's block is reused while it fits (and is not much too big) */
		free(e->blk);
		e->blk = NULL;
		e->cap = 0;
		if (need && !(e->blk = malloc(need))) {
			e->used = false;
			return NULL;
		}
		e->cap = need;
	}
	p = e->blk;
	for (int i = 0; i < ncopy; i++) {
		if (!in[i]) {
			e->s[i] = NULL;
			continue;
		}
		memcpy(p, in[i], lens[i]);
		e->s[i] = p;
		p += lens[i];
	}
	/* a label value that is neither NULL nor empty is the entry's copy;
	 * the entry holds "unknown" for the others, so they stay as given
	 * (TS_FLAGS: flags_of(r), the entry's response_flags, never empty) */
	for (int i = ncopy; i < TS_N; i++)
		e->s[i] = in[i] && *in[i] ? ent->v[ts_label[i]] : in[i] ? "" : NULL;
	e->used = true;
	e->dst_reporter = l->destination;
	e->status = r->status;
	e->grpc_status = r->grpc_status;
	e->start_us = r->start_us ? r->start_us : wall_us();
	e->duration_us = r->duration_us;
	t->ring_next = (t->ring_next + 1) % TAP_RING;
	return e;
}

/* Keeps r in the ring and writes its line to every subscriber it
 * matches (rendered once, only when one does). */
static void tap(weft_l7_tel_t *t, const weft_l7_rec_t *r, const l7_ent_t *ent)
{
	tap_ev_t *e = tap_event(t, r, ent);
	bool rendered = false;

	if (!e)
		return;
	for (tap_sub_t *s = t->subs, *nx; s; s = nx) {
		nx = s->next;    /* a failed write frees s (sub_closed) */
		if (!sub_match(s, e))
			continue;
		if (!rendered) {
			tap_line(t, e, &t->scratch);
			rendered = true;
		}
		weft_admin_stream_write(s->s, weft_buf_head(&t->scratch), weft_buf_len(&t->scratch));
	}
}

/* ---- routes (weft top) ---- */

static bool success(const weft_l7_rec_t *r)
{
	if (r->status == 0 || r->status >= 500)
		return false;
	return !r->grpc || r->grpc_status <= 0;
}

/* Whether rs is r's row: its key equals what route_for would render for
 * r (the route, or "service:<host>", cut to 255 bytes), compared in place. */
static bool route_is(const route_st_t *rs, const weft_l7_rec_t *r)
{
	if (rs->dst_reporter != r->l.destination)
		return false;
	if (r->route && *r->route)
		return !strncmp(rs->key, r->route, sizeof(rs->key) - 1);
	return !memcmp(rs->key, "service:", 8) &&
	       !strncmp(rs->key + 8, r->l.dst_service && *r->l.dst_service ? r->l.dst_service : "unknown",
			sizeof(rs->key) - 9);
}

static route_st_t *route_for(weft_l7_tel_t *t, const weft_l7_rec_t *r)
{
	char key[256];
	route_st_t *rs;

	if (t->route_last && route_is(t->route_last, r))
		return t->route_last;
	for (rs = t->routes; rs; rs = rs->next)
		if (route_is(rs, r))
			return t->route_last = rs;
	if (r->route && *r->route)
		snprintf(key, sizeof(key), "%s", r->route);
	else
		snprintf(key, sizeof(key), "service:%s",
			 r->l.dst_service && *r->l.dst_service ? r->l.dst_service : "unknown");
	if (t->nroutes >= ROUTE_MAX) {
		weft_series_inc(weft_metric_with(t->dropped, "routes"));
		return NULL;
	}
	if (!(rs = calloc(1, sizeof(*rs))))
		return NULL;
	rs->dst_reporter = r->l.destination;
	memcpy(rs->key, key, sizeof(key));
	rs->next = t->routes;
	t->routes = rs;
	t->nroutes++;
	return t->route_last = rs;
}

static void route_stat(weft_l7_tel_t *t, const weft_l7_rec_t *r)
{
	uint64_t now = weft_loop_update_time(t->loop), sec = now / 1000;
	route_st_t *rs = route_for(t, r);
	size_t i;

	if (!rs)
		return;
	i = sec % ROUTE_WINDOW;
	if (rs->b[i].sec != sec) {
		rs->b[i].sec = sec;
		rs->b[i].n = rs->b[i].ok = 0;
	}
	rs->b[i].n++;
	rs->b[i].ok += success(r);
	rs->s[rs->si].ms = now ? now : 1;
	rs->s[rs->si].lat_us = r->duration_us > UINT32_MAX ? UINT32_MAX : (uint32_t)r->duration_us;
	rs->si = (rs->si + 1) % ROUTE_SAMPLES;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile q (0..1) of n sorted values, in ms. */
static double pct(const uint32_t *v, size_t n, double q)
{
	size_t k;

	if (!n)
		return 0;
	k = (size_t)(q * (double)n + 0.999999);
	if (k < 1)
		k = 1;
	if (k > n)
		k = n;
	return (double)v[k - 1] / 1000.0;
}

/* Appends the JSON array of route rows with requests in the last 60 s. */
static void routes_json(weft_l7_tel_t *t, weft_buf_t *b)
{
	uint64_t now = weft_loop_update_time(t->loop), sec = now / 1000;
	bool any = false;

	weft_buf_append(b, "[", 1);
	for (route_st_t *rs = t->routes; rs; rs = rs->next) {
		uint64_t n = 0, ok = 0;
		uint32_t lat[ROUTE_SAMPLES];
		size_t nl = 0;
		bool first = true;

		for (size_t i = 0; i < ROUTE_WINDOW; i++)
			if (rs->b[i].sec + ROUTE_WINDOW > sec && rs->b[i].sec <= sec && rs->b[i].n) {
				n += rs->b[i].n;
				ok += rs->b[i].ok;
			}
		if (!n)
			continue;
		for (size_t i = 0; i < ROUTE_SAMPLES; i++)
			if (rs->s[i].ms && rs->s[i].ms + ROUTE_WINDOW * 1000 > now)
				lat[nl++] = rs->s[i].lat_us;
		qsort(lat, nl, sizeof(lat[0]), cmp_u32);
		weft_buf_printf(b, "%s{", any ? "," : "");
		any = true;
		if (!strncmp(rs->key, "service:", 8)) {
			jkey(b, &first, "route");
			weft_buf_printf(b, "null");
			jstr(b, &first, "service", rs->key + 8);
		} else {
			jstr(b, &first, "route", rs->key);
			jkey(b, &first, "service");
			weft_buf_printf(b, "null");
		}
		jstr(b, &first, "reporter", rs->dst_reporter ? "destination" : "source");
		weft_buf_printf(b, ",\"requests\":%llu,\"rps\":%.3f,\"success_rate\":%.4f,"
				"\"p50_ms\":%.3f,\"p99_ms\":%.3f}",
				(unsigned long long)n, (double)n / ROUTE_WINDOW, (double)ok / (double)n,
				pct(lat, nl, 0.5), pct(lat, nl, 0.99));
	}
	weft_buf_append(b, "]\n", 2);
}

/* ---- entry points ---- */

void weft_l7_tel_request(weft_l7_tel_t *t, const weft_l7_rec_t *r)
{
	if (!t || !r)
		return;
	l7_ent_t *e = count(t, r);

	access_log(t, r);
	tap(t, r, e);
	route_stat(t, r);
}

void weft_l7_tel_limit_hit(weft_l7_tel_t *t, const char *workload, const char *limit)
{
	if (t)
		weft_series_inc(weft_metric_with(t->limit_rej, workload && *workload ? workload : "unknown",
						 limit && *limit ? limit : "unknown"));
}

/* The fairness code calls this on every take and give of a share, so the
 * workload's three series are kept in a small hint table (by the name's
 * pointer, checked by the name the series carry) instead of three walks
 * of the metrics' series lists. */
void weft_l7_tel_workload_gauges(weft_l7_tel_t *t, const char *workload, uint64_t conns,
				 uint64_t requests, uint64_t buffer_bytes)
{
	const char *w = workload && *workload ? workload : "unknown";
	wl_hint_t *h;

	if (!t)
		return;
	h = &t->wl_hint[((uintptr_t)w >> 4 ^ (uintptr_t)w >> 10) & (WL_HINT_SLOTS - 1)];
	if (!h->conns || !h->reqs || !h->buf || strcmp(h->conns->values[0], w)) {
		h->conns = weft_metric_with(t->wl_conns, w);
		h->reqs = weft_metric_with(t->wl_reqs, w);
		h->buf = weft_metric_with(t->wl_buf, w);
	}
	weft_series_set(h->conns, (double)conns);
	weft_series_set(h->reqs, (double)requests);
	weft_series_set(h->buf, (double)buffer_bytes);
}

/* ---- admin endpoints ---- */

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* The value of key in query, percent-decoded into out. Returns its length,
 * or -1 when absent, too long or badly escaped. */
static int query_get(weft_str_t q, const char *key, char *out, size_t outlen)
{
	size_t i = 0, kl = strlen(key);

	while (i < q.len) {
		const char *amp = memchr(q.p + i, '&', q.len - i);
		size_t e = amp ? (size_t)(amp - q.p) : q.len, o = 0;
		if (e - i > kl && !memcmp(q.p + i, key, kl) && q.p[i + kl] == '=') {
			for (size_t j = i + kl + 1; j < e; j++) {
				int c = (unsigned char)q.p[j];
				if (c == '%') {
					int hi, lo;
					if (j + 2 >= e)
						return -1;
					hi = hexval(q.p[j + 1]);
					lo = hexval(q.p[j + 2]);
					if (hi < 0 || lo < 0)
						return -1;
					c = hi << 4 | lo;
					j += 2;
				} else if (c == '+') {
					c = ' ';
				}
				if (o + 1 >= outlen || c == 0)
					return -1;
				out[o++] = (char)c;
			}
			out[o] = 0;
			return (int)o;
		}
		i = e + 1;
	}
	return -1;
}

/* GET /debug/tap?workload=ns/name | ?service=ns/name [&recent=N] */
static int h_tap(const weft_admin_req_t *req, weft_admin_stream_t *st, weft_buf_t *body,
		 const char **ctype, void *ctx)
{
	weft_l7_tel_t *t = ctx;
	char key[256], rec[16];
	bool service = false;
	int n = query_get(req->query, "workload", key, sizeof(key));
	long recent = 0;
	tap_sub_t *s;

	if (n < 0) {
		n = query_get(req->query, "service", key, sizeof(key));
		service = true;
	}
	*ctype = "text/plain; charset=utf-8";
	if (n < 3 || !strchr(key, '/') || key[0] == '/' || key[n - 1] == '/') {
		weft_buf_printf(body, "usage: /debug/tap?workload=NAMESPACE/NAME or ?service=NAMESPACE/NAME\n");
		return 400;
	}
	if (query_get(req->query, "recent", rec, sizeof(rec)) > 0) {
		char *end;
		recent = strtol(rec, &end, 10);
		if (*end || recent < 0) {
			weft_buf_printf(body, "recent: not a count\n");
			return 400;
		}
	}
	if (!(s = calloc(1, sizeof(*s)))) {
		weft_buf_printf(body, "no memory\n");
		return 503;
	}
	s->t = t;
	s->s = st;
	s->service = service;
	snprintf(s->key, sizeof(s->key), "%s", key);
	*ctype = "application/x-ndjson";
	/* replay up to `recent` matching events, oldest first */
	if (recent > 0) {
		size_t idx[TAP_RING], m = 0;
		for (size_t i = 0; i < TAP_RING; i++) {
			size_t k = (t->ring_next + TAP_RING - 1 - i) % TAP_RING;
			if (t->ring[k].used && sub_match(s, &t->ring[k]) && m < (size_t)recent)
				idx[m++] = k;
		}
		while (m--) {
			tap_line(t, &t->ring[idx[m]], &t->scratch);
			weft_admin_stream_write(st, weft_buf_head(&t->scratch), weft_buf_len(&t->scratch));
		}
	}
	s->next = t->subs;
	if (s->next)
		s->next->prev = s;
	t->subs = s;
	weft_admin_stream_on_close(st, sub_closed, s);
	return 200;
}

/* GET /debug/routes */
static int h_routes(const weft_admin_req_t *req, weft_buf_t *body, const char **ctype, void *ctx)
{
	*ctype = "application/json";
	routes_json(ctx, body);
	return 200;
}

void weft_l7_tel_admin(weft_l7_tel_t *t, struct weft_agent_admin *ad)
{
	if (!t || !ad)
		return;
	weft_agent_admin_route_stream(ad, "/debug/tap", h_tap, t);
	weft_agent_admin_route(ad, "/debug/routes", h_routes, t);
}
