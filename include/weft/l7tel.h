/* weft — L7 telemetry: Istio's HTTP/gRPC metrics, per-request access logs,
 * W3C trace context with OTLP/HTTP JSON export, and the live request feed
 * behind `weft tap` / `weft top`. Implemented in src/agent/l7_tel.c
 * (metrics, logs, tap/top feed) and src/agent/trace.c (trace context,
 * spans, the exporter). The data path fills one weft_l7_rec_t per request
 * and hands it over when the request ends. */
#ifndef WEFT_L7TEL_H
#define WEFT_L7TEL_H
#include <stdbool.h>
#include <stdint.h>
#include "weft/http-t.h"
#include "weft/loop-t.h"
#include "weft/metrics-t.h"
#include "weft/telemetry.h"

/* Response flags at L7 (Envoy's short names), besides weft/telemetry.h's. */
#define WEFT_TM_FLAG_UO   "UO"    /* upstream overflow (circuit breaker) */
#define WEFT_TM_FLAG_URX  "URX"   /* retry limit / budget exceeded */
#define WEFT_TM_FLAG_UT   "UT"    /* upstream request timeout */
#define WEFT_TM_FLAG_UC   "UC"    /* upstream connection termination */
#define WEFT_TM_FLAG_FI   "FI"    /* fault injected: abort */
#define WEFT_TM_FLAG_DI   "DI"    /* fault injected: delay */
#define WEFT_TM_FLAG_RL   "RL"    /* local rate limit */
#define WEFT_TM_FLAG_NR   "NR"    /* no route */
#define WEFT_TM_FLAG_OL   "OL"    /* per-workload fairness limit (weft) */

/* One finished request, as a reporter saw it. Labels as weft_tm_labels_t
 * (l.destination picks reporter source/destination; l.response_flags
 * may hold several flags joined by ','). Strings may be NULL. */
typedef struct weft_l7_rec {
	weft_tm_labels_t l;
	bool grpc;                   /* request_protocol grpc (else http) */
	int status;                  /* response_code; 0 when no response was sent */
	int grpc_status;             /* grpc_response_status; -1 when none */
	uint64_t start_us;           /* wall clock, microseconds since the epoch */
	uint64_t duration_us;
	uint64_t req_bytes, resp_bytes;   /* body bytes */
	const char *method, *path, *authority, *user_agent, *request_id, *protocol;
	const char *route;           /* "ns/name" of the route taken, or NULL */
	const char *upstream;        /* endpoint "ip:port" of the last try */
	unsigned attempts;           /* tries made (1 + retries) */
	const char *trace_id, *span_id;   /* hex, when traced */
} weft_l7_rec_t;

/* Access log, tap and trace settings (agent options). */
typedef struct weft_l7_tel_opts {
	const char *log_sink;        /* "stderr" (default), "stdout", a file path, "off" */
	const char *log_fields;      /* comma list of field names; NULL: every field */
	double log_sample;           /* share of requests logged (0..1, default 1); errors always */
	const char *trace_endpoint;  /* OTLP/HTTP collector "http://ip:port/v1/traces"; NULL: no export */
	double trace_sample;         /* share of new traces sampled (0..1, default 0.01) */
	const char *service_name;    /* resource service.name ("weft-agent") */
} weft_l7_tel_opts_t;

typedef struct weft_l7_tel weft_l7_tel_t;

/* Registers istio_requests_total, istio_request_duration_milliseconds
 * (histogram, Istio's buckets), istio_request_bytes and
 * istio_response_bytes (histograms) and the fairness metrics in m; opens
 * the log sink. Returns NULL with a message in err on bad options. */
weft_l7_tel_t *weft_l7_tel_new(weft_loop_t *loop, weft_metrics_t *m,
			       const weft_l7_tel_opts_t *o, char *err, size_t errlen);
void weft_l7_tel_free(weft_l7_tel_t *t);

/* A request ended: metrics, the (sampled) log line, the tap feed and the
 * per-route statistics behind `weft top`. */
void weft_l7_tel_request(weft_l7_tel_t *t, const weft_l7_rec_t *r);

/* Per-workload fairness metrics: weft_agent_l7_limit_rejections_total
 * {workload,limit} (limit: connections | requests | buffer) and the
 * gauges weft_agent_l7_workload_{connections,requests,buffer_bytes}
 * {workload}. */
void weft_l7_tel_limit_hit(weft_l7_tel_t *t, const char *workload, const char *limit);
void weft_l7_tel_workload_gauges(weft_l7_tel_t *t, const char *workload, uint64_t conns,
				 uint64_t requests, uint64_t buffer_bytes);

/* ---- the live feed (`weft tap`, `weft top`) ----
 * The agent admin endpoint serves GET /debug/tap?workload=ns/name or
 * ?service=ns/name as a stream of JSON lines (one per request touching
 * it; chunked, until the client goes away), and GET /debug/routes as a
 * JSON array of per-route rows (rps, success rate, p50/p99 over the last
 * 60 s). Hooked into the admin server by weft_l7_tel_admin(). */
struct weft_agent_admin;
void weft_l7_tel_admin(weft_l7_tel_t *t, struct weft_agent_admin *ad);

/* ---- tracing (trace.c) ---- */

/* A span for one request on one reporter. */
typedef struct weft_span {
	char trace_id[33], span_id[17], parent_id[17];
	bool sampled;
	char tracestate[256];
	uint64_t start_us;
} weft_span_t;

/* Reads traceparent/tracestate from the request (h): continues a valid
 * trace (sampled flag honoured), or starts one sampled with
 * o->trace_sample. Sets a new span id. */
void weft_trace_start(weft_l7_tel_t *t, const weft_http_head_t *h, weft_span_t *sp,
		      uint64_t *rnd);

/* The traceparent value for the request sent on: "00-<trace>-<span>-<flags>". */
void weft_trace_header(const weft_span_t *sp, char out[56]);

/* Ends a sampled span: queued and exported in batches as OTLP/HTTP JSON
 * (kind SERVER for reporter destination, CLIENT for source; attributes
 * http.request.method, url.path, http.response.status_code,
 * server.address, rpc.grpc.status_code, weft.route, the peer workloads).
 * Unsampled spans are dropped. */
void weft_trace_end(weft_l7_tel_t *t, const weft_span_t *sp, const weft_l7_rec_t *r);

#endif
